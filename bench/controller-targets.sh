#!/usr/bin/env bash
# bench/controller-targets.sh: homeostat-controller with BENCH_SIGNALS (10) signals x
# BENCH_TARGETS (10,000) targets (targets: {by: [target]}), beside Prometheus's own rule
# evaluation of the same conditions as alerting rules, in the same run.
#
#  1. The engine alone (bench/targets-engine-bench): matching and every target's step from
#     vectors already in memory, CPU per evaluation and per target-signal.
#  2. The controller against a fake Prometheus API (python, replies rendered once: 4
#     variants per signal, rotated), so that Prometheus's cost is out of the picture:
#     BENCH_EVALUATIONS (20) evaluations forced with POST /api/v1/evaluate; per evaluation
#     the wall time (evaluation_duration_seconds), the slowest query of it (signals'
#     query_duration_seconds), the state file's save (state_file_write_duration_seconds),
#     the controller's CPU (schedstat of every thread); then its peak RSS (VmHWM), the
#     state file's size, and the latency of GET /api/v1/targets?limit=100, of a target's
#     detail, of the status page and of /metrics (curl, 20 times each).
#  3. The real Prometheus (Debian's) on the same series, made with promtool tsdb
#     create-blocks-from openmetrics (every 30 s from 10 minutes ago to 5 minutes ahead):
#     its rule evaluation of the states as alerting rules with for:, every 5 s, for
#     BENCH_PROM_SECONDS (60): rule group duration and Prometheus's CPU; and the
#     controller's evaluations against it (queries included).
#
# Prints markdown; raw outputs in BENCH_OUT (a temporary directory by default, printed).
# Builds targets-engine-bench (cmake --build build --target targets-engine-bench) when
# missing; HOMEOSTAT_CONTROLLER (default build/controller/homeostat-controller). About 4 min
# on 2 CPUs. Every process it starts is stopped at exit.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" controller-targets

controller=${HOMEOSTAT_CONTROLLER:-$root/build/controller/homeostat-controller}
engine=${HOMEOSTAT_TARGETS_ENGINE_BENCH:-$root/build/bench/targets-engine-bench}
n_targets=${BENCH_TARGETS:-10000}
n_signals=${BENCH_SIGNALS:-10}
n_evals=${BENCH_EVALUATIONS:-20}
prom_seconds=${BENCH_PROM_SECONDS:-60}
require bench prometheus promtool curl
[[ -x $controller ]] || die "no controller at $controller (make build)"
if [[ ! -x $engine ]]; then
    cmake --build "$root/build" --target targets-engine-bench >/dev/null || die "cannot build targets-engine-bench"
fi
out=$(bench_out controller-targets)
log "raw outputs in $out"

# ---- 1. the engine ---------------------------------------------------------------------
"$engine" "$n_targets" "$n_signals" "$n_evals" >"$out/engine.txt"
engine_line=$(grep '^summary' "$out/engine.txt")

# ---- rules -----------------------------------------------------------------------------
rules() { # URL
    {
        printf 'evaluation_interval: 5s\nprometheus: {url: "%s", timeout: 5s}\n' "$1"
        printf 'targets: {by: [target], max: %d}\n' $((n_targets + 1000))
        printf 'limits: {max_actions_per_hour: 0, max_targets_acting: 5%%}\nsignals:\n'
        for ((s = 0; s < n_signals; s++)); do printf '  s%d: {query: m%d, max_age: 5m}\n' $s $s; done
        printf 'states:\n  - {name: critical, when: all, conditions: ["s0 > 0.9", "s1 > 0.8"]}\n'
        printf '  - name: degraded\n    for: 10s\n    conditions: ['
        for ((s = 0; s < n_signals; s++)); do printf '%s"s%d > 0.7"' "$([[ $s == 0 ]] || echo ', ')" $s; done
        printf ']\n  - {name: optimal}\ndecisions:\n  critical:\n    cooldown: 1m\n    actions:\n'
        printf "      - exec: [/bin/true, '{{ \$labels.target }}']\n"
    } >"$out/rules.yaml"
}
token=bench-operator-token-0123456789
printf 'bench %s\n' "$token" >"$out/tokens"

start_controller() { # URL NAME
    rules "$1"
    "$controller" check "$out/rules.yaml" >/dev/null || die "the generated rules do not pass check"
    rm -rf "$out/state-$2"
    "${guard[@]}" "$controller" --config="$out/rules.yaml" --web.listen-address=127.0.0.1:0 --dry-run \
        --state.directory="$out/state-$2" --web.operator-token-file="$out/tokens" \
        >"$out/controller-$2.log" 2>&1 &
    ctl_pid=$!
    pids+=("$ctl_pid")
    ctl_url=$(wait_log "$out/controller-$2.log" "$ctl_pid") || die "the controller did not start"
    ctl_url=${ctl_url%/}
}
metric() { # NAME: its value on the controller's /metrics (read whole: no SIGPIPE for curl)
    curl -s "$ctl_url/metrics" >"$out/metrics.txt" || true
    awk -v s="$1" '$1 == s { print $2; exit }' "$out/metrics.txt"
}
# evaluations NAME: n_evals forced evaluations, one TSV line each: wall_ms cpu_ms slowest_query_ms save_ms
evaluations() {
    local i c0 c1 s0 n0 s1 n1 w0 w1 q code
    : >"$out/evals-$1.tsv"
    for ((i = 0; i < n_evals; i++)); do
        s0=$(metric homeostat_controller_evaluation_duration_seconds_sum)
        n0=$(metric homeostat_controller_evaluation_duration_seconds_count)
        w0=$(metric homeostat_controller_state_file_write_duration_seconds_sum)
        c0=$(cpu_ns "$ctl_pid")
        code=$(curl -s -o "$out/evaluate.json" -w '%{http_code}' --max-time 120 -X POST \
            -H "Authorization: Bearer $token" "$ctl_url/api/v1/evaluate" || true)
        c1=$(cpu_ns "$ctl_pid")
        [[ $code == 200 ]] || die "POST /api/v1/evaluate answered $code"
        s1=$(metric homeostat_controller_evaluation_duration_seconds_sum)
        n1=$(metric homeostat_controller_evaluation_duration_seconds_count)
        w1=$(metric homeostat_controller_state_file_write_duration_seconds_sum)
        q=$(curl -s "$ctl_url/api/v1/signals" | "$py" -c 'import json,sys
print(max(s.get("query_duration_seconds", 0) for s in json.load(sys.stdin)["data"]))')
        "$py" -c 'import sys
s0, n0, s1, n1, w0, w1, c0, c1, q = map(float, sys.argv[1:])
n = n1 - n0
print("%.1f\t%.1f\t%.1f\t%.1f\t%d" % ((s1 - s0) / n * 1e3 if n else -1, (c1 - c0) / 1e6, q * 1e3, (w1 - w0) * 1e3, n))' \
            "$s0" "$n0" "$s1" "$n1" "$w0" "$w1" "$c0" "$c1" "$q" >>"$out/evals-$1.tsv"
    done
}
# quantiles FILE COLUMN: "p50 p90 max" of a column of a TSV
quantiles() {
    "$py" -c 'import sys
v = sorted(float(l.split("\t")[int(sys.argv[2])]) for l in open(sys.argv[1]) if l.strip())
print("%.1f | %.1f | %.1f" % (v[len(v) // 2], v[int(len(v) * 0.9)], v[-1]))' "$1" "$2"
}
latency() { # URL: "p50 p90 max" of 20 GETs, ms
    local i
    for ((i = 0; i < 20; i++)); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done |
        "$py" -c 'import sys
v = sorted(float(x) * 1e3 for x in sys.stdin)
print("%.1f | %.1f | %.1f" % (v[len(v) // 2], v[int(len(v) * 0.9)], v[-1]))'
}

# ---- 2. against a fake Prometheus API ----------------------------------------------------
cat >"$out/fakeprom.py" <<'PY'
import http.server, json, random, sys, urllib.parse
port, n_targets, n_signals = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
random.seed(1)
replies = {}
for s in range(n_signals):
    variants = []
    for v in range(4):
        result = [{"metric": {"__name__": "m%d" % s, "job": "app", "target": "t%06d" % t},
                   "value": [0, "%.3f" % random.random()]} for t in range(n_targets)]
        variants.append(json.dumps({"status": "success", "data": {"resultType": "vector",
                                                                   "result": result}}))
    replies["m%d" % s] = variants
count = {}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        q, t = form.get("query", [""])[0], form.get("time", ["0"])[0]
        if q not in replies:
            body = b'{"status":"error","errorType":"bad_data","error":"unknown"}'
            self.send_response(400)
        else:
            count[q] = count.get(q, 0) + 1
            # the evaluation time as the samples' time: fresh for max_age
            body = replies[q][count[q] % 4].replace('"value": [0,', '"value": [%s,' % t).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
fake_port=$(free_port)
"${guard[@]}" "$py" "$out/fakeprom.py" "$fake_port" "$n_targets" "$n_signals" >"$out/fakeprom.log" 2>&1 &
pids+=("$!")
for ((i = 0; i < 200; i++)); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$fake_port/" 2>/dev/null && break
    nap 0.2
done
start_controller "http://127.0.0.1:$fake_port" fake
log "controller against the fake API: $n_evals evaluations of $n_targets targets x $n_signals signals"
evaluations fake
hwm_fake=$(status_kb "$ctl_pid" VmHWM)
state_size=$(stat -c %s "$out/state-fake/state.json")
lat_list=$(latency "$ctl_url/api/v1/targets?limit=100")
lat_crit=$(latency "$ctl_url/api/v1/targets?state=critical&limit=100")
id=$(curl -s "$ctl_url/api/v1/targets?limit=1" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["data"]["targets"][0]["id"])')
lat_one=$(latency "$ctl_url/api/v1/targets/$id")
lat_page=$(latency "$ctl_url/")
lat_status=$(latency "$ctl_url/api/v1/status")
lat_metrics=$(latency "$ctl_url/metrics")
curl -s "$ctl_url/metrics" >"$out/metrics.txt" || true
metrics_lines=$(grep -c '^homeostat_controller_target' "$out/metrics.txt" || true)
total=$(curl -s "$ctl_url/api/v1/status" | "$py" -c 'import json,sys; d=json.load(sys.stdin)["data"]["targets"]; print("%d targets: %s" % (d["total"], d["per_state"]))')
stop "$ctl_pid"

# ---- 3. the real Prometheus --------------------------------------------------------------
log "generating $n_signals x $n_targets series for promtool tsdb create-blocks-from openmetrics"
"$py" - "$out/series.om" "$n_targets" "$n_signals" <<'PY'
import random, sys, time
path, n_targets, n_signals = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time())
times = range(now - 600, now + 300, 30)
random.seed(2)
with open(path, "w") as f:
    for s in range(n_signals):
        f.write("# TYPE m%d gauge\n" % s)
        for t in range(n_targets):
            base = random.random()
            for ts in times:
                f.write('m%d{job="app",target="t%06d"} %.3f %d\n' % (s, t, min(1, max(0, base + random.uniform(-0.05, 0.05))), ts))
    f.write("# EOF\n")
PY
mkdir -p "$out/tsdb"
promtool tsdb create-blocks-from openmetrics "$out/series.om" "$out/tsdb" >"$out/promtool.log" 2>&1 ||
    die "promtool tsdb create-blocks-from openmetrics failed: $(tail -3 "$out/promtool.log")"
rm -f "$out/series.om"
{
    printf 'groups:\n  - name: homeostat-states\n    interval: 5s\n    rules:\n'
    printf '      - alert: Critical\n        expr: m0 > 0.9 and on (target) m1 > 0.8\n'
    printf '      - alert: Degraded\n        for: 10s\n        expr: '
    for ((s = 0; s < n_signals; s++)); do printf '%s(m%d > 0.7)' "$([[ $s == 0 ]] || echo ' or on (target) ')" $s; done
    printf '\n'
} >"$out/alerts.yml"
promtool check rules "$out/alerts.yml" >/dev/null || die "the alerting rules do not pass promtool check rules"
prom_port=$(free_port)
printf 'global: {evaluation_interval: 5s}\nrule_files: [%s]\n' "$out/alerts.yml" >"$out/prometheus.yml"
"${guard[@]}" prometheus --config.file="$out/prometheus.yml" --storage.tsdb.path="$out/tsdb" \
    --storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$prom_port" \
    >"$out/prometheus.log" 2>&1 &
prom_pid=$!
pids+=("$prom_pid")
wait_http "http://127.0.0.1:$prom_port/-/ready" 60 || die "Prometheus did not become ready"
nap 10
p0=$(cpu_ns "$prom_pid")
nap "$prom_seconds"
p1=$(cpu_ns "$prom_pid")
rule_stats=$(curl -s "http://127.0.0.1:$prom_port/metrics" | "$py" -c 'import sys
v = {}
for l in sys.stdin:
    if l.startswith("prometheus_rule_group_last_duration_seconds") or l.startswith("prometheus_rule_group_iterations_total") or l.startswith("prometheus_rule_evaluation_duration_seconds_sum") or l.startswith("prometheus_rule_evaluation_duration_seconds_count"):
        k, x = l.rsplit(" ", 1)
        v[k.split("{")[0]] = float(x)
print("%.1f %d" % (v.get("prometheus_rule_group_last_duration_seconds", -1) * 1e3, v.get("prometheus_rule_group_iterations_total", 0)))')
alerts=$(curl -s "http://127.0.0.1:$prom_port/api/v1/alerts" | "$py" -c 'import json,sys,collections
c = collections.Counter((a["labels"]["alertname"], a["state"]) for a in json.load(sys.stdin)["data"]["alerts"])
print(", ".join("%s %s %d" % (k[0], k[1], n) for k, n in sorted(c.items())))')
prom_cpu_per_eval=$("$py" -c "print('%.1f' % ((float('$p1') - float('$p0')) / 1e6 / ($prom_seconds / 5)))")

start_controller "http://127.0.0.1:$prom_port" prom
log "controller against the real Prometheus: $n_evals evaluations"
p2=$(cpu_ns "$prom_pid")
evaluations prom
p3=$(cpu_ns "$prom_pid")
prom_cpu_ctl=$("$py" -c "print('%.1f' % ((float('$p3') - float('$p2')) / 1e6 / $n_evals))")
hwm_prom=$(status_kb "$ctl_pid" VmHWM)
total_prom=$(curl -s "$ctl_url/api/v1/status" | "$py" -c 'import json,sys; d=json.load(sys.stdin)["data"]["targets"]; print("%d targets: %s" % (d["total"], d["per_state"]))')
stop "$ctl_pid"

cat <<MD
### Results ($n_targets targets x $n_signals signals, $(date -u '+%Y-%m-%d %H:%M UTC'))

Engine alone (targets-engine-bench, CPU): $engine_line

Controller against the fake Prometheus API ($total):

| per evaluation | p50 | p90 | max |
|---|---:|---:|---:|
| wall time, ms | $(quantiles "$out/evals-fake.tsv" 0) |
| controller CPU (all threads), ms | $(quantiles "$out/evals-fake.tsv" 1) |
| slowest query (sending, the fake's answer, parsing), ms | $(quantiles "$out/evals-fake.tsv" 2) |
| state file save, ms | $(quantiles "$out/evals-fake.tsv" 3) |

| request at $n_targets targets (20 each) | p50 ms | p90 ms | max ms |
|---|---:|---:|---:|
| GET /api/v1/targets?limit=100 | $lat_list |
| GET /api/v1/targets?state=critical&limit=100 | $lat_crit |
| GET /api/v1/targets/ID | $lat_one |
| GET / (the status page) | $lat_page |
| GET /api/v1/status | $lat_status |
| GET /metrics ($metrics_lines per-target series) | $lat_metrics |

Controller VmHWM (peak RSS): $((hwm_fake / 1024)) MiB; state file: $((state_size / 1024)) KiB.

The real Prometheus on the same series ($alerts):

| measure | value |
|---|---:|
| Prometheus rule evaluation of the states as alerting rules, last group duration, ms | ${rule_stats% *} |
| Prometheus CPU per 5 s of rule evaluation, ms | $prom_cpu_per_eval |

Controller against the real Prometheus ($total_prom):

| per evaluation | p50 | p90 | max |
|---|---:|---:|---:|
| wall time, ms | $(quantiles "$out/evals-prom.tsv" 0) |
| controller CPU, ms | $(quantiles "$out/evals-prom.tsv" 1) |
| slowest query, ms | $(quantiles "$out/evals-prom.tsv" 2) |
| state file save, ms | $(quantiles "$out/evals-prom.tsv" 3) |
| Prometheus CPU answering the controller's queries, ms | $prom_cpu_ctl | | |

Controller VmHWM against Prometheus: $((hwm_prom / 1024)) MiB.
MD

#!/usr/bin/env bash
# bench/controller-bench.sh: homeostat-controller evaluating 200 distinct signals against the
# real Prometheus (Debian's), which scrapes the real homeostat-exporter every second.
#
#  1. Starts the exporter and Prometheus on free loopback ports and lets Prometheus collect
#     BENCH_WARMUP_SECONDS (30) of data, so that rate() over [10s]..[5m] has samples.
#  2. Writes a rules file with BENCH_SIGNALS (200) distinct queries of varied cost: rate() of
#     homeostat_cpu_seconds_total by mode and by cpu, histogram_quantile() over
#     homeostat_cpu_busy_ratio_bucket and homeostat_memory_used_ratio_bucket, sums of rate()
#     and increase() of the disk and network counters, ranges [10s]..[5m], and a few
#     subqueries; four states with conditions on some of them; evaluation_interval 5s.
#  3. Runs homeostat-controller --dry-run and forces BENCH_EVALUATIONS (30) evaluations with
#     POST /api/v1/evaluate (bearer token). Around each one: the controller's /metrics
#     (evaluation_duration_seconds _sum and _count: the delta is that evaluation's wall
#     time), the CPU time of all its threads (/proc/PID/task/*/schedstat, ns) and, after
#     it, /api/v1/signals (query_duration_seconds of every signal: the slowest one, their
#     sum). A timer evaluation (every 5 s) that lands between the two scrapes makes the
#     count delta 2; such a sample is not used and another one is taken.
#     Prometheus's own counters are read before and after the series: its CPU, the query
#     engine's queue and eval time, HTTP request time, connections accepted.
#  4. Sequential baseline: the same 200 queries, one at a time over one keep-alive
#     connection (python3 http.client, gzip accepted, as the controller), BENCH_SEQ_PASSES
#     (5) passes; per query the median: their sum is what a sequential client takes, their
#     maximum is the slowest query when it runs alone. Then again without compression
#     (Accept-Encoding: identity). Prometheus's CPU is measured per pass for both.
#  5. Memory: VmHWM, VmRSS, RssAnon, RssFile, Pss and the largest resident mappings
#     (/proc/PID/smaps) of the controller; then VmHWM, VmRSS, RssAnon, RssFile of a second
#     controller with BENCH_SMALL_SIGNALS (1) signal(s) after 5 forced evaluations, to split
#     the fixed cost from the per-signal cost.
#
# Prints markdown tables. Builds nothing: HOMEOSTAT_EXPORTER (default
# build/exporter/homeostat-exporter) and HOMEOSTAT_CONTROLLER (default
# build/controller/homeostat-controller). Knobs: BENCH_SIGNALS=200 BENCH_EVALUATIONS=30
# BENCH_WARMUP_SECONDS=30 BENCH_SEQ_PASSES=5 BENCH_SMALL_SIGNALS=1 BENCH_PERF=1 (perf stat
# on the controller during the forced evaluations, when perf works)
# BENCH_PROM_ARGS="" (extra prometheus flags, e.g. --query.max-concurrency=200)
# BENCH_OUT=DIR (raw outputs; a temporary directory by default, kept and printed).
# About 45 s. Every process it starts is stopped at exit (and on SIGINT, SIGTERM, SIGHUP).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" controller-bench
trap 'exit 130' HUP

controller=${HOMEOSTAT_CONTROLLER:-$root/build/controller/homeostat-controller}
n_signals=${BENCH_SIGNALS:-200}
n_evals=${BENCH_EVALUATIONS:-30}
((n_evals >= 1 && n_signals >= 1 && n_signals <= 256)) || die "bad BENCH_EVALUATIONS or BENCH_SIGNALS"
warmup=${BENCH_WARMUP_SECONDS:-30}
seq_passes=${BENCH_SEQ_PASSES:-5}
small_signals=${BENCH_SMALL_SIGNALS:-1}
use_perf=${BENCH_PERF:-1}
read -r -a prom_extra <<<"${BENCH_PROM_ARGS:-}"
out=$(bench_out homeostat-controller-bench)
bench_at_exit() { rm -rf "$out"/prometheus-data.*; } # the TSDB is no result

require test curl prometheus "$py"
[[ -x $exporter ]] || die "no exporter at $exporter (build it, or set HOMEOSTAT_EXPORTER)"
[[ -x $controller ]] || die "no controller at $controller (build it, or set HOMEOSTAT_CONTROLLER)"

now_ns() { date +%s%N; }
# value FILE REGEX: the sum of the samples whose series (first field) matches REGEX.
value() { awk -v re="$2" '$1 ~ re { s += $2; n++ } END { if (n) printf "%.9f\n", s; else print "nan" }' "$1"; }

# --- exporter ---------------------------------------------------------------------------------
start_homeostat "$out/exporter.log"

# --- prometheus --------------------------------------------------------------------------------
cat >"$out/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: homeostat
    static_configs:
      - targets: ['$hs_addr']
EOF
prom_url=
for attempt in 1 2 3 4 5; do
    prom_port=$(free_port)
    { "${guard[@]}" prometheus --config.file="$out/prometheus.yml" --storage.tsdb.path="$out/prometheus-data.$attempt" \
        --web.listen-address="127.0.0.1:$prom_port" --storage.tsdb.retention.time=1h \
        "${prom_extra[@]}" </dev/null & } >"$out/prometheus.log" 2>&1
    prom_pid=$!
    for ((i = 0; i < 300; i++)); do
        if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$prom_port/-/ready"; then
            prom_url=http://127.0.0.1:$prom_port
            break
        fi
        kill -0 "$prom_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -n $prom_url ]]; then
        pids+=("$prom_pid")
        break
    fi
    stop "$prom_pid"
    grep -q 'address already in use' "$out/prometheus.log" || die "prometheus did not start: $(tail -n 5 "$out/prometheus.log")"
done
[[ -n $prom_url ]] || die "prometheus did not start: $(tail -n 5 "$out/prometheus.log")"
log "exporter (pid $hs_pid) at $hs_url; prometheus (pid $prom_pid) at $prom_url"

prom_instant() { # EXPR: the first value of an instant query, or empty
    curl -s --max-time 5 --data-urlencode "query=$1" "$prom_url/api/v1/query" |
        "$py" -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
up_since=
for ((i = 0; i < 200; i++)); do
    if [[ $(prom_instant 'up{job="homeostat"}') == 1 ]]; then
        up_since=$SECONDS
        break
    fi
    sleep 0.1
done
[[ -n $up_since ]] || die "prometheus does not scrape the exporter (up != 1 after 20 s)"

# --- the rules file -----------------------------------------------------------------------------
curl -s --max-time 10 "$hs_url" >"$out/exporter.prom"
mapfile -t cpus < <(awk -F'cpu="' '/^homeostat_cpu_seconds_total\{/ { split($2, a, "\""); print a[1] }' \
    "$out/exporter.prom" | sort -un)
((${#cpus[@]})) || cpus=(0)
mapfile -t disk_counters < <(awk -F'{' '/^homeostat_disk_[a-z_]*_total\{/ { print $1 }' "$out/exporter.prom" | sort -u)
ranges=(10s 30s 1m 2m 5m)
modes=(user system idle iowait softirq steal nice irq)
{
    # Interleaved so that any BENCH_SIGNALS prefix is a mix; duplicates removed below.
    for r in "${ranges[@]}"; do
        for m in "${modes[@]}"; do
            echo "sum(rate(homeostat_cpu_seconds_total{mode=\"$m\"}[$r]))"
            for c in "${cpus[@]:0:2}"; do
                echo "sum(rate(homeostat_cpu_seconds_total{cpu=\"$c\",mode=\"$m\"}[$r]))"
            done
        done
        echo "1 - avg(rate(homeostat_cpu_seconds_total{mode=\"idle\"}[$r]))"
        for q in 0.5 0.9 0.95 0.99; do
            echo "histogram_quantile($q, sum by (le) (rate(homeostat_cpu_busy_ratio_bucket[$r])))"
            echo "histogram_quantile($q, sum by (le) (rate(homeostat_memory_used_ratio_bucket[$r])))"
        done
        for d in "${disk_counters[@]}"; do
            echo "sum(rate(${d}[$r]))"
        done
        for dir in receive transmit; do
            for k in bytes packets errs drop; do
                echo "sum(rate(homeostat_network_${dir}_${k}_total[$r]))"
                echo "sum(increase(homeostat_network_${dir}_${k}_total{device!=\"lo\"}[$r]))"
            done
        done
        echo "max_over_time(sum(rate(homeostat_cpu_seconds_total{mode=\"user\"}[10s]))[$r:1s])"
        echo "avg_over_time((1 - avg(rate(homeostat_cpu_seconds_total{mode=\"idle\"}[10s])))[$r:1s])"
    done
} | awk '!seen[$0]++' >"$out/queries.all"
# Take them round-robin over the kinds (and within a kind over the ranges), so that the
# list is a mix whatever BENCH_SIGNALS is.
"$py" - "$out/queries.all" "$n_signals" >"$out/queries.txt" 2>"$out/query-kinds.txt" <<'EOF'
import re, sys
qs = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
kinds = [("subquery", "_over_time"), ("quantile", "histogram_quantile"), ("busy", "^1 - avg"),
         ("cpu by cpu and mode", "cpu_seconds_total{cpu="), ("cpu by mode", "cpu_seconds_total"),
         ("disk", "homeostat_disk_"), ("network", "homeostat_network_")]
def kind(q):
    for name, pat in kinds:
        if re.search(pat if pat.startswith("^") else re.escape(pat), q):
            return name
    return "other"
def rr(lists):
    lists = [list(l) for l in lists]
    out = []
    while any(lists):
        for l in lists:
            if l:
                out.append(l.pop(0))
    return out
by_kind = {}
for q in qs:
    by_kind.setdefault(kind(q), {}).setdefault(re.findall(r"\[([0-9a-z]+)[\]:]", q)[-1], []).append(q)
order = ["cpu by mode", "cpu by cpu and mode", "busy", "quantile", "disk", "network", "subquery", "other"]
picked = rr([rr(by_kind[k].values()) for k in order if k in by_kind])[:n]
print("\n".join(picked))
counts = {}
for q in picked:
    counts[kind(q)] = counts.get(kind(q), 0) + 1
print(", ".join("%s %d" % (k, counts[k]) for k in order if k in counts), file=sys.stderr)
EOF
got=$(wc -l <"$out/queries.txt")
((got == n_signals)) || die "only $got distinct queries could be generated (wanted $n_signals)"

# write_rules FILE N: the rules file with the first N queries as signals s001..sNNN.
write_rules() {
    local file=$1 n=$2 i=0 q
    {
        echo "evaluation_interval: 5s"
        echo "prometheus:"
        echo "  url: $prom_url"
        echo "  timeout: 5s"
        echo "signals:"
        while IFS= read -r q && ((i < n)); do
            i=$((i + 1))
            printf '  s%03d:\n    query: '\''%s'\''\n    max_age: 1m\n' "$i" "$q"
        done <"$out/queries.txt"
        # Conditions on some of them: s001 cpu by mode, s002 cpu by cpu and mode, s003 the
        # busy ratio, s004 a quantile (the order above).
        if ((n >= 4)); then
            cat <<'EOF'
states:
  - name: critical
    when: all
    conditions: ["s003 > 0.95", "s004 > 0.99"]
    for: 30s
    severity: critical
  - name: degraded
    conditions: ["s002 > 0.9", "s003 > 0.8"]
    for: 10s
    severity: warning
  - name: busy
    conditions: ["s003 > 0.6", "s001 > 1.5"]
  - name: optimal
decisions:
  critical:
    min_confidence: 0.5
    actions:
      - webhook: {url: "http://127.0.0.1:9/limits", body: {concurrency: 4}}
EOF
        else
            printf 'states:\n  - name: busy\n    conditions: ["s001 > 1e9"]\n  - name: optimal\n'
        fi
    } >"$file"
}
write_rules "$out/rules.yaml" "$n_signals"
"$controller" check "$out/rules.yaml" >"$out/check.out" 2>&1 || die "the rules file is invalid: $(cat "$out/check.out")"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/token"
token=$(cat "$out/token")

# start_controller NAME RULES: sets ctl_pid, ctl_url.
start_controller() {
    local name=$1 rules=$2
    mkdir -p "$out/$name-state"
    { "${guard[@]}" "$controller" --config="$rules" --web.listen-address=127.0.0.1:0 \
        --web.admin-token-file="$out/token" --state.directory="$out/$name-state" \
        --dry-run </dev/null & } >"$out/$name.log" 2>&1
    ctl_pid=$!
    pids+=("$ctl_pid")
    ctl_url=$(wait_log "$out/$name.log" "$ctl_pid") || die "the controller did not start: $(cat "$out/$name.log")"
}
ctl_scrape() { curl -s --max-time 30 "$ctl_url/metrics" >"$1"; }
ctl_evaluate() { # prints the HTTP status
    curl -s -o "$out/evaluate.json" -w '%{http_code}' --max-time 40 -X POST \
        -H "Authorization: Bearer $token" "$ctl_url/api/v1/evaluate" || true
}
ctl_count() { # evaluations so far, from /metrics
    ctl_scrape "$out/m.prom"
    value "$out/m.prom" '^homeostat_controller_evaluation_duration_seconds_count$' | awk '{ printf "%d\n", $1 }'
}

# Let Prometheus collect its data (the [5m] ranges get what there is).
left=$((warmup - (SECONDS - up_since)))
((left > 0)) && { log "letting prometheus collect ${warmup} s of data (${left} s more)"; nap "$left"; }

# --- the controller: 200 signals ------------------------------------------------------------
start_controller ctl "$out/rules.yaml"
log "controller (pid $ctl_pid) at $ctl_url with $n_signals signals"
# Its first evaluation starts at once: wait for it (cold: new connections, new handles).
for ((i = 0; i < 400; i++)); do
    c=$(ctl_count || echo 0)
    ((c >= 1)) && break
    sleep 0.05
done
((c >= 1)) || die "the controller made no evaluation in 20 s: $(tail -n 5 "$out/ctl.log")"
cold_s=$(value "$out/m.prom" '^homeostat_controller_evaluation_duration_seconds_sum$')
cold_count=$c
hwm_first=$(status_kb "$ctl_pid" VmHWM)
rss_first=$(status_kb "$ctl_pid" VmRSS)
# Two unmeasured forced evaluations (handles and connections in place).
for _ in 1 2; do
    [[ $(ctl_evaluate) == 200 ]] || die "POST /api/v1/evaluate failed: $(cat "$out/evaluate.json")"
done

signals_stats() { # FILE (the /api/v1/signals JSON): "max sum known name_of_slowest"
    "$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))["data"]
ds = [s.get("query_duration_seconds", 0.0) for s in d]
i = max(range(len(ds)), key=lambda k: ds[k])
print("%.6f %.6f %d %s" % (ds[i], sum(ds), sum(1 for s in d if s["known"]), d[i]["name"]))' "$1"
}

curl -s --max-time 10 "$prom_url/metrics" >"$out/prom0.prom"
prom_ns0=$(cpu_ns "$prom_pid")
ctl_t0=$(cpu_ticks "$ctl_pid")
perf_pid=
if ((use_perf)) && command -v perf >/dev/null 2>&1 && perf stat -e task-clock true >/dev/null 2>&1; then
    "${guard[@]}" perf stat -e task-clock,context-switches,cpu-migrations,page-faults -p "$ctl_pid" \
        -o "$out/perf.txt" </dev/null >/dev/null 2>&1 &
    perf_pid=$!
    pids+=("$perf_pid")
    sleep 0.3
fi
log "forcing $n_evals evaluations"
: >"$out/evals.tsv"
clean=0 overlapped=0 attempts=0 loop_evals0=$(ctl_count)
loop_w0=$(now_ns)
while ((clean < n_evals && attempts < 3 * n_evals)); do
    attempts=$((attempts + 1))
    ctl_scrape "$out/before.prom"
    c0=$(cpu_ns "$ctl_pid")
    w0=$(now_ns)
    code=$(ctl_evaluate)
    w1=$(now_ns)
    c1=$(cpu_ns "$ctl_pid")
    [[ $code == 200 ]] || die "POST /api/v1/evaluate answered $code: $(cat "$out/evaluate.json")"
    ctl_scrape "$out/after.prom"
    curl -s --max-time 10 "$ctl_url/api/v1/signals" >"$out/signals.json"
    read -r s0 n0 < <(awk '$1 == "homeostat_controller_evaluation_duration_seconds_sum" { s = $2 }
        $1 == "homeostat_controller_evaluation_duration_seconds_count" { n = $2 } END { print s, n }' "$out/before.prom")
    read -r s1 n1 < <(awk '$1 == "homeostat_controller_evaluation_duration_seconds_sum" { s = $2 }
        $1 == "homeostat_controller_evaluation_duration_seconds_count" { n = $2 } END { print s, n }' "$out/after.prom")
    if [[ $(awk -v a="$n0" -v b="$n1" 'BEGIN { print b - a }') != 1 ]]; then
        overlapped=$((overlapped + 1)) # a timer evaluation came in between
        continue
    fi
    read -r qmax qsum known slowest < <(signals_stats "$out/signals.json")
    # evaluation_s slowest_query_s sum_of_queries_s known cpu_ms post_roundtrip_s slowest_name
    awk -v s0="$s0" -v s1="$s1" -v qmax="$qmax" -v qsum="$qsum" -v known="$known" -v c0="$c0" \
        -v c1="$c1" -v w0="$w0" -v w1="$w1" -v name="$slowest" 'BEGIN {
        printf "%.6f\t%.6f\t%.6f\t%d\t%.3f\t%.6f\t%s\n", s1 - s0, qmax, qsum, known,
            (c1 - c0) / 1e6, (w1 - w0) / 1e9, name }' >>"$out/evals.tsv"
    clean=$((clean + 1))
done
loop_w1=$(now_ns)
loop_evals1=$(ctl_count)
ctl_t1=$(cpu_ticks "$ctl_pid")
prom_ns1=$(cpu_ns "$prom_pid")
if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
fi
curl -s --max-time 10 "$prom_url/metrics" >"$out/prom1.prom"
((clean > 0)) || die "no clean evaluation measured (every one overlapped a timer evaluation)"
loop_evals=$((loop_evals1 - loop_evals0))
ctl_conns=$(ss -tnpH state established "( dport = :$prom_port )" 2>/dev/null | grep -c "pid=$ctl_pid," || true)
hwm=$(status_kb "$ctl_pid" VmHWM)
rss=$(status_kb "$ctl_pid" VmRSS)
rss_anon=$(status_kb "$ctl_pid" RssAnon)
rss_file=$(status_kb "$ctl_pid" RssFile)
threads=$(status_kb "$ctl_pid" Threads)
pss=$(awk '$1 == "Pss:" { print $2 }' "/proc/$ctl_pid/smaps_rollup" 2>/dev/null || echo n/a)
# Resident kB per mapping (file name, [heap], or anonymous), largest first.
awk '/^[0-9a-f]+-[0-9a-f]+ / { name = NF >= 6 ? $6 : "(anonymous)" }
     $1 == "Rss:" { r[name] += $2 }
     END { for (n in r) printf "%d\t%s\n", r[n], n }' "/proc/$ctl_pid/smaps" | sort -rn >"$out/smaps-rss.tsv"
top_maps=$(head -n 8 "$out/smaps-rss.tsv" | awk -F'\t' '{ n = $2; sub(/.*\//, "", n); printf "%s%s %.2f", sep, n, $1 / 1024; sep = ", " }')
query_errors=$(value "$out/after.prom" '^homeostat_controller_query_errors_total')
[[ $query_errors == nan ]] && query_errors=0

# Prometheus's side over the forced evaluations (deltas).
pdelta() { # REGEX: prom1 - prom0
    awk -v a="$(value "$out/prom0.prom" "$1")" -v b="$(value "$out/prom1.prom" "$1")" 'BEGIN { printf "%.9f\n", b - a }'
}
q_queue_s=$(pdelta '^prometheus_engine_query_duration_seconds_sum\{slice="queue_time"\}')
q_queue_n=$(pdelta '^prometheus_engine_query_duration_seconds_count\{slice="queue_time"\}')
q_eval_s=$(pdelta '^prometheus_engine_query_duration_seconds_sum\{slice="inner_eval"\}')
q_eval_n=$(pdelta '^prometheus_engine_query_duration_seconds_count\{slice="inner_eval"\}')
q_prep_s=$(pdelta '^prometheus_engine_query_duration_seconds_sum\{slice="prepare_time"\}')
http_s=$(pdelta '^prometheus_http_request_duration_seconds_sum\{handler="/api/v1/query"\}')
http_n=$(pdelta '^prometheus_http_request_duration_seconds_count\{handler="/api/v1/query"\}')
# Less one: the connection of the scrape that read prom1.prom itself.
accepted=$(awk -v d="$(pdelta '^net_conntrack_listener_conn_accepted_total\{listener_name="http"\}')" 'BEGIN { printf "%.0f\n", d - 1 }')
max_conc=$(value "$out/prom1.prom" '^prometheus_engine_queries_concurrent_max$')

# --- sequential baseline ---------------------------------------------------------------------
# seq_baseline ENCODING FILE: one query after another over one connection; ENCODING gzip
# (accepted, as the controller asks with CURLOPT_ACCEPT_ENCODING "") or identity. Sets
# seq_prom_ms: the CPU Prometheus spent per pass.
seq_baseline() {
    local p0 p1
    p0=$(cpu_ns "$prom_pid")
    "$py" - "$prom_url" "$out/queries.txt" "$seq_passes" "$1" >"$2" <<'EOF'
import gzip, http.client, json, statistics, sys, time, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
queries = [l.rstrip("\n") for l in open(sys.argv[2]) if l.strip()]
passes = int(sys.argv[3])
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
hdr = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
       "Accept-Encoding": sys.argv[4]}
times = [[] for _ in queries]
server = [[] for _ in queries]
totals = []
for p in range(passes):
    t_pass = time.perf_counter()
    for i, q in enumerate(queries):
        body = urllib.parse.urlencode({"query": q, "time": "%.3f" % time.time(), "stats": "all"})
        t0 = time.perf_counter()
        conn.request("POST", "/api/v1/query", body, hdr)
        r = conn.getresponse()
        data = r.read()
        t1 = time.perf_counter()
        if r.getheader("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        d = json.loads(data)
        if d.get("status") != "success":
            sys.exit("query failed: %s: %s" % (q, d))
        times[i].append(t1 - t0)
        server[i].append(d["data"].get("stats", {}).get("timings", {}).get("evalTotalTime", 0.0))
    totals.append(time.perf_counter() - t_pass)
for i, q in enumerate(queries):
    print("%.6f\t%.6f\t%s" % (statistics.median(times[i]), statistics.median(server[i]), q))
print("#passes\t" + "\t".join("%.6f" % t for t in totals))
EOF
    p1=$(cpu_ns "$prom_pid")
    seq_prom_ms=$(awk -v a="$p0" -v b="$p1" -v n="$seq_passes" 'BEGIN { printf "%.1f", (b - a) / 1e6 / n }')
}
log "sequential baseline: $n_signals queries one at a time, $seq_passes passes, gzip and identity"
seq_baseline gzip "$out/sequential.tsv"
seq_prom_gzip=$seq_prom_ms
seq_baseline identity "$out/sequential-identity.tsv"
seq_prom_identity=$seq_prom_ms

# --- the small controller: fixed memory cost ---------------------------------------------------
small_hwm=n/a small_rss=n/a small_anon=n/a small_file=n/a
if ((small_signals >= 1 && small_signals < n_signals)); then
    log "memory with $small_signals signal(s)"
    write_rules "$out/rules-small.yaml" "$small_signals"
    main_ctl_url=$ctl_url main_ctl_pid=$ctl_pid
    start_controller small "$out/rules-small.yaml"
    for _ in 1 2 3 4 5; do
        [[ $(ctl_evaluate) == 200 ]] || die "small controller: POST /api/v1/evaluate failed"
    done
    small_hwm=$(status_kb "$ctl_pid" VmHWM)
    small_rss=$(status_kb "$ctl_pid" VmRSS)
    small_anon=$(status_kb "$ctl_pid" RssAnon)
    small_file=$(status_kb "$ctl_pid" RssFile)
    stop "$ctl_pid"
    ctl_url=$main_ctl_url ctl_pid=$main_ctl_pid
fi

# --- report --------------------------------------------------------------------------------------
# stats COLUMN FILE: "median p90 max mean" of a numeric column (# lines skipped)
stats() {
    awk -F'\t' -v c="$1" '!/^#/ { print $c }' "$2" | sort -g | awk '{ v[NR] = $1; s += $1 }
        END { if (!NR) { print "nan nan nan nan"; exit }
              m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              p = v[int(0.9 * (NR - 1)) + 1]
              printf "%.6f %.6f %.6f %.6f\n", m, p, v[NR], s / NR }'
}
awk -F'\t' '{ printf "%.6f\n", $1 / ($2 > 0 ? $2 : 1) }' "$out/evals.tsv" >"$out/ratios.txt"
read -r ev_med ev_p90 ev_max _ < <(stats 1 "$out/evals.tsv")
read -r qm_med qm_p90 qm_max _ < <(stats 2 "$out/evals.tsv")
read -r qs_med _ _ _ < <(stats 3 "$out/evals.tsv")
read -r cpu_med cpu_p90 cpu_max _ < <(stats 5 "$out/evals.tsv")
read -r rt_med _ rt_max _ < <(stats 6 "$out/evals.tsv")
read -r ra_med ra_p90 ra_max _ < <(stats 1 "$out/ratios.txt")
read -r known_min < <(cut -f4 "$out/evals.tsv" | sort -n | head -n1)
seq_sum=$(awk -F'\t' '!/^#/ { s += $1 } END { printf "%.6f\n", s }' "$out/sequential.tsv")
seq_srv_sum=$(awk -F'\t' '!/^#/ { s += $2 } END { printf "%.6f\n", s }' "$out/sequential.tsv")
read -r seq_max seq_max_q < <(awk -F'\t' '!/^#/ && $1 > m { m = $1; q = $3 } END { printf "%.6f %s\n", m, q }' "$out/sequential.tsv")
seq_id_sum=$(awk -F'\t' '!/^#/ { s += $1 } END { printf "%.6f\n", s }' "$out/sequential-identity.tsv")
seq_id_max=$(awk -F'\t' '!/^#/ && $1 > m { m = $1 } END { printf "%.6f\n", m }' "$out/sequential-identity.tsv")
seq_passes_s=$(awk -F'\t' '/^#passes/ { for (i = 2; i <= NF; i++) printf "%s%.3f", (i > 2 ? ", " : ""), $i }' "$out/sequential.tsv")
slowest_names=$(cut -f7 "$out/evals.tsv" | sort | uniq -c | sort -rn | head -n3 | awk '{ printf "%s%s (%d)", sep, $2, $1; sep = ", " }')

ms() { awk -v v="$1" 'BEGIN { printf "%.1f", v * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mib() { [[ $1 == n/a ]] && { echo n/a; return; }; awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }'; }
per() { # NUM DEN [FORMAT [SCALE]]: NUM * SCALE / DEN
    awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" -v k="${4:-1}" 'BEGIN { if (b > 0) printf f, a * k / b; else print "n/a" }'
}
loop_s=$(awk -v a="$loop_w0" -v b="$loop_w1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
ctl_cpu_ms_per=$(awk -v a="$ctl_t0" -v b="$ctl_t1" -v hz="$hz" -v n="$loop_evals" 'BEGIN { printf "%.1f", (b - a) * 1000 / hz / n }')
prom_cpu_ms_per=$(awk -v a="$prom_ns0" -v b="$prom_ns1" -v n="$loop_evals" 'BEGIN { printf "%.1f", (b - a) / 1e6 / n }')
perf_line=n/a
if [[ -s $out/perf.txt ]]; then
    perf_line=$(awk -v n="$loop_evals" '
        /task-clock/ { gsub(/,/, "", $1); tc = $1 }
        /context-switches/ { gsub(/,/, "", $1); cs = $1 }
        /cpu-migrations/ { gsub(/,/, "", $1); mig = $1 }
        /page-faults/ { gsub(/,/, "", $1); pf = $1 }
        END { printf "task-clock %.1f ms, context switches %.0f, migrations %.0f, page faults %.0f", tc / n, cs / n, mig / n, pf / n }' "$out/perf.txt")
fi
ev_vs_alone=$(ratio "$ev_med" "$seq_max")
hwm_ok=$(awk -v k="$hwm" 'BEGIN { print (k < 8192) ? "met" : "missed" }')
ratio_ok=$(awk -v r="$ra_med" 'BEGIN { print (r <= 1.5) ? "met" : "missed" }')
alone_ok=$(awk -v a="$ev_med" -v b="$seq_max" 'BEGIN { print (b > 0 && a / b <= 1.5) ? "met" : "missed" }')

cat <<EOF

## homeostat-controller: $n_signals signals against Prometheus ($(date -u +%Y-%m-%dT%H:%M:%SZ))

Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r); load average before the report: $(cut -d' ' -f1-3 /proc/loadavg).
homeostat-controller: $("$controller" --version 2>&1 | head -n1), $(curl --version | head -n1 | awk '{ print $2 }') libcurl ($controller).
Prometheus: $(prometheus --version 2>&1 | head -n1 | awk '{ print $3 }'), scrape interval 1 s, ${warmup} s of data before the first evaluation, query.max-concurrency $(printf '%.0f' "$max_conc")${prom_extra[*]:+ (flags: ${prom_extra[*]})}.
Started as: \`${exporter##*/} ${hs_args[*]}\`; \`prometheus --config.file=prometheus.yml --storage.tsdb.path=DIR --web.listen-address=127.0.0.1:PORT --storage.tsdb.retention.time=1h${prom_extra[*]:+ ${prom_extra[*]}}\` (scrape_interval 1s); \`${controller##*/} --config=rules.yaml --web.listen-address=127.0.0.1:0 --web.admin-token-file=token --state.directory=DIR --dry-run\`.
Rules: $n_signals distinct queries ($(cat "$out/query-kinds.txt"); ranges [10s]..[5m]; $out/queries.txt), 4 states, evaluation_interval 5s, timeout 5s, --dry-run.
Evaluations: $clean measured (forced with POST /api/v1/evaluate), $overlapped discarded (a timer evaluation came in between), $loop_evals in all in ${loop_s} s; cold first evaluation measured separately.

| measure | median | p90 | max |
|---|---:|---:|---:|
| evaluation wall time, ms (delta of evaluation_duration_seconds_sum) | $(ms "$ev_med") | $(ms "$ev_p90") | $(ms "$ev_max") |
| slowest query of the same evaluation, ms (max query_duration_seconds) | $(ms "$qm_med") | $(ms "$qm_p90") | $(ms "$qm_max") |
| ratio evaluation / slowest query of the evaluation | $(printf '%.2f' "$ra_med") | $(printf '%.2f' "$ra_p90") | $(printf '%.2f' "$ra_max") |
| sum of the $n_signals query durations within one evaluation, ms (they overlap) | $(ms "$qs_med") | | |
| POST /api/v1/evaluate round trip, ms | $(ms "$rt_med") | | $(ms "$rt_max") |
| controller CPU per evaluation, ms (schedstat of all threads, around the POST) | $(printf '%.1f' "$cpu_med") | $(printf '%.1f' "$cpu_p90") | $(printf '%.1f' "$cpu_max") |

| measure | value |
|---|---:|
| signals known per evaluation (min) | $known_min of $n_signals |
| query errors (homeostat_controller_query_errors_total, whole run) | $(printf '%.0f' "$query_errors") |
| cold first evaluation (new connections), ms | $(ms "$cold_s") (evaluations counted: $cold_count) |
| sequential baseline: sum of the $n_signals query times, one at a time over one keep-alive connection, gzip accepted as the controller does (median per query of $seq_passes passes), ms | $(ms "$seq_sum") |
| ... each pass, s | $seq_passes_s |
| ... of which Prometheus's own evalTotalTime, ms; Prometheus CPU per pass, ms | $(ms "$seq_srv_sum"); $seq_prom_gzip |
| same without compression (Accept-Encoding: identity): sum, ms / slowest query alone, ms / Prometheus CPU per pass, ms | $(ms "$seq_id_sum") / $(ms "$seq_id_max") / $seq_prom_identity |
| slowest query alone (sequential baseline), ms | $(ms "$seq_max") |
| evaluation (median) / slowest query alone | $ev_vs_alone |
| speed-up of one evaluation over the sequential client | $(ratio "$seq_sum" "$ev_med")x |
| controller CPU per evaluation, ms (utime+stime, $loop_evals evaluations, HTTP scrapes included) | $ctl_cpu_ms_per |
| controller perf stat per evaluation | $perf_line |
| Prometheus CPU per evaluation, ms (schedstat, same window) | $prom_cpu_ms_per |
| Prometheus queries per evaluation / mean queue wait per query, ms / mean inner eval, ms / mean prepare, ms | $(per "$q_queue_n" "$loop_evals" %.0f) / $(per "$q_queue_s" "$q_queue_n" %.2f 1000) / $(per "$q_eval_s" "$q_eval_n" %.3f 1000) / $(per "$q_prep_s" "$q_eval_n" %.3f 1000) |
| Prometheus /api/v1/query handler time, mean per request, ms | $(per "$http_s" "$http_n" %.2f 1000) |
| TCP connections accepted by Prometheus during the $loop_evals evaluations / established from the controller to Prometheus after them | $accepted / $ctl_conns |
| controller VmHWM (peak RSS) / VmRSS after first evaluation | $(mib "$hwm_first") / $(mib "$rss_first") |
| controller VmHWM (peak RSS) / VmRSS at the end | $(mib "$hwm") / $(mib "$rss") |
| controller RssAnon / RssFile / Pss at the end ($threads threads) | $(mib "$rss_anon") / $(mib "$rss_file") / $(mib "$pss") |
| same with $small_signals signal(s), after 5 evaluations: VmHWM / VmRSS / RssAnon / RssFile | $(mib "$small_hwm") / $(mib "$small_rss") / $(mib "$small_anon") / $(mib "$small_file") |

Largest resident mappings of the controller at the end (MiB): $top_maps.
Slowest query of an evaluation, most often: $slowest_names. Slowest alone: \`$seq_max_q\`.

Targets: evaluation <= 1.5x the slowest query: $(printf '%.2f' "$ra_med")x the slowest of the same evaluation ($ratio_ok), ${ev_vs_alone}x the slowest query run alone ($alone_ok);
RSS < 8 MB: VmHWM $(mib "$hwm") ($hwm_ok).
Raw outputs: $out
EOF

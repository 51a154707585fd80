#!/usr/bin/env bash
# victoriametrics: homeostat-controller against VictoriaMetrics (Debian's victoria-metrics)
# side by side with Prometheus, both scraping the same homeostat-exporter every second
# (one scrape configuration). VictoriaMetrics runs with -search.latencyOffset=1s, as
# docs/RULES.md advises for a controller; a third one with its defaults shows why.
#  - the PromQL client (test-promql real_victoriametrics_queries): the same classes of
#    error, and what VictoriaMetrics answers otherwise
#  - the daemon, one per backend, on the same rules: the pushed gauge demo_load read as
#    0.2, the same unknown reasons for an empty result and for several series, a syntax
#    error a query error on both (bad_data from Prometheus, 422 from VictoriaMetrics), NaN
#    unknown on both (VictoriaMetrics: as an empty result); demo_load at 0.95 makes both
#    critical within the same bound and both run the webhook action; a series the exporter
#    forgets (a StatsD gauge whose ttl ends) becomes unknown on both within seconds
#    (staleness markers)
#  - a rules file with targets by cpu: the same targets from both (each CPU's series,
#    read by promql_parse_vector), all optimal with their idle rate known, then all
#    critical on the shared demo_load
#  - backtest over the last minute against both: the same timeline within 2 s, and the
#    forgotten series' gap starting within 3 s of each other
#  - report against both: the same checks evaluated and not evaluated
#  - VictoriaMetrics with its default -search.latencyOffset=30s hides the newest 30 s: its
#    daemon still reads 0.2 when the others are critical, and goes critical 30 s late
# About 60 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool victoria-metrics prometheus curl /usr/bin/python3

CONTROLLER=${HOMEOSTAT_CONTROLLER:-$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}
if [[ ! -x $CONTROLLER ]]; then
    fail "controller binary '$CONTROLLER' is missing (build the homeostat-controller target)"
    finish
fi
TEST_PROMQL=$HOMEOSTAT_BUILD_DIR/tests/test-promql

# ---- helpers --------------------------------------------------------------------------

# push LINE: one StatsD line through the exporter's push endpoint.
push() {
    local code
    code=$(printf '%s' "$1" | curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: text/plain' --data-binary @- "$EXPORTER_BASE/api/v1/push" || true)
    check_eq "push $1 answers 200" 200 "$code"
}
# at URL EXPR: the values of EXPR at URL now, one a line.
at() { PROM_URL=$1 prom_values "$2" 2>/dev/null; }
# shellcheck disable=SC2317 # the predicates below are called through wait_until
has() { [[ $(at "$1" "$2") == "$3" ]]; }
# shellcheck disable=SC2317
prom_has_at() { [[ -n $(at "$1" "$2") ]]; }

# start_controller NAME RULES URL: a controller on 127.0.0.1:0; sets CTL_URL.
start_controller() {
    local log=$HS_TMP/$1.log
    spawn "$log" "$CONTROLLER" --config="$2" --prometheus.url="$3" \
        --web.listen-address=127.0.0.1:0 --state.directory="$HS_TMP/state-$1"
    CTL_URL=$(wait_listening "$log" "$HS_PID")
    CTL_URL=${CTL_URL%/}
    if [[ -z $CTL_URL ]]; then
        fail "controller $1 did not start: $(cat "$log")"
        finish
    fi
}
# status URL: GET URL/api/v1/status into $HS_TMP/status.json; fails unless 200.
status() { [[ $(http_get "$HS_TMP/status.json" "$1/api/v1/status") == 200 ]]; }
# st EXPR: EXPR over the last status' data (d).
st() { jget "$HS_TMP/status.json" "(lambda d: $1)(d['data'])"; }
# sig NAME FIELD: a field of signal NAME in the last status.
sig() { st "[s for s in d['signals'] if s['name'] == '$1'][0].get('$2')"; }
# shellcheck disable=SC2317
state_is() { status "$1" && [[ $(st "d['state']") == "$2" ]]; }
# shellcheck disable=SC2317
value_is() { status "$1" && [[ $(sig "$2" known) == true && $(sig "$2" value) == "$3" ]]; }
# shellcheck disable=SC2317
reason_is() { status "$1" && [[ $(sig "$2" known) == false && $(sig "$2" reason) == "$3" ]]; }
# shellcheck disable=SC2317
targets_in() { status "$1" && [[ $(st "d['targets']['per_state'].get('$2')") == "$3" ]]; }
metric() { metric_value "$(hcurl "$1/metrics" 2>/dev/null || true)" "$2"; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# quiet CMD...: CMD with its output thrown away.
# shellcheck disable=SC2317 # called through check
quiet() { "$@" >/dev/null 2>&1; }

# ---- the exporter, Prometheus and VictoriaMetrics -------------------------------------

# gone.* series are forgotten 2 s after their last update.
printf 'mappings:\n  - match: "gone.*"\n    ttl: 2s\n' >"$HS_TMP/mapping.yaml"
start_exporter --statsd.mapping-config="$HS_TMP/mapping.yaml" || finish
push 'demo.load:0.2|g'
# shellcheck disable=SC2016 # expanded by the inner shell
spawn "$HS_TMP/gone-pusher.log" bash -c 'while :; do
    printf "gone.load:1|g" | curl -s -o /dev/null --max-time 2 -H "Content-Type: text/plain" \
        --data-binary @- "$1/api/v1/push"; sleep 0.3; done' _ "$EXPORTER_BASE"
GONE_PUSHER=$HS_PID

cat >"$HS_TMP/scrape.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: homeostat
    static_configs:
      - targets: ['$EXPORTER_ADDR']
EOF
# The one with its defaults first: it hides the first 30 s of what it scrapes.
start_victoriametrics -promscrape.config="$HS_TMP/scrape.yml" || finish
VMD=$VM_URL
start_victoriametrics -promscrape.config="$HS_TMP/scrape.yml" -search.latencyOffset=1s || finish
VM=$VM_URL
start_prometheus "$HS_TMP/scrape.yml" || finish
PROM=$PROM_URL
say "Prometheus $PROM, VictoriaMetrics $VM (-search.latencyOffset=1s), $VMD (defaults)"
busy='1 - avg(rate(homeostat_cpu_seconds_total{mode="idle"}[30s]))'
for url in "$PROM" "$VM"; do
    if wait_until 20 has "$url" demo_load 0.2 && wait_until 10 has "$url" gone_load 1 &&
        wait_until 10 prom_has_at "$url" "$busy"; then
        pass "$url has the exporter's series (demo_load 0.2, gone_load 1, the CPU busy ratio)"
    else
        fail "$url has not the exporter's series after 40 s: $(PROM_URL=$url prom_query \
demo_load | head -c 300)"
        finish
    fi
done
cpus=$(at "$PROM" 'count(homeostat_cpu_seconds_total{mode="idle"})')
check_eq "both have the same CPUs" "$cpus" \
    "$(at "$VM" 'count(homeostat_cpu_seconds_total{mode="idle"})')"

# ---- the PromQL client ----------------------------------------------------------------
if [[ -x $TEST_PROMQL ]]; then
    rc=0
    HOMEOSTAT_VICTORIAMETRICS_URL=$VM "$TEST_PROMQL" real_victoriametrics_queries \
        >"$HS_TMP/test-promql.out" 2>&1 || rc=$?
    sed 's/^/    /' "$HS_TMP/test-promql.out"
    check_eq "test-promql real_victoriametrics_queries passes" "0 1 passed, 0 failed" \
        "$rc $(tail -n1 "$HS_TMP/test-promql.out")"
else
    fail "the unit test binary '$TEST_PROMQL' is missing (build the test-promql target)"
fi

# ---- the daemon, one per backend ------------------------------------------------------
HOOK_PORT=$(free_port)
spawn "$HS_TMP/webhook.log" /usr/bin/python3 \
    "$HOMEOSTAT_SOURCE_DIR/tests/integration/fakes/webhook_server.py" --port "$HOOK_PORT" \
    --log "$HS_TMP/webhook.jsonl"
wait_until 10 grep -q 'listening on' "$HS_TMP/webhook.log" || fail "webhook_server did not start"
# rules BACKEND: the rules, whose webhook names the backend in its path.
rules() {
    cat <<EOF
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9/", timeout: 1s}
signals:
  load: {query: demo_load, max_age: 30s}
  gone: {query: gone_load}
  none: {query: homeostat_no_such_metric_total}
  many: {query: 'homeostat_cpu_seconds_total{mode="idle"}'}
  broken: {query: 'sum(rate(homeostat_cpu_seconds_total[30s]'}
  one: {query: 'scalar(vector(1))'}
  nan: {query: '0/0'}
  busy: {query: '$busy'}
states:
  - name: critical
    conditions: ["load > 0.8"]
    for: 2s
  - name: optimal
on_missing_data: hold
decisions:
  critical:
    cooldown: 10m
    actions:
      - webhook: {url: "http://127.0.0.1:$HOOK_PORT/$1/limits", body: {concurrency: 4}, retries: 0}
EOF
}
rules prometheus >"$HS_TMP/rules-prometheus.yaml"
rules victoriametrics >"$HS_TMP/rules-victoriametrics.yaml"
rules victoriametrics-defaults >"$HS_TMP/rules-victoriametrics-defaults.yaml"
check "the rules pass check" quiet "$CONTROLLER" check "$HS_TMP/rules-prometheus.yaml"
start_controller ctl-prometheus "$HS_TMP/rules-prometheus.yaml" "$PROM"
C_PROM=$CTL_URL
start_controller ctl-victoriametrics "$HS_TMP/rules-victoriametrics.yaml" "$VM"
C_VM=$CTL_URL
start_controller ctl-victoriametrics-defaults "$HS_TMP/rules-victoriametrics-defaults.yaml" "$VMD"
C_VMD=$CTL_URL

# targets RULES: by cpu, each CPU's idle rate and the shared demo_load.
cat >"$HS_TMP/targets.yaml" <<'EOF'
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9/", timeout: 1s}
targets: {by: [cpu]}
signals:
  idle: {query: 'rate(homeostat_cpu_seconds_total{mode="idle"}[10s])'}
  load: {query: demo_load}
states:
  - name: critical
    conditions: ["load > 0.8"]
  - name: impossible
    conditions: ["idle > 1000"]
  - name: optimal
EOF
check "the targets' rules pass check" quiet "$CONTROLLER" check "$HS_TMP/targets.yaml"
start_controller tgt-prometheus "$HS_TMP/targets.yaml" "$PROM"
T_PROM=$CTL_URL
start_controller tgt-victoriametrics "$HS_TMP/targets.yaml" "$VM"
T_VM=$CTL_URL

for pair in "Prometheus $C_PROM" "VictoriaMetrics $C_VM"; do
    name=${pair%% *} url=${pair#* }
    if wait_until 10 value_is "$url" load 0.2; then
        pass "$name: the daemon reads load = 0.2"
    else
        fail "$name: load is not 0.2 after 10 s: $(head -c 800 "$HS_TMP/status.json")"
    fi
    check_eq "$name: optimal, certain" "optimal false" "$(st "d['state']") $(st "d['uncertain']")"
    check_eq "$name: scalar(vector(1)) is 1" "true 1.0" "$(sig one known) $(sig one value)"
    check_eq "$name: gone_load is 1" "true 1.0" "$(sig gone known) $(sig gone value)"
    check "$name: the CPU busy ratio is known, in 0..1 ($(sig busy value))" \
        test "$(st "[s for s in d['signals'] if s['name'] == 'busy'][0]['known'] and
        -0.05 <= [s for s in d['signals'] if s['name'] == 'busy'][0]['value'] <= 1.05")" = true
    check_eq "$name: no such metric: unknown, empty result" "false empty result" \
        "$(sig none known) $(sig none reason)"
    check_eq "$name: one series per CPU: unknown, $cpus series" \
        "false $cpus series (use sum or max)" "$(sig many known) $(sig many reason)"
    check_eq "$name: a syntax error: unknown" false "$(sig broken known)"
    check "$name: ... counted as a query error" \
        test "$(metric "$url" 'homeostat_controller_query_errors_total{reason="query"}')" != ""
done
status "$C_PROM"
check "Prometheus: the syntax error's reason is bad_data ($(sig broken reason))" \
    grep -q '^bad_data: ' <<<"$(sig broken reason)"
check_eq "Prometheus: 0/0 is unknown, NaN" "false NaN" "$(sig nan known) $(sig nan reason)"
status "$C_VM"
check "VictoriaMetrics: the syntax error's reason is 422 ($(sig broken reason))" \
    grep -q '^422: error when executing query=' <<<"$(sig broken reason)"
check_eq "VictoriaMetrics: 0/0 is unknown, as an empty result (NaN is left out)" \
    "false empty result" "$(sig nan known) $(sig nan reason)"

# Targets: the same CPUs from both, all optimal on known idle rates.
for pair in "Prometheus $T_PROM" "VictoriaMetrics $T_VM"; do
    name=${pair%% *} url=${pair#* }
    if wait_until 15 targets_in "$url" optimal "$cpus"; then
        pass "$name: $cpus targets by cpu, all optimal"
    else
        fail "$name: not $cpus optimal targets: $(head -c 800 "$HS_TMP/status.json")"
    fi
    check_eq "$name: ... certain (every idle rate known)" false "$(st "d['uncertain']")"
    http_get "$HS_TMP/targets-$name.json" "$url/api/v1/targets?limit=1000" >/dev/null
done
keys='sorted(t["key"] for t in d["data"]["targets"])'
check_eq "both have the same targets" "$(jget "$HS_TMP/targets-Prometheus.json" "$keys")" \
    "$(jget "$HS_TMP/targets-VictoriaMetrics.json" "$keys")"

# ---- a series the exporter forgets ----------------------------------------------------
stop_process "$GONE_PUSHER"
t_gone=$(date +%s%N)
bt_from=$(date +%s)
for pair in "Prometheus $C_PROM" "VictoriaMetrics $C_VM"; do
    name=${pair%% *} url=${pair#* }
    # ttl 2 s, then the next scrape (1 s) and evaluation (1 s); VictoriaMetrics' own delay.
    if wait_until 10 reason_is "$url" gone 'empty result'; then
        pass "$name: the forgotten series is unknown (empty result) $(ms_since "$t_gone") ms \
after its last push"
    else
        fail "$name: gone_load still known 10 s after its last push: $(head -c 600 \
"$HS_TMP/status.json")"
    fi
done

# ---- the report -----------------------------------------------------------------------
# --quick: the slow checks (a day's subqueries, [1d:5m]) cannot be compared over this test's
# minute of data. Prometheus evaluates a subquery at multiples of its step since the epoch,
# so whether one falls in that minute depends on the clock; VictoriaMetrics found data where
# Prometheus found none.
for pair in "Prometheus $PROM" "VictoriaMetrics $VM"; do
    name=${pair%% *} url=${pair#* }
    rc=0
    "$CONTROLLER" report --config="$HOMEOSTAT_SOURCE_DIR/rules/default.yaml" --quick \
        --prometheus.url="$url" --format=json >"$HS_TMP/report-$name.json" \
        2>"$HS_TMP/report-$name.err" || rc=$?
    check_eq "report against $name exits 0 ($(head -c 200 "$HS_TMP/report-$name.err"))" 0 "$rc"
done
evaluated='"%d checks; not evaluated: %s" % (d["counts"]["checks"], " ".join(sorted("%s:%s"
    % (x["name"], x["status"]) for x in d["not_evaluated"])))'
check_eq "both reports evaluate the same checks" \
    "$(jget "$HS_TMP/report-Prometheus.json" "$evaluated")" \
    "$(jget "$HS_TMP/report-VictoriaMetrics.json" "$evaluated")"

# ---- demo_load crosses its threshold --------------------------------------------------
# The daemon on VictoriaMetrics with its defaults reads nothing for its first 30 s.
if wait_until 45 value_is "$C_VMD" load 0.2; then
    pass "VictoriaMetrics with its defaults: the daemon reads load = 0.2 at last"
else
    fail "VictoriaMetrics with its defaults: no load = 0.2 after 45 s: $(head -c 600 \
"$HS_TMP/status.json")"
fi
t_push=$(date +%s%N)
push 'demo.load:0.95|g'
for pair in "Prometheus $C_PROM" "VictoriaMetrics $C_VM"; do
    name=${pair%% *} url=${pair#* }
    # for 2s + scrape 1s + evaluation 1s, VictoriaMetrics' offset 1s and ingestion, and 2 s.
    if wait_until 8 state_is "$url" critical; then
        pass "$name: critical $(ms_since "$t_push") ms after load 0.95"
    else
        fail "$name: not critical 8 s after load 0.95: $(head -c 800 "$HS_TMP/status.json")"
    fi
    check_eq "$name: ... the decision executed" executed "$(st "d['last_decision']['outcome']")"
    check_eq "$name: ... its reasoning has load=0.95" true \
        "$(st "'load=0.95' in d['last_decision']['reasoning']")"
done
status "$C_VMD"
check_eq "VictoriaMetrics with its defaults: meanwhile its daemon still reads 0.2, optimal" \
    "0.2 optimal" "$(sig load value) $(st "d['state']")"
for pair in "Prometheus $T_PROM" "VictoriaMetrics $T_VM"; do
    name=${pair%% *} url=${pair#* }
    check "$name: all $cpus targets critical" wait_until 5 targets_in "$url" critical "$cpus"
done
check_eq "the webhook got one request from each daemon" \
    "/prometheus/limits /victoriametrics/limits" \
    "$(/usr/bin/python3 -c 'import json, sys
print(" ".join(sorted(json.loads(l)["path"] for l in open(sys.argv[1]))))' "$HS_TMP/webhook.jsonl")"
push 'demo.load:0.2|g'
for pair in "Prometheus $C_PROM" "VictoriaMetrics $C_VM"; do
    name=${pair%% *} url=${pair#* }
    check "$name: optimal again at load 0.2" wait_until 8 state_is "$url" optimal
done

# ---- backtest over the last seconds, against both --------------------------------------
cat >"$HS_TMP/bt-rules.yaml" <<EOF
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9/"}
signals:
  load: {query: demo_load}
  gone: {query: gone_load}
states:
  - name: critical
    conditions: ["load > 0.8"]
    for: 2s
  - name: optimal
EOF
# From before the series was forgotten to 2 s after both daemons read the load back at
# 0.2 (so that the range holds that sample even when a loaded machine delayed it), and at
# least 3 s ago (VictoriaMetrics leaves out its latest second).
t_optimal=$(date +%s)
sleep 5
bt_to=$((t_optimal + 2))
for name in Prometheus VictoriaMetrics; do
    url=$PROM
    [[ $name == VictoriaMetrics ]] && url=$VM
    rc=0
    "$CONTROLLER" backtest --config="$HS_TMP/bt-rules.yaml" --prometheus.url="$url" \
        --from="$bt_from" --to="$bt_to" --step=1s --format=json \
        --output="$HS_TMP/bt-$name.json" 2>"$HS_TMP/bt-$name.err" || rc=$?
    check_eq "backtest against $name exits 0 ($(head -c 300 "$HS_TMP/bt-$name.err"))" 0 "$rc"
done
timeline='" ".join("%s>%s" % (e["from"], e["to"]) for e in d["timeline"] if e["changed"])'
check_eq "the backtests' timelines: optimal, critical, optimal" \
    "optimal>critical critical>optimal optimal>critical critical>optimal" \
    "$(jget "$HS_TMP/bt-Prometheus.json" "$timeline") $(jget "$HS_TMP/bt-VictoriaMetrics.json" \
    "$timeline")"
check "... at the same times within 2 s" /usr/bin/python3 -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
ta = [e["timestamp"] for e in a["timeline"] if e["changed"]]
tb = [e["timestamp"] for e in b["timeline"] if e["changed"]]
print("  Prometheus %s, VictoriaMetrics %s" % (ta, tb))
sys.exit(0 if len(ta) == len(tb) and all(abs(x - y) <= 2 for x, y in zip(ta, tb)) else 1)' \
    "$HS_TMP/bt-Prometheus.json" "$HS_TMP/bt-VictoriaMetrics.json"
check "... and the forgotten series' gap starting within 3 s of each other" /usr/bin/python3 -c '
import json, sys, datetime
def gap(f):
    s = [x for x in json.load(open(f))["signals"] if x["name"] == "gone"][0]
    g = s["gaps"][-1]
    t = datetime.datetime.fromisoformat(g["from"].replace("Z", "+00:00")).timestamp()
    return t, g["reason"]
(a, ra), (b, rb) = gap(sys.argv[1]), gap(sys.argv[2])
print("  Prometheus %s (%s), VictoriaMetrics %s (%s)" % (a, ra, b, rb))
sys.exit(0 if abs(a - b) <= 3 and ra == rb == "empty result" else 1)' \
    "$HS_TMP/bt-Prometheus.json" "$HS_TMP/bt-VictoriaMetrics.json"

# ---- VictoriaMetrics' default latency offset ------------------------------------------
if wait_until 45 state_is "$C_VMD" critical; then
    late=$(ms_since "$t_push")
    check "VictoriaMetrics with its defaults: its daemon critical $late ms after the push \
(30 s late)" test "$late" -ge 28000
else
    fail "VictoriaMetrics with its defaults: not critical 45 s after the push"
fi
finish

#!/usr/bin/env bash
# victoriametrics_history: `homeostat-controller report` and `backtest` against
# VictoriaMetrics (Debian's victoria-metrics, its query flags left at their defaults) given
# the known histories of report_prometheus.sh (report_history.py) and
# backtest_prometheus.sh (backtest_data.py), imported through /api/v1/import/prometheus:
#  - the report: exactly the issues, score, optimizations and checks not evaluated that
#    report_prometheus.sh expects of Prometheus
#  - the backtest (step 1s: 21,601 points, two chunks per query): the timeline and summary
#    that backtest_prometheus.sh expects, but for VictoriaMetrics' staleness: a series
#    stops being returned 1.5 sample intervals after its last sample (22.5 s at 15 s)
#    where Prometheus looks back 5 minutes, so the gap is unknown from +9008 s instead of
#    +9286 s and paged ends at +12608 s instead of +12886 s. A second VictoriaMetrics with
#    -search.minStalenessInterval=5m gives Prometheus' timeline, all but the first second
#    of the gap (a sample exactly 5 minutes old is out of its lookback, in Prometheus 2's)
#  - a --from off the step's grid: every evaluation where it was asked (VictoriaMetrics
#    rounds a range down to a multiple of the step unless the request says nocache=1)
# docs/RULES.md, "Prometheus-compatible backends", says what differs and why. About 10 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool victoria-metrics curl /usr/bin/python3

CONTROLLER=${HOMEOSTAT_CONTROLLER:-$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}
HERE=$HOMEOSTAT_SOURCE_DIR/tests/integration/controller
data() { /usr/bin/python3 "$HERE/backtest_data.py" "$@"; }
judge() {
    local line
    while IFS= read -r line; do
        case $line in
        PASS\ *) pass "$1: ${line#PASS }" ;;
        FAIL\ *) fail "$1: ${line#FAIL }" ;;
        *) fail "$1: unexpected output: $line" ;;
        esac
    done
}
# vm_has URL EXPR VALUE: EXPR at URL has the one value VALUE.
# shellcheck disable=SC2317 # called through wait_until
vm_has() { [[ $(PROM_URL=$1 prom_values "$2" 2>/dev/null) == "$3" ]]; }

# The histories: the backtest's six hours ending at least two minutes ago on a whole
# minute, the report's seven hours before now to 15 minutes ahead.
now=$(date +%s)
T0=$(((now - 6 * 3600 - 120) / 60 * 60))
END=$((T0 + 6 * 3600))
data openmetrics "$T0" "$HS_TMP/backtest.om"
/usr/bin/python3 "$HERE/report_history.py" "$now" >"$HS_TMP/report.om"

start_victoriametrics || finish
VM=$VM_URL
check "VictoriaMetrics takes the backtest's history" vm_import "$HS_TMP/backtest.om"
check "... and the report's" vm_import "$HS_TMP/report.om"
start_victoriametrics -search.minStalenessInterval=5m || finish
VM5=$VM_URL
check "the one with -search.minStalenessInterval=5m takes the backtest's history" \
    vm_import "$HS_TMP/backtest.om"
# 1441 samples at 15 s over six hours, less the 80 of the gap, as in Prometheus.
for url in "$VM" "$VM5"; do
    if wait_until 20 vm_has "$url" 'count_over_time(bt_cpu_busy[7h])' 1361; then
        pass "$url serves the whole history (1361 samples)"
    else
        fail "$url: count_over_time(bt_cpu_busy[7h]) is not 1361: $(PROM_URL=$url prom_query \
'count_over_time(bt_cpu_busy[7h])' | head -c 300)"
        finish
    fi
done
check "... and the report's, node-a's CPU busy ratio" wait_until 20 vm_has "$VM" \
    'rate(homeostat_cpu_busy_ratio_sum{instance="node-a:9100"}[10m]) > 9' 9.5

# ---- the report: as report_prometheus.sh expects of Prometheus ------------------------
rc=0
"$CONTROLLER" report --config="$HOMEOSTAT_SOURCE_DIR/rules/default.yaml" --prometheus.url="$VM" \
    --format=json >"$HS_TMP/report.json" 2>"$HS_TMP/report.err" || rc=$?
check_eq "report --format=json against VictoriaMetrics exits 0" 0 "$rc"
[[ -s $HS_TMP/report.err ]] && sed 's/^/    stderr: /' "$HS_TMP/report.err"
check_eq "exactly the issues found in Prometheus" \
    "app_error_ratio warning service=shop 0.05
cpu_busy critical instance=node-a:9100 0.95
filesystem_fill warning instance=node-a:9100,mountpoint=/ -9.7e+09
filesystem_space critical instance=node-a:9100,mountpoint=/ 0.97" \
    "$(jget "$HS_TMP/report.json" '"\n".join(sorted("%s %s %s %.2g" % (i["check"],
    i["severity"], ",".join("%s=%s" % kv for kv in sorted(i["labels"].items()) if kv[0] in
    ("instance", "mountpoint", "service")), i["value"]) for i in d["issues"]))')"
check_eq "... the same summary" \
    "critical, score 20/100: 4 issues (2 critical, 2 warning, 0 info), 2 optimizations; 19 of 23 checks evaluated, 4 could not be" \
    "$(jget "$HS_TMP/report.json" 'd["summary"]')"
check_eq "... the same optimizations" \
    "cpu_rightsizing node-b:9100 0.10 memory_rightsizing node-b:9100 0.25" \
    "$(jget "$HS_TMP/report.json" '" ".join(sorted("%s %s %.2f" % (o["name"],
    o["labels"]["instance"], o["value"]) for o in d["optimizations"]))')"
check_eq "... and the same checks not evaluated, for want of data" \
    "gpu_busy gpu_memory gpu_temperature app_latency_p95 gpu_idle cpu_quota_saturated cpu_throttling memory_limit_near no_data" \
    "$(jget "$HS_TMP/report.json" '" ".join([x["name"] for x in d["not_evaluated"]] +
    sorted(set(x["status"] for x in d["not_evaluated"])))')"

# ---- the backtest ----------------------------------------------------------------------
sed "s|http://127.0.0.1:1/|http://127.0.0.1:9/|" "$HERE/backtest_rules.yaml" >"$HS_TMP/rules.yaml"
bt() { # URL ARGS...
    local url=$1
    shift
    "$CONTROLLER" backtest --config="$HS_TMP/rules.yaml" --prometheus.url="$url" "$@"
}
rc=0
bt "$VM" --from="$T0" --to="$END" --step=1s --format=json --output="$HS_TMP/bt.json" \
    2>"$HS_TMP/bt.err" || rc=$?
check_eq "backtest against VictoriaMetrics exits 0" 0 "$rc"
((rc == 0)) || sed 's/^/    /' "$HS_TMP/bt.err"
# A series is returned until 22 s after its last sample (15 s + 7.5 s), not 300.
judge "VictoriaMetrics" < <(data check "$T0" "$HS_TMP/bt.json" 22)
rc=0
bt "$VM5" --from="$T0" --to="$END" --step=1s --format=json --output="$HS_TMP/bt5.json" \
    2>"$HS_TMP/bt5.err" || rc=$?
check_eq "backtest against the one with -search.minStalenessInterval=5m exits 0" 0 "$rc"
((rc == 0)) || sed 's/^/    /' "$HS_TMP/bt5.err"
# Until 299 s after the last sample: Prometheus' timeline but for the gap's first second.
judge "minStalenessInterval=5m" < <(data check "$T0" "$HS_TMP/bt5.json" 299)

# Off the step's grid (T0 is on a whole minute): the points are where they were asked.
rc=0
bt "$VM" --from=$((T0 + 7)) --to="$END" --step=15s --format=json --output="$HS_TMP/grid.json" \
    2>"$HS_TMP/grid.err" || rc=$?
check_eq "a backtest whose --from is off the 15 s grid exits 0 ($(cat "$HS_TMP/grid.err"))" 0 "$rc"
check_eq "... with 1440 evaluations" 1440 "$(jget "$HS_TMP/grid.json" 'd["evaluations"]')"
check_eq "... its changes at --from + k * 15 s, as the gap's end (+10207 s)" \
    "True 10207" "$(jget "$HS_TMP/grid.json" '"%s %d" % (all((e["timestamp"] - '"$T0"') % 15
    == 7 for e in d["timeline"]), [e["timestamp"] - '"$T0"' for e in d["timeline"]
    if e["from"] == "unknown"][0])')"
finish

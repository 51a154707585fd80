#!/bin/bash
# baseline_learn.sh: baselines learned from Prometheus's history, then by the daemon.
#  - two days of a latency with a daily pattern and a 4-hour unhealthy episode, made into
#    TSDB blocks by promtool tsdb create-blocks-from, served by the real Prometheus
#  - `homeostat-controller baseline learn` replays the rules over them (daily seasonality,
#    learn_in optimal, min_samples 30): per hour of the day the counts equal the healthy
#    values' and the quantiles are within the sketch's 2 % of the exact ones (computed by
#    baseline_learn.py from the same data); the unhealthy values are left out
#  - `backtest --baselines.output` writes the same baselines (one replay, so they agree)
#  - the daemon without them: a condition on the baseline (no fallback) is unknown, the
#    state holds, nothing acts; the reasoning says "not ready"
#  - the daemon with --baselines.seed: ready at once, the reasoning names the slot and the
#    count; a live value over 3 x the baseline's q=0.9 makes the state slow, and the
#    report's "compared with the baseline" shows it with its trend
#  - restart without the seed: the baseline comes back from the state file
#  - `report --baselines` over that file compares as the daemon's report does (the same
#    medians, ratios); over baseline learn's file too; a missing file, one that is not a
#    baselines file and baselines of other rules are refused (exit 1)
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
require_tool prometheus promtool curl /usr/bin/python3
HERE=$(dirname "${BASH_SOURCE[0]}")
CONTROLLER=$HOMEOSTAT_CONTROLLER
data() { /usr/bin/python3 "$HERE/baseline_learn.py" "$@"; }

NOW=$(date +%s)
T0=$(((NOW - 50 * 3600) / 3600 * 3600)) # an hour boundary, two days and some before now
END=$((T0 + 48 * 3600 - 60))
data openmetrics "$T0" "$HS_TMP/history.om"
promtool tsdb create-blocks-from openmetrics "$HS_TMP/history.om" "$HS_TMP/tsdb" >"$HS_TMP/promtool.log" 2>&1 ||
    fail "promtool create-blocks-from: $(tail -n 3 "$HS_TMP/promtool.log")"

# the live plant: plant_p95_seconds{instance=...} from a file
echo 0.1 >"$HS_TMP/live"
PLANT_PORT=$(free_port)
spawn "$HS_TMP/plant.log" /usr/bin/python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        v = open(sys.argv[2]).read().strip()
        body = ("plant_p95_seconds %s\n" % v).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$PLANT_PORT" "$HS_TMP/live"
cat >"$HS_TMP/prometheus.yml" <<PEOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: plant
    static_configs: [{targets: ['127.0.0.1:$PLANT_PORT']}]
PEOF
start_prometheus "$HS_TMP/prometheus.yml" "$HS_TMP/tsdb" 30d || finish

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<REOF
evaluation_interval: 1s
prometheus: {url: '$PROM_URL'}
signals:
  p95:
    query: max(plant_p95_seconds)
    max_age: 2m
    baseline: {learn_in: [optimal], window: 7d, seasonality: daily, min_samples: 30}
states:
  - {name: degraded, conditions: ['p95 > 1']}
  - {name: slow, conditions: ['p95 > 3 * baseline(p95, q=0.9)']}
  - {name: optimal}
REOF
check "check accepts the rules" "$CONTROLLER" check "$RULES"

# ---- learn from history ----
if "$CONTROLLER" baseline learn --config="$RULES" --from="$T0" --to="$END" --step=60s \
    --output="$HS_TMP/learned.json" >"$HS_TMP/learn.out" 2>&1; then
    pass "baseline learn: $(head -n 1 "$HS_TMP/learn.out")"
else
    fail "baseline learn failed: $(cat "$HS_TMP/learn.out")"
    finish
fi
while read -r verdict msg; do
    if [[ $verdict == PASS ]]; then pass "$msg"; else fail "$msg"; fi
done < <(data check "$T0" "$HS_TMP/learned.json")
"$CONTROLLER" backtest --config="$RULES" --from="$T0" --to="$END" --step=60s --format=json \
    --output="$HS_TMP/bt.json" --baselines.output="$HS_TMP/bt-baselines.json" >"$HS_TMP/bt.log" 2>&1 ||
    fail "backtest --baselines.output failed: $(tail -n 3 "$HS_TMP/bt.log")"
check_eq "backtest --baselines.output writes the same baselines" \
    "$(jget "$HS_TMP/learned.json" 'd["baselines"]')" "$(jget "$HS_TMP/bt-baselines.json" 'd["baselines"]')"
rc=0
"$CONTROLLER" baseline learn --config="$HOMEOSTAT_SOURCE_DIR/rules/default.yaml" --from=-1h \
    --prometheus.url="$PROM_URL" --output="$HS_TMP/none.json" >"$HS_TMP/none.log" 2>&1 || rc=$?
check_eq "baseline learn refuses rules that learn no baseline (exit 1, says why)" "1 yes" \
    "$rc $(grep -q 'learns no baseline' "$HS_TMP/none.log" && echo yes)"

# ---- the daemon ----
status() { http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status" >/dev/null; jget "$HS_TMP/status.json" "$1"; }
start_ctl() { # NAME ARGS...
    local name=$1
    shift
    spawn "$HS_TMP/controller.$name.log" "$CONTROLLER" --config="$RULES" \
        --web.listen-address=127.0.0.1:0 --state.directory="$HS_TMP/state.$name" "$@"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$HS_TMP/controller.$name.log" "$CTL_PID")
    [[ -n $CTL_URL ]] || {
        fail "the controller ($name) did not start: $(tail -n 5 "$HS_TMP/controller.$name.log")"
        finish
    }
}
reasoning() { status 'd["data"]["reasoning"]'; }
# shellcheck disable=SC2317 # called through wait_until
reasoning_has() { [[ $(reasoning) == *"$1"* ]]; }

mkdir -p "$HS_TMP/state.fresh" "$HS_TMP/state.seeded"
start_ctl fresh
check "without a baseline: the condition on it is unknown, not ready (reasoning)" \
    wait_until 15 reasoning_has "baseline(p95) not ready"
check_eq "... the state holds optimal, uncertain" "optimal True" "$(status '"%s %s" % (d["data"]["state"], d["data"]["uncertain"])')"
stop_process "$CTL_PID"

HOUR_NOW=$(($(date +%s) / 3600 % 24))
start_ctl seeded --baselines.seed="$HS_TMP/learned.json"
check "seeded: the baseline is ready at once, its slot and count in the reasoning" \
    wait_until 15 reasoning_has "(daily slot ${HOUR_NOW}h,"
read -r q90 n90 < <(data quantile "$HS_TMP/learned.json" 0.9 "$(date +%s)")
say "the baseline's q=0.9 for ${HOUR_NOW}h: $q90 ($n90 values)"
SLOW=$(/usr/bin/python3 -c "print(round(3.3 * $q90, 6))")
echo "$SLOW" >"$HS_TMP/live"
# shellcheck disable=SC2317
state_is() { [[ $(status 'd["data"]["state"]') == "$1" ]]; }
check "a live p95 of $SLOW (3.3 x the baseline's q=0.9) makes the state slow" wait_until 20 state_is slow
check "... the reasoning compares with 3 x the baseline" reasoning_has "= 3 × baseline(p95, q=0.9)"
http_get "$HS_TMP/report.json" "$CTL_URL/api/v1/report" >/dev/null
check_eq "the report compares p95 with its baseline: ready, the slot, now over 3 x the median" \
    "p95 True ${HOUR_NOW}h True" \
    "$(jget "$HS_TMP/report.json" '" ".join(str(x) for x in (d["data"]["compared_with_baseline"][0]["signal"], d["data"]["compared_with_baseline"][0]["ready"], d["data"]["compared_with_baseline"][0]["slot"], d["data"]["compared_with_baseline"][0]["ratio"] > 3))')"
# the live series is a minute or two old: its trend is null until Prometheus has two
# points of it in the last hour, then a number
check_eq "... with its trend over the last hour (null or a number)" true \
    "$(jget "$HS_TMP/report.json" 'd["data"]["compared_with_baseline"][0]["trend_per_hour"] is None or isinstance(d["data"]["compared_with_baseline"][0]["trend_per_hour"], float)')"
http_get "$HS_TMP/report.txt" "$CTL_URL/api/v1/report?format=text" >/dev/null
check "... and in the text report" grep -q "^Compared with the baseline (1):" "$HS_TMP/report.txt"
echo 0.1 >"$HS_TMP/live"
check "back to 0.1: optimal again" wait_until 20 state_is optimal
stop_process "$CTL_PID"
check_eq "the controller stops cleanly" 0 "$HS_STATUS"
check "baselines.json keeps the baselines (apart from state.json)" /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["baselines"]["p95"]["learned"] > 0 and "baselines" not in json.load(open(sys.argv[2])) else 1)' "$HS_TMP/state.seeded/baselines.json" "$HS_TMP/state.seeded/state.json"

# The daemon restarts slow, so it learns nothing: its baselines are those of the
# baselines.json it wrote at stop, which the report command then reads.
cp "$HS_TMP/state.seeded/baselines.json" "$HS_TMP/daemon-baselines.json"
echo "$SLOW" >"$HS_TMP/live"
# shellcheck disable=SC2317
prom_is_slow() { /usr/bin/python3 -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 1e-9)' "$(prom_values 'max(plant_p95_seconds)')" "$SLOW" 2>/dev/null; }
check "Prometheus has the live p95 of $SLOW" wait_until 10 prom_is_slow
start_ctl seeded
check "restarted without the seed: the baseline is back from the state file" \
    wait_until 15 reasoning_has "(daily slot ${HOUR_NOW}h,"
check "... slow from its first evaluation (nothing learned)" state_is slow

# ---- report --baselines: the daemon's comparison from the command line ----
http_get "$HS_TMP/report2.json" "$CTL_URL/api/v1/report" >/dev/null
report_cli() { # OUT FILE [FLAGS]: the report command's exit status, its output in OUT
    local out=$1 file=$2 rc=0
    shift 2
    "$CONTROLLER" report --config="$RULES" --baselines="$file" "$@" >"$out" 2>&1 || rc=$?
    echo "$rc"
}
check_eq "report --baselines=STATE_DIR/baselines.json" 0 \
    "$(report_cli "$HS_TMP/cli-report.json" "$HS_TMP/daemon-baselines.json" --format=json)"
# (the command writes 15 significant digits, the API 17)
COMPARED='[(x["signal"], x["slot"], x["samples"], x["ready"], "%.12g %.12g %.9g" % (x["median"], x["q99"], x["ratio"]), "trend_per_hour" in x) for x in d'
check_eq "... compares as the daemon's report does (slot, samples, median, q=0.99, ratio, a trend)" \
    "$(jget "$HS_TMP/report2.json" "${COMPARED}[\"data\"][\"compared_with_baseline\"]]")" \
    "$(jget "$HS_TMP/cli-report.json" "${COMPARED}[\"compared_with_baseline\"]]")"
report_cli "$HS_TMP/cli-report.txt" "$HS_TMP/daemon-baselines.json" >/dev/null
check "... and in the text report" grep -q "^  p95: now .*x the median" "$HS_TMP/cli-report.txt"
read -r median n50 < <(data quantile "$HS_TMP/learned.json" 0.5 "$(date +%s)")
check_eq "report --baselines=(baseline learn's file): the median and count of its slot, now over 3 x" \
    "0 $median $n50 True" \
    "$(report_cli "$HS_TMP/cli-learned.json" "$HS_TMP/learned.json" --format=json) $(jget "$HS_TMP/cli-learned.json" '"%.9g %d %s" % (d["compared_with_baseline"][0]["median"], d["compared_with_baseline"][0]["samples"], d["compared_with_baseline"][0]["ratio"] > 3)')"
/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
d["baselines"] = {"p99": d["baselines"]["p95"]}
json.dump(d, open(sys.argv[2], "w"))' "$HS_TMP/learned.json" "$HS_TMP/other.json"
echo '{"targets": {}}' >"$HS_TMP/with-targets.json"
for bad in "missing:$HS_TMP/missing.json:No such file" "not JSON:$RULES:not a baselines file" \
    "other rules:$HS_TMP/other.json:baselines of other rules" \
    "rules with targets:$HS_TMP/with-targets.json:learned from rules with targets"; do
    IFS=: read -r what file why <<<"$bad"
    check_eq "report --baselines refuses $what: exit 1, names the file, says why" "1 yes" \
        "$(report_cli "$HS_TMP/bad.out" "$file") $(grep -qF "$file" "$HS_TMP/bad.out" && grep -qF "$why" "$HS_TMP/bad.out" && echo yes)"
done
stop_process "$CTL_PID"
finish

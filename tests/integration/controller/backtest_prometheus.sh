#!/usr/bin/env bash
# backtest_prometheus: `homeostat-controller backtest` against a real Prometheus whose
# history this test makes: six hours ending a few minutes ago, written as OpenMetrics and
# turned into TSDB blocks by promtool tsdb create-blocks-from. With --step 1s the range is
# 21,601 points per query, over Prometheus' 11,000, so every query is fetched in two
# chunks. The timeline must be the expected one to the second, the summary its numbers,
# in JSON and in text; `homeostat-controller test` over the same values (computed here
# with Prometheus' 5m lookback) must agree; nothing may be sent to the actions' webhook;
# and bad ranges, a query Prometheus refuses and an unreachable Prometheus are reported.
#
# History (seconds after T0, cpu sampled every 15 s) and what the rules make of it
# (critical: cpu > 0.85 for 1m, keep_for 2m, cooldown 15m, min_confidence 0.5;
# stressed: cpu > 0.70 for 45s, min_confidence 0.9, which its duration part (held / 67.5 s)
# never reaches before critical takes over; paged: alert:BtPage == 1; on_missing_data:
# unknown; max_actions_per_hour: 2):
#   [3600, 4200) 0.95  stressed at 3645 (below_confidence: 45/67.5), critical at 3660
#                      (executed: 60/90), left at 4319 (the last high 4199 + keep_for 2m)
#   [4440, 4740) 0.95  stressed at 4485, critical at 4500 (cooldown: 840 s after 3660),
#                      kept, executed again at 4560 (cooldown over), left at 4859
#   [5400, 5700) 0.95  stressed at 5445, critical at 5460 (budget_exhausted: 2 actions in
#                      the last hour), left at 5819
#   [6600, 6660) 0.75  stressed at 6645 (below_confidence), left at 6660: a flap
#   [9000, 10200) no samples: unknown from 9286 (the last sample, at 8985, is seen for
#                      5 minutes) to 10200, uncertain
#   [12000, 12600) ALERTS{alertname="BtPage"} firing: paged from 12000 to 12886 (the
#                      backfilled series has no staleness marker: 5 minutes of lookback)
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus promtool curl /usr/bin/python3

HERE=$HOMEOSTAT_SOURCE_DIR/tests/integration/controller
data() { /usr/bin/python3 "$HERE/backtest_data.py" "$@"; }
judge() {
    local line
    while IFS= read -r line; do
        case $line in
        PASS\ *) pass "${line#PASS }" ;;
        FAIL\ *) fail "${line#FAIL }" ;;
        *) fail "unexpected output: $line" ;;
        esac
    done
}

# Six hours ending at least two minutes ago, on a whole minute.
now=$(date +%s)
T0=$(((now - 6 * 3600 - 120) / 60 * 60))
END=$((T0 + 6 * 3600))
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

data openmetrics "$T0" "$HS_TMP/history.om"
check "promtool makes TSDB blocks of the history" \
    promtool tsdb create-blocks-from openmetrics "$HS_TMP/history.om" "$HS_TMP/tsdb"

printf 'global: {scrape_interval: 15s, evaluation_interval: 15s}\n' >"$HS_TMP/prometheus.yml"
start_prometheus "$HS_TMP/prometheus.yml" "$HS_TMP/tsdb" 7d
# 1441 samples at 15 s over six hours, less the 80 of the gap.
check_eq "Prometheus has the whole history" 1361 \
    "$(prom_values "count_over_time(bt_cpu_busy[7h])")"

# A webhook server for the actions: a backtest must never call it.
port=$(free_port)
spawn "$HS_TMP/webhook.log" /usr/bin/python3 "$HERE/../fakes/webhook_server.py" --port "$port" \
    --log "$HS_TMP/webhook.jsonl"
wait_until 10 grep -q 'listening on' "$HS_TMP/webhook.log" || fail "webhook_server did not start"
HOOK=http://127.0.0.1:$port

# The rules (shared with controller_api_golden.sh), their webhooks at the server above.
sed "s|http://127.0.0.1:1/|$HOOK/|" "$HERE/backtest_rules.yaml" >"$HS_TMP/rules.yaml"
check "the rules are valid" "$HOMEOSTAT_CONTROLLER" check "$HS_TMP/rules.yaml"

bt() { "$HOMEOSTAT_CONTROLLER" backtest --config="$HS_TMP/rules.yaml" \
    --prometheus.url="$PROM_URL" "$@"; }

# --from as Unix seconds, --to as RFC 3339: the same six hours.
rc=0
bt --from="$T0" --to="$(rfc3339 "$END")" --step=1s --format=json \
    --output="$HS_TMP/report.json" 2>"$HS_TMP/json.err" || rc=$?
check_eq "the JSON backtest exits 0" 0 "$rc"
((rc == 0)) || sed 's/^/    /' "$HS_TMP/json.err"
judge < <(data check "$T0" "$HS_TMP/report.json")
check_eq "the report says where it started" "$(rfc3339 "$T0")" \
    "$(jget "$HS_TMP/report.json" 'd["from"]')"

rc=0
bt --from="$T0" --to="$END" --step=1s >"$HS_TMP/report.txt" 2>"$HS_TMP/text.err" || rc=$?
check_eq "the text backtest exits 0" 0 "$rc"
first=$(rfc3339 $((T0 + 3660)))
check "the text timeline has the first critical entry and its decision" \
    grep -A2 -F "  $first  stressed -> critical  confidence 0.67, ends a flap" "$HS_TMP/report.txt"
check "... whose webhook would have fired" \
    grep -qF "      decision: executed (would fire): webhook POST $HOOK/scale" "$HS_TMP/report.txt"
check "the text lists 16 timeline entries" grep -qF "Timeline (16 entries)" "$HS_TMP/report.txt"
check "the text counts transitions and flaps" \
    grep -qF "  transitions: 15; flaps: 5 (stays shorter than 5m between two changes)" \
    "$HS_TMP/report.txt"
check "the text counts the decisions of critical" \
    grep -qF "  critical: 4 recorded, 2 would fire, held back: cooldown 1, budget_exhausted 1" \
    "$HS_TMP/report.txt"
check "the text shows the gap" \
    grep -qF "    $(rfc3339 $((T0 + 9286))) .. $(rfc3339 $((T0 + 10199))) (15m14s): empty result" \
    "$HS_TMP/report.txt"
alerts_query='max(ALERTS{alertname="BtPage",alertstate="firing"}) or vector(0)'
check "the text says where alert:BtPage comes from" grep -qF \
    "  alert:BtPage from Prometheus: $alerts_query" "$HS_TMP/report.txt"
check "the text and JSON reports agree on the summary" /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
t = open(sys.argv[2]).read()
s = d["summary"]
assert "would fire: %d; actions held back: %d" % (s["would_fire"], s["held_back"]["total"]) in t
for st in s["states"]:
    if st["evaluations"]:
        assert "%-24s" % st["state"] in t, st["state"]
' "$HS_TMP/report.json" "$HS_TMP/report.txt"

# The same values through `homeostat-controller test`: the same timeline.
data ruletest "$T0" rules.yaml "$HS_TMP/backtest_test.yaml"
rc=0
"$HOMEOSTAT_CONTROLLER" test "$HS_TMP/backtest_test.yaml" >"$HS_TMP/ruletest.out" || rc=$?
check_eq "homeostat-controller test agrees with the backtest" 0 "$rc"
((rc == 0)) || sed 's/^/    /' "$HS_TMP/ruletest.out" | head -40
check "... in every expectation" grep -qF "SUCCESS: 1 test" "$HS_TMP/ruletest.out"

check_eq "no action was run: the webhook got no request" 0 \
    "$( (wc -l <"$HS_TMP/webhook.jsonl") 2>/dev/null || echo 0)"

# Relative times: -1h to now at 15 s is 241 evaluations, one request per query.
rc=0
bt --from=-1h --to=now --step=15s --format=json >"$HS_TMP/relative.json" || rc=$?
check_eq "a relative range exits 0" 0 "$rc"
check_eq "... with 241 evaluations" 241 "$(jget "$HS_TMP/relative.json" 'd["evaluations"]')"
check_eq "... in one request per query" 2 "$(jget "$HS_TMP/relative.json" 'd["requests"]')"

# Limits and errors.
rc=0
bt --from="$T0" --to="$END" --step=1ms >/dev/null 2>"$HS_TMP/big.err" || rc=$?
check_eq "too many points exits 2" 2 "$rc"
check "... naming the numbers" grep -qF \
    "2 queries x 21600001 evaluations (step 1ms) = 43200002 points, over the limit of 5000000" \
    "$HS_TMP/big.err"
rc=0
bt --from=now --to=-1h >/dev/null 2>"$HS_TMP/order.err" || rc=$?
check_eq "--from after --to exits 2" 2 "$rc"
check "... saying so" grep -q "must be after 1970 and not after --to" "$HS_TMP/order.err"
rc=0
bt --to=$((now + 3600)) >/dev/null 2>"$HS_TMP/future.err" || rc=$?
check_eq "--to in the future exits 2" 2 "$rc"
check "... saying so" grep -q "is in the future" "$HS_TMP/future.err"
rc=0
bt --from=yesterday >/dev/null 2>"$HS_TMP/from.err" || rc=$?
check_eq "a malformed --from exits 2" 2 "$rc"
check "... naming the forms" grep -qF "invalid value 'yesterday' for --from: expected RFC 3339" \
    "$HS_TMP/from.err"

sed 's/{query: bt_cpu_busy}/{query: "bt_cpu_busy[5m]"}/' "$HS_TMP/rules.yaml" >"$HS_TMP/bad.yaml"
rc=0
"$HOMEOSTAT_CONTROLLER" backtest --config="$HS_TMP/bad.yaml" --prometheus.url="$PROM_URL" \
    --from="$T0" --to="$END" --step=1s >/dev/null 2>"$HS_TMP/bad.err" || rc=$?
check_eq "a query Prometheus refuses exits 1" 1 "$rc"
chunk="$(rfc3339 "$T0") .. $(rfc3339 $((T0 + 10999))) (step 1s, points 0..10999 of 21601)"
check "... naming the signal, the chunk's range and Prometheus' error ($(cat "$HS_TMP/bad.err"))" \
    grep -qF "signal cpu_busy: query_range $chunk failed: query: bad_data:" "$HS_TMP/bad.err"

rc=0
"$HOMEOSTAT_CONTROLLER" backtest --config="$HS_TMP/rules.yaml" \
    --prometheus.url="http://127.0.0.1:$(free_port)" --from=-10m >/dev/null \
    2>"$HS_TMP/down.err" || rc=$?
check_eq "an unreachable Prometheus exits 1" 1 "$rc"
check "... saying connect ($(cat "$HS_TMP/down.err"))" \
    grep -q "failed: connect: " "$HS_TMP/down.err"
finish

#!/usr/bin/env bash
# fault_prometheus: homeostat-controller against a Prometheus that misbehaves in every way
# the real one cannot be made to: tests/integration/fakes/fake_prometheus.py, switched from mode
# to mode in one run. controller_prometheus.sh covers a stopped Prometheus, 503, a body that
# is not JSON and a hang on the way to a restart; this test covers the rest (slow, trickling,
# 500 with JSON, 502 with HTML, truncated, cut short, 8 MiB, endless, and wrong shapes and
# types), and what the controller does meanwhile. Rules: evaluation every 250 ms, query
# timeout 250 ms, state high while the signal is > 0.5 (held on missing data), and a decision
# with cooldown 0 whose exec action appends its decision id to a file: with the good answer
# (1) it acts at every evaluation. For each bad mode:
#  - the signal becomes unknown with a readable reason (GET /api/v1/status), signal_known 0
#    and query_errors_total{reason} counts it
#  - the evaluation loop keeps its pace (3 more evaluations) and the API answers at once
#  - no action runs (the file does not grow); the state is held, marked uncertain
#  - back to the good answer, the same process sees the value again and acts again
# At the end: no evaluation took longer than 2.5 s (the slow mode answers after 5 s, hang
# never), and every action ran after its executed decision record. About 45 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool curl /usr/bin/python3

CTL=$HOMEOSTAT_CONTROLLER
if [[ ! -x $CTL ]]; then
    fail "controller binary '$CTL' is missing (build the homeostat-controller target)"
    finish
fi

# ---- the fake Prometheus and the controller --------------------------------------------
for attempt in 1 2 3; do
    port=$(free_port)
    spawn "$HS_TMP/fake.$attempt.log" /usr/bin/python3 \
        "$HOMEOSTAT_SOURCE_DIR/tests/integration/fakes/fake_prometheus.py" --port "$port"
    FAKE_PID=$HS_PID
    if wait_until 10 grep -q 'listening on' "$HS_TMP/fake.$attempt.log"; then
        FAKE_URL=http://127.0.0.1:$port
        break
    fi
    stop_process "$FAKE_PID"
done
if [[ -z ${FAKE_URL:-} ]]; then
    fail "fake_prometheus.py did not start: $(cat "$HS_TMP/fake.3.log")"
    finish
fi
# mode MODE [VALUE]: switches the fake.
mode() {
    local args=(--data-urlencode "mode=$1")
    [[ -n ${2:-} ]] && args+=(--data-urlencode "value=$2")
    [[ $(http_code "$FAKE_URL/_control" -X POST "${args[@]}") == 200 ]] ||
        fail "the fake did not take mode $1"
}
mode good 1

MARKS=$HS_TMP/actions.txt
AUDIT=$HS_TMP/state/audit.jsonl
cat >"$HS_TMP/rules.yaml" <<EOF
evaluation_interval: 250ms
prometheus: {url: "$FAKE_URL", timeout: 250ms}
signals:
  load: {query: demo_load, max_age: 30s}
states:
  - name: high
    conditions: ["load > 0.5"]
  - name: ok
on_missing_data: hold
limits: {max_actions_per_hour: 0}
decisions:
  high:
    cooldown: 0s
    actions:
      - exec: {argv: [/bin/sh, -c, 'echo "\$1" >>"\$2"', sh, "{{id}}", "$MARKS"], retries: 0}
EOF
spawn "$HS_TMP/ctl.log" "$CTL" --config="$HS_TMP/rules.yaml" --web.listen-address=127.0.0.1:0 \
    --state.directory="$HS_TMP/state"
CTL_PID=$HS_PID
CTL_URL=$(wait_listening "$HS_TMP/ctl.log" "$CTL_PID")
if [[ -z $CTL_URL ]]; then
    fail "the controller did not start; its log:"
    sed 's/^/    /' "$HS_TMP/ctl.log"
    finish
fi

# ---- helpers ----------------------------------------------------------------------------
metrics() { hcurl "$CTL_URL/metrics" 2>/dev/null || true; }
mnum() { local v; v=$(metric_value "$(metrics)" "$1"); printf '%.0f' "${v:-0}"; }
lines() { if [[ -e $MARKS ]]; then grep -c . "$MARKS" || true; else echo 0; fi; }
status() { [[ $(http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status") == 200 ]]; }
st() { jget "$HS_TMP/status.json" "(lambda d: $1)(d['data'])"; }
# shellcheck disable=SC2317 # the predicates are called through wait_until
unknown_with() {
    status && [[ $(st "d['signals'][0]['known']") == false ]] &&
        grep -qE -- "$1" <<<"$(st "d['signals'][0]['reason']")"
}
# shellcheck disable=SC2317
known_value() { status && [[ $(st "d['signals'][0]['known'] and d['signals'][0]['value'] == $1") == true ]]; }
# shellcheck disable=SC2317
evals_ge() { (($(mnum homeostat_controller_evaluations_total) >= $1)); }
# shellcheck disable=SC2317
lines_gt() { (($(lines) > $1)); }

if wait_until 10 known_value 1 && wait_until 5 lines_gt 2; then
    pass "good answers: the signal is 1, the state $(st "d['state']"), actions run ($(lines))"
else
    fail "the controller does not act on the good answer: $(head -c 600 "$HS_TMP/status.json")"
    finish
fi

# bad MODE LABEL REASON_REGEX: one misbehaviour, then the good answer again.
bad() {
    local m=$1 label=$2 want=$3 q0 ev0 m0 id0 t
    q0=$(mnum "homeostat_controller_query_errors_total{reason=\"$label\"}")
    mode "$m"
    if ! wait_until 6 unknown_with "$want"; then
        fail "$m: the signal is not unknown with a reason matching '$want':" \
            "$(head -c 600 "$HS_TMP/status.json")"
        mode good 1
        wait_until 5 known_value 1 || true
        return 0
    fi
    m0=$(lines)
    id0=$(st "(d.get('last_decision') or {}).get('id')")
    pass "$m: the signal is unknown: $(st "d['signals'][0]['reason']" | cut -c1-110)"
    check "... query_errors_total{reason=\"$label\"} counts it" \
        test "$(mnum "homeostat_controller_query_errors_total{reason=\"$label\"}")" -gt "$q0"
    check_eq "... signal_known is 0" 0 "$(mnum 'homeostat_controller_signal_known{signal="load"}')"
    ev0=$(mnum homeostat_controller_evaluations_total)
    check "... the evaluation loop keeps its pace (3 more within 3 s)" \
        wait_until 3 evals_ge $((ev0 + 3))
    t=$(date +%s%N)
    status || true
    t=$((($(date +%s%N) - t) / 1000000))
    check "... the API answers at once ($t ms)" test "$t" -lt 1000
    check_eq "... the state is held, uncertain" "high true" "$(st "d['state']") $(st "d['uncertain']")"
    check_eq "... no action ran (the file still has $m0 lines)" "$m0" "$(lines)"
    check_eq "... no new decision" "$id0" "$(st "(d.get('last_decision') or {}).get('id')")"
    mode good 1
    if wait_until 5 known_value 1 && wait_until 5 lines_gt "$m0"; then
        pass "... the good answer again: the value is back and actions run again"
    else
        fail "... no recovery within 5 s of the good answer: $(head -c 600 "$HS_TMP/status.json")"
    fi
}

bad slow timeout 'timeout after 250ms'
bad hang timeout 'timeout after 250ms'
bad trickle timeout 'timeout after 250ms'
bad http500 http '^HTTP 500: internal error: out of memory'
bad http502 http '^HTTP 502'
bad truncated bad_response 'invalid JSON'
bad short connect '[Pp]artial|closed|transfer'
bad huge too_large 'larger than 4194304 bytes'
bad endless too_large 'larger than 4194304 bytes'
bad number bad_response 'sample value is not a string'
bad matrix bad_response 'range vector'
bad nodata bad_response 'no "data" object'
bad nostatus bad_response 'no "status"'
bad array bad_response 'not JSON'
bad nan nan 'not a number: "not-a-number"'
bad bigts bad_response 'out of range|invalid JSON'
bad error query '^bad_data: invalid parameter'
bad empty empty '.'
bad two multiple_series '2'

# ---- over all of it -------------------------------------------------------------------
M=$(metrics)
total=$(metric_value "$M" homeostat_controller_evaluation_duration_seconds_count)
upto=$(metric_value "$M" 'homeostat_controller_evaluation_duration_seconds_bucket{le="2.5"}')
check_eq "no evaluation took longer than 2.5 s (${total%.*} evaluations)" "${total%.*}" "${upto%.*}"
check "the controller is still running" hs_alive "$CTL_PID"
missing=$(/usr/bin/python3 - "$AUDIT" "$MARKS" <<'EOF'
import json, sys
done = {r["id"] for r in map(json.loads, open(sys.argv[1], "rb"))
        if r.get("type") == "decision" and r.get("outcome") == "executed"}
print(" ".join(l.strip() for l in open(sys.argv[2]) if l.strip() not in done))
EOF
)
check_eq "every action ran after its executed decision record ($(lines) actions)" "" "$missing"
stop_process "$CTL_PID" 10
check_eq "the controller stops on SIGTERM with status 0" 0 "$HS_STATUS"
finish

#!/usr/bin/env bash
# regulator_prometheus: a gradient regulator holding a plant's p95 at its setpoint, through
# the real Prometheus and the webhook actuator. The plant (Python, below) is an application
# whose p95 is slope x its concurrency limit, exported for Prometheus to scrape (1 s), with
# an admin endpoint that sets the limit, as the demo application has.
#  - from 64 at p95 1.6 against a setpoint of 0.2: the limit moves 64 -> 32 -> 16 -> 8
#    (max_step down 50 %), each change a regulator_change record in the audit log before
#    its action_result, explained; at 8 (p95 0.2) it stays, with no further request
#  - the capacity halves (slope x2): 8 -> 4
#  - the plant stops answering scrapes: the signal is unknown and the output holds, the API
#    says why; back with more capacity: 4 -> 8 -> 16 (max_step up 100 %)
#  - the metrics: the output, setpoint and signal gauges, the changes by direction
#  - a restart: the output is read back from the state file (16), nothing is re-sent
#  - pause holds (no request while the plant would want a change), resume moves again
#  - a reload to dry_run: the change is recorded (outcome dry_run) and the output moves in
#    the API, but nothing is sent
# About 60 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl /usr/bin/python3
CONTROLLER=$HOMEOSTAT_CONTROLLER
if [[ ! -x $CONTROLLER ]]; then
    fail "controller binary '$CONTROLLER' is missing"
    finish
fi

# the plant: tests/integration/fakes/plant.py (p95 = slope x its limit; CONTROL: slope, down)
CONTROL=$HS_TMP/plant.json
PLANT_LOG=$HS_TMP/limits.log
: >"$PLANT_LOG"
plant() { printf '%s\n' "$1" >"$CONTROL.new" && mv "$CONTROL.new" "$CONTROL"; }
plant '{"slope": 0.025, "down": false}'
PLANT_PORT=$(free_port)
spawn "$HS_TMP/plant.log" /usr/bin/python3 "$HOMEOSTAT_SOURCE_DIR/tests/integration/fakes/plant.py" --port "$PLANT_PORT" --log "$PLANT_LOG" \
    --control "$CONTROL"
[[ -n $(wait_listening "$HS_TMP/plant.log" "$HS_PID") ]] || {
    fail "the plant did not start"
    finish
}

cat >"$HS_TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: plant
    static_configs: [{targets: ['127.0.0.1:$PLANT_PORT']}]
EOF
start_prometheus "$HS_TMP/prometheus.yml" || finish

RULES=$HS_TMP/rules.yaml
write_rules() { # DRY_RUN
    cat >"$RULES" <<EOF
evaluation_interval: 1s
prometheus: {url: '$PROM_URL'}
signals:
  p95: {query: 'plant_p95_seconds', max_age: 10s}
states:
  - {name: degraded, conditions: ['p95 > 1']}
  - {name: optimal}
regulators:
  concurrency:
    signal: p95
    setpoint: 0.2
    output: {min: 2, max: 64, start: 64, integer: true}
    increases_signal: true
    law: gradient
    tolerance: 10%
    max_step: {up: 100%, down: 50%}
    settle: 3s
    dry_run: $1
    actions:
      - webhook:
          url: http://127.0.0.1:$PLANT_PORT/admin/limits
          body: {concurrency: '{{output}}'}
          retries: 0
EOF
}
write_rules false
check "check accepts the rules with a regulator" "$CONTROLLER" check "$RULES"

STATE_DIR=$HS_TMP/state
mkdir -p "$STATE_DIR"
TOKEN=operator-token-for-the-regulator-test-0123456789
printf 'ops %s\n' "$TOKEN" >"$HS_TMP/operator.tokens"
start_controller() {
    CTL_LOG=$HS_TMP/controller.$1.log
    spawn "$CTL_LOG" "$CONTROLLER" --config="$RULES" --web.listen-address=127.0.0.1:0 \
        --state.directory="$STATE_DIR" --web.operator-token-file="$HS_TMP/operator.tokens"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$CTL_LOG" "$CTL_PID")
    if [[ -z $CTL_URL ]]; then
        fail "controller did not log 'listening on' within 10 s; its log:"
        sed 's/^/    /' "$CTL_LOG"
        finish
    fi
}
start_controller 1
AUDIT=$STATE_DIR/audit.jsonl

limits() { tr '\n' ' ' <"$PLANT_LOG" | sed 's/ $//'; }
# shellcheck disable=SC2317 # called through wait_until
limits_are() { [[ $(limits) == "$1" ]]; }
reg() { # EXPR over GET /api/v1/regulators' first regulator (r)
    http_get "$HS_TMP/reg.json" "$CTL_URL/api/v1/regulators" >/dev/null
    jget "$HS_TMP/reg.json" "(lambda r: $1)(d['data'][0])"
}
# shellcheck disable=SC2317
reg_is() { [[ $(reg "$1") == "$2" ]]; }
audit() { # PYTHON over recs (the audit log): an expression, or statements that set ok
    /usr/bin/python3 -c '
import json, sys
g = {"recs": [json.loads(l) for l in open(sys.argv[1]) if l.strip()]}
src = sys.argv[2]
if "ok =" in src:
    exec(src, g)
    ok = g["ok"]
else:
    ok = eval(src, g)
sys.exit(0 if ok else 1)' "$AUDIT" "$1"
}

if wait_until 40 limits_are "32 16 8"; then
    pass "the limit moved 64 -> 32 -> 16 -> 8 toward p95 0.2"
else
    fail "the limits sent were '$(limits)', not '32 16 8'"
fi
sleep 5
check_eq "at p95 0.2 (within the tolerance) nothing more is sent" "32 16 8" "$(limits)"
check "each change was audited before its action ran" audit '
ch = [(i, r) for i, r in enumerate(recs) if r["type"] == "regulator_change"]
res = {r["id"]: i for i, r in enumerate(recs) if r["type"] == "action_result" and r.get("trigger") == "regulator"}
ok = len(ch) == 3 and all(r["id"] in res and res[r["id"]] > i for i, r in ch) and [r["output"] for i, r in ch] == [32, 16, 8]'
check "the first change is explained (value, setpoint, law, the outputs)" audit '
r = [r for r in recs if r["type"] == "regulator_change"][0]
e = r["explanation"]
ok = all(s in e for s in ("p95", "1.6", "0.2", "gradient", "64", "32")) and r["outcome"] == "applied" and r["direction"] == "down"'
say "explanation: $(/usr/bin/python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "regulator_change" in l][0]["explanation"])' "$AUDIT")"
check_eq "the API shows output 8 within the tolerance" "8 tolerance" "$(reg "'%d %s' % (r['output'], r['last_step'])")"

plant '{"slope": 0.05, "down": false}'
check "the capacity halves: 8 -> 4" wait_until 20 limits_are "32 16 8 4"

plant '{"slope": 0.0125, "down": true}'
# shellcheck disable=SC2317
unknown_now() { reg_is "r['last_step']" unknown; }
check "the plant stops answering: the signal is unknown (the API says so)" wait_until 20 unknown_now
say "while unknown: $(reg "r['explanation']")"
sleep 4
check_eq "while unknown the output holds: nothing sent" "32 16 8 4" "$(limits)"
plant '{"slope": 0.0125, "down": false}'
check "back with more capacity: 4 -> 8 -> 16 (max_step up 100 %)" wait_until 30 limits_are "32 16 8 4 8 16"

METRICS=$(curl -s "$CTL_URL/metrics")
check "metrics: the output gauge is 16" grep -q '^homeostat_controller_regulator_output{regulator="concurrency"} 16$' <<<"$METRICS"
check "metrics: the setpoint gauge" grep -q '^homeostat_controller_regulator_setpoint{regulator="concurrency"} 0.2$' <<<"$METRICS"
check "metrics: the signal gauge" grep -q '^homeostat_controller_regulator_signal{regulator="concurrency"} ' <<<"$METRICS"
check "metrics: 4 changes down applied" grep -q '^homeostat_controller_regulator_changes_total{regulator="concurrency",direction="down",result="applied"} 4$' <<<"$METRICS"
check "metrics: 2 changes up applied" grep -q '^homeostat_controller_regulator_changes_total{regulator="concurrency",direction="up",result="applied"} 2$' <<<"$METRICS"

# ---- restart: the output comes back from the state file; nothing is sent again ----
stop_process "$CTL_PID"
start_controller 2
check_eq "after a restart the output is 16 from the state file" 16 "$(reg "'%d' % r['output']")"
sleep 4
check_eq "and nothing is sent again" "32 16 8 4 8 16" "$(limits)"

# ---- pause holds; resume moves ----
check_eq "pause" 200 "$(http_code "$CTL_URL/api/v1/pause" -X POST -H "Authorization: Bearer $TOKEN")"
plant '{"slope": 0.025, "down": false}'
# shellcheck disable=SC2317
paused_now() { reg_is "r['paused']" true; }
check "paused: the API says the regulator is paused" wait_until 10 paused_now
sleep 4
check_eq "paused: nothing sent though p95 is 0.4" "32 16 8 4 8 16" "$(limits)"
check_eq "resume" 200 "$(http_code "$CTL_URL/api/v1/resume" -X POST -H "Authorization: Bearer $TOKEN")"
check "resumed: 16 -> 8" wait_until 20 limits_are "32 16 8 4 8 16 8"

# ---- a reload to dry_run: recorded, the output moves in the API, nothing sent ----
write_rules true
kill -HUP "$CTL_PID"
sleep 1
plant '{"slope": 0.05, "down": false}'
# shellcheck disable=SC2317
dry_moved() { reg_is "r['output'] <= 4" true; }
check "dry run: the output moves down (to 4 or below) in the API" wait_until 20 dry_moved
check_eq "dry run: nothing is sent" "32 16 8 4 8 16 8" "$(limits)"
check "dry run: the change is audited as dry_run" audit \
    'any(r["type"] == "regulator_change" and r["outcome"] == "dry_run" and r["output"] == 4 for r in recs)'

stop_process "$CTL_PID"
check_eq "the controller stops cleanly" 0 "$HS_STATUS"
finish

#!/usr/bin/env bash
# regulator_targets: a regulator per target. Two services of one plant (service="a" and
# service="b"), each with its own concurrency limit and p95 = slope x limit, scraped by the
# real Prometheus; a rules file with targets by service and a gradient regulator whose
# webhook names the service ({{ $labels.service }}).
#  - each service converges on its own: a (slope 0.025) 64 -> 32 -> 16 -> 8, b (slope 0.05)
#    64 -> 32 -> 16 -> 8 -> 4; the records name their target
#  - a's series goes away: a holds (nothing sent for a) while b goes on moving
#  - pausing target b holds b only
#  - GET /api/v1/targets/ID and /api/v1/regulators show each target's output, and
#    homeostat_controller_target_regulator_output exports them
#  - a restart keeps both outputs and sends nothing again
# About 45 s.
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
plant '{"a": {"slope": 0.025}, "b": {"slope": 0.05}}'
PLANT_PORT=$(free_port)
spawn "$HS_TMP/plant.log" /usr/bin/python3 "$HOMEOSTAT_SOURCE_DIR/tests/integration/fakes/plant.py" --port "$PLANT_PORT" --log "$PLANT_LOG" \
    --control "$CONTROL" --services a,b
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
cat >"$RULES" <<EOF
evaluation_interval: 1s
prometheus: {url: '$PROM_URL'}
targets: {by: [service], forget_after: 1h}
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
    max_step: {up: 100%, down: 50%}
    settle: 3s
    actions:
      - webhook:
          url: 'http://127.0.0.1:$PLANT_PORT/admin/{{ \$labels.service }}/limits'
          body: {concurrency: '{{output}}'}
          retries: 0
EOF
check "check accepts a regulator with targets" "$CONTROLLER" check "$RULES"

STATE_DIR=$HS_TMP/state
mkdir -p "$STATE_DIR"
TOKEN=operator-token-for-the-regulator-targets-test-0123
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

limits() { awk -v s="$1" '$1 == s { printf "%s%s", sep, $2; sep = " " }' "$PLANT_LOG"; }
# shellcheck disable=SC2317 # called through wait_until
limits_are() { [[ $(limits "$1") == "$2" ]]; }
audit() { # PYTHON-EXPRESSION over recs (the audit log)
    /usr/bin/python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$AUDIT" "$1"
}
target_id() { # SERVICE
    http_get "$HS_TMP/t.json" "$CTL_URL/api/v1/targets?match=%7Bservice%3D%22$1%22%7D" >/dev/null
    jget "$HS_TMP/t.json" "d['data']['targets'][0]['id'] if d['data']['targets'] else ''"
}
target_reg() { # SERVICE EXPR over that target's first regulator (r)
    http_get "$HS_TMP/td.json" "$CTL_URL/api/v1/targets/$(target_id "$1")" >/dev/null
    jget "$HS_TMP/td.json" "(lambda r: $2)(d['data']['regulators'][0])"
}

check "a converges on its own: 32 16 8" wait_until 40 limits_are a "32 16 8"
check "b converges on its own: 32 16 8 4" wait_until 40 limits_are b "32 16 8 4"
check "every change record names its target" audit \
    'all(r.get("target", {}).get("service") in ("a", "b") for r in recs if r["type"] == "regulator_change") and sum(r["type"] == "regulator_change" for r in recs) == 7'
check "every action result of a change names its target" audit \
    'all(r.get("target", {}).get("service") in ("a", "b") for r in recs if r["type"] == "action_result")'
check_eq "GET /api/v1/targets/ID: a's output" 8 "$(target_reg a "'%d' % r['output']")"
check_eq "GET /api/v1/targets/ID: b's output" 4 "$(target_reg b "'%d' % r['output']")"
http_get "$HS_TMP/regs.json" "$CTL_URL/api/v1/regulators" >/dev/null
check_eq "GET /api/v1/regulators lists both targets' outputs" "a=8 b=4" \
    "$(jget "$HS_TMP/regs.json" "' '.join('%s=%d' % (x['target']['service'], x['output']) for x in sorted(d['data'][0]['targets'], key=lambda x: x['target']['service']))")"
METRICS=$(curl -s "$CTL_URL/metrics")
check "metrics: a's output" grep -q '^homeostat_controller_target_regulator_output{service="a",regulator="concurrency"} 8$' <<<"$METRICS"
check "metrics: b's output" grep -q '^homeostat_controller_target_regulator_output{service="b",regulator="concurrency"} 4$' <<<"$METRICS"

# a's series goes: a holds, b goes on
plant '{"a": {"slope": 0.1, "down": true}, "b": {"slope": 0.1}}'
check "b moves on: 4 -> 2" wait_until 20 limits_are b "32 16 8 4 2"
# shellcheck disable=SC2317
a_unknown() { [[ $(target_reg a "r['last_step']") == unknown ]]; }
check "a's signal is unknown: its regulator says so" wait_until 10 a_unknown
check_eq "a holds: nothing sent for a" "32 16 8" "$(limits a)"

# pause b: b holds, a moves
ID_B=$(target_id b)
check_eq "pause target b" 200 "$(http_code "$CTL_URL/api/v1/targets/$ID_B/pause" -X POST -H "Authorization: Bearer $TOKEN")"
plant '{"a": {"slope": 0.0125}, "b": {"slope": 0.025}}'
check "a moves again (8 -> 16)" wait_until 20 limits_are a "32 16 8 16"
sleep 3
check_eq "b, paused, holds at 2 though its p95 is 0.05" "32 16 8 4 2" "$(limits b)"
check_eq "b's regulator says paused" true "$(target_reg b "r['paused']")"

# a restart keeps both outputs and sends nothing
stop_process "$CTL_PID"
start_controller 2
sleep 4
check_eq "after a restart a's output is 16" 16 "$(target_reg a "'%d' % r['output']")"
check_eq "and b's 2" 2 "$(target_reg b "'%d' % r['output']")"
check_eq "nothing sent again for a" "32 16 8 16" "$(limits a)"
check_eq "nor for b (still paused)" "32 16 8 4 2" "$(limits b)"

stop_process "$CTL_PID"
check_eq "the controller stops cleanly" 0 "$HS_STATUS"
finish

#!/bin/bash
# effects_app.sh: did the action help, judged on the real demo application through the
# exporter and the real Prometheus (the stack of app_stack.bash), 300 requests a second
# all along with the concurrency limit at 64 (p95 about 650 ms). Each controller enters
# degraded (p95 over 300 ms) and runs its decision once (a webhook to the application's
# admin API); verify_after 14 s later the p95 of the 8 s before the decision is compared
# with the 8 s before the verdict (action_effect in the audit log, the metric):
#  - cutting the limit to 8 (p95 about 80 ms): helped
#  - setting the cache TTL to the 5 s it already has (a knob that changes nothing): no_effect;
#    with on_no_effect: stop (and a cooldown of 5 s) the decision is then suspended:
#    decision_suspended, its next decisions "suspended" and not run, the gauge, GET
#    /api/v1/suspensions; an operator's POST /api/v1/suspensions/resume lets it run again
#  - beside it, the same knob with on_no_effect: escalate under a worse state (down, p95
#    over 100 s: never reached) whose decision touches a file: after the no_effect verdict
#    down's decision is taken at once, its record linked to the verdict and the decision
#    judged ("escalated"), counted in homeostat_controller_escalations_total
#  - the same, with the exporter stopped right after the decision (no data after it):
#    unknown, never no_effect, and with on_no_effect: escalate nothing escalates
# About 80 seconds.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=tests/integration/demo/app_stack.bash
. "$(dirname "${BASH_SOURCE[0]}")/app_stack.bash"

spawn "$HS_TMP/loadgen.log" /usr/bin/python3 "$HOMEOSTAT_SOURCE_DIR/demo/loadgen.py" \
    --url "$APP_URL" --phases "steady:20m:300" --workers 256 --interval 10s --seed 1

# run_case NAME BODY [COOLDOWN [ON_NO_EFFECT]]: a controller whose degraded decision posts
# BODY to /admin/limits; sets CTL_PID, CTL_URL, AUDIT.
run_case() {
    local name=$1 body=$2 cooldown=${3:-1h} policy=${4:-repeat}
    local rules=$HS_TMP/$1.rules.yaml state=$HS_TMP/$1.state worse='' worse_decision=''
    mkdir -p "$state"
    if [[ $policy == escalate ]]; then # a worse state, never reached, to escalate to
        worse="  - {name: down, conditions: ['p95 > 100']}"
        worse_decision="  down:
    verify_after: 0s
    actions: [{exec: [/usr/bin/touch, '$HS_TMP/$name.escalated']}]"
    fi
    cat >"$rules" <<REOF
evaluation_interval: 1s
prometheus: {url: '$PROM_URL', timeout: 1s}
signals:
  p95:
    query: >-
      histogram_quantile(0.95, sum by (le) (rate(app_request_duration_seconds_bucket{service="checkout"}[5s])))
    max_age: 5s
states:
$worse
  - {name: degraded, conditions: ['p95 > 0.3']}
  - {name: optimal}
decisions:
$worse_decision
  degraded:
    cooldown: $cooldown
    on_no_effect: $policy
    verify_after: 14s
    verify_window: 8s
    actions:
      - webhook:
          url: $APP_URL/admin/limits
          headers: {Authorization: {file: '$HS_TMP/token', prefix: 'Bearer '}}
          body: $body
          timeout: 2s
REOF
    check "$name: check accepts the rules" "$CONTROLLER" check "$rules"
    spawn "$HS_TMP/$name.controller.log" "$CONTROLLER" --config="$rules" \
        --web.listen-address=127.0.0.1:0 --state.directory="$state" \
        --web.operator-token-file="$HS_TMP/operator-token"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$HS_TMP/$name.controller.log" "$CTL_PID")
    [[ -n $CTL_URL ]] || {
        fail "$name: the controller did not start: $(tail -n 5 "$HS_TMP/$name.controller.log")"
        finish
    }
    AUDIT=$state/audit.jsonl
}
# shellcheck disable=SC2317 # called through wait_until
has_record() { [[ -s $AUDIT ]] && grep -q "\"type\":\"$1\"" "$AUDIT"; }
effect() { # EXPR over r, the action_effect record
    /usr/bin/python3 -c '
import json, sys
r = [r for r in map(json.loads, open(sys.argv[1])) if r["type"] == "action_effect"][0]
print(eval(sys.argv[2]))' "$AUDIT" "$1"
}
decision_id() {
    /usr/bin/python3 -c '
import json, sys
print([r for r in map(json.loads, open(sys.argv[1])) if r["type"] == "decision"][0]["id"])' "$AUDIT"
}
metric() { curl -sf --max-time 3 "$CTL_URL/metrics" | grep "^homeostat_controller_action_effects_total{" || true; }
# shellcheck disable=SC2317
p95_over() { [[ $(/usr/bin/python3 -c "import json,sys,urllib.request,urllib.parse
q = urllib.parse.quote('histogram_quantile(0.95, sum by (le) (rate(app_request_duration_seconds_bucket{service=\"checkout\"}[5s])))')
d = json.load(urllib.request.urlopen('$PROM_URL/api/v1/query?query=' + q))
r = d['data']['result']
print(1 if r and float(r[0]['value'][1]) > $1 else 0)" 2>/dev/null) == 1 ]]; }

echo "op-$RANDOM$RANDOM" >"$HS_TMP/operator-token"
count_records() { grep -c "\"type\":\"$1\"" "$AUDIT" || true; }
outcomes() { # the outcomes of the decision records, in order
    /usr/bin/python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
print(" ".join(r["outcome"] for r in rs if r["type"] == "decision"))' "$AUDIT"
}
check "the load makes the p95 go over 300 ms with the limit at 64" wait_until 60 p95_over 0.3
sleep 9 # a whole window of it before the first decision

# ---- helped ----
run_case cut "{concurrency: 8}"
check "cut: the decision runs" wait_until 30 has_record decision
check "cut: a verdict 14 s after it" wait_until 35 has_record action_effect
check_eq "cut: the verdict is about that decision" "$(decision_id)" "$(effect 'r["of"]')"
check_eq "cut: helped" helped "$(effect 'r["verdict"]')"
check_eq "cut: the p95 fell by half or more (relative change <= -0.5)" True \
    "$(effect 'r["signals"][0]["relative_change"] >= 0.5')"
say "cut: $(effect 'r["explanation"]')"
check "cut: counted in homeostat_controller_action_effects_total" \
    grep -q 'decision="degraded",kind="webhook",verdict="helped"} 1' <(metric)
check_eq "cut: GET /api/v1/effects: the webhook of degraded helped 1 of 1, median improvement over 50 %" \
    "degraded webhook 1 1 1.0 True" \
    "$(jstr "$(curl -sf "$CTL_URL/api/v1/effects")" '" ".join(str(x) for x in (d["data"][0]["decision"], d["data"][0]["kind"], d["data"][0]["verdicts"], d["data"][0]["helped"], d["data"][0]["helped_share"], d["data"][0]["median_improvement"] > 0.5))')"
check "cut: the report says so (Did the actions help?)" \
    grep -q "degraded webhook: helped 1 of 1 times, median improvement +" \
    <(curl -sf "$CTL_URL/api/v1/report?format=text&quick=1")
stop_process "$CTL_PID"

# ---- no effect ----
app_admin limits '{"concurrency": 64}'
check "back at 64, the p95 goes over 300 ms again" wait_until 60 p95_over 0.3
sleep 9 # a whole window before the decision at 64
run_case esc "{cache_ttl_seconds: 5}" 1h escalate
ESC_PID=$CTL_PID ESC_URL=$CTL_URL ESC_AUDIT=$AUDIT
run_case knob "{cache_ttl_seconds: 5}" 5s stop
check "knob: the decision runs" wait_until 30 has_record decision
check "knob: a verdict 14 s after it" wait_until 35 has_record action_effect
check_eq "knob: no_effect" no_effect "$(effect 'r["verdict"]')"
say "knob: $(effect 'r["explanation"]')"
check "knob: counted" grep -q 'decision="degraded",kind="webhook",verdict="no_effect"} 1' <(metric)
# (the cooldown of 5 s let it run again meanwhile: the verdict is on the first one)
check "knob: on_no_effect: stop suspends the decision (decision_suspended)" \
    wait_until 5 has_record decision_suspended
ran=$(count_records action_result)
sleep 8 # past the cooldown: suspended, not run
check "knob: the next decisions are suspended, not run" grep -q "suspended" <(outcomes)
check_eq "knob: no action ran while suspended" "$ran" "$(count_records action_result)"
check "knob: the gauge says so" grep -q '^homeostat_controller_decisions_suspended{decision="degraded"} 1' \
    <(curl -sf "$CTL_URL/metrics")
check_eq "knob: GET /api/v1/suspensions lists it" degraded \
    "$(jstr "$(curl -sf "$CTL_URL/api/v1/suspensions")" 'd["data"][0]["decision"]')"
check_eq "knob: resuming needs the operator (401 without a token)" 401 \
    "$(http_code "$CTL_URL/api/v1/suspensions/resume" -X POST -d '{"decision": "degraded"}')"
check_eq "knob: the operator resumes it" 200 \
    "$(http_code "$CTL_URL/api/v1/suspensions/resume" -X POST -d '{"decision": "degraded"}' \
        -H "Authorization: Bearer $(cat "$HS_TMP/operator-token")")"
check "knob: decision_resumed, by the operator" grep -q '"by":"operator"' "$AUDIT"
check "knob: it runs again after its cooldown" wait_until 15 \
    bash -c '[[ $(grep -c "\"type\":\"action_result\"" "$1") -gt $2 ]]' _ "$AUDIT" "$ran"
stop_process "$CTL_PID"

# ---- escalate (the controller started beside knob's) ----
check "esc: down's decision ran (the file is touched)" wait_until 10 test -e "$HS_TMP/esc.escalated"
check_eq "esc: one no_effect verdict, then down's decision, executed, linked to both" \
    "no_effect executed down degraded no_effect True True exec:ok" \
    "$(/usr/bin/python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
v = [r for r in rs if r["type"] == "action_effect"]
d = [r for r in rs if r["type"] == "decision"]
e = [r for r in d if "escalated" in r][0]
x = e["escalated"]
res = [r for r in rs if r["type"] == "action_result" and r.get("id") == e["id"]]
print(v[0]["verdict"], e["outcome"], e["decision"], x["from"], x["verdict"],
      x["of"] == d[0]["id"], x["verdict_id"] == v[0]["id"],
      ",".join(r["kind"] + ":" + r["result"] for r in res))' "$ESC_AUDIT" 2>&1)"
check "esc: counted in homeostat_controller_escalations_total" \
    grep -q '^homeostat_controller_escalations_total{decision="degraded",to="down"} 1' \
    <(curl -sf "$ESC_URL/metrics")
stop_process "$ESC_PID"

# ---- missing data ----
run_case blind "{cache_ttl_seconds: 5}" 1h escalate
check "blind: the decision runs" wait_until 30 has_record decision
kill -STOP "$EXPORTER_PID"
check "blind: a verdict 14 s after it" wait_until 35 has_record action_effect
kill -CONT "$EXPORTER_PID"
check_eq "blind: no data after the decision: unknown, not no_effect" unknown "$(effect 'r["verdict"]')"
say "blind: $(effect 'r["explanation"]')"
sleep 2 # evaluations after the verdict
check "blind: an unknown verdict does not escalate" test ! -e "$HS_TMP/blind.escalated"
stop_process "$CTL_PID"
check_eq "the controller stops cleanly" 0 "$HS_STATUS"
finish

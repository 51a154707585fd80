#!/usr/bin/env bash
# controller_actions: homeostat-controller acting, with the real Alertmanager on loopback in
# both directions. The rules' only signal is alert:HighErrorRate, fed by Alertmanager's
# webhook to POST /api/v1/alertmanager; critical runs an exec action (revert_on_exit,
# revert_delay 1s) and an alert action that posts to that Alertmanager.
#  - an alert added with amtool reaches the controller through Alertmanager's webhook:
#    critical, the exec action ran (its file exists), the controller's own alert is active
#    in Alertmanager (API v2) with its labels and annotations, GET /api/v1/alerts lists the
#    alert with the state it feeds, audit records: the decision before, a result after each
#  - manual actions: a bad parameter is refused with 400 and nothing runs (no file, no
#    audit record), an unknown one 404, a good one runs with the parameter in its argv; an
#    exec action that hangs (and forks) is killed with its child at its 2 s deadline
#  - a restart keeps the actions in effect and the received alerts, and repeats nothing
#  - resolving the alert in Alertmanager: optimal, then after revert_delay the exec revert
#    runs (file removed) and the controller's alert is resolved in Alertmanager
#  - pause: decisions go on being recorded (outcome paused) and nothing runs; manual
#    actions answer 409; resume
#  - overrides: PUT moves a threshold (shown in the status and the rules, saved in the
#    state file, audited), a bad one is refused with 400, DELETE restores the file's
#  - the webhook needs the bearer token and rejects a malformed payload with 400
#  - the alert is re-sent while critical; the systemd watchdog is petted while a long
#    action runs (WATCHDOG_USEC 1 s, a datagram socket as NOTIFY_SOCKET)
# About 15 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

quiet() { "$@" >/dev/null 2>&1; }

require_tool prometheus-alertmanager amtool curl /usr/bin/python3
if [[ ! -x $HOMEOSTAT_CONTROLLER ]]; then
    fail "controller binary '$HOMEOSTAT_CONTROLLER' is missing"
    finish
fi

TOKEN=s3cret-token-$$
printf '%s\n' "$TOKEN" >"$HS_TMP/token"
AUTH=(-H "Authorization: Bearer $TOKEN")
AM_PORT=$(free_port)
AM_URL=http://127.0.0.1:$AM_PORT
MARK=hang-marker-$$-$RANDOM
CTL_PORT=$(free_port)

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<EOF
evaluation_interval: 500ms
prometheus: {url: "http://127.0.0.1:9"}
states:
  - name: critical
    severity: critical
    conditions: ["alert:HighErrorRate == 1"]
  - name: optimal
decisions:
  critical:
    cooldown: 1h
    revert_on_exit: true
    revert_delay: 1s
    actions:
      - exec: {argv: [/usr/bin/touch, "$HS_TMP/throttled"], revert: [/bin/rm, -f, "$HS_TMP/throttled"]}
      - alert: {labels: {team: web}, annotations: {runbook: "https://runbooks.example/{{state}}"}}
alerting:
  alertmanagers: ["$AM_URL"]
  resend_interval: 2s
manual_actions:
  emergency_throttle:
    description: Throttle to a limit
    params:
      limit: {type: integer, min: 1, max: 64}
    actions:
      - exec: [/usr/bin/touch, "$HS_TMP/limit-{{limit}}"]
  hang:
    - exec: {argv: [/usr/bin/python3, -c, "import os, time; os.fork(); time.sleep(300)", "$MARK"], timeout: 2s, retries: 0}
EOF
check "the rules file passes check" quiet "$HOMEOSTAT_CONTROLLER" check "$RULES"

# ---- helpers -------------------------------------------------------------------------


start_controller() {
    local name=$1
    CTL_LOG=$HS_TMP/$name.log
    # One port for both runs: Alertmanager's webhook URL names it.
    spawn "$CTL_LOG" "$HOMEOSTAT_CONTROLLER" --config="$RULES" \
        --web.listen-address="127.0.0.1:$CTL_PORT" \
        --state.directory="$HS_TMP/state" --web.admin-token-file="$HS_TMP/token"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$CTL_LOG" "$CTL_PID")
    if [[ -z $CTL_URL ]]; then
        fail "controller $name did not start; its log:"
        sed 's/^/    /' "$CTL_LOG"
        finish
    fi
}

status() { [[ $(http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status") == 200 ]]; }
st() { jget "$HS_TMP/status.json" "(lambda d: $1)(d['data'])"; }
# shellcheck disable=SC2317 # called through wait_until
state_is() { status && [[ $(st "d['state']") == "$1" ]]; }
# audit_count EXPR: records of the audit log for which EXPR (Python, r is the record) holds.
audit_count() {
    /usr/bin/python3 - "$HS_TMP/state/audit.jsonl" "$1" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    n += bool(eval(sys.argv[2], {"r": r}))
print(n)
EOF
}
# am_alerts FILTER: the active alerts matching FILTER in Alertmanager, as JSON.
am_alerts() {
    hcurl -G "$AM_URL/api/v2/alerts" --data-urlencode "filter=$1" --data-urlencode active=true \
        --data-urlencode silenced=false --data-urlencode inhibited=false
}
# shellcheck disable=SC2317
am_has() { [[ $(am_alerts "$1" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') -ge 1 ]]; }
# shellcheck disable=SC2317
am_none() { [[ $(am_alerts "$1" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') == 0 ]]; }
post() { http_code "$CTL_URL$1" -X POST "${AUTH[@]}" "${@:2}"; }

# ---- the controller, then Alertmanager pointed at it ----------------------------------

# A sd_notify socket: every datagram, one line with the time, into notify.out.
NOTIFY_SOCK=$HS_TMP/notify.sock
spawn "$HS_TMP/notify.log" /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        data = s.recv(65536).decode("utf-8", "replace")
        for line in data.split("\n"):
            if line:
                f.write("%.3f %s\n" % (time.time(), line))
' "$NOTIFY_SOCK" "$HS_TMP/notify.out"
wait_until 5 grep -q ready "$HS_TMP/notify.log" || fail "the notify socket did not start"
NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=1000000 start_controller ctl-1
if wait_until 5 state_is optimal; then
    pass "optimal with no alert firing (alert:HighErrorRate is 0)"
else
    fail "not optimal at start: $(head -c 400 "$HS_TMP/status.json")"
fi
check_eq "... the alert signal is known" true "$(st "d['signals'][0]['known']")"

mkdir -p "$HS_TMP/am-data"
cat >"$HS_TMP/alertmanager.yml" <<EOF
route:
  receiver: controller
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['component="homeostat-controller"']
      receiver: blackhole
receivers:
  - name: controller
    webhook_configs:
      - url: "$CTL_URL/api/v1/alertmanager"
        send_resolved: true
        http_config:
          authorization:
            credentials_file: "$HS_TMP/token"
  - name: blackhole
EOF
check "amtool check-config accepts the Alertmanager configuration" \
    quiet amtool check-config "$HS_TMP/alertmanager.yml"
spawn "$HS_TMP/alertmanager.log" prometheus-alertmanager \
    --config.file="$HS_TMP/alertmanager.yml" --storage.path="$HS_TMP/am-data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address=
AM_PID=$HS_PID
# shellcheck disable=SC2317
am_ready() { [[ $(http_code "$AM_URL/-/ready") == 200 ]]; }
if ! wait_until 15 am_ready; then
    fail "Alertmanager did not become ready; its log:"
    tail -n 20 "$HS_TMP/alertmanager.log" | sed 's/^/    /'
    finish
fi
pass "Alertmanager ready on $AM_URL"

# ---- an alert through Alertmanager's webhook drives the state --------------------------

check "amtool adds HighErrorRate to Alertmanager" quiet amtool --alertmanager.url="$AM_URL" \
    alert add HighErrorRate service=shop severity=page --annotation=summary="errors at 5%"
if wait_until 15 state_is critical; then
    pass "the webhook delivered it: critical"
else
    fail "not critical after the alert: $(head -c 600 "$HS_TMP/status.json"); log:"
    tail -n 20 "$CTL_LOG" | sed 's/^/    /'
fi
check "... the reasoning names alert:HighErrorRate" \
    grep -q 'alert:HighErrorRate' <<<"$(st "d['last_decision']['reasoning']")"
check "... the exec action ran" wait_until 5 test -e "$HS_TMP/throttled"
check_eq "... the decision was executed" executed "$(st "d['last_decision']['outcome']")"
wait_until 5 eval '[[ $(audit_count "r[\"type\"] == \"action_result\"") == 2 ]]' || true
check_eq "... the audit log: the decision, then one result per action" \
    "decision action_result action_result" \
    "$(/usr/bin/python3 -c 'import json,sys; print(" ".join(json.loads(l)["type"] for l in open(sys.argv[1]) if json.loads(l)["type"] in ("decision","action_result")))' "$HS_TMP/state/audit.jsonl")"
check_eq "... both actions ok" 2 "$(audit_count 'r["type"] == "action_result" and r["result"] == "ok"')"
status
check_eq "... two actions in effect (exec to revert, alert to resolve)" 2 \
    "$(st "len(d['actions_in_effect'])")"
check_eq "... the token never appears in the status" 0 \
    "$(grep -c "$TOKEN" "$HS_TMP/status.json" || true)"
if wait_until 10 am_has 'alertname="HomeostatState"'; then
    pass "the controller's alert is active in Alertmanager"
else
    fail "no HomeostatState alert in Alertmanager: $(am_alerts 'alertname="HomeostatState"')"
fi
am_alerts 'alertname="HomeostatState"' >"$HS_TMP/am.json"
check_eq "... state=critical" critical "$(jget "$HS_TMP/am.json" "d[0]['labels']['state']")"
check_eq "... severity from the state" critical "$(jget "$HS_TMP/am.json" "d[0]['labels']['severity']")"
check_eq "... the rule's label team=web" web "$(jget "$HS_TMP/am.json" "d[0]['labels']['team']")"
check "... the reasoning annotation" grep -q 'alert:HighErrorRate' \
    <<<"$(jget "$HS_TMP/am.json" "d[0]['annotations']['reasoning']")"
check_eq "... a templated annotation" "https://runbooks.example/critical" \
    "$(jget "$HS_TMP/am.json" "d[0]['annotations']['runbook']")"
check "... the decision id annotation" test -n "$(jget "$HS_TMP/am.json" "d[0]['annotations']['decision_id']")"

code=$(http_get "$HS_TMP/alerts.json" "$CTL_URL/api/v1/alerts")
check_eq "GET /api/v1/alerts answers 200" 200 "$code"
check_eq "... HighErrorRate is listed" HighErrorRate \
    "$(jget "$HS_TMP/alerts.json" "d['data'][0]['labels']['alertname']")"
check_eq "... with the state it feeds" critical \
    "$(jget "$HS_TMP/alerts.json" "d['data'][0]['feeds'][0]['conditions'][0]['state']")"

# ---- the webhook endpoint ----------------------------------------------------------------

check_eq "the webhook without the token answers 401" 401 \
    "$(http_code "$CTL_URL/api/v1/alertmanager" -X POST -d '{}')"
check_eq "... a payload that is not version 4 answers 400" 400 \
    "$(post /api/v1/alertmanager -d '{"version":"3","alerts":[]}')"
check_eq "... and garbage 400" 400 "$(post /api/v1/alertmanager -d 'not json')"
check "... counted as invalid" wait_until 2 eval \
    '[[ $(metric_value "$(hcurl "$CTL_URL/metrics")" "homeostat_controller_alertmanager_webhooks_total{result=\"invalid\"}") == 2 ]]'

# ---- manual actions ------------------------------------------------------------------------

n_manual=$(audit_count 'r["type"] == "manual_action"')
code=$(http_get "$HS_TMP/m.json" "$CTL_URL/api/v1/actions/emergency_throttle" -X POST "${AUTH[@]}" \
    -d '{"limit": "five"}')
check_eq "a manual action with a bad parameter answers 400" 400 "$code"
check "... saying why" grep -q 'limit: expected an integer' "$HS_TMP/m.json"
check_eq "... out of bounds: 400" 400 "$(post /api/v1/actions/emergency_throttle -d '{"limit": 500}')"
check_eq "... an unknown parameter: 400" 400 \
    "$(post /api/v1/actions/emergency_throttle -d '{"limit": 5, "force": true}')"
check_eq "... missing: 400" 400 "$(post /api/v1/actions/emergency_throttle -d '{}')"
check "... and nothing ran" test -z "$(find "$HS_TMP" -maxdepth 1 -name 'limit-*')"
check_eq "... nor was anything audited" "$n_manual" "$(audit_count 'r["type"] == "manual_action"')"
check_eq "an unknown manual action answers 404" 404 "$(post /api/v1/actions/nope -d '{}')"
check_eq "... without the token 401" 401 \
    "$(http_code "$CTL_URL/api/v1/actions/emergency_throttle" -X POST -d '{"limit": 5}')"
code=$(http_get "$HS_TMP/m.json" "$CTL_URL/api/v1/actions/emergency_throttle" -X POST "${AUTH[@]}" \
    -d '{"limit": 5}')
check_eq "a good one answers 200" 200 "$code"
check "... and ran with the parameter in its argv" test -e "$HS_TMP/limit-5"
check_eq "... audited" $((n_manual + 1)) "$(audit_count 'r["type"] == "manual_action"')"
check_eq "... its args in the record" 1 \
    "$(audit_count 'r["type"] == "manual_action" and r["args"]["limit"] == 5')"

wd_before=$(grep -c 'WATCHDOG=1' "$HS_TMP/notify.out" || true)
t0=$(date +%s%N)
code=$(http_get "$HS_TMP/hang.json" "$CTL_URL/api/v1/actions/hang" -X POST "${AUTH[@]}" \
    --max-time 30)
t1=$(date +%s%N)
check_eq "a hanging exec action fails (502)" 502 "$code"
check "... timed out" grep -q 'timed out' "$HS_TMP/hang.json"
check "... and returned at its deadline (2 s + the 2 s grace), not after the sleep" \
    test $(((t1 - t0) / 1000000)) -lt 10000
wd_during=$(awk -v a="$((t0 / 1000000))" -v b="$((t1 / 1000000))" \
    '/WATCHDOG=1/ { t = $1 * 1000; if (t > a + 500 && t < b - 500) n++ } END { print n + 0 }' \
    "$HS_TMP/notify.out")
check "... the systemd watchdog was petted while it ran ($wd_during times; WatchdogSec 1s)" \
    test "$wd_during" -ge 2
check "... and before ($wd_before times)" test "$wd_before" -ge 1
check "... its process group, the forked child too, is gone" \
    wait_until 3 eval '! pgrep -f "$MARK" >/dev/null'

check "while critical, the controller's alert was re-sent (resend_interval 2s)" wait_until 5 eval \
    '[[ $(metric_value "$(hcurl "$CTL_URL/metrics")" "homeostat_controller_actions_total{kind=\"alert\",trigger=\"resend\",result=\"ok\"}") -ge 1 ]]'
check "... and is still active in Alertmanager" am_has 'alertname="HomeostatState"'

# ---- a restart keeps what is in effect ---------------------------------------------------

n_results=$(audit_count 'r["type"] == "action_result" and r.get("trigger") == "decision"')
stop_process "$CTL_PID"
start_controller ctl-2
sleep 2
status
check_eq "after a restart: still critical (the received alert was kept)" critical "$(st "d['state']")"
check_eq "... the two actions still in effect" 2 "$(st "len(d['actions_in_effect'])")"
check_eq "... and nothing ran again" "$n_results" \
    "$(audit_count 'r["type"] == "action_result" and r.get("trigger") == "decision"')"

# ---- resolving the alert: optimal, then the revert ------------------------------------

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
past=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%SZ)
check_eq "the alert is resolved in Alertmanager (endsAt in the past)" 200 \
    "$(http_code "$AM_URL/api/v2/alerts" -X POST -H 'Content-Type: application/json' \
        -d "[{\"labels\":{\"alertname\":\"HighErrorRate\",\"service\":\"shop\",\"severity\":\"page\"},\"startsAt\":\"$past\",\"endsAt\":\"$now\"}]")"
if wait_until 15 state_is optimal; then
    pass "the resolved notification arrived: optimal"
else
    fail "still $(st "d['state']") after the alert resolved"
fi
check "after revert_delay, the exec revert ran (file removed)" \
    wait_until 5 eval '[[ ! -e $HS_TMP/throttled ]]'
check "... and the controller's alert is resolved in Alertmanager" \
    wait_until 10 am_none 'alertname="HomeostatState"'
wait_until 3 eval 'status && [[ $(st "len(d[\"actions_in_effect\"])") == 0 ]]' || true
check_eq "... nothing is in effect any more" 0 "$(st "len(d['actions_in_effect'])")"
check_eq "... two revert records and their results" "2 2" \
    "$(audit_count 'r["type"] == "revert"') $(audit_count 'r["type"] == "revert_result" and r["result"] == "ok"')"

# ---- pause ------------------------------------------------------------------------------------

check_eq "POST /api/v1/pause answers 200" 200 "$(post /api/v1/pause)"
status
check_eq "... paused in the status" true "$(st "d['paused']")"
check_eq "... manual actions answer 409" 409 "$(post /api/v1/actions/emergency_throttle -d '{"limit": 7}')"
check "... and did not run" test ! -e "$HS_TMP/limit-7"
n_results=$(audit_count 'r["type"] == "action_result"')
check "a new HighErrorRate alert" quiet amtool --alertmanager.url="$AM_URL" \
    alert add HighErrorRate service=shop severity=page
check "... critical again while paused" wait_until 15 state_is critical
check_eq "... the decision is recorded as paused" paused "$(st "d['last_decision']['outcome']")"
sleep 1
check_eq "... and nothing ran" "$n_results" "$(audit_count 'r["type"] == "action_result"')"
check "... the exec file was not created" test ! -e "$HS_TMP/throttled"
check_eq "the pause is audited" 1 "$(audit_count 'r["type"] == "pause"')"
check_eq "POST /api/v1/resume answers 200" 200 "$(post /api/v1/resume)"
status
check_eq "... not paused any more" false "$(st "d['paused']")"

# ---- overrides ------------------------------------------------------------------------------

code=$(http_code "$CTL_URL/api/v1/overrides" -X PUT "${AUTH[@]}" \
    -d '{"thresholds": [{"state": "critical", "signal": "alert:HighErrorRate", "threshold": 2}], "evaluation_interval": "1s"}')
check_eq "PUT /api/v1/overrides answers 200" 200 "$code"
status
check_eq "... the status shows the threshold" 2.0 "$(st "d['overrides']['thresholds'][0]['threshold']")"
check_eq "... and the interval" 1.0 "$(st "d['overrides']['evaluation_interval_seconds']")"
http_get "$HS_TMP/rules.json" "$CTL_URL/api/v1/rules" >/dev/null
check_eq "... the rules show it beside the file's value" "2.0 1.0" \
    "$(jget "$HS_TMP/rules.json" "'%s %s' % (d['data']['states'][0]['conditions'][0]['threshold'], d['data']['states'][0]['conditions'][0]['threshold_file'])")"
check "... it takes effect: alert:HighErrorRate == 2 no longer holds, optimal" \
    wait_until 10 state_is optimal
check "... saved in the state file" grep -q '"threshold": 2' "$HS_TMP/state/state.json"
check_eq "... audited" 1 "$(audit_count 'r["type"] == "override"')"
check_eq "an override of an unknown state answers 400" 400 \
    "$(http_code "$CTL_URL/api/v1/overrides" -X PUT "${AUTH[@]}" -d '{"thresholds": [{"state": "nope", "signal": "x", "threshold": 1}]}')"
check_eq "... an unknown key 400" 400 \
    "$(http_code "$CTL_URL/api/v1/overrides" -X PUT "${AUTH[@]}" -d '{"tresholds": []}')"
check_eq "DELETE /api/v1/overrides answers 200" 200 \
    "$(http_code "$CTL_URL/api/v1/overrides" -X DELETE "${AUTH[@]}")"
check "... the file's threshold is back: critical again" wait_until 10 state_is critical
check_eq "... no overrides in the status" '{}' "$(st "d['overrides']")"

stop_process "$CTL_PID"
check_eq "the controller exits 0 on SIGTERM" 0 "$HS_STATUS"
finish

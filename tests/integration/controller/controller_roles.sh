#!/usr/bin/env bash
# controller_roles: least privilege on the controller's API (docs/SECURITY.md). Three roles
# with their own token files: receiver (the Alertmanager webhook only), operator (pause,
# resume, manual actions, overrides, evaluate) and admin (everything, reload included).
#  - every endpoint x every role x {no credential, a wrong one, the right one}: the
#    expected status in each cell (401, 403 naming the role needed, or success), and on
#    every refused cell the state file and the audit log are byte-identical before and
#    after; each accepted change is audited with the role, the credential id (a name or a
#    short hash, never the token), the client address
#  - rotation: two operator tokens, one removed from the file and POST /-/reload: the
#    removed one gets 401, the other keeps working, same process
#  - the real Alertmanager delivers to the webhook with the receiver token
#    (credentials_file); that token cannot pause
#  - a webhook action's Authorization header read from a file: the header arrives, and the
#    secret is nowhere in the audit log, the state file, /api/v1/rules, the status page,
#    /api/v1/status or the logs; `check` warns about an inline one. About 15 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
require_tool prometheus-alertmanager curl /usr/bin/python3
if [[ ! -x $HOMEOSTAT_CONTROLLER ]]; then
    fail "controller binary '$HOMEOSTAT_CONTROLLER' is missing"
    finish
fi

ADMIN=admin-$RANDOM$RANDOM$RANDOM
OP_A=operator-a-$RANDOM$RANDOM$RANDOM
OP_B=operator-b-$RANDOM$RANDOM$RANDOM
RECV=receiver-$RANDOM$RANDOM$RANDOM
APP_SECRET=app-secret-$RANDOM$RANDOM$RANDOM
printf '%s\n' "$ADMIN" >"$HS_TMP/admin.tokens"
printf 'alice %s\n%s\n' "$OP_A" "$OP_B" >"$HS_TMP/operator.tokens"
printf 'alertmanager %s\n' "$RECV" >"$HS_TMP/receiver.tokens"
printf '%s\n' "$RECV" >"$HS_TMP/am-credentials"
printf '%s\n' "$APP_SECRET" >"$HS_TMP/app-token"
chmod 600 "$HS_TMP"/*.tokens "$HS_TMP/app-token"

# ---- the application's webhook endpoint ------------------------------------------------
REQ_LOG=$HS_TMP/requests.jsonl
port=$(free_port)
spawn "$HS_TMP/webhook.log" /usr/bin/python3 "$HERE/../fakes/webhook_server.py" --port "$port" \
    --log "$REQ_LOG"
wait_until 10 grep -q 'listening on' "$HS_TMP/webhook.log" ||
    { fail "webhook_server.py did not start"; finish; }
APP_URL=http://127.0.0.1:$port

CTL_PORT=$(free_port)
RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<RULES_END
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9"}
states:
  - name: critical
    conditions: ["alert:HighErrorRate == 1"]
  - name: optimal
manual_actions:
  notify:
    - webhook:
        url: $APP_URL/admin/limits
        headers: {Authorization: {file: app-token, prefix: "Bearer "}}
        body: {concurrency: 8}
RULES_END
rc=0
out=$("$HOMEOSTAT_CONTROLLER" check "$RULES" 2>&1) || rc=$?
check_eq "the rules with a header read from a file pass check without a warning" "0 0" \
    "$rc $(grep -c WARNING <<<"$out" || true)"
sed "s|{file: app-token, prefix: \"Bearer \"}|\"Bearer inline-secret\"|" "$RULES" \
    >"$HS_TMP/inline.yaml"
rc=0
out=$("$HOMEOSTAT_CONTROLLER" check "$HS_TMP/inline.yaml" 2>&1) || rc=$?
check_eq "check passes an inline Authorization header (exit 0) ..." 0 "$rc"
check "... with a warning naming the file, line and header" \
    grep -Eq "WARNING: .*inline.yaml:[0-9]+:[0-9]+: warning: 'Authorization' holds a secret inline" \
    <<<"$out"

spawn "$HS_TMP/controller.log" "$HOMEOSTAT_CONTROLLER" --config="$RULES" \
    --web.listen-address="127.0.0.1:$CTL_PORT" --state.directory="$HS_TMP/state" \
    --web.admin-token-file="$HS_TMP/admin.tokens" \
    --web.operator-token-file="$HS_TMP/operator.tokens" \
    --web.receiver-token-file="$HS_TMP/receiver.tokens"
CTL_PID=$HS_PID
CTL_URL=$(wait_listening "$HS_TMP/controller.log" "$CTL_PID")
if [[ -z $CTL_URL ]]; then
    fail "the controller did not start:"
    sed 's/^/    /' "$HS_TMP/controller.log"
    finish
fi
wait_until 10 test -s "$HS_TMP/state/state.json" || true

# ---- the table ---------------------------------------------------------------------------
rc=0
/usr/bin/python3 "$HERE/roles_table.py" "$CTL_URL" "$HS_TMP/state" "$ADMIN" "$OP_A" "$RECV" \
    >"$HS_TMP/table.out" 2>&1 || rc=$?
cells=$(awk '/^cells/ { print $2 }' "$HS_TMP/table.out")
check "every endpoint x role x credential answers as expected; refused cells change nothing (${cells:-0} cells)" \
    test "$rc" -eq 0
[[ $rc -eq 0 ]] || sed 's/^/    /' "$HS_TMP/table.out" | head -n 30
http_get "$HS_TMP/m.txt" "$CTL_URL/metrics" >/dev/null
denied=$(awk '$1 == "homeostat_controller_api_requests_denied_total{reason=\"forbidden\",role=\"admin\"}" { print $2 }' "$HS_TMP/m.txt")
check "wrong-role requests are counted (forbidden, role admin: ${denied:-none})" \
    test "${denied:-0}" -ge 2

# ---- rotation ----------------------------------------------------------------------------
code() { http_code "$CTL_URL$1" -X POST -H "Authorization: Bearer $2"; }
check_eq "both operator tokens work" "200 200" \
    "$(code /api/v1/resume "$OP_A") $(code /api/v1/resume "$OP_B")"
printf 'alice %s\n' "$OP_A" >"$HS_TMP/operator.tokens"
check_eq "POST /-/reload (admin) rereads the token files" 200 "$(code /-/reload "$ADMIN")"
check_eq "the removed operator token now gets 401" 401 "$(code /api/v1/resume "$OP_B")"
check_eq "the other one keeps working" 200 "$(code /api/v1/resume "$OP_A")"
check "... in the same controller process" kill -0 "$CTL_PID"
printf 'alice %s\nalice %s\n' "$OP_A" "$OP_B" >"$HS_TMP/operator.tokens"
check_eq "a token file that became invalid fails the reload (400) ..." 400 \
    "$(code /-/reload "$ADMIN")"
check_eq "... and the running tokens stay" "200 401" \
    "$(code /api/v1/resume "$OP_A") $(code /api/v1/resume "$OP_B")"
printf 'alice %s\n' "$OP_A" >"$HS_TMP/operator.tokens"

# ---- the real Alertmanager with the receiver token ----------------------------------------
cat >"$HS_TMP/alertmanager.yml" <<AM_END
route:
  receiver: homeostat
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: homeostat
    webhook_configs:
      - url: $CTL_URL/api/v1/alertmanager
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials_file: $HS_TMP/am-credentials}
AM_END
start_alertmanager "$HS_TMP/alertmanager.yml" || finish
accepted() {
    hcurl "$CTL_URL/metrics" |
        awk '$1 == "homeostat_controller_alertmanager_webhooks_total{result=\"accepted\"}" { print $2 }'
}
before=$(accepted)
hcurl -XPOST -H 'Content-Type: application/json' "$AM_URL/api/v2/alerts" \
    -d '[{"labels": {"alertname": "HighErrorRate", "service": "shop"}}]' >/dev/null
delivered() { [[ $(accepted) -gt ${before:-0} ]]; }
check "the real Alertmanager delivers to the webhook with the receiver token" \
    wait_until 15 delivered
is_critical() { hcurl "$CTL_URL/api/v1/status" | grep -q '"state":"critical"'; }
check "... and the alert it delivered drives the state (critical)" wait_until 10 is_critical
check_eq "the receiver token cannot pause (403)" 403 "$(code /api/v1/pause "$RECV")"
check "the 403 is logged with the credential id, not the token" \
    grep -q "credential alertmanager of role receiver" "$HS_TMP/controller.log"

# ---- the webhook's Authorization header from a file ---------------------------------------
last_auth() {
    /usr/bin/python3 -c '
import json, sys
auth = [json.loads(l)["headers"].get("Authorization") for l in open(sys.argv[1])]
print(auth[-1] if auth else "")' "$REQ_LOG"
}
check_eq "a manual action with the header from a file runs" 200 \
    "$(http_code "$CTL_URL/api/v1/actions/notify" -X POST -H "Authorization: Bearer $OP_A")"
check_eq "the application received the header read from the file" "Bearer $APP_SECRET" \
    "$(last_auth)"
printf '%s\n' "rotated-$APP_SECRET" >"$HS_TMP/app-token"
http_code "$CTL_URL/api/v1/actions/notify" -X POST -H "Authorization: Bearer $OP_A" >/dev/null
check_eq "a rotated file is read at the next request, no reload" "Bearer rotated-$APP_SECRET" \
    "$(last_auth)"
mv "$HS_TMP/app-token" "$HS_TMP/app-token.away"
rc=$(http_get "$HS_TMP/missing.json" "$CTL_URL/api/v1/actions/notify" -X POST \
    -H "Authorization: Bearer $OP_A")
check_eq "a header file that is missing fails the action (502) ..." 502 "$rc"
check "... with an error that names the file" grep -q 'app-token: No such file' "$HS_TMP/missing.json"
mv "$HS_TMP/app-token.away" "$HS_TMP/app-token"
hcurl "$CTL_URL/api/v1/rules" >"$HS_TMP/rules.json"
hcurl "$CTL_URL/" >"$HS_TMP/page.html"
hcurl "$CTL_URL/api/v1/status" >"$HS_TMP/status.json"
check "/api/v1/rules names the file the header is read from" grep -q 'app-token' "$HS_TMP/rules.json"
for f in state/audit.jsonl state/state.json rules.json page.html status.json controller.log; do
    check "the application's secret is not in $f" \
        bash -c "! grep -q -e '$APP_SECRET' '$HS_TMP/$f'"
done
for t in "$ADMIN" "$OP_A" "$OP_B" "$RECV"; do
    check "no API token is in the audit log, the state file or the log (${t%%-*})" \
        bash -c "! grep -q -e '$t' '$HS_TMP/state/audit.jsonl' '$HS_TMP/state/state.json' '$HS_TMP/controller.log'"
done
finish

#!/usr/bin/env bash
# actuator_alertmanager: the alert actuator through act-driver against the real
# Alertmanager from Debian (null receiver, clustering off) on a free loopback port.
#  - apply: the alert is active in GET /api/v2/alerts and in `amtool alert query`, with
#    labels alertname=HomeostatState, state, severity, component and the rules' team=web,
#    annotations summary, reasoning, confidence and decision_id, startsAt in RFC 3339 with
#    milliseconds and endsAt about 4 resend intervals (4 m) ahead
#  - applying again keeps exactly one alert (same labels); revert with the undo resolves
#    it (gone from the active alerts and from amtool)
#  - a second Alertmanager that is down, or one that never answers (timeout 1s), does not
#    fail the action when the first accepts; the detail lists both
#  - nothing reachable: retry status; an Alertmanager impostor (webhook_server.py)
#    answering 400: fail after one attempt, 503: retry, and the exact payload it received
#  - no Alertmanager configured: fail with "no alertmanagers configured"
# About 10 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus-alertmanager amtool curl /usr/bin/python3

DRIVER=$HOMEOSTAT_ACT_DRIVER
if [[ ! -x $DRIVER ]]; then
    fail "act-driver '$DRIVER' is missing (build the act-driver target)"
    finish
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# drive ARGS...: runs the driver; OUT = its stdout, RC = its exit status.
drive() {
    RC=0
    OUT=$("$DRIVER" "$@" 2>"$HS_TMP/driver.err") || RC=$?
}

# am_alerts [QUERY]: GET /api/v2/alerts?QUERY of our alertname, as JSON.
am_alerts() {
    hcurl -G "$AM_URL/api/v2/alerts" --data-urlencode 'filter=alertname="HomeostatState"' "$@"
}

# ---- Alertmanager -----------------------------------------------------------------------
cat >"$HS_TMP/alertmanager.yml" <<'EOF'
route:
  receiver: "null"
receivers:
  - name: "null"
EOF
start_alertmanager "$HS_TMP/alertmanager.yml" || finish
pass "alertmanager ready at $AM_URL"

# An impostor for status codes and the raw payload, and a port with nothing on it.
PY_PORT=$(free_port)
REQ_LOG=$HS_TMP/requests.jsonl
spawn "$HS_TMP/server.log" /usr/bin/python3 "$HERE/../fakes/webhook_server.py" --port "$PY_PORT" \
    --log "$REQ_LOG"
if ! wait_until 10 grep -q 'listening on' "$HS_TMP/server.log"; then
    fail "webhook_server.py did not start: $(cat "$HS_TMP/server.log")"
    finish
fi
PY=http://127.0.0.1:$PY_PORT
DOWN=http://127.0.0.1:$(free_port)

# ---- apply ------------------------------------------------------------------------------
drive --alertmanager="$AM_URL" --state=critical --severity=critical --id=dec-7 \
    --confidence=0.87 --reasoning='p99_latency=0.9 > 0.5' \
    apply alert '{"labels":{"team":"web"}}'
check_eq "apply: the driver exits 0" 0 "$RC"
check_eq "... ok after one attempt" "ok 1" "$(jstr "$OUT" 'd["status"] + " " + str(d["attempts"])')"
check_eq "... detail: HTTP 200 from the Alertmanager" "[[\"$AM_URL\", 200, null]]" \
    "$(jstr "$OUT" '[[a["url"], a["http_status"], a["error"]] for a in d["detail"]["alertmanagers"]]')"
PARAMS=$(jstr "$OUT" 'd["params"]')
UNDO=$(jstr "$OUT" 'd["undo"]')
check_eq "... the undo has what a resend and a resolve need" \
    '["alertmanagers", "annotations", "labels", "startsAt"]' "$(jstr "$UNDO" 'sorted(d)')"

A=$(am_alerts)
check_eq "GET /api/v2/alerts: one alert" 1 "$(jstr "$A" 'len(d)')"
check_eq "... active" active "$(jstr "$A" 'd[0]["status"]["state"]')"
check_eq "... labels" \
    '{"alertname": "HomeostatState", "component": "homeostat-controller", "severity": "critical", "state": "critical", "team": "web"}' \
    "$(jstr "$A" 'd[0]["labels"]')"
check_eq "... annotations reasoning, confidence, decision_id" \
    "p99_latency=0.9 > 0.5|0.87|dec-7" \
    "$(jstr "$A" '"|".join(d[0]["annotations"][k] for k in ("reasoning", "confidence", "decision_id"))')"
check_eq "... summary" "homeostat: critical (confidence 0.87)" \
    "$(jstr "$A" 'd[0]["annotations"]["summary"]')"
check_eq "... startsAt is the undo's (RFC 3339 with milliseconds)" \
    "$(jstr "$UNDO" 'd["startsAt"]')" "$(jstr "$A" 'd[0]["startsAt"]')"
check "... startsAt has milliseconds and Z" \
    grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' \
    <<<"$(jstr "$UNDO" 'd["startsAt"]')"
ends_in=$(jstr "$A" 'round(datetime.datetime.fromisoformat(d[0]["endsAt"].replace("Z", "+00:00")).timestamp() - time.time())')
check "... endsAt about 4 resend intervals (240 s) ahead: ${ends_in} s" \
    test "$ends_in" -ge 230 -a "$ends_in" -le 241

AMQ=$(amtool --alertmanager.url="$AM_URL" alert query -o json alertname=HomeostatState 2>&1 || true)
check_eq "amtool alert query: one alert, active, state=critical, team=web" \
    "1 active critical web" \
    "$(jstr "$AMQ" '"%d %s %s %s" % (len(d), d[0]["status"]["state"], d[0]["labels"]["state"], d[0]["labels"]["team"])' 2>&1)"

# ---- apply again: still one alert -------------------------------------------------------
SAME=(--state=critical --severity=critical --id=dec-7) # the same labels, so the same alert
sleep 1.1 # a later endsAt, at the second
drive --alertmanager="$AM_URL" "${SAME[@]}" apply alert '{"labels":{"team":"web"}}'
check_eq "apply again: ok" ok "$(jstr "$OUT" 'd["status"]')"
A2=$(am_alerts --data-urlencode active=true)
check_eq "... still exactly one active alert" 1 "$(jstr "$A2" 'len(d)')"
check "... its endsAt moved on" test "$(jstr "$A2" 'd[0]["endsAt"]')" \> "$(jstr "$A" 'd[0]["endsAt"]')"

# ---- a second Alertmanager down, or hanging ---------------------------------------------
drive --alertmanager="$AM_URL" --alertmanager="$DOWN" "${SAME[@]}" apply alert \
    '{"labels":{"team":"web"}}'
check_eq "one of two Alertmanagers down: still ok" ok "$(jstr "$OUT" 'd["status"]')"
check_eq "... the detail shows both, the second with an error" "$AM_URL 200 ok|$DOWN None error" \
    "$(jstr "$OUT" '"|".join("%s %s %s" % (a["url"], a["http_status"], "error" if a["error"] else "ok") for a in d["detail"]["alertmanagers"])')"
check_eq "... the undo keeps both for the resolve" "[\"$AM_URL\", \"$DOWN\"]" \
    "$(jstr "$OUT" 'd["undo"]["alertmanagers"]')"

start_ns=$(date +%s%N)
drive --alertmanager="$PY/hang" --alertmanager="$AM_URL" apply alert \
    '{"alertname":"HomeostatTimeoutTest","timeout":"1s","retries":0}'
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
check_eq "one Alertmanager never answers (timeout 1s): ok" ok "$(jstr "$OUT" 'd["status"]')"
check "... in about the timeout, both sent at once (${elapsed_ms} ms)" test "$elapsed_ms" -lt 3000
check "... the hanging one timed out" \
    grep -qi 'timed out' <<<"$(jstr "$OUT" 'd["detail"]["alertmanagers"][0]["error"]')"

# ---- failures ---------------------------------------------------------------------------
drive --alertmanager="$DOWN" apply alert '{"retries":0}'
check_eq "nothing reachable: exit 1, retry status" "1 retry" "$RC $(jstr "$OUT" 'd["status"]')"
check "... the error names the URL" grep -qF "$DOWN" <<<"$(jstr "$OUT" 'd["error"]')"

drive --alertmanager="$PY/status/400" apply alert '{"retries":2,"backoff":"50ms"}'
check_eq "HTTP 400: fail after one attempt" "fail 1" \
    "$(jstr "$OUT" 'd["status"] + " " + str(d["attempts"])')"
check "... the error has the status and body" grep -qF 'HTTP 400: {"error":"bad request' \
    <<<"$(jstr "$OUT" 'd["error"]')"
drive --alertmanager="$PY/status/503" apply alert '{"retries":1,"backoff":"50ms"}'
check_eq "HTTP 503: retry after 2 attempts" "retry 2" \
    "$(jstr "$OUT" 'd["status"] + " " + str(d["attempts"])')"

P=$(/usr/bin/python3 -c 'import json, sys
print(json.dumps([r for r in map(json.loads, open(sys.argv[1])) if r["path"] == "/status/400/api/v2/alerts"]))' "$REQ_LOG")
check_eq "the payload: POST /api/v2/alerts, a JSON array of one alert" "POST list 1" \
    "$(jstr "$P" '"%s %s %d" % (d[0]["method"], type(d[0]["json"]).__name__, len(d[0]["json"]))')"
check_eq "... with labels, annotations, startsAt and endsAt" \
    '["annotations", "endsAt", "labels", "startsAt"]' "$(jstr "$P" 'sorted(d[0]["json"][0])')"
check_eq "... Content-Type: application/json" application/json \
    "$(jstr "$P" 'd[0]["headers"]["Content-Type"]')"

drive apply alert '{}'
check_eq "no Alertmanager configured: fail" "1 fail alert: no alertmanagers configured" \
    "$RC $(jstr "$OUT" 'd["status"] + " " + d["error"]')"
drive --alertmanager="$DOWN" --server-dry-run apply alert '{}'
check_eq "--server-dry-run: ok without sending" "ok dry run" \
    "$(jstr "$OUT" 'd["status"] + " " + d["detail"]["skipped"]')"

# ---- revert: resolved -------------------------------------------------------------------
drive revert alert "$PARAMS" "$UNDO"
check_eq "revert: ok" ok "$(jstr "$OUT" 'd["status"]')"
check_eq "... the Alertmanager accepted the resolve" 200 \
    "$(jstr "$OUT" 'd["detail"]["alertmanagers"][0]["http_status"]')"
check_eq "... no active alert left" 0 "$(jstr "$(am_alerts --data-urlencode active=true)" 'len(d)')"
check_eq "... none in the alert list at all (resolved)" 0 "$(jstr "$(am_alerts)" 'len(d)')"
AMQ=$(amtool --alertmanager.url="$AM_URL" alert query -o json alertname=HomeostatState 2>&1 || true)
check_eq "... amtool alert query finds none" 0 "$(jstr "$AMQ" 'len(d)' 2>&1)"
OTHER=$(hcurl -G "$AM_URL/api/v2/alerts" --data-urlencode 'filter=alertname="HomeostatTimeoutTest"')
check_eq "... while another alert (other labels) is still active" "1 active" \
    "$(jstr "$OTHER" '"%d %s" % (len(d), d[0]["status"]["state"] if d else "-")')"
finish

#!/usr/bin/env bash
# actuator_webhook: the webhook actuator through act-driver (the daemon's own validate,
# expansion and retry loop) against webhook_server.py on a free loopback port, which
# records every request and checks its HMAC signature with the shared secret.
#  - the default body (id, state, from, severity, confidence, reasoning, time), the
#    headers (Content-Type, User-Agent, Idempotency-Key, X-Homeostat-Decision) and a
#    signature the server finds valid; one re-sent by curl with a changed body, or signed
#    with a wrong secret, is marked invalid
#  - a templated body {"concurrency": "{{limit}}"} with --args='{"limit":5}' arrives as the
#    number 5
#  - 503 twice then 200 with retries 3, backoff 200ms: ok after 3 attempts, gaps >= 200 ms
#    then >= 400 ms, the same Idempotency-Key on every attempt; 503 for good: retry status
#  - 400: failed after 1 attempt; a server that never answers with timeout 1s: the driver
#    returns (retry status) within a few seconds
#  - the revert map: the undo, and revert sends its own request
#  - HTTPS: an untrusted certificate fails at once; ca_file, cert_file/key_file (the server
#    sees the client certificate) and insecure_skip_verify work
#  - --server-dry-run sends nothing; the secret never appears in the driver's output
# About 5 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool curl /usr/bin/python3

DRIVER=$HOMEOSTAT_ACT_DRIVER
if [[ ! -x $DRIVER ]]; then
    fail "act-driver '$DRIVER' is missing (build the act-driver target)"
    finish
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# reqs PATH: the recorded requests for PATH, as a JSON array, oldest first.
reqs() {
    /usr/bin/python3 -c 'import json, sys
out = []
try:
    with open(sys.argv[1]) as f:
        out = [r for r in map(json.loads, f) if r["path"] == sys.argv[2]]
except FileNotFoundError:
    pass
print(json.dumps(out))' "$REQ_LOG" "$1"
}

# drive ARGS...: runs the driver; OUT = its stdout, RC = its exit status. Every output is
# also appended to ALL_OUT for the secret check at the end.
ALL_OUT=$HS_TMP/driver-output.txt
drive() {
    RC=0
    OUT=$("$DRIVER" "$@" 2>"$HS_TMP/driver.err") || RC=$?
    { printf '%s\n' "$OUT"; cat "$HS_TMP/driver.err"; } >>"$ALL_OUT"
}

SECRET="homeostat-test-secret-$RANDOM$RANDOM"
SECRET_FILE=$HS_TMP/secret
printf '%s\n' "$SECRET" >"$SECRET_FILE"
TOKEN="Bearer token-$RANDOM$RANDOM"
REQ_LOG=$HS_TMP/requests.jsonl

# start_server LOG ARGS...: webhook_server.py with ARGS on a free port (tried again when the
# port was taken meanwhile); sets SERVER_URL (http[s]://127.0.0.1:PORT).
start_server() {
    local log=$1 attempt port pid
    shift
    for attempt in 1 2 3; do
        port=$(free_port)
        spawn "$log" /usr/bin/python3 "$HERE/../fakes/webhook_server.py" --port "$port" "$@"
        pid=$HS_PID
        wait_until 10 bash -c "grep -q 'listening on' '$log' || ! kill -0 $pid 2>/dev/null" ||
            true
        if grep -q 'listening on' "$log"; then
            SERVER_URL=$(grep -m1 -o 'listening on [^ ]*' "$log")
            SERVER_URL=${SERVER_URL#listening on }
            return 0
        fi
        stop_process "$pid"
        say "webhook server did not start on port $port (attempt $attempt): $(cat "$log")"
    done
    fail "webhook_server.py $* did not start"
    return 1
}

start_server "$HS_TMP/server.log" --log "$REQ_LOG" --secret-file "$SECRET_FILE" || finish
BASE=$SERVER_URL

# ---- the default body, headers and signature --------------------------------------------
drive --id=dec-1 --state=critical --from=optimal --severity=critical --confidence=0.87 \
    apply webhook "{\"url\":\"$BASE/default\",\"secret_file\":\"$SECRET_FILE\",
                    \"headers\":{\"Authorization\":\"$TOKEN\"}}"
check_eq "default body: the driver exits 0" 0 "$RC"
check_eq "default body: status ok" ok "$(jstr "$OUT" 'd["status"]')"
check_eq "default body: one attempt" 1 "$(jstr "$OUT" 'd["attempts"]')"
R=$(reqs /default)
check_eq "default body: one request arrived" 1 "$(jstr "$R" 'len(d)')"
check_eq "... a POST" POST "$(jstr "$R" 'd[0]["method"]')"
check_eq "... with the decision's fields" \
    '["confidence", "from", "id", "reasoning", "severity", "state", "time"]' \
    "$(jstr "$R" 'sorted(d[0]["json"])')"
check_eq "... id, state, from, severity" "dec-1 critical optimal critical" \
    "$(jstr "$R" '" ".join(d[0]["json"][k] for k in ("id", "state", "from", "severity"))')"
check_eq "... confidence 0.87" 0.87 "$(jstr "$R" 'd[0]["json"]["confidence"]')"
check "... time is RFC 3339" bash -c "[[ $(jstr "$R" 'd[0]["json"]["time"]') =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]"
check_eq "... Content-Type: application/json" application/json \
    "$(jstr "$R" 'd[0]["headers"]["Content-Type"]')"
check "... User-Agent: homeostat-controller/VERSION" \
    bash -c "[[ '$(jstr "$R" 'd[0]["headers"]["User-Agent"]')' == homeostat-controller/?* ]]"
check_eq "... X-Homeostat-Decision: dec-1" dec-1 \
    "$(jstr "$R" 'd[0]["headers"]["X-Homeostat-Decision"]')"
check "... Idempotency-Key: dec-1-<8 hex>" \
    bash -c "[[ '$(jstr "$R" 'd[0]["headers"]["Idempotency-Key"]')' =~ ^dec-1-[0-9a-f]{8}$ ]]"
check_eq "... the user's Authorization header" "$TOKEN" \
    "$(jstr "$R" 'd[0]["headers"]["Authorization"]')"
check_eq "... the server finds the signature valid" valid "$(jstr "$R" 'd[0]["signature"]')"
check_eq "... detail: signed, HTTP 200, POST and the URL" "True 200 POST $BASE/default" \
    "$(jstr "$OUT" '" ".join(map(str, (d["detail"]["signed"], d["detail"]["http_status"], d["detail"]["method"], d["detail"]["url"])))')"
check "... detail has duration_seconds and the response" \
    test "$(jstr "$OUT" 'isinstance(d["detail"]["duration_seconds"], float) and "ok" in d["detail"]["response"]')" = true
detail_and_error=$(jstr "$OUT" 'json.dumps(d["detail"]) + d["error"]')
check "... neither detail nor error holds the Authorization value" \
    bash -c "! grep -qF -- '${TOKEN#Bearer }' <<<'$detail_and_error'"
check "... no undo without a revert map" test "$(jstr "$OUT" 'd["undo"]')" = null

# A tampered copy: the same timestamp and signature with another body is invalid; the
# same request with its own body is valid (the check is real); a wrong secret is invalid.
TS=$(jstr "$R" 'd[0]["headers"]["X-Homeostat-Timestamp"]')
SIG=$(jstr "$R" 'd[0]["headers"]["X-Homeostat-Signature"]')
BODY=$(jstr "$R" 'd[0]["body"]')
hcurl -o /dev/null -H "X-Homeostat-Timestamp: $TS" -H "X-Homeostat-Signature: $SIG" \
    -H 'Content-Type: application/json' --data-binary "$BODY" "$BASE/replayed" || true
hcurl -o /dev/null -H "X-Homeostat-Timestamp: $TS" -H "X-Homeostat-Signature: $SIG" \
    -H 'Content-Type: application/json' --data-binary "${BODY/critical/optimal}" \
    "$BASE/tampered" || true
WRONG=$(/usr/bin/python3 -c 'import hashlib, hmac, sys
print(hmac.new(b"wrong-secret", (sys.argv[1] + "." + sys.argv[2]).encode(), hashlib.sha256).hexdigest())' \
    "$TS" "$BODY")
hcurl -o /dev/null -H "X-Homeostat-Timestamp: $TS" -H "X-Homeostat-Signature: sha256=$WRONG" \
    -H 'Content-Type: application/json' --data-binary "$BODY" "$BASE/wrong-secret" || true
check_eq "signature: the untouched request re-sent by curl is valid" valid \
    "$(jstr "$(reqs /replayed)" 'd[0]["signature"]')"
check_eq "signature: a changed body is invalid" invalid \
    "$(jstr "$(reqs /tampered)" 'd[0]["signature"]')"
check_eq "signature: a wrong secret is invalid" invalid \
    "$(jstr "$(reqs /wrong-secret)" 'd[0]["signature"]')"

# ---- a templated body -------------------------------------------------------------------
drive --declare=limit --args='{"limit":5}' \
    apply webhook "{\"url\":\"$BASE/templated\",\"body\":{\"concurrency\":\"{{limit}}\"}}"
check_eq "templated body: ok" ok "$(jstr "$OUT" 'd["status"]')"
R=$(reqs /templated)
check_eq "... arrives as {\"concurrency\": 5}" '{"concurrency": 5}' "$(jstr "$R" 'd[0]["json"]')"
check_eq "... 5 is a number, not a string" int \
    "$(jstr "$R" 'type(d[0]["json"]["concurrency"]).__name__')"
check_eq "... unsigned without secret_file" absent "$(jstr "$R" 'd[0]["signature"]')"

# ---- retries: 503 twice, then 200 -------------------------------------------------------
drive apply webhook "{\"url\":\"$BASE/flaky/a/2\",\"retries\":3,\"backoff\":\"200ms\"}"
check_eq "503 twice then 200: ok" ok "$(jstr "$OUT" 'd["status"]')"
check_eq "... after 3 attempts" 3 "$(jstr "$OUT" 'd["attempts"]')"
R=$(reqs /flaky/a/2)
check_eq "... the server saw 503, 503, 200" '[503, 503, 200]' "$(jstr "$R" '[r["status"] for r in d]')"
check_eq "... the first pause is >= 200 ms" True \
    "$(jstr "$R" 'str(d[1]["time"] - d[0]["time"] >= 0.2)')"
check_eq "... the second pause is >= 400 ms (the backoff doubles)" True \
    "$(jstr "$R" 'str(d[2]["time"] - d[1]["time"] >= 0.4)')"
check_eq "... one Idempotency-Key on every attempt" 1 \
    "$(jstr "$R" 'len({r["headers"]["Idempotency-Key"] for r in d})')"
drive apply webhook "{\"url\":\"$BASE/flaky/b/9\",\"retries\":1,\"backoff\":\"50ms\"}"
check_eq "503 every time: the driver exits 1" 1 "$RC"
check_eq "... status retry after 2 attempts" "retry 2" \
    "$(jstr "$OUT" 'd["status"] + " " + str(d["attempts"])')"
check_eq "... the error line" "webhook POST $BASE/flaky/b/9: HTTP 503: service unavailable: try again" \
    "$(jstr "$OUT" 'd["error"]')"

# ---- 400 and a server that never answers ------------------------------------------------
drive apply webhook "{\"url\":\"$BASE/status/400\",\"retries\":3,\"backoff\":\"100ms\"}"
check_eq "400: the driver exits 1" 1 "$RC"
check_eq "... failed after one attempt" "fail 1" \
    "$(jstr "$OUT" 'd["status"] + " " + str(d["attempts"])')"
check_eq "... the server saw one request" 1 "$(jstr "$(reqs /status/400)" 'len(d)')"
check "... the error names the method, URL, status and body" \
    grep -qF "webhook POST $BASE/status/400: HTTP 400: {\"error\":\"bad request from the test server\"}" \
    <<<"$(jstr "$OUT" 'd["error"]')"

start_ns=$(date +%s%N)
drive apply webhook "{\"url\":\"$BASE/hang\",\"timeout\":\"1s\",\"retries\":0}"
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
check_eq "hanging server: the driver exits 1" 1 "$RC"
check "... with a retry or fail status ($(jstr "$OUT" 'd["status"]'))" \
    test "$(jstr "$OUT" 'd["status"] in ("retry", "fail")')" = true
check "... and returns after the 1 s timeout (${elapsed_ms} ms)" \
    test "$elapsed_ms" -ge 900 -a "$elapsed_ms" -lt 5000
check "... the error says it timed out" grep -qi 'timed out' <<<"$(jstr "$OUT" 'd["error"]')"

# ---- revert -----------------------------------------------------------------------------
drive --declare=limit --args='{"limit":5}' apply webhook "{\"url\":\"$BASE/limits\",
    \"method\":\"PUT\",\"body\":{\"limit\":\"{{limit}}\"},
    \"revert\":{\"url\":\"$BASE/limits/revert\",\"method\":\"DELETE\"}}"
check_eq "revert map: apply ok" ok "$(jstr "$OUT" 'd["status"]')"
check_eq "... a PUT with the body" 'PUT {"limit": 5}' \
    "$(jstr "$(reqs /limits)" 'd[0]["method"] + " " + json.dumps(d[0]["json"])')"
UNDO=$(jstr "$OUT" 'd["undo"]')
PARAMS=$(jstr "$OUT" 'd["params"]')
check_eq "... the undo is the revert map" "{\"method\": \"DELETE\", \"url\": \"$BASE/limits/revert\"}" "$UNDO"
check_eq "... nothing sent to the revert URL yet" 0 "$(jstr "$(reqs /limits/revert)" 'len(d)')"
drive revert webhook "$PARAMS" "$UNDO"
check_eq "revert: ok" ok "$(jstr "$OUT" 'd["status"]')"
check_eq "... sends DELETE to the revert URL with the main body" 'DELETE {"limit": 5}' \
    "$(jstr "$(reqs /limits/revert)" 'd[0]["method"] + " " + json.dumps(d[0]["json"])')"

# ---- server dry run ---------------------------------------------------------------------
drive --server-dry-run apply webhook "{\"url\":\"$BASE/dry\",\"secret_file\":\"$SECRET_FILE\"}"
check_eq "--server-dry-run: ok, skipped" "ok dry run" \
    "$(jstr "$OUT" 'd["status"] + " " + d["detail"]["skipped"]')"
check_eq "... and nothing was sent" 0 "$(jstr "$(reqs /dry)" 'len(d)')"

# ---- TLS: ca_file, cert_file/key_file, insecure_skip_verify -----------------------------
# A self-signed certificate for 127.0.0.1 and localhost, valid 2000-2100, for server and
# client authentication (made with openssl ca -selfsign; a test key, used nowhere else).
cat >"$HS_TMP/cert.pem" <<'EOF'
-----BEGIN CERTIFICATE-----
MIIBnDCCAUOgAwIBAgIBATAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5ob21lb3N0
YXQtdGVzdDAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowGTEXMBUG
A1UEAwwOaG9tZW9zdGF0LXRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQ4
NPcSe5LwoXUajZjB5Jk8gU1zv5y4ksBcNm11f19Z30lqpehHUnNyPTw1wfPGLy9k
6H5gsBb6eX1KkjoRcnSoo3oweDAPBgNVHRMBAf8EBTADAQH/MBoGA1UdEQQTMBGH
BH8AAAGCCWxvY2FsaG9zdDALBgNVHQ8EBAMCAoQwHQYDVR0lBBYwFAYIKwYBBQUH
AwEGCCsGAQUFBwMCMB0GA1UdDgQWBBSRQkNghpMvcpck/QXlj/jCQo6pCDAKBggq
hkjOPQQDAgNHADBEAiADYaQNlRBq8fRl2/eDrkf0a8KMnVWfzuZCeOCFX64aCQIg
JqKUgPkE/pbd9P/aeWq5sgHJPjcnbtqEgbRq48o8dFY=
-----END CERTIFICATE-----
EOF
cat >"$HS_TMP/key.pem" <<'EOF'
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgHIqDGazyGerZlFjt
AsChmULXlLS5E0zI1ejZ7Pfnr/ahRANCAAQ4NPcSe5LwoXUajZjB5Jk8gU1zv5y4
ksBcNm11f19Z30lqpehHUnNyPTw1wfPGLy9k6H5gsBb6eX1KkjoRcnSo
-----END PRIVATE KEY-----
EOF
TLS_LOG=$HS_TMP/tls-requests.jsonl
if start_server "$HS_TMP/tls-server.log" --log "$TLS_LOG" --tls-cert "$HS_TMP/cert.pem" \
    --tls-key "$HS_TMP/key.pem" --tls-client-ca "$HS_TMP/cert.pem"; then
    TLS=$SERVER_URL
    check_eq "the TLS server speaks https" https "${TLS%%:*}"
    tls_reqs() { REQ_LOG=$TLS_LOG reqs "$1"; }
    drive apply webhook "{\"url\":\"$TLS/no-ca\",\"retries\":2,\"backoff\":\"50ms\"}"
    check_eq "https, certificate not trusted: fail after one attempt" "1 fail 1" \
        "$RC $(jstr "$OUT" 'd["status"] + " " + str(d["attempts"])')"
    check "... the error is about the certificate" \
        grep -qi 'certificate' <<<"$(jstr "$OUT" 'd["error"]')"
    drive apply webhook "{\"url\":\"$TLS/ca\",\"ca_file\":\"$HS_TMP/cert.pem\"}"
    check_eq "https with ca_file: ok" ok "$(jstr "$OUT" 'd["status"]')"
    check_eq "... without a client certificate" null "$(jstr "$(tls_reqs /ca)" 'd[0]["client_cert"]')"
    drive apply webhook "{\"url\":\"$TLS/client\",\"ca_file\":\"$HS_TMP/cert.pem\",
        \"cert_file\":\"$HS_TMP/cert.pem\",\"key_file\":\"$HS_TMP/key.pem\"}"
    check_eq "https with cert_file and key_file: ok" ok "$(jstr "$OUT" 'd["status"]')"
    check_eq "... the server saw the client certificate" homeostat-test \
        "$(jstr "$(tls_reqs /client)" 'd[0]["client_cert"]')"
    drive apply webhook "{\"url\":\"$TLS/insecure\",\"insecure_skip_verify\":true}"
    check_eq "https with insecure_skip_verify: ok" ok "$(jstr "$OUT" 'd["status"]')"
fi

# ---- the secret -------------------------------------------------------------------------
check "the secret appears nowhere in the driver's output" \
    bash -c "! grep -qF -- '$SECRET' '$ALL_OUT'"
check "... though the output was recorded" test -s "$ALL_OUT"
finish

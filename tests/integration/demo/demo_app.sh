#!/bin/bash
# demo_app.sh: homeostat-demo-app end to end: items, cache, validation, security headers,
# rate limit (429), concurrency limit (503, for cache misses only: a hit is served while
# the limit is full), circuit breaker (OPEN, HALF_OPEN), admin endpoint
# (403/401/limits/backend latency/breaker/bad JSON), the backend queue under overload, the
# StatsD lines it sends (read by a UDP receiver) and what homeostat-exporter makes of them.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
require_tool curl /usr/bin/python3

APP=$HOMEOSTAT_BUILD_DIR/demo/homeostat-demo-app
check "the demo app is built ($APP)" test -x "$APP"
[[ -x $APP ]] || finish

# A UDP receiver: one datagram per record, lines appended to $1; its port into $2.
start_receiver() {
    spawn "$HS_TMP/receiver.log" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[2] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[2] + ".tmp", sys.argv[2])
with open(sys.argv[1], "a") as f:
    while True:
        d = s.recv(65536)
        f.write("DGRAM %d\n" % len(d) + d.decode() + "\n")
        f.flush()' "$1" "$2"
    wait_until 5 test -s "$2"
}

APP_SEQ=0
# start_app ARGS...: sets APP_URL, APP_PID, APP_LOG.
start_app() {
    APP_SEQ=$((APP_SEQ + 1))
    APP_LOG=$HS_TMP/app.$APP_SEQ.log
    spawn "$APP_LOG" "$APP" --listen=127.0.0.1:0 "$@"
    APP_PID=$HS_PID
    APP_URL=$(wait_listening "$APP_LOG" "$APP_PID")
    APP_URL=${APP_URL%/}
    if [[ -z $APP_URL ]]; then
        fail "demo app ($*) did not start; its log:"
        sed 's/^/    /' "$APP_LOG"
        finish
    fi
}

# json FILE EXPR: a Python expression on the JSON document d.
json() { /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
stats() { hcurl -o "$HS_TMP/stats.json" "$APP_URL/stats" && json "$HS_TMP/stats.json" "$1"; }

STATSD_FILE=$HS_TMP/statsd.txt
start_receiver "$STATSD_FILE" "$HS_TMP/receiver.port"
RECV=127.0.0.1:$(cat "$HS_TMP/receiver.port")
printf 's3cret-token\n' >"$HS_TMP/token"

# --- basics, validation, headers, admin --------------------------------------------------
start_app --statsd="$RECV" --service=shop --admin-token-file="$HS_TMP/token"
check_eq "GET /-/healthy is 200" 200 "$(http_code "$APP_URL/-/healthy")"
code=$(http_get "$HS_TMP/item.json" "$APP_URL/api/items/42" -D "$HS_TMP/item.headers")
check_eq "a valid id answers 200" 200 "$code"
check_eq "... with the item as JSON" 42 "$(json "$HS_TMP/item.json" 'd["id"]')"
for h in 'X-Content-Type-Options: nosniff' 'X-Frame-Options: DENY' \
    "Content-Security-Policy: default-src 'none'" 'Cache-Control: no-store' \
    'Referrer-Policy: no-referrer' 'Content-Type: application/json' 'X-RateLimit-Limit: 1000' \
    'X-RateLimit-Remaining: ' 'X-RateLimit-Reset: '; do
    check "... header '$h'" grep -qiF "$h" "$HS_TMP/item.headers"
done
check_eq "the second request for it answers 200" 200 "$(http_code "$APP_URL/api/items/42")"
check_eq "... from the cache (/stats cache.hits)" 1 "$(stats 'd["cache"]["hits"]')"
check_eq "... one miss, one backend call" "1 1" "$(stats 'd["cache"]["misses"], d["backend"]["calls"]' | tr -d '(),')"
check_eq "9 digits is valid" 200 "$(http_code "$APP_URL/api/items/123456789")"
for bad in abc 12a 1234567890 '' '%2e%2e%2fetc' '../../etc/passwd' '1/2' '-1'; do
    check_eq "id '$bad' answers 400" 400 "$(http_code "$APP_URL/api/items/$bad" --path-as-is)"
done
code=$(http_get "$HS_TMP/bad.json" "$APP_URL/api/items/x" -D "$HS_TMP/bad.headers")
check_eq "... with a JSON error" error "$(json "$HS_TMP/bad.json" 'd["status"]')"
check "... and the security headers" grep -qi 'X-Frame-Options: DENY' "$HS_TMP/bad.headers"
check_eq "an unknown path answers 404" 404 "$(http_code "$APP_URL/nope")"
check_eq "POST on an item answers 405" 405 "$(http_code "$APP_URL/api/items/1" -X POST)"
check_eq "DELETE /stats answers 405" 405 "$(http_code "$APP_URL/stats" -X DELETE)"
check_eq "/stats counts answers by code" 3 "$(stats 'd["requests"]["200"]')"

AUTH=(-H 'Authorization: Bearer s3cret-token')
check_eq "admin without a token: 401" 401 "$(http_code "$APP_URL/admin/limits")"
check_eq "admin with a wrong token: 401" 401 "$(http_code "$APP_URL/admin/limits" -H 'Authorization: Bearer nope')"
http_get "$HS_TMP/limits.json" "$APP_URL/admin/limits" "${AUTH[@]}" >/dev/null
check_eq "GET /admin/limits" "64 30" "$(json "$HS_TMP/limits.json" 'd["concurrency"], d["cache_ttl_seconds"]' | tr -d '(),')"
code=$(http_get "$HS_TMP/limits.json" "$APP_URL/admin/limits" "${AUTH[@]}" -d '{"concurrency": 7, "cache_ttl_seconds": 5}')
check_eq "POST /admin/limits answers 200" 200 "$code"
check_eq "... with the new values" "7 5" "$(json "$HS_TMP/limits.json" 'd["concurrency"], d["cache_ttl_seconds"]' | tr -d '(),')"
check_eq "... and /stats shows them" "7 5" "$(stats 'd["concurrency_limit"], d["cache"]["ttl_seconds"]' | tr -d '(),')"
for body in '{"concurrency": ' '[1]' '{"concurrency": 0}' '{"concurrency": "9"}' '{"other": 1}' '{}'; do
    check_eq "POST /admin/limits '$body' answers 400" 400 "$(http_code "$APP_URL/admin/limits" "${AUTH[@]}" -d "$body")"
done
check_eq "... and changes nothing" 7 "$(stats 'd["concurrency_limit"]')"
http_get "$HS_TMP/backend.json" "$APP_URL/admin/backend" "${AUTH[@]}" >/dev/null
check_eq "GET /admin/backend: the latency and workers" "0.02 4" "$(json "$HS_TMP/backend.json" 'd["latency_seconds"], d["workers"]' | tr -d '(),')"
check_eq "... needs the token" 401 "$(http_code "$APP_URL/admin/backend")"
code=$(http_get "$HS_TMP/backend.json" "$APP_URL/admin/backend" "${AUTH[@]}" -d '{"latency_seconds": 0.3}')
check_eq "POST /admin/backend latency_seconds 0.3 answers 200" 200 "$code"
check_eq "... with the new latency" 0.3 "$(json "$HS_TMP/backend.json" 'd["latency_seconds"]')"
check_eq "... and /stats shows it" 0.3 "$(stats 'd["backend"]["latency_seconds"]')"
t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 10 "$APP_URL/api/items/4242")
check "... a miss now takes at least 0.3 x 0.75 s ($t s)" awk -v t="$t" 'BEGIN { exit !(t >= 0.225) }'
for body in '{"latency_seconds": -1}' '{"latency_seconds": 61}' '{"latency_seconds": "1"}' \
    '{"latency": 1}' '{}' '[0.1]'; do
    check_eq "POST /admin/backend '$body' answers 400" 400 "$(http_code "$APP_URL/admin/backend" "${AUTH[@]}" -d "$body")"
done
check_eq "... and changes nothing" 0.3 "$(stats 'd["backend"]["latency_seconds"]')"
check_eq "DELETE /admin/backend answers 405" 405 "$(http_code "$APP_URL/admin/backend" "${AUTH[@]}" -X DELETE)"
check_eq "POST /admin/backend back to 0.02" 200 "$(http_code "$APP_URL/admin/backend" "${AUTH[@]}" -d '{"latency_seconds": 0.02}')"
check_eq "POST /admin/breaker open" 200 "$(http_code "$APP_URL/admin/breaker" "${AUTH[@]}" -d '{"state":"open"}')"
check_eq "... /stats breaker forced open" "open open" "$(stats 'd["breaker"]["state"], d["breaker"]["forced"]' | tr -d "(),'")"
check_eq "... an uncached item answers 503" 503 "$(http_code "$APP_URL/api/items/77")"
check_eq "... a cached one still 200" 200 "$(http_code "$APP_URL/api/items/42")"
check_eq "POST /admin/breaker closed" 200 "$(http_code "$APP_URL/admin/breaker" "${AUTH[@]}" -d '{"state":"closed"}')"
check_eq "... /stats" "closed closed" "$(stats 'd["breaker"]["state"], d["breaker"]["forced"]' | tr -d "(),'")"
check_eq "POST /admin/breaker auto" 200 "$(http_code "$APP_URL/admin/breaker" "${AUTH[@]}" -d '{"state":"auto"}')"
check_eq "... /stats" "closed auto" "$(stats 'd["breaker"]["state"], d["breaker"]["forced"]' | tr -d "(),'")"
check_eq "POST /admin/breaker bad state: 400" 400 "$(http_code "$APP_URL/admin/breaker" "${AUTH[@]}" -d '{"state":"ajar"}')"
check_eq "POST /admin/breaker bad JSON: 400" 400 "$(http_code "$APP_URL/admin/breaker" "${AUTH[@]}" -d 'nope')"
check "StatsD: the forced transitions" wait_until 3 grep -qx 'shop.breaker.backend.transition.closed.open:1|c' "$STATSD_FILE"
check "StatsD: open -> closed" wait_until 3 grep -qx 'shop.breaker.backend.transition.open.closed:1|c' "$STATSD_FILE"
for re in 'shop\.request\.duration:[0-9.]+\|ms' 'shop\.request\.success:1\|c' \
    'shop\.request\.failure:1\|c' 'shop\.cache\.items\.hit:1\|c' 'shop\.cache\.items\.miss:1\|c' \
    'shop\.cache\.items\.size:[0-9]+\|g' 'shop\.breaker\.backend\.state:[012]\|g'; do
    check "StatsD line /$re/" wait_until 3 grep -qE "^$re\$" "$STATSD_FILE"
done
check "every StatsD line has one of the brief's names" bash -c "! grep -v '^DGRAM' '$STATSD_FILE' | grep -vE '^shop\.(request\.(duration:[0-9.]+\|ms|success:1\|c|failure:1\|c|rejected:1\|c)|cache\.items\.(hit:1\|c|miss:1\|c|size:[0-9]+\|g)|breaker\.backend\.(state:[012]\|g|transition\.(closed|open|half_open)\.(closed|open|half_open):1\|c))\$'"
check "every datagram is at most 1400 bytes" bash -c "! awk '/^DGRAM/ && \$2 > 1400' '$STATSD_FILE' | grep -q ."
stop_process "$APP_PID" 10
check_eq "SIGTERM: exit status 0" 0 "$HS_STATUS"

# --- rate limit ---------------------------------------------------------------------------
start_app --statsd= --rate-limit=2
http_code "$APP_URL/api/items/1" >/dev/null
http_code "$APP_URL/api/items/1" >/dev/null
code=$(http_get "$HS_TMP/rl.json" "$APP_URL/api/items/1" -D "$HS_TMP/rl.headers")
check_eq "over --rate-limit=2: 429" 429 "$code"
for h in 'X-RateLimit-Limit: 2' 'X-RateLimit-Remaining: 0' 'X-RateLimit-Reset: ' 'Retry-After: '; do
    check "... header '$h'" grep -qiF "$h" "$HS_TMP/rl.headers"
done
stop_process "$APP_PID"

# --- concurrency limit --------------------------------------------------------------------
start_app --statsd="$RECV" --service=conc --concurrency=2 --backend-workers=1 --backend-latency=400ms \
    --admin-token-file="$HS_TMP/token"
for i in 1 2 3 4 5 6; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 "$APP_URL/api/items/$i" >"$HS_TMP/conc.$i" &
done
wait_until 20 bash -c "test \$(cat '$HS_TMP'/conc.* | wc -l) -eq 6" || true
n503=$(cat "$HS_TMP"/conc.* | grep -c 503 || true)
n200=$(cat "$HS_TMP"/conc.* | grep -c 200 || true)
check "--concurrency=2 with 6 parallel slow requests: some 503 ($n503)" test "$n503" -ge 1
check "... and at most 2 served at once, so at least 2 served ($n200)" test "$n200" -ge 2
check "... shedding is counted as rejected in StatsD" wait_until 3 grep -qx 'conc.request.rejected:1|c' "$STATSD_FILE"
check "... not as a failure" bash -c "! grep -q '^conc.request.failure' '$STATSD_FILE'"
# Admission comes after the cache: with both slots held by slow misses, a hit is served.
wait_until 20 bash -c "test \"\$(curl -s '$APP_URL/stats' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"in_flight\"])')\" = 0" || true
check_eq "item 1 is cached" 200 "$(http_code "$APP_URL/api/items/1")"
http_code "$APP_URL/admin/backend" "${AUTH[@]}" -d '{"latency_seconds": 3}' >/dev/null
for i in 11 12; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 "$APP_URL/api/items/$i" >"$HS_TMP/full.$i" &
done
check "two slow misses hold both slots (/stats in_flight 2)" wait_until 5 bash -c "test \"\$(curl -s '$APP_URL/stats' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"in_flight\"])')\" = 2"
check_eq "... a third miss is shed (503)" 503 "$(http_code "$APP_URL/api/items/13")"
check_eq "... a cached item is served all the same (200)" 200 "$(http_code "$APP_URL/api/items/1")"
wait_until 20 bash -c "test \$(cat '$HS_TMP'/full.* | wc -l) -eq 2" || true
check_eq "... and the two misses were served" "200 200" "$(cat "$HS_TMP"/full.* | tr '\n' ' ' | sed 's/ $//')"
stop_process "$APP_PID"

# --- circuit breaker ----------------------------------------------------------------------
start_app --statsd="$RECV" --service=brk --backend-failure-ratio=1 --breaker-failures=3 \
    --breaker-recovery=1s --backend-latency=1ms
codes=""
for i in 1 2 3 4 5; do codes+="$(http_code "$APP_URL/api/items/$i") "; done
check_eq "--backend-failure-ratio=1: 3 failures (502) then the breaker answers 503" \
    "502 502 502 503 503 " "$codes"
check_eq "... /stats breaker open" open "$(stats 'd["breaker"]["state"]')"
check_eq "... the backend was called 3 times" 3 "$(stats 'd["backend"]["calls"]')"
check "... HALF_OPEN after the recovery time" wait_until 5 bash -c "test \"\$(curl -s '$APP_URL/stats' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"breaker\"][\"state\"])')\" = half_open"
check_eq "... the trial call fails (502)" 502 "$(http_code "$APP_URL/api/items/9")"
check_eq "... and the breaker is open again" open "$(stats 'd["breaker"]["state"]')"
check "StatsD: brk closed -> open" wait_until 3 grep -qx 'brk.breaker.backend.transition.closed.open:1|c' "$STATSD_FILE"
check "StatsD: brk open -> half_open" wait_until 3 grep -qx 'brk.breaker.backend.transition.open.half_open:1|c' "$STATSD_FILE"
check "StatsD: brk half_open -> open" wait_until 3 grep -qx 'brk.breaker.backend.transition.half_open.open:1|c' "$STATSD_FILE"
check "StatsD: brk state 1 (open)" wait_until 3 grep -qx 'brk.breaker.backend.state:1|g' "$STATSD_FILE"
check "StatsD: brk failures" wait_until 3 grep -qx 'brk.request.failure:1|c' "$STATSD_FILE"
check_eq "admin without --admin-token-file: 403" 403 "$(http_code "$APP_URL/admin/limits" "${AUTH[@]}")"
check_eq "... POST too" 403 "$(http_code "$APP_URL/admin/breaker" "${AUTH[@]}" -d '{"state":"open"}')"
stop_process "$APP_PID"

# --- overload: one worker, requests queue -------------------------------------------------
start_app --statsd= --backend-workers=1 --backend-latency=50ms
for i in $(seq 1 20); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$APP_URL/api/items/$((100 + i))" >"$HS_TMP/ov.$i" &
done
maxq=0
for _ in $(seq 1 100); do
    q=$(stats 'd["backend"]["queue"]' 2>/dev/null || echo 0)
    ((q > maxq)) && maxq=$q
    (($(cat "$HS_TMP"/ov.* 2>/dev/null | wc -l) == 20)) && break
    sleep 0.02
done
wait_until 30 bash -c "test \$(cat '$HS_TMP'/ov.* | wc -l) -eq 20" || true
check "20 parallel requests on 1 worker queue up (max queue seen in /stats: $maxq)" test "$maxq" -ge 5
check_eq "... all answered 200 in the end" 20 "$(cat "$HS_TMP"/ov.* | grep -c 200 || true)"
check_eq "... 20 backend calls, queue empty" "20 0" "$(stats 'd["backend"]["calls"], d["backend"]["queue"]' | tr -d '(),')"
stop_process "$APP_PID"
check_eq "SIGTERM after load: exit 0" 0 "$HS_STATUS"

# --- through the real exporter: the conventions -----------------------------------------
start_exporter --no-collector.cpu || finish
start_app --statsd="$EXPORTER_STATSD_ADDR" --service=demo --backend-failure-ratio=0 --backend-latency=1ms
for i in 1 2 2 3; do http_code "$APP_URL/api/items/$i" >/dev/null; done
stop_process "$APP_PID"
start_app --statsd="$EXPORTER_STATSD_ADDR" --service=demo --backend-failure-ratio=1 \
    --breaker-failures=1 --backend-latency=1ms
for i in 5 6; do http_code "$APP_URL/api/items/$i" >/dev/null; done
has_metrics() {
    local m
    m=$(hcurl "$EXPORTER_URL") || return 1
    grep -q '^app_request_duration_seconds_bucket{.*service="demo"' <<<"$m" &&
        grep -q '^app_requests_total{.*result="success".*} [1-9]' <<<"$m" &&
        grep -q '^app_requests_total{.*result="failure".*} [1-9]' <<<"$m" &&
        grep -q '^app_cache_requests_total{.*result="hit".*} [1-9]' <<<"$m" &&
        grep -q '^app_cache_entries{' <<<"$m" &&
        grep -q '^app_breaker_state{.*state="open".*} 1' <<<"$m" &&
        grep -q '^app_breaker_transitions_total{.*from="closed".*to="open".*} 1' <<<"$m"
}
check "the exporter shows app_request_duration_seconds, app_requests_total{result}, app_cache_requests_total, app_cache_entries, app_breaker_state, app_breaker_transitions_total" \
    wait_until 5 has_metrics
if ! has_metrics; then hcurl "$EXPORTER_URL" | grep '^app_' | sed 's/^/    /'; fi
stop_process "$APP_PID"
check_eq "SIGTERM: exit 0" 0 "$HS_STATUS"
finish

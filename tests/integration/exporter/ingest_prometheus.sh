#!/usr/bin/env bash
# ingest_prometheus: the StatsD ingest path end to end. The exporter listens on UDP
# (127.0.0.1:0) and a unix datagram socket; real datagrams and HTTP pushes (text and
# JSON) carry known values; the exporter's /metrics must count them exactly, and the
# real Prometheus (1 s scrape) must see exact counters, one-hot breaker states and
# histogram_quantile over the ingested latencies within the containing bucket. Then a
# garbage flood (random bytes, collisions) must leave /metrics valid for promtool,
# SIGHUP and POST /-/reload must keep the old mapping on an invalid file, and
# --check-config must exit 0/1 with file:line:col errors; a stopped exporter's
# kernel drops and an oversized datagram are counted. About 15 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus promtool curl /usr/bin/python3

# ---- helpers --------------------------------------------------------------------------

# send.py MODE TARGET [FILE|ARGS]: MODE udp (TARGET host:port) or unix (TARGET path).
#   lines FILE   packs the lines of FILE into datagrams of at most 1400 bytes (a longer
#                line goes alone); prints the number of datagrams
#   each FILE    one datagram per line
#   garbage N SEED   N datagrams of random bytes, random StatsD-like text and collisions
cat >"$HS_TMP/send.py" <<'EOF'
import os, random, socket, sys

mode, kind, target = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "udp":
    host, port = target.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dest = (host, int(port))
else:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dest = target

sent = 0
def send(b):
    global sent
    sock.sendto(b, dest)
    sent += 1

if kind == "lines":
    batch = b""
    for line in open(sys.argv[4], "rb").read().split(b"\n"):
        if not line:
            continue
        if batch and len(batch) + 1 + len(line) > 1400:
            send(batch)
            batch = b""
        batch = batch + b"\n" + line if batch else line
    if batch:
        send(batch)
elif kind == "each":
    for line in open(sys.argv[4], "rb").read().split(b"\n"):
        if line:
            send(line)
elif kind == "garbage":
    n, seed = int(sys.argv[4]), int(sys.argv[5])
    rnd = random.Random(seed)
    chars = b"abcdefxyzABC_.-/0123456789:|#@,+e \t\r"
    types = [b"c", b"g", b"ms", b"h", b"d", b"s", b"x"]
    for i in range(n):
        k = i % 3
        if k == 0:
            send(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 1400))))
        elif k == 1:
            lines = []
            for _ in range(rnd.randint(1, 30)):
                name = bytes(rnd.choice(chars) for _ in range(rnd.randint(1, 20)))
                line = b"garbage." + name + b":" + str(rnd.randint(-50, 5000)).encode() + b"|" + rnd.choice(types)
                if rnd.random() < 0.3:
                    line += b"|@" + str(rnd.random()).encode()
                if rnd.random() < 0.3:
                    line += b"|#" + bytes(rnd.choice(chars) for _ in range(rnd.randint(1, 12)))
                lines.append(line)
            send(b"\n".join(lines))
        else:
            send(rnd.choice([b"app_requests_total:1|g", b"homeostat_ingest_series:1|g",
                             b"process_cpu_seconds_total:1|c", b"app_cache_entries:1|c",
                             b"app_request_duration_seconds_bucket:1|g",
                             b"flood.labels:1|c|#k" + str(rnd.randint(0, 40)).encode() + b":v",
                             b"\xff\xfe\xfd:1|c", b"ok.name:1|c|#v:\xc3\x28"]))
print(sent)
EOF
send() { /usr/bin/python3 "$HS_TMP/send.py" "$@"; }

# metric FILE SERIES: the value of SERIES in the exposition saved in FILE (empty if none).
metric() { awk -v s="$2" '$1 == s { print $2; exit }' "$1"; }

scrape() { http_get "$HS_TMP/metrics.prom" "$EXPORTER_URL" >/dev/null; }

# metric_now SERIES: its value in a fresh scrape of the exporter.
metric_now() {
    scrape
    metric "$HS_TMP/metrics.prom" "$1"
}

# metric_is SERIES VALUE: a fresh scrape shows exactly VALUE.
metric_is() { [[ $(metric_now "$1") == "$2" ]]; }

# check_metric MSG SERIES VALUE [SECONDS]: wait up to SECONDS (5) for the exporter to show
# exactly VALUE for SERIES.
check_metric() {
    local msg=$1 series=$2 want=$3 secs=${4:-5}
    if wait_until "$secs" metric_is "$series" "$want"; then
        pass "$msg: $series = $want"
    else
        fail "$msg: $series = '$(metric "$HS_TMP/metrics.prom" "$series")', expected $want"
    fi
}

# num_test EXPR OP VALUE: a float comparison of the first sample of a PromQL query.
# shellcheck disable=SC2317 # called through wait_until
num_test() {
    local v
    v=$(prom_values "$1" 2>/dev/null | head -n1)
    [[ -n $v ]] && /usr/bin/python3 -c "import sys; v = float(sys.argv[1]); sys.exit(0 if v $2 float(sys.argv[2]) else 1)" "$v" "$3"
}

# expect EXPR OP VALUE MESSAGE [SECONDS]: wait (10 s) for the PromQL comparison; one check.
expect() {
    local expr=$1 op=$2 want=$3 msg=$4 secs=${5:-10}
    if wait_until "$secs" num_test "$expr" "$op" "$want"; then
        pass "$msg: $expr = $(prom_values "$expr" | head -n1)"
    else
        fail "$msg: $expr $op $want does not hold after ${secs} s; got: $(prom_query "$expr" | head -c 400)"
    fi
}

# push FILE CONTENT_TYPE BODY_FILE: POST to /api/v1/push; the reply in FILE; prints the code.
push() {
    curl -s -o "$1" -w '%{http_code}' --max-time 10 -H "Content-Type: $2" \
        --data-binary "@$3" "$EXPORTER_BASE/api/v1/push" || true
}

# json_get FILE PYEXPR: evaluates PYEXPR on the JSON in FILE (bound to r) and prints it.
json_get() {
    /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || echo "(unreadable reply: $(head -c 200 "$1"))"
}

# ---- the exporter and Prometheus ------------------------------------------------------

cat >"$HS_TMP/mapping.yaml" <<'EOF'
mappings:
  - match: "legacy.*.hits"
    match_metric_type: counter
    name: legacy_hits_total
    labels: {svc: "$1"}
EOF
sock=$HS_TMP/statsd.sock
start_exporter --collector.disable-defaults --statsd.listen-udp=127.0.0.1:0 \
    --statsd.listen-unixgram="$sock" --statsd.mapping-config="$HS_TMP/mapping.yaml" \
    --web.enable-lifecycle
udp=$(grep -m1 -o 'statsd: listening on udp 127\.0\.0\.1:[0-9]*' "$EXPORTER_LOG" | sed 's/.* udp //')
check "the exporter logs the UDP port it chose ($udp)" test -n "$udp"
check "the unix datagram socket exists" test -S "$sock"

cat >"$HS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: homeostat
    metrics_path: /metrics
    static_configs:
      - targets: ['$EXPORTER_ADDR']
EOF
start_prometheus "$HS_TMP/prometheus.yml"

# ---- known values over UDP ------------------------------------------------------------

# 1000 request durations of 1..1000 ms: 1..500 over UDP (five values a line), 501..800
# over the unix socket, 801..1000 pushed as text. The true p50 is 0.5 s, the p95 0.95 s.
{
    for ((i = 1; i <= 500; i += 5)); do
        echo "checkout.request.duration:$i:$((i + 1)):$((i + 2)):$((i + 3)):$((i + 4))|ms"
    done
    for ((i = 0; i < 1000; i++)); do echo "checkout.request.success:1|c"; done
    echo "checkout.request.success:10|c|@0.1"
    echo "checkout.request.success:10|c|@0.1"
    echo "checkout.request.failure:3|c"
    echo "checkout.request.failure:4|c|#ignored"
    echo "checkout.breaker.payments.transition.closed.open:1|c"
    echo "checkout.breaker.payments.transition.open.half_open:1|c"
    echo "checkout.breaker.payments.transition.half_open.closed:1|c"
    # rejected lines, each counted under its reason
    printf '%s\n' "bad.value:abc|c" "bad.value:1x|ms" "neg.counter:-1|c" "multi.bad:1:2:zz|ms" \
        "empty.value:|g" "nan.value:nan|g" "hex.value:0x10|g"
    printf '%s\n' "no_colon_or_bar" "missing.bar:1" ":1|c"
    printf '%s\n' "users.unique:42|s" "users.unique:bob|s"
    echo "rate.bad:1|c|@2"
    printf 'too.long:1|c|#k:%05000d\n' 0
} >"$HS_TMP/udp.txt"
udp_accepted=1107
n=$(send udp lines "$udp" "$HS_TMP/udp.txt")
check_metric "UDP lines accepted ($n datagrams)" \
    'homeostat_ingest_lines_total{protocol="udp",result="accepted"}' $udp_accepted
check_metric "UDP datagrams counted" 'homeostat_ingest_packets_total{protocol="udp"}' "$n"
scrape
m=$HS_TMP/metrics.prom
for want in bad_value:7 malformed:3 set_unsupported:2 bad_sample_rate:1 too_long:1; do
    check_eq "homeostat_ingest_lines_total{protocol=\"udp\",result=\"${want%%:*}\"}" "${want#*:}" \
        "$(metric "$m" "homeostat_ingest_lines_total{protocol=\"udp\",result=\"${want%%:*}\"}")"
done
check_eq "no UDP datagram was dropped by the kernel" 0 \
    "$(metric "$m" 'homeostat_ingest_packets_dropped_total{protocol="udp",reason="kernel"}')"
check_eq "sampled counters count 1/rate: 1000 + 2 x 10/0.1" 1200 \
    "$(metric "$m" 'app_requests_total{result="success",service="checkout"}')"

# ---- known values over the unix datagram socket ---------------------------------------

{
    for ((i = 501; i <= 800; i++)); do echo "checkout.request.duration:$i|ms"; done
    for ((i = 0; i < 9; i++)); do echo "checkout.cache.users.hit:1:1:1:1:1:1:1:1:1:1|c"; done
    for ((i = 0; i < 10; i++)); do echo "checkout.cache.users.miss:1|c"; done
    printf '%s\n' "checkout.cache.users.size:40|g" "checkout.cache.users.size:+5|g" \
        "checkout.cache.users.size:-3|g"
} >"$HS_TMP/unix.txt"
n=$(send unix lines "$sock" "$HS_TMP/unix.txt")
check_metric "unixgram lines accepted ($n datagrams)" \
    'homeostat_ingest_lines_total{protocol="unixgram",result="accepted"}' 322
check_metric "cache hits" 'app_cache_requests_total{cache="users",result="hit",service="checkout"}' 90
check_metric "cache misses" \
    'app_cache_requests_total{cache="users",result="miss",service="checkout"}' 10
check_metric "cache size 40 +5 -3" 'app_cache_entries{cache="users",service="checkout"}' 42

# A datagram larger than the 64 KiB read buffer: cut, counted, and only its whole lines
# kept: 7000 lines of 15 bytes, of which the first 65536 bytes hold 4369.
/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"trunc.test:1|c\n" * 7000, sys.argv[1])' "$sock"
check_metric "an oversized unix datagram is counted as truncated" \
    'homeostat_ingest_packets_dropped_total{protocol="unixgram",reason="truncated"}' 1
check_metric "... and its whole lines are kept" 'trunc_test_total' 4369

# ---- HTTP pushes ------------------------------------------------------------------------

for ((i = 801; i <= 1000; i++)); do echo "checkout.request.duration:$i|ms"; done >"$HS_TMP/push-ok.txt"
code=$(push "$HS_TMP/reply.json" text/plain "$HS_TMP/push-ok.txt")
check_eq "a clean text push answers 200" 200 "$code"
check_eq "... and says so" "success 200 0" \
    "$(json_get "$HS_TMP/reply.json" '"%s %d %d" % (r["status"], r["accepted"], r["rejected_count"])')"

printf 'checkout.request.success:30|c\nnot a line\n\ncheckout.request.success:4|c|@2\nusers:1|s\r\n' \
    >"$HS_TMP/push-mixed.txt"
code=$(push "$HS_TMP/reply.json" text/plain "$HS_TMP/push-mixed.txt")
check_eq "a text push with rejected lines answers 422" 422 "$code"
check_eq "... listing each rejected line and why" \
    "1 3 [(2, 'malformed'), (4, 'bad_sample_rate'), (5, 'set_unsupported')]" \
    "$(json_get "$HS_TMP/reply.json" '"%d %d %s" % (r["accepted"], r["rejected_count"], [(x["line"], x["reason"]) for x in r["rejected"]])')"
check_eq "... quoting the line" "not a line" \
    "$(json_get "$HS_TMP/reply.json" 'r["rejected"][0]["text"]')"

cat >"$HS_TMP/push.json" <<'EOF'
[{"name": "checkout.request.success", "type": "counter", "value": 4},
 {"name": "jobs.done", "type": "c", "value": 3, "labels": {"queue": "a,b"}},
 {"name": "x", "type": "s", "value": 1},
 {"name": "x", "type": "c", "value": "1"},
 {"name": "neg", "type": "c", "value": -1},
 {"name": "", "type": "c", "value": 1}]
EOF
code=$(push "$HS_TMP/reply.json" application/json "$HS_TMP/push.json")
check_eq "a JSON push with rejected items answers 422" 422 "$code"
check_eq "... listing each rejected item and why" \
    "2 4 [(3, 'bad_type'), (4, 'bad_value'), (5, 'bad_value'), (6, 'malformed')]" \
    "$(json_get "$HS_TMP/reply.json" '"%d %d %s" % (r["accepted"], r["rejected_count"], [(x["line"], x["reason"]) for x in r["rejected"]])')"
check_metric "a JSON label value may hold a comma" 'jobs_done_total{queue="a,b"}' 3

# Regression: a JSON item the store drops (here bad_name: a name with no letter or digit) is
# counted twice, in homeostat_ingest_lines_total{protocol="http_json",result="bad_name"}
# and in homeostat_ingest_dropped_total{reason="bad_name"} ("events of accepted lines");
# a text line is counted once (accepted line, dropped event).
scrape
jl0=$(metric "$m" 'homeostat_ingest_lines_total{protocol="http_json",result="bad_name"}')
jd0=$(metric "$m" 'homeostat_ingest_dropped_total{reason="bad_name"}')
echo '[{"name": "-", "type": "c", "value": 1}]' >"$HS_TMP/push-9.json"
code=$(push "$HS_TMP/reply.json" application/json "$HS_TMP/push-9.json")
scrape
jl1=$(metric "$m" 'homeostat_ingest_lines_total{protocol="http_json",result="bad_name"}')
jd1=$(metric "$m" 'homeostat_ingest_dropped_total{reason="bad_name"}')
check_eq "a JSON item the store drops is counted once (lines or dropped, not both)" \
    "422 1" "$code $(( ${jl1:-0} - ${jl0:-0} + ${jd1:-0} - ${jd0:-0} ))"

echo '{"name": "x", "type": "c", "value": 1}' >"$HS_TMP/push-object.json"
check_eq "a JSON body that is not an array answers 400" 400 \
    "$(push "$HS_TMP/reply.json" application/json "$HS_TMP/push-object.json")"
check_eq "broken JSON answers 400" 400 \
    "$(push "$HS_TMP/reply.json" application/json "$HS_TMP/push-mixed.txt")"
check_eq "another content type answers 415" 415 \
    "$(push "$HS_TMP/reply.json" image/png "$HS_TMP/push-ok.txt")"
check_eq "GET answers 405" 405 "$(http_code "$EXPORTER_BASE/api/v1/push")"
head -c $((4 << 20)) /dev/zero | tr '\0' 'a' >"$HS_TMP/push-big.txt" # over the 1 MiB limit
check_eq "a 4 MiB body is over the size limit: 413" 413 \
    "$(push "$HS_TMP/reply.json" text/plain "$HS_TMP/push-big.txt")"

# Regression (fixed): a rejected line is quoted cut to 120 bytes; a cut inside a UTF-8 character makes
# json_dumps refuse the whole reply, and the client gets 422 with an empty body.
{
    printf 'a%.0s' {1..119}
    printf '\xc3\xa9 not a statsd line\n'
} >"$HS_TMP/push-utf8.txt"
code=$(push "$HS_TMP/reply.json" text/plain "$HS_TMP/push-utf8.txt")
check_eq "a rejected line cut inside a UTF-8 character still gets a JSON reply" \
    "422 malformed" "$code $(json_get "$HS_TMP/reply.json" 'r["rejected"][0]["reason"]')"

scrape
check_eq "text push lines accepted" 201 \
    "$(metric "$m" 'homeostat_ingest_lines_total{protocol="http_text",result="accepted"}')"
# 2 items taken, plus the "9lives" item: an accepted line whose event the store
# dropped (counted in homeostat_ingest_dropped_total), as for a text line.
check_eq "JSON push items accepted" 3 \
    "$(metric "$m" 'homeostat_ingest_lines_total{protocol="http_json",result="accepted"}')"
check_eq "every request duration arrived once" 1000 \
    "$(metric "$m" 'app_request_duration_seconds_count{service="checkout"}')"
for want in 0.005:5 0.01:10 0.025:25 0.05:50 0.1:100 0.25:250 0.5:500 1:1000 10:1000 +Inf:1000; do
    check_eq "duration bucket le=${want%%:*}" "${want#*:}" \
        "$(metric "$m" "app_request_duration_seconds_bucket{service=\"checkout\",le=\"${want%%:*}\"}")"
done
sum=$(metric "$m" 'app_request_duration_seconds_sum{service="checkout"}')
check "the duration sum is 500.5 s ($sum)" /usr/bin/python3 -c "import sys; sys.exit(abs(float('$sum') - 500.5) > 1e-6)"
check_eq "successes: 1200 over UDP + 30 text + 4 JSON" 1234 \
    "$(metric "$m" 'app_requests_total{result="success",service="checkout"}')"
check_eq "failures (a valueless tag is skipped)" 7 \
    "$(metric "$m" 'app_requests_total{result="failure",service="checkout"}')"

# ---- what Prometheus sees ---------------------------------------------------------------

expect 'up{job="homeostat"}' == 1 "Prometheus scrapes the exporter" 20
expect 'app_requests_total{result="success",service="checkout"}' == 1234 "successes, exact"
expect 'app_requests_total{result="failure",service="checkout"}' == 7 "failures, exact"
expect 'app_cache_requests_total{cache="users",result="hit"}' == 90 "cache hits, exact"
expect 'app_cache_requests_total{cache="users",result="miss"}' == 10 "cache misses, exact"
expect 'app_cache_entries{cache="users"}' == 42 "cache entries, exact"
expect 'app_breaker_transitions_total{from="closed",to="open"}' == 1 "breaker transitions"
expect 'homeostat_ingest_lines_total{protocol="udp",result="bad_value"}' == 7 \
    "malformed values counted"
expect 'app_request_duration_seconds_count{service="checkout"}' == 1000 "durations counted"
# histogram_quantile on the raw cumulative buckets; the estimate must lie in the bucket
# that holds the true quantile: p50 = 0.5 s in (0.25, 0.5], p95 = 0.95 s in (0.5, 1].
# Uniform data interpolates exactly, so it must also be within 5 ms of the truth.
q50='histogram_quantile(0.5, app_request_duration_seconds_bucket{service="checkout"})'
q95='histogram_quantile(0.95, app_request_duration_seconds_bucket{service="checkout"})'
expect "$q50" '>' 0.25 "p50 above its bucket's lower bound"
expect "$q50" '<=' 0.5 "p50 within its bucket's upper bound"
expect "abs($q50 - 0.5)" '<=' 0.005 "p50 close to the true 0.5 s"
expect "$q95" '>' 0.5 "p95 above its bucket's lower bound"
expect "$q95" '<=' 1 "p95 within its bucket's upper bound"
expect "abs($q95 - 0.95)" '<=' 0.005 "p95 close to the true 0.95 s"

# Breaker states: one-hot after each change, exactly.
state_is() { # STATE: that state is 1, the two others 0
    local s v ok=0
    for s in closed open half_open; do
        v=$(prom_values "app_breaker_state{breaker=\"payments\",service=\"checkout\",state=\"$s\"}" 2>/dev/null | head -n1)
        if [[ $s == "$1" ]]; then [[ $v == 1 ]] || ok=1; else [[ $v == 0 ]] || ok=1; fi
    done
    return $ok
}
for step in 1:open 2:half_open 0:closed; do
    echo "checkout.breaker.payments.state:${step%%:*}|g" >"$HS_TMP/state.txt"
    send udp each "$udp" "$HS_TMP/state.txt" >/dev/null
    if wait_until 10 state_is "${step#*:}"; then
        pass "breaker state ${step%%:*} is one-hot ${step#*:} in Prometheus"
    else
        fail "breaker state ${step%%:*}: $(prom_query 'app_breaker_state{breaker="payments"}' | head -c 600)"
    fi
done
expect 'count(app_breaker_state{breaker="payments"})' == 3 "three state series"

# ---- collisions, then a garbage flood; /metrics stays valid -----------------------------

scrape
conflicts0=$(metric "$m" 'homeostat_ingest_dropped_total{reason="conflict"}')
# (the names as sent would be renamed app_requests_total_value and so on: these take the
# names the conventions' families own in OpenMetrics)
printf '%s\n' "app.requests:1|g" "homeostat_ingest_series:3|g" \
    "app.request.duration.seconds:1|c" "app_cache_entries:1|c" "jobs.done:1|c|#other:x" \
    >"$HS_TMP/collide.txt"
send udp lines "$udp" "$HS_TMP/collide.txt" >/dev/null
check_metric "five collisions dropped and counted" \
    'homeostat_ingest_dropped_total{reason="conflict"}' $((conflicts0 + 5))

# read_plus_dropped: UDP datagrams read plus those the kernel dropped, in a fresh scrape.
read_plus_dropped() {
    scrape
    echo $(($(metric "$m" 'homeostat_ingest_packets_total{protocol="udp"}') + $(metric "$m" \
        'homeostat_ingest_packets_dropped_total{protocol="udp",reason="kernel"}')))
}
seen_all() { [[ $(read_plus_dropped) == "$1" ]]; }
total0=$(read_plus_dropped)
n=$(send udp garbage "$udp" 3000 7)
if wait_until 10 seen_all $((total0 + n)); then
    pass "all $n garbage datagrams were read or counted as dropped"
else
    fail "garbage datagrams: read + dropped = $(read_plus_dropped), expected $((total0 + n))"
fi
check "the exporter is still running" hs_alive "$EXPORTER_PID"
scrape
rc=0
promtool check metrics <"$m" >"$HS_TMP/promtool.out" 2>&1 || rc=$?
# Status 3 is lint problems, 1 a parse error: both fail. Names promtool would flag must
# be refused (or made snake_case) by the exporter, whatever was sent.
if [[ $rc == 0 ]]; then
    pass "promtool check metrics accepts /metrics after the flood ($(grep -vc '^#' "$m") samples, $(metric "$m" homeostat_ingest_series) live series)"
else
    fail "promtool check metrics after the flood: status $rc: $(head -c 1000 "$HS_TMP/promtool.out")"
fi
check_eq "the flood did not touch the known counters" 1234 \
    "$(metric "$m" 'app_requests_total{result="success",service="checkout"}')"
check "homeostat_ingest_series shows the live series" \
    test "$(metric "$m" homeostat_ingest_series)" -gt 10

# ---- reloading the mapping --------------------------------------------------------------

echo "legacy.svc1.hits:5|c" >"$HS_TMP/legacy.txt"
send udp each "$udp" "$HS_TMP/legacy.txt" >/dev/null
check_metric "the file's mapping applies" 'legacy_hits_total{svc="svc1"}' 5
check_eq "the first load succeeded" 1 \
    "$(metric "$m" homeostat_exporter_config_last_reload_successful)"

cp "$HS_TMP/mapping.yaml" "$HS_TMP/mapping.good"
printf 'mappings:\n  - match: "legacy.*.hits"\n    nmae: oops\n' >"$HS_TMP/mapping.yaml"
kill -HUP "$EXPORTER_PID"
check_metric "SIGHUP with an invalid file: last_reload_successful 0" \
    homeostat_exporter_config_last_reload_successful 0
check "... and the exporter says why" grep -q 'mapping.yaml:3:5' "$EXPORTER_LOG"
echo "legacy.svc1.hits:1|c" >"$HS_TMP/legacy.txt"
send udp each "$udp" "$HS_TMP/legacy.txt" >/dev/null
check_metric "... and the old mapping still applies" 'legacy_hits_total{svc="svc1"}' 6

cat >"$HS_TMP/mapping.yaml" <<'EOF'
mappings:
  - match: "legacy.*.hits"
    match_metric_type: counter
    name: legacy_requests_total
    labels: {svc: "$1"}
EOF
kill -HUP "$EXPORTER_PID"
check_metric "SIGHUP with a valid file: last_reload_successful 1" \
    homeostat_exporter_config_last_reload_successful 1
echo "legacy.svc1.hits:2|c" >"$HS_TMP/legacy.txt"
send udp each "$udp" "$HS_TMP/legacy.txt" >/dev/null
check_metric "... and the new mapping changes the output" 'legacy_requests_total{svc="svc1"}' 2
check_eq "... while the live series of the old one stays" 6 \
    "$(metric "$m" 'legacy_hits_total{svc="svc1"}')"

printf 'mappings: [\n' >"$HS_TMP/mapping.yaml"
check_eq "POST /-/reload with an invalid file answers 500" 500 \
    "$(http_code "$EXPORTER_BASE/-/reload" -X POST)"
check_metric "... and sets last_reload_successful 0" \
    homeostat_exporter_config_last_reload_successful 0
cp "$HS_TMP/mapping.good" "$HS_TMP/mapping.yaml"
check_eq "POST /-/reload with a valid file answers 200" 200 \
    "$(http_code "$EXPORTER_BASE/-/reload" -X POST)"
check_metric "... and sets it back to 1" homeostat_exporter_config_last_reload_successful 1

# ---- --check-config ---------------------------------------------------------------------

rc=0
out=$("$HOMEOSTAT_EXPORTER" --check-config --statsd.mapping-config="$HS_TMP/mapping.good" 2>&1) || rc=$?
check_eq "--check-config on a valid file exits 0" 0 "$rc"
check "... and says OK ($out)" grep -q 'OK (1 mapping)' <<<"$out"
printf 'mappings:\n  - match: "a.*"\n    nmae: x\n  - match: "b.*"\n    buckets: [2, 1]\n' \
    >"$HS_TMP/invalid.yaml"
rc=0
out=$("$HOMEOSTAT_EXPORTER" --check-config --statsd.mapping-config="$HS_TMP/invalid.yaml" 2>&1) || rc=$?
check_eq "--check-config on an invalid file exits 1" 1 "$rc"
check "... naming file:line:col ($(head -n1 <<<"$out"))" \
    grep -q "^$HS_TMP/invalid.yaml:3:5: " <<<"$out"
check "... for every error" test "$(grep -c "^$HS_TMP/invalid.yaml:[0-9]*:[0-9]*: " <<<"$out")" -ge 2

# ---- datagrams the kernel dropped -------------------------------------------------------

# A second exporter with a 64 KiB socket buffer, stopped while 3000 datagrams arrive:
# most are dropped by the kernel. Once it runs again, one more datagram carries the
# SO_RXQ_OVFL count, and read + dropped must account for every datagram sent.
start_exporter --collector.disable-defaults --statsd.listen-udp=127.0.0.1:0 \
    --statsd.read-buffer=65536
udp2=$(grep -m1 -o 'statsd: listening on udp 127\.0\.0\.1:[0-9]*' "$EXPORTER_LOG" | sed 's/.* udp //')
for ((i = 0; i < 3000; i++)); do echo "drop.test:1|c"; done >"$HS_TMP/drop.txt"
kill -STOP "$EXPORTER_PID"
send udp each "$udp2" "$HS_TMP/drop.txt" >/dev/null || true
kill -CONT "$EXPORTER_PID"
sleep 0.5
echo "drop.test:1|c" >"$HS_TMP/one.txt"
send udp each "$udp2" "$HS_TMP/one.txt" >/dev/null
read_and_dropped() {
    scrape
    local r k
    r=$(metric "$m" 'homeostat_ingest_packets_total{protocol="udp"}')
    k=$(metric "$m" 'homeostat_ingest_packets_dropped_total{protocol="udp",reason="kernel"}')
    [[ -n $r && -n $k ]] && (( r + k == 3001 ))
}
if wait_until 5 read_and_dropped; then
    pass "read $(metric "$m" 'homeostat_ingest_packets_total{protocol="udp"}') + dropped by the kernel $(metric "$m" 'homeostat_ingest_packets_dropped_total{protocol="udp",reason="kernel"}') = 3001 datagrams sent"
else
    fail "read + kernel drops != 3001: read $(metric "$m" 'homeostat_ingest_packets_total{protocol="udp"}'), dropped $(metric "$m" 'homeostat_ingest_packets_dropped_total{protocol="udp",reason="kernel"}')"
fi
check "... and the kernel did drop some" \
    test "$(metric "$m" 'homeostat_ingest_packets_dropped_total{protocol="udp",reason="kernel"}')" -gt 0
check_eq "... and every datagram read was counted once" \
    "$(metric "$m" 'homeostat_ingest_packets_total{protocol="udp"}')" "$(metric "$m" drop_test_total)"

finish

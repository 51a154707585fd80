#!/usr/bin/env bash
# exporter_http: the exporter's HTTP surface, flags, signals and sd_notify, against the real
# binary on a loopback port: endpoints and status codes, content negotiation (text 0.0.4,
# OpenMetrics, gzip), flag errors, SIGTERM, READY=1/STOPPING=1, --no-collector.NAME, and a
# collector failing on a broken procfs without failing the scrape.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool curl gzip /usr/bin/python3 timeout

# The Accept header Prometheus 2.42 sends.
PROM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

# fetch NAME URL [CURL ARGS...]: headers in $HS_TMP/NAME.h, body in $HS_TMP/NAME.b; prints
# the status code (000 when nothing came back).
fetch() {
    local name=$1 url=$2
    shift 2
    curl -s --max-time 10 -D "$HS_TMP/$name.h" -o "$HS_TMP/$name.b" -w '%{http_code}' \
        "$@" "$url" || true
}

# header NAME FIELD: the value of a response header (case-insensitive), CR removed.
header() {
    awk -v f="$(tr '[:upper:]' '[:lower:]' <<<"$2")" '
        { sub(/\r$/, "") }
        tolower(substr($0, 1, index($0, ":") - 1)) == f { sub(/^[^:]*:[ \t]*/, ""); print; exit }
    ' "$HS_TMP/$1.h"
}

# --- endpoints on the defaults -----------------------------------------------------------
start_exporter
check_eq "the log line names /metrics" "$EXPORTER_BASE/metrics" "$EXPORTER_URL"

check_eq "GET /metrics answers 200" 200 "$(fetch plain "$EXPORTER_URL")"
check_eq "... as text 0.0.4" "text/plain; version=0.0.4; charset=utf-8" \
    "$(header plain Content-Type)"
check "... with homeostat_cpu_seconds_total samples" grep -q '^homeostat_cpu_seconds_total{' \
    "$HS_TMP/plain.b"
check "... and no Content-Encoding unless asked" test -z "$(header plain Content-Encoding)"
check "... and no '# EOF' (that is OpenMetrics)" bash -c "! grep -q '^# EOF' '$HS_TMP/plain.b'"

check_eq "GET /-/healthy answers 200" 200 "$(fetch healthy "$EXPORTER_BASE/-/healthy")"
check_eq "GET /-/ready answers 200" 200 "$(fetch ready "$EXPORTER_BASE/-/ready")"
check_eq "GET / answers 200" 200 "$(fetch landing "$EXPORTER_BASE/")"
check "... and links to /metrics" grep -q 'href="/metrics"' "$HS_TMP/landing.b"
check_eq "GET /nope answers 404" 404 "$(fetch nope "$EXPORTER_BASE/nope")"
check_eq "GET /metrics/ (another path) answers 404" 404 "$(fetch slash "$EXPORTER_URL/")"

check_eq "POST /metrics answers 405" 405 "$(fetch post "$EXPORTER_URL" -X POST -d x=1)"
allow=$(header post Allow)
check "... with an Allow header naming GET ($allow)" grep -q 'GET' <<<"$allow"
check_eq "DELETE /-/healthy answers 405" 405 "$(fetch delete "$EXPORTER_BASE/-/healthy" -X DELETE)"

# HEAD over a raw socket: curl --head would not notice a body sent after the headers.
head_reply=$(/usr/bin/python3 - "$EXPORTER_ADDR" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"HEAD /metrics HTTP/1.0\r\nHost: test\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode(), len(body))
EOF
) || head_reply="no reply"
check "HEAD /metrics answers 200 ($head_reply)" grep -q '^HTTP/1\.[01] 200 ' <<<"$head_reply"
check_eq "... with no body" 0 "${head_reply##* }"

# --- negotiation ---------------------------------------------------------------------------
check_eq "GET /metrics with Prometheus's Accept answers 200" 200 \
    "$(fetch om "$EXPORTER_URL" -H "Accept: $PROM_ACCEPT")"
om_type=$(header om Content-Type)
check "... as OpenMetrics 1.0.0 ($om_type)" \
    grep -q '^application/openmetrics-text; *version=1\.0\.0' <<<"$om_type"
check_eq "... ending with '# EOF'" "# EOF" "$(tail -n1 "$HS_TMP/om.b")"
check "... with counter families named without _total" \
    grep -qx '# TYPE homeostat_cpu_seconds counter' "$HS_TMP/om.b"
check "... and samples with _total" grep -q '^homeostat_cpu_seconds_total{' "$HS_TMP/om.b"

check_eq "GET /metrics with Accept-Encoding: gzip answers 200" 200 \
    "$(fetch gz "$EXPORTER_URL" -H 'Accept-Encoding: gzip')"
check_eq "... with Content-Encoding: gzip" gzip "$(header gz Content-Encoding)"
if gzip -dc <"$HS_TMP/gz.b" >"$HS_TMP/gz.txt" 2>"$HS_TMP/gz.err"; then
    pass "... and a body that gunzips"
else
    fail "... and a body that gunzips: $(cat "$HS_TMP/gz.err")"
fi
check "... to text exposition" grep -q '^# TYPE homeostat_cpu_seconds_total counter' \
    "$HS_TMP/gz.txt"
check "... with no OpenMetrics '# EOF'" bash -c "! grep -q '^# EOF' '$HS_TMP/gz.txt'"

check_eq "OpenMetrics and gzip together answer 200" 200 \
    "$(fetch omgz "$EXPORTER_URL" -H "Accept: $PROM_ACCEPT" -H 'Accept-Encoding: gzip')"
check_eq "... and gunzip to a body ending with '# EOF'" "# EOF" \
    "$(gzip -dc <"$HS_TMP/omgz.b" 2>/dev/null | tail -n1)"

# notify_listener SOCKET OUT LOG: a NOTIFY_SOCKET stand-in that appends each datagram, one
# per line, to OUT until STOPPING=1 (or 60 s); its pid is in $HS_PID.
notify_listener() {
    spawn "$3" /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
deadline = time.monotonic() + 60
with open(sys.argv[2], "ab", buffering=0) as f:
    while time.monotonic() < deadline:
        try:
            d = s.recv(4096)
        except socket.timeout:
            continue
        f.write(d.replace(b"\n", b" ") + b"\n")
        if b"STOPPING=1" in d:
            break
' "$1" "$2"
}

# --- SIGTERM and sd_notify -----------------------------------------------------------------
notify_sock=$HS_TMP/notify.sock
notify_out=$HS_TMP/notify.out
notify_listener "$notify_sock" "$notify_out" "$HS_TMP/notify.log"
listener=$HS_PID
wait_until 5 test -S "$notify_sock" || fail "the notify listener did not bind $notify_sock"
: >>"$notify_out"

NOTIFY_SOCKET=$notify_sock start_exporter --no-collector.filesystem
if wait_until 5 grep -q 'READY=1' "$notify_out"; then
    pass "READY=1 arrives on NOTIFY_SOCKET after start"
else
    fail "READY=1 arrives on NOTIFY_SOCKET after start (got: $(cat "$notify_out"))"
fi
check "... with a STATUS= naming the address" grep -q "STATUS=.*$EXPORTER_ADDR" "$notify_out"
check "... and no STOPPING=1 yet" bash -c "! grep -q STOPPING=1 '$notify_out'"

t0=$(date +%s%N)
stop_process "$EXPORTER_PID" 5
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "SIGTERM stops the exporter with status 0 within 5 s (took ${ms} ms)" 0 "$HS_STATUS"
if wait_until 5 grep -q 'STOPPING=1' "$notify_out"; then
    pass "STOPPING=1 arrives on NOTIFY_SOCKET at SIGTERM"
else
    fail "STOPPING=1 arrives on NOTIFY_SOCKET at SIGTERM (got: $(cat "$notify_out"))"
fi
check "... after READY=1" bash -c "grep -n 'READY=1' '$notify_out' | head -n1 | cut -d: -f1 |
    { read -r r; s=\$(grep -n STOPPING=1 '$notify_out' | head -n1 | cut -d: -f1); ((r < s)); }"
stop_process "$listener" 5

# --- the systemd watchdog --------------------------------------------------------------------
# With WatchdogSec=, systemd passes WATCHDOG_USEC and WATCHDOG_PID (the service's own pid):
# the exporter must send WATCHDOG=1 at least every half interval from its main loop.
wd_sock=$HS_TMP/wd.sock
wd_out=$HS_TMP/wd.out
notify_listener "$wd_sock" "$wd_out" "$HS_TMP/wd-listener.log"
wd_listener=$HS_PID
wait_until 5 test -S "$wd_sock" || fail "the watchdog listener did not bind $wd_sock"
: >>"$wd_out"
# exec keeps the pid, so WATCHDOG_PID names the exporter itself.
NOTIFY_SOCKET=$wd_sock spawn "$HS_TMP/wd-exporter.log" bash -c \
    'export WATCHDOG_PID=$$ WATCHDOG_USEC=400000; exec "$0" "$@"' "$HOMEOSTAT_EXPORTER" \
    --web.listen-address=127.0.0.1:0 --statsd.listen-udp= --no-collector.filesystem
wd_pid=$HS_PID
sleep 1.6
wd_count=$(grep -c 'WATCHDOG=1' "$wd_out" || true)
check "WATCHDOG=1 arrives at least 4 times in 1.6 s with WatchdogSec=0.4s (got $wd_count)" \
    test "${wd_count:-0}" -ge 4
stop_process "$wd_pid" 5
stop_process "$wd_listener" 5

# --- unprivileged ----------------------------------------------------------------------------
# The exporter needs no privilege: as nobody it still serves every procfs collector.
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
    np_log=$HS_TMP/nobody.log
    spawn "$np_log" setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$HOMEOSTAT_EXPORTER" --web.listen-address=127.0.0.1:0 --statsd.listen-udp=
    np_pid=$HS_PID
    np_url=''
    for _ in $(seq 100); do
        np_url=$(grep -m1 -o 'http://[^ ]*' "$np_log" 2>/dev/null || true)
        [[ -n $np_url ]] && break
        sleep 0.05
    done
    np_body=$(curl -sf "$np_url" || true)
    check "as nobody (uid 65534) the exporter serves /metrics" test -n "$np_body"
    for c in cpu memory loadavg netdev self; do
        check "... and collector $c succeeds" grep -q "homeostat_collector_success{collector=\"$c\"} 1" \
            <<<"$np_body"
    done
    stop_process "$np_pid" 5
else
    echo "skip: not root, cannot switch to nobody (not counted)"
fi

# --- flags -----------------------------------------------------------------------------------
run_flags() { # run_flags NAME ARGS...: status in $rc, output in $HS_TMP/NAME.{out,err}
    local name=$1
    shift
    rc=0
    timeout 10 "$HOMEOSTAT_EXPORTER" "$@" >"$HS_TMP/$name.out" 2>"$HS_TMP/$name.err" || rc=$?
}
run_flags unknown --web.listen-address=127.0.0.1:0 --no-such-flag
check_eq "an unknown flag exits 2" 2 "$rc"
check "... naming the flag ($(head -c 200 "$HS_TMP/unknown.err"))" grep -q -- 'no-such-flag' \
    "$HS_TMP/unknown.err"
run_flags baddur --web.listen-address=127.0.0.1:0 --sampler.interval=fast
check_eq "a malformed duration exits 2" 2 "$rc"
check "... naming the flag and the value ($(head -c 200 "$HS_TMP/baddur.err"))" \
    grep -q -- 'sampler.interval.*fast\|fast.*sampler.interval' "$HS_TMP/baddur.err"
run_flags badunit --web.listen-address=127.0.0.1:0 --collector.timeout=5parsecs
check_eq "a duration with an unknown unit exits 2" 2 "$rc"
check "... naming the flag" grep -q -- '--collector.timeout' "$HS_TMP/badunit.err"
run_flags noval --web.listen-address
check_eq "a flag missing its value exits 2" 2 "$rc"
run_flags version --version
check_eq "--version exits 0" 0 "$rc"
check "... and prints the version" grep -q 'homeostat-exporter.*[0-9]\+\.[0-9]\+\.[0-9]\+' \
    "$HS_TMP/version.out"
run_flags help -h
check_eq "-h exits 0" 0 "$rc"
for c in cpu memory loadavg pressure diskstats netdev filesystem cgroup gpu_nvml; do
    check "... and lists the $c collector" grep -Eq "^ +$c +\[(on|off)\]" "$HS_TMP/help.out"
done
check "... and the --no-collector.NAME convention" grep -q -- '--no-collector' "$HS_TMP/help.out"

# --- --web.telemetry-path ------------------------------------------------------------------
start_exporter --web.telemetry-path=/m
check_eq "--web.telemetry-path=/m is in the log line" "$EXPORTER_BASE/m" "$EXPORTER_URL"
check_eq "... GET /m answers 200" 200 "$(fetch m "$EXPORTER_BASE/m")"
check "... with metrics" grep -q '^homeostat_memory_total_bytes ' "$HS_TMP/m.b"
check_eq "... and /metrics is then 404" 404 "$(fetch m404 "$EXPORTER_BASE/metrics")"
check_eq "... and / answers 200" 200 "$(fetch mlanding "$EXPORTER_BASE/")"
check "... linking to /m" grep -q 'href="/m"' "$HS_TMP/mlanding.b"
stop_process "$EXPORTER_PID"

# --- --no-collector.cpu ------------------------------------------------------------------------
start_exporter --no-collector.cpu
check_eq "--no-collector.cpu: /metrics answers 200" 200 "$(fetch nocpu "$EXPORTER_URL")"
check "... without homeostat_cpu_seconds_total" \
    bash -c "! grep -q '^homeostat_cpu_seconds_total' '$HS_TMP/nocpu.b'"
check "... without homeostat_collector_success{collector=\"cpu\"}" \
    bash -c "! grep -q '^homeostat_collector_success{collector=\"cpu\"}' '$HS_TMP/nocpu.b'"
check "... but with the memory collector" \
    grep -q '^homeostat_collector_success{collector="memory"} 1$' "$HS_TMP/nocpu.b"
stop_process "$EXPORTER_PID"

# --- a broken procfs fails one collector, not the scrape ---------------------------------------
if [[ -d $HOMEOSTAT_FIXTURES/proc ]]; then
    cp -R "$HOMEOSTAT_FIXTURES/proc" "$HS_TMP/proc"
    printf 'this is not /proc/stat\n\x01\x02garbage 1 2 3\n' >"$HS_TMP/proc/stat"
    start_exporter --path.procfs="$HS_TMP/proc" --no-collector.gpu_nvml
    check_eq "broken procfs: /metrics still answers 200" 200 "$(fetch broken "$EXPORTER_URL")"
    check "... with homeostat_collector_success{collector=\"cpu\"} 0" \
        grep -q '^homeostat_collector_success{collector="cpu"} 0$' "$HS_TMP/broken.b"
    check "... and no homeostat_cpu_seconds_total from the garbage" \
        bash -c "! grep -q '^homeostat_cpu_seconds_total' '$HS_TMP/broken.b'"
    # The collectors whose fixture files are intact.
    for c in memory loadavg pressure diskstats netdev; do
        f=$c
        case $c in memory) f=meminfo ;; netdev) f=net/dev ;; esac
        [[ -e $HS_TMP/proc/$f ]] || continue
        check "... and homeostat_collector_success{collector=\"$c\"} 1" \
            grep -q "^homeostat_collector_success{collector=\"$c\"} 1\$" "$HS_TMP/broken.b"
    done
    check_eq "... with the fixture's MemTotal" \
        "$(awk '/^MemTotal:/ { printf "%.0f", $2 * 1024 }' "$HS_TMP/proc/meminfo")" \
        "$(awk '$1 == "homeostat_memory_total_bytes" { printf "%.0f", $2 }' "$HS_TMP/broken.b")"
    check "... and the exporter still runs" hs_alive "$EXPORTER_PID"
    stop_process "$EXPORTER_PID"
    check_eq "... and stops cleanly" 0 "$HS_STATUS"
else
    fail "fixture procfs $HOMEOSTAT_FIXTURES/proc is missing"
fi

finish

#!/usr/bin/env bash
# exporter_flood: homeostat-exporter under a UDP StatsD flood of random metric names for
# FLOOD_SECONDS (default 20; `make soak` runs 300) with --ingest.max-series=5000 and a
# mapping whose series expire after 3 s (defaults.ttl), so the store keeps churning:
# series expire and new random names take their place, all the time at the limit.
# The flood: one /usr/bin/python3 sender, datagrams of about 1400 bytes of lines
# "flood.<12 random hex digits>:1|c" (every name new), as fast as it can send.
# Every second: VmRSS of the exporter, and a scrape of /metrics. Checks:
#  - every scrape answers 200 and homeostat_ingest_series stays <= the limit
#  - homeostat_ingest_dropped_total{reason="series_limit"} grows, series expire
#  - RSS bounded: peak <= baseline (before the flood) + 5000 series x 8 KiB
#  - RSS stops growing once the limit is reached: the peak of the second half is at most
#    the peak of the first half + 10 % + 4 MiB
# Prints one line with the figures (RSS start/peak/end, datagrams, lines, drops, series),
# quoted in docs/RELIABILITY.md. About FLOOD_SECONDS + 5 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool curl /usr/bin/python3

FLOOD_SECONDS=${FLOOD_SECONDS:-20}
LIMIT=5000
PER_SERIES_KIB=8

cat >"$HS_TMP/mapping.yaml" <<'EOF'
defaults:
  ttl: 3s
EOF
start_exporter --collector.disable-defaults --ingest.max-series=$LIMIT \
    --statsd.mapping-config="$HS_TMP/mapping.yaml" || finish
if [[ -z $EXPORTER_STATSD_ADDR ]]; then
    fail "the exporter has no StatsD UDP listener; its log:"
    sed 's/^/    /' "$EXPORTER_LOG"
    finish
fi

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$EXPORTER_PID/status" 2>/dev/null || echo 0; }
# scrape FILE: /metrics into FILE; prints the status code.
scrape() { http_get "$1" "$EXPORTER_URL" --max-time 5; }
mval() { metric_value "$(cat "$1")" "$2"; }

# A few normal lines first, so that the baseline includes a warmed-up exporter.
/usr/bin/python3 -c 'import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(100):
    s.sendto(b"warm.up%d:1|c" % i, (h, int(p)))' "$EXPORTER_STATSD_ADDR"
sleep 1
scrape "$HS_TMP/m0.txt" >/dev/null
BASE=$(rss_kib)
say "baseline: RSS $BASE KiB, $(mval "$HS_TMP/m0.txt" homeostat_ingest_series) series"

cat >"$HS_TMP/flood.py" <<'EOF'
import os, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
seconds = float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, int(port)))
lines_per = 1400 // len(b"flood.000000000000:1|c\n")
datagrams = lines = errors = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(200):
        hexes = os.urandom(6 * lines_per).hex()
        body = "".join("flood.%s:1|c\n" % hexes[i * 12:i * 12 + 12] for i in range(lines_per))
        try:
            s.send(body.encode())
            datagrams += 1
            lines += lines_per
        except OSError:
            errors += 1  # ECONNREFUSED after an ICMP error, ENOBUFS: keep going
print("datagrams=%d lines=%d send_errors=%d" % (datagrams, lines, errors), flush=True)
EOF
spawn "$HS_TMP/flood.log" /usr/bin/python3 "$HS_TMP/flood.py" "$EXPORTER_STATSD_ADDR" \
    "$FLOOD_SECONDS"
FLOOD_PID=$HS_PID

samples=() bad_scrapes=0 over_limit=0 scrapes=0 max_series=0
start=$SECONDS
while hs_alive "$FLOOD_PID" && ((SECONDS - start < FLOOD_SECONDS + 30)); do
    sleep 1
    samples+=("$(rss_kib)")
    scrapes=$((scrapes + 1))
    code=$(scrape "$HS_TMP/m.txt")
    if [[ $code != 200 ]]; then
        bad_scrapes=$((bad_scrapes + 1))
        say "scrape $scrapes answered $code"
        continue
    fi
    n=$(mval "$HS_TMP/m.txt" homeostat_ingest_series)
    n=${n%.*}
    ((n > max_series)) && max_series=$n
    if ((n > LIMIT)); then
        over_limit=$((over_limit + 1))
        say "scrape $scrapes: $n series, over the limit $LIMIT"
    fi
done
stop_process "$FLOOD_PID" 5
sent=$(grep -o 'datagrams=.*' "$HS_TMP/flood.log" || true)
check "the flood ran ($sent)" grep -q 'datagrams=[1-9]' "$HS_TMP/flood.log"
check "the exporter is still running" hs_alive "$EXPORTER_PID"
END=$(rss_kib)
check_eq "every scrape during the flood answered 200 ($scrapes scrapes)" 0 "$bad_scrapes"
check_eq "homeostat_ingest_series never passed $LIMIT (at most $max_series)" 0 "$over_limit"
check "... and reached it (the flood filled the store)" test "$max_series" -ge $((LIMIT * 9 / 10))

scrape "$HS_TMP/m1.txt" >/dev/null
drops=$(mval "$HS_TMP/m1.txt" 'homeostat_ingest_dropped_total{reason="series_limit"}')
expired=$(mval "$HS_TMP/m1.txt" homeostat_ingest_series_expired_total)
accepted=$(mval "$HS_TMP/m1.txt" 'homeostat_ingest_lines_total{protocol="udp",result="accepted"}')
kernel=$(mval "$HS_TMP/m1.txt" 'homeostat_ingest_packets_dropped_total{protocol="udp",reason="kernel"}')
check "dropped_total{reason=\"series_limit\"} grew (${drops:-absent})" \
    test "$(printf '%.0f' "${drops:-0}")" -gt 0
check "series expired and made room (expired_total ${expired:-absent})" \
    test "$(printf '%.0f' "${expired:-0}")" -gt 0

# RSS: the bound, and no growth after the first half.
read -r PEAK HALF1 HALF2 <<<"$(printf '%s\n' "${samples[@]}" | /usr/bin/python3 -c 'import sys
v = [int(x) for x in sys.stdin.read().split()] or [0]
h = len(v) // 2
print(max(v), max(v[:h] or [0]), max(v[h:]))')"
BOUND=$((BASE + LIMIT * PER_SERIES_KIB))
if hs_asan_build; then
    say "AddressSanitizer build: its allocator quarantine is not a release build's, no RSS bound"
else
    check "RSS bounded: peak $PEAK KiB <= baseline $BASE + $LIMIT series x $PER_SERIES_KIB KiB = $BOUND KiB" \
        test "$PEAK" -le "$BOUND"
    check "RSS stops growing: second half peak $HALF2 KiB <= first half peak $HALF1 KiB + 10 % + 4 MiB" \
        test "$HALF2" -le $((HALF1 * 11 / 10 + 4096))
fi
say "figures: ${FLOOD_SECONDS}s flood, $sent; RSS start $BASE KiB, peak $PEAK KiB" \
    "(first half $HALF1, second half $HALF2), end $END KiB; accepted lines ${accepted:-0}," \
    "series_limit drops ${drops:-0}, expired ${expired:-0}, kernel drops ${kernel:-0}," \
    "max series $max_series (limit $LIMIT), $scrapes scrapes"
finish

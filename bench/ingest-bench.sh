#!/usr/bin/env bash
# ingest-bench: StatsD ingest throughput, loss and memory of homeostat-exporter.
#
#  1. Rates: the exporter pinned to CPU 0 (64 MiB socket buffer), bench/ingest-loadgen
#     pinned to CPU 1 offering 250k, 500k, 1M, 2M, 4M lines/s and then as much as it can,
#     for two workloads (timers of 100 services, counters of 1000 names). Before and after
#     each step (after the socket backlog drained) it reads homeostat_ingest_lines_total,
#     homeostat_ingest_packets_dropped_total and the exporter's CPU time (/proc/PID/stat):
#     loss = 1 - lines counted / lines sent; lines/s per core = lines counted / CPU seconds.
#  2. Capacity: the exporter is stopped (SIGSTOP) while the generator fills its socket
#     buffer, then resumed; lines counted / CPU seconds spent draining the backlog is what
#     one core processes when it never waits for input, whatever the generator manages.
#  3. Memory: a fresh exporter per case; VmRSS after 100k counter series (10k histogram
#     series) minus VmRSS before, divided by the series count; sent over the unix socket,
#     which blocks instead of dropping, so every series arrives. Then SCRAPES scrapes,
#     as Prometheus would make, and the most VmRSS seen: what a scraped exporter holds.
#
# Prints markdown tables. Environment: HOMEOSTAT_EXPORTER (default build/exporter/...),
# STEP_SECONDS (3), RATES ("250000 500000 1000000 2000000 4000000 0"; 0 = unthrottled),
# EXPORTER_CPU (0), LOADGEN_CPU (1), DRAINS (5), SCRAPES (4),
# PARTS ("rates capacity memory"). Other load on the machine skews every number: the
# script prints how busy the CPUs were before it started and after it ended.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" ingest-bench

here=$root/bench
EXPORTER=$exporter
STEP_SECONDS=${STEP_SECONDS:-3}
RATES=${RATES:-250000 500000 1000000 2000000 4000000 0}
EXPORTER_CPU=${EXPORTER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ingest-bench.XXXXXX")
bench_at_exit() { rm -rf "$tmp"; }

[[ -x $EXPORTER ]] || die "no exporter at $EXPORTER"
LOADGEN=$tmp/ingest-loadgen
cc -O2 -Wall -Wextra -o "$LOADGEN" "$here/ingest-loadgen.c"

# start_exporter ARGS...: sets XPID, XURL; the exporter pinned to EXPORTER_CPU.
start_exporter() {
    local log=$tmp/exporter.$RANDOM.log
    "${guard[@]}" taskset -c "$EXPORTER_CPU" "$EXPORTER" --collector.disable-defaults \
        --web.listen-address=127.0.0.1:0 "$@" >"$log" 2>&1 &
    XPID=$!
    pids+=("$XPID")
    XURL=$(wait_log "$log" "$XPID") || die "the exporter did not start:
$(cat "$log")"
    XUDP=$(grep -m1 -o 'statsd: listening on udp [^ ]*' "$log" | sed 's/.* udp //' || true)
}

stop_exporter() { stop "$XPID"; }

scrape() { curl -s --max-time 60 "$XURL" >"$tmp/metrics.prom"; }

# sum_of REGEX: the sum of the samples whose series matches REGEX in the last scrape.
sum_of() { awk -v re="$1" '$1 ~ re { s += $2 } END { printf "%.0f\n", s }' "$tmp/metrics.prom"; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$XPID/status"; }

now() { date +%s.%N; }

# busy_share: the fraction of CPU time not idle over the next second, all CPUs.
busy_share() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        busy = y[1] - x[1]; idle = y[2] - x[2]; printf "%.0f%%\n", 100 * busy / (busy + idle) }'
}
calc() { awk "BEGIN { printf \"$1\n\", $2 }"; }
tck=$(getconf CLK_TCK)

udp_lines_re='^homeostat_ingest_lines_total\{protocol="udp"'
drops_re='^homeostat_ingest_packets_dropped_total\{protocol="udp",reason="kernel"'

# step WORKLOAD NAMES RATE: one row of the rates table.
step() {
    local workload=$1 names=$2 rate=$3 l0 d0 c0 cm out sent secs l1 d1 c1 prev i label
    scrape
    l0=$(sum_of "$udp_lines_re")
    d0=$(sum_of "$drops_re")
    c0=$(cpu_ticks "$XPID")
    out=$(taskset -c "$LOADGEN_CPU" "$LOADGEN" --target "udp:$XUDP" --rate "$rate" \
        --seconds "$STEP_SECONDS" --workload "$workload" --names "$names")
    cm=$(cpu_ticks "$XPID")
    sent=$(grep -o '\blines=[0-9]*' <<<"$out" | cut -d= -f2)
    secs=$(grep -o '\bseconds=[0-9.]*' <<<"$out" | cut -d= -f2)
    # Wait for the socket backlog to drain: two equal readings 0.3 s apart.
    prev=-1
    for ((i = 0; i < 100; i++)); do
        sleep 0.3
        scrape
        l1=$(sum_of "$udp_lines_re")
        [[ $l1 == "$prev" ]] && break
        prev=$l1
    done
    d1=$(sum_of "$drops_re")
    c1=$(cpu_ticks "$XPID")
    local lines=$((l1 - l0)) drops=$((d1 - d0)) cpu
    cpu=$(calc %.2f "($c1 - $c0) / $tck")
    label=max
    [[ $rate == 0 ]] || label=$(calc %.0f "$rate")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$workload" "$label" \
        "$(calc %.0f "$sent / $secs")" "$lines" \
        "$(calc %.2f%% "100 * ($sent - $lines) / ($sent > 0 ? $sent : 1)")" "$drops" \
        "$(calc %.0f%% "100 * ($cm - $c0) / $tck / $secs")" "$cpu" \
        "$(calc %.0f "$lines / ($cpu > 0 ? $cpu : 1)")"
}

echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); busy before the run: $(busy_share) of all CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
PARTS=${PARTS:-rates capacity memory}
part() { [[ " $PARTS " == *" $1 "* ]]; }

if part rates; then
echo "## Rates (exporter on CPU $EXPORTER_CPU, load generator on CPU $LOADGEN_CPU, $STEP_SECONDS s a step)"
echo
echo "| workload | target lines/s | offered lines/s | lines counted | loss | kernel-dropped datagrams | exporter CPU share while sending | exporter CPU s (with drain) | lines/s per core |"
echo "|---|---|---|---|---|---|---|---|---|"
for spec in timer:100 counter:1000; do
    start_exporter --statsd.listen-udp=127.0.0.1:0 --statsd.read-buffer=64MiB \
        --ingest.max-series=200000
    for rate in $RATES; do
        step "${spec%%:*}" "${spec#*:}" "$rate"
    done
    stop_exporter
done
fi

# drain WORKLOAD NAMES: DRAINS rounds of stop, fill the socket buffer, resume, drain.
drain() {
    local workload=$1 names=$2 l0 c0 l1 c1 prev i k lines=0 ticks=0
    for ((k = 0; k < ${DRAINS:-5}; k++)); do
        scrape
        l0=$(sum_of "$udp_lines_re")
        c0=$(cpu_ticks "$XPID")
        kill -STOP "$XPID"
        taskset -c "$LOADGEN_CPU" "$LOADGEN" --target "udp:$XUDP" --rate 0 --seconds 1 \
            --workload "$workload" --names "$names" >/dev/null
        kill -CONT "$XPID"
        prev=-1
        for ((i = 0; i < 100; i++)); do
            sleep 0.3
            scrape
            l1=$(sum_of "$udp_lines_re")
            [[ $l1 == "$prev" ]] && break
            prev=$l1
        done
        c1=$(cpu_ticks "$XPID")
        lines=$((lines + l1 - l0))
        ticks=$((ticks + c1 - c0))
    done
    printf '| %s | %s | %s | %s |\n' "$workload" "$lines" "$(calc %.2f "$ticks / $tck")" \
        "$(calc %.0f "$lines / ($ticks > 0 ? $ticks / $tck : 1)")"
}

if part capacity; then
echo
echo "## Capacity: draining a full 64 MiB socket buffer (${DRAINS:-5} rounds)"
echo
echo "| workload | lines drained | exporter CPU s | lines/s per core |"
echo "|---|---|---|---|"
for spec in timer:100 counter:1000; do
    start_exporter --statsd.listen-udp=127.0.0.1:0 --statsd.read-buffer=64MiB \
        --ingest.max-series=200000
    drain "${spec%%:*}" "${spec#*:}"
    stop_exporter
done
fi

# rss_case LABEL PATTERN COUNT: one row of the memory table.
rss_case() {
    local label=$1 pattern=$2 count=$3 sock=$tmp/statsd.sock r0 r1 r2 series
    rm -f "$sock"
    start_exporter --statsd.listen-udp= --statsd.listen-unixgram="$sock" \
        --ingest.max-series=200000
    # Warm up the receiver's buffers and the scrape path, then take the baseline.
    "$LOADGEN" --target "unix:$sock" --workload pattern --pattern 'warmup.x:1|c' \
        --count 2000 >/dev/null
    sleep 0.3
    scrape
    sleep 0.2
    r0=$(rss_kib)
    "$LOADGEN" --target "unix:$sock" --workload pattern --pattern "$pattern" \
        --count "$count" >/dev/null
    sleep 1
    r1=$(rss_kib)
    # Then as Prometheus would: scrapes, each rendering every series; the most RSS seen.
    local k r ts te scrape_s
    r2=$r1
    for ((k = 0; k < ${SCRAPES:-4}; k++)); do
        ts=$(now)
        scrape
        te=$(now)
        ((k == 0)) && scrape_s=$(calc %.2f "$te - $ts")
        r=$(rss_kib)
        ((r > r2)) && r2=$r
    done
    series=$(sum_of '^homeostat_ingest_series$')
    stop_exporter
    # shellcheck disable=SC2016 # the backquotes are markdown
    printf '| %s | `%s` | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "${pattern//|/\\|}" \
        "$((series - 1))" "$r0" "$r1" "$(calc %.0f "($r1 - $r0) * 1024 / $count")" "$r2" \
        "$(calc %.0f "($r2 - $r0) * 1024 / $count")" "$scrape_s"
}

if part memory; then
echo
echo "## Memory per live series (VmRSS, fresh exporter per row)"
echo
echo "| case | lines sent (each once) | live series | RSS before KiB | RSS after ingest KiB | bytes per series (store) | most RSS over ${SCRAPES:-4} scrapes KiB | bytes per series (with scrapes) | first scrape s |"
echo "|---|---|---|---|---|---|---|---|---|"
rss_case "100k counters, one family (conventions)" 'svc{i}.request.success:1|c' 100000
rss_case "100k counters, one family each (unmapped)" 'bench.counter{i}:1|c' 100000
rss_case "10k histograms, one family (conventions)" 'svc{i}.request.duration:12|ms' 10000
rss_case "10k histograms, one family each (unmapped)" 'bench.timer{i}:12|ms' 10000
fi

echo
echo "Busy after the run: $(busy_share) of all CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)."

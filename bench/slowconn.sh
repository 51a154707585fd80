#!/usr/bin/env bash
# bench/slowconn.sh: scrape latency under slow connections. homeostat-exporter and Debian's
# prometheus-node-exporter, each with its default flags on a loopback port, are scraped
# SCRAPES times in a row by bench/scrapeprobe.py (Prometheus' headers, gzip, one kept-alive
# connection; then again with a new connection per scrape) with no other load (baseline),
# then while bench/slowclients.py holds CONNECTIONS slow connections from SOURCES loopback
# addresses (127.0.0.2...), each sending a header byte every INTERVAL seconds and never
# finishing its request. In each phase (baseline, load) the scrapes repeat in batches of
# SCRAPES per mode until the phase has lasted PHASE_SECONDS (15: under load, homeostat's
# 10 s read deadline closes every slow connection, and the clients reopen it, at least
# once; the same length for the baseline exposes both to the same background noise).
# ROUNDS rounds of baseline then load; the latencies of all rounds are pooled. One exporter runs at a time. Prints a markdown table with p50, p99 and max,
# the p99 ratio (load / baseline; the goal is under 2), the connections each exporter held,
# how many the exporter closed, and RSS.
# Builds nothing: the exporter comes from $HOMEOSTAT_EXPORTER, else build/exporter/.
#
# Usage: bench/slowconn.sh          (about 2 minutes; node_exporter's scrapes are slower)
# Knobs: SLOWCONN_SCRAPES=500 SLOWCONN_CONNECTIONS=1000 SLOWCONN_SOURCES=50
#        SLOWCONN_INTERVAL=2 SLOWCONN_ROUNDS=2 SLOWCONN_PHASE_SECONDS=15 BENCH_OUT=DIR
#        NODE_EXPORTER=prometheus-node-exporter
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" slowconn

scrapes=${SLOWCONN_SCRAPES:-500}
nconns=${SLOWCONN_CONNECTIONS:-1000}
sources=${SLOWCONN_SOURCES:-50}
interval=${SLOWCONN_INTERVAL:-2}
rounds=${SLOWCONN_ROUNDS:-2}
phase_seconds=${SLOWCONN_PHASE_SECONDS:-15}
out=$(bench_out homeostat-slowconn)

require bench curl "$py" "$node_exporter"
[[ -x $exporter ]] || die "no exporter at $exporter (build it, or set HOMEOSTAT_EXPORTER)"
for v in "$scrapes" "$nconns" "$sources" "$rounds" "$phase_seconds"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || die "SLOWCONN_* counts must be positive integers, got '$v'"
done

sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
field() { # LOG NAME: NAME's value in the last status line of a slowclients log
    tail -n1 "$1" 2>/dev/null | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# --- the exporters, default flags on loopback ports ---------------------------------------
start_homeostat "$out/homeostat.log"
start_node_exporter "$out/node_exporter.log"
log "homeostat-exporter (pid $hs_pid) at $hs_url; node_exporter (pid $node_pid) at $node_url"
log "raw outputs in $out"

# --- measure -------------------------------------------------------------------------------
declare -A R
# probe NAME URL MODE FILE: appends SCRAPES latencies (ms) of MODE (keepalive|fresh) to FILE
probe() {
    local args=()
    [[ $3 == fresh ]] && args=(--fresh)
    "$py" "$root/bench/scrapeprobe.py" "$2" --count "$scrapes" --out "$out/probe.tmp" \
        "${args[@]}" >>"$out/$1.probe.log"
    cat "$out/probe.tmp" >>"$4"
}

# measure NAME PID URL
measure() {
    local name=$1 pid=$2 url=$3 r base slow_pid held_min held_max rss0 rss1 dropped=0 refused=0
    local addr=${url#http://}
    addr=${addr%%/*}
    local f
    for f in base.keepalive load.keepalive base.fresh load.fresh; do
        : >"$out/$name.$f"
    done
    curl -s -o /dev/null --max-time 30 "$url" # warm up
    held_min=999999 held_max=0
    for ((r = 1; r <= rounds; r++)); do
        log "$name: round $r: baseline for ${phase_seconds} s at least"
        base=$(sockets "$pid")
        rss0=$(status_kb "$pid" VmRSS)
        local t_base=$SECONDS
        while :; do
            probe "$name" "$url" keepalive "$out/$name.base.keepalive"
            probe "$name" "$url" fresh "$out/$name.base.fresh"
            ((SECONDS - t_base < phase_seconds)) || break
        done
        log "$name: round $r: $nconns slow connections from $sources addresses"
        { "${guard[@]}" "$py" "$root/bench/slowclients.py" --target "$addr" --connections "$nconns" \
            --sources "$sources" --interval "$interval" </dev/null & } >"$out/$name.slow.$r.log" 2>&1
        slow_pid=$!
        pids+=("$slow_pid")
        local t_load=$SECONDS
        local deadline=$((SECONDS + 30))
        while (($(sockets "$pid") - base < nconns * 98 / 100)) && ((SECONDS < deadline)); do
            sleep 0.2
        done
        local h=$(($(sockets "$pid") - base))
        ((h < held_min)) && held_min=$h
        log "$name: holds $h connections; scraping for ${phase_seconds} s at least"
        while :; do
            probe "$name" "$url" keepalive "$out/$name.load.keepalive"
            probe "$name" "$url" fresh "$out/$name.load.fresh"
            ((SECONDS - t_load < phase_seconds)) || break
        done
        h=$(($(sockets "$pid") - base))
        ((h < held_min)) && held_min=$h
        ((h > held_max)) && held_max=$h
        rss1=$(status_kb "$pid" VmRSS)
        stop "$slow_pid"
        f=$(field "$out/$name.slow.$r.log" dropped)
        dropped=$((dropped + ${f:-0}))
        f=$(field "$out/$name.slow.$r.log" refused)
        refused=$((refused + ${f:-0}))
        deadline=$((SECONDS + 15))
        while (($(sockets "$pid") - base > 2)) && ((SECONDS < deadline)); do
            sleep 0.2
        done
    done
    R[${name}_held]="$held_min-$held_max"
    R[${name}_closed]="$dropped dropped, $refused refused"
    R[${name}_rss]="$((rss0 / 1024)) / $((rss1 / 1024))"
}

measure homeostat "$hs_pid" "$hs_url"
measure node "$node_pid" "$node_url"

# --- report ----------------------------------------------------------------------------------
# stats FILE: "p50 p99 max errors n" over the pooled latencies
stats() {
    "$py" - "$1" <<'EOF'
import sys
vals, errors = [], 0
for line in open(sys.argv[1]):
    line = line.strip()
    if line == "error":
        errors += 1
    elif line:
        vals.append(float(line))
vals.sort()
def pct(q):
    if not vals:
        return float("nan")
    rank = max(1, -(-q * len(vals) // 100))
    return vals[min(int(rank), len(vals)) - 1]
print("%.2f %.2f %.2f %d %d" % (pct(50), pct(99), vals[-1] if vals else float("nan"), errors,
                                len(vals) + errors))
EOF
}
row() { # NAME MODE LABEL
    local b l bp50 bp99 bmax berr bn lp50 lp99 lmax lerr ln
    read -r bp50 bp99 bmax berr bn < <(stats "$out/$1.base.$2")
    read -r lp50 lp99 lmax lerr ln < <(stats "$out/$1.load.$2")
    b="$bp50 / $bp99 / $bmax"
    l="$lp50 / $lp99 / $lmax"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$3" "$b" "$l" \
        "$(awk -v a="$lp99" -v b="$bp99" 'BEGIN { printf "%.2f", a / b }')" \
        "$berr of $bn / $lerr of $ln" "${R[$1_held]}"
}

cat <<EOF

## Scrape latency under $nconns slow connections ($(date -u +%Y-%m-%dT%H:%M:%SZ))

Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r).
homeostat-exporter: $("$exporter" --version 2>&1 | head -n1) (${hs_args[*]}; default limits).
node_exporter: $("$node_exporter" --version 2>&1 | head -n1) (default flags).
Scrapes: $rounds rounds of a baseline phase then a load phase, each of batches of $scrapes sequential scrapes per mode until the phase has lasted ${phase_seconds} s; pooled.
Load: bench/slowclients.py, $nconns connections from $sources addresses, a header byte every ${interval} s.

| exporter, connection | baseline p50 / p99 / max (ms) | under load p50 / p99 / max (ms) | p99 ratio | failed scrapes, baseline / load | slow connections held |
|---|---:|---:|---:|---:|---:|
$(row homeostat keepalive "homeostat-exporter, kept alive")
$(row homeostat fresh "homeostat-exporter, new per scrape")
$(row node keepalive "node_exporter, kept alive")
$(row node fresh "node_exporter, new per scrape")

Slow connections closed by the exporter: homeostat-exporter ${R[homeostat_closed]};
node_exporter ${R[node_closed]} (over all rounds; "refused" = within 1 s of connecting).
RSS before / under load (MiB, last round): homeostat-exporter ${R[homeostat_rss]}; node_exporter ${R[node_rss]}.
Raw outputs: $out
EOF

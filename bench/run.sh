#!/usr/bin/env bash
# bench/run.sh: homeostat-exporter side by side with Debian's prometheus-node-exporter, both
# on loopback ports, both with their default collectors, in one run: wrk throughput and
# latency on /metrics (plain and gzip), bytes and series per scrape, peak RSS after the
# load, idle CPU over a window, and homeostat's sampler cost. Prints a markdown table.
# Builds nothing: the exporter comes from $HOMEOSTAT_EXPORTER, else build/exporter/.
#
# Usage: bench/run.sh            (about 3 minutes: a 60 s idle window and four 15 s wrk runs)
# Knobs: BENCH_DURATION=15s BENCH_CONNECTIONS=16 BENCH_THREADS=2 BENCH_IDLE_SECONDS=60
#        BENCH_OUT=DIR (raw outputs; a temporary directory by default, kept and printed)
#        NODE_EXPORTER=prometheus-node-exporter
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" bench

duration=${BENCH_DURATION:-15s}
conns=${BENCH_CONNECTIONS:-16}
threads=${BENCH_THREADS:-2}
idle=${BENCH_IDLE_SECONDS:-60}
out=$(bench_out homeostat-bench)

require bench wrk curl gzip "$py" "$node_exporter"
[[ -x $exporter ]] || die "no exporter at $exporter (build it, or set HOMEOSTAT_EXPORTER)"

start_homeostat "$out/homeostat.log"
start_node_exporter "$out/node_exporter.log"
log "homeostat-exporter (pid $hs_pid) at $hs_url; node_exporter (pid $node_pid) at $node_url"

# --- helpers ----------------------------------------------------------------------------------
scrape_value() { # URL METRIC: the value of an unlabelled sample
    # awk reads to the end: an early exit fails curl (write error 23) and, with pipefail, the run.
    curl -s --max-time 10 "$1" | awk -v m="$2" '$1 == m && !n++ { print $2 }'
}
# wrk_run NAME URL [ARGS...]: raw output in $out/NAME.wrk; sets rps, p50, p99 (ms), errs.
wrk_run() {
    local name=$1 url=$2
    shift 2
    wrk -t"$threads" -c"$conns" -d"$duration" --latency "$@" "$url" >"$out/$name.wrk" 2>&1 ||
        die "wrk failed: $(cat "$out/$name.wrk")"
    read -r rps p50 p99 errs < <(awk '
        function ms(v) {
            if (v ~ /us$/) return v * 0.001
            if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000
            if (v ~ /s$/) return v * 1000
            return v
        }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { errs += $NF }
        /Socket errors:/ { gsub(/,/, ""); errs += $4 + $6 + $8 + $10 }
        END { printf "%s %.3f %.3f %d\n", rps, p50, p99, errs + 0 }' "$out/$name.wrk")
}

# --- sizes, with the collectors each one runs ---------------------------------------------------
curl -s --max-time 30 -o /dev/null "$hs_url"
curl -s --max-time 30 -o /dev/null "$node_url"
sleep 1
curl -s --max-time 30 "$hs_url" >"$out/homeostat.prom"
curl -s --max-time 30 "$node_url" >"$out/node.prom"
curl -s --max-time 30 -H 'Accept-Encoding: gzip' "$hs_url" >"$out/homeostat.prom.gz"
curl -s --max-time 30 -H 'Accept-Encoding: gzip' "$node_url" >"$out/node.prom.gz"
hs_bytes=$(wc -c <"$out/homeostat.prom")
node_bytes=$(wc -c <"$out/node.prom")
hs_gz_bytes=$(wc -c <"$out/homeostat.prom.gz")
node_gz_bytes=$(wc -c <"$out/node.prom.gz")
hs_series=$(grep -vc '^#' "$out/homeostat.prom")
node_series=$(grep -vc '^#' "$out/node.prom")
hs_collectors=$(awk -F'"' '/^homeostat_collector_success\{/ { printf "%s%s(%s)", sep, $2, $3 ~ / 1$/ ? "ok" : "failed"; sep = ", " }' "$out/homeostat.prom")
node_collectors=$(awk -F'"' '/^node_scrape_collector_success\{/ { printf "%s%s%s", sep, $2, $3 ~ / 1$/ ? "" : "(failed)"; sep = ", " }' "$out/node.prom")
log "homeostat collectors: $hs_collectors"
log "node_exporter collectors: $node_collectors"

# --- idle window: no scrape inside it ------------------------------------------------------------
log "idle window of ${idle} s"
s0=$(scrape_value "$hs_url" homeostat_sampler_cpu_seconds_total)
n0=$(scrape_value "$hs_url" homeostat_sampler_samples_total)
hs_t0=$(cpu_ticks "$hs_pid")
node_t0=$(cpu_ticks "$node_pid")
hs_ns0=$(cpu_ns "$hs_pid")
node_ns0=$(cpu_ns "$node_pid")
w0=$(date +%s%N)
sleep "$idle"
hs_t1=$(cpu_ticks "$hs_pid")
node_t1=$(cpu_ticks "$node_pid")
hs_ns1=$(cpu_ns "$hs_pid")
node_ns1=$(cpu_ns "$node_pid")
w1=$(date +%s%N)
s1=$(scrape_value "$hs_url" homeostat_sampler_cpu_seconds_total)
n1=$(scrape_value "$hs_url" homeostat_sampler_samples_total)
read -r idle_s hs_idle_pct node_idle_pct sampler_pct samples_per_s hs_idle_ns_pct node_idle_ns_pct < <(
    awk -v w0="$w0" -v w1="$w1" -v a0="$hs_t0" -v a1="$hs_t1" -v b0="$node_t0" -v b1="$node_t1" \
        -v s0="$s0" -v s1="$s1" -v n0="$n0" -v n1="$n1" -v hz="$hz" \
        -v c0="$hs_ns0" -v c1="$hs_ns1" -v d0="$node_ns0" -v d1="$node_ns1" 'BEGIN {
        w = (w1 - w0) / 1e9
        printf "%.1f %.3f %.3f %.3f %.1f %.3f %.3f\n", w, (a1 - a0) / hz / w * 100,
            (b1 - b0) / hz / w * 100, (s1 - s0) / w * 100, (n1 - n0) / w,
            (c1 - c0) / 1e9 / w * 100, (d1 - d0) / 1e9 / w * 100 }')

# --- load: plain and gzip, one exporter at a time ---------------------------------------------------
hs_counters() {
    curl -s --max-time 10 "$hs_url" | awk '
        $1 == "homeostat_exporter_scrapes_total" { s = $2 }
        $1 == "homeostat_exporter_collections_total" { c = $2 }
        END { print s + 0, c + 0 }'
}
declare -A R
for variant in plain gzip; do
    args=()
    [[ $variant == gzip ]] && args=(-H 'Accept-Encoding: gzip')
    read -r sc0 co0 < <(hs_counters)
    log "wrk $variant on homeostat-exporter"
    wrk_run "homeostat-$variant" "$hs_url" "${args[@]}"
    R[hs_${variant}_rps]=$rps R[hs_${variant}_p50]=$p50 R[hs_${variant}_p99]=$p99
    R[hs_${variant}_errs]=$errs
    read -r sc1 co1 < <(hs_counters)
    # Each hs_counters call is one scrape of its own.
    R[hs_${variant}_scrapes]=$((sc1 - sc0 - 1)) R[hs_${variant}_collections]=$((co1 - co0 - 1))
    log "wrk $variant on node_exporter"
    wrk_run "node-$variant" "$node_url" "${args[@]}"
    R[node_${variant}_rps]=$rps R[node_${variant}_p50]=$p50 R[node_${variant}_p99]=$p99
    R[node_${variant}_errs]=$errs
done
hs_hwm=$(status_kb "$hs_pid" VmHWM)
node_hwm=$(status_kb "$node_pid" VmHWM)
hs_rss=$(status_kb "$hs_pid" VmRSS)
node_rss=$(status_kb "$node_pid" VmRSS)
rollup_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
hs_pss=$(rollup_kb "$hs_pid" Pss)
node_pss=$(rollup_kb "$node_pid" Pss)
hs_anon=$(rollup_kb "$hs_pid" Anonymous)
node_anon=$(rollup_kb "$node_pid" Anonymous)

# --- report ------------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

cat <<EOF

## homeostat-exporter vs node_exporter ($(date -u +%Y-%m-%dT%H:%M:%SZ))

Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r).
homeostat-exporter: $("$exporter" --version 2>&1 | head -n1) ($exporter ${hs_args[*]}).
node_exporter: $("$node_exporter" --version 2>&1 | head -n1).
Load: wrk -t$threads -c$conns -d$duration --latency, on the same machine as the exporters.
homeostat collectors: $hs_collectors.
node_exporter collectors: $node_collectors.

| measure | homeostat-exporter | node_exporter | homeostat / node |
|---|---:|---:|---:|
| requests/s, text | ${R[hs_plain_rps]} | ${R[node_plain_rps]} | $(ratio "${R[hs_plain_rps]}" "${R[node_plain_rps]}") |
| latency p50 / p99, text (ms) | ${R[hs_plain_p50]} / ${R[hs_plain_p99]} | ${R[node_plain_p50]} / ${R[node_plain_p99]} | |
| requests/s, gzip | ${R[hs_gzip_rps]} | ${R[node_gzip_rps]} | $(ratio "${R[hs_gzip_rps]}" "${R[node_gzip_rps]}") |
| latency p50 / p99, gzip (ms) | ${R[hs_gzip_p50]} / ${R[hs_gzip_p99]} | ${R[node_gzip_p50]} / ${R[node_gzip_p99]} | |
| errors (non-2xx, socket), text / gzip | ${R[hs_plain_errs]} / ${R[hs_gzip_errs]} | ${R[node_plain_errs]} / ${R[node_gzip_errs]} | |
| scrapes served / collections run, text | ${R[hs_plain_scrapes]} / ${R[hs_plain_collections]} | (one collection per scrape) | |
| scrapes served / collections run, gzip | ${R[hs_gzip_scrapes]} / ${R[hs_gzip_collections]} | (one collection per scrape) | |
| bytes per scrape, text | $hs_bytes ($(kib "$hs_bytes")) | $node_bytes ($(kib "$node_bytes")) | $(ratio "$hs_bytes" "$node_bytes") |
| bytes per scrape, gzip | $hs_gz_bytes ($(kib "$hs_gz_bytes")) | $node_gz_bytes ($(kib "$node_gz_bytes")) | $(ratio "$hs_gz_bytes" "$node_gz_bytes") |
| series per scrape | $hs_series | $node_series | $(ratio "$hs_series" "$node_series") |
| peak RSS after the load (VmHWM) | $(mib "$hs_hwm") | $(mib "$node_hwm") | $(ratio "$hs_hwm" "$node_hwm") |
| RSS after the load (VmRSS) | $(mib "$hs_rss") | $(mib "$node_rss") | $(ratio "$hs_rss" "$node_rss") |
| PSS after the load (shared pages split among users) | $(mib "$hs_pss") | $(mib "$node_pss") | $(ratio "$hs_pss" "$node_pss") |
| anonymous memory after the load (heap, stacks) | $(mib "$hs_anon") | $(mib "$node_anon") | $(ratio "$hs_anon" "$node_anon") |
| process CPU idle, ${idle_s} s window, utime+stime (% of one core) | $hs_idle_pct | $node_idle_pct | |
| process CPU idle, ${idle_s} s window, schedstat of all threads (% of one core) | $hs_idle_ns_pct | $node_idle_ns_pct | |
| sampler thread CPU, ${idle_s} s window (% of one core) | $sampler_pct ($samples_per_s samples/s) | n/a | |

Targets: requests/s >= 20x node_exporter: $(ratio "${R[hs_plain_rps]}" "${R[node_plain_rps]}")x text, $(ratio "${R[hs_gzip_rps]}" "${R[node_gzip_rps]}")x gzip;
peak RSS <= 1/8 of node_exporter's: $(awk -v a="$hs_hwm" -v b="$node_hwm" 'BEGIN { printf "1/%.1f", b / a }');
sampler < 1 % of one core at 100ms: $sampler_pct %.
Raw outputs: $out
EOF

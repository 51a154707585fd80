#!/usr/bin/env bash
# bench/regulation.sh: what holds the demo application's p95 latency best under the load
# phases of `make demo`: no control, the step rules, the regulator, and per phase the
# best fixed limit (the oracle), one after the other in one run, on the same machine.
#
# Usage: bench/regulation.sh [PHASE_SECONDS [STEADY_MINUTES]]
#   PHASE_SECONDS   how long each of the five phases lasts (default 20: a quick run of
#                   about 25 minutes; 120 for the published figures)
#   STEADY_MINUTES  the steady-load check (default 1; 10 for the published figures)
#
# The plant: homeostat-demo-app as `make demo` runs it (service checkout: 4 backend workers
# of 40 ms +-25 %, a 300-entry cache with a 5 s TTL, the concurrency limit after the cache,
# start 64), reporting over StatsD to homeostat-exporter (demo/statsd-mapping.yaml),
# scraped every second by Prometheus; Alertmanager for the rules' alerts. The load:
# demo/loadgen.py, open loop, the same id sequence in every run (--seed 1):
#   calm 40 req/s, spike 300, overload 600, slowdown 300 with the backend 3x slower (120
#   ms, set through POST /admin/backend when the phase starts), recovery 40 (40 ms again)
# The controllers, each on a fresh application (an empty cache, limit 64) and a fresh
# controller state:
#   none        no controller: the limit stays 64 (also the sweep's 64)
#   steps       the step rules of demo/rules.yaml as shipped before the regulator (git
#               show 2e062f7:demo/rules.yaml): degraded 8, critical 4, revert to 64
#   regulator   demo/rules.yaml: the gradient regulator, setpoint 200 ms
#   fixed-N     no controller, --concurrency=N, for N in BENCH_SWEEP (2,4,6,8,12,16,24,32)
# BENCH_RUNS (default none,steps,regulator,sweep,steady) picks some of them, such as
# BENCH_RUNS=steady for the steady-load check alone; the oracle needs the sweep and none.
# Both rules files get the addresses of this run (their webhook straight to the
# application, Alertmanager's URL) and the application's admin token beside them.
# Then the steady-load check: a fresh application and the regulator, 60 s at 300 req/s
# to settle, then STEADY_MINUTES at 300 req/s, in which the limit must not change.
#
# Per run it keeps in BENCH_OUT (a temporary directory by default, printed): the
# loadgen's report.json and timeline.jsonl (one line per second), limits.jsonl (the
# application's limit, read from /stats every 0.5 s: whichever controller set it), the
# logs, the rules and the controller's audit log. bench/regulation.py report turns them
# into the markdown printed at the end (docs/BENCHMARKS.md, "Regulation").
# Not a test, and not timed: the figures depend on the machine (a 2-CPU machine shared
# with other work makes the p95 noisier). HOMEOSTAT_BUILD_DIR (default build) gives the
# binaries; HOMEOSTAT_EXPORTER, HOMEOSTAT_CONTROLLER and HOMEOSTAT_DEMO_APP override each.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" regulation

phase_s=${1:-20}
steady_min=${2:-1}
if ! [[ $phase_s =~ ^[0-9]+$ ]] || ((phase_s < 12)); then
    die "PHASE_SECONDS must be a whole number, at least 12"
fi
if ! [[ $steady_min =~ ^[0-9]+$ ]] || ((steady_min < 1)); then
    die "STEADY_MINUTES must be a whole number, at least 1"
fi
sweep=${BENCH_SWEEP:-2,4,6,8,12,16,24,32}
[[ $sweep =~ ^[0-9]+(,[0-9]+)*$ ]] || die "BENCH_SWEEP must be limits separated by commas"
which=${BENCH_RUNS:-none,steps,regulator,sweep,steady}
[[ $which =~ ^(none|steps|regulator|sweep|steady)(,(none|steps|regulator|sweep|steady))*$ ]] ||
    die "BENCH_RUNS must be some of none,steps,regulator,sweep,steady separated by commas"
build=${HOMEOSTAT_BUILD_DIR:-$root/build}
[[ $build == /* ]] || build=$PWD/$build
exporter=${HOMEOSTAT_EXPORTER:-$build/exporter/homeostat-exporter}
controller=${HOMEOSTAT_CONTROLLER:-$build/controller/homeostat-controller}
app=${HOMEOSTAT_DEMO_APP:-$build/demo/homeostat-demo-app}
STEP_RULES_COMMIT=2e062f7
require bench prometheus prometheus-alertmanager curl git "$py"
for b in "$exporter" "$controller" "$app"; do
    [[ -x $b ]] || die "not built: $b (make build, or set HOMEOSTAT_BUILD_DIR)"
done
out=$(bench_out regulation)
log "raw outputs in $out"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# The phases, as demo/run-demo.sh runs them (the same rates and slowdown).
PHASES="calm:${phase_s}s:40,spike:${phase_s}s:300,overload:${phase_s}s:600"
PHASES+=",slowdown:${phase_s}s:300:backend=0.12,recovery:${phase_s}s:40:backend=0.04"
STEADY_PHASES="settle:60s:300,steady:${steady_min}m:300"

umask 077
"$py" -c 'import secrets; print(secrets.token_hex(16))' >"$out/app-admin-token"
umask 022

# ---- the exporter, Prometheus and Alertmanager, for every run --------------------------
"${guard[@]}" "$exporter" --web.listen-address=127.0.0.1:0 --statsd.listen-udp=127.0.0.1:0 \
    --statsd.mapping-config="$root/demo/statsd-mapping.yaml" --no-collector.cgroup \
    --no-collector.filesystem --no-collector.gpu_nvml --no-collector.gpu_amd \
    </dev/null >"$out/exporter.log" 2>&1 &
pids+=("$!")
exporter_url=$(wait_log "$out/exporter.log" "$!") || die "the exporter did not start: $(tail -n 5 "$out/exporter.log")"
exporter_addr=${exporter_url#http://}
exporter_addr=${exporter_addr%%/*}
statsd_addr=$(grep -m1 -o 'statsd: listening on udp [^ ]*' "$out/exporter.log" | awk '{ print $NF }')
[[ -n $statsd_addr ]] || die "the exporter did not say where StatsD listens"

# start_ready NAME URL-VAR CMD-WITH-@PORT@...: a server on a free port (five tries), ready
# when GET /-/ready answers; sets the variable named URL-VAR (prom_url, am_url).
prom_url='' am_url=''
start_ready() {
    local name=$1 var=$2 port arg args pid
    shift 2
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        args=()
        for arg in "$@"; do args+=("${arg//@PORT@/$port}"); done
        "${guard[@]}" "${args[@]}" </dev/null >"$out/$name.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        if wait_http "http://127.0.0.1:$port/-/ready" 40; then
            printf -v "$var" 'http://127.0.0.1:%s' "$port"
            return 0
        fi
        stop "$pid"
    done
    die "$name did not start: $(tail -n 5 "$out/$name.log")"
}
cat >"$out/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}
scrape_configs:
  - job_name: homeostat-exporter
    static_configs: [{targets: ["$exporter_addr"]}]
EOF
start_ready prometheus prom_url prometheus --config.file="$out/prometheus.yml" \
    --storage.tsdb.path="$out/prometheus-data" --web.listen-address=127.0.0.1:@PORT@ \
    --storage.tsdb.retention.time=1d --log.level=warn
printf 'route: {receiver: bench}\nreceivers: [{name: bench}]\n' >"$out/alertmanager.yml"
start_ready alertmanager am_url prometheus-alertmanager --config.file="$out/alertmanager.yml" \
    --storage.path="$out/alertmanager-data" --web.listen-address=127.0.0.1:@PORT@ \
    --cluster.listen-address= --log.level=warn
log "exporter $exporter_url, Prometheus $prom_url, Alertmanager $am_url"

# ---- the rules: the step rules as shipped before the regulator, and today's ------------
git -C "$root" show "$STEP_RULES_COMMIT:demo/rules.yaml" >"$out/steps.rules.yaml" ||
    die "cannot read the step rules from git ($STEP_RULES_COMMIT:demo/rules.yaml)"
cp "$root/demo/rules.yaml" "$out/regulator.rules.yaml"

# ---- one run ------------------------------------------------------------------------------
# run NAME LIMIT RULES PHASES: a fresh application with --concurrency=LIMIT, the
# controller on RULES (a name of the two above, or "" for none), the sampler of its
# limit, and the load of PHASES; everything but the exporter, Prometheus and
# Alertmanager is stopped at the end.
run() {
    local name=$1 limit=$2 rules=$3 phases=$4 d=$out/$1 app_pid app_url ctl_pid="" sampler_pid
    local loadgen_pid
    mkdir -p "$d"
    "${guard[@]}" "$app" --listen=127.0.0.1:0 --statsd="$statsd_addr" --service=checkout \
        --admin-token-file="$out/app-admin-token" --concurrency="$limit" --rate-limit=2000 \
        --cache-size=300 --cache-ttl=5s --backend-workers=4 --backend-latency=40ms \
        --backend-timeout=5s </dev/null >"$d/app.log" 2>&1 &
    app_pid=$!
    pids+=("$app_pid")
    app_url=$(wait_log "$d/app.log" "$app_pid") || die "$name: the application did not start"
    app_url=${app_url%/}
    if [[ -n $rules ]]; then
        # The webhook straight to the application (no gateway: one service), Alertmanager
        # of this run, the token file beside the copy.
        sed -e "s|127\\.0\\.0\\.1:18080/{{ \$labels\\.service }}|${app_url#http://}|g" \
            -e "s|http://127\\.0\\.0\\.1:9093|$am_url|g" "$out/$rules.rules.yaml" >"$d/rules.yaml"
        cp "$out/app-admin-token" "$d/app-admin-token"
        "$controller" check "$d/rules.yaml" >"$d/check.log" 2>&1 || die "$name: check failed: $(cat "$d/check.log")"
        "${guard[@]}" "$controller" --config="$d/rules.yaml" --prometheus.url="$prom_url" \
            --web.listen-address=127.0.0.1:0 --state.directory="$d/state" \
            </dev/null >"$d/controller.log" 2>&1 &
        ctl_pid=$!
        pids+=("$ctl_pid")
        wait_log "$d/controller.log" "$ctl_pid" >/dev/null || die "$name: the controller did not start"
    fi
    "${guard[@]}" "$py" "$root/bench/regulation.py" sample --url "$app_url" --out "$d/limits.jsonl" &
    sampler_pid=$!
    pids+=("$sampler_pid")
    log "$name: $phases (limit $limit${rules:+, $rules rules})"
    # In the background and waited for, so that SIGINT or SIGTERM stop the run at once.
    "${guard[@]}" "$py" "$root/demo/loadgen.py" --url "$app_url" --phases "$phases" --workers 256 \
        --interval 10s --seed 1 --admin-token-file "$out/app-admin-token" \
        --report "$d/report.json" --timeline "$d/timeline.jsonl" >"$d/loadgen.log" 2>&1 &
    loadgen_pid=$!
    pids+=("$loadgen_pid")
    wait "$loadgen_pid" || die "$name: the load generator failed: $(tail -n 3 "$d/loadgen.log")"
    stop "$sampler_pid" ${ctl_pid:+"$ctl_pid"} "$app_pid"
    grep '^summary' "$d/loadgen.log" | sed "s/^/$bench_name: $name: /" >&2
    # The next run's windows ([5s], [10s]) start after this run's last answers.
    nap 12
}

runs=()
wanted() { [[ ,$which, == *,$1,* ]]; }
for r in none steps regulator; do
    wanted "$r" || continue
    case $r in
    none) run none 64 "" "$PHASES" ;;
    steps) run steps 64 steps "$PHASES" ;;
    regulator) run regulator 64 regulator "$PHASES" ;;
    esac
    runs+=("$r")
done
if wanted sweep; then
    IFS=, read -r -a limits <<<"$sweep"
    for n in "${limits[@]}"; do
        [[ $n == 64 ]] && continue # the run "none"
        run "fixed-$n" "$n" "" "$PHASES"
        runs+=("fixed-$n")
    done
fi
steady=
if wanted steady; then
    run steady 64 regulator "$STEADY_PHASES"
    steady=steady
fi

# ---- the report -----------------------------------------------------------------------------
runs_arg=$(IFS=,; echo "${runs[*]}")
cat <<EOF

## Regulation on the demo application ($started to $(date -u +%Y-%m-%dT%H:%M:%SZ))

Command: bench/regulation.sh $phase_s $steady_min$([[ -n ${BENCH_SWEEP:-} ]] && printf ' (BENCH_SWEEP=%s)' "$sweep")$([[ -n ${BENCH_RUNS:-} ]] && printf ' (BENCH_RUNS=%s)' "$which").
Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r); load average at the end $(cut -d' ' -f1-3 /proc/loadavg).
Phases of ${phase_s} s each: calm 40 req/s, spike 300, overload 600, slowdown 300 with the backend 3x slower, recovery 40.
Figures per phase: goodput = answers 200 per second; p95 of every answer of the phase (shed ones included, as the regulator's signal counts them); seconds whose p95 was above 250 ms, after the phase's first 10 s; shed share of the answers; changes and reversals of the limit in force.

EOF
"$py" "$root/bench/regulation.py" report --out "$out" --runs "$runs_arg" --steady "$steady" \
    --json "$out/figures.json"
echo "Raw outputs: $out"

#!/usr/bin/env bash
# run-demo.sh: the whole homeostat loop on one machine (`make demo`).
#
# Starts on loopback, on free ports, with configurations written into a scratch
# directory: Prometheus (1 s scrape), Alertmanager, homeostat-exporter (StatsD ingest,
# demo/statsd-mapping.yaml), two homeostat-demo-app services, checkout and search (each
# its own process, port, backend and StatsD service name), demo/admin-gateway.py (routes
# POST /SERVICE/admin/limits to that service's application, as an ingress routing by
# path would) and one homeostat-controller (rules demo/rules.yaml, targets by service:
# one state machine and one concurrency regulator per service, the regulator moving a
# service's limit live through the gateway; the systemd and kubectl actions it cannot
# reach here are dry runs). Then it runs the load phases of demo/loadgen.py against
# checkout only (calm, spike, overload, a backend slowdown at the spike's rate, set
# through the application's POST /admin/backend, and recovery, which gives the backend
# its speed back) and calm load against search throughout, and prints a live timeline
# from the controller's API (GET /api/v1/targets and /api/v1/targets/ID): for each
# service its state, confidence, p95 latency, error and shed ratios, the regulator's
# output (the concurrency limit) and the backend queue; each change of state with its
# reasoning; each change of the limit with its explanation; decisions and actions with
# the service they are for.
#
# Environment:
#   DEMO_SECONDS=N   the load phases last N seconds in all (15 % calm, 20 % spike, 20 %
#                    overload, 25 % slowdown, 20 % recovery; N at least 120) and the
#                    script then exits: 0 only if the loop closed for checkout (its state
#                    rose above optimal, the regulator lowered its limit through the
#                    webhook, after every phase change its p95 was under 250 ms again
#                    within DEMO_SETTLE_SECONDS and stayed under to the phase's end, it
#                    returned to optimal and its limit came back to 64) and search was
#                    left alone (optimal at every sample once it had data, no decision
#                    and no change of its limit, which stayed 64 throughout). Without it
#                    the phases last 5 minutes and everything keeps running afterwards,
#                    to look around, until Ctrl-C.
#   DEMO_SETTLE_SECONDS=S  the bound above (default 20): p95 is read over 5 s and
#                    scraped every second, the controller evaluates every 2 s, and the
#                    regulator holds 6 s after each change, so a change of capacity takes
#                    two or three of its steps, 12 to 16 s; each phase must last the
#                    bound and 4 s more (DEMO_SECONDS=120: 24 s, the shortest)
#   DEMO_DIR=DIR     the scratch directory (kept); default a new mktemp -d, removed at
#                    the end unless the loop did not close or DEMO_KEEP=1
#   HOMEOSTAT_BUILD_DIR or BUILD_DIR   where the binaries are built (default build)
#   DEMO_CALM_RATE, DEMO_SPIKE_RATE, DEMO_OVERLOAD_RATE   requests per second (default
#                    40, 300 and 600); the slowdown runs at DEMO_SPIKE_RATE; search gets
#                    DEMO_CALM_RATE throughout
#   DEMO_SLOWDOWN=K  the backend is K times slower during the slowdown (default 3)
#
# Ctrl-C (SIGINT), SIGTERM or SIGHUP stop every process it started (each runs in its own
# process group, and the whole group is stopped), and it checks that none is left.
# shellcheck disable=SC2317 # cleanup and the functions it calls run from traps
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${HOMEOSTAT_BUILD_DIR:-${BUILD_DIR:-build}}
[[ $BUILD == /* ]] || BUILD=$PWD/$BUILD
PY=/usr/bin/python3
export no_proxy='*' NO_PROXY='*'

EXPORTER=$BUILD/exporter/homeostat-exporter
CONTROLLER=$BUILD/controller/homeostat-controller
APP=$BUILD/demo/homeostat-demo-app

say() { printf 'demo: %s\n' "$*"; }
die() {
    printf 'demo: error: %s\n' "$*" >&2
    exit 1
}

missing=()
for bin in "$EXPORTER" "$CONTROLLER" "$APP"; do
    [[ -x $bin ]] || missing+=("$bin")
done
((${#missing[@]} == 0)) || die "not built: ${missing[*]} (run 'make demo', or 'make build')"
for tool in prometheus prometheus-alertmanager curl setsid "$PY"; do
    command -v "$tool" >/dev/null || die "'$tool' is missing (scripts/install-deps.sh test installs it)"
done

# ---- phases -------------------------------------------------------------------------
CALM_RATE=${DEMO_CALM_RATE:-40}
SPIKE_RATE=${DEMO_SPIKE_RATE:-300}
OVERLOAD_RATE=${DEMO_OVERLOAD_RATE:-600}
SLOWDOWN=${DEMO_SLOWDOWN:-3}
BACKEND_LATENCY=${DEMO_BACKEND_LATENCY:-40ms}
# The backend's latency in seconds, for POST /admin/backend at the slowdown and after it.
if [[ $BACKEND_LATENCY =~ ^([0-9]+)ms$ ]]; then
    backend_s=$(awk -v ms="${BASH_REMATCH[1]}" 'BEGIN { printf "%g", ms / 1000 }')
elif [[ $BACKEND_LATENCY =~ ^([0-9]+(\.[0-9]+)?)s$ ]]; then
    backend_s=${BASH_REMATCH[1]}
else
    die "DEMO_BACKEND_LATENCY must be like 40ms or 0.04s"
fi
[[ $SLOWDOWN =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "DEMO_SLOWDOWN must be a number"
slow_s=$(awk -v s="$backend_s" -v k="$SLOWDOWN" 'BEGIN { printf "%g", s * k }')
if [[ -n ${DEMO_SECONDS:-} ]]; then
    if ! [[ $DEMO_SECONDS =~ ^[0-9]+$ ]] || ((DEMO_SECONDS < 60)); then
        die "DEMO_SECONDS must be a whole number of seconds, at least 60"
    fi
    TOTAL=$DEMO_SECONDS
    GRACE=40 # after the phases, how long to wait for the loop to close
else
    TOTAL=300
    GRACE=0
fi
CALM_S=$((TOTAL * 15 / 100))
SPIKE_S=$((TOTAL * 20 / 100))
OVERLOAD_S=$((TOTAL * 20 / 100))
SLOW_S=$((TOTAL * 25 / 100))
RECOVERY_S=$((TOTAL - CALM_S - SPIKE_S - OVERLOAD_S - SLOW_S))
SETTLE_S=${DEMO_SETTLE_SECONDS:-20}
[[ $SETTLE_S =~ ^[0-9]+$ ]] || die "DEMO_SETTLE_SECONDS must be a whole number of seconds"
if [[ -n ${DEMO_SECONDS:-} ]] && ((SPIKE_S < SETTLE_S + 4)); then
    die "with DEMO_SECONDS=$DEMO_SECONDS the phases ($SPIKE_S s) are too short to check p95 $SETTLE_S s after each change: DEMO_SECONDS=$(((SETTLE_S + 4) * 5)) at least, or a smaller DEMO_SETTLE_SECONDS"
fi
PHASES="calm:${CALM_S}s:$CALM_RATE,spike:${SPIKE_S}s:$SPIKE_RATE"
PHASES+=",overload:${OVERLOAD_S}s:$OVERLOAD_RATE,slowdown:${SLOW_S}s:$SPIKE_RATE:backend=$slow_s"
PHASES+=",recovery:${RECOVERY_S}s:$CALM_RATE:backend=$backend_s"
CALM_PHASES="calm:${CALM_S}s:$CALM_RATE,spike:${SPIKE_S}s:$CALM_RATE"
CALM_PHASES+=",overload:${OVERLOAD_S}s:$CALM_RATE,slowdown:${SLOW_S}s:$CALM_RATE"
CALM_PHASES+=",recovery:${RECOVERY_S}s:$CALM_RATE"

# ---- scratch directory and process bookkeeping ---------------------------------------
if [[ -n ${DEMO_DIR:-} ]]; then
    mkdir -p "$DEMO_DIR"
    DIR=$(cd "$DEMO_DIR" && pwd)
    KEEP=1
else
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/homeostat-demo.XXXXXX")
    KEEP=${DEMO_KEEP:-0}
fi
NAMES=()
PIDS=()
RESULT=1
STOPPING=0

# A process group is alive while any process in it is not a zombie.
group_alive() {
    local f stat
    for f in /proc/[0-9]*/stat; do
        { read -r stat <"$f"; } 2>/dev/null || continue
        stat=${stat##*) }
        # fields after the name: state ppid pgrp
        read -r -a fields <<<"$stat"
        [[ ${fields[2]} == "$PGID_Q" && ${fields[0]} != Z ]] && return 0
    done
    return 1
}

alive_groups() {
    local i out=()
    for i in "${!PIDS[@]}"; do
        PGID_Q=${PIDS[$i]}
        group_alive && out+=("${NAMES[$i]}=${PIDS[$i]}")
    done
    printf '%s' "${out[*]:-}"
}

cleanup() {
    local rc=$? i deadline left
    ((STOPPING)) && return 0
    STOPPING=1
    trap '' INT TERM HUP
    if ((${#PIDS[@]})); then
        say "stopping ${NAMES[*]}"
        for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
            kill -TERM -- "-${PIDS[$i]}" 2>/dev/null || true
        done
        deadline=$((SECONDS + 8))
        while ((SECONDS < deadline)); do
            left=$(alive_groups)
            [[ -z $left ]] && break
            sleep 0.1
        done
        left=$(alive_groups)
        if [[ -n $left ]]; then
            say "still running after SIGTERM: $left; killing them"
            for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
                kill -KILL -- "-${PIDS[$i]}" 2>/dev/null || true
            done
            sleep 0.5
        fi
        for i in "${PIDS[@]}"; do
            wait "$i" 2>/dev/null || true
        done
        left=$(alive_groups)
        if [[ -n $left ]]; then
            say "ERROR: still running: $left"
            rc=1
        else
            say "all ${#PIDS[@]} processes stopped; nothing left running"
        fi
    fi
    if ((KEEP)) || ((RESULT != 0)); then
        say "configurations and logs kept in $DIR"
    else
        rm -rf "$DIR"
    fi
    exit "$rc"
}
on_signal() {
    say "interrupted (SIG$1)"
    exit 130
}
trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# start NAME CMD...: CMD in the background in its own process group (setsid), output in
# DIR/NAME.log; sets PID.
start() {
    local name=$1
    shift
    setsid "$@" </dev/null >"$DIR/$name.log" 2>&1 &
    PID=$!
    NAMES+=("$name")
    PIDS+=("$PID")
    printf '%s %s\n' "$name" "$PID" >>"$DIR/pids"
}

alive() { kill -0 "$1" 2>/dev/null; }

# wait_log NAME PID REGEX [SECONDS]: prints the first match of REGEX in NAME's log.
wait_log() {
    local log=$DIR/$1.log pid=$2 re=$3 deadline=$((SECONDS + ${4:-15})) m
    while ((SECONDS < deadline)); do
        m=$(grep -m1 -oE "$re" "$log" 2>/dev/null || true)
        if [[ -n $m ]]; then
            printf '%s' "$m"
            return 0
        fi
        alive "$pid" || break
        sleep 0.1
    done
    say "$1 did not start; the end of its log ($log):" >&2
    tail -n 20 "$log" | sed 's/^/    /' >&2
    return 1
}

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_ready NAME CMD-WITH-@PORT@...: a server on a free port, retried when the port was
# taken meanwhile; waits for GET /-/ready; sets URL.
start_ready() {
    local name=$1 attempt port arg args deadline
    shift
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        args=()
        for arg in "$@"; do args+=("${arg//@PORT@/$port}"); done
        start "$name" "${args[@]}"
        URL=http://127.0.0.1:$port
        deadline=$((SECONDS + 40))
        while ((SECONDS < deadline)) && alive "$PID"; do
            [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/-/ready") == 200 ]] && return 0
            sleep 0.2
        done
        if alive "$PID"; then
            tail -n 20 "$DIR/$name.log" | sed 's/^/    /' >&2
            die "$name did not become ready within 40 s"
        fi
        grep -q 'address already in use' "$DIR/$name.log" || {
            tail -n 20 "$DIR/$name.log" | sed 's/^/    /' >&2
            die "$name exited at start"
        }
        say "port $port was taken before $name bound it; retrying ($attempt)"
        cp "$DIR/$name.log" "$DIR/$name.failed-$attempt.log"
    done
    die "$name could not bind a free port"
}

say "scratch directory $DIR"
: >"$DIR/pids"
umask 077
"$PY" -c 'import secrets; print(secrets.token_hex(16))' >"$DIR/app-admin-token"
"$PY" -c 'import secrets; print(secrets.token_hex(16))' >"$DIR/controller-admin-token"
umask 022

# ---- homeostat-exporter -------------------------------------------------------------
# demo/statsd-mapping.yaml gives the applications' shed requests a service label.
start exporter "$EXPORTER" --web.listen-address=127.0.0.1:0 --statsd.listen-udp=127.0.0.1:0 \
    --statsd.mapping-config="$SRC/demo/statsd-mapping.yaml" \
    --no-collector.cgroup --no-collector.filesystem --no-collector.gpu_nvml --no-collector.gpu_amd
EXPORTER_PID=$PID
EXPORTER_URL=$(wait_log exporter "$PID" 'listening on http://[^ ]*') || exit 1
EXPORTER_URL=${EXPORTER_URL#listening on }
EXPORTER_ADDR=${EXPORTER_URL#http://}
EXPORTER_ADDR=${EXPORTER_ADDR%%/*}
STATSD_ADDR=$(wait_log exporter "$EXPORTER_PID" 'statsd: listening on udp [^ ]*') || exit 1
STATSD_ADDR=${STATSD_ADDR##* }

# ---- the demo applications: checkout (gets the spike) and search (calm throughout) ---
# Tuned so that the spike overloads a backend: 4 workers of about 40 ms are ~100 backend
# calls per second, and a small cache with a short TTL leaves enough misses to exceed it
# (about half the requests at 300/s); the slowdown (120 ms) leaves ~33 calls per second.
# Hits are served before the concurrency limit, so the limit bounds the misses waiting
# for the backend, and with them the latency: about limit x 10 ms at 40 ms, limit x 30 ms
# at 120 ms, whatever the load once the backend is saturated. Both services are the same
# program with the same settings, each with its own backend; only the load differs.
SERVICES=(checkout search)
SPIKED=checkout
declare -A APP_URLS
start_app() {
    local service=$1 url
    start "app-$service" "$APP" --listen=127.0.0.1:0 --statsd="$STATSD_ADDR" \
        --service="$service" --admin-token-file="$DIR/app-admin-token" --concurrency=64 \
        --rate-limit=2000 --cache-size="${DEMO_CACHE_SIZE:-300}" \
        --cache-ttl="${DEMO_CACHE_TTL:-5s}" --backend-workers=4 \
        --backend-latency="$BACKEND_LATENCY" --backend-timeout=5s
    url=$(wait_log "app-$service" "$PID" 'listening on http://[^ ]*') || exit 1
    url=${url#listening on }
    APP_URLS[$service]=${url%/}
}
for service in "${SERVICES[@]}"; do start_app "$service"; done

# ---- the admin gateway: the controller's webhooks reach each service through it ------
routes=()
for service in "${SERVICES[@]}"; do routes+=(--route "$service=${APP_URLS[$service]}"); done
start gateway "$PY" "$SRC/demo/admin-gateway.py" --listen=127.0.0.1:0 "${routes[@]}"
GW_URL=$(wait_log gateway "$PID" 'listening on http://[^ ]*') || exit 1
GW_URL=${GW_URL#listening on }
GW_ADDR=${GW_URL#http://}

# ---- Prometheus (the controller's job is added once its address is known) -----------
write_prometheus_config() {
    {
        printf 'global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}\n'
        printf 'scrape_configs:\n'
        printf '  - job_name: homeostat-exporter\n    static_configs: [{targets: ["%s"]}]\n' "$EXPORTER_ADDR"
        if [[ -n ${1:-} ]]; then
            printf '  - job_name: homeostat-controller\n    static_configs: [{targets: ["%s"]}]\n' "$1"
        fi
    } >"$DIR/prometheus.yml"
}
write_prometheus_config
start_ready prometheus prometheus --config.file="$DIR/prometheus.yml" \
    --storage.tsdb.path="$DIR/prometheus-data" --web.listen-address=127.0.0.1:@PORT@ \
    --storage.tsdb.retention.time=1h --log.level=warn
PROM_URL=$URL
PROM_PID=$PID

# ---- Alertmanager: the controller's alerts land here (no receiver beyond it) ---------
cat >"$DIR/alertmanager.yml" <<'EOF'
route:
  receiver: demo
  group_by: [alertname, service, state]
  group_wait: 1s
  group_interval: 10s
receivers:
  - name: demo
EOF
start_ready alertmanager prometheus-alertmanager --config.file="$DIR/alertmanager.yml" \
    --storage.path="$DIR/alertmanager-data" --web.listen-address=127.0.0.1:@PORT@ \
    --cluster.listen-address= --log.level=warn
AM_URL=$URL

# ---- homeostat-controller -----------------------------------------------------------
# The webhook reads the applications' token from app-admin-token beside this copy, and
# reaches each service through the gateway.
sed -e "s|127\.0\.0\.1:18080|$GW_ADDR|g" -e "s|http://127\.0\.0\.1:9093|$AM_URL|g" \
    "$SRC/demo/rules.yaml" >"$DIR/rules.yaml"
"$CONTROLLER" check "$DIR/rules.yaml" >"$DIR/rules-check.log" 2>&1 || {
    cat "$DIR/rules-check.log" >&2
    die "the demo's rules do not pass 'homeostat-controller check'"
}
start controller "$CONTROLLER" --config="$DIR/rules.yaml" --prometheus.url="$PROM_URL" \
    --web.listen-address=127.0.0.1:0 --web.admin-token-file="$DIR/controller-admin-token" \
    --state.directory="$DIR/controller-state"
CTL_PID=$PID
CTL_URL=$(wait_log controller "$CTL_PID" 'listening on http://[^ ]*') || exit 1
CTL_URL=${CTL_URL#listening on }
CTL_URL=${CTL_URL%/}
write_prometheus_config "${CTL_URL#http://}"
kill -HUP "$PROM_PID"

cat <<EOF

  homeostat demo: everything runs on loopback
    status page    $CTL_URL/
    controller API $CTL_URL/api/v1/status
    targets        $CTL_URL/api/v1/targets
    Prometheus     $PROM_URL/
    Alertmanager   $AM_URL/
    exporter       $EXPORTER_URL
    checkout app   ${APP_URLS[checkout]}/stats
    search app     ${APP_URLS[search]}/stats
    admin gateway  $GW_URL
    admin token    $DIR/controller-admin-token (pause/resume on the status page)
  processes: $(for i in "${!PIDS[@]}"; do printf '%s=%s ' "${NAMES[$i]}" "${PIDS[$i]}"; done)
  load: checkout $PHASES; search $CALM_RATE/s throughout (demo/loadgen.py)$([[ -z ${DEMO_SECONDS:-} ]] && printf '; Ctrl-C stops everything')

EOF

# ---- load and timeline --------------------------------------------------------------
# Two generators: the phases for checkout (the slowdown's and the recovery's backend
# latency set through its /admin/backend, with the applications' admin token), the same
# phases at the calm rate for search (so that its summary shows its latency while
# checkout is overloaded).
LOADGEN_PIDS=()
for service in "${SERVICES[@]}"; do
    phases=$PHASES workers=256
    if [[ $service != "$SPIKED" ]]; then
        phases=$CALM_PHASES workers=32
    fi
    start "loadgen-$service" "$PY" "$SRC/demo/loadgen.py" --url "${APP_URLS[$service]}" \
        --phases "$phases" --workers "$workers" --interval 10s \
        --admin-token-file "$DIR/app-admin-token" --report "$DIR/loadgen-$service-report.json" \
        --timeline "$DIR/loadgen-$service-timeline.jsonl"
    LOADGEN_PIDS+=("$PID")
done

# The timeline: one line every 2 s with both services, from the controller's targets
# (GET /api/v1/targets, and /api/v1/targets/ID for each one's signals and regulator)
# and each application's /stats; a service's change of state with its reasoning; each
# change of a limit with the regulator's explanation; the decisions and action results
# as they come, each with the service it is for; then (with DEMO_SECONDS) the verdict.
# Exit status 0 when the loop closed for the loaded service and the other one was left
# alone.
MONITOR=$(
    cat <<'PYEOF'
import json, re, sys, time, urllib.parse, urllib.request

ctl, apps, spiked, phases_arg, grace_s, demo_mode, settle_s = sys.argv[1:8]
apps = dict(a.split("=", 1) for a in apps.split(","))  # service -> application URL
services = list(apps)
calm = [s for s in services if s != spiked]
PHASES = []  # (name, start, end) in seconds from the start of the load
for item in phases_arg.split(","):
    name, secs = item.split(":")
    start_s = PHASES[-1][2] if PHASES else 0.0
    PHASES.append((name, start_s, start_s + float(secs)))
total_s, grace_s, settle_s = PHASES[-1][2], float(grace_s), float(settle_s)
demo_mode = demo_mode == "1"
OBJECTIVE = 0.25  # p95 above this is degraded in demo/rules.yaml
FULL_LIMIT = 64  # the applications' --concurrency, and the regulator's start and max
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def get(url):
    try:
        with opener.open(url, timeout=2) as r:
            return json.load(r)
    except Exception:
        return None

def phase_at(t):
    for name, a, b in PHASES:
        if a <= t < b:
            return name
    return "after"

def sig(detail, name):
    for s in (detail or {}).get("signals") or []:
        if s.get("name") == name:
            return s.get("value")
    return None

def output(detail):
    """The concurrency regulator's output for this target, None when not known."""
    for r in (detail or {}).get("regulators") or []:
        if r.get("name") == "concurrency" and r.get("output") is not None:
            return int(round(r["output"]))
    return None

def num(v):
    return "-" if v is None else "%g" % v

def pct(v):
    return "   -" if v is None else "%3.0f%%" % (100 * v)

def ms(v):
    return "     -" if v is None else "%4.0fms" % (1000 * v)

def short(summary, n=100):
    """An action's summary without its headers and revert settings, at most n chars."""
    s = re.sub(r" (headers|revert)=\{[^{}]*(\{[^{}]*\}[^{}]*)*\}", "", str(summary))
    return s if len(s) <= n else s[:n - 3] + "..."

def expand(summary, labels):
    """A summary as it ran: records keep the rules' {{ $labels.NAME }}; the target's
    labels take their place here, for reading."""
    return re.sub(r"\{\{ *\$labels\.([A-Za-z_][A-Za-z0-9_]*) *\}\}",
                  lambda m: str((labels or {}).get(m.group(1), m.group(0))), str(summary))

def url_of(r):
    """The URL a webhook's action or revert result was sent to (its detail)."""
    return str(((r.get("detail") or {}).get("url")) or "")

def service_of(labels):
    return (labels or {}).get("service") or "?"

start = time.monotonic()
seen = set()
owner = {}  # decision, revert or regulator change id -> the target's labels
changes = {}  # applied regulator changes: id -> (service, from, to, direction)
held = {"rose": None, "lowered": None, "optimal_again": None, "limit_back": None}
p95s = []  # the spiked service's (t, phase, p95) samples
WORSE = ["critical", "degraded", "stressed"]  # the states above optimal, worst first
worst = None
last_state = {}
# The services that get calm load: from their first sample with data (listed, not
# unknown) every sample must be optimal; no decision nor limit change may name them;
# their limit stays 64.
quiet = {s: {"first": None, "samples": 0, "in_load": 0, "bad": [], "records": [],
             "limits": set(), "limit_samples": 0} for s in calm}
last_quiet_line = None
cell = "%-9s %4s %6s %4s %4s %5s %5s"
heads = cell % ("state", "conf", "p95", "err", "shed", "limit", "queue")
print(" " * 18 + "  ".join((" %s " % s).center(len(heads), "-") for s in services), flush=True)
print("  time  phase     " + "  ".join([heads] * len(services)), flush=True)
while True:
    t = time.monotonic() - start
    phase = phase_at(t)
    listing = get(ctl + "/api/v1/targets?limit=100")
    rows = {}
    if listing is not None:
        for r in ((listing.get("data") or {}).get("targets") or []):
            rows[service_of(r.get("labels"))] = r
    cells, quiet_key = [], []
    for s in services:
        r = rows.get(s)
        detail = None
        if r is not None:
            detail = (get(ctl + "/api/v1/targets/" + urllib.parse.quote(r.get("id", ""))) or {}).get("data")
        stats = get(apps[s] + "/stats")
        state = "?" if listing is None else (r or {}).get("state", "-")
        conf = (r or {}).get("confidence")
        p95 = sig(detail, "p95_latency_seconds")
        limit = output(detail)
        app_limit = (stats or {}).get("concurrency_limit")
        queue = ((stats or {}).get("backend") or {}).get("queue")
        quiet_key.append((state, limit))
        cells.append(cell % (state, "-" if conf is None else "%.2f" % conf, ms(p95),
                             pct(sig(detail, "error_ratio")), pct(sig(detail, "shed_ratio")),
                             "-" if limit is None else limit, "-" if queue is None else queue))
        if r is not None and state != last_state.get(s):
            why = (r.get("reasoning") or "").replace("\n", " ")
            if why.startswith(state + ": "):
                why = why[len(state) + 2:]
            print("        %s: %s: %s" % (
                s, "%s -> %s" % (last_state[s], state) if s in last_state else "first seen, " + state,
                why if len(why) <= 120 else why[:117] + "..."), flush=True)
            last_state[s] = state
        if s == spiked:
            if p95 is not None:
                p95s.append((t, phase, p95))
            if state in WORSE and phase != "calm" and (
                    not held["rose"] or WORSE.index(state) < WORSE.index(worst)):
                worst = state
                held["rose"] = "t=%.0fs (%s): %s" % (t, phase, state)
            if held["rose"] and state == "optimal" and phase in ("recovery", "after") and not held["optimal_again"]:
                held["optimal_again"] = "t=%.0fs" % t
            if (held["lowered"] and limit == FULL_LIMIT and app_limit == FULL_LIMIT
                    and phase in ("recovery", "after") and not held["limit_back"]):
                held["limit_back"] = "t=%.0fs: the regulator's output and the application's limit are %d" % (
                    t, FULL_LIMIT)
        else:
            q = quiet[s]
            if stats is not None:
                q["limits"].add(app_limit)
                q["limit_samples"] += 1
            if limit is not None:
                q["limits"].add(limit)
            if listing is not None:
                if q["first"] is None and r is not None and state != "unknown":
                    q["first"] = t
                if q["first"] is not None:
                    q["samples"] += 1
                    q["in_load"] += phase not in ("calm", "after")
                    if state != "optimal":
                        q["bad"].append("t=%.0fs %s" % (t, state))
    line = "%5.0fs  %-9s %s" % (t, phase, "  ".join(cells))
    if phase != "after" or demo_mode:
        print(line, flush=True)
    else:
        if quiet_key != last_quiet_line:
            print(line, flush=True)
            last_quiet_line = quiet_key
    dec = get(ctl + "/api/v1/decisions?limit=100") or {}
    records = dec.get("data") or []
    if isinstance(records, dict):
        records = records.get("decisions") or records.get("records") or []
    for r in sorted(records, key=lambda r: r.get("timestamp", 0)):
        key = (r.get("type"), r.get("id"), r.get("index"))
        if key in seen:
            continue
        seen.add(key)
        typ = r.get("type")
        if typ in ("decision", "revert", "regulator_change") and r.get("target") is not None:
            owner[r.get("id")] = r.get("target")
        target = owner.get(r.get("id"))
        who = service_of(target)
        if typ == "decision":
            acts = "; ".join("%s %s" % (short(expand(a.get("summary", a.get("kind")), target), 80),
                                        a.get("result", ""))
                             for a in r.get("actions") or []) or "no actions"
            print("        decision %s for %s: %s -> %s, confidence %.2f, %s: %s" % (
                r.get("id"), who, r.get("from"), r.get("to"), r.get("confidence") or 0,
                r.get("outcome"), acts), flush=True)
            if who in quiet:
                quiet[who]["records"].append("decision %s (%s, %s)" % (r.get("id"), r.get("to"), r.get("outcome")))
        elif typ == "regulator_change":
            print("        limit for %s: %s -> %s (%s): %s" % (
                who, num(r.get("previous_output")), num(r.get("output")), r.get("outcome"),
                r.get("explanation")), flush=True)
            if who in quiet:
                quiet[who]["records"].append("limit %s -> %s" % (
                    num(r.get("previous_output")), num(r.get("output"))))
            if r.get("outcome") == "applied":
                changes[r.get("id")] = (who, num(r.get("previous_output")), num(r.get("output")),
                                        r.get("direction"))
        elif typ in ("action_result", "revert_result"):
            summary = expand(r.get("summary", r.get("kind")), target)
            ch = changes.get(r.get("id"))
            if ch:  # a regulator's change: the output it applied in place of {{output}}
                summary = re.sub(r'"?\{\{ *output *\}\}"?', ch[2], summary)
            summary = short(summary)
            print("        %s %s for %s: %s%s %s%s" % (
                typ.replace("_", " "), r.get("id"), who, "undo of " if typ == "revert_result" else "",
                summary, r.get("result"),
                (" (" + str(r.get("error")) + ")") if r.get("error") else ""), flush=True)
            # It counts when the request itself went to the spiked service's admin URL.
            webhook_ok = (r.get("kind") == "webhook" and r.get("result") == "ok" and who == spiked
                          and ("/%s/admin/limits" % spiked) in url_of(r))
            if webhook_ok and ch and ch[3] == "down" and not held["lowered"]:
                held["lowered"] = "t=%.0fs: %s -> %s, POST %s" % (t, ch[1], ch[2], url_of(r))
        elif typ == "storm_guard":
            print("        storm guard: %s of %s targets wanted to act, limit %s, held back %s" % (
                r.get("wanted_to_act"), r.get("targets"), r.get("limit"),
                ", ".join(service_of(x) for x in r.get("held_back_targets") or [])), flush=True)
    if demo_mode:
        closed = all(held.values())
        if t >= total_s and (closed or t >= total_s + grace_s):
            break
    time.sleep(max(0.0, 2.0 - ((time.monotonic() - start) - t)))

labels = {
    "rose": "%s rose above optimal under load" % spiked,
    "lowered": "the regulator lowered %s's limit (applied, webhook POST .../%s/admin/limits ok)" % (spiked, spiked),
    "optimal_again": "%s returned to optimal" % spiked,
    "limit_back": "%s's limit came back to %d" % (spiked, FULL_LIMIT),
}
verdict = [(bool(v), labels[k] + ((": " + v) if v else "")) for k, v in held.items()]
# After every change of phase, p95 under the objective again within settle_s, and under
# it from then to the phase's end (samples while the phase ran; the signal's own lag
# is part of the bound).
for name, a, b in PHASES[1:]:
    samples = [(t, v) for t, ph, v in p95s if ph == name]
    late = [(t, v) for t, v in samples if t >= a + settle_s]
    over = [(t, v) for t, v in late if v > OBJECTIVE]
    peak = max(samples, key=lambda x: x[1]) if samples else None
    ok = bool(late) and not over
    if not late:
        why = "no sample %.0f s or more after it began" % settle_s
    elif over:
        why = "over at " + ", ".join("t=%.0fs %.0f ms" % (t, 1000 * v) for t, v in over[:4])
    else:
        why = "%d samples from t=%.0fs to t=%.0fs, peak %.0f ms at t=%.0fs" % (
            len(late), late[0][0], late[-1][0], 1000 * peak[1], peak[0])
    verdict.append((ok, "after %s began (t=%.0fs), %s's p95 was under %.0f ms within %.0f s and stayed under to the phase's end (%s)" % (
        name, a, spiked, 1000 * OBJECTIVE, settle_s, why)))
for s in calm:
    q = quiet[s]
    if q["first"] is None:
        verdict.append((False, "%s was optimal at every sample once it had data: it never had data" % s))
    else:
        # It must have been seen under checkout's load: that is what it is to stay calm beside.
        ok = not q["bad"] and q["in_load"] > 0
        why = ("from t=%.0fs, %d samples, %d while %s was loaded" % (q["first"], q["samples"], q["in_load"], spiked)
               if not q["bad"] else "not at " + ", ".join(q["bad"][:5]))
        verdict.append((ok, "%s was optimal at every sample once it had data (%s)" % (s, why)))
    verdict.append((not q["records"], "no decision and no limit change for %s%s" % (
        s, (": " + ", ".join(q["records"][:5])) if q["records"] else "")))
    limits = sorted(q["limits"], key=str)
    verdict.append((q["limit_samples"] > 0 and limits == [FULL_LIMIT],
                    "%s's concurrency limit stayed %d (%d samples%s)" % (
                        s, FULL_LIMIT, q["limit_samples"],
                        "" if limits == [FULL_LIMIT] else "; seen: %s" % ", ".join(map(str, limits)))))
print("\nDid the loop close for %s (the load phases), and was %s left alone (calm load)?" % (
    spiked, " and ".join(calm)), flush=True)
for ok, text in verdict:
    print("  %-4s %s" % ("yes" if ok else "NO", text), flush=True)
ok = all(ok for ok, _ in verdict)
print("LOOP CLOSED" if ok else "LOOP NOT CLOSED", flush=True)
sys.exit(0 if ok else 1)
PYEOF
)
apps_arg=
for service in "${SERVICES[@]}"; do apps_arg+="${apps_arg:+,}$service=${APP_URLS[$service]}"; done
phase_secs="calm:$CALM_S,spike:$SPIKE_S,overload:$OVERLOAD_S,slowdown:$SLOW_S,recovery:$RECOVERY_S"
setsid "$PY" -u -c "$MONITOR" "$CTL_URL" "$apps_arg" "$SPIKED" "$phase_secs" "$GRACE" \
    "$([[ -n ${DEMO_SECONDS:-} ]] && echo 1 || echo 0)" "$SETTLE_S" </dev/null &
MONITOR_PID=$!
NAMES+=(timeline)
PIDS+=("$MONITOR_PID")
rc=0
wait "$MONITOR_PID" || rc=$?
for i in "${!SERVICES[@]}"; do
    service=${SERVICES[$i]}
    wait "${LOADGEN_PIDS[$i]}" 2>/dev/null || true
    [[ -f $DIR/loadgen-$service.log ]] &&
        grep '^summary' "$DIR/loadgen-$service.log" |
        sed "s/^summary /  load $(printf '%-9s' "$service:") /"
done
RESULT=$rc
exit "$rc"

# shellcheck shell=bash
# lib.sh: helpers shared by the integration tests, sourced by each of them. Run on its own
# (ctest runs every tests/integration/*.sh, this one included) it tests these helpers.
#
# A test does:
#     . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#     require_tool curl
#     start_exporter --no-collector.cpu      # sets EXPORTER_URL, EXPORTER_BASE, EXPORTER_PID
#     check "metrics answer 200" test "$(http_code "$EXPORTER_URL")" = 200
#     finish
#
# What it gives:
#   HS_TMP            a temporary directory of this test, removed at exit (kept with
#                     HOMEOSTAT_KEEP_TMP=1 or when a check failed, so the logs can be read)
#   track_pid PID     make the exit trap kill PID (start_* and spawn do it themselves)
#   spawn LOG CMD...  start CMD in the background, stdout+stderr to LOG, tracked; sets HS_PID
#   start_exporter ARGS...   the exporter on 127.0.0.1:0 (and its StatsD UDP listener on
#                     127.0.0.1:0 when it has one); waits (10 s) for its "listening on"
#                     line; sets EXPORTER_URL (the telemetry URL of that line),
#                     EXPORTER_BASE (http://127.0.0.1:PORT, https:// with TLS), EXPORTER_ADDR
#                     (127.0.0.1:PORT),
#                     EXPORTER_STATSD_ADDR (HOST:PORT of StatsD over UDP, empty when off),
#                     EXPORTER_PID and EXPORTER_LOG. Call it directly, not in $(...), or
#                     the process is not tracked. Environment given before the call
#                     (NOTIFY_SOCKET=... start_exporter) reaches the exporter.
#   free_port         a free loopback TCP port, asked of the kernel
#   start_prometheus CONFIG [DATA_DIR [RETENTION]]  Debian's prometheus on
#                     127.0.0.1:<free port>, data in HS_TMP (or in DATA_DIR, such as blocks
#                     made by promtool tsdb create-blocks-from), retention 1h (or RETENTION:
#                     older blocks are deleted at start), retried when the port was taken
#                     meanwhile; waits (30 s) for /-/ready; sets PROM_URL, PROM_PID, PROM_LOG
#   start_victoriametrics ARGS...  Debian's victoria-metrics on 127.0.0.1:<free port>, data
#                     in HS_TMP, retention 1d, with ARGS (-promscrape.config=FILE scrapes as
#                     Prometheus would), retried when the port was taken meanwhile; waits
#                     (30 s) for /-/ready; sets VM_URL, VM_PID, VM_LOG
#   vm_import FILE    OpenMetrics with timestamps in seconds (as promtool takes it) into
#                     VictoriaMetrics at VM_URL (/api/v1/import/prometheus, milliseconds);
#                     fails unless it answers 204
#   start_alertmanager CONFIG  Debian's prometheus-alertmanager on 127.0.0.1:<free port>,
#                     clustering off, data in HS_TMP, retried when the port was taken;
#                     waits (30 s) for /-/ready; sets AM_URL, AM_PID, AM_LOG
#   start_fake_kube_api REQLOG  tests/integration/fakes/fake_kube_api.py on a free port, requests
#                     recorded in REQLOG; sets KUBE_API_URL, KUBE_API_PID
#   wait_listening LOG PID [SECONDS]  waits (10 s) for the "listening on http(s)://..." line
#                     a daemon logs at start and prints its URL; prints nothing when PID
#                     ended or the time ran out
#   http_code URL [ARGS]     the status code of a GET (000 when nothing answered)
#   http_get FILE URL [ARGS] the same, with the body saved in FILE
#   prom_query EXPR   prints the JSON of /api/v1/query?query=EXPR
#   prom_values EXPR  prints one line per sample of an instant vector or scalar: the value
#   wait_until SECONDS CMD...  polls CMD every 0.2 s; fails (returns 1) at the deadline
#   stop_process PID [SECONDS] SIGTERM, wait up to SECONDS (5), then SIGKILL; sets
#                     HS_STATUS to the exit status (or 'timeout' when it had to be killed)
#   await_process PID [SECONDS]  wait for PID to end on its own (then as stop_process)
#   jget FILE EXPR    the Python expression EXPR over d = the parsed JSON of FILE: a string
#                     printed as it is, anything else as JSON; "<error: ...>" when FILE does
#                     not parse or EXPR fails
#   jstr JSON EXPR    the same over JSON text (keys sorted; time and datetime importable)
#   pass MSG / fail MSG / check MSG CMD... / check_eq MSG EXPECTED ACTUAL
#                     each counts one check; the last line a test prints is
#                     "N passed, N failed", and its exit status is non-zero when N failed > 0
#   require_tool NAME...  a missing tool is a failure (scripts/install-deps.sh installs them)
#   hs_asan_build     true when the exporter is built with AddressSanitizer (make asan-test):
#                     its RSS and address-space needs (terabytes of shadow reserved) are not a
#                     release build's, so RSS bounds and prlimit --as do not apply to it
#   HS_SANITIZER_DIR  where sanitizer reports of the test's processes go (see below)
#   finish            ends the test (the exit trap cleans up and prints the summary)
# Checks and processes started inside $(...) or a pipeline run in a subshell: they are
# neither counted nor tracked there, so call these helpers from the test shell itself.
#
# The exit trap (EXIT, INT, TERM, HUP) stops every tracked process and every process still
# descending from the test shell: SIGTERM, a 5 s deadline, then SIGKILL. A test that stops
# on an unexpected error (set -e) counts one extra failure naming the line.

set -euo pipefail

HS_PASSED=0
HS_FAILED=0
HS_FINISHED=0
HS_PIDS=()
HS_PID=
HS_STATUS=
HS_TEST_NAME=$(basename "${0%.sh}")
HS_MAIN_PID=$$

: "${HOMEOSTAT_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${HOMEOSTAT_BUILD_DIR:=$HOMEOSTAT_SOURCE_DIR/build}"
: "${HOMEOSTAT_EXPORTER:=$HOMEOSTAT_BUILD_DIR/exporter/homeostat-exporter}"
: "${HOMEOSTAT_FIXTURES:=$HOMEOSTAT_SOURCE_DIR/tests/fixtures}"
: "${HOMEOSTAT_CONTROLLER:=$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}"
: "${HOMEOSTAT_ACT_DRIVER:=$HOMEOSTAT_BUILD_DIR/tests/act-driver}"
if [[ -z ${HOMEOSTAT_FAKE_NVML:-} && -e $HOMEOSTAT_BUILD_DIR/tests/libnvidia-ml-fake.so ]]; then
    HOMEOSTAT_FAKE_NVML=$HOMEOSTAT_BUILD_DIR/tests/libnvidia-ml-fake.so
fi
export HOMEOSTAT_SOURCE_DIR HOMEOSTAT_BUILD_DIR HOMEOSTAT_EXPORTER HOMEOSTAT_FIXTURES
export HOMEOSTAT_CONTROLLER HOMEOSTAT_ACT_DRIVER
# hs_asan_build: looked up once in the exporter binary (GCC links libasan, clang links its
# runtime statically). No pipe into grep -q: with pipefail, nm's SIGPIPE would read as false.
HS_ASAN_BUILD=
hs_asan_build() {
    if [[ -z $HS_ASAN_BUILD ]]; then
        local out
        out=$({ ldd "$HOMEOSTAT_EXPORTER" && nm "$HOMEOSTAT_EXPORTER"; } 2>/dev/null || true)
        HS_ASAN_BUILD=no
        [[ $out == *libasan.so* || $out == *__asan_init* ]] && HS_ASAN_BUILD=yes
    fi
    [[ $HS_ASAN_BUILD == yes ]]
}

# Curl must never go through a proxy to reach loopback.
export no_proxy='*' NO_PROXY='*'

HS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/homeostat-$HS_TEST_NAME.XXXXXX")

# Sanitizers (a build with HOMEOSTAT_ASAN or HOMEOSTAT_UBSAN, as make asan-test makes): every
# process the test starts writes its AddressSanitizer, LeakSanitizer and UBSan reports to
# files in HS_SANITIZER_DIR instead of stderr, where a test reading a daemon's output would
# not look; the exit trap counts a failure for each report and prints it. Programs built
# without sanitizers ignore these variables.
HS_SANITIZER_DIR=$HS_TMP/sanitizer
mkdir "$HS_SANITIZER_DIR"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$HS_SANITIZER_DIR/report" # report.PID
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$HS_SANITIZER_DIR/report"

say() { printf '%s: %s\n' "$HS_TEST_NAME" "$*"; }

pass() {
    HS_PASSED=$((HS_PASSED + 1))
    printf 'ok   - %s\n' "$*"
}

fail() {
    HS_FAILED=$((HS_FAILED + 1))
    printf 'FAIL - %s\n' "$*"
}

# check MSG CMD...: one check that passes when CMD succeeds.
check() {
    local msg=$1
    shift
    if "$@"; then
        pass "$msg"
    else
        fail "$msg (command: $*)"
        return 0
    fi
}

# check_eq MSG EXPECTED ACTUAL
check_eq() {
    if [[ $2 == "$3" ]]; then
        pass "$1"
    else
        fail "$1: expected '$2', got '$3'"
    fi
}

require_tool() {
    local t missing=0
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            fail "required tool '$t' is missing (scripts/install-deps.sh test installs it)"
            missing=1
        fi
    done
    if ((missing)); then
        finish
    fi
}

finish() {
    HS_FINISHED=1
    exit 0 # the exit trap decides the status
}

track_pid() { HS_PIDS+=("$1"); }

# A process is gone when /proc has no entry for it or it is a zombie.
hs_alive() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Every descendant of the test shell, parents first; leaves out the subshell running this
# function (it is one of them when called in $(...) or <(...)) and what it started.
hs_descendants() {
    local -A kids=()
    local f stat ppid self=$BASHPID
    for f in /proc/[0-9]*/stat; do
        { read -r stat <"$f"; } 2>/dev/null || continue
        stat=${stat##*) }            # "S PPID ..." after the command name
        ppid=${stat#* }
        ppid=${ppid%% *}
        f=${f#/proc/}
        kids[$ppid]+=" ${f%/stat}"
    done
    local queue=("$$") out=() p c
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        for c in ${kids[$p]:-}; do
            [[ $c == "$self" ]] && continue
            out+=("$c")
            queue+=("$c")
        done
    done
    ((${#out[@]})) && printf '%s\n' "${out[@]}"
    return 0
}

# stop_process PID [SECONDS]: SIGTERM, wait, SIGKILL; HS_STATUS = exit status or 'timeout'.
stop_process() {
    local pid=$1 secs=${2:-5} deadline
    HS_STATUS=
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + secs))
    while hs_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.05
    done
    if hs_alive "$pid"; then
        HS_STATUS=timeout
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 0
    fi
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    HS_STATUS=$rc
}

# await_process PID [SECONDS]: wait up to SECONDS (5) for PID to end on its own, then
# stop_process it; HS_STATUS as for stop_process.
await_process() {
    local pid=$1 deadline=$((SECONDS + ${2:-5}))
    while hs_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.02
    done
    if hs_alive "$pid"; then
        stop_process "$pid" 5
        [[ $HS_STATUS == timeout ]] || HS_STATUS=timeout
        return 0
    fi
    HS_STATUS=0
    wait "$pid" 2>/dev/null || HS_STATUS=$?
}

hs_kill_all() {
    local pids=() p deadline
    for p in "${HS_PIDS[@]}"; do
        hs_alive "$p" && pids+=("$p")
    done
    while read -r p; do
        [[ -n $p ]] && hs_alive "$p" && pids+=("$p")
    done < <(hs_descendants)
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)); do
        local left=0
        for p in "${pids[@]}"; do
            hs_alive "$p" && left=1
        done
        ((left)) || break
        sleep 0.05
    done
    for p in "${pids[@]}"; do
        if hs_alive "$p"; then
            say "process $p ignored SIGTERM for 5 s; killing it" >&2
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
}

hs_on_exit() {
    local rc=$1 line=$2
    # A forked child of the test shell (between fork and exec, or a subshell) inherits
    # the traps; only the test shell itself reports and cleans up.
    [[ $BASHPID == "$HS_MAIN_PID" ]] || return 0
    trap - EXIT INT TERM HUP
    set +e
    if ((!HS_FINISHED)); then
        fail "the test stopped early (status $rc, near line $line)"
    fi
    hs_kill_all
    local report
    for report in "$HS_SANITIZER_DIR"/*; do
        [[ -e $report ]] || continue
        fail "a process of this test wrote a sanitizer report ($report):"
        sed 's/^/    /' "$report"
    done
    if ((HS_FAILED)) || [[ -n ${HOMEOSTAT_KEEP_TMP:-} ]]; then
        say "logs and data kept in $HS_TMP"
    else
        rm -rf "$HS_TMP"
    fi
    printf '%d passed, %d failed\n' "$HS_PASSED" "$HS_FAILED"
    ((HS_FAILED == 0)) && exit 0
    exit 1
}

hs_on_signal() {
    if [[ $BASHPID != "$HS_MAIN_PID" ]]; then
        trap - "$1"
        kill -s "$1" "$BASHPID"
        exit 1
    fi
    fail "interrupted by SIG$1"
    HS_FINISHED=1
    exit 1 # runs the EXIT trap
}

trap 'hs_on_exit $? $LINENO' EXIT
trap 'hs_on_signal INT' INT
trap 'hs_on_signal TERM' TERM
trap 'hs_on_signal HUP' HUP

# spawn LOG CMD...: background CMD with its output in LOG; tracked; HS_PID is its pid.
spawn() {
    local log=$1
    shift
    # The redirection is made before the fork, so that anything the child says before
    # it execs (it may be signalled in that window) lands in LOG too.
    { "$@" </dev/null & } >"$log" 2>&1
    HS_PID=$!
    track_pid "$HS_PID"
    # Until it execs, the child is a copy of this shell with its traps: a signal it gets in
    # that window is taken by the trap and lost at exec. Wait (2 s at most) for the exec,
    # seen as a command line other than ours, so that stop_process is never lost.
    local me deadline=$((SECONDS + 2))
    hs_read_cmdline $$
    me=$HS_CMDLINE
    while hs_alive "$HS_PID" && ((SECONDS < deadline)); do
        hs_read_cmdline "$HS_PID"
        [[ $HS_CMDLINE == "$me" ]] || break
        sleep 0.01
    done
}

# hs_read_cmdline PID: HS_CMDLINE = its arguments joined by spaces (empty once it is gone).
hs_read_cmdline() {
    local -a args=()
    { mapfile -d '' args <"/proc/$1/cmdline"; } 2>/dev/null || true
    HS_CMDLINE="${args[*]}"
}

wait_until() {
    local secs=$1 deadline
    shift
    deadline=$(($(date +%s%N) + secs * 1000000000))
    while (($(date +%s%N) < deadline)); do
        if "$@"; then
            return 0
        fi
        sleep 0.2
    done
    "$@"
}

# curl with a time limit; never hangs a test.
hcurl() { curl -sS --max-time 10 "$@"; }

# http_code URL [CURL ARGS...]: the status code, or 000 when no answer came.
http_code() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" || true
}

# http_get FILE URL [CURL ARGS...]: the body into FILE; prints the status code (000 when no
# answer came).
http_get() {
    local file=$1 url=$2
    shift 2
    curl -s -o "$file" -w '%{http_code}' --max-time 10 "$@" "$url" || true
}

HS_EXPORTER_SEQ=0
start_exporter() {
    if [[ ! -x $HOMEOSTAT_EXPORTER ]]; then
        fail "exporter binary '$HOMEOSTAT_EXPORTER' is missing or not executable"
        return 1
    fi
    # Listeners with a fixed default port move to a kernel-chosen one (ctest runs tests in
    # parallel); flags given by the caller come later and win.
    local defaults=(--web.listen-address=127.0.0.1:0)
    if [[ -z ${HS_EXPORTER_HELP+set} ]]; then
        HS_EXPORTER_HELP=$("$HOMEOSTAT_EXPORTER" -h 2>&1 || true)
    fi
    if [[ $HS_EXPORTER_HELP == *--statsd.listen-udp=* ]]; then
        defaults+=(--statsd.listen-udp=127.0.0.1:0)
    fi
    HS_EXPORTER_SEQ=$((HS_EXPORTER_SEQ + 1))
    EXPORTER_LOG=$HS_TMP/exporter.$HS_EXPORTER_SEQ.log
    spawn "$EXPORTER_LOG" "$HOMEOSTAT_EXPORTER" "${defaults[@]}" "$@"
    EXPORTER_PID=$HS_PID
    EXPORTER_URL=$(wait_listening "$EXPORTER_LOG" "$EXPORTER_PID")
    if [[ -z $EXPORTER_URL ]]; then
        fail "exporter ($*) did not log 'listening on' within 10 s; its log:"
        sed 's/^/    /' "$EXPORTER_LOG"
        return 1
    fi
    EXPORTER_ADDR=${EXPORTER_URL#*://}
    EXPORTER_ADDR=${EXPORTER_ADDR%%/*}
    EXPORTER_BASE=${EXPORTER_URL%%://*}://$EXPORTER_ADDR
    EXPORTER_STATSD_ADDR=$(grep -m1 -o 'statsd: listening on udp [^ ]*' "$EXPORTER_LOG" |
        awk '{ print $NF }' || true)
    export EXPORTER_URL EXPORTER_ADDR EXPORTER_BASE EXPORTER_PID EXPORTER_LOG EXPORTER_STATSD_ADDR
}

free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# hs_start_ready NAME ARGS...: runs ARGS (a server) with every @PORT@ replaced by a free
# loopback port and @SEQ@ by a number unique in this test, output in HS_TMP/NAME.SEQ.log;
# waits (30 s) for GET /-/ready to answer 200. A port taken meanwhile is retried (5 times).
# Sets HS_READY_URL, HS_READY_LOG and HS_PID; returns 1 after a failed check otherwise.
HS_READY_SEQ=0
hs_start_ready() {
    local name=$1 attempt port arg args
    shift
    for attempt in 1 2 3 4 5; do
        HS_READY_SEQ=$((HS_READY_SEQ + 1))
        port=$(free_port)
        args=()
        for arg in "$@"; do
            arg=${arg//@PORT@/$port}
            args+=("${arg//@SEQ@/$HS_READY_SEQ}")
        done
        HS_READY_LOG=$HS_TMP/$name.$HS_READY_SEQ.log
        HS_READY_URL=http://127.0.0.1:$port
        spawn "$HS_READY_LOG" "${args[@]}"
        local deadline=$((SECONDS + 30))
        while ((SECONDS < deadline)) && hs_alive "$HS_PID"; do
            [[ $(http_code "$HS_READY_URL/-/ready" --max-time 2) == 200 ]] && return 0
            sleep 0.2
        done
        if hs_alive "$HS_PID"; then
            fail "$name did not become ready within 30 s; its log:"
            tail -n 30 "$HS_READY_LOG" | sed 's/^/    /'
            return 1
        fi
        wait "$HS_PID" 2>/dev/null || true
        if grep -q 'address already in use' "$HS_READY_LOG"; then
            say "port $port was taken before $name bound it; retrying ($attempt)"
            continue
        fi
        fail "$name exited at start; its log:"
        tail -n 30 "$HS_READY_LOG" | sed 's/^/    /'
        return 1
    done
    fail "$name could not bind a free port in 5 attempts"
    return 1
}

start_prometheus() {
    local data=${2:-$HS_TMP/prometheus-data.@SEQ@} retention=${3:-1h}
    hs_start_ready prometheus prometheus --config.file="$1" \
        --storage.tsdb.path="$data" \
        --web.listen-address=127.0.0.1:@PORT@ --storage.tsdb.retention.time="$retention" \
        --log.level=info || return 1
    PROM_URL=$HS_READY_URL PROM_LOG=$HS_READY_LOG PROM_PID=$HS_PID
    export PROM_URL PROM_PID PROM_LOG
}

start_victoriametrics() {
    hs_start_ready victoria-metrics victoria-metrics -httpListenAddr=127.0.0.1:@PORT@ \
        -storageDataPath="$HS_TMP/victoria-metrics-data.@SEQ@" -retentionPeriod=1d "$@" ||
        return 1
    VM_URL=$HS_READY_URL VM_LOG=$HS_READY_LOG VM_PID=$HS_PID
    export VM_URL VM_PID VM_LOG
}

vm_import() {
    local code
    code=$(/usr/bin/python3 -c 'import sys
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    series, ts = line.rstrip("\n").rsplit(" ", 1)
    print("%s %d" % (series, round(float(ts) * 1000)))' "$1" |
        curl -s -o /dev/null -w '%{http_code}' --max-time 60 --data-binary @- \
            "$VM_URL/api/v1/import/prometheus") || true
    [[ $code == 204 ]]
}

# start_etcd N: an etcd cluster of N members (Debian's etcd-server) on free loopback ports,
# waited for until healthy (30 s). Sets ETCD_ENDPOINTS (client URLs, comma-separated),
# ETCD_PORT[i] and ETCD_PID[i] (i from 1); returns 1 after a failed check. stop_etcd kills
# them (SIGKILL: a member stopped by SIGTERM waits seconds for its peers; the data goes).
start_etcd() {
    local n=$1 i cluster='' peer=() token=hs-$$-$RANDOM
    ETCD_ENDPOINTS=''
    ETCD_PORT=() ETCD_PID=()
    for ((i = 1; i <= n; i++)); do
        ETCD_PORT[i]=$(free_port)
        peer[i]=$(free_port)
        cluster+="${cluster:+,}e$i=http://127.0.0.1:${peer[i]}"
        ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+,}http://127.0.0.1:${ETCD_PORT[i]}"
    done
    for ((i = 1; i <= n; i++)); do
        spawn "$HS_TMP/etcd$i.log" etcd --name "e$i" --data-dir "$HS_TMP/etcd$i" \
            --listen-client-urls "http://127.0.0.1:${ETCD_PORT[i]}" \
            --advertise-client-urls "http://127.0.0.1:${ETCD_PORT[i]}" \
            --listen-peer-urls "http://127.0.0.1:${peer[i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${peer[i]}" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token "$token" --logger zap --log-level error
        ETCD_PID[i]=$HS_PID
    done
    if ! wait_until 30 etcdctl --endpoints="$ETCD_ENDPOINTS" --command-timeout=2s \
        endpoint health >/dev/null 2>&1; then
        fail "the etcd cluster of $n did not become healthy; its logs:"
        tail -n 20 "$HS_TMP"/etcd*.log | sed 's/^/    /'
        return 1
    fi
    export ETCD_ENDPOINTS
}
stop_etcd() {
    local p
    for p in "${ETCD_PID[@]}"; do
        kill -KILL "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }
    done
    return 0
}

start_alertmanager() {
    hs_start_ready alertmanager prometheus-alertmanager --config.file="$1" \
        --storage.path="$HS_TMP/alertmanager-data.@SEQ@" \
        --web.listen-address=127.0.0.1:@PORT@ --cluster.listen-address= \
        --log.level=info || return 1
    AM_URL=$HS_READY_URL AM_LOG=$HS_READY_LOG AM_PID=$HS_PID
    export AM_URL AM_PID AM_LOG
}

start_fake_kube_api() {
    local reqlog=$1 attempt port log
    for attempt in 1 2 3; do
        port=$(free_port)
        log=$HS_TMP/fake-kube-api.$attempt.log
        spawn "$log" /usr/bin/python3 "$HOMEOSTAT_SOURCE_DIR/tests/integration/fakes/fake_kube_api.py" \
            --port "$port" --log "$reqlog"
        KUBE_API_PID=$HS_PID
        if wait_until 10 grep -q 'listening on' "$log"; then
            KUBE_API_URL=http://127.0.0.1:$port
            export KUBE_API_URL KUBE_API_PID
            return 0
        fi
        stop_process "$KUBE_API_PID"
        say "fake_kube_api did not start on port $port (attempt $attempt): $(cat "$log")"
    done
    fail "fake_kube_api.py did not start"
    return 1
}

wait_listening() {
    local line='' deadline=$((SECONDS + ${3:-10}))
    while ((SECONDS < deadline)); do
        line=$(grep -m1 -o 'listening on https\?://[^ ]*' "$1" 2>/dev/null || true)
        [[ -n $line ]] && break
        hs_alive "$2" || break
        sleep 0.05
    done
    printf '%s' "${line#listening on }"
}

prom_query() {
    hcurl -G "$PROM_URL/api/v1/query" --data-urlencode "query=$1"
}

# prom_values EXPR: the values of the result, one a line (nothing for an empty vector);
# fails when the query itself failed.
prom_values() {
    local json
    json=$(prom_query "$1") || return 1
    /usr/bin/python3 -c 'import json, sys
r = json.loads(sys.argv[1])
if r.get("status") != "success":
    sys.stderr.write("query failed: %s\n" % sys.argv[1])
    sys.exit(1)
d = r["data"]
if d["resultType"] in ("scalar", "string"):
    print(d["result"][1])
else:
    for s in d["result"]:
        print(s["value"][1])' "$json"
}

jget() {
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2], {"d": d})
    print(v if isinstance(v, str) else json.dumps(v))
except Exception as e:
    print("<error: %r>" % e)
EOF
}

jstr() {
    /usr/bin/python3 -c 'import json, sys, time, datetime
d = json.loads(sys.argv[1])
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$1" "$2"
}

# prom_has EXPR: the query returns at least one sample.
prom_has() { [[ -n $(prom_values "$1" 2>/dev/null) ]]; }

# metric_value TEXT NAME_WITH_LABELS: the value of the first exposition line for that series.
metric_value() {
    awk -v s="$2" '$1 == s { print $2; exit }' <<<"$1"
}

# --- self-test, when this file is run rather than sourced -------------------------------
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    port=$(free_port)
    check "free_port gives a port number ($port)" test "$port" -ge 1 -a "$port" -le 65535

    spawn "$HS_TMP/sleep.log" sleep 60
    pid=$HS_PID
    stop_process "$pid" 5
    check_eq "stop_process ends a process with SIGTERM (status 128+15)" 143 "$HS_STATUS"
    check "the stopped process is gone" bash -c "! kill -0 $pid 2>/dev/null"

    spawn "$HS_TMP/stubborn.log" bash -c 'trap "" TERM; exec sleep 60'
    pid=$HS_PID
    sleep 0.2
    start=$SECONDS
    stop_process "$pid" 1
    check_eq "stop_process kills a process that ignores SIGTERM" timeout "$HS_STATUS"
    check "... within its deadline" test $((SECONDS - start)) -le 3
    check "... and it is gone" bash -c "! kill -0 $pid 2>/dev/null"

    start=$(date +%s%N)
    rc=0
    wait_until 1 false || rc=$?
    check_eq "wait_until fails when the condition never holds" 1 "$rc"
    check "... after about its timeout" test $((($(date +%s%N) - start) / 1000000)) -lt 3000

    # A test that fails a check: one failure, status 1, summary last, no process left,
    # including one it started without tracking and one that ignores SIGTERM.
    lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh
    {
        printf '. "%s"\n' "$lib"
        printf 'sleep 300 &\necho $! >"%s"\n' "$HS_TMP/untracked.pid"
        printf 'spawn "%s" bash -c %q\n' "$HS_TMP/stubborn2.log" 'trap "" TERM; exec sleep 300'
        # shellcheck disable=SC2016 # expanded by the inner test
        printf 'echo $HS_PID >"%s"\n' "$HS_TMP/stubborn.pid"
        printf 'pass "a check that passes"\nfail "a check that fails on purpose"\nfinish\n'
    } >"$HS_TMP/failing.sh"
    rc=0
    output=$(TMPDIR=$HS_TMP bash "$HS_TMP/failing.sh" 2>&1) || rc=$?
    check_eq "a test with a failed check exits 1" 1 "$rc"
    check_eq "... and its last line is the summary" "1 passed, 1 failed" "$(tail -n1 <<<"$output")"
    for f in untracked stubborn; do
        p=$(cat "$HS_TMP/$f.pid")
        check "... and its $f process ($p) is gone" bash -c "! kill -0 $p 2>/dev/null"
    done

    # A test that stops on an unexpected error (set -e) counts it as a failure.
    printf '. "%s"\npass "first"\nfalse\npass "never reached"\nfinish\n' "$lib" \
        >"$HS_TMP/aborting.sh"
    rc=0
    output=$(TMPDIR=$HS_TMP bash "$HS_TMP/aborting.sh" 2>&1) || rc=$?
    check_eq "a test stopped by set -e exits 1" 1 "$rc"
    check_eq "... and reports it as a failure" "1 passed, 1 failed" "$(tail -n1 <<<"$output")"

    # A sanitizer report written by a process of the test fails it, and is shown.
    {
        printf '. "%s"\npass "first"\n' "$lib"
        # shellcheck disable=SC2016 # expanded by the inner test
        printf 'echo "ERROR: AddressSanitizer: on purpose" >"$HS_SANITIZER_DIR/report.42"\n'
        printf 'finish\n'
    } >"$HS_TMP/sanitized.sh"
    rc=0
    output=$(TMPDIR=$HS_TMP bash "$HS_TMP/sanitized.sh" 2>&1) || rc=$?
    check_eq "a test whose process wrote a sanitizer report exits 1" 1 "$rc"
    check_eq "... and counts it as a failure" "1 passed, 1 failed" "$(tail -n1 <<<"$output")"
    check "... and prints the report" grep -q 'ERROR: AddressSanitizer: on purpose' <<<"$output"
    check "the options send reports to HS_SANITIZER_DIR" \
        grep -q "log_path=$HS_SANITIZER_DIR/report" <<<"$ASAN_OPTIONS"
    if [[ -x $HOMEOSTAT_EXPORTER && -r $HOMEOSTAT_BUILD_DIR/CMakeCache.txt ]]; then
        asan=no
        hs_asan_build && asan=yes
        want=no
        grep -q '^HOMEOSTAT_ASAN:BOOL=ON$' "$HOMEOSTAT_BUILD_DIR/CMakeCache.txt" && want=yes
        check_eq "hs_asan_build agrees with HOMEOSTAT_ASAN in $HOMEOSTAT_BUILD_DIR" "$want" "$asan"
    fi

    # An interrupted test still cleans up.
    {
        printf '. "%s"\n' "$lib"
        # shellcheck disable=SC2016 # expanded by the inner test
        printf 'spawn "%s" sleep 300\necho $HS_PID >"%s"\n' "$HS_TMP/int.log" "$HS_TMP/int.pid"
        printf 'sleep 30 & wait $!\nfinish\n'
    } >"$HS_TMP/interrupted.sh"
    TMPDIR=$HS_TMP bash "$HS_TMP/interrupted.sh" >"$HS_TMP/interrupted.out" 2>&1 &
    ipid=$!
    track_pid "$ipid"
    wait_until 5 test -s "$HS_TMP/int.pid" || true
    kill -TERM "$ipid"
    rc=0
    wait "$ipid" || rc=$?
    check_eq "a test stopped by SIGTERM exits 1" 1 "$rc"
    check_eq "... and reports it" "0 passed, 1 failed" "$(tail -n1 "$HS_TMP/interrupted.out")"
    p=$(cat "$HS_TMP/int.pid")
    check "... and its process ($p) is gone" bash -c "! kill -0 $p 2>/dev/null"
    finish
fi

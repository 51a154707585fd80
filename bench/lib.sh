# shellcheck shell=bash
# shellcheck disable=SC2034 # hs_url, node_url, hz...: set for the scripts that source it
# bench/lib.sh: process handling shared by the bench scripts (run.sh, slowconn.sh,
# controller-bench.sh, ingest-bench.sh), sourced by each of them first thing after
# `set -euo pipefail`, with the prefix of its messages as the argument:
#
#     . "$(dirname "${BASH_SOURCE[0]}")/lib.sh" slowconn
#
# Sourcing it exports no_proxy='*' and NO_PROXY='*' (every request goes to loopback) and
# installs the traps: at exit every process whose pid is in pids is stopped (stop), then
# every other child of the script's shell still running, then the script's bench_at_exit
# runs when it defines one; SIGINT, SIGTERM and SIGHUP exit 130 through it. No trap sees
# SIGKILL: a process started with the guard prefix gets SIGTERM from the kernel when the
# script's shell dies, however it dies.
#
# What it gives:
#   root                the repository root
#   exporter            $HOMEOSTAT_EXPORTER, else build/exporter/homeostat-exporter
#   node_exporter       $NODE_EXPORTER, else prometheus-node-exporter (Debian's)
#   py                  /usr/bin/python3 (Debian's python3 packages load in it)
#   pids                the processes to stop at exit: add every one started (pids+=("$!"))
#   guard               the prefix of every command started in the background (an array:
#                       "${guard[@]}" CMD ... &): setpriv --pdeathsig TERM, so that it ends
#                       with the script even when the script is killed by SIGKILL
#   bench_out NAME      prints $BENCH_OUT, else a new temporary directory NAME.XXXXXX; creates it
#   die MSG, log MSG    "NAME: MSG" on stderr (NAME: the argument above); die exits 1
#   require SET TOOL... dies naming 'scripts/install-deps.sh SET' when a TOOL is missing
#   stop PID...         SIGTERM to each, up to 5 s for them all, then SIGKILL; reaps them and
#                       takes them out of pids (a pid stopped may be reused by then)
#   nap SECONDS         a sleep that a signal interrupts at once (bash runs a trap only after
#                       the foreground command ends, but during 'wait' straight away)
#   free_port           a free loopback TCP port, asked of the kernel
#   wait_http URL SECONDS   returns 0 once URL answers 2xx, 1 after SECONDS
#   wait_log FILE PID   prints the first 'listening on http://HOST:PORT...' URL of FILE; fails
#                       after 10 s or when PID has exited
#   start_homeostat LOG     $exporter with its default flags, its listeners on loopback ports
#                       chosen by the kernel, stdout and stderr to LOG; sets hs_args (the
#                       flags), hs_pid, hs_url (its /metrics URL) and hs_addr (HOST:PORT)
#   start_node_exporter LOG $node_exporter on a free loopback port (five tries), output to
#                       LOG; sets node_pid and node_url (its /metrics URL)
#   hz                  clock ticks per second
#   cpu_ticks PID       utime + stime of PID (all threads), clock ticks
#   cpu_ns PID          CPU time of every thread of PID, ns (schedstat: finer than ticks)
#   status_kb PID KEY   a field of /proc/PID/status, such as VmHWM (kB)

bench_name=${1:-bench}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exporter=${HOMEOSTAT_EXPORTER:-$root/build/exporter/homeostat-exporter}
node_exporter=${NODE_EXPORTER:-prometheus-node-exporter}
py=/usr/bin/python3
export no_proxy='*' NO_PROXY='*'

bench_out() { # NAME
    local d=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")}
    mkdir -p "$d"
    echo "$d"
}

die() {
    echo "$bench_name: $*" >&2
    exit 1
}
log() { echo "$bench_name: $*" >&2; }

require() { # SET TOOL...
    local set=$1 t
    shift
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || die "'$t' is missing (scripts/install-deps.sh $set)"
    done
}

# --- processes: every one started here is stopped at exit -------------------------------------
pids=()
nap_pid=
guard=(setpriv --pdeathsig TERM)

stop() { # PID...
    local p q deadline keep=()
    for p in "$@"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    deadline=$((SECONDS + 5))
    for p in "$@"; do
        while kill -0 "$p" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.05
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    for q in "${pids[@]}"; do
        for p in "$@"; do
            [[ $q == "$p" ]] && continue 2
        done
        keep+=("$q")
    done
    pids=("${keep[@]}")
}

cleanup() {
    trap - EXIT INT TERM HUP
    local strays=()
    if [[ -n $nap_pid ]]; then
        kill -TERM "$nap_pid" 2>/dev/null || true
    fi
    stop "${pids[@]}"
    # Whatever else this shell started and still runs (a start that failed half-way).
    mapfile -t strays < <(pgrep -P $$ || true)
    ((${#strays[@]} == 0)) || stop "${strays[@]}"
    if declare -F bench_at_exit >/dev/null; then
        bench_at_exit
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

nap() { # SECONDS
    sleep "$1" &
    nap_pid=$!
    wait "$nap_pid" || true
    nap_pid=
}

free_port() {
    "$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

wait_http() { # URL SECONDS
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        curl -sf -o /dev/null --max-time 2 "$1" && return 0
        sleep 0.1
    done
    return 1
}

wait_log() { # FILE PID
    local u i
    for ((i = 0; i < 200; i++)); do
        u=$(grep -m1 -o 'listening on http://[^ ]*' "$1" 2>/dev/null || true)
        [[ -n $u ]] && {
            echo "${u#listening on }"
            return 0
        }
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    return 1
}

# --- the exporters ------------------------------------------------------------------------------
start_homeostat() { # LOG
    # Default flags, except that listeners move to kernel-chosen loopback ports.
    hs_args=(--web.listen-address=127.0.0.1:0)
    if "$exporter" -h 2>&1 | grep -q -- '--statsd.listen-udp='; then
        hs_args+=(--statsd.listen-udp=127.0.0.1:0)
    fi
    { "${guard[@]}" "$exporter" "${hs_args[@]}" </dev/null & } >"$1" 2>&1
    hs_pid=$!
    pids+=("$hs_pid")
    hs_url=$(wait_log "$1" "$hs_pid") || die "homeostat-exporter did not start: $(cat "$1")"
    hs_addr=${hs_url#http://}
    hs_addr=${hs_addr%%/*}
}

start_node_exporter() { # LOG
    local port
    node_url=
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        { "${guard[@]}" "$node_exporter" --web.listen-address="127.0.0.1:$port" </dev/null & } >"$1" 2>&1
        node_pid=$!
        pids+=("$node_pid")
        if wait_http "http://127.0.0.1:$port/metrics" 10; then
            node_url=http://127.0.0.1:$port/metrics
            return 0
        fi
        stop "$node_pid"
    done
    die "node_exporter did not start: $(tail -n 5 "$1")"
}

# --- /proc readers ------------------------------------------------------------------------------
hz=$(getconf CLK_TCK)
cpu_ticks() { # PID
    local stat
    stat=$(cat "/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}
cpu_ns() { # PID
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%.0f\n", t }'
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

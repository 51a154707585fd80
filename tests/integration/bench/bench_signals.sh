#!/bin/bash
# bench_signals.sh: a benchmark stopped half-way leaves nothing running. bench/regulation.sh
# (the bench that starts the most: the exporter, Prometheus, Alertmanager, the demo
# application, a sampler and the load generator) is started in a session of its own and,
# once its first run's load is on, stopped by SIGTERM, by SIGINT, and by SIGKILL, which
# no trap sees (bench/lib.sh starts every process with a parent-death signal). Each time
# every process of the session must be gone within 15 s, and after SIGTERM and SIGINT
# the bench must exit 130.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
require_tool prometheus prometheus-alertmanager curl git setpriv pgrep /usr/bin/python3

SRC=$HOMEOSTAT_SOURCE_DIR
if ! git -C "$SRC" cat-file -e 2e062f7:demo/rules.yaml 2>/dev/null; then
    echo "SKIP: $SRC is no git clone with commit 2e062f7 (the bench reads its step rules from it)"
    exit 77
fi
for b in exporter/homeostat-exporter controller/homeostat-controller demo/homeostat-demo-app; do
    check "built: $b" test -x "$HOMEOSTAT_BUILD_DIR/$b"
done

# session_pids SID: the processes of session SID, one per line.
session_pids() { pgrep -s "$1" || true; }
session_empty() { [[ -z $(session_pids "$1") ]]; }
loadgen_runs() { pgrep -s "$1" -f demo/loadgen.py >/dev/null; }

for sig in TERM INT KILL; do
    out=$HS_TMP/$sig
    mkdir -p "$out"
    # A command started with & ignores SIGINT, and a shell cannot trap what it was started
    # ignoring: SIGINT is given back its default first, as a terminal's foreground job has
    # it (Ctrl-C). setsid then execs (the bench is no group leader): the bench's pid is
    # its session's id.
    BENCH_OUT=$out/raw BENCH_SWEEP=64 HOMEOSTAT_BUILD_DIR=$HOMEOSTAT_BUILD_DIR \
        spawn "$out/bench.log" /usr/bin/python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' setsid bash "$SRC/bench/regulation.sh" 12 1
    bench=$HS_PID
    if ! wait_until 90 loadgen_runs "$bench"; then
        fail "$sig: the bench's first load did not start; its log: $(tail -n 5 "$out/bench.log")"
        pkill -KILL -s "$bench" 2>/dev/null || true
        continue
    fi
    sleep 2
    before=$(session_pids "$bench" | wc -l)
    ps -o pid,ppid,cmd -s "$bench" >"$out/before.txt" || true
    # the bench's shell, the exporter, Prometheus, Alertmanager, the app, sampler, loadgen
    check "$sig: the bench runs 7 processes or more before the signal (got $before)" test "$before" -ge 7
    kill -"$sig" "$bench"
    await_process "$bench" 20
    case $sig in
    TERM | INT) check_eq "$sig: the bench exits 130" 130 "$HS_STATUS" ;;
    esac
    if wait_until 15 session_empty "$bench"; then
        pass "$sig: nothing of the bench runs 15 s after the signal"
    else
        fail "$sig: still running after the signal: $(ps -o pid,cmd -s "$bench" | tail -n +2 | tr '\n' ';')"
        pkill -KILL -s "$bench" 2>/dev/null || true
    fi
done
finish

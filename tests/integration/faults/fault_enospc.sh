#!/usr/bin/env bash
# fault_enospc: the disk full (ENOSPC) under homeostat-controller's audit log and state file.
# The controller evaluates every 200 ms against the real Prometheus (signal vector(1)) and
# decides at every evaluation (cooldown 0) to run an exec action that appends its decision
# id to a marker file. strace attaches to the running controller and makes the kernel
# answer ENOSPC (fault injection, -e inject=...:error=ENOSPC -P PATH), then detaches:
#  1. write(2) on the audit log fails: every decision is refused (outcome failed, error
#     "audit log write failed" in the status, decisions_total{result="failed"},
#     audit_errors_total), the log names the audit file and the error, the marker file
#     stays untouched (nothing runs without its audit record), the audit log is unchanged,
#     evaluations go on; strace detached (space back), the same process acts again, each
#     action after its executed decision record
#  2. fsync(2) on the audit log fails after the write succeeded: the same, and the record
#     that was written is cut off again (the log is byte for byte what it was)
#  3. write(2) on the state file's temp file fails: state_file_errors_total grows, the log
#     names the file, state.json stays the last good one (parses, saved_at unchanged), no
#     temp file is left, actions go on (they are audited); detached, saves resume
#  4. a real full file system: the state directory on a 256 KiB tmpfs (in a private mount
#     namespace: unshare -m, so nothing is left mounted) filled up by the test, then
#     emptied. Skipped, with a message and without counting as passed, where mounting is
#     not allowed.
# About 25 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus strace curl /usr/bin/python3

CTL=$HOMEOSTAT_CONTROLLER
if [[ ! -x $CTL ]]; then
    fail "controller binary '$CTL' is missing (build the homeostat-controller target)"
    finish
fi

printf 'global:\n  scrape_interval: 15s\n' >"$HS_TMP/prometheus.yml"
start_prometheus "$HS_TMP/prometheus.yml" || finish

# write_rules FILE MARKS: the rules, the exec action appending {{id}} to MARKS.
write_rules() {
    cat >"$1" <<EOF
evaluation_interval: 200ms
prometheus: {url: "$PROM_URL", timeout: 200ms}
signals:
  one: {query: vector(1)}
states:
  - name: busy
    conditions: ["one > 0"]
  - name: idle
limits: {max_actions_per_hour: 0}
decisions:
  busy:
    cooldown: 0s
    actions:
      - exec: {argv: [/bin/sh, -c, 'echo "\$1" >>"\$2"', sh, "{{id}}", "$2"], retries: 0}
EOF
}

# Yama (ptrace_scope 1) lets a process be traced only by its ancestors, unless it says
# otherwise: the controller is started through this, which allows any tracer, then execs.
ALLOW_TRACE='import ctypes, os, sys
ctypes.CDLL(None).prctl(0x59616d61, ctypes.c_ulong(-1), 0, 0, 0)  # PR_SET_PTRACER_ANY
os.execv(sys.argv[1], sys.argv[1:])'

# ---- helpers ----------------------------------------------------------------------------

metric() { metric_value "$(hcurl "$CTL_URL/metrics" 2>/dev/null || true)" "$1"; }
# mnum NAME: the metric as an integer (0 when absent).
mnum() { local v; v=$(metric "$1"); printf '%.0f' "${v:-0}"; }
lines() { if [[ -e $1 ]]; then grep -c . "$1" || true; else echo 0; fi; }
# shellcheck disable=SC2317 # the predicates are called through wait_until and check
metric_gt() { (($(mnum "$1") > $2)); }
# shellcheck disable=SC2317
lines_gt() { (($(lines "$1") > $2)); }
# shellcheck disable=SC2317
alive() { hs_alive "$CTL_PID"; }

# audit_ok FILE: "ok N" when every line is a JSON object ending in a newline.
# shellcheck disable=SC2317 # also called through audit_parses
audit_ok() {
    /usr/bin/python3 - "$1" <<'EOF'
import json, sys
data = open(sys.argv[1], "rb").read()
if data and not data.endswith(b"\n"):
    print("torn last line: %r" % data[-80:])
    sys.exit(0)
lines = data.split(b"\n")[:-1]
for i, line in enumerate(lines):
    try:
        json.loads(line)
    except Exception as e:
        print("line %d does not parse (%s): %r" % (i + 1, e, line[:80]))
        sys.exit(0)
print("ok", len(lines))
EOF
}

# shellcheck disable=SC2317 # called through check
audit_parses() { [[ $(audit_ok "$1") == ok* ]]; }

# acted_without_audit AUDIT MARKS: marker ids without an executed decision record.
acted_without_audit() {
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import json, os, sys
done = set()
for line in open(sys.argv[1], "rb"):
    r = json.loads(line)
    if r.get("type") == "decision" and r.get("outcome") == "executed":
        done.add(r["id"])
if os.path.exists(sys.argv[2]):
    print(" ".join(l.strip() for l in open(sys.argv[2]) if l.strip() and l.strip() not in done))
EOF
}

# start_ctl NAME STATE_DIR MARKS [WRAPPER...]: the controller; sets CTL_PID, CTL_URL, CTL_LOG.
start_ctl() {
    local name=$1 dir=$2 marks=$3
    shift 3
    write_rules "$HS_TMP/rules-$name.yaml" "$marks"
    CTL_LOG=$HS_TMP/ctl-$name.log
    spawn "$CTL_LOG" "$@" "$CTL" --config="$HS_TMP/rules-$name.yaml" \
        --web.listen-address=127.0.0.1:0 --state.directory="$dir"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$CTL_LOG" "$CTL_PID")
    if [[ -z $CTL_URL ]]; then
        fail "controller $name did not start; its log:"
        sed 's/^/    /' "$CTL_LOG"
        finish
    fi
}

# inject NAME SYSCALL PATH [TRACED]: strace attached to the controller (all its threads),
# making SYSCALL on PATH fail with ENOSPC, tracing SYSCALL (or the TRACED set) on PATH into
# HS_TMP/strace-NAME.trace; sets STRACE_PID once the first traced call came.
inject() {
    local log=$HS_TMP/strace-$1.log
    spawn "$log" strace -f -qq -y -o "$HS_TMP/strace-$1.trace" -e trace="${4:-$2}" \
        -e inject="$2":error=ENOSPC -P "$3" -p "$CTL_PID"
    STRACE_PID=$HS_PID
    if ! wait_until 5 test -s "$HS_TMP/strace-$1.trace"; then
        fail "strace did not trace a $2 on $3 within 5 s; its log:"
        sed 's/^/    /' "$log"
        return 1
    fi
}

STATE=$HS_TMP/state
AUDIT=$STATE/audit.jsonl
MARKS=$HS_TMP/actions.txt
start_ctl main "$STATE" "$MARKS" /usr/bin/python3 -c "$ALLOW_TRACE"
check "the controller acts (3 actions run)" wait_until 10 lines_gt "$MARKS" 2

# audit_fault NAME SYSCALL [TRACED]: part 1 (write) or 2 (fsync).
audit_fault() {
    local name=$1 call=$2 traced=${3:-$2} e0 f0 ev0 m0 size0 sum0 failed
    failed='homeostat_controller_decisions_total{state="busy",action="exec",result="failed"}'
    e0=$(mnum homeostat_controller_audit_errors_total)
    f0=$(mnum "$failed")
    inject "$name" "$call" "$AUDIT" "$traced" || return 0
    if ! wait_until 5 metric_gt homeostat_controller_audit_errors_total "$e0"; then
        fail "$call ENOSPC on the audit log: audit_errors_total did not grow in 5 s"
        stop_process "$STRACE_PID"
        return 0
    fi
    # Evaluations run one after the other: the action of the last audited decision is over.
    m0=$(lines "$MARKS")
    size0=$(stat -c %s "$AUDIT")
    sum0=$(md5sum <"$AUDIT")
    ev0=$(mnum homeostat_controller_evaluations_total)
    e0=$(mnum homeostat_controller_audit_errors_total)
    sleep 2
    local ev1 e1 f1
    ev1=$(mnum homeostat_controller_evaluations_total)
    e1=$(mnum homeostat_controller_audit_errors_total)
    f1=$(mnum "$failed")
    check "$call ENOSPC on the audit log: the controller keeps running" alive
    check "... evaluations go on ($((ev1 - ev0)) in 2 s)" test "$ev1" -ge $((ev0 + 4))
    check "... each decision counted in audit_errors_total ($((e1 - e0)) more)" \
        test "$e1" -ge $((e0 + 4))
    check "... and in decisions_total{result=\"failed\"} ($((f1 - f0)) more)" \
        test "$f1" -ge $((f0 + 4))
    check_eq "... no action ran (the marker file has $m0 lines)" "$m0" "$(lines "$MARKS")"
    check_eq "... the audit log is unchanged ($size0 bytes)" "$sum0" "$(md5sum <"$AUDIT")"
    check "... the log names the file and the error" \
        grep -q "audit: cannot record decision [^ ]* in $AUDIT; not acting on it: No space left on device" \
        "$CTL_LOG"
    http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status" >/dev/null
    check_eq "... the status shows the last decision failed, and why" \
        "failed / audit log write failed / not_run" \
        "$(jget "$HS_TMP/status.json" "(lambda x: ' / '.join([x['outcome'], x['error'],
            x['actions'][0]['result']]))(d['data']['last_decision'])")"
    stop_process "$STRACE_PID" 5
    check "strace detached (space back): the same process acts again" \
        wait_until 5 lines_gt "$MARKS" "$m0"
    check "... its audit log parses line by line" audit_parses "$AUDIT"
    check_eq "... and every action ran after its executed decision record" "" \
        "$(acted_without_audit "$AUDIT" "$MARKS")"
}
audit_fault write write
audit_fault fsync fsync write,fsync,ftruncate
# shellcheck disable=SC2317 # called through check
written_then_cut() {
    /usr/bin/python3 - "$HS_TMP/strace-fsync.trace" <<'EOF'
import re, sys
calls = [m.group(1) + ("-" if m.group(2) else "+")
         for m in re.finditer(r"\b(write|fsync|ftruncate)\(.*\) = (-1 ENOSPC)?", open(sys.argv[1]).read())]
# every record: a whole write, the failed fsync, a ftruncate back
sys.exit(0 if "write+ fsync- ftruncate+" in " ".join(calls) else 1)
EOF
}
check "fsync ENOSPC: strace saw each record written, its fsync fail and the file cut back" \
    written_then_cut

# ---- 3: the state file ----------------------------------------------------------------
saved() { jget "$STATE/state.json" "d['saved_at']"; }
s0=$(mnum homeostat_controller_state_file_errors_total)
inject state write "$STATE/state.json.tmp.$CTL_PID" || true
if wait_until 5 metric_gt homeostat_controller_state_file_errors_total "$s0"; then
    t0=$(saved)
    m0=$(lines "$MARKS")
    s0=$(mnum homeostat_controller_state_file_errors_total)
    sleep 2
    s1=$(mnum homeostat_controller_state_file_errors_total)
    check "write ENOSPC on the state file: state_file_errors_total grows ($((s1 - s0)) in 2 s)" \
        test "$s1" -ge $((s0 + 4))
    check "... the log names the file and the error" \
        grep -q "state: cannot save $STATE/state.json: No space left on device" "$CTL_LOG"
    check_eq "... state.json is still the last good one (saved_at $t0)" "$t0" "$(saved)"
    check_eq "... no temp file is left" "" "$(find "$STATE" -name 'state.json.tmp.*')"
    check "... actions go on, audited ($(($(lines "$MARKS") - m0)) in 2 s)" lines_gt "$MARKS" "$m0"
    check_eq "... each after its executed decision record" "" \
        "$(acted_without_audit "$AUDIT" "$MARKS")"
    stop_process "$STRACE_PID" 5
    # shellcheck disable=SC2317 # called through wait_until
    saved_after() { [[ $(saved) != "$t0" && $(saved) != '<error'* ]]; }
    check "strace detached: the state file is saved again" wait_until 5 saved_after
else
    fail "write ENOSPC on the state file: state_file_errors_total did not grow in 5 s"
fi
check "the controller is still running" alive
stop_process "$CTL_PID" 10
check_eq "... and stops on SIGTERM with status 0" 0 "$HS_STATUS"

# ---- 4: a real full file system --------------------------------------------------------
TDIR=$HS_TMP/small
mkdir -p "$TDIR"
# shellcheck disable=SC2016 # expanded by the inner shell
if ! unshare -m --propagation private sh -c 'mount -t tmpfs -o size=256k tmpfs "$1"' sh \
    "$TDIR" >"$HS_TMP/mount.log" 2>&1; then
    say "SKIPPED part 4 (a full tmpfs): cannot mount one here: $(head -c 200 "$HS_TMP/mount.log")"
    finish
fi
MARKS2=$HS_TMP/actions-tmpfs.txt
# shellcheck disable=SC2016 # expanded by the inner shell
start_ctl tmpfs "$TDIR/state" "$MARKS2" unshare -m --propagation private sh -c \
    'mount -t tmpfs -o size=256k tmpfs "$1" && shift && exec "$@"' sh "$TDIR"
ROOT=/proc/$CTL_PID/root
AUDIT2=$ROOT$TDIR/state/audit.jsonl
check "tmpfs: the controller acts" wait_until 10 lines_gt "$MARKS2" 2
check "... its audit log is on the tmpfs, not on the host" \
    eval "[[ -s $AUDIT2 && ! -e $TDIR/state/audit.jsonl ]]"
e0=$(mnum homeostat_controller_audit_errors_total)
s0=$(mnum homeostat_controller_state_file_errors_total)
dd if=/dev/zero of="$ROOT$TDIR/filler" bs=4k >/dev/null 2>&1 || true
say "tmpfs full: $(stat -f -c '%a of %b blocks of %S bytes free' "$ROOT$TDIR")"
if wait_until 10 metric_gt homeostat_controller_audit_errors_total "$e0"; then
    m0=$(lines "$MARKS2")
    sleep 2
    check "tmpfs full: the controller keeps running" alive
    check_eq "... no action ran" "$m0" "$(lines "$MARKS2")"
    check "... audit errors counted" metric_gt homeostat_controller_audit_errors_total "$e0"
    check "... state file errors counted" \
        metric_gt homeostat_controller_state_file_errors_total "$s0"
    check "... the log names the audit log" \
        grep -q "in $TDIR/state/audit.jsonl; not acting on it: No space left on device" "$CTL_LOG"
    check "... the audit log parses line by line" audit_parses "$AUDIT2"
    rm -f "$ROOT$TDIR/filler"
    check "space freed: the controller acts again" wait_until 5 lines_gt "$MARKS2" "$m0"
    check_eq "... every action after its executed decision record" "" \
        "$(acted_without_audit "$AUDIT2" "$MARKS2")"
else
    fail "tmpfs full: audit_errors_total did not grow in 10 s"
fi
stop_process "$CTL_PID" 10
check_eq "tmpfs: the controller stops on SIGTERM with status 0" 0 "$HS_STATUS"
finish

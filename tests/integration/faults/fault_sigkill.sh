#!/usr/bin/env bash
# fault_sigkill: homeostat-controller killed with SIGKILL at random moments, again and again,
# while it writes its state file and audit log as fast as it can: evaluation every 100 ms
# against the real Prometheus (the signal is vector(1)), a decision with cooldown 0 and an
# exec action at every evaluation, so each evaluation appends two audit records (the
# decision before the action, its result after) and saves the state file.
# KILLS iterations (default 40): start, wait 50..500 ms (random), SIGKILL, then check
#  - state.json parses, is a version 1 state file, and its decision counter never goes back
#    (it is the old file or a newer one, never a mix; the temp file of a save cut short is
#    the only thing left beside it, and the next start removes it)
#  - every line of the audit log is one JSON record ending in a newline
#  - every action that ran (the exec action appends its decision id to a file) has its
#    decision recorded in the audit log with outcome executed: audit before act
# Every 8th iteration a torn record (part of a line, no newline) is appended to the audit log
# before the restart, as a crash inside write(2) would leave it: the next start must cut it
# off, log a warning naming the file and export the cut bytes in
# homeostat_controller_audit_truncated_bytes. At the end a last start evaluates normally and
# stops cleanly. About 30 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl /usr/bin/python3

CTL=$HOMEOSTAT_CONTROLLER
if [[ ! -x $CTL ]]; then
    fail "controller binary '$CTL' is missing (build the homeostat-controller target)"
    finish
fi
KILLS=${KILLS:-40}
STATE_DIR=$HS_TMP/state
AUDIT=$STATE_DIR/audit.jsonl
MARKS=$HS_TMP/actions.txt

printf 'global:\n  scrape_interval: 15s\n' >"$HS_TMP/prometheus.yml"
start_prometheus "$HS_TMP/prometheus.yml" || finish

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<EOF
evaluation_interval: 100ms
prometheus: {url: "$PROM_URL", timeout: 100ms}
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
      - exec: {argv: [/bin/sh, -c, 'echo "\$1" >>"\$2"', sh, "{{id}}", "$MARKS"], retries: 0}
EOF
if ! "$CTL" check "$RULES" >"$HS_TMP/check.out" 2>&1; then
    fail "the rules file does not pass check:"
    sed 's/^/    /' "$HS_TMP/check.out"
    finish
fi

# audit_ok FILE: every line a JSON object ending in a newline; prints "ok RECORDS" or
# what is wrong.
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
        if not isinstance(json.loads(line), dict):
            raise ValueError("not an object")
    except Exception as e:
        print("line %d does not parse (%s): %r" % (i + 1, e, line[:80]))
        sys.exit(0)
print("ok", len(lines))
EOF
}

# seq_of FILE: decision_seq of a state file, or "bad: ..." when it is no state file.
seq_of() {
    jget "$1" "(d['decision_seq'] if d.get('version') == 1 and
        isinstance(d.get('decision_seq'), int) else 'bad: not a version 1 state file')"
}

# acted_without_audit: ids in MARKS with no executed decision in the audit log, one a line.
acted_without_audit() {
    /usr/bin/python3 - "$AUDIT" "$MARKS" <<'EOF'
import json, os, sys
executed = set()
for line in open(sys.argv[1], "rb"):
    try:
        r = json.loads(line)
    except Exception:
        continue
    if r.get("type") == "decision" and r.get("outcome") == "executed":
        executed.add(r["id"])
if os.path.exists(sys.argv[2]):
    for line in open(sys.argv[2]):
        if line.strip() and line.strip() not in executed:
            print(line.strip())
EOF
}

bad_state=0 bad_audit=0 bad_order=0 bad_tmp=0 went_back=0 torn_cut=0 torn_made=0
starts_ok=0 last_seq=0 torn_pending=0 torn_len=0 prev_pid=
for ((i = 1; i <= KILLS; i++)); do
    spawn "$HS_TMP/ctl.$i.log" "$CTL" --config="$RULES" --web.listen-address=127.0.0.1:0 \
        --state.directory="$STATE_DIR"
    pid=$HS_PID
    url=$(wait_listening "$HS_TMP/ctl.$i.log" "$pid" 5)
    if [[ -n $url ]]; then
        starts_ok=$((starts_ok + 1))
        # The temp file of the previous run (killed) is gone once this one has started.
        if [[ -n $prev_pid && -e $STATE_DIR/state.json.tmp.$prev_pid ]]; then
            bad_tmp=$((bad_tmp + 1))
            say "iteration $i: state.json.tmp.$prev_pid of the killed run is still there"
        fi
    else
        say "iteration $i: the controller did not log 'listening on' in 5 s"
    fi
    if ((torn_pending)); then
        m=$(metric_value "$(hcurl "$url/metrics" 2>/dev/null || true)" \
            homeostat_controller_audit_truncated_bytes)
        if ! grep -q "audit: $AUDIT ended in a partial record ($torn_len bytes" \
            "$HS_TMP/ctl.$i.log"; then
            say "iteration $i: no warning about the torn audit record in its log"
        elif [[ ${m%.*} != "$torn_len" ]]; then
            say "iteration $i: homeostat_controller_audit_truncated_bytes is '$m', not $torn_len"
        else
            torn_cut=$((torn_cut + 1))
        fi
    fi
    torn_pending=0
    sleep "0.$(printf '%03d' $((50 + RANDOM % 451)))"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    prev_pid=$pid

    if [[ -e $STATE_DIR/state.json ]]; then
        seq=$(seq_of "$STATE_DIR/state.json")
        if [[ $seq != [0-9]* ]]; then
            bad_state=$((bad_state + 1))
            say "iteration $i: state.json is not a valid state file: $seq"
        elif ((seq < last_seq)); then
            went_back=$((went_back + 1))
            say "iteration $i: decision_seq went back from $last_seq to $seq"
        else
            last_seq=$seq
        fi
    fi
    for f in "$STATE_DIR"/state.json.tmp.*; do
        [[ -e $f && $f != "$STATE_DIR/state.json.tmp.$pid" ]] || continue
        bad_tmp=$((bad_tmp + 1))
        say "iteration $i: a temp file of another run is left: $f"
    done
    if [[ -e $AUDIT ]]; then
        a=$(audit_ok "$AUDIT")
        if [[ $a != ok* ]]; then
            bad_audit=$((bad_audit + 1))
            say "iteration $i: the audit log: $a"
        fi
    fi
    missing=$(acted_without_audit)
    if [[ -n $missing ]]; then
        bad_order=$((bad_order + 1))
        say "iteration $i: actions ran without an executed decision in the audit log: $missing"
    fi
    if ((i % 8 == 0 && i < KILLS)) && [[ -e $AUDIT ]]; then
        torn='{"type":"decision","id":"torn-by-the-test","reasoning":"cut sh'
        printf '%s' "$torn" >>"$AUDIT"
        torn_len=${#torn}
        torn_pending=1
        torn_made=$((torn_made + 1))
    fi
done

actions=$(grep -c . "$MARKS" 2>/dev/null || true)
records=$(audit_ok "$AUDIT")
say "$KILLS kills: $starts_ok starts logged 'listening on', ${actions:-0} actions ran," \
    "audit log: ${records#ok } records, last decision_seq $last_seq"
check_eq "every start after a SIGKILL came up ($KILLS starts)" "$KILLS" "$starts_ok"
check "the controller acted between the kills (${actions:-0} actions ran)" \
    test "${actions:-0}" -ge $((KILLS / 2))
check_eq "state.json always parsed as a state file after a kill" 0 "$bad_state"
check_eq "... and its decision counter never went back (old or new file)" 0 "$went_back"
check_eq "no temp file of an earlier run was left beside it after a start" 0 "$bad_tmp"
check_eq "the audit log parsed line by line after every kill" 0 "$bad_audit"
check_eq "every action that ran had its decision audited (executed) before" 0 "$bad_order"
check_eq "every torn audit record was cut off at the next start, logged and exported" \
    "$torn_made" "$torn_cut"

# A last start: it evaluates, acts and stops cleanly.
spawn "$HS_TMP/ctl.last.log" "$CTL" --config="$RULES" --web.listen-address=127.0.0.1:0 \
    --state.directory="$STATE_DIR"
pid=$HS_PID
url=$(wait_listening "$HS_TMP/ctl.last.log" "$pid")
# shellcheck disable=SC2317 # called through evaluated
evals() {
    metric_value "$(hcurl "$url/metrics" 2>/dev/null || true)" homeostat_controller_evaluations_total
}
# shellcheck disable=SC2317 # called through wait_until
evaluated() { local v; v=$(evals); [[ -n $v ]] && ((${v%.*} >= 3)); }
check "the last start evaluates (3 evaluations)" wait_until 10 evaluated
before=$(grep -c . "$MARKS")
# shellcheck disable=SC2317 # called through wait_until
acted() { (($(grep -c . "$MARKS") > before)); }
check "... and acts" wait_until 5 acted
stop_process "$pid" 10
check_eq "... and stops on SIGTERM with status 0" 0 "$HS_STATUS"
check_eq "... leaving the audit log whole" "" "$(audit_ok "$AUDIT" | grep -v '^ok')"
check_eq "... and no temp file" "" "$(find "$STATE_DIR" -name 'state.json.tmp.*')"
check_eq "... and no action without its audit record" "" "$(acted_without_audit)"
finish

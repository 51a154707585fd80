#!/usr/bin/env bash
# actuator_exec: the exec actuator through act-driver (the daemon's own validate, expansion
# and retry loop) with real programs.
#  - argv with spaces, quotes and shell metacharacters arrives verbatim, one argument each,
#    and nothing in it is run (no shell anywhere)
#  - a process tree (a shell, two background sleeps, one ignoring SIGTERM) that hangs:
#    with timeout 1s the driver returns by the deadline plus the kill grace with status
#    retry, and none of the tree's processes is left
#  - a leader that exits at once leaving a child that holds its stdout: the driver returns
#    well before the deadline, ok, and the child is gone
#  - the environment: PATH, LANG=C.UTF-8 and the env map only; a secret in the driver's
#    environment does not reach the program
#  - exit 75 with retries 2: status retry after 3 attempts; exit 3: fail after 1, with the
#    first stderr line in the error; placeholders in argv; revert runs the revert argv
#  - --server-dry-run runs nothing
# About 5 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool /usr/bin/python3

DRIVER=$HOMEOSTAT_ACT_DRIVER
if [[ ! -x $DRIVER ]]; then
    fail "act-driver '$DRIVER' is missing (build the act-driver target)"
    finish
fi

# drive ARGS...: OUT = the driver's stdout, RC = its exit status.
drive() {
    RC=0
    OUT=$("$DRIVER" "$@" 2>"$HS_TMP/driver.err") || RC=$?
}

# json_args ARG...: a JSON array of the arguments.
json_args() { /usr/bin/python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"; }

# gone PID...: every pid has ended (no process, or a zombie waiting for init).
# shellcheck disable=SC2317 # called through check and wait_until
gone() {
    local p
    for p in "$@"; do
        hs_alive "$p" && return 1
    done
    return 0
}

# ---- argv verbatim, no shell --------------------------------------------------------------
PWNED=$HS_TMP/pwned
ARGS=("[%s]\n" "two words" "\$(touch $PWNED)" "\`touch $PWNED\`" "; touch $PWNED" "*"
    "it's \"quoted\"" "a|b&&c>$PWNED" "")
drive apply exec "{\"argv\": $(json_args /usr/bin/printf "${ARGS[@]}")}"
check_eq "argv with metacharacters: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
EXPECTED=$(printf '[%s]\n' "${ARGS[@]:1}")
check_eq "... every argument arrives verbatim" "$EXPECTED" "$(jstr "$OUT" 'd["detail"]["stdout"].rstrip("\n")')"
check "... and nothing in them ran" test ! -e "$PWNED"

# ---- a hanging process tree ---------------------------------------------------------------
PIDS=$HS_TMP/tree.pids
start=$(date +%s%N)
drive apply exec "{\"argv\": [\"/bin/sh\", \"-c\", \"echo \$\$ >$PIDS; /bin/sleep 300 & echo \$! >>$PIDS; (trap '' TERM; exec /bin/sleep 300) & echo \$! >>$PIDS; /bin/sleep 300\"], \"timeout\": \"1s\", \"retries\": 0}"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check_eq "hanging tree: retry status" "1 retry" "$RC $(jstr "$OUT" 'd["status"]')"
check_eq "... timed out" true "$(jstr "$OUT" 'd["detail"]["timed_out"]')"
check "... returned after the 1 s deadline, within the kill grace (${elapsed_ms} ms)" \
    test "$elapsed_ms" -ge 1000 -a "$elapsed_ms" -lt 4000
mapfile -t tree <"$PIDS"
check_eq "... the tree had 3 processes" 3 "${#tree[@]}"
check "... none of them is left (${tree[*]})" wait_until 2 gone "${tree[@]}"

# ---- a leader that leaves a child holding its output --------------------------------------
start=$(date +%s%N)
drive apply exec "{\"argv\": [\"/bin/sh\", \"-c\", \"/bin/sleep 300 & echo \$!\"], \"timeout\": \"20s\"}"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check_eq "leader exits, child keeps stdout: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
check "... returned long before the 20 s deadline (${elapsed_ms} ms)" test "$elapsed_ms" -lt 3000
CHILD=$(jstr "$OUT" 'd["detail"]["stdout"].strip()')
check "... and the child ($CHILD) is gone" wait_until 2 gone "$CHILD"

# ---- environment ------------------------------------------------------------------------
SECRET="homeostat-secret-$RANDOM$RANDOM"
RC=0
OUT=$(HOMEOSTAT_TEST_SECRET=$SECRET LANG=fr_FR.UTF-8 "$DRIVER" apply exec \
    '{"argv": ["env"], "env": {"MODE": "{{state}}"}}' 2>&1) || RC=$?
ENV_OUT=$(jstr "$OUT" 'd["detail"]["stdout"]')
check_eq "env: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
check_eq "... the program sees LANG, MODE and PATH only" "LANG MODE PATH" \
    "$(sed -n 's/=.*//p' <<<"$ENV_OUT" | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "... LANG=C.UTF-8, MODE=critical" "C.UTF-8 critical" \
    "$(sed -n 's/^LANG=//p' <<<"$ENV_OUT") $(sed -n 's/^MODE=//p' <<<"$ENV_OUT")"
# shellcheck disable=SC2317 # called through check and wait_until
lacks_secret() { ! grep -qF -- "$SECRET" <<<"$1"; }
check "... and not the secret" lacks_secret "$OUT"

# ---- statuses -----------------------------------------------------------------------------
drive apply exec '{"argv": ["/bin/sh", "-c", "echo busy >&2; exit 75"], "retries": 2, "backoff": "10ms"}'
check_eq "exit 75: retry after 3 attempts" "1 retry 3" \
    "$RC $(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["attempts"]')"
drive apply exec '{"argv": ["/bin/sh", "-c", "echo no such volume >&2; exit 3"], "retries": 2}'
check_eq "exit 3: fail after 1 attempt" "1 fail 1" \
    "$RC $(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["attempts"]')"
check_eq "... with the first stderr line" "exec /bin/sh: exit 3: no such volume" "$(jstr "$OUT" 'd["error"]')"
drive validate exec '{"argv": ["./relative"]}'
check "a relative program path is refused (exit 2)" test "$RC" = 2
drive --state=degraded apply exec '{"argv": ["/bin/echo", "now {{state}}"], "revert": ["/bin/echo", "back from {{state}}"]}'
check_eq "placeholders: now degraded" "now degraded" "$(jstr "$OUT" 'd["detail"]["stdout"].strip()')"
drive revert exec "$(jstr "$OUT" 'd["params"]')" "$(jstr "$OUT" 'd["undo"]')"
check_eq "revert runs the revert argv" "ok back from degraded" \
    "$(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["detail"]["stdout"].strip()')"

# ---- dry run ------------------------------------------------------------------------------
drive --server-dry-run apply exec "{\"argv\": [\"/usr/bin/touch\", \"$PWNED\"]}"
check_eq "--server-dry-run: ok, skipped" "0 ok dry run" \
    "$RC $(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["detail"]["skipped"]')"
check "... and nothing ran" test ! -e "$PWNED"

finish

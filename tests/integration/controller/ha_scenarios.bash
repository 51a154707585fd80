# ha_scenarios.bash: what ha_etcd.sh and ha_kubernetes.sh share (sourced after the backend
# is up): three homeostat-controllers with HA_ARGS (the backend's flags), lease 3 s, renew
# deadline 2 s, retry 0.5 s; their only signals are alerts posted to each replica's
# Alertmanager webhook, as an Alertmanager with three webhook_configs would; critical runs an
# exec action that writes a line to a log the three share, and reverts it when left;
# degraded runs a slow action (2 s) and then another. The scenarios:
#  - exactly one leads; the others are standbys naming it (status, metric); a standby
#    refuses an operator's pause with 503 naming the leader
#  - critical: the leader applies once; the standbys record no decision
#  - SIGKILL the leader: another leads within lease + retry (+1 s of slack), takes the
#    shared state over (audited), and when the alert resolves reverts the action: once in
#    all, by the new leader
#  - SIGSTOP the leader in the middle of the slow action, past its lease: another leads;
#    continued, the stopped one does not run the decision's next action ("not run: ...")
#    and steps down (audited); the new leader does not repeat the decision
# The caller goes on with its backend's own failures (leaders(), one_leader, no_leader,
# alert_all, count, audit_count, ha_of and ALIVE are there for it).
: "${ACTS:?}" "${HA_ARGS:?}" "${TOKEN:?}"
AUTH=(-H "Authorization: Bearer $TOKEN")
# ---- the controllers ------------------------------------------------------------------
cat >"$HS_TMP/record" <<EOF
#!/bin/sh
echo "\$1" >>"$ACTS"
EOF
cat >"$HS_TMP/slow" <<EOF
#!/bin/sh
echo slow-start >>"$ACTS"
sleep 2
echo slow-end >>"$ACTS"
EOF
chmod +x "$HS_TMP/record" "$HS_TMP/slow"
RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<EOF
evaluation_interval: 300ms
prometheus: {url: "http://127.0.0.1:9"}
states:
  - name: critical
    severity: critical
    conditions: ["alert:Overload == 1"]
  - name: degraded
    severity: warning
    conditions: ["alert:Slow == 1"]
  - name: optimal
decisions:
  critical:
    cooldown: 1h
    revert_on_exit: true
    revert_delay: 0s
    actions:
      - exec: {argv: ["$HS_TMP/record", apply], revert: ["$HS_TMP/record", revert]}
  degraded:
    cooldown: 1h
    actions:
      - exec: {argv: ["$HS_TMP/slow"], timeout: 10s}
      - exec: ["$HS_TMP/record", after-slow]
EOF
declare -a CPID CURL
start_replica() {
    local i=$1
    spawn "$HS_TMP/c$i.log" "$HOMEOSTAT_CONTROLLER" --config="$RULES" \
        --web.listen-address=127.0.0.1:0 --state.directory="$HS_TMP/state$i" \
        --web.admin-token-file="$HS_TMP/token" \
        "${HA_ARGS[@]}" --ha.identity="c$i" \
        --ha.lease-duration=3s --ha.renew-deadline=2s --ha.retry-period=500ms
    CPID[i]=$HS_PID
    CURL[i]=$(wait_listening "$HS_TMP/c$i.log" "${CPID[i]}")
    if [[ -z ${CURL[i]} ]]; then
        fail "controller c$i did not start; its log:"
        sed 's/^/    /' "$HS_TMP/c$i.log"
        finish
    fi
}
for i in 1 2 3; do start_replica "$i"; done
ALIVE=(1 2 3)

# ha_of I EXPR: EXPR (Python, h is /api/v1/status's ha object) for replica I.
ha_of() {
    local code
    code=$(http_get "$HS_TMP/st$1.json" "${CURL[$1]}/api/v1/status" --max-time 3)
    [[ $code == 200 ]] || { echo "<no answer>"; return; }
    jget "$HS_TMP/st$1.json" "(lambda h: $2)(d['data']['ha'])"
}
# leaders: the replicas (of those alive) acting now, one a line.
leaders() {
    local i
    for i in "${ALIVE[@]}"; do
        [[ $(ha_of "$i" "h['acting']") == true ]] && echo "$i"
    done
    return 0
}
one_leader() { LEADER=$(leaders); [[ $(wc -w <<<"$LEADER") == 1 ]]; }
no_leader() { [[ -z $(leaders) ]]; }
# alert I NAME firing|resolved: Alertmanager's webhook to replica I
alert() {
    local body
    body=$(printf '{"version":"4","status":"%s","receiver":"homeostat","alerts":[{"status":"%s","labels":{"alertname":"%s"},"annotations":{},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"fp-%s"}]}' "$3" "$3" "$2" "$2")
    http_code "${CURL[$1]}/api/v1/alertmanager" -X POST "${AUTH[@]}" \
        -H 'Content-Type: application/json' --data "$body" >/dev/null
}
alert_all() { local i; for i in "${ALIVE[@]}"; do alert "$i" "$1" "$2"; done; }
count() { grep -cx "$1" "$ACTS" || true; }
count_ge() { (($(count "$1") >= $2)); }
# audit_count I EXPR: records of replica I's audit log for which EXPR (r) holds.
audit_count() {
    /usr/bin/python3 - "$HS_TMP/state$1/audit.jsonl" "$2" <<'EOF'
import json, sys
n = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        n += bool(eval(sys.argv[2], {"r": r}))
except FileNotFoundError:
    pass
print(n)
EOF
}
audit_ge() { (($(audit_count "$1" "$2") >= $3)); }
remove_alive() { local x=$1 i; local -a keep=(); for i in "${ALIVE[@]}"; do [[ $i == "$x" ]] || keep+=("$i"); done; ALIVE=("${keep[@]}"); }

# ---- exactly one leader ----------------------------------------------------------------
if wait_until 10 one_leader; then
    pass "exactly one replica leads (c$LEADER)"
else
    fail "not exactly one leader: '$(leaders | tr '\n' ' ')'"
    finish
fi
sleep 1
check "still exactly one a second later" one_leader
L1=$LEADER
for i in "${ALIVE[@]}"; do
    [[ $i == "$L1" ]] && continue
    check_eq "standby c$i names c$L1 as the holder" "c$L1" "$(ha_of "$i" "h['holder']")"
    check "standby c$i's homeostat_controller_leader is 0" \
        grep -qx 'homeostat_controller_leader 0' <(hcurl "${CURL[$i]}/metrics")
    code=$(http_get "$HS_TMP/pause.json" "${CURL[$i]}/api/v1/pause" -X POST "${AUTH[@]}")
    check_eq "standby c$i refuses a pause with 503" 503 "$code"
    check "... naming the leader" grep -q "c$L1 leads" "$HS_TMP/pause.json"
done
check "the leader's homeostat_controller_leader is 1" \
    grep -qx 'homeostat_controller_leader 1' <(hcurl "${CURL[$L1]}/metrics")
# The status pages say it too (HA_STATUS_PAGE=1: one backend's test is enough)
if [[ ${HA_STATUS_PAGE:-} == 1 ]]; then
    require_tool chromium
    . "$HOMEOSTAT_SOURCE_DIR/tests/integration/chromium.sh"
    for i in "${ALIVE[@]}"; do
        dump "page$i" "${CURL[$i]}/"
        if [[ $i == "$L1" ]]; then
            check_eq "c$i's status page says it leads" "leader (c$i, $(ha_of "$i" "h['backend']"))" \
                "$(tid "page$i" ha "t['text']")"
        else
            check_eq "c$i's status page says it is a standby and who leads" \
                "STANDBY: c$L1 leads" "$(tid "page$i" ha "t['text']")"
        fi
    done
fi

# ---- the leader acts, once -------------------------------------------------------------
alert_all Overload firing
wait_until 5 count_ge apply 1 || true
sleep 1
check_eq "critical: the action ran once" 1 "$(count apply)"
check_eq "... by the leader" 1 "$(audit_count "$L1" "r.get('type') == 'action_result' and r.get('result') == 'ok'")"
for i in "${ALIVE[@]}"; do
    [[ $i == "$L1" ]] && continue
    check_eq "standby c$i recorded no decision" 0 "$(audit_count "$i" "r.get('type') == 'decision'")"
done

# ---- SIGKILL the leader: another leads and reverts once --------------------------------
t0=$(date +%s%N)
kill -KILL "${CPID[$L1]}"
wait "${CPID[$L1]}" 2>/dev/null || true
remove_alive "$L1"
if wait_until 6 one_leader; then
    ms=$((($(date +%s%N) - t0) / 1000000))
    L2=$LEADER
    check "c$L2 leads ${ms} ms after c$L1 was killed (lease 3 s + retry 0.5 s + 1 s)" test "$ms" -le 4500
else
    fail "nobody leads after the leader was killed: '$(leaders | tr '\n' ' ')'"
    finish
fi
wait_until 3 audit_ge "$L2" "r.get('type') == 'ha_takeover'" 1 || true
check_eq "c$L2 took the shared state over with the action in effect" 1 \
    "$(audit_count "$L2" "r.get('type') == 'ha_takeover' and r.get('effects') == 1")"
sleep 1
check_eq "the new leader did not repeat the action" 1 "$(count apply)"
alert_all Overload resolved
wait_until 5 count_ge revert 1 || true
sleep 1
check_eq "the alert resolved: reverted once in all" 1 "$(count revert)"
check_eq "... by the new leader" 1 "$(audit_count "$L2" "r.get('type') == 'revert_result'")"

# ---- SIGSTOP the leader in the middle of an action -------------------------------------
alert_all Slow firing
if ! wait_until 5 count_ge slow-start 1; then
    fail "the slow action did not start"
    finish
fi
kill -STOP "${CPID[$L2]}"
remove_alive "$L2"
if wait_until 6 one_leader; then
    L3=$LEADER
    pass "c$L3 leads while c$L2 is stopped"
else
    fail "nobody leads while the leader is stopped"
fi
sleep 2.5 # the slow action (a process of its own) ends meanwhile
kill -CONT "${CPID[$L2]}"
ALIVE+=("$L2")
wait_until 5 audit_ge "$L2" "r.get('type') == 'ha_standby'" 1 || true
check_eq "c$L2, continued, stepped down (audited)" 1 \
    "$(audit_count "$L2" "r.get('type') == 'ha_standby'")"
check_eq "... and did not run the decision's next action" 0 "$(count after-slow)"
check_eq "... which it recorded as not run" 1 \
    "$(audit_count "$L2" "r.get('type') == 'action_result' and 'not run' in (r.get('error') or '')")"
check "exactly one leader after c$L2 came back (c$L3)" one_leader
check_eq "... still c$L3" "$L3" "$LEADER"
sleep 1
check_eq "the new leader did not repeat the slow decision" 1 "$(count slow-start)"


#!/usr/bin/env bash
# ha_soak: replicated controllers under random leader kills and pauses, on a real
# three-member etcd cluster. Three homeostat-controllers (--ha.backend=etcd, lease 2 s,
# renew deadline 1.5 s, retry 0.3 s); a state that changes every 2 to 4 s (the alert Flip
# fires and resolves, posted to every replica's Alertmanager webhook as Alertmanager would,
# again every second); critical runs an exec action (again every second while it lasts)
# that writes "apply" to a log the three share and reverts it ("revert") when left, within
# an hourly budget of 60 actions. Every 3 to 6 s the leader is killed (SIGKILL, restarted 1
# to 2 s later) or paused past its lease (SIGSTOP for 3 s, then SIGCONT). Then, from the
# audit logs of all replicas together and the shared log:
#  - never two replicas acting in the same second (each action's start: its record's time
#    less its duration)
#  - no decision's action run twice; no effect reverted twice (but across a takeover, below)
#    nor reverted unapplied; every action recorded as run has its line in the shared log
#  - the leader changed hands (kills and pauses happened), the decisions went on, and the
#    hourly budget held for the replicas together
# The windows of docs/ARCHITECTURE.md ("High availability") are counted and shown, not
# failed: an effect a killed leader applied in the milliseconds before its state reached
# etcd is not carried over; one it reverted then is reverted again by the next leader (a
# revert twice is a failure unless another replica took over between the two).
# HA_SOAK_SECONDS sets the length: 40 in make test, 600 in `make ha-soak`.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool etcd etcdctl curl /usr/bin/python3
if [[ ! -x $HOMEOSTAT_CONTROLLER ]]; then
    fail "controller binary '$HOMEOSTAT_CONTROLLER' is missing"
    finish
fi
DURATION=${HA_SOAK_SECONDS:-40}
# The hourly budget is shared state too: reached by a long soak, it holds for all the
# replicas together (each with its own would let three times as many through).
BUDGET=60

TOKEN=s3cret-$$
printf 'admin %s\n' "$TOKEN" >"$HS_TMP/token"
AUTH=(-H "Authorization: Bearer $TOKEN")
ACTS=$HS_TMP/acts.log
: >"$ACTS"

start_etcd 3 || finish

cat >"$HS_TMP/record" <<EOF
#!/bin/sh
echo "\$1" >>"$ACTS"
EOF
chmod +x "$HS_TMP/record"
RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<EOF
evaluation_interval: 200ms
prometheus: {url: "http://127.0.0.1:9"}
limits: {max_actions_per_hour: $BUDGET}
states:
  - name: critical
    severity: critical
    conditions: ["alert:Flip == 1"]
  - name: optimal
decisions:
  critical:
    cooldown: 1s
    revert_on_exit: true
    revert_delay: 0s
    actions:
      - exec: {argv: ["$HS_TMP/record", apply], revert: ["$HS_TMP/record", revert]}
EOF
declare -a CPID CURL
start_replica() {
    local i=$1
    spawn "$HS_TMP/c$i.log" "$HOMEOSTAT_CONTROLLER" --config="$RULES" \
        --web.listen-address=127.0.0.1:0 --state.directory="$HS_TMP/state$i" \
        --web.admin-token-file="$HS_TMP/token" --ha.backend=etcd \
        --ha.etcd.endpoints="$ETCD_ENDPOINTS" --ha.identity="c$i" \
        --ha.lease-duration=2s --ha.renew-deadline=1500ms --ha.retry-period=300ms
    CPID[i]=$HS_PID
    CURL[i]=$(wait_listening "$HS_TMP/c$i.log" "${CPID[i]}")
    [[ -n ${CURL[i]} ]] || { fail "controller c$i did not start"; sed 's/^/    /' "$HS_TMP/c$i.log"; finish; }
}
for i in 1 2 3; do start_replica "$i"; done
declare -A DOWN=() # replica -> "killed" or "paused"

leader() {
    local i
    for i in 1 2 3; do
        [[ -n ${DOWN[$i]:-} ]] && continue
        if [[ $(http_get "$HS_TMP/st.json" "${CURL[i]}/api/v1/status" --max-time 1) == 200 &&
            $(jget "$HS_TMP/st.json" "d['data']['ha']['acting']") == true ]]; then
            echo "$i"
            return 0
        fi
    done
    return 1
}
FLIP=resolved
post_alert() {
    local i body
    body=$(printf '{"version":"4","status":"%s","receiver":"homeostat","alerts":[{"status":"%s","labels":{"alertname":"Flip"},"annotations":{},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"fp-flip"}]}' "$FLIP" "$FLIP")
    for i in 1 2 3; do
        [[ -n ${DOWN[$i]:-} ]] && continue
        http_code "${CURL[i]}/api/v1/alertmanager" -X POST "${AUTH[@]}" --max-time 1 \
            -H 'Content-Type: application/json' --data "$body" >/dev/null
    done
}

wait_until 10 leader >/dev/null || { fail "no leader at start"; finish; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
end=$(($(now_ms) + DURATION * 1000))
next_flip=$(($(now_ms) + 2000))
next_fault=$(($(now_ms) + 3000))
kills=0 pauses=0 flips=0
declare -A BACK_AT=()
while (($(now_ms) < end)); do
    t=$(now_ms)
    if ((t >= next_flip)); then
        if [[ $FLIP == firing ]]; then FLIP=resolved; else FLIP=firing; fi
        flips=$((flips + 1))
        next_flip=$((t + 2000 + RANDOM % 2000))
    fi
    post_alert
    if ((t >= next_fault)); then
        if l=$(leader); then
            if ((RANDOM % 2)); then
                kill -KILL "${CPID[l]}"
                wait "${CPID[l]}" 2>/dev/null || true
                DOWN[$l]=killed
                kills=$((kills + 1))
                BACK_AT[$l]=$((t + 1000 + RANDOM % 1000))
            else
                kill -STOP "${CPID[l]}"
                DOWN[$l]=paused
                pauses=$((pauses + 1))
                BACK_AT[$l]=$((t + 3000))
            fi
        fi
        next_fault=$((t + 3000 + RANDOM % 3000))
    fi
    for i in "${!BACK_AT[@]}"; do
        if (($(now_ms) >= BACK_AT[$i])); then
            if [[ ${DOWN[$i]} == killed ]]; then
                start_replica "$i"
            else
                kill -CONT "${CPID[i]}"
            fi
            unset "DOWN[$i]" "BACK_AT[$i]"
        fi
    done
    sleep 0.5
done
# bring everyone back, settle in optimal, and let the leader revert what is in effect
for i in "${!BACK_AT[@]}"; do
    if [[ ${DOWN[$i]} == killed ]]; then start_replica "$i"; else kill -CONT "${CPID[i]}"; fi
    unset "DOWN[$i]" "BACK_AT[$i]"
done
FLIP=resolved
for _ in 1 2 3 4 5 6 7 8; do post_alert; sleep 0.5; done
say "$DURATION s: $flips state changes, $kills leaders killed, $pauses paused"

/usr/bin/python3 - "$HS_TMP" "$ACTS" >"$HS_TMP/verdict.txt" <<'EOF'
import json, sys, collections
tmp, acts = sys.argv[1], sys.argv[2]
acting = collections.defaultdict(set)  # second -> replicas that started an action then
applied = collections.Counter()        # (decision id, index) -> ok action results
reverted = collections.defaultdict(list)  # effect key -> (time, replica) of ok reverts
revert_of = {}                         # revert record id -> the effect key it reverts
results = []
acquired = collections.Counter()
takeovers = collections.defaultdict(list)  # replica -> times it took the state over
for i in (1, 2, 3):
    try:
        lines = open("%s/state%d/audit.jsonl" % (tmp, i)).read().splitlines()
    except FileNotFoundError:
        continue
    for line in lines:
        r = json.loads(line)
        t = r.get("type")
        if t == "ha_leader":
            acquired["c%d" % i] += 1
        elif t == "ha_takeover":
            takeovers[i].append(r["timestamp"])
        elif t == "revert":
            revert_of[r["id"]] = r["of"]
        elif t in ("action_result", "revert_result"):
            results.append((i, r))
for i, r in results:
    if r.get("attempts", 0) == 0 or "not run" in (r.get("error") or ""):
        continue  # fenced: nothing ran
    acting[int(r["timestamp"] - r.get("duration_seconds", 0))].add(i)
    if r.get("result") != "ok":
        continue
    if r["type"] == "action_result":
        applied["%s/%d" % (r["id"], r.get("index", 0))] += 1
    else:
        reverted[revert_of.get(r["id"], "?")].append((r["timestamp"], i))
two = sorted(s for s, who in acting.items() if len(who) > 1)
# A revert run twice: the documented window (its leader died between the revert and the
# state write after it, so the next leader took over a state that still had it) when
# another replica took over between the two; anything else is a bug.
window = bug = 0
for key, runs in reverted.items():
    runs.sort()
    for (t1, a), (t2, b) in zip(runs, runs[1:]):
        if a != b and any(t1 < t <= t2 for t in takeovers[b]):
            window += 1
        else:
            bug += 1
seq = [l.strip() for l in open(acts) if l.strip()]
print("two_acting %d %s" % (len(two), two[:5]))
print("applied_twice %d" % sum(1 for n in applied.values() if n > 1))
print("reverted_twice %d" % bug)
print("reverted_again_after_takeover %d" % window)
print("reverted_not_applied %d" % len(set(reverted) - set(applied)))
print("not_carried_over %d" % len(set(applied) - set(reverted)))
print("apply_results %d" % sum(applied.values()))
print("revert_results %d" % sum(len(v) for v in reverted.values()))
print("apply_lines %d" % seq.count("apply"))
print("revert_lines %d" % seq.count("revert"))
print("replicas_led %d" % len(acquired))
print("acquisitions %d" % sum(acquired.values()))
EOF
v() { awk -v k="$1" '$1 == k { print $2 }' "$HS_TMP/verdict.txt"; }
sed 's/^/    /' "$HS_TMP/verdict.txt"
check_eq "never two replicas acting in the same second" 0 "$(v two_acting)"
check_eq "no decision's action ran twice (in all the audit logs)" 0 "$(v applied_twice)"
check_eq "no action in effect reverted twice but across a takeover (the documented window)" 0 \
    "$(v reverted_twice)"
check_eq "nothing reverted that was not applied" 0 "$(v reverted_not_applied)"
check "the decisions went on ($(v apply_results) actions)" test "$(v apply_results)" -ge 2
check "the leadership changed hands ($(v acquisitions) acquisitions by $(v replicas_led) replicas)" \
    test "$(v acquisitions)" -ge 2
check "the hourly budget ($BUDGET) held across the leaders ($(v apply_results) actions)" \
    test "$(v apply_results)" -le "$BUDGET"
check "the shared log has a line for every action recorded as run" \
    test "$(v apply_lines)" -ge "$(v apply_results)" -a "$(v revert_lines)" -ge "$(v revert_results)"
# Not failed, shown (docs/ARCHITECTURE.md, "High availability"): effects applied by a
# leader killed before its state reached etcd, and actions a killed leader ran without
# recording their result.
say "not carried over: $(v not_carried_over); reverted again after a takeover: $(v reverted_again_after_takeover); lines without a recorded result: $(($(v apply_lines) - $(v apply_results))) applies, $(($(v revert_lines) - $(v revert_results))) reverts"
stop_etcd
finish

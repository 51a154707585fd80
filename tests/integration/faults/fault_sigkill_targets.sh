#!/usr/bin/env bash
# fault_sigkill_targets: a controller with 1,000 targets (targets: {by: [service]}) restarted
# and killed with SIGKILL while it saves their machines. The real exporter ingests a gauge
# per service (pushed), the real Prometheus scrapes it every second; 100 of the services
# are critical and each has an exec action in effect (revert_on_exit); the evaluation runs
# every 200 ms and saves the state file each time (1,000 targets in it).
#  - a clean restart (SIGTERM) restores every target's machine (1,000, 100 of them
#    critical, in the same state since the same time) and the 100 actions in effect;
#    nothing runs again
#  - KILLS times (default 10): start, wait 200..1500 ms, SIGKILL; after each kill
#    state.json parses and holds the 1,000 targets and the 100 actions in effect (the old
#    file or the new one, never a part)
#  - a last start comes up with the same 1,000 targets, 100 critical, 100 in effect, and
#    no action ran twice
# About 40 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl /usr/bin/python3

CTL=$HOMEOSTAT_CONTROLLER
if [[ ! -x $CTL ]]; then
    fail "controller binary '$CTL' is missing (build the homeostat-controller target)"
    finish
fi
KILLS=${KILLS:-10}
STATE_DIR=$HS_TMP/state
MARKS=$HS_TMP/applied.txt
: >"$MARKS"

start_exporter --collector.disable-defaults || finish
# svc0000..svc0999, the first 100 at 2 (critical), the others at 0.1; pushed every 0.5 s.
cat >"$HS_TMP/pusher.py" <<'PY'
import sys, time, urllib.request
url = sys.argv[1]
lines = ["app.load:%g|g|#service:svc%04d" % (2 if i < 100 else 0.1, i) for i in range(1000)]
body = ("\n".join(lines) + "\n").encode()
while True:
    rest = body
    try:
        while rest:
            part = rest[:60000]
            part = part[: part.rfind(b"\n") + 1]
            urllib.request.urlopen(urllib.request.Request(
                url, data=part, headers={"Content-Type": "text/plain"}), timeout=5).read()
            rest = rest[len(part):]
    except Exception as e:
        sys.stderr.write("push: %r\n" % e)
    time.sleep(0.5)
PY
spawn "$HS_TMP/pusher.log" /usr/bin/python3 "$HS_TMP/pusher.py" "$EXPORTER_BASE/api/v1/push"
cat >"$HS_TMP/prometheus.yml" <<EOF2
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: homeostat
    static_configs: [{targets: ['$EXPORTER_ADDR']}]
EOF2
start_prometheus "$HS_TMP/prometheus.yml" || finish

cat >"$HS_TMP/mark.sh" <<'SH'
#!/bin/sh
# mark.sh FILE SERVICE: one line per action run.
printf '%s\n' "$2" >>"$1"
SH
chmod +x "$HS_TMP/mark.sh"
RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<EOF2
evaluation_interval: 200ms
prometheus: {url: "$PROM_URL", timeout: 200ms}
targets: {by: [service], max: 2000, forget_after: 1h}
signals:
  load: {query: app_load, max_age: 1m}
states:
  - {name: critical, conditions: ["load > 0.8"]}
  - {name: optimal}
limits: {max_actions_per_hour: 0, max_targets_acting: 0}
decisions:
  critical:
    cooldown: 1h
    revert_on_exit: true
    revert_delay: 1h
    actions:
      - exec:
          argv: ['$HS_TMP/mark.sh', '$MARKS', '{{ \$labels.service }}']
          revert: [/bin/true]
EOF2

start() {
    CTL_LOG=$HS_TMP/ctl.$1.log
    spawn "$CTL_LOG" "$CTL" --config="$RULES" --web.listen-address=127.0.0.1:0 \
        --state.directory="$STATE_DIR"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$CTL_LOG" "$CTL_PID")
    [[ -n $CTL_URL ]]
}
summary() {
    http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status" >/dev/null
    jget "$HS_TMP/status.json" "'%s %s %s' % (d['data']['targets']['total'], d['data']['targets']['per_state']['critical'], len(d['data']['actions_in_effect']))"
}
# shellcheck disable=SC2317 # called through wait_until
summary_is() { [[ $(summary) == "$1" ]]; }
# state_file: "TARGETS CRITICAL EFFECTS" of state.json, or why it is not a state file.
state_file() {
    /usr/bin/python3 - "$STATE_DIR/state.json" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
    t = s["targets"]
    print(len(t), sum(1 for v in t.values() if v["state"] == "critical"), len(s["effects"]))
except Exception as e:
    print("bad: %r" % e)
PY
}
# since KEY: the since of a target in the state file.
since_of() { jget "$STATE_DIR/state.json" "d['targets']['{service=\"$1\"}']['since']"; }

start 1 || { fail "the controller did not start"; finish; }
if wait_until 60 summary_is "1000 100 100"; then
    pass "1000 targets, 100 critical, 100 actions in effect"
else
    fail "not there: $(summary)"
fi
check_eq "each critical service acted once" "100 100" \
    "$(sort "$MARKS" | uniq | wc -l) $(wc -l <"$MARKS")"
stop_process "$CTL_PID"
check_eq "SIGTERM: exit 0" 0 "$HS_STATUS"
check_eq "the state file holds every target and action in effect" "1000 100 100" "$(state_file)"
SINCE=$(since_of svc0042)

start 2 || { fail "the controller did not start again"; finish; }
check_eq "a restart restores every target, the critical ones and the actions in effect" \
    "1000 100 100" "$(summary)"
sleep 2
check_eq "... svc0042 critical since the same time" "$SINCE" "$(since_of svc0042)"
check_eq "... and nothing ran again" 100 "$(wc -l <"$MARKS")"
stop_process "$CTL_PID"

bad=0
for ((i = 1; i <= KILLS; i++)); do
    if ! start "k$i"; then
        fail "iteration $i: the controller did not start"
        continue
    fi
    sleep "$((RANDOM % 2)).$(printf '%03d' $((200 + RANDOM % 800)))"
    kill -KILL "$CTL_PID" 2>/dev/null || true
    wait "$CTL_PID" 2>/dev/null || true
    got=$(state_file)
    if [[ $got != "1000 100 100" ]]; then
        bad=$((bad + 1))
        say "iteration $i: state.json after SIGKILL: $got"
    fi
done
check_eq "state.json held the 1000 targets and 100 actions in effect after each of $KILLS kills" 0 "$bad"

start last || { fail "the last start failed"; finish; }
check_eq "the last start restores them all" "1000 100 100" "$(summary)"
sleep 2
check_eq "no action ran twice" "100 100" "$(sort "$MARKS" | uniq | wc -l) $(wc -l <"$MARKS")"
stop_process "$CTL_PID"
check_eq "SIGTERM: exit 0" 0 "$HS_STATUS"
finish

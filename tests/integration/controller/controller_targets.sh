#!/usr/bin/env bash
# controller_targets: one controller regulating 200 services as targets (targets: {by:
# [service]}), end to end: the real homeostat-exporter ingests a StatsD gauge per service
# (app.latency, tagged service:NAME, pushed every 0.5 s; ttl 3s), the real Prometheus
# scrapes it every second, and the controller evaluates every service on its own:
#  - 200 targets appear, all optimal; the shared signal (count) is known to each one
#  - one service slow: only it goes critical and acts (exec argv and webhook URL path with
#    {{ $labels.service }}), once; the audit record names its labels; per-target metrics
#  - label values that are unsafe in an action ('../x', '$(reboot)', '-rf', 300
#    characters) reach no actuator: the actions fail before anything runs, audited
#  - the API: filter by state and by a label selector, pagination, detail by id, 404s,
#    400 for a bad selector, pause and resume of one target
#  - one service's series vanish: only it becomes unknown; after forget_after its action
#    is reverted first, then it is forgotten
#  - a restart restores every target's machine and the actions in effect; nothing reruns
#  - the storm guard: every service slow at once acts on at most max_targets_acting (10)
#    targets (those that already acted count), audits a storm_guard record and raises
#    homeostat_controller_storm_guard_active; the others do not act while it lasts
# About 60 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl /usr/bin/python3

CONTROLLER=${HOMEOSTAT_CONTROLLER:-$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}
if [[ ! -x $CONTROLLER ]]; then
    fail "controller binary '$CONTROLLER' is missing (build the homeostat-controller target)"
    finish
fi

VALUES=$HS_TMP/values.json
ACT_LOG=$HS_TMP/act.log
HOOK_LOG=$HS_TMP/webhook.log
: >"$ACT_LOG"
: >"$HOOK_LOG"

# values.py set NAME=VALUE... | del NAME | all VALUE: edits the services' latencies in VALUES.
cat >"$HS_TMP/values.py" <<'PY'
import json, os, sys
path = sys.argv[1]
v = json.load(open(path)) if os.path.exists(path) else {}
op = sys.argv[2]
if op == "set":
    for a in sys.argv[3:]:
        k, _, x = a.rpartition("=")
        v[k] = float(x)
elif op == "del":
    for k in sys.argv[3:]:
        v.pop(k, None)
elif op == "all":
    for k in v:
        v[k] = float(sys.argv[3])
tmp = path + ".tmp"
json.dump(v, open(tmp, "w"))
os.replace(tmp, path)
PY
vals() { /usr/bin/python3 "$HS_TMP/values.py" "$VALUES" "$@"; }

# pusher.py URL VALUES: pushes app.latency for every service every 0.5 s (HTTP push).
cat >"$HS_TMP/pusher.py" <<'PY'
import json, sys, time, urllib.request
url, path = sys.argv[1], sys.argv[2]
while True:
    try:
        v = json.load(open(path))
        body = "".join("app.latency:%g|g|#service:%s\n" % (x, k) for k, x in v.items()).encode()
        while body:  # the exporter takes at most 64 KiB a push: whole lines, in parts
            part = body[:60000]
            part = part[: part.rfind(b"\n") + 1]
            req = urllib.request.Request(url, data=part, headers={"Content-Type": "text/plain"})
            urllib.request.urlopen(req, timeout=5).read()
            body = body[len(part):]
    except Exception as e:
        sys.stderr.write("push: %r\n" % e)
    time.sleep(0.5)
PY

# hook.py PORT LOG: an application admin endpoint that records each request's path.
cat >"$HS_TMP/hook.py" <<'PY'
import http.server, sys
log = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        log.write(self.path + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY

cat >"$HS_TMP/act.sh" <<'SH'
#!/bin/sh
# act.sh LOG WHAT SERVICE: what the controller asked, one line.
printf '%s %s\n' "$2" "$3" >>"$1"
SH
chmod +x "$HS_TMP/act.sh"

cat >"$HS_TMP/mapping.yaml" <<'EOF2'
defaults:
  ttl: 3s
EOF2

start_exporter --statsd.mapping-config="$HS_TMP/mapping.yaml" || finish
for i in $(seq -w 0 199); do printf 'svc%s=0.1\n' "$i"; done | xargs /usr/bin/python3 "$HS_TMP/values.py" "$VALUES" set
spawn "$HS_TMP/pusher.log" /usr/bin/python3 "$HS_TMP/pusher.py" "$EXPORTER_BASE/api/v1/push" "$VALUES"
HOOK_PORT=$(free_port)
spawn "$HS_TMP/hook.log" /usr/bin/python3 "$HS_TMP/hook.py" "$HOOK_PORT" "$HOOK_LOG"

cat >"$HS_TMP/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: homeostat
    static_configs:
      - targets: ['$EXPORTER_ADDR']
    # A label value longer than the exporter takes (256): made by Prometheus itself.
    metric_relabel_configs:
      - source_labels: [service]
        regex: long
        target_label: service
        replacement: '$(printf 'x%.0s' $(seq 300))'
EOF2
start_prometheus "$HS_TMP/prometheus.yml" || finish

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<EOF2
evaluation_interval: 1s
prometheus: {url: '$PROM_URL'}
on_missing_data: unknown
targets: {by: [service], forget_after: 5s}
limits: {max_actions_per_hour: 0, max_targets_acting: 10}
signals:
  latency: {query: 'app_latency', max_age: 30s}
  fleet: {query: 'count(app_latency)'}
states:
  - {name: critical, conditions: ['latency > 0.8']}
  - {name: optimal}
decisions:
  critical:
    cooldown: 1h
    revert_on_exit: true
    revert_delay: 0s
    actions:
      - exec:
          argv: ['$HS_TMP/act.sh', '$ACT_LOG', apply, '{{ \$labels.service }}']
          revert: ['$HS_TMP/act.sh', '$ACT_LOG', revert, '{{ \$labels.service }}']
      - webhook: {url: 'http://127.0.0.1:$HOOK_PORT/admin/{{ \$labels.service }}/throttle', retries: 0}
EOF2

check "check accepts the rules with targets" "$CONTROLLER" check "$RULES"

STATE_DIR=$HS_TMP/state
mkdir -p "$STATE_DIR"
TOKEN=operator-token-for-the-targets-test-0123456789
printf 'ops %s\n' "$TOKEN" >"$HS_TMP/operator.tokens"
start_controller() {
    CTL_LOG=$HS_TMP/controller.$1.log
    spawn "$CTL_LOG" "$CONTROLLER" --config="$RULES" --web.listen-address=127.0.0.1:0 \
        --state.directory="$STATE_DIR" --web.operator-token-file="$HS_TMP/operator.tokens"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$CTL_LOG" "$CTL_PID")
    if [[ -z $CTL_URL ]]; then
        fail "controller did not log 'listening on' within 10 s; its log:"
        sed 's/^/    /' "$CTL_LOG"
        finish
    fi
}
start_controller 1

# api PATH [FILE]: GET PATH into FILE ($HS_TMP/api.json); prints the status code.
api() { http_get "${2:-$HS_TMP/api.json}" "$CTL_URL$1"; }
# a EXPR: EXPR over the last reply's data (d).
a() { jget "$HS_TMP/api.json" "(lambda d: $1)(d['data'])"; }
summary() { api /api/v1/status >/dev/null && a "d['targets']$1"; }
# shellcheck disable=SC2317 # called through wait_until
count_is() { [[ $(summary "['per_state']['$1']") == "$2" ]]; }
# shellcheck disable=SC2317
total_is() { [[ $(summary "['total']") == "$1" ]]; }
# state_of SERVICE: the state of that service's target ("" when there is none).
state_of() {
    api "/api/v1/targets?limit=1&match=%7Bservice%3D%22$1%22%7D" >/dev/null
    a "d['targets'][0]['state'] if d['targets'] else ''"
}
# shellcheck disable=SC2317
state_is() { [[ $(state_of "$1") == "$2" ]]; }
acts() { grep -c "^$1 " "$ACT_LOG" || true; }

if wait_until 40 count_is optimal 200; then
    pass "200 targets, all optimal"
else
    fail "not 200 optimal targets: $(summary '')"
fi
check_eq "no target acted" 0 "$(acts apply)"
api "/api/v1/targets?limit=1" >/dev/null
ID=$(a "d['targets'][0]['id']")
check_eq "detail of a target answers 200" 200 "$(api "/api/v1/targets/$ID")"
check_eq "the shared signal is known to the target with the fleet's count" "True 200.0" \
    "$(a "'%s %s' % ([s['known'] for s in d['signals'] if s['name']=='fleet'][0], [s['value'] for s in d['signals'] if s['name']=='fleet'][0])")"

# ---- one service slow ----------------------------------------------------------------
vals set svc007=2
if wait_until 20 state_is svc007 critical; then pass "svc007 critical"; else fail "svc007 is $(state_of svc007)"; fi
wait_until 10 grep -q '^apply svc007$' "$ACT_LOG" || true
check_eq "svc007's exec ran with its label" "apply svc007" "$(cat "$ACT_LOG")"
wait_until 10 grep -q '^/admin/svc007/throttle$' "$HOOK_LOG" || true
check_eq "svc007's webhook path carries its label" "/admin/svc007/throttle" "$(cat "$HOOK_LOG")"
check_eq "the 199 others stay optimal" 199 "$(summary "['per_state']['optimal']")"
AUDIT=$STATE_DIR/audit.jsonl
check_eq "the decision record names the target" '{"service": "svc007"}' \
    "$(/usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["type"] == "decision" and r.get("outcome") == "executed":
        print(json.dumps(r["target"])); break' "$AUDIT")"
# the records show the target's values where the rules say {{ $labels.service }}
check_eq "the decision, its action results and the action in effect name svc007, never the placeholder" \
    "decision:exec:True|decision:webhook:True|result:exec|result:webhook|effect:exec" \
    "$(/usr/bin/python3 - "$AUDIT" "$STATE_DIR/state.json" <<'PYEOF2'
import json, sys
out = []
for l in open(sys.argv[1]):
    r = json.loads(l)
    if (r.get("target") or {}).get("service") != "svc007":
        continue
    if r["type"] == "decision" and r.get("outcome") == "executed":
        for a in r["actions"]:
            assert "{{" not in a["summary"] and "{{" not in json.dumps(a["params"]), a
            out.append("decision:%s:%s" % (a["kind"], "svc007" in a["summary"]))
    elif r["type"] == "action_result":
        assert "svc007" in r["summary"] and "{{" not in r["summary"], r
        out.append("result:%s" % r["kind"])
for e in json.load(open(sys.argv[2]))["effects"]:
    if e.get("labels", {}).get("service") == "svc007":
        assert "svc007" in e["summary"] and "{{" not in e["summary"], e
        out.append("effect:%s" % e["kind"])
print("|".join(out))
PYEOF2
)"
M=$(hcurl "$CTL_URL/metrics")
check_eq "target_state metric of svc007" 1 \
    "$(metric_value "$M" 'homeostat_controller_target_state{service="svc007",state="critical"}')"
check_eq "targets per state metric" 1 "$(metric_value "$M" 'homeostat_controller_targets{state="critical"}')"

# ---- unsafe label values -------------------------------------------------------------
# shellcheck disable=SC2016 # $(reboot) is the label value itself, never run
vals set '../x=2' '$(reboot)=2' '-rf=2' 'long=2'
LONG=$(printf 'x%.0s' $(seq 300))
check "the 300-character value is a target" wait_until 20 state_is "$LONG" critical
if wait_until 20 count_is critical 5; then pass "the four injected services are critical too"; else fail "critical: $(summary "['per_state']")"; fi
sleep 2
check_eq "no action ran for an unsafe label value" "apply svc007" "$(cat "$ACT_LOG")"
check_eq "no webhook request for an unsafe label value" "/admin/svc007/throttle" "$(cat "$HOOK_LOG")"
REFUSED=$(/usr/bin/python3 -c 'import json,sys
n = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["type"] == "action_result" and "refused in an action" in r.get("error", ""):
        n += 1
print(n)' "$AUDIT")
check_eq "the 8 refused actions (4 targets x exec, webhook) are audited" 8 "$REFUSED"

# ---- the API ---------------------------------------------------------------------------
check_eq "state filter" 5 "$(api '/api/v1/targets?state=critical' >/dev/null; a "d['total']")"
check_eq "worst first" critical "$(api '/api/v1/targets?limit=1' >/dev/null; a "d['targets'][0]['state']")"
check_eq "selector with a regex" 10 \
    "$(api '/api/v1/targets?match=%7Bservice%3D~%22svc00%5B0-9%5D%22%7D' >/dev/null; a "d['total']")"
check_eq "selector with !~ and pagination" "104 50 50" \
    "$(api '/api/v1/targets?match=service!~%22svc0.*%22&limit=50' >/dev/null; a "'%s %s %s' % (d['total'], len(d['targets']), d['next_offset'])")"
check_eq "a bad selector is a 400" 400 "$(api '/api/v1/targets?match=%7Bservice%3D%3D%22x%22%7D')"
check_eq "an unknown state is a 400" 400 "$(api '/api/v1/targets?state=nope')"
check_eq "an unknown id is a 404" 404 "$(api '/api/v1/targets/0123456789abcdef')"
ID7=$(api "/api/v1/targets?match=%7Bservice%3D%22svc007%22%7D" >/dev/null; a "d['targets'][0]['id']")
check_eq "pause svc007 answers 200" 200 "$(http_get "$HS_TMP/p.json" "$CTL_URL/api/v1/targets/$ID7/pause" -X POST -H "Authorization: Bearer $TOKEN")"
check_eq "svc007 is paused" true "$(api "/api/v1/targets/$ID7" >/dev/null; a "d['paused']")"
check_eq "the pause is audited with the target" '{"service": "svc007"}' "$(/usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["type"] == "pause_target": print(json.dumps(r["target"]))' "$STATE_DIR/audit.jsonl")"
check_eq "resume svc007 answers 200" 200 "$(http_get "$HS_TMP/p.json" "$CTL_URL/api/v1/targets/$ID7/resume" -X POST -H "Authorization: Bearer $TOKEN")"

# ---- one service vanishes --------------------------------------------------------------
vals set svc100=2
wait_until 20 grep -q '^apply svc100$' "$ACT_LOG" || fail "svc100 did not act"
vals del svc100
if wait_until 20 state_is svc100 unknown; then pass "svc100 without series is unknown"; else fail "svc100 is $(state_of svc100)"; fi
check_eq "its neighbour stays optimal" optimal "$(state_of svc101)"
check_eq "svc007 stays critical" critical "$(state_of svc007)"
if wait_until 20 grep -q '^revert svc100$' "$ACT_LOG"; then pass "svc100's action reverted after forget_after"; else fail "no revert of svc100"; fi
if wait_until 10 state_is svc100 ""; then pass "svc100 forgotten"; else fail "svc100 still there: $(state_of svc100)"; fi
check_eq "no other revert" 1 "$(acts revert)"

# ---- restart ---------------------------------------------------------------------------
TOTAL=$(summary "['total']")
stop_process "$CTL_PID"
check_eq "controller stops on SIGTERM" 0 "$HS_STATUS"
APPLIES=$(acts apply)
start_controller 2
check_eq "every target restored" "$TOTAL" "$(summary "['total']")"
check_eq "svc007 restored critical" critical "$(state_of svc007)"
check_eq "svc007's action in effect restored" 1 \
    "$(api "/api/v1/targets/$ID7" >/dev/null; a "len(d['actions_in_effect'])")"
wait_until 5 false || true
check_eq "nothing ran again after the restart" "$APPLIES" "$(acts apply)"

# ---- storm guard -----------------------------------------------------------------------
vals all 2
if wait_until 30 count_is critical "$TOTAL"; then pass "every target critical"; else fail "critical: $(summary "['per_state']")"; fi
sleep 3
NEW=$(($(acts apply) - APPLIES))
check "the storm guard let at most 10 targets act in all (svc007 and the 4 injected had): $NEW new" test "$NEW" -le 5
check "... and some of the worst did act" test "$NEW" -ge 1
check_eq "storm_guard_active" 1 "$(metric_value "$(hcurl "$CTL_URL/metrics")" homeostat_controller_storm_guard_active)"
check_eq "status says so" true "$(summary "['storm_guard_active']")"
check_eq "a storm_guard audit record" 1 "$(/usr/bin/python3 -c 'import json,sys
print(min(1, sum(1 for l in open(sys.argv[1]) if json.loads(l)["type"] == "storm_guard")))' "$AUDIT")"
STORMED=$(acts apply)
sleep 3
check_eq "no more actions while it lasts" "$STORMED" "$(acts apply)"
vals all 0.1
if wait_until 30 count_is optimal "$TOTAL"; then pass "all optimal again"; else fail "$(summary "['per_state']")"; fi
check_eq "storm guard off" 0 "$(metric_value "$(hcurl "$CTL_URL/metrics")" homeostat_controller_storm_guard_active)"
finish

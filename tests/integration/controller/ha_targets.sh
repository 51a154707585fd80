#!/usr/bin/env bash
# ha_targets: replicated controllers with a targets section (one state machine per service)
# on etcd, end to end: the real homeostat-exporter ingests a StatsD gauge per service
# (app.latency, tagged service:NAME, pushed every 0.5 s), the real Prometheus scrapes it
# every second, a one-member etcd holds the lease, and two controllers (lease 3 s) evaluate
# every service:
#  - one leads; a service slow: the leader acts for it alone, once; the standby evaluates it
#    critical too (its target's page) and records no decision; the shared state in etcd has
#    every target's machine and the baselines the leader learned
#  - SIGKILL the leader: the standby leads, takes each target's machine and the action in
#    effect over (audited), does not act for the slow service again, and reverts its action
#    once when it recovers
# About 25 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool etcd etcdctl prometheus curl /usr/bin/python3
if [[ ! -x $HOMEOSTAT_CONTROLLER ]]; then
    fail "controller binary '$HOMEOSTAT_CONTROLLER' is missing"
    finish
fi

VALUES=$HS_TMP/values.json
ACTS=$HS_TMP/acts.log
: >"$ACTS"
printf '{"a": 0.1, "b": 0.1, "c": 0.1}\n' >"$VALUES"
# set SERVICE VALUE: its latency from now on
set_latency() {
    /usr/bin/python3 -c 'import json, os, sys
v = json.load(open(sys.argv[1])); v[sys.argv[2]] = float(sys.argv[3])
json.dump(v, open(sys.argv[1] + ".tmp", "w")); os.replace(sys.argv[1] + ".tmp", sys.argv[1])' \
        "$VALUES" "$1" "$2"
}
cat >"$HS_TMP/pusher.py" <<'PY'
import json, sys, time, urllib.request
url, path = sys.argv[1], sys.argv[2]
while True:
    try:
        v = json.load(open(path))
        body = "".join("app.latency:%g|g|#service:%s\n" % (x, k) for k, x in v.items())
        req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=5).read()
    except Exception as e:
        sys.stderr.write("push: %r\n" % e)
    time.sleep(0.5)
PY
cat >"$HS_TMP/act.sh" <<EOF
#!/bin/sh
printf '%s %s\\n' "\$1" "\$2" >>"$ACTS"
EOF
chmod +x "$HS_TMP/act.sh"
printf 'defaults:\n  ttl: 3s\n' >"$HS_TMP/mapping.yaml"
start_exporter --statsd.mapping-config="$HS_TMP/mapping.yaml" || finish
spawn "$HS_TMP/pusher.log" /usr/bin/python3 "$HS_TMP/pusher.py" "$EXPORTER_BASE/api/v1/push" "$VALUES"
cat >"$HS_TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: homeostat
    static_configs: [{targets: ['$EXPORTER_ADDR']}]
EOF
start_prometheus "$HS_TMP/prometheus.yml" || finish

start_etcd 1 || finish

cat >"$HS_TMP/rules.yaml" <<EOF
evaluation_interval: 500ms
prometheus: {url: '$PROM_URL'}
targets: {by: [service], forget_after: 1h}
signals:
  latency:
    query: 'app_latency'
    max_age: 30s
    baseline: {learn_in: [optimal], min_samples: 5}
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
          argv: ['$HS_TMP/act.sh', apply, '{{ \$labels.service }}']
          revert: ['$HS_TMP/act.sh', revert, '{{ \$labels.service }}']
EOF
declare -a CPID CURL
for i in 1 2; do
    spawn "$HS_TMP/c$i.log" "$HOMEOSTAT_CONTROLLER" --config="$HS_TMP/rules.yaml" \
        --web.listen-address=127.0.0.1:0 --state.directory="$HS_TMP/state$i" \
        --ha.backend=etcd --ha.etcd.endpoints="$ETCD_ENDPOINTS" --ha.identity="c$i" \
        --ha.lease-duration=3s --ha.renew-deadline=2s --ha.retry-period=500ms
    CPID[i]=$HS_PID
    CURL[i]=$(wait_listening "$HS_TMP/c$i.log" "${CPID[i]}")
    [[ -n ${CURL[i]} ]] || { fail "controller c$i did not start"; sed 's/^/    /' "$HS_TMP/c$i.log"; finish; }
done
acting() { [[ $(http_get "$HS_TMP/st$1.json" "${CURL[$1]}/api/v1/status" --max-time 3) == 200 &&
    $(jget "$HS_TMP/st$1.json" "d['data']['ha']['acting']") == true ]]; }
# shellcheck disable=SC2317 # called through wait_until
someone_leads() { acting 1 || acting 2; }
# target_state I SERVICE: the state of that target on replica I
target_state() {
    http_get "$HS_TMP/t$1.json" "${CURL[$1]}/api/v1/targets" --max-time 3 >/dev/null
    jget "$HS_TMP/t$1.json" "[t['state'] for t in d['data']['targets'] if t['labels']['service'] == '$2'][0]"
}
# shellcheck disable=SC2317
critical_on() { [[ $(target_state "$1" "$2") == critical ]]; }
count() { grep -cx "$1" "$ACTS" || true; }
audit_count() {
    /usr/bin/python3 - "$HS_TMP/state$1/audit.jsonl" "$2" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    n += bool(eval(sys.argv[2], {"r": r}))
print(n)
EOF
}
# shellcheck disable=SC2317
applied_once() { [[ $(count "apply b") == 1 ]]; }
# shellcheck disable=SC2317
reverted_once() { [[ $(count "revert b") == 1 ]]; }

if ! wait_until 15 someone_leads; then
    fail "no replica leads"
    finish
fi
if acting 1; then L=1 S=2; else L=2 S=1; fi
pass "c$L leads, c$S is a standby"
set_latency b 2
wait_until 15 applied_once || true
check_eq "service b slow: the leader acted for b" 1 "$(count "apply b")"
check_eq "... and for nothing else" 1 "$(wc -l <"$ACTS")"
check "the standby evaluates b critical too" wait_until 5 critical_on "$S" b
check_eq "... and recorded no decision" 0 "$(audit_count "$S" "r.get('type') == 'decision'")"
# the shared state in etcd, with the baselines the leader last wrote
etcdctl --endpoints="$ETCD_ENDPOINTS" get /homeostat/homeostat-controller/state \
    -w json >"$HS_TMP/shared.json" 2>/dev/null || true
check "the shared state in etcd (gzip) has the targets' machines and their baselines" \
    /usr/bin/python3 -c 'import base64, gzip, json, sys
v = base64.b64decode(json.load(open(sys.argv[1]))["kvs"][0]["value"])
s = json.loads(gzip.decompress(v))
sys.exit(0 if {"{service=\"a\"}", "{service=\"b\"}"} <= set(s["targets"]) and
         "latency" in s["ha_baselines"]["targets"]["{service=\"a\"}"] else 1)' "$HS_TMP/shared.json"

kill -KILL "${CPID[L]}"
wait "${CPID[L]}" 2>/dev/null || true
if wait_until 6 acting "$S"; then
    pass "c$S leads after c$L was killed"
else
    fail "c$S does not lead after c$L was killed: $(jget "$HS_TMP/st$S.json" "d['data']['ha']['why']")"
    finish
fi
check_eq "c$S took the targets' state over with b's action in effect" 1 \
    "$(audit_count "$S" "r.get('type') == 'ha_takeover' and r.get('effects') == 1")"
sleep 2
check_eq "b still slow: c$S did not act for it again" 1 "$(count "apply b")"
set_latency b 0.1
wait_until 15 reverted_once || true
check_eq "b recovered: its action reverted once" 1 "$(count "revert b")"
check_eq "... by the new leader" 1 "$(audit_count "$S" "r.get('type') == 'revert_result' and r.get('result') == 'ok'")"
check_eq "nothing else ran" 2 "$(wc -l <"$ACTS")"
stop_etcd
finish

#!/usr/bin/env bash
# ha_kubernetes: three homeostat-controllers replicated on a coordination.k8s.io/v1 Lease
# of the fake Kubernetes API server (tests/integration/fakes/fake_kube_api.py, which answers
# resourceVersion conflicts with 409 as the real one does), --ha.backend=kubernetes with a
# token file and a namespace: the scenarios of ha_scenarios.bash (one leader; SIGKILL:
# another leads and reverts once; SIGSTOP mid-action: fenced), then the API server's own
# failures:
#  - someone else writes the Lease (its resourceVersion moves): never two leaders, and one
#    leads again
#  - the API server answers 503 to every object: within the renew deadline nobody leads,
#    every replica says why, and an alert that fires then makes nobody act
#  - the shared state is the ConfigMap homeostat-controller-state (binaryData, gzip)
# About 30 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool curl /usr/bin/python3
if [[ ! -x $HOMEOSTAT_CONTROLLER ]]; then
    fail "controller binary '$HOMEOSTAT_CONTROLLER' is missing"
    finish
fi

TOKEN=s3cret-$$
printf 'admin %s\n' "$TOKEN" >"$HS_TMP/token"
printf 'kube-token-%s\n' "$$" >"$HS_TMP/kube-token"
ACTS=$HS_TMP/acts.log
: >"$ACTS"
start_fake_kube_api "$HS_TMP/kube-requests.jsonl" || finish
pass "the fake API server listens ($KUBE_API_URL)"

# shellcheck disable=SC2034 # HA_ARGS and HA_STATUS_PAGE: for ha_scenarios.bash
HA_ARGS=(--ha.backend=kubernetes --ha.kubernetes.api-url="$KUBE_API_URL"
    --ha.kubernetes.token-file="$HS_TMP/kube-token" --ha.kubernetes.namespace=homeostat)
. "$(dirname "${BASH_SOURCE[0]}")/ha_scenarios.bash"

control() { http_code "$KUBE_API_URL/_control/$1" -X "${2:-POST}" >/dev/null; }

# ---- the shared state and the Lease -----------------------------------------------------
hcurl "$KUBE_API_URL/_control/object/homeostat/configmaps/homeostat-controller-state" \
    >"$HS_TMP/cm.json"
check "the shared state is gzip in the ConfigMap's binaryData" /usr/bin/python3 -c '
import base64, gzip, json, sys
cm = json.load(open(sys.argv[1]))
state = json.loads(gzip.decompress(base64.b64decode(cm["binaryData"]["state"])))
sys.exit(0 if state.get("version") == 1 and "effects" in state else 1)' "$HS_TMP/cm.json"
hcurl "$KUBE_API_URL/_control/object/homeostat/leases/homeostat-controller" >"$HS_TMP/lease.json"
check_eq "the Lease names the leader" "c$L3" "$(jget "$HS_TMP/lease.json" "d['spec']['holderIdentity']")"
check "the Lease went through transitions" \
    test "$(jget "$HS_TMP/lease.json" "d['spec'].get('leaseTransitions', 0)")" -ge 2
check "every request carried the token" /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "/leases/" in r["path"] or "/configmaps/" in r["path"]:
        if r.get("authorization") != "Bearer " + sys.argv[2]:
            sys.exit(1)' "$HS_TMP/kube-requests.jsonl" "kube-token-$$"

# ---- someone else writes the Lease -----------------------------------------------------
control touch/homeostat/leases/homeostat-controller
two=0
for _ in $(seq 1 16); do
    [[ $(leaders | wc -l) -le 1 ]] || two=1
    sleep 0.25
done
check_eq "never two leaders after the Lease was written by someone else" 0 "$two"
if wait_until 5 one_leader; then
    pass "c$LEADER leads after the conflict"
else
    fail "nobody leads after the conflict"
fi

# ---- the API server unavailable --------------------------------------------------------
control "fail?code=503"
if wait_until 5 no_leader; then
    pass "with the API server answering 503 nobody leads"
else
    fail "someone still leads with the API server down: $(leaders | tr '\n' ' ')"
fi
before=$(wc -l <"$ACTS")
alert_all Overload firing
sleep 2
check_eq "an alert with the API server down: nobody acted" "$before" "$(wc -l <"$ACTS")"
for i in "${ALIVE[@]}"; do
    why=$(ha_of "$i" "h['why']")
    check "c$i says why it does not act ($why)" grep -qi "kubernetes" <<<"$why"
done
control "fail?code=0"
if wait_until 6 one_leader; then
    pass "the API server back: c$LEADER leads"
    # critical's decision ran at the start (cooldown 1h): the leader decides again, held by
    # the cooldown it took over, and nothing runs twice
    wait_until 5 audit_ge "$LEADER" "r.get('type') == 'decision' and r.get('to') == 'critical' and r.get('outcome') == 'cooldown'" 1 || true
    check "... and decides on the alert that fired meanwhile (held by the cooldown it took over)" \
        audit_ge "$LEADER" "r.get('type') == 'decision' and r.get('to') == 'critical' and r.get('outcome') == 'cooldown'" 1
    check_eq "... so critical's action ran once in all" 1 "$(count apply)"
else
    fail "nobody leads once the API server is back"
fi
finish

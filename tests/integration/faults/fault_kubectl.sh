#!/usr/bin/env bash
# fault_kubectl: a kubectl action of homeostat-controller (the daemon, not act-driver) while
# the Kubernetes API server hangs: the REAL kubectl against fake_kube_api.py in its hang mode
# (every request accepted, never answered). kubectl alone would take about 5 x its request
# timeout (discovery retried); the action's timeout is 2 s, so the controller's deadline
# (timeout + 1 s) has to end it, killing its whole process group.
#  - the decision is audited before kubectl starts; kubectl is seen running
#  - the action ends within timeout + 1 s + the 2 s kill grace (+ slack): an action_result
#    record says failed, attempts 1, and why (timed out, process group killed), and so do
#    actions_total{kind="kubectl",result="failed"} and the status' last_action
#  - no kubectl process is left (pgrep on its --kubeconfig), nor anything of its group
#  - the API answers while kubectl hangs; evaluations go on after it (3 more)
#  - the API server answering again, a manual kubectl action succeeds (replicas 3 -> 4)
# The signal is vector(1) from the real Prometheus. About 15 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool kubectl prometheus curl /usr/bin/python3 pgrep

CTL=$HOMEOSTAT_CONTROLLER
if [[ ! -x $CTL ]]; then
    fail "controller binary '$CTL' is missing (build the homeostat-controller target)"
    finish
fi
KUBECTL=$(command -v kubectl)
# kubectl keeps a discovery cache under $HOME/.kube: one of our own (the controller passes
# HOME on to kubectl).
export HOME=$HS_TMP/home
mkdir -p "$HOME"
unset KUBECONFIG

start_fake_kube_api "$HS_TMP/requests.jsonl" || finish
API=$KUBE_API_URL
KCFG=$HS_TMP/kubeconfig
cat >"$KCFG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "$API"}
users:
- name: tester
  user: {token: dummy-token}
contexts:
- name: fake
  context: {cluster: fake, user: tester, namespace: default}
current-context: fake
EOF
DEPLOYMENT='{"kind": "Deployment", "metadata": {"name": "app", "namespace": "shop"},
  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "x"}},
           "template": {"metadata": {"labels": {"app": "x"}},
                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}'
hcurl -X POST "$API/_control/object" --data-binary "$DEPLOYMENT" >/dev/null
replicas() { jstr "$(hcurl "$API/_control/object/shop/deployments/app")" 'd["spec"]["replicas"]'; }
check_eq "the fake API server has deployment shop/app with 3 replicas" 3 "$(replicas)"

printf 'global:\n  scrape_interval: 15s\n' >"$HS_TMP/prometheus.yml"
start_prometheus "$HS_TMP/prometheus.yml" || finish

TOKEN=tok-$RANDOM$RANDOM
printf '%s\n' "$TOKEN" >"$HS_TMP/token"
AUTH=(-H "Authorization: Bearer $TOKEN")
cat >"$HS_TMP/rules.yaml" <<EOF
evaluation_interval: 250ms
prometheus: {url: "$PROM_URL", timeout: 250ms}
signals:
  one: {query: vector(1)}
states:
  - name: busy
    conditions: ["one > 0"]
  - name: idle
decisions:
  busy:
    cooldown: 1h
    actions:
      - kubectl: {scale: deployment/app, namespace: shop, replicas: "+1", kubeconfig: "$KCFG", timeout: 2s, retries: 0}
manual_actions:
  scale_up:
    - kubectl: {scale: deployment/app, namespace: shop, replicas: "+1", kubeconfig: "$KCFG", timeout: 10s, retries: 0}
EOF
hcurl -X POST "$API/_control/hang?on=1" >/dev/null

spawn "$HS_TMP/ctl.log" "$CTL" --config="$HS_TMP/rules.yaml" --web.listen-address=127.0.0.1:0 \
    --state.directory="$HS_TMP/state" --kubectl.path="$KUBECTL" \
    --web.admin-token-file="$HS_TMP/token"
CTL_PID=$HS_PID
CTL_URL=$(wait_listening "$HS_TMP/ctl.log" "$CTL_PID")
if [[ -z $CTL_URL ]]; then
    fail "the controller did not start; its log:"
    sed 's/^/    /' "$HS_TMP/ctl.log"
    finish
fi
AUDIT=$HS_TMP/state/audit.jsonl

# ---- helpers ----------------------------------------------------------------------------
mnum() {
    local v
    v=$(metric_value "$(hcurl "$CTL_URL/metrics" 2>/dev/null || true)" "$1")
    printf '%.0f' "${v:-0}"
}
kubectl_pids() { pgrep -f -- "--kubeconfig=$KCFG" || true; }
# shellcheck disable=SC2317 # the predicates are called through wait_until
kubectl_running() { [[ -n $(kubectl_pids) ]]; }
# shellcheck disable=SC2317
no_kubectl() { [[ -z $(kubectl_pids) ]]; }
# records TYPE: the audit records of TYPE, as a JSON array.
records() {
    /usr/bin/python3 -c 'import json, sys
print(json.dumps([r for r in map(json.loads, open(sys.argv[1], "rb")) if r["type"] == sys.argv[2]]))' \
        "$AUDIT" "$1" 2>/dev/null || echo '[]'
}
# shellcheck disable=SC2317
has_record() { [[ $(jstr "$(records "$1")" 'len(d)') -ge ${2:-1} ]]; }
# shellcheck disable=SC2317
evals_ge() { (($(mnum homeostat_controller_evaluations_total) >= $1)); }

# ---- the hanging kubectl ------------------------------------------------------------------
if ! wait_until 10 kubectl_running; then
    fail "no kubectl started within 10 s; the controller's log:"
    sed 's/^/    /' "$HS_TMP/ctl.log"
    finish
fi
t0=$(date +%s%N)
KPID=$(kubectl_pids | head -n1)
KPGID=$(ps -o pgid= -p "$KPID" | tr -d ' ')
pass "kubectl runs (pid $KPID, process group $KPGID) against the hanging API server"
check_eq "... in a process group of its own (not the controller's)" "$KPID" "$KPGID"
check "... after its decision was audited" has_record decision
check_eq "... which says executed" executed "$(jstr "$(records decision)" 'd[0]["outcome"]')"
t=$(date +%s%N)
code=$(http_code "$CTL_URL/api/v1/status" --max-time 2)
t=$((($(date +%s%N) - t) / 1000000))
check_eq "the API answers while kubectl hangs ($t ms)" 200 "$code"

if wait_until 15 has_record action_result; then
    ms=$((($(date +%s%N) - t0) / 1000000))
    # 2 s timeout + 1 s + 2 s grace, and the polling of this test.
    check "the action ended by the deadline ($ms ms after kubectl was seen; at most 2 s + 1 s + 2 s grace)" \
        test "$ms" -lt 6500
else
    fail "no action_result record within 15 s; the controller's log:"
    sed 's/^/    /' "$HS_TMP/ctl.log"
    finish
fi
R=$(records action_result)
check_eq "the action_result record: kubectl, failed, 1 attempt" "kubectl failed 1" \
    "$(jstr "$R" 'd[0]["kind"] + " " + d[0]["result"] + " " + str(d[0]["attempts"])')"
err=$(jstr "$R" 'd[0]["error"]')
check "... with the reason: timed out, process group killed ($err)" \
    grep -qE 'timed out after [0-9.]+s \(process group killed\)' <<<"$err"
check "... and the record's duration is bounded ($(jstr "$R" 'd[0]["duration_seconds"]') s)" \
    test "$(jstr "$R" 'int(d[0]["duration_seconds"] < 6)')" = 1
check "no kubectl process is left" wait_until 1 no_kubectl
check "... nor anything in its process group $KPGID" \
    eval "[[ -z \$(pgrep -g $KPGID) ]]"
check_eq "actions_total{kind=\"kubectl\",trigger=\"decision\",result=\"failed\"} is 1" 1 \
    "$(mnum 'homeostat_controller_actions_total{kind="kubectl",trigger="decision",result="failed"}')"
http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status" >/dev/null
check_eq "the status' last_action says failed" failed \
    "$(jget "$HS_TMP/status.json" "d['data']['last_action']['result']")"
check "the log says why" grep -q 'timed out after' "$HS_TMP/ctl.log"
ev=$(mnum homeostat_controller_evaluations_total)
check "evaluations go on (3 more within 5 s)" wait_until 5 evals_ge $((ev + 3))
check "the controller is running" hs_alive "$CTL_PID"
check_eq "the deployment is unchanged (3 replicas)" 3 "$(replicas)"

# ---- the API server back --------------------------------------------------------------
hcurl -X POST "$API/_control/hang?on=0" >/dev/null
code=$(http_get "$HS_TMP/manual.json" "$CTL_URL/api/v1/actions/scale_up" -X POST "${AUTH[@]}" \
    --max-time 30)
check_eq "the API server answering again: a manual kubectl action answers 200" 200 "$code"
check_eq "... and scales the deployment to 4" 4 "$(replicas)"
check "... leaving no kubectl process" no_kubectl
stop_process "$CTL_PID" 10
check_eq "the controller stops on SIGTERM with status 0" 0 "$HS_STATUS"
finish

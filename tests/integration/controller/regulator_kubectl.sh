#!/usr/bin/env bash
# regulator_kubectl: a proportional regulator as the HPA, scaling a Deployment through the
# real kubectl against the fake Kubernetes API server, on a metric only Prometheus has.
# The plant's utilization per replica is load / replicas (replicas as the API server has
# them), scraped by the real Prometheus; setpoint 50, tolerance 10 %.
#  - from 2 replicas at utilization 200: ceil(2 x 200 / 50) = 8 replicas, as the HPA's
#    replica calculator gives, in one kubectl scale; then within the tolerance, nothing more
#  - a human scales to 4 with kubectl: the regulator, about to move from what it believes
#    (8) to 16, reads the replicas back first, finds 4, records a regulator_read_back,
#    sends nothing, and after settle goes on from 4: ceil(4 x 100 / 50) = 8
#  - GET /api/v1/regulators says why
# About 30 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus kubectl curl /usr/bin/python3
CONTROLLER=$HOMEOSTAT_CONTROLLER
if [[ ! -x $CONTROLLER ]]; then
    fail "controller binary '$CONTROLLER' is missing"
    finish
fi
KUBECTL=$(command -v kubectl)
export HOME=$HS_TMP/home # kubectl's discovery cache: one of our own
mkdir -p "$HOME"
unset KUBECONFIG

REQ_LOG=$HS_TMP/requests.jsonl
start_fake_kube_api "$REQ_LOG" || finish
API=$KUBE_API_URL
KCFG=$HS_TMP/kubeconfig
cat >"$KCFG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: $API, insecure-skip-tls-verify: true}
users:
- name: tester
  user: {token: dummy-token}
contexts:
- name: fake
  context: {cluster: fake, user: tester, namespace: default}
current-context: fake
EOF
hcurl -X POST --data-binary '{"kind":"Deployment","metadata":{"name":"app","namespace":"shop"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}' \
    "$API/_control/object" >/dev/null
replicas() { jstr "$(hcurl "$API/_control/object/shop/deployments/app")" 'd["spec"]["replicas"]'; }
check_eq "the Deployment starts at 2 replicas" 2 "$(replicas)"

# plant.py PORT API LOAD: plant_utilization = LOAD / the Deployment's replicas.
cat >"$HS_TMP/plant.py" <<'PY'
import http.server, json, sys, urllib.request
port, api, load = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        d = json.load(urllib.request.urlopen(api + "/_control/object/shop/deployments/app", timeout=5))
        r = max(1, d["spec"]["replicas"])
        body = ("plant_utilization %g\nplant_replicas %d\n" % (load / r, r)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
print("listening on http://127.0.0.1:%d" % port, flush=True)
srv.serve_forever()
PY
PLANT_PORT=$(free_port)
spawn "$HS_TMP/plant.log" /usr/bin/python3 "$HS_TMP/plant.py" "$PLANT_PORT" "$API" 400
[[ -n $(wait_listening "$HS_TMP/plant.log" "$HS_PID") ]] || {
    fail "the plant did not start"
    finish
}
cat >"$HS_TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: plant
    static_configs: [{targets: ['127.0.0.1:$PLANT_PORT']}]
EOF
start_prometheus "$HS_TMP/prometheus.yml" || finish

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<EOF
evaluation_interval: 1s
prometheus: {url: '$PROM_URL'}
signals:
  utilization: {query: 'plant_utilization', max_age: 10s}
states:
  - {name: hot, conditions: ['utilization > 90']}
  - {name: optimal}
regulators:
  replicas:
    signal: utilization
    setpoint: 50
    output: {min: 1, max: 20, start: 2, integer: true}
    increases_signal: false
    law: proportional
    stabilization: {down: 0s}
    # the HPA's default behavior (double or +4 pods per 15 s) would take 2 to 6 first;
    # a Pods policy as an HPA manifest may have it lets the calculator's 8 through at once
    behavior: {up: {policies: [{type: Pods, value: 100, period: 15s}]}}
    settle: 4s
    actions:
      - kubectl: {scale: deployment/app, namespace: shop, replicas: '{{output}}', kubeconfig: '$KCFG'}
EOF
check "check accepts the rules" "$CONTROLLER" check "$RULES"
STATE_DIR=$HS_TMP/state
mkdir -p "$STATE_DIR"
spawn "$HS_TMP/controller.log" "$CONTROLLER" --config="$RULES" --web.listen-address=127.0.0.1:0 \
    --state.directory="$STATE_DIR" --kubectl.path="$KUBECTL"
CTL_PID=$HS_PID
CTL_URL=$(wait_listening "$HS_TMP/controller.log" "$CTL_PID")
[[ -n $CTL_URL ]] || {
    fail "the controller did not start"
    sed 's/^/    /' "$HS_TMP/controller.log"
    finish
}
AUDIT=$STATE_DIR/audit.jsonl
scales() { # the replicas of every scale kubectl sent, in order
    /usr/bin/python3 -c '
import json, sys
out = []
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["method"] in ("PUT", "PATCH") and r["path"].endswith("/deployments/app/scale"):
        out.append(str((r.get("body") or {}).get("spec", {}).get("replicas")))
print(" ".join(out))' "$REQ_LOG"
}
# shellcheck disable=SC2317 # called through wait_until
replicas_are() { [[ $(replicas) == "$1" ]]; }

check "2 replicas at utilization 200 -> 8, as ceil(2 x 200 / 50)" wait_until 30 replicas_are 8
sleep 5
check_eq "at utilization 50 nothing more: one scale, to 8" "8" "$(scales)"

# a human scales to 4
"$KUBECTL" --kubeconfig="$KCFG" -n shop scale deployment/app --replicas=4 >/dev/null
check_eq "a human scaled to 4 with kubectl" 4 "$(replicas)"
# shellcheck disable=SC2317
read_back() {
    /usr/bin/python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if any(r["type"] == "regulator_read_back" and r["expected"] == 8 and r["found"] == 4 and r["not_applied"] == 16 for r in recs) else 1)' "$AUDIT"
}
check "the regulator read 4 back instead of sending 16 (regulator_read_back: expected 8, found 4)" \
    wait_until 20 read_back
check "after settle it goes on from 4: ceil(4 x 100 / 50) = 8" wait_until 20 replicas_are 8
check_eq "scales sent: 8 (the human's 4 is not ours), 8; never 16" "8 4 8" "$(scales)"
http_get "$HS_TMP/regs.json" "$CTL_URL/api/v1/regulators" >/dev/null
check_eq "the API shows 8 replicas" 8 "$(jget "$HS_TMP/regs.json" "'%d' % d['data'][0]['output']")"
stop_process "$CTL_PID"
check_eq "the controller stops cleanly" 0 "$HS_STATUS"
finish

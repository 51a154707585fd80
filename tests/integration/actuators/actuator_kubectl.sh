#!/usr/bin/env bash
# actuator_kubectl: the kubectl actuator through act-driver (the daemon's own validate,
# expansion and retry loop) running the REAL kubectl against fake_kube_api.py, a small
# Kubernetes API server on a free loopback port that records every request.
#  - scale: relative +2 from 3 sends replicas 5 (the recorded PUT of the scale
#    subresource carries it) with undo {replicas 3, expected 5}, and its revert goes back
#    to 3; +10 with max 6 gives 6, -5 with min 1 gives 1; absolute (also clamped); the
#    target equal to the current count changes nothing (no write, no undo); a statefulset
#    through its short name
#  - the --current-replicas precondition: replicas changed behind our back before a revert:
#    the revert fails with a clear error and writes nothing; changed between kubectl's read
#    and its write (409 Conflict from the server): the retry reads the new count and adds
#    to that, once
#  - patch: a merge patch (Content-Type application/merge-patch+json) and its revert_patch
#  - annotate: homeostat.io/decision-id, state and reasoning (cut to 1024 bytes on a UTF-8
#    boundary) plus the given annotations
#  - rollout_restart: the pod template's kubectl.kubernetes.io/restartedAt annotation
#  - --server-dry-run: scale, patch, annotate and restart send dryRun=All and change nothing
#  - a 503 is retried (attempts 2), a 404 fails at once; bad params are refused by validate
#    with the key named (exit 2)
#  - a hanging API server: with timeout 3s the call ends by the deadline with status retry
#    and no kubectl process left
#  - the environment kubectl gets: PATH, LANG, HOME, KUBECONFIG, KUBERNETES_SERVICE_HOST and
#    _PORT and nothing else (a secret or KUBERNETES_PORT in the test's environment does not
#    reach it), seen through a wrapper in front of it
# About 15 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool kubectl curl /usr/bin/python3

DRIVER=$HOMEOSTAT_ACT_DRIVER
if [[ ! -x $DRIVER ]]; then
    fail "act-driver '$DRIVER' is missing (build the act-driver target)"
    finish
fi
KUBECTL=$(command -v kubectl)
REQ_LOG=$HS_TMP/requests.jsonl
# kubectl keeps a discovery cache under $HOME/.kube: one of our own.
export HOME=$HS_TMP/home
mkdir -p "$HOME"
unset KUBECONFIG

# reqs_since N: the recorded API requests after the first N lines, as a JSON array, the
# discovery ones left out.
reqs_since() {
    /usr/bin/python3 -c 'import json, sys
out = []
with open(sys.argv[1]) as f:
    for i, line in enumerate(f):
        r = json.loads(line)
        if i >= int(sys.argv[2]) and "/namespaces/" in r["path"]:
            out.append(r)
print(json.dumps(out))' "$REQ_LOG" "$1"
}

mark() { wc -l <"$REQ_LOG"; }

# drive ARGS...: act-driver with the real kubectl; OUT = its stdout, RC = its exit status,
# ERR = its stderr.
drive() {
    RC=0
    OUT=$("$DRIVER" --kubectl="$KUBECTL" "$@" 2>"$HS_TMP/driver.err") || RC=$?
    ERR=$(cat "$HS_TMP/driver.err")
}

# obj NS RESOURCE NAME: the stored object (JSON).
obj() { hcurl "$API/_control/object/$1/$2/$3"; }

put_obj() { hcurl -X POST --data-binary "$1" "$API/_control/object" >/dev/null; }

replicas() { jstr "$(obj shop "$1" "$2")" 'd["spec"]["replicas"]'; }

set_replicas() {
    hcurl -X POST --data-binary "$(jstr "$(obj shop deployments app)" \
        "dict(d, spec=dict(d['spec'], replicas=$1))")" "$API/_control/object" >/dev/null
}

# ---- the server -------------------------------------------------------------------------
start_fake_kube_api "$REQ_LOG" || finish
API=$KUBE_API_URL
touch "$REQ_LOG"

KCFG=$HS_TMP/kubeconfig
cat >"$KCFG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: $API
    insecure-skip-tls-verify: true
users:
- name: tester
  user:
    token: dummy-token
contexts:
- name: fake
  context: {cluster: fake, user: tester, namespace: default}
current-context: fake
EOF

template='"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}'
put_obj '{"kind":"Deployment","metadata":{"name":"app","namespace":"shop"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"x"}},'"$template"'}}'
put_obj '{"kind":"StatefulSet","metadata":{"name":"db","namespace":"shop"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"x"}},'"$template"'}}'

COMMON="\"kubeconfig\":\"$KCFG\",\"namespace\":\"shop\",\"backoff\":\"10ms\""

# ---- scale ------------------------------------------------------------------------------
m=$(mark)
drive apply kubectl "{\"scale\":\"deploy/app\",\"replicas\":\"+2\",$COMMON}"
check_eq "scale +2: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
check_eq "scale +2 from 3: target 5 in the detail" "3 5" \
    "$(jstr "$OUT" 'd["detail"]["current_replicas"]') $(jstr "$OUT" 'd["detail"]["target_replicas"]')"
check_eq "scale +2: undo {replicas 3, expected 5}" '{"expected": 5, "replicas": 3}' \
    "$(jstr "$OUT" 'd["undo"]')"
check_eq "scale +2: the deployment has 5 replicas" 5 "$(replicas deployments app)"
R=$(reqs_since "$m")
check_eq "scale +2: one PUT of the scale subresource, with replicas 5" \
    '[["/apis/apps/v1/namespaces/shop/deployments/app/scale", 5]]' \
    "$(jstr "$R" '[[r["path"], r["body"]["spec"]["replicas"]] for r in d if r["method"] != "GET"]')"
check_eq "scale: kubectl got --namespace and --request-timeout=15s" \
    '["--namespace=shop", "--request-timeout=15s"]' \
    "$(jstr "$OUT" '[a for a in d["detail"]["commands"][1]["argv"] if a.startswith(("--namespace", "--request"))]')"
check_eq "scale: the scale command carries --current-replicas=3" \
    '["scale", "deployment/app", "--replicas=5", "--current-replicas=3"]' \
    "$(jstr "$OUT" 'd["detail"]["commands"][1]["argv"][-4:]')"

PARAMS=$(jstr "$OUT" 'd["params"]')
UNDO=$(jstr "$OUT" 'd["undo"]')
m=$(mark)
drive revert kubectl "$PARAMS" "$UNDO"
check_eq "revert of the scale: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
check_eq "revert of the scale: back to 3 replicas" 3 "$(replicas deployments app)"
check_eq "revert of the scale: the PUT carries 3" '[3]' \
    "$(jstr "$(reqs_since "$m")" '[r["body"]["spec"]["replicas"] for r in d if r["method"] == "PUT"]')"

drive apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":\"+10\",\"max\":6,$COMMON}"
check_eq "scale +10 with max 6 from 3: 6" "ok 6" "$(jstr "$OUT" 'd["status"]') $(replicas deployments app)"
drive apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":\"-5\",\"min\":1,$COMMON}"
check_eq "scale -5 with min 1 from 6: 1" "ok 1" "$(jstr "$OUT" 'd["status"]') $(replicas deployments app)"
drive apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":4,$COMMON}"
check_eq "scale to 4 (absolute)" "ok 4" "$(jstr "$OUT" 'd["status"]') $(replicas deployments app)"
drive apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":\"9\",\"max\":7,$COMMON}"
check_eq "scale to \"9\" with max 7: 7" "ok 7" "$(jstr "$OUT" 'd["status"]') $(replicas deployments app)"
set_replicas 4
m=$(mark)
drive apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":4,$COMMON}"
check_eq "scale to the current count: ok, unchanged, no undo" "ok true null" \
    "$(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["detail"]["unchanged"]') $(jstr "$OUT" 'd["undo"]')"
check_eq "... and nothing written" 0 \
    "$(jstr "$(reqs_since "$m")" 'len([r for r in d if r["method"] != "GET"])')"
drive apply kubectl "{\"scale\":\"sts/db\",\"replicas\":\"+1\",$COMMON}"
check_eq "scale sts/db +1: statefulset db has 3" "ok 3" \
    "$(jstr "$OUT" 'd["status"]') $(replicas statefulsets db)"
check_eq "... under its full name" statefulset/db "$(jstr "$OUT" 'd["detail"]["resource"]')"

# ---- the precondition: changed behind our back ---------------------------------------
drive apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":\"+1\",$COMMON}"
check_eq "scale +1 from 4: 5" "ok 5" "$(jstr "$OUT" 'd["status"]') $(replicas deployments app)"
PARAMS=$(jstr "$OUT" 'd["params"]')
UNDO=$(jstr "$OUT" 'd["undo"]')
set_replicas 9
m=$(mark)
drive revert kubectl "$PARAMS" "$UNDO"
check_eq "revert after someone scaled to 9: failed" "1 fail" "$RC $(jstr "$OUT" 'd["status"]')"
ERROR=$(jstr "$OUT" 'd["error"]')
check "... with a clear error ($ERROR)" \
    grep -qE 'not reverted.*5.*\(now 9\).*someone else changed them; left alone' <<<"$ERROR"
check_eq "... the replicas left at 9" 9 "$(replicas deployments app)"
check_eq "... and nothing written" 0 \
    "$(jstr "$(reqs_since "$m")" 'len([r for r in d if r["method"] != "GET"])')"

# ---- a race between kubectl's read of the scale and its write ---------------------------
set_replicas 3
hcurl -X POST "$API/_control/race?replicas=4" >/dev/null
m=$(mark)
drive apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":\"+2\",$COMMON}"
check_eq "race: someone scales to 4 between kubectl's read and write: ok after 2 attempts" \
    "0 ok 2" "$RC $(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["attempts"]')"
check_eq "... the first write got 409 Conflict, the second went from 4 to 6" '[5, 6]' \
    "$(jstr "$(reqs_since "$m")" '[r["body"]["spec"]["replicas"] for r in d if r["method"] == "PUT"]')"
check_eq "... the deployment has 6 (+2 applied once, to the fresh count)" 6 "$(replicas deployments app)"
check_eq "... undo {replicas 4, expected 6}" '{"expected": 6, "replicas": 4}' "$(jstr "$OUT" 'd["undo"]')"

# ---- patch --------------------------------------------------------------------------------
m=$(mark)
drive apply kubectl "{\"patch\":\"deployment/app\",\"merge_patch\":{\"metadata\":{\"labels\":{\"tier\":\"gold\"}}},\"revert_patch\":{\"metadata\":{\"labels\":{\"tier\":null}}},$COMMON}"
check_eq "patch: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
check_eq "patch: the label is set" gold "$(jstr "$(obj shop deployments app)" 'd["metadata"]["labels"]["tier"]')"
check_eq "patch: one merge-patch+json PATCH with the patch" \
    '[["application/merge-patch+json", {"metadata": {"labels": {"tier": "gold"}}}]]' \
    "$(jstr "$(reqs_since "$m")" '[[r["content_type"], r["body"]] for r in d if r["method"] == "PATCH"]')"
check_eq "patch: undo is the revert patch" '{"merge_patch": {"metadata": {"labels": {"tier": null}}}}' \
    "$(jstr "$OUT" 'd["undo"]')"
drive revert kubectl "$(jstr "$OUT" 'd["params"]')" "$(jstr "$OUT" 'd["undo"]')"
check_eq "revert of the patch: the label is gone" "ok False" \
    "$(jstr "$OUT" 'd["status"]') $(jstr "$(obj shop deployments app)" 'str("tier" in d["metadata"].get("labels", {}))')"
drive apply kubectl "{\"patch\":\"deployment/app\",\"merge_patch\":{\"spec\":{\"minReadySeconds\":5}},$COMMON}"
check_eq "patch without revert_patch: ok, no undo" "ok null" \
    "$(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["undo"]')"

# ---- annotate -----------------------------------------------------------------------------
# 1100 bytes of reasoning in 2-byte characters: cut to 1024 bytes, 512 characters.
REASONING=$(/usr/bin/python3 -c 'print("é" * 550)')
m=$(mark)
drive --id=dec-42 --state=critical --reasoning="$REASONING" apply kubectl \
    "{\"annotate\":\"deployment/app\",\"annotations\":{\"example.com/owner\":\"team-a\"},$COMMON}"
check_eq "annotate: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
A=$(jstr "$(obj shop deployments app)" 'd["metadata"]["annotations"]')
check_eq "annotate: decision id, state and the given annotation" "dec-42 critical team-a" \
    "$(jstr "$A" 'd["homeostat.io/decision-id"]') $(jstr "$A" 'd["homeostat.io/state"]') $(jstr "$A" 'd["example.com/owner"]')"
check_eq "annotate: the reasoning cut to 1024 bytes on a character boundary" "1024 True" \
    "$(jstr "$A" 'len(d["homeostat.io/reasoning"].encode())') $(jstr "$A" 'str(set(d["homeostat.io/reasoning"]) == {"é"})')"
check_eq "annotate: one PATCH" 1 \
    "$(jstr "$(reqs_since "$m")" 'len([r for r in d if r["method"] == "PATCH"])')"

# ---- rollout restart ----------------------------------------------------------------------
m=$(mark)
drive apply kubectl "{\"rollout_restart\":\"deployment/app\",$COMMON}"
check_eq "rollout_restart: ok, no undo" "0 ok null" \
    "$RC $(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["undo"]')"
RESTARTED=$(jstr "$(obj shop deployments app)" \
    'd["spec"]["template"]["metadata"].get("annotations", {}).get("kubectl.kubernetes.io/restartedAt", "")')
check "rollout_restart: the pod template has restartedAt ($RESTARTED)" test -n "$RESTARTED"
check_eq "rollout_restart: sent as one strategic merge PATCH" '["application/strategic-merge-patch+json"]' \
    "$(jstr "$(reqs_since "$m")" '[r["content_type"] for r in d if r["method"] == "PATCH"]')"

# ---- --server-dry-run ---------------------------------------------------------------------
set_replicas 3
BEFORE=$(obj shop deployments app)
m=$(mark)
drive --server-dry-run apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":\"+2\",$COMMON}"
check_eq "dry run scale: ok, no undo" "0 ok null" "$RC $(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["undo"]')"
# kubectl before 1.26 checks that the server supports dry run from the server's OpenAPI
# document in protobuf, which this fake does not serve (a real API server does); with such a
# kubectl (Debian 12's kubernetes-client is 1.20) patch, annotate and rollout restart cannot
# be dry-run here. Said, not counted.
KUBECTL_MINOR=$(kubectl version --client -o json 2>/dev/null |
    /usr/bin/python3 -c 'import json, re, sys; print(re.sub(r"\D.*", "", json.load(sys.stdin)["clientVersion"]["minor"]))' || echo 0)
if ((KUBECTL_MINOR >= 26)); then
    drive --server-dry-run apply kubectl "{\"patch\":\"deployment/app\",\"merge_patch\":{\"metadata\":{\"labels\":{\"dry\":\"run\"}}},$COMMON}"
    check_eq "dry run patch: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
    drive --server-dry-run apply kubectl "{\"annotate\":\"deployment/app\",$COMMON}"
    check_eq "dry run annotate: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
    drive --server-dry-run apply kubectl "{\"rollout_restart\":\"deployment/app\",$COMMON}"
    check_eq "dry run rollout_restart: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
    W=$(jstr "$(reqs_since "$m")" '[[r["method"], r["path"].rsplit("/", 1)[1], r["query"].get("dryRun")] for r in d if r["method"] != "GET"]')
    check_eq "dry run: every write carries dryRun=All" \
        '[["PUT", "scale", ["All"]], ["PATCH", "app", ["All"]], ["PATCH", "app", ["All"]], ["PATCH", "app", ["All"]]]' "$W"
else
    say "NOT RUN (kubectl 1.$KUBECTL_MINOR < 1.26 needs the server's OpenAPI protobuf): dry run of patch, annotate and rollout restart"
    W=$(jstr "$(reqs_since "$m")" '[[r["method"], r["path"].rsplit("/", 1)[1], r["query"].get("dryRun")] for r in d if r["method"] != "GET"]')
    check_eq "dry run: the scale write carries dryRun=All" '[["PUT", "scale", ["All"]]]' "$W"
fi
check_eq "dry run: the deployment is unchanged (resourceVersion too)" "$BEFORE" "$(obj shop deployments app)"

# ---- failures -----------------------------------------------------------------------------
hcurl -X POST "$API/_control/fail?code=503" >/dev/null
drive apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":\"+1\",$COMMON}"
hcurl -X POST "$API/_control/fail?code=0" >/dev/null
check_eq "503: retry status after 2 attempts (default retries 1)" "1 retry 2" \
    "$RC $(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["attempts"]')"
ERROR=$(jstr "$OUT" 'd["error"]')
check "... the error names the command and the server's answer ($ERROR)" \
    grep -q '^kubectl get deployment/app: exit 1: .*ServiceUnavailable' <<<"$ERROR"
drive apply kubectl "{\"scale\":\"deployment/nope\",\"replicas\":1,$COMMON}"
check_eq "404: failed after 1 attempt" "1 fail 1" \
    "$RC $(jstr "$OUT" 'd["status"]') $(jstr "$OUT" 'd["attempts"]')"
check "... with kubectl's message" grep -q 'NotFound' <<<"$(jstr "$OUT" 'd["error"]')"

# validate: exit 2 with the key named
bad() { # MESSAGE_REGEX PARAMS
    drive validate kubectl "$2"
    if [[ $RC == 2 ]] && grep -qE "$1" <<<"$ERR"; then
        pass "invalid: $2 ($ERR)"
    else
        fail "invalid: $2: expected exit 2 and /$1/, got $RC: $ERR"
    fi
}
bad 'kubectl needs one of' '{"namespace":"shop"}'
bad 'scale: .*both scale and patch|patch: .*both' '{"scale":"deployment/a","replicas":1,"patch":"deployment/a","merge_patch":{"a":1}}'
bad 'scale: resource type .cronjob. is not one of deployment, statefulset, replicaset' '{"scale":"cronjob/a","replicas":1}'
bad 'scale: .*name .App_1. is not a valid' '{"scale":"deployment/App_1","replicas":1}'
bad 'replicas: ' '{"scale":"deployment/a","replicas":"x3"}'
bad 'replicas: ' '{"scale":"deployment/a","replicas":-1}'
bad 'min: min \(5\) is above max \(2\)' '{"scale":"deployment/a","replicas":1,"min":5,"max":2}'
bad 'namespace: namespace must be a DNS-1123 label' '{"scale":"deployment/a","replicas":1,"namespace":"Shop"}'
bad 'context: ' '{"scale":"deployment/a","replicas":1,"context":"-x"}'
bad 'kubeconfig: .*absolute' '{"scale":"deployment/a","replicas":1,"kubeconfig":"kc"}'
bad 'replicas: replicas goes with scale' '{"patch":"deployment/a","merge_patch":{"a":1},"replicas":2}'
bad 'merge_patch: ' '{"patch":"deployment/a","merge_patch":"x"}'
bad 'annotations: annotation key .bad key.' '{"annotate":"deployment/a","annotations":{"bad key":"v"}}'
bad 'annotations: .*homeostat.io/ keys' '{"annotate":"deployment/a","annotations":{"homeostat.io/state":"v"}}'
bad 'rollout_restart: resource type .rs. is not one of deployment, statefulset, daemonset' '{"rollout_restart":"rs/a"}'
bad 'bogus: unknown key' '{"scale":"deployment/a","replicas":1,"bogus":1}'
drive --declare=n validate kubectl '{"scale":"deployment/app-{{n}}","replicas":"+{{n}}","namespace":"{{n}}"}'
check_eq "placeholders in the resource, replicas and namespace validate" 0 "$RC"
drive --args='{"n":"UPPER"}' --declare=n apply kubectl "{\"scale\":\"deployment/{{n}}\",\"replicas\":1,$COMMON}"
check "... and are checked again once expanded" grep -q 'after expanding placeholders: scale: name .UPPER.' <<<"$(jstr "$OUT" 'd["error"]')"

# ---- a hanging API server -----------------------------------------------------------------
hcurl -X POST "$API/_control/hang?on=1" >/dev/null
start=$(date +%s%N)
drive apply kubectl "{\"scale\":\"deployment/app\",\"replicas\":\"+1\",\"timeout\":\"3s\",\"retries\":0,$COMMON}"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
hcurl -X POST "$API/_control/hang?on=0" >/dev/null
check_eq "hanging server: retry status" "1 retry" "$RC $(jstr "$OUT" 'd["status"]')"
check "... it ended by the deadline (${elapsed_ms} ms; 3 s + 1 s + the kill grace)" \
    test "$elapsed_ms" -lt 7000
check "... the error says it timed out ($(jstr "$OUT" 'd["error"]'))" \
    grep -qE 'kubectl get deployment/app: (timed out|exit 1: .*(Timeout|deadline|timeout))' \
    <<<"$(jstr "$OUT" 'd["error"]')"
# shellcheck disable=SC2317 # called through check and wait_until
no_kubectl_left() { ! pgrep -f -- "--kubeconfig=$KCFG" >/dev/null; }
check "... and no kubectl process is left" no_kubectl_left

# ---- the environment kubectl gets -----------------------------------------------------------
WRAP=$HS_TMP/kubectl-wrapper
cat >"$WRAP" <<EOF
#!/bin/sh
env >"$HS_TMP/kubectl.env"
exec "$KUBECTL" "\$@"
EOF
chmod +x "$WRAP"
SECRET="homeostat-secret-$RANDOM$RANDOM"
RC=0
OUT=$(HOMEOSTAT_TEST_SECRET=$SECRET KUBECONFIG=$KCFG KUBERNETES_SERVICE_HOST=10.0.0.1 \
    KUBERNETES_SERVICE_PORT=443 KUBERNETES_PORT=tcp://10.0.0.1:443 "$DRIVER" --kubectl="$WRAP" \
    apply kubectl '{"scale":"deployment/app","replicas":3,"namespace":"shop"}' 2>&1) || RC=$?
check_eq "through the wrapper, KUBECONFIG from the environment: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
check_eq "kubectl's environment is PATH, LANG, HOME, KUBECONFIG and the in-cluster pair only" \
    "HOME KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT LANG PATH" \
    "$(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$HS_TMP/kubectl.env" | grep -vx PWD | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "... with LANG=C.UTF-8 and our KUBECONFIG" "C.UTF-8 $KCFG" \
    "$(sed -n 's/^LANG=//p' "$HS_TMP/kubectl.env") $(sed -n 's/^KUBECONFIG=//p' "$HS_TMP/kubectl.env")"
# shellcheck disable=SC2317 # called through check and wait_until
lacks() { ! grep -qF -- "$SECRET" <<<"$1"; }
check "... the secret is not in it" lacks "$(cat "$HS_TMP/kubectl.env")"
RC=0
OUT=$(HOMEOSTAT_TEST_SECRET=$SECRET "$DRIVER" apply exec '{"argv":["env"]}' 2>&1) || RC=$?
check_eq "an exec action printing its environment: ok" "0 ok" "$RC $(jstr "$OUT" 'd["status"]')"
check "... the secret is not in it" lacks "$(jstr "$OUT" 'd["detail"]["stdout"]')"
check "... which has PATH and LANG=C.UTF-8" grep -q '^LANG=C.UTF-8$' <<<"$(jstr "$OUT" 'd["detail"]["stdout"]')"

# ---- the daemon: --kubectl.server-dry-run at start ---------------------------------------
# Every kubectl action of the rules goes to the API server with --dry-run=server before the
# controller starts; one the server rejects (a deployment that does not exist) stops it.
CTL=${HOMEOSTAT_CONTROLLER:-}
if [[ -x $CTL ]]; then
    for which in good bad; do
        target=app
        [[ $which == bad ]] && target=nothere
        printf '%s\n' 'prometheus: {url: "http://127.0.0.1:9"}' 'states:' \
            '  - {name: critical, conditions: ["alert:X == 1"]}' '  - {name: optimal}' \
            'decisions:' '  critical:' '    actions:' \
            "      - kubectl: {scale: deployment/$target, replicas: \"+1\", max: 9, namespace: shop, kubeconfig: \"$KCFG\"}" \
            >"$HS_TMP/rules-$which.yaml"
    done
    m=$(mark)
    spawn "$HS_TMP/ctl-good.log" "$CTL" --config="$HS_TMP/rules-good.yaml" \
        --web.listen-address=127.0.0.1:0 --state.directory="$HS_TMP/ctl-good" \
        --kubectl.path="$(command -v kubectl)" --kubectl.server-dry-run
    CTL_PID=$HS_PID
    check "--kubectl.server-dry-run: the controller starts when the server accepts" \
        wait_until 20 grep -q 'listening on' "$HS_TMP/ctl-good.log"
    check "... after checking the action" \
        grep -q 'kubectl check: decision .critical.: kubectl scale deployment/app.*accepted' \
        "$HS_TMP/ctl-good.log"
    W=$(jstr "$(reqs_since "$m")" '[r["query"].get("dryRun") for r in d if r["method"] != "GET"]')
    check_eq "... its write carried dryRun=All" '[["All"]]' "$W"
    stop_process "$CTL_PID"
    RC=0
    timeout 30 "$CTL" --config="$HS_TMP/rules-bad.yaml" --web.listen-address=127.0.0.1:0 \
        --state.directory="$HS_TMP/ctl-bad" --kubectl.path="$(command -v kubectl)" \
        --kubectl.server-dry-run >"$HS_TMP/ctl-bad.log" 2>&1 || RC=$?
    check_eq "... and refuses to start when the server rejects one (exit 1)" 1 "$RC"
    check "... saying which action and why" \
        grep -q "decision 'critical' action 1 (kubectl scale deployment/nothere.*server-side dry run failed" \
        "$HS_TMP/ctl-bad.log"
else
    fail "controller binary '$CTL' is missing"
fi

finish

#!/usr/bin/env bash
# kubernetes_manifests: deploy/kubernetes/ as `kubectl kustomize` renders it (offline), and
# packaging/docker/Dockerfile, checked without a cluster:
#  - every object has apiVersion, kind, name and namespace; selectors match the pod
#    templates; Services select one workload and their targetPorts exist; ServiceMonitors
#    select the Services by label and port name; probes are HTTP on the daemons' own ports
#    and paths; every container runs as uid 65532, non-root, read-only root, no privilege
#    escalation, capabilities dropped, RuntimeDefault seccomp, with requests and limits;
#    only the exporter uses host paths (read-only) and the host network, only the
#    controller gets a service account token; every path argument is on a volume
#    (kubernetes_manifests.py static)
#  - RBAC: nothing cluster-wide, no wildcard, no secrets, few verbs; the rights the kubectl
#    actions of the rules ConfigMap need are granted in their namespace, leader election's
#    (the Deployment's --ha.* arguments: a Lease and a ConfigMap) in the controller's, and
#    nothing more;
#    then the REAL kubectl runs each of those actions (apply, revert, server dry run)
#    through act-driver against fake_kube_api.py, and every request it sent must be
#    allowed by the Role, every grant used; the controller's kubectl is left to its
#    in-cluster configuration (no KUBECONFIG, the service account's files not hidden)
#  - the rules ConfigMap passes `homeostat-controller check`; the PrometheusRule is what
#    generate-prometheusrule.py prints, its groups are those of alerts/ and pass
#    `promtool check rules`
#  - the real binaries accept the containers' arguments (volumes mapped onto this machine,
#    listen addresses on 127.0.0.1:0): the exporter and the controller start and answer
#    every probe and scrape path of the manifests; the controller reads the admin token
#    file of its Secret (POST /api/v1/pause needs it); it elects itself leader with its
#    pod's name on a Lease of fake_kube_api.py, writes the shared state to the ConfigMap
#    around a manual action, gives the Lease up at stop, and asked nothing the Role
#    homeostat-controller-leader-election does not allow, every grant of it used
#    (kubernetes_manifests.py rbac-ha)
#  - the Dockerfile installs the packages of the libraries the binaries link, kubectl, the
#    build packages of scripts/install-deps.sh; puts the binaries where the manifests run
#    them; runs as uid 65532
# About 15 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool kubectl promtool curl objdump ldd dpkg /usr/bin/python3

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$HOMEOSTAT_SOURCE_DIR
K8S=$SRC/deploy/kubernetes
PY=/usr/bin/python3
CHECKER=$HERE/kubernetes_manifests.py
OUT=$HS_TMP/out
mkdir -p "$OUT"
# kubectl keeps a discovery cache under $HOME/.kube: one of our own.
export HOME=$HS_TMP/home
mkdir -p "$HOME"
unset KUBECONFIG

if ! $PY -c 'import yaml' 2>/dev/null; then
    fail "/usr/bin/python3 has no PyYAML (Debian: python3-yaml; scripts/install-deps.sh test)"
    finish
fi

# checker SUBCOMMAND ARGS...: runs kubernetes_manifests.py; each "ok - ..." / "FAIL - ..."
# line it prints is one check, and one more that it ran to its end.
checker() {
    local line rc=0 result=$HS_TMP/checker-$1.out
    $PY "$CHECKER" "$@" >"$result" 2>&1 || rc=$?
    while IFS= read -r line; do
        case $line in
        "ok - "*) pass "${line#ok - }" ;;
        "FAIL - "*) fail "${line#FAIL - }" ;;
        *) say "$line" ;;
        esac
    done <"$result"
    check_eq "kubernetes_manifests.py $1 ran to its end" 0 "$rc"
}

# ---- render ------------------------------------------------------------------------------
RENDERED=$HS_TMP/rendered.yaml
if ! kubectl kustomize "$K8S" >"$RENDERED" 2>"$HS_TMP/kustomize.err"; then
    fail "kubectl kustomize deploy/kubernetes: $(cat "$HS_TMP/kustomize.err")"
    finish
fi
pass "kubectl kustomize deploy/kubernetes renders ($(grep -c '^kind:' "$RENDERED") objects)"

# ---- static checks -----------------------------------------------------------------------
checker static "$RENDERED" "$SRC" "$OUT"

# ---- the rules ConfigMap -----------------------------------------------------------------
if [[ -f $OUT/rules.yaml ]]; then
    if "$HOMEOSTAT_CONTROLLER" check "$OUT/rules.yaml" >"$HS_TMP/check.out" 2>&1; then
        pass "homeostat-controller check accepts the rules ConfigMap"
    else
        fail "homeostat-controller check rejects the rules ConfigMap: $(cat "$HS_TMP/check.out")"
    fi
fi

# ---- the PrometheusRule ------------------------------------------------------------------
if $PY "$K8S/generate-prometheusrule.py" --stdout >"$HS_TMP/prometheusrule.yaml" \
    2>"$HS_TMP/generate.err"; then
    if cmp -s "$HS_TMP/prometheusrule.yaml" "$K8S/prometheusrule.yaml"; then
        pass "prometheusrule.yaml is what generate-prometheusrule.py prints"
    else
        fail "prometheusrule.yaml differs from generate-prometheusrule.py's output (run it):"
        diff -u "$K8S/prometheusrule.yaml" "$HS_TMP/prometheusrule.yaml" \
            >"$HS_TMP/prometheusrule.diff" || true
        head -n 20 "$HS_TMP/prometheusrule.diff" | sed 's/^/    /'
    fi
    check_eq "generate-prometheusrule.py found both rule files (no warning)" "" \
        "$(cat "$HS_TMP/generate.err")"
else
    fail "generate-prometheusrule.py failed: $(cat "$HS_TMP/generate.err")"
fi
if [[ -f $OUT/prometheusrule-groups.yml ]]; then
    if promtool check rules "$OUT/prometheusrule-groups.yml" >"$HS_TMP/promtool.out" 2>&1; then
        pass "promtool check rules accepts the PrometheusRule's groups"
    else
        fail "promtool check rules rejects the PrometheusRule's groups:"
        sed 's/^/    /' "$HS_TMP/promtool.out"
    fi
fi

# ---- the daemons with the containers' arguments --------------------------------------------
# http_checks DAEMON BASE: every probe and scrape path of the manifests for DAEMON answers 200.
http_checks() {
    local daemon=$1 base=$2 d path what code
    while IFS=$'\t' read -r d path what; do
        [[ $d == "$daemon" ]] || continue
        code=$(http_get "$HS_TMP/body" "$base$path")
        check_eq "$what: $daemon answers GET $path" 200 "$code"
        if [[ $path == /metrics ]]; then
            check "$what: $daemon's $path is its metrics" \
                grep -q "^homeostat_" "$HS_TMP/body"
        fi
    done <"$OUT/http-checks.tsv"
}

# The daemons run as the pods do: uid and gid 65532, no capabilities, no new privileges
# (when the test runs as root; otherwise as the test's own user).
AS_POD_USER=()
POD_USER=$(id -un)
if [[ $(id -u) == 0 ]]; then
    require_tool setpriv
    AS_POD_USER=(setpriv --reuid=65532 --regid=65532 --clear-groups --inh-caps=-all
        --bounding-set=-all --no-new-privs)
    POD_USER="uid 65532 without capabilities"
    # What the pod's fsGroup and volume modes give it: its volumes, through our temp dir.
    chmod 0711 "$HS_TMP" "$OUT"
    chgrp -R 65532 "$OUT"/vol-*
    chmod -R g+rX "$OUT"/vol-*
    chmod g+w "$OUT/vol-state" "$OUT/vol-tmp"
    find "$OUT/vol-admin-token" -type f -exec chmod 0440 {} +
fi
EXPORTER_AS_POD_USER=$HS_TMP/exporter-as-pod-user
printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${AS_POD_USER[*]}" "$HOMEOSTAT_EXPORTER" \
    >"$EXPORTER_AS_POD_USER"
chmod 0755 "$EXPORTER_AS_POD_USER"

# collectors_ok: the collectors that succeeded in a scrape of the exporter started last.
collectors_ok() {
    hcurl "$EXPORTER_URL" | awk '/^homeostat_collector_success/ && $2 == 1 { print $1 }' | sort
}

if [[ -f $OUT/exporter.args ]]; then
    mapfile -d '' EXPORTER_ARGS <"$OUT/exporter.args"
    ROOT_OK=
    if ((${#AS_POD_USER[@]})) && start_exporter "${EXPORTER_ARGS[@]}"; then
        ROOT_OK=$(collectors_ok)
        stop_process "$EXPORTER_PID"
    fi
    if HOMEOSTAT_EXPORTER=$EXPORTER_AS_POD_USER start_exporter "${EXPORTER_ARGS[@]}"; then
        pass "the exporter starts with the DaemonSet's arguments, as $POD_USER"
        http_checks homeostat-exporter "$EXPORTER_BASE"
        if [[ -n $ROOT_OK ]]; then
            check_eq "as $POD_USER the exporter's collectors succeed as they do as root" \
                "$ROOT_OK" "$(collectors_ok)"
        fi
        stop_process "$EXPORTER_PID"
        check_eq "the exporter stops on SIGTERM with status 0" 0 "$HS_STATUS"
    fi
fi

if [[ -f $OUT/controller.args && -f $OUT/controller.token ]]; then
    mapfile -d '' CONTROLLER_ARGS <"$OUT/controller.args"
    mapfile -d '' CONTROLLER_ENV <"$OUT/controller.env"
    TOKEN=$(tr -d '\n' <"$(cat "$OUT/controller.token")")
    # The rules' Prometheus (a cluster Service) is replaced by a closed local port: the test
    # reaches no network; the controller starts and serves without Prometheus. Its leader
    # election goes to fake_kube_api.py instead of the in-cluster API server (which is
    # https, from KUBERNETES_SERVICE_HOST): what it asks there is checked against the Role.
    CLOSED=$(free_port)
    CTL_LOG=$HS_TMP/controller.log
    HA_LOG=$HS_TMP/ha-requests.jsonl
    start_fake_kube_api "$HA_LOG" || finish
    HA_API=$KUBE_API_URL
    HA_API_PID=$KUBE_API_PID
    printf 'fake-service-account-token\n' >"$HS_TMP/sa-token"
    chmod 0644 "$HS_TMP/sa-token"
    spawn "$CTL_LOG" "${AS_POD_USER[@]}" env -i "${CONTROLLER_ENV[@]}" PATH="$PATH" \
        "$HOMEOSTAT_CONTROLLER" "${CONTROLLER_ARGS[@]}" --prometheus.url="http://127.0.0.1:$CLOSED" \
        --ha.kubernetes.api-url="$HA_API" --ha.kubernetes.token-file="$HS_TMP/sa-token"
    CTL_PID=$HS_PID
    if wait_until 10 grep -q 'listening on http://' "$CTL_LOG"; then
        pass "the controller starts with the Deployment's arguments and env, as $POD_USER"
        CTL_URL=$(grep -m1 -o 'listening on http://[^ ]*' "$CTL_LOG")
        CTL_URL=${CTL_URL#listening on }
        CTL_URL=${CTL_URL%/}
        http_checks homeostat-controller "$CTL_URL"
        # leads: the Lease is its (as test-pod, the downward API's name), and a manual action
        # writes the shared state into the ConfigMap before it runs and after
        ha_leads() {
            http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status" >/dev/null &&
                [[ $(jget "$HS_TMP/status.json" 'd["data"]["ha"]["leader"]') == true ]]
        }
        check "the controller leads (the Lease in its namespace, as its pod's name)" \
            wait_until 10 ha_leads
        check_eq "the Lease's holder is the pod's name" test-pod \
            "$(hcurl "$HA_API/_control/object/homeostat/leases/homeostat-controller" |
                jstr "$(cat)" 'd["spec"]["holderIdentity"]')"
        # twice: the first creates the ConfigMap, the second updates it (its kubectl fails
        # here, with no cluster to reach: 502, after the fence)
        for _ in 1 2; do
            code=$(http_code "$CTL_URL/api/v1/actions/restart" -X POST \
                -H "Authorization: Bearer $TOKEN")
            check "a manual action runs while it leads (200, or 502: kubectl has no cluster)" \
                test "$code" = 200 -o "$code" = 502
        done
        state_written() {
            grep -q '"method": "PUT", "path": "/api/v1/namespaces/homeostat/configmaps/homeostat-controller-state"' \
                "$HA_LOG"
        }
        check "the shared state went to the ConfigMap homeostat-controller-state (created, updated)" \
            wait_until 30 state_written
        check_eq "POST /api/v1/pause without the admin token is refused" 401 \
            "$(http_code "$CTL_URL/api/v1/pause" -X POST)"
        check_eq "POST /api/v1/pause with the token of the Secret's file is accepted" 200 \
            "$(http_code "$CTL_URL/api/v1/pause" -X POST -H "Authorization: Bearer $TOKEN")"
        check "the controller wrote its state into the state volume" \
            test -s "$OUT/vol-state/state.json"
        stop_process "$CTL_PID"
        check_eq "the controller stops on SIGTERM with status 0" 0 "$HS_STATUS"
        check_eq "it gave the Lease up at stop" "" \
            "$(hcurl "$HA_API/_control/object/homeostat/leases/homeostat-controller" |
                jstr "$(cat)" 'd["spec"]["holderIdentity"]')"
        checker rbac-ha "$RENDERED" "$HA_LOG"
    else
        fail "the controller did not start with the Deployment's arguments; its log:"
        sed 's/^/    /' "$CTL_LOG"
    fi
    stop_process "$HA_API_PID"
fi

# ---- RBAC against what the real kubectl sends ------------------------------------------------
DRIVER=$HOMEOSTAT_ACT_DRIVER
if [[ ! -x $DRIVER ]]; then
    fail "act-driver '$DRIVER' is missing (build the act-driver target)"
elif [[ -d $OUT/actions ]]; then
    REQ_LOG=$HS_TMP/requests.jsonl
    start_fake_kube_api "$REQ_LOG" || finish
    API=$KUBE_API_URL
    while IFS= read -r obj; do
        hcurl -X POST --data-binary "$obj" "$API/_control/object" >/dev/null
    done <"$OUT/kube-objects.jsonl"
    # What the pod's in-cluster configuration gives kubectl: the server and a token.
    cat >"$HS_TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: $API}
users:
- name: homeostat-controller
  user: {token: fake-service-account-token}
contexts:
- name: fake
  context: {cluster: fake, user: homeostat-controller, namespace: homeostat}
current-context: fake
EOF
    : >"$REQ_LOG"

    # drive ARGS...: act-driver with the real kubectl; RC, DOUT.
    drive() {
        RC=0
        DOUT=$(KUBECONFIG=$HS_TMP/kubeconfig "$DRIVER" --kubectl="$(command -v kubectl)" "$@" \
            2>"$HS_TMP/driver.err") || RC=$?
    }
    # jfield JSON KEY: the value of KEY in the JSON object, as JSON.
    jfield() {
        $PY -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1]).get(sys.argv[2])))' \
            "$1" "$2"
    }

    for where_file in "$OUT"/actions/*.where; do
        n=${where_file%.where}
        where=$(cat "$where_file")
        params=$(cat "$n.params.json")
        flags=(--args="$(cat "$n.args.json")")
        while IFS= read -r d; do
            [[ -n $d ]] && flags+=(--declare="$d")
        done <"$n.declare"
        drive "${flags[@]}" apply kubectl "$params"
        check_eq "$where: the real kubectl ran it" 0 "$RC"
        [[ $RC == 0 ]] || { echo "$DOUT"; cat "$HS_TMP/driver.err"; } | sed 's/^/    /'
        undo=$(jfield "$DOUT" undo 2>/dev/null || echo null)
        if [[ $RC == 0 && $undo != null ]]; then
            drive revert kubectl "$(jfield "$DOUT" params)" "$undo"
            check_eq "$where: its revert ran" 0 "$RC"
        fi
        drive --server-dry-run "${flags[@]}" apply kubectl "$params"
        check_eq "$where: its server-side dry run ran" 0 "$RC"
    done
    checker rbac "$RENDERED" "$REQ_LOG"
    stop_process "$KUBE_API_PID"
fi

# ---- the image -----------------------------------------------------------------------------
checker image "$SRC/packaging/docker/Dockerfile" "$RENDERED" "$SRC/scripts/install-deps.sh" \
    "$HOMEOSTAT_EXPORTER" "$HOMEOSTAT_CONTROLLER"

finish

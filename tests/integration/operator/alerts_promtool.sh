#!/usr/bin/env bash
# alerts_promtool: the alerts/ folder, checked like code.
#  - `promtool check rules` on every alerts/*.yml but alertmanager.yml (alerting and
#    recording rules), and `promtool test rules` on every alerts/tests/*_test.yml
#  - alerts_check.py lint: the three rule groups; every alert named Homeostat*, with
#    severity, component, summary, description and a runbook_url to its docs/ALERTS.md
#    section, reading only metrics docs/METRICS.md documents; a unit test where it fires (with its exact labels and annotations) and one
#    where it must not; a runbook section with meaning, causes and what to do
#  - `amtool check-config alerts/alertmanager.yml`, and `amtool config routes test` for
#    every alert's severity and component and a few other label sets: the receivers each
#    goes to
#  - the real Alertmanager with a copy of alertmanager.yml whose receivers post to
#    webhook_server.py (group_wait 2s): alerts posted to /api/v2/alerts are inhibited or
#    not as the inhibit_rules say (status.inhibitedBy), the notifications reach the
#    receivers of the routes (the controller's with its bearer token), and no inhibited
#    alert is ever notified
# About 6 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool promtool amtool prometheus-alertmanager curl /usr/bin/python3

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$HOMEOSTAT_SOURCE_DIR
ALERTS=$SRC/alerts
CHECK=("/usr/bin/python3" "$HERE/alerts_check.py")

# shellcheck disable=SC2317 # called through check
quiet() { "$@" >/dev/null 2>&1; }
indent() { sed 's/^/    /'; }

# report LINES: "PASS msg" / "FAIL msg" lines made into checks; anything else fails.
report() {
    local line
    while IFS= read -r line; do
        case $line in
        "PASS "*) pass "${line#PASS }" ;;
        "FAIL "*) fail "${line#FAIL }" ;;
        "") ;;
        *) fail "unexpected output: $line" ;;
        esac
    done <<<"$1"
}

# ---- promtool ---------------------------------------------------------------------------
check "alerts/homeostat-alerts.yml exists" test -f "$ALERTS/homeostat-alerts.yml"
for f in "$ALERTS"/*.yml; do
    [[ $(basename "$f") == alertmanager.yml ]] && continue
    rc=0
    text=$(promtool check rules "$f" 2>&1) || rc=$?
    if ((rc == 0)); then
        pass "promtool check rules alerts/$(basename "$f"): $(grep -o 'SUCCESS: .*' <<<"$text")"
    else
        fail "promtool check rules alerts/$(basename "$f") (status $rc):"
        indent <<<"$text"
    fi
done

tests=("$ALERTS"/tests/*_test.yml)
check "alerts/tests has *_test.yml files (${#tests[@]})" test -f "${tests[0]}"
for f in "${tests[@]}"; do
    [[ -f $f ]] || continue
    rc=0
    # promtool resolves rule_files against the test file's directory.
    text=$(cd "$ALERTS/tests" && promtool test rules "$(basename "$f")" 2>&1) || rc=$?
    if ((rc == 0)) && grep -q SUCCESS <<<"$text"; then
        pass "promtool test rules alerts/tests/$(basename "$f")"
    else
        fail "promtool test rules alerts/tests/$(basename "$f") (status $rc):"
        indent <<<"$text"
    fi
done

# ---- conventions, unit-test coverage, runbook -------------------------------------------
rc=0
text=$("${CHECK[@]}" lint "$SRC" 2>&1) || rc=$?
check_eq "alerts_check.py lint ran" 0 "$rc"
report "$text"

# ---- Alertmanager configuration and routes ----------------------------------------------
AM_CONFIG=$ALERTS/alertmanager.yml
rc=0
text=$(amtool check-config "$AM_CONFIG" 2>&1) || rc=$?
if ((rc == 0)) && grep -q SUCCESS <<<"$text"; then
    pass "amtool check-config alerts/alertmanager.yml"
else
    fail "amtool check-config alerts/alertmanager.yml (status $rc):"
    indent <<<"$text"
fi

# routes LABEL=VALUE...: the receivers amtool routes those labels to, comma-separated.
routes() {
    amtool config routes test --config.file="$AM_CONFIG" "$@" 2>/dev/null || echo "(amtool failed)"
}

# The routing policy of alertmanager.yml's header, as a function of severity and component.
expected_receivers() {
    local severity=$1 component=$2 r
    case $component:$severity in
    exporter:critical | controller:critical) r=platform-pager ;;
    exporter:* | controller:*) r=platform-chat ;;
    *:critical) r=oncall-pager ;;
    *:warning) r=team-chat ;;
    *) r=team-tickets ;;
    esac
    [[ $component == application ]] && r=homeostat-controller,$r
    echo "$r"
}

n=0
while read -r name severity component; do
    n=$((n + 1))
    check_eq "route of $name (severity=$severity component=$component)" \
        "$(expected_receivers "$severity" "$component")" \
        "$(routes alertname="$name" severity="$severity" component="$component" \
            instance=h1:19110 service=shop)"
done < <("${CHECK[@]}" list "$SRC")
check "routes tested for every alert ($n)" test "$n" -gt 0

check_eq "route of the controller's HomeostatState alert (critical): on-call, not back to it" \
    oncall-pager "$(routes alertname=HomeostatState state=critical severity=critical \
        component=homeostat-controller)"
check_eq "route of the controller's HomeostatState alert (warning): team chat" \
    team-chat "$(routes alertname=HomeostatState state=degraded severity=warning \
        component=homeostat-controller)"
check_eq "route of an info host alert: tickets" team-tickets \
    "$(routes alertname=X severity=info component=host)"
check_eq "route of an info application alert: the controller and tickets" \
    homeostat-controller,team-tickets "$(routes alertname=X severity=info component=application)"
check_eq "route of a controller info alert: platform chat" platform-chat \
    "$(routes alertname=X severity=info component=controller)"
check_eq "route of an alert without severity nor component: tickets" team-tickets \
    "$(routes alertname=SomethingElse)"

# ---- the real Alertmanager: inhibition and delivery -------------------------------------
TOKEN=token-$RANDOM$RANDOM
printf '%s\n' "$TOKEN" >"$HS_TMP/homeostat-token"
HOOK_LOG=$HS_TMP/notifications.jsonl
HOOK_PORT=$(free_port)
spawn "$HS_TMP/webhook_server.log" /usr/bin/python3 "$HERE/../fakes/webhook_server.py" \
    --port "$HOOK_PORT" --log "$HOOK_LOG"
if ! wait_until 10 grep -q 'listening on' "$HS_TMP/webhook_server.log"; then
    fail "webhook_server.py did not start: $(cat "$HS_TMP/webhook_server.log")"
    finish
fi
"${CHECK[@]}" am-copy "$AM_CONFIG" "$HS_TMP/alertmanager.yml" \
    "http://127.0.0.1:$HOOK_PORT" "$HS_TMP/homeostat-token"
check "amtool check-config accepts the test copy" \
    quiet amtool check-config "$HS_TMP/alertmanager.yml"

start_alertmanager "$HS_TMP/alertmanager.yml" || finish
pass "alertmanager ready at $AM_URL with the test copy of alerts/alertmanager.yml"

# ALERTNAME SEVERITY COMPONENT LABEL=VALUE...; job is the exporter's or the controller's
# by component. Sources first, so the inhibitor has them before their targets' groups flush.
"${CHECK[@]}" am-alerts >"$HS_TMP/alerts.json" <<'EOF'
HomeostatHostCpuCritical critical host instance=h1:19110
HomeostatControllerCritical critical controller instance=c1:19111 state=critical
HomeostatControllerDown critical controller instance=c2:19111
HomeostatExporterDown critical exporter instance=h3:19110
HomeostatHostCpuHigh warning host instance=h1:19110
HomeostatHostMemoryHigh warning host instance=h1:19110
HomeostatHostCpuHigh warning host instance=h2:19110
HomeostatHighErrorRatio warning application service=shop
HomeostatControllerPausedTooLong warning controller instance=c1:19111
HomeostatControllerNotEvaluating critical controller instance=c2:19111
HomeostatControllerConfigReloadFailed warning controller instance=c2:19111
HomeostatIngestSeriesLimitNear warning exporter instance=h3:19110
EOF
check_eq "POST /api/v2/alerts accepts 12 alerts" 200 \
    "$(http_code "$AM_URL/api/v2/alerts" -X POST -H 'Content-Type: application/json' \
        --data-binary @"$HS_TMP/alerts.json")"

# am_status: one "KEY STATE [by KEY,...]" line per alert (alerts_check.py am-status).
am_status() { hcurl "$AM_URL/api/v2/alerts" | "${CHECK[@]}" am-status; }
# shellcheck disable=SC2317 # called through wait_until
status_has() { grep -qxF "$1" <<<"$(am_status)"; }

# Every alert, as it must be. Inhibition is computed as the sources arrive: wait for the
# last expected line first.
wait_until 10 status_has \
    "HomeostatIngestSeriesLimitNear/h3:19110 suppressed by HomeostatExporterDown/h3:19110" || true
STATUS=$(am_status)
# expect_status MSG "KEY STATE...": the status line of KEY is that.
expect_status() {
    check_eq "$1" "$2" "$(grep -F "${2%% *} " <<<"$STATUS" || echo "(no ${2%% *})")"
}
expect_status "critical host CPU on h1 mutes the CPU warning on h1" \
    "HomeostatHostCpuHigh/h1:19110 suppressed by HomeostatHostCpuCritical/h1:19110"
expect_status "... and the memory warning on h1 (same component and instance)" \
    "HomeostatHostMemoryHigh/h1:19110 suppressed by HomeostatHostCpuCritical/h1:19110"
expect_status "... not the CPU warning on h2" "HomeostatHostCpuHigh/h2:19110 active"
expect_status "... nor an application warning (another component)" \
    "HomeostatHighErrorRatio/shop active"
expect_status "the critical alert itself is active" "HomeostatHostCpuCritical/h1:19110 active"
expect_status "HomeostatControllerCritical does not mute the paused warning of its controller" \
    "HomeostatControllerPausedTooLong/c1:19111 active"
expect_status "HomeostatControllerDown mutes a critical alert of the same controller" \
    "HomeostatControllerNotEvaluating/c2:19111 suppressed by HomeostatControllerDown/c2:19111"
# Two rules and two critical alerts of c2 mute it: Alertmanager names one of them.
line=$(grep -F "HomeostatControllerConfigReloadFailed/c2:19111 " <<<"$STATUS" || true)
check "... and its warnings ($line)" grep -qE \
    ' suppressed by (HomeostatControllerDown|HomeostatControllerNotEvaluating)/c2:19111$' \
    <<<"$line"
expect_status "HomeostatControllerDown itself is active" "HomeostatControllerDown/c2:19111 active"
expect_status "HomeostatExporterDown mutes the exporter's warnings" \
    "HomeostatIngestSeriesLimitNear/h3:19110 suppressed by HomeostatExporterDown/h3:19110"

# Notifications: "RECEIVER KEY STATUS AUTH" lines (alerts_check.py deliveries).
deliveries() { "${CHECK[@]}" deliveries "$HOOK_LOG" "$TOKEN"; }
EXPECTED=(
    "oncall-pager HomeostatHostCpuCritical/h1:19110 firing -"
    "team-chat HomeostatHostCpuHigh/h2:19110 firing -"
    "team-chat HomeostatHighErrorRatio/shop firing -"
    "homeostat-controller HomeostatHighErrorRatio/shop firing token"
    "platform-pager HomeostatControllerCritical/c1:19111 firing -"
    "platform-pager HomeostatControllerDown/c2:19111 firing -"
    "platform-pager HomeostatExporterDown/h3:19110 firing -"
    "platform-chat HomeostatControllerPausedTooLong/c1:19111 firing -"
)
# shellcheck disable=SC2317 # called through wait_until
all_delivered() {
    local got e
    got=$(deliveries)
    for e in "${EXPECTED[@]}"; do
        grep -qxF "$e" <<<"$got" || return 1
    done
}
wait_until 20 all_delivered || true
sleep 1 # the muted groups flushed with the others; give a late one a chance to show
GOT=$(deliveries)
for e in "${EXPECTED[@]}"; do
    check "notified: $e" grep -qxF "$e" <<<"$GOT"
done
for k in HomeostatHostCpuHigh/h1:19110 HomeostatHostMemoryHigh/h1:19110 \
    HomeostatControllerNotEvaluating/c2:19111 HomeostatControllerConfigReloadFailed/c2:19111 \
    HomeostatIngestSeriesLimitNear/h3:19110; do
    check "never notified (inhibited): $k" test -z "$(awk -v k="$k" '$2 == k' <<<"$GOT")"
done
check_eq "no other notification" "${#EXPECTED[@]}" "$(sort -u <<<"$GOT" | grep -c .)"
finish

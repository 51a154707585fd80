#!/usr/bin/env bash
# controller_api_golden: what the controller says over the network and from its data tools,
# byte for byte: `backtest` and `report` (text and JSON, and their errors) against a real
# Prometheus loaded with fixed history, and the daemon's read-only API (every GET endpoint,
# HEAD, and the error replies 400, 403, 404 and 405), status line, headers and body, with
# the repository's rules files. Compared with tests/golden/controller-api/, exit statuses
# too. A refactoring of the controller must leave every one of them unchanged (issue 17);
# a deliberate change regenerates them with HOMEOSTAT_UPDATE_GOLDEN=1 and shows up in the
# diff (as controller_cli_golden does for check and test).
#
# The data (controller_api_golden.py history, backtest_data.py):
#  - backtest_prometheus.sh's six hours from 2026-01-01T00:00:00Z with its rules: a
#    timeline of 16 entries (decisions executed, in cooldown, over the budget, below
#    their confidence, uncertain, a flap, an alert signal);
#  - two hosts and a shop for rules/default.yaml, seven hours ending at
#    2026-01-02T00:00:00Z (the default rules' backtest) and again ending now (the report
#    and the daemon, which ask Prometheus about now): node-a's CPU 95 % busy and "/" 97 %
#    full, node-b oversized, 5 % of the shop's requests failing, a target down.
# What differs between two runs of the same build, and only that, is replaced before the
# comparison (controller_api_golden.py normalize, each pattern explained there): clock
# readings (since, sample times, generated_at, the Date header), measured durations and
# ages, the length of a body in which such a field was replaced, and the loopback ports
# of this run (PROMETHEUS, CONTROLLER, CLOSED_PORT). Instant queries go through a proxy
# that evaluates them at a whole second (controller_api_golden.py pin-time says why).
# About 15 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus promtool curl /usr/bin/python3

GOLDEN=$HOMEOSTAT_SOURCE_DIR/tests/golden/controller-api
HERE=$HOMEOSTAT_SOURCE_DIR/tests/integration/controller
if [[ ! -x $HOMEOSTAT_CONTROLLER ]]; then
    fail "controller binary '$HOMEOSTAT_CONTROLLER' is missing"
    finish
fi
helper() { /usr/bin/python3 "$HERE/controller_api_golden.py" "$@"; }
cd "$HOMEOSTAT_SOURCE_DIR"

# ---- Prometheus and its history ----------------------------------------------------------
T_BT=1767225600  # 2026-01-01T00:00:00Z, where backtest_data.py's six hours start
T_DEF=1767312000 # 2026-01-02T00:00:00Z, where the fixed seven hours of the hosts end
NOW=$(date +%s)
/usr/bin/python3 "$HERE/backtest_data.py" openmetrics "$T_BT" "$HS_TMP/backtest.om"
helper history "$T_DEF" "$HS_TMP/fixed.om"
helper history "$NOW" "$HS_TMP/now.om"
for h in backtest fixed now; do
    check "promtool makes TSDB blocks of the $h history" promtool tsdb create-blocks-from \
        openmetrics --quiet "$HS_TMP/$h.om" "$HS_TMP/tsdb"
done
printf 'global: {scrape_interval: 15s, evaluation_interval: 15s}\n' >"$HS_TMP/prometheus.yml"
# Retention 100y: the fixed histories are older than any default would keep.
start_prometheus "$HS_TMP/prometheus.yml" "$HS_TMP/tsdb" 100y || finish
check "Prometheus has the fixed histories and the current one" \
    wait_until 20 prom_has 'count_over_time(bt_cpu_busy[7h] @ 1767247200) == 1361
        and on() count_over_time(up{instance="node-c:9100"}[7h] @ 1767312000) == 840
        and on() up{instance="node-c:9100"} == 0'

# The proxy that evaluates instant queries at a whole second, on a free port.
PIN_URL=
for attempt in 1 2 3; do
    port=$(free_port)
    spawn "$HS_TMP/pin-time.$attempt.log" /usr/bin/python3 "$HERE/controller_api_golden.py" \
        pin-time "$port" "$PROM_URL"
    if wait_until 10 grep -q 'listening on' "$HS_TMP/pin-time.$attempt.log"; then
        PIN_URL=http://127.0.0.1:$port
        break
    fi
    stop_process "$HS_PID"
done
[[ -n $PIN_URL ]] || { fail "the time-pinning proxy did not start"; finish; }
CLOSED=$(free_port)

# ---- cases -------------------------------------------------------------------------------
mkdir -p "$HS_TMP/out" "$HS_TMP/work"
NAMES=()

# compare NAME: the output HS_TMP/out/NAME.txt against the golden file, or into it.
compare() {
    local name=$1 what=$2
    NAMES+=("$name")
    if [[ ${HOMEOSTAT_UPDATE_GOLDEN:-} == 1 ]]; then
        mkdir -p "$GOLDEN"
        cp "$HS_TMP/out/$name.txt" "$GOLDEN/$name.txt"
        return 0
    fi
    if cmp -s "$HS_TMP/out/$name.txt" "$GOLDEN/$name.txt"; then
        pass "$name: $what"
    else
        fail "$name: $what differs from tests/golden/controller-api/$name.txt:"
        diff -u "$GOLDEN/$name.txt" "$HS_TMP/out/$name.txt" >"$HS_TMP/diff" 2>&1 || true
        head -n 30 "$HS_TMP/diff" | sed 's/^/    /'
    fi
}

# The ports of this run, in every output.
ports() {
    printf '%s\n' "$PROM_URL" http://127.0.0.1:PROMETHEUS "$PIN_URL" http://127.0.0.1:PROMETHEUS \
        "127.0.0.1:$CLOSED" 127.0.0.1:CLOSED_PORT
    [[ -z ${CTL_URL:-} ]] || printf '%s\n' "$CTL_URL" http://127.0.0.1:CONTROLLER
}

# cli NAME KIND DIR ARGS...: homeostat-controller ARGS run in DIR (relative paths, as in
# controller_cli_golden), stdout and stderr, then its exit status; normalized as KIND.
cli() {
    local name=$1 kind=$2 dir=$3 rc=0 out=$HS_TMP/out/$1.txt
    shift 3
    (cd "$dir" && exec "$HOMEOSTAT_CONTROLLER" "$@") >"$out" 2>&1 </dev/null || rc=$?
    echo "exit $rc" >>"$out"
    local -a extra
    mapfile -t extra < <(ports)
    helper normalize "$kind" "$out" "${extra[@]}"
    compare "$name" "homeostat-controller $*"
}

# The rules of backtest_prometheus.sh; actions that a backtest never runs.
cp "$HOMEOSTAT_SOURCE_DIR/tests/integration/controller/backtest_rules.yaml" "$HS_TMP/work/backtest.yaml"
sed 's/{query: bt_cpu_busy}/{query: "bt_cpu_busy[5m]"}/' "$HS_TMP/work/backtest.yaml" \
    >"$HS_TMP/work/backtest-refused.yaml"
printf 'signals: {a: {query: up}}\nstates:\n  - {name: ok}\nreport:\n  checks: [{name: x}]\n' \
    >"$HS_TMP/work/report-invalid.yaml"

W=$HS_TMP/work
S=$HOMEOSTAT_SOURCE_DIR
BT_END=$((T_BT + 6 * 3600))
bt=(backtest --config=backtest.yaml --prometheus.url="$PROM_URL")
cli backtest-text none "$W" "${bt[@]}" --from="$T_BT" --to="$BT_END" --step=1s
cli backtest-json none "$W" "${bt[@]}" --from="$T_BT" --to="$BT_END" --step=1s --format=json
cli backtest-rfc3339-15s-text none "$W" "${bt[@]}" --from=2026-01-01T01:00:00Z \
    --to=2026-01-01T04:00:00Z --flap-window=10m
def=(backtest --config=rules/default.yaml --prometheus.url="$PROM_URL")
cli backtest-default-text none "$S" "${def[@]}" --from=$((T_DEF - 6 * 3600)) --to="$T_DEF"
cli backtest-default-json none "$S" "${def[@]}" --from=$((T_DEF - 6 * 3600)) --to="$T_DEF" \
    --format=json
cli backtest-too-many-points none "$W" "${bt[@]}" --from="$T_BT" --to="$BT_END" --step=1ms
cli backtest-from-after-to none "$W" "${bt[@]}" --from="$BT_END" --to="$T_BT"
cli backtest-bad-from none "$W" "${bt[@]}" --from=yesterday
cli backtest-bad-step none "$W" "${bt[@]}" --from="$T_BT" --to="$BT_END" --step=soon
cli backtest-no-config none "$W" backtest --from="$T_BT"
cli backtest-refused-query none "$W" backtest --config=backtest-refused.yaml \
    --prometheus.url="$PROM_URL" --from="$T_BT" --to="$BT_END" --step=1s
cli backtest-unreachable none "$W" backtest --config=backtest.yaml \
    --prometheus.url="http://127.0.0.1:$CLOSED" --from="$T_BT" --to="$BT_END"

rep=(report --config=rules/default.yaml --prometheus.url="$PIN_URL")
cli report-text text "$S" "${rep[@]}"
cli report-json json "$S" "${rep[@]}" --format=json
cli report-quick-text text "$S" "${rep[@]}" --quick
cli report-quick-json json "$S" "${rep[@]}" --quick --format=json
cli report-unreachable none "$S" report --config=rules/default.yaml \
    --prometheus.url="http://127.0.0.1:$CLOSED"
cli report-invalid-rules none "$W" report --config=report-invalid.yaml \
    --prometheus.url="$PIN_URL"
cli report-bad-format none "$S" report --config=rules/default.yaml --format=yaml
cli report-no-report-section text "$S" report --config=rules/example.yaml \
    --prometheus.url="$PIN_URL"

# ---- the daemon ----------------------------------------------------------------------------
# fetch NAME KIND METHOD PATH [CURL ARGS...]: one request to the daemon at CTL_URL: the
# status line, the headers and the body as they came, normalized as KIND, into
# HS_TMP/out/NAME.txt; compare_fetched compares what was fetched since it last ran.
FETCHED=()
declare -A REQUEST=()
fetch() {
    local name=$1 kind=$2 method=$3 path=$4 out=$HS_TMP/out/$1.txt
    shift 4
    local -a how=(-X "$method")
    [[ $method == HEAD ]] && how=(--head)
    curl -sS --max-time 30 -i "${how[@]}" "$@" "$CTL_URL$path" >"$out" 2>&1 || true
    local -a extra
    mapfile -t extra < <(ports)
    helper normalize "http-$kind" "$out" "${extra[@]}"
    FETCHED+=("$name")
    REQUEST[$name]="$method $path"
}
compare_fetched() {
    local name
    for name in "${FETCHED[@]}"; do
        compare "$name" "${REQUEST[$name]}"
    done
    FETCHED=()
}

# start_daemon LOG DIR RULES ARGS...: the controller on 127.0.0.1:0, started in DIR (the
# rules by their relative path), with a new state directory; sets CTL_URL and CTL_PID,
# CTL_URL empty when it did not start.
start_daemon() {
    local log=$1 dir=$2 rules=$3
    shift 3
    rm -rf "$HS_TMP/state"
    # shellcheck disable=SC2016 # expanded by the inner shell
    spawn "$log" bash -c 'cd "$1" && shift && exec "$@"' _ "$dir" "$HOMEOSTAT_CONTROLLER" \
        --config="$rules" --prometheus.url="$PIN_URL" --web.listen-address=127.0.0.1:0 \
        --state.directory="$HS_TMP/state" "$@"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$log" "$CTL_PID")
    CTL_URL=${CTL_URL%/}
}

evaluations() {
    local s
    s=$(hcurl "$CTL_URL/api/v1/status" 2>/dev/null) || return 1
    jstr "$s" 'd["data"]["evaluations"]' 2>/dev/null
}
evaluated() { [[ $(evaluations) -ge 1 ]]; }

# The default rules: every read endpoint, between the first evaluation and the second
# (15 s later), so that the counts are those of one evaluation; when the second came
# first (a slow machine), the daemon is started again.
for attempt in 1 2 3; do
    start_daemon "$HS_TMP/daemon-default.$attempt.log" "$S" rules/default.yaml
    if [[ -z $CTL_URL ]]; then
        fail "the controller did not start with rules/default.yaml; its log:"
        sed 's/^/    /' "$HS_TMP/daemon-default.$attempt.log"
        finish
    fi
    wait_until 10 evaluated || true
    FETCHED=()
    fetch api-status json GET /api/v1/status
    fetch api-head-status-page none HEAD /
    fetch api-signals json GET /api/v1/signals
    fetch api-baselines json GET /api/v1/baselines
    fetch api-decisions json GET /api/v1/decisions
    fetch api-decisions-limit json GET '/api/v1/decisions?limit=256'
    fetch api-rules-default json GET /api/v1/rules
    fetch api-overrides json GET /api/v1/overrides
    fetch api-alerts json GET /api/v1/alerts
    fetch api-report json GET /api/v1/report
    fetch api-report-text text GET '/api/v1/report?format=text'
    fetch api-report-quick json GET '/api/v1/report?quick=1&format=json'
    fetch api-metrics metrics GET /metrics
    fetch api-metrics-openmetrics metrics GET /metrics \
        -H 'Accept: application/openmetrics-text; version=1.0.0'
    fetch api-healthy none GET /-/healthy
    fetch api-ready none GET /-/ready
    fetch api-status-page none GET /
    fetch api-not-found json GET /api/v1/nothing
    fetch api-method-not-allowed json DELETE /api/v1/status
    fetch api-actions-get json GET /api/v1/actions/scale
    fetch api-decisions-bad-limit json GET '/api/v1/decisions?limit=0'
    fetch api-report-bad-format json GET '/api/v1/report?format=xml'
    fetch api-pause-disabled json POST /api/v1/pause
    fetch api-reload-disabled json POST /-/reload
    after=$(evaluations)
    stop_process "$CTL_PID"
    CTL_URL=
    [[ $after == 1 ]] && break
    say "a second evaluation came before the replies were all read ($after); again"
done
check_eq "the replies are those of the first evaluation" 1 "$after"
compare_fetched

# GET /api/v1/rules of every other rules file (the rules as JSON, secrets redacted), with
# --dry-run so that nothing a state might start runs on this machine; a file the daemon
# does not start with gives its log and exit status instead. tests/fixtures/rules/full.yaml
# (every key) names a CA file that no machine has: once more without it.
rules_reply() { # NAME DIR RULES
    start_daemon "$HS_TMP/$1.log" "$2" "$3" --dry-run
    if [[ -n $CTL_URL ]]; then
        fetch "$1" json GET /api/v1/rules
        compare_fetched
        stop_process "$CTL_PID"
        CTL_URL=
    else
        await_process "$CTL_PID" 10
        { cat "$HS_TMP/$1.log"; echo "exit $HS_STATUS"; } >"$HS_TMP/out/$1.txt"
        local -a extra
        mapfile -t extra < <(ports)
        helper normalize none "$HS_TMP/out/$1.txt" "${extra[@]}"
        compare "$1" "the daemon with $3"
    fi
}
for f in rules/*.yaml demo/rules.yaml tests/fixtures/rules/*.yaml; do
    case $f in *_test.yaml | rules/default.yaml) continue ;; esac
    rules_reply "api-rules-$(echo "${f%.yaml}" | tr '/' '-')" "$S" "$f"
done
mkdir -p "$W/secrets"
echo golden-token >"$W/secrets/token"
grep -v '^  ca_file: ' "$S/tests/fixtures/rules/full.yaml" >"$W/full.yaml"
rules_reply api-rules-full-without-ca-file "$W" full.yaml

if [[ ${HOMEOSTAT_UPDATE_GOLDEN:-} == 1 ]]; then
    pass "wrote ${#NAMES[@]} golden files"
else
    check_eq "every golden file has its case" "${#NAMES[@]}" \
        "$(find "$GOLDEN" -name '*.txt' | wc -l)"
fi
finish

#!/usr/bin/env bash
# baselines_api: what a baseline learned, as GET /api/v1/baselines, the status, a target's
# detail and /metrics show it, through the real Prometheus. A plant (fakes/plant.py)
# exports a constant p95 (0.32 s), scraped every second; the controller evaluates every
# second with a baseline of min_samples 8 and a condition on it without a fallback:
#  - before the baseline is ready: the API says not ready (count < min_samples) and the
#    condition is unknown ("not ready" in the status' reasoning)
#  - once ready: the quantiles (0.5, 0.9, 0.95 of the condition, 0.99) within 2 % of 0.32,
#    the settings, learned and memory; /metrics says the same (quantile, samples, ready,
#    memory) and promtool check metrics accepts it
#  - a stop (SIGTERM) and a start on the same state directory keep the count
#  - with targets (by service, two series of 0.32 and 0.64 s): each target learns its own,
#    in GET /api/v1/baselines (sorted by key, targets_total), GET /api/v1/targets/ID, the
#    status' summary and the per-target metrics; a restart keeps them too
# About 40 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus promtool curl /usr/bin/python3
CONTROLLER=$HOMEOSTAT_CONTROLLER
if [[ ! -x $CONTROLLER ]]; then
    fail "controller binary '$CONTROLLER' is missing"
    finish
fi

# ---- the plants: one series (0.005 x 64 = 0.32), and services a and b (0.32, 0.64) ----
PLANT=$HOMEOSTAT_SOURCE_DIR/tests/integration/fakes/plant.py
printf '{"slope": 0.005, "down": false}\n' >"$HS_TMP/plant.json"
printf '{"a": {"slope": 0.005}, "b": {"slope": 0.01}}\n' >"$HS_TMP/plants.json"
PLANT_PORT=$(free_port)
spawn "$HS_TMP/plant.log" /usr/bin/python3 "$PLANT" --port "$PLANT_PORT" \
    --control "$HS_TMP/plant.json"
[[ -n $(wait_listening "$HS_TMP/plant.log" "$HS_PID") ]] || {
    fail "the plant did not start"
    finish
}
PLANTS_PORT=$(free_port)
spawn "$HS_TMP/plants.log" /usr/bin/python3 "$PLANT" --port "$PLANTS_PORT" \
    --control "$HS_TMP/plants.json" --services a,b
[[ -n $(wait_listening "$HS_TMP/plants.log" "$HS_PID") ]] || {
    fail "the plant with services did not start"
    finish
}

cat >"$HS_TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: plant
    static_configs: [{targets: ['127.0.0.1:$PLANT_PORT']}]
  - job_name: plants
    static_configs: [{targets: ['127.0.0.1:$PLANTS_PORT']}]
EOF
start_prometheus "$HS_TMP/prometheus.yml" || finish
check "Prometheus has the plants' series" wait_until 20 prom_has \
    'plant_p95_seconds{job="plant"} and on() count(plant_p95_seconds{job="plants"}) == 2'

# write_rules FILE JOB [TARGETS]: a baseline of min_samples 8 that degraded's condition
# uses without a fallback.
write_rules() {
    cat >"$1" <<EOF
evaluation_interval: 1s
prometheus: {url: '$PROM_URL'}
signals:
  p95:
    query: 'plant_p95_seconds{job="$2"}'
    max_age: 10s
    baseline: {learn_in: [optimal], window: 1h, min_samples: 8}
states:
  - {name: degraded, conditions: ['p95 > 2 * baseline(p95, q=0.95)']}
  - {name: optimal}
${3:-}
EOF
}

start_controller() { # NAME RULES STATE_DIR
    CTL_LOG=$HS_TMP/controller.$1.log
    spawn "$CTL_LOG" "$CONTROLLER" --config="$2" --web.listen-address=127.0.0.1:0 \
        --state.directory="$3"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$CTL_LOG" "$CTL_PID")
    CTL_URL=${CTL_URL%/}
    if [[ -z $CTL_URL ]]; then
        fail "the controller ($1) did not log 'listening on' within 10 s; its log:"
        sed 's/^/    /' "$CTL_LOG"
        finish
    fi
}

get() { # NAME PATH: the reply's body into HS_TMP/NAME.json
    http_get "$HS_TMP/$1.json" "$CTL_URL$2" >/dev/null
}
# jq_ FILE_NAME EXPR: a Python expression over d (the reply) of HS_TMP/NAME.json
jq_() { jget "$HS_TMP/$1.json" "$2"; }
evaluations() {
    get status /api/v1/status && jq_ status 'd["data"]["evaluations"]'
}
# shellcheck disable=SC2317 # called through wait_until
evaluated() { [[ $(evaluations) -ge ${1:-1} ]]; }
# within 2 % of the value: "ok" or what it is
near() { # VALUE WANT
    /usr/bin/python3 -c 'import sys
v, w = sys.argv[1], float(sys.argv[2])
try:
    ok = abs(float(v) - w) <= 0.02 * w
except ValueError:
    ok = False
print("ok" if ok else v)' "$1" "$2"
}

# ---- without targets -----------------------------------------------------------------------
RULES=$HS_TMP/rules.yaml
write_rules "$RULES" plant
check "check accepts the rules" "$CONTROLLER" check "$RULES"
STATE=$HS_TMP/state
mkdir -p "$STATE"
start_controller 1 "$RULES" "$STATE"

# The first evaluation: the status (with its baselines) as one snapshot.
check "the first evaluation" wait_until 10 evaluated
S='d["data"]["baselines"]["signals"][0]'
say "first status: reasoning $(jq_ status 'd["data"]["reasoning"]'), baseline $(jq_ status "$S")"
check_eq "before ready: the status' baseline is not ready" false "$(jq_ status "${S}['ready']")"
check_eq "before ready: its count is below min_samples" true \
    "$(jq_ status "${S}['count'] < ${S}['min_samples'] == 8")"
check_eq "before ready: the condition is unknown (reasoning says 'not ready')" true \
    "$(jq_ status '"not ready" in d["data"]["reasoning"]')"
get bl0 /api/v1/baselines
check_eq "GET /api/v1/baselines answers success" success "$(jq_ bl0 'd["status"]')"
check_eq "GET /api/v1/baselines: not ready yet (count below 8)" true \
    "$(jq_ bl0 '(lambda b: not b["ready"] and b["count"] < 8)(d["data"]["signals"][0])')"

# shellcheck disable=SC2317
ready() {
    get bl /api/v1/baselines && [[ $(jq_ bl 'd["data"]["signals"][0]["ready"]') == true ]]
}
check "the baseline becomes ready (8 values learned)" wait_until 30 ready
B='d["data"]["signals"][0]'
say "GET /api/v1/baselines: $(jq_ bl 'd["data"]')"
check_eq "the settings" 'p95 optimal 3600 none 8' \
    "$(jq_ bl "(lambda b: '%s %s %d %s %d' % (b['signal'], ','.join(b['learn_in']),
        b['window_seconds'], b['seasonality'], b['min_samples']))(${B})")"
check_eq "the slot (seasonality none)" all "$(jq_ bl "${B}['slot']")"
check_eq "the count is min_samples or more, and learned as many or more" true \
    "$(jq_ bl "${B}['count'] >= 8 and ${B}['learned'] >= ${B}['count']")"
check_eq "the quantiles: 0.5, 0.9, 0.95 (the condition's), 0.99" '["0.5", "0.9", "0.95", "0.99"]' \
    "$(jq_ bl "sorted(${B}['quantiles'])")"
for q in 0.5 0.9 0.95 0.99; do
    check_eq "quantile $q is within 2 % of 0.32" ok \
        "$(near "$(jq_ bl "${B}['quantiles']['$q']")" 0.32)"
done
check_eq "last_learned is a time" true "$(jq_ bl "${B}['last_learned'].endswith('Z')")"
check_eq "memory_bytes: the signal's above 0, in all at least as much" true \
    "$(jq_ bl "0 < ${B}['memory_bytes'] <= d['data']['memory_bytes']")"
# shellcheck disable=SC2317
condition_known() {
    get status /api/v1/status &&
        [[ $(jq_ status '"not ready" in d["data"]["reasoning"]') == false ]]
}
check "once ready the condition is known (no 'not ready' in the reasoning)" \
    wait_until 5 condition_known
check_eq "the state is optimal (0.32 is not over 2 x 0.32)" optimal \
    "$(jq_ status 'd["data"]["state"]')"

M=$HS_TMP/metrics.txt
mv_() { metric_value "$(cat "$M")" "$1"; } # the value of series $1 in the metrics read
curl -s "$CTL_URL/metrics" >"$M"
q95=$(mv_ 'homeostat_controller_baseline_quantile{signal="p95",q="0.95"}')
check_eq "metrics: the 0.95 quantile within 2 % of 0.32" ok "$(near "$q95" 0.32)"
for q in 0.5 0.9 0.99; do
    check "metrics: the $q quantile" grep -q \
        "^homeostat_controller_baseline_quantile{signal=\"p95\",q=\"$q\"} " "$M"
done
samples=$(mv_ 'homeostat_controller_baseline_samples{signal="p95"}')
check_eq "metrics: samples is min_samples or more" True \
    "$(/usr/bin/python3 -c "print(${samples:-0} >= 8)")"
check_eq "metrics: ready is 1" 1 "$(mv_ 'homeostat_controller_baseline_ready{signal="p95"}')"
mem=$(mv_ homeostat_controller_baseline_memory_bytes)
check_eq "metrics: memory_bytes above 0" True "$(/usr/bin/python3 -c "print(${mem:-0} > 0)")"
check "metrics: no per-target baseline family without targets" \
    bash -c "! grep -q '^homeostat_controller_target_baseline' '$M'"
check "promtool check metrics accepts /metrics" promtool check metrics <"$M"

# ---- a stop and a start on the same state directory: the count is kept ----
get before /api/v1/baselines
count_before=$(jq_ before "${B}['count']")
stop_process "$CTL_PID"
check_eq "the controller stops cleanly" 0 "$HS_STATUS"
start_controller 2 "$RULES" "$STATE"
get after /api/v1/baselines
say "after the restart: $(jq_ after "$B")"
check_eq "after a restart the count is kept ($count_before or more)" true \
    "$(jq_ after "${B}['count'] >= $count_before > 0")"
check_eq "after a restart it is ready at once" true "$(jq_ after "${B}['ready']")"
stop_process "$CTL_PID"

# ---- with targets: each target's baseline is its own ---------------------------------------
TRULES=$HS_TMP/targets.yaml
write_rules "$TRULES" plants 'targets: {by: [service]}'
check "check accepts the rules with targets" "$CONTROLLER" check "$TRULES"
TSTATE=$HS_TMP/tstate
mkdir -p "$TSTATE"
start_controller t1 "$TRULES" "$TSTATE"
# shellcheck disable=SC2317
both_ready() {
    get tbl /api/v1/baselines &&
        [[ $(jq_ tbl '[t["ready"] for t in d["data"]["signals"][0]["targets"]]') == \
            '[true, true]' ]]
}
check "both targets' baselines become ready" wait_until 30 both_ready
T='d["data"]["signals"][0]'
say "GET /api/v1/baselines with targets: $(jq_ tbl 'd["data"]')"
check_eq "targets_total 2, targets_ready 2" "2 2" \
    "$(jq_ tbl "'%d %d' % (${T}['targets_total'], ${T}['targets_ready'])")"
check_eq "the targets by key, with their labels" '["a", "b"]' \
    "$(jq_ tbl "[t['target']['service'] for t in ${T}['targets']]")"
check_eq "target a's 0.95 quantile within 2 % of 0.32" ok \
    "$(near "$(jq_ tbl "${T}['targets'][0]['quantiles']['0.95']")" 0.32)"
check_eq "target b's 0.95 quantile within 2 % of 0.64" ok \
    "$(near "$(jq_ tbl "${T}['targets'][1]['quantiles']['0.95']")" 0.64)"
check_eq "memory in all: at least the two targets'" true \
    "$(jq_ tbl "d['data']['memory_bytes'] >= sum(t['memory_bytes'] for t in ${T}['targets']) > 0")"
ID_B=$(jq_ tbl "${T}['targets'][1]['id']")
get detail "/api/v1/targets/$ID_B"
D="d['data']['baselines'][0]"
check_eq "GET /api/v1/targets/ID has that target's baseline (0.64)" "p95 True ok" \
    "$(jq_ detail "'%s %s' % (${D}['signal'], ${D}['ready'])") $(near \
        "$(jq_ detail "${D}['quantiles']['0.95']")" 0.64)"
get tstatus /api/v1/status
check_eq "the status has the summary (2 ready), not each target" "2 False" \
    "$(jq_ tstatus "(lambda b: '%d %s' % (b['targets_ready'], 'targets' in b))(
        d['data']['baselines']['signals'][0])")"

curl -s "$CTL_URL/metrics" >"$M"
qa=$(mv_ 'homeostat_controller_target_baseline_quantile{service="a",signal="p95",q="0.95"}')
qb=$(mv_ 'homeostat_controller_target_baseline_quantile{service="b",signal="p95",q="0.95"}')
check_eq "metrics: target a's 0.95 quantile within 2 % of 0.32" ok "$(near "$qa" 0.32)"
check_eq "metrics: target b's 0.95 quantile within 2 % of 0.64" ok "$(near "$qb" 0.64)"
check_eq "metrics: both targets ready" "1 1" \
    "$(mv_ 'homeostat_controller_target_baseline_ready{service="a",signal="p95"}') $(mv_ \
        'homeostat_controller_target_baseline_ready{service="b",signal="p95"}')"
check "metrics: each target's samples" grep -q \
    '^homeostat_controller_target_baseline_samples{service="b",signal="p95"} ' "$M"
check "metrics: no controller baseline family with targets" \
    bash -c "! grep -q '^homeostat_controller_baseline_quantile' '$M'"
check "promtool check metrics accepts /metrics with targets" promtool check metrics <"$M"

get tbefore /api/v1/baselines
counts_before=$(jq_ tbefore "[t['count'] for t in ${T}['targets']]")
stop_process "$CTL_PID"
check_eq "the controller with targets stops cleanly" 0 "$HS_STATUS"
start_controller t2 "$TRULES" "$TSTATE"
get tafter /api/v1/baselines
check_eq "after a restart each target's count is kept ($counts_before or more)" true \
    "$(jq_ tafter "(len(${T}['targets']) == 2 and
        all(t['count'] >= b > 0 for t, b in zip(${T}['targets'], $counts_before)))")"
stop_process "$CTL_PID"
check_eq "it stops cleanly" 0 "$HS_STATUS"
finish

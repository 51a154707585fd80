#!/usr/bin/env bash
# dashboards_prometheus: every query of the Grafana dashboards in dashboards/ runs against
# the real Prometheus (Debian's 2.42, 1 s scrape and rule evaluation, the recording rules of
# alerts/homeostat-recording.yml loaded) and returns series. Prometheus scrapes:
#  - homeostat-exporter with every collector, the GPU one on the fake NVML library, fed
#    application metrics over StatsD by dashboards_statsd.py (latency, success/failure,
#    cache hit/miss/size, breaker states and transitions);
#  - a second exporter on the fixture trees of tests/fixtures: the cgroup units (a unit with
#    a quota, a memory limit, throttling and memory events, which this machine may lack),
#    and disks, pressure, network interfaces or filesystems when the live exporter has none;
#  - homeostat-controller, with rules written here that have a target per exporter, go
#    critical at once and run an exec action (/bin/true, reverted by /bin/true), so targets,
#    decisions, actions and actions in effect exist, and a signal whose query is invalid,
#    so query errors exist; a regulator per target (aimd, applied by /bin/true) whose
#    signal stays above its setpoint, so each target's output and changes exist;
#  - a second homeostat-controller in the same job, without targets, whose gradient
#    regulator halves its output toward the setpoint (the controller's own output, signal
#    and setpoint gauges exist only without targets).
# dashboards_check.py checks each dashboard's structure, resolves its variables through the
# label values API, and runs every panel target ($__rate_interval=1m, $__interval=15s,
# $__range=5m); one check per panel target. Also: generate.py --check (the committed JSON is
# what the generator writes), promtool check/test rules on the recording rules. About 30 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus promtool curl /usr/bin/python3

SRC=$HOMEOSTAT_SOURCE_DIR
FIX=$HOMEOSTAT_FIXTURES
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2317 # called through check
quiet() { "$@" >/dev/null 2>&1; }
# Run from the repository root, as the alerts test does; rule_files are relative to the file.
# shellcheck disable=SC2317 # called through check
recording_test() { (cd "$SRC" && promtool test rules alerts/tests/recording_test.yml) >/dev/null 2>&1; }

# ---- static checks ----------------------------------------------------------------------

check "dashboards/generate.py --check: the committed JSON is what the generator writes" \
    /usr/bin/python3 "$SRC/dashboards/generate.py" --check
for f in "$SRC"/dashboards/homeostat-{host,application,controller}.json; do
    check "$(basename "$f") is valid JSON" quiet /usr/bin/python3 -m json.tool "$f"
done
check "promtool check rules alerts/homeostat-recording.yml" \
    quiet promtool check rules "$SRC/alerts/homeostat-recording.yml"
check "promtool test rules alerts/tests/recording_test.yml" recording_test

if [[ ! -x $HOMEOSTAT_CONTROLLER ]]; then
    fail "controller binary '$HOMEOSTAT_CONTROLLER' is missing"
    finish
fi

# ---- the live exporter, GPU through the fake NVML -----------------------------------------

args=(--sampler.interval=50ms)
if [[ -n ${HOMEOSTAT_FAKE_NVML:-} && -e $HOMEOSTAT_FAKE_NVML ]]; then
    printf '%s\n' count=2 gpu0.util_seq=20,80 gpu0.mem_used=1073741824 \
        gpu0.mem_total=17179869184 gpu0.temp=61 gpu0.power_mw=312000 \
        gpu0.power_limit_mw=400000 gpu1.util=5 gpu1.mem_used=0 gpu1.mem_total=8589934592 \
        gpu1.temp=40 gpu1.power_mw=30000 gpu1.power_limit_mw=250000 >"$HS_TMP/nvml.script"
    export HOMEOSTAT_FAKE_NVML_SCRIPT=$HS_TMP/nvml.script
    args+=(--collector.gpu_nvml --collector.gpu.nvml-library="$HOMEOSTAT_FAKE_NVML")
else
    fail "the fake NVML library is not built (HOMEOSTAT_FAKE_NVML='${HOMEOSTAT_FAKE_NVML:-}'): no GPU data"
fi
start_exporter "${args[@]}" || finish
LIVE_ADDR=$EXPORTER_ADDR
LIVE_URL=$EXPORTER_URL
STATSD_ADDR=$EXPORTER_STATSD_ADDR
check "the exporter listens for StatsD over UDP ($STATSD_ADDR)" test -n "$STATSD_ADDR"

# ---- the fixture exporter -----------------------------------------------------------------

http_get "$HS_TMP/live.prom" "$LIVE_URL" >/dev/null
# has FAMILY: the live exporter exposes at least one sample of FAMILY.
has() { grep -q "^$1[{ ]" "$HS_TMP/live.prom"; }
fix_args=(--collector.disable-defaults --collector.self --sampler.interval=0
    --statsd.listen-udp= --collector.cgroup --collector.cgroup.root="$FIX/cgroup")
added=(cgroup)
has homeostat_disk_reads_completed_total || { fix_args+=(--collector.diskstats); added+=(diskstats); }
has homeostat_pressure_cpu_stalled_seconds_total || { fix_args+=(--collector.pressure); added+=(pressure); }
has homeostat_network_receive_bytes_total || { fix_args+=(--collector.netdev); added+=(netdev); }
# The fixture procfs, with a mount table naming the real root (statvfs needs a real path).
cp -r "$FIX/proc" "$HS_TMP/procfs"
mkdir -p "$HS_TMP/procfs/1"
printf '/dev/fixture0 / ext4 rw,relatime 0 0\n' >"$HS_TMP/procfs/1/mounts"
has homeostat_filesystem_size_bytes || { fix_args+=(--collector.filesystem); added+=(filesystem); }
start_exporter "${fix_args[@]}" --path.procfs="$HS_TMP/procfs" || finish
FIX_ADDR=$EXPORTER_ADDR
say "fixture exporter at $FIX_ADDR for: ${added[*]}"

# ---- application metrics over StatsD --------------------------------------------------------

spawn "$HS_TMP/statsd.log" /usr/bin/python3 "$HERE/dashboards_statsd.py" "$STATSD_ADDR"
check "the StatsD sender runs" wait_until 5 grep -q '^sending to' "$HS_TMP/statsd.log"

# ---- the controller and Prometheus --------------------------------------------------------

CTL_PORT=$(free_port)
# One target per exporter (targets.by: [instance]): the controller's per-target metrics,
# which the Targets row shows, exist only with targets.
cat >"$HS_TMP/rules.yaml" <<EOF
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9/", timeout: 1s}   # --prometheus.url overrides it
targets: {by: [instance]}
signals:
  scraped:            # each exporter is up: one series each
    query: max by (instance) (up{job="homeostat-exporter"})
    max_age: 30s
  missing:            # not a valid query: a "query" error at every evaluation
    query: sum(rate(app_requests_total{service="no-such-service"}))
states:
  - name: critical
    severity: critical
    conditions: ["scraped > 0.5"]
    for: 1s
  - name: degraded
    conditions: ["missing > 0"]
  - name: optimal
on_missing_data: hold
limits: {max_actions_per_hour: 100, max_targets_acting: 0}
decisions:
  critical:
    cooldown: 1h
    revert_on_exit: true
    actions:
      - exec: {argv: [/bin/true, '{{ \$labels.instance }}'], revert: [/bin/true]}
regulators:
  pool:               # up is 1, above the setpoint: each target's output steps down
    signal: scraped
    setpoint: 0.5
    output: {min: 1, max: 50, start: 50, integer: true}
    increases_signal: true
    law: aimd
    settle: 1s
    actions:
      - exec: [/bin/true, '{{ \$labels.instance }}', '{{output}}']
EOF
check "the test's rules file passes homeostat-controller check" \
    quiet "$HOMEOSTAT_CONTROLLER" check "$HS_TMP/rules.yaml"
# The second controller: a regulator without targets (2 exporters up, setpoint 1).
CTL2_PORT=$(free_port)
cat >"$HS_TMP/rules2.yaml" <<'EOF'
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9/", timeout: 1s}
signals:
  exporters: {query: 'sum(up{job="homeostat-exporter"})', max_age: 30s}
states:
  - {name: degraded, conditions: ["exporters > 5"]}
  - {name: optimal}
regulators:
  workers:
    signal: exporters
    setpoint: 1
    output: {min: 1, max: 64, start: 64, integer: true}
    increases_signal: true
    law: gradient
    max_step: {down: 50%}
    settle: 1s
    actions:
      - exec: [/bin/true, '{{output}}']
EOF
check "the second controller's rules file passes homeostat-controller check" \
    quiet "$HOMEOSTAT_CONTROLLER" check "$HS_TMP/rules2.yaml"

cat >"$HS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $SRC/alerts/homeostat-recording.yml
scrape_configs:
  - job_name: homeostat-exporter
    static_configs:
      - targets: ['$LIVE_ADDR', '$FIX_ADDR']
  - job_name: homeostat-controller
    static_configs:
      - targets: ['127.0.0.1:$CTL_PORT', '127.0.0.1:$CTL2_PORT']
EOF
start_prometheus "$HS_TMP/prometheus.yml" || finish

CTL_LOG=$HS_TMP/controller.log
spawn "$CTL_LOG" "$HOMEOSTAT_CONTROLLER" --config="$HS_TMP/rules.yaml" \
    --state.directory="$HS_TMP/state" --audit.log="$HS_TMP/state/audit.jsonl" \
    --web.listen-address="127.0.0.1:$CTL_PORT" --prometheus.url="$PROM_URL"
if ! wait_until 10 grep -q 'listening on http://' "$CTL_LOG"; then
    fail "the controller did not start; its log:"
    sed 's/^/    /' "$CTL_LOG"
    finish
fi
pass "the controller listens on 127.0.0.1:$CTL_PORT"
CTL2_LOG=$HS_TMP/controller2.log
spawn "$CTL2_LOG" "$HOMEOSTAT_CONTROLLER" --config="$HS_TMP/rules2.yaml" \
    --state.directory="$HS_TMP/state2" --audit.log="$HS_TMP/state2/audit.jsonl" \
    --web.listen-address="127.0.0.1:$CTL2_PORT" --prometheus.url="$PROM_URL"
if ! wait_until 10 grep -q 'listening on http://' "$CTL2_LOG"; then
    fail "the second controller did not start; its log:"
    sed 's/^/    /' "$CTL2_LOG"
    finish
fi
pass "the second controller listens on 127.0.0.1:$CTL2_PORT"

# num_ge EXPR VALUE: the query's first sample is at least VALUE.
# shellcheck disable=SC2317 # called through wait_until
num_ge() {
    local v
    v=$(prom_values "$1" 2>/dev/null | head -n1)
    [[ -n $v ]] && /usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$v" "$2"
}
check "Prometheus scrapes both exporters" wait_until 15 num_ge 'sum(up{job="homeostat-exporter"})' 2
check "... and the two controllers" wait_until 10 num_ge 'sum(up{job="homeostat-controller"})' 2
check "the controller goes critical" \
    wait_until 15 num_ge 'max(homeostat_controller_state{job="homeostat-controller",state="critical"})' 1
check "... and runs its exec action (decisions_total{result=\"executed\"} seen by Prometheus)" \
    wait_until 10 num_ge 'sum(homeostat_controller_decisions_total{action="exec",result="executed"})' 1
check "... which stays in effect, for each of the two targets" \
    wait_until 5 num_ge 'max(homeostat_controller_actions_in_effect{job="homeostat-controller"})' 2
check "the two targets are critical" \
    wait_until 5 num_ge 'max(homeostat_controller_targets{job="homeostat-controller",state="critical"})' 2
check "each target's regulator steps its output down (changes seen by Prometheus)" \
    wait_until 15 num_ge 'sum(homeostat_controller_regulator_changes_total{regulator="pool",direction="down",result="applied"})' 2
check "the second controller's regulator does too (its output below 64)" \
    wait_until 15 num_ge '64 - homeostat_controller_regulator_output{regulator="workers"}' 1
check "the application metrics arrive" \
    wait_until 10 num_ge 'sum(app_request_duration_seconds_count{job="homeostat-exporter"})' 1
check "the recording rules run (service:app_request_duration_seconds:p95_5m)" \
    wait_until 10 prom_has 'service:app_request_duration_seconds:p95_5m'

# ---- every dashboard query ----------------------------------------------------------------

counts=
while IFS= read -r line; do
    case $line in
    PASS\ *) pass "${line#PASS }" ;;
    FAIL\ *) fail "${line#FAIL }" ;;
    COUNT\ *) counts=${line#COUNT } ;;
    *) say "$line" ;;
    esac
done < <(/usr/bin/python3 "$HERE/dashboards_check.py" "$PROM_URL" 30 "$SRC" \
    "$SRC/dashboards/homeostat-host.json=homeostat-exporter" \
    "$SRC/dashboards/homeostat-application.json=homeostat-exporter" \
    "$SRC/dashboards/homeostat-controller.json=homeostat-controller" 2>&1)
read -r n_dash n_panels n_queries n_vars <<<"${counts:-0 0 0 0}"
check "dashboards_check.py checked 3 dashboards ($n_panels panels, $n_queries queries, $n_vars variables)" \
    test "$n_dash" -eq 3 -a "$n_panels" -gt 0 -a "$n_queries" -ge "$n_panels"

finish

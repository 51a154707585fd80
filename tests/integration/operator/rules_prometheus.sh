#!/usr/bin/env bash
# rules_prometheus: every signal query of every rules file in rules/ (the default rules
# and the examples) runs against the real Prometheus that has scraped the real exporter,
# with application metrics for the service "shop" sent over StatsD: each must parse and
# return exactly one finite value, as the controller needs. The unit tests of the same
# files (rules/*_test.yaml) test the states and decisions; this tests that the queries
# mean something to Prometheus and match the metric names the exporter publishes.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl /usr/bin/python3

# "/" is counted whatever its filesystem (overlay in containers is excluded by default).
# The services under system.slice come from a cgroup v2 tree in the fixtures (this machine
# has no systemd as PID 1): host-services.yaml's targets.
start_exporter --collector.filesystem.fs-types-exclude='^(proc|sysfs|tmpfs|devtmpfs)$' \
    --collector.cgroup.root="$HOMEOSTAT_SOURCE_DIR/tests/fixtures/cgroup"

# The shop's requests, cache and breaker, as an instrumented service sends them.
cat >"$HS_TMP/send.py" <<'EOF'
import random, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# Every service tags its metrics with its namespace and deployment, as in
# kubernetes-namespace.yaml (one family has one set of label names).
def tagged(d, lines):
    return [l + "|#namespace:shop,deployment:" + d for l in lines]
while True:
    lines = tagged("shop", ["shop.request.duration:%d|ms" % random.randint(5, 400)
                            for _ in range(20)])
    lines += tagged("shop", ["shop.request.success:19|c", "shop.request.failure:1|c",
                             "shop.cache.pages.hit:8|c", "shop.cache.pages.miss:2|c"])
    # two more deployments of the namespace, without failures
    for d in ("cart", "web"):
        lines += tagged(d, ["%s.request.duration:%d|ms" % (d, random.randint(5, 400))
                            for _ in range(5)] + ["%s.request.success:10|c" % d])
    s.sendto("\n".join(lines).encode(), (host, int(port)))
    time.sleep(0.2)
EOF
spawn "$HS_TMP/send.log" /usr/bin/python3 "$HS_TMP/send.py" "$EXPORTER_STATSD_ADDR"

# kube-state-metrics' count of the shop's available replicas, which
# regulator-replicas.yaml divides the request rate by: a static page in its format.
mkdir -p "$HS_TMP/ksm/-"
: >"$HS_TMP/ksm/-/ready"
cat >"$HS_TMP/ksm/metrics.txt" <<'EOF'
# HELP kube_deployment_status_replicas_available The number of available replicas per deployment.
# TYPE kube_deployment_status_replicas_available gauge
kube_deployment_status_replicas_available{namespace="shop",deployment="shop"} 3
EOF
hs_start_ready kube-state-metrics /usr/bin/python3 -m http.server --bind 127.0.0.1 \
    --directory "$HS_TMP/ksm" @PORT@ || finish
KSM_ADDR=${HS_READY_URL#http://}
cat >"$HS_TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: homeostat-exporter
    static_configs: [{targets: ["$EXPORTER_ADDR"]}]
  - job_name: kube-state-metrics
    metrics_path: /metrics.txt
    static_configs: [{targets: ["$KSM_ADDR"]}]
EOF
start_prometheus "$HS_TMP/prometheus.yml"

# Enough history for every query: rates over [1m] and [5m] need two samples, and the
# CPU forecast's subquery ([15m:15s]) two aligned steps with a rate behind each.
cpu_forecast='predict_linear((sum(rate(homeostat_cpu_busy_ratio_sum[1m])) / sum(rate(homeostat_cpu_busy_ratio_count[1m])))[15m:15s], 600)'
check "Prometheus has the shop's latency histogram" \
    wait_until 30 prom_has 'rate(app_request_duration_seconds_bucket{service="shop"}[1m]) > 0'
check "Prometheus has two aligned subquery steps for the CPU forecast" \
    wait_until 60 prom_has "$cpu_forecast"
check "Prometheus has the shop's available replicas (kube-state-metrics)" \
    wait_until 30 prom_has 'kube_deployment_status_replicas_available{deployment="shop"}'

rules=()
for f in "$HOMEOSTAT_SOURCE_DIR"/rules/*.yaml; do
    [[ $f == *_test.yaml ]] || rules+=("$f")
done
check "there are rules files to check (${#rules[@]})" test "${#rules[@]}" -ge 5

out=$(/usr/bin/python3 "$HOMEOSTAT_SOURCE_DIR/tests/integration/operator/rules_signals.py" \
    "$PROM_URL" "${rules[@]}")
while IFS= read -r line; do
    case $line in
    PASS\ *) pass "${line#PASS }" ;;
    FAIL\ *) fail "${line#FAIL }" ;;
    *) fail "unexpected output: $line" ;;
    esac
done <<<"$out"
# Every signal and report item of every file was judged (a file the script failed to read
# prints nothing).
expected=$(/usr/bin/python3 -c 'import sys, yaml
n = 0
for f in sys.argv[1:]:
    r = yaml.safe_load(open(f)) or {}
    rep = r.get("report") or {}
    n += len(r.get("signals") or {}) + len(rep.get("checks") or []) + len(rep.get("optimizations") or [])
print(n)' "${rules[@]}")
check_eq "one result per signal and report item" "$expected" \
    "$(grep -c '^\(PASS\|FAIL\) ' <<<"$out")"
# The report's checks of what this host and the shop always have return a series for each
# thing they judge: the exporter's host, its filesystem "/", the shop and its cache.
for item in cpu_busy memory_used filesystem_space filesystem_inodes app_error_ratio \
    app_cache_hit_ratio targets_down collectors_failing disk_latency network_errors; do
    check "default.yaml report $item returns series" \
        grep -q "^PASS default.yaml report $item: parses, [1-9][0-9]* series" <<<"$out"
done

# The examples with targets: each per-target signal names every target it should.
check "host-services.yaml unit_cpus has a series for the fixture's service" \
    grep -q '^PASS host-services.yaml unit_cpus: parses, one series per target, 1 targets (a.service)' <<<"$out"
check "host-services.yaml cpu_busy is one shared series" \
    grep -q '^PASS host-services.yaml cpu_busy: parses, one series' <<<"$out"
for sig in p95_latency_seconds error_ratio; do
    check "kubernetes-namespace.yaml $sig has a series for each deployment" \
        grep -q "^PASS kubernetes-namespace.yaml $sig: parses, one series per target, 3 targets (shop/cart shop/shop shop/web)" <<<"$out"
done

# The controller's own report over the same Prometheus: every check and optimization of
# default.yaml answered (none "failed"), and the shop's 5 % failures are an issue.
CONTROLLER=${HOMEOSTAT_CONTROLLER:-$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}
rc=0
"$CONTROLLER" report --config="$HOMEOSTAT_SOURCE_DIR/rules/default.yaml" \
    --prometheus.url="$PROM_URL" --format=json >"$HS_TMP/report.json" 2>&1 || rc=$?
check_eq "homeostat-controller report with default.yaml exits 0" 0 "$rc"
check_eq "... no report query failed" "" \
    "$(jget "$HS_TMP/report.json" '" ".join("%s: %s" % (c["name"], c["reason"])
    for c in d["checks"] if c["status"] == "failed")')"
check_eq "... the shop's failures are a warning issue" "app_error_ratio warning shop" \
    "$(jget "$HS_TMP/report.json" '" ".join("%s %s %s" % (i["check"], i["severity"],
    i["labels"].get("service")) for i in d["issues"] if i["component"] == "application")')"

# The queries are judged against the rules' own expectations too: the shop's error ratio
# is 1 failure in 20 requests, so error_ratio in default.yaml reads 0.05.
check_eq "default.yaml error_ratio reads the shop's 5% failures" 0.05 "$(
    grep -o '^PASS default.yaml error_ratio: .*value [0-9.]*' <<<"$out" | awk '{ printf "%.2f", $NF }'
)"
finish

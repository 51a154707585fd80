#!/usr/bin/env bash
# promql_prometheus: the controller's PromQL client (controller/clients/promql.c) against the real
# Prometheus (Debian's 2.42) scraping the real exporter every second. Runs the unit test
# real_prometheus_queries of test-promql with HOMEOSTAT_PROMETHEUS_URL set: a CPU busy ratio
# in 0..1, memory with the query's timestamp, a syntax error (bad_data), an empty result,
# several series, scalars, NaN, -Inf, a range vector and a string. About 10 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl /usr/bin/python3

test_bin=$HOMEOSTAT_BUILD_DIR/tests/test-promql
if [[ ! -x $test_bin ]]; then
    fail "the unit test binary '$test_bin' is missing (build the test-promql target)"
    finish
fi

start_exporter
cat >"$HS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: homeostat
    static_configs:
      - targets: ['$EXPORTER_ADDR']
EOF
start_prometheus "$HS_TMP/prometheus.yml"
pass "prometheus is ready at $PROM_URL"

# shellcheck disable=SC2317 # called through wait_until
up_is_one() { [[ $(prom_values 'up{job="homeostat"}' 2>/dev/null) == 1 ]]; }
if wait_until 20 up_is_one; then
    pass "Prometheus scrapes the exporter (up == 1)"
else
    fail "up{job=\"homeostat\"} is not 1 after 20 s: $(prom_query 'up' | head -c 400)"
    finish
fi
# rate() over 30s needs two scrapes.
busy='1 - avg(rate(homeostat_cpu_seconds_total{mode="idle"}[30s]))'
if wait_until 10 prom_has "$busy"; then
    pass "the CPU busy ratio has a value: $(prom_values "$busy")"
else
    fail "$busy stays empty: $(prom_query "$busy" | head -c 400)"
fi

# The client against the real server, with a trailing slash on the base URL.
out=$HS_TMP/test-promql.out
rc=0
HOMEOSTAT_PROMETHEUS_URL=$PROM_URL/ "$test_bin" real_prometheus_queries >"$out" 2>&1 || rc=$?
sed 's/^/    /' "$out"
check_eq "test-promql real_prometheus_queries exits 0" 0 "$rc"
check_eq "... and ran its one test" "1 passed, 0 failed" "$(tail -n1 "$out")"

# Without the URL the test is not run and not counted as passed.
rc=0
skipped=$(env -u HOMEOSTAT_PROMETHEUS_URL "$test_bin" real_prometheus_queries 2>&1) || rc=$?
check_eq "without HOMEOSTAT_PROMETHEUS_URL the test is not counted as passed" \
    "0 passed, 0 failed" "$(tail -n1 <<<"$skipped")"
check_eq "... and the run fails (nothing ran)" 1 "$rc"

finish

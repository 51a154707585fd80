#!/usr/bin/env bash
# prometheus_scrape: the real Prometheus (Debian's 2.42) scrapes the exporter every second;
# PromQL over the HTTP API sees the contract metrics, the sampled histograms give sane
# quantiles, a CPU burst shorter than the scrape interval shows up in the samples above
# 0.5, and the fake NVML GPU's readings arrive. About 25 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl /usr/bin/python3

# num_test EXPR OP VALUE: a float comparison (OP one of > >= < <= ==) of the query's
# first sample; false on an empty result.
# shellcheck disable=SC2317 # called through wait_until
num_test() {
    local v
    v=$(prom_values "$1" 2>/dev/null | head -n1)
    [[ -n $v ]] && /usr/bin/python3 -c "import sys; v = float(sys.argv[1]); sys.exit(0 if v $2 float(sys.argv[2]) else 1)" "$v" "$3"
}

# expect EXPR OP VALUE MESSAGE [SECONDS]: wait up to SECONDS (default 10) for the
# comparison to hold; one check.
expect() {
    local expr=$1 op=$2 want=$3 msg=$4 secs=${5:-10}
    if wait_until "$secs" num_test "$expr" "$op" "$want"; then
        pass "$msg: $expr = $(prom_values "$expr" | head -n1)"
    else
        fail "$msg: $expr $op $want does not hold after ${secs} s; got: $(prom_query "$expr" | head -c 400)"
    fi
}

gpu=0
exporter_args=(--sampler.interval=50ms)
if [[ -n ${HOMEOSTAT_FAKE_NVML:-} && -e $HOMEOSTAT_FAKE_NVML ]]; then
    gpu=1
    printf '%s\n' count=1 gpu0.util_seq=20,80 gpu0.mem_used=1073741824 \
        gpu0.mem_total=17179869184 gpu0.temp=61 gpu0.power_mw=312000 >"$HS_TMP/nvml.script"
    export HOMEOSTAT_FAKE_NVML_SCRIPT=$HS_TMP/nvml.script
    exporter_args+=(--collector.gpu_nvml --collector.gpu.nvml-library="$HOMEOSTAT_FAKE_NVML")
elif [[ -e $HOMEOSTAT_SOURCE_DIR/tests/fake-nvml/fake_nvml.c ]]; then
    fail "tests/fake-nvml/fake_nvml.c exists but the library is not built (HOMEOSTAT_FAKE_NVML='${HOMEOSTAT_FAKE_NVML:-}')"
else
    say "no fake NVML library in this tree; the GPU checks are left out"
fi

start_exporter "${exporter_args[@]}"

cat >"$HS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: homeostat
    metrics_path: /metrics
    static_configs:
      - targets: ['$EXPORTER_ADDR']
EOF
start_prometheus "$HS_TMP/prometheus.yml"
pass "prometheus is ready at $PROM_URL"

expect 'up{job="homeostat"}' == 1 "Prometheus scrapes the exporter" 20

if wait_until 10 prom_has 'rate(homeostat_cpu_seconds_total[5s])'; then
    pass "rate(homeostat_cpu_seconds_total[5s]) has $(prom_values 'rate(homeostat_cpu_seconds_total[5s])' | wc -l) series"
else
    fail "rate(homeostat_cpu_seconds_total[5s]) stays empty: $(prom_query 'rate(homeostat_cpu_seconds_total[5s])' | head -c 400)"
fi
expect 'homeostat_memory_total_bytes' '>' 0 "memory total"
expect 'homeostat_memory_available_bytes' '>' 0 "memory available"
expect 'homeostat_memory_available_bytes <= homeostat_memory_total_bytes' '>' 0 \
    "available memory is at most the total"
expect 'homeostat_load1' '>=' 0 "load1"
expect 'scrape_samples_scraped{job="homeostat"}' '>' 50 "samples per scrape"

q99='histogram_quantile(0.99, rate(homeostat_cpu_busy_ratio_bucket[10s]))'
expect "$q99" '>=' 0 "the p99 CPU busy ratio is a number"
expect "$q99" '<=' 1 "the p99 CPU busy ratio is at most 1"

# The sampled histograms keep counting: two readings a few scrapes apart.
c1=$(prom_values 'homeostat_memory_used_ratio_count' | head -n1)
if wait_until 6 num_test 'homeostat_memory_used_ratio_count' '>' "${c1:-0}"; then
    pass "homeostat_memory_used_ratio_count increases ($c1 -> $(prom_values 'homeostat_memory_used_ratio_count'))"
else
    fail "homeostat_memory_used_ratio_count does not increase (stays ${c1:-absent})"
fi
# 20 samples per 1 s scrape at 50ms (10 would mean the default 100ms was used; a loaded
# machine may make the sampler skip a few ticks).
expect 'idelta(homeostat_memory_used_ratio_count[3s])' '>=' 13 \
    "the sampler runs every 50ms between two 1 s scrapes"

# A CPU burst shorter than the scrape interval: every CPU busy for 0.35 s, once.
ncpu=$(nproc)
((ncpu > 64)) && ncpu=64
burst=()
for ((i = 0; i < ncpu; i++)); do
    spawn "$HS_TMP/burst.$i.log" /usr/bin/python3 -c '
import time
end = time.monotonic() + 0.35
while time.monotonic() < end:
    pass'
    burst+=("$HS_PID")
done
for p in "${burst[@]}"; do
    await_process "$p" 5
done
say "ran a 0.35 s busy loop on $ncpu CPUs"
sleep 2.5 # two more scrapes carry the burst's samples into Prometheus
above='sum(increase(homeostat_cpu_busy_ratio_bucket{le="+Inf"}[8s])) - sum(increase(homeostat_cpu_busy_ratio_bucket{le="0.5"}[8s]))'
expect "$above" '>' 0 "samples above 0.5 busy were seen during the sub-scrape-interval burst" 5

if ((gpu)); then
    expect 'homeostat_gpu_busy_ratio_count{gpu="0"}' '>' 0 "the fake GPU's busy ratio is sampled"
    expect 'homeostat_gpu_temperature_celsius{gpu="0"}' == 61 "the fake GPU's scripted temperature"
    expect 'homeostat_gpu_power_watts{gpu="0"}' == 312 "the fake GPU's scripted power"
    expect 'homeostat_gpu_memory_used_bytes{gpu="0"}' == 1073741824 \
        "the fake GPU's scripted memory in use"
    expect 'histogram_quantile(1, rate(homeostat_gpu_busy_ratio_bucket{gpu="0"}[5s]))' '>=' 0.7 \
        "the fake GPU's 80 % utilisation reaches the histogram"
    expect 'homeostat_collector_success{collector="gpu_nvml"}' == 1 "the GPU collector succeeds"
fi

expect 'sum(homeostat_collector_success{collector=~"cpu|memory|loadavg"})' == 3 \
    "the cpu, memory and loadavg collectors succeed"

finish

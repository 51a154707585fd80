#!/usr/bin/python3
"""report_history.py NOW: the history of report_prometheus.sh and victoriametrics_history.sh,
as OpenMetrics on standard output (timestamps in seconds, for promtool tsdb
create-blocks-from openmetrics): two hosts like node_exporter targets from 7 hours before
NOW to 15 minutes after it, every 30 s. node-a with its CPU 95 % busy, "/" 97 % full and
filling (0.5 GiB an hour less), node-b at 10 % CPU and 25 % memory (rightsizing); the shop
with 5 % of its requests failing, its cache at 80 % hits, its breaker closed; no GPU, no
latency histogram, no cgroups. The issues rules/default.yaml finds in it are checked in
report_prometheus.sh.
"""
import sys
now = int(sys.argv[1])
start, end, step = now - 7 * 3600, now + 15 * 60, 30
GiB = 1024 ** 3
times = range(start, end + 1, step)
out = []

def family(name, kind, series):
    """series: [(labels, fn(t) -> value)], every sample of one series before the next."""
    out.append("# TYPE %s %s" % (name, kind))
    for labels, fn in series:
        for t in times:
            out.append("%s{%s} %r %d" % (labels[0], labels[1], float(fn(t)), t))

def counter(rate):
    return lambda t: rate * (t - start)

A = 'instance="node-a:9100",job="node"'
B = 'instance="node-b:9100",job="node"'
# CPU busy ratio histogram: 10 observations a second, summing to 95 % and 10 %.
family("homeostat_cpu_busy_ratio", "histogram", [
    (("homeostat_cpu_busy_ratio_bucket", A + ',le="+Inf"'), counter(10)),
    (("homeostat_cpu_busy_ratio_sum", A), counter(9.5)),
    (("homeostat_cpu_busy_ratio_count", A), counter(10)),
    (("homeostat_cpu_busy_ratio_bucket", B + ',le="+Inf"'), counter(10)),
    (("homeostat_cpu_busy_ratio_sum", B), counter(1.0)),
    (("homeostat_cpu_busy_ratio_count", B), counter(10)),
])
for name, a, b in [("homeostat_memory_total_bytes", 16 * GiB, 16 * GiB),
                   ("homeostat_memory_available_bytes", 8 * GiB, 12 * GiB),
                   ("homeostat_memory_swap_total_bytes", 0, 0),
                   ("homeostat_memory_swap_free_bytes", 0, 0)]:
    family(name, "gauge", [((name, A), lambda t, v=a: v), ((name, B), lambda t, v=b: v)])
for name, a in [("homeostat_pressure_cpu_waiting_seconds", 0.1),
                ("homeostat_pressure_memory_stalled_seconds", 0.0),
                ("homeostat_pressure_io_stalled_seconds", 0.01)]:
    family(name, "counter", [((name + "_total", A), counter(a)),
                             ((name + "_total", B), counter(0))])
D = A + ',device="sda"'
for name, rate in [("homeostat_disk_io_time_seconds", 0.2),
                   ("homeostat_disk_read_time_seconds", 0.5),
                   ("homeostat_disk_write_time_seconds", 0.5),
                   ("homeostat_disk_reads_completed", 100),
                   ("homeostat_disk_writes_completed", 100)]:
    family(name, "counter", [((name + "_total", D), counter(rate))])
ROOT = A + ',device="/dev/sda1",fstype="ext4",mountpoint="/"'
DATA = A + ',device="/dev/sdb1",fstype="xfs",mountpoint="/data"'
BROOT = B + ',device="/dev/vda1",fstype="ext4",mountpoint="/"'
fs = {
    "homeostat_filesystem_size_bytes": (100 * GiB, 1024 * GiB, 100 * GiB),
    # "/" of node-a: 3 GiB free now, 0.5 GiB an hour less (6 GiB 6 hours ago)
    "homeostat_filesystem_avail_bytes": (lambda t: 3 * GiB + (now - t) * GiB / 7200,
                                         512 * GiB, 80 * GiB),
    "homeostat_filesystem_files": (1e6, 1e7, 1e6),
    "homeostat_filesystem_files_free": (9e5, 9e6, 9e5),
    "homeostat_filesystem_readonly": (0, 0, 0),
    "homeostat_filesystem_device_error": (0, 0, 0),
}
for name, values in fs.items():
    family(name, "gauge", [((name, labels), v if callable(v) else (lambda t, v=v: v))
                           for labels, v in zip((ROOT, DATA, BROOT), values)])
N = A + ',device="eth0"'
for name, rate in [("receive_packets", 1000), ("transmit_packets", 1000), ("receive_errs", 0),
                   ("transmit_errs", 0), ("receive_drop", 0), ("transmit_drop", 0)]:
    family("homeostat_network_" + name, "counter",
           [(("homeostat_network_%s_total" % name, N), counter(rate))])
family("homeostat_collector_success", "gauge",
       [(("homeostat_collector_success", A + ',collector="cpu"'), lambda t: 1)])
family("up", "gauge", [(("up", A), lambda t: 1), (("up", B), lambda t: 1)])
S = 'job="apps",service="shop"'
family("app_requests", "counter", [
    (("app_requests_total", S + ',result="success"'), counter(19)),
    (("app_requests_total", S + ',result="failure"'), counter(1)),
])
family("app_cache_requests", "counter", [
    (("app_cache_requests_total", S + ',cache="pages",result="hit"'), counter(8)),
    (("app_cache_requests_total", S + ',cache="pages",result="miss"'), counter(2)),
])
family("app_breaker_state", "gauge", [
    (("app_breaker_state", S + ',breaker="payments",state="%s"' % st), lambda t, v=v: v)
    for st, v in (("closed", 1), ("open", 0), ("half_open", 0))])
out.append("# EOF")
print("\n".join(out))

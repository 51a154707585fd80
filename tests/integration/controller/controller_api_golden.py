#!/usr/bin/python3
"""controller_api_golden.py: the data and the filter of controller_api_golden.sh.

  history END FILE   writes, as OpenMetrics for promtool tsdb create-blocks-from, what two
                     hosts and a shop export, every 30 s from END - 7 h to END + 15 min
                     (END in epoch seconds): node-a with its CPU 95 % busy, "/" 97 % full
                     and 95 % of its inodes used, its gpu collector failing; node-b at
                     10 % CPU and 25 % memory; node-c down; the shop with 5 % of its
                     requests failing. Every rate is constant and every gauge flat, so
                     that an instant query gives the same result at any time from END to
                     END + 15 min (to the last digit, with pin-time).
  pin-time PORT UPSTREAM
                     serves 127.0.0.1:PORT and passes every request on to UPSTREAM (the
                     real Prometheus) as it is, except that the time= of an instant query
                     moves up to the next whole second (at most 1 s later): the controller
                     asks at the millisecond it happens to evaluate, and Prometheus'
                     extrapolation of rate() over the samples in the window then comes out
                     a few units apart in the 16th or 17th digit from one millisecond to
                     the next (0.49999999999999994 or 0.50000000000000011 for 0.5), which
                     the API prints. Moved up, not down: a sample is never older than its
                     evaluation, so that its age and freshness stay those of Prometheus
                     itself (a sample from the future is 0 s old for the controller).
  normalize KIND FILE [LITERAL REPLACEMENT]...
                     rewrites FILE in place: what truly changes from one run to the next
                     (see NORMALIZE) is replaced by TIME, N or DATE, and each LITERAL (a
                     URL with a port of this run) by its REPLACEMENT; nothing else.
"""
import http.client
import http.server
import math
import re
import sys
import urllib.parse

GIB = 1024 ** 3


def history(end, path):
    start, stop, step = end - 7 * 3600, end + 15 * 60, 30
    # Half a second off the whole seconds at which instant queries are evaluated (see
    # pin_time): a window then always holds the same number of samples, and its ends
    # are whole and half seconds, which Prometheus' extrapolation adds up exactly.
    times = [start + 0.5 + k * step for k in range((stop - start) // step + 1)]
    out = []

    def family(name, kind, series):
        """series: [(name, labels, fn(t) -> value)], one series after the other."""
        out.append("# TYPE %s %s" % (name, kind))
        for sname, labels, fn in series:
            for t in times:
                out.append("%s{%s} %r %.1f" % (sname, labels, float(fn(t)), t))

    def counter(rate):
        return lambda t: rate * (t - start)

    def const(v):
        return lambda t: v

    a = 'instance="node-a:9100",job="node"'
    b = 'instance="node-b:9100",job="node"'
    # The CPU busy ratio histogram: 10 observations a second summing to 95 % and 10 %.
    family("homeostat_cpu_busy_ratio", "histogram", [
        ("homeostat_cpu_busy_ratio_bucket", a + ',le="+Inf"', counter(10)),
        ("homeostat_cpu_busy_ratio_sum", a, counter(9.5)),
        ("homeostat_cpu_busy_ratio_count", a, counter(10)),
        ("homeostat_cpu_busy_ratio_bucket", b + ',le="+Inf"', counter(10)),
        ("homeostat_cpu_busy_ratio_sum", b, counter(1.0)),
        ("homeostat_cpu_busy_ratio_count", b, counter(10)),
    ])
    for name, va, vb in [("homeostat_memory_total_bytes", 16 * GIB, 16 * GIB),
                         ("homeostat_memory_available_bytes", 8 * GIB, 12 * GIB),
                         ("homeostat_memory_swap_total_bytes", 0, 0),
                         ("homeostat_memory_swap_free_bytes", 0, 0)]:
        family(name, "gauge", [(name, a, const(va)), (name, b, const(vb))])
    for name, rate in [("homeostat_pressure_cpu_waiting_seconds", 0.125),
                       ("homeostat_pressure_memory_stalled_seconds", 0.0),
                       ("homeostat_pressure_io_stalled_seconds", 0.0625)]:
        family(name, "counter", [(name + "_total", a, counter(rate)),
                                 (name + "_total", b, counter(0))])
    d = a + ',device="sda"'
    for name, rate in [("homeostat_disk_io_time_seconds", 0.5),
                       ("homeostat_disk_read_time_seconds", 0.5),
                       ("homeostat_disk_write_time_seconds", 0.5),
                       ("homeostat_disk_reads_completed", 100),
                       ("homeostat_disk_writes_completed", 100)]:
        family(name, "counter", [(name + "_total", d, counter(rate))])
    root = a + ',device="/dev/sda1",fstype="ext4",mountpoint="/"'
    data = a + ',device="/dev/sdb1",fstype="xfs",mountpoint="/data"'
    broot = b + ',device="/dev/vda1",fstype="ext4",mountpoint="/"'
    fs = {
        "homeostat_filesystem_size_bytes": (100 * GIB, 1024 * GIB, 100 * GIB),
        "homeostat_filesystem_avail_bytes": (3 * GIB, 512 * GIB, 80 * GIB),
        "homeostat_filesystem_files": (1e6, 1e7, 1e6),
        "homeostat_filesystem_files_free": (5e4, 9e6, 9e5),
        "homeostat_filesystem_readonly": (0, 0, 0),
        "homeostat_filesystem_device_error": (0, 0, 0),
    }
    for name, values in fs.items():
        family(name, "gauge", [(name, labels, const(v))
                               for labels, v in zip((root, data, broot), values)])
    n = a + ',device="eth0"'
    for name, rate in [("receive_packets", 1000), ("transmit_packets", 1000),
                       ("receive_errs", 0), ("transmit_errs", 0), ("receive_drop", 0),
                       ("transmit_drop", 0)]:
        family("homeostat_network_" + name, "counter",
               [("homeostat_network_%s_total" % name, n, counter(rate))])
    family("homeostat_collector_success", "gauge",
           [("homeostat_collector_success", a + ',collector="cpu"', const(1)),
            ("homeostat_collector_success", a + ',collector="gpu"', const(0))])
    family("up", "gauge", [("up", a, const(1)), ("up", b, const(1)),
                           ("up", 'instance="node-c:9100",job="node"', const(0))])
    s = 'job="apps",service="shop"'
    family("app_requests", "counter", [
        ("app_requests_total", s + ',result="success"', counter(19)),
        ("app_requests_total", s + ',result="failure"', counter(1)),
    ])
    family("app_cache_requests", "counter", [
        ("app_cache_requests_total", s + ',cache="pages",result="hit"', counter(8)),
        ("app_cache_requests_total", s + ',cache="pages",result="miss"', counter(2)),
    ])
    family("app_breaker_state", "gauge", [
        ("app_breaker_state", s + ',breaker="payments",state="%s"' % st, const(v))
        for st, v in (("closed", 1), ("open", 0), ("half_open", 0))])
    out.append("# EOF")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def pin_time(port, upstream):
    up = urllib.parse.urlsplit(upstream)
    time_param = re.compile(r'(^|&)time=([0-9.]+)')

    def pin(form):
        return time_param.sub(lambda m: "%stime=%d" % (m.group(1), math.ceil(float(m.group(2)))),
                              form)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and Expect: 100-continue, as curl likes

        def forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path
            if path.startswith("/api/v1/query?"):
                path, _, qs = path.partition("?")
                path += "?" + pin(qs)
            elif path == "/api/v1/query" and body:
                body = pin(body.decode("ascii")).encode("ascii")
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length", "expect", "connection")}
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            try:
                conn.request(self.command, path, body=body if body else None, headers=headers)
                r = conn.getresponse()
                data = r.read()
            finally:
                conn.close()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding",
                                     "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = forward

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("listening on http://127.0.0.1:%d/" % port, flush=True)
    server.serve_forever()


TIME = r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"'
NUM = r'-?\d+(\.\d+)?(e[-+]?\d+)?'
# What is replaced, by KIND of output: fields whose value is a clock reading or a measured
# duration, which differ between two runs of the same build; never a result.
NORMALIZE = {
    "none": [],
    # JSON (the report's, the API's): when the controller evaluated, when its state began
    # and when its samples were taken (now), how old they are and how long the queries
    # took (measured).
    "json": [
        (r'"(since|last_evaluation|sample_time|generated_at)":( ?)' + TIME, r'"\1":\2"TIME"'),
        (r'"(timestamp|age_seconds|query_duration_seconds)":( ?)' + NUM, r'"\1":\2N'),
    ],
    # The report's text: when it was made, and since when the daemon is in its state.
    "text": [
        (r'^(homeostat health report, )\S+$', r'\1TIME'),
        (r'^(Controller: state \S+ since )\S+', r'\1TIME'),
    ],
    # /metrics: the timestamps, and what the measured durations of the evaluation, its
    # queries and the state file's saves fill: the histograms' finite buckets and their
    # sums (how many, _count and the +Inf bucket, stays).
    "metrics": [
        (r'^(\w+_timestamp_seconds) \S+$', r'\1 N'),
        (r'^(homeostat_controller_(evaluation|query|state_file_write)_duration_seconds_bucket'
         r'\{le="[0-9.e+-]+"\}) \S+$', r'\1 N'),
        (r'^(homeostat_controller_(evaluation|query|state_file_write)_duration_seconds_sum) \S+$',
         r'\1 N'),
    ],
}
# http-KIND: a reply as curl -i writes it: the body as KIND, and in the headers the Date,
# and the Content-Length of a body in which something was replaced (its length follows
# that of the field, or of the port).
HTTP_DATE = (r'^Date: .*\r$', 'Date: DATE\r')
HTTP_LENGTH = (r'^Content-Length: \d+\r$', 'Content-Length: N\r')


def sub_all(rules, text):
    for pattern, repl in rules:
        text = re.sub(pattern, repl, text, flags=re.M)
    return text


def normalize(kind, path, literals=()):
    """Applies the patterns of kind, then replaces each (literal, replacement) of literals."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()

    def rewrite(text, rules):
        text = sub_all(rules, text)
        for literal, repl in literals:
            text = text.replace(literal, repl)
        return text

    if kind.startswith("http-"):
        head, sep, body = text.partition("\r\n\r\n")
        new_body = rewrite(body, NORMALIZE[kind[5:]])
        head = rewrite(head + "\r", [HTTP_DATE] + ([HTTP_LENGTH] if new_body != body else []))
        text = head[:-1] + sep + new_body
    else:
        text = rewrite(text, NORMALIZE[kind])
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


if __name__ == "__main__":
    if sys.argv[1] == "history":
        history(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "pin-time":
        pin_time(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "normalize":
        pairs = sys.argv[4:]
        normalize(sys.argv[2], sys.argv[3], list(zip(pairs[0::2], pairs[1::2])))
    else:
        sys.exit("usage: controller_api_golden.py history END FILE | pin-time PORT UPSTREAM |"
                 " normalize KIND FILE [LITERAL REPLACEMENT]...")

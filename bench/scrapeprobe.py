#!/usr/bin/python3
"""scrapeprobe: sequential scrapes of one URL, the way Prometheus makes them, timed.

Makes N GETs one after the other, with Prometheus' Accept and Accept-Encoding: gzip
headers, on one kept-alive connection (as Prometheus does; --fresh opens a new
connection for each), reads each body whole and writes one latency per line, in
milliseconds, to --out. A scrape that fails (no answer in --timeout, a status other than
200, a connection error) is written as "error" and the connection is opened again.
Prints one summary line: "n=500 errors=0 p50=1.234 p99=2.345 max=3.456" (ms).

Usage: bench/scrapeprobe.py URL --count 500 --out FILE [--fresh] [--timeout 10]
"""
import argparse
import http.client
import sys
import time
import urllib.parse

ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil(q * n / 100)
    return sorted_values[min(rank, len(sorted_values)) - 1]


def main(argv):
    p = argparse.ArgumentParser(description="time sequential scrapes")
    p.add_argument("url")
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--out", required=True)
    p.add_argument("--fresh", action="store_true", help="a new connection for each scrape")
    p.add_argument("--timeout", type=float, default=10.0)
    a = p.parse_args(argv)
    u = urllib.parse.urlsplit(a.url)
    if u.scheme != "http" or not u.hostname or not u.port:
        p.error("URL: expected http://HOST:PORT/PATH, got %r" % a.url)
    path = (u.path or "/") + ("?" + u.query if u.query else "")
    headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip", "User-Agent": "scrapeprobe",
               "X-Prometheus-Scrape-Timeout-Seconds": str(a.timeout)}
    conn = None
    lat, errors = [], 0
    with open(a.out, "w") as out:
        for _ in range(a.count):
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
                keep = not resp.will_close
            except (OSError, http.client.HTTPException):
                ok, keep = False, False
            ms = (time.perf_counter() - t0) * 1000.0
            if ok:
                lat.append(ms)
                out.write("%.3f\n" % ms)
            else:
                errors += 1
                out.write("error\n")
            if a.fresh or not keep:
                conn.close()
                conn = None
    if conn is not None:
        conn.close()
    lat.sort()
    print("n=%d errors=%d p50=%.3f p99=%.3f max=%.3f" % (
        len(lat), errors, percentile(lat, 50), percentile(lat, 99), lat[-1] if lat else
        float("nan")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

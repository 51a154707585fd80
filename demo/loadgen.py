#!/usr/bin/python3
"""loadgen.py: open-loop HTTP load generator for the homeostat demo (stdlib only).

    /usr/bin/python3 demo/loadgen.py --url http://127.0.0.1:18080 \
        --phases calm:20s:40,spike:40s:300,slowdown:30s:300:backend=0.12,recovery:30s:40:backend=0.04 \
        [--ids 5000] [--zipf 1.0] [--report FILE.json] [--timeline FILE.jsonl] \
        [--admin-token-file FILE] [--interval 5s] [--workers 64] [--timeout 10s]

Each phase NAME:DURATION:RATE sends RATE requests per second for DURATION, whatever
the answers are (open loop: a slow server does not slow the generator down, as with real
users). A phase may end with :backend=SECONDS: when it starts, the generator sets the
application's backend latency to SECONDS (POST /admin/backend {"latency_seconds": S}
with the bearer token of --admin-token-file), a capacity drop or its end at an exact
moment of the scenario; a failed request is an error (exit status 1). Requests are GET /api/items/<id>, the id drawn from 1..--ids with a Zipf-like
distribution (exponent --zipf) so that a cache in front of the backend helps. They are
sent by a pool of --workers threads, each with its own keep-alive connection; a request
that is due while every worker is busy is not sent and is counted "not_sent". A request
that fails on a keep-alive connection that had served before, with no byte of an answer
(the server closed the idle connection), is sent once more on a new connection and
counted "retried"; any other failure is an error at once.

Every --interval it prints one line: the phase, requests sent in the interval, answers
by status code ("err" for a connection error or timeout), the answers shed by the
application (429, or 503 "concurrency limit reached"), and the p50/p95/p99 latency in
milliseconds of the answers in the interval. At the end it prints (and writes to
--report, as JSON) a summary per phase. --timeline writes one JSON line per second of
the run: {"t": END_SECOND, "phase", "sent", "not_sent", "retried", "answered", "codes", "shed",
"p95_ms"} of the answers received in that second (t counts from the start of the first
phase), and {"t", "wall" (epoch seconds), "event": "phase", "name"} when a phase
starts. SIGINT or SIGTERM ends the run early, with the summary. The exit status is 0
unless the arguments are wrong (2) or a backend change failed (1).
"""

import argparse
import bisect
import http.client
import json
import math
import queue
import random
import re
import signal
import sys
import threading
import time
import urllib.parse

DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text):
    """'250ms', '20s', '2m', '1h' or a bare number of seconds -> seconds (float)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise ValueError("bad duration %r (use 250ms, 20s, 2m, 1h)" % text)
    return float(m.group(1)) * DURATION_UNITS[m.group(2) or "s"]


def parse_phases(text):
    phases = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) not in (3, 4) or not parts[0]:
            raise ValueError("bad phase %r (want NAME:DURATION:RATE[:backend=SECONDS])" % item)
        name, dur, rate = parts[:3]
        backend = None
        if len(parts) == 4:
            m = re.fullmatch(r"backend=([0-9]+(?:\.[0-9]*)?)", parts[3])
            if not m or float(m.group(1)) > 60:
                raise ValueError("bad %r in phase %r (want backend=SECONDS, 0..60)" % (parts[3], item))
            backend = float(m.group(1))
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError("bad phase name %r" % name)
        seconds = parse_duration(dur)
        try:
            rps = float(rate)
        except ValueError:
            raise ValueError("bad rate %r in phase %r" % (rate, item)) from None
        if seconds <= 0 or rps < 0 or rps > 100000:
            raise ValueError("phase %r: duration must be > 0 and rate 0..100000" % item)
        phases.append({"name": name, "seconds": seconds, "rate": rps, "backend": backend})
    return phases


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[k]


class Stats:
    """Counts and latencies, per phase (for the summary) and per interval (for lines)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.phases = {}
        self.window = self._empty()
        self.second = self._empty()

    @staticmethod
    def _empty():
        return {"sent": 0, "not_sent": 0, "retried": 0, "codes": {}, "shed": 0, "latencies": []}

    def phase(self, name):
        return self.phases.setdefault(name, self._empty())

    def sent(self, name):
        with self.lock:
            for bucket in (self.phase(name), self.window, self.second):
                bucket["sent"] += 1

    def not_sent(self, name):
        with self.lock:
            for bucket in (self.phase(name), self.window, self.second):
                bucket["not_sent"] += 1

    def retried(self, name):
        """A request sent once more after its keep-alive connection went stale."""
        with self.lock:
            for bucket in (self.phase(name), self.window, self.second):
                bucket["retried"] += 1

    def answered(self, name, code, seconds, shed):
        ms = seconds * 1000.0
        with self.lock:
            for bucket in (self.phase(name), self.window, self.second):
                bucket["codes"][code] = bucket["codes"].get(code, 0) + 1
                bucket["shed"] += shed
                bucket["latencies"].append(ms)

    def take_window(self):
        with self.lock:
            w, self.window = self.window, self._empty()
        return w

    def take_second(self):
        with self.lock:
            w, self.second = self.second, self._empty()
        return w


def summarize(b):
    lat = sorted(b["latencies"])
    out = {
        "sent": b["sent"],
        "not_sent": b["not_sent"],
        "retried": b["retried"],
        "answered": len(lat),
        "codes": dict(sorted(b["codes"].items())),
        "shed": b["shed"],
        "latency_ms": {
            "p50": percentile(lat, 0.50),
            "p95": percentile(lat, 0.95),
            "p99": percentile(lat, 0.99),
            "max": lat[-1] if lat else None,
            "mean": (sum(lat) / len(lat)) if lat else None,
        },
    }
    for k, v in out["latency_ms"].items():
        if v is not None:
            out["latency_ms"][k] = round(v, 2)
    return out


def fmt_ms(v):
    return "-" if v is None else "%.0f" % v


def line_for(phase, s):
    codes = " ".join("%s=%d" % (k, v) for k, v in s["codes"].items()) or "-"
    lat = s["latency_ms"]
    return "%-9s sent=%-5d not_sent=%-4d %s shed=%d  p50=%sms p95=%sms p99=%sms" % (
        phase,
        s["sent"],
        s["not_sent"],
        codes,
        s["shed"],
        fmt_ms(lat["p50"]),
        fmt_ms(lat["p95"]),
        fmt_ms(lat["p99"]),
    )


class NoAnswer(OSError):
    """A connection failed before any byte of an answer came."""


class Worker(threading.Thread):
    """Takes (phase, path) jobs; one keep-alive connection, reopened after an error.

    A server closes a keep-alive connection that stayed idle too long (the demo
    application after 30 s, which a worker of a large pool under a calm load can be): a
    request that fails on a connection that had served before, with no answer at all, is
    sent once more on a new connection, as HTTP clients do for an idempotent GET. Its
    latency counts from the first try."""

    def __init__(self, host, port, timeout, jobs, idle, stats):
        super().__init__(daemon=True)
        self.host, self.port, self.timeout = host, port, timeout
        self.jobs, self.idle, self.stats = jobs, idle, stats
        self.conn = None

    def fetch(self, path):
        """(status, body) of GET path; raises OSError or HTTPException, or NoAnswer when
        the connection failed before any byte of an answer came (the request may not
        have reached the server at all)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request("GET", path, headers={"Connection": "keep-alive"})
            resp = self.conn.getresponse()
        except http.client.RemoteDisconnected as e:  # closed before a status line
            raise NoAnswer(str(e)) from e
        except (ConnectionResetError, BrokenPipeError) as e:  # reset while sending or
            raise NoAnswer(str(e)) from e  # before the status line
        body = resp.read()  # an error from here on: an answer had begun, never resent
        if resp.will_close:
            self.conn.close()
            self.conn = None
        return resp.status, body

    def run(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            phase, path = job
            start = time.monotonic()
            code = "err"
            shed = False
            for attempt in (1, 2):
                # A connection that is still open has served an answer before: a new
                # one is opened for the first request and after every error.
                reused = self.conn is not None
                try:
                    status, body = self.fetch(path)
                except NoAnswer:
                    self.drop()
                    if reused and attempt == 1:
                        self.stats.retried(phase)
                        continue  # a stale keep-alive connection: once more on a new one
                    break
                except (OSError, http.client.HTTPException):
                    self.drop()
                    break
                code = str(status)
                # Shed by the application's limits, not failed: its 429, and the 503 of its
                # concurrency limit (the backend's and the breaker's 503s say otherwise).
                shed = status == 429 or (status == 503 and b"concurrency limit" in body)
                break
            self.stats.answered(phase, code, time.monotonic() - start, shed)
            self.idle.release()

    def drop(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def set_backend(u, prefix, token, seconds):
    """POST /admin/backend {"latency_seconds": seconds}: (ok, what happened)."""
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
    try:
        conn.request("POST", prefix + "/admin/backend",
                     body=json.dumps({"latency_seconds": seconds}),
                     headers={"Authorization": "Bearer " + token,
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read(4096).decode("utf-8", "replace").strip()
        return resp.status == 200, "%d %s" % (resp.status, body)
    except (OSError, http.client.HTTPException) as e:
        return False, "failed: %s" % e
    finally:
        conn.close()


def main(argv):
    ap = argparse.ArgumentParser(description="Open-loop load generator for the homeostat demo.")
    ap.add_argument("--url", required=True, help="base URL of the demo application")
    ap.add_argument("--phases", default="calm:20s:40,spike:40s:300,recovery:30s:40",
                    help="NAME:DURATION:RATE,... (default %(default)s)")
    ap.add_argument("--ids", type=int, default=5000, help="item ids 1..N (default 5000)")
    ap.add_argument("--zipf", type=float, default=1.0,
                    help="Zipf exponent of the id distribution (default 1.0; 0 is uniform)")
    ap.add_argument("--report", help="write the per-phase summary as JSON to this file")
    ap.add_argument("--timeline", help="write one JSON line per second to this file")
    ap.add_argument("--admin-token-file",
                    help="the application's admin token, for the phases' backend=SECONDS")
    ap.add_argument("--interval", default="5s", help="progress line every (default 5s)")
    ap.add_argument("--workers", type=int, default=64, help="concurrent requests at most (64)")
    ap.add_argument("--timeout", default="10s", help="per request (default 10s)")
    ap.add_argument("--seed", type=int, help="random seed (for repeatable id sequences)")
    args = ap.parse_args(argv)
    try:
        phases = parse_phases(args.phases)
        interval = parse_duration(args.interval)
        timeout = parse_duration(args.timeout)
        if interval <= 0 or timeout <= 0:
            raise ValueError("--interval and --timeout must be more than 0")
        if not 1 <= args.ids <= 999999999:
            raise ValueError("--ids must be 1..999999999")
        if not 1 <= args.workers <= 4096:
            raise ValueError("--workers must be 1..4096")
        u = urllib.parse.urlsplit(args.url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("--url must be http://HOST:PORT")
        token = None
        if any(p["backend"] is not None for p in phases):
            if not args.admin_token_file:
                raise ValueError("a phase's backend=SECONDS needs --admin-token-file")
            with open(args.admin_token_file, encoding="utf-8") as f:
                token = f.read(4096).strip()
            if not token:
                raise ValueError("%s is empty" % args.admin_token_file)
    except (ValueError, OSError) as e:
        print("loadgen: %s" % e, file=sys.stderr)
        return 2
    prefix = u.path.rstrip("/")

    rng = random.Random(args.seed)
    cum, total = [], 0.0
    for k in range(1, args.ids + 1):
        total += 1.0 / (k ** args.zipf)
        cum.append(total)

    stats = Stats()
    jobs = queue.SimpleQueue()
    idle = threading.Semaphore(args.workers)
    workers = [Worker(u.hostname, u.port or 80, timeout, jobs, idle, stats) for _ in range(args.workers)]
    for w in workers:
        w.start()

    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    print("loadgen: %s, phases %s, %d workers" % (
        args.url, ", ".join("%s %gs at %g/s%s" % (
            p["name"], p["seconds"], p["rate"],
            "" if p["backend"] is None else " (backend %gs)" % p["backend"]) for p in phases),
        args.workers), flush=True)

    timeline = open(args.timeline, "w", encoding="utf-8") if args.timeline else None
    t0 = time.monotonic()

    def event(record):
        if timeline:
            timeline.write(json.dumps(record) + "\n")
            timeline.flush()

    def second_line(t, phase):
        s = stats.take_second()
        lat = sorted(s["latencies"])
        event({"t": t, "phase": phase, "sent": s["sent"], "not_sent": s["not_sent"],
               "retried": s["retried"], "answered": len(lat), "codes": dict(sorted(s["codes"].items())),
               "shed": s["shed"], "p95_ms": None if not lat else round(percentile(lat, 0.95), 2)})

    failed = False
    next_line = t0 + interval
    next_second = 1
    for p in phases:
        if stop.is_set():
            break
        start = time.monotonic()
        end = start + p["seconds"]
        scheduled = 0
        stats.phase(p["name"])
        event({"t": round(start - t0, 3), "wall": round(time.time(), 3), "event": "phase",
               "name": p["name"], "rate": p["rate"], "backend_seconds": p["backend"]})
        if p["backend"] is not None:
            ok, why = set_backend(u, prefix, token, p["backend"])
            print("loadgen: phase %s: backend latency %gs: %s" % (p["name"], p["backend"], why),
                  flush=True)
            failed |= not ok
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_line:
                print(line_for(p["name"], summarize(stats.take_window())), flush=True)
                next_line += interval
                if next_line <= now:
                    next_line = now + interval
            while now - t0 >= next_second:
                second_line(next_second, p["name"])
                next_second += 1
            if now >= end:
                break
            due = int((now - start) * p["rate"])
            while scheduled < due:
                scheduled += 1
                if idle.acquire(blocking=False):
                    stats.sent(p["name"])
                    item = bisect.bisect_left(cum, rng.random() * total) + 1
                    jobs.put((p["name"], "%s/api/items/%d" % (prefix, min(item, args.ids))))
                else:
                    stats.not_sent(p["name"])
            # Sleep until the next request is due, the next line, second, or the phase's end.
            nxt = start + (scheduled + 1) / p["rate"] if p["rate"] > 0 else end
            stop.wait(max(0.0005, min(nxt, next_line, t0 + next_second, end) - time.monotonic()))

    # Wait (at most the request timeout) for the answers still in flight.
    deadline = time.monotonic() + (0.5 if stop.is_set() else timeout)
    while time.monotonic() < deadline:
        if idle.acquire(timeout=0.05):
            idle.release()
            with stats.lock:
                busy = sum(b["sent"] for b in stats.phases.values()) - sum(
                    len(b["latencies"]) for b in stats.phases.values())
            if busy <= 0:
                break
    if timeline:
        second_line(math.ceil(time.monotonic() - t0), "end")
        timeline.close()
    w = stats.take_window()
    if w["sent"] or w["codes"]:
        print(line_for(phases[-1]["name"] if not stop.is_set() else "end", summarize(w)), flush=True)

    report = {"url": args.url, "interrupted": stop.is_set(), "phases": []}
    for p in phases:
        if p["name"] not in stats.phases:
            continue
        s = summarize(stats.phases[p["name"]])
        s.update({"name": p["name"], "duration_seconds": p["seconds"], "rate": p["rate"],
                  "backend_seconds": p["backend"]})
        report["phases"].append(s)
        print("summary " + line_for(p["name"], s), flush=True)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    for _ in workers:
        jobs.put(None)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

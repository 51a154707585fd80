#!/usr/bin/python3
"""slowclients: holds many slow HTTP connections open against one server (slowloris).

Opens N TCP connections to HOST:PORT spread over M source addresses (127.0.0.2,
127.0.0.3, ... by default: all of 127/8 is loopback on Linux), sends on each the start of
a request and then one more header byte every INTERVAL seconds, never finishing the
headers. A connection the server closes is opened again (unless --no-reconnect). Every
REPORT seconds it prints one line of counts to stdout:

    open=998 connecting=2 connects=1204 refused=0 dropped=204 failed=0 elapsed=12.0

open: connected and not closed; refused: closed by the server within --refused-within
seconds of connecting (the per-IP limit answers that way); dropped: closed later (a
deadline or an idle timeout); failed: connect() errors. With --idle the connections
send nothing at all (to measure what an idle connection costs the server). Stops on SIGTERM/SIGINT or after
--duration, closing everything, and prints a last line prefixed "final".

Usage: bench/slowclients.py --target 127.0.0.1:9100 [--connections 1000] [--sources 50]
           [--source-base 127.0.0.2] [--interval 5] [--ramp 2000] [--duration 0]
           [--report 1] [--no-reconnect] [--idle] [--path /metrics]
"""
import argparse
import errno
import heapq
import ipaddress
import itertools
import os
import resource
import selectors
import signal
import socket
import sys
import time

SLOW_HEADER = b"X-Slow-Header: 1\r\n"


class Conn:
    __slots__ = ("sock", "src", "state", "t_connect", "timer", "pos")

    def __init__(self, src):
        self.sock = None
        self.src = src
        self.state = "idle"  # idle -> connecting -> open -> idle (closed)
        self.t_connect = 0.0
        self.timer = 0  # the sequence number of its pending timer; older ones are stale
        self.pos = 0


def parse_args(argv):
    p = argparse.ArgumentParser(description="hold slow HTTP connections open")
    p.add_argument("--target", required=True, help="HOST:PORT of the server")
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--sources", type=int, default=50, help="source addresses to spread over")
    p.add_argument("--source-base", default="127.0.0.2", help="first source address")
    p.add_argument("--interval", type=float, default=5.0,
                   help="seconds between two header bytes on one connection")
    p.add_argument("--ramp", type=float, default=2000.0, help="new connections per second")
    p.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until a signal")
    p.add_argument("--report", type=float, default=1.0, help="seconds between status lines")
    p.add_argument("--refused-within", type=float, default=1.0)
    p.add_argument("--no-reconnect", action="store_true")
    p.add_argument("--idle", action="store_true", help="send nothing on the connections")
    p.add_argument("--path", default="/metrics")
    a = p.parse_args(argv)
    host, sep, port = a.target.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        p.error("--target: expected HOST:PORT, got %r" % a.target)
    a.host, a.port = host.strip("[]"), int(port)
    if not 1 <= a.connections <= 100000:
        p.error("--connections: 1 to 100000")
    if not 1 <= a.sources <= 65536:
        p.error("--sources: 1 to 65536")
    if a.interval <= 0 or a.ramp <= 0 or a.report <= 0:
        p.error("--interval, --ramp and --report must be positive")
    try:
        base = ipaddress.IPv4Address(a.source_base)
    except ValueError as e:
        p.error("--source-base: %s" % e)
    a.source_list = [str(base + i) for i in range(a.sources)]
    return a


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < need:
        sys.stderr.write("slowclients: RLIMIT_NOFILE is %d, fewer than the %d needed\n"
                         % (soft, need))


def main(argv):
    a = parse_args(argv)
    raise_nofile(a.connections + 64)
    request_start = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: slowclients\r\n"
                     % (a.path, a.target)).encode()
    sel = selectors.DefaultSelector()
    conns = [Conn(a.source_list[i % len(a.source_list)]) for i in range(a.connections)]
    counts = dict(connects=0, refused=0, dropped=0, failed=0)
    stop = []
    # One pending timer per connection, in a heap: the next header byte when it is open,
    # the reconnection when it is closed. The loop does work per event, not per connection.
    timers, seq = [], itertools.count(1)

    def schedule(c, when):
        c.timer = next(seq)
        heapq.heappush(timers, (when, c.timer, c))

    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    def close(c, how):
        if c.sock is not None:
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
            c.sock = None
        if how:
            counts[how] += 1
        c.state = "idle"
        # Back off a little before opening it again; more after a refusal.
        if how and not a.no_reconnect:
            schedule(c, time.monotonic() + (0.5 if how in ("refused", "failed") else 0.05))
        else:
            c.timer = 0

    def start(c, now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((c.src, 0))
            rc = s.connect_ex((a.host, a.port))
        except OSError:
            rc = -1
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            counts["failed"] += 1
            if not a.no_reconnect:
                schedule(c, now + 0.5)
            return
        c.sock, c.state, c.t_connect, c.pos = s, "connecting", now, 0
        sel.register(s, selectors.EVENT_WRITE, c)

    def on_event(c, mask, now):
        if c.state == "connecting":
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                close(c, "failed")
                return
            try:
                if not a.idle:
                    c.sock.send(request_start)
            except OSError:
                close(c, "dropped")
                return
            counts["connects"] += 1
            c.state = "open"
            if a.idle:
                c.timer = 0
            else:
                schedule(c, now + a.interval)
            sel.modify(c.sock, selectors.EVENT_READ, c)
            return
        # Readable: the server answered (an error page) or closed; either way it is over.
        try:
            data = c.sock.recv(65536)
        except OSError:
            data = b""
        if data:
            return  # wait for the close that follows
        close(c, "refused" if now - c.t_connect < a.refused_within else "dropped")

    t0 = time.monotonic()
    next_report = t0 + a.report
    started = 0  # connections opened for the first time (the ramp)
    done = False

    def report(prefix=""):
        n_open = sum(1 for c in conns if c.state == "open")
        n_conn = sum(1 for c in conns if c.state == "connecting")
        sys.stdout.write("%sopen=%d connecting=%d connects=%d refused=%d dropped=%d failed=%d "
                         "elapsed=%.1f\n" % (prefix, n_open, n_conn, counts["connects"],
                                             counts["refused"], counts["dropped"],
                                             counts["failed"], time.monotonic() - t0))
        sys.stdout.flush()

    while not stop and not done:
        now = time.monotonic()
        # Ramp: open the first connections at --ramp per second.
        allowed = min(a.connections, int((now - t0) * a.ramp) + 1)
        while started < allowed:
            start(conns[started], now)
            started += 1
        while timers and timers[0][0] <= now:
            _, token, c = heapq.heappop(timers)
            if token != c.timer:
                continue  # stale: the connection changed state since
            c.timer = 0
            if c.state == "idle":
                start(c, now)
            elif c.state == "open":
                try:
                    c.sock.send(SLOW_HEADER[c.pos % len(SLOW_HEADER):][:1])
                    c.pos += 1
                    schedule(c, now + a.interval)
                except OSError:
                    close(c, "dropped")
        wait = 0.05 if started < a.connections else min(0.25, next_report - now)
        if timers:
            wait = min(wait, timers[0][0] - now)
        for key, mask in sel.select(timeout=max(0.0, wait)):
            on_event(key.data, mask, time.monotonic())
        now = time.monotonic()
        if now >= next_report:
            report()
            next_report += a.report
        if a.duration and now - t0 >= a.duration:
            done = True
    report("final ")
    for c in conns:
        close(c, None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

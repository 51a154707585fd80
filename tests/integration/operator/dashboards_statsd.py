#!/usr/bin/python3
"""dashboards_statsd.py: a stand-in application for tests/integration/operator/dashboards_prometheus.sh.
Sends StatsD over UDP to HOST:PORT, following the application conventions of
docs/INGEST.md, every 0.2 s until it is killed: request latencies (ms timers), successes
and failures, cache hits, misses and size, and circuit breakers that go
closed -> open -> half_open -> closed (state gauge and transition counter).

    dashboards_statsd.py HOST:PORT
Standard library only.
"""
import random
import socket
import sys
import time

BREAKER_STATES = {"closed": 0, "open": 1, "half_open": 2}
CYCLE = ["closed", "open", "half_open"]


def main(argv):
    host, port = argv[1].rsplit(":", 1)
    addr = (host, int(port))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = random.Random(6)
    services = {"shop": {"cache": "users", "breaker": "payments", "fail": 0.05},
                "search": {"cache": "results", "breaker": "index", "fail": 0.01}}
    state = {name: "closed" for name in services}
    # Every breaker starts closed, so its state series exist from the first datagram.
    for name, s in services.items():
        sock.sendto(("%s.breaker.%s.state:0|g" % (name, s["breaker"])).encode(), addr)
    tick = 0
    print("sending to %s:%s" % addr, flush=True)
    while True:
        for name, s in services.items():
            lines = []
            for _ in range(5):
                ms = rng.lognormvariate(3.5, 1.0)  # about 33 ms, with a long tail
                ok = rng.random() >= s["fail"]
                lines.append("%s.request.duration:%.3f|ms" % (name, ms))
                lines.append("%s.request.%s:1|c" % (name, "success" if ok else "failure"))
                hit = rng.random() < 0.8
                lines.append("%s.cache.%s.%s:1|c" % (name, s["cache"], "hit" if hit else "miss"))
            lines.append("%s.cache.%s.size:%d|g" % (name, s["cache"], 1000 + tick % 50))
            if tick % 10 == 5:  # a transition every 2 s
                old = state[name]
                new = CYCLE[(CYCLE.index(old) + 1) % len(CYCLE)]
                state[name] = new
                lines.append("%s.breaker.%s.state:%d|g" % (name, s["breaker"], BREAKER_STATES[new]))
                lines.append("%s.breaker.%s.transition.%s.%s:1|c" % (name, s["breaker"], old, new))
            sock.sendto("\n".join(lines).encode(), addr)
        tick += 1
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

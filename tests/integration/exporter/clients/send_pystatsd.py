"""send_pystatsd.py PORT: the Python `statsd` client (Debian's python3-statsd) sends a
fixed set of metrics over UDP to 127.0.0.1:PORT under the prefix "py"."""
import random
import sys

import statsd

random.random = lambda: 0.0  # the client's sampling coin: always send (counts exact)

c = statsd.StatsClient("127.0.0.1", int(sys.argv[1]), prefix="py")
c.incr("HTTP.requests", 2)
c.incr("sampled.hits", 1, rate=0.25)      # counts 4
c.gauge("disk.used.mb", 7)
c.gauge("queue.depth", 10)
c.gauge("queue.depth", 3, delta=True)     # +3|g
c.gauge("queue.depth", -1, delta=True)    # -1|g
c.timing("api.response.ms", 20)
c.timing("api.response.ms", 40)
c.set("users", "bob")

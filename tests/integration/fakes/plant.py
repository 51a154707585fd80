#!/usr/bin/python3
"""plant: an application for the regulators' tests (Python 3 standard library only): its p95
latency is slope x its concurrency limit, exported for Prometheus to scrape, and an admin
endpoint sets the limit, as the demo application's /admin/limits does.

    plant.py --port PORT --control FILE [--log FILE] [--services a,b]

GET /metrics: plant_p95_seconds and plant_limit; 503 while CONTROL says down.
POST /admin/limits {"concurrency": N} sets the limit (N a whole number; 400 otherwise) and
appends "N" to --log.
CONTROL is read at every scrape: {"slope": 0.025, "down": false} (missing or unreadable:
slope 0.025, up).

With --services, one limit per service (each starting at 64): plant_p95_seconds{service=S}
for each service CONTROL names and is not down ({"a": {"slope": 0.025}, "b": {"slope": 0.05,
"down": true}}), POST /admin/S/limits sets S's limit and appends "S N" to --log.

It prints "listening on http://127.0.0.1:PORT" once it accepts connections.
"""
import argparse
import http.server
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--log", default=None)
    ap.add_argument("--services", default="")
    args = ap.parse_args()
    services = [s for s in args.services.split(",") if s]
    limit = {s: 64 for s in services} if services else {None: 64}

    def ctl():
        try:
            with open(args.control) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def record(line):
        if args.log:
            with open(args.log, "a") as f:
                f.write(line + "\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, code, body=b"", ctype="text/plain; version=0.0.4"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            c = ctl()
            if self.path != "/metrics":
                return self.reply(404)
            if not services:
                if c.get("down"):
                    return self.reply(503)
                slope = c.get("slope", 0.025)
                text = "plant_p95_seconds %g\nplant_limit %d\n" % (slope * limit[None], limit[None])
            else:
                lines = []
                for s in services:
                    sc = c.get(s)
                    if isinstance(sc, dict) and not sc.get("down"):
                        lines.append('plant_p95_seconds{service="%s"} %g' % (s, sc.get("slope", 0.025) * limit[s]))
                        lines.append('plant_limit{service="%s"} %d' % (s, limit[s]))
                text = "".join(line + "\n" for line in lines)
            self.reply(200, text.encode())

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(n) or b"{}")
            except ValueError:
                return self.reply(400)
            parts = self.path.split("/")
            if not services and self.path == "/admin/limits":
                key = None
            elif services and len(parts) == 4 and parts[1] == "admin" and parts[3] == "limits" \
                    and parts[2] in limit:
                key = parts[2]
            else:
                return self.reply(404)
            value = body.get("concurrency") if isinstance(body, dict) else None
            if not isinstance(value, int) or isinstance(value, bool):
                return self.reply(400)
            limit[key] = value
            record("%d" % value if key is None else "%s %d" % (key, value))
            self.reply(200)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening on http://127.0.0.1:%d" % args.port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""admin-gateway.py: routes the controller's webhooks to the right demo application.

    /usr/bin/python3 demo/admin-gateway.py --listen 127.0.0.1:0 \
        --route checkout=http://127.0.0.1:PORT1 --route search=http://127.0.0.1:PORT2

`make demo` runs one homeostat-controller for two services; its rules have
`targets: {by: [service]}` and one webhook URL for all of them,
http://GATEWAY/{{ $labels.service }}/admin/limits. This gateway does what an ingress
routing by path does in a real deployment: `METHOD /SERVICE/REST` is sent as
`METHOD /REST` to the application of SERVICE (a --route), with the request's headers
(Authorization included; hop-by-hop ones and Host excepted) and body, and the
application's status, Content-Type and body come back. An unknown SERVICE is 404, a
REST outside /admin/ is 404 too (only the admin endpoints are routed), a body over
64 KiB is 413, an application that does not answer within 5 s is 502. Each request is
logged on stderr: `gateway: POST /checkout/admin/limits -> http://...: 200`.

Standard library only; it prints `listening on http://HOST:PORT` once it listens.
SIGTERM or SIGINT stop it (exit 0).
"""

import argparse
import http.client
import http.server
import re
import signal
import sys
import threading
import urllib.parse

MAX_BODY_BYTES = 64 * 1024
UPSTREAM_TIMEOUT_S = 5.0
SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# Not forwarded: hop-by-hop headers (RFC 9110 7.6.1), Host (the upstream's own) and
# Content-Length (set again from the body read).
NOT_FORWARDED = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                 "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                 "host", "content-length"}


def parse_route(text):
    name, sep, url = text.partition("=")
    if not sep or not SERVICE_RE.fullmatch(name):
        raise argparse.ArgumentTypeError("bad route %r (want SERVICE=http://HOST:PORT)" % text)
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not u.hostname or not u.port or u.path not in ("", "/"):
        raise argparse.ArgumentTypeError("bad route %r: the URL must be http://HOST:PORT" % text)
    return name, (u.hostname, u.port)


class Handler(http.server.BaseHTTPRequestHandler):
    routes = {}
    server_version = "homeostat-demo-admin-gateway"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the default logs every request twice
        pass

    def reply(self, code, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def error(self, code, message):
        sys.stderr.write("gateway: %s %s: %d %s\n" % (self.command, self.path, code, message))
        sys.stderr.flush()
        self.reply(code, '{"error":"%s"}\n' % message)

    def forward(self):
        path, _, query = self.path.partition("?")
        m = re.fullmatch(r"/([^/]+)(/admin/[A-Za-z0-9_/-]*)", path)
        if not m:
            return self.error(404, "not found: want /SERVICE/admin/...")
        service, rest = m.group(1), m.group(2)
        if service not in self.routes:
            return self.error(404, "unknown service")
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or (length and not length.isdigit()):
            return self.error(400, "a body needs a Content-Length")
        if length and int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            return self.error(413, "body over %d bytes" % MAX_BODY_BYTES)
        body = self.rfile.read(int(length)) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_FORWARDED}
        host, port = self.routes[service]
        target = "http://%s:%d%s" % (host, port, rest + ("?" + query if query else ""))
        conn = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT_S)
        try:
            conn.request(self.command, rest + ("?" + query if query else ""),
                         body=body if body or self.command in ("POST", "PUT", "PATCH") else None,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read(MAX_BODY_BYTES + 1)[:MAX_BODY_BYTES]
            status, ctype = resp.status, resp.getheader("Content-Type", "application/json")
        except (OSError, http.client.HTTPException) as e:
            return self.error(502, "%s: %s" % (target, type(e).__name__))
        finally:
            conn.close()
        sys.stderr.write("gateway: %s %s -> %s: %d\n" % (self.command, self.path, target, status))
        sys.stderr.flush()
        self.reply(status, data, ctype)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward


def main(argv):
    ap = argparse.ArgumentParser(description="Routes /SERVICE/admin/... to SERVICE's application.")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any; %(default)s)")
    ap.add_argument("--route", type=parse_route, action="append", required=True,
                    metavar="SERVICE=URL", help="where SERVICE's requests go (repeatable)")
    args = ap.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        ap.error("--listen must be HOST:PORT")
    Handler.routes = dict(args.route)
    if len(Handler.routes) != len(args.route):
        ap.error("a service is routed twice")
    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    addr = server.server_address
    print("gateway: listening on http://%s:%d (%s)" % (
        addr[0], addr[1], ", ".join("/%s -> http://%s:%d" % (s, h, p)
                                    for s, (h, p) in sorted(Handler.routes.items()))), flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
"""webhook_server: the application side of the webhook actuator's integration test.

A loopback HTTP server (Python 3 standard library only) that appends one JSON line per
request to --log: time (epoch seconds), method, path, headers (name -> value, names as
sent), body (text), json (the parsed body or null), status (what it answered) and
signature: "valid" or "invalid" when an X-Homeostat-Signature header came, checked as
HMAC-SHA256(secret, X-Homeostat-Timestamp + "." + body) with the secret of --secret-file
(trailing newline stripped), "absent" otherwise.

What it answers is chosen by the path:
    /status/CODE[/...]     CODE (400, 503, ...) every time
    /flaky/KEY/N[/...]     503 for the first N requests with that KEY, then 200
    /hang[/...]            never answers (holds the connection for up to 60 s)
    anything else          200 {"ok": true}
or, when --control FILE exists, by its JSON {"status": CODE, "times": N} (CODE for the
next N requests, then the path decides) or {"hang": true}.

With --tls-cert and --tls-key it speaks HTTPS; with --tls-client-ca as well it asks for
a client certificate (optional) and records the subject's common name of the one that
came as client_cert (null when none).

It prints "listening on http[s]://127.0.0.1:PORT" once it accepts connections.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import threading
import time

MAX_BODY_BYTES = 1 << 20


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.flaky = {}
        self.secret = None
        if args.secret_file:
            with open(args.secret_file, "rb") as f:
                self.secret = f.read().rstrip(b"\r\n")

    def record(self, entry):
        with self.lock, open(self.args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")

    def verdict(self, path):
        """(status, hang) for this request."""
        with self.lock:
            ctl = self.args.control
            if ctl and os.path.exists(ctl):
                with open(ctl, encoding="utf-8") as f:
                    c = json.load(f)
                if c.get("hang"):
                    return 0, True
                if c.get("times", 0) > 0:
                    c["times"] -= 1
                    with open(ctl, "w", encoding="utf-8") as f:
                        json.dump(c, f)
                    return int(c["status"]), False
            parts = path.split("?")[0].strip("/").split("/")
            if parts[0] == "hang":
                return 0, True
            if parts[0] == "status" and len(parts) > 1 and parts[1].isdigit():
                return int(parts[1]), False
            if parts[0] == "flaky" and len(parts) > 2 and parts[2].isdigit():
                n = self.flaky.get(parts[1], 0)
                self.flaky[parts[1]] = n + 1
                return (503 if n < int(parts[2]) else 200), False
            return 200, False

    def signature(self, headers, body):
        sig = headers.get("X-Homeostat-Signature")
        if sig is None:
            return "absent"
        ts = headers.get("X-Homeostat-Timestamp", "")
        if self.secret is None or not sig.startswith("sha256="):
            return "invalid"
        want = hmac.new(self.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return "valid" if hmac.compare_digest(want, sig[len("sha256="):]) else "invalid"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the JSON lines are the log
        pass

    def client_cn(self):
        getpeercert = getattr(self.connection, "getpeercert", None)
        cert = getpeercert() if getpeercert else None
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None

    def handle_any(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        status, hang = st.verdict(self.path)
        text = body.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        st.record({
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "body": text,
            "json": parsed,
            "signature": st.signature(self.headers, body),
            "status": "hang" if hang else status,
            "client_cert": self.client_cn(),
        })
        if hang:
            self.connection.settimeout(60)
            try:
                self.connection.recv(1)  # returns when the client gives up
            except OSError:
                pass
            self.close_connection = True
            return
        reply = json.dumps({"ok": 200 <= status < 300, "status": status}).encode()
        if status == 503:
            reply = b"service unavailable: try again"
        elif status == 400:
            reply = b'{"error":"bad request from the test server"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--secret-file")
    ap.add_argument("--control")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca")
    args = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    scheme = "http"
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca:
            ctx.load_verify_locations(args.tls_client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    print("listening on %s://127.0.0.1:%d" % (scheme, srv.server_address[1]), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

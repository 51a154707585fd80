#!/usr/bin/python3
"""fake_prometheus: a Prometheus HTTP API impostor that misbehaves on demand, for
tests/integration/faults/fault_prometheus.sh (Python 3 standard library only).

    fake_prometheus.py --port PORT

Listens on 127.0.0.1:PORT and prints "listening on http://127.0.0.1:PORT" once it is.
POST /api/v1/query (and GET) answers according to the current mode:
  good        200, one vector sample [time, "VALUE"] at the query's time
  slow        the good answer after 5 s
  hang        accepts the request and never answers (the connection stays open)
  trickle     200 and headers, then one byte of the body every 0.2 s, for a minute
  http500     500 with a JSON error body without errorType
  http502     502 with an HTML page, as a proxy in front of Prometheus answers
  truncated   200 with half of a good body (Content-Length matches what is sent)
  short       200 with Content-Length 1000 and 40 bytes, then the connection closes
  huge        200 with a valid JSON body of 8 MiB (Content-Length given)
  endless     200, chunked, a JSON string that never ends
  number      the sample value as a JSON number instead of a string
  matrix      resultType matrix
  nodata      {"status": "success", "data": null}
  nostatus    {"data": {...}} without status
  array       a JSON array instead of an object
  nan         the sample value "not-a-number"
  bigts       the timestamp 1e400 (out of range)
  error       {"status": "error", "errorType": "bad_data", "error": "..."} with 200
  empty       a vector without samples
  two         a vector with two samples
Control (not counted as queries):
  POST /_control?mode=MODE[&value=V]   switches the mode (and the good value)
  GET  /_control                       {"mode": ..., "queries": N}
"""

import argparse
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.mode = "good"
        self.value = "0"
        self.queries = 0


STATE = State()
MODES = {"good", "slow", "hang", "trickle", "http500", "http502", "truncated", "short", "huge",
         "endless", "number", "matrix", "nodata", "nostatus", "array", "nan", "bigts", "error",
         "empty", "two"}


def vector(ts, samples):
    return {"status": "success",
            "data": {"resultType": "vector",
                     "result": [{"metric": {"i": str(i)}, "value": [ts, v]}
                                for i, v in enumerate(samples)]}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, ctype="application/json", length=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def query_time(self, params):
        try:
            return float(params.get("time", [time.time()])[0])
        except ValueError:
            return time.time()

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qs(url.query)
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            params.update(urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8", "replace")))
        if url.path == "/_control":
            with STATE.lock:
                if self.command == "POST":
                    mode = params.get("mode", [STATE.mode])[0]
                    if mode not in MODES:
                        return self.send(400, {"error": "unknown mode %s" % mode})
                    STATE.mode = mode
                    STATE.value = params.get("value", [STATE.value])[0]
                reply = {"mode": STATE.mode, "value": STATE.value, "queries": STATE.queries}
            return self.send(200, reply)
        if url.path == "/-/ready":
            return self.send(200, b"ready\n", "text/plain")
        if url.path not in ("/api/v1/query", "/api/v1/query_range"):
            return self.send(404, b"not found\n", "text/plain")
        with STATE.lock:
            STATE.queries += 1
            mode, value = STATE.mode, STATE.value
        ts = self.query_time(params)
        good = vector(ts, [value])
        try:
            self.answer(mode, ts, value, good)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: that is the point
        self.close_connection = True

    def answer(self, mode, ts, value, good):
        if mode == "good":
            self.send(200, good)
        elif mode == "slow":
            time.sleep(5)
            self.send(200, good)
        elif mode == "hang":
            threading.Event().wait(3600)
        elif mode == "trickle":
            body = json.dumps(good).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(300):
                self.wfile.write(body[i % len(body):i % len(body) + 1])
                self.wfile.flush()
                time.sleep(0.2)
        elif mode == "http500":
            self.send(500, {"status": "error", "error": "internal error: out of memory"})
        elif mode == "http502":
            self.send(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>\n", "text/html")
        elif mode == "truncated":
            body = json.dumps(good).encode()
            self.send(200, body[: len(body) // 2])
        elif mode == "short":
            body = json.dumps(good).encode()[:40]
            self.send(200, body, length=1000)
        elif mode == "huge":
            pad = "x" * (8 << 20)
            self.send(200, {"status": "success", "warnings": [pad], "data": good["data"]})
        elif mode == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 65536
            head = b'{"status":"success","data":"'
            self.wfile.write(b"%x\r\n%s\r\n" % (len(head), head))
            end = time.monotonic() + 60
            while time.monotonic() < end:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        elif mode == "number":
            self.send(200, vector(ts, [float(value)]))
        elif mode == "matrix":
            self.send(200, {"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {}, "values": [[ts, value]]}]}})
        elif mode == "nodata":
            self.send(200, {"status": "success", "data": None})
        elif mode == "nostatus":
            self.send(200, {"data": good["data"]})
        elif mode == "array":
            self.send(200, [good])
        elif mode == "nan":
            self.send(200, vector(ts, ["not-a-number"]))
        elif mode == "bigts":
            body = json.dumps(good).replace(json.dumps(ts), "1e400", 1)
            self.send(200, body.encode())
        elif mode == "error":
            self.send(200, {"status": "error", "errorType": "bad_data",
                            "error": "invalid parameter \"query\": 1:1: parse error"})
        elif mode == "empty":
            self.send(200, vector(ts, []))
        elif mode == "two":
            self.send(200, vector(ts, [value, value]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print("listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

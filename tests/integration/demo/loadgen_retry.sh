#!/bin/bash
# loadgen_retry.sh: demo/loadgen.py sends a request once more, on a new connection, only
# when it failed on a keep-alive connection that had served before and no byte of an
# answer came (the server had closed the idle connection); a fresh connection that fails,
# an answer cut short and a second failure are errors, never resent. A scripted HTTP
# server (raw sockets, so that it can close, cut and refuse exactly) logs each
# connection and request; one worker sends the requests one after the other.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
require_tool /usr/bin/python3

LOADGEN=$HOMEOSTAT_SOURCE_DIR/demo/loadgen.py
cat >"$HS_TMP/server.py" <<'PYEOF'
"""server.py MODE PORTFILE LOG: answers GET requests as MODE says, per connection:
stale        answers one request (keep-alive), then closes the connection
refuse       reads the request and closes without answering
partial      answers the first request; on the second, a status line and 3 of 100
             body bytes, then closes
reset        as partial, then resets the connection (RST) where partial closes it
stale-refuse the first connection as stale, every later one as refuse"""
import os
import socket
import struct
import sys
import threading
import time

mode, portfile, logfile = sys.argv[1:4]
log = open(logfile, "a", buffering=1)
lock = threading.Lock()
conns = 0


def note(line):
    with lock:
        log.write(line + "\n")


def read_request(c):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b" ", 2)[1].decode()


def answer(c, body=b"ok"):
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n%s"
              % (len(body), body))


def serve(c, n):
    kind = mode if mode != "stale-refuse" else ("stale" if n == 1 else "refuse")
    try:
        served = 0
        while True:
            path = read_request(c)
            if path is None:
                return
            note("request %d %s" % (n, path))
            if kind == "refuse":
                return
            if kind in ("partial", "reset") and served == 1:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
                if kind == "reset":
                    time.sleep(0.1)  # the answer's start read, then the reset
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            answer(c)
            served += 1
            if kind == "stale":
                return
    finally:
        c.close()


s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = s.accept()
    conns += 1
    note("connection %d" % conns)
    threading.Thread(target=serve, args=(c, conns), daemon=True).start()
PYEOF

# scenario MODE: the server in MODE, then the loadgen (one worker, 2 requests a second
# for 2.5 s: 4 requests, each on an idle connection); sets REPORT (its JSON report) and
# SLOG (the server's log).
scenario() {
    local mode=$1
    SLOG=$HS_TMP/$mode.server.log REPORT=$HS_TMP/$mode.report.json
    : >"$SLOG"
    spawn "$HS_TMP/$mode.server.out" /usr/bin/python3 "$HS_TMP/server.py" "$mode" \
        "$HS_TMP/$mode.port" "$SLOG"
    local spid=$HS_PID
    wait_until 5 test -s "$HS_TMP/$mode.port" || fail "$mode: the server did not start"
    /usr/bin/python3 "$LOADGEN" --url "http://127.0.0.1:$(cat "$HS_TMP/$mode.port")" \
        --phases "p:2.5s:2" --workers 1 --timeout 5s --interval 10s \
        --report "$REPORT" >"$HS_TMP/$mode.loadgen.log" 2>&1 ||
        fail "$mode: the loadgen failed: $(tail -n 3 "$HS_TMP/$mode.loadgen.log")"
    stop_process "$spid"
    SENT=$(jget "$REPORT" 'd["phases"][0]["sent"]')
    check "$mode: 3 to 5 requests sent (got $SENT)" test "$SENT" -ge 3 -a "$SENT" -le 5
}
count() { grep -c "^$1" "$SLOG" || true; }

# Each connection closed after its answer: every request after the first finds its
# connection stale and is sent once more, and served.
scenario stale
check_eq "stale: all answered 200" "{\"200\": $SENT}" "$(jget "$REPORT" 'd["phases"][0]["codes"]')"
check_eq "stale: every request but the first retried" $((SENT - 1)) "$(jget "$REPORT" 'd["phases"][0]["retried"]')"
# The first try on a closed connection never reaches the server: it sees each one once.
check_eq "stale: the server saw each request once" "$SENT" "$(count request)"
check_eq "stale: one connection per request" "$SENT" "$(count connection)"

# A new connection that fails is an error at once: no retry.
scenario refuse
check_eq "refuse: every request an error" "{\"err\": $SENT}" "$(jget "$REPORT" 'd["phases"][0]["codes"]')"
check_eq "refuse: nothing retried" 0 "$(jget "$REPORT" 'd["phases"][0]["retried"]')"
check_eq "refuse: each request reached the server once" "$SENT" "$(count request)"

# An answer cut short on a reused connection had begun: an error, not resent.
scenario partial
codes=$(jget "$REPORT" 'd["phases"][0]["codes"]')
check_eq "partial: nothing retried" 0 "$(jget "$REPORT" 'd["phases"][0]["retried"]')"
check_eq "partial: each request reached the server once" "$SENT" "$(count request)"
check "partial: errors for the cut answers ($codes)" test "$(jget "$REPORT" 'd["phases"][0]["codes"].get("err", 0)')" -ge 1
check_eq "partial: every request answered or failed once" "$SENT" "$(jget "$REPORT" 'sum(d["phases"][0]["codes"].values())')"

# The same with a reset after the answer began (ConnectionResetError while reading the
# body): still an error, not resent.
scenario reset
codes=$(jget "$REPORT" 'd["phases"][0]["codes"]')
check_eq "reset: nothing retried" 0 "$(jget "$REPORT" 'd["phases"][0]["retried"]')"
check_eq "reset: each request reached the server once" "$SENT" "$(count request)"
check "reset: errors for the cut answers ($codes)" test "$(jget "$REPORT" 'd["phases"][0]["codes"].get("err", 0)')" -ge 1

# Stale, then the retry fails too: one retry, then an error; later requests on new
# connections fail without retries.
scenario stale-refuse
check_eq "stale-refuse: the first 200, the rest errors" "{\"200\": 1, \"err\": $((SENT - 1))}" "$(jget "$REPORT" 'd["phases"][0]["codes"]')"
check_eq "stale-refuse: one retry only" 1 "$(jget "$REPORT" 'd["phases"][0]["retried"]')"
check_eq "stale-refuse: requests the server saw (the retry's, not the stale try's)" "$SENT" "$(count request)"
check_eq "stale-refuse: connections (the retry's one more)" "$SENT" "$(count connection)"
finish

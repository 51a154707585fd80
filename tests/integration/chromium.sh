# shellcheck shell=bash
# chromium.sh: headless Chromium for the tests of the controller's status page (sourced
# after lib.sh; not a test itself):
#   chromium_run LOG ARGS...  Debian's chromium, headless, with a private profile, 60 s at
#                     most, 5 s of virtual time; stdout is the caller's, stderr (with the
#                     page's console) in LOG
#   dump NAME URL     the DOM Chromium renders, into HS_TMP/NAME.html, summarised (dom.py
#                     below) into HS_TMP/NAME.json
#   tid NAME ID EXPR  EXPR over the data-testid elements ID of the dump NAME (t: the first)
#   png_size FILE     "WIDTHxHEIGHT" of a PNG, "not a PNG" otherwise
#   chromium_click NAME URL SELECTOR TOKEN DONE  clicks SELECTOR as an operator would

# chromium_run LOG ARGS...: headless Chromium (as root it needs --no-sandbox) with a
# private profile, 60 s at most; stdout is ours, stderr (with the page's console) in LOG.
CHROMIUM_SEQ=0
chromium_run() {
    local log=$1
    shift
    CHROMIUM_SEQ=$((CHROMIUM_SEQ + 1))
    timeout -k 5 60 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
        --disable-extensions --disable-background-networking --hide-scrollbars \
        --user-data-dir="$HS_TMP/chromium-profile.$CHROMIUM_SEQ" --enable-logging=stderr \
        --v=0 --virtual-time-budget=5000 "$@" 2>"$log"
}

# dump NAME URL: the DOM Chromium renders after 5 s of virtual time, into HS_TMP/NAME.html,
# and its summary (see dom.py) into HS_TMP/NAME.json.
dump() {
    local rc=0
    chromium_run "$HS_TMP/$1.chromium.log" --dump-dom "$2" >"$HS_TMP/$1.html" || rc=$?
    if ((rc != 0)); then
        fail "chromium --dump-dom $2 exited with $rc; its log:"
        tail -n 20 "$HS_TMP/$1.chromium.log" | sed 's/^/    /'
    fi
    /usr/bin/python3 "$HS_TMP/dom.py" "$HS_TMP/$1.html" >"$HS_TMP/$1.json"
}

# The rendered DOM, summarised as JSON: the text and data-* of each data-testid element,
# every signal, decision and condition, the targets' rows and counts, and whether an
# element with id="injected" exists.
cat >"$HS_TMP/dom.py" <<'EOF'
import html.parser, json, sys

class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.out = [], {"testids": {}, "signals": {}, "records": [],
                                    "conditions": [], "injected": False}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "injected":
            self.out["injected"] = True
        node = {"tag": tag, "attrs": a, "text": ""}
        if tag in ("meta", "br", "img", "input", "link"):
            return
        self.stack.append(node)
    def handle_endtag(self, tag):
        while self.stack:
            n = self.stack.pop()
            if self.stack:
                self.stack[-1]["text"] += n["text"]
            a, t = n["attrs"], n["text"].strip()
            if "data-testid" in a:
                self.out["testids"].setdefault(a["data-testid"], []).append(
                    {"text": t, **{k[5:]: v for k, v in a.items() if k.startswith("data-")}})
            if "data-signal" in a:
                self.out["signals"][a["data-signal"]] = {"known": a.get("data-known"),
                                                         "text": t}
            if "data-type" in a:
                self.out["records"].append({"type": a["data-type"], "text": t})
            if "cond" in a.get("class", "").split():
                self.out["conditions"].append({"text": t, "state": a.get("data-state"),
                                               "met": "met" in a["class"].split()})
            if "data-key" in a:  # a row of the targets table
                self.out.setdefault("rows", []).append({"key": a["data-key"],
                                                        "state": a.get("data-state"),
                                                        "text": t})
            if "data-count" in a:  # a state's count of targets
                self.out.setdefault("counts", {})[a.get("data-state")] = int(a["data-count"])
            if "value" in a.get("class", "").split() and "data-value" in a:
                self.out.setdefault("values", []).append(a["data-value"])
            if n["tag"] == tag:
                break
    def handle_data(self, data):
        if self.stack:
            self.stack[-1]["text"] += data

p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
print(json.dumps(p.out))
EOF

# tid NAME EXPR: EXPR over the data-testid elements of the dump NAME (t: the first one).
tid() { jget "$HS_TMP/$1.json" "(lambda t: $3)(d['testids']['$2'][0])"; }

# png_size FILE: "WIDTHxHEIGHT" from the IHDR of a PNG; "not a PNG" otherwise.
png_size() {
    /usr/bin/python3 - "$1" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read(33)
if len(b) == 33 and b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR":
    print("%dx%d" % struct.unpack(">II", b[16:24]))
else:
    print("not a PNG")
EOF
}

# chromium_click NAME URL SELECTOR TOKEN DONE: opens URL in headless Chromium driven over
# the DevTools protocol (cdp.py below), clicks the element SELECTOR once it is there,
# answers a prompt with TOKEN and accepts a confirm (as an operator would), then waits until
# the page's JavaScript expression DONE is truthy; prints {"value": DONE's value, "dialogs":
# the types of the dialogs answered} (value null after 20 s without it). Chromium's log in
# HS_TMP/NAME.chromium.log.
chromium_click() {
    CHROMIUM_SEQ=$((CHROMIUM_SEQ + 1))
    timeout -k 5 60 /usr/bin/python3 "$HS_TMP/cdp.py" "$2" "$3" "$4" "$5" \
        "$HS_TMP/chromium-profile.$CHROMIUM_SEQ" 2>"$HS_TMP/$1.chromium.log"
}
cat >"$HS_TMP/cdp.py" <<'EOF'
import fcntl, json, os, select, subprocess, sys, time

url, selector, token, done, profile = sys.argv[1:6]
to_chromium, chromium_in = os.pipe()   # Chromium reads the protocol on its fd 3
chromium_out, from_chromium = os.pipe()  # and writes it on its fd 4

def fds():
    # through fds 10 and up: a dup2 onto the same fd would keep its close-on-exec
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chromium, from_chromium)]
    os.dup2(high[0], 3)
    os.dup2(high[1], 4)

proc = subprocess.Popen(
    ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
     "--disable-extensions", "--disable-background-networking", "--remote-debugging-pipe",
     "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0", "about:blank"],
    preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL)
os.close(to_chromium)
os.close(from_chromium)
buf, seq, dialogs = b"", 0, []

def send(method, params=None, session=None):
    global seq
    seq += 1
    msg = {"id": seq, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(chromium_in, json.dumps(msg).encode() + b"\0")
    return seq

def call(method, params=None, session=None, timeout=20):
    """The result of a command; dialogs opened meanwhile are answered."""
    global buf
    want, deadline = send(method, params, session), time.time() + timeout
    while True:
        while b"\0" not in buf:
            left = deadline - time.time()
            if left <= 0 or not select.select([chromium_out], [], [], left)[0]:
                raise TimeoutError(method)
            chunk = os.read(chromium_out, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            buf += chunk
        raw, _, buf = buf.partition(b"\0")
        m = json.loads(raw)
        if m.get("method") == "Page.javascriptDialogOpening":
            kind = m["params"]["type"]
            dialogs.append(kind)
            send("Page.handleJavaScriptDialog",
                 {"accept": True, "promptText": token if kind == "prompt" else ""},
                 m.get("sessionId"))
        elif m.get("id") == want:
            if "error" in m:
                raise RuntimeError("%s: %s" % (method, m["error"]))
            return m.get("result", {})

def until(session, expr, secs=20):
    deadline = time.time() + secs
    while time.time() < deadline:
        r = call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
        v = r.get("result", {}).get("value")
        if v:
            return v
        time.sleep(0.2)
    return None

value = None
try:
    pages = [t for t in call("Target.getTargets")["targetInfos"] if t["type"] == "page"]
    target = pages[0]["targetId"] if pages else call("Target.createTarget",
                                                      {"url": "about:blank"})["targetId"]
    sid = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    call("Page.enable", None, sid)
    call("Page.navigate", {"url": url}, sid)
    q = "document.querySelector(%s)" % json.dumps(selector)
    if until(sid, "!!" + q):
        call("Runtime.evaluate", {"expression": q + ".click()"}, sid)
        value = until(sid, done)
finally:
    try:
        send("Browser.close")
        proc.wait(5)
    except Exception:
        proc.kill()
        proc.wait()
print(json.dumps({"value": value, "dialogs": dialogs}))
EOF

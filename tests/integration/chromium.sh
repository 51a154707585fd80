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
#   learning NAME [LIST]  the baselines, track record and suspensions of the dump NAME
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

# learning.py DUMP [LIST]: the page's baselines, track record and suspensions, as JSON: for
# each signal of the list LIST (data-testid; default signals, the controller's;
# target-signals on a target's page) its baseline line (text, data-*) and chart (the svg's
# attributes, its <title>, texts, the band, the gridlines, the median line, the current
# point); the track record's rows (their cells' text), whether its section is hidden, and
# each suspension.
cat >"$HS_TMP/learning.py" <<'EOF'
import html.parser, json, sys

class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.kids, self.parts = tag, attrs, parent, [], []
    def text(self):
        return "".join(p if isinstance(p, str) else p.text() for p in self.parts)
    def all(self, pred):
        for k in self.kids:
            if pred(k):
                yield k
            yield from k.all(pred)
    def one(self, pred):
        return next(self.all(pred), None)

class P(html.parser.HTMLParser):
    VOID = {"meta", "br", "img", "input", "link"}
    def __init__(self):
        super().__init__()
        self.root = self.cur = Node("#root", {}, None)
    def handle_starttag(self, tag, attrs):
        n = Node(tag, dict(attrs), self.cur)
        self.cur.kids.append(n)
        self.cur.parts.append(n)
        if tag not in self.VOID:
            self.cur = n
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.cur = self.cur.parent
    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent
    def handle_data(self, data):
        self.cur.parts.append(data)

p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
root, out = p.root, {}
tid = lambda name: (lambda n: n.attrs.get("data-testid") == name)
cls = lambda name: (lambda n: name in n.attrs.get("class", "").split())
signals = root.one(tid(sys.argv[2] if len(sys.argv) > 2 else "signals"))
for li in signals.all(lambda n: "data-signal" in n.attrs):
    b, svg = li.one(tid("baseline")), li.one(lambda n: n.tag == "svg")
    e = out[li.attrs["data-signal"]] = {"baseline": None, "chart": None}
    if b:
        e["baseline"] = {k[5:]: v for k, v in b.attrs.items() if k.startswith("data-")}
        e["baseline"]["text"] = b.text().strip()
    if svg:
        c = e["chart"] = dict(svg.attrs)
        t = svg.one(lambda n: n.tag == "title")
        c["title"] = t.text().strip() if t else None
        c["texts"] = [n.text().strip() for n in svg.all(lambda n: n.tag == "text")]
        band, grid = svg.one(cls("band")), svg.one(cls("grid"))
        med, dot = svg.one(cls("line-med")), svg.one(cls("dot-sig"))
        c["band"] = band.attrs if band else None
        c["grid"] = grid.attrs.get("d") if grid else None
        c["med"] = med.attrs.get("d") if med else None
        c["dot"] = dot.attrs if dot else None
out["track"] = [[td.text().strip() for td in tr.all(lambda n: n.tag == "td")]
                for tr in root.one(tid("track")).all(lambda n: n.tag == "tr")]
out["track_hidden"] = "hidden" in root.one(tid("track-section")).attrs
out["suspensions"] = []
for li in root.one(tid("suspensions")).all(lambda n: "data-suspension" in n.attrs):
    why, button = li.one(cls("muted")), li.one(tid("suspension-resume"))
    out["suspensions"].append({"key": li.attrs["data-suspension"], "text": li.text().strip(),
                               "why": why.text().strip() if why else None,
                               "button": button.text().strip() if button else None})
print(json.dumps(out))
EOF

# learning NAME [LIST]: learning.py over the dump NAME, into HS_TMP/NAME.learning.json.
learning() { /usr/bin/python3 "$HS_TMP/learning.py" "$HS_TMP/$1.html" ${2:+"$2"} >"$HS_TMP/$1.learning.json"; }

# CHART_AT: a Python lambda (c, v) of a learning.py chart c: the height of the value v on
# its axis (the gridlines of its top and bottom labels, texts[0] and texts[1]).
# shellcheck disable=SC2034 # used by the tests that source this
CHART_AT="(lambda c, v: (lambda g, hi, lo: g[0] + (hi - v) / (hi - lo) * (g[1] - g[0]))([float(m.split()[1].split('H')[0]) for m in c['grid'].split('M')[1:]], float(c['texts'][0]), float(c['texts'][1])))"

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

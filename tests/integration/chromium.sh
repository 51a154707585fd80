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

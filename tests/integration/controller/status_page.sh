#!/usr/bin/env bash
# status_page: the controller's status page at GET /, read by Debian's headless Chromium.
# A real Prometheus (1 s scrape) scrapes the real exporter, whose gauge demo_load (0.95) and
# demo_queue (3) the test pushes; rules: critical when load > 0.8 (with a description full
# of HTML, and a webhook action to a port where nothing listens, so it runs and fails; its
# verdict 3 s later, no effect, suspends it: on_no_effect: stop), busy when load > 0.5 or
# queue > 10 or queue > 2 x its baseline's q=0.99, optimal otherwise. Both signals have a
# baseline: queue's from --baselines.seed (100 values, ready), load's empty (not ready).
#  - GET /: 200, text/html; charset=utf-8, the page embedded byte for byte from
#    controller/daemon/status.html, with a Content-Security-Policy of default-src 'none' whose
#    script-src and style-src are the SHA-256 hashes of the page's inline script and style
#    (no 'unsafe-inline'), X-Content-Type-Options, X-Frame-Options, Referrer-Policy and
#    Cache-Control; nothing external (no http(s):// in the page, no <link>, no <script src>);
#    HEAD gives the headers and no body; POST gives 405 with Allow
#  - Chromium (--dump-dom) runs the page under that policy with no violation logged and
#    renders: the state /api/v1/status reports with its severity, the signals with their
#    values and the thresholds of the conditions using them, the decision with its outcome,
#    reasoning and the failed action, no action in effect, the flags paused and dry-run,
#    the "updated at" banner; the state's description shows as text (no element injected);
#    no Regulators section (status_page_regulators.sh shows one)
#  - queue's baseline in words and on a chart of the values the page saw, the band drawn
#    from the median to q=0.99 and the median line at their heights, the numbers those of
#    /api/v1/baselines (also in the chart's name); load's "not ready (0 of 50 samples)"
#    and no band; the baseline condition with its threshold now (2 x q=0.99)
#  - "Did the actions help?": the track record's table as /api/v1/effects (no_effect 1),
#    the suspended decision as /api/v1/suspensions (who, why, since), with a Resume button;
#    the verdict and the suspension among the events
#  - Resume clicked in Chromium over the DevTools protocol (chromium.sh: chromium_click):
#    it asks to confirm, then for the token; the page says done and lists none; the API
#    lists none and has the decision_resumed record by the operator
#  - paused through the API (curl), the page shows PAUSED and the pause record; resumed, it
#    shows actuation running again
#  - the same page whose API answers 503 shows the error banner
#  - screenshots, phone (390x844) and desktop (1280x800), saved in
#    $HOMEOSTAT_BUILD_DIR/test-artifacts/status-page-*.png: PNGs of that size
# About 20 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus curl chromium /usr/bin/python3

CONTROLLER=${HOMEOSTAT_CONTROLLER:-$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}
if [[ ! -x $CONTROLLER ]]; then
    fail "controller binary '$CONTROLLER' is missing (build the homeostat-controller target)"
    finish
fi
PAGE_SRC=$HOMEOSTAT_SOURCE_DIR/controller/daemon/status.html
ARTIFACTS=$HOMEOSTAT_BUILD_DIR/test-artifacts
mkdir -p "$ARTIFACTS"

# ---- helpers --------------------------------------------------------------------------

# chromium_run, dump, tid and png_size: tests/integration/chromium.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../chromium.sh"

status() { [[ $(http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status") == 200 ]]; }
st() { jget "$HS_TMP/status.json" "(lambda d: $1)(d['data'])"; }
# shellcheck disable=SC2317 # called through wait_until
critical_with_decision() {
    status && [[ $(st "d['state']") == critical &&
        $(st "d['last_decision'] and d['last_decision']['actions'][0]['result']") == failed &&
        $(st "[s['known'] for s in d['signals']]") == '[true, true]' ]]
}

push() {
    local code
    code=$(printf '%s' "$1" | curl -s -o "$HS_TMP/push.json" -w '%{http_code}' \
        --max-time 10 -H 'Content-Type: text/plain' --data-binary @- \
        "$EXPORTER_BASE/api/v1/push" || true)
    check_eq "push '$1' answers 200" 200 "$code"
}

# ---- exporter, Prometheus, controller -------------------------------------------------

start_exporter --collector.disable-defaults
push $'demo.load:0.95|g\ndemo.queue:3|g'
cat >"$HS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: homeostat
    static_configs:
      - targets: ['$EXPORTER_ADDR']
EOF
start_prometheus "$HS_TMP/prometheus.yml"

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<'EOF'
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9/", timeout: 1s}
signals:
  load:
    query: demo_load
    max_age: 30s
    baseline: {learn_in: [optimal], min_samples: 50}
  queue:
    query: demo_queue
    baseline: {learn_in: [optimal], min_samples: 20}
states:
  - name: critical
    conditions: ["load > 0.8"]
    for: 1s
    severity: critical
    description: 'Overloaded <i id="injected">injected</i> & "quoted"'
  - name: busy
    conditions: ["load > 0.5", "queue > 10", "queue > 2 * baseline(queue, q=0.99) or 20"]
    severity: warning
  - name: optimal
on_missing_data: hold
decisions:
  critical:
    cooldown: 10m
    verify_after: 3s
    verify_window: 3s
    on_no_effect: stop
    actions:
      - webhook: {url: "http://127.0.0.1:9/admin/limits", body: {concurrency: 4},
                  retries: 0, timeout: 1s}
EOF
# The baselines learn only while optimal, which the controller never is here: queue's is
# the seed's (100 values: 60 of 2, 30 of 3, 10 of 6, as baseline learn writes them: a
# sketch's buckets), load's stays empty (not ready, 0 of 50).
/usr/bin/python3 - >"$HS_TMP/seed.json" <<'EOF'
import json, math, time
gamma, now, buckets = 1.02 / 0.98, time.time(), {}
for v, n in ((2, 60), (3, 30), (6, 10)):
    k = math.ceil(math.log(v) / math.log(gamma))
    buckets[k] = buckets.get(k, 0) + n
cur = [now - 600, 0, sorted([k, n] for k, n in buckets.items()), now - 5]
print(json.dumps({"baselines": {"queue": {
    "season": "none", "window": 3600, "learned": 100, "last_learned": now - 5,
    "slots": {"0": {"cur": cur, "prev": [0, 0, [], 0]}}}}}))
EOF
printf 'page-token\n' >"$HS_TMP/token"
AUTH=(-H 'Authorization: Bearer page-token')
CTL_LOG=$HS_TMP/controller.log
# The verdict compares the 3 s before the decision with the 3 s after: Prometheus must have
# load before then.
check "Prometheus has demo_load" wait_until 20 prom_has demo_load
sleep 2
spawn "$CTL_LOG" "$CONTROLLER" --config="$RULES" --web.listen-address=127.0.0.1:0 \
    --prometheus.url="$PROM_URL" --state.directory="$HS_TMP/state" \
    --web.admin-token-file="$HS_TMP/token" --baselines.seed="$HS_TMP/seed.json"
CTL_PID=$HS_PID
CTL_URL=$(wait_listening "$CTL_LOG" "$CTL_PID")
if [[ -z $CTL_URL ]]; then
    fail "the controller did not log 'listening on' within 10 s; its log:"
    sed 's/^/    /' "$CTL_LOG"
    finish
fi
CTL_URL=${CTL_URL%/}
if wait_until 20 critical_with_decision; then
    pass "the controller is critical on load 0.95 from Prometheus, its webhook action failed"
else
    fail "not critical with a failed action after 20 s: $(head -c 800 "$HS_TMP/status.json")"
fi

# ---- the page over HTTP ----------------------------------------------------------------

code=$(curl -s -D "$HS_TMP/get.headers" -o "$HS_TMP/page.html" -w '%{http_code}' \
    --max-time 10 "$CTL_URL/" || true)
check_eq "GET / answers 200" 200 "$code"
# header NAME FILE: the value of the header NAME in the curl -D dump FILE ("" when absent).
header() {
    awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1")" \
        'tolower($1) == n ":" { sub(/^[^:]*: /, ""); sub(/\r$/, ""); print; exit }' "$2"
}
check_eq "... Content-Type text/html; charset=utf-8" "text/html; charset=utf-8" \
    "$(header Content-Type "$HS_TMP/get.headers")"
check "... the page is controller/daemon/status.html byte for byte" cmp -s "$PAGE_SRC" "$HS_TMP/page.html"
check_eq "... X-Content-Type-Options: nosniff" nosniff \
    "$(header X-Content-Type-Options "$HS_TMP/get.headers")"
check_eq "... X-Frame-Options: DENY" DENY "$(header X-Frame-Options "$HS_TMP/get.headers")"
check_eq "... Referrer-Policy: no-referrer" no-referrer \
    "$(header Referrer-Policy "$HS_TMP/get.headers")"
check_eq "... Cache-Control: no-cache" no-cache "$(header Cache-Control "$HS_TMP/get.headers")"
csp=$(header Content-Security-Policy "$HS_TMP/get.headers")
# The policy the page needs: its inline script and style by hash, fetches to itself.
want_csp=$(/usr/bin/python3 - "$HS_TMP/page.html" <<'EOF'
import base64, hashlib, re, sys
page = open(sys.argv[1], "rb").read()
def h(tag):
    m = re.search(b"<%s>(.*?)</%s>" % (tag, tag), page, re.S)
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()
print("default-src 'none'; script-src %s; style-src %s; connect-src 'self'; "
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'" % (h(b"script"), h(b"style")))
EOF
)
check_eq "... Content-Security-Policy: default-src 'none', script and style by hash" \
    "$want_csp" "$csp"
check "... no 'unsafe-inline' nor 'unsafe-eval'" bash -c "! grep -q unsafe <<<\"\$1\"" _ "$csp"
# shellcheck disable=SC2317 # called through check
no_url() { ! grep -qiE 'https?://' "$HS_TMP/page.html"; }
# shellcheck disable=SC2317
no_external_element() {
    ! grep -qiE '<(link|img|iframe|object|embed)\b|<script[^>]*src' "$HS_TMP/page.html"
}
# shellcheck disable=SC2317
no_csp_violation() { ! grep -i 'Content Security Policy' "$HS_TMP/$1.chromium.log"; }
check "... nothing external: no http:// or https:// in the page" no_url
check "... no <link>, no <script src>, no <img>, no <iframe>" no_external_element

code=$(curl -s -I -D "$HS_TMP/head.headers" -o /dev/null -w '%{http_code}' \
    --max-time 10 "$CTL_URL/" || true)
check_eq "HEAD / answers 200" 200 "$code"
check_eq "... with the same Content-Type" "text/html; charset=utf-8" \
    "$(header Content-Type "$HS_TMP/head.headers")"
check_eq "... Content-Length the page's size" "$(stat -c %s "$PAGE_SRC")" \
    "$(header Content-Length "$HS_TMP/head.headers")"
check_eq "... the policy" "$csp" "$(header Content-Security-Policy "$HS_TMP/head.headers")"
# What follows the headers on the connection (HTTP/1.0: the server closes it after).
head_body=$(/usr/bin/python3 - "${CTL_URL#http://}" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"HEAD / HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, sep, body = data.partition(b"\r\n\r\n")
print("%s %d" % (head.split()[1].decode(), len(body)) if sep else "no headers")
EOF
)
check_eq "... and no body (raw HTTP/1.0 HEAD: status, bytes after the headers)" \
    "200 0" "$head_body"
code=$(curl -s -X POST -D "$HS_TMP/post.headers" -o /dev/null -w '%{http_code}' \
    --max-time 10 "$CTL_URL/" || true)
check_eq "POST / answers 405" 405 "$code"
check_eq "... Allow: GET, HEAD" "GET, HEAD" "$(header Allow "$HS_TMP/post.headers")"

# ---- the page in Chromium --------------------------------------------------------------

# The verdict on the decision 3 s after it: load 0.95 before and after, no effect; so
# on_no_effect: stop suspends it.
# shellcheck disable=SC2317 # called through wait_until
suspended() {
    [[ $(http_get "$HS_TMP/suspensions.json" "$CTL_URL/api/v1/suspensions") == 200 &&
        $(jget "$HS_TMP/suspensions.json" "[x['decision'] for x in d['data']]") == '["critical"]' ]]
}
check "the verdict on the decision (no effect) suspends it" wait_until 20 suspended
status || true
api_state=$(st "d['state']")
dump live "$CTL_URL/"
http_get "$HS_TMP/baselines.json" "$CTL_URL/api/v1/baselines" >/dev/null
http_get "$HS_TMP/effects.json" "$CTL_URL/api/v1/effects" >/dev/null
http_get "$HS_TMP/suspensions.json" "$CTL_URL/api/v1/suspensions" >/dev/null
learning live
check_eq "Chromium shows the state /api/v1/status reports ($api_state)" "$api_state" \
    "$(tid live state "t['text']")"
check_eq "... coloured as the rules' severity" critical "$(tid live state "t['severity']")"
check "... no Content Security Policy violation in the console" no_csp_violation live
check_eq "... the banner says when it was updated" true \
    "$(tid live banner "t['ok'] == 'true' and t['text'].startswith('updated at ')")"
check_eq "... a confidence from 0 to 1" true \
    "$(jget "$HS_TMP/live.json" "0 <= float(d['testids']['confidence'][0]['text']) <= 1")"
check "... the reasoning (load=0.95)" \
    grep -q 'load=0.95' <<<"$(tid live reasoning "t['text']")"
check_eq "... the signals load and queue, known" '{"load": "true", "queue": "true"}' \
    "$(jget "$HS_TMP/live.json" "{k: v['known'] for k, v in d['signals'].items()}")"
check_eq "... with their values" '["0.95", "3"]' "$(jget "$HS_TMP/live.json" "d.get('values')")"
# pnum N: N as the page writes it (num() in status.html: 4 significant digits)
pnum() { /usr/bin/python3 -c 'import sys; print("%.4g" % float(sys.argv[1]))' "$1"; }
# bl SIGNAL EXPR: EXPR over that signal's entry (b) of GET /api/v1/baselines
bl() { jget "$HS_TMP/baselines.json" "(lambda b: $2)([b for b in d['data']['signals'] if b['signal'] == '$1'][0])"; }
q99=$(bl queue "b['quantiles']['0.99']")
check_eq "... and the thresholds of the conditions using them, the one that holds marked" \
    "[[\"critical: > 0.8\", true], [\"busy: > 0.5\", true], [\"busy: > 10\", false], [\"busy: > 2 \\u00d7 baseline(queue, q=0.99) = $(pnum "$(/usr/bin/python3 -c "print(2 * $q99)")")\", false]]" \
    "$(jget "$HS_TMP/live.json" "[[c['text'], c['met']] for c in d['conditions']]")"
check_eq "... the decision that entered critical, executed" true \
    "$(jget "$HS_TMP/live.json" "any(r['type'] == 'decision' and '\\u2192 critical' in r['text']
        and 'executed' in r['text'] for r in d['records'])")"
check_eq "... with its reasoning and its failed webhook action" true \
    "$(jget "$HS_TMP/live.json" "any(r['type'] == 'decision' and 'load=0.95' in r['text'] and
        'webhook POST http://127.0.0.1:9/admin/limits' in r['text'] and 'failed' in r['text']
        for r in d['records'])")"
check_eq "... the action_result record" true \
    "$(jget "$HS_TMP/live.json" "any(r['type'] == 'action_result' for r in d['records'])")"
check_eq "... no action in effect (it failed)" none \
    "$(tid live actions-in-effect "t['text']")"
check_eq "... actuation running" "false actuation running" \
    "$(tid live paused "t['value'] + ' ' + t['text']")"
check_eq "... not in dry-run" false "$(tid live dry-run "t['value']")"
check_eq "... the state's description as text" \
    'Overloaded <i id="injected">injected</i> & "quoted"' \
    "$(tid live state-description "t['text']")"
check_eq "... and no element injected from it" false "$(jget "$HS_TMP/live.json" "d['injected']")"
check "... and no Regulators section: the rules have none" \
    grep -q 'data-testid="regulators-section" hidden' "$HS_TMP/live.html"

# ---- baselines, verdicts and suspensions on the page ---------------------------------

# lj EXPR: EXPR over the page's learning parts (learning.py) of the live dump
lj() { jget "$HS_TMP/live.learning.json" "$1"; }
say "queue's baseline: $(bl queue "b")"
med=$(bl queue "b['quantiles']['0.5']")
want="baseline (slot all, $(bl queue "b['count']") samples): median $(pnum "$med"), q=0.99 $(pnum "$q99")"
check_eq "queue's baseline (seeded: 100 samples, ready) as /api/v1/baselines gives it" \
    "true 100 $want" "$(lj "' '.join(d['queue']['baseline'][k] for k in ('ready', 'count', 'text'))")"
say "queue's chart: $(lj "d['queue']['chart']['aria-label']")"
check_eq "... its chart of the values the page saw: an image, named with the same numbers" \
    "img True True" "$(lj "(lambda c: '%s %s %s' % (c['role'], c['aria-label'].endswith('; $want'),
        c['title'] == c['aria-label']))(d['queue']['chart'])")"
check_eq "... the value now in the name (3)" true "$(lj "'): now 3;' in d['queue']['chart']['aria-label']")"
at=$CHART_AT
check_eq "... the band drawn from the median ($med) up to q=0.99 ($q99)" "True True" \
    "$(lj "(lambda c: '%s %s' % (abs(float(c['band']['y']) - $at(c, $q99)) < 0.2,
        abs(float(c['band']['y']) + float(c['band']['height']) - $at(c, $med)) < 0.2))(d['queue']['chart'])")"
check_eq "... the median as a dashed line, labelled" "True True" \
    "$(lj "(lambda c: '%s %s' % (abs(float(c['med'].split()[1].split('H')[0]) - $at(c, $med)) < 0.2,
        'median $(pnum "$med")' in c['texts']))(d['queue']['chart'])")"
check_eq "... the value now (3) drawn inside the band, at its height" true \
    "$(lj "(lambda c: abs(float(c['dot']['cy']) - $at(c, 3)) < 0.2)(d['queue']['chart'])")"
check_eq "load's baseline: not ready (0 of 50 samples), as /api/v1/baselines says" \
    "false 0 50 baseline not ready (0 of 50 samples, slot all)" \
    "$(bl load "str(b['ready']).lower()") $(bl load "b['count']") $(bl load "b['min_samples']") $(lj "d['load']['baseline']['text']")"
check_eq "... its chart has no band, only the values seen" "null true" \
    "$(lj "d['load']['chart']['band']") $(lj "'): now 0.95;' in d['load']['chart']['aria-label']")"

say "GET /api/v1/effects: $(jget "$HS_TMP/effects.json" "d['data']")"
check_eq "the track record: one decision and kind, judged no_effect (load 0.95 before and after)" \
    "1 critical webhook 1" "$(jget "$HS_TMP/effects.json" "' '.join(str(x) for x in (len(d['data']),
        d['data'][0]['decision'], d['data'][0]['kind'], d['data'][0]['no_effect']))")"
# the page's percentages: Math.round(v * 100), signed for the improvement
check_eq "... the page's table says what GET /api/v1/effects says" \
    "$(jget "$HS_TMP/effects.json" "[[x['decision'], x['kind']] + [str(x[k]) for k in ('verdicts',
        'helped', 'no_effect', 'worse', 'unknown')] + [(lambda v, s: '-' if v is None else
        ('+' if s and v >= 0.005 else '') + '%d%%' % __import__('math').floor(v * 100 + 0.5))(x[k], s)
        for k, s in (('helped_share', False), ('median_improvement', True))] for x in d['data']]")" \
    "$(lj "d['track']")"
check_eq "... the section is shown" false "$(lj "d['track_hidden']")"
sus_api=$(jget "$HS_TMP/suspensions.json" "(lambda x: 'critical by on_no_effect: stop, after the verdict %s (%s) on its decision %s' % (
    x['verdict'], x['verdict_id'], x['of']))(d['data'][0])")
check_eq "the suspended decision listed, with who and why (as GET /api/v1/suspensions), and a Resume button" \
    "$sus_api Resume" "$(lj "(lambda p: '%s %s %s' % (p['key'], p['why'].split(';')[0], p['button']))(d['suspensions'][0])")"
check_eq "... and since when" true "$(lj "d['suspensions'][0]['text'].count('since ') == 1")"
check_eq "the events show the verdict (no_effect) and the suspension" "True True" \
    "$(jget "$HS_TMP/live.json" "'%s %s' % (any(r['type'] == 'action_effect' and 'no_effect' in r['text']
        for r in d['records']), any(r['type'] == 'decision_suspended' for r in d['records']))")"

for shot in phone:390,844 desktop:1280,800; do
    name=${shot%%:*} size=${shot#*:}
    file=$ARTIFACTS/status-page-$name.png
    rm -f "$file"
    rc=0
    chromium_run "$HS_TMP/shot-$name.log" --window-size="$size" --screenshot="$file" \
        "$CTL_URL/" >/dev/null || rc=$?
    check_eq "screenshot $name: chromium exits 0" 0 "$rc"
    check_eq "... $file is a ${size/,/x} PNG" "${size/,/x}" "$(png_size "$file" 2>&1)"
done

# ---- a suspended decision resumed from the page ----------------------------------------

# Clicked in Chromium (over the DevTools protocol), as an operator would: confirm, the token
# in the prompt; done once the page's answer says so and its next refresh lists none.
click=$(chromium_click resume "$CTL_URL/" '[data-testid="suspension-resume"]' page-token \
    '(function (q) { var a = q("suspension-answer").textContent, l = q("suspensions").textContent;
        return /HTTP \d/.test(a) && (!/HTTP 200/.test(a) || l === "none") && a + " | " + l; })(
        function (id) { return document.querySelector("[data-testid=\"" + id + "\"]"); })')
say "resumed from the page: $click"
check_eq "the Resume button asks to confirm, then for the token" '["confirm", "prompt"]' \
    "$(jstr "$click" "d['dialogs']")"
check_eq "... the page says it is done, and lists no suspended decision" \
    "resume critical: HTTP 200 done; 0 still suspended | none" "$(jstr "$click" "d['value']")"
check "... no Content Security Policy violation in the console" no_csp_violation resume
check_eq "GET /api/v1/suspensions: none left" "[]" \
    "$(http_get "$HS_TMP/suspensions.json" "$CTL_URL/api/v1/suspensions" >/dev/null
        jget "$HS_TMP/suspensions.json" "d['data']")"
http_get "$HS_TMP/decisions.json" "$CTL_URL/api/v1/decisions?limit=50" >/dev/null
check_eq "... a decision_resumed record of critical, by the operator (the page's token)" \
    "critical operator admin" "$(jget "$HS_TMP/decisions.json" "(lambda r: '%s %s %s' % (r['decision'],
        r['by'], r['actor']['role']))([r for r in d['data'] if r['type'] == 'decision_resumed'][0])")"

# ---- paused, resumed -------------------------------------------------------------------

code=$(http_code "$CTL_URL/api/v1/pause" -X POST "${AUTH[@]}")
check_eq "POST /api/v1/pause answers 200" 200 "$code"
dump paused "$CTL_URL/"
check_eq "the page shows actuation PAUSED" "true PAUSED: actuation stopped" \
    "$(tid paused paused "t['value'] + ' ' + t['text']")"
check_eq "... and the pause record" true \
    "$(jget "$HS_TMP/paused.json" "any(r['type'] == 'pause' for r in d['records'])")"
check_eq "... still the state" "$api_state" "$(tid paused state "t['text']")"
check "... no Content Security Policy violation in the console" no_csp_violation paused
code=$(http_code "$CTL_URL/api/v1/resume" -X POST "${AUTH[@]}")
check_eq "POST /api/v1/resume answers 200" 200 "$code"
dump resumed "$CTL_URL/"
check_eq "the page shows actuation running again" "false actuation running" \
    "$(tid resumed paused "t['value'] + ' ' + t['text']")"

# ---- the API failing -------------------------------------------------------------------

# The page, served by a stand-in whose API answers 503.
cat >"$HS_TMP/down.py" <<'EOF'
import http.server, sys
page = open(sys.argv[1], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/"
        body = page if ok else b'{"status":"error","error":"overloaded"}\n'
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "text/html" if ok else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("listening on http://127.0.0.1:%d/" % srv.server_port, flush=True)
srv.serve_forever()
EOF
spawn "$HS_TMP/down.log" /usr/bin/python3 "$HS_TMP/down.py" "$HS_TMP/page.html"
DOWN_URL=$(wait_listening "$HS_TMP/down.log" "$HS_PID")
if [[ -n $DOWN_URL ]]; then
    dump down "$DOWN_URL"
    check_eq "with the API answering 503, the page shows the error banner" false \
        "$(tid down banner "t['ok']")"
    check "... saying why (HTTP 503: overloaded)" \
        grep -q 'cannot reach the controller API: .*HTTP 503: overloaded' \
        <<<"$(tid down banner "t['text']")"
else
    fail "the stand-in server did not start: $(cat "$HS_TMP/down.log")"
fi

# shellcheck disable=SC2317 # called through check
no_chromium() { ! pgrep -f -- "--user-data-dir=$HS_TMP/chromium-profile" >/dev/null; }
check "no chromium left running" no_chromium
finish

#!/usr/bin/env bash
# status_page_regulators: the status page's Regulators section, read by Debian's headless
# Chromium, for a controller whose gradient regulator holds a plant's p95 at its setpoint
# through the real Prometheus and the webhook actuator (the plant of regulator_prometheus.sh:
# p95 = slope x its concurrency limit, exported for Prometheus, the limit set over HTTP).
#  - from 64 at p95 1.6 against a setpoint of 0.2 the limit settles at 8 (p95 0.2); the page
#    then shows, with no CSP violation and the "updated at" banner: the section (hidden
#    without regulators: status_page.sh checks that), one entry for the regulator with its
#    law, last step (tolerance) and explanation as /api/v1/regulators gives them, the
#    signal's value 0.2, the setpoint 0.2, the output 8 with min 2, max 64 and start 64;
#    no paused or dry-run badge; among the recent events, the regulator_change records with
#    the output before and after, the outcome and the explanation
#  - two SVG charts (role img) whose accessible names state the numbers of the API's
#    history (now, first, lowest, highest, bounds; the setpoint), each also its <title>: the
#    output as a step line whose last point is drawn at 8 between the min and max gridlines,
#    the signal as a line whose last point lies on the dashed setpoint line
#  - the plant stops answering scrapes: the page says the signal is unknown, its chart says
#    at how many steps, and draws no current point
#  - paused through the API: a "paused" badge; a reload to dry_run: true: a "dry run" badge
#  - the same regulator with targets (by instance), whose runs the status leaves out: the
#    section says what the regulator is (from the rules), and the target's page (#target=ID)
#    shows the target's run of it (output, value, setpoint, step) and its two charts (the
#    first 1000 targets keep a history; the list of every target's runs leaves it out)
#  - screenshots, desktop (1280x900), phone (390x1800, tall enough for the section) and with
#    targets (1280x1100), in
#    $HOMEOSTAT_BUILD_DIR/test-artifacts/status-page-regulators-*.png
# About 50 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../chromium.sh"

require_tool prometheus curl chromium /usr/bin/python3

CONTROLLER=${HOMEOSTAT_CONTROLLER:-$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}
if [[ ! -x $CONTROLLER ]]; then
    fail "controller binary '$CONTROLLER' is missing (build the homeostat-controller target)"
    finish
fi
ARTIFACTS=$HOMEOSTAT_BUILD_DIR/test-artifacts
mkdir -p "$ARTIFACTS"

# ---- the plant, Prometheus, the controller ----------------------------------------------

# the plant: tests/integration/fakes/plant.py (p95 = slope x its limit; CONTROL: slope, down)
CONTROL=$HS_TMP/plant.json
plant() { printf '%s\n' "$1" >"$CONTROL.new" && mv "$CONTROL.new" "$CONTROL"; }
plant '{"slope": 0.025, "down": false}'
PLANT_PORT=$(free_port)
spawn "$HS_TMP/plant.log" /usr/bin/python3 "$HOMEOSTAT_SOURCE_DIR/tests/integration/fakes/plant.py" \
    --port "$PLANT_PORT" --control "$CONTROL"
[[ -n $(wait_listening "$HS_TMP/plant.log" "$HS_PID") ]] || {
    fail "the plant did not start"
    finish
}

cat >"$HS_TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: plant
    static_configs: [{targets: ['127.0.0.1:$PLANT_PORT']}]
EOF
start_prometheus "$HS_TMP/prometheus.yml" || finish

RULES=$HS_TMP/rules.yaml
write_rules() { # DRY_RUN
    cat >"$RULES" <<EOF
evaluation_interval: 1s
prometheus: {url: '$PROM_URL'}
signals:
  p95: {query: 'plant_p95_seconds', max_age: 10s}
states:
  - {name: degraded, conditions: ['p95 > 1']}
  - {name: optimal}
regulators:
  concurrency:
    signal: p95
    setpoint: 0.2
    output: {min: 2, max: 64, start: 64, integer: true}
    increases_signal: true
    law: gradient
    tolerance: 10%
    max_step: {up: 100%, down: 50%}
    settle: 2s
    dry_run: $1
    actions:
      - webhook:
          url: http://127.0.0.1:$PLANT_PORT/admin/limits
          body: {concurrency: '{{output}}'}
          retries: 0
EOF
}
write_rules false
TOKEN=operator-token-for-the-status-page-test-0123456789
printf 'ops %s\n' "$TOKEN" >"$HS_TMP/operator.tokens"
spawn "$HS_TMP/controller.log" "$CONTROLLER" --config="$RULES" --web.listen-address=127.0.0.1:0 \
    --state.directory="$HS_TMP/state" --web.operator-token-file="$HS_TMP/operator.tokens"
CTL_PID=$HS_PID
CTL_URL=$(wait_listening "$HS_TMP/controller.log" "$CTL_PID")
if [[ -z $CTL_URL ]]; then
    fail "the controller did not log 'listening on' within 10 s; its log:"
    sed 's/^/    /' "$HS_TMP/controller.log"
    finish
fi
CTL_URL=${CTL_URL%/}

# reg EXPR: EXPR over GET /api/v1/regulators' first regulator (r), saved in HS_TMP/reg.json.
# shellcheck disable=SC2317 # called through wait_until
reg() {
    http_get "$HS_TMP/reg.json" "$CTL_URL/api/v1/regulators" >/dev/null
    jget "$HS_TMP/reg.json" "(lambda r: $1)(d['data'][0])"
}
# shellcheck disable=SC2317 # called through wait_until
reg_is() { [[ $(reg "$1") == "$2" ]]; }

# The regulators of a dump, as JSON: for each <li data-regulator>, the text and data-* of
# its data-testid elements, its flags, and its charts (the svg's attributes, its <title>,
# its paths and circles by class).
cat >"$HS_TMP/regs.py" <<'PY'
import html.parser, json, sys

class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.regs, self.hidden = [], {}, None
        self.reg, self.svg = None, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("data-testid") == "regulators-section":
            self.hidden = "hidden" in a
        node = {"tag": tag, "attrs": a, "text": ""}
        if "data-regulator" in a:  # keyed "LIST/NAME", LIST the data-testid of its list
            lists = [n["attrs"]["data-testid"] for n in self.stack if n["tag"] == "ul"
                     and "data-testid" in n["attrs"]]
            key = "%s/%s" % (lists[-1] if lists else "", a["data-regulator"])
            self.reg = self.regs[key] = {"testids": {}, "flags": [], "charts": {}, "text": ""}
            node["reg"] = True
        if self.reg is not None and tag == "svg" and "data-chart" in a:
            self.svg = self.reg["charts"][a["data-chart"]] = {
                "attrs": a, "title": "", "texts": [], "paths": {}, "circles": {}}
            node["svg"] = True
        if self.svg is not None and tag in ("path", "circle"):
            self.svg["paths" if tag == "path" else "circles"][a.get("class")] = a
        if tag not in ("meta", "br", "img", "input", "link"):
            self.stack.append(node)
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in ("meta", "br", "img", "input", "link"):
            self.handle_endtag(tag)
    def handle_endtag(self, tag):
        while self.stack:
            n = self.stack.pop()
            if self.stack:
                self.stack[-1]["text"] += n["text"]
            a, t = n["attrs"], n["text"].strip()
            if self.reg is not None:
                if "data-testid" in a:
                    self.reg["testids"][a["data-testid"]] = t
                if "flag" in a.get("class", "").split():
                    self.reg["flags"].append(t)
                if self.svg is not None and n["tag"] == "title":
                    self.svg["title"] = t
                if self.svg is not None and n["tag"] == "text":
                    self.svg["texts"].append(t)
            if n.get("svg"):
                self.svg = None
            if n.get("reg"):
                self.reg["text"] = t
                self.reg = None
            if n["tag"] == tag:
                break
    def handle_data(self, data):
        if self.stack:
            self.stack[-1]["text"] += data

p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
print(json.dumps({"hidden": p.hidden, "regulators": p.regs}))
PY
# rdump NAME URL: dump (chromium.sh), then the regulators of it into HS_TMP/NAME.regs.json.
rdump() {
    dump "$1" "$2"
    /usr/bin/python3 "$HS_TMP/regs.py" "$HS_TMP/$1.html" >"$HS_TMP/$1.regs.json"
}
# r NAME EXPR [LIST]: EXPR over the regulator "concurrency" of the list LIST (regulators,
# the section's; target-regulators, a target's page) of the dump NAME (r).
r() { jget "$HS_TMP/$1.regs.json" "(lambda r: $2)(d['regulators']['${3:-regulators}/concurrency'])"; }
# shellcheck disable=SC2317 # called through check
no_csp_violation() { ! grep -qi 'content security policy' "$HS_TMP/$1.chromium.log"; }
# on_line NAME CHART CIRCLE LINE-VALUE HI LO: the circle CIRCLE of the chart CHART is drawn at
# the height of LINE-VALUE on the axis from the gridlines of HI (top) and LO (bottom) (0.15
# of a pixel for the rounding); prints true or false.
on_line() {
    jget "$HS_TMP/$1.regs.json" "(lambda c: (lambda g: abs(float(c['circles']['$3']['cy']) -
        (g[0] + ($5 - $4) / ($5 - $6) * (g[1] - g[0]))) < 0.15)([float(m.split()[1].split('H')[0])
        for m in c['paths']['grid']['d'].split('M')[1:]]))(d['regulators']['regulators/concurrency']['charts']['$2'])"
}
shot() {
    local name=$1 size=$2 rc=0 file=$ARTIFACTS/status-page-regulators-$1.png
    rm -f "$file"
    chromium_run "$HS_TMP/shot-$name.log" --window-size="$size" --screenshot="$file" "$CTL_URL/" \
        >/dev/null || rc=$?
    check_eq "screenshot $name: chromium exits 0" 0 "$rc"
    check_eq "... $file is a ${size/,/x} PNG" "${size/,/x}" "$(png_size "$file")"
}

# ---- settled at 8 -------------------------------------------------------------------------

# shellcheck disable=SC2317 # called through wait_until
settled() { reg_is "'%d %s %s' % (r['output'], r['last_step'], len(r['history']) >= 6)" "8 tolerance True"; }
if wait_until 45 settled; then
    pass "the regulator settled: output 8 at p95 0.2, within the tolerance"
else
    fail "not settled at 8 after 45 s: $(head -c 1500 "$HS_TMP/reg.json")"
fi
rdump live "$CTL_URL/"
cp "$HS_TMP/reg.json" "$HS_TMP/live.api.json"
# api EXPR: EXPR over the API's regulator (r) read right after the dump.
api() { jget "$HS_TMP/live.api.json" "(lambda r: $1)(d['data'][0])"; }
# The page's numbers as it writes them (num() in status.html: 4 significant digits).
pnum() { /usr/bin/python3 -c 'import sys; print("%.4g" % float(sys.argv[1]))' "$1"; }

check "no Content Security Policy violation in the console" no_csp_violation live
check_eq "the banner says when it was updated (the page rendered without an error)" true \
    "$(tid live banner "t['ok'] == 'true' and t['text'].startswith('updated at ')")"
check_eq "the Regulators section is shown" false "$(jget "$HS_TMP/live.regs.json" "d['hidden']")"
check_eq "... with one regulator, concurrency" '["regulators/concurrency"]' \
    "$(jget "$HS_TMP/live.regs.json" "sorted(d['regulators'])")"
check_eq "... its law" true "$(r live "'law gradient' in r['text']")"
check_eq "... its last step" tolerance "$(r live "r['testids']['regulator-step']")"
check_eq "... its explanation, as the API gives it" "$(api "r['explanation']")" \
    "$(r live "r['testids']['regulator-explanation']")"
say "explanation: $(api "r['explanation']")"
check_eq "... the signal's value (p95 0.2)" 0.2 "$(r live "r['testids']['regulator-value']")"
check_eq "... the setpoint" 0.2 "$(r live "r['testids']['regulator-setpoint']")"
check_eq "... the output" 8 "$(r live "r['testids']['regulator-output']")"
check_eq "... with its bounds and start" true "$(r live "'(min 2, max 64, start 64)' in r['text']")"
check_eq "... neither paused nor in a dry run" '[]' "$(r live "r['flags']")"
check_eq "the recent events show the last change (16 -> 8), applied, with its explanation" true \
    "$(jget "$HS_TMP/live.json" "any(r['type'] == 'regulator_change' and 'applied' in r['text'] and
        'concurrency 16 \\u2192 8' in r['text'] and 'gradient' in r['text'] for r in d['records'])")"

# The numbers the charts' names state, from the API's history.
hist_outs=$(api "' '.join('%g' % p['output'] for p in r['history'])")
say "history of the output: $hist_outs"
first=$(api "'%g' % r['history'][0]['output']")
out_hi=$(api "'%g' % max(p['output'] for p in r['history'])")
sig_hi=$(api "'%g' % max(p['value'] for p in r['history'] if p['value'] is not None)")
# Steps before Prometheus' first scrape have an unknown signal; the name counts them.
sig_unknown=$(api "(lambda n: '; unknown at %d of them' % n if n else '')(
    sum(p['value'] is None for p in r['history']))")
check_eq "the output chart: an image" img "$(r live "r['charts']['output']['attrs']['role']")"
out_label=$(r live "r['charts']['output']['attrs']['aria-label']")
say "output chart: $out_label"
check_eq "... its name states the numbers: now 8, the first, lowest 8, the highest, the bounds" \
    "now 8, first $(pnum "$first"); lowest 8, highest $(pnum "$out_hi"); bounds 2 to 64" \
    "${out_label#*): }"
check_eq "... and names the output and its regulator" true \
    "$(r live "r['charts']['output']['attrs']['aria-label'].startswith('concurrency (output of concurrency) over the last ')")"
check_eq "... its <title> says the same" "$out_label" "$(r live "r['charts']['output']['title']")"
check_eq "... it draws one point per step of the history (at least 6)" true \
    "$(r live "int(r['charts']['output']['attrs']['data-points']) >= 6")"
check_eq "... as a step line, one vertical per change (at least 2: 32 -> 16 -> 8)" true \
    "$(r live "r['charts']['output']['paths']['line-out']['d'].count('V') >= 2")"
check_eq "... the axis labelled with max and min" true \
    "$(r live "r['charts']['output']['texts'][:2] == ['64', '2']")"
check_eq "... its last point drawn at 8 between the gridlines of 64 and 2" true \
    "$(on_line live output dot-out 8 64 2)"

check_eq "the signal chart: an image" img "$(r live "r['charts']['signal']['attrs']['role']")"
sig_label=$(r live "r['charts']['signal']['attrs']['aria-label']")
say "signal chart: $sig_label"
check_eq "... its name states the numbers: now 0.2, the setpoint, lowest 0.2, the highest" \
    "now 0.2, setpoint 0.2; lowest 0.2, highest $(pnum "$sig_hi")$sig_unknown" \
    "${sig_label#*): }"
check_eq "... its <title> says the same" "$sig_label" "$(r live "r['charts']['signal']['title']")"
check_eq "... the setpoint as a dashed line, labelled" true \
    "$(r live "'line-sp' in r['charts']['signal']['paths'] and 'setpoint 0.2' in r['charts']['signal']['texts']")"
# The axis of the signal chart, as its labels give it: the top at least the highest value.
sig_top=$(r live "r['charts']['signal']['texts'][0]")
check_eq "... its axis from 0 to $sig_top, above the highest value ($sig_hi)" "0 true" \
    "$(r live "r['charts']['signal']['texts'][1]") $(jget "$HS_TMP/live.regs.json" "$sig_top >= $sig_hi")"
check_eq "... the setpoint line drawn at 0.2 on that axis" true \
    "$(jget "$HS_TMP/live.regs.json" "(lambda c: (lambda g, y: abs(y - (g[0] + ($sig_top - 0.2) /
        $sig_top * (g[1] - g[0]))) < 0.15)([float(m.split()[1].split('H')[0]) for m in
        c['paths']['grid']['d'].split('M')[1:]], float(c['paths']['line-sp']['d'].split()[1].split('H')[0])))(
        d['regulators']['regulators/concurrency']['charts']['signal'])")"
check_eq "... the signal's last point on the setpoint line" true \
    "$(on_line live signal dot-sig 0.2 "$sig_top" 0)"
shot desktop 1280,900
shot phone 390,1800

# ---- the signal unknown ---------------------------------------------------------------------

plant '{"slope": 0.025, "down": true}'
# shellcheck disable=SC2317
unknown_now() { reg_is "r['last_step'] + ' ' + str(r['value'])" "unknown None"; }
check "the plant stops answering: the API says the signal is unknown" wait_until 20 unknown_now
rdump unknown "$CTL_URL/"
check_eq "the page says the signal is unknown" unknown \
    "$(r unknown "r['testids']['regulator-value']")"
check_eq "... and the step" unknown "$(r unknown "r['testids']['regulator-step']")"
check_eq "... the output holds at 8" 8 "$(r unknown "r['testids']['regulator-output']")"
check_eq "the signal chart's name says now unknown, and at how many steps" true \
    "$(r unknown "(lambda l: 'now unknown, setpoint 0.2' in l and '; unknown at ' in l)(
        r['charts']['signal']['attrs']['aria-label'])")"
check_eq "... and it draws no current point" false \
    "$(r unknown "'dot-sig' in r['charts']['signal']['circles']")"
check "no Content Security Policy violation in the console (unknown)" no_csp_violation unknown
plant '{"slope": 0.025, "down": false}'
# shellcheck disable=SC2317
known_again() { reg_is "r['last_step']" tolerance; }
check "the plant answers again: within the tolerance" wait_until 20 known_again

# ---- paused, dry run ------------------------------------------------------------------------

check_eq "POST /api/v1/pause answers 200" 200 \
    "$(http_code "$CTL_URL/api/v1/pause" -X POST -H "Authorization: Bearer $TOKEN")"
# shellcheck disable=SC2317
paused_now() { reg_is "r['paused']" true; }
check "the API says the regulator is paused" wait_until 10 paused_now
rdump paused "$CTL_URL/"
check_eq "the page shows the regulator paused" '["paused"]' "$(r paused "r['flags']")"
check_eq "POST /api/v1/resume answers 200" 200 \
    "$(http_code "$CTL_URL/api/v1/resume" -X POST -H "Authorization: Bearer $TOKEN")"

write_rules true
kill -HUP "$CTL_PID"
# shellcheck disable=SC2317
dry_now() { reg_is "'%s %s' % (r['dry_run'], r['paused'])" "True False"; }
check "reloaded with dry_run: true, the API says so" wait_until 10 dry_now
rdump dry "$CTL_URL/"
check_eq "the page shows the regulator in a dry run" '["dry run"]' "$(r dry "r['flags']")"
check "no Content Security Policy violation in the console (dry run)" no_csp_violation dry

stop_process "$CTL_PID"
check_eq "the controller stops cleanly" 0 "$HS_STATUS"

# ---- with targets ---------------------------------------------------------------------------

# The same regulator per target (targets by instance: the plant is one target). It starts
# at 64 with the plant at 8 (p95 0.2): within the tolerance, it stays there.
sed -i -e 's/^signals:/targets: {by: [instance]}\nsignals:/' -e 's/dry_run: true/dry_run: false/' "$RULES"
spawn "$HS_TMP/controller.targets.log" "$CONTROLLER" --config="$RULES" \
    --web.listen-address=127.0.0.1:0 --state.directory="$HS_TMP/state.targets"
CTL_PID=$HS_PID
CTL_URL=$(wait_listening "$HS_TMP/controller.targets.log" "$CTL_PID")
CTL_URL=${CTL_URL%/}
# shellcheck disable=SC2317
target_held() { reg_is "[(x['output'], x['last_step']) for x in r['targets']]" '[[64.0, "tolerance"]]'; }
if [[ -n $CTL_URL ]] && wait_until 20 target_held; then
    pass "with targets, the plant's target holds 64 within the tolerance"
else
    fail "with targets: $(head -c 1500 "$HS_TMP/reg.json" 2>/dev/null)"
fi
rdump fleet "$CTL_URL/"
http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status" >/dev/null
check "no Content Security Policy violation in the console (targets)" no_csp_violation fleet
check_eq "the banner says when it was updated" true \
    "$(tid fleet banner "t['ok'] == 'true' and t['text'].startswith('updated at ')")"
check_eq "the status leaves the targets' regulators out" false \
    "$(jget "$HS_TMP/status.json" "'regulators' in d['data']")"
check_eq "the Regulators section says what the regulator is, from the rules (nothing missing)" \
    '[]' "$(r fleet "[w for w in ('law gradient', 'p95 setpoint 0.2', 'concurrency 2–64 (start 64)',
        \"a target's page shows\") if w not in r['text']]")"
shot targets 1280,1100
ID=$(reg "r['targets'][0]['id']")
rdump target "$CTL_URL/#target=$ID"
check "no Content Security Policy violation in the console (a target)" no_csp_violation target
check_eq "the target's page shows its regulator: output, value, setpoint, step" \
    "64 0.2 0.2 tolerance" "$(r target "' '.join(r['testids'][k] for k in ('regulator-output',
        'regulator-value', 'regulator-setpoint', 'regulator-step'))" target-regulators)"
# the target's history, as the API gives it for its page
http_get "$HS_TMP/target.json" "$CTL_URL/api/v1/targets/$ID" >/dev/null
t_points=$(jget "$HS_TMP/target.json" "len(d['data']['regulators'][0]['history'])")
check "the target's API has the run's history (got $t_points steps)" test "$t_points" -ge 1
check_eq "... and the list of every target's runs leaves it out" false \
    "$(reg "'history' in r['targets'][0]")"
check_eq "... its page draws the two charts of its run" "output signal" \
    "$(r target "' '.join(sorted(r['charts']))" target-regulators)"
check_eq "... the output chart says 64 now, within 2..64" true \
    "$(r target "r['charts']['output']['attrs']['aria-label'].startswith('concurrency (output of concurrency) over the last ') and 'now 64' in r['charts']['output']['attrs']['aria-label']" target-regulators)"
finish

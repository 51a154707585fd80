#!/usr/bin/env bash
# status_page_targets: the status page of a controller with targets (targets: {by:
# [service]}), read by Debian's headless Chromium, at 10 and at 5,000 targets. The real
# exporter ingests a gauge per service (pushed), the real Prometheus scrapes it, the
# controller evaluates every service:
#  - 10 targets, one critical: the Targets section shows 10 targets and the count of each
#    state, the table lists the 10, worst first; #target=ID shows that target's state,
#    reasoning, signals and last decision, and no list; no CSP violation; the baseline of
#    its signal (seeded) in words and as the band on its chart, as GET /api/v1/targets/ID
#  - 5,000 targets: the counts say 5,000, the table holds one page (100 rows) and says
#    "1–100 of 5000"; #search=svc04242 leaves one row; #state=critical the critical ones
#  - screenshots at 10 and at 5,000 targets (1280x900, and a phone at 5,000), in
#    $HOMEOSTAT_BUILD_DIR/test-artifacts/status-page-targets-*.png
# About 40 s.
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

# push N CRITICAL: app.load for svc00000..svc(N-1), CRITICAL of them (from svc00000) at 2.
push() {
    /usr/bin/python3 - "$EXPORTER_BASE/api/v1/push" "$1" "$2" <<'PY'
import sys, urllib.request
url, n, bad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = ["app.load:%g|g|#service:svc%05d" % (2 if i < bad else 0.1, i) for i in range(n)]
body = ("\n".join(lines) + "\n").encode()
while body:
    part = body[:60000]
    part = part[: part.rfind(b"\n") + 1]
    urllib.request.urlopen(urllib.request.Request(
        url, data=part, headers={"Content-Type": "text/plain"}), timeout=10).read()
    body = body[len(part):]
PY
}

start_exporter --collector.disable-defaults || finish
push 10 1
cat >"$HS_TMP/prometheus.yml" <<EOF2
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: homeostat
    static_configs: [{targets: ['$EXPORTER_ADDR']}]
EOF2
start_prometheus "$HS_TMP/prometheus.yml" || finish

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<'EOF2'
evaluation_interval: 1s
prometheus: {url: "http://127.0.0.1:9/"}
targets: {by: [service], max: 10000}
signals:
  load:
    query: app_load
    max_age: 30s
    baseline: {learn_in: [optimal], min_samples: 50}
states:
  - {name: critical, conditions: ["load > 0.8"], severity: critical}
  - {name: optimal}
limits: {max_targets_acting: 0}
decisions:
  critical:
    cooldown: 1h
    actions:
      - exec: ['/bin/true', '{{ $labels.service }}']
EOF2
# svc00000's baseline of load, seeded (100 values: 60 of 1, 30 of 1.5, 10 of 3, as
# baseline learn writes them); it is critical, so it learns no more. The other targets
# learn while optimal (0.1 a second: ready after 50 s, min_samples 50).
/usr/bin/python3 - >"$HS_TMP/seed.json" <<'EOF2'
import json, math, time
gamma, now, buckets = 1.02 / 0.98, time.time(), {}
for v, n in ((1, 60), (1.5, 30), (3, 10)):
    k = math.ceil(math.log(v) / math.log(gamma))
    buckets[k] = buckets.get(k, 0) + n
cur = [now - 600, 0, sorted([k, n] for k, n in buckets.items()), now - 5]
print(json.dumps({"targets": {'{service="svc00000"}': {"load": {
    "season": "none", "window": 3600, "learned": 100, "last_learned": now - 5,
    "slots": {"0": {"cur": cur, "prev": [0, 0, [], 0]}}}}}}))
EOF2
spawn "$HS_TMP/controller.log" "$CONTROLLER" --config="$RULES" --web.listen-address=127.0.0.1:0 \
    --prometheus.url="$PROM_URL" --state.directory="$HS_TMP/state" --baselines.seed="$HS_TMP/seed.json"
CTL_URL=$(wait_listening "$HS_TMP/controller.log" "$HS_PID")
if [[ -z $CTL_URL ]]; then
    fail "the controller did not log 'listening on' within 10 s; its log:"
    sed 's/^/    /' "$HS_TMP/controller.log"
    finish
fi
CTL_URL=${CTL_URL%/}

summary() {
    http_get "$HS_TMP/status.json" "$CTL_URL/api/v1/status" >/dev/null
    jget "$HS_TMP/status.json" "d['data'].get('targets', {})$1"
}
# shellcheck disable=SC2317 # called through wait_until
counts_are() { [[ $(summary "['total']") == "$1" && $(summary "['per_state']['critical']") == "$2" ]]; }
# no_csp_violation NAME: nothing in the dump's Chromium log about the policy.
no_csp_violation() { ! grep -qi "content security policy" "$HS_TMP/$1.chromium.log"; }
shot() {
    local name=$1 size=$2 url=$3 rc=0 file=$ARTIFACTS/status-page-targets-$1.png
    rm -f "$file"
    chromium_run "$HS_TMP/shot-$name.log" --window-size="$size" --screenshot="$file" "$url" \
        >/dev/null || rc=$?
    check_eq "screenshot $name: chromium exits 0" 0 "$rc"
    check_eq "screenshot $name is a ${size/,/x} PNG" "${size/,/x}" "$(png_size "$file")"
}

# ---- 10 targets ----------------------------------------------------------------------
if wait_until 30 counts_are 10 1; then pass "10 targets, 1 critical"; else fail "targets: $(summary '')"; fi
dump ten "$CTL_URL/"
check "no Content-Security-Policy violation" no_csp_violation ten
check "the Targets section is shown" test -n "$(tid ten targets-section "t['text']")"
check "... not hidden" grep -qv 'data-testid="targets-section" hidden' <<<"$(grep -o 'data-testid="targets-section"[^>]*' "$HS_TMP/ten.html")"
check_eq "the counts of each state" "critical=1 optimal=9 unknown=0" \
    "$(jget "$HS_TMP/ten.json" "' '.join('%s=%d' % kv for kv in sorted(d['counts'].items()))")"
check_eq "the table lists the 10, the critical one first" '10 {service="svc00000"} critical' \
    "$(jget "$HS_TMP/ten.json" "'%d %s %s' % (len(d['rows']), d['rows'][0]['key'], d['rows'][0]['state'])")"
check_eq "the page says 1–10 of 10" "1–10 of 10" "$(tid ten target-page "t['text']")"

http_get "$HS_TMP/list.json" "$CTL_URL/api/v1/targets?search=svc00000" >/dev/null
ID=$(jget "$HS_TMP/list.json" "d['data']['targets'][0]['id']")
dump one "$CTL_URL/#target=$ID"
check "no Content-Security-Policy violation (one target)" no_csp_violation one
check_eq "#target=ID shows that target" '{service="svc00000"} critical' \
    "$(tid one target-key "t['text']") $(tid one target-state-now "t['text']")"
check "... its reasoning" test -n "$(tid one target-reasoning "t['text']")"
check_eq "... its signal" "load 2" "$(jget "$HS_TMP/one.json" "' '.join(d['signals']['load']['text'].split('baseline')[0].split())")"
learning one target-signals
http_get "$HS_TMP/one.api.json" "$CTL_URL/api/v1/targets/$ID" >/dev/null
# ob EXPR: EXPR over the target's baseline of load (b) in GET /api/v1/targets/ID
ob() { jget "$HS_TMP/one.api.json" "(lambda b: $1)(d['data']['baselines'][0])"; }
pnum() { /usr/bin/python3 -c 'import sys; print("%.4g" % float(sys.argv[1]))' "$1"; }
med=$(ob "b['quantiles']['0.5']") q99=$(ob "b['quantiles']['0.99']")
want="baseline (slot all, $(ob "b['count']") samples): median $(pnum "$med"), q=0.99 $(pnum "$q99")"
check_eq "... its baseline (seeded, ready) as its GET /api/v1/targets/ID gives it" "true $want" \
    "$(jget "$HS_TMP/one.learning.json" "' '.join(d['load']['baseline'][k] for k in ('ready', 'text'))")"
check_eq "... its chart: named with those numbers, the band from the median to q=0.99 at their heights" \
    "True True True" "$(jget "$HS_TMP/one.learning.json" "(lambda c, at: '%s %s %s' % (
        c['aria-label'].endswith('; $want'), abs(float(c['band']['y']) - at(c, $q99)) < 0.2,
        abs(float(c['band']['y']) + float(c['band']['height']) - at(c, $med)) < 0.2))(
        d['load']['chart'], $CHART_AT)")"
check "... its last decision, executed" grep -q executed <<<"$(tid one target-decision "t['text']")"
check "... and hides the list" grep -q 'data-testid="targets-section" hidden' "$HS_TMP/one.html"
shot ten 1280,900 "$CTL_URL/"

# ---- 5,000 targets -------------------------------------------------------------------
push 5000 25
if wait_until 60 counts_are 5000 25; then pass "5000 targets, 25 critical"; else fail "targets: $(summary '')"; fi
dump many "$CTL_URL/"
check "no Content-Security-Policy violation (5000)" no_csp_violation many
check_eq "the counts say 5000" "5000 25" \
    "$(jget "$HS_TMP/many.json" "'%d %d' % (sum(d['counts'].values()), d['counts']['critical'])")"
check_eq "one page of 100 rows, the critical first" "100 critical critical" \
    "$(jget "$HS_TMP/many.json" "'%d %s %s' % (len(d['rows']), d['rows'][0]['state'], d['rows'][24]['state'])")"
check_eq "the page says 1–100 of 5000" "1–100 of 5000" "$(tid many target-page "t['text']")"
dump search "$CTL_URL/#search=svc04242"
check_eq "#search=svc04242 leaves one row" '1 {service="svc04242"}' \
    "$(jget "$HS_TMP/search.json" "'%d %s' % (len(d['rows']), d['rows'][0]['key'])")"
dump critical "$CTL_URL/#state=critical"
check_eq "#state=critical lists the 25 critical" "25 critical" \
    "$(jget "$HS_TMP/critical.json" "'%d %s' % (len(d['rows']), ' '.join(sorted(set(r['state'] for r in d['rows']))))")"
shot many 1280,900 "$CTL_URL/"
shot many-phone 390,844 "$CTL_URL/"
finish

#!/usr/bin/env bash
# report_prometheus: the health report (`homeostat-controller report`, GET /api/v1/report)
# with rules/default.yaml against a real Prometheus whose history this test writes
# (report_history.py): OpenMetrics with known values from 7 hours ago to 15 minutes ahead
# (so that every 10-minute rate and the 5-minute lookback have samples for the whole
# test), turned into TSDB blocks by `promtool tsdb create-blocks-from openmetrics`,
# Prometheus started on them. Two hosts like node_exporter targets: node-a with its CPU
# 95 % busy, "/" 97 % full and filling (0.5 GiB an hour less), node-b at 10 % CPU and 25 %
# memory (rightsizing); the shop with 5 % of its requests failing, its cache at 80 % hits,
# its breaker closed; no GPU, no latency histogram, no cgroups.
#  - the CLI's JSON: exactly the expected issues (check, severity, labels, value, texts),
#    the score by the formula (100 - 30 - 30 - 10 - 10 = 20, critical), the optimizations,
#    the checks without data listed as not evaluated and never counted as passed
#  - --quick: the slow checks and optimizations skipped and listed, score 30
#  - the text output, --output FILE, --output-dir with --keep 3 (older reports pruned,
#    other files untouched), errors (Prometheus unreachable, invalid rules, bad flags)
#  - GET /api/v1/report of a running controller whose state is degraded: the CLI's issues
#    plus one for the state, the score 10 lower; ?quick=1&format=text; one report at a
#    time (429 while a slow Prometheus keeps one busy); 503 when Prometheus is gone.
# About 15 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus promtool curl /usr/bin/python3

CONTROLLER=${HOMEOSTAT_CONTROLLER:-$HOMEOSTAT_BUILD_DIR/controller/homeostat-controller}
RULES=$HOMEOSTAT_SOURCE_DIR/rules/default.yaml

# ---- the history ----------------------------------------------------------------------
NOW=$(date +%s)
/usr/bin/python3 "$HOMEOSTAT_SOURCE_DIR/tests/integration/controller/report_history.py" "$NOW" \
    >"$HS_TMP/history.om"
mkdir -p "$HS_TMP/tsdb"
check "promtool turns the history into TSDB blocks" \
    promtool tsdb create-blocks-from openmetrics --quiet "$HS_TMP/history.om" "$HS_TMP/tsdb"

printf 'global: {scrape_interval: 15s}\n' >"$HS_TMP/prometheus.yml"
start_prometheus "$HS_TMP/prometheus.yml" "$HS_TMP/tsdb" 30d
check "Prometheus serves the created history (node-a's CPU busy ratio)" \
    wait_until 20 prom_has 'rate(homeostat_cpu_busy_ratio_sum{instance="node-a:9100"}[10m]) > 9'

# ---- the CLI ---------------------------------------------------------------------------
rc=0
"$CONTROLLER" report --config="$RULES" --prometheus.url="$PROM_URL" --format=json \
    >"$HS_TMP/full.json" 2>"$HS_TMP/full.err" || rc=$?
check_eq "report --format=json exits 0" 0 "$rc"
[[ -s $HS_TMP/full.err ]] && sed 's/^/    stderr: /' "$HS_TMP/full.err"
full=$HS_TMP/full.json

# The issues as "check severity labels value" lines, sorted, labels that matter only.
issues_of() {
    jget "$1" '"\n".join(sorted("%s %s %s %.2g" % (i["check"], i["severity"], ",".join(
    "%s=%s" % kv for kv in sorted(i["labels"].items()) if kv[0] in ("instance", "mountpoint",
    "service", "state")), i["value"] if i["value"] is not None else -1) for i in d["issues"]))'
}
check_eq "exactly the expected issues" \
    "app_error_ratio warning service=shop 0.05
cpu_busy critical instance=node-a:9100 0.95
filesystem_fill warning instance=node-a:9100,mountpoint=/ -9.7e+09
filesystem_space critical instance=node-a:9100,mountpoint=/ 0.97" "$(issues_of "$full")"
# filesystem_fill's value is the predicted free space in 24 h: 3 GiB - 24 h * 0.5 GiB/h.
check_eq "filesystem_fill predicts -9 GiB free in a day" "-9.0" \
    "$(jget "$full" '"%.1f" % ([i["value"] for i in d["issues"] if i["check"] ==
    "filesystem_fill"][0] / 2**30)')"
check_eq "the issues are ordered worst first" "critical critical warning warning" \
    "$(jget "$full" '" ".join(i["severity"] for i in d["issues"])')"
check_eq "the score follows the formula over the issues' severities" "20 20" \
    "$(jget "$full" '"%d %d" % (d["score"], max(0, 100 - 30 * d["counts"]["issues"]["critical"]
    - 10 * d["counts"]["issues"]["warning"] - 2 * d["counts"]["issues"]["info"]))')"
check_eq "... and the status is critical" critical "$(jget "$full" 'd["status"]')"
check_eq "... the report says its formula" \
    "max(0, 100 - 30 * critical - 10 * warning - 2 * info), over the issues" \
    "$(jget "$full" 'd["score_formula"]')"
check_eq "cpu_busy's texts come from the rules' annotations" \
    "CPU of node-a:9100 95% busy over 10 minutes|cpu|Find the busiest services" \
    "$(jget "$full" '[ "%s|%s|%s" % (i["summary"], i["component"], i["recommendation"][:25])
    for i in d["issues"] if i["check"] == "cpu_busy"][0]')"
check_eq "filesystem_space names the mount point and its fullness" \
    "/ on node-a:9100 97% full" \
    "$(jget "$full" '[i["summary"] for i in d["issues"] if i["check"] == "filesystem_space"][0]')"
check_eq "app_error_ratio: 5% of the shop's requests fail" "shop: 5% of requests fail" \
    "$(jget "$full" '[i["summary"] for i in d["issues"] if i["check"] == "app_error_ratio"][0]')"
check_eq "the optimizations: node-b's CPU and memory are oversized" \
    "cpu_rightsizing rightsizing node-b:9100 0.10
memory_rightsizing rightsizing node-b:9100 0.25" \
    "$(jget "$full" '"\n".join(sorted("%s %s %s %.2f" % (o["name"], o["type"],
    o["labels"]["instance"], o["value"]) for o in d["optimizations"]))')"
check_eq "the checks without data are listed as not evaluated (no data)" \
    "gpu_busy gpu_memory gpu_temperature app_latency_p95 gpu_idle cpu_quota_saturated cpu_throttling memory_limit_near" \
    "$(jget "$full" '" ".join(x["name"] for x in d["not_evaluated"])')"
check_eq "... each for want of data, none for a failed query" "no_data" \
    "$(jget "$full" '" ".join(sorted(set(x["status"] for x in d["not_evaluated"])))')"
check_eq "... and never counted as passed: passed + with issues + not evaluated = checks" \
    "23 = 15 + 4 + 4" \
    "$(jget "$full" '"%d = %d + %d + %d" % (d["counts"]["checks"], d["counts"]["passed"],
    d["counts"]["with_issues"], len([x for x in d["not_evaluated"] if x["kind"] == "check"]))')"
check_eq "the summary line" \
    "critical, score 20/100: 4 issues (2 critical, 2 warning, 0 info), 2 optimizations; 19 of 23 checks evaluated, 4 could not be" \
    "$(jget "$full" 'd["summary"]')"
check_eq "no controller state outside the daemon" null "$(jget "$full" 'd["controller"]')"

# --quick: the slow ones are skipped and listed.
rc=0
"$CONTROLLER" report --config="$RULES" --prometheus.url="$PROM_URL" --format=json --quick \
    >"$HS_TMP/quick.json" || rc=$?
check_eq "report --quick exits 0" 0 "$rc"
check_eq "--quick skips the slow checks and optimizations" \
    "filesystem_fill cpu_rightsizing memory_rightsizing gpu_idle" \
    "$(jget "$HS_TMP/quick.json" '" ".join(x["name"] for x in d["skipped"])')"
check_eq "... so filesystem_fill is no issue and the score is 30" \
    "app_error_ratio cpu_busy filesystem_space 30" \
    "$(jget "$HS_TMP/quick.json" '(" ".join(sorted(i["check"] for i in d["issues"])) + " " +
    str(d["score"]))')"
check_eq "... and the report says it was quick" true "$(jget "$HS_TMP/quick.json" 'd["quick"]')"

# Text, to standard output and to --output.
rc=0
"$CONTROLLER" report --config="$RULES" --prometheus.url="$PROM_URL" >"$HS_TMP/full.txt" || rc=$?
check_eq "report (text) exits 0" 0 "$rc"
check "the text has the status and score" grep -qxF "Status: CRITICAL    Score: 20/100" \
    "$HS_TMP/full.txt"
check "... each issue on a line with its severity and component" grep -qxF \
    "  [CRITICAL] cpu: CPU of node-a:9100 95% busy over 10 minutes (cpu_busy)" \
    "$HS_TMP/full.txt"
check "... the optimizations" grep -q "^  \[rightsizing, impact medium, effort medium\] " \
    "$HS_TMP/full.txt"
check "... and the checks not evaluated" grep -qxF \
    "  gpu_busy (check): no data: the query returned no series" "$HS_TMP/full.txt"
rc=0
"$CONTROLLER" report --config="$RULES" --prometheus.url="$PROM_URL" --format=json \
    --output="$HS_TMP/out.json" >"$HS_TMP/out.stdout" || rc=$?
check_eq "--output writes the file (exit 0)" "0 20" "$rc $(jget "$HS_TMP/out.json" 'd["score"]')"
check_eq "... and nothing to standard output" "" "$(cat "$HS_TMP/out.stdout")"

# --output-dir with --keep 3: the newest 3 report-*.json stay, nothing else is touched.
dir=$HS_TMP/reports
mkdir -p "$dir"
for old in 20200101T000000Z 20200102T000000Z 20200103T000000Z 20200104T000000Z; do
    echo '{}' >"$dir/report-$old.json"
done
echo keep >"$dir/notes.txt"
echo keep >"$dir/report-latest.json"
rc=0
"$CONTROLLER" report --config="$RULES" --prometheus.url="$PROM_URL" --output-dir="$dir" \
    --keep=3 >"$HS_TMP/dir.stdout" || rc=$?
check_eq "--output-dir --keep=3 exits 0" 0 "$rc"
new=
for f in "$dir"/report-2*Z.json; do
    f=${f##*/}
    [[ $f == report-2020* ]] || new=$f
done
check "... wrote one new report named by the UTC time ($new)" \
    bash -c '[[ $1 =~ ^report-[0-9]{8}T[0-9]{6}Z\.json$ ]]' _ "$new"
check_eq "... which is the JSON report" 20 "$(jget "$dir/$new" 'd["score"]')"
check_eq "... and kept the newest 3 reports, nothing else touched" \
    "notes.txt report-20200103T000000Z.json report-20200104T000000Z.json $new report-latest.json" \
    "$(cd "$dir" && printf '%s\n' * | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
check "... printing the file and its summary" grep -qF "$dir/$new: critical, score 20/100" \
    "$HS_TMP/dir.stdout"

# Errors.
closed=$(free_port)
rc=0
"$CONTROLLER" report --config="$RULES" --prometheus.url="http://127.0.0.1:$closed" \
    >/dev/null 2>"$HS_TMP/closed.err" || rc=$?
check_eq "Prometheus unreachable: exit 1" 1 "$rc"
check "... saying so" grep -q "cannot query Prometheus: connection refused (http://127.0.0.1:$closed)" \
    "$HS_TMP/closed.err"
printf 'signals: {a: {query: up}}\nstates:\n  - {name: ok}\nreport:\n  checks: [{name: x}]\n' \
    >"$HS_TMP/bad.yaml"
rc=0
"$CONTROLLER" report --config="$HS_TMP/bad.yaml" --prometheus.url="$PROM_URL" \
    >/dev/null 2>"$HS_TMP/bad.err" || rc=$?
check_eq "invalid rules: exit 1" 1 "$rc"
check "... with FILE:LINE:COL errors" grep -qF "$HS_TMP/bad.yaml:5:12: check 'x' has no query" \
    "$HS_TMP/bad.err"
rc=0
"$CONTROLLER" report --config="$RULES" --format=yaml >/dev/null 2>"$HS_TMP/flag.err" || rc=$?
check_eq "a bad flag: exit 2" 2 "$rc"
check "... naming it" grep -qF "invalid value 'yaml' for --format: expected text or json" \
    "$HS_TMP/flag.err"

# ---- the API of a running controller ---------------------------------------------------
# The default rules with no `for`: the shop's 5 % failures put it in degraded at once.
sed 's/^    for: [0-9]*m$/    for: 0s/' "$RULES" >"$HS_TMP/rules-now.yaml"
check "the rules without for load" bash -c '"$1" check "$2" >/dev/null' _ "$CONTROLLER" \
    "$HS_TMP/rules-now.yaml"
rc=0
"$CONTROLLER" report --config="$HS_TMP/rules-now.yaml" --prometheus.url="$PROM_URL" \
    --format=json >"$HS_TMP/cli.json" || rc=$?
check_eq "the CLI report over those rules exits 0" 0 "$rc"

start_controller() { # LOG ARGS...: sets CTL_URL, CTL_PID
    local log=$1
    shift
    spawn "$log" "$CONTROLLER" --web.listen-address=127.0.0.1:0 "$@"
    CTL_PID=$HS_PID
    CTL_URL=$(wait_listening "$log" "$CTL_PID")
    CTL_URL=${CTL_URL%/}
    [[ -n $CTL_URL ]] || { fail "the controller did not start: $(cat "$log")"; finish; }
}
start_controller "$HS_TMP/ctl.log" --config="$HS_TMP/rules-now.yaml" \
    --prometheus.url="$PROM_URL" --state.directory="$HS_TMP/state"
state_is() {
    local status
    status=$(hcurl "$CTL_URL/api/v1/status" 2>/dev/null) || return 1
    [[ $(jstr "$status" 'd["data"]["state"]' 2>/dev/null) == "$1" ]]
}
check "the controller enters degraded (the shop's 5 % failures)" wait_until 20 state_is degraded
check_eq "GET /api/v1/report answers 200" 200 "$(http_get "$HS_TMP/api.json" "$CTL_URL/api/v1/report" --max-time 30)"
/usr/bin/python3 - "$HS_TMP/cli.json" "$HS_TMP/api.json" >"$HS_TMP/compare.txt" <<'EOF'
import json, sys
cli = json.load(open(sys.argv[1]))
api = json.load(open(sys.argv[2]))["data"]
key = lambda i: (i["check"], json.dumps(i["labels"], sort_keys=True))
extra = sorted(set(map(key, api["issues"])) - set(map(key, cli["issues"])))
missing = sorted(set(map(key, cli["issues"])) - set(map(key, api["issues"])))
print("extra", extra)
print("missing", missing)
print("score", cli["score"], api["score"])
print("opts", sorted(o["name"] for o in cli["optimizations"]) == sorted(o["name"] for o in api["optimizations"]))
print("not_evaluated", [x["name"] for x in cli["not_evaluated"]] == [x["name"] for x in api["not_evaluated"]])
state = [i for i in api["issues"] if i["check"] == "state"]
print("state", state[0]["severity"], state[0]["component"], state[0]["description"] if state else None)
print("controller", api["controller"]["state"])
EOF
check_eq "the API's issues are the CLI's plus the controller's state" \
    "extra [('state', '{\"state\": \"degraded\"}')]
missing []
score 20 10
opts True
not_evaluated True
state warning controller A service is slow or failing
controller degraded" "$(cat "$HS_TMP/compare.txt")"
code=$(http_get "$HS_TMP/api.txt" "$CTL_URL/api/v1/report?quick=1&format=text" --max-time 30 \
    -D "$HS_TMP/api.txt.headers")
check_eq "GET /api/v1/report?quick=1&format=text answers 200" 200 "$code"
check "... as text/plain" grep -qi '^content-type: text/plain' "$HS_TMP/api.txt.headers"
check "... with the controller's state" grep -q '^Controller: state degraded since ' "$HS_TMP/api.txt"
check "... quick: the slow ones skipped" grep -qF \
    "Skipped with --quick (4): filesystem_fill, cpu_rightsizing, memory_rightsizing, gpu_idle" \
    "$HS_TMP/api.txt"
check "... and the state's issue" grep -qxF \
    "  [WARNING] controller: The controller is in state degraded (state)" "$HS_TMP/api.txt"
check_eq "a bad query parameter answers 400" 400 "$(http_code "$CTL_URL/api/v1/report?format=xml")"
check_eq "POST answers 405" 405 "$(http_code "$CTL_URL/api/v1/report" -X POST)"
stop_process "$CTL_PID"

# One report at a time: a Prometheus that takes 3 s per query keeps one busy.
cat >"$HS_TMP/slow.py" <<'EOF'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        print("query", body.decode("utf-8", "replace")[:200], flush=True)
        time.sleep(3)
        body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("listening", flush=True)
s.serve_forever()
EOF
slow_port=$(free_port)
spawn "$HS_TMP/slow.log" /usr/bin/python3 "$HS_TMP/slow.py" "$slow_port"
SLOW_PID=$HS_PID
check "the slow Prometheus listens" wait_until 10 grep -q listening "$HS_TMP/slow.log"
start_controller "$HS_TMP/ctl2.log" --config="$RULES" \
    --prometheus.url="http://127.0.0.1:$slow_port" --state.directory="$HS_TMP/state2"
curl -s -o "$HS_TMP/first.json" -w '%{http_code}' --max-time 30 "$CTL_URL/api/v1/report" \
    >"$HS_TMP/first.code" &
first=$!
# The report has started once its queries arrive (gpu_utilization is in no signal's query).
check "the first report's queries reach the slow Prometheus" \
    wait_until 10 grep -q 'gpu_utilization' "$HS_TMP/slow.log"
code=$(http_get "$HS_TMP/second.json" "$CTL_URL/api/v1/report" -D "$HS_TMP/second.headers")
check_eq "a second report while one is being built answers 429" 429 "$code"
check "... with Retry-After" grep -qi '^retry-after: 5' "$HS_TMP/second.headers"
wait "$first" || true
check_eq "... and the first one completes (200)" 200 "$(cat "$HS_TMP/first.code")"
check_eq "... with every check not evaluated (no data) and the status unknown" "unknown 23" \
    "$(jget "$HS_TMP/first.json" '"%s %d" % (d["data"]["status"],
    len([x for x in d["data"]["not_evaluated"] if x["kind"] == "check"]))')"
stop_process "$SLOW_PID"
code=$(http_get "$HS_TMP/gone.json" "$CTL_URL/api/v1/report" --max-time 30)
check_eq "Prometheus gone: 503" 503 "$code"
check "... saying why" grep -q 'cannot query Prometheus' "$HS_TMP/gone.json"
stop_process "$CTL_PID"
finish

#!/usr/bin/env bash
# demo_loop: `make demo` (demo/run-demo.sh) closes the loop for the one service of two that
# gets the load phases, leaves the other alone, and stops everything it starts.
#  - DEMO_SECONDS=N demo/run-demo.sh exits 0 and its verdict says so line by line:
#    checkout (calm, spike, overload, backend slowdown, recovery) rose above optimal, the
#    regulator lowered its limit (a change applied through the webhook, POST
#    .../checkout/admin/limits through the admin gateway), after every phase change its
#    p95 was under 250 ms again within the bound and stayed under to the phase's end, it
#    returned to optimal and its limit came back to 64; search (calm load) was optimal at
#    every sample once it had data, had no decision nor limit change, and kept its limit;
#    it prints the URLs, the live timeline with both services and the verdict
#  - what the kept scratch directory holds agrees: every decision, revert and regulator
#    change record of the controller's audit log names checkout, at least one decision was
#    executed, the limit went down and came back up, every webhook request went to
#    /checkout/admin/limits, the admin gateway forwarded requests for checkout only, and
#    the load generator slowed checkout's backend down and gave it its speed back
#  - the status page (controller /) answered during the run, with HTML; when the page
#    has its data-testid="state" element and chromium is installed, the page rendered
#    by headless Chromium shows the state /api/v1/status reports, and a screenshot is
#    saved to $HOMEOSTAT_BUILD_DIR/test-artifacts/demo-status.png
#  - no process the demo started is left running afterwards (by the pids it printed)
#  - Ctrl-C: the demo without DEMO_SECONDS, sent SIGINT once it printed its URLs, exits
#    and leaves no process running
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool curl prometheus prometheus-alertmanager setsid

DEMO=$HOMEOSTAT_SOURCE_DIR/demo/run-demo.sh
APP=$HOMEOSTAT_BUILD_DIR/demo/homeostat-demo-app
if [[ ! -x $APP ]]; then
    fail "demo application '$APP' is missing"
    finish
fi
: "${DEMO_TEST_SECONDS:=120}"

# url_from OUTPUT LABEL: the URL printed after LABEL in the demo's banner.
url_from() { awk -v l="$2" '$0 ~ "^    "l" " { print $NF; exit }' "$1"; }

# pids_from OUTPUT: the pids of the banner's "processes:" line, one a line.
pids_from() {
    grep -m1 '^  processes:' "$1" | tr ' ' '\n' | sed -n 's/^[a-z-]*=\([0-9][0-9]*\)$/\1/p'
}

# none_left OUTPUT: no process group the demo printed has a live process.
none_left() {
    local p f stat fields
    for p in $(pids_from "$1"); do
        for f in /proc/[0-9]*/stat; do
            { read -r stat <"$f"; } 2>/dev/null || continue
            read -r -a fields <<<"${stat##*) }"
            if [[ ${fields[2]} == "$p" && ${fields[0]} != Z ]]; then
                say "left running: ${f%/stat} (group $p)"
                return 1
            fi
        done
    done
    return 0
}

# ---- the loop, with DEMO_SECONDS ----------------------------------------------------
OUT=$HS_TMP/demo.out
DEMO_DIR_1=$HS_TMP/demo-1
spawn "$OUT" env DEMO_SECONDS="$DEMO_TEST_SECONDS" DEMO_DIR="$DEMO_DIR_1" \
    HOMEOSTAT_BUILD_DIR="$HOMEOSTAT_BUILD_DIR" bash "$DEMO"
DEMO_PID=$HS_PID
if ! wait_until 90 grep -q '^  processes:' "$OUT"; then
    fail "the demo did not print its URLs within 90 s; its output:"
    sed 's/^/    /' "$OUT"
    finish
fi
CTL_URL=$(url_from "$OUT" "status page")
CTL_URL=${CTL_URL%/}
check "the banner names the status page ($CTL_URL)" test -n "$CTL_URL"
check "the banner names Prometheus" test -n "$(url_from "$OUT" Prometheus)"
check "the banner names Alertmanager" test -n "$(url_from "$OUT" Alertmanager)"
check "the banner names checkout's /stats" grep -q '^    checkout app .*/stats$' "$OUT"
check "the banner names search's /stats" grep -q '^    search app .*/stats$' "$OUT"
check "the banner names the admin gateway" grep -q '^    admin gateway  http://' "$OUT"

code=$(http_get "$HS_TMP/page.html" "$CTL_URL/")
check_eq "the status page (controller /) answers during the run" 200 "$code"
check "... with an HTML page" grep -qi '<html' "$HS_TMP/page.html"

# The page in a real browser, once the spike has had time to move the state.
if grep -q 'data-testid="state"' "$HS_TMP/page.html"; then
    BROWSER=$(command -v chromium || command -v chromium-browser || true)
    if [[ -z $BROWSER ]]; then
        fail "chromium is missing (scripts/install-deps.sh test installs it)"
    else
        wait_until "$DEMO_TEST_SECONDS" grep -qE '^ +[0-9]+s +spike ' "$OUT" || true
        sleep 10
        mkdir -p "$HOMEOSTAT_BUILD_DIR/test-artifacts"
        api_state=$(hcurl "$CTL_URL/api/v1/status" |
            /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["state"])')
        timeout 60 "$BROWSER" --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 \
            --dump-dom "$CTL_URL/" >"$HS_TMP/dom.html" 2>"$HS_TMP/chromium.log" || true
        timeout 60 "$BROWSER" --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 \
            --window-size=420,900 --screenshot="$HOMEOSTAT_BUILD_DIR/test-artifacts/demo-status.png" \
            "$CTL_URL/" >>"$HS_TMP/chromium.log" 2>&1 || true
        dom_state=$(/usr/bin/python3 -c 'import re,sys
m = re.search(r"data-testid=\"state\"[^>]*>\s*([^<\s]+)", open(sys.argv[1]).read())
print(m.group(1) if m else "")' "$HS_TMP/dom.html")
        # The state may move between the two reads; accept the one the API gives just after.
        api_state2=$(hcurl "$CTL_URL/api/v1/status" |
            /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["state"])')
        check "the page in Chromium shows the state the API reports ($dom_state; API $api_state/$api_state2)" \
            test -n "$dom_state" -a \( "$dom_state" = "$api_state" -o "$dom_state" = "$api_state2" \)
        check "a screenshot was saved" test -s "$HOMEOSTAT_BUILD_DIR/test-artifacts/demo-status.png"
    fi
fi

await_process "$DEMO_PID" $((DEMO_TEST_SECONDS + 120))
check_eq "DEMO_SECONDS=$DEMO_TEST_SECONDS: the demo exits 0 (the loop closed)" 0 "$HS_STATUS"
# The timeline's first service is checkout, the second search.
check "the timeline shows checkout above optimal under load" \
    grep -qE '^ +[0-9]+s +(spike|overload|slowdown|recovery) +(degraded|critical|stressed) ' "$OUT"
check "... beside search, optimal" \
    grep -qE '^ +[0-9]+s +(spike|overload|slowdown) +(degraded|critical|stressed) .* optimal +[0-9.]+ ' "$OUT"
check "the timeline shows checkout's limit below 64 (the regulator's output)" \
    grep -qE '^ +[0-9]+s +(spike|overload|slowdown) +[a-z]+ +[0-9.]+ +[0-9]+ms +[0-9]+% +[0-9]+% +([2-9]|[1-5][0-9]|6[0-3]) ' "$OUT"
check "the timeline shows a change of checkout's limit, explained" \
    grep -qE 'limit for checkout: 64 -> [0-9]+ \(applied\): p95_latency_seconds .* gradient' "$OUT"
check "the timeline shows an executed decision for checkout" \
    grep -qE 'decision .* for checkout: .* executed' "$OUT"
check "the timeline shows the webhook's result for checkout, with the limit it applied" \
    grep -qE 'action result .* for checkout: webhook POST .*/checkout/admin/limits body=\{"concurrency":[0-9]+\}.* ok' "$OUT"
for v in "checkout rose above optimal under load" \
    "the regulator lowered checkout's limit (applied, webhook POST .../checkout/admin/limits ok)" \
    "after spike began" "after overload began" "after slowdown began" "after recovery began" \
    "checkout returned to optimal" "checkout's limit came back to 64" \
    "search was optimal at every sample once it had data" \
    "no decision and no limit change for search" "search's concurrency limit stayed 64"; do
    check "the verdict: yes, $v" grep -qF "  yes  $v" "$OUT"
done
check "the verdict is printed" grep -q '^LOOP CLOSED$' "$OUT"

# The audit log and the gateway's log of the kept scratch directory.
AUDIT=$DEMO_DIR_1/controller-state/audit.jsonl
check "the controller's audit log is kept ($AUDIT)" test -s "$AUDIT"
audit_says=$(/usr/bin/python3 -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
decisions = [r for r in recs if r["type"] == "decision"]
reverts = [r for r in recs if r["type"] == "revert"]
changes = [r for r in recs if r["type"] == "regulator_change" and r["outcome"] == "applied"]
hooks = [r for r in recs if r["type"] in ("action_result", "revert_result") and r["kind"] == "webhook"]
named = decisions + reverts + changes
print(len(decisions), sum(r["outcome"] == "executed" for r in decisions),
      sum(r.get("target") == {"service": "checkout"} for r in named) == len(named),
      sum("search" in json.dumps(r.get("target")) for r in recs),
      len(hooks), sum(r["result"] == "ok" and r["detail"]["url"].endswith("/checkout/admin/limits")
                      for r in hooks) == len(hooks),
      sum(r["direction"] == "down" for r in changes), sum(r["direction"] == "up" for r in changes),
      "%g" % changes[-1]["output"] if changes else "-")' "$AUDIT" 2>&1 || true)
read -r n_dec n_exec all_checkout n_search n_hooks hooks_checkout n_down n_up last_out <<<"$audit_says"
check "the audit log has decisions ($audit_says)" test "${n_dec:-0}" -ge 1
check "... at least one executed" test "${n_exec:-0}" -ge 1
check_eq "... every decision, revert and regulator change record names checkout" True "${all_checkout:-}"
check_eq "... no record names search" 0 "${n_search:-}"
check "... the limit went down ($n_down changes) and came back up ($n_up)" \
    test "${n_down:-0}" -ge 1 -a "${n_up:-0}" -ge 1
check_eq "... the last change applied 64" 64 "${last_out:-}"
check "... the webhook ran for each change ($n_hooks requests)" test "${n_hooks:-0}" -ge 2
check_eq "... every webhook request went to /checkout/admin/limits, ok" True "${hooks_checkout:-}"
GW_LOG=$DEMO_DIR_1/gateway.log
check "the admin gateway forwarded requests for checkout" grep -q '^gateway: POST /checkout/admin/limits -> .*: 200$' "$GW_LOG"
check "... and none for search" bash -c "! grep -qE '^gateway: [A-Z]+ /search/' '$GW_LOG'"
LG_LOG=$DEMO_DIR_1/loadgen-checkout.log
check "the load generator slowed checkout's backend down" \
    grep -qE '^loadgen: phase slowdown: backend latency 0.12s: 200 ' "$LG_LOG"
check "... and gave it its speed back" \
    grep -qE '^loadgen: phase recovery: backend latency 0.04s: 200 ' "$LG_LOG"
check "the demo says it stopped everything" grep -q 'nothing left running' "$OUT"
check "no process the demo started is left running" none_left "$OUT"
if ((HS_FAILED)); then
    say "the demo's output:"
    sed 's/^/    /' "$OUT"
fi

# ---- Ctrl-C -------------------------------------------------------------------------
OUT2=$HS_TMP/demo-int.out
# A background job of a script starts with SIGINT ignored, and bash cannot trap a signal
# ignored at its start: give the demo the default disposition, as a terminal would.
spawn "$OUT2" env DEMO_DIR="$HS_TMP/demo-2" HOMEOSTAT_BUILD_DIR="$HOMEOSTAT_BUILD_DIR" \
    /usr/bin/python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' bash "$DEMO"
INT_PID=$HS_PID
if wait_until 90 grep -q '^  processes:' "$OUT2"; then
    pass "without DEMO_SECONDS the demo starts and prints its URLs"
    sleep 3
    kill -INT "$INT_PID"
    await_process "$INT_PID" 30
    check "after SIGINT the demo exits by itself (status $HS_STATUS)" test "$HS_STATUS" != timeout
    check "it says it stopped everything" grep -q 'nothing left running' "$OUT2"
    check "no process it started is left running" none_left "$OUT2"
else
    fail "without DEMO_SECONDS the demo did not print its URLs within 90 s"
    sed 's/^/    /' "$OUT2"
fi
finish

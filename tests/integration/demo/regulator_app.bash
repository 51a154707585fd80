# shellcheck shell=bash
# regulator_app.bash: one regulator law on the real demo application, sourced by
# regulator_app_gradient.sh, regulator_app_aimd.sh and regulator_app_proportional.sh with
# LAW and LAW_YAML (the law's own settings) set. Not a test itself (no .sh: ctest's glob
# leaves it out).
#
# The plant is homeostat-demo-app as the demo runs it (service checkout: 4 backend workers
# of 40 ms, a 300-entry cache, its concurrency limit after the cache, start 64), reporting
# over StatsD to homeostat-exporter (demo/statsd-mapping.yaml's histogram buckets), scraped
# every second by the real Prometheus; demo/loadgen.py sends 250 requests a second, open
# loop, all along. The regulator holds the p95 over 5 s at 200 ms (tolerance 15 %) by
# moving the limit through the application's /admin/limits (webhook), with max_step 50 %
# both ways, stabilization up 10 s, settle 6 s, evaluation every 2 s. In turn:
#  1. steady load: from 64 the limit converges (a step within the tolerance within 60 s),
#     then over 20 s more it reverses direction at most once
#  2. Prometheus stops answering (SIGSTOP) just as the backend gets 3x slower: the signal
#     is unknown, the limit holds for 6 s (not one change), the API says unknown
#  3. Prometheus back: the limit comes down for the slower backend and converges again
#     (within 60 s)
#  4. the backend back to 40 ms: the limit goes up again, not before the up window of the
#     last recommendation to go down is over (the 10 s stabilization: a step "stabilizing"
#     seen, the first move up 8 s or more after the last move down)
# Every change in the audit log stays within min/max and max_step. The changes are judged
# (verify_after 10 s over 6 s windows: the p95's distance from 200 ms), at most one per 6 s,
# in the audit log, the metric and GET /api/v1/effects. About 80 seconds.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=tests/integration/demo/app_stack.bash
. "$(dirname "${BASH_SOURCE[0]}")/app_stack.bash"

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<REOF
evaluation_interval: 2s
prometheus: {url: '$PROM_URL', timeout: 1s}
signals:
  p95:
    query: >-
      histogram_quantile(0.95, sum by (le) (rate(app_request_duration_seconds_bucket{service="checkout"}[5s])))
    max_age: 6s
states:
  - {name: degraded, conditions: ['p95 > 2']}
  - {name: optimal}
regulators:
  concurrency:
    signal: p95
    setpoint: 0.2
    output: {min: 2, max: 64, start: 64, integer: true}
    increases_signal: true
    law: $LAW
    tolerance: 15%
    max_step: {up: 50%, down: 50%}
    stabilization: {up: 10s, down: 0s}
    settle: 6s
    verify_after: 10s
    verify_window: 6s
$LAW_YAML
    actions:
      - webhook:
          url: $APP_URL/admin/limits
          headers: {Authorization: {file: '$HS_TMP/token', prefix: 'Bearer '}}
          body: {concurrency: '{{output}}'}
          timeout: 2s
limits:
  max_regulator_changes_per_hour: 1000
REOF
check "$LAW: check accepts the rules" "$CONTROLLER" check "$RULES"
mkdir -p "$HS_TMP/state"
spawn "$HS_TMP/controller.log" "$CONTROLLER" --config="$RULES" --web.listen-address=127.0.0.1:0 \
    --state.directory="$HS_TMP/state"
CTL_PID=$HS_PID
CTL_URL=$(wait_listening "$HS_TMP/controller.log" "$CTL_PID")
[[ -n $CTL_URL ]] || {
    fail "the controller did not start: $(tail -n 5 "$HS_TMP/controller.log")"
    finish
}
AUDIT=$HS_TMP/state/audit.jsonl

spawn "$HS_TMP/loadgen.log" /usr/bin/python3 "$HOMEOSTAT_SOURCE_DIR/demo/loadgen.py" \
    --url "$APP_URL" --phases "steady:10m:250" --workers 256 --interval 10s --seed 1

# A sampler of the regulator's API: one line per poll, "t why output value".
spawn "$HS_TMP/sampler.log" /usr/bin/python3 -c '
import json, sys, time, urllib.request
url = sys.argv[1] + "/api/v1/regulators"
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                d = json.load(r)["data"][0]
            out.write("%.2f %s %s %s\n" % (time.time(), d.get("last_step"), d.get("output"), d.get("value")))
        except Exception as e:
            out.write("%.2f error %s\n" % (time.time(), str(e).replace(" ", "_")))
        time.sleep(0.5)' "$CTL_URL" "$HS_TMP/samples.txt"
SAMPLES=$HS_TMP/samples.txt

set_backend() { app_admin backend "{\"latency_seconds\": $1}"; } # SECONDS
# in_band: the last step was within the tolerance
in_band() { [[ -s $SAMPLES && $(tail -n 1 "$SAMPLES" | awk '{ print $2 }') == tolerance ]]; }
# reversals SINCE: direction reversals of the limit in the audit's changes after SINCE (epoch s)
reversals() {
    /usr/bin/python3 - "$AUDIT" "$1" <<'PYEOF'
import json, sys
since = float(sys.argv[2])
dirs = []
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("type") == "regulator_change" and r.get("outcome") == "applied":
        t = r.get("timestamp") or 0
        if t >= since:
            dirs.append(r["direction"])
print(sum(1 for a, b in zip(dirs, dirs[1:]) if a != b))
PYEOF
}
changes_between() { # FROM TO (epoch s): applied changes in the audit between
    /usr/bin/python3 - "$AUDIT" "$1" "$2" <<'PYEOF'
import json, sys
a, b = float(sys.argv[2]), float(sys.argv[3])
n = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("type") == "regulator_change" and r.get("outcome") == "applied" and a <= (r.get("timestamp") or 0) <= b:
        n += 1
print(n)
PYEOF
}

# ---- 1. steady load: converge, then no oscillation ----
if wait_until 60 in_band; then
    pass "$LAW: the p95 is within 15 % of 200 ms after $(($(wc -l <"$SAMPLES") / 2)) s (limit $(app_limit))"
else
    fail "$LAW: no step within the tolerance in 60 s: $(tail -n 3 "$SAMPLES" | tr '\n' ';')"
fi
settled=$(date +%s.%N)
sleep 20
rev=$(reversals "$settled")
check "$LAW: steady load: at most one reversal of the limit in the 20 s after settling (got $rev)" test "$rev" -le 1
limit_a=$(app_limit)

# ---- 2. Prometheus stops answering, the backend slows down: hold ----
kill -STOP "$PROM_PID"
set_backend 0.12 || fail "$LAW: the backend latency could not be set"
sleep 3 # the step in flight when Prometheus stopped may still finish
t0=$(date +%s.%N)
limit_b0=$(app_limit)
sleep 6
t1=$(date +%s.%N)
check_eq "$LAW: Prometheus stopped: the limit holds ($limit_b0)" "$limit_b0" "$(app_limit)"
check_eq "$LAW: Prometheus stopped: no change in the audit log in 6 s" 0 "$(changes_between "$t0" "$t1")"
check "$LAW: Prometheus stopped: the API says unknown" grep -q " unknown " <(tail -n 6 "$SAMPLES")
kill -CONT "$PROM_PID"

# ---- 3. the slower backend: down, converge again ----
# shellcheck disable=SC2317 # called through wait_until
came_down() { [[ $(app_limit) -lt $limit_a ]]; }
check "$LAW: the slower backend brings the limit down from $limit_a" wait_until 40 came_down
# shellcheck disable=SC2317
band_again() { in_band && [[ $(app_limit) -lt $limit_a ]]; }
if wait_until 60 band_again; then
    pass "$LAW: the p95 is within the tolerance again with the slower backend (limit $(app_limit))"
else
    fail "$LAW: not back within the tolerance: $(tail -n 3 "$SAMPLES" | tr '\n' ';')"
fi
limit_c=$(app_limit)

# ---- 4. the backend back to 40 ms: up, after the up window ----
t_fast=$(date +%s.%N)
set_backend 0.04 || fail "$LAW: the backend latency could not be set"
# shellcheck disable=SC2317
went_up() { [[ $(app_limit) -gt $limit_c ]]; }
check "$LAW: the faster backend lets the limit go up from $limit_c" wait_until 40 went_up
/usr/bin/python3 - "$AUDIT" "$t_fast" >"$HS_TMP/window.txt" <<'PYEOF'
import json, sys
since = float(sys.argv[2])
recs = [json.loads(l) for l in open(sys.argv[1])]
ch = [r for r in recs if r.get("type") == "regulator_change" and r.get("outcome") == "applied"]
last_down = max((r["timestamp"] for r in ch if r["direction"] == "down" and r["timestamp"] < since), default=0)
first_up = min((r["timestamp"] for r in ch if r["direction"] == "up" and r["timestamp"] >= since), default=0)
print("%.1f %.1f" % (last_down, first_up))
PYEOF
read -r last_down first_up <"$HS_TMP/window.txt"
check "$LAW: a move up was held by the 10 s up window (a step 'stabilizing' after the backend's recovery)" \
    awk -v t="$t_fast" '$1 >= t && $2 == "stabilizing" { found = 1 } END { exit !found }' "$SAMPLES"
check "$LAW: the first move up ($first_up) comes 8 s or more after the last move down ($last_down): the 10 s up window" \
    /usr/bin/python3 -c 'import sys; d, u = map(float, sys.argv[1:3]); sys.exit(0 if d > 0 and u - d >= 8 else 1)' "$last_down" "$first_up"

# ---- every change: bounds and max_step ----
check "$LAW: every change stays within 2..64 and max_step 50 % (one unit at least), each audited with its explanation" /usr/bin/python3 - "$AUDIT" <<'PYEOF'
import json, math, sys
ch = [json.loads(l) for l in open(sys.argv[1])]
ch = [r for r in ch if r.get("type") == "regulator_change"]
bad = []
for r in ch:
    a, b = r["previous_output"], r["output"]
    up_lim = max(math.floor(a * 1.5 + 1e-9), a + 1)
    down_lim = min(math.ceil(a * 0.5 - 1e-9), a - 1)
    if not (2 <= b <= 64 and down_lim <= b <= up_lim and b == int(b)) or not r.get("explanation"):
        bad.append((a, b, r.get("explanation")))
print("%d changes, %d bad: %s" % (len(ch), len(bad), bad[:3]), file=sys.stderr)
sys.exit(0 if ch and not bad else 1)
PYEOF
# ---- did the changes help: verdicts on some of them, one per verify_window at most ----
check "$LAW: verdicts on applied changes, 6 s or more apart, some helped (nearer 200 ms)" \
    /usr/bin/python3 - "$AUDIT" <<'PYEOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
applied = {r["id"] for r in rs if r["type"] == "regulator_change" and r["outcome"] == "applied"}
v = [r for r in rs if r["type"] == "action_effect" and r.get("trigger") == "regulator"]
at = sorted(r["decided_at"] for r in v)
print("verdicts:", " ".join(r["verdict"] for r in v), file=sys.stderr)
ok = (v and all(r["regulator"] == "concurrency" and r["of"] in applied and r["setpoint"] == 0.2
                for r in v)
      and all(b - a >= 6 for a, b in zip(at, at[1:]))
      and any(r["verdict"] == "helped" for r in v))
sys.exit(0 if ok else 1)
PYEOF
check "$LAW: counted as decision regulator:concurrency" grep -q \
    '^homeostat_controller_action_effects_total{decision="regulator:concurrency",kind="webhook",' \
    <(curl -sf "$CTL_URL/metrics")
check "$LAW: GET /api/v1/effects lists regulator:concurrency" grep -q '"regulator:concurrency"' \
    <(curl -sf "$CTL_URL/api/v1/effects")
say "$LAW: verdicts: $(/usr/bin/python3 -c 'import json, sys; print(" ".join(r["verdict"] for r in map(json.loads, open(sys.argv[1])) if r["type"] == "action_effect"))' "$AUDIT")"
say "$LAW: changes: $(/usr/bin/python3 -c 'import json, sys; print(" ".join("%g" % json.loads(l)["output"] for l in open(sys.argv[1]) if "regulator_change" in l))' "$AUDIT")"
stop_process "$CTL_PID"
check_eq "$LAW: the controller stops cleanly" 0 "$HS_STATUS"
finish

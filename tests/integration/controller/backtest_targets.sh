#!/usr/bin/env bash
# backtest_targets: `homeostat-controller backtest` of a rules file with targets (targets:
# {by: [service]}) against a real Prometheus whose hour of history this test makes
# (OpenMetrics turned into TSDB blocks by promtool tsdb create-blocks-from), and
# `homeostat-controller test` over the same values, which must agree target by target.
#
# History, bt_load{service=...} every 15 s from T0 (seconds after T0); rules: critical when
# load > 0.8 for 1m, a decision with cooldown 10m, on_missing_data: unknown:
#   a  0.95 in [1200, 1800): critical at 1260 (executed), optimal at 1800 (no_actions)
#   b  0.2 all along: never anything
#   c  0.95 in [2400, 2700): critical at 2460 (executed), optimal at 2700; no samples in
#      [3000, 3450): unknown from 3300 (uncertain: the last sample, 2985, is seen for 5
#      minutes) to 3435, optimal again at 3450
# and a regulator `workers` holding load at 0.2 (gradient, 8 from the start, halving down
# to 1): a's and c's runs halve at their 0.95 (at 1200, 1215, 1230 and 2400, 2415, 2430),
# b's stays at 8 (0.2 is the setpoint).
# Checked: the JSON timeline is exactly those changes, each naming its target; the
# summary counts 3 targets and each one's own numbers; the regulator's changes each name
# their target and each target has its own run of it; the text output names the targets;
# a `test` file with the values an instant query would give at each step and the
# backtest's own timeline as its expectations passes.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prometheus promtool curl /usr/bin/python3

now=$(date +%s)
T0=$(((now - 3600 - 120) / 60 * 60))
END=$((T0 + 3600))

cat >"$HS_TMP/data.py" <<'PY'
import json, sys

def load(service, off):
    """The sample of service at T0 + off, None when there is none."""
    if service == "a":
        return 0.95 if 1200 <= off < 1800 else 0.2
    if service == "b":
        return 0.2
    if 3000 <= off < 3450:
        return None
    return 0.95 if 2400 <= off < 2700 else 0.2

def seen(service, off):
    """What an instant query at T0 + off returns: the last sample within 5 minutes."""
    t = off - off % 15
    while t >= 0 and off - t <= 300:
        v = load(service, t)
        if v is not None:
            return v
        t -= 15
    return None

cmd, t0 = sys.argv[1], int(sys.argv[2])
if cmd == "openmetrics":
    with open(sys.argv[3], "w") as f:
        f.write("# TYPE bt_load gauge\n")
        for s in "abc":
            for off in range(0, 3601, 15):
                v = load(s, off)
                if v is not None:
                    f.write('bt_load{service="%s"} %g %d\n' % (s, v, t0 + off))
        f.write("# EOF\n")
elif cmd == "ruletest":  # RULES REPORT.json OUT
    rules, report, out = sys.argv[3:6]
    tl = json.load(open(report))["timeline"]
    lines = ["rule_files: [%s]" % rules, "evaluation_interval: 15s", "tests:",
             '  - name: "the backtest\'s timeline, target by target"',
             "    sample_age: 0s", "    signals:", "      load:"]
    for s in "abc":
        vals = []
        for off in range(0, 3601, 15):
            v = seen(s, off)
            vals.append("_" if v is None else "%g" % v)
        lines.append("        '{service=\"%s\"}': \"%s\"" % (s, " ".join(vals)))
    lines.append("    expect:")
    for e in tl:
        lines.append("      - at: %ds" % (round(e["timestamp"]) - t0))
        lines.append("        target: '%s'" % e["target"])
        lines.append("        state: %s" % e["to"])
        lines.append("        changed: %s" % ("true" if e["changed"] else "false"))
        lines.append("        outcome: %s" % (e["decision"]["outcome"] if e["decision"] else "none"))
    open(out, "w").write("\n".join(lines) + "\n")
PY
data() { /usr/bin/python3 "$HS_TMP/data.py" "$@"; }

data openmetrics "$T0" "$HS_TMP/history.om"
check "promtool makes TSDB blocks of the history" \
    promtool tsdb create-blocks-from openmetrics "$HS_TMP/history.om" "$HS_TMP/tsdb"
printf 'global: {scrape_interval: 15s}\n' >"$HS_TMP/prometheus.yml"
start_prometheus "$HS_TMP/prometheus.yml" "$HS_TMP/tsdb" 7d || finish

RULES=$HS_TMP/rules.yaml
cat >"$RULES" <<EOF2
evaluation_interval: 15s
prometheus: {url: '$PROM_URL'}
targets: {by: [service]}
on_missing_data: unknown
limits: {max_targets_acting: 0}
signals:
  load: {query: bt_load}
states:
  - {name: critical, conditions: ['load > 0.8'], for: 1m}
  - {name: optimal}
decisions:
  critical:
    cooldown: 10m
    actions:
      - exec: [/bin/false, '{{ \$labels.service }}']
regulators:
  workers:
    signal: load
    setpoint: 0.2
    output: {min: 1, max: 16, start: 8, integer: true}
    increases_signal: true
    law: gradient
    settle: 0s
    actions:
      - exec: [/bin/true, '{{ \$labels.service }}', '{{output}}']
EOF2

rc=0
"$HOMEOSTAT_CONTROLLER" backtest --config="$RULES" --from="$T0" --to="$END" --step=15s \
    --format=json --output="$HS_TMP/report.json" 2>"$HS_TMP/backtest.err" || rc=$?
check_eq "backtest with targets exits 0" 0 "$rc"
[[ $rc == 0 ]] || sed 's/^/    /' "$HS_TMP/backtest.err"
r() { jget "$HS_TMP/report.json" "$1"; }
check_eq "the timeline, target by target" \
    '{service="a"} 1260 optimal->critical executed; {service="a"} 1800 critical->optimal no_actions; {service="c"} 2460 optimal->critical executed; {service="c"} 2700 critical->optimal no_actions; {service="c"} 3300 optimal->unknown uncertain; {service="c"} 3450 unknown->optimal no_actions' \
    "$(r "'; '.join('%s %d %s->%s %s' % (e['target'], round(e['timestamp']) - $T0, e['from'], e['to'], e['decision']['outcome'] if e['decision'] else 'none') for e in d['timeline'])")"
check_eq "3 targets, 241 evaluations each" "3 723" \
    "$(r "'%d %d' % (d['summary']['targets_total'], d['summary']['target_evaluations'])")"
check_eq "each target's own counts" \
    '{service="a"} critical 2 1; {service="b"} optimal 0 0; {service="c"} critical 4 1' \
    "$(r "'; '.join('%s %s %d %d' % (t['target'], t['worst_state'], t['transitions'], t['would_fire']) for t in d['summary']['targets'])")"
check_eq "would fire twice in all" 2 "$(r "d['summary']['would_fire']")"
check_eq "the regulator's changes, each naming its target" \
    '{service="a"} 1200 8->4; {service="a"} 1215 4->2; {service="a"} 1230 2->1; {service="c"} 2400 8->4; {service="c"} 2415 4->2; {service="c"} 2430 2->1' \
    "$(r "'; '.join('%s %d %d->%d' % (c['target'], round(c['timestamp']) - $T0, c['from'], c['to']) for c in d['regulators'][0]['changes'])")"
check_eq "... summed over the targets, with no final output of their own" "6 0 6 0 1 8 None" \
    "$(r "' '.join(str(d['regulators'][0][k]) for k in ('changes_total', 'changes_up', 'changes_down', 'reversals', 'lowest', 'highest', 'final_output'))")"
check_eq "each target's own run of the regulator" \
    '{service="a"} 0 3 0 1 1 8; {service="b"} 0 0 0 8 8 8; {service="c"} 0 3 0 1 1 8' \
    "$(r "'; '.join('%s %d %d %d %d %d %d' % ((t['target'],) + tuple(t['regulators']['workers'][k] for k in ('changes_up', 'changes_down', 'reversals', 'final_output', 'lowest', 'highest'))) for t in d['summary']['targets'])")"

"$HOMEOSTAT_CONTROLLER" backtest --config="$RULES" --from="$T0" --to="$END" --step=15s \
    >"$HS_TMP/report.txt" 2>&1 || true
check "the text names the targets in the timeline" grep -q '{service="c"}  optimal -> unknown' "$HS_TMP/report.txt"
check "... and lists them" grep -q '^Targets (3; 0 label sets refused by targets.max)' "$HS_TMP/report.txt"
check "the text gives each target's run of the regulator" \
    grep -qxF '      {service="a"}: 3 changes (0 up, 3 down), 0 reversals; final 1 (lowest 1, highest 8)' "$HS_TMP/report.txt"
check "... and names the target of each change" \
    grep -qE '^    [0-9T:-]+Z  \{service="c"\}  2 -> 1$' "$HS_TMP/report.txt"

data ruletest "$T0" "$RULES" "$HS_TMP/report.json" "$HS_TMP/agree_test.yaml"
rc=0
"$HOMEOSTAT_CONTROLLER" test "$HS_TMP/agree_test.yaml" >"$HS_TMP/agree.txt" 2>&1 || rc=$?
check_eq "test over the same values agrees with the backtest, target by target" 0 "$rc"
[[ $rc == 0 ]] || sed 's/^/    /' "$HS_TMP/agree.txt" | head -30
finish

#!/usr/bin/python3
"""backtest_data.py: the history and the expectations of backtest_prometheus.sh.

  openmetrics T0 FILE      writes six hours of history from T0 (epoch seconds) as
                           OpenMetrics for promtool tsdb create-blocks-from: bt_cpu_busy
                           every 15 s with three critical episodes, a flap and a 20-minute
                           gap, and ALERTS{alertname="BtPage"} firing for 10 minutes
  check T0 REPORT.json [SEEN]
                           compares the backtest's JSON report with the expected timeline
                           and summary; prints "PASS message" or "FAIL message" lines.
                           SEEN: how many seconds after its last sample a series is still
                           returned (default 300, Prometheus' lookback; VictoriaMetrics
                           derives it from the sample interval)
  ruletest T0 RULES OUT    writes a `homeostat-controller test` file (rule_files: RULES)
                           whose series are the values an instant query would give at each
                           second (Prometheus' 5 m lookback, inclusive, as in 2.x) and whose
                           expectations are the expected timeline
The episodes and why each change happens where it does are in backtest_prometheus.sh.
"""
import json
import sys

HOURS = 6
SPAN = HOURS * 3600            # seconds after T0 covered by the history
SCRAPE = 15                    # seconds between two samples
LOOKBACK = 300                 # Prometheus' default lookback delta
GAP = (9000, 10200)            # no cpu samples in [9000, 10200)
ALERT = (12000, 12600)         # ALERTS samples in [12000, 12600)


def cpu_at(off):
    """The value of the sample at T0 + off, None in the gap."""
    if GAP[0] <= off < GAP[1]:
        return None
    for lo, hi in ((3600, 4200), (4440, 4740), (5400, 5700)):
        if lo <= off < hi:
            return 0.95
    if 6600 <= off < 6660:
        return 0.75
    return 0.3


def expected(seen=LOOKBACK):
    """(offset, from, to, outcome): every entry of the timeline the rules must produce, when
    a query returns a series until `seen` seconds after its last sample and not later
    (Prometheus 2: its 5 m lookback, inclusive; VictoriaMetrics: from the series' own
    sample interval, victoriametrics_history.sh)."""
    unknown_from = GAP[0] - SCRAPE + seen + 1   # the last sample before the gap, seen
    paged_until = ALERT[1] - SCRAPE + seen + 1  # the last ALERTS sample, seen
    return [
        (3645, "optimal", "stressed", "below_confidence"),
        (3660, "stressed", "critical", "executed"),
        (4319, "critical", "optimal", "no_actions"),
        (4485, "optimal", "stressed", "below_confidence"),
        (4500, "stressed", "critical", "cooldown"),
        (4560, "critical", "critical", "executed"),   # kept: the cooldown has passed
        (4859, "critical", "optimal", "no_actions"),
        (5445, "optimal", "stressed", "below_confidence"),
        (5460, "stressed", "critical", "budget_exhausted"),
        (5819, "critical", "optimal", "no_actions"),
        (6645, "optimal", "stressed", "below_confidence"),
        (6660, "stressed", "optimal", "no_actions"),
        (unknown_from, "optimal", "unknown", "uncertain"),
        (GAP[1], "unknown", "optimal", "no_actions"),
        (ALERT[0], "optimal", "paged", "no_actions"),
        (paged_until, "paged", "optimal", "no_actions"),
    ]


STEPS = SPAN + 1  # at 1 s, both ends included


def state_seconds(seen=LOOKBACK):
    """The seconds in each state of that timeline."""
    tl = expected(seen)
    secs = {"stressed": 60, "critical": 1377, "unknown": tl[13][0] - tl[12][0],
            "paged": tl[15][0] - tl[14][0]}
    secs["optimal"] = STEPS - sum(secs.values())
    return secs


EXPECTED = expected()
FLAPS = {"stressed": 4, "optimal": 1}


def openmetrics(t0, path):
    with open(path, "w") as f:
        f.write("# HELP bt_cpu_busy CPU busy ratio of the backtest.\n")
        f.write("# TYPE bt_cpu_busy gauge\n")
        for off in range(0, SPAN + 1, SCRAPE):
            v = cpu_at(off)
            if v is not None:
                f.write("bt_cpu_busy %s %d\n" % (v, t0 + off))
        f.write("# HELP ALERTS Alerts of Prometheus.\n# TYPE ALERTS gauge\n")
        for off in range(ALERT[0], ALERT[1], SCRAPE):
            f.write('ALERTS{alertname="BtPage",alertstate="firing",severity="page"} 1 %d\n'
                    % (t0 + off))
        f.write("# EOF\n")


def instant(off, sample_offsets, value_of):
    """What an instant query at T0 + off returns: the latest sample in [off - 5m, off]."""
    best = None
    for s in sample_offsets:
        if off - LOOKBACK <= s <= off:
            best = s
    return None if best is None else value_of(best)


def series_per_second():
    cpu_samples = [o for o in range(0, SPAN + 1, SCRAPE) if cpu_at(o) is not None]
    alert_samples = list(range(ALERT[0], ALERT[1], SCRAPE))
    cpu, alert = [], []
    j = -1  # index of the latest cpu sample <= off
    k = -1
    for off in range(STEPS):
        while j + 1 < len(cpu_samples) and cpu_samples[j + 1] <= off:
            j += 1
        cpu.append(cpu_at(cpu_samples[j]) if j >= 0 and off - cpu_samples[j] <= LOOKBACK
                   else None)
        while k + 1 < len(alert_samples) and alert_samples[k + 1] <= off:
            k += 1
        alert.append(1 if k >= 0 and off - alert_samples[k] <= LOOKBACK else 0)
    return cpu, alert


def notation(values):
    """promtool's expanding notation: 'AxN' is N+1 values, '_xN' N missing ones."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        n = j - i + 1
        if values[i] is None:
            out.append("_x%d" % n)
        else:
            out.append("%sx%d" % (values[i], n - 1) if n > 1 else "%s" % values[i])
        i = j + 1
    return " ".join(out)


def ruletest(t0, rules, path):
    cpu, alert = series_per_second()
    lines = ["rule_files: [%s]" % rules, "tests:", "  - name: the history of backtest_prometheus",
             "    interval: 1s", "    signals:", '      cpu_busy: "%s"' % notation(cpu),
             '      "alert:BtPage": "%s"' % notation(alert), "    expect:"]
    decisions = 0
    for off, frm, to, outcome in EXPECTED:
        decisions += 1
        lines.append("      - {at: %ds, state: %s, changed: %s, outcome: %s, decisions: %d}"
                     % (off, to, "true" if frm != to else "false", outcome, decisions))
        if all(e[0] != off + 1 for e in EXPECTED):
            # and nothing more happens at the next step
            lines.append("      - {at: %ds, state: %s, changed: false, outcome: none}"
                         % (off + 1, to))
    lines.append("      - {at: %ds, state: optimal, decisions: %d}" % (SPAN, decisions))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def out(ok, msg):
    print(("PASS " if ok else "FAIL ") + msg)


def check(t0, report, seen=LOOKBACK):
    timeline = expected(seen)
    seconds = state_seconds(seen)
    missing = seconds["unknown"]
    d = json.load(open(report))
    tl = d["timeline"]
    out(d["evaluations"] == STEPS, "%d evaluations (expected %d)" % (d["evaluations"], STEPS))
    out(d["requests"] == 4, "4 query_range requests: 2 queries x 2 chunks (got %d)"
        % d["requests"])
    out(len(tl) == len(timeline), "timeline has %d entries (expected %d)"
        % (len(tl), len(timeline)))
    for i, (off, frm, to, outcome) in enumerate(timeline):
        if i >= len(tl):
            out(False, "timeline entry %d (%ds %s -> %s) is missing" % (i, off, frm, to))
            continue
        e = tl[i]
        got_off = e["timestamp"] - t0
        dec = e["decision"] or {}
        ok = (abs(got_off - off) <= 1 and e["from"] == frm and e["to"] == to and
              e["changed"] == (frm != to) and dec.get("outcome") == outcome)
        out(ok, "timeline %d: at +%ds %s -> %s, %s (got +%gs %s -> %s, %s)"
            % (i, off, frm, to, outcome, got_off, e["from"], e["to"], dec.get("outcome")))
    s = d["summary"]
    out(s["transitions"] == 15, "15 transitions (got %d)" % s["transitions"])
    out(s["flaps"] == 5, "5 flaps (got %d)" % s["flaps"])
    for st in s["states"]:
        want = seconds.get(st["state"], 0)
        out(abs(st["seconds"] - want) <= 2, "time in %s: %ds (got %g)"
            % (st["state"], want, st["seconds"]))
        out(st["flaps"] == FLAPS.get(st["state"], 0), "flaps of %s: %d (got %d)"
            % (st["state"], FLAPS.get(st["state"], 0), st["flaps"]))
    out(s["decisions_recorded"] == 16, "16 decisions (got %d)" % s["decisions_recorded"])
    out(s["would_fire"] == 2, "2 would fire (got %d)" % s["would_fire"])
    want_held = {"cooldown": 1, "below_confidence": 4, "budget_exhausted": 1, "uncertain": 1,
                 "paused": 0, "total": 7}
    out(s["held_back"] == want_held, "held back %s (got %s)" % (want_held, s["held_back"]))
    crit = [x for x in s["decisions"] if x["state"] == "critical"]
    out(len(crit) == 1 and crit[0]["actions"][0]["would_fire"] == 2 and
        crit[0]["outcomes"] == {"executed": 2, "cooldown": 1, "budget_exhausted": 1},
        "the critical decision: webhook would fire twice (got %s)" % crit)
    cpu = [x for x in d["signals"] if x["name"] == "cpu_busy"][0]
    gap_ok = (cpu["missing_evaluations"] == missing and cpu["gaps_total"] == 1 and
              cpu["gaps"][0]["reason"] == "empty result")
    out(gap_ok, "cpu_busy unknown at %d evaluations, one gap, empty result (got %s, %s)"
        % (missing, cpu["missing_evaluations"], cpu["gaps"]))
    alert = [x for x in d["signals"] if x["name"] == "alert:BtPage"][0]
    out(alert["missing_evaluations"] == 0 and alert["source"] == "prometheus_alerts",
        "alert:BtPage is read from ALERTS and always known (got %s)" % alert)
    m = s["missing_data"]
    out(m["evaluations_with_unknown_signal"] == missing and
        m["evaluations_uncertain"] == missing,
        "%d evaluations with missing data, all uncertain (got %s)" % (missing, m))


if __name__ == "__main__":
    cmd, t0 = sys.argv[1], int(sys.argv[2])
    if cmd == "openmetrics":
        openmetrics(t0, sys.argv[3])
    elif cmd == "check":
        check(t0, sys.argv[3], *[int(a) for a in sys.argv[4:5]])
    else:
        ruletest(t0, sys.argv[3], sys.argv[4])

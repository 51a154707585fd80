#!/usr/bin/python3
"""regulation.py: the sampler and the report of bench/regulation.sh (stdlib only).

    bench/regulation.py sample --url APP_URL --out limits.jsonl [--every 0.5]
        Reads the demo application's GET /stats every --every seconds until SIGTERM and
        writes {"wall": EPOCH, "limit": N} each time its concurrency_limit differs from
        the last one written (the first reading is always written): the limit in force,
        whichever controller (or none) set it.

    bench/regulation.py report --out DIR --runs none,steps,regulator,fixed-2,... \\
        [--skip 10] [--objective 0.25] [--steady steady] [--json FILE]
        Reads each run's loadgen report (DIR/RUN/report.json), per-second timeline
        (DIR/RUN/timeline.jsonl) and limits (DIR/RUN/limits.jsonl), and prints markdown:
        per phase and controller the goodput (answers 200 per second of the phase), p95
        of every answer of the phase, the seconds after the first --skip of the phase
        whose p95 was above --objective, the shed share (429 and the 503s of the
        concurrency limit, of all answers), and the changes and reversals of the limit
        (a reversal: a change in the other direction than the change before it, counted
        in the phase where it happens); the oracle per phase (the fixed-N run with the
        highest goodput whose phase p95 is at most --objective); the issue's goals for
        the regulator, met or not; and the steady-load run (--steady), if there is one.
"""

import argparse
import http.client
import json
import signal
import sys
import time
import urllib.parse

GOAL_SECONDS_SHARE = 0.95  # p95 <= objective in at least 95 % of the seconds after --skip
GOAL_GOODPUT_SHARE = 0.95  # goodput >= 95 % of the phase's oracle
GOAL_REVERSALS = 2  # at most 2 reversals per phase


def sample(args):
    u = urllib.parse.urlsplit(args.url)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    last = None
    with open(args.out, "w", encoding="utf-8") as f:
        while not stop:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
            try:
                conn.request("GET", "/stats")
                limit = json.loads(conn.getresponse().read(65536))["concurrency_limit"]
            except (OSError, ValueError, KeyError, http.client.HTTPException):
                limit = None
            finally:
                conn.close()
            if limit is not None and limit != last:
                f.write(json.dumps({"wall": round(time.time(), 3), "limit": limit}) + "\n")
                f.flush()
                last = limit
            time.sleep(args.every)
    return 0


def load_run(d):
    rep = json.load(open(d + "/report.json", encoding="utf-8"))
    lines = [json.loads(x) for x in open(d + "/timeline.jsonl", encoding="utf-8") if x.strip()]
    try:
        limits = [json.loads(x) for x in open(d + "/limits.jsonl", encoding="utf-8") if x.strip()]
    except OSError:
        limits = []
    events = [x for x in lines if x.get("event") == "phase"]
    seconds = [x for x in lines if "event" not in x]
    phases = []
    for i, e in enumerate(events):
        end_t = events[i + 1]["t"] if i + 1 < len(events) else None
        end_w = events[i + 1]["wall"] if i + 1 < len(events) else None
        summary = next(p for p in rep["phases"] if p["name"] == e["name"])
        if end_t is None:
            end_t = e["t"] + summary["duration_seconds"]
            end_w = e["wall"] + summary["duration_seconds"]
        phases.append({"name": e["name"], "t0": e["t"], "t1": end_t, "w0": e["wall"],
                       "w1": end_w, "summary": summary})
    return phases, seconds, limits


def phase_figures(ph, seconds, limits, skip, objective):
    s = ph["summary"]
    answered = s["answered"] or 0
    ok = s["codes"].get("200", 0)
    late = [x for x in seconds if ph["t0"] + skip < x["t"] <= ph["t1"] and x["p95_ms"] is not None]
    over = sum(1 for x in late if x["p95_ms"] > 1000 * objective)
    # The limit's changes: a reversal is a change against the direction of the one before.
    changes = reversals = 0
    prev_dir = None
    for a, b in zip(limits, limits[1:]):
        d = 1 if b["limit"] > a["limit"] else -1
        if ph["w0"] <= b["wall"] < ph["w1"]:
            changes += 1
            reversals += prev_dir is not None and d != prev_dir
        prev_dir = d
    p95 = s["latency_ms"]["p95"]
    return {
        "goodput": ok / s["duration_seconds"],
        "p95_ms": p95,
        "over": over,
        "late": len(late),
        "shed": (s.get("shed", 0) / answered) if answered else 0.0,
        "changes": changes,
        "reversals": reversals,
        "limits": sorted({x["limit"] for x in limits if ph["w0"] <= x["wall"] < ph["w1"]}
                         | {limit_at(limits, ph["w0"])} - {None}),
    }


def limit_at(limits, wall):
    cur = None
    for x in limits:
        if x["wall"] <= wall:
            cur = x["limit"]
    return cur


def fmt_p95(v):
    return "-" if v is None else "%.0f" % v


def phase_tables(args, runs, data, oracle, goals):
    """The per-phase table and goals of the runs; fills data, oracle and goals."""
    for r in runs:
        phases, seconds, limits = load_run(args.out + "/" + r)
        data[r] = {ph["name"]: phase_figures(ph, seconds, limits, args.skip, args.objective)
                   for ph in phases}
        data[r]["_order"] = [ph["name"] for ph in phases]
    order = data[runs[0]]["_order"]
    fixed = [r for r in runs if r.startswith("fixed-") or r == "none"]

    def fixed_limit(r):
        return 64 if r == "none" else int(r.split("-", 1)[1])

    for name in order:
        best = None
        for r in fixed:
            f = data[r][name]
            if f["p95_ms"] is not None and f["p95_ms"] <= 1000 * args.objective:
                if best is None or f["goodput"] > data[best][name]["goodput"]:
                    best = r
        oracle[name] = best

    obj_ms = 1000 * args.objective
    print("| phase | controller | limit | goodput (req/s) | p95 (ms) | s with p95 > %.0f ms, after %gs | shed | changes / reversals |"
          % (obj_ms, args.skip))
    print("|---|---|---|---:|---:|---:|---:|---:|")
    shown = [r for r in ("none", "steps", "regulator") if r in data]
    for name in order:
        for r in shown + ["oracle"]:
            if r == "oracle":
                if oracle[name] is None:
                    print("| %s | oracle | none of the sweep has p95 <= %.0f ms | | | | | |" % (name, obj_ms))
                    continue
                f, label = data[oracle[name]][name], "oracle (fixed %d)" % fixed_limit(oracle[name])
                lim = str(fixed_limit(oracle[name]))
            else:
                f, label = data[r][name], {"none": "no control (fixed 64)", "steps": "step rules",
                                           "regulator": "regulator"}[r]
                lim = ", ".join(map(str, f["limits"])) if len(f["limits"]) <= 6 else "%d..%d (%d values)" % (
                    min(f["limits"]), max(f["limits"]), len(f["limits"]))
            print("| %s | %s | %s | %.1f | %s | %d of %d | %.1f %% | %d / %d |" % (
                name, label, lim, f["goodput"], fmt_p95(f["p95_ms"]), f["over"], f["late"],
                100 * f["shed"], f["changes"], f["reversals"]))
    print()
    print("The sweep (fixed limits), per phase: goodput req/s / p95 ms")
    print()
    print("| limit | " + " | ".join(order) + " |")
    print("|---:|" + "---:|" * len(order))
    for r in sorted(fixed, key=fixed_limit):
        print("| %d | %s |" % (fixed_limit(r), " | ".join(
            "%.1f / %s%s" % (data[r][n]["goodput"], fmt_p95(data[r][n]["p95_ms"]),
                             " (oracle)" if oracle[n] == r else "") for n in order)))
    print()

    if "regulator" in data:
        print("Goals for the regulator, per phase:")
        print()
        print("| phase | p95 <= %.0f ms in >= %.0f %% of the seconds after %gs | goodput >= %.0f %% of the oracle | <= %d reversals |"
              % (obj_ms, 100 * GOAL_SECONDS_SHARE, args.skip, 100 * GOAL_GOODPUT_SHARE, GOAL_REVERSALS))
        print("|---|---|---|---|")
        for name in order:
            f = data["regulator"][name]
            share = 1 - f["over"] / f["late"] if f["late"] else float("nan")
            g1 = f["late"] > 0 and share >= GOAL_SECONDS_SHARE
            if oracle[name]:
                o = data[oracle[name]][name]["goodput"]
                g2 = f["goodput"] >= GOAL_GOODPUT_SHARE * o
                t2 = "%.1f %% (%.1f of %.1f)" % (100 * f["goodput"] / o, f["goodput"], o)
            else:
                g2, t2 = None, "no oracle"
            g3 = f["reversals"] <= GOAL_REVERSALS
            goals += [g1, g2, g3]
            print("| %s | %s: %.1f %% | %s | %s: %d |" % (
                name, "met" if g1 else "**not met**", 100 * share,
                ("met: " if g2 else "**not met**: " if g2 is not None else "") + t2,
                "met" if g3 else "**not met**", f["reversals"]))
        print()



def report(args):
    runs = [r for r in args.runs.split(",") if r]
    data, oracle, goals = {}, {}, []
    obj_ms = 1000 * args.objective
    if runs:
        phase_tables(args, runs, data, oracle, goals)
    if args.steady:
        phases, seconds, limits = load_run(args.out + "/" + args.steady)
        ph = phases[-1]
        f = phase_figures(ph, seconds, limits, 0, args.objective)
        minutes = (ph["t1"] - ph["t0"]) / 60
        g4 = f["changes"] == 0
        goals.append(g4)
        print("Steady load (%s at %g req/s for %g min, after %s): the limit %s, %d changes: %s; "
              "goodput %.1f req/s, p95 %s ms, %d of %d seconds with p95 > %.0f ms, shed %.1f %%."
              % (ph["name"], ph["summary"]["rate"], minutes, phases[0]["name"],
                 ", ".join(map(str, f["limits"])), f["changes"],
                 "met (no change)" if g4 else "**not met**", f["goodput"], fmt_p95(f["p95_ms"]),
                 f["over"], f["late"], obj_ms, 100 * f["shed"]))
        print()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"runs": {r: {k: v for k, v in data[r].items() if k != "_order"} for r in data},
                       "oracle": oracle}, fh, indent=1)
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--url", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--every", type=float, default=0.5)
    r = sub.add_parser("report")
    r.add_argument("--out", required=True)
    r.add_argument("--runs", required=True)
    r.add_argument("--skip", type=float, default=10)
    r.add_argument("--objective", type=float, default=0.25)
    r.add_argument("--steady")
    r.add_argument("--json")
    args = ap.parse_args(argv)
    if args.cmd == "sample":
        return sample(args)
    return report(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

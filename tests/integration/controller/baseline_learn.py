#!/usr/bin/python3
"""baseline_learn.py: the history and the checks of baseline_learn.sh.

  openmetrics T0 FILE   two days from T0 (an hour boundary, epoch seconds) of plant_p95_seconds
                        every 60 s, as OpenMetrics for promtool: a daily pattern
                        0.1 x (1 + 0.5 sin(2 pi hour / 24)) with +-10 % of deterministic
                        noise, and an unhealthy episode (1.5, over the rules' 1.0) from hour
                        30 to hour 34
  check T0 FILE         compares `homeostat-controller baseline learn`'s file with the exact
                        quantiles of the healthy values per hour of the day (UTC): counts equal,
                        q 0.5/0.9/0.99 within the sketch's 2 % (and 1e-9), no unhealthy value
                        learned; prints PASS/FAIL lines
  quantile FILE Q NOW   the q-quantile of the learned baseline in NOW's daily slot
"""
import json
import math
import sys

STEP = 60
SPAN = 48 * 3600
BAD = (30 * 3600, 34 * 3600)
ALPHA = 0.02
GAMMA = (1 + ALPHA) / (1 - ALPHA)


def values(t0):
    x = 12345
    out = []
    for k in range(SPAN // STEP):
        t = t0 + k * STEP
        x = (1103515245 * x + 12345) % 2**31
        u = x / 2**31 * 2 - 1
        hour = (t % 86400) / 3600.0
        v = 0.1 * (1 + 0.5 * math.sin(2 * math.pi * hour / 24)) * (1 + 0.1 * u)
        if BAD[0] <= k * STEP < BAD[1]:
            v = 1.5
        out.append((t, round(v, 6)))
    return out


def sketch_quantile(slot, q):
    """The q-quantile of a slot's two epochs, as baseline.c answers it."""
    buckets = {}
    zero = 0
    for ep in ("cur", "prev"):
        start, z, b = slot[ep][:3]
        if start <= 0:
            continue
        zero += z
        for key, count in b:
            buckets[key] = buckets.get(key, 0) + count
    n = zero + sum(buckets.values())
    rank = math.floor(q * (n - 1))
    seen = zero
    if rank < seen:
        return 0.0, n
    for key in sorted(buckets):
        seen += buckets[key]
        if rank < seen:
            return 2 * GAMMA ** key / (GAMMA + 1), n
    return None, n


def main(argv):
    if argv[1] == "openmetrics":
        t0 = int(argv[2])
        with open(argv[3], "w") as f:
            f.write("# HELP plant_p95_seconds p95 of the plant\n# TYPE plant_p95_seconds gauge\n")
            for t, v in values(t0):
                f.write("plant_p95_seconds %s %d\n" % (repr(v), t))
            f.write("# EOF\n")
        return 0
    if argv[1] == "quantile":
        d = json.load(open(argv[2]))
        slot = str(int(float(argv[4]) // 3600) % 24)
        v, n = sketch_quantile(d["baselines"]["p95"]["slots"][slot], float(argv[3]))
        print("%.9g %d" % (v, n))
        return 0
    t0 = int(argv[2])
    d = json.load(open(argv[3]))
    b = d["baselines"]["p95"]
    healthy = {}
    for t, v in values(t0):
        if v <= 1.0:
            healthy.setdefault((t // 3600) % 24, []).append(v)
    bad = 0
    for h in range(24):
        exact = sorted(healthy.get(h, []))
        slot = b["slots"].get(str(h))
        if not slot:
            print("FAIL slot %dh: nothing learned (%d healthy values)" % (h, len(exact)))
            bad += 1
            continue
        for q in (0.5, 0.9, 0.99, 1.0):
            est, n = sketch_quantile(slot, q)
            want = exact[math.floor(q * (len(exact) - 1))]
            if n != len(exact):
                print("FAIL slot %dh: %d values learned, %d healthy ones" % (h, n, len(exact)))
                bad += 1
                break
            if est is None or abs(est - want) > ALPHA * want + 1e-9:
                print("FAIL slot %dh q=%g: %.6g learned, exact %.6g" % (h, q, est, want))
                bad += 1
            if q == 1.0 and est > 1.0:
                print("FAIL slot %dh: an unhealthy value was learned (max %.3g)" % (h, est))
                bad += 1
    if not bad:
        print("PASS 24 daily slots: counts equal to the healthy values', quantiles 0.5/0.9/0.99/1 "
              "within 2 %% of the exact ones (%d values, the %d unhealthy ones left out)"
              % (sum(len(v) for v in healthy.values()), (BAD[1] - BAD[0]) // STEP))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

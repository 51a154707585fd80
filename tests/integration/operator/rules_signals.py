#!/usr/bin/python3
"""rules_signals.py: runs every signal query of the rules files given against Prometheus.

Used by rules_prometheus.sh. Prints one line per signal, "PASS <file> <signal>: ..." or
"FAIL <file> <signal>: ...", and nothing else on stdout. A signal passes when
Prometheus parses its query and returns exactly one sample with a finite value: what
the controller needs to call the signal known (docs/RULES.md, signals). In a rules file
with targets (targets.by) a signal passes when it returns one sample per target with a
finite value, each naming its target by the labels of targets.by, at least one target
(a signal per target), or one sample without any of those labels (a shared signal).
Then one line per check and optimization of the report section, "PASS <file> report
<name>: parses, N series (values ...)": it passes when Prometheus parses the query and
returns an instant vector (or a scalar) whose values are numbers; no series is fine
here (no GPU, no breaker), rules_prometheus.sh asks for series where there must be some.
Usage: rules_signals.py PROMETHEUS_URL RULES_FILE...
"""
import json
import math
import sys
import urllib.parse
import urllib.request

import yaml


def query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400/422: the query did not parse or type-check
        return json.load(e)


def per_target(where, by, result):
    """The verdict on a signal of a rules file with targets whose series name targets."""
    keys = {}
    for s in result:
        if not any(b in s["metric"] for b in by):
            return "FAIL %s: a series without any of %s beside series with them" % (where, by)
        key = tuple(s["metric"].get(b, "") for b in by)
        keys[key] = keys.get(key, 0) + 1
        if not math.isfinite(float(s["value"][1])):
            return "FAIL %s: value %s of %s is not finite" % (where, s["value"][1], key)
    twice = [k for k, n in keys.items() if n > 1]
    if twice:
        return "FAIL %s: %d series for target %s: sum by (%s)" % (
            where, keys[twice[0]], twice[0], ", ".join(by))
    return "PASS %s: parses, one series per target, %d targets (%s)" % (
        where, len(keys), " ".join("/".join(k) for k in sorted(keys)[:4]))


def main():
    base, files = sys.argv[1], sys.argv[2:]
    for path in files:
        with open(path) as f:
            rules = yaml.safe_load(f)
        for name, signal in (rules.get("signals") or {}).items():
            reply = query(base, signal["query"])
            where = "%s %s" % (path.rsplit("/", 1)[-1], name)
            if reply.get("status") != "success":
                print("FAIL %s: %s: %s" % (where, reply.get("errorType"), reply.get("error")))
                continue
            data = reply["data"]
            by = (rules.get("targets") or {}).get("by")
            if by and data["resultType"] == "vector" and any(
                    any(b in s["metric"] for b in by) for s in data["result"]):
                print(per_target(where, by, data["result"]))
                continue
            if data["resultType"] == "scalar":
                values = [data["result"][1]]
            elif data["resultType"] == "vector":
                values = [s["value"][1] for s in data["result"]]
            else:
                print("FAIL %s: a %s, not a number" % (where, data["resultType"]))
                continue
            if len(values) != 1:
                print("FAIL %s: %d series, the controller needs exactly one" % (where, len(values)))
            elif not math.isfinite(float(values[0])):
                print("FAIL %s: value %s is not finite" % (where, values[0]))
            else:
                print("PASS %s: parses, one series, value %s" % (where, values[0]))
        report = rules.get("report") or {}
        for item in (report.get("checks") or []) + (report.get("optimizations") or []):
            reply = query(base, item["query"])
            where = "%s report %s" % (path.rsplit("/", 1)[-1], item["name"])
            if reply.get("status") != "success":
                print("FAIL %s: %s: %s" % (where, reply.get("errorType"), reply.get("error")))
                continue
            data = reply["data"]
            if data["resultType"] == "scalar":
                values = [data["result"][1]]
            elif data["resultType"] == "vector":
                values = [s["value"][1] for s in data["result"] if "value" in s]
            else:
                print("FAIL %s: a %s, not an instant vector" % (where, data["resultType"]))
                continue
            try:
                [float(v) for v in values]
            except ValueError:
                print("FAIL %s: values %s are not numbers" % (where, values))
                continue
            print("PASS %s: parses, %d series (values %s)" % (where, len(values),
                                                            " ".join(values[:4])))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""rules_signals.py: runs every signal query of the rules files given against Prometheus.

Used by rules_prometheus.sh. Prints one line per signal, "PASS <file> <signal>: ..." or
"FAIL <file> <signal>: ...", and nothing else on stdout. A signal passes when
Prometheus parses its query and returns exactly one sample with a finite value: what
the controller needs to call the signal known (docs/RULES.md, signals).
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

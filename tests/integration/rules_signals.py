#!/usr/bin/python3
"""rules_signals.py: runs every signal query of the rules files given against Prometheus.

Used by rules_prometheus.sh. Prints one line per signal, "PASS <file> <signal>: ..." or
"FAIL <file> <signal>: ...", and nothing else on stdout. A signal passes when
Prometheus parses its query and returns exactly one sample with a finite value: what
the controller needs to call the signal known (docs/RULES.md, signals).
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


if __name__ == "__main__":
    main()

"""check_exposition.py URL EXPECTED.json: fetches URL in the text format (0.0.4) and in
OpenMetrics, parses each with prometheus_client's reference parsers, and compares the
samples named in EXPECTED.json ({"name{l=\"v\",...}": value, ...}, labels sorted; a value
of null means "must be absent") with what both formats say. Prints one line per problem
and exits 1 if there is any; a parser error is a problem. Debian's /usr/bin/python3."""
import json
import math
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse


def fetch(url, accept):
    req = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers.get("Content-Type", ""), r.read().decode("utf-8")


def samples(families):
    out = {}
    for fam in families:
        for s in fam.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def main():
    url, expected_file = sys.argv[1], sys.argv[2]
    expected = json.load(open(expected_file)) if expected_file != "-" else {}
    problems = []
    parsed = {}
    for fmt, accept, want_ct, parse in (
        ("text", "text/plain;version=0.0.4", "text/plain", text_parse),
        ("openmetrics", "application/openmetrics-text;version=1.0.0", "openmetrics", om_parse),
    ):
        ctype, body = fetch(url, accept)
        if want_ct not in ctype:
            problems.append(f"{fmt}: Content-Type {ctype!r}")
        try:
            parsed[fmt] = samples(parse(body))
        except Exception as e:  # the reference parser's verdict
            problems.append(f"{fmt}: prometheus_client's parser failed: {e}")
    for fmt, got in parsed.items():
        for name, want in expected.items():
            have = got.get(name)
            if want is None:
                if have is not None:
                    problems.append(f"{fmt}: {name} is {have}, expected absent")
            elif have is None:
                problems.append(f"{fmt}: {name} missing (expected {want})")
            elif not math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-12):
                problems.append(f"{fmt}: {name} = {have}, expected {want}")
    for p in problems:
        print(p)
    if "text" in parsed:
        print(f"parsed {len(parsed.get('text', {}))} text and "
              f"{len(parsed.get('openmetrics', {}))} OpenMetrics samples")
    sys.exit(1 if problems else 0)


main()

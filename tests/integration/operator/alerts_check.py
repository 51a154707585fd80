#!/usr/bin/python3
"""alerts_check: helpers of tests/integration/operator/alerts_promtool.sh (Debian's python3 with
python3-yaml).

    alerts_check.py lint SOURCE_DIR
        Checks alerts/homeostat-alerts.yml against its conventions, docs/METRICS.md (the
        metrics its expressions read), its unit tests
        (alerts/tests/*_test.yml) and its runbook (docs/ALERTS.md). Prints one line per
        check, "PASS message" or "FAIL message".
    alerts_check.py list SOURCE_DIR
        Prints "ALERTNAME SEVERITY COMPONENT" for every alert.
    alerts_check.py am-copy SOURCE DEST BASE_URL TOKEN_FILE
        Writes a copy of an Alertmanager configuration whose webhook receivers all post
        to BASE_URL/RECEIVER, with credentials_file TOKEN_FILE and every group_wait 2s.
        Routes, grouping and inhibition are left as they are.
    alerts_check.py am-alerts < LINES
        "ALERTNAME SEVERITY COMPONENT LABEL=VALUE..." lines to a JSON array of alerts for
        POST /api/v2/alerts.
    alerts_check.py am-status < GET /api/v2/alerts
        Prints "KEY STATE [by KEY,...]" for each alert, KEY being
        alertname/instance (else /service, else /job), the inhibitors named by KEY.
    alerts_check.py deliveries LOG TOKEN
        From webhook_server.py's log, prints "RECEIVER KEY STATUS AUTH" for each alert of
        each notification; AUTH is "token" when the request had "Bearer TOKEN", else "-".
"""
import glob
import json
import os
import re
import sys

import yaml

GROUPS = ["homeostat-host", "homeostat-application", "homeostat-controller"]
SEVERITIES = {"critical", "warning", "info"}
COMPONENTS = {"host", "application", "exporter", "controller"}
RUNBOOK = "https://github.com/homeostat/homeostat/blob/main/docs/ALERTS.md#"
DOC_PARTS = ["**Meaning.**", "**Likely causes.**", "**What to do.**"]


def out(ok, msg):
    print("%s %s" % ("PASS" if ok else "FAIL", msg), flush=True)


def load_alerts(src):
    with open(os.path.join(src, "alerts", "homeostat-alerts.yml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    alerts = []
    for g in doc.get("groups") or []:
        for r in g.get("rules") or []:
            alerts.append((g.get("name"), r))
    return doc, alerts


def github_anchor(heading):
    """The id GitHub gives a Markdown heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def lint(src):
    doc, rules = load_alerts(src)
    names = [g.get("name") for g in doc.get("groups") or []]
    out(names == GROUPS, "the rule groups are %s (found %s)" % (GROUPS, names))
    records = [r.get("record") for _, r in rules if "alert" not in r]
    out(not records, "homeostat-alerts.yml holds alerting rules only (records: %s)" % records)
    alerts = {}
    for group, r in rules:
        if "alert" not in r:
            continue
        name = r["alert"]
        if name in alerts:
            out(False, "alert %s is defined twice" % name)
        alerts[name] = r

    for name, r in alerts.items():
        labels = r.get("labels") or {}
        ann = r.get("annotations") or {}
        problems = []
        if not re.fullmatch(r"Homeostat[A-Z][A-Za-z0-9]*", name):
            problems.append("name not Homeostat + CamelCase")
        if labels.get("severity") not in SEVERITIES:
            problems.append("severity %r" % labels.get("severity"))
        if labels.get("component") not in COMPONENTS:
            problems.append("component %r" % labels.get("component"))
        for a in ("summary", "description", "runbook_url"):
            if not str(ann.get(a, "")).strip():
                problems.append("no %s" % a)
        if ann.get("runbook_url") != RUNBOOK + name.lower():
            problems.append("runbook_url %r, not %s" % (ann.get("runbook_url"),
                                                         RUNBOOK + name.lower()))
        out(not problems, "%s: labels severity, component; annotations summary, description, "
            "runbook_url%s" % (name, (": " + "; ".join(problems)) if problems else ""))

    # Every metric an expression reads is one docs/METRICS.md documents (histograms by
    # their family name).
    with open(os.path.join(src, "docs", "METRICS.md"), encoding="utf-8") as f:
        documented = set(re.findall(r"\b(?:homeostat|app)_[a-z0-9_]+", f.read()))
    for name, r in alerts.items():
        used = set(re.findall(r"\b(?:homeostat|app)_[a-z0-9_]+", r.get("expr", "")))
        unknown_metrics = sorted(
            m for m in used
            if m not in documented and re.sub(r"_(bucket|sum|count)$", "", m) not in documented)
        ok = (used or "up{" in r.get("expr", "")) and not unknown_metrics
        out(ok, "%s: the metrics it reads (%s) are in docs/METRICS.md%s" % (
            name, ", ".join(sorted(used)) or "up", ": not " + ", ".join(unknown_metrics)
            if unknown_metrics else ""))

    # Unit tests: each alert fires in some test with its exact labels and annotations, and
    # is expected not to fire in another.
    fires, quiet, unknown, partial = {}, {}, set(), []
    tests = sorted(glob.glob(os.path.join(src, "alerts", "tests", "*_test.yml")))
    out(bool(tests), "alerts/tests has unit test files (%d)" % len(tests))
    for path in tests:
        with open(path, encoding="utf-8") as f:
            t = yaml.safe_load(f) or {}
        base = os.path.basename(path)
        for case in t.get("tests") or []:
            for at in case.get("alert_rule_test") or []:
                name = at.get("alertname")
                exp = at.get("exp_alerts") or []
                if name not in alerts:
                    unknown.add("%s in %s" % (name, base))
                    continue
                if not exp:
                    quiet.setdefault(name, []).append(base)
                    continue
                fires.setdefault(name, []).append(base)
                want = alerts[name].get("labels") or {}
                for e in exp:
                    el = e.get("exp_labels") or {}
                    ea = e.get("exp_annotations") or {}
                    if any(el.get(k) != want.get(k) for k in ("severity", "component")) or \
                            not all(k in ea for k in ("summary", "description", "runbook_url")):
                        partial.append("%s at %s in %s" % (name, at.get("eval_time"), base))
    for name in alerts:
        out(name in fires, "%s: a unit test expects it to fire (%s)" % (
            name, ", ".join(sorted(set(fires.get(name, [])))) or "none"))
        out(name in quiet, "%s: a unit test expects it not to fire (%s)" % (
            name, ", ".join(sorted(set(quiet.get(name, [])))) or "none"))
    out(not unknown, "the unit tests name no unknown alert%s" % (
        ": " + ", ".join(sorted(unknown)) if unknown else ""))
    out(not partial, "every expected firing alert lists severity and component as the rule's, "
        "and summary, description and runbook_url%s" % (
            ": " + "; ".join(partial) if partial else ""))

    # The runbook: one section per alert with its three parts, no section for an alert that
    # does not exist, and every #link of the page resolving.
    with open(os.path.join(src, "docs", "ALERTS.md"), encoding="utf-8") as f:
        md = f.read()
    sections, anchors, current = {}, set(), None
    in_code = False
    for line in md.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        m = re.match(r"^(#{1,6}) (.*)$", line)
        if m:
            anchors.add(github_anchor(m.group(2)))
            current = m.group(2).strip() if m.group(1) == "##" else None
            if current:
                sections[current] = ""
            continue
        if current:
            sections[current] += line + "\n"
    for name in alerts:
        body = sections.get(name)
        missing = [p for p in DOC_PARTS if body is not None and p not in body]
        ok = body is not None and not missing and github_anchor(name) == name.lower()
        out(ok, "docs/ALERTS.md has a section '## %s' (anchor #%s) with %s%s" % (
            name, name.lower(), ", ".join(DOC_PARTS),
            ": no such section" if body is None else
            ": missing " + ", ".join(missing) if missing else ""))
    stale = [s for s in sections if s.startswith("Homeostat") and s not in alerts]
    out(not stale, "docs/ALERTS.md has no section for an alert that does not exist%s" % (
        ": " + ", ".join(stale) if stale else ""))
    links = set(re.findall(r"\]\(#([^)]+)\)", md))
    broken = sorted(links - anchors)
    out(not broken, "every #link in docs/ALERTS.md names a heading (%d links)%s" % (
        len(links), ": broken " + ", ".join(broken) if broken else ""))


def list_alerts(src):
    _, rules = load_alerts(src)
    for _, r in rules:
        if "alert" in r:
            labels = r.get("labels") or {}
            print(r["alert"], labels.get("severity", "-"), labels.get("component", "-"))


def am_copy(source, dest, base, token):
    with open(source, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    for rcv in cfg.get("receivers") or []:
        for w in rcv.get("webhook_configs") or []:
            w["url"] = "%s/%s" % (base, rcv["name"])
            auth = (w.get("http_config") or {}).get("authorization")
            if auth and "credentials_file" in auth:
                auth["credentials_file"] = token

    def walk(route):
        if "group_wait" in route:
            route["group_wait"] = "2s"
        for r in route.get("routes") or []:
            walk(r)

    cfg["route"]["group_wait"] = "2s"
    walk(cfg["route"])
    with open(dest, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


def key(labels):
    for k in ("instance", "service", "job"):
        if labels.get(k):
            return "%s/%s" % (labels.get("alertname"), labels[k])
    return labels.get("alertname", "?")


def am_alerts():
    """Lines "ALERTNAME SEVERITY COMPONENT LABEL=VALUE..." on stdin to the JSON array
    POST /api/v2/alerts takes; job is homeostat-controller for the controller's alerts,
    homeostat-exporter for the others but the application's."""
    alerts = []
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        labels = {"alertname": f[0], "severity": f[1], "component": f[2]}
        if f[2] == "controller":
            labels["job"] = "homeostat-controller"
        elif f[2] != "application":
            labels["job"] = "homeostat-exporter"
        labels.update(kv.split("=", 1) for kv in f[3:])
        alerts.append({"labels": labels})
    json.dump(alerts, sys.stdout)


def am_status():
    alerts = json.load(sys.stdin)
    by_fp = {a["fingerprint"]: key(a["labels"]) for a in alerts}
    for a in sorted(alerts, key=lambda a: key(a["labels"])):
        st = a["status"]
        line = "%s %s" % (key(a["labels"]), st["state"])
        if st.get("inhibitedBy"):
            line += " by " + ",".join(sorted(by_fp.get(fp, fp) for fp in st["inhibitedBy"]))
        print(line)


def deliveries(log, token):
    if not os.path.exists(log):
        return
    with open(log, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            body = r.get("json") or {}
            auth = "-"
            for h, v in (r.get("headers") or {}).items():
                if h.lower() == "authorization" and v == "Bearer " + token:
                    auth = "token"
            for a in body.get("alerts") or []:
                print(body.get("receiver"), key(a.get("labels") or {}), a.get("status"), auth)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "lint" and len(sys.argv) == 3:
        lint(sys.argv[2])
    elif cmd == "list" and len(sys.argv) == 3:
        list_alerts(sys.argv[2])
    elif cmd == "am-copy" and len(sys.argv) == 6:
        am_copy(*sys.argv[2:])
    elif cmd == "am-alerts" and len(sys.argv) == 2:
        am_alerts()
    elif cmd == "am-status" and len(sys.argv) == 2:
        am_status()
    elif cmd == "deliveries" and len(sys.argv) == 4:
        deliveries(sys.argv[2], sys.argv[3])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()

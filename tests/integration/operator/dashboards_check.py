#!/usr/bin/python3
"""dashboards_check.py: checks the homeostat Grafana dashboards for
tests/integration/operator/dashboards_prometheus.sh, which turns each output line into a check:
"PASS <text>" or "FAIL <text>"; a last line "COUNT <dashboards> <panels> <queries>
<variables>" says how much was checked.

    dashboards_check.py PROM_URL DEADLINE_SECONDS SOURCE_DIR FILE=JOB [FILE=JOB ...]

For each dashboard FILE (JOB: the job its job variable must resolve to):
  - structure: importable shape (__inputs DS_PROMETHEUS, __requires, a `datasource`
    variable of type datasource), uid unique across the files, tags, links to the
    other dashboards, every panel (rows' nested panels included) with a unique id,
    a gridPos inside the 24 columns, a description, the datasource ${datasource} on
    the panel and on every target, units set; metric names only from docs/METRICS.md,
    docs/INGEST.md and alerts/homeostat-recording.yml; every selector filtered by $job;
  - templating: each label_values(...) query, its variables substituted, returns values
    from Prometheus' label values API; the values chosen the way Grafana does (the
    `All` value of a multi-value variable, else the first value in sort order);
  - every target's expression, variables substituted ($__rate_interval -> 1m,
    $__interval -> 15s, $__range -> 5m), runs through /api/v1/query: it must parse
    (status success) and return at least one series. Empty results are retried once a
    second until DEADLINE_SECONDS, since rates need two scrapes.
Standard library only.
"""
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DS = {"type": "prometheus", "uid": "${datasource}"}
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m",
            "__range_s": "300", "__interval_ms": "15000"}
PANEL_TYPES = {"timeseries", "stat", "heatmap", "state-timeline", "table", "bargauge",
               "row"}
UNIT_PANELS = {"timeseries", "stat", "bargauge", "table"}
# PromQL words that can stand right before "{" or "(" and are not metric names.
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "bool", "offset"}

out_lines = []


def report(ok, text):
    print("%s %s" % ("PASS" if ok else "FAIL", text.replace("\n", " ")), flush=True)


def api(prom, path, params):
    url = "%s%s?%s" % (prom, path, urllib.parse.urlencode(params, doseq=True))
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": "HTTP %d" % e.code}
    except (OSError, ValueError) as e:
        return {"status": "error", "error": repr(e)}


# --- metric names allowed ------------------------------------------------------------------

def brace_expand(name):
    m = re.search(r"\{([^{}]*)\}", name)
    if not m:
        return [name]
    out = []
    for alt in m.group(1).split(","):
        out += brace_expand(name[:m.start()] + alt.strip() + name[m.end():])
    return out


def allowed_names(source):
    names = set()
    for doc in ("docs/METRICS.md", "docs/INGEST.md"):
        with open("%s/%s" % (source, doc), encoding="utf-8") as f:
            text = f.read()
        for tok in re.findall(r"`((?:homeostat|process|app)_[a-zA-Z0-9_{},]*)", text):
            names.update(brace_expand(tok))
    recorded = set()
    with open("%s/alerts/homeostat-recording.yml" % source, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*-\s*record:\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$", line)
            if m:
                recorded.add(m.group(1))
    return names, recorded


def metric_ok(name, names, recorded):
    if name in names or name in recorded:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in names:
            return True
    return False


def selectors(expr):
    """(metric name, label matchers text) for every `name{...}` in expr."""
    return re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^{}]*)\}", expr)


# --- variables -----------------------------------------------------------------------------

def substitute(text, values):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in values:
            return values[name]
        return m.group(0)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, text)


def resolve_variables(prom, dash, label, want_job):
    """Resolves the query variables in order, as Grafana would at load time; one check
    each. Returns the values to substitute."""
    values = {}
    count = 0
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        count += 1
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query", "")
        q = substitute(q or "", values)
        m = re.fullmatch(r"\s*label_values\(\s*(?:(.*\S)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", q)
        if not m:
            report(False, "%s: variable %s: not a label_values() query: %r" % (label, v["name"], q))
            continue
        match, lname = m.group(1), m.group(2)
        params = {"start": str(time.time() - 3600)}
        if match:
            params["match[]"] = match
        got = api(prom, "/api/v1/label/%s/values" % lname, params)
        vals = sorted(got.get("data") or []) if got.get("status") == "success" else []
        if got.get("status") != "success":
            report(False, "%s: variable %s: %s -> %s" % (label, v["name"], q, got.get("error")))
        elif not vals:
            report(False, "%s: variable %s: %s returns no values" % (label, v["name"], q))
        else:
            report(True, "%s: variable %s: %s -> %s" % (label, v["name"], q, ", ".join(vals[:6])
                                                        + (" ..." if len(vals) > 6 else "")))
        if v.get("includeAll") and v.get("allValue"):
            values[v["name"]] = v["allValue"]
        elif v.get("multi") or v.get("includeAll"):
            values[v["name"]] = "(%s)" % "|".join(re.escape(x).replace("\\", "\\\\") for x in vals)
        else:
            values[v["name"]] = vals[0] if vals else "no-value"
        if v["name"] == "job":
            report(values["job"] == want_job, "%s: the job variable selects %s (got %s)" % (
                label, want_job, values["job"]))
    return values, count


# --- structure -----------------------------------------------------------------------------

def all_panels(dash):
    """Every panel, nested ones of collapsed rows included."""
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:
            yield q


def check_structure(dash, label, names, recorded, uids_all):
    ok = True

    def need(cond, text):
        nonlocal ok
        if not cond:
            ok = False
            report(False, "%s: %s" % (label, text))
        return cond

    need(isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 36,
         "schemaVersion %r (want 36 or later)" % dash.get("schemaVersion"))
    need(dash.get("uid") and len(dash["uid"]) <= 40, "uid %r" % dash.get("uid"))
    need(dash.get("title"), "no title")
    need("homeostat" in (dash.get("tags") or []), "tags %r lack homeostat" % dash.get("tags"))
    need(dash.get("id") is None, "id must be null for import (is %r)" % dash.get("id"))
    inputs = dash.get("__inputs") or []
    need(any(i.get("name") == "DS_PROMETHEUS" and i.get("type") == "datasource"
             and i.get("pluginId") == "prometheus" for i in inputs),
         "__inputs lacks the DS_PROMETHEUS datasource input")
    req = {(r.get("type"), r.get("id")) for r in dash.get("__requires") or []}
    need(("datasource", "prometheus") in req and ("grafana", "grafana") in req,
         "__requires lacks grafana or the prometheus datasource")
    tvars = dash.get("templating", {}).get("list", [])
    byname = {v.get("name"): v for v in tvars}
    dsv = byname.get("datasource", {})
    need(dsv.get("type") == "datasource" and dsv.get("query") == "prometheus",
         "no `datasource` variable of type datasource (query prometheus)")
    for name in ("job", "instance"):
        need(byname.get(name, {}).get("type") == "query", "no query variable %s" % name)
    for v in tvars:
        if v.get("type") == "query":
            need(v.get("datasource") == DS, "variable %s: datasource %r" % (v["name"], v.get("datasource")))
    others = uids_all - {dash.get("uid")}
    link_text = json.dumps(dash.get("links") or [])
    for u in sorted(others):
        need("/d/%s" % u in link_text, "no link to the dashboard %s" % u)

    ids, n_panels = set(), 0
    for p in all_panels(dash):
        t = p.get("type")
        title = "%s / %s" % (label, p.get("title"))
        need(t in PANEL_TYPES, "%s: panel type %r" % (title, t))
        pid = p.get("id")
        need(isinstance(pid, int) and pid not in ids, "%s: id %r missing or not unique" % (title, pid))
        ids.add(pid)
        g = p.get("gridPos") or {}
        need(all(isinstance(g.get(k), int) for k in "hwxy") and g.get("x", 0) + g.get("w", 0) <= 24
             and g.get("w", 0) > 0 and g.get("h", 0) > 0, "%s: gridPos %r" % (title, g))
        if t == "row":
            continue
        n_panels += 1
        need(p.get("title"), "panel %r has no title" % pid)
        need(p.get("description"), "%s: no description" % title)
        need(p.get("datasource") == DS, "%s: datasource %r, want %r" % (title, p.get("datasource"), DS))
        targets = p.get("targets") or []
        need(targets, "%s: no targets" % title)
        refs = [x.get("refId") for x in targets]
        need(len(set(refs)) == len(refs) and all(refs), "%s: refIds %r" % (title, refs))
        defaults = p.get("fieldConfig", {}).get("defaults", {})
        if t in UNIT_PANELS:
            need(defaults.get("unit"), "%s: no unit" % title)
        for x in targets:
            need(x.get("datasource") == DS, "%s [%s]: target datasource %r" % (title, x.get("refId"), x.get("datasource")))
            expr = x.get("expr") or ""
            need(expr.strip(), "%s [%s]: empty expr" % (title, x.get("refId")))
            sels = selectors(expr)
            need(sels, "%s [%s]: no metric selector" % (title, x.get("refId")))
            for name, matchers in sels:
                if name in PROMQL_WORDS:
                    continue
                need(metric_ok(name, names, recorded),
                     "%s [%s]: metric %s is neither in docs/METRICS.md, docs/INGEST.md nor a "
                     "recording rule" % (title, x.get("refId"), name))
                need('job=~"$job"' in matchers.replace(" ", ""),
                     "%s [%s]: %s{%s} is not filtered by job=~\"$job\"" % (title, x.get("refId"), name, matchers))
    # Top-level panels of open rows must not overlap.
    cells = {}
    for p in dash.get("panels", []):
        g = p.get("gridPos") or {}
        for dx in range(g.get("w", 0)):
            for dy in range(g.get("h", 0)):
                key = (g.get("x", 0) + dx, g.get("y", 0) + dy)
                if key in cells:
                    need(False, "panels %r and %r overlap at %r" % (cells[key], p.get("title"), key))
                    break
                cells[key] = p.get("title")
            else:
                continue
            break
    report(ok, "%s: structure (uid %s, %d panels, unique ids, gridPos, datasource "
               "${datasource} everywhere, units, descriptions, links, metric names)" % (
                   label, dash.get("uid"), n_panels))
    return n_panels


# --- queries -------------------------------------------------------------------------------

def run_queries(prom, queries, deadline):
    """queries: list of (label, expr). Reports each once: parsed and non-empty, retried while
    empty until the deadline."""
    pending = list(queries)
    results = {}
    while True:
        still = []
        for label, expr in pending:
            r = api(prom, "/api/v1/query", {"query": expr})
            if r.get("status") != "success":
                results[label] = (False, "%s: does not run: %s: %s" % (label, r.get("error"), expr))
                continue
            data = r["data"]
            n = len(data["result"]) if data["resultType"] in ("vector", "matrix") else 1
            if n:
                results[label] = (True, "%s: %d series" % (label, n))
            else:
                results[label] = (False, "%s: no series after the deadline: %s" % (label, expr))
                still.append((label, expr))
        pending = still
        if not pending or time.time() >= deadline:
            break
        time.sleep(1)
    for label, _ in queries:
        report(*results[label])


def main(argv):
    prom, deadline, source = argv[1], time.time() + float(argv[2]), argv[3]
    names, recorded = allowed_names(source)
    report(len(names) > 100 and len(recorded) >= 10,
           "allowed names: %d documented metrics, %d recording rules" % (len(names), len(recorded)))
    dashes = []
    for arg in argv[4:]:
        path, want_job = arg.rsplit("=", 1)
        with open(path, encoding="utf-8") as f:
            dashes.append((path, json.load(f), want_job))
    uids = [d.get("uid") for _, d, _ in dashes]
    report(len(set(uids)) == len(uids), "dashboard uids are unique: %s" % ", ".join(map(str, uids)))
    heat = [(path, p) for path, d, _ in dashes for p in all_panels(d)
            if p.get("type") == "heatmap" and any(
                "homeostat_cpu_busy_ratio_bucket" in (t.get("expr") or "")
                and t.get("format") == "heatmap" for t in p.get("targets") or [])]
    report(bool(heat), "a heatmap panel reads homeostat_cpu_busy_ratio_bucket with format "
                       "heatmap (%s)" % ", ".join("%s: %s" % (path.rsplit("/", 1)[-1], p["title"])
                                                  for path, p in heat))
    n_panels = n_queries = n_vars = 0
    queries = []
    for path, dash, want_job in dashes:
        label = dash.get("title") or path
        n_panels += check_structure(dash, label, names, recorded, set(uids))
        values, nv = resolve_variables(prom, dash, label, want_job)
        n_vars += nv
        for p in all_panels(dash):
            if p.get("type") == "row":
                continue
            for t in p.get("targets") or []:
                expr = substitute(t.get("expr") or "", values)
                qlabel = "%s / %s [%s]" % (label, p.get("title"), t.get("refId"))
                if "$" in expr:
                    report(False, "%s: unknown variable left in %s" % (qlabel, expr))
                    continue
                queries.append((qlabel, expr))
                n_queries += 1
    run_queries(prom, queries, deadline)
    print("COUNT %d %d %d %d" % (len(dashes), n_panels, n_queries, n_vars))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

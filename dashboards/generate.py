#!/usr/bin/python3
"""generate.py: writes the homeostat Grafana dashboards (homeostat-host.json,
homeostat-application.json, homeostat-controller.json) next to itself.

The JSON files are committed; this script is their source. Edit it, run it, commit both:
    /usr/bin/python3 dashboards/generate.py            # rewrite the three files
    /usr/bin/python3 dashboards/generate.py --check    # exit 1 if a file differs
tests/integration/operator/dashboards_prometheus.sh runs --check and every panel's query against a
real Prometheus. Only metric names of docs/METRICS.md and docs/INGEST.md, and the
recording rules of alerts/homeostat-recording.yml, are used. Standard library only.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_VERSION = "10.4.0"
SCHEMA_VERSION = 39
DASHBOARDS = {
    "host": ("homeostat-host", "homeostat / Host", "homeostat-host.json"),
    "application": ("homeostat-application", "homeostat / Application",
                    "homeostat-application.json"),
    "controller": ("homeostat-controller", "homeostat / Controller",
                   "homeostat-controller.json"),
}
PANEL_NAMES = {
    "timeseries": "Time series", "stat": "Stat", "heatmap": "Heatmap",
    "state-timeline": "State timeline", "table": "Table", "bargauge": "Bar gauge",
}


# --- building blocks -------------------------------------------------------------------------

def target(expr, legend="", instant=False, fmt="time_series"):
    """One Prometheus query of a panel; refId is given by the panel."""
    t = {"datasource": DS, "editorMode": "code", "expr": expr, "format": fmt,
         "legendFormat": legend, "range": not instant, "instant": instant}
    return t


def thresholds(*steps, base="green"):
    """Absolute thresholds: base colour, then (value, colour) pairs."""
    out = [{"color": base, "value": None}]
    out += [{"color": c, "value": v} for v, c in steps]
    return {"mode": "absolute", "steps": out}


def value_map(*pairs):
    """A value mapping: (value, text, colour) triples."""
    opts = {}
    for i, (v, text, color) in enumerate(pairs):
        o = {"index": i, "text": text}
        if color:
            o["color"] = color
        opts[str(v)] = o
    return [{"type": "value", "options": opts}]


def override_name(name, **props):
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": k, "value": v} for k, v in props.items()]}


def override_regexp(regexp, **props):
    return {"matcher": {"id": "byRegexp", "options": regexp},
            "properties": [{"id": k, "value": v} for k, v in props.items()]}


def timeseries(title, desc, targets, unit="short", w=12, h=8, min_=None, max_=None,
               stack=False, bars=False, thr=None, thr_style="off", overrides=None,
               decimals=None):
    custom = {
        "drawStyle": "bars" if bars else "line", "lineWidth": 1,
        "fillOpacity": 60 if bars else (25 if stack else 10), "gradientMode": "none",
        "showPoints": "never", "pointSize": 4, "spanNulls": False, "lineInterpolation": "linear",
        "axisPlacement": "auto", "axisLabel": "", "axisCenteredZero": False,
        "axisSoftMin": 0, "scaleDistribution": {"type": "linear"},
        "barAlignment": 0, "insertNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": thr_style},
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
    }
    defaults = {"unit": unit, "color": {"mode": "palette-classic"}, "custom": custom,
                "thresholds": thr or thresholds(), "mappings": []}
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "timeseries", "title": title, "description": desc, "w": w, "h": h,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True,
                       "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
    }


def stat(title, desc, targets, unit="short", w=4, h=4, thr=None, mappings=None,
         text_mode="auto", color_mode="value", graph=True, decimals=None, min_=None,
         max_=None, overrides=None):
    defaults = {"unit": unit, "color": {"mode": "thresholds"},
                "thresholds": thr or thresholds(), "mappings": mappings or []}
    if decimals is not None:
        defaults["decimals"] = decimals
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    return {
        "type": "stat", "title": title, "description": desc, "w": w, "h": h,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": color_mode, "graphMode": "area" if graph else "none",
            "justifyMode": "auto", "orientation": "auto", "textMode": text_mode,
            "wideLayout": True, "showPercentChange": False,
        },
        "targets": targets,
    }


def heatmap(title, desc, expr, y_unit, w=12, h=8):
    """A heatmap of a Prometheus histogram: increase of its _bucket series by le."""
    return {
        "type": "heatmap", "title": title, "description": desc, "w": w, "h": h,
        "fieldConfig": {"defaults": {"custom": {
            "hideFrom": {"legend": False, "tooltip": False, "viz": False},
            "scaleDistribution": {"type": "linear"}}}, "overrides": []},
        "options": {
            "calculate": False, "cellGap": 1, "cellValues": {"unit": "short"},
            "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange",
                      "scale": "exponential", "exponent": 0.5, "steps": 64,
                      "reverse": False},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "filterValues": {"le": 1e-09},
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto", "value": "Observations"},
            "showValue": "auto",
            "tooltip": {"mode": "single", "show": True, "yHistogram": True,
                        "showColorScale": False},
            "yAxis": {"axisPlacement": "left", "reverse": False, "unit": y_unit},
        },
        "targets": [target(expr, "{{le}}", fmt="heatmap")],
    }


def state_timeline(title, desc, targets, mappings=None, thr=None, overrides=None, w=12, h=8,
                   show_value="auto"):
    return {
        "type": "state-timeline", "title": title, "description": desc, "w": w, "h": h,
        "fieldConfig": {
            "defaults": {"color": {"mode": "thresholds"}, "thresholds": thr or thresholds(),
                         "mappings": mappings or [],
                         "custom": {"fillOpacity": 80, "lineWidth": 0,
                                    "hideFrom": {"legend": False, "tooltip": False,
                                                 "viz": False}}},
            "overrides": overrides or []},
        "options": {
            "mergeValues": True, "showValue": show_value, "alignValue": "left",
            "rowHeight": 0.9,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "single", "sort": "none"},
        },
        "targets": targets,
    }


def table(title, desc, targets, rename, hide=(), overrides=None, sort_by=None, w=12, h=8,
          unit="short"):
    """An instant table; the targets are merged on their labels."""
    exclude = {"Time": True}
    exclude.update({k: True for k in hide})
    transformations = [{"id": "merge", "options": {}},
                       {"id": "organize", "options": {"excludeByName": exclude,
                                                      "indexByName": {},
                                                      "renameByName": rename}}]
    options = {"showHeader": True, "cellHeight": "sm",
               "footer": {"show": False, "reducer": ["sum"], "countRows": False,
                          "fields": ""}}
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": True}]
    return {
        "type": "table", "title": title, "description": desc, "w": w, "h": h,
        "fieldConfig": {"defaults": {"unit": unit, "color": {"mode": "thresholds"},
                                     "thresholds": thresholds(), "mappings": [],
                                     "custom": {"align": "auto", "filterable": True,
                                                "cellOptions": {"type": "auto"},
                                                "inspect": False}},
                        "overrides": overrides or []},
        "options": options,
        "transformations": transformations,
        "targets": targets,
    }


def bargauge(title, desc, targets, unit="percentunit", thr=None, w=12, h=8, min_=0, max_=1):
    return {
        "type": "bargauge", "title": title, "description": desc, "w": w, "h": h,
        "fieldConfig": {"defaults": {"unit": unit, "min": min_, "max": max_,
                                     "color": {"mode": "thresholds"},
                                     "thresholds": thr or thresholds(), "mappings": []},
                        "overrides": []},
        "options": {
            "displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
            "valueMode": "color", "namePlacement": "auto", "sizing": "auto",
            "minVizWidth": 8, "minVizHeight": 16, "maxVizHeight": 300,
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
        "targets": targets,
    }


class Row:
    def __init__(self, title, panels, collapsed=False):
        self.title, self.panels, self.collapsed = title, panels, collapsed


def layout(rows):
    """Panels with ids and grid positions: each row header, then its panels left to right,
    wrapping at 24 columns. A collapsed row keeps its panels inside it, as Grafana saves it."""
    out, y, pid = [], 0, 1
    for row in rows:
        header = {"type": "row", "title": row.title, "collapsed": row.collapsed, "id": pid,
                  "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
        pid += 1
        y += 1
        out.append(header)
        x, line_h, placed = 0, 0, []
        for p in row.panels:
            w, h = p.pop("w"), p.pop("h")
            if x + w > 24:
                x, y, line_h = 0, y + line_h, 0
            panel = {"id": pid, "type": p.pop("type"), "title": p.pop("title"),
                     "description": p.pop("description"), "datasource": DS,
                     "gridPos": {"h": h, "w": w, "x": x, "y": y}}
            pid += 1
            targets = p.pop("targets")
            for i, t in enumerate(targets):
                t["refId"] = chr(ord("A") + i)
            panel.update(p)
            panel["targets"] = targets
            placed.append(panel)
            x += w
            line_h = max(line_h, h)
        y += line_h
        if row.collapsed:
            header["panels"] = placed
        else:
            out.extend(placed)
    return out


def datasource_var():
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "regex": "", "hide": 0, "refresh": 1,
            "includeAll": False, "multi": False, "skipUrlSync": False, "options": [],
            "current": {"selected": False, "text": "${DS_PROMETHEUS}",
                        "value": "${DS_PROMETHEUS}"}}


def query_var(name, label, query, multi=False, refresh=2, desc=""):
    v = {"name": name, "label": label, "type": "query", "datasource": DS,
         "definition": query, "query": query, "refresh": refresh, "regex": "", "sort": 1,
         "hide": 0, "includeAll": multi, "multi": multi, "skipUrlSync": False,
         "options": [], "current": {}, "description": desc}
    if multi:
        v["allValue"] = ".*"
        v["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return v


def dashboard(key, description, rows, variables, panel_types):
    uid, title, _ = DASHBOARDS[key]
    links = []
    for other in ("host", "application", "controller"):
        if other == key:
            continue
        ouid, otitle, _ = DASHBOARDS[other]
        links.append({"type": "link", "title": otitle, "url": "/d/%s?${datasource:queryparam}" % ouid,
                      "icon": "dashboard", "tooltip": "Open the %s dashboard" % otitle,
                      "keepTime": True, "includeVars": False, "targetBlank": False,
                      "asDropdown": False, "tags": []})
    requires = [{"type": "grafana", "id": "grafana", "name": "Grafana",
                 "version": GRAFANA_VERSION},
                {"type": "datasource", "id": "prometheus", "name": "Prometheus",
                 "version": "1.0.0"}]
    requires += [{"type": "panel", "id": t, "name": PANEL_NAMES[t], "version": ""}
                 for t in sorted(panel_types)]
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus",
                      "description": "The Prometheus that scrapes homeostat-exporter and "
                                     "homeostat-controller and loads "
                                     "alerts/homeostat-recording.yml",
                      "type": "datasource", "pluginId": "prometheus",
                      "pluginName": "Prometheus"}],
        "__elements": {},
        "__requires": requires,
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": links,
        "liveNow": False,
        "panels": layout(rows),
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["homeostat"],
        "templating": {"list": [datasource_var()] + variables},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def panel_types(rows):
    return {p["type"] for r in rows for p in r.panels}


def rate(metric, sel, rng="$__rate_interval"):
    return "rate(%s{%s}[%s])" % (metric, sel, rng)


# --- host ------------------------------------------------------------------------------------

def host():
    H = 'job=~"$job",instance=~"$instance"'
    U = H + ',unit=~"$unit"'
    G = H + ',gpu=~"$gpu"'
    busy_thr = thresholds((0.7, "orange"), (0.85, "red"))
    mem_thr = thresholds((0.8, "orange"), (0.9, "red"))
    # One table row per filesystem: every query of the table has the same labels.
    fs_row = "max by (instance, mountpoint, device, fstype) (%s)"
    cpus = 'count by (job, instance) (count by (job, instance, cpu) (homeostat_cpu_seconds_total{%s}))' % H
    rows = [
        Row("Overview", [
            stat("CPU busy", "Share of CPU time, all CPUs, neither idle nor iowait over the "
                 "last minute (recording rule instance:homeostat_cpu_busy_ratio:rate1m). "
                 "The default rules call the host critical above 85 %.",
                 [target("instance:homeostat_cpu_busy_ratio:rate1m{%s}" % H, "{{instance}}")],
                 unit="percentunit", thr=busy_thr, min_=0, max_=1),
            stat("CPU busy p99 (sampled)", "99th percentile of the busy ratio the sampler "
                 "observes many times per scrape interval, over the last minute: short "
                 "spikes that the average hides show here "
                 "(instance:homeostat_cpu_busy_ratio:p99_1m).",
                 [target("instance:homeostat_cpu_busy_ratio:p99_1m{%s}" % H, "{{instance}}")],
                 unit="percentunit", thr=busy_thr, min_=0, max_=1),
            stat("Memory used", "1 - MemAvailable / MemTotal "
                 "(instance:homeostat_memory_used:ratio). Critical above 90 % in the "
                 "default rules.",
                 [target("instance:homeostat_memory_used:ratio{%s}" % H, "{{instance}}")],
                 unit="percentunit", thr=mem_thr, min_=0, max_=1),
            stat("Load per CPU", "1-minute load average divided by the number of CPUs; "
                 "above 1 means runnable threads wait for a CPU.",
                 [target("homeostat_load1{%s} / on (job, instance) %s" % (H, cpus),
                         "{{instance}}")],
                 unit="short", decimals=2, thr=thresholds((1, "orange"), (2, "red"))),
            stat("Uptime", "Time since the host booted (homeostat_boot_time_seconds).",
                 [target("time() - homeostat_boot_time_seconds{%s}" % H, "{{instance}}")],
                 unit="s", graph=False, thr=thresholds(base="blue")),
            stat("Failing collectors", "Collectors that failed in the last scrape "
                 "(homeostat_collector_success == 0): a missing or malformed file, or a "
                 "collector over --collector.timeout.",
                 [target("sum by (instance) (1 - homeostat_collector_success{%s})" % H,
                         "{{instance}}")],
                 thr=thresholds((1, "red")), graph=False),
        ]),
        Row("CPU", [
            timeseries("CPU busy ratio", "Busy ratio from the /proc/stat counters over 1m, "
                       "and the mean and 99th percentile of the sampled busy-ratio "
                       "histogram over 1m. A p99 far above the mean shows bursts shorter "
                       "than the scrape interval.",
                       [target("instance:homeostat_cpu_busy_ratio:rate1m{%s}" % H,
                               "{{instance}} busy (counters)"),
                        target("instance:homeostat_cpu_busy_ratio:mean1m{%s}" % H,
                               "{{instance}} mean (sampled)"),
                        target("instance:homeostat_cpu_busy_ratio:p99_1m{%s}" % H,
                               "{{instance}} p99 (sampled)")],
                       unit="percentunit", min_=0, max_=1, thr=busy_thr,
                       thr_style="line+area"),
            heatmap("Sampled CPU busy ratio (histogram)", "Distribution of the busy ratio "
                    "observed by the sampler (every --sampler.interval, 100 ms by default) "
                    "between scrapes: homeostat_cpu_busy_ratio_bucket, increase per "
                    "interval by bucket. Bright cells high up are CPU saturation, even when "
                    "it lasts less than a scrape interval.",
                    "sum by (le) (increase(homeostat_cpu_busy_ratio_bucket{%s}[$__rate_interval]))" % H,
                    "percentunit"),
            timeseries("CPU by mode", "Share of CPU time per mode, all CPUs together, idle "
                       "left out: the stack is the busy ratio plus iowait "
                       "(instance_mode:homeostat_cpu_seconds:ratio_rate1m).",
                       [target('instance_mode:homeostat_cpu_seconds:ratio_rate1m{%s,mode!="idle"}' % H,
                               "{{instance}} {{mode}}")],
                       unit="percentunit", min_=0, stack=True),
            timeseries("Load average", "1, 5 and 15 minute load averages and the number of "
                       "CPUs.",
                       [target("homeostat_load1{%s}" % H, "{{instance}} load1"),
                        target("homeostat_load5{%s}" % H, "{{instance}} load5"),
                        target("homeostat_load15{%s}" % H, "{{instance}} load15"),
                        target(cpus, "{{instance}} CPUs")],
                       unit="short",
                       overrides=[override_regexp(".* CPUs", **{
                           "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                           "custom.fillOpacity": 0})]),
            timeseries("Context switches, interrupts and forks", "Per second, from "
                       "/proc/stat.",
                       [target("rate(homeostat_context_switches_total{%s}[$__rate_interval])" % H,
                               "{{instance}} context switches"),
                        target("rate(homeostat_intr_total{%s}[$__rate_interval])" % H,
                               "{{instance}} interrupts"),
                        target("rate(homeostat_forks_total{%s}[$__rate_interval])" % H,
                               "{{instance}} forks")],
                       unit="ops"),
            timeseries("Threads running and blocked", "Threads runnable and threads blocked "
                       "on I/O (procs_running, procs_blocked).",
                       [target("homeostat_procs_running{%s}" % H, "{{instance}} running"),
                        target("homeostat_procs_blocked{%s}" % H, "{{instance}} blocked")],
                       unit="short"),
        ]),
        Row("Memory", [
            timeseries("Memory", "Used (total - available), available, page cache, buffers "
                       "and total, from /proc/meminfo.",
                       [target("homeostat_memory_total_bytes{%s} - homeostat_memory_available_bytes{%s}" % (H, H),
                               "{{instance}} used"),
                        target("homeostat_memory_available_bytes{%s}" % H,
                               "{{instance}} available"),
                        target("homeostat_memory_cached_bytes{%s}" % H, "{{instance}} cached"),
                        target("homeostat_memory_buffers_bytes{%s}" % H,
                               "{{instance}} buffers"),
                        target("homeostat_memory_total_bytes{%s}" % H, "{{instance}} total")],
                       unit="bytes", min_=0,
                       overrides=[override_regexp(".* total", **{
                           "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                           "custom.fillOpacity": 0})]),
            timeseries("Memory used ratio", "1 - available / total at each scrape, and the "
                       "99th percentile of the sampled memory-used histogram over 1m "
                       "(instance:homeostat_memory_used:ratio, "
                       "instance:homeostat_memory_used_ratio:p99_1m).",
                       [target("instance:homeostat_memory_used:ratio{%s}" % H,
                               "{{instance}} used"),
                        target("instance:homeostat_memory_used_ratio:p99_1m{%s}" % H,
                               "{{instance}} p99 (sampled)")],
                       unit="percentunit", min_=0, max_=1, thr=mem_thr,
                       thr_style="line+area", w=6),
            timeseries("Swap and dirty pages", "Swap in use (total - free) and dirty pages "
                       "waiting to be written back.",
                       [target("homeostat_memory_swap_total_bytes{%s} - homeostat_memory_swap_free_bytes{%s}" % (H, H),
                               "{{instance}} swap used"),
                        target("homeostat_memory_dirty_bytes{%s}" % H, "{{instance}} dirty")],
                       unit="bytes", min_=0, w=6),
        ]),
        Row("Pressure (PSI)", [
            timeseries("Pressure: some tasks waiting", "Share of wall time in which at "
                       "least one task waited for CPU, memory or I/O (PSI \"some\").",
                       [target(rate("homeostat_pressure_cpu_waiting_seconds_total", H),
                               "{{instance}} cpu"),
                        target(rate("homeostat_pressure_memory_waiting_seconds_total", H),
                               "{{instance}} memory"),
                        target(rate("homeostat_pressure_io_waiting_seconds_total", H),
                               "{{instance}} io")],
                       unit="percentunit", min_=0),
            timeseries("Pressure: all tasks stalled", "Share of wall time in which all "
                       "non-idle tasks were stalled (PSI \"full\"): lost work. The cpu line "
                       "exists on kernels 5.13 and later.",
                       [target(rate("homeostat_pressure_cpu_stalled_seconds_total", H),
                               "{{instance}} cpu"),
                        target(rate("homeostat_pressure_memory_stalled_seconds_total", H),
                               "{{instance}} memory"),
                        target(rate("homeostat_pressure_io_stalled_seconds_total", H),
                               "{{instance}} io")],
                       unit="percentunit", min_=0),
        ]),
        Row("Disk", [
            timeseries("Disk throughput", "Bytes read and written per second, per device.",
                       [target(rate("homeostat_disk_read_bytes_total", H),
                               "{{instance}} {{device}} read"),
                        target(rate("homeostat_disk_written_bytes_total", H),
                               "{{instance}} {{device}} written")],
                       unit="Bps", w=8),
            timeseries("Disk IOPS", "Reads and writes completed per second, per device.",
                       [target(rate("homeostat_disk_reads_completed_total", H),
                               "{{instance}} {{device}} reads"),
                        target(rate("homeostat_disk_writes_completed_total", H),
                               "{{instance}} {{device}} writes")],
                       unit="iops", w=8),
            timeseries("Disk utilisation", "Share of time with I/O in progress per device "
                       "(io_time). Near 100 % a rotational disk is saturated; SSDs serve "
                       "several requests at once.",
                       [target(rate("homeostat_disk_io_time_seconds_total", H),
                               "{{instance}} {{device}}")],
                       unit="percentunit", min_=0, w=8),
            timeseries("Disk latency", "Average time per completed read and write.",
                       [target("%s / %s" % (rate("homeostat_disk_read_time_seconds_total", H),
                                            rate("homeostat_disk_reads_completed_total", H)),
                               "{{instance}} {{device}} read"),
                        target("%s / %s" % (rate("homeostat_disk_write_time_seconds_total", H),
                                            rate("homeostat_disk_writes_completed_total", H)),
                               "{{instance}} {{device}} write")],
                       unit="s", min_=0),
            timeseries("Disk queue", "I/Os in progress now, and the average queue length "
                       "(rate of the weighted I/O time).",
                       [target("homeostat_disk_io_now{%s}" % H, "{{instance}} {{device}} now"),
                        target(rate("homeostat_disk_io_time_weighted_seconds_total", H),
                               "{{instance}} {{device}} average")],
                       unit="short", min_=0),
        ]),
        Row("Network", [
            timeseries("Network throughput", "Bytes received and transmitted per second, per "
                       "interface.",
                       [target(rate("homeostat_network_receive_bytes_total", H),
                               "{{instance}} {{device}} received"),
                        target(rate("homeostat_network_transmit_bytes_total", H),
                               "{{instance}} {{device}} transmitted")],
                       unit="Bps", w=8),
            timeseries("Network packets", "Packets received and transmitted per second.",
                       [target(rate("homeostat_network_receive_packets_total", H),
                               "{{instance}} {{device}} received"),
                        target(rate("homeostat_network_transmit_packets_total", H),
                               "{{instance}} {{device}} transmitted")],
                       unit="pps", w=8),
            timeseries("Network errors and drops", "Receive and transmit errors and drops "
                       "per second; anything above 0 deserves a look.",
                       [target(rate("homeostat_network_receive_errs_total", H),
                               "{{instance}} {{device}} receive errors"),
                        target(rate("homeostat_network_receive_drop_total", H),
                               "{{instance}} {{device}} receive drops"),
                        target(rate("homeostat_network_transmit_errs_total", H),
                               "{{instance}} {{device}} transmit errors"),
                        target(rate("homeostat_network_transmit_drop_total", H),
                               "{{instance}} {{device}} transmit drops")],
                       unit="pps", w=8),
        ]),
        Row("Filesystems", [
            table("Mounted filesystems", "Every mounted filesystem the exporter reports: space used "
                  "(as unprivileged users see it: 1 - avail / size), size, space available, "
                  "inodes used, read-only, and whether statvfs failed or hung.",
                  [target(fs_row % ("1 - homeostat_filesystem_avail_bytes{%s} / homeostat_filesystem_size_bytes{%s}" % (H, H)),
                          instant=True, fmt="table"),
                   target(fs_row % ("homeostat_filesystem_size_bytes{%s}" % H), instant=True,
                          fmt="table"),
                   target(fs_row % ("homeostat_filesystem_avail_bytes{%s}" % H), instant=True,
                          fmt="table"),
                   target(fs_row % ("1 - homeostat_filesystem_files_free{%s} / homeostat_filesystem_files{%s}" % (H, H)),
                          instant=True, fmt="table"),
                   target(fs_row % ("homeostat_filesystem_readonly{%s}" % H), instant=True,
                          fmt="table"),
                   target(fs_row % ("homeostat_filesystem_device_error{%s}" % H), instant=True,
                          fmt="table")],
                  rename={"Value #A": "Used", "Value #B": "Size", "Value #C": "Available",
                          "Value #D": "Inodes used", "Value #E": "Read-only",
                          "Value #F": "Error"},
                  overrides=[
                      override_name("Used", unit="percentunit",
                                    thresholds=mem_thr,
                                    **{"custom.cellOptions": {"type": "color-background"}}),
                      override_name("Inodes used", unit="percentunit"),
                      override_name("Size", unit="bytes"),
                      override_name("Available", unit="bytes"),
                      override_name("Read-only", mappings=value_map((0, "no", None),
                                                                    (1, "read-only", "orange"))),
                      override_name("Error", mappings=value_map((0, "ok", "green"),
                                                                (1, "error", "red")),
                                    **{"custom.cellOptions": {"type": "color-text"}}),
                  ],
                  sort_by="Used", w=16, h=9),
            bargauge("Filesystem space used", "Space used per mount point, fullest first.",
                     [target("1 - homeostat_filesystem_avail_bytes{%s} / homeostat_filesystem_size_bytes{%s}" % (H, H),
                             "{{instance}} {{mountpoint}}")],
                     thr=mem_thr, w=8, h=9),
            timeseries("Filesystem space used over time", "1 - avail / size per mount point.",
                       [target("1 - homeostat_filesystem_avail_bytes{%s} / homeostat_filesystem_size_bytes{%s}" % (H, H),
                               "{{instance}} {{mountpoint}}")],
                       unit="percentunit", min_=0, max_=1, thr=mem_thr, thr_style="line",
                       w=16),
            stat("Filesystems in error", "Mounts whose statvfs failed or is still stuck "
                 "(homeostat_filesystem_device_error); such mounts are skipped, never "
                 "waited for.",
                 [target("sum by (instance) (homeostat_filesystem_device_error{%s})" % H,
                         "{{instance}}")],
                 thr=thresholds((1, "red")), w=8, h=8, graph=False),
        ]),
        Row("cgroups (systemd units)", [
            timeseries("CPU per unit", "CPU used by each unit under system.slice, in CPUs "
                       "(100 % = one CPU), and the unit's CPU quota where one is set "
                       "(dashed).",
                       [target("sum by (instance, unit) (%s)" % rate("homeostat_cgroup_cpu_usage_seconds_total", U),
                               "{{instance}} {{unit}}"),
                        target("homeostat_cgroup_cpu_quota_ratio{%s}" % U,
                               "{{instance}} {{unit}} quota")],
                       unit="percentunit", min_=0,
                       overrides=[override_regexp(".* quota", **{
                           "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                           "custom.fillOpacity": 0})]),
            timeseries("Memory per unit", "memory.current of each unit, and memory.max "
                       "(dashed) for units that have a finite limit.",
                       [target("homeostat_cgroup_memory_current_bytes{%s}" % U,
                               "{{instance}} {{unit}}"),
                        target("homeostat_cgroup_memory_max_bytes{%s} < +Inf" % U,
                               "{{instance}} {{unit}} limit")],
                       unit="bytes", min_=0,
                       overrides=[override_regexp(".* limit", **{
                           "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                           "custom.fillOpacity": 0})]),
            timeseries("CPU throttling per unit", "Share of CPU bandwidth periods in which "
                       "the unit was throttled by its quota (cpu.stat nr_throttled / "
                       "nr_periods).",
                       [target("sum by (instance, unit) (%s) / sum by (instance, unit) (%s)" % (
                           rate("homeostat_cgroup_cpu_throttled_periods_total", U),
                           rate("homeostat_cgroup_cpu_periods_total", U)),
                               "{{instance}} {{unit}}")],
                       unit="percentunit", min_=0, w=8),
            timeseries("Throttled time per unit", "Seconds per second the unit's tasks were "
                       "held back by the CPU quota (cpu.stat throttled_usec).",
                       [target("sum by (instance, unit) (%s)" % rate("homeostat_cgroup_cpu_throttled_seconds_total", U),
                               "{{instance}} {{unit}}")],
                       unit="percentunit", min_=0, w=8),
            timeseries("Pressure per unit", "Share of wall time in which some task of the "
                       "unit waited for CPU, memory or I/O (the unit's PSI \"some\").",
                       [target("sum by (instance, unit) (%s)" % rate("homeostat_cgroup_pressure_cpu_waiting_seconds_total", U),
                               "{{instance}} {{unit}} cpu"),
                        target("sum by (instance, unit) (%s)" % rate("homeostat_cgroup_pressure_memory_waiting_seconds_total", U),
                               "{{instance}} {{unit}} memory"),
                        target("sum by (instance, unit) (%s)" % rate("homeostat_cgroup_pressure_io_waiting_seconds_total", U),
                               "{{instance}} {{unit}} io")],
                       unit="percentunit", min_=0, w=8),
            timeseries("Memory events per unit", "memory.events per interval: high "
                       "(throttled at memory.high), max (hit memory.max), oom, oom_kill.",
                       [target("sum by (instance, unit, event) (increase(homeostat_cgroup_memory_events_total{%s}[$__rate_interval]))" % U,
                               "{{instance}} {{unit}} {{event}}")],
                       unit="short", bars=True, min_=0, w=16),
            stat("Units left out", "Units that matched --collector.cgroup.unit-include but "
                 "were dropped by --collector.cgroup.max-units.",
                 [target("homeostat_cgroup_units_dropped{%s}" % H, "{{instance}}")],
                 thr=thresholds((1, "orange")), w=8, h=8, graph=False),
        ]),
        Row("GPU", [
            timeseries("GPU utilisation", "The driver's own busy ratio (NVML utilisation, "
                       "amdgpu gpu_busy_percent), and the mean and 99th percentile of the "
                       "sampled GPU busy-ratio histogram over 1m.",
                       [target("homeostat_gpu_utilization_ratio{%s}" % G,
                               "{{instance}} gpu {{gpu}}"),
                        target("instance_gpu:homeostat_gpu_busy_ratio:mean1m{%s}" % G,
                               "{{instance}} gpu {{gpu}} mean (sampled)"),
                        target("instance_gpu:homeostat_gpu_busy_ratio:p99_1m{%s}" % G,
                               "{{instance}} gpu {{gpu}} p99 (sampled)")],
                       unit="percentunit", min_=0, max_=1),
            timeseries("GPU memory", "GPU memory in use and in total.",
                       [target("homeostat_gpu_memory_used_bytes{%s}" % G,
                               "{{instance}} gpu {{gpu}} used"),
                        target("homeostat_gpu_memory_total_bytes{%s}" % G,
                               "{{instance}} gpu {{gpu}} total")],
                       unit="bytes", min_=0,
                       overrides=[override_regexp(".* total", **{
                           "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                           "custom.fillOpacity": 0})]),
            timeseries("GPU temperature", "Die temperature.",
                       [target("homeostat_gpu_temperature_celsius{%s}" % G,
                               "{{instance}} gpu {{gpu}}")],
                       unit="celsius", thr=thresholds((80, "orange"), (90, "red")),
                       thr_style="line", w=8),
            timeseries("GPU power", "Power draw and the enforced power limit (dashed).",
                       [target("homeostat_gpu_power_watts{%s}" % G, "{{instance}} gpu {{gpu}}"),
                        target("homeostat_gpu_power_limit_watts{%s}" % G,
                               "{{instance}} gpu {{gpu}} limit")],
                       unit="watt", min_=0, w=8,
                       overrides=[override_regexp(".* limit", **{
                           "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                           "custom.fillOpacity": 0})]),
            table("GPUs", "Vendor, name and UUID of each GPU (homeostat_gpu_info).",
                  [target("homeostat_gpu_info{%s}" % G, instant=True, fmt="table")],
                  rename={}, hide=("job", "__name__", "Value"), w=8),
        ], collapsed=True),
        Row("Exporter", [
            timeseries("Collector duration", "Time each collector took in the last scrape; "
                       "a collector over --collector.timeout reports the budget and fails.",
                       [target("homeostat_collector_duration_seconds{%s}" % H,
                               "{{instance}} {{collector}}")],
                       unit="s", min_=0, w=8),
            state_timeline("Collector success", "1 when the collector succeeded in the "
                           "scrape, 0 when it failed.",
                           [target("homeostat_collector_success{%s}" % H,
                                   "{{instance}} {{collector}}")],
                           mappings=value_map((0, "failed", "red"), (1, "ok", "green")),
                           w=8, show_value="never"),
            timeseries("Sampler", "Sampler ticks and overruns (ticks skipped because one ran "
                       "late) per second, and the CPU the sampler thread itself uses.",
                       [target(rate("homeostat_sampler_samples_total", H), "{{instance}} ticks"),
                        target(rate("homeostat_sampler_overruns_total", H),
                               "{{instance}} overruns"),
                        target(rate("homeostat_sampler_cpu_seconds_total", H),
                               "{{instance}} sampler CPU")],
                       unit="short", min_=0, w=8,
                       overrides=[override_regexp(".* sampler CPU", unit="percentunit")]),
            timeseries("Exporter memory", "Resident memory of the exporter process.",
                       [target("process_resident_memory_bytes{%s}" % H, "{{instance}}")],
                       unit="bytes", min_=0, w=8),
            timeseries("Exporter CPU", "CPU used by the exporter process (100 % = one CPU).",
                       [target(rate("process_cpu_seconds_total", H), "{{instance}}")],
                       unit="percentunit", min_=0, w=8),
            timeseries("Scrapes", "Scrapes served and collections run per second "
                       "(concurrent scrapes share one collection).",
                       [target(rate("homeostat_exporter_scrapes_total", H),
                               "{{instance}} scrapes"),
                        target(rate("homeostat_exporter_collections_total", H),
                               "{{instance}} collections")],
                       unit="ops", min_=0, w=8),
        ], collapsed=True),
    ]
    variables = [
        query_var("job", "Job", "label_values(homeostat_exporter_build_info, job)", refresh=1,
                  desc="The Prometheus job that scrapes homeostat-exporter."),
        query_var("instance", "Instance",
                  'label_values(homeostat_exporter_build_info{job=~"$job"}, instance)',
                  multi=True),
        query_var("unit", "Unit",
                  'label_values(homeostat_cgroup_memory_current_bytes{job=~"$job",instance=~"$instance"}, unit)',
                  multi=True, desc="systemd units under system.slice (cgroup panels)."),
        query_var("gpu", "GPU",
                  'label_values(homeostat_gpu_info{job=~"$job",instance=~"$instance"}, gpu)',
                  multi=True, desc="GPUs (GPU panels)."),
    ]
    return dashboard("host", "Host metrics of homeostat-exporter: CPU with the sampled "
                     "busy-ratio histogram, memory, pressure, disks, network, filesystems, "
                     "systemd units (cgroups) and GPUs.", rows, variables, panel_types(rows))


# --- application -----------------------------------------------------------------------------

def application():
    R = 'job=~"$job",service=~"$service"'
    A = 'job=~"$job",instance=~"$instance",service=~"$service"'
    I = 'job=~"$job",instance=~"$instance"'
    err_thr = thresholds((0.02, "red"))
    lat_thr = thresholds((1, "orange"), (5, "red"))
    hit_thr = thresholds((0.5, "orange"), (0.8, "green"), base="red")
    breaker_map = value_map((0, "closed", "green"), (1, "open", "red"),
                            (2, "half-open", "yellow"))
    breaker_expr = (
        'max by (service, breaker) (\n'
        '    (app_breaker_state{%s,state="closed"} == 1) * 0\n'
        '  or (app_breaker_state{%s,state="open"} == 1) * 0 + 1\n'
        '  or (app_breaker_state{%s,state="half_open"} == 1) * 0 + 2\n'
        ')' % (A, A, A))
    rows = [
        Row("Overview", [
            stat("Requests per second", "Successes and failures per second over 5m, per "
                 "service (service:app_requests:rate5m).",
                 [target("service:app_requests:rate5m{%s}" % R, "{{service}}")],
                 unit="reqps", thr=thresholds(base="blue"), w=5),
            stat("Error ratio", "Failures / all requests over 5m "
                 "(service:app_request_errors:ratio_rate5m). Degraded above 2 % in the "
                 "default rules.",
                 [target("service:app_request_errors:ratio_rate5m{%s}" % R, "{{service}}")],
                 unit="percentunit", thr=err_thr, w=5, decimals=2),
            stat("p95 latency", "95th percentile of the request duration over 5m "
                 "(service:app_request_duration_seconds:p95_5m). Degraded above 5 s in the "
                 "default rules.",
                 [target("service:app_request_duration_seconds:p95_5m{%s}" % R,
                         "{{service}}")],
                 unit="s", thr=lat_thr, w=5),
            stat("Cache hit ratio", "Hits / lookups over 5m per cache "
                 "(service_cache:app_cache_hits:ratio_rate5m).",
                 [target("service_cache:app_cache_hits:ratio_rate5m{%s}" % R,
                         "{{service}} {{cache}}")],
                 unit="percentunit", thr=hit_thr, w=5, min_=0, max_=1),
            stat("Open breakers", "Circuit breakers in the open state now.",
                 [target('sum by (service) (app_breaker_state{%s,state="open"})' % A,
                         "{{service}}")],
                 thr=thresholds((1, "red")), w=4, graph=False),
        ]),
        Row("Requests", [
            timeseries("Request rate", "Requests per second by service and result "
                       "(app_requests_total, from <service>.request.success and .failure).",
                       [target("sum by (service, result) (%s)" % rate("app_requests_total", A),
                               "{{service}} {{result}}")],
                       unit="reqps", min_=0,
                       overrides=[override_regexp(".* failure", color={
                           "mode": "fixed", "fixedColor": "red"})]),
            timeseries("Error ratio", "Failures / all requests over 5m per service; the "
                       "line is the 2 % threshold of the default rules and alerts.",
                       [target("service:app_request_errors:ratio_rate5m{%s}" % R,
                               "{{service}}")],
                       unit="percentunit", min_=0, thr=err_thr, thr_style="line"),
        ]),
        Row("Latency", [
            timeseries("Latency quantiles", "p50, p95 and p99 of the request duration over "
                       "5m, and the mean (recording rules "
                       "service:app_request_duration_seconds:*). A quantile is at most the "
                       "upper bound of the bucket it falls in.",
                       [target("service:app_request_duration_seconds:p50_5m{%s}" % R,
                               "{{service}} p50"),
                        target("service:app_request_duration_seconds:p95_5m{%s}" % R,
                               "{{service}} p95"),
                        target("service:app_request_duration_seconds:p99_5m{%s}" % R,
                               "{{service}} p99"),
                        target("service:app_request_duration_seconds:mean5m{%s}" % R,
                               "{{service}} mean")],
                       unit="s", min_=0, thr=lat_thr, thr_style="line"),
            heatmap("Latency distribution", "Requests per latency bucket per interval "
                    "(app_request_duration_seconds_bucket).",
                    "sum by (le) (increase(app_request_duration_seconds_bucket{%s}[$__rate_interval]))" % A,
                    "s"),
        ]),
        Row("Cache", [
            timeseries("Cache hit ratio", "Hits / lookups over 5m per cache.",
                       [target("service_cache:app_cache_hits:ratio_rate5m{%s}" % R,
                               "{{service}} {{cache}}")],
                       unit="percentunit", min_=0, max_=1, w=8),
            timeseries("Cache lookups", "Hits and misses per second "
                       "(app_cache_requests_total).",
                       [target("sum by (service, cache, result) (%s)" % rate("app_cache_requests_total", A),
                               "{{service}} {{cache}} {{result}}")],
                       unit="ops", min_=0, w=8),
            timeseries("Cache size", "Entries in each cache (app_cache_entries).",
                       [target("sum by (service, cache) (app_cache_entries{%s})" % A,
                               "{{service}} {{cache}}")],
                       unit="short", min_=0, w=8),
        ]),
        Row("Circuit breakers", [
            state_timeline("Breaker states", "State of each circuit breaker: closed, open "
                           "or half-open (app_breaker_state).",
                           [target(breaker_expr, "{{service}} {{breaker}}")],
                           mappings=breaker_map, w=12),
            timeseries("Breaker transitions", "Transitions per interval by breaker, from and "
                       "to (app_breaker_transitions_total).",
                       [target("sum by (service, breaker, from, to) (increase(app_breaker_transitions_total{%s}[$__rate_interval]))" % A,
                               "{{service}} {{breaker}} {{from}} → {{to}}")],
                       unit="short", bars=True, min_=0, w=12),
            table("Transitions in the time range", "Transitions of each breaker over the "
                  "dashboard's time range.",
                  [target("sum by (service, breaker, from, to) (increase(app_breaker_transitions_total{%s}[$__range]))" % A,
                          instant=True, fmt="table")],
                  rename={"Value": "Transitions"}, sort_by="Transitions", w=24, h=6,
                  overrides=[override_name("Transitions", decimals=0)]),
        ]),
        Row("Ingest", [
            timeseries("Lines received", "StatsD lines and pushed items per second by "
                       "protocol and result (accepted, or why it was rejected).",
                       [target("sum by (instance, protocol, result) (%s)" % rate("homeostat_ingest_lines_total", I),
                               "{{instance}} {{protocol}} {{result}}")],
                       unit="ops", min_=0, w=8),
            timeseries("Values dropped", "Accepted values dropped afterwards, by reason "
                       "(series limit, conflict, ...), and datagrams lost.",
                       [target("sum by (instance, reason) (%s)" % rate("homeostat_ingest_dropped_total", I),
                               "{{instance}} {{reason}}"),
                        target("sum by (instance, protocol, reason) (%s)" % rate("homeostat_ingest_packets_dropped_total", I),
                               "{{instance}} {{protocol}} datagrams {{reason}}")],
                       unit="ops", min_=0, w=8),
            timeseries("Application series", "Live application series and the "
                       "--ingest.max-series limit (dashed).",
                       [target("homeostat_ingest_series{%s}" % I, "{{instance}} series"),
                        target("homeostat_ingest_series_limit{%s}" % I, "{{instance}} limit")],
                       unit="short", min_=0, w=8,
                       overrides=[override_regexp(".* limit", **{
                           "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                           "custom.fillOpacity": 0})]),
        ], collapsed=True),
    ]
    variables = [
        query_var("job", "Job", "label_values(homeostat_exporter_build_info, job)", refresh=1,
                  desc="The Prometheus job that scrapes homeostat-exporter."),
        query_var("instance", "Instance",
                  'label_values(homeostat_exporter_build_info{job=~"$job"}, instance)',
                  multi=True, desc="Exporters; the panels that read recording rules sum "
                                   "over every exporter of the job."),
        query_var("service", "Service",
                  'label_values(app_requests_total{job=~"$job"}, service)', multi=True),
    ]
    return dashboard("application", "Application metrics ingested by homeostat-exporter "
                     "(StatsD, DogStatsD, HTTP push) under the conventions of docs/INGEST.md: "
                     "request rate, error ratio, latency quantiles, caches and circuit "
                     "breakers.", rows, variables, panel_types(rows))


# --- controller ------------------------------------------------------------------------------

def controller():
    C = 'job=~"$job",instance=~"$instance"'
    state_colors = [("critical", "red"), ("degraded", "orange"), ("stressed", "yellow"),
                    ("optimal", "green"), ("unknown", "text")]
    state_overrides = [
        override_regexp("(.* )?%s" % name,
                        thresholds=thresholds((1, color), base="transparent"))
        for name, color in state_colors]

    def quantiles(metric):
        return [target("histogram_quantile(%s, sum by (instance, le) (%s))" % (
            q, rate(metric + "_bucket", C)), "{{instance}} p%s" % p)
            for q, p in (("0.5", "50"), ("0.95", "95"), ("0.99", "99"))]

    rows = [
        Row("Overview", [
            stat("State", "The state the controller is in now (homeostat_controller_state "
                 "== 1).",
                 [target("max by (instance, state) (homeostat_controller_state{%s}) == 1" % C,
                         "{{state}}")],
                 text_mode="name", color_mode="background", graph=False,
                 thr=thresholds(base="blue"),
                 overrides=[override_name(name, color={"mode": "fixed", "fixedColor": color})
                            for name, color in state_colors]),
            stat("Confidence", "Confidence (0..1) in the current state at the last "
                 "evaluation: margin × duration × coverage × freshness (docs/RULES.md).",
                 [target("homeostat_controller_confidence{%s}" % C, "{{instance}}")],
                 unit="percentunit", min_=0, max_=1,
                 thr=thresholds((0.3, "orange"), (0.6, "green"), base="red"), w=3),
            stat("In this state for", "Time since the current state was entered.",
                 [target("time() - homeostat_controller_state_since_timestamp_seconds{%s}" % C,
                         "{{instance}}")],
                 unit="s", graph=False, thr=thresholds(base="blue"), w=3),
            stat("Actuation", "Paused (emergency stop, POST /api/v1/pause) or active.",
                 [target("homeostat_controller_paused{%s}" % C, "{{instance}}")],
                 mappings=value_map((0, "active", "green"), (1, "PAUSED", "red")),
                 color_mode="background", graph=False, w=3),
            stat("Dry run", "1 with --dry-run: decisions are recorded, never acted on.",
                 [target("homeostat_controller_dry_run{%s}" % C, "{{instance}}")],
                 mappings=value_map((0, "off", "green"), (1, "dry run", "orange")),
                 color_mode="background", graph=False, w=3),
            stat("Actions in effect", "Actions applied and waiting to be reverted when their "
                 "state is left.",
                 [target("homeostat_controller_actions_in_effect{%s}" % C, "{{instance}}")],
                 thr=thresholds((1, "orange")), w=2),
            stat("Action budget left", "Actions decisions may still run in the current hour "
                 "under limits.max_actions_per_hour.",
                 [target("homeostat_controller_action_budget_remaining{%s}" % C,
                         "{{instance}}")],
                 mappings=value_map((-1, "unlimited", "blue")),
                 thr=thresholds((1, "orange"), (5, "green"), base="red"), w=3),
            stat("Rules loaded", "Whether the last load of the rules file succeeded; while "
                 "an invalid file is ignored the previous rules keep running.",
                 [target("homeostat_controller_config_last_reload_successful{%s}" % C,
                         "{{instance}}")],
                 mappings=value_map((0, "failed", "red"), (1, "ok", "green")),
                 color_mode="background", graph=False, w=3),
        ]),
        Row("State", [
            state_timeline("State timeline", "Which state the controller was in over time "
                           "(one row per state of the rules, and unknown).",
                           [target("max by (instance, state) (homeostat_controller_state{%s})" % C,
                                   "{{state}}")],
                           mappings=value_map((0, "", None), (1, "current", None)),
                           thr=thresholds((1, "blue"), base="transparent"),
                           overrides=state_overrides, show_value="never", w=24, h=7),
            timeseries("Confidence", "Confidence in the current state at each evaluation.",
                       [target("homeostat_controller_confidence{%s}" % C, "{{instance}}")],
                       unit="percentunit", min_=0, max_=1, w=8),
            timeseries("Signal values", "Last value of each known signal (absent while "
                       "unknown, never 0 for no data).",
                       [target("homeostat_controller_signal_value{%s}" % C,
                               "{{instance}} {{signal}}")],
                       unit="short", w=8),
            state_timeline("Signals known", "Whether each signal had a fresh value at the "
                           "evaluation; a state's decision is never taken on unknown data.",
                           [target("homeostat_controller_signal_known{%s}" % C,
                                   "{{instance}} {{signal}}")],
                           mappings=value_map((0, "unknown", "red"), (1, "known", "green")),
                           w=8, show_value="never"),
        ]),
        Row("Decisions and actions", [
            timeseries("Decisions by action and result", "Decisions recorded per interval, "
                       "one per action of the decision, by action kind and result "
                       "(executed, dry_run, paused, cooldown, below_confidence, "
                       "budget_exhausted, uncertain, no_actions, failed).",
                       [target("sum by (action, result) (increase(homeostat_controller_decisions_total{%s}[$__rate_interval]))" % C,
                               "{{action}} {{result}}")],
                       unit="short", bars=True, min_=0,
                       overrides=[override_regexp(".* failed", color={
                           "mode": "fixed", "fixedColor": "red"})]),
            table("Decisions in the time range", "Decisions by state, action and result over "
                  "the dashboard's time range.",
                  [target("sum by (state, action, result) (increase(homeostat_controller_decisions_total{%s}[$__range]))" % C,
                          instant=True, fmt="table")],
                  rename={"Value": "Decisions"}, sort_by="Decisions",
                  overrides=[override_name("Decisions", decimals=0)]),
            timeseries("Actions run", "Actions run per interval by kind, trigger (decision, "
                       "manual, revert, resend) and result (ok, failed).",
                       [target("sum by (kind, trigger, result) (increase(homeostat_controller_actions_total{%s}[$__rate_interval]))" % C,
                               "{{kind}} {{trigger}} {{result}}")],
                       unit="short", bars=True, min_=0, w=8,
                       overrides=[override_regexp(".* failed", color={
                           "mode": "fixed", "fixedColor": "red"})]),
            timeseries("Action duration", "Quantiles of the time each action took, retries "
                       "included (homeostat_controller_action_duration_seconds).",
                       quantiles("homeostat_controller_action_duration_seconds"),
                       unit="s", min_=0, w=8),
            timeseries("Actions in effect and budget", "Actions waiting to be reverted, and "
                       "the actions left in the hourly budget (-1: no limit).",
                       [target("homeostat_controller_actions_in_effect{%s}" % C,
                               "{{instance}} in effect"),
                        target("homeostat_controller_action_budget_remaining{%s}" % C,
                               "{{instance}} budget left")],
                       unit="short", w=8),
            stat("Failed actions", "Actions that failed over the dashboard's time range.",
                 [target('sum by (instance) (increase(homeostat_controller_actions_total{%s,result="failed"}[$__range])) '
                         'or sum by (instance) (0 * homeostat_controller_evaluations_total{%s})' % (C, C),
                         "{{instance}}")],
                 thr=thresholds((1, "red")), decimals=0, w=8),
            timeseries("Audit and state file errors", "Audit records and state-file writes "
                       "that failed, per second. A decision that cannot be audited is not "
                       "acted on.",
                       [target(rate("homeostat_controller_audit_errors_total", C),
                               "{{instance}} audit"),
                        target(rate("homeostat_controller_state_file_errors_total", C),
                               "{{instance}} state file")],
                       unit="ops", min_=0, w=16),
        ]),
        Row("Targets", [
            timeseries("Targets per state", "A rules file with targets (one machine per label "
                       "set of targets.by): how many targets are in each state.",
                       [target("sum by (state) (homeostat_controller_targets{%s})" % C,
                               "{{state}}")],
                       unit="short", min_=0, w=8, overrides=[
                           override_name(name, color={"mode": "fixed", "fixedColor": color})
                           for name, color in state_colors]),
            table("Targets not optimal", "Every target in a state other than optimal, with "
                  "its labels and state (homeostat_controller_target_state == 1); the "
                  "controller's GET /api/v1/targets lists them worst first and says why.",
                  [target('homeostat_controller_target_state{%s,state!="optimal"} == 1' % C,
                          instant=True, fmt="table")],
                  rename={}, hide=("Time", "__name__", "job", "Value"), sort_by="state",
                  w=10),
            stat("Storm guard", "1 while more targets are in a state that acts than "
                 "limits.max_targets_acting allows: the others are held back "
                 "(HomeostatStormGuard).",
                 [target("homeostat_controller_storm_guard_active{%s}" % C, "{{instance}}")],
                 mappings=value_map((0, "off", "green"), (1, "HOLDING BACK", "red")),
                 color_mode="background", graph=False, w=3, h=4),
            stat("Targets refused", "New label sets refused over the dashboard's time range "
                 "because targets.max were known.",
                 [target("sum by (instance) (increase(homeostat_controller_targets_refused_total{%s}[$__range]))" % C,
                         "{{instance}}")],
                 thr=thresholds((1, "orange")), decimals=0, w=3, h=4),
        ]),
        Row("Queries and evaluations", [
            timeseries("Query latency", "Quantiles of the time of each distinct signal query "
                       "to Prometheus (homeostat_controller_query_duration_seconds).",
                       quantiles("homeostat_controller_query_duration_seconds"),
                       unit="s", min_=0, w=8),
            timeseries("Query errors", "Queries without a value per second, by reason "
                       "(timeout, connect, http, bad_response, query, empty, "
                       "multiple_series, nan, too_large).",
                       [target("sum by (instance, reason) (%s)" % rate("homeostat_controller_query_errors_total", C),
                               "{{instance}} {{reason}}")],
                       unit="ops", min_=0, w=8),
            timeseries("Evaluations", "Evaluations per second.",
                       [target(rate("homeostat_controller_evaluations_total", C),
                               "{{instance}}")],
                       unit="ops", min_=0, w=8),
            timeseries("Evaluation duration", "Quantiles of the time of one evaluation, "
                       "queries included.",
                       quantiles("homeostat_controller_evaluation_duration_seconds"),
                       unit="s", min_=0, w=8),
            stat("Since the last evaluation", "Time since the last evaluation completed; "
                 "more than a few evaluation intervals means the controller is stuck.",
                 [target("time() - homeostat_controller_last_evaluation_timestamp_seconds{%s}" % C,
                         "{{instance}}")],
                 unit="s", thr=thresholds((60, "orange"), (180, "red")), w=8, h=8),
            timeseries("Overrides and alerts received", "Runtime overrides in force, and "
                       "alerts received through the Alertmanager webhook that are firing.",
                       [target("homeostat_controller_overrides{%s}" % C, "{{instance}} overrides"),
                        target("homeostat_controller_alerts_received_firing{%s}" % C,
                               "{{instance}} alerts firing")],
                       unit="short", min_=0, w=8),
        ]),
        Row("Regulators", [
            timeseries("Regulator output", "The output in force of each regulator "
                       "(homeostat_controller_regulator_output; in a dry run, as it would be), "
                       "moved every evaluation to hold its signal at the setpoint "
                       "(docs/RULES.md, Regulators). With targets, see the outputs per target.",
                       [target("homeostat_controller_regulator_output{%s}" % C,
                               "{{instance}} {{regulator}}")],
                       unit="short", w=8),
            timeseries("Regulator signal and setpoint", "Each regulator's signal at its last "
                       "step (absent while unknown: the output then holds) and the setpoint "
                       "it holds the signal at (dashed).",
                       [target("homeostat_controller_regulator_signal{%s}" % C,
                               "{{instance}} {{regulator}} signal"),
                        target("homeostat_controller_regulator_setpoint{%s}" % C,
                               "{{instance}} {{regulator}} setpoint")],
                       unit="short", w=8, overrides=[override_regexp(".* setpoint", **{
                           "custom.lineStyle": {"fill": "dash", "dash": [10, 10]}})]),
            timeseries("Regulator changes", "Output changes per interval by regulator, "
                       "direction (up, down) and result (applied, dry_run, failed, "
                       "budget_exhausted); with targets, every target's changes together.",
                       [target("sum by (instance, regulator, direction, result) (increase(homeostat_controller_regulator_changes_total{%s}[$__rate_interval]))" % C,
                               "{{regulator}} {{direction}} {{result}}")],
                       unit="short", bars=True, min_=0, w=8,
                       overrides=[override_regexp(".* (failed|budget_exhausted)", color={
                           "mode": "fixed", "fixedColor": "red"})]),
            table("Regulator outputs per target", "A rules file with targets and regulators: "
                  "each target's output of each regulator, largest first "
                  "(homeostat_controller_target_regulator_output); the controller's GET "
                  "/api/v1/regulators says why each is where it is.",
                  [target("homeostat_controller_target_regulator_output{%s}" % C,
                          instant=True, fmt="table")],
                  rename={"Value": "Output"}, hide=("Time", "__name__", "job"),
                  sort_by="Output", w=24, h=7),
        ]),
    ]
    variables = [
        query_var("job", "Job", "label_values(homeostat_controller_build_info, job)",
                  refresh=1, desc="The Prometheus job that scrapes homeostat-controller."),
        query_var("instance", "Instance",
                  'label_values(homeostat_controller_build_info{job=~"$job"}, instance)',
                  multi=True),
    ]
    return dashboard("controller", "homeostat-controller: state over time, confidence, "
                     "decisions by action and result, actions in effect and budget, query "
                     "latency and errors, evaluations, regulators.", rows, variables,
                     panel_types(rows))


def render():
    out = {}
    for key, build in (("host", host), ("application", application),
                       ("controller", controller)):
        out[DASHBOARDS[key][2]] = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    return out


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        sys.stderr.write("usage: generate.py [--check]\n")
        return 2
    bad = 0
    for name, text in render().items():
        path = os.path.join(HERE, name)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    same = f.read() == text
            except OSError:
                same = False
            if not same:
                sys.stderr.write("%s differs from what generate.py writes; run "
                                 "dashboards/generate.py\n" % path)
                bad += 1
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

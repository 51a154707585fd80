#!/usr/bin/env bash
# ingest_clients: what real StatsD and DogStatsD clients send arrives whole. The hot-shots
# DogStatsD client (from the npm registry, run by Debian's Node.js) in its default and its
# Kubernetes configuration (DD_ENV, DD_SERVICE, DD_VERSION, DD_ENTITY_ID, DD_EXTERNAL_ENV,
# DD_CARDINALITY: protocol 1.5/1.6 fields |e: and |card:) and the Python `statsd` client
# send names that read badly (camelCase with acronyms, unit and type words), tagged and
# sampled counters, gauges and deltas, timers, histograms, distributions, sets, events and
# service checks. Every metric must arrive as the series docs/INGEST.md names, with the
# exact value, in both exposition formats as prometheus_client's reference parsers read
# them; everything else must be counted under its documented result. Then a flood of
# random names: both formats still parse and `promtool check metrics` passes. Last, the
# statsd_exporter naming gives statsd_exporter's names (tests/fixtures/naming). ~20 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool node npm promtool curl /usr/bin/python3
/usr/bin/python3 -c 'import statsd, prometheus_client' 2>/dev/null ||
    { fail "Debian's python3-statsd and python3-prometheus-client are needed"; finish; }

CLIENTS=$HOMEOSTAT_SOURCE_DIR/tests/integration/exporter/clients

# ---- the npm client, pinned by package-lock.json, installed once per build tree ----------
NODE_DIR=$HOMEOSTAT_BUILD_DIR/ingest-clients
lock_sum=$(sha256sum "$CLIENTS/package-lock.json" | cut -d' ' -f1)
if [[ ! -d $NODE_DIR/node_modules/hot-shots || $(cat "$NODE_DIR/.lock-sum" 2>/dev/null) != "$lock_sum" ]]; then
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    cp "$CLIENTS/package.json" "$CLIENTS/package-lock.json" "$NODE_DIR/"
    if ! (cd "$NODE_DIR" && npm ci --omit=optional --ignore-scripts --no-audit --no-fund \
        >"$HS_TMP/npm.log" 2>&1); then
        fail "npm ci of hot-shots failed (the npm registry must be reachable):"
        tail -n 20 "$HS_TMP/npm.log" | sed 's/^/    /'
        finish
    fi
    echo "$lock_sum" >"$NODE_DIR/.lock-sum"
fi
cp "$CLIENTS/send_hotshots.js" "$NODE_DIR/"
check "hot-shots $(node -p "require('$NODE_DIR/node_modules/hot-shots/package.json').version") is installed" \
    test -f "$NODE_DIR/node_modules/hot-shots/index.js"

# ---- the exporter, default naming --------------------------------------------------
start_exporter || finish
port=${EXPORTER_STATSD_ADDR##*:}
METRICS=$EXPORTER_BASE/metrics

(cd "$NODE_DIR" && node send_hotshots.js "$port" dflt.) >"$HS_TMP/hotshots1.log" 2>&1
check "hot-shots, default configuration, sent without error" test ! -s "$HS_TMP/hotshots1.log"
(cd "$NODE_DIR" && DD_ENV=prod DD_SERVICE=checkout DD_VERSION=1.2.3 DD_ENTITY_ID=6635 \
    DD_EXTERNAL_ENV=it-false,cn-checkout,pu-6635 DD_CARDINALITY=low \
    node send_hotshots.js "$port" k8s.) >"$HS_TMP/hotshots2.log" 2>&1
check "hot-shots, Kubernetes configuration, sent without error" test ! -s "$HS_TMP/hotshots2.log"
rc=0
/usr/bin/python3 "$CLIENTS/send_pystatsd.py" "$port" || rc=$?
check "the Python statsd client sent without error" test $rc -eq 0

lines() { awk -v r="$1" '$1 ~ /^homeostat_ingest_lines_total\{/ && index($1, "result=\"" r "\"") { s += $2 } END { print s + 0 }' <<<"$2"; }
all_arrived() {
    local m
    m=$(hcurl "$METRICS") || return 1
    [[ $(lines set_unsupported "$m") == 3 && $(lines event "$m") == 2 &&
        $(lines service_check "$m") == 2 ]] && grep -q '^py_api_response_seconds_count 2$' <<<"$m"
}
check "every datagram was read (3 sets, 2 events, 2 service checks counted)" wait_until 10 all_arrived
m=$(hcurl "$METRICS")
printf '%s\n' "$m" >"$HS_TMP/metrics.1.txt"

# What each call becomes (docs/INGEST.md, "How a StatsD name becomes a metric").
/usr/bin/python3 - "$HS_TMP/expected.json" <<'PY'
import json, sys
k8s = 'dd_internal_entity_id="6635",env="prod",service="checkout",version="1.2.3"'
def lab(extra, *more):
    parts = sorted([p for p in more] + ([x for x in extra.split(",")] if extra else []),
                   key=lambda p: p.split("=")[0])
    return "{" + ",".join(parts) + "}" if parts else ""
exp = {}
for p, e in (("dflt", ""), ("k8s", k8s)):
    exp[f"{p}_my_service_http_errors_total" + lab(e, 'client_id="a1"', 'os="linux"')] = 2
    exp[f"{p}_http_requests_total" + lab(e)] = 10           # 5 at @0.5
    exp[f"{p}_disk_used" + lab(e, 'unit="mb"')] = 512
    exp[f"{p}_uptime_seconds" + lab(e)] = 42
    exp[f"{p}_pool_level" + lab(e)] = 3
    exp[f"{p}_queue_count_value" + lab(e)] = 7
    exp[f"{p}_queue_depth" + lab(e)] = 3                   # +5, -2
    exp[f"{p}_api_response_seconds_count" + lab(e)] = 2
    exp[f"{p}_api_response_seconds_sum" + lab(e)] = 0.042
    exp[f"{p}_req_time_seconds_sum" + lab(e)] = 0.25
    exp[f"{p}_render_seconds_count" + lab(e)] = 1
    exp[f"{p}_render_seconds_sum" + lab(e)] = 0.25
    exp[f"{p}_payload_size_sum" + lab(e)] = 512
    # what the old naming made of them: never again
    exp[f"{p}_my_service_h_t_t_p_errors_total" + lab(e, 'client_i_d="a1"', 'o_s="linux"')] = None
exp["app_requests_total" + lab(k8s.replace('service="checkout",', ''), 'result="success"', 'service="checkout"')] = 3
exp["py_http_requests_total"] = 2
exp["py_sampled_hits_total"] = 4                            # 1 at @0.25
exp['py_disk_used{unit="mb"}'] = 7
exp["py_queue_depth"] = 12                                 # 10, +3, -1
exp["py_api_response_seconds_count"] = 2
exp["py_api_response_seconds_sum"] = 0.06
exp['homeostat_ingest_fields_ignored_total{field="external_data"}'] = 15
exp['homeostat_ingest_fields_ignored_total{field="cardinality"}'] = 15
exp['homeostat_ingest_fields_ignored_total{field="unknown"}'] = 0
json.dump({k: v for k, v in exp.items() if "fields_ignored" not in k},
          open(sys.argv[1] + ".clients", "w"), indent=1)
json.dump(exp, open(sys.argv[1], "w"), indent=1)
PY
rc=0
out=$(/usr/bin/python3 "$CLIENTS/check_exposition.py" "$METRICS" "$HS_TMP/expected.json" 2>&1) || rc=$?
check "every client metric is the documented series with the exact value, in both formats" test $rc -eq 0
[[ $rc -eq 0 ]] || sed 's/^/    /' <<<"$out"

cid=$(metric_value "$m" 'homeostat_ingest_fields_ignored_total{field="container_id"}')
check "|c: container ids were read on every Kubernetes line or none (got $cid)" \
    test "$cid" = 0 -o "$cid" = 15
for r in malformed bad_name bad_value bad_type bad_sample_rate bad_tags too_long; do
    check_eq "no line counted as $r" 0 "$(lines "$r" "$m")"
done
check_eq "no event of an accepted line was dropped" "" \
    "$(grep '^homeostat_ingest_dropped_total{' <<<"$m" | awk '$2 != 0')"
rc=0
promtool_out=$(promtool check metrics <"$HS_TMP/metrics.1.txt" 2>&1) || rc=$?
check "promtool check metrics passes after the clients' traffic" test $rc -eq 0
[[ -z $promtool_out ]] || sed 's/^/    /' <<<"$promtool_out"

# ---- a flood of random names ---------------------------------------------------------
/usr/bin/python3 - "$port" <<'PY'
import random, socket, sys, time
rnd = random.Random(15)
words = ["s", "ms", "us", "ns", "sec", "b", "kb", "mb", "m", "h", "d", "total", "count",
         "sum", "bucket", "created", "gauge", "counter", "histogram", "seconds", "bytes",
         "minutes", "milliseconds", "megabytes", "bits", "HTTP", "clientID", "Errors",
         "myService", "x", "9", "-", "é", "le", "quantile"]
def word():
    if rnd.random() < 0.5:
        return rnd.choice(words)
    return "".join(rnd.choice("abcdefghmsxyzABCXYZ0123456789_-") for _ in range(rnd.randint(1, 8)))
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3000):
    name = ".".join(word() for _ in range(rnd.randint(1, 5)))
    typ = rnd.choice(["c", "g", "ms", "h", "d"])
    tags = ""
    if rnd.random() < 0.3:
        tags = "|#" + ",".join(f"{word()}:{word()}" for _ in range(rnd.randint(1, 3)))
    line = f"{name}:{rnd.randint(0, 100)}|{typ}{tags}"
    if rnd.random() < 0.2:
        line += "|" + rnd.choice(["e:it-false", "card:high", "c:ci-42", "x:future", "T1700000000"])
    sock.sendto(line.encode(), ("127.0.0.1", int(sys.argv[1])))
    if i % 200 == 0:
        time.sleep(0.01)
PY
flood_done() {
    local total
    total=$(hcurl "$METRICS" | awk '$1 ~ /^homeostat_ingest_lines_total\{protocol="udp"/ { s += $2 } END { print s + 0 }')
    ((total >= 3000 + 16 + 19 + 9))
}
check "the flood was read" wait_until 15 flood_done
hcurl "$METRICS" >"$HS_TMP/metrics.2.txt"
rc=0
out=$(/usr/bin/python3 "$CLIENTS/check_exposition.py" "$METRICS" "$HS_TMP/expected.json.clients" 2>&1) || rc=$?
check "after the flood both formats still parse and the client series are unchanged" test $rc -eq 0
[[ $rc -eq 0 ]] || sed 's/^/    /' <<<"$out" | head -n 20
rc=0
promtool_out=$(promtool check metrics <"$HS_TMP/metrics.2.txt" 2>&1) || rc=$?
check "promtool check metrics passes after the flood" test $rc -eq 0
[[ -z $promtool_out ]] || sed 's/^/    /' <<<"$promtool_out" | head -n 20
m2=$(cat "$HS_TMP/metrics.2.txt")
say "flood: $(grep -c '' <<<"$m2") lines of /metrics; bad_name $(metric_value "$m2" 'homeostat_ingest_dropped_total{reason="bad_name"}'), unknown fields $(metric_value "$m2" 'homeostat_ingest_fields_ignored_total{field="unknown"}')"
check "unknown fields were skipped and counted, not refused" \
    test "$(metric_value "$m2" 'homeostat_ingest_fields_ignored_total{field="unknown"}')" -gt 0
stop_process "$EXPORTER_PID" 5

# ---- statsd_exporter naming ------------------------------------------------------
start_exporter --statsd.naming=statsd_exporter || finish
port=${EXPORTER_STATSD_ADDR##*:}
METRICS=$EXPORTER_BASE/metrics
/usr/bin/python3 - "$port" "$HOMEOSTAT_FIXTURES/naming/statsd_exporter.tsv" "$HS_TMP/se.json" <<'PY'
import json, re, socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
exp = {}
def unescape(s):
    return re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), s.encode())
for i, row in enumerate(open(sys.argv[2], encoding="utf-8")):
    if row.startswith("#") or not row.strip():
        continue
    kind, name, want, _src = row.rstrip("\n").split("\t")
    raw = unescape(name)
    if kind == "metric":
        sock.sendto(raw + b":1|g", ("127.0.0.1", int(sys.argv[1])))
        exp[want] = 1
    else:
        sock.sendto(b"lbl%d:1|g|#" % i + raw + b":v", ("127.0.0.1", int(sys.argv[1])))
        exp[f'lbl{i}{{{want}="v"}}'] = 1
sock.sendto(b"orders:3|c", ("127.0.0.1", int(sys.argv[1])))
exp["orders_total"] = 3   # text: "orders"; both parsers name the sample orders_total
json.dump(exp, open(sys.argv[3], "w"), indent=1)
print(len(exp))
PY
se_arrived() { hcurl "$METRICS" | grep -q '^orders 3$'; }
check "statsd_exporter naming: the table's lines arrived" wait_until 10 se_arrived
se=$(hcurl "$METRICS")
check "statsd_exporter naming: a counter keeps its name in the text format (orders)" \
    grep -q '^# TYPE orders counter$' <<<"$se"
om=$(hcurl -H 'Accept: application/openmetrics-text;version=1.0.0' "$METRICS")
check "... and is orders_total in OpenMetrics" grep -q '^orders_total 3$' <<<"$om"
rc=0
out=$(/usr/bin/python3 "$CLIENTS/check_exposition.py" "$METRICS" "$HS_TMP/se.json" 2>&1) || rc=$?
check "statsd_exporter naming gives statsd_exporter's name for every fixture row" test $rc -eq 0
[[ $rc -eq 0 ]] || sed 's/^/    /' <<<"$out" | head -n 20

finish

#!/usr/bin/env bash
# promtool_check: the real `promtool check metrics` (Debian's Prometheus 2.42) on live
# /metrics output, with the default collectors and with every collector on (the GPU one
# through the fake NVML library), plus the series-level rules promtool does not check:
# no duplicate series, one label-name set per family, one build_info series.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool promtool curl /usr/bin/python3

# Lint messages accepted on purpose, as extended regular expressions over promtool's line
# ("<metric> <message>"). None today: every lint promtool prints is a failure. Add one only
# with the reason next to it.
ACCEPTED_LINTS=()

# promtool_ok NAME FILE: promtool check metrics on FILE; every line it prints must match an
# accepted lint, and its status must be 0 (clean) or 3 (lint problems, all accepted).
promtool_ok() {
    local name=$1 file=$2 rc=0 out line bad=()
    out=$(promtool check metrics <"$file" 2>&1) || rc=$?
    while IFS= read -r line; do
        [[ -z $line ]] && continue
        local ok=0 re
        for re in "${ACCEPTED_LINTS[@]}"; do
            [[ $line =~ $re ]] && ok=1
        done
        ((ok)) || bad+=("$line")
    done <<<"$out"
    if ((${#bad[@]} == 0)) && { ((rc == 0)) || ((rc == 3)); }; then
        pass "promtool check metrics passes on $name ($(grep -vc '^#' "$file") samples)"
    else
        fail "promtool check metrics on $name: status $rc, ${#bad[@]} line(s) not accepted:"
        printf '    %s\n' "${bad[@]}"
    fi
}

# series_ok NAME FILE: the checks promtool 2.42 leaves out, one result line per check.
series_ok() {
    local name=$1 file=$2 line
    while IFS= read -r line; do
        case $line in
        PASS*) pass "$name: ${line#PASS }" ;;
        *) fail "$name: ${line#FAIL }" ;;
        esac
    done < <(/usr/bin/python3 - "$file" <<'EOF'
import re, sys
from collections import defaultdict

LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
typed, families = {}, defaultdict(list)
seen, dups = set(), []
for raw in open(sys.argv[1], encoding="utf-8"):
    line = raw.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, fam, typ = line.split(" ", 3)
        typed[fam] = typ
        continue
    if not line or line.startswith("#"):
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s', line)
    if not m:
        print("FAIL unparsable line: %r" % line)
        continue
    name, labels = m.group(1), []
    body = m.group(3) or ""
    pos = 0
    while pos < len(body):
        lm = LABEL.match(body, pos)
        if not lm:
            print("FAIL unparsable labels: %r" % line)
            break
        labels.append((lm.group(1), lm.group(2)))
        pos = lm.end()
    key = (name, tuple(sorted(labels)))
    if key in seen:
        dups.append(line)
    seen.add(key)
    fam = name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and typed.get(base) in ("histogram", "summary"):
            fam = base
    names = tuple(sorted(k for k, _ in labels if not (fam != name and k in ("le", "quantile"))))
    families[fam].append(names)

if dups:
    print("FAIL %d duplicate series, e.g. %s" % (len(dups), "; ".join(dups[:3])))
else:
    print("PASS no duplicate series among %d" % len(seen))
mixed = {f: sorted(set(v)) for f, v in families.items() if len(set(v)) > 1}
if mixed:
    for f, sets in sorted(mixed.items()):
        print("FAIL family %s mixes label-name sets %s" % (f, " and ".join("{%s}" % ",".join(s) for s in sets)))
else:
    print("PASS every family uses one label-name set (%d families)" % len(families))
n = len(families.get("homeostat_exporter_build_info", []))
print("%s homeostat_exporter_build_info has exactly one series (has %d)" % ("PASS" if n == 1 else "FAIL", n))
EOF
)
}

# --- default collectors ---------------------------------------------------------------------
start_exporter
if [[ $(http_get "$HS_TMP/default.prom" "$EXPORTER_URL") == 200 ]]; then
    pass "scraped the default collectors"
    promtool_ok "the default collectors" "$HS_TMP/default.prom"
    series_ok "default collectors" "$HS_TMP/default.prom"
else
    fail "scraping $EXPORTER_URL"
fi
stop_process "$EXPORTER_PID"

# A sanity check of the checker: promtool must reject what it is meant to reject.
printf '# HELP bad_count x\n# TYPE bad_count counter\nbad_count 1\n' >"$HS_TMP/bad.prom"
rc=0
promtool check metrics <"$HS_TMP/bad.prom" >/dev/null 2>&1 || rc=$?
check "promtool flags a counter without _total (status $rc)" test "$rc" -ne 0

# --- every collector on, GPU through the fake NVML -------------------------------------------
mapfile -t all < <("$HOMEOSTAT_EXPORTER" -h | awk '/^Collectors/ { on = 1; next } on && NF { print $1 }')
check "-h lists collectors (${all[*]})" test "${#all[@]}" -ge 5
args=()
for c in "${all[@]}"; do
    args+=("--collector.$c")
done

gpu=0
if [[ -n ${HOMEOSTAT_FAKE_NVML:-} && -e $HOMEOSTAT_FAKE_NVML ]]; then
    gpu=1
    cat >"$HS_TMP/nvml.script" <<'EOF'
count=2
gpu0.name=NVIDIA Fake A100 "quoted" \name
gpu0.util=37
gpu0.mem_util=12
gpu0.mem_used=8589934592
gpu0.mem_total=42949672960
gpu0.temp=61
gpu0.power_mw=312000
gpu0.power_limit_mw=400000
gpu1.util_seq=0,50,100
gpu1.temp_error=3
EOF
    args+=("--collector.gpu.nvml-library=$HOMEOSTAT_FAKE_NVML")
    export HOMEOSTAT_FAKE_NVML_SCRIPT=$HS_TMP/nvml.script
elif [[ -e $HOMEOSTAT_SOURCE_DIR/tests/fake-nvml/fake_nvml.c ]]; then
    fail "tests/fake-nvml/fake_nvml.c exists but the library is not built (HOMEOSTAT_FAKE_NVML='${HOMEOSTAT_FAKE_NVML:-}')"
else
    say "no fake NVML library in this tree; the GPU collector runs without a GPU"
fi

start_exporter "${args[@]}"
if [[ -n ${EXPORTER_STATSD_ADDR:-} ]]; then
    # Application metrics through StatsD, so that their families are linted too.
    /usr/bin/python3 - "$EXPORTER_STATSD_ADDR" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for line in (b"checkout.requests:1|c|#route:/pay,code:200", b"checkout.latency:120|ms|#route:/pay",
             b"checkout.cache.hits:3|c", b"checkout.queue_depth:7|g", b"checkout.body:512|h",
             b"checkout.errors:1|c|@0.5"):
    s.sendto(line, (host, int(port)))
EOF
fi
sleep 0.3 # let the sampler fill the histograms, GPU included; StatsD lines land
if [[ $(http_get "$HS_TMP/all.prom" "$EXPORTER_URL") == 200 ]]; then
    pass "scraped every collector"
    promtool_ok "every collector on" "$HS_TMP/all.prom"
    series_ok "every collector" "$HS_TMP/all.prom"
    if ((gpu)); then
        check "... the fake GPU's metrics are in it" \
            grep -q '^homeostat_gpu_temperature_celsius{gpu="0"} 61$' "$HS_TMP/all.prom"
        check "... with its sampled histogram" \
            grep -q '^homeostat_gpu_busy_ratio_bucket{gpu="1",le="+Inf"} ' "$HS_TMP/all.prom"
        check "... and the label value with a quote and a backslash escaped" \
            grep -qF 'name="NVIDIA Fake A100 \"quoted\" \\name"' "$HS_TMP/all.prom"
    fi
    if [[ -n ${EXPORTER_STATSD_ADDR:-} ]]; then
        check "... with the StatsD application metrics in it" \
            grep -q '^checkout_latency_seconds_bucket{' "$HS_TMP/all.prom"
    fi
else
    fail "scraping $EXPORTER_URL with every collector on"
fi
stop_process "$EXPORTER_PID"
check_eq "... and the exporter stops cleanly" 0 "$HS_STATUS"

finish

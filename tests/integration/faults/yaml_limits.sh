#!/usr/bin/env bash
# yaml_limits: every YAML file the daemons read goes through common/yamltree's limits. Hostile
# files (a billion laughs, nesting 100,000 deep, 2 MiB, 200,000 nodes without aliases, 2,000
# alias references, /dev/zero) are fed to
#   - homeostat-controller check FILE (the rules loader)
#   - homeostat-controller test FILE (the rule unit test loader), directly and through its
#     rule_files
#   - homeostat-exporter --statsd.mapping-config=FILE --check-config (the mapping loader)
#   - both daemons started on them (and --web.config.file when a daemon has it)
# Each must exit non-zero with a message naming the file and the limit, within 10 s, under
# an address-space limit of 512 MiB (not under AddressSanitizer, which reserves terabytes of
# shadow memory) and with a peak RSS under 100 MiB. About 3 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool prlimit /usr/bin/python3

CTL=$HOMEOSTAT_CONTROLLER
EXP=$HOMEOSTAT_EXPORTER
for b in "$CTL" "$EXP"; do
    if [[ ! -x $b ]]; then
        fail "binary '$b' is missing (build the daemons)"
        finish
    fi
done
AS_LIMIT=$((512 << 20))
RSS_LIMIT_KB=$((100 << 10))
LIMIT_AS=()
if hs_asan_build; then
    say "the daemons are built with a sanitizer: no address-space limit, RSS checked alone"
else
    LIMIT_AS=(prlimit "--as=$AS_LIMIT")
fi

D=$HS_TMP/yaml
mkdir -p "$D"
# A billion laughs: 9 levels of 9 aliases each, 9^9 (387 million) strings once expanded.
{
    printf 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev=a
    for x in b c d e f g h i; do
        printf '%s: &%s [%s]\n' "$x" "$x" "$(printf '*%s,' "$prev"{,,,,,,,,} | sed 's/,$//')"
        prev=$x
    done
} >"$D/laughs.yaml"
/usr/bin/python3 - "$D" <<'EOF'
import sys
d = sys.argv[1]
open(d + "/deep.yaml", "w").write("states: " + "[" * 100000 + "]" * 100000 + "\n")
with open(d + "/large.yaml", "w") as f:
    f.write("states:\n")
    i = 0
    while f.tell() < 2 << 20:
        f.write("  - name: s%d\n" % i)
        i += 1
open(d + "/nodes.yaml", "w").write("states: [" + "1," * 200000 + "1]\n")
open(d + "/aliases.yaml", "w").write("x: &x 1\ny: [" + ",".join(["*x"] * 2000) + "]\n")
EOF
# What each file must be refused with.
declare -A WHY=(
    [laughs]="alias '\\*[a-z]' expands the document past 100000 nodes"
    [deep]='nesting deeper than 64 levels'
    [large]='larger than the limit of 1048576 bytes'
    [nodes]='more than 100000 nodes'
    [aliases]='more than 1000 alias references'
)
CASES=(laughs deep large nodes aliases)

# measure OUT CMD...: runs CMD (stdout+stderr into OUT) under the limits; sets M_RC, M_MS
# and M_RSS_KB (the peak RSS of the command, from getrusage of the children).
measure() {
    local m_out=$1 m_res
    shift
    m_res=$(/usr/bin/python3 - "$m_out" "${LIMIT_AS[@]}" "$@" <<'EOF'
import resource, subprocess, sys, time
t = time.monotonic()
with open(sys.argv[1], "wb") as out:
    try:
        rc = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, timeout=10).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
ms = int((time.monotonic() - t) * 1000)
print(rc, ms, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
EOF
    )
    read -r M_RC M_MS M_RSS_KB <<<"$m_res"
}

# refused NAME FILE WHY CMD...: CMD must fail (non-zero, no crash, no timeout), within the
# limits, with a message naming FILE and matching WHY.
refused() {
    local name=$1 file=$2 why=$3 out
    shift 3
    out=$HS_TMP/out.$RANDOM.txt
    measure "$out" "$@"
    if [[ $M_RC == timeout ]]; then
        fail "$name: still running after 10 s"
        return 0
    fi
    if [[ $M_RC != 0 && $M_RC -lt 128 && $M_RC -ge 0 ]]; then
        pass "$name: refused (exit $M_RC, $M_MS ms, peak RSS $((M_RSS_KB / 1024)) MiB)"
    else
        fail "$name: exit status $M_RC (expected a failure, not a crash); output:"
        head -c 600 "$out" | sed 's/^/    /'
        return 0
    fi
    if grep -qF -- "$file" "$out" && grep -qE -- "$why" "$out"; then
        pass "... the error names $file and the limit ($(grep -m1 -E -- "$why" "$out" | cut -c1-140))"
    else
        fail "... no error naming $file and matching '$why'; output:"
        head -c 600 "$out" | sed 's/^/    /'
    fi
    check "... peak RSS $M_RSS_KB KiB < $RSS_LIMIT_KB KiB" test "$M_RSS_KB" -lt "$RSS_LIMIT_KB"
}

for c in "${CASES[@]}"; do
    f=$D/$c.yaml
    refused "check $c.yaml" "$f" "${WHY[$c]}" "$CTL" check "$f"
    refused "test $c.yaml" "$f" "${WHY[$c]}" "$CTL" test "$f"
    refused "exporter --check-config $c.yaml" "$f" "${WHY[$c]}" \
        "$EXP" --statsd.mapping-config="$f" --check-config
done

# A rule test file whose rules file is hostile: the rules loader's limits apply to it too.
for c in laughs deep; do
    printf 'rule_files: [%s.yaml]\ntests:\n  - name: t\n    steps: [{}]\n' "$c" >"$D/$c-test.yaml"
    refused "test through rule_files: $c.yaml" "$c.yaml" "${WHY[$c]}" "$CTL" test "$D/$c-test.yaml"
done

# An endless file: the read stops at the size limit.
refused "check /dev/zero" /dev/zero 'larger than the limit' "$CTL" check /dev/zero
refused "exporter --check-config /dev/zero" /dev/zero 'larger than the limit' \
    "$EXP" --statsd.mapping-config=/dev/zero --check-config

# The daemons themselves refuse to start on such a file.
refused "controller started on laughs.yaml" "$D/laughs.yaml" "${WHY[laughs]}" \
    "$CTL" --config="$D/laughs.yaml" --web.listen-address=127.0.0.1:0 \
    --state.directory="$HS_TMP/state"
refused "exporter started on deep.yaml" "$D/deep.yaml" "${WHY[deep]}" \
    "$EXP" --statsd.mapping-config="$D/deep.yaml" --web.listen-address=127.0.0.1:0
# The web configuration file (exporter-toolkit format), where a daemon has one; the
# controller gets a valid rules file so that only the web configuration can be refused.
cat >"$D/rules-ok.yaml" <<'EOF'
prometheus: {url: "http://127.0.0.1:9"}
signals: {load: {query: vector(1)}}
states:
  - {name: high, conditions: ["load > 2"]}
  - {name: ok}
EOF
# shellcheck disable=SC2016 # expanded by eval
check "the valid rules file passes check" eval '"$CTL" check "$D/rules-ok.yaml" >/dev/null'
for b in "$CTL" "$EXP"; do
    extra=()
    [[ $b == "$CTL" ]] && extra=(--config="$D/rules-ok.yaml" --state.directory="$HS_TMP/state")
    if "$b" --help 2>&1 | grep -q -- '--web.config.file'; then
        # Its own limits, tighter than those of the rules and mapping files.
        refused "$(basename "$b") --web.config.file=laughs.yaml" "$D/laughs.yaml" \
            "alias '\\*[a-z]' expands the document past [0-9]+ nodes" \
            "$b" --web.config.file="$D/laughs.yaml" --web.listen-address=127.0.0.1:0 "${extra[@]}"
        refused "$(basename "$b") --web.config.file=deep.yaml" "$D/deep.yaml" \
            'nesting deeper than [0-9]+ levels' \
            "$b" --web.config.file="$D/deep.yaml" --web.listen-address=127.0.0.1:0 "${extra[@]}"
        refused "$(basename "$b") --web.config.file=large.yaml" "$D/large.yaml" \
            'larger than the limit of [0-9]+ bytes' \
            "$b" --web.config.file="$D/large.yaml" --web.listen-address=127.0.0.1:0 "${extra[@]}"
    else
        say "$(basename "$b") has no --web.config.file: not checked"
    fi
done
finish

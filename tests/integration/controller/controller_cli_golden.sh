#!/usr/bin/env bash
# controller_cli_golden: the controller's command-line outputs, byte for byte. check and
# test over every rules file and rules-test fixture of the repository (valid and broken),
# and the usage texts of the daemon and of each verb, are compared with
# tests/golden/controller-cli/, output and exit status both. A refactoring of the
# controller must leave every one of them unchanged (issue 17); a deliberate change
# regenerates them with HOMEOSTAT_UPDATE_GOLDEN=1 and shows up in the diff. About 1 s.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

GOLDEN=$HOMEOSTAT_SOURCE_DIR/tests/golden/controller-cli
if [[ ! -x $HOMEOSTAT_CONTROLLER ]]; then
    fail "controller binary '$HOMEOSTAT_CONTROLLER' is missing"
    finish
fi
cd "$HOMEOSTAT_SOURCE_DIR"

# NAME ARGS...: one case; the output is taken with relative paths, from the source tree.
cases=()
add() { cases+=("$*"); }
add help --help
add unknown-flag --no-such-flag
add unknown-verb frobnicate
add backtest-help backtest --help
add report-help report --help
for f in rules/*.yaml demo/rules.yaml tests/fixtures/rules/*.yaml tests/fixtures/ruletest/*.yaml; do
    case $f in *_test.yaml) continue ;; esac
    add "check-$(echo "${f%.yaml}" | tr '/' '-')" check "$f"
done
for f in rules/*_test.yaml tests/fixtures/ruletest/*.yaml; do
    add "test-$(echo "${f%.yaml}" | tr '/' '-')" test "$f"
done
add check-none check
add check-two check rules/default.yaml rules/example.yaml

mkdir -p "$HS_TMP/out"
n=0
for c in "${cases[@]}"; do
    read -r -a words <<<"$c"
    name=${words[0]}
    rc=0
    "$HOMEOSTAT_CONTROLLER" "${words[@]:1}" >"$HS_TMP/out/$name.txt" 2>&1 </dev/null || rc=$?
    # the version differs between builds; nothing else may
    sed -i -E 's/(homeostat-controller version )[^ ]+/\1VERSION/' "$HS_TMP/out/$name.txt"
    echo "exit $rc" >>"$HS_TMP/out/$name.txt"
    n=$((n + 1))
    if [[ ${HOMEOSTAT_UPDATE_GOLDEN:-} == 1 ]]; then
        mkdir -p "$GOLDEN"
        cp "$HS_TMP/out/$name.txt" "$GOLDEN/$name.txt"
        continue
    fi
    if cmp -s "$HS_TMP/out/$name.txt" "$GOLDEN/$name.txt"; then
        pass "$name: homeostat-controller ${words[*]:1}"
    else
        fail "$name: homeostat-controller ${words[*]:1} differs from tests/golden/controller-cli/$name.txt:"
        diff -u "$GOLDEN/$name.txt" "$HS_TMP/out/$name.txt" 2>&1 | head -n 20 | sed 's/^/    /'
    fi
done
if [[ ${HOMEOSTAT_UPDATE_GOLDEN:-} == 1 ]]; then
    pass "wrote $n golden files"
else
    check_eq "every golden file has its case" "$n" "$(find "$GOLDEN" -name '*.txt' | wc -l)"
fi
finish

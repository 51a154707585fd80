#!/usr/bin/env bash
# man_pages: the man pages stay true to the programs. homeostat-exporter(1) and
# homeostat-controller(1) document exactly the flags their --help lists, with the same
# defaults, and every collector (and the controller's BACKTEST OPTIONS exactly the flags of
# `homeostat-controller backtest --help`, and REPORT OPTIONS those of `report --help`);
# homeostat-rules(5) names every key of docs/RULES.md's reference tables; all three render
# with groff without a warning.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_tool groff /usr/bin/python3

man=$HOMEOSTAT_SOURCE_DIR/packaging/man
script=$HOMEOSTAT_SOURCE_DIR/tests/integration/operator/man_pages.py

judge() {
    local line
    while IFS= read -r line; do
        case $line in
        PASS\ *) pass "${line#PASS }" ;;
        FAIL\ *) fail "${line#FAIL }" ;;
        *) fail "unexpected output: $line" ;;
        esac
    done
}

"$HOMEOSTAT_EXPORTER" --help >"$HS_TMP/exporter.help" 2>&1
"$HOMEOSTAT_CONTROLLER" --help >"$HS_TMP/controller.help" 2>&1
judge < <(/usr/bin/python3 "$script" flags "$man/homeostat-exporter.1" "$HS_TMP/exporter.help")
judge < <(/usr/bin/python3 "$script" flags "$man/homeostat-controller.1" "$HS_TMP/controller.help")
"$HOMEOSTAT_CONTROLLER" backtest --help >"$HS_TMP/backtest.help" 2>&1
judge < <(/usr/bin/python3 "$script" flags "$man/homeostat-controller.1" "$HS_TMP/backtest.help" \
    "BACKTEST OPTIONS")
"$HOMEOSTAT_CONTROLLER" report --help >"$HS_TMP/report.help" 2>&1
judge < <(/usr/bin/python3 "$script" flags "$man/homeostat-controller.1" "$HS_TMP/report.help" \
    "REPORT OPTIONS")
judge < <(/usr/bin/python3 "$script" keys "$man/homeostat-rules.5" \
    "$HOMEOSTAT_SOURCE_DIR/docs/RULES.md")

for page in "$man"/*.[15]; do
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    check_eq "$(basename "$page") renders without warnings" "" "$warnings"
    check "$(basename "$page") has NAME, SYNOPSIS and DESCRIPTION" \
        test "$(grep -c '^\.SH \(NAME\|SYNOPSIS\|DESCRIPTION\)' "$page")" = 3
done
finish

#!/bin/bash
# check-style.sh: the written rules of docs/ARCHITECTURE.md that a grep can check.
#  - no sprintf, vsprintf, strcpy, strcat, strtok, atoi/atol, gets, system(), popen()
#  - common/ includes nothing from the daemons; the daemons never include each other
#  - every C file opens with a comment saying what it is
# Prints each violation, then "N passed, N failed"; exits 1 on any violation.
set -uo pipefail
cd "${1:-$(dirname "$0")/..}"
mapfile -t src < <(find common exporter controller tests bench demo -name '*.[ch]' \
    -not -path '*/build*' 2>/dev/null | sort)
failed=0
passed=0
report() { # name, violations
    if [ -n "$2" ]; then
        printf 'style: %s:\n%s\n' "$1" "$(sed 's/^/  /' <<<"$2")"
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}
banned='\b(v?sprintf|strcpy|strcat|strtok|atoi|atol|atoll|gets|system|popen)[[:space:]]*\('
report "banned functions" "$(grep -nE "$banned" "${src[@]}" |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*)' | grep -v 'check-style: allow')"
report "common/ includes daemon code" \
    "$(grep -nE '#include "(\.\./)?(exporter|controller)/' common/*.[ch])"
report "exporter includes controller code" \
    "$(grep -nE '#include ".*controller' exporter/*.[ch] 2>/dev/null)"
report "controller includes exporter code" \
    "$(grep -nE '#include ".*exporter' controller/*.[ch] controller/*/*.[ch] 2>/dev/null)"
# The controller's layers (the build enforces most of it with scoped include directories,
# controller/CMakeLists.txt): clients include nothing of the other layers; only the daemon
# includes controller.h; nothing but main.c includes a cli/ front-end's header (the
# daemon's report uses cli/report_source.h, the report's Prometheus source, which is not one).
report "controller/clients includes another layer" \
    "$(grep -nE '#include "(rules|rules_loader|evaluate|decide|replay|template|report|actuator|controller|state|check|ruletest|backtest|report_cli|run)\.h"' controller/clients/*.[ch])"
report "controller.h outside controller/daemon" \
    "$(grep -nE '#include "controller\.h"' controller/main.c controller/engine/*.[ch] controller/clients/*.[ch] controller/actuators/*.[ch] controller/cli/*.[ch])"
report "a cli/ front-end header outside main.c and cli/" \
    "$(grep -nE '#include "(check|ruletest|backtest|report_cli)\.h"' controller/engine/*.[ch] controller/clients/*.[ch] controller/actuators/*.[ch] controller/daemon/*.[ch])"
report "files without an opening comment" \
    "$(for f in "${src[@]}"; do head -1 "$f" | grep -q '^/\*' || echo "$f"; done)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

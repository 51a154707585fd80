#!/bin/bash
# run.sh: runs the libFuzzer harnesses of a HOMEOSTAT_FUZZ build (make fuzz, make fuzz-smoke).
#
#   tests/fuzz/run.sh [-j JOBS] BUILD_DIR SECONDS [NAME...]   fuzz each harness SECONDS
#   tests/fuzz/run.sh -m BUILD_DIR [NAME...]                  merge new inputs into the seeds
#
# Each harness NAME (all of them when none is named) runs BUILD_DIR/tests/fuzz/fuzz-NAME
# with the dictionary tests/fuzz/NAME.dict on BUILD_DIR/corpus/NAME (where new inputs go),
# reading the seeds tests/fuzz/corpus/NAME and the fixed crashes tests/fuzz/crashes/NAME as
# well; a crash, leak, timeout or out-of-memory input lands in BUILD_DIR/crashes/NAME/ and
# the output in BUILD_DIR/logs/NAME.log. JOBS harnesses run at once (default 1). Prints one
# line per harness (executions per second, coverage, corpus size, result) and exits 1 when
# any harness failed or left a file in its crash directory.
#
# -m runs libFuzzer's -set_cover_merge=1 (a small set with the same coverage): the inputs of
# BUILD_DIR/corpus/NAME that add coverage to
# tests/fuzz/corpus/NAME are copied there (to be reviewed and committed).
set -uo pipefail

src=$(cd "$(dirname "$0")" && pwd)
all_names="statsd push mapping rules promql amreceiver exporter-http controller-http"
jobs=1
merge=0
while getopts "j:m" opt; do
    case $opt in
    j) jobs=$OPTARG ;;
    m) merge=1 ;;
    *) echo "usage: $0 [-j JOBS] BUILD_DIR SECONDS [NAME...] | -m BUILD_DIR [NAME...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
build=${1:?BUILD_DIR missing}
shift
if [ "$merge" -eq 0 ]; then
    seconds=${1:?SECONDS missing}
    shift
fi
names=${*:-$all_names}
build=$(cd "$build" && pwd)

# Limits: a harness input taking over 25 s (the HTTP harnesses give up on a silent
# daemon after about 8 s themselves) or a process over 2 GiB is a finding.
common_flags=(-timeout=25 -rss_limit_mb=2048 -print_final_stats=1)
# The harness's own flags into the array extra.
set_extra() {
    extra=()
    case $1 in
    # The daemon's threads allocate and free around each request, after the input has
    # returned: leaks are checked when the process exits, not after every input.
    *-http) extra=(-detect_leaks=0) ;;
    esac
}

if [ "$merge" -eq 1 ]; then
    for name in $names; do
        bin=$build/tests/fuzz/fuzz-$name
        mkdir -p "$build/corpus/$name" "$build/logs"
        before=$(find "$src/corpus/$name" -type f | wc -l)
        set_extra "$name"
        "$bin" -set_cover_merge=1 "${extra[@]}" "${common_flags[@]}" "$src/corpus/$name" \
            "$build/corpus/$name" >"$build/logs/$name-merge.log" 2>&1
        after=$(find "$src/corpus/$name" -type f | wc -l)
        echo "$name: $((after - before)) inputs added to tests/fuzz/corpus/$name ($after in all)"
    done
    exit 0
fi

run_one() {
    local name=$1
    local bin=$build/tests/fuzz/fuzz-$name
    local crashes=$build/crashes/$name
    mkdir -p "$build/corpus/$name" "$crashes" "$build/logs"
    if [ ! -x "$bin" ]; then
        echo "$bin is missing: build with -DHOMEOSTAT_FUZZ=ON (make fuzz)" >"$build/logs/$name.log"
        echo 127 >"$build/logs/$name.rc"
        return
    fi
    local dirs=("$build/corpus/$name" "$src/corpus/$name")
    [ -d "$src/crashes/$name" ] && dirs+=("$src/crashes/$name")
    set_extra "$name"
    (cd "$build/logs" &&
        "$bin" -max_total_time="$seconds" -dict="$src/$name.dict" \
            -artifact_prefix="$crashes/" "${extra[@]}" "${common_flags[@]}" \
            "${dirs[@]}") >"$build/logs/$name.log" 2>&1
    echo $? >"$build/logs/$name.rc"
}

summary() {
    local name=$1 rc=$2 log=$build/logs/$1.log
    local execs rate line cov ft corp result
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    line=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$line")
    local found
    found=$(find "$build/crashes/$name" -type f | wc -l)
    if [ "$rc" -eq 0 ] && [ "$found" -eq 0 ]; then
        result=clean
    else
        result=$(grep -oE 'ERROR: (libFuzzer: [a-z -]+|AddressSanitizer: [a-z-]+|LeakSanitizer: [a-z ]+)|runtime error|invariant broken' "$log" | head -1)
        result="FAILED (${result:-exit $rc}; $found file(s) in $build/crashes/$name; see $log)"
    fi
    printf '%-16s %8s execs %6s exec/s  cov %5s  ft %6s  corpus %-12s %s\n' "$name" \
        "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
    [ "$result" = clean ]
}

echo "fuzz: $(wc -w <<<"$names") harnesses, ${seconds}s each, $jobs at a time, logs in $build/logs"
running=0
for name in $names; do
    rm -f "$build/logs/$name.rc"
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$name" &
    running=$((running + 1))
done
wait
failed=0
for name in $names; do
    summary "$name" "$(cat "$build/logs/$name.rc" 2>/dev/null || echo 1)" || failed=1
done
exit $failed

#!/bin/sh
# Runs one libFuzzer target for SECONDS and prints one summary line:
#   fuzz TARGET: RUNS runs in S s (EXECS/s), ok
# or, on a crash, leak, timeout or broken invariant, FAIL with the kind and
# the saved input, followed by the end of libFuzzer's log.
# Usage: tests/fuzz/run.sh TARGET SECONDS   (from the repository root)
set -u
t=$1
secs=$2
bin=build/fuzz/fuzz_$t
work=build/fuzz/corpus/$t
seeds=tests/fuzz/corpus/$t
crashes=build/fuzz/crashes
log=build/fuzz/log/$t.log

case $t in
pnr) maxlen=64 ;;
bodies) maxlen=4096 ;;
policy | consent) maxlen=16384 ;;
*) maxlen=8192 ;;
esac

mkdir -p "$work" "$seeds" "$crashes" build/fuzz/log
dict=""
[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"

# A small quarantine keeps ASan from touching fresh pages on every input,
# which made the slower targets several times slower on a VM.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:quarantine_size_mb=32}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# shellcheck disable=SC2086
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" \
    -print_final_stats=1 -artifact_prefix="$crashes/$t-" $dict "$work" "$seeds" >"$log" 2>&1
rc=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
if [ $rc -eq 0 ]; then
    printf 'fuzz %-9s %9s runs in %s s (%s/s), ok\n' "$t:" "${runs:-?}" "$secs" "${speed:-?}"
    exit 0
fi
kind="crash"
if grep -q "fuzz invariant failed" "$log"; then kind="broken invariant"
elif grep -q "ERROR: libFuzzer: timeout" "$log"; then kind="timeout"
elif grep -q "ERROR: LeakSanitizer" "$log"; then kind="leak"
elif grep -q "ERROR: libFuzzer: out-of-memory" "$log"; then kind="out of memory"
elif grep -q "runtime error:" "$log"; then kind="undefined behaviour"
elif grep -q "ERROR: AddressSanitizer" "$log"; then kind="memory error"
fi
unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
printf 'fuzz %-9s %9s runs, FAIL: %s (input %s, log %s)\n' "$t:" "${runs:-?}" "$kind" \
    "${unit:-none}" "$log"
tail -n 60 "$log" | sed 's/^/    /'
exit 1

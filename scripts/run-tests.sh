#!/bin/sh
# Runs each Criterion test binary given, prints each one's result and a
# total line "N passed, N failed" at the end. Exit 0 only if all passed.
set -u
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
passed=0 failed=0 bad=""
log=$(mktemp)
for t in "$@"; do
    name=$(basename "$t")
    if [ "${VALGRIND:-0}" = 1 ]; then
        # Definite leaks and memory errors fail; reachable memory at exit
        # (OpenSSL, ZeroMQ globals) does not.
        valgrind -q --trace-children=yes --trace-children-skip='/usr/*,/bin/*,/sbin/*' \
            --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite --show-leak-kinds=definite \
            --suppressions=scripts/valgrind.supp \
            "$t" --jobs 1 --timeout 900 >"$log" 2>&1
    else
        # Criterion's --timeout overrides a test's own .timeout: the package
        # test (build, lintian, apt install) gets more than the default.
        case $name in test_deb) limit=900 ;; *) limit=120 ;; esac
        "$t" --jobs 1 --timeout $limit >"$log" 2>&1
    fi
    rc=$?
    syn=$(grep -a "Synthesis:" "$log" | tail -1)
    p=$(echo "$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    f=$(echo "$syn" | sed -n 's/.*Failing: \([0-9]*\).*Crashing: \([0-9]*\).*/\1 \2/p')
    p=${p:-0}
    nf=0
    for x in $f; do nf=$((nf + x)); done
    # A sanitizer report (a leak is printed after Criterion counted the test
    # as passed) fails the binary too.
    if grep -aqE "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:|ERROR SUMMARY: [1-9]" "$log"; then
        rc=${rc:-1}; [ $rc -eq 0 ] && rc=1
    fi
    if [ $rc -ne 0 ] && [ $nf -eq 0 ]; then nf=1; fi
    passed=$((passed + p)); failed=$((failed + nf))
    if [ $rc -ne 0 ]; then
        bad="$bad $name"
        cat "$log"
        echo "FAIL $name ($syn)"
    else
        echo "ok   $name: $p passed"
    fi
done
rm -f "$log"
[ -n "$bad" ] && echo "failing:$bad"
echo "$passed passed, $failed failed"
[ -z "$bad" ]

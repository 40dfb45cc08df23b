#!/usr/bin/env bash
# Run each cmocka unit-test binary given as an argument; print one summary line.
#
# Every tests/unit/<module>/test_<file>.c must have its binary among the
# arguments, and each binary must exist and exit 0: a binary that was not
# built, cannot run or dies on a signal is a failure, never a silent pass.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0 failed=0

if [ $# -eq 0 ]; then
    echo "run-unit.sh: no unit binaries given"
    echo "unit binaries: 0 passed, 1 failed"
    exit 1
fi

declare -A given=()
for t in "$@"; do
    given[${t#*tests/unit/}]=1
done
for src in "$top"/tests/unit/*/test_*.c; do
    rel=${src#"$top"/tests/unit/}
    rel=${rel%.c}
    if [ -z "${given[$rel]:-}" ]; then
        echo "FAILED: tests/unit/$rel.c has no binary in this run"
        failed=$((failed + 1))
    fi
done

for t in "$@"; do
    if [ ! -x "$t" ]; then
        echo "FAILED: $t is missing (not built)"
        failed=$((failed + 1))
        continue
    fi
    "$t"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        if [ "$rc" -gt 128 ]; then
            echo "FAILED: $t died on signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
        else
            echo "FAILED: $t (exit $rc)"
        fi
    fi
done
echo "unit binaries: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

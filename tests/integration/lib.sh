# tests/integration/lib.sh - assertions for the shell integration tests; source it.
# Each assertion prints "ok - NAME" or "not ok - NAME" (TAP-like) and counts.

T_PASS=0
T_FAIL=0

ok() {
    T_PASS=$((T_PASS + 1))
    echo "ok - $*"
}

not_ok() {
    T_FAIL=$((T_FAIL + 1))
    echo "not ok - $*"
}

# check NAME COMMAND...: passes when the command exits 0.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# expect_exit NAME CODE COMMAND...: passes when the command exits with CODE;
# its stderr is kept in $T_ERR for message checks.
expect_exit() {
    local name=$1 want=$2 got
    shift 2
    T_ERR=$("$@" 2>&1 >/dev/null)
    got=$?
    if [ "$got" -eq "$want" ]; then
        ok "$name (exit $got)"
    else
        not_ok "$name: exit $got, expected $want; stderr: $T_ERR"
    fi
}

# expect_err_has NAME TEXT: the last expect_exit's stderr contains TEXT.
expect_err_has() {
    case "$T_ERR" in
    *"$2"*) ok "$1" ;;
    *) not_ok "$1: stderr lacks '$2': $T_ERR" ;;
    esac
}

# finish: print the plain summary line and exit non-zero on any failure.
finish() {
    echo "$(basename "$0"): $T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}

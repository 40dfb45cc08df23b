#!/usr/bin/env bash
# Run every integration test against real servers started here, on loopback:
# PostgreSQL 15 (by the tests themselves, tests/rig/pg.sh) and OpenStack
# Swift with s3api behind stunnel (tests/rig/swift.sh). Prints one summary.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${PGPITR_BIN:?set PGPITR_BIN to the pgpitr binary}"
BUILD_DIR=$(dirname "$PGPITR_BIN")

IT_TMP=$(mktemp -d /tmp/pgpitr-it.XXXXXX)
chmod 755 "$IT_TMP"
export IT_TMP
# The server runs as the postgres user, which may not reach the build tree.
mkdir -p "$IT_TMP/bin"
cp "$PGPITR_BIN" "$IT_TMP/bin/pgpitr"
chmod 755 "$IT_TMP/bin/pgpitr"
export PGPITR_BIN=$IT_TMP/bin/pgpitr

cleanup() {
    . "$top/tests/rig/pg.sh"
    for d in "$IT_TMP"/pg-*; do [ -d "$d" ] && pg_rig_stop "$d"; done
    [ -x "$top/tests/rig/swift.sh" ] && "$top/tests/rig/swift.sh" stop "$IT_TMP/swift" >/dev/null 2>&1
    [ -n "${KEEP_IT_TMP:-}" ] || rm -rf "$IT_TMP"
}
trap cleanup EXIT

# The tests choose CA files themselves; a machine-wide AWS_CA_BUNDLE (env >
# config file) would override the one the s3tls repository names.
unset AWS_CA_BUNDLE AWS_ENDPOINT_URL AWS_PROFILE PGPITR_REPO PGPITR_SERVER PGPITR_CONFIG

export IT_REPO_KINDS=file
if [ ! -x "$top/tests/rig/swift.sh" ]; then
    echo "tests/rig/swift.sh is missing: the S3 suites cannot run"
    exit 1
fi
if [ -x "$top/tests/rig/swift.sh" ]; then
    "$top/tests/rig/swift.sh" start "$IT_TMP/swift" || { echo "cannot start the Swift rig"; exit 1; }
    . "$IT_TMP/swift/env"
    # The archive_command runs as the postgres user: give it a CA copy it can read.
    cp "$PITR_TEST_CA_FILE" "$IT_TMP/ca.pem" && chmod 644 "$IT_TMP/ca.pem"
    export PITR_TEST_CA_FILE=$IT_TMP/ca.pem
    export IT_REPO_KINDS="file s3 s3tls"
fi

passed=0 failed=0
# Seconds each suite took, printed at the end: make check has a 45-minute budget.
timings=""
timed() {
    local name=$1 t0=$SECONDS rc
    shift
    "$@"
    rc=$?
    timings="$timings$(printf '%5d s  %s' $((SECONDS - t0)) "$name")
"
    return $rc
}
# IT_ONLY="test_a test_b" runs only the named suites (without extension).
selected() {
    [ -z "${IT_ONLY:-}" ] && return 0
    case " $IT_ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}

for t in "$here"/test_*.sh; do
    selected "$(basename "$t" .sh)" || continue
    echo "== $(basename "$t")"
    if timed "$(basename "$t" .sh)" "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
# Every C suite with a source is expected: a binary that was not built is a
# failure, never a silent pass.
for src in "$here"/test_*.c; do
    name=$(basename "$src" .c)
    selected "$name" || continue
    t=$BUILD_DIR/tests/integration/$name
    echo "== $name"
    if [ ! -x "$t" ]; then
        echo "not ok - $name: $t was not built (make integration-bins)"
        failed=$((failed + 1))
        continue
    fi
    if timed "$name" "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
# A suite named in IT_ONLY that does not exist is a typo, not a pass.
for want in ${IT_ONLY:-}; do
    [ -e "$here/$want.sh" ] || [ -e "$here/$want.c" ] || {
        echo "not ok - IT_ONLY names '$want', which is no suite in tests/integration"
        failed=$((failed + 1))
    }
done
echo "time per suite:"
printf '%s' "$timings"
echo "integration suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

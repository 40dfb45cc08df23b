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
# IT_ONLY="test_a test_b" runs only the named suites (without extension).
selected() {
    [ -z "${IT_ONLY:-}" ] && return 0
    case " $IT_ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}

# Two lanes (IT_LANES=2, the default): the suites in IT_LANE2 spend most of
# their time waiting (heartbeats, leases, 20 s cron slots, agent restarts;
# s3_hostile: endpoints trickling bytes until a request deadline) and run one after another in a second lane while lane 1 runs the rest one
# after another. Each suite has its own PostgreSQL ports, IT_TMP names and
# S3 prefix (its pid), so the lanes share nothing but the Swift rig. With two
# lanes every suite's output is buffered and printed whole when it ends;
# IT_LANES=1 runs everything in one lane with the output as it comes.
IT_LANES=${IT_LANES:-2}
IT_LANE2=${IT_LANE2:-"test_agent test_cluster test_agent_archive test_agent_recovery test_agent_metrics test_s3_hostile"}
OUT=$IT_TMP/it-out
mkdir -p "$OUT"
: >"$OUT/results"
in_lane2() {
    [ "$IT_LANES" -ge 2 ] || return 1
    case " $IT_LANE2 " in *" $1 "*) return 0 ;; esac
    return 1
}

# run_suite LANE NAME COMMAND...: run one suite; record "RC SECONDS NAME" in
# $OUT/results (one short append per suite: atomic between the lanes).
run_suite() {
    local lane=$1 name=$2 t0 rc shown=$2
    shift 2
    [ -e "$here/$name.sh" ] && shown=$name.sh
    t0=$(date +%s)
    if [ "$IT_LANES" -ge 2 ]; then
        "$@" >"$OUT/$name.out" 2>&1 </dev/null
        rc=$?
        {
            flock 9
            echo "== $shown (lane $lane, $(($(date +%s) - t0)) s)"
            cat "$OUT/$name.out"
        } 9>"$OUT/print.lock"
    else
        echo "== $shown"
        "$@"
        rc=$?
    fi
    printf '%d %d %s\n' "$rc" $(($(date +%s) - t0)) "$name" >>"$OUT/results"
}

# Every C suite with a source is expected: a binary that was not built is a
# failure, never a silent pass.
c_suite() {
    local t=$BUILD_DIR/tests/integration/$1
    if [ ! -x "$t" ]; then
        echo "not ok - $1: $t was not built (make integration-bins)"
        return 1
    fi
    "$t"
}

lane2_pid=
if [ "$IT_LANES" -ge 2 ]; then
    (
        for name in $IT_LANE2; do
            [ -e "$here/$name.sh" ] && selected "$name" && run_suite 2 "$name" "$here/$name.sh"
        done
    ) &
    lane2_pid=$!
fi
t_all=$(date +%s)
for t in "$here"/test_*.sh; do
    name=$(basename "$t" .sh)
    selected "$name" || continue
    in_lane2 "$name" && continue
    run_suite 1 "$name" "$t"
done
for src in "$here"/test_*.c; do
    name=$(basename "$src" .c)
    selected "$name" || continue
    run_suite 1 "$name" c_suite "$name"
done
[ -z "$lane2_pid" ] || wait "$lane2_pid"
while read -r rc secs name; do
    if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    # Seconds each suite took, printed at the end: make check has a 45-minute budget.
    timings="${timings:-}$(printf '%5d s  %s%s' "$secs" "$name" "$(in_lane2 "$name" && echo ' (lane 2)')")
"
done <"$OUT/results"
# A suite named in IT_ONLY that does not exist is a typo, not a pass.
for want in ${IT_ONLY:-}; do
    [ -e "$here/$want.sh" ] || [ -e "$here/$want.c" ] || {
        echo "not ok - IT_ONLY names '$want', which is no suite in tests/integration"
        failed=$((failed + 1))
    }
done
echo "time per suite:"
printf '%s' "${timings:-}"
echo "integration wall time: $(($(date +%s) - t_all)) s ($IT_LANES lanes)"
echo "integration suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# tools/bench/wal-fetch.sh - time a recovery through `pgpitr wal-fetch` with
# and without prefetch.
#
# A throwaway PostgreSQL 15 archives through `pgpitr wal-push` into OpenStack
# Swift with s3api (tests/rig/swift.sh) over its stunnel HTTPS endpoint;
# `pgpitr backup`, then about PITR_BENCH_SEGMENTS full segments of inserts.
# Then, for --prefetch 8 and --prefetch 0:
#   recovery   `pgpitr restore latest` into a new PGDATA, time from pg_ctl start
#              until the server is promoted (replay of every segment);
#   calls      wal-fetch called once per segment, one after another as the
#              startup process does but without replay, into a data
#              directory's pg_wal (the fetch side alone).
# Prints seconds per run and how many segments came from the spool.
#
# Environment:
#   PITR_BENCH_DIR       work folder, wiped at start (default /tmp/pgpitr-bench-fetch);
#                        a run that succeeds leaves only its logs in it
#                        (PITR_BENCH_KEEP: everything)
#   PITR_BENCH_SEGMENTS  segments of WAL to recover (default 100)
#   PITR_BENCH_PG_PORT   first of three PostgreSQL ports (default 27140)
#   PITR_SWIFT_PORT, PITR_SWIFT_TLS_PORT, PITR_SWIFT_BACKEND_PORT
#                        Swift rig ports (defaults 38320, 38683, 38250)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${PITR_BENCH_DIR:-/tmp/pgpitr-bench-fetch}
NSEG=${PITR_BENCH_SEGMENTS:-100}
PG_PORT=${PITR_BENCH_PG_PORT:-27140}
export PITR_SWIFT_PORT=${PITR_SWIFT_PORT:-38320}
export PITR_SWIFT_TLS_PORT=${PITR_SWIFT_TLS_PORT:-38683}
export PITR_SWIFT_BACKEND_PORT=${PITR_SWIFT_BACKEND_PORT:-38250}
SEG_SIZE=16777216

say() { echo "wal-fetch bench: $*" >&2; }
die() {
    echo "wal-fetch bench: ERROR: $*" >&2
    exit 1
}

# shellcheck disable=SC1091
. "$ROOT/tests/rig/pg.sh"

cleanup() {
    local rc=$? d
    set +e
    for d in "$WORK"/pg-*; do [ -d "$d/data" ] && pg_rig_stop "$d"; done
    [ -d "$WORK/s3" ] && "$ROOT/tests/rig/swift.sh" stop "$WORK/s3" >/dev/null 2>&1
    # The data directories and Swift's disks run to several GB; the logs stay.
    if [ $rc -eq 0 ] && [ -z "${PITR_BENCH_KEEP:-}" ]; then
        find "$WORK" -mindepth 1 ! -type d ! -name log ! -name '*.log' -delete 2>/dev/null
        find "$WORK" -mindepth 1 -depth -type d -empty -delete 2>/dev/null
    fi
    [ $rc -ne 0 ] && say "failed (exit $rc); logs and data are in $WORK"
    exit $rc
}

if [ -d "$WORK" ]; then
    for d in "$WORK"/pg-*; do [ -d "$d/data" ] && pg_rig_stop "$d"; done
    [ -d "$WORK/s3" ] && { "$ROOT/tests/rig/swift.sh" stop "$WORK/s3" >/dev/null 2>&1 || true; }
    rm -rf "$WORK"
fi
mkdir -p "$WORK/log" "$WORK/bin"
chmod 755 "$WORK"
trap cleanup EXIT
trap 'exit 130' INT TERM
unset AWS_CA_BUNDLE AWS_ENDPOINT_URL PGPITR_REPO PGPITR_SERVER PGPITR_CONFIG PGPITR_PREFETCH \
    PGPITR_JOBS PGPITR_LOG_LEVEL

say "building pgpitr (make, no sanitizers)"
make -C "$ROOT" -j2 BUILD=build SANITIZE= >"$WORK/log/make.log" 2>&1 ||
    { tail -n 30 "$WORK/log/make.log" >&2; die "make failed"; }
if nm "$ROOT/build/pgpitr" 2>/dev/null | grep -q '__asan_'; then
    die "build/pgpitr is a sanitized build; run 'make clean' first"
fi
# The servers run as the postgres user, which may not reach the build tree.
cp "$ROOT/build/pgpitr" "$WORK/bin/pgpitr" && chmod 755 "$WORK/bin/pgpitr"
PGPITR=$WORK/bin/pgpitr

say "starting Swift + s3api + stunnel (tests/rig/swift.sh)"
"$ROOT/tests/rig/swift.sh" start "$WORK/s3" >"$WORK/log/swift.log" 2>&1 ||
    { cat "$WORK/log/swift.log" >&2; die "the Swift rig did not start"; }
. "$WORK/s3/env"
cp "$PITR_TEST_CA_FILE" "$WORK/ca.pem" && chmod 644 "$WORK/ca.pem"

CONF=$WORK/pgpitr.conf
cat >"$CONF" <<EOF
repo = s3://$PITR_TEST_BUCKET/bench-fetch-$(date +%s)
server = bench
endpoint-url = $PITR_TEST_S3_TLS_ENDPOINT
ca-file = $WORK/ca.pem
s3-url-style = path
aws-access-key-id = $AWS_ACCESS_KEY_ID
aws-secret-access-key = $AWS_SECRET_ACCESS_KEY
log-level = info
EOF
chmod 600 "$CONF"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$CONF"

S=$WORK/pg-src
say "source PostgreSQL 15 on port $PG_PORT, archiving through wal-push over HTTPS"
pg_rig_init "$S" "$PG_PORT" >"$WORK/log/init.log" 2>&1 || { cat "$WORK/log/init.log" >&2; die "initdb failed"; }
pg_rig_conf "$S" "archive_mode = on"
pg_rig_conf "$S" "archive_command = '$PGPITR --config $CONF wal-push %p'"
pg_rig_conf "$S" "max_wal_size = 4GB"
pg_rig_start "$S" || die "the source did not start (log: $S/log)"
pg_rig_psql "$S" "create table t (id bigserial primary key, v text)"
pg_rig_as env PGHOST="$S/sock" PGPORT="$PG_PORT" PGUSER=postgres \
    "$PGPITR" --config "$CONF" backup --immediate-checkpoint --wal-wait-timeout 120 \
    >"$WORK/log/backup.log" 2>&1 || { cat "$WORK/log/backup.log" >&2; die "backup failed"; }

start_lsn=$(pg_rig_psql "$S" "select pg_current_wal_lsn()")
need=$((NSEG * SEG_SIZE))
say "writing $NSEG segments of WAL"
while :; do
    done_bytes=$(pg_rig_psql "$S" "select pg_wal_lsn_diff(pg_current_wal_lsn(), '$start_lsn')::bigint")
    [ "$done_bytes" -ge "$need" ] && break
    pg_rig_psql "$S" "insert into t (v) select md5(g::text) || md5((g + 1)::text) from generate_series(1, 100000) g"
done
last=$(pg_rig_psql "$S" "select pg_walfile_name(pg_switch_wal())")
for _ in $(seq 1 1800); do
    [ "$(pg_rig_psql "$S" "select coalesce(last_archived_wal, '') >= '$last' from pg_stat_archiver")" = t ] && break
    sleep 0.2
done
[ "$(pg_rig_psql "$S" "select coalesce(last_archived_wal, '') >= '$last' from pg_stat_archiver")" = t ] ||
    die "the archiver did not reach $last"
want=$(pg_rig_psql "$S" "select count(*) || ':' || md5(string_agg(v, '' order by id)) from t")
mapfile -t SEGS < <(pg_rig_psql "$S" \
    "select pg_walfile_name('$start_lsn'::pg_lsn + $SEG_SIZE::numeric * i) from generate_series(0, $NSEG) i")
pg_rig_stop "$S"
say "archived ${SEGS[0]} .. $last"

# recovery PREFETCH PORT: seconds from start to promotion; checks the rows.
recovery() {
    local pf=$1 port=$2 r=$WORK/pg-r$1 t0 t1 got
    mkdir -p "$r/sock"
    "$PGPITR" --config "$CONF" --prefetch "$pf" restore latest "$r/data" >"$WORK/log/restore-$pf.log" 2>&1 ||
        { cat "$WORK/log/restore-$pf.log" >&2; die "restore failed"; }
    printf "port = %s\nunix_socket_directories = '%s'\narchive_mode = off\n" "$port" "$r/sock" \
        >>"$r/data/postgresql.auto.conf"
    echo "$port" >"$r/port"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$r"
    t0=$(date +%s.%N)
    pg_rig_as "$PG_BIN/pg_ctl" -D "$r/data" -l "$r/log" -t 3600 start >/dev/null || die "start failed ($r/log)"
    until [ "$(pg_rig_psql "$r" "select pg_is_in_recovery()" 2>/dev/null)" = f ]; do
        sleep 0.05
        grep -q "FATAL\|PANIC" "$r/log" && die "recovery failed ($r/log)"
    done
    t1=$(date +%s.%N)
    got=$(pg_rig_psql "$r" "select count(*) || ':' || md5(string_agg(v, '' order by id)) from t")
    [ "$got" = "$want" ] || die "prefetch $pf: the recovered table differs"
    pg_rig_stop "$r"
    printf "%-34s %8.2f s   %3d of %d segments from the spool\n" "recovery, --prefetch $pf" \
        "$(awk "BEGIN { print $t1 - $t0 }")" "$(grep -c 'from the prefetch spool' "$r/log")" \
        "$(grep -c "restored '0000\|from the prefetch spool" "$r/log")"
}

# calls PREFETCH: wal-fetch once per segment into a data directory's pg_wal.
calls() {
    local pf=$1 d=$WORK/calls-$1 t0 t1 s spooled=0
    mkdir -p "$d/pg_wal/archive_status"
    echo 15 >"$d/PG_VERSION"
    : >"$d/recovery.signal"
    t0=$(date +%s.%N)
    for s in "${SEGS[@]}"; do
        "$PGPITR" --config "$CONF" --prefetch "$pf" wal-fetch "$s" "$d/pg_wal/RECOVERYXLOG" \
            2>>"$WORK/log/calls-$pf.log" || die "wal-fetch $s failed"
        rm -f "$d/pg_wal/RECOVERYXLOG"
    done
    t1=$(date +%s.%N)
    (cd "$d" && "$PGPITR" wal-fetch --clean-spool)
    spooled=$(grep -c 'from the prefetch spool' "$WORK/log/calls-$pf.log" || true)
    printf "%-34s %8.2f s   %3d of %d segments from the spool\n" "wal-fetch calls, --prefetch $pf" \
        "$(awk "BEGIN { print $t1 - $t0 }")" "$spooled" "${#SEGS[@]}"
}

echo "wal-fetch bench: ${#SEGS[@]} segments of 16 MiB over HTTPS (Swift + s3api + stunnel), $(nproc) CPUs"
recovery 8 $((PG_PORT + 1))
recovery 0 $((PG_PORT + 2))
calls 8
calls 0

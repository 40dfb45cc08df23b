#!/usr/bin/env bash
# pgpitr wal-receive against a real PostgreSQL 15 primary, into file:// and
# s3:// (Swift) at once, with archive_command (wal-push) into the same
# file:// folder: segments and .partial objects appear, no conflict between
# the receiver and the archiver, two kill -9 + restart cycles of the S3
# receiver resume from the spool (the second with the spool file torn to an
# odd size; no gap: `pgpitr verify`), every commit
# acknowledged by the receiver's flush report is restored from S3 alone
# after the primary is killed (through the stored .partial), and
# barman-cloud-wal-restore 3.4 fetches that .partial. PostgreSQL ports
# 28100-28101.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}" "${PITR_TEST_BUCKET:?Swift rig needed}" "${PITR_TEST_S3_ENDPOINT:?}"

T=$IT_TMP/wr
P=$IT_TMP/pg-wr-primary
R=$IT_TMP/pg-wr-restored
PORT=28100
RPORT=28101
SRV=pg-wr
FC=$T/file.conf
SC=$T/s3.conf
mkdir -p "$T/repo"
chmod 755 "$T"
chown postgres:postgres "$T/repo"
printf 'repo = file://%s/repo\nserver = %s\n' "$T" "$SRV" >"$FC"
printf 'repo = s3://%s/wal-receive\nserver = %s\nendpoint-url = %s\ns3-url-style = path\n' \
    "$PITR_TEST_BUCKET" "$SRV" "$PITR_TEST_S3_ENDPOINT" >"$SC"
printf 'aws-access-key-id = %s\naws-secret-access-key = %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$SC"
chown postgres:postgres "$FC" "$SC"
chmod 600 "$FC" "$SC"

pids=()
stop_all() {
    local p
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
}
trap stop_all EXIT

CONN="host=$P/sock port=$PORT user=postgres"
# receiver NAME CONF SLOT: start one in the background; its pid in $RX_PID.
# As postgres (as the systemd unit runs it); setpriv execs, so $! is the receiver itself.
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(setpriv --reuid postgres --regid postgres --init-groups --)
receiver() {
    mkdir -p "$T/spool-$1"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$T/spool-$1"
    "${AS_PG[@]}" "$PGPITR_BIN" --config "$2" --log-level info wal-receive --dbname "$CONN" --slot "$3" \
        --create-slot --spool-dir "$T/spool-$1" --partial-interval 1 >>"$T/$1.log" 2>&1 &
    RX_PID=$!
    pids+=("$RX_PID")
}

# flushed SLOT LSN: the slot's restart_lsn (the receiver's flush report) has reached LSN.
flushed() {
    local i
    for i in $(seq 1 150); do
        [ "$(pg_rig_psql "$P" "select coalesce(restart_lsn >= '$2', false) from pg_replication_slots where slot_name = '$1'")" = t ] &&
            return 0
        sleep 0.1
    done
    return 1
}

pg_rig_init "$P" "$PORT" || { not_ok "initdb"; finish; exit; }
pg_rig_conf "$P" "archive_mode = on"
pg_rig_conf "$P" "archive_command = '$PGPITR_BIN --config $FC wal-push %p'"
pg_rig_conf "$P" "max_wal_size = '1GB'"
pg_rig_start "$P" || { not_ok "server start"; finish; exit; }

receiver file "$FC" wr_file
RX_FILE=$RX_PID
receiver s3 "$SC" wr_s3
RX_S3=$RX_PID
pg_rig_pgbench "$P" -i -s 5 -q >/dev/null 2>&1 || not_ok "pgbench -i"
check "a base backup into s3:// (its WAL comes from the receiver alone)" \
    "${AS_PG[@]}" "$PGPITR_BIN" --config "$SC" backup --dbname "$CONN" --pgdata "$P/data" --immediate-checkpoint --wal-wait-timeout 60
first=$(pg_rig_psql "$P" "select pg_walfile_name(pg_current_wal_lsn())")

# Load, with the S3 receiver killed -9 twice and restarted.
pg_rig_pgbench "$P" -c 2 -T 9 -n >/dev/null 2>&1 &
bench=$!
cut=""
for cycle in 1 2; do
    sleep 3
    # Kill while a segment is in progress (a .partial in the spool), at most 5 s later.
    for _ in $(seq 1 50); do
        ls "$T"/spool-s3/*.partial >/dev/null 2>&1 && break
        sleep 0.1
    done
    kill -9 "$RX_S3"
    wait "$RX_S3" 2>/dev/null
    if [ "$cycle" = 2 ]; then
        # A torn spool file: an odd size, mid-page, below the segment size.
        cut=$(ls "$T"/spool-s3/*.partial 2>/dev/null | head -n 1)
        [ -n "$cut" ] && truncate -s 2000001 "$cut"
    fi
    receiver s3 "$SC" wr_s3
    RX_S3=$RX_PID
done
wait "$bench" || not_ok "pgbench run"
if [ -n "$cut" ] && grep -q "has 2000001 bytes, not the segment size" "$T/s3.log"; then
    ok "a torn spool .partial (2000001 bytes) was cut to whole pages and streamed again"
else
    not_ok "torn spool file '$cut' not repaired: $(grep -i spool "$T/s3.log" | tail -n 3)"
fi
check "the restarted receiver resumed from its spool" grep -Eq "valid bytes kept, resuming there|left in the spool" "$T/s3.log"

# Rows committed one at a time, after the load.
pg_rig_psql "$P" "create table marks (n int primary key)"
for i in $(seq 1 30); do echo "insert into marks values ($i);"; done |
    pg_rig_as "$PG_BIN/psql" -h "$P/sock" -p "$PORT" -U postgres -d postgres -X -q -v ON_ERROR_STOP=1 ||
    not_ok "inserting marks"
lsn=$(pg_rig_psql "$P" "select pg_current_wal_lsn()")
cur=$(pg_rig_psql "$P" "select pg_walfile_name(pg_current_wal_lsn())")
off=$(pg_rig_psql "$P" "select file_offset from pg_walfile_name_offset('$lsn')")
check "the file:// receiver reported everything as flushed" flushed wr_file "$lsn"
check "the s3:// receiver reported everything as flushed" flushed wr_s3 "$lsn"
sleep 2.5 # two partial intervals

n=$(find "$T/repo/$SRV/wals" -name '0000000100000000*' ! -name '*.partial*' | wc -l)
if [ "$n" -ge 5 ]; then ok "file://: $n full segments stored"; else not_ok "file://: only $n full segments"; fi
check "file://: the segment in progress is stored as $cur.partial.gz" \
    test -f "$T/repo/$SRV/wals/${cur:0:16}/$cur.partial.gz"
check "file://: no .partial object is left beside a full segment" \
    test -z "$(find "$T/repo/$SRV/wals" -name '*.partial*' ! -name "$cur.partial*")"
check "archive_command (wal-push) ran beside the receiver without a failure" \
    test "$(pg_rig_psql "$P" "select failed_count from pg_stat_archiver")" = 0
check "the receivers logged no conflict" \
    bash -c "! grep -qi 'different content\|conflict' '$T/file.log' '$T/s3.log'"
check "the file:// receiver still runs" kill -0 "$RX_FILE"
check "the s3:// receiver still runs" kill -0 "$RX_S3"

# barman-cloud-wal-restore 3.4 reads the .partial the receiver stored in S3.
rm -f "$T/barman.wal"
AWS_DEFAULT_REGION=us-east-1 barman-cloud-wal-restore --endpoint-url "$PITR_TEST_S3_ENDPOINT" \
    --cloud-provider aws-s3 "s3://$PITR_TEST_BUCKET/wal-receive" "$SRV" "$cur" "$T/barman.wal" 2>"$T/barman.err"
if [ -s "$T/barman.wal" ] && cmp -s -n "$off" "$T/barman.wal" "$P/data/pg_wal/$cur"; then
    ok "barman-cloud-wal-restore fetched $cur (.partial) with the primary's first $off bytes"
else
    not_ok "barman-cloud-wal-restore of $cur: $(cat "$T/barman.err")"
fi
expect_exit "wal-fetch of $cur from s3:// returns the partial" 0 \
    "$PGPITR_BIN" --config "$SC" wal-fetch "$cur" "$T/ours.wal"
expect_err_has "wal-fetch says it restored a partial segment" "only archived as a partial segment"

# Lose the primary; the receiver stops on SIGTERM (storing its partial) and exits 0.
pg_rig_as "$PG_BIN/pg_ctl" -D "$P/data" -m immediate -w stop >/dev/null 2>&1
kill -TERM "$RX_S3" "$RX_FILE"
wait "$RX_S3"
check "the s3:// receiver exits 0 on SIGTERM" test $? -eq 0
wait "$RX_FILE"
check "the file:// receiver exits 0 on SIGTERM" test $? -eq 0

expect_exit "verify: the WAL chain in s3:// has no gap" 0 "$PGPITR_BIN" --config "$SC" verify

# Restore from S3 alone and recover to the end of what was streamed.
rm -rf "$R"
mkdir -p "$R"
if "$PGPITR_BIN" --config "$SC" restore latest "$R/data" >"$T/restore.log" 2>&1; then
    mkdir -p "$R/sock"
    chown -R postgres:postgres "$R"
    chmod 700 "$R/data"
    echo "$RPORT" >"$R/port"
    printf 'port = %s\nunix_socket_directories = '"'"'%s'"'"'\narchive_mode = off\n' "$RPORT" "$R/sock" >>"$R/data/postgresql.conf"
    pg_rig_start "$R" && it_wait_recovery_end "$R" 90
    got=$(pg_rig_psql "$R" "select count(*) from marks" 2>&1)
    if [ "$got" = 30 ]; then
        ok "restore from s3:// alone has all 30 commits (the last ones only in $cur.partial)"
    else
        not_ok "restored marks: '$got'; $(tail -n 5 "$R/log")"
    fi
    check "recovery read the partial segment" grep -q "partial" "$R/log"
    pg_rig_stop "$R"
else
    not_ok "restore: $(tail -n 3 "$T/restore.log")"
fi
pg_rig_stop "$P"
finish

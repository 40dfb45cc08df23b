#!/usr/bin/env bash
# The PITR matrix (issue 5): one source PostgreSQL 15 archiving through
# `pgpitr wal-push` into the rig's S3 (Swift), its backups shared by every
# case, each case restored with `pgpitr restore`, started, recovered through
# `pgpitr wal-fetch` and judged by the rows it holds:
#   - xid target, inclusive and exclusive (the target's batch present/absent);
#   - LSN target at a commit record, inclusive and exclusive;
#   - a base backup written by barman-cloud-backup, restored to a time;
#   - a WAL segment missing in the middle of the archive: recovery stops at
#     the gap with PostgreSQL's message, wal-fetch's log names the segment;
#   - a target before the backup named on the command line: a clear error;
#   - a second timeline: a restore promoted onto timeline 2 writes rows while
#     archiving into the same repository; restores with --target-tli latest
#     (following the history file from a timeline-1 backup) and --target-tli
#     2 (choosing the timeline-2 backup) hold them;
#   - a tablespace restored to its original location (other cases remap it
#     with --tablespace OID:DIR and read it too).
# test_restore.sh covers time/name/immediate/latest targets, the settings
# written and the refusals; this suite does not repeat them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

if [ -z "${PITR_TEST_S3_ENDPOINT:-}" ]; then
    not_ok "the Swift rig is not running (PITR_TEST_S3_ENDPOINT unset): barman-cloud-backup needs S3"
    finish
    exit 1
fi

PREFIX=pm-$(date +%s)-$$
SERVER=pm
CONF=$IT_TMP/pm.conf
{
    printf 'repo = s3://%s/%s\nserver = %s\nendpoint-url = %s\n' \
        "$PITR_TEST_BUCKET" "$PREFIX" "$SERVER" "$PITR_TEST_S3_ENDPOINT"
    printf 'aws-access-key-id = %s\naws-secret-access-key = %s\ns3-url-style = path\n' \
        "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
} >"$CONF"
chown postgres:postgres "$CONF"
chmod 600 "$CONF"

pitr() { "$PGPITR_BIN" --config "$CONF" "$@"; }

wait_archived() {
    pg_rig_wait_archived "$1" 60 2>"$IT_TMP/pm-archiver.err" || not_ok "$1: $(cat "$IT_TMP/pm-archiver.err")"
}

# wait_promoted DIR: wait until recovery has ended.
wait_promoted() {
    for _ in $(seq 1 300); do
        [ "$(pg_rig_psql "$1" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && return 0
        sleep 0.2
    done
    return 1
}

# pg_backup DIR NAME: `pgpitr backup` of that server as the postgres user; prints the backup id.
pg_backup() {
    local d=$1 json
    json=$(pg_rig_as env PGHOST="$d/sock" PGPORT="$(cat "$d/port")" PGUSER=postgres \
        "$PGPITR_BIN" --config "$CONF" backup --immediate-checkpoint --wal-wait-timeout 60 \
        --name "$2" --json 2>"$IT_TMP/pm-backup-$2.err")
    grep -q '"status": "DONE"' <<<"$json" || return 1
    python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' <<<"$json"
}

batches() {
    pg_rig_psql "$1" "select string_agg(distinct batch::text, ',' order by batch::text) from t"
}

# insert_batch DIR N: one transaction adding batch N; prints its xid.
insert_batch() {
    pg_rig_psql "$1" "with i as (insert into t select $2, g from generate_series(1, 500) g returning x)
        select distinct x from i"
}

NEXT_PORT=27151
# restore_start NAME ARGS...: restore into $IT_TMP/pg-pm-NAME (tablespace remapped
# to NAME/tbs unless ARGS hold --tablespace or NO_REMAP=1), archive_mode off
# unless KEEP_ARCHIVE=1, and start it (without waiting for the end of recovery).
# The restore's stdout is in $R_OUT; the PGDATA folder is $R.
restore_start() {
    local name=$1 remap=()
    shift
    R=$IT_TMP/pg-pm-$name
    NEXT_PORT=$((NEXT_PORT + 1))
    mkdir -p "$R/sock"
    [ "${NO_REMAP:-0}" = 1 ] || remap=(--tablespace "$TBS_OID:$R/tbs")
    R_OUT=$("$PGPITR_BIN" --config "$CONF" restore "$@" "${remap[@]}" "$R/data" 2>"$R.err")
    if [ $? -ne 0 ]; then
        not_ok "$name: restore failed: $(cat "$R.err")"
        return 1
    fi
    sed "s/^/# $name: /" <<<"$R_OUT"
    {
        echo "port = $NEXT_PORT"
        echo "unix_socket_directories = '$R/sock'"
        [ "${KEEP_ARCHIVE:-0}" = 1 ] || echo "archive_mode = off"
    } >>"$R/data/postgresql.auto.conf"
    echo "$NEXT_PORT" >"$R/port"
    chown -R postgres:postgres "$R"
    # Restored files belong to whoever ran the restore: hand the tablespaces over too.
    for l in "$R"/data/pg_tblspc/*; do
        [ -L "$l" ] && chown -R postgres:postgres "$(readlink "$l")"
    done
    pg_rig_start "$R" >"$R.start" 2>&1
}

# restore_rows NAME WANT ARGS...: restore_start, wait for the promotion, compare
# the batches in t with WANT, read the tablespace's table, stop.
restore_rows() {
    local name=$1 want=$2 got
    shift 2
    restore_start "$name" "$@" || { not_ok "$name: server did not start: $(tail -n 5 "$R/log")"; return 1; }
    if ! wait_promoted "$R"; then
        not_ok "$name: recovery did not end: $(tail -n 5 "$R/log")"
        pg_rig_stop "$R"
        return 1
    fi
    got=$(batches "$R")
    if [ "$got" = "$want" ]; then
        ok "$name: batches $got"
    else
        not_ok "$name: batches '$got', expected '$want'; $(grep -m 3 'recovery stopping\|redo done' "$R/log")"
    fi
    check "$name: the tablespace's table is readable (1000 rows)" \
        test "$(pg_rig_psql "$R" "select count(*) from in_tbs")" = 1000
}

# ---------------------------------------------------------------- the source
S=$IT_TMP/pg-pm-src
pg_rig_init "$S" 27150 || { not_ok "initdb"; finish; exit 1; }
pg_rig_conf "$S" "archive_mode = on"
pg_rig_conf "$S" "archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
pg_rig_start "$S" || { not_ok "source server start"; finish; exit 1; }
TBS=$IT_TMP/pm-tbs
mkdir -p "$TBS" && chown postgres:postgres "$TBS"
pg_rig_psql "$S" "create extension pg_walinspect"
pg_rig_psql "$S" "create tablespace tbs1 location '$TBS'"
pg_rig_psql "$S" "create table in_tbs (id int) tablespace tbs1; insert into in_tbs select generate_series(1, 1000)"
pg_rig_psql "$S" "create table t (batch int, v int, x xid8 default pg_current_xact_id())"
TBS_OID=$(pg_rig_psql "$S" "select oid from pg_tablespace where spcname = 'tbs1'")
insert_batch "$S" 0 >/dev/null

B1=$(pg_backup "$S" pm-first) || { not_ok "pgpitr backup of the source: $(cat "$IT_TMP/pm-backup-pm-first.err")"; finish; exit 1; }
ok "pgpitr backup $B1 DONE"

# Batches 1 and 2: the xid targets; then batch 3 at the LSN target.
X1=$(insert_batch "$S" 1)
X2=$(insert_batch "$S" 2)
# The segment holding batch 2, alone: the gap case deletes it.
GAP_SEG=$(pg_rig_psql "$S" "select pg_walfile_name(pg_current_wal_lsn())")
pg_rig_psql "$S" "select pg_switch_wal()" >/dev/null
L0=$(pg_rig_psql "$S" "select pg_current_wal_insert_lsn()")
X3=$(insert_batch "$S" 3)
L1=$(pg_rig_psql "$S" "select pg_current_wal_insert_lsn()")
LSN3=$(pg_rig_psql "$S" "select start_lsn from pg_get_wal_records_info('$L0', '$L1')
    where resource_manager = 'Transaction' and record_type = 'COMMIT' and xid = '$X3'")
insert_batch "$S" 4 >/dev/null
echo "# xids: batch 1 $X1, batch 2 $X2, batch 3 $X3 (commit record at $LSN3); batch 2 in $GAP_SEG"
check "the commit record of batch 3 was found" test -n "$LSN3"

# A base backup written by barman-cloud-backup into the same server folder.
BARMAN_LOG=$IT_TMP/pm-barman.log
if env PGHOST="$S/sock" PGPORT=27150 PGUSER=postgres AWS_DEFAULT_REGION="$AWS_REGION" \
    barman-cloud-backup --cloud-provider aws-s3 -z --immediate-checkpoint \
    --endpoint-url "$PITR_TEST_S3_ENDPOINT" "s3://$PITR_TEST_BUCKET/$PREFIX" "$SERVER" >"$BARMAN_LOG" 2>&1; then
    ok "barman-cloud-backup exit 0"
else
    not_ok "barman-cloud-backup failed: $(tail -n 5 "$BARMAN_LOG")"
fi
BB=$(env AWS_DEFAULT_REGION="$AWS_REGION" barman-cloud-backup-list --cloud-provider aws-s3 --format json \
    --endpoint-url "$PITR_TEST_S3_ENDPOINT" "s3://$PITR_TEST_BUCKET/$PREFIX" "$SERVER" 2>>"$BARMAN_LOG" |
    python3 -c 'import json,sys
b = [x for x in json.load(sys.stdin)["backups_list"] if x.get("backup_name") != "pm-first"]
print(b[-1]["backup_id"] if b else "")')
check "barman-cloud-backup-list shows the barman backup ($BB)" test -n "$BB" -a "$BB" != "$B1"
insert_batch "$S" 5 >/dev/null
T5=$(pg_rig_psql "$S" "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 0.2
insert_batch "$S" 6 >/dev/null
wait_archived "$S"

# ---------------------------------------------------------------- timeline 1
restore_rows xid-incl "0,1" "$B1" --target-xid "$X1" --target-tli 1 && pg_rig_stop "$R"
restore_rows xid-excl "0" "$B1" --target-xid "$X1" --exclusive --target-tli 1 && pg_rig_stop "$R"
restore_rows lsn-incl "0,1,2,3" latest --target-lsn "$LSN3" --target-tli 1 && pg_rig_stop "$R"
restore_rows lsn-excl "0,1,2" latest --target-lsn "$LSN3" --exclusive --target-tli 1 && pg_rig_stop "$R"
if restore_rows barman "0,1,2,3,4,5" --target-time "$T5" --target-tli 1; then
    check "barman: the newest backup before the target, barman-cloud's, was chosen" \
        grep -q "restored backup $BB " <<<"$R_OUT"
    pg_rig_stop "$R"
fi

# A target before the backup named on the command line.
expect_exit "a time target before the named backup ended is refused" 3 \
    pitr restore "$BB" --target-time '2001-02-03 04:05:06+00' --tablespace "$TBS_OID:$IT_TMP/pm-never-tbs" "$IT_TMP/pm-never"
expect_err_has "the refusal names the backup and the earliest possible target" \
    "backup '$BB' ended at"
check "nothing was created for the refused restore" test ! -e "$IT_TMP/pm-never" -a ! -e "$IT_TMP/pm-never-tbs"
expect_exit "an LSN target before the named backup ended is refused" 3 \
    pitr restore "$BB" --target-lsn "$LSN3" --tablespace "$TBS_OID:$IT_TMP/pm-never-tbs" "$IT_TMP/pm-never"
expect_err_has "the LSN refusal names the backup's end LSN" "backup '$BB' ended at LSN"

# A WAL segment missing in the middle: save it, delete it, restore past it, put it back.
GAP_KEY=$SERVER/wals/${GAP_SEG:0:16}/$GAP_SEG.gz
check "the gap segment is archived at $GAP_KEY" pitr object-get "$GAP_KEY" "$IT_TMP/pm-gap.gz"
check "the gap segment is deleted" pitr object-delete "$GAP_KEY"
restore_start gap "$B1" --target-time "$T5" --target-tli 1
for _ in $(seq 1 150); do
    [ -f "$R/data/postmaster.pid" ] || break
    sleep 0.2
done
check "gap: the server stopped (recovery cannot reach the target)" test ! -f "$R/data/postmaster.pid"
check "gap: PostgreSQL says recovery ended before the target" \
    grep -q "recovery ended before configured recovery target was reached" "$R/log"
check "gap: wal-fetch's log names the missing segment" \
    grep -q "WAL file '$GAP_SEG' is not in the archive" "$R/log"
REDO_DONE=$(sed -n 's/.*redo done at \([0-9A-F]*\/[0-9A-F]*\).*/\1/p' "$R/log" | head -n 1)
check "gap: replay stopped in the segment before $GAP_SEG (redo done at $REDO_DONE)" \
    test "$(pg_rig_psql "$S" "select pg_walfile_name('$REDO_DONE') < '$GAP_SEG'")" = t
pg_rig_stop "$R"
check "the gap segment is put back" pitr object-put "$GAP_KEY" "$IT_TMP/pm-gap.gz"

# ---------------------------------------------------------------- timeline 2
# R1: the source's copy at batch 2, promoted onto timeline 2, archiving into
# the same repository; batch 3 and later exist only on timeline 1.
KEEP_ARCHIVE=1 restore_start tl2-primary "$B1" --target-xid "$X2" --target-tli 1
R1=$R
if wait_promoted "$R1"; then
    pg_rig_psql "$R1" "checkpoint"
    check "tl2-primary: it runs on timeline 2" \
        test "$(pg_rig_psql "$R1" "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")" = 00000002
    insert_batch "$R1" 20 >/dev/null
    B2=$(pg_backup "$R1" pm-tl2) || not_ok "pgpitr backup on timeline 2: $(cat "$IT_TMP/pm-backup-pm-tl2.err")"
    insert_batch "$R1" 21 >/dev/null
    T21=$(pg_rig_psql "$R1" "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    sleep 0.2
    insert_batch "$R1" 22 >/dev/null
    wait_archived "$R1"
    check "tl2-primary: 00000002.history is archived" pitr wal-fetch 00000002.history "$IT_TMP/pm-tl2.history"
    pg_rig_stop "$R1"

    if restore_rows tl-latest "0,1,2,20,21" "$B1" --target-time "$T21" --target-tli latest; then
        check "tl-latest: promoted onto timeline 3" \
            test "$(pg_rig_psql "$R" "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")" = 00000003
        pg_rig_stop "$R"
    fi
    if restore_rows tl-2 "0,1,2,20,21" latest --target-time "$T21" --target-tli 2; then
        check "tl-2: the timeline-2 backup was chosen" grep -q "restored backup $B2 " <<<"$R_OUT"
        pg_rig_stop "$R"
    fi
    expect_exit "tl-2: a time before the timeline-2 backup is refused" 3 \
        pitr restore --target-time "$T5" --target-tli 2 --tablespace "$TBS_OID:$IT_TMP/pm-never-tbs" "$IT_TMP/pm-never"
    expect_err_has "tl-2: the refusal names the timeline-2 backup" "(end of backup $B2)"
else
    not_ok "tl2-primary: recovery did not end: $(tail -n 5 "$R1/log")"
fi

# ---------------------------------------------------------------- tablespace at its original location
pg_rig_stop "$S"
mv "$TBS" "$TBS.source"
if NO_REMAP=1 restore_rows tbs-original "0" "$B1" --target-immediate; then
    check "tbs-original: pg_tblspc link points at the original location" \
        test "$(readlink "$R/data/pg_tblspc/$TBS_OID")" = "$TBS"
    check "tbs-original: the tablespace's files are at the original location" \
        sh -c "ls -d '$TBS'/PG_15_* >/dev/null"
    pg_rig_stop "$R"
fi

finish

#!/usr/bin/env bash
# End to end: `pgpitr backup` of a hot standby. A primary (pgbench scale 5)
# archives through `pgpitr wal-push` into a file:// repository; a standby made
# with `pg_basebackup -R` streams from it, with archive_mode = always and the
# same archive_command (wal-push accepts a segment it already holds when the
# bytes are identical). While pgbench writes on the primary, `pgpitr backup
# --pgdata STANDBY --dbname <standby>` runs against the standby; the backup
# must be DONE. Its tar is extracted by hand (tar -x), recovers through
# `pgpitr wal-fetch` and must hold the pgbench tables with scale x 100000 rows
# in pgbench_accounts, and what the primary had at the backup's start.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

SCALE=5
P_PORT=26200 S_PORT=26201 R_PORT=26202
p=$IT_TMP/pg-sb-primary
s=$IT_TMP/pg-sb-standby
r=$IT_TMP/pg-sb-restored
conf=$IT_TMP/pgpitr-sb.conf
repo=$IT_TMP/bk-sb

stop_all() {
    pg_rig_stop "$r"
    pg_rig_stop "$s"
    pg_rig_stop "$p"
}
trap stop_all EXIT

mkdir -p "$repo"
chown postgres:postgres "$repo"
printf 'repo = file://%s\nserver = pg-sb\n' "$repo" >"$conf"
chown postgres:postgres "$conf"
chmod 600 "$conf"
ARCHIVE="archive_command = '$PGPITR_BIN --config $conf wal-push %p'"

# ---- primary -----------------------------------------------------------------------
pg_rig_init "$p" "$P_PORT" || { not_ok "primary: initdb"; finish; exit; }
pg_rig_conf "$p" "archive_mode = on"
pg_rig_conf "$p" "$ARCHIVE"
pg_rig_conf "$p" "max_wal_senders = 5"
pg_rig_conf "$p" "wal_keep_size = 1GB"
pg_rig_start "$p" || { not_ok "primary: start"; finish; exit; }
pg_rig_pgbench "$p" -i -s $SCALE -q >/dev/null 2>&1 || not_ok "primary: pgbench -i"
pg_rig_psql "$p" "create table marker (id int primary key, note text);
    insert into marker values (1, 'before the standby backup')"

# ---- standby -----------------------------------------------------------------------
mkdir -p "$s/sock"
chown -R postgres:postgres "$s"
if pg_rig_as "$PG_BIN/pg_basebackup" -h "$p/sock" -p $P_PORT -U postgres -D "$s/data" -R -X stream -c fast \
    >"$s/basebackup.log" 2>&1; then
    ok "standby: pg_basebackup -R"
else
    not_ok "standby: pg_basebackup -R: $(tail -n 5 "$s/basebackup.log")"
    finish
    exit
fi
echo $S_PORT >"$s/port"
cat >>"$s/data/postgresql.conf" <<CONF
port = $S_PORT
unix_socket_directories = '$s/sock'
hot_standby = on
archive_mode = always
$ARCHIVE
CONF
check "standby: standby.signal written by -R" test -f "$s/data/standby.signal"
pg_rig_start "$s" || { not_ok "standby: start"; finish; exit; }
for _ in $(seq 1 100); do
    [ "$(pg_rig_psql "$p" "select count(*) from pg_stat_replication where state = 'streaming'")" = 1 ] && break
    sleep 0.2
done
check "standby: streaming from the primary" \
    test "$(pg_rig_psql "$p" "select count(*) from pg_stat_replication where state = 'streaming'")" = 1
check "standby: in recovery (hot standby answers queries)" test "$(pg_rig_psql "$s" "select pg_is_in_recovery()")" = t
for _ in $(seq 1 100); do
    [ "$(pg_rig_psql "$s" "select count(*) from marker" 2>/dev/null)" = 1 ] && break
    sleep 0.2
done
check "standby: has replayed the primary's marker row" test "$(pg_rig_psql "$s" "select count(*) from marker")" = 1

# ---- the backup of the standby, while pgbench writes on the primary ------------------
pg_rig_pgbench "$p" -c 2 -T 20 -n >"$IT_TMP/sb-pgbench.log" 2>&1 &
bench=$!
sleep 2
t0=$(date +%s)
json=$("$PGPITR_BIN" --config "$conf" backup -J 2 --immediate-checkpoint --name it-standby --json \
    --pgdata "$s/data" --dbname "host=$s/sock port=$S_PORT user=postgres dbname=postgres" \
    --wal-wait-timeout 120 2>"$IT_TMP/sb-backup.err")
rc=$?
echo "# standby backup took $(($(date +%s) - t0)) s: $json"
if [ $rc -eq 0 ]; then
    ok "standby backup: exit 0"
else
    not_ok "standby backup: exit $rc: $(cat "$IT_TMP/sb-backup.err")"
fi
case "$json" in *'"status": "DONE"'*) ok "standby backup: --json says DONE" ;; *) not_ok "standby backup: --json: $json" ;; esac
if kill -0 "$bench" 2>/dev/null; then
    ok "pgbench was still writing on the primary when the backup ended"
else
    echo "# note: pgbench on the primary ended before the backup did"
fi
wait "$bench" || not_ok "pgbench on the primary failed: $(tail -n 5 "$IT_TMP/sb-pgbench.log")"
id=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' 2>/dev/null)
bk=$repo/pg-sb/base/$id
info=$(cat "$bk/backup.info" 2>/dev/null)
check "standby backup: backup.info status=DONE" grep -qx 'status=DONE' <<<"$info"
check "standby backup: data.tar.gz stored" test -s "$bk/data.tar.gz"
check "standby backup: backup_label is in data.tar.gz" sh -c "tar -tzf '$bk/data.tar.gz' | grep -qx backup_label"
check "standby backup: no standby.signal, postmaster.pid or pg_wal contents in the tar" \
    sh -c "! tar -tzf '$bk/data.tar.gz' | grep -E '^(standby.signal|postmaster.pid|pg_wal/.)'"
check "standby backup: backup_label says it was taken from a standby" \
    sh -c "tar -xzOf '$bk/data.tar.gz' backup_label | grep -qx 'BACKUP FROM: standby'"
end_wal=$(sed -n 's/^end_wal=//p' <<<"$info")
check "standby backup: end WAL $end_wal is in the archive" \
    sh -c "ls '$repo/pg-sb/wals/'*/ 2>/dev/null | grep -q '^${end_wal:-none}'"

# Both servers pushed the same segments into one repository: no archive failure on either.
pg_rig_psql "$p" "select pg_switch_wal()" >/dev/null
sleep 3
check "primary: archiver has no failures" test "$(pg_rig_psql "$p" "select failed_count from pg_stat_archiver")" = 0
check "standby (archive_mode = always): archived segments, no failures" \
    test "$(pg_rig_psql "$s" "select archived_count > 0 and failed_count = 0 from pg_stat_archiver")" = t

# ---- restore by hand ------------------------------------------------------------------
mkdir -p "$r/data" "$r/sock"
tar -xzf "$bk/data.tar.gz" -C "$r/data" || not_ok "restore: tar -x"
for v in "$bk"/data_*.tar.gz; do
    [ -e "$v" ] && { tar -xzf "$v" -C "$r/data" || not_ok "restore: tar -x $v"; }
done
mkdir -p "$r/data/pg_wal"
chmod 700 "$r/data"
echo $R_PORT >"$r/port"
cat >>"$r/data/postgresql.conf" <<CONF
port = $R_PORT
unix_socket_directories = '$r/sock'
archive_mode = off
hot_standby = on
primary_conninfo = ''
restore_command = '$PGPITR_BIN --config $conf wal-fetch %f %p'
recovery_target = 'immediate'
recovery_target_action = 'promote'
CONF
rm -f "$r/data/standby.signal"
touch "$r/data/recovery.signal"
chown -R postgres:postgres "$r"
if pg_rig_start "$r"; then ok "restore: the copy starts"; else not_ok "restore: the copy does not start"; finish; exit; fi
for _ in $(seq 1 300); do
    [ "$(pg_rig_psql "$r" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
    sleep 0.2
done
check "restore: recovery reached the backup's consistent point and promoted" \
    test "$(pg_rig_psql "$r" "select pg_is_in_recovery()" 2>/dev/null)" = f
check "restore: replayed archived WAL through wal-fetch" grep -q 'restored log file' "$r/log"
check "restore: consistent at the end of the backup" grep -q 'consistent recovery state reached' "$r/log"
tables=$(pg_rig_psql "$r" "select string_agg(relname, ',' order by relname) from pg_class
    where relname in ('pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history') and relkind = 'r'")
check "restore: the four pgbench tables exist ($tables)" \
    test "$tables" = "pgbench_accounts,pgbench_branches,pgbench_history,pgbench_tellers"
n=$(pg_rig_psql "$r" "select count(*) from pgbench_accounts")
check "restore: pgbench_accounts has $SCALE x 100000 rows (got $n)" test "$n" = $((SCALE * 100000))
check "restore: pgbench_branches has $SCALE rows" test "$(pg_rig_psql "$r" "select count(*) from pgbench_branches")" = $SCALE
check "restore: the marker row from before the backup is there" \
    test "$(pg_rig_psql "$r" "select note from marker where id = 1")" = "before the standby backup"
check "restore: pgbench_history holds rows written during the backup" \
    test "$(pg_rig_psql "$r" "select count(*) > 0 from pgbench_history")" = t
# The balances of a pgbench database stay consistent across tables at any point in time.
check "restore: sum(abalance) = sum(bbalance) = sum(tbalance) = sum(delta)" \
    test "$(pg_rig_psql "$r" "select (select sum(abalance) from pgbench_accounts) = (select sum(bbalance) from pgbench_branches)
        and (select sum(bbalance) from pgbench_branches) = (select sum(tbalance) from pgbench_tellers)
        and (select sum(tbalance) from pgbench_tellers) = (select coalesce(sum(delta), 0) from pgbench_history)")" = t

# ---- an idle primary: the standby's end segment is never completed -----------------
# A standby cannot switch WAL, so with nothing written on the primary the
# segment holding the backup's end stays open. The backup must still end
# within --wal-wait-timeout (FAILED, saying the WAL did not reach the archive),
# not hang: with archive_mode = always, pg_backup_stop(wait_for_archive => true)
# on a standby waits for that segment without any limit.
pg_rig_stop "$r"
sleep 2
t0=$(date +%s)
timeout 90 "$PGPITR_BIN" --config "$conf" backup --immediate-checkpoint --name it-idle --wal-wait-timeout 15 \
    --pgdata "$s/data" --dbname "host=$s/sock port=$S_PORT user=postgres dbname=postgres" \
    >/dev/null 2>"$IT_TMP/sb-idle.err"
rc=$?
echo "# idle-primary standby backup: exit $rc after $(($(date +%s) - t0)) s: $(tail -n 2 "$IT_TMP/sb-idle.err" | tr '\n' ' ')"
check "idle primary: the standby backup ends by itself (exit $rc; 124 = still waiting after 90 s)" test $rc -ne 124
check "idle primary: it ends with exit 4 (FAILED) or 0" test $rc -eq 4 -o $rc -eq 0
if [ $rc -eq 4 ]; then
    check "idle primary: the message says the end WAL did not reach the archive" grep -q "did not reach the archive" "$IT_TMP/sb-idle.err"
fi
check "idle primary: no backup named it-idle is DONE unless pgpitr said so" \
    sh -c "[ $rc -eq 0 ] || ! grep -lx 'backup_name=it-idle' '$repo'/pg-sb/base/*/backup.info 2>/dev/null | xargs -r grep -qx 'status=DONE'"
finish

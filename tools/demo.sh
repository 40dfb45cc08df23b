#!/usr/bin/env bash
# make demo: archive WAL with `pgpitr wal-push` from a throwaway PostgreSQL 15,
# take a base backup with `pgpitr backup` into a local-directory repository,
# write two batches of rows, then `pgpitr restore` a copy to the moment
# between the batches (recovery fetches WAL with `pgpitr wal-fetch`) and show
# that only the first batch is there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/rig/pg.sh"
P=${PGPITR_BIN:-$top/build/pgpitr}

T=$(mktemp -d /tmp/pgpitr-demo.XXXXXX)
chmod 755 "$T"
mkdir -p "$T/bin" "$T/repo"
cp "$P" "$T/bin/pgpitr"
P=$T/bin/pgpitr
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$T/repo"
export PGPITR_REPO=file://$T/repo PGPITR_SERVER=demo
unset PGPITR_CONFIG AWS_ENDPOINT_URL
cleanup() {
    pg_rig_stop "$T/src" 2>/dev/null || true
    pg_rig_stop "$T/restored" 2>/dev/null || true
    [ -n "${KEEP_DEMO:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }

say "1. a PostgreSQL 15 server archiving with: $P wal-push %p"
pg_rig_init "$T/src" 25990
pg_rig_conf "$T/src" "archive_mode = on"
pg_rig_conf "$T/src" "archive_command = 'PGPITR_REPO=$PGPITR_REPO PGPITR_SERVER=demo $P wal-push %p'"
pg_rig_start "$T/src"

say "2. a base backup with: $P backup"
pg_rig_psql "$T/src" "create table orders(id int primary key, note text)"
pg_rig_as env PGHOST="$T/src/sock" PGPORT=25990 PGUSER=postgres PGPITR_REPO="$PGPITR_REPO" \
    PGPITR_SERVER=demo "$P" backup --immediate-checkpoint --json

say "3. batch 1, a point in time, batch 2"
pg_rig_psql "$T/src" "insert into orders select g, 'batch 1' from generate_series(1, 1000) g"
sleep 1
target=$(pg_rig_psql "$T/src" "select now()")
sleep 1
pg_rig_psql "$T/src" "insert into orders select g, 'batch 2' from generate_series(1001, 2000) g"
echo "rows before the target: 1000; after: $(pg_rig_psql "$T/src" "select count(*) from orders")"
echo "recovery target time: $target"
last=$(pg_rig_psql "$T/src" "select pg_walfile_name(pg_switch_wal())")
for _ in $(seq 1 100); do
    done_wal=$(pg_rig_psql "$T/src" "select coalesce(last_archived_wal, '') from pg_stat_archiver")
    [ "$done_wal" = "$last" ] && break
    sleep 0.2
done
pg_rig_psql "$T/src" "select 'archived: ' || archived_count || ' files, failed: ' || failed_count from pg_stat_archiver"
echo "the repository (barman-cloud layout; * = more segments):"
(cd "$T/repo" && find . -type f | sort | sed 's/^/  /' | awk 'NR <= 12 { print } NR == 13 { print "  *" }')
pg_rig_stop "$T/src"

say "4. restore to the target with: $P restore latest DIR --target-time ..."
mkdir -p "$T/restored/sock"
"$P" restore latest "$T/restored/data" --target-time "$target"
[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$T/restored"
echo 25991 >"$T/restored/port"
cat >>"$T/restored/data/postgresql.auto.conf" <<CONF
port = 25991
unix_socket_directories = '$T/restored/sock'
archive_mode = off
CONF
pg_rig_start "$T/restored"
for _ in $(seq 1 100); do
    [ "$(pg_rig_psql "$T/restored" "select pg_is_in_recovery()")" = f ] && break
    sleep 0.2
done

say "5. the proof"
rows=$(pg_rig_psql "$T/restored" "select count(*) from orders")
batches=$(pg_rig_psql "$T/restored" "select string_agg(distinct note, ', ') from orders")
echo "restored server: $rows rows ($batches); recovery ended: $(grep -o 'recovery stopping before[^"]*' "$T/restored/log" | head -1)"
if [ "$rows" = 1000 ] && [ "$batches" = "batch 1" ]; then
    echo "PITR OK: the copy holds exactly the rows committed before $target"
else
    echo "PITR FAILED: expected 1000 rows of batch 1"
    exit 1
fi

#!/usr/bin/env bash
# tools/bench/restore.sh - time a point-in-time restore from S3 (issue 5's benchmark).
#
# One throwaway PostgreSQL 15 with pgbench scale 100 (SCALE) archives every
# WAL segment into three repositories on OpenStack Swift with s3api
# (tests/rig/swift.sh) over HTTPS (stunnel, test CA): archive_command runs
# pgpitr wal-push, pgbackrest archive-push (gz) and barman-cloud-wal-archive
# -z in turn. Three base backups are taken back to back on the idle
# database (pgpitr backup, pgbackrest backup --type=full, barman-cloud-backup
# -z; in that order, so pgpitr's has the most WAL to replay), then pgbench
# writes about 200 WAL segments (SEGMENTS); a marker row is committed, the
# target time taken, a second marker committed after it.
#
# Each tool then restores into a new PGDATA and recovers to the target time,
# timed from the restore command's start until PostgreSQL accepts
# connections after promotion (hot_standby = off, so it accepts none while
# it replays; pg_is_in_recovery() is checked to be false):
#   pgpitr restore latest DIR --target-time T        (its defaults: -J = CPUs,
#                                                     restore_command = pgpitr wal-fetch)
#   pgbackrest restore --process-max=2 --type=time --target=T --target-action=promote
#                                                    (restore_command = pgbackrest archive-get)
#   barman-cloud-restore, then recovery.signal and restore_command =
#   barman-cloud-wal-restore written by hand, as CloudNativePG does
# and prints the restore and recovery times, their sum and the ratios
# against pgpitr (targets: >= 2x pgBackRest, >= 10x barman-cloud). Every
# restored server must hold the first marker and not the second.
#
# Environment:
#   SCALE or PITR_BENCH_SCALE      pgbench scale (default 100)
#   SEGMENTS or PITR_BENCH_SEGMENTS  WAL segments written after the backups (default 200)
#   PITR_BENCH_DIR       work folder, wiped at start (default build/bench-restore)
#   PITR_BENCH_PG_PORT   port of the source PostgreSQL; the restored ones use
#                        the next four (default 26390; the fourth: the replay floor)
#   PITR_BENCH_SKIP      space-separated runs to skip (pgpitr pgbackrest barman floor)
#   PITR_SWIFT_PORT, PITR_SWIFT_TLS_PORT, PITR_SWIFT_BACKEND_PORT
#                        Swift rig ports (defaults 44280, 44643, 44210)
set -euo pipefail

SCALE=${PITR_BENCH_SCALE:-${SCALE:-100}}
NSEG=${PITR_BENCH_SEGMENTS:-${SEGMENTS:-200}}
PG_PORT=${PITR_BENCH_PG_PORT:-26390}
SKIP=" ${PITR_BENCH_SKIP:-} "
PITR_SWIFT_PORT=${PITR_SWIFT_PORT:-44280}
PITR_SWIFT_TLS_PORT=${PITR_SWIFT_TLS_PORT:-44643}
PITR_SWIFT_BACKEND_PORT=${PITR_SWIFT_BACKEND_PORT:-44210}
SEG_SIZE=16777216

# shellcheck source=tools/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init restore "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/bench-restore"
PG=$WORK/pg

# ---------------------------------------------------------------- 1-2. packages, build, S3 rig
bench_build
bench_rig_start
for t in pgbackrest barman-cloud-backup barman-cloud-restore barman-cloud-wal-archive barman-cloud-wal-restore; do
    command -v "$t" >/dev/null || die "$t is not installed (tools/install-deps.sh --bench)"
done

# Credentials for the tools that run as postgres (archive_command,
# restore_command): pgpitr reads its config file, barman-cloud (boto3) an
# AWS shared credentials file; neither lands in postgresql.auto.conf.
PITR_PREFIX=bench-restore-pgpitr-$RUN_ID
BARMAN_URL=s3://$BUCKET/bench-restore-barman-$RUN_ID
PCONF=$(bench_pgpitr_conf "$PITR_PREFIX")
AWS_CREDS=$WORK/bin/aws-credentials
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$AWS_CREDS"
BARMAN_ENV="env AWS_SHARED_CREDENTIALS_FILE=$AWS_CREDS AWS_CA_BUNDLE=$CA AWS_DEFAULT_REGION=$AWS_REGION"
chown postgres:postgres "$AWS_CREDS"
chmod 600 "$AWS_CREDS"

# ---------------------------------------------------------------- 3. the database and its archive
say "initdb on port $PG_PORT; pgbench -i -s $SCALE (not archived)"
bench_pg_start "$SCALE" "archive_mode = on" "archive_command = 'true'" "max_wal_size = 8GB" \
    "checkpoint_timeout = 1h"
pg_rig_psql "$PG" "create table bench_marker (m text, at timestamptz default clock_timestamp())" >/dev/null

PGBR_CONF=$(bench_pgbr_conf "$WORK/pgbackrest" "/bench-restore-pgbackrest-$RUN_ID" compress-type=gz \
    start-fast=y process-max=2 log-level-file=info)
chown -R postgres:postgres "$WORK/pgbackrest"
chmod 755 "$WORK/pgbackrest"
runuser -u postgres -- pgbackrest --config="$PGBR_CONF" --stanza=bench stanza-create \
    >"$WORK/log/pgbackrest-stanza-create.log" 2>&1 ||
    { cat "$WORK/log/pgbackrest-stanza-create.log" >&2; die "pgbackrest stanza-create failed"; }

# One archive_command for the three repositories; any failure fails the segment.
ARCHIVE=$WORK/bin/archive-all.sh
cat >"$ARCHIVE" <<SH
#!/bin/sh
set -e
$PGPITR --config $PCONF wal-push "\$1"
pgbackrest --config=$PGBR_CONF --stanza=bench archive-push "\$1"
$BARMAN_ENV barman-cloud-wal-archive --cloud-provider aws-s3 -z --endpoint-url $TLS $BARMAN_URL bench "\$1"
SH
chmod 755 "$ARCHIVE"
pg_rig_psql "$PG" "alter system set archive_command = '$ARCHIVE %p'" >/dev/null
pg_rig_psql "$PG" "select pg_reload_conf()" >/dev/null
sleep 1
pg_rig_wait_archived "$PG" 600 || die "the archiver does not follow"

# ---------------------------------------------------------------- 4. the backups, back to back
export PGHOST=$PG/sock PGPORT=$PG_PORT PGUSER=postgres PGDATABASE=postgres
say "backups: pgpitr, pgbackrest, barman-cloud"
"$PGPITR" --config "$PCONF" backup -J 2 --immediate-checkpoint --pgdata "$PG/data" --name bench --json \
    >"$WORK/log/backup-pgpitr.out" 2>"$WORK/log/backup-pgpitr.err" ||
    die "pgpitr backup failed: $(tail -n 3 "$WORK/log/backup-pgpitr.err")"
# pgBackRest refuses an archive_command that does not start pgbackrest itself
# unless its archive check is off; the WAL does reach its repository (above).
runuser -u postgres -- pgbackrest --config="$PGBR_CONF" --stanza=bench backup --type=full --no-archive-check \
    >"$WORK/log/backup-pgbackrest.log" 2>&1 ||
    die "pgbackrest backup failed: $(tail -n 3 "$WORK/log/backup-pgbackrest.log")"
# shellcheck disable=SC2086
$BARMAN_ENV barman-cloud-backup --cloud-provider aws-s3 -z -J 2 --immediate-checkpoint --endpoint-url "$TLS" \
    "$BARMAN_URL" bench >"$WORK/log/backup-barman.log" 2>&1 ||
    die "barman-cloud-backup failed: $(tail -n 3 "$WORK/log/backup-barman.log")"
# shellcheck disable=SC2086
pg_rig_wait_archived "$PG" 600 || die "the archiver does not follow"
BARMAN_ID=$($BARMAN_ENV barman-cloud-backup-list --cloud-provider aws-s3 --format json --endpoint-url "$TLS" \
    "$BARMAN_URL" bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups_list"][-1]["backup_id"])')
DB_HUMAN=$(pg_rig_psql "$PG" "select pg_size_pretty(sum(pg_database_size(oid))) from pg_database")
PGDATA_MIB=$(du -sm --exclude=pg_wal "$PG/data" | cut -f1)

# ---------------------------------------------------------------- 5. the WAL to replay
say "pgbench until $NSEG WAL segments are written"
start_lsn=$(pg_rig_psql "$PG" "select pg_current_wal_lsn()")
bench_write_wal "$start_lsn" $((NSEG * SEG_SIZE)) 400
pg_rig_psql "$PG" "insert into bench_marker (m) values ('before')" >/dev/null
TARGET=$(pg_rig_psql "$PG" "select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 1
pg_rig_psql "$PG" "insert into bench_marker (m) values ('after')" >/dev/null
end_lsn=$(pg_rig_psql "$PG" "select pg_current_wal_lsn()")
END_WAL=$(pg_rig_psql "$PG" "select pg_walfile_name('$end_lsn')")
WAL_MIB=$(pg_rig_psql "$PG" "select (pg_wal_lsn_diff('$end_lsn', '$start_lsn') / 1048576)::int")
say "archiving (three tools per segment; barman-cloud-wal-archive is the slow one)"
pg_rig_wait_archived "$PG" 3600 || die "the archiver does not follow"
pg_rig_stop "$PG"
say "target time $TARGET; $WAL_MIB MiB of WAL written after the backups"

# ---------------------------------------------------------------- 6. the timed restores
declare -A TITLE T_RESTORE T_RECOVER T_TOTAL NOTE
ORDER=()
MISSING=()
now_ns() { date +%s%N; }

# new_dir NAME: an empty PGDATA parent for the run, owned by postgres.
new_dir() {
    local d=$WORK/pg-$1
    rm -rf "$d"
    mkdir -p "$d/sock"
    chown -R postgres:postgres "$d"
    echo "$d"
}

# start_and_time LABEL DIR PORT: the settings every run shares, start, wait for
# promotion; sets T_RECOVER[LABEL] and checks the markers.
start_and_time() {
    local label=$1 d=$2 port=$3 t0 t1 got
    {
        echo "port = $port"
        echo "unix_socket_directories = '$d/sock'"
        echo "listen_addresses = ''"
        echo "archive_mode = off"
        echo "hot_standby = off"
    } >>"$d/data/postgresql.auto.conf"
    echo "$port" >"$d/port"
    chown -R postgres:postgres "$d"
    t0=$(now_ns)
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/log" -w -t 7200 start >/dev/null ||
        { tail -n 20 "$d/log" >&2; return 1; }
    until [ "$(pg_rig_psql "$d" "select pg_is_in_recovery()" 2>/dev/null)" = f ]; do
        sleep 0.1
    done
    t1=$(now_ns)
    T_RECOVER[$label]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    got=$(pg_rig_psql "$d" "select string_agg(m, ',' order by m) from bench_marker")
    [ "$got" = before ] || { say "$label: markers '$got', expected 'before'"; return 1; }
    NOTE[$label]="$(grep -c 'restored log file' "$d/log" || true) segments restored by restore_command"
    if [ "$label" = pgpitr ]; then
        # Where wal-fetch did not answer from its spool: a direct fetch or a wait.
        NOTE[$label]+="; $(grep -c "^.*restored '0" "$d/log" || true) fetched directly,"
        NOTE[$label]+=" $(grep -c 'not spooled within' "$d/log" || true) waits timed out"
    fi
    pg_rig_stop "$d"
}

# run LABEL TITLE PORT RESTORE-FUNCTION: time the restore step, then the recovery.
run() {
    local label=$1 title=$2 port=$3 fn=$4 d t0 t1
    case "$SKIP" in *" $label "*) return 0 ;; esac
    d=$(new_dir "$label")
    say "timing $title"
    t0=$(now_ns)
    if ! "$fn" "$d" >"$WORK/log/restore-$label.log" 2>&1; then
        MISSING+=("$title: the restore failed: $(tail -n 3 "$WORK/log/restore-$label.log" | tr '\n' ' ')")
        return 0
    fi
    t1=$(now_ns)
    T_RESTORE[$label]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    if ! start_and_time "$label" "$d" "$port"; then
        MISSING+=("$title: recovery failed (log: $d/log)")
        pg_rig_stop "$d"
        return 0
    fi
    TITLE[$label]=$title
    T_TOTAL[$label]=$(awk -v a="${T_RESTORE[$label]}" -v b="${T_RECOVER[$label]}" 'BEGIN { printf "%.1f", a + b }')
    ORDER+=("$label")
    say "$title: restore ${T_RESTORE[$label]} s + recovery ${T_RECOVER[$label]} s = ${T_TOTAL[$label]} s"
}

restore_pgpitr() {
    "$PGPITR" --config "$PCONF" restore latest "$1/data" --target-time "$TARGET"
    chown -R postgres:postgres "$1"
}

restore_pgbackrest() {
    runuser -u postgres -- mkdir -m 0700 "$1/data"
    runuser -u postgres -- pgbackrest --config="$PGBR_CONF" --stanza=bench --pg1-path="$1/data" \
        restore --process-max=2 --type=time --target="$TARGET" --target-action=promote
}

restore_barman() {
    # shellcheck disable=SC2086
    $BARMAN_ENV barman-cloud-restore --cloud-provider aws-s3 --endpoint-url "$TLS" \
        "$BARMAN_URL" bench "$BARMAN_ID" "$1/data"
    cat >>"$1/data/postgresql.auto.conf" <<CONF
restore_command = '$BARMAN_ENV barman-cloud-wal-restore --cloud-provider aws-s3 --endpoint-url $TLS $BARMAN_URL bench %f %p'
recovery_target_time = '$TARGET'
recovery_target_action = 'promote'
CONF
    touch "$1/data/recovery.signal"
    chown -R postgres:postgres "$1"
}

BUSY_BEFORE=$(bench_busy_pct)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
run pgpitr "pgpitr restore + wal-fetch (defaults)" $((PG_PORT + 1)) restore_pgpitr
run pgbackrest "pgbackrest restore --process-max=2 --type=time + archive-get" $((PG_PORT + 2)) restore_pgbackrest
run barman "barman-cloud-restore + barman-cloud-wal-restore" $((PG_PORT + 3)) restore_barman

# The PostgreSQL replay floor: pgpitr's restore (untimed) with the same
# target, but every WAL segment it needs already local and decompressed,
# restore_command = cp. Recovery cannot be faster than this on the machine.
floor() {
    local d start name tli log seg
    case "$SKIP" in *" floor "*) return 0 ;; esac
    d=$(new_dir floor)
    say "timing the replay floor (the same WAL local, restore_command = cp)"
    if ! "$PGPITR" --config "$PCONF" restore latest "$d/data" --target-time "$TARGET" \
        >"$WORK/log/restore-floor.log" 2>&1; then
        MISSING+=("replay floor: the restore failed")
        return 0
    fi
    mkdir -p "$d/wal"
    start=$(sed -n 's/^START WAL LOCATION: .*(file \([0-9A-F]\{24\}\))$/\1/p' "$d/data/backup_label")
    [ -n "$start" ] || { MISSING+=("replay floor: no START WAL LOCATION in backup_label"); return 0; }
    tli=${start:0:8}
    log=$((16#${start:8:8}))
    seg=$((16#${start:16:8}))
    name=$start
    while :; do
        "$PGPITR" --config "$PCONF" wal-fetch "$name" "$d/wal/$name" >>"$WORK/log/restore-floor.log" 2>&1 ||
            { MISSING+=("replay floor: wal-fetch $name failed"); return 0; }
        [ "$name" = "$END_WAL" ] && break
        seg=$((seg + 1))
        [ $seg -gt 255 ] && { seg=0; log=$((log + 1)); }
        name=$(printf '%s%08X%08X' "$tli" "$log" "$seg")
    done
    {
        echo "restore_command = 'cp $d/wal/%f %p'"
        echo "recovery_end_command = ''"
    } >>"$d/data/postgresql.auto.conf"
    rm -rf "$d/data/pg_wal/pgpitr_prefetch"
    chown -R postgres:postgres "$d"
    if ! start_and_time floor "$d" $((PG_PORT + 4)); then
        MISSING+=("replay floor: recovery failed (log: $d/log)")
        pg_rig_stop "$d"
        return 0
    fi
    say "replay floor: recovery ${T_RECOVER[floor]} s"
}
floor
BUSY_AFTER=$(bench_busy_pct)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 7. table
HOST_CPU=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
RESULTS=$WORK/results.md
{
    echo "Machine: $(nproc) CPUs, ${HOST_CPU:-unknown CPU}, $(free -g | awk '/^Mem:/ { print $2 }') GB RAM;" \
        "$(date -u +%Y-%m-%dT%H:%MZ). Load average before the timed runs: $LOAD_BEFORE, after: $LOAD_AFTER;" \
        "CPU busy (2 s sample) before: $BUSY_BEFORE%, after: $BUSY_AFTER%."
    echo "Versions: $("$PGPITR" --version 2>&1 | head -n 1); $(pgbackrest version 2>/dev/null);" \
        "$(barman-cloud-restore --version 2>&1 | head -n 1); PostgreSQL 15."
    scale_note=""
    [ "$SCALE" -ne 100 ] && scale_note=" (NOT the issue's scale 100)"
    echo "Database: pgbench scale $SCALE$scale_note, $DB_HUMAN, PGDATA without pg_wal $PGDATA_MIB MiB;" \
        "$WAL_MIB MiB of WAL ($NSEG segments asked) after the backups, replayed to a target time;" \
        "gzip everywhere; Swift s3api over HTTPS (stunnel, test CA)."
    echo
    echo "| tool | restore s | recovery s (start to promoted) | total s | total vs pgpitr | notes |"
    echo "|---|---:|---:|---:|---:|---|"
    for label in "${ORDER[@]}"; do
        awk -v t="${TITLE[$label]}" -v a="${T_RESTORE[$label]}" -v b="${T_RECOVER[$label]}" \
            -v c="${T_TOTAL[$label]}" -v base="${T_TOTAL[pgpitr]:-0}" -v n="${NOTE[$label]:-}" 'BEGIN {
            printf "| %s | %.1f | %.1f | %.1f | %s | %s |\n", t, a, b, c,
                (base > 0 ? sprintf("%.2fx", c / base) : "n/a"), n }'
    done
    if [ -n "${T_RECOVER[floor]:-}" ]; then
        echo "| floor: PostgreSQL replay alone (pgpitr's restored copy, the same WAL already local and" \
            "decompressed, restore_command = cp) | - | ${T_RECOVER[floor]} | - | - | ${NOTE[floor]} |"
    fi
    echo
    if [ -n "${T_RECOVER[floor]:-}" ] && [ -n "${T_RECOVER[pgpitr]:-}" ]; then
        awk -v r="${T_RECOVER[pgpitr]}" -v f="${T_RECOVER[floor]}" -v a="${T_RESTORE[pgpitr]}" \
            -v p="${T_TOTAL[pgbackrest]:-0}" 'BEGIN {
            printf "wal-fetch above the replay floor: %.1f s (recovery %.1f s, floor %.1f s).", r - f, r, f
            if (p > 0) printf " Best total with this restore step and the floor: %.1f s = %.2fx pgBackRest.", a + f, p / (a + f)
            printf "\n\n" }'
    fi
    echo "Ratios are tool / pgpitr (above 1: pgpitr is faster). Targets: pgBackRest >= 2x, barman-cloud >= 10x."
    bench_not_measured
} >"$RESULTS"

bench_show "$RESULTS"
echo "(server logs of the restored copies: $WORK/pg-*/log)"

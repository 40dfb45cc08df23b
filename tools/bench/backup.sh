#!/usr/bin/env bash
# tools/bench/backup.sh - time online base backups to S3 (issue 4's benchmark).
#
# One throwaway PostgreSQL 15 with pgbench scale 100 (PITR_BENCH_SCALE) plus a
# 30 s pgbench run, archive_mode = on. It is backed up to OpenStack Swift with
# s3api (tests/rig/swift.sh) through its stunnel HTTPS endpoint (test CA) by:
#   pgpitr backup           --compression gzip and zstd, -J 2, --immediate-checkpoint, --max-parts 1000
#   pgbackrest backup       --type=full --process-max=2, compress-type gz and lz4, start-fast
#   barman-cloud-backup     -z -J 2 --immediate-checkpoint
# and prints wall time, CPU time (user+sys, children included), peak RSS
# (GNU time %M: the largest single process; pgpitr is one process with
# threads, pgBackRest and barman-cloud fork workers, so theirs is the biggest
# process, not the sum), stored size and ratios against pgpitr gzip.
#
# WAL archiving, one cluster for every tool:
# - pgbench -i runs with archive_command = 'true' (the initial load is not
#   archived; it only costs time and no backup needs it), then
#   archive_command = pgpitr wal-push into the repository the pgpitr backups
#   use (pgpitr waits for the end WAL segment there) and the 30 s pgbench run.
# - barman-cloud-backup only needs PostgreSQL's archiver to succeed
#   (pg_backup_stop waits for it); it writes to a prefix of its own so its
#   stored size is easy to count.
# - pgBackRest runs last: for each compress-type, archive_command is switched
#   to `pgbackrest archive-push` with that setting's config and reloaded,
#   stanza-create is run, then the timed backup (its archive check waits for
#   the WAL in its own repository).
# Before each timed run a checkpoint is taken and the archiver has caught up.
#
# Environment:
#   PITR_BENCH_DIR       work folder, wiped at start (default build/bench-backup)
#   PITR_BENCH_SCALE     pgbench scale (default 100)
#   PITR_BENCH_PG_PORT   port of the throwaway PostgreSQL (default 26290)
#   PITR_BENCH_SKIP      space-separated labels to skip (pgpitr-gzip pgpitr-zstd
#                        barman pgbackrest-gz pgbackrest-lz4)
#   PITR_BENCH_BEFORE    another pgpitr binary (say, built from an older commit):
#                        each pgpitr gzip run is followed by the same backup with
#                        it ("pgpitr-gzip-before"), for a before/after comparison
#   PITR_BENCH_REPEAT    run the pgpitr backups (and the BEFORE ones) this many
#                        times, interleaved (default 1); runs after the first get
#                        a "-N" label suffix, and the table ends with the medians
#   PITR_SWIFT_PORT, PITR_SWIFT_TLS_PORT, PITR_SWIFT_BACKEND_PORT
#                        Swift rig ports (defaults 43280, 43643, 43210)
set -euo pipefail

SCALE=${PITR_BENCH_SCALE:-100}
PG_PORT=${PITR_BENCH_PG_PORT:-26290}
SKIP=" ${PITR_BENCH_SKIP:-} "
BEFORE_BIN=${PITR_BENCH_BEFORE:-}
REPEAT=${PITR_BENCH_REPEAT:-1}
PITR_SWIFT_PORT=${PITR_SWIFT_PORT:-43280}
PITR_SWIFT_TLS_PORT=${PITR_SWIFT_TLS_PORT:-43643}
PITR_SWIFT_BACKEND_PORT=${PITR_SWIFT_BACKEND_PORT:-43210}

# shellcheck source=tools/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init backup "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/bench-backup"
PG=$WORK/pg

# ---------------------------------------------------------------- 1-2. packages, build, S3 rig
bench_build
bench_rig_start

# pgpitr's config: the archive_command (as postgres) and the timed backups use it.
PITR_PREFIX=bench-pgpitr-$RUN_ID
PCONF=$(bench_pgpitr_conf "$PITR_PREFIX")

# ---------------------------------------------------------------- 3. the database
say "initdb on port $PG_PORT; pgbench -i -s $SCALE (archive_command = 'true' during the load)"
bench_pg_start "$SCALE" "archive_mode = on" "archive_command = 'true'" "max_wal_size = 4GB" \
    "checkpoint_timeout = 30min" "max_wal_senders = 10"

set_archive_command() {
    pg_rig_psql "$PG" "alter system set archive_command = '$1'" >/dev/null
    pg_rig_psql "$PG" "select pg_reload_conf()" >/dev/null
    sleep 1
}

wait_archived() {
    pg_rig_wait_archived "$PG" 300 || die "the archiver fell behind"
}

set_archive_command "$PGPITR --config $PCONF wal-push %p"
say "pgbench -T 30 -c 4 -j 2 with archive_command = pgpitr wal-push"
pg_rig_pgbench "$PG" -n -T 30 -c 4 -j 2 >"$WORK/log/pgbench-run.log" 2>&1 ||
    { tail -n 20 "$WORK/log/pgbench-run.log" >&2; die "pgbench run failed"; }
wait_archived
DB_BYTES=$(pg_rig_psql "$PG" "select pg_database_size('postgres')")
DB_HUMAN=$(pg_rig_psql "$PG" "select pg_size_pretty(sum(pg_database_size(oid))) from pg_database")
PGDATA_MIB=$(du -sm --exclude=pg_wal "$PG/data" | cut -f1)
say "database: $DB_HUMAN (PGDATA without pg_wal: $PGDATA_MIB MiB)"

# Warm the page cache for everyone alike.
find "$PG/data" -type f -exec cat {} + >/dev/null 2>&1 || true

# ---------------------------------------------------------------- helpers
export PGHOST=$PG/sock PGPORT=$PG_PORT PGUSER=postgres PGDATABASE=postgres

store_stats() { bench_s3_stats "$1"; }

# get_object KEY: print the object to stdout.
get_object() {
    /usr/bin/python3 - "$TLS" "$CA" "$BUCKET" "$1" <<'PY'
import sys
import boto3
from botocore.config import Config
endpoint, ca, bucket, key = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, verify=ca, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
sys.stdout.write(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())
PY
}

busy_pct() { bench_busy_pct; }

declare -A TITLE WALL CPU RSS SIZE NOTE
ORDER=()
MISSING=()

# timed LABEL TITLE CMD...: run CMD under /usr/bin/time; record wall s, CPU s, RSS MiB.
timed() {
    local label=$1 title=$2 t0 t1 rc
    shift 2
    pg_rig_psql "$PG" "checkpoint" >/dev/null
    wait_archived
    say "timing $title"
    t0=$(date +%s%N)
    set +e
    /usr/bin/time -o "$WORK/times/$label.time" -f "%e %U %S %M" "$@" \
        >"$WORK/log/$label.out" 2>"$WORK/log/$label.err"
    rc=$?
    set -e
    t1=$(date +%s%N)
    if [ $rc -ne 0 ]; then
        MISSING+=("$title: exit $rc: $(grep -v '^Command exited' "$WORK/log/$label.err" | tail -n 3 | tr '\n' ' ')")
        say "$title FAILED (exit $rc); see $WORK/log/$label.err"
        return 1
    fi
    TITLE[$label]=$title
    WALL[$label]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    read -r _ u s m <"$WORK/times/$label.time"
    CPU[$label]=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.1f", u + s }')
    RSS[$label]=$(awk -v m="$m" 'BEGIN { printf "%.0f", m / 1024 }')
    ORDER+=("$label")
    say "$title: ${WALL[$label]} s wall, ${CPU[$label]} s CPU, ${RSS[$label]} MiB peak RSS"
}

BUSY_BEFORE=$(busy_pct)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 4a. pgpitr
if [ -n "$BEFORE_BIN" ]; then
    cp "$BEFORE_BIN" "$WORK/bin/pgpitr-before" && chmod 755 "$WORK/bin/pgpitr-before" ||
        die "cannot copy PITR_BENCH_BEFORE=$BEFORE_BIN"
fi

# pgpitr_backup LABEL BINARY CODEC: one timed backup, checked DONE, its size recorded.
pgpitr_backup() {
    local label=$1 bin=$2 c=$3 id info n mib
    if timed "$label" "$(basename "$bin") backup --compression $c -J 2" \
        "$bin" --config "$PCONF" --compression "$c" backup -J 2 --immediate-checkpoint \
        --pgdata "$PG/data" --name "$label" --json; then
        id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' <"$WORK/log/$label.out") ||
            die "$label: no backup_id in --json output: $(cat "$WORK/log/$label.out")"
        info=$(get_object "$PITR_PREFIX/bench/base/$id/backup.info")
        grep -qx 'status=DONE' <<<"$info" || die "$label: backup.info of $id is not DONE: $info"
        read -r n mib < <(store_stats "$PITR_PREFIX/bench/base/$id/")
        SIZE[$label]=$mib
        NOTE[$label]="$n objects, backup.info status=DONE"
    fi
}

for r in $(seq 1 "$REPEAT"); do
    sfx=""
    [ "$r" -gt 1 ] && sfx="-$r"
    for c in gzip zstd; do
        label=pgpitr-$c
        case "$SKIP" in *" $label "*) continue ;; esac
        pgpitr_backup "$label$sfx" "$PGPITR" "$c" || true
        if [ "$c" = gzip ] && [ -n "$BEFORE_BIN" ]; then
            pgpitr_backup "pgpitr-gzip-before$sfx" "$WORK/bin/pgpitr-before" gzip || true
        fi
    done
done

# ---------------------------------------------------------------- 4b. barman-cloud-backup
if [[ "$SKIP" != *" barman "* ]]; then
    if ! command -v barman-cloud-backup >/dev/null; then
        MISSING+=("barman-cloud-backup: not installed")
    else
        BARMAN_PREFIX=bench-barman-$RUN_ID
        cp=()
        barman-cloud-backup --help 2>&1 | grep -q -- '--cloud-provider' && cp=(--cloud-provider aws-s3)
        if timed barman "barman-cloud-backup -z -J 2" env AWS_CA_BUNDLE="$CA" AWS_DEFAULT_REGION="$AWS_REGION" \
            barman-cloud-backup "${cp[@]}" -z -J 2 --immediate-checkpoint --endpoint-url "$TLS" \
            "s3://$BUCKET/$BARMAN_PREFIX" bench; then
            read -r n mib < <(store_stats "$BARMAN_PREFIX/bench/base/")
            SIZE[barman]=$mib
            NOTE[barman]="$n objects"
        fi
    fi
fi

# ---------------------------------------------------------------- 4c. pgBackRest
pgbr_conf() {
    bench_pgbr_conf "$WORK/pgbackrest/$1" "/bench-pgbackrest-$1-$RUN_ID" "compress-type=$1" \
        start-fast=y process-max=2 log-level-file=info
    chown -R postgres:postgres "$WORK/pgbackrest"
}

if ! command -v pgbackrest >/dev/null; then
    MISSING+=("pgbackrest: not installed")
else
    chmod 755 "$WORK/pgbackrest" 2>/dev/null || true
    for c in gz lz4; do
        label=pgbackrest-$c
        case "$SKIP" in *" $label "*) continue ;; esac
        conf=$(pgbr_conf "$c")
        chmod 755 "$WORK/pgbackrest"
        if ! runuser -u postgres -- pgbackrest --config="$conf" --stanza=bench stanza-create \
            >"$WORK/log/$label-stanza-create.log" 2>&1; then
            MISSING+=("pgbackrest compress-type=$c: stanza-create failed: $(tail -n 3 \
                "$WORK/log/$label-stanza-create.log" | tr '\n' ' ')")
            continue
        fi
        set_archive_command "pgbackrest --config=$conf --stanza=bench archive-push %p"
        if timed "$label" "pgbackrest backup --process-max=2 ($c)" runuser -u postgres -- \
            pgbackrest --config="$conf" --stanza=bench backup --type=full --process-max=2; then
            read -r n mib < <(store_stats "bench-pgbackrest-$c-$RUN_ID/backup/")
            SIZE[$label]=$mib
            NOTE[$label]="$n objects (backup/ only)"
        fi
    done
    set_archive_command "$PGPITR --config $PCONF wal-push %p"
fi

BUSY_AFTER=$(busy_pct)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- 5. table
HOST_CPU=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
base=pgpitr-gzip
RESULTS=$WORK/results.md
{
    echo "Machine: $(nproc) CPUs, ${HOST_CPU:-unknown CPU}, $(free -g | awk '/^Mem:/ { print $2 }') GB RAM;" \
        "$(date -u +%Y-%m-%dT%H:%MZ). Load average before the timed runs: $LOAD_BEFORE, after: $LOAD_AFTER;" \
        "CPU busy (2 s sample) before: $BUSY_BEFORE%, after: $BUSY_AFTER%."
    echo "Versions: $("$PGPITR" version 2>&1 | head -n 1); $(pgbackrest version 2>/dev/null || echo 'pgbackrest n/a');" \
        "$(barman-cloud-backup --version 2>&1 | head -n 1 || echo 'barman n/a'); PostgreSQL 15."
    scale_note=""
    [ "$SCALE" -ne 100 ] && scale_note=" (NOT the issue's scale 100)"
    echo "Database: pgbench scale $SCALE$scale_note plus a 30 s pgbench run: $DB_HUMAN, PGDATA without pg_wal $PGDATA_MIB MiB;" \
        "page cache warm; backed up to Swift s3api over HTTPS (stunnel, test CA)."
    echo
    echo "| tool | wall s | CPU s (user+sys) | peak RSS MiB | stored MiB | wall vs pgpitr gzip | CPU vs pgpitr gzip | notes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    for label in "${ORDER[@]}"; do
        awk -v t="${TITLE[$label]}" -v w="${WALL[$label]}" -v c="${CPU[$label]}" -v r="${RSS[$label]}" \
            -v s="${SIZE[$label]:-?}" -v bw="${WALL[$base]:-0}" -v bc="${CPU[$base]:-0}" -v n="${NOTE[$label]:-}" 'BEGIN {
            printf "| %s | %.1f | %.1f | %s | %s | %s | %s | %s |\n", t, w, c, r, s,
                (bw > 0 ? sprintf("%.2fx", w / bw) : "n/a"), (bc > 0 ? sprintf("%.2fx", c / bc) : "n/a"), n }'
    done
    echo
    if [ "$REPEAT" -gt 1 ] || [ -n "$BEFORE_BIN" ]; then
        echo
        for group in pgpitr-gzip pgpitr-gzip-before; do
            walls=""
            for label in "${ORDER[@]}"; do
                [[ "$label" =~ ^$group(-[0-9]+)?$ ]] && walls="$walls ${WALL[$label]}"
            done
            [ -n "$walls" ] || continue
            med=$(tr ' ' '\n' <<<"$walls" | grep . | sort -n | awk '{ a[NR] = $1 } END {
                print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
            echo "$group: wall s per run:$walls; median $med"
            eval "MED_${group//-/_}=$med"
        done
        if [ -n "${MED_pgpitr_gzip_before:-}" ] && [ -n "${MED_pgpitr_gzip:-}" ]; then
            awk -v a="$MED_pgpitr_gzip" -v b="$MED_pgpitr_gzip_before" 'BEGIN {
                printf "pgpitr gzip after / before (medians): %.2fx\n", a / b }'
        fi
        best=""
        for label in pgbackrest-gz pgbackrest-lz4; do
            [ -n "${WALL[$label]:-}" ] || continue
            if [ -z "$best" ] || awk -v x="${WALL[$label]}" -v y="${WALL[$best]}" 'BEGIN { exit !(x < y) }'; then best=$label; fi
        done
        if [ -n "$best" ] && [ -n "${MED_pgpitr_gzip:-}" ]; then
            awk -v a="$MED_pgpitr_gzip" -v b="${WALL[$best]}" -v l="$best" 'BEGIN {
                printf "pgpitr gzip (median) / pgBackRest best (%s): %.2fx\n", l, a / b }'
        fi
    fi
    echo
    echo "Ratios are tool / pgpitr gzip (above 1: pgpitr gzip is faster or cheaper)."
    echo "Peak RSS is GNU time's %M: the largest single process in the tree (pgpitr is one process"
    echo "with threads; pgBackRest and barman-cloud fork workers, each counted separately)."
    echo "CPU time covers the command and its children, not PostgreSQL's own work (checkpoint, archiver)."
    bench_not_measured
} >"$RESULTS"

bench_show "$RESULTS"

#!/usr/bin/env bash
# tools/bench/memory.sh - peak RSS of pgpitr's commands under load (issue 15 item 5).
#
# Part "main" (one throwaway PostgreSQL 15 with pgbench scale SCALE archiving
# into OpenStack Swift with s3api over HTTPS, tests/rig/swift.sh + stunnel):
#   backup     pgpitr backup -J 2            / pgbackrest backup --type=full (process-max=2)
#   wal-push   SEGMENTS dense pgbench segments, one call each as the archiver
#              makes them, pgpitr --look-ahead 8 --jobs 2 / pgbackrest archive-push
#              (each into its own fresh repository)
#   wal-fetch  the same segments back into a data directory's pg_wal, one
#              call each, pgpitr --prefetch 8 (the detached prefetch worker's
#              own peak, VmHWM, is read from /proc while it lives) / pgbackrest
#              archive-get
#   restore    pgpitr restore latest (defaults) / pgbackrest restore
#              --process-max=2; with PITR_BENCH_BASELINE (another pgpitr
#              binary, e.g. main's) that binary's restore is timed on the
#              same backup too, alternating, ROUNDS times each.
# Peak RSS is GNU time's %M: the largest single process of the command's tree
# (pgpitr is one process with threads; pgBackRest forks its workers, so its
# figure is its largest process, not their sum).
#
# Part "long": LONG segments pushed in a row with --look-ahead 8 --jobs 2 to
# a local-directory repository (file://), the archiver's way (.ready ->
# .done, the segment then removed as PostgreSQL recycles it). The segments are
# copies of a few real pgbench segments renamed to consecutive names, with
# every page header's address rewritten to match the new name (so they pass
# the name/header checks; their records' back-links are not rewritten, which
# only replay would look at). Every SAMPLE segments: the look-ahead spool's
# file count and size and the largest RSS of the calls since the last sample.
# Then FETCH_LONG of them fetched back with --prefetch 8 into a data
# directory's pg_wal, sampling the prefetch spool the same way. Fails when a
# spool holds more than SPOOL_MAX_FILES files or SPOOL_MAX_MIB MiB at a
# sample, or when a window's peak RSS exceeds the first window's by more than
# RSS_GROWTH_KB.
#
# Environment:
#   PITR_BENCH_PARTS     "main long" (default both)
#   SCALE / PITR_BENCH_SCALE        pgbench scale (default 100)
#   SEGMENTS / PITR_BENCH_SEGMENTS  dense segments for wal-push / wal-fetch (default 16)
#   PITR_BENCH_LONG      segments of the long run (default 1000)
#   PITR_BENCH_FETCH_LONG  of those, fetched back with prefetch (default 300; 0: skip)
#   PITR_BENCH_SAMPLE    sample every N segments (default 100)
#   PITR_BENCH_BASELINE  a second pgpitr binary whose restore is timed too
#   PITR_BENCH_ROUNDS    restores per binary (default 2)
#   SPOOL_MAX_FILES (default 40), SPOOL_MAX_MIB (default 400), RSS_GROWTH_KB (default 4096)
#   PITR_BENCH_DIR       work folder, wiped at start (default build/bench-memory)
#   PITR_BENCH_PG_PORT   port of the PostgreSQL (default 26530)
#   PITR_SWIFT_PORT, PITR_SWIFT_TLS_PORT, PITR_SWIFT_BACKEND_PORT
#                        Swift rig ports (defaults 53280, 53643, 53210)
set -euo pipefail

PARTS=" ${PITR_BENCH_PARTS:-main long} "
SCALE=${PITR_BENCH_SCALE:-${SCALE:-100}}
NSEG=${PITR_BENCH_SEGMENTS:-${SEGMENTS:-16}}
LONG=${PITR_BENCH_LONG:-1000}
FETCH_LONG=${PITR_BENCH_FETCH_LONG:-300}
SAMPLE=${PITR_BENCH_SAMPLE:-100}
BASELINE=${PITR_BENCH_BASELINE:-}
ROUNDS=${PITR_BENCH_ROUNDS:-2}
SPOOL_MAX_FILES=${SPOOL_MAX_FILES:-40}
SPOOL_MAX_MIB=${SPOOL_MAX_MIB:-400}
RSS_GROWTH_KB=${RSS_GROWTH_KB:-4096}
PG_PORT=${PITR_BENCH_PG_PORT:-26530}
PITR_SWIFT_PORT=${PITR_SWIFT_PORT:-53280}
PITR_SWIFT_TLS_PORT=${PITR_SWIFT_TLS_PORT:-53643}
PITR_SWIFT_BACKEND_PORT=${PITR_SWIFT_BACKEND_PORT:-53210}
SEG_SIZE=16777216

# shellcheck source=tools/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init memory "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/bench-memory"
PG=$WORK/pg
RESULTS=$WORK/results.md
ROWS=$WORK/rows.md
: >"$ROWS"
MISSING=() # read by bench_not_measured
now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# timed OUT CMD...: run CMD under GNU time; OUT gets "wall_s peak_kb".
timed() {
    local out=$1
    shift
    /usr/bin/time -f "%e %M" -o "$out" "$@"
}
# peak_of FILE...: the largest %M of timed() outputs (KiB).
peak_of() { cat "$@" | awk '$2 > m { m = $2 } END { print m + 0 }'; }
# hwm PATTERN: the largest VmHWM (KiB) of a live process whose command line has PATTERN.
hwm() {
    local p m=0 v
    for p in $(pgrep -f -- "$1" || true); do
        v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
        [ "${v:-0}" -gt "$m" ] && m=$v
    done
    echo "$m"
}
row() { echo "| $1 | $2 | $3 | $4 |" >>"$ROWS"; }

bench_build
BUSY_BEFORE=$(bench_busy_pct)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)

# ================================================================ part main
main_part() {
    local pconf pgbr_conf pgbr2_conf archive start_lsn t0 t1 s d i k label bin
    bench_rig_start
    pconf=$(bench_pgpitr_conf "bench-memory-pgpitr-$RUN_ID")
    say "initdb on port $PG_PORT; pgbench -i -s $SCALE (not archived)"
    bench_pg_start "$SCALE" "archive_mode = on" "archive_command = 'true'" "max_wal_size = 8GB" \
        "checkpoint_timeout = 1h" "wal_keep_size = 4GB"
    pgbr_conf=$(bench_pgbr_conf "$WORK/pgbackrest" "/bench-memory-pgbackrest-$RUN_ID" compress-type=gz \
        start-fast=y process-max=2)
    pgbr2_conf=$(bench_pgbr_conf "$WORK/pgbackrest2" "/bench-memory-pgbackrest-push-$RUN_ID" compress-type=gz)
    chown -R postgres:postgres "$WORK/pgbackrest" "$WORK/pgbackrest2"
    for c in "$pgbr_conf" "$pgbr2_conf"; do
        runuser -u postgres -- pgbackrest --config="$c" --stanza=bench stanza-create \
            >>"$WORK/log/pgbackrest-stanza-create.log" 2>&1 ||
            { cat "$WORK/log/pgbackrest-stanza-create.log" >&2; die "pgbackrest stanza-create failed"; }
    done
    archive=$WORK/bin/archive-all.sh
    cat >"$archive" <<SH
#!/bin/sh
set -e
$PGPITR --config $pconf wal-push "\$1"
pgbackrest --config=$pgbr_conf --stanza=bench archive-push "\$1"
SH
    chmod 755 "$archive"
    pg_rig_psql "$PG" "alter system set archive_command = '$archive %p'" >/dev/null
    pg_rig_psql "$PG" "select pg_reload_conf()" >/dev/null
    sleep 1
    pg_rig_wait_archived "$PG" 600 || die "the archiver does not follow"
    export PGHOST=$PG/sock PGPORT=$PG_PORT PGUSER=postgres PGDATABASE=postgres

    # ---- backup
    say "backups: pgpitr -J 2, pgbackrest process-max=2"
    timed "$WORK/times/backup-pgpitr" "$PGPITR" --config "$pconf" backup -J 2 --immediate-checkpoint \
        --pgdata "$PG/data" --name bench >"$WORK/log/backup-pgpitr.log" 2>&1 ||
        die "pgpitr backup failed: $(tail -n 3 "$WORK/log/backup-pgpitr.log")"
    timed "$WORK/times/backup-pgbackrest" runuser -u postgres -- pgbackrest --config="$pgbr_conf" \
        --stanza=bench backup --type=full --no-archive-check >"$WORK/log/backup-pgbackrest.log" 2>&1 ||
        die "pgbackrest backup failed: $(tail -n 3 "$WORK/log/backup-pgbackrest.log")"
    pg_rig_wait_archived "$PG" 600 || die "the archiver does not follow"
    DB_HUMAN=$(pg_rig_psql "$PG" "select pg_size_pretty(sum(pg_database_size(oid))) from pg_database")
    PGDATA_MIB=$(du -sm --exclude=pg_wal "$PG/data" | cut -f1)
    row "pgpitr backup -J 2 (scale $SCALE, $PGDATA_MIB MiB)" "$(mb "$(peak_of "$WORK/times/backup-pgpitr")")" \
        "$(mb "$(peak_of "$WORK/times/backup-pgbackrest")")" "pgbackrest backup --type=full, process-max=2; wall $(cut -d' ' -f1 "$WORK/times/backup-pgpitr") s vs $(cut -d' ' -f1 "$WORK/times/backup-pgbackrest") s"

    # ---- dense segments
    say "pgbench until $NSEG dense segments are written"
    start_lsn=$(pg_rig_psql "$PG" "select pg_current_wal_lsn()")
    bench_write_wal "$start_lsn" $(((NSEG + 1) * SEG_SIZE)) 60
    pg_rig_psql "$PG" "select pg_switch_wal()" >/dev/null
    mapfile -t SEGS < <(pg_rig_psql "$PG" \
        "select pg_walfile_name('$start_lsn'::pg_lsn + $SEG_SIZE::numeric * i) from generate_series(1, $NSEG) i")
    mkdir -p "$WORK/wal"
    for s in "${SEGS[@]}"; do
        cp "$PG/data/pg_wal/$s" "$WORK/wal/$s" || die "cannot copy segment $s"
    done
    pg_rig_wait_archived "$PG" 600 || die "the archiver does not follow"
    chmod 755 "$WORK/wal"
    chmod 644 "$WORK/wal"/*

    # ---- wal-push, one call per segment, look-ahead 8, jobs 2
    local push_conf=$WORK/bin/pgpitr-push.conf
    sed "s|^repo = .*|repo = s3://$BUCKET/bench-memory-push-$RUN_ID|" "$pconf" >"$push_conf"
    chmod 600 "$push_conf"
    for label in pgpitr pgbackrest; do
        d=$WORK/push-$label/pg_wal
        mkdir -p "$d/archive_status"
        for s in "${SEGS[@]}"; do
            cp "$WORK/wal/$s" "$d/$s"
            : >"$d/archive_status/$s.ready"
        done
        chown -R postgres:postgres "$WORK/push-$label"
    done
    say "wal-push of $NSEG dense segments (pgpitr look-ahead 8, jobs 2; pgbackrest archive-push)"
    i=0
    for s in "${SEGS[@]}"; do
        d=$WORK/push-pgpitr/pg_wal
        timed "$WORK/times/push-pgpitr-$i" "$PGPITR" --config "$push_conf" --look-ahead 8 --jobs 2 \
            wal-push "$d/$s" >>"$WORK/log/push-pgpitr.log" 2>&1 || die "pgpitr wal-push $s failed"
        mv "$d/archive_status/$s.ready" "$d/archive_status/$s.done"
        d=$WORK/push-pgbackrest/pg_wal
        timed "$WORK/times/push-pgbackrest-$i" runuser -u postgres -- pgbackrest --config="$pgbr2_conf" \
            --stanza=bench archive-push "$d/$s" >>"$WORK/log/push-pgbackrest.log" 2>&1 ||
            die "pgbackrest archive-push $s failed"
        mv "$d/archive_status/$s.ready" "$d/archive_status/$s.done"
        i=$((i + 1))
    done
    row "pgpitr wal-push --look-ahead 8 --jobs 2 ($NSEG dense segments, largest call)" \
        "$(mb "$(peak_of "$WORK"/times/push-pgpitr-*)")" "$(mb "$(peak_of "$WORK"/times/push-pgbackrest-*)")" \
        "pgbackrest archive-push (gz, sync)"

    # ---- wal-fetch with prefetch, one call per segment into a data directory's pg_wal
    say "wal-fetch of the same segments (pgpitr --prefetch 8; pgbackrest archive-get)"
    local worker_kb=0 k2
    for label in pgpitr pgbackrest; do
        d=$WORK/fetch-$label
        mkdir -p "$d/pg_wal/archive_status"
        echo 15 >"$d/PG_VERSION"
        : >"$d/recovery.signal"
        chown -R postgres:postgres "$d"
    done
    i=0
    for s in "${SEGS[@]}"; do
        d=$WORK/fetch-pgpitr
        timed "$WORK/times/fetch-pgpitr-$i" "$PGPITR" --config "$push_conf" --prefetch 8 \
            --log-level info wal-fetch "$s" "$d/pg_wal/RECOVERYXLOG" >>"$WORK/log/fetch-pgpitr.log" 2>&1 ||
            die "pgpitr wal-fetch $s failed"
        cmp -s "$d/pg_wal/RECOVERYXLOG" "$WORK/wal/$s" || die "pgpitr wal-fetch $s: not the pushed bytes"
        rm -f "$d/pg_wal/RECOVERYXLOG"
        k2=$(hwm "$WORK/bin/pgpitr --config $push_conf --prefetch")
        [ "$k2" -gt "$worker_kb" ] && worker_kb=$k2
        d=$WORK/fetch-pgbackrest
        timed "$WORK/times/fetch-pgbackrest-$i" runuser -u postgres -- pgbackrest --config="$pgbr2_conf" \
            --stanza=bench archive-get "$s" "$d/pg_wal/RECOVERYXLOG" >>"$WORK/log/fetch-pgbackrest.log" 2>&1 ||
            die "pgbackrest archive-get $s failed"
        cmp -s "$d/pg_wal/RECOVERYXLOG" "$WORK/wal/$s" || die "pgbackrest archive-get $s: not the pushed bytes"
        rm -f "$d/pg_wal/RECOVERYXLOG"
        i=$((i + 1))
    done
    (cd "$WORK/fetch-pgpitr" && "$PGPITR" wal-fetch --clean-spool) >/dev/null 2>&1 || true
    row "pgpitr wal-fetch --prefetch 8 ($NSEG segments, largest call)" \
        "$(mb "$(peak_of "$WORK"/times/fetch-pgpitr-*)")" "$(mb "$(peak_of "$WORK"/times/fetch-pgbackrest-*)")" \
        "pgbackrest archive-get (sync); $(grep -c 'from the prefetch spool' "$WORK/log/fetch-pgpitr.log" || true) of $NSEG from the spool"
    row "pgpitr wal-fetch's detached prefetch worker (VmHWM)" "$(mb "$worker_kb")" "-" \
        "sampled from /proc after each call"

    # ---- restore: the same backup, alternating binaries
    pg_rig_stop "$PG"
    say "restores of the scale-$SCALE backup ($ROUNDS per binary)"
    RESTORE_ROWS=$WORK/restore-rows.md
    : >"$RESTORE_ROWS"
    for k in $(seq 1 "$ROUNDS"); do
        for label in baseline pgpitr; do
            bin=$PGPITR
            if [ "$label" = baseline ]; then
                [ -n "$BASELINE" ] || continue
                bin=$WORK/bin/pgpitr-baseline
                cp "$BASELINE" "$bin"
            fi
            d=$WORK/restore-$label-$k
            rm -rf "$d"
            t0=$(now_ns)
            timed "$WORK/times/restore-$label-$k" "$bin" --config "$pconf" restore latest "$d" \
                >"$WORK/log/restore-$label-$k.log" 2>&1 ||
                die "$label restore failed: $(tail -n 3 "$WORK/log/restore-$label-$k.log")"
            t1=$(now_ns)
            [ -f "$d/global/pg_control" ] || die "$label restore: no global/pg_control"
            echo "| $label | $k | $(secs "$t0" "$t1") | $(mb "$(peak_of "$WORK/times/restore-$label-$k")") | $(du -sm "$d" | cut -f1) |" >>"$RESTORE_ROWS"
            rm -rf "$d"
        done
    done
    d=$WORK/restore-pgbackrest
    mkdir -p "$d/data"
    chown -R postgres:postgres "$d"
    chmod 700 "$d/data"
    t0=$(now_ns)
    timed "$WORK/times/restore-pgbackrest" runuser -u postgres -- pgbackrest --config="$pgbr_conf" \
        --stanza=bench --pg1-path="$d/data" restore --process-max=2 >"$WORK/log/restore-pgbackrest.log" 2>&1 ||
        die "pgbackrest restore failed: $(tail -n 3 "$WORK/log/restore-pgbackrest.log")"
    t1=$(now_ns)
    echo "| pgbackrest restore --process-max=2 | 1 | $(secs "$t0" "$t1") | $(mb "$(peak_of "$WORK/times/restore-pgbackrest")") | $(du -sm "$d/data" | cut -f1) |" >>"$RESTORE_ROWS"
    rm -rf "$d"
    row "pgpitr restore latest (defaults: -J = CPUs; scale $SCALE)" \
        "$(mb "$(peak_of "$WORK"/times/restore-pgpitr-*)")" "$(mb "$(peak_of "$WORK/times/restore-pgbackrest")")" \
        "pgbackrest restore --process-max=2"
    "$ROOT/tests/rig/swift.sh" stop "$WORK/s3" >/dev/null 2>&1 || true
}

# ================================================================ part long
# make_segs FIRST COUNT DIR: write segments FIRST..FIRST+COUNT-1 (numbers on
# timeline 1) into DIR, each a template with its page addresses rewritten,
# each with a .ready file.
make_segs() {
    python3 - "$1" "$2" "$3" "$WORK/templates" <<'PY'
import os, struct, sys
first, count, outdir, tdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
seg_size, page = 16 * 1024 * 1024, 8192
temps = [open(os.path.join(tdir, n), "rb").read() for n in sorted(os.listdir(tdir))]
per_log = 0x100000000 // seg_size
for no in range(first, first + count):
    buf = bytearray(temps[no % len(temps)])
    base = no * seg_size
    for off in range(0, seg_size, page):
        # XLogPageHeaderData: magic u16, info u16, tli u32, pageaddr u64
        struct.pack_into("<IQ", buf, off + 4, 1, base + off)
    name = "%08X%08X%08X" % (1, no // per_log, no % per_log)
    with open(os.path.join(outdir, name + ".tmp"), "wb") as f:
        f.write(buf)
    os.rename(os.path.join(outdir, name + ".tmp"), os.path.join(outdir, name))
    open(os.path.join(outdir, "archive_status", name + ".ready"), "w").close()
PY
}
seg_name() { printf '%08X%08X%08X' 1 $(($1 / 256)) $(($1 % 256)); }
# spool_stats DIR: "files KiB" of the directory (0 0 when absent).
spool_stats() {
    if [ -d "$1" ]; then
        echo "$(find "$1" -type f | wc -l) $(du -sk "$1" | cut -f1)"
    else
        echo "0 0"
    fi
}

long_part() {
    local d=$WORK/long/pg_wal repo=$WORK/long-repo lconf=$WORK/bin/pgpitr-long.conf first=256 i n s
    local first_peak=0 win f kb fails=0 fetched=0
    mkdir -p "$d/archive_status" "$repo" "$WORK/templates"
    # A few real segments: from main's run when there was one, else made here.
    if compgen -G "$WORK/wal/0*" >/dev/null; then
        find "$WORK/wal" -maxdepth 1 -name '0*' | sort | head -n 4 | xargs -I{} cp {} "$WORK/templates/"
    else
        say "making 4 real segments for the long run (pgbench scale 10)"
        bench_pg_start 10 "max_wal_size = 8GB" "checkpoint_timeout = 1h" "wal_keep_size = 1GB"
        local start_lsn
        start_lsn=$(pg_rig_psql "$PG" "select pg_current_wal_lsn()")
        bench_write_wal "$start_lsn" $((5 * SEG_SIZE)) 30
        pg_rig_psql "$PG" "select pg_switch_wal()" >/dev/null
        for s in $(pg_rig_psql "$PG" "select pg_walfile_name('$start_lsn'::pg_lsn + $SEG_SIZE::numeric * i) from generate_series(1, 4) i"); do
            cp "$PG/data/pg_wal/$s" "$WORK/templates/$s"
        done
        pg_rig_stop "$PG"
    fi
    printf 'repo = file://%s\nserver = bench\n' "$repo" >"$lconf"
    say "long run: $LONG segments pushed in a row (--look-ahead 8 --jobs 2, local-directory repository)"
    LONG_ROWS=$WORK/long-rows.md
    echo "| segments pushed | look-ahead spool files | spool KiB | peak RSS of the last $SAMPLE calls MB | repository MiB |" >"$LONG_ROWS"
    echo "|---:|---:|---:|---:|---:|" >>"$LONG_ROWS"
    make_segs "$first" $((SAMPLE + 16)) "$d"
    n=$((first + SAMPLE + 16))
    for i in $(seq 0 $((LONG - 1))); do
        s=$(seg_name $((first + i)))
        timed "$WORK/times/long-cur" "$PGPITR" --config "$lconf" --look-ahead 8 --jobs 2 wal-push "$d/$s" \
            >>"$WORK/log/long-push.log" 2>&1 || die "long run: wal-push $s failed: $(tail -n 2 "$WORK/log/long-push.log")"
        cat "$WORK/times/long-cur" >>"$WORK/times/long-window"
        mv "$d/archive_status/$s.ready" "$d/archive_status/$s.done"
        rm -f "$d/$s" "$d/archive_status/$s.done"
        # Keep SAMPLE+16 segments ahead of the archiver, as a busy server would.
        if [ $((first + i + 16)) -ge "$n" ] && [ "$n" -lt $((first + LONG)) ]; then
            f=$((first + LONG - n))
            [ "$f" -gt "$SAMPLE" ] && f=$SAMPLE
            make_segs "$n" "$f" "$d"
            n=$((n + f))
        fi
        if [ $(((i + 1) % SAMPLE)) -eq 0 ]; then
            win=$(peak_of "$WORK/times/long-window")
            : >"$WORK/times/long-window"
            [ "$first_peak" -eq 0 ] && first_peak=$win
            read -r f kb < <(spool_stats "$d/pgpitr_spool")
            echo "| $((i + 1)) | $f | $kb | $(mb "$win") | $(du -sm "$repo" | cut -f1) |" >>"$LONG_ROWS"
            say "long run: $((i + 1)) pushed; spool $f files $kb KiB; peak RSS $(mb "$win") MB"
            if [ "$f" -gt "$SPOOL_MAX_FILES" ] || [ "$kb" -gt $((SPOOL_MAX_MIB * 1024)) ]; then
                say "FAIL: the look-ahead spool holds $f files, $kb KiB (bounds $SPOOL_MAX_FILES, $SPOOL_MAX_MIB MiB)"
                fails=$((fails + 1))
            fi
            if [ "$win" -gt $((first_peak + RSS_GROWTH_KB)) ]; then
                say "FAIL: peak RSS $win KiB, the first window's was $first_peak KiB (bound +$RSS_GROWTH_KB)"
                fails=$((fails + 1))
            fi
        fi
    done
    LONG_FETCH_ROWS=$WORK/long-fetch-rows.md
    : >"$LONG_FETCH_ROWS"
    if [ "$FETCH_LONG" -gt 0 ]; then
        local fd=$WORK/long-fetch first_fpeak=0 worker=0 k2
        mkdir -p "$fd/pg_wal/archive_status"
        echo 15 >"$fd/PG_VERSION"
        : >"$fd/recovery.signal"
        say "long run: $FETCH_LONG of them fetched back with --prefetch 8"
        echo "| segments fetched | prefetch spool files | spool KiB | peak RSS of the last $SAMPLE calls MB | worker VmHWM MB |" >"$LONG_FETCH_ROWS"
        echo "|---:|---:|---:|---:|---:|" >>"$LONG_FETCH_ROWS"
        for i in $(seq 0 $((FETCH_LONG - 1))); do
            s=$(seg_name $((first + i)))
            timed "$WORK/times/lfetch-cur" "$PGPITR" --config "$lconf" --prefetch 8 --log-level info wal-fetch "$s" \
                "$fd/pg_wal/RECOVERYXLOG" >>"$WORK/log/long-fetch.log" 2>&1 || die "long run: wal-fetch $s failed"
            cat "$WORK/times/lfetch-cur" >>"$WORK/times/lfetch-window"
            rm -f "$fd/pg_wal/RECOVERYXLOG"
            k2=$(hwm "$WORK/bin/pgpitr --config $lconf --prefetch")
            [ "$k2" -gt "$worker" ] && worker=$k2
            fetched=$((fetched + 1))
            if [ $(((i + 1) % SAMPLE)) -eq 0 ]; then
                win=$(peak_of "$WORK/times/lfetch-window")
                : >"$WORK/times/lfetch-window"
                [ "$first_fpeak" -eq 0 ] && first_fpeak=$win
                read -r f kb < <(spool_stats "$fd/pg_wal/pgpitr_prefetch")
                ls -la "$fd/pg_wal/pgpitr_prefetch" >"$WORK/log/prefetch-spool-$((i + 1)).txt" 2>&1 || true
                echo "| $((i + 1)) | $f | $kb | $(mb "$win") | $(mb "$worker") |" >>"$LONG_FETCH_ROWS"
                say "long fetch: $((i + 1)); spool $f files $kb KiB; peak RSS $(mb "$win") MB; worker $(mb "$worker") MB"
                if [ "$f" -gt "$SPOOL_MAX_FILES" ] || [ "$kb" -gt $((SPOOL_MAX_MIB * 1024)) ]; then
                    say "FAIL: the prefetch spool holds $f files, $kb KiB"
                    fails=$((fails + 1))
                fi
                if [ "$win" -gt $((first_fpeak + RSS_GROWTH_KB)) ]; then
                    say "FAIL: wal-fetch peak RSS $win KiB, the first window's was $first_fpeak KiB"
                    fails=$((fails + 1))
                fi
            fi
        done
        (cd "$fd" && "$PGPITR" wal-fetch --clean-spool) >/dev/null 2>&1 || true
    fi
    LONG_FAILS=$fails
}

LONG_FAILS=0
case "$PARTS" in *" main "*) main_part ;; esac
case "$PARTS" in *" long "*) long_part ;; esac
BUSY_AFTER=$(bench_busy_pct)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ================================================================ table
HOST_CPU=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
{
    echo "Machine: $(nproc) CPUs, ${HOST_CPU:-unknown CPU}, $(free -g | awk '/^Mem:/ { print $2 }') GB RAM;" \
        "$(date -u +%Y-%m-%dT%H:%MZ); parts:${PARTS% }; $(($(date +%s) - T_START)) s. Load average before:" \
        "$LOAD_BEFORE, after: $LOAD_AFTER; CPU busy (2 s sample) before: $BUSY_BEFORE%, after: $BUSY_AFTER%."
    echo "Versions: $("$PGPITR" --version 2>&1 | head -n 1); $(pgbackrest version 2>/dev/null); PostgreSQL 15."
    if [ -s "$ROWS" ]; then
        echo "Database: pgbench scale $SCALE, ${DB_HUMAN:-?}, PGDATA without pg_wal ${PGDATA_MIB:-?} MiB;" \
            "Swift s3api over HTTPS (stunnel, test CA); gzip everywhere."
        echo
        echo "| command | pgpitr peak RSS MB | pgBackRest peak RSS MB | pgBackRest's command, notes |"
        echo "|---|---:|---:|---|"
        cat "$ROWS"
    fi
    if [ -s "${RESTORE_ROWS:-/nonexistent}" ]; then
        echo
        echo "| restore binary | round | wall s | peak RSS MB | restored MiB |"
        echo "|---|---:|---:|---:|---:|"
        cat "$RESTORE_ROWS"
    fi
    if [ -s "${LONG_ROWS:-/nonexistent}" ]; then
        echo
        echo "Long run: $LONG segments (copies of 4 real pgbench segments, page addresses rewritten) pushed" \
            "one call each with --look-ahead 8 --jobs 2 into a local-directory repository (file://)."
        echo "Bounds: spool <= $SPOOL_MAX_FILES files and <= $SPOOL_MAX_MIB MiB at every sample; a window's" \
            "peak RSS <= the first window's + $RSS_GROWTH_KB KiB. Bound failures: $LONG_FAILS."
        echo
        cat "$LONG_ROWS"
    fi
    if [ -s "${LONG_FETCH_ROWS:-/nonexistent}" ]; then
        echo
        cat "$LONG_FETCH_ROWS"
    fi
    bench_not_measured
} >"$RESULTS"
bench_show "$RESULTS"
[ "$LONG_FAILS" -eq 0 ] || die "$LONG_FAILS bound(s) exceeded in the long run"

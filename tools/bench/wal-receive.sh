#!/usr/bin/env bash
# tools/bench/wal-receive.sh - the streaming archiver, side by side in one run:
#
#   RPO       a client commits one row at a time and notes the time of every
#             COMMIT answered; the primary and the receiver are then killed
#             with SIGKILL together (nothing gets a last word), the cluster is
#             restored from the object store (`pgpitr restore latest`) and
#             the acknowledged commits that are missing are counted: default
#             mode (--partial-interval, target <= that + 1 s of commits lost)
#             and --synchronous as synchronous standby (target 0 commits).
#   latency   commit latency p50/p99 of one pgbench client (one INSERT a
#             transaction) with `pgpitr wal-receive --synchronous` as the
#             synchronous standby (HTTPS to Swift), against
#             `pg_receivewal --synchronous` into a local folder (the floor);
#             target: p50 at most 3x the floor.
#   catch-up  the same stretch of WAL (PITR_BENCH_SEGMENTS segments written by
#             pgbench while no receiver ran, each from its own slot) taken in
#             by pg_receivewal into a local folder and by pgpitr into the
#             object store: MB/s until the last full segment is a file / an
#             object.
#   PUT floor the latency of a bare 8 KiB PUT to the same store over one
#             kept-alive HTTPS connection (python3-boto3, 30 PUTs): what any
#             commit that waits for the object store pays at least, and the
#             fair yardstick for the synchronous latency above.
#   load      pgbench for PITR_BENCH_SECONDS with each receiver running: WAL
#             MB/s written, and how far behind the receiver was at the end.
# Prints a table. Every PostgreSQL is the rig's (fsync = off on the primary,
# so the primary's own flush costs nothing and the standby's share shows).
#
# Environment:
#   PITR_BENCH_DIR       work folder, wiped at start (default /tmp/pgpitr-bench-walrecv)
#   PITR_BENCH_PG_PORT   first of six PostgreSQL ports (default 39690)
#   PITR_BENCH_SEGMENTS  segments of WAL for the catch-up (default 16)
#   PITR_BENCH_SECONDS   seconds of each latency and load run (default 20)
#   PITR_BENCH_RPO_SECONDS seconds of commits before each kill (default 30)
#   PITR_BENCH_PARTIAL_INTERVAL  --partial-interval (default 10)
#   PITR_SWIFT_PORT, PITR_SWIFT_TLS_PORT, PITR_SWIFT_BACKEND_PORT
#                        Swift rig ports (defaults 39281, 39644, 39215)
set -euo pipefail

PG_PORT=${PITR_BENCH_PG_PORT:-39690}
NSEG=${PITR_BENCH_SEGMENTS:-16}
SECS=${PITR_BENCH_SECONDS:-20}
RPO_SECS=${PITR_BENCH_RPO_SECONDS:-30}
PI=${PITR_BENCH_PARTIAL_INTERVAL:-10}
PITR_SWIFT_PORT=${PITR_SWIFT_PORT:-39281}
PITR_SWIFT_TLS_PORT=${PITR_SWIFT_TLS_PORT:-39644}
PITR_SWIFT_BACKEND_PORT=${PITR_SWIFT_BACKEND_PORT:-39215}
SEG_SIZE=16777216

# shellcheck source=tools/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init wal-receive "${PITR_BENCH_DIR:-/tmp/pgpitr-bench-walrecv}"
RECEIVEWAL=$PG_BIN/pg_receivewal
[ -x "$RECEIVEWAL" ] || RECEIVEWAL=$(command -v pg_receivewal) || die "pg_receivewal is missing"
BGPIDS=()
stop_bg() {
    local p
    for p in "${BGPIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}
# shellcheck disable=SC2154 # rc is assigned inside the trap
trap 'rc=$?; stop_bg; (exit $rc); bench_cleanup' EXIT

bench_build
bench_rig_start
MISSING=()
BUSY=$(bench_busy_pct) # other work on the machine before ours

# ---------------------------------------------------------------- helpers
conf() { # conf NAME: a pgpitr config for prefix bench-walrecv-RUN_ID, server NAME; prints its path
    local f=$WORK/bin/$1.conf
    cat >"$f" <<CONF
repo = s3://$BUCKET/bench-walrecv-$RUN_ID
server = $1
endpoint-url = $TLS
ca-file = $CA
s3-url-style = path
aws-access-key-id = $AWS_ACCESS_KEY_ID
aws-secret-access-key = $AWS_SECRET_ACCESS_KEY
CONF
    chown postgres:postgres "$f"
    chmod 600 "$f"
    echo "$f"
}

ci() { echo "host=$1/sock port=$(cat "$1/port") user=postgres dbname=postgres"; }

# new_pg DIR PORT: a started PostgreSQL 15 (archive_mode off) with pgbench scale 1 and table seqs.
new_pg() {
    pg_rig_init "$1" "$2" >"$WORK/log/$(basename "$1")-init.log" 2>&1 || die "initdb $1 failed"
    pg_rig_conf "$1" "archive_mode = off"
    pg_rig_conf "$1" "wal_keep_size = 2GB"
    pg_rig_conf "$1" "max_wal_size = 4GB"
    pg_rig_conf "$1" "checkpoint_timeout = 1h"
    pg_rig_start "$1" || die "PostgreSQL in $1 did not start"
    pg_rig_pgbench "$1" -i -s 1 -q >/dev/null 2>&1 || die "pgbench -i failed"
    pg_rig_psql "$1" "create table seqs (n bigint primary key); create table lat_t (id bigserial, at timestamptz default now())"
}

# recv NAME CONF DIR ARGS...: start `pgpitr wal-receive` on DIR's server; sets RPID.
recv() {
    local name=$1 cf=$2 d=$3
    shift 3
    mkdir -p "$WORK/spool-$name"
    "$PGPITR" --config "$cf" wal-receive --dbname "$(ci "$d")" --spool-dir "$WORK/spool-$name" "$@" \
        >>"$WORK/log/recv-$name.log" 2>&1 &
    RPID=$!
    BGPIDS+=("$RPID")
}

# floor NAME DIR ARGS...: start pg_receivewal into WORK/floor-NAME; sets RPID.
floor() {
    local name=$1 d=$2
    shift 2
    mkdir -p "$WORK/floor-$name"
    "$RECEIVEWAL" -D "$WORK/floor-$name" -d "$(ci "$d") application_name=floor" --no-loop "$@" \
        >>"$WORK/log/floor-$name.log" 2>&1 &
    RPID=$!
    BGPIDS+=("$RPID")
}

stop_pid() { # stop_pid PID: SIGTERM, wait up to 60 s, then SIGKILL
    local i
    kill -TERM "$1" 2>/dev/null || return 0
    for ((i = 0; i < 300; i++)); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.2
    done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# wait_app DIR APP STATE SECS: wait until APP is in pg_stat_replication with
# sync_state STATE (or just streaming when STATE is "any").
wait_app() {
    local i q="application_name = '$2' and state = 'streaming'"
    [ "$3" = any ] || q="$q and sync_state = '$3'"
    for ((i = 0; i < $4 * 5; i++)); do
        [ "$(pg_rig_psql "$1" "select count(*) from pg_stat_replication where $q" 2>/dev/null)" = 1 ] && return 0
        sleep 0.2
    done
    return 1
}

wait_recovered() { # wait_recovered DIR SECS: until DIR's server has left recovery
    local i
    for ((i = 0; i < $2 * 5; i++)); do
        [ "$(pg_rig_psql "$1" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && return 0
        [ -f "$1/data/postmaster.pid" ] || return 1
        sleep 0.2
    done
    return 1
}

kill_pg() { # SIGKILL the postmaster of DIR and all its children at once
    local pm kids i
    pm=$(head -n 1 "$1/data/postmaster.pid")
    kids=$(ps -o pid= --ppid "$pm" | tr '\n' ' ')
    # shellcheck disable=SC2086
    kill -9 "$pm" $kids 2>/dev/null || true
    for i in $kids $pm; do while kill -0 "$i" 2>/dev/null; do sleep 0.05; done; done
    rm -f "$1/data/postmaster.pid"
}

# counter DIR ACKS SECONDS: commit rows 1, 2, ... one transaction at a time,
# appending "N EPOCHREALTIME" to ACKS when each COMMIT is answered.
counter() {
    local d=$1 acks=$2 end n=1 line
    end=$((${EPOCHREALTIME%.*} + $3))
    coproc PSQL { exec stdbuf -oL "$PG_BIN/psql" -h "$d/sock" -p "$(cat "$d/port")" -U postgres -d postgres \
        -X -q -A -t -v ON_ERROR_STOP=1 2>"$acks.err"; }
    exec 7>>"$acks"
    while [ "${EPOCHREALTIME%.*}" -lt "$end" ]; do
        printf 'insert into seqs values (%d);\n\\echo ack %d\n' "$n" "$n" 1>&"${PSQL[1]}" 2>/dev/null || break
        IFS= read -r -t 60 line <&"${PSQL[0]}" || break
        [ "$line" = "ack $n" ] || break
        echo "$n $EPOCHREALTIME" >&7
        n=$((n + 1))
    done
    exec 7>&-
    kill "$PSQL_PID" 2>/dev/null || true
    wait "$PSQL_PID" 2>/dev/null || true
}

# rpo MODE PORT ARGS...: a fresh primary, the receiver (ARGS), a backup, RPO_SECS
# of counted commits with pgbench beside them, SIGKILL of both, restore,
# recovery. Sets RPO_RES="commits_lost seconds_lost acked".
rpo() {
    local mode=$1 port=$2 d=$WORK/pg-rpo-$1 r=$WORK/pg-rpo-$1-r cf acks=$WORK/rpo-$1.acks kt bench res
    shift 2
    cf=$(conf "rpo-$mode")
    new_pg "$d" "$port"
    recv "rpo-$mode" "$cf" "$d" --create-slot --partial-interval "$PI" "$@"
    wait_app "$d" pgpitr any 60 || die "rpo $mode: the receiver does not stream (log: $WORK/log/recv-rpo-$mode.log)"
    if [[ " $* " == *" --synchronous "* ]]; then
        pg_rig_psql "$d" "alter system set synchronous_standby_names = 'pgpitr'" && pg_rig_psql "$d" "select pg_reload_conf()" >/dev/null
        wait_app "$d" pgpitr sync 30 || die "rpo $mode: the receiver is not the synchronous standby"
    fi
    pg_rig_as env PGHOST="$d/sock" PGPORT="$port" PGUSER=postgres "$PGPITR" --config "$cf" backup \
        --pgdata "$d/data" --immediate-checkpoint --wal-wait-timeout 120 >"$WORK/log/rpo-$mode-backup.log" 2>&1 ||
        die "rpo $mode: pgpitr backup failed: $(tail -n 3 "$WORK/log/rpo-$mode-backup.log")"
    say "rpo $mode: $RPO_SECS s of counted commits with pgbench beside them, then SIGKILL of primary and receiver"
    pg_rig_pgbench "$d" -n -c 1 -T $((RPO_SECS + 10)) >"$WORK/log/rpo-$mode-pgbench.log" 2>&1 &
    bench=$!
    counter "$d" "$acks" "$RPO_SECS"
    kt=$EPOCHREALTIME
    kill_pg "$d"
    kill -9 "$RPID" 2>/dev/null || true
    wait "$bench" 2>/dev/null || true
    wait "$RPID" 2>/dev/null || true
    mkdir -p "$r/sock"
    "$PGPITR" --config "$cf" restore latest "$r/data" >"$WORK/log/rpo-$mode-restore.log" 2>&1 ||
        die "rpo $mode: restore failed: $(tail -n 3 "$WORK/log/rpo-$mode-restore.log")"
    printf "port = %s\nunix_socket_directories = '%s/sock'\nsynchronous_standby_names = ''\n" $((port + 1)) "$r" \
        >>"$r/data/postgresql.auto.conf"
    echo $((port + 1)) >"$r/port"
    chown -R postgres:postgres "$r"
    pg_rig_start "$r" || die "rpo $mode: the restored cluster does not start"
    wait_recovered "$r" 300 || die "rpo $mode: recovery did not end (log: $r/log)"
    pg_rig_psql "$r" "select n from seqs order by n" >"$WORK/rpo-$mode.rows"
    pg_rig_stop "$r"
    res=$(awk -v kt="$kt" 'FNR == NR { have[$1] = 1; next }
        { acked++; if (!($1 in have)) { miss++; if (first == "" || $2 < first) first = $2 } }
        END { printf "%d %.2f %d", miss, (first == "" ? 0 : kt - first), acked }' "$WORK/rpo-$mode.rows" "$acks")
    RPO_RES=$res
    say "rpo $mode: commits lost, seconds lost, commits acknowledged: $res"
}

# latency NAME DIR: one pgbench client, one INSERT a transaction, SECS seconds;
# prints "p50_ms p99_ms tps".
latency() {
    local name=$1 d=$2 dir=$WORK/lat-$1
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    echo "insert into lat_t default values;" >"$dir/ins.sql"
    pg_rig_pgbench "$d" -n -c 1 -T "$SECS" -f "$dir/ins.sql" -l --log-prefix="$dir/log" \
        >"$WORK/log/lat-$name.log" 2>&1 || die "pgbench for latency $name failed"
    cat "$dir"/log.* | awk '{ print $3 }' | sort -n | awk -v secs="$SECS" '{ v[NR] = $1 }
        END { if (NR == 0) { print "- - 0"; exit }
              i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
              printf "%.2f %.2f %.0f", v[i50] / 1000, v[i99] / 1000, NR / secs }'
}

# lag_bytes DIR APP: bytes between DIR's current WAL position and what APP
# reported as received (write position; pg_receivewal reports its flush
# position only at segment ends unless --synchronous).
lag_bytes() {
    pg_rig_psql "$1" "select coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn))::bigint, -1)
        from pg_stat_replication where application_name = '$2'"
}

# ---------------------------------------------------------------- 1. latency, catch-up, load
PG=$WORK/pg-main
new_pg "$PG" "$PG_PORT"
CF_MAIN=$(conf main)

say "synchronous commit latency: pgpitr wal-receive --synchronous (HTTPS to Swift)"
pg_rig_psql "$PG" "alter system set synchronous_standby_names = 'pgpitr'" && pg_rig_psql "$PG" "select pg_reload_conf()" >/dev/null
recv lat "$CF_MAIN" "$PG" --create-slot --slot lat --synchronous
wait_app "$PG" pgpitr sync 60 || die "pgpitr wal-receive is not the synchronous standby (log: $WORK/log/recv-lat.log)"
read -r LP50 LP99 LTPS <<<"$(latency pgpitr "$PG")"
stop_pid "$RPID"
say "PUT floor: 30 bare 8 KiB PUTs to the same store (boto3, one HTTPS connection)"
read -r SP50 SP99 <<<"$(BENCH_KEY=bench-walrecv-$RUN_ID/putfloor /usr/bin/python3 - "$TLS" "$CA" "$BUCKET" <<'PY'
import os, sys, time, boto3
from botocore.config import Config
ep, ca, bucket = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=ep, verify=ca, config=Config(s3={"addressing_style": "path"}))
body, t = os.urandom(8192), []
for i in range(30):
    a = time.perf_counter()
    s3.put_object(Bucket=bucket, Key="%s/%d" % (os.environ["BENCH_KEY"], i), Body=body)
    t.append((time.perf_counter() - a) * 1000)
t.sort()
print("%.1f %.1f" % (t[len(t) // 2], t[int(len(t) * 0.99)]))
PY
)" || die "the PUT floor measurement failed"
say "synchronous commit latency: pg_receivewal --synchronous (local folder)"
pg_rig_psql "$PG" "alter system set synchronous_standby_names = 'floor'" && pg_rig_psql "$PG" "select pg_reload_conf()" >/dev/null
"$RECEIVEWAL" -d "$(ci "$PG")" --create-slot --slot floorlat >/dev/null 2>&1 || die "pg_receivewal --create-slot failed"
floor lat "$PG" --slot floorlat --synchronous
wait_app "$PG" floor sync 60 || die "pg_receivewal is not the synchronous standby"
read -r FP50 FP99 FTPS <<<"$(latency floor "$PG")"
stop_pid "$RPID"
pg_rig_psql "$PG" "alter system set synchronous_standby_names = ''" && pg_rig_psql "$PG" "select pg_reload_conf()" >/dev/null
pg_rig_psql "$PG" "select pg_drop_replication_slot('lat'), pg_drop_replication_slot('floorlat')" >/dev/null

say "catch-up: $NSEG segments of WAL written while no receiver runs, slots reserved before"
pg_rig_psql "$PG" "select pg_switch_wal()" >/dev/null
pg_rig_psql "$PG" "select pg_create_physical_replication_slot('cu_pgpitr', true),
    pg_create_physical_replication_slot('cu_floor', true)" >/dev/null
start_lsn=$(pg_rig_psql "$PG" "select pg_current_wal_lsn()")
bench_write_wal "$start_lsn" $((NSEG * SEG_SIZE)) 60
end_lsn=$(pg_rig_psql "$PG" "select pg_current_wal_lsn()")
pg_rig_psql "$PG" "select pg_switch_wal()" >/dev/null
last_seg=$(pg_rig_psql "$PG" "select pg_walfile_name('$end_lsn')")
cu_bytes=$(pg_rig_psql "$PG" "select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint
    from pg_replication_slots where slot_name = 'cu_floor'")
say "catch-up: $((cu_bytes / 1048576)) MiB up to $last_seg"
t0=$(date +%s.%N)
floor cu "$PG" --slot cu_floor
for ((i = 0; i < 3000; i++)); do
    [ -f "$WORK/floor-cu/$last_seg" ] && break
    sleep 0.1
done
t1=$(date +%s.%N)
[ -f "$WORK/floor-cu/$last_seg" ] || die "pg_receivewal did not write $last_seg within 300 s"
stop_pid "$RPID"
F_CU=$(awk -v b="$cu_bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.1f", b / 1e6 / (z - a) }')
t0=$(date +%s.%N)
recv cu "$CF_MAIN" "$PG" --slot cu_pgpitr
got=""
for ((i = 0; i < 1200; i++)); do
    if bench_s3_stats "bench-walrecv-$RUN_ID/main/wals/" "^$last_seg(\\.[a-z0-9]+)?\$" | grep -q '^1 '; then
        got=1
        break
    fi
    sleep 0.25
done
t1=$(date +%s.%N)
[ -n "$got" ] || die "pgpitr wal-receive did not store $last_seg within 10 minutes"
stop_pid "$RPID"
P_CU=$(awk -v b="$cu_bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.1f", b / 1e6 / (z - a) }')
pg_rig_psql "$PG" "select pg_drop_replication_slot('cu_pgpitr'), pg_drop_replication_slot('cu_floor')" >/dev/null

# load NAME APP: pgbench -c 4 for SECS with the receiver running; prints "WAL_MB/s lag_MiB".
load() {
    local name=$1 a z lag
    a=$(pg_rig_psql "$PG" "select pg_current_wal_lsn()")
    pg_rig_pgbench "$PG" -n -c 4 -j 2 -T "$SECS" >"$WORK/log/load-$name.log" 2>&1 || die "pgbench load $name failed"
    lag=$(lag_bytes "$PG" "$2")
    z=$(pg_rig_psql "$PG" "select pg_wal_lsn_diff(pg_current_wal_lsn(), '$a')::bigint")
    awk -v z="$z" -v s="$SECS" -v l="$lag" 'BEGIN { printf "%.1f %.1f", z / 1e6 / s, l / 1048576 }'
}
say "load: pgbench -c 4 for $SECS s with pgpitr wal-receive"
recv load "$CF_MAIN" "$PG" --create-slot --slot load_pgpitr
wait_app "$PG" pgpitr any 60 || die "pgpitr wal-receive does not stream"
read -r P_LOAD P_LAG <<<"$(load pgpitr pgpitr)"
stop_pid "$RPID"
say "load: pgbench -c 4 for $SECS s with pg_receivewal"
"$RECEIVEWAL" -d "$(ci "$PG")" --create-slot --slot load_floor >/dev/null 2>&1 || die "pg_receivewal --create-slot failed"
floor load "$PG" --slot load_floor --status-interval 1
wait_app "$PG" floor any 60 || die "pg_receivewal does not stream"
read -r F_LOAD F_LAG <<<"$(load floor floor)"
stop_pid "$RPID"
pg_rig_stop "$PG"

# ---------------------------------------------------------------- 2. RPO
rpo default $((PG_PORT + 2))
read -r D_LOST D_SECS D_ACK <<<"$RPO_RES"
rpo sync $((PG_PORT + 4)) --synchronous
read -r S_LOST S_SECS S_ACK <<<"$RPO_RES"

# ---------------------------------------------------------------- 3. the table
RES=$WORK/results.md
yn() { awk "BEGIN { exit !($1) }" && echo yes || echo no; }
ratio=$(awk -v a="$LP50" -v b="$FP50" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
{
    echo "wal-receive bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, CPU busy (other work) before: $BUSY%"
    echo
    echo "| measure | pgpitr wal-receive (S3 over HTTPS) | pg_receivewal (local disk) | ratio | target | met |"
    echo "|---|---:|---:|---:|---|---|"
    echo "| RPO default mode, SIGKILL of primary + receiver: seconds of commits lost | $D_SECS s ($D_LOST of $D_ACK commits) | - | - | <= $((PI + 1)) s | $(yn "$D_SECS <= $PI + 1") |"
    echo "| RPO --synchronous, SIGKILL of primary + receiver: commits lost | $S_LOST of $S_ACK ($S_SECS s) | - | - | 0 | $(yn "$S_LOST == 0") |"
    echo "| synchronous commit latency p50 (ms) | $LP50 | $FP50 | ${ratio}x | <= 3x | $(yn "$ratio <= 3") |"
    echo "| synchronous commit latency p99 (ms) | $LP99 | $FP99 | $(awk -v a="$LP99" -v b="$FP99" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')x | - | - |"
    echo "| bare 8 KiB PUT to the store p50 / p99 (ms): the object-store floor | $SP50 / $SP99 | - | - | - | - |"
    echo "| synchronous commit latency p50 / object-store floor p50 | $(awk -v a="$LP50" -v b="$SP50" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')x | - | - | - | - |"
    echo "| synchronous commits/s, 1 client | $LTPS | $FTPS | - | - | - |"
    echo "| catch-up of $((cu_bytes / 1048576)) MiB of WAL (MB/s) | $P_CU | $F_CU | $(awk -v a="$P_CU" -v b="$F_CU" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')x | - | - |"
    echo "| during pgbench -c 4: WAL MB/s written / receiver behind at the end (MiB) | $P_LOAD / $P_LAG | $F_LOAD / $F_LAG | - | - | - |"
    echo
    echo "--partial-interval $PI s; $RPO_SECS s of commits before each kill; latency and load runs $SECS s;"
    echo "compression: pgpitr's default (gzip); pg_receivewal uncompressed."
    bench_not_measured
} >"$RES"
bench_show "$RES"

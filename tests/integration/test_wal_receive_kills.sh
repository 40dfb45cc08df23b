#!/usr/bin/env bash
# `pgpitr wal-receive` killed with SIGKILL at seeded random points while
# pgbench writes (archive_mode off; the receiver is the only archiver, into
# the rig's s3tls repository). After each restart:
#  - the receiver resumes: the primary sees it stream again and its reported
#    flush position reaches at least the one reported before the kill;
#  - the full segments in the store run without a gap from the first one on,
#    each segment is stored under one name only, and every stored segment is
#    byte-equal to the primary's pg_wal copy (fetched back with wal-fetch), so
#    no restart uploaded a different duplicate;
#  - it never died by itself.
# At the end (receiver stopped with SIGTERM): no .partial is left next to its
# full segment, `pgpitr verify` is clean, and `pgpitr restore latest`
# recovers to the last row written (a marker row after pgbench stopped, the
# same pgbench_history count as the primary).
# WR_KILLS (default 20) kills; WR_KILLS_SEED (default: the clock, printed)
# seeds the delays (0.2-5 s). PostgreSQL ports 28170-28171.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

KILLS=${WR_KILLS:-20}
SEED=${WR_KILLS_SEED:-$(date +%s)}
echo "# WR_KILLS_SEED=$SEED WR_KILLS=$KILLS"
RANDOM=$SEED
RUN=wrk-$$-$(date +%s)
SERVER=pg-wrk
W=$IT_TMP/wrk
P=$IT_TMP/pg-wrk-p
R=$IT_TMP/pg-wrk-r
mkdir -p "$W"
chmod 755 "$W"
RECV_PID=""
BENCH_PID=""

stop_all() {
    [ -n "$RECV_PID" ] && kill -9 "$RECV_PID" 2>/dev/null
    touch "$W/stop"
    [ -n "$BENCH_PID" ] && wait "$BENCH_PID" 2>/dev/null
    pg_rig_stop "$R"
    pg_rig_stop "$P"
}
trap stop_all EXIT

if [ -z "${PITR_TEST_S3_TLS_ENDPOINT:-}" ]; then
    not_ok "the Swift rig's HTTPS endpoint is not set (run through tests/integration/run.sh)"
    finish
    exit
fi

CF=$W/pgpitr.conf
{
    printf 'repo = s3://%s/%s\nserver = %s\n' "$PITR_TEST_BUCKET" "$RUN" "$SERVER"
    printf 'endpoint-url = %s\nca-file = %s\ns3-url-style = path\n' "$PITR_TEST_S3_TLS_ENDPOINT" "$PITR_TEST_CA_FILE"
    printf 'aws-access-key-id = %s\naws-secret-access-key = %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
} >"$CF"
chown postgres:postgres "$CF"
chmod 600 "$CF"

# keys: every key under the server's wals/ folder, one a line (the part after wals/<hash>/).
keys() {
    python3 - "$PITR_TEST_S3_TLS_ENDPOINT" "$PITR_TEST_CA_FILE" "$PITR_TEST_BUCKET" "$RUN/$SERVER/wals/" <<'PY'
import sys
import boto3
from botocore.config import Config
endpoint, ca, bucket, prefix = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, verify=ca, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        print(o["Key"][len(prefix):].split("/", 1)[-1])
PY
}

recv_start() {
    mkdir -p "$W/spool"
    echo "---- start $1" >>"$W/recv.log"
    "$PGPITR_BIN" --config "$CF" --log-level info wal-receive --dbname "host=$P/sock port=28170 user=postgres dbname=postgres" \
        --spool-dir "$W/spool" >>"$W/recv.log" 2>&1 &
    RECV_PID=$!
}

# flush_lsn: the flush position the receiver last reported ("" when not connected).
flush_lsn() {
    pg_rig_psql "$P" "select flush_lsn from pg_stat_replication where application_name = 'pgpitr'
        and state = 'streaming'" 2>/dev/null
}

# wait_resumed LSN SECS: the receiver streams and reports a flush position >= LSN.
wait_resumed() {
    local i
    for ((i = 0; i < $2 * 5; i++)); do
        [ "$(pg_rig_psql "$P" "select count(*) from pg_stat_replication where application_name = 'pgpitr'
            and state = 'streaming' and flush_lsn >= '$1'" 2>/dev/null)" = 1 ] && return 0
        sleep 0.2
    done
    return 1
}

# seg_gaps: reads segment names (16 MiB segments, one timeline), prints each
# one that does not follow the one before it.
seg_gaps() {
    local s n prev="" pname=""
    for s in $(sort -u); do
        n=$((16#${s:8:8} * 256 + 16#${s:16:8}))
        [ -n "$prev" ] && [ "$n" -ne $((prev + 1)) ] && printf '%s after %s; ' "$s" "$pname"
        prev=$n pname=$s
    done
}

declare -A SAME # segment name -> 1 once it was found byte-equal to the primary's copy
# check_store LABEL: the full segments stored so far have no gap, one name
# each, and each equals the primary's pg_wal copy. Sets NSEG.
check_store() {
    local label=$1 names dup gap s bad=0
    keys >"$W/keys" || { not_ok "$label: cannot list the store"; return; }
    names=$(grep -E '^[0-9A-F]{24}(\.(gz|bz2|lz4|zst|xz|snappy))?$' "$W/keys" | cut -c1-24)
    NSEG=$(sort -u <<<"$names" | grep -c .)
    dup=$(sort <<<"$names" | uniq -d | tr '\n' ' ')
    if [ -z "$dup" ]; then ok "$label: each stored segment has one name"; else not_ok "$label: stored under two names: $dup"; fi
    gap=$(seg_gaps <<<"$names")
    if [ -z "$gap" ]; then ok "$label: no gap among the $NSEG stored segments"; else not_ok "$label: gap: $gap"; fi
    for s in $(sort -u <<<"$names"); do
        [ -n "${SAME[$s]:-}" ] && continue
        rm -f "$W/fetched"
        if ! "$PGPITR_BIN" --config "$CF" wal-fetch "$s" "$W/fetched" 2>"$W/fetch.err"; then
            bad=$((bad + 1))
            echo "# $label: wal-fetch $s: $(cat "$W/fetch.err")"
        elif ! cmp -s "$W/fetched" "$P/data/pg_wal/$s"; then
            bad=$((bad + 1))
            echo "# $label: $s differs from the primary's pg_wal/$s: $(cmp "$W/fetched" "$P/data/pg_wal/$s" 2>&1 | head -n 1)"
        else
            SAME[$s]=1
        fi
    done
    check "$label: every stored segment equals the primary's copy ($bad differ)" test "$bad" -eq 0
}

# ---- the primary, the slot, the first receiver and a backup -----------------------------
pg_rig_init "$P" 28170 || { not_ok "initdb"; finish; exit; }
pg_rig_conf "$P" "archive_mode = off"
pg_rig_conf "$P" "wal_keep_size = 2GB"
pg_rig_conf "$P" "max_wal_size = 2GB"
pg_rig_start "$P" || { not_ok "start"; finish; exit; }
pg_rig_pgbench "$P" -i -s 1 -q >/dev/null 2>&1 || not_ok "pgbench -i"
pg_rig_psql "$P" "select pg_create_physical_replication_slot('pgpitr', true)" >/dev/null
recv_start 0
if wait_resumed 0/0 30; then
    ok "the receiver streams from slot pgpitr"
else
    not_ok "the receiver does not stream: $(tail -n 5 "$W/recv.log")"
    finish
    exit
fi
json=$(pg_rig_as env PGHOST="$P/sock" PGPORT=28170 PGUSER=postgres \
    "$PGPITR_BIN" --config "$CF" backup --pgdata "$P/data" --immediate-checkpoint --wal-wait-timeout 60 --json \
    2>"$W/backup.err")
check "pgpitr backup DONE (its end WAL came through wal-receive)" grep -q '"status": "DONE"' <<<"$json"

(while [ ! -e "$W/stop" ]; do pg_rig_pgbench "$P" -n -c 2 -T 5 >>"$W/pgbench.log" 2>&1; done) &
BENCH_PID=$!

# ---- the kills ---------------------------------------------------------------------------
t0=$(date +%s)
missed=0
for i in $(seq 1 "$KILLS"); do
    delay_ms=$((200 + RANDOM % 4800))
    sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
    if ! kill -0 "$RECV_PID" 2>/dev/null; then
        wait "$RECV_PID"
        not_ok "kill $i: the receiver had ended by itself (status $?): $(tail -n 5 "$W/recv.log")"
        missed=$((missed + 1))
        before=""
    else
        before=$(flush_lsn)
        kill -9 "$RECV_PID"
        wait "$RECV_PID" 2>/dev/null
    fi
    recv_start "$i (after a kill at ${delay_ms} ms)"
    if wait_resumed "${before:-0/0}" 60; then
        ok "kill $i (${delay_ms} ms): the receiver resumed and reported flush >= ${before:-0/0} again"
    else
        not_ok "kill $i: the receiver did not resume to ${before:-0/0} within 60 s (now '$(flush_lsn)'): $(tail -n 5 "$W/recv.log")"
    fi
    check_store "kill $i"
done
echo "# $KILLS kills in $(($(date +%s) - t0)) s; $NSEG segments stored"
check "the receiver never ended by itself" test "$missed" -eq 0
check "the kills spanned several segments ($NSEG stored)" test "$NSEG" -ge 3

# ---- stop, verify, restore ----------------------------------------------------------------
touch "$W/stop"
wait "$BENCH_PID"
BENCH_PID=""
pg_rig_psql "$P" "create table marker as select 'after pgbench' as note"
hist=$(pg_rig_psql "$P" "select count(*) from pgbench_history")
end_lsn=$(pg_rig_psql "$P" "select pg_current_wal_lsn()")
check "the receiver has flushed everything the primary wrote" wait_resumed "$end_lsn" 60
kill -TERM "$RECV_PID"
for _ in $(seq 1 300); do kill -0 "$RECV_PID" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$RECV_PID" 2>/dev/null; then
    not_ok "the receiver still runs 60 s after SIGTERM"
    kill -9 "$RECV_PID"
else
    wait "$RECV_PID"
    rc=$?
    check "the receiver exited 0 after SIGTERM (status $rc)" test "$rc" -eq 0
fi
RECV_PID=""
check_store "at the end"
stale=""
for k in $(grep -E '^[0-9A-F]{24}\.partial' "$W/keys" | cut -c1-24); do
    grep -qE "^$k(\.(gz|bz2|lz4|zst|xz|snappy))?$" "$W/keys" && stale="$stale $k"
done
check "no .partial is left next to its full segment (${stale:-none})" test -z "$stale"
check "a .partial holds the last, unfinished segment" grep -qE '^[0-9A-F]{24}\.partial' "$W/keys"

out=$("$PGPITR_BIN" --config "$CF" verify 2>&1)
rc=$?
echo "$out" | sed 's/^/# verify: /' | tail -n 10
check "pgpitr verify: the backup and its WAL chain are clean (exit $rc)" test "$rc" -eq 0

mkdir -p "$R/sock"
if out=$("$PGPITR_BIN" --config "$CF" restore latest "$R/data" 2>&1); then
    ok "pgpitr restore latest"
    printf "port = 28171\nunix_socket_directories = '%s/sock'\narchive_mode = off\n" "$R" >>"$R/data/postgresql.auto.conf"
    echo 28171 >"$R/port"
    chown -R postgres:postgres "$R"
    if pg_rig_start "$R" && it_wait_recovery_end "$R" 120; then
        ok "the restored copy recovered to the end of the archive and was promoted"
        check "the marker row written after the load is there" \
            test "$(pg_rig_psql "$R" "select note from marker")" = "after pgbench"
        check "pgbench_history has the primary's $hist rows" \
            test "$(pg_rig_psql "$R" "select count(*) from pgbench_history")" = "$hist"
        check "sum(abalance) = sum(delta) in the copy" \
            test "$(pg_rig_psql "$R" "select (select sum(abalance) from pgbench_accounts) =
                (select coalesce(sum(delta), 0) from pgbench_history)")" = t
    else
        not_ok "the restored copy did not recover: $(tail -n 5 "$R/log")"
    fi
else
    not_ok "pgpitr restore latest: $out"
fi
finish

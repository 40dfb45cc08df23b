#!/usr/bin/env bash
# End to end: how much committed work survives the loss of the primary when
# `pgpitr wal-receive` is the only archiver (archive_mode off), into the rig's
# s3tls repository (Swift over HTTPS with the test CA).
#
# A client counts its own commits: one row of table seqs per transaction,
# written one at a time through psql, and the client writes "N TIME" to a
# file as soon as psql has answered the COMMIT of row N (client-side
# acknowledgement, not the server's word). After the primary is killed with
# SIGKILL (every process of it), the cluster is restored with `pgpitr restore`
# from the object store alone and recovered to the end of the archive; the
# rows it holds are compared with the acknowledgements.
#
#  (a) default mode, two receivers on one primary (two slots, two server
#      folders, one workload): one stopped with SIGTERM after the primary's
#      death (it uploads its partial), one killed with SIGKILL too (only the
#      periodic partial is there). Every commit acknowledged before
#      kill time - --partial-interval - 1 s must be restored; the seconds of
#      acknowledged commits lost are printed.
#  (b) --synchronous with synchronous_standby_names = 'pgpitr': primary and
#      receiver both killed with SIGKILL; EVERY acknowledged commit must be
#      restored.
#  (c) a timeline switch: primary + streaming standby, the receiver given
#      both hosts with target_session_attrs=read-write and --create-slot; the
#      primary stops, the standby is promoted, the receiver follows it to
#      timeline 2 (00000002.history stored); a restore to the latest point
#      crosses the switch and has the rows of both timelines.
# PostgreSQL ports 28150-28158.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

PI=10 # --partial-interval, seconds
RUN=wrl-$$-$(date +%s)
W=$IT_TMP/wrl
mkdir -p "$W"
chmod 755 "$W"
RECV_PIDS=()

stop_all() {
    local p d
    for p in "${RECV_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    for d in "$IT_TMP"/pg-wrl-*; do [ -d "$d" ] && pg_rig_stop "$d"; done
}
trap stop_all EXIT

if [ -z "${PITR_TEST_S3_TLS_ENDPOINT:-}" ]; then
    not_ok "the Swift rig's HTTPS endpoint is not set (run through tests/integration/run.sh)"
    finish
    exit
fi

# conf SERVER: a config file for the s3tls repository, server SERVER; prints its path.
conf() {
    local f=$W/$1.conf
    {
        printf 'repo = s3://%s/%s\nserver = %s\n' "$PITR_TEST_BUCKET" "$RUN" "$1"
        printf 'endpoint-url = %s\nca-file = %s\ns3-url-style = path\n' "$PITR_TEST_S3_TLS_ENDPOINT" "$PITR_TEST_CA_FILE"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
    } >"$f"
    chown postgres:postgres "$f"
    chmod 600 "$f"
    echo "$f"
}

# keys SERVER: every key under the server's wals/ folder, one a line (the part after wals/<hash>/).
keys() {
    python3 - "$PITR_TEST_S3_TLS_ENDPOINT" "$PITR_TEST_CA_FILE" "$PITR_TEST_BUCKET" "$RUN/$1/wals/" <<'PY'
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

# has_key SERVER REGEX: some key under the server's wals/ folder matches REGEX (grep).
has_key() { keys "$1" | grep -q "$2"; }

# tli_of DIR: the timeline the server in DIR writes now (from its WAL file name).
tli_of() { echo $((16#$(pg_rig_psql "$1" "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"))); }

# ci DIR: the conninfo of the server in DIR.
ci() { echo "host=$1/sock port=$(cat "$1/port") user=postgres dbname=postgres"; }

# recv_start NAME CONF CONNINFO ARGS...: start `pgpitr wal-receive` in the
# background (log W/NAME.recv.log, spool W/NAME.spool); sets RECV_PID.
recv_start() {
    local name=$1 cf=$2 c=$3
    shift 3
    mkdir -p "$W/$name.spool"
    "$PGPITR_BIN" --config "$cf" --log-level info wal-receive --dbname "$c" --spool-dir "$W/$name.spool" \
        --partial-interval $PI "$@" >>"$W/$name.recv.log" 2>&1 &
    RECV_PID=$!
    RECV_PIDS+=("$RECV_PID")
}

# wait_streaming DIR APPNAME SECS: wait until DIR's server streams to APPNAME.
wait_streaming() {
    local i
    for ((i = 0; i < $3 * 5; i++)); do
        [ "$(pg_rig_psql "$1" "select count(*) from pg_stat_replication
            where application_name = '$2' and state = 'streaming'" 2>/dev/null)" = 1 ] && return 0
        sleep 0.2
    done
    return 1
}

# wait_flushed DIR APPNAME SECS: wait until APPNAME reports as flushed what DIR has written now.
wait_flushed() {
    local i lsn
    lsn=$(pg_rig_psql "$1" "select pg_current_wal_lsn()") || return 1
    for ((i = 0; i < $3 * 5; i++)); do
        [ "$(pg_rig_psql "$1" "select count(*) from pg_stat_replication
            where application_name = '$2' and flush_lsn >= '$lsn'" 2>/dev/null)" = 1 ] && return 0
        sleep 0.2
    done
    return 1
}

# wait_exit PID SECS: wait for a background child to end; RC is its status (-1 still running).
wait_exit() {
    local i
    RC=-1
    for ((i = 0; i < $2 * 5; i++)); do
        if ! kill -0 "$1" 2>/dev/null; then
            wait "$1"
            RC=$?
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# kill_pg DIR: SIGKILL the postmaster of DIR and every child of it at once
# (the machine is gone); wait until none is left.
kill_pg() {
    local pm kids i
    pm=$(head -n 1 "$1/data/postmaster.pid")
    kids=$(ps -o pid= --ppid "$pm" | tr '\n' ' ')
    # shellcheck disable=SC2086
    kill -9 "$pm" $kids 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pm" 2>/dev/null || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    for i in $kids; do while kill -0 "$i" 2>/dev/null; do sleep 0.05; done; done
    rm -f "$1/data/postmaster.pid"
}

# backup DIR CONF NAME: `pgpitr backup` (local method) of the server in DIR as the postgres user.
backup() {
    local json
    json=$(pg_rig_as env PGHOST="$1/sock" PGPORT="$(cat "$1/port")" PGUSER=postgres \
        "$PGPITR_BIN" --config "$2" backup --pgdata "$1/data" --immediate-checkpoint --wal-wait-timeout 60 --json \
        2>"$W/$3.backup.err")
    if grep -q '"status": "DONE"' <<<"$json"; then
        ok "$3: pgpitr backup DONE (its end WAL came through wal-receive)"
    else
        not_ok "$3: pgpitr backup: $json $(tail -n 5 "$W/$3.backup.err")"
        return 1
    fi
}

# counter DIR ACKS SECONDS FIRST: commit rows FIRST, FIRST+1, ... into seqs one
# transaction at a time for SECONDS (or until the server goes away), appending
# "N EPOCHREALTIME" to ACKS once psql has answered each COMMIT.
counter() {
    local d=$1 acks=$2 end n=$4 line
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
    echo "$n" >"$acks.sent" # the last number sent (maybe never answered)
    if [ -n "${PSQL_PID:-}" ]; then
        kill "$PSQL_PID" 2>/dev/null
        wait "$PSQL_PID" 2>/dev/null
    fi
    return 0
}

# restore NAME CONF DIR PORT: `pgpitr restore latest` into DIR/data, start it
# and wait (120 s) until recovery has ended.
restore() {
    local name=$1 cf=$2 r=$3 port=$4 out
    mkdir -p "$r/sock"
    if ! out=$("$PGPITR_BIN" --config "$cf" restore latest "$r/data" 2>&1); then
        not_ok "$name: pgpitr restore latest: $out"
        return 1
    fi
    ok "$name: pgpitr restore latest from the object store"
    cat >>"$r/data/postgresql.auto.conf" <<CONF
port = $port
unix_socket_directories = '$r/sock'
archive_mode = off
synchronous_standby_names = ''
CONF
    echo "$port" >"$r/port"
    chown -R postgres:postgres "$r"
    if ! pg_rig_start "$r"; then
        not_ok "$name: the restored cluster does not start: $(tail -n 5 "$r/log")"
        return 1
    fi
    if it_wait_recovery_end "$r" 120; then
        ok "$name: recovery through wal-fetch ended and the copy was promoted"
    else
        not_ok "$name: recovery did not end within 120 s: $(tail -n 5 "$r/log")"
        return 1
    fi
}

# judge NAME DIR ACKS KILL_T BOUND: compare the rows of seqs in the restored
# cluster DIR with the acknowledgements in ACKS (files, "N TIME" lines). BOUND
# is the seconds before KILL_T from which losses are allowed ("" = none).
judge() {
    local name=$1 r=$2 acks=$3 kt=$4 bound=$5 res
    pg_rig_psql "$r" "select n from seqs order by n" >"$r.rows" ||
        { not_ok "$name: cannot read seqs in the restored cluster"; return; }
    res=$(awk -v kt="$kt" -v bound="$bound" '
        FNR == NR { have[$1] = 1; nrow++; next }
        { acked++; t[$1] = $2
          if (!($1 in have)) { miss++; if (first == "" || $2 < first) { first = $2; fn = $1 }
                               if (bound != "" && $2 < kt - bound) late++ } }
        END { lost = (first == "" ? 0 : kt - first)
              printf "%d %d %d %d %.3f %s\n", acked, nrow, miss + 0, late + 0, lost, (fn == "" ? "-" : fn) }' \
        "$r.rows" "$acks")
    read -r acked nrow miss late lost fn <<<"$res"
    echo "# $name: $acked commits acknowledged, $nrow rows restored, $miss acknowledged commits missing" \
        "(the first: $fn), $lost s of acknowledged commits lost before the kill"
    check "$name: the client saw commits acknowledged ($acked)" test "$acked" -gt 0
    if [ -n "$bound" ]; then
        check "$name: every commit acknowledged before kill - $bound s is restored ($late missing)" test "$late" -eq 0
    else
        check "$name: every acknowledged commit is restored ($miss missing, the first: $fn)" test "$miss" -eq 0
    fi
}

# ---- (a) default mode: SIGTERM'd and SIGKILL'd receivers ----------------------------------
a_run() {
    local p=$IT_TMP/pg-wrl-a cf_t cf_k acks=$W/a.acks kt bench rpid_t rpid_k
    cf_t=$(conf pg-wrl-term)
    cf_k=$(conf pg-wrl-kill)
    pg_rig_init "$p" 28150 || { not_ok "a: initdb"; return; }
    pg_rig_conf "$p" "archive_mode = off"
    pg_rig_conf "$p" "wal_keep_size = 512MB"
    pg_rig_start "$p" || { not_ok "a: start"; return; }
    pg_rig_psql "$p" "create table seqs (n bigint primary key)"
    pg_rig_pgbench "$p" -i -s 1 -q >/dev/null 2>&1 || not_ok "a: pgbench -i"

    recv_start a-term "$cf_t" "$(ci "$p")" --slot wrl_term --create-slot --application-name wrl_term
    rpid_t=$RECV_PID
    recv_start a-kill "$cf_k" "$(ci "$p")" --slot wrl_kill --create-slot --application-name wrl_kill
    rpid_k=$RECV_PID
    if wait_streaming "$p" wrl_term 30 && wait_streaming "$p" wrl_kill 30; then
        ok "a: both receivers stream from the primary (slots created)"
    else
        not_ok "a: the receivers do not stream: $(tail -n 5 "$W"/a-*.recv.log)"
        return
    fi
    check "a: slots wrl_term and wrl_kill exist" test "$(pg_rig_psql "$p" "select count(*) from pg_replication_slots
        where slot_name in ('wrl_term', 'wrl_kill') and slot_type = 'physical'")" = 2
    backup "$p" "$cf_t" a-term || return
    backup "$p" "$cf_k" a-kill || return

    # Load: pgbench rolls segments over while the counter counts.
    pg_rig_pgbench "$p" -n -c 1 -T 40 >"$W/a.pgbench.log" 2>&1 &
    bench=$!
    counter "$p" "$acks" 30 1
    kt=$EPOCHREALTIME
    kill_pg "$p"
    { kill -9 "$rpid_k" && wait "$rpid_k"; } 2>/dev/null
    sleep 0.5
    kill -TERM "$rpid_t" 2>/dev/null
    wait "$bench" 2>/dev/null
    echo "# a: primary killed at $kt after $(wc -l <"$acks") acknowledged commits (last sent $(cat "$acks.sent"))"
    if wait_exit "$rpid_t" 60; then
        ok "a: the SIGTERM'd receiver exited (status $RC) within 60 s"
    else
        not_ok "a: the SIGTERM'd receiver still runs 60 s after SIGTERM"
        kill -9 "$rpid_t" 2>/dev/null
    fi
    # No check that the SIGKILL'd receiver left a .partial: a segment that
    # ends after the last periodic upload is stored whole and its .partial
    # removed, and the next upload is only due partial-interval after the
    # last one, so under this load (a segment every few seconds) the store
    # may rightly hold no .partial at the kill. What the periodic upload
    # promises is the RPO bound, which judge checks below.
    check "a: the SIGTERM'd receiver uploaded a .partial" has_key pg-wrl-term '^[0-9A-F]\{24\}\.partial'
    local nfull
    nfull=$(keys pg-wrl-term | grep -cE '^[0-9A-F]{24}(\.(gz|bz2|lz4|zst|xz|snappy))?$')
    check "a: full segments were uploaded during the load ($nfull)" test "$nfull" -ge 3

    restore a-term "$cf_t" "$IT_TMP/pg-wrl-a-rt" 28151 &&
        judge "a (receiver stopped with SIGTERM)" "$IT_TMP/pg-wrl-a-rt" "$acks" "$kt" $((PI + 1))
    pg_rig_stop "$IT_TMP/pg-wrl-a-rt"
    restore a-kill "$cf_k" "$IT_TMP/pg-wrl-a-rk" 28152 &&
        judge "a (receiver killed with SIGKILL)" "$IT_TMP/pg-wrl-a-rk" "$acks" "$kt" $((PI + 1))
    pg_rig_stop "$IT_TMP/pg-wrl-a-rk"
}

# ---- (b) --synchronous: every acknowledged commit ----------------------------------------
b_run() {
    local p=$IT_TMP/pg-wrl-b cf acks=$W/b.acks kt rpid bench
    cf=$(conf pg-wrl-sync)
    pg_rig_init "$p" 28153 || { not_ok "b: initdb"; return; }
    pg_rig_conf "$p" "archive_mode = off"
    pg_rig_conf "$p" "wal_keep_size = 512MB"
    pg_rig_start "$p" || { not_ok "b: start"; return; }
    pg_rig_psql "$p" "create table seqs (n bigint primary key)"
    pg_rig_pgbench "$p" -i -s 1 -q >/dev/null 2>&1 || not_ok "b: pgbench -i"

    # The default slot and application_name (pgpitr).
    recv_start b "$cf" "$(ci "$p")" --create-slot --synchronous
    rpid=$RECV_PID
    if wait_streaming "$p" pgpitr 30; then
        ok "b: the receiver streams as application_name pgpitr"
    else
        not_ok "b: the receiver does not stream: $(tail -n 5 "$W/b.recv.log")"
        return
    fi
    check "b: slot pgpitr exists" test "$(pg_rig_psql "$p" "select count(*) from pg_replication_slots where slot_name = 'pgpitr'")" = 1
    pg_rig_psql "$p" "alter system set synchronous_standby_names = 'pgpitr'" && pg_rig_psql "$p" "select pg_reload_conf()" >/dev/null
    local i
    for i in $(seq 1 50); do
        [ "$(pg_rig_psql "$p" "select sync_state from pg_stat_replication where application_name = 'pgpitr'")" = sync ] && break
        sleep 0.2
    done
    check "b: the receiver is the synchronous standby" \
        test "$(pg_rig_psql "$p" "select sync_state from pg_stat_replication where application_name = 'pgpitr'")" = sync
    backup "$p" "$cf" b || return

    pg_rig_pgbench "$p" -n -c 2 -T 20 >"$W/b.pgbench.log" 2>&1 &
    bench=$!
    (sleep 10 && pg_rig_psql "$p" "select pg_switch_wal()" >/dev/null 2>&1) &
    counter "$p" "$acks" 15 1
    kt=$EPOCHREALTIME
    kill_pg "$p"
    { kill -9 "$rpid" && wait "$rpid"; } 2>/dev/null
    wait "$bench" 2>/dev/null
    local n
    n=$(wc -l <"$acks")
    echo "# b: primary and receiver killed at $kt after $n acknowledged synchronous commits" \
        "($(awk -v n="$n" 'NR == 1 { a = $2 } END { if (n > 1) printf "%.1f", n / ($2 - a) }' "$acks")/s)"
    restore b "$cf" "$IT_TMP/pg-wrl-b-r" 28154 &&
        judge "b (--synchronous, primary and receiver SIGKILL'd)" "$IT_TMP/pg-wrl-b-r" "$acks" "$kt" ""
    pg_rig_stop "$IT_TMP/pg-wrl-b-r"
}

# ---- (c) timeline switch: promote the standby, the receiver follows ------------------------
c_run() {
    local p=$IT_TMP/pg-wrl-c1 s=$IT_TMP/pg-wrl-c2 cf acks=$W/c.acks rpid multi k
    cf=$(conf pg-wrl-tli)
    pg_rig_init "$p" 28155 || { not_ok "c: initdb"; return; }
    pg_rig_conf "$p" "archive_mode = off"
    pg_rig_conf "$p" "wal_keep_size = 512MB"
    pg_rig_start "$p" || { not_ok "c: primary start"; return; }
    pg_rig_psql "$p" "create table seqs (n bigint primary key)"

    mkdir -p "$s/sock"
    chown -R postgres:postgres "$s"
    if ! pg_rig_as "$PG_BIN/pg_basebackup" -h "$p/sock" -p 28155 -U postgres -D "$s/data" -R -X stream -c fast \
        >"$W/c.basebackup.log" 2>&1; then
        not_ok "c: pg_basebackup -R: $(tail -n 5 "$W/c.basebackup.log")"
        return
    fi
    echo 28156 >"$s/port"
    printf "port = 28156\nunix_socket_directories = '%s/sock'\nhot_standby = on\n" "$s" >>"$s/data/postgresql.conf"
    pg_rig_start "$s" || { not_ok "c: standby start"; return; }
    check "c: the standby streams from the primary" wait_streaming "$p" walreceiver 30

    multi="host=$p/sock,$s/sock port=28155,28156 user=postgres dbname=postgres target_session_attrs=read-write"
    recv_start c "$cf" "$multi" --create-slot
    rpid=$RECV_PID
    if wait_streaming "$p" pgpitr 30; then
        ok "c: the receiver (two hosts, read-write) streams from the primary"
    else
        not_ok "c: the receiver does not stream: $(tail -n 5 "$W/c.recv.log")"
        return
    fi
    backup "$p" "$cf" c || return
    counter "$p" "$acks" 8 1
    local tl1
    tl1=$(wc -l <"$acks")
    # The standby must have everything before the old primary goes.
    wait_flushed "$p" walreceiver 30 || not_ok "c: the standby did not catch up"
    pg_rig_stop "$p"
    if pg_rig_as "$PG_BIN/pg_ctl" -D "$s/data" -w -t 60 promote >/dev/null; then
        ok "c: the standby was promoted"
    else
        not_ok "c: pg_ctl promote failed"
        return
    fi
    check "c: the new primary writes timeline 2" test "$(tli_of "$s")" = 2
    if wait_streaming "$s" pgpitr 60; then
        ok "c: the receiver follows the new primary"
    else
        not_ok "c: the receiver does not stream from the new primary within 60 s: $(tail -n 5 "$W/c.recv.log")"
        return
    fi
    check "c: the receiver created its slot on the new primary" \
        test "$(pg_rig_psql "$s" "select count(*) from pg_replication_slots where slot_name = 'pgpitr'")" = 1
    for _ in $(seq 1 50); do
        keys pg-wrl-tli | grep -q '^00000002\.history' && break
        sleep 0.4
    done
    check "c: 00000002.history is in the store" has_key pg-wrl-tli '^00000002\.history'
    counter "$s" "$acks" 8 1000001
    echo "# c: $tl1 commits on timeline 1, $(($(wc -l <"$acks") - tl1)) on timeline 2"
    check "c: the receiver has flushed the new primary's WAL" wait_flushed "$s" pgpitr 30
    kill -TERM "$rpid"
    wait_exit "$rpid" 60 || { not_ok "c: the receiver still runs 60 s after SIGTERM"; kill -9 "$rpid"; }
    pg_rig_stop "$s"
    check "c: timeline-2 WAL is in the store" has_key pg-wrl-tli '^00000002[0-9A-F]\{16\}'
    local r=$IT_TMP/pg-wrl-c-r
    restore c "$cf" "$r" 28157 || return
    judge "c (across the switch to timeline 2)" "$r" "$acks" "$EPOCHREALTIME" ""
    check "c: rows of timeline 1 and of timeline 2 are there" \
        test "$(pg_rig_psql "$r" "select count(*) filter (where n < 1000001) > 0 and count(*) filter (where n >= 1000001) > 0 from seqs")" = t
    check "c: the restored copy ended recovery on a timeline after 2 ($(tli_of "$r"))" test "$(tli_of "$r")" -ge 3
    pg_rig_stop "$r"
}

t0=$(date +%s)
a_run
echo "# (a) took $(($(date +%s) - t0)) s"
t1=$(date +%s)
b_run
echo "# (b) took $(($(date +%s) - t1)) s"
t1=$(date +%s)
c_run
echo "# (c) took $(($(date +%s) - t1)) s; the suite $(($(date +%s) - t0)) s"
finish

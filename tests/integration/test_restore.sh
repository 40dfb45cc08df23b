#!/usr/bin/env bash
# End to end: `pgpitr restore` of a `pgpitr backup` of a real PostgreSQL 15
# (with a tablespace, relocated with --tablespace), recovering through
# `pgpitr wal-fetch` to a time (RFC 3339 with Z, and an offset), a restore
# point, the end of the backup (immediate) and the end of the archive; then
# refusals: a target before the first backup (exit 3), a non-empty PGDATA
# (exit 3), a flipped byte in a stored volume (the volume or file is named).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

write_conf() {
    local f=$1 kind=$2 name=$3
    case $kind in
    file)
        printf 'repo = file://%s/rs-%s\nserver = pg-rs\n' "$IT_TMP" "$name" >"$f"
        mkdir -p "$IT_TMP/rs-$name"
        chown postgres:postgres "$IT_TMP/rs-$name"
        ;;
    s3)
        printf 'repo = s3://%s/rs-%s\nserver = pg-rs\nendpoint-url = %s\n' \
            "$PITR_TEST_BUCKET" "$name" "$PITR_TEST_S3_ENDPOINT" >"$f"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\ns3-url-style = path\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$f"
        ;;
    esac
    chown postgres:postgres "$f"
    chmod 600 "$f"
}

NEXT_PORT=26150
# restore_check KIND NAME WANT RESTORE-ARGS...: restore into a new PGDATA, start it,
# wait for the end of recovery, and compare the batches in table t with WANT.
restore_check() {
    local kind=$1 name=$2 want=$3 r=$IT_TMP/pg-rs-$1-$2 got out
    shift 3
    NEXT_PORT=$((NEXT_PORT + 1))
    mkdir -p "$r/sock"
    out=$("$PGPITR_BIN" --config "$CONF" restore "$@" --tablespace "$TBS_OID:$r/tbs" "$r/data" 2>"$r.err")
    if [ $? -ne 0 ]; then not_ok "$kind/$name: restore failed: $(cat "$r.err")"; return; fi
    ok "$kind/$name: restore exit 0"
    sed "s/^/# /" <<<"$out"
    check "$kind/$name: summary names the backup" grep -q "restored backup $BACKUP_ID" <<<"$out"
    check "$kind/$name: PGDATA is 0700" test "$(stat -c %a "$r/data")" = 700
    check "$kind/$name: pg_tblspc link points at the relocated tablespace" \
        test "$(readlink "$r/data/pg_tblspc/$TBS_OID")" = "$r/tbs"
    check "$kind/$name: recovery.signal and pg_wal/archive_status exist" \
        test -f "$r/data/recovery.signal" -a -d "$r/data/pg_wal/archive_status"
    check "$kind/$name: restore_command is this binary's wal-fetch" \
        grep -q "^restore_command = '$PGPITR_BIN --config $CONF --repo .* wal-fetch %f %p'" "$r/data/postgresql.auto.conf"
    check "$kind/$name: no secret in postgresql.auto.conf" sh -c "! grep -qi 'secret' '$r/data/postgresql.auto.conf'"
    cat >>"$r/data/postgresql.auto.conf" <<CONF
port = $NEXT_PORT
unix_socket_directories = '$r/sock'
archive_mode = off
CONF
    echo "$NEXT_PORT" >"$r/port"
    chown -R postgres:postgres "$r"
    if ! pg_rig_start "$r"; then not_ok "$kind/$name: restored server does not start"; return; fi
    for _ in $(seq 1 300); do
        [ "$(pg_rig_psql "$r" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
        sleep 0.2
    done
    check "$kind/$name: recovery ended (promoted)" test "$(pg_rig_psql "$r" "select pg_is_in_recovery()")" = f
    got=$(pg_rig_psql "$r" "select string_agg(distinct batch::text, ',' order by batch::text) from t")
    if [ "$got" = "$want" ]; then ok "$kind/$name: batches $got"; else not_ok "$kind/$name: batches '$got', expected '$want'; $(tail -n 5 "$r/log")"; fi
    check "$kind/$name: the tablespace table is readable" test "$(pg_rig_psql "$r" "select count(*) from in_tbs")" = 1000
    pg_rig_stop "$r"
}

run_kind() {
    local kind=$1 port=$2 d=$IT_TMP/pg-rs-src-$1 json last t_utc t_off
    CONF=$IT_TMP/pgpitr-rs-$kind.conf
    echo "# repository kind: $kind"
    write_conf "$CONF" "$kind" "$kind"
    pg_rig_init "$d" "$port" || { not_ok "$kind: initdb"; return; }
    pg_rig_conf "$d" "archive_mode = on"
    pg_rig_conf "$d" "archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
    pg_rig_start "$d" || { not_ok "$kind: server start"; return; }
    mkdir -p "$IT_TMP/rs-tbs-$kind" && chown postgres:postgres "$IT_TMP/rs-tbs-$kind"
    pg_rig_psql "$d" "create tablespace tbs1 location '$IT_TMP/rs-tbs-$kind'"
    pg_rig_psql "$d" "create table in_tbs (id int) tablespace tbs1; insert into in_tbs select generate_series(1, 1000)"
    pg_rig_psql "$d" "create table t (batch int, v int); insert into t select 0, g from generate_series(1, 1000) g"
    TBS_OID=$(pg_rig_psql "$d" "select oid from pg_tablespace where spcname = 'tbs1'")

    # As the postgres user: the repository folders it creates must stay writable by archive_command.
    json=$(pg_rig_as env PGHOST=$d/sock PGPORT=$port PGUSER=postgres \
        "$PGPITR_BIN" --config "$CONF" backup --immediate-checkpoint --wal-wait-timeout 60 --json 2>"$IT_TMP/rs-backup-$kind.err")
    BACKUP_ID=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' 2>/dev/null)
    check "$kind: backup DONE" grep -q '"status": "DONE"' <<<"$json"

    pg_rig_psql "$d" "insert into t select 1, g from generate_series(1, 1000) g"
    t_utc=$(pg_rig_psql "$d" "select to_char(now() at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    t_off=$(pg_rig_psql "$d" "select to_char(now() at time zone 'utc' + interval '2 hours', 'YYYY-MM-DD HH24:MI:SS.US') || '+02:00'")
    pg_rig_psql "$d" "select pg_create_restore_point('after_batch_1')" >/dev/null
    sleep 1
    pg_rig_psql "$d" "insert into t select 2, g from generate_series(1, 1000) g"
    last=$(pg_rig_psql "$d" "select pg_walfile_name(pg_switch_wal())")
    for _ in $(seq 1 150); do
        [ "$(pg_rig_psql "$d" "select coalesce(last_archived_wal, '') >= '$last' from pg_stat_archiver")" = t ] && break
        sleep 0.2
    done
    echo "# target times: $t_utc and $t_off"

    restore_check "$kind" time-utc "0,1" latest --target-time "$t_utc"
    [ "$kind" = file ] || { pg_rig_stop "$d"; return; }
    restore_check "$kind" time-offset "0,1" --target-time "$t_off" -J 1
    restore_check "$kind" name "0,1" "$BACKUP_ID" --target-name after_batch_1
    restore_check "$kind" immediate "0" latest --target-immediate
    restore_check "$kind" latest "0,1,2" latest

    # Refusals.
    expect_exit "$kind: target time before the first backup" 3 \
        "$PGPITR_BIN" --config "$CONF" restore --target-time '2000-01-01 00:00:00' "$IT_TMP/rs-never"
    expect_err_has "$kind: the message names the earliest possible target" "earliest possible target time is"
    check "$kind: nothing created for a refused restore" test ! -e "$IT_TMP/rs-never"
    expect_exit "$kind: malformed target time" 3 \
        "$PGPITR_BIN" --config "$CONF" restore --target-time 'yesterday' "$IT_TMP/rs-never"
    expect_exit "$kind: two targets" 3 \
        "$PGPITR_BIN" --config "$CONF" restore --target-immediate --target-name x "$IT_TMP/rs-never"
    expect_exit "$kind: unknown backup id" 1 \
        "$PGPITR_BIN" --config "$CONF" restore 20000101T000000 "$IT_TMP/rs-never"
    mkdir -p "$IT_TMP/rs-full" && touch "$IT_TMP/rs-full/PG_VERSION"
    expect_exit "$kind: non-empty PGDATA refused" 3 \
        "$PGPITR_BIN" --config "$CONF" restore --tablespace "$TBS_OID:$IT_TMP/rs-full-tbs" "$IT_TMP/rs-full"
    expect_err_has "$kind: the refusal names PGDATA" "PGDATA '$IT_TMP/rs-full' is not empty"
    expect_exit "$kind: tablespace location in use refused" 3 \
        "$PGPITR_BIN" --config "$CONF" restore "$IT_TMP/rs-tbs-in-use"
    expect_err_has "$kind: the refusal names the tablespace location" "'$IT_TMP/rs-tbs-$kind' is not empty"
    check "$kind: a refused restore creates no PGDATA" test ! -e "$IT_TMP/rs-tbs-in-use"

    # The other settings, written without starting the server.
    local rc_dir=$IT_TMP/rs-settings lsn
    lsn=$(pg_rig_psql "$d" "select pg_current_wal_lsn()")
    "$PGPITR_BIN" --config "$CONF" restore --target-lsn "$lsn" --exclusive --target-tli latest \
        --target-action pause --standby -J 2 --tablespace "$TBS_OID:$rc_dir/tbs" "$rc_dir/data" >/dev/null 2>"$rc_dir.err"
    check "$kind: restore with --target-lsn: exit 0 $(cat "$rc_dir.err")" test -f "$rc_dir/data/PG_VERSION"
    for line in "recovery_target_lsn = '$lsn'" "recovery_target_inclusive = 'false'" \
        "recovery_target_timeline = 'latest'" "recovery_target_action = 'pause'"; do
        check "$kind: postgresql.auto.conf has $line" grep -qxF "$line" "$rc_dir/data/postgresql.auto.conf"
    done
    check "$kind: --standby creates standby.signal, not recovery.signal" \
        test -f "$rc_dir/data/standby.signal" -a ! -e "$rc_dir/data/recovery.signal"
    expect_exit "$kind: LSN target before the first backup" 3 \
        "$PGPITR_BIN" --config "$CONF" restore --target-lsn 0/1 "$IT_TMP/rs-never"
    expect_err_has "$kind: the message names the earliest possible LSN" "earliest possible target LSN is after"

    # A flipped byte in a stored volume (a copy of the repository).
    cp -a "$IT_TMP/rs-$kind" "$IT_TMP/rs-corrupt"
    sed "s#/rs-$kind\$#/rs-corrupt#" "$CONF" >"$IT_TMP/rs-corrupt.conf"
    local vol=$IT_TMP/rs-corrupt/pg-rs/base/$BACKUP_ID/data.tar.gz size
    size=$(stat -c %s "$vol")
    python3 - "$vol" $((size / 2)) <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xFF]))
PY
    T_ERR=$("$PGPITR_BIN" --config "$IT_TMP/rs-corrupt.conf" restore --tablespace "$TBS_OID:$IT_TMP/rs-c-tbs" "$IT_TMP/rs-c-data" 2>&1 >/dev/null)
    local rc=$?
    if [ $rc -ne 0 ]; then ok "$kind: flipped byte: restore fails (exit $rc)"; else not_ok "$kind: flipped byte: restore succeeded"; fi
    case "$T_ERR" in
    *"data.tar.gz"*) ok "$kind: flipped byte: the volume or file is named: $T_ERR" ;;
    *) not_ok "$kind: flipped byte: message names neither volume nor file: $T_ERR" ;;
    esac

    # The manifest names a file whose content differs: the file is named.
    cp -a "$IT_TMP/rs-$kind" "$IT_TMP/rs-badsum"
    sed "s#/rs-$kind\$#/rs-badsum#" "$CONF" >"$IT_TMP/rs-badsum.conf"
    python3 - "$IT_TMP/rs-badsum/pg-rs/base/$BACKUP_ID/pgpitr.manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
f = next(f for f in m["files"] if f["path"].endswith("PG_VERSION"))
f["sha256"] = "0" * 64
json.dump(m, open(sys.argv[1], "w"))
PY
    expect_exit "$kind: a file differing from the manifest fails" 16 \
        "$PGPITR_BIN" --config "$IT_TMP/rs-badsum.conf" restore --tablespace "$TBS_OID:$IT_TMP/rs-b-tbs" "$IT_TMP/rs-b-data"
    expect_err_has "$kind: the differing file is named" "PG_VERSION' (volume 'data.tar.gz') does not match the manifest"

    # barman-cloud's layout has no manifest: restored without the check.
    cp -a "$IT_TMP/rs-$kind" "$IT_TMP/rs-barman"
    sed "s#/rs-$kind\$#/rs-barman#" "$CONF" >"$IT_TMP/rs-barman.conf"
    rm "$IT_TMP/rs-barman/pg-rs/base/$BACKUP_ID/pgpitr.manifest.json"
    T_ERR=$("$PGPITR_BIN" --config "$IT_TMP/rs-barman.conf" restore --tablespace "$TBS_OID:$IT_TMP/rs-m-tbs" "$IT_TMP/rs-m-data" 2>&1 >/dev/null)
    check "$kind: a backup without manifest restores: $T_ERR" test -f "$IT_TMP/rs-m-data/PG_VERSION" -a -f "$IT_TMP/rs-m-data/backup_label"
    pg_rig_stop "$d"
}

port=26101
for kind in ${IT_REPO_KINDS:-file}; do
    [ "$kind" = s3tls ] && continue
    run_kind "$kind" "$port"
    port=$((port + 1))
done

finish

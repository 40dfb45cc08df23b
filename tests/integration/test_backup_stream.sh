#!/usr/bin/env bash
# End to end: `pgpitr backup --method stream` (BASE_BACKUP over a replication
# connection) of a real PostgreSQL 15 with a tablespace, while pgbench writes,
# into file:// and s3:// (Swift over plain HTTP). The objects are fetched with
# `pgpitr object-get`, the tars extracted by hand, the copy checked with
# pg_verifybackup against the server's own backup_manifest and with our
# pgpitr.manifest.json, then recovered through `pgpitr wal-fetch`: the pgbench
# tables must match the source. Then a backup of a hot standby, the config
# key, --min-chunk-size, and bad input (a role without REPLICATION, server
# down), each with its exit code and message.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

SERVER=pg-st

# write_conf FILE KIND: a pgpitr config for a repository of that kind.
write_conf() {
    local f=$1 kind=$2
    case $kind in
    file)
        printf 'repo = file://%s/st-%s\nserver = %s\n' "$IT_TMP" "$kind" "$SERVER" >"$f"
        mkdir -p "$IT_TMP/st-$kind"
        chown postgres:postgres "$IT_TMP/st-$kind"
        ;;
    s3)
        printf 'repo = s3://%s/st-%s\nserver = %s\nendpoint-url = %s\n' \
            "$PITR_TEST_BUCKET" "$kind" "$SERVER" "$PITR_TEST_S3_ENDPOINT" >"$f"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\ns3-url-style = path\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$f"
        ;;
    esac
    chown postgres:postgres "$f"
    chmod 600 "$f"
}

# get CONF ID NAME DEST: object-get <server>/base/ID/NAME into DEST/NAME.
get() {
    "$PGPITR_BIN" --config "$1" object-get "$SERVER/base/$2/$3" "$4/$3"
}

# fetch CONF ID DEST: the backup's objects, named by its manifest's volume list.
fetch() {
    local conf=$1 id=$2 dest=$3 v
    mkdir -p "$dest"
    for v in pgpitr.manifest.json backup.info backup_manifest; do
        get "$conf" "$id" "$v" "$dest" || return 1
    done
    for v in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["volumes"]))' \
        "$dest/pgpitr.manifest.json"); do
        get "$conf" "$id" "$v" "$dest" || return 1
    done
}

BARMAN_KEYS="backup_label begin_offset begin_time begin_wal begin_xlog compression config_file
copy_stats deduplicated_size end_offset end_time end_wal end_xlog error hba_file ident_file
included_files mode pgdata server_name size status systemid tablespaces timeline version
xlog_segment_size"

tables_md5() {
    pg_rig_psql "$1" "select md5(string_agg(x, ',' order by x)) from (
        select 'a' || md5(string_agg(t::text, '' order by aid)) x from pgbench_accounts t
        union all select 'b' || md5(string_agg(t::text, '' order by bid)) from pgbench_branches t
        union all select 't' || md5(string_agg(t::text, '' order by tid)) from pgbench_tellers t
        union all select 'h' || md5(string_agg(t::text, '' order by tid, bid, aid, mtime, delta))
            from pgbench_history t
        union all select 'i' || md5(string_agg(t::text, '' order by id)) from in_tbs t) s"
}

# stop_pgbench DIR PID: end pgbench's sessions, then wait for it.
stop_pgbench() {
    pg_rig_psql "$1" "select pg_terminate_backend(pid) from pg_stat_activity
        where application_name = 'pgbench'" >/dev/null
    wait "$2"
}

# wait_archived DIR: switch WAL and wait until the archiver has stored it.
wait_archived() {
    local last
    last=$(pg_rig_psql "$1" "select pg_walfile_name(pg_switch_wal())")
    for _ in $(seq 1 150); do
        [ "$(pg_rig_psql "$1" "select coalesce(last_archived_wal, '') >= '$last' from pg_stat_archiver")" = t ] && return 0
        sleep 0.2
    done
    return 1
}

# Our manifest against the server's (same files, same sizes) and against the
# extracted bytes (SHA-256), tablespace members under pg_tblspc/<oid>/.
MANIFEST_CHECK='
import hashlib, json, os, sys
ours, theirs, root, oid = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
def where(f):
    tbs = f["volume"].split(".")[0].split("_")[0] == oid
    return ("pg_tblspc/%s/" % oid if tbs else "") + f["path"]
mine = {where(f): f for f in ours["files"]}
server = {f["Path"]: f["Size"] for f in theirs["Files"] if f["Path"] != "tablespace_map"}
assert set(mine) == set(server), sorted(set(mine) ^ set(server))[:5]
for p, f in mine.items():
    assert f["size"] == server[p], (p, f["size"], server[p])
    assert hashlib.sha256(open(os.path.join(root, p), "rb").read()).hexdigest() == f["sha256"], p
print(len(mine))
'

run_kind() {
    local kind=$1 port=$2 d=$IT_TMP/pg-st-$1 conf=$IT_TMP/pgpitr-st-$1.conf
    local r=$IT_TMP/pg-str-$1 bk=$IT_TMP/fetched-st-$1 json out id info oid before n

    echo "# [${SECONDS}s] repository kind: $kind"
    write_conf "$conf" "$kind"
    it_backup_source "$d" "$port" "$conf" 5 "$IT_TMP/st-tbs-$kind" 20000 || { not_ok "$kind: source server"; return; }
    oid=$(pg_rig_psql "$d" "select oid from pg_tablespace where spcname = 'tbs1'")

    # The backup runs while pgbench writes (stopped once the backup ended). PGDATA is
    # readable here: --method forces stream.
    pg_rig_pgbench "$d" -c 2 -T 120 -n >/dev/null 2>&1 &
    local bench=$!
    sleep 2
    json=$(PGHOST=$d/sock PGPORT=$port PGUSER=postgres "$PGPITR_BIN" --config "$conf" backup \
        --method stream -J 2 --immediate-checkpoint --min-chunk-size 6MB --name "st-$kind" --json \
        2>"$IT_TMP/st-backup-$kind.err")
    out=$?
    echo "# [${SECONDS}s] stream backup to $kind: $json"
    if [ "$out" -eq 0 ]; then ok "$kind: stream backup exit 0"; else not_ok "$kind: stream backup exit $out: $(cat "$IT_TMP/st-backup-$kind.err")"; fi
    case "$json" in *'"status": "DONE"'*) ok "$kind: --json says DONE" ;; *) not_ok "$kind: --json: $json" ;; esac
    if kill -0 "$bench" 2>/dev/null; then ok "$kind: pgbench was still writing when the backup ended"; else not_ok "$kind: pgbench ended before the backup"; fi
    stop_pgbench "$d" "$bench"
    id=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' 2>/dev/null)
    before=$(tables_md5 "$d")
    echo "# [${SECONDS}s] $kind: pgbench stopped"
    check "$kind: source's last WAL archived" wait_archived "$d"

    rm -rf "$bk"
    check "$kind: objects fetched with pgpitr object-get" fetch "$conf" "$id" "$bk"
    info=$(cat "$bk/backup.info" 2>/dev/null)
    check "$kind: backup.info says DONE" grep -qx 'status=DONE' <<<"$info"
    check "$kind: backup.info has barman 3.4's keys (plus backup_name)" \
        test "$(sed 's/=.*//' <<<"$info" | grep -v '^backup_name$' | tr '\n' ' ')" = "$(echo $BARMAN_KEYS) "
    check "$kind: backup.info names the tablespace" \
        grep -qx "tablespaces=\[('tbs1', $oid, '$IT_TMP/st-tbs-$kind')\]" <<<"$info"
    check "$kind: backup.info keeps the server's backup_label (streamed)" \
        grep -q "^backup_label='.*BACKUP METHOD: streamed.*LABEL: pgpitr backup $id" <<<"$info"
    check "$kind: backup.info pgdata is the server's data directory" grep -qx "pgdata=$d/data" <<<"$info"
    # No tablespace_map, as in barman-cloud's layout: left behind by
    # barman-cloud-restore it would undo --tablespace (test_interop_matrix).
    check "$kind: data.tar.gz holds backup_label and no tablespace_map" \
        sh -c "tar -tzf '$bk/data.tar.gz' | grep -qx backup_label && ! tar -tzf '$bk/data.tar.gz' | grep -qx tablespace_map"
    check "$kind: $oid.tar.gz holds only the PG_15 directory" \
        sh -c "tar -tzf '$bk/$oid.tar.gz' | grep -v '^PG_15_' | { ! grep -q .; }"
    check "$kind: no pg_wal contents, no postmaster.pid" \
        sh -c "! tar -tzf '$bk/data.tar.gz' | grep -E '^pg_wal/[0-9A-F]|postmaster.pid'"

    # By hand: extract, link the tablespace, verify with the server's manifest.
    mkdir -p "$r/data" "$r/sock" "$r/tbs"
    tar -xzf "$bk/data.tar.gz" -C "$r/data" || not_ok "$kind: tar -x data"
    tar -xzf "$bk/$oid.tar.gz" -C "$r/tbs" || not_ok "$kind: tar -x tablespace"
    mkdir -p "$r/data/pg_tblspc" && ln -s "$r/tbs" "$r/data/pg_tblspc/$oid"
    out=$("$PG_BIN/pg_verifybackup" -n -i tablespace_map -m "$bk/backup_manifest" "$r/data" 2>&1)
    check "$kind: pg_verifybackup with the server's backup_manifest: $out" \
        test "$out" = "backup successfully verified"
    n=$(python3 -c "$MANIFEST_CHECK" "$bk/pgpitr.manifest.json" "$bk/backup_manifest" "$r/data" "$oid" 2>&1)
    if [ "$n" -gt 900 ] 2>/dev/null; then ok "$kind: pgpitr.manifest.json matches the server's manifest and the bytes ($n files)"; else not_ok "$kind: manifest check: $n"; fi

    # Recover through wal-fetch; tablespace_map points the tablespace at the copy.
    echo "$oid $r/tbs" >"$r/data/tablespace_map"
    rm "$r/data/pg_tblspc/$oid"
    echo "# [${SECONDS}s] $kind: verified, starting the copy"
    if it_recover_copy "$r" $((port + 10)) "$conf"; then ok "$kind: restored copy starts and recovers"; else not_ok "$kind: restored copy did not recover: $(tail -n 5 "$r/log")"; pg_rig_stop "$d"; return; fi
    it_check_copy "$kind" "$before" "$r" tables_md5
    pg_rig_stop "$r"

    # pgpitr restore with the tablespace moved: PostgreSQL must not go back to
    # the original location.
    if [ "$kind" = file ]; then
        local r2=$IT_TMP/pg-str2-$kind
        mkdir -p "$r2/sock"
        if "$PGPITR_BIN" --config "$conf" restore "$id" "$r2/data" \
            --tablespace "$oid:$r2/tbs" >"$r2/restore.log" 2>&1; then
            ok "$kind: pgpitr restore --tablespace of a stream backup"
        else
            not_ok "$kind: pgpitr restore --tablespace: $(tail -n 3 "$r2/restore.log")"
        fi
        chown -R postgres:postgres "$r2"
        check "$kind: restore left no tablespace_map behind" test ! -e "$r2/data/tablespace_map"
        echo $((port + 11)) >"$r2/port"
        printf "port = %s\nunix_socket_directories = '%s/sock'\narchive_mode = off\n" \
            $((port + 11)) "$r2" >>"$r2/data/postgresql.conf"
        pg_rig_start "$r2" || not_ok "$kind: the --tablespace copy did not start: $(tail -n 5 "$r2/log")"
        for _ in $(seq 1 300); do
            [ "$(pg_rig_psql "$r2" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
            sleep 0.2
        done
        it_check_copy "$kind (--tablespace)" "$before" "$r2" tables_md5
        pg_rig_stop "$r2"
    fi
    [ "$kind" = file ] || pg_rig_stop "$d"
}

for kind in ${IT_REPO_KINDS:-file}; do
    case $kind in
    file) run_kind file 27000 ;;
    s3) run_kind s3 27001 ;;
    esac # s3tls: TLS is the S3 layer's test
done

# ---- the file primary again: standby, config key, bad input -------------------------
d=$IT_TMP/pg-st-file
conf=$IT_TMP/pgpitr-st-file.conf
s=$IT_TMP/pg-st-standby
export PGHOST=$d/sock PGPORT=27000 PGUSER=postgres

# A hot standby, backed up over its own replication connection while the primary writes.
mkdir -p "$s/sock" && chown -R postgres:postgres "$s"
if pg_rig_as "$PG_BIN/pg_basebackup" -h "$d/sock" -p 27000 -U postgres -D "$s/data" -R -X stream -c fast \
    -T "$IT_TMP/st-tbs-file=$s/tbs" >"$s/basebackup.log" 2>&1; then
    echo 27020 >"$s/port"
    printf "port = 27020\nunix_socket_directories = '%s/sock'\nhot_standby = on\narchive_mode = off\n" "$s" \
        >>"$s/data/postgresql.conf"
    pg_rig_start "$s" || not_ok "standby: start"
    pg_rig_pgbench "$d" -c 1 -T 120 -n >/dev/null 2>&1 &
    bench=$!
    PGHOST=$s/sock PGPORT=27020 "$PGPITR_BIN" --config "$conf" backup --method stream \
        --immediate-checkpoint --wal-wait-timeout 60 --json >"$IT_TMP/st-standby.json" 2>"$IT_TMP/st-standby.err" &
    victim=$!
    # The standby's end segment is archived by the primary once it is full: switch it along.
    while kill -0 "$victim" 2>/dev/null; do
        pg_rig_psql "$d" "select pg_switch_wal()" >/dev/null
        sleep 1
    done
    wait "$victim"
    out=$?
    json=$(cat "$IT_TMP/st-standby.json")
    stop_pgbench "$d" "$bench"
    echo "# [${SECONDS}s] standby stream backup: $json"
    if [ "$out" -eq 0 ]; then ok "standby: stream backup exit 0"; else not_ok "standby: exit $out: $(cat "$IT_TMP/st-standby.err")"; fi
    id=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' 2>/dev/null)
    check "standby: backup.info DONE, backup_label says BACKUP FROM: standby" sh -c \
        "grep -qx status=DONE '$IT_TMP/st-file/$SERVER/base/$id/backup.info' &&
         grep -q 'BACKUP FROM: standby' '$IT_TMP/st-file/$SERVER/base/$id/backup.info'"
    check "standby: the server's backup_manifest is stored" test -s "$IT_TMP/st-file/$SERVER/base/$id/backup_manifest"
    pg_rig_stop "$s"
else
    not_ok "standby: pg_basebackup -R: $(tail -n 5 "$s/basebackup.log")"
fi

echo "# [${SECONDS}s] config key and bad input"
# The config key 'method' selects stream mode (only stream mode stores backup_manifest).
sleep 1
cp "$conf" "$conf.method" && echo "method = stream" >>"$conf.method"
expect_exit "config key method = stream" 0 "$PGPITR_BIN" --config "$conf.method" backup --immediate-checkpoint
id=$(ls "$IT_TMP/st-file/$SERVER/base" | tail -n 1)
check "config key: the backup is a stream backup" test -s "$IT_TMP/st-file/$SERVER/base/$id/backup_manifest"
# No method anywhere: stream when $PGDATA is not readable here, and the log says why.
sleep 1
expect_exit "automatic method, unreadable \$PGDATA" 0 env PGDATA="$IT_TMP/not-here" \
    "$PGPITR_BIN" --config "$conf" --log-level info backup --immediate-checkpoint
expect_err_has "automatic method says stream and why" "method stream (the data directory '$IT_TMP/not-here' is not readable here)"
id=$(ls "$IT_TMP/st-file/$SERVER/base" | tail -n 1)
check "automatic method: the backup is a stream backup" test -s "$IT_TMP/st-file/$SERVER/base/$id/backup_manifest"
expect_exit "unknown method in the config file" 3 env PGPITR_METHOD=copy "$PGPITR_BIN" --config "$conf" backup
expect_err_has "unknown method is named" "unknown --method 'copy'"
expect_exit "--min-chunk-size garbage" 3 "$PGPITR_BIN" --config "$conf" backup --min-chunk-size 6XB
expect_exit "--min-chunk-size above S3's 5 GiB part limit" 3 "$PGPITR_BIN" --config "$conf" backup --min-chunk-size 6GB
expect_err_has "--min-chunk-size says why" "5 GiB"

# The server ends the replication connection mid-stream: FAILED, never DONE, named.
"$PGPITR_BIN" --config "$conf" --compression bzip2 backup --method stream -J 1 --immediate-checkpoint \
    --name cut 2>"$IT_TMP/st-cut.err" &
victim=$!
for _ in $(seq 1 50); do
    [ "$(pg_rig_psql "$d" "select count(*) from pg_stat_activity where backend_type = 'walsender'")" -gt 0 ] && break
    sleep 0.1
done
sleep 0.5
pg_rig_psql "$d" "select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'walsender'" >/dev/null
wait "$victim"
out=$?
check "walsender terminated mid-backup: exit $out (not 0)" test "$out" -ne 0
id=$(grep -l '^backup_name=cut$' "$IT_TMP"/st-file/$SERVER/base/*/backup.info 2>/dev/null | head -n 1)
check "walsender terminated: backup.info says FAILED" grep -qx 'status=FAILED' "$id"
check "walsender terminated: the error names the stream" grep -q '^error=failure uploading data (.*BASE_BACKUP' "$id"
check "walsender terminated: no volume of it left half-written" \
    sh -c "! find '$IT_TMP/st-file' -name '*pitr-tmp*' | grep -q ."

# Bad input.
n=$(ls "$IT_TMP/st-file/$SERVER/base" | wc -l)
pg_rig_psql "$d" "create role norepl login"
expect_exit "role without REPLICATION" 17 env PGUSER=norepl "$PGPITR_BIN" --config "$conf" backup --method stream
expect_err_has "the message names the role" "role 'norepl'"
expect_err_has "the message names the operation" "BASE_BACKUP"
expect_exit "server down" 17 env PGPORT=27049 "$PGPITR_BIN" --config "$conf" backup --method stream
expect_err_has "server down says so" "cannot connect to PostgreSQL"
check "no backup.info written for refused input" test "$(ls "$IT_TMP/st-file/$SERVER/base" | wc -l)" -eq "$n"
unset PGHOST PGPORT PGUSER
pg_rig_stop "$d"
echo "# [${SECONDS}s] done"
finish

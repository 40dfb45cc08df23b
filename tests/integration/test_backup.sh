#!/usr/bin/env bash
# End to end: `pgpitr backup` of a real PostgreSQL 15 (pgbench scale 10 plus a
# tablespace) while pgbench writes, into file:// and s3:// (Swift over plain
# HTTP). The tars are extracted by hand (tar -x) into a new PGDATA, which
# recovers through `pgpitr wal-fetch` and must hold exactly the source's data.
# Then bad input, each with its exit code and message, and failed backups
# that must never be DONE.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

# write_conf FILE KIND NAME: a pgpitr config for a repository of that kind.
write_conf() {
    local f=$1 kind=$2 name=$3
    case $kind in
    file)
        printf 'repo = file://%s/bk-%s\nserver = pg-bk\n' "$IT_TMP" "$name" >"$f"
        mkdir -p "$IT_TMP/bk-$name"
        chown postgres:postgres "$IT_TMP/bk-$name"
        ;;
    s3)
        printf 'repo = s3://%s/bk-%s\nserver = pg-bk\nendpoint-url = %s\n' \
            "$PITR_TEST_BUCKET" "$name" "$PITR_TEST_S3_ENDPOINT" >"$f"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\ns3-url-style = path\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$f"
        ;;
    esac
    chown postgres:postgres "$f"
    chmod 600 "$f"
}

# fetch_backup KIND NAME ID DEST: copy base/ID/* of that repository into DEST.
fetch_backup() {
    local kind=$1 name=$2 id=$3 dest=$4
    mkdir -p "$dest"
    if [ "$kind" = file ]; then
        cp "$IT_TMP/bk-$name/pg-bk/base/$id/"* "$dest/"
    else
        python3 - "$PITR_TEST_S3_ENDPOINT" "$PITR_TEST_BUCKET" "bk-$name/pg-bk/base/$id/" "$dest" <<'PY'
import os, sys, boto3
from botocore.config import Config
ep, bucket, prefix, dest = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(s3={"addressing_style": "path"}))
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        s3.download_file(bucket, o["Key"], os.path.join(dest, o["Key"][len(prefix):]))
PY
    fi
}

# info_of KIND NAME ID: print that backup's backup.info (empty when there is none).
info_of() {
    local kind=$1 name=$2 id=$3 t
    t=$(mktemp -d "$IT_TMP/info.XXXXXX")
    fetch_backup "$kind" "$name" "$id" "$t" >/dev/null 2>&1
    cat "$t/backup.info" 2>/dev/null
    rm -rf "$t"
}

# Every backup.info key barman 3.4 writes for barman-cloud backups, in order.
BARMAN_KEYS="backup_label begin_offset begin_time begin_wal begin_xlog compression config_file
copy_stats deduplicated_size end_offset end_time end_wal end_xlog error hba_file ident_file
included_files mode pgdata server_name size status systemid tablespaces timeline version
xlog_segment_size"

checksums() {
    local d=$1
    pg_rig_psql "$d" "select (select md5(string_agg(t::text, '' order by aid)) from pgbench_accounts t),
        (select md5(string_agg(t::text, '' order by bid)) from pgbench_branches t),
        (select md5(string_agg(t::text, '' order by tid)) from pgbench_tellers t),
        (select md5(string_agg(t::text, '' order by tid, bid, aid, mtime, delta)) from pgbench_history t),
        (select md5(string_agg(t::text, '' order by id)) from in_tbs t)"
}

run_kind() {
    local kind=$1 port=$2 d=$IT_TMP/pg-bk-$1 conf=$IT_TMP/pgpitr-bk-$1.conf
    local r=$IT_TMP/pg-bkr-$1 out id json begin last before info tbs_oid t0 t1
    local bk=$IT_TMP/fetched-bk-$1

    echo "# repository kind: $kind"
    write_conf "$conf" "$kind" "$kind"
    it_backup_source "$d" "$port" "$conf" 10 "$IT_TMP/tbs-$kind" 50000 || { not_ok "$kind: source server"; return; }
    tbs_oid=$(pg_rig_psql "$d" "select oid from pg_tablespace where spcname = 'tbs1'")

    # The backup runs while pgbench writes.
    pg_rig_pgbench "$d" -c 2 -T 15 -n >/dev/null 2>&1 &
    local bench=$!
    sleep 2
    t0=$(date +%s.%N)
    json=$(PGHOST=$d/sock PGPORT=$port PGUSER=postgres \
        "$PGPITR_BIN" --config "$conf" backup -J 2 --immediate-checkpoint --name "it-$kind" --json \
        2>"$IT_TMP/backup-$kind.err")
    out=$?
    t1=$(date +%s.%N)
    echo "# backup to $kind took $(echo "$t1 - $t0" | bc) s: $json"
    if [ "$out" -eq 0 ]; then ok "$kind: backup exit 0"; else not_ok "$kind: backup exit $out: $(cat "$IT_TMP/backup-$kind.err")"; fi
    id=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' 2>/dev/null)
    case "$json" in *'"status": "DONE"'*) ok "$kind: --json says DONE" ;; *) not_ok "$kind: --json: $json" ;; esac
    if kill -0 "$bench" 2>/dev/null; then ok "$kind: pgbench was still writing when the backup ended"; else not_ok "$kind: pgbench ended before the backup"; fi
    wait "$bench"

    # The source's final state: stop writing, archive everything, measure.
    before=$(checksums "$d")
    last=$(pg_rig_psql "$d" "select pg_walfile_name(pg_switch_wal())")
    for _ in $(seq 1 150); do
        [ "$(pg_rig_psql "$d" "select coalesce(last_archived_wal, '') >= '$last' from pg_stat_archiver")" = t ] && break
        sleep 0.2
    done

    rm -rf "$bk"
    fetch_backup "$kind" "$kind" "$id" "$bk"
    info=$(cat "$bk/backup.info" 2>/dev/null)
    check "$kind: backup.info says DONE" grep -qx 'status=DONE' <<<"$info"
    check "$kind: backup.info has barman 3.4's keys, sorted (plus backup_name)" \
        test "$(sed 's/=.*//' <<<"$info" | grep -v '^backup_name$' | tr '\n' ' ')" = "$(echo $BARMAN_KEYS) "
    check "$kind: backup.info names the tablespace" grep -qx "tablespaces=\[('tbs1', $tbs_oid, '$IT_TMP/tbs-$kind')\]" <<<"$info"
    check "$kind: backup.info backup_name" grep -qx "backup_name=it-$kind" <<<"$info"
    check "$kind: backup.info server_name=cloud" grep -qx 'server_name=cloud' <<<"$info"
    begin=$(sed -n 's/^begin_wal=//p' <<<"$info")
    check "$kind: --json begin_wal matches backup.info" grep -q "\"begin_wal\": \"$begin\"" <<<"$json"
    check "$kind: data.tar.gz and $tbs_oid.tar.gz stored" test -s "$bk/data.tar.gz" -a -s "$bk/$tbs_oid.tar.gz"
    check "$kind: data.tar.gz is valid gzip" gzip -t "$bk/data.tar.gz"
    check "$kind: backup_label is in data.tar.gz, tablespace_map is not" \
        sh -c "tar -tzf '$bk/data.tar.gz' | grep -qx backup_label && ! tar -tzf '$bk/data.tar.gz' | grep -q tablespace_map"
    check "$kind: global/pg_control is the last PGDATA file before backup_label" \
        sh -c "tar -tzf '$bk/data.tar.gz' | tail -n 2 | head -n 1 | grep -qx global/pg_control"
    check "$kind: no pg_wal contents, no postmaster.pid" \
        sh -c "! tar -tzf '$bk/data.tar.gz' | grep -E '^pg_wal/.|postmaster.pid'"

    # Restore by hand: extract, link the tablespace, recover through wal-fetch.
    mkdir -p "$r/data" "$r/sock" "$r/tbs"
    tar -xzf "$bk/data.tar.gz" -C "$r/data" || not_ok "$kind: tar -x data"
    tar -xzf "$bk/$tbs_oid.tar.gz" -C "$r/tbs" || not_ok "$kind: tar -x tablespace"
    ln -s "$r/tbs" "$r/data/pg_tblspc/$tbs_oid"
    # Our manifest: every file's size and SHA-256 match what tar -x extracted.
    check "$kind: manifest matches the extracted files" python3 - "$bk/pgpitr.manifest.json" "$r/data" "$r/tbs" "$tbs_oid" <<'PY'
import hashlib, json, os, sys
m = json.load(open(sys.argv[1]))
data, tbs, oid = sys.argv[2], sys.argv[3], sys.argv[4]
assert m["files"] and m["backup_id"], "empty manifest"
n = 0
for f in m["files"]:
    root = tbs if f["volume"].startswith(oid + ".") or f["volume"].startswith(oid + "_") else data
    p = os.path.join(root, f["path"][2:] if f["path"].startswith("./") else f["path"])
    b = open(p, "rb").read()
    assert len(b) == f["size"], (f["path"], len(b), f["size"])
    assert hashlib.sha256(b).hexdigest() == f["sha256"], f["path"]
    n += 1
assert n > 900, n
PY
    if it_recover_copy "$r" $((port + 100)) "$conf"; then ok "$kind: restored copy starts and recovers"; else not_ok "$kind: restored copy did not recover: $(tail -n 5 "$r/log")"; return; fi
    it_check_copy "$kind" "$before" "$r" checksums
    [ "$kind" = file ] && late_kill_folders "$d" "$port" "$conf" "$IT_TMP/bk-file/pg-bk/base" "$id"

    pg_rig_stop "$r"
    pg_rig_stop "$d"
}

# late_kill_folders D PORT CONF BASE ID: folders a backup killed after its last
# volume leaves on file:// (a volume, a lease file naming the backup's
# process, no backup.info): the next backup removes the one whose lease names
# a dead pid of this host, and leaves the one with a live lease, the one with
# no lease and the one with backup.info. ID's own lease is gone.
late_kill_folders() {
    local d=$1 port=$2 conf=$3 base=$4 id=$5 host dead live f err
    host=$(hostname | tr / _)
    true &
    dead=$!
    wait "$dead"
    sleep 300 &
    live=$!
    check "file: the DONE backup's lease is gone" test -z "$(ls -a "$base/$id" | grep pitr-tmp)"
    for f in 20000101T000001 20000101T000002 20000101T000003 20000101T000004; do
        mkdir -p "$base/$f" && echo volume >"$base/$f/data.tar"
    done
    touch "$base/20000101T000001/backup.pitr-tmp.$host.$dead.0" \
        "$base/20000101T000002/backup.pitr-tmp.$host.$live.0" \
        "$base/20000101T000004/backup.pitr-tmp.$host.$dead.0"
    echo status=FAILED >"$base/20000101T000004/backup.info"
    chown -R postgres:postgres "$base"
    sleep 1
    err=$(PGHOST=$d/sock PGPORT=$port PGUSER=postgres "$PGPITR_BIN" --config "$conf" --log-level info \
        backup -J 1 --immediate-checkpoint 2>&1 >/dev/null)
    check "file: a backup after late-killed ones succeeds" test $? -eq 0
    check "file: it removed the dead backup's volume and lease" \
        test -z "$(ls -A "$base/20000101T000001" 2>/dev/null)"
    check "file: a live lease keeps its folder" test -f "$base/20000101T000002/data.tar"
    check "file: a folder without lease or backup.info is left alone" test -f "$base/20000101T000003/data.tar"
    check "file: a folder with backup.info keeps its volume" test -f "$base/20000101T000004/data.tar"
    check "file: it says so" grep -q "removed 'pg-bk/base/20000101T000001/' (1 object(s))" <<<"$err"
    kill "$live" 2>/dev/null
    wait "$live" 2>/dev/null
    rm -rf "$base"/20000101T00000?
}

port=25532
for kind in ${IT_REPO_KINDS:-file}; do
    [ "$kind" = s3tls ] && continue # plain HTTP is enough for backups; TLS is the S3 layer's test
    run_kind "$kind" "$port"
    port=$((port + 1))
done

# ---- bad input, failures ----------------------------------------------------------
d=$IT_TMP/pg-bk-bad
conf=$IT_TMP/pgpitr-bk-bad.conf
conf2=$IT_TMP/pgpitr-bk-other.conf
write_conf "$conf" file bad
write_conf "$conf2" file other
pg_rig_init "$d" 25540 || not_ok "bad: initdb"
pg_rig_conf "$d" "archive_mode = on"
pg_rig_conf "$d" "archive_command = '$PGPITR_BIN --config $conf wal-push %p'"
pg_rig_start "$d" || not_ok "bad: server start"
pg_rig_pgbench "$d" -i -s 5 -q >/dev/null 2>&1
export PGHOST=$d/sock PGPORT=25540 PGUSER=postgres

mkdir -p "$IT_TMP/not-pgdata"
expect_exit "wrong PGDATA (no such directory)" 3 "$PGPITR_BIN" --config "$conf" backup --pgdata "$IT_TMP/nope"
expect_err_has "wrong PGDATA names the directory" "$IT_TMP/nope"
expect_exit "wrong PGDATA (not a data directory)" 3 "$PGPITR_BIN" --config "$conf" backup --pgdata "$IT_TMP/not-pgdata"
expect_err_has "wrong PGDATA says why" "is not a readable PostgreSQL data directory"
expect_exit "server down" 17 env PGPORT=25599 "$PGPITR_BIN" --config "$conf" backup
expect_err_has "server down says so" "cannot connect to PostgreSQL"
pg_rig_psql "$d" "create role nopriv login"
expect_exit "role without privileges" 17 env PGUSER=nopriv "$PGPITR_BIN" --config "$conf" backup --pgdata "$d/data"
expect_err_has "role without privileges names the failing step" "permission denied"
expect_exit "unknown --method" 3 "$PGPITR_BIN" --config "$conf" backup --method rsync
expect_err_has "unknown --method names it" "unknown --method 'rsync'"
expect_exit "--name shaped like a backup id" 3 "$PGPITR_BIN" --config "$conf" backup --name 20240101T000000
expect_exit "--name reserved" 3 "$PGPITR_BIN" --config "$conf" backup -n latest
expect_exit "--max-archive-size garbage" 3 "$PGPITR_BIN" --config "$conf" backup --max-archive-size 10XB
expect_exit "xz is not a backup codec" 3 "$PGPITR_BIN" --config "$conf" --compression xz backup
expect_exit "unknown option" 3 "$PGPITR_BIN" --config "$conf" backup --frobnicate
check "no backup.info written for refused input" sh -c "! ls '$IT_TMP/bk-bad/pg-bk/base' 2>/dev/null | grep -q ."

# Unreachable repository: nothing is started. Retries for 2 s, not the
# default 60 (giving up is what is checked, not how long it took).
expect_exit "unreachable repository" 2 env AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s PGPITR_RETRY_MAX_TIME=2 \
    "$PGPITR_BIN" --repo s3://nobucket/x --server pg-bk --endpoint-url http://127.0.0.1:9 backup --immediate-checkpoint
expect_err_has "unreachable repository says which" "127.0.0.1:9"
expect_err_has "unreachable repository: it retried, then gave up" "gave up after"

# The end WAL never reaches this repository (the server archives elsewhere): FAILED.
expect_exit "end WAL not archived in time" 4 "$PGPITR_BIN" --config "$conf2" backup --immediate-checkpoint \
    --wal-wait-timeout 2 --name never
expect_err_has "the message says the WAL did not arrive" "did not reach the archive"
id=$(ls "$IT_TMP/bk-other/pg-bk/base" 2>/dev/null | head -n 1)
info=$(info_of file other "$id")
check "FAILED backup.info written" grep -qx 'status=FAILED' <<<"$info"
check "FAILED backup.info says why" grep -q '^error=failure waiting for WAL archiving (the backup.s end WAL segment' <<<"$info"
check "FAILED backup.info keeps barman's keys" \
    test "$(sed 's/=.*//' <<<"$info" | grep -v '^backup_name$' | tr '\n' ' ')" = "$(echo $BARMAN_KEYS) "

# kill -9 in the middle: no DONE, and the next backup is unaffected.
rm -rf "$IT_TMP/bk-bad/pg-bk/base"
"$PGPITR_BIN" --config "$conf" backup -J 1 --compression bzip2 --immediate-checkpoint >/dev/null 2>&1 &
victim=$!
sleep 1.5
kill -9 "$victim" 2>/dev/null
wait "$victim" 2>/dev/null
check "killed backup left no DONE backup.info" \
    sh -c "! grep -rqx 'status=DONE' '$IT_TMP/bk-bad/pg-bk/base' 2>/dev/null"
sleep 1
expect_exit "the next backup after a kill succeeds" 0 "$PGPITR_BIN" --config "$conf" backup --immediate-checkpoint
check "and is DONE" sh -c "grep -rqx 'status=DONE' '$IT_TMP/bk-bad/pg-bk/base'"
check "after the next run, the killed backup left no temporary files in the repository" \
    sh -c "! find '$IT_TMP/bk-bad' -name '*pitr-tmp*' | grep -q ."
# Volumes split at --max-archive-size, each a tar of its own.
expect_exit "backup with 2MB volumes" 0 "$PGPITR_BIN" --config "$conf" --compression zstd backup \
    --immediate-checkpoint --max-archive-size 2MB
sleep 1
id=$(ls "$IT_TMP/bk-bad/pg-bk/base" | tail -n 1)
n=$(ls "$IT_TMP/bk-bad/pg-bk/base/$id" | grep -c '^data.*\.tar\.zst$')
if [ "$n" -ge 3 ]; then ok "zstd backup split into $n volumes"; else not_ok "only $n volumes: $(ls "$IT_TMP/bk-bad/pg-bk/base/$id")"; fi
bad=0
for v in "$IT_TMP/bk-bad/pg-bk/base/$id"/data*.tar.zst; do
    zstd -dc "$v" 2>/dev/null | tar -t >/dev/null 2>&1 || bad=$((bad + 1))
done
check "every volume is a complete zstd-compressed tar" test "$bad" -eq 0
unset PGHOST PGPORT PGUSER
pg_rig_stop "$d"
finish

#!/usr/bin/env bash
# A backup to S3 (Swift + s3api) killed with SIGKILL in the middle of a
# multipart upload leaves the upload (and its lease object) behind; the next
# `pgpitr backup` of the same server aborts it, and the killed backup is
# never DONE. A backup that is merely stopped (SIGSTOP: its process lives)
# keeps its upload while another backup of the same server runs, and then
# finishes DONE. Uploads are listed with boto3, not with pgpitr. Last,
# barman-cloud's --tags form reaches the store, which (Swift) refuses tags.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

if [ -z "${PITR_TEST_S3_ENDPOINT:-}" ]; then
    not_ok "the S3 rig is not running (PITR_TEST_S3_ENDPOINT is not set)"
    finish
    exit 1
fi

PORT=27051
d=$IT_TMP/pg-s3kill
conf=$IT_TMP/pgpitr-s3kill.conf
prefix=s3kill-$$
base=$prefix/pg-kill/base/

printf 'repo = s3://%s/%s\nserver = pg-kill\nendpoint-url = %s\ns3-url-style = path\n' \
    "$PITR_TEST_BUCKET" "$prefix" "$PITR_TEST_S3_ENDPOINT" >"$conf"
printf 'aws-access-key-id = %s\naws-secret-access-key = %s\npart-size = 5MiB\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$conf"
chown postgres:postgres "$conf"
chmod 600 "$conf"

# s3q WHAT [ARG]: ask the rig with boto3.
#   uploads             "KEY UPLOAD_ID" per multipart upload under base/
#   leases              every lease object (…pitr-tmp…) under base/
#   info ID             that backup's backup.info, or nothing
#   wait-upload SECS    wait until an upload and its lease exist; print the upload's key
#   put KEY [BODY]      store base/KEY
#   keys PREFIX         every object key under base/PREFIX, leases included
#   rm PREFIX           remove every object under base/PREFIX
s3q() {
    python3 - "$PITR_TEST_S3_ENDPOINT" "$PITR_TEST_BUCKET" "$base" "$@" <<'PY'
import sys, time, boto3
from botocore.config import Config
ep, bucket, base, what = sys.argv[1:5]
arg = sys.argv[5] if len(sys.argv) > 5 else None
s3 = boto3.client("s3", endpoint_url=ep, config=Config(s3={"addressing_style": "path"}))

def uploads():
    out = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=base):
        out += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
    return out

def leases():
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        out += [o["Key"] for o in page.get("Contents", []) if ".pitr-tmp." in o["Key"]]
    return out

if what == "uploads":
    for k, u in uploads():
        print(k, u)
elif what == "leases":
    for k in leases():
        print(k)
elif what == "info":
    try:
        print(s3.get_object(Bucket=bucket, Key=base + arg + "/backup.info")["Body"].read().decode())
    except s3.exceptions.NoSuchKey:
        pass
elif what == "put":
    body = sys.argv[6] if len(sys.argv) > 6 else ""
    s3.put_object(Bucket=bucket, Key=base + arg, Body=body.encode())
elif what == "rm":
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base + arg):
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=o["Key"])
elif what == "keys":
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base + arg):
        for o in page.get("Contents", []):
            print(o["Key"][len(base):])
elif what == "wait-upload":
    end = time.time() + float(arg)
    while time.time() < end:
        ups, ls = uploads(), leases()
        for k, _ in ups:
            if any(l.startswith(k + ".pitr-tmp.") for l in ls):
                print(k)
                sys.exit(0)
        time.sleep(0.1)
    sys.exit(1)
PY
}

# id_of KEY: the backup id in ".../base/<id>/<volume>".
id_of() {
    local k=${1#"$base"}
    echo "${k%%/*}"
}

backup() {
    PGHOST=$d/sock PGPORT=$PORT PGUSER=postgres "$PGPITR_BIN" --config "$conf" "$@" backup \
        -J 1 --immediate-checkpoint
}

# backup_bg OUT ERR [global options]: a backup in the background; $! is pgpitr itself.
backup_bg() {
    local out=$1 err=$2
    shift 2
    (PGHOST=$d/sock PGPORT=$PORT PGUSER=postgres exec "$PGPITR_BIN" --config "$conf" "$@" \
        backup -J 1 --immediate-checkpoint >"$out" 2>"$err") &
}

pg_rig_init "$d" "$PORT" || { not_ok "initdb"; finish; exit 1; }
pg_rig_conf "$d" "archive_mode = on"
pg_rig_conf "$d" "archive_command = '$PGPITR_BIN --config $conf wal-push %p'"
pg_rig_start "$d" || { not_ok "server start"; finish; exit 1; }
# About 160 MB of table files: uncompressed, dozens of 5 MiB parts.
pg_rig_pgbench "$d" -i -s 10 -q >/dev/null 2>&1 || not_ok "pgbench -i"

# 1. kill -9 in the middle of a multipart upload.
backup_bg /dev/null "$IT_TMP/s3kill-victim.err" --compression none
victim=$!
if key=$(s3q wait-upload 60); then
    ok "the backup started a multipart upload with a lease ($key)"
else
    not_ok "no multipart upload with a lease appeared within 60 s: $(cat "$IT_TMP/s3kill-victim.err")"
fi
kill -9 "$victim" 2>/dev/null
wait "$victim" 2>/dev/null
killed_id=$(id_of "${key:-none/x}")
left=$(s3q uploads)
check "after kill -9 its multipart upload is still in progress" grep -q "^$base$killed_id/" <<<"$left"
check "and its lease object is still there" grep -q "^$base$killed_id/" <<<"$(s3q leases)"
check "the killed backup has no backup.info" test -z "$(s3q info "$killed_id")"

sleep 1 # a new backup id (ids have one-second resolution)
expect_exit "the next backup succeeds" 0 backup --log-level info --compression gzip
expect_err_has "it says it aborted the killed backup's upload" "aborted the multipart upload of 's3://$PITR_TEST_BUCKET/$base$killed_id/"
expect_err_has "because the writer is gone" "(its writer is gone)"
check "no multipart upload is left under base/" test -z "$(s3q uploads)"
check "no lease object is left under base/" test -z "$(s3q leases)"
info=$(s3q info "$killed_id")
check "the killed backup is not DONE" test "$(grep -cx 'status=DONE' <<<"$info")" -eq 0
done_n=0
for id in $(python3 - "$PITR_TEST_S3_ENDPOINT" "$PITR_TEST_BUCKET" "$base" <<'PY'
import sys, boto3
from botocore.config import Config
ep, bucket, base = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(s3={"addressing_style": "path"}))
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
    for o in page.get("Contents", []):
        if o["Key"].endswith("/backup.info"):
            print(o["Key"][len(base):].split("/")[0])
PY
); do
    info=$(s3q info "$id")
    grep -qx 'status=DONE' <<<"$info" && done_n=$((done_n + 1))
done
check "the second backup is DONE (one DONE backup in the repository)" test "$done_n" -eq 1

# 2. A live backup's upload is never touched: stop one mid-upload, run another.
backup_bg "$IT_TMP/s3kill-slow.out" "$IT_TMP/s3kill-slow.err" --compression none
slow=$!
if key=$(s3q wait-upload 60); then
    ok "a second backup is mid-upload ($key)"
else
    not_ok "no upload with a lease appeared within 60 s: $(cat "$IT_TMP/s3kill-slow.err")"
fi
kill -STOP "$slow"
slow_id=$(id_of "${key:-none/x}")
sleep 1
expect_exit "a backup while another one is stopped mid-upload succeeds" 0 \
    backup --log-level info --compression zstd
expect_err_has "it leaves the other backup's upload alone" \
    "left the multipart upload of 's3://$PITR_TEST_BUCKET/$base$slow_id/"
expect_err_has "because its writer is alive" "its writer is alive"
check "the stopped backup's upload is still in progress" grep -q "^$base$slow_id/" <<<"$(s3q uploads)"
kill -CONT "$slow"
wait "$slow"
rc=$?
check "the stopped backup, continued, ends with exit 0" test "$rc" -eq 0
check "and is DONE" grep -qx 'status=DONE' <<<"$(s3q info "$slow_id")"
check "no multipart upload or lease is left at the end" test -z "$(s3q uploads)$(s3q leases)"

# 3. Folders killed backups leave after a volume was complete (no backup.info):
# a backup lease naming a dead process of this host proves the writer gone, and
# the next backup removes the folder; a live lease, no lease at all (another
# tool's folder), or a backup.info keep it.
host=$(hostname | tr / _)
true &
dead_pid=$!
wait "$dead_pid"
sleep 300 &
live_pid=$!
s3q put "20000101T000001/data.tar" "volume"
s3q put "20000101T000001/backup_manifest" "{}"
s3q put "20000101T000001/backup.pitr-tmp.$host.$dead_pid.0"
s3q put "20000101T000002/data.tar" "volume"
s3q put "20000101T000002/backup.pitr-tmp.$host.$live_pid.0"
s3q put "20000101T000003/data.tar" "volume"
s3q put "20000101T000004/data.tar" "volume"
s3q put "20000101T000004/backup.info" "status=FAILED"
s3q put "20000101T000004/backup.pitr-tmp.$host.$dead_pid.0"
sleep 1
expect_exit "a backup after a late-killed one succeeds" 0 backup --log-level info --compression gzip
expect_err_has "it says it removed the dead backup's folder" \
    "removed '${base#"$prefix/"}20000101T000001/' (2 object(s))"
check "the dead backup's folder is gone, lease included" test -z "$(s3q keys 20000101T000001/)"
check "a folder whose backup lease names a live process is untouched" \
    test "$(s3q keys 20000101T000002/ | wc -l)" -eq 2
check "a folder without backup.info and without a lease is untouched" \
    test "$(s3q keys 20000101T000003/)" = "20000101T000003/data.tar"
check "a folder with backup.info keeps its objects" \
    test "$(s3q keys 20000101T000004/ | grep -vc pitr-tmp)" -eq 2
new_id=$(sed -n 's/.*backup \([0-9T]\{15\}\): started.*/\1/p' <<<"$T_ERR" | head -n 1)
check "the new backup ($new_id) is DONE" grep -qx 'status=DONE' <<<"$(s3q info "$new_id")"
check "and its own lease is gone" test -z "$(s3q keys "$new_id/" | grep pitr-tmp)"
kill "$live_pid" 2>/dev/null
wait "$live_pid" 2>/dev/null
for id in 20000101T000002 20000101T000003 20000101T000004; do
    s3q rm "$id/"
done

# 4. barman-cloud's --tags KEY,VALUE [KEY,VALUE ...]: parsed, sent, and Swift's refusal explained.
expect_exit "a malformed tag is a usage error" 3 backup --tags team,dba 'a,b,c'
expect_err_has "naming the tag" "invalid tag 'a,b,c'"
sleep 1
expect_exit "tags reach the store, which refuses them (Swift: no object tagging)" 15 \
    backup --tags team,dba 'env,prod x'
expect_err_has "with the store's answer" "501 NotImplemented: Object tagging is not supported"
expect_err_has "and a hint that names the option" "HINT: this object store does not implement object tags"
check "the refused backup left no multipart upload or lease" test -z "$(s3q uploads)$(s3q leases)"
# --history-tags (barman-cloud-wal-archive) tags *.history files only.
printf '1\t0/3000000\tno recovery target specified\n' >"$IT_TMP/00000002.history"
seg=$(ls "$d/data/pg_wal" | grep -E '^[0-9A-F]{24}$' | head -n 1)
expect_exit "wal-push of a segment with only --history-tags sends no tags" 0 \
    "$PGPITR_BIN" --config "$conf" --server other --history-tags kind,history \
    wal-push "$d/data/pg_wal/$seg"
expect_exit "wal-push of a history file sends them (and Swift refuses)" 15 \
    "$PGPITR_BIN" --config "$conf" --server other --history-tags kind,history \
    wal-push "$IT_TMP/00000002.history"
expect_err_has "naming the option in the hint" "HINT: this object store does not implement object tags"

pg_rig_stop "$d"
finish

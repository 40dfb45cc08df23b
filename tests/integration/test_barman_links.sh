#!/usr/bin/env bash
# CloudNativePG's barman-cloud command lines, verbatim, through links named
# barman-cloud-* that point at pgpitr, against the rig's Swift (s3api). Each
# shape is the one CNPG (in-tree) or its barman-cloud plugin builds
# (shared reference barman-cloud-format.md section 5): credentials in AWS_*,
# --endpoint-url, --cloud-provider aws-s3. Where cheap the same command line
# runs through the real barman-cloud 3.4 (barman-cli-cloud) and its exit code
# and JSON keys are compared.
#  - check-wal-archive before the first WAL (0) and after (1), --timeline 2;
#  - wal-archive as PostgreSQL's archive_command with --gzip and a relative
#    pg_wal/NAME (cwd = PGDATA); --bzip2 / --snappy with an absolute path;
#    -e, --tags and --history-tags (Swift refuses them: exit 4 as barman's);
#    a malformed tag (3);
#  - wal-restore: every archived segment equals barman-cloud-wal-restore's
#    copy; CNPG's spool-style parallel calls (the one past the end exits 1);
#    a bad name (3);
#  - backup --user postgres --name backup-YYYYMMDDhhmmss --gzip
#    --immediate-checkpoint --jobs 2 --min-chunk-size=5MB;
#  - backup-show by name --format json (key "cloud", the fields CNPG reads,
#    barman's keys), backup-list --format json (same ids as barman's);
#  - restore in the in-tree and the plugin argument orders, the tablespace
#    relocated by barman's --tablespace NAME:LOCATION (no recovery
#    settings written, as barman); CNPG's recovery then runs through the
#    wal-restore link and the copy's rows equal the source's; refusals;
#  - backup-delete --retention-policy "RECOVERY WINDOW OF 30 DAYS" keeps the
#    backup; -b of an unknown id (0) and name (4); -t; other providers (1).
# PostgreSQL ports 29200-29202.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

if [ -z "${PITR_TEST_S3_ENDPOINT:-}" ]; then
    not_ok "the Swift rig is not running (PITR_TEST_S3_ENDPOINT unset)"
    finish
    exit 1
fi
for p in barman-cloud-wal-archive barman-cloud-backup-show; do
    command -v "$p" >/dev/null || not_ok "real $p missing (barman-cli-cloud)"
done

NAMES="wal-archive wal-restore backup restore backup-list backup-show backup-delete backup-keep check-wal-archive"
L=$IT_TMP/barman-links
mkdir -p "$L"
for n in $NAMES; do ln -sfn "$PGPITR_BIN" "$L/barman-cloud-$n"; done
chmod 755 "$L"

EP=$PITR_TEST_S3_ENDPOINT
DEST=s3://$PITR_TEST_BUCKET/cnpg-links
SRV=pg-links
PROV=(--endpoint-url "$EP" --cloud-provider aws-s3)
export AWS_DEFAULT_REGION=${AWS_REGION:-us-east-1}

s3keys() { # PREFIX: keys below s3://bucket/PREFIX/, relative, sorted
    python3 - "$EP" "$PITR_TEST_BUCKET" "$1" <<'PY'
import sys, boto3
from botocore.config import Config
ep, bucket, pfx = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=pfx + "/"):
    for o in page.get("Contents", []):
        print(o["Key"][len(pfx) + 1:])
PY
}

# same_exit NAME CMD...: our link and the real program (same base name) exit alike.
same_exit() {
    local name=$1 ours theirs prog
    shift
    prog=$(basename "$1")
    "$@" >/dev/null 2>"$IT_TMP/ours.err"
    ours=$?
    "/usr/bin/$prog" "${@:2}" >/dev/null 2>"$IT_TMP/theirs.err"
    theirs=$?
    if [ "$ours" -eq "$theirs" ]; then
        ok "$name: exit $ours, as barman-cloud 3.4"
    else
        not_ok "$name: exit $ours, barman-cloud 3.4 exits $theirs; ours: $(tail -n 2 "$IT_TMP/ours.err"); theirs: $(tail -n 2 "$IT_TMP/theirs.err")"
    fi
}

# ---- identity, connectivity, providers ---------------------------------------------------
check "--version prints barman-cloud's line" \
    test "$("$L/barman-cloud-wal-archive" --version)" = "$(barman-cloud-wal-archive --version)"
expect_exit "-t: Swift answers" 0 "$L/barman-cloud-backup-list" -t "${PROV[@]}" "$DEST" "$SRV"
same_exit "-t: an endpoint nobody listens on" "$L/barman-cloud-backup-list" -t \
    --endpoint-url http://127.0.0.1:9 --cloud-provider aws-s3 "$DEST" "$SRV"
same_exit "--cloud-provider azure-blob-storage" "$L/barman-cloud-backup-list" \
    --cloud-provider azure-blob-storage "$DEST" "$SRV"
same_exit "--cloud-provider google-cloud-storage" "$L/barman-cloud-check-wal-archive" \
    --cloud-provider google-cloud-storage "$DEST" "$SRV"
same_exit "a usage error" "$L/barman-cloud-backup-delete" "${PROV[@]}" "$DEST" "$SRV"
expect_exit "an option pgpitr does not implement is refused" 3 \
    "$L/barman-cloud-backup-list" --read-timeout=60 "${PROV[@]}" "$DEST" "$SRV"
expect_err_has "... and named" "--read-timeout is not supported by pgpitr"

# ---- check-wal-archive and wal-archive ----------------------------------------------------
same_exit "check-wal-archive before the first WAL" \
    "$L/barman-cloud-check-wal-archive" "${PROV[@]}" "$DEST" "$SRV"

d=$IT_TMP/pg-links-src
pg_rig_init "$d" 29200 || not_ok "source server"
pg_rig_conf "$d" "archive_mode = on"
# in-tree CNPG: PostgreSQL runs the command in PGDATA with %p = pg_wal/NAME
pg_rig_conf "$d" "archive_command = '$L/barman-cloud-wal-archive --gzip --endpoint-url $EP --cloud-provider aws-s3 $DEST $SRV %p'"
pg_rig_start "$d" || not_ok "source server start"
mkdir -p "$IT_TMP/pg-links-tbs" && chown postgres:postgres "$IT_TMP/pg-links-tbs"
pg_rig_psql "$d" "create tablespace tbs1 location '$IT_TMP/pg-links-tbs'"
pg_rig_psql "$d" "create table t (id int primary key, v text) tablespace tbs1;
    insert into t select g, md5(g::text) from generate_series(1, 20000) g" >/dev/null
check "archive_command through the link: segments archived" pg_rig_wait_archived "$d" 60
pg_rig_psql "$d" "insert into t select g, md5(g::text) from generate_series(20001, 30000) g" >/dev/null
check "archive_command: a second segment archived" pg_rig_wait_archived "$d" 60
keys=$(s3keys "cnpg-links/$SRV/wals")
echo "$keys" | sed 's/^/# /'
check "WAL stored as barman-cloud --gzip stores it (.gz in wals/<hash>/)" \
    grep -qE '^0000000100000000/0000000100000000000000[0-9A-F]{2}\.gz$' <<<"$keys"
check "no uncompressed segment" test -z "$(grep -vE '\.gz$' <<<"$keys")"
same_exit "check-wal-archive with WAL archived" \
    "$L/barman-cloud-check-wal-archive" "${PROV[@]}" "$DEST" "$SRV"
same_exit "check-wal-archive --timeline 2" \
    "$L/barman-cloud-check-wal-archive" --timeline 2 "${PROV[@]}" "$DEST" "$SRV"

# plugin: an absolute path, other codecs, into their own server folders
seg=$(pg_rig_psql "$d" "select pg_walfile_name(pg_current_wal_lsn())") # its pages are this segment's
cp "$d/data/pg_wal/$seg" "$IT_TMP/$seg"
for c in bzip2 snappy; do
    expect_exit "wal-archive --$c with an absolute path" 0 \
        "$L/barman-cloud-wal-archive" --$c "${PROV[@]}" "$DEST" "$SRV-$c" "$IT_TMP/$seg"
    sfx=$([ $c = bzip2 ] && echo bz2 || echo snappy)
    check "--$c: stored as $seg.$sfx" grep -qx "${seg:0:16}/$seg.$sfx" <<<"$(s3keys "cnpg-links/$SRV-$c/wals")"
    rm -f "$IT_TMP/back.$c"
    # barman-cloud 3.4's snappy reader fails here (python3-snappy: PY_SSIZE_T_CLEAN); bzip2 is checked with it
    reader=barman-cloud-wal-restore
    [ $c = snappy ] && reader=$L/barman-cloud-wal-restore
    "$reader" "${PROV[@]}" "$DEST" "$SRV-$c" "$seg" "$IT_TMP/back.$c" 2>/dev/null
    check "--$c: $(basename "$(dirname "$reader")")/$(basename "$reader") reads it back identical" \
        cmp -s "$IT_TMP/$seg" "$IT_TMP/back.$c"
done
# -e and tags: Swift refuses both (NotImplemented); barman-cloud exits 4 for it, so must we
same_exit "wal-archive -e AES256 (Swift refuses SSE)" "$L/barman-cloud-wal-archive" -e AES256 \
    "${PROV[@]}" "$DEST" "$SRV-enc" "$IT_TMP/$seg"
same_exit "wal-archive --tags k1,v1 'k 2,v2' --history-tags h,1 (Swift refuses tags)" \
    "$L/barman-cloud-wal-archive" --gzip --tags k1,v1 "k 2,v2" --history-tags h,1 \
    "${PROV[@]}" "$DEST" "$SRV-tags" "$IT_TMP/$seg"
check "refused tags and SSE leave no object" \
    test -z "$(s3keys "cnpg-links/$SRV-tags")$(s3keys "cnpg-links/$SRV-enc")"
same_exit "wal-archive --tags with a malformed tag" "$L/barman-cloud-wal-archive" \
    --tags onlykey "${PROV[@]}" "$DEST" "$SRV-tags" "$IT_TMP/$seg"
same_exit "wal-archive of a missing file" "$L/barman-cloud-wal-archive" \
    "${PROV[@]}" "$DEST" "$SRV-x" "$IT_TMP/000000010000000000000099"

# ---- wal-restore ------------------------------------------------------------------------
names=$(sed -nE 's#^[0-9A-F]{16}/([0-9A-F]{24})\.gz$#\1#p' <<<"$keys")
same=0 total=0
for n in $names; do
    total=$((total + 1))
    "$L/barman-cloud-wal-restore" "${PROV[@]}" "$DEST" "$SRV" "$n" "$IT_TMP/ours.wal" 2>/dev/null &&
        barman-cloud-wal-restore "${PROV[@]}" "$DEST" "$SRV" "$n" "$IT_TMP/theirs.wal" 2>/dev/null &&
        cmp -s "$IT_TMP/ours.wal" "$IT_TMP/theirs.wal" && same=$((same + 1))
done
check "wal-restore: all $total archived segments equal barman-cloud-wal-restore's copies ($same)" \
    test "$total" -gt 0 -a "$same" -eq "$total"
# CNPG's prefetch: the requested segment and the next ones at once, into a spool folder
first=$(head -n 1 <<<"$names")
last=$(tail -n 1 <<<"$names")
spool=$IT_TMP/wal-restore-spool
mkdir -p "$spool"
pids=() want=()
for n in $names $(printf '%08X%08X%08X' 1 0 $((16#${last:16:8} + 1))); do
    "$L/barman-cloud-wal-restore" "${PROV[@]}" "$DEST" "$SRV" "$n" "$spool/$n" 2>/dev/null &
    pids+=($!)
    want+=("$n")
done
codes=""
for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    codes="$codes $?"
done
echo "# parallel wal-restore exits:$codes"
check "parallel wal-restore: every archived segment 0, the one past the end 1" \
    test "$codes" = "$(for n in $names; do printf ' 0'; done) 1"
check "parallel wal-restore: the spooled first segment is complete" \
    test "$(stat -c %s "$spool/$first")" -eq 16777216
check "parallel wal-restore: nothing written for the missing one" test ! -e "$spool/${want[-1]}"
same_exit "wal-restore of a segment not archived" "$L/barman-cloud-wal-restore" "${PROV[@]}" \
    "$DEST" "$SRV" 0000000100000000000000FE "$IT_TMP/nope"
same_exit "wal-restore of a history file not archived" "$L/barman-cloud-wal-restore" \
    "${PROV[@]}" "$DEST" "$SRV" 00000002.history "$IT_TMP/nope"
same_exit "wal-restore of a bad name" "$L/barman-cloud-wal-restore" "${PROV[@]}" \
    "$DEST" "$SRV" notawal "$IT_TMP/nope"

# ---- backup -----------------------------------------------------------------------------
bname=backup-$(date -u +%Y%m%d%H%M%S)
before=$(pg_rig_psql "$d" "select count(*), md5(string_agg(v, ',' order by id)) from t")
pg_rig_as env PGHOST="$d/sock" PGPORT=29200 TMPDIR="$IT_TMP" \
    "$L/barman-cloud-backup" --user postgres --name "$bname" --gzip --immediate-checkpoint \
    --jobs 2 --min-chunk-size=5MB "${PROV[@]}" "$DEST" "$SRV" >"$IT_TMP/backup.out" 2>"$IT_TMP/backup.err"
rc=$?
if [ "$rc" -eq 0 ]; then ok "backup with CNPG's options (exit 0)"; else not_ok "backup: exit $rc: $(tail -n 5 "$IT_TMP/backup.err")"; fi
pg_rig_psql "$d" "insert into t select g, md5(g::text) from generate_series(30001, 31000) g" >/dev/null
after=$(pg_rig_psql "$d" "select count(*), md5(string_agg(v, ',' order by id)) from t")
check "rows written after the backup are archived" pg_rig_wait_archived "$d" 60

# ---- backup-show / backup-list -----------------------------------------------------------
show=$("$L/barman-cloud-backup-show" --format json "${PROV[@]}" "$DEST" "$SRV" "$bname" 2>"$IT_TMP/show.err")
check "backup-show by name --format json (exit 0)" test -n "$show"
check "backup-show: {\"cloud\": ...} with every field CNPG reads, timeline an int, times parseable" python3 -c '
import json, sys, time, datetime
d = json.loads(sys.argv[1]); assert list(d) == ["cloud"], list(d)
b = d["cloud"]
for k in ("backup_name", "backup_label", "begin_time", "end_time", "begin_time_iso", "end_time_iso",
          "begin_wal", "end_wal", "begin_xlog", "end_xlog", "systemid", "backup_id", "error", "timeline"):
    assert k in b, k
assert b["backup_name"] == sys.argv[2] and b["status"] == "DONE" and isinstance(b["timeline"], int)
for k in ("begin_time", "end_time"):
    time.strptime(" ".join(b[k].split()), "%a %b %d %H:%M:%S %Y")
datetime.datetime.fromisoformat(b["end_time_iso"])
' "$show" "$bname"
bid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cloud"]["backup_id"])' "$show" 2>/dev/null)
theirs=$(barman-cloud-backup-show --format json "${PROV[@]}" "$DEST" "$SRV" "$bname" 2>/dev/null)
check "backup-show: every key barman-cloud-backup-show prints is there, with the same ids" python3 -c '
import json, sys
o, t = json.loads(sys.argv[1])["cloud"], json.loads(sys.argv[2])["cloud"]
missing = set(t) - set(o); assert not missing, missing
for k in ("backup_id", "backup_name", "begin_wal", "end_wal", "begin_xlog", "end_xlog", "timeline", "systemid"):
    assert o[k] == t[k], (k, o[k], t[k])
' "$show" "$theirs"
list=$("$L/barman-cloud-backup-list" --format json "${PROV[@]}" "$DEST" "$SRV" 2>/dev/null)
theirs=$(barman-cloud-backup-list --format json "${PROV[@]}" "$DEST" "$SRV" 2>/dev/null)
check "backup-list --format json: the same backups as barman-cloud-backup-list's" python3 -c '
import json, sys
o, t = json.loads(sys.argv[1])["backups_list"], json.loads(sys.argv[2])["backups_list"]
assert [b["backup_id"] for b in o] == [b["backup_id"] for b in t] == [sys.argv[3]], (o, t)
assert set(t[0]) <= set(o[0]), set(t[0]) - set(o[0])
' "$list" "$theirs" "$bid"
same_exit "backup-show of an unknown id" "$L/barman-cloud-backup-show" "${PROV[@]}" "$DEST" "$SRV" 20000101T000000
same_exit "backup-show of an unknown name" "$L/barman-cloud-backup-show" "${PROV[@]}" "$DEST" "$SRV" nosuchname
same_exit "backup-keep --status" "$L/barman-cloud-backup-keep" --status "${PROV[@]}" "$DEST" "$SRV" "$bid"

# ---- restore, both argument orders, then CNPG's recovery through the wal-restore link ------
r1=$IT_TMP/pg-links-r1 r2=$IT_TMP/pg-links-r2
mkdir -p "$r1" "$r2"
same_exit "restore while the tablespace's original location is in use" "$L/barman-cloud-restore" \
    "${PROV[@]}" "$DEST" "$SRV" "$bid" "$IT_TMP/r-none"
check "... and nothing restored" test ! -e "$IT_TMP/r-none/PG_VERSION"
# [extra] (restoreAdditionalCommandArgs) relocates the tablespace, barman's NAME:LOCATION rule
expect_exit "restore, in-tree order: DEST SERVER ID <provider> [extra] PGDATA" 0 \
    "$L/barman-cloud-restore" --endpoint-url "$EP" "$DEST" "$SRV" "$bid" --cloud-provider aws-s3 \
    --tablespace "tbs1:$r1/tbs" "$r1/data"
expect_exit "restore, plugin order: <provider> --endpoint-url [extra] DEST SERVER ID PGDATA" 0 \
    "$L/barman-cloud-restore" --cloud-provider aws-s3 --endpoint-url "$EP" --tablespace="tbs1:$r2/tbs" \
    --tablespace "nosuchtbs:/nowhere" "$DEST" "$SRV" "$bid" "$r2/data"
check "restore: the tablespace went to its NAME:LOCATION rule" \
    test "$(readlink "$r1/data/pg_tblspc/$(ls "$r1/data/pg_tblspc")")" = "$r1/tbs" -a -d "$r1/tbs/PG_15_"*
same_exit "restore with a malformed tablespace rule" "$L/barman-cloud-restore" "${PROV[@]}" \
    --tablespace nocolon "$DEST" "$SRV" "$bid" "$IT_TMP/r-none"
check "restore: PG_VERSION and backup_label restored" test -s "$r1/data/PG_VERSION" -a -s "$r1/data/backup_label"
check "restore: no recovery.signal and no restore_command written (as barman-cloud-restore)" \
    test ! -e "$r1/data/recovery.signal" -a -z "$(grep -s '^restore_command' "$r1/data/postgresql.auto.conf")"
check "restore: both orders give the same files" diff -rq "$r1/data" "$r2/data"
check "restore: and the same tablespace files" diff -rq "$r1/tbs" "$r2/tbs"
same_exit "restore into a non-empty directory" "$L/barman-cloud-restore" "${PROV[@]}" "$DEST" "$SRV" "$bid" "$r1/data"
same_exit "restore of an unknown backup id" "$L/barman-cloud-restore" "${PROV[@]}" "$DEST" "$SRV" 20000101T000000 "$IT_TMP/r-none"
same_exit "restore of an unknown backup name" "$L/barman-cloud-restore" "${PROV[@]}" "$DEST" "$SRV" nosuchname "$IT_TMP/r-none"
# what CNPG writes next (restore.go): restore_command through its wal-restore, promote
chown -R postgres:postgres "$r1"
chmod 700 "$r1/data"
mkdir -p "$r1/sock" && chown postgres:postgres "$r1/sock"
echo 29201 >"$r1/port"
cat >>"$r1/data/postgresql.conf" <<CONF
port = 29201
unix_socket_directories = '$r1/sock'
archive_mode = off
recovery_target_action = 'promote'
restore_command = '$L/barman-cloud-wal-restore --endpoint-url $EP --cloud-provider aws-s3 $DEST $SRV %f %p'
CONF
pg_rig_as touch "$r1/data/recovery.signal"
pg_rig_start "$r1" || not_ok "restored copy start"
for _ in $(seq 1 300); do
    [ "$(pg_rig_psql "$r1" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
    sleep 0.2
done
got=$(pg_rig_psql "$r1" "select count(*), md5(string_agg(v, ',' order by id)) from t" 2>/dev/null)
if [ -n "$got" ] && [ "$got" = "$after" ]; then
    ok "recovered through the wal-restore link: table t equals the source's ($got)"
else
    not_ok "recovered copy: '$got', source '$after' (at backup '$before'); $(tail -n 5 "$r1/log")"
fi
check "recovery replayed archived WAL" grep -q 'restored log file' "$r1/log"
check "table t lives in the relocated tablespace" \
    test "$(pg_rig_psql "$r1" "select pg_tablespace_location(oid) from pg_tablespace where spcname = 'tbs1'")" = "$r1/tbs"
pg_rig_stop "$r1"

# ---- retention ----------------------------------------------------------------------------
expect_exit "backup-delete --retention-policy 'RECOVERY WINDOW OF 30 DAYS'" 0 \
    "$L/barman-cloud-backup-delete" "${PROV[@]}" --retention-policy "RECOVERY WINDOW OF 30 DAYS" "$DEST" "$SRV"
check "the backup inside the window is kept" grep -q "base/$bid/backup.info" <<<"$(s3keys "cnpg-links/$SRV")"
same_exit "backup-delete with a malformed policy" "$L/barman-cloud-backup-delete" "${PROV[@]}" \
    -r "RECOVERY WINDOW OF 30 YEARS" "$DEST" "$SRV"
same_exit "backup-delete -b of an unknown id (a warning)" "$L/barman-cloud-backup-delete" \
    "${PROV[@]}" -b 20000101T000000 "$DEST" "$SRV"
same_exit "backup-delete -b of an unknown name" "$L/barman-cloud-backup-delete" \
    "${PROV[@]}" -b nosuchname "$DEST" "$SRV"
check "backup still listed after the refusals" grep -q "$bid" <<<"$("$L/barman-cloud-backup-list" "${PROV[@]}" "$DEST" "$SRV")"

pg_rig_stop "$d"
finish

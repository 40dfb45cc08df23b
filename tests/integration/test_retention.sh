#!/usr/bin/env bash
# Retention end to end on real PostgreSQL 15 servers:
#  - file://: 4 pgpitr backups with WAL in between; list (console, JSON),
#    show, keep, delete refusals, each policy form dry-run first then real;
#    the oldest remaining backup restored to the end of the archive holds
#    every row, so nothing it needed was removed; delete by name.
#  - s3 (the rig): a pgpitr repository copied twice; barman-cloud-backup-
#    delete -r on one copy and pgpitr retention on the other keep the same
#    backups and WAL; pgpitr delete removes what barman left (our manifest).
#  - s3: a repository written by barman-cloud-backup and
#    barman-cloud-wal-archive: pgpitr retention and barman-cloud-backup-
#    delete keep the same backups and WAL.
# PostgreSQL ports 27200-27203.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"
SRV=pg-ret

write_conf() { # FILE KIND ROOT
    case $2 in
    file) printf 'repo = file://%s\nserver = %s\n' "$3" "$SRV" >"$1" ;;
    s3)
        printf 'repo = s3://%s/%s\nserver = %s\nendpoint-url = %s\ns3-url-style = path\n' \
            "$PITR_TEST_BUCKET" "$3" "$SRV" "$PITR_TEST_S3_ENDPOINT" >"$1"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$1"
        ;;
    esac
    chown postgres:postgres "$1"
    chmod 600 "$1"
}

# s3keys PREFIX: every key under s3://bucket/PREFIX/, relative to it, sorted.
s3py() {
    python3 - "$PITR_TEST_S3_ENDPOINT" "$PITR_TEST_BUCKET" "$@" <<'PY'
import sys, boto3
from botocore.config import Config
ep, bucket, op, src = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=src + "/"):
    keys += [o["Key"] for o in page.get("Contents", [])]
if op == "list":
    for k in sorted(keys):
        print(k[len(src) + 1:])
elif op == "copy":
    dst = sys.argv[5]
    for k in keys:
        s3.copy_object(Bucket=bucket, Key=dst + k[len(src):], CopySource={"Bucket": bucket, "Key": k})
PY
}
filekeys() { [ ! -d "$1" ] || (cd "$1" && find . -type f | sed 's#^\./##' | sort); }

# backups_and_wals: the backup ids (folders with backup.info) and the WAL keys of a key list.
backups_and_wals() { grep -E "^$SRV/(base/[^/]+/backup\.info|wals/)" | sed 's#/backup\.info$##'; }

wait_archived() { # DIR: switch WAL and wait until it is archived
    local d=$1 last
    last=$(pg_rig_psql "$d" "select pg_walfile_name(pg_switch_wal())")
    for _ in $(seq 1 200); do
        [ "$(pg_rig_psql "$d" "select coalesce(last_archived_wal, '') >= '$last' from pg_stat_archiver")" = t ] && return 0
        sleep 0.1
    done
    return 1
}

# pg_with_archive DIR PORT ARCHIVE_COMMAND
pg_with_archive() {
    pg_rig_init "$1" "$2" || return 1
    pg_rig_conf "$1" "archive_mode = on"
    pg_rig_conf "$1" "archive_command = '$3'"
    pg_rig_start "$1" || return 1
    pg_rig_psql "$1" "create table t (batch int, v int)"
}

# take_backups DIR CONF N: batches 0..N with a backup (named b1..bN) after each of 0..N-1.
take_backups() {
    local d=$1 conf=$2 n=$3 i json
    IDS=()
    for i in $(seq 1 "$n"); do
        pg_rig_psql "$d" "insert into t select $((i - 1)), g from generate_series(1, 100) g"
        wait_archived "$d"
        json=$(pg_rig_as env PGHOST="$d/sock" PGPORT="$(cat "$d/port")" PGUSER=postgres \
            "$PGPITR_BIN" --config "$conf" backup --name "b$i" --immediate-checkpoint \
            --wal-wait-timeout 60 --json 2>>"$d.backup.err")
        IDS+=("$(python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' <<<"$json" 2>/dev/null)")
        sleep 1 # ids have second resolution
    done
    pg_rig_psql "$d" "insert into t select $n, g from generate_series(1, 100) g"
    wait_archived "$d"
    check "$n backups taken: ${IDS[*]}" test "${#IDS[@]}" -eq "$n" -a -n "${IDS[$((n - 1))]}"
}

P() { "$PGPITR_BIN" --config "$CONF" "$@"; }

# ---- file:// ----------------------------------------------------------------------------
run_file() {
    local d=$IT_TMP/pg-ret-file root=$IT_TMP/ret-file out before after r=$IT_TMP/pg-ret-restored
    CONF=$IT_TMP/ret-file.conf
    mkdir -p "$root" && chown postgres:postgres "$root"
    write_conf "$CONF" file "$root"
    pg_with_archive "$d" 27200 "$PGPITR_BIN --config $CONF wal-push %p" || { not_ok "file: server"; return; }
    take_backups "$d" "$CONF" 4

    out=$(P list)
    echo "$out" | sed 's/^/# /'
    echo "$out" >"$IT_TMP/ret-list.txt"
    check "list: header as barman's" grep -q '^Backup ID           End Time                 Begin Wal                     Archival Status  Name' <<<"$out"
    check "list: four DONE backups" test "$(grep -c '^[0-9]\{8\}T' <<<"$out")" -eq 4
    check "list: names shown" grep -q "^${IDS[2]} .* b3 *$" <<<"$out"
    out=$(P list --format json)
    check "list json: four backups, ISO times with offset, backup_id last" python3 -c '
import json, re, sys
l = json.loads(sys.argv[1])["backups_list"]
assert len(l) == 4, l
for b in l:
    assert list(b)[-1] == "backup_id" and b["status"] == "DONE"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$", b["end_time_iso"]), b["end_time_iso"]
    assert re.match(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$", b["end_time"]), b["end_time"]
' "$out"
    out=$(P show "${IDS[1]}" --format json)
    check "show json: keyed by server_name, the right backup" python3 -c '
import json, sys
d = json.loads(sys.argv[1]); assert list(d) == ["cloud"], d; assert d["cloud"]["backup_id"] == sys.argv[2]' "$out" "${IDS[1]}"
    check "show latest: the newest backup" grep -q "^Backup ${IDS[3]}:" <<<"$(P show latest)"
    check "show by name" grep -q "Begin WAL" <<<"$(P show b2)"
    expect_exit "show: unknown id" 1 P show 20000101T000000
    expect_exit "show: unknown name" 4 P show nosuchname

    # REDUNDANCY 3: dry run first (nothing changes), then real.
    before=$(filekeys "$root")
    out=$(P retention --policy "REDUNDANCY 3" --dry-run)
    echo "$out" >"$IT_TMP/ret-dry-run.txt"
    echo "$out" | sed 's/^/# /'
    check "dry run: reports the oldest backup OBSOLETE" grep -q "^backup ${IDS[0]} OBSOLETE" <<<"$out"
    check "dry run: would remove its backup.info" grep -q "^would remove $SRV/base/${IDS[0]}/backup.info" <<<"$out"
    check "dry run: would remove WAL" grep -q "^would remove $SRV/wals/" <<<"$out"
    check "dry run: removes nothing" test "$before" = "$(filekeys "$root")"
    out=$(P retention --policy "redundancy 3")
    check "REDUNDANCY 3: nothing left of the oldest backup" test -z "$(filekeys "$root/$SRV/base/${IDS[0]}")"
    check "REDUNDANCY 3: three backups listed" test "$(P list | grep -c '^[0-9]\{8\}T')" -eq 3
    local b2wal oldest
    b2wal=$(P show "${IDS[1]}" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["cloud"]["begin_wal"])')
    oldest=$(filekeys "$root/$SRV/wals" | grep -v history | sed 's#.*/##' | sort | head -1)
    check "REDUNDANCY 3: the oldest WAL left is b2's begin_wal ($oldest, $b2wal)" test "${oldest:0:24}" = "$b2wal"
    check "REDUNDANCY 3: the removed WAL is listed" grep -q "^removed $SRV/wals/" <<<"$out"

    # keep annotations: stored as barman stores them, honoured by delete and retention.
    check "keep --target full" P keep b2 --target full
    check "keep: annotation object holds 'full'" test "$(cat "$root/$SRV/base/${IDS[1]}/annotations/keep")" = full
    check "keep --status" test "$(P keep "${IDS[1]}" --status)" = "Keep: full"
    check "list shows KEEP:FULL" grep -q "^${IDS[1]} .*KEEP:FULL" <<<"$(P list)"
    expect_exit "delete of a kept backup is refused" 13 P delete "${IDS[1]}"
    expect_err_has "the refusal names the keep" "has a keep annotation (full)"
    expect_exit "keep: bad target" 3 P keep b2 --target forever

    # windows that cover every backup remove nothing
    before=$(filekeys "$root")
    P retention --policy "RECOVERY WINDOW OF 7 DAYS" >/dev/null
    P retention --policy 30d >/dev/null
    P retention --policy 4w >/dev/null
    check "7 days, 30d, 4w: nothing removed" test "$before" = "$(filekeys "$root")"
    # ten days later with a 1-day window: b3 goes, b2 is kept (full), b4 is the first older one
    local later
    later=$(date -u -d '+10 days' '+%Y-%m-%d %H:%M:%S')
    out=$(P retention --policy 1d --now "$later" --dry-run)
    check "1d ten days later, dry run: b3 obsolete" grep -q "^backup ${IDS[2]} OBSOLETE" <<<"$out"
    check "1d ten days later, dry run: b2 KEEP:FULL, b4 VALID" \
        grep -q "^backup ${IDS[3]} VALID" <<<"$(grep "^backup ${IDS[1]} KEEP:FULL" -A5 <<<"$out")"
    check "dry run removes nothing" test "$before" = "$(filekeys "$root")"
    out=$(P retention --policy 1d --now "$later")
    check "1d: nothing left of b3" test -z "$(filekeys "$root/$SRV/base/${IDS[2]}")"
    check "1d: no WAL removed after a keep:full backup" test "$(grep -c "^removed $SRV/wals/" <<<"$out")" -eq 0

    # the oldest remaining backup (b2) recovers to the end of the archive: every batch is there
    mkdir -p "$r/sock"
    P restore b2 "$r/data" >/dev/null 2>"$r.err" || not_ok "restore b2: $(cat "$r.err")"
    printf "port = 27203\nunix_socket_directories = '%s/sock'\narchive_mode = off\n" "$r" >>"$r/data/postgresql.auto.conf"
    echo 27203 >"$r/port"
    chown -R postgres:postgres "$r"
    if pg_rig_start "$r"; then
        for _ in $(seq 1 300); do
            [ "$(pg_rig_psql "$r" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
            sleep 0.2
        done
        out=$(pg_rig_psql "$r" "select string_agg(distinct batch::text, ',' order by batch::text) || ' ' || count(*) from t")
        check "restore of the oldest remaining backup to the latest point: batches 0-4 ($out)" test "$out" = "0,1,2,3,4 500"
        pg_rig_stop "$r"
    else
        not_ok "the restored server does not start"
    fi

    # release, then delete by name: b2 and the WAL only it needed go
    check "keep --release" P keep b2 --release
    check "keep --status after release" test "$(P keep b2 --status)" = "Keep: nokeep"
    out=$(P delete b2)
    check "delete by name: b2 gone" test ! -e "$root/$SRV/base/${IDS[1]}/backup.info"
    local b4wal
    b4wal=$(P show latest --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["cloud"]["begin_wal"])')
    oldest=$(filekeys "$root/$SRV/wals" | grep -v history | sed 's#.*/##' | sort | head -1)
    check "delete: the oldest WAL left is b4's begin_wal ($oldest)" test "${oldest:0:24}" = "$b4wal"
    check "delete: one backup left" test "$(P list | grep -c '^[0-9]\{8\}T')" -eq 1
    expect_exit "delete: unknown name" 4 P delete nosuchname
    expect_exit "retention: bad policy" 3 P retention --policy "REDUNDANCY two"
    expect_err_has "the bad policy is named" "invalid retention policy 'REDUNDANCY two'"
    # the policy from the config file (what the systemd unit uses)
    cp "$CONF" "$CONF.policy" && echo "retention-policy = REDUNDANCY 1" >>"$CONF.policy"
    check "retention-policy from the config file" grep -q "retention policy: REDUNDANCY 1" \
        <<<"$("$PGPITR_BIN" --config "$CONF.policy" retention --dry-run)"
    expect_exit "retention: no policy at all" 3 P retention
    pg_rig_stop "$d"
}

# ---- s3: barman-cloud-backup-delete and pgpitr retention agree ---------------------------
barman_env() {
    env AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
        AWS_DEFAULT_REGION=us-east-1 "$@"
}

# compare NAME PREFIX_A PREFIX_B: same backups and WAL under both prefixes
compare() {
    local a b
    a=$(s3py list "$2" | backups_and_wals)
    b=$(s3py list "$3" | backups_and_wals)
    if [ "$a" = "$b" ]; then
        ok "$1: same backups and WAL ($(grep -c base/ <<<"$a") backups, $(grep -c wals/ <<<"$a") WAL objects)"
    else
        not_ok "$1: barman and pgpitr differ: $(diff <(echo "$a") <(echo "$b") | head -20 | tr '\n' ' ')"
    fi
}

run_s3_pgpitr_repo() {
    local d=$IT_TMP/pg-ret-s3 out left
    CONF=$IT_TMP/ret-s3.conf
    write_conf "$CONF" s3 ret-pg
    pg_with_archive "$d" 27201 "$PGPITR_BIN --config $CONF wal-push %p" || { not_ok "s3: server"; return; }
    take_backups "$d" "$CONF" 3
    pg_rig_stop "$d"
    s3py copy ret-pg ret-pg-barman
    out=$(barman_env barman-cloud-backup-delete --endpoint-url "$PITR_TEST_S3_ENDPOINT" \
        -r "REDUNDANCY 1" "s3://$PITR_TEST_BUCKET/ret-pg-barman" "$SRV" 2>&1)
    check "barman-cloud-backup-delete -r on a pgpitr repository: exit 0 ($out)" test $? -eq 0
    out=$(P retention --policy "REDUNDANCY 1")
    check "pgpitr retention on s3: two backups removed" grep -q "^removed 2 backup(s)" <<<"$out"
    compare "REDUNDANCY 1 on a pgpitr repository" ret-pg ret-pg-barman
    # barman leaves our manifest behind; pgpitr delete removes it
    left=$(s3py list ret-pg-barman | grep -c "^$SRV/base/${IDS[0]}/" || true)
    check "barman left objects of a deleted backup ($left)" test "$left" -gt 0
    "$PGPITR_BIN" --config "$CONF" --repo "s3://$PITR_TEST_BUCKET/ret-pg-barman" delete "${IDS[0]}" >/dev/null
    check "pgpitr delete removes what barman left" test "$(s3py list ret-pg-barman | grep -c "^$SRV/base/${IDS[0]}/" || true)" -eq 0
    check "pgpitr list json on s3: one backup" test "$(P list --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["backups_list"]))')" -eq 1
}

run_s3_barman_repo() {
    local d=$IT_TMP/pg-ret-barman i url=s3://$PITR_TEST_BUCKET/ret-bm out
    CONF=$IT_TMP/ret-bm.conf
    write_conf "$CONF" s3 ret-bm
    pg_with_archive "$d" 27202 "env AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1 barman-cloud-wal-archive --endpoint-url $PITR_TEST_S3_ENDPOINT -z $url $SRV %p" ||
        { not_ok "barman: server"; return; }
    for i in 1 2; do
        pg_rig_psql "$d" "insert into t select $i, g from generate_series(1, 100) g"
        wait_archived "$d"
        pg_rig_as env PGHOST="$d/sock" PGPORT=27202 PGUSER=postgres AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
            AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" AWS_DEFAULT_REGION=us-east-1 \
            barman-cloud-backup --endpoint-url "$PITR_TEST_S3_ENDPOINT" -z --immediate-checkpoint \
            "$url" "$SRV" >>"$d.backup.log" 2>&1 || not_ok "barman-cloud-backup $i: $(tail -3 "$d.backup.log")"
        sleep 1
    done
    wait_archived "$d"
    pg_rig_stop "$d"
    check "pgpitr list reads barman's backups" test "$(P list | grep -c '^[0-9]\{8\}T')" -eq 2
    s3py copy ret-bm ret-bm-barman
    barman_env barman-cloud-backup-delete --endpoint-url "$PITR_TEST_S3_ENDPOINT" \
        -r "REDUNDANCY 1" "s3://$PITR_TEST_BUCKET/ret-bm-barman" "$SRV" >/dev/null 2>&1
    check "barman-cloud-backup-delete on its own repository: exit 0" test $? -eq 0
    out=$(P retention --policy "REDUNDANCY 1")
    check "pgpitr retention on a barman repository: one backup removed" grep -q "^removed 1 backup(s)" <<<"$out"
    compare "REDUNDANCY 1 on a barman-cloud repository" ret-bm ret-bm-barman
}

run_file
echo "# file part: ${SECONDS}s"
case " ${IT_REPO_KINDS:-file} " in
*" s3 "*)
    run_s3_pgpitr_repo
    echo "# s3 pgpitr part: ${SECONDS}s"
    run_s3_barman_repo
    echo "# s3 barman part: ${SECONDS}s"
    ;;
esac
finish

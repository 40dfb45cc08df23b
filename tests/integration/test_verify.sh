#!/usr/bin/env bash
# pgpitr check-archive and verify against a real PostgreSQL 15 archiving into
# file:// and the rig's s3://: an empty archive passes check-archive, one
# holding the cluster's WAL fails it for a new cluster; a clean repository
# verifies OK (also --full and --format json), then each damage is reported
# by name with exit 1: a deleted WAL segment in the middle, a truncated
# volume, a flipped byte in a volume (--full), a backup.info without its
# end_wal line, a backup folder without backup.info, a truncated or garbage
# backup.info, another backup's backup.info over the size limit (list still
# works). Each damage is undone
# before the next, so each check sees one problem. On file://, a restored
# copy promoted onto timeline 2 archives into the same server: verify
# follows the history file (a gap on timeline 2 and a missing history file
# are named) and check-archive --timeline 2 fails, 3 passes. On s3://,
# check-archive's exit status equals barman-cloud-check-wal-archive's, and
# a real barman-cloud-backup in the same server verifies (--full reads it;
# a truncated data.tar is named).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

SERVER=pg-vf

write_conf() {
    local f=$1 kind=$2
    case $kind in
    file)
        printf 'repo = file://%s/vf-file\nserver = %s\n' "$IT_TMP" "$SERVER" >"$f"
        mkdir -p "$IT_TMP/vf-file"
        chown postgres:postgres "$IT_TMP/vf-file"
        ;;
    s3)
        printf 'repo = s3://%s/vf-s3\nserver = %s\nendpoint-url = %s\n' \
            "$PITR_TEST_BUCKET" "$SERVER" "$PITR_TEST_S3_ENDPOINT" >"$f"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\ns3-url-style = path\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$f"
        ;;
    esac
    chown postgres:postgres "$f"
    chmod 600 "$f"
}

pgpitr() { "$PGPITR_BIN" --config "$CONF" "$@"; }

# Objects by key relative to the repository root, the same way on every kind.
obj_get() { pgpitr object-get "$1" "$2" 2>/dev/null; }
# A put back by root must stay readable by the server's wal-fetch (postgres).
obj_put() {
    pgpitr object-put "$1" "$2" >/dev/null 2>&1 || return 1
    [ -d "$IT_TMP/vf-file" ] && chown -R postgres:postgres "$IT_TMP/vf-file"
    return 0
}
obj_del() { pgpitr object-delete "$1" >/dev/null 2>&1; }

# The segment n after segment name $1 (16 MiB segments, as initdb makes them).
seg_plus() {
    python3 -c 'import sys; n=sys.argv[1]; i=int(n[8:16],16)*256+int(n[16:],16)+int(sys.argv[2]); print("%s%08X%08X" % (n[:8], i//256, i%256))' "$1" "$2"
}

# same_as_barman NAME ARGS...: on s3, barman-cloud-check-wal-archive and
# pgpitr check-archive give the same exit status for the same archive.
same_as_barman() {
    local name=$1 url b p
    shift
    url=$(sed -n 's/^repo = //p' "$CONF")
    barman-cloud-check-wal-archive --endpoint-url "$PITR_TEST_S3_ENDPOINT" "$@" "$url" "$SERVER" >/dev/null 2>&1
    b=$?
    pgpitr check-archive "$@" >/dev/null 2>&1
    p=$?
    if [ "$b" -eq "$p" ]; then ok "$name: pgpitr and barman-cloud-check-wal-archive both exit $p"; else not_ok "$name: pgpitr exits $p, barman-cloud-check-wal-archive $b"; fi
}

# three_segments DIR TABLE-PREFIX: write three more WAL segments and wait
# until the server has archived them.
three_segments() {
    local dir=$1 t=$2 i newest
    for i in 1 2 3; do
        pg_rig_psql "$dir" "create table $t$i as select generate_series(1, 1000) g" >/dev/null
        newest=$(pg_rig_psql "$dir" "select pg_walfile_name(pg_switch_wal())")
    done
    for _ in $(seq 1 150); do
        [ "$(pg_rig_psql "$dir" "select coalesce(last_archived_wal, '') >= '$newest' from pg_stat_archiver")" = t ] && break
        sleep 0.2
    done
}

# verify_damaged NAME WANT-TEXT VERIFY-ARGS...: verify exits 1 and names WANT-TEXT on stdout.
verify_damaged() {
    local name=$1 want=$2 out rc
    shift 2
    out=$(pgpitr verify "$@" 2>"$IT_TMP/vf-verify.err")
    rc=$?
    if [ $rc -eq 1 ]; then ok "$name: verify exit 1"; else not_ok "$name: verify exit $rc, expected 1: $out $(cat "$IT_TMP/vf-verify.err")"; fi
    case "$out" in
    *"$want"*) ok "$name: reported: $(grep -F -- "$want" <<<"$out" | head -n 1)" ;;
    *) not_ok "$name: output lacks '$want': $out" ;;
    esac
}

verify_ok() {
    local name=$1 out rc
    shift
    out=$(pgpitr verify "$@" 2>"$IT_TMP/vf-verify.err")
    rc=$?
    if [ $rc -eq 0 ] && grep -q ': OK (0 problem(s))' <<<"$out"; then
        ok "$name: $(tail -n 1 <<<"$out")"
    else
        not_ok "$name: exit $rc: $out $(cat "$IT_TMP/vf-verify.err")"
    fi
}

run_kind() {
    local kind=$1 port=$2 d=$IT_TMP/pg-vf-$1 json id begin mid base vol vkey out
    CONF=$IT_TMP/pgpitr-vf-$kind.conf
    echo "# repository kind: $kind"
    write_conf "$CONF" "$kind"

    # check-archive before the first archive: nothing there yet.
    expect_exit "$kind: check-archive on an empty archive passes" 0 pgpitr check-archive
    expect_exit "$kind: check-archive, barman's positional form, empty" 0 \
        "$PGPITR_BIN" --config "$CONF" check-archive "$(sed -n 's/^repo = //p' "$CONF")" "$SERVER"

    [ "$kind" = s3 ] && same_as_barman "s3: empty archive"
    pg_rig_init "$d" "$port" || { not_ok "$kind: initdb"; return; }
    pg_rig_conf "$d" "archive_mode = on"
    pg_rig_conf "$d" "archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
    pg_rig_start "$d" || { not_ok "$kind: server start"; return; }
    mkdir -p "$IT_TMP/vf-tbs-$kind" && chown postgres:postgres "$IT_TMP/vf-tbs-$kind"
    pg_rig_psql "$d" "create tablespace tbs1 location '$IT_TMP/vf-tbs-$kind'"
    pg_rig_psql "$d" "create table in_tbs (id int) tablespace tbs1; insert into in_tbs select generate_series(1, 1000)"

    json=$(pg_rig_as env PGHOST=$d/sock PGPORT=$port PGUSER=postgres \
        "$PGPITR_BIN" --config "$CONF" backup --immediate-checkpoint --wal-wait-timeout 60 \
        --max-archive-size 1MB --json 2>"$IT_TMP/vf-backup-$kind.err")
    id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' <<<"$json" 2>/dev/null)
    begin=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["begin_wal"])' <<<"$json" 2>/dev/null)
    check "$kind: backup DONE $(cat "$IT_TMP/vf-backup-$kind.err")" grep -q '"status": "DONE"' <<<"$json"
    # WAL after the backup: three more segments, so one lies in the middle.
    three_segments "$d" t
    TBS_OID=$(pg_rig_psql "$d" "select oid from pg_tablespace where spcname = 'tbs1'")
    pg_rig_stop "$d"
    base=$SERVER/base/$id

    # The manifest records each stored object with its stored size and SHA-256.
    obj_get "$base/pgpitr.manifest.json" "$IT_TMP/vf-manifest-$kind.json"
    vol=$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))["objects"]; print(len(o), " ".join(x["name"] for x in o))' "$IT_TMP/vf-manifest-$kind.json")
    echo "# manifest objects: $vol"
    check "$kind: manifest records several volumes (1MB volumes) and the tablespace's" \
        python3 -c 'import json,sys; n=[x["name"] for x in json.load(open(sys.argv[1]))["objects"]]; sys.exit(not ("data.tar.gz" in n and "data_0001.tar.gz" in n and any(x[0].isdigit() for x in n)))' "$IT_TMP/vf-manifest-$kind.json"
    vol=data_0001.tar.gz
    vkey=$base/$vol
    obj_get "$vkey" "$IT_TMP/vf-vol-$kind"
    check "$kind: recorded size and SHA-256 are those of the stored bytes" \
        python3 - "$IT_TMP/vf-manifest-$kind.json" "$IT_TMP/vf-vol-$kind" "$vol" <<'PY'
import hashlib, json, os, sys
o = {x["name"]: x for x in json.load(open(sys.argv[1]))["objects"]}[sys.argv[3]]
data = open(sys.argv[2], "rb").read()
sys.exit(not (o["size"] == len(data) == os.path.getsize(sys.argv[2]) and o["sha256"] == hashlib.sha256(data).hexdigest()))
PY

    # A clean repository.
    verify_ok "$kind: clean repository"
    verify_ok "$kind: clean repository, --full" --full
    verify_ok "$kind: clean repository, one backup by id" "$id"
    out=$(pgpitr verify all --format json 2>/dev/null)
    check "$kind: --format json says ok" python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(not (j["ok"] and j["backups_checked"] == 1 and j["wal_segments_checked"] >= 4 and j["problems"] == []))' <<<"$out"
    expect_exit "$kind: verify of an unknown backup" 1 pgpitr verify 20000101T000000
    expect_err_has "$kind: the unknown backup is named" "20000101T000000"

    # check-archive: a new cluster must not archive where this one does.
    expect_exit "$kind: check-archive on an archive holding another cluster's WAL fails" 1 pgpitr check-archive
    expect_err_has "$kind: check-archive names a WAL file" "found"
    expect_err_has "$kind: check-archive names the server" "'$SERVER'"
    expect_exit "$kind: check-archive --timeline 2 passes (all WAL on timeline 1)" 0 pgpitr check-archive --timeline 2
    expect_exit "$kind: check-archive --timeline 1 fails" 1 pgpitr check-archive --timeline 1
    expect_exit "$kind: check-archive --timeline 0 is a usage error" 3 pgpitr check-archive --timeline 0
    if [ "$kind" = s3 ]; then
        same_as_barman "s3: archive with WAL"
        same_as_barman "s3: archive with WAL, --timeline 1" --timeline 1
        same_as_barman "s3: archive with WAL, --timeline 2" --timeline 2
    fi

    # 1. A WAL segment in the middle deleted.
    mid=$(seg_plus "$begin" 2)
    local wkey=$SERVER/wals/${mid:0:16}/$mid.gz
    if obj_get "$wkey" "$IT_TMP/vf-wal-$kind"; then
        obj_del "$wkey"
        verify_damaged "$kind: deleted WAL $mid" "backup $id: $mid: WAL gap"
        obj_put "$wkey" "$IT_TMP/vf-wal-$kind"
    else
        not_ok "$kind: WAL $mid is not archived"
    fi

    # 2. A truncated volume: caught by its size alone.
    head -c 1000 "$IT_TMP/vf-vol-$kind" >"$IT_TMP/vf-vol-short-$kind"
    obj_put "$vkey" "$IT_TMP/vf-vol-short-$kind"
    verify_damaged "$kind: truncated volume" "backup $id: $vol: size mismatch: 1000 bytes stored"
    obj_put "$vkey" "$IT_TMP/vf-vol-$kind"

    # 3. A flipped byte: same size, so only --full sees it.
    cp "$IT_TMP/vf-vol-$kind" "$IT_TMP/vf-vol-flip-$kind"
    printf '\x5a' | dd of="$IT_TMP/vf-vol-flip-$kind" bs=1 seek=500 conv=notrunc 2>/dev/null
    obj_put "$vkey" "$IT_TMP/vf-vol-flip-$kind"
    verify_ok "$kind: flipped byte, without --full (sizes only)"
    verify_damaged "$kind: flipped byte, --full" "backup $id: $vol: checksum mismatch" --full
    # A manifest without "objects" (older pgpitr): --full still reads every
    # member of the volume and compares it with the manifest's files.
    python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); del m["objects"]; json.dump(m, open(sys.argv[2], "w"))' \
        "$IT_TMP/vf-manifest-$kind.json" "$IT_TMP/vf-manifest-old-$kind.json"
    obj_put "$base/pgpitr.manifest.json" "$IT_TMP/vf-manifest-old-$kind.json"
    verify_ok "$kind: older manifest, flipped byte, without --full"
    verify_damaged "$kind: older manifest, flipped byte, --full reads the members" "backup $id: $vol" --full
    obj_put "$base/pgpitr.manifest.json" "$IT_TMP/vf-manifest-$kind.json"
    obj_put "$vkey" "$IT_TMP/vf-vol-$kind"

    # 4. backup.info without its end_wal line, then without backup.info at all.
    obj_get "$base/backup.info" "$IT_TMP/vf-info-$kind"
    grep -v '^end_wal=' "$IT_TMP/vf-info-$kind" >"$IT_TMP/vf-info-cut-$kind"
    obj_put "$base/backup.info" "$IT_TMP/vf-info-cut-$kind"
    verify_damaged "$kind: backup.info without end_wal" "backup $id: backup.info:end_wal: missing"
    obj_del "$base/backup.info"
    verify_damaged "$kind: backup folder without backup.info" "backup $id: backup.info: missing"
    # The only backup.info cut short, or garbage: a problem, never OK.
    head -c 60 "$IT_TMP/vf-info-$kind" >"$IT_TMP/vf-info-trunc-$kind"
    obj_put "$base/backup.info" "$IT_TMP/vf-info-trunc-$kind"
    verify_damaged "$kind: truncated backup.info" "backup $id: backup.info: unreadable"
    head -c 3000 /dev/urandom >"$IT_TMP/vf-info-trunc-$kind"
    obj_put "$base/backup.info" "$IT_TMP/vf-info-trunc-$kind"
    verify_damaged "$kind: garbage backup.info" "backup $id: backup.info: unreadable"
    obj_put "$base/backup.info" "$IT_TMP/vf-info-$kind"
    # Another backup's backup.info over the size limit: named, and the rest still works.
    head -c $((5 << 20)) /dev/zero | tr '\0' x >"$IT_TMP/vf-info-big-$kind"
    obj_put "$SERVER/base/20000101T000000/backup.info" "$IT_TMP/vf-info-big-$kind"
    verify_damaged "$kind: oversized backup.info of another backup" \
        "backup 20000101T000000: backup.info: unreadable"
    out=$(pgpitr list 2>/dev/null)
    check "$kind: list still shows backup $id" grep -q "$id" <<<"$out"
    obj_del "$SERVER/base/20000101T000000/backup.info"

    # A backup without manifest (as barman-cloud writes them) gets the other checks.
    obj_del "$base/pgpitr.manifest.json"
    verify_ok "$kind: backup without manifest (barman-cloud)" --full
    obj_put "$base/pgpitr.manifest.json" "$IT_TMP/vf-manifest-$kind.json"
    verify_ok "$kind: repository whole again" --full
    if [ "$kind" = file ]; then
        timeline_switch "$id"
        retention_unit
    fi
    [ "$kind" = s3 ] && barman_backup "$d" "$port"
}

# A real barman-cloud-backup into the same server (it has no manifest):
# verify checks it with backup.info and existence, --full reads its volume,
# and a truncated one is named.
barman_backup() {
    local d=$1 port=$2 url bid out
    url=$(sed -n 's/^repo = //p' "$CONF")
    pg_rig_start "$d" || { not_ok "barman: server start"; return; }
    barman-cloud-backup --endpoint-url "$PITR_TEST_S3_ENDPOINT" -h "$d/sock" -p "$port" -U postgres \
        --immediate-checkpoint "$url" "$SERVER" >"$IT_TMP/vf-barman.log" 2>&1
    check "barman: barman-cloud-backup exit 0 $(tail -n 3 "$IT_TMP/vf-barman.log")" test $? -eq 0
    pg_rig_psql "$d" "select pg_switch_wal()" >/dev/null
    sleep 1
    pg_rig_stop "$d"
    out=$(pgpitr verify --full 2>/dev/null)
    check "barman: pgpitr's and barman's backups verify OK with --full: $(tail -n 1 <<<"$out")" \
        grep -q '2 backup(s) checked.*: OK (0 problem(s))' <<<"$out"
    bid=$(barman-cloud-backup-list --endpoint-url "$PITR_TEST_S3_ENDPOINT" --format json "$url" "$SERVER" 2>/dev/null |
        python3 -c 'import json,sys; print(sorted(b["backup_id"] for b in json.load(sys.stdin)["backups_list"])[-1])' 2>/dev/null)
    obj_get "$SERVER/base/$bid/data.tar" "$IT_TMP/vf-barman-data.tar" || { not_ok "barman: no data.tar in $bid"; return; }
    head -c 100000 "$IT_TMP/vf-barman-data.tar" >"$IT_TMP/vf-barman-short.tar"
    obj_put "$SERVER/base/$bid/data.tar" "$IT_TMP/vf-barman-short.tar"
    verify_damaged "barman: truncated data.tar, --full" "backup $bid: data.tar: corrupt" --full
    obj_put "$SERVER/base/$bid/data.tar" "$IT_TMP/vf-barman-data.tar"
}

# A restored copy promoted onto timeline 2 archives into the same server:
# verify follows 00000002.history from the backup on timeline 1.
timeline_switch() {
    local id=$1 r=$IT_TMP/pg-vf-tl2 s2 mid2 key2
    mkdir -p "$r/sock"
    if ! pgpitr restore latest --tablespace "$TBS_OID:$r/tbs" "$r/data" >/dev/null 2>"$r.err"; then
        not_ok "timeline 2: restore failed: $(cat "$r.err")"
        return
    fi
    printf "port = 27252\nunix_socket_directories = '%s/sock'\n" "$r" >>"$r/data/postgresql.auto.conf"
    echo 27252 >"$r/port"
    chown -R postgres:postgres "$r"
    pg_rig_start "$r" || { not_ok "timeline 2: restored server does not start"; return; }
    for _ in $(seq 1 300); do
        [ "$(pg_rig_psql "$r" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
        sleep 0.2
    done
    s2=$(pg_rig_psql "$r" "select pg_walfile_name(pg_current_wal_lsn())")
    check "timeline 2: promoted onto timeline 2 ($s2)" test "${s2:0:8}" = 00000002
    three_segments "$r" u
    pg_rig_stop "$r"
    verify_ok "timeline 2: the backup on timeline 1 reaches timeline 2"
    expect_exit "timeline 2: check-archive --timeline 2 fails" 1 pgpitr check-archive --timeline 2
    expect_err_has "timeline 2: check-archive names timeline 2's files" "newer than timeline 2"
    expect_exit "timeline 2: check-archive --timeline 3 passes" 0 pgpitr check-archive --timeline 3

    mid2=$(seg_plus "$s2" 1)
    key2=$SERVER/wals/${mid2:0:16}/$mid2.gz
    obj_get "$key2" "$IT_TMP/vf-wal2" && obj_del "$key2"
    verify_damaged "timeline 2: deleted WAL $mid2" "backup $id: $mid2: WAL gap: segment missing on the way to timeline 2"
    obj_put "$key2" "$IT_TMP/vf-wal2"
    obj_get "$SERVER/wals/00000002.history.gz" "$IT_TMP/vf-hist2" && obj_del "$SERVER/wals/00000002.history.gz"
    verify_damaged "timeline 2: deleted history file" "WAL archive: 00000002.history: missing: timeline 2 has WAL but no history file"
    obj_put "$SERVER/wals/00000002.history.gz" "$IT_TMP/vf-hist2"
    verify_ok "timeline 2: whole again" --full
}

# The retention unit's command line, as systemd runs it (the policy from the
# config file's retention-policy key, no option), then verify: the
# repository is still whole.
retention_unit() {
    local top=$here/../.. cmd conf=$IT_TMP/pgpitr-vf-unit.conf out
    cmd=$(sed -n "s|^ExecStart=@BINDIR@/pgpitr ||p" "$top/systemd/pgpitr-retention.service")
    { cat "$CONF"; echo "retention-policy = REDUNDANCY 1"; } >"$conf"
    chown postgres:postgres "$conf" && chmod 600 "$conf"
    # shellcheck disable=SC2086 # the unit's words
    out=$(pg_rig_as env PGPITR_CONFIG="$conf" "$PGPITR_BIN" $cmd 2>&1)
    check "systemd: the retention unit's command ('pgpitr $cmd') exits 0: $(tail -n 2 <<<"$out")" test $? -eq 0
    check "systemd: it applied the policy from the config file (the only backup is VALID)" \
        grep -q "VALID" <<<"$out"
    verify_ok "systemd: after retention, the repository verifies" --full
}

for kind in ${IT_REPO_KINDS:-file}; do
    case $kind in
    file) run_kind file 27250 ;;
    s3) run_kind s3 27251 ;;
    esac # s3tls: the same driver as s3; TLS is covered by other suites
done
finish

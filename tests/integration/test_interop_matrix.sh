#!/usr/bin/env bash
# The interop matrix (issue 10): writer {pgpitr, barman-cloud 3.4} x reader
# {pgpitr, barman-cloud 3.4} on the rig's S3 (Swift).
#
# One source PostgreSQL 15 (pgbench scale 1 and a table in tablespace tbs1)
# archives every segment through both writers at once: `pgpitr wal-push`
# (gzip, its default) into server folder `pw` and `barman-cloud-wal-archive
# -z` into `bw`. Base backups, each followed by pgbench transactions and
# changes to the tablespace's table, the tables' md5s and a restore point,
# that backup's recovery target:
#   pw: `pgpitr backup --method local` and `--method stream`, each with
#       --compression gzip, bzip2, snappy and none;
#   bw: `barman-cloud-backup` with -z, -j, --snappy and no compression.
# Before the two uncompressed backups the archive command also starts writing
# every later segment in the other WAL codecs barman 3.4 reads, into WAL-only
# folders: pw-wal-{bzip2,snappy,none} through `pgpitr --compression C
# wal-push` and bw-wal-{bzip2,snappy,none} through barman-cloud-wal-archive
# -j, --snappy and without compression.
#
# Every cell is one restore and recovery by the READER's own tools: `pgpitr
# restore` (its restore_command, `pgpitr wal-fetch`) or `barman-cloud-restore`
# plus a restore_command of `barman-cloud-wal-restore`, with recovery.signal
# and recovery_target_name written as CloudNativePG does. The tablespace is
# relocated in every cell. A cell passes when recovery stopped at the backup's
# restore point, fetched WAL from the archive, has tbs1 at the relocated path
# and every table's md5 equals the source's at that point. Base-backup cells
# recover from the writer's main folder; WAL cells restore the writer's
# uncompressed backup and point restore_command at the codec's folder (the
# gzip WAL cell is the main folder, so it is the `codec=none` base cell's
# recovery); each WAL folder is checked to hold its codec's names only. Each
# cell prints one ok/not ok line naming writer, reader, method and codec. A missing barman-cloud fails its cells: nothing is skipped.
# The cells run IM_JOBS (2) at a time; their output is printed in cell order.
# PostgreSQL ports 29300-29340.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

T_START=$(date +%s)
since() { echo "$(($(date +%s) - T_START)) s"; }

if [ -z "${PITR_TEST_S3_ENDPOINT:-}" ]; then
    not_ok "the Swift rig is not running (PITR_TEST_S3_ENDPOINT unset): the matrix needs S3"
    finish
    exit 1
fi
for p in barman-cloud-backup barman-cloud-restore barman-cloud-wal-archive barman-cloud-wal-restore \
    barman-cloud-backup-list; do
    command -v "$p" >/dev/null || not_ok "$p is not installed (barman-cli-cloud 3.4): its cells fail"
done

CODECS="gzip bzip2 snappy none"
# pgpitr writes base backups in every codec barman 3.4 reads (snappy: one
# framing stream per volume).
PW_CODECS=$CODECS
TABLES="pgbench_accounts pgbench_branches pgbench_tellers pgbench_history in_tbs"
PREFIX=im-$(date +%s)-$$
URL=s3://$PITR_TEST_BUCKET/$PREFIX
EP=$PITR_TEST_S3_ENDPOINT
CONF=$IT_TMP/im.conf
{
    printf 'repo = %s\nendpoint-url = %s\n' "$URL" "$EP"
    printf 'aws-access-key-id = %s\naws-secret-access-key = %s\ns3-url-style = path\n' \
        "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
} >"$CONF"
chown postgres:postgres "$CONF"
chmod 600 "$CONF"

# barman-cloud reads its credentials from the environment: BW runs a barman
# tool with them, for root and for the postgres user (archive/restore_command).
# PYTHONPATH brings tests/rig/pysnappy/sitecustomize.py, which mends Debian
# 12's python3-snappy (its CRC-32C fails on Python 3.11; without it
# barman-cloud's --snappy cannot write or read anything).
mkdir -p "$IT_TMP/im-pysnappy"
cp "$here/../rig/pysnappy/sitecustomize.py" "$IT_TMP/im-pysnappy/"
chmod -R a+rX "$IT_TMP/im-pysnappy"
BENV=$IT_TMP/im-barman.env
printf 'export AWS_ACCESS_KEY_ID=%q AWS_SECRET_ACCESS_KEY=%q AWS_DEFAULT_REGION=%q PYTHONPATH=%q\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_REGION" "$IT_TMP/im-pysnappy" >"$BENV"
chown postgres:postgres "$BENV"
chmod 600 "$BENV"
BW=$IT_TMP/im-barman.sh
printf '#!/bin/sh\n. %s\nexec "$@"\n' "$BENV" >"$BW"
chmod 755 "$BW"
BOPT=(--cloud-provider aws-s3 --endpoint-url "$EP")

# The archive command: both writers, in parallel; from the moment $ALL_WAL
# exists also the WAL-only codec folders. It fails (PostgreSQL retries the
# segment) when a main folder (pw, bw) fails; a failure for a WAL-only folder
# is logged in $ARCH_FAILS and fails that folder's cells, not the archive.
ALL_WAL=$IT_TMP/im-all-wal
ARCH=$IT_TMP/im-archive.sh
# The archive command runs as the postgres user: its logs live in a folder it owns.
mkdir -p "$IT_TMP/im-archlog" && chown postgres:postgres "$IT_TMP/im-archlog"
ARCH_FAILS=$IT_TMP/im-archlog/failures.log
touch "$ARCH_FAILS" && chown postgres:postgres "$ARCH_FAILS"
cat >"$ARCH" <<SH
#!/bin/bash
p=\$1
# extra FOLDER COMMAND...: archive into a WAL-only folder; log a failure.
extra() {
    local f=\$1
    shift
    "\$@" >>"$ARCH_FAILS.\$f" 2>&1 || echo "\$f \${p##*/}: \$(tail -n 1 "$ARCH_FAILS.\$f")" >>"$ARCH_FAILS"
}
if [ -e "$ALL_WAL" ]; then
    for c in bzip2 snappy none; do
        extra pw-wal-\$c "$PGPITR_BIN" --config "$CONF" --server pw-wal-\$c --compression \$c wal-push "\$p" &
    done
    extra bw-wal-bzip2 "$BW" barman-cloud-wal-archive ${BOPT[*]} -j "$URL" bw-wal-bzip2 "\$p" &
    extra bw-wal-snappy "$BW" barman-cloud-wal-archive ${BOPT[*]} --snappy "$URL" bw-wal-snappy "\$p" &
    extra bw-wal-none "$BW" barman-cloud-wal-archive ${BOPT[*]} "$URL" bw-wal-none "\$p" &
fi
"$BW" barman-cloud-wal-archive ${BOPT[*]} -z "$URL" bw "\$p" &
b=\$!
"$PGPITR_BIN" --config "$CONF" --server pw wal-push "\$p"
rc=\$?
wait \$b || rc=1
wait
exit \$rc
SH
chmod 755 "$ARCH"

# ---------------------------------------------------------------- the source
S=$IT_TMP/pg-im-src
TBS=$IT_TMP/im-tbs
src_up() {
    pg_rig_init "$S" 29300 || return 1
    pg_rig_conf "$S" "archive_mode = on"
    pg_rig_conf "$S" "archive_command = '$ARCH %p'"
    pg_rig_start "$S" || return 1
    pg_rig_pgbench "$S" -i -s 1 -q >/dev/null 2>&1 || return 1
    mkdir -p "$TBS" && chown postgres:postgres "$TBS"
    pg_rig_psql "$S" "create tablespace tbs1 location '$TBS'" &&
        pg_rig_psql "$S" "create table in_tbs (id int primary key, v text) tablespace tbs1;
            insert into in_tbs select g, md5(g::text) from generate_series(1, 2000) g"
}
if ! src_up; then
    not_ok "the source server: $(tail -n 5 "$S/log" 2>/dev/null)"
    finish
    exit 1
fi
TBS_OID=$(pg_rig_psql "$S" "select oid from pg_tablespace where spcname = 'tbs1'")

# BID[writer/method/codec] = backup id; BERR[...] = why there is none;
# SUMS[...] = the source's tables at that backup's recovery target.
declare -A BID BERR SUMS

# target KEY: the recovery target of backup KEY (a restore point name).
target() { echo "im-${1//\//-}"; }

# write_some KEY: rows the recovery of backup KEY has to replay from the
# archive, then its target: the tables' checksums and a restore point.
WRITES=0
write_some() {
    WRITES=$((WRITES + 1))
    pg_rig_pgbench "$S" -n -t 40 >/dev/null 2>&1 &&
        pg_rig_psql "$S" "update in_tbs set v = md5(v) where id % 7 = $((WRITES % 7));
            insert into in_tbs values ($((2000 + WRITES)), 'after backup $WRITES')" &&
        SUMS[$1]=$(it_table_md5s "$S" $TABLES) &&
        pg_rig_psql "$S" "select pg_create_restore_point('$(target "$1")')" >/dev/null
}

wait_archived() {
    pg_rig_wait_archived "$S" 90 2>"$IT_TMP/im-archiver.err" ||
        not_ok "the source's archiver: $(cat "$IT_TMP/im-archiver.err")"
}

pgpitr_backup() {
    local m=$1 c=$2 json k=pgpitr/$1/$2
    json=$(pg_rig_as env PGHOST="$S/sock" PGPORT=29300 PGUSER=postgres \
        "$PGPITR_BIN" --config "$CONF" --server pw --compression "$c" backup --method "$m" \
        --immediate-checkpoint --wal-wait-timeout 90 --name "im-$m-$c" --json 2>"$IT_TMP/im-b-$m-$c.err")
    if grep -q '"status": "DONE"' <<<"$json"; then
        BID[$k]=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])' <<<"$json")
        echo "# writer pgpitr: backup --method $m --compression $c: ${BID[$k]} ($(since))"
    else
        BERR[$k]="pgpitr backup --method $m --compression $c failed: $(tail -n 3 "$IT_TMP/im-b-$m-$c.err" | tr '\n' ' ')"
        echo "# writer ${BERR[$k]}"
    fi
}

barman_backup() {
    local c=$1 flag=() k=barman/local/$1 log=$IT_TMP/im-b-barman-$1.log
    case $c in gzip) flag=(-z) ;; bzip2) flag=(-j) ;; snappy) flag=(--snappy) ;; esac
    if env PGHOST="$S/sock" PGPORT=29300 PGUSER=postgres "$BW" barman-cloud-backup "${BOPT[@]}" \
        "${flag[@]}" --immediate-checkpoint -n "im-barman-$c" "$URL" bw >"$log" 2>&1; then
        BID[$k]=$("$BW" barman-cloud-backup-list "${BOPT[@]}" --format json "$URL" bw 2>>"$log" |
            python3 -c 'import json,sys
print("".join(b["backup_id"] for b in json.load(sys.stdin)["backups_list"] if b.get("backup_name") == sys.argv[1]))' \
                "im-barman-$c")
    fi
    if [ -n "${BID[$k]:-}" ]; then
        echo "# writer barman-cloud-backup ${flag[*]}: ${BID[$k]} ($(since))"
    else
        BERR[$k]="barman-cloud-backup ${flag[*]} failed: $(tail -n 3 "$log" | tr '\n' ' ')"
        echo "# writer ${BERR[$k]}"
    fi
}

# Phase 1: the compressed backups (their WAL only in pw and bw).
for c in gzip bzip2 snappy; do
    pgpitr_backup local "$c"
    write_some "pgpitr/local/$c"
done
for c in $PW_CODECS; do
    pgpitr_backup stream "$c"
    write_some "pgpitr/stream/$c"
done
for c in gzip bzip2 snappy; do
    barman_backup "$c"
    write_some "barman/local/$c"
done
# Phase 2: every later segment in every WAL codec; the uncompressed backups.
touch "$ALL_WAL"
wait_archived
pgpitr_backup local none
write_some pgpitr/local/none
barman_backup none
write_some barman/local/none
wait_archived
echo "# writers done ($(since))"
pg_rig_stop "$S"

# ---------------------------------------------------------------- the cells
# Cells share nothing but the (read-only) repository: each has its own
# folder and port. IM_JOBS of them (2) run at once, each in a subshell whose
# output goes to $CELLS/N.out and whose verdict ("KEY/READER ok|not ok") to
# $CELLS/N.res; cells_collect prints the outputs whole, in order, and counts
# their ok/not ok lines as this suite's checks.
IM_JOBS=${IM_JOBS:-2}
CELLS=$IT_TMP/im-cells
mkdir -p "$CELLS"
NEXT_PORT=29300
NCELL=0
declare -A CELL_RESULT

# cell WRITER READER KIND METHOD CODEC BACKUP_KEY WAL_SERVER: restore the
# backup BID[BACKUP_KEY] (server folder pw or bw) with READER's restore,
# recover through READER's restore_command from WAL_SERVER to the backup's
# target (a restore point after the rows written after it), judge. Started
# in the background as cell number NCELL on port NEXT_PORT.
cell() {
    NCELL=$((NCELL + 1))
    NEXT_PORT=$((NEXT_PORT + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$IM_JOBS" ]; do wait -n; done
    (cell_run "$NCELL" "$NEXT_PORT" "$@") >"$CELLS/$NCELL.out" 2>&1 &
}

# cells_collect: wait for every cell; print each one's output, count its
# checks and take its verdict into CELL_RESULT.
cells_collect() {
    local n key res
    wait
    for ((n = 1; n <= NCELL; n++)); do
        [ -e "$CELLS/$n.out" ] || continue
        cat "$CELLS/$n.out"
        T_PASS=$((T_PASS + $(grep -c '^ok - ' "$CELLS/$n.out")))
        T_FAIL=$((T_FAIL + $(grep -c '^not ok - ' "$CELLS/$n.out")))
        if [ -s "$CELLS/$n.res" ]; then
            read -r key res <"$CELLS/$n.res"
            CELL_RESULT[$key]=$res
        else
            not_ok "cell $n ended without a verdict: $(tail -n 3 "$CELLS/$n.out" | tr '\n' ' ')"
        fi
        rm -f "$CELLS/$n.out" "$CELLS/$n.res"
    done
}

# cell_run N PORT WRITER READER KIND METHOD CODEC BACKUP_KEY WAL_SERVER: one
# cell (see cell), in folder $IT_TMP/pg-im-N on PORT.
cell_run() {
    local n=$1 port=$2 w=$3 rd=$4 kind=$5 m=$6 c=$7 key=$8 walsrv=$9 bsrv name R why="" got loc
    local bid=${BID[$key]:-}
    name="writer=$w reader=$rd $kind method=$m codec=$c"
    [ "$w" = pgpitr ] && bsrv=pw || bsrv=bw
    if [ -z "$bid" ]; then
        not_ok "$name: no backup to restore: ${BERR[$key]:-}"
        echo "$key/$rd not ok" >"$CELLS/$n.res"
        return 1
    fi
    R=$IT_TMP/pg-im-$n
    mkdir -p "$R/sock"
    echo "$port" >"$R/port"
    if [ "$rd" = pgpitr ]; then
        "$PGPITR_BIN" --config "$CONF" --server "$bsrv" restore "$bid" "$R/data" \
            --target-name "$(target "$key")" --tablespace "$TBS_OID:$R/tbs" >"$R.restore" 2>&1 ||
            why="pgpitr restore failed: $(tail -n 3 "$R.restore" | tr '\n' ' ')"
        [ -z "$why" ] && [ "$walsrv" != "$bsrv" ] &&
            echo "restore_command = '$PGPITR_BIN --config $CONF --server $walsrv wal-fetch %f %p'" \
                >>"$R/data/postgresql.auto.conf"
    else
        "$BW" barman-cloud-restore "${BOPT[@]}" --tablespace "tbs1:$R/tbs" "$URL" "$bsrv" "$bid" "$R/data" \
            >"$R.restore" 2>&1 ||
            why="barman-cloud-restore failed: $(tail -n 3 "$R.restore" | tr '\n' ' ')"
        if [ -z "$why" ]; then
            cat >>"$R/data/postgresql.auto.conf" <<CONF
restore_command = '$BW barman-cloud-wal-restore ${BOPT[*]} $URL $walsrv %f %p'
recovery_target_name = '$(target "$key")'
recovery_target_action = 'promote'
CONF
            touch "$R/data/recovery.signal"
        fi
    fi
    if [ -z "$why" ]; then
        cat >>"$R/data/postgresql.auto.conf" <<CONF
port = $port
unix_socket_directories = '$R/sock'
archive_mode = off
CONF
        chown -R postgres:postgres "$R"
        chmod 700 "$R/data"
        if ! pg_rig_start "$R" >"$R.start" 2>&1 || ! it_wait_recovery_end "$R" 90; then
            why="recovery did not end: $(grep -m 3 'FATAL\|PANIC\|ERROR' "$R/log" | tr '\n' ' ')"
        else
            got=$(it_table_md5s "$R" $TABLES)
            [ "$got" = "${SUMS[$key]}" ] || why="table checksums differ: source '${SUMS[$key]}', copy '$got'"
            grep -q "recovery stopping at restore point \"$(target "$key")\"" "$R/log" ||
                why="$why; recovery did not stop at $(target "$key")"
            grep -q 'restored log file' "$R/log" || why="$why; no WAL came from the archive"
            loc=$(pg_rig_psql "$R" "select pg_tablespace_location(oid) from pg_tablespace where spcname = 'tbs1'")
            [ "$loc" = "$R/tbs" ] || why="$why; tbs1 is at '$loc', not at the relocated '$R/tbs'"
        fi
        pg_rig_stop "$R"
    fi
    if [ -z "$why" ]; then
        ok "$name: restored, recovered to $(target "$key"), tables equal the source's ($(since))"
        echo "$key/$rd ok" >"$CELLS/$n.res"
        [ -n "${KEEP_IT_TMP:-}" ] || rm -rf "$R"
    else
        [ "$kind" = wal ] && grep -q "^$walsrv " "$ARCH_FAILS" &&
            why="$why; archiving into $walsrv failed: $(grep -m 1 "^$walsrv " "$ARCH_FAILS")"
        not_ok "$name: ${why#; } (kept in $R)"
        echo "$key/$rd not ok" >"$CELLS/$n.res"
    fi
}

# wal_codec_check FOLDER SUFFIX: FOLDER/wals/ holds WAL segments, each stored
# with SUFFIX ("" for none) and nothing else: the codec really is the one named.
wal_codec_check() {
    local out rc
    out=$(/usr/bin/python3 - "$PITR_TEST_BUCKET" "$PREFIX/$1/wals/" "$2" <<'PY' 2>&1
import os, re, sys
import boto3
bucket, prefix, sfx = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=os.environ["PITR_TEST_S3_ENDPOINT"],
                  region_name=os.environ.get("AWS_REGION", "us-east-1"))
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in p.get("Contents", [])]
segs = [k for k in keys if re.fullmatch(r"[0-9A-F]{24}(\.[a-z0-9]+)?", k.rsplit("/", 1)[1])]
bad = [k for k in segs if not re.fullmatch(r"[0-9A-F]{24}" + re.escape(sfx), k.rsplit("/", 1)[1])]
print(len(segs), " ".join(bad[:3]))
sys.exit(0 if segs and not bad else 1)
PY
    )
    rc=$?
    check "WAL folder $1 holds segments stored as NAME$2 only (count, wrong ones: $out)" test "$rc" -eq 0
}

READERS="pgpitr barman-cloud"
rdr() { [ "$1" = pgpitr ] && echo pgpitr || echo barman; }

declare -A SFX=([gzip]=.gz [bzip2]=.bz2 [snappy]=.snappy [none]="")
echo "# WAL folders: each writer's main folder (gzip) and its WAL-only codec folders"
for pre in pw bw; do
    wal_codec_check "$pre" .gz
    for c in bzip2 snappy none; do
        wal_codec_check "$pre-wal-$c" "${SFX[$c]}"
    done
done

echo "# cells, $IM_JOBS at a time; base: restored by the reader, WAL from the writer's main folder (gzip);"
echo "# wal: the writer's uncompressed backup restored by the reader, WAL from the codec's folder"
for m in local stream; do
    for c in $PW_CODECS; do
        for rd in $READERS; do
            cell pgpitr "$rd" base "$m" "$c" "pgpitr/$m/$c" pw
        done
    done
done
for c in $CODECS; do
    for rd in $READERS; do
        cell barman-cloud "$rd" base local "$c" "barman/local/$c" bw
    done
done
for w in pgpitr barman-cloud; do
    [ "$w" = pgpitr ] && { pre=pw; wm=wal-push; } || { pre=bw; wm=barman-cloud-wal-archive; }
    for c in bzip2 snappy none; do
        for rd in $READERS; do
            cell "$w" "$rd" wal "$wm" "$c" "$(rdr "$w")/local/none" "$pre-wal-$c"
        done
    done
done
cells_collect

for w in pgpitr barman-cloud; do
    [ "$w" = pgpitr ] && { pre=pw; wm=wal-push; } || { pre=bw; wm=barman-cloud-wal-archive; }
    key=$(rdr "$w")/local/none
    for rd in $READERS; do
        # gzip is the main folder: the codec=none base cell recovered from it.
        if [ "${CELL_RESULT[$key/$rd]:-}" = ok ]; then
            ok "writer=$w reader=$rd wal method=$wm codec=gzip: the base codec=none cell recovered from $pre"
        else
            not_ok "writer=$w reader=$rd wal method=$wm codec=gzip: the base codec=none cell recovering from $pre failed"
        fi
    done
done

echo "# $NCELL restores ($(since))"
finish

#!/usr/bin/env bash
# A repository that holds the wrong WAL under a segment's name. A real
# PostgreSQL 15 archives six segments after a backup; then the object of
# segment B is replaced by the bytes of the segment before it (A: right
# size, valid header, another address). wal-fetch of B must fail naming the
# object and the addresses and write nothing, directly and through the
# prefetch spool (a forged spooled copy included); verify --full must name
# it. A recovery must stop at A with that error in the server log, never
# replay A's bytes as B. Then a valid copy of B is stored next to the forged
# one (the forged one in the cheaper, tried-first form): wal-fetch falls back
# to the valid copy and recovery reaches every row.
# Without the Swift rig the repository is file:// instead.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

SRC_PORT=29500
REC_PORT=29501
REC2_PORT=29502
SERVER=pg-hostile

write_conf() {
    local f=$1
    if [ -n "${PITR_TEST_S3_ENDPOINT:-}" ]; then
        printf 'repo = s3://%s/hostile\nserver = %s\nendpoint-url = %s\ns3-url-style = path\n' \
            "$PITR_TEST_BUCKET" "$SERVER" "$PITR_TEST_S3_ENDPOINT" >"$f"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$f"
    else
        mkdir -p "$IT_TMP/hostile-repo" && chown postgres:postgres "$IT_TMP/hostile-repo"
        printf 'repo = file://%s/hostile-repo\nserver = %s\n' "$IT_TMP" "$SERVER" >"$f"
    fi
    echo "log-level = info" >>"$f"
    chown postgres:postgres "$f"
    chmod 600 "$f"
}

pitr() { "$PGPITR_BIN" --config "$CONF" "$@"; }

# next NAME: the segment after NAME (16 MiB segments).
next() { python3 -c "n='$1'; s=int(n[16:], 16) + 1; l=int(n[8:16], 16) + s // 256; print(n[:8] + '%08X%08X' % (l, s % 256))"; }
key_of() { echo "$SERVER/wals/${1:0:16}/$1"; }

CONF=$IT_TMP/pgpitr-hostile.conf
write_conf "$CONF"
S=$IT_TMP/pg-hostile-src
pg_rig_init "$S" "$SRC_PORT" || { not_ok "initdb"; finish; exit 1; }
pg_rig_conf "$S" "archive_mode = on"
pg_rig_conf "$S" "archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
pg_rig_start "$S" || { not_ok "source start"; finish; exit 1; }
pg_rig_psql "$S" "create table t (id bigserial primary key, batch int, v text)"
json=$(pg_rig_as env PGHOST="$S/sock" PGPORT=$SRC_PORT PGUSER=postgres \
    "$PGPITR_BIN" --config "$CONF" backup --immediate-checkpoint --wal-wait-timeout 60 --json 2>"$IT_TMP/hostile-backup.err")
check "backup DONE" grep -q '"status": "DONE"' <<<"$json"

# Six batches, each in its own segment; remember the segment of each.
names=()
for i in 1 2 3 4 5 6; do
    pg_rig_psql "$S" "insert into t (batch, v) select $i, md5(g::text) from generate_series(1, 5000) g"
    names+=("$(pg_rig_psql "$S" "select pg_walfile_name(pg_switch_wal())")")
done
check "source archived ${names[0]} .. ${names[5]}" pg_rig_wait_archived "$S" 60
pg_rig_stop "$S"
A=${names[2]}
B=$(next "$A")
check "batch 4 lives in the segment after A ($B = ${names[3]})" test "$B" = "${names[3]}"
WANT_ALL=$(seq 1 6 | paste -sd,)

# Swap: B's object gets A's bytes (both gzip, as wal-push stored them).
pitr object-get "$(key_of "$A").gz" "$IT_TMP/A.gz" 2>/dev/null
pitr object-get "$(key_of "$B").gz" "$IT_TMP/B.gz" 2>/dev/null
check "A and B fetched raw" test -s "$IT_TMP/A.gz" -a -s "$IT_TMP/B.gz"
expect_exit "forge: B's object now holds A's bytes" 0 pitr object-put "$(key_of "$B").gz" "$IT_TMP/A.gz"

# 1. Directly: exit 126 (PostgreSQL stops recovery on it), the object and the addresses named, nothing written.
D=$IT_TMP/hostile-dest
mkdir -p "$D"
expect_exit "wal-fetch of the forged B fails and asks to stop recovery" 126 pitr --prefetch 0 wal-fetch "$B" "$D/RECOVERYXLOG"
expect_err_has "the error names the object" "'$(key_of "$B").gz'"
expect_err_has "the error says whose bytes they are" "its first page is at"
check "nothing at DEST" test ! -e "$D/RECOVERYXLOG"
expect_exit "wal-fetch of A still works" 0 pitr --prefetch 0 wal-fetch "$A" "$D/RECOVERYXLOG"

# 2. Through prefetch: the worker never spools it, the call fails the same.
SP=$IT_TMP/hostile-spool
rm -f "$D/RECOVERYXLOG"
expect_exit "prefetch: wal-fetch of A (starts the worker)" 0 \
    pitr --prefetch 4 wal-fetch --spool-dir "$SP" "$A" "$D/RECOVERYXLOG"
for _ in $(seq 1 300); do
    [ -e "$SP/$(next "$B")" ] && break
    sleep 0.1
done
check "prefetch: the forged B was not spooled" test ! -e "$SP/$B"
rm -f "$D/RECOVERYXLOG"
expect_exit "prefetch: wal-fetch of the forged B fails and asks to stop recovery" 126 \
    pitr --prefetch 4 wal-fetch --spool-dir "$SP" "$B" "$D/RECOVERYXLOG"
expect_err_has "prefetch: the error names the object" "'$(key_of "$B").gz'"
check "prefetch: nothing at DEST" test ! -e "$D/RECOVERYXLOG"
# A forged file in the spool itself is refused and the refetch is checked too.
gzip -dc "$IT_TMP/A.gz" >"$SP/$B"
expect_exit "prefetch: a forged spooled B is not served" 126 \
    pitr --prefetch 4 wal-fetch --spool-dir "$SP" "$B" "$D/RECOVERYXLOG"
expect_err_has "prefetch: the spooled copy was refused" "unusable"
check "prefetch: nothing at DEST" test ! -e "$D/RECOVERYXLOG"
pitr wal-fetch --clean-spool --spool-dir "$SP" 2>/dev/null

# 3. verify --full reads every segment and names the forged one.
expect_exit "verify --full finds the forged segment" 1 pitr verify --full
out=$(pitr verify --full 2>&1)
check "verify's report names the object and the cause" grep -q "$(key_of "$B").gz.*its first page is at" <<<"$out"

# 4. A real recovery stops at A with the error: the server shuts down rather than
# promote without B, and never replays A's bytes as B.
R=$IT_TMP/pg-hostile-rec
restore_into() {
    local r=$1 port=$2 out
    mkdir -p "$r/sock"
    out=$(pitr restore latest "$r/data" 2>&1) || { not_ok "restore: $out"; return 1; }
    cat >>"$r/data/postgresql.auto.conf" <<CONF
port = $port
unix_socket_directories = '$r/sock'
archive_mode = off
CONF
    echo "$port" >"$r/port"
    chown -R postgres:postgres "$r"
    pg_rig_start "$r" || true
    for _ in $(seq 1 600); do
        [ "$(pg_rig_psql "$r" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
        [ -f "$r/data/postmaster.pid" ] || break
        sleep 0.1
    done
}
batches() { pg_rig_psql "$1" "select string_agg(distinct batch::text, ',' order by batch::text) from t"; }

restore_into "$R" "$REC_PORT"
check "recovery: wal-fetch's error for B is in the server log" \
    grep -q "no valid copy of WAL file '$B'" "$R/log"
check "recovery: PostgreSQL never read A's bytes as B (no 'unexpected pageaddr')" \
    sh -c "! grep -q 'unexpected pageaddr' '$R/log'"
check "recovery: wal-fetch asked PostgreSQL to stop recovery" grep -q "stopping recovery (exit 126)" "$R/log"
if pg_rig_psql "$R" "select 1" >/dev/null 2>&1; then
    not_ok "recovery: PostgreSQL stopped instead of promoting past A (it still runs)"
else
    ok "recovery: PostgreSQL stopped instead of promoting past A"
fi
pg_rig_stop "$R"

# 5. A valid copy of B next to the forged one: the forged copy is stored plain
# (the form tried first), the valid one as .gz. wal-fetch falls back.
gzip -dc "$IT_TMP/A.gz" >"$IT_TMP/A.plain"
expect_exit "forge: plain B holds A's bytes" 0 pitr object-put "$(key_of "$B")" "$IT_TMP/A.plain"
expect_exit "restore the valid B.gz" 0 pitr object-put "$(key_of "$B").gz" "$IT_TMP/B.gz"
rm -f "$D/RECOVERYXLOG"
expect_exit "fallback: wal-fetch of B succeeds" 0 pitr --prefetch 0 wal-fetch "$B" "$D/RECOVERYXLOG"
expect_err_has "fallback: the forged copy is named" "'$(key_of "$B")' is not a valid copy of '$B'"
check "fallback: DEST holds B's real bytes" cmp -s "$D/RECOVERYXLOG" <(gzip -dc "$IT_TMP/B.gz")
R2=$IT_TMP/pg-hostile-rec2
restore_into "$R2" "$REC2_PORT"
check "fallback: recovery ended (promoted)" test "$(pg_rig_psql "$R2" "select pg_is_in_recovery()")" = f
check "fallback: every batch is back ($WANT_ALL)" test "$(batches "$R2")" = "$WANT_ALL"
pg_rig_stop "$R2"

finish

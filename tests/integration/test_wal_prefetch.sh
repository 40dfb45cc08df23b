#!/usr/bin/env bash
# wal-fetch prefetch end to end: a real PostgreSQL 15 archives ~20 segments
# into the rig's S3 repository; `pgpitr backup`, then `pgpitr restore` and a
# recovery to the end of the archive, once with the default prefetch and once
# with --prefetch 0. Checks that recovery was served from the spool (pgpitr's
# info lines in the server log), that the spool is gone once recovery ended
# (recovery_end_command), and that the tables' checksums equal the source's;
# also to a target LSN, which leaves prefetched segments behind for the
# cleaner. The barman positional form into a data directory's pg_wal, where
# the detached worker fills the spool between two calls and keeps it within
# the depth when recovery stops asking. Last, timelines:
# the promoted copy archives timeline 2 while the source goes on writing
# timeline 1 past the switch; a recovery to the latest timeline, with the
# worker prefetching timeline-1 names, must end with timeline 2's rows.
# Without the Swift rig the repository is file:// instead.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

SRC_PORT=27100
SEGMENTS=20
SERVED="from the prefetch spool"

# write_conf FILE [EXTRA LINE]: the repository settings (s3 when the rig runs).
write_conf() {
    local f=$1
    if [ -n "${PITR_TEST_S3_ENDPOINT:-}" ]; then
        REPO_URL=s3://$PITR_TEST_BUCKET/pf
        printf 'repo = %s\nserver = pg-pf\nendpoint-url = %s\ns3-url-style = path\n' \
            "$REPO_URL" "$PITR_TEST_S3_ENDPOINT" >"$f"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$f"
    else
        REPO_URL=file://$IT_TMP/pf-repo
        mkdir -p "$IT_TMP/pf-repo" && chown postgres:postgres "$IT_TMP/pf-repo"
        printf 'repo = %s\nserver = pg-pf\n' "$REPO_URL" >"$f"
    fi
    [ $# -gt 1 ] && echo "$2" >>"$f"
    chown postgres:postgres "$f"
    chmod 600 "$f"
}

table_sum() {
    pg_rig_psql "$1" "select count(*) || ':' || md5(string_agg(id || ',' || batch || ',' || v, ';' order by id)) from t"
}

# recover NAME PORT WANT [GLOBAL OPTIONS...] [-- RESTORE OPTIONS...]: restore
# into a new PGDATA, start it, wait until it is promoted, compare the table
# with WANT. Sets R (its folder) and LOG (its server log). $ARCHIVE is
# appended to its configuration (default: archive_mode = off).
recover() {
    local name=$1 port=$2 want=$3 out glob=() ropt=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != -- ]; do glob+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; ropt=("$@"); }
    R=$IT_TMP/pg-pf-$name
    LOG=$R/log
    mkdir -p "$R/sock"
    if ! out=$("$PGPITR_BIN" --config "$CONF_R" "${glob[@]}" restore latest "${ropt[@]}" "$R/data" 2>&1); then
        not_ok "$name: restore failed: $out"
        return 1
    fi
    echo "$out" >"$R/restore.out"
    ok "$name: restore exit 0"
    if [ -n "${BEFORE_START:-}" ]; then "$BEFORE_START" "$R"; fi
    cat >>"$R/data/postgresql.auto.conf" <<CONF
port = $port
unix_socket_directories = '$R/sock'
${ARCHIVE:-archive_mode = off}
CONF
    echo "$port" >"$R/port"
    chown -R postgres:postgres "$R"
    local t0=$(date +%s.%N)
    if ! pg_rig_start "$R"; then not_ok "$name: restored server does not start"; return 1; fi
    for _ in $(seq 1 600); do
        [ "$(pg_rig_psql "$R" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
        sleep 0.1
    done
    echo "# $name: started and recovered in $(awk "BEGIN { print $(date +%s.%N) - $t0 }") s"
    check "$name: recovery ended (promoted)" test "$(pg_rig_psql "$R" "select pg_is_in_recovery()")" = f
    check "$name: table checksum is the expected one" test "$(table_sum "$R")" = "$want"
}

# not_has TEXT STRING: STRING lacks TEXT.
not_has() {
    case "$2" in *"$1"*) return 1 ;; esac
    return 0
}

# no_worker: no wal-fetch of the restored servers is running any more.
no_worker() {
    ! pgrep -f -- "--config $CONF_R wal-fetch" >/dev/null
}

# wait_gone PATH: the spool disappears (the cleaner may wait for the worker).
wait_gone() {
    for _ in $(seq 1 300); do
        [ -e "$1" ] || return 0
        sleep 0.1
    done
    return 1
}

# wait_archived DIR WAL: DIR's archiver reached WAL.
wait_archived() {
    for _ in $(seq 1 600); do
        [ "$(pg_rig_psql "$1" "select coalesce(last_archived_wal, '') >= '$2' from pg_stat_archiver")" = t ] && return 0
        sleep 0.1
    done
    return 1
}

CONF=$IT_TMP/pgpitr-pf.conf
CONF_R=$IT_TMP/pgpitr-pf-restore.conf
write_conf "$CONF"
write_conf "$CONF_R" "log-level = info"
S=$IT_TMP/pg-pf-src
pg_rig_init "$S" "$SRC_PORT" || { not_ok "initdb"; finish; exit 1; }
pg_rig_conf "$S" "archive_mode = on"
pg_rig_conf "$S" "archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
pg_rig_start "$S" || { not_ok "source start"; finish; exit 1; }
pg_rig_psql "$S" "create table t (id bigserial primary key, batch int, v text)"
json=$(pg_rig_as env PGHOST="$S/sock" PGPORT=$SRC_PORT PGUSER=postgres \
    "$PGPITR_BIN" --config "$CONF" backup --immediate-checkpoint --wal-wait-timeout 60 --json 2>"$IT_TMP/pf-backup.err")
check "backup DONE" grep -q '"status": "DONE"' <<<"$json"

# ~20 segments of real WAL: a batch of rows, then a segment switch.
first=$(pg_rig_psql "$S" "select pg_walfile_name(pg_current_wal_lsn())")
for i in $(seq 1 $SEGMENTS); do
    pg_rig_psql "$S" "insert into t (batch, v) select $i, md5(g::text) from generate_series(1, 20000) g"
    [ "$i" -eq $((SEGMENTS / 2)) ] && { MID_LSN=$(pg_rig_psql "$S" "select pg_current_wal_lsn()"); MID_SUM=$(table_sum "$S"); }
    last=$(pg_rig_psql "$S" "select pg_walfile_name(pg_switch_wal())")
done
check "source archived $first .. $last" wait_archived "$S" "$last"
WANT_SUM=$(table_sum "$S")
echo "# source: $WANT_SUM"

# 1. --prefetch 0: restore_command says so, nothing is spooled.
if recover noprefetch 27102 "$WANT_SUM" --prefetch 0; then
    check "prefetch 0: restore_command carries --prefetch 0" \
        grep -q "^restore_command = '.* --prefetch 0 wal-fetch %f %p'" "$R/data/postgresql.auto.conf"
    check "prefetch 0: nothing served from a spool" test "$(grep -c "$SERVED" "$LOG")" -eq 0
    check "prefetch 0: every segment restored from the archive" \
        test "$(grep -c "restored '0000" "$LOG")" -ge "$SEGMENTS"
    check "prefetch 0: no spool was created" test ! -e "$R/data/pg_wal/pgpitr_prefetch"
    pg_rig_stop "$R"

    # 3. The barman positional form into a (stopped) data directory's pg_wal:
    # prefetch applies while a signal file says recovery is on.
    D=$R/data
    touch "$D/recovery.signal"
    pos_fetch() {
        "$PGPITR_BIN" --log-level info ${PITR_TEST_S3_ENDPOINT:+--endpoint-url "$PITR_TEST_S3_ENDPOINT" --s3-url-style path} \
            --prefetch "${PF_DEPTH:-3}" wal-fetch "$REPO_URL" pg-pf "$1" "$D/pg_wal/RECOVERYXLOG" 2>&1
    }
    seg2=$(python3 -c "n='$first'; print(n[:16] + '%08X' % (int(n[16:], 16) + 1))")
    seg3=$(python3 -c "n='$first'; print(n[:16] + '%08X' % (int(n[16:], 16) + 2))")
    t0=$(date +%s.%N)
    out=$(pos_fetch "$first")
    took=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
    check "positional: first segment fetched" test -s "$D/pg_wal/RECOVERYXLOG"
    # A caller that reads stderr to its end must not wait for the worker.
    check "positional: the call does not wait for the worker (${took} s)" \
        not_has "prefetch: spooled" "$out"
    # Generous: on a loaded machine Swift may answer 503 and pgpitr retry.
    for _ in $(seq 1 600); do
        [ -e "$D/pg_wal/pgpitr_prefetch/$seg2" ] && [ -e "$D/pg_wal/pgpitr_prefetch/$seg3" ] && break
        sleep 0.1
    done
    check "positional: the detached worker spooled the next segments" \
        test -e "$D/pg_wal/pgpitr_prefetch/$seg2" -a -e "$D/pg_wal/pgpitr_prefetch/$seg3"
    out=$(pos_fetch "$seg2")
    check "positional: the next call is served from the spool" grep -q "$SERVED" <<<"$out"
    expect_exit "positional: wal-fetch --clean-spool" 0 \
        sh -c "cd '$D' && '$PGPITR_BIN' wal-fetch --clean-spool"
    check "positional: --clean-spool removed the spool" wait_gone "$D/pg_wal/pgpitr_prefetch"

    # 3b. The spool stays within the depth when replay is slower than the
    # worker: recovery takes half of a batch and then stops asking. The
    # worker refills what was taken and no more, however long it waits
    # (a batch of half the depth once made it plan the next one at once,
    # and the spool grew to the end of the archive).
    PF_DEPTH=4
    bseg() { python3 -c "n='$first'; print(n[:16] + '%08X' % (int(n[16:], 16) + $1))"; }
    b1=$(bseg 1) b2=$(bseg 2) b4=$(bseg 4) b5=$(bseg 5) b6=$(bseg 6) b7=$(bseg 7)
    SP=$D/pg_wal/pgpitr_prefetch
    rm -f "$D/pg_wal/RECOVERYXLOG"
    pos_fetch "$first" >/dev/null
    rm -f "$D/pg_wal/RECOVERYXLOG"
    for _ in $(seq 1 600); do
        [ -e "$SP/$b1" ] && [ -e "$SP/$b4" ] && break
        sleep 0.1
    done
    check "bound: the worker spooled $b1 .. $b4" test -e "$SP/$b1" -a -e "$SP/$b4"
    for s in "$b1" "$b2"; do
        out=$(pos_fetch "$s")
        check "bound: $s served from the spool" grep -q "$SERVED" <<<"$out"
        rm -f "$D/pg_wal/RECOVERYXLOG"
    done
    for _ in $(seq 1 600); do
        [ -e "$SP/$b5" ] && [ -e "$SP/$b6" ] && break
        sleep 0.1
    done
    check "bound: the worker refilled $b5 and $b6" test -e "$SP/$b5" -a -e "$SP/$b6"
    most=0
    for _ in $(seq 1 30); do
        n=$(find "$SP" -maxdepth 1 -name '0000*' | wc -l)
        [ "$n" -gt "$most" ] && most=$n
        sleep 0.1
    done
    check "bound: the spool never held more than $PF_DEPTH segments in 3 s (most: $most)" \
        test "$most" -le "$PF_DEPTH"
    check "bound: nothing past $b6 was spooled" test ! -e "$SP/$b7"
    expect_exit "bound: wal-fetch --clean-spool" 0 \
        sh -c "cd '$D' && '$PGPITR_BIN' wal-fetch --clean-spool"
    check "bound: --clean-spool removed the spool" wait_gone "$SP"
    unset PF_DEPTH
    rm -f "$D/recovery.signal" "$D/pg_wal/RECOVERYXLOG"
fi

# 2. A target LSN half-way: recovery stops with prefetched segments left over,
# which recovery_end_command removes.
if recover target 27103 "$MID_SUM" -- --target-lsn "$MID_LSN"; then
    check "target: segments were served from the spool" grep -q "$SERVED" "$LOG"
    check "target: the spool is gone after recovery" wait_gone "$R/data/pg_wal/pgpitr_prefetch"
    pg_rig_stop "$R"
fi

# 2b. The restore fetches WAL ahead while the data files come: a hostile copy
# planted in the repository for a segment it fetches (uncompressed, so tried
# first: another segment's valid bytes) is refused, the good copy spooled,
# and recovery reaches the target with the right rows.
h2=$(python3 -c "n='$first'; print(n[:16] + '%08X' % (int(n[16:], 16) + 1))")
h3=$(python3 -c "n='$first'; print(n[:16] + '%08X' % (int(n[16:], 16) + 2))")
"$PGPITR_BIN" --config "$CONF" wal-fetch "$h2" "$IT_TMP/pf-good-$h2" 2>/dev/null
"$PGPITR_BIN" --config "$CONF" wal-fetch "$h3" "$IT_TMP/pf-evil-$h2" 2>/dev/null
HOSTILE_KEY=pg-pf/wals/${h2:0:16}/$h2
expect_exit "hostile: another segment planted as $HOSTILE_KEY" 0 \
    "$PGPITR_BIN" --config "$CONF" object-put "$HOSTILE_KEY" "$IT_TMP/pf-evil-$h2"
hostile_spool() {
    local sp=$1/data/pg_wal/pgpitr_prefetch n
    check "hostile: the restore fetched WAL ahead" grep -q "fetched ahead for recovery" "$1/restore.out"
    # Best effort (how far it gets depends on the machine); what it spooled must be right.
    n=$(find "$sp" -maxdepth 1 -name '0000*' | wc -l)
    echo "# hostile: $n segment(s) spooled by the restore"
    check "hostile: the restore spooled at least one segment" test "$n" -ge 1
    if [ -e "$sp/$h2" ]; then
        check "hostile: the spooled $h2 is the good copy" cmp -s "$sp/$h2" "$IT_TMP/pf-good-$h2"
        check "hostile: the restore refused the planted copy" \
            grep -q "'$HOSTILE_KEY' is not a valid copy" "$1/restore.out"
    fi
    if [ -e "$sp/$h3" ]; then
        check "hostile: the spooled $h3 is $h3" cmp -s "$sp/$h3" "$IT_TMP/pf-evil-$h2"
    fi
}
BEFORE_START=hostile_spool
if recover hostile 27105 "$MID_SUM" -- --target-lsn "$MID_LSN"; then
    # Whoever met the planted copy first (restore, worker or wal-fetch) refused it.
    check "hostile: the planted copy was refused" \
        sh -c "grep -q \"'$HOSTILE_KEY' is not a valid copy\" '$R/restore.out' '$LOG'"
    check "hostile: $h2 was delivered" grep -Eq "(served|restored) '$h2'" "$LOG"
    check "hostile: wal-fetch names the LSN target's distance" grep -q "target LSN $MID_LSN: [0-9]* segment(s) to go" "$LOG"
    pg_rig_stop "$R"
fi
unset BEFORE_START
expect_exit "hostile: the planted copy removed" 0 "$PGPITR_BIN" --config "$CONF" object-delete "$HOSTILE_KEY"

# 4. Default prefetch (8); this copy archives timeline 2 once promoted.
ARCHIVE="archive_mode = on
archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
if recover prefetch 27101 "$WANT_SUM"; then
    served=$(grep -c "$SERVED" "$LOG")
    echo "# prefetch: $served segment(s) served from the spool"
    check "prefetch: at least half of the $SEGMENTS segments came from the spool ($served)" \
        test "$served" -ge $((SEGMENTS / 2))
    # The restore fetched the first segments ahead; the worker, when recovery outran them.
    check "prefetch: the restore fetched WAL ahead or the worker ran" \
        sh -c "grep -q 'fetched ahead for recovery' '$R/restore.out' || grep -q 'prefetch: spooled' '$LOG'"
    check "prefetch: wal-fetch says how far replay is" grep -q "wal-fetch: recovery asked for .* from the backup's first WAL" "$LOG"
    check "prefetch: recovery_end_command cleans the spool" \
        grep -q "^recovery_end_command = '$PGPITR_BIN --config $CONF_R wal-fetch --clean-spool'" \
        "$R/data/postgresql.auto.conf"
    check "prefetch: the spool is gone after recovery" wait_gone "$R/data/pg_wal/pgpitr_prefetch"
    check "prefetch: no spooled file was rejected" sh -c "! grep -q unusable '$LOG'"
    check "prefetch: no worker left" no_worker
    # 5. Timeline 2 (this copy) gets a batch; timeline 1 (the source) goes on
    # past the switch point with another.
    for b in 97 98 99; do
        pg_rig_psql "$R" "insert into t (batch, v) select $b, md5(g::text) from generate_series(1, 20000) g"
        tli2_last=$(pg_rig_psql "$R" "select pg_walfile_name(pg_switch_wal())")
    done
    TLI2_SUM=$(table_sum "$R")
    check "timeline 2 archived up to $tli2_last" wait_archived "$R" "$tli2_last"
    pg_rig_stop "$R"
    pg_rig_psql "$S" "insert into t (batch, v) select 100, md5(g::text) from generate_series(1, 20000) g"
    tli1_last=$(pg_rig_psql "$S" "select pg_walfile_name(pg_switch_wal())")
    check "timeline 1 archived past the switch, up to $tli1_last" wait_archived "$S" "$tli1_last"
    unset ARCHIVE
    if recover timeline 27104 "$TLI2_SUM"; then
        check "timeline: recovery followed timeline 2" grep -q "00000002.history" "$LOG"
        check "timeline: timeline 2 segments were served from the spool" \
            grep -q "served '00000002" "$LOG"
        check "timeline: the spool is gone after recovery" wait_gone "$R/data/pg_wal/pgpitr_prefetch"
        pg_rig_stop "$R"
    fi
fi

pg_rig_stop "$S"
finish

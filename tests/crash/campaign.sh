#!/usr/bin/env bash
# tests/crash/campaign.sh - the crash and fault campaign: SIGKILL at seeded
# random points of wal-push (file:// and s3://), backup (local method,
# file:// and s3://), restore and wal-fetch with prefetch, then a full disk
# under the file:// repository, the wal-fetch spool and the restore target.
# After every kill the operation runs again and the invariants are checked:
#
#   wal-push   each segment of the call (and its look-ahead) is either absent
#              or stored with the original bytes (fetched back, SHA-256), every
#              look-ahead marker names a stored segment, nothing but final
#              names is visible under wals/ (s3: keys listed; file://: names
#              readers would take), and the retry stores every segment. A real
#              PostgreSQL whose archive_command gets killed ends with every
#              .done segment stored identically and nothing .ready.
#   backup     after the kill every backup.info is DONE or FAILED; the next
#              backup is DONE and leaves no temp file, lease or multipart
#              upload under base/, and no backup folder without backup.info.
#   restore    re-run into the same target either works or refuses the
#              non-empty target by name; into a fresh target it works and
#              gives the reference restore's files (SHA-256 of every file);
#              some of them are started and hold the source's rows.
#   wal-fetch  the call or the detached prefetch worker is killed: DEST is
#              absent or the right segment, and the next calls deliver the
#              right bytes.
#   disk full  (tmpfs) wal-push fails, leaves nothing, succeeds once there is
#              space; backup ends FAILED/absent with no volume or temp file;
#              wal-fetch with a full spool still delivers; restore into a full
#              target fails with ENOSPC naming the file.
#
# Not a test runner by itself: tests/integration/test_crash_slice.sh (a short
# slice under make check) and tools/bench/crash-campaign.sh (the full run)
# set the environment and run it:
#
#   PGPITR_BIN       the binary (readable and runnable by the postgres user)
#   CRASH_WORK       an empty folder (mode 755) for everything
#   CRASH_SEED       the seed (printed); CRASH_KILLS kills per operation kind
#   CRASH_PG_PORT    first of 4 PostgreSQL ports
#   PITR_TEST_S3_ENDPOINT, PITR_TEST_BUCKET, AWS_*  the Swift rig
#
# Prints TAP-ish ok/not ok lines (tests/integration/lib.sh), one summary line
# per kind and exits non-zero on any failure. Must run as root (tmpfs mounts,
# PostgreSQL as the postgres user).
set -u
CRASH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$CRASH_DIR/../.." && pwd)
. "$TOP/tests/integration/lib.sh"
. "$TOP/tests/rig/pg.sh"
: "${PGPITR_BIN:?}" "${CRASH_WORK:?}" "${CRASH_SEED:?}" "${CRASH_KILLS:?}" "${CRASH_PG_PORT:?}"

W=$CRASH_WORK
SRC=$W/pg-src
SRC_PORT=$CRASH_PG_PORT
ARCH=$W/pg-arch
ARCH_PORT=$((CRASH_PG_PORT + 1))
CHECK_PORT=$((CRASH_PG_PORT + 2))
MNT=$W/mnt
MOUNTED=()
POOL=$W/pool
POOL_N=0
LA=2 # wal-push look-ahead in the campaign

RANDOM=$CRASH_SEED
# A prefix of its own: another run with the same seed finds an empty one.
S3_PREFIX=crash-$CRASH_SEED-$(date +%s)-$$
echo "# crash campaign: seed $CRASH_SEED, $CRASH_KILLS kills per kind"

if [ "$(id -u)" -ne 0 ]; then
    not_ok "the campaign must run as root (tmpfs mounts, PostgreSQL as postgres)"
    finish
    exit 1
fi
if [ -z "${PITR_TEST_S3_ENDPOINT:-}" ]; then
    not_ok "the S3 rig is not running (PITR_TEST_S3_ENDPOINT is not set)"
    finish
    exit 1
fi

crash_cleanup() {
    local m
    for d in "$W"/pg-*; do [ -d "$d/data" ] && pg_rig_stop "$d"; done
    for m in "${MOUNTED[@]}"; do umount "$m" 2>/dev/null; done
}
trap crash_cleanup EXIT

# rnd N: R = a number in [0, N) from the seeded generator (no subshell!).
rnd() {
    R=$((((RANDOM << 15) | RANDOM) % $1))
}

# now_ms: milliseconds since the epoch.
now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# killed_run DELAY_MS OUT CMD...: run CMD in the background (stdout and
# stderr to OUT), SIGKILL it after DELAY_MS; KILLED=1 when the signal ended
# it (exit status 137), else 0; RC is its exit status.
killed_run() {
    local delay=$1 out=$2 pid
    shift 2
    # An external command: $! is the process itself.
    "$@" >"$out" 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null
    RC=$?
    KILLED=0
    [ "$RC" -eq 137 ] && KILLED=1
}

# shrink MAX: the kill window after a kill that came too late (the run
# ended first): three quarters of it, at least 50 ms.
shrink() {
    echo $(($1 * 3 / 4 > 50 ? $1 * 3 / 4 : 50))
}

# timed CMD...: run it, MS = its duration in milliseconds, RC its status.
timed() {
    local t0
    t0=$(now_ms)
    "$@"
    RC=$?
    MS=$(($(now_ms) - t0))
}

# ---- repositories -------------------------------------------------------

# conf KIND SERVER FILE [EXTRA LINES]: a config file for the kind's repository.
conf() {
    local kind=$1 server=$2 f=$3
    shift 3
    case $kind in
    file) printf 'repo = file://%s\nserver = %s\n' "$W/repo-file" "$server" >"$f" ;;
    s3)
        printf 'repo = s3://%s/%s\nserver = %s\nendpoint-url = %s\ns3-url-style = path\n' \
            "$PITR_TEST_BUCKET" "$S3_PREFIX" "$server" "$PITR_TEST_S3_ENDPOINT" >"$f"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\npart-size = 5MiB\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$f"
        printf 'retry-max-time = 20\n' >>"$f"
        ;;
    *) printf 'repo = file://%s\nserver = %s\n' "$kind" "$server" >"$f" ;; # a folder
    esac
    local l
    for l in "$@"; do echo "$l" >>"$f"; done
    chown postgres:postgres "$f"
    chmod 600 "$f"
}

# s3q WHAT PREFIX: the rig's view of the prefix below crash-SEED/, with boto3.
#   state   "K key" per object and "U key" per multipart upload in progress
#   rm      delete every object and abort every upload
s3q() {
    python3 - "$PITR_TEST_S3_ENDPOINT" "$PITR_TEST_BUCKET" "$S3_PREFIX/$2" "$1" <<'PY'
import sys, boto3
from botocore.config import Config
ep, bucket, prefix, what = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(s3={"addressing_style": "path"}))
keys, ups = [], []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    keys += [o["Key"] for o in page.get("Contents", [])]
for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
    ups += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
if what == "state":
    for k in keys:
        print("K", k)
    for k, _ in ups:
        print("U", k)
elif what == "rm":
    for k, u in ups:
        s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=u)
    for k in keys:  # one by one: Swift wants Content-MD5 on DeleteObjects
        s3.delete_object(Bucket=bucket, Key=k)
PY
}

# repo_names KIND SUBPATH: the names a reader sees under SERVER-relative
# SUBPATH ("K name" per object, "U name" per upload; file:// has no uploads).
repo_names() {
    local kind=$1 sub=$2
    case $kind in
    file) [ -d "$W/repo-file/$sub" ] && (cd "$W/repo-file/$sub" && find . -type f | sed 's|^\./|K |') ;;
    s3) s3q state "$sub/" | sed "s|^\([KU]\) $S3_PREFIX/$sub/|\1 |" ;;
    esac
}

# fetch_cmp CONF SEG WANT_SHA: 0 when the archive gives SEG with WANT_SHA,
# 1 when SEG is not archived, 2 (and a message in FETCH_ERR) otherwise.
fetch_cmp() {
    local out=$W/fetch.tmp rc
    rm -f "$out"
    FETCH_ERR=$("$PGPITR_BIN" --config "$1" --prefetch 0 wal-fetch "$2" "$out" 2>&1)
    rc=$?
    [ $rc -eq 1 ] && [ ! -e "$out" ] && return 1
    if [ $rc -eq 0 ] && [ "$(sha "$out")" = "$3" ]; then
        rm -f "$out"
        return 0
    fi
    FETCH_ERR="exit $rc, sha $(sha "$out" 2>/dev/null): $FETCH_ERR"
    rm -f "$out"
    return 2
}

# ---- the source PostgreSQL and the segment pool ------------------------

table_sum() {
    pg_rig_psql "$1" "select count(*) || ':' || md5(string_agg(id || v, ',' order by id)) from crash_t"
}

setup_source() {
    mkdir -p "$W/repo-file" && chown postgres:postgres "$W/repo-file"
    conf file crash-src "$W/src-file.conf"
    conf s3 crash-src "$W/src-s3.conf"
    pg_rig_init "$SRC" "$SRC_PORT" || return 1
    pg_rig_conf "$SRC" "archive_mode = on"
    # Two repositories, one command each; no look-ahead markers shared between them.
    pg_rig_conf "$SRC" "archive_command = '$PGPITR_BIN --config $W/src-file.conf --look-ahead 0 wal-push %p && $PGPITR_BIN --config $W/src-s3.conf --look-ahead 0 wal-push %p'"
    pg_rig_conf "$SRC" "wal_keep_size = 1GB"
    pg_rig_start "$SRC" || return 1
    # Rows of random text: WAL that compresses to about half.
    pg_rig_psql "$SRC" "create table crash_t (id int primary key, v text);
        insert into crash_t select g, md5(random()::text) || md5(random()::text) from generate_series(1, 60000) g" ||
        return 1
    # More WAL for the pool, in a table dropped again (the backups stay small).
    pg_rig_psql "$SRC" "create table junk as select md5(random()::text) || md5(random()::text) v from generate_series(1, 1000000);
        drop table junk" || return 1
    SRC_SUM=$(table_sum "$SRC")
    pg_rig_wait_archived "$SRC" 120 || return 1
    # The pool: closed segments the archiver is done with.
    mkdir -p "$POOL"
    local f
    for f in "$SRC"/data/pg_wal/archive_status/*.done; do
        f=$(basename "$f" .done)
        [[ $f =~ ^[0-9A-F]{24}$ ]] || continue
        cp "$SRC/data/pg_wal/$f" "$POOL/$f"
        sha "$POOL/$f" >"$POOL/$f.sha"
    done
    mapfile -t POOL_SEGS < <(cd "$POOL" && find . -name '????????????????????????' | cut -c3- | sort)
    POOL_N=${#POOL_SEGS[@]}
    echo "# source: $POOL_N segments in the pool, table $SRC_SUM"
    [ "$POOL_N" -ge $((LA + 3)) ]
}

# ---- wal-push -----------------------------------------------------------

# wp_dir I J: a fresh pg_wal-like folder for iteration I holding pool
# segments J..J+LA (hard links), the later ones marked .ready; prints it.
wp_dir() {
    local d=$W/wp/$1/pg_wal k
    mkdir -p "$d/archive_status"
    for ((k = $2; k <= $2 + LA; k++)); do
        ln "$POOL/${POOL_SEGS[$k]}" "$d/${POOL_SEGS[$k]}"
        [ $k -gt "$2" ] && touch "$d/archive_status/${POOL_SEGS[$k]}.ready"
    done
    chown -R postgres:postgres "$W/wp/$1"
    echo "$d"
}

# wp_check KIND CONF DIR J PHASE: every segment of DIR absent or identical;
# PHASE "retry" wants them all stored. Markers must name stored segments.
# Sets WP_BAD (a message) on failure.
wp_check() {
    local kind=$1 cf=$2 d=$3 j=$4 phase=$5 k seg r names stored=0
    WP_BAD=
    for ((k = j; k <= j + LA; k++)); do
        seg=${POOL_SEGS[$k]}
        fetch_cmp "$cf" "$seg" "$(cat "$POOL/$seg.sha")"
        r=$?
        case $r in
        0) stored=$((stored + 1)) ;;
        1)
            [ "$phase" = retry ] && [ $k -eq "$j" ] && WP_BAD+=" $seg not stored after the retry;"
            [ -e "$d/pgpitr_spool/$seg.ok" ] && WP_BAD+=" look-ahead marker for $seg, which is not stored;"
            ;;
        *) WP_BAD+=" $seg: $FETCH_ERR;" ;;
        esac
    done
    # Names a reader sees: final segment names (any codec suffix) only.
    names=$(repo_names "$kind" "$(grep '^server' "$cf" | sed 's/.*= //')/wals")
    if grep -v -E '^K [0-9A-F]{16}/[0-9A-F]{24}(\.[a-z0-9]+)?$' <<<"$names" | grep -v -E '\.pitr-tmp\.' | grep -q .; then
        WP_BAD+=" unexpected names under wals/: $(grep -v -E '^K [0-9A-F]{16}/[0-9A-F]{24}(\.[a-z0-9]+)?$' <<<"$names" | tr '\n' ' ');"
    fi
    # s3: a temp (lease) object or an upload under wals/ would be visible to a lister.
    if [ "$kind" = s3 ] && grep -q -E '\.pitr-tmp\.|^U ' <<<"$names"; then
        WP_BAD+=" temp objects or uploads listed under wals/: $(grep -E '\.pitr-tmp\.|^U ' <<<"$names" | tr '\n' ' ');"
    fi
    TEMPS=$(grep -c '\.pitr-tmp\.' <<<"$names")
    STORED=$stored
    [ -z "$WP_BAD" ]
}

# campaign_wal_push KIND: CRASH_KILLS killed pushes, each followed by a check and a retry.
campaign_wal_push() {
    local kind=$1 i=0 kills=0 fails=0 j k d cf delay max left=0 stored_sum=0
    local tag=wal-push-$kind
    # Calibrate: one unkilled push of LA+1 segments.
    j=0
    d=$(wp_dir cal-$kind $j)
    # lz4: the kills are about the store, not the codec, and gzip of 16 MiB is slow on a busy machine.
    conf "$kind" "wpcal-$kind" "$W/wp/cal-$kind/conf" "compression = lz4"
    timed "$PGPITR_BIN" --config "$W/wp/cal-$kind/conf" --look-ahead $LA wal-push "$d/${POOL_SEGS[$j]}"
    [ "$RC" -eq 0 ] || { not_ok "$tag: calibration push failed (exit $RC)"; return; }
    max=$((MS + MS / 5 + 20))
    echo "# $tag: an unkilled push of $((LA + 1)) segments takes $MS ms; kills within 10..$max ms"
    while [ $kills -lt "$CRASH_KILLS" ] && [ $i -lt $((CRASH_KILLS * 3 + 10)) ]; do
        i=$((i + 1))
        rnd $((POOL_N - LA))
        j=$R
        rnd $((max - 10))
        delay=$((R + 10))
        d=$(wp_dir "$kind-$i" "$j")
        cf=$W/wp/$kind-$i/conf
        conf "$kind" "wp-$kind-$i" "$cf" "compression = lz4"
        killed_run "$delay" "$W/wp/$kind-$i/push.out" \
            "$PGPITR_BIN" --config "$cf" --look-ahead $LA wal-push "$d/${POOL_SEGS[$j]}"
        if [ $KILLED -eq 0 ]; then
            [ "$RC" -eq 0 ] || { fails=$((fails + 1)); not_ok "$tag #$i: unkilled push exit $RC: $(cat "$W/wp/$kind-$i/push.out")"; }
            max=$(shrink "$max")
            rm -rf "$W/wp/$kind-$i"
            continue
        fi
        kills=$((kills + 1))
        if ! wp_check "$kind" "$cf" "$d" "$j" killed; then
            fails=$((fails + 1))
            not_ok "$tag #$i (seg ${POOL_SEGS[$j]}, kill at $delay ms): after the kill:$WP_BAD"
        fi
        stored_sum=$((stored_sum + STORED))
        if ! "$PGPITR_BIN" --config "$cf" --look-ahead $LA wal-push "$d/${POOL_SEGS[$j]}" \
            >"$W/wp/$kind-$i/retry.out" 2>&1; then
            fails=$((fails + 1))
            not_ok "$tag #$i: the retry failed: $(cat "$W/wp/$kind-$i/retry.out")"
        fi
        # PostgreSQL would call again for each look-ahead segment, too.
        for ((k = j + 1; k <= j + LA; k++)); do
            "$PGPITR_BIN" --config "$cf" --look-ahead 0 wal-push "$d/${POOL_SEGS[$k]}" \
                >>"$W/wp/$kind-$i/retry.out" 2>&1 ||
                { fails=$((fails + 1)); not_ok "$tag #$i: the call for ${POOL_SEGS[$k]} failed: $(cat "$W/wp/$kind-$i/retry.out")"; }
        done
        if ! wp_check "$kind" "$cf" "$d" "$j" retry || [ "$STORED" -ne $((LA + 1)) ]; then
            fails=$((fails + 1))
            not_ok "$tag #$i (seg ${POOL_SEGS[$j]}, kill at $delay ms): after the retry ($STORED stored):$WP_BAD"
        fi
        left=$((left + TEMPS))
        # s3: the objects stay until the end (deleting them one by one costs more than the run).
        [ "$kind" = file ] && rm -rf "$W/repo-file/wp-$kind-$i"
        rm -rf "$W/wp/$kind-$i"
    done
    [ "$kind" = s3 ] && s3q rm "wp-$kind-"
    echo "# $tag: $i runs, $kills killed, $stored_sum segments already stored at the kill," \
        "$left temp file(s) of killed pushes left after the retries (hidden from readers)"
    SUMMARY+=("$tag: $kills kills in $i runs, $fails invariant failures")
    check "$tag: at least $CRASH_KILLS kills" test $kills -ge "$CRASH_KILLS"
    check "$tag: every kill kept the invariants ($fails failures)" test $fails -eq 0
}

# PostgreSQL's own archiver with a killed archive_command: nothing .ready
# is lost, every .done segment is stored as it is in pg_wal.
campaign_archiver() {
    local n=$(((CRASH_KILLS + 4) / 5)) k q=$W/arch-delays seg bad=0 kills cf=$W/arch.conf
    local tag=wal-push-archiver
    conf file crash-arch "$cf"
    # The first call is killed at once (a push of 16 MiB cannot be done in
    # 1 ms), so every run kills at least one; the others at a seeded delay,
    # which may come after the push has ended.
    echo 1 >"$q"
    for ((k = 1; k < n + 1; k++)); do
        rnd 400
        echo $((R + 10)) >>"$q"
    done
    cat >"$W/arch-wrap.sh" <<EOF
#!/bin/bash
# archive_command for the campaign: the first calls are SIGKILLed after the
# delay at the head of $q (one line per call).
d=\$(head -n 1 "$q")
sed -i 1d "$q"
"$PGPITR_BIN" --config "$cf" wal-push "\$1" &
p=\$!
if [ -n "\$d" ]; then
    sleep "\$(printf '%d.%03d' \$((d / 1000)) \$((d % 1000)))"
    kill -9 \$p 2>/dev/null
fi
wait \$p
rc=\$?
[ \$rc -eq 137 ] && echo killed >>"$W/arch-kills"
# 1, not 137: PostgreSQL retries a failed command; a "signal" exit restarts the archiver.
[ \$rc -eq 0 ] || exit 1
EOF
    chmod 755 "$W/arch-wrap.sh"
    chown postgres:postgres "$q" "$W"
    pg_rig_init "$ARCH" "$ARCH_PORT" || { not_ok "$tag: initdb"; return; }
    pg_rig_conf "$ARCH" "archive_mode = on"
    pg_rig_conf "$ARCH" "archive_command = '$W/arch-wrap.sh %p'"
    pg_rig_conf "$ARCH" "wal_keep_size = 1GB"
    pg_rig_start "$ARCH" || { not_ok "$tag: start"; return; }
    for ((k = 0; k < 6; k++)); do
        pg_rig_psql "$ARCH" "create table if not exists t (v text)" >/dev/null 2>&1
        pg_rig_psql "$ARCH" "
            insert into t select md5(random()::text) from generate_series(1, 60000); select pg_switch_wal()" >/dev/null
    done
    check "$tag: the archiver catches up through the killed calls" pg_rig_wait_archived "$ARCH" 180
    kills=$(wc -l <"$W/arch-kills" 2>/dev/null || echo 0)
    echo "# $tag: $kills archive_command calls killed; $(pg_rig_psql "$ARCH" "select archived_count || ' archived, ' || failed_count || ' failed' from pg_stat_archiver")"
    check "$tag: calls were killed" test "$kills" -ge 1
    check "$tag: pg_stat_archiver counts the killed calls as failures" \
        test "$(pg_rig_psql "$ARCH" "select failed_count from pg_stat_archiver")" -ge "$kills"
    check "$tag: no segment is left .ready" \
        test -z "$(find "$ARCH/data/pg_wal/archive_status" -name '*.ready')"
    for seg in "$ARCH"/data/pg_wal/archive_status/*.done; do
        seg=$(basename "$seg" .done)
        [ -e "$ARCH/data/pg_wal/$seg" ] || continue
        fetch_cmp "$cf" "$seg" "$(sha "$ARCH/data/pg_wal/$seg")" ||
            { bad=$((bad + 1)); not_ok "$tag: $seg is .done but the archive gives: $FETCH_ERR"; }
    done
    check "$tag: every .done segment is stored with its bytes" test $bad -eq 0
    SUMMARY+=("$tag: $kills kills, $bad lost or different segments")
    pg_rig_stop "$ARCH"
}

# ---- backup -------------------------------------------------------------

# bk_ids KIND: "ID STATUS" per backup folder under crash-src/base/ (STATUS
# "-" without backup.info), plus "TEMP name" / "UPLOAD key" lines.
bk_state() {
    local kind=$1 names id
    names=$(repo_names "$kind" crash-src/base)
    for id in $(grep '^K ' <<<"$names" | cut -c3- | cut -d/ -f1 | sort -u); do
        if grep -qx "K $id/backup.info" <<<"$names"; then
            case $kind in
            file) echo "$id $(sed -n 's/^status=//p' "$W/repo-file/crash-src/base/$id/backup.info")" ;;
            s3) echo "$id $("$PGPITR_BIN" --config "$W/src-s3.conf" object-get "crash-src/base/$id/backup.info" - 2>/dev/null | sed -n 's/^status=//p')" ;;
            esac
        else
            echo "$id -"
        fi
    done
    grep '\.pitr-tmp\.' <<<"$names" | sed 's/^K /TEMP /'
    grep '^U ' <<<"$names" | sed 's/^U /UPLOAD /'
}

# backup_cmd CONF [OPTIONS]: pgpitr backup of the source (one process: env execs it).
backup_cmd() {
    env PGHOST="$SRC/sock" PGPORT="$SRC_PORT" PGUSER=postgres "$PGPITR_BIN" --config "$1" backup \
        -J 1 --immediate-checkpoint --wal-wait-timeout 60 "${@:2}"
}

# next_second: wait until the clock's second changes (backup ids are seconds).
next_second() {
    local s
    s=$(date +%s)
    while [ "$(date +%s)" = "$s" ]; do sleep 0.05; done
}

campaign_backup() {
    local kind=$1 i=0 kills=0 fails=0 cf delay max st bad comp seen=()
    cf=$W/src-$kind.conf
    local tag=backup-$kind out=$W/bk-$kind.out
    # s3: uncompressed, so every volume is a multipart upload of 5 MiB parts.
    comp=gzip
    [ "$kind" = s3 ] && comp=none
    next_second
    timed backup_cmd "$cf" --compression $comp >"$out" 2>&1
    [ "$RC" -eq 0 ] || { not_ok "$tag: calibration backup failed: $(cat "$out")"; return; }
    max=$((MS + MS / 5 + 20))
    echo "# $tag: an unkilled backup takes $MS ms; kills within 10..$max ms"
    while [ $kills -lt "$CRASH_KILLS" ] && [ $i -lt $((CRASH_KILLS * 3 + 10)) ]; do
        i=$((i + 1))
        rnd $((max - 10))
        delay=$((R + 10))
        next_second
        killed_run "$delay" "$out" env PGHOST="$SRC/sock" PGPORT="$SRC_PORT" PGUSER=postgres \
            "$PGPITR_BIN" --config "$cf" backup -J 1 --immediate-checkpoint --wal-wait-timeout 60 --compression $comp
        if [ $KILLED -eq 0 ]; then
            [ "$RC" -eq 0 ] || { fails=$((fails + 1)); not_ok "$tag #$i: unkilled backup exit $RC: $(cat "$out")"; }
            max=$(shrink "$max")
            continue
        fi
        kills=$((kills + 1))
        st=$(bk_state "$kind")
        bad=$(grep -E '^[0-9T]+ ' <<<"$st" | grep -v -E ' (DONE|FAILED|-)$')
        if [ -n "$bad" ]; then
            fails=$((fails + 1))
            not_ok "$tag #$i (kill at $delay ms): a backup.info is neither DONE nor FAILED: $bad"
        fi
        next_second
        if ! backup_cmd "$cf" --compression $comp >"$out" 2>&1; then
            fails=$((fails + 1))
            not_ok "$tag #$i: the backup after the kill failed: $(cat "$out")"
        fi
        st=$(bk_state "$kind")
        # Each leftover is reported once (it stays: later runs would see it again).
        bad=$(grep -v -E '^[0-9T]+ (DONE|FAILED)$' <<<"$st" | grep -v -x -F -f <(printf '%s\n' "${seen[@]}" ""))
        if [ -n "$bad" ]; then
            fails=$((fails + 1))
            not_ok "$tag #$i (kill at $delay ms): left behind after the next backup: $(tr '\n' ' ' <<<"$bad")"
            mapfile -t -O "${#seen[@]}" seen <<<"$bad"
        fi
        # Keep the repository small: now and then drop every backup but the newest.
        [ $((kills % 5)) -eq 0 ] && prune_backups "$kind"
    done
    SUMMARY+=("$tag: $kills kills in $i runs, $fails invariant failures")
    check "$tag: at least $CRASH_KILLS kills" test $kills -ge "$CRASH_KILLS"
    check "$tag: every kill kept the invariants ($fails failures)" test $fails -eq 0
}

# prune_backups KIND: delete every backup of crash-src but the newest DONE one
# and REF_ID (by pgpitr delete; folders without backup.info are left to be seen).
prune_backups() {
    local kind=$1 id newest st
    st=$(bk_state "$kind")
    newest=$(awk '$2 == "DONE" { print $1 }' <<<"$st" | sort | tail -n 1)
    for id in $(awk '$2 == "DONE" || $2 == "FAILED" { print $1 }' <<<"$st"); do
        [ "$id" = "$newest" ] || [ "$id" = "${REF_ID:-}" ] && continue
        "$PGPITR_BIN" --config "$W/src-$kind.conf" delete "$id" >/dev/null 2>&1
    done
}

# ---- restore ------------------------------------------------------------

# The restored files, without pg_wal/pgpitr_prefetch/: the WAL a restore
# fetched ahead (issue 15) depends on how long the data files took, so two
# restores of one backup hold different numbers of segments there;
# spool_same compares what they have in common.
tree_sum() {
    (cd "$1" && find . -path ./pg_wal/pgpitr_prefetch -prune -o -type f ! -name postgresql.auto.conf -print0 |
        sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

# spool_same DATA REFSPOOL: every segment fetched ahead into DATA that the
# reference restore fetched too (REFSPOOL: a copy taken before the reference
# was started, since recovery consumes the spool) is the same file;
# SPOOL_COMPARED counts them.
SPOOL_COMPARED=0
spool_same() {
    local s
    for s in "$1"/pg_wal/pgpitr_prefetch/*; do
        [ -f "$s" ] || continue
        [ -f "$2/${s##*/}" ] || continue
        cmp -s "$s" "$2/${s##*/}" || return 1
        SPOOL_COMPARED=$((SPOOL_COMPARED + 1))
    done
    return 0
}

# start_check DIR: start the restored copy in DIR, wait for promotion, print its table sum.
start_check() {
    local r=$1 k
    mkdir -p "$r/sock"
    cat >>"$r/data/postgresql.auto.conf" <<CONF
port = $CHECK_PORT
unix_socket_directories = '$r/sock'
archive_mode = off
CONF
    echo "$CHECK_PORT" >"$r/port"
    chown -R postgres:postgres "$r"
    pg_rig_start "$r" >/dev/null || return 1
    for ((k = 0; k < 300; k++)); do
        [ "$(pg_rig_psql "$r" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && break
        sleep 0.2
    done
    table_sum "$r"
    pg_rig_stop "$r"
}

# ensure_ref: REF_ID and REF_ID_S3, the newest DONE backups (taken when there are none).
ensure_ref() {
    [ -n "${REF_ID:-}" ] && return 0
    [ -n "$(bk_state file | awk '$2 == "DONE"')" ] || backup_cmd "$W/src-file.conf" >/dev/null 2>&1
    [ -n "$(bk_state s3 | awk '$2 == "DONE"')" ] || backup_cmd "$W/src-s3.conf" >/dev/null 2>&1
    REF_ID=$(bk_state file | awk '$2 == "DONE" { print $1 }' | sort | tail -n 1)
    REF_ID_S3=$(bk_state s3 | awk '$2 == "DONE" { print $1 }' | sort | tail -n 1)
}

campaign_restore() {
    local i=0 kills=0 fails=0 delay max t f kind cf out=$W/rs.out same_ok=0 same_ref=0 started=0
    local tag=restore
    ensure_ref
    mkdir -p "$W/rs"
    timed "$PGPITR_BIN" --config "$W/src-file.conf" restore "$REF_ID" "$W/rs/ref/data" >"$out" 2>&1
    [ "$RC" -eq 0 ] || { not_ok "$tag: reference restore failed: $(cat "$out")"; return; }
    REF_SUM=$(tree_sum "$W/rs/ref/data")
    mkdir -p "$W/rs/ref-spool" "$W/rs/ref-s3-spool"
    cp -p "$W"/rs/ref/data/pg_wal/pgpitr_prefetch/* "$W/rs/ref-spool/" 2>/dev/null
    max=$((MS + MS / 5 + 20))
    echo "# $tag: an unkilled restore takes $MS ms; kills within 10..$max ms"
    "$PGPITR_BIN" --config "$W/src-s3.conf" restore "$REF_ID_S3" "$W/rs/ref-s3/data" >"$out" 2>&1 ||
        { not_ok "$tag: reference restore from s3 failed: $(cat "$out")"; return; }
    REF_SUM_S3=$(tree_sum "$W/rs/ref-s3/data")
    cp -p "$W"/rs/ref-s3/data/pg_wal/pgpitr_prefetch/* "$W/rs/ref-s3-spool/" 2>/dev/null
    # The references are started once; later copies are compared with them file by file.
    check "$tag: the reference restore recovers the source's rows" \
        test "$(start_check "$W/rs/ref")" = "$SRC_SUM"
    check "$tag: the reference restore from s3 recovers the source's rows" \
        test "$(start_check "$W/rs/ref-s3")" = "$SRC_SUM"
    while [ $kills -lt "$CRASH_KILLS" ] && [ $i -lt $((CRASH_KILLS * 3 + 10)) ]; do
        i=$((i + 1))
        rnd $((max - 10))
        delay=$((R + 10))
        t=$W/rs/t$i
        killed_run "$delay" "$out" "$PGPITR_BIN" --config "$W/src-file.conf" restore "$REF_ID" "$t/data"
        if [ $KILLED -eq 0 ]; then
            [ "$RC" -eq 0 ] || { fails=$((fails + 1)); not_ok "$tag #$i: unkilled restore exit $RC: $(cat "$out")"; }
            max=$(shrink "$max")
            rm -rf "$t"
            continue
        fi
        kills=$((kills + 1))
        # Again into the same target: it works, or it refuses the non-empty target by name.
        if "$PGPITR_BIN" --config "$W/src-file.conf" restore "$REF_ID" "$t/data" >"$out" 2>&1; then
            same_ok=$((same_ok + 1))
            [ "$(tree_sum "$t/data")" = "$REF_SUM" ] ||
                { fails=$((fails + 1)); not_ok "$tag #$i: the re-run into the same target differs from the reference"; }
        elif ! grep -q "'$t/data' is not empty" "$out"; then
            fails=$((fails + 1))
            not_ok "$tag #$i (kill at $delay ms): the re-run into the same target fails without naming it non-empty: $(cat "$out")"
        else
            same_ref=$((same_ref + 1))
        fi
        # Into a fresh target, from file:// or s3:// by turns.
        f=$W/rs/f$i
        kind="file"
        [ $((i % 2)) -eq 0 ] && kind="s3"
        if [ $kind = s3 ]; then
            "$PGPITR_BIN" --config "$W/src-s3.conf" restore "$REF_ID_S3" "$f/data" >"$out" 2>&1
        else
            "$PGPITR_BIN" --config "$W/src-file.conf" restore "$REF_ID" "$f/data" >"$out" 2>&1
        fi
        if [ $? -ne 0 ]; then
            fails=$((fails + 1))
            not_ok "$tag #$i: restore into a fresh target ($kind) failed: $(cat "$out")"
        elif [ "$(tree_sum "$f/data")" != "$([ $kind = s3 ] && echo "$REF_SUM_S3" || echo "$REF_SUM")" ]; then
            fails=$((fails + 1))
            not_ok "$tag #$i: the fresh restore's files ($kind) differ from the reference restore's"
        elif ! spool_same "$f/data" "$W/rs/ref-$([ $kind = s3 ] && echo s3-)spool"; then
            fails=$((fails + 1))
            not_ok "$tag #$i: a segment the fresh restore ($kind) fetched ahead differs from the reference restore's"
        elif [ $((i % 10)) -eq 1 ]; then
            started=$((started + 1))
            [ "$(start_check "$f")" = "$SRC_SUM" ] ||
                { fails=$((fails + 1)); not_ok "$tag #$i: the fresh restore ($kind) does not recover the source's rows: $(tail -n 5 "$f/log")"; }
        fi
        rm -rf "$t" "$f"
    done
    echo "# $tag: $kills kills; re-run into the same target: $same_ok worked, $same_ref refused (non-empty); $started fresh copies started; $SPOOL_COMPARED segments fetched ahead compared with the reference's"
    SUMMARY+=("$tag: $kills kills in $i runs, $fails invariant failures")
    check "$tag: at least $CRASH_KILLS kills" test $kills -ge "$CRASH_KILLS"
    check "$tag: every kill kept the invariants ($fails failures)" test $fails -eq 0
}

# ---- wal-fetch with prefetch --------------------------------------------

# worker_pid SPOOL: the detached worker holding SPOOL's lock (another
# process than the call), if any.
worker_pid() {
    local p fd
    # Only pgpitr processes, and only the one holding this spool's lock.
    for p in $(pgrep -x pgpitr); do
        for fd in /proc/"$p"/fd/*; do
            [ "$(readlink "$fd" 2>/dev/null)" = "$1/prefetch.lock" ] && { echo "$p"; return 0; }
        done 2>/dev/null
    done
    return 1
}

# wf_check CONF DEST SEG: DEST is absent or SEG's bytes; WF_BAD says otherwise.
wf_dest_ok() {
    [ ! -e "$1" ] || [ "$(sha "$1")" = "$(cat "$POOL/$2.sha")" ]
}

# ensure_wf_archive: the whole pool archived in both repositories (server crash-wf).
ensure_wf_archive() {
    local kind seg
    [ -e "$W/wf-s3.conf" ] && return 0
    for kind in file s3; do
        conf "$kind" crash-wf "$W/wf-$kind.conf"
        for seg in "${POOL_SEGS[@]}"; do
            "$PGPITR_BIN" --config "$W/wf-$kind.conf" --look-ahead 0 wal-push "$POOL/$seg" >/dev/null 2>&1 ||
                return 1
        done
    done
}

campaign_wal_fetch() {
    local i=0 kills=0 fails=0 j k seg d dest cf kind delay max out victim pid first
    local tag=wal-fetch
    ensure_wf_archive || { not_ok "$tag: cannot archive the pool"; return; }
    # Calibrate: a call that starts the worker, and the worker's whole batch.
    d=$W/wf/cal
    mkdir -p "$d/pg_wal/archive_status" && echo 15 >"$d/PG_VERSION" && touch "$d/recovery.signal"
    timed "$PGPITR_BIN" --config "$W/wf-s3.conf" wal-fetch "${POOL_SEGS[0]}" "$d/pg_wal/RECOVERYXLOG" >/dev/null 2>&1
    local call_ms=$MS t0
    t0=$(now_ms)
    # Kills land within its first 3 s at most (later it only idles).
    while worker_pid "$d/pg_wal/pgpitr_prefetch" >/dev/null && [ $(($(now_ms) - t0)) -lt 3000 ]; do sleep 0.05; done
    local worker_ms=$(($(now_ms) - t0))
    "$PGPITR_BIN" --config "$W/wf-s3.conf" wal-fetch --clean-spool --spool-dir "$d/pg_wal/pgpitr_prefetch" >/dev/null 2>&1
    echo "# $tag: a call takes $call_ms ms; worker kills within 5..$((worker_ms + 5)) ms after it"
    while [ $kills -lt "$CRASH_KILLS" ] && [ $i -lt $((CRASH_KILLS * 3 + 10)) ]; do
        i=$((i + 1))
        kind=s3
        [ $((i % 3)) -eq 0 ] && kind="file"
        cf=$W/wf-$kind.conf
        d=$W/wf/$i
        mkdir -p "$d/pg_wal/archive_status" && echo 15 >"$d/PG_VERSION" && touch "$d/recovery.signal"
        dest=$d/pg_wal/RECOVERYXLOG
        out=$d/out
        rnd $((POOL_N - 4))
        j=$R
        seg=${POOL_SEGS[$j]}
        # Odd runs kill the call, even runs the detached worker.
        if [ $((i % 2)) -eq 1 ]; then
            victim=call
            rnd $((call_ms + call_ms / 5 + 10))
            delay=$((R + 5))
            killed_run "$delay" "$out" "$PGPITR_BIN" --config "$cf" wal-fetch "$seg" "$dest"
            [ $KILLED -eq 1 ] || call_ms=$(shrink "$call_ms")
        else
            victim=worker
            "$PGPITR_BIN" --config "$cf" wal-fetch "$seg" "$dest" >"$out" 2>&1 ||
                { fails=$((fails + 1)); not_ok "$tag #$i: the call failed: $(cat "$out")"; }
            wf_dest_ok "$dest" "$seg" && [ -e "$dest" ] ||
                { fails=$((fails + 1)); not_ok "$tag #$i: the call delivered wrong bytes for $seg"; }
            rm -f "$dest"
            KILLED=0
            # Only the time the worker fetches (the idle wait is not interesting).
            rnd "$worker_ms"
            delay=$((R + 5))
            sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
            pid=$(worker_pid "$d/pg_wal/pgpitr_prefetch") && kill -9 "$pid" 2>/dev/null && KILLED=1
            # Wait until the worker is gone (reaped by init).
            for ((k = 0; k < 100; k++)); do [ -n "$pid" ] && [ -e "/proc/$pid" ] && sleep 0.05; done
        fi
        if [ $KILLED -eq 1 ]; then
            kills=$((kills + 1))
            wf_dest_ok "$dest" "$seg" ||
                { fails=$((fails + 1)); not_ok "$tag #$i ($victim killed at $delay ms): DEST holds wrong or partial bytes for $seg"; }
        fi
        # Recovery goes on: the asked segment (when the call died) and the next ones.
        first=$((j + 1))
        [ $victim = call ] && first=$j
        for ((k = first; k <= j + 3; k++)); do
            rm -f "$dest"
            if ! "$PGPITR_BIN" --config "$cf" wal-fetch "${POOL_SEGS[$k]}" "$dest" >"$out" 2>&1; then
                fails=$((fails + 1))
                not_ok "$tag #$i ($victim killed at $delay ms): the next call for ${POOL_SEGS[$k]} failed: $(cat "$out")"
            elif ! wf_dest_ok "$dest" "${POOL_SEGS[$k]}" || [ ! -e "$dest" ]; then
                fails=$((fails + 1))
                not_ok "$tag #$i ($victim killed at $delay ms): the next call delivered wrong bytes for ${POOL_SEGS[$k]}"
            fi
        done
        rm -f "$d/recovery.signal"
        "$PGPITR_BIN" --config "$cf" wal-fetch --clean-spool --spool-dir "$d/pg_wal/pgpitr_prefetch" >/dev/null 2>&1
        for ((k = 0; k < 100; k++)); do worker_pid "$d/pg_wal/pgpitr_prefetch" >/dev/null || break; sleep 0.1; done
        rm -rf "$d"
    done
    SUMMARY+=("$tag: $kills kills in $i runs, $fails invariant failures")
    check "$tag: at least $CRASH_KILLS kills" test $kills -ge "$CRASH_KILLS"
    check "$tag: every kill kept the invariants ($fails failures)" test $fails -eq 0
}

# ---- disk full ------------------------------------------------------------

# tmpfs DIR SIZE: a fresh tmpfs of SIZE on DIR.
tmpfs() {
    mkdir -p "$1"
    mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" || return 1
    MOUNTED+=("$1")
}

untmpfs() {
    umount "$1"
}

campaign_disk_full() {
    local tag=disk-full r cf out=$W/df.out seg=${POOL_SEGS[0]} names
    ensure_ref
    ensure_wf_archive || { not_ok "$tag: cannot archive the pool"; return; }
    # 1. The file:// repository: 8 MiB, a 16 MiB uncompressed segment does not fit.
    r=$MNT/repo
    tmpfs "$r" 8M || { not_ok "$tag: cannot mount a tmpfs (mount -t tmpfs)"; return; }
    chown postgres:postgres "$r"
    conf "$r" full "$W/df-repo.conf" "compression = none"
    cf=$W/df-repo.conf
    expect_exit "$tag repo: wal-push into a full repository fails" 10 \
        "$PGPITR_BIN" --config "$cf" wal-push "$POOL/$seg"
    expect_err_has "$tag repo: the error says the disk is full" "No space left on device"
    names=$(cd "$r" && find . -type f)
    check "$tag repo: nothing is left in the repository ($names)" test -z "$names"
    mount -o remount,size=64M "$r"
    expect_exit "$tag repo: the same wal-push succeeds once there is space" 0 \
        "$PGPITR_BIN" --config "$cf" wal-push "$POOL/$seg"
    fetch_cmp "$cf" "$seg" "$(cat "$POOL/$seg.sha")"
    check "$tag repo: the stored segment is the original" test $? -eq 0
    # A backup into a full repository (PGDATA is over 50 MiB uncompressed).
    untmpfs "$r"
    tmpfs "$r" 12M
    chown postgres:postgres "$r"
    conf "$r" crash-src "$W/df-bk.conf" "compression = none"
    next_second
    backup_cmd "$W/df-bk.conf" >"$out" 2>&1
    local rc=$?
    check "$tag repo: a backup into a full repository fails (exit $rc)" test $rc -ne 0 -a $rc -ne 137
    check "$tag repo: and says the disk is full" grep -q "No space left on device" "$out"
    names=$(cd "$r" && find . -type f)
    local info
    info=$(cat "$r"/crash-src/base/*/backup.info 2>/dev/null)
    check "$tag repo: the backup is FAILED or absent" test -z "$info" -o "$(grep -c '^status=FAILED' <<<"$info")" -eq 1
    check "$tag repo: nothing but backup.info is left ($(tr '\n' ' ' <<<"$names"))" \
        test -z "$(grep -v '/backup.info$' <<<"$names" | grep -v '^$')"
    untmpfs "$r"

    # 2. The wal-fetch spool: 20 MiB holds one segment at most; prefetch 8.
    local sp=$MNT/spool d=$W/df-wf k bad=0
    tmpfs "$sp" 20M
    mkdir -p "$d"
    for ((k = 0; k < 5 && k < POOL_N; k++)); do
        rm -f "$d/x"
        "$PGPITR_BIN" --config "$W/wf-file.conf" --prefetch 8 wal-fetch "${POOL_SEGS[$k]}" "$d/x" \
            --spool-dir "$sp/spool" >"$out" 2>&1
        rc=$?
        if [ $rc -eq 0 ]; then
            [ "$(sha "$d/x")" = "$(cat "$POOL/${POOL_SEGS[$k]}.sha")" ] ||
                { bad=$((bad + 1)); not_ok "$tag spool: wrong bytes delivered for ${POOL_SEGS[$k]}"; }
        else
            [ ! -e "$d/x" ] || { bad=$((bad + 1)); not_ok "$tag spool: failed (exit $rc) but left DEST"; }
            grep -q "No space left" "$out" || { bad=$((bad + 1)); not_ok "$tag spool: exit $rc without a clear reason: $(cat "$out")"; }
        fi
        sleep 0.5 # let the worker run into the full spool
    done
    check "$tag spool: every call delivered the right segment or failed clearly ($bad bad)" test $bad -eq 0
    check "$tag spool: the worker did run into the full spool" \
        test "$(df --output=avail "$sp" | tail -n 1)" -lt 16384
    "$PGPITR_BIN" --config "$W/wf-file.conf" wal-fetch --clean-spool --spool-dir "$sp/spool" >/dev/null 2>&1
    for ((k = 0; k < 100; k++)); do worker_pid "$sp/spool" >/dev/null || break; sleep 0.1; done
    untmpfs "$sp"

    # 3. The restore target: 16 MiB.
    local t=$MNT/target
    tmpfs "$t" 16M
    expect_exit "$tag target: restore into a full target fails" 10 \
        "$PGPITR_BIN" --config "$W/src-file.conf" restore "$REF_ID" "$t/data"
    expect_err_has "$tag target: with ENOSPC" "No space left on device"
    expect_err_has "$tag target: naming a file in the target" "'$t/data/"
    untmpfs "$t"
}

# ---- main -----------------------------------------------------------------

SUMMARY=()
KINDS=${CRASH_KINDS:-"wal-push-file wal-push-s3 archiver backup-file backup-s3 restore wal-fetch disk-full"}
t_start=$(date +%s)
if setup_source; then
    ok "source PostgreSQL with $POOL_N archived segments"
    for kind in $KINDS; do
        t0=$(date +%s)
        case $kind in
        wal-push-file) campaign_wal_push file ;;
        wal-push-s3) campaign_wal_push s3 ;;
        archiver) campaign_archiver ;;
        backup-file) campaign_backup file ;;
        backup-s3) campaign_backup s3 ;;
        restore) campaign_restore ;;
        wal-fetch) campaign_wal_fetch ;;
        disk-full) campaign_disk_full ;;
        esac
        echo "# $kind: $(($(date +%s) - t0)) s"
    done
else
    not_ok "source PostgreSQL set-up: $(tail -n 5 "$SRC/log" 2>/dev/null)"
fi
echo "# crash campaign summary (seed $CRASH_SEED, $(($(date +%s) - t_start)) s):"
for s in "${SUMMARY[@]}"; do echo "#   $s"; done
finish

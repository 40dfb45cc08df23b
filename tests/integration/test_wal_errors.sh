#!/usr/bin/env bash
# Bad input for wal-push and wal-fetch: each case gets a clear error, the
# documented exit code, and nothing already archived is lost or replaced.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

w=$IT_TMP/errors
mkdir -p "$w/pg_wal" "$w/repo"
P=$PGPITR_BIN
SEG=000000010000000000000001

# A real segment: the first one a fresh cluster writes.
d=$IT_TMP/pg-errors
pg_rig_init "$d" 25499 >/dev/null
pg_rig_conf "$d" "wal_keep_size = '1GB'"
pg_rig_start "$d"
pg_rig_psql "$d" "create table t as select generate_series(1, 1000) g" >/dev/null
pg_rig_psql "$d" "select pg_switch_wal()" >/dev/null
pg_rig_stop "$d"
cp "$d/data/pg_wal/$SEG" "$w/pg_wal/$SEG" || { not_ok "a first segment to test with"; finish; exit 1; }
mkdir -p "$w/short" "$w/repo/srv/wals/0000000700000000"
export PGPITR_REPO=file://$w/repo PGPITR_SERVER=srv

expect_exit "wal-push of a missing file fails" 1 "$P" wal-push "$w/pg_wal/000000010000000000000009"
expect_err_has "missing file: the message names the file" "$w/pg_wal/000000010000000000000009"

mkdir -p "$w/ro" && cp "$w/pg_wal/$SEG" "$w/ro/$SEG" && chmod 000 "$w/ro/$SEG" && chmod 755 "$w" "$w/ro"
expect_exit "wal-push of an unreadable file fails" 10 pg_rig_as "$P" --repo "file://$w/ro-repo" wal-push "$w/ro/$SEG"
expect_err_has "unreadable file: the cause is given" "Permission denied"

expect_exit "a name that is not a WAL file is refused" 3 "$P" wal-push /etc/hostname
expect_err_has "bad name: the message says why" "is not a WAL file name"

expect_exit "wal-fetch of a name that is not a WAL file is refused" 3 "$P" wal-fetch hostname "$w/x"

expect_exit "a malformed repository URL is refused" 3 "$P" --repo "ftp://x/y" wal-push "$w/pg_wal/$SEG"
expect_err_has "malformed URL: the message names it" "malformed repository URL 'ftp://x/y'"
expect_exit "a relative file:// URL is refused" 3 "$P" --repo "file://relative/path" wal-push "$w/pg_wal/$SEG"
expect_exit "an s3:// URL without a bucket is refused" 3 "$P" --repo "s3://" wal-push "$w/pg_wal/$SEG"
expect_exit "no server name is refused" 3 env -u PGPITR_SERVER "$P" wal-push "$w/pg_wal/$SEG"
for s in "" . .. ../ ../x $'a\nb'; do
    expect_exit "server name '$s' is refused" 3 "$P" --server "$s" wal-fetch "$SEG" "$w/x"
    expect_err_has "server name '$s': the message says why" "server name"
done

head -c 1000 "$w/pg_wal/$SEG" >"$w/short/$SEG"
expect_exit "a truncated segment is refused" 16 "$P" wal-push "$w/short/$SEG"
expect_err_has "truncated segment: the message gives both sizes" "not a complete WAL segment"

expect_exit "wal-push stores a segment" 0 "$P" wal-push "$w/pg_wal/$SEG"
expect_exit "pushing identical bytes again succeeds" 0 "$P" wal-push "$w/pg_wal/$SEG"
expect_err_has "identical re-push: a notice says so" "identical content"

mkdir -p "$w/other"
cp "$w/pg_wal/$SEG" "$w/other/$SEG"
printf 'X' | dd of="$w/other/$SEG" bs=1 seek=100000 conv=notrunc status=none
stored=$w/repo/srv/wals/${SEG:0:16}/$SEG.gz
before=$(sha256sum <"$stored")
expect_exit "different bytes under an archived name are refused" 13 "$P" wal-push "$w/other/$SEG"
expect_err_has "conflict: the message names the stored object" "srv/wals/${SEG:0:16}/$SEG.gz"
check "conflict: the archived object is unchanged" test "$before" = "$(sha256sum <"$stored")"
expect_exit "different bytes with another compression are refused too" 13 "$P" --compression zstd wal-push "$w/other/$SEG"
check "conflict: no second variant was written" test ! -e "$w/repo/srv/wals/${SEG:0:16}/$SEG.zst"

expect_exit "wal-fetch of a WAL that is not archived exits 1" 1 "$P" wal-fetch 000000010000000000000042 "$w/x"
expect_err_has "not found: stderr names the segment at the default log level" \
    "WAL file '000000010000000000000042' is not in the archive"
check "not found: nothing is written" test ! -e "$w/x"
expect_exit "wal-fetch of a history file that is not archived exits 1" 1 "$P" wal-fetch 00000009.history "$w/x"
check "not found: a missing history file (a routine probe) is quiet at the default level" test -z "$T_ERR"
expect_exit "wal-fetch restores an archived segment" 0 "$P" wal-fetch "$SEG" "$w/fetched"
check "wal-fetch: same bytes" cmp -s "$w/fetched" "$w/pg_wal/$SEG"
expect_exit "wal-fetch into a missing directory fails, not 'not found'" 10 "$P" wal-fetch "$SEG" "$w/no/such/dir/f"

# A timeline history file sits directly under wals/, as barman-cloud puts it.
printf '1\t0/3000000\tno recovery target specified\n' >"$w/00000002.history"
expect_exit "wal-push of a history file" 0 "$P" wal-push "$w/00000002.history"
check "history file key has no hash folder" test -f "$w/repo/srv/wals/00000002.history.gz"
expect_exit "wal-fetch of a history file" 0 "$P" wal-fetch 00000002.history "$w/h"
check "history file: same bytes" cmp -s "$w/h" "$w/00000002.history"

# Only a .partial is archived: it is restored under the requested name.
# (Timeline 2's copy of segment 1: its pages may carry an older timeline.)
cp "$w/pg_wal/$SEG" "$w/000000020000000000000001.partial"
expect_exit "wal-push of a partial segment" 0 "$P" --compression none wal-push "$w/000000020000000000000001.partial"
expect_exit "wal-fetch falls back to the partial segment" 0 "$P" wal-fetch 000000020000000000000001 "$w/p"
check "partial fallback: same bytes" cmp -s "$w/p" "$w/pg_wal/$SEG"

# Objects as barman-cloud writes them (bzip2, xz, plain) are found by suffix.
# Segment 1's bytes under segment 1's name, one timeline per codec (7 and 9
# are used below): wal-fetch delivers only a segment whose address is its name's.
for ct in bzip2:5 xz:6 lz4:8 snappy:B none:C; do
    c=${ct%%:*}
    seg=0000000${ct##*:}0000000000000001
    cp "$w/pg_wal/$SEG" "$w/$seg"
    "$P" --compression $c wal-push "$w/$seg" && "$P" wal-fetch "$seg" "$w/f-$c" 2>/dev/null
    check "round trip through $c" cmp -s "$w/f-$c" "$w/$seg"
    rm -f "$w/$seg"
done
bzip2 -c "$w/pg_wal/$SEG" >"$w/repo/srv/wals/0000000700000000/000000070000000000000001.bz2"
expect_exit "wal-fetch reads a .bz2 written by bzip2(1)" 0 "$P" wal-fetch 000000070000000000000001 "$w/b"
check "bzip2(1) object: same bytes" cmp -s "$w/b" "$w/pg_wal/$SEG"

# Look-ahead: pushing one segment of a pg_wal folder also pushes the next
# .ready ones; later calls are answered from the spool markers, and a file
# changed after its look-ahead push is archived again (and so refused).
la=$w/la/pg_wal
mkdir -p "$la/archive_status"
for i in 1 2 3 4; do
    cp "$w/pg_wal/$SEG" "$la/00000009000000000000000$i"
    printf '%s' "$i" | dd of="$la/00000009000000000000000$i" bs=1 seek=200000 conv=notrunc status=none
    touch "$la/archive_status/00000009000000000000000$i.ready"
done
expect_exit "look-ahead: the first push succeeds" 0 "$P" --look-ahead 8 wal-push "$la/000000090000000000000001"
n=$(ls "$w/repo/srv/wals/0000000900000000/" 2>/dev/null | wc -l)
check "look-ahead: the three next .ready segments were pushed too ($n objects)" test "$n" -eq 4
check "look-ahead: markers were left for them" test -f "$la/pgpitr_spool/000000090000000000000002.ok"
mv "$la/archive_status/000000090000000000000001.ready" "$la/archive_status/000000090000000000000001.done"
expect_exit "look-ahead: the next call is answered from the marker" 0 "$P" --log-level info wal-push "$la/000000090000000000000002"
expect_err_has "look-ahead: the log says so" "earlier look-ahead push"
check "look-ahead: the marker is consumed" test ! -e "$la/pgpitr_spool/000000090000000000000002.ok"
mv "$la/archive_status/000000090000000000000002.ready" "$la/archive_status/000000090000000000000002.done"
printf 'Z' | dd of="$la/000000090000000000000003" bs=1 seek=300000 conv=notrunc status=none
expect_exit "look-ahead: a file changed after its push is not trusted and conflicts" 13 "$P" wal-push "$la/000000090000000000000003"
expect_err_has "look-ahead: the mismatch is reported" "does not match the file"
zcat "$w/repo/srv/wals/0000000900000000/000000090000000000000004.gz" | cmp -s - "$la/000000090000000000000004"
check "look-ahead: a look-ahead object holds the segment's bytes" test $? -eq 0

if [ -n "${PITR_TEST_S3_ENDPOINT:-}" ]; then
    S3="--repo s3://$PITR_TEST_BUCKET/errors --endpoint-url $PITR_TEST_S3_ENDPOINT --s3-url-style path"
    # shellcheck disable=SC2086
    expect_exit "S3: a wrong secret fails with an authentication error" 14 \
        env AWS_SECRET_ACCESS_KEY=wrong-secret "$P" $S3 wal-push "$w/pg_wal/$SEG"
    expect_err_has "wrong secret: the S3 error code is shown" "SignatureDoesNotMatch"
    case "$T_ERR" in *wrong-secret*) not_ok "wrong secret: the secret leaked into stderr" ;; *) ok "wrong secret: the secret is not in stderr" ;; esac
    # retries for 2 s, not the default 60: giving up is checked, not how long it took
    expect_exit "S3: an unreachable endpoint is a network error" 2 env PGPITR_RETRY_MAX_TIME=2 \
        "$P" --repo "s3://$PITR_TEST_BUCKET/errors" --endpoint-url http://127.0.0.1:9 wal-push "$w/pg_wal/$SEG"
    expect_err_has "unreachable endpoint: the message names it" "127.0.0.1:9"
    expect_err_has "unreachable endpoint: it retried, then gave up" "gave up after"
    expect_exit "S3: TLS without the CA file fails verification" 2 \
        env -u AWS_CA_BUNDLE "$P" --repo "s3://$PITR_TEST_BUCKET/errors" --endpoint-url "$PITR_TEST_S3_TLS_ENDPOINT" wal-push "$w/pg_wal/$SEG"
    expect_err_has "TLS: the message says the certificate was not verified" "certificate"
    # shellcheck disable=SC2086
    expect_exit "S3: wal-push stores a segment" 0 "$P" $S3 wal-push "$w/pg_wal/$SEG"
    # shellcheck disable=SC2086
    expect_exit "S3: different bytes are refused" 13 "$P" $S3 wal-push "$w/other/$SEG"
    # shellcheck disable=SC2086
    expect_exit "S3: wal-fetch of a missing WAL exits 1" 1 "$P" $S3 wal-fetch 000000010000000000000042 "$w/x"
fi
finish

#!/usr/bin/env bash
# S3 endpoints that answer on purpose badly (tests/hostile_s3.py on loopback,
# no Swift needed): every command must end, within a bound it can state, with
# a clear error naming the bucket and prefix, and never take more than it asked.
#   a. a listing that says "truncated" forever: the same token with a new key a
#      page, the same token and no keys, new tokens and no keys;
#   b. an endpoint that trickles 3 bytes/s: wal-fetch (restore_command) and
#      wal-push (archive_command) end at the request deadline (26 s here; the
#      low-speed cut would come at 60 s) with a timeout message; one at
#      40 bytes/s, above the low-speed cut, ends at the deadline too, and the
#      message names it with --retry-max-time;
#   c. a listing nested 2.8 million elements deep (8 MiB): refused at once,
#      with the depth limit named;
#   d. an object whose GET announces 4 GiB: refused on its Content-Length,
#      next to nothing read.
# Each command runs under `timeout`: a hang is a failure, never a pass.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"
command -v python3 >/dev/null || { not_ok "python3 is needed for tests/hostile_s3.py"; finish; exit 1; }

P=$PGPITR_BIN
HOSTILE=$here/../hostile_s3.py
w=$IT_TMP/s3hostile
mkdir -p "$w"
PIDS=""
cleanup() {
    local pid
    for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
}
trap cleanup EXIT

# start MODE [options...]: a hostile endpoint logging to $w/MODE.log; sets URL.
start() {
    local mode=$1
    shift
    rm -f "$w/$mode.port"
    python3 "$HOSTILE" --mode "$mode" --log "$w/$mode.log" --port-file "$w/$mode.port" \
        --max-lifetime 300 "$@" 2>"$w/$mode.err" &
    PIDS="$PIDS $!"
    if ! wait_for_file "$w/$mode.port"; then
        not_ok "hostile endpoint $mode did not start: $(cat "$w/$mode.err")"
        finish
        exit 1
    fi
    URL=http://127.0.0.1:$(cat "$w/$mode.port")
}

# requests MODE: how many requests the endpoint saw.
requests() { grep -c '^req=[0-9]* [A-Z]' "$w/$1.log"; }

export AWS_ACCESS_KEY_ID=hostile-test AWS_SECRET_ACCESS_KEY=hostile-secret
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
# run NAME MAX_S CMD...: CMD must fail (not exit 0, not be killed by timeout) within MAX_S seconds.
run() {
    local name=$1 max=$2 t0 rc
    shift 2
    t0=$(date +%s)
    T_ERR=$(timeout $((max + 60)) "$@" 2>&1 >/dev/null)
    rc=$?
    ELAPSED=$(($(date +%s) - t0))
    if [ "$rc" -eq 124 ]; then
        not_ok "$name: still running after $((max + 60)) s (killed)"
    elif [ "$rc" -eq 0 ]; then
        not_ok "$name: exit 0"
    elif [ "$ELAPSED" -gt "$max" ]; then
        not_ok "$name: took $ELAPSED s, more than $max s (exit $rc): $T_ERR"
    else
        ok "$name: failed in $ELAPSED s (<= $max s), exit $rc"
    fi
}

S3() { echo --repo "s3://bkt/pre" --server srv --endpoint-url "$URL" --s3-url-style path "$@"; }
SEG=000000010000000000000001

echo "# a. listings truncated forever"
for mode in list-same-token list-same-empty list-new-empty; do
    start "$mode"
    # shellcheck disable=SC2046
    run "a: $mode: wal-fetch" 20 "$P" $(S3 --retry-max-time 5) wal-fetch "$SEG" "$w/out"
    expect_err_has "a: $mode: the error names the bucket and prefix" \
        "LIST 's3://bkt/pre/srv/wals/0000000100000000/$SEG'"
    expect_err_has "a: $mode: the error says the listing would not end" "the listing would never end"
    n=$(requests "$mode")
    check "a: $mode: at most 2 pages were asked for ($n)" test "$n" -le 2
done

echo "# b. an endpoint that trickles 3 bytes/s"
start trickle --rate 3
# The deadline (max(--retry-max-time, 10 s) + 16 s for an XML answer) or the low-speed
# cut (under 32 bytes/s for 60 s), whichever comes first: < 45 s.
# shellcheck disable=SC2046
run "b: wal-fetch as restore_command" 45 "$P" $(S3 --retry-max-time 2) wal-fetch "$SEG" "$w/out"
expect_err_has "b: wal-fetch: a timeout is named" "timed out"
expect_err_has "b: wal-fetch: the listing is named" "s3://bkt/pre/srv/wals/"
# A segment with a valid long page header (PostgreSQL 15, timeline 1, segment 1).
python3 -c '
import struct, sys
hdr = struct.pack("<HHIQIIQII", 0xD110, 0x0002, 1, 0x1000000, 0, 0, 7, 16 << 20, 8192)
sys.stdout.buffer.write(hdr + bytes((16 << 20) - len(hdr)))' >"$w/$SEG"
# shellcheck disable=SC2046
run "b: wal-push as archive_command" 45 "$P" $(S3 --retry-max-time 2) --look-ahead 0 wal-push "$w/$SEG"
expect_err_has "b: wal-push: a timeout is named" "timed out"

# 40 bytes/s passes the low-speed limit: the deadline, max(--retry-max-time, 10 s)
# plus 1 s per 64 KiB (16 s for an XML answer), ends it: < 40 s.
start trickle --rate 40 --pad 100000
# shellcheck disable=SC2046
run "b: wal-fetch from a 40 bytes/s endpoint (the deadline)" 40 "$P" $(S3 --retry-max-time 2) wal-fetch "$SEG" "$w/out"
expect_err_has "b: 40 bytes/s: the deadline is named" "deadline"
expect_err_has "b: 40 bytes/s: what sets it is named" "--retry-max-time"

echo "# c. a listing nested without end"
start deep
# shellcheck disable=SC2046
run "c: wal-fetch" 20 "$P" $(S3 --retry-max-time 5) wal-fetch "$SEG" "$w/out"
expect_err_has "c: the depth limit is named" "nests elements deeper than 16 levels"
expect_err_has "c: the listing is named" "LIST 's3://bkt/pre/srv/wals/"

echo "# d. a GET that announces 4 GiB"
start oversize
# shellcheck disable=SC2046
run "d: wal-fetch" 20 "$P" $(S3 --retry-max-time 5) wal-fetch "$SEG" "$w/out"
expect_err_has "d: the size is refused" "announces 4294967296 bytes, more than the"
expect_err_has "d: the object is named" "GET 's3://bkt/pre/srv/wals/0000000100000000/$SEG'"
sent=$(awk '$2 == "sent" { s += $3 } END { print s + 0 }' "$w/oversize.log")
# What the endpoint wrote includes the kernel's socket buffers (up to ~10 MiB on
# loopback) filled before pgpitr read the headers; main read 1.2 GB here.
check "d: next to nothing of the body was read (the endpoint wrote $sent bytes)" test "$sent" -lt $((32 * 1024 * 1024))

finish

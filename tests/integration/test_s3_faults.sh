#!/usr/bin/env bash
# S3 under injected faults: pgpitr talks to the Swift rig through
# tests/faultproxy.py, which fails 20% of the requests on a seeded schedule
# (500 InternalError, 503 SlowDown, 429, TCP reset before or after the
# request body). Retries must hide every one of them:
#   0. the proxy itself forwards signed requests intact (curl) and injects
#      what it is told to, so the checks below mean something;
#   a. wal-push + wal-fetch of real WAL segments give back identical bytes;
#   b. object-put + object-get of a 64 MiB random file give back identical
#      bytes (multipart, several jobs), also through stdin and stdout;
#   c. a non-retryable error (a wrong secret) still ends at once with its S3
#      code and exit 14, not after the whole retry budget;
#   d. the proxy's log shows faults were injected during (a) and (b).
# Not `set -e`: the assertions of lib.sh run commands that are meant to fail.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

# No rig is a failure, never a pass: under `make check` run.sh always starts Swift.
if [ -z "${PITR_TEST_S3_ENDPOINT:-}" ]; then
    not_ok "the S3 rig is needed (PITR_TEST_S3_ENDPOINT is not set; is tests/rig/swift.sh missing?)"
    finish
    exit 1
fi
command -v python3 >/dev/null || { not_ok "python3 is needed for tests/faultproxy.py"; finish; exit 1; }

P=$PGPITR_BIN
FAULTPROXY=$here/../faultproxy.py
RATE=0.2
SEED=${PITR_FAULTS_SEED:-20240611}
PG_PORT=25489
RETRY_BUDGET=90 # --retry-max-time for every command through the faulty proxy
# No command may hang the suite: each runs under this many seconds.
CMD_TIMEOUT=300
w=$IT_TMP/s3faults
mkdir -p "$w"
upstream=${PITR_TEST_S3_ENDPOINT#http://}
upstream=${upstream%%/*}
PROXY_PIDS=""

stop_proxies() {
    local pid i
    for pid in $PROXY_PIDS; do kill -TERM "$pid" 2>/dev/null; done
    for pid in $PROXY_PIDS; do
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    PROXY_PIDS=""
}
cleanup() {
    stop_proxies
    pg_rig_stop "$IT_TMP/pg-s3faults"
}
trap cleanup EXIT

# start_proxy NAME RATE [faultproxy options...]: start a proxy in front of the
# rig's plain-HTTP endpoint, logging to $w/NAME.log; sets PROXY_URL.
start_proxy() {
    local name=$1 rate=$2
    shift 2
    rm -f "$w/$name.port" "$w/$name.log"
    python3 "$FAULTPROXY" --listen 127.0.0.1:0 --upstream "$upstream" --rate "$rate" \
        --seed "$SEED" --log "$w/$name.log" --port-file "$w/$name.port" --max-lifetime 1800 "$@" \
        >/dev/null 2>"$w/$name.err" &
    PROXY_PIDS="$PROXY_PIDS $!"
    if ! wait_for_file "$w/$name.port"; then
        not_ok "faultproxy $name did not start: $(cat "$w/$name.err")"
        finish
        exit 1
    fi
    PROXY_URL=http://127.0.0.1:$(cat "$w/$name.port")
}

# faults LOG: how many requests the proxy failed on purpose.
faults() { grep -c -- '-> fault ' "$1"; }

# s3url URL_PATH: the URL of URL_PATH through $PROXY_URL, with the credentials
# for curl's --aws-sigv4. The access key holds a ':', so they go URL-encoded
# into the URL (as tests/rig/swift.sh does).
s3url() {
    echo "http://${AWS_ACCESS_KEY_ID/:/%3A}:$AWS_SECRET_ACCESS_KEY@${PROXY_URL#http://}$1"
}

# s3curl URL_PATH [curl options...]: a SigV4-signed curl request through the proxy.
s3curl() {
    local path=$1
    shift
    curl -sS --max-time 30 --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$(s3url "$path")"
}

echo "# 0. the proxy itself"
head -c 3000000 /dev/urandom >"$w/small"
start_proxy clean 0
code=$(s3curl "/$PITR_TEST_BUCKET/faults/proxy-check" -T "$w/small" -o "$w/put.out" -w '%{http_code}')
check "proxy: a signed PUT with Expect: 100-continue is forwarded intact (HTTP $code)" test "$code" = 200
code=$(s3curl "/$PITR_TEST_BUCKET/faults/proxy-check" -o "$w/small.back" -w '%{http_code}')
check "proxy: GET through it returns the same bytes (HTTP $code)" cmp -s "$w/small" "$w/small.back"
u=$(s3url "/$PITR_TEST_BUCKET/faults/proxy-check")
s3curl "/$PITR_TEST_BUCKET/faults/proxy-check" -I -o /dev/null -o /dev/null "$u"
conns=$(awk '$3 == "HEAD" && $6 == "forward" { print $2 }' "$w/clean.log" | sort | uniq -c | awk '{ print $1 }')
check "proxy: one client connection carries two requests (keep-alive: '$conns')" test "$conns" = 2
check "proxy: at rate 0 nothing is injected" test "$(faults "$w/clean.log")" -eq 0
stop_proxies

for f in 500 503 429; do
    start_proxy "always-$f" 1 --faults "$f"
    code=$(s3curl "/$PITR_TEST_BUCKET/faults/proxy-check" -o "$w/err.out" -w '%{http_code}')
    check "proxy: --faults $f answers HTTP $f (got $code)" test "$code" = "$f"
    check "proxy: the $f answer carries an S3 error code" grep -qE '<Code>(InternalError|SlowDown)</Code>' "$w/err.out"
    stop_proxies
done
start_proxy always-reset 1 --faults reset
code=$(s3curl "/$PITR_TEST_BUCKET/faults/proxy-check" -T "$w/small" -o /dev/null -w '%{http_code}' 2>"$w/reset.err")
check "proxy: --faults reset resets the connection (HTTP '$code': $(head -c 80 "$w/reset.err"))" test "$code" = 000
check "proxy: the reset is logged" grep -qE -- '-> fault reset (before|after)-body' "$w/always-reset.log"
stop_proxies

# One proxy for (a)-(c): 20% of all requests fail, on a fixed schedule.
start_proxy faulty "$RATE"
S3=(--repo "s3://$PITR_TEST_BUCKET/faults-$$" --server srv --endpoint-url "$PROXY_URL"
    --s3-url-style path --retry-max-time "$RETRY_BUDGET")

echo "# a. wal-push and wal-fetch through $RATE failures"
d=$IT_TMP/pg-s3faults
segs=()
if pg_rig_init "$d" "$PG_PORT" >/dev/null && pg_rig_conf "$d" "wal_keep_size = '1GB'" && pg_rig_start "$d"; then
    for i in 1 2 3 4; do
        pg_rig_psql "$d" "create table t$i as select g, md5(g::text) from generate_series(1, 20000 * $i) g" >/dev/null
        segs+=("$(pg_rig_psql "$d" "select pg_walfile_name(pg_switch_wal())")")
    done
    pg_rig_stop "$d"
fi
mkdir -p "$w/pg_wal" "$w/fetched"
n=0
for s in "${segs[@]}"; do cp "$d/data/pg_wal/$s" "$w/pg_wal/$s" && n=$((n + 1)); done
check "a: $n real WAL segments to archive" test "$n" -eq 4
before=$(faults "$w/faulty.log")
for s in "${segs[@]}"; do
    expect_exit "a: wal-push $s" 0 timeout "$CMD_TIMEOUT" "$P" "${S3[@]}" --look-ahead 0 wal-push "$w/pg_wal/$s"
done
for s in "${segs[@]}"; do
    expect_exit "a: wal-fetch $s" 0 timeout "$CMD_TIMEOUT" "$P" "${S3[@]}" wal-fetch "$s" "$w/fetched/$s"
    check "a: $s came back byte for byte" cmp -s "$w/pg_wal/$s" "$w/fetched/$s"
done
fa=$(($(faults "$w/faulty.log") - before))
echo "# a: $fa faults injected"

echo "# b. object-put and object-get of 64 MiB through $RATE failures"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$w/big"
before=$(faults "$w/faulty.log")
OBJ=("${S3[@]}" --jobs 4 --part-size $((8 * 1024 * 1024)))
expect_exit "b: object-put of 64 MiB" 0 timeout "$CMD_TIMEOUT" "$P" "${OBJ[@]}" object-put big.bin "$w/big"
expect_exit "b: object-get of it" 0 timeout "$CMD_TIMEOUT" "$P" "${OBJ[@]}" object-get big.bin "$w/big.back"
check "b: the 64 MiB came back byte for byte" cmp -s "$w/big" "$w/big.back"
timeout "$CMD_TIMEOUT" "$P" "${OBJ[@]}" object-get big.bin - 2>"$w/get-stdout.err" | cmp -s - "$w/big"
rc=$?
check "b: object-get to stdout gives the same bytes ($(head -c 200 "$w/get-stdout.err"))" test "$rc" -eq 0
head -c $((20 * 1024 * 1024 + 12345)) "$w/big" >"$w/stream"
timeout "$CMD_TIMEOUT" "$P" "${OBJ[@]}" object-put stream.bin - <"$w/stream" 2>"$w/put-stdin.err"
rc=$?
check "b: object-put from stdin ($(head -c 200 "$w/put-stdin.err"))" test "$rc" -eq 0
expect_exit "b: object-get of the streamed object" 0 timeout "$CMD_TIMEOUT" "$P" "${OBJ[@]}" object-get stream.bin "$w/stream.back"
check "b: the streamed object came back byte for byte" cmp -s "$w/stream" "$w/stream.back"
fb=$(($(faults "$w/faulty.log") - before))
echo "# b: $fb faults injected"

echo "# c. a non-retryable error through the same proxy"
t0=$(date +%s)
expect_exit "c: a wrong secret fails with an authentication error" 14 \
    timeout "$CMD_TIMEOUT" env AWS_SECRET_ACCESS_KEY=wrong-secret "$P" "${S3[@]}" --look-ahead 0 \
    wal-push "$w/pg_wal/${segs[0]:-none}"
elapsed=$(($(date +%s) - t0))
expect_err_has "c: the S3 error code is shown" "SignatureDoesNotMatch"
case "$T_ERR" in *wrong-secret*) not_ok "c: the secret leaked into stderr" ;; *) ok "c: the secret is not in stderr" ;; esac
check "c: it failed within 15 s, not after the ${RETRY_BUDGET} s retry budget (${elapsed} s)" test "$elapsed" -lt 15

echo "# d. faults were really injected"
total=$(faults "$w/faulty.log")
reqs=$(grep -c -- '^req=' "$w/faulty.log")
echo "# d: $total of $reqs requests failed on purpose:" \
    "$(grep -o -- '-> fault [a-z0-9]* [a-z-]*' "$w/faulty.log" | sort | uniq -c | tr -s ' \n' ' ')"
check "d: the proxy injected faults ($total of $reqs requests)" test "$total" -gt 0
check "d: faults hit the WAL commands ($fa)" test "$fa" -gt 0
check "d: faults hit the object transfers ($fb)" test "$fb" -gt 0

finish

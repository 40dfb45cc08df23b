#!/usr/bin/env bash
# swift.sh - a throwaway OpenStack Swift with the S3 API, for the S3 tests.
#
#   tests/rig/swift.sh start STATE_DIR   start everything under STATE_DIR, write STATE_DIR/env
#   tests/rig/swift.sh stop STATE_DIR    stop what start started (idempotent)
#
# Swift's proxy runs with the s3api and tempauth middlewares, so requests
# must carry a valid AWS Signature V4 (access key "test:tester", secret
# "testing", region us-east-1, path-style addressing). One account, one
# container and one object server share a single device directory. stunnel
# puts TLS in front of the proxy with a certificate for localhost/127.0.0.1
# issued by a CA generated into STATE_DIR. Everything listens on 127.0.0.1.
#
# Ports (override through the environment):
#   PITR_SWIFT_PORT (default 38280)        S3/Swift proxy, plain HTTP
#   PITR_SWIFT_TLS_PORT (default 38643)    the same through stunnel, HTTPS
#   PITR_SWIFT_BACKEND_PORT (default 38210) first of three backend ports
#
# STATE_DIR/env (for `. STATE_DIR/env`) exports PITR_TEST_S3_ENDPOINT,
# PITR_TEST_S3_TLS_ENDPOINT, PITR_TEST_CA_FILE, PITR_TEST_BUCKET,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
set -euo pipefail

usage() {
    echo "usage: $0 start|stop STATE_DIR" >&2
    exit 3
}

[ $# -eq 2 ] || usage
cmd=$1
state=$2
case "$state" in
/*) ;;
*) state="$(pwd)/$state" ;;
esac

PROXY_PORT=${PITR_SWIFT_PORT:-38280}
TLS_PORT=${PITR_SWIFT_TLS_PORT:-38643}
BASE_PORT=${PITR_SWIFT_BACKEND_PORT:-38210}
OBJECT_PORT=$BASE_PORT
CONTAINER_PORT=$((BASE_PORT + 1))
ACCOUNT_PORT=$((BASE_PORT + 2))
BUCKET=pgpitr-test
ACCESS_KEY=test:tester
SECRET_KEY=testing
REGION=us-east-1
SERVICES="object container account proxy"

die() {
    echo "swift.sh: $*" >&2
    exit 1
}

# Print the last lines of every log, for a failed start.
log_tails() {
    local f
    for f in "$state"/log/*.log; do
        [ -f "$f" ] || continue
        echo "---- $f (last 30 lines) ----" >&2
        tail -n 30 "$f" >&2
    done
}

fail() {
    echo "swift.sh: $*" >&2
    log_tails
    do_stop >/dev/null 2>&1 || true
    exit 1
}

# Stop the processes (groups) recorded in the given pid files: SIGTERM to all
# at once, SIGKILL to whatever still runs after 3s, then drop the pid files.
# Each server was started with setsid, so its group holds any children.
kill_pidfiles() {
    local pf pid pids="" i alive
    for pf in "$@"; do
        [ -f "$pf" ] || continue
        pid=$(cat "$pf" 2>/dev/null || true)
        case "$pid" in
        '' | *[!0-9]*) ;;
        *)
            if kill -0 "$pid" 2>/dev/null; then
                kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
                pids="$pids $pid"
            fi
            ;;
        esac
    done
    for i in $(seq 1 30); do
        alive=""
        for pid in $pids; do
            kill -0 "$pid" 2>/dev/null && alive="$alive $pid"
        done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    for pid in $pids; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$@"
}

do_stop() {
    local s files=""
    [ -d "$state/run" ] || return 0
    for s in $SERVICES stunnel; do
        files="$files $state/run/$s.pid"
    done
    # shellcheck disable=SC2086
    kill_pidfiles $files
    rm -f "$state/env"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_configs() {
    local etc=$state/etc dev=$state/srv
    mkdir -p "$etc" "$dev/d1" "$state/log" "$state/run" "$state/cache"

    cat >"$etc/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = pgpitr-rig
swift_hash_path_prefix = pgpitr-rig

[storage-policy:0]
name = Policy-0
default = yes
CONF

    local s port
    for s in object container account; do
        case $s in
        object) port=$OBJECT_PORT ;;
        container) port=$CONTAINER_PORT ;;
        account) port=$ACCOUNT_PORT ;;
        esac
        cat >"$etc/$s-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = root
swift_dir = $etc
devices = $dev
mount_check = false
disable_fallocate = true
log_level = INFO
log_address = $state/run/no-syslog

[pipeline:main]
pipeline = $s-server

[app:$s-server]
use = egg:swift#$s
CONF
    done

    cat >"$etc/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PROXY_PORT
workers = 0
user = root
swift_dir = $etc
log_level = INFO
log_address = $state/run/no-syslog

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $SECRET_KEY .admin

[filter:s3api]
use = egg:swift#s3api
location = $REGION

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
CONF

    cat >"$etc/stunnel.conf" <<CONF
foreground = no
pid = $state/run/stunnel.pid
output = $state/log/stunnel.log
debug = 4

[s3]
accept = 127.0.0.1:$TLS_PORT
connect = 127.0.0.1:$PROXY_PORT
cert = $state/tls/server.pem
key = $state/tls/server.key
CONF
}

build_rings() {
    local etc=$state/etc s port
    for s in object container account; do
        [ -f "$etc/$s.ring.gz" ] && continue
        case $s in
        object) port=$OBJECT_PORT ;;
        container) port=$CONTAINER_PORT ;;
        account) port=$ACCOUNT_PORT ;;
        esac
        rm -f "$etc/$s.builder"
        {
            swift-ring-builder "$etc/$s.builder" create 4 1 1
            swift-ring-builder "$etc/$s.builder" add "r1z1-127.0.0.1:$port/d1" 100
            swift-ring-builder "$etc/$s.builder" rebalance
        } >>"$state/log/rings.log" 2>&1 || fail "building the $s ring failed"
    done
}

make_certs() {
    local t=$state/tls
    [ -f "$t/ca.pem" ] && [ -f "$t/server.pem" ] && [ -f "$t/server.key" ] && return 0
    mkdir -p "$t"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=pgpitr test CA" \
            -keyout "$t/ca.key" -out "$t/ca.pem" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout "$t/server.key" -out "$t/server.csr"
        printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
            "extendedKeyUsage=serverAuth" >"$t/server.ext"
        openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
            -days 30 -out "$t/server.pem" -extfile "$t/server.ext"
    } >>"$state/log/openssl.log" 2>&1 || fail "generating the test certificates failed"
    chmod 600 "$t"/*.key
}

start_server() {
    local s=$1 bin
    bin=swift-$s-server
    command -v "$bin" >/dev/null || fail "$bin not found (run tools/install-deps.sh)"
    setsid "$bin" "$state/etc/$s-server.conf" -v >>"$state/log/$s.log" 2>&1 </dev/null &
    echo $! >"$state/run/$s.pid"
}

wait_for() {
    local what=$1 check=$2 i
    # 60 s: Swift's Python servers start slowly on a loaded 2-core machine.
    for i in $(seq 1 600); do
        if eval "$check"; then
            return 0
        fi
        sleep 0.1
    done
    fail "$what did not become ready within 60s"
}

# s3_curl SECRET URL_PATH [curl options...]: a SigV4-signed request to the proxy
# (or, with BASE set, to another endpoint). The access key holds a ':', which
# --user would split on, so the credentials go URL-encoded into the URL.
# s3api also wants the payload hash header; these requests have no body.
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
s3_curl() {
    local secret=$1 path=$2 base=${BASE:-http://127.0.0.1:$PROXY_PORT}
    shift 2
    curl -sS --max-time 10 --aws-sigv4 "aws:amz:$REGION:s3" \
        -H "x-amz-content-sha256: $EMPTY_SHA256" "$@" \
        "${base%%://*}://${ACCESS_KEY/:/%3A}:$secret@${base#*://}$path"
}

do_start() {
    local s port code
    command -v stunnel4 >/dev/null || command -v stunnel >/dev/null || die "stunnel not found"
    mkdir -p "$state"
    do_stop
    for port in $PROXY_PORT $TLS_PORT $OBJECT_PORT $CONTAINER_PORT $ACCOUNT_PORT; do
        port_open "$port" && die "port $port on 127.0.0.1 is already in use (another rig? set PITR_SWIFT_*PORT)"
    done
    write_configs
    : >"$state/log/rings.log"
    build_rings
    make_certs

    for s in $SERVICES; do
        start_server "$s"
    done
    wait_for "object server" "port_open $OBJECT_PORT"
    wait_for "container server" "port_open $CONTAINER_PORT"
    wait_for "account server" "port_open $ACCOUNT_PORT"
    wait_for "proxy server" \
        "curl -fsS --max-time 2 http://127.0.0.1:$PROXY_PORT/healthcheck >/dev/null 2>&1"

    "$(command -v stunnel4 || command -v stunnel)" "$state/etc/stunnel.conf" \
        >>"$state/log/stunnel.log" 2>&1 || fail "stunnel failed to start"
    wait_for "stunnel" "[ -s $state/run/stunnel.pid ] && port_open $TLS_PORT"

    # The bucket: 200 when created, 409 BucketAlreadyOwnedByYou on a reused STATE_DIR.
    code=$(s3_curl "$SECRET_KEY" "/$BUCKET" -o "$state/log/create-bucket.out" -w '%{http_code}' \
        -X PUT) || fail "creating bucket $BUCKET failed"
    case $code in
    200 | 409) ;;
    *) fail "creating bucket $BUCKET: HTTP $code: $(cat "$state/log/create-bucket.out")" ;;
    esac

    # The signature must be checked, or the tests prove nothing.
    code=$(s3_curl "wrong-secret" "/$BUCKET?list-type=2" -o "$state/log/wrong-secret.out" \
        -w '%{http_code}') || true
    if [ "$code" != 403 ] || ! grep -q SignatureDoesNotMatch "$state/log/wrong-secret.out"; then
        fail "a wrong secret was not rejected with 403 SignatureDoesNotMatch (got $code)"
    fi
    # And through TLS with the generated CA.
    code=$(BASE="https://localhost:$TLS_PORT" s3_curl "$SECRET_KEY" "/$BUCKET?list-type=2" \
        --cacert "$state/tls/ca.pem" -o /dev/null -w '%{http_code}') || fail "HTTPS through stunnel failed"
    [ "$code" = 200 ] || fail "listing through HTTPS returned HTTP $code"

    cat >"$state/env.tmp" <<ENV
export PITR_TEST_S3_ENDPOINT=http://127.0.0.1:$PROXY_PORT
export PITR_TEST_S3_TLS_ENDPOINT=https://localhost:$TLS_PORT
export PITR_TEST_CA_FILE=$state/tls/ca.pem
export PITR_TEST_BUCKET=$BUCKET
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
ENV
    mv "$state/env.tmp" "$state/env"
    echo "swift.sh: S3 on http://127.0.0.1:$PROXY_PORT and https://localhost:$TLS_PORT; . $state/env"
}

case "$cmd" in
start) do_start ;;
stop) do_stop ;;
*) usage ;;
esac

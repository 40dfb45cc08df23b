# shellcheck shell=bash disable=SC2034  # the variables set here are the callers'
# tools/bench/lib.sh - the set-up every benchmark in tools/bench/ shares; source it.
#
#   bench_init NAME DEFAULT_WORK
#       ROOT (the checkout), WORK (PITR_BENCH_DIR or DEFAULT_WORK, made
#       absolute, wiped after stopping the servers an interrupted run left),
#       WORK/{log,times,bin}; say/die print "NAME bench: ..."; on exit every
#       PostgreSQL under WORK/pg* and the Swift rig in WORK/s3 are stopped;
#       environment that would redirect a tool (CA bundles, AWS_ENDPOINT_URL,
#       PGPITR_*, PG*) is unset. RUN_ID: a timestamp for object prefixes.
#       When the run succeeds, the folders under WORK but log/ and times/
#       are emptied on exit but for files named log or *.log (the scratch:
#       data directories, repositories, Swift's disks) unless PITR_BENCH_KEEP
#       is set; results are top-level files. A failed run keeps everything.
#       Swift ports: PITR_SWIFT_PORT, PITR_SWIFT_TLS_PORT and
#       PITR_SWIFT_BACKEND_PORT, which the caller defaults before.
#   bench_build
#       tools/install-deps.sh --bench, then an optimised pgpitr (no sanitizers)
#       copied to PGPITR=WORK/bin/pgpitr, readable by the postgres user.
#   bench_rig_start
#       tests/rig/swift.sh in WORK/s3; sets TLS (the HTTPS endpoint), TLS_HOST,
#       TLS_PORT, BUCKET and CA (a copy of the test CA the postgres user can
#       read), and exports the rig's AWS_* credentials and region.
#   bench_pgbr_conf DIR REPO_PATH [KEY=VALUE...]
#       write DIR/pgbackrest.conf for a pgBackRest repository on the rig
#       (HTTPS, path style, the test CA) at REPO_PATH with stanza "bench" on
#       the PostgreSQL in $PG; extra [global] lines follow; prints the path.
#   bench_pg_start SCALE [CONF_LINE...]
#       initdb a PostgreSQL 15 in $PG on $PG_PORT with the lines appended to
#       postgresql.conf, start it and load pgbench -i -s SCALE.
#   bench_pgpitr_conf PREFIX
#       write WORK/bin/pgpitr.conf (the rig's bucket at PREFIX, server "bench",
#       HTTPS with the test CA, path style, the rig's credentials), owned by
#       postgres, mode 0600; prints its path.
#   bench_write_wal START_LSN BYTES MAX_ROUNDS
#       run pgbench (-T 5 -c 4 -j 2, a checkpoint before each round, so the
#       updates write full-page images as any workload between checkpoints
#       does) until the WAL has grown BYTES past START_LSN.
#   bench_busy_pct
#       percent of CPU busy over two seconds (other work on the machine).
#   bench_s3_stats PREFIX [NAME_REGEX]
#       "objects MiB" stored under PREFIX in the bucket (only the keys whose
#       last part matches NAME_REGEX, when given), read with boto3.
#   bench_not_measured
#       the "Not measured:" list of the MISSING array (nothing when empty).
#   bench_show RESULTS
#       print the results file and where it and the logs are.
#
# The scripts use `set -euo pipefail`; so does everything here.

bench_init() {
    BENCH_NAME=$1
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    WORK=${PITR_BENCH_DIR:-$2}
    case "$WORK" in
    /*) ;;
    *) WORK="$(pwd)/$WORK" ;;
    esac
    RUN_ID=$(date +%Y%m%d%H%M%S)
    export PITR_SWIFT_PORT PITR_SWIFT_TLS_PORT PITR_SWIFT_BACKEND_PORT
    # shellcheck disable=SC1091
    . "$ROOT/tests/rig/pg.sh"
    if [ -d "$WORK" ]; then
        bench_stop_servers
        rm -rf "$WORK"
    fi
    mkdir -p "$WORK/log" "$WORK/times" "$WORK/bin"
    # PostgreSQL (and its archive_command) runs as postgres: it must reach WORK.
    chmod 755 "$WORK" "$WORK/bin"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    # Each tool is given the test CA and the endpoint explicitly.
    unset AWS_CA_BUNDLE CURL_CA_BUNDLE REQUESTS_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR
    unset AWS_ENDPOINT_URL PGPITR_REPO PGPITR_SERVER PGPITR_CONFIG PGPITR_COMPRESSION \
        PGPITR_LOOK_AHEAD PGPITR_JOBS PGPITR_S3_URL_STYLE PGPITR_LOG_LEVEL PGBACKREST_CONFIG \
        PGHOST PGPORT PGUSER PGDATABASE PGDATA
}

say() { echo "$BENCH_NAME bench: $*" >&2; }
die() {
    echo "$BENCH_NAME bench: ERROR: $*" >&2
    exit 1
}

bench_stop_servers() {
    local d
    for d in "$WORK"/pg*; do
        [ -d "$d/data" ] && pg_rig_stop "$d"
    done
    if [ -d "$WORK/s3" ]; then
        "$ROOT/tests/rig/swift.sh" stop "$WORK/s3" >/dev/null 2>&1 || true
    fi
}

bench_cleanup() {
    local rc=$? d
    set +e
    bench_stop_servers
    # The scratch (data directories, repositories, the object store's disks)
    # runs to tens of GB; results are top-level files, logs are in log/ or
    # named log or *.log (a server's DIR/log). A failed run keeps it all.
    if [ $rc -eq 0 ] && [ -z "${PITR_BENCH_KEEP:-}" ] && [ -d "$WORK" ]; then
        for d in "$WORK"/*/; do
            case "$d" in "$WORK/log/" | "$WORK/times/") continue ;; esac
            find "$d" ! -type d ! -name log ! -name '*.log' -delete 2>/dev/null
            find "$d" -depth -type d -empty -delete 2>/dev/null
        done
    fi
    [ $rc -ne 0 ] && say "failed (exit $rc); logs are in $WORK/log, the scratch ($(du -sh "$WORK" 2>/dev/null | cut -f1)) stays in $WORK"
    exit $rc
}

bench_build() {
    say "installing packages (tools/install-deps.sh --bench)"
    "$ROOT/tools/install-deps.sh" --bench >"$WORK/log/install-deps.log" 2>&1 ||
        { tail -n 20 "$WORK/log/install-deps.log" >&2; die "tools/install-deps.sh --bench failed"; }
    [ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is missing"
    say "building pgpitr (make, -O2, no sanitizers)"
    if [ -x "$ROOT/build/pgpitr" ] && nm "$ROOT/build/pgpitr" 2>/dev/null | grep -q '__asan_\|__ubsan_'; then
        say "build/pgpitr is a sanitized build; rebuilding"
        rm -rf "$ROOT/build/src" "$ROOT/build/libpgpitr.a" "$ROOT/build/pgpitr"
    fi
    make -C "$ROOT" -j"$(nproc)" BUILD=build SANITIZE= >"$WORK/log/make.log" 2>&1 ||
        { tail -n 30 "$WORK/log/make.log" >&2; die "make failed"; }
    [ -x "$ROOT/build/pgpitr" ] || die "make did not produce build/pgpitr"
    cp "$ROOT/build/pgpitr" "$WORK/bin/pgpitr"
    chmod 755 "$WORK/bin/pgpitr"
    PGPITR=$WORK/bin/pgpitr
}

bench_rig_start() {
    local try
    say "starting Swift + s3api + stunnel (tests/rig/swift.sh)"
    # On a loaded machine a Swift server can miss the rig's start-up deadline: one more try.
    for try in 1 2; do
        "$ROOT/tests/rig/swift.sh" start "$WORK/s3" >"$WORK/log/swift-start.log" 2>&1 && break
        "$ROOT/tests/rig/swift.sh" stop "$WORK/s3" >/dev/null 2>&1 || true
        [ $try -eq 2 ] && { tail -n 30 "$WORK/log/swift-start.log" >&2; die "the Swift rig did not start"; }
        say "the Swift rig did not start; trying once more"
        rm -rf "$WORK/s3"
    done
    # shellcheck disable=SC1091
    . "$WORK/s3/env"
    TLS=$PITR_TEST_S3_TLS_ENDPOINT
    BUCKET=$PITR_TEST_BUCKET
    TLS_HOSTPORT=${TLS#https://}
    TLS_HOST=${TLS_HOSTPORT%%:*}
    TLS_PORT=${TLS_HOSTPORT##*:}
    CA=$WORK/bin/ca.pem
    cp "$PITR_TEST_CA_FILE" "$CA"
    chmod 644 "$CA"
}

bench_pgbr_conf() {
    local d=$1 repo_path=$2 line
    shift 2
    mkdir -p "$d/lock" "$d/log" "$d/spool"
    {
        echo "[global]"
        echo "repo1-type=s3"
        echo "repo1-s3-endpoint=$TLS_HOST"
        echo "repo1-storage-port=$TLS_PORT"
        echo "repo1-s3-bucket=$BUCKET"
        echo "repo1-s3-region=$AWS_REGION"
        echo "repo1-s3-key=$AWS_ACCESS_KEY_ID"
        echo "repo1-s3-key-secret=$AWS_SECRET_ACCESS_KEY"
        echo "repo1-s3-uri-style=path"
        echo "repo1-storage-ca-file=$CA"
        echo "repo1-path=$repo_path"
        echo "lock-path=$d/lock"
        echo "log-path=$d/log"
        echo "spool-path=$d/spool"
        echo "log-level-console=warn"
        for line in "$@"; do
            echo "$line"
        done
        echo
        echo "[bench]"
        echo "pg1-path=$PG/data"
        echo "pg1-socket-path=$PG/sock"
        echo "pg1-port=$(cat "$PG/port")"
        echo "pg1-user=postgres"
    } >"$d/pgbackrest.conf"
    chmod 600 "$d/pgbackrest.conf"
    echo "$d/pgbackrest.conf"
}

bench_pg_start() {
    local scale=$1 line t0
    shift
    pg_rig_init "$PG" "$PG_PORT" >"$WORK/log/pg-init.log" 2>&1 ||
        { cat "$WORK/log/pg-init.log" >&2; die "initdb failed"; }
    for line in "$@"; do
        pg_rig_conf "$PG" "$line"
    done
    pg_rig_start "$PG" || die "PostgreSQL did not start (log: $PG/log)"
    t0=$(date +%s)
    pg_rig_pgbench "$PG" -i -s "$scale" -q >"$WORK/log/pgbench-init.log" 2>&1 ||
        { tail -n 20 "$WORK/log/pgbench-init.log" >&2; die "pgbench -i failed"; }
    say "pgbench -i -s $scale took $(($(date +%s) - t0)) s"
}

bench_pgpitr_conf() {
    local f=$WORK/bin/pgpitr.conf
    cat >"$f" <<CONF
repo = s3://$BUCKET/$1
server = bench
endpoint-url = $TLS
ca-file = $CA
s3-url-style = path
max-parts = 1000
aws-access-key-id = $AWS_ACCESS_KEY_ID
aws-secret-access-key = $AWS_SECRET_ACCESS_KEY
CONF
    chown postgres:postgres "$f"
    chmod 600 "$f"
    echo "$f"
}

bench_write_wal() {
    local start=$1 need=$2 max=$3 round=0 done_bytes
    while :; do
        done_bytes=$(pg_rig_psql "$PG" "select pg_wal_lsn_diff(pg_current_wal_lsn(), '$start')::bigint")
        [ "$done_bytes" -ge "$need" ] && return 0
        round=$((round + 1))
        [ $round -le "$max" ] || die "pgbench wrote only $done_bytes of $need bytes of WAL in $max rounds"
        pg_rig_psql "$PG" "checkpoint" >/dev/null
        pg_rig_pgbench "$PG" -n -T 5 -c 4 -j 2 >>"$WORK/log/pgbench-run.log" 2>&1 ||
            { tail -n 20 "$WORK/log/pgbench-run.log" >&2; die "pgbench run failed"; }
    done
}

bench_busy_pct() {
    local a b
    a=$(head -n 1 /proc/stat)
    sleep 2
    b=$(head -n 1 /proc/stat)
    printf '%s\n%s\n' "$a" "$b" | awk '{ t = 0; for (i = 2; i <= NF; i++) t += $i
        tot[NR] = t; idle[NR] = $5 + $6 }
        END { d = tot[2] - tot[1]; printf "%.0f", (d > 0 ? 100 * (d - (idle[2] - idle[1])) / d : 0) }'
}

bench_s3_stats() {
    /usr/bin/python3 - "$TLS" "$CA" "$BUCKET" "$1" "${2:-}" <<'PY'
import re, sys
import boto3
from botocore.config import Config
endpoint, ca, bucket, prefix, name_re = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, verify=ca, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
n = size = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        if name_re and not re.match(name_re, o["Key"].rsplit("/", 1)[-1]):
            continue
        n += 1
        size += o["Size"]
print(n, "%.0f" % (size / 1048576))
PY
}

bench_not_measured() {
    local m
    [ ${#MISSING[@]} -gt 0 ] || return 0
    echo
    echo "Not measured:"
    for m in "${MISSING[@]}"; do
        echo "- $m"
    done
}

bench_show() {
    echo
    cat "$1"
    echo
    echo "(results also in $1; logs in $WORK/log/)"
}

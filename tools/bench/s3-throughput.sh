#!/usr/bin/env bash
# tools/bench/s3-throughput.sh - upload and download throughput of one large
# object to the Swift rig (tests/rig/swift.sh, loopback), at concurrency
# 1, 2, 4 and 8, for three clients:
#
#   pgpitr   object-put / object-get KEY FILE with --jobs N --part-size P
#   boto3    upload_file / download_file, TransferConfig(max_concurrency=N,
#            multipart_chunksize=P, use_threads=N>1), max_pool_connections=N
#   ceiling  N parallel `curl --aws-sigv4` processes, each PUTting (then
#            GETting) 1/N of the file as its own object with an unsigned
#            payload (no hashing): what a client doing nothing but HTTP gets from this
#            Swift on this machine
#
# It prints MB/s (10^6 bytes per second) per client and N, pgpitr/boto3 at
# equal N, and pgpitr's best as a percentage of the ceiling's best. The
# targets (issue): pgpitr >= 1.2x boto3 at equal N, and >= 90% of the
# ceiling at its best N. Every download is compared with the source file
# (outside the timing); a wrong result is reported as "bad", a failed
# command as "fail".
#
# Environment: BENCH_SIZE_MIB (1024), BENCH_PART_SIZE (16777216 bytes),
# BENCH_JOBS ("1 2 4 8"), BENCH_REPEAT (2: best of), BENCH_DATA (the source
# file, created once and reused: /tmp/pgpitr-bench-<size>MiB.bin),
# BENCH_PGPITR_PART_SIZE (the --part-size argument, if it wants a unit),
# BENCH_SKIP_DEPS=1 (do not run tools/install-deps.sh), PITR_SWIFT_*PORT
# (see tests/rig/swift.sh).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
PART=${BENCH_PART_SIZE:-$((16 * 1024 * 1024))}
JOBS_LIST=${BENCH_JOBS:-"1 2 4 8"}
REPEAT=${BENCH_REPEAT:-2}
DATA=${BENCH_DATA:-/tmp/pgpitr-bench-${SIZE_MIB}MiB.bin}
SIZE=$((SIZE_MIB * 1024 * 1024))
OP_TIMEOUT=900 # seconds for one transfer, whatever the client

case "$SIZE_MIB$PART$REPEAT" in *[!0-9]*) echo "s3-throughput: sizes and counts must be integers" >&2; exit 3 ;; esac
for n in $JOBS_LIST; do
    case $n in '' | *[!0-9]* | 0) echo "s3-throughput: bad BENCH_JOBS entry '$n'" >&2; exit 3 ;; esac
done

say() { echo "s3-throughput: $*" >&2; }

if [ -z "${BENCH_SKIP_DEPS:-}" ]; then
    "$top/tools/install-deps.sh"
fi
say "building pgpitr"
make -C "$top" --no-print-directory >/dev/null
P=$top/build/pgpitr

PY=""
for py in /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import boto3' 2>/dev/null; then
        PY=$py
        break
    fi
done
[ -n "$PY" ] || { say "no python3 with boto3 (tools/install-deps.sh installs python3-boto3)"; exit 1; }

STATE=$(mktemp -d /tmp/pgpitr-s3bench.XXXXXX)
cleanup() {
    "$top/tests/rig/swift.sh" stop "$STATE/swift" >/dev/null 2>&1 || true
    rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The source: incompressible, created once, reused by later runs.
if [ ! -f "$DATA" ] || [ "$(stat -c %s "$DATA")" -ne "$SIZE" ]; then
    say "creating $DATA ($SIZE_MIB MiB of random bytes)"
    head -c "$SIZE" /dev/urandom >"$DATA.tmp"
    mv "$DATA.tmp" "$DATA"
fi
# Dirty pages of earlier writes would be flushed during the first runs:
# every timed transfer starts after a sync.
sync

say "starting the Swift rig"
"$top/tests/rig/swift.sh" start "$STATE/swift" >&2
# shellcheck disable=SC1091
. "$STATE/swift/env"
unset AWS_CA_BUNDLE AWS_ENDPOINT_URL AWS_PROFILE PGPITR_REPO PGPITR_SERVER PGPITR_CONFIG
EP=$PITR_TEST_S3_ENDPOINT
BUCKET=$PITR_TEST_BUCKET

# boto3: one transfer, timed around the transfer call only (interpreter
# start-up and imports, about 0.3 s, are left out: in boto3's favour).
cat >"$STATE/b3.py" <<'PY'
import sys, time
import boto3
from botocore.config import Config
from boto3.s3.transfer import TransferConfig

op, endpoint, bucket, key, path, jobs, part = sys.argv[1:8]
jobs, part = int(jobs), int(part)
client = boto3.client("s3", endpoint_url=endpoint,
                      config=Config(s3={"addressing_style": "path"}, max_pool_connections=jobs))
if op == "delete":
    for k in key.split(","):
        client.delete_object(Bucket=bucket, Key=k)
    sys.exit(0)
tc = TransferConfig(max_concurrency=jobs, multipart_chunksize=part, multipart_threshold=part,
                    use_threads=jobs > 1)
t0 = time.monotonic()
if op == "put":
    client.upload_file(path, bucket, key, Config=tc)
else:
    client.download_file(bucket, key, path, Config=tc)
print("%.6f" % (time.monotonic() - t0))
PY

now() { date +%s.%N; }
# secs T0 T1: the seconds from T0 to T1.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
mbps() { awk -v b="$SIZE" -v s="$1" 'BEGIN { if (s > 0) printf "%.1f", b / s / 1e6; else print "fail" }'; }
# best A B: the larger of two MB/s figures, where "fail"/"bad"/"" lose.
best() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        an = (a ~ /^[0-9.]+$/); bn = (b ~ /^[0-9.]+$/)
        if (an && bn) print (a + 0 >= b + 0 ? a : b); else if (an) print a; else if (bn) print b
        else print (a != "" ? a : b) }'
}

s3url() {
    echo "http://${AWS_ACCESS_KEY_ID/:/%3A}:$AWS_SECRET_ACCESS_KEY@${EP#http://}/$BUCKET/$1"
}
curl_s3() {
    curl -sS -f --max-time "$OP_TIMEOUT" --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
delete_keys() { "$PY" "$STATE/b3.py" delete "$EP" "$BUCKET" "$1" - 1 "$PART" >/dev/null 2>&1 || true; }

have_objects=0
if "$P" help object-put >/dev/null 2>&1 && "$P" help object-get >/dev/null 2>&1; then
    have_objects=1
else
    say "NOTE: $P has no object-put/object-get yet: the pgpitr rows are skipped (n/a)"
fi

# ceiling_run N: sets UP and DOWN (MB/s) for N parallel curl processes.
ceiling_run() {
    local n=$1 i t0 t1 pids="" ok=1 keys=""
    rm -rf "$STATE/slices" "$STATE/got"
    mkdir -p "$STATE/slices" "$STATE/got"
    split -n "$n" -d -a 2 "$DATA" "$STATE/slices/s"
    sync
    t0=$(now)
    for i in $(seq 0 $((n - 1))); do
        curl_s3 -T "$STATE/slices/s$(printf %02d "$i")" -o /dev/null "$(s3url "ceiling/s$i")" &
        pids="$pids $!"
    done
    for i in $pids; do wait "$i" || ok=0; done
    t1=$(now)
    UP=fail
    [ "$ok" = 1 ] && UP=$(mbps "$(secs "$t0" "$t1")")
    pids="" ok=1
    sync
    t0=$(now)
    for i in $(seq 0 $((n - 1))); do
        curl_s3 -o "$STATE/got/s$(printf %02d "$i")" "$(s3url "ceiling/s$i")" &
        pids="$pids $!"
    done
    for i in $pids; do wait "$i" || ok=0; done
    t1=$(now)
    DOWN=fail
    if [ "$ok" = 1 ]; then
        DOWN=$(mbps "$(secs "$t0" "$t1")")
        cat "$STATE"/got/s* | cmp -s - "$DATA" || DOWN=bad
    fi
    for i in $(seq 0 $((n - 1))); do keys="$keys${keys:+,}ceiling/s$i"; done
    delete_keys "$keys"
    rm -rf "$STATE/slices" "$STATE/got"
}

boto3_run() {
    local n=$1 s
    UP=fail DOWN=fail
    sync
    if s=$(timeout "$OP_TIMEOUT" "$PY" "$STATE/b3.py" put "$EP" "$BUCKET" boto3/obj "$DATA" "$n" "$PART" 2>"$STATE/err"); then
        UP=$(mbps "$s")
        sync
        if s=$(timeout "$OP_TIMEOUT" "$PY" "$STATE/b3.py" get "$EP" "$BUCKET" boto3/obj "$STATE/down" "$n" "$PART" 2>"$STATE/err"); then
            DOWN=$(mbps "$s")
            cmp -s "$STATE/down" "$DATA" || DOWN=bad
        fi
    fi
    if [ "$UP" = fail ] || [ "$DOWN" = fail ]; then say "boto3 N=$n: $(tail -n 1 "$STATE/err")"; fi
    rm -f "$STATE/down"
    delete_keys boto3/obj
}

pgpitr_run() {
    local n=$1 t0 t1
    local opts=(--repo "s3://$BUCKET/pgpitr" --endpoint-url "$EP" --s3-url-style path
        --jobs "$n" --part-size "${BENCH_PGPITR_PART_SIZE:-$PART}")
    UP=n/a DOWN=n/a
    [ "$have_objects" = 1 ] || return 0
    UP=fail DOWN=fail
    sync
    t0=$(now)
    if timeout "$OP_TIMEOUT" "$P" "${opts[@]}" object-put obj "$DATA" 2>"$STATE/err"; then
        t1=$(now)
        UP=$(mbps "$(secs "$t0" "$t1")")
        sync
        t0=$(now)
        if timeout "$OP_TIMEOUT" "$P" "${opts[@]}" object-get obj "$STATE/down" 2>"$STATE/err"; then
            t1=$(now)
            DOWN=$(mbps "$(secs "$t0" "$t1")")
            cmp -s "$STATE/down" "$DATA" || DOWN=bad
        fi
    fi
    if [ "$UP" = fail ] || [ "$DOWN" = fail ]; then say "pgpitr N=$n: $(tail -n 1 "$STATE/err")"; fi
    rm -f "$STATE/down"
    delete_keys pgpitr/obj
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A R
for n in $JOBS_LIST; do
    for tool in ceiling boto3 pgpitr; do
        R[$tool,up,$n]="" R[$tool,down,$n]=""
    done
    for rep in $(seq 1 "$REPEAT"); do
        for tool in ceiling boto3 pgpitr; do
            "${tool}_run" "$n"
            say "N=$n run $rep $tool: upload $UP, download $DOWN MB/s"
            R[$tool,up,$n]=$(best "${R[$tool,up,$n]}" "$UP")
            R[$tool,down,$n]=$(best "${R[$tool,down,$n]}" "$DOWN")
        done
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }'; }
max_of() {
    local dir=$1 tool=$2 m="" n
    for n in $JOBS_LIST; do m=$(best "$m" "${R[$tool,$dir,$n]}"); done
    echo "$m"
}

echo
echo "S3 throughput: one ${SIZE_MIB} MiB object of random bytes, Swift rig on loopback,"
echo "part size $((PART / 1024 / 1024)) MiB, best of $REPEAT, MB/s (10^6 bytes/s)"
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r);" \
    "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "swift $(dpkg-query -W -f='${Version}' swift-proxy 2>/dev/null || echo '?')," \
    "boto3 $("$PY" -c 'import boto3; print(boto3.__version__)'), $(curl --version | head -n 1 | cut -d' ' -f1-2)," \
    "$("$P" --version 2>/dev/null | head -n 1) ($(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?'))"
for dir in up down; do
    echo
    [ "$dir" = up ] && echo "upload" || echo "download"
    printf '%-4s %10s %10s %10s %14s\n' N ceiling boto3 pgpitr pgpitr/boto3
    for n in $JOBS_LIST; do
        printf '%-4s %10s %10s %10s %14s\n' "$n" "${R[ceiling,$dir,$n]}" "${R[boto3,$dir,$n]}" \
            "${R[pgpitr,$dir,$n]}" "$(ratio "${R[pgpitr,$dir,$n]}" "${R[boto3,$dir,$n]}")"
    done
done
echo
for dir in up down; do
    c=$(max_of "$dir" ceiling)
    b=$(max_of "$dir" boto3)
    p=$(max_of "$dir" pgpitr)
    pct=$(awk -v a="$p" -v b="$c" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.0f%%", 100 * a / b; else print "-" }')
    echo "$([ "$dir" = up ] && echo upload || echo download): best ceiling $c, best boto3 $b, best pgpitr $p" \
        "= $pct of the ceiling (target >= 90%); pgpitr/boto3 at equal N target >= 1.20"
done
[ "$have_objects" = 1 ] || echo "pgpitr: n/a: this build has no object-put/object-get"

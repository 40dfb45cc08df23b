#!/usr/bin/env bash
# tools/bench/catalog-scale.sh - the catalog commands against repositories of
# growing size (issue 15, item 4).
#
# For each size (WAL segments:backups, default 1000:10 10000:100 100000:1000)
# tools/bench/catalog-gen.py fills the prefix catalog-scale/w1k (10k, ...) of the Swift
# rig's bucket (OpenStack Swift + s3api, tests/rig/swift.sh) with a synthetic
# barman-cloud history straight through the S3 API: the segments over 3
# timelines with 2 history files and a .partial at each switch, one .backup
# file, backup.info (barman 3.4 keys, DONE) and a small data.tar per backup.
# Then, over HTTPS, one run each of
#   list, show latest,
#   retention --dry-run --policy 'REDUNDANCY 3',
#   retention --dry-run --policy 'RECOVERY WINDOW OF 2 DAYS' (--now: an hour
#       after the newest segment, so a reused repository gives the same plan),
#   check-archive --timeline 4 (every segment is on an older timeline: usable),
#   verify (backup.info, history files and the WAL listing; no bodies),
#   verify --full on the smallest size, when at most 10k (it reads every body: the
#       synthetic segments are not WAL, so it reports them and exits 1),
#   wal-fetch of the one real segment (--prefetch 0),
# measuring wall time, HTTP requests sent (the "http: METHOD URL -> STATUS"
# lines of --log-level debug: one per request, retries included) and peak
# RSS (GNU time %M). The expected requests are computed from the objects
# each command must read (ListObjectsV2 pages of 1,000):
#   list, show       pages(base/) + one GET per backup.info
#   retention        the same + per obsolete backup its keep annotation and a
#                    listing of its folder + pages(wals/) when any is obsolete
#   check-archive    pages(wals/)
#   verify           pages(base/) + backup.info GETs + pages(wals/) + history files
#   wal-fetch        at most 2 (a listing of the segment's names, one GET)
# and the targets are checked: requests as expected, wal-fetch at most 2,
# the catalog commands under 64 MB RSS, and time linear in size (between the
# two largest sizes, time per object at most 1.5x the smaller one's, plus
# 0.5 s of slack for process start and noise).
#
# Environment:
#   PITR_BENCH_DIR        work folder, wiped at start (default /tmp/pgpitr-bench-catalog)
#   CATALOG_SCALE_MAX     largest WAL count to run (default 100000)
#   CATALOG_SCALE_SIZES   the sizes, WAL:BACKUPS (default "1000:10 10000:100 100000:1000")
#   CATALOG_SCALE_PREFIX  the prefix of each size, %s the size as 1k, 10k, 100k
#                         (default catalog-scale/w%s)
#   CATALOG_SCALE_RIG     state dir of an already running tests/rig/swift.sh rig
#                         to use (and leave running) instead of starting one in
#                         the work folder: a repository generated once is reused
#   PITR_SWIFT_PORT, PITR_SWIFT_TLS_PORT, PITR_SWIFT_BACKEND_PORT
#                         Swift rig ports (defaults 47280, 47643, 47210)
set -euo pipefail

MAX=${CATALOG_SCALE_MAX:-100000}
SIZES=${CATALOG_SCALE_SIZES:-1000:10 10000:100 100000:1000}
RIG=${CATALOG_SCALE_RIG:-}
PREFIX_FMT=${CATALOG_SCALE_PREFIX:-catalog-scale/w%s}
PITR_SWIFT_PORT=${PITR_SWIFT_PORT:-47280}
PITR_SWIFT_TLS_PORT=${PITR_SWIFT_TLS_PORT:-47643}
PITR_SWIFT_BACKEND_PORT=${PITR_SWIFT_BACKEND_PORT:-47210}
RSS_LIMIT_KB=$((64 * 1024))

# shellcheck source=tools/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init catalog-scale /tmp/pgpitr-bench-catalog
bench_build
if [ -n "$RIG" ]; then
    [ -f "$RIG/env" ] || die "CATALOG_SCALE_RIG=$RIG has no env file (tests/rig/swift.sh start it first)"
    say "using the running Swift rig in $RIG"
    # shellcheck disable=SC1091
    . "$RIG/env"
    # shellcheck disable=SC2034 # bench_pgpitr_conf reads it
    TLS=$PITR_TEST_S3_TLS_ENDPOINT
    BUCKET=$PITR_TEST_BUCKET
    CA=$WORK/bin/ca.pem
    cp "$PITR_TEST_CA_FILE" "$CA"
    chmod 644 "$CA"
else
    bench_rig_start
fi
PLAIN=${PITR_TEST_S3_ENDPOINT:?}

RESULTS=$WORK/results.txt
ROWS=$WORK/rows.txt # size command wall requests expected rss_kb rc
: >"$ROWS"
FAILS=()
MISSING=()

# pages N: ListObjectsV2 requests for N keys (one even when empty).
pages() { echo $((($1 + 999) / 1000 > 0 ? ($1 + 999) / 1000 : 1)); }

# run SIZE LABEL EXPECTED ARGS...: one timed pgpitr run; appends a row.
run() {
    local size=$1 label=$2 expected=$3 log rc=0 wall rss reqs
    shift 3
    log=$WORK/log/$size-${label// /_}
    /usr/bin/time -f "%e %M" -o "$log.time" \
        "$PGPITR" --config "$CONF" --log-level debug "$@" >"$log.out" 2>"$log.err" || rc=$?
    read -r wall rss < <(tail -n 1 "$log.time")
    reqs=$(grep -c 'DEBUG: http: ' "$log.err" || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$label" "$wall" "$reqs" "$expected" "$rss" "$rc" >>"$ROWS"
    say "$size WAL: $label: ${wall} s, $reqs requests (expected $expected), $((rss / 1024)) MB, exit $rc"
    LAST_RC=$rc
    LAST_OUT=$log.out
}

smallest=
for spec in $SIZES; do
    nwal=${spec%%:*}
    nbk=${spec##*:}
    [ "$nwal" -le "$MAX" ] || { MISSING+=("$nwal WAL / $nbk backups (above CATALOG_SCALE_MAX=$MAX)"); continue; }
    [ -n "$smallest" ] || smallest=$nwal
    if [ $((nwal % 1000)) -eq 0 ]; then
        # shellcheck disable=SC2059 # the format is the user's
        prefix=$(printf "$PREFIX_FMT" "$((nwal / 1000))k")
    else
        # shellcheck disable=SC2059
        prefix=$(printf "$PREFIX_FMT" "$nwal")
    fi
    say "generating $nwal WAL segments and $nbk backups under $prefix (skips what is there)"
    t0=$(date +%s)
    AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
        /usr/bin/python3 "$ROOT/tools/bench/catalog-gen.py" --endpoint "$PLAIN" --ca "$CA" \
        --bucket "$BUCKET" --prefix "$prefix" --wal "$nwal" --backups "$nbk" --threads 8 \
        >"$WORK/log/gen-$nwal.json" 2>"$WORK/log/gen-$nwal.log" ||
        { tail -n 20 "$WORK/log/gen-$nwal.log" >&2; die "catalog-gen.py failed"; }
    gen=$(cat "$WORK/log/gen-$nwal.json")
    jget() { /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$gen" "$1"; }
    say "generated in $(($(date +%s) - t0)) s: $gen"
    real=$(jget real_segment)
    now=$(/usr/bin/python3 -c 'import datetime, sys
t = datetime.datetime.fromisoformat(sys.argv[1]) + datetime.timedelta(hours=1)
print(t.strftime("%Y-%m-%d %H:%M:%S+00"))' "$(jget last_time)")
    nhist=2
    nbase=$((2 * nbk))                  # backup.info + data.tar
    nwals=$((nwal + nbk + 2 + nhist))   # segments, .backup files, .partial files, history files
    CONF=$(bench_pgpitr_conf "$prefix")
    base_list=$(pages $nbase)
    wal_list=$(pages $nwals)

    run "$nwal" "list" $((base_list + nbk)) list
    run "$nwal" "show latest" $((base_list + nbk)) show latest
    for policy in "REDUNDANCY 3" "RECOVERY WINDOW OF 2 DAYS"; do
        # the expected count needs the plan: run, then read how many backups would go
        run "$nwal" "retention $policy" 0 retention --dry-run --policy "$policy" --now "$now"
        obsolete=$(sed -n 's/^would remove \([0-9]*\) backup(s).*/\1/p' "$LAST_OUT")
        obsolete=${obsolete:-0}
        exp=$((base_list + nbk + 2 * obsolete + (obsolete > 0 ? wal_list : 0)))
        sed -i '$ s/^\([^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t\)0\t/\1'"$exp"'\t/' "$ROWS"
        [ "$LAST_RC" -eq 0 ] || FAILS+=("$nwal: retention $policy exited $LAST_RC")
    done
    run "$nwal" "check-archive" "$wal_list" check-archive --timeline 4
    [ "$LAST_RC" -eq 0 ] || FAILS+=("$nwal: check-archive --timeline 4 exited $LAST_RC")
    run "$nwal" "verify" $((base_list + nbk + wal_list + nhist)) verify
    [ "$LAST_RC" -eq 0 ] || FAILS+=("$nwal: verify exited $LAST_RC (see $LAST_OUT)")
    if [ "$nwal" = "$smallest" ] && [ "$nwal" -le 10000 ]; then
        # every body: backup.info, data.tar, history files and every WAL object
        run "$nwal" "verify --full" - verify --full
    fi
    rm -f "$WORK/seg"
    run "$nwal" "wal-fetch" 2 --prefetch 0 wal-fetch "$real" "$WORK/seg"
    [ "$LAST_RC" -eq 0 ] && [ "$(stat -c %s "$WORK/seg")" -eq 16777216 ] ||
        FAILS+=("$nwal: wal-fetch of $real failed (exit $LAST_RC)")
done

# ---------------------------------------------------------------- table and checks
{
    echo "catalog scale bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(bench_busy_pct)% busy before the table (machine shared with other work)"
    echo "Swift + s3api over HTTPS (stunnel), synthetic barman-cloud repositories (tools/bench/catalog-gen.py)"
    echo
    printf '| %-7s | %-35s | %8s | %8s | %8s | %7s |\n' "WAL" "command" "wall s" "requests" "expected" "RSS MB"
    printf '|%s|%s|%s|%s|%s|%s|\n' "---------" "-------------------------------------" "---------:" "---------:" "---------:" "--------:"
    while IFS=$'\t' read -r size label wall reqs exp rss rc; do
        [ "$rc" -eq 0 ] || label="$label (exit $rc)"
        printf '| %-7s | %-35s | %8s | %8s | %8s | %7.1f |\n' "$size" "$label" "$wall" "$reqs" "$exp" \
            "$(awk "BEGIN { print $rss / 1024 }")"
    done <"$ROWS"
} >"$RESULTS"

while IFS=$'\t' read -r size label wall reqs exp rss rc; do
    case "$label" in
    wal-fetch)
        [ "$reqs" -le 2 ] || FAILS+=("$size: wal-fetch sent $reqs requests (at most 2)") ;;
    "verify --full") ;; # reads every body; reported, not a target
    *)
        [ "$reqs" -eq "$exp" ] || FAILS+=("$size: $label sent $reqs requests, $exp expected")
        [ "$rss" -lt "$RSS_LIMIT_KB" ] || FAILS+=("$size: $label peaked at $((rss / 1024)) MB (limit 64)") ;;
    esac
done <"$ROWS"

# linear time: the two largest sizes, per command
mapfile -t run_sizes < <(cut -f1 "$ROWS" | sort -n -u)
if [ ${#run_sizes[@]} -ge 2 ]; then
    small=${run_sizes[-2]}
    large=${run_sizes[-1]}
    while IFS=$'\t' read -r label t_small t_large; do
        ok=$(awk -v a="$t_small" -v b="$t_large" -v s="$small" -v l="$large" \
            'BEGIN { print (b <= 1.5 * a * l / s + 0.5) ? 1 : 0 }')
        [ "$ok" -eq 1 ] || FAILS+=("$label: ${t_large} s at $large WAL against ${t_small} s at $small: worse than linear")
    done < <(awk -F'\t' -v s="$small" -v l="$large" '
        $1 == s { a[$2] = $3 } $1 == l { b[$2] = $3 }
        END { for (k in b) if ((k in a) && k != "wal-fetch") print k "\t" a[k] "\t" b[k] }' "$ROWS")
else
    MISSING+=("the linearity check (needs two sizes)")
fi

{
    echo
    if [ ${#FAILS[@]} -eq 0 ]; then
        echo "Targets: all met (requests as expected from the objects read, wal-fetch <= 2 requests,"
        echo "catalog commands < 64 MB RSS$([ ${#run_sizes[@]} -ge 2 ] && echo ", time linear between the two largest sizes"))."
    else
        echo "Targets NOT met:"
        for f in "${FAILS[@]}"; do
            echo "- $f"
        done
    fi
    bench_not_measured
} >>"$RESULTS"
bench_show "$RESULTS"
[ ${#FAILS[@]} -eq 0 ]

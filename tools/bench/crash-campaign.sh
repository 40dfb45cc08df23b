#!/usr/bin/env bash
# tools/bench/crash-campaign.sh - the full crash and fault campaign
# (tests/crash/campaign.sh): SIGKILL at seeded random points of wal-push
# (file:// and s3://, and under PostgreSQL's archiver), backup (file:// and
# s3://), restore and wal-fetch with prefetch, at least KILLS (default 50)
# each, then a full disk under the repository, the spool and the restore
# target. Too long for `make check`, which runs a slice
# (tests/integration/test_crash_slice.sh).
#
#   sudo tools/bench/crash-campaign.sh            # SEED from the clock, printed
#   SEED=1234 KILLS=50 tools/bench/crash-campaign.sh
#   PARALLEL=2|4 ... two or four campaign processes at once (the kinds split;
#                    each has its own PostgreSQL, all use one Swift rig)
#   CRASH_KINDS="backup-s3 restore" ...  only these kinds (see campaign.sh)
#
# Needs root (tmpfs mounts; PostgreSQL runs as postgres). Work folder:
# PITR_BENCH_DIR (default /tmp/pgpitr-crash); logs and per-part output there.
# Swift ports: PITR_SWIFT_PORT/PITR_SWIFT_TLS_PORT/PITR_SWIFT_BACKEND_PORT;
# PostgreSQL ports from CRASH_PG_PORT (default 29800; +10 for the second part).
# Exit 0 only when every part found no invariant failure.
set -euo pipefail
: "${PITR_SWIFT_PORT:=39880}" "${PITR_SWIFT_TLS_PORT:=39843}" "${PITR_SWIFT_BACKEND_PORT:=39810}"
. "$(dirname "$0")/lib.sh"
bench_init crash /tmp/pgpitr-crash

SEED=${SEED:-$(date +%s)}
KILLS=${KILLS:-50}
PARALLEL=${PARALLEL:-1}
PG_PORT=${CRASH_PG_PORT:-29800}
ALL="wal-push-file wal-push-s3 archiver backup-file backup-s3 restore wal-fetch disk-full"
KINDS=${CRASH_KINDS:-$ALL}
say "seed $SEED, $KILLS kills per kind, $PARALLEL part(s)"

say "building pgpitr (make, no sanitizers)"
make -C "$ROOT" -j2 BUILD=build SANITIZE= >"$WORK/log/make.log" 2>&1 ||
    { tail -n 30 "$WORK/log/make.log" >&2; die "make failed"; }
cp "$ROOT/build/pgpitr" "$WORK/bin/pgpitr"
chmod 755 "$WORK/bin/pgpitr"
bench_rig_start

# Split the kinds: PARALLEL=2 runs the WAL kinds and the backup kinds side by
# side; PARALLEL=4 runs wal-push, wal-fetch+restore+disk-full, backup-file and
# backup-s3 as four parts.
parts=("$KINDS")
if [ "$PARALLEL" -ge 2 ]; then
    parts=("" "" "" "")
    for k in $KINDS; do
        case $PARALLEL:$k in
        2:wal-push-* | 2:archiver | 2:wal-fetch) parts[0]+=" $k" ;;
        2:*) parts[1]+=" $k" ;;
        *:wal-push-* | *:archiver) parts[0]+=" $k" ;;
        *:backup-file) parts[2]+=" $k" ;;
        *:backup-s3) parts[3]+=" $k" ;;
        *) parts[1]+=" $k" ;;
        esac
    done
fi
t0=$(date +%s)
pids=()
for n in "${!parts[@]}"; do
    [ -n "${parts[$n]// /}" ] || continue
    mkdir -p "$WORK/part$n"
    chmod 755 "$WORK/part$n"
    say "part $n: ${parts[$n]}"
    (
        set +e
        export PGPITR_BIN=$WORK/bin/pgpitr CRASH_WORK=$WORK/part$n CRASH_SEED=$SEED CRASH_KILLS=$KILLS
        export CRASH_PG_PORT=$((PG_PORT + 10 * n)) CRASH_KINDS="${parts[$n]}"
        exec "$ROOT/tests/crash/campaign.sh" >"$WORK/log/part$n.log" 2>&1
    ) &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
RESULTS=$WORK/results.txt
{
    echo "crash campaign: seed $SEED, $KILLS kills per kind, $(($(date +%s) - t0)) s, $(nproc) CPUs"
    for n in "${!parts[@]}"; do
        [ -f "$WORK/log/part$n.log" ] || continue
        echo "part $n (CRASH_KINDS=\"${parts[$n]# }\" CRASH_SEED=$SEED):"
        grep -E '^#   |^not ok|passed, .* failed' "$WORK/log/part$n.log" | sed 's/^#   /  /'
    done
} >"$RESULTS"
bench_show "$RESULTS"
exit $rc

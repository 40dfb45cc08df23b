#!/usr/bin/env bash
# A short slice of the crash and fault campaign (tests/crash/campaign.sh;
# the full one is tools/bench/crash-campaign.sh): a few SIGKILLs at seeded
# random points of wal-push (file://, s3://, PostgreSQL's archiver), backup
# (file://, s3://), restore and wal-fetch with prefetch, each followed by the
# retry and the invariants (nothing archived lost, nothing partial visible,
# DONE or FAILED/absent backups with nothing left behind, right bytes at
# DEST), then every disk-full case on tmpfs mounts. CRASH_SEED picks the
# seed (default: the clock; printed), CRASH_KILLS the kills per kind
# (default 2). PostgreSQL ports 29800-29803.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${PGPITR_BIN:?}" "${IT_TMP:?}"
export CRASH_WORK=$IT_TMP/crash
export CRASH_SEED=${CRASH_SEED:-$(date +%s)}
export CRASH_KILLS=${CRASH_KILLS:-2}
export CRASH_PG_PORT=${CRASH_PG_PORT:-29800}
mkdir -p "$CRASH_WORK"
chmod 755 "$CRASH_WORK"
exec "$here/../crash/campaign.sh"

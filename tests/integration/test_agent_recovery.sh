#!/usr/bin/env bash
# `pgpitr agent` and bootstrap.recovery (the seed's "Point-in-Time Recovery"
# Cluster) on PostgreSQL 15 and S3 (the Swift rig):
#  - a source archives with wal-push; `pgpitr backup`; batch 1; a targetTime
#    (RFC 3339 with an offset, as CNPG writes it); batch 2; WAL archived;
#  - a Cluster with bootstrap.recovery from an externalCluster pointing at
#    that store and an empty PGDATA owned by postgres: the agent restores it,
#    starts PostgreSQL, which comes up promoted with exactly batch 1's rows,
#    every file owned by postgres, no archiving into the source's store, the
#    wal-fetch settings file gone; the Cluster's status says it recovered,
#    from which backup and when;
#  - hostile: a source naming no externalCluster and two target kinds are
#    file:line diagnostics and nothing is restored; a non-empty PGDATA is
#    left alone; a target before every backup fails with a condition and an
#    event, leaves PGDATA empty and is not retried in a hot loop;
#  - a recovered Cluster with its own spec.backup: its status goes to its own
#    store and archiving is held (archive_command 'false') for its own.
# PostgreSQL ports 28420 (source), 28421 and 28422 (recovered).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}" "${PITR_TEST_S3_ENDPOINT:?}" "${PITR_TEST_BUCKET:?}"

T=$IT_TMP/agent-recovery
S=$IT_TMP/pg-recsrc
R=$IT_TMP/pg-recnew
PREFIX=recovery-$$
SRC=backed-up-pg
t0=$(date +%s)
mkdir -p "$T"
: >"$T/empty.conf"
export PGPITR_CONFIG=$T/empty.conf

CONF=$T/wal.conf
printf 'repo = s3://%s/%s\nserver = %s\nendpoint-url = %s\ncompression = gzip\n' \
    "$PITR_TEST_BUCKET" "$PREFIX" "$SRC" "$PITR_TEST_S3_ENDPOINT" >"$CONF"
printf 'aws-access-key-id = %s\naws-secret-access-key = %s\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$CONF"
chown postgres:postgres "$CONF" && chmod 600 "$CONF"

# ---- the source: archive, base backup, batch 1, target, batch 2 ----
pg_rig_init "$S" 28420 || exit 1
pg_rig_conf "$S" "archive_mode = on"
pg_rig_conf "$S" "archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
pg_rig_start "$S" || exit 1
pg_rig_psql "$S" "create table t (id int primary key, batch int not null)" || exit 1
PGHOST=$S/sock PGPORT=28420 PGUSER=postgres "$PGPITR_BIN" --config "$CONF" backup \
    --immediate-checkpoint --json >"$T/backup.json" 2>"$T/backup.err" || { cat "$T/backup.err"; exit 1; }
BID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backup_id"])' "$T/backup.json")
[ -n "$BID" ] || { echo "no backup id in $(cat "$T/backup.json")"; exit 1; }
pg_rig_psql "$S" "insert into t select g, 1 from generate_series(1, 100) g" || exit 1
sleep 1.2
TARGET=$(date +%Y-%m-%dT%H:%M:%S%:z)
sleep 1.5
pg_rig_psql "$S" "insert into t select g, 2 from generate_series(101, 150) g" || exit 1
pg_rig_wait_archived "$S" 60 || exit 1
echo "# backup $BID, targetTime $TARGET"

secret() { it_cnpg_secret s3-creds app-db "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"; }
# restored SOURCE TARGET-LINES: the seed's Point-in-Time Recovery Cluster
restored() {
    cat <<Y
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: restored-pg
  namespace: app-db
spec:
  instances: 3
  storage:
    storageClass: proxmox-csi
    size: 10Gi
  bootstrap:
    recovery:
      source: $1
      recoveryTarget:
$2
  externalClusters:
    - name: backed-up-pg
      barmanObjectStore:
Y
    it_cnpg_store 8 "s3://$PITR_TEST_BUCKET/$PREFIX" s3-creds
}
# new_pgdata DIR: an empty PGDATA owned by postgres
new_pgdata() {
    rm -rf "$1"
    mkdir -p "$1/data" "$1/sock"
    chown -R postgres:postgres "$1"
    chmod 700 "$1/data"
}
# agent NAME DIR MANIFESTS: one `agent --once` on DIR/data (its log in $T/NAME.log)
agent() {
    local name=$1 d=$2 mf=$3
    mkdir -p "$T/state-$name"
    timeout 80 "$PGPITR_BIN" agent --once --manifests "$mf" --state-dir "$T/state-$name" \
        --pgdata "$d/data" --dbname "host=$d/sock port=28421 user=postgres dbname=postgres" \
        --recovery-wait 60 \
        --start-command "$PG_BIN/pg_ctl start -w -t 60 -D '$d/data' -l '$d/log' -o '-p 28421 -k $d/sock'" \
        >"$T/$name.log" 2>&1
}
is_empty() { [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; }

# ---- hostile: bad manifests are diagnostics with file:line, nothing restored ----
MFB=$T/mf-bad
mkdir -p "$MFB"
{ secret; echo ---; restored nowhere "        targetTime: \"$TARGET\""; } >"$MFB/nosource.yaml"
new_pgdata "$T/bad"
agent bad "$T/bad" "$MFB"
check "a source naming no externalCluster: error with file:line" \
    grep -q "nosource.yaml:[0-9]*: Cluster 'app-db/restored-pg': 'spec.bootstrap.recovery.source' is 'nowhere', which names no entry of spec.externalClusters" "$T/bad.log"
rm -f "$MFB/nosource.yaml"
{ secret; echo ---; restored "$SRC" "        targetTime: \"$TARGET\"
        targetLSN: 0/3000000"; } >"$MFB/twokinds.yaml"
agent bad2 "$T/bad" "$MFB"
check "two target kinds: error with file:line" \
    grep -q "twokinds.yaml:[0-9]*: Cluster 'app-db/restored-pg': 'spec.bootstrap.recovery.recoveryTarget': give at most one of" "$T/bad2.log"
check "bad manifests: PGDATA still empty, nothing restored" is_empty "$T/bad/data"
check "bad manifests: no recovery started" bash -c "! grep -q 'recovery: restoring' '$T/bad.log' '$T/bad2.log'"

# ---- hostile: a non-empty PGDATA is never touched ----
MF=$T/mf
mkdir -p "$MF"
{ secret; echo ---; restored "$SRC" "        targetTime: \"$TARGET\""; } >"$MF/restored.yaml"
new_pgdata "$T/used"
echo keep >"$T/used/data/PG_VERSION"
agent used "$T/used" "$MF"
check "non-empty PGDATA: left alone (logged why)" grep -q "PGDATA '$T/used/data' is left alone (it is not empty)" "$T/used.log"
check "non-empty PGDATA: its one file is unchanged" \
    test "$(ls -A "$T/used/data")" = PG_VERSION -a "$(cat "$T/used/data/PG_VERSION")" = keep

# ---- a target before every backup: failed, condition + event, PGDATA empty ----
MFE=$T/mf-early
mkdir -p "$MFE"
{ secret; echo ---; restored "$SRC" "        targetTime: \"2001-01-01T00:00:00+00:00\""; } >"$MFE/early.yaml"
new_pgdata "$T/early"
agent early "$T/early" "$MFE"
st=$T/state-early/app-db_restored-pg.json
check "target before every backup: RecoveryCompleted=False (RecoveryFailed) in the status" \
    python3 - "$st" <<'P'
import json, sys
d = json.load(open(sys.argv[1]))
c = [i for i in d["items"] if i["kind"] == "Cluster"][0]
cond = {x["type"]: x for x in c["status"]["conditions"]}["RecoveryCompleted"]
assert cond["status"] == "False" and cond["reason"] == "RecoveryFailed", cond
P
check "target before every backup: a Warning event RecoveryFailed" grep -q "Warning.*RecoveryFailed\|RecoveryFailed" "$st"
check "target before every backup: PGDATA left empty" is_empty "$T/early/data"
check "target before every backup: retried after a back-off, not at once" \
    test "$(grep -c 'recovery: restoring' "$T/early.log")" -eq 1
check "target before every backup: the back-off is logged" grep -q "tried again in 60 s" "$T/early.log"

# ---- the recovery ----
new_pgdata "$R"
echo 28421 >"$R/port"
ts=$(date +%s)
agent good "$R" "$MF"
rc=$?
secs=$(($(date +%s) - ts))
check "agent --once ends 0 after the recovery (took ${secs} s)" test "$rc" -eq 0
check "the server is promoted" test "$(pg_rig_psql "$R" "select pg_is_in_recovery()")" = f
check "exactly batch 1's rows (100 rows, none of batch 2)" \
    test "$(pg_rig_psql "$R" "select count(*) || '/' || count(*) filter (where batch = 2) from t")" = "100/0"
check "recovery replayed archived WAL through wal-fetch" grep -q 'restored log file' "$R/log"
check "every restored file is owned by postgres" test -z "$(find "$R/data" ! -user postgres | head -1)"
check "the wal-fetch settings file (credentials) is removed after promotion" test ! -e "$R/data/pgpitr-recovery.conf"
check "no archiving into the source's store (archive_mode off: no spec.backup)" \
    test "$(pg_rig_psql "$R" "show archive_mode")" = off
st=$T/state-good/app-db_restored-pg.json
check "the Cluster's status says it recovered, from which backup and when" \
    python3 - "$st" "$BID" "$TARGET" <<'P'
import json, sys
d = json.load(open(sys.argv[1]))
c = [i for i in d["items"] if i["kind"] == "Cluster"][0]
s = c["status"]
cond = {x["type"]: x for x in s["conditions"]}
rc = cond["RecoveryCompleted"]
assert rc["status"] == "True" and rc["reason"] == "RecoveryCompleted", rc
assert "targetTime " + sys.argv[3] in rc["message"] and "promoted at" in rc["message"], rc
assert cond["Ready"]["status"] == "True"
r = s["recovery"]
assert r["source"] == "backed-up-pg" and r["serverName"] == "backed-up-pg", r
assert r["backupID"] == sys.argv[2], (r, sys.argv[2])
assert r["promotedAt"].endswith("Z") and r["recoveryTarget"] == "targetTime " + sys.argv[3], r
assert s["phase"] == "Cluster in healthy state", s
# the last commit replayed is batch 1's, before the target
from datetime import datetime
last = datetime.fromisoformat(r["lastReplayedCommitTime"].replace("Z", "+00:00"))
assert last <= datetime.fromisoformat(sys.argv[3]), (last, sys.argv[3])
P
check "the recovery took under 60 s" test "$secs" -lt 60

# a second agent run finds the recovered PGDATA in use and leaves it alone
agent again "$R" "$MF"
check "a second run leaves the recovered PGDATA alone" grep -q "is left alone (it is not empty)" "$T/again.log"
check "the recovered server still runs" test "$(pg_rig_psql "$R" "select count(*) from t")" = 100

# ---- a recovered Cluster with its own spec.backup: status in its own store ----
R2=$IT_TMP/pg-recown
MF2=$T/mf-own
mkdir -p "$MF2"
{
    secret
    echo ---
    restored "$SRC" "        targetTime: \"$TARGET\"" | sed 's/name: restored-pg/name: restored-own/'
    cat <<Y
  backup:
    barmanObjectStore:
      destinationPath: s3://$PITR_TEST_BUCKET/$PREFIX-own
      endpointURL: $PITR_TEST_S3_ENDPOINT
      s3Credentials:
        accessKeyId: {name: s3-creds, key: ACCESS_KEY_ID}
        secretAccessKey: {name: s3-creds, key: ACCESS_SECRET_KEY}
Y
} >"$MF2/own.yaml"
new_pgdata "$R2"
echo 28422 >"$R2/port"
mkdir -p "$T/state-own"
timeout 80 "$PGPITR_BIN" agent --once --manifests "$MF2" --state-dir "$T/state-own" \
    --pgdata "$R2/data" --dbname "host=$R2/sock port=28422 user=postgres dbname=postgres" \
    --recovery-wait 60 \
    --start-command "$PG_BIN/pg_ctl start -w -t 60 -D '$R2/data' -l '$R2/log' -o '-p 28422 -k $R2/sock'" \
    >"$T/own.log" 2>&1
check "own spec.backup: agent --once ends 0" test $? -eq 0
check "own spec.backup: exactly batch 1's rows" \
    test "$(pg_rig_psql "$R2" "select count(*) || '/' || count(*) filter (where batch = 2) from t")" = "100/0"
# recovery holds archiving (archive_command 'false') until the Cluster's own
# configuration takes over: the agent's archiving set-up (agent/archconf)
# then points archive_command at the Cluster's own store, never the source's
own_archiving() {
    local cmd file
    cmd=$(pg_rig_psql "$R2" "show archive_command")
    file=$(sed -n "s|.*--config '\([^']*\)' wal-push %p\$|\1|p" <<<"$cmd")
    [ -n "$file" ] && case "$file" in "$T/state-own/"*) ;; *) return 1 ;; esac &&
        grep -qx "repo = s3://$PITR_TEST_BUCKET/$PREFIX-own" "$file" &&
        ! grep -qx "repo = s3://$PITR_TEST_BUCKET/$PREFIX" "$file"
}
check "own spec.backup: after recovery archive_command goes to the Cluster's own store ($(pg_rig_psql "$R2" "show archive_command"))" \
    own_archiving
mkdir -p "$T/state-empty"
"$PGPITR_BIN" get clusters -o json --manifests "$MF2" --state-dir "$T/state-empty" >"$T/own-get.json" 2>"$T/own-get.err"
check "own spec.backup: its status store (read back from S3) says RecoveryCompleted" \
    python3 - "$T/own-get.json" <<'P'
import json, sys
d = json.load(open(sys.argv[1]))
c = [i for i in d["items"] if i["kind"] == "Cluster" and i["metadata"]["name"] == "restored-own"][0]
cond = {x["type"]: x for x in c["status"]["conditions"]}
assert cond["RecoveryCompleted"]["status"] == "True", cond
P

pg_rig_stop "$R2"
pg_rig_stop "$R"
pg_rig_stop "$S"
echo "# suite time: $(($(date +%s) - t0)) s"
finish

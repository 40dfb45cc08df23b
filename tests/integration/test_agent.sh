#!/usr/bin/env bash
# `pgpitr agent` end to end on PostgreSQL 15 and S3 (the Swift rig), with
# the seed's CloudNativePG manifests (bucket and endpoint changed; the
# schedule every 20 s):
#  - the immediate, the on-demand and two scheduled Backups complete with
#    CNPG's names; `pgpitr list` and barman-cloud-backup-list agree with the
#    Backups' backupIds; get/describe show them (json and table);
#  - malformed manifests (bad YAML, bad cron, unknown kind) are logged with
#    file:line;
#  - SIGTERM during a backup: the agent exits within its bound and the
#    Backup is failed (Cancelled);
#  - kill -9 during a backup, down over three slots, restart: the
#    interrupted Backup is failed with a reason, no duplicate, exactly one
#    catch-up Backup (named after the first missed slot), the next slot runs;
#  - suspend: true stops new Backups; a wrong secret fails its Backup with
#    the S3 error text and the condition says so;
#  - retention "REDUNDANCY 2" (config file; CNPG's retentionPolicy cannot
#    hold it) and "1d" by the agent leave exactly what `pgpitr retention`
#    leaves on a copy; removed Backups are marked in the views.
# PostgreSQL port 28200.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}" "${PITR_TEST_S3_ENDPOINT:?}" "${PITR_TEST_BUCKET:?}"

T=$IT_TMP/agent
D=$IT_TMP/pg-agent
PREFIX=agent-$$
SRV=backed-up-pg
MF=$T/manifests
STATE=$T/state
LOG=$T/agent.log
mkdir -p "$MF" "$STATE"
: >"$T/empty.conf"
export PGPITR_CONFIG=$T/empty.conf

# archive_command's own settings (the agent never runs it)
CONF=$T/wal.conf
printf 'repo = s3://%s/%s\nserver = %s\nendpoint-url = %s\ncompression = gzip\n' \
    "$PITR_TEST_BUCKET" "$PREFIX" "$SRV" "$PITR_TEST_S3_ENDPOINT" >"$CONF"
printf 'aws-access-key-id = %s\naws-secret-access-key = %s\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$CONF"
chown postgres:postgres "$CONF" && chmod 600 "$CONF"

pg_rig_init "$D" 28200 || exit 1
pg_rig_conf "$D" "archive_mode = on"
pg_rig_conf "$D" "archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
pg_rig_conf "$D" "checkpoint_completion_target = 0"
pg_rig_start "$D" || exit 1
pg_rig_pgbench "$D" -i -s 3 -q >/dev/null 2>&1 || exit 1
export PGHOST=$D/sock PGPORT=28200 PGUSER=postgres PGDATA=$D/data

secret() { it_cnpg_secret "$1" app-db "$AWS_ACCESS_KEY_ID" "$2"; } # NAME SECRET_KEY
cluster() { # NAME SECRET POLICY
    it_cnpg_cluster "$1" app-db "$2" instances=3 storage=proxmox-csi:10Gi wal=gzip data=gzip ${3:+retention=$3}
}
scheduled() { # SUSPEND
    cat <<Y
apiVersion: postgresql.cnpg.io/v1
kind: ScheduledBackup
metadata:
  name: daily-backup
  namespace: app-db
spec:
  schedule: "*/20 * * * * *"  # every 20 s
  backupOwnerReference: self
  cluster:
    name: backed-up-pg
  immediate: true
  suspend: $1
Y
}
{ secret s3-creds "$AWS_SECRET_ACCESS_KEY"; echo ---; cluster backed-up-pg s3-creds 30d; } >"$MF/cluster.yaml"
scheduled false >"$MF/scheduled.yaml"
cat >"$MF/backup.yaml" <<Y
apiVersion: postgresql.cnpg.io/v1
kind: Backup
metadata:
  name: manual-backup
  namespace: app-db
spec:
  cluster:
    name: backed-up-pg
Y
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  key: [unclosed\n' >"$MF/bad.yaml"
printf 'apiVersion: postgresql.cnpg.io/v1\nkind: ScheduledBackup\nmetadata:\n  name: broken\n  namespace: app-db\nspec:\n  schedule: "0 0 99 * * *"\n  cluster:\n    name: backed-up-pg\n' >"$MF/badcron.yaml"
printf 'apiVersion: postgresql.cnpg.io/v1\nkind: Pooler\nmetadata:\n  name: pool\n  namespace: app-db\n' >"$MF/unknown.yml"

AGENT_PID=
start_agent() {
    "$PGPITR_BIN" agent --manifests "$MF" --state-dir "$STATE" --archive-check-wait 1 \
        --retention-interval 3600 >>"$LOG" 2>&1 &
    AGENT_PID=$!
}
get_json() { "$PGPITR_BIN" get backups -o json --manifests "$MF" --state-dir "$STATE" 2>/dev/null; }
# phases of the local copy (fast; written every tick)
local_backups() { jq -r '.items[] | select(.kind == "Backup") | "\(.metadata.name) \(.status.phase)"' \
    "$STATE/app-db_$SRV.json" 2>/dev/null; }
count_phase() { local_backups | grep -E "^daily-backup-[0-9]{14} $1\$" | wc -l; }
wait_until() { # SECONDS COMMAND...: poll every 0.2 s
    local n=$(($1 * 5))
    shift
    for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}
ge() { [ "$("${@:2}")" -ge "$1" ]; }

# ---- 1. immediate, on-demand and two scheduled Backups within 90 s ----
t0=$(date +%s)
start_agent
if wait_until 90 ge 3 count_phase completed && local_backups | grep -q '^manual-backup completed$'; then
    ok "immediate + 2 scheduled + on-demand Backups completed in $(($(date +%s) - t0)) s"
else
    not_ok "Backups not completed within 90 s: $(local_backups | tr '\n' ';') $(tail -n 20 "$LOG")"
fi
J=$(get_json)
imm=$(echo "$J" | jq -r '.items[] | select(.metadata.labels["cnpg.io/immediateBackup"] == "true") | .metadata.name')
check "the immediate Backup is named <scheduledbackup>-<YYYYMMDDHHMMSS>" \
    grep -qE '^daily-backup-[0-9]{14}$' <<<"$imm"
sched_ok=$(echo "$J" | jq -r '.items[] | select(.metadata.labels["cnpg.io/immediateBackup"] == "false" and .status.phase == "completed") | .metadata.name' |
    while read -r n; do s=${n#daily-backup-}; [ $((10#${s:12:2} % 20)) -eq 0 ] && echo "$n"; done | wc -l)
check "scheduled Backups are named after their 20 s slot ($sched_ok)" [ "$sched_ok" -ge 2 ]
check "get -o json is a v1 List" [ "$(echo "$J" | jq -r '.apiVersion + "/" + .kind')" = "v1/List" ]
check "Backup status has CNPG's fields" \
    [ "$(echo "$J" | jq -r '[.items[] | select(.metadata.name == "manual-backup") | .status | has("backupId", "beginWal", "endWal", "beginLSN", "endLSN", "startedAt", "stoppedAt", "destinationPath", "serverName", "instanceID")] | all')" = true ]
check "ownerReferences name the ScheduledBackup (backupOwnerReference: self)" \
    [ "$(echo "$J" | jq -r "[.items[] | select(.metadata.name == \"$imm\") | .metadata.ownerReferences[0].kind] | .[0]")" = ScheduledBackup ]
ids_agent=$(echo "$J" | jq -r '.items[] | select(.status.phase == "completed") | .status.backupId' | sort)
ids_list=$("$PGPITR_BIN" --config "$CONF" list --format json | jq -r '.backups_list[] | select(.status == "DONE") | .backup_id' | sort)
ids_barman=$(barman-cloud-backup-list --endpoint-url "$PITR_TEST_S3_ENDPOINT" --format json \
    "s3://$PITR_TEST_BUCKET/$PREFIX" "$SRV" | jq -r '.backups_list[] | select(.status == "DONE") | .backup_id' | sort)
check "pgpitr list, barman-cloud-backup-list (status store present) and the Backups agree" \
    [ -n "$ids_agent" -a "$ids_agent" = "$ids_list" -a "$ids_list" = "$ids_barman" ]
"$PGPITR_BIN" get backups --manifests "$MF" --state-dir "$STATE" >"$T/get-backups.txt" 2>&1
check "get backups table has kubectl's columns" grep -qE '^NAME +AGE +CLUSTER +METHOD +PHASE' "$T/get-backups.txt"
check "get backups lists manual-backup completed" grep -qE '^manual-backup +[0-9a-z]+ +backed-up-pg +barmanObjectStore +completed' "$T/get-backups.txt"
"$PGPITR_BIN" get scheduledbackups --manifests "$MF" --state-dir "$STATE" >"$T/get-sb.txt" 2>&1
check "get scheduledbackups shows LAST BACKUP and NEXT" grep -qE '^daily-backup +[0-9a-z]+ +backed-up-pg +[0-9a-z]+ +(in |due)' "$T/get-sb.txt"
"$PGPITR_BIN" get clusters --manifests "$MF" --state-dir "$STATE" >"$T/get-clusters.txt" 2>&1
check "get clusters shows the conditions" grep -q 'True/ContinuousArchivingSuccess' "$T/get-clusters.txt"
"$PGPITR_BIN" describe backup manual-backup --manifests "$MF" --state-dir "$STATE" >"$T/describe.txt" 2>&1
check "describe backup shows status and events" grep -q 'Backup completed' "$T/describe.txt"
check "describe backup -o yaml" sh -c "'$PGPITR_BIN' describe backup manual-backup -o yaml --manifests '$MF' --state-dir '$STATE' | grep -q '^kind: Backup'"
check "status store is <server>/pgpitr/status.json in the repository" \
    sh -c "'$PGPITR_BIN' --config '$CONF' object-get '$SRV/pgpitr/status.json' - | jq -e '.items | length > 0' >/dev/null"
check "bad YAML logged with file:line" grep -qE 'bad\.yaml:[0-9]+' "$LOG"
check "bad cron logged with file:line" grep -qE "badcron\.yaml:7: ScheduledBackup 'broken'" "$LOG"
check "unknown kind logged with file:line" grep -qE 'unknown\.yml:[0-9]+:.*Pooler' "$LOG"
check "no secret in the log" sh -c "! grep -qF '$AWS_SECRET_ACCESS_KEY' '$LOG'"

running() { local_backups | grep -qE '^daily-backup-[0-9]{14} (started|running)$'; }

# ---- 2. SIGTERM during a backup: cancelled and recorded, exit bounded ----
if wait_until 25 running; then
    victim=$(local_backups | awk '$2 == "started" || $2 == "running" {print $1}' | head -n 1)
    ts=$(date +%s)
    kill -TERM "$AGENT_PID"
    wait "$AGENT_PID"
    check "SIGTERM: the agent exits within 30 s ($(($(date +%s) - ts)) s)" [ $(($(date +%s) - ts)) -le 30 ]
    ph=$(jq -r ".items[] | select(.metadata.name == \"$victim\") | .status.phase + \"/\" + (.status.reason // \"\")" "$STATE/app-db_$SRV.json")
    check "SIGTERM: $victim ends failed/Cancelled or completed ($ph)" grep -qE '^(failed/Cancelled|completed/)$' <<<"$ph"
else
    not_ok "no backup ran within 25 s for the SIGTERM case"
    kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
fi

# ---- 3. kill -9 during a backup, down over 3 slots, restart ----
start_agent
if wait_until 30 running; then
    victim=$(local_backups | awk '$2 == "started" || $2 == "running" {print $1}' | head -n 1)
    kill -9 "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null
    killed_at=$(date +%s)
    ok "agent killed with SIGKILL during $victim"
else
    not_ok "no backup ran within 30 s for the kill -9 case"
    kill -9 "$AGENT_PID"; killed_at=$(date +%s)
fi
last_check=$(jq -r '.items[] | select(.kind == "ScheduledBackup" and .metadata.name == "daily-backup") | .status.lastCheckTime' "$STATE/app-db_$SRV.json")
before=$(local_backups | grep -c '^daily-backup-')
sleep $((65 - ($(date +%s) - killed_at)))
start_agent
wait_until 10 sh -c "jq -e '.items[] | select(.metadata.name == \"$victim\") | select(.status.phase == \"failed\")' '$STATE/app-db_$SRV.json' >/dev/null"
reason=$(jq -r ".items[] | select(.metadata.name == \"$victim\") | .status.phase + \"/\" + (.status.reason // \"\") + \": \" + (.status.error // \"\")" "$STATE/app-db_$SRV.json")
check "interrupted Backup failed with a reason ($reason)" grep -q '^failed/AgentRestarted: the agent was restarted' <<<"$reason"
# the catch-up Backup is named after the first slot after lastCheckTime
lc=$(date -u -d "$last_check" +%s)
first_missed=$(((lc / 20 + 1) * 20))
want=daily-backup-$(date -u -d "@$first_missed" +%Y%m%d%H%M%S)
wait_until 30 sh -c "jq -e '.items[] | select(.metadata.name == \"$want\" and .status.phase == \"completed\")' '$STATE/app-db_$SRV.json' >/dev/null"
after=$(local_backups | grep -c '^daily-backup-')
check "exactly one catch-up Backup after 3 missed slots ($want; $before -> $after before the next slot)" \
    sh -c "[ $after -eq $((before + 1)) ] && local_backups_has=\$(jq -r '.items[].metadata.name' '$STATE/app-db_$SRV.json' | grep -c '^$want\$') && [ \$local_backups_has -eq 1 ]"
check "no Backup name appears twice" [ "$(jq -r '.items[].metadata.name' "$STATE/app-db_$SRV.json" | sort | uniq -d | wc -l)" -eq 0 ]
n_done=$(count_phase completed)
check "the next slot runs after the restart" wait_until 30 ge $((n_done + 1)) count_phase completed
ids_agent=$(jq -r '.items[] | select(.kind == "Backup" and .status.phase == "completed") | .status.backupId' "$STATE/app-db_$SRV.json" | sort)
ids_list=$("$PGPITR_BIN" --config "$CONF" list --format json | jq -r '.backups_list[] | select(.status == "DONE") | .backup_id' | sort)
check "after the kills the repository's DONE backups are exactly the completed Backups" \
    [ -n "$ids_agent" -a "$ids_agent" = "$ids_list" ]

# ---- 4. suspend, and a wrong secret on a second Cluster ----
scheduled true >"$MF/scheduled.yaml"
{ secret bad-creds wrong-secret; echo ---; cluster wrong-pg bad-creds 30d; echo ---
  printf 'apiVersion: postgresql.cnpg.io/v1\nkind: Backup\nmetadata:\n  name: wrong-backup\n  namespace: app-db\nspec:\n  cluster:\n    name: wrong-pg\n'; } >"$MF/wrong.yaml"
sed -i "s#destinationPath: s3://$PITR_TEST_BUCKET/$PREFIX\$#destinationPath: s3://$PITR_TEST_BUCKET/$PREFIX-wrong#" "$MF/wrong.yaml"
sleep 3
wait_until 30 sh -c "! jq -r '.items[] | select(.kind == \"Backup\") | .status.phase' '$STATE/app-db_$SRV.json' | grep -qE '^(pending|started|running)$'"
n_sb=$(local_backups | grep -c '^daily-backup-')
WJ=$STATE/app-db_wrong-pg.json
wait_until 30 sh -c "jq -e '.items[] | select(.metadata.name == \"wrong-backup\" and .status.phase == \"failed\")' '$WJ' >/dev/null"
werr=$(jq -r '.items[] | select(.metadata.name == "wrong-backup") | .status.error' "$WJ")
check "wrong secret: Backup failed with the S3 error text ($werr)" grep -q 'SignatureDoesNotMatch' <<<"$werr"
check "wrong secret: condition LastBackupSucceeded False with the error" \
    [ "$(jq -r '.items[] | select(.kind == "Cluster") | .status.conditions[] | select(.type == "LastBackupSucceeded") | .status + "/" + .message' "$WJ" | grep -c '^False/.*SignatureDoesNotMatch')" -eq 1 ]
check "wrong secret: get backups still shows it (local copy)" sh -c "'$PGPITR_BIN' get backups --manifests '$MF' --state-dir '$STATE' 2>/dev/null | grep -qE '^wrong-backup .* failed'"
sleep 22
check "suspend: true: no new Backup over a slot ($n_sb -> $(local_backups | grep -c '^daily-backup-'))" \
    [ "$(local_backups | grep -c '^daily-backup-')" -eq "$n_sb" ]
check "nothing else breaks: the healthy Cluster's store holds its own objects only" \
    sh -c "'$PGPITR_BIN' --config '$CONF' object-get '$SRV/pgpitr/status.json' - | jq -e '([.items[] | select(.metadata.name == \"daily-backup\")] | length == 1) and ([.items[] | select(.metadata.name == \"wrong-backup\")] | length == 0)' >/dev/null"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
rm -f "$MF/wrong.yaml"

# ---- 5. retention by the agent == pgpitr retention on a copy ----
s3py() {
    python3 - "$PITR_TEST_S3_ENDPOINT" "$PITR_TEST_BUCKET" "$@" <<'PY'
import sys, boto3
from botocore.config import Config
ep, bucket, op, src = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=src + "/"):
    keys += [o["Key"] for o in page.get("Contents", [])]
if op == "list":
    for k in sorted(keys):
        print(k[len(src) + 1:])
elif op == "copy":
    dst = sys.argv[5]
    for k in keys:
        s3.copy_object(Bucket=bucket, Key=dst + k[len(src):], CopySource={"Bucket": bucket, "Key": k})
PY
}
pg_rig_psql "$D" "alter system set archive_command = '/bin/false'" && pg_rig_psql "$D" "select pg_reload_conf()" >/dev/null
s3py copy "$PREFIX" "$PREFIX-copy"
sed "s#/$PREFIX\$#/$PREFIX-copy#" "$CONF" >"$T/copy.conf"
"$PGPITR_BIN" --config "$T/copy.conf" retention --policy "REDUNDANCY 2" >"$T/retention.out" 2>&1
check "pgpitr retention on the copy removed backups" grep -q 'removed' "$T/retention.out"
# CNPG's retentionPolicy holds only Nd/Nw/Nm: REDUNDANCY comes from the
# config file's retention-policy for a Cluster without one
{ secret s3-creds "$AWS_SECRET_ACCESS_KEY"; echo ---; cluster backed-up-pg s3-creds ""; } >"$MF/cluster.yaml"
echo 'retention-policy = REDUNDANCY 2' >"$T/agent-ret.conf"
timeout 120 "$PGPITR_BIN" --config "$T/agent-ret.conf" agent --once --manifests "$MF" --state-dir "$STATE" >>"$LOG" 2>&1
check "agent --once with the retention policy exits 0" [ $? -eq 0 ]
a_keys=$(s3py list "$PREFIX" | grep -v '^[^/]*/pgpitr/')
c_keys=$(s3py list "$PREFIX-copy" | grep -v '^[^/]*/pgpitr/')
check "REDUNDANCY 2: the agent leaves exactly what pgpitr retention leaves" [ -n "$a_keys" -a "$a_keys" = "$c_keys" ]
check "REDUNDANCY 2: two DONE backups remain" [ "$("$PGPITR_BIN" --config "$CONF" list --format json | jq '[.backups_list[] | select(.status == "DONE")] | length')" -eq 2 ]
ret=$(jq -r '.items[] | select(.kind == "Cluster") | .status.retention.result + " " + .status.retention.policy' "$STATE/app-db_$SRV.json")
check "retention result in the Cluster status ($ret)" [ "$ret" = "Succeeded REDUNDANCY 2" ]
check "status store survived retention" sh -c "'$PGPITR_BIN' --config '$CONF' object-get '$SRV/pgpitr/status.json' - >/dev/null"
"$PGPITR_BIN" get backups --manifests "$MF" --state-dir "$STATE" >"$T/get-backups-after.txt" 2>&1
check "views mark Backups whose backupId retention removed" grep -q 'completed (removed)' "$T/get-backups-after.txt"
# window policy: nothing is older than 1 day, so both keep everything
"$PGPITR_BIN" --config "$T/copy.conf" retention --policy 1d >/dev/null 2>&1
{ secret s3-creds "$AWS_SECRET_ACCESS_KEY"; echo ---; cluster backed-up-pg s3-creds 1d; } >"$MF/cluster.yaml"
timeout 120 "$PGPITR_BIN" agent --once --manifests "$MF" --state-dir "$STATE" >>"$LOG" 2>&1
a2=$(s3py list "$PREFIX" | grep -v '^[^/]*/pgpitr/')
c2=$(s3py list "$PREFIX-copy" | grep -v '^[^/]*/pgpitr/')
check "1d: the agent leaves exactly what pgpitr retention leaves" [ "$a2" = "$c2" -a "$a2" = "$a_keys" ]

cp "$T/get-backups.txt" "$T/describe.txt" "$IT_TMP/" 2>/dev/null
echo "---- pgpitr get backups ----"; cat "$T/get-backups-after.txt"
echo "---- pgpitr describe backup manual-backup ----"; cat "$T/describe.txt"
pg_rig_stop "$D"
finish

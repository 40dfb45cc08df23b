#!/usr/bin/env bash
# `pgpitr agent` on a three-node PostgreSQL 15 cluster on loopback (pg-1
# primary, pg-2 and pg-3 streaming standbys made with pg_basebackup -R),
# one agent per node with its own config (instance-name, peer-conninfo,
# heartbeat 2 s, lease 6 s) and identical manifests (the seed's Cluster +
# ScheduledBackup every 20 s), archiving to S3 (Swift) by wal-push set here:
#  - the primary's agent leads (lease.json), every agent publishes its
#    heartbeat record, none holds a password;
#  - prefer-standby: pg-2's replay is paused (it lags), so Backups stream
#    from pg-3 (status.instanceID.podName), run by the leader;
#  - kill -9 of the leader during a backup, restarted at once (as systemd
#    would): the Backup fails (AgentRestarted), the next slot runs;
#  - failover during a backup: stop pg-1, promote pg-3: pg-3's agent leads
#    within lease-ttl + heartbeat + 1 s, the orphaned Backup fails once
#    pg-1's heartbeat is stale (or completed, recorded while pg-1 still held
#    the lease: it streams from pg-3), the next slot runs, archiving continues on
#    timeline 2;
#  - two primaries: promote pg-2 while pg-3 runs: pg-2 is on a newer
#    timeline (3) and takes the unexpired lease, pg-3's agent stops leading
#    and says so, a SplitBrain warning lands on the Cluster;
#  - every agent configured archive_command/restore_command of its own
#    server (a 0600 settings file owned by postgres, no secret in
#    postgresql.auto.conf); every agent serves /metrics (metrics-listen
#    28341-28343): pgpitr_is_leader 1 on the leader only, the archiver
#    counters equal each server's pg_stat_archiver, every agent's last
#    available backup is the repository's newest DONE backup;
#  - no Backup name twice; the repository's DONE backups are the completed
#    Backups.
# PostgreSQL ports 28300-28302.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}" "${PITR_TEST_S3_ENDPOINT:?}" "${PITR_TEST_BUCKET:?}"

T=$IT_TMP/cluster
PREFIX=cluster-$$
SRV=backed-up-pg
HB=2 TTL=6
BOUND=$((TTL + HB + 1))
mkdir -p "$T"
: >"$T/empty.conf"
export PGPITR_CONFIG=$T/empty.conf
t_start=$(date +%s)
TL_LOG=$T/timeline.txt
: >"$TL_LOG"
mark() { echo "t+$(($(date +%s) - t_start))s $(date -u +%H:%M:%S) $*" | tee -a "$TL_LOG"; }

# archive_command's and restore_command's own settings (the agents never run them)
CONF=$T/wal.conf
printf 'repo = s3://%s/%s\nserver = %s\nendpoint-url = %s\ncompression = gzip\n' \
    "$PITR_TEST_BUCKET" "$PREFIX" "$SRV" "$PITR_TEST_S3_ENDPOINT" >"$CONF"
printf 'aws-access-key-id = %s\naws-secret-access-key = %s\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$CONF"
chown postgres:postgres "$CONF" && chmod 600 "$CONF"

# the new settings are checked before anything runs; a password is never echoed
expect_exit "peer-conninfo with a password is refused" 3 \
    timeout 10 "$PGPITR_BIN" agent --instance-name pg-1 --peer-conninfo "host=h password=s3cr3t-pw" --manifests "$T"
expect_err_has "the refusal says why" "holds a password"
if grep -q s3cr3t-pw <<<"$T_ERR"; then not_ok "the refusal echoes the password"; else ok "the refusal does not echo the password"; fi
expect_exit "a bad instance-name is refused" 3 timeout 10 "$PGPITR_BIN" agent --instance-name "../x" --manifests "$T"
expect_exit "lease-ttl must exceed heartbeat-interval" 3 \
    timeout 10 "$PGPITR_BIN" agent --instance-name pg-1 --heartbeat-interval 10 --lease-ttl 5 --manifests "$T"

D1=$IT_TMP/pg-cl1 D2=$IT_TMP/pg-cl2 D3=$IT_TMP/pg-cl3
P1=28300 P2=28301 P3=28302
AGENT_PIDS=()
stop_all() {
    local p
    for p in "${AGENT_PIDS[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
    for p in "${AGENT_PIDS[@]}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
    pg_rig_stop "$D3"; pg_rig_stop "$D2"; pg_rig_stop "$D1"
}
trap stop_all EXIT
conn() { echo "host=$1/sock port=$2 user=postgres dbname=postgres"; }

pg_rig_init "$D1" $P1 || { not_ok "pg-1: initdb"; finish; exit; }
pg_rig_conf "$D1" "archive_mode = on"
pg_rig_conf "$D1" "archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
pg_rig_conf "$D1" "max_wal_senders = 10"
pg_rig_conf "$D1" "wal_keep_size = 512MB"
pg_rig_conf "$D1" "checkpoint_completion_target = 0"
pg_rig_start "$D1" || { not_ok "pg-1: start"; finish; exit; }
pg_rig_psql "$D1" "create table marker (id serial primary key, at timestamptz default now())"
pg_rig_wait_archived "$D1" 30 || not_ok "pg-1: archiving works"
mkstandby() { # DIR PORT NAME
    mkdir -p "$1/sock"
    chown -R postgres:postgres "$1"
    pg_rig_as "$PG_BIN/pg_basebackup" -h "$D1/sock" -p $P1 -U postgres -D "$1/data" -R -X stream -c fast \
        >"$1/basebackup.log" 2>&1 || { cat "$1/basebackup.log"; return 1; }
    echo "$2" >"$1/port"
    cat >>"$1/data/postgresql.conf" <<CONF
port = $2
unix_socket_directories = '$1/sock'
restore_command = '$PGPITR_BIN --config $CONF wal-fetch %f %p'
CONF
    # application_name = instance-name: how the leader matches pg_stat_replication rows
    echo "primary_conninfo = 'host=$D1/sock port=$P1 user=postgres application_name=$3'" \
        >>"$1/data/postgresql.auto.conf"
    pg_rig_start "$1"
}
mkstandby "$D2" $P2 pg-2 || { not_ok "pg-2: pg_basebackup -R"; finish; exit; }
mkstandby "$D3" $P3 pg-3 || { not_ok "pg-3: pg_basebackup -R"; finish; exit; }
streaming() { [ "$(pg_rig_psql "$D1" "select count(*) from pg_stat_replication where state = 'streaming'")" = 2 ]; }
wait_until() { # SECONDS COMMAND...: poll every 0.2 s
    local n=$(($1 * 5)) i
    shift
    for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}
check "pg-2 and pg-3 stream from pg-1" wait_until 30 streaming
# pg-2 lags on purpose: replay paused, then WAL it does not replay
pg_rig_psql "$D2" "select pg_wal_replay_pause()" >/dev/null
pg_rig_psql "$D1" "insert into marker (id) select generate_series(1, 5000)"
lag2() { pg_rig_psql "$D1" "select pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) from pg_stat_replication where application_name = 'pg-2'"; }
check "pg-2 lags (replay paused: $(lag2) bytes)" [ "$(lag2)" -gt 0 ]
mark "3 servers up: pg-1 primary, pg-2 paused (lagging), pg-3 streaming"

# ---- manifests (identical on every node) and the agents ----
MF=$T/manifests
mkdir -p "$MF"
{
    it_cnpg_secret s3-creds app-db "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
    echo ---
    it_cnpg_cluster backed-up-pg app-db s3-creds instances=3 storage=10Gi target=prefer-standby wal=gzip data=gzip
    echo ---
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
Y
} >"$MF/cluster.yaml"
for n in 1 2 3; do
    mkdir -p "$T/mf$n" "$T/state$n"
    cp "$MF/cluster.yaml" "$T/mf$n/"
done
agent_conf() { # N DIR PORT
    printf 'instance-name = pg-%s\npeer-conninfo = %s\ndbname = %s\nheartbeat-interval = %s\nlease-ttl = %s\n' \
        "$1" "$(conn "$2" "$3")" "$(conn "$2" "$3")" $HB $TTL >"$T/agent$1.conf"
    printf 'metrics-listen = 127.0.0.1:%s\n' $((28340 + $1)) >>"$T/agent$1.conf"
}
agent_conf 1 "$D1" $P1
agent_conf 2 "$D2" $P2
agent_conf 3 "$D3" $P3
start_agent() { # N
    local d
    eval "d=\$D$1"
    "$PGPITR_BIN" --config "$T/agent$1.conf" agent --manifests "$T/mf$1" --state-dir "$T/state$1" --pgdata "$d/data" \
        --archive-check-wait 1 --retention-interval 3600 --wal-wait-timeout 60 >>"$T/agent$1.log" 2>&1 &
    AGENT_PIDS[$1]=$!
}
obj() { "$PGPITR_BIN" --config "$CONF" object-get "$SRV/pgpitr/$1" - 2>/dev/null; }
holder() { obj lease.json | jq -r '.holder // ""' 2>/dev/null; }
status_doc() { obj status.json; }
backups() { status_doc | jq -r '.items[] | select(.kind == "Backup") | "\(.metadata.name) \(.status.phase) \(.status.instanceID.podName // "-") \(.status.instanceID.agentInstance // "-") \(.status.reason // "-")"' 2>/dev/null; }
count_completed() { backups | awk '$2 == "completed"' | wc -l; }
ge() { [ "$("${@:2}")" -ge "$1" ]; }
holder_is() { [ "$(holder)" = "$1" ]; }

start_agent 1; start_agent 2; start_agent 3
mark "agents started"

# ---- 1. the primary's agent leads; heartbeats; the backup runs on the least-lag standby ----
check "pg-1's agent takes the lease" wait_until 20 holder_is pg-1
mark "pg-1 leads (lease holder)"
have_records() { [ "$(for n in 1 2 3; do obj "instances/pg-$n.json" | jq -r .instance; done | sort | tr '\n' ' ')" = "pg-1 pg-2 pg-3 " ]; }
check "every agent publishes instances/<instance>.json" wait_until 15 have_records
rec2=$(obj instances/pg-2.json)
check "pg-2's record: standby, timeline 1, replay paused" \
    [ "$(jq -r '.role + "/" + (.timeline | tostring) + "/" + (.replayPaused | tostring)' <<<"$rec2")" = "standby/1/true" ]
rec1_ok() { obj instances/pg-1.json | jq -e '.role == "primary" and .leader == true and ([.replication[] | select(.instance == "pg-2" and .lagBytes > 0)] | length == 1)' >/dev/null; }
if wait_until 10 rec1_ok; then
    ok "pg-1's record: primary, leader, sees pg-2's lag in bytes"
else
    not_ok "pg-1's record: $(obj instances/pg-1.json)"
fi
if jq -e '(.version | length > 0) and .pid > 0 and (.bootId | length == 36) and (.conninfo | length > 0) and (.conninfo | test("password") | not)' <<<"$rec2" >/dev/null; then
    ok "records carry version, pid, boot id and the peer conninfo, and no password"
else
    not_ok "pg-2's record: $rec2"
fi
# hostile records: garbage and an oversized one are ignored with one warning each
echo '{"instance": "evil", "role": "king"' | "$PGPITR_BIN" --config "$CONF" object-put "$SRV/pgpitr/instances/evil.json" - 2>/dev/null
head -c 70000 /dev/zero | tr '\0' ' ' | "$PGPITR_BIN" --config "$CONF" object-put "$SRV/pgpitr/instances/huge.json" - 2>/dev/null
sleep $((3 * HB))
check "a malformed heartbeat record is ignored with one warning" \
    [ "$(grep -c "ignoring heartbeat record '$SRV/pgpitr/instances/evil.json'" "$T/agent1.log")" -eq 1 ]
check "an oversized heartbeat record is ignored with one warning" \
    [ "$(grep -c "ignoring heartbeat record '$SRV/pgpitr/instances/huge.json'" "$T/agent1.log")" -eq 1 ]
check "only the leader writes the store: followers keep no local status copy" \
    [ ! -e "$T/state2/app-db_$SRV.json" -a ! -e "$T/state3/app-db_$SRV.json" ]
if wait_until 60 ge 1 count_completed; then
    ok "the immediate Backup completed ($(backups | head -n 1))"
else
    not_ok "no Backup completed within 60 s: $(backups | tr '\n' ';') $(tail -n 15 "$T/agent1.log")"
fi
first=$(backups | awk '$2 == "completed"' | head -n 1)
check "prefer-standby: the Backup ran on pg-3, the streaming standby with the least lag, by the leader pg-1 ($first)" \
    [ "$(awk '{print $3 "/" $4}' <<<"$first")" = "pg-3/pg-1" ]
mark "first Backup completed on pg-3: $first"

# ---- archiving configured by every agent; every agent's /metrics ----
arch_set() { # N DIR: the agent's archive_command and restore_command are in force
    local f="$T/state$1/app-db_$SRV.archive.conf"
    pg_rig_psql "$2" "show archive_command" | grep -qF -- "--config '$f' wal-push %p" &&
        pg_rig_psql "$2" "show restore_command" | grep -qF -- "--config '$f' wal-fetch %f %p"
}
for n in 1 2 3; do
    eval "d=\$D$n"
    check "pg-$n: its agent set archive_command and restore_command to its own settings file" wait_until 20 arch_set $n "$d"
    check "pg-$n: that file is 0600 and belongs to postgres" \
        [ "$(stat -c '%a %U' "$T/state$n/app-db_$SRV.archive.conf")" = "600 postgres" ]
    check "pg-$n: no secret in postgresql.auto.conf" \
        sh -c "! grep -qF -- '$AWS_SECRET_ACCESS_KEY' '$d/data/postgresql.auto.conf'"
done
pg_rig_psql "$D1" "select pg_switch_wal()" >/dev/null
pg_rig_wait_archived "$D1" 30 >/dev/null || not_ok "pg-1: archiving through the agent's settings"
scrape() { curl -sS --max-time 10 "http://127.0.0.1:$((28340 + $1))/metrics" >"$T/metrics$1.txt" 2>/dev/null; }
mval() { awk -v k="$2" '$1 == k {print $2}' "$T/metrics$1.txt"; }
for n in 1 2 3; do
    check "pg-$n: its agent serves /metrics" wait_until 10 scrape $n
done
check "/metrics: pgpitr_is_leader is 1 on pg-1, 0 on pg-2 and pg-3" \
    [ "$(mval 1 pgpitr_is_leader)/$(mval 2 pgpitr_is_leader)/$(mval 3 pgpitr_is_leader)" = "1/0/0" ]
archived_match() { # N DIR: cnpg_pg_stat_archiver_archived_count = pg_stat_archiver's
    local want
    want=$(pg_rig_psql "$2" "select archived_count from pg_stat_archiver")
    scrape "$1" && [ "$(printf '%.0f' "$(mval "$1" cnpg_pg_stat_archiver_archived_count)")" = "$want" ]
}
for n in 1 2 3; do
    eval "d=\$D$n"
    check "pg-$n: cnpg_pg_stat_archiver_archived_count matches pg_stat_archiver" wait_until 10 archived_match $n "$d"
done
newest_done() { "$PGPITR_BIN" --config "$CONF" list --format json |
    jq -r '[.backups_list[] | select(.status == "DONE") | .end_time_iso] | sort | last'; }
backup_gauge() { # N: the agent's last-available gauge is the newest DONE backup's end
    local newest
    newest=$(newest_done)
    scrape "$1" && [ -n "$newest" ] &&
        [ "$(printf '%.0f' "$(mval "$1" cnpg_collector_last_available_backup_timestamp)")" = "$(date -d "$newest" +%s)" ]
}
check "pg-1 (leader): cnpg_collector_last_available_backup_timestamp is the newest DONE backup's end" wait_until 20 backup_gauge 1
# followers read the leader's status.json (every 3 x heartbeat) for the same gauges
check "pg-2 (follower): the same gauge from the stored status" wait_until 20 backup_gauge 2
check "pg-3 (follower): the same gauge from the stored status" wait_until 20 backup_gauge 3
cp "$T/metrics1.txt" "$T/metrics-leader.txt"

# ---- 2. kill -9 of the leader during a backup; restarted at once ----
# one read names the victim (a second read could find it already finished)
victim=
grab_victim() { victim=$(backups | awk '$2 == "started" || $2 == "running" {print $1}' | head -n 1); [ -n "$victim" ]; }
if wait_until 30 grab_victim; then
    kill -9 "${AGENT_PIDS[1]}"; wait "${AGENT_PIDS[1]}" 2>/dev/null
    mark "kill -9 of pg-1's agent during $victim"
    start_agent 1
    mark "pg-1's agent restarted"
    failed_victim() { backups | grep -qE "^$victim failed .* AgentRestarted\$"; }
    if wait_until 30 failed_victim; then
        ok "the interrupted Backup failed: $(backups | grep "^$victim ")"
        mark "$victim failed (AgentRestarted) after the restart"
    else
        not_ok "the interrupted Backup did not fail: $(backups | grep "^$victim ") $(tail -n 10 "$T/agent1.log")"
    fi
    n=$(count_completed)
    check "the next slot runs after the restart" wait_until 40 ge $((n + 1)) count_completed
    mark "next slot completed: $(backups | awk '$2 == "completed"' | tail -n 1)"
else
    not_ok "no backup ran within 30 s for the kill -9 case"
fi

# ---- 3. failover during a backup: stop pg-1, promote pg-3 ----
# the old leader's backup must fail by the new leader's executor rule (its
# agent never runs it again: its server is gone, its heartbeat goes stale)
orphan=
if wait_until 30 grab_victim; then
    orphan=$victim
fi
pg_rig_stop "$D1"
mark "pg-1 (primary, leader) stopped${orphan:+ during $orphan}"
pg_rig_as "$PG_BIN/pg_ctl" -D "$D3/data" -w promote >/dev/null
t_promote=$(date +%s)
mark "pg-3 promoted"
if wait_until $((BOUND + 5)) holder_is pg-3; then
    took=$(($(date +%s) - t_promote))
    mark "pg-3 leads, ${took} s after its promotion (bound ${BOUND} s = lease-ttl + heartbeat + 1)"
    check "failover: pg-3's agent leads within $BOUND s (${took} s)" [ "$took" -le "$BOUND" ]
else
    not_ok "failover: pg-3 does not lead: holder '$(holder)' $(tail -n 10 "$T/agent3.log")"
fi
if [ -n "$orphan" ]; then
    # The backup streams from pg-3, so it may still finish, and be recorded,
    # while pg-1's agent holds the lease; otherwise the new leader fails it.
    # Either way it ends: never left running.
    orphan_failed() { backups | grep -qE "^$orphan failed .* pg-1 AgentRestarted\$"; }
    orphan_done() { backups | grep -qE "^$orphan completed "; }
    orphan_final() { orphan_failed || orphan_done; }
    if wait_until $((3 * HB + BOUND + 10)) orphan_final && orphan_failed; then
        ok "failover: the old leader's Backup $orphan failed (executor gone): $(status_doc | jq -r ".items[] | select(.metadata.name == \"$orphan\") | .status.error")"
        mark "$orphan (run by pg-1's agent) failed by the new leader: executor heartbeat stale"
    elif orphan_done; then
        ok "failover: the old leader's Backup $orphan completed before the lease moved (the repository check below holds it to a DONE backup)"
        mark "$orphan (run by pg-1's agent) completed before pg-1's agent lost the lease"
        orphan=
    else
        not_ok "failover: the old leader's Backup did not end: $(backups | grep "^$orphan ")"
    fi
else
    not_ok "failover: no backup was running when pg-1 stopped"
fi
check "pg-3 is on timeline 2" [ "$(pg_rig_psql "$D3" "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")" = 00000002 ]
check "failover: archiving continues on timeline 2" pg_rig_wait_archived "$D3" 30
n=$(count_completed)
if wait_until 45 ge $((n + 1)) count_completed; then
    last=$(backups | awk '$2 == "completed"' | tail -n 1)
    ok "failover: the next slot runs under pg-3 ($last)"
    mark "first Backup under pg-3 completed: $last"
    check "failover: it ran by pg-3's agent" [ "$(awk '{print $4}' <<<"$last")" = pg-3 ]
else
    not_ok "failover: no Backup after the takeover: $(backups | tail -n 3 | tr '\n' ';') $(tail -n 10 "$T/agent3.log")"
fi
check "pg-1's agent no longer leads (its server is down)" grep -q "pg-1' stops leading\|the local server does not answer" "$T/agent1.log"

# ---- 4. two primaries: promote pg-2 without stopping pg-3 ----
pg_rig_psql "$D2" "select pg_wal_replay_resume()" >/dev/null
pg_rig_as "$PG_BIN/pg_ctl" -D "$D2/data" -w promote >/dev/null
t_promote=$(date +%s)
tl2=$(pg_rig_psql "$D2" "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
mark "pg-2 promoted while pg-3 is primary (pg-2 timeline $tl2, pg-3 timeline 00000002)"
check "two primaries: pg-2 chose a newer timeline than pg-3 ($tl2)" [ "$tl2" = 00000003 ]
if wait_until $((BOUND + 5)) holder_is pg-2; then
    mark "pg-2 (newer timeline) took the unexpired lease, $(($(date +%s) - t_promote)) s after its promotion"
    ok "two primaries: the newer timeline (pg-2) takes the lease"
else
    not_ok "two primaries: lease holder is '$(holder)'"
fi
loser() { grep -q "pg-3' stops leading: .*split brain\|stops leading: the lease is now held by 'pg-2'" "$T/agent3.log"; }
check "two primaries: pg-3's agent stops leading and says why" wait_until 10 loser
mark "pg-3's agent stopped leading: $(grep -m1 "pg-3' stops leading" "$T/agent3.log")"
split_event() { status_doc | jq -e '.events["Cluster/backed-up-pg"][] | select(.reason == "SplitBrain" and (.message | test("pg-3")))' >/dev/null; }
check "two primaries: the winner records a SplitBrain warning on the Cluster" wait_until 15 split_event
n=$(count_completed)
check "two primaries: the next slot runs once, by pg-2's agent" wait_until 45 ge $((n + 1)) count_completed
check "two primaries: every Backup started after the takeover is pg-2's" \
    [ "$(backups | awk '$2 == "completed"' | tail -n 1 | awk '{print $4}')" = pg-2 ]
sleep 3
check "pg-3's agent stays a follower" [ "$(holder)" = pg-2 ]

# ---- no duplicates; the repository agrees (agents stopped: nothing in flight) ----
for n in 1 2 3; do kill -TERM "${AGENT_PIDS[$n]}" 2>/dev/null; done
for n in 1 2 3; do wait "${AGENT_PIDS[$n]}" 2>/dev/null; done
AGENT_PIDS=()
names=$(status_doc | jq -r '.items[] | select(.kind == "Backup") | .metadata.name')
check "no Backup name twice ($(wc -l <<<"$names") Backups)" [ -z "$(sort <<<"$names" | uniq -d)" ]
ids_agent=$(status_doc | jq -r '.items[] | select(.kind == "Backup" and .status.phase == "completed") | .status.backupId' | sort)
ids_list=$("$PGPITR_BIN" --config "$CONF" list --format json | jq -r '.backups_list[] | select(.status == "DONE") | .backup_id' | sort)
missing=$(comm -23 <(echo "$ids_agent") <(echo "$ids_list"))
extra=$(comm -13 <(echo "$ids_agent") <(echo "$ids_list") | grep -c .)
check "every completed Backup is a DONE backup in the repository (missing: ${missing:-none})" [ -n "$ids_agent" -a -z "$missing" ]
# known limit: the orphaned backup may have finished after its leader lost the
# lease; the new leader recorded it failed and does not adopt it
check "no DONE backup without a completed Backup but the orphan ($extra extra)" [ "$extra" -le $([ -n "$orphan" ] && echo 1 || echo 0) ]
check "no password or secret in any agent log" sh -c "! grep -qF '$AWS_SECRET_ACCESS_KEY' '$T'/agent*.log"
echo "---- Backups (name phase podName agentInstance reason) ----"
backups
echo "---- failover timeline ----"
cat "$TL_LOG"
cp "$TL_LOG" "$IT_TMP/cluster-timeline.txt" 2>/dev/null
echo "---- pg-1's /metrics after the first backup (samples only) ----"
grep -v '^#' "$T/metrics-leader.txt"
mark "suite done"
finish

#!/usr/bin/env bash
# The agent's /metrics end to end on PostgreSQL 15 and S3 (the Swift rig):
#  - a server archives with `pgpitr wal-push` (its counters in the default
#    stats file, pg_wal/pgpitr_spool/pushstats); an agent with a Cluster
#    (retentionPolicy 30d) and an immediate ScheduledBackup serves
#    /metrics on 127.0.0.1:28459;
#  - the backup gauges equal what `pgpitr list` says (end of the newest and
#    of the oldest DONE backup), the recovery window is now minus the
#    first recoverability point, retention ran, storage_up and is_leader 1;
#  - cnpg_pg_stat_archiver_* equal pg_stat_archiver; wal-push's ok +
#    already_archived equal archived_count, the histogram's count equals
#    the pushes, its buckets are cumulative;
#  - the agent takes over archive_command (its own settings file); a
#    Secret rotated to a wrong key for a while: every failed attempt moves
#    both pgpitr_wal_push_total{result="error"} and failed_count, equally;
#  - /other is 404, POST 405; no secret and no setting in the page.
# PostgreSQL port 28440, metrics 28459.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}" "${PITR_TEST_S3_ENDPOINT:?}" "${PITR_TEST_BUCKET:?}"

T=$IT_TMP/agent-metrics
D=$IT_TMP/pg-agent-metrics
PREFIX=agent-metrics-$$
SRV=metrics-pg
MF=$T/manifests
STATE=$T/state
LOG=$T/agent.log
URL=http://127.0.0.1:28459
rm -rf "$T" "$D"
mkdir -p "$MF" "$STATE"
: >"$T/empty.conf"
export PGPITR_CONFIG=$T/empty.conf
t_start=$(date +%s)

# archive_command's settings until the agent sets its own
CONF=$T/wal.conf
wal_conf() { # SECRET
    printf 'repo = s3://%s/%s\nserver = %s\nendpoint-url = %s\ncompression = gzip\n' \
        "$PITR_TEST_BUCKET" "$PREFIX" "$SRV" "$PITR_TEST_S3_ENDPOINT"
    printf 'retry-max-time = 2\naws-access-key-id = %s\naws-secret-access-key = %s\n' \
        "$AWS_ACCESS_KEY_ID" "$1"
}
wal_conf "$AWS_SECRET_ACCESS_KEY" >"$T/good.conf"
chown postgres:postgres "$T/good.conf" && chmod 600 "$T/good.conf"
cp -p "$T/good.conf" "$CONF"

pg_rig_init "$D" 28440 || exit 1
pg_rig_conf "$D" "archive_mode = on"
pg_rig_conf "$D" "archive_command = '$PGPITR_BIN --config $CONF wal-push %p'"
pg_rig_conf "$D" "checkpoint_completion_target = 0"
# the server must not inherit AWS_* (the environment outranks the config file)
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN; pg_rig_start "$D") || exit 1
pg_rig_pgbench "$D" -i -s 1 -q >/dev/null 2>&1 || exit 1
export PGHOST=$D/sock PGPORT=28440 PGUSER=postgres PGDATA=$D/data

{
    it_cnpg_secret s3-creds metrics-ns "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
    echo ---
    it_cnpg_cluster "$SRV" metrics-ns s3-creds retention=30d data=gzip
    echo ---
    cat <<Y
apiVersion: postgresql.cnpg.io/v1
kind: ScheduledBackup
metadata:
  name: nightly
  namespace: metrics-ns
spec:
  schedule: "0 0 3 1 1 *"
  immediate: true
  cluster:
    name: $SRV
Y
} >"$MF/cluster.yaml"

wait_until() { # SECONDS COMMAND...: poll every 0.2 s
    local n=$(($1 * 5))
    shift
    for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}
scrape() { curl -sS --max-time 10 "$URL/metrics" >"$T/page.txt" 2>"$T/curl.err"; }
# val NAME_WITH_LABELS: the value of one sample of the last scrape
val() { awk -v k="$1" '$1 == k {print $2}' "$T/page.txt"; }
num() { printf '%.0f' "$1"; }
completed() { jq -e '[.items[] | select(.kind == "Backup" and .status.phase == "completed")] | length > 0' \
    "$STATE/metrics-ns_$SRV.json" >/dev/null 2>&1; }
retention_ran() { scrape && [ "$(num "$(val 'pgpitr_retention_last_run_timestamp{cluster="'$SRV'",namespace="metrics-ns",result="succeeded"}')")" -gt 0 ]; }

"$PGPITR_BIN" agent --manifests "$MF" --state-dir "$STATE" --archive-check-wait 1 \
    --retention-interval 3600 --metrics-listen 127.0.0.1:28459 >>"$LOG" 2>&1 &
AGENT_PID=$!
trap 'kill $AGENT_PID 2>/dev/null; pg_rig_stop "$D"' EXIT

check "the agent serves /metrics on 127.0.0.1:28459" wait_until 10 scrape
check "the immediate backup completed" wait_until 60 completed
check "retention ran after the backup" wait_until 20 retention_ran
pg_rig_wait_archived "$D" 30 >/dev/null || not_ok "WAL not archived"

# ---- backup gauges against the repository ----
"$PGPITR_BIN" --config "$CONF" list --format json >"$T/list.json" 2>"$T/list.err"
newest=$(jq -r '[.backups_list[] | select(.status == "DONE") | .end_time_iso] | sort | last' "$T/list.json")
oldest=$(jq -r '[.backups_list[] | select(.status == "DONE") | .end_time_iso] | sort | first' "$T/list.json")
scrape
last_avail=$(num "$(val cnpg_collector_last_available_backup_timestamp)")
frp=$(num "$(val cnpg_collector_first_recoverability_point)")
check "cnpg_collector_last_available_backup_timestamp = end of the newest DONE backup ($last_avail, $newest)" \
    [ -n "$newest" -a "$last_avail" = "$(date -d "$newest" +%s)" ]
check "cnpg_collector_first_recoverability_point = end of the oldest DONE backup ($frp, $oldest)" \
    [ -n "$oldest" -a "$frp" = "$(date -d "$oldest" +%s)" ]
check "cnpg_collector_last_failed_backup_timestamp 0 (none failed)" [ "$(val cnpg_collector_last_failed_backup_timestamp)" = 0 ]
win=$(num "$(val 'pgpitr_recovery_window_seconds{cluster="'$SRV'",namespace="metrics-ns"}')")
now=$(date +%s)
check "pgpitr_recovery_window_seconds = now - first recoverability point ($win)" \
    [ "$win" -ge $((now - frp - 5)) -a "$win" -le $((now - frp + 1)) ]
dur=$(val 'pgpitr_backup_duration_seconds{cluster="'$SRV'",namespace="metrics-ns"}')
check "pgpitr_backup_duration_seconds of the completed backup ($dur)" [ -n "$dur" ] && [ "$(num "$dur")" -ge 0 ]
check "pgpitr_backup_in_progress 0" [ "$(val 'pgpitr_backup_in_progress{cluster="'$SRV'",namespace="metrics-ns"}')" = 0 ]
check "pgpitr_storage_up 1" [ "$(val 'pgpitr_storage_up{cluster="'$SRV'",namespace="metrics-ns"}')" = 1 ]
check "pgpitr_is_leader 1" [ "$(val pgpitr_is_leader)" = 1 ]
check "cnpg_collector_up{cluster} 1" [ "$(val 'cnpg_collector_up{cluster="'$SRV'"}')" = 1 ]

# ---- pg_stat_archiver and wal-push's counters ----
# at rest (nothing left to archive) the page, pg_stat_archiver and the stats file agree
at_rest() {
    pg_rig_wait_archived "$D" 30 >/dev/null || return 1
    scrape || return 1
    read -r ac fc <<<"$(pg_rig_psql "$D" "select archived_count || ' ' || failed_count from pg_stat_archiver" | tr '|' ' ')"
    [ "$(val cnpg_pg_stat_archiver_archived_count)" = "$ac" ] && [ "$(val cnpg_pg_stat_archiver_failed_count)" = "$fc" ] &&
        [ $(($(val 'pgpitr_wal_push_total{result="ok"}') + $(val 'pgpitr_wal_push_total{result="already_archived"}'))) -eq "$ac" ] &&
        [ "$(val 'pgpitr_wal_push_total{result="error"}')" -eq "$fc" ]
}
if wait_until 20 at_rest; then
    ok "archived_count $ac = pgpitr ok $(val 'pgpitr_wal_push_total{result="ok"}') + already_archived $(val 'pgpitr_wal_push_total{result="already_archived"}'); failed_count $fc = error"
else
    not_ok "counters disagree: pg_stat_archiver '$ac $fc'; $(grep -E '^(cnpg_pg_stat_archiver_(archived|failed)_count|pgpitr_wal_push_total)' "$T/page.txt" | tr '\n' ';')"
fi
total=$(($(val 'pgpitr_wal_push_total{result="ok"}') + $(val 'pgpitr_wal_push_total{result="already_archived"}') + $(val 'pgpitr_wal_push_total{result="error"}')))
check "pushes were counted ($total)" [ "$total" -ge 3 ]
check "histogram _count = pushes ($(val pgpitr_wal_push_seconds_count))" [ "$(val pgpitr_wal_push_seconds_count)" = "$total" ]
check "histogram le=+Inf bucket = _count" [ "$(val 'pgpitr_wal_push_seconds_bucket{le="+Inf"}')" = "$total" ]
check "histogram buckets are cumulative" awk '/^pgpitr_wal_push_seconds_bucket/ { if ($2 < prev) exit 1; prev = $2 }' "$T/page.txt"
lat=$(num "$(val pgpitr_last_archived_timestamp)")
check "pgpitr_last_archived_timestamp is recent ($lat)" [ "$lat" -ge "$t_start" -a "$lat" -le "$(date +%s)" ]
check "cnpg_pg_stat_archiver_last_archived_time is recent" [ "$(num "$(val cnpg_pg_stat_archiver_last_archived_time)")" -ge "$t_start" ]
check "cnpg_collector_pg_wal_archive_status{value=\"done\"} counts .done files" \
    [ "$(val 'cnpg_collector_pg_wal_archive_status{value="done"}')" = "$(ls "$PGDATA/pg_wal/archive_status" | grep -c '\.done$')" ]
check "pgpitr_archive_ready_segments 0 at rest" [ "$(val pgpitr_archive_ready_segments)" = 0 ]

# ---- a failing push: wrong credentials until PostgreSQL has failed once ----
# The agent manages archive_command (agent/archconf): the rotated Secret
# reaches the settings file archive_command reads, as it would in a cluster.
secret_is() { # SECRET: rewrite the Secret in the manifest (temp + rename)
    sed "s|^  ACCESS_SECRET_KEY: .*|  ACCESS_SECRET_KEY: $1|" "$MF/cluster.yaml" >"$T/cluster.yaml.tmp" &&
        mv "$T/cluster.yaml.tmp" "$MF/cluster.yaml"
}
agent_file=$STATE/metrics-ns_$SRV.archive.conf
managed() { pg_rig_psql "$D" "show archive_command" | grep -qF -- "--config '$agent_file' wal-push"; }
check "the agent set archive_command to its own settings file" wait_until 20 managed
err0=$(val 'pgpitr_wal_push_total{result="error"}')
fail0=$(val cnpg_pg_stat_archiver_failed_count)
secret_is "wrong-$AWS_SECRET_ACCESS_KEY"
bad_file() { grep -qF -- "wrong-$AWS_SECRET_ACCESS_KEY" "$agent_file"; }
check "the agent wrote the rotated secret to its settings file" wait_until 20 bad_file
# a write first: pg_switch_wal() on a segment with nothing new in it switches nothing
pg_rig_psql "$D" "create table fail_once as select 1 as x" >/dev/null
pg_rig_psql "$D" "select pg_switch_wal()" >/dev/null
failed_more() { [ "$(pg_rig_psql "$D" "select failed_count from pg_stat_archiver")" -gt "$fail0" ]; }
check "PostgreSQL saw archive_command fail with the wrong secret" wait_until 20 failed_more
secret_is "$AWS_SECRET_ACCESS_KEY"
if wait_until 30 at_rest; then
    ok "after the failure: error $(val 'pgpitr_wal_push_total{result="error"}') (was $err0) = failed_count $fc (was $fail0)"
else
    not_ok "after the failure the counters disagree: pg_stat_archiver '$ac $fc'; $(grep -E '^(cnpg_pg_stat_archiver_(archived|failed)_count|pgpitr_wal_push_total)' "$T/page.txt" | tr '\n' ';')"
fi
cp "$T/page.txt" "$IT_TMP/metrics-page.txt"
check "the error counter moved" [ "$(val 'pgpitr_wal_push_total{result="error"}')" -gt "$err0" ]
check "cnpg_pg_stat_archiver_last_failed_time is set" [ "$(num "$(val cnpg_pg_stat_archiver_last_failed_time)")" -ge "$t_start" ]

# ---- the server itself ----
check "/other is 404" [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/other")" = 404 ]
check "POST /metrics is 405" [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$URL/metrics")" = 405 ]
check "Content-Type is Prometheus text 0.0.4" \
    sh -c "curl -s -D - -o /dev/null '$URL/metrics' | grep -qi '^content-type: text/plain; version=0.0.4'"
check "every sample has its TYPE line" awk '
    /^# TYPE / { typed[$3] = 1; next } /^#/ { next }
    { n = $1; sub(/\{.*/, "", n); b = n; sub(/_(bucket|sum|count)$/, "", b); if (!(n in typed) && !(b in typed)) exit 1 }' "$T/page.txt"
check "no secret in the page" sh -c "! grep -qF -e '$AWS_SECRET_ACCESS_KEY' -e '$AWS_ACCESS_KEY_ID' '$T/page.txt'"
check "no secret in the agent log" sh -c "! grep -qF '$AWS_SECRET_ACCESS_KEY' '$LOG'"
kill -TERM $AGENT_PID
wait $AGENT_PID
check "the agent stops cleanly (exit $?)" [ $? -eq 0 ]
check "the port is closed after the agent stopped" sh -c "! curl -s --max-time 2 '$URL/metrics' >/dev/null"
echo "---- one /metrics page ----"
cat "$IT_TMP/metrics-page.txt"
echo "---- took $(($(date +%s) - t_start)) s"
trap - EXIT
pg_rig_stop "$D"
finish

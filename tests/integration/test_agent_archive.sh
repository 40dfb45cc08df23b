#!/usr/bin/env bash
# `pgpitr agent` configures archiving on its local PostgreSQL 15 (archconf):
#  - started with archive_mode = off: ALTER SYSTEM sets archive_mode,
#    archive_command and restore_command; archive_mode needs a restart, which
#    restart-policy never reports (ContinuousArchiving False,
#    ArchiveModeNeedsRestart) and does not do (same postmaster pid);
#  - restart-policy always restarts it; WAL reaches the S3 repository
#    (pg_switch_wal, then wal-fetch of that segment); the settings file is
#    0600, owned by postgres and holds the secret, which postgresql.auto.conf,
#    pg_settings, the server log and the agent log do not; no ALTER SYSTEM
#    while nothing differs; ContinuousArchiving True with lastArchivedWAL;
#    with the check's marker removed the check passes again on this system's
#    own WAL (system identifier in the archived segment's page header);
#  - a wrong secret in the Secret: the file is rewritten, archiving fails,
#    ContinuousArchiving False naming the failed WAL;
#  - a serverName whose wals/ holds WAL of another system (an initdb'd
#    second cluster's segment): ArchiveNotEmpty naming the object, and our
#    archive_command is taken back;
#  - a symlink planted at the settings file's path is refused: not followed,
#    not replaced, the condition says so.
# PostgreSQL port 28400.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}" "${PITR_TEST_S3_ENDPOINT:?}" "${PITR_TEST_BUCKET:?}"

T=$IT_TMP/archconf
D=$IT_TMP/pg-archconf
D2=$IT_TMP/pg-archconf-other
PREFIX=archconf-$$
MF=$T/manifests
STATE=$T/state
LOG=$T/agent.log
FILE=$STATE/app-db_pg-a.archive.conf
SECRET=$AWS_SECRET_ACCESS_KEY
KEYID=$AWS_ACCESS_KEY_ID
mkdir -p "$MF" "$T"
: >"$T/empty.conf"
export PGPITR_CONFIG=$T/empty.conf
# neither the agent nor the server may get credentials from the environment
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
t_start=$(date +%s)

# the test's own view of the repository (as root, never read by the server)
ADMIN=$T/admin.conf
printf 'repo = s3://%s/%s\nendpoint-url = %s\naws-access-key-id = %s\naws-secret-access-key = %s\ncompression = none\n' \
    "$PITR_TEST_BUCKET" "$PREFIX" "$PITR_TEST_S3_ENDPOINT" "$KEYID" "$SECRET" >"$ADMIN"
chmod 600 "$ADMIN"

manifest() { # SERVERNAME SECRET_VALUE
    {
        it_cnpg_secret s3-creds app-db "$KEYID" "$2"
        echo ---
        it_cnpg_cluster pg-a app-db s3-creds server="$1" wal=gzip
    } >"$MF/cluster.yaml"
}

pg_rig_init "$D" 28400 || exit 1
pg_rig_conf "$D" "archive_mode = off"
pg_rig_start "$D" || exit 1
export PGHOST=$D/sock PGPORT=28400 PGUSER=postgres

AGENT_PID=
start_agent() { # RESTART_POLICY
    "$PGPITR_BIN" agent --manifests "$MF" --state-dir "$STATE" --restart-policy "$1" \
        >>"$LOG" 2>&1 &
    AGENT_PID=$!
}
stop_agent() {
    [ -n "$AGENT_PID" ] || return 0
    kill -TERM "$AGENT_PID" 2>/dev/null
    wait "$AGENT_PID" 2>/dev/null
    AGENT_PID=
}
trap 'stop_agent; pg_rig_stop "$D"' EXIT
wait_until() { # SECONDS COMMAND...: poll every 0.2 s
    local n=$(($1 * 5)) i
    shift
    for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done
    return 1
}
cond() { # ContinuousArchiving as status/reason
    jq -r '.items[] | select(.kind == "Cluster") | .status.conditions[]? | select(.type == "ContinuousArchiving") | .status + "/" + .reason' \
        "$STATE/app-db_$1.json" 2>/dev/null
}
cond_msg() {
    jq -r '.items[] | select(.kind == "Cluster") | .status.conditions[]? | select(.type == "ContinuousArchiving") | .message' \
        "$STATE/app-db_$1.json" 2>/dev/null
}
cstatus() { jq -r ".items[] | select(.kind == \"Cluster\") | .status.$2 // empty" "$STATE/app-db_$1.json" 2>/dev/null; }
is_cond() { [ "$(cond "$1")" = "$2" ]; }
setting() { pg_rig_psql "$D" "select setting from pg_settings where name = '$1'"; }
# what the files (postgresql.auto.conf last) set: archive_command shows "(disabled)" while archive_mode is off
file_setting() { pg_rig_psql "$D" "select setting from pg_file_settings where name = '$1' order by seqno desc limit 1"; }
lacks() { ! grep -qF "$1" "$2"; }
pm_pid() { head -n 1 "$D/data/postmaster.pid"; }

# ---- 1. archive_mode off: set by ALTER SYSTEM, the restart reported, not done ----
manifest srv-a "$SECRET"
pid0=$(pm_pid)
start_agent never
if wait_until 30 is_cond pg-a False/ArchiveModeNeedsRestart; then
    ok "archive_mode off: ContinuousArchiving False/ArchiveModeNeedsRestart"
else
    not_ok "no ArchiveModeNeedsRestart: '$(cond pg-a)'; $(tail -n 5 "$LOG")"
fi
check "the condition says a restart is needed ($(cond_msg pg-a | cut -c1-80))" \
    grep -q 'needs a restart' <<<"$(cond_msg pg-a)"
check "pending_restart for archive_mode" \
    [ "$(pg_rig_psql "$D" "select pending_restart from pg_settings where name = 'archive_mode'")" = t ]
want_ac="'$PGPITR_BIN' --config '$FILE' wal-push %p"
want_rc="'$PGPITR_BIN' --config '$FILE' wal-fetch %f %p"
check "archive_command set by ALTER SYSTEM ($(file_setting archive_command))" [ "$(file_setting archive_command)" = "$want_ac" ]
check "restore_command set by ALTER SYSTEM + reload" [ "$(setting restore_command)" = "$want_rc" ]
n1=$(grep -c 'ALTER SYSTEM SET\|pg_reload_conf' "$LOG")
sleep 6 # one more run: still nothing restarted, nothing altered again
check "restart-policy never: the server was not restarted" [ "$(pm_pid)" = "$pid0" ]
check "archive_mode is still off" [ "$(setting archive_mode)" = off ]
check "archive_mode pending: no ALTER SYSTEM or reload again ($n1)" \
    [ "$(grep -c 'ALTER SYSTEM SET\|pg_reload_conf' "$LOG")" = "$n1" ]
stop_agent

# ---- 2. restart-policy always: restarted, archiving works ----
start_agent always
restarted() { [ "$(head -n 1 "$D/data/postmaster.pid" 2>/dev/null)" != "$pid0" ]; }
am_on() { [ "$(setting archive_mode 2>/dev/null)" = on ]; }
if wait_until 40 restarted && wait_until 30 am_on; then
    ok "restart-policy always: the agent restarted PostgreSQL, archive_mode is on"
else
    not_ok "no restart: pid $(pm_pid) (was $pid0); $(tail -n 8 "$LOG")"
fi
pg_rig_psql "$D" "create table t as select g from generate_series(1, 1000) g" >/dev/null
if pg_rig_wait_archived "$D" 40; then
    seg=$(pg_rig_psql "$D" "select last_archived_wal from pg_stat_archiver")
    rm -f "$T/fetched"
    check "WAL $seg reached the S3 repository (wal-fetch finds it)" \
        "$PGPITR_BIN" --config "$ADMIN" --server srv-a wal-fetch "$seg" "$T/fetched"
else
    not_ok "nothing archived: $(pg_rig_psql "$D" "select * from pg_stat_archiver")"
fi
check "settings file mode 0600 owned by postgres ($(stat -c '%a %U' "$FILE"))" \
    [ "$(stat -c '%a %U' "$FILE")" = "600 postgres" ]
check "the settings file holds the secret" grep -qF "aws-secret-access-key = $SECRET" "$FILE"
check "the settings file holds wal.compression gzip" grep -qx "compression = gzip" "$FILE"
check "postgresql.auto.conf lacks the secret" lacks "$SECRET" "$D/data/postgresql.auto.conf"
check "pg_settings lacks the secret" \
    [ "$(pg_rig_psql "$D" "select count(*) from pg_settings where setting like '%$SECRET%'")" = 0 ]
check "the server logs lack the secret" lacks "$SECRET" "$D/log"
check "the restart log lacks the secret" lacks "$SECRET" "$STATE/app-db_pg-a.restart.log"
check "the agent log lacks the secret" lacks "$SECRET" "$LOG"
check "the state folder is not listable by others ($(stat -c %a "$STATE"))" \
    [ $(($(stat -c %#a "$STATE") & 4)) -eq 0 ]
if wait_until 20 is_cond pg-a True/ContinuousArchivingSuccess; then
    ok "ContinuousArchiving True/ContinuousArchivingSuccess"
else
    not_ok "ContinuousArchiving is '$(cond pg-a)': $(cond_msg pg-a)"
fi
has_last() { [ -n "$(cstatus pg-a lastArchivedWAL)" ]; }
wait_until 10 has_last
check "status.lastArchivedWAL and lastArchivedWALTime ($(cstatus pg-a lastArchivedWAL))" \
    [ -n "$(cstatus pg-a lastArchivedWAL)" -a -n "$(cstatus pg-a lastArchivedWALTime)" ]
check "the archive check passed and was recorded" grep -q '^checked ' "$STATE/app-db_pg-a.archive-checked"
n_alter=$(grep -c 'ALTER SYSTEM SET\|pg_reload_conf' "$LOG")
sleep 11 # two more runs with nothing different
check "idempotent: no ALTER SYSTEM or reload while nothing differs ($n_alter)" \
    [ "$(grep -c 'ALTER SYSTEM SET\|pg_reload_conf' "$LOG")" = "$n_alter" ]
stop_agent
# the marker lost: the archive holds this very system's WAL, so the check passes
rm -f "$STATE/app-db_pg-a.archive-checked"
start_agent never
if wait_until 20 grep -q "archive check of 'srv-a/wals/' passed: the WAL archive holds this system's WAL" "$LOG"; then
    ok "marker lost: the check recognises this system's WAL (system identifier) and passes"
else
    not_ok "marker lost: $(tail -n 5 "$LOG")"
fi
check "archive_command still ours" [ "$(setting archive_command)" = "$want_ac" ]
stop_agent

# ---- 3. a wrong secret: the file is rewritten, archiving fails ----
manifest srv-a "wrong-$SECRET"
start_agent never
wait_until 15 grep -qF "aws-secret-access-key = wrong-" "$FILE"
check "the settings file follows the Secret" grep -qF "aws-secret-access-key = wrong-" "$FILE"
failed_seg=$(pg_rig_psql "$D" "select pg_walfile_name(pg_switch_wal())")
pg_rig_psql "$D" "insert into t select g from generate_series(1, 100) g" >/dev/null
pg_rig_psql "$D" "select pg_switch_wal()" >/dev/null
if wait_until 40 is_cond pg-a False/ContinuousArchivingFailing; then
    ok "a refused secret: ContinuousArchiving False/ContinuousArchivingFailing"
else
    not_ok "ContinuousArchiving is '$(cond pg-a)' after a wrong secret: $(pg_rig_psql "$D" "select * from pg_stat_archiver")"
fi
fw=$(cstatus pg-a lastFailedWAL)
check "the condition names the failed WAL ($fw)" grep -qF "archiving WAL ${fw:-none} failed" <<<"$(cond_msg pg-a)"
check "lastFailedWALTime set" [ -n "$(cstatus pg-a lastFailedWALTime)" ]
check "the failed WAL is the first one after the switch ($fw >= $failed_seg)" [ "$fw" \> "$failed_seg" -o "$fw" = "$failed_seg" ]
stop_agent

# ---- 4. a folder holding another system's WAL: ArchiveNotEmpty ----
pg_rig_init "$D2" 28401 >/dev/null || exit 1
other_seg=$(ls "$D2/data/pg_wal" | grep -E '^[0-9A-F]{24}$' | head -n 1)
"$PGPITR_BIN" --config "$ADMIN" --server srv-other wal-push "$D2/data/pg_wal/$other_seg" >/dev/null 2>&1 ||
    not_ok "cannot store the other system's WAL"
manifest srv-other "$SECRET"
start_agent never
if wait_until 30 is_cond pg-a False/ArchiveNotEmpty; then
    ok "another system's WAL: ContinuousArchiving False/ArchiveNotEmpty"
else
    not_ok "ContinuousArchiving is '$(cond pg-a)': $(tail -n 5 "$LOG")"
fi
check "the condition names the object ($(cond_msg pg-a | cut -c1-120))" grep -qF "$other_seg" <<<"$(cond_msg pg-a)"
check "archive_command is not ours any more ('$(setting archive_command)')" [ "$(setting archive_command)" != "$want_ac" ]
check "the settings file still names the old folder" grep -qx "server = srv-a" "$FILE"
stop_agent

# ---- 5. a symlink planted at the settings file's path ----
manifest srv-a "$SECRET"
echo "canary" >"$T/canary" && chmod 644 "$T/canary"
rm -f "$FILE" && ln -s "$T/canary" "$FILE"
start_agent never
if wait_until 20 grep -qF "archive.conf': it is a symbolic link" "$LOG"; then
    ok "a symlink at the settings path is refused (logged)"
else
    not_ok "no refusal logged: $(tail -n 5 "$LOG")"
fi
check "the symlink's target is untouched" [ "$(cat "$T/canary")" = canary ]
check "the symlink is left in place (not replaced)" [ -L "$FILE" ]
wait_until 10 is_cond pg-a False/ArchiveConfigFailed
check "ContinuousArchiving False/ArchiveConfigFailed ($(cond pg-a))" is_cond pg-a False/ArchiveConfigFailed
stop_agent

t_end=$(date +%s)
echo "# test_agent_archive: $((t_end - t_start)) s"
check "the suite ran in under 90 s ($((t_end - t_start)) s)" [ $((t_end - t_start)) -lt 90 ]
pg_rig_stop "$D"
finish

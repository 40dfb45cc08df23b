# tests/integration/lib.sh - assertions for the shell integration tests; source it.
# Each assertion prints "ok - NAME" or "not ok - NAME" (TAP-like) and counts.

T_PASS=0
T_FAIL=0

ok() {
    T_PASS=$((T_PASS + 1))
    echo "ok - $*"
}

not_ok() {
    T_FAIL=$((T_FAIL + 1))
    echo "not ok - $*"
}

# check NAME COMMAND...: passes when the command exits 0.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# expect_exit NAME CODE COMMAND...: passes when the command exits with CODE;
# its stderr is kept in $T_ERR for message checks.
expect_exit() {
    local name=$1 want=$2 got
    shift 2
    T_ERR=$("$@" 2>&1 >/dev/null)
    got=$?
    if [ "$got" -eq "$want" ]; then
        ok "$name (exit $got)"
    else
        not_ok "$name: exit $got, expected $want; stderr: $T_ERR"
    fi
}

# expect_err_has NAME TEXT: the last expect_exit's stderr contains TEXT.
expect_err_has() {
    case "$T_ERR" in
    *"$2"*) ok "$1" ;;
    *) not_ok "$1: stderr lacks '$2': $T_ERR" ;;
    esac
}

# ---- PostgreSQL set-ups the backup suites share (they source tests/rig/pg.sh) ----

# it_backup_source DIR PORT CONF SCALE TBS_DIR ROWS: a started PostgreSQL 15
# archiving through `pgpitr --config CONF wal-push`, with pgbench tables at
# SCALE and tablespace tbs1 in TBS_DIR holding table in_tbs (ROWS rows).
it_backup_source() {
    local d=$1 port=$2 conf=$3 scale=$4 tbs=$5 rows=$6
    pg_rig_init "$d" "$port" || return 1
    pg_rig_conf "$d" "archive_mode = on"
    pg_rig_conf "$d" "archive_command = '$PGPITR_BIN --config $conf wal-push %p'"
    pg_rig_start "$d" || return 1
    pg_rig_pgbench "$d" -i -s "$scale" -q >/dev/null 2>&1 || return 1
    mkdir -p "$tbs" && chown postgres:postgres "$tbs"
    pg_rig_psql "$d" "create tablespace tbs1 location '$tbs'" &&
        pg_rig_psql "$d" "create table in_tbs (id int primary key, v text) tablespace tbs1;
            insert into in_tbs select g, md5(g::text) from generate_series(1, $rows) g"
}

# it_recover_copy DIR PORT CONF: DIR/data holds a backup extracted by hand;
# start it on PORT with recovery.signal and restore_command = `pgpitr --config
# CONF wal-fetch`, and wait (60 s at most) until it has left recovery.
it_recover_copy() {
    local r=$1 port=$2 conf=$3
    mkdir -p "$r/data/pg_wal" "$r/sock"
    chmod 700 "$r/data"
    chown -R postgres:postgres "$r"
    echo "$port" >"$r/port"
    cat >>"$r/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$r/sock'
archive_mode = off
restore_command = '$PGPITR_BIN --config $conf wal-fetch %f %p'
CONF
    touch "$r/data/recovery.signal" && chown postgres:postgres "$r/data/recovery.signal"
    pg_rig_start "$r" || return 1
    for _ in $(seq 1 300); do
        [ "$(pg_rig_psql "$r" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && return 0
        sleep 0.2
    done
    return 1
}

# it_check_copy NAME BEFORE DIR FN: the recovered copy in DIR holds what the
# source held (FN DIR prints the tables' checksums; BEFORE is the source's),
# got there through wal-fetch, and has tbs1 in DIR/tbs.
it_check_copy() {
    local name=$1 before=$2 r=$3 fn=$4 after
    after=$("$fn" "$r")
    if [ -n "$before" ] && [ "$before" = "$after" ]; then
        ok "$name: pgbench tables and the tablespace table match the source after recovery"
    else
        not_ok "$name: checksums differ: source '$before', copy '$after'; $(tail -n 5 "$r/log")"
    fi
    check "$name: recovery replayed archived WAL through wal-fetch" grep -q 'restored log file' "$r/log"
    check "$name: in_tbs lives in the restored tablespace" \
        test "$(pg_rig_psql "$r" "select pg_tablespace_location(oid) from pg_tablespace where spcname = 'tbs1'")" = "$r/tbs"
}

# wait_for_file FILE: wait up to 10 s for FILE to be non-empty (a helper's
# port file); fails if it never is.
wait_for_file() {
    local i
    for i in $(seq 1 100); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# finish: print the plain summary line and exit non-zero on any failure.
finish() {
    echo "$(basename "$0"): $T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}

# ---- helpers of the interop matrix (test_interop_matrix.sh) ----

# it_table_md5s DIR TABLE...: prints "TABLE=MD5" for each table, the md5 of
# its rows as text in a fixed order, so two servers compare with one string.
it_table_md5s() {
    local d=$1 t sums=""
    shift
    for t in "$@"; do
        sums="$sums $t=$(pg_rig_psql "$d" "select md5(coalesce(string_agg(r::text, '|' order by r::text), '')) from $t r")" ||
            return 1
    done
    echo "${sums# }"
}

# it_wait_recovery_end DIR SECONDS: wait until the server in DIR has left
# recovery (0); 1 when the time is up or the postmaster went away first.
it_wait_recovery_end() {
    local d=$1 i
    for ((i = 0; i < $2 * 5; i++)); do
        [ "$(pg_rig_psql "$d" "select pg_is_in_recovery()" 2>/dev/null)" = f ] && return 0
        [ -f "$d/data/postmaster.pid" ] || return 1
        sleep 0.2
    done
    return 1
}

# ---- CloudNativePG manifests of the agent suites (test_agent*, test_cluster) ----

# it_cnpg_secret NAME NAMESPACE KEY_ID SECRET_KEY: a Secret holding the S3
# keys as stringData ACCESS_KEY_ID and ACCESS_SECRET_KEY (one line each, so
# a suite can rotate the key with sed on '^  ACCESS_SECRET_KEY: ').
it_cnpg_secret() {
    cat <<Y
apiVersion: v1
kind: Secret
metadata:
  name: $1
  namespace: $2
stringData:
  ACCESS_KEY_ID: $3
  ACCESS_SECRET_KEY: $4
Y
}

# it_cnpg_store INDENT DEST SECRET [SERVER]: the body of a barmanObjectStore
# (destinationPath DEST on the Swift rig's endpoint, credentials from Secret
# SECRET, serverName SERVER when given), every line indented by INDENT spaces.
it_cnpg_store() {
    local pad
    pad=$(printf '%*s' "$1" '')
    {
        echo "destinationPath: $2"
        echo "endpointURL: $PITR_TEST_S3_ENDPOINT"
        [ -z "${4:-}" ] || echo "serverName: $4"
        cat <<Y
s3Credentials:
  accessKeyId:
    name: $3
    key: ACCESS_KEY_ID
  secretAccessKey:
    name: $3
    key: ACCESS_SECRET_KEY
Y
    } | sed "s/^/$pad/"
}

# it_cnpg_cluster NAME NAMESPACE SECRET [OPTION=VALUE...]: a Cluster whose
# spec.backup.barmanObjectStore is it_cnpg_store's. Options: instances=N
# (1), storage=[CLASS:]SIZE, target=prefer-standby|primary,
# retention=POLICY, server=SERVER_NAME, wal=CODEC, data=CODEC (each left
# out unless given), dest=URL (s3://$PITR_TEST_BUCKET/$PREFIX).
it_cnpg_cluster() {
    local name=$1 ns=$2 secret=$3 o instances=1 storage="" target="" retention="" server="" wal="" data=""
    local dest=s3://$PITR_TEST_BUCKET/${PREFIX:-}
    shift 3
    for o in "$@"; do
        case $o in
        instances=*) instances=${o#*=} ;;
        storage=*) storage=${o#*=} ;;
        target=*) target=${o#*=} ;;
        retention=*) retention=${o#*=} ;;
        server=*) server=${o#*=} ;;
        wal=*) wal=${o#*=} ;;
        data=*) data=${o#*=} ;;
        dest=*) dest=${o#*=} ;;
        *)
            echo "it_cnpg_cluster: unknown option '$o'" >&2
            return 1
            ;;
        esac
    done
    cat <<Y
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: $name
  namespace: $ns
spec:
  instances: $instances
Y
    if [ -n "$storage" ]; then
        echo "  storage:"
        case $storage in *:*) echo "    storageClass: ${storage%%:*}" ;; esac
        echo "    size: ${storage#*:}"
    fi
    echo "  backup:"
    [ -z "$target" ] || echo "    target: $target"
    [ -z "$retention" ] || echo "    retentionPolicy: \"$retention\""
    echo "    barmanObjectStore:"
    it_cnpg_store 6 "$dest" "$secret" "$server"
    [ -z "$wal" ] || printf '      wal:\n        compression: %s\n' "$wal"
    [ -z "$data" ] || printf '      data:\n        compression: %s\n' "$data"
}

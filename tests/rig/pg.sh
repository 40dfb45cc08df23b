# tests/rig/pg.sh - a throwaway PostgreSQL 15 for the tests; source it.
#
#   pg_rig_init DIR PORT   initdb into DIR/data (owned by the postgres user)
#   pg_rig_conf DIR LINE   append a line to postgresql.conf
#   pg_rig_start DIR       start it (socket in DIR/sock, log in DIR/log)
#   pg_rig_stop DIR        stop it fast; safe to call twice
#   pg_rig_psql DIR SQL    run SQL, print unaligned tuples only
#   pg_rig_wait_archived DIR [SECONDS]
#                          switch WAL and wait (default 60 s) until the archiver
#                          has shipped the segment switched from; 1 on timeout
#
# PostgreSQL refuses to run as root, so when we are root the server runs as
# the postgres user (created by Debian's postgresql package).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_rig_as() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_rig_init() {
    local dir=$1 port=$2
    mkdir -p "$dir/sock"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$dir"
    pg_rig_as "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log"; return 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir/sock'
fsync = off
CONF
    echo "$port" >"$dir/port"
}

pg_rig_conf() {
    echo "$2" >>"$1/data/postgresql.conf"
}

pg_rig_start() {
    local dir=$1
    pg_rig_as "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null ||
        { tail -n 30 "$dir/log"; return 1; }
}

pg_rig_stop() {
    local dir=$1
    [ -f "$dir/data/postmaster.pid" ] || return 0
    pg_rig_as "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

pg_rig_psql() {
    local dir=$1
    shift
    pg_rig_as "$PG_BIN/psql" -h "$dir/sock" -p "$(cat "$dir/port")" -U postgres -d postgres \
        -X -q -A -t -v ON_ERROR_STOP=1 -c "$*"
}

pg_rig_pgbench() {
    local dir=$1
    shift
    pg_rig_as "$PG_BIN/pgbench" -h "$dir/sock" -p "$(cat "$dir/port")" -U postgres "$@" postgres
}

pg_rig_wait_archived() {
    local dir=$1 secs=${2:-60} last i
    last=$(pg_rig_psql "$dir" "select pg_walfile_name(pg_switch_wal())") || return 1
    for ((i = 0; i < secs * 5; i++)); do
        [ "$(pg_rig_psql "$dir" "select coalesce(last_archived_wal, '') >= '$last' from pg_stat_archiver")" = t ] &&
            return 0
        sleep 0.2
    done
    echo "pg_rig_wait_archived: $last not archived after $secs s:" \
        "$(pg_rig_psql "$dir" "select * from pg_stat_archiver")" >&2
    return 1
}

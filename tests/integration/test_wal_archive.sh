#!/usr/bin/env bash
# End to end: a real PostgreSQL 15 archives through `pgpitr wal-push` as its
# archive_command, pgbench writes at least 20 segments, and every archived
# segment comes back byte for byte through `pgpitr wal-fetch`.
# Run for each repository kind named in IT_REPO_KINDS (file, s3, s3tls).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

# write_conf FILE KIND: a pgpitr config file for that repository kind.
write_conf() {
    local f=$1 kind=$2
    case $kind in
    file)
        printf 'repo = file://%s/repo-file\nserver = pg-it\n' "$IT_TMP" >"$f"
        mkdir -p "$IT_TMP/repo-file"
        chown postgres:postgres "$IT_TMP/repo-file"
        ;;
    s3)
        printf 'repo = s3://%s/it-plain\nserver = pg-it\nendpoint-url = %s\n' \
            "$PITR_TEST_BUCKET" "$PITR_TEST_S3_ENDPOINT" >"$f"
        ;;
    s3tls)
        printf 'repo = s3://%s/it-tls\nserver = pg-it\nendpoint-url = %s\nca-file = %s\n' \
            "$PITR_TEST_BUCKET" "$PITR_TEST_S3_TLS_ENDPOINT" "$PITR_TEST_CA_FILE" >"$f"
        ;;
    esac
    if [ "$kind" != file ]; then
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\ns3-url-style = path\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$f"
    fi
    chown postgres:postgres "$f"
    chmod 600 "$f"
}

run_kind() {
    local kind=$1 port=$2 d=$IT_TMP/pg-$1 conf=$IT_TMP/pgpitr-$1.conf
    local first last n archived failed names fetched=0 bad=0 name

    echo "# repository kind: $kind"
    write_conf "$conf" "$kind"
    pg_rig_init "$d" "$port" || { not_ok "$kind: initdb"; return; }
    pg_rig_conf "$d" "archive_mode = on"
    pg_rig_conf "$d" "archive_command = '$PGPITR_BIN --config $conf wal-push %p'"
    pg_rig_conf "$d" "wal_keep_size = '4GB'"
    pg_rig_conf "$d" "max_wal_size = '4GB'"
    pg_rig_conf "$d" "checkpoint_timeout = '1h'"
    pg_rig_start "$d" || { not_ok "$kind: server start"; return; }

    first=$(pg_rig_psql "$d" "select pg_walfile_name(pg_current_wal_lsn())")
    pg_rig_pgbench "$d" -i -s 30 -q >/dev/null 2>&1 || not_ok "$kind: pgbench -i"
    pg_rig_pgbench "$d" -c 2 -t 2000 -n >/dev/null 2>&1 || not_ok "$kind: pgbench run"
    last=$(pg_rig_psql "$d" "select pg_walfile_name(pg_switch_wal())")
    n=$(( 16#${last:16:8} - 16#${first:16:8} + 1 ))
    if [ "$n" -ge 20 ]; then ok "$kind: pgbench wrote $n segments"; else not_ok "$kind: only $n segments"; fi

    # Wait for the archiver to reach the last segment.
    for _ in $(seq 1 300); do
        archived=$(pg_rig_psql "$d" "select coalesce(last_archived_wal, '') from pg_stat_archiver")
        [ "$archived" \> "$last" ] || [ "$archived" = "$last" ] && break
        sleep 0.2
    done
    failed=$(pg_rig_psql "$d" "select failed_count from pg_stat_archiver")
    if [ "$archived" = "$last" ] || [ "$archived" \> "$last" ]; then
        ok "$kind: archiver reached $last"
    else
        not_ok "$kind: archiver stuck at '$archived', want $last; log: $(tail -n 5 "$d/log")"
    fi
    if [ "$failed" = 0 ]; then ok "$kind: no failed archive attempts"; else not_ok "$kind: $failed failed archive attempts"; fi

    # Every archived segment comes back identical.
    mkdir -p "$IT_TMP/fetched-$kind"
    names=$(cd "$d/data/pg_wal/archive_status" && ls ./*.done | sed 's|^\./||; s|\.done$||')
    for name in $names; do
        "$PGPITR_BIN" --config "$conf" wal-fetch "$name" "$IT_TMP/fetched-$kind/$name" 2>>"$IT_TMP/fetch-$kind.err" &&
            cmp -s "$IT_TMP/fetched-$kind/$name" "$d/data/pg_wal/$name" && fetched=$((fetched + 1)) || bad=$((bad + 1))
    done
    if [ "$bad" -eq 0 ] && [ "$fetched" -ge 20 ]; then
        ok "$kind: wal-fetch returned all $fetched archived segments byte for byte"
    else
        not_ok "$kind: wal-fetch: $fetched identical, $bad wrong or missing; $(tail -n 3 "$IT_TMP/fetch-$kind.err")"
    fi

    # The stored layout is barman-cloud's: gzip under wals/<first 16 hex chars>/.
    if [ "$kind" = file ]; then
        local obj="$IT_TMP/repo-file/pg-it/wals/${first:0:16}/$first.gz"
        if [ -f "$obj" ] && zcat "$obj" | cmp -s - "$d/data/pg_wal/$first"; then
            ok "file: $first stored as gzip at the barman-cloud key"
        else
            not_ok "file: $obj missing or not gzip of the segment"
        fi
    fi
    pg_rig_stop "$d"
}

port=25432
for kind in ${IT_REPO_KINDS:-file}; do
    run_kind "$kind" "$port"
    port=$((port + 1))
done
finish

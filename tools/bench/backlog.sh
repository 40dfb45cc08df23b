#!/usr/bin/env bash
# tools/bench/backlog.sh - how fast each tool drains an archiving backlog.
#
# A throwaway PostgreSQL 15 (pgbench scale 10) archives with a command that
# always fails (bin/blocked.sh: archiving is blocked) while pgbench writes WAL, until
# SEGMENTS dense segments (every byte written by pgbench) wait as .ready in
# pg_wal/archive_status. The .ready segments before and after those (partly
# written outside that stretch) are marked .done, so exactly SEGMENTS wait. PostgreSQL is then stopped and its
# data directory copied once (the snapshot).
#
# Same data for every tool: each run starts from a fresh copy of that
# snapshot (cp -a: same cluster, same system identifier, the same SEGMENTS
# segments byte for byte, all .ready). The run starts PostgreSQL (archiving
# still blocked), waits until the archiver has failed its three tries and
# sleeps on its latch, switches archive_command to the tool with ALTER
# SYSTEM, and times from pg_reload_conf() until pg_stat_archiver shows all
# SEGMENTS archived (archived_count and last_archived_wal, polled every
# ~50 ms). Tools (each to its own new prefix on the same Swift s3api
# endpoint over HTTPS, stunnel, test CA):
#   pgpitr        wal-push with its defaults (gzip, look-ahead, jobs = CPUs)
#   pgbackrest    2.45 archive-push, archive-async=y, process-max=2, a
#                 spool-path, compress-type gz (its default): its documented
#                 fast setting for a backlog
#   barman        barman-cloud-wal-archive --gzip under a wrapper that does
#                 what CNPG's instance manager does with wal.maxParallel=2
#                 (docs: /work/shared/reference/cnpg-semantics.md 5.1):
#                 a spool file for the WAL means "already archived" (remove
#                 it, exit 0); otherwise archive the requested WAL plus up to
#                 maxParallel-1 other .ready WALs (lexical order)
#                 concurrently, one barman-cloud-wal-archive process each,
#                 touch a spool file for each extra one that succeeded, and
#                 return the requested WAL's status only.
# Afterwards: pgpitr's repository is read back (wal-fetch + cmp against the
# snapshot's segments); the peers' prefixes must hold SEGMENTS WAL objects.
#
# The machine's limit beside it (both untimed by the lock holder's tools):
#   codec   `igzip -2` (pgpitr's default gzip level 0 maps to ISA-L level 2,
#           src/codec/piece.c) on the same segments, 2 processes at once
#   ingest  curl --aws-sigv4 PUTs (UNSIGNED-PAYLOAD: no client hashing) of
#           those compressed outputs, 2 and 4 at once, to the same endpoint
#   and the two sharing the cores: 1 / (1/codec + 1/ingest).
#
# Environment:
#   SEGMENTS             backlog size (default 100)
#   PITR_BENCH_TOOLS     which tools (default "pgpitr pgbackrest barman")
#   PITR_BENCH_PGPITR_OPTS  wal-push options for pgpitr runs, ';' between
#                        runs (tuning; e.g. ";--look-ahead 16": the defaults,
#                        then look-ahead 16). Unset: one run, the defaults.
#                        A variant "@BINARY opts" runs another pgpitr build.
#   PITR_BENCH_BARMAN_SEGMENTS  barman-cloud is timed until the first this
#                        many of the backlog are archived (default 20: at
#                        ~0.2-0.4 seg/s all 100 would not fit the 12 min a
#                        locked run may take; it has no batching, so its rate
#                        does not change along the backlog)
#   PITR_BENCH_RUN_TIMEOUT  seconds a tool may take (default 900)
#   PITR_BENCH_DIR       work folder, wiped at start (default build/bench-backlog)
#   PITR_BENCH_PG_PORT   port of the PostgreSQL (default 26510)
#   PITR_SWIFT_PORT, PITR_SWIFT_TLS_PORT, PITR_SWIFT_BACKEND_PORT (51280, 51643, 51210)
set -euo pipefail

NSEG=${SEGMENTS:-100}
TOOLS=${PITR_BENCH_TOOLS:-"pgpitr pgbackrest barman"}
PGPITR_OPTS=${PITR_BENCH_PGPITR_OPTS:-}
RUN_TIMEOUT=${PITR_BENCH_RUN_TIMEOUT:-900}
PG_PORT=${PITR_BENCH_PG_PORT:-26510}
PITR_SWIFT_PORT=${PITR_SWIFT_PORT:-51280}
PITR_SWIFT_TLS_PORT=${PITR_SWIFT_TLS_PORT:-51643}
PITR_SWIFT_BACKEND_PORT=${PITR_SWIFT_BACKEND_PORT:-51210}
SEG_SIZE=16777216
MAXP=2 # CNPG wal.maxParallel
BARMAN_N=${PITR_BENCH_BARMAN_SEGMENTS:-20}
[ "$BARMAN_N" -le "$NSEG" ] || BARMAN_N=$NSEG

case "$NSEG" in '' | *[!0-9]* | 0) echo "backlog bench: SEGMENTS must be a positive integer" >&2; exit 3 ;; esac

# shellcheck source=tools/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init backlog "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/bench-backlog"

# ---------------------------------------------------------------- 1-2. packages, build, S3 rig
bench_build
bench_rig_start
for t in pgbackrest barman-cloud-wal-archive igzip curl; do
    command -v "$t" >/dev/null || die "$t is not installed (tools/install-deps.sh --bench)"
done
AWS_CREDS=$WORK/bin/aws-credentials
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$AWS_CREDS"
chown postgres:postgres "$AWS_CREDS"
chmod 600 "$AWS_CREDS"

# ---------------------------------------------------------------- 3. the backlog, once
PG=$WORK/pg
SNAP=$WORK/snap
say "PostgreSQL 15 on port $PG_PORT, pgbench -i -s 10 (archived by 'true': not part of the backlog)"
bench_pg_start 10 "archive_mode = on" "archive_command = 'true'" "max_wal_size = 8GB" \
    "checkpoint_timeout = 1h" "wal_keep_size = 0"
pg_rig_wait_archived "$PG" 120 || die "the set-up archiver does not follow"
# The blocked archive_command: counts its calls (fresh_cluster waits for the
# archiver's three failed tries) and fails.
mkdir -p "$WORK/blocked"
chown postgres:postgres "$WORK/blocked"
# shellcheck disable=SC2016  # $1 is the script's own
printf '#!/bin/sh\necho "$1" >>%s/blocked/calls\nexit 1\n' "$WORK" >"$WORK/bin/blocked.sh"
chmod 755 "$WORK/bin/blocked.sh"
pg_rig_psql "$PG" "alter system set archive_command = '$WORK/bin/blocked.sh %p'" >/dev/null
pg_rig_psql "$PG" "select pg_reload_conf()" >/dev/null
sleep 1
start_lsn=$(pg_rig_psql "$PG" "select pg_current_wal_lsn()")
# The first segment starting after start_lsn: every byte of it and the
# following ones is pgbench's.
first_lsn=$(pg_rig_psql "$PG" \
    "select '$start_lsn'::pg_lsn + ($SEG_SIZE - ('$start_lsn'::pg_lsn - '0/0'::pg_lsn) % $SEG_SIZE)")
# (pg_walfile_name of a segment's first byte names the previous segment: +1)
first=$(pg_rig_psql "$PG" "select pg_walfile_name('$first_lsn'::pg_lsn + 1)")
say "pgbench until $NSEG segments from $first are .ready (archiving blocked)"
bench_write_wal "$first_lsn" $(((NSEG + 1) * SEG_SIZE)) 400
pg_rig_psql "$PG" "select pg_switch_wal()" >/dev/null
sleep 1
mapfile -t SEGS < <(pg_rig_psql "$PG" \
    "select pg_walfile_name('$first_lsn'::pg_lsn + 1 + $SEG_SIZE::numeric * i) from generate_series(0, $((NSEG - 1))) i")
LAST=${SEGS[$((NSEG - 1))]}
[ "${SEGS[0]}" = "$first" ] || die "segment arithmetic: ${SEGS[0]} is not $first"
pg_rig_stop "$PG"
st=$PG/data/pg_wal/archive_status
for s in "${SEGS[@]}"; do
    [ -f "$st/$s.ready" ] || die "$s is not .ready"
    [ "$(stat -c %s "$PG/data/pg_wal/$s")" -eq $SEG_SIZE ] || die "$s is not $SEG_SIZE bytes"
done
extra=0
for f in "$st"/*.ready; do
    s=$(basename "$f" .ready)
    if [[ "$s" > "$LAST" || "$s" < "$first" ]]; then
        mv "$f" "$st/$s.done"
        extra=$((extra + 1))
    fi
done
n_ready=$(find "$st" -name '*.ready' | wc -l)
[ "$n_ready" -eq "$NSEG" ] || die "$n_ready .ready files, expected $NSEG"
say "backlog: $first .. $LAST ($NSEG segments; $extra other(s), partly written before or after, marked .done)"
cp -a "$PG/data" "$SNAP"
gz_mib=$(cat "${SEGS[@]/#/$SNAP/pg_wal/}" | igzip -2 -c | wc -c | awk '{ printf "%.0f", $1 / 1048576 }')

# ---------------------------------------------------------------- 4. the timed runs
MISSING=()
ORDER=()
declare -A TITLE SECS PREFIX PCONF NTIMED

# The archiver's state: "archived_count last_archived_wal".
archiver_state() { pg_rig_psql "$PG" "select archived_count || ' ' || coalesce(last_archived_wal, '-') from pg_stat_archiver"; }

# fresh_cluster: the snapshot in $PG/data, started, archiving still blocked,
# the archiver asleep after its three failed tries.
fresh_cluster() {
    local i
    rm -rf "$PG/data"
    cp -a "$SNAP" "$PG/data"
    rm -f "$WORK/blocked/calls"
    pg_rig_start "$PG" || die "PostgreSQL did not start (log: $PG/log)"
    for ((i = 0; i < 100; i++)); do
        [ -f "$WORK/blocked/calls" ] && [ "$(wc -l <"$WORK/blocked/calls")" -ge 3 ] && break
        sleep 0.1
    done
    [ $i -lt 100 ] || die "the blocked archiver did not try three times in 10 s"
    # Its third failure is followed by its one-second pause, then the latch wait.
    sleep 1.5
}

# timed_run LABEL TITLE COMMAND [COUNT]: switch archive_command to COMMAND,
# reload, and time until the first COUNT (default all) segments are
# archived. Sets SECS[LABEL] and NTIMED[LABEL] (COUNT).
timed_run() {
    local label=$1 title=$2 cmd=$3 want=${4:-$NSEG} t0 t1 count last base now
    read -r base _ < <(archiver_state)
    pg_rig_psql "$PG" "alter system set archive_command = '$cmd'" >/dev/null
    say "timing $title"
    t0=$(date +%s%N)
    pg_rig_psql "$PG" "select pg_reload_conf()" >/dev/null
    while :; do
        read -r count last < <(archiver_state)
        now=$(date +%s%N)
        if [ $((count - base)) -ge "$want" ] && [[ ! "$last" < "${SEGS[$((want - 1))]}" ]]; then
            t1=$now
            break
        fi
        if [ $(((now - t0) / 1000000000)) -ge "$RUN_TIMEOUT" ]; then
            MISSING+=("$title: only $((count - base)) of $want archived after $RUN_TIMEOUT s (last: $last)")
            pg_rig_stop "$PG"
            return 1
        fi
        sleep 0.05
    done
    pg_rig_stop "$PG"
    SECS[$label]=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 1e9 }')
    NTIMED[$label]=$want
    TITLE[$label]=$title
    ORDER+=("$label")
    say "$title: ${SECS[$label]} s"
}

busy_pct() { bench_busy_pct; }
BUSY_BEFORE=$(busy_pct)

for tool in $TOOLS; do
    case $tool in
    pgpitr)
        # One run per variant: "" (the defaults) first, then any tuning ones.
        v=0
        IFS=';' read -r -a VARIANTS <<<"${PGPITR_OPTS:-}"
        [ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=("")
        for opts in "${VARIANTS[@]}"; do
            label=pgpitr
            [ $v -gt 0 ] && label=pgpitr$v
            v=$((v + 1))
            PREFIX[$label]=bench-backlog-$label-$RUN_ID
            conf=$(bench_pgpitr_conf "${PREFIX[$label]}")
            mv "$conf" "$WORK/bin/conf-$label"
            PCONF[$label]=$WORK/bin/conf-$label
            bin=$PGPITR
            if [[ "$opts" == @* ]]; then # "@BINARY opts": another build (comparisons)
                read -r bin opts <<<"${opts#@}"
                cp "$bin" "$WORK/bin/pgpitr-$label"
                bin=$WORK/bin/pgpitr-$label
                chmod 755 "$bin"
            fi
            fresh_cluster
            title="pgpitr wal-push (defaults)"
            [ -n "$opts" ] && title="pgpitr wal-push $opts"
            [ "$bin" = "$PGPITR" ] || title="$title [$(basename "$bin")]"
            timed_run "$label" "$title" "$bin --config ${PCONF[$label]} wal-push $opts %p" || true
        done
        ;;
    pgbackrest)
        PREFIX[pgbackrest]=bench-backlog-pgbackrest-$RUN_ID/archive/bench
        fresh_cluster
        conf=$(bench_pgbr_conf "$WORK/pgbackrest" "/bench-backlog-pgbackrest-$RUN_ID" \
            archive-async=y process-max=2 compress-type=gz)
        chown -R postgres:postgres "$WORK/pgbackrest"
        chmod 755 "$WORK/pgbackrest"
        if runuser -u postgres -- pgbackrest --config="$conf" --stanza=bench stanza-create \
            >"$WORK/log/pgbackrest-stanza-create.log" 2>&1; then
            timed_run pgbackrest "pgbackrest archive-push (archive-async=y, process-max=2, gz)" \
                "pgbackrest --config=$conf --stanza=bench archive-push %p" || true
        else
            MISSING+=("pgbackrest: stanza-create failed: $(tail -n 2 "$WORK/log/pgbackrest-stanza-create.log" | tr '\n' ' ')")
            pg_rig_stop "$PG"
        fi
        ;;
    barman)
        PREFIX[barman]=bench-backlog-barman-$RUN_ID
        spool=$WORK/barman-spool
        mkdir -p "$spool"
        chown postgres:postgres "$spool"
        wrap=$WORK/bin/cnpg-wal-archive.sh
        cat >"$wrap" <<SH
#!/bin/bash
# CNPG instance manager's wal-archive with wal.maxParallel=$MAXP (emulated).
set -u
wal=\$1
name=\${wal##*/}
dir=\${wal%/*}
if [ -e "$spool/\$name" ]; then
    rm -f "$spool/\$name"
    exit 0
fi
export AWS_SHARED_CREDENTIALS_FILE=$AWS_CREDS AWS_CA_BUNDLE=$CA AWS_DEFAULT_REGION=$AWS_REGION
push() { barman-cloud-wal-archive --cloud-provider aws-s3 --gzip --endpoint-url $TLS s3://$BUCKET/${PREFIX[barman]} bench "\$1"; }
extra=()
for r in \$(cd "\$dir/archive_status" && ls -1 | grep '\\.ready\$' | LC_ALL=C sort); do
    n=\${r%.ready}
    [ "\$n" = "\$name" ] && continue
    [ \${#extra[@]} -ge $((MAXP - 1)) ] && break
    extra+=("\$n")
done
pids=()
for n in "\${extra[@]}"; do
    ( push "\$dir/\$n" && : >"$spool/\$n" ) &
    pids+=(\$!)
done
push "\$wal"
rc=\$?
for p in "\${pids[@]}"; do wait "\$p" || true; done
exit \$rc
SH
        chmod 755 "$wrap"
        fresh_cluster
        timed_run barman "barman-cloud-wal-archive --gzip, CNPG maxParallel $MAXP" "$wrap %p" "$BARMAN_N" || true
        ;;
    *) die "unknown tool '$tool' in PITR_BENCH_TOOLS" ;;
    esac
done
BUSY_AFTER=$(busy_pct)

# ---------------------------------------------------------------- 5. the machine's limit
say "limit: igzip -2, 2 processes, on the $NSEG segments"
mkdir -p "$WORK/gz"
t0=$(date +%s%N)
export SNAP WORK
# shellcheck disable=SC2016  # expanded by the inner sh
printf '%s\n' "${SEGS[@]}" | xargs -P 2 -n 1 sh -c 'igzip -2 -c "$SNAP/pg_wal/$1" >"$WORK/gz/$1.gz"' _
t1=$(date +%s%N)
CODEC_SPS=$(awk -v n="$NSEG" -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", n / (d / 1e9) }')
# The credentials from a netrc file (the key id holds a colon; not in argv).
CURLCFG=$WORK/bin/netrc
printf 'machine %s login %s password %s\n' "$TLS_HOST" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$CURLCFG"
chmod 600 "$CURLCFG"
declare -A INGEST
for p in 2 4; do
    say "limit: $p parallel PUTs of the $NSEG compressed segments"
    export CURLCFG CA TLS BUCKET AWS_REGION
    export ING_PREFIX=bench-backlog-ingest$p-$RUN_ID
    t0=$(date +%s%N)
    # shellcheck disable=SC2016  # expanded by the inner sh
    if printf '%s\n' "${SEGS[@]}" | xargs -P $p -n 1 sh -c 'curl -sS -f --netrc-file "$CURLCFG" --cacert "$CA" \
        --aws-sigv4 "aws:amz:$AWS_REGION:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        -T "$WORK/gz/$1.gz" "$TLS/$BUCKET/$ING_PREFIX/$1.gz" -o /dev/null' _ 2>>"$WORK/log/ingest.log"; then
        t1=$(date +%s%N)
        INGEST[$p]=$(awk -v n="$NSEG" -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", n / (d / 1e9) }')
    else
        INGEST[$p]="(failed)"
        MISSING+=("store ingest with $p PUTs at once: a PUT failed: $(tail -n 2 "$WORK/log/ingest.log" | tr '\n' ' ')")
    fi
done
ING_BEST=$(printf '%s\n' "${INGEST[@]}" | grep -E '^[0-9.]+$' | sort -g | tail -n 1 || true)
BOTH="n/a"
[ -n "$ING_BEST" ] && BOTH=$(awk -v a="$CODEC_SPS" -v b="$ING_BEST" 'BEGIN { printf "%.1f", 1 / (1 / a + 1 / b) }')

# ---------------------------------------------------------------- 6. correctness
bad=0
for label in "${ORDER[@]}"; do
    case $label in pgpitr*) ;; *) continue ;; esac
    say "checking $label's repository: wal-fetch every segment and cmp"
    mkdir -p "$WORK/fetch"
    for s in "${SEGS[@]}"; do
        if ! "$PGPITR" --config "${PCONF[$label]}" wal-fetch "$s" "$WORK/fetch/$s" >>"$WORK/log/fetch.log" 2>&1; then
            echo "  $label: wal-fetch $s failed: $(tail -n 2 "$WORK/log/fetch.log" | tr '\n' ' ')" >&2
            bad=$((bad + 1))
        elif ! cmp -s "$SNAP/pg_wal/$s" "$WORK/fetch/$s"; then
            echo "  $label: $s fetched back differs from the original" >&2
            bad=$((bad + 1))
        fi
        rm -f "$WORK/fetch/$s"
    done
done
[ $bad -eq 0 ] || die "$bad segment(s) did not come back identical from pgpitr's repository"
# Only the backlog's names: stopping PostgreSQL after a run switches to a new
# segment (archive_mode's last switch at shutdown), which the tool archives too.
NAMES_RE="($(IFS='|'; echo "${SEGS[*]}"))"
declare -A STORED
for label in "${ORDER[@]}"; do
    read -r nobj _ < <(bench_s3_stats "${PREFIX[$label]}/" "$NAMES_RE" 2>>"$WORK/log/store-stats.log" || echo "? ?")
    STORED[$label]=$nobj
    # barman-cloud may have pushed more than it was timed for before the stop.
    if ! [ "$nobj" -ge "${NTIMED[$label]}" ] 2>/dev/null || [ "$nobj" -gt "$NSEG" ]; then
        die "${TITLE[$label]}: $nobj WAL objects stored, expected ${NTIMED[$label]}"
    fi
done

# ---------------------------------------------------------------- 7. table
HOST_CPU=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
RESULTS=$WORK/results.md
base=${SECS[pgpitr]:-}
{
    echo "Machine: $(nproc) CPUs, ${HOST_CPU:-unknown CPU}; $(date -u +%Y-%m-%dT%H:%MZ);" \
        "CPU busy with other work just before the timed runs: $BUSY_BEFORE%, just after: $BUSY_AFTER%"
    echo "Versions: $("$PGPITR" version 2>&1 | head -n 1); $(pgbackrest version);" \
        "$(barman-cloud-wal-archive --version 2>&1 | head -n 1)"
    echo "Backlog: $NSEG dense pgbench segments of 16 MiB ($gz_mib MiB as igzip -2), all .ready;" \
        "time from pg_reload_conf() to pg_stat_archiver showing all archived; Swift s3api over HTTPS"
    echo
    echo "| tool / setting | segments timed | seconds | seg/s | vs pgpitr | WAL objects stored |"
    echo "|---|---:|---:|---:|---:|---:|"
    for label in "${ORDER[@]}"; do
        awk -v t="${TITLE[$label]}" -v s="${SECS[$label]}" -v n="${NTIMED[$label]}" -v b="$base" -v bn="$NSEG" \
            -v o="${STORED[$label]}" 'BEGIN { r = (b != "" ? sprintf("%.3fx", (n / s) / (bn / b)) : "-")
                printf "| %s | %d | %.2f | %.2f | %s | %s |\n", t, n, s, n / s, r, o }'
    done
    echo
    echo "Machine limit on the same $NSEG segments: codec alone (igzip -2, 2 processes) $CODEC_SPS seg/s;" \
        "store ingest alone (curl PUTs of the compressed segments, unsigned payload) ${INGEST[2]} seg/s with 2" \
        "and ${INGEST[4]} seg/s with 4 at once; both sharing the 2 cores: $BOTH seg/s."
    bench_not_measured
} >"$RESULTS"
bench_show "$RESULTS"
[ ${#MISSING[@]} -eq 0 ] || exit 1

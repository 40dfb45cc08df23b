#!/usr/bin/env bash
# test_restore_hostile.sh - `pgpitr restore` (run as root) of hostile backups
# on file:// and on Swift's s3 API. tests/integration/hostile_volumes.py
# crafts each backup folder: a real barman-cloud backup.info (fixture, edited)
# and gzip tar volumes with an absolute or ../ symlink and a member written
# through it, ../ and absolute member names, hardlinks to outside files,
# setuid/setgid members, a postgresql.auto.conf symlink (outside and inside),
# relative, unnormalised and non-empty tablespace locations; and
# pgpitr.manifest.json with a ../ path, a wrong volume size, a wrong volume
# SHA-256. Each must fail with a clear message (setuid: restored without the
# bits), write nothing outside the target (canaries), leave no setuid file
# and no recovery.signal. No PostgreSQL server is needed: restore never
# starts one.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

W=$IT_TMP/hostile
ID=20261123T211943
# fresh_outside: the canaries as they were, so each case is judged on its own.
fresh_outside() {
    rm -rf "$W/outside" "$W/cwd" "$W/made-tbs"
    find "$W" -name evil -exec rm -rf {} + 2>/dev/null
    mkdir -p "$W/outside" "$W/cwd" "$W/empty-tbs"
    echo "canary" >"$W/outside/canary"
    printf "# someone else's file\nwork_mem = '4MB'\n" >"$W/outside/auto.conf"
    cp "$W/outside/auto.conf" "$W/auto.conf.orig"
}
fresh_outside
cases=$(python3 "$here/hostile_volumes.py" "$here/../../fixtures/barman-samples/backup.info.DONE-tbs" \
    "$W/cases" "$W") || { not_ok "hostile_volumes.py failed"; finish; exit 1; }

write_conf() { # FILE KIND SERVER
    case $2 in
    file) printf 'repo = file://%s/repo\nserver = %s\n' "$W" "$3" >"$1" ;;
    s3)
        printf 'repo = s3://%s/hostile-%s\nserver = %s\nendpoint-url = %s\n' \
            "$PITR_TEST_BUCKET" "$$" "$3" "$PITR_TEST_S3_ENDPOINT" >"$1"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\ns3-url-style = path\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$1"
        ;;
    esac
    chmod 600 "$1"
}

# upload KIND CASE CONF: the case's objects into <server>/base/<id>/.
upload() {
    local f
    for f in "$W/cases/$2"/*; do
        if [ "$1" = file ]; then
            mkdir -p "$W/repo/h-$2/base/$ID" && cp "$f" "$W/repo/h-$2/base/$ID/" || return 1
        else
            "$PGPITR_BIN" --config "$3" object-put "h-$2/base/$ID/$(basename "$f")" "$f" \
                >/dev/null 2>&1 || return 1
        fi
    done
}

# Nothing may change outside the targets: the canaries, the outside auto.conf,
# no file named evil, no setuid/setgid file, nothing created in the cwd.
check_outside() {
    local k=$1
    check "$k: the outside canary is untouched" test "$(cat "$W/outside/canary")" = canary
    check "$k: the canary has one link" test "$(stat -c %h "$W/outside/canary")" = 1
    check "$k: the outside auto.conf is untouched" cmp -s "$W/outside/auto.conf" "$W/auto.conf.orig"
    check "$k: nothing new in the outside folder" \
        test "$(cd "$W/outside" && ls -A | tr '\n' ' ')" = "auto.conf canary "
    check "$k: no file named evil anywhere" test -z "$(find "$W" -name evil -print)"
    check "$k: no setuid/setgid file anywhere" test -z "$(find "$W" -perm /6000 -print)"
    check "$k: nothing created in the working folder" test -z "$(ls -A "$W/cwd")"
}

# refused KIND CASE MESSAGE: restore fails, names the cause, leaves no recovery.signal.
refused() {
    local kind=$1 c=$2 msg=$3 t=$W/t-$2-$1 conf=$W/$1-$2.conf out rc
    fresh_outside
    write_conf "$conf" "$kind" "h-$c"
    upload "$kind" "$c" "$conf" || { not_ok "$kind/$c: upload failed"; return; }
    out=$(cd "$W/cwd" && "$PGPITR_BIN" --config "$conf" restore "$ID" "$t/data" 2>&1)
    rc=$?
    if [ $rc -ne 0 ]; then ok "$kind/$c: restore fails (exit $rc)"; else not_ok "$kind/$c: restore exit 0: $out"; fi
    case $out in
    *"$msg"*) ok "$kind/$c: message says why: $(tr '\n' ' ' <<<"$out" | tail -c 300)" ;;
    *) not_ok "$kind/$c: message lacks '$msg': $out" ;;
    esac
    check "$kind/$c: no recovery.signal" test ! -e "$t/data/recovery.signal"
    check_outside "$kind/$c"
}

for kind in file s3; do
    if [ $kind = s3 ] && [ -z "${PITR_TEST_BUCKET:-}" ]; then
        not_ok "s3: the Swift rig is not running (PITR_TEST_BUCKET unset)"
        continue
    fi
    echo "# repository kind: $kind"
    refused $kind abs-symlink "symlink member 'escape' points to '$W/outside'"
    refused $kind dotdot-symlink "symlink member 'escape' points to '../../outside'"
    refused $kind dotdot-member "'..' component"
    refused $kind abs-member "absolute path"
    refused $kind hardlink-outside "hardlink member 'evil'"
    refused $kind hardlink-dotdot "hardlink member 'evil'"
    refused $kind hardlink-via-symlink "symlink member 'esc'"
    refused $kind autoconf-symlink "symlink member 'postgresql.auto.conf' points to"
    refused $kind autoconf-inside-symlink "postgresql.auto.conf' is a symlink"
    check "$kind/autoconf-inside-symlink: the backup's postgresql.conf is unchanged" \
        test "$(cat "$W/t-autoconf-inside-symlink-$kind/data/postgresql.conf")" = "# the backup's postgresql.conf"
    refused $kind rel-tablespace "location 'rel/tbs' in backup.info, which is not an absolute"
    refused $kind unnormalised-tablespace "which is not an absolute, normalised path"
    check "$kind/unnormalised-tablespace: the location was not created" test ! -e "$W/made-tbs"
    refused $kind nonempty-tablespace "is not empty"
    refused $kind manifest-dotdot "path is absolute, has a '..'"
    refused $kind volume-wrong-size "data.tar.gz' does not match the manifest"
    check "$kind/volume-wrong-size: refused before extracting" \
        test ! -e "$W/t-volume-wrong-size-$kind/data/PG_VERSION"
    refused $kind volume-wrong-sha256 "data.tar.gz' does not match the manifest: SHA-256"

    # setuid/setgid members: restored, without the bits.
    c=setuid t=$W/t-setuid-$kind conf=$W/$kind-setuid.conf
    fresh_outside
    write_conf "$conf" "$kind" "h-$c"
    upload "$kind" "$c" "$conf" || not_ok "$kind/$c: upload failed"
    expect_exit "$kind/setuid: restore succeeds" 0 \
        "$PGPITR_BIN" --config "$conf" restore "$ID" "$t/data"
    check "$kind/setuid: the member is there, mode 0755" test "$(stat -c %a "$t/data/global/suid")" = 755
    check "$kind/setuid: the setgid member is mode 0755" test "$(stat -c %a "$t/data/global/sgid")" = 755
    check "$kind/setuid: the directory lost setgid and sticky" test "$(stat -c %a "$t/data/sdir")" = 755
    check_outside "$kind/setuid"
    rm -rf "$W/t-"*
done

finish

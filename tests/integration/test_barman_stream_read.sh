#!/usr/bin/env bash
# barman-cloud-restore 3.4 reads pgpitr's base-backup volumes. It opens every
# volume with Python's tarfile in stream mode (r|gz, r|bz2, r|), which stops
# after the first gzip member or bzip2 stream, so each volume must be ONE
# member / ONE stream (issue 10). For gzip, bzip2, snappy and none, a backup
# of a small real PostgreSQL 15 (split into several volumes) is written:
#   - to a file:// repository: every volume is read with tarfile.open(mode=
#     'r|gz' / 'r|bz2' / 'r|') to its end, and checked to be exactly one gzip
#     member (zlib stops at the member's end with nothing left) or one bzip2
#     stream; a snappy volume must hold exactly one stream identifier chunk
#     (at its start) and is decoded by python3-snappy's StreamDecompressor,
#     as barman does, then read with 'r|';
#   - to Swift's s3api: barman-cloud-restore restores it without error, and
#     every file in the copy has the size and SHA-256 of pgpitr.manifest.json.
# Python processes get tests/rig/pysnappy on PYTHONPATH: Debian 12's
# python3-snappy cannot compute CRC-32C on Python 3.11 without it (as in
# test_interop_matrix.sh). WAL pushed by pgpitr (gzip, parallel pieces) is fetched with
# barman-cloud-wal-restore and must equal the segment pgpitr wal-fetch gives.
# Volumes of many gzip members (what older pgpitr wrote) still restore with
# pgpitr.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../rig/pg.sh"
: "${PGPITR_BIN:?}" "${IT_TMP:?}"

SERVER=pg-bsr
PORT=29110
D=$IT_TMP/pg-bsr

for tool in barman-cloud-restore barman-cloud-wal-restore; do
    command -v "$tool" >/dev/null || { not_ok "$tool is not installed (tools/install-deps.sh)"; finish; exit 1; }
done
[ -n "${PITR_TEST_S3_ENDPOINT:-}" ] || { not_ok "no Swift rig (PITR_TEST_S3_ENDPOINT unset): run through tests/integration/run.sh"; finish; exit 1; }

# write_conf FILE KIND CODEC
write_conf() {
    local f=$1 kind=$2 codec=$3
    case $kind in
    file)
        printf 'repo = file://%s/bsr-%s\nserver = %s\n' "$IT_TMP" "$codec" "$SERVER" >"$f"
        mkdir -p "$IT_TMP/bsr-$codec"
        chown postgres:postgres "$IT_TMP/bsr-$codec"
        ;;
    s3)
        printf 'repo = s3://%s/bsr-%s\nserver = %s\nendpoint-url = %s\n' \
            "$PITR_TEST_BUCKET" "$codec" "$SERVER" "$PITR_TEST_S3_ENDPOINT" >"$f"
        printf 'aws-access-key-id = %s\naws-secret-access-key = %s\ns3-url-style = path\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >>"$f"
        ;;
    esac
    # look-ahead 0: its spool markers are per pg_wal, not per repository, and
    # the archive_command below pushes every segment into six repositories.
    printf 'compression = %s\nlook-ahead = 0\n' "$codec" >>"$f"
    chown postgres:postgres "$f"
    chmod 600 "$f"
}

# Every volume read to its end in stream mode, and its compressed framing counted.
STREAM_READ='
import bz2, io, json, sys, tarfile, zlib
root, codec = sys.argv[1], sys.argv[2]
mode = {"gzip": "r|gz", "bzip2": "r|bz2", "snappy": "r|", "none": "r|"}[codec]
vols = json.load(open(root + "/pgpitr.manifest.json"))["volumes"]
files = 0
for v in vols:
    raw = open(root + "/" + v, "rb").read()
    if codec == "gzip":
        d = zlib.decompressobj(31)
        d.decompress(raw)
        assert d.eof and d.unused_data == b"", "%s: not exactly one gzip member (%d bytes after the first)" % (v, len(d.unused_data))
    elif codec == "bzip2":
        d = bz2.BZ2Decompressor()
        d.decompress(raw)
        assert d.eof and d.unused_data == b"", "%s: not exactly one bzip2 stream" % v
    elif codec == "snappy":
        import snappy
        ids, off = 0, 0
        while off < len(raw):
            n = int.from_bytes(raw[off + 1:off + 4], "little")
            assert off + 4 + n <= len(raw), "%s: truncated snappy chunk at %d" % (v, off)
            ids += raw[off] == 0xff
            off += 4 + n
        assert raw[:1] == b"\xff" and ids == 1, "%s: %d snappy stream identifiers, not one stream" % (v, ids)
        d = snappy.StreamDecompressor()
        raw = d.decompress(raw)
        d.flush()
    with io.BytesIO(raw) as f, tarfile.open(fileobj=f, mode=mode) as t:
        for m in t:
            if m.isfile():
                t.extractfile(m).read()
                files += 1
print(len(vols), files)
'

# The restored copy against pgpitr.manifest.json: every file there, same size and SHA-256.
MANIFEST_MATCH='
import hashlib, json, os, sys
man, root = json.load(open(sys.argv[1])), sys.argv[2]
for f in man["files"]:
    p = os.path.join(root, f["path"])
    assert os.path.getsize(p) == f["size"], (p, os.path.getsize(p), f["size"])
    assert hashlib.sha256(open(p, "rb").read()).hexdigest() == f["sha256"], p
print(len(man["files"]))
'

# barman-cloud's own interpreter (the one with python3-snappy), not whatever python3 is first in PATH.
BARMAN_PY=$(sed -n '1s/^#! *//p' "$(command -v barman-cloud-restore)")
PYSNAPPY=$IT_TMP/bsr-pysnappy
mkdir -p "$PYSNAPPY"
cp "$here/../rig/pysnappy/sitecustomize.py" "$PYSNAPPY/"
chmod -R a+rX "$PYSNAPPY"

echo "# [${SECONDS}s] source server"
# A backup waits for its end WAL in its own repository: archive into all of them.
confs=""
for codec in gzip bzip2 snappy none; do
    for kind in file s3; do
        write_conf "$IT_TMP/pgpitr-bsr-$kind-$codec.conf" "$kind" "$codec"
        confs="$confs $IT_TMP/pgpitr-bsr-$kind-$codec.conf"
    done
done
conf_wal=$IT_TMP/pgpitr-bsr-s3-gzip.conf
cat >"$IT_TMP/bsr-archive.sh" <<SH
#!/bin/sh
for c in $confs; do "$PGPITR_BIN" --config "\$c" wal-push "\$1" || exit 1; done
SH
chmod 755 "$IT_TMP/bsr-archive.sh"
pg_rig_init "$D" "$PORT" || { not_ok "initdb"; finish; exit 1; }
pg_rig_conf "$D" "archive_mode = on"
pg_rig_conf "$D" "archive_command = '$IT_TMP/bsr-archive.sh %p'"
pg_rig_start "$D" || { not_ok "source server start"; finish; exit 1; }
pg_rig_pgbench "$D" -i -s 3 -q >/dev/null 2>&1 || not_ok "pgbench -i"
# Incompressible rows too, so pieces hold stored as well as Huffman blocks.
pg_rig_psql "$D" "create table noise as select g, decode(md5(g::text) || md5((g * 7)::text), 'hex') b
    from generate_series(1, 200000) g" >/dev/null || not_ok "noise table"
pg_rig_wait_archived "$D" 60 || not_ok "the archiver did not catch up"

for codec in gzip bzip2 snappy none; do
    sfx=$(case $codec in gzip) echo .gz ;; bzip2) echo .bz2 ;; snappy) echo .snappy ;; none) echo "" ;; esac)
    for kind in file s3; do
        conf=$IT_TMP/pgpitr-bsr-$kind-$codec.conf
        out=$(PGHOST=$D/sock PGPORT=$PORT PGUSER=postgres "$PGPITR_BIN" --config "$conf" backup \
            --pgdata "$D/data" -J 2 --immediate-checkpoint --max-archive-size 4MB \
            --name "bsr-$codec" --json 2>"$IT_TMP/bsr-$kind-$codec.err")
        rc=$?
        if [ $rc -eq 0 ]; then ok "$codec/$kind: pgpitr backup exit 0"; else not_ok "$codec/$kind: pgpitr backup exit $rc: $(tail -n 3 "$IT_TMP/bsr-$kind-$codec.err")"; continue; fi
        id=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])')
        echo "# [${SECONDS}s] $codec/$kind: backup $id"
        if [ "$kind" = file ]; then
            bk=$IT_TMP/bsr-$codec/$SERVER/base/$id
            check "$codec: more than one volume (--max-archive-size 4MB)" test -e "$bk/data_0001.tar$sfx"
            res=$(PYTHONPATH=$PYSNAPPY $BARMAN_PY -c "$STREAM_READ" "$bk" "$codec" 2>&1)
            if [[ "$res" =~ ^[0-9]+\ [0-9]+$ ]] && [ "${res#* }" -gt 500 ]; then
                ok "$codec: every volume one stream, read to its end by tarfile stream mode (volumes, files: $res)"
            else
                not_ok "$codec: stream-mode read: $res"
            fi
            [ "$codec" = gzip ] && GZIP_FILE_ID=$id
            continue
        fi
        dest=$IT_TMP/bsr-restore-$codec
        rm -rf "$dest"
        if PYTHONPATH=$PYSNAPPY AWS_DEFAULT_REGION=$AWS_REGION barman-cloud-restore --endpoint-url "$PITR_TEST_S3_ENDPOINT" "s3://$PITR_TEST_BUCKET/bsr-$codec" \
            "$SERVER" "$id" "$dest" >"$IT_TMP/bsr-barman-$codec.log" 2>&1; then
            ok "$codec/s3: barman-cloud-restore 3.4 restores the pgpitr backup"
        else
            not_ok "$codec/s3: barman-cloud-restore failed: $(tail -n 3 "$IT_TMP/bsr-barman-$codec.log")"
            continue
        fi
        "$PGPITR_BIN" --config "$conf" object-get "$SERVER/base/$id/pgpitr.manifest.json" \
            "$IT_TMP/bsr-man-$codec.json" >/dev/null 2>&1 || not_ok "$codec/s3: object-get manifest"
        n=$(python3 -c "$MANIFEST_MATCH" "$IT_TMP/bsr-man-$codec.json" "$dest" 2>&1)
        if [ "$n" -gt 500 ] 2>/dev/null; then
            ok "$codec/s3: barman's copy matches pgpitr.manifest.json ($n files, sizes and SHA-256)"
        else
            not_ok "$codec/s3: barman's copy differs: $n"
        fi
    done
done

# Older pgpitr wrote one gzip member per 1 MiB chunk and a manifest without
# "objects" (volume sizes and checksums): such volumes must still restore with
# pgpitr (restore checks every file's SHA-256 itself).
MULTI_MEMBER='
import gzip, json, sys
root = sys.argv[1]
man = json.load(open(root + "/pgpitr.manifest.json"))
for v in man["volumes"]:
    raw = gzip.decompress(open(root + "/" + v, "rb").read())
    open(root + "/" + v, "wb").write(b"".join(gzip.compress(raw[i:i + 1048576], 1)
                                             for i in range(0, len(raw), 1048576)))
man.pop("objects", None)
json.dump(man, open(root + "/pgpitr.manifest.json", "w"))
'
old_style() {
    local conf=$IT_TMP/pgpitr-bsr-file-gzip.conf id=$1 bk=$IT_TMP/bsr-gzip/$SERVER/base/$1
    local dest=$IT_TMP/bsr-multi res
    python3 -c "$MULTI_MEMBER" "$bk" || { not_ok "multi-member: rewrite volumes"; return; }
    res=$(python3 -c "$STREAM_READ" "$bk" gzip 2>&1)
    case "$res" in
    *"not exactly one gzip member"*) ok "multi-member: the rewritten volumes are several members (the check sees it)" ;;
    *) not_ok "multi-member: the one-member check missed the rewrite: $res" ;;
    esac
    rm -rf "$dest"
    if "$PGPITR_BIN" --config "$conf" restore "$id" "$dest" >"$IT_TMP/bsr-multi.log" 2>&1; then
        ok "multi-member: pgpitr restore reads volumes of many gzip members"
    else
        not_ok "multi-member: pgpitr restore failed: $(tail -n 3 "$IT_TMP/bsr-multi.log")"
    fi
    check "multi-member: the restored PG_VERSION is there" test -s "$dest/PG_VERSION"
}
if [ -n "${GZIP_FILE_ID:-}" ]; then old_style "$GZIP_FILE_ID"; else not_ok "multi-member: no gzip file:// backup to rewrite"; fi

# WAL: a gzip segment pgpitr pushed, read by barman-cloud-wal-restore.
seg=$(pg_rig_psql "$D" "select pg_walfile_name(pg_current_wal_lsn())")
pg_rig_wait_archived "$D" 60 || not_ok "archiver did not ship $seg"
rm -f "$IT_TMP/bsr-wal-barman" "$IT_TMP/bsr-wal-pgpitr"
if AWS_DEFAULT_REGION=$AWS_REGION barman-cloud-wal-restore --endpoint-url "$PITR_TEST_S3_ENDPOINT" "s3://$PITR_TEST_BUCKET/bsr-gzip" \
    "$SERVER" "$seg" "$IT_TMP/bsr-wal-barman" >"$IT_TMP/bsr-walr.log" 2>&1; then
    ok "wal: barman-cloud-wal-restore reads pgpitr's gzip segment $seg"
else
    not_ok "wal: barman-cloud-wal-restore failed: $(tail -n 3 "$IT_TMP/bsr-walr.log")"
fi
"$PGPITR_BIN" --config "$conf_wal" wal-fetch "$seg" "$IT_TMP/bsr-wal-pgpitr" >/dev/null 2>&1
check "wal: barman's segment equals pgpitr wal-fetch's (16 MiB)" \
    sh -c "test \$(stat -c %s '$IT_TMP/bsr-wal-barman') -eq 16777216 && cmp -s '$IT_TMP/bsr-wal-barman' '$IT_TMP/bsr-wal-pgpitr'"

pg_rig_stop "$D"
finish

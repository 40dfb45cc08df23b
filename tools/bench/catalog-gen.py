#!/usr/bin/python3
"""tools/bench/catalog-gen.py - fill a repository prefix with a synthetic barman-cloud history.

Writes straight through the S3 API (boto3), not through pgpitr, what
barman-cloud-wal-archive --gzip and barman-cloud-backup leave in a bucket:

  <prefix>/<server>/wals/<TTTTTTTTLLLLLLLL>/<segment>.gz       --wal N segments
  <prefix>/<server>/wals/<TTTTTTTTLLLLLLLL>/<seg>.partial.gz   the old timeline's last
                                                               segment at each switch
  <prefix>/<server>/wals/<TTTTTTTTLLLLLLLL>/<seg>.<off>.backup.gz   one per backup
  <prefix>/<server>/wals/00000002.history.gz, 00000003.history.gz
  <prefix>/<server>/base/<backup_id>/backup.info               --backups B (barman 3.4
                                                               keys, status DONE)
  <prefix>/<server>/base/<backup_id>/data.tar                  a small valid tar

The N segments are spread over timelines 1, 2 and 3 (40 %, 30 %, 30 %), one
segment every --interval seconds ending an hour ago; each timeline switch is
a few KiB into the switch segment (history files say where). Segment bodies
are a small gzip (the catalog commands read names and sizes only) except one,
the "real" segment in the middle of timeline 3: a gzip of a whole 16 MiB
segment whose page headers are right for its name, so wal-fetch of it
succeeds. The B backups begin at evenly spaced segments, each on the
timeline that segment is on, and end one segment later.

Idempotent: the times (hence the backup ids) come from the prefix's
catalog-gen.json when an earlier run wrote it (else --end-time, else an hour
ago); one listing of the prefix, then only the missing keys are PUT, in
--threads parallel threads. Prints a JSON summary on stdout (the real
segment's name, the first and last segments, the counts written).

Usage: catalog-gen.py --endpoint URL --ca FILE --bucket B --prefix P
                      --wal N --backups B [--server S] [--threads T]
Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment.
"""
import argparse
import datetime
import gzip
import io
import json
import struct
import sys
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

SEG = 16 * 1024 * 1024
BLCKSZ = 8192
PER_LOG = (1 << 32) // SEG
MAGIC = 0xD110  # PostgreSQL 15
SYSID = 7311479187624700227
FIRST_SEGNO = 2  # the first archived segment (as after initdb and a first checkpoint)


def seg_name(tli, segno):
    return "%08X%08X%08X" % (tli, segno // PER_LOG, segno % PER_LOG)


def lsn(x):
    return "%X/%X" % (x >> 32, x & 0xFFFFFFFF)


def real_segment(tli, segno):
    """A 16 MiB WAL segment: a long header on page 0, a short one on every other page."""
    buf = bytearray(SEG)
    base = segno * SEG
    for off in range(0, SEG, BLCKSZ):
        info = 0x0002 if off == 0 else 0
        struct.pack_into("<HHIQI", buf, off, MAGIC, info, tli, base + off, 0)
        if off == 0:
            struct.pack_into("<QII", buf, 24, SYSID, SEG, BLCKSZ)
    return gzip.compress(bytes(buf), compresslevel=1, mtime=0)


def layout(n_wal, n_backups, interval, end):
    """Segments (tli, segno), switch points and backups of the synthetic history."""
    n1 = max(1, n_wal * 4 // 10)
    n2 = max(1, n_wal * 3 // 10)
    n3 = max(1, n_wal - n1 - n2)
    segs = []
    s = FIRST_SEGNO
    switches = []  # (old tli, new tli, switch lsn)
    for tli, count in ((1, n1), (2, n2), (3, n3)):
        if tli > 1:
            # The switch is 8 KiB into the segment after the old timeline's last
            # one: that segment is the old timeline's .partial and the new one's first.
            switches.append((tli - 1, tli, s * SEG + BLCKSZ))
        for _ in range(count):
            segs.append((tli, s))
            s += 1
    t0 = end - datetime.timedelta(seconds=interval * (len(segs) - 1))
    times = [t0 + datetime.timedelta(seconds=interval * i) for i in range(len(segs))]
    backups = []
    if n_backups > 0:
        step = max(1, (len(segs) - 2) // n_backups)
        used = set()
        for b in range(n_backups):
            i = min(len(segs) - 2, b * step)
            while i in used or segs[i][0] != segs[i + 1][0]:
                i += 1  # a backup ends on the timeline it began on
            used.add(i)
            backups.append(i)
    return segs, switches, times, backups


def backup_info(tli, segno, end_tli, end_segno, begin, end, bid):
    begin_lsn = segno * SEG + 0x28
    end_lsn = end_segno * SEG + 0x3998
    label = (
        "START WAL LOCATION: %s (file %s)\\nCHECKPOINT LOCATION: %s\\nBACKUP METHOD: streamed\\n"
        "BACKUP FROM: primary\\nSTART TIME: %s UTC\\nLABEL: Barman backup cloud %s\\n"
        "START TIMELINE: %d\\n"
        % (lsn(begin_lsn), seg_name(tli, segno), lsn(begin_lsn + 0x38),
           begin.strftime("%Y-%m-%d %H:%M:%S"), bid, tli))
    fields = {
        "backup_label": "'%s'" % label,
        "begin_offset": str(begin_lsn % SEG),
        "begin_time": str(begin),
        "begin_wal": seg_name(tli, segno),
        "begin_xlog": lsn(begin_lsn),
        "compression": "None",
        "config_file": "/var/lib/postgresql/15/main/postgresql.conf",
        "copy_stats": "{'total_time': 42.5, 'number_of_workers': 2, 'analysis_time': 0, "
                      "'analysis_time_per_item': {'data': 0}, 'copy_time_per_item': "
                      "{'data': 42.1}, 'serialized_copy_time_per_item': {'data': 0.07}, "
                      "'copy_time': 42.1, 'serialized_copy_time': 0.07}",
        "deduplicated_size": "None",
        "end_offset": str(end_lsn % SEG),
        "end_time": str(end),
        "end_wal": seg_name(end_tli, end_segno),
        "end_xlog": lsn(end_lsn),
        "error": "None",
        "hba_file": "/var/lib/postgresql/15/main/pg_hba.conf",
        "ident_file": "/var/lib/postgresql/15/main/pg_ident.conf",
        "included_files": "None",
        "mode": "None",
        "pgdata": "/var/lib/postgresql/15/main",
        "server_name": "cloud",
        "size": "None",
        "status": "DONE",
        "systemid": str(SYSID),
        "tablespaces": "None",
        "timeline": str(tli),
        "version": "150004",
        "xlog_segment_size": str(SEG),
    }
    return "".join("%s=%s\n" % (k, fields[k]) for k in sorted(fields)).encode()


def small_tar(bid):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        body = b"15\n"
        ti = tarfile.TarInfo("./PG_VERSION")
        ti.size = len(body)
        ti.mtime = 0
        t.addfile(ti, io.BytesIO(body))
        body = ("LABEL: Barman backup cloud %s\n" % bid).encode()
        ti = tarfile.TarInfo("backup_label")
        ti.size = len(body)
        t.addfile(ti, io.BytesIO(body))
    return out.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--server", default="bench")
    ap.add_argument("--wal", type=int, required=True)
    ap.add_argument("--backups", type=int, required=True)
    ap.add_argument("--interval", type=int, default=300, help="seconds between segments")
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--end-time", help="time of the newest segment (ISO 8601 with a zone); "
                    "default: what the prefix's catalog-gen.json says, else an hour ago")
    a = ap.parse_args()
    if a.wal < 10 or a.backups < 1 or a.backups > a.wal // 2:
        sys.exit("catalog-gen: need --wal >= 10 and 1 <= --backups <= wal/2")
    root = "%s/%s/" % (a.prefix.strip("/"), a.server)
    cfg = Config(s3={"addressing_style": "path"}, max_pool_connections=a.threads,
                 retries={"max_attempts": 10, "mode": "standard"})
    s3 = boto3.client("s3", endpoint_url=a.endpoint, verify=a.ca, region_name="us-east-1",
                      config=cfg)

    # The newest segment's time: from the prefix's catalog-gen.json when a run
    # wrote one (so backup ids and times, and the keys, are the same again),
    # else --end-time, else an hour ago.
    state_key = "%s/catalog-gen.json" % a.prefix.strip("/")
    end = None  # (the backups' loop below reuses the name: newest keeps it)
    try:
        state = json.loads(s3.get_object(Bucket=a.bucket, Key=state_key)["Body"].read())
        if (state["wal"], state["backups"], state["interval"]) != (a.wal, a.backups, a.interval):
            sys.exit("catalog-gen: %s was generated with --wal %d --backups %d --interval %d"
                     % (state_key, state["wal"], state["backups"], state["interval"]))
        end = datetime.datetime.fromisoformat(state["end_time"])
    except s3.exceptions.NoSuchKey:
        pass
    if end is None and a.end_time:
        end = datetime.datetime.fromisoformat(a.end_time)
    if end is None:
        end = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        end -= datetime.timedelta(hours=1)
    newest = end
    segs, switches, times, backups = layout(a.wal, a.backups, a.interval, newest)
    real_i = len(segs) - max(1, (a.wal - a.wal * 4 // 10 - a.wal * 3 // 10) // 2)
    small = gzip.compress(b"synthetic WAL body: not a segment\n", mtime=0)

    objs = {}  # key -> body or a callable making it
    for i, (tli, segno) in enumerate(segs):
        name = seg_name(tli, segno)
        key = "%swals/%s/%s.gz" % (root, name[:16], name)
        objs[key] = (lambda t=tli, s=segno: real_segment(t, s)) if i == real_i else small
    history = ""
    for old, new, sw in switches:
        history += "%d\t%s\tno recovery target specified\n" % (old, lsn(sw))
        objs["%swals/%08X.history.gz" % (root, new)] = gzip.compress(history.encode(), mtime=0)
        p = seg_name(old, sw // SEG)
        objs["%swals/%s/%s.partial.gz" % (root, p[:16], p)] = small
    for i in backups:
        tli, segno = segs[i]
        etli, esegno = segs[i + 1]
        begin, end = times[i], times[i + 1]
        bid = begin.strftime("%Y%m%dT%H%M%S")
        name = seg_name(tli, segno)
        objs["%swals/%s/%s.00000028.backup.gz" % (root, name[:16], name)] = small
        objs["%sbase/%s/backup.info" % (root, bid)] = backup_info(
            tli, segno, etli, esegno, begin, end, bid)
        objs["%sbase/%s/data.tar" % (root, bid)] = small_tar(bid)

    have = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a.bucket, Prefix=root):
        for o in page.get("Contents", []):
            have.add(o["Key"])
    todo = [k for k in sorted(objs) if k not in have]
    done = [0]
    lock = threading.Lock()
    t0 = time.monotonic()

    def put(key):
        body = objs[key]
        if callable(body):
            body = body()
        s3.put_object(Bucket=a.bucket, Key=key, Body=body)
        with lock:
            done[0] += 1
            if done[0] % 5000 == 0:
                print("catalog-gen: %d of %d objects written (%.0f/s)"
                      % (done[0], len(todo), done[0] / (time.monotonic() - t0)),
                      file=sys.stderr, flush=True)

    with ThreadPoolExecutor(max_workers=a.threads) as ex:
        for f in [ex.submit(put, k) for k in todo]:
            f.result()
    s3.put_object(Bucket=a.bucket, Key=state_key, Body=json.dumps({
        "wal": a.wal, "backups": a.backups, "interval": a.interval, "end_time": str(newest)}).encode())
    rt, rs = segs[real_i]
    json.dump({
        "root": root,
        "objects": len(objs),
        "written": len(todo),
        "already_there": len(objs) - len(todo),
        "seconds": round(time.monotonic() - t0, 1),
        "wal_segments": len(segs),
        "backups": len(backups),
        "real_segment": seg_name(rt, rs),
        "first_segment": seg_name(*segs[0]),
        "last_segment": seg_name(*segs[-1]),
        "first_time": str(times[0]),
        "last_time": str(times[-1]),
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()

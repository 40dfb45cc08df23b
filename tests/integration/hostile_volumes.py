#!/usr/bin/env python3
"""Build the hostile backups of test_restore_hostile.sh.

hostile_volumes.py FIXTURE OUTDIR WORKDIR: for every case, OUTDIR/<case>/
holds the objects of one backup folder (backup.info from FIXTURE, a real
barman-cloud backup.info, edited; gzip tar volumes crafted with tarfile;
for some cases a pgpitr.manifest.json). WORKDIR is where the test puts its
canaries (WORKDIR/outside) and targets (WORKDIR/t-<case>-<kind>/data).
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

fixture, outdir, work = sys.argv[1:4]
outside = os.path.join(work, "outside")
PG_VERSION = b"15\n"


def member(name, kind="file", data=b"", mode=0o600, link=None):
    return dict(name=name, kind=kind, data=data, mode=mode, link=link)


def base_members():
    return [member("./", "dir", mode=0o700), member("PG_VERSION", data=PG_VERSION),
            member("global", "dir", mode=0o700)]


def volume(members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for m in members:
            ti = tarfile.TarInfo(m["name"])
            ti.mode = m["mode"]
            ti.uid = ti.gid = 0
            ti.mtime = 1700000000
            if m["kind"] == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif m["kind"] == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = m["link"]
                t.addfile(ti)
            elif m["kind"] == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = m["link"]
                t.addfile(ti)
            else:
                ti.size = len(m["data"])
                t.addfile(ti, io.BytesIO(m["data"]))
    return gzip.compress(raw.getvalue(), mtime=0)


def info(tablespaces=None):
    lines = []
    for line in open(fixture).read().splitlines():
        if line.startswith("tablespaces="):
            if tablespaces is None:
                line = "tablespaces=None"
            else:
                line = "tablespaces=[" + ", ".join(
                    "('%s', %d, '%s')" % t for t in tablespaces) + "]"
        elif line.startswith("compression="):
            line = "compression=gzip"
        lines.append(line)
    return ("\n".join(lines) + "\n").encode()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def manifest(objects, files, backup_id="20261123T211943"):
    return json.dumps({
        "format": 1, "backup_id": backup_id,
        "files": files,
        "objects": [{"name": n, "size": len(b), "sha256": sha(b)} for n, b in objects.items()],
    }).encode()


def pg_version_file():
    return {"path": "PG_VERSION", "volume": "data.tar.gz", "size": len(PG_VERSION),
            "sha256": sha(PG_VERSION)}


cases = {}
rel_outside = os.path.relpath(outside, os.path.join(work, "t-x-y", "data"))

cases["abs-symlink"] = {"data.tar.gz": volume(base_members() + [
    member("escape", "symlink", link=outside),
    member("escape/evil", data=b"written through an absolute symlink\n", mode=0o644)])}
cases["dotdot-symlink"] = {"data.tar.gz": volume(base_members() + [
    member("escape", "symlink", link=rel_outside),
    member("escape/evil", data=b"written through a ../ symlink\n", mode=0o644)])}
cases["dotdot-member"] = {"data.tar.gz": volume(base_members() + [
    member(rel_outside + "/evil", data=b"a ../ member\n", mode=0o644)])}
cases["abs-member"] = {"data.tar.gz": volume(base_members() + [
    member(outside + "/evil", data=b"an absolute member\n", mode=0o644)])}
cases["hardlink-outside"] = {"data.tar.gz": volume(base_members() + [
    member("evil", "hardlink", link=os.path.join(outside, "canary"))])}
cases["hardlink-dotdot"] = {"data.tar.gz": volume(base_members() + [
    member("evil", "hardlink", link=rel_outside + "/canary")])}
cases["hardlink-via-symlink"] = {"data.tar.gz": volume(base_members() + [
    member("esc", "symlink", link=outside),
    member("evil", "hardlink", link="esc/canary")])}
cases["setuid"] = {"data.tar.gz": volume(base_members() + [
    member("global/suid", data=b"#!/bin/sh\nid\n", mode=0o4755),
    member("global/sgid", data=b"#!/bin/sh\nid\n", mode=0o2755),
    member("sdir", "dir", mode=0o3755)])}
cases["autoconf-symlink"] = {"data.tar.gz": volume(base_members() + [
    member("postgresql.auto.conf", "symlink", link=os.path.join(outside, "auto.conf"))])}
cases["autoconf-inside-symlink"] = {"data.tar.gz": volume(base_members() + [
    member("postgresql.conf", data=b"# the backup's postgresql.conf\n"),
    member("postgresql.auto.conf", "symlink", link="postgresql.conf")])}
cases["rel-tablespace"] = {
    "data.tar.gz": volume(base_members()),
    "16384.tar.gz": volume([member("PG_15_202209061", "dir", mode=0o700)]),
    "backup.info": info([("tbs1", 16384, "rel/tbs")])}
cases["unnormalised-tablespace"] = {
    "data.tar.gz": volume(base_members()),
    "16384.tar.gz": volume([member("PG_15_202209061", "dir", mode=0o700)]),
    "backup.info": info([("tbs1", 16384, os.path.join(work, "empty-tbs", "..", "made-tbs"))])}
cases["nonempty-tablespace"] = {
    "data.tar.gz": volume(base_members()),
    "16384.tar.gz": volume([member("PG_15_202209061", "dir", mode=0o700)]),
    "backup.info": info([("tbs1", 16384, outside)])}

# Manifest cases: a correct volume; the manifest is what is wrong.
good = volume(base_members())
canary = open(os.path.join(outside, "canary"), "rb").read()
cases["manifest-dotdot"] = {"data.tar.gz": good, "pgpitr.manifest.json": manifest(
    {"data.tar.gz": good},
    [pg_version_file(), {"path": rel_outside + "/canary", "volume": "data.tar.gz",
                         "size": len(canary), "sha256": sha(canary)}])}
m = json.loads(manifest({"data.tar.gz": good}, [pg_version_file()]))
m["objects"][0]["size"] += 1
cases["volume-wrong-size"] = {"data.tar.gz": good, "pgpitr.manifest.json": json.dumps(m).encode()}
m = json.loads(manifest({"data.tar.gz": good}, [pg_version_file()]))
m["objects"][0]["sha256"] = "0" * 64
cases["volume-wrong-sha256"] = {"data.tar.gz": good, "pgpitr.manifest.json": json.dumps(m).encode()}

for name, objs in cases.items():
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    objs.setdefault("backup.info", info())
    for obj, body in objs.items():
        with open(os.path.join(d, obj), "wb") as f:
            f.write(body)
print(" ".join(cases))

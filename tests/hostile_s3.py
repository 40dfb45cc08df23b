#!/usr/bin/env python3
"""A hostile S3 endpoint on loopback, for tests that feed pgpitr bad answers.

It signs nothing and checks no signature: it answers every request the
same hostile way, chosen by --mode, and logs one line per request to --log
("req=N METHOD TARGET") and one per answer ("req=N sent BYTES [cut]").

Modes:
  list-same-token   ListObjectsV2: every page truncated, the same
                    NextContinuationToken every time, one new key a page
                    (ascending, so only the token gives the loop away)
  list-same-empty   every page truncated, the same token, no keys
  list-new-empty    every page truncated, a new token each time, no keys
  trickle           every answer (headers and body) sent --rate bytes/s;
                    listing pages padded with --pad spaces
  deep              ListObjectsV2: 200 with 8 MiB of nested elements
  oversize          ListObjectsV2 lists the asked-for key with --size bytes;
                    GET answers Content-Length 4 GiB and sends zeros until
                    the client hangs up
Other requests get a 404 NoSuchKey (or an empty 200 to PUT/DELETE).
"""
import argparse
import http.server
import itertools
import socketserver
import sys
import threading
import time
import urllib.parse

COUNTER = itertools.count(1)
LOG_LOCK = threading.Lock()


def log(args, line):
    with LOG_LOCK:
        with open(args.log, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def list_page(prefix, truncated, token, keys, pad=0):
    parts = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
             "<ListBucketResult>" + " " * pad + "<Name>b</Name>",
             "<Prefix>%s</Prefix>" % prefix,
             "<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false")]
    if token is not None:
        parts.append("<NextContinuationToken>%s</NextContinuationToken>" % token)
    for key, size in keys:
        parts.append("<Contents><Key>%s</Key><Size>%d</Size><ETag>\"e\"</ETag>"
                     "<LastModified>2024-01-01T00:00:00.000Z</LastModified></Contents>"
                     % (key, size))
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    args = None

    def log_message(self, fmt, *a):  # keep stderr quiet
        pass

    def send_raw(self, n, data, rate=0.0):
        """Write data, rate bytes/s when rate > 0; log what went out."""
        sent = 0
        cut = False
        try:
            if rate > 0:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    sent += 1
                    time.sleep(1.0 / rate)
            else:
                self.wfile.write(data)
                self.wfile.flush()
                sent = len(data)
        except (BrokenPipeError, ConnectionResetError):
            cut = True
        log(self.args, "req=%d sent %d%s" % (n, sent, " cut" if cut else ""))
        if cut:
            self.close_connection = True

    def answer(self, n, status, body, ctype="application/xml", extra=None):
        reason = {200: "OK", 404: "Not Found"}.get(status, "Status")
        head = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
            status, reason, ctype, len(body))
        for k, v in (extra or {}).items():
            head += "%s: %s\r\n" % (k, v)
        head += "\r\n"
        rate = self.args.rate if self.args.mode == "trickle" else 0.0
        self.send_raw(n, head.encode() + body, rate)

    def not_found(self, n, key):
        body = ("<Error><Code>NoSuchKey</Code><Message>no such key</Message>"
                "<Key>%s</Key></Error>" % key).encode()
        self.answer(n, 404, body)

    def handle_any(self):
        n = next(COUNTER)
        log(self.args, "req=%d %s %s" % (n, self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        mode = self.args.mode
        if self.command == "GET" and q.get("list-type") == ["2"]:
            prefix = q.get("prefix", [""])[0]
            if mode == "list-same-token":
                self.answer(n, 200, list_page(prefix, True, "same", [(prefix + "%08d" % n, 1)]))
            elif mode == "list-same-empty":
                self.answer(n, 200, list_page(prefix, True, "same", []))
            elif mode == "list-new-empty":
                self.answer(n, 200, list_page(prefix, True, "t%d" % n, []))
            elif mode == "deep":
                body = b"<ListBucketResult>" + b"<a>" * (8 * 1024 * 1024 // 3)
                self.answer(n, 200, body)
            elif mode == "oversize":
                self.answer(n, 200, list_page(prefix, False, None, [(prefix, self.args.size)]))
            else:
                self.answer(n, 200, list_page(prefix, False, None, [], self.args.pad))
            return
        if self.command == "GET" and mode == "oversize":
            head = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    "Content-Length: %d\r\n\r\n" % (4 << 30)).encode()
            sent = 0
            chunk = b"\0" * 65536
            try:
                self.wfile.write(head)
                while sent < (4 << 30):
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            log(self.args, "req=%d sent %d cut" % (n, sent))
            self.close_connection = True
            return
        if self.command in ("PUT", "DELETE"):
            self.answer(n, 200, b"", extra={"ETag": "\"e\""})
            return
        self.not_found(n, url.path)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", required=True,
                   choices=["list-same-token", "list-same-empty", "list-new-empty",
                            "trickle", "deep", "oversize"])
    p.add_argument("--rate", type=float, default=3.0, help="trickle: bytes per second")
    p.add_argument("--pad", type=int, default=0,
                   help="trickle: spaces added to a listing page (a longer answer)")
    p.add_argument("--size", type=int, default=16 * 1024 * 1024, help="oversize: listed size")
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--max-lifetime", type=float, default=600,
                   help="exit after this many seconds whatever happens")
    args = p.parse_args()
    Handler.args = args
    srv = Server(("127.0.0.1", 0), Handler)
    open(args.log, "w", encoding="utf-8").close()
    with open(args.port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    threading.Timer(args.max_lifetime, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

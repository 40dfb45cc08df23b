#!/usr/bin/env python3
"""faultproxy.py - an HTTP/1.1 proxy on loopback that injects S3-style faults.

For the tests only. It sits between an S3 client (pgpitr, curl, boto3) and a
plain-HTTP S3 endpoint (the Swift rig) and forwards every request unchanged:
the request line, every header (Host included: the SigV4 signature covers it)
and the body, byte for byte. On a seeded pseudo-random schedule, with
probability --rate per request, it does not forward the request but instead:

  500    answers 500 InternalError with an S3-style XML body
  503    answers 503 SlowDown with an S3-style XML body
  429    answers 429 SlowDown with an S3-style XML body
  reset  closes the client connection with a TCP reset (SO_LINGER 0), either
         right after the request head (before the body is read) or after the
         whole body was read
  lost   (not in the default set) forwards the request, then resets the
         client connection instead of relaying the answer: the request took
         effect but the client never learns so

The schedule depends only on --seed and on the order in which requests
arrive: request number i always gets the i-th draw.

  faultproxy.py --listen 127.0.0.1:0 --upstream 127.0.0.1:38280 \\
      --rate 0.2 --seed 7 [--faults 500,503,429,reset] [--log FILE] \\
      [--port-file FILE] [--idle-timeout SECS] [--max-lifetime SECS]

With port 0 the chosen port is printed on stdout (one line); --port-file
also writes it to FILE (atomically). Both the listening and the upstream
address must be loopback, and connections from other addresses are refused.
SIGTERM or SIGINT stops it; so does --max-lifetime (default 3600 s).

Connections are kept alive in both directions: each client connection gets
its own upstream connection, reused for its next requests. Request bodies
may be framed by Content-Length or chunked; "Expect: 100-continue" is
honoured (the upstream's 100 is relayed). Each request is one line in the
log:  req=N conn=C METHOD TARGET -> forward STATUS
      req=N conn=C METHOD TARGET -> fault KIND [before-body|after-body]
"""

import argparse
import ipaddress
import random
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import os

MAX_LINE = 16 * 1024
MAX_HEAD = 128 * 1024
CHUNK = 256 * 1024
UPSTREAM_TIMEOUT = 300.0

ALL_FAULTS = ("500", "503", "429", "reset", "lost")
DEFAULT_FAULTS = "500,503,429,reset"

# status -> (reason phrase, S3 error code, message)
STATUS_FAULTS = {
    "500": ("Internal Server Error", "InternalError", "faultproxy injected an internal error"),
    "503": ("Service Unavailable", "SlowDown", "faultproxy asks the client to slow down"),
    "429": ("Too Many Requests", "SlowDown", "faultproxy injected a rate limit"),
}


class Reset(Exception):
    """The client connection was (or must be) torn down."""


class BadMessage(Exception):
    """The peer sent something that is not HTTP/1.x framing we understand."""


def parse_addr(text, what):
    """'HOST:PORT' or '[V6]:PORT' -> (family, host, port); loopback only."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise SystemExit("faultproxy: %s '%s' is not HOST:PORT" % (what, text))
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise SystemExit("faultproxy: %s host '%s' is not an IP address" % (what, host))
    if not ip.is_loopback:
        raise SystemExit("faultproxy: %s '%s' is not a loopback address" % (what, text))
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return family, host, int(port)


class Schedule:
    """The seeded fault schedule: the same draws per request, whatever the rate."""

    def __init__(self, rate, seed, kinds):
        self.rate = rate
        self.kinds = kinds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.count = 0

    def next(self):
        with self.lock:
            self.count += 1
            roll = self.rng.random()
            kind = self.kinds[self.rng.randrange(len(self.kinds))]
            early = self.rng.random() < 0.5
            return self.count, (kind if roll < self.rate else None), early


class Log:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.fh = open(path, "a", buffering=1, encoding="utf-8") if path else None

    def line(self, text):
        if self.fh is None:
            return
        with self.lock:
            self.fh.write(text + "\n")

    def close(self):
        if self.fh is not None:
            self.fh.close()


def read_head(rf, allow_eof):
    """Read a request or response head (start line through the blank line).

    Returns the raw bytes, or None on a clean EOF before any byte when
    allow_eof is set. Blank lines before the start line are skipped.
    """
    lines = []
    total = 0
    while True:
        line = rf.readline(MAX_LINE + 1)
        if not line:
            if not lines and allow_eof:
                return None
            raise BadMessage("connection closed inside a message head")
        if len(line) > MAX_LINE:
            raise BadMessage("header line too long")
        if not lines and line in (b"\r\n", b"\n"):
            continue
        total += len(line)
        if total > MAX_HEAD:
            raise BadMessage("message head too large")
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def parse_head(head):
    """-> (start-line fields, {lower-case name: [values]})."""
    lines = head.split(b"\n")
    start = lines[0].rstrip(b"\r").decode("latin-1").split(" ", 2)
    fields = {}
    for raw in lines[1:]:
        raw = raw.rstrip(b"\r")
        if not raw:
            continue
        name, sep, value = raw.partition(b":")
        if not sep:
            raise BadMessage("malformed header line")
        fields.setdefault(name.strip().lower().decode("latin-1"), []).append(
            value.strip().decode("latin-1"))
    return start, fields


def has_token(fields, name, token):
    for value in fields.get(name, []):
        for part in value.split(","):
            if part.strip().lower() == token:
                return True
    return False


def body_framing(fields):
    """-> ('chunked', None) | ('length', N) | ('none', 0) for a request."""
    if "transfer-encoding" in fields:
        if not has_token(fields, "transfer-encoding", "chunked"):
            raise BadMessage("unsupported Transfer-Encoding")
        return "chunked", None
    if "content-length" in fields:
        values = {v.strip() for v in fields["content-length"]}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise BadMessage("bad Content-Length")
        return "length", int(values.pop())
    return "none", 0


def relay_exact(rf, n, send):
    """Copy exactly n bytes from rf to send (None: discard)."""
    while n > 0:
        data = rf.read(min(n, CHUNK))
        if not data:
            raise BadMessage("connection closed inside a body")
        n -= len(data)
        if send is not None:
            send(data)


def relay_chunked(rf, send):
    """Copy a chunked body, chunk headers and trailers included, byte for byte."""
    while True:
        line = rf.readline(MAX_LINE + 1)
        if not line or len(line) > MAX_LINE:
            raise BadMessage("bad chunk header")
        if send is not None:
            send(line)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadMessage("bad chunk size")
        if size == 0:
            break
        relay_exact(rf, size + 2, send)  # the data and its CRLF
    while True:  # trailers, then the final blank line
        line = rf.readline(MAX_LINE + 1)
        if not line or len(line) > MAX_LINE:
            raise BadMessage("bad chunked trailer")
        if send is not None:
            send(line)
        if line in (b"\r\n", b"\n"):
            return


def relay_until_close(rf, send):
    while True:
        data = rf.read1(CHUNK)
        if not data:
            return
        send(data)


def reset_socket(sock):
    """Close with RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Upstream:
    """One upstream connection, reused across a client connection's requests."""

    def __init__(self, family, host, port):
        self.addr = (family, host, port)
        self.sock = None
        self.rf = None

    def ensure(self):
        if self.sock is not None and self._stale():
            self.close()
        if self.sock is None:
            family, host, port = self.addr
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(UPSTREAM_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect((host, port))
            self.sock = sock
            self.rf = sock.makefile("rb", buffering=CHUNK)

    def _stale(self):
        # An idle kept-alive connection that is readable has been closed by
        # the upstream (or sent garbage): do not send the next request on it.
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        if self.rf is not None:
            try:
                self.rf.close()
            except OSError:
                pass
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.rf = None


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        srv = self.server
        self.sock = self.request
        self.sock.settimeout(srv.idle_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rf = self.sock.makefile("rb", buffering=CHUNK)
        self.upstream = Upstream(*srv.upstream)
        with srv.conn_lock:
            srv.conn_count += 1
            self.conn = srv.conn_count

    def finish(self):
        self.upstream.close()
        try:
            self.rf.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def reset(self):
        try:
            self.rf.close()
        except OSError:
            pass
        reset_socket(self.sock)
        raise Reset()

    def handle(self):
        try:
            while self.one_request():
                pass
        except Reset:
            pass
        except (BadMessage, OSError) as e:
            self.server.log.line("conn=%d closed: %s" % (self.conn, e))

    # One request/response exchange; True when the connection stays open.
    def one_request(self):
        head = read_head(self.rf, allow_eof=True)
        if head is None:
            return False
        start, fields = parse_head(head)
        if len(start) != 3 or not start[2].startswith("HTTP/1."):
            raise BadMessage("not an HTTP/1.x request")
        method, target, version = start
        framing, length = body_framing(fields)
        expect = has_token(fields, "expect", "100-continue")
        keep = version == "HTTP/1.1" and not has_token(fields, "connection", "close")
        n, fault, early = self.server.schedule.next()
        what = "req=%d conn=%d %s %s ->" % (n, self.conn, method, target)

        if fault is None or fault == "lost":
            return self.forward(what, method, head, framing, length, expect, keep, fault)

        if fault == "reset":
            when = "before-body" if early or expect else "after-body"
            self.server.log.line("%s fault reset %s" % (what, when))
            if when == "after-body":
                self.discard_body(framing, length)
            self.reset()

        # A status answer. A client waiting for "100 Continue" gets the
        # answer at once and never sends the body; the connection then ends.
        # Any other client's body is read first, as a server would.
        when = "before-body" if expect else "after-body"
        self.server.log.line("%s fault %s %s" % (what, fault, when))
        if expect:
            keep = False
        else:
            self.discard_body(framing, length)
        self.send(self.error_response(fault, method, target, n, keep))
        return keep

    def discard_body(self, framing, length):
        if framing == "chunked":
            relay_chunked(self.rf, None)
        elif framing == "length":
            relay_exact(self.rf, length, None)

    def error_response(self, fault, method, target, n, keep):
        reason, code, message = STATUS_FAULTS[fault]
        resource = target.split("?", 1)[0]
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                "<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource>"
                "<RequestId>faultproxy-%d</RequestId></Error>\n"
                % (code, message, resource.replace("&", "&amp;").replace("<", "&lt;"), n)
                ).encode("utf-8")
        head = ("HTTP/1.1 %s %s\r\n"
                "Content-Type: application/xml\r\n"
                "Content-Length: %d\r\n"
                "x-amz-request-id: faultproxy-%d\r\n"
                "Connection: %s\r\n\r\n"
                % (fault, reason, len(body), n, "keep-alive" if keep else "close")).encode("ascii")
        return head if method == "HEAD" else head + body

    def forward(self, what, method, head, framing, length, expect, keep, fault):
        up = self.upstream
        try:
            up.ensure()
            up.send(head)
        except OSError as e:
            self.server.log.line("%s upstream unavailable: %s" % (what, e))
            up.close()
            self.reset()

        body_sent = not expect
        if not expect:
            self.relay_request_body(up, framing, length)

        # Responses: 1xx interim ones first, then the final one.
        while True:
            try:
                rhead = read_head(up.rf, allow_eof=False)
            except (BadMessage, OSError) as e:
                self.server.log.line("%s upstream failed: %s" % (what, e))
                up.close()
                self.reset()
            rstart, rfields = parse_head(rhead)
            if len(rstart) < 2 or not rstart[1].isdigit():
                self.server.log.line("%s upstream sent a bad status line" % what)
                up.close()
                self.reset()
            status = int(rstart[1])
            if 100 <= status < 200 and status != 101:
                self.send(rhead)
                if status == 100 and not body_sent:
                    body_sent = True
                    self.relay_request_body(up, framing, length)
                continue
            break

        # The final answer came before the client was told to send its body:
        # whether it sends it anyway is unknown, so this exchange ends both
        # connections.
        if not body_sent:
            keep = False
        up_keep = (rstart[0] == "HTTP/1.1" and not has_token(rfields, "connection", "close")
                   and body_sent)
        if has_token(rfields, "connection", "close"):
            keep = False

        send = None if fault == "lost" else self.send
        if fault == "lost":
            self.server.log.line("%s fault lost %d" % (what, status))
        else:
            self.server.log.line("%s forward %d" % (what, status))
            self.send(rhead)
        try:
            if method == "HEAD" or status in (204, 304):
                pass
            elif "transfer-encoding" in rfields:
                relay_chunked(up.rf, send)
            elif "content-length" in rfields:
                relay_exact(up.rf, int(rfields["content-length"][0]), send)
            else:
                relay_until_close(up.rf, send if send else (lambda data: None))
                up_keep = False
                keep = False
        except (BadMessage, OSError):
            up.close()
            self.reset()
        if not up_keep:
            up.close()
        if fault == "lost":
            self.reset()
        return keep

    def relay_request_body(self, up, framing, length):
        """Client body -> upstream. An upstream that stops reading (it answered
        early) makes the rest of the body be discarded, not a failure."""
        broken = []

        def send(data):
            if broken:
                return
            try:
                up.send(data)
            except OSError:
                broken.append(True)

        if framing == "chunked":
            relay_chunked(self.rf, send)
        elif framing == "length":
            relay_exact(self.rf, length, send)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def verify_request(self, request, client_address):
        try:
            return ipaddress.ip_address(client_address[0]).is_loopback
        except ValueError:
            return False


def main():
    ap = argparse.ArgumentParser(description="HTTP/1.1 fault-injecting proxy for tests (loopback only)")
    ap.add_argument("--listen", required=True, help="HOST:PORT to listen on (port 0: any free port)")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the plain-HTTP server")
    ap.add_argument("--rate", type=float, default=0.0, help="probability of a fault per request")
    ap.add_argument("--seed", type=int, default=1, help="seed of the fault schedule")
    ap.add_argument("--faults", default=DEFAULT_FAULTS,
                    help="comma-separated kinds among %s (default %s)" % (",".join(ALL_FAULTS), DEFAULT_FAULTS))
    ap.add_argument("--log", help="append one line per request to FILE")
    ap.add_argument("--port-file", help="write the listening port to FILE")
    ap.add_argument("--idle-timeout", type=float, default=120.0,
                    help="close a client connection idle this long (s)")
    ap.add_argument("--max-lifetime", type=float, default=3600.0,
                    help="exit after this many seconds (0: never)")
    args = ap.parse_args()

    if not 0.0 <= args.rate <= 1.0:
        ap.error("--rate must be between 0 and 1")
    kinds = [k.strip() for k in args.faults.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ALL_FAULTS]
    if bad or not kinds:
        ap.error("--faults: unknown kind(s) %s; choose among %s" % (",".join(bad) or "(none)", ",".join(ALL_FAULTS)))

    lfamily, lhost, lport = parse_addr(args.listen, "--listen")
    upstream = parse_addr(args.upstream, "--upstream")

    Server.address_family = lfamily
    server = Server((lhost, lport), Handler)
    server.upstream = upstream
    server.schedule = Schedule(args.rate, args.seed, kinds)
    server.log = Log(args.log)
    server.idle_timeout = args.idle_timeout
    server.conn_lock = threading.Lock()
    server.conn_count = 0
    port = server.server_address[1]

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.max_lifetime > 0:
        signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, args.max_lifetime)

    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    if lport == 0:
        print(port, flush=True)
    server.log.line("listening on %s:%d upstream %s:%d rate %g seed %d faults %s"
                    % (lhost, port, upstream[1], upstream[2], args.rate, args.seed, ",".join(kinds)))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        s = server.schedule
        server.log.line("stopped after %d requests" % s.count)
        server.log.close()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""slowhttp.py — clients that do not play, for the tests of `imgfs serve`
(SPEC §12 "bounded by design", §14; test_serve_bounds.sh, test_serve_stop.sh).

  get URL OUT [--rate B/s] [--range A-B] [--source ADDR]
      A slow reader: one GET, the body written to OUT as it comes (flushed,
      so a test can watch its size), read at a steady B bytes a second with
      a small receive buffer (64 KiB asked), so that what the client has
      not read yet is little and the server's pace shows.  Prints
      "status=S length=L got=N end=complete|short"; exits 0 when the body
      was whole, 18 when the connection ended before (curl's code).

  loris PORT N READY STOP [--host H] [--source ADDR | --sources A,B,...] [--pid PID]
      Slowloris: keeps N connections open to H:PORT, each sending one byte
      of a request every 3 s (a closed one is opened again 2 s later), until
      the file STOP exists; touches READY once the N were opened.  With
      --sources, the connections are bound to those addresses in turn (many
      clients: Linux routes all of 127/8 to lo).  Prints
      what it saw, one "key=value" a line: opened, refused (closed within
      1 s, and of those how many had a 503 reply), held_max (connections
      open for more than 1 s at one time), lifetimes (seconds from the first
      byte to the server's close, of the connections held), rss_peak_kib
      (of PID, sampled every tick).

  readers URL N READY STOP [--sources A,B,...] [--rate B/s] [--rcvbuf BYTES]
          [--progress FILE]
      Slow readers: keeps N connections, each a GET of URL whose body it
      reads at B bytes a second (default 64) through a receive buffer of
      BYTES (default 4096), bound to the addresses in turn; a connection
      the server closes is opened again 2 s later; until the file STOP
      exists (READY touched once the N were opened).  Prints "key=value"
      lines: opened, answered (a status line came), closed (by the server,
      after the status line: end of file or reset, seen in the TCP state
      whatever is still unread), lifetimes (seconds from the connect to the
      server's close).  FILE, while it runs: "closed=<n>", replaced (by a
      rename) each time n grows, so a test can wait for what the readers
      saw rather than stop them at what the server says it did.

  probe HOST PORT KIND [--source ADDR]
      Sends one thing and reports the reply's first line and whether the
      server closed within 3 s: KIND garbage (bytes no request starts
      with), hello (a real TLS ClientHello, made by Python's ssl), plain (an
      HTTP request), tlsbyte (only 0x16, a ClientHello's first byte), idle
      (nothing), partial (an incomplete request, then nothing).  Prints
      "reply=<first line> closed=<seconds from the connect to the close, or
      never>".

  hold HOST PORT N FIRST [--wait S] [--source ADDR]
      Opens N connections one after the other, each sending the byte FIRST
      (a number), then watches them for S seconds: prints one
      "closed=<seconds after it was opened, or never>" a line, in order.
"""
import argparse
import os
import selectors
import socket
import ssl
import sys
import time
import urllib.parse

RCVBUF = 64 << 10


def connect(host, port, source=None, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def cmd_get(a):
    u = urllib.parse.urlsplit(a.url)
    s = connect(u.hostname, u.port or 80, a.source, RCVBUF)
    req = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (u.path, u.netloc)
    if a.range:
        req += "Range: bytes=%s\r\n" % a.range
    s.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(4096)
        if not b:
            print("status=0 length=0 got=0 end=short")
            return 18
        head += b
    head, body = head.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    got = 0
    step = 16 << 10
    start = time.monotonic()
    with open(a.out, "wb") as f:
        f.write(body)
        f.flush()
        got = len(body)
        while length is None or got < length:
            # Steady pace: the bytes allowed by now, a step at a time.
            ahead = got - a.rate * (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead / a.rate)
            try:
                b = s.recv(step)
            except (ConnectionResetError, BrokenPipeError):
                b = b""
            if not b:
                break
            f.write(b)
            f.flush()
            got += len(b)
    end = "complete" if length is not None and got == length else "short"
    print("status=%d length=%s got=%d end=%s" % (status, length, got, end))
    return 0 if end == "complete" else 18


class Conn:
    def __init__(self, sock, opened):
        self.sock = sock
        self.opened = opened
        self.first = None  # when its first byte went out
        self.sent = 0
        self.next_send = opened
        self.reply = b""


def rss_kib(pid):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_loris(a):
    req = ("GET /d/%s/x.raw HTTP/1.1\r\nHost: %s\r\nUser-Agent: slowloris\r\n"
           "X-Pad: %s\r\n\r\n" % ("0" * 64, a.host, "a" * 200)).encode()
    sel = selectors.DefaultSelector()
    conns = set()
    stats = {"opened": 0, "refused": 0, "refused_503": 0, "held_max": 0, "rss_peak_kib": 0, "seconds": 0}
    lifetimes = []
    reopen_at = []  # times at which to open one more

    sources = a.sources.split(",") if a.sources else [a.source] if a.source else []
    turn = [0]

    def open_one(now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if sources:
            s.bind((sources[turn[0] % len(sources)], 0))
            turn[0] += 1
        try:
            s.connect((a.host, a.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            reopen_at.append(now + 2)
            return
        c = Conn(s, now)
        conns.add(c)
        sel.register(s, selectors.EVENT_READ, c)
        stats["opened"] += 1

    def close(c, now):
        sel.unregister(c.sock)
        c.sock.close()
        conns.discard(c)
        if now - c.opened < 1:
            stats["refused"] += 1
            if c.reply.startswith(b"HTTP/1.1 503"):
                stats["refused_503"] += 1
        elif c.first is not None:
            lifetimes.append(now - c.first)
        reopen_at.append(now + 2)

    start = time.monotonic()
    for i in range(a.n):
        open_one(start)
    open(a.ready, "w").close()
    while not os.path.exists(a.stop):
        now = time.monotonic()
        for key, _ in sel.select(timeout=0.1):
            c = key.data
            try:
                b = c.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                b = b""
            if b:
                c.reply += b[:64]
            else:
                close(c, time.monotonic())
        now = time.monotonic()
        for c in list(conns):
            if now >= c.next_send and c.sent < len(req):
                try:
                    c.sock.send(req[c.sent:c.sent + 1])
                except (BlockingIOError, InterruptedError, OSError):
                    continue  # not connected yet, or closed: seen by recv
                if c.first is None:
                    c.first = now
                c.sent += 1
                c.next_send = now + 3
        due = [t for t in reopen_at if t <= now]
        reopen_at[:] = [t for t in reopen_at if t > now]
        for _ in due:
            if len(conns) < a.n:
                open_one(now)
        held = sum(1 for c in conns if now - c.opened >= 1)
        stats["held_max"] = max(stats["held_max"], held)
        stats["seconds"] = int(now - start)
        if a.pid:
            stats["rss_peak_kib"] = max(stats["rss_peak_kib"], rss_kib(a.pid))
    for k, v in stats.items():
        print("%s=%d" % (k, v))
    print("lifetimes=%s" % " ".join("%.2f" % t for t in sorted(lifetimes)))
    return 0


def cmd_readers(a):
    u = urllib.parse.urlsplit(a.url)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: slow-reader\r\n\r\n" % (u.path, u.netloc)).encode()
    sources = a.sources.split(",") if a.sources else []
    sel = selectors.DefaultSelector()
    conns = set()
    stats = {"opened": 0, "answered": 0, "closed": 0}
    lifetimes = []
    reopen_at = []
    turn = [0]

    def open_one(now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
        s.setblocking(False)
        if sources:
            s.bind((sources[turn[0] % len(sources)], 0))
            turn[0] += 1
        try:
            s.connect((u.hostname, u.port or 80))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            reopen_at.append(now + 2)
            return
        c = Conn(s, now)
        c.got = 0
        conns.add(c)
        sel.register(s, selectors.EVENT_WRITE, c)
        stats["opened"] += 1

    def close(c, now, by_server):
        sel.unregister(c.sock)
        c.sock.close()
        conns.discard(c)
        if by_server and c.reply.startswith(b"HTTP/"):
            stats["closed"] += 1
            lifetimes.append(now - c.opened)
            if a.progress:
                with open(a.progress + ".tmp", "w") as f:
                    f.write("closed=%d\n" % stats["closed"])
                os.replace(a.progress + ".tmp", a.progress)
        reopen_at.append(now + 2)

    start = time.monotonic()
    for _ in range(a.n):
        open_one(start)
    open(a.ready, "w").close()
    while not os.path.exists(a.stop):
        for key, ev in sel.select(timeout=0.1):
            c = key.data
            now = time.monotonic()
            if ev & selectors.EVENT_WRITE:
                try:
                    c.sock.send(req)  # small: it fits the socket's buffer at once
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    close(c, now, False)
                    continue
                c.first = now
                sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            # The bytes allowed by now; none: not yet (the socket stays full).
            allowed = int(a.rate * (now - c.first)) - c.got
            if allowed < 1:
                continue
            try:
                b = c.sock.recv(min(allowed, 4096))
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                b = b""
            if not b:
                close(c, now, True)
                continue
            if not c.reply:
                stats["answered"] += 1
            c.reply = (c.reply + b)[:64]
            c.got += len(b)
        # What the server closed is seen at once, not after the bytes
        # already here are read at the reader's pace: the TCP state
        # (CLOSE after a reset, CLOSE_WAIT after a FIN).
        now = time.monotonic()
        for c in list(conns):
            if c.first is not None and c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] in (7, 8):
                close(c, now, True)
        due = [t for t in reopen_at if t <= now]
        reopen_at[:] = [t for t in reopen_at if t > now]
        for _ in due:
            if len(conns) < a.n:
                open_one(now)
        time.sleep(0.02)  # a reader whose allowance is spent is readable still: do not spin
    for k, v in stats.items():
        print("%s=%d" % (k, v))
    print("lifetimes=%s" % " ".join("%.2f" % t for t in sorted(lifetimes)))
    return 0


def client_hello():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def cmd_probe(a):
    sent = time.monotonic()  # the server's clocks start after this
    s = connect(a.host, a.port, a.source)
    payload = {
        "garbage": b"\x00\x01\x02\xffgarbage\r\n\r\n",
        "hello": client_hello(),
        "plain": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "tlsbyte": b"\x16",
        "idle": b"",
        "partial": b"GET /d/0 HTTP/1.1\r\nHost: x\r\n",
    }[a.kind]
    if payload:
        s.sendall(payload)
    s.settimeout(0.1)
    reply = b""
    closed = None
    while time.monotonic() - sent < a.wait:
        try:
            b = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            b = b""
        if not b:
            closed = time.monotonic() - sent
            break
        reply += b
    first = reply.split(b"\r\n", 1)[0].decode("latin-1") if reply else "-"
    print("reply=%s closed=%s" % (first.replace(" ", "_"), "never" if closed is None else "%.2f" % closed))
    return 0


def cmd_hold(a):
    conns = []
    for _ in range(a.n):
        s = connect(a.host, a.port, a.source)
        s.sendall(bytes([a.first]))
        s.setblocking(False)
        conns.append([s, time.monotonic(), None])
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c[0], selectors.EVENT_READ, c)
    end = time.monotonic() + a.wait
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.1):
            c = key.data
            try:
                b = c[0].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                b = b""
            if not b:
                c[2] = time.monotonic() - c[1]
                sel.unregister(c[0])
    for c in conns:
        print("closed=%s" % ("never" if c[2] is None else "%.2f" % c[2]))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("get")
    g.add_argument("url")
    g.add_argument("out")
    g.add_argument("--rate", type=int, default=1 << 20)
    g.add_argument("--range")
    g.add_argument("--source")
    lo = sub.add_parser("loris")
    lo.add_argument("port", type=int)
    lo.add_argument("n", type=int)
    lo.add_argument("ready")
    lo.add_argument("stop")
    lo.add_argument("--host", default="127.0.0.1")
    lo.add_argument("--source")
    lo.add_argument("--sources")
    lo.add_argument("--pid")
    rd = sub.add_parser("readers")
    rd.add_argument("url")
    rd.add_argument("n", type=int)
    rd.add_argument("ready")
    rd.add_argument("stop")
    rd.add_argument("--sources")
    rd.add_argument("--rate", type=int, default=64)
    rd.add_argument("--rcvbuf", type=int, default=4096)
    rd.add_argument("--progress")
    pr = sub.add_parser("probe")
    pr.add_argument("host")
    pr.add_argument("port", type=int)
    pr.add_argument("kind", choices=["garbage", "hello", "plain", "tlsbyte", "idle", "partial"])
    pr.add_argument("--source")
    pr.add_argument("--wait", type=float, default=3.0)
    h = sub.add_parser("hold")
    h.add_argument("host")
    h.add_argument("port", type=int)
    h.add_argument("n", type=int)
    h.add_argument("first", type=int)
    h.add_argument("--source")
    h.add_argument("--wait", type=float, default=2.0)
    a = p.parse_args()
    return {"get": cmd_get, "loris": cmd_loris, "readers": cmd_readers, "probe": cmd_probe, "hold": cmd_hold}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())

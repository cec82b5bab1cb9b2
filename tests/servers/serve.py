#!/usr/bin/python3
"""serve.py — real servers on 127.0.0.1 for the URL import tests (SPEC §5.2).

Run with Debian's interpreter, /usr/bin/python3: the ftp mode needs
python3-pyftpdlib, which a pyenv `python3` does not have.

    /usr/bin/python3 tests/servers/serve.py MODE [DIR] [--user U --password P]

binds a free port on 127.0.0.1, prints "PORT <n>" on stdout (the https mode
first prints "CA <file>": the test CA to verify it with), flushes, and serves
until SIGTERM or SIGINT.  Used by tests/unit/model/test_fetch.c (which reads
those lines from a pipe) and by the integration tests from bash:

    /usr/bin/python3 tests/servers/serve.py http "$T/files" > "$T/port" &
    wait_for grep -q PORT "$T/port"

Modes (DIR is the directory whose files are served; a path names a file in it):

  http DIR      GET/HEAD with Content-Length, a strong ETag ("<inode>-
                <size>-<mtime ns>" in hex) and Last-Modified; "Range:
                bytes=A-" and "bytes=A-B" answer 206 with Content-Range, a
                range starting at or past the end 416; with If-Range (RFC
                9110 §13.1.5) the range counts only when it names the
                current version (the ETag, strongly compared, or exactly
                the Last-Modified date): otherwise 200 with the whole file.
                Two special paths (in http, https and redirect):
                /goto?url=URL  answers 302 to URL;  /hop/N/NAME  answers 302
                to /hop/N-1/NAME, /hop/1/NAME to /NAME (N redirects in all).
  https DIR     http over TLS; the server certificate (127.0.0.1, localhost)
                is signed by a CA made with `openssl` in a temporary directory
                removed on exit.
  redirect DIR  the same as http (named for the redirect tests).
  noranges DIR  http that ignores Range: always 200 with the whole file.
  weaketag DIR  http whose ETags are weak (W/"..."), as servers that compress
                on the fly send them: If-Range can only name the date.
  noifrange DIR http that ignores If-Range (a server or proxy without it):
                a range is honoured whatever the file became.
  plain206 DIR  http whose 206 answers carry no ETag or Last-Modified: only
                its If-Range tells a client that a range is of its version.
  chunked DIR   http without Content-Length (Transfer-Encoding: chunked).
  slow DIR      http sending 16 KiB every 20 ms (about 800 KiB/s).
  trickle DIR   http sending 4 KiB every 40 ms (about 100 KB/s: above the
                imports' default rate floor of 64 KiB/s, so an import from
                it runs for as long as the file lasts).
  stubborn DIR  trickle that ignores Range (noranges at trickle's pace): an
                import from it cannot stop and resume later (SPEC §8).
  dribble DIR   http sending 2 bytes a second (a server that holds a client).
  short DIR     announces the file's length, sends half of it, closes cleanly.
  reset DIR     announces the file's length, sends half of it, then resets
                the connection (SO_LINGER 0).
  stall         any path: 200 with Content-Length 1048576, 1000 bytes, then
                silence until the client goes away.
  404           any path: 404 Not Found.
  ftp DIR       pyftpdlib, read-only, one account: --user U --password P
                (default imgfs / imgfs-secret); passive mode.
  selfcheck     starts every mode above as a child and checks it with the
                standard library (urllib, http.client, ftplib); prints one
                line per mode and exits 0 when all behave.

Every mode reads a file afresh at each request: a file changes the way it
does on a real server when a test replaces it in DIR (a rename over it),
and the next request gets the new bytes, ETag and Last-Modified (a
transfer already under way keeps the version it started with).

Set SERVE_VERBOSE=1 to get the servers' request logs on stderr.  Set
SERVE_LOG=FILE to have each GET of a file counted there, one line when it
ends however it ends: "GET <path> <Range header or -> <status> <bytes of
body sent>" (the body's bytes the server wrote before the client went
away: what an import that survives its host fetches twice, SPEC §13).
"""
import argparse
import email.utils
import http.client
import http.server
import os
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HTTP_MODES = ("http", "https", "redirect", "noranges", "weaketag", "noifrange", "plain206", "chunked", "slow", "trickle",
              "stubborn", "dribble", "short", "reset", "stall", "404")
VERBOSE = os.environ.get("SERVE_VERBOSE") == "1"
SERVE_LOG = os.environ.get("SERVE_LOG", "")
SERVE_LOG_LOCK = threading.Lock()


def log_request_sent(handler, code, sent):
    """One line in SERVE_LOG per GET of a file (see the top)."""
    if not SERVE_LOG or handler.command != "GET":
        return
    line = "GET %s %s %d %d\n" % (handler.path, handler.headers.get("Range", "-").replace(" ", ""), code, sent)
    with SERVE_LOG_LOCK, open(SERVE_LOG, "a") as f:
        f.write(line)
STALL_LENGTH = 1 << 20
STALL_SENT = 1000


class Handler(http.server.BaseHTTPRequestHandler):
    """One handler for every HTTP mode; self.server.mode picks the behaviour."""

    protocol_version = "HTTP/1.1"
    server_version = "imgfs-test"

    def log_message(self, fmt, *args):
        if VERBOSE:
            sys.stderr.write("%s %s\n" % (self.server.mode, fmt % args))

    def do_HEAD(self):
        self.answer(head=True)

    def do_GET(self):
        self.answer(head=False)

    def answer(self, head):
        mode = self.server.mode
        try:
            if mode == "404":
                return self.plain(404, b"not found\n", head)
            if mode == "stall":
                return self.stall()
            url = urllib.parse.urlsplit(self.path)
            if mode in ("http", "https", "redirect") and self.redirect(url):
                return
            path = self.file_path(url.path)
            if path is None:
                return self.plain(404, b"no such file\n", head)
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())  # the version read, even if replaced meanwhile
                data = f.read()
            self.serve_file(data, st, head)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def plain(self, code, body, head):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def redirect(self, url):
        if url.path == "/goto":
            target = urllib.parse.parse_qs(url.query).get("url", [""])[0]
        else:
            m = re.fullmatch(r"/hop/(\d+)/(.+)", url.path)
            if not m:
                return False
            n = int(m.group(1))
            target = "/" + m.group(2) if n <= 1 else "/hop/%d/%s" % (n - 1, m.group(2))
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def file_path(self, urlpath):
        rel = urllib.parse.unquote(urlpath).lstrip("/")
        root = os.path.realpath(self.server.root)
        path = os.path.realpath(os.path.join(root, rel))
        if not path.startswith(root + os.sep) or not os.path.isfile(path):
            return None
        return path

    def validators(self, st):
        """(ETag, Last-Modified) of the version of a file whose stat is st."""
        etag = '"%x-%x-%x"' % (st.st_ino, st.st_size, st.st_mtime_ns)
        if self.server.mode == "weaketag":
            etag = "W/" + etag
        return etag, email.utils.formatdate(st.st_mtime, usegmt=True)

    def if_range_holds(self, etag, last_modified):
        """RFC 9110 §13.1.5: no If-Range, or one naming the current version."""
        v = self.headers.get("If-Range")
        if v is None or self.server.mode == "noifrange":
            return True
        v = v.strip()
        if v.startswith('"'):  # a strong comparison: a weak tag never matches
            return not etag.startswith("W/") and v == etag
        return not v.startswith("W/") and v == last_modified

    def requested_range(self, size, etag, last_modified):
        """(start, end) of a satisfiable single range, "bad" for 416, None for none."""
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        if not m or self.server.mode in ("noranges", "stubborn") or not self.if_range_holds(etag, last_modified):
            return None
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if start >= size or end < start:
            return "bad"
        return start, min(end, size - 1)

    def serve_file(self, data, st, head):
        mode = self.server.mode
        etag, last_modified = self.validators(st)
        rng = self.requested_range(len(data), etag, last_modified)
        if rng == "bad":
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % len(data))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if rng is None:
            self.send_response(200)
            body = data
        else:
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (rng[0], rng[1], len(data)))
            body = data[rng[0]:rng[1] + 1]
        self.send_header("Content-Type", "application/octet-stream")
        if not (mode == "plain206" and rng is not None):
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
        self.send_header("Accept-Ranges", "none" if mode in ("noranges", "stubborn") else "bytes")
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        if mode in ("short", "reset"):
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if mode == "chunked":
            self.send_chunked(body)
        elif mode in ("slow", "trickle", "stubborn"):
            piece, pause = (16384, 0.02) if mode == "slow" else (4096, 0.04)
            sent = 0
            try:
                for i in range(0, len(body), piece):
                    self.wfile.write(body[i:i + piece])
                    self.wfile.flush()
                    sent += len(body[i:i + piece])
                    time.sleep(pause)
            finally:
                log_request_sent(self, 200 if rng is None else 206, sent)
        elif mode == "dribble":
            for i in range(0, len(body), 2):
                self.wfile.write(body[i:i + 2])
                self.wfile.flush()
                time.sleep(1)
        elif mode in ("short", "reset"):
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            if mode == "reset":
                self.reset()
        else:
            self.wfile.write(body)

    def send_chunked(self, body):
        for i in range(0, len(body), 65536):
            piece = body[i:i + 65536]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def reset(self):
        # A close with a zero linger time sends RST instead of FIN.  The
        # socket really closes only when the stream wrappers let go of it.
        time.sleep(0.1)  # let the half body leave first
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.wfile.close()
        self.connection.close()

    def stall(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(STALL_LENGTH))
        self.end_headers()
        self.wfile.write(b"s" * STALL_SENT)
        self.wfile.flush()
        self.close_connection = True
        # Silence until the client closes (readable + EOF) or an hour passes.
        sock = self.connection
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            r, _, _ = select.select([sock], [], [], 0.5)
            if r and not sock.recv(4096):
                return


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode, root, tls=None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = mode
        self.root = root
        self.tls = tls

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the connection's own thread, so a client
        # that never finishes it holds up nobody else.
        if self.tls is None:
            return super().finish_request(request, client_address)
        try:
            request = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return None
        try:
            return super().finish_request(request, client_address)
        finally:
            request.close()

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


def openssl(*args, cwd):
    subprocess.run(("openssl",) + args, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    """A test CA and a server certificate for 127.0.0.1 / localhost it signed."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "7",
            "-subj", "/CN=imgfs test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "7", "-extfile", "server.ext", cwd=d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    return os.path.join(d, "ca.pem"), ctx


def announce(port, ca=None):
    if ca:
        print("CA %s" % ca)
    print("PORT %d" % port, flush=True)


def serve_http(mode, root):
    certdir = tempfile.mkdtemp(prefix="imgfs-serve-") if mode == "https" else None
    try:
        ca, tls = make_certs(certdir) if certdir else (None, None)
        server = Server(mode, root, tls)
        announce(server.server_address[1], ca)
        server.serve_forever(poll_interval=0.2)
    finally:
        if certdir:
            shutil.rmtree(certdir, ignore_errors=True)


def serve_ftp(root, user, password):
    import logging
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    logging.basicConfig(level=logging.INFO if VERBOSE else logging.ERROR)
    auth = DummyAuthorizer()
    auth.add_user(user, password, root, perm="elr")
    handler = type("Handler", (FTPHandler,), {"authorizer": auth, "banner": "imgfs test ftp"})
    server = FTPServer(("127.0.0.1", 0), handler)
    announce(server.socket.getsockname()[1])
    server.serve_forever(timeout=0.2, handle_exit=False)


# ---- selfcheck -------------------------------------------------------------

def start(mode, root, extra=()):
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), mode] + ([root] if root else []) + list(extra),
                         stdout=subprocess.PIPE, text=True)
    info = {}
    for line in p.stdout:
        key, _, val = line.strip().partition(" ")
        info[key] = val
        if key == "PORT":
            break
    return p, int(info["PORT"]), info.get("CA")


def get(port, path, headers=None, ctx=None, timeout=10):
    conn = (http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout) if ctx
            else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    conn.request("GET", path, headers=headers or {})
    return conn.getresponse()


def ranged(port, path, if_range, ctx):
    """(status, body) of GET path with "Range: bytes=10-" and If-Range."""
    r = get(port, path, {"Range": "bytes=10-", "If-Range": if_range}, ctx=ctx)
    return r.status, r.read()


def check_if_range(mode, port, data, ctx):
    r = get(port, "/f.bin", ctx=ctx)
    r.read()
    etag, lm = r.getheader("ETag"), r.getheader("Last-Modified")
    assert etag and lm and email.utils.parsedate_to_datetime(lm), (etag, lm)
    assert etag.startswith("W/") == (mode == "weaketag"), etag
    strong = etag[2:] if etag.startswith("W/") else etag
    whole, part = (200, data), (206, data[10:])
    cases = {lm: part, '"other"': whole, etag: part, "W/" + strong: whole,
             "Thu, 01 Jan 1970 00:00:00 GMT": whole}
    if mode == "weaketag":
        cases[etag] = whole
    for v, want in cases.items():
        if mode in ("noranges", "stubborn"):
            want = whole
        elif mode == "noifrange":
            want = part
        got = ranged(port, "/f.bin", v, ctx)
        assert got == want, "If-Range %s: %d, %d bytes" % (v, got[0], len(got[1]))
    r = get(port, "/f.bin", {"Range": "bytes=10-"}, ctx=ctx)
    r.read()
    assert (r.status == 206 and r.getheader("ETag") is None) == (mode == "plain206")


def check_change(port, root, ctx):
    """A file replaced in DIR: new bytes, new validators, old ones fail If-Range."""
    path = os.path.join(root, "g.bin")
    old, new = os.urandom(5000), os.urandom(5000)
    with open(path, "wb") as f:
        f.write(old)
    r = get(port, "/g.bin", ctx=ctx)
    assert r.read() == old
    etag, lm = r.getheader("ETag"), r.getheader("Last-Modified")
    assert ranged(port, "/g.bin", etag, ctx) == (206, old[10:])
    with open(path + ".tmp", "wb") as f:
        f.write(new)
    t = os.stat(path).st_mtime + 10
    os.utime(path + ".tmp", (t, t))
    os.rename(path + ".tmp", path)
    for v in (etag, lm):
        assert ranged(port, "/g.bin", v, ctx) == (200, new), "If-Range %s after the change" % v
    r = get(port, "/g.bin", ctx=ctx)
    assert r.read() == new and r.getheader("ETag") != etag and r.getheader("Last-Modified") != lm


def check_mode(mode, root, data):
    extra = ("--user", "u", "--password", "p w") if mode == "ftp" else ()
    p, port, ca = start(mode, None if mode in ("stall", "404") else root, extra)
    try:
        if mode == "ftp":
            import ftplib
            with ftplib.FTP() as f:
                f.connect("127.0.0.1", port, timeout=10)
                f.login("u", "p w")
                got = bytearray()
                f.retrbinary("RETR f.bin", got.extend)
                assert got == data and f.size("f.bin") == len(data)
            return
        if mode == "404":
            assert get(port, "/f.bin").status == 404
            return
        if mode == "stall":
            r = get(port, "/x", timeout=1)
            assert r.status == 200 and r.getheader("Content-Length") == str(STALL_LENGTH)
            assert len(r.read(STALL_SENT)) == STALL_SENT
            try:
                r.read(1)
                raise AssertionError("stall sent more")
            except socket.timeout:
                return
        ctx = ssl.create_default_context(cafile=ca) if mode == "https" else None
        if mode == "dribble":
            r = get(port, "/f.bin")
            assert r.status == 200 and r.getheader("Content-Length") == str(len(data))
            t0 = time.monotonic()
            assert r.read(4) == data[:4]  # 2 bytes, a second, 2 more
            assert time.monotonic() - t0 >= 0.9, "dribble sent 4 bytes at once"
            return
        if mode in ("short", "reset"):
            r = get(port, "/f.bin")
            assert r.getheader("Content-Length") == str(len(data))
            try:
                r.read()
                raise AssertionError("%s sent the whole body" % mode)
            except (http.client.IncompleteRead, ConnectionResetError):
                return
        r = get(port, "/f.bin", ctx=ctx)
        assert r.status == 200 and r.read() == data
        assert (r.getheader("Content-Length") is None) == (mode == "chunked")
        r = get(port, "/f.bin", {"Range": "bytes=10-"}, ctx=ctx)
        if mode in ("noranges", "stubborn"):
            assert r.status == 200 and r.read() == data
        else:
            assert r.status == 206 and r.read() == data[10:]
        if mode in ("http", "https", "redirect"):
            assert get(port, "/f.bin", {"Range": "bytes=%d-" % len(data)}, ctx=ctx).status == 416
            r = get(port, "/hop/2/f.bin", ctx=ctx)
            assert r.status == 302 and r.getheader("Location") == "/hop/1/f.bin"
            r = get(port, "/hop/1/f.bin", ctx=ctx)
            assert r.status == 302 and r.getheader("Location") == "/f.bin"
            r = get(port, "/goto?url=ftp%3A%2F%2Fh%2Fx", ctx=ctx)
            assert r.status == 302 and r.getheader("Location") == "ftp://h/x"
        check_if_range(mode, port, data, ctx)
        if mode == "http":
            check_change(port, root, ctx)
    finally:
        p.terminate()
        p.wait(10)


def selfcheck():
    root = tempfile.mkdtemp(prefix="imgfs-serve-check-")
    failed = 0
    try:
        data = os.urandom(100000)
        with open(os.path.join(root, "f.bin"), "wb") as f:
            f.write(data)
        for mode in HTTP_MODES + ("ftp",):
            try:
                check_mode(mode, root, data)
                print("ok %s" % mode)
            except Exception as e:  # report every mode, not just the first failure
                failed += 1
                print("FAIL %s: %r" % (mode, e))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description="test servers for imgfs URL import (modes: see the file's top)")
    ap.add_argument("mode", choices=HTTP_MODES + ("ftp", "selfcheck"))
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--user", default="imgfs")
    ap.add_argument("--password", default="imgfs-secret")
    a = ap.parse_args()
    # SIGTERM ends serve_forever through SystemExit, so `finally` cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if a.mode == "selfcheck":
        return selfcheck()
    if a.mode not in ("stall", "404") and not (a.dir and os.path.isdir(a.dir)):
        ap.error("mode %s needs a directory" % a.mode)
    try:
        if a.mode == "ftp":
            serve_ftp(a.dir, a.user, a.password)
        else:
            serve_http(a.mode, a.dir)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

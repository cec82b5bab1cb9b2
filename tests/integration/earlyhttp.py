#!/usr/bin/env python3
"""earlyhttp.py — an HTTP file server for the early-instance test
(test_early.sh; SPEC §6.5 "Early"), on 127.0.0.1, that serves ranges,
paces itself, can be stopped, paused and changed, and logs every byte it
sent.

  earlyhttp.py DIR CTL LOG [--rate B/s] [--shared]

Serves DIR's files with a strong ETag (the SHA-256 of the bytes served),
"Accept-Ranges: bytes", "Range: bytes=A-B" / "A-" (206, Content-Range),
If-Range (a tag that is not the file's: 200 and the whole file), pacing
itself at B bytes a second in pieces of 16 KiB (each response, or with
--shared all of them together: scripts/bench-early's link; in the server: what is
not sent yet is not in any buffer).  Prints "PORT <n>" once it listens.

CTL is a directory of switches, read before every piece:
  CTL/stop_at    (a number N) no byte at offset N or past it is sent while
                 the file exists: the response waits there
  CTL/stop_range (two numbers A B) no byte at an offset in [A, B) is sent
                 while the file exists
  CTL/pause      no byte is sent while it exists
  CTL/change     the files are served from DIR/changed/ (another ETag)
  CTL/unpaced    no pacing (a large file the test only needs whole)

GET /.sent/NAME answers (unpaced, unlogged) the bytes of NAME the sockets
took so far, in all responses, as a decimal number: what the source gave
by a moment (scripts/bench-early reads it at the guest's login prompt).

LOG gets a line "BEGIN <path> <first> <end> <status>" when a response's
headers were sent, and a line "SENT <path> <first> <end> <status>" per response once it
ended, <end> the offset after the last byte the socket took (so bytes the
server sent and nobody read count as sent: the test counts what the
source gave, not what the client kept); a response whose client closed
while it waited stops there.
"""
import argparse
import hashlib
import http.server
import os
import select
import socket
import socketserver
import sys
import threading
import time

PIECE = 16384


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("ctl")
    ap.add_argument("log")
    ap.add_argument("--rate", type=int, default=0)
    ap.add_argument("--shared", action="store_true")
    a = ap.parse_args()
    log_lock = threading.Lock()
    pace = {"next": 0.0}  # --shared: when the link is free for the next piece
    files = {}  # (path, size, mtime) -> (bytes, ETag): a range is not a read and a hash of the whole file
    sent = {}  # name -> bytes the sockets took (GET /.sent/NAME)

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def wait_switch(self, off):
            while True:
                if os.path.exists(os.path.join(a.ctl, "pause")):
                    time.sleep(0.05)
                    continue
                # A switch read while the test writes it (`echo N >FILE`
                # truncates, then writes) is read again, not taken as
                # absent: a gap let a held piece through.
                try:
                    with open(os.path.join(a.ctl, "stop_at")) as f:
                        stop = int(f.read().strip())
                    if off >= stop:
                        time.sleep(0.05)
                        continue
                except FileNotFoundError:
                    pass
                except ValueError:
                    time.sleep(0.005)
                    continue
                try:
                    with open(os.path.join(a.ctl, "stop_range")) as f:
                        lo, hi = (int(x) for x in f.read().split())
                    if lo <= off < hi:
                        time.sleep(0.05)
                        continue
                except FileNotFoundError:
                    pass
                except ValueError:
                    time.sleep(0.005)
                    continue
                return

        def client_gone(self):
            # A client that closed its end while the response waited: what
            # would be written now reaches nobody (and is not counted).
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def do_GET(self):
            if self.path.startswith("/.sent/"):
                with log_lock:
                    body = b"%d\n" % sent.get(os.path.basename(self.path), 0)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            base = a.dir
            if os.path.exists(os.path.join(a.ctl, "change")):
                base = os.path.join(a.dir, "changed")
            path = os.path.join(base, os.path.basename(self.path))
            try:
                st = os.stat(path)
                key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
                with log_lock:
                    hit = files.get(key)
                if hit is None:
                    with open(path, "rb") as f:
                        data = f.read()
                    hit = (data, '"%s"' % hashlib.sha256(data).hexdigest()[:32])
                    with log_lock:
                        files.clear()  # one file kept: scripts/bench-early's guest is large
                        files[key] = hit
            except OSError:
                self.send_error(404)
                return
            data, etag = hit
            first, end, status = 0, len(data), 200
            rng = self.headers.get("Range")
            ifr = self.headers.get("If-Range")
            if rng and (ifr is None or ifr == etag) and rng.startswith("bytes="):
                lo, _, hi = rng[6:].partition("-")
                first = int(lo)
                end = min(int(hi) + 1, len(data)) if hi else len(data)
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(end - first))
            self.send_header("ETag", etag)
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (first, end - 1, len(data)))
            self.end_headers()
            with log_lock, open(a.log, "a") as lf:
                lf.write("BEGIN %s %d %d %d\n" % (os.path.basename(self.path), first, end, status))
            off = first
            t0 = time.monotonic()
            sent0 = 0
            try:
                while off < end:
                    self.wait_switch(off)
                    if self.client_gone():
                        break
                    n = min(PIECE, end - off)
                    if a.rate and a.shared:
                        with log_lock:
                            due = max(time.monotonic(), pace["next"])
                            pace["next"] = due + n / a.rate
                        now = time.monotonic()
                        if due > now:
                            time.sleep(due - now)
                    elif a.rate and not os.path.exists(os.path.join(a.ctl, "unpaced")):
                        due = t0 + sent0 / a.rate
                        now = time.monotonic()
                        if due > now:
                            time.sleep(due - now)
                    self.wfile.write(data[off:off + n])
                    self.wfile.flush()
                    off += n
                    sent0 += n
                    with log_lock:
                        name = os.path.basename(self.path)
                        sent[name] = sent.get(name, 0) + n
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with log_lock, open(a.log, "a") as lf:
                    lf.write("SENT %s %d %d %d\n" % (os.path.basename(self.path), first, off, status))

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = S(("127.0.0.1", 0), H)
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""trickle.py — one tenant's uploads that hold the image API's upload slots
(SPEC §19.7, issue 70; test_serve_api_edge.sh).

  trickle.py PORT TOKEN IDS SOURCES READY FINISH OUT [FIRST GO]

For each image id of the file IDS (one a line), in order, a `PUT
/v2/images/<id>/file` from the next address of SOURCES (comma-separated,
one per connection, reused in turn when fewer), whose body (1 MiB and
4 KiB of zeros) comes at 2 KiB a second — above the API's floor of 1 KiB a
second, so nothing but the slots' shares stops it.  Once every connection
sent its first 2 KiB, READY is touched; once the file FINISH exists, the
rest of every body goes at once and each answer is read.  OUT gets one
line a connection: "<source> <status> <first words of the answer's body>".
With FIRST and GO, the connections after the first FIRST wait for the file
GO (they trickle meanwhile), so a test can see the first ones take their
slots before the others ask.
"""
import os
import socket
import sys
import time

port, token, ids_file, sources, ready, finish, out = sys.argv[1:8]
first, go = (int(sys.argv[8]), sys.argv[9]) if len(sys.argv) > 9 else (0, None)
ids = [line.strip() for line in open(ids_file) if line.strip()]
addrs = sources.split(",")
LENGTH = (1 << 20) + 4096
STEP = 2048
conns = []


def trickle():
    for c in conns:
        if c[2] + STEP < LENGTH:
            c[1].sendall(bytes(STEP))
            c[2] += STEP


for i, image in enumerate(ids):
    while go and i == first and not os.path.exists(go):
        time.sleep(1)
        trickle()
    src = addrs[i % len(addrs)]
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", int(port)))
    s.sendall(("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: %s\r\n"
               "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
               % (image, token, LENGTH)).encode() + bytes(STEP))
    conns.append([src, s, STEP])
open(ready, "w").close()
while not os.path.exists(finish):
    time.sleep(1)
    trickle()
with open(out, "w") as f:
    for src, s, sent in conns:
        s.sendall(bytes(LENGTH - sent))
    for src, s, sent in conns:
        s.settimeout(120)
        got = b""
        while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < 20:
            try:
                b = s.recv(4096)
            except socket.timeout:
                break
            if not b:
                break
            got += b
        head, _, body = got.partition(b"\r\n\r\n")
        status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "none"
        words = " ".join(body.decode(errors="replace").split()[:8])
        f.write("%s %s %s\n" % (src, status, words))
        s.close()

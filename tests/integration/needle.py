#!/usr/bin/env python3
"""needle.py — is a secret anywhere?  The encryption tests' search (SPEC §17).

    needle.py find NEEDLE PATH...

NEEDLE is a file of random bytes (the tests write a 1 MiB pattern into an
image or a disk).  Every PATH — a file, a directory (walked, every regular
file), or - for standard input (a database dump) — is searched for any of
16 windows of 48 bytes spread over NEEDLE, as raw bytes and as hex text in
either case (how sqlite3 .dump and pg_dump print BLOBs).  A window of
random bytes is nowhere by accident.  Sparse files (overlays of 40 GiB
disks) are read by their data extents only (SEEK_DATA/SEEK_HOLE).

Prints the first place found ("PATH at OFFSET") and exits 0; exits 1 when
the needle is nowhere; 2 on a usage error.
"""
import os
import sys

WINDOWS = 16
WIDTH = 48
BLOCK = 8 << 20


def windows(needle):
    if len(needle) < WINDOWS * WIDTH:
        sys.exit("needle.py: the needle is too short (at least %d bytes)" % (WINDOWS * WIDTH))
    step = (len(needle) - WIDTH) // (WINDOWS - 1)
    raw = [needle[k * step:k * step + WIDTH] for k in range(WINDOWS)]
    out = list(raw)
    for w in raw:
        h = w.hex().encode()
        out += [h, h.upper()]
    return out


def extents(fd, size):
    off = 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            return
        h = os.lseek(fd, d, os.SEEK_HOLE)
        yield d, h
        off = max(h, d + 1)


def search_stream(read, wins, keep):
    """Reads blocks with read(), keeping the last `keep` bytes between them."""
    tail = b""
    pos = 0
    while True:
        b = read()
        if not b:
            return None
        buf = tail + b
        for w in wins:
            i = buf.find(w)
            if i >= 0:
                return pos - len(tail) + i
        tail = buf[-keep:]
        pos += len(b)


def search_file(path, wins, keep):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        for d, h in extents(fd, size):
            off = d

            def read():
                nonlocal off
                if off >= h:
                    return b""
                b = os.pread(fd, min(BLOCK, h - off), off)
                off += len(b)
                return b

            at = search_stream(read, wins, keep)
            if at is not None:
                return d + at
    finally:
        os.close(fd)
    return None


def main():
    if len(sys.argv) < 4 or sys.argv[1] != "find":
        sys.exit(2)
    with open(sys.argv[2], "rb") as f:
        wins = windows(f.read())
    keep = 2 * WIDTH
    for p in sys.argv[3:]:
        if p == "-":
            at = search_stream(lambda: sys.stdin.buffer.read(BLOCK), wins, keep)
            if at is not None:
                print("standard input at %d" % at)
                return 0
            continue
        paths = [p]
        if os.path.isdir(p):
            paths = []
            for root, _, files in os.walk(p):
                paths += [os.path.join(root, n) for n in files]
        for f in paths:
            if not os.path.isfile(f) or os.path.islink(f):
                continue
            at = search_file(f, wins, keep)
            if at is not None:
                print("%s at %d" % (f, at))
                return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())

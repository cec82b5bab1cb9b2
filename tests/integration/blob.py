#!/usr/bin/env python3
"""Blob checks for the integration tests (SPEC §2.3).

    blob.py datamap REF
        Prints the 1 MiB chunk indexes of REF that hold data (a chunk is data
        iff not all its bytes are zero), one a line.
    blob.py datablocks REF
        Prints the 512-byte blocks the data chunks of REF take
        (ceil(data bytes / 512)): what st_blocks of the blob must say.
    blob.py seekcheck BLOB REF
        Checks lseek(SEEK_DATA) and lseek(SEEK_HOLE) on BLOB at every chunk
        start, in the middle of every chunk and at/after EOF against the
        data map of REF.
    blob.py preads BLOB REF THREADS READS SEED
        THREADS threads (half with their own descriptor, half sharing one)
        each do READS preads at random offsets with random odd sizes, half
        of them inside data chunks; every result must equal REF's bytes.
    blob.py rchar CMD ARGS...
        Runs CMD and prints the bytes it read through read(2)-like calls
        (/proc/PID/io rchar, taken from the zombie before it is reaped).
        Exits with CMD's status if it failed.
    blob.py tail BLOB OFFSET LEN OUT
        Reads LEN bytes of BLOB from OFFSET (to its end if LEN is -1) with
        pread, in pieces of an odd size, into OUT.
    blob.py find-chunk FILE CHUNKFILE
        Prints the offset of FILE at which CHUNKFILE's bytes stand (1 MiB
        aligned), or nothing.

Reference files may be sparse: holes are found with SEEK_DATA first (they
read as zeros anyway), which keeps the scan of a 1 GiB disk fast.
"""
import errno
import os
import random
import subprocess
import sys
import threading

CHUNK = 1 << 20


def data_chunks(ref):
    """Set of chunk indexes of ref that contain a non-zero byte."""
    fd = os.open(ref, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        out = set()
        off = 0
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    break
                raise
            i = d // CHUNK
            start = i * CHUNK
            buf = os.pread(fd, min(CHUNK, size - start), start)
            if buf.count(0) != len(buf):
                out.add(i)
            off = start + CHUNK
        return out, size
    finally:
        os.close(fd)


def chunk_len(i, size):
    return min(CHUNK, size - i * CHUNK)


def cmd_datamap(ref):
    chunks, _ = data_chunks(ref)
    for i in sorted(chunks):
        print(i)


def cmd_datablocks(ref):
    chunks, size = data_chunks(ref)
    total = sum(chunk_len(i, size) for i in chunks)
    print((total + 511) // 512)


def lseek_or_errno(fd, off, whence):
    try:
        return os.lseek(fd, off, whence)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def cmd_seekcheck(blob, ref):
    data, size = data_chunks(ref)
    n = (size + CHUNK - 1) // CHUNK

    def exp_data(off):
        if off >= size:
            return "ENXIO"
        i = off // CHUNK
        if i in data:
            return off
        for j in range(i + 1, n):
            if j in data:
                return j * CHUNK
        return "ENXIO"

    def exp_hole(off):
        if off >= size:
            return "ENXIO"
        i = off // CHUNK
        if i not in data:
            return off
        j = i
        while j < n and j in data:
            j += 1
        return min(j * CHUNK, size)

    fd = os.open(blob, os.O_RDONLY)
    bad = 0
    checked = 0
    try:
        offsets = []
        for i in range(n):
            offsets.append(i * CHUNK)
            mid = i * CHUNK + CHUNK // 2 + 7
            if mid < size:
                offsets.append(mid)
        offsets += [size, size + 1, size + CHUNK]
        for off in offsets:
            for whence, name, exp in ((os.SEEK_DATA, "SEEK_DATA", exp_data),
                                      (os.SEEK_HOLE, "SEEK_HOLE", exp_hole)):
                got = lseek_or_errno(fd, off, whence)
                want = exp(off)
                checked += 1
                if got != want:
                    bad += 1
                    if bad <= 10:
                        print("lseek(%d, %s) = %s, expected %s (chunk %d is %s)"
                              % (off, name, got, want, off // CHUNK,
                                 "data" if off // CHUNK in data else "hole"),
                              file=sys.stderr)
    finally:
        os.close(fd)
    print("    %d lseek calls checked, %d data chunks of %d, %d wrong"
          % (checked, len(data), n, bad))
    return 1 if bad else 0


def cmd_preads(blob, ref, threads, reads, seed):
    data, size = data_chunks(ref)
    data = sorted(data)
    rfd = os.open(ref, os.O_RDONLY)
    shared = os.open(blob, os.O_RDONLY)
    errors = []

    def worker(k):
        rnd = random.Random(seed * 1000 + k)
        fd = shared if k % 2 else os.open(blob, os.O_RDONLY)
        try:
            for _ in range(reads):
                if data and rnd.random() < 0.5:
                    off = rnd.choice(data) * CHUNK + rnd.randrange(-4099, CHUNK)
                else:
                    off = rnd.randrange(0, size + 2 * CHUNK)
                off = max(0, off)
                length = rnd.randrange(1, 3 * CHUNK) | 1
                got = os.pread(fd, length, off)
                want = os.pread(rfd, length, off)
                if got != want:
                    errors.append("pread(off=%d, len=%d): %d bytes, expected %d%s"
                                  % (off, length, len(got), len(want),
                                     "" if len(got) != len(want) else ", contents differ"))
                    return
        except OSError as e:
            errors.append("pread failed: %s" % e)
        finally:
            if fd != shared:
                os.close(fd)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    os.close(shared)
    os.close(rfd)
    for e in errors:
        print(e, file=sys.stderr)
    print("    %d threads x %d preads, %d failures" % (threads, reads, len(errors)))
    return 1 if errors else 0


def cmd_rchar(argv):
    p = subprocess.Popen(argv)
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    rchar = None
    with open("/proc/%d/io" % p.pid) as f:
        for line in f:
            if line.startswith("rchar:"):
                rchar = int(line.split()[1])
    rc = p.wait()
    if rc != 0:
        print("%s exited %d" % (argv[0], rc), file=sys.stderr)
        return rc
    print(rchar)
    return 0


def cmd_tail(blob, off, length, out):
    fd = os.open(blob, os.O_RDONLY)
    end = None if length < 0 else off + length
    with open(out, "wb") as f:
        while end is None or off < end:
            want = 3 * CHUNK + 5 if end is None else min(3 * CHUNK + 5, end - off)
            b = os.pread(fd, want, off)
            if not b:
                break
            f.write(b)
            off += len(b)
    os.close(fd)


def cmd_find_chunk(path, chunkfile):
    want = open(chunkfile, "rb").read()
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    for off in range(0, size, CHUNK):
        if os.pread(fd, len(want), off) == want:
            print(off)
            break
    os.close(fd)


def main(a):
    if len(a) < 2:
        sys.stderr.write(__doc__)
        return 2
    op = a[1]
    if op == "datamap" and len(a) == 3:
        return cmd_datamap(a[2])
    if op == "datablocks" and len(a) == 3:
        return cmd_datablocks(a[2])
    if op == "seekcheck" and len(a) == 4:
        return cmd_seekcheck(a[2], a[3])
    if op == "preads" and len(a) == 7:
        return cmd_preads(a[2], a[3], int(a[4]), int(a[5]), int(a[6]))
    if op == "rchar" and len(a) >= 3:
        return cmd_rchar(a[2:])
    if op == "tail" and len(a) == 6:
        return cmd_tail(a[2], int(a[3]), int(a[4]), a[5])
    if op == "find-chunk" and len(a) == 4:
        return cmd_find_chunk(a[2], a[3])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)

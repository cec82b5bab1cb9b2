#!/usr/bin/env python3
"""fsx.py — a file-system exerciser in the manner of xfstests' fsx (our own
small one: CI cannot fetch xfstests, and we do not copy its code).

    fsx.py FILE [-n OPS] [-S SEED] [-l MAXLEN] [-o MAXOPLEN] [--no-punch] [--no-zero]

Runs OPS random operations on FILE — reads, writes, truncates, punch-holes
(fallocate PUNCH_HOLE|KEEP_SIZE), zero-ranges (ZERO_RANGE, with and without
KEEP_SIZE), fsyncs, mapped reads, and closing and reopening the file — and
checks every read, every size and, now and then, the whole file and what
SEEK_DATA/SEEK_HOLE report (a hole must read as zeros) against a reference
copy of the bytes kept in memory.  Offsets and lengths are unaligned, small
ones common, some spanning several 1 MiB chunks and some covering whole
chunks.  The file is truncated to 0 first.

Prints the seed and a summary; on a miscompare prints the operations that
led to it and the first differing bytes, and exits 1.  Exit 2: usage, or
the file system refused an operation it should take.
"""
import argparse
import ctypes
import errno
import mmap
import os
import random
import sys

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
MiB = 1 << 20

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class Miscompare(Exception):
    pass


class Fsx:
    def __init__(self, path, args):
        self.path = path
        self.a = args
        self.rnd = random.Random(args.seed)
        self.good = bytearray()
        self.log = []
        self.fd = os.open(path, os.O_RDWR)
        os.ftruncate(self.fd, 0)
        self.counts = {}

    # -- the reference ----------------------------------------------------
    def ref_resize(self, size):
        if size < len(self.good):
            del self.good[size:]
        else:
            self.good.extend(bytes(size - len(self.good)))

    def ref_zero(self, off, length, keep):
        end = off + length
        if not keep and end > len(self.good):
            self.ref_resize(end)
        end = min(end, len(self.good))
        if off < end:
            self.good[off:end] = bytes(end - off)

    # -- checks -------------------------------------------------------------
    def fail(self, what):
        sys.stderr.write("fsx: MISCOMPARE after %d operations (seed %d): %s\n" %
                         (len(self.log), self.a.seed, what))
        sys.stderr.write("fsx: the last operations:\n")
        for line in self.log[-30:]:
            sys.stderr.write("    %s\n" % line)
        raise Miscompare(what)

    def compare(self, got, off, what):
        want = bytes(self.good[off:off + len(got)])
        if got != want:
            for i in range(len(got)):
                if got[i] != want[i]:
                    break
            self.fail("%s: byte %d (offset %d) is 0x%02x, expected 0x%02x" %
                      (what, i, off + i, got[i], want[i]))

    def check_size(self, what):
        size = os.fstat(self.fd).st_size
        if size != len(self.good):
            self.fail("%s: size %d, expected %d" % (what, size, len(self.good)))

    def check_all(self):
        self.check_size("whole-file check")
        off = 0
        while off < len(self.good):
            n = min(4 * MiB, len(self.good) - off)
            got = os.pread(self.fd, n, off)
            if len(got) != n:
                self.fail("whole-file check: short read of %d at %d (%d bytes)" % (n, off, len(got)))
            self.compare(got, off, "whole-file check")
            off += n
        # Every hole SEEK_HOLE reports reads as zeros in the reference.
        off = 0
        size = len(self.good)
        while off < size:
            try:
                h = os.lseek(self.fd, off, os.SEEK_HOLE)
            except OSError as e:
                self.fail("SEEK_HOLE at %d: %s" % (off, e))
            if h >= size:
                break
            try:
                d = os.lseek(self.fd, h, os.SEEK_DATA)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    self.fail("SEEK_DATA at %d: %s" % (h, e))
                d = size
            if any(self.good[h:d]):
                self.fail("SEEK_HOLE reports a hole at %d..%d that holds data" % (h, d))
            off = d

    # -- operations ---------------------------------------------------------
    def rand_len(self, maxop):
        r = self.rnd.random()
        if r < 0.1:
            return self.rnd.randint(1, 3) * MiB  # whole chunks
        if r < 0.25:
            return self.rnd.randint(1, 3 * MiB)  # spanning chunks
        return self.rnd.randint(1, maxop)

    def rand_off(self, length, allow_past=True):
        size = len(self.good)
        r = self.rnd.random()
        if r < 0.15:
            off = self.rnd.randint(0, self.a.maxlen // MiB) * MiB
        elif r < 0.25 and allow_past:
            off = size + self.rnd.randint(0, MiB)
        else:
            off = self.rnd.randint(0, max(size, 1))
        return max(0, min(off, self.a.maxlen - length))

    def op_read(self):
        length = self.rand_len(self.a.maxoplen)
        off = self.rand_off(length, False)
        self.log.append("read %d+%d" % (off, length))
        got = os.pread(self.fd, length, off)
        want = max(0, min(length, len(self.good) - off))
        if len(got) != want:
            self.fail("read %d+%d: %d bytes, expected %d" % (off, length, len(got), want))
        self.compare(got, off, "read %d+%d" % (off, length))

    def op_mapread(self):
        size = len(self.good)
        if size == 0:
            return self.op_read()
        off = self.rnd.randint(0, size - 1)
        length = min(self.rand_len(self.a.maxoplen), size - off)
        self.log.append("mapread %d+%d" % (off, length))
        start = off & ~(mmap.ALLOCATIONGRANULARITY - 1)
        m = mmap.mmap(self.fd, off + length - start, mmap.MAP_SHARED, mmap.PROT_READ, offset=start)
        try:
            got = m[off - start:off - start + length]
        finally:
            m.close()
        self.compare(got, off, "mapread %d+%d" % (off, length))

    def op_write(self):
        length = self.rand_len(self.a.maxoplen)
        off = self.rand_off(length)
        data = bytes(self.rnd.getrandbits(8) for _ in range(min(length, 256)))
        data = (data * (length // len(data) + 1))[:length]
        if self.rnd.random() < 0.05:
            data = bytes(length)  # zeros written are data too
        self.log.append("write %d+%d" % (off, length))
        n = os.pwrite(self.fd, data, off)
        if n != length:
            self.fail("write %d+%d: wrote %d" % (off, length, n))
        if off + length > len(self.good):
            self.ref_resize(off + length)
        self.good[off:off + length] = data

    def op_truncate(self):
        size = self.rnd.randint(0, self.a.maxlen)
        if self.rnd.random() < 0.3:
            size &= ~(MiB - 1)
        self.log.append("truncate %d (from %d)" % (size, len(self.good)))
        os.ftruncate(self.fd, size)
        self.ref_resize(size)

    def op_punch(self):
        length = self.rand_len(self.a.maxoplen)
        off = self.rand_off(length)
        self.log.append("punch %d+%d" % (off, length))
        fallocate(self.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, length)
        self.ref_zero(off, length, True)

    def op_zero(self):
        length = self.rand_len(self.a.maxoplen)
        off = self.rand_off(length)
        keep = self.rnd.random() < 0.5
        self.log.append("zero %d+%d%s" % (off, length, " keep_size" if keep else ""))
        fallocate(self.fd, FALLOC_FL_ZERO_RANGE | (FALLOC_FL_KEEP_SIZE if keep else 0), off, length)
        self.ref_zero(off, length, keep)

    def op_fsync(self):
        self.log.append("fsync")
        os.fsync(self.fd)

    def op_reopen(self):
        self.log.append("close and reopen")
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_RDWR)

    def run(self):
        ops = [(self.op_read, 25), (self.op_mapread, 5), (self.op_write, 30), (self.op_truncate, 6),
               (self.op_fsync, 2), (self.op_reopen, 2)]
        if self.a.punch:
            ops.append((self.op_punch, 12))
        if self.a.zero:
            ops.append((self.op_zero, 12))
        funcs = [f for f, w in ops for _ in range(w)]
        for i in range(1, self.a.ops + 1):
            f = self.rnd.choice(funcs)
            try:
                f()
            except OSError as e:
                sys.stderr.write("fsx: %s failed: %s (seed %d)\n" % (self.log[-1] if self.log else "?", e,
                                                                      self.a.seed))
                return 2
            name = f.__name__[3:]
            self.counts[name] = self.counts.get(name, 0) + 1
            self.check_size(self.log[-1])
            if i % 200 == 0:
                self.check_all()
        self.check_all()
        os.close(self.fd)
        print("fsx: %d operations, no miscompare (seed %d; %s)" %
              (self.a.ops, self.a.seed, ", ".join("%s %d" % kv for kv in sorted(self.counts.items()))))
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file")
    p.add_argument("-n", dest="ops", type=int, default=2000)
    p.add_argument("-S", dest="seed", type=int, default=None)
    p.add_argument("-l", dest="maxlen", type=int, default=16 * MiB)
    p.add_argument("-o", dest="maxoplen", type=int, default=64 * 1024)
    p.add_argument("--no-punch", dest="punch", action="store_false")
    p.add_argument("--no-zero", dest="zero", action="store_false")
    a = p.parse_args()
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    try:
        return Fsx(a.file, a).run()
    except Miscompare:
        return 1


if __name__ == "__main__":
    sys.exit(main())

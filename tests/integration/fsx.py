#!/usr/bin/env python3
"""fsx.py — a file-system exerciser in the manner of xfstests' fsx (our own
small one: CI cannot fetch xfstests, and we do not copy its code).

    fsx.py FILE [-n OPS] [-S SEED] [-l MAXLEN] [-o MAXOPLEN] [--no-punch] [--no-zero]
           [--direct] [--aio] [--mapwrite]

Runs OPS random operations on FILE — reads, writes, truncates, punch-holes
(fallocate PUNCH_HOLE|KEEP_SIZE), zero-ranges (ZERO_RANGE, with and without
KEEP_SIZE), fsyncs, mapped reads, and closing and reopening the file — and
checks every read, every size and, now and then, the whole file and what
SEEK_DATA/SEEK_HOLE report (a hole must read as zeros) against a reference
copy of the bytes kept in memory.  Offsets and lengths are unaligned, small
ones common, some spanning several 1 MiB chunks and some covering whole
chunks.  The file is truncated to 0 first.

--direct adds reads and writes through a second descriptor opened O_DIRECT
(4 KiB-aligned offsets and lengths, page-aligned buffers), so the direct
path and the page cache's path of one file are checked against each other;
--aio (implies --direct) adds batches of up to 4 non-overlapping reads and
writes submitted at once with Linux AIO (io_submit, as qemu's aio=native
and fio's libaio do) on that descriptor; --mapwrite adds writes through a
shared mapping, each followed by msync(MS_SYNC) as xfstests' fsx does.

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

BLOCK = 4096  # O_DIRECT's alignment here

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
libc.syscall.restype = ctypes.c_long

# Linux AIO (linux/aio_abi.h, x86-64): the system calls themselves, no libaio.
SYS_io_setup, SYS_io_destroy, SYS_io_getevents, SYS_io_submit = 206, 207, 208, 209
IOCB_CMD_PREAD, IOCB_CMD_PWRITE = 0, 1


class Iocb(ctypes.Structure):
    _fields_ = [("aio_data", ctypes.c_uint64), ("aio_key", ctypes.c_uint32), ("aio_rw_flags", ctypes.c_int32),
                ("aio_lio_opcode", ctypes.c_uint16), ("aio_reqprio", ctypes.c_int16),
                ("aio_fildes", ctypes.c_uint32), ("aio_buf", ctypes.c_uint64), ("aio_nbytes", ctypes.c_uint64),
                ("aio_offset", ctypes.c_int64), ("aio_reserved2", ctypes.c_uint64), ("aio_flags", ctypes.c_uint32),
                ("aio_resfd", ctypes.c_uint32)]


class IoEvent(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64), ("obj", ctypes.c_uint64), ("res", ctypes.c_int64),
                ("res2", ctypes.c_int64)]


def aio_call(nr, *args):
    rc = libc.syscall(nr, *args)
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return rc


def aligned(n):
    """A page-aligned buffer of n bytes (anonymous memory), for O_DIRECT."""
    return mmap.mmap(-1, max(n, 1))


def buf_addr(m):
    return ctypes.addressof(ctypes.c_char.from_buffer(m))


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
        self.dfd = None
        self.ctx = ctypes.c_ulong(0)
        if args.direct or args.aio:
            self.dfd = os.open(path, os.O_RDWR | os.O_DIRECT)
        if args.aio:
            aio_call(SYS_io_setup, 8, ctypes.byref(self.ctx))

    def close(self):
        os.close(self.fd)
        if self.dfd is not None:
            os.close(self.dfd)
        if self.ctx.value:
            aio_call(SYS_io_destroy, self.ctx)

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
        data = self.rand_data(length)
        if self.rnd.random() < 0.05:
            data = bytes(length)  # zeros written are data too
        self.log.append("write %d+%d" % (off, length))
        n = os.pwrite(self.fd, data, off)
        if n != length:
            self.fail("write %d+%d: wrote %d" % (off, length, n))
        self.ref_write(off, data)

    def rand_data(self, length):
        data = bytes(self.rnd.getrandbits(8) for _ in range(min(length, 256)))
        return (data * (length // len(data) + 1))[:length]

    def ref_write(self, off, data):
        if off + len(data) > len(self.good):
            self.ref_resize(off + len(data))
        self.good[off:off + len(data)] = data

    def rand_block_range(self, end_max):
        """An aligned off, length with off + length <= end_max (aligned down)."""
        blocks = end_max // BLOCK
        n = self.rnd.choice([1, 1, 2, 4, 16, self.rnd.randint(1, max(1, self.a.maxoplen // BLOCK))])
        n = max(1, min(n, blocks))
        first = self.rnd.randint(0, max(0, blocks - n))
        return first * BLOCK, n * BLOCK

    def direct_read_check(self, off, got, length, what):
        want = max(0, min(length, len(self.good) - off))
        if len(got) != want:
            self.fail("%s: %d bytes, expected %d" % (what, len(got), want))
        self.compare(bytes(got), off, what)

    def op_dread(self):
        off, length = self.rand_block_range(max(len(self.good), BLOCK) + BLOCK)
        self.log.append("direct read %d+%d" % (off, length))
        m = aligned(length)
        try:
            n = os.preadv(self.dfd, [m], off)
            self.direct_read_check(off, m[:n], length, "direct read %d+%d" % (off, length))
        finally:
            m.close()

    def op_dwrite(self):
        off, length = self.rand_block_range(self.a.maxlen)
        data = self.rand_data(length)
        self.log.append("direct write %d+%d" % (off, length))
        m = aligned(length)
        try:
            m[:length] = data
            n = os.pwritev(self.dfd, [m], off)
        finally:
            m.close()
        if n != length:
            self.fail("direct write %d+%d: wrote %d" % (off, length, n))
        self.ref_write(off, data)

    def op_aio(self):
        """Up to 4 non-overlapping reads and writes in one io_submit: reads
        inside the old size (a write may extend the file meanwhile), writes
        anywhere below maxlen."""
        size = len(self.good)
        taken = []
        reqs = []
        for _ in range(self.rnd.randint(1, 4)):
            write = size < BLOCK or self.rnd.random() < 0.5
            off, length = self.rand_block_range(self.a.maxlen if write else size)
            if any(off < e and o < off + length for o, e in taken):
                continue
            taken.append((off, off + length))
            reqs.append((write, off, length, self.rand_data(length) if write else None))
        self.log.append("aio " + ", ".join("%s %d+%d" % ("write" if w else "read", o, n) for w, o, n, _ in reqs))
        bufs, cbs = [], []
        for i, (write, off, length, data) in enumerate(reqs):
            m = aligned(length)
            if write:
                m[:length] = data
            cb = Iocb(aio_data=i, aio_lio_opcode=IOCB_CMD_PWRITE if write else IOCB_CMD_PREAD,
                      aio_fildes=self.dfd, aio_buf=buf_addr(m), aio_nbytes=length, aio_offset=off)
            bufs.append(m)
            cbs.append(cb)
        ptrs = (ctypes.POINTER(Iocb) * len(cbs))(*[ctypes.pointer(c) for c in cbs])
        try:
            if aio_call(SYS_io_submit, self.ctx, len(cbs), ptrs) != len(cbs):
                self.fail("aio: io_submit took fewer than %d" % len(cbs))
            events = (IoEvent * len(cbs))()
            got = 0
            while got < len(cbs):
                got += aio_call(SYS_io_getevents, self.ctx, len(cbs) - got, len(cbs) - got,
                                ctypes.byref(events, got * ctypes.sizeof(IoEvent)), None)
            for ev in events:
                write, off, length, data = reqs[ev.data]
                if ev.res < 0:
                    raise OSError(-ev.res, "aio %s %d+%d: %s" % ("write" if write else "read", off, length,
                                                                  os.strerror(-ev.res)))
                if write and ev.res != length:
                    self.fail("aio write %d+%d: wrote %d" % (off, length, ev.res))
            # Reads against the old bytes (no write overlaps them), then writes.
            for ev in events:
                write, off, length, data = reqs[ev.data]
                if not write:
                    self.direct_read_check(off, bufs[ev.data][:ev.res], length, "aio read %d+%d" % (off, length))
            for write, off, length, data in reqs:
                if write:
                    self.ref_write(off, data)
        finally:
            for m in bufs:
                m.close()

    def op_mapwrite(self):
        size = len(self.good)
        if size == 0:
            return self.op_write()
        off = self.rnd.randint(0, size - 1)
        length = min(self.rand_len(self.a.maxoplen), size - off)
        data = self.rand_data(length)
        self.log.append("mapwrite %d+%d" % (off, length))
        start = off & ~(mmap.ALLOCATIONGRANULARITY - 1)
        m = mmap.mmap(self.fd, off + length - start, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                      offset=start)
        try:
            m[off - start:off - start + length] = data
            m.flush()  # msync(MS_SYNC)
        finally:
            m.close()
        self.ref_write(off, data)

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
        if self.a.direct or self.a.aio:
            ops += [(self.op_dread, 12), (self.op_dwrite, 12)]
        if self.a.aio:
            ops.append((self.op_aio, 12))
        if self.a.mapwrite:
            ops.append((self.op_mapwrite, 5))
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
        self.close()
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
    p.add_argument("--direct", action="store_true")
    p.add_argument("--aio", action="store_true")
    p.add_argument("--mapwrite", action="store_true")
    a = p.parse_args()
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    try:
        return Fsx(a.file, a).run()
    except Miscompare:
        return 1


if __name__ == "__main__":
    sys.exit(main())

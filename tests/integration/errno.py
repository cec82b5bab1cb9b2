#!/usr/bin/env python3
"""Perform one file-system operation and print the errno name it hit, or OK.

Used by lib.sh's assert_errno so integration tests can assert exact errno
names (EPERM, EINVAL, ...) instead of guessing them from a tool's exit code
or its localised message.  Arguments are taken byte-exact (the command line
is decoded with surrogateescape and re-encoded with os.fsencode), so a test
can pass control characters, invalid UTF-8 or Unicode names.

    errno.py OP ARGS...

    mkdir PATH                 rmdir PATH            unlink PATH
    rename SRC DST             link SRC DST          symlink TARGET PATH
    mknod PATH                 chmod PATH OCTAL      chown PATH UID GID
    truncate PATH LEN          utime PATH                 stat PATH (lstat)
    open PATH rdonly|wronly|rdwr|creat
    read PATH                  (open O_RDONLY, read to EOF)
    readat PATH OFFSET LEN     (pread; prints OK only if no error)
    write PATH DATA            (open O_WRONLY|O_TRUNC, write DATA once)
    append PATH DATA           (open O_WRONLY|O_APPEND, write DATA once)
    create PATH DATA           (open O_WRONLY|O_CREAT|O_TRUNC, write DATA)
    pwrite PATH OFFSET DATA    (open O_WRONLY, pwrite DATA at OFFSET)
    setxattr PATH NAME VALUE   getxattr PATH NAME    removexattr PATH NAME    listxattr PATH
    mmapw PATH                 (mmap the file PROT_WRITE, MAP_SHARED)
    ftruncate PATH LEN         (open O_WRONLY|O_CREAT, ftruncate: `truncate -s`)
    listdir PATH               (every entry of a directory, as ls reads them)

The first failing system call decides the result.  Exit status is 0 when the
operation was carried out (whatever its errno), 2 on a usage error.
"""
import errno
import mmap
import os
import sys


def b(s):
    return os.fsencode(s)


def do_write(path, data, flags, offset=None):
    fd = os.open(path, flags)
    try:
        if offset is None:
            n = os.write(fd, data)
        else:
            n = os.pwrite(fd, data, offset)
        if n != len(data):
            raise SystemExit("short write: %d of %d bytes" % (n, len(data)))
    finally:
        os.close(fd)


def do_read(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)


def do_readat(path, off, length):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.pread(fd, length, off)
    finally:
        os.close(fd)


def do_mmapw(path):
    fd = os.open(path, os.O_RDWR)
    try:
        m = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        m.close()
    finally:
        os.close(fd)


OPEN_FLAGS = {
    "rdonly": os.O_RDONLY,
    "wronly": os.O_WRONLY,
    "rdwr": os.O_RDWR,
    "creat": os.O_WRONLY | os.O_CREAT,
}

OPS = {
    "mkdir": (1, lambda a: os.mkdir(b(a[0]))),
    "rmdir": (1, lambda a: os.rmdir(b(a[0]))),
    "stat": (1, lambda a: os.lstat(b(a[0]))),
    "listdir": (1, lambda a: os.listdir(b(a[0]))),
    "unlink": (1, lambda a: os.unlink(b(a[0]))),
    "rename": (2, lambda a: os.rename(b(a[0]), b(a[1]))),
    "link": (2, lambda a: os.link(b(a[0]), b(a[1]))),
    "symlink": (2, lambda a: os.symlink(b(a[0]), b(a[1]))),
    "mknod": (1, lambda a: os.mknod(b(a[0]), 0o644 | 0o010000)),  # a FIFO
    "chmod": (2, lambda a: os.chmod(b(a[0]), int(a[1], 8))),
    "chown": (3, lambda a: os.chown(b(a[0]), int(a[1]), int(a[2]))),
    "truncate": (2, lambda a: os.truncate(b(a[0]), int(a[1]))),
    "utime": (1, lambda a: os.utime(b(a[0]))),
    "open": (2, lambda a: os.close(os.open(b(a[0]), OPEN_FLAGS[a[1]]))),
    "read": (1, lambda a: do_read(b(a[0]))),
    "readat": (3, lambda a: do_readat(b(a[0]), int(a[1]), int(a[2]))),
    "write": (2, lambda a: do_write(b(a[0]), b(a[1]), os.O_WRONLY | os.O_TRUNC)),
    "append": (2, lambda a: do_write(b(a[0]), b(a[1]), os.O_WRONLY | os.O_APPEND)),
    "create": (2, lambda a: do_write(b(a[0]), b(a[1]),
                                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC)),
    "pwrite": (3, lambda a: do_write(b(a[0]), b(a[2]), os.O_WRONLY, int(a[1]))),
    "setxattr": (3, lambda a: os.setxattr(b(a[0]), b(a[1]), b(a[2]))),
    "getxattr": (2, lambda a: os.getxattr(b(a[0]), b(a[1]))),
    "removexattr": (2, lambda a: os.removexattr(b(a[0]), b(a[1]))),
    "listxattr": (1, lambda a: os.listxattr(b(a[0]))),
    "mmapw": (1, lambda a: do_mmapw(b(a[0]))),
}


# Added for the lifecycle tests: `truncate -s` creates a missing file
# (attaching an instance's data disk) before it sets the size.
def do_ftruncate(path, length):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, length)
    finally:
        os.close(fd)


OPS["ftruncate"] = (2, lambda a: do_ftruncate(b(a[0]), int(a[1])))
OPS["listdir"] = (1, lambda a: os.listdir(b(a[0])))


def main(argv):
    if len(argv) < 2 or argv[1] not in OPS or len(argv) - 2 != OPS[argv[1]][0]:
        sys.stderr.write(__doc__)
        return 2
    try:
        OPS[argv[1]][1](argv[2:])
    except OSError as e:
        print(errno.errorcode.get(e.errno, "errno%d" % e.errno))
        return 0
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""soak-tenant.py — one tenant of scripts/soak, run as that tenant's uid.

    soak-tenant.py tenant REGION NAME SECONDS OUT DISK IMPORT_URL
    soak-tenant.py attacker REGION NAME SECONDS OUT IMPORT_URL

A tenant repeats, until SECONDS have passed, one round of what a user of
the service does, timing each operation:

  meta      list private/, read every own image's status, write a
            description, make an empty image and delete it (then destroy
            it from the recycle bin);
  upload    mkdir private/NAME-uK, copy DISK into its disks/vda, wait for
            `available` (the time is mkdir to available); the image is
            acknowledged: "ack NAME-uK SHA256" goes to OUT, and the tenant
            keeps its last 3 uploads (older ones are deleted and destroyed);
  download  a link to its newest upload, fetched over HTTP from `imgfs
            serve` and compared with DISK;
  import    mkdir private/NAME-iK, `url IMPORT_URL` into source, wait for
            `available` (a slow loopback server: seconds), then destroyed.

Each operation writes "op NAME KIND SECONDS ok|error" to OUT (the error's
text after it).  The attacker does what SPEC §12 bounds, in a loop: a
data disk of 4 PiB - 1 MiB on an instance of its own, zero-ranged at
2^50, written at scattered PiB offsets, truncated down and up again; two
imports from a server that never finishes; names and values the service
refuses (control characters, bidi overrides, names of 300 bytes); reads of
/stats.  Its operations are logged as "attack KIND SECONDS errno".
"""
import ctypes
import errno
import hashlib
import os
import sys
import threading
import time
import urllib.request

FALLOC_FL_ZERO_RANGE = 0x10
PIB = 1 << 50
MIB = 1 << 20
TIB = 1 << 40
CAPTURES = 4
STORM = 40


def now():
    return time.monotonic()


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)

    def op(self, name, kind, secs, err=None):
        line = "op %s %s %.3f %s" % (name, kind, secs, "ok" if err is None else "error " + str(err).replace("\n", " "))
        self.f.write(line + "\n")

    def line(self, text):
        self.f.write(text + "\n")


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def wait_status(img, limit):
    """Polls IMG/status until available or error; returns the status."""
    deadline = now() + limit
    while now() < deadline:
        s = read(img + "/status").strip()
        if s in ("available", "error"):
            return s
        time.sleep(0.05)
    return "timeout"


def destroy(region, name):
    """Deletes private/NAME and destroys it in the recycle bin."""
    try:
        os.rmdir("%s/private/%s" % (region, name))
    except FileNotFoundError:
        pass
    try:
        os.rmdir("%s/recycle-bin/%s" % (region, name))
    except FileNotFoundError:
        pass


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def tenant(region, name, seconds, out, disk, import_url):
    log = Log(out)
    want = sha256_file(disk)
    end = now() + seconds
    uploads = []
    k = 0
    priv = region + "/private"

    def timed(kind, fn):
        t0 = now()
        try:
            fn()
            log.op(name, kind, now() - t0)
        except Exception as e:  # an operation's failure is a figure too
            log.op(name, kind, now() - t0, e)

    def meta():
        own = [e for e in os.listdir(priv) if e.startswith(name + "-")]
        for e in own:
            read("%s/%s/status" % (priv, e))
        if uploads:
            write("%s/%s/description" % (priv, uploads[-1]), "round %d of %s\n" % (k, name))
        tmp = "%s-m%d" % (name, k)
        os.mkdir("%s/%s" % (priv, tmp))
        destroy(region, tmp)

    def upload():
        img = "%s-u%d" % (name, k)
        os.mkdir("%s/%s" % (priv, img))
        with open(disk, "rb") as src, open("%s/%s/disks/vda" % (priv, img), "wb") as dst:
            while True:
                b = src.read(1 << 20)
                if not b:
                    break
                dst.write(b)
        s = wait_status("%s/%s" % (priv, img), 300)
        if s != "available":
            raise RuntimeError("%s ended %s: %s" % (img, s, read("%s/%s/error" % (priv, img)).strip()))
        log.line("ack %s %s" % (img, want))
        uploads.append(img)
        while len(uploads) > 3:
            destroy(region, uploads.pop(0))

    def download():
        if not uploads:
            return
        img = "%s/%s" % (priv, uploads[-1])
        write(img + "/download", "link 1h\n")
        url = None
        for line in read(img + "/download").splitlines():
            f = line.split()
            if len(f) >= 2 and f[1] == "raw":
                url = f[0]
        if url is None:
            raise RuntimeError("no raw link in %s/download" % img)
        h = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=120) as r:
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                h.update(b)
        if h.hexdigest() != want:
            log.line("wrongbytes %s download" % uploads[-1])
            raise RuntimeError("wrong bytes downloaded from %s" % url)

    def imp():
        img = "%s-i%d" % (name, k)
        os.mkdir("%s/%s" % (priv, img))
        write("%s/%s/source" % (priv, img), "url %s\n" % import_url)
        s = wait_status("%s/%s" % (priv, img), 600)
        destroy(region, img)
        if s != "available":
            raise RuntimeError("import %s ended %s" % (img, s))

    while now() < end:
        timed("meta", meta)
        timed("upload", upload)
        timed("download", download)
        timed("import", imp)
        k += 1


def attacker(region, name, seconds, out, import_url):
    log = Log(out)
    end = now() + seconds
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    vm = "%s/instances/%s-vm" % (region, name)
    priv = region + "/private"
    big = (4 * PIB) - MIB

    def attack(kind, fn):
        t0 = now()
        try:
            what = fn() or "OK"
        except OSError as e:
            what = "unexpected-" + errno.errorcode.get(e.errno, str(e.errno))
        log.line("attack %s %.3f %s" % (kind, now() - t0, what))

    def disk():
        if not os.path.isdir(vm):
            os.mkdir(vm)
        fd = os.open(vm + "/disks/vdb", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, big)
            if libc.fallocate(fd, FALLOC_FL_ZERO_RANGE, PIB, MIB) != 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            for i in range(4):
                os.pwrite(fd, os.urandom(4096), (i * PIB) + (os.getpid() % 997) * 4096)
            os.ftruncate(fd, 64 * MIB)
            os.ftruncate(fd, big)
        finally:
            os.close(fd)

    def imports():
        for j in range(2):
            img = "%s-hold%d" % (name, j)
            if not os.path.isdir("%s/%s" % (priv, img)):
                os.mkdir("%s/%s" % (priv, img))
                write("%s/%s/source" % (priv, img), "url %s\n" % import_url)

    def refused_values():
        img = "%s/%s-hold0" % (priv, name)
        got = []
        for bad in ("a\x7fb", "a\u202eb", "x\x85y"):
            try:
                write(img + "/description", bad)
                got.append("accepted")
            except OSError as e:
                got.append(errno.errorcode.get(e.errno, str(e.errno)))
        try:
            os.mkdir("%s/%s" % (priv, "n" * 300))
            got.append("accepted")
        except OSError as e:
            got.append(errno.errorcode.get(e.errno, str(e.errno)))
        return "/".join(got)

    def stats():
        try:
            read(os.path.dirname(os.path.dirname(region)) + "/stats")
            return "read"
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))

    cvm = "%s/instances/%s-cap" % (region, name)

    def captures():
        """One more capture of a 1 TiB sparse disk holding 5 bytes, until
        CAPTURES are kept: what their hashes cost is the service's."""
        if not os.path.isdir(cvm):
            os.mkdir(cvm)
            fd = os.open(cvm + "/disks/vdb", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                os.ftruncate(fd, TIB)
                os.pwrite(fd, b"evil\n", TIB // 2)
            finally:
                os.close(fd)
        for k in range(CAPTURES):
            img = "%s/%s-cap%d" % (priv, name, k)
            if not os.path.isdir(img):
                os.mkdir(img)
                write(img + "/source", "instance %s-cap vdb\n" % name)
                return "made"
        return "kept"

    def storm():
        """STORM threads asking every kept capture's xxh128 at once."""
        disks = ["%s/%s-cap%d/disks/vda" % (priv, name, k) for k in range(CAPTURES)]
        got = {}
        lock = threading.Lock()

        def one(i):
            try:
                os.getxattr(disks[i % len(disks)], "user.imgfs.xxh128")
                what = "value"
            except OSError as e:
                what = errno.errorcode.get(e.errno, str(e.errno))
            with lock:
                got[what] = got.get(what, 0) + 1
        ts = [threading.Thread(target=one, args=(i,)) for i in range(STORM)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return "/".join("%s:%d" % kv for kv in sorted(got.items()))

    # SOAK_ATTACKS=kind,kind...: only those (to find which one costs what).
    only = set(filter(None, os.environ.get("SOAK_ATTACKS", "").split(",")))
    kinds = [("huge-disk", disk), ("held-imports", imports), ("refused-values", refused_values),
             ("stats", stats), ("huge-capture", captures), ("xattr-storm", storm)]
    while now() < end:
        for kind, fn in kinds:
            if not only or kind in only:
                attack(kind, fn)
        time.sleep(0.2)


def main(argv):
    if len(argv) == 8 and argv[1] == "tenant":
        tenant(argv[2], argv[3], float(argv[4]), argv[5], argv[6], argv[7])
    elif len(argv) == 7 and argv[1] == "attacker":
        attacker(argv[2], argv[3], float(argv[4]), argv[5], argv[6])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

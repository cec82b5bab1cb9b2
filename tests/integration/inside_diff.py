#!/usr/bin/env python3
"""inside_diff.py — differential tests of files/ (SPEC §18) against the
kernel's own mount of the same bytes.

From a seed, a random tree (names of every byte a file system takes, long
names, empty, small, multi-block and sparse files with holes at odd
places, hard links, short and long symbolic links, fifos, device nodes,
deep paths, setuid/setgid/sticky modes, owners, times with nanoseconds
before 1970 and past 2262, user./trusted./security. attributes, ACLs set
by setfacl) is built into a file system by the real tools: ext4 by
`mke2fs -d` (kind ext4) and by a loop mount and `cp -a` (ext4-mount), XFS
by a loop mount and `cp -a`, FAT by `mkfs.vfat` and `mcopy`, NTFS by
`mkntfs` and ntfs-3g's FUSE mount (a label, hard links, symbolic links,
alternate data streams, a junction).  The image goes into a mounted
imgfs (`private/<name>/disks/vda`, `imgfs wait`); files/vda/ is walked
and compared with the kernel's read-only mount of the same bytes
(ntfs-3g -o ro for NTFS): every name, type (lstat's and readdir's), mode,
owner, size, st_blocks, atime/mtime/ctime to the nanosecond, link count,
inode number (its low 32 bits: §18), symbolic link target, device
number, extended attributes and their values as root and as a tenant
(uid 65534), getfacl's text, and every byte.

Where imgfs differs from the kernel by §18's design, the comparer says so
in EXCEPTIONS, each with the sentence of §18 it rests on; every other
difference is printed and fails.

  inside_diff.py round SEED KIND --private DIR --work DIR [--scale N]
      one round: build, upload, wait, compare (exit 1: differences)
  inside_diff.py build SEED KIND IMG --work DIR [--scale N]
  inside_diff.py walk ROOT [--tenant] [--paths FILE]   (JSON on stdout)

Used by tests/integration/test_inside_diff.sh (fixed seeds) and
scripts/fuzz-inside (any seed, for hours).
"""
import argparse
import errno
import hashlib
import json
import os
import random
import shutil
import stat
import struct
import subprocess
import sys
import tempfile

KINDS = ["ext4", "ext4-mount", "xfs", "vfat", "ntfs"]
MiB = 1 << 20
NS = 10**9

# §18 sentences the comparer's exceptions rest on.
REF_INO = ('§18 "Inode numbers": "The low 32 bits are the guest\'s inode number" '
           '(the rest is imgfs\'s range)')
REF_FAT_INO = ('§18 FAT: "The inode number is the byte offset of the file\'s 32-byte directory entry '
               'in the volume divided by 32" (vfat numbers its inodes as it reads them)')
REF_FAT_NLINK = ('§18 FAT: "every link count is 1 (counting a directory\'s subdirectories, as vfat '
                 'does, would read each one ...)"')
REF_NTFS_STREAMS = ('§18 "Extended attributes": "Not in this version: NTFS\'s (ntfs-3g\'s system.ntfs_* '
                    'and its named streams as user.*)"')
REF_NTFS_MNT = ('§18 NTFS: a junction\'s target is "the target libntfs-3g gives for a mount at `/`" '
                '(ntfs-3g puts its own mount point before it)')
REF_PERM = ('§18 "Who sees it": "Permissions inside are the guest\'s modes shown, not enforced" '
            '(the kernel refuses the tenant; imgfs answers)')
# Known differences another branch fixes (issue 67, branch xfs): counted
# and named, not failed, while --known names them.
KNOWN = {
    "xfs-empty-fork": "XFS: an empty attribute fork in extents format (cp -a leaves them) reads as EIO",
    "xfs-trusted-root": "XFS: trusted.SGI_ACL_FILE and trusted.SGI_ACL_DEFAULT not listed to root",
}
REF_DEV = ('§18 "Device nodes, fifos and sockets": "the mount is nodev" (imgfs is a FUSE mount: '
           'st_dev is its own)')

# ---------------------------------------------------------------- the tree


class Gen:
    """A random tree for one kind of file system: a list of entries, each a
    dict (path: bytes relative to the root, type, and what it needs)."""

    def __init__(self, seed, kind, scale=1):
        self.r = random.Random("%s/%s" % (seed, kind))
        self.kind = kind
        self.scale = scale
        self.posix = kind in ("ext4", "ext4-mount", "xfs")
        self.entries = []
        self.dirs = [b""]
        self.files = []
        self.names = {b"": set()}

    # -- names
    def _name_posix(self):
        r = self.r
        style = r.random()
        if style < 0.35:
            n = r.randint(1, 12)
            s = bytes(r.choice(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") for _ in range(n))
        elif style < 0.55:
            chars = ["é", "日本", "ü", "😀", "Ω", "ß", "\u200b", "ﬁ", "a", " ", "-"]
            s = "".join(r.choice(chars) for _ in range(r.randint(1, 20))).encode()
        elif style < 0.75:
            # any byte but NUL and '/': control bytes, invalid UTF-8
            s = bytes(r.choice([b for b in range(1, 256) if b != 0x2F]) for _ in range(r.randint(1, 30)))
        else:
            # long: up to NAME_MAX (255 bytes), in UTF-8 or not
            n = r.choice([200, 254, 255, r.randint(100, 255)])
            unit = r.choice([b"x", "é".encode(), "日".encode(), b"\xff"])
            s = (unit * 255)[:n]
            try:
                s.decode()
            except UnicodeDecodeError:
                if unit != b"\xff":
                    s = s[:len(s) - len(s) % len(unit)]
        return s

    def _name_win(self):
        r = self.r
        style = r.random()
        if self.kind == "vfat":
            pool = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 $%'-_@~`!(){}^#&+,;=[]éüßΩ日本"
        else:
            pool = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 $%'-_@~`!(){}^#&+,;=[]éüßΩ日本😀:\\*?\"<>|"
        if style < 0.4:
            s = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(r.randint(1, 8)))
            if r.random() < 0.5:
                s += "." + "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(r.randint(1, 3)))
            if r.random() < 0.3:
                s = s.lower()  # 8.3 stored in lower case (its flags)
        elif style < 0.85:
            s = "".join(r.choice(pool) for _ in range(r.randint(1, 40)))
        else:
            unit = r.choice(["x", "é", "日"])
            s = unit * (r.randint(60, 255) if unit == "x" else r.randint(30, 85))
        s = s.strip(" .") if self.kind == "vfat" else s
        if not s:
            s = "n"
        return s.encode()

    def name_in(self, parent):
        for _ in range(100):
            n = self._name_posix() if self.posix else self._name_win()
            if n in (b".", b"..") or b"/" in n or b"\0" in n or len(n) > 255:
                continue
            key = n if self.kind != "vfat" else n.decode().upper().encode()
            if self.kind == "ntfs":
                key = n.decode().upper().encode()
            if len(parent) + 1 + len(n) > 3000:
                n = n[:20] if self.posix else n.decode()[:5].encode()
                key = n if self.kind != "vfat" else n.decode().upper().encode()
                if self.kind == "ntfs":
                    key = n.decode().upper().encode()
            if key in self.names[parent] or n in (b".", b".."):
                continue
            self.names[parent].add(key)
            return (parent + b"/" + n) if parent else n
        raise RuntimeError("no new name")

    # -- attributes
    def time_ns(self):
        r = self.r
        c = r.random()
        if self.kind == "vfat":
            # FAT: 1980..2107, local time to 2 s (mcopy -m keeps mtime)
            return r.randint(315532800, 4354819198) * NS
        if c < 0.4:
            s = r.randint(1500000000, 1800000000)
        elif c < 0.55:
            s = r.randint(-2**31, -1)  # before 1970
        elif c < 0.7:
            s = r.randint(2**31, 9223372036)  # 2038 .. 2262
        elif c < 0.9:
            s = r.randint(9223372037, 15032385535)  # past 2262 .. 2446 (ext4's last)
        else:
            s = r.choice([0, -1, 2**31 - 1, -2**31, 9223372036, 9223372037])
        ns = r.choice([0, r.randint(0, NS - 1), NS - 1])
        if self.kind == "ntfs":
            ns -= ns % 100
        return s * NS + ns

    def mode(self, typ):
        r = self.r
        if r.random() < 0.5:
            m = {"dir": 0o755, "file": 0o644}.get(typ, 0o644)
        else:
            m = r.randint(0, 0o7777)
        if typ == "dir":
            m |= 0o700  # (the builder walks into it as root anyway)
        return m

    def owner(self):
        return self.r.choice([0, 0, 1000, 65534, 12345, 2**31 + 5, 4294967294])

    def xattrs(self, typ):
        r = self.r
        out = {}
        if self.kind == "vfat":
            return out
        if self.kind == "ntfs":
            # ntfs-3g: user.* are named data streams (ADS)
            if typ == "file" and r.random() < 0.3:
                out[b"user.stream" + str(r.randint(0, 99)).encode()] = r.randbytes(r.randint(0, 300))
            return out
        # ext4 keeps a file's attributes in its inode and one block (1 KiB
        # for mke2fs -d here, 4 KiB on the loop mount)
        budget = {"ext4": 700, "ext4-mount": 1400}.get(self.kind, 20000)
        for _ in range(r.choice([0, 0, 1, 2, 4])):
            ns = r.choice([b"user.", b"trusted.", b"security."])
            if typ not in ("file", "dir") and ns == b"user.":
                continue  # Linux keeps user.* on files and directories only
            if ns == b"security." and r.random() < 0.5:
                name = b"security.selinux"
            else:
                name = ns + bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz0123456789._-") for _ in range(r.randint(1, 40)))
            if r.random() < 0.1:
                name = ns + b"L" * (255 - len(ns))  # XATTR_NAME_MAX
            if name == b"security.selinux":
                v = b"system_u:object_r:etc_t:s" + str(r.randint(0, 9)).encode() + b"\0"
            else:
                v = r.randbytes(r.choice([0, 1, 7, 60, r.randint(0, 300)]))
            if sum(len(k) + len(x) + 16 for k, x in out.items()) + len(name) + len(v) + 16 > budget:
                break
            out[name] = v
        return out

    # -- the tree
    def add(self, e):
        self.entries.append(e)
        if e["type"] == "dir":
            self.dirs.append(e["path"])
            self.names[e["path"]] = set()
        if e["type"] == "file":
            self.files.append(e)

    def make(self):
        r = self.r
        n = r.randint(20, 40) * self.scale
        # a deep path first
        parent = b""
        for _ in range(r.randint(3, 12 if self.scale == 1 else 30)):
            p = self.name_in(parent)
            self.add(self.dir_entry(p))
            parent = p
        for i in range(n):
            parent = r.choice(self.dirs)
            c = r.random()
            p = self.name_in(parent)
            if c < 0.15:
                self.add(self.dir_entry(p))
            elif c < 0.6 or self.kind == "vfat":
                self.add(self.file_entry(p))
            elif c < 0.7 and self.files:
                self.add({"path": p, "type": "hard", "to": r.choice(self.files)["path"]})
            elif c < 0.85:
                self.add(self.link_entry(p))
            elif c < 0.88:
                self.add(self.node_entry(p, "fifo"))
            elif c < 0.9:
                self.add(self.node_entry(p, "sock"))
            else:
                self.add(self.node_entry(p, r.choice(["chr", "blk"])))
        if self.kind == "ntfs" and r.random() < 0.7:
            self.add({"path": self.name_in(b""), "type": "junction",
                      "target": r.choice(["Windows", "Users\\h", "gone"])})
        return self.entries

    def common(self, p, typ):
        e = {"path": p, "type": typ, "mode": self.mode(typ), "uid": self.owner(), "gid": self.owner(),
             "atime": self.time_ns(), "mtime": self.time_ns(), "xattrs": self.xattrs(typ)}
        if self.posix and typ in ("file", "dir") and self.r.random() < 0.12:
            e["acl"] = "u:%d:rwx,g:%d:r-x,u:0:r--" % (self.r.randint(1, 70000), self.r.randint(1, 70000))
            if typ == "dir" and self.r.random() < 0.5:
                e["dacl"] = "u:%d:r-x" % self.r.randint(1, 70000)
        if self.kind == "vfat" and typ == "file" and self.r.random() < 0.2:
            e["fatattr"] = self.r.choice(["+r", "+h", "+s", "+a", "+r +h"])
        return e

    def dir_entry(self, p):
        return self.common(p, "dir")

    def file_entry(self, p):
        r = self.r
        e = self.common(p, "file")
        c = r.random()
        if c < 0.15:
            e["size"], e["data"] = 0, []
        elif c < 0.5:
            e["size"] = r.choice([1, 60, 511, 512, 513, 4095, 4096, 4097, r.randint(1, 3000)])
        elif c < 0.8 or self.kind == "vfat":
            e["size"] = r.randint(4097, 300000 if self.kind != "vfat" else 100000)
        else:
            # sparse: holes at odd places, data at odd offsets, a hole at the end or not
            size = r.randint(1 * MiB, 12 * MiB * self.scale)
            segs = []
            for _ in range(r.randint(1, 4)):
                off = r.randint(0, size - 1)
                segs.append((off, r.randint(1, 70000)))
            if r.random() < 0.5:
                segs.append((size - r.randint(1, 4097), 0))  # to the end
            e["size"], e["data"] = size, segs
        if "data" not in e:
            e["data"] = [(0, e["size"])]
        e["seed"] = r.getrandbits(32)
        return e

    def link_entry(self, p):
        r = self.r
        e = self.common(p, "link")
        c = r.random()
        if self.posix:
            if c < 0.4:
                t = r.choice([b"a", b"../x", b"/etc/os-release", b"."])
            elif c < 0.7:
                t = bytes(r.choice([b for b in range(1, 256)]) for _ in range(r.randint(1, 80)))
            else:
                t = b"/".join(b"d" * r.randint(1, 255) for _ in range(20))[:r.choice([59, 60, 61, 500, 1023])]  # (XFS: 1024 at most; ext4: a block)
        else:
            t = r.choice(["a", "../Users", "sub/dir/file.txt", "é" * r.randint(1, 100), "x" * 1000]).encode()
        e["target"] = t
        return e

    def node_entry(self, p, typ):
        e = self.common(p, typ)
        r = self.r
        # (XFS keeps sysv's numbers, a major under 512 and a minor under
        # 2^18: mknod refuses more; ext4 Linux's 12 and 20 bits)
        xfs = self.kind == "xfs"
        e["major"], e["minor"] = r.choice([(1, 3), (8, 1), (0, 0), (r.randint(0, 511 if xfs else 4095),
                                                                     r.randint(0, 262143 if xfs else 1048575))])
        return e


def fill(path, e):
    r = random.Random(e["seed"])
    with open(path, "wb") as f:
        f.truncate(e["size"])
        for off, n in e["data"]:
            n = n or e["size"] - off
            n = min(n, e["size"] - off)
            f.seek(off)
            f.write(r.randbytes(n))


def materialize(entries, root, kind):
    """Writes the tree under root (a host directory, or ntfs-3g's mount)."""
    posix = kind in ("ext4", "ext4-mount", "xfs")
    for e in entries:
        p = os.path.join(root, e["path"])
        t = e["type"]
        if t == "dir":
            os.mkdir(p)
        elif t == "file":
            fill(p, e)
        elif t == "hard":
            os.link(os.path.join(root, e["to"]), p)
        elif t == "link":
            os.symlink(e["target"], p)
        elif t == "fifo":
            os.mkfifo(p)
        elif t == "sock":
            os.mknod(p, stat.S_IFSOCK | 0o600)
        elif t in ("chr", "blk"):
            os.mknod(p, (stat.S_IFCHR if t == "chr" else stat.S_IFBLK) | 0o600, os.makedev(e["major"], e["minor"]))
        elif t == "junction":
            os.mkdir(p)
            tgt = "\\??\\C:\\" + e["target"]
            sub = tgt.encode("utf-16-le")
            prn = ("C:\\" + e["target"]).encode("utf-16-le")
            body = struct.pack("<HHHH", 0, len(sub), len(sub) + 2, len(prn)) + sub + b"\0\0" + prn + b"\0\0"
            data = struct.pack("<IHH", 0xA0000003, len(body), 0) + body
            os.setxattr(p, "system.ntfs_reparse_data", data)
            continue
        for k, v in e.get("xattrs", {}).items():
            os.setxattr(p, k, v, follow_symlinks=False)
        if e.get("acl"):
            subprocess.run(["setfacl", "-m", e["acl"], os.fsdecode(p)], check=True)
        if e.get("dacl"):
            subprocess.run(["setfacl", "-d", "-m", e["dacl"], os.fsdecode(p)], check=True)
        if posix and t != "hard":
            os.chown(p, e["uid"], e["gid"], follow_symlinks=False)
            if t != "link":
                os.chmod(p, e["mode"])  # after chown, which clears setuid
    # times last, deepest first (a directory's change sets its own)
    for e in sorted(entries, key=lambda e: -e["path"].count(b"/")):
        if e["type"] in ("hard", "junction"):
            continue
        p = os.path.join(root, e["path"])
        os.utime(p, ns=(e["atime"], e["mtime"]), follow_symlinks=False)


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(map(str, cmd)), p.returncode,
                                                 p.stdout.decode(errors="replace")[-2000:]))
    return p.stdout


def kernel_has(fstype):
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == fstype for line in f if line.strip())


class MtoolsRef:
    """Where the kernel has no vfat (this machine's has none): mtools' own
    reading of the same bytes, extracted at mnt (mcopy -s -m: names,
    bytes, mtimes) with mattrib's read-only flags (R: 0555)."""

    def __init__(self, img, mnt):
        self.img, self.mnt = img, mnt
        self.readonly = set()

    def __enter__(self):
        shutil.rmtree(self.mnt, ignore_errors=True)
        os.makedirs(self.mnt)
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C.UTF-8", TZ="UTC")
        if run(["mdir", "-b", "-i", self.img, "::"], env=env).strip():
            run(["mcopy", "-s", "-m", "-n", "-i", self.img, "::*", self.mnt + "/"], env=env)
        for line in run(["mattrib", "-/", "-i", self.img, "::"], env=env).decode().splitlines():
            flags, sep, path = line.partition("::/")
            if sep and path and "R" in flags:
                self.readonly.add(path)
        return self.mnt

    def __exit__(self, *a):
        pass


def mtools_ref(ref, got, readonly):
    """ref (a walk of mtools' extraction) as vfat would show it, in what
    mtools can tell: names, types, sizes and bytes of files, mtimes of
    files, read-only flags as modes.  The rest is taken from got."""
    out = {}
    for p, a in ref.items():
        b = got.get(p)
        if "mode" not in a or b is None or "mode" not in b:
            out[p] = a
            continue
        r = dict(b)
        r["list"], r["dtypes"] = a.get("list"), a.get("dtypes")
        if stat.S_ISDIR(a["mode"]):
            r["mode"] = stat.S_IFDIR | 0o755
        else:
            r["mode"] = stat.S_IFREG | (0o555 if p in readonly else 0o755)
            r["size"], r["sha256"], r["mtime"] = a["size"], a.get("sha256"), a["mtime"]
            # mtools (4.0.33) takes 2100 for a leap year: its times from
            # 2100-03-01 on are a day late (mdir shows the stored date right)
            if r["mtime"] >= (4107542400 + 86400) * NS:
                r["mtime"] -= 86400 * NS
        out[p] = r
    return out


class Loop:
    """A loop mount (or ntfs-3g's) of img at mnt, unmounted on exit."""

    def __init__(self, img, mnt, kind, ro):
        self.img, self.mnt, self.kind, self.ro = img, mnt, kind, ro

    def __enter__(self):
        os.makedirs(self.mnt, exist_ok=True)
        if self.kind == "ntfs":
            run(["ntfs-3g", "-o", "ro" if self.ro else "rw", self.img, self.mnt])
        else:
            opts = ["loop", "ro" if self.ro else "rw"]
            fstype = {"vfat": "vfat", "xfs": "xfs"}.get(self.kind, "ext4")
            if self.kind == "vfat":
                # as SPEC §18 names them, and names in UTF-8
                opts += ["shortname=mixed", "fmask=0022", "dmask=0022", "uid=0", "gid=0", "codepage=437",
                         "tz=UTC", "iocharset=utf8"]
            run(["mount", "-t", fstype, "-o", ",".join(opts), self.img, self.mnt])
        return self.mnt

    def __exit__(self, *a):
        for _ in range(50):
            p = subprocess.run(["umount", self.mnt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if p.returncode == 0 or not os.path.ismount(self.mnt):
                return
            subprocess.run(["sleep", "0.2"])
        subprocess.run(["umount", "-l", self.mnt])


def build(seed, kind, img, work, scale=1):
    """Builds seed's tree for kind into img with the real tools."""
    entries = Gen(seed, kind, scale).make()
    stage = os.path.join(work, "stage")
    shutil.rmtree(stage, ignore_errors=True)
    if os.path.exists(img):
        os.unlink(img)
    mnt = os.path.join(work, "build-mnt")
    size = (24 if kind == "xfs" else 16) * scale * MiB
    if kind in ("ext4", "ext4-mount", "xfs"):
        os.mkdir(stage)
        materialize(entries, stage.encode(), kind)
    # The kind's mkfs options, or INSIDE_DIFF_MKFS's in their place (other
    # layouts: scripts/fuzz-inside --mkfs).
    opts = os.environ.get("INSIDE_DIFF_MKFS", "").split() or {
        "ext4": ["-t", "ext4", "-b", "1024", "-I", "256"], "ext4-mount": ["-t", "ext4", "-b", "4096", "-I", "256"],
        "xfs": ["-m", "bigtime=1"], "vfat": ["-n", "FUZZ"],
        "ntfs": ["-F", "-Q", "-L", "Fuzz%d" % (hash(seed) % 1000)]}.get(kind, [])
    if kind == "ext4":
        run(["mke2fs", "-q", "-F"] + opts + ["-d", stage, img, str(size // 1024)])
    elif kind == "ext4-mount":
        run(["mke2fs", "-q", "-F"] + opts + [img, str(size // 1024)])
        with Loop(img, mnt, kind, False):
            run(["cp", "-a", stage + "/.", mnt])
    elif kind == "xfs":
        with open(img, "wb") as f:
            f.truncate(size)
        run(["mkfs.xfs", "-q", "-f"] + opts + [img],
            env=dict(os.environ, TEST_DIR="1", TEST_DEV="1", QA_CHECK_FS="1"))
        with Loop(img, mnt, kind, False):
            run(["cp", "-a", stage + "/.", mnt])
    elif kind == "vfat":
        os.mkdir(stage)
        materialize(entries, stage.encode(), kind)
        run(["mkfs.vfat", "-C"] + opts + [img, str(size // 1024)])
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C.UTF-8", TZ="UTC")
        top = sorted(os.listdir(stage))
        if top:
            run(["mcopy", "-s", "-m", "-i", img] + [os.path.join(stage, n) for n in top] + ["::"], env=env)
        for e in entries:
            if e.get("fatattr") and not any(c in e["path"] for c in b"*?[]"):  # (mtools' wildcards)
                # (a name mattrib does not find keeps its flags: the reference reads them back)
                subprocess.run(["mattrib", "-i", img] + e["fatattr"].split() + ["::/" + e["path"].decode()], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif kind == "ntfs":
        with open(img, "wb") as f:
            f.truncate(size)
        run(["mkntfs"] + opts + [img])
        with Loop(img, mnt, kind, False):
            materialize(entries, mnt.encode(), kind)
    else:
        raise ValueError(kind)
    return entries


# ---------------------------------------------------------------- the walk


def walk(root, tenant=False, paths=None):
    """{path: record} of root's tree.  A tenant's walk stats the paths a
    root walk found and records errnos where the kernel refuses."""
    out = {}
    rootb = os.fsencode(root)

    def rec(rel):
        full = os.path.join(rootb, rel) if rel else rootb
        d = {}
        try:
            st = os.lstat(full)
        except OSError as e:
            return {"err": errno.errorcode.get(e.errno, str(e.errno))}
        d.update(mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, size=st.st_size, blocks=st.st_blocks,
                 nlink=st.st_nlink, ino=st.st_ino, rdev=st.st_rdev, atime=st.st_atime_ns,
                 mtime=st.st_mtime_ns, ctime=st.st_ctime_ns)
        if stat.S_ISLNK(st.st_mode):
            try:
                d["target"] = os.readlink(full).hex()
            except OSError as e:  # (a difference to show, not a walk to end)
                d["target"] = "err:" + errno.errorcode.get(e.errno, str(e.errno))
        try:
            names = os.listxattr(full, follow_symlinks=False)
            d["xattrs"] = {}
            for n in sorted(names):
                try:
                    d["xattrs"][n] = os.getxattr(full, n, follow_symlinks=False).hex()
                except OSError as e:
                    d["xattrs"][n] = "err:" + errno.errorcode.get(e.errno, str(e.errno))
        except OSError as e:
            d["xattrs"] = "err:" + errno.errorcode.get(e.errno, str(e.errno))
        if stat.S_ISREG(st.st_mode) and not tenant:
            h = hashlib.sha256()
            try:
                with open(full, "rb") as f:
                    while True:
                        b = f.read(MiB)
                        if not b:
                            break
                        h.update(b)
                d["sha256"] = h.hexdigest()
            except OSError as e:
                d["sha256"] = "err:" + errno.errorcode.get(e.errno, str(e.errno))
        return d

    if paths is not None:
        for rel in paths:
            out[rel] = rec(os.fsencode(rel))
        return out
    stack = [b""]
    while stack:
        rel = stack.pop()
        out[os.fsdecode(rel)] = r = rec(rel)
        if "mode" not in r or not stat.S_ISDIR(r["mode"]):
            continue
        full = os.path.join(rootb, rel) if rel else rootb
        try:
            ents = list(os.scandir(full))
        except OSError as e:
            r["list"] = "err:" + errno.errorcode.get(e.errno, str(e.errno))
            continue
        r["list"] = sorted(os.fsdecode(x.name) for x in ents)
        r["dtypes"] = {os.fsdecode(x.name): ("d" if x.is_dir(follow_symlinks=False) else
                                             "l" if x.is_symlink() else
                                             "f" if x.is_file(follow_symlinks=False) else "o") for x in ents}
        for x in ents:
            stack.append(os.path.join(rel, x.name) if rel else x.name)
    return out


# ---------------------------------------------------------------- the comparison


def compare(kind, ref, got, tenant=False, known=(), mnt=None):
    """The differences between the kernel's walk (ref) and imgfs's (got)
    that §18 does not explain: a list of lines, and the set of §18's
    sentences (and KNOWN entries) that explained the rest."""
    diffs = []
    noted = set()

    def note(why):
        noted.add(why)

    def bad(path, what, a, b):
        diffs.append(short("%s: %s: kernel %r, imgfs %r" % (short(repr(path), 100), what, a, b)))

    for path in sorted(set(ref) | set(got)):
        a, b = ref.get(path), got.get(path)
        if a is None or b is None:
            bad(path, "present", a is not None, b is not None)
            continue
        if "err" in a or "err" in b:
            if "err" in a and a["err"] == "EACCES" and tenant:
                note(REF_PERM)
                continue
            if a.get("err") != b.get("err"):
                bad(path, "lstat", a.get("err"), b.get("err"))
            continue
        if (kind == "ntfs" and mnt and a.get("target") and b.get("target") and
                bytes.fromhex(a["target"]) == os.fsencode(mnt) + bytes.fromhex(b["target"])):
            note(REF_NTFS_MNT)
            a = dict(a, target=b["target"], size=b["size"])
        for k in ("mode", "uid", "gid", "size", "blocks", "rdev", "atime", "mtime", "ctime", "target", "sha256",
                  "list", "dtypes"):
            if a.get(k) == b.get(k):
                continue
            bad(path, k, a.get(k), b.get(k))
        if a["nlink"] != b["nlink"]:
            if kind == "vfat" and stat.S_ISDIR(a["mode"]) and b["nlink"] == 1:
                note(REF_FAT_NLINK)
            else:
                bad(path, "nlink", a["nlink"], b["nlink"])
        if kind == "vfat":
            note(REF_FAT_INO)
        elif a["ino"] != b["ino"] & 0xFFFFFFFF:
            bad(path, "ino (low 32 bits)", a["ino"], b["ino"] & 0xFFFFFFFF)
        else:
            note(REF_INO)
        xa, xb = a.get("xattrs"), b.get("xattrs")
        if kind == "ntfs" and isinstance(xa, dict) and xb == {}:
            if xa:
                note(REF_NTFS_STREAMS)
            continue
        if isinstance(xa, dict) and isinstance(xb, dict) and tenant:
            for n in set(xa) & set(xb):
                if xa[n] == "err:EACCES" and xb[n] != xa[n]:
                    note(REF_PERM)
                    xb = dict(xb)
                    xb[n] = xa[n]
        if kind == "xfs" and "xfs-empty-fork" in known and xb == "err:EIO" and isinstance(xa, dict):
            noted.add("KNOWN " + KNOWN["xfs-empty-fork"])
            continue
        sgi = ("trusted.SGI_ACL_FILE", "trusted.SGI_ACL_DEFAULT")
        if (kind == "xfs" and "xfs-trusted-root" in known and not tenant and isinstance(xa, dict) and
                isinstance(xb, dict) and any(n in xa and n not in xb for n in sgi)):
            noted.add("KNOWN " + KNOWN["xfs-trusted-root"])
            xa = {n: v for n, v in xa.items() if n not in sgi or n in xb}
        if isinstance(xa, dict) and isinstance(xb, dict) and xa != xb:
            for n in sorted(set(xa) | set(xb)):
                if xa.get(n) != xb.get(n):
                    bad(path, "xattr %s%s" % (n, " (as uid 65534)" if tenant else ""), xa.get(n), xb.get(n))
            continue
        if xa != xb:
            bad(path, "xattrs" + (" (as uid 65534)" if tenant else ""), xa, xb)
    note(REF_DEV)
    return diffs, noted


def hard_groups(w):
    """The sets of paths that share an inode."""
    by = {}
    for p, r in w.items():
        if "ino" in r and not stat.S_ISDIR(r["mode"]):
            by.setdefault(r["ino"], []).append(p)
    return sorted(sorted(v) for v in by.values() if len(v) > 1)


def as_tenant(script, root, paths_file):
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", script, "walk", root,
           "--tenant", "--paths", paths_file]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("walk as uid 65534: %s" % p.stderr.decode(errors="replace")[-2000:])
    return json.loads(p.stdout)


def getfacl_as(root, paths, tenant):
    """getfacl's text of each path, {path: text}, in one process (an
    error's line in the text of the path it names)."""
    pre = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if tenant else []
    out = {}
    if not paths:
        return out
    p = subprocess.run(pre + ["getfacl", "-P", "-n", "-p", "--"] + [os.fsencode(x) for x in paths], cwd=root,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for block in p.stdout.split(b"\n\n"):
        if block.startswith(b"# file: "):
            head, _, rest = block.partition(b"\n")
            out[head[8:].decode(errors="replace")] = rest.decode(errors="replace")
    for line in p.stderr.decode(errors="replace").split("\ngetfacl: "):
        path, _, err = line.removeprefix("getfacl: ").rstrip("\n").rpartition(": ")
        if err:
            out.setdefault(path, err)
    return out


def round_(seed, kind, private, work, scale=1, keep=False, known=()):
    """One round; returns the list of differences (empty: equal)."""
    os.makedirs(work, exist_ok=True)
    img = os.path.join(work, "img")
    entries = build(seed, kind, img, work, scale)
    name = "d-%s-%s" % (kind, seed)
    d = os.path.join(private, name)
    if os.path.exists(d):
        os.rmdir(d)
    os.mkdir(d)
    # An upload is a disk (§5.3: a raw one holds a partition table): the
    # volume is its partition 1, at 1 MiB (sfdisk's MBR).
    disk = os.path.join(work, "disk")
    with open(disk, "wb") as f:
        f.truncate(MiB + os.path.getsize(img))
    run(["sfdisk", "-q", disk], input=b"start=2048, type=%s\n" % {"vfat": b"c", "ntfs": b"7"}.get(kind, b"83"))
    with open(disk, "r+b") as f, open(img, "rb") as g:
        f.seek(MiB)
        shutil.copyfileobj(g, f, MiB)
    shutil.copyfile(disk, os.path.join(d, "disks", "vda"))
    imgfs = os.environ.get("IMGFS", "imgfs")
    p = subprocess.run(["timeout", "300", imgfs, "wait", "--timeout", "240", d], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        return ["imgfs wait %s: %s" % (d, p.stdout.decode(errors="replace"))]
    got_root = os.path.join(d, "files", "vda1")
    mnt = os.path.join(work, "kernel")
    # a copy of this script the tenant can run
    script = os.path.join(work, "inside_diff.py")
    shutil.copyfile(os.path.abspath(__file__), script)
    os.chmod(script, 0o755)
    os.chmod(work, 0o755)
    diffs = []
    mtools = kind == "vfat" and not kernel_has("vfat")
    reader = MtoolsRef(img, mnt) if mtools else Loop(img, mnt, kind, True)
    with reader:
        ref = walk(mnt)
        got = walk(got_root)
        if mtools:
            ref = mtools_ref(ref, got, reader.readonly)
        dd, noted = compare(kind, ref, got, known=known, mnt=mnt)
        if mtools:
            noted.add("REFERENCE mtools (this kernel has no vfat): names, types, sizes, bytes, files' mtimes "
                      "and read-only modes compared; the rest is vfat's alone")
        diffs += dd
        ha, hb = hard_groups(ref), hard_groups(got)
        if ha != hb and kind != "vfat":
            diffs.append("hard-link groups: kernel %r, imgfs %r" % (ha, hb))
        paths = sorted(ref)
        pf = os.path.join(work, "paths.json")
        with open(pf, "w") as f:
            json.dump(paths, f)
        os.chmod(pf, 0o644)
        if not mtools:
            tr, tg = as_tenant(script, mnt, pf), as_tenant(script, got_root, pf)
            dd, n2 = compare(kind, tr, tg, tenant=True, known=known, mnt=mnt)
            diffs += dd
            noted |= n2
        if kind in ("ext4", "ext4-mount", "xfs"):
            rel = [p for p in paths if p and "err" not in ref[p] and not stat.S_ISLNK(ref[p]["mode"])]
            rel = [p for p in rel if "\n" not in p]
            for tenant in (False, True):
                fa, fb = getfacl_as(mnt, rel, tenant), getfacl_as(got_root, rel, tenant)
                for p in sorted(set(fa) | set(fb)):
                    a, b = fa.get(p), fb.get(p)
                    if a == b:
                        continue
                    if tenant and a == "Permission denied":
                        noted.add(REF_PERM)
                        continue
                    if kind == "xfs" and "xfs-empty-fork" in known and b == "Input/output error" and a:
                        noted.add("KNOWN " + KNOWN["xfs-empty-fork"])
                        continue
                    diffs.append(short("getfacl%s of %s: kernel %r, imgfs %r" %
                                       (" (as uid 65534)" if tenant else "", short(repr(p), 100), a, b)))
    if not keep:  # (a round that differed is repeated by its seed; kept, they would fill the quota)
        try:
            os.rmdir(d)  # (an image directory is removed whole, and destroyed from the recycle bin: §6.1)
            os.rmdir(os.path.join(os.path.dirname(private.rstrip("/")), "recycle-bin", name))
        except OSError as e:
            print("rmdir %s: %s" % (d, e))
    counts = {}
    for e in entries:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    times = [r[t] for r in ref.values() if "mode" in r for t in ("atime", "mtime")]
    print("seed %s %s: %d entries (%s; times: %d before 1970, %d past 2262), %d differences" % (
        seed, kind, len(ref), ", ".join("%s %d" % kv for kv in sorted(counts.items())),
        sum(t < 0 for t in times), sum(t >= 2**63 for t in times), len(diffs)))
    for n in sorted(noted):
        print("  by design: " + n if not n.startswith("KNOWN") else "  " + n)
    return diffs


def short(s, n=700):
    return s if len(s) <= n else s[:n // 2] + " ... " + s[-n // 2:]


def unified(a, b):
    import difflib
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "kernel", "imgfs", n=1))[:4000]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("round")
    r.add_argument("seed")
    r.add_argument("kind", choices=KINDS)
    r.add_argument("--private", required=True)
    r.add_argument("--work", required=True)
    r.add_argument("--scale", type=int, default=1)
    r.add_argument("--keep", action="store_true")
    r.add_argument("--known", action="append", default=[], choices=sorted(KNOWN),
                   help="a difference another branch fixes: named, not failed")
    b = sub.add_parser("build")
    b.add_argument("seed")
    b.add_argument("kind", choices=KINDS)
    b.add_argument("img")
    b.add_argument("--work", required=True)
    b.add_argument("--scale", type=int, default=1)
    w = sub.add_parser("walk")
    w.add_argument("root")
    w.add_argument("--tenant", action="store_true")
    w.add_argument("--paths")
    x = sub.add_parser("exceptions")
    a = ap.parse_args()
    if a.cmd == "round":
        diffs = round_(a.seed, a.kind, a.private, a.work, a.scale, a.keep, a.known)
        for line in diffs:
            print("  DIFF " + short(line, 2000))
        sys.exit(1 if diffs else 0)
    if a.cmd == "build":
        os.makedirs(a.work, exist_ok=True)
        build(a.seed, a.kind, a.img, a.work, a.scale)
    if a.cmd == "walk":
        paths = json.load(open(a.paths)) if a.paths else None
        json.dump(walk(a.root, a.tenant, paths), sys.stdout)
    if a.cmd == "exceptions":
        for ref in (REF_INO, REF_FAT_INO, REF_FAT_NLINK, REF_NTFS_STREAMS, REF_NTFS_MNT, REF_PERM, REF_DEV):
            print(ref)
    del x


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# SPEC §8 "One rule for a held descriptor": a descriptor of one account's
# files, used by a process of another account's uid — inherited across a
# setuid, or passed over a unix socket (SCM_RIGHTS) — gets, for every verb,
# what a pread of it gets: ENOENT.  pwrite, fallocate (punch-hole), ftruncate,
# fsync, fdatasync, lseek(SEEK_HOLE), fstat, poll, close and either end of
# copy_file_range, on alice's instance disk, her upload in progress and her
# private image's disk; nothing of hers changes (her disk's bytes and size,
# her upload's bytes) and nothing of hers reaches bob's disk.  The same
# verbs by alice herself work, and a public disk handed to bob (which he
# may read anyway) reads.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

other_uids
IO="$T/io"
mkdir -m 1777 "$IO"
setup_mount allow_other,multiuser
imgfs_admin "$S" account add alice --uid 3201
imgfs_admin "$S" account add bob --uid 3202
alice() { as 3201 "$@"; }
bob() { as 3202 "$@"; }
P="$R/private"
I="$R/instances"
pub=$(smallest_public "$R")
PUB="$R/public/$pub/disks/$(ls "$R/public/$pub/disks" | head -n1)"

say "alice: an instance disk with her bytes, an image uploaded from a disk with a needle; bob: a blank disk"
needles nd
needle_disk "$T/nd.raw" nd
chmod 644 "$T/nd.raw"
alice mkdir "$I/avm"
alice sh -c "echo 1G > '$I/avm/system-disk-size'"
alice truncate -s 16M "$I/avm/disks/vdb"
alice sh -c "head -c 1048576 /dev/urandom > '$IO/mine.bin' && dd if='$IO/mine.bin' of='$I/avm/disks/vdb' conv=notrunc status=none"
alice mkdir "$P/mine"
alice cp "$T/nd.raw" "$P/mine/disks/vda"
alice timeout 300 "$T/imgfs-as" wait "$P/mine" >"$T/wait.out" 2>&1 || { cat "$T/wait.out"; fail "imgfs wait mine"; }
alice mkdir "$P/up"
bob mkdir "$I/bvm"
bob sh -c "echo 1G > '$I/bvm/system-disk-size'"
bob truncate -s 16M "$I/bvm/disks/vdb"
sum_a0=$(alice sha256sum "$I/avm/disks/vdb")

# The helper, run as root: alice's files are opened as alice (her
# effective uid, root's kept to switch back), then each verb is tried on
# those descriptors by bob — in a process of bob's that got them over a
# socket (SCM_RIGHTS), and in a child that took bob's uid (inherited) —,
# alice's disk is hashed through its descriptor, and the same verbs are
# tried by alice herself.  One line each: "WHO VERB RESULT ...".
cat >"$T/held.py" <<'PY'
import ctypes, errno, hashlib, os, select, socket, sys
disk, disk2, image, upload, raw, pub, bdisk, out = sys.argv[1:]
ALICE, BOB = 3201, 3202
MiB = 1 << 20
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
PUNCH = 0x02 | 0x01  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE

def become(uid):
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)

def acting(uid):  # the effective uid only: the kernel sends it as the caller
    os.setresuid(-1, 0, -1)
    os.setresgid(-1, uid, -1)
    os.setresuid(-1, uid, -1)

def fallocate(fd):
    if libc.fallocate(fd, PUNCH, 0, MiB) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

def poll(fd):
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLOUT)
    ev = p.poll(1000)
    if not ev or ev[0][1] & select.POLLERR:
        raise OSError(errno.ENOENT, "POLLERR")

def attempt(who, d, img, up, mine, src, up_off):
    """Each verb on alice's disk d, her image's disk img, her upload up;
    mine: a disk of the acting uid's own, src a public disk (copy_file_range's
    other ends)."""
    verbs = [
        ("pread", lambda: os.pread(d, 4096, 0)),
        ("pwrite", lambda: os.pwrite(d, b"B" * 4096, 0)),
        ("fallocate", lambda: fallocate(d)),
        ("ftruncate", lambda: os.ftruncate(d, MiB)),
        ("fsync", lambda: os.fsync(d)),
        ("fdatasync", lambda: os.fdatasync(d)),
        ("seek", lambda: os.lseek(d, 0, os.SEEK_HOLE)),
        ("fstat", lambda: os.fstat(d)),
        ("poll", lambda: poll(d)),
        ("img-pread", lambda: os.pread(img, 4096, 0)),
        ("img-fstat", lambda: os.fstat(img)),
        ("img-seek", lambda: os.lseek(img, 0, os.SEEK_HOLE)),
        ("copy-from", lambda: os.copy_file_range(img, mine, 4 * MiB, 0, 0)),
        ("copy-into", lambda: os.copy_file_range(src, d, MiB, 0, 0)),
        ("up-pwrite", lambda: os.pwrite(up, b"B" * 4096, up_off)),
        ("up-fsync", lambda: os.fsync(up)),
        ("close", lambda: os.close(os.dup(d))),
    ]
    res = [who]
    for name, fn in verbs:
        try:
            fn()
            res.append(name + " OK")
        except OSError as e:
            res.append(name + " " + errno.errorcode.get(e.errno, str(e.errno)))
    return " ".join(res)

def pub_read(who, p):
    try:
        return "%s pub-pread %d" % (who, len(os.pread(p, 4096, 0)))
    except OSError as e:
        return "%s pub-pread %s" % (who, errno.errorcode[e.errno])

a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
receiver = os.fork()
if receiver == 0:  # bob's own process: alice's descriptors come over the socket
    a.close()
    become(BOB)
    mine = os.open(bdisk, os.O_RDWR)
    _, fds, _, _ = socket.recv_fds(b, 16, 8)
    d, img, up, p = fds
    lines = [attempt("scm", d, img, up, mine, p, MiB), pub_read("scm", p)]
    b.sendall(("\n".join(lines) + "\n").encode())
    os._exit(0)
b.close()
acting(ALICE)
d = os.open(disk, os.O_RDWR)
d2 = os.open(disk2, os.O_RDWR)
img = os.open(image, os.O_RDONLY)
up = os.open(upload, os.O_WRONLY | os.O_CREAT, 0o644)
os.write(up, open(raw, "rb").read())
p = os.open(pub, os.O_RDONLY)
acting(0)
socket.send_fds(a, [b"x"], [d, img, up, p])
f = a.makefile()
lines = [f.readline().strip(), f.readline().strip()]
os.waitpid(receiver, 0)
r, w = os.pipe()
child = os.fork()
if child == 0:  # a child of the opener that took bob's uid: inherited descriptors
    os.close(r)
    become(BOB)
    mine = os.open(bdisk, os.O_RDWR)
    os.write(w, (attempt("inherited", d, img, up, mine, p, MiB) + "\n" + pub_read("inherited", p) + "\n").encode())
    os._exit(0)
os.close(w)
f = os.fdopen(r)
lines += [f.readline().strip(), f.readline().strip()]
os.waitpid(child, 0)
acting(ALICE)
h = hashlib.sha256()
for off in range(0, 16 * MiB, MiB):
    h.update(os.pread(d, MiB, off))
lines.append("disk %s %d" % (h.hexdigest(), os.fstat(d).st_size))
lines.append(attempt("alice", d, img, up, d2, p, 6 * MiB))
# The kernel's writeback of alice's shared mapping comes with nobody's
# credentials (pid 0): it is hers, and lands.
import mmap
try:
    m = mmap.mmap(d2, 16 * MiB, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    m[8 * MiB:8 * MiB + 4096] = b"M" * 4096
    m.flush()
    m.close()
except OSError as e:
    lines.append("mmap " + errno.errorcode[e.errno])
os.posix_fadvise(d2, 0, 0, os.POSIX_FADV_DONTNEED)
lines.append("mmap %s" % ("OK" if os.pread(d2, 4096, 8 * MiB) == b"M" * 4096 else "lost"))
os.ftruncate(up, 4 * MiB)  # what alice wrote at 6 MiB goes; bob's at 1 MiB would stay
os.close(up)
acting(0)
open(out, "w").write("\n".join(lines) + "\n")
PY

say "each verb on alice's descriptors, by bob (over a socket, inherited) and by alice"
alice truncate -s 16M "$I/avm/disks/vdc"
"$SYS_PY" "$T/held.py" "$I/avm/disks/vdb" "$I/avm/disks/vdc" "$P/mine/disks/vda" "$P/up/disks/vda" "$T/nd.raw" \
    "$PUB" "$I/bvm/disks/vdb" "$IO/held.out" || fail "the helper failed"
sed 's/^/    /' "$IO/held.out"
refused="pread ENOENT pwrite ENOENT fallocate ENOENT ftruncate ENOENT fsync ENOENT fdatasync ENOENT seek ENOENT"
refused+=" fstat ENOENT poll ENOENT img-pread ENOENT img-fstat ENOENT img-seek ENOENT copy-from ENOENT copy-into ENOENT"
refused+=" up-pwrite ENOENT up-fsync ENOENT close ENOENT"
ok="pread OK pwrite OK fallocate OK ftruncate OK fsync OK fdatasync OK seek OK fstat OK poll OK img-pread OK"
ok+=" img-fstat OK img-seek OK copy-from OK copy-into OK up-pwrite OK up-fsync OK close OK"
assert_eq "scm $refused" "$(sed -n 1p "$IO/held.out")" "bob's verbs on alice's descriptors passed over a socket"
assert_eq "scm pub-pread 4096" "$(sed -n 2p "$IO/held.out")" "bob's pread of a public disk alice passed him"
assert_eq "inherited $refused" "$(sed -n 3p "$IO/held.out")" "bob's verbs on alice's inherited descriptors"
assert_eq "inherited pub-pread 4096" "$(sed -n 4p "$IO/held.out")" "bob's pread of an inherited public disk"
assert_eq "disk ${sum_a0%% *} $((16 << 20))" "$(sed -n 5p "$IO/held.out")" "alice's disk after bob's verbs"
assert_eq "alice $ok" "$(sed -n 6p "$IO/held.out")" "alice's own verbs on her descriptors"
assert_eq "mmap OK" "$(sed -n 7p "$IO/held.out")" "alice's write through a shared mapping of her disk"

say "nothing of alice's reached bob's disk; her upload holds her bytes only"
bob cmp -s -n $((16 << 20)) "$I/bvm/disks/vdb" /dev/zero || fail "bob's disk is not all zeros after his refused copy"
alice timeout 300 "$T/imgfs-as" wait "$P/up" >"$T/wait.out" 2>&1 || { cat "$T/wait.out"; fail "imgfs wait up"; }
head -c $((4 << 20)) "$T/nd.raw" >"$T/nd4.raw"
alice cmp "$P/up/disks/vda" "$T/nd4.raw" || fail "alice's upload is not her bytes"
# Hers went through: written, punched, cut to 1 MiB, then the public disk's
# first MiB copied in; her image's first 4 MiB into vdc.
head -c $((1 << 20)) "$PUB" >"$T/pub1.raw"
alice cmp "$I/avm/disks/vdb" "$T/pub1.raw" || fail "alice's own verbs did not reach her disk"
alice cmp -n $((4 << 20)) "$I/avm/disks/vdc" "$T/nd.raw" || fail "alice's copy of her image did not reach vdc"

echo "PASS"

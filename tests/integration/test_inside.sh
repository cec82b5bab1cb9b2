#!/usr/bin/env bash
# SPEC §18: files/, the guest's own files of an image, read-only.  A
# catalogue image's files/vda1 is a real ext2 naming its OS (§3), clean
# to e2fsck.  A raw disk made without root or loop devices: an MBR (sfdisk on a plain file)
# with an ext4 file system built by `mke2fs -t ext4 -d DIR` in partition 1,
# XFS's magic in partition 2, and an ext2 in logical partition 5 of an
# extended partition 3.  Uploaded with cp into private/x/disks/vda, every
# file of files/vda1 matches what went in (bytes, mode, owner, mtime, link
# target, hard links, inode numbers, the same after a remount); a device
# node, a fifo and a socket are listed, not opened; README names what is
# not shown; a second restic and borg run over files/ (after a remount)
# finds every file unchanged and reads no file's bytes (/stats); another
# account sees nothing (ENOENT) and none of its inode numbers in a walk;
# marketplace and shared images show README only (EACCES).  The same disk
# as a compressed QCOW2 and in an encrypted image (with the key; README
# says why without it); a capture of an instance whose vdb got an ext4 by
# mke2fs -d through the mount shows files/vdb, every file as it went in.  Hostile cases: a
# corrupted superblock and a corrupted inode table are EIO, not a hang;
# symlink loops and a directory linked into itself are ELOOP; a
# helper stopped mid-request (a loop) is killed at the deadline with EIO
# and a log line while other requests go on, a helper killed from outside
# while idle has its signal in the log and the next request a new one.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in sfdisk mke2fs debugfs; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs e2fsprogs, fdisk)"
done

for t in restic borg e2fsck; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs restic, borgbackup, e2fsprogs)"
done

other_uids
# A stopped helper is killed after 3 s instead of 10 (SPEC §18).
export IMGFS_INSIDE_DEADLINE_MS=3000
# An encrypted image's files are read with the service's key (SPEC §17).
head -c 32 /dev/urandom >"$T/kek"
chmod 600 "$T/kek"
setup_mount "allow_other,multiuser,keyfile=$T/kek"
imgfs_admin "$S" account add alice --uid 2001
imgfs_admin "$S" account add bob --uid 2002
imgfs_admin "$S" quota set alice cn-north-1 private-images 20 >/dev/null
alice() { as 2001 "$@"; }
P="$R/private"

say "a catalogue image's files/ on the first try: a real ext2 with its os-release (SPEC §3)"
C="$R/public/centos-7.4/files"
assert_eq "README vda1" "$(alice ls "$C" | xargs)" "ls public/centos-7.4/files/"
grep -q '^vda1: ext2/3/4' <(alice cat "$C/README") || fail "centos-7.4's README does not name vda1"
assert_eq "README bin etc home lib lost+found root sbin tmp usr" "$(alice ls "$C/vda1" | xargs)" "ls centos-7.4/files/vda1"
alice cat "$C/vda1/etc/os-release" >"$T/os-release"
for want in 'ID="centos"' 'VERSION_ID="7.4"' 'PRETTY_NAME="CentOS 7.4 64-bit"'; do
    grep -qxF "$want" "$T/os-release" || { cat "$T/os-release" >&2; fail "os-release lacks $want"; }
done
grep -qx 'VERSION_ID="16.04"' <(alice cat "$R/public/ubuntu-16.04/files/vda1/etc/os-release") || fail "ubuntu-16.04's os-release"
grep -q "placeholder of the platform image centos-7.4" <(alice cat "$C/vda1/README") || fail "centos-7.4's /README"
assert_eq "usr/bin" "$(alice readlink "$C/vda1/bin")" "centos-7.4's /bin"
[[ -n $(alice cat "$C/vda1/etc/hostname") ]] || fail "centos-7.4's /etc/hostname is empty"
# The partition e2fsck -fn finds clean (its first MiB: the whole ext2).
alice dd if="$R/public/centos-7.4/disks/vda" bs=1M skip=1 count=1 status=none >"$T/catalogue.ext2"
e2fsck -fn "$T/catalogue.ext2" >"$T/e2fsck.out" 2>&1 || { cat "$T/e2fsck.out" >&2; fail "e2fsck -fn on centos-7.4's vda1"; }
# A Windows image's partition holds filler, not NTFS: README says why
# it shows nothing (in whichever words the readers of the day use).
grep -q '^vda1: not ' <(alice cat "$R/public/windows-server-2016-datacenter/files/README") ||
    fail "a Windows catalogue image's README"
assert_eq "README" "$(alice ls "$R/public/windows-server-2016-datacenter/files" | xargs)" "a Windows catalogue image's files/"

say "a source tree: files, modes, owners, times, links, a hard link, special files"
src="$T/src"
mkdir -p "$src/etc" "$src/usr/share/doc" "$src/var/empty" "$src/dev" "$src/deep/a/b/c/d"
printf 'PRETTY_NAME="Test Linux 1"\nID=testlinux\n' >"$src/etc/os-release"
head -c 3000000 /dev/urandom >"$src/usr/share/doc/big.bin"
: >"$src/var/empty/zero"
printf 'x%.0s' {1..5000} >"$src/deep/a/b/c/d/leaf"
echo secret >"$src/etc/shadow"
chmod 0640 "$src/etc/shadow"
chown 0:42 "$src/etc/shadow"
echo tool >"$src/usr/tool"
chmod 4755 "$src/usr/tool"
chown 1234:5678 "$src/usr/share/doc/big.bin"
ln -s /etc/os-release "$src/abs-link"
ln -s ../etc/os-release "$src/usr/rel-link"
ln -s "$(printf 'l%.0s' {1..200})" "$src/long-link" # a slow symlink (> 60 bytes)
ln "$src/etc/os-release" "$src/etc/hardlink"
ln -s loop-b "$src/loop-a" # a symlink loop: the reader's kernel says ELOOP
ln -s loop-a "$src/loop-b"
mknod "$src/dev/null" c 1 3
mknod "$src/dev/sda" b 8 0
mkfifo "$src/dev/fifo"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$src/dev/sock"
for i in $(seq 1 300); do : >"$src/var/f$i"; done
find "$src" -exec touch -h -d @1600000000 {} +
touch -d @1500000000 "$src/etc/os-release"
# borg re-reads the regular files whose mtime is the newest it saw (its
# guard against changes within a timestamp tick): make that an empty one.
touch -d @1600000001 "$src/var/empty/zero"

MiB=1048576
say "a 40 MiB raw disk: MBR, ext4 in vda1, XFS's magic in vda2, ext2 in logical vda5"
disk="$T/disk.raw"
truncate -s $((40 * MiB)) "$disk"
sfdisk -q "$disk" <<'P'
label: dos
start=2048, size=40960, type=83
start=43008, size=4096, type=83
start=47104, size=34816, type=5
start=49152, size=20480, type=83
P
sfdisk -d "$disk" | grep -q "${disk}5 : start=       49152" || { sfdisk -d "$disk" >&2; fail "no logical partition 5"; }
mke2fs -q -F -t ext4 -b 4096 -d "$src" "$T/p1.img" $((20 * MiB / 4096)) || fail "mke2fs -d"
dd if="$T/p1.img" of="$disk" bs=512 seek=2048 conv=notrunc status=none
printf 'XFSB' | dd of="$disk" bs=512 seek=43008 conv=notrunc status=none
mkdir -p "$T/src5"
echo logical >"$T/src5/hello"
mke2fs -q -F -t ext2 -d "$T/src5" "$T/p5.img" 10240 || fail "mke2fs ext2"
dd if="$T/p5.img" of="$disk" bs=512 seek=49152 conv=notrunc status=none
chmod 644 "$disk"

say "cp into private/x/disks/vda (as alice): available"
alice mkdir "$P/x"
alice cp "$disk" "$P/x/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/x" >/dev/null 2>&1 || { alice cat "$P/x/error" >&2; fail "imgfs wait private/x"; }
F="$P/x/files"

say "files/ lists README, vda1, vda5; README names vda2 (an XFS magic, nothing more) and why"
assert_eq "README vda1 vda5" "$(alice ls "$F" | tr '\n' ' ' | sed 's/ $//')" "ls files/"
alice cat "$F/README" >"$T/readme"
grep -q '^vda2: not readable: XFS: ' "$T/readme" || { cat "$T/readme" >&2; fail "README does not say why vda2's XFS (its magic only) is not read"; }
grep -q '^vda1: ext2/3/4' "$T/readme" || fail "README does not name vda1"
assert_eq "logical" "$(alice cat "$F/vda5/hello")" "vda5/hello (a logical partition)"

say "every file of files/vda1 matches the source: bytes, mode, owner, mtime, target, links"
# The source is read as root (etc/shadow is 0640), the mount as alice.
cat >"$T/compare.py" <<'PY'
import hashlib, json, os, stat, sys
F = ("st_mode", "st_uid", "st_gid", "st_mtime_ns", "st_nlink", "st_size", "st_rdev")
def walk(top):
    out = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, top)
            if rel == "lost+found":
                continue
            st = os.lstat(p)
            e = {f: getattr(st, f) for f in F}
            if stat.S_ISDIR(st.st_mode):
                del e["st_nlink"], e["st_size"]  # the file system's own counts
            if stat.S_ISREG(st.st_mode):
                e["sha256"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            e["ino"] = st.st_ino
            out[rel] = e
        dirs[:] = [d for d in dirs if os.path.relpath(os.path.join(root, d), top) != "lost+found"]
    return out
if sys.argv[1] == "dump":
    json.dump(walk(sys.argv[2]), sys.stdout)
    sys.exit(0)
want, got = json.load(open(sys.argv[2])), walk(sys.argv[3])
if set(want) != set(got):
    sys.exit(f"listed differently: {sorted(set(want) ^ set(got))}")
links = {}
for rel, w in want.items():
    g = got[rel]
    for k in w:
        if k != "ino" and w[k] != g[k]:
            sys.exit(f"{rel}: {k} {g[k]!r} inside, {w[k]!r} in the source")
    if g["ino"] >> 63 != 1:
        sys.exit(f"{rel}: inode {g['ino']:#x} not in the inside range")
    links.setdefault(w["ino"], set()).add(g["ino"])
for i, mine in links.items():
    if len(mine) != 1:
        sys.exit(f"hard links of source inode {i} have inodes {mine} inside")
print(len(want))
PY
python3 "$T/compare.py" dump "$src" >"$T/want.json"
chmod 644 "$T/want.json"
n=$(alice /usr/bin/python3 "$T/compare.py" check "$T/want.json" "$F/vda1") || fail "files/vda1 differs from the source"
[[ $n -gt 300 ]] || fail "only $n entries compared"
assert_eq "$(alice stat -c %i "$F/vda1/etc/os-release")" "$(alice stat -c %i "$F/vda1/etc/hardlink")" "a hard link's inode"
assert_eq "/etc/os-release" "$(alice readlink "$F/vda1/abs-link")" "an absolute target, as stored"

errno_as 2001 ELOOP read "$F/vda1/loop-a"

say "restic and borg over files/: a second run, after a remount, reads no file's bytes"
# Local repositories, run as alice (root has no account in this mount);
# the remount empties the page cache, so a read would reach the daemon
# and imgfs_read_bytes_total (file bytes read through files/ count there).
B="$T/bk"
mkdir -m 777 "$B"
bk() { alice env RESTIC_PASSWORD=imgfs-test RESTIC_REPOSITORY="$B/restic" RESTIC_CACHE_DIR="$B/restic-cache" \
    BORG_REPO="$B/borg" BORG_PASSPHRASE="" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_BASE_DIR="$B/borg-home" \
    HOME="$B" XDG_CACHE_HOME="$B/cache" USER=alice LOGNAME=alice "$@"; }
read_bytes() { awk '$1 == "imgfs_read_bytes_total" { print $2 }' "$M/stats"; }
bk restic init -q
bk restic backup -q --json "$F/vda1" >"$T/restic1.json" || fail "restic backup of files/vda1"
bk borg init -e none
# mke2fs -d gives every inode the same ctime (its own clock, seconds), the
# newest: borg compares mtimes here (--files-cache), as it would ctimes
# of a guest whose files changed at different times.
bk borg create --files-cache=mtime,size,inode "::first" "$F/vda1" || fail "borg create over files/vda1"
umount_imgfs "$M"
mount_imgfs "$S" "$M" "allow_other,multiuser,keyfile=$T/kek"
before=$(read_bytes)
bk restic backup -q --json "$F/vda1" >"$T/restic2.json" || fail "second restic backup of files/vda1"
python3 - "$T/restic2.json" <<'PY' || fail "the second restic run over files/ found new or changed files"
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
print("    restic: %d files new, %d changed, %d unmodified, %d data blobs added" %
      (s["files_new"], s["files_changed"], s["files_unmodified"], s["data_blobs"]))
sys.exit(0 if s["files_new"] == 0 and s["files_changed"] == 0 and s["files_unmodified"] > 300 and s["data_blobs"] == 0 else 1)
PY
assert_eq 0 "$(($(read_bytes) - before))" "bytes read through files/ by the second restic run"
bk borg create --files-cache=mtime,size,inode --list --filter=AME "::second" "$F/vda1" >"$T/borg2.out" 2>&1 || { cat "$T/borg2.out" >&2; fail "second borg create"; }
# Only the empty file with the newest mtime is read again (borg's guard):
# no other added, modified or failed file.
if grep -v '/var/empty/zero$' "$T/borg2.out" | grep -q '^[AME] '; then cat "$T/borg2.out" >&2; fail "the second borg run found changes"; fi
assert_eq 0 "$(($(read_bytes) - before))" "bytes read through files/ by the second borg run"

say "special files are listed with their modes, not opened; nothing is written"
assert_eq "character special file" "$(alice stat -c %F "$F/vda1/dev/null")" "dev/null's type"
assert_eq "fifo" "$(alice stat -c %F "$F/vda1/dev/fifo")" "dev/fifo's type"
assert_eq "socket" "$(alice stat -c %F "$F/vda1/dev/sock")" "dev/sock's type"
errno_as 2001 EACCES read "$F/vda1/dev/null"
errno_as 2001 EROFS write "$F/vda1/etc/os-release" "x"
errno_as 2001 EPERM mkdir "$F/vda1/new"
errno_as 2001 EPERM unlink "$F/vda1/etc/os-release"
errno_as 2001 EPERM rename "$F/vda1/etc/os-release" "$F/vda1/etc/moved"
errno_as 2001 EPERM chmod "$F/vda1/etc/os-release" 0600
errno_as 2001 EPERM symlink "x" "$F/vda1/etc/new-link"
grep -q "unlink ${F#"$M"}/vda1 (inode [0-9]*): EPERM files/ is read-only" "$S/imgfs.log" || fail "unlink's reason is not files/'s"
errno_as 2001 ENXIO read "$F/vda1/dev/sock"

say "another account: ENOENT, no inode number of alice's seen; marketplace and shared: README only"
errno_as 2002 ENOENT stat "$F"
errno_as 2002 ENOENT stat "$F/vda1/etc/os-release"
errno_as 2002 ENOENT open "$F/vda1" rdonly
errno_as 2002 ENOENT stat "$F/vda1/etc"
assert_eq "README" "$(alice ls "$R/marketplace/lamp-centos-7.4/files" | xargs)" "marketplace files/"
errno_as 2001 EACCES stat "$R/marketplace/lamp-centos-7.4/files/vda1"
errno_as 2001 EACCES stat "$R/marketplace/lamp-centos-7.4/files/vda1/etc/os-release"
alice mkdir "$P/x/shares/bob"
wait_until 10 as 2002 test -d "$R/shared/x@alice" || fail "bob does not see shared/x@alice"
assert_eq "README" "$(as 2002 ls "$R/shared/x@alice/files" | xargs)" "shared files/ (bob)"
grep -q 'only for creating instances' <(as 2002 cat "$R/shared/x@alice/files/README") || fail "shared files/README"
errno_as 2002 EACCES stat "$R/shared/x@alice/files/vda1"
errno_as 2002 EACCES stat "$R/shared/x@alice/files/vda1/etc/os-release"
# Every inode number bob can reach by a walk of the region is none of
# alice's files inside x (files/ and README themselves are the image's,
# which bob sees as shared/x@alice: their numbers are not the guest's).
alice find "$F" -mindepth 2 -printf '%i\n' | sort -u >"$T/alice.inodes"
as 2002 find "$R" -printf '%i\n' 2>/dev/null | sort -u >"$T/bob.inodes" || true
[[ $(wc -l <"$T/alice.inodes") -gt 300 ]] || fail "alice's walk of x/files found too little"
[[ $(wc -l <"$T/bob.inodes") -gt 100 ]] || fail "bob's walk of the region found too little"
leaked=$(comm -12 "$T/alice.inodes" "$T/bob.inodes" | head -3)
[[ -z $leaked ]] || fail "bob's walk sees inode numbers of alice's files inside: $leaked"
alice rmdir "$P/x/shares/bob"

say "a QCOW2 upload (compressed) shows its virtual disk's files"
qemu-img convert -f raw -O qcow2 -c "$disk" "$T/disk.qcow2"
chmod 644 "$T/disk.qcow2"
alice mkdir "$P/q"
alice cp "$T/disk.qcow2" "$P/q/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/q" >/dev/null 2>&1 || fail "imgfs wait private/q"
assert_eq qcow2 "$(alice cat "$P/q/format")" "q/format"
assert_eq "README vda1 vda5" "$(alice ls "$P/q/files" | xargs)" "ls q/files/"
n=$(alice /usr/bin/python3 "$T/compare.py" check "$T/want.json" "$P/q/files/vda1") || fail "q/files/vda1 differs from the source"

say "a capture of an instance whose vdb got a file system through the mount: files/vdb; its snapshot's files/data"
# The source tree again (alice runs mke2fs: etc/shadow, 0640, left out),
# written by mke2fs -d straight onto disks/vdb through the mount.
src2="$T/src2"
cp -a "$src" "$src2"
rm "$src2/etc/shadow"
cp -a "$T/src5/hello" "$src2/hello"
find "$src2" -exec touch -h -d @1600000000 {} +
touch -d @1500000000 "$src2/etc/os-release"
python3 "$T/compare.py" dump "$src2" >"$T/want2.json"
chmod 644 "$T/want2.json"
V="$R/instances/vm"
alice mkdir "$V"
alice sh -c "echo 1G >'$V/system-disk-size' && echo public/centos-7.4 >'$V/image'"
alice truncate -s 32M "$V/disks/vdb"
alice mke2fs -q -F -t ext4 -d "$src2" "$V/disks/vdb" || fail "mke2fs onto disks/vdb"
alice mkdir "$P/cap"
alice sh -c "echo 'instance vm vdb' >'$P/cap/source'"
alice "$T/imgfs-as" wait --timeout 120 "$P/cap" >/dev/null 2>&1 || { alice cat "$P/cap/error" >&2; fail "imgfs wait private/cap"; }
# vda is centos-7.4's system disk: the catalogue's ext2 in vda1 (SPEC §3).
assert_eq "README vda1 vdb" "$(alice ls "$P/cap/files" | xargs)" "ls cap/files/"
grep -qx 'VERSION_ID="7.4"' <(alice cat "$P/cap/files/vda1/etc/os-release") || fail "cap's vda1/etc/os-release"
assert_eq "logical" "$(alice cat "$P/cap/files/vdb/hello")" "cap/files/vdb/hello"
n=$(alice /usr/bin/python3 "$T/compare.py" check "$T/want2.json" "$P/cap/files/vdb") || fail "cap/files/vdb differs from the tree mke2fs wrote"
[[ $n -gt 300 ]] || fail "only $n entries of cap/files/vdb compared"
# vdb became a snapshot (§2.4): its data's files are snapshots/<id>/files/data.
snap=$(alice sh -c "grep -l '$(alice cat "$P/cap/id")' '$R'/snapshots/*/images" | sed -n 's|.*/snapshots/\([^/]*\)/images|\1|p')
[[ -n $snap ]] || fail "no snapshot names the captured image"
assert_eq "README data" "$(alice ls "$R/snapshots/$snap/files" | xargs)" "ls snapshots/$snap/files/"
assert_eq "logical" "$(alice cat "$R/snapshots/$snap/files/data/hello")" "snapshots/$snap/files/data/hello"
assert_ne "$(alice stat -c %i "$P/cap/files/vdb/hello")" "$(alice stat -c %i "$R/snapshots/$snap/files/data/hello")" \
    "the image's and the snapshot's inode numbers"
errno_as 2002 ENOENT stat "$R/snapshots/$snap/files/data/hello"

say "an encrypted image: its files with the key; without it, README says why"
alice mkdir "$P/enc"
alice sh -c "echo yes >'$P/enc/encrypted'"
alice cp "$disk" "$P/enc/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/enc" >/dev/null 2>&1 || fail "imgfs wait private/enc"
assert_eq yes "$(alice cat "$P/enc/encrypted")" "enc/encrypted"
alice cmp "$src/usr/share/doc/big.bin" "$P/enc/files/vda1/usr/share/doc/big.bin" || fail "enc: big.bin inside"

say "the same inode numbers after a remount"
umount_imgfs "$M"
mount_imgfs "$S" "$M" allow_other,multiuser
assert_eq "README" "$(alice ls "$P/enc/files" | xargs)" "enc/files/ without the key"
alice cat "$P/enc/files/README" | grep -q '^vda: .*key' || { alice cat "$P/enc/files/README" >&2; fail "enc's README gives no reason"; }
errno_as 2001 ENOENT stat "$P/enc/files/vda1"
alice find "$F/vda1" -printf '%i %p\n' | sort >"$T/inodes.2"
alice /usr/bin/python3 - "$T/inodes.2" <<'PY' || fail "inode numbers are not the guest's"
import sys
for line in open(sys.argv[1]):
    ino = int(line.split()[0])
    assert ino >> 63 == 1 and ino & 0xffffffff, line
PY
[[ $(wc -l <"$T/inodes.2") -gt 300 ]] || fail "the walk after the remount found too little"
cp "$T/inodes.2" "$T/inodes.2b"
alice find "$F/vda1" -printf '%i %p\n' | sort >"$T/inodes.3"
umount_imgfs "$M"
mount_imgfs "$S" "$M" allow_other,multiuser
alice find "$F/vda1" -printf '%i %p\n' | sort >"$T/inodes.4"
cmp -s "$T/inodes.3" "$T/inodes.4" || { diff "$T/inodes.3" "$T/inodes.4" | head >&2; fail "inode numbers changed across a remount"; }

say "hostile: a corrupted superblock is EIO, not a hang; README says why"
cp "$disk" "$T/bad-sb.raw"
# The primary superblock at 1024 of vda1: its magic kept, the rest garbage.
python3 - "$T/bad-sb.raw" $((2048 * 512 + 1024)) <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    off = int(sys.argv[2])
    f.seek(off); sb = bytearray(f.read(1024))
    sb[0:56] = os.urandom(56); sb[24:28] = (40).to_bytes(4, "little")  # log block size 2^50
    f.seek(off); f.write(sb)
PY
alice mkdir "$P/badsb"
alice cp "$T/bad-sb.raw" "$P/badsb/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/badsb" >/dev/null 2>&1 || fail "imgfs wait private/badsb"
errno_as 2001 EIO stat "$P/badsb/files/vda1"
alice cat "$P/badsb/files/README" | grep -q '^vda1: not readable: ' || fail "README does not say why vda1 is not readable"
assert_eq "logical" "$(alice cat "$P/badsb/files/vda5/hello")" "the other partition of that disk"

say "hostile: a corrupted inode table is EIO for what it holds"
cp "$disk" "$T/bad-it.raw"
itable=$(debugfs -R "imap <12>" "$T/p1.img" 2>/dev/null | sed -n 's/.*located at block \([0-9]*\),.*/\1/p')
[[ -n $itable ]] || fail "debugfs did not say where inode 12 is"
dd if=/dev/urandom of="$T/bad-it.raw" bs=4096 seek=$((2048 * 512 / 4096 + itable)) count=1 conv=notrunc status=none
alice mkdir "$P/badit"
alice cp "$T/bad-it.raw" "$P/badit/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/badit" >/dev/null 2>&1 || fail "imgfs wait private/badit"
# That block holds inodes 1..16: the root directory's among them.
errno_as 2001 EIO stat "$P/badit/files/vda1"
errno_as 2001 EIO stat "$P/badit/files/vda1/etc/os-release"
assert_eq "logical" "$(alice cat "$P/badit/files/vda5/hello")" "the other partition of that disk"

say "hostile: a directory linked into itself (a cycle): ELOOP, and find ends"
cp "$T/p1.img" "$T/cyc.img"
debugfs -w -R "link /deep /deep/a/b/back" "$T/cyc.img" >/dev/null 2>&1 || fail "debugfs link"
cp "$disk" "$T/cyc.raw"
dd if="$T/cyc.img" of="$T/cyc.raw" bs=512 seek=2048 conv=notrunc status=none
alice mkdir "$P/cyc"
alice cp "$T/cyc.raw" "$P/cyc/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/cyc" >/dev/null 2>&1 || fail "imgfs wait private/cyc"
# The second name of the directory is the same inode: the kernel will
# not give a directory two parents, and says ELOOP.
errno_as 2001 ELOOP stat "$P/cyc/files/vda1/deep/a/b/back"
alice find "$P/cyc/files/vda1" >"$T/cyc.out" 2>"$T/cyc.err" && fail "find over a cycle found nothing wrong"
grep -q "back" "$T/cyc.err" || { cat "$T/cyc.err" >&2; fail "find did not name the cycle's entry"; }
[[ $(wc -l <"$T/cyc.out") -gt 300 ]] || fail "find over the cycle's image listed too little"

say "hostile: a helper stopped mid-request is killed at the deadline: EIO, logged, others go on"
# A fresh daemon: the reader below starts its only helper.  It opens a
# file, the helper is stopped (a loop, to the daemon), and only then reads.
umount_imgfs "$M"
mount_imgfs "$S" "$M" allow_other,multiuser
daemon=$(_daemon_pid "$M")
mkdir -m 777 "$T/sync" # where alice's reader says it is ready
cat >"$T/reader.py" <<'PY'
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.02)
try:
    os.read(fd, 65536)
    print("read")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
alice /usr/bin/python3 "$T/reader.py" "$F/vda1/deep/a/b/c/d/leaf" "$T/sync/ready" "$T/sync/go" >"$T/sync/stuck.out" 2>&1 &
stuck=$!
wait_until 30 [ -e "$T/sync/ready" ] || fail "the reader did not open its file"
# Every helper but the newest, which is the spare started ahead (§18).
working_helpers() { local spare; spare=$(pgrep -n -P "$daemon" imgfs-inside) && pgrep -P "$daemon" imgfs-inside | grep -vx "$spare"; }
helper=$(working_helpers)
[[ -n $helper && $helper != *$'\n'* ]] || fail "not one helper at work under the daemon: ${helper:-none}"
assert_eq 65534 "$(awk '/^Uid:/ {print $2}' "/proc/$helper/status")" "the helper's uid (nobody)"
grep -q '^Seccomp:[[:space:]]*2' "/proc/$helper/status" || fail "the helper runs without a seccomp filter"
kill -STOP "$helper"
touch "$T/sync/go"
# Other requests go on meanwhile: this image's files, other images, listings.
assert_eq available "$(alice cat "$P/x/status")" "x/status while its helper is stopped"
alice ls "$R/public" >/dev/null || fail "ls public/ while a helper is stopped"
assert_eq "logical" "$(alice cat "$P/badsb/files/vda5/hello")" "another image's file while a helper is stopped"
wait "$stuck" || true
# The READ through it is EIO (the log line below).  The kernel then reads
# the page once more on its own (a failed readahead is retried by a read
# of the one page), which the next helper may answer: the reader sees
# EIO or the bytes, never a hang.  (Before the daemon kept attributes, a
# GETATTR went to the stopped helper first, always EIO.)
assert_match 'EIO|read' "$(cat "$T/sync/stuck.out")" "the read through the stopped helper"
grep -q "inside ${P#"$M"}/x/files/vda1 (inode [0-9]*): EIO the helper did not answer within 3000 ms" "$S/imgfs.log" ||
    { tail -n 5 "$S/imgfs.log" >&2; fail "no log line for the stopped helper"; }
# That line is the failed READ's only one: files.c's "read PATH at OFF"
# line is for reads outside files/ (none fails in this test), whose
# reason it would get wrong here ("a chunk could not be read").
! grep -E "imgfs: read .*: EIO " "$S/imgfs.log" || fail "a read inside files/ logged by files.c besides its helper's line"
[[ ! -e /proc/$helper ]] || fail "the stopped helper still exists"
assert_eq "$(printf 'x%.0s' {1..5000})" "$(alice cat "$F/vda1/deep/a/b/c/d/leaf")" "the next request: a new helper"

say "hostile: a helper killed from outside while idle: its signal logged, a new one answers"
rm -f "$T/sync/ready" "$T/sync/go"
alice /usr/bin/python3 "$T/reader.py" "$F/vda1/usr/share/doc/big.bin" "$T/sync/ready" "$T/sync/go" >"$T/sync/killed.out" 2>&1 &
reader=$!
wait_until 30 [ -e "$T/sync/ready" ] || fail "the reader did not open its file"
# (x's helper, and another image's that serves nothing now: all at work.)
helpers=$(working_helpers) || fail "no helper at work under the daemon"
kill -KILL $helpers
zombie() { local a b st; read -r a b st _ <"/proc/$1/stat" && [[ $st == Z ]]; }
for helper in $helpers; do wait_until 10 zombie "$helper" || fail "the killed helper did not end"; done
touch "$T/sync/go"
wait "$reader" || true
# Killed while idle (the reader waits between its open and its read): the
# read finds it gone before asking, and a new one answers (issue 70: the
# dead one's EIO was taken for a verdict by an inspection).
assert_eq read "$(cat "$T/sync/killed.out")" "the read after its helper was killed while idle"
grep -q "inside ${P#"$M"}/x/files/vda1 (inode [0-9]*): its helper ended while idle (the helper died of signal 9): a new one is started" "$S/imgfs.log" ||
    { tail -n 5 "$S/imgfs.log" >&2; fail "no log line naming signal 9"; }
alice cmp "$src/usr/share/doc/big.bin" "$F/vda1/usr/share/doc/big.bin" || fail "big.bin after a new helper"

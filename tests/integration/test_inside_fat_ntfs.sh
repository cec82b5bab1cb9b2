#!/usr/bin/env bash
# SPEC §18: files/ of a disk with FAT and NTFS volumes.  A GPT disk made
# without root or loop devices (sgdisk on a plain file): an EFI system
# partition (FAT32: mkfs.fat on a plain file, filled by mcopy), an ext4
# root (mke2fs -d) and an NTFS data partition (mkntfs on a plain file,
# filled through ntfs-3g's FUSE mount: fixture building only; a sparse
# file, a compressed one, a hard link, symbolic links).  Uploaded
# raw and as QCOW2, every file of vda1 and vda3 matches what went in
# (bytes, size, mtime, mode as vfat and ntfs-3g show them by default, an
# NTFS link's target, a hard link's inode), README names each volume's
# reader; a USB stick's image (FAT12 on the whole disk) is files/vda.
# Hostile: a FAT file whose cluster chain loops and an NTFS file
# whose MFT record is damaged are EIO, with the reason in the log; a FAT
# directory whose entry names its parent's cluster is one inode, its
# second name ELOOP, and find ends; the rest of both volumes reads.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in sgdisk mke2fs mkfs.fat mcopy mkntfs ntfs-3g setfattr qemu-img; do
    command -v $t >/dev/null ||
        fail "$t is missing (scripts/install-deps installs gdisk, e2fsprogs, dosfstools, mtools, ntfs-3g, attr, qemu-utils)"
done

other_uids
setup_mount "allow_other,multiuser"
imgfs_admin "$S" account add alice --uid 2001
imgfs_admin "$S" quota set alice cn-north-1 private-images 20 >/dev/null
alice() { as 2001 "$@"; }
P="$R/private"
export TZ=UTC MTOOLS_SKIP_CHECK=1
MiB=1048576

say "the EFI partition's tree (FAT32): long names, nested directories, a file of many clusters"
efi="$T/efi"
mkdir -p "$efi/EFI/BOOT" "$efi/EFI/debian" "$efi/Long Directory Name/deeper" "$efi/cyc/self"
head -c 900000 /dev/urandom >"$efi/EFI/BOOT/BOOTX64.EFI"
head -c 5000 /dev/urandom >"$efi/EFI/debian/grub.cfg"
echo 'a file with a long name' >"$efi/Long Directory Name/deeper/a file with a long name.conf"
echo 'upper' >"$efi/UPPER.TXT"
: >"$efi/empty"
head -c 3000 /dev/urandom >"$efi/loop.bin" # its chain is made to loop below
# FAT keeps local times to 2 seconds; the volume's are read as UTC.
find "$efi" -exec touch -d '2023-04-05 06:07:08' {} +
touch -d '1999-12-31 23:59:58' "$efi/EFI/BOOT/BOOTX64.EFI"
mkfs.fat -C -F 32 -s 1 -n EFI "$T/p1.img" $((34 * 1024)) >/dev/null
mcopy -m -s -i "$T/p1.img" "$efi"/* :: || fail "mcopy"

say "the NTFS partition's tree: directories, a sparse file, a compressed file, a hard link, symbolic links"
win="$T/win"
mkdir -p "$win/Windows/System32" "$win/Users/h"
head -c 2000000 /dev/urandom >"$win/Windows/System32/big.dll"
echo 'hello' >"$win/Users/h/Résumé.txt"
truncate -s 5000000 "$win/sparse"
echo tail >>"$win/sparse"
echo 'to be damaged' >"$win/bad.txt"
mkdir -p "$win/Compressed"
seq -f 'line %g of a file NTFS compresses' 1 20000 >"$win/Compressed/comp.txt"
find "$win" -exec touch -d '2022-01-02 03:04:05' {} +
truncate -s $((16 * MiB)) "$T/p3.img"
mkntfs -F -Q -s 512 "$T/p3.img" >/dev/null 2>&1 || fail "mkntfs"
mkdir -p "$T/ntfsmnt"
ntfs-3g -o compression "$T/p3.img" "$T/ntfsmnt" || fail "ntfs-3g mount (fixture)"
# A directory with NTFS compression on: what is written into it is compressed.
mkdir "$T/ntfsmnt/Compressed"
setfattr -n system.ntfs_attrib_be -v 0x00000800 "$T/ntfsmnt/Compressed" || fail "setfattr (compression)"
cp -a "$win/." "$T/ntfsmnt/"
ln "$T/ntfsmnt/Windows/System32/big.dll" "$T/ntfsmnt/hard.dll"
ln -s Users/h "$T/ntfsmnt/rel-link"
ln -s /etc/os-release "$T/ntfsmnt/abs-link"
bad_rec=$(stat -c %i "$T/ntfsmnt/bad.txt")
umount "$T/ntfsmnt"

say "a 64 MiB GPT disk: FAT32 EFI in vda1, ext4 in vda2, NTFS in vda3"
mkdir -p "$T/root/etc"
printf 'ID=testlinux\n' >"$T/root/etc/os-release"
mke2fs -q -F -t ext4 -d "$T/root" "$T/p2.img" 4096 >/dev/null || fail "mke2fs -d"
disk="$T/disk.raw"
truncate -s $((64 * MiB)) "$disk"
sgdisk -n 1:2048:+34M -t 1:ef00 -n 2:0:+4M -t 2:8300 -n 3:0:+16M -t 3:0700 "$disk" >/dev/null || fail "sgdisk"
mapfile -t starts < <(sgdisk -p "$disk" | awk '$1 ~ /^[123]$/ {print $2}')
dd if="$T/p1.img" of="$disk" bs=512 seek="${starts[0]}" conv=notrunc status=none
dd if="$T/p2.img" of="$disk" bs=512 seek="${starts[1]}" conv=notrunc status=none
dd if="$T/p3.img" of="$disk" bs=512 seek="${starts[2]}" conv=notrunc status=none
chmod 644 "$disk"

cat >"$T/compare.py" <<'PY'
# compare.py SRC INSIDE FILEMODE DIRMODE: every entry's bytes, size, mtime, mode.
import hashlib, os, stat, sys
src, inside, fmode, dmode = sys.argv[1], sys.argv[2], int(sys.argv[3], 8), int(sys.argv[4], 8)
def walk(top):
    out = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(root, name)
            out[os.path.relpath(p, top)] = p
    return out
want, got = walk(src), walk(inside)
if set(want) != set(got):
    sys.exit(f"listed differently: {sorted(set(want) ^ set(got))}")
for rel, w in want.items():
    ws, gs = os.lstat(w), os.lstat(got[rel])
    if gs.st_mtime_ns != ws.st_mtime_ns:
        sys.exit(f"{rel}: mtime {gs.st_mtime_ns} inside, {ws.st_mtime_ns} in the source")
    if stat.S_ISDIR(ws.st_mode):
        if gs.st_mode != stat.S_IFDIR | dmode:
            sys.exit(f"{rel}: mode {gs.st_mode:o} inside")
        continue
    if gs.st_mode != stat.S_IFREG | fmode or gs.st_size != ws.st_size or gs.st_uid != 0 or gs.st_gid != 0:
        sys.exit(f"{rel}: mode {gs.st_mode:o} size {gs.st_size} owner {gs.st_uid}:{gs.st_gid} inside")
    if hashlib.sha256(open(w, "rb").read()).digest() != hashlib.sha256(open(got[rel], "rb").read()).digest():
        sys.exit(f"{rel}: bytes differ")
    if gs.st_ino >> 63 != 1:
        sys.exit(f"{rel}: inode {gs.st_ino:#x} not in the inside range")
print(len(want))
PY
chmod -R a+rX "$efi" "$win" "$T/compare.py"

# check_tree DIR: vda1, vda2, vda3 of DIR/files as they went in.
check_tree() {
    local F="$1/files" n
    assert_eq "README vda1 vda2 vda3" "$(alice ls "$F" | xargs)" "ls files/"
    alice cat "$F/README" >"$T/readme"
    grep -q '^vda1: FAT.*imgfs' "$T/readme" || { cat "$T/readme" >&2; fail "README does not name vda1's FAT reader"; }
    grep -q '^vda3: NTFS.*libntfs-3g' "$T/readme" || { cat "$T/readme" >&2; fail "README does not name vda3's NTFS reader"; }
    n=$(alice /usr/bin/python3 "$T/compare.py" "$efi" "$F/vda1" 0755 0755) || fail "files/vda1 (FAT32) differs"
    [[ $n -ge 11 ]] || fail "only $n FAT entries compared"
    # The NTFS side: hard link and links are checked by hand, the rest by the script.
    mkdir -p "$T/win-cmp" && cp -a "$win/." "$T/win-cmp/" && chmod -R a+rX "$T/win-cmp"
    alice sh -c "cd '$F/vda3' && ls -1A" | sort >"$T/ntfs-ls"
    printf '%s\n' abs-link bad.txt Compressed hard.dll rel-link sparse Users Windows | sort >"$T/ntfs-want"
    diff "$T/ntfs-want" "$T/ntfs-ls" >&2 || fail "files/vda3's root lists differently"
    for f in Windows/System32/big.dll Users/h/Résumé.txt sparse bad.txt Compressed/comp.txt; do
        cmp "$win/$f" <(alice cat "$F/vda3/$f") || fail "vda3/$f's bytes differ"
        assert_eq "$(stat -c '%s %Y' "$win/$f")" "$(alice stat -c '%s %Y' "$F/vda3/$f")" "vda3/$f's size and mtime"
        assert_eq "-rwxrwxrwx 0 0" "$(alice stat -c '%A %u %g' "$F/vda3/$f")" "vda3/$f's mode and owner"
    done
    assert_eq "drwxrwxrwx" "$(alice stat -c '%A' "$F/vda3/Windows")" "vda3/Windows's mode"
    [[ $(alice stat -c %b "$F/vda3/Compressed/comp.txt") -lt $(($(stat -c %s "$win/Compressed/comp.txt") / 1024)) ]] ||
        fail "vda3/Compressed/comp.txt takes as many blocks as its size: not compressed"
    assert_eq "$(alice stat -c %i "$F/vda3/Windows/System32/big.dll")" "$(alice stat -c %i "$F/vda3/hard.dll")" \
        "a hard link's inode"
    assert_eq "Users/h" "$(alice readlink "$F/vda3/rel-link")" "an NTFS link's target"
    assert_eq "/etc/os-release" "$(alice readlink "$F/vda3/abs-link")" "an absolute NTFS link's target, as stored"
    assert_eq "hello" "$(alice cat "$F/vda3/rel-link/Résumé.txt")" "through a relative link"
    assert_eq "ID=testlinux" "$(alice cat "$F/vda2/etc/os-release")" "vda2 (ext4) beside them"
}

say "uploaded raw: every file of vda1 (FAT32) and vda3 (NTFS) as it went in"
alice mkdir "$P/raw"
alice cp "$disk" "$P/raw/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/raw" >/dev/null 2>&1 || { alice cat "$P/raw/error" >&2; fail "imgfs wait private/raw"; }
check_tree "$P/raw"
alice find "$P/raw/files/vda1" "$P/raw/files/vda3" -printf '%i %p\n' | sort >"$T/inodes.1"

say "uploaded as QCOW2: the same"
qemu-img convert -f raw -O qcow2 "$disk" "$T/disk.qcow2"
chmod 644 "$T/disk.qcow2"
alice mkdir "$P/q"
alice cp "$T/disk.qcow2" "$P/q/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/q" >/dev/null 2>&1 || { alice cat "$P/q/error" >&2; fail "imgfs wait private/q"; }
assert_eq qcow2 "$(alice cat "$P/q/format")" "q/format"
check_tree "$P/q"

say "a USB stick's image: FAT12 on the whole disk is files/vda"
mkfs.fat -C -F 12 "$T/usb.img" 1440 >/dev/null
mcopy -m -i "$T/usb.img" "$efi/UPPER.TXT" ::/UPPER.TXT
chmod 644 "$T/usb.img"
alice mkdir "$P/usb"
alice cp "$T/usb.img" "$P/usb/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/usb" >/dev/null 2>&1 || fail "imgfs wait private/usb"
assert_eq "README vda" "$(alice ls "$P/usb/files" | xargs)" "ls usb/files/"
grep -q '^vda: FAT12/16/32' <(alice cat "$P/usb/files/README") || fail "usb's README does not name vda's FAT"
assert_eq "upper" "$(alice cat "$P/usb/files/vda/UPPER.TXT")" "usb/files/vda/UPPER.TXT"

say "inode numbers are stable across a remount"
remount_imgfs "$S" "$M" allow_other,multiuser
alice find "$P/raw/files/vda1" "$P/raw/files/vda3" -printf '%i %p\n' | sort >"$T/inodes.2"
[[ $(wc -l <"$T/inodes.2") -ge 20 ]] || fail "the walk after the remount found too little"
cmp -s "$T/inodes.1" "$T/inodes.2" || { diff "$T/inodes.1" "$T/inodes.2" | head >&2; fail "inode numbers changed across a remount"; }

say "hostile: a FAT chain that loops and a damaged MFT record are EIO, logged; a FAT directory inside itself is ELOOP; the rest reads"
cp "$disk" "$T/bad.raw"
python3 - "$T/bad.raw" "$((starts[0] * 512))" "$((starts[2] * 512))" "$bad_rec" <<'PY'
import struct, sys
path, p1, p3, rec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
f = open(path, "r+b")
f.seek(p1); b = f.read(512)
bps, spc, rsvd, nfats = struct.unpack_from("<HBHB", b, 11)
fatsz, root = struct.unpack_from("<I", b, 36)[0], struct.unpack_from("<I", b, 44)[0]
data = p1 + (rsvd + nfats * fatsz) * bps
f.seek(data + (root - 2) * bps * spc); d = f.read(bps * spc)
for i in range(0, len(d), 32):
    if d[i:i + 11] == b"LOOP    BIN":
        first = struct.unpack_from("<H", d, i + 26)[0] | struct.unpack_from("<H", d, i + 20)[0] << 16
        break
else:
    sys.exit("LOOP.BIN not found")
# cyc/self's entry names cyc's own cluster: a directory inside itself.
f.seek(data + (root - 2) * bps * spc); d = f.read(bps * spc)
cyc = next(struct.unpack_from("<H", d, i + 26)[0] | struct.unpack_from("<H", d, i + 20)[0] << 16
           for i in range(0, len(d), 32) if d[i:i + 11] == b"CYC        ")
f.seek(data + (cyc - 2) * bps * spc); d = f.read(bps * spc)
at = next(i for i in range(0, len(d), 32) if d[i:i + 11] == b"SELF       ")
f.seek(data + (cyc - 2) * bps * spc + at + 20); f.write(struct.pack("<H", cyc >> 16))
f.seek(data + (cyc - 2) * bps * spc + at + 26); f.write(struct.pack("<H", cyc & 0xffff))
# Its third cluster points back at its first, in both FATs.
third = first
for _ in range(2):
    f.seek(p1 + rsvd * bps + third * 4); third = struct.unpack("<I", f.read(4))[0] & 0x0fffffff
for n in range(nfats):
    f.seek(p1 + (rsvd + n * fatsz) * bps + third * 4); f.write(struct.pack("<I", first))
# bad.txt's MFT record: its header overwritten.
f.seek(p3); b = f.read(512)
cluster = struct.unpack_from("<H", b, 11)[0] * b[13]
mft = struct.unpack_from("<Q", b, 0x30)[0]
f.seek(p3 + mft * cluster + rec * 1024)
assert f.read(4) == b"FILE"
f.seek(p3 + mft * cluster + rec * 1024 + 4); f.write(b"\xff" * 60)
PY
chmod 644 "$T/bad.raw"
alice mkdir "$P/bad"
alice cp "$T/bad.raw" "$P/bad/disks/vda"
alice "$T/imgfs-as" wait --timeout 120 "$P/bad" >/dev/null 2>&1 || fail "imgfs wait private/bad"
B="$P/bad/files"
errno_as 2001 EIO read "$B/vda1/loop.bin"
grep -q "inside ${P#"$M"}/bad/files/vda1.*EIO .*loops" "$S/imgfs.log" ||
    { tail -n 5 "$S/imgfs.log" >&2; fail "no log line for the looping chain"; }
cmp "$efi/EFI/BOOT/BOOTX64.EFI" <(alice cat "$B/vda1/EFI/BOOT/BOOTX64.EFI") || fail "the rest of the FAT volume"
# A directory inside itself is one inode under both names: the second is
# ELOOP from the kernel (a directory has one parent), and find ends.
alice stat -c %i "$B/vda1/cyc/self" >/dev/null
errno_as 2001 ELOOP stat "$B/vda1/cyc/self/self"
n=$(alice find "$B/vda1/cyc" 2>/dev/null | wc -l) || true
[[ $n -eq 2 ]] || fail "find in a directory inside itself listed $n entries"
errno_as 2001 EIO stat "$B/vda3/bad.txt"
grep -q "inside ${P#"$M"}/bad/files/vda3.*EIO .*MFT record $bad_rec" "$S/imgfs.log" ||
    { tail -n 5 "$S/imgfs.log" >&2; fail "no log line for the damaged MFT record"; }
cmp "$win/Windows/System32/big.dll" <(alice cat "$B/vda3/Windows/System32/big.dll") || fail "the rest of the NTFS volume"
alice ls "$B/vda3" >/dev/null || fail "vda3's root lists without the damaged record"

#!/usr/bin/env bash
# SPEC §18: files/ of an XFS, read by imgfs's own reader in the helper.
# A source tree (a file with holes and unwritten extents in a btree-format
# fork beside an attribute fork, a directory of 3000 entries (node form,
# its own fork a btree as mkfs.xfs lays it out), a shortform and a block
# directory, a long (remote) and short links, a hard link, device nodes,
# a fifo, setuid and setgid modes, mtimes in nanoseconds) goes into XFS
# volumes made without root or loop devices: `mkfs.xfs -p` (a protofile)
# on plain files, then what a protofile cannot say written into the
# image by tests/integration/xfs-edit (mtimes, the hard link, the btree fork,
# CRCs recomputed; xfs_db checks the btree).  A whole-disk v5 written into
# an instance's vdb and captured (files/vdb), and uploads of an MBR disk
# (v4 in files/vda1) and a GPT disk (v5 in files/vda1):
# every file's bytes, mode, owner, mtime (ns), link target, device number
# and hard links match what went in.  Corrupted copies: a superblock that
# fails its CRC (README says why), a directory block that fails its CRC
# and an extent past the volume's end are EIO with the reason in the log,
# and the rest of the volume reads.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

export PATH=/usr/sbin:/sbin:$PATH
for t in sfdisk sgdisk mkfs.xfs xfs_db; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs xfsprogs, fdisk, gdisk)"
done
edit="$(cd "$(dirname "$0")" && pwd)/xfs-edit"

other_uids
setup_mount "allow_other,multiuser"
imgfs_admin "$S" account add alice --uid 2001
imgfs_admin "$S" quota set alice cn-north-1 private-images 20 >/dev/null
alice() { as 2001 "$@"; }
P="$R/private"
MiB=1048576

say "a source tree: holes, unwritten extents, 3000 entries, links, a hard link, devices, setuid, ns mtimes"
src="$T/src"
mkdir -p "$src/etc" "$src/usr/bin" "$src/bigdir" "$src/blockdir" "$src/dev" "$src/deep/a/b/c/d" "$src/empty"
printf 'NAME="Rocky Linux"\nID=rocky\n' >"$src/etc/os-release"
ln "$src/etc/os-release" "$src/etc/hardlink"
echo secret >"$src/etc/shadow"
chmod 0640 "$src/etc/shadow"
chown 0:42 "$src/etc/shadow"
echo tool >"$src/usr/bin/tool"
chmod 4755 "$src/usr/bin/tool"
echo group >"$src/usr/bin/gtool"
chmod 2711 "$src/usr/bin/gtool"
chown 1234:5678 "$src/usr/bin/gtool"
head -c 3000000 /dev/urandom >"$src/usr/medium"
# big: 4 KiB blocks of random bytes, zeros where the fork will have a hole
# or an unwritten extent (xfs-edit: every third run a hole, every fifth
# unwritten), and a tail past its last extent.
python3 - "$src/usr/big" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    for b in range(240):
        run = b // 3
        zero = run % 3 == 1 or run % 5 == 4 or b >= 225
        f.write(bytes(4096) if zero else os.urandom(4096))
    f.write(bytes(100))
PY
for i in $(seq -w 0 2999); do : >"$src/bigdir/file-with-a-longer-name-$i"; done
for i in $(seq 1 40); do echo "$i" >"$src/blockdir/an-entry-of-a-block-directory-$i"; done
printf 'x%.0s' {1..5000} >"$src/deep/a/b/c/d/leaf"
ln -s /etc/os-release "$src/abs-link"
ln -s ../etc/os-release "$src/usr/rel-link"
ln -s "$(printf 'l%.0s' {1..1000})" "$src/long-link" # a remote link (v5: a block with a header)
mknod "$src/dev/null" c 1 3
mknod "$src/dev/sda" b 8 0
mknod "$src/dev/big" c 300 70000 # numbers past 8 bits
mkfifo "$src/dev/fifo"
find "$src" -exec touch -h -d @1600000000.5 {} +
touch -d @1500000000.123456789 "$src/etc/os-release"
touch -h -d @1400000000.000000001 "$src/abs-link"
touch -d @1700000000.999999999 "$src/bigdir"

# mkxfs IMG v4|v5: the tree in a 32 MiB XFS on a plain file.
mkxfs() {
    local opts=(-m "crc=1,bigtime=1")
    [[ $2 == v4 ]] && opts=(-m crc=0 -i size=256)
    truncate -s $((32 * MiB)) "$1"
    python3 "$edit" proto "$src" >"$T/proto"
    TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f "${opts[@]}" -p "$T/proto" "$1" 2>/dev/null || fail "mkfs.xfs -p ($2)"
    python3 "$edit" edit "$1" "$src" usr/big etc/hardlink || fail "xfs-edit ($2)"
    # xfs_db reads the btree fork as the kernel would.
    [[ $(xfs_db -r -c 'path /usr/big' -c 'p core.format' "$1") == *btree* ]] || fail "usr/big is not in btree format"
    [[ $(xfs_db -r -c "path /blockdir" -c "p core.format core.size" "$1") == *extents*"size = 4096" ]] || fail "blockdir is not one block"
    xfs_db -r -c 'path /usr/big' -c 'bmap' "$1" | grep -q 'flag 1' || fail "xfs_db sees no unwritten extent"
}
mkxfs "$T/v5.img" v5
mkxfs "$T/v4.img" v4

# The comparison (the source read as root, the mount as alice).
cat >"$T/compare.py" <<'PY'
import hashlib, json, os, stat, sys
F = ("st_mode", "st_uid", "st_gid", "st_mtime_ns", "st_nlink", "st_size", "st_rdev")
def walk(top):
    out = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            e = {f: getattr(st, f) for f in F}
            if stat.S_ISDIR(st.st_mode):
                del e["st_nlink"], e["st_size"]  # the file system's own counts
            if stat.S_ISREG(st.st_mode):
                e["sha256"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            e["ino"] = st.st_ino
            out[os.path.relpath(p, top)] = e
    return out
if sys.argv[1] == "dump":
    json.dump(walk(sys.argv[2]), sys.stdout)
    sys.exit(0)
want, got = json.load(open(sys.argv[2])), walk(sys.argv[3])
if set(want) != set(got):
    sys.exit(f"listed differently: {sorted(set(want) ^ set(got))[:10]}")
links = {}
for rel, w in want.items():
    g = got[rel]
    for k in w:
        if k != "ino" and w[k] != g[k]:
            sys.exit(f"{rel}: {k} {g[k]!r} inside, {w[k]!r} in the source")
    links.setdefault(w["ino"], set()).add(g["ino"])
for i, mine in links.items():
    if len(mine) != 1:
        sys.exit(f"hard links of source inode {i} have inodes {mine} inside")
print(len(want))
PY
python3 "$T/compare.py" dump "$src" >"$T/want.json"
chmod 644 "$T/want.json"

# upload NAME FILE: FILE as private/NAME/disks/vda, available.
upload() {
    chmod 644 "$2"
    alice mkdir "$P/$1"
    alice cp "$2" "$P/$1/disks/vda"
    alice "$T/imgfs-as" wait --timeout 120 "$P/$1" >/dev/null 2>&1 || { alice cat "$P/$1/error" >&2; fail "imgfs wait $1"; }
}
# check DIR: every file of DIR (a volume's root) as it went in.
check() {
    local n
    n=$(alice /usr/bin/python3 "$T/compare.py" check "$T/want.json" "$1") || fail "$1 differs from the source"
    [[ $n -gt 3000 ]] || fail "only $n entries compared in $1"
}

# mbr IMG OUT: a 40 MiB disk, IMG in its partition 1 (MBR).
mbr() {
    truncate -s $((40 * MiB)) "$2"
    printf 'label: dos\nstart=2048, size=69632, type=83\n' | sfdisk -q "$2"
    dd if="$1" of="$2" bs=512 seek=2048 conv=notrunc status=none
}

say "a whole-disk v5 XFS: written into an instance's vdb through the mount, captured: files/vdb"
# (An upload is a disk with a partition table, §5.3: a bare file system
# reaches an image through an instance's disk.)
I="$R/instances/vm"
alice mkdir "$I"
alice sh -c "echo 1G >'$I/system-disk-size' && echo public/centos-7.4 >'$I/image'"
alice truncate -s $((32 * MiB)) "$I/disks/vdb"
chmod 644 "$T/v5.img"
alice dd if="$T/v5.img" of="$I/disks/vdb" bs=1M conv=notrunc status=none
alice mkdir "$P/raw"
alice sh -c "echo 'instance vm vdb' >'$P/raw/source'"
alice "$T/imgfs-as" wait --timeout 120 "$P/raw" >/dev/null 2>&1 || { alice cat "$P/raw/error" >&2; fail "imgfs wait raw"; }
# vda1: the catalogue image's own small ext2 (SPEC §3), captured with vdb.
assert_eq "README vda1 vdb" "$(alice ls "$P/raw/files" | tr '\n' ' ' | sed 's/ $//')" "ls files/"
grep -qx "vdb: XFS, read by imgfs's own reader" <(alice cat "$P/raw/files/README") || {
    alice cat "$P/raw/files/README" >&2
    fail "README does not name the reader"
}
check "$P/raw/files/vdb"
V="$P/raw/files/vdb"
assert_eq "$(alice stat -c %i "$V/etc/os-release")" "$(alice stat -c %i "$V/etc/hardlink")" "a hard link's inode"
assert_eq 2 "$(alice stat -c %h "$V/etc/os-release")" "the hard link's count"
assert_eq "1500000000.123456789" "$(alice stat -c %.9Y "$V/etc/os-release")" "an mtime in ns"
assert_eq 3000 "$(alice ls "$V/bigdir" | wc -l)" "bigdir's entries (node form)"
cmp "$src/usr/big" <(alice cat "$V/usr/big") || fail "usr/big (holes, unwritten extents, btree fork) differs"
assert_eq "300,70000" "$(alice stat -c '%Hr,%Lr' "$V/dev/big")" "a device number past 8 bits"

say "v4 XFS in partition 1 of an MBR disk, v5 in partition 1 of a GPT disk"
mbr "$T/v4.img" "$T/mbr.raw"
upload mbr "$T/mbr.raw"
grep -qx "vda1: XFS, read by imgfs's own reader" <(alice cat "$P/mbr/files/README") || fail "README (MBR)"
check "$P/mbr/files/vda1"
truncate -s $((40 * MiB)) "$T/gpt.raw"
sgdisk -n 1:2048:+32M "$T/gpt.raw" >/dev/null
dd if="$T/v5.img" of="$T/gpt.raw" bs=512 seek=2048 conv=notrunc status=none
upload gpt "$T/gpt.raw"
check "$P/gpt/files/vda1"

say "hostile: a superblock that fails its CRC: README says why, files/ lists nothing"
cp "$T/v5.img" "$T/badsb.img"
printf '\x01' | dd of="$T/badsb.img" bs=1 seek=200 conv=notrunc status=none
mbr "$T/badsb.img" "$T/badsb.raw"
upload badsb "$T/badsb.raw"
assert_eq "README" "$(alice ls "$P/badsb/files" | tr '\n' ' ' | sed 's/ $//')" "ls files/ of a bad superblock"
grep -q "^vda1: not readable: XFS: the superblock fails its CRC" <(alice cat "$P/badsb/files/README") || {
    alice cat "$P/badsb/files/README" >&2
    fail "README does not say the superblock fails its CRC"
}

say "hostile: a directory block that fails its CRC and an extent past the end: EIO with the reason; the rest reads"
cp "$T/v5.img" "$T/bad.img"
python3 "$edit" corrupt "$T/bad.img" blockdir usr/medium || fail "xfs-edit corrupt"
mbr "$T/bad.img" "$T/bad.raw"
upload bad "$T/bad.raw"
B="$P/bad/files/vda1"
if alice ls "$B/blockdir" >/dev/null 2>"$T/ls.err"; then fail "ls of a directory whose block fails its CRC succeeded"; fi
grep -q "Input/output error" "$T/ls.err" || fail "ls blockdir: $(cat "$T/ls.err"), not EIO"
grep -q "inside .*/bad/files/vda1 (inode [0-9]*): EIO directory [0-9]*'s block 0 fails its CRC" "$S/imgfs.log" ||
    fail "the directory block's CRC is not the logged reason"
errno_as 2001 EIO read "$B/usr/medium"
grep -q "inside .*/bad/files/vda1 (inode [0-9]*): EIO inode [0-9]* has an extent past the end" "$S/imgfs.log" ||
    fail "the extent past the end is not the logged reason"
cmp "$src/usr/big" <(alice cat "$B/usr/big") || fail "usr/big of the damaged volume"
assert_eq 'NAME="Rocky Linux"' "$(alice head -1 "$B/etc/os-release")" "etc/os-release of the damaged volume"
assert_eq 3000 "$(alice ls "$B/bigdir" | wc -l)" "bigdir of the damaged volume"

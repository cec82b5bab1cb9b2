#!/usr/bin/env bash
# SPEC §18 "Sizes of listings", §12, issue 47: a listing inside an image
# costs what it returns.  Each readdir resumes from the position the last
# one ended at (the helper's page carries it), so reading the first 2K
# entries of a large guest directory costs twice the first K, and both far
# less than the whole — counted in the volume's bytes the helper asked for
# (imgfs_inside_block_bytes_total) and the pages it listed
# (imgfs_inside_list_pages_total), never timed.  Before, the first page of
# a listing walked the whole directory (up to 100,000 names) whatever was
# read of it.
#
# Two guest file systems, built without loop devices:
#   - an XFS (mkfs.xfs -p, a protofile) with three directories of 60,000
#     files each (an inode each);
#   - an ext4 whose directory big/ holds about 80,000 entries written
#     straight into the blocks debugfs gave it (mke2fs -d links names one
#     at a time, quadratically: 86 s for 40,000), and whose directory
#     holey/ has 600 blocks of which only the last holds entries (a
#     directory emptied of its first names): a listing goes past the
#     empty blocks, several pages of them in one readdir; edge/ and past/
#     hold their one entry in their 4,096th and 4,097th block: one readdir
#     reads 16 pages of 256 blocks, so edge/ lists it and past/ is EIO;
#     mid/ holds an entry in block 1 and one in block 4,400: the first
#     readdir gives the first with the offset where its 16 pages ended,
#     and the second goes on from there;
#   - a FAT32 (mkfs.fat, its directory's entries written into clusters of
#     its own) and an NTFS (mkntfs, filled through ntfs-3g's FUSE mount:
#     fixture building only) with a directory of 3,000 entries each,
#     listed in helper pages of 512.
# Every listing is whole and exact: each name once, none missing.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in sfdisk mkfs.xfs mke2fs debugfs mkfs.fat mkntfs ntfs-3g; do
    command -v $t >/dev/null ||
        fail "$t is missing (scripts/install-deps installs e2fsprogs, xfsprogs, fdisk, dosfstools, ntfs-3g)"
done

setup_mount
P="$R/private"
st() { stat_of "$M" "$@"; }
N=60000

# disk_with FS_IMAGE SIZE_MIB DISK: an MBR disk whose partition 1 (at 1 MiB) holds FS_IMAGE.
disk_with() {
    truncate -s $(($2 + 2))M "$3"
    printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$3"
    dd if="$1" of="$3" bs=1M seek=1 conv=notrunc,sparse status=none
}
upload() {
    mkdir "$P/$1"
    cp --sparse=always "$2" "$P/$1/disks/vda"
    imgfs_wait "$P/$1" >/dev/null || fail "the upload of $1 did not become available: $(cat "$P/$1/error")"
}

say "an XFS with three directories of $N files (mkfs.xfs -p)"
python3 - "$T/proto" "$N" <<'PY'
import sys
n = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    f.write("/dev/null\n0 0\nd--755 0 0\n")
    for d in ("big1", "big2", "big3"):
        f.write("%s d--755 0 0\n" % d)
        for i in range(n):
            f.write("file-%06d ---644 0 0 /dev/null\n" % i)
        f.write("$\n")
    f.write("$\n")
PY
mkfs.xfs -q -f -p "$T/proto" -i maxpct=50 -d file,name="$T/x.img",size=300m || fail "mkfs.xfs -p"
disk_with "$T/x.img" 300 "$T/x.raw"
upload xfs "$T/x.raw"

say "an ext4 whose big/ holds about 80,000 entries, and holey/ 600 blocks, entries in the last only"
mkdir -p "$T/src/big" "$T/src/holey" "$T/src/edge" "$T/src/past" "$T/src/mid"
: >"$T/src/big/f0"
mke2fs -q -F -t ext4 -O ^metadata_csum,^dir_index,^inline_data -b 4096 -N 1024 -d "$T/src" "$T/e.img" 128M ||
    fail "mke2fs -d"
{
    for ((i = 0; i < 400; i++)); do echo "expand_dir /big"; done
    for ((i = 0; i < 599; i++)); do echo "expand_dir /holey"; done
    # 16 pages of 256 blocks a readdir: edge/'s entries in its 4,096th block, past/'s in its 4,097th
    for ((i = 0; i < 4095; i++)); do echo "expand_dir /edge"; done
    for ((i = 0; i < 4096; i++)); do echo "expand_dir /past"; done
    # mid/: an entry in block 1, the next in block 4,400: two readdirs, the first one's last offset moved on
    for ((i = 0; i < 4400; i++)); do echo "expand_dir /mid"; done
} >"$T/expand"
debugfs -w -f "$T/expand" "$T/e.img" >/dev/null 2>&1 || fail "debugfs expand_dir"
ino_of() { debugfs -R "stat $1" "$T/e.img" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
blocks_of() { debugfs -R "blocks $1" "$T/e.img" 2>/dev/null; }
python3 - "$T/e.img" "$(ino_of /big)" "$(ino_of /holey)" "$(ino_of /big/f0)" "$(blocks_of /big)" \
    "$(blocks_of /holey)" "$T/names.big" "$(blocks_of /edge)" "$(blocks_of /past)" "$(blocks_of /mid)" <<'PY'
import struct, sys
img, big, holey, f0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
big_blocks = [int(b) for b in sys.argv[5].split()]
holey_blocks = [int(b) for b in sys.argv[6].split()]
BS = 4096
def dirent(ino, name, rec):
    return struct.pack("<IHBB", ino, rec, len(name), 1) + name + bytes(rec - 8 - len(name))
def block(entries):
    # entries: (ino, name); the last one's record runs to the block's end
    out = b""
    for k, (ino, name) in enumerate(entries):
        rec = (8 + len(name) + 3) & ~3
        if k == len(entries) - 1:
            rec = BS - len(out)
        out += dirent(ino, name, rec)
    assert len(out) == BS
    return out
names = []
with open(img, "r+b") as f:
    n = 0
    for i, b in enumerate(big_blocks):
        ents = [(big, b"."), (2, b"..")] if i == 0 else []
        if i == 0:
            ents.append((f0, b"f0"))
            names.append("f0")
        while sum((8 + len(e[1]) + 3) & ~3 for e in ents) + 20 <= BS - 20:
            name = b"file-%06d" % n
            n += 1
            ents.append((f0, name))
            names.append(name.decode())
        f.seek(b * BS)
        f.write(block(ents))
    # holey/: block 0 keeps . and .., the blocks after it stay empty; the last holds 3 entries
    f.seek(holey_blocks[-1] * BS)
    f.write(block([(f0, b"late-1"), (f0, b"late-2"), (f0, b"late-3")]))
    for arg, count in ((8, 4096), (9, 4097)):
        blocks = [int(b) for b in sys.argv[arg].split()]
        assert len(blocks) == count, (arg, len(blocks))
        f.seek(blocks[-1] * BS)
        f.write(block([(f0, b"last")]))
    mid = [int(b) for b in sys.argv[10].split()]
    f.seek(mid[1] * BS)
    f.write(block([(f0, b"early")]))
    f.seek(mid[-1] * BS)
    f.write(block([(f0, b"later")]))
open(sys.argv[7], "w").write("\n".join(sorted(names)) + "\n")
PY
disk_with "$T/e.img" 128 "$T/e.raw"
upload ext "$T/e.raw"
NBIG=$(wc -l <"$T/names.big")
say "  big/ holds $NBIG entries"

NAMES_PAGE=16384 # INS_NAMES_PAGE (fs/fuse/inside.c): names a READDIR's page holds
# counts CMD...: runs CMD, then prints the volume bytes helpers read, the
# pages they listed and the entries given to the kernel meanwhile.
counts() {
    local b0 p0 e0
    b0=$(st imgfs_inside_block_bytes_total) p0=$(st imgfs_inside_list_pages_total)
    e0=$(st imgfs_inside_list_entries_total)
    "$@" >/dev/null
    echo "$(($(st imgfs_inside_block_bytes_total) - b0)) $(($(st imgfs_inside_list_pages_total) - p0))" \
        "$(($(st imgfs_inside_list_entries_total) - e0))"
}
# first DIR K: reads the first K entries of DIR (a readdir at a time, as
# ls would) and stops.
first() {
    python3 -c '
import itertools, os, sys
with os.scandir(sys.argv[1]) as it:
    n = sum(1 for _ in itertools.islice(it, int(sys.argv[2])))
assert n == int(sys.argv[2]), n' "$1" "$2"
}
# cost_check FS DIR_K DIR_2K DIR_ALL K ALL: the first K, the first 2K and
# every entry, each of a directory of its own (no cache between them).
cost_check() {
    local fs=$1 k=$5 all=$6 c1 c2 c3
    read -r -a c1 <<<"$(counts first "$2" "$k")"
    read -r -a c2 <<<"$(counts first "$3" $((2 * k)))"
    read -r -a c3 <<<"$(counts first "$4" "$all")"
    say "  $fs: first $k entries: ${c1[0]} bytes read, ${c1[1]} pages; first $((2 * k)): ${c2[0]} bytes," \
        "${c2[1]} pages; all $all: ${c3[0]} bytes, ${c3[1]} pages"
    ((c1[1] > 0 && c1[2] >= k)) || fail "$fs: no listing pages counted (${c1[1]}) or too few entries (${c1[2]})"
    # Twice the entries, about twice the bytes and pages (a partly read
    # page or block at each end): not the same cost, not the whole.
    ((c2[0] * 10 >= c1[0] * 15 && c2[0] * 10 <= c1[0] * 25)) ||
        fail "$fs: the first $((2 * k)) entries cost ${c2[0]} bytes, the first $k ${c1[0]}: not in proportion"
    # Pages: more for more entries, and no more than the entries need
    # (a READDIR's names page holds 16,384 since issue 67: 15,000 and
    # 30,000 entries are the READDIRPLUS's page and one or two of names,
    # so pages are too coarse for a ratio; the bytes above are not).
    ((c1[1] < c2[1] && c2[1] < c3[1] && c1[1] <= 2 + k / NAMES_PAGE && c2[1] <= 2 + 2 * k / NAMES_PAGE)) ||
        fail "$fs: the first $k, $((2 * k)) and $all entries took ${c1[1]}, ${c2[1]} and ${c3[1]} pages"
    # The first K of ALL: at most three times their share of the whole.
    ((c1[0] * all <= 3 * k * c3[0])) || fail "$fs: the first $k of $all entries cost ${c1[0]} bytes, all of them ${c3[0]}"
}

say "XFS: the first 15,000 and 30,000 entries and all $N, each of a directory of its own"
X="$P/xfs/files/vda1"
ls "$X" >/dev/null # the helper started, the volume open: not counted below
cost_check XFS "$X/big1" "$X/big2" "$X/big3" 15000 "$N"

say "ext4: the first 20,000 and 40,000 entries and all $NBIG of big/"
E="$P/ext/files/vda1"
# One directory, so one mount each: nothing of an earlier listing cached.
ext_first() {
    remount_imgfs "$S" "$M"
    counts first "$E/big" "$1"
}
read -r -a e1 <<<"$(ext_first 20000)"
read -r -a e2 <<<"$(ext_first 40000)"
read -r -a e3 <<<"$(ext_first "$NBIG")"
say "  ext4: first 20000: ${e1[0]} bytes, ${e1[1]} pages; first 40000: ${e2[0]} bytes, ${e2[1]} pages;" \
    "all $NBIG: ${e3[0]} bytes, ${e3[1]} pages"
((e1[1] < e2[1] && e2[1] < e3[1] && e1[1] <= 2 + 20000 / NAMES_PAGE && e2[1] <= 2 + 40000 / NAMES_PAGE)) ||
    fail "ext4: the first 20000, 40000 and $NBIG entries took ${e1[1]}, ${e2[1]} and ${e3[1]} pages"
((e1[0] * 3 <= e3[0] * 2)) || fail "ext4: the first 20000 of $NBIG entries cost ${e1[0]} bytes, all of them ${e3[0]}"

say "every listing whole and exact"
ls -f "$E/big" | grep -v '^\.\.\?$' | LC_ALL=C sort >"$T/got.big"
cmp -s "$T/names.big" "$T/got.big" || fail "ext4 big/: $(comm -3 "$T/names.big" "$T/got.big" | head -3 | tr '\n' ' ')"
for d in big1 big2 big3; do
    ls -f "$X/$d" | grep -v '^\.\.\?$' | LC_ALL=C sort >"$T/got.$d"
    assert_eq "$N $N" "$(wc -l <"$T/got.$d") $(uniq <"$T/got.$d" | wc -l)" "names and distinct names listed in XFS $d/"
done
assert_eq "file-000000 file-059999" "$(ls "$X/big2" | sed -n '1p;$p' | paste -sd ' ')" "XFS big2/'s first and last"

say "FAT32 and NTFS directories of 3,000 entries: six helper pages a readdir, each resumed exactly"
# FAT32: mkfs.fat, then many/'s 3,000 8.3 entries written into clusters of
# its own (mtools scans the directory for each name it adds: minutes).
truncate -s 64M "$T/f.img"
mkfs.fat -F 32 "$T/f.img" >/dev/null || fail "mkfs.fat"
python3 - "$T/f.img" 3000 <<'PY' || fail "writing the FAT directory"
import struct, sys
img, n = sys.argv[1], int(sys.argv[2])
with open(img, "r+b") as f:
    bs = f.read(512)
    bps, spc, rsv, nfats = struct.unpack_from("<HBHB", bs, 11)
    fatsz = struct.unpack_from("<I", bs, 36)[0]
    rootclus = struct.unpack_from("<I", bs, 44)[0]
    cs = bps * spc
    data = (rsv + nfats * fatsz) * bps
    off = lambda c: data + (c - 2) * cs
    fat = rsv * bps
    need = (n + 2) * 32
    count = (need + cs - 1) // cs
    first = 3  # cluster 2 is the root's; mkfs.fat leaves the rest free
    for k in range(count):
        c = first + k
        nxt = 0x0FFFFFFF if k == count - 1 else c + 1
        for i in range(nfats):
            f.seek(fat + i * fatsz * bps + 4 * c)
            f.write(struct.pack("<I", nxt))
    def ent(name, attr, clus):
        return name + struct.pack("<BBBHHHHHHHI", attr, 0, 0, 0, 0x5a21, 0x5a21, clus >> 16, 0, 0x5a21, clus & 0xffff, 0)
    # MANY in the root directory (its first free slot: a fresh volume's is the first)
    f.seek(off(rootclus))
    f.write(ent(b"MANY       ", 0x10, first))
    buf = ent(b".          ", 0x10, first) + ent(b"..         ", 0x10, 0)
    for i in range(n):
        buf += ent(b"E%05d  TXT" % i, 0x20, 0)
    buf += bytes(count * cs - len(buf))
    for k in range(count):
        f.seek(off(first + k))
        f.write(buf[k * cs:(k + 1) * cs])
PY
seq -f 'E%05g.TXT' 0 2999 >"$T/names.fat"
# NTFS: mkntfs, filled through ntfs-3g's FUSE mount (well under a second).
mkdir -p "$T/many" "$T/ntfsmnt"
python3 -c 'import os, sys
for i in range(3000):
    open(os.path.join(sys.argv[1], "entry-%05d.txt" % i), "w").close()' "$T/many"
ls "$T/many" | LC_ALL=C sort >"$T/names.ntfs"
truncate -s 64M "$T/n.img"
mkntfs -F -Q -s 512 "$T/n.img" >/dev/null 2>&1 || fail "mkntfs"
ntfs-3g "$T/n.img" "$T/ntfsmnt" || fail "ntfs-3g mount (fixture)"
cp -r "$T/many" "$T/ntfsmnt/" && umount "$T/ntfsmnt" || fail "filling the NTFS fixture"
truncate -s 130M "$T/fn.raw"
printf 'label: dos\nstart=2048, size=131072, type=c\nstart=133120, size=131072, type=7\n' | sfdisk -q "$T/fn.raw"
dd if="$T/f.img" of="$T/fn.raw" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$T/n.img" of="$T/fn.raw" bs=1M seek=65 conv=notrunc,sparse status=none
upload fn "$T/fn.raw"
ls -f "$P/fn/files/vda1/MANY" | grep -v '^\.\.\?$' | LC_ALL=C sort >"$T/got.fat"
cmp -s "$T/names.fat" "$T/got.fat" || fail "FAT MANY/: $(comm -3 "$T/names.fat" "$T/got.fat" | head -3 | tr '\n' ' ')"
ls -f "$P/fn/files/vda2/many" | grep -v '^\.\.\?$' | LC_ALL=C sort >"$T/got.ntfs"
cmp -s "$T/names.ntfs" "$T/got.ntfs" || fail "NTFS many/: $(comm -3 "$T/names.ntfs" "$T/got.ntfs" | head -3 | tr '\n' ' ')"

say "ext4 holey/: 599 empty blocks, then the entries, in one listing"
assert_eq "late-1 late-2 late-3" "$(ls "$E/holey" | paste -sd ' ')" "holey/'s entries"
say "ext4: 4,095 blocks without an entry are passed in one readdir, 4,096 are EIO (logged)"
assert_eq "last" "$(ls "$E/edge")" "edge/'s entry, in its 4,096th block"
assert_errno EIO listdir "$E/past"
grep -q 'files/: 16 pages of a directory without an entry: EIO' "$S/imgfs.log" || fail "no log line for past/'s EIO"
say "ext4 mid/: an entry, 4,398 empty blocks, an entry: the first readdir's last offset moves past what it read"
assert_eq "early later" "$(ls "$E/mid" | paste -sd ' ')" "mid/'s entries"
echo "PASS"

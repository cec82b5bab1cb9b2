#!/usr/bin/env bash
# SPEC §18 "Sizes of listings", §12, issue 67: a page of a guest
# directory's listing costs what the page holds, whatever the directory's
# size — counted in /stats (never timed):
#   imgfs_inside_list_pages_total     pages asked of the helper
#   imgfs_inside_list_entries_total   entries given to the kernel
#   imgfs_inside_list_read_total      entries the pages held, each with
#                                     its inode read (new, issue 67)
#   imgfs_inside_block_reads_total    the helper's reads of the volume
#   imgfs_chunk_cache_misses_total    chunks the daemon loaded (each read
#                                     whole, verified, opened: a page's
#                                     real cost, issue 67)
#
# An ext4 made the way the world makes one (mkfs.ext4, then the kernel's
# own driver on a loop mount creates the files: an htree directory whose
# names lie in hash order, each with an inode of its own) holds d1k/ of
# 1,000 entries and d100k/ of 100,000.  On a fresh mount each:
#   - the first readdir (Python's scandir: one getdents of 1 MiB, room for
#     6,553 entries) reads one page of either directory: d1k/'s 512
#     entries, whose inodes lie in 256 KiB; d100k/'s as many as have
#     their inodes in INS_LIST_SPREAD (16) MiB of the volume (its 100,000
#     lie in 25 MiB, in hash order), so that the chunks its page loads are
#     bounded whatever the directory's size (before: 512 entries, each
#     about a chunk of its own, 210 chunks for a 1,000,000-entry
#     directory; before that 13 pages, 6,241 entries and 6,544 block
#     reads of 64 KiB); each inode's block read once, in inode order;
#   - a getdents of 4 KiB reads no more inodes than its reply has room
#     for (at most 4096 / 160 + 1 = 26), not a page of 512;
#   - a whole ls -f of d100k/ reads the inodes of its first readdir's
#     page only (a READDIRPLUS: the kernel's first readdir), no more than
#     of d1k/; the rest are READDIRs, names and types from the entries
#     (imgfs_inside_list_names_total), no inode read (before: 100,000);
#   - a stat of one name in d100k/ (an htree of two levels) reads at most
#     8 blocks, at most 2 more than in d1k/ (the index block): the name's
#     hash chooses its leaf (SPEC §18.7).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in sfdisk mkfs.ext4 losetup; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs e2fsprogs, fdisk, mount)"
done

setup_mount
P="$R/private"
st() { stat_of "$M" "$@"; }
PAGE=512  # INS_LIST_PAGE (fs/fuse/inside.c)
SPREAD=8  # INS_LIST_SPREAD (fs/inside/ins_proto.h): MiB of inodes a page's lie in

say "an ext4 with d1k/ (1,000 files) and d100k/ (100,000), made by the kernel on a loop mount"
truncate -s 64M "$T/e.img"
mkfs.ext4 -q -F -b 4096 -N 110000 -I 256 "$T/e.img" || fail "mkfs.ext4"
mkdir "$T/lm"
mount -o loop "$T/e.img" "$T/lm" || fail "mount -o loop (a loop device is needed to build the fixture)"
also_unmount "$T/lm"
mkdir "$T/lm/d1k" "$T/lm/d100k" "$T/lm/dsparse"
python3 - "$T/lm" <<'PY' || fail "creating the files"
import os, sys
for d, n in (("d1k", 1000), ("d100k", 100000)):
    for i in range(n):
        os.close(os.open(os.path.join(sys.argv[1], d, "file-%06d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
# dsparse/: 8,000 names of 250 bytes (15 a block: about 540 blocks), all
# but every 200th removed: 40 entries spread over blocks that take three
# pages of INS_LIST_BLOCKS (256) to walk.
d = os.path.join(sys.argv[1], "dsparse")
for i in range(8000):
    os.close(os.open(os.path.join(d, "%06d" % i + "s" * 244), os.O_CREAT | os.O_WRONLY, 0o644))
for i in range(8000):
    if i % 200:
        os.unlink(os.path.join(d, "%06d" % i + "s" * 244))
PY
umount "$T/lm"
# The entries d100k/'s first page holds, from the image itself: in the
# walk's order (the directory's blocks in order, as debugfs's ls lists
# them), each inode at its byte on the volume (its group's inode table,
# dumpe2fs), up to the first whose MiB would be the page's
# (SPREAD + 1)th: the page's size exactly, so a spread of 9 fails.
first_page=$(python3 - "$T/e.img" "$SPREAD" "$PAGE" <<'PY'
import re, subprocess, sys
img, spread, page = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = subprocess.run(["dumpe2fs", img], capture_output=True, text=True, check=True).stdout
field = lambda name: int(re.search(r"^%s:\s+(\d+)" % name, d, re.M).group(1))
ipg, isz, bs = field("Inodes per group"), field("Inode size"), field("Block size")
tables = [int(t) for t in re.findall(r"Inode table at (\d+)-", d)]
ls = subprocess.run(["debugfs", "-R", "ls -p /d100k", img], capture_output=True, text=True, check=True).stdout
mibs, n = set(), 0
for line in ls.splitlines():
    f = line.split("/")  # /ino/mode/uid/gid/name/size/
    if len(f) != 8 or f[5] in (".", ".."):
        continue
    ino = int(f[1])
    mib = (tables[(ino - 1) // ipg] * bs + (ino - 1) % ipg * isz) >> 20
    if n == page or (mib not in mibs and len(mibs) == spread):
        break
    mibs.add(mib)
    n += 1
print(n)
PY
) || fail "reading d100k/'s walk from the image"
truncate -s 66M "$T/e.raw"
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$T/e.raw"
dd if="$T/e.img" of="$T/e.raw" bs=1M seek=1 conv=notrunc,sparse status=none
mkdir "$P/ext"
cp --sparse=always "$T/e.raw" "$P/ext/disks/vda"
imgfs_wait "$P/ext" >/dev/null || fail "the upload did not become available: $(cat "$P/ext/error")"

# counts CMD...: runs CMD; prints the pages, entries, block reads,
# inodes read, names only, bytes read and chunks loaded it cost.
counts() {
    local p0 e0 b0 r0 n0 y0 c0 reg='region="cn-north-1"'
    p0=$(st imgfs_inside_list_pages_total) e0=$(st imgfs_inside_list_entries_total)
    b0=$(st imgfs_inside_block_reads_total) r0=$(st imgfs_inside_list_read_total)
    n0=$(st imgfs_inside_list_names_total) y0=$(st imgfs_inside_block_bytes_total)
    c0=$(st imgfs_chunk_cache_misses_total "$reg")
    "$@" >/dev/null
    echo "$(($(st imgfs_inside_list_pages_total) - p0)) $(($(st imgfs_inside_list_entries_total) - e0))" \
        "$(($(st imgfs_inside_block_reads_total) - b0)) $(($(st imgfs_inside_list_read_total) - r0))" \
        "$(($(st imgfs_inside_list_names_total) - n0)) $(($(st imgfs_inside_block_bytes_total) - y0))" \
        "$(($(st imgfs_chunk_cache_misses_total "$reg") - c0))"
}
# first_readdir DIR: one getdents (Python's scandir: a buffer of the
# directory's st_blksize, 1 MiB) and no more.
first_readdir() { python3 -c 'import os, sys; next(os.scandir(sys.argv[1]))' "$1"; }
V="$P/ext/files/vda1"
# fresh: a new daemon (no helper's cache, no kernel's listing), the volume open.
fresh() {
    remount_imgfs "$S" "$M"
    ls "$V" >/dev/null
}

say "the first readdir of d1k/ and of d100k/: one page each, its chunks bounded"
fresh
read -r -a a <<<"$(counts first_readdir "$V/d1k")"
fresh
read -r -a b <<<"$(counts first_readdir "$V/d100k")"
say "  d1k/: ${a[0]} pages, ${a[1]} entries, ${a[3]} inodes, ${a[2]} block reads of ${a[5]} bytes, ${a[6]} chunks;" \
    "d100k/: ${b[0]} pages, ${b[1]} entries, ${b[3]} inodes, ${b[2]} block reads of ${b[5]} bytes, ${b[6]} chunks"
# d1k/'s inodes lie in 256 KiB of its inode tables: a full page.
assert_eq "1 $PAGE $PAGE" "${a[0]} ${a[1]} ${a[3]}" "pages, entries and inodes read of d1k/'s first readdir"
# d100k/'s lie in 25 MiB, its names in hash order: the page ends before
# the first entry whose inode lies in a 17th MiB (each MiB a chunk the
# daemon loads whole), so it holds at least 16 entries, and loads those
# 16 chunks, the directory's inode's and its first blocks' (one or two),
# whatever the directory's size (before: 512 entries and about 26 chunks
# here, 210 of a 1,000,000-entry directory; the issue's 50 ms of CPU).
assert_eq 1 "${b[0]}" "pages of d100k/'s first readdir"
((b[6] <= SPREAD + 3)) ||
    fail "d100k/'s first readdir loaded ${b[6]} chunks: more than its $SPREAD MiB of inodes and the directory's own"
((b[1] == b[3] && b[1] >= SPREAD && b[1] < PAGE)) ||
    fail "d100k/'s first readdir held ${b[1]} entries, ${b[3]} inodes read (its inodes' spread ends it: $SPREAD..$((PAGE - 1)))"
# Exactly the entries before the first whose inode lies in a 9th MiB.
assert_eq "$first_page" "${b[1]}" "entries of d100k/'s first readdir (those whose inodes lie in its first $SPREAD MiB)"
((a[6] <= 4)) || fail "d1k/'s first readdir loaded ${a[6]} chunks (its inodes and blocks lie in one or two)"
# Each inode's block read once, in inode order (fewer reads than entries
# but the directory's own blocks), and each read the block asked, not the
# 64 KiB around it (a read that follows the last one reads twice what
# that one did, so two neighbours read two blocks).
((b[2] <= b[1] + 4)) || fail "d100k/'s first page read ${b[2]} blocks for ${b[1]} entries: some twice"
((b[5] <= b[2] * 4096 * 2 + (256 << 10))) ||
    fail "d100k/'s first page moved ${b[5]} bytes in ${b[2]} reads: not sized by what is asked"
((a[2] <= 40)) || fail "d1k/'s first page read ${a[2]} blocks (its inodes and blocks fit in a few windows)"

say "the first readdir of dsparse/ (40 entries in 540 blocks): its pages go on to fill the reply"
# A page ends at INS_LIST_BLOCKS blocks with fewer entries than asked and
# no spread: the readdir asks the next page (up to INS_LIST_PAGES), so
# one getdents gets all 40 entries from three pages, not the first
# page's dozen (a readdir ended at every page with an entry).
fresh
read -r -a sp <<<"$(counts first_readdir "$V/dsparse")"
say "  dsparse/: ${sp[0]} pages, ${sp[1]} entries, ${sp[3]} inodes"
assert_eq "40 40" "${sp[1]} ${sp[3]}" "entries and inodes read of dsparse/'s first readdir"
((sp[0] >= 3)) || fail "dsparse/'s first readdir read ${sp[0]} pages: its 540 blocks take three"

say "a getdents of 4 KiB: the page holds what the reply has room for, not $PAGE entries"
# getdents64 with a buffer of one page: the kernel asks with at most
# 4,096 bytes, room for 4096 / 160 = 25 entries of a one-byte name (26
# asked at most; a page of 512 would read 486 inodes the reply has no
# room for).
small_getdents() {
    python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
buf = ctypes.create_string_buffer(4096)
n = libc.syscall(217, fd, buf, 4096)  # getdents64 (x86-64)
assert n > 0, ctypes.get_errno()' "$1"
}
fresh
read -r -a g <<<"$(counts small_getdents "$V/d100k")"
say "  ${g[0]} pages, ${g[1]} entries, ${g[3]} inodes, ${g[2]} block reads"
assert_eq 1 "${g[0]}" "pages of a 4 KiB getdents"
# (24 seen: the kernel's request is a little under 4,096 bytes)
((g[3] >= g[1] && g[3] <= 26 && g[1] >= 15)) ||
    fail "a 4 KiB getdents read ${g[3]} inodes for ${g[1]} entries (room for at most 25, 26 asked)"

say "a whole ls -f of d1k/ and of d100k/: names only but the first readdir's page, no more inodes read of d100k/"
# FUSE_CAP_READDIRPLUS_AUTO: the kernel's first readdir of a directory
# (offset 0) is a READDIRPLUS, the rest plain READDIRs (no lookup in
# between), answered with the names and types the directory's entries
# hold: no inode read (imgfs_inside_list_names_total counts those).  So
# the inodes a whole ls -f reads are one page's, whatever the
# directory's size (before: every entry's, 100,000).
fresh
read -r -a k <<<"$(counts ls -f "$V/d1k")"
fresh
read -r -a w <<<"$(counts ls -f "$V/d100k")"
say "  d1k/: ${k[0]} pages, ${k[1]} entries, ${k[3]} inodes, ${k[4]} names only, ${k[2]} block reads;" \
    "d100k/: ${w[0]} pages, ${w[1]} entries, ${w[3]} inodes, ${w[4]} names only, ${w[2]} block reads of ${w[5]} bytes"
assert_eq "1000 100000" "${k[1]} ${w[1]}" "entries of d1k/ and d100k/ given to the kernel"
((w[3] <= k[3])) || fail "a whole ls -f of d100k/ read ${w[3]} inodes, d1k/'s ${k[3]}: they must not grow with the directory"
((w[3] <= PAGE)) || fail "a whole ls -f of d100k/ read ${w[3]} inodes (one page at most)"
((w[3] + w[4] >= 100000)) || fail "d100k/: ${w[3]} entries with inodes and ${w[4]} names only, of 100000"
# Its ~2,500 directory blocks are read in order (256 KiB at a time), and
# one page's inodes.
((w[2] <= 100000 / 100)) || fail "d100k/'s whole listing read ${w[2]} blocks for ${w[1]} entries"

say "a stat of one name in d100k/ (an htree of two levels) reads a few blocks, as in d1k/ (one level)"
# The name's hash chooses the index block and the one leaf that can hold
# it: the root, an index block, the leaf, the inode — not the directory's
# every block (libext2fs's ext2fs_lookup: 2,500 blocks, 43 to 153 reads
# of 64 KiB for a 1,000,000-entry directory).
fresh
read -r -a s1 <<<"$(counts stat "$V/d1k/file-000500")"
read -r -a s2 <<<"$(counts stat "$V/d100k/file-054321")"
read -r -a s3 <<<"$(counts stat "$V/d100k/file-099999")"
say "  d1k/: ${s1[2]} block reads of ${s1[5]} bytes; d100k/: ${s2[2]} of ${s2[5]}, ${s3[2]} of ${s3[5]}"
((s2[2] <= 8 && s3[2] <= 8 && s2[2] <= s1[2] + 2)) ||
    fail "a stat in d100k/ read ${s2[2]} and ${s3[2]} blocks (d1k/: ${s1[2]}): the lookup walks the directory"
! stat "$V/d100k/file-100000" 2>/dev/null || fail "d100k/file-100000 exists"

ls -f "$V/d100k" | grep -v '^\.\.\?$' | LC_ALL=C sort >"$T/got"
seq -f 'file-%06g' 0 99999 >"$T/want"
cmp -s "$T/want" "$T/got" || fail "d100k/: $(comm -3 "$T/want" "$T/got" | head -3 | tr '\n' ' ')"
echo "PASS"

#!/usr/bin/env bash
# SPEC §16 "Disks from snapshots, copies by reference", §2.4, §11: cp of a
# snapshot's data (or an image's disk) onto an instance disk goes through
# copy_file_range and takes the source's whole chunks by id: counted, not
# timed — imgfs_shared_bytes_total grows by the data, the region's chunk
# files and the disks' overlays do not, no chunk is read.  The result is
# byte-identical, survives a kill -9, and a 40 GiB sparse snapshot copied
# in ~4 GiB requests (boundaries inside chunks) is too.  Into a queued
# image's disks/vda the same copy is an upload by reference (its first
# bytes sniffed as a write's: random ones refused with EINVAL).  Other sources fall
# back to read/write (another region: still the same bytes); a snapshot
# cannot be written by cp either (the write's errno).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
I="$R/instances"
CH="$S/regions/cn-north-1/chunks"
WB="$S/regions/cn-north-1/wblobs"
nchunks() { find "$CH" -type f | wc -l; }
used() { du -s --block-size=1 "$1" | cut -f1; }
st() { stat_of "$M" "$@"; }
cfr() { st imgfs_requests_total 'op="copy_file_range"'; }
# cfr_copy SRC DST FROM: copies SRC from byte FROM on to the same offsets of
# DST with copy_file_range(2) calls (each answers part); prints how many.
cfr_copy() {
    python3 - "$@" <<'EOF' || fail "copy_file_range of $1 into $2"
import os, sys
src = os.open(sys.argv[1], os.O_RDONLY)
dst = os.open(sys.argv[2], os.O_WRONLY)
size = os.fstat(src).st_size
off, calls = int(sys.argv[3]), 0
while off < size:
    n = os.copy_file_range(src, dst, size - off, off, off)
    if n <= 0:
        sys.exit("copy_file_range returned %d at %d" % (n, off))
    off += n
    calls += 1
print(calls)
EOF
}

say "vm1: a 16 MiB vdb all data, a 40 GiB vdc with a few MiB at scattered offsets; captured as snapshots"
new_vm "$I/vm1" # a 1 GiB system disk: the capture hashes all of it (§2.1 sha256)
truncate -s $((16 * 1048576 + 3000)) "$I/vm1/disks/vdb"
write_random "$I/vm1/disks/vdb" 0 16
head -c 3000 /dev/urandom | dd of="$I/vm1/disks/vdb" bs=1 seek=$((16 * 1048576)) conv=notrunc status=none
printf '\x55\xaa' | dd of="$I/vm1/disks/vdb" bs=1 seek=510 conv=notrunc status=none # an MBR: uploadable raw
truncate -s 40G "$I/vm1/disks/vdc"
write_random "$I/vm1/disks/vdc" 0 2
write_random "$I/vm1/disks/vdc" 4095 3 # across the first request's end
write_random "$I/vm1/disks/vdc" 20000 1
write_random "$I/vm1/disks/vdc" 40959 1
mkdir "$P/img1"
capture "$P/img1" vm1 vdb vdc
snap=$(devmap_ref "$P/img1" vdb)
big=$(devmap_ref "$P/img1" vdc)
mkdir "$I/vm2"

say "cp snapshots/$snap/data instances/vm2/disks/vdc: the same bytes, by reference"
c0=$(cfr) s0=$(st imgfs_shared_bytes_total) w0=$(st imgfs_written_bytes_total) r0=$(st imgfs_read_bytes_total)
n0=$(nchunks) u0=$(used "$WB")
cp "$R/snapshots/$snap/data" "$I/vm2/disks/vdc"
cmp "$R/snapshots/$snap/data" "$I/vm2/disks/vdc" || fail "vm2's vdc differs from the snapshot"
c1=$(cfr) s1=$(st imgfs_shared_bytes_total) w1=$(st imgfs_written_bytes_total) r1=$(st imgfs_read_bytes_total)
n1=$(nchunks) u1=$(used "$WB")
say "  copy_file_range requests $((c1 - c0)), shared $((s1 - s0)) B, written $((w1 - w0)) B," \
    "chunk files $n0 -> $n1, wblobs/ +$((u1 - u0)) B"
((c1 > c0)) || fail "cp sent no copy_file_range"
assert_eq $((16 * 1048576)) $((s1 - s0)) "bytes taken by reference (the 16 whole chunks)"
assert_eq 3000 $((w1 - w0)) "bytes written (the short last chunk)"
assert_eq "$n0" "$n1" "chunk files after the copy"
((u1 - u0 < 2 * 1048576)) || fail "the disks' files grew by $((u1 - u0)) bytes"
assert_eq $((16 * 1048576 + 3000)) "$(stat -c %s "$I/vm2/disks/vdc")" "vm2's vdc size"

say "kill -9 and mount again: the copy is still there"
kill_imgfs "$M"
mount_imgfs "$S" "$M"
cmp "$R/snapshots/$snap/data" "$I/vm2/disks/vdc" || fail "vm2's vdc differs after kill -9"

say "cp of the snapshot into a queued image's disks/vda: an upload, by reference"
mkdir "$P/up1"
c0=$(cfr) s0=$(st imgfs_shared_bytes_total) w0=$(st imgfs_written_bytes_total) n0=$(nchunks)
cp "$R/snapshots/$snap/data" "$P/up1/disks/vda"
imgfs_wait "$P/up1" >/dev/null 2>&1 || fail "the upload by reference: $(cat "$P/up1/error")"
c1=$(cfr) s1=$(st imgfs_shared_bytes_total) w1=$(st imgfs_written_bytes_total) n1=$(nchunks)
say "  copy_file_range requests $((c1 - c0)), shared $((s1 - s0)) B, written $((w1 - w0)) B, chunk files $n0 -> $n1"
((c1 > c0)) || fail "cp sent no copy_file_range into the upload"
assert_eq $((16 * 1048576)) $((s1 - s0)) "bytes of the upload taken by reference"
assert_eq 3000 $((w1 - w0)) "bytes of the upload written"
assert_eq "$n0" "$n1" "chunk files after the upload by reference (its short last chunk is the snapshot's)"
assert_eq available "$(cat "$P/up1/status")" "status of up1"
assert_eq raw "$(cat "$P/up1/format")" "format of up1"
cmp "$R/snapshots/$snap/data" "$P/up1/disks/vda" || fail "up1's vda differs from the snapshot"

say "a copy into an upload whose first bytes are no disk image: EINVAL as for a write, nothing kept"
mkdir "$P/up2"
n0=$(nchunks)
python3 - "$R/snapshots/$big/data" "$P/up2/disks/vda" <<'EOF' || fail "copy_file_range into up2 was not refused with EINVAL"
import errno, os, sys
src, dst = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
try:
    os.copy_file_range(src, dst, 8 << 20, 0, 0)
except OSError as e:
    sys.exit(0 if e.errno == errno.EINVAL else "errno %d" % e.errno)
sys.exit("copy_file_range of random bytes into an upload succeeded")
EOF
assert_eq queued "$(cat "$P/up2/status")" "status of up2 after the refusal"
assert_match '.*of no known format.*' "$(cat "$P/up2/error")" "error of up2"
assert_eq "$n0" "$(nchunks)" "chunk files after the refused copy"

# coreutils 9.1's cp copies a source whose st_blocks says sparse by
# SEEK_DATA and read/write (copy_file_range only with --sparse=never, which
# writes the holes as zeros); the copy_file_range calls below are what a
# cp that uses it for data extents sends.
say "the 40 GiB snapshot by cp: the same bytes, holes stay holes"
cp "$R/snapshots/$big/data" "$I/vm2/disks/vdd"
sparse_cmp "$R/snapshots/$big/data" "$I/vm2/disks/vdd" "vm2's vdd vs the 40 GiB snapshot"
assert_eq "$(seek_datamap "$R/snapshots/$big/data" | paste -sd ' ')" \
    "$(seek_datamap "$I/vm2/disks/vdd" | paste -sd ' ')" "data chunks of vdd"

say "the whole 40 GiB in copy_file_range calls from 5000 bytes in: ~4 GiB each, unaligned ends"
truncate -s 5000 "$I/vm2/disks/vde"
s0=$(st imgfs_shared_bytes_total) w0=$(st imgfs_written_bytes_total) c0=$(cfr) n0=$(nchunks)
calls=$(cfr_copy "$R/snapshots/$big/data" "$I/vm2/disks/vde" 5000)
s1=$(st imgfs_shared_bytes_total) w1=$(st imgfs_written_bytes_total) c1=$(cfr) n1=$(nchunks)
say "  $calls calls, $((c1 - c0)) requests, shared $((s1 - s0)) B, written $((w1 - w0)) B, chunk files $n0 -> $n1"
assert_eq "$n0" "$n1" "chunk files after the 40 GiB copy"
((calls >= 10)) || fail "only $calls copy_file_range calls for 40 GiB"
# A request is at most 4 GiB - 4 KiB: they end at 5000 + k (4 GiB - 4 KiB),
# inside MiB 4096 (k = 1) and 40959 (k = 10), which go by bytes with the
# cut chunk 0; MiB 1, 4095, 4097 and 20000 by id.
assert_eq $((4 * 1048576)) $((s1 - s0)) "bytes by reference"
assert_eq $((3 * 1048576 - 5000)) $((w1 - w0)) "bytes copied as bytes"
dd if=/dev/zero of="$T/zero" bs=5000 count=1 status=none
cmp -n 5000 "$I/vm2/disks/vde" "$T/zero" || fail "vde's first 5000 bytes changed"
python3 - "$R/snapshots/$big/data" "$I/vm2/disks/vde" <<'EOF' || fail "vde differs from the snapshot past 5000"
import os, sys
a, b = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_RDONLY)
assert os.fstat(a).st_size == os.fstat(b).st_size
for mib in (0, 1, 4094, 4095, 4096, 4097, 4098, 20000, 40959):
    if os.pread(a, 1 << 20, mib << 20)[5000 if mib == 0 else 0:] != os.pread(b, 1 << 20, mib << 20)[5000 if mib == 0 else 0:]:
        sys.exit("MiB %d differs" % mib)
EOF

say "cp of a public image's disk into a disk: the same bytes"
pub=$(smallest_public "$R")
s0=$(st imgfs_shared_bytes_total)
cp "$R/public/$pub/disks/vda" "$I/vm2/disks/vdf"
sparse_cmp "$R/public/$pub/disks/vda" "$I/vm2/disks/vdf" "vm2's vdf vs public/$pub"
say "  and by copy_file_range: by reference"
touch "$I/vm2/disks/vdi"
cfr_copy "$R/public/$pub/disks/vda" "$I/vm2/disks/vdi" 0 >/dev/null
sparse_cmp "$R/public/$pub/disks/vda" "$I/vm2/disks/vdi" "vm2's vdi vs public/$pub"
say "  shared $(($(st imgfs_shared_bytes_total) - s0)) B"
(($(st imgfs_shared_bytes_total) > s0)) || fail "nothing of public/$pub taken by reference"

say "another region's public disk: copy_file_range refuses (EXDEV), cp still copies the bytes"
E="$M/regions/cn-east-2"
epub=$(smallest_public "$E")
s0=$(st imgfs_shared_bytes_total) e0=$(st imgfs_request_errors_total 'op="copy_file_range"')
cp "$E/public/$epub/disks/vda" "$I/vm2/disks/vdg"
sparse_cmp "$E/public/$epub/disks/vda" "$I/vm2/disks/vdg" "vm2's vdg vs cn-east-2's public/$epub"
touch "$I/vm2/disks/vdj"
cfr_copy "$E/public/$epub/disks/vda" "$I/vm2/disks/vdj" 0 >/dev/null
sparse_cmp "$E/public/$epub/disks/vda" "$I/vm2/disks/vdj" "vm2's vdj (copy_file_range) vs cn-east-2's public/$epub"
assert_eq "$s0" "$(st imgfs_shared_bytes_total)" "bytes shared across regions"
e1=$(st imgfs_request_errors_total 'op="copy_file_range"')
say "  copy_file_range errors $((e1 - e0))"
((e1 > e0)) || fail "no copy_file_range refused across regions"

say "an instance disk as the source: falls back, same bytes"
cp "$I/vm2/disks/vdc" "$I/vm2/disks/vdh"
cmp "$I/vm2/disks/vdc" "$I/vm2/disks/vdh" || fail "vdh differs from vdc"

say "into a snapshot: refused as a write is"
want=$(errno_of write "$R/snapshots/$snap/data" x)
assert_ne OK "$want" "a write into a snapshot"
assert_fails cp "$I/vm2/disks/vdc" "$R/snapshots/$snap/data"
assert_errno "$want" open "$R/snapshots/$snap/data" wronly
cmp "$R/snapshots/$snap/data" "$I/vm2/disks/vdc" || fail "the snapshot changed"

umount_imgfs "$M"
echo "PASS"

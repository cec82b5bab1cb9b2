#!/usr/bin/env bash
# SPEC §16 "Disks from snapshots, copies by reference", §2.3, §2.4 (issue
# 38): the one documented way to put a sparse snapshot onto an instance
# disk by reference with a standard tool — `cat DATA > DISK` (coreutils'
# cat copies with copy_file_range over the whole length, holes included;
# imgfs takes the data chunks by id and leaves the holes holes) — costs no
# stored byte; and zeros written to an instance disk cost nothing in the
# store: `cp --sparse=never` of the same snapshot (its holes written as
# zeros), a dense cp of a sparse local file, and zeros written over data
# (dd if=/dev/zero) leave holes, not stored zeros.  Counted, not timed:
# du of the region's chunk files and of the disks' overlays (wblobs/), the
# bytes /stats says were taken by reference, SEEK_DATA maps.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
I="$R/instances"
CH="$S/regions/cn-north-1/chunks"
WB="$S/regions/cn-north-1/wblobs"
used() { du -s --block-size=1 "$1" | cut -f1; }
st() { stat_of "$M" "$@"; }
MAP=16384 # what a disk's .map and .ids take for a few state bytes: not data
# grown WHAT BEFORE_WB BEFORE_CH MAX: the overlays grew by at most MAX
# bytes, the chunk files not at all.
grown() {
    local wb=$(($(used "$WB") - $2)) ch=$(($(used "$CH") - $3))
    say "  $1: wblobs/ +$wb B, chunks/ +$ch B"
    ((wb <= $4)) || fail "$1: the disks' overlays grew by $wb bytes (at most $4 expected)"
    assert_eq 0 "$ch" "$1: bytes added to the chunk files"
}

say "a 1 GiB snapshot holding 6 MiB of data (three runs, the last at its end)"
new_vm "$I/vm1"
truncate -s 1G "$I/vm1/disks/vdb"
write_random "$I/vm1/disks/vdb" 0 2
write_random "$I/vm1/disks/vdb" 700 3
write_random "$I/vm1/disks/vdb" 1023 1
mkdir "$P/img1"
capture "$P/img1" vm1 vdb
snap=$(devmap_ref "$P/img1" vdb)
D="$R/snapshots/$snap/data"
want_map=$(seek_datamap "$D" | paste -sd ' ')
mkdir "$I/vm2"

say "cat DATA > DISK: by reference, holes stay holes, nothing stored"
wb0=$(used "$WB") ch0=$(used "$CH") s0=$(st imgfs_shared_bytes_total) w0=$(st imgfs_written_bytes_total)
cat "$D" >"$I/vm2/disks/vdc"
sparse_cmp "$D" "$I/vm2/disks/vdc" "vdc after cat"
assert_eq $((1 << 30)) "$(stat -c %s "$I/vm2/disks/vdc")" "vdc's size"
assert_eq "$want_map" "$(seek_datamap "$I/vm2/disks/vdc" | paste -sd ' ')" "vdc's data chunks"
assert_eq $((6 << 20)) $(($(st imgfs_shared_bytes_total) - s0)) "bytes taken by reference"
assert_eq 0 $(($(st imgfs_written_bytes_total) - w0)) "bytes written"
grown "cat" "$wb0" "$ch0" "$MAP"
# The same onto the system disk, in place of what it held.
write_random "$I/vm2/disks/vda" 0 4
wb0=$(used "$WB") ch0=$(used "$CH")
cat "$D" >"$I/vm2/disks/vda"
sparse_cmp "$D" "$I/vm2/disks/vda" "vda after cat"
grown "cat onto vda" "$wb0" "$ch0" "$MAP"

say "cp --sparse=never: the holes come as zeros and are left holes"
wb0=$(used "$WB") ch0=$(used "$CH")
cp --sparse=never "$D" "$I/vm2/disks/vdd"
sparse_cmp "$D" "$I/vm2/disks/vdd" "vdd after cp --sparse=never"
assert_eq "$want_map" "$(seek_datamap "$I/vm2/disks/vdd" | paste -sd ' ')" "vdd's data chunks"
grown "cp --sparse=never" "$wb0" "$ch0" "$MAP"

say "a dense cp of a sparse local file: the disk grows by its data only"
truncate -s 512M "$T/local.raw"
write_random "$T/local.raw" 5 3
write_random "$T/local.raw" 300 2
wb0=$(used "$WB") ch0=$(used "$CH")
cp --sparse=never "$T/local.raw" "$I/vm2/disks/vde"
cmp "$T/local.raw" "$I/vm2/disks/vde" || fail "vde differs from local.raw"
assert_eq "5 6 7 300 301" "$(seek_datamap "$I/vm2/disks/vde" | paste -sd ' ')" "vde's data chunks"
grown "dense cp" "$wb0" "$ch0" $(((5 << 20) + MAP))

say "zeros written over data (whole chunks, and part of one) free it"
wb0=$(used "$WB")
dd if=/dev/zero of="$I/vm2/disks/vde" bs=1M seek=5 count=3 conv=notrunc,fsync status=none
dd if=/dev/zero of="$I/vm2/disks/vde" bs=512K seek=600 count=1 conv=notrunc,fsync status=none
assert_eq "300 301" "$(seek_datamap "$I/vm2/disks/vde" | paste -sd ' ')" "vde's data chunks after the zeros"
((wb0 - $(used "$WB") >= (3 << 20) + (256 << 10))) || fail "the zeros freed $((wb0 - $(used "$WB"))) bytes of overlay"
dd if=/dev/zero of="$T/local.raw" bs=1M seek=5 count=3 conv=notrunc status=none
dd if=/dev/zero of="$T/local.raw" bs=512K seek=600 count=1 conv=notrunc status=none
cmp "$T/local.raw" "$I/vm2/disks/vde" || fail "vde differs from local.raw after the zeros"

say "kill -9 and mount again: every disk reads as before"
kill_imgfs "$M"
mount_imgfs "$S" "$M"
for d in vda vdc vdd; do sparse_cmp "$D" "$I/vm2/disks/$d" "$d after kill -9"; done
cmp "$T/local.raw" "$I/vm2/disks/vde" || fail "vde differs after kill -9"
echo "PASS"

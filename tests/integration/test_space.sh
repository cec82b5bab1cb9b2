#!/usr/bin/env bash
# SPEC §12, §2.3, §9: space comes back.  Instance disks answer fallocate
# punch-hole and zero-range (the range reads as zeros; whole chunks become
# holes: st_blocks, SEEK_HOLE, the overlay file on disk, a capture); other
# modes and other files EOPNOTSUPP.  An fsx-style exerciser (fsx.py:
# random reads, writes, truncates, punches and zero-ranges checked against
# a reference) finds no miscompare; `qemu-img convert -n` into a disk
# stores only the data.  On a full disk (a state on a small tmpfs, filled
# through an instance disk) deleting works: destroying an image in the
# recycle bin, rm of a disk, rmdir of an instance — and the room comes back.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

MiB=1048576
setup_mount
I="$R/instances"
P="$R/private"

# fallocate_errno FILE MODE OFFSET LENGTH [rdonly]: the errno name (or OK)
# of fallocate(2) on FILE opened read-write (or read-only).
fallocate_errno() {
    python3 -c '
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
fd = os.open(sys.argv[1], os.O_RDONLY if len(sys.argv) > 5 else os.O_RDWR)
r = libc.fallocate(fd, int(sys.argv[2], 0), int(sys.argv[3]), int(sys.argv[4]))
e = ctypes.get_errno()
print("OK" if r == 0 else "EOPNOTSUPP" if e == errno.EOPNOTSUPP else errno.errorcode[e])' "$@"
}
# blocks FILE: st_blocks in 512-byte units.
blocks() { stat -c %b "$1"; }
# overlay_kib: KiB the instance disks' overlay files take on disk.
overlay_kib() { du -sk "$S/regions/cn-north-1/wblobs" | cut -f1; }

say "fsx.py on an instance data disk, punch-hole and zero-range on: no miscompare"
new_vm "$I/vm1"
truncate -s 1M "$I/vm1/disks/vdb"
seed=$((RANDOM * 32768 + RANDOM))
python3 "$INTEGRATION_DIR/fsx.py" "$I/vm1/disks/vdb" -n 4000 -S "$seed" ||
    fail "fsx.py on an instance disk (seed $seed)"

say "fallocate -p of whole chunks: zeros, holes (st_blocks, SEEK_HOLE), room given back"
REF="$T/vdc.ref"
truncate -s 64M "$I/vm1/disks/vdc" "$REF"
write_random "$I/vm1/disks/vdc" 0 16 "$REF"
assert_eq $((16 * MiB / 512)) "$(blocks "$I/vm1/disks/vdc")" "st_blocks of vdc with 16 MiB written"
before=$(overlay_kib)
fallocate -p -o $((2 * MiB)) -l $((8 * MiB)) "$I/vm1/disks/vdc"
fallocate -p -o $((2 * MiB)) -l $((8 * MiB)) "$REF"
fallocate -z -o $((12 * MiB + 100)) -l 5000 "$I/vm1/disks/vdc"
fallocate -z -o $((12 * MiB + 100)) -l 5000 "$REF"
fallocate -z -o $((14 * MiB)) -l $((2 * MiB)) "$I/vm1/disks/vdc"
fallocate -z -o $((14 * MiB)) -l $((2 * MiB)) "$REF"
sparse_cmp "$REF" "$I/vm1/disks/vdc" "vdc after the punches"
assert_eq $((6 * MiB / 512)) "$(blocks "$I/vm1/disks/vdc")" "st_blocks of vdc after punching 10 whole chunks"
assert_eq "0 1 10 11 12 13" "$(seek_datamap "$I/vm1/disks/vdc" | paste -sd ' ' -)" "vdc's data chunks"
after=$(overlay_kib)
((before - after >= 10 * 1024)) || fail "the overlay files took ${before} KiB, ${after} KiB after punching 10 MiB"

say "zero-range without KEEP_SIZE past the end grows the disk; with it, it does not"
assert_eq OK "$(fallocate_errno "$I/vm1/disks/vdc" 0x10 $((70 * MiB)) 100)" "zero-range past the end"
assert_eq $((70 * MiB + 100)) "$(stat -c %s "$I/vm1/disks/vdc")" "size after zero-range past the end"
assert_eq OK "$(fallocate_errno "$I/vm1/disks/vdc" 0x11 $((80 * MiB)) 100)" "zero-range KEEP_SIZE past the end"
assert_eq $((70 * MiB + 100)) "$(stat -c %s "$I/vm1/disks/vdc")" "size after zero-range KEEP_SIZE"
truncate -s 64M "$I/vm1/disks/vdc"

say "other modes and other files: EOPNOTSUPP (a read-only handle: EBADF)"
for mode in 0 0x1 0x8 0x20 0x40; do
    assert_eq EOPNOTSUPP "$(fallocate_errno "$I/vm1/disks/vdc" $mode 0 $MiB)" "fallocate mode $mode on a disk"
done
assert_eq EBADF "$(fallocate_errno "$I/vm1/disks/vdc" 0x3 0 $MiB rdonly)" "punch through a read-only handle"
mkdir "$P/img"
assert_eq EOPNOTSUPP "$(fallocate_errno "$P/img/description" 0x3 0 1)" "punch on description"

say "a capture of the punched disk stores the punched chunks as holes"
capture "$P/img" vm1 vdc
snap=$(devmap_ref "$P/img" vdc)
sparse_cmp "$REF" "$R/snapshots/$snap/data" "the captured vdc"
assert_eq "0 1 10 11 12 13" "$(seek_datamap "$R/snapshots/$snap/data" | paste -sd ' ' -)" "the snapshot's data chunks"

say "qemu-img convert -n into a disk that held other data stores only the source's data"
python3 - "$T/src.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(256 << 20)
    for off in (0, 5 << 20, 100 << 20, 200 << 20):
        f.seek(off)
        f.write(os.urandom(3 << 20))
EOF
truncate -s 256M "$I/vm1/disks/vdd"
for off in 0 50 120 180 250; do write_random "$I/vm1/disks/vdd" $off 4; done
qemu-img convert -n -f raw -O raw "$T/src.raw" "$I/vm1/disks/vdd" || fail "qemu-img convert -n into vdd"
cmp "$T/src.raw" "$I/vm1/disks/vdd" || fail "vdd differs from what qemu-img converted into it"
assert_eq $((12 * MiB / 512)) "$(blocks "$I/vm1/disks/vdd")" "st_blocks of vdd: the 12 MiB of data, no zeros stored"
rmdir "$I/vm1" # frees the disks (vm1 is stopped)

say "a state on a small tmpfs: an image in the recycle bin, an instance filling the disk to ENOSPC"
umount_imgfs "$M"
SMALL="$T/small"
mkdir "$SMALL"
mount -t tmpfs -o size=200m tmpfs "$SMALL"
also_unmount "$SMALL"
S="$SMALL/state"
mount_imgfs "$S" "$M"
avail() { df -k --output=avail "$SMALL" | tail -n 1 | tr -d ' '; }
new_vm "$I/vm2"
mkdir "$P/gone"
write_random "$I/vm2/disks/vda" 0 1
capture "$P/gone" vm2
rmdir "$P/gone"
truncate -s 1G "$I/vm2/disks/vdb"
truncate -s 1G "$I/vm2/disks/vdc"
head -c $((300 * MiB)) /dev/urandom >"$T/fill"
if dd if="$T/fill" of="$I/vm2/disks/vdb" bs=1M conv=notrunc status=none 2>"$T/dd.err"; then
    fail "300 MiB fit on a 200 MiB tmpfs"
fi
grep -q "No space left on device" "$T/dd.err" || { cat "$T/dd.err" >&2; fail "dd did not stop with ENOSPC"; }
dd if="$T/fill" of="$I/vm2/disks/vdc" bs=1M count=8 conv=notrunc status=none 2>/dev/null || true
full=$(avail)
((full < 1024)) || fail "the tmpfs still has $full KiB free"
say "    full: $full KiB free"

say "deleting works on the full disk: destroy from the bin, rm of a disk, rmdir of the instance"
assert_errno OK rmdir "$R/recycle-bin/gone"
assert_errno OK unlink "$I/vm2/disks/vdb"
freed=$(avail)
((freed > full + 40 * 1024)) || fail "rm of vdb freed $((freed - full)) KiB"
assert_errno OK rmdir "$I/vm2"
assert_eq "" "$(entries "$I")" "instances/ after rmdir on a full disk"
assert_eq "" "$(entries "$R/recycle-bin")" "recycle-bin/ after destroy on a full disk"

say "the room is back: a new instance takes 16 MiB of writes"
new_vm "$I/vm3"
write_random "$I/vm3/disks/vda" 0 16 || fail "writing 16 MiB after the deletes"
rmdir "$I/vm3"
umount_imgfs "$M"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after the full disk"; }

#!/usr/bin/env bash
# SPEC §6.3, §4, §8, §9: copying a private cloud image to another region.
# mkdir copies/<region> returns with the copy pending in the target region
# (name, lineage in description and source, snapshots there); copies/
# lists it with status, progress and image; the bytes arrive equal (cmp);
# refusals: same region EINVAL, a local image EINVAL, an unknown region
# ENOENT, the name taken there EEXIST, rmdir copies/<region> EPERM, the
# source locked while copying; a second copy of the same content moves no
# chunk (the log line's count and the chunk files of the target store);
# with no workers, copies wait in the queue with their positions; an
# instance started early from a copy reads each chunk placed once, and one
# from the copy of a QCOW2 upload (converted) reads qemu-img's raw bytes.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
I="$R/instances"
E="$M/regions/cn-east-2"
W="$M/regions/cn-south-1"
me=$(id -un)
chunks_of() { find "$S/regions/$1/chunks" -type f | wc -l; }

say "two cloud images (gold with a data disk, silver) and a local one, by capture"
NEW_VM_SIZE=8G new_vm "$I/vm1"
echo cloud >"$I/vm1/system-disk"
write_random "$I/vm1/disks/vda" 0 3
write_random "$I/vm1/disks/vda" 7000 2
truncate -s 32M "$I/vm1/disks/vdb"
write_random "$I/vm1/disks/vdb" 1 2
mkdir "$P/gold" "$P/silver"
capture "$P/gold" vm1 vdb
capture "$P/silver" vm1
new_vm "$I/vm2"
write_random "$I/vm2/disks/vda" 0 1
mkdir "$P/loc"
capture "$P/loc" vm2
echo "web tier" >"$P/gold/description"
gold_id=$(cat "$P/gold/id")

say "mkdir private/gold/copies/cn-east-2: the copy is there at once, pending"
east_before=$(chunks_of cn-east-2)
emt=$(mtime_ns "$E/private")
mkdir "$P/gold/copies/cn-east-2"
[[ -d "$E/private/gold" ]] || fail "cn-east-2/private/gold did not appear"
assert_ne "$emt" "$(mtime_ns "$E/private")" "cn-east-2/private mtime after the copy"
assert_match 'pending|available' "$(status_of "$E/private/gold")" "the copy's status right away"
assert_eq cn-east-2 "$(entries "$P/gold/copies")" "gold/copies/"
assert_eq "image progress status" "$(entries "$P/gold/copies/cn-east-2")" "gold/copies/cn-east-2/"
assert_eq "$(cat "$E/private/gold/id")" "$(cat "$P/gold/copies/cn-east-2/image")" "copies/cn-east-2/image"
imgfs_wait "$E/private/gold" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait on the copy"; }
assert_eq available "$(cat "$P/gold/copies/cn-east-2/status")" "copies/cn-east-2/status"
assert_eq 100 "$(cat "$P/gold/copies/cn-east-2/progress")" "copies/cn-east-2/progress"

say "the copy: cloud, same attributes, lineage, its own snapshots with equal bytes"
assert_eq cloud "$(cat "$E/private/gold/type")" "copy/type"
assert_eq "copy cn-north-1 $gold_id" "$(cat "$E/private/gold/source")" "copy/source"
assert_eq "web tier — copied from cn-north-1 $gold_id" "$(cat "$E/private/gold/description")" "copy/description"
assert_eq "$(cat "$P/gold/size")" "$(cat "$E/private/gold/size")" "copy/size"
for dev in vda vdb; do
    src_snap=$(devmap_ref "$P/gold" $dev) dst_snap=$(devmap_ref "$E/private/gold" $dev)
    assert_match 'snap-[0-9a-f]{8}' "$dst_snap" "copy's $dev snapshot"
    assert_ne "$src_snap" "$dst_snap" "the copy's $dev is its own snapshot"
    assert_eq available "$(status_of "$E/snapshots/$dst_snap")" "$dev snapshot status in cn-east-2"
    sparse_cmp "$R/snapshots/$src_snap/data" "$E/snapshots/$dst_snap/data" "copied $dev"
done
assert_eq "1 5" "$(quota_line "$E" private-images)" "cn-east-2 private-images"
assert_eq "2 15" "$(quota_line "$E" snapshots)" "cn-east-2 snapshots"
line=$(grep -F "copy $gold_id cn-north-1 -> cn-east-2: " "$S/imgfs.log" | tail -n 1)
[[ "$line" =~ :\ ([0-9]+)\ chunks\ \(([0-9]+)\ bytes\)\ copied,\ ([0-9]+)\ already\ there$ ]] ||
    fail "no copy line in the log: $line"
moved=${BASH_REMATCH[1]}
((moved == 7)) || fail "first copy: $moved chunks copied, expected 7 (5 MiB vda + 2 MiB vdb of data): $line"
assert_eq $((east_before + 7)) "$(chunks_of cn-east-2)" "chunk files in cn-east-2 after the first copy"

say "refusals: same region EINVAL, local EINVAL, unknown region ENOENT, name taken EEXIST, rmdir EPERM"
assert_errno EINVAL mkdir "$P/gold/copies/cn-north-1"
assert_logged mkdir "$P/gold/copies/cn-north-1" EINVAL
assert_errno EINVAL mkdir "$P/loc/copies/cn-east-2"
assert_errno ENOENT mkdir "$P/gold/copies/nowhere-1"
mkdir "$W/private/gold"
assert_errno EEXIST mkdir "$P/gold/copies/cn-south-1"
assert_logged mkdir "$P/gold/copies/cn-south-1" EEXIST
rmdir "$W/private/gold"
assert_errno EEXIST mkdir "$P/gold/copies/cn-east-2" # the copy is there
assert_errno EPERM rmdir "$P/gold/copies/cn-east-2"
assert_errno ENOENT stat "$R/public/centos-7.4/copies"

say "a second copy of the same content moves no chunk"
rmdir "$E/private/gold"
rmdir "$E/recycle-bin/gold"
wait_for 5 bash -c "[[ -z \"\$(ls '$P/gold/copies')\" ]]" || fail "copies/ still lists cn-east-2 after the copy was removed"
east_before=$(chunks_of cn-east-2)
mkdir "$P/gold/copies/cn-east-2"
imgfs_wait "$E/private/gold" >/dev/null 2>&1 || fail "imgfs wait on the second copy"
line=$(grep -F "copy $gold_id cn-north-1 -> cn-east-2: " "$S/imgfs.log" | tail -n 1)
assert_match '.*: 0 chunks \(0 bytes\) copied, 7 already there' "$line" "the second copy's log line"
assert_eq "$east_before" "$(chunks_of cn-east-2)" "chunk files in cn-east-2 after the second copy"
sparse_cmp "$R/snapshots/$(devmap_ref "$P/gold" vda)/data" "$E/snapshots/$(devmap_ref "$E/private/gold" vda)/data" \
    "second copy's vda"

say "workers=0: copies wait in the queue with their positions; the source is locked"
remount_imgfs "$S" "$M" workers=0
mkdir "$P/gold/copies/cn-south-1"
mkdir "$P/silver/copies/cn-south-1"
mkdir "$P/silver/copies/cn-east-2"
assert_match $'op copy\nstate queued\nposition 1\n.*' "$(cat "$W/private/gold/task")" "task of the first queued copy"
assert_match $'op copy\nstate queued\nposition 2\n.*' "$(cat "$W/private/silver/task")" "task of the second"
assert_match $'op copy\nstate queued\nposition 3\n.*' "$(cat "$E/private/silver/task")" "task of the third"
assert_eq pending "$(cat "$P/silver/copies/cn-east-2/status")" "a queued copy's status"
assert_eq "cn-east-2 cn-south-1" "$(entries "$P/silver/copies")" "silver/copies/"
assert_errno EBUSY rmdir "$P/silver"
assert_logged rmdir "$P/silver" EBUSY
remount_imgfs "$S" "$M"
imgfs_wait "$W/private/gold" "$W/private/silver" "$E/private/silver" >/dev/null 2>&1 || fail "imgfs wait on the queued copies"
sparse_cmp "$P/silver/../../snapshots/$(devmap_ref "$P/silver" vda)/data" \
    "$W/snapshots/$(devmap_ref "$W/private/silver" vda)/data" "silver's copy in cn-south-1"
rmdir "$P/silver"

say "early from a copy being made (§6.5 Early): a read places the chunk it needs ahead of the copy, once"
MiB=1048576
NEW_VM_SIZE=8M new_vm "$I/vm3"
echo cloud >"$I/vm3/system-disk"
# Chunk 0 is gold's vda chunk 0, which cn-east-2's store holds (gold's
# copy); 3, 5 and 6 are new; a hole follows each chunk read early below
# (the kernel's read-ahead past a chunk reads nothing then).
dd if="$I/vm1/disks/vda" of="$I/vm3/disks/vda" bs=1M count=1 conv=notrunc status=none
write_random "$I/vm3/disks/vda" 3 1
write_random "$I/vm3/disks/vda" 5 2
mkdir "$P/bronze"
capture "$P/bronze" vm3
bronze_id=$(cat "$P/bronze/id")
src="$R/snapshots/$(devmap_ref "$P/bronze" vda)/data"
chunk() { dd if="$1" bs=1M skip="$2" count=1 status=none | sha256sum; }
remount_imgfs "$S" "$M" workers=0 # the copy waits in the queue: only reads place chunks
mkdir "$P/bronze/copies/cn-east-2" "$E/instances/early1"
east_before=$(chunks_of cn-east-2)
echo "early private/bronze" >"$E/instances/early1/image"
V="$E/instances/early1/disks/vda"
assert_eq "stopped early" "$(status_of "$E/instances/early1")" "status of an instance early from a copy"
assert_eq "$((4 * MiB)) $((8 * MiB))" "$(cat "$E/instances/early1/arrived")" "arrived before a read: the holes"
assert_eq "$(chunk "$src" 0)" "$(chunk "$V" 0)" "chunk 0 read early (cn-east-2 holds it)"
assert_eq 0 "$(stat_of "$M" imgfs_moved_bytes_total 'kind="copy"')" "bytes placed for a chunk the target holds"
assert_eq "$east_before" "$(chunks_of cn-east-2)" "chunk files in cn-east-2 after reading a chunk it holds"
remount_imgfs "$S" "$M" workers=0 # what arrived is asked for again by the first read
assert_eq "stopped early" "$(status_of "$E/instances/early1")" "status after a remount"
assert_eq "$(chunk "$src" 3)" "$(chunk "$V" 3)" "chunk 3 read early after a remount (from cn-north-1's store)"
assert_eq $MiB "$(stat_of "$M" imgfs_moved_bytes_total 'kind="copy"')" "bytes placed by the read of chunk 3"
assert_eq $((east_before + 1)) "$(chunks_of cn-east-2)" "chunk files in cn-east-2 after reading chunk 3"
assert_eq "$((5 * MiB)) $((8 * MiB))" "$(cat "$E/instances/early1/arrived")" "arrived: the holes and chunk 3"
assert_eq pending "$(cat "$P/bronze/copies/cn-east-2/status")" "the copy, queued meanwhile"

say "the copy runs while the instance reads every byte: each missing chunk crosses once"
remount_imgfs "$S" "$M"
cmp "$V" "$src" || fail "the early instance's vda, read while the copy runs, is not the source's"
imgfs_wait "$E/private/bronze" >/dev/null 2>&1 || fail "imgfs wait on bronze's copy"
line=$(grep -F "copy $bronze_id cn-north-1 -> cn-east-2: " "$S/imgfs.log" | tail -n 1)
# Chunks 5 and 6 crossed (by a read or the copy: the copy's either way),
# 0 and 3 were there; nothing crossed twice (/stats counts every crossing).
assert_match '.*: 2 chunks \(2097152 bytes\) copied, 2 already there' "$line" "bronze's copy's log line"
assert_eq $((2 * MiB)) "$(stat_of "$M" imgfs_moved_bytes_total 'kind="copy"')" "bytes placed while the copy ran"
assert_eq $((east_before + 3)) "$(chunks_of cn-east-2)" "chunk files in cn-east-2 after bronze's copy"
sparse_cmp "$src" "$E/snapshots/$(devmap_ref "$E/private/bronze" vda)/data" "bronze's copy"
hashed "$E/private/bronze"
assert_eq "$(cat "$P/bronze/sha256")" "$(cat "$E/private/bronze/sha256")" "sha256 of bronze's copy"
assert_eq "$(cat "$P/bronze/sha256")  -" "$(sha256sum <"$V")" "sha256 of the early instance's vda"
assert_eq stopped "$(status_of "$E/instances/early1")" "status once the copy is available"
assert_eq "" "$(cat "$E/instances/early1/arrived")" "arrived once settled"

say "early from a copy of an image uploaded as QCOW2 (converted to cloud): every byte as qemu-img convert -O raw's"
# 6 MiB: an MBR, random bytes, a MiB of zeros (clusters the file lacks),
# 64 KiB clusters; uploaded (local, format qcow2), converted (decoded: the
# cloud image's system disk is raw), copied while the instance reads.
python3 - "$T/q.raw" <<'EOF'
import os, sys
b = bytearray(os.urandom(6 << 20))
b[0:512] = bytes(512)
b[0:2] = b"\xeb\x63"
b[510:512] = b"\x55\xaa"
b[2 << 20:3 << 20] = bytes(1 << 20)
open(sys.argv[1], "wb").write(b)
EOF
qemu-img convert -f raw -O qcow2 "$T/q.raw" "$T/q.qcow2"
qemu-img convert -f qcow2 -O raw "$T/q.qcow2" "$T/q.want"
imgfs_admin "$S" quota set "$me" cn-north-1 private-images 10
mkdir "$P/qup"
cp "$T/q.qcow2" "$P/qup/disks/vda"
imgfs_wait "$P/qup" >/dev/null 2>&1 || fail "qup: $(cat "$P/qup/error")"
assert_eq qcow2 "$(cat "$P/qup/format")" "the upload's format"
echo qcl >"$P/qup/convert"
imgfs_wait "$P/qcl" >/dev/null 2>&1 || fail "qcl: $(cat "$P/qcl/error")"
remount_imgfs "$S" "$M" workers=0 # the copy waits in the queue: only reads place chunks
mkdir "$P/qcl/copies/cn-east-2" "$E/instances/early2"
echo "early private/qcl" >"$E/instances/early2/image"
V="$E/instances/early2/disks/vda"
assert_eq "stopped early" "$(status_of "$E/instances/early2")" "status of an instance early from qcl's copy"
assert_eq $((6 * MiB)) "$(stat -c %s "$V")" "its vda's size: the QCOW2's virtual size"
cmp "$T/q.want" "$V" || fail "the early instance's vda, read while the copy waits, is not the QCOW2's disk"
assert_eq pending "$(cat "$P/qcl/copies/cn-east-2/status")" "qcl's copy, queued meanwhile"
remount_imgfs "$S" "$M"
imgfs_wait "$E/private/qcl" >/dev/null 2>&1 || fail "imgfs wait on qcl's copy"
cmp "$T/q.want" "$V" || fail "the instance's vda once the copy is available"
cmp "$T/q.want" "$E/snapshots/$(devmap_ref "$E/private/qcl" vda)/data" || fail "qcl's copy's vda"

echo "test_copy: OK"

#!/usr/bin/env bash
# SPEC §6.2, §4, §9: type conversion.  A raw local image made by a capture
# converts to a cloud image whose vda snapshot holds the same bytes and whose
# data-disk snapshot is the source's own (referenced, not copied); a QCOW2
# private image (uploaded with cp) converts to the decoded raw disk, with
# and without compression (qemu-img compare); converting a cloud image is
# EINVAL, a public one EPERM; the source is locked (rmdir EBUSY, a second
# conversion EBUSY) while the task exists — held queued by a workers=0
# mount — and free once it ended.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
I="$R/instances"

say "a local image with a data disk, by capture"
# A 5 GiB system disk (not the default 40: the capture hashes every byte,
# §2.1 sha256) with data past 2^32 bytes.
NEW_VM_SIZE=5G new_vm "$I/vm1"
ref="$T/vda.ref"
truncate -s 5G "$ref"
write_random "$I/vm1/disks/vda" 0 3 "$ref"
write_random "$I/vm1/disks/vda" 4100 1 "$ref"
truncate -s 64M "$I/vm1/disks/vdb"
write_random "$I/vm1/disks/vdb" 2 2
mkdir "$P/loc"
capture "$P/loc" vm1 vdb
data_snap=$(devmap_ref "$P/loc" vdb)
chunks_before=$(find "$S/regions/cn-north-1/chunks" -type f | wc -l)

say "echo > private/loc/convert: private/loc-cloud, pending then available"
smt=$(mtime_ns "$R/snapshots")
echo >"$P/loc/convert"
[[ -d "$P/loc-cloud" ]] || fail "private/loc-cloud did not appear"
assert_match 'pending|available' "$(status_of "$P/loc-cloud")" "loc-cloud/status right after the write"
assert_ne "$smt" "$(mtime_ns "$R/snapshots")" "snapshots/ mtime after the conversion was queued"
imgfs_wait "$P/loc-cloud" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait loc-cloud"; }
assert_eq available "$(status_of "$P/loc-cloud")" "loc-cloud/status"
assert_eq cloud "$(cat "$P/loc-cloud/type")" "loc-cloud/type"
assert_eq raw "$(cat "$P/loc-cloud/format")" "loc-cloud/format"
assert_eq "convert $(cat "$P/loc/id")" "$(cat "$P/loc-cloud/source")" "loc-cloud/source"
assert_eq "$(cat "$P/loc/size")" "$(cat "$P/loc-cloud/size")" "loc-cloud/size"
assert_eq available "$(status_of "$P/loc")" "the source stays available"

say "vda is a new snapshot named like the image, with the same bytes; vdb is the source's snapshot"
vda_snap=$(devmap_ref "$P/loc-cloud" vda)
assert_match 'snap-[0-9a-f]{8}' "$vda_snap" "loc-cloud vda reference"
assert_eq loc-cloud "$(cat "$R/snapshots/$vda_snap/name")" "the vda snapshot's name"
assert_eq "$data_snap" "$(devmap_ref "$P/loc-cloud" vdb)" "loc-cloud vdb is the same snapshot"
sparse_cmp "$P/loc/disks/vda" "$R/snapshots/$vda_snap/data" "converted vda"
sparse_cmp "$ref" "$R/snapshots/$vda_snap/data" "converted vda against what was written"
assert_eq "$(printf '%s\n%s' "$(cat "$P/loc/id")" "$(cat "$P/loc-cloud/id")")" "$(cat "$R/snapshots/$data_snap/images")" \
    "the data snapshot's images"
chunks_after=$(find "$S/regions/cn-north-1/chunks" -type f | wc -l)
assert_eq "$chunks_before" "$chunks_after" "chunk files after a raw conversion (by reference)"

say "refusals: a cloud image EINVAL, a public one EPERM, a taken name EEXIST"
assert_errno EINVAL write "$P/loc-cloud/convert" $'\n'
assert_logged write "$P/loc-cloud/convert" EINVAL
assert_errno EPERM create "$R/public/centos-7.4/convert" "x"
assert_errno EEXIST write "$P/loc/convert" "loc-cloud"
assert_errno EINVAL write "$P/loc/convert" "bad name"
assert_match '.+' "$(cat "$P/loc/error")" "loc/error after a refusal"

say "workers=0: a conversion stays queued; the source is locked meanwhile"
remount_imgfs "$S" "$M" workers=0
echo held >"$P/loc/convert"
assert_eq pending "$(status_of "$P/held")" "held/status with no workers"
assert_match $'op convert\nstate queued\nposition 1\n.*' "$(cat "$P/loc/task")" "loc/task while converting"
assert_errno EBUSY rmdir "$P/loc"
assert_logged rmdir "$P/loc" EBUSY
assert_errno EBUSY write "$P/loc/convert" "again"
assert_errno EBUSY rmdir "$P/held"
remount_imgfs "$S" "$M"
imgfs_wait "$P/held" >/dev/null 2>&1 || fail "imgfs wait held"
assert_eq "" "$(cat "$P/loc/task")" "loc/task once converted"
sparse_cmp "$P/loc/disks/vda" "$R/snapshots/$(devmap_ref "$P/held" vda)/data" "held vda"

say "QCOW2 sources, uploaded with cp, decoded (qemu-img compare), with and without -c"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 20 >/dev/null
qraw="$T/q.raw"
truncate -s 48M "$qraw"
head -c 3M /dev/urandom | dd of="$qraw" bs=1M seek=1 conv=notrunc status=none
head -c 100000 /dev/urandom | dd of="$qraw" bs=1 seek=$((30 * 1048576 + 12345)) conv=notrunc status=none
for comp in "" -c; do
    name=q${comp#-}
    qemu-img convert -q -f raw -O qcow2 $comp "$qraw" "$T/$name.qcow2"
    mkdir "$P/$name"
    cp "$T/$name.qcow2" "$P/$name/disks/vda" || fail "uploading $name.qcow2 (SPEC §5.3)"
    imgfs_wait "$P/$name" >/dev/null 2>&1 || fail "the upload of $name ended $(status_of "$P/$name"): $(cat "$P/$name/error")"
    assert_eq qcow2 "$(cat "$P/$name/format")" "$name/format"
    echo >"$P/$name/convert"
    imgfs_wait "$P/$name-cloud" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait $name-cloud"; }
    snap=$(devmap_ref "$P/$name-cloud" vda)
    assert_eq $((48 * 1048576)) "$(cat "$P/$name-cloud/size")" "$name-cloud/size (the virtual size)"
    qemu-img compare -q -f raw -F raw "$qraw" "$R/snapshots/$snap/data" ||
        fail "qemu-img compare: $name-cloud's vda differs from the raw disk"
    qemu-img compare -q -f qcow2 -F raw "$T/$name.qcow2" "$R/snapshots/$snap/data" ||
        fail "qemu-img compare: $name-cloud's vda differs from the QCOW2 image"
done

say "a rebuild from a QCOW2 image decodes it (§6.5): the instance's vda is the raw disk"
mkdir "$R/instances/qvm"
echo "private/qc" >"$R/instances/qvm/image" || fail "rebuild of qvm from the QCOW2 image private/qc refused"
assert_eq $((48 * 1048576)) "$(stat -c %s "$R/instances/qvm/disks/vda")" "qvm's vda size after the rebuild"
cmp "$qraw" "$R/instances/qvm/disks/vda" || fail "qvm's vda is not the decoded raw disk"

echo "test_convert: OK"

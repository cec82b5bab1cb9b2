#!/usr/bin/env bash
# SPEC §2.4, §9, §11: instances — mkdir makes a stopped instance with a
# blank, sparse 40 GiB local system disk; status and system-disk control
# files; disks written with dd read back byte-exact, holes reported by
# SEEK_DATA/SEEK_HOLE and st_blocks, and survive a remount; data disks are
# attached by creating a file, resized by truncate, detached by rm (stopped
# only); rmdir refuses a running instance and otherwise deletes everything.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
BLOB_PY="$INTEGRATION_DIR/blob.py"

setup_mount
I="$R/instances"
V="$I/vm1"
GiB=1073741824
WBLOBS="$S/regions/cn-north-1/wblobs"

say "mkdir instances/vm1: id status system-disk image disks/ host boot system-disk-size password arrived"
before=$(mtime_ns "$I")
mkdir "$V"
assert_eq "arrived boot disks host id image password status system-disk system-disk-size" "$(entries "$V")" \
    "entries of instances/vm1"
# The host it runs on (§2.4, §13): this machine's short name by default.
assert_eq "$(hostname -s)" "$(cat "$V/host")" "instances/vm1/host"
assert_match 'i-[0-9a-f]{8}' "$(cat "$V/id")" "vm1/id"
assert_eq stopped "$(status_of "$V")" "vm1/status"
assert_eq local "$(cat "$V/system-disk")" "vm1/system-disk"
assert_eq "" "$(cat "$V/image")" "vm1/image"
assert_eq vm1 "$(entries "$I")" "instances/"
assert_ne "$before" "$(mtime_ns "$I")" "mtime of instances/ after mkdir"

say "disks/vda: a regular file of 40 GiB with no stored data"
assert_eq vda "$(entries "$V/disks")" "vm1/disks/"
assert_eq "regular file 42949672960 0" "$(stat -c '%F %s %b' "$V/disks/vda")" "stat of vm1/disks/vda"

say "a second instance gets its own id; the same name twice is EEXIST"
mkdir "$I/vm2"
assert_ne "$(cat "$V/id")" "$(cat "$I/vm2/id")" "ids of vm1 and vm2"
assert_errno EEXIST mkdir "$V"

say "status: start and stop; writing the current status is accepted; other values EINVAL"
echo start >"$V/status"
assert_eq running "$(status_of "$V")" "vm1/status after start"
echo start >"$V/status"
assert_eq running "$(status_of "$V")" "vm1/status after a second start"
echo stop >"$V/status"
assert_eq stopped "$(status_of "$V")" "vm1/status after stop"
for bad in reboot Start running "start now" $'start\nstop'; do
    assert_errno EINVAL write "$V/status" "$bad"
done
assert_eq stopped "$(status_of "$V")" "vm1/status after the refused writes"
assert_logged write "$V/status" EINVAL

say "system-disk: cloud and back while the instance never ran; other values EINVAL"
echo cloud >"$I/vm2/system-disk"
assert_eq cloud "$(cat "$I/vm2/system-disk")" "vm2/system-disk"
echo local >"$I/vm2/system-disk"
assert_eq local "$(cat "$I/vm2/system-disk")" "vm2/system-disk back to local"
assert_errno EINVAL write "$I/vm2/system-disk" "ssd"
say "system-disk after the instance ran once (now stopped): EPERM"
assert_errno EPERM write "$V/system-disk" "cloud"
assert_eq local "$(cat "$V/system-disk")" "vm1/system-disk after the refused write"
assert_logged "open|write" "$V/system-disk" EPERM

say "dd into vda at 0, 1000 MiB and the last MiB, and 4 KiB inside a hole chunk: bytes read back"
ref="$T/vda.ref"
truncate -s 40G "$ref"
write_random "$V/disks/vda" 0 3 "$ref"
write_random "$V/disks/vda" 1000 2 "$ref"
write_random "$V/disks/vda" 40959 1 "$ref"
head -c 4096 /dev/urandom >"$T/4k"
for f in "$V/disks/vda" "$ref"; do
    dd if="$T/4k" of="$f" bs=4096 seek=$((2000 * 256 + 3)) conv=notrunc status=none
done
assert_eq 42949672960 "$(stat -c %s "$V/disks/vda")" "size of vda after the writes"
sparse_cmp "$V/disks/vda" "$ref" "vda vs what was written"
cmp -n $((4 * 1048576)) "$V/disks/vda" "$ref" || fail "the first 4 MiB of vda differ (plain cmp)"
cmp -i $((2000 * 1048576)) -n 1048576 "$V/disks/vda" "$ref" || fail "MiB 2000 of vda differs (plain cmp)"

say "SEEK_DATA/SEEK_HOLE report data only where written; st_blocks counts the written chunks"
assert_eq "$(python3 "$BLOB_PY" datamap "$ref" | xargs)" "$(seek_datamap "$V/disks/vda" | xargs)" \
    "data chunks of vda by SEEK_DATA/SEEK_HOLE"
blocks=$(python3 "$BLOB_PY" datablocks "$ref")
assert_eq "$blocks" "$(stat -c %b "$V/disks/vda")" "st_blocks of vda (7 data chunks)"
write_random "$V/disks/vda" 5000 2 "$ref"
(($(stat -c %b "$V/disks/vda") == blocks + 4096)) ||
    fail "st_blocks of vda went from $blocks to $(stat -c %b "$V/disks/vda") after writing 2 MiB more"

say "the bytes, the size and st_blocks survive a remount"
stat -c '%i %s %b' "$V/disks/vda" >"$T/vda.stat1"
id1=$(cat "$V/id")
remount_imgfs "$S" "$M"
stat -c '%i %s %b' "$V/disks/vda" >"$T/vda.stat2"
assert_file_eq "$T/vda.stat1" "$T/vda.stat2" "inode, size and st_blocks of vda across a remount"
assert_eq "$id1" "$(cat "$V/id")" "vm1/id after remount"
assert_eq stopped "$(status_of "$V")" "vm1/status after remount"
sparse_cmp "$V/disks/vda" "$ref" "vda after remount"

say "truncate -s 1G disks/vdb attaches a blank 1 GiB data disk"
dmt=$(mtime_ns "$V/disks")
truncate -s 1G "$V/disks/vdb" || fail "truncate -s 1G disks/vdb failed"
assert_eq "vda vdb" "$(entries "$V/disks")" "vm1/disks/ after attaching vdb"
assert_eq "regular file $GiB 0" "$(stat -c '%F %s %b' "$V/disks/vdb")" "stat of vdb"
assert_ne "$dmt" "$(mtime_ns "$V/disks")" "mtime of disks/ after attaching"

say "vdb is writable like vda: dd, full cmp, SEEK_DATA/SEEK_HOLE"
vref="$T/vdb.ref"
truncate -s 1G "$vref"
write_random "$V/disks/vdb" 5 2 "$vref"
write_random "$V/disks/vdb" 700 1 "$vref"
cmp "$V/disks/vdb" "$vref" || fail "vdb differs from what was written"
python3 "$BLOB_PY" seekcheck "$V/disks/vdb" "$vref" || fail "SEEK_DATA/SEEK_HOLE of vm1/disks/vdb"
assert_eq "$(python3 "$BLOB_PY" datablocks "$vref")" "$(stat -c %b "$V/disks/vdb")" "st_blocks of vdb"

say "truncate resizes an attached disk: grow to 2 GiB, shrink to 512 MiB; the data stays"
truncate -s 2G "$V/disks/vdb"
truncate -s 2G "$vref"
assert_eq $((2 * GiB)) "$(stat -c %s "$V/disks/vdb")" "size of vdb after growing"
cmp "$V/disks/vdb" "$vref" || fail "vdb differs after growing"
truncate -s 512M "$V/disks/vdb"
truncate -s 512M "$vref"
assert_eq $((GiB / 2)) "$(stat -c %s "$V/disks/vdb")" "size of vdb after shrinking"
cmp "$V/disks/vdb" "$vref" || fail "vdb differs after shrinking"
assert_eq "$(python3 "$BLOB_PY" datablocks "$vref")" "$(stat -c %b "$V/disks/vdb")" "st_blocks of vdb after shrinking"

say "attach with open(O_CREAT) + ftruncate too; bad device names EINVAL; vda cannot be removed"
assert_errno OK ftruncate "$V/disks/vdc" $((64 * 1048576))
assert_eq $((64 * 1048576)) "$(stat -c %s "$V/disks/vdc")" "size of vdc"
for bad in xyz vdaa vd vdB sda cidata0; do
    assert_errno EINVAL ftruncate "$V/disks/$bad" 1048576
done
assert_logged create "$V/disks/xyz" EINVAL
# cdrom and cidata come from an ISO image and a password (§16, test_iso_instances).
assert_errno EPERM ftruncate "$V/disks/cdrom" 1048576
assert_errno EPERM ftruncate "$V/disks/cidata" 1048576
assert_eq "vda vdb vdc" "$(entries "$V/disks")" "vm1/disks/ after the refused names"
assert_errno EPERM unlink "$V/disks/vda"
assert_logged unlink "$V/disks/vda" EPERM

say "while running: rm of a data disk is EBUSY; attaching is hot plug; the disks stay writable"
echo start >"$V/status"
assert_errno EBUSY unlink "$V/disks/vdb"
assert_logged unlink "$V/disks/vdb" EBUSY
assert_eq "vda vdb vdc" "$(entries "$V/disks")" "vm1/disks/ after the refused rm"
assert_errno OK ftruncate "$V/disks/vdd" 1048576
assert_eq "vda vdb vdc vdd" "$(entries "$V/disks")" "vm1/disks/ after attaching vdd while running"
write_random "$V/disks/vdb" 100 1 "$vref"
cmp "$V/disks/vdb" "$vref" || fail "vdb differs after a write while running"

say "rmdir of a running instance: EBUSY"
assert_errno EBUSY rmdir "$V"
assert_logged rmdir "$V" EBUSY
assert_eq running "$(status_of "$V")" "vm1/status after the refused rmdir"

say "stopped: rm disks/vdb detaches it (and its file in the store)"
echo stop >"$V/status"
nw=$(find "$WBLOBS" -name '*.map' | wc -l)
dmt=$(mtime_ns "$V/disks")
rm "$V/disks/vdb" || fail "rm disks/vdb of a stopped instance failed"
assert_eq "vda vdc vdd" "$(entries "$V/disks")" "vm1/disks/ after rm vdb"
assert_errno ENOENT stat "$V/disks/vdb"
assert_ne "$dmt" "$(mtime_ns "$V/disks")" "mtime of disks/ after detaching"
assert_eq $((nw - 1)) "$(find "$WBLOBS" -name '*.map' | wc -l)" "writable blobs in the store after rm vdb"
say "a new vdb is blank"
truncate -s 1G "$V/disks/vdb"
assert_eq "0" "$(stat -c %b "$V/disks/vdb")" "st_blocks of a re-attached vdb"
truncate -s 1G "$T/blank"
sparse_cmp "$V/disks/vdb" "$T/blank" "a re-attached vdb vs a blank file"
cmp -n $((8 * 1048576)) "$V/disks/vdb" /dev/zero || fail "the first 8 MiB of a re-attached vdb are not zeros"

say "rmdir of a stopped instance deletes it and its disks"
nw=$(find "$WBLOBS" -name '*.map' | wc -l)
nd=$(entries "$V/disks" | wc -w)
before=$(mtime_ns "$I")
rmdir "$V" || fail "rmdir instances/vm1 failed"
assert_eq vm2 "$(entries "$I")" "instances/ after rmdir vm1"
assert_errno ENOENT stat "$V"
assert_errno ENOENT rmdir "$V"
assert_ne "$before" "$(mtime_ns "$I")" "mtime of instances/ after rmdir"
assert_eq $((nw - nd)) "$(find "$WBLOBS" -name '*.map' | wc -l)" "writable blobs in the store after rmdir vm1 ($nd disks)"

say "the name is free again: a new vm1 is blank, with a new id"
mkdir "$V"
assert_ne "$id1" "$(cat "$V/id")" "id of the new vm1"
assert_eq 0 "$(stat -c %b "$V/disks/vda")" "st_blocks of the new vm1's vda"
assert_eq local "$(cat "$V/system-disk")" "system-disk of the new vm1"

say "instances survive a remount; fsck is clean"
remount_imgfs "$S" "$M"
assert_eq "vm1 vm2" "$(entries "$I")" "instances/ after remount"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after the instance tests"; }

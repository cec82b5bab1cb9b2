#!/usr/bin/env bash
# SPEC §5.1, §2.2, §2.4, §4, §8, §9, §11: private images made from an
# instance — a local system disk becomes disks/vda, a cloud one and every
# listed data disk a snapshot; the image goes pending/replicating/available
# and `imgfs wait` follows it; refusals (unknown instance or device, garbage,
# running instance, snapshot quota) leave the image queued with a reason; a
# disk's whole-MiB writes are captured by hard links, not copies; a
# running capture makes the instance busy; a capture survives an unmount;
# one that runs out of space ends in error and removes its snapshots.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
BLOB_PY="$INTEGRATION_DIR/blob.py"

setup_mount
P="$R/private"
I="$R/instances"
me=$(id -un)
VDA_SIZE=42949672960

say "vm1: data in its 40 GiB vda, a 256 MiB vdb with data, a 64 MiB vdc"
mkdir "$I/vm1"
vm1_id=$(cat "$I/vm1/id")
ref_a="$T/vda.ref" ref_b="$T/vdb.ref"
truncate -s 40G "$ref_a"
truncate -s 256M "$ref_b"
write_random "$I/vm1/disks/vda" 0 4 "$ref_a"
write_random "$I/vm1/disks/vda" 20000 2 "$ref_a"
truncate -s 256M "$I/vm1/disks/vdb"
write_random "$I/vm1/disks/vdb" 1 3 "$ref_b"
write_random "$I/vm1/disks/vdb" 255 1 "$ref_b"
truncate -s 64M "$I/vm1/disks/vdc"
write_random "$I/vm1/disks/vdc" 0 1

say "mkdir private/img1; echo \"instance vm1 vdb\" > source: pending or replicating"
mkdir "$P/img1"
smt=$(mtime_ns "$R/snapshots")
echo "instance vm1 vdb" >"$P/img1/source"
assert_match 'pending|replicating|available' "$(status_of "$P/img1")" "img1/status right after the capture write"
say "imgfs wait private/img1: exit 0"
imgfs_wait "$P/img1" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait private/img1 exited non-zero"; }
sed 's/^/    /' "$T/wait.out" | tail -n 3

say "img1: available, local, raw, 40 GiB, source names the instance by id"
assert_eq available "$(status_of "$P/img1")" "img1/status"
assert_eq 100 "$(cat "$P/img1/progress")" "img1/progress"
assert_eq local "$(cat "$P/img1/type")" "img1/type"
assert_eq raw "$(cat "$P/img1/format")" "img1/format"
assert_eq "$VDA_SIZE" "$(cat "$P/img1/size")" "img1/size"
assert_eq "instance $vm1_id vdb" "$(cat "$P/img1/source")" "img1/source"
assert_eq "" "$(cat "$P/img1/error")" "img1/error"
assert_eq "" "$(cat "$P/img1/task")" "img1/task once available"
assert_eq "" "$(cat "$P/img1/instances")" "img1/instances"

say "device-mapping: vda image disks/vda, vdb snapshot snap-..."
assert_eq 2 "$(wc -l <"$P/img1/device-mapping")" "lines of img1/device-mapping"
assert_eq "$(printf 'vda\timage\tdisks/vda\t%s' "$VDA_SIZE")" "$(sed -n 1p "$P/img1/device-mapping")" "device-mapping line 1"
assert_match $'vdb\tsnapshot\tsnap-[0-9a-f]{8}\t268435456' "$(sed -n 2p "$P/img1/device-mapping")" "device-mapping line 2"
snap=$(devmap_ref "$P/img1" vdb)

say "img1/disks/vda equals vm1's vda (and what was written); disks/vdb equals vm1's vdb"
assert_eq "vda vdb" "$(entries "$P/img1/disks")" "img1/disks/"
assert_eq "$VDA_SIZE" "$(stat -c %s "$P/img1/disks/vda")" "stat size of img1/disks/vda"
sparse_cmp "$P/img1/disks/vda" "$I/vm1/disks/vda" "img1/disks/vda vs vm1/disks/vda"
sparse_cmp "$P/img1/disks/vda" "$ref_a" "img1/disks/vda vs what was written"
python3 "$BLOB_PY" seekcheck "$P/img1/disks/vdb" "$ref_b" || fail "SEEK_DATA/SEEK_HOLE of img1/disks/vdb"
assert_eq "$(python3 "$BLOB_PY" datablocks "$ref_a")" "$(stat -c %b "$P/img1/disks/vda")" "st_blocks of img1/disks/vda"
cmp "$P/img1/disks/vdb" "$ref_b" || fail "img1/disks/vdb differs from vm1's vdb"
assert_eq "$(xxhsum -H2 "$ref_b" 2>/dev/null | awk '{print $1}')" \
    "$(getfattr --absolute-names --only-values -n user.imgfs.xxh128 "$P/img1/disks/vdb" | tr -d '\n' | tr 'A-F' 'a-f')" \
    "user.imgfs.xxh128 of img1/disks/vdb"

say "the capture moved no byte that dd wrote in whole MiB: each captured chunk file is that write's own file"
# dd bs=1M wrote 6 whole chunks of vda and 4 of vdb (each kept as a file
# in wblobs/<disk>.arr/, SPEC §11) and 1 of vdc, which was not captured:
# the seal hard-linked the 10 into chunks/, so each has two names, the
# 11th one; had the capture copied, none would.
WB="$S/regions/cn-north-1/wblobs"
assert_eq 11 "$(find "$WB" -path '*.arr/*' -type f | wc -l)" "arrived chunk files in wblobs/"
assert_eq 10 "$(find "$WB" -path '*.arr/*' -type f -links 2 | wc -l)" "arrived chunk files that are also chunks/ files"
assert_eq 10 "$(find "$S/regions/cn-north-1/chunks" -type f -links 2 | wc -l)" "chunks/ files with a second name"

say "snapshots/$snap: available, 256 MiB, images lists img1, data equals vm1's vdb"
assert_eq "$snap" "$(entries "$R/snapshots")" "snapshots/"
assert_ne "$smt" "$(mtime_ns "$R/snapshots")" "mtime of snapshots/ after the capture"
assert_eq available "$(status_of "$R/snapshots/$snap")" "snapshot status"
assert_eq 268435456 "$(cat "$R/snapshots/$snap/size")" "snapshot size"
assert_eq "$(cat "$P/img1/id")" "$(cat "$R/snapshots/$snap/images")" "snapshot images"
cmp "$R/snapshots/$snap/data" "$ref_b" || fail "snapshots/$snap/data differs from vm1's vdb"
for e in name description size status created images data; do
    [[ -e "$R/snapshots/$snap/$e" ]] || fail "snapshots/$snap/$e missing"
done
assert_eq "1 5" "$(quota_line "$R" private-images)" "private-images quota"
assert_eq "1 15" "$(quota_line "$R" snapshots)" "snapshots quota"

say "vm1 is unchanged and usable; writing it afterwards changes neither the image nor the snapshot"
assert_eq stopped "$(status_of "$I/vm1")" "vm1/status after the capture"
assert_eq "vda vdb vdc" "$(entries "$I/vm1/disks")" "vm1/disks/ after the capture"
write_random "$I/vm1/disks/vda" 0 1
write_random "$I/vm1/disks/vdb" 1 1
echo start >"$I/vm1/status"
echo stop >"$I/vm1/status"
sparse_cmp "$P/img1/disks/vda" "$ref_a" "img1/disks/vda after vm1 was written"
cmp "$R/snapshots/$snap/data" "$ref_b" || fail "snapshots/$snap/data changed when vm1's vdb was written"
cmp "$P/img1/disks/vdb" "$ref_b" || fail "img1/disks/vdb changed when vm1's vdb was written"

say "cloud system disk: a cloud image whose vda is a new snapshot"
new_vm "$I/vmc" # 1 GiB: its capture hashes it all (§2.1 sha256)
echo cloud >"$I/vmc/system-disk"
ref_c="$T/vdc.ref"
truncate -s 1G "$ref_c"
write_random "$I/vmc/disks/vda" 10 3 "$ref_c"
mkdir "$P/imgc"
capture "$P/imgc" vmc
assert_eq cloud "$(cat "$P/imgc/type")" "imgc/type"
assert_eq 1 "$(wc -l <"$P/imgc/device-mapping")" "lines of imgc/device-mapping"
assert_match $'vda\tsnapshot\tsnap-[0-9a-f]{8}\t1073741824' "$(cat "$P/imgc/device-mapping")" "imgc/device-mapping"
csnap=$(devmap_ref "$P/imgc" vda)
assert_eq "$(cat "$P/imgc/id")" "$(cat "$R/snapshots/$csnap/images")" "images of the cloud image's snapshot"
sparse_cmp "$P/imgc/disks/vda" "$ref_c" "imgc/disks/vda"
sparse_cmp "$R/snapshots/$csnap/data" "$ref_c" "snapshots/$csnap/data"
assert_eq "2 15" "$(quota_line "$R" snapshots)" "snapshots quota after the cloud capture"

say "remount: images, disks and snapshots unchanged (inode, size, mtime, bytes)"
stat -c '%i %s %Y %b' "$P/img1/disks/vda" "$R/snapshots/$snap/data" "$P/imgc/disks/vda" >"$T/stat1"
remount_imgfs "$S" "$M"
stat -c '%i %s %Y %b' "$P/img1/disks/vda" "$R/snapshots/$snap/data" "$P/imgc/disks/vda" >"$T/stat2"
assert_file_eq "$T/stat1" "$T/stat2" "stat of captured disks across a remount"
sparse_cmp "$P/img1/disks/vda" "$ref_a" "img1/disks/vda after remount"
cmp "$R/snapshots/$snap/data" "$ref_b" || fail "snapshots/$snap/data after remount"

say "refused captures: unknown instance or device ENOENT, garbage EINVAL; the image stays queued"
mkdir "$P/bad"
assert_errno ENOENT write "$P/bad/source" "instance nosuch"
assert_logged write "$P/bad/source" ENOENT
[[ -n "$(cat "$P/bad/error")" ]] || fail "bad/error is empty after a refused capture"
assert_errno ENOENT write "$P/bad/source" "instance vm1 vdq"
for garbage in "garbage" "instance" "snapshot vm1" "instance vm1 vdb"$'\n'"more"; do
    assert_errno EINVAL write "$P/bad/source" "$garbage"
done
assert_eq queued "$(status_of "$P/bad")" "bad/status after the refusals"
assert_eq "" "$(cat "$P/bad/source")" "bad/source after the refusals"
say "writing source of an available image: EPERM"
assert_errno EPERM write "$P/img1/source" "instance vm1"
assert_logged "open|write" "$P/img1/source" EPERM

say "capture of a running instance: EBUSY, queued, a reason in error and in the log"
echo start >"$I/vm1/status"
assert_errno EBUSY write "$P/bad/source" "instance vm1 vdb"
assert_eq queued "$(status_of "$P/bad")" "bad/status after EBUSY"
[[ -n "$(cat "$P/bad/error")" ]] || fail "bad/error is empty after EBUSY"
assert_logged write "$P/bad/source" EBUSY
assert_eq "$(cat "$P/bad/error")" "$(grep -F "write ${P#"$M"}/bad/source: EBUSY " "$S/imgfs.log" | tail -n1 | sed 's/.*: EBUSY //')" \
    "the reason in bad/error and in the log"
echo stop >"$I/vm1/status"

say "snapshot quota: room for one snapshot, a capture of two data disks is EDQUOT and creates nothing"
imgfs_admin "$S" quota set "$me" cn-north-1 snapshots 3
ls "$R/snapshots" >"$T/snaps.before"
assert_errno EDQUOT write "$P/bad/source" "instance vm1 vdb vdc"
assert_logged write "$P/bad/source" EDQUOT
ls "$R/snapshots" >"$T/snaps.after"
assert_file_eq "$T/snaps.before" "$T/snaps.after" "snapshots/ after EDQUOT"
assert_eq "2 3" "$(quota_line "$R" snapshots)" "snapshots quota after EDQUOT"
assert_eq queued "$(status_of "$P/bad")" "bad/status after EDQUOT"
say "a cloud vda counts too: cloud instance + one data disk needs two"
truncate -s 8M "$I/vmc/disks/vdb"
assert_errno EDQUOT write "$P/bad/source" "instance vmc vdb"
say "one data disk fits"
# Of an instance with a 1 GiB system disk: the capture hashes all of it
# (§2.1 sha256), and vm1's 40 GiB took a minute and a half of an ASan pass.
new_vm "$I/vmq"
truncate -s 8M "$I/vmq/disks/vdc"
write_random "$I/vmq/disks/vdc" 0 1
capture "$P/bad" vmq vdc
assert_eq "3 3" "$(quota_line "$R" snapshots)" "snapshots quota after a capture of one data disk"
imgfs_admin "$S" quota set "$me" cn-north-1 snapshots 15

say "imgfs wait on a path that does not exist: non-zero"
assert_fails imgfs_wait "$P/no-such-image"

say "a capture in progress: the instance's disks, start and rmdir are EBUSY (while it lasts)"
mkdir "$I/vmbig"
write_random "$I/vmbig/disks/vda" 0 64 # the capture hashes 40 GiB (§2.1 sha256): long enough to be caught
write_random "$I/vmbig/disks/vda" 30000 64
truncate -s 128M "$I/vmbig/disks/vdb"
write_random "$I/vmbig/disks/vdb" 0 64
dig_a=$(sparse_digest "$I/vmbig/disks/vda")
dig_b=$(sparse_digest "$I/vmbig/disks/vdb")
mkdir "$P/big"
echo "instance vmbig vdb" >"$P/big/source"
grep -q '^op ' "$P/big/task" || [[ "$(status_of "$P/big")" == available ]] ||
    fail "big/task shows no op while the capture runs: $(cat "$P/big/task")"
checked=0 got=""
# busy_check WHAT OP ARGS...: while the capture lasts, OP must be EBUSY.
# Leaves the errno name in $got.
busy_check() {
    local what=$1 st; shift
    got=$(errno_of "$@")
    # (an rmdir that came after the capture ended moved the image to the bin)
    st=$(status_of "$P/big" 2>/dev/null || status_of "$R/recycle-bin/big")
    if [[ "$st" == pending || "$st" == replicating ]]; then
        [[ "$got" == EBUSY ]] || fail "$what during a capture ($st): $got, expected EBUSY"
        checked=$((checked + 1))
    else
        echo "    ($what: $got — the capture had ended: $st)"
    fi
}
busy_check "pwrite vmbig/disks/vda" pwrite "$I/vmbig/disks/vda" 4096 "x"
busy_check "resize vmbig/disks/vdb" truncate "$I/vmbig/disks/vdb" 1048576
busy_check "attach vmbig/disks/vdc" ftruncate "$I/vmbig/disks/vdc" 1048576
busy_check "rm vmbig/disks/vdb" unlink "$I/vmbig/disks/vdb"
busy_check "rmdir private/big" rmdir "$P/big"
if [[ "$got" == OK ]]; then mv "$R/recycle-bin/big" "$P/big"; fi
busy_check "start vmbig" write "$I/vmbig/status" start
busy_check "rmdir vmbig" rmdir "$I/vmbig"
echo "    $checked operations refused with EBUSY during the capture"
say "description and tags of the image are writable at any status (here $(status_of "$P/big"))"
echo "captured" >"$P/big/description" || fail "writing big/description during the capture failed"
echo "k=v" >"$P/big/tags" || fail "writing big/tags during the capture failed"
assert_eq captured "$(cat "$P/big/description")" "big/description"

say "unmount and remount during the capture: it finishes (resumed), bytes equal"
st=$(status_of "$P/big")
echo "    status at unmount: $st"
remount_imgfs "$S" "$M"
imgfs_wait "$P/big" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait private/big after a remount"; }
assert_eq available "$(status_of "$P/big")" "big/status"
assert_eq "$dig_a" "$(sparse_digest "$P/big/disks/vda")" "digest of big/disks/vda vs vmbig's vda"
bsnap=$(devmap_ref "$P/big" vdb)
assert_eq "$dig_b" "$(sparse_digest "$R/snapshots/$bsnap/data")" "digest of the vdb snapshot vs vmbig's vdb"
assert_eq captured "$(cat "$P/big/description")" "big/description after the remount"
assert_eq "" "$(cat "$P/big/task")" "big/task after the capture"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after the captures"; }

say "a capture that runs out of space (state on a small tmpfs): error, reason, no snapshots left"
mkdir -p "$T/fs"
if ! mount -t tmpfs -o size=320m tmpfs "$T/fs" 2>/dev/null; then
    say "    (mounting a tmpfs failed: skipped)"
    exit 0
fi
also_unmount "$T/fs"
S2="$T/fs/state" M2="$T/mnt2"
mount_imgfs "$S2" "$M2"
R2="$M2/regions/cn-north-1"
free=$(($(stat -f -c '%a * %S' "$S2")))
fill=$((free * 6 / 10 / 1048576))
echo "    $((free / 1048576)) MiB free; $fill MiB of data go into the instance"
mkdir "$R2/instances/vmx"
# Written 4 KiB off the chunk boundaries, so that every chunk is in the
# overlay and the capture must store a copy: a whole-MiB write would be
# captured by a hard link, taking no more room (SPEC §11).
unaligned() { # FILE MIB: MIB MiB of random bytes from byte 4096 on
    head -c "$(($2 << 20))" /dev/urandom |
        dd of="$1" bs=1M seek=4096 oflag=seek_bytes iflag=fullblock conv=notrunc status=none
}
unaligned "$R2/instances/vmx/disks/vda" $((fill - 8))
truncate -s 64M "$R2/instances/vmx/disks/vdb"
unaligned "$R2/instances/vmx/disks/vdb" 8
dig=$(sparse_digest "$R2/instances/vmx/disks/vda")
mkdir "$R2/private/full"
echo "instance vmx vdb" >"$R2/private/full/source"
rc=0
"$IMGFS" wait "$R2/private/full" >"$T/wait.out" 2>&1 || rc=$?
sed 's/^/    /' "$T/wait.out" | tail -n 3
assert_eq 1 "$rc" "exit status of imgfs wait on an image that ends in error"
assert_eq error "$(status_of "$R2/private/full")" "full/status"
reason=$(cat "$R2/private/full/error")
[[ -n "$reason" ]] || fail "full/error is empty"
grep -qF -- "$reason" "$T/wait.out" || fail "imgfs wait did not print the reason \"$reason\""
assert_eq "" "$(entries "$R2/snapshots")" "snapshots/ after the failed capture"
assert_eq "0 15" "$(quota_line "$R2" snapshots)" "snapshots quota after the failed capture"
assert_eq stopped "$(status_of "$R2/instances/vmx")" "vmx/status after the failed capture"
echo "failed" >"$R2/private/full/description" || fail "writing the description of an image in error failed"
assert_eq failed "$(cat "$R2/private/full/description")" "full/description"
say "an image in error goes to the recycle bin on rmdir and is destroyed from there"
rmdir "$R2/private/full" || fail "rmdir of an image in error failed"
assert_eq deleted "$(status_of "$R2/recycle-bin/full")" "status of full in the recycle bin"
rmdir "$R2/recycle-bin/full" || fail "rmdir recycle-bin/full failed"
destroyed "$R2/recycle-bin/full"
assert_eq "" "$(entries "$R2/recycle-bin")" "recycle-bin/ after destroying full"
say "the instance still reads back the same bytes; fsck is clean"
assert_eq "$dig" "$(sparse_digest "$R2/instances/vmx/disks/vda")" "digest of vmx/disks/vda after the failed capture"
imgfs_admin "$S2" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after running out of space"; }

#!/usr/bin/env bash
# SPEC §6.5, §2.1 (instances), §3, §9, §12: writing an image (by path or id)
# to a stopped instance's `image` rebuilds its system disk from the image's
# and its data disks from the image's snapshots, copy-on-write (the image
# never changes); the type must match the system disk; a running instance
# is EBUSY; an unknown image ENOENT; an image an instance was created from
# cannot be deleted until the instance is gone.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
I="$R/instances"
pub="$R/public/centos-7.4"
pub_id=$(cat "$pub/id")

say "echo public/centos-7.4 > instances/vm1/image: image reads the id, vda equals the image's"
mkdir "$I/vm1"
dig_pub=$(sparse_digest "$pub/disks/vda")
dmt=$(mtime_ns "$I/vm1/disks")
echo public/centos-7.4 >"$I/vm1/image" || fail "rebuild of vm1 from public/centos-7.4 refused"
assert_eq "$pub_id" "$(cat "$I/vm1/image")" "vm1/image"
assert_eq "$(cat "$pub/size")" "$(stat -c %s "$I/vm1/disks/vda")" "size of vm1/disks/vda"
sparse_cmp "$I/vm1/disks/vda" "$pub/disks/vda" "vm1/disks/vda vs public/centos-7.4/disks/vda"
cmp -n $((4 * 1048576)) "$I/vm1/disks/vda" "$pub/disks/vda" || fail "the first 4 MiB differ (plain cmp)"
qemu-img info "$I/vm1/disks/vda" >/dev/null || fail "qemu-img info of vm1/disks/vda"
assert_ne "$dmt" "$(mtime_ns "$I/vm1/disks")" "mtime of vm1/disks/ after the rebuild"
assert_eq vm1 "$(cat "$pub/instances")" "public/centos-7.4/instances"
assert_eq local "$(cat "$I/vm1/system-disk")" "vm1/system-disk after the rebuild"

say "writing vm1's vda does not change the public image (copy-on-write)"
write_random "$I/vm1/disks/vda" 0 2
write_random "$I/vm1/disks/vda" 3 1
assert_eq "$dig_pub" "$(sparse_digest "$pub/disks/vda")" "public/centos-7.4/disks/vda after vm1 was written"
assert_ne "$dig_pub" "$(sparse_digest "$I/vm1/disks/vda")" "vm1/disks/vda after it was written"

say "system-disk cannot change once the instance has an image: EPERM"
assert_errno EPERM write "$I/vm1/system-disk" cloud

say "rebuild by id (centos-6.9): vda replaced, instances lists move"
other="$R/public/centos-6.9"
other_id=$(cat "$other/id")
echo "$other_id" >"$I/vm1/image" || fail "rebuild of vm1 from $other_id refused"
assert_eq "$other_id" "$(cat "$I/vm1/image")" "vm1/image after rebuilding by id"
sparse_cmp "$I/vm1/disks/vda" "$other/disks/vda" "vm1/disks/vda vs public/centos-6.9/disks/vda"
assert_eq vm1 "$(cat "$other/instances")" "public/centos-6.9/instances"
assert_eq "" "$(cat "$pub/instances")" "public/centos-7.4/instances after vm1 moved away"

say "golden: a private image of a source vm with a vdb snapshot"
new_vm "$I/src" # a 1 GiB system disk: the capture hashes all of it (§2.1 sha256)
write_random "$I/src/disks/vda" 0 3
truncate -s 64M "$I/src/disks/vdb"
ref_b="$T/vdb.ref"
truncate -s 64M "$ref_b"
write_random "$I/src/disks/vdb" 7 2 "$ref_b"
mkdir "$P/golden"
capture "$P/golden" src vdb
gid=$(cat "$P/golden/id")
snap=$(devmap_ref "$P/golden" vdb)

say "rebuild vm2 (with its own vdc) from private/golden: vda, vdb from the snapshot, vdc stays"
mkdir "$I/vm2"
truncate -s 16M "$I/vm2/disks/vdc"
write_random "$I/vm2/disks/vdc" 0 1
dig_c=$(sparse_digest "$I/vm2/disks/vdc")
echo private/golden >"$I/vm2/image" || fail "rebuild of vm2 from private/golden refused"
assert_eq "$gid" "$(cat "$I/vm2/image")" "vm2/image"
assert_eq "vda vdb vdc" "$(entries "$I/vm2/disks")" "vm2/disks/"
sparse_cmp "$I/vm2/disks/vda" "$P/golden/disks/vda" "vm2/disks/vda vs golden/disks/vda"
cmp "$I/vm2/disks/vdb" "$R/snapshots/$snap/data" || fail "vm2/disks/vdb differs from snapshot $snap"
cmp "$I/vm2/disks/vdb" "$ref_b" || fail "vm2/disks/vdb differs from src's vdb"
assert_eq "$dig_c" "$(sparse_digest "$I/vm2/disks/vdc")" "vm2/disks/vdc after the rebuild"
assert_eq vm2 "$(cat "$P/golden/instances")" "golden/instances"
say "writing vm2's vdb changes neither the snapshot nor golden"
write_random "$I/vm2/disks/vdb" 7 1
cmp "$R/snapshots/$snap/data" "$ref_b" || fail "snapshot $snap changed when vm2's vdb was written"

say "refusals: running EBUSY, unknown image ENOENT, queued image EINVAL; nothing changes"
echo start >"$I/vm2/status"
assert_errno EBUSY write "$I/vm2/image" public/centos-7.4
assert_logged "open|write" "$I/vm2/image" EBUSY
echo stop >"$I/vm2/status"
assert_errno ENOENT write "$I/vm2/image" private/no-such
assert_errno ENOENT write "$I/vm2/image" img-00000000
assert_errno ENOENT write "$I/vm2/image" public/no-such
assert_logged write "$I/vm2/image" ENOENT
mkdir "$P/empty"
assert_errno EINVAL write "$I/vm2/image" private/empty
assert_eq "$gid" "$(cat "$I/vm2/image")" "vm2/image after the refusals"
sparse_cmp "$I/vm2/disks/vda" "$P/golden/disks/vda" "vm2/disks/vda after the refusals"

say "a cloud-system-disk instance: a local image is EINVAL, a public image (both types) works"
mkdir "$I/vmc"
echo cloud >"$I/vmc/system-disk"
assert_errno EINVAL write "$I/vmc/image" private/golden
assert_logged write "$I/vmc/image" EINVAL
assert_eq "" "$(cat "$I/vmc/image")" "vmc/image after EINVAL"
echo public/centos-7.4 >"$I/vmc/image" || fail "rebuild of a cloud instance from a public image refused"
assert_eq "$pub_id" "$(cat "$I/vmc/image")" "vmc/image"
sparse_cmp "$I/vmc/disks/vda" "$pub/disks/vda" "vmc/disks/vda vs public/centos-7.4/disks/vda"

say "a marketplace image can be used to create an instance (its blob is not readable, §3)"
mkt=$(ls "$R/marketplace" | head -n1)
mkdir "$I/vmm"
echo "marketplace/$mkt" >"$I/vmm/image" || fail "rebuild from marketplace/$mkt refused"
assert_eq "$(cat "$R/marketplace/$mkt/id")" "$(cat "$I/vmm/image")" "vmm/image"
assert_eq "$(cat "$R/marketplace/$mkt/size")" "$(stat -c %s "$I/vmm/disks/vda")" "size of vmm/disks/vda"
assert_errno EACCES read "$R/marketplace/$mkt/disks/vda"

say "an image an instance was created from: EBUSY, until the instance is gone"
assert_errno EBUSY rmdir "$P/golden"
assert_logged rmdir "$P/golden" EBUSY
[[ -n "$(cat "$P/golden/error")" ]] || fail "golden/error is empty after the refused rmdir"
assert_eq available "$(status_of "$P/golden")" "golden/status after the refused rmdir"
echo "$gid" >"$I/vm1/image"
rmdir "$I/vm2"
assert_errno EBUSY rmdir "$P/golden"
rmdir "$I/vm1"
assert_eq "" "$(cat "$P/golden/instances")" "golden/instances after both instances are gone"
rmdir "$P/golden" || fail "rmdir private/golden after its instances are gone failed"
assert_eq deleted "$(status_of "$R/recycle-bin/golden")" "golden in the recycle bin"

say "after a remount: vmc's image and bytes stay; fsck clean"
remount_imgfs "$S" "$M"
assert_eq "$pub_id" "$(cat "$I/vmc/image")" "vmc/image after remount"
assert_eq vmc "$(cat "$pub/instances")" "public/centos-7.4/instances after remount"
sparse_cmp "$I/vmc/disks/vda" "$pub/disks/vda" "vmc/disks/vda after remount"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after the rebuild tests"; }

#!/usr/bin/env bash
# SPEC §6.3, §6.2, §2.1 `sha256`, §2.3 `user.imgfs.xxh128` (issue 38): a
# copy (and a raw conversion) of an image whose own checksum pass has not
# run yet reads none of its bytes for its hashes: they follow when the
# source's land.  The sequence of the issue: capture a disk, convert it
# twice, copy the first conversion to another region, then the second.
# Counted, not timed: the bytes read back to hash blobs
# (imgfs_sha256_read_bytes_total) are the capture's one pass and nothing
# more, and every image ends with a sha256 equal to sha256sum of its disk.
# Two mounts of the state run tasks (§1 "Two processes on one state"): each
# runs a checksum pass at a time, so before, the second one read a
# conversion's GiB while the first still hashed the capture's.  Then a
# copy whose source is deleted before its checksum lands gets a pass of
# its own.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount workers=2
M2="$T/mnt2"
mount_imgfs "$S" "$M2" workers=2
P="$R/private"
I="$R/instances"
E="$M/regions/cn-east-2/private"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 20 >/dev/null
imgfs_admin "$S" quota set "$(id -un)" cn-east-2 private-images 20 >/dev/null
reread() { echo $(($(stat_of "$M" imgfs_sha256_read_bytes_total) + $(stat_of "$M2" imgfs_sha256_read_bytes_total))); }
sha_of() { sha256sum <"$1" | cut -d' ' -f1; }
ready() { imgfs_wait "$1" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait $1: $(cat "$1/error")"; }; }

say "a 1 GiB system disk with 96 MiB of data, captured"
new_vm "$I/vm1"
echo 1G >"$I/vm1/system-disk-size"
write_random "$I/vm1/disks/vda" 0 96
mkdir "$P/cap"
r0=$(reread)
echo "instance vm1" >"$P/cap/source"
ready "$P/cap"

say "converted twice, each conversion copied to cn-east-2, before the capture's pass is done"
echo c1 >"$P/cap/convert"
ready "$P/c1"
echo c2 >"$P/cap/convert"
ready "$P/c2"
mkdir "$P/c1/copies/cn-east-2"
ready "$E/c1"
mkdir "$P/c2/copies/cn-east-2"
ready "$E/c2"
grep -q "copy $(cat "$P/c2/id") cn-north-1 -> cn-east-2: 0 chunks (0 bytes) copied" "$S/imgfs.log" ||
    fail "the second copy moved chunks: $(grep "copy img-" "$S/imgfs.log")"

say "every sha256 lands, each equal to sha256sum of its disk"
hashed "$P/cap" "$P/c1" "$P/c2" "$E/c1" "$E/c2"
want=$(sha_of "$I/vm1/disks/vda")
for d in "$P/cap" "$P/c1" "$P/c2" "$E/c1" "$E/c2"; do
    assert_eq "$want" "$(cat "$d/sha256")" "$d/sha256"
done
# The second copy's disk as read through the mount, and its xattr.
assert_eq "$want" "$(sha_of "$E/c2/disks/vda")" "sha256sum of $E/c2/disks/vda"
assert_eq "$(xxhsum -H2 "$E/c2/disks/vda" 2>/dev/null | awk '{print $1}')" \
    "$(getfattr --absolute-names --only-values -n user.imgfs.xxh128 "$E/c2/disks/vda")" "the second copy's xxh128"
no_tasks() { # no checksum task queued or running
    ! awk '$1 ~ /^imgfs_tasks\{kind="checksum"/ && $2 != 0 { found = 1 } END { exit !found }' "$M/stats"
}
wait_for 60 no_tasks || fail "checksum tasks left: $(grep imgfs_tasks "$M/stats")"
assert_eq $((r0 + (1 << 30))) "$(reread)" "bytes read back to hash: the capture's one pass, none for copies or conversions"

say "a copy whose source is deleted before its checksum lands: a pass of its own"
new_vm "$I/vm2"
echo 64M >"$I/vm2/system-disk-size"
write_random "$I/vm2/disks/vda" 0 8
mkdir "$P/cap2"
r1=$(reread)
echo "instance vm2" >"$P/cap2/source"
ready "$P/cap2"
echo >"$P/cap2/convert"
ready "$P/cap2-cloud"
mkdir "$P/cap2-cloud/copies/cn-east-2"
ready "$E/cap2-cloud"
rmdir "$P/cap2-cloud"
hashed "$P/cap2" "$E/cap2-cloud"
want=$(sha_of "$I/vm2/disks/vda")
assert_eq "$want" "$(cat "$E/cap2-cloud/sha256")" "the orphaned copy's sha256"
assert_eq "$want" "$(cat "$P/cap2/sha256")" "cap2's sha256"
echo "PASS"

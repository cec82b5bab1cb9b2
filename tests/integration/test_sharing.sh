#!/usr/bin/env bash
# SPEC §6.4, §3 (shared class), §6.5, §8 (quotas), §9: sharing across two
# single-user mounts of one state directory, alice's and bob's.  mkdir
# private/<name>/shares/<account> shares an available image; bob sees
# shared/<name>@alice/ (attributes readable, blobs EACCES, every change
# EPERM) and builds instances from it, by path and by id; rmdir unshares:
# bob's entry goes (his kernel had it cached: the watcher drops it), his
# instances stay, he can build no new one.  A rename and a delete to the
# recycle bin by the owner move or remove bob's entry too.  Refusals:
# self EINVAL, unknown account ENOENT, twice EEXIST, one being made (uploading) EPERM,
# shares-per-image and the receiver's shared-images EDQUOT.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

S="$T/state"
M="$T/alice"      # assert_logged names paths below $M
B="$T/bob"
mount_imgfs "$S" "$M" account=alice
mount_imgfs "$S" "$B" account=bob
imgfs_admin "$S" account add carol
RA="$M/regions/cn-north-1"
RB="$B/regions/cn-north-1"

gone() { [[ "$(errno_of stat "$1")" == ENOENT ]]; }
shared_used() { quota_line "$1" shared-images | cut -d' ' -f1; }

say "alice: an available local image, golden, captured from an instance built from public/centos-7.4"
new_vm "$RA/instances/src"
echo public/centos-7.4 >"$RA/instances/src/image"
write_random "$RA/instances/src/disks/vda" 5 1
mkdir "$RA/private/golden"
capture "$RA/private/golden" src
gid=$(cat "$RA/private/golden/id")
rmdir "$RA/instances/src"

say "refusals: self EINVAL, unknown account ENOENT, a bad name EINVAL, an image being uploaded EPERM"
SH="$RA/private/golden/shares"
assert_eq "" "$(entries "$SH")" "shares/ before sharing"
assert_errno EINVAL mkdir "$SH/alice"
assert_logged mkdir "$SH/alice" EINVAL
assert_match '.*owner.*' "$(cat "$RA/private/golden/error")" "golden/error names the refusal"
assert_errno ENOENT mkdir "$SH/nobody"
assert_logged mkdir "$SH/nobody" ENOENT
assert_errno EINVAL mkdir "$SH/a b"
mkdir "$RA/private/queued"
exec 3>"$RA/private/queued/disks/vda"
needles n1
needle_disk "$T/up.raw" n1
cat "$T/up.raw" >&3
assert_eq uploading "$(status_of "$RA/private/queued")" "queued/status while its upload is open"
assert_errno EPERM mkdir "$RA/private/queued/shares/bob"
assert_logged mkdir "$RA/private/queued/shares/bob" EPERM
echo >"$RA/private/queued/cancel"
exec 3>&-
rmdir "$RA/private/queued"
assert_eq 0 "$(shared_used "$RB")" "bob's shared-images before"

say "bob lists shared/ (cached), alice shares golden with bob: bob's listing shows it"
assert_eq "" "$(entries "$RB/shared")" "bob's shared/ before"
mkdir "$SH/bob"
assert_eq bob "$(entries "$SH")" "alice's shares/"
assert_eq "" "$(entries "$SH/bob")" "shares/bob is an empty directory"
assert_errno EEXIST mkdir "$SH/bob"
wait_for 5 test -d "$RB/shared/golden@alice" || fail "bob does not see shared/golden@alice"
assert_eq golden@alice "$(entries "$RB/shared")" "bob's shared/"
assert_eq 1 "$(shared_used "$RB")" "bob's shared-images after the share"

say "bob reads golden's attributes; the owner's entries are not there"
G="$RB/shared/golden@alice"
assert_eq "$gid" "$(cat "$G/id")" "id through shared/"
assert_eq alice "$(cat "$G/owner")" "owner"
assert_eq available "$(cat "$G/status")" "status"
assert_eq "$(cat "$RA/private/golden/size")" "$(cat "$G/size")" "size"
for f in shares copies convert cancel; do
    assert_errno ENOENT stat "$G/$f"
done
assert_match ".*$gid,golden@alice,shared,.*" "$(grep golden@alice "$RB/images.csv" | tr -d '\r')" "bob's images.csv row"

say "bob: the blob is EACCES, every change EPERM"
err_before=$(cat "$RA/private/golden/error")
assert_errno EACCES read "$G/disks/vda"
grep -qF "open /regions/cn-north-1/shared/golden@alice/disks/vda: EACCES" "$S/imgfs.log" ||
    fail "no log line for bob's EACCES"
assert_errno EPERM write "$G/description" "mine now"
assert_errno EPERM write "$G/tags" "a=b"
assert_errno EPERM rmdir "$G"
assert_errno EPERM rename "$G" "$RB/shared/other@alice"
assert_errno EPERM rename "$G" "$RB/private/golden"
assert_errno EPERM create "$G/new" x
assert_errno EPERM mkdir "$RB/shared/new@alice"
assert_errno EPERM mkdir "$G/disks/vdb"
assert_errno EPERM chmod "$G/id" 777
assert_eq "$err_before" "$(cat "$G/error")" "bob's refusals are not written into alice's error file"

say "bob builds instances from it: by path and by id"
mkdir "$RB/instances/b1" "$RB/instances/b2"
echo shared/golden@alice >"$RB/instances/b1/image" || fail "rebuild of b1 from shared/golden@alice refused"
assert_eq "$gid" "$(cat "$RB/instances/b1/image")" "b1/image"
echo "$gid" >"$RB/instances/b2/image" || fail "rebuild of b2 from $gid refused"
sparse_cmp "$RB/instances/b1/disks/vda" "$RA/private/golden/disks/vda" "b1's vda vs golden's"
assert_eq "b1 b2" "$(tr '\n' ' ' <"$G/instances" | sed 's/ $//')" "golden/instances as bob sees it"
assert_eq "" "$(cat "$RA/private/golden/instances")" "golden/instances as alice sees it"

say "alice renames golden: bob's cached shared/golden@alice goes, silver@alice comes"
stat "$G/id" >/dev/null
mv "$RA/private/golden" "$RA/private/silver"
wait_for 5 gone "$G" || fail "bob still sees shared/golden@alice after the rename"
G="$RB/shared/silver@alice"
wait_for 5 test -d "$G" || fail "bob does not see shared/silver@alice"
assert_eq "$gid" "$(cat "$G/id")" "the same image under its new name"
SH="$RA/private/silver/shares"

say "alice unshares: bob's cached entry goes, his instances stay, no new instance (ENOENT)"
stat "$G/status" >/dev/null
rmdir "$SH/bob"
assert_eq "" "$(entries "$SH")" "alice's shares/ after rmdir"
wait_for 5 gone "$G" || fail "bob still sees shared/silver@alice after the unshare"
assert_eq "" "$(entries "$RB/shared")" "bob's shared/ after the unshare"
assert_eq 0 "$(shared_used "$RB")" "bob's shared-images after the unshare"
assert_eq stopped "$(cat "$RB/instances/b1/status")" "b1 stays"
assert_eq "$gid" "$(cat "$RB/instances/b1/image")" "b1/image still names the image"
mkdir "$RB/instances/b3"
assert_errno ENOENT write "$RB/instances/b3/image" shared/silver@alice
assert_errno ENOENT write "$RB/instances/b3/image" "$gid"
assert_errno ENOENT rmdir "$SH/bob"

say "alice deletes the shared image to the recycle bin: bob's entry goes; a restore brings it back"
mkdir "$SH/bob"
wait_for 5 test -d "$G" || fail "bob does not see shared/silver@alice again"
stat "$G/id" >/dev/null
rmdir "$RB/instances/b1" "$RB/instances/b2" # an image an instance was built from cannot be deleted
rmdir "$RA/private/silver"
wait_for 5 gone "$G" || fail "bob still sees shared/silver@alice after its deletion"
assert_eq "" "$(entries "$RB/shared")" "bob's shared/ while the image is in the recycle bin"
assert_eq 1 "$(shared_used "$RB")" "bob's place stays taken while the image is in the bin (docs/reference.md §6.4)"
mv "$RA/recycle-bin/silver" "$RA/private/silver"
wait_for 5 test -d "$G" || fail "bob does not see shared/silver@alice after the restore"

say "quotas: alice's shares-per-image, carol's shared-images: EDQUOT"
imgfs_admin "$S" quota set alice cn-north-1 shares-per-image 1
assert_errno EDQUOT mkdir "$SH/carol"
assert_logged mkdir "$SH/carol" EDQUOT
assert_match '.*shares-per-image.*' "$(cat "$RA/private/silver/error")" "silver/error after EDQUOT"
imgfs_admin "$S" quota set alice cn-north-1 shares-per-image 5
imgfs_admin "$S" quota set carol cn-north-1 shared-images 0
assert_errno EDQUOT mkdir "$SH/carol"
assert_match '.*shared-images.*' "$(cat "$RA/private/silver/error")" "silver/error after the receiver's EDQUOT"
imgfs_admin "$S" quota set carol cn-north-1 shared-images 1
mkdir "$SH/carol"
assert_eq "bob carol" "$(entries "$SH")" "alice's shares/ lists both receivers"

echo "PASS"

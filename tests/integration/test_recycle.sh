#!/usr/bin/env bash
# SPEC §6.1, §2.4, §4, §8, §9: delete, restore, destroy and rename —
# rmdir moves an available image to recycle-bin/ (status deleted, expires
# after the retention period), where it does not count toward the quota;
# mv restores it (quota checked again); rmdir there destroys it and the
# snapshots only it referenced; expired images go by themselves; a queued
# image is removed outright; renames other than in place and restores are
# EPERM (never EXDEV); a referenced snapshot cannot be removed.  What the
# bin keeps editable (§16) and ISO images in it: test_recycle_edit.sh.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
B="$R/recycle-bin"
I="$R/instances"
WEEK=604800

# iso_secs TIME: unix seconds of an ISO 8601 UTC time.
iso_secs() { date -u -d "$1" +%s; }

say "vm1 with data on vda and vdb; capture it twice: img1 (vda + vdb), img2 (vda)"
new_vm "$I/vm1"
write_random "$I/vm1/disks/vda" 0 2
truncate -s 32M "$I/vm1/disks/vdb"
write_random "$I/vm1/disks/vdb" 0 2
mkdir "$P/img1" "$P/img2"
capture "$P/img1" vm1 vdb
capture "$P/img2" vm1
snap=$(devmap_ref "$P/img1" vdb)
id1=$(cat "$P/img1/id")
dig1=$(sparse_digest "$P/img1/disks/vda")
[[ ! -e "$P/img1/expires" ]] || fail "private/img1 has an expires file"
assert_eq "2 5" "$(quota_line "$R" private-images)" "private-images with two images"

say "a snapshot an available image references: rmdir snapshots/$snap EBUSY"
assert_errno EBUSY rmdir "$R/snapshots/$snap"
assert_logged rmdir "$R/snapshots/$snap" EBUSY

say "rmdir private/img1 (available): to recycle-bin/, status deleted, expires = now + 7 days"
pmt=$(mtime_ns "$P") bmt=$(mtime_ns "$B")
t0=$(date +%s)
rmdir "$P/img1" || fail "rmdir private/img1 failed"
t1=$(date +%s)
assert_eq "img2" "$(entries "$P")" "private/ after rmdir img1"
assert_eq "img1" "$(entries "$B")" "recycle-bin/ after rmdir img1"
assert_errno ENOENT stat "$P/img1"
assert_ne "$pmt" "$(mtime_ns "$P")" "mtime of private/ after the delete"
assert_ne "$bmt" "$(mtime_ns "$B")" "mtime of recycle-bin/ after the delete"
assert_eq deleted "$(status_of "$B/img1")" "status in the recycle bin"
assert_eq "$id1" "$(cat "$B/img1/id")" "id in the recycle bin"
exp=$(cat "$B/img1/expires")
assert_match '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' "$exp" "expires format"
e=$(iso_secs "$exp")
((e >= t0 + WEEK && e <= t1 + WEEK)) || fail "expires $exp is not deletion time + 7 days ($((t0 + WEEK))..$((t1 + WEEK)))"
assert_eq "1 5" "$(quota_line "$R" private-images)" "private-images with img1 in the bin"

say "the snapshot of an image in the bin is still referenced: EBUSY"
assert_errno EBUSY rmdir "$R/snapshots/$snap"
assert_eq "$id1" "$(cat "$R/snapshots/$snap/images")" "snapshot images while img1 is in the bin"

say "description and tags in the recycle bin are writable (§16); status, os-type and expires are not"
for f in description tags; do
    assert_errno OK write "$B/img1/$f" "k=v"
    assert_eq "k=v" "$(cat "$B/img1/$f")" "recycle-bin/img1/$f"
done
for f in status os-type expires; do
    assert_errno EPERM write "$B/img1/$f" "x"
    assert_logged "open|write" "$B/img1/$f" EPERM
done

say "description and tags of private images are writable at any status (available here)"
echo "golden" >"$P/img2/description"
assert_eq golden "$(cat "$P/img2/description")" "img2/description"
printf 'k=v\n' >"$P/img2/tags"
assert_eq "k=v" "$(cat "$P/img2/tags")" "img2/tags"

say "mv recycle-bin/img1 private/img1: restored, available, same bytes, no expires"
mv "$B/img1" "$P/img1" || fail "mv recycle-bin/img1 private/img1 failed"
assert_eq "" "$(entries "$B")" "recycle-bin/ after the restore"
assert_eq available "$(status_of "$P/img1")" "status after the restore"
assert_eq "$id1" "$(cat "$P/img1/id")" "id after the restore"
[[ ! -e "$P/img1/expires" ]] || fail "private/img1/expires exists after the restore"
assert_eq "$dig1" "$(sparse_digest "$P/img1/disks/vda")" "img1/disks/vda after the restore"
assert_eq "2 5" "$(quota_line "$R" private-images)" "private-images after the restore"

say "rmdir of a queued image removes it outright"
mkdir "$P/q"
rmdir "$P/q"
assert_errno ENOENT stat "$P/q"
assert_eq "" "$(entries "$B")" "recycle-bin/ after removing a queued image"

say "rename: mv -T private/img2 private/renamed keeps the id; onto an existing name EEXIST"
id2=$(cat "$P/img2/id")
mv -T "$P/img2" "$P/renamed" || fail "mv -T private/img2 private/renamed failed"
assert_eq "$id2" "$(cat "$P/renamed/id")" "id after the rename"
assert_errno ENOENT stat "$P/img2"
assert_errno EEXIST rename "$P/renamed" "$P/img1"
assert_logged rename "$P/renamed" EEXIST
[[ -n "$(cat "$P/renamed/error")" ]] || fail "renamed/error is empty after a refused rename"
assert_eq "$id1" "$(cat "$P/img1/id")" "img1 after the refused rename onto it"

say "any other rename is EPERM (never EXDEV): private -> public, other region, recycle-bin, iso"
assert_errno EPERM rename "$P/renamed" "$R/public/renamed"
assert_errno EPERM rename "$P/renamed" "$M/regions/cn-east-2/private/renamed"
assert_errno EPERM rename "$P/renamed" "$B/renamed"
assert_errno EPERM rename "$P/renamed" "$R/iso/renamed"
assert_errno EPERM rename "$R/public/centos-7.4" "$P/centos"
assert_errno EPERM rename "$I/vm1" "$P/vm1"
assert_errno EPERM rename "$P/renamed" "$I/renamed"
assert_fails mv "$P/renamed" "$R/iso/"
[[ ! -e "$R/iso/renamed" ]] || fail "mv to iso/ created iso/renamed"
rmdir "$P/renamed"
assert_errno EPERM rename "$B/renamed" "$R/iso/renamed"
assert_errno EPERM rename "$B/renamed" "$M/regions/cn-east-2/private/renamed"
assert_logged rename "$B/renamed" EPERM
assert_errno OK rename "$B/renamed" "$B/renamed2" # in place (§16)
assert_errno OK rename "$B/renamed2" "$B/renamed"
assert_eq "renamed" "$(entries "$B")" "recycle-bin/ after the refused renames"

say "restore beyond quota: 5 private images and one in the bin: mv is EDQUOT, the bin keeps it"
mkdir "$P/q1" "$P/q2" "$P/q3" "$P/q4"
assert_eq "5 5" "$(quota_line "$R" private-images)" "private-images with five"
assert_errno EDQUOT rename "$B/renamed" "$P/renamed"
assert_logged rename "$B/renamed" EDQUOT
assert_eq "renamed" "$(entries "$B")" "recycle-bin/ after EDQUOT"
assert_eq deleted "$(status_of "$B/renamed")" "status after EDQUOT"
say "restore onto a taken name: EEXIST"
rmdir "$P/q4"
assert_errno OK rename "$P/q3" "$P/renamed"
assert_errno EEXIST rename "$B/renamed" "$P/renamed"
rmdir "$P/renamed"
assert_errno OK rename "$B/renamed" "$P/renamed"
assert_eq available "$(status_of "$P/renamed")" "renamed/status after the restore"
rmdir "$P/q1" "$P/q2"

say "rmdir recycle-bin/img1 destroys it and the snapshot only it referenced"
rmdir "$P/img1"
smt=$(mtime_ns "$R/snapshots")
assert_eq "1 15" "$(quota_line "$R" snapshots)" "snapshots quota before the destroy"
rmdir "$B/img1" || fail "rmdir recycle-bin/img1 failed"
destroyed "$B/img1"
assert_errno ENOENT stat "$B/img1"
assert_eq "" "$(entries "$B")" "recycle-bin/ after the destroy"
assert_errno ENOENT stat "$R/snapshots/$snap"
assert_eq "" "$(entries "$R/snapshots")" "snapshots/ after the destroy"
assert_ne "$smt" "$(mtime_ns "$R/snapshots")" "mtime of snapshots/ after the destroy"
assert_eq "0 15" "$(quota_line "$R" snapshots)" "snapshots quota after the destroy"
grep -q "^$id1," "$R/images.csv" && fail "images.csv still lists the destroyed $id1"
assert_errno ENOENT rmdir "$B/img1"

say "img3: another capture with a vdb snapshot (EBUSY to rmdir)"
mkdir "$P/img3"
capture "$P/img3" vm1 vdb
snap3=$(devmap_ref "$P/img3" vdb)
assert_errno EBUSY rmdir "$R/snapshots/$snap3"

say "retention 2 s: an image in the bin is destroyed by itself within ~10 s, with its snapshot"
imgfs_admin "$S" retention 2 || fail "imgfs admin retention 2 failed"
t0=$(date +%s)
rmdir "$P/img3"
exp=$(cat "$B/img3/expires")
e=$(iso_secs "$exp")
((e >= t0 + 2 && e <= $(date +%s) + 2)) || fail "expires $exp is not deletion time + 2 s after retention 2"
bin_empty() { [[ -z "$(entries "$B")" ]]; }
wait_for 15 bin_empty ||
    fail "recycle-bin/ still holds $(entries "$B") 15 s after the retention period of 2 s"
# The purge is a background change: the kernel's cached name of the
# snapshot goes when the watcher reads the change log (SQLite: polled every
# 200 ms, fs/fuse/watch.c), which may be just after the bin reads empty.
snap_gone() { [[ "$(python3 "$ERRNO_PY" stat "$R/snapshots/$snap3")" == ENOENT ]]; }
wait_for 2 snap_gone || true
assert_errno ENOENT stat "$R/snapshots/$snap3"
assert_eq "0 15" "$(quota_line "$R" snapshots)" "snapshots quota after the expiry"
assert_eq "1 5" "$(quota_line "$R" private-images)" "private-images after the expiry"
assert_eq available "$(status_of "$P/renamed")" "the restored image stays"

say "after a remount: the restored image and its bytes, nothing in the bin; fsck clean"
remount_imgfs "$S" "$M"
assert_eq "renamed" "$(entries "$P")" "private/ after remount"
assert_eq "" "$(entries "$B")" "recycle-bin/ after remount"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after the recycle-bin tests"; }

#!/usr/bin/env bash
# SPEC §8, §6.4, §9: one mount with -o allow_other,multiuser.  Each caller's
# uid maps to the account registered for it (`imgfs admin account add NAME
# --uid UID`); commands run as alice (uid 2001) and bob (uid 2002) with
# setpriv.  Files show the caller as owner; neither sees the other's
# private, iso, recycle-bin, snapshot or instance entries, by path or by id
# (ENOENT); names are per caller although the kernel's caches are per
# inode (the mount answers with zero timeouts and no cached listings); an
# unmapped uid (2003) sees empty class directories (the platform's images
# excepted) and gets EACCES on mkdir; sharing works as between two mounts.
# A state first used single-user, mounted multiuser: its account is mapped
# to a uid by `imgfs admin account set NAME uid UID` (and unmapped by `-`).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

other_uids

say "-o multiuser without allow_other is refused with a reason"
mkdir "$T/nomount"
assert_fails "$IMGFS" -o "state=$T/state,multiuser" "$T/nomount"
grep -q allow_other "$T/assert_fails.out" || fail "the refusal does not name allow_other"
assert_fails "$IMGFS" -o "state=$T/state,multiuser,allow_other,account=alice" "$T/nomount"
grep -q single-user "$T/assert_fails.out" || fail "multiuser with account= is not refused with a reason"

setup_mount allow_other,multiuser
imgfs_admin "$S" account add alice --uid 2001
imgfs_admin "$S" account add bob --uid 2002

alice() { as 2001 "$@"; }
bob() { as 2002 "$@"; }
P="$R/private"
I="$R/instances"

say "alice: an instance, an image captured from it with a data-disk snapshot, an ISO entry"
capture_as 2001 "$R" a-vm golden
gid=$(alice cat "$P/golden/id")
snap=$(alice awk -F '\t' '$1 == "vdb" { print $3 }' "$P/golden/device-mapping")
vmid=$(alice cat "$I/a-vm/id")
alice mkdir "$R/iso/a-iso"
[[ $snap == snap-* ]] || fail "no snapshot for vdb in golden's device-mapping: $snap"

say "files show the caller as owner"
assert_eq 2001 "$(alice stat -c %u "$P/golden/id")" "owner of golden/id for alice"
assert_eq 2001 "$(alice stat -c %g "$P/golden")" "group of golden/ for alice"
assert_eq 2002 "$(bob stat -c %u "$R/public/centos-7.4/id")" "owner of a public file for bob"
assert_eq 2001 "$(alice stat -c %u "$R/public/centos-7.4/id")" "owner of the same file for alice"

say "caching trap: alice lists and stats, bob right after sees none of it"
assert_eq golden "$(alice ls "$P")" "alice's private/"
assert_eq "" "$(bob ls "$P")" "bob's private/ right after alice's listing"
alice stat "$P/golden" >/dev/null
errno_as 2002 ENOENT stat "$P/golden"
alice cat "$P/golden/status" >/dev/null
errno_as 2002 ENOENT read "$P/golden/status"
alice ls -l "$I" >/dev/null
assert_eq "" "$(bob ls "$I")" "bob's instances/ right after alice's ls -l"

say "bob: every entry of alice's is ENOENT, by path and by id"
errno_as 2002 ENOENT stat "$P/golden/disks/vda"
errno_as 2002 ENOENT stat "$R/iso/a-iso"
errno_as 2002 ENOENT stat "$I/a-vm"
errno_as 2002 ENOENT stat "$I/a-vm/disks/vda"
errno_as 2002 ENOENT stat "$R/snapshots/$snap"
errno_as 2002 ENOENT read "$R/snapshots/$snap/data"
assert_eq "" "$(bob ls "$R/snapshots")" "bob's snapshots/"
bob mkdir "$I/b-vm"
errno_as 2002 ENOENT write "$I/b-vm/image" "$gid"
errno_as 2002 ENOENT write "$I/b-vm/image" private/golden
bob mkdir "$P/b-img"
errno_as 2002 ENOENT write "$P/b-img/source" "instance a-vm"
errno_as 2002 ENOENT write "$P/b-img/source" "instance $vmid"
assert_eq "" "$(bob cat "$R/images.csv" | grep -F "$gid" || true)" "bob's images.csv does not list golden"

say "bob's own private/golden next to alice's (the kernel held alice's name)"
alice stat "$P/golden" >/dev/null
bob mkdir "$P/golden"
assert_ne "$gid" "$(bob cat "$P/golden/id")" "bob's golden is his own"
assert_eq "$gid" "$(alice cat "$P/golden/id")" "alice's golden is unchanged"
assert_eq queued "$(bob cat "$P/golden/status")" "bob's golden"
bob rmdir "$P/golden"
assert_eq available "$(alice cat "$P/golden/status")" "alice's golden after bob's rmdir"

say "an unmapped uid (2003) sees empty class directories, the platform's images, and changes nothing (EACCES)"
for d in private shared iso recycle-bin snapshots instances; do
    assert_eq "" "$(as 2003 ls "$R/$d")" "$d/ for uid 2003"
done
assert_eq 14 "$(as 2003 ls "$R/public" | wc -l)" "public/ for uid 2003"
assert_eq "" "$(as 2003 cat "$R/quota")" "quota for uid 2003"
errno_as 2003 ENOENT stat "$P/golden"
errno_as 2003 EACCES mkdir "$P/x"
errno_as 2003 EACCES mkdir "$I/x"
errno_as 2003 EACCES mkdir "$R/public/x"
assert_logged mkdir "$P/x" EACCES

say "sharing under multiuser: bob reads attributes, not the blob, changes nothing, builds from it"
errno_as 2001 EINVAL mkdir "$P/golden/shares/alice"
errno_as 2001 ENOENT mkdir "$P/golden/shares/carol"
alice mkdir "$P/golden/shares/bob"
G="$R/shared/golden@alice"
assert_eq golden@alice "$(bob ls "$R/shared")" "bob's shared/"
assert_eq "" "$(alice ls "$R/shared")" "alice's shared/"
assert_eq bob "$(alice ls "$P/golden/shares")" "alice's golden/shares/"
errno_as 2002 ENOENT stat "$P/golden/shares"
assert_eq "$gid" "$(bob cat "$G/id")" "golden's id through bob's shared/"
assert_eq 2002 "$(bob stat -c %u "$G/id")" "owner shown to bob"
errno_as 2002 EACCES read "$G/disks/vda"
errno_as 2002 EPERM write "$G/description" mine
errno_as 2002 EPERM rmdir "$G"
errno_as 2002 ENOENT stat "$G/shares"
errno_as 2002 ENOENT stat "$R/snapshots/$snap"
bob sh -c "echo shared/golden@alice > '$I/b-vm/image'"
assert_eq "$gid" "$(bob cat "$I/b-vm/image")" "b-vm built from shared/golden@alice"
imgfs_admin "$S" quota set bob cn-north-1 shared-images 0
bob mkdir "$I/b-vm2"

say "alice unshares: bob's entry is gone at once, his instance stays, no new build"
bob stat "$G/id" >/dev/null
alice rmdir "$P/golden/shares/bob"
errno_as 2002 ENOENT stat "$G"
errno_as 2002 ENOENT write "$I/b-vm2/image" "$gid"
assert_eq "$gid" "$(bob cat "$I/b-vm/image")" "b-vm stays"
errno_as 2001 EDQUOT mkdir "$P/golden/shares/bob"

say "recycle bin: alice's deleted image is hers alone"
bob rmdir "$I/b-vm"
alice rmdir "$P/golden"
assert_eq golden "$(alice ls "$R/recycle-bin")" "alice's recycle-bin/"
assert_eq "" "$(bob ls "$R/recycle-bin")" "bob's recycle-bin/"
errno_as 2002 ENOENT stat "$R/recycle-bin/golden"
errno_as 2002 ENOENT rmdir "$R/recycle-bin/golden"

say "a single-user state mounted multiuser: its account gets its uid (account set NAME uid), nothing is stranded"
S1="$T/single" M1="$T/single-mnt"
mount_imgfs "$S1" "$M1" allow_other
R1="$M1/regions/cn-north-1"
mkdir "$R1/private/mine"
me=$(id -un)
umount_imgfs "$M1"
mount_imgfs "$S1" "$M1" allow_other,multiuser
assert_eq "" "$(ls "$R1/private")" "root's private/ in multiuser before its account has a uid"
assert_errno EACCES mkdir "$R1/private/more"
assert_fails "$IMGFS" admin --state "$S1" account set "$me" uid 2001x
grep -q "takes a uid" "$T/assert_fails.out" || fail "a malformed uid is not refused with a reason"
imgfs_admin "$S1" account set "$me" uid "$(id -u)"
assert_eq mine "$(ls "$R1/private")" "root's private/ once its account has uid $(id -u)"
imgfs_admin "$S1" account add carol --uid 2003
assert_fails "$IMGFS" admin --state "$S1" account set carol uid "$(id -u)"
grep -q "uid $(id -u) is mapped to account $me" "$T/assert_fails.out" || fail "a taken uid is not refused with a reason"
imgfs_admin "$S1" account set "$me" uid -
assert_eq "" "$(ls "$R1/private")" "root's private/ once its uid is taken away"

echo "PASS"

#!/usr/bin/env bash
# SPEC §16 "Tenants under an administrator", §8: one multi-user mount with
# an administrator (boss, uid 3101), a main account (acme, 3102) with a
# sub-account (dev, 3103), an unrelated main account (eve, 3104) and a uid
# without an account (3105).
#   - boss sees tenants/<acme|dev|eve>/, acme sees tenants/dev/ only,
#     holding private/, iso/, recycle-bin/ and snapshots/ as dev sees them;
#     nobody else has tenants/: by path, in listings, by id, in an open fd
#     after a role changes, in images.csv/.json; /stats stays an
#     administrator's;
#   - images and snapshots there are inodes of their own (never the
#     owner's), the same after a remount, following a delete and restore;
#   - read, rename, describe, delete, restore, destroy (and a snapshot's
#     description and removal) work there, each logged naming the actor and
#     the tenant; everything else is EPERM with the reason, logged the same;
#   - dev's images count toward acme's quotas (EDQUOT when the family's
#     total reaches acme's limit; quota and quota show say so);
#   - a single-user mount acting as an administrator has tenants/ too, and
#     loses it when the role goes (the watcher drops the cached listing).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

other_uids
IO="$T/io" # where the other uids' processes leave their answers
mkdir -m 1777 "$IO"

setup_mount allow_other,multiuser
imgfs_admin "$S" account add boss --uid 3101 --admin
imgfs_admin "$S" account add acme --uid 3102
imgfs_admin "$S" account add dev --uid 3103 --parent acme
imgfs_admin "$S" account add eve --uid 3104

boss() { as 3101 "$@"; }
acme() { as 3102 "$@"; }
dev() { as 3103 "$@"; }
eve() { as 3104 "$@"; }
# logged_by ACTOR TEXT: the log has a line holding LINE and naming the
# actor and the tenant dev (fixed strings).
logged_by() {
    local actor=$1 text=$2
    grep -F -- "imgfs: $text" "$S/imgfs.log" | grep -qF "(actor $actor, tenant dev)" && return 0
    tail -n 8 "$S/imgfs.log" >&2
    fail "no log line \"$text ... (actor $actor, tenant dev)\""
}
# hold UID DIR NAME: a process of UID opens directory DIR and holds it until
# $IO/NAME.go exists, then reads status through it into $IO/NAME.out; its pid
# in HELD, started once $IO/NAME.ready exists.
hold() {
    local uid=$1 dir=$2 name=$3
    as "$uid" "$SYS_PY" - "$dir" "$IO/$name" <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
open(sys.argv[2] + ".ready", "w").close()
deadline = time.monotonic() + 120
while not os.path.exists(sys.argv[2] + ".go") and time.monotonic() < deadline:
    time.sleep(0.05)
with open(sys.argv[2] + ".out", "w") as out:
    out.write(open("status", opener=lambda p, f: os.open(p, f, dir_fd=fd)).read())
PY
    HELD=$!
    wait_for 30 test -e "$IO/$name.ready" || fail "uid $uid did not open $dir"
}
# release NAME: lets the holder read and waits for it (what it read: $IO/NAME.out).
release() {
    touch "$IO/$1.go"
    wait "$HELD" || fail "the holder $1 failed"
}
P="$R/private"
TD="$R/tenants/dev"
REL=${R#"$M"}

assert_eq "boss - admin -
acme - main -
dev - sub acme
eve - main -" "$(imgfs_admin "$S" account list | grep -E '^(boss|acme|dev|eve) ' | sed 's/ [0-9][0-9]* / - /')" \
    "account list: roles and parents"

say "dev: an instance and an image captured from it (a data-disk snapshot), an ISO entry; acme: one image"
capture_as 3103 "$R" vm web
gid=$(dev cat "$P/web/id")
snap=$(dev awk -F '\t' '$1 == "vdb" { print $3 }' "$P/web/device-mapping")
[[ $snap == snap-* ]] || fail "no snapshot of vdb in web's device-mapping: $snap"
dev mkdir "$R/iso/disc"
dev mkdir "$R/instances/vm2"
dev sh -c "echo private/web > '$R/instances/vm2/image'"
acme mkdir "$P/acme-img"

say "who has tenants/: boss (every tenant), acme (its sub-account); nobody else"
# Every account but administrators (the template's mounting account too).
tenants_all=$(imgfs_admin "$S" account list | awk '$3 != "admin" { print $1 }' | LC_ALL=C sort | paste -sd ' ')
[[ " $tenants_all " == *" acme dev eve "* && " $tenants_all " != *" boss "* ]] || fail "tenants: $tenants_all"
assert_eq "$tenants_all" "$(boss ls "$R/tenants" | LC_ALL=C sort | paste -sd ' ')" "boss's tenants/"
assert_eq "dev" "$(acme ls "$R/tenants" | paste -sd ' ')" "acme's tenants/"
boss ls "$R" | grep -qx tenants || fail "tenants/ is not in boss's listing of the region"
for uid in 3103 3104 3105 0; do
    as "$uid" ls "$R" | grep -qx tenants && fail "uid $uid lists tenants/"
    errno_as "$uid" ENOENT stat "$R/tenants"
    errno_as "$uid" ENOENT stat "$TD"
    errno_as "$uid" ENOENT stat "$TD/private/web/id"
    errno_as "$uid" ENOENT read "$TD/private/web/description"
done
errno_as 3101 ENOENT stat "$R/tenants/boss" # an administrator is nobody's tenant
errno_as 3102 ENOENT stat "$R/tenants/eve"
errno_as 3102 ENOENT stat "$R/tenants/acme"
assert_eq "iso private recycle-bin snapshots" "$(boss ls "$TD" | paste -sd ' ')" "tenants/dev/"

say "tenants/dev/ holds what dev sees, shown as the caller's"
assert_eq "web" "$(boss ls "$TD/private")" "boss's tenants/dev/private/"
assert_eq "disc" "$(acme ls "$TD/iso")" "acme's tenants/dev/iso/"
assert_eq "$snap" "$(boss ls "$TD/snapshots")" "boss's tenants/dev/snapshots/"
for f in id status owner device-mapping instances source task error; do
    assert_eq "$(dev cat "$P/web/$f")" "$(boss cat "$TD/private/web/$f")" "web/$f through tenants/ (boss)"
    assert_eq "$(dev cat "$P/web/$f")" "$(acme cat "$TD/private/web/$f")" "web/$f through tenants/ (acme)"
done
assert_eq "$(dev ls "$P/web" | paste -sd ' ')" "$(boss ls "$TD/private/web" | paste -sd ' ')" "web's files"
assert_eq vm2 "$(boss cat "$TD/private/web/instances")" "dev's instance built from web, seen by boss"
assert_eq 3101 "$(boss stat -c %u "$TD/private/web/id")" "owner shown to boss"
assert_eq "444 555" "$(boss stat -c %a "$TD/private/web/status" "$TD/private" | paste -sd ' ')" \
    "modes through tenants/: nothing made there"
assert_eq 644 "$(boss stat -c %a "$TD/private/web/description")" "description's mode through tenants/"
assert_eq "$(dev head -c 4M "$P/web/disks/vda" | sha256sum)" "$(boss head -c 4M "$TD/private/web/disks/vda" | sha256sum)" \
    "web's disk read through tenants/"
assert_eq "$(dev cat "$R/snapshots/$snap/size")" "$(boss cat "$TD/snapshots/$snap/size")" "the snapshot's size"

say "nodes of their own: tenants/'s inodes are not the owner's, and stay after a remount"
ino_owner=$(dev stat -c %i "$P/web" "$P/web/id" "$P/web/disks" | paste -sd ' ')
ino_boss=$(boss stat -c %i "$TD/private/web" "$TD/private/web/id" "$TD/private/web/disks" | paste -sd ' ')
ino_acme=$(acme stat -c %i "$TD/private/web" "$TD/private/web/id" "$TD/private/web/disks" | paste -sd ' ')
ino_snap=$(boss stat -c %i "$TD/snapshots/$snap" "$TD/snapshots/$snap/data" | paste -sd ' ')
for i in 1 2 3; do
    [[ $(cut -d' ' -f"$i" <<<"$ino_owner") != $(cut -d' ' -f"$i" <<<"$ino_boss") ]] ||
        fail "entry $i of web: the same inode for dev and through tenants/ ($ino_owner / $ino_boss)"
done
assert_eq "$ino_boss" "$ino_acme" "inodes through tenants/ for boss and acme"
[[ $ino_snap != "$(dev stat -c %i "$R/snapshots/$snap" "$R/snapshots/$snap/data" | paste -sd ' ')" ]] ||
    fail "the snapshot's inodes through tenants/ are dev's"
# The kernel holds the owner's directory and the view's at once: renames
# by dev while boss sits in tenants/'s view work (a dentry each).
hold 3101 "$TD/private/web" sit
dev mv "$P/web" "$P/web1"
dev mv "$P/web1" "$P/web"
release sit
assert_eq available "$(cat "$IO/sit.out")" "web's status through the tenants/ directory boss held"
remount_imgfs "$S" "$M" allow_other,multiuser
assert_eq "$ino_boss" "$(boss stat -c %i "$TD/private/web" "$TD/private/web/id" "$TD/private/web/disks" | paste -sd ' ')" \
    "inodes through tenants/ after a remount"
assert_eq "$ino_snap" "$(boss stat -c %i "$TD/snapshots/$snap" "$TD/snapshots/$snap/data" | paste -sd ' ')" \
    "the snapshot's inodes through tenants/ after a remount"

say "eve (and a uid without an account) reach nothing of dev's: by id, in images.csv/.json, /stats"
eve mkdir "$R/instances/e-vm"
errno_as 3104 ENOENT write "$R/instances/e-vm/image" "$gid"
errno_as 3104 ENOENT write "$R/instances/e-vm/image" "tenants/dev/private/web"
eve mkdir "$P/e-img"
errno_as 3104 ENOENT write "$P/e-img/source" "instance $(dev cat "$R/instances/vm/id")"
for uid in 3104 3105; do
    as "$uid" cat "$R/images.csv" "$R/images.json" | grep -qF "$gid" && fail "uid $uid's images.csv/.json name $gid"
done
# An administrator's images.csv is its own view too (tenants/ is where it sees the others').
boss cat "$R/images.csv" | grep -qF "$gid" && fail "boss's images.csv names dev's image"
errno_as 3104 EACCES read "$M/stats"
errno_as 3102 EACCES read "$M/stats"
errno_as 3101 OK read "$M/stats"
# Even boss cannot build an instance from a tenant's image by its id: ids
# are resolved in the caller's own view.
boss mkdir "$R/instances/b-vm"
errno_as 3101 ENOENT write "$R/instances/b-vm/image" "$gid"

say "describe through tenants/: description, tags, project; each logged with both names"
boss sh -c "echo 'checked by ops' > '$TD/private/web/description'"
assert_eq "checked by ops" "$(dev cat "$P/web/description")" "web's description written by boss"
logged_by boss "write $REL/tenants/dev/private/web/description: done"
boss sh -c "printf 'team=web\n' > '$TD/private/web/tags'"
assert_eq "team=web" "$(dev cat "$P/web/tags")" "web's tags written by boss"
logged_by boss "write $REL/tenants/dev/private/web/tags: done"
acme sh -c "echo shop > '$TD/private/web/project'"
assert_eq shop "$(dev cat "$P/web/project")" "web's project written by acme"
logged_by acme "write $REL/tenants/dev/private/web/project: done"
boss sh -c "echo 'the web disk' > '$TD/snapshots/$snap/description'"
assert_eq "the web disk" "$(dev cat "$R/snapshots/$snap/description")" "the snapshot's description"
logged_by boss "write $REL/tenants/dev/snapshots/$snap/description: done"

say "everything else is EPERM with the reason, logged with both names"
for f in os-type source convert cancel download; do
    errno_as 3101 EPERM write "$TD/private/web/$f" x
    logged_by boss "open $REL/tenants/dev/private/web/$f: EPERM through tenants/"
done
errno_as 3101 EPERM mkdir "$TD/private/new"
logged_by boss "mkdir $REL/tenants/dev/private/new: EPERM through tenants/"
errno_as 3102 EPERM mkdir "$TD/iso/new"
logged_by acme "mkdir $REL/tenants/dev/iso/new: EPERM through tenants/"
errno_as 3101 EPERM mkdir "$TD/private/web/copies/cn-east-2"
errno_as 3101 EPERM mkdir "$TD/private/web/shares/eve"
logged_by boss "mkdir $REL/tenants/dev/private/web/shares/eve: EPERM"
errno_as 3101 EPERM create "$TD/iso/disc/disks/cdrom" x
logged_by boss "create $REL/tenants/dev/iso/disc/disks/cdrom: EPERM"
errno_as 3101 EPERM rmdir "$TD"
errno_as 3101 EPERM rmdir "$TD/private"
errno_as 3101 EPERM chmod "$TD/private/web/description" 600
errno_as 3101 EPERM setxattr "$TD/private/web/disks/vda" user.x y
errno_as 3101 EPERM rename "$TD/private/web" "$TD/iso/web"
errno_as 3101 EPERM rename "$TD/private/web" "$R/tenants/eve/private/web"
errno_as 3101 EPERM rename "$TD/private/web" "$P/web"
logged_by boss "rename $REL/tenants/dev/private/web: EPERM an image stays in its account's folders"
errno_as 3101 EPERM write "$TD/private/web/disks/vda" x
errno_as 3101 EBUSY rmdir "$TD/snapshots/$snap" # web references it
logged_by boss "rmdir $REL/tenants/dev/snapshots/$snap: EBUSY"
errno_as 3101 EBUSY rmdir "$TD/private/web" # dev's instance vm2 was made from it
logged_by boss "rmdir $REL/tenants/dev/private/web: EBUSY"
assert_eq "web" "$(dev ls "$P")" "dev's private/ after the refusals"
assert_eq "$snap" "$(dev ls "$R/snapshots")" "dev's snapshots/ after the refusals"

say "rename, delete, restore through tenants/, each logged"
dev rmdir "$R/instances/vm2"
boss mv "$TD/private/web" "$TD/private/site"
assert_eq site "$(dev ls "$P")" "dev's private/ after boss's rename"
logged_by boss "rename $REL/tenants/dev/private/web to $REL/tenants/dev/private/site: done"
acme mv "$TD/private/site" "$TD/private/web"
logged_by acme "rename $REL/tenants/dev/private/site to $REL/tenants/dev/private/web: done"
ino_dir=$(boss stat -c %i "$TD/private/web")
# boss sits in web's directory through tenants/ while it is deleted: the held
# directory follows the image to the bin (fs.h, "A delete").
hold 3101 "$TD/private/web" del
boss rmdir "$TD/private/web"
assert_eq web "$(dev ls "$R/recycle-bin")" "dev's recycle-bin/ after boss's delete"
logged_by boss "rmdir $REL/tenants/dev/private/web: done"
release del
assert_eq deleted "$(cat "$IO/del.out")" "status through the directory boss held during the delete"
assert_eq "$ino_dir" "$(boss stat -c %i "$TD/recycle-bin/web")" "st_ino of web through tenants/ in the bin"
assert_eq deleted "$(boss cat "$TD/recycle-bin/web/status")" "web's status through tenants/recycle-bin/"
boss mv "$TD/recycle-bin/web" "$TD/private/web"
assert_eq available "$(dev cat "$P/web/status")" "web restored by boss"
logged_by boss "rename $REL/tenants/dev/recycle-bin/web to $REL/tenants/dev/private/web: done"
assert_eq "$ino_dir" "$(boss stat -c %i "$TD/private/web")" "st_ino of web through tenants/ after the restore"

say "quotas: dev's images count toward acme's (EDQUOT when the family's total is at acme's limit)"
imgfs_admin "$S" quota set acme cn-north-1 private-images 2
assert_eq "2 2" "$(dev awk '$1 == "private-images" { print $2, $3 }' "$R/quota")" "dev's quota file"
assert_eq "2 2" "$(acme awk '$1 == "private-images" { print $2, $3 }' "$R/quota")" "acme's quota file"
assert_eq "1 5" "$(eve awk '$1 == "private-images" { print $2, $3 }' "$R/quota")" "eve's quota file"
assert_eq "cn-north-1 private-images 2 2 own=1 main=acme" \
    "$(imgfs_admin "$S" quota show dev cn-north-1 | head -n1)" "quota show dev"
assert_eq "cn-north-1 private-images 2 2 own=1 main=acme" \
    "$(imgfs_admin "$S" quota show acme cn-north-1 | head -n1)" "quota show acme"
assert_eq "cn-north-1 private-images 1 5" "$(imgfs_admin "$S" quota show eve cn-north-1 | head -n1)" "quota show eve"
errno_as 3103 EDQUOT mkdir "$P/more"
assert_logged mkdir "$P/more" EDQUOT
grep -qF "mkdir $REL/private/more: EDQUOT quota private-images is 2 of 2 (main account acme's" "$S/imgfs.log" ||
    fail "the refusal does not name acme"
errno_as 3102 EDQUOT mkdir "$P/more"
eve mkdir "$P/more" # not in the family
imgfs_admin "$S" quota set dev cn-north-1 private-images 9 2>"$T/qs.err" && fail "quota set on a sub-account went through"
grep -q "its quotas are acme's" "$T/qs.err" || fail "quota set dev: $(cat "$T/qs.err")"
# A restore through tenants/ is the tenant's: refused while the family is full.
boss rmdir "$TD/private/web"
acme mkdir "$P/acme-2"
errno_as 3101 EDQUOT rename "$TD/recycle-bin/web" "$TD/private/web"
logged_by boss "rename $REL/tenants/dev/recycle-bin/web: EDQUOT quota private-images is 2 of 2"
acme rmdir "$P/acme-2"

say "a role changed while an fd is open: what acme holds of tenants/dev/ stops working"
# One rule for every verb on a held descriptor (§8): the snapshot's data,
# held open through tenants/, refuses pread, SEEK_DATA, copy_file_range
# into acme's own instance disk, fstat and getxattr alike, and nothing is
# copied.
acme mkdir "$R/instances/avm"
acme sh -c "echo 1G > '$R/instances/avm/system-disk-size'"
acme "$SYS_PY" - "$TD/iso/disc/description" "$TD/iso" "$TD/snapshots/$snap/data" "$R/instances/avm/disks/vdb" \
    "$IO/role.flag" "$IO/role.out" <<'PY' &
import errno, os, sys, time
_, desc, d, data, disk, flag, out = sys.argv
wfd = os.open(desc, os.O_WRONLY | os.O_TRUNC)
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
sfd = os.open(data, os.O_RDONLY)
tfd = os.open(disk, os.O_RDWR | os.O_CREAT, 0o644)  # a blank data disk of acme's own
res = ["before %d %d" % (len(os.pread(sfd, 4096, 0)), os.copy_file_range(sfd, tfd, 4096, 0, 0))]
open(flag + ".ready", "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(flag) and time.monotonic() < deadline:
    time.sleep(0.05)
for what, fn in (("write", lambda: os.write(wfd, b"after\n")), ("list", lambda: os.listdir(dfd)),
                 ("pread", lambda: os.pread(sfd, 4096, 0)), ("seek", lambda: os.lseek(sfd, 0, os.SEEK_DATA)),
                 ("copy", lambda: os.copy_file_range(sfd, tfd, 1 << 20, 0, 4096)), ("fstat", lambda: os.fstat(sfd)),
                 ("xattr", lambda: os.getxattr(sfd, "user.imgfs.xxh128"))):
    try:
        fn()
        res.append(what + " OK")
    except OSError as e:
        res.append(what + " " + errno.errorcode[e.errno])
res.append("size %d" % os.fstat(tfd).st_size)
open(out, "w").write(" ".join(res) + "\n")
PY
held=$!
wait_for 30 test -e "$IO/role.flag.ready" || fail "acme's holder did not open its files"
imgfs_admin "$S" account set dev parent -
touch "$IO/role.flag"
wait "$held" || fail "acme's holder failed"
assert_eq "before 4096 4096 write ENOENT list ENOENT pread ENOENT seek ENOENT copy ENOENT fstat ENOENT xattr ENOENT size 4096" \
    "$(cat "$IO/role.out")" "acme's open fds once dev is no sub-account of its"
assert_eq "" "$(dev cat "$R/iso/disc/description")" "disc's description after acme's refused write"
errno_as 3102 ENOENT stat "$R/tenants"
acme ls "$R" | grep -qx tenants && fail "acme lists tenants/ without a sub-account"
assert_eq "0 5" "$(dev awk '$1 == "private-images" { print $2, $3 }' "$R/quota")" "dev's own quota once main"
imgfs_admin "$S" account set dev parent acme
assert_eq dev "$(acme ls "$R/tenants")" "acme's tenants/ once dev is back"

say "destroy through tenants/ (with the snapshot only it referenced)"
boss rmdir "$TD/recycle-bin/web"
logged_by boss "rmdir $REL/tenants/dev/recycle-bin/web: done"
# deleting until its task freed its chunks (§16), then gone.
web_gone() { [[ "$(as 3103 "$SYS_PY" "$T/errno-as.py" stat "$R/recycle-bin/web")" == ENOENT ]]; }
wait_for 30 web_gone || fail "recycle-bin/web still there 30 s after its destroy"
assert_eq "" "$(dev ls "$R/snapshots")" "dev's snapshots/ after boss destroyed web"
assert_eq "" "$(boss ls "$TD/snapshots")" "tenants/dev/snapshots/ after the destroy"

say "an ISO image through tenants/: deleted by acme (a queued one is gone at once, as for dev)"
acme rmdir "$TD/iso/disc"
logged_by acme "rmdir $REL/tenants/dev/iso/disc: done"
assert_eq "" "$(dev ls "$R/iso")" "dev's iso/ after acme's rmdir"

say "account remove: refused while acme has a sub-account"
out=$(imgfs_admin "$S" account remove acme 2>&1) && fail "account remove acme went through"
[[ $out == *"has sub-accounts dev"* ]] || fail "account remove acme: $out"

say "a single-user mount acting as an administrator has tenants/, and loses it with the role"
M2="$T/mnt2"
mount_imgfs "$S" "$M2" account=boss
R2="$M2/regions/cn-north-1"
assert_eq "$tenants_all" "$(ls "$R2/tenants" | LC_ALL=C sort | paste -sd ' ')" "tenants/ in boss's single-user mount"
assert_eq "iso private recycle-bin snapshots" "$(ls "$R2/tenants/dev" | paste -sd ' ')" "tenants/dev/ there"
ls "$R2" | grep -qx tenants || fail "the region's listing lacks tenants/"
imgfs_admin "$S" account set boss admin no
wait_for 10 sh -c "! ls '$R2' | grep -qx tenants" || fail "tenants/ stays listed once boss is no administrator"
assert_errno ENOENT stat "$R2/tenants"
imgfs_admin "$S" account set boss admin yes
wait_for 10 sh -c "ls '$R2' | grep -qx tenants" || fail "tenants/ is not listed again once boss is an administrator"
assert_eq "$tenants_all" "$(ls "$R2/tenants" | LC_ALL=C sort | paste -sd ' ')" "tenants/ again"
umount_imgfs "$M2"

echo "PASS"

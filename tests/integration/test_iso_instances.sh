#!/usr/bin/env bash
# SPEC §16 (instances from ISO images, the administrator password), §2.4,
# §9, §8, §11, §13: the instance files boot, system-disk-size and password
# and the disks cdrom and cidata, through the mount, with the tools a user
# would use (echo, cat, cp, rm, truncate, rmdir).
#
#   - every refusal with its errno and a log line, each changing nothing:
#     boot, system-disk-size (syntax, range, after an image, after a run),
#     the image (a queued ISO, a running instance), cdrom and cidata (made
#     only by image and password; read-only; rm while running), password
#     (running);
#   - the ISO image cannot be deleted while it is an instance's cdrom
#     (EBUSY, its reason in its error file); ejecting by `echo disk > boot`
#     and by `rm disks/cdrom` frees it; boot reads disk again, cdrom is
#     EINVAL then;
#   - boot, system-disk-size, the cdrom and the seed survive a remount and
#     kill -9;
#   - multi-user: another account sees none of it (ENOENT by path and by
#     inode); the owner cannot read the password either;
#   - two hosts of one database: the instance's files and disks are listed
#     on the other host, which cannot open cdrom or cidata nor change any
#     of it (EREMOTE).
source "$(dirname "$0")/lib.sh"
command -v genisoimage >/dev/null || fail "genisoimage is needed (scripts/install-deps)"

# make_iso FILE: a small ISO 9660 image holding one text file.
make_iso() {
    mkdir -p "$T/isodir"
    echo "an installer" >"$T/isodir/readme.txt"
    genisoimage -quiet -V INSTALLER -R -o "$1" "$T/isodir" || fail "genisoimage"
}
make_iso "$T/disc.iso"
chmod 644 "$T/disc.iso"

setup_mount
I="$R/instances"
V="$I/vm1"
W="$I/vm2"
D="$R/iso/disc"

say "an ISO image in iso/disc; a queued one in iso/empty"
mkdir "$D" "$R/iso/empty"
cp "$T/disc.iso" "$D/disks/cdrom"
imgfs_wait "$D" >/dev/null 2>&1 || { cat "$D/error" >&2; fail "imgfs wait iso/disc"; }
mkdir "$V" "$W"

say "system-disk-size: 40 GiB, suffixes K M G T P (1024), refusals EINVAL"
assert_eq 42949672960 "$(cat "$V/system-disk-size")" "vm1/system-disk-size"
assert_eq 644 "$(stat -c %a "$V/system-disk-size")" "mode of system-disk-size while writable"
for bad in abc 1.5G 10g 10KB -1 " 5" 0 5P 4P 99999999999999999999; do
    assert_errno EINVAL write "$V/system-disk-size" "$bad"
done
assert_logged write "$V/system-disk-size" EINVAL
assert_eq 42949672960 "$(cat "$V/system-disk-size")" "vm1/system-disk-size after refusals"
echo 3T >"$V/system-disk-size"
assert_eq $((3 << 40)) "$(cat "$V/system-disk-size")" "vm1/system-disk-size 3T"
assert_eq $((3 << 40)) "$(stat -c %s "$V/disks/vda")" "vda resized to 3 TiB"
echo 1048576 >"$V/system-disk-size"
assert_eq 1048576 "$(stat -c %s "$V/disks/vda")" "vda resized to 1 MiB"
echo 4095P >"$V/system-disk-size" 2>/dev/null && fail "4095 PiB taken"
echo 2GiB >"$V/system-disk-size"
assert_eq $((2 << 30)) "$(stat -c %s "$V/disks/vda")" "vda resized to 2 GiB"

say "boot: disk; other values EINVAL; cdrom without a cdrom EINVAL"
assert_eq disk "$(cat "$V/boot")" "vm1/boot"
assert_errno EINVAL write "$V/boot" usb
assert_errno EINVAL write "$V/boot" cdrom
assert_logged write "$V/boot" EINVAL
grep -qF "no cdrom" "$S/imgfs.log" || fail "the refusal of boot cdrom does not say why"
echo disk >"$V/boot"

say "cdrom and cidata are not made by creating them (EPERM); rm of an absent cdrom ENOENT"
assert_errno EPERM create "$V/disks/cdrom" x
assert_errno EPERM create "$V/disks/cidata" x
assert_logged create "$V/disks/cdrom" EPERM
assert_errno ENOENT unlink "$V/disks/cdrom"
assert_eq vda "$(entries "$V/disks")" "vm1/disks/ after the refusals"

say "image: a queued ISO EINVAL, an unknown ENOENT, a running instance EBUSY"
assert_errno EINVAL write "$V/image" iso/empty
assert_errno ENOENT write "$V/image" iso/nosuch
echo start >"$W/status"
assert_errno EBUSY write "$W/image" iso/disc
echo stop >"$W/status"
assert_eq "" "$(cat "$W/image")" "vm2/image after the refusals"

say "echo iso/disc > image, by path and by id: cdrom in, boot cdrom, vda blank of system-disk-size"
echo iso/disc >"$V/image"
cat "$D/id" >"$W/image"
for v in "$V" "$W"; do
    assert_eq "$(cat "$D/id")" "$(cat "$v/image")" "$v/image"
    assert_eq cdrom "$(cat "$v/boot")" "$v/boot"
    assert_file_eq "$T/disc.iso" "$v/disks/cdrom" "$v/disks/cdrom"
done
assert_eq "$(printf 'vm1\nvm2')" "$(cat "$D/instances")" "iso/disc/instances"
assert_eq "$((2 << 30)) 0" "$(stat -c '%s %b' "$V/disks/vda")" "vm1's new vda"
assert_eq "$((40 << 30))" "$(stat -c %s "$W/disks/vda")" "vm2's new vda"

say "system-disk-size is fixed now (EPERM, mode 444)"
assert_eq 444 "$(stat -c %a "$V/system-disk-size")" "mode of system-disk-size"
assert_errno EPERM write "$V/system-disk-size" 1G
assert_logged "open|write" "$V/system-disk-size" EPERM

say "cdrom is read-only: open for writing and truncate EPERM"
assert_errno EPERM open "$V/disks/cdrom" wronly
assert_errno EPERM truncate "$V/disks/cdrom" 0
assert_logged open "$V/disks/cdrom" EPERM
assert_file_eq "$T/disc.iso" "$V/disks/cdrom" "cdrom after the refusals"

say "rmdir iso/disc while it is a cdrom: EBUSY, the reason in its error file"
assert_errno EBUSY rmdir "$D"
assert_match '.*cdrom.*' "$(cat "$D/error")" "iso/disc/error"
assert_logged rmdir "$D" EBUSY

say "a password (cidata); running: boot disk, rm cdrom, rm cidata, password EBUSY"
echo 'Adm1n-pass' >"$V/password"
assert_eq "cdrom cidata vda" "$(entries "$V/disks")" "vm1/disks/"
assert_errno EPERM open "$V/disks/cidata" rdwr
echo start >"$V/status"
assert_errno EBUSY write "$V/boot" disk
assert_errno EBUSY unlink "$V/disks/cdrom"
assert_errno EBUSY unlink "$V/disks/cidata"
assert_errno EBUSY write "$V/password" 'Adm1n-pass2'
assert_logged write "$V/password" EBUSY
assert_logged unlink "$V/disks/cidata" EBUSY
echo stop >"$V/status"
assert_eq "cdrom cidata vda" "$(entries "$V/disks")" "vm1/disks/ after the refusals"
assert_errno EPERM write "$V/system-disk-size" 1G # it ran

say "remount and kill -9: boot, system-disk-size, cdrom, cidata kept"
sum=$(sha256sum <"$V/disks/cidata")
remount_imgfs "$S" "$M"
kill_imgfs "$M"
mount_imgfs "$S" "$M"
assert_eq "cdrom cdrom" "$(cat "$V/boot") $(cat "$W/boot")" "boot after kill -9"
assert_eq "$((2 << 30))" "$(cat "$V/system-disk-size")" "system-disk-size after kill -9"
assert_eq "cdrom cidata vda" "$(entries "$V/disks")" "vm1/disks/ after kill -9"
assert_eq "$sum" "$(sha256sum <"$V/disks/cidata")" "cidata after kill -9"
assert_file_eq "$T/disc.iso" "$W/disks/cdrom" "vm2's cdrom after kill -9"

say "eject by echo disk > boot: boot disk, no cdrom, image empty; the ISO still vm2's"
echo disk >"$V/boot"
assert_eq disk "$(cat "$V/boot")" "vm1/boot after the eject"
assert_eq "cidata vda" "$(entries "$V/disks")" "vm1/disks/ after the eject"
assert_eq "" "$(cat "$V/image")" "vm1/image after the eject"
assert_eq vm2 "$(cat "$D/instances")" "iso/disc/instances"
assert_errno EINVAL write "$V/boot" cdrom
assert_errno EBUSY rmdir "$D"

say "eject by rm disks/cdrom: the ISO free, rmdir iso/disc goes to the recycle bin"
rm "$W/disks/cdrom"
assert_eq disk "$(cat "$W/boot")" "vm2/boot after rm"
assert_eq vda "$(entries "$W/disks")" "vm2/disks/ after rm"
assert_eq "" "$(cat "$D/instances")" "iso/disc/instances after both ejects"
rmdir "$D"
assert_eq disc "$(ls "$R/recycle-bin")" "recycle-bin/"

say "rm disks/cidata: the seed gone; vda stays"
rm "$V/disks/cidata"
assert_eq vda "$(entries "$V/disks")" "vm1/disks/ after rm cidata"

say "multi-user: another account sees nothing of alice's instance; alice cannot read its password"
other_uids
S2="$T/state-mu" M2="$T/mnt-mu"
mount_imgfs "$S2" "$M2" allow_other,multiuser
imgfs_admin "$S2" account add alice --uid 2001
imgfs_admin "$S2" account add bob --uid 2002
R2="$M2/regions/cn-north-1"
as 2001 mkdir "$R2/iso/disc" "$R2/instances/a-vm"
as 2001 cp "$T/disc.iso" "$R2/iso/disc/disks/cdrom"
as 2001 timeout 300 "$T/imgfs-as" wait "$R2/iso/disc" >/dev/null 2>&1 || fail "imgfs wait (alice)"
as 2001 sh -c "echo iso/disc > '$R2/instances/a-vm/image' && echo 'Alice-s3cret' > '$R2/instances/a-vm/password'"
A2="$R2/instances/a-vm"
assert_eq "cdrom cidata vda" "$(as 2001 ls "$A2/disks" | paste -sd ' ' -)" "alice's a-vm/disks/"
assert_eq cdrom "$(as 2001 cat "$A2/boot")" "alice's a-vm/boot"
errno_as 2001 EACCES read "$A2/password"
errno_as 2001 OK read "$A2/disks/cidata"
for f in "$A2" "$A2/boot" "$A2/password" "$A2/system-disk-size" "$A2/disks/cdrom" "$A2/disks/cidata"; do
    errno_as 2002 ENOENT stat "$f"
    errno_as 2003 ENOENT stat "$f"
done
errno_as 2002 ENOENT read "$A2/disks/cidata"
errno_as 2002 ENOENT write "$A2/password" 'Bob-was-here1'
errno_as 2002 ENOENT write "$A2/boot" disk
assert_eq "" "$(as 2002 ls "$R2/instances")" "bob's instances/"
errno_as 0 ENOENT stat "$A2/disks/cidata" # root has no account in this mount
# (By inode number: the kernel asks the daemon about a node only after a
# lookup by name, refused above; test_attr.c resolves the numbers.)
assert_nowhere 'Alice-s3cret' "$S2" "alice's password"

say "two hosts of one database: a's instance listed on b, its media EREMOTE there"
pg_database URL
A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
mount_imgfs "$T/state-b" "$B" "db=$URL,host=b"
RA="$A/regions/cn-north-1" RB="$B/regions/cn-north-1"
mkdir "$RA/iso/disc" "$RA/instances/va"
cp "$T/disc.iso" "$RA/iso/disc/disks/cdrom"
imgfs_wait "$RA/iso/disc" >/dev/null 2>&1 || fail "imgfs wait iso/disc on a"
echo iso/disc >"$RA/instances/va/image"
echo 'Tw0-hosts-pw' >"$RA/instances/va/password"
VB="$RB/instances/va"
media_on_b() { [[ "$(entries "$VB/disks" 2>/dev/null)" == "cdrom cidata vda" ]]; }
wait_for 2 media_on_b || fail "va's disks on b: $(entries "$VB/disks")"
assert_eq cdrom "$(cat "$VB/boot")" "va/boot on b"
assert_eq "$(stat -c %s "$T/disc.iso")" "$(stat -c %s "$VB/disks/cdrom")" "va's cdrom size on b"
assert_errno EREMOTE open "$VB/disks/cdrom" rdonly
assert_errno EREMOTE open "$VB/disks/cidata" rdonly
assert_errno EREMOTE write "$VB/password" 'Fr0m-host-b'
assert_errno EREMOTE write "$VB/boot" disk
assert_errno EREMOTE unlink "$VB/disks/cidata"
assert_errno EREMOTE unlink "$VB/disks/cdrom"
assert_eq "cdrom cidata vda" "$(entries "$RA/instances/va/disks")" "va's disks on a after b's refusals"
assert_file_eq "$T/disc.iso" "$RA/instances/va/disks/cdrom" "va's cdrom read on a"

#!/usr/bin/env bash
# SPEC §16 "The recycle bin keeps names and remarks editable" (seed 004
# §4.6), §6.1, §9, §10, with standard tools only: in recycle-bin/ the owner
# writes description, tags and project (echo, then cat) and nothing else
# (EPERM); mv recycle-bin/<a> recycle-bin/<b> renames (§10's names:
# EINVAL; an existing name: EEXIST); a restore takes the new name; rmdir
# iso/<x> moves an ISO image to the bin, and a restore puts it back in iso/
# only (into private/: EPERM, saying where it goes); a remount keeps it all.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v genisoimage >/dev/null || fail "genisoimage is missing (scripts/install-deps installs it)"

setup_mount
P="$R/private"
I="$R/iso"
B="$R/recycle-bin"

say "an available private image (a raw upload) and an available ISO image (genisoimage)"
python3 - "$T/disk.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(4 << 20)
    mbr = bytearray(512)
    mbr[0:2] = b"\xeb\x63"
    mbr[510:512] = b"\x55\xaa"
    f.write(mbr)
    f.seek(1 << 20); f.write(os.urandom(1 << 20))
EOF
mkdir -p "$T/isodir"
echo "hello from the ISO" >"$T/isodir/README.TXT"
genisoimage -quiet -V IMGFSBIN -R -o "$T/x.iso" "$T/isodir" 2>/dev/null
mkdir "$P/a" "$I/x"
cp "$T/disk.raw" "$P/a/disks/vda"
cp "$T/x.iso" "$I/x/disks/cdrom"
for d in "$P/a" "$I/x"; do
    imgfs_wait "$d" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait $d"; }
    assert_eq available "$(status_of "$d")" "$d/status"
done
ida=$(cat "$P/a/id") idx=$(cat "$I/x/id")

say "rmdir private/a; in recycle-bin/a, echo > description, tags, project; cat reads them back"
rmdir "$P/a"
assert_eq a "$(ls "$B")" "ls recycle-bin"
for f in description tags project; do
    assert_eq 644 "$(stat -c %a "$B/a/$f")" "mode of recycle-bin/a/$f"
done
echo "kept for the audit" >"$B/a/description"
echo "env=old" >"$B/a/tags"
echo "billing" >"$B/a/project"
assert_eq "kept for the audit" "$(cat "$B/a/description")" "recycle-bin/a/description"
assert_eq "env=old" "$(cat "$B/a/tags")" "recycle-bin/a/tags"
assert_eq "billing" "$(cat "$B/a/project")" "recycle-bin/a/project"
assert_eq deleted "$(status_of "$B/a")" "status after the writes"

say "the same checks as outside the bin (EINVAL); nothing else is writable there (EPERM)"
assert_errno EINVAL write "$B/a/tags" $'no equals sign\n'
assert_logged "write|release|flush" "$B/a/tags" EINVAL
assert_eq "env=old" "$(cat "$B/a/tags")" "tags after a refused write"
for f in status os-type source expires id; do
    assert_eq 444 "$(stat -c %a "$B/a/$f")" "mode of recycle-bin/a/$f"
    assert_errno EPERM write "$B/a/$f" "x"
done
assert_logged "open|write" "$B/a/id" EPERM

say "mv recycle-bin/a recycle-bin/b renames in the bin; the id, the remarks and expires stay"
exp=$(cat "$B/a/expires")
mv "$B/a" "$B/b" || fail "mv recycle-bin/a recycle-bin/b failed"
assert_eq b "$(ls "$B")" "ls recycle-bin after the rename"
assert_errno ENOENT stat "$B/a"
assert_eq "$ida" "$(cat "$B/b/id")" "id after the rename"
assert_eq "kept for the audit" "$(cat "$B/b/description")" "description after the rename"
assert_eq "$exp" "$(cat "$B/b/expires")" "expires after the rename"

say "rmdir iso/x: to the bin like a private image (§16), status deleted, cdrom kept"
rmdir "$I/x" || fail "rmdir iso/x failed"
assert_eq "" "$(ls "$I")" "ls iso after rmdir iso/x"
assert_eq "b x" "$(entries "$B")" "ls recycle-bin after rmdir iso/x"
assert_eq deleted "$(status_of "$B/x")" "recycle-bin/x/status"
assert_eq "$idx" "$(cat "$B/x/id")" "recycle-bin/x/id"
[[ -n "$(cat "$B/x/expires")" ]] || fail "recycle-bin/x/expires is empty"
assert_file_eq "$T/x.iso" "$B/x/disks/cdrom" "recycle-bin/x/disks/cdrom"
echo "installer, retired" >"$B/x/description"

say "renames in the bin: onto an existing name EEXIST, a bad name EINVAL, nothing changes"
assert_errno EEXIST rename "$B/b" "$B/x"
assert_logged rename "$B/b" EEXIST
assert_match '.*an image named x exists.*' "$(cat "$B/b/error")" "recycle-bin/b/error after EEXIST"
assert_errno EINVAL rename "$B/b" "$B/-bad"
assert_errno EINVAL rename "$B/b" "$B/.hidden"
assert_errno EINVAL rename "$B/b" "$B/$(printf 'n%.0s' {1..33})"
assert_eq "b x" "$(entries "$B")" "ls recycle-bin after the refused renames"
mv "$B/x" "$B/y" || fail "mv recycle-bin/x recycle-bin/y failed"
assert_eq "b y" "$(entries "$B")" "ls recycle-bin after renaming x to y"

say "a remount keeps the names and the remarks of the bin"
remount_imgfs "$S" "$M"
assert_eq "b y" "$(entries "$B")" "ls recycle-bin after the remount"
assert_eq "kept for the audit" "$(cat "$B/b/description")" "recycle-bin/b/description after the remount"
assert_eq "env=old" "$(cat "$B/b/tags")" "recycle-bin/b/tags after the remount"
assert_eq "billing" "$(cat "$B/b/project")" "recycle-bin/b/project after the remount"
assert_eq "installer, retired" "$(cat "$B/y/description")" "recycle-bin/y/description after the remount"

say "the ISO image goes back to iso/ only: mv to private/ EPERM, saying so; to iso/ restores it"
assert_errno EPERM rename "$B/y" "$P/y"
assert_logged rename "$B/y" EPERM
assert_match '.*y was an ISO image: restore it to iso/.*' "$(cat "$B/y/error")" "recycle-bin/y/error"
assert_errno EPERM rename "$B/b" "$I/b"
assert_match '.*b was a private image: restore it to private/.*' "$(cat "$B/b/error")" "recycle-bin/b/error"
assert_eq "b y" "$(entries "$B")" "ls recycle-bin after the refused restores"
mv "$B/y" "$I/y" || fail "mv recycle-bin/y iso/y failed"
assert_eq y "$(ls "$I")" "ls iso after the restore"
assert_eq available "$(status_of "$I/y")" "iso/y/status"
assert_eq "$idx" "$(cat "$I/y/id")" "iso/y/id"
assert_eq "installer, retired" "$(cat "$I/y/description")" "iso/y/description"
[[ ! -e "$I/y/expires" ]] || fail "iso/y/expires exists after the restore"
assert_file_eq "$T/x.iso" "$I/y/disks/cdrom" "iso/y/disks/cdrom after the restore"

say "the private image comes back under its new name, remarks kept"
mv "$B/b" "$P/b" || fail "mv recycle-bin/b private/b failed"
assert_eq "" "$(ls "$B")" "ls recycle-bin after both restores"
assert_eq b "$(ls "$P")" "ls private after the restore"
assert_eq available "$(status_of "$P/b")" "private/b/status"
assert_eq "$ida" "$(cat "$P/b/id")" "private/b/id"
assert_eq "billing" "$(cat "$P/b/project")" "private/b/project"
assert_file_eq "$T/disk.raw" "$P/b/disks/vda" "private/b/disks/vda"

say "a remount keeps the restores"
remount_imgfs "$S" "$M"
assert_eq y "$(ls "$I")" "ls iso after the remount"
assert_eq b "$(ls "$P")" "ls private after the remount"
assert_eq "" "$(ls "$B")" "ls recycle-bin after the remount"
assert_eq available "$(status_of "$I/y")" "iso/y/status after the remount"

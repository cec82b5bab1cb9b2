#!/usr/bin/env bash
# SPEC §12 (directories that move), §2 (stable inode numbers): a process
# holding an image's directory — a shell's working directory, an open
# directory handle — while the image is deleted to the recycle bin,
# restored or renamed does not break the image's new path: it lists every
# entry, its files read, a restore never fails with ESTALE, and tar of the
# restored image archives every file.  The held handle itself follows the
# image through the delete and the restore: readdir lists the image's
# entries (the bin's, then private/'s), openat(fd, "status") reads
# "deleted", then "available".  st_ino stays the same through all
# of it and across a remount; a holder in a second mount keeps reading the
# image through the directory it holds.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
B="$R/recycle-bin"
I="$R/instances"

# holder DIR: a process whose working directory is DIR and which holds an
# open directory handle on it and on DIR/disks; prints its pid once it holds
# them.
holder() {
    local ready="$T/held.$RANDOM"
    python3 -c '
import os, sys, time
os.chdir(sys.argv[1])
fds = [os.open(".", os.O_RDONLY | os.O_DIRECTORY), os.open("disks", os.O_RDONLY | os.O_DIRECTORY)]
open(sys.argv[2], "w").close()
time.sleep(600)' "$1" "$ready" >/dev/null 2>&1 &
    wait_for 20 test -e "$ready" || fail "the holder of $1 did not start"
    echo $!
}
holders=()
stop_holders() {
    local p
    for p in "${holders[@]+"${holders[@]}"}"; do kill "$p" 2>/dev/null || true; done
    for p in "${holders[@]+"${holders[@]}"}"; do wait "$p" 2>/dev/null || true; done
    holders=()
}
trap 'rc=$?; set +e; stop_holders; (exit $rc); _cleanup' EXIT

# archived DIR: how many members tar archives of DIR (files and directories).
archived() { tar -S -cf - -C "$(dirname "$1")" "$(basename "$1")" | tar tf - | wc -l; }

say "img1 and img2 captured from vm1 (vda with 2 MiB of data)"
new_vm "$I/vm1"
write_random "$I/vm1/disks/vda" 0 2 "$T/vda.ref"
truncate -s 1G "$T/vda.ref" # new_vm's size
mkdir "$P/img1" "$P/img2"
capture "$P/img1" vm1
capture "$P/img2" vm1
echo "tagged=yes" >"$P/img1/tags"
priv_entries=$(entries "$P/img1")
# In the bin the owner's control files go and expires comes (SPEC §2.1).
bin_entries=$(ls -1A "$P/img1" | grep -vxE 'convert|cancel|copies|shares|download|inspect' |
    { cat; echo expires; } | LC_ALL=C sort | paste -sd ' ' -)
members=$(archived "$P/img1")
ino=$(stat -c %i "$P/img1")
vda_ino=$(stat -c %i "$P/img1/disks/vda")
((members > 20)) || fail "tar archives only $members members of private/img1"

say "delete while a process sits in private/img1: recycle-bin/img1 lists every entry, its files read"
holders+=("$(holder "$P/img1")")
rmdir "$P/img1"
assert_eq "$bin_entries" "$(entries "$B/img1")" "recycle-bin/img1 while the old directory is held"
assert_eq deleted "$(cat "$B/img1/status")" "recycle-bin/img1/status"
assert_eq "tagged=yes" "$(cat "$B/img1/tags")" "recycle-bin/img1/tags"
sparse_cmp "$T/vda.ref" "$B/img1/disks/vda" "recycle-bin/img1/disks/vda"
assert_eq "$ino" "$(stat -c %i "$B/img1")" "st_ino of the image directory in the bin"
assert_eq "$vda_ino" "$(stat -c %i "$B/img1/disks/vda")" "st_ino of disks/vda in the bin"

say "restore with the old handles still open: no ESTALE, every entry, tar archives every file"
assert_errno OK rename "$B/img1" "$P/img1"
assert_eq "$priv_entries" "$(entries "$P/img1")" "private/img1 after the restore"
assert_eq available "$(cat "$P/img1/status")" "private/img1/status after the restore"
assert_eq "$members" "$(archived "$P/img1")" "members tar archives of the restored image"
assert_eq "$ino" "$(stat -c %i "$P/img1")" "st_ino after the restore"

say "again, a process sitting in the restored directory; the restore is the first look at the bin (ESTALE before)"
holders+=("$(holder "$P/img1")")
rmdir "$P/img1"
assert_errno OK rename "$B/img1" "$P/img1"
assert_eq "$priv_entries" "$(entries "$P/img1")" "private/img1 after the second restore"
assert_eq "$members" "$(archived "$P/img1")" "members tar archives after the second restore"
sparse_cmp "$T/vda.ref" "$P/img1/disks/vda" "private/img1/disks/vda after the second restore"

say "a directory handle held across rmdir and restore follows the image: readdir lists it, openat(fd, status) reads it"
# held_probe: holds private/img1 open, then rmdir (to the bin) and mv back
# (the restore) as rmdir(1) and mv(1) make them; after each step, what the
# handle lists, what openat(fd, "status") reads and whether fstat(fd) has
# the path's mtime.  The second rmdir is answered ESTALE once inside the
# daemon (ops.c, rmdir_renewed): no caller sees it, and /stats counts no
# rmdir error.
held_probe() {
    python3 - "$P/img1" "$B/img1" <<'PY'
import errno, os, sys
path, binned = sys.argv[1:]
fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
def show(step, where):
    names = " ".join(sorted(os.listdir(fd)))
    try:
        f = os.open("status", os.O_RDONLY, dir_fd=fd)
        status = os.read(f, 64).decode().strip()
        os.close(f)
    except OSError as e:
        status = errno.errorcode[e.errno]
    same = os.fstat(fd).st_mtime_ns == os.stat(where).st_mtime_ns
    print("%s|%s|%s|%s" % (step, names, status, "same mtime" if same else "other mtime"))
show("held", path)
os.rmdir(path)
show("rmdir", binned)
os.rename(binned, path)
show("restore", path)
PY
}
rmdir_errors=$(stat_of "$M" imgfs_request_errors_total 'op="rmdir"')
probe=$(held_probe) || fail "the held-handle probe failed: $probe"
assert_eq "held|$priv_entries|available|same mtime" "$(sed -n 1p <<<"$probe")" "the handle before the delete"
assert_eq "rmdir|$bin_entries|deleted|same mtime" "$(sed -n 2p <<<"$probe")" "the handle after rmdir private/img1"
assert_eq "restore|$priv_entries|available|same mtime" "$(sed -n 3p <<<"$probe")" "the handle after mv recycle-bin/img1 private/img1"
assert_eq "$rmdir_errors" "$(stat_of "$M" imgfs_request_errors_total 'op="rmdir"')" "rmdir errors in /stats"
assert_eq "$ino" "$(stat -c %i "$P/img1")" "st_ino after the held delete and restore"

say "rename in place while a process sits in the image: it follows, its directory keeps working"
holders+=("$(holder "$P/img1")")
pid=${holders[-1]}
mv -T "$P/img1" "$P/moved"
assert_eq "$P/moved" "$(readlink "/proc/$pid/cwd")" "the holder's working directory after the rename"
assert_eq "$priv_entries" "$(entries "/proc/$pid/cwd/")" "the holder's directory after the rename"
assert_eq "$priv_entries" "$(entries "$P/moved")" "private/moved"
assert_eq "$members" "$(archived "$P/moved")" "members tar archives of the renamed image"
mv -T "$P/moved" "$P/img1"
stop_holders

say "a second mount: its holder of private/img2 keeps reading the image after a delete elsewhere"
M2="$T/mnt2"
mount_imgfs "$S" "$M2"
R2="$M2/regions/cn-north-1"
img2_entries=$(entries "$R2/private/img2")
holders+=("$(holder "$R2/private/img2")")
pid=${holders[-1]}
rmdir "$P/img2"
gone() { [[ ! -e "$R2/private/img2" ]]; }
wait_for 5 gone || fail "the second mount still shows private/img2 5 s after its delete"
assert_eq deleted "$(cat "/proc/$pid/cwd/status")" "status read through the second mount's held directory"
[[ -n "$(entries "/proc/$pid/cwd/")" ]] || fail "the second mount's held directory lists nothing"
img2_bin=$(entries "$B/img2")
assert_eq "$img2_bin" "$(entries "$R2/recycle-bin/img2")" "recycle-bin/img2 in the second mount"
assert_errno OK rename "$R2/recycle-bin/img2" "$R2/private/img2"
assert_eq "$img2_entries" "$(entries "$R2/private/img2")" "private/img2 restored through the second mount"
restored() { [[ "$(entries "$P/img2" 2>/dev/null)" == "$img2_entries" ]]; }
wait_for 5 restored || fail "private/img2 in the first mount: $(entries "$P/img2" 2>&1)"
stop_holders
umount_imgfs "$M2"

say "st_ino of the moved image directory is the same after a remount"
remount_imgfs "$S" "$M"
assert_eq "$ino" "$(stat -c %i "$P/img1")" "st_ino of private/img1 after a remount"
assert_eq "$vda_ino" "$(stat -c %i "$P/img1/disks/vda")" "st_ino of private/img1/disks/vda after a remount"
assert_eq "$priv_entries" "$(entries "$P/img1")" "private/img1 after a remount"

#!/usr/bin/env bash
# Issue 36 "Nothing silent": an instance disk's overlay file (wblobs/
# <name>.data in the state directory) deleted or cut short outside imgfs (a
# disk gone bad, an operator's slip) is never read as zeros.  With data
# written into the disk through the mount, the file removed (then, on a
# second disk, truncated) while unmounted: after the remount, reading the
# disk is EIO with the reason in the log, a capture of it ends `error`
# saying what is missing (before: an `available` image of zeros), and
# `imgfs admin fsck` reports it (before: 0 problems).  A disk nobody wrote
# keeps working: its overlay is made again as a crash would leave it.  A
# chunk written whole (a file of its own, SPEC §11) whose file is removed
# reads EIO too, with the reason; a capture of that disk ends `error`
# naming the file, and fsck reports it (issue 47: before, "0 problems" and
# a capture error naming nothing).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
I="$R/instances"
W="$S/regions/cn-north-1/wblobs"

# new_overlay BEFORE: the one overlay file in wblobs/ not in the list BEFORE.
new_overlay() {
    local f
    for f in "$W"/*.data; do
        [[ " $1 " == *" $(basename "$f") "* ]] || { basename "$f"; return 0; }
    done
    fail "no new overlay in $W"
}
overlays() { (cd "$W" && ls -1 -- *.data 2>/dev/null | paste -sd ' ') || true; }

say "vm1: data written into vdb and vdc (4 MiB each) through the mount; vdd blank"
mkdir "$I/vm1"
b0=$(overlays)
truncate -s 16M "$I/vm1/disks/vdb"
vdb=$(new_overlay "$b0")
b1=$(overlays)
truncate -s 16M "$I/vm1/disks/vdc"
vdc=$(new_overlay "$b1")
b2=$(overlays)
truncate -s 16M "$I/vm1/disks/vdd"
vdd=$(new_overlay "$b2")
# 4 KiB off the chunk boundaries, so that the bytes land in the overlay
# (a whole chunk is a file of its own: vde below).
for d in vdb vdc; do
    head -c 4M /dev/urandom | dd of="$I/vm1/disks/$d" bs=1M seek=$(((2 << 20) + 4096)) oflag=seek_bytes \
        iflag=fullblock conv=notrunc status=none
done
truncate -s 16M "$I/vm1/disks/vde"
write_random "$I/vm1/disks/vde" 2 4
sync "$I/vm1/disks/vdb" "$I/vm1/disks/vdc" "$I/vm1/disks/vde"
vde_arr=$(cd "$W" && ls -d -- *.arr | head -n 1)
assert_eq 4 "$(find "$W/$vde_arr" -type f | wc -l)" "vde's whole chunks: files of their own in $vde_arr"

say "unmounted: vdb's overlay $vdb removed, vdc's $vdc cut to 1 MiB, vdd's $vdd removed"
umount_imgfs "$M"
imgfs_admin "$S" fsck >"$T/fsck0.out" 2>&1 || { cat "$T/fsck0.out" >&2; fail "fsck of the healthy state"; }
rm "$W/$vdb" "$W/$vdd" "$W/$vde_arr/3"
truncate -s 1M "$W/$vdc"
mount_imgfs "$S" "$M"

say "vde's chunk 3 (a file of its own, written this boot) removed: EIO there, with a line; the rest reads"
assert_errno EIO read "$I/vm1/disks/vde"
grep -qF "the file of chunk 3 (${vde_arr}/3) is missing: EIO" "$S/imgfs.log" ||
    { tail -n 5 "$S/imgfs.log" >&2; fail "no log line about ${vde_arr}/3"; }
dd if="$I/vm1/disks/vde" of=/dev/null bs=1M count=3 status=none || fail "vde's first 3 MiB do not read"

say "reading vdb and vdc: EIO, each with a line saying what is missing; vdd (never written) reads zeros"
assert_errno EIO read "$I/vm1/disks/vdb"
assert_errno EIO read "$I/vm1/disks/vdc"
grep -qF "its overlay $vdb is missing" "$S/imgfs.log" || { tail -n 5 "$S/imgfs.log" >&2; fail "no log line about $vdb"; }
grep -qF "its overlay $vdc is cut short at 1048576 bytes" "$S/imgfs.log" ||
    { tail -n 5 "$S/imgfs.log" >&2; fail "no log line about $vdc"; }
assert_logged open "$I/vm1/disks/vdb" EIO
assert_eq 0 "$(tr -d '\0' <"$I/vm1/disks/vdd" | wc -c)" "vdd's bytes (nothing was written there)"
[[ -e "$W/$vdd" ]] || fail "vdd's overlay was not made again"

say "capture of vm1 vdb: the image ends error, saying the overlay is missing (never an image of zeros)"
mkdir "$P/img-b"
echo "instance vm1 vdb" >"$P/img-b/source"
imgfs_wait "$P/img-b" >"$T/wait.out" 2>&1 && fail "imgfs wait img-b succeeded: $(cat "$T/wait.out")"
assert_eq error "$(status_of "$P/img-b")" "img-b's status"
assert_match ".*capture failed: reading vdb: .*its overlay $vdb is missing.*" "$(cat "$P/img-b/error")" "img-b's error"
grep -qF "capture failed: reading vdb" "$S/imgfs.log" || fail "no log line about img-b's capture"

say "capture of vm1 vdc: the same, the overlay cut short"
mkdir "$P/img-c"
echo "instance vm1 vdc" >"$P/img-c/source"
imgfs_wait "$P/img-c" >"$T/wait.out" 2>&1 && fail "imgfs wait img-c succeeded: $(cat "$T/wait.out")"
assert_eq error "$(status_of "$P/img-c")" "img-c's status"
assert_match ".*capture failed: reading vdc: .*its overlay $vdc is cut short.*" "$(cat "$P/img-c/error")" \
    "img-c's error"

say "capture of vm1 vde: the image ends error, naming the whole chunk's file that is missing"
mkdir "$P/img-e"
echo "instance vm1 vde" >"$P/img-e/source"
imgfs_wait "$P/img-e" >"$T/wait.out" 2>&1 && fail "imgfs wait img-e succeeded: $(cat "$T/wait.out")"
assert_eq error "$(status_of "$P/img-e")" "img-e's status"
assert_match ".*capture failed: reading vde: the file of chunk 3 \(${vde_arr}/3\) is missing.*" \
    "$(cat "$P/img-e/error")" "img-e's error"

say "fsck reports the three disks, naming what is missing (and vdd is sound)"
rc=0
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || rc=$?
sed 's/^/    /' "$T/fsck.out" | head -n 10
assert_eq 1 "$rc" "fsck's exit status"
grep -qF "its overlay $vdb is missing" "$T/fsck.out" || fail "fsck does not report $vdb"
grep -qF "its overlay $vdc is cut short" "$T/fsck.out" || fail "fsck does not report $vdc"
grep -qF "the file of chunk 3 (${vde_arr}/3) is missing" "$T/fsck.out" || fail "fsck does not report ${vde_arr}/3"
grep -qF "$vdd" "$T/fsck.out" && fail "fsck reports vdd's overlay, made again"
[[ ! -e "$W/$vdb" ]] || fail "fsck made $vdb again"

say "detaching vdb drops it without reading it; fsck then reports vdc and vde alone"
rm "$I/vm1/disks/vdb"
rc=0
imgfs_admin "$S" fsck >"$T/fsck2.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "fsck's exit status once vdb is detached"
grep -qF "$vdb" "$T/fsck2.out" && fail "fsck still reports $vdb once detached"
assert_eq "2 problems" "$(tail -n 1 "$T/fsck2.out")" "fsck's last line once vdb is detached"

echo "PASS"

#!/usr/bin/env bash
# SPEC §18 and §12: what files/'s speed rests on, counted (never timed),
# and 100 images browsed at once within the bounds.
#
# 1. One image (an ext4 of 300 small files in 6 directories and a 4 MiB
#    file, in partition 1 of an MBR disk): on a fresh mount, a cold `cat`
#    of one small file costs 4 helper round trips and a few block reads,
#    and finds the helper started ahead (the spare); the 4 MiB file costs
#    a round trip a FUSE read and a block read per 256 KiB; `find |
#    xargs cat` over every file costs about one round trip a file (the listing's attributes serve the
#    opens: imgfs_inside_stat_hits_total) and no FUSE LOOKUP a file
#    (readdirplus); a second walk costs no round trip and no READ (the
#    kernel's caches and the daemon's attributes); every byte matches.
# 2. 100 images of small ext4 file systems in vda1 (different bytes
#    each): `ls -R files/` on all of them at once runs at most 16 helpers
#    (imgfs_inside_helpers_peak) and knows at most 16 disks, every listing
#    is whole, the daemon's peak RSS stays within §12's bound, and it
#    holds a socket and a pipe per helper running, none of the ended ones'.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in sfdisk mke2fs; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs e2fsprogs, fdisk)"
done

setup_mount
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 120 >/dev/null
P="$R/private"
st() { stat_of "$M" "$@"; }
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

say "an ext4 of 300 small files in 6 directories, in vda1 of an MBR disk"
src="$T/src"
mkdir -p "$src/etc"
printf 'PRETTY_NAME="Count Linux"\nID=count\n' >"$src/etc/os-release"
python3 - "$src" <<'PY'
import os, random, sys
random.seed(18)
for d in range(6):
    os.makedirs(os.path.join(sys.argv[1], "usr", "d%d" % d))
    for f in range(50):
        with open(os.path.join(sys.argv[1], "usr", "d%d" % d, "f%02d" % f), "wb") as out:
            out.write(random.randbytes(random.randint(100, 6000)))
PY
head -c $((4 * 1048576)) /dev/urandom >"$src/usr/big.bin"
files=$(find "$src" -type f | wc -l)
dirs=$(find "$src" -type d | wc -l)
mke2fs -q -F -t ext4 -b 4096 -d "$src" "$T/p1.img" 4096 || fail "mke2fs -d"
truncate -s 18M "$T/disk.raw"
printf 'label: dos\nstart=2048, size=32768, type=83\n' | sfdisk -q "$T/disk.raw"
dd if="$T/p1.img" of="$T/disk.raw" bs=512 seek=2048 conv=notrunc status=none
mkdir "$P/c"
cp "$T/disk.raw" "$P/c/disks/vda"
imgfs_wait "$P/c" >/dev/null || fail "the upload did not become available"
F="$P/c/files/vda1"

say "a cold first file: the spare helper, a handful of round trips and block reads"
remount_imgfs "$S" "$M"
wait_until 10 [ "$(st imgfs_inside_helpers)" = 1 ] || fail "no spare helper after the mount: $(st imgfs_inside_helpers)"
assert_eq "$(printf 'PRETTY_NAME="Count Linux"\nID=count')" "$(cat "$F/etc/os-release")" "etc/os-release"
assert_eq 1 "$(st imgfs_inside_spares_taken_total)" "the volume's first request took the spare"
x=$(st imgfs_inside_exchanges_total) b=$(st imgfs_inside_block_reads_total)
echo "    $x round trips, $b block reads"
((x <= 4)) || fail "a cold cat of one file took $x round trips with the helper (bound 4: open, two lookups, the read)"
((b <= 8)) || fail "a cold cat of one file took $b block reads (bound 8)"

say "a cold read of a 4 MiB file: a round trip a FUSE read (1 MiB), 256 KiB a block read"
remount_imgfs "$S" "$M"
wait_until 10 [ "$(st imgfs_inside_helpers)" = 1 ] || fail "no spare helper after the mount"
cmp "$src/usr/big.bin" "$F/usr/big.bin" || fail "usr/big.bin differs"
x=$(st imgfs_inside_exchanges_total) b=$(st imgfs_inside_block_reads_total)
echo "    $x round trips, $b block reads"
# The open, two lookups and one a READ (the kernel's are up to 1 MiB,
# max_pages; the bound allows them half that): 128 KiB pieces took 35.
# The file's blocks come in windows of 256 KiB (16 blocks of 4 KiB
# before: 64 for these 4 MiB), a stream's first two reads smaller (one
# block, then 16: ext.c's io_read64), and a few of metadata.  The
# kernel's READs are asynchronous and may reach the helper out of order
# on a loaded machine: each 1 MiB READ may then begin a stream of its own
# (1 + 1 + 4 reads a MiB), 26 seen once in three runs at load 12, 22 in
# order.  Still well below the 35 of 128 KiB pieces.
((x <= 3 + 8)) || fail "reading 4 MiB took $x round trips (bound 11)"
((b <= 4 * 6 + 4)) || fail "reading 4 MiB took $b block reads (bound 28)"

say "find | xargs cat over $files files: about one round trip a file, no LOOKUP a file"
remount_imgfs "$S" "$M"
wait_until 10 [ "$(st imgfs_inside_helpers)" = 1 ] || fail "no spare helper after the mount"
l0=$(st imgfs_requests_total 'op="lookup"')
find "$F" -type f -print0 | xargs -0 cat >/dev/null
x=$(st imgfs_inside_exchanges_total) b=$(st imgfs_inside_block_reads_total)
lookups=$(($(st imgfs_requests_total 'op="lookup"') - l0))
echo "    $x round trips, $b block reads, $lookups lookups, $(st imgfs_inside_stat_hits_total) attributes kept"
# A read a file (each below 128 KiB), a listing page a directory, opening
# the volume: before the daemon kept the listings' attributes, each open
# asked the helper too (2 a file).
((x <= files + 2 * dirs + 5)) || fail "the walk took $x round trips for $files files (bound $((files + 2 * dirs + 5)))"
((b <= files / 2)) || fail "the walk took $b block reads for $files files (bound $((files / 2)))"
((lookups <= 8)) || fail "the walk sent $lookups LOOKUPs (readdirplus: the path to files/vda1 only)"
assert_eq 2 "$(st imgfs_inside_helper_starts_total)" "helpers started: the spare at mount and the next spare"
find "$F" -type f -print0 | xargs -0 cat >/dev/null
# (Every READ of a file inside asks the helper: none means the page cache
# served them, keep_cache; reading /stats is a READ too.)
assert_eq "$x" "$(st imgfs_inside_exchanges_total)" "round trips of a second walk (none)"
diff -r --exclude=lost+found "$src" "$F" || fail "files/vda1 differs from what went in"

say "100 images of small ext4 disks, ls -R files/ on all at once: at most 16 helpers and disks"
mkdir "$T/s"
truncate -s 2M "$T/s/mbr" # (an upload is sniffed: a raw disk has a partition table, §5.3)
printf 'label: dos\nstart=2048, size=2048, type=83\n' | sfdisk -q "$T/s/mbr"
for i in $(seq 1 100); do
    mkdir -p "$T/s/$i/etc"
    printf 'ID=img%d\n' "$i" >"$T/s/$i/etc/os-release"
    head -c $((1000 + i * 37)) /dev/urandom >"$T/s/$i/etc/id-$i"
    mke2fs -q -F -t ext4 -O ^has_journal -b 1024 -d "$T/s/$i" "$T/s/$i.img" 1024 || fail "mke2fs -d ($i)"
    cp "$T/s/mbr" "$T/s/$i.disk"
    dd if="$T/s/$i.img" of="$T/s/$i.disk" bs=512 seek=2048 conv=notrunc status=none
    mkdir "$P/i$i"
    cp "$T/s/$i.disk" "$P/i$i/disks/vda"
done
for i in $(seq 1 100); do imgfs_wait "$P/i$i" >/dev/null || fail "image i$i did not become available"; done
remount_imgfs "$S" "$M"
PID=$(_daemon_pid "$M")
ls -lR "$P" >/dev/null # the image directories themselves, before the baseline
IDLE_KIB=$(status_kib "$PID" VmHWM)
# The daemon's descriptors of a kind (socket, pipe), and its helper
# processes: each helper holds one socket and one pipe (its stderr) of
# the daemon's, and nothing else does once it is ended (issue 71: a
# helper's socket leaked went uncaught).
fds_of() { find "/proc/$PID/fd" -mindepth 1 -lname "$1:*" 2>/dev/null | wc -l; }
helpers_now() { pgrep -c -P "$PID" imgfs-inside || true; }
# sockets and pipes beyond one each per helper: the same before and after
# (read twice, a spare being started between its socket and its process)
beyond() {
    local h
    h=$(helpers_now)
    echo "$(($(fds_of socket) - h)) $(($(fds_of pipe) - h))"
}
steady_beyond() {
    local a b
    a=$(beyond) && nap 0.2 && b=$(beyond) && [[ "$a" == "$b" ]] && BEYOND0=$a
}
wait_for 30 steady_beyond || fail "the daemon's descriptors did not settle before the walk"
fds_match_helpers() { [[ "$(beyond)" == "$BEYOND0" ]]; }
pids=()
for i in $(seq 1 100); do
    ls -R "$P/i$i/files/" >"$T/ls.$i" 2>"$T/ls.$i.err" &
    pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
((failed == 0)) || { cat "$T"/ls.*.err | head >&2; fail "$failed of 100 parallel ls -R failed"; }
for i in $(seq 1 100); do
    grep -qx "id-$i" "$T/ls.$i" || fail "ls -R i$i/files/ does not list etc/id-$i"
done
peak=$(st imgfs_inside_helpers_peak)
echo "    helpers: at most $peak at once, $(st imgfs_inside_helper_starts_total) started; $(st imgfs_inside_disks) disks known"
((peak <= 16)) || fail "$peak helpers ran at once (bound 16)"
(($(st imgfs_inside_helpers) <= 16)) || fail "$(st imgfs_inside_helpers) helpers running after the walk"
(($(st imgfs_inside_disks) <= 16)) || fail "$(st imgfs_inside_disks) disks known (bound 16)"
(($(pgrep -c -P "$PID" imgfs-inside) <= 16)) || fail "more than 16 helper processes under the daemon"
wait_for 30 fds_match_helpers ||
    fail "sockets and pipes beyond one each per helper: $(beyond) after the walk, $BEYOND0 before ($(helpers_now) helpers, $(st imgfs_inside_helper_starts_total) started): an ended helper's descriptor leaked"
echo "    descriptors beyond one socket and one pipe per helper: $BEYOND0 before the walk, $(beyond) after"
# §12: files/ adds 20 B per data chunk of 16 disks (1 chunk each here), 2
# MiB per request inside (at most one per FUSE thread, 32) and 64 KiB of
# attributes per helper, on top of the fixed 128 MiB.
hwm=$(status_kib "$PID" VmHWM)
bound=$((128 * 1024 + 32 * 2048 + 16 * 64))
echo "    VmHWM $hwm KiB: $((hwm - IDLE_KIB)) KiB over the mount before the walk (bound $bound KiB)"
((hwm - IDLE_KIB <= bound)) || fail "the daemon's peak RSS grew by $((hwm - IDLE_KIB)) KiB (bound $bound KiB)"
assert_eq "ID=img77" "$(cat "$P/i77/files/vda1/etc/os-release")" "a file of one of them after the walk"

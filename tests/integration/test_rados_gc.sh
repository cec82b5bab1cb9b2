#!/usr/bin/env bash
# test_rados_gc: `imgfs admin gc` in cluster mode never removes a chunk a
# host is still writing (SPEC §13), whoever runs it and with whatever
# state directory: the protection is in the database (the writers table,
# model/meta/writer.c), not in the writing host's files.  Metadata in
# PostgreSQL (a throwaway server), region r1's chunks in a RADOS pool (the
# ceph fixture's cluster, or the test's own), in a namespace of this run's.
#   - gc with a grace shorter than the host lease is refused without
#     --force, naming the forms that work;
#   - host a uploads a QCOW2 with a writer that pauses in the middle of the
#     file (its first half streamed into the pool, named by no manifest);
#     meanwhile `gc --grace 0 --force` runs from another state directory:
#     it names the upload as a writer in progress and removes nothing; the
#     upload then completes `available` and reads back byte-exact;
#   - afterwards (no writer left) the same gc removes exactly the chunks of
#     an upload cancelled before and a cloud disk's chunk object that no
#     record names (put with the rados CLI: its header gone), and fsck is
#     clean;
#   - gc --dry-run (issue 24), before each gc, names the same writer and
#     counts exactly the chunks that gc then removes (their bytes from the
#     objects' stat), removing none;
#   - a disk that took a snapshot's chunks by copy_file_range (SPEC §16)
#     keeps them after the snapshot's image is destroyed (its destroy task
#     frees nothing the hold keeps) and gc runs from another state
#     directory (the hold in the database, not a's .ids file); once the
#     disk is detached, gc removes them.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
NS="gc$$x$RANDOM"
chmod 711 "$T" # the database server runs as the postgres user
pg_database URL
ceph_cluster CA "$T/ceph" imgfs-r1
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }
# gc as an operator on another machine would run it: another state directory.
mkdir "$T/state-gc"
gc_elsewhere() { "$IMGFS" admin --state "$T/state-gc" --db "$URL" gc "$@"; }
objects() { rados -c "$CA" -p imgfs-r1 -N "$NS" ls | grep -cE '^[0-9a-f]{32}$' || true; }
me=$(id -un)

say "a service in PostgreSQL, region r1 in a pool; host a mounts it"
admin init >/dev/null
admin region add r1 --store "rados:imgfs-r1,conf=$CA,ns=$NS" || fail "region add r1"
A="$T/mnt-a"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
R="$A/regions/r1"
admin quota set "$me" r1 private-images 10

say "an upload cancelled after 4 MiB were synced: its chunks are garbage"
head -c $((8 << 20)) /dev/urandom >"$T/junk.raw"
qemu-img convert -f raw -O qcow2 "$T/junk.raw" "$T/junk.qcow2"
before_junk=$(objects)
mkdir "$R/private/junk"
python3 - "$T/junk.qcow2" "$R/private/junk/disks/vda" "$R/private/junk/cancel" <<'EOF' || fail "the cancelled upload"
import os, sys
data = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data[:4 << 20])
os.fsync(fd)               # the streamed chunks are in the pool
with open(sys.argv[3], "w") as c:
    c.write("\n")
os.close(fd)
EOF
junk=$(($(objects) - before_junk))
((junk > 0)) || fail "the cancelled upload left no object"
assert_eq error "$(cat "$R/private/junk/status")" "the cancelled upload's status"
echo "    $junk objects of a cancelled upload"

say "gc --grace 0 without --force: refused before anything is touched, naming the forms that work"
if gc_elsewhere --grace 0 >"$T/gc.out" 2>&1; then cat "$T/gc.out" >&2; fail "gc --grace 0 ran without --force"; fi
grep -q 'EINVAL.*shorter than the host lease.*gc --grace 30.*--force' "$T/gc.out" || { cat "$T/gc.out" >&2; fail "the refusal's message"; }
assert_eq "$((before_junk + junk))" "$(objects)" "objects after the refused gc"

say "host a uploads with a writer that pauses mid-file; gc --grace 0 --force from elsewhere meanwhile"
head -c $((48 << 20)) /dev/urandom >"$T/slow.raw"
qemu-img convert -f raw -O qcow2 "$T/slow.raw" "$T/slow.qcow2"
mkdir "$R/private/slow"
python3 - "$T/slow.qcow2" "$R/private/slow/disks/vda" "$T/paused" "$T/go" <<'EOF' &
import os, sys, time
src, dst, paused, go = sys.argv[1:]
data = open(src, "rb").read()
half = (len(data) // 2) & ~((1 << 20) - 1)
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for off in range(0, half, 1 << 20):
    os.pwrite(fd, data[off:off + (1 << 20)], off)
open(paused, "w").close()
while not os.path.exists(go):   # bounded by the test's wait below
    time.sleep(0.05)
for off in range(half, len(data), 1 << 20):
    os.pwrite(fd, data[off:off + (1 << 20)], off)
os.close(fd)
EOF
writer=$!
paused_or_gone() { [[ -e "$T/paused" ]] || ! kill -0 "$writer" 2>/dev/null; }
wait_for 60 paused_or_gone && [[ -e "$T/paused" ]] || fail "the writer never reached the middle of the file"
streamed=$(objects)
((streamed > before_junk + junk)) || fail "the first half of the upload is not in the pool yet"
gc_elsewhere --grace 0 --force --dry-run >"$T/plan.out" 2>&1 || { cat "$T/plan.out" >&2; fail "gc --dry-run"; }
grep -q '^region r1: upload (task [0-9]*) on host a writing since .*: its chunks kept$' "$T/plan.out" ||
    { cat "$T/plan.out" >&2; fail "gc --dry-run does not name the upload in progress"; }
assert_eq "r1: would remove 0 chunks (0 bytes)" "$(grep '^r1:' "$T/plan.out")" "gc --dry-run during the upload"
gc_elsewhere --grace 0 --force >"$T/gc.out" 2>&1 || { cat "$T/gc.out" >&2; fail "gc --grace 0 --force"; }
cat "$T/gc.out" | sed 's/^/    /'
grep -q '^region r1: upload (task [0-9]*) on host a writing since .*: its chunks kept$' "$T/gc.out" ||
    fail "gc does not name the upload in progress"
assert_eq "removed 0 chunks" "$(tail -n1 "$T/gc.out")" "gc during the upload"
assert_eq "$streamed" "$(objects)" "objects after gc during the upload"
touch "$T/go"
wait "$writer" || fail "the writer failed"
imgfs_wait "$R/private/slow" >/dev/null 2>&1 || fail "the upload: $(cat "$R/private/slow/error")"
assert_eq available "$(cat "$R/private/slow/status")" "the upload's status"
cmp "$R/private/slow/disks/vda" "$T/slow.qcow2" || fail "the upload reads back other bytes"

say "no writer left: gc --dry-run counts the destroyed image's chunks and a cloud disk's leftover, removes none; gc removes them; fsck clean"
# A crash's leftover (SPEC §13 "what is removed when"): chunk 3's object
# of a cloud disk whose header is gone (a removal killed half-way).
leftover() { rados -c "$CA" -p imgfs-r1 -N "$NS" stat wb.c999999.00000003 >/dev/null 2>&1; }
printf 'a killed write' >"$T/leftover"
rados -c "$CA" -p imgfs-r1 -N "$NS" put wb.c999999.00000003 "$T/leftover" || fail "rados put"
# gc --grace 0 keeps what changed in the current second: let it pass.
made=$(date +%s)
later() { (($(date +%s) > made)); }
wait_for 5 later || fail "the clock did not move"
before_plan=$(objects)
gc_elsewhere --grace 0 --force --dry-run >"$T/plan.out" 2>&1 || { cat "$T/plan.out" >&2; fail "gc --dry-run"; }
sed 's/^/    /' "$T/plan.out"
assert_match "r1: would remove $((junk + 1)) chunks \\(([0-9]+) bytes\\)" "$(grep '^r1:' "$T/plan.out")" "gc --dry-run after the upload"
planned=$(sed -n 's/^r1: would remove [0-9]* chunks (\([0-9]*\) bytes)$/\1/p' "$T/plan.out")
((planned > 14 && planned <= junk * 1048576 + 14)) || fail "gc --dry-run's bytes: $planned for $junk chunks and 14 bytes"
assert_eq "$before_plan" "$(objects)" "objects after gc --dry-run"
leftover || fail "gc --dry-run removed the cloud disk's leftover"
gc_elsewhere --grace 0 --force >"$T/gc.out" 2>&1 || { cat "$T/gc.out" >&2; fail "gc after the upload"; }
grep -q 'writing since' "$T/gc.out" && { cat "$T/gc.out" >&2; fail "a writer is still recorded"; }
assert_eq "removed $((junk + 1)) chunks" "$(tail -n1 "$T/gc.out")" "gc after the upload"
leftover && fail "gc kept the cloud disk's leftover"
cmp "$R/private/slow/disks/vda" "$T/slow.qcow2" || fail "the upload after gc"
admin fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck"; }

say "a disk that took a snapshot's chunks by reference keeps them when the snapshot goes and gc runs elsewhere"
# SPEC §16, §13: the disk's .ids file naming the shared chunks is host a's
# alone; the hold (blob_holds) keeps the snapshot's blob row, so a gc from
# another state directory still finds them named by a manifest.
admin quota set "$me" r1 snapshots 20
new_vm "$R/instances/vm1" "$R/instances/vm2"
truncate -s $((6 << 20)) "$R/instances/vm1/disks/vdb"
write_random "$R/instances/vm1/disks/vdb" 0 6 "$T/vdb.ref"
mkdir "$R/private/snapimg"
capture "$R/private/snapimg" vm1 vdb
snap=$(devmap_ref "$R/private/snapimg" vdb)
rm "$R/instances/vm1/disks/vdb"
s0=$(stat_of "$A" imgfs_shared_bytes_total)
cp "$R/snapshots/$snap/data" "$R/instances/vm2/disks/vdb"
assert_eq $((6 << 20)) $(($(stat_of "$A" imgfs_shared_bytes_total) - s0)) "bytes taken by reference"
rmdir "$R/private/snapimg" && rmdir "$R/recycle-bin/snapimg" || fail "destroying snapimg"
gone() { [[ ! -e "$R/recycle-bin/snapimg" ]]; }
wait_for 30 gone || fail "snapimg still $(cat "$R/recycle-bin/snapimg/status") after 30 s"
[[ ! -e "$R/snapshots/$snap" ]] || fail "snapshot $snap outlived its image"
before_hold=$(objects)
# gc --grace 0 keeps what was stamped in the current second: let it pass.
made=$(date +%s)
later() { (($(date +%s) > made)); }
wait_for 5 later || fail "the clock did not move"
gc_elsewhere --grace 0 --force >"$T/gc.out" 2>&1 || { cat "$T/gc.out" >&2; fail "gc with the hold"; }
assert_eq "$before_hold" "$(objects)" "objects after gc elsewhere (the disk holds the snapshot's chunks)"
echo 3 >/proc/sys/vm/drop_caches
cmp "$R/instances/vm2/disks/vdb" "$T/vdb.ref" || fail "vm2's vdb after the snapshot went and gc ran"
say "the disk detached: the hold goes with it, and gc removes the chunks"
rm "$R/instances/vm2/disks/vdb"
gc_elsewhere --grace 0 --force >"$T/gc.out" 2>&1 || { cat "$T/gc.out" >&2; fail "gc after the detach"; }
(($(objects) <= before_hold - 6)) || fail "gc kept the chunks of the detached disk: $before_hold -> $(objects) objects"
admin fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after the detach"; }
say "done"

#!/usr/bin/env bash
# test_rados_full: a full pool is ENOSPC at once, and deleting frees it
# (SPEC §13 "A full pool", §9; issue 49, stop 55).  A one-node cluster of
# the test's own (its OSD is made full with its `injectfull` command, which
# would stop every other test's writes in a shared cluster), a service in
# PostgreSQL (cloud disks live in the cluster when the metadata is shared)
# with one region in it, one mount:
#   - with the pool full, a write into a cloud disk, whole chunks or 4 KiB
#     into a chunk never written, is ENOSPC ("No space left on device") from the
#     write or its fsync: never EIO after the operation timeout's tries
#     (before, librados held every write to a full pool until it timed
#     out); what was fsync'ed before reads back exactly;
#   - an upload of new bytes fails with ENOSPC, and its image's error says
#     so (an upload's write answered before it was stored, cut short by the
#     store, once said EIO);
#   - a capture of the cloud disk, which must store its chunk of its own
#     (a 4 KiB write) as a chunk, ends in error, "capture failed: storing
#     vdb: No space left on device" (a verdict, as on a full dir: store),
#     the disk untouched;
#   - deleting frees space while the pool is full: an image removed and
#     purged, then `imgfs admin gc --grace 0 --force`, removes its chunk
#     objects; a stopped instance's cloud disk removed (`rm`) removes its
#     objects at once (before, each removal was held too: nothing could be
#     freed);
#   - once the OSD is not full, the same mount uploads and writes again.
# Cost: a cluster of its own (about 8 s) and a few seconds.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

NS="fu$$x$RANDOM"

say "a cluster of the test's own, a service in PostgreSQL with region rx in it"
ceph_own C imgfs-full
ASOK="$T/ceph/osd.0.asok"
S="$T/state" M="$T/mnt"
pg_service "$S" rx "rados:imgfs-full,conf=$C,ns=$NS"
mount_imgfs "$S" "$M" "db=$URL"
R="$M/regions/rx"
objs() { rados -c "$C" -p imgfs-full -N "$NS" ls | LC_ALL=C sort; }
chunks() { objs | grep -E '^[0-9a-f]{32}$' || true; }

# pool_full: whether the OSD map marks the pool full.
pool_full() { ceph -c "$C" osd dump 2>/dev/null | grep -q "^pool .*'imgfs-full'.* flags [a-z,]*full"; }
set_full() { # full|none
    ceph --admin-daemon "$ASOK" injectfull "$1" >/dev/null || fail "injectfull $1"
    if [[ $1 == full ]]; then
        wait_until 30 pool_full || fail "the pool is not marked full 30 s after injectfull"
    else
        wait_until 30 eval '! pool_full' || fail "the pool is still marked full 30 s after injectfull none"
    fi
}

say "before: an image a uploaded, an instance's cloud disk written and fsync'ed"
head -c $((8 << 20)) /dev/urandom >"$T/a.raw"
qemu-img convert -f raw -O qcow2 "$T/a.raw" "$T/a.qcow2"
chunks >"$T/chunks.0"
mkdir "$R/private/a"
cp "$T/a.qcow2" "$R/private/a/disks/vda" || fail "upload a"
imgfs_wait "$R/private/a" >/dev/null || fail "upload a: $(cat "$R/private/a/error")"
chunks | LC_ALL=C comm -13 "$T/chunks.0" - >"$T/chunks.a"
(($(wc -l <"$T/chunks.a") >= 8)) || fail "upload a stored $(wc -l <"$T/chunks.a") chunk objects"
V="$R/instances/vm"
mkdir "$V"
truncate -s 64M "$V/disks/vdb"
echo start >"$V/status"
head -c $((4 << 20)) /dev/urandom >"$T/vdb.head"
dd if="$T/vdb.head" of="$V/disks/vdb" conv=notrunc,fsync status=none || fail "the cloud disk's first write"
# 4 KiB into a chunk of its own: a capture stores it as a new chunk.
dd if="$T/vdb.head" of="$V/disks/vdb" bs=4k count=1 seek=$(((8 << 20) / 4096 + 1)) conv=notrunc,fsync status=none ||
    fail "the cloud disk's 4 KiB write"
objs | grep '^wb\.' >"$T/disk.objs" || fail "the cloud disk has no object of its own"

say "the pool full: cloud disk writes are ENOSPC, never EIO"
set_full full
# err CMD...: runs CMD, prints its standard error (it must fail).
err() { if "$@" 2>"$T/err"; then fail "$* succeeded on a full pool"; fi; cat "$T/err"; }
head -c $((2 << 20)) /dev/urandom >"$T/two"
out=$(err dd if="$T/two" of="$V/disks/vdb" bs=1M seek=16 conv=notrunc,fsync status=none)
[[ $out == *"No space left on device"* ]] || fail "whole chunks into the cloud disk on a full pool: $out"
# 4 KiB into a chunk never written (into one the pool holds it may land:
# Ceph lets through a write that does not grow the pool).
out=$(err dd if="$T/two" of="$V/disks/vdb" bs=4k count=1 seek=$(((40 << 20) / 4096 + 1)) conv=notrunc,fsync status=none)
[[ $out == *"No space left on device"* ]] || fail "4 KiB into a chunk of the cloud disk on a full pool: $out"
cmp -n $((4 << 20)) "$T/vdb.head" "$V/disks/vdb" || fail "the cloud disk's fsync'ed bytes after the refusals"

say "the pool full: an upload of new bytes is ENOSPC, and its error says so"
head -c $((32 << 20)) /dev/urandom >"$T/b.raw"
qemu-img convert -f raw -O qcow2 "$T/b.raw" "$T/b.qcow2"
mkdir "$R/private/b"
out=$(err cp "$T/b.qcow2" "$R/private/b/disks/vda")
[[ $out == *"No space left on device"* ]] || fail "the upload on a full pool: $out"
# The close answered, the upload's end is recorded at the release, which
# the kernel sends after it.
is_error() { [[ $(cat "$R/private/b/status") == error ]]; }
wait_for 10 is_error || fail "the refused upload's status: $(cat "$R/private/b/status")"
assert_eq "upload failed: storing the file: No space left on device" "$(cat "$R/private/b/error")" \
    "the refused upload's error"

say "the pool full: a capture that must store a chunk ends in error, storing"
echo stop >"$V/status"
mkdir "$R/private/cap"
echo "instance vm vdb" >"$R/private/cap/source"
if imgfs_wait "$R/private/cap" >/dev/null 2>&1; then fail "a capture that needed a new chunk was made on a full pool"; fi
assert_eq error "$(cat "$R/private/cap/status")" "the capture's status on a full pool"
assert_eq "capture failed: storing vdb: No space left on device" "$(cat "$R/private/cap/error")" \
    "the capture's error on a full pool"
cmp -n $((4 << 20)) "$T/vdb.head" "$V/disks/vdb" || fail "the cloud disk's bytes after the failed capture"

say "the pool full: deleting frees space (an image purged and gc'ed, a cloud disk removed)"
rmdir "$R/private/a" "$R/private/b" || fail "rmdir of a and b on a full pool"
rmdir "$R/recycle-bin/a" "$R/recycle-bin/b" || fail "the purge of a and b on a full pool"
mkdir "$T/state-gc"
"$IMGFS" admin --state "$T/state-gc" --db "$URL" gc --grace 0 --force >"$T/gc.out" 2>&1 ||
    { cat "$T/gc.out" >&2; fail "gc on a full pool"; }
left=$(chunks | LC_ALL=C comm -12 "$T/chunks.a" - | wc -l)
assert_eq 0 "$left" "a's chunk objects left after gc on a full pool ($(cat "$T/gc.out"))"
rm "$V/disks/vdb" || fail "rm of the stopped instance's cloud disk on a full pool"
left=$(objs | LC_ALL=C comm -12 "$T/disk.objs" - | wc -l)
assert_eq 0 "$left" "the cloud disk's objects left after its rm on a full pool"
pool_full || fail "the pool stopped being full during the deletions: they proved nothing"

say "the OSD not full: the same mount uploads and writes again"
set_full none
mkdir "$R/private/c"
cp "$T/b.qcow2" "$R/private/c/disks/vda" || fail "upload c once the pool is not full"
imgfs_wait "$R/private/c" >/dev/null || fail "upload c: $(cat "$R/private/c/error")"
cmp "$T/b.qcow2" "$R/private/c/disks/vda" || fail "c's bytes"
truncate -s 8M "$V/disks/vdc"
dd if="$T/two" of="$V/disks/vdc" conv=notrunc,fsync status=none || fail "a cloud disk write once the pool is not full"
cmp "$T/two" "$V/disks/vdc" -n $((2 << 20)) || fail "vdc's bytes"
say "ok"

#!/usr/bin/env bash
# test_shared_dir_disks: SPEC §13 "An instance moves" and "What holds on a
# `dir:` store" (issue 49) — one service in PostgreSQL (a throwaway
# server), hosts a and b (lease 3 s), region r1 whose store is `dir:` on a
# directory both mounts use (as a shared path does for hosts on several
# machines).
#   - a cloud instance made on a (vda cloud, data disk vdb); random bytes
#     written at scattered, unaligned offsets of both disks through a's
#     mount, each file fsync'ed;
#   - stopped on a, started through b's mount: its host is b, a's start is
#     EREMOTE while it runs on b, and every byte reads back through b;
#   - more bytes written and fsync'ed on b, b's daemon killed (kill -9),
#     its lease lapsed, `host remove b`: started through a, its host is a,
#     every acknowledged byte reads back through a;
#   - neither host's state directory holds the disks' files; fsck clean.
# About 15 s.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

chmod 711 "$T" # the database server runs as the postgres user
pg_database URL
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }

# scatter DISK REF SEED N: N writes of random bytes (1 B to 3 MiB, at
# offsets anywhere in DISK, unaligned) into DISK and the same into REF (a
# file of DISK's size), then fsync of DISK; prints the bytes written.
scatter() {
    python3 - "$@" <<'PY'
import os, random, sys
disk, ref, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
size = os.stat(disk).st_size
fd, rf = os.open(disk, os.O_RDWR), os.open(ref, os.O_RDWR)
total = 0
for k in range(n):
    ln = rnd.choice([1, 511, 4096, 65537, 1 << 20, 3 << 20])
    off = rnd.randrange(0, size - ln)
    data = os.urandom(ln)
    if os.pwrite(fd, data, off) != ln:
        sys.exit("short write at %d" % off)
    os.pwrite(rf, data, off)
    total += ln
os.fsync(fd)
os.close(fd)
os.close(rf)
print(total)
PY
}

# same DISK REF: every byte of DISK is REF's (cmp reads the whole disk).
same() { cmp "$1" "$2" >"$T/cmp.out" 2>&1 || fail "$1 differs from what was written: $(cat "$T/cmp.out")"; }

say "a service in PostgreSQL; r1's store dir: on one path both hosts use; hosts a and b"
admin init >/dev/null
mkdir "$T/shared"
admin region add r1 --store "dir:$T/shared" || fail "region add r1 --store dir:"
admin lease 3
A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
mount_imgfs "$T/state-b" "$B" "db=$URL,host=b"
RA="$A/regions/r1" RB="$B/regions/r1"

say "on a: a cloud instance (vda 64 MiB, vdb 32 MiB), random bytes at scattered offsets, fsync"
mkdir "$RA/instances/vm"
echo 64M >"$RA/instances/vm/system-disk-size"
echo cloud >"$RA/instances/vm/system-disk" || fail "system-disk cloud: $(tail -n1 "$A/errors")"
truncate -s 32M "$RA/instances/vm/disks/vdb" || fail "the data disk vdb"
echo start >"$RA/instances/vm/status" || fail "start on a: $(tail -n1 "$A/errors")"
truncate -s 64M "$T/ref-vda"
truncate -s 32M "$T/ref-vdb"
n=$(scatter "$RA/instances/vm/disks/vda" "$T/ref-vda" 1 12) || fail "the writes into vda on a"
m=$(scatter "$RA/instances/vm/disks/vdb" "$T/ref-vdb" 2 8) || fail "the writes into vdb on a"
echo "    $n bytes into vda, $m into vdb"
same "$RA/instances/vm/disks/vda" "$T/ref-vda"

say "stopped on a, started through b: its host is b, every byte reads back there"
echo stop >"$RA/instances/vm/status" || fail "stop on a"
echo start >"$RB/instances/vm/status" || fail "start through b of the instance stopped on a: $(tail -n1 "$B/errors")"
assert_eq b "$(cat "$RB/instances/vm/host")" "vm's host after the move, seen from b"
assert_eq running "$(cat "$RB/instances/vm/status")" "vm's status on b"
wait_eq 5 b cat "$RA/instances/vm/host" || fail "a sees vm on $(cat "$RA/instances/vm/host")"
assert_errno EREMOTE write "$RA/instances/vm/status" start
assert_errno EREMOTE open "$RA/instances/vm/disks/vda" rdonly
same "$RB/instances/vm/disks/vda" "$T/ref-vda"
same "$RB/instances/vm/disks/vdb" "$T/ref-vdb"
grep -qF "moved from host a to host b" "$T/state-b/imgfs.log" || fail "no move in b's log: $(tail -n3 "$T/state-b/imgfs.log")"

say "written and fsync'ed on b, b killed (kill -9), its lease lapsed, host b removed"
scatter "$RB/instances/vm/disks/vda" "$T/ref-vda" 3 12 >/dev/null || fail "the writes into vda on b"
scatter "$RB/instances/vm/disks/vdb" "$T/ref-vdb" 4 8 >/dev/null || fail "the writes into vdb on b"
kill_imgfs "$B"
wait_until 10 admin host remove b 2>/dev/null || fail "host remove b after its lease lapsed"

say "started through a: its host is a, every acknowledged byte reads back"
echo start >"$RA/instances/vm/status" || fail "start through a of removed b's instance: $(tail -n1 "$A/errors")"
assert_eq a "$(cat "$RA/instances/vm/host")" "vm's host after the second move"
assert_eq running "$(cat "$RA/instances/vm/status")" "vm's status on a"
same "$RA/instances/vm/disks/vda" "$T/ref-vda"
same "$RA/instances/vm/disks/vdb" "$T/ref-vdb"
grep -qF "moved from host b (removed) to host a" "$T/state-a/imgfs.log" || fail "no move in a's log: $(tail -n3 "$T/state-a/imgfs.log")"

say "the disks' files are in the shared store, not in a host's state; fsck clean"
assert_eq 2 "$(find "$T/shared/wblobs" -name '*.data' | wc -l)" "the disks' data files in the shared store (vda, vdb)"
find "$T/state-a" "$T/state-b" -path '*/wblobs/*' >"$T/state-files"
[[ -s "$T/state-files" ]] && { cat "$T/state-files" >&2; fail "a disk's file in a host's state directory"; }
echo stop >"$RA/instances/vm/status"
admin fsck >"$T/fsck.out" 2>&1 || { tail -n 5 "$T/fsck.out" >&2; fail "fsck"; }
assert_eq "0 problems" "$(tail -n 1 "$T/fsck.out")" "fsck"
say "done"

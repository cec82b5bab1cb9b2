#!/usr/bin/env bash
# test_rados_cloud_disks: SPEC §2.4 and §13, cloud disks live in the
# cluster (issue 49) — one service in PostgreSQL, region r1's store in a
# RADOS pool, three hosts (mounts -o host=a, b, c; lease 3 s).
#   - on c: a cloud instance (its vda, made local at mkdir, moves to the
#     cluster when system-disk says cloud; its data disk vdb is made
#     there) and a local one; c's state directory holds nothing of the
#     cloud disks;
#   - a start through a while it runs on c: EREMOTE;
#   - a writer on c (O_DSYNC: each write durable at its return), its
#     every acknowledged block recorded, then c's daemon killed (kill -9)
#     mid-writes, its lease lapsed, `host remove
#     c`: the cloud instance starts on a (its host then a) and every
#     acknowledged block reads back there, on both disks; the local one
#     says in status that its system disk was on c, its start and its
#     disk's open are EIO with that reason, and it can be removed;
#   - fencing: an instance running on b with a writer on b, b's daemon
#     paused (SIGSTOP) past its lease, removed, the instance started on a;
#     b resumed: its writer's next write is EIO and no byte of it lands
#     (a reads what a wrote there); b's own state shows the instance on a;
#   - a stopped instance on a live host moves the same way, the old host's
#     open writer fenced; a capture of the moved disk on a reads back;
#   - cp, dd and cat of a capture onto cloud disks add no object to the pool
#     (a whole chunk the store holds is taken by reference);
#   - small reads of stored, patched and overlay chunks answered by the
#     cluster's thread (counted), exact bytes;
#   - kill -9 of a host with small O_DIRECT writes in flight (most
#     answered by the cluster's thread): on the next host every
#     acknowledged block reads back, every other block is old or new;
#   - fsck clean.
# About 60 s.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

NS="cd$$x$RANDOM"
chmod 711 "$T" # the database server runs as the postgres user
pg_database URL
ceph_cluster CA "$T/ceph" imgfs-r1
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }
me=$(id -un)

# in_log TEXT STATE: the log of the mount of STATE has a line with TEXT.
in_log() { grep -qF -- "$1" "$2/imgfs.log" || { tail -n 5 "$2/imgfs.log" >&2; fail "no \"$1\" in $2/imgfs.log"; }; }

# writer DISK BLOCKS FIRST ACKS [dsync]: writes BLOCKS blocks of 1 MiB
# (every third one 4 KiB into its block instead) at blocks FIRST, FIRST+1,
# ... of DISK, each a pattern of (block, its number), appending "block
# length" to ACKS once write() returned; stops at the first failure.
# Opened O_DSYNC with "dsync": each write is durable when it returns (SPEC
# §11); without, a whole block is answered once in flight and durable at
# the close (stop 48).
writer() {
    python3 - "$@" <<'EOF'
import os, sys
disk, n, first, acks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
fd = os.open(disk, os.O_RDWR | (os.O_DSYNC if sys.argv[5:] == ["dsync"] else 0))
log = open(acks, "a", buffering=1)
for k in range(n):
    blk = first + k
    ln = 4096 if k % 3 == 2 else 1 << 20
    data = b"".join(bytes([(blk * 7 + j + 1) % 251 + 1]) * 4096 for j in range(ln // 4096))
    try:
        os.pwrite(fd, data, blk << 20)
    except OSError as e:
        print("writer: %s" % os.strerror(e.errno), file=sys.stderr)
        break
    log.write("%d %d\n" % (blk, ln))
EOF
}

# check_acks DISK ACKS: every block ACKS lists reads back with its pattern.
check_acks() {
    python3 - "$@" <<'EOF'
import os, sys
disk, acks = sys.argv[1], sys.argv[2]
fd = os.open(disk, os.O_RDONLY)
n = 0
for line in open(acks):
    blk, ln = map(int, line.split())
    want = b"".join(bytes([(blk * 7 + j + 1) % 251 + 1]) * 4096 for j in range(ln // 4096))
    got = os.pread(fd, ln, blk << 20)
    if got != want:
        sys.exit("block %d (%d bytes): not what was acknowledged" % (blk, ln))
    n += 1
print(n)
EOF
}

say "a service in PostgreSQL, r1's chunks and cloud disks in a pool; hosts a, b, c"
admin init >/dev/null
admin region add r1 --store "rados:imgfs-r1,conf=$CA,ns=$NS" || fail "region add r1"
admin lease 3
A="$T/mnt-a" B="$T/mnt-b" C="$T/mnt-c"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
mount_imgfs "$T/state-b" "$B" "db=$URL,host=b"
mount_imgfs "$T/state-c" "$C" "db=$URL,host=c"
RA="$A/regions/r1" RB="$B/regions/r1" RC="$C/regions/r1"
admin quota set "$me" r1 private-images 10

say "on c: a cloud instance (vda, vdb) and a local one; nothing of the cloud disks in c's state"
mkdir "$RC/instances/vm" "$RC/instances/loc"
echo 256M >"$RC/instances/vm/system-disk-size"
echo cloud >"$RC/instances/vm/system-disk"
truncate -s 64M "$RC/instances/vm/disks/vdb"
write_random "$RC/instances/loc/disks/vda" 0 2
echo start >"$RC/instances/vm/status"
echo start >"$RC/instances/loc/status"
ls "$T/state-c/regions/r1/wblobs/" >"$T/c-files"
grep -q '^c' "$T/c-files" && { cat "$T/c-files" >&2; fail "a cloud disk's file in c's state"; }
assert_eq 1 "$(grep -c '\.map$' "$T/c-files")" "writable blobs in c's state (the local vda)"
assert_errno EREMOTE write "$RA/instances/vm/status" start
assert_errno EREMOTE open "$RA/instances/vm/disks/vda" rdonly

say "a writer on c, c killed mid-writes, its lease lapsed, host c removed"
# vda's writer is killed with the daemon, so each of its writes must be
# durable at once (O_DSYNC); vdb's closes just before the kill: its whole
# blocks, answered once in flight, are durable at that close.
writer "$RC/instances/vm/disks/vda" 100000 0 "$T/acks-vda" dsync 2>/dev/null &
wpid=$!
acks_at_least() { [[ -s "$1" ]] && (($(wc -l <"$1") >= $2)); }
wait_until 20 acks_at_least "$T/acks-vda" 12 || fail "the writer on c wrote too little"
writer "$RC/instances/vm/disks/vdb" 20 0 "$T/acks-vdb" || fail "the writer on vdb"
kill_imgfs "$C"
wait "$wpid" || true
acked=$(wc -l <"$T/acks-vda")
echo "    $acked writes acknowledged on c before its kill"
((acked > 3)) || fail "too few writes before the kill"
admin host remove c >"$T/out" 2>&1 && fail "host remove c while its lease is current: $(cat "$T/out")"
wait_until 10 admin host remove c 2>/dev/null || fail "host remove c after its lease lapsed"

say "the cloud instance starts on a, its host then a: every acknowledged write reads back"
echo start >"$RA/instances/vm/status" || fail "start on a of c's instance: $(tail -n1 "$A/errors")"
assert_eq a "$(cat "$RA/instances/vm/host")" "vm's host after the move"
assert_eq running "$(cat "$RA/instances/vm/status")" "vm's status after the move"
assert_eq "$acked" "$(check_acks "$RA/instances/vm/disks/vda" "$T/acks-vda")" "acknowledged writes of vda on a"
assert_eq 20 "$(check_acks "$RA/instances/vm/disks/vdb" "$T/acks-vdb")" "acknowledged writes of vdb on a"
in_log "moved from host c (removed) to host a" "$T/state-a"

say "the local instance says its system disk was on c; its start and its disk are EIO, it can go"
assert_eq "lost: its local system disk was on host c, which was removed" "$(cat "$RA/instances/loc/status")" \
    "loc's status"
assert_errno EIO write "$RA/instances/loc/status" start
assert_errno EIO open "$RA/instances/loc/disks/vda" rdonly
grep -q 'its local system disk was on host c, which was removed' "$A/errors" || fail "the reason in /errors"
assert_eq $((256 << 20)) "$(stat -c %s "$RB/instances/vm/disks/vda")" "vm/vda's size on b"
echo stop >"$RA/instances/loc/status" || fail "stopping the lost instance"
rmdir "$RA/instances/loc" || fail "removing the lost instance"

say "fencing: b paused past its lease with a writer on its instance; the instance moved to a; b resumed"
mkdir "$RB/instances/vm2"
echo 64M >"$RB/instances/vm2/system-disk-size"
echo cloud >"$RB/instances/vm2/system-disk"
echo start >"$RB/instances/vm2/status"
python3 - "$RB/instances/vm2/disks/vda" "$T/go" "$T/late" <<'EOF' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, b"B" * 4096, 0)
os.fsync(fd)
open(sys.argv[3] + ".ready", "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
try:
    os.pwrite(fd, b"L" * 4096, 1 << 20)
    out = "OK"
except OSError as e:
    out = __import__("errno").errorcode[e.errno]
open(sys.argv[3], "w").write(out + "\n")
EOF
lpid=$!
wait_for 10 test -e "$T/late.ready" || fail "b's writer did not start"
bpid=${_MOUNT_PID[$B]}
at_exit "kill -CONT $bpid 2>/dev/null"
stop_outside_write "$bpid" "$URL"
wait_until 10 admin host remove b 2>/dev/null || { kill -CONT "$bpid"; fail "host remove b after its lease lapsed"; }
echo start >"$RA/instances/vm2/status" || { kill -CONT "$bpid"; fail "start of vm2 on a"; }
assert_eq a "$(cat "$RA/instances/vm2/host")" "vm2's host after the move"
printf 'A%.0s' $(seq 4096) | dd of="$RA/instances/vm2/disks/vda" bs=4096 seek=512 conv=notrunc,fsync status=none
touch "$T/go"
kill -CONT "$bpid"
wait_for 20 test -s "$T/late" || fail "b's writer never answered"
assert_eq EIO "$(cat "$T/late")" "b's late write after the move"
wait "$lpid" || true
assert_eq "$(head -c 4096 /dev/zero | md5sum)" "$(dd if="$RA/instances/vm2/disks/vda" bs=4096 skip=256 count=1 status=none | md5sum)" \
    "the block b tried to write, read on a"
assert_eq "$(printf 'B%.0s' $(seq 4096) | md5sum)" "$(head -c 4096 "$RA/instances/vm2/disks/vda" | md5sum)" \
    "b's acknowledged write before the pause, read on a"
in_log "fenced its last writer" "$T/state-a"
in_log "was fenced" "$T/state-b"
wait_eq 5 a cat "$RB/instances/vm2/host" || fail "b sees vm2 on $(cat "$RB/instances/vm2/host")"
assert_errno EREMOTE open "$RB/instances/vm2/disks/vda" rdonly

say "a stopped instance on a live host moves; the old host's open writer is fenced; a capture reads back"
echo stop >"$RA/instances/vm2/status"
exec {fd}<>"$RA/instances/vm2/disks/vda"
echo start >"$RB/instances/vm2/status" || fail "start of vm2 on b (stopped on a)"
assert_eq b "$(cat "$RB/instances/vm2/host")" "vm2's host after the second move"
late=$(python3 -c "
import errno, os
try:
    os.pwrite($fd, b'x', 0)
    print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])")
exec {fd}>&-
assert_eq EIO "$late" "a's open writer's write after the move"
assert_errno EREMOTE pwrite "$RA/instances/vm2/disks/vda" 0 x
head -c 8M /dev/urandom | dd of="$RB/instances/vm2/disks/vda" bs=1M seek=16 conv=notrunc,fsync status=none
echo stop >"$RB/instances/vm2/status"
mkdir "$RB/private/img2"
echo "instance vm2" >"$RB/private/img2/source"
imgfs_wait "$RB/private/img2" >/dev/null || fail "capture of vm2 on b: $(cat "$RB/private/img2/error")"
cmp "$RB/private/img2/disks/vda" "$RB/instances/vm2/disks/vda" || fail "the capture of the moved disk"

say "cp, dd and cat of the capture onto cloud disks store no byte the pool has (objects counted)"
# chunks: the pool's chunk objects (32 hex digits); parts: cluster disks'
# chunk objects (wb.NAME.IIIIIIII), bytes a disk holds outside the store.
count_objs() { rados -c "$CA" -p imgfs-r1 -N "$NS" ls | grep -cE "$1" || true; }
chunks0=$(count_objs '^[0-9a-f]{32}$') parts0=$(count_objs '^wb\..*\.[0-9a-f]{8}$')
((chunks0 >= 8)) || fail "the pool holds $chunks0 chunks: not the capture's 8 MiB"
src="$RB/private/img2/disks/vda"
cp --sparse=always "$src" "$RB/instances/vm2/disks/vdc"
dd if="$src" of="$RB/instances/vm2/disks/vdd" bs=1M conv=fsync status=none
cat "$src" >"$RB/instances/vm2/disks/vde"
sync "$RB/instances/vm2/disks/vdc" "$RB/instances/vm2/disks/vde"
for v in vdc vdd vde; do cmp "$src" "$RB/instances/vm2/disks/$v" || fail "$v is not the capture"; done
assert_eq "$chunks0 $parts0" "$(count_objs '^[0-9a-f]{32}$') $(count_objs '^wb\..*\.[0-9a-f]{8}$')" \
    "the pool's chunk objects and disk part objects after three copies of the capture"

say "small reads answered by the cluster's thread (SPEC §12): stored, patched and overlay chunks, exact bytes"
# vm3 on a: vda dd-written (stored chunks), 4 KiB written into its chunk 2
# (patched) and into vdb's chunk 1 (an overlay).  Each chunk read once
# first (a stored one's digests come with that read, a patched one's
# marks), then 60 O_DIRECT
# reads of 4 KiB, 1 KiB and 64 KiB (the bound) inside chunks: each
# answered by the cluster's thread (counted), with the bytes written.
# cloud_vm R VM N: instance VM in region root R, a 16 MiB cloud vda
# dd-written with random bytes (stored chunks; a copy in $T/vN) and a
# 4 MiB vdb of zeros (a copy in $T/bN).
cloud_vm() {
    mkdir "$1/instances/$2"
    echo 16M >"$1/instances/$2/system-disk-size"
    echo cloud >"$1/instances/$2/system-disk"
    truncate -s 4M "$1/instances/$2/disks/vdb"
    head -c 16M /dev/urandom >"$T/v$3"
    dd if="$T/v$3" of="$1/instances/$2/disks/vda" bs=1M conv=notrunc,fsync status=none
    head -c 4M /dev/zero >"$T/b$3"
}
# put4k DISK COPY BLOCK SRC: SRC's 4 KiB at block BLOCK of DISK (fsync)
# and of its copy.
put4k() {
    dd if="$4" of="$1" bs=4096 seek="$3" conv=notrunc,fsync status=none
    dd if="$4" of="$2" bs=4096 seek="$3" conv=notrunc status=none
}
cloud_vm "$RA" vm3 3
head -c 4096 /dev/urandom >"$T/p3"
put4k "$RA/instances/vm3/disks/vda" "$T/v3" $((2 * 256 + 5)) "$T/p3"
put4k "$RA/instances/vm3/disks/vdb" "$T/b3" $((256 + 3)) "$T/p3"
# small_reads warm|measure: the first reads, or the 60.
small_reads() {
    python3 - "$1" "$RA/instances/vm3/disks/vda" "$T/v3" "$RA/instances/vm3/disks/vdb" "$T/b3" <<'EOF'
import mmap, os, random, sys
what, vda, want, vdb, b3 = sys.argv[1:]
want, b3 = open(want, "rb").read(), open(b3, "rb").read()
m = mmap.mmap(-1, 1 << 16)  # O_DIRECT: an aligned buffer
def rd(fd, n, off):
    got = os.preadv(fd, [memoryview(m)[:n]], off)
    return bytes(m[:got])
fa, fb = os.open(vda, os.O_RDONLY | os.O_DIRECT), os.open(vdb, os.O_RDONLY | os.O_DIRECT)
if what == "warm":
    for c in range(16):
        if rd(fa, 4096, c << 20) != want[c << 20:(c << 20) + 4096]:
            sys.exit("vda: chunk %d's first block" % c)
    sys.exit(0)
rnd = random.Random(7)
for k in range(40):
    n = (4096, 1024, 1 << 16)[k % 3]
    off = (rnd.randrange(16) << 20) + rnd.randrange(0, (1 << 20) - n + 1, 512)
    if rd(fa, n, off) != want[off:off + n]:
        sys.exit("vda: %d bytes at %d" % (n, off))
for off in ((2 << 20) + 5 * 4096, (2 << 20) + 5 * 4096 + 1024, (2 << 20) + 6 * 4096):  # patched: marked twice, not
    if rd(fa, 1024, off) != want[off:off + 1024]:
        sys.exit("vda (patched): at %d" % off)
for k in range(17):  # an overlay: the block written, zeros around it
    off = (1 << 20) + rnd.randrange(0, 8) * 4096
    if rd(fb, 4096, off) != b3[off:off + 4096]:
        sys.exit("vdb (overlay): at %d" % off)
EOF
}
# The disk held open from the first reads to the 60: a patched chunk's
# marks are read by its first read after an open (chunk 2's, here).
exec {hold}<"$RA/instances/vm3/disks/vda"
small_reads warm || fail "the first reads of vm3's vda"
reads0=$(stat_of "$A" imgfs_cluster_reads_total)
small_reads measure || fail "small reads of vm3's disks"
assert_eq 60 $(($(stat_of "$A" imgfs_cluster_reads_total) - reads0)) \
    "small reads of vm3's disks answered by the cluster's thread"
exec {hold}<&-

say "small writes answered by the cluster's thread (SPEC §12): patched blocks and overlay bytes, exact"
# O_DIRECT writes into vm3's vda chunk 2 (patched: whole blocks, 4 KiB
# and 64 KiB, the bound) and vdb chunk 1 (an overlay: 512 bytes anywhere)
# are answered by the cluster's thread (counted); 64 KiB + 4 KiB, part of
# a block, and a first write into a stored chunk are written the waiting
# way (not counted).  Every disk then reads back as written, through the
# page cache and O_DIRECT.
writes0=$(stat_of "$A" imgfs_cluster_writes_total)
python3 - "$RA/instances/vm3/disks/vda" "$T/v3" "$RA/instances/vm3/disks/vdb" "$T/b3" <<'EOF' || fail "small writes of vm3's disks"
import mmap, os, random, sys
vda, v3, vdb, b3 = sys.argv[1:]
want = {vda: bytearray(open(v3, "rb").read()), vdb: bytearray(open(b3, "rb").read())}
m = mmap.mmap(-1, 1 << 17)  # O_DIRECT: an aligned buffer
rnd = random.Random(11)
fds = {v: os.open(v, os.O_RDWR | os.O_DIRECT) for v in want}
def wr(v, n, off):
    b = rnd.randbytes(n)
    m[:n] = b
    if os.pwritev(fds[v], [memoryview(m)[:n]], off) != n:
        sys.exit("%s: a short write at %d" % (v, off))
    want[v][off:off + n] = b
for k in range(20):  # started
    wr(vda, 4096, (2 << 20) + rnd.randrange(256) * 4096)
wr(vda, 1 << 16, (2 << 20) + 32 * 4096)
for k in range(10):
    wr(vdb, 512, (1 << 20) + rnd.randrange(2048) * 512)
wr(vda, (1 << 16) + 4096, (2 << 20) + 64 * 4096)  # not started
wr(vda, 512, (2 << 20) + 7 * 4096 + 512)
wr(vda, 4096, (3 << 20) + 4096)
for v in want:
    os.close(fds[v])
open(v3, "wb").write(want[vda])
open(b3, "wb").write(want[vdb])
EOF
assert_eq 31 $(($(stat_of "$A" imgfs_cluster_writes_total) - writes0)) \
    "small writes of vm3's disks answered by the cluster's thread"
cmp "$T/v3" "$RA/instances/vm3/disks/vda" || fail "vm3's vda after the small writes"
cmp "$T/b3" "$RA/instances/vm3/disks/vdb" || fail "vm3's vdb after the small writes"
small_reads measure || fail "small reads of vm3's disks after the small writes"

say "kill -9 with small writes in flight (answered by the cluster's thread): every acknowledged one moves"
# vm4 on b: vda dd-written (stored chunks: a first write into one waits
# for its record, later ones patch whole blocks), vdb's chunks each
# written once at block 0 (overlays).  Four threads write 4 KiB O_DIRECT
# into distinct blocks of both disks in a random order, logging "S disk
# block" before a write and "A disk block" once it returned; b is killed
# once some hundreds are acknowledged (most started, counted in b's
# /stats).  On a, after the move: each acknowledged block holds its
# pattern, each started but unacknowledged one its pattern or the old
# bytes, every other block the old bytes.
cloud_vm "$RB" vm4 4
for c in 0 1 2 3; do
    head -c 4096 /dev/urandom >"$T/p4"
    put4k "$RB/instances/vm4/disks/vdb" "$T/b4" $((c * 256)) "$T/p4"
done
echo start >"$RB/instances/vm4/status"
# pattern4 DISK BLOCK: a started write's 4 KiB, in the writer and the check.
PAT4='def pat(d, b): return bytes([(b * 13 + d * 101 + 7) % 251 + 1, b % 256, d + 1, 0x5a]) * 1024'
writes0=$(stat_of "$B" imgfs_cluster_writes_total)
python3 - "$RB/instances/vm4/disks/vda" "$RB/instances/vm4/disks/vdb" "$T/log4" "$PAT4" <<'EOF2' 2>/dev/null &
import mmap, os, random, sys, threading
disks, log = sys.argv[1:3], open(sys.argv[3], "a", buffering=1)
exec(sys.argv[4])
blocks = [(0, b) for b in range(16 * 256)] + [(1, b) for b in range(4 * 256) if b % 256 != 0]
random.Random(4).shuffle(blocks)
it, lock = iter(blocks), threading.Lock()
fds = [os.open(d, os.O_RDWR | os.O_DIRECT) for d in disks]
def run():
    m = mmap.mmap(-1, 4096)  # O_DIRECT: an aligned buffer
    while True:
        with lock:
            d, b = next(it, (None, None))
            if d is None:
                return
            log.write("S %d %d\n" % (d, b))
        m[:] = pat(d, b)
        try:
            os.pwritev(fds[d], [m], b * 4096)
        except OSError:
            return
        with lock:
            log.write("A %d %d\n" % (d, b))
ts = [threading.Thread(target=run) for _ in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
EOF2
wpid=$!
acked4() { local n; n=$(grep -c '^A' "$T/log4" 2>/dev/null); ((${n:-0} >= $1)); }
wait_until 30 acked4 600 || fail "the writer on b acknowledged too little"
started=$(($(stat_of "$B" imgfs_cluster_writes_total) - writes0))
kill_imgfs "$B"
wait "$wpid" || true
acked=$(grep -c '^A' "$T/log4")
echo "    $acked writes acknowledged on b before its kill, $started answered by the cluster's thread"
((started >= 300)) || fail "only $started of b's writes were answered by the cluster's thread"
((acked < 16 * 256 + 4 * 255)) || fail "the writer ended before the kill: nothing was in flight"
wait_until 10 admin host remove b 2>/dev/null || fail "host remove b after its lease lapsed"
echo start >"$RA/instances/vm4/status" || fail "start on a of b's vm4: $(tail -n1 "$A/errors")"
python3 - "$RA/instances/vm4/disks/vda" "$RA/instances/vm4/disks/vdb" "$T/v4" "$T/b4" "$T/log4" "$PAT4" <<'EOF2' ||
import os, sys
vda, vdb, v4, b4, logf = sys.argv[1:6]
exec(sys.argv[6])
old = [open(v4, "rb").read(), open(b4, "rb").read()]
got = [open(vda, "rb").read(), open(vdb, "rb").read()]
st, ack = set(), set()
for line in open(logf):
    k, d, b = line.split()
    (ack if k == "A" else st).add((int(d), int(b)))
for d in (0, 1):
    if len(got[d]) != len(old[d]):
        sys.exit("disk %d: %d bytes" % (d, len(got[d])))
    for b in range(len(old[d]) // 4096):
        g, o = got[d][b * 4096:(b + 1) * 4096], old[d][b * 4096:(b + 1) * 4096]
        if (d, b) in ack:
            ok = g == pat(d, b)
        elif (d, b) in st:
            ok = g in (o, pat(d, b))
        else:
            ok = g == o
        if not ok:
            sys.exit("disk %d block %d: not what was written (acknowledged %s)" % (d, b, (d, b) in ack))
print(len(ack))
EOF2
    fail "vm4's disks on a after b's kill"

say "fsck clean"
admin fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck"; }
assert_eq "0 problems" "$(tail -n 1 "$T/fsck.out")" "fsck"

#!/usr/bin/env bash
# test_rados_outage: a failure that passes is not a verdict about data
# (issue 47; SPEC §13 "Failure behaviour", §1 fsck's exit status 3).  One
# region, rf, in a one-node Ceph cluster of the test's own (its OSD is
# killed; op timeout 1 s, so that each read that cannot be made fails
# within seconds), mounted once and never remounted:
#   - with the OSD down, the first look into a catalogue image's files/
#     (never read before) is EIO with its reason in the log and in the
#     caller's /errors, never a listing without its volumes or ENOENT;
#   - `imgfs admin fsck` and `fsck --repair` with the OSD down judge
#     nothing: 0 problems, "could not check N", exit status 3, no object
#     removed;
#   - once the OSD is back, the same mount lists files/ and reads
#     os-release exactly (what failed was not kept), and fsck finds 0
#     problems with every object of the pool where it was;
#   - a cloud disk (an instance's data disk, in the cluster: SPEC §13 "A
#     cloud disk when an OSD stops") written block after block, each write
#     fsync'ed, through the outage: a write waits for the OSD up to the
#     operation timeout, then is EIO (never a hang: each took under 30 s),
#     the writer tries the block again, and once the OSD is back its
#     writes succeed, no remount; every write whose fsync returned reads
#     back exactly (issue 49, "Crash and faults");
#   - whole chunks written to another cloud disk with the OSD down: one
#     through a file opened without O_DSYNC is answered at once and its
#     failure told by that file's fsync (once: not by its close too), or
#     by its close, and logged with its chunk; through a file opened
#     O_DSYNC, by the write itself, and its close tells the others'
#     failures while it was open (SPEC §11, issue 49 stop 48);
#   - hosts b and c of that service, idle through the outage (their
#     region's client never learnt where the OSD came back): once the OSD
#     is back, the first try of each through that client succeeds — on b,
#     a system disk made a cloud disk (the disk's listing and header); on
#     c, a stopped instance started there (a move, whose fence reads and
#     records the disk's writer) — and the moved disk reads back; before,
#     each timed out against the OSD's old address, EIO on every try until
#     a remount (issue 49, stop 47);
#   - the OSD paused (SIGSTOP) while b starts vm2, stopped on c (a move,
#     whose fence reads the disk's writer): EIO with the reason within
#     the op timeout's bound, vm2 stays c's; the OSD let go, the same
#     start works and vda reads back (issue 70; about 8 s);
#   - c killed (kill -9) while writing vm2's vda, and removed once its
#     lease lapsed; the monitor and the OSD paused (SIGSTOP) while b starts
#     vm2: the fence's read times out and the fresh OSD map never comes, so
#     the start is EIO within the op timeout's bound (issue 70: it waited
#     for the map for ever); the monitor paused while b starts vm2: the
#     start cannot fence c's writer (could not tell), so it is EIO with
#     the reason within the monitor timeout and vm2 stays c's; with the
#     monitor back the same start works and vda reads back with c's
#     fsync'ed write (issue 49, stop 52: about 15 s);
#   - a capture of a stopped cloud-disk instance asked with the OSD down:
#     its runs cannot open or read the disk (could not tell), so it goes
#     back to the queue, never `error`, and is made once the OSD is back,
#     the disk's bytes exactly (issue 49, stop 47; SPEC §13);
#   - a copy of a capture of that disk (its chunk in the cluster) to a
#     dir: region rd, asked with the OSD down: its reads get no answer
#     (could not tell), so it goes back to the queue, never `error`, and is
#     made once the OSD is back, the bytes exactly (issue 49, stop 48);
#   - at the end, an overlay object of the written cloud disk removed
#     with the rados CLI: a capture of its instance ends in `error`, the
#     disk lost bytes (a verdict; never zeros, never a wait for ever).
# Chunk reads that fail beside chunks that read (no verdict, nothing
# repaired, the walk given up when a store stops answering) are counted in
# the unit tests (tests/unit/blobstore/test_gc.c test_verify_unanswered,
# tests/unit/model/meta/test_fsck.c test_fsck_unanswered).
# Cost: a cluster of its own (about 8 s to start, once more to restart its
# OSD) and a few op timeouts; about 70 s, most of it waiting (the cloud
# disk's service in PostgreSQL and its writer, beside the rest: about 10 s
# more than before; hosts b and c about 5 s; the copy about 3 s; the
# lost object about 3 s).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
NS="ro$$x$RANDOM"

say "a cluster of the test's own (op timeout 1 s) and a region rf in it"
CEPH_UP_OP_TIMEOUT=1 ceph_own C imgfs-f
S="$T/state" M="$T/mnt"
imgfs_admin "$S" init >/dev/null
imgfs_admin "$S" region add rf --store "rados:imgfs-f,conf=$C,ns=$NS" >/dev/null || fail "region add rf"
# objs: the chunk objects of this run's namespace, sorted.
objs() { rados -c "$C" -p imgfs-f -N "$NS" ls | grep -E '^[0-9a-f]{32}$' | LC_ALL=C sort; }
objs >"$T/objs.before"
(($(wc -l <"$T/objs.before") > 0)) || fail "region add rf stored no catalogue chunk"
# fsck_rc ARGS...: runs fsck into $T/fsck.out, prints its exit status.
fsck_rc() {
    local rc=0
    imgfs_admin "$S" fsck "$@" >"$T/fsck.out" 2>&1 || rc=$?
    echo "$rc"
}
assert_eq 0 "$(fsck_rc)" "fsck's exit status with the cluster up"
assert_eq "0 problems" "$(tail -n 1 "$T/fsck.out")" "fsck with the cluster up"

say "a cloud disk written and fsync'ed block after block, the writer kept going"
# Cloud disks live in the cluster when the metadata is shared (SPEC §13):
# a second service, in PostgreSQL, with a region rc in the same cluster.
S2="$T/state-pg" M2="$T/mnt-pg"
pg_service "$S2" rc "rados:imgfs-f,conf=$C,ns=${NS}c"
mkdir "$T/rd"
"$IMGFS" admin --state "$S2" --db "$URL" region add rd --store "dir:$T/rd" >/dev/null || fail "region add rd"
mount_imgfs "$S2" "$M2" "db=$URL"
# Hosts b and c: on each an instance with a local system disk; a stopped
# cloud one of the first host's; b and c then do nothing until the OSD is
# back.
M3="$T/mnt-b" M4="$T/mnt-c"
mount_imgfs "$T/state-b" "$M3" "db=$URL,host=b,workers=0"
mount_imgfs "$T/state-c" "$M4" "db=$URL,host=c,workers=0"
V2="$M2/regions/rc/instances/vm2" VL="$M3/regions/rc/instances/vl"
mkdir "$V2" "$VL" "$M4/regions/rc/instances/vc"
echo 64M >"$V2/system-disk-size"
echo cloud >"$V2/system-disk"
echo 64M >"$VL/system-disk-size"
echo 64M >"$M4/regions/rc/instances/vc/system-disk-size"
echo start >"$V2/status"
head -c 1M /dev/urandom >"$T/vm2.head"
dd if="$T/vm2.head" of="$V2/disks/vda" conv=notrunc,fsync status=none
echo stop >"$V2/status"
# cap0, vm2's disk captured (its chunk in the cluster), copied to region
# rd (dir:) while the OSD is down.
CAP0="$M2/regions/rc/private/cap0"
mkdir "$CAP0"
echo "instance vm2" >"$CAP0/source"
imgfs_wait "$CAP0" >/dev/null || fail "capture cap0: $(cat "$CAP0/error")"
V="$M2/regions/rc/instances/vm"
mkdir "$V"
truncate -s 256M "$V/disks/vdb"
truncate -s 8M "$V/disks/vdc" # the probes' (below): no other writer's failures
echo start >"$V/status"
D="$V/disks/vdb"
# The writer: blocks 0, 1, ... (1 MiB each, every third one 4 KiB into its
# block instead), each a pattern of its number, pwrite then fsync; a line
# "block length" in acks once both returned, a line "errno seconds" in
# fails for each that failed (the block is tried again), "seconds" in
# slow for each attempt that took 1 s or more.  Stops at $T/stop.
python3 - "$D" "$T/acks" "$T/fails" "$T/slow" "$T/stop" <<'EOF' &
import os, sys, time
disk, acks, fails, slow, stop = sys.argv[1:]
fd = os.open(disk, os.O_RDWR)
a, f, s = (open(p, "a", buffering=1) for p in (acks, fails, slow))
blk = 0
while not os.path.exists(stop) and blk < 256:
    ln = 4096 if blk % 3 == 2 else 1 << 20
    data = b"".join(bytes([(blk * 7 + j + 1) % 251 + 1]) * 4096 for j in range(ln // 4096))
    t = time.monotonic()
    ok = True
    try:
        os.pwrite(fd, data, blk << 20)
        os.fsync(fd)
    except OSError as e:
        f.write("%s %.1f\n" % (os.strerror(e.errno), time.monotonic() - t))
        ok = False
    if time.monotonic() - t >= 1:
        s.write("%.1f\n" % (time.monotonic() - t))
    if ok:
        a.write("%d %d\n" % (blk, ln))
        blk += 1
    time.sleep(0.1 if ok else 0.2)
EOF
wpid=$!
at_exit "touch '$T/stop'; kill $wpid 2>/dev/null"
acks_at_least() { [[ -s "$T/acks" ]] && (($(wc -l <"$T/acks") >= $1)); }
wait_until 20 acks_at_least 3 || fail "the cloud disk's writer wrote nothing with the cluster up"

# The mount runs no task: its background inspections and checksum passes
# would read the catalogue's disks, and files/ would then be served from
# what they left in its caches, however long the machine takes to reach
# the kill (the tasks run on a mount of the state: none here).
mount_imgfs "$S" "$M" workers=0
F="$M/regions/rf/public/centos-7.4/files"

# Probes of vdc while the OSD is down (SPEC §11, stop 48), in the
# background through the outage, three files opened before the kill (an
# open reads the disk's header): a whole chunk written through a file
# opened without O_DSYNC is answered at once (in flight), and its failure
# told by that file's fsync, then not again by its close, or by its close;
# through a file opened O_DSYNC, answered once it landed, so the write
# fails — and its close tells the failures of the others' writes answered
# ahead while it was open, as Linux tells each open file.
python3 - "$V/disks/vdc" "$T/probes" <<'EOF' &
import mmap, os, sys, time
disk, out = sys.argv[1:]
# Page-aligned, as dd's and cp's buffers are: the kernel sends it as one
# request (an unaligned MiB spans 257 pages, two requests, neither whole).
data = mmap.mmap(-1, 1 << 20)
data.write(bytes([0x5A]) * (1 << 20))
def call(f, *a):
    try:
        f(*a)
        return "ok"
    except OSError as e:
        return os.strerror(e.errno)
fds = [(name, os.open(disk, os.O_WRONLY | flags), blk, sync)
       for name, flags, blk, sync in (("ahead", 0, 1, True), ("close", 0, 2, False), ("dsync", os.O_DSYNC, 3, False))]
open(out + ".ready", "w").close()
while not os.path.exists(out + ".go"):
    time.sleep(0.05)
lines = []
for name, fd, blk, sync in fds:
    w = call(os.pwrite, fd, data, blk << 20)
    f = call(os.fsync, fd) if sync else "-"
    lines.append("%s write=%s fsync=%s close=%s" % (name, w, f, call(os.close, fd)))
open(out, "w").write("\n".join(lines) + "\n")
EOF
ppid=$!
wait_until 20 test -e "$T/probes.ready" || fail "the probes of vdc did not open it"
# A probe of vdb's small reads, answered by the cluster's thread (SPEC
# §12): opened O_DIRECT before the kill, a stored chunk's block (its
# digests held by a read before) and an overlay's read with the OSD down
# are EIO (could not tell: the part read tried again the waiting way, on
# the thread that took the timeout), and read right again once it is back;
# so is a small write into the overlay, answered by that thread too (its
# bytes the same as before: the reads stay right).  Each EIO counted as
# its own operation's in /stats.
python3 - "$D" "$T/rprobe" <<'EOF' &
import mmap, os, sys, time
disk, out = sys.argv[1:]
m = mmap.mmap(-1, 4096)
def pat(blk, at):
    return bytes([(blk * 7 + at // 4096 + 1) % 251 + 1]) * 4096
def rd(off):
    n = os.preadv(fd, [m], off)
    return bytes(m[:n])
def call(off, blk, write=False):
    t = time.monotonic()
    try:
        if write:
            m[:] = pat(blk, off - (blk << 20))
            r = "ok" if os.pwritev(fd, [m], off) == 4096 else "short"
        else:
            r = "ok" if rd(off) == pat(blk, off - (blk << 20)) else "wrong"
    except OSError as e:
        r = os.strerror(e.errno)
    return r, time.monotonic() - t
fd = os.open(disk, os.O_RDWR | os.O_DIRECT)
if call(0, 0)[0] != "ok" or call(2 << 20, 2)[0] != "ok" or call(2 << 20, 2, True)[0] != "ok":
    sys.exit("vdb read or written wrong before the kill")
open(out + ".ready", "w").close()
while not os.path.exists(out + ".go"):
    time.sleep(0.05)
(p, tp), (o, to), (w, tw) = call(3 * 4096, 0), call(2 << 20, 2), call(2 << 20, 2, True)
open(out, "w").write("down part=%s object=%s write=%s\n%.1f %.1f %.1f\n" % (p, o, w, tp, to, tw))
while not os.path.exists(out + ".back"):
    time.sleep(0.05)
for k in range(30):  # the disk's client may meet the OSD's old address once
    p, o, w = call(5 * 4096, 0)[0], call(2 << 20, 2)[0], call(2 << 20, 2, True)[0]
    if p == o == w == "ok":
        break
    time.sleep(0.5)
open(out, "a").write("back part=%s object=%s write=%s\n" % (p, o, w))
EOF
rpid=$!
wait_until 20 test -e "$T/rprobe.ready" || fail "the read probe of vdb did not start"
say "the OSD killed: files/ looked into for the first time is EIO with its reason"
osd=$(cat "$T/ceph/osd.0.pid")
kill -9 "$osd"
acked_up=$(wc -l <"$T/acks")
_wait_gone "$osd" 10 || fail "the OSD survived kill -9"
rerr0=$(stat_of "$M2" imgfs_request_errors_total 'op="read"') werr0=$(stat_of "$M2" imgfs_request_errors_total 'op="write"')
touch "$T/probes.go" "$T/rprobe.go"
# A capture of vm2 (stopped; its disk in the cluster) asked now: its runs
# cannot read the disk, could not tell, so it waits in the queue.
CAP="$M2/regions/rc/private/cap1"
mkdir "$CAP"
echo "instance vm2" >"$CAP/source"
mkdir "$CAP0/copies/rd"
assert_errno EIO listdir "$F"
assert_errno EIO stat "$F/vda1"
grep -E "imgfs: inside /regions/rf/public/centos-7.4/files.*: EIO .*cannot be read" "$S/imgfs.log" >/dev/null ||
    { tail -n 5 "$S/imgfs.log" >&2; fail "no log line says why files/ is EIO"; }
grep -q "files.*cannot be read" "$M/errors" || { cat "$M/errors" >&2; fail "/errors does not say why files/ is EIO"; }

say "a capture of a cloud disk asked with the OSD down: back in the queue, not error"
capture_queued() { grep -qE "capture task [0-9]+ \(image [0-9]+\): .*back in the queue" "$S2/imgfs.log"; }
wait_until 30 capture_queued || fail "the capture was not put back in the queue: status $(status_of "$CAP"), $(cat "$CAP/error" 2>/dev/null)"
[[ "$(status_of "$CAP")" != error ]] || fail "the capture ended in error with the OSD down: $(cat "$CAP/error")"
say "a copy from the cluster's region with the OSD down: back in the queue, not error"
CP0="$M2/regions/rd/private/cap0"
copy_queued() { grep -qE "copy task [0-9]+ \(image [0-9]+\): .*back in the queue" "$S2/imgfs.log"; }
wait_until 30 copy_queued || fail "the copy was not put back in the queue: status $(status_of "$CP0"), $(cat "$CP0/error" 2>/dev/null)"
[[ "$(status_of "$CP0")" != error ]] || fail "the copy ended in error with the OSD down: $(cat "$CP0/error")"

say "fsck and fsck --repair with the OSD down: nothing judged, could not check N, exit 3"
for repair in "" --repair; do
    assert_eq 3 "$(fsck_rc $repair)" "fsck $repair's exit status with the OSD down"
    last=$(tail -n 1 "$T/fsck.out")
    [[ "$last" =~ ^0\ problems\;\ could\ not\ check\ ([0-9]+)\ \( ]] ||
        { cat "$T/fsck.out" >&2; fail "fsck $repair: \"$last\" does not say 0 problems and could not check N"; }
    ((BASH_REMATCH[1] > 0)) || fail "fsck $repair counted nothing it could not check"
    ! grep -E "does not match|is missing|cannot open its blob store|removed" "$T/fsck.out" ||
        fail "fsck $repair judged what it could not read"
    grep -q "^could not check: region rf: " "$T/fsck.out" || fail "fsck $repair names no check it could not make"
    echo "    fsck $repair: $last"
done

say "whole chunks answered in flight, told at fsync or close; O_DSYNC's at the write"
wait "$ppid" || fail "the probes of vdc"
printf '%s\n' "ahead write=ok fsync=Input/output error close=ok" "close write=ok fsync=- close=Input/output error" \
    "dsync write=Input/output error fsync=- close=Input/output error" >"$T/probes.want"
diff "$T/probes.want" "$T/probes" >&2 || fail "the writes of vdc with the OSD down were not answered as §11 says"
grep -q "cloud disk .*: chunk 1, written whole and answered before it landed, did not land" "$S2/imgfs.log" ||
    fail "no log line names the chunk answered ahead that did not land"

wait_until 30 test -s "$T/rprobe" || fail "the read probe of vdb never answered with the OSD down"
assert_eq "down part=Input/output error object=Input/output error write=Input/output error" \
    "$(head -n 1 "$T/rprobe")" "vdb's small reads and write with the OSD down"
echo "    vdb's small reads and write with the OSD down: EIO after $(sed -n 2p "$T/rprobe" | xargs) s"
assert_eq $((rerr0 + 2)) "$(stat_of "$M2" imgfs_request_errors_total 'op="read"')" "read errors counted, vdb's two EIO reads (no other reader fails there)"
(($(stat_of "$M2" imgfs_request_errors_total 'op="write"') >= werr0 + 1)) || fail "vdb's EIO write not counted as a write"

say "the OSD back: the same mount shows files/ exactly, and fsck is clean"
"$ROOT/scripts/ceph-up" "$T/ceph" >/dev/null || fail "restarting the OSD"
# The cluster serves again when a fresh client lists the pool.
wait_until 60 timeout 10 rados -c "$C" -p imgfs-f -N "$NS" ls >/dev/null || fail "the OSD does not serve after 60 s"
touch "$T/rprobe.back"
wait "$rpid" || fail "the read probe of vdb"
assert_eq "back part=ok object=ok write=ok" "$(sed -n 3p "$T/rprobe")" "vdb's small reads and write once the OSD is back"
# The mount's own client may meet the old OSD's address once (an op that
# times out, EIO); never ENOENT, never a listing without vda1.
for ((i = 0; ; i++)); do
    e=$(errno_of listdir "$F")
    [[ "$e" == EIO && $i -lt 10 ]] || break
done
assert_eq OK "$e" "ls files/ once the OSD is back"
assert_eq "README vda1" "$(ls "$F" | xargs)" "ls files/ once the OSD is back (no remount)"
grep -qxF 'ID="centos"' "$F/vda1/etc/os-release" || fail "files/vda1/etc/os-release once the OSD is back"
if grep -q "cannot be read" "$F/README"; then fail "README still says the disk cannot be read"; fi
objs >"$T/objs.after"
cmp -s "$T/objs.before" "$T/objs.after" || fail "objects of the pool changed across the fsck runs of the outage"

say "the cloud disk through the outage: EIO or a wait, then writes again; every fsync'ed write reads back"
n=$(wc -l <"$T/acks")
wait_until 30 acks_at_least $((n + 3)) || fail "the cloud disk's writer wrote nothing once the OSD was back ($n acknowledged; failed: $(tail -n 3 "$T/fails" | xargs); slow: $(xargs <"$T/slow"))"
touch "$T/stop"
wait "$wpid" || fail "the cloud disk's writer"
echo "    $(wc -l <"$T/acks") writes acknowledged ($acked_up before the kill), $(wc -l <"$T/fails") failed:" \
    "$(sed 's/ [0-9.]*$//' "$T/fails" | sort | uniq -c | xargs); waits of 1 s or more: $(xargs <"$T/slow")"
[[ -s "$T/fails" || -s "$T/slow" ]] || fail "no write of the cloud disk failed or waited while the OSD was down"
! grep -v "^Input/output error " "$T/fails" || fail "a write of the cloud disk failed with another errno than EIO"
awk '$1 >= 30 { exit 1 }' "$T/slow" || fail "a write of the cloud disk waited 30 s or more: $(xargs <"$T/slow")"
python3 - "$D" "$T/acks" <<'EOF' || fail "an acknowledged write of the cloud disk did not read back"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for line in open(sys.argv[2]):
    blk, ln = map(int, line.split())
    want = b"".join(bytes([(blk * 7 + j + 1) % 251 + 1]) * 4096 for j in range(ln // 4096))
    if os.pread(fd, ln, blk << 20) != want:
        sys.exit("block %d (%d bytes): not what was acknowledged" % (blk, ln))
EOF
assert_eq 0 "$(fsck_rc)" "fsck's exit status with the OSD back"
assert_eq "0 problems" "$(tail -n 1 "$T/fsck.out")" "fsck with the OSD back"

say "the capture asked with the OSD down is made once it is back"
imgfs_wait "$CAP" >/dev/null || fail "the capture asked with the OSD down: $(cat "$CAP/error")"
cmp -n 1M "$T/vm2.head" "$CAP/disks/vda" || fail "the capture asked with the OSD down is not vm2's disk"
say "the copy asked with the OSD down is made once it is back"
imgfs_wait "$CP0" >/dev/null || fail "the copy asked with the OSD down: $(cat "$CP0/error")"
cmp -n 1M "$T/vm2.head" "$CP0/disks/vda" || fail "the copy asked with the OSD down is not vm2's disk"

say "hosts b and c, idle through the outage: b's first system disk moved to the cluster, c's first start of a move"
# (each may wait out one operation timeout against the OSD's old address)
assert_eq OK "$(errno_of write "$VL/system-disk" cloud)" "b's first write of cloud to a system-disk once the OSD is back"
assert_eq cloud "$(cat "$VL/system-disk")" "vl's system-disk on b"
assert_eq OK "$(errno_of write "$M4/regions/rc/instances/vm2/status" start)" "c's first start of vm2 (stopped on the first host)"
assert_eq c "$(cat "$M4/regions/rc/instances/vm2/host")" "vm2's host after the start on c"
cmp -n 1M "$T/vm2.head" "$M4/regions/rc/instances/vm2/disks/vda" || fail "vm2's vda read on c"

say "the OSD paused while b starts vm2 (a move from c): EIO with the reason within the bound, then it works"
# vm2 stopped on c; its start on b is a move whose fence reads the disk's
# writer from the OSD: paused (SIGSTOP; the monitor answers, and still
# calls the OSD up), each read times out (1 s, 3 tries, the fresh OSD map
# between them given at once), so the start is EIO with the reason, vm2
# stays c's (issue 70: every wait has an end, SPEC §13); the OSD let go,
# the same start works.  Then vm2 goes back to c for what follows.
echo stop >"$M4/regions/rc/instances/vm2/status" || fail "stopping vm2 on c"
V2B="$M3/regions/rc/instances/vm2"
# paused_start OUT PID...: `start` written to vm2's status on b with the
# PIDs paused (SIGSTOP), in the background and waited for 40 s at most (a
# write waiting on FUSE cannot be killed: the engines let go end it); the
# answer in $got ("hung": none), its seconds in $took; the PIDs let go.
paused_start() {
    local out=$1 starter t0=$SECONDS
    shift
    kill -STOP "$@"
    python3 "$ERRNO_PY" write "$V2B/status" start >"$out" 2>&1 &
    starter=$!
    wait_until 40 test -s "$out" || true
    took=$((SECONDS - t0))
    got=$(cat "$out")
    kill -CONT "$@"
    wait "$starter" || true
    [[ -n "$got" ]] || got="hung"
}
osdpid=$(cat "$T/ceph/osd.0.pid")
at_exit "kill -CONT $osdpid 2>/dev/null"
paused_start "$T/ostart.out" "$osdpid"
assert_eq EIO "$got" "a start on b that must read c's writer, the OSD paused"
((took < 25)) || fail "the start on b with the OSD paused took $took s (the bound: 3 tries of 1 s and their maps)"
echo "    the start with the OSD paused: EIO after $took s"
assert_match ".*cannot fence host c's writer of vda \\(the cluster could not be told\\): cluster disk .*: cannot read its writer: .*" \
    "$(tail -n 1 "$M3/errors")" "b's /errors after the start refused with the OSD paused"
assert_eq c "$(cat "$V2B/host")" "vm2's host after the start refused with the OSD paused"
ostart_ok() { [[ $(errno_of write "$V2B/status" start) == OK ]]; }
wait_until 60 ostart_ok || fail "the start on b once the OSD is let go: $(errno_of write "$V2B/status" start)"
assert_eq b "$(cat "$V2B/host")" "vm2's host after the start on b"
cmp -n 1M "$T/vm2.head" "$V2B/disks/vda" || fail "vm2's vda read on b after the OSD was let go"
echo stop >"$V2B/status" || fail "stopping vm2 on b"
assert_eq OK "$(errno_of write "$M4/regions/rc/instances/vm2/status" start)" "vm2 started on c again"
assert_eq c "$(cat "$M4/regions/rc/instances/vm2/host")" "vm2's host after its start on c again"

say "the monitor stopped: a start that must fence cannot (could not tell): EIO with the reason, nothing changed"
# c dies (kill -9) with vm2's vda open for writing, so its writer stays
# recorded on the disk; once its lease (3 s here) lapsed it is removed.
# A start of vm2 through b must fence that writer: with the cluster's
# monitor paused (SIGSTOP) it cannot tell the cluster, so it is refused
# within the monitor timeout (10 s by default, SPEC §13), vm2 stays c's;
# once the monitor is back the same start works and vda reads back with
# what c wrote and fsync'ed.
"$IMGFS" admin --state "$S2" --db "$URL" lease 3 >/dev/null
V2B="$M3/regions/rc/instances/vm2"
head -c 4096 /dev/urandom >"$T/vm2.blk"
dd if="$T/vm2.blk" of="$T/vm2.head" bs=4096 seek=7 conv=notrunc status=none
exec {held}<>"$M4/regions/rc/instances/vm2/disks/vda"
dd if="$T/vm2.blk" of="$M4/regions/rc/instances/vm2/disks/vda" bs=4096 seek=7 conv=notrunc,fsync status=none
kill_imgfs "$M4"
exec {held}<&-
wait_until 15 "$IMGFS" admin --state "$S2" --db "$URL" host remove c 2>/dev/null || fail "host remove c after its lease lapsed"
monpid=$(cat "$T/ceph/mon.a.pid") osdpid=$(cat "$T/ceph/osd.0.pid")
at_exit "kill -CONT $monpid $osdpid 2>/dev/null"
# First the monitor and the OSD both paused: the fence's read of c's
# writer times out (1 s here) and the fresh OSD map it then waits for
# never comes: EIO within the bound (SPEC §13: the map waited for the
# monitor's op timeout at most, 10 s), never a wait for ever (issue 70:
# 8 min 38 s, in rados_wait_for_latest_osdmap).
paused_start "$T/start.out" "$monpid" "$osdpid"
assert_eq EIO "$got" "a start on b that must fence c's writer, the monitor and the OSD paused"
((took < 25)) || fail "the start on b with the monitor and the OSD paused took $took s (the bound: 1 s and 10 s)"
echo "    the start with the monitor and the OSD paused: EIO after $took s"
grep -q "the monitor did not give the latest OSD map within 10 s: giving up: EIO" "$T/state-b/imgfs.log" ||
    { tail -n 5 "$T/state-b/imgfs.log" >&2; fail "b's log does not say the OSD map did not come"; }
assert_eq c "$(cat "$V2B/host")" "vm2's host after the start refused with the monitor and the OSD paused"
kill -STOP "$monpid"
t0=$SECONDS
got=$(errno_of write "$V2B/status" start)
took=$((SECONDS - t0))
kill -CONT "$monpid"
assert_eq EIO "$got" "a start on b that must fence c's writer, the monitor paused"
((took < 30)) || fail "the start on b with the monitor paused took $took s"
assert_match ".*cannot fence host c's writer of vda \\(the cluster could not be told\\).*" "$(tail -n 1 "$M3/errors")" \
    "b's /errors after the refused start"
assert_eq c "$(cat "$V2B/host")" "vm2's host after the refused start"
# Once the monitor is back a start works; the first one may still be EIO
# while the client's monitor session comes back (librados hunts for it:
# could not tell, as above), so the start is asked again, as a user would.
# What is asked of imgfs is to work again once the cluster does: so first
# the cluster must serve a client that is not imgfs's (the rados tool).
# Twice in CI's runs (never here) b's reads then timed out for 60 s and
# more, which says nothing of whom; if the tool is not served either, the
# cluster's state is printed and its OSD restarted (the engine's fault,
# not what this test is about), and imgfs must then work.
cluster_serves() { timeout 15 rados -c "$C" -p imgfs-f -N "${NS}c" ls >/dev/null 2>&1; }
if ! wait_until 60 cluster_serves; then
    {
        echo "    ENGINE: the cluster did not serve the rados tool within 60 s of the pause; its state:"
        timeout 20 ceph -c "$C" --connect-timeout 5 health detail 2>&1 | sed 's/^/      /'
        timeout 20 ceph -c "$C" --connect-timeout 5 osd dump 2>&1 | grep -E '^(epoch|osd\.|blocklist)' | sed 's/^/      /'
        echo "      OSD pid $(cat "$T/ceph/osd.0.pid"): $(ps -o stat=,etime= -p "$(cat "$T/ceph/osd.0.pid")" 2>&1)"
        tail -n 15 "$T/ceph/osd.0.log" | sed 's/^/      osd: /'
        tail -n 8 "$T/ceph/cluster.log" | sed 's/^/      cluster: /'
    } >&2
    osd=$(cat "$T/ceph/osd.0.pid")
    kill -9 "$osd" 2>/dev/null || true
    _wait_gone "$osd" 10 || fail "the OSD survived kill -9"
    "$ROOT/scripts/ceph-up" "$T/ceph" >/dev/null || fail "restarting the OSD after the pause"
    wait_until 60 cluster_serves || fail "the cluster does not serve the rados tool after its OSD was restarted"
fi
start_ok() { [[ $(errno_of write "$V2B/status" start) == OK ]]; }
wait_until 60 start_ok || fail "the start on b once the monitor is back: $(errno_of write "$V2B/status" start)"
assert_eq b "$(cat "$V2B/host")" "vm2's host after the start on b"
cmp -n 1M "$T/vm2.head" "$V2B/disks/vda" || fail "vm2's vda read on b"

say "a cloud disk's own object gone (rados rm): its capture ends in error with the reason"
# vdb's chunk 2 was written in part (4 KiB into a hole): an overlay object
# of its own, which a record names.  Never captured as zeros, never a wait
# in the queue for ever (issue 49, stop 48; SPEC §13).
echo stop >"$V/status"
rados -c "$C" -p imgfs-f -N "${NS}c" ls | grep -E '^wb\.c[0-9]+\.00000002$' >"$T/obj2" || true
assert_eq 1 "$(wc -l <"$T/obj2")" "cluster disk objects of chunk 2 (vdb's overlay)"
rados -c "$C" -p imgfs-f -N "${NS}c" rm "$(cat "$T/obj2")" || fail "rados rm $(cat "$T/obj2")"
CAP2="$M2/regions/rc/private/cap2"
mkdir "$CAP2"
echo "instance vm vdb" >"$CAP2/source"
imgfs_wait "$CAP2" >/dev/null 2>&1 && fail "the capture of vm with vdb's object gone was made"
assert_eq error "$(status_of "$CAP2")" "the capture of vm with vdb's object gone"
assert_match "capture failed: reading vdb: an object of the disk's own that its records name is gone from the store.*" \
    "$(cat "$CAP2/error")" "its error"

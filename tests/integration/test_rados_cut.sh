#!/usr/bin/env bash
# test_rados_cut: a host cut off is not a dead host (issue 47, SPEC §13).
# One service in PostgreSQL (the pg fixture's server) with region r1 in a
# RADOS pool (the ceph fixture's cluster), mounted by host a and by host b;
# b runs in a network namespace of the test's own and is cut off from both
# engines for longer than its lease (4 s), then let back.
#
# How b is cut off, and why this way: b's daemon runs in the namespace
# (nsenter --net), whose own loopback is up; tests/integration/nsfwd.py
# listens there on 127.0.0.1 at the engines' ports (PostgreSQL, the Ceph
# monitor, the OSD) and forwards each connection to 127.0.0.1 of this
# namespace, where the engines listen.  Every byte stays on this machine's
# loopback, 127.0.0.1 on both sides (the house's rule: no private address,
# no veth).  The cut is `tc qdisc add dev lo root blackhole` in b's
# namespace: every packet between b and the forwarders is dropped, nothing
# answers and nothing refuses, as when a network drops a host; deleting the
# qdisc lets b back.  Host a and the engines never notice.
#   - an upload on b (a writer holding disks/vda open) survives the cut:
#     host a's housekeeping, which sees b's lease lapse, does not end it
#     (only b, or `imgfs admin host remove b`, may), and once b is back the
#     writer finishes and the image is available with its bytes (once b
#     read a chunk it never read through its RADOS client again: librados
#     reconnects at its own pace, and a write before could time out);
#   - a cloud disk open on b (buffered and O_DIRECT), cut off: its
#     getattr and security.capability are answered from the open disk at
#     once, without the database, and its writes EIO within the op
#     timeout's bound, twice (issue 70: the whole cut, in the database's
#     reconnect and the OSD map's wait);
#   - b's users get EIO within the bound of §13 (here: within 45 s, the
#     bound's 20 s with room for a loaded machine), never a hang; b's log
#     says its lease was lost, and once back that it renewed it after the
#     lapse; the EIO b's user gets once the lease lapsed says why in
#     /errors;
#   - while b reports nothing, a shows b's upload with no rate and no eta
#     (a task whose host is silent is not known to move);
#   - b is cut inside a write transaction (its upload's progress, made to
#     wait on a row the test holds until the cut; the server's answer then
#     goes into the cut, as in the CI run that hung): the server ends b's
#     session, its transaction rolled back and the write lock freed, within
#     the timers b asked it for (10 s), and a writes again.  The forwarder
#     passes the cut on as the network would (nsfwd.py --pg): with one that
#     kept b's side alive, a waited for b's lock until ctest's timeout.
# Every wait has a bound of its own and fails naming what it waited for.
# Cost: about 40 s, most of it waiting out the lease and the timeouts.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in nsenter tc ip; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs util-linux and iproute2)"
done
ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
NSR="rc$$x$RANDOM" NET="imgfs-cut-$$-$RANDOM"
MiB=1048576
chmod 711 "$T" # the database server runs as the postgres user
pg_database URL
ceph_cluster CA "$T/ceph" imgfs-r1
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }
me=$(id -un)
admin init >/dev/null
admin region add r1 --store "rados:imgfs-r1,conf=$CA,ns=$NSR" || fail "region add r1"
LEASE=6
admin lease $LEASE

say "host b's network namespace: its loopback reaches the engines through forwarders"
ip netns add "$NET"
at_exit "ip netns del '$NET'"
ip -n "$NET" link set lo up
pg_port=${URL##*:} && pg_port=${pg_port%%/*}
mon_port=$(sed -n 's/^mon host = .*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$CA")
osd_ports=$(ceph -c "$CA" osd dump -f json | python3 -c 'import json, sys
print(" ".join(a["addr"].rsplit(":", 1)[1] for o in json.load(sys.stdin)["osds"] for a in o["public_addrs"]["addrvec"]))')
[[ -n "$pg_port" && -n "$mon_port" && -n "$osd_ports" ]] || fail "engine ports: pg '$pg_port' mon '$mon_port' osd '$osd_ports'"
# shellcheck disable=SC2086
/usr/bin/python3 "$INTEGRATION_DIR/nsfwd.py" "$NET" --pg "$pg_port" "$mon_port" $osd_ports >"$T/fwd.out" 2>&1 &
fwd=$!
at_exit "kill $fwd 2>/dev/null"
wait_for 20 grep -q READY "$T/fwd.out" || { cat "$T/fwd.out" >&2; fail "the forwarders did not start"; }
in_net() { nsenter --net="/var/run/netns/$NET" "$@"; }
cut() { in_net tc qdisc add dev lo root blackhole; }
mend() { in_net tc qdisc del dev lo root 2>/dev/null || true; }
# b is let back before the exit trap's unmounts (at_exit's come after
# them): a daemon cut off would hold its unmount.
on_exit() {
    local rc=$?
    set +e
    mend
    (exit "$rc")
    _cleanup
}
trap on_exit EXIT
printf '#!/bin/sh\nexec nsenter --net=/var/run/netns/%s %q "$@"\n' "$NET" "$IMGFS" >"$T/imgfs-in-net"
chmod +x "$T/imgfs-in-net"

A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a,workers=1"
# (b's sessions are named, for the server's views below)
IMGFS="$T/imgfs-in-net" mount_imgfs "$T/state-b" "$B" "db=$URL?application_name=imgfs-host-b,host=b,workers=1"
# mount_imgfs looked for b's daemon by the wrapper's name and found none:
# without its pid the exit trap never killed a b that would not end, and a
# failed run left it running (seven of this stop's failed runs did).
_MOUNT_PID[$B]=$(_daemon_pid "$B")
[[ -n "${_MOUNT_PID[$B]}" ]] || fail "b's daemon is not found"
_watch_add "$B" "${_MOUNT_PID[$B]}"
RA="$A/regions/r1" RB="$B/regions/r1"
admin quota set "$me" r1 private-images 10 >/dev/null
grep -qx 'private-images 0 10' "$RB/quota" || fail "host b reads its quota before the cut"

# bounded SECS WHAT CMD...: CMD's status, or a failure naming WHAT when
# CMD has not ended within SECS s (called in the test's shell, never in a
# $(...): its output goes to a file) (a request waiting on FUSE cannot be
# killed: it is left, and the exit trap lets b back, which ends it).
bounded() {
    local secs=$1 what=$2 pid i
    shift 2
    "$@" &
    pid=$!
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        nap 0.1
    done
    ! kill -0 "$pid" 2>/dev/null || fail "$what: still waiting after $secs s"
    wait "$pid"
}

say "a cloud disk open on b: a probe holds it, buffered and O_DIRECT"
# vm's data disk, in the cluster (its metadata is shared: SPEC §13), open
# on b before the cut by a probe of its own (a process: nothing of the
# test's shell waits on b).  Once told (probe.go) it asks the disk, twice:
# its attributes (getattr), security.capability (what the kernel asks
# before every buffered write: FUSE clears SB_NOSEC), a buffered 4 KiB
# write and an O_DIRECT one, each line "round op errno seconds".
mkdir "$RB/instances/vm"
truncate -s 8M "$RB/instances/vm/disks/vdb"
echo start >"$RB/instances/vm/status"
python3 - "$RB/instances/vm/disks/vdb" "$T/probe" <<'EOF' &
import errno, mmap, os, sys, time
disk, out = sys.argv[1:]
buf = os.open(disk, os.O_RDWR)
direct = os.open(disk, os.O_RDWR | os.O_DIRECT)
m = mmap.mmap(-1, 4096)
m.write(b"\x5a" * 4096)
def call(f):
    t = time.monotonic()
    try:
        f()
        e = "OK"
    except OSError as x:
        e = errno.errorcode.get(x.errno, str(x.errno))
    return e, time.monotonic() - t
open(out + ".ready", "w").close()
while not os.path.exists(out + ".go"):
    time.sleep(0.05)
with open(out, "a", buffering=1) as f:
    for r in (1, 2):
        for name, fn in (("getattr", lambda: os.fstat(buf)),
                         ("getxattr", lambda: os.getxattr(disk, "security.capability")),
                         ("write", lambda: os.pwrite(buf, b"\x33" * 4096, 4096 * r)),
                         ("direct", lambda: os.pwritev(direct, [m], (1 << 20) * r))):
            e, t = call(fn)
            f.write("%d %s %s %.1f\n" % (r, name, e, t))
    f.write("done\n")
EOF
prober=$!
at_exit "kill $prober 2>/dev/null"
wait_for 30 test -e "$T/probe.ready" || fail "the probe did not open vm's vdb on b"

say "an upload on b: the writer holds disks/vda open"
python3 - "$T/disk.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.write(os.urandom(16 << 20))
    f.seek(510); f.write(b"\x55\xaa")
EOF
mkdir "$RB/private/up"
# The writer, a process of its own (none of the test's shell's own calls
# waits on b): it writes disk.raw up to each mark once the test made the
# file go.N, then closes, saying "wrote N", "closed" or "failed at N: ..."
# in writer.out.
python3 - "$RB/private/up/disks/vda" "$T/disk.raw" "$T/go" >"$T/writer.out" 2>&1 <<'EOF' &
import os, sys, time
dst, src, go = sys.argv[1:]
data = open(src, "rb").read()
at = 0
try:
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for i, end in enumerate((8 << 20, 9 << 20, len(data))):
        while not os.path.exists("%s.%d" % (go, i)):
            time.sleep(0.05)
        while at < end:
            at += os.write(fd, data[at:end])
        print("wrote", end, flush=True)
    os.close(fd)
    print("closed", flush=True)
except OSError as e:
    print("failed at %d: %s" % (at, e), flush=True)
EOF
writer=$!
at_exit "kill $writer 2>/dev/null"
# written LINE SECS WHAT: the writer said LINE within SECS s.
written() {
    wait_for "$2" grep -qx "$1" "$T/writer.out" || { cat "$T/writer.out" >&2; fail "$3: the writer did not say '$1' within $2 s"; }
}
touch "$T/go.0"
written "wrote $((8 * MiB))" 30 "the upload's first 8 MiB on b"
assert_eq uploading "$(status_of "$RA/private/up")" "up/status on a"
wait_for 10 grep -q '^rate ' "$RA/private/up/task" || { cat "$RA/private/up/task" >&2; fail "a shows no rate of b's upload while b reports"; }

say "b cut off inside a write transaction: its upload's progress waits on a row the test holds until the cut"
# b's writer reports its progress (at most once a second: fs/fuse/upload.c)
# in a write transaction: the service's write lock first, then its task's
# row, which a session of the test's holds.  b is cut while it waits; then
# the row is let go, the server finishes b's statement and its answer goes
# into the cut: b's session sits idle in its transaction, holding the lock.
sql() { psql -qtAX -v ON_ERROR_STOP=1 "$URL" -c "$1"; }
coproc HOLD { psql -qtAX -v ON_ERROR_STOP=1 "$URL" 2>&1; }
hold_in=${HOLD[1]} hold_out=${HOLD[0]}
echo "BEGIN; SELECT pg_backend_pid() FROM tasks WHERE kind = 'upload' AND image_id IN
      (SELECT id FROM images WHERE name = 'up') FOR UPDATE;" >&"$hold_in"
hold_pid=
read -r -t 20 hold_pid <&"$hold_out" || true
[[ "$hold_pid" =~ ^[0-9]+$ ]] || fail "the test's session holds no upload row: '$hold_pid'"
# the session of b's that waits for the held row
waiter() {
    sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'imgfs-host-b' AND $hold_pid = ANY(pg_blocking_pids(pid))"
}
nap 1.1
touch "$T/go.1"
has_waiter() { [[ -n "$(waiter)" ]]; }
wait_for 20 has_waiter || true
b_pid=$(waiter)
[[ "$b_pid" =~ ^[0-9]+$ ]] || fail "b's upload progress did not wait for the row the test holds: '$b_pid'"
ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
cut
t_cut=$(ms)
touch "$T/probe.go"
echo "ROLLBACK;" >&"$hold_in"
exec {hold_in}>&-
b_state() { sql "SELECT state FROM pg_stat_activity WHERE pid = $b_pid"; }
b_idle_in_txn() { [[ "$(b_state)" == "idle in transaction" ]]; }
wait_for 10 b_idle_in_txn || fail "b's session $b_pid is '$(b_state)', not idle in its transaction, once the row was let go"
[[ -n "$(sql "SELECT 1 FROM pg_locks WHERE pid = $b_pid AND locktype = 'advisory' AND granted")" ]] ||
    fail "b's session $b_pid, idle in its transaction, does not hold the write lock"
echo "    b cut off with its session $b_pid idle in a write transaction, holding the write lock"

say "b cut off: a shows b's upload with no rate once b is silent, and keeps it"
# a's view of b's upload, every 0.2 s until b's lease lapsed: from a
# third of the lease after b's last renewal (at most a sixth of it before
# the cut) on, no rate and no eta while it is running.  (Not `admin host
# list` meanwhile: an admin command opens the service in a write
# transaction, which waits for b's lock until the server ends b's session.)
silent=0
while (($(ms) - t_cut < LEASE * 1000)); do
    bounded 60 "a's private/up/task, b cut off" cat "$RA/private/up/task" >"$T/task"
    task=$(<"$T/task")
    if [[ "$task" == *"state running"* ]] && (($(ms) - t_cut >= LEASE * 1000 / 3 + 1000)); then
        silent=$((silent + 1))
        [[ "$task" != *$'\nrate '* && "$task" != *$'\neta '* ]] ||
            { echo "$task" >&2; fail "a shows a rate for b's upload $(($(ms) - t_cut)) ms after the cut"; }
    fi
    nap 0.2
done
((silent > 0)) || fail "a never read b's upload running once b was silent (the last: $(<"$T/task"))"
echo "    a read b's upload running and silent $silent times, with no rate"

# read_bounded PATH: the errno of one read of PATH on b, "hung" when it is
# still waiting after 120 s (a read waiting on FUSE cannot be killed: it
# is left, and the exit trap lets b back, which ends it).
read_bounded() {
    python3 "$INTEGRATION_DIR/errno.py" read "$1" >"$T/read.out" 2>&1 &
    local pid=$! i
    for ((i = 0; i < 1200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        nap 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then echo hung; else wait "$pid"; cat "$T/read.out"; fi
}
# b's users get EIO (below): the read is made now, beside the wait for b's
# session (in the background: the step's bound is its own).
{
    t0=$SECONDS
    e=$(read_bounded "$RB/quota")
    echo "$e $((SECONDS - t0))"
} >"$T/eio.out" &
reader=$!

say "the server ends b's session, idle in its write transaction, within b's timers: a writes again"
# b asked the server for a TCP user timeout of 10 s (model/db/postgres.c):
# the answer b never acknowledged ends the session 10 s after the cut (30 s
# with room for a loaded machine).  The forwarder's line says that TCP gave
# its side up, not that something else closed it.
gone_b() { [[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE pid = $b_pid")" == 0 ]]; }
took=999999
if wait_until 30 gone_b; then took=$(($(ms) - t_cut)); fi
((took <= 30000)) ||
    fail "b's session $b_pid is '$(b_state)' $(($(ms) - t_cut)) ms after the cut: the server does not see b cut off, and every write waits for b's lock"
echo "    b's session ended $took ms after the cut"
t_free=$(ms) # a's writes (its housekeeping's too) waited for b's lock until then
grep -q 'Connection timed out: both sides closed' "$T/fwd.out" || { cat "$T/fwd.out" >&2; fail "no forwarder's connection to b timed out"; }
bounded 30 "a write on a (admin quota set) once b's session ended" admin quota set "$me" r1 private-images 10 >/dev/null
host_b() { admin host list | awk '$1 == "b" { print $2 }'; }
host_b_gone() {
    bounded 60 "admin host list on a, b cut off" host_b >"$T/host_b"
    [[ "$(<"$T/host_b")" == gone ]]
}
wait_until 60 host_b_gone || { admin host list >&2; fail "b's lease did not lapse within 60 s of the cut"; }

say "b's users get EIO within the bound, never a hang"
wait "$reader"
read -r e took <"$T/eio.out"
assert_eq EIO "$e" "cat quota on b while it is cut off"
((took <= 45)) || fail "cat quota on b took $took s to fail (SPEC §13: about 20 s)"
echo "    cat quota on b: EIO after $took s"

say "b's lease lapsed: a's housekeeping (every 5 s) does not end b's upload"
# Meanwhile a stores a probe, one chunk b never read: once b is let back,
# b reads it before the writer goes on (below).
python3 -c 'import os, sys
d = bytearray(os.urandom(1 << 20)); d[446:510] = bytes(64); d[510:512] = b"\x55\xaa"; open(sys.argv[1], "wb").write(d)' "$T/probe.raw"
bounded 60 "mkdir of the probe on a" mkdir "$RA/private/probe"
bounded 60 "the probe's upload on a" cp "$T/probe.raw" "$RA/private/probe/disks/vda"
bounded 300 "the probe's upload ending on a (imgfs wait)" imgfs_wait -q "$RA/private/probe" ||
    fail "the probe's upload on a: $(cat "$RA/private/probe/error")"
# a's housekeeping has run twice since it could write again
wait=$((11000 - ($(ms) - t_free)))
((wait <= 0)) || nap "$((wait / 1000)).$(printf %03d $((wait % 1000)))"
assert_eq uploading "$(status_of "$RA/private/up")" "up/status on a after b's lease lapsed"
assert_eq "" "$(cat "$RA/private/up/error")" "up/error on a after b's lease lapsed"
! grep -q "upload of image .* ended in error" "$T/state-a/imgfs.log" || fail "a ended b's upload"
grep -q '^state orphaned' "$RA/private/up/task" || { cat "$RA/private/up/task" >&2; fail "a does not show b's upload orphaned"; }
! grep -qE '^(rate|eta) ' "$RA/private/up/task" || fail "a shows a rate for the orphaned upload"

say "b says it lost its lease, in its log and in what its users get"
wait_until 60 grep -q "lease: host b lost its lease" "$T/state-b/imgfs.log" ||
    { tail -n 20 "$T/state-b/imgfs.log" >&2; fail "b's log does not say it lost its lease"; }
assert_eq EIO "$(read_bounded "$RB/quota")" "cat quota on b after its lease lapsed"
bounded 30 "b's /errors while it is cut off" cat "$B/errors" >"$T/errors"
grep -q "host b is cut off from the database: its lease lapsed" "$T/errors" ||
    { cat "$T/errors" >&2; fail "b's /errors does not say why"; }

say "b's open cloud disk while it was cut off: getattr and getxattr answered at once, writes EIO within the op timeout"
# (issue 70: the getxattr before a buffered write waited out the
# database's reconnect, and an O_DIRECT write the OSD map, for the whole
# cut.)  getattr OK and security.capability ENODATA from the open disk,
# under 2 s; each write answered (EIO: the OSD is cut off; OK: answered
# ahead) within 20 s (SPEC §12: a cloud disk's own operation, one op
# timeout: 5 s here, with room for a loaded machine).
wait_until 60 grep -qx done "$T/probe" || { cat "$T/probe" >&2; fail "the probe of b's open disk did not end within 60 s of the cut"; }
sed 's/^/    /' "$T/probe"
awk '$2 == "getattr" && ($3 != "OK" || $4 > 2) { bad = 1 } $2 == "getxattr" && ($3 != "ENODATA" || $4 > 2) { bad = 1 }
     ($2 == "write" || $2 == "direct") && (($3 != "OK" && $3 != "EIO") || $4 > 20) { bad = 1 } END { exit bad }' "$T/probe" ||
    fail "b's open cloud disk, cut off: an answer out of its bound (above)"
grep -qE ' (write|direct) EIO ' "$T/probe" || fail "no write of b's open cloud disk failed while b was cut off from the OSD"

say "b let back: its RADOS client answers again, the writer finishes, the upload ends available with its bytes"
mend
# librados finds the monitor and the OSD again at its own pace (its
# reconnect backs off, longer on a loaded machine: 3 tries of 5 s could
# end before it, and the writer got EIO): b is back once it reads a chunk
# it never read (the probe a stored while b was cut off: no cache of b's
# holds it).  An attempt before may be EIO, which is §13's answer then.
t0=$SECONDS
probe() { bounded 60 "b's read of the probe" cmp -s "$T/probe.raw" "$RB/private/probe/disks/vda"; }
wait_until 120 probe || fail "b does not read the probe through its RADOS client 120 s after it was let back"
echo "    b read the probe $((SECONDS - t0)) s after it was let back"
written "wrote $((9 * MiB))" 60 "the write that waited in the cut"
touch "$T/go.2"
written closed 120 "the writer's last bytes and its close once b was back"
wait "$writer"
bounded 300 "b's upload ending available (imgfs wait on a)" imgfs_wait -q "$RA/private/up" ||
    { cat "$RA/private/up/error" >&2; fail "b's upload did not end available"; }
bounded 60 "reading b's upload through a" cmp "$T/disk.raw" "$RA/private/up/disks/vda" || fail "b's upload read through a differs"
wait_until 30 grep -q "lease: host b renewed its lease after" "$T/state-b/imgfs.log" ||
    fail "b's log does not say it renewed its lease after the lapse"
bounded 30 "b's quota once back" cat "$RB/quota" >"$T/quota"
grep -qx 'private-images 2 10' "$T/quota" || { cat "$T/quota" >&2; fail "b's quota once back"; }

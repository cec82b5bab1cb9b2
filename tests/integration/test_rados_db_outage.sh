#!/usr/bin/env bash
# test_rados_db_outage: a cloud disk's writes do not need the database
# (issue 49 "Crash and faults", SPEC §13).  A service of two hosts, a and
# b, on a PostgreSQL server of the test's own, with a region in the
# suite's cluster.  A cloud-disk instance runs on a; its vda is held open,
# as a running VM holds it, when the server stops:
#   - 32 writes of 1 MiB through that descriptor, each fsync'ed, succeed
#     while the server is away (a disk's bytes and records are in the
#     cluster; its writer was fenced and recorded at the open), and so do
#     the reads of what they wrote (through the page cache: the kernel
#     asks the disk's attributes before each, answered from the open
#     disk), and fstat (its size, and at least the 40 MiB written);
#   - what needs the database is EIO (a new open of the disk, the
#     instance's status), never a wait for ever, and the log says why
#     (the lease cannot be renewed);
#   - once the server is back, the same mount opens and writes the disk
#     again without a remount, its bytes are exactly what was written,
#     and the instance, stopped on a and started on b, reads the same.
# Cost: a PostgreSQL server of its own (about 3 s) and its restart; about
# 20 s.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
PG="$T/pg"
pg_server URL
C="$IMGFS_TEST_CEPH_DIR/ceph.conf"
NS="dbo$$x$RANDOM"
at_exit "rados -c '$C' -p imgfs-test -N '$NS' ls 2>/dev/null | xargs -r -n 1000 rados -c '$C' -p imgfs-test -N '$NS' rm"

say "a cloud-disk instance running on a, its vda written and held open"
"$IMGFS" admin --state "$T/state-a" --db "$URL" init >/dev/null
"$IMGFS" admin --state "$T/state-a" --db "$URL" region add rc --store "rados:imgfs-test,conf=$C,ns=$NS" >/dev/null ||
    fail "region add rc"
A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
mount_imgfs "$T/state-b" "$B" "db=$URL,host=b,workers=0"
VA="$A/regions/rc/instances/vm" VB="$B/regions/rc/instances/vm"
mkdir "$VA"
echo 64M >"$VA/system-disk-size"
echo cloud >"$VA/system-disk"
echo start >"$VA/status"
head -c 64M /dev/urandom >"$T/v"
dd if="$T/v" of="$VA/disks/vda" bs=1M count=8 conv=notrunc,fsync status=none

say "PostgreSQL stopped: the held descriptor writes, fsyncs and reads; what needs the database is EIO"
# The writer: opens vda, stops the server, then writes MiB 8 to 39, each
# fsync'ed, reads each back, and says how each went and how long it took.
python3 - "$VA/disks/vda" "$T/v" "$ROOT/scripts/pg-down" "$PG" >"$T/writes" <<'PY' || fail "the writer: $(tail -n 3 "$T/writes")"
import os, subprocess, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
src = open(sys.argv[2], "rb").read()
subprocess.run([sys.argv[3], sys.argv[4]], check=True)
for k in range(8, 40):
    t = time.monotonic()
    mib = src[k << 20:(k + 1) << 20]
    os.pwrite(fd, mib, k << 20)
    os.fsync(fd)
    if os.pread(fd, 1 << 20, k << 20) != mib:
        sys.exit("MiB %d read back differs" % k)
    print("%d %.1f" % (k, time.monotonic() - t))
st = os.fstat(fd)
if st.st_size != 64 << 20 or st.st_blocks < 40 << 11:
    sys.exit("fstat with the database away: size %d, %d blocks" % (st.st_size, st.st_blocks))
os.close(fd)
PY
assert_eq 32 "$(wc -l <"$T/writes")" "writes that succeeded with the database away"
awk '$2 > 10 { exit 1 }' "$T/writes" || fail "a write waited over 10 s: $(sort -k2 -n "$T/writes" | tail -n 1)"
assert_eq EIO "$(errno_of read "$VA/disks/vda")" "a new open of vda with the database away"
assert_eq EIO "$(errno_of read "$VA/status")" "vm's status with the database away"
wait_until 15 grep -q "lease: host a cannot renew its lease" "$T/state-a/imgfs.log" ||
    fail "the log does not say the lease cannot be renewed"

say "PostgreSQL back: the same mount writes again; the bytes exact on a, and on b after a move"
"$ROOT/scripts/pg-up" "$PG" >/dev/null
wait_until 30 dd if="$T/v" of="$VA/disks/vda" bs=1M skip=40 seek=40 count=24 conv=notrunc,fsync status=none 2>/dev/null ||
    fail "writes to vda after the server came back"
cmp "$T/v" "$VA/disks/vda" || fail "vda on a"
echo stop >"$VA/status"
echo start >"$VB/status" || fail "start of vm on b"
assert_eq b "$(cat "$VB/host")" "vm's host after the start on b"
cmp "$T/v" "$VB/disks/vda" || fail "vda on b"

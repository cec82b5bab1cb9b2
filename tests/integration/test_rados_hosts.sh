#!/usr/bin/env bash
# test_rados_hosts: SPEC §13 whole — one service whose metadata is in
# PostgreSQL and whose regions' chunks are in Ceph RADOS pools, mounted by
# two hosts (two state directories on this machine, -o host=a and
# -o host=b).  Regions r1 and r2 are two pools of one cluster (ctest's ceph
# fixture, IMGFS_TEST_CEPH_DIR, or the test's own), in a namespace of this
# run's.
#   - a QCOW2 uploaded through a, read through b; converted through b;
#     copied between the pools through a; every blob equal (cmp);
#   - an instance on a: b lists its disks with their sizes, EREMOTE to
#     open or create there (as in a dir: region, test_hosts.sh);
#   - a frozen (SIGSTOP: it stops renewing its lease) in the middle of a
#     copy between the pools, then killed: b takes the copy over once a's
#     lease expired, not before, resumes it (the chunks a copied are not
#     copied again), and it ends available with the source's bytes;
#   - fsck clean afterwards.
# test_hosts.sh covers the rest of two hosts with dir: stores; test_rados.sh
# the rest of RADOS with one host.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
NS="rh$$x$RANDOM"
chmod 711 "$T" # the database server runs as the postgres user
pg_database URL
ceph_cluster CA "$T/ceph" imgfs-r1 imgfs-r2
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }
me=$(id -un)

say "a service in PostgreSQL with regions r1 and r2 in two pools"
admin init >/dev/null
admin region add r1 --store "rados:imgfs-r1,conf=$CA,ns=$NS" || fail "region add r1"
admin region add r2 --store "rados:imgfs-r2,conf=$CA,ns=$NS" || fail "region add r2"
admin lease 3
A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a,workers=1"
mount_imgfs "$T/state-b" "$B" "db=$URL,host=b,workers=0" # b runs no task until the take-over
R1A="$A/regions/r1" R1B="$B/regions/r1" R2A="$A/regions/r2" R2B="$B/regions/r2"
admin quota set "$me" r1 private-images 10

say "an upload through a, read through b; converted through b; copied between the pools through a"
head -c $((3 << 20)) /dev/urandom >"$T/small.raw"
qemu-img convert -f raw -O qcow2 "$T/small.raw" "$T/small.qcow2"
mkdir "$R1A/private/small"
cp "$T/small.qcow2" "$R1A/private/small/disks/vda"
imgfs_wait "$R1A/private/small" >/dev/null || fail "the upload on a: $(cat "$R1A/private/small/error")"
wait_for 1 grep -qx available "$R1B/private/small/status" || fail "the upload not available on b"
cmp "$R1B/private/small/disks/vda" "$T/small.qcow2" || fail "b reads other bytes than a uploaded"
echo small-cloud >"$R1B/private/small/convert"
imgfs_wait "$R1A/private/small-cloud" >/dev/null || fail "conversion: $(cat "$R1A/private/small-cloud/error")"
mkdir "$R1A/private/small-cloud/copies/r2"
imgfs_wait "$R2B/private/small-cloud" >/dev/null || fail "copy: $(cat "$R2B/private/small-cloud/error")"
snap=$(devmap_ref "$R2B/private/small-cloud" vda)
cmp "$R2B/snapshots/$snap/data" "$T/small.raw" || fail "the copy's bytes, read on b"

say "an instance on a in r1: b lists its disks with their sizes; they are EREMOTE to open or create there"
mkdir "$R1A/instances/vm3"
wait_for 1 test -d "$R1B/instances/vm3" || fail "vm3 not on b within 1 s"
assert_eq a "$(cat "$R1B/instances/vm3/host")" "instances/vm3/host on b"
remote_disks "$R1A/instances/vm3" "$R1B/instances/vm3"

say "a frozen, then killed, in the middle of a copy between the pools: b takes it over once a's lease expired"
# 384 MiB: the copy must outlast the 96 MiB a has done when it is frozen
# (768 took 126 s of an ASan pass for this step).
head -c $((384 << 20)) /dev/urandom >"$T/big.raw"
qemu-img convert -f raw -O qcow2 "$T/big.raw" "$T/big.qcow2"
mkdir "$R1A/private/big"
cp "$T/big.qcow2" "$R1A/private/big/disks/vda"
imgfs_wait "$R1A/private/big" >/dev/null || fail "the big upload: $(cat "$R1A/private/big/error")"
echo big-cloud >"$R1A/private/big/convert"
imgfs_wait "$R1A/private/big-cloud" >/dev/null || fail "the big conversion: $(cat "$R1A/private/big-cloud/error")"
# Its SHA-256 pass (a checksum task, §2.1) done first: a has one worker,
# and b would claim the copy while that worker hashed 384 MiB.
hashed "$R1A/private/big-cloud"
remount_imgfs "$T/state-b" "$B" "db=$URL,host=b,workers=2"
mkdir "$R1A/private/big-cloud/copies/r2"
# Frozen once a has copied some of it (a task's progress is durable per
# batch), so that b's part shows it resumed rather than began again.
done_bytes() { awk '$1 == "bytes-done" { print $2 }' "$R1A/private/big-cloud/task" 2>/dev/null; }
for ((i = 0; i < 2000; i++)); do (($(done_bytes || echo 0) >= (96 << 20))) && break; sleep 0.01; done
grep -q '^state running' "$R1A/private/big-cloud/task" || fail "the copy is not running on a: $(cat "$R1A/private/big-cloud/task")"
freeze_until_taken_over "$A" "$T/state-b" 3 "$URL"
imgfs_wait "$R2B/private/big-cloud" >/dev/null || fail "b did not finish a's copy: $(cat "$R2B/private/big-cloud/error")"
snap=$(devmap_ref "$R2B/private/big-cloud" vda)
cmp "$R2B/snapshots/$snap/data" "$T/big.raw" || fail "the copied bytes"
line=$(grep -E 'copy img-.* r1 -> r2: .* chunks' "$T/state-b/imgfs.log" | tail -n 1)
echo "    $line"
[[ "$line" =~ ([0-9]+)\ already\ there ]] && ((BASH_REMATCH[1] > 0)) || fail "b's copy found none of the chunks a had copied"
(($(grep -c 'copy img-.* r1 -> r2: .* chunks' "$T/state-a/imgfs.log" || true) == 1)) || fail "a finished a copy it no longer ran"


say "fsck clean"
admin fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck"; }

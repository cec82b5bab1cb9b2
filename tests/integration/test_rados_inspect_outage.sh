#!/usr/bin/env bash
# test_rados_inspect_outage: an inspection that meets a store that does not
# answer could not tell (SPEC §20, §13 "Failure behaviour"; issue 70: one
# that ran during an OSD outage stored "status: done", no volumes, "no
# operating system found" and a false "vda: not read (too many disks read
# at once)" over the image's good inspection, and was never tried again).
# One region, ri, in a one-node Ceph cluster of the test's own (op timeout
# 1 s), mounted once:
#   - a private image x (an MBR disk, sfdisk, whose partition is an ext4
#     made by mke2fs -d with a Debian os-release) is inspected: done;
#   - what the mount keeps of x's bytes is let go (its chunk cache filled
#     with another image's chunks, its files/ helpers killed while idle;
#     x's disk stays known to files/), the OSD killed, and x's inspection
#     asked again (`echo > inspect`): the dead helper is replaced (the log
#     says so), the new one's reads are not answered, so the old
#     inspection stays, byte for byte, the log says "could not tell" and
#     that the task went back to the queue with its pause, never a
#     verdict (a Release build stored the dead helper's "not read");
#   - once the OSD is back, the task run again stores a new inspection,
#     done, naming the guest.
# Cost: a cluster of its own (about 8 s to start, once more to restart its
# OSD), the catalogue's inspections and a few op timeouts: about 40 s.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in mke2fs sfdisk; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs e2fsprogs and fdisk)"
done
ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
NS="ri$$x$RANDOM"

say "a cluster of the test's own (op timeout 1 s), a region ri in it, an image x inspected"
CEPH_UP_OP_TIMEOUT=1 ceph_own C imgfs-i
S="$T/state" M="$T/mnt"
imgfs_admin "$S" init >/dev/null
imgfs_admin "$S" region add ri --store "rados:imgfs-i,conf=$C,ns=$NS" >/dev/null || fail "region add ri"
mount_imgfs "$S" "$M" workers=1
imgfs_admin "$S" quota set "$(id -un)" ri private-images 5 >/dev/null
P="$M/regions/ri/private"
mkdir -p "$T/root/etc"
printf 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' \
    >"$T/root/etc/os-release"
truncate -s 20M "$T/x.img"
echo 'start=2048, type=83' | sfdisk -q "$T/x.img" >/dev/null || fail "sfdisk"
mke2fs -q -F -t ext4 -E offset=1048576 -d "$T/root" "$T/x.img" 16M >/dev/null || fail "mke2fs -d"
mkdir "$P/x"
cp "$T/x.img" "$P/x/disks/vda"
imgfs_wait --timeout 120 "$P/x" >/dev/null || fail "imgfs wait private/x: $(cat "$P/x/error")"
done_() { grep -qx 'status: done' "$P/x/inspection"; }
wait_until 120 done_ || { cat "$P/x/inspection" >&2; fail "private/x was not inspected"; }
grep -qx 'os: linux debian 12' "$P/x/inspection" || grep -q debian "$P/x/inspection" ||
    { cat "$P/x/inspection" >&2; fail "x's inspection does not name its guest"; }
cp "$P/x/inspection" "$T/inspection.good"

# The room of files/ keeps 16 disks' partitions, least recently used out:
# the platform catalogue's inspections (queued at the first mount, taken in
# turns with x's) decided whether x's was still there at the outage, so the
# test met one of its two paths by timing.  Made sure: the queue empty, x's
# disk taken last (its vda1 read), so the outage's run finds x's disk known
# and its helper dead (killed below): the path a Release build always took
# (the helper's "failed" stored as a verdict).
inspects_idle() { ! grep -q '^imgfs_tasks{kind="inspect"' "$M/stats"; }
wait_until 120 inspects_idle || { grep '^imgfs_tasks' "$M/stats" >&2; fail "the catalogue's inspections did not end"; }
[[ $(cat "$P/x/files/vda1/etc/os-release") == *debian* ]] || fail "x's files/vda1/etc/os-release"

say "what the mount keeps of x let go: its chunk cache filled with y's chunks, its helpers killed"
# y: 40 MiB of random bytes (more than the store's 32 cached chunks) with
# a boot signature, read whole once it is stored.
python3 - "$T/y.img" <<'EOF'
import os, sys
d = bytearray(os.urandom(40 << 20)); d[446:510] = bytes(64); d[510:512] = b"\x55\xaa"
open(sys.argv[1], "wb").write(d)
EOF
mkdir "$P/y"
cp "$T/y.img" "$P/y/disks/vda"
imgfs_wait --timeout 120 "$P/y" >/dev/null || fail "imgfs wait private/y: $(cat "$P/y/error")"
cmp "$T/y.img" "$P/y/disks/vda" || fail "y read back"
wait_until 120 inspects_idle || fail "y's inspection did not end" # (a run of its during the outage: a second requeue)
daemon=${_MOUNT_PID[$M]}
# (a helper may end by itself between pgrep and kill: idle ones do)
for h in $(pgrep -P "$daemon" imgfs-inside || true); do kill -9 "$h" 2>/dev/null || true; done

say "the OSD killed, x's inspection asked again: could not tell, the old one stays, back in the queue"
osd=$(cat "$T/ceph/osd.0.pid")
kill -9 "$osd"
_wait_gone "$osd" 10 || fail "the OSD survived kill -9"
echo >"$P/x/inspect"
queued() { grep -qE "inspect task [0-9]+ \(image [0-9]+\): .*back in the queue, claimed again in" "$S/imgfs.log"; }
wait_until 60 queued || { tail -n 20 "$S/imgfs.log" >&2; fail "the inspection with the OSD down did not go back to the queue"; }
grep -qE "inspection of image [^ ]+: could not tell: vda: .*: the last inspection stays" "$S/imgfs.log" ||
    { grep "inspection of" "$S/imgfs.log" >&2; fail "the log does not say the inspection could not tell"; }
grep -qE "inside /regions/ri/private/x/files/vda1 .*: its helper ended while idle \(the helper died of signal 9\): a new one is started" "$S/imgfs.log" ||
    { grep "inside" "$S/imgfs.log" >&2; fail "the helper killed while idle was not replaced"; }
cmp "$T/inspection.good" "$P/x/inspection" ||
    { cat "$P/x/inspection" >&2; fail "x's inspection changed while the OSD was down"; }
echo "    $(grep -cE 'inspect task [0-9]+ \(image [0-9]+\): .*back in the queue' "$S/imgfs.log") run(s) back in the queue; the old inspection stays"

say "the OSD back: the task run again stores a new inspection, done, naming the guest"
"$ROOT/scripts/ceph-up" "$T/ceph" >/dev/null || fail "restarting the OSD"
wait_until 60 timeout 10 rados -c "$C" -p imgfs-i -N "$NS" ls >/dev/null || fail "the OSD does not serve after 60 s"
again() { done_ && ! cmp -s "$T/inspection.good" "$P/x/inspection"; }
wait_until 120 again || { cat "$P/x/inspection" >&2; tail -n 10 "$S/imgfs.log" >&2; fail "no new inspection once the OSD was back"; }
grep -q debian "$P/x/inspection" || { cat "$P/x/inspection" >&2; fail "the new inspection does not name the guest"; }
! grep -q "not read" "$P/x/inspection" || { cat "$P/x/inspection" >&2; fail "the new inspection says a disk was not read"; }

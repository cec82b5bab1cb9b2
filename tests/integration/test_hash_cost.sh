#!/usr/bin/env bash
# SPEC §2.1 `sha256`, §2.3 `user.imgfs.xxh128`, §8, §12 (issue 36): whole-
# blob hashes cost no request thread anything, and the background pass
# that computes them is bounded and gives way.  On a multi-user mount with
# one task worker:
#  (a) alice captures an instance with a 1 TiB data disk holding 5 bytes:
#      its pass skips that disk (more holes than the 64 GiB allowance, a
#      log line), 40 `getfattr -n user.imgfs.xxh128` at once of it all end
#      with ENODATA while bob's `cat status` and root's `/stats` answer — before,
#      each getfattr hashed 1 TiB of zeros in a FUSE thread (minutes);
#  (b) alice uploads a 1 MiB raw file ftruncate'd to 1 TiB: it becomes
#      available without its trailing hole hashed in RELEASE (sha256 left
#      to the pass, which skips it and says why);
#  (c) alice captures a 60 GiB system disk (under the allowance: its pass
#      hashes 60 GiB of zeros, about a minute); bob's conversion, queued
#      while that pass runs on the only worker, completes while the pass
#      has not — the pass gave the worker back (a log line);
#  (d) deleting the image stops its pass (a log line).
# Counted, not timed: each wait is for a condition, bounded far below what
# the hashing it rules out would take (1 TiB: 10 minutes of SHA-256).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

other_uids
setup_mount allow_other,multiuser,workers=1
imgfs_admin "$S" account add alice --uid 2301
imgfs_admin "$S" account add bob --uid 2302
alice() { as 2301 "$@"; }
bob() { as 2302 "$@"; }
P="$R/private"
I="$R/instances"
reread() { stat_of "$M" imgfs_sha256_read_bytes_total; }
logged() { grep -qF -- "$1" "$S/imgfs.log"; }
# Each account sees its own private/: what is read of an image, as its owner.
ready() { # UID DIR: imgfs wait as UID
    as "$1" timeout 300 "$T/imgfs-as" wait "$2" >"$T/wait.out" 2>&1 ||
        { cat "$T/wait.out" >&2; fail "imgfs wait $2: $(as "$1" cat "$2/error")"; }
}
hashed_as() { # UID DIR: until DIR/sha256 has content
    _sha_now() { [[ -n $(as "$1" cat "$2/sha256") ]]; }
    wait_for 300 _sha_now "$1" "$2" || fail "$2/sha256 still empty"
}

say "bob: a small raw image of his own (cp: hashed as written)"
python3 - "$T/bob.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    mbr = bytearray(os.urandom(1 << 20)); mbr[510:512] = b"\x55\xaa"
    f.write(mbr)
EOF
chmod 644 "$T/bob.raw"
bob mkdir "$P/mine"
bob cp "$T/bob.raw" "$P/mine/disks/vda"
ready 2302 "$P/mine"

say "(a) alice captures vm1 with a 1 TiB vdb holding 5 bytes"
alice mkdir "$I/vm1"
alice sh -c "echo 1G > '$I/vm1/system-disk-size'"
alice truncate -s 1T "$I/vm1/disks/vdb"
alice sh -c "printf hello | dd of='$I/vm1/disks/vdb' bs=1 seek=4096 conv=notrunc status=none"
alice mkdir "$P/big"
alice sh -c "echo 'instance vm1 vdb' > '$P/big/source'"
ready 2301 "$P/big"
big=$(alice cat "$P/big/id")
wait_for 60 logged "image $big: vdb not hashed: 1023 GiB of holes, more than the 64 GiB" ||
    fail "no log line says why big's vdb is not hashed"
hashed_as 2301 "$P/big" # vda (1 GiB) is
assert_eq available "$(alice cat "$P/big/status")" "big's status (not error)"
assert_eq "" "$(alice cat "$P/big/error")" "big's error file"

say "(a) 40 getfattr of big/disks/vdb at once; bob's status and root's /stats meanwhile"
for i in $(seq 1 40); do
    alice "$SYS_PY" "$T/errno-as.py" getxattr "$P/big/disks/vdb" user.imgfs.xxh128 >"$T/gf.$i" 2>&1 &
done
bob cat "$P/mine/status" >"$T/bob.status" 2>&1 &
bob_pid=$!
cat "$M/stats" >"$T/root.stats" 2>&1 &
stats_pid=$!
gf_done() { # every getfattr has said something (its errno name)
    local i
    for i in $(seq 1 40); do [[ -s "$T/gf.$i" ]] || return 1; done
}
wait_for 60 gf_done || fail "40 getfattr of a 1 TiB sparse blob still running after 60 s (hashing in FUSE threads?)"
wait "$bob_pid" || fail "bob's cat status failed: $(cat "$T/bob.status")"
wait "$stats_pid" || fail "root's cat /stats failed: $(cat "$T/root.stats")"
assert_eq available "$(cat "$T/bob.status")" "bob's status during the storm"
grep -q '^imgfs_' "$T/root.stats" || fail "root's /stats has no series"
for i in $(seq 1 40); do assert_eq ENODATA "$(cat "$T/gf.$i")" "getfattr #$i of big/disks/vdb"; done
alice getfattr --absolute-names -d -m - "$P/big/disks/vdb" | grep -q 'user\.imgfs\.xxh128' &&
    fail "listxattr names user.imgfs.xxh128 where there is none"
# vda's is kept: the same as xxhsum of the bytes (§2.3).
assert_eq "$(alice xxhsum -H2 "$P/big/disks/vda" 2>/dev/null | awk '{print $1}')" \
    "$(alice getfattr --absolute-names --only-values -n user.imgfs.xxh128 "$P/big/disks/vda")" "big/disks/vda's xattr"

say "(b) an upload ftruncate'd to 1 TiB: close returns, the image leaves uploading unhashed"
alice mkdir "$P/tb"
alice "$SYS_PY" - "$P/tb/disks/vda" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
mbr = bytearray(1 << 20); mbr[510:512] = b"\x55\xaa"; mbr[4096:4101] = b"hello"
os.pwrite(fd, bytes(mbr), 0)
os.ftruncate(fd, 1 << 40)
os.close(fd)
EOF
up_gone() { [[ $(alice cat "$P/tb/status") != uploading ]]; }
wait_for 120 up_gone || fail "the 1 TiB upload still uploading 120 s after its close (its hole hashed in RELEASE?)"
ready 2301 "$P/tb"
assert_eq $((1 << 40)) "$(alice cat "$P/tb/size")" "the upload's size"
tb=$(alice cat "$P/tb/id")
wait_for 60 logged "image $tb: vda not hashed: 1023 GiB of holes" || fail "no log line says why tb is not hashed"
assert_eq "" "$(alice cat "$P/tb/sha256")" "the 1 TiB upload's sha256 (not computed)"
errno_as 2301 ENODATA getxattr "$P/tb/disks/vda" user.imgfs.xxh128

say "(c) alice captures a 60 GiB system disk: its pass runs on the only worker"
alice mkdir "$I/vm2"
alice sh -c "echo 60G > '$I/vm2/system-disk-size'"
alice sh -c "printf hello | dd of='$I/vm2/disks/vda' bs=1 seek=4096 conv=notrunc status=none"
alice mkdir "$P/mid"
r0=$(reread)
alice sh -c "echo 'instance vm2' > '$P/mid/source'"
ready 2301 "$P/mid"
mid=$(alice cat "$P/mid/id")
passing() { (($(reread) > r0 + (1 << 30))); } # a GiB of it hashed: the pass runs
wait_for 120 passing || fail "mid's checksum pass did not start"
say "(c) bob converts his image meanwhile: it completes while mid's pass has not"
bob sh -c "echo > '$P/mine/convert'"
ready 2302 "$P/mine-cloud"
assert_eq available "$(bob cat "$P/mine-cloud/status")" "bob's conversion"
assert_eq "" "$(alice cat "$P/mid/sha256")" "mid's sha256 when bob's conversion is available (the pass gave way)"
wait_for 30 logged "checksum of image $mid: vda: stopped, a task waits for its worker" ||
    fail "no log line says mid's pass gave its worker back"

say "(d) deleting mid stops its pass"
r1=$(reread)
again() { (($(reread) > r1 + (1 << 30))); } # running again
wait_for 120 again || fail "mid's checksum pass did not start again"
alice rmdir "$P/mid"
wait_for 30 logged "checksum of image $mid: vda: stopped, its image is no longer available" ||
    fail "deleting mid did not stop its pass"
echo "PASS"

#!/usr/bin/env bash
# SPEC §13: regions whose chunks live in Ceph RADOS, through a real mount.
# Two one-node clusters: A (ctest's ceph fixture, IMGFS_TEST_CEPH_DIR, or
# one of the test's own) with pools imgfs-r1 and imgfs-r2, and B (the
# test's own: its OSD is killed) with pool imgfs-b; regions r1, r2 on A's
# pools and r3 on B, each in a namespace of this run's.
#   - region add refuses, one line each, a pool that does not exist, a
#     cluster that does not answer, a malformed spec and a pool holding
#     another region's chunks; a mount refuses a region whose cluster is
#     down, and mounts again once it is back;
#   - publish, capture from an instance (its overlays stay in the state
#     directory), an ISO image as an instance's cdrom (by reference) and its
#     password's seed, cp upload of a QCOW2, URL import, convert, copy to another
#     pool and to the second cluster: bytes equal (cmp, qemu-img compare),
#     user.imgfs.xxh128 as xxhsum -H2 computes it;
#   - the copies move each chunk once ("N chunks copied, 0 already there"),
#     and a second copy to cluster B of the same content moves none and
#     writes no object there;
#   - fsck clean; gc removes exactly the unreferenced chunks (the objects
#     left in the pool are the referenced ones);
#   - an object replaced by other bytes (`rados put`) is EIO on read with a
#     log line and is named by fsck; put back, all is clean;
#   - cluster B's OSD killed (kill -9) during a cold read and started again:
#     the read ends with EIO or with the right bytes, and the next read
#     through the same mount is right.
# kill -9 of imgfs during an upload, a capture and a copy into a RADOS
# region: scripts/crash-trials --rados, crash-trials-import --rados.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
SERVE="$INTEGRATION_DIR/../servers/serve.py"
BLOB_PY="$INTEGRATION_DIR/blob.py"
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
MiB=1048576
NS="rt$$x$RANDOM"

declare -a SERVER_PIDS=()
on_exit() {
    local rc=$? p
    set +e
    for p in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    (exit "$rc")
    _cleanup
}
trap on_exit EXIT

say "cluster B (the test's own) starting in the background; cluster A"
"$ROOT/scripts/ceph-up" "$T/ceph-b" imgfs-b >"$T/ceph-b.out" 2>"$T/ceph-b.err" &
cb_pid=$!
at_exit "'$ROOT/scripts/ceph-down' '$T/ceph-b'"
ceph_cluster CA "$T/ceph-a" imgfs-r1 imgfs-r2

# objs CONF POOL: the chunk objects of this run's namespace in POOL, sorted.
objs() { rados -c "$1" -p "$2" -N "$NS" ls | grep -E '^[0-9a-f]{32}$' | LC_ALL=C sort || true; }

S="$T/state" M="$T/mnt"
imgfs_admin "$S" init >/dev/null # only init and a mount make a state (§15)

say "librados is opened by the first rados: store, not by every start (backend/rados_lib.h)"
# loads_librados CMD...: whether the dynamic loader opened librados for CMD.
loads_librados() {
    LD_DEBUG=files "$@" >/dev/null 2>"$T/ld.out" || true
    grep -q 'file=librados\.so' "$T/ld.out"
}
maps_librados() { grep -q '/librados\.so' "/proc/${_MOUNT_PID[$1]}/maps"; }
! loads_librados "$IMGFS" --version || fail "imgfs --version loaded librados"
! loads_librados "$IMGFS" admin --state "$S" region list || fail "region list of local regions loaded librados"
loads_librados "$IMGFS" admin --state "$S" region add ra --store "rados:no-such-pool,conf=$CA,ns=$NS" ||
    fail "region add of a rados: store did not load librados (is the check blind?)"
mount_imgfs "$S" "$M"
[[ -n "${_MOUNT_PID[$M]}" ]] || fail "no daemon pid for $M"
! maps_librados "$M" || fail "a mount of local regions only has librados mapped"
umount_imgfs "$M"

say "region add refusals: one line each, nothing made"
refused() { # WHAT EXPECTED_PART ARGS...
    local what=$1 part=$2 out rc=0; shift 2
    out=$(imgfs_admin "$S" region add "$@" 2>&1) && rc=0 || rc=$?
    ((rc != 0)) || fail "region add $* ($what) succeeded"
    (($(wc -l <<<"$out") == 1)) || { echo "$out" >&2; fail "region add ($what) printed more than one line"; }
    [[ "$out" == *"$part"* ]] || fail "region add ($what): \"$out\" does not say \"$part\""
    echo "    $out"
}
refused "no such pool" "does not exist" ra --store "rados:no-such-pool,conf=$CA,ns=$NS"
sed -E 's/^mon host = .*/mon host = v2:127.0.0.1:1/; s/^client mount timeout = .*/client mount timeout = 2/' "$CA" >"$T/dead.conf"
refused "unreachable cluster" "cannot reach the Ceph cluster" ra --store "rados:imgfs-r1,conf=$T/dead.conf,ns=$NS"
refused "relative conf" "absolute path" ra --store "rados:imgfs-r1,conf=ceph.conf"
refused "unknown option" "options are" ra --store "rados:imgfs-r1,pg=8"

say "regions r1, r2 (cluster A, two pools) and r3 (cluster B)"
imgfs_admin "$S" region add r1 --store "rados:imgfs-r1,conf=$CA,ns=$NS" || fail "region add r1"
imgfs_admin "$S" region add r2 --store "rados:imgfs-r2,conf=$CA,ns=$NS" || fail "region add r2"
wait "$cb_pid" || { cat "$T/ceph-b.err" >&2; fail "cluster B did not start"; }
CB=$(cat "$T/ceph-b.out")
imgfs_admin "$S" region add r3 --store "rados:imgfs-b,conf=$CB,ns=$NS" || fail "region add r3"
refused "pool holding r1's chunks" "another region" ra --store "rados:imgfs-r1,conf=$CA,ns=$NS"
catalogue_b=$(objs "$CB" imgfs-b | wc -l)
((catalogue_b > 0)) || fail "region add r3 stored no catalogue chunk in cluster B"
echo "    r3's platform catalogue: $catalogue_b objects in cluster B"

mount_imgfs "$S" "$M"
maps_librados "$M" || fail "a mount with rados: regions has no librados mapped"
R1="$M/regions/r1" R2="$M/regions/r2" R3="$M/regions/r3"
assert_eq "cn-east-2 cn-north-1 cn-south-1 r1 r2 r3" "$(entries "$M/regions")" "regions/"
cmp "$M/regions/cn-north-1/public/centos-7.4/disks/vda" "$R1/public/centos-7.4/disks/vda" ||
    fail "the catalogue's centos-7.4 differs between a local region and r1"

say "publish public r1: same bytes, user.imgfs.xxh128 as xxhsum -H2"
python3 - "$T/pub.raw" <<'EOF'
import os, sys
MiB = 1 << 20
with open(sys.argv[1], "wb") as f:
    f.truncate(40 * MiB)
    for off in (0, 3 * MiB, 17 * MiB, 18 * MiB, 39 * MiB):
        f.seek(off); f.write(os.urandom(MiB))
    f.seek(510); f.write(b"\x55\xaa")
EOF
imgfs_admin "$S" publish public r1 pub "$T/pub.raw" >/dev/null || fail "publish public r1 pub"
cmp "$T/pub.raw" "$R1/public/pub/disks/vda" || fail "r1/public/pub differs from the file"
want=$(xxhsum -H2 "$T/pub.raw" | awk '{ print $1 }')
want=${want#XXH128_}
got=$(getfattr --only-values -n user.imgfs.xxh128 "$R1/public/pub/disks/vda")
assert_eq "$want" "$got" "user.imgfs.xxh128 of r1/public/pub"

say "capture of a cloud-disk instance in r1 (its overlays in the state directory)"
new_vm "$R1/instances/vm1"
echo cloud >"$R1/instances/vm1/system-disk"
write_random "$R1/instances/vm1/disks/vda" 0 6
write_random "$R1/instances/vm1/disks/vda" 900 3
truncate -s 32M "$R1/instances/vm1/disks/vdb"
write_random "$R1/instances/vm1/disks/vdb" 2 2
ls "$S/regions/r1/wblobs" | grep -q '\.data$' || fail "no overlay of vm1's disks in $S/regions/r1/wblobs"
mkdir "$R1/private/cap"
capture "$R1/private/cap" vm1 vdb
snap=$(devmap_ref "$R1/private/cap" vda)
python3 -c "$_SPARSE_PY" compare "$R1/instances/vm1/disks/vda" "$R1/snapshots/$snap/data" ||
    fail "the captured vda differs from vm1's"
snap_b=$(devmap_ref "$R1/private/cap" vdb)
cmp "$R1/instances/vm1/disks/vdb" "$R1/snapshots/$snap_b/data" || fail "the captured vdb differs from vm1's"

say "an ISO image in r1 as an instance's cdrom: by reference, no object written; the password's seed one object"
mkdir -p "$T/isodir"
echo "r1 installer" >"$T/isodir/readme.txt"
genisoimage -quiet -V R1DISC -R -o "$T/r1.iso" "$T/isodir" || fail "genisoimage"
mkdir "$R1/iso/disc" "$R1/instances/vm2"
cp "$T/r1.iso" "$R1/iso/disc/disks/cdrom"
imgfs_wait "$R1/iso/disc" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "iso/disc: $(cat "$R1/iso/disc/error")"; }
before=$(objs "$CA" imgfs-r1 | wc -l)
echo iso/disc >"$R1/instances/vm2/image" || fail "iso/disc refused as vm2's image"
assert_eq "$before" "$(objs "$CA" imgfs-r1 | wc -l)" "objects in imgfs-r1 after the ISO went in"
cmp "$T/r1.iso" "$R1/instances/vm2/disks/cdrom" || fail "vm2/disks/cdrom differs from the ISO"
echo 'Rad0s-seed' >"$R1/instances/vm2/password" || fail "vm2's password refused"
assert_eq $((before + 1)) "$(objs "$CA" imgfs-r1 | wc -l)" "objects in imgfs-r1 after the password"
isoinfo -J -x /meta-data -i "$R1/instances/vm2/disks/cidata" | grep -qE "^instance-id: \"$(cat "$R1/instances/vm2/id")-[0-9]+\"$" ||
    fail "vm2's seed read from the pool"

say "a QCOW2 uploaded with cp into r1"
python3 - "$T/q.raw" <<'EOF'
import os, sys
MiB = 1 << 20
with open(sys.argv[1], "wb") as f:
    f.truncate(96 * MiB)
    for off in range(MiB, 96 * MiB, 3 * MiB):
        f.seek(off); f.write(os.urandom(2 * MiB - 4096))
    f.seek(0); f.write(b"\xeb\x63" + os.urandom(400)); f.seek(510); f.write(b"\x55\xaa")
EOF
qemu-img convert -q -f raw -O qcow2 "$T/q.raw" "$T/q.qcow2"
mkdir "$R1/private/up"
cp "$T/q.qcow2" "$R1/private/up/disks/vda" || fail "cp of the QCOW2 into r1/private/up/disks/vda"
imgfs_wait "$R1/private/up" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "the upload: $(cat "$R1/private/up/error")"; }
assert_eq qcow2 "$(cat "$R1/private/up/format")" "up/format"
cmp "$T/q.qcow2" "$R1/private/up/disks/vda" || fail "r1/private/up/disks/vda differs from the uploaded file"
qemu-img compare -q "$T/q.raw" "$R1/private/up/disks/vda" || fail "qemu-img compare of the upload"

say "URL import into r1 from a local HTTP server"
mkdir -p "$T/files"
cp "$T/q.qcow2" "$T/files/q.qcow2"
/usr/bin/python3 "$SERVE" http "$T/files" >"$T/serve.out" 2>"$T/serve.err" &
SERVER_PIDS+=($!)
wait_for 30 grep -q '^PORT ' "$T/serve.out" || fail "serve.py did not start: $(cat "$T/serve.err")"
port=$(awk '$1 == "PORT" { print $2 }' "$T/serve.out")
imgfs_admin "$S" import allow 127.0.0.1 >/dev/null || fail "import allow 127.0.0.1" # imports reach no loopback by default (§5.2)
mkdir "$R1/private/url"
echo "url http://127.0.0.1:$port/q.qcow2" >"$R1/private/url/source" || fail "url refused: $(cat "$R1/private/url/error")"
imgfs_wait "$R1/private/url" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "the import: $(cat "$R1/private/url/error")"; }
cmp "$T/q.qcow2" "$R1/private/url/disks/vda" || fail "the imported disk differs from the served file"

say "convert the upload: a cloud image whose vda is the decoded disk"
echo >"$R1/private/up/convert" || fail "convert refused: $(cat "$R1/private/up/error")"
imgfs_wait "$R1/private/up-cloud" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "the conversion"; }
csnap=$(devmap_ref "$R1/private/up-cloud" vda)
qemu-img compare -q -f raw -F raw "$T/q.raw" "$R1/snapshots/$csnap/data" || fail "the converted disk differs"
data_chunks=$(python3 -c "$_SPARSE_PY" datamap "$R1/snapshots/$csnap/data" | wc -l)

# copy_to REGION: copies private/up-cloud there, waits, checks the bytes;
# prints the finished copy's log line.
copy_to() {
    local r=$1 dst="$M/regions/$1/private/up-cloud" before line
    before=$(grep -c "copy .* r1 -> $r:" "$S/imgfs.log" || true)
    mkdir "$R1/private/up-cloud/copies/$r" || fail "mkdir copies/$r: $(cat "$R1/private/up-cloud/error")"
    imgfs_wait "$dst" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "the copy to $r: $(cat "$dst/error")"; }
    qemu-img compare -q -f raw -F raw "$T/q.raw" "$M/regions/$r/snapshots/$(devmap_ref "$dst" vda)/data" ||
        fail "the copy in $r differs"
    logged() { (($(grep -c "copy .* r1 -> $r:" "$S/imgfs.log") > before)); }
    wait_for 10 logged || fail "no log line for the copy to $r"
    grep "copy .* r1 -> $r:" "$S/imgfs.log" | tail -n1
}

say "copy to r2 (another pool) and to r3 (another cluster): every chunk moved once"
line=$(copy_to r2)
echo "    $line"
[[ "$line" == *": $data_chunks chunks ("*" bytes) copied, 0 already there" ]] || fail "copy to r2: $line ($data_chunks data chunks)"
b_before=$(objs "$CB" imgfs-b | wc -l)
line=$(copy_to r3)
echo "    $line"
[[ "$line" == *": $data_chunks chunks ("*" bytes) copied, 0 already there" ]] || fail "copy to r3: $line"
b_copied=$(objs "$CB" imgfs-b | wc -l)
assert_eq $((b_before + data_chunks)) "$b_copied" "objects in cluster B after the copy"

say "the copy in r3 removed, copied again: no chunk moves, no object is written"
rmdir "$R3/private/up-cloud" && rmdir "$R3/recycle-bin/up-cloud" || fail "removing the copy in r3"
line=$(copy_to r3)
echo "    $line"
[[ "$line" == *": 0 chunks (0 bytes) copied, $data_chunks already there" ]] || fail "second copy to r3: $line"
assert_eq "$b_copied" "$(objs "$CB" imgfs-b | wc -l)" "objects in cluster B after the second copy"

say "fsck: clean"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck"; }

say "gc: exactly the unreferenced chunks go (the copy in r3, removed again)"
objs "$CB" imgfs-b >"$T/b.before"
rmdir "$R3/private/up-cloud" && rmdir "$R3/recycle-bin/up-cloud" || fail "removing the copy in r3"
destroyed "$R3/recycle-bin/up-cloud" # its chunks are young: the destroy leaves them to gc
sleep 1.1 # gc --grace 0 spares what was touched in the current second
out=$(imgfs_admin "$S" gc --grace 0 --force) || fail "gc"
echo "    $out"
assert_eq "removed $data_chunks chunks" "$(tail -n1 <<<"$out")" "gc's count"
objs "$CB" imgfs-b >"$T/b.after"
assert_eq "$catalogue_b" "$(wc -l <"$T/b.after")" "objects left in cluster B: r3's catalogue"
comm -13 "$T/b.before" "$T/b.after" | grep -q . && fail "gc made objects appear"
cmp "$T/pub.raw" "$R1/public/pub/disks/vda" || fail "r1/public/pub after gc"
qemu-img compare -q -f raw -F raw "$T/q.raw" "$R2/snapshots/$(devmap_ref "$R2/private/up-cloud" vda)/data" ||
    fail "the copy in r2 after gc"
cmp "$R3/public/centos-7.4/disks/vda" "$R1/public/centos-7.4/disks/vda" || fail "r3's catalogue after gc"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after gc"; }

say "an object of r2 replaced by other bytes (rados put): EIO and a log line; fsck names it"
r2data="$R2/snapshots/$(devmap_ref "$R2/private/up-cloud" vda)/data"
victim="" off=""
for o in $(objs "$CA" imgfs-r2); do
    rados -c "$CA" -p imgfs-r2 -N "$NS" get "$o" "$T/obj" || fail "rados get $o"
    (($(stat -c %s "$T/obj") == MiB)) || continue
    off=$(python3 "$BLOB_PY" find-chunk "$T/q.raw" "$T/obj")
    if [[ -n "$off" ]] && ((off > 0)); then victim=$o; break; fi
done
[[ -n "$victim" ]] || fail "no full chunk of the copy found among r2's objects"
cp "$T/obj" "$T/obj.good"
head -c "$MiB" /dev/urandom >"$T/obj.bad"
rados -c "$CA" -p imgfs-r2 -N "$NS" put "$victim" "$T/obj.bad" || fail "rados put"
# A remount: the daemon keeps the last 32 verified chunks of each store
# in memory (blobstore/cache.c), and the victim may be one of them.
umount_imgfs "$M"
mount_imgfs "$S" "$M"
assert_errno EIO readat "$r2data" "$((off + 4096))" 4096
grep -q "EIO" "$S/imgfs.log" || fail "no EIO line in the log"
grep -q "chunk $victim in rados:imgfs-r2.*hash mismatch" "$S/imgfs.log" || fail "no log line naming chunk $victim"
dd if="$r2data" bs=1M count=1 status=none | cmp -s - <(head -c "$MiB" "$T/q.raw") ||
    fail "the first MiB of r2's copy (intact) does not read"
rc=0
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "fsck exit status with a corrupted object"
grep -q "$victim" "$T/fsck.out" || { cat "$T/fsck.out" >&2; fail "fsck does not name $victim"; }
rados -c "$CA" -p imgfs-r2 -N "$NS" put "$victim" "$T/obj.good" || fail "rados put (the good bytes back)"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck once the object is put back"; }
evict "$r2data"
qemu-img compare -q -f raw -F raw "$T/q.raw" "$r2data" || fail "r2's copy once the object is put back"

say "cluster B's OSD killed during a cold read and started again"
head -c $((192 * MiB)) /dev/urandom >"$T/big.raw"
printf '\x55\xaa' | dd of="$T/big.raw" bs=1 seek=510 conv=notrunc status=none # an MBR: publish takes no unknown format
imgfs_admin "$S" publish public r3 big "$T/big.raw" >/dev/null || fail "publish public r3 big"
evict "$R3/public/big/disks/vda"
timeouts_before=$(grep -c "timed out" "$S/imgfs.log" || true)
# The objects to probe the OSD with once it is back, named now: a listing
# needs the OSD too.
rados -c "$CB" -p imgfs-b -N "$NS" ls | grep -E '^[0-9a-f]{32}$' >"$T/b.objects" || fail "no object in imgfs-b to probe"
# b_stat_all SECS: a fresh client stats every object of cluster B's pool
# (so every placement group: one that stays blocked blocks only its own
# objects) within SECS, by the clock.  A stat that times out is asked again
# after a fresh OSD map, as imgfs does: a client that read the map while
# the monitor still had the dead instance up sends to nowhere until then.
b_stat_all() {
    timeout "$1" /usr/bin/python3 - "$CB" imgfs-b "$NS" "$T/b.objects" <<'PY' >/dev/null 2>&1
import rados, sys
conf, pool, ns, names = sys.argv[1:5]
c = rados.Rados(conffile=conf, conf={"rados_osd_op_timeout": "5", "rados_mon_op_timeout": "5"})
c.connect(timeout=5)
io = c.open_ioctx(pool)
io.set_namespace(ns)
for name in open(names).read().split():
    while True:
        try:
            io.stat(name)
            break
        except rados.TimedOut:
            c.wait_for_latest_osdmap()
PY
}
# b_serves: cluster B's OSD serves every placement group within 30 s, else
# it is restarted, as an operator would, twice at most.  A one-OSD cluster
# back from a stop may leave placement groups "laggy" (their read lease ran
# out while the process was stopped) with nothing to wake them: Ceph's
# business, not the client's (ceph/ceph-container issue 1682); a restart
# peers them again.
b_serves() {
    local pid restarts
    for restarts in 0 1 2; do
        if b_stat_all 30; then
            ((restarts == 0)) || echo "    the OSD serves every placement group after $restarts restart(s)"
            return 0
        fi
        ((restarts < 2)) || break
        echo "    the OSD is up but leaves reads of its pool waiting (a fresh client's too): restarting it"
        pid=$(cat "$T/ceph-b/osd.0.pid")
        kill -9 "$pid"
        _wait_gone "$pid" 10 || fail "the OSD survived kill -9"
        "$ROOT/scripts/ceph-up" "$T/ceph-b" >/dev/null || fail "restarting cluster B's OSD"
    done
    fail "cluster B's OSD leaves reads waiting after two restarts (Ceph, not imgfs: a fresh client waits too)"
}
osd=$(cat "$T/ceph-b/osd.0.pid")
t0=$SECONDS
cat "$R3/public/big/disks/vda" >"$T/big.out" 2>"$T/big.err" &
catpid=$!
sleep 0.05
kill -9 "$osd"
_wait_gone "$osd" 10 || fail "the OSD survived kill -9"
sleep 3
"$ROOT/scripts/ceph-up" "$T/ceph-b" >/dev/null || fail "restarting cluster B's OSD"
crc=0
timeout 300 tail --pid="$catpid" -f /dev/null || fail "cat still running 300 s after the kill"
wait "$catpid" || crc=$?
if ((crc == 0)); then
    cmp "$T/big.raw" "$T/big.out" || fail "the read survived the OSD's death with wrong bytes"
    echo "    the read completed with the right bytes after $((SECONDS - t0)) s"
else
    grep -q "Input/output error" "$T/big.err" || { cat "$T/big.err" >&2; fail "the read failed otherwise than EIO"; }
    got=$(stat -c %s "$T/big.out")
    cmp -n "$got" "$T/big.raw" "$T/big.out" || fail "the bytes before the EIO are wrong"
    echo "    the read failed with EIO after $((SECONDS - t0)) s, $got bytes before"
fi
timeouts=$(($(grep -c "timed out" "$S/imgfs.log" || true) - timeouts_before))
echo "    $timeouts timeouts logged"
grep "timed out" "$S/imgfs.log" | tail -n 2 | sed 's/^/    | /'
b_serves
evict "$R3/public/big/disks/vda"
wait_until 120 cmp -s "$T/big.raw" "$R3/public/big/disks/vda" || fail "r3/public/big does not read right after the OSD came back"
echo "    the same mount reads r3 right again $((SECONDS - t0)) s after the kill"

say "cluster B's OSD stopped (SIGSTOP, a hung disk): a cold read ends in EIO within the timeouts, cluster A answers meanwhile, the read works once it continues"
evict "$R3/public/big/disks/vda"
osd=$(cat "$T/ceph-b/osd.0.pid")
timeouts_before=$(grep -c "timed out" "$S/imgfs.log" || true)
kill -STOP "$osd"
at_exit "kill -CONT $osd 2>/dev/null"
t0=$SECONDS
cat "$R3/public/big/disks/vda" >/dev/null 2>"$T/hung.err" &
catpid=$!
sleep 2
kill -0 "$catpid" 2>/dev/null || fail "the read of r3 ended at once with its OSD stopped"
# The hung cluster holds the threads of its reads only: another cluster's
# region reads (cold, through the daemon) while r3's read waits.
timeout 60 cmp "$T/pub.raw" "$R1/public/pub/disks/vda" || fail "r1 (cluster A) while cluster B's OSD is stopped"
kill -0 "$catpid" 2>/dev/null || fail "the read of r3 ended before r1's: the OSD did not hang it"
echo "    r1 read right after $((SECONDS - t0)) s while r3's read waits"
crc=0
timeout 300 tail --pid="$catpid" -f /dev/null || fail "the read of r3 still waits 300 s after the OSD stopped"
wait "$catpid" || crc=$?
waited=$((SECONDS - t0))
((crc != 0)) || fail "the read of r3 succeeded with its only OSD stopped"
grep -q "Input/output error" "$T/hung.err" || { cat "$T/hung.err" >&2; fail "the read of r3 failed otherwise than EIO"; }
# 3 attempts of 10 s each (blobstore/backend/rados.c), and the kernel's readahead
# asks several chunks at once: well under 120 s, not the 900 s a one-OSD
# monitor takes to mark the OSD down.
((waited <= 120)) || fail "the read of r3 took $waited s to fail"
timeouts=$(($(grep -c "timed out" "$S/imgfs.log" || true) - timeouts_before))
((timeouts > 0)) || fail "no timeout logged"
echo "    the read failed with EIO after $waited s, $timeouts timeouts logged"
kill -CONT "$osd"
b_serves
evict "$R3/public/big/disks/vda"
wait_until 120 cmp -s "$T/big.raw" "$R3/public/big/disks/vda" || fail "r3/public/big does not read right after the OSD continued"
echo "    the same mount reads r3 right again $((SECONDS - t0)) s after the stop"

say "a mount refuses a region whose cluster is down, in one line; mounts once it is back"
umount_imgfs "$M"
"$ROOT/scripts/ceph-down" "$T/ceph-b"
rc=0
out=$(timeout 60 "$IMGFS" -o "state=$S" "$M" 2>&1) || rc=$?
((rc != 0)) || { _MOUNTS+=("$M"); fail "mounted with cluster B down"; }
echo "    $out"
(($(wc -l <<<"$out") == 1)) || fail "the refusal is more than one line"
[[ "$out" == *"region r3"*"cannot reach"* ]] || fail "the refusal does not say region r3 cannot be reached: $out"
mountpoint -q "$M" && fail "$M is mounted"
"$ROOT/scripts/ceph-up" "$T/ceph-b" >/dev/null || fail "restarting cluster B"
mount_imgfs "$S" "$M"
cmp "$T/pub.raw" "$R1/public/pub/disks/vda" || fail "r1/public/pub after the remount"
wait_until 60 cmp -s "$T/big.raw" "$R3/public/big/disks/vda" || fail "r3/public/big after the remount"
umount_imgfs "$M"

say "migrate: an embedded state into PostgreSQL, one region's chunks into a RADOS pool"
chmod 711 "$T" # the database server runs as the postgres user
S2="$T/state2"
mount_imgfs "$S2" "$M"
umount_imgfs "$M"
imgfs_admin "$S2" publish public cn-east-2 mig "$T/pub.raw" >/dev/null || fail "publish public cn-east-2 mig"
local_chunks=$(find "$S2/regions/cn-east-2" -type f -regextype egrep -regex '.*/[0-9a-f]{32}' | wc -l)
((local_chunks > 0)) || fail "no chunk files in cn-east-2's directory"
pg_database URL
NSM="$NS-mig"
mstore="rados:imgfs-r2,conf=$CA,ns=$NSM"
imgfs_admin "$S2" migrate --to "$URL" --store "cn-east-2=rados:no-such-pool,conf=$CA,ns=$NSM" >"$T/mig.out" 2>&1 &&
    fail "migrate to a pool that does not exist succeeded"
grep -q "does not exist" "$T/mig.out" || { cat "$T/mig.out" >&2; fail "migrate's refusal of a missing pool"; }
imgfs_admin "$S2" migrate --to "$URL" --store "cn-east-2=$mstore" >"$T/mig.out" 2>&1 ||
    { cat "$T/mig.out" >&2; fail "migrate --store cn-east-2=$mstore"; }
grep -q "region cn-east-2: $local_chunks chunks placed in $mstore" "$T/mig.out" ||
    { cat "$T/mig.out" >&2; fail "migrate does not report $local_chunks chunks placed in the pool"; }
migrated=$(rados -c "$CA" -p imgfs-r2 -N "$NSM" ls | grep -cE '^[0-9a-f]{32}$' || true)
assert_eq "$local_chunks" "$migrated" "objects in the pool after migrate"
"$IMGFS" admin --db "$URL" --state "$S2" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck of the migrated service"; }
# The state's own chunk files go: what the mount reads is in RADOS.
find "$S2/regions/cn-east-2" -type f -regextype egrep -regex '.*/[0-9a-f]{32}' -delete
mount_imgfs "$S2" "$M" "db=$URL"
cmp "$T/pub.raw" "$M/regions/cn-east-2/public/mig/disks/vda" || fail "cn-east-2/public/mig read from the pool"
umount_imgfs "$M"
say "done"

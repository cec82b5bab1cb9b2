#!/usr/bin/env bash
# test_rados_encrypt.sh — encrypted images (SPEC §17) in a region whose
# chunks are in Ceph RADOS (§13): a 1 MiB random needle uploaded into an
# encrypted image and another written into an encrypted instance's disk
# (then captured, so its chunks reach the pool) are in no object of the
# pool (`rados get` of every one), nor in the state directory (the
# instance's overlay stays there); the plain image's needle is in an
# object (the search can fail).  Every byte reads back; a conversion and
# a copy to a local region keep the lineage; fsck with the key opens every
# chunk; gc keeps what is named.
source "$(dirname "$0")/lib.sh"

MiB=1048576
NS="re$$x$RANDOM"

ceph_cluster CONF "$T/ceph" imgfs-r1
# pool_dump DIR: every object of this run's namespace, fetched into DIR.
pool_dump() {
    rm -rf "$1"
    mkdir -p "$1"
    rados -c "$CONF" -p imgfs-r1 -N "$NS" ls >"$T/objects" || fail "rados ls"
    (($(wc -l <"$T/objects") > 0)) || fail "no object in the pool"
    while read -r o; do
        rados -c "$CONF" -p imgfs-r1 -N "$NS" get "$o" "$1/$o" || fail "rados get $o"
    done <"$T/objects"
    echo "    $(wc -l <"$T/objects") objects fetched"
}

needles up_enc up_plain vm_enc
needle_disk "$T/enc.raw" up_enc
needle_disk "$T/plain.raw" up_plain
head -c 32 /dev/urandom >"$T/kek"
chmod 600 "$T/kek"

S="$T/state" M="$T/mnt"
imgfs_admin "$S" init >/dev/null
imgfs_admin "$S" region add rr --store "rados:imgfs-r1,conf=$CONF,ns=$NS" || fail "region add rr"
mount_imgfs "$S" "$M" "keyfile=$T/kek"
R="$M/regions/rr" P="$M/regions/rr/private"
imgfs_admin "$S" quota set "$(id -un)" rr private-images 10 >/dev/null

say "uploads into an encrypted and a plain image of the RADOS region; an encrypted instance written, captured"
mkdir "$P/enc" "$P/plain"
echo yes >"$P/enc/encrypted"
cp "$T/enc.raw" "$P/enc/disks/vda"
cp "$T/plain.raw" "$P/plain/disks/vda"
imgfs_wait "$P/enc" "$P/plain" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait"; }
cmp "$T/enc.raw" "$P/enc/disks/vda" || fail "enc reads other bytes"
cmp "$T/plain.raw" "$P/plain/disks/vda" || fail "plain reads other bytes"
new_vm "$R/instances/ve"
echo private/enc >"$R/instances/ve/image"
dd if="$T/vm_enc" of="$R/instances/ve/disks/vda" bs=1M seek=5 conv=notrunc status=none
mkdir "$P/cap"
capture "$P/cap" ve
assert_eq yes "$(cat "$P/cap/encrypted")" "the capture of ve"
cmp <(dd if="$P/cap/disks/vda" bs=1M skip=5 count=1 status=none) "$T/vm_enc" || fail "cap's vda"

say "no object of the pool holds an encrypted needle, nor the state directory; the plain one is there"
pool_dump "$T/pool"
nowhere up_enc "uploaded into enc" "$T/pool"
nowhere vm_enc "written into ve, captured" "$T/pool"
somewhere up_plain "uploaded into plain" "$T/pool"
nowhere up_enc "uploaded into enc" "$S"
nowhere vm_enc "written into ve" "$S"

say "a conversion, and a copy of it to a local region: the same lineage, the same bytes"
echo >"$P/enc/convert"
imgfs_wait "$P/enc-cloud" >/dev/null || fail "enc-cloud"
assert_eq yes "$(cat "$P/enc-cloud/encrypted")" "enc-cloud"
mkdir "$P/enc-cloud/copies/cn-north-1"
imgfs_wait "$M/regions/cn-north-1/private/enc-cloud" >/dev/null || fail "the copy"
L="$M/regions/cn-north-1"
assert_eq yes "$(cat "$L/private/enc-cloud/encrypted")" "the copy"
cmp "$T/enc.raw" "$L/snapshots/$(devmap_ref "$L/private/enc-cloud" vda)/data" || fail "the copy's bytes"
nowhere up_enc "copied to cn-north-1" "$S/regions/cn-north-1"

say "fsck with the key: every chunk opens; gc keeps every named chunk"
imgfs_admin "$S" --keyfile "$T/kek" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck"; }
imgfs_admin "$S" gc --grace 0 --force >/dev/null || fail "gc"
cmp "$T/enc.raw" "$P/enc/disks/vda" || fail "enc after gc"
cmp <(dd if="$P/cap/disks/vda" bs=1M skip=5 count=1 status=none) "$T/vm_enc" || fail "cap after gc"

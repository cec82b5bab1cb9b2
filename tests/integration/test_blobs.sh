#!/usr/bin/env bash
# SPEC §2.3, §3: disks/* blobs — qemu-img accepts the public disks, the
# xattr hash equals xxhsum's, marketplace blobs are EACCES, parallel reads at
# any offset and size return the device's bytes, SEEK_DATA/SEEK_HOLE follow
# the data map, st_blocks counts stored data, st_blksize is 1 MiB.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
BLOB_PY="$INTEGRATION_DIR/blob.py"

setup_mount

for n in $(public_names "$R"); do
    disk="$R/public/$n/disks/vda"
    size=$(cat "$R/public/$n/size")

    say "public/$n: qemu-img info accepts disks/vda as raw, virtual size = size file ($size)"
    qemu-img info --output=json "$disk" >"$T/qinfo" 2>&1 || { cat "$T/qinfo" >&2; fail "qemu-img info $disk failed"; }
    vsize=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["virtual-size"])' "$T/qinfo")
    fmt=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["format"])' "$T/qinfo")
    assert_eq "$size" "$vsize" "qemu-img virtual-size of public/$n"
    assert_eq raw "$fmt" "qemu-img format of public/$n"

    say "public/$n: st_blksize is 1 MiB and st_blocks > 0"
    assert_eq 1048576 "$(stat -c %o "$disk")" "st_blksize of public/$n/disks/vda"
    (($(stat -c %b "$disk") > 0)) || fail "st_blocks of $disk is 0"
done

# The whole-content hash is checked on two disks, the smallest and a
# 2 GiB Windows one (another size, its middle chunk at 1 GiB): the xattr is
# the same code for every blob, and every catalogue disk's bytes are
# test_catalogue's (a unit test hashing each one).  All 14 (17 GiB, mostly
# holes, read through the mount by xxhsum and by the daemon's own first
# hash) took 300 s and 240 CPU-seconds of an ASan pass: a tenth of CI.
hashed_disks=("$(smallest_public "$R")" windows-server-2016-datacenter)
say "public/${hashed_disks[0]}, public/${hashed_disks[1]}: getfattr user.imgfs.xxh128 equals xxhsum -H2 (both at once)"
# Each disk's pages are dropped once it is hashed (dd iflag=nocache
# count=0: the whole file), so the page cache does not reach the caches
# this test and the ones beside it count.
# shellcheck disable=SC2016
for n in "${hashed_disks[@]}"; do printf '%s\0' "$R/public/$n/disks/vda"; done |
    xargs -0 -P2 -n1 sh -c 'xxhsum -H2 "$1" && dd if="$1" iflag=nocache count=0 status=none' _ \
        >"$T/xxhsums" 2>"$T/xxhsum.err" ||
    { cat "$T/xxhsum.err" >&2; fail "xxhsum -H2 failed"; }
for n in "${hashed_disks[@]}"; do
    disk="$R/public/$n/disks/vda"
    xattr=$(getfattr --absolute-names --only-values -n user.imgfs.xxh128 "$disk" 2>"$T/gf.err") ||
        { cat "$T/gf.err" >&2; fail "getfattr user.imgfs.xxh128 $disk failed"; }
    xattr=$(tr -d '\n' <<<"$xattr" | tr 'A-F' 'a-f')
    assert_match '[0-9a-f]{32}' "$xattr" "xattr value of public/$n"
    sum=$(awk -v f="$disk" '{ h = $1; sub(/^[^ ]+  /, ""); if ($0 == f) print h }' "$T/xxhsums")
    assert_eq "$sum" "$xattr" "xxhsum -H2 vs user.imgfs.xxh128 of public/$n"
done

say "an absent xattr is ENODATA; listxattr names user.imgfs.xxh128"
disk="$R/public/centos-7.4/disks/vda"
assert_errno ENODATA getxattr "$disk" user.imgfs.nope
assert_errno ENODATA getxattr "$R/public/centos-7.4/id" user.imgfs.xxh128
getfattr --absolute-names -d -m - "$disk" | grep -q '^user\.imgfs\.xxh128=' || fail "getfattr -d does not list user.imgfs.xxh128"

say "marketplace disks/vda: read is EACCES (cat fails too); attributes stay readable"
for md in "$R"/marketplace/*/; do
    md=${md%/}; n=${md##*/}
    mdisk="$md/disks/vda"
    [[ -f "$mdisk" ]] || fail "$mdisk missing"
    assert_errno EACCES read "$mdisk"
    if cat "$mdisk" >/dev/null 2>&1; then fail "cat $mdisk succeeded"; fi
    cat "$R/marketplace/$n/size" >/dev/null
done

# The rest works on the public disk with the smallest virtual size.
n=$(smallest_public "$R")
disk="$R/public/$n/disks/vda"
size=$(stat -c %s "$disk")
say "reference copy of public/$n/disks/vda ($size bytes) made with cat"
# shellcheck disable=SC2216  # cp reads /dev/stdin
cat "$disk" | cp --sparse=always /dev/stdin "$T/ref"
assert_eq "$size" "$(stat -c %s "$T/ref")" "size of the cat copy"
assert_eq "$(xxhsum -H2 "$T/ref" 2>/dev/null | awk '{print $1}')" \
    "$(getfattr --absolute-names --only-values -n user.imgfs.xxh128 "$disk" | tr -d '\n' | tr 'A-F' 'a-f')" \
    "xxhsum of the cat copy vs the xattr"
mapfile -t data < <(python3 "$BLOB_PY" datamap "$T/ref")
say "data chunks of the reference: ${#data[@]} (${data[*]:0:20})"
((${#data[@]} > 0)) || fail "public/$n has no data at all"

say "8 parallel dd readers at random offsets with odd block sizes match the reference"
pids=()
for k in 1 2 3 4 5 6 7 8; do
    bs=$(((RANDOM % 200000) * 2 + 4093))
    if ((k % 2)); then
        off=$((data[RANDOM % ${#data[@]}] * 1048576 + RANDOM * 7 - 100000))
        ((off < 0)) && off=0
    else
        off=$(((RANDOM * 32768 + RANDOM) % size))
    fi
    cnt=$((bs * (1 + RANDOM % 7) + RANDOM % 1000))
    echo "    dd #$k: skip=$off count=$cnt bs=$bs"
    ( dd if="$disk" of="$T/dd.$k" bs="$bs" iflag=skip_bytes,count_bytes skip="$off" count="$cnt" status=none &&
      dd if="$T/ref" of="$T/ddref.$k" bs="$bs" iflag=skip_bytes,count_bytes skip="$off" count="$cnt" status=none ) &
    pids+=($!)
done
for k in 1 2 3 4 5 6 7 8; do
    wait "${pids[$((k - 1))]}" || fail "dd #$k failed"
done
for k in 1 2 3 4 5 6 7 8; do
    assert_file_eq "$T/ddref.$k" "$T/dd.$k" "dd #$k"
done

say "8 threads x 60 random preads (shared and private descriptors) match the reference"
python3 "$BLOB_PY" preads "$disk" "$T/ref" 8 60 "$RANDOM" || fail "parallel preads returned wrong bytes"

say "SEEK_DATA / SEEK_HOLE match the 1 MiB data map of the reference"
python3 "$BLOB_PY" seekcheck "$disk" "$T/ref" || fail "lseek SEEK_DATA/SEEK_HOLE disagree with the data map"

say "st_blocks = 512-byte blocks of the data chunks"
assert_eq "$(python3 "$BLOB_PY" datablocks "$T/ref")" "$(stat -c %b "$disk")" "st_blocks of public/$n/disks/vda"

say "a whole sequential read equals the reference, twice (second from the page cache: no reads reach the daemon)"
evict "$disk"
reads() { stat_of "$M" imgfs_requests_total 'op="read"'; }
r0=$(reads)
cmp "$disk" "$T/ref" || fail "cmp of public/$n/disks/vda against its cat copy"
r1=$(reads)
# What the kernel still holds of the file now (mincore: it reads nothing).
# On a busy machine (ctest -j, other tests streaming gigabytes) the kernel
# reclaims pages of a file read once: before the second read (counted
# here) and during it (seen in a parallel Release ctest: 22 requests with
# the whole file resident just before, the machine's 24 GiB all page cache
# at that second).  What the test is about is the daemon dropping the cache
# (an open without keep_cache, a changed mtime): that happens at the second
# open and costs every request, as many as the first read's.  So the second
# read may ask for what was reclaimed before it, and for up to half of the
# rest reclaimed while it runs: a VM whose host takes back page cache (no
# pgsteal, only workingset refaults in /proc/vmstat) reclaimed 216 MiB of
# 1 GiB during the read in an ASan ctest -j3.  A dropped cache still fails:
# it asks for all of the part kept, twice what is allowed of it.
resident=$(fincore -bno RES "$disk")
missing=$(((size - resident + (1 << 20) - 1) >> 20))
cmp "$disk" "$T/ref" || fail "second cmp of public/$n/disks/vda"
r2=$(reads)
# Reading /stats is itself a read request or two.
((r1 - r0 > 4)) || fail "the first read after evicting the file made $((r1 - r0)) read requests: not a cold read"
((missing < (size >> 21))) || fail "the kernel kept $resident of $size bytes after the first read: nothing left to check"
((r2 - r1 <= 4 + missing + (r1 - r0 - missing) / 2)) ||
    fail "the second read made $((r2 - r1)) read requests (the first $((r1 - r0)), $missing MiB reclaimed): the page cache was not kept"
echo "    second read: $((r2 - r1)) requests, $missing MiB the kernel had reclaimed"

say "size, mtime and inode of the blob are the same after the reads"
stat -c '%s %Y %i' "$disk" >"$T/st1"
cat "$disk" >/dev/null
stat -c '%s %Y %i' "$disk" >"$T/st2"
assert_file_eq "$T/st1" "$T/st2" "stat of the blob before/after reading"

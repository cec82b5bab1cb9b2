#!/usr/bin/env bash
# SPEC §1 (admin command line, working while mounted), §3, §8, §11: accounts,
# regions, quotas, publishing public and marketplace images, fsck catching a
# corrupted chunk (and reads refusing it with EIO), gc.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
BLOB_PY="$INTEGRATION_DIR/blob.py"

setup_mount
me=$(id -un)

say "account add / list"
imgfs_admin "$S" account add alice --uid 4242
imgfs_admin "$S" account add bob
imgfs_admin "$S" account list >"$T/accounts"
cat "$T/accounts" | sed 's/^/    /'
grep -qx 'alice 4242 main -' "$T/accounts" || fail "account list has no 'alice 4242 main -' line"
grep -qx 'bob - main -' "$T/accounts" || fail "account list has no 'bob - main -' line"
grep -q "^$me " "$T/accounts" || fail "account list does not show the mounting account $me"
while read -r line; do
    assert_match '[^ ]+ ([0-9]+|-) (admin|main|sub) [^ ]+' "$line" "account list line"
done <"$T/accounts"

say "roles (§16): --admin, --parent, account set, each refusal with its reason; nothing changed by one"
imgfs_admin "$S" account add root-admin --admin
imgfs_admin "$S" account add acme
imgfs_admin "$S" account add dev --uid 4243 --parent acme
assert_eq "root-admin - admin -
acme - main -
dev 4243 sub acme" "$(imgfs_admin "$S" account list | grep -E '^(root-admin|acme|dev) ')" "roles in account list"
refused_admin() { # WANT_EXIT PATTERN ARGS...
    local want=$1 pattern=$2 rc=0 out; shift 2
    out=$(imgfs_admin "$S" "$@" 2>&1) || rc=$?
    assert_eq "$want" "$rc" "exit status of account $*"
    assert_match "$pattern" "$(head -n1 <<<"$out")" "account $*"
}
refused_admin 1 'imgfs admin: x1: ENOENT no account nobody' account add x1 --parent nobody
refused_admin 1 'imgfs admin: x1: EINVAL root-admin is an administrator: .*' account add x1 --parent root-admin
refused_admin 1 'imgfs admin: x1: EINVAL dev is a sub-account of acme: sub-accounts are one level deep' \
    account add x1 --parent dev
refused_admin 2 'imgfs admin: --admin and --parent exclude each other.*' account add x1 --admin --parent acme
refused_admin 1 'imgfs admin: dev: EINVAL dev is a sub-account of acme: make it a main account first .*' \
    account set dev admin yes
refused_admin 1 'imgfs admin: acme: EBUSY acme has sub-accounts dev: .*' account set acme admin yes
refused_admin 1 'imgfs admin: acme: EBUSY acme has sub-accounts dev: .*' account set acme parent bob
refused_admin 1 'imgfs admin: bob: EINVAL an account is not its own sub-account' account set bob parent bob
refused_admin 1 'imgfs admin: root-admin: EINVAL root-admin is an administrator: .*' account set root-admin parent acme
refused_admin 1 'imgfs admin: nobody: ENOENT no account nobody' account set nobody admin yes
refused_admin 2 'imgfs admin: account set NAME admin takes yes or no' account set bob admin maybe
refused_admin 2 'imgfs admin: account set NAME admin yes\|no .*' account set bob colour blue
refused_admin 1 'imgfs admin: acme: EBUSY account acme has sub-accounts dev: .*' account remove acme
imgfs_admin "$S" account list | grep -q '^x1 ' && fail "a refused account add added x1"
assert_eq "root-admin - admin -
acme - main -
dev 4243 sub acme" "$(imgfs_admin "$S" account list | grep -E '^(root-admin|acme|dev) ')" "roles after the refusals"
# Each change has its undo.
imgfs_admin "$S" account set bob admin yes
imgfs_admin "$S" account set bob admin no
imgfs_admin "$S" account set dev parent -
imgfs_admin "$S" account set dev parent bob
assert_eq "bob - main -
dev 4243 sub bob" "$(imgfs_admin "$S" account list | grep -E '^(bob|dev) ')" "dev under bob"
imgfs_admin "$S" account set dev parent -
imgfs_admin "$S" account remove acme
imgfs_admin "$S" account remove root-admin
say "account add of a taken or bad name fails"
assert_fails imgfs_admin "$S" account add alice
assert_fails imgfs_admin "$S" account add "bad name"
assert_fails imgfs_admin "$S" account add ".dot"
say "account add --uid outside 0 ... 4294967294 fails"
assert_fails imgfs_admin "$S" account add uidmax --uid 4294967295
assert_fails imgfs_admin "$S" account add uidbig --uid 99999999999
assert_fails imgfs_admin "$S" account add uidneg --uid -1
imgfs_admin "$S" account list | grep -q '^uid' && fail "a refused account was added"

say "quota set while mounted is visible at once; bad key, region, account, value fail"
imgfs_admin "$S" quota set "$me" cn-north-1 snapshots 21
assert_eq "0 21" "$(quota_line "$R" snapshots)" "snapshots quota after admin quota set"
assert_eq "0 15" "$(quota_line "$M/regions/cn-east-2" snapshots)" "snapshots quota of another region"
assert_fails imgfs_admin "$S" quota set "$me" cn-north-1 no-such-key 3
assert_fails imgfs_admin "$S" quota set "$me" xx-nowhere-1 snapshots 3
assert_fails imgfs_admin "$S" quota set no-such-account cn-north-1 snapshots 3
assert_fails imgfs_admin "$S" quota set "$me" cn-north-1 snapshots -1
assert_fails imgfs_admin "$S" quota set "$me" cn-north-1 snapshots lots

say "region add while mounted: the region appears with the public catalogue"
ls "$M/regions" >/dev/null     # a listing from before, that must not stay cached
imgfs_admin "$S" region add cn-west-9
for ((i = 0; i < 50; i++)); do
    ls "$M/regions" | grep -qx cn-west-9 && break
    sleep 0.1
done
[[ -d "$M/regions/cn-west-9" ]] || fail "regions/cn-west-9 did not appear in the mount"
ls "$M/regions" | grep -qx cn-west-9 || fail "ls regions does not list cn-west-9"
assert_eq "$(public_names "$R" | xargs)" "$(public_names "$M/regions/cn-west-9" | xargs)" "public images of the new region"
assert_eq available "$(cat "$M/regions/cn-west-9/public/centos-7.4/status")" "status in the new region"
assert_fails imgfs_admin "$S" region add cn-west-9

say "make a raw test disk with an MBR, data and holes, size not a multiple of 1 MiB"
python3 - "$T/disk.raw" <<'EOF'
import os, sys
C = 1 << 20
size = 64 * C + 7 * 512
with open(sys.argv[1], "wb") as f:
    f.truncate(size)
    mbr = bytearray(os.urandom(512))
    mbr[510:512] = b"\x55\xaa"
    f.seek(0); f.write(mbr); f.write(os.urandom(C - 512))     # chunk 0
    f.seek(3 * C + 12345); f.write(os.urandom(100 * 1024))    # inside chunk 3
    f.seek(10 * C); f.write(os.urandom(2 * C))                # chunks 10-11
    f.seek(size - 3000); f.write(os.urandom(3000))            # the partial last chunk
EOF
size=$(stat -c %s "$T/disk.raw")
find "$S/regions/cn-north-1/chunks" -type f | sort >"$T/chunks.before"

say "publish public cn-north-1 mydisk: listed, identical bytes, size, attributes, hash"
public_names "$R" >/dev/null   # a listing from before the publish, that must not stay cached
ls "$R/marketplace" >/dev/null
imgfs_admin "$S" publish public cn-north-1 mydisk "$T/disk.raw" --os-type linux --platform centos \
    --version 7.4 --arch x86_64 --boot-mode bios --description "test disk"
d="$R/public/mydisk"
for ((i = 0; i < 50; i++)); do public_names "$R" | grep -qx mydisk && break; sleep 0.1; done
[[ -d "$d" ]] || fail "public/mydisk did not appear in the mount"
public_names "$R" | grep -qx mydisk || fail "ls public (a listing made before the publish) does not list mydisk"
cmp "$T/disk.raw" "$d/disks/vda" || fail "public/mydisk/disks/vda differs from the published file"
assert_eq "$size" "$(cat "$d/size")" "public/mydisk/size"
assert_eq "$size" "$(stat -c %s "$d/disks/vda")" "stat size of public/mydisk/disks/vda"
assert_eq available "$(cat "$d/status")" "public/mydisk/status"
assert_eq linux "$(cat "$d/os-type")" "os-type"
assert_eq centos "$(cat "$d/platform")" "platform"
assert_eq 7.4 "$(cat "$d/version")" "version"
assert_eq x86_64 "$(cat "$d/arch")" "arch"
assert_eq bios "$(cat "$d/boot-mode")" "boot-mode"
assert_eq "test disk" "$(cat "$d/description")" "description"
assert_eq "local cloud" "$(cat "$d/type")" "type of a published public image"
assert_eq "$(xxhsum -H2 "$T/disk.raw" 2>/dev/null | awk '{print $1}')" \
    "$(getfattr --absolute-names --only-values -n user.imgfs.xxh128 "$d/disks/vda" | tr -d '\n' | tr 'A-F' 'a-f')" "xxh128 xattr"
assert_eq "$(python3 "$BLOB_PY" datablocks "$T/disk.raw")" "$(stat -c %b "$d/disks/vda")" "st_blocks of the published disk"
python3 "$BLOB_PY" seekcheck "$d/disks/vda" "$T/disk.raw" || fail "SEEK_DATA/SEEK_HOLE of the published disk"
qemu-img info "$d/disks/vda" >/dev/null || fail "qemu-img info of the published disk"
[[ ! -e "$M/regions/cn-east-2/public/mydisk" ]] || fail "mydisk appeared in cn-east-2 too"
grep -q ",mydisk,public," "$R/images.csv" || fail "images.csv has no row for public/mydisk"
assert_fails imgfs_admin "$S" publish public cn-north-1 mydisk "$T/disk.raw"
assert_fails imgfs_admin "$S" publish public xx-nowhere-1 other "$T/disk.raw"
assert_fails imgfs_admin "$S" publish public cn-north-1 other "$T/no-such-file"

say "publish of a QCOW2: the raw disk it describes, its virtual size; junk, VMDK and rule breakers refused"
qemu-img convert -f raw -O qcow2 "$T/disk.raw" "$T/disk.qcow2"
imgfs_admin "$S" publish public cn-north-1 fromq "$T/disk.qcow2" --os-type linux --platform centos --version 7.4
for ((i = 0; i < 50; i++)); do public_names "$R" | grep -qx fromq && break; sleep 0.1; done
assert_eq raw "$(cat "$R/public/fromq/format")" "format of a published QCOW2"
assert_eq "$size" "$(cat "$R/public/fromq/size")" "size of a published QCOW2: its virtual size"
cmp "$T/disk.raw" "$R/public/fromq/disks/vda" || fail "public/fromq/disks/vda is not the disk the QCOW2 describes"
head -c $((2 << 20)) "$T/disk.qcow2" >"$T/cut.qcow2"
assert_fails imgfs_admin "$S" publish public cn-north-1 cutq "$T/cut.qcow2"
qemu-img create -q -f vmdk "$T/d.vmdk" 16M
assert_fails imgfs_admin "$S" publish public cn-north-1 vm "$T/d.vmdk"
assert_match '.*VMDK is not supported.*' "$(cat "$T/assert_fails.out")" "publish of a VMDK"
assert_fails imgfs_admin "$S" publish public cn-north-1 oldcentos "$T/disk.raw" --platform centos --version 5.11
assert_match '.*5.11.*not importable.*' "$(cat "$T/assert_fails.out")" "publish of an image the rules refuse"
head -c 1048576 /dev/urandom >"$T/junk.raw"
printf '\0\0' | dd of="$T/junk.raw" bs=1 seek=510 conv=notrunc status=none # no accidental MBR
assert_fails imgfs_admin "$S" publish public cn-north-1 junk "$T/junk.raw"
for n in cutq vm oldcentos junk; do [[ ! -e "$R/public/$n" ]] || fail "a refused publish listed public/$n"; done

say "the chunk files: mode 0444, 1 MiB at most, named by 32 hex digits in <xx>/"
find "$S/regions/cn-north-1/chunks" -type f | sort >"$T/chunks.after"
comm -13 "$T/chunks.before" "$T/chunks.after" >"$T/chunks.new"
nnew=$(wc -l <"$T/chunks.new")
echo "    $nnew new chunk files"
((nnew >= 4)) || fail "publishing 4+ data chunks of random data added only $nnew chunk files"
while read -r c; do
    assert_eq 444 "$(stat -c %a "$c")" "mode of $c"
    (($(stat -c %s "$c") <= 1048576)) || fail "$c is bigger than 1 MiB"
    assert_match '.*/chunks/[0-9a-f]{2}/[0-9a-f]{32}' "$c" "chunk path"
done <"$T/chunks.new"

say "two publishes within one second: a listing taken between them does not hide the second"
head -c 1048576 /dev/urandom >"$T/small.raw"
printf '\x55\xaa' | dd of="$T/small.raw" bs=1 seek=510 conv=notrunc status=none # an MBR: a disk publish takes
for try in 1 2 3; do
    # Start right after a second boundary so that all of it fits in one second.
    python3 -c 'import time; time.sleep(1.02 - time.time() % 1)'
    t0=$(date +%s)
    imgfs_admin "$S" publish public cn-north-1 "quick-a$try" "$T/small.raw"
    public_names "$R" | grep -qx "quick-a$try" || fail "public/quick-a$try not listed right after its publish"
    imgfs_admin "$S" publish public cn-north-1 "quick-b$try" "$T/small.raw"
    t1=$(date +%s)
    listed=no
    for ((i = 0; i < 30; i++)); do
        if public_names "$R" | grep -qx "quick-b$try"; then listed=yes; break; fi
        sleep 0.1
    done
    [[ "$listed" == yes ]] || fail "public/quick-b$try, published in the same second as quick-a$try, is not listed after 3 s (stale directory listing)"
    if ((t0 == t1)); then break; fi
    echo "    (took more than one second; again)"
done

say "publish marketplace: listed, attributes readable, disk EACCES"
imgfs_admin "$S" publish marketplace cn-north-1 mymarket "$T/disk.raw" --os-type linux --platform ubuntu --version 16.04
for ((i = 0; i < 50; i++)); do ls "$R/marketplace" | grep -qx mymarket && break; sleep 0.1; done
ls "$R/marketplace" | grep -qx mymarket || fail "marketplace/mymarket not listed"
assert_eq "$size" "$(cat "$R/marketplace/mymarket/size")" "marketplace/mymarket/size"
assert_eq ubuntu "$(cat "$R/marketplace/mymarket/platform")" "marketplace/mymarket/platform"
assert_errno EACCES read "$R/marketplace/mymarket/disks/vda"

say "fsck on a healthy state: exit 0"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck of a healthy state exited non-zero"; }

say "fsck: an image whose sha256 will never come is a problem; --repair queues its checksum task"
# What a checksum pass lost to a database outage leaves (issue 36): an
# available image, an empty sha256, no task that will fill it.
img=$(cat "$d/id")
blob=$(sqlite3 "$S/imgfs.db" "SELECT d.blob_id FROM devices d JOIN images i ON i.id = d.image_id WHERE i.ext_id = '$img' AND d.idx = 0")
[[ -n $blob ]] || fail "no system disk row for $img"
sqlite3 "$S/imgfs.db" "DELETE FROM tasks WHERE kind = 'checksum'; UPDATE blobs SET sha256 = '' WHERE id = $blob"
rc=0
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || rc=$?
sed 's/^/    /' "$T/fsck.out"
assert_eq 1 "$rc" "fsck exit status with a sha256 that will never come"
grep -qx "$img: its sha256 will never come: no checksum task is queued for it" "$T/fsck.out" ||
    fail "fsck does not name $img"
assert_eq "1 problem" "$(tail -n1 "$T/fsck.out")" "fsck's count"
rc=0
imgfs_admin "$S" fsck --repair >"$T/fsck.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "fsck --repair exit status"
grep -q "^$img: its sha256 will never come: .*; queued$" "$T/fsck.out" || fail "fsck --repair does not say it queued the task"
# The mount's background pass runs the task and keeps the hash again.
has_sha() { [[ $(sqlite3 "$S/imgfs.db" "SELECT sha256 != '' FROM blobs WHERE id = $blob") == 1 ]]; }
wait_for 60 has_sha || fail "the queued checksum task did not give $img its sha256 back"
assert_eq "$(sha256sum <"$T/disk.raw" | cut -d' ' -f1)" "$(sqlite3 "$S/imgfs.db" "SELECT sha256 FROM blobs WHERE id = $blob")" \
    "the sha256 the pass kept"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after the pass"; }

say "gc with nothing deleted: removed 0 chunks; a queued image made and removed changes nothing"
mkdir "$R/private/tmp-image"
rmdir "$R/private/tmp-image"
out=$(imgfs_admin "$S" gc)
assert_eq "removed 0 chunks" "$(tail -n1 <<<"$out")" "gc output"
cmp "$T/disk.raw" "$d/disks/vda" || fail "public/mydisk changed after gc"
imgfs_admin "$S" fsck >/dev/null || fail "fsck after gc"

say "corrupt one chunk of mydisk on disk; a fresh mount refuses it with EIO"
# A full-size chunk of mydisk that is not its first, so that the first
# chunk can show that the rest of the disk still reads.
chunk="" off=""
while read -r c; do
    (($(stat -c %s "$c") == 1048576)) || continue
    off=$(python3 "$BLOB_PY" find-chunk "$T/disk.raw" "$c")
    if [[ -n "$off" ]] && ((off > 0)); then chunk=$c; break; fi
done <"$T/chunks.new"
[[ -n "$chunk" ]] || fail "no full-size chunk of mydisk beyond its first found among the new chunk files"
echo "    $chunk holds offset $off"
umount_imgfs "$M"
chmod u+w "$chunk"
byte=$(dd if="$chunk" bs=1 skip=777 count=1 status=none | od -An -tu1 | tr -d ' ')
# Write the byte plus one back in place (dd conv=notrunc keeps the rest).
python3 -c 'import sys; sys.stdout.buffer.write(bytes([(int(sys.argv[1]) + 1) % 256]))' "$byte" |
    dd of="$chunk" bs=1 seek=777 count=1 conv=notrunc status=none
chmod 0444 "$chunk"
cmp -s "$chunk" <(dd if="$T/disk.raw" bs=1M skip=$((off / 1048576)) count=1 status=none) &&
    fail "the chunk was not changed"
mount_imgfs "$S" "$M"
assert_errno EIO readat "$d/disks/vda" "$((off + 100))" 4096
if cat "$d/disks/vda" >"$T/cat.out" 2>"$T/cat.err"; then
    fail "cat of a disk with a corrupted chunk succeeded"
fi
echo "    cat: $(head -n1 "$T/cat.err")"
got=$(stat -c %s "$T/cat.out")
((got <= off)) || fail "cat returned $got bytes, past the start $off of the corrupted chunk"
cmp -n "$got" "$T/cat.out" "$T/disk.raw" || fail "cat returned wrong bytes before the corrupted chunk"
# Other chunks still read fine.
dd if="$d/disks/vda" of="$T/head" bs=4096 count=1 status=none || fail "reading the first, intact chunk failed"
cmp -n 4096 "$T/head" "$T/disk.raw" || fail "the first 4 KiB differ"
# The read's line names the disk and says why (SPEC §9: EIO, the chunk's
# reason, not strerror's "Input/output error").
grep -Eq "read ${d#"$M"}/disks/vda at [0-9]+: EIO a chunk could not be read or does not match its hash\$" "$S/imgfs.log" ||
    { tail -n 5 "$S/imgfs.log" >&2; fail "no log line for the read of the corrupted chunk"; }

say "fsck: exit 1 and names the corrupted chunk"
rc=0
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || rc=$?
sed 's/^/    /' "$T/fsck.out" | head -n 10
assert_eq 1 "$rc" "fsck exit status with a corrupted chunk"
grep -q "$(basename "$chunk")" "$T/fsck.out" || fail "fsck output does not name $(basename "$chunk")"

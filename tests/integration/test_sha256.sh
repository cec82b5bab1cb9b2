#!/usr/bin/env bash
# SPEC §2.1 `sha256`, §16: every image's sha256 file is the SHA-256 of its
# system disk (disks/vda; an ISO image's disks/cdrom) — what `sha256sum`
# prints for the blob read through the mount, so a download checks with
# `sha256sum -c` — once the image is available, and empty before.  Each
# way in: cp of a raw file (hashed as it is written), one written out of
# order (dd, second half first: the background pass reads it once), a
# sparse cp (its holes hashed as zeros: fewer than its bytes + 64 MiB)
# with a trailing hole, a QCOW2 (the file's bytes),
# an ISO, a copy by reference into an upload, a capture, conversions (raw:
# the source's; QCOW2: the decoded disk's), a copy to another region; and
# the catalogue's public images.  URL imports: test_import.sh.  Counted,
# not timed: the ways in that hash as the bytes come (an upload in order,
# a copy, a raw conversion, an upload taken whole by reference) read
# nothing back (/stats imgfs_sha256_read_bytes_total); the others do.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v genisoimage >/dev/null || fail "genisoimage is missing (scripts/install-deps installs it)"
setup_mount
P="$R/private"
I="$R/instances"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 20 >/dev/null
imgfs_admin "$S" quota set "$(id -un)" cn-east-2 private-images 20 >/dev/null
sha_of() { sha256sum <"$1" | cut -d' ' -f1; }
reread() { stat_of "$M" imgfs_sha256_read_bytes_total; }
# check IMAGE_DIR DEV [WHAT]: sha256 is the SHA-256 of disks/DEV as read,
# and a line `sha256sum -c` accepts for it.
check() {
    local img=$1 dev=$2
    local want
    want=$(sha_of "$img/disks/$dev")
    assert_eq "$want" "$(cat "$img/sha256")" "${3:-$img}: sha256 against sha256sum of disks/$dev"
    (cd "$img/disks" && echo "$(cat ../sha256)  $dev" | sha256sum -c --status) ||
        fail "${3:-$img}: sha256sum -c of disks/$dev"
}
upload() { # NAME FILE
    mkdir "$P/$1"
    cp "$2" "$P/$1/disks/vda"
    imgfs_wait "$P/$1" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait $P/$1"; }
}

say "raw files: 6 MiB of data after an MBR, with a 2 MiB hole inside"
python3 - "$T/a.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    mbr = bytearray(os.urandom(1 << 20)); mbr[510:512] = b"\x55\xaa"
    f.write(mbr); f.write(os.urandom(2 << 20)); f.write(bytes(2 << 20)); f.write(os.urandom((3 << 20) + 1536))  # a short last chunk, whole sectors (qemu-img)
EOF

say "cp: hashed as it is written"
mkdir "$P/seq"
assert_eq "" "$(cat "$P/seq/sha256")" "a queued image's sha256"
r0=$(reread)
cp "$T/a.raw" "$P/seq/disks/vda"
imgfs_wait "$P/seq" >/dev/null 2>&1 || fail "the upload: $(cat "$P/seq/error")"
assert_eq "$r0" "$(reread)" "bytes read back to hash an upload written in order"
assert_eq "$(sha_of "$T/a.raw")" "$(cat "$P/seq/sha256")" "sha256 against the file uploaded"
check "$P/seq" vda

say "written out of order (the second half first): the background pass hashes it"
mkdir "$P/ooo"
size=$(stat -c %s "$T/a.raw")
r0=$(reread)
half=$(((size / 2) & ~4095))
python3 - "$T/a.raw" "$P/ooo/disks/vda" "$half" <<'EOF'
import os, sys
data, half = open(sys.argv[1], "rb").read(), int(sys.argv[3])
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, data[:4096], 0)           # the first bytes first: sniffed as raw
os.pwrite(fd, data[half:], half)
os.pwrite(fd, data[4096:half], 4096)
os.close(fd)
EOF
imgfs_wait "$P/ooo" >/dev/null 2>&1 || fail "the out-of-order upload: $(cat "$P/ooo/error")"
hashed "$P/ooo"
assert_eq "$((r0 + size))" "$(reread)" "bytes read back to hash the out-of-order upload"
assert_eq "$(sha_of "$T/a.raw")" "$(cat "$P/ooo/sha256")" "sha256 of the out-of-order upload"

say "cp --sparse=always of a file with holes and a trailing hole"
cp "$T/a.raw" "$T/sparse.raw"
truncate -s 64M "$T/sparse.raw"
mkdir "$P/sparse"
r0=$(reread)
cp --sparse=always "$T/sparse.raw" "$P/sparse/disks/vda"
imgfs_wait "$P/sparse" >/dev/null 2>&1 || fail "the sparse upload: $(cat "$P/sparse/error")"
assert_eq "$r0" "$(reread)" "bytes read back to hash the sparse upload (its holes hashed as written)"
assert_eq "$(sha_of "$T/sparse.raw")" "$(cat "$P/sparse/sha256")" "sha256 of the sparse upload"

say "cp --sparse=always of a file with more holes than bytes: the background pass hashes it"
# 2 MiB of data around a 200 MiB hole: feeding the hole at close would be
# work beyond what was written (§12), so the pass reads it once instead.
python3 - "$T/a.raw" "$T/holey.raw" <<'EOF'
import sys
a = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    f.write(a[:1 << 20]); f.seek(201 << 20); f.write(a[1 << 20:2 << 20])
EOF
mkdir "$P/holey"
r0=$(reread)
cp --sparse=always "$T/holey.raw" "$P/holey/disks/vda"
imgfs_wait "$P/holey" >/dev/null 2>&1 || fail "the holey upload: $(cat "$P/holey/error")"
hashed "$P/holey"
assert_eq "$((r0 + $(stat -c %s "$T/holey.raw")))" "$(reread)" "bytes read back to hash the holey upload"
assert_eq "$(sha_of "$T/holey.raw")" "$(cat "$P/holey/sha256")" "sha256 of the holey upload"
assert_eq "$(xxhsum -H2 "$T/holey.raw" 2>/dev/null | awk '{print $1}')" \
    "$(getfattr --absolute-names --only-values -n user.imgfs.xxh128 "$P/holey/disks/vda")" "xxh128 of the holey upload"

say "a QCOW2 upload: the file's own bytes; an ISO: the cdrom's"
qemu-img convert -f raw -O qcow2 "$T/a.raw" "$T/a.qcow2"
upload q "$T/a.qcow2"
assert_eq "$(sha_of "$T/a.qcow2")" "$(cat "$P/q/sha256")" "sha256 of the QCOW2 upload"
mkdir -p "$T/isodir"
head -c 300000 /dev/urandom >"$T/isodir/DATA.BIN"
genisoimage -quiet -V SHATEST -R -o "$T/x.iso" "$T/isodir" 2>/dev/null
mkdir "$R/iso/x"
cp "$T/x.iso" "$R/iso/x/disks/cdrom"
imgfs_wait "$R/iso/x" >/dev/null 2>&1 || fail "the ISO upload: $(cat "$R/iso/x/error")"
assert_eq "$(sha_of "$T/x.iso")" "$(cat "$R/iso/x/sha256")" "sha256 of the ISO"
check "$R/iso/x" cdrom

say "a capture of a 64 MiB system disk; its conversion (raw: the same bytes) and the QCOW2's (decoded)"
mkdir "$I/vm1"
truncate -s 64M "$I/vm1/disks/vda"
dd if="$T/a.raw" of="$I/vm1/disks/vda" conv=notrunc status=none
mkdir "$P/cap"
capture "$P/cap" vm1
check "$P/cap" vda "the capture"
r0=$(reread)
echo >"$P/cap/convert"
imgfs_wait "$P/cap-cloud" >/dev/null 2>&1 || fail "the conversion: $(cat "$P/cap-cloud/error")"
assert_eq "$r0" "$(reread)" "bytes read back to hash a raw conversion (the source's hash)"
assert_eq "$(cat "$P/cap/sha256")" "$(cat "$P/cap-cloud/sha256")" "sha256 of the conversion"
check "$P/cap-cloud" vda "the conversion"
echo >"$P/q/convert"
imgfs_wait "$P/q-cloud" >/dev/null 2>&1 || fail "the QCOW2's conversion: $(cat "$P/q-cloud/error")"
assert_eq "$(sha_of "$T/a.raw")" "$(cat "$P/q-cloud/sha256")" "sha256 of the decoded QCOW2"

say "a copy to another region: the same"
r0=$(reread)
mkdir "$P/cap-cloud/copies/cn-east-2"
E="$M/regions/cn-east-2/private/cap-cloud"
imgfs_wait "$E" >/dev/null 2>&1 || fail "the copy: $(cat "$E/error")"
assert_eq "$r0" "$(reread)" "bytes read back to hash a copy (the source's hash)"
assert_eq "$(cat "$P/cap-cloud/sha256")" "$(cat "$E/sha256")" "sha256 of the copy"
check "$E" vda "the copy"

say "uploads by reference: of an image's disk (its hash taken, nothing read back), of a snapshot (read once)"
# Dense sources (no hole): coreutils' cp copies a sparse-looking one by reads.
head -c $((3 << 20)) "$T/a.raw" >"$T/dense.raw"
upload dense "$T/dense.raw"
s0=$(stat_of "$M" imgfs_shared_bytes_total) r0=$(reread)
upload byref "$P/dense/disks/vda"
(($(stat_of "$M" imgfs_shared_bytes_total) > s0)) || fail "the upload took nothing by reference"
assert_eq "$(sha_of "$T/dense.raw")" "$(cat "$P/byref/sha256")" "sha256 of the upload by reference"
assert_eq "$r0" "$(reread)" "bytes read back to hash an upload taken whole by reference"
truncate -s 3M "$I/vm1/disks/vdb"
dd if="$T/dense.raw" of="$I/vm1/disks/vdb" conv=notrunc status=none
mkdir "$P/snapimg"
capture "$P/snapimg" vm1 vdb
snap=$(devmap_ref "$P/snapimg" vdb)
upload fromsnap "$R/snapshots/$snap/data"
assert_eq "$(sha_of "$T/dense.raw")" "$(cat "$P/fromsnap/sha256")" "sha256 of an upload of a snapshot"

say "the catalogue: a public image's sha256 is its disk's"
check "$R/public/centos-7.4" vda "public/centos-7.4"

say "a remount keeps them"
umount_imgfs "$M"
mount_imgfs "$S" "$M"
assert_eq "$(sha_of "$T/a.raw")" "$(cat "$P/seq/sha256")" "seq's sha256 after a remount"
umount_imgfs "$M"
echo "PASS"

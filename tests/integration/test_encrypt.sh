#!/usr/bin/env bash
# test_encrypt.sh — encrypted images (SPEC §17) through a real mount, the
# metadata in SQLite and the chunks in the state directory:
#   - a key file others may read, or of another owner, and a key command
#     that fails: the mount refused with the reason, nothing created;
#   - `encrypted` writable while queued (yes, no; EINVAL, EPERM after);
#   - four 1 MiB random needles: one uploaded into an encrypted image, one
#     into a plain image, one written (dd) into a disk of an instance built
#     from the encrypted image, one into a plain instance's.  Every byte
#     reads back.  The state directory (chunks, wblob overlays, tmp, the
#     log) and a dump of the database (sqlite3 .dump) hold neither
#     encrypted needle, as bytes or as hex, nor the encrypted disk's
#     SHA-256; both plain ones and the plain disk's are found (so the
#     search can fail);
#   - cp from the encrypted image into its instance's disk by reference
#     (imgfs_shared_bytes_total grows), from the plain image by bytes
#     (EXDEV: no plaintext in the overlay);
#   - fsck with the key opens every chunk; without, a note says so;
#   - without the key: listed, attributes read, blobs EACCES with the
#     reason in `error` and the log; a conversion queued meanwhile waits
#     (`task` says why), a plain one runs; a wrong key the same, the mount
#     warns; the key back: the conversion runs, its bytes are the image's;
#   - a capture of the encrypted instance is encrypted (the attribute is
#     the image's own, yes); encrypt-by-default makes new images
#     encrypted;
#   - a download link (imgfs serve --keyfile) sends the plaintext; a serve
#     without the key answers 503.
# The same with PostgreSQL: test_encrypt_pg.sh; with RADOS:
# test_rados_encrypt.sh; key rotation: test_encrypt_rotate.sh.
source "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || fail "sqlite3 is needed (scripts/install-deps)"
S="$T/state" M="$T/mnt"
R="$M/regions/cn-north-1" P="$M/regions/cn-north-1/private"
MiB=1048576


needles up_enc up_plain vm_enc vm_plain
needle_disk "$T/enc.raw" up_enc
needle_disk "$T/plain.raw" up_plain

say "keys: a file others may read, another owner's, a command that fails: refused, nothing made"
head -c 32 /dev/urandom >"$T/kek"
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/kek2"
chmod 600 "$T/kek2"
chmod 644 "$T/kek"
mkdir -p "$M"
refuse_mount() { # EXPECTED_PART OPTS
    local out rc=0
    out=$(timeout 30 "$IMGFS" -o "state=$S,$2" "$M" 2>&1) || rc=$?
    ((rc != 0)) || fail "a mount with -o $2 succeeded"
    [[ "$out" == *"$1"* ]] || fail "the refusal of -o $2 says \"$out\", not \"$1\""
    [[ ! -e "$S" ]] || fail "the refused mount made $S"
    echo "    $out"
}
refuse_mount "chmod 600" "keyfile=$T/kek"
chmod 600 "$T/kek"
chown 65534 "$T/kek"
refuse_mount "belongs to uid 65534" "keyfile=$T/kek"
chown 0 "$T/kek"
refuse_mount "keycmd: exited with status 3" "keycmd=exit 3"
refuse_mount "no key" "keycmd=echo nokey"
refuse_mount "one of them" "keyfile=$T/kek,keycmd=cat $T/kek2"

say "encrypted: no, then yes, while the image is queued; EINVAL for another word"
mount_imgfs "$S" "$M" "keyfile=$T/kek"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 20 >/dev/null
mkdir "$P/enc" "$P/plain"
assert_eq no "$(cat "$P/enc/encrypted")" "a new image's encrypted"
echo yes >"$P/enc/encrypted"
assert_eq yes "$(cat "$P/enc/encrypted")" "encrypted after writing yes"
assert_errno EINVAL write "$P/enc/encrypted" $'maybe\n'
assert_match ".*yes or no.*" "$(cat "$P/enc/error")" "enc/error"

say "uploads: into the encrypted image and the plain one; the same bytes back, sha256 of the plaintext"
cp "$T/enc.raw" "$P/enc/disks/vda" || fail "cp into enc: $(cat "$P/enc/error")"
cp "$T/plain.raw" "$P/plain/disks/vda"
imgfs_wait "$P/enc" "$P/plain" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait"; }
cmp "$T/enc.raw" "$P/enc/disks/vda" || fail "enc reads other bytes"
cmp "$T/plain.raw" "$P/plain/disks/vda" || fail "plain reads other bytes"
assert_eq "$(sha256sum <"$T/enc.raw" | cut -d' ' -f1)" "$(cat "$P/enc/sha256")" "enc/sha256"
assert_errno EPERM write "$P/enc/encrypted" $'no\n'
assert_eq yes "$(cat "$P/enc/encrypted")" "encrypted once available"

say "instances: from the encrypted image (encrypted overlay) and from the plain one"
new_vm "$R/instances/ve" "$R/instances/vp"
echo private/enc >"$R/instances/ve/image"
echo private/plain >"$R/instances/vp/image"
dd if="$T/vm_enc" of="$R/instances/ve/disks/vda" bs=1M seek=5 conv=notrunc status=none
dd if="$T/vm_plain" of="$R/instances/vp/disks/vda" bs=1M seek=5 conv=notrunc status=none
cmp <(dd if="$R/instances/ve/disks/vda" bs=1M skip=5 count=1 status=none) "$T/vm_enc" || fail "ve's vda reads other bytes"
cmp -n $((2 * MiB)) "$T/enc.raw" "$R/instances/ve/disks/vda" || fail "ve's vda lost the image's bytes"
# A data disk of the encrypted instance, written in unaligned pieces.
truncate -s 4M "$R/instances/ve/disks/vdb"
python3 - "$R/instances/ve/disks/vdb" "$T/vm_enc" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
data = open(sys.argv[2], "rb").read()
os.pwrite(fd, data[:777], 12345)
os.pwrite(fd, data[777:], 12345 + 777)
os.close(fd)
EOF
cmp <(dd if="$R/instances/ve/disks/vdb" bs=12345 skip=1 status=none | head -c $MiB) "$T/vm_enc" ||
    fail "ve's vdb reads other bytes"

say "cp into the encrypted instance: by reference from its image, by bytes from the plain one"
shared0=$(stat_of "$M" imgfs_shared_bytes_total)
# (--sparse=never: coreutils' cp asks copy_file_range for every range then)
cp --sparse=never "$P/enc/disks/vda" "$R/instances/ve/disks/vdc"
shared1=$(stat_of "$M" imgfs_shared_bytes_total)
((shared1 - shared0 >= 2 * MiB)) || fail "cp from the image into its instance shared $((shared1 - shared0)) bytes"
cmp "$T/enc.raw" "$R/instances/ve/disks/vdc" || fail "vdc differs from enc"
cp --sparse=never "$P/plain/disks/vda" "$R/instances/ve/disks/vdd"
assert_eq "$shared1" "$(stat_of "$M" imgfs_shared_bytes_total)" "bytes shared across lineages"
cmp "$T/plain.raw" "$R/instances/ve/disks/vdd" || fail "vdd differs from plain"

say "the state directory holds neither encrypted needle; the plain ones are there"
sync
nowhere up_enc "uploaded into enc" "$S"
nowhere vm_enc "written into ve's disks" "$S"
somewhere up_plain "uploaded into plain" "$S"
somewhere vm_plain "written into vp's disk" "$S/regions/cn-north-1/wblobs"
# The plain bytes copied into ve's vdd are sealed there: no overlay has them.
nowhere up_plain "copied into ve's vdd" "$S/regions/cn-north-1/wblobs"

say "the database holds neither (sqlite3 .dump, bytes and hex); a plain value is found there"
python3 -c 'import sys; print(open(sys.argv[1], "rb").read()[:48].hex())' "$T/up_plain" >"$P/plain/description"
sqlite3 "$S/imgfs.db" .dump >"$T/dump.sql"
nowhere up_enc "in the dump" "$T/dump.sql"
nowhere vm_enc "in the dump" "$T/dump.sql"
somewhere up_plain "plain's description, in the dump" "$T/dump.sql"
grep -q "CREATE TABLE data_keys" "$T/dump.sql" || fail "no data_keys in the dump"
# Nor the encrypted disk's SHA-256 (it would tell whether the disk is a
# known file): kept sealed, shown plain to the mount with the key.
grep -q "$(cat "$P/enc/sha256")" "$T/dump.sql" && fail "enc's sha256 is in the dump"
grep -q "$(cat "$P/plain/sha256")" "$T/dump.sql" || fail "plain's sha256 is not in the dump (the search can fail)"
python3 - "$T/kek" "$T/dump.sql" "$S" <<'EOF' || fail "the key-encryption key is stored"
import os, sys
key = open(sys.argv[1], "rb").read()
forms = [key, key.hex().encode(), key.hex().upper().encode()]
files = [sys.argv[2]] + [os.path.join(r, n) for r, _, ns in os.walk(sys.argv[3]) for n in ns]
for f in files:
    if os.path.isfile(f) and os.path.getsize(f) < (64 << 20) and any(k in open(f, "rb").read() for k in forms):
        sys.exit("the key is in %s" % f)
EOF

say "fsck: with the key every chunk opens; without, a note says what was not opened"
imgfs_admin "$S" --keyfile "$T/kek" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck with the key"; }
assert_eq "0 problems" "$(tail -n1 "$T/fsck.out")" "fsck with the key"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck without the key"; }
grep -q "not opened" "$T/fsck.out" || { cat "$T/fsck.out" >&2; fail "fsck without the key says nothing of it"; }

say "without the key: listed, attributes read, blobs EACCES with the reason; tasks wait"
remount_imgfs "$S" "$M"
assert_eq "enc plain" "$(entries "$P")" "private/ without the key"
assert_eq yes "$(cat "$P/enc/encrypted")" "encrypted without the key"
assert_eq $((8 * MiB)) "$(cat "$P/enc/size")" "size without the key"
assert_eq "" "$(cat "$P/enc/sha256")" "sha256 without the key (sealed under it)"
assert_errno EACCES open "$P/enc/disks/vda" rdonly
assert_match ".*no key-encryption key.*" "$(cat "$P/enc/error")" "enc/error"
assert_logged open "$P/enc/disks/vda" EACCES
assert_errno EACCES open "$R/instances/ve/disks/vdb" rdonly
cmp "$T/plain.raw" "$P/plain/disks/vda" || fail "plain is unreadable without the key"
echo >"$P/enc/convert"
echo >"$P/plain/convert"
imgfs_wait "$P/plain-cloud" >/dev/null || fail "plain's conversion"
wait_for 10 grep -qx "waits key-encryption-key" "$P/enc-cloud/task" ||
    { cat "$P/enc-cloud/task" >&2; fail "enc-cloud's task does not say it waits for the key"; }
assert_eq pending "$(cat "$P/enc-cloud/status")" "enc-cloud without the key"
assert_eq yes "$(cat "$P/enc-cloud/encrypted")" "enc-cloud, made from enc"

say "a wrong key: the mount warns; blobs EACCES naming the keys; the task still waits"
umount_imgfs "$M"
mount_imgfs "$S" "$M" "keyfile=$T/kek2"
assert_errno EACCES open "$P/enc/disks/vda" rdonly
assert_match ".*wrapped by key-encryption key.*" "$(cat "$P/enc/error")" "enc/error with the wrong key"
grep -q "is not the service's" "$S/imgfs.log" || fail "the mount with the wrong key logged no warning"
assert_eq pending "$(cat "$P/enc-cloud/status")" "enc-cloud with the wrong key"

say "the key back: the conversion runs; its bytes are the image's"
remount_imgfs "$S" "$M" "keyfile=$T/kek"
imgfs_wait "$P/enc-cloud" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "enc-cloud"; }
cmp "$T/enc.raw" "$R/snapshots/$(devmap_ref "$P/enc-cloud" vda)/data" || fail "enc-cloud's snapshot differs"
cmp "$T/enc.raw" "$P/enc/disks/vda" || fail "enc after the remount"

say "a capture of the encrypted instance is encrypted, whatever it asked; encrypt-by-default"
mkdir "$P/cap"
assert_eq no "$(cat "$P/cap/encrypted")" "cap before the capture"
capture "$P/cap" ve
assert_eq yes "$(cat "$P/cap/encrypted")" "a capture of an encrypted instance"
sparse_cmp "$R/instances/ve/disks/vda" "$P/cap/disks/vda"
imgfs_admin "$S" account set "$(id -un)" encrypt-by-default yes
imgfs_admin "$S" account list | grep -q "^$(id -un) .* encrypt-by-default$" || fail "account list"
mkdir "$P/def"
assert_eq yes "$(cat "$P/def/encrypted")" "a new image of an account encrypted by default"
imgfs_admin "$S" account set "$(id -un)" encrypt-by-default no
assert_fails imgfs_admin "$S" account set "$(id -un)" encrypt-by-default maybe

say "download links: the plaintext from a serve with the key; 503 from one without"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
imgfs_admin "$S" download-url "http://127.0.0.1:$PORT"
"$IMGFS" serve --state "$S" --listen "127.0.0.1:$PORT" --keyfile "$T/kek" 2>"$T/serve.err" &
SERVE=$!
at_exit "kill $SERVE; wait $SERVE"
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$PORT/" || { cat "$T/serve.err" >&2; fail "imgfs serve"; }
echo link >"$P/enc/download"
url=$(awk '{ print $1; exit }' "$P/enc/download")
curl -sf -o "$T/got.raw" "$url" || fail "download of enc"
cmp "$T/enc.raw" "$T/got.raw" || fail "the download differs from the upload"
kill "$SERVE"
wait "$SERVE" || true
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$PORT/${url#http://*/}"
"$IMGFS" serve --state "$S" --listen "127.0.0.1:$PORT" 2>"$T/serve.err" &
SERVE=$!
at_exit "kill $SERVE; wait $SERVE"
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$PORT/" || { cat "$T/serve.err" >&2; fail "imgfs serve"; }
assert_eq 503 "$(curl -s -o /dev/null -w '%{http_code}' "$url")" "a serve without the key"

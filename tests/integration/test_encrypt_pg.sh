#!/usr/bin/env bash
# test_encrypt_pg.sh — encrypted images (SPEC §17) with the metadata in
# PostgreSQL (§13): a 1 MiB random needle uploaded into an encrypted image
# and another written into an encrypted instance's disk are nowhere in
# the state directory (chunks, overlays) or in pg_dump's dump of the
# database, as bytes or as hex; the plain image's needle is in the chunks
# and a plain value in the dump (the search can fail).  A second host
# (another state directory on the same database) without the key lists
# the image and gets EACCES on its disk; with it, the bytes.  An embedded
# state's encrypted image and instance, migrated (imgfs admin migrate),
# read back with the key only; fsck with it opens every chunk.  The rest of
# the behaviour is test_encrypt.sh's, on SQLite.
source "$(dirname "$0")/lib.sh"

command -v pg_dump >/dev/null || fail "pg_dump is needed (scripts/install-deps)"
MiB=1048576
pg_database DB

needles up_enc up_plain vm_enc
needle_disk "$T/enc.raw" up_enc
needle_disk "$T/plain.raw" up_plain
head -c 32 /dev/urandom >"$T/kek"
chmod 600 "$T/kek"

say "host a (with the key): an encrypted and a plain upload, an encrypted instance's disk written"
S="$T/a" M="$T/ma"
mount_imgfs "$S" "$M" "db=$DB,host=a,keyfile=$T/kek"
R="$M/regions/cn-north-1" P="$M/regions/cn-north-1/private"
mkdir "$P/enc" "$P/plain"
echo yes >"$P/enc/encrypted"
cp "$T/enc.raw" "$P/enc/disks/vda"
cp "$T/plain.raw" "$P/plain/disks/vda"
imgfs_wait "$P/enc" "$P/plain" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait"; }
cmp "$T/enc.raw" "$P/enc/disks/vda" || fail "enc reads other bytes"
new_vm "$R/instances/ve"
echo private/enc >"$R/instances/ve/image"
dd if="$T/vm_enc" of="$R/instances/ve/disks/vda" bs=1M seek=5 conv=notrunc status=none
cmp <(dd if="$R/instances/ve/disks/vda" bs=1M skip=5 count=1 status=none) "$T/vm_enc" || fail "ve's vda"
python3 -c 'import sys; print(open(sys.argv[1], "rb").read()[:48].hex())' "$T/up_plain" >"$P/plain/description"

say "neither needle in the state directory nor in pg_dump's dump; the plain ones are found"
sync
nowhere up_enc "uploaded into enc" "$S"
nowhere vm_enc "written into ve" "$S"
somewhere up_plain "uploaded into plain" "$S"
port=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlparse(sys.argv[1]).port)' "$DB")
dbname=${DB##*/}
pg_dump -h 127.0.0.1 -p "$port" -U postgres "$dbname" >"$T/dump.sql" || fail "pg_dump"
grep -q "CREATE TABLE public.data_keys" "$T/dump.sql" || fail "no data_keys in the dump"
nowhere up_enc "in the dump" "$T/dump.sql"
nowhere vm_enc "in the dump" "$T/dump.sql"
somewhere up_plain "plain's description, in the dump" "$T/dump.sql"
grep -q "$(cat "$P/enc/sha256")" "$T/dump.sql" && fail "enc's sha256 is in the dump"
grep -q "$(cat "$P/plain/sha256")" "$T/dump.sql" || fail "plain's sha256 is not in the dump (the search can fail)"

say "host b without the key: the image listed, its disk EACCES with the reason; with the key, its bytes"
mount_imgfs "$T/b" "$T/mb" "db=$DB,host=b"
Pb="$T/mb/regions/cn-north-1/private"
assert_eq yes "$(cat "$Pb/enc/encrypted")" "enc on b"
assert_errno EACCES open "$Pb/enc/disks/vda" rdonly
assert_match ".*no key-encryption key.*" "$(cat "$Pb/enc/error")" "enc/error on b"
cmp "$T/plain.raw" "$Pb/plain/disks/vda" || fail "plain on b"
remount_imgfs "$T/b" "$T/mb" "db=$DB,host=b,keyfile=$T/kek"
cmp "$T/enc.raw" "$Pb/enc/disks/vda" || fail "enc on b with the key"

say "migrate: an embedded state's encrypted image and instance disk moved to PostgreSQL, read with the key only"
S="$T/emb" M="$T/me"
mount_imgfs "$S" "$M" "keyfile=$T/kek"
P="$M/regions/cn-north-1/private" R="$M/regions/cn-north-1"
mkdir "$P/enc"
echo yes >"$P/enc/encrypted"
cp "$T/enc.raw" "$P/enc/disks/vda"
imgfs_wait "$P/enc" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait (embedded)"; }
new_vm "$R/instances/ve"
echo private/enc >"$R/instances/ve/image"
dd if="$T/vm_enc" of="$R/instances/ve/disks/vda" bs=1M seek=5 conv=notrunc status=none
vdig=$(sparse_digest "$R/instances/ve/disks/vda")
echo stop >"$R/instances/ve/status"
umount_imgfs "$M"
pg_database DB2
"$IMGFS" admin --state "$S" migrate --to "$DB2" >"$T/migrate.out" 2>&1 || { cat "$T/migrate.out" >&2; fail "migrate"; }
"$IMGFS" admin --state "$S" --db "$DB2" --keyfile "$T/kek" fsck >"$T/fsck.out" 2>&1 ||
    { cat "$T/fsck.out" >&2; fail "fsck with the key after migrate"; }
if grep -q "not opened" "$T/fsck.out"; then cat "$T/fsck.out" >&2; fail "fsck with the key left chunks unopened"; fi
mount_imgfs "$S" "$M" "db=$DB2"
assert_errno EACCES open "$P/enc/disks/vda" rdonly
assert_errno EACCES open "$R/instances/ve/disks/vda" rdonly
remount_imgfs "$S" "$M" "db=$DB2,keyfile=$T/kek"
cmp "$T/enc.raw" "$P/enc/disks/vda" || fail "enc after migrate"
assert_eq "$vdig" "$(sparse_digest "$R/instances/ve/disks/vda")" "ve's vda after migrate"

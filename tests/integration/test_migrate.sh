#!/usr/bin/env bash
# test_migrate: `imgfs admin migrate` moves an embedded state holding every
# kind of object into PostgreSQL (SPEC §13, "moving up"):
#   - interrupted (killed) and run again, it completes;
#   - fsck answers the same (clean) for the target;
#   - a boot profile and an early import's row (rows no mount here
#     made) move byte for byte, the next row numbered after the last;
#   - mounted from the database, the tree is the same (names, inodes,
#     sizes, times: backups stay incremental) and every blob has the same
#     bytes; the instance's disks, which stayed in the state directory,
#     work; a region given its own store has its chunks there;
#   - a third run moves nothing.
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
chmod 711 "$T" # the database server runs as the postgres user
S="$T/state" M="$T/mnt"
mount_imgfs "$S" "$M"
R="$M/regions/cn-north-1"
me=$(id -un)

say "a state with every kind of object"
imgfs_admin "$S" account add dana --uid 2201 >/dev/null
imgfs_admin "$S" account add dana-dev --parent dana >/dev/null # a family's totals move too (§16)
imgfs_admin "$S" quota set "$me" cn-north-1 private-images 20
head -c $((3 << 20)) /dev/urandom >"$T/a.raw"
qemu-img convert -f raw -O qcow2 "$T/a.raw" "$T/a.qcow2"
mkdir "$R/private/up"
cp "$T/a.qcow2" "$R/private/up/disks/vda"
imgfs_wait "$R/private/up" >/dev/null
echo "migrated with the rest" >"$R/private/up/description"
echo "k=v" >"$R/private/up/tags"
echo up-cloud >"$R/private/up/convert"
imgfs_wait "$R/private/up-cloud" >/dev/null
hashed "$R/private/up-cloud" # a QCOW2 conversion: its checksum pass
mkdir "$R/private/up-cloud/copies/cn-east-2"
imgfs_wait "$M/regions/cn-east-2/private/up-cloud" >/dev/null
mkdir "$R/private/up/shares/dana"
mkdir "$R/private/up/shares/dana-dev"
new_vm "$R/instances/vm1"
write_random "$R/instances/vm1/disks/vda" 0 2
truncate -s 64M "$R/instances/vm1/disks/vdb"
write_random "$R/instances/vm1/disks/vdb" 3 2
mkdir "$R/private/cap"
echo "instance vm1 vdb" >"$R/private/cap/source"
imgfs_wait "$R/private/cap" >/dev/null
hashed "$R/private/cap" # its checksum pass, before the tree is recorded
mkdir "$R/private/gone"
cp "$T/a.qcow2" "$R/private/gone/disks/vda"
imgfs_wait "$R/private/gone" >/dev/null
rmdir "$R/private/gone" # in the recycle bin
mkdir "$R/private/queued"

# snapshot FILE: the tree (inode, size, mtime, path; not /stats nor
# /errors, the mount's own counters and refusals) and a
# digest of every blob and instance disk of the account (and of one
# platform image: the catalogue's 48 are rows like the others).
snapshot() {
    (cd "$M" && find . ! -path ./stats ! -path ./errors -printf '%i %s %T@ %y %p\n' | LC_ALL=C sort -k5) >"$1"
    (cd "$M" && find . \( -path '*/disks/*' -o -path '*/snapshots/*/data' \) \
        \( ! -path '*/public/*' -o -path './regions/cn-north-1/public/centos-7.4/*' \) | LC_ALL=C sort |
        while read -r f; do
            [[ -r "$f" ]] || continue
            printf '%s %s\n' "$(sparse_digest "$f" 2>/dev/null || echo unreadable)" "$f"
        done) >>"$1"
}
snapshot "$T/before"
echo "    $(wc -l <"$T/before") lines"
imgfs_admin "$S" fsck >"$T/fsck-before" || { cat "$T/fsck-before" >&2; fail "fsck of the embedded state"; }
umount_imgfs "$M"
# A boot profile (SPEC §6.5 "Boot profile": an early import's end writes
# one; none ran here): its row moves with the rest, every byte.
profile="0123456789abcdef|0500000000000000ffffff01|1700000000"
sqlite3 "$S/imgfs.db" "INSERT INTO early_profiles(url_hash, chunks, saved) VALUES ('0123456789abcdef', x'0500000000000000ffffff01', 1700000000)"
# And a row of an early import's chunks (early_got, as a fetch leaves it):
# moved, and the next row written in PostgreSQL numbered after it.
sqlite3 "$S/imgfs.db" "INSERT INTO early_got(seq, image_id, idx, chunk, size, validator)
    SELECT 7, id, 0, x'', 1048576, 'v' FROM images WHERE name = 'queued'"

say "migrate, killed once on the way, then run again to the end"
pg_database URL
mkdir -p "$T/east-store"
migrate() { "$IMGFS" admin --state "$S" migrate --to "$URL" --store "cn-east-2=dir:$T/east-store" "$@"; }
migrate >"$T/m1.out" 2>&1 &
sleep 0.3
kill -9 $! 2>/dev/null || true
wait || true
migrate >"$T/m2.out" 2>&1 || { cat "$T/m1.out" "$T/m2.out" >&2; fail "migrate after an interruption"; }
grep -q '^migrated ' "$T/m2.out" || fail "migrate said nothing of its end"
ls "$T/east-store/chunks" >/dev/null 2>&1 || fail "no chunks in cn-east-2's new store"

say "fsck of the migrated service: clean, as before"
"$IMGFS" admin --state "$S" --db "$URL" fsck >"$T/fsck-after" || { cat "$T/fsck-after" >&2; fail "fsck after migrate"; }
assert_eq "$(tail -n1 "$T/fsck-before")" "$(tail -n1 "$T/fsck-after")" "fsck's answer"
assert_eq "cn-north-1 shared-images 2 5 own=1 main=dana" \
    "$("$IMGFS" admin --db "$URL" quota show dana-dev cn-north-1 | grep shared-images)" "dana's family's shares, moved"
assert_eq "dana-dev - sub dana" "$("$IMGFS" admin --db "$URL" account list | grep '^dana-dev ')" "dana-dev's role, moved"
assert_eq "$profile" "$(psql -qtAX "$URL" -c "SELECT url_hash, encode(chunks, 'hex'), saved FROM early_profiles")" \
    "the boot profile, moved"
assert_eq "7 0" "$(psql -qtAX "$URL" -F' ' -c "SELECT seq, idx FROM early_got")" "the early import's row, moved"
assert_eq 8 "$(psql -qtAX "$URL" -c "INSERT INTO early_got(image_id, idx, chunk, size, validator)
    SELECT image_id, 1, chunk, size, validator FROM early_got RETURNING seq" | head -n1)" "the next row's number"

say "mounted from the database: the same tree, the same bytes; the instance works"
mount_imgfs "$S" "$M" "db=$URL"
snapshot "$T/after"
diff "$T/before" "$T/after" >&2 || fail "the tree or the bytes changed"
write_random "$R/instances/vm1/disks/vdb" 10 1
assert_eq "$(hostname -s)" "$(cat "$R/instances/vm1/host")" "the instance's host"
mkdir "$R/private/new-after"
assert_eq queued "$(status_of "$R/private/new-after")" "a new image"

say "a third run moves nothing"
umount_imgfs "$M"
migrate >"$T/m3.out" 2>&1 || { cat "$T/m3.out" >&2; fail "a third migrate"; }
grep -v ': 0 rows moved' "$T/m3.out" | grep -q 'rows moved' && { cat "$T/m3.out" >&2; fail "the third run moved rows"; }
true

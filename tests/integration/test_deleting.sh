#!/usr/bin/env bash
# SPEC §16 "deleting" (seed 004 §4.5), §6.1, §9, §12, with standard tools:
# rmdir recycle-bin/<x> makes the image `deleting` at once; it stays listed
# there, and nothing of it changes meanwhile (a remark, a rename, a
# restore, a second rmdir: EBUSY with the reason in `error`); a shell
# holding its directory keeps reading it; its task frees the chunks that
# only it used — counted in the store, not timed — and then it is gone.
# The chunks another image shares with it stay, and fsck is clean.  A mount
# without workers (workers=0) holds the task, so `deleting` is seen for
# certain; the next mount, with workers, finishes it.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount "workers=0"
P="$R/private"
B="$R/recycle-bin"
CH="$S/regions/cn-north-1/chunks"
nchunks() { find "$CH" -type f | wc -l; }

say "two raw uploads sharing their first 2 MiB (an MBR and 1 MiB), each with 3 MiB of its own"
head -c $((1 << 20)) /dev/urandom >"$T/shared"
for n in doomed kept; do
    python3 - "$T/$n.raw" "$T/shared" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    mbr = bytearray(1 << 20)
    mbr[510:512] = b"\x55\xaa"
    f.write(mbr)
    f.write(open(sys.argv[2], "rb").read())
    f.write(os.urandom(3 << 20))
EOF
done
chunks0=$(nchunks)
# The uploads run as tasks: this mount has none, so they are sealed by a
# mount with workers; the test then remounts without.
umount_imgfs "$M"
mount_imgfs "$S" "$M"
for n in doomed kept; do
    mkdir "$P/$n"
    cp "$T/$n.raw" "$P/$n/disks/vda"
    imgfs_wait "$P/$n" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait $P/$n"; }
done
added=$(($(nchunks) - chunks0))
assert_eq 8 "$added" "chunk files the two uploads added (2 shared, 3 + 3 their own)"
umount_imgfs "$M"
mount_imgfs "$S" "$M" "workers=0"

say "deleted to the bin, then destroyed: deleting, still listed, its directory still readable"
rmdir "$P/doomed"
exec {held}<"$B/doomed" # a process holding the directory across the destroy
# gc keeps what was stamped less than a second ago: the chunks are made old.
find "$CH" -type f -exec touch -h -d '2 hours ago' {} +
rmdir "$B/doomed" || fail "rmdir recycle-bin/doomed"
assert_eq doomed "$(entries "$B")" "recycle-bin/ after the destroy"
assert_eq deleting "$(cat "$B/doomed/status")" "status"
assert_eq deleting "$(cat "/proc/self/fd/$held/status")" "status through the held directory"
assert_match '.*op destroy.*' "$(tr '\n' ' ' <"$B/doomed/task")" "task"
assert_eq deleting "$(jq -r '.[] | select(.name == "doomed") | .status' "$R/images.json")" \
    "images.json's status"

say "nothing of it changes meanwhile: EBUSY, the reason in error"
assert_errno EBUSY write "$B/doomed/description" "last words"
assert_match '.*being destroyed.*' "$(cat "$B/doomed/error")" "error after a refused write"
assert_errno EBUSY rename "$B/doomed" "$B/other"
assert_errno EBUSY rename "$B/doomed" "$P/doomed"
assert_errno EBUSY rmdir "$B/doomed"
[[ ! -e "$P/doomed" && ! -e "$B/other" ]] || fail "a refused move moved it"
assert_eq "$((chunks0 + added))" "$(nchunks)" "chunk files while no worker runs"

say "a mount with workers: the task frees its own 3 chunks, keeps the shared ones, and the image is gone"
exec {held}<&-
umount_imgfs "$M"
mount_imgfs "$S" "$M"
gone() { [[ ! -e "$B/doomed" ]]; }
wait_for 30 gone || fail "recycle-bin/doomed still $(cat "$B/doomed/status" 2>&1) after 30 s"
assert_eq "" "$(entries "$B")" "recycle-bin/ once destroyed"
assert_eq "$((chunks0 + added - 3))" "$(nchunks)" "chunk files once destroyed"
cmp "$P/kept/disks/vda" "$T/kept.raw" || fail "kept's disk changed"
"$IMGFS" admin --state "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck"; }
umount_imgfs "$M"
echo "PASS"

#!/usr/bin/env bash
# test_encrypt_rotate.sh — `imgfs admin key rotate` (SPEC §17) killed with
# kill -9 in the middle and run again: 120 encrypted images (a data key
# each), the rotation from key A (a file) to key B (a command: a KMS's
# place) killed after its tenth key; then `key status` shows some keys
# under each key-encryption key and the service's is B; a mount with A
# still reads the images whose keys were not re-wrapped, and not the
# others; the same command again re-wraps the rest and says how many
# were done already; then a mount with B reads every image, byte for
# byte, and one with A none (EACCES, the reason naming both keys); no
# chunk was rewritten (the chunk files' inodes and mtimes are the same).
source "$(dirname "$0")/lib.sh"

N=120
S="$T/state" M="$T/mnt"
P="$M/regions/cn-north-1/private"
head -c 32 /dev/urandom >"$T/kek_a"
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/kek_b"
chmod 600 "$T/kek_a" "$T/kek_b"
chunks_state() { find "$S/regions" -path '*/chunks/*' -type f -printf '%i %T@ %p\n' | LC_ALL=C sort; }

say "$N encrypted images, each with a data key of its own"
mount_imgfs "$S" "$M" "keyfile=$T/kek_a"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images $((N + 5)) >/dev/null
imgfs_admin "$S" account set "$(id -un)" encrypt-by-default yes
python3 - "$T" "$N" <<'PY'
import os, sys
for i in range(int(sys.argv[2])):
    with open("%s/d%d.raw" % (sys.argv[1], i), "wb") as f:
        f.write(b"\xeb\x63" + bytes(508) + b"\x55\xaa" + os.urandom((1 << 20) - 512))
PY
for ((i = 0; i < N; i++)); do
    mkdir "$P/i$i"
    cp "$T/d$i.raw" "$P/i$i/disks/vda"
done
imgfs_wait "$P"/i* >"$T/wait.out" 2>&1 || { tail "$T/wait.out" >&2; fail "imgfs wait"; }
umount_imgfs "$M"
imgfs_admin "$S" --keyfile "$T/kek_a" key status >"$T/status" || fail "key status"
id_a=$(awk '$3 == "service" { print $1 }' "$T/status")
assert_eq "$id_a $N service" "$(head -n1 "$T/status")" "key status before"
chunks_state >"$T/chunks.before"

say "the rotation to B, killed (kill -9) after its tenth key"
mkfifo "$T/progress"
"$IMGFS" admin --state "$S" --keyfile "$T/kek_a" key rotate --new-keycmd "cat $T/kek_b" >"$T/progress" &
rot=$!
lines=0
while read -r line; do
    lines=$((lines + 1))
    ((lines < 10)) || break
done <"$T/progress"
kill -9 "$rot"
wait "$rot" && fail "the rotation was not killed" || true
imgfs_admin "$S" key status >"$T/status" || fail "key status"
cat "$T/status"
id_b=$(awk '$1 == "service" { print $2 }' "$T/status")
[[ "$id_b" != "$id_a" && "$id_b" != "-" ]] || fail "the service's key is still $id_b"
under_a=$(awk -v k="$id_a" '$1 == k { print $2 }' "$T/status")
under_b=$(awk -v k="$id_b" '$1 == k { print $2 }' "$T/status")
((under_a > 0 && under_b >= 10 && under_a + under_b == N)) ||
    fail "after the kill: $under_a keys under A, $under_b under B (of $N)"

say "meanwhile A opens the keys not re-wrapped yet, and no other"
mount_imgfs "$S" "$M" "keyfile=$T/kek_a"
readable=0
for ((i = 0; i < N; i++)); do
    if cmp -s "$T/d$i.raw" "$P/i$i/disks/vda"; then readable=$((readable + 1)); fi
done
assert_eq "$under_a" "$readable" "images A reads after the kill"
umount_imgfs "$M"

say "the same command again goes on from there"
"$IMGFS" admin --state "$S" --keyfile "$T/kek_a" key rotate --new-keycmd "cat $T/kek_b" >"$T/rest" ||
    { cat "$T/rest" >&2; fail "the rotation, run again"; }
assert_eq "$under_a re-wrapped, $under_b under the new key already, 0 under another" "$(tail -n1 "$T/rest")" \
    "the second run's count"
imgfs_admin "$S" key status >"$T/status"
assert_eq "$id_b $N service" "$(head -n1 "$T/status")" "key status after"

say "B reads every image, byte for byte; A none, with the reason; no chunk was rewritten"
mount_imgfs "$S" "$M" "keycmd=cat $T/kek_b"
for ((i = 0; i < N; i++)); do
    cmp "$T/d$i.raw" "$P/i$i/disks/vda" || fail "i$i with B"
done
remount_imgfs "$S" "$M" "keyfile=$T/kek_a"
for ((i = 0; i < N; i++)); do
    assert_errno EACCES open "$P/i$i/disks/vda" rdonly
done
assert_match ".*wrapped by key-encryption key $id_b.*" "$(cat "$P/i0/error")" "i0/error with A"
umount_imgfs "$M"
chunks_state >"$T/chunks.after"
cmp "$T/chunks.before" "$T/chunks.after" || fail "chunk files changed during the rotation"

#!/usr/bin/env bash
# SPEC §12 ("Arguments that could hurt are refused"), §15 (mounting): a
# mount whose arguments would hide or damage something is refused with
# exit 1 and one line naming the right form, before anything is touched —
# no state directory made (not even the default one), nothing written in
# an existing one, nothing mounted:
#   - `imgfs STATE` (the mount point forgotten: STATE would be mounted over),
#   - `imgfs MNT STATE` (swapped: MNT would become a state, STATE hidden),
#   - a mount point that is the state directory (a new one), lies inside
#     it, or contains it (the daemon opens the state again once mounted: it
#     would look for it through its own mount),
#   - a mount point that is not empty, unless -o nonempty (then its files
#     are hidden while mounted and back after), also through
#     `mount -t fuse.imgfs ... -o nonempty` (mount.fuse3 passes it on);
#   - `-o db=URL` (or a postgresql:// source) without `state=`: the default
#     state directory, an embedded service's, would become this host's
#     files (issue 36).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# The default state directory of these commands (SPEC §1): it must never
# be created by a refused mount.
export XDG_DATA_HOME="$T/xdg"
S="$T/state" M="$T/mnt"

say "a state to refuse mounts over: made by a mount on an empty directory, unmounted"
mount_imgfs "$S" "$M"
umount_imgfs "$M"
[[ -f "$S/imgfs.db" ]] || fail "no $S/imgfs.db"

# snapshot: what the test watches for changes (names, sizes and mtimes in
# the state, the mount point and the default state's parent).
snapshot() {
    find "$S" "$T" -maxdepth 1 -printf '%p %s %T@\n' 2>/dev/null | LC_ALL=C sort
    find "$S" -name 'imgfs.db*' -printf '%p %s %T@\n' | LC_ALL=C sort
}
before=$(snapshot)
# refused WHAT WANT ARGS...: exit 1, exactly the line WANT (a regex),
# nothing mounted anywhere under $T, nothing created or changed.
refused() {
    local what=$1 want=$2 rc=0 out; shift 2
    out=$("$IMGFS" "$@" 2>&1) || rc=$?
    grep -q " $T" /proc/mounts && fail "$what: something was mounted: $(grep " $T" /proc/mounts)"
    assert_eq 1 "$rc" "exit status ($what): $out"
    assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "lines printed ($what): $out"
    assert_match "$want" "$out" "the reason ($what)"
    [[ ! -e "$XDG_DATA_HOME" ]] || fail "$what: the default state's directory $XDG_DATA_HOME was created"
    assert_eq "$before" "$(snapshot)" "what is in $T and $S after: $what"
}
# A mount the old code made would hide these: unmount them at exit.
for m in "$S" "$S/regions" "$M" "$T/around" "$T/fresh" "$T/full" "$T"; do also_unmount "$m"; done

say "imgfs STATE: the mount point forgotten"
refused "imgfs STATE" "imgfs: $S is an imgfs state directory, not a mount point: imgfs \[-o OPTIONS\] $S MOUNTPOINT" "$S"
refused "imgfs -o workers=1 STATE" "imgfs: $S is an imgfs state directory, not a mount point: .*" -o workers=1 "$S"

say "imgfs MNT STATE: swapped"
refused "imgfs MNT STATE" \
    "imgfs: the mount point $S is an imgfs state directory and the source $M is not: swapped\? imgfs \[-o OPTIONS\] $S $M" \
    "$M" "$S"
refused "imgfs -o state=STATE STATE" "imgfs: the mount point $S is an imgfs state directory: mount on an empty directory, .*" \
    -o "state=$T/other" "$S"
[[ -z "$(ls -A "$M")" ]] || fail "the mount point of the swapped command holds $(ls -A "$M")"

say "a mount point that is the state directory, inside it, or around it"
refused "inside the state" \
    "imgfs: the mount point $S/regions lies inside the state directory $S, which the mount would hide: imgfs \[-o OPTIONS\] $S MOUNTPOINT, with a mount point outside it" \
    "$S" "$S/regions"
mkdir "$T/around" "$T/fresh"
before=$(snapshot)
refused "around the state" "imgfs: the mount point $T/around contains the state directory $T/around/deep/state, .*" \
    "$T/around/deep/state" "$T/around"
refused "around the default state" "imgfs: the mount point $T contains the state directory $XDG_DATA_HOME/imgfs, .*" \
    -o nonempty "$T"
refused "the state directory itself, new" "imgfs: the mount point $T/fresh is the state directory $T/fresh, .*" \
    "$T/fresh" "$T/fresh"
[[ -z "$(find "$T/around" "$T/fresh" -mindepth 1)" ]] || fail "a refused mount created $(find "$T/around" "$T/fresh" -mindepth 1)"

say "a mount point that is not empty: refused, unless -o nonempty (its files hidden while mounted, back after)"
mkdir "$T/full"
echo "mine" >"$T/full/kept"
before=$(snapshot)
refused "not empty" \
    "imgfs: mount point $T/full is not empty \(the mount would hide its files\): use an empty directory, or -o nonempty to mount over them" \
    "$S" "$T/full"
mount_imgfs "$S" "$T/full" nonempty
[[ -d "$T/full/regions/cn-north-1/private" && ! -e "$T/full/kept" ]] || fail "-o nonempty: not mounted over $T/full"
umount_imgfs "$T/full"
assert_eq "mine" "$(cat "$T/full/kept")" "the hidden file after the unmount"

say "mount -t fuse.imgfs -o nonempty (mount.fuse3 runs imgfs from sh's default PATH; a private mount namespace)"
mkdir -p "$T/sbin"
ln -s "$(readlink -f "$IMGFS")" "$T/sbin/imgfs"
unshare -m --propagation private bash -euo pipefail -s "$S" "$T/full" "$T/sbin" >"$T/helper.out" 2>&1 <<'EOF' ||
S=$1 M=$2 SBIN=$3
mount --bind "$SBIN" /usr/local/sbin
trap 'fusermount3 -u "$M" 2>/dev/null || true' EXIT
if mount -t fuse.imgfs "$S" "$M" -o workers=0 2>/dev/null; then echo "mount(8) over a non-empty directory: mounted"; exit 1; fi
mount -t fuse.imgfs "$S" "$M" -o nonempty,workers=0
[[ -d "$M/regions/cn-north-1/public" ]] || { echo "mount -o nonempty: no regions/cn-north-1/public"; exit 1; }
fusermount3 -u "$M"
echo "mount -t fuse.imgfs -o nonempty: ok"
EOF
    { cat "$T/helper.out" >&2; fail "mount(8) with -o nonempty"; }
assert_eq "mount -t fuse.imgfs -o nonempty: ok" "$(cat "$T/helper.out")" "mount(8)"

say "-o db= without state=: refused, the default state (an embedded service's) untouched"
# An embedded service in the default state directory: the mount would
# have adopted it as this host's files (the two services then share its
# catalogue chunks, and each one's gc deletes the other's).  Refused
# before the database is asked (the URL names nothing that listens).
mkdir -p "$XDG_DATA_HOME"
"$IMGFS" admin init "$XDG_DATA_HOME/imgfs" >/dev/null
S="$XDG_DATA_HOME/imgfs" # what snapshot() watches
mkdir "$T/dbmnt"
before=$(snapshot)
want="imgfs: -o db= needs this host's state directory \(the default one may be another service's\): imgfs -o db=URL,state=DIR MOUNTPOINT"
out=$("$IMGFS" -o db=postgresql://nobody@127.0.0.1:1/none "$T/dbmnt" 2>&1) && fail "-o db= without state= mounted"
assert_match "$want" "$out" "the refusal of -o db= without state="
out=$("$IMGFS" postgresql://nobody@127.0.0.1:1/none "$T/dbmnt" -o workers=0 2>&1) &&
    fail "a postgresql:// source without state= mounted"
assert_match "$want" "$out" "the refusal of a postgresql:// source without state="
grep -q " $T" /proc/mounts && fail "something was mounted: $(grep " $T" /proc/mounts)"
assert_eq "$before" "$(snapshot)" "the default state after the refusals"
[[ -z "$(find "$T/dbmnt" -mindepth 1)" ]] || fail "a refused mount wrote into $T/dbmnt"

#!/usr/bin/env bash
# SPEC §2 ("every name in this tree is stable across remounts; so are inode
# numbers, sizes and modification times of content that did not change"),
# §11: names, inodes, sizes, times and contents survive a remount; rsync -a
# run again after a remount transfers nothing; writing a description changes
# that file's mtime and nothing else's (but images.csv and images.json,
# which show it).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount

say "make two private images, one with a description"
mkdir "$R/private/alpha" "$R/private/beta"
echo "first description" >"$R/private/alpha/description"
echo "env=test" >"$R/private/beta/tags"

# snapshot FILE: every entry's inode, size, mtime, ctime and path, plus the
# contents of every generated file (but /stats and /errors: the mount's own counters and refusals,
# which start again at every mount, like /proc).
snapshot() {
    (cd "$M" && find . ! -path ./stats ! -path ./errors -printf '%i %s %T@ %C@ %y %m %p\n' | LC_ALL=C sort -k7) >"$1"
    # Every file's content under its name: one tail for all of them (a cat
    # per file was 1,300 processes a snapshot).
    (cd "$M" && find . -type f ! -path '*/disks/*' ! -path ./stats ! -path ./errors -print0 | LC_ALL=C sort -z |
        xargs -0 -r tail -v -n +1 --) >>"$1"
}

say "record find -printf '%i %s %T@ %C@ %p' and the contents of every attribute file"
snapshot "$T/before"
say "    $(wc -l <"$T/before") lines"

say "unmount, remount: identical"
remount_imgfs "$S" "$M"
snapshot "$T/after"
if ! cmp -s "$T/before" "$T/after"; then
    diff "$T/before" "$T/after" | head -n 40 >&2
    fail "the tree changed across a remount"
fi

say "the private images and their values survived"
assert_eq "first description" "$(cat "$R/private/alpha/description")" "alpha/description after remount"
assert_eq "env=test" "$(cat "$R/private/beta/tags")" "beta/tags after remount"
assert_eq queued "$(cat "$R/private/alpha/status")" "alpha/status after remount"

say "rsync -a a public and a private image directory, remount, rsync again: nothing transferred"
mkdir "$T/backup"
for d in public/centos-7.4 private/alpha; do
    rsync -a --sparse "$R/$d" "$T/backup/" || fail "rsync -a $R/$d failed"
done
cmp "$R/public/centos-7.4/disks/vda" "$T/backup/centos-7.4/disks/vda" || fail "rsync copy of disks/vda differs"
remount_imgfs "$S" "$M"
for d in public/centos-7.4 private/alpha; do
    rsync -a --sparse --itemize-changes --out-format='ITEM %i %n' --stats "$R/$d" "$T/backup/" >"$T/rsync.out" ||
        fail "second rsync of $d failed"
    if grep -q '^ITEM' "$T/rsync.out"; then
        cat "$T/rsync.out" >&2
        fail "second rsync -a of $d after a remount itemized changes"
    fi
    grep -q '^Number of regular files transferred: 0$' "$T/rsync.out" ||
        { cat "$T/rsync.out" >&2; fail "second rsync of $d transferred files"; }
done

say "writing alpha/description changes its mtime and no other entry's"
snapshot "$T/before-write"
sleep 1.1
echo "second description" >"$R/private/alpha/description"
assert_eq "second description" "$(cat "$R/private/alpha/description")" "alpha/description after the write"
snapshot "$T/after-write"
# Compare the find lines (first part of the snapshot), path by path.
python3 - "$T/before-write" "$T/after-write" <<'EOF' || fail "mtimes changed where they should not have, or did not where they should"
import sys
def load(p):
    out = {}
    for line in open(p, encoding="utf-8", errors="surrogateescape"):
        if line.startswith("==> "):  # tail -v: the contents begin
            break
        f = line.rstrip("\n").split(" ", 6)
        out[f[6]] = f
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
desc = "./regions/cn-north-1/private/alpha/description"
bad = 0
if set(a) != set(b):
    print("entries differ: %s" % sorted(set(a) ^ set(b)), file=sys.stderr); sys.exit(1)
if float(b[desc][2]) <= float(a[desc][2]):
    print("mtime of %s did not advance: %s -> %s" % (desc, a[desc][2], b[desc][2]), file=sys.stderr); bad += 1
# images.csv and images.json carry descriptions: they change too.  Everything else — the
# other files of alpha included (backup tools re-read what changed mtime) —
# keeps its mtime and inode.
for p in a:
    if a[p][0] != b[p][0]:
        print("inode of %s changed" % p, file=sys.stderr); bad += 1
    if p in (desc, "./regions/cn-north-1/images.csv", "./regions/cn-north-1/images.json") or a[p][2] == b[p][2]:
        continue
    print("mtime of %s changed: %s -> %s" % (p, a[p][2], b[p][2]), file=sys.stderr); bad += 1
print("    %d entries compared" % len(a))
sys.exit(1 if bad else 0)
EOF

say "the new description and its mtime survive a remount"
stat -c '%i %s %Y' "$R/private/alpha/description" >"$T/desc1"
remount_imgfs "$S" "$M"
stat -c '%i %s %Y' "$R/private/alpha/description" >"$T/desc2"
assert_file_eq "$T/desc1" "$T/desc2" "stat of alpha/description across a remount"
assert_eq "second description" "$(cat "$R/private/alpha/description")" "alpha/description after remount"

say "unmount and mount again at once: the log says so in that order"
# fusermount3 -u returns once the kernel has unmounted; the old daemon is
# still stopping (its watcher, its workers) while the new one mounts.
# Both write <state>/imgfs.log: the old daemon's "unmounted" line must
# come before the new daemon's "mounted" one, as the events did.
old=${_MOUNT_PID[$M]}
[[ -n "$old" ]] || fail "no daemon pid for $M"
fusermount3 -u "$M"
kept=()
for m in "${_MOUNTS[@]}"; do [[ "$m" == "$M" ]] || kept+=("$m"); done
_MOUNTS=("${kept[@]+"${kept[@]}"}")
mount_imgfs "$S" "$M"
_wait_gone "$old" 10 || fail "the old daemon $old did not exit within 10 s of its unmount"
order=$(grep -oE 'imgfs: (mounted|unmounted) ' "$S/imgfs.log" | awk '{print $2}' | tail -n 3 | tr '\n' ' ')
assert_eq "mounted unmounted mounted " "$order" "the last three mount lines of imgfs.log"

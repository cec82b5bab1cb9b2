#!/usr/bin/env bash
# docs/fuse-notes.md: "`statfs` reports the blob store's real capacity and use": df on
# the mount reports the size and free space of the file system holding the
# state directory.  The state directory is put on a small tmpfs of its own
# (when mounting one works) so that its figures differ from every other
# file system's.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

S="$T/state" M="$T/mnt"
mkdir -p "$T/fs"
if mount -t tmpfs -o size=777m tmpfs "$T/fs" 2>/dev/null; then
    also_unmount "$T/fs"
    S="$T/fs/state"
    say "state directory on a 777 MiB tmpfs"
else
    say "state directory on $(stat -f -c %T "$T") (mounting a tmpfs failed)"
fi
mount_imgfs "$S" "$M"

say "df works on the mount"
df "$M" >"$T/df" || fail "df $M failed"
df -i "$M" >/dev/null || fail "df -i $M failed"
sed 's/^/    /' "$T/df"

read -r mb ms < <(stat -f -c '%b %S' "$M")
read -r sb ss < <(stat -f -c '%b %S' "$S")
say "total size: mount $mb x $ms, state dir's file system $sb x $ss"
assert_eq "$((sb * ss))" "$((mb * ms))" "file system size in bytes (blocks x fragment size)"

say "free space of the mount is that of the state dir's file system (within 1% or 64 MiB)"
read -r ma < <(stat -f -c '%a' "$M")
read -r sa < <(stat -f -c '%a' "$S")
python3 - "$((ma * ms))" "$((sa * ss))" <<'PY' || fail "available space differs"
import sys
a, b = int(sys.argv[1]), int(sys.argv[2])
print("    available: mount %d, state %d" % (a, b))
sys.exit(0 if abs(a - b) <= max(b // 100, 64 << 20) else 1)
PY

say "the used space grows when data is published (a 48 MiB random disk)"
head -c $((48 << 20)) /dev/urandom >"$T/disk.raw"
printf '\x55\xaa' | dd of="$T/disk.raw" bs=1 seek=510 conv=notrunc status=none # an MBR: a disk publish takes
before=$(stat -f -c '%a' "$M")
imgfs_admin "$S" publish public cn-north-1 statfs-disk "$T/disk.raw"
after=$(stat -f -c '%a' "$M")
echo "    available blocks: $before -> $after"
(((before - after) * ms >= 40 << 20)) || fail "available space of the mount dropped by only $(((before - after) * ms)) bytes after storing 48 MiB"

say "the mount's block size is reported (non-zero) and the name length limit is 255"
(($(stat -f -c '%s' "$M") > 0)) || fail "statfs block size is 0"
assert_eq 255 "$(stat -f -c '%l' "$M")" "statfs name length limit"

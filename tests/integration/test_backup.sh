#!/usr/bin/env bash
# SPEC §2.3, §2: backup tools against the mount.  tar --sparse, rsync
# --sparse, restic and borg back up a private image directory and restore it
# byte-exact; holes are not read as data; after a remount (new inode cache,
# page cache dropped) a second backup of the unchanged tree reads no blob
# bytes — proved by making every chunk of the store unreadable first (a
# blob read would then fail with EIO and the tool would report it); a read
# interrupted and resumed at an offset gives the same bytes.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for tool in restic borg rsync tar; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps)"
done

setup_mount
IMG=$R/private/img1
REF=$T/ref.vda

say "an image to back up: a captured 64 MiB local disk, 12 MiB of data in two extents, holes between"
mkdir "$R/instances/vm1"
truncate -s 64M "$R/instances/vm1/disks/vda"
truncate -s 64M "$REF"
write_random "$R/instances/vm1/disks/vda" 0 8 "$REF"
write_random "$R/instances/vm1/disks/vda" 40 4 "$REF"
mkdir "$IMG"
printf 'golden, "quoted"\nsecond line\n' >"$IMG/description"
capture "$IMG" vm1
sparse_cmp "$IMG/disks/vda" "$REF" "the captured disk"

# A tree listing with everything a backup tool relies on for "unchanged":
# inode, size, mtime and ctime (ns) of every entry under DIR.  Not files/
# (SPEC §18): what is inside a disk is read from its chunks, which
# cut_off_blobs below makes unreadable on purpose.
tree_stat() {
    (cd "$1" && find . -path ./files -prune -o -printf '%p %i %s %T@ %C@ %y\n' | LC_ALL=C sort)
}
# After the first backups: a remount (a new daemon, a new superblock: no
# page of a blob is served from memory), then every chunk file of the store is made unreadable
# as data (one byte flipped: verify-on-read turns a read into EIO).
cut_off_blobs() {
    remount_imgfs "$S" "$M"
    local f n=0
    while IFS= read -r -d '' f; do
        chmod u+w "$f"
        printf '\xff' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
        n=$((n + 1))
    done < <(find "$S/regions/cn-north-1/chunks" -type f -print0)
    ((n > 0)) || fail "no chunk files found under $S/regions/cn-north-1/chunks"
    say "    $n chunk files made unreadable; a read of disks/vda is now EIO"
    assert_errno EIO read "$IMG/disks/vda"
}

say "tar --sparse: the archive stores about the data, extraction is byte-exact"
tar --sparse -C "$R/private" -cf "$T/a.tar" img1
size=$(stat -c %s "$T/a.tar")
((size < 20 * 1048576)) || fail "tar archive of 12 MiB of data is $size bytes: holes were read as data"
mkdir "$T/tar-out"
tar -C "$T/tar-out" -xf "$T/a.tar"
sparse_cmp "$T/tar-out/img1/disks/vda" "$REF" "tar round trip of disks/vda"
assert_file_eq "$IMG/description" "$T/tar-out/img1/description" "tar round trip of description"
# --no-check-device: a FUSE mount's device number is drawn at mount time
# (another mount made meanwhile takes the old one), so an incremental
# backup across remounts must not judge directories by it (README, backups).
tar --sparse --no-check-device --exclude=img1/files -C "$R/private" --listed-incremental="$T/tar.snar" -cf "$T/level0.tar" img1

say "rsync -a --sparse: byte-exact copy, sparse on the receiving side"
rsync -a --sparse --exclude=/files "$IMG/" "$T/rsync-out/"
sparse_cmp "$T/rsync-out/disks/vda" "$REF" "rsync copy of disks/vda"
blocks=$(stat -c %b "$T/rsync-out/disks/vda")
((blocks * 512 < 20 * 1048576)) || fail "rsync --sparse wrote $((blocks * 512)) bytes for 12 MiB of data"

# The incremental runs (restic, borg, rsync, tar -g) leave out files/
# (SPEC §18): what is inside a disk is read from its chunks, which the
# second runs below find unreadable.
say "restic backup and restore: byte-exact"
export RESTIC_PASSWORD=imgfs-test RESTIC_REPOSITORY=$T/restic RESTIC_CACHE_DIR=$T/restic-cache
restic init -q
restic backup -q --json --exclude "$IMG/files" "$IMG" >"$T/restic1.json" || fail "restic backup failed"
restic restore -q latest --target "$T/restic-out" || fail "restic restore failed"
sparse_cmp "$T/restic-out$IMG/disks/vda" "$REF" "restic round trip of disks/vda"
assert_file_eq "$IMG/description" "$T/restic-out$IMG/description" "restic round trip of description"

say "borg create and extract: byte-exact"
export BORG_REPO=$T/borg BORG_PASSPHRASE="" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_BASE_DIR=$T/borg-home
borg init -e none
borg create --sparse --exclude "$IMG/files" "::first" "$IMG" || fail "borg create failed"
mkdir "$T/borg-out"
(cd "$T/borg-out" && borg extract --sparse "::first") || fail "borg extract failed"
sparse_cmp "$T/borg-out$IMG/disks/vda" "$REF" "borg round trip of disks/vda"

say "a read interrupted and resumed at an offset gives the same bytes (dd skip=, python pread)"
dd if="$IMG/disks/vda" of="$T/resumed" bs=1M count=5 status=none
dd if="$IMG/disks/vda" of="$T/resumed" bs=1M skip=5 seek=5 status=none
cmp "$T/resumed" "$REF" || fail "dd read in two parts differs from the disk"
python3 - "$IMG/disks/vda" "$REF" <<'EOF' || fail "reads resumed at odd offsets differ"
import os, sys
a, b = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_RDONLY)
for off in (0, 1, 4095, 1048575, 8388607, 8388608, 41943040 - 3, 67108864 - 1):
    for n in (1, 7, 65536, 3 << 20):
        if os.pread(a, n, off) != os.pread(b, n, off):
            sys.exit("differs at %d+%d" % (off, n))
EOF

tree_stat "$IMG" >"$T/stat.before"
cut_off_blobs

say "after a remount: inode, size, mtime and ctime of every entry unchanged"
tree_stat "$IMG" >"$T/stat.after"
diff "$T/stat.before" "$T/stat.after" >&2 || fail "stat of the image tree changed across a remount"

say "second restic backup: every file unmodified, no data blob added, no blob read"
restic backup -q --json --exclude "$IMG/files" "$IMG" >"$T/restic2.json" 2>"$T/restic2.err" ||
    { cat "$T/restic2.err" >&2; fail "second restic backup failed (did it read the blob?)"; }
python3 - "$T/restic2.json" "$T/restic1.json" <<'EOF' || fail "second restic backup was not a no-op"
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
print("    restic: %d files new, %d changed, %d unmodified, %d data blobs added" %
      (s["files_new"], s["files_changed"], s["files_unmodified"], s["data_blobs"]))
# Tree blobs may change: the path's parents outside the mount (/tmp) do.
ok = s["files_new"] == 0 and s["files_changed"] == 0 and s["files_unmodified"] > 20 and s["data_blobs"] == 0
import subprocess
prev = [json.loads(l) for l in open(sys.argv[2]) if '"summary"' in l][-1]
if not ok: subprocess.run(["restic", "diff", "--metadata", prev["snapshot_id"], s["snapshot_id"]])
sys.exit(0 if ok else 1)
EOF

# borg drops from its files cache the files whose ctime is the newest it saw
# (its guard against changes within one timestamp tick), so the small files
# carrying the image's newest ctime are read again on every run; the blob
# must not be.
say "second borg create: disks/vda unchanged and not read (exit 0 despite the unreadable chunks)"
borg create --list --filter=AME --exclude "$IMG/files" "::second" "$IMG" >"$T/borg2.out" 2>&1 ||
    { cat "$T/borg2.out" >&2; fail "second borg create failed (did it read the blob?)"; }
if grep -q '/disks/' "$T/borg2.out"; then cat "$T/borg2.out" >&2; fail "second borg create re-read a blob"; fi

say "second rsync: nothing transferred, no blob read"
rsync -a --sparse --itemize-changes --exclude=/files "$IMG/" "$T/rsync-out/" >"$T/rsync2.out" ||
    fail "second rsync failed (did it read the blob?)"
if [[ -s "$T/rsync2.out" ]]; then cat "$T/rsync2.out" >&2; fail "second rsync transferred something"; fi

say "tar --listed-incremental level 1: no file content, no blob read"
tar --sparse --no-check-device --exclude=img1/files -C "$R/private" --listed-incremental="$T/tar.snar" -cvf "$T/level1.tar" img1 >"$T/tar1.out" ||
    fail "incremental tar failed (did it read the blob?)"
if grep -v '/$' "$T/tar1.out" | grep -q .; then cat "$T/tar1.out" >&2; fail "incremental tar archived files"; fi

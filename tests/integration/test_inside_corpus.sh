#!/usr/bin/env bash
# SPEC §18 ("Safe against hostile images"): the crash-prone corpus.  Each
# damaged disk make-inside-corpus writes (cyclic directories, huge and
# overlapping extents, symlink loops, directories with a bogus size,
# corrupted superblocks, group descriptors, checksums, random metadata
# flips, broken partition tables: docs/testing.md, "The crash-prone
# corpus") is uploaded with cp and walked the way a user would: ls -lR,
# find, the bytes of every regular file (head -c 16M), readlink of every
# link.  Each walk
# ends; what fails, fails with EIO or ELOOP (or lists less); the daemon
# stays up and another image's files and a good copy of the fixture read
# right after every walk.  scripts/test runs it in the ASan/UBSan pass
# like every integration test: a sanitizer report of the daemon fails it.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in mke2fs debugfs e2fsck dumpe2fs sfdisk timeout; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs e2fsprogs, fdisk, coreutils)"
done
# A helper that loops is killed after 3 s instead of 10 (SPEC §18).
export IMGFS_INSIDE_DEADLINE_MS=3000

say "the corpus: damaged disks from two small fixtures"
bash "$INTEGRATION_DIR/make-inside-corpus" "$T/corpus" >/dev/null || fail "make-inside-corpus"
mv "$T/corpus/good.img" "$T/good.img" # the fixture, undamaged
mapfile -t cases < <(cd "$T/corpus" && ls -1 | sed 's/\.img$//' | LC_ALL=C sort)
((${#cases[@]} >= 40)) || fail "only ${#cases[@]} disks in the corpus"

setup_mount
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images $((${#cases[@]} + 10)) >/dev/null
P="$R/private"

say "upload the fixture and the ${#cases[@]} damaged disks (cp into disks/vda)"
mkdir "$P/good"
cp "$T/good.img" "$P/good/disks/vda"
for c in "${cases[@]}"; do
    mkdir "$P/c-$c"
    cp "$T/corpus/$c.img" "$P/c-$c/disks/vda"
done
for c in good "${cases[@]/#/c-}"; do
    imgfs_wait --timeout 120 "$P/$c" >/dev/null 2>&1 || { cat "$P/$c/error" >&2; fail "imgfs wait private/$c"; }
done
want_good=$(printf 'ID=corpus\nVERSION_ID="1"\nPRETTY_NAME="imgfs corpus"')
assert_eq "$want_good" "$(cat "$P/good/files/vda1/etc/os-release")" "the good fixture's os-release"
want_cat=$(cat "$R/public/centos-7.4/files/vda1/etc/os-release")
[[ -n $want_cat ]] || fail "centos-7.4's os-release is empty"
daemon=$(_daemon_pid "$M")

# What a walk may say: EIO, ELOOP (find: a directory seen twice).
allowed='Input/output error|Too many levels of symbolic links|File system loop detected'
say "walk each one: ls -lR, find, read every file, readlink every link"
summary=""
for c in "${cases[@]}"; do
    F="$P/c-$c/files"
    : >"$T/err"
    rc=0
    timeout 300 ls -lR "$F" >"$T/ls.out" 2>>"$T/err" || rc=$?
    [[ $rc != 124 ]] || fail "$c: ls -lR did not end"
    rc=0
    # At most 16 MiB a file: a damaged file may be a long hole (a file
    # whose inode claims more than 2^32 blocks, case file-size-huge, is
    # EIO: checked by name below).
    timeout 300 find "$F" -type f -exec head -q -c 16M {} + >/dev/null 2>>"$T/err" || rc=$?
    [[ $rc != 124 ]] || fail "$c: find | head did not end"
    rc=0
    timeout 300 find "$F" -type l -exec readlink {} + >/dev/null 2>>"$T/err" || rc=$?
    [[ $rc != 124 ]] || fail "$c: find | readlink did not end"
    if grep -vE "$allowed" "$T/err" | grep -q .; then
        grep -vE "$allowed" "$T/err" | head -5 >&2
        fail "$c: an error other than EIO or ELOOP"
    fi
    # The daemon is the same process and answers: another image, the fixture.
    [[ $(_daemon_pid "$M") == "$daemon" ]] || fail "$c: the daemon is gone"
    assert_eq "$want_cat" "$(cat "$R/public/centos-7.4/files/vda1/etc/os-release")" "$c: centos-7.4's os-release after the walk"
    assert_eq "$want_good" "$(cat "$P/good/files/vda1/etc/os-release")" "$c: the good fixture after the walk"
    summary+="$c:$(grep -c . "$T/ls.out" || true)/$(grep -c . "$T/err" || true) "
done
echo "    (case:lines listed/errors) $summary"
# Loops, by name: what the walk stepped past.
assert_errno ELOOP read "$P/c-symlink-self/files/vda1/l1"
# A size past what ext4 addresses (2^56 bytes claimed): EIO, not zeros
# without end.
assert_errno EIO stat "$P/c-file-size-huge/files/vda1/big"
assert_errno ELOOP stat "$P/c-cycle/files/vda1/d/a/b/back"
assert_errno ELOOP stat "$P/c-root-linked/files/vda1/d/a/up"
helpers=$(grep -c 'the helper ended before it answered\|did not answer within' "$S/imgfs.log" || true)
echo "    helpers that died or were killed at the deadline: $helpers"
grep -q "^vda1: not readable: " <(cat "$P"/c-sb-*/files/README) ||
    fail "no README of a corrupted superblock says why"

#!/usr/bin/env bash
# SPEC §2.1, §6.1, §8, §9, §10, §12: the write operations of the first
# issue and the exact errnos of everything that is refused — read-only
# classes, link/symlink/mknod/chmod/chown/setxattr, renames, name rules,
# quotas, value limits, the log line of a refusal.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
pub="$R/public/centos-7.4"
mkt="$R/marketplace/$(ls "$R/marketplace" | head -n1)"

say "public and marketplace attribute files cannot be written: EPERM"
for f in description tags status id os-type source size; do
    assert_errno EPERM write "$pub/$f" "x"
done
assert_errno EPERM write "$mkt/description" "x"
assert_errno EPERM write "$mkt/tags" "a=b"
if (echo x >"$pub/description") 2>/dev/null; then fail "echo x > public description succeeded"; fi

say "no link, symlink, mknod, chmod, chown or setxattr anywhere: EPERM"
assert_errno EPERM chmod "$pub/description" 600
assert_errno EPERM chmod "$pub" 700
assert_errno EPERM chmod "$P" 700
assert_errno EPERM chown "$pub/description" 1 1
assert_errno EPERM chown "$R" 0 0
assert_errno EPERM link "$pub/description" "$P/hardlink"
assert_errno EPERM link "$pub/disks/vda" "$pub/disks/vdb"
assert_errno EPERM symlink "$pub" "$P/symlink"
assert_errno EPERM symlink target "$R/symlink"
assert_errno EPERM mknod "$P/fifo"
assert_errno EPERM mknod "$pub/fifo"
assert_errno EPERM setxattr "$pub/description" user.test 1
assert_errno EPERM setxattr "$pub/disks/vda" user.imgfs.xxh128 00
assert_fails chmod 600 "$pub/description"
assert_fails ln -s "$pub" "$P/lnk"
assert_fails ln "$pub/id" "$P/hl"
assert_fails setfattr -n user.test -v 1 "$pub/id"
mkdir "$P/victim"
assert_errno EPERM chmod "$P/victim/description" 600
assert_errno EPERM setxattr "$P/victim" user.x 1
assert_errno EPERM symlink x "$P/victim/lnk"
assert_errno EPERM mknod "$P/victim/fifo"

say "utimens is accepted and ignored: touch succeeds, mtime unchanged"
before=$(stat -c '%Y %X' "$pub/description")
touch "$pub/description" || fail "touch of a public file failed"
touch -d '2001-02-03 04:05:06' "$pub/description" || fail "touch -d of a public file failed"
assert_eq "${before%% *}" "$(stat -c %Y "$pub/description")" "mtime after touch"
touch "$P/victim/description" || fail "touch of a private file failed"
assert_errno OK utime "$pub/disks/vda"

say "renames: public -> private EPERM, across regions EPERM (never EXDEV)"
assert_errno EPERM rename "$pub" "$P/stolen"
assert_errno EPERM rename "$P/victim" "$M/regions/cn-east-2/private/victim"
assert_errno EPERM rename "$P/victim" "$R/public/victim"
assert_errno EPERM rename "$pub/description" "$pub/description2"
[[ -d "$pub" && -d "$P/victim" ]] || fail "a refused rename moved something"
assert_fails mv "$P/victim" "$M/regions/cn-east-2/private/"
[[ ! -e "$M/regions/cn-east-2/private/victim" ]] || fail "mv across regions copied the image"

say "public/marketplace images cannot be created or removed: EPERM"
assert_errno EPERM mkdir "$R/public/newimage"
assert_errno EPERM rmdir "$pub"
assert_errno EPERM rmdir "$mkt"

say "mkdir private/good: status queued, progress 0, owner $(id -un), empty disks/, id well-formed"
assert_errno OK mkdir "$P/good"
assert_eq queued "$(cat "$P/good/status")" "good/status"
assert_eq 0 "$(cat "$P/good/progress")" "good/progress"
assert_eq "$(id -un)" "$(cat "$P/good/owner")" "good/owner"
assert_match 'img-[0-9a-f]{8}' "$(cat "$P/good/id")" "good/id"
assert_eq "" "$(cat "$P/good/error")" "good/error"
for e in "${ALL_ENTRIES[@]}" convert cancel copies shares; do
    [[ -e "$P/good/$e" ]] || fail "private/good/$e missing"
done
grep -q "^$(cat "$P/good/id"),good,private," "$R/images.csv" || fail "images.csv has no row for private/good"

say "mkdir of an existing name: EEXIST"
assert_errno EEXIST mkdir "$P/good"
assert_errno EEXIST mkdir "$P/victim"

say "name rules (§10)"
n32=$(printf 'a%.0s' {1..32})
assert_errno EINVAL mkdir "$P/${n32}b"                 # 33 characters
assert_errno EINVAL mkdir "$P/bad name"
assert_errno EINVAL mkdir "$P/.hidden"
assert_errno EINVAL mkdir "$P/-dash"
assert_errno EINVAL mkdir "$P/"$'tab\there'
assert_errno EINVAL mkdir "$P/"$'nl\nhere'
assert_errno EINVAL mkdir "$P/"$'esc\x1bhere'
assert_errno EINVAL mkdir "$P/semi;colon"
assert_errno EINVAL mkdir "$P/at@sign"
assert_errno EINVAL mkdir "$P/"$'bad\xffutf8'
cjk33=$(printf '镜%.0s' {1..33})
assert_errno EINVAL mkdir "$P/$cjk33"                  # 33 characters, 99 bytes
long=$(printf '镜%.0s' {1..86})                         # 258 bytes
assert_errno ENAMETOOLONG mkdir "$P/$long"
assert_errno ENAMETOOLONG mkdir "$P/$(printf 'a%.0s' {1..256})"
assert_eq "good victim" "$(ls "$P" | LC_ALL=C sort | xargs)" "private/ after the refused names"
assert_eq "2 5" "$(quota_line "$R" private-images)" "private-images after the refused names"

say "the log names a refusal: EINVAL and the path"
grep -F "${n32}b" "$S/imgfs.log" | grep -q EINVAL ||
    { tail -n 20 "$S/imgfs.log" >&2; fail "no EINVAL line naming private/${n32}b in $S/imgfs.log"; }
assert_match '.*imgfs: [a-z]+ .*: EINVAL .+' "$(grep -F "${n32}b" "$S/imgfs.log" | head -n1)" "log line format"

say "a refused name or value forges no log line and sends no control to a terminal (§9)"
assert_errno EINVAL mkdir "$P/x"$'\n'"FORGED line"
assert_errno EINVAL mkdir "$P/y"$'\x1b]0;pwned\a'
assert_errno EINVAL write "$P/good/platform" $'os\x1b[2J'
grep -q '^FORGED' "$S/imgfs.log" && fail "a refused name wrote a line of its own into the log"
grep -qF 'private/x\x0aFORGED line: EINVAL' "$S/imgfs.log" || { tail -n 5 "$S/imgfs.log" >&2; fail "no escaped log line for the name with a newline"; }
grep -qF 'private/y\x1b]0;pwned\x07: EINVAL' "$S/imgfs.log" || { tail -n 5 "$S/imgfs.log" >&2; fail "no escaped log line for the name with ESC"; }
LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$S/imgfs.log" && fail "a control character reached the log"
assert_eq 'platform is centos, ubuntu, windows, kylin, uos, debian, rocky, almalinux, opensuse, fedora or'\
' freebsd, not os\x1b[2J' \
    "$(cat "$P/good/error")" "error quotes the refused value escaped"

say "32 characters ok; Unicode name accepted and listed byte-exact; 32 CJK characters ok"
assert_errno OK mkdir "$P/$n32"
uni='镜像-测试'
assert_errno OK mkdir "$P/$uni"
ls -1 "$P" | grep -qxF "$uni" || { ls "$P" | od -c | head >&2; fail "ls does not list $uni byte-exact"; }
python3 -c 'import os,sys; sys.exit(0 if os.fsencode(sys.argv[2]) in os.listdir(os.fsencode(sys.argv[1])) else 1)' \
    "$P" "$uni" || fail "readdir does not return the bytes of $uni"
assert_eq queued "$(cat "$P/$uni/status")" "status of $uni"
cjk32=$(printf '镜%.0s' {1..32})
assert_errno OK mkdir "$P/$cjk32"
assert_eq "5 5" "$(quota_line "$R" private-images)" "private-images with 5 images"

say "the sixth private image: EDQUOT, nothing created, a log line"
assert_errno EDQUOT mkdir "$P/sixth"
[[ ! -e "$P/sixth" ]] || fail "private/sixth exists after EDQUOT"
assert_eq "5 5" "$(quota_line "$R" private-images)" "quota after EDQUOT"
grep -F "sixth" "$S/imgfs.log" | grep -q EDQUOT || fail "no EDQUOT line for private/sixth in the log"
say "quota in another region is independent"
assert_errno OK mkdir "$M/regions/cn-east-2/private/sixth"
assert_errno OK rmdir "$M/regions/cn-east-2/private/sixth"

say "imgfs admin quota set root cn-north-1 private-images 6: the sixth works"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 6
assert_eq "5 6" "$(quota_line "$R" private-images)" "quota after admin quota set"
assert_errno OK mkdir "$P/sixth"
assert_eq "6 6" "$(quota_line "$R" private-images)" "quota with six images"
assert_errno EDQUOT mkdir "$P/seventh"

say "rmdir of a queued image removes it outright (not to the recycle bin)"
id=$(cat "$P/sixth/id")
assert_errno OK rmdir "$P/sixth"
[[ ! -e "$P/sixth" ]] || fail "private/sixth still exists"
assert_eq "" "$(ls -A "$R/recycle-bin")" "recycle-bin after removing a queued image"
assert_eq "5 6" "$(quota_line "$R" private-images)" "quota after rmdir"
grep -q "^$id," "$R/images.csv" && fail "images.csv still lists the removed image $id"
assert_errno ENOENT rmdir "$P/sixth"
assert_errno ENOENT rmdir "$P/never-existed"

say "rename private a -> private b works and keeps the id; onto an existing name EEXIST"
id=$(cat "$P/victim/id")
assert_errno OK rename "$P/victim" "$P/renamed"
[[ ! -e "$P/victim" ]] || fail "private/victim still exists after the rename"
assert_eq "$id" "$(cat "$P/renamed/id")" "id after rename"
assert_errno EEXIST rename "$P/renamed" "$P/good"
assert_eq "$id" "$(cat "$P/renamed/id")" "id of the source after a refused rename"
[[ -d "$P/good" ]] || fail "private/good vanished after a refused rename onto it"
assert_errno EINVAL rename "$P/renamed" "$P/bad name"
mv "$P/renamed" "$P/renamed-by-mv" || fail "mv private/renamed private/renamed-by-mv failed"
assert_eq "$id" "$(cat "$P/renamed-by-mv/id")" "id after mv"

say "description: 256 bytes ok, 257 EINVAL; the error file and the log record the refusal"
d256=$(printf 'd%.0s' {1..256})
assert_errno OK write "$P/good/description" "$d256"
assert_eq "$d256" "$(cat "$P/good/description")" "256-byte description"
assert_eq 257 "$(stat -c %s "$P/good/description")" "size of a 256-byte description (value + newline)"
assert_errno OK write "$P/good/description" "$d256"$'\n'
assert_eq 257 "$(cat "$P/good/description" | wc -c)" "256-byte description written with a trailing newline"
assert_errno EINVAL write "$P/good/description" "${d256}x"
assert_eq "$d256" "$(cat "$P/good/description")" "description unchanged after the refused write"
[[ -n "$(cat "$P/good/error")" ]] || fail "private/good/error is empty after a refused description write"
grep -F "private/good/description" "$S/imgfs.log" | grep -q EINVAL ||
    { tail -n 5 "$S/imgfs.log" >&2; fail "no EINVAL log line naming private/good/description"; }
u256=$(printf '像%.0s' {1..85})x                       # 85*3+1 = 256 bytes
assert_errno OK write "$P/good/description" "$u256"
assert_eq "$u256" "$(cat "$P/good/description")" "256-byte UTF-8 description"
echo "via echo" >"$P/good/description" || fail "echo > description failed"
assert_eq "via echo" "$(cat "$P/good/description")" "description written by echo"

say "a write at a non-zero offset is EINVAL"
assert_errno EINVAL pwrite "$P/good/description" 3 "xyz"
assert_errno EINVAL pwrite "$P/good/tags" 1 "a=b"
assert_eq "via echo" "$(cat "$P/good/description")" "description after the refused pwrite"

say "tags: key=value lines are stored and read back"
# One write(2) (bash's builtin printf would write line by line).
assert_errno OK write "$P/good/tags" $'env=prod\nowner=qa\n'
assert_eq $'env=prod\nowner=qa' "$(cat "$P/good/tags")" "tags"
assert_eq 18 "$(stat -c %s "$P/good/tags")" "size of tags"

say "values too big for one write (> 4 KiB): EINVAL"
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
assert_errno EINVAL write "$P/good/tags" "k=$big"

say "read-only files of a private image: EPERM"
for f in id status progress size created owner; do
    assert_errno EPERM write "$P/good/$f" "x"
done
# encrypted is the owner's while the image is queued (SPEC §17): yes or no.
assert_errno EINVAL write "$P/good/encrypted" "x"

say "unknown region: ENOENT"
assert_errno ENOENT read "$M/regions/xx-nowhere-1/quota"
assert_errno ENOENT mkdir "$M/regions/xx-nowhere-1/private/x"
assert_errno ENOENT open "$M/regions/xx-nowhere-1" rdonly
assert_fails ls "$M/regions/xx-nowhere-1"

say "a description that is not UTF-8 is EINVAL (§2.1: at most 256 bytes of UTF-8)"
assert_errno EINVAL write "$P/good/description" $'bad\xffutf8'
assert_errno EINVAL write "$P/good/description" $'overlong \xc0\xaf'

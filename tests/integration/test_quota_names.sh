#!/usr/bin/env bash
# SPEC §8, §10, §9, §12: the quota file and its limits (the sixth private
# image is EDQUOT until the admin raises the limit), and the name rules for
# images and instances alike — 32 characters of letters (any script),
# digits, ".", "_", "-", not starting with "." or "-"; anything else EINVAL,
# over 255 bytes ENAMETOOLONG; names stored and listed byte-exact; every
# refusal logged as "<op> <path>: <ERRNO> <reason>".
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
I="$R/instances"
me=$(id -un)

say "quota: five lines \"<name> <used> <limit>\", the defaults (the seeds', instances 20)"
assert_eq $'private-images 0 5\nsnapshots 0 15\nshared-images 0 5\nshares-per-image 0 5\ninstances 0 20' "$(cat "$R/quota")" "quota"
assert_eq "$(cat "$R/quota" | wc -c)" "$(stat -c %s "$R/quota")" "stat size of quota"

say "private-images counts every image in private/: 1..5"
for i in 1 2 3 4 5; do
    mkdir "$P/x$i"
    assert_eq "$i 5" "$(quota_line "$R" private-images)" "private-images after mkdir x$i"
done
say "the sixth: EDQUOT, a log line, nothing created"
assert_errno EDQUOT mkdir "$P/x6"
assert_logged mkdir "$P/x6" EDQUOT
assert_errno ENOENT stat "$P/x6"
assert_eq "5 5" "$(quota_line "$R" private-images)" "private-images after EDQUOT"
say "instances are not limited by private-images"
mkdir "$I/vm-quota"
rmdir "$I/vm-quota"
say "imgfs admin quota set $me cn-north-1 private-images 6: the sixth works, the seventh does not"
imgfs_admin "$S" quota set "$me" cn-north-1 private-images 6
assert_eq "5 6" "$(quota_line "$R" private-images)" "quota after the admin raised it"
assert_errno OK mkdir "$P/x6"
assert_errno EDQUOT mkdir "$P/x7"
say "the limit survives a remount; the other quotas are untouched"
remount_imgfs "$S" "$M"
assert_eq "6 6" "$(quota_line "$R" private-images)" "private-images after remount"
assert_eq "0 15" "$(quota_line "$R" snapshots)" "snapshots after remount"
for i in 1 2 3 4 5 6; do rmdir "$P/x$i"; done
imgfs_admin "$S" quota set "$me" cn-north-1 private-images 40

# name_rules DIR KIND: the §10 rules for mkdir in DIR (private/ or instances/).
name_rules() {
    local d=$1 kind=$2 n32 name
    n32=$(printf 'n%.0s' {1..32})
    say "$kind names: 32 characters ok, 33 EINVAL"
    assert_errno OK mkdir "$d/$n32"
    assert_errno EINVAL mkdir "$d/${n32}x"
    assert_logged mkdir "$d/${n32}x" EINVAL
    assert_errno OK mkdir "$d/a"
    say "$kind names: space, tab, newline, DEL, '/'-free punctuation, leading . or -: EINVAL"
    for name in "with space" $'a\tb' $'a\nb' $'a\x7fb' $'a\x01b' "a:b" "a@b" "a+b" "a,b" "a*b" \
        ".dot" "-dash" "a~" $'bad\xffutf8'; do
        assert_errno EINVAL mkdir "$d/$name"
    done
    assert_logged mkdir "$d/-dash" EINVAL
    say "$kind names: 256 bytes ENAMETOOLONG"
    assert_errno ENAMETOOLONG mkdir "$d/$(printf 'b%.0s' {1..256})"
    say "$kind names: . _ - inside, Unicode letters accepted and listed byte-exact"
    for name in "v1.2_x-y" "映像-1" "Ωmega_2" "café" "$(printf '镜%.0s' {1..32})"; do
        assert_errno OK mkdir "$d/$name"
        python3 -c 'import os, sys; sys.exit(0 if os.fsencode(sys.argv[2]) in os.listdir(os.fsencode(sys.argv[1])) else 1)' \
            "$d" "$name" || { ls "$d" | od -c | head >&2; fail "readdir of $d does not return the bytes of $name"; }
        [[ -d "$d/$name" ]] || fail "$d/$name is not a directory"
    done
    assert_errno EINVAL mkdir "$d/$(printf '镜%.0s' {1..33})"
    assert_errno EEXIST mkdir "$d/café"   # (the kernel answers this one itself: no log line)
}

name_rules "$P" image
# The log admits 20 refusals of one (uid, operation) at once and one a
# second after that (LOG_BURST, LOG_RATE in fs/fuse/log.c): the image names
# spent 17 of them, and the instance names need 13 before "-dash" is
# checked.  A remount starts a daemon with a full bucket.
remount_imgfs "$S" "$M"
name_rules "$I" instance

say "the names stay byte-exact across a remount"
(cd "$P" && ls -1) | LC_ALL=C sort >"$T/p1"
(cd "$I" && ls -1) | LC_ALL=C sort >"$T/i1"
remount_imgfs "$S" "$M"
(cd "$P" && ls -1) | LC_ALL=C sort >"$T/p2"
(cd "$I" && ls -1) | LC_ALL=C sort >"$T/i2"
assert_file_eq "$T/p1" "$T/p2" "private/ across a remount"
assert_file_eq "$T/i1" "$T/i2" "instances/ across a remount"
assert_eq 7 "$(wc -l <"$T/i2")" "instances listed"

say "a Unicode instance created from an image: listed byte-exact in the image's instances file"
echo public/centos-7.4 >"$I/映像-1/image"
grep -qxF "映像-1" "$R/public/centos-7.4/instances" || fail "public/centos-7.4/instances does not list 映像-1"
grep -q ",映像-1,private," "$R/images.csv" || fail "images.csv has no row for private/映像-1"

say "renames follow the same rules: EINVAL for a bad name, EEXIST for a taken one"
assert_errno EINVAL rename "$P/a" "$P/bad name"
assert_errno EINVAL rename "$P/a" "$P/.a"
assert_errno ENAMETOOLONG rename "$P/a" "$P/$(printf 'c%.0s' {1..256})"
assert_errno EEXIST rename "$P/a" "$P/café"
assert_errno OK rename "$P/a" "$P/Ωmega_3"
assert_logged rename "$P/a" EEXIST

say "instances: a quota like images' — counted, EDQUOT with the reason past it, rmdir gives one back"
assert_eq "7 20" "$(quota_line "$R" instances)" "instances quota after the names"
imgfs_admin "$S" quota set "$me" cn-north-1 instances 8
assert_errno OK mkdir "$I/v8"
assert_eq "8 8" "$(quota_line "$R" instances)" "instances quota at its limit"
assert_errno EDQUOT mkdir "$I/v9"
assert_logged mkdir "$I/v9" EDQUOT
grep -qF "mkdir ${I#"$M"}/v9: EDQUOT quota instances is 8 of 8" "$S/imgfs.log" ||
    fail "the refusal's reason is not \"quota instances is 8 of 8\": $(tail -n 3 "$S/imgfs.log")"
[[ ! -e "$I/v9" ]] || fail "the refused mkdir left $I/v9"
assert_eq "8 8" "$(quota_line "$R" instances)" "instances quota after the refusal"
assert_errno OK mkdir "$M/regions/cn-east-2/instances/v9"   # per region
assert_eq "1 20" "$(quota_line "$M/regions/cn-east-2" instances)" "cn-east-2's instances quota"
rmdir "$I/v8"
assert_errno OK mkdir "$I/v9"
assert_eq "8 8" "$(quota_line "$R" instances)" "instances quota after rmdir and mkdir"

#!/usr/bin/env bash
# SPEC §1, §8 (issue 24): what operators asked for, on a mounted state.
# `quota show ACCOUNT [REGION]` prints what the mount's quota files say;
# `account remove` is refused with EBUSY (nothing changed) while the
# account owns an image, and otherwise takes its quotas with it;
# `unpublish` is refused with EBUSY while an instance was made from the
# image, and otherwise removes it from the mount at once; `gc --dry-run`
# counts, per region, exactly the chunks and bytes the next gc removes
# (the unpublished images' own chunks), removes none, and follows gc's
# grace and --force rules.  Refusals: exit 1 and one line, usage errors 2.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
me=$(id -un)
KEYS=(private-images snapshots shared-images shares-per-image instances)

# refused WANT_RC WANT_LINE ARGS...: imgfs admin ARGS exits WANT_RC and its
# first stderr line matches WANT_LINE (a regex).
refused() {
    local want=$1 line=$2 rc=0
    shift 2
    imgfs_admin "$S" "$@" >"$T/refused.out" 2>&1 || rc=$?
    assert_eq "$want" "$rc" "exit status of imgfs admin $*"
    assert_match "$line" "$(head -n1 "$T/refused.out")" "imgfs admin $*"
}

say "quota show ACCOUNT REGION: each quota's used and limit, as the mount's quota file says"
imgfs_admin "$S" quota set "$me" cn-north-1 snapshots 21
mkdir "$R/private/img1"
want=""
for k in "${KEYS[@]}"; do want+="cn-north-1 $k $(quota_line "$R" "$k")"$'\n'; done
assert_eq "${want%$'\n'}" "$(imgfs_admin "$S" quota show "$me" cn-north-1)" "quota show $me cn-north-1"
assert_eq "cn-north-1 private-images 1 5" "$(imgfs_admin "$S" quota show "$me" cn-north-1 | head -n1)" \
    "private-images after mkdir private/img1"
imgfs_admin "$S" quota show "$me" >"$T/quotas"
assert_eq 15 "$(wc -l <"$T/quotas")" "lines of quota show $me (3 regions, 5 quotas)"
assert_eq "cn-east-2 snapshots 0 15" "$(grep '^cn-east-2 snapshots ' "$T/quotas")" "cn-east-2's snapshots"
assert_eq "cn-north-1 snapshots 0 21" "$(grep '^cn-north-1 snapshots ' "$T/quotas")" "cn-north-1's snapshots"
refused 1 '^imgfs admin: nobody: ENOENT .*' quota show nobody
refused 1 '^imgfs admin: xx-nowhere-1: ENOENT .*' quota show "$me" xx-nowhere-1
refused 2 '^imgfs admin: .*quota show ACCOUNT.*' quota show

say "account remove: EBUSY while it owns an image; else gone with its quotas"
imgfs_admin "$S" account add bob
imgfs_admin "$S" quota set bob cn-north-1 snapshots 3
imgfs_admin "$S" account remove bob
imgfs_admin "$S" account list | grep -q '^bob ' && fail "bob is still listed after account remove"
imgfs_admin "$S" account add bob
assert_eq "cn-north-1 snapshots 0 15" "$(imgfs_admin "$S" quota show bob cn-north-1 | grep snapshots)" \
    "a new bob's snapshots quota (the old one's row went with it)"
refused 1 "^imgfs admin: $me: EBUSY account $me owns 1 images .*" account remove "$me"
imgfs_admin "$S" account list | grep -q "^$me " || fail "a refused account remove removed $me"
assert_eq "cn-north-1 snapshots 0 21" "$(imgfs_admin "$S" quota show "$me" cn-north-1 | grep snapshots)" \
    "$me's quota after the refused remove"
refused 1 '^imgfs admin: nobody: ENOENT no account nobody$' account remove nobody

say "publish a 3 MiB disk of random data: 3 new chunks"
CH="$S/regions/cn-north-1/chunks"
find "$CH" -type f | sort >"$T/chunks.before"
head -c $((3 << 20)) /dev/urandom >"$T/disk.raw"
printf '\x55\xaa' | dd of="$T/disk.raw" bs=1 seek=510 conv=notrunc status=none # an MBR
imgfs_admin "$S" publish public cn-north-1 todrop "$T/disk.raw"
find "$CH" -type f | sort >"$T/chunks.after"
comm -13 "$T/chunks.before" "$T/chunks.after" >"$T/chunks.new"
assert_eq 3 "$(wc -l <"$T/chunks.new")" "new chunk files"
bytes=$(xargs stat -c %s <"$T/chunks.new" | awk '{ s += $1 } END { print s }')
newest=$(xargs stat -c %Y <"$T/chunks.new" | sort -n | tail -n1)
wait_for 20 test -d "$R/public/todrop" || fail "public/todrop did not appear"

say "unpublish: EBUSY while an instance was made from it; then gone from the mount"
mkdir "$R/instances/vm1"
echo public/todrop >"$R/instances/vm1/image" || fail "rebuild of vm1 from public/todrop refused"
refused 1 '^imgfs admin: todrop: EBUSY .*instance.*' unpublish public cn-north-1 todrop
[[ -d "$R/public/todrop" ]] || fail "a refused unpublish removed public/todrop"
rmdir "$R/instances/vm1"
refused 1 '^imgfs admin: nosuch: ENOENT .*' unpublish public cn-north-1 nosuch
refused 1 '^imgfs admin: xx-nowhere-1: ENOENT .*' unpublish public xx-nowhere-1 todrop
refused 2 '^imgfs admin: unpublish from public or marketplace$' unpublish private cn-north-1 img1
imgfs_admin "$S" unpublish public cn-north-1 todrop
wait_for 20 bash -c "! ls '$R/public' | grep -qx todrop" || fail "public/todrop still listed after unpublish"
# The listing and the name are two caches of the kernel's, each dropped
# when the mount's watcher sees the change (an admin command is another
# process): the name may lag the listing by one of the watcher's rounds.
wait_for 20 bash -c "[[ ! -e '$R/public/todrop' ]]" || fail "public/todrop still there after unpublish"
market=$(ls "$M/regions/cn-east-2/marketplace" | head -n1)
[[ -n $market ]] || fail "cn-east-2 has no marketplace image"
imgfs_admin "$S" unpublish marketplace cn-east-2 "$market"
wait_for 20 bash -c "! ls '$M/regions/cn-east-2/marketplace' | grep -qxF '$market'" ||
    fail "marketplace/$market still listed in cn-east-2 after unpublish"

say "gc --dry-run: what gc would remove, per region, nothing removed; the grace and --force rules"
refused 1 '^imgfs admin: gc: EINVAL a grace of 0s is shorter than the host lease .*' gc --dry-run --grace 0
out=$(imgfs_admin "$S" gc --dry-run)
assert_eq "cn-north-1: would remove 0 chunks (0 bytes)" "$(grep '^cn-north-1:' <<<"$out")" \
    "gc --dry-run with the default grace (the chunks are younger than an hour)"
# A grace of 0 keeps what was written in the current second.
wait_for 5 bash -c "(( \$(date +%s) > $newest ))" || fail "the clock did not pass $newest"
imgfs_admin "$S" gc --dry-run --grace 0 --force >"$T/plan"
sed 's/^/    /' "$T/plan"
assert_eq "cn-north-1: would remove 3 chunks ($bytes bytes)" "$(grep '^cn-north-1:' "$T/plan")" \
    "gc --dry-run --grace 0 in cn-north-1 (the unpublished image's chunks)"
east=$(sed -n 's/^cn-east-2: would remove \([0-9]*\) chunks .*/\1/p' "$T/plan")
((east > 0)) || fail "gc --dry-run counts nothing of the unpublished marketplace/$market in cn-east-2"
assert_eq "cn-south-1: would remove 0 chunks (0 bytes)" "$(grep '^cn-south-1:' "$T/plan")" "cn-south-1"
total=$((3 + east))
assert_match "would remove $total chunks \\([0-9]+ bytes\\) in all; nothing removed" "$(tail -n1 "$T/plan")" \
    "gc --dry-run's last line"
find "$CH" -type f | sort >"$T/chunks.dry"
assert_file_eq "$T/chunks.after" "$T/chunks.dry"
assert_eq "removed $total chunks" "$(imgfs_admin "$S" gc --grace 0 --force | tail -n1)" "gc after the dry run"
find "$CH" -type f | sort >"$T/chunks.gc"
assert_file_eq "$T/chunks.before" "$T/chunks.gc"
assert_eq "would remove 0 chunks (0 bytes) in all; nothing removed" \
    "$(imgfs_admin "$S" gc --dry-run --grace 0 --force | tail -n1)" "gc --dry-run after gc"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck after unpublish and gc"; }
[[ -d "$R/public/centos-7.4" ]] || fail "public/centos-7.4 is gone"
exit 0

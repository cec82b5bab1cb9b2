#!/usr/bin/env bash
# SPEC §15, §8: /stats shows every tenant's activity (requests and errors of
# every caller, every account's tasks and images), so in a multi-user mount
# it is the administrator's: root and the mounting user read it; a caller
# with an account (alice, uid 2201) and one without (uid 2202) get EACCES
# at open (cat, and access(2) says so too), with a log line naming the
# reason; its mode is 0400 and its owner the mounting user.  -o stats=all
# gives it back to every caller (mode 0444); a value other than all or
# admin is a usage error (exit 2), refused before anything is created.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
[[ $(id -u) == 0 ]] || fail "this test runs as root (it switches to other uids)"
SYS_PY=/usr/bin/python3 # other uids may not reach root's own Python
[[ -x $SYS_PY ]] || fail "$SYS_PY is needed"
chmod 755 "$T" # the other uids walk to the mount point
cp "$ERRNO_PY" "$T/errno-as.py"
chmod 755 "$T/errno-as.py"
as() { local uid=$1; shift; setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }
# errno_as UID OP ARGS...: the errno name errno.py hit as uid UID.
errno_as() { local uid=$1; shift; as "$uid" "$SYS_PY" "$T/errno-as.py" "$@"; }

setup_mount allow_other,multiuser
imgfs_admin "$S" account add alice --uid 2201
as 2201 ls "$R/public" >/dev/null # some activity of alice's, counted in /stats

say "multiuser: root reads /stats; mode 0400, owned by the mounting user"
assert_match '.*imgfs_requests_total\{op="lookup"\} [1-9].*' "$(cat "$M/stats")" "/stats read by root"
assert_eq "400 0 0" "$(stat -c '%a %u %g' "$M/stats")" "mode and owner of /stats as root sees them"
assert_eq "400 0 0" "$(as 2201 stat -c '%a %u %g' "$M/stats")" "mode and owner of /stats as alice sees them"
assert_eq 0 "$(as 2201 stat -c '%s' "$M/stats")" "the size alice sees"

say "alice (an account) and uid 2202 (none): EACCES at open, and from access(2); a log line each"
assert_eq EACCES "$(errno_as 2201 read "$M/stats")" "alice reading /stats"
assert_eq EACCES "$(errno_as 2202 read "$M/stats")" "uid 2202 reading /stats"
as 2201 test -r "$M/stats" && fail "access(R_OK) of /stats succeeds for alice"
as 2201 cat "$M/stats" >/dev/null 2>&1 && fail "cat /stats succeeds for alice"
assert_logged open "$M/stats" EACCES
for uid in 2201 2202; do
    grep -q "imgfs: open /stats: EACCES /stats shows every account's activity: .*, uid $uid may not" "$S/imgfs.log" ||
        fail "no log line for uid $uid's refusal: $(grep 'open /stats' "$S/imgfs.log")"
done
n=$(stat_of "$M" imgfs_request_errors_by_errno_total 'op="open",errno="EACCES"')
((n >= 3)) || fail "open errors by EACCES in /stats: $n, not the 3 opens refused"

say "-o stats=all: every caller reads it, mode 0444"
remount_imgfs "$S" "$M" allow_other,multiuser,stats=all
assert_eq OK "$(errno_as 2201 read "$M/stats")" "alice reading /stats with stats=all"
assert_eq OK "$(errno_as 2202 read "$M/stats")" "uid 2202 reading /stats with stats=all"
assert_eq 444 "$(as 2202 stat -c '%a' "$M/stats")" "mode of /stats with stats=all"
assert_match '.*imgfs_requests_total\{op="open"\} [1-9].*' "$(as 2201 cat "$M/stats")" "/stats read by alice"

say "-o stats=bogus: a usage error, nothing created"
mkdir "$T/m0"
rc=0; out=$("$IMGFS" -o "state=$T/s0,allow_other,multiuser,stats=bogus" "$T/m0" 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of -o stats=bogus: $out"
assert_match 'imgfs: stats=bogus: admin .* or all' "$out" "the reason"
[[ ! -e "$T/s0" ]] || fail "a refused mount created $T/s0"

#!/usr/bin/env bash
# SPEC §8, §9: what a receiver sees in shared/<img>@<owner>/ is the image
# as shared: `error` empty unless the image itself is in error (not the
# owner's refused convert naming another image, not a failed share naming
# an account), `source` only its kind (not the owner's instance id), `task`
# empty (not the owner's queue).  Two uids (setpriv) on one multi-user
# mount; the owner's private/<img> and the receiver's shared/<img>@<owner>
# are separate directories to the kernel, so neither's lookups move the
# other's working directory.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

other_uids

setup_mount allow_other,multiuser
imgfs_admin "$S" account add alice --uid 2001
imgfs_admin "$S" account add bob --uid 2002
alice() { as 2001 "$@"; }
bob() { as 2002 "$@"; }
P="$R/private"
I="$R/instances"
G="$R/shared/golden@alice"

say "alice: golden captured from her instance a-vm, shared with bob; a queued image secret-plan"
alice mkdir "$I/a-vm"
alice sh -c "echo public/centos-7.4 > '$I/a-vm/image'"
alice mkdir "$P/golden"
alice sh -c "echo 'instance a-vm' > '$P/golden/source'"
alice timeout 300 "$T/imgfs-as" wait "$P/golden" >"$T/wait.out" 2>&1 || { cat "$T/wait.out"; fail "imgfs wait golden"; }
vmid=$(alice cat "$I/a-vm/id")
alice mkdir "$P/golden/shares/bob" "$P/secret-plan"
assert_eq "instance $vmid" "$(alice cat "$P/golden/source")" "alice's golden/source"

say "alice's refusals on golden: a convert onto secret-plan, a share with nobody"
errno_as 2001 EEXIST write "$P/golden/convert" secret-plan
assert_match '.*secret-plan.*' "$(alice cat "$P/golden/error")" "alice's golden/error"
errno_as 2001 ENOENT mkdir "$P/golden/shares/nobody"
assert_match '.*nobody.*' "$(alice cat "$P/golden/error")" "alice's golden/error"

say "bob's shared/golden@alice: error empty, source 'instance', no owner's time on error"
assert_eq "" "$(bob cat "$G/error")" "bob's error"
assert_eq 0 "$(bob stat -c %s "$G/error")" "size of bob's error"
assert_eq "instance" "$(bob cat "$G/source")" "bob's source"
assert_eq "$(bob stat -c %Y "$G/status")" "$(bob stat -c %Y "$G/error")" "mtime of bob's error (the image's)"
bob grep -rq "$vmid" "$G" --exclude-dir=disks 2>/dev/null && fail "bob's view of golden names alice's instance $vmid"
bob grep -rqE "secret-plan|nobody" "$G" --exclude-dir=disks 2>/dev/null && fail "bob's view of golden names alice's refusals"

say "a task of alice's on golden (workers off: it stays queued): bob's task is empty"
remount_imgfs "$S" "$M" allow_other,multiuser,workers=0
alice sh -c "echo gold-cloud > '$P/golden/convert'"
assert_match $'op convert\nstate queued\n.*' "$(alice cat "$P/golden/task")" "alice's golden/task"
assert_eq "" "$(bob cat "$G/task")" "bob's task"
assert_eq 0 "$(bob stat -c %s "$G/task")" "size of bob's task"

say "bob sits in shared/golden@alice: alice's lookups of private/golden do not move him there"
mkdir -p "$T/ready"
chmod 777 "$T/ready"
setpriv --reuid=2002 --regid=2002 --clear-groups "$SYS_PY" -c '
import os, sys, time
os.chdir(sys.argv[1])
open(sys.argv[2], "w").close()
time.sleep(600)' "$G" "$T/ready/bob" >/dev/null 2>&1 &
holder=$!
# It keeps the mount busy: gone before lib.sh's cleanup unmounts.
trap 'rc=$?; set +e; kill $holder 2>/dev/null || true; wait $holder 2>/dev/null || true; (exit $rc); _cleanup' EXIT
wait_for 20 test -e "$T/ready/bob" || fail "bob's holder did not start"
alice cat "$P/golden/id" >/dev/null
alice ls "$P/golden" >/dev/null
assert_eq "$G" "$(readlink "/proc/$holder/cwd")" "bob's working directory after alice's lookups"
assert_eq "$(alice cat "$P/golden/id")" "$(bob cat "/proc/$holder/cwd/id")" "golden's id through bob's directory"
assert_eq "" "$(bob cat "/proc/$holder/cwd/error")" "bob's error through his directory"
kill "$holder"; wait "$holder" 2>/dev/null || true

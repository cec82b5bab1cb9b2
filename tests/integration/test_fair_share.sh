#!/usr/bin/env bash
# SPEC §5.2, §8: fair share.  Two accounts on one multi-user mount with 4
# task workers; alice imports three images from a server that sends 2
# bytes a second.  Two of her imports run and the third waits (two per
# account), and they leave a worker free: bob's capture completes while
# alice's imports still run.  The admin's rate floor (`imgfs admin import
# floor`) then ends a dribbling import in error with the rate.
# Then time slices and turns (issue 23), on a mount with 2 workers (one
# import slot) and a server sending 100 KB/s, above the floor: with a slice
# of 2 s (`imgfs admin import slice`), bob's small import completes within
# 60 s while alice's three still upload — her running one gave its worker
# back (a log line) and resumes with a Range, before her other two; with
# no slices, bob's next import waits behind hers until she cancels it, and
# then starts before her second and third (round robin: the account served
# longest ago first).  Last (issue 36), a server that ignores Range at the
# same pace: alice's import from it cannot yield, gets one slice more once
# bob's import waits (a log line), then ends in error with the reason, and
# bob's import completes.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
[[ $(id -u) == 0 ]] || fail "this test runs as root (it switches to other uids)"
SERVE="$INTEGRATION_DIR/../servers/serve.py"
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
chmod 755 "$T"
cp "$IMGFS" "$T/imgfs-as"
chmod 755 "$T/imgfs-as"

mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/disk.raw"
/usr/bin/python3 "$SERVE" dribble "$T/www" >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
at_exit "kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true"
wait_for 30 grep -q '^PORT ' "$T/serve.out" || fail "the dribbling server did not start"
URL="http://127.0.0.1:$(awk '$1 == "PORT" { print $2 }' "$T/serve.out")/disk.raw"

setup_mount allow_other,multiuser,workers=4
imgfs_admin "$S" account add alice --uid 2101
imgfs_admin "$S" account add bob --uid 2102
imgfs_admin "$S" import allow 127.0.0.1
as() { local uid=$1; shift; setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }
alice() { as 2101 "$@"; }
bob() { as 2102 "$@"; }
P="$R/private"
I="$R/instances"

say "alice: three imports from a server that sends 2 bytes a second"
for i in 1 2 3; do
    alice mkdir "$P/slow$i"
    alice sh -c "echo 'url $URL' > '$P/slow$i/source'"
done
running() { # how many of alice's imports have received a byte or more
    local n=0 i
    for i in 1 2 3; do [[ "$(alice cat "$P/slow$i/task")" == *"bytes-done "[1-9]* ]] && n=$((n + 1)); done
    echo "$n"
}
for ((w = 0; w < 300; w++)); do (($(running) >= 2)) && break; sleep 0.1; done
(($(running) >= 2)) || fail "two of alice's imports did not start"
sleep 3
assert_eq 2 "$(running)" "alice's imports receiving bytes (two per account)"
assert_match '.*state queued.*' "$(alice cat "$P/slow3/task" | paste -sd ' ')" "alice's third import waits"

say "bob's capture completes while alice's imports run"
bob mkdir "$I/b-vm"
bob sh -c "echo public/centos-7.4 > '$I/b-vm/image'"
bob mkdir "$P/bobs"
bob sh -c "echo 'instance b-vm' > '$P/bobs/source'"
bob timeout 120 "$T/imgfs-as" wait "$P/bobs" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait bobs"; }
assert_eq available "$(bob cat "$P/bobs/status")" "bob's capture"
for i in 1 2 3; do assert_eq uploading "$(alice cat "$P/slow$i/status")" "alice's slow$i after bob's capture"; done

say "the rate floor ends a dribbling import in error with the rate"
for i in 1 2 3; do alice sh -c "echo 1 > '$P/slow$i/cancel'"; done
imgfs_admin "$S" import floor 1000 2
assert_eq "1000 2" "$(imgfs_admin "$S" import floor)" "import floor"
assert_fails imgfs_admin "$S" import floor 1000 0
alice mkdir "$P/floored"
alice sh -c "echo 'url $URL' > '$P/floored/source'"
alice timeout 60 "$T/imgfs-as" wait "$P/floored" >/dev/null 2>&1 || true
assert_eq error "$(alice cat "$P/floored/status")" "the floored import"
assert_match '^import failed: slower than the floor of 1000 bytes/s: [0-9]+ bytes in 2 s$' "$(alice cat "$P/floored/error")" \
    "the floored import's reason"

# ---- time slices and turns (issue 23): one import slot, a server above the floor ----

say "workers=2 (one import slot: the other worker stays free for other kinds), slice 2 s, a server sending 100 KB/s"
S2="$T/state2" M2="$T/mnt2"
mount_imgfs "$S2" "$M2" allow_other,multiuser,workers=2
imgfs_admin "$S2" account add alice --uid 2101
imgfs_admin "$S2" account add bob --uid 2102
imgfs_admin "$S2" import allow 127.0.0.1
imgfs_admin "$S2" import slice 2
assert_eq 2 "$(imgfs_admin "$S2" import slice)" "import slice"
assert_fails imgfs_admin "$S2" import slice -1
mkdir -p "$T/www2"
for f in a1 a2 a3 b2; do truncate -s 16M "$T/www2/$f.raw"; done # 160 s each at 100 KB/s
python3 - "$T/www2/b1.raw" <<'PY'
import sys
mbr = bytearray(65536)  # a small raw disk with an MBR: an import that completes
mbr[0:2] = b"\xeb\x63"
mbr[510:512] = b"\x55\xaa"
open(sys.argv[1], "wb").write(mbr)
PY
SERVE_VERBOSE=1 /usr/bin/python3 "$SERVE" trickle "$T/www2" >"$T/trickle.out" 2>"$T/trickle.log" &
TRICKLE=$!
at_exit "kill $TRICKLE 2>/dev/null; wait $TRICKLE 2>/dev/null || true"
wait_for 30 grep -q '^PORT ' "$T/trickle.out" || fail "the trickling server did not start"
U2="http://127.0.0.1:$(awk '$1 == "PORT" { print $2 }' "$T/trickle.out")"
P2="$M2/regions/cn-north-1/private"
# state_of IMG: the state line of its task (running, queued), "" when none.
state_of() { as "$1" awk '$1 == "state" { print $2 }' "$P2/$2/task"; }
bytes_of() { as "$1" awk '$1 == "bytes-done" { print $2 }' "$P2/$2/task"; }
# alice_running: the one of alice's imports that runs.
alice_running() { local i; for i in a1 a2 a3; do [[ "$(state_of 2101 "$i")" == running ]] && echo "$i"; done; }
receiving() { local n; n=$(bytes_of 2101 "$1"); [[ -n "$n" ]] && ((n > ${2:-0})); }

say "alice: three imports (one runs, two wait); bob's small import starts within 60 s and completes while alice's run"
for i in a1 a2 a3; do
    alice mkdir "$P2/$i"
    alice sh -c "echo 'url $U2/$i.raw' > '$P2/$i/source'"
done
wait_for 30 receiving a1 || fail "alice's first import did not start: $(alice cat "$P2/a1/task")"
assert_eq "queued queued" "$(state_of 2101 a2) $(state_of 2101 a3)" "alice's second and third imports"
bob mkdir "$P2/b1"
bob sh -c "echo 'url $U2/b1.raw' > '$P2/b1/source'"
done_b1() { [[ "$(bob cat "$P2/b1/status")" == available ]]; }
wait_until 60 done_b1 || fail "bob's import did not complete within 60 s: $(bob cat "$P2/b1/status") $(bob cat "$P2/b1/task" | paste -sd ' ')"
for i in a1 a2 a3; do assert_eq uploading "$(alice cat "$P2/$i/status")" "alice's $i once bob's import is available"; done
grep -q "import of image img-[0-9a-f]* (a1) gives its worker to another account's task after [0-9]* s; it resumes from byte [1-9]" \
    "$S2/imgfs.log" || fail "no log line of a1 giving its worker back: $(grep -i import "$S2/imgfs.log" | tail -5)"

say "alice's a1 resumes where it stopped, with a Range (a 206 from the server), before her a2 and a3"
resumed() { grep -q '"GET /a1.raw HTTP/1.1" 206' "$T/trickle.log"; }
wait_for 30 resumed || fail "a1 was not resumed with a range: $(grep 'GET /a' "$T/trickle.log")"
wait_eq 30 a1 alice_running || fail "alice's running import: $(alice_running), not a1"
assert_eq "queued queued" "$(state_of 2101 a2) $(state_of 2101 a3)" "alice's a2 and a3 while a1 runs again"
grep -q '"GET /a[23].raw' "$T/trickle.log" && fail "a2 or a3 was fetched before a1 was done"

say "no slices (slice 0): bob's next import waits behind a1; cancelling a1 starts bob's, not alice's a2 or a3"
imgfs_admin "$S2" import slice 0
bob mkdir "$P2/b2"
bob sh -c "echo 'url $U2/b2.raw' > '$P2/b2/source'"
at=$(bytes_of 2101 a1)
wait_for 30 receiving a1 $((at + 300000)) || fail "a1 stopped receiving"  # 3 s of a1's bytes go by
assert_eq queued "$(state_of 2102 b2)" "bob's b2 while a1 runs (no slices)"
alice sh -c "echo 1 > '$P2/a1/cancel'"
started_b2() { [[ "$(state_of 2102 b2)" == running ]]; }
wait_for 30 started_b2 || fail "bob's b2 did not start after a1 was cancelled: $(bob cat "$P2/b2/task" | paste -sd ' ')"
assert_eq "queued queued" "$(state_of 2101 a2) $(state_of 2101 a3)" "alice's a2 and a3 once bob's b2 runs"
for i in a2 a3; do alice sh -c "echo 1 > '$P2/$i/cancel'"; done
bob sh -c "echo 1 > '$P2/b2/cancel'"

say "a server that cannot resume (ranges ignored): alice's import from it keeps the slot one slice past bob's wait, then ends in error"
# Issue 36: before, an import that could not yield held the import slot
# for as long as its server dribbled above the floor (160 s here), and
# bob's import waited behind it.
imgfs_admin "$S2" import slice 2
no_task() { [[ -z "$(state_of "$1" "$2")" ]]; }
for i in a2 a3; do wait_for 30 no_task 2101 "$i" || fail "alice's $i still has a task"; done
wait_for 30 no_task 2102 b2 || fail "bob's b2 still has a task"
/usr/bin/python3 "$SERVE" stubborn "$T/www2" >"$T/stubborn.out" 2>"$T/stubborn.err" &
STUBBORN=$!
at_exit "kill $STUBBORN 2>/dev/null; wait $STUBBORN 2>/dev/null || true"
wait_for 30 grep -q '^PORT ' "$T/stubborn.out" || fail "the stubborn server did not start"
U3="http://127.0.0.1:$(awk '$1 == "PORT" { print $2 }' "$T/stubborn.out")"
alice mkdir "$P2/s1"
alice sh -c "echo 'url $U3/a1.raw' > '$P2/s1/source'"
wait_for 30 receiving s1 || fail "alice's import from the stubborn server did not start: $(alice cat "$P2/s1/task")"
bob mkdir "$P2/b3"
bob sh -c "echo 'url $U2/b1.raw' > '$P2/b3/source'"
done_b3() { [[ "$(bob cat "$P2/b3/status")" == available ]]; }
wait_until 60 done_b3 || fail "bob's import did not complete within 60 s: $(bob cat "$P2/b3/status") $(bob cat "$P2/b3/task" | paste -sd ' ')"
assert_eq error "$(alice cat "$P2/s1/status")" "alice's import from the stubborn server"
assert_match "^import failed: another account's task waited [0-9]+ s for its worker, and the server cannot resume \(no ranges of a named version\): .*" \
    "$(alice cat "$P2/s1/error")" "its reason"
grep -q "import of image img-[0-9a-f]* (s1) cannot give its worker to another account's task" "$S2/imgfs.log" ||
    fail "no log line of s1's extra slice: $(grep -i import "$S2/imgfs.log" | tail -5)"

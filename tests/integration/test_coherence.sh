#!/usr/bin/env bash
# SPEC §1 (two processes may use one state directory at once), §2.1 ("every
# read sees the current value, and stat reports the true length"): two mounts
# of one state directory.  Each mount answers with long entry and attribute
# timeouts, so what one mount changes reaches the other's kernel caches only
# through the change log and the other mount's watcher (fs/fuse/watch.c).  Without
# them the second mount would show old sizes and names for a minute; here
# each change must show within a few seconds.  And a delete raced by the
# other mount's delete of the same image is never a destroy (issue 36).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
B="$T/mnt-b"
mount_imgfs "$S" "$B"
RB="$B/regions/cn-north-1"

# eventually DESCRIPTION CMD...: retries CMD for up to 5 s.
eventually() {
    local what=$1
    shift
    for ((i = 0; i < 50; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    fail "$what: still not true after 5 s"
}
size_is() { [[ "$(stat -c %s "$1")" == "$2" ]]; }
missing() { [[ "$(errno_of stat "$1")" == ENOENT ]]; }

say "an image made through mount A is seen by mount B"
mkdir "$R/private/shared-state"
eventually "B sees private/shared-state" test -d "$RB/private/shared-state"

say "B caches the description's size; A writes a longer one; B's stat follows and agrees with cat"
echo "short" >"$RB/private/shared-state/description"
assert_eq 6 "$(stat -c %s "$RB/private/shared-state/description")" "B: size of 'short\\n'"
long="a much longer description, written through the other mount"
echo "$long" >"$R/private/shared-state/description"
eventually "B's stat shows the new size" size_is "$RB/private/shared-state/description" "$(( ${#long} + 1 ))"
assert_eq "$long" "$(cat "$RB/private/shared-state/description")" "B reads the new value"
assert_eq "$(stat -c %s "$RB/private/shared-state/description")" \
    "$(wc -c <"$RB/private/shared-state/description")" "B: stat size = bytes read"

say "B caches a name; A renames the image; B loses the old name and finds the new one"
stat "$RB/private/shared-state/id" >/dev/null
id=$(cat "$RB/private/shared-state/id")
mv -T "$R/private/shared-state" "$R/private/renamed-state"
eventually "B: the old name is gone" missing "$RB/private/shared-state"
assert_eq "$id" "$(cat "$RB/private/renamed-state/id")" "B: the same image under its new name"

say "B caches an image; A removes it; B's name goes away"
mkdir "$R/private/short-lived"
eventually "B sees private/short-lived" test -d "$RB/private/short-lived"
stat "$RB/private/short-lived/status" >/dev/null
rmdir "$R/private/short-lived"
eventually "B: the removed image is gone" missing "$RB/private/short-lived"
eventually "B: the removed image is not listed" sh -c "! ls '$RB/private' | grep -qx short-lived"

say "quota: A's mkdir changes B's quota file; B's stat size always equals what it reads"
used_b() { awk '$1 == "private-images" { print $2 }' "$RB/quota"; }
before=$(used_b)
mkdir "$R/private/one-more"
eventually "B's quota counts the new image" test "$(used_b)" = "$((before + 1))"
assert_eq "$(stat -c %s "$RB/quota")" "$(wc -c <"$RB/quota")" "B: quota stat size = bytes read"

say "admin quota set while both are mounted: both show the new limit at once"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 12
assert_match '.*private-images [0-9]+ 12.*' "$(tr '\n' ' ' <"$R/quota")" "A: quota"
assert_match '.*private-images [0-9]+ 12.*' "$(tr '\n' ' ' <"$RB/quota")" "B: quota"
assert_eq "$(stat -c %s "$RB/quota")" "$(wc -c <"$RB/quota")" "B: quota stat size = bytes read"

say "A and B delete one image at once, 25 rounds: one rmdir goes, the other is ENOENT, the image is in the bin"
# An available image (a raw upload with an MBR), restored after each round.
python3 - "$T/small.raw" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(1 << 20)
    f.write(b"\xeb\x63" + bytes(508) + b"\x55\xaa")
PY
mkdir "$R/private/raced"
cp "$T/small.raw" "$R/private/raced/disks/vda"
imgfs_wait "$R/private/raced" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait private/raced"; }
assert_eq available "$(status_of "$R/private/raced")" "private/raced once uploaded"
raced_id=$(cat "$R/private/raced/id")
eventually "B sees private/raced" test -d "$RB/private/raced"
# Two threads, one per mount, let go together by a barrier; between rounds
# the image is restored and both mounts see it in private/ again (bounded
# waits).  Prints one line a round: both rmdirs' results and the status
# the bin shows.
python3 - "$R" "$RB" raced 25 >"$T/race.out" <<'PY' || { cat "$T/race.out" >&2; fail "the rmdir race"; }
import errno, os, sys, threading, time
ra, rb, name, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def wait(cond, what):
    deadline = time.monotonic() + 10
    while not cond():
        if time.monotonic() > deadline:
            sys.exit("%s: still not true after 10 s" % what)
        time.sleep(0.02)
def status(d):
    try:
        return open(os.path.join(d, "status")).read().strip()
    except OSError as e:
        return errno.errorcode[e.errno]
bad = 0
for r in range(rounds):
    barrier, res = threading.Barrier(2), {}
    def go(root):
        barrier.wait()
        try:
            os.rmdir(os.path.join(root, "private", name))
            res[root] = "OK"
        except OSError as e:
            res[root] = errno.errorcode[e.errno]
    ts = [threading.Thread(target=go, args=(root,)) for root in (ra, rb)]
    for t in ts: t.start()
    for t in ts: t.join()
    binned = status(os.path.join(ra, "recycle-bin", name))
    got = sorted(res.values())
    print("round %d: A %s, B %s, recycle-bin/%s %s" % (r, res[ra], res[rb], name, binned))
    if got != ["ENOENT", "OK"] or binned != "deleted":
        bad += 1
        break
    os.rename(os.path.join(ra, "recycle-bin", name), os.path.join(ra, "private", name))
    for root in (ra, rb):
        wait(lambda: status(os.path.join(root, "private", name)) == "available", root + ": private/raced back")
sys.exit(1 if bad else 0)
PY
assert_eq 25 "$(grep -c "OK.*recycle-bin/raced deleted" "$T/race.out")" "rounds with one delete and the image in the bin"
assert_eq "$raced_id" "$(cat "$R/private/raced/id")" "the raced image, restored after the last round"

echo "PASS"

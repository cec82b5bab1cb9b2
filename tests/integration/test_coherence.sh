#!/usr/bin/env bash
# SPEC §1 (two processes may use one state directory at once), §2.1 ("every
# read sees the current value, and stat reports the true length"): two mounts
# of one state directory.  Each mount answers with long entry and attribute
# timeouts, so what one mount changes reaches the other's kernel caches only
# through the change log and the other mount's watcher (fs/fuse/watch.c).  Without
# them the second mount would show old sizes and names for a minute; here
# each change must show within a few seconds.
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

echo "PASS"

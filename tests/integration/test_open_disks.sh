#!/usr/bin/env bash
# SPEC §2.4, §12: a change to one disk of an instance (truncate, attach,
# detach), made through this mount or another, leaves the other disks
# alone: their open files keep their paths (no "(deleted)" in
# /proc/PID/fd) and a bind mount on one stays.  The disk that was detached
# is the one whose name goes, in every mount.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
I="$R/instances"
M2="$T/mnt2"
mount_imgfs "$S" "$M2"
I2="$M2/regions/cn-north-1/instances"

# fd_path PID FD: where /proc says the process's descriptor points.
fd_path() { readlink "/proc/$1/fd/$2"; }

say "vm1 with vda, vdb, vdc; a process holds vda and vdb open in mount 1, vdc in mount 2"
mkdir "$I/vm1"
truncate -s 64M "$I/vm1/disks/vdb"
truncate -s 64M "$I/vm1/disks/vdc"
write_random "$I/vm1/disks/vdb" 0 1
exec 7<>"$I/vm1/disks/vda" 8<"$I/vm1/disks/vdb" 9<"$M2/regions/cn-north-1/instances/vm1/disks/vdc"
closefds() { exec 7>&- 8<&- 9<&-; }
BIND="$T/bound-vdb"
touch "$BIND"
mount --bind "$I/vm1/disks/vdb" "$BIND"
# The mounts are busy until these go: before lib.sh's cleanup.
trap 'rc=$?; set +e; closefds; umount "$BIND" 2>/dev/null || true; (exit $rc); _cleanup' EXIT
vdb_digest=$(sha256sum <"$BIND" | cut -d' ' -f1)

# still_there WHAT: vda and vdb (mount 1) still have their names, and the
# bind mount on vdb is still mounted, after WHAT, past the watchers' interval.
still_there() {
    sleep 1 # both watchers have read the change log
    assert_eq "$I/vm1/disks/vda" "$(fd_path $$ 7)" "the open vda after $1"
    assert_eq "$I/vm1/disks/vdb" "$(fd_path $$ 8)" "the open vdb after $1"
    grep -qF " $BIND " /proc/self/mountinfo || fail "the bind mount on vdb went away after $1"
    assert_eq "$vdb_digest" "$(sha256sum <"$BIND" | cut -d' ' -f1)" "vdb read through the bind mount after $1"
}

say "truncate vdc (mount 1): vda and vdb keep their names, the bind mount stays"
truncate -s 128M "$I/vm1/disks/vdc"
still_there "truncate vdc"
assert_eq "$M2/regions/cn-north-1/instances/vm1/disks/vdc" "$(fd_path $$ 9)" "the open vdc in mount 2 after its truncate"

say "attach vdd (mount 2), then write and truncate vda (mount 1)"
truncate -s 16M "$I2/vm1/disks/vdd"
still_there "attach vdd"
write_random "$I/vm1/disks/vda" 4 1
truncate -s 40G "$I/vm1/disks/vda"
still_there "a write to vda"

say "detach vdc (mount 1): exactly vdc's open file in mount 2 shows it deleted"
exec 9<&-
exec 9<"$I2/vm1/disks/vdc"
rm "$I/vm1/disks/vdc"
still_there "detach vdc"
deleted() { [[ "$(fd_path $$ 9)" == *" (deleted)" ]]; }
wait_for 5 deleted || fail "the open vdc in mount 2 is still $(fd_path $$ 9) 5 s after its detach"
assert_errno ENOENT stat "$I2/vm1/disks/vdc"
assert_eq "vda vdb vdd" "$(entries "$I2/vm1/disks")" "disks/ in mount 2 after the detach"

say "detach vdd (mount 2): vda and vdb in mount 1 keep their names"
rm "$I2/vm1/disks/vdd"
still_there "detach vdd"
assert_errno ENOENT stat "$I/vm1/disks/vdd"


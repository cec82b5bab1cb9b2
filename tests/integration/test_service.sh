#!/usr/bin/env bash
# SPEC §15 (running it as a service), through real kernel mounts:
#   - `imgfs --version` prints the git description of the checkout it was
#     built from;
#   - `imgfs STATE MOUNTPOINT` (the source as mount(8) passes it) mounts,
#     shown as "STATE on MNT type fuse.imgfs"; a source that differs from
#     -o state= is refused; a postgresql:// source mounts and shows in
#     /proc/mounts without its password;
#   - a mount point that is already mounted (imgfs, or a dead mount whose
#     statfs is ENOTCONN), missing, or a regular file is refused with one
#     line and exit 1, and nothing is created (no state directory); a
#     mount the kernel refuses removes the state directory it made;
#   - `fusermount3 -u` right after the mount returned succeeds, 20 times
#     in a row; the daemon keeps no descriptor its caller passed (a file
#     on 3, a FIFO on 7);
#   - `mount -t fuse.imgfs STATE MNT -o ...` (-o ro too) and `mount -T FSTAB MNT` (run
#     in a private mount namespace where the sh that mount.fuse3 starts
#     finds this imgfs: mount(8) drops PATH, so it is bound on
#     /usr/local/sbin, the first directory of sh's default PATH);
#   - under systemd (NOTIFY_SOCKET), READY=1 comes once the mount answers
#     and STOPPING=1 at the stop;
#   - SIGTERM and SIGINT unmount and exit 0; an import running at SIGTERM
#     goes back to the queue, does not move under a later -o ro mount, and
#     finishes on the next read-write mount with the server's bytes;
#   - SIGHUP after `mv imgfs.log imgfs.log.old` makes a new imgfs.log and
#     the mount keeps answering;
#   - -o ro: mkdir and writes to command files are EROFS, an expired
#     recycle-bin image stays, the metadata database is not written.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || fail "this test runs as root (mount(8), a private mount namespace)"
SRC_DIR=$(cd "$INTEGRATION_DIR/../.." && pwd)
SERVE="$INTEGRATION_DIR/../servers/serve.py"
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY

# track MNT STATE: the EXIT trap unmounts MNT (a mount made here without
# mount_imgfs) and waits for its daemon.
track() {
    _MOUNTS+=("$1")
    _MOUNT_STATE[$1]=$2
    _MOUNT_PID[$1]=$(_daemon_pid "$1")
}
# untrack MNT: forget a mount this test unmounted itself.
untrack() {
    local kept=() m
    for m in "${_MOUNTS[@]}"; do [[ "$m" == "$1" ]] || kept+=("$m"); done
    _MOUNTS=("${kept[@]+"${kept[@]}"}")
}
# source_type MNT: "SOURCE TYPE" of the mount on MNT in /proc/mounts.
source_type() { awk -v m="$1" '$2 == m { print $1, $3 }' /proc/mounts; }
# refused WHAT OUT RC: a refusal is exit 1 and one line naming the reason.
refused() {
    assert_eq 1 "$3" "exit status of imgfs ($1)"
    assert_eq 1 "$(printf '%s\n' "$2" | wc -l)" "lines printed ($1): $2"
}

say "imgfs --version: the build's git description"
v=$("$IMGFS" --version)
assert_match 'imgfs [^ ,]+, FUSE library 3\.[0-9.]+' "$v" "imgfs --version"
if want=$(git -C "$SRC_DIR" describe --always --dirty 2>/dev/null) && [[ $(readlink -f "$IMGFS") == "$SRC_DIR"/* ]]; then
    assert_eq "imgfs $want," "$(echo "$v" | cut -d' ' -f1-2)" "the version of a binary built in $SRC_DIR"
fi

S="$T/state" M="$T/mnt"
mkdir -p "$M"

say "imgfs STATE MOUNTPOINT: mounted, shown as STATE type fuse.imgfs"
"$IMGFS" "$S" "$M"
track "$M" "$S"
assert_eq "$S fuse.imgfs" "$(source_type "$M")" "/proc/mounts"
[[ -d "$M/regions/cn-north-1/private" ]] || fail "no regions/cn-north-1/private in the mount"
[[ -n ${_MOUNT_PID[$M]} ]] || fail "no daemon found for $M"

say "refused with one line, exit 1, nothing created: mounted, missing, a file, a source unlike -o state="
rc=0; out=$("$IMGFS" "$T/s-double" "$M" 2>&1) || rc=$?
refused "an imgfs mount point" "$out" "$rc"
assert_match "imgfs: mount point $M is already mounted \(fuse.imgfs\).*" "$out" "the reason"
[[ ! -e "$T/s-double" ]] || fail "a refused mount created $T/s-double"
rc=0; out=$("$IMGFS" "$T/s-missing" "$T/no/such/dir" 2>&1) || rc=$?
refused "a missing mount point" "$out" "$rc"
assert_eq "imgfs: mount point $T/no/such/dir does not exist" "$out" "the reason"
[[ ! -e "$T/s-missing" && ! -e "$T/no" ]] || fail "a refused mount created something"
touch "$T/file"
rc=0; out=$("$IMGFS" -o "state=$T/s-file" "$T/file" 2>&1) || rc=$?
refused "a file as mount point" "$out" "$rc"
assert_eq "imgfs: mount point $T/file is not a directory" "$out" "the reason"
[[ ! -e "$T/s-file" ]] || fail "a refused mount created $T/s-file"
mkdir "$T/m-other"
rc=0; out=$("$IMGFS" -o "state=$T/s-a" "$T/s-b" "$T/m-other" 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status with a source unlike -o state="
assert_match 'imgfs: the source .*/s-b and -o state=.*/s-a differ: give it once' "$out" "the reason"
[[ ! -e "$T/s-a" && ! -e "$T/s-b" ]] || fail "a refused mount created a state"
rc=0; out=$("$IMGFS" -o ro "$T/s-ro" "$T/m-other" 2>&1) || rc=$?
refused "-o ro on a missing state" "$out" "$rc"
assert_match 'imgfs: -o ro: no imgfs state at .*/s-ro.*' "$out" "the reason"
[[ ! -e "$T/s-ro" ]] || fail "a read-only mount created $T/s-ro"
# The kernel refuses this one (a FUSE mount is no block device) after the
# state was made: the directories it made go again.
rc=0; out=$("$IMGFS" -o blkdev "$T/s-new/deep/state" "$T/m-other" 2>&1) || rc=$?
assert_eq 1 "$rc" "exit status of a mount the kernel refused"
assert_match '.*imgfs: cannot mount on .*/m-other' "$out" "the reason"
[[ ! -e "$T/s-new" ]] || fail "a failed mount left $T/s-new: $(find "$T/s-new" | head -5)"
mountpoint -q "$T/m-other" && fail "a refused mount left $T/m-other mounted"

say "a dead mount (daemon killed, statfs ENOTCONN): refused, nothing created"
mkdir "$T/m-dead"
"$IMGFS" "$S" "$T/m-dead"
dead=$(_daemon_pid "$T/m-dead")
[[ -n "$dead" ]] || fail "no daemon for $T/m-dead"
kill -9 "$dead"
_wait_gone "$dead" 10 || fail "daemon $dead survived kill -9"
also_unmount "$T/m-dead"
statfs_errno() { python3 -c 'import errno, os, sys
try:
    os.statvfs(sys.argv[1]); print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"; }
assert_eq ENOTCONN "$(statfs_errno "$T/m-dead")" "statfs of the dead mount"
rc=0; out=$("$IMGFS" "$T/s-dead" "$T/m-dead" 2>&1) || rc=$?
refused "a dead mount point" "$out" "$rc"
assert_match "imgfs: mount point $T/m-dead is a dead mount .*fusermount3 -u.*" "$out" "the reason"
[[ ! -e "$T/s-dead" ]] || fail "a refused mount created $T/s-dead"
umount "$T/m-dead"

say "fusermount3 -u right after the mount returned: 20 times in a row"
umount_imgfs "$M"
# exited PID: gone, or a zombie its new parent (pid 1) has not reaped yet.
exited() { [[ ! -e /proc/$1 ]] || [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
for ((i = 1; i <= 20; i++)); do
    "$IMGFS" -o workers=1 "$S" "$M" || fail "mount $i failed"
    pid=$(pgrep -n -x -f -- "$IMGFS -o workers=1 $S $M") || fail "no daemon for mount $i"
    fusermount3 -u "$M" 2>"$T/fu.err" || fail "fusermount3 -u right after mount $i: $(cat "$T/fu.err")"
    wait_for 10 exited "$pid" || fail "daemon $pid did not exit after unmount $i"
done
mountpoint -q "$M" && fail "$M still mounted"

say "descriptors the caller passed are not kept by the daemon (a pipe's reader would wait for the unmount)"
: >"$T/inherited"
mkfifo "$T/fifo"
"$IMGFS" -o workers=1 "$S" "$M" 3>>"$T/inherited" 7<>"$T/fifo" || fail "mount with descriptors 3 and 7 open"
pid=$(pgrep -n -x -f -- "$IMGFS -o workers=1 $S $M") || fail "no daemon for the mount"
held=$(find "/proc/$pid/fd" -lname "$T/inherited" -o -lname "$T/fifo" 2>/dev/null | wc -l)
assert_eq 0 "$held" "descriptors of the caller's file and pipe held by the daemon"
ls "$M/regions/cn-north-1/private" >/dev/null || fail "the mount does not answer"
fusermount3 -u "$M"
wait_for 10 exited "$pid" || fail "daemon $pid did not exit after the unmount"

say "mount -t fuse.imgfs and mount -T FSTAB (mount.fuse3 runs imgfs from sh's default PATH)"
mkdir -p "$T/sbin" "$T/m-helper"
ln -s "$(readlink -f "$IMGFS")" "$T/sbin/imgfs"
printf '%s %s fuse.imgfs noauto,nofail,_netdev,workers=1,allow_other,multiuser 0 0\n' "$S" "$T/m-helper" >"$T/fstab"
# Runs in its own mount namespace: nothing outside sees the bind or the
# mounts; each mount is unmounted there (a daemon left would keep the
# namespace alive).
unshare -m --propagation private bash -euo pipefail -s "$S" "$T/m-helper" "$T/sbin" "$T/fstab" >"$T/helper.out" 2>&1 <<'EOF' ||
S=$1 M=$2 SBIN=$3 FSTAB=$4
mount --bind "$SBIN" /usr/local/sbin
trap 'fusermount3 -u "$M" 2>/dev/null || true' EXIT
check() {
    local got
    got=$(awk -v m="$M" '$2 == m { print $1, $3 }' /proc/mounts)
    [[ "$got" == "$S fuse.imgfs" ]] || { echo "$1: /proc/mounts has '$got'"; exit 1; }
    [[ -d "$M/regions/cn-north-1/public" ]] || { echo "$1: no regions/cn-north-1/public"; exit 1; }
    fusermount3 -u "$M" || { echo "$1: fusermount3 -u failed"; exit 1; }
    echo "$1: ok"
}
mount -t fuse.imgfs "$S" "$M" -o allow_other,multiuser,workers=1
check "mount -t fuse.imgfs"
mount -T "$FSTAB" "$M"
check "mount -T fstab"
mount -t fuse.imgfs -o ro "$S" "$M"
opts=$(awk -v m="$M" '$2 == m { print $4 }' /proc/mounts)
[[ $opts == ro,* ]] || { echo "mount -o ro: options $opts"; exit 1; }
mkdir "$M/regions/cn-north-1/private/x" 2>/dev/null && { echo "mount -o ro: mkdir succeeded"; exit 1; }
check "mount -t fuse.imgfs -o ro"
EOF
    { cat "$T/helper.out" >&2; fail "mounting through mount(8)"; }
assert_eq "mount -t fuse.imgfs: ok
mount -T fstab: ok
mount -t fuse.imgfs -o ro: ok" "$(cat "$T/helper.out")" "mount(8)"

say "systemd's readiness (-f, NOTIFY_SOCKET): READY=1 once the mount answers; SIGINT: STOPPING=1, unmounted, exit 0"
# A listener on a datagram socket, as systemd's for a Type=notify unit:
# at READY=1 it checks the mount answers (the readiness the unit relies on).
python3 - "$T/notify.sock" "$M" >"$T/notify.out" 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
while True:
    msg = s.recv(4096).decode()
    if msg == "READY=1":
        print("READY=1", "answers" if os.path.isdir(os.path.join(sys.argv[2], "regions")) else "not-mounted", flush=True)
    else:
        print(msg, flush=True)
    if msg == "STOPPING=1":
        break
PY
listener=$!
wait_for 10 test -S "$T/notify.sock" || fail "the notify listener did not start"
# A job started with & in a script ignores SIGINT, which libfuse then
# leaves ignored: env gives it back its default.
NOTIFY_SOCKET="$T/notify.sock" env --default-signal=INT "$IMGFS" -f -o workers=1 "$S" "$M" 2>"$T/fg.err" &
fg=$!
wait_for 20 grep -q READY "$T/notify.out" || fail "no READY=1 from imgfs -f: $(cat "$T/notify.out" "$T/fg.err")"
assert_eq "READY=1 answers" "$(cat "$T/notify.out")" "what systemd was told, and whether the mount answered then"
kill -INT "$fg"
rc=0; wait "$fg" || rc=$?
assert_eq 0 "$rc" "exit status after SIGINT"
mountpoint -q "$M" && fail "still mounted after SIGINT"
grep -q 'SIGINT: unmounting' "$S/imgfs.log" || fail "no 'SIGINT: unmounting' in the log"
wait "$listener" || fail "the notify listener: $(cat "$T/notify.out")"
assert_eq "READY=1 answers
STOPPING=1" "$(cat "$T/notify.out")" "what systemd was told"

say "an image to delete later: vm1 captured into private/gone"
mount_imgfs "$S" "$M" workers=1
P="$M/regions/cn-north-1/private"
I="$M/regions/cn-north-1/instances"
B="$M/regions/cn-north-1/recycle-bin"
new_vm "$I/vm1"
write_random "$I/vm1/disks/vda" 0 1
mkdir "$P/gone"
capture "$P/gone" vm1
umount_imgfs "$M"

say "SIGTERM while an import runs: exit 0, the import queued again"
mkdir -p "$T/www"
python3 - "$T/www/disk.raw" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    mbr = bytearray(512)
    mbr[0:2] = b"\xeb\x63"
    mbr[3:30] = b"imgfs service test disk   "
    mbr[510:512] = b"\x55\xaa"
    f.write(mbr)
    f.write(os.urandom((8 << 20) - 512))
PY
/usr/bin/python3 "$SERVE" slow "$T/www" >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
at_exit "kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true"
wait_for 30 grep -q '^PORT ' "$T/serve.out" || fail "the slow server did not start"
URL="http://127.0.0.1:$(awk '$1 == "PORT" { print $2 }' "$T/serve.out")/disk.raw"
imgfs_admin "$S" import allow 127.0.0.1 >/dev/null
"$IMGFS" -f -o workers=2 "$S" "$M" 2>"$T/fg.err" &
fg=$!
wait_for 20 test -d "$M/regions" || fail "imgfs -f does not answer"
P="$M/regions/cn-north-1/private"
mkdir "$P/imp"
echo "url $URL" >"$P/imp/source"
wait_for 60 awk '$1 == "bytes-done" && $2 > 1048576 { ok = 1 } END { exit !ok }' "$P/imp/task" ||
    fail "imp/task: no progress: $(cat "$P/imp/task")"
kill -TERM "$fg"
rc=0; wait "$fg" || rc=$?
assert_eq 0 "$rc" "exit status after SIGTERM"
mountpoint -q "$M" && fail "still mounted after SIGTERM"
grep -q 'SIGTERM: unmounting' "$S/imgfs.log" || fail "no 'SIGTERM: unmounting' in the log"

say "-o ro: EROFS for mkdir and command files, the import does not move, an expired bin image stays"
# The bin image: deleted under a mount without workers (nothing expires
# there), retention 1 s, so it has expired when the read-only mount comes.
mount_imgfs "$S" "$M" workers=0
imgfs_admin "$S" retention 1 >/dev/null
rmdir "$P/gone"
[[ -f "$B/gone/expires" ]] || fail "gone is not in the recycle bin"
umount_imgfs "$M"
sleep 2
# The metadata's content (the file's bytes may change by a checkpoint).
db_dump() { sqlite3 "$S/imgfs.db" .dump >"$1"; }
db_dump "$T/before.sql"
mount_imgfs "$S" "$M" ro
assert_match 'ro(,.*)?' "$(awk -v m="$M" '$2 == m { print $4 }' /proc/mounts)" "mount options"
assert_errno EROFS mkdir "$P/new"
assert_errno EROFS write "$P/imp/cancel" 1
assert_errno EROFS mkdir "$I/vm2"
assert_errno EROFS rmdir "$B/gone"
b0=$(awk '$1 == "bytes-done" { print $2 }' "$P/imp/task")
sleep 5 # the workers poll every second: an expiry would have run
assert_eq "gone" "$(entries "$B")" "recycle-bin/ under -o ro, past the expiry"
assert_eq "$b0" "$(awk '$1 == "bytes-done" { print $2 }' "$P/imp/task")" "imp's bytes-done under -o ro"
umount_imgfs "$M"
db_dump "$T/after.sql"
diff "$T/before.sql" "$T/after.sql" >&2 || fail "the metadata (sqlite3 .dump) changed under a read-only mount"

say "the next read-write mount: the import resumes and completes with the server's bytes"
mount_imgfs "$S" "$M"
imgfs_wait "$P/imp" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait imp"; }
assert_eq available "$(status_of "$P/imp")" "imp after the remount"
assert_file_eq "$T/www/disk.raw" "$P/imp/disks/vda" "imp/disks/vda"

say "SIGHUP after mv imgfs.log imgfs.log.old: a new imgfs.log, the mount keeps answering"
pid=${_MOUNT_PID[$M]}
mv "$S/imgfs.log" "$S/imgfs.log.old"
kill -HUP "$pid"
wait_for 10 test -f "$S/imgfs.log" || fail "no new imgfs.log after SIGHUP"
wait_for 10 grep -q 'SIGHUP: log reopened' "$S/imgfs.log" || fail "no 'SIGHUP: log reopened' in the new log"
kill -0 "$pid" || fail "the daemon exited on SIGHUP"
mountpoint -q "$M" || fail "SIGHUP unmounted $M"
old_lines=$(wc -l <"$S/imgfs.log.old")
assert_errno EINVAL mkdir "$P/$(printf 'bad\001name')"
grep -q 'mkdir /regions/cn-north-1/private/bad\\x01name: EINVAL' "$S/imgfs.log" || fail "the refusal is not in the new log"
assert_eq "$old_lines" "$(wc -l <"$S/imgfs.log.old")" "lines in imgfs.log.old after the reopen"

say "SIGTERM on a daemonized mount: unmounted, the daemon gone"
kill -TERM "$pid"
_wait_gone "$pid" 10 || fail "daemon $pid still running 10 s after SIGTERM"
mountpoint -q "$M" && fail "still mounted after SIGTERM"
untrack "$M"

say "a postgresql:// source: mounted, shown in /proc/mounts without its password and parameters"
chmod 711 "$T" # the server runs as the postgres user
pg_database URL
mkdir -p "$T/m-pg"
"$IMGFS" -o "state=$T/s-pg" "${URL/postgres@/postgres:not-a-secret@}?application_name=imgfs-test" "$T/m-pg"
track "$T/m-pg" "$T/s-pg"
assert_eq "${URL/postgres@/} fuse.imgfs" "$(source_type "$T/m-pg")" "/proc/mounts for a postgresql:// source"
grep -q 'not-a-secret' /proc/mounts && fail "the password is in /proc/mounts"
[[ -d "$T/m-pg/regions/cn-north-1/public/centos-7.4" ]] || fail "the PostgreSQL mount does not answer"
umount_imgfs "$T/m-pg"
exit 0

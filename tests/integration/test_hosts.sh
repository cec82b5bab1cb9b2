#!/usr/bin/env bash
# test_hosts: one service, metadata in PostgreSQL, mounted by two hosts
# (SPEC §13): two mounts of one database from two state directories on
# this machine, `-o host=a` and `-o host=b`, sharing the regions' stores
# (dir: stores recorded by the first mount).
#
#   - a change through one host is seen through the other within 1 s
#     (mkdir, rename, delete, restore, share, both ways);
#   - one name, one state: a third state directory mounting under a's
#     name is refused while a lives (one line naming a's state and
#     -o host=); a name freed by a clean unmount is free at once; one
#     whose mount was killed, once its lease lapsed (issue 70); the same
#     for `imgfs serve --glance`, whose claim a mount of its own state
#     shares: the serve's stop leaves it to the mount;
#   - an upload through a, read, converted and copied through b;
#   - 4 mkdir loops on both hosts racing for the same names and the quota:
#     one winner per name, the quota never exceeded;
#   - an instance on a: b lists it, its disks are EREMOTE on b;
#   - kill -9 of a during a conversion: b takes it over once a's lease
#     expires, the image ends available with the right bytes;
#   - host list / host remove;
#   - PostgreSQL stopped under the mounts: EIO, then they recover by
#     themselves once it is back.
#   - PostgreSQL paused (SIGSTOP) under a mount with a 3 s answer bound:
#     a read and a write EIO within the bound, logged, and the mount
#     answers again once it goes on (issue 70).
# The database is a new one on the shared test server (lib.sh pg_database).
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
PG="$T/pg"
pg_server URL

A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
mount_imgfs "$T/state-b" "$B" "db=$URL,host=b"
RA="$A/regions/cn-north-1" RB="$B/regions/cn-north-1"
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }
me=$(id -un)

# seen WHAT CMD...: CMD succeeds within 1 s (polled every 20 ms).
seen() {
    local what=$1 i; shift
    for ((i = 0; i < 50; i++)); do
        "$@" 2>/dev/null && return 0
        sleep 0.02
    done
    fail "$what: not seen within 1 s"
}

say "both hosts registered, each with a fresh lease"
admin host list >"$T/hosts"
grep -q '^a alive ' "$T/hosts" && grep -q '^b alive ' "$T/hosts" || { cat "$T/hosts" >&2; fail "host list"; }

say "one name, one state: another state under a live host's name is refused, in one line"
# (issue 70: two states under the machine's name sealed each other's
# uploads.)  A third state directory mounting as host a while a lives is
# refused, naming a's state and how to choose another name; as host c it
# mounts.  c unmounted cleanly frees the name at once (a fourth state
# mounts as c); that one killed holds it while its lease is current (a
# fifth is refused), and no longer once it lapsed (the lease set to 2 s
# for this: the bound and past it).
C="$T/mnt-c"
mkdir -p "$C"
# try_mount STATE HOST: the mount's exit status; its stderr in $T/try.err.
try_mount() {
    local rc=0
    timeout 30 "$IMGFS" -o "state=$1,db=$URL,host=$2" "$C" 2>"$T/try.err" || rc=$?
    echo "$rc"
}
refused() {
    local rc
    rc=$(try_mount "$1" "$2")
    if [[ $rc == 0 ]]; then
        fusermount3 -u "$C"
        fail "state $1 mounted under host $2's name while $3 lives"
    fi
    ! mountpoint -q "$C" || fail "$C is mounted after the refusal"
    assert_match "imgfs: host $2 is held by another live state, $3 on machine [^ ]+ \(its lease renewed [0-9]+ s ago\): mount this state under another name \(-o host=NAME\) or stop that one first" \
        "$(cat "$T/try.err")" "the refusal of state $1 as host $2"
    assert_eq 1 "$(wc -l <"$T/try.err")" "lines of the refusal"
}
refused "$T/state-c" a "$T/state-a"
echo "    $(cat "$T/try.err")"
mount_imgfs "$T/state-c" "$C" "db=$URL,host=c"
umount_imgfs "$C"
mount_imgfs "$T/state-d" "$C" "db=$URL,host=c,workers=0"
kill_imgfs "$C"
refused "$T/state-e" c "$T/state-d"
admin lease 2
mounted_e() { [[ $(try_mount "$T/state-e" c) == 0 ]]; }
wait_until 10 mounted_e || { cat "$T/try.err" >&2; fail "state-e not mounted as c once d's lease lapsed"; }
_MOUNTS+=("$C") && _MOUNT_STATE[$C]="$T/state-e" && _MOUNT_PID[$C]=$(_daemon_pid "$C")
umount_imgfs "$C"
admin lease 30

say "one name, one state for imgfs serve too: its claim shared with a mount of its state"
# `imgfs serve --glance` (its workers act for the host: the machine's
# short name) claims as a mount does (issue 70: two serves of two fresh
# states sealed each other's uploads).  A second serve of another state is
# refused in one line naming the first; a mount of the first's state
# (under the same name) runs beside it; the serve's clean stop leaves the
# claim to that mount (the other state still refused), whose unmount
# frees it.
H=$(hostname -s)
mkdir -p "$T/state-s1" "$T/state-s2"
# serve STATE NAME: a serve of STATE in the background, its pid in
# SERVE_PID; its stderr in $T/NAME.err.
serve() {
    "$IMGFS" serve --state "$1" --db "$URL" --listen 127.0.0.1:0 --glance --log "$T/$2.log" 2>"$T/$2.err" &
    SERVE_PID=$!
    at_exit "kill $SERVE_PID 2>/dev/null"
}
listening() { grep -qs 'listening on' "$T/$1.log" "$T/$1.err"; }
# serve_refused STATE NAME HOLDER: the serve ends with 1 and one line
serve_refused() {
    local rc=0
    timeout 30 "$IMGFS" serve --state "$1" --db "$URL" --listen 127.0.0.1:0 --glance --log "$T/$2.log" \
        2>"$T/$2.err" || rc=$?
    assert_eq 1 "$rc" "the exit status of a serve of $1 while $3 holds $H"
    assert_match "imgfs serve: host $H is held by another live state, $3 on machine [^ ]+ \(its lease renewed [0-9]+ s ago\): .*" \
        "$(cat "$T/$2.err")" "the refusal of a serve of $1"
    assert_eq 1 "$(wc -l <"$T/$2.err")" "lines of the serve's refusal"
}
serve "$T/state-s1" s1
s1=$SERVE_PID
wait_for 20 listening s1 || { cat "$T/s1.err" >&2; fail "the serve of state-s1 did not start"; }
serve_refused "$T/state-s2" s2 "$T/state-s1"
echo "    $(cat "$T/s2.err")"
mount_imgfs "$T/state-s1" "$C" "db=$URL,workers=0"
kill -TERM "$s1"
wait "$s1" || fail "the serve of state-s1 did not stop cleanly"
serve_refused "$T/state-s2" s2b "$T/state-s1"
umount_imgfs "$C"
serve "$T/state-s2" s2c
wait_for 20 listening s2c || { cat "$T/s2c.err" >&2; fail "the serve of state-s2 did not start once state-s1 let $H go"; }
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || fail "the serve of state-s2 did not stop cleanly"

say "mkdir on a is seen on b within 1 s, and the other way"
mkdir "$RA/private/one"
seen "private/one on b" test -d "$RB/private/one"
mkdir "$RB/private/two"
seen "private/two on a" test -d "$RA/private/two"
say "rename, delete and restore seen both ways"
mv "$RA/private/one" "$RA/private/uno"
seen "rename on b" test -d "$RB/private/uno"
[[ ! -e "$RB/private/one" ]] || fail "the old name is still there on b"

say "an upload through a; read, converted and copied through b"
head -c $((3 << 20)) /dev/urandom >"$T/data.raw"
qemu-img convert -f raw -O qcow2 "$T/data.raw" "$T/data.qcow2"
mkdir "$RA/private/up"
cp "$T/data.qcow2" "$RA/private/up/disks/vda"
imgfs_wait "$RA/private/up" >/dev/null || fail "the upload on a did not become available: $(cat "$RA/private/up/error")"
seen "the upload available on b" grep -qx available "$RB/private/up/status"
cmp "$RB/private/up/disks/vda" "$T/data.qcow2" || fail "b reads other bytes than a uploaded"
echo up-cloud >"$RB/private/up/convert"
imgfs_wait "$RB/private/up-cloud" >/dev/null || fail "conversion on b: $(cat "$RB/private/up-cloud/error")"
mkdir "$RB/private/up-cloud/copies/cn-east-2"
imgfs_wait "$B/regions/cn-east-2/private/up-cloud" >/dev/null || fail "copy on b"
snap=$(awk '$1 == "vda" { print $3 }' "$A/regions/cn-east-2/private/up-cloud/device-mapping")
cmp "$A/regions/cn-east-2/snapshots/$snap/data" "$T/data.raw" || fail "the copy's bytes, read on a"

say "delete on b, seen in a's recycle bin; restore on a, seen on b"
rmdir "$RB/private/up-cloud/copies/cn-east-2" 2>/dev/null || true
rmdir "$RB/private/up"
seen "up in a's recycle bin" test -d "$RA/recycle-bin/up"
mv "$RA/recycle-bin/up" "$RA/private/up"
seen "up restored on b" test -d "$RB/private/up"

say "sharing seen on the other host"
admin account add carol --uid 2101
mkdir "$RA/private/up/shares/carol"
[[ -d "$RB/private/up/shares/carol" ]] || seen "the share on b" test -d "$RB/private/up/shares/carol"

say "a download link made on b is listed on a; revoked on a, gone on b"
stat "$RA/private/up/download" >/dev/null # a's kernel holds its attributes (size 0)
echo link >"$RB/private/up/download"
seen "the link on a" test -s "$RA/private/up/download"
echo revoke >"$RA/private/up/download"
seen "the revocation on b" test ! -s "$RB/private/up/download"

say "4 mkdir loops on both hosts race for the same names and a quota of 12"
admin quota set "$me" cn-north-1 private-images 12
used=$(awk '$1 == "private-images" { print $2 }' "$RA/quota")
for h in A B A B; do
    dir=$([[ $h == A ]] && echo "$RA" || echo "$RB")
    (for i in $(seq 1 20); do mkdir "$dir/private/race-$i" 2>>"$T/race.err" || true; done) &
done
wait
n=$(ls "$RA/private" | grep -c '^race-' || true)
((used + n == 12)) || fail "$n race images made with $used images there before: the quota of 12 not filled exactly"
ls "$RB/private" | grep '^race-' | sort | uniq -d | grep . && fail "a name won twice"
grep -q 'File exists' "$T/race.err" || fail "no loop lost a name race (EEXIST)"
grep -q 'Disk quota exceeded' "$T/race.err" || fail "no loop met the quota (EDQUOT)"
assert_eq "private-images 12 12" "$(grep '^private-images' "$RB/quota")" "quota on b"
echo "    $n made, $(grep -c 'File exists' "$T/race.err") EEXIST, $(grep -c 'Disk quota' "$T/race.err") EDQUOT"

say "an instance on a: listed on b with its disks and their sizes, which are EREMOTE to open or create there"
mkdir "$RA/instances/vm1"
seen "vm1 on b" test -d "$RB/instances/vm1"
assert_eq a "$(cat "$RB/instances/vm1/host")" "instances/vm1/host on b"
remote_disks "$RA/instances/vm1" "$RB/instances/vm1"

say "a frozen, then killed, during a conversion: b takes it over once a's lease expired, not before"
admin lease 3
remount_imgfs "$T/state-b" "$B" "db=$URL,host=b,workers=0" # b runs no task yet
remount_imgfs "$T/state-a" "$A" "db=$URL,host=a,workers=1"
head -c $((1 << 30)) /dev/urandom >"$T/big.raw"
qemu-img convert -f raw -O qcow2 "$T/big.raw" "$T/big.qcow2"
admin quota set "$me" cn-north-1 private-images 40
mkdir "$RA/private/big"
cp "$T/big.qcow2" "$RA/private/big/disks/vda"
imgfs_wait "$RA/private/big" >/dev/null || fail "the big upload"
remount_imgfs "$T/state-b" "$B" "db=$URL,host=b,workers=2"
echo big-cloud >"$RA/private/big/convert"
for ((i = 0; i < 500; i++)); do grep -q '^state running' "$RA/private/big/task" 2>/dev/null && break; sleep 0.01; done
grep -q '^state running' "$RA/private/big/task" || fail "the conversion never ran"
freeze_until_taken_over "$A" "$T/state-b" 3 "$URL"
imgfs_wait "$RB/private/big-cloud" >/dev/null || fail "b did not finish a's conversion: $(cat "$RB/private/big-cloud/error")"
snap=$(awk '$1 == "vda" { print $3 }' "$RB/private/big-cloud/device-mapping")
cmp "$RB/snapshots/$snap/data" "$T/big.raw" || fail "the converted bytes"

say "host remove: refused for a live host, accepted for a dead one"
assert_fails admin host remove b
admin host remove a
admin host list | grep -q '^a ' && fail "a is still listed"
echo "    $(admin host list)"

say "PostgreSQL stopped under the mount: EIO; started again: it recovers by itself"
"$ROOT/scripts/pg-down" "$PG"
got=$(errno_of read "$RB/private/two/description")
[[ "$got" == EIO || "$got" == OK ]] || fail "while the database is down: $got"
assert_errno EIO mkdir "$RB/private/down"
"$ROOT/scripts/pg-up" "$PG" >/dev/null
seen "a mkdir after the database came back" mkdir "$RB/private/after"
seen "b's listing after the restart" test -d "$RB/private/after"

say "PostgreSQL paused (SIGSTOP) under a mount: a read and a write EIO within the answer's bound, then it goes on"
# (issue 70: a paused server's kernel acknowledges, so neither the TCP
# user timeout nor the keepalives end a wait: every statement waited for
# as long as the pause.)  Host p's daemon waits at most 3 s for an answer
# (IMGFS_PG_ANSWER_MS; 60 s by default): its read of its quota and its
# write of an image's description (both looked up before), made while the
# server is paused, are EIO within 45 s (the answer's bound, the 5 s
# reconnects of §13.22, room for a loaded machine; before, no end), its
# log says why, and once the server goes on the same mount answers
# again.  The server is this test's own (pg_server).
P="$T/mnt-p"
IMGFS_PG_ANSWER_MS=3000 mount_imgfs "$T/state-p" "$P" "db=$URL,host=p,workers=0"
RP="$P/regions/cn-north-1"
cat "$RP/quota" >/dev/null || fail "p reads its quota before the pause"
mkdir "$RP/private/pz" && cat "$RP/private/pz/description" >/dev/null || fail "p's image pz before the pause"
pm=$(head -1 "$PG/data/postmaster.pid")
[[ "$pm" =~ ^[0-9]+$ ]] || fail "no postmaster pid in $PG/data/postmaster.pid"
pg_pids() { echo "$pm" $(pgrep -P "$pm"); }
# (resumed before the exit trap's unmounts, which would wait on it)
on_exit() {
    local rc=$?
    set +e
    kill -CONT $(pg_pids) 2>/dev/null
    (exit "$rc")
    _cleanup
}
trap on_exit EXIT
kill -STOP $(pg_pids)
errno_of read "$RP/quota" >"$T/p-read" 2>&1 &
r=$!
errno_of write "$RP/private/pz/description" paused >"$T/p-write" 2>&1 &
w=$!
ended() { ! kill -0 "$r" 2>/dev/null && ! kill -0 "$w" 2>/dev/null; }
wait_until 45 ended || fail "p's read or write still waits 45 s into the pause (read: $(cat "$T/p-read"), write: $(cat "$T/p-write"))"
assert_eq EIO "$(cat "$T/p-read")" "p's read of its quota, the server paused"
assert_eq EIO "$(cat "$T/p-write")" "p's write of pz's description, the server paused"
grep -q "postgresql: no answer within 3000 ms (a server paused or unreachable)" "$T/state-p/imgfs.log" ||
    { tail -n 5 "$T/state-p/imgfs.log" >&2; fail "p's log does not say why"; }
kill -CONT $(pg_pids)
quota_again() { cat "$RP/quota" >/dev/null 2>&1; }
wait_until 30 quota_again || fail "p does not read its quota 30 s after the server went on"
seen "p's write of pz's description once the server went on" sh -c "echo resumed >'$RP/private/pz/description'"

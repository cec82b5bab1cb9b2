#!/usr/bin/env bash
# test_rados_admin: imgfs admin in cluster mode touches only what it is
# told to (SPEC §12 "Arguments that could hurt", §13).  Metadata in a
# throwaway PostgreSQL, region r1 in a RADOS pool (the ceph fixture's
# cluster, or the test's own), hosts a and b (two state directories).
#   - every --db command that needs a host's files (init, region add,
#     publish, fsck, gc) is refused without --state, with the right form,
#     before anything is touched: no default state directory appears, no
#     row changes; commands on rows alone (account, quota, host, region
#     list) need none and create none; a --state that does not exist is
#     refused, not created;
#   - fsck given b's state judges b's files only: a's instance disk is
#     noted as a's, not reported as a problem; given a's, it is checked;
#   - a killed upload (host a killed with the file open) is a's to end:
#     b, which sees a's lease lapse, leaves it (issue 47: a lapsed lease is
#     no proof, a host cut off still holds the file); a's next mount ends
#     it ("interrupted") and removes its files, without fsck.
# The default state directory is redirected into $T (XDG_DATA_HOME), so
# that a refusal that failed would write there, not into this machine's.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
NS="ad$$x$RANDOM"
chmod 711 "$T" # the database server runs as the postgres user
pg_database URL
ceph_cluster CA "$T/ceph" imgfs-r1
export XDG_DATA_HOME="$T/xdg"
DEFAULT="$XDG_DATA_HOME/imgfs"
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }
rows() { psql -qtA "$URL" -c "$1"; }
me=$(id -un)

say "a service: PostgreSQL, region r1 in a pool"
admin init >/dev/null
admin region add r1 --store "rados:imgfs-r1,conf=$CA,ns=$NS" || fail "region add r1"
admin lease 3
echo "raw disk" >"$T/pub.raw"

say "--db without --state: commands that need a host's files are refused before anything is touched"
regions=$(rows "SELECT count(*) FROM regions")
images=$(rows "SELECT count(*) FROM images")
for cmd in "init" "region add r9 --store rados:imgfs-r1,conf=$CA,ns=$NS-9" "publish public r1 pub $T/pub.raw" \
    "fsck" "gc --grace 3600"; do
    name=${cmd%% *}
    # shellcheck disable=SC2086 # the command's words
    if "$IMGFS" admin --db "$URL" $cmd >"$T/out" 2>&1; then cat "$T/out" >&2; fail "admin --db URL $cmd ran"; fi
    grep -q "^imgfs admin: $name --db needs this host's state directory: imgfs admin --db URL --state DIR $name" "$T/out" ||
        { cat "$T/out" >&2; fail "the refusal of $cmd"; }
    [[ ! -e "$DEFAULT" ]] || fail "admin --db URL $cmd created $DEFAULT"
done
assert_eq "$regions" "$(rows "SELECT count(*) FROM regions")" "regions after the refusals"
assert_eq "$images" "$(rows "SELECT count(*) FROM images")" "images after the refusals"
say "rows alone need no state directory and make none"
"$IMGFS" admin --db "$URL" account add carol >/dev/null || fail "account add without --state"
"$IMGFS" admin --db "$URL" account list | grep -q '^carol ' || fail "account list without --state"
"$IMGFS" admin --db "$URL" quota set carol r1 private-images 7 || fail "quota set without --state"
"$IMGFS" admin --db "$URL" region list | grep -q '^r1 rados:' || fail "region list without --state"
"$IMGFS" admin --db "$URL" host list >/dev/null || fail "host list without --state"
[[ ! -e "$DEFAULT" ]] || fail "a command on rows created $DEFAULT"
say "a --state that does not exist is refused, not created"
"$IMGFS" admin --db "$URL" --state "$T/typo" gc >"$T/out" 2>&1 && fail "gc with a missing --state ran"
grep -q "no state directory $T/typo" "$T/out" || { cat "$T/out" >&2; fail "the refusal of a missing --state"; }
[[ ! -e "$T/typo" ]] || fail "admin created $T/typo"

say "hosts a and b; an instance on a in r1"
A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
mount_imgfs "$T/state-b" "$B" "db=$URL,host=b"
assert_eq a "$(cat "$T/state-a/host")" "the host recorded in a's state"
assert_eq b "$(cat "$T/state-b/host")" "the host recorded in b's state"
admin quota set "$me" r1 private-images 10
RA="$A/regions/r1" RB="$B/regions/r1"
mkdir "$RA/instances/vm"
truncate -s 1G "$RA/instances/vm/disks/vdb"

say "fsck given b's state: a's disks are a's files, noted, not problems; given a's, checked"
"$IMGFS" admin --db "$URL" --state "$T/state-b" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck with b's state"; }
cat "$T/fsck.out" | sed 's/^/    /'
# vda (a local system disk) is a's file; vdb, a cloud disk, is in the
# cluster, which every host checks (SPEC §13).
grep -q '^region r1: 1 writable blob of other hosts (a) not checked here' "$T/fsck.out" || fail "fsck's note"
assert_eq "0 problems" "$(tail -n 1 "$T/fsck.out")" "fsck with b's state"
admin fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck with a's state"; }
grep -q 'other hosts' "$T/fsck.out" && { cat "$T/fsck.out" >&2; fail "fsck with a's state skipped a's disks"; }
rm "$T/state-a/regions/r1/wblobs/"d*.map # as a crash could leave a's disks
admin fsck >"$T/fsck.out" 2>&1 && fail "fsck with a's state missed a's broken disk"
grep -q 'does not open' "$T/fsck.out" || { cat "$T/fsck.out" >&2; fail "fsck's report of a's broken disk"; }
"$IMGFS" admin --db "$URL" --state "$T/state-b" fsck >/dev/null 2>&1 || fail "fsck with b's state judged a's disk"
rmdir "$RA/instances/vm" || fail "removing vm"

say "a killed with an upload's file open; b leaves it; a's next mount ends it and removes its files, no fsck"
head -c $((8 << 20)) /dev/urandom >"$T/up.raw"
qemu-img convert -f raw -O qcow2 "$T/up.raw" "$T/up.qcow2"
mkdir "$RA/private/up"
python3 - "$T/up.qcow2" "$RA/private/up/disks/vda" "$T/written" <<'EOF' &
import os, sys, time
data = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, data[:4 << 20], 0)
open(sys.argv[3], "w").close()
time.sleep(3600) # holds the file open until its mount dies
EOF
writer=$!
at_exit "kill $writer"
wait_for 30 test -e "$T/written" || fail "the writer did not write"
ls "$T/state-a/regions/r1/wblobs/" | grep -q '^u' || fail "no upload file in a's state"
kill_imgfs "$A"
kill "$writer" 2>/dev/null || true
# a's lease (3 s) lapses; b's housekeeping (every 5 s) runs twice more.
a_gone() { admin host list | grep -q '^a gone '; }
wait_for 30 a_gone || fail "a's lease did not lapse"
nap 11
assert_eq uploading "$(cat "$RB/private/up/status")" "a's upload, seen from b, once a's lease lapsed"
ls "$T/state-a/regions/r1/wblobs/" | grep -q '^u' || fail "the upload's files went before a came back"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
ended() { [[ "$(cat "$RB/private/up/status")" == error ]]; }
wait_for 30 ended || fail "a's mount did not end its upload: $(cat "$RB/private/up/status")"
grep -q 'interrupted' "$RB/private/up/error" || fail "the upload's error: $(cat "$RB/private/up/error")"
swept() { ! ls "$T/state-a/regions/r1/wblobs/" | grep -q '^u'; }
wait_for 30 swept || fail "a's mount left the upload's files: $(ls "$T/state-a/regions/r1/wblobs/")"
grep -q 'upload of image .* ended in error: the upload was interrupted' "$T/state-a/imgfs.log" ||
    fail "a's log does not say it ended its upload"
say "done"

#!/usr/bin/env bash
# test_orphaned: a dead host's task does not look alive (SPEC §13, §2.1's
# `task`).  Two hosts of one service in PostgreSQL (a throwaway server),
# lease 3 s.  A URL import runs on host a (its file grows in a's state
# directory: it is bound to a), served slowly from 127.0.0.1.  Then:
#   - while a runs it, b's `task` shows `host a`, `state running`;
#   - a is killed (kill -9): once a's lease lapsed, b's `task` shows
#     `state orphaned` and `orphaned-since` (ISO 8601 UTC, not before a
#     died), no rate and no eta; `imgfs wait` on b says orphaned and whose;
#   - a mounts again: it takes its import back, `task` shows it running on
#     a again, and the image ends available with the served bytes.
# b runs no task (workers=0): an import is any host's once its host's lease
# lapsed (§13, issue 49), so a b with workers would take it over and the
# orphaned state would last only until b's next look for work (the race
# that failed this test); that take-over is test_rados_import_hosts'.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
chmod 711 "$T" # the database server runs as the postgres user
pg_database URL
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }

say "a raw disk of 8 MiB served slowly (16 KiB every 20 ms) on 127.0.0.1"
serve_slow_disk 8
port=$PORT

say "hosts a and b (b runs no task), lease 3 s; the import runs on a"
admin init >/dev/null
admin lease 3
admin import allow 127.0.0.1/32
A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
mount_imgfs "$T/state-b" "$B" "db=$URL,host=b,workers=0"
RA="$A/regions/cn-north-1" RB="$B/regions/cn-north-1"
mkdir "$RA/private/imp"
echo "url http://127.0.0.1:$port/disk.raw" >"$RA/private/imp/source" || fail "the url: $(cat "$RA/private/imp/error")"
field() { awk -v k="$2" '$1 == k { print $2 }' "$1/task"; }
running_on_a() { [[ "$(field "$RB/private/imp" state)" == running && "$(field "$RB/private/imp" bytes-done)" -gt 0 ]]; }
wait_for 30 running_on_a || fail "the import is not running on a, seen from b: $(cat "$RB/private/imp/task")"
assert_eq a "$(field "$RB/private/imp" host)" "the host b's task names"

say "a killed: once its lease lapsed, b shows the import orphaned, since when and whose"
killed=$(date -u +%s)
kill_imgfs "$A"
orphaned() { [[ "$(field "$RB/private/imp" state)" == orphaned ]]; }
wait_for 30 orphaned || fail "b still shows: $(cat "$RB/private/imp/task")"
cat "$RB/private/imp/task" | sed 's/^/    /'
assert_eq a "$(field "$RB/private/imp" host)" "the orphaned task's host"
since=$(field "$RB/private/imp" orphaned-since)
[[ $since =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] || fail "orphaned-since: $since"
(($(date -u -d "$since" +%s) >= killed - 3)) || fail "orphaned since $since, before a was killed"
grep -qE '^(rate|eta) ' "$RB/private/imp/task" && fail "an orphaned task shows a rate or an eta"
assert_eq uploading "$(cat "$RB/private/imp/status")" "the image's status meanwhile"
"$IMGFS" wait --timeout 1 "$RB/private/imp" >"$T/wait.out" 2>&1 && fail "imgfs wait said the import is done"
grep -q "uploading [0-9]*%, orphaned (host a gone since $since)" "$T/wait.out" || { cat "$T/wait.out" >&2; fail "imgfs wait"; }

say "a mounts again: it takes its import back, which ends available"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
back_on_a() { [[ "$(field "$RB/private/imp" state)" != orphaned ]]; }
wait_for 30 back_on_a || fail "still orphaned after a came back: $(cat "$RB/private/imp/task")"
imgfs_wait "$RB/private/imp" >/dev/null 2>&1 || fail "the import: $(cat "$RB/private/imp/error")"
cmp "$RB/private/imp/disks/vda" "$T/files/disk.raw" || fail "the imported bytes"
say "done"

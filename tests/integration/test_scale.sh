#!/usr/bin/env bash
# test_scale: a walk's cost per image does not grow with the number of
# images, and an unchanged tree is walked from the kernel's caches (issue
# 11).  Counted, not timed: the requests the daemon answered, the
# statements it ran and the rows the database produced for them, and the
# rows its statements read in full table scans, all from /stats.
# test_scale_pg.sh runs the same with the metadata in PostgreSQL
# (SCALE_OPTS: the mount options).
#
#   - a cold walk (fresh mount) of N and of 2N images sends the same number
#     of requests, runs the same number of statements and reads the same
#     number of rows per image;
#   - a second walk sends no LOOKUP and no READDIRPLUS (at most one GETATTR
#     per directory: reading a directory invalidates its atime), a third
#     one almost nothing;
#   - ls, stat, mkdir, rmdir and mv through a tree of 2N images, and no
#     statement reads a whole table (checked at every unmount by lib.sh).
# The walks and ls -l count the whole mount's requests and statements, so
# they run on a mount that does nothing else meanwhile (WALK_OPTS: no task
# worker, whose polls, inspections of the platform's images and
# housekeeping ran statements and commits beside the walks on a loaded
# machine, and a lease long enough that no renewal falls in them:
# test_scale_pg failed 2 runs in 5 at load 11-14); the mkdirs are counted
# with the workers a mount has by default.
[[ -n "${INTEGRATION_DIR:-}" ]] || source "$(dirname "$0")/lib.sh" # (test_scale_pg.sh sourced it already)

N=${IMGFS_SCALE_IMAGES:-300}
SCALE_OPTS=${SCALE_OPTS:-}

WALK_OPTS="${SCALE_OPTS:+$SCALE_OPTS,}workers=0"
setup_mount "$SCALE_OPTS"
"$IMGFS" admin --state "$S" ${SCALE_DB:+--db "$SCALE_DB"} quota set "$(id -un)" cn-north-1 private-images $((N * 4))
"$IMGFS" admin --state "$S" ${SCALE_DB:+--db "$SCALE_DB"} lease 86400 >/dev/null # renewed every 4 h
P="$R/private"

# requests OP: how many requests of kind OP the mount answered so far.
requests() { stat_of "$M" imgfs_requests_total "op=\"$1\""; }
# all_requests: every request answered so far.
all_requests() { awk '$1 ~ /^imgfs_requests_total/ { n += $2 } END { print n }' "$M/stats"; }

# cold_walk: remounts, walks private/; sets REQ (requests it took), STM
# (statements), ROW (rows) and ENT (entries it listed).
cold_walk() {
    local before s0 r0
    remount_imgfs "$S" "$M" "$WALK_OPTS"
    s0=$(stat_of "$M" imgfs_db_statements_total) r0=$(stat_of "$M" imgfs_db_rows_total)
    before=$(all_requests)
    grep '^imgfs_requests_total' "$M/stats" >"$T/walk.before"
    ENT=$(find "$P" -ls | wc -l)
    REQ=$(($(all_requests) - before))
    STM=$(($(stat_of "$M" imgfs_db_statements_total) - s0))
    ROW=$(($(stat_of "$M" imgfs_db_rows_total) - r0))
    grep '^imgfs_requests_total' "$M/stats" >"$T/walk.after"
    # by operation, for a failure's message
    WALK_OPS=$(join "$T/walk.before" "$T/walk.after" | awk '$3 != $2 { printf "%s %d  ", $1, $3 - $2 }')
}

# ls_l: `ls -l` of private/ once the walk's attributes are in the kernel
# and the rows it read are older than the row cache keeps them (1 s,
# PostgreSQL); sets LSL, the statements it ran.  ls asks each entry for its
# ACLs and SELinux label (getxattr, three an entry): an image's directory
# answers from its node id, so the count does not grow with the entries
# (it was one statement an entry with PostgreSQL, three with SQLite).
ls_l() {
    local s0
    nap 1.1
    s0=$(stat_of "$M" imgfs_db_statements_total)
    ls -l "$P" >/dev/null
    LSL=$(($(stat_of "$M" imgfs_db_statements_total) - s0))
}

# mkdirs PREFIX: N new images, as a script makes them (xargs: one mkdir
# process); sets MKRT, the round trips to the database server they cost
# (PostgreSQL; none with SQLite).  Each is the kernel's LOOKUP of the new
# name and the transaction, one each; this mount's watcher reads no change
# row back for its own mkdirs (fs/fuse/watch.c: quiet commits), and the
# task workers that the queued images wake ask once in a while.
mkdirs() {
    local t0
    t0=$(stat_of "$M" imgfs_db_round_trips_total)
    (cd "$P" && seq -f "$1-%05g" 1 "$N" | xargs mkdir)
    nap 0.5 # the watcher and the workers have seen them
    MKRT=$(($(stat_of "$M" imgfs_db_round_trips_total) - t0))
}

say "mkdir $N images, cold walk"
mkdirs a
mk1=$MKRT
cold_walk
req1=$REQ ent1=$ENT stm1=$STM row1=$ROW
ls_l
lsl1=$LSL
echo "    $N images: $ent1 entries, $req1 requests ($((req1 / N)) per image), $stm1 statements, $row1 rows: $WALK_OPS"

say "mkdir $N more, cold walk: the same number of requests per image"
mkdirs b
mk2=$MKRT
# (The first batch also pays for the inspections of the platform's images
# that a new database queues: counted, not judged.)
echo "    mkdir: $mk1 round trips for $N images, $mk2 for $N more"
((mk2 <= 2 * N + N / 4)) || fail "mkdir of $N images beside $N took $mk2 round trips: more than two each"
cold_walk
req2=$REQ ent2=$ENT stm2=$STM row2=$ROW
ls_l
lsl2=$LSL
echo "    ls -l of private/: $lsl1 statements at $N images, $lsl2 at $((2 * N))"
# The same few (the /stats read itself is about a dozen) for N and 2N.
((lsl2 <= lsl1 + 5 && lsl2 < N / 4)) || fail "ls -l ran $lsl1 statements at $N images and $lsl2 at $((2 * N)): some per entry"
echo "    $((2 * N)) images: $ent2 entries, $req2 requests ($((req2 / (2 * N))) per image), $stm2 statements, $row2 rows: $WALK_OPS"
# per_image WHAT AT_N AT_2N: twice the images cost twice as much, within 3 %
# (a listing read in pages that re-read the rest of the table each time
# costs about 10 % more per image at 2N: the rows of such a statement
# count, not only the requests).
per_image() {
    local p1=$(($2 * 1000 / N)) p2=$(($3 * 1000 / (2 * N)))
    ((p2 <= p1 * 103 / 100 + 5)) || fail "$1 per image grew: $p1/1000 at $N images, $p2/1000 at $((2 * N))"
}
per_image requests "$req1" "$req2"
per_image statements "$stm1" "$stm2"
per_image "database rows" "$row1" "$row2"
assert_eq $((ent1 * 2 - 1)) "$ent2" "entries of the tree at $((2 * N)) images"
# With PostgreSQL each statement is a round trip, and the rows a walk
# reads are kept (model/meta/image.c's row cache): an image's directory
# reads its row, its copies/, disks/ and shares/ are served from it (four
# statements per image without the cache, as with SQLite).
if [[ -n "${SCALE_DB:-}" ]]; then
    ((stm2 * 10 <= 2 * N * 15)) ||
        fail "the cold walk ran $stm2 statements for $((2 * N)) images: the row cache serves nothing"
fi

say "second walk: no LOOKUP, no READDIRPLUS; at most one GETATTR per directory"
l0=$(requests lookup) r0=$(requests readdirplus) g0=$(requests getattr)
find "$P" -ls >/dev/null
l1=$(requests lookup) r1=$(requests readdirplus) g1=$(requests getattr)
dirs=$(find "$P" -type d | wc -l)
assert_eq 0 $((l1 - l0)) "LOOKUP requests of the second walk"
# No READDIRPLUS, but for a few: with a slow daemon (ASan, a loaded
# machine) the kernel drops the odd cached listing on its own — seen here
# as 2 to 50 of 4,800 for 600 images, with no invalidation sent (counted by
# a breakpoint on fuse_lowlevel_notify_inval_*), and up to 142 in the ASan
# pass of a parallel ctest whose other tests stream gigabytes: a cached
# listing is page cache, and a page the kernel reclaims resets it.  A cache
# that stopped working re-reads them all, and one kind of directory (every
# image's disks/, copies/ or shares/) is an eighth of them: one in ten is
# the bound.
rp_cold=$(awk '$1 == "imgfs_requests_total{op=\"readdirplus\"}" { print $3 - $2 }' <(join "$T/walk.before" "$T/walk.after"))
(( (r1 - r0) * 10 <= rp_cold )) ||
    fail "the second walk sent $((r1 - r0)) READDIRPLUS (the cold walk $rp_cold): listings are not cached"
# (+ private/ itself, whose attributes are never cached, and /stats)
((g1 - g0 <= dirs + 16)) || fail "the second walk sent $((g1 - g0)) GETATTR for $dirs directories"
echo "    $((g1 - g0)) GETATTR for $dirs directories, $((r1 - r0)) READDIRPLUS"

say "third walk: served by the kernel (a handful of requests whatever N is)"
t0=$(all_requests)
find "$P" -ls >/dev/null
t1=$(all_requests)
# /stats itself costs a LOOKUP-free GETATTR/OPEN/READ/RELEASE each time.
((t1 - t0 <= 16 + rp_cold / 10)) || fail "the third walk sent $((t1 - t0)) requests"
echo "    $((t1 - t0)) requests"

say "ls -f, stat, mkdir, rmdir, mv among $((2 * N)) images"
assert_eq $((2 * N + 2)) "$(ls -f "$P" | wc -l)" "ls -f private/"
stat "$P/a-00001/status" >/dev/null
mkdir "$P/c-new"
assert_eq queued "$(status_of "$P/c-new")" "a new image"
mv "$P/c-new" "$P/c-renamed"
[[ -d "$P/c-renamed" && ! -e "$P/c-new" ]] || fail "rename among many images"
rmdir "$P/c-renamed"
[[ ! -e "$P/c-renamed" ]] || fail "rmdir of a queued image"
assert_eq $((2 * N + 2)) "$(ls -f "$P" | wc -l)" "ls -f private/ after mkdir, mv, rmdir"
assert_eq 0 "$(stat_of "$M" imgfs_db_unexpected_scan_rows_total)" "rows read by unexpected full scans"

# A mkdir is one write transaction.  Nothing else may take the write lock
# because of it: the task workers that its change wakes (PostgreSQL's
# NOTIFY) look for work without the lock first (model/task/task.c).
# One at a time, so that each change wakes them (a burst wakes them once).
say "20 mkdir, one at a time: one write transaction each (a mount with its workers)"
remount_imgfs "$S" "$M" "$SCALE_OPTS"
w0=$(stat_of "$M" imgfs_db_write_transactions_total) t0=$(stat_of "$M" imgfs_db_round_trips_total)
for i in $(seq 1 20); do mkdir "$P/d-$i"; sleep 0.05; done
sleep 1 # the watcher and the workers have seen the changes
w1=$(stat_of "$M" imgfs_db_write_transactions_total) t1=$(stat_of "$M" imgfs_db_round_trips_total)
echo "    $((w1 - w0)) write transactions, $((t1 - t0)) round trips"
((w1 - w0 <= 22)) || fail "20 mkdir took $((w1 - w0)) write transactions"

# An instance's mkdir, like an image's, invalidates what it changed in its
# own mount's kernel: with PostgreSQL its commit is quiet, and this mount's
# watcher reads no change row back for it (issue 49; fs/fuse/watch.c).  One
# at a time, so that each commit would wake the watcher (a burst wakes it
# once); the mount's own work between them (a worker's commit, a lease
# renewal's) may make a read or two.
say "20 instance mkdir, one at a time: the watcher reads no change back"
VMS=20
"$IMGFS" admin --state "$S" ${SCALE_DB:+--db "$SCALE_DB"} quota set "$(id -un)" cn-north-1 instances $VMS
nap 0.5 # the quota's change read
t0=$(stat_of "$M" imgfs_db_round_trips_total) c0=$(stat_of "$M" imgfs_db_change_log_reads_total)
for i in $(seq 1 $VMS); do mkdir "$R/instances/vm-$i"; sleep 0.05; done
nap 0.5 # the watcher and the workers have seen them
t1=$(stat_of "$M" imgfs_db_round_trips_total) c1=$(stat_of "$M" imgfs_db_change_log_reads_total)
echo "    $VMS instance mkdir: $((t1 - t0)) round trips, $((c1 - c0)) reads of the change log"
assert_eq $VMS "$(ls "$R/instances" | grep -c '^vm-')" "instances made"
# (SQLite has no quiet commits: counted, not judged.)
[[ -z "${SCALE_DB:-}" ]] || ((c1 - c0 <= VMS / 4)) ||
    fail "$VMS instance mkdir woke this mount's watcher $((c1 - c0)) times: their commits are not quiet"

#!/usr/bin/env bash
# test_rados_import_hosts: a URL import survives its host (SPEC §13, §5.2).  Two
# hosts (two state directories on this machine, -o host=a and -o host=b)
# share the suite's PostgreSQL; the region's chunks are in a Ceph RADOS
# pool.  Two imports of slow local HTTP files (serve.py slow, 800 KiB/s,
# every GET counted: SERVE_LOG) start on a, which makes a durable point
# every 384 KiB (IMGFS_IMPORT_SYNC_BYTES: not a whole number of chunks, so
# a point ends inside a chunk): x runs, y waits for a's only worker, and
# b, whose worker is free, leaves y to a while a lives; a is killed
# (kill -9) with more than a chunk of x durable:
#   - b takes an import over once a's lease lapsed, not before, from its
#     durable point (the log says which byte), the task then bound to b
#     (its row says b);
#   - `host remove a` meanwhile: the other import is not ended in error
#     but taken over the same way once b's worker is free;
#   - each file then reads back exact (sha256) through b; the server saw
#     exactly two GETs of x: a's from 0, and b's "Range: bytes=M-"
#     where M is the durable point b logged — no byte before M fetched
#     twice, and a received at most one interval (plus what was in flight)
#     past it;
#   - y, never started, is taken over from 0 and fetched once;
#   - an import on a third host c from a range server that holds chunks
#     2 to 9 back (earlyhttp.py), an instance there started early from it
#     (§6.5: its first MiB read through); an instance on b started early
#     from it too reads the chunks c made durable (2 MiB) from the cluster
#     (no request) and chunk 11, past c's window, from the source (one
#     range, its row written); c's import then takes chunk 11 from the
#     cluster (its windows go 2-9, 10, 12-19: around it), gets chunks 12
#     and 13 past its durable point (12 MiB), of which e2 reads 12 from
#     the cluster (no request), and is killed: b takes the
#     import over from that point, takes 12 and 13 from the cluster by
#     c's rows and asks for the rest (one range); by the server's own
#     count no byte of z was sent twice across the three hosts, and z's
#     sha256 and bytes (e2's too) are the file's;
#   - b's boot profile of z (the chunks e2 read first) is in the
#     database: an import of z's URL on a fourth host d asks for its
#     chunks first;
#   - fsck clean afterwards.
# Cost: about 25 s (x takes 7 s to serve; the lease is 3 s), z's part about 12 s more, d's 4 s.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

SERVE="$INTEGRATION_DIR/../servers/serve.py"
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
NS="ih$$x$RANDOM"
# The hosts' import does not give way to their own early readers here (SPEC
# §6.5 "The import gives way": test_early's subject): the ranges this test
# counts are the hosts' sharing of what arrived, and c's hold after e1's
# read (30 s quiet by default) would move c's windows by the machine's load.
export IMGFS_EARLY_QUIET_MS=0 IMGFS_EARLY_OPEN_HOLD_MS=0
SYNC=$((384 << 10))
chmod 711 "$T" # the database server runs as the postgres user
pg_database URL
ceph_cluster CA "$T/ceph" imgfs-r1
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }
me=$(id -un)

say "the files, a slow server counting what it sends"
F="$T/files"
mkdir -p "$F"
# Raw disks (an MBR's boot signature) of random bytes, not whole chunks.
for f in x:$(((5 << 20) + 12345)) y:$((300 << 10)) z:$(((20 << 20) + 777)); do
    python3 - "$F/${f%%:*}.raw" "${f#*:}" <<'EOF'
import os, sys
data = bytearray(os.urandom(int(sys.argv[2])))
data[0:2] = b"\xeb\x63"
data[446:510] = bytes(64)
data[510:512] = b"\x55\xaa"
open(sys.argv[1], "wb").write(data)
EOF
done
SERVE_LOG="$T/served" /usr/bin/python3 "$SERVE" slow "$F" >"$T/serve.out" 2>"$T/serve.err" &
spid=$!
at_exit "kill $spid"
wait_for 30 grep -q '^PORT ' "$T/serve.out" || fail "the server did not start: $(cat "$T/serve.err")"
PORT=$(awk '$1 == "PORT" { print $2 }' "$T/serve.out")

say "a service in PostgreSQL with region r1 in a pool; a and b mounted, a's lease 3 s"
admin init >/dev/null
admin region add r1 --store "rados:imgfs-r1,conf=$CA,ns=$NS" || fail "region add r1"
admin lease 3
admin import allow 127.0.0.1 >/dev/null
A="$T/mnt-a" B="$T/mnt-b"
IMGFS_IMPORT_SYNC_BYTES=$SYNC mount_imgfs "$T/state-a" "$A" "db=$URL,host=a,workers=1"
IMGFS_IMPORT_SYNC_BYTES=$SYNC mount_imgfs "$T/state-b" "$B" "db=$URL,host=b,workers=1"
admin quota set "$me" r1 private-images 10
PA="$A/regions/r1/private" PB="$B/regions/r1/private"

say "two imports on a (one runs, one waits for a's only worker); a killed once the first made more than a chunk durable"
mkdir "$PA/x" "$PA/y"
echo "url http://127.0.0.1:$PORT/x.raw" >"$PA/x/source"
wait_for 10 grep -q '^state running' "$PA/x/task" || fail "x does not run on a: $(cat "$PA/x/task")"
echo "url http://127.0.0.1:$PORT/y.raw" >"$PA/y/source"
done_bytes() { awk '$1 == "bytes-done" { print $2 }' "$1/task" 2>/dev/null || echo 0; }
past() { (($(done_bytes "$PA/x") >= (2 << 20))); }
wait_for 20 past || fail "a's import made no progress: $(cat "$PA/x/task")"
# b's worker is free all along: a queued import of a live host stays its.
grep -q '^state queued' "$PA/y/task" || fail "y is not waiting on a: $(cat "$PA/y/task")"
! grep -q 'taken over' "$T/state-b/imgfs.log" || fail "b took an import of a live host: $(grep 'taken over' "$T/state-b/imgfs.log")"
t0=$(date +%s.%N)
kill_imgfs "$A"

say "b takes one over once a's lease lapsed, from its durable point"
log="$T/state-b/imgfs.log"
wait_for 15 grep -q 'taken over from its durable point' "$log" || fail "b took no import over: $(tail -n 5 "$log")"
took=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $t0))")
python3 -c "import sys; sys.exit(0 if $took >= 3 * 0.75 else 1)" || fail "b took it over $took s after a died: before the lease lapsed"
echo "    taken over $took s after a died"
# The take-over binds the task to b (x has seconds of bytes to go at the
# slow server's pace): its row names b, so that a later `host remove a`
# or a's return never claims it back (the task file shows the runner, not
# this binding: the row is read as test_rados_admin does).
assert_eq b "$(psql -qtAX "$URL" -c "SELECT t.host FROM tasks t JOIN images i ON i.id = t.image_id WHERE i.name = 'x'")" \
    "the host x's task is bound to after b took it over"

say "host remove a meanwhile: the other import is taken over too, not ended"
admin host remove a || fail "host remove a"
imgfs_wait "$PB/x" "$PB/y" >"$T/wait.out" 2>&1 ||
    { cat "$T/wait.out" >&2; fail "imgfs wait: x $(cat "$PB/x/error"), y $(cat "$PB/y/error")"; }
grep 'taken over from its durable point' "$log"
(($(grep -c 'taken over from its durable point' "$log") == 2)) || fail "b did not take both imports over"

say "each file exact, and fetched once before its durable point"
cat "$T/served"
for f in x; do
    assert_eq "$(sha256sum <"$F/$f.raw" | cut -d' ' -f1)" "$(sha256sum <"$PB/$f/disks/vda" | cut -d' ' -f1)" "$f's bytes on b"
    size=$(stat -c %s "$F/$f.raw")
    m=$(sed -n "s/.*import of image [^ ]* ($f) taken over from its durable point, byte \([0-9]*\) .*/\1/p" "$log")
    [[ -n "$m" ]] || fail "no take-over line for $f"
    ((m > (1 << 20) && m % (1 << 20) != 0)) || fail "$f's durable point $m: not inside a chunk past the first"
    mapfile -t gets < <(grep "^GET /$f.raw " "$T/served")
    ((${#gets[@]} == 2)) || fail "$f fetched ${#gets[@]} times, not twice"
    read -r _ _ r1 c1 s1 <<<"${gets[0]}"
    read -r _ _ r2 c2 s2 <<<"${gets[1]}"
    assert_eq "- 200" "$r1 $c1" "a's GET of $f"
    assert_eq "bytes=$m- 206 $((size - m))" "$r2 $c2 $s2" "b's GET of $f"
    ((s1 >= m && s1 - m <= SYNC + (256 << 10))) || fail "a got $s1 bytes of $f, durable point $m: more than an interval lost"
done
assert_eq "$(sha256sum <"$F/y.raw" | cut -d' ' -f1)" "$(sha256sum <"$PB/y/disks/vda" | cut -d' ' -f1)" "y's bytes on b"
grep -q 'import of image [^ ]* (y) taken over from its durable point, byte 0 ' "$log" || fail "y not taken over from 0"
assert_eq "GET /y.raw - 200 $((300 << 10))" "$(grep '^GET /y.raw ' "$T/served")" "y fetched once, by b"

say "an import on c an instance there started early from (§6.5 Early), its source held back past 2 MiB"
MiB=1048576
ZCTL="$T/zctl" ZLOG="$T/zserved"
mkdir -p "$ZCTL"
# Chunks 2 to 9 held back (c's first window; 10 to 20 are not): c's
# import stops at 2 MiB.
echo "$((2 * MiB)) $((10 * MiB))" >"$ZCTL/stop_range"
/usr/bin/python3 "$INTEGRATION_DIR/earlyhttp.py" "$F" "$ZCTL" "$ZLOG" --rate $((4 * MiB)) >"$T/zserver.out" 2>"$T/zserver.err" &
zpid=$!
at_exit "kill $zpid"
wait_for 30 grep -q '^PORT ' "$T/zserver.out" || fail "the range server did not start: $(cat "$T/zserver.err")"
ZPORT=$(awk '$1 == "PORT" { print $2 }' "$T/zserver.out")
C="$T/mnt-c"
IMGFS_IMPORT_SYNC_BYTES=$SYNC mount_imgfs "$T/state-c" "$C" "db=$URL,host=c,workers=1"
PC="$C/regions/r1/private"
mkdir "$PC/z" "$C/regions/r1/instances/e1"
echo "url http://127.0.0.1:$ZPORT/z.raw" >"$PC/z/source"
zsize=$(stat -c %s "$F/z.raw")
wait_for 10 grep -q "^bytes-total $zsize\$" "$PC/z/task" || fail "z announced no size on c: $(cat "$PC/z/task")"
# The stream at the held 2 MiB first (the server's count): the turn to
# ranges then throws nothing away (SPEC §6.5: what the socket held past
# the stream's last byte read is the one overlap an early import has).
zsent() { python3 -c 'import sys, urllib.request
print(int(urllib.request.urlopen("http://127.0.0.1:%s/.sent/z.raw" % sys.argv[1]).read()))' "$ZPORT"; }
wait_eq 10 $((2 * MiB)) zsent || fail "z's stream did not reach the held 2 MiB: $(zsent)"
echo "early private/z" >"$C/regions/r1/instances/e1/image"
assert_eq "stopped early" "$(status_of "$C/regions/r1/instances/e1")" "e1's status on c"
assert_eq "$(head -c $MiB "$F/z.raw" | sha256sum)" "$(head -c $MiB "$C/regions/r1/instances/e1/disks/vda" | sha256sum)" \
    "e1's first MiB read early on c"
assert_match $'op import\nstate running\nhost c\n.*' "$(cat "$PC/z/task")" "z's task on c"
# c's durable point: the size of its import's blob row (tasks.resume names those bytes).
zdur() {
    psql -qtAX "$URL" -c "SELECT b.size FROM tasks t JOIN images i ON i.id = t.image_id
        JOIN blobs b ON b.id = split_part(t.args, ' ', 1)::bigint WHERE i.name = 'z'"
}
wait_eq 20 $((2 * MiB)) zdur || fail "c's durable point of z: $(zdur), not 2 MiB"
zreqs() { grep -c '^BEGIN z.raw ' "$ZLOG"; }
# One chunk, read without the kernel's read-ahead (which would read the next).
mib() { dd if="$1" bs=1M skip="$2" count=1 iflag=direct status=none | sha256sum; }

say "b's instance early from z reads what c made durable from the cluster, the rest from the source"
V2="$B/regions/r1/instances/e2/disks/vda"
mkdir "$B/regions/r1/instances/e2"
echo "early private/z" >"$B/regions/r1/instances/e2/image"
n0=$(zreqs)
assert_eq "$(mib "$F/z.raw" 0)" "$(mib "$V2" 0)" "e2's chunk 0 read early on b"
assert_eq "$(mib "$F/z.raw" 1)" "$(mib "$V2" 1)" "e2's chunk 1 read early on b"
assert_eq "$n0" "$(zreqs)" "requests of z after b read chunks 0 and 1, which c made durable"
assert_eq "$(mib "$F/z.raw" 11)" "$(mib "$V2" 11)" "e2's chunk 11 read early on b"
assert_eq "$((n0 + 1)) BEGIN z.raw $((11 * MiB)) $((12 * MiB)) 206" "$(zreqs) $(grep '^BEGIN z.raw ' "$ZLOG" | tail -n 1)" \
    "b's request of chunk 11, past c's window"
assert_eq "$((3 * MiB)) $zsize" "$(cat "$B/regions/r1/instances/e2/arrived")" "e2's arrived on b"
# zrows: the chunks of z recorded past a durable point (§6.5 "Faults").
zrows() {
    psql -qtAX "$URL" -c "SELECT string_agg(g.idx::text, ' ' ORDER BY g.idx) FROM early_got g
        JOIN images i ON i.id = g.image_id WHERE i.name = 'z'"
}
assert_eq 11 "$(zrows)" "the row of the chunk b fetched"

say "c's import takes the chunk b fetched from the cluster; it gets 12 and 13 past its durable point and is killed"
echo "$((14 * MiB)) $((20 * MiB))" >"$ZCTL/stop_range"
zpast() { read -r got _ <"$C/regions/r1/instances/e1/arrived" && ((got >= 14 * MiB)); }
wait_for 30 zpast || fail "c's early import did not reach 14 MiB: $(cat "$C/regions/r1/instances/e1/arrived")"
wait_eq 10 $((12 * MiB)) zdur || fail "c's durable point of z: $(zdur), not 12 MiB"
# c's windows after b's range: around chunk 11, which it took from b's row.
assert_eq "BEGIN z.raw $((10 * MiB)) $((11 * MiB)) 206
BEGIN z.raw $((12 * MiB)) $((20 * MiB)) 206" "$(grep '^BEGIN z.raw ' "$ZLOG" | tail -n +$((n0 + 2)))" \
    "c's requests of z after b fetched chunk 11"
assert_eq "2 3 4 5 6 7 8 9 10 11 12 13" "$(zrows)" "the chunks recorded"
# b's instance reads chunk 12, which c fetched past its durable point:
# from the cluster, by c's row, with no request.
n12=$(zreqs)
assert_eq "$(mib "$F/z.raw" 12)" "$(mib "$V2" 12)" "e2's chunk 12 read early on b"
assert_eq "$n12" "$(zreqs)" "requests of z after b read chunk 12, which c recorded past its durable point"
kill_imgfs "$C"
n1=$(zreqs)
rm "$ZCTL/stop_range"
wait_for 15 grep -q 'import of image [^ ]* (z) taken over from its durable point' "$log" ||
    fail "b did not take z over: $(tail -n 5 "$log")"
zm=$(sed -n 's/.*import of image [^ ]* (z) taken over from its durable point, byte \([0-9]*\) .*/\1/p' "$log")
assert_eq $((12 * MiB)) "$zm" "z's durable point b took over from"
imgfs_wait "$PB/z" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait z: $(cat "$PB/z/error")"; }
assert_eq "" "$(zrows)" "z's rows once it sealed"
assert_eq "$(sha256sum <"$F/z.raw" | cut -d' ' -f1)" "$(cat "$PB/z/sha256")" "z's sha256 after b took it over"
assert_eq "$(sha256sum <"$F/z.raw" | cut -d' ' -f1)" "$(sha256sum <"$PB/z/disks/vda" | cut -d' ' -f1)" "z's bytes on b"
# b's import goes on early (e2 reads through it): one range, past the
# chunks c recorded (12, 13).
assert_eq "BEGIN z.raw $((14 * MiB)) $zsize 206" "$(grep '^BEGIN z.raw ' "$ZLOG" | tail -n +$((n1 + 1)))" \
    "b's requests of z after c died"
# By the server's count: every byte of z sent once, across c, b and b's reader.
python3 - "$ZLOG" "$zsize" <<'EOF' || fail "z's bytes sent twice, or not all"
import sys
size = int(sys.argv[2])
r = sorted((int(a), int(b)) for k, n, a, b, _ in (l.split() for l in open(sys.argv[1]))
           if k == "SENT" and n == "z.raw" and int(b) > int(a))
print("    z's ranges sent:", r)
for (a0, b0), (a1, b1) in zip(r, r[1:]):
    if a1 < b0:
        sys.exit("sent twice: [%d, %d) and [%d, %d)" % (a0, b0, a1, b1))
sys.exit(r[0][0] != 0 or r[-1][1] != size or any(b0 != a1 for (_, b0), (a1, _) in zip(r, r[1:])))
EOF
assert_eq "$(sha256sum <"$F/z.raw" | cut -d' ' -f1)  -" "$(sha256sum <"$V2")" "e2's vda on b"

say "b's boot profile of z (e2's first reads: chunks 0, 1, 11, 12) orders an import of its URL on a fourth host d"
assert_eq 1 "$(psql -qtAX "$URL" -c "SELECT count(*) FROM early_profiles")" "the profiles in the database"
D="$T/mnt-d"
echo $MiB >"$ZCTL/stop_at"
mount_imgfs "$T/state-d" "$D" "db=$URL,host=d,workers=1"
PD="$D/regions/r1/private"
n2=$(zreqs)
mkdir "$PD/z2"
echo "url http://127.0.0.1:$ZPORT/z.raw" >"$PD/z2/source"
# A plain import whose URL has a profile turns to windows at once (the
# stream held at its first MiB, the chunk it was in completed by a range
# inside it), its first the profile's chunk 1 and the run after it; then
# chunk 11's run, before the lowest.
wait_for 20 grep -q "^BEGIN z.raw $MiB " "$ZLOG" || fail "d's import asked for no window at 1 MiB: $(tail -n 3 "$ZLOG")"
rm "$ZCTL/stop_at"
imgfs_wait "$PD/z2" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait z2: $(cat "$PD/z2/error")"; }
order=$(tail -n +$((n2 + 1)) <(grep '^BEGIN z.raw ' "$ZLOG") | awk '$3 >= 1048576 { printf "%d ", $3 / 1048576 }')
assert_eq "1 11 9 19 " "$order" "the MiB each of d's ranges began at"
assert_eq "$(sha256sum <"$F/z.raw" | cut -d' ' -f1)" "$(cat "$PD/z2/sha256")" "z2's sha256 on d"
admin host remove c || fail "host remove c"
# e1's disk was local to c (§13.14): lost, not moved.
wait_for 10 grep -q '^lost: ' "$B/regions/r1/instances/e1/status" ||
    fail "e1 after c was removed: $(cat "$B/regions/r1/instances/e1/status")"

say "fsck clean"
"$IMGFS" admin --state "$T/state-b" --db "$URL" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck"; }

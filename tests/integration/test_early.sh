#!/usr/bin/env bash
# SPEC §6.5 "Early", §16.11, §5.2, §11: an instance built from an image
# whose URL import still runs (`echo early private/IMG > image`) reads
# its disks/vda through the image: a recorded read trace (scattered
# offsets) replayed while the source sends its bytes gives every byte of
# the source file; by the server's own log no byte range is sent twice and
# the whole import costs at most 1.02x the file; the import ends with the
# file's sha256; a guest's write into a chunk not yet arrived keeps the
# image's other bytes, survives a remount (which settles the disk into an
# ordinary one).  A boot profile: a later import of the URL, early or
# plain, asks for the chunks the first boot read first.  Faults: a source
# that pauses makes the read EIO (within the stall timeout), a source
# whose file changed makes it EIO, never other bytes, and the image's
# error and the log's line of the read say why (§9); a daemon killed
# (kill -9) in an early import: its next run fetches none of the chunks
# that had arrived past the durable point, for a raw and a QCOW2 source
# (the QCOW2 file looked at again, its disk's bytes); the database's rows
# of them name exactly the chunks stored (none of a window in flight),
# and go with the import (sealed, or cancelled: in the cancel's
# transaction).  Refusals of the
# write.  QCOW2 sources (qemu-img convert): each read fetches its L2
# table's chunk, then its clusters', nothing twice; every byte against
# qemu-img convert -O raw, during, across and after the import and after
# the settle; the decoder's bounds at and one past (2/4 MiB clusters, a
# 32 MiB L1 table).  The import gives way to readers: no window beside a
# reader's reads but the share's chunk, the profile's chunks one range
# each, on when the reader is quiet or closed, and a chunk a second
# beside a reader that never stops (IMGFS_EARLY_*).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
MiB=1048576
SIZE=$((8 * MiB))
GSIZE=$((16 * MiB))

say "the files: 16 and 12 MiB raw disks (an MBR, random bytes, a chunk of zeros), and a changed one"
F="$T/files"
CTL="$T/ctl"
LOG="$T/served.log"
mkdir -p "$F/changed" "$CTL"
python3 - "$F" <<'EOF'
import os, sys
d = sys.argv[1]
def disk(path, mib=8):
    b = bytearray(os.urandom(mib << 20))
    b[2 << 20:3 << 20] = bytes(1 << 20) # a chunk of zeros: a hole, fetched once all the same
    b[0:512] = bytes(512)
    b[0:2] = b"\xeb\x63"
    b[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.write(b)
disk(os.path.join(d, "golden.raw"), 16)
disk(os.path.join(d, "yield.raw"), 20)
disk(os.path.join(d, "bound.raw"), 12)
# 12 MiB: chunks 9 to 11 lie past the import's first range (8 chunks),
# so a read there asks the source itself.
for n in ("paused.raw", "changing.raw", "changed/changing.raw"):
    disk(os.path.join(d, n), 12)
EOF

/usr/bin/python3 "$INTEGRATION_DIR/earlyhttp.py" "$F" "$CTL" "$LOG" --rate $((4 * MiB)) >"$T/server.out" 2>"$T/server.err" &
SERVER=$!
at_exit "kill $SERVER"
wait_for 30 grep -q '^PORT ' "$T/server.out" || { cat "$T/server.err" >&2; fail "the server did not start"; }
PORT=$(awk '$1 == "PORT" { print $2 }' "$T/server.out")

# The import's stall timeout (§5.2), for the held ranges below; the
# faults' mount makes it 4 s (a read stalls that long at most).
export IMGFS_IMPORT_STALL_TIMEOUT=30
# The import gives way to readers (§6.5 "Early", §12.8): held 2 s after
# a read, a chunk let through for every 3 a reader brought; no hold at an
# early start before a read (the sections below count the first window)
# nor by time (a bound of 10 minutes: never reached here).
export IMGFS_EARLY_QUIET_MS=2000 IMGFS_EARLY_OPEN_HOLD_MS=0 IMGFS_EARLY_SHARE=3 IMGFS_EARLY_HOLD_MAX_MS=600000
setup_mount
P="$R/private"
imgfs_admin "$S" import allow 127.0.0.1 >/dev/null
# Fifteen images (six of them QCOW2 sources, at most thirteen at once) and
# eleven instances.
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 14
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 instances 14

# start IMG FILE VM [SIZE]: the import of FILE begins and sends its first MiB,
# then waits (stop_at) until the test lets it go on; once the task knows
# the size (an early start needs it), instance VM starts early from it,
# and the import turns to ranges (the instance's `arrived` shows the MiB
# the stream brought): nothing of the stream is in flight then.
start() {
    local size=${4:-$SIZE}
    echo $MiB >"$CTL/stop_at"
    mkdir "$P/$1"
    echo "url http://127.0.0.1:$PORT/$2" >"$P/$1/source"
    wait_for 30 grep -q "^bytes-total $size\$" "$P/$1/task" || fail "$1: the import announced no size: $(cat "$P/$1/task")"
    echo "early private/$1" >"$R/instances/$3/image"
    wait_for 30 grep -q "^$MiB $size\$" "$R/instances/$3/arrived" ||
        fail "$3: arrived is not the first MiB: $(cat "$R/instances/$3/arrived")"
}

say "refusals: early from an image that is not being imported, from an unknown one"
mkdir "$P/queued" "$R/instances/web1"
assert_errno EINVAL write "$R/instances/web1/image" "early private/queued"
assert_match '.* EINVAL early takes an image being imported from a URL or copied from another region; the image is queued' "$(tail -1 "$M/errors")" "errors"
assert_errno ENOENT write "$R/instances/web1/image" "early private/nothing"

say "an early start while the first MiB is in: status, arrived"
# The import's first range (chunks 1 to 8) and chunk 9 are held by the
# server until the test lets them go: the reads below find the chunks
# past them not arrived, and fetch them themselves.
echo "$MiB $((10 * MiB))" >"$CTL/stop_range"
start golden golden.raw web1 $GSIZE
assert_eq "stopped early" "$(cat "$R/instances/web1/status")" "status of an early instance"
assert_eq $GSIZE "$(stat -c %s "$R/instances/web1/disks/vda")" "vda's size"
echo start >"$R/instances/web1/status"
assert_eq "running early" "$(cat "$R/instances/web1/status")" "status of a running early instance"
rm "$CTL/stop_at"

say "a recorded read trace replayed against the early disk, every byte compared"
# Offsets a guest's boot reads out of order, past what arrived: the last
# chunk, across chunk boundaries, the zeros, the first sector again.
python3 - "$R/instances/web1/disks/vda" "$F/golden.raw" <<'PY'
import os, sys
MiB = 1 << 20
trace = [(15 * MiB + 4096, 65536), (0, 512), (11 * MiB - 100, 200), (10 * MiB + 7, 4096),
         (13 * MiB, 131072), (12 * MiB + 123, 65536), (16 * MiB - 512, 512), (1 * MiB - 1, 1),
         (14 * MiB + 65536, 65536), (0, 4096)]
src = open(sys.argv[2], "rb").read()
fd = os.open(sys.argv[1], os.O_RDONLY)
for off, n in trace:
    got = os.pread(fd, n, off)
    if got != src[off:off + n]:
        sys.exit("bytes differ at %d (+%d)" % (off, n))
os.close(fd)
PY

say "a write into a chunk of the image: the chunk is the disk's own, the rest the image's"
printf 'early-guest-write' | dd of="$R/instances/web1/disks/vda" bs=1 seek=$((14 * MiB + 100)) conv=notrunc status=none
python3 - "$F/golden.raw" "$T/expected.raw" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[14 * 1048576 + 100:14 * 1048576 + 100 + 17] = b"early-guest-write"
open(sys.argv[2], "wb").write(b)
PY
cmp -n $((16 * MiB)) -i $((14 * MiB)):$((14 * MiB)) "$T/expected.raw" "$R/instances/web1/disks/vda" >&2 ||
    fail "vda's chunks 14 and 15 after the write"
[[ -e "$S/early" && -n "$(ls "$S/early")" ]] || fail "the disk is no longer early: the test's timing is off"

say "a read of a chunk in flight waits for it; the import goes around it"
python3 -c 'import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); open(sys.argv[2],"wb").write(os.pread(fd,8192,9*1048576+5))' \
    "$R/instances/web1/disks/vda" "$T/chunk9" &
READER=$!
# Chunk 9 in flight for the reader (held); the import's range goes on
# (chunks 1 to 8), then only chunk 9 is left, and it is the reader's.
wait_for 30 grep -q "^BEGIN golden.raw $((9 * MiB)) " "$LOG" || fail "the reader did not ask for chunk 9"
# A second reader of the same piece while it is in flight waits for it
# (SPEC §6.5 "Reads": the server's log below sends no byte twice).
python3 -c 'import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); open(sys.argv[2],"wb").write(os.pread(fd,4096,9*1048576+8192))' \
    "$R/instances/web1/disks/vda" "$T/chunk9b" &
READER2=$!
echo "$((9 * MiB)) $((10 * MiB))" >"$CTL/stop_range"
wait_for 60 grep -q "^$((15 * MiB)) $GSIZE\$" "$R/instances/web1/arrived" ||
    fail "arrived: $(cat "$R/instances/web1/arrived"), not all but chunk 9"
rm "$CTL/stop_range"
wait "$READER" || fail "the read of chunk 9"
wait "$READER2" || fail "the second read of chunk 9's piece"
cmp -n 8192 -i $((9 * MiB + 5)):0 "$F/golden.raw" "$T/chunk9" >&2 || fail "chunk 9's bytes"
cmp -n 4096 -i $((9 * MiB + 8192)):0 "$F/golden.raw" "$T/chunk9b" >&2 || fail "chunk 9's bytes, the second reader's"

say "the import ends as a plain one: available, the file's sha256"
imgfs_wait "$P/golden" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait golden: $(cat "$P/golden/error")"; }
assert_eq available "$(status_of "$P/golden")" "golden's status"
assert_file_eq "$F/golden.raw" "$P/golden/disks/vda" "golden's disk"
wait_for 60 grep -q . "$P/golden/sha256" || fail "golden: no sha256"
assert_eq "$(sha256sum <"$F/golden.raw" | cut -d' ' -f1)" "$(cat "$P/golden/sha256")" "golden's sha256"
assert_eq "running" "$(cat "$R/instances/web1/status")" "status once the image arrived"
assert_file_eq "$T/expected.raw" "$R/instances/web1/disks/vda" "vda once its image arrived"

say "counted by the server: no byte range sent twice, at most 1.02x the file, ranges of at most 8 chunks"
python3 - "$LOG" golden.raw $GSIZE <<'EOF'
import sys
log, name, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = sorted((int(a), int(b)) for k, n, a, b, _ in (l.split() for l in open(log)) if k == "SENT" and n == name and int(b) > int(a))
total = sum(b - a for a, b in r)
# SPEC §6.5 "Reads", the turn: a turn to ranges mid-chunk (the early
# write came before the stream brought a whole chunk) throws away what
# the socket held past the stream's last byte read, and the chunk's rest
# is asked from there: sent (counted in the total), not sent twice.
if len(r) > 1 and r[0][0] == 0 and r[1][0] < r[0][1] and r[1][0] >= (r[0][1] - 1) // (1 << 20) * (1 << 20):
    r[0] = (0, r[1][0])
for (a0, b0), (a1, b1) in zip(r, r[1:]):
    if a1 < b0:
        sys.stderr.write("".join(l for l in open(log) if l.split()[1:2] == [name]))  # the server's story, in order
        sys.exit("sent twice: [%d, %d) and [%d, %d)" % (a0, b0, a1, b1))
if r[0][0] != 0 or any(b0 != a1 for (_, b0), (a1, _) in zip(r, r[1:])) or r[-1][1] != size:
    sys.exit("not the whole file: %r" % r)
if total > size * 1.02:
    sys.exit("sent %d bytes for a file of %d" % (total, size))
# Past the stream's first MiB, every range is at most the import's window
# of 8 chunks, and the window's first range is exactly that long.
ranges = [b - a for a, b in r[1:]]
if max(ranges) != 8 << 20 or any(n > 8 << 20 for n in ranges):
    sys.exit("ranges past the window of 8 MiB, or none as long: %r" % ranges)
print("ranges=%d bytes=%d" % (len(r), total))
EOF

say "the import gives way to a reader: no window between its reads but the share's one chunk, then on when it is quiet"
# A 20 MiB file.  The import's first window (chunks 1 to 8) is in flight
# when the reader opens the disk and reads chunk 19 (again and again
# while it waits); once that window is in, the reader reads chunks 14,
# 15, 13, 11, 10 with the disk open: the import asks for nothing beside
# them but one window of one chunk (9, the lowest) once the reader
# brought 3 (IMGFS_EARLY_SHARE).  The reader keeps the disk open and
# reads no more: 2 s later (IMGFS_EARLY_QUIET_MS) the import goes on,
# chunk 12, then 16 to 18, and ends as a plain one.
mkdir "$R/instances/yweb"
echo "$MiB $((9 * MiB))" >"$CTL/stop_range"
seen=$(wc -l <"$LOG")
start yielded yield.raw yweb $((20 * MiB))
rm "$CTL/stop_at"
python3 - "$R/instances/yweb/disks/vda" "$F/yield.raw" "$T/yield" <<'PY' &
import mmap, os, sys, time
MiB = 1 << 20
vda, src, sig = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3]
# O_DIRECT: each read is the daemon's (no read-ahead, no page cache).
fd = os.open(vda, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, MiB)
def read(i):
    if os.preadv(fd, [buf], i * MiB) != MiB or buf[:] != src[i * MiB:(i + 1) * MiB]:
        sys.exit("chunk %d differs" % i)
def wait(name, busy):
    end = time.monotonic() + 120 # the test failed meanwhile: no reader left behind
    while not os.path.exists(sig + "." + name):
        if time.monotonic() > end:
            sys.exit("no " + name)
        if busy: # the reader goes on reading what it has
            read(19)
        time.sleep(0.1)
read(19)
open(sig + ".ready", "w").close()
wait("go", True)
for i in (14, 15, 13, 11, 10):
    read(i)
open(sig + ".done", "w").close()
wait("close", False)
os.close(fd)
PY
YREADER=$!
at_exit "kill $YREADER 2>/dev/null || true"
wait_for 30 test -e "$T/yield.ready" || fail "the reader did not read chunk 19"
touch "$CTL/unpaced" # the window of chunks 1 to 8 at once
rm "$CTL/stop_range"
wait_for 30 grep -q "^$((10 * MiB)) " "$R/instances/yweb/arrived" ||
    fail "arrived: $(cat "$R/instances/yweb/arrived"), not chunks 0 to 8 and 19"
rm "$CTL/unpaced"
touch "$T/yield.go"
wait_for 60 test -e "$T/yield.done" || fail "the reader's chunks 14, 15, 13, 11, 10"
# Past the first MiB (the stream, and the range that completes its chunk
# when the import turned before the chunk was in).
held=$(tail -n +$((seen + 1)) "$LOG" | awk '$1 == "BEGIN" && $2 == "yield.raw" && $3 >= 1048576 { printf "%d-%d ", $3 / 1048576, $4 / 1048576 }')
assert_eq "1-9 9-10 10-11 11-12 13-14 14-15 15-16 19-20 " "$(echo "$held" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" \
    "the ranges while the reader read, sorted ($held)"
wait_for 30 grep -q "^$((20 * MiB)) $((20 * MiB))\$" "$R/instances/yweb/arrived" ||
    fail "the reader quiet with the disk open: the import did not go on: $(cat "$R/instances/yweb/arrived")"
after=$(tail -n +$((seen + 1)) "$LOG" | awk '$1 == "BEGIN" && $2 == "yield.raw" && $3 >= 1048576 { printf "%d-%d ", $3 / 1048576, $4 / 1048576 }')
assert_eq "${held}12-13 16-19 " "$after" "the ranges once the reader was quiet"
touch "$T/yield.close"
wait "$YREADER" || fail "the reader's bytes"
imgfs_wait "$P/yielded" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait yielded: $(cat "$P/yielded/error")"; }
wait_for 60 grep -q . "$P/yielded/sha256" || fail "yielded: no sha256"
assert_eq "$(sha256sum <"$F/yield.raw" | cut -d' ' -f1)" "$(cat "$P/yielded/sha256")" "yielded's sha256"
assert_file_eq "$F/yield.raw" "$R/instances/yweb/disks/vda" "yweb's disk once its image arrived (settled)"
assert_match ".*early import of image .*: windows held [0-9]+ ms beside its readers \([0-9]+ reads, .*; 1 chunks let through\)" \
    "$(grep -F "windows held" "$S/imgfs.log" | tail -1)" "the hold's log line"

# steady_reader DISK FLAG: reads DISK's chunk 0 all along (arrived: it
# fetches nothing; O_DIRECT: each read is the daemon's), FLAG.on once it
# has the disk open, until FLAG.stop; its pid in READER.
steady_reader() {
    python3 - "$1" "$2" <<'PY' &
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
end = time.monotonic() + 120 # the test failed meanwhile: no reader left behind
os.preadv(fd, [buf], 0)
open(sys.argv[2] + ".on", "w").close()
while not os.path.exists(sys.argv[2] + ".stop") and time.monotonic() < end:
    os.preadv(fd, [buf], 0)
    time.sleep(0.1)
PY
    READER=$!
}

say "the boot profile's chunks go beside a reader; the rest waits until it closed the disk"
# yield.raw's profile: 19, 14, 15, 13, 11, 10 (the reader's above).  A
# second early import of it takes 19 when it turns, then, while a reader
# reads the disk all along (chunk 0, arrived, O_DIRECT: each read is the
# daemon's), 14, 15, 13, 11, 10 one range each (not 14 with the run of 5
# after it); the rest waits until the reader closed the disk.
mkdir "$R/instances/yweb2"
seen=$(wc -l <"$LOG")
start yielded2 yield.raw yweb2 $((20 * MiB))
steady_reader "$R/instances/yweb2/disks/vda" "$T/preader"
PREADER=$READER
at_exit "kill $PREADER 2>/dev/null || true"
wait_for 30 test -e "$T/preader.on" || fail "the profile's reader did not open the disk"
touch "$CTL/unpaced" # what is counted here is which chunks, not when
rm "$CTL/stop_at"
wait_for 30 grep -q "^$((7 * MiB)) " "$R/instances/yweb2/arrived" ||
    fail "the profile's chunks (0, 19, 14, 15, 13, 11, 10) beside a reader: arrived $(cat "$R/instances/yweb2/arrived")"
assert_eq "$((7 * MiB)) $((20 * MiB))" "$(cat "$R/instances/yweb2/arrived")" "arrived while the reader reads: the profile's chunks only"
assert_eq "19-20 14-15 15-16 13-14 11-12 10-11 " \
    "$(tail -n +$((seen + 1)) "$LOG" | awk '$1 == "BEGIN" && $2 == "yield.raw" && $3 >= 1048576 { printf "%d-%d ", $3 / 1048576, $4 / 1048576 }')" \
    "the profile's ranges beside the reader"
touch "$T/preader.stop"
wait "$PREADER" || fail "the profile's reader"
imgfs_wait "$P/yielded2" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait yielded2: $(cat "$P/yielded2/error")"; }
wait_for 60 grep -q . "$P/yielded2/sha256" || fail "yielded2: no sha256"
assert_eq "$(sha256sum <"$F/yield.raw" | cut -d' ' -f1)" "$(cat "$P/yielded2/sha256")" "yielded2's sha256"
rm "$CTL/unpaced"
assert_file_eq "$F/yield.raw" "$R/instances/yweb2/disks/vda" "yweb2's disk once its image arrived (settled)"

say "QCOW2 sources (qemu-img convert, 4 KiB clusters): the disk read through its tables, every byte compared"
# A 20 MiB disk (two MiB of zeros: clusters the file does not hold) as a
# QCOW2 of 4 KiB clusters: an L2 table maps 2 MiB, so the file holds ten
# of them between the data, each before its 2 MiB.  The stream brings the
# first MiB (header, L1 table, the first L2 tables); the import's first
# window (chunks 1 to 8) is held, so every chunk past it a read needs is
# the read's own range: its L2 table's chunk first, then its clusters'.
python3 - "$F/qsrc.raw" <<'EOF'
import os, sys
b = bytearray(os.urandom(20 << 20))
b[0:512] = bytes(512)
b[0:2] = b"\xeb\x63"
b[510:512] = b"\x55\xaa"
b[3 << 20:4 << 20] = bytes(1 << 20)
b[(15 << 20) + 4096:(16 << 20) + 4096] = bytes(1 << 20)
open(sys.argv[1], "wb").write(b)
EOF
qemu-img convert -f raw -O qcow2 -o cluster_size=4096 "$F/qsrc.raw" "$F/golden.qcow2"
qemu-img convert -f qcow2 -O raw "$F/golden.qcow2" "$T/qgold.raw"
QSIZE=$(stat -c %s "$F/golden.qcow2")
QV=$((20 * MiB))
mkdir "$R/instances/web5"
seen=$(wc -l <"$LOG")
echo "$MiB $((9 * MiB))" >"$CTL/stop_range"
start qgold golden.qcow2 web5 "$QSIZE"
assert_eq $QV "$(stat -c %s "$R/instances/web5/disks/vda")" "vda's size: the QCOW2's virtual size"
rm "$CTL/stop_at"
python3 - "$R/instances/web5/disks/vda" "$F/golden.qcow2" "$T/qgold.raw" "$LOG" "$seen" <<'EOF'
import os, struct, sys
MiB = 1 << 20
vda, qf, raw, log, seen = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read(), sys.argv[4], int(sys.argv[5])
cbits, = struct.unpack(">I", qf[20:24])
l1off, = struct.unpack(">Q", qf[40:48])
cs, per = 1 << cbits, (1 << cbits) // 8
mask = 0x00fffffffffffe00
def tables(v):
    """The file offsets of v's L2 table and of its cluster (0: none)."""
    l2, = struct.unpack(">Q", qf[l1off + 8 * (v // (cs * per)):][:8])
    l2 &= mask
    e, = struct.unpack(">Q", qf[l2 + 8 * ((v // cs) % per):][:8])
    return l2, e & mask
PIECE = 16384  # EARLY_PIECE: a reader's range of a chunk not arrived is its pieces
def begun():
    out = []
    for l in open(log).readlines()[seen:]:
        k, n, a, b, _ = l.split()
        if k == "BEGIN" and n == "golden.qcow2":
            out.append((int(a), int(b)))
    return out
fetched = set(range(9 * MiB // PIECE))  # the pieces of the stream's chunk 0 and the held window
fd = os.open(vda, os.O_RDONLY)
reads = 0
# Reads in the middle of a 2 MiB run whose L2 table lies in another chunk
# of the file than its clusters, both past the window; then reads that
# need only a table (the zeros), across a chunk boundary of the disk, and
# the disk's last sector: none needs a chunk of the held window.
picks = []
for v in range(3 * MiB // 2 + 7, 20 * MiB, 2 * MiB):
    t, d = tables(v)
    if t // MiB >= 9 and d and d // MiB > t // MiB:
        picks.append((v, 8192))
trace = picks[:3] + [(15 * MiB + 8192, 4096), (16 * MiB - 100, 8192), (20 * MiB - 512, 512)]
if len(picks) < 2:
    sys.exit("the file's layout has no L2 table apart from its clusters: %r" % picks)
for off, n in trace:
    before = len(begun())
    got = os.pread(fd, n, off)
    if got != raw[off:off + n]:
        sys.exit("bytes differ at %d (+%d)" % (off, n))
    ranges = begun()[before:]
    # The pieces the ranges brought, in order: each range whole pieces
    # (the file's end excepted), none sent before.
    new = []
    for a, b in ranges:
        if a % PIECE or (b % PIECE and b != len(qf)):
            sys.exit("read at %d (+%d): a range %d-%d that is not whole pieces" % (off, n, a, b))
        new += range(a // PIECE, (b + PIECE - 1) // PIECE)
    want = []
    for v in range(off - off % cs, off + n, cs):
        t, d = tables(v)
        for x in (t, d):
            for c in range(x // PIECE, (x + cs - 1) // PIECE + 1) if x else ():
                if c not in fetched and c not in want:
                    want.append(c)
    # The table's pieces first, then the clusters'; nothing fetched twice,
    # nothing the read does not need.
    if new != want:
        sys.exit("read at %d (+%d): ranges %r brought pieces %r, its tables and clusters need %r"
                 % (off, n, ranges, new, want))
    fetched.update(new)
    reads += len(ranges)
os.close(fd)
print("reads=%d ranges of the readers=%d" % (len(trace), reads))
EOF

say "a write into the QCOW2 disk; the import ends as a plain one: the file's bytes and sha256"
printf 'qcow2-guest-write' | dd of="$R/instances/web5/disks/vda" bs=1 seek=$((18 * MiB + 7)) conv=notrunc status=none
python3 - "$T/qgold.raw" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[18 * 1048576 + 7:18 * 1048576 + 7 + 17] = b"qcow2-guest-write"
open(sys.argv[1], "wb").write(b)
PY
# A reader holds the disk open across the import's end: its reads then go
# through the sealed QCOW2 file's tables (the disk settles at its next open).
python3 - "$R/instances/web5/disks/vda" "$T/qgold.raw" "$T/qgo" <<'PY' &
import mmap, os, sys, time
# O_DIRECT: read from the mount, not from the pages the other reads cached.
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
open(sys.argv[3] + ".open", "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
raw = open(sys.argv[2], "rb").read()
buf = mmap.mmap(-1, 1 << 20)
for off in range(0, len(raw), 1 << 20):
    if os.preadv(fd, [buf], off) != 1 << 20 or buf[:] != raw[off:off + (1 << 20)]:
        sys.exit("the disk held open across the import's end differs in MiB %d" % (off >> 20))
PY
HOLDER=$!
wait_for 30 test -e "$T/qgo.open" || fail "the reader did not open vda"
touch "$CTL/unpaced"
rm "$CTL/stop_range"
assert_file_eq "$T/qgold.raw" "$R/instances/web5/disks/vda" "the early QCOW2 disk, every byte"
imgfs_wait "$P/qgold" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait qgold: $(cat "$P/qgold/error")"; }
wait_for 60 grep -q . "$P/qgold/sha256" || fail "qgold: no sha256"
assert_eq "$(sha256sum <"$F/golden.qcow2" | cut -d' ' -f1)" "$(cat "$P/qgold/sha256")" "qgold's sha256"
touch "$T/qgo"
wait $HOLDER || fail "the QCOW2 disk once its image arrived (not yet settled)"
python3 - "$LOG" golden.qcow2 "$QSIZE" <<'EOF'
import sys
log, name, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = sorted((int(a), int(b)) for k, n, a, b, _ in (l.split() for l in open(log)) if k == "SENT" and n == name and int(b) > int(a))
total = sum(b - a for a, b in r)
# SPEC §6.5 "Reads", the turn: a turn to ranges mid-chunk (the early
# write came before the stream brought a whole chunk) throws away what
# the socket held past the stream's last byte read, and the chunk's rest
# is asked from there: sent (counted in the total), not sent twice.
if len(r) > 1 and r[0][0] == 0 and r[1][0] < r[0][1] and r[1][0] >= (r[0][1] - 1) // (1 << 20) * (1 << 20):
    r[0] = (0, r[1][0])
for (a0, b0), (a1, b1) in zip(r, r[1:]):
    if a1 < b0:
        sys.stderr.write("".join(l for l in open(log) if l.split()[1:2] == [name]))  # the server's story, in order
        sys.exit("sent twice: [%d, %d) and [%d, %d)" % (a0, b0, a1, b1))
if r[0][0] != 0 or any(b0 != a1 for (_, b0), (a1, _) in zip(r, r[1:])) or r[-1][1] != size:
    sys.exit("not the whole file: %r" % r)
if total > size * 1.02:
    sys.exit("sent %d bytes for a file of %d" % (total, size))
EOF

say "QCOW2 bounds (SPEC §12.8): clusters of 2 MiB (an L2 table of 2 MiB) and an L1 table of 32 MiB are read; one past is refused with why"
python3 -c 'import os,sys; open(sys.argv[1],"wb").write(os.urandom(3 << 20))' "$T/c2m.raw"
qemu-img convert -f raw -O qcow2 -o cluster_size=2M "$T/c2m.raw" "$F/c2m.qcow2"
qemu-img create -q -f qcow2 -o cluster_size=512 "$F/small.qcow2" 1M
python3 - "$F" <<'EOF'
import struct, sys
d = sys.argv[1]
c = bytearray(open(d + "/c2m.qcow2", "rb").read())
c[20:24] = struct.pack(">I", 22)                      # clusters of 4 MiB
open(d + "/c4m.qcow2", "wb").write(c)
# 128 GiB of 512-byte clusters: an L1 table of 4194304 entries, 32 MiB
# (qemu-img's own takes 11 s to make one: its refcounts), at the file's
# end, its last entry naming an L2 table whose last 8 clusters hold 0x5a.
q = bytearray(open(d + "/small.qcow2", "rb").read())
q += bytes(-len(q) % 512)
l1 = len(q)
n = 4194304
l2 = l1 + 8 * n
data = l2 + 512
q[24:32] = struct.pack(">Q", 128 << 30)
q[36:40] = struct.pack(">I", n)
q[40:48] = struct.pack(">Q", l1)
table = bytearray(8 * n)
table[8 * (n - 1):] = struct.pack(">Q", l2 | 1 << 63)
l2t = bytearray(512)
for k in range(8):
    l2t[8 * (56 + k):8 * (57 + k)] = struct.pack(">Q", (data + 512 * k) | 1 << 63)
open(d + "/l1max.qcow2", "wb").write(q + table + l2t + b"\x5a" * 4096)
q[36:40] = struct.pack(">I", n + 1)                   # an L1 table of 32 MiB + 8
open(d + "/l1over.qcow2", "wb").write(q + table + bytes(8) + l2t + b"\x5a" * 4096)
EOF
# Their tables lie past the stream's first MiB: the write of `early`
# waits for them (its disk's size is the header's, the L1 table read and
# checked first), fetched by ranges while the stream is held.
# Their tables lie past the stream's first MiB: the write of `early`
# waits for them (its disk's size is the header's, the L1 table read and
# checked first), fetched by ranges while the stream is held; the disk is
# then read while its import runs.
for f in c2m l1max; do
    say "  $f.qcow2"
    n=$([[ $f == c2m ]] && echo 6 || echo 7)
    mkdir "$R/instances/web$n" "$P/q$f"
    echo $MiB >"$CTL/stop_at"
    echo "url http://127.0.0.1:$PORT/$f.qcow2" >"$P/q$f/source"
    wait_for 30 grep -q "^bytes-total $(stat -c %s "$F/$f.qcow2")\$" "$P/q$f/task" || fail "q$f: no size announced"
    echo "early private/q$f" >"$R/instances/web$n/image" &
    EARLY=$!
    wait_for 30 grep -Eq "^BEGIN $f.qcow2 [1-9][0-9]* " "$LOG" || fail "q$f: no range for its tables"
    rm "$CTL/stop_at"
    wait $EARLY || fail "q$f: the early start"
    if [[ $f == c2m ]]; then
        assert_eq $((3 * MiB)) "$(stat -c %s "$R/instances/web6/disks/vda")" "c2m's vda"
        cmp "$T/c2m.raw" "$R/instances/web6/disks/vda" >&2 || fail "clusters of 2 MiB: the disk's bytes"
    else
        assert_eq $((128 * 1024 * MiB)) "$(stat -c %s "$R/instances/web7/disks/vda")" "l1max's vda"
        python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end = 128 << 30
sys.exit(os.pread(fd, 8192, end - 8192) != bytes(4096) + b"\x5a" * 4096 or os.pread(fd, 4096, 1 << 30) != bytes(4096))
' "$R/instances/web7/disks/vda" || fail "an L1 table of 32 MiB: the disk's bytes differ"
    fi
    imgfs_wait "$P/q$f" >/dev/null 2>&1 || fail "q$f: $(cat "$P/q$f/error")"
done
# One past: the early start is refused with the decoder's reason (the
# header fetched, nothing built), and the import ends in error with it.
say "  c4m.qcow2, l1over.qcow2"
echo $MiB >"$CTL/stop_at"
for f in c4m l1over; do
    mkdir "$P/q$f"
    echo "url http://127.0.0.1:$PORT/$f.qcow2" >"$P/q$f/source"
done
for f in c4m l1over; do
    wait_for 30 grep -q "^bytes-total $(stat -c %s "$F/$f.qcow2")\$" "$P/q$f/task" || fail "q$f: no size announced"
    assert_errno EINVAL write "$R/instances/web5/image" "early private/q$f"
    case $f in
    c4m) pat='qcow2: cluster_bits 22 outside 9..21' ;;
    l1over) pat='qcow2: l1_size 4194305 is above 4194304.*' ;;
    esac
    assert_match ".* EINVAL image .* cannot be read early: $pat" "$(tail -1 "$M/errors")" "q$f: the refusal"
done
rm "$CTL/stop_at"
for f in c4m l1over; do
    imgfs_wait "$P/q$f" >/dev/null 2>&1 && fail "q$f: the import reported success"
    case $f in
    c4m) pat='qcow2: cluster_bits 22 outside 9..21' ;;
    l1over) pat='qcow2: l1_size 4194305 is above 4194304.*' ;;
    esac
    assert_match "import failed: image .* cannot be read early: $pat" "$(cat "$P/q$f/error")" "q$f's error"
done
rm "$CTL/unpaced"

say "a remount settles the disk: an ordinary instance disk, the guest's write kept"
export IMGFS_IMPORT_STALL_TIMEOUT=4
remount_imgfs "$S" "$M"
assert_file_eq "$T/expected.raw" "$R/instances/web1/disks/vda" "vda after the remount"
assert_file_eq "$T/qgold.raw" "$R/instances/web5/disks/vda" "the QCOW2 disk after the remount (settled: decoded)"
cmp "$T/c2m.raw" "$R/instances/web6/disks/vda" >&2 || fail "clusters of 2 MiB after the remount"
python3 -c 'import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); sys.exit(os.pread(fd,4096,(128<<30)-4096)!=b"\x5a"*4096)' \
    "$R/instances/web7/disks/vda" || fail "an L1 table of 32 MiB after the remount"
assert_eq "" "$(ls "$S/early")" "the written maps once settled"
assert_eq "" "$(cat "$R/instances/web1/arrived")" "arrived of a settled instance"

say "a boot profile: a second import of the same URL takes the chunks the first boot read first"
# The first boot's first reads, in order: chunks 15, 0, 10, 11, 13, 12,
# 14 (the trace, the write), 9 (the read in flight).  The new import
# holds chunk 0 from its stream (completed by a range inside it when it
# turned to ranges before its first MiB, as a URL with a profile does),
# then asks for 15, the run 10 to 14, 9, and only then the rest from the
# lowest.
mkdir "$R/instances/web4"
seen=$(wc -l <"$LOG")
start golden2 golden.raw web4 $GSIZE
rm "$CTL/stop_at"
imgfs_wait "$P/golden2" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait golden2: $(cat "$P/golden2/error")"; }
order=$(tail -n +$((seen + 1)) "$LOG" | awk '$1 == "BEGIN" && $2 == "golden.raw" && $3 >= 1048576 { printf "%s ", $3 / 1048576 }')
assert_eq "15 10 9 1 " "$order" "the MiB each range of the second import began at"
assert_file_eq "$F/golden.raw" "$P/golden2/disks/vda" "golden2's disk"

say "a plain import of that URL (no instance) takes the profile's chunks first too"
# The stream is held at its first MiB; the import turns to ranges at once
# (the chunk the stream was in completed first), and its first windows
# are the profile's: 15, the run 10 to 14, 9.
seen=$(wc -l <"$LOG")
echo $MiB >"$CTL/stop_at"
mkdir "$P/golden3"
echo "url http://127.0.0.1:$PORT/golden.raw" >"$P/golden3/source"
wait_for 30 awk -v n="$seen" -v at=$((15 * MiB)) 'NR > n && $1 == "BEGIN" && $2 == "golden.raw" && $3 == at { f = 1 } END { exit !f }' "$LOG" ||
    fail "the plain import asked for no range of the profile's first chunk: $(tail -n +$((seen + 1)) "$LOG")"
rm "$CTL/stop_at"
imgfs_wait "$P/golden3" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait golden3: $(cat "$P/golden3/error")"; }
order=$(tail -n +$((seen + 1)) "$LOG" | awk '$1 == "BEGIN" && $2 == "golden.raw" && $3 >= 1048576 { printf "%s ", $3 / 1048576 }')
assert_eq "15 10 9 " "${order:0:8}" "the MiB the plain import's first ranges began at ($order)"
assert_file_eq "$F/golden.raw" "$P/golden3/disks/vda" "golden3's disk"
wait_for 60 grep -q . "$P/golden3/sha256" || fail "golden3: no sha256"
assert_eq "$(sha256sum <"$F/golden.raw" | cut -d' ' -f1)" "$(cat "$P/golden3/sha256")" "golden3's sha256"
rmdir "$P/golden3" "$R/recycle-bin/golden3" # the private-images quota (14) for the faults' images

say "a source that pauses: the read is EIO (after the stall timeout), never other bytes"
mkdir "$R/instances/web2"
start paused paused.raw web2 $((12 * MiB))
touch "$CTL/pause"
rm "$CTL/stop_at"
assert_errno EIO readat "$R/instances/web2/disks/vda" $((10 * MiB)) 4096
# logged read LINE_PART: the log's newest line about that read, without its time.
logged_read() { grep -F "imgfs: read $1" "$S/imgfs.log" | tail -1 | sed 's/^[^ ]* imgfs: //'; }
assert_match "read /[^ ]*/instances/web2/disks/vda at $((10 * MiB)): EIO .*(stall|did not answer).*(tries again|rebuild the instance)" \
    "$(logged_read "/regions/cn-north-1/instances/web2/disks/vda at $((10 * MiB))")" "the paused read's reason (§9)"
# The daemon's line of the failed piece (its fetch's own reason).
grep -qE "imgfs: early read of image [0-9]+ chunk 10: .*stalled" "$S/imgfs.log" ||
    fail "no log line of the paused piece's fetch: $(grep 'early read of image' "$S/imgfs.log" | tail -n 2)"
rm "$CTL/pause"

say "a source whose file changed: EIO, never the new bytes; the image's error says why"
imgfs_wait "$P/paused" >/dev/null 2>&1 || true
mkdir "$R/instances/web3"
start changing changing.raw web3 $((12 * MiB))
python3 -c 'import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); sys.exit(os.pread(fd,4096,0)!=open(sys.argv[2],"rb").read(4096))' \
    "$R/instances/web3/disks/vda" "$F/changing.raw" || fail "the first sector, arrived before the change"
touch "$CTL/change"
rm "$CTL/stop_at"
assert_errno EIO readat "$R/instances/web3/disks/vda" $((10 * MiB)) 4096
# What the guest's EIO was, and what to do: in the log (§9), while the
# import ends and once it ended in error.
CHANGED="EIO the file changed on the server since byte [0-9]+ was received: this disk read the version before; rebuild the instance from a new import of the image"
assert_match "read /[^ ]*/instances/web3/disks/vda at $((10 * MiB)): $CHANGED" \
    "$(logged_read "/regions/cn-north-1/instances/web3/disks/vda at $((10 * MiB))")" "the changed read's reason (§9)"
imgfs_wait "$P/changing" >/dev/null 2>&1 && fail "the changed import reported success"
assert_match 'import failed: the file changed on the server.*' "$(cat "$P/changing/error")" "changing's error"
assert_errno EIO readat "$R/instances/web3/disks/vda" $((11 * MiB)) 4096
assert_match "read /[^ ]*/instances/web3/disks/vda at $((11 * MiB)): $CHANGED" \
    "$(logged_read "/regions/cn-north-1/instances/web3/disks/vda at $((11 * MiB))")" "the reason once the import ended"
rm "$CTL/change"

say "a crash (kill -9) in an early import: what arrived past the durable point is not fetched again"
# The server holds chunks 1 to 8, so the durable point stays at the first
# MiB; a reader fetches chunks 10 and 11 itself; the daemon dies.  The
# next run is early again from its durable point and asks for chunks 1 to
# 9 only: 10 and 11 are in the store, named by what the first run kept.
rmdir "$P/queued" # the private-images quota (14); queued, it had no data for the bin
mkdir "$R/instances/web8"
echo "$MiB $((9 * MiB))" >"$CTL/stop_range"
start crashy paused.raw web8 $((12 * MiB))
rm "$CTL/stop_at"
# reads_at DISK SOURCE: DISK's chunks 10 and 11 (past the held window),
# each read whole (8 KiB at 10 MiB + 5 first: its piece alone, then the
# chunk: the rest of its pieces, whose last stores it), are SOURCE's.
reads_at() {
    python3 - "$1" "$2" <<'PY'
import os, sys
MiB = 1 << 20
src = open(sys.argv[2], "rb").read()
fd = os.open(sys.argv[1], os.O_RDONLY)
for off, n in ((10 * MiB + 5, 8192), (10 * MiB, MiB), (11 * MiB, MiB)):
    if os.pread(fd, n, off) != src[off:off + n]:
        sys.exit("bytes differ at %d" % off)
PY
}
# got_rows IMG: the chunks IMG's early import recorded (§6.5 "Faults":
# a row once the chunk is in the store), in order.
got_rows() {
    sqlite3 "$S/imgfs.db" "SELECT group_concat(idx, ' ') FROM (SELECT g.idx FROM early_got g
        JOIN images i ON i.id = g.image_id WHERE i.name = '$1' ORDER BY g.idx)"
}
seen=$(wc -l <"$LOG")
failed_reads=$(grep -c 'early read of image' "$S/imgfs.log")
reads_at "$R/instances/web8/disks/vda" "$F/paused.raw" || fail "web8's chunks 10 and 11 read early"
assert_eq "$failed_reads" "$(grep -c 'early read of image' "$S/imgfs.log")" "the log's lines of failed early reads, after reads that did not fail"
# The reader's ranges (SPEC §6.5 "Reads"): the 16 KiB piece its first
# read covers, then the rest of that chunk (no byte twice), then chunk 11
# (the import's window of chunks 1 to 8, asked when it turned, may be
# logged after the mark above: not the reader's).
assert_eq "$((10 * MiB))-$((10 * MiB + 16384)) $((10 * MiB + 16384))-$((11 * MiB)) $((11 * MiB))-$((12 * MiB))" \
    "$(tail -n +$((seen + 1)) "$LOG" | awk -v w=$((9 * MiB)) '$1 == "BEGIN" && $2 == "paused.raw" && $3 >= w { printf "%s%d-%d", s, $3, $4; s = " " }')" \
    "the reader's ranges: its piece, then the rest of the chunk"
# Exactly the chunks stored: none of the window in flight (held).
assert_eq "10 11" "$(got_rows crashy)" "the chunks recorded past the durable point"
kill_imgfs "$M"
seen=$(wc -l <"$LOG")
rm "$CTL/stop_range"
mount_imgfs "$S" "$M"
imgfs_wait "$P/crashy" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait crashy: $(cat "$P/crashy/error")"; }
python3 - "$LOG" "$seen" <<'PY' || fail "the run after the crash fetched again what had arrived"
import sys
MiB = 1 << 20
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
r = [(int(a), int(b)) for k, n, a, b, _ in (l.split() for l in lines) if k == "BEGIN" and n == "paused.raw"]
print("ranges after the crash:", r)
sys.exit(not r or any(a < 12 * MiB and b > 10 * MiB for a, b in r))
PY
assert_file_eq "$F/paused.raw" "$P/crashy/disks/vda" "crashy's disk"
assert_eq "" "$(got_rows crashy)" "what arrived, recorded until the import sealed"

say "a cancel in an early import: its rows go in the cancel's transaction"
mkdir "$R/instances/web10"
echo "$MiB $((9 * MiB))" >"$CTL/stop_range"
start cancelled paused.raw web10 $((12 * MiB))
rm "$CTL/stop_at"
reads_at "$R/instances/web10/disks/vda" "$F/paused.raw" || fail "web10's chunks 10 and 11 read early"
assert_eq "10 11" "$(got_rows cancelled)" "the chunks recorded past the durable point"
echo cancel >"$P/cancelled/cancel"
assert_eq error "$(status_of "$P/cancelled")" "the cancelled image's status"
assert_eq "" "$(got_rows cancelled)" "the rows of a cancelled early import"
rm "$CTL/stop_range"

say "a QCOW2 source across a crash (kill -9): looked at again, its disk's bytes, what arrived not fetched again"
# A 12 MiB disk converted with every cluster allocated (its clusters in
# the file's chunks in order).  As above: the import's first window (the
# file's MiB 1 to 8) is held, a reader reads two clusters past it,
# fetching their chunks of the file itself, the daemon dies.  The next run
# looks at the file again (its format is not kept) and is early again
# from its durable point: the reads give the disk's bytes, and none of the
# chunks the reader fetched is fetched again.
head -c $((12 * MiB)) /dev/urandom >"$T/q.raw"
qemu-img convert -S 0 -f raw -O qcow2 "$T/q.raw" "$F/q.qcow2"
QCSIZE=$(stat -c %s "$F/q.qcow2")
# The file's chunks the reads below (the disk's MiB 10 and 11) cover
# whole (the file's last, short), by the file's own map: the chunks they store (the others' pieces
# are not kept across a crash, SPEC §6.5 "Pieces").
qchunks=$(qemu-img map --output=json -f qcow2 "$F/q.qcow2" | python3 -c '
import json, sys
MiB, size = 1 << 20, int(sys.argv[1])
m = json.load(sys.stdin)
cover = {}
for e in m:
    lo, hi = max(e["start"], 10 * MiB), min(e["start"] + e["length"], 12 * MiB)
    for v in range(lo, hi, 4096):
        c = (e["offset"] + v - e["start"]) // MiB
        cover[c] = cover.get(c, 0) + 4096
print(" ".join(str(c) for c in sorted(cover) if cover[c] == min(MiB, size - c * MiB)))' "$(stat -c %s "$F/q.qcow2")")
[[ -n "$qchunks" && " $qchunks " != *" 0 "* ]] || fail "the reads' chunks of the QCOW2 file: '$qchunks'"
mkdir "$R/instances/web9"
echo "$MiB $((9 * MiB))" >"$CTL/stop_range"
start qcrash q.qcow2 web9 "$QCSIZE"
assert_eq $((12 * MiB)) "$(stat -c %s "$R/instances/web9/disks/vda")" "qcrash's vda: the virtual size"
rm "$CTL/stop_at"
qread() { reads_at "$R/instances/web9/disks/vda" "$T/q.raw"; }
qread || fail "qcrash's disk before the crash"
# Rows of the reader's chunks, none of the window in flight (MiB 1 to 8).
qrows=$(got_rows qcrash)
assert_eq "$qchunks" "$qrows" "the QCOW2 early import's rows: the chunks its reader stored"
kill_imgfs "$M"
seen=$(wc -l <"$LOG")
rm "$CTL/stop_range"
mount_imgfs "$S" "$M"
qread || fail "qcrash's disk after the crash (the file looked at again)"
imgfs_wait "$P/qcrash" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait qcrash: $(cat "$P/qcrash/error")"; }
python3 - "$LOG" "$seen" $qchunks <<'PY' || fail "the run after the crash fetched again what a reader had fetched"
import sys
MiB = 1 << 20
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
got = [int(c) for c in sys.argv[3:]]
r = [(int(a), int(b)) for k, n, a, b, _ in (l.split() for l in lines) if k == "BEGIN" and n == "q.qcow2"]
print("ranges after the crash:", r, "the reader's chunks:", got)
sys.exit(not r or any(a < (c + 1) * MiB and b > c * MiB for a, b in r for c in got))
PY
assert_file_eq "$F/q.qcow2" "$P/qcrash/disks/vda" "qcrash's disk (the file, as a plain import keeps it)"
assert_file_eq "$T/q.raw" "$R/instances/web9/disks/vda" "qcrash's instance disk, every byte"
assert_eq "" "$(got_rows qcrash)" "what arrived, recorded until the QCOW2 import sealed"

say "the import never starves: beside a reader that reads all along, a chunk each IMGFS_EARLY_HOLD_MAX_MS"
# A mount whose bound is 1 s.  The first window (chunks 1 to 8) goes when
# the import turns; then a reader reads the disk all along (chunk 0,
# arrived: it fetches nothing, so the share gives nothing), and the import
# still ends, one chunk a range: 9, 10, 11.
export IMGFS_EARLY_HOLD_MAX_MS=1000
remount_imgfs "$S" "$M"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 20
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 instances 20
mkdir "$R/instances/ybound"
seen=$(wc -l <"$LOG")
start bounded bound.raw ybound $((12 * MiB))
steady_reader "$R/instances/ybound/disks/vda" "$T/breader"
BREADER=$READER
at_exit "kill $BREADER 2>/dev/null || true"
wait_for 30 test -e "$T/breader.on" || fail "the bound's reader did not open the disk"
rm "$CTL/stop_at"
wait_for 60 grep -q "^$((12 * MiB)) $((12 * MiB))\$" "$R/instances/ybound/arrived" ||
    fail "the import starved beside a reader: arrived $(cat "$R/instances/ybound/arrived")"
kill -0 "$BREADER" || fail "the bound's reader stopped reading (the chunks came after it)"
assert_eq "1-9 9-10 10-11 11-12 " \
    "$(tail -n +$((seen + 1)) "$LOG" | awk '$1 == "BEGIN" && $2 == "bound.raw" && $3 >= 1048576 { printf "%d-%d ", $3 / 1048576, $4 / 1048576 }')" \
    "the ranges beside a reader that reads all along"
touch "$T/breader.stop"
wait "$BREADER" || fail "the bound's reader"
imgfs_wait "$P/bounded" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait bounded: $(cat "$P/bounded/error")"; }
wait_for 60 grep -q . "$P/bounded/sha256" || fail "bounded: no sha256"
assert_eq "$(sha256sum <"$F/bound.raw" | cut -d' ' -f1)" "$(cat "$P/bounded/sha256")" "bounded's sha256"

say "an early start holds the import from its write to the disk's first read, across opens and closes without a read"
# A mount whose open hold is 10 minutes (SPEC §6.5 "The import gives
# way"): the write of `early` holds the import's windows from the moment
# it asks the import to turn (before, the first window of 8 chunks went
# before its transaction committed), and an open and close of the disk
# without a read (qemu's probe before its real open) does not end the
# hold.  The first range past the stream's MiB is the reader's piece;
# 2 s after it (the quiet) the import goes on.
export IMGFS_EARLY_OPEN_HOLD_MS=600000 IMGFS_EARLY_HOLD_MAX_MS=600000
remount_imgfs "$S" "$M"
ln -s bound.raw "$F/held.raw" # a URL without a boot profile
mkdir "$R/instances/yopen"
seen=$(wc -l <"$LOG")
start openheld held.raw yopen $((12 * MiB))
rm "$CTL/stop_at"
for k in 1 2 3; do
    exec 7<"$R/instances/yopen/disks/vda"
    exec 7<&-
done
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
off = 5 * 1048576 + 5
sys.exit(os.pread(fd, 4096, off) != open(sys.argv[2], "rb").read()[off:off + 4096])' \
    "$R/instances/yopen/disks/vda" "$F/bound.raw" || fail "yopen's bytes at 5 MiB"
assert_eq "$((5 * MiB))-$((5 * MiB + 16384))" \
    "$(tail -n +$((seen + 1)) "$LOG" | awk '$1 == "BEGIN" && $2 == "held.raw" && $3 >= 1048576 { print $3 "-" $4; exit }')" \
    "the first range past the stream: the reader's piece, no window before it"
imgfs_wait "$P/openheld" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait openheld: $(cat "$P/openheld/error")"; }
assert_file_eq "$F/bound.raw" "$P/openheld/disks/vda" "openheld's disk"

say "a source whose size is no multiple of a piece: its last piece short, read first, every byte compared"
# 3 MiB + 12,345 bytes: chunk 3 is 12,345 bytes, its one piece short.  A
# read of its last 100 bytes (200 asked: short at the end) asks for that
# short piece alone; the chunk is then whole (its only piece) and stored;
# the import ends as a plain one.
python3 -c 'import os, sys
b = bytearray(os.urandom(3 * 1048576 + 12345))
b[0:512] = bytes(512)
b[0:2], b[510:512] = b"\xeb\x63", b"\x55\xaa"  # an MBR: a raw disk §5.3 takes
open(sys.argv[1], "wb").write(b)' "$F/odd.raw"
mkdir "$R/instances/yodd"
seen=$(wc -l <"$LOG")
start odd odd.raw yodd $((3 * MiB + 12345))
rm "$CTL/stop_at" # the import's windows wait for the read (the open hold)
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
src = open(sys.argv[2], "rb").read()
off = len(src) - 100
sys.exit(os.pread(fd, 200, off) != src[off:])' "$R/instances/yodd/disks/vda" "$F/odd.raw" || fail "yodd's last 100 bytes"
assert_eq "$((3 * MiB))-$((3 * MiB + 12345))" \
    "$(tail -n +$((seen + 1)) "$LOG" | awk '$1 == "BEGIN" && $2 == "odd.raw" && $3 >= 1048576 { print $3 "-" $4; exit }')" \
    "the short last piece, asked alone"
imgfs_wait "$P/odd" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait odd: $(cat "$P/odd/error")"; }
assert_file_eq "$F/odd.raw" "$P/odd/disks/vda" "odd's disk"
assert_file_eq "$F/odd.raw" "$R/instances/yodd/disks/vda" "yodd's disk, every byte"

say "the piece files go with their imports: no descriptor of the daemon left in <state>/early"
# Each early import's pieces are an unlinked file (SPEC §12.8), closed
# when the import ends: every import of this mount ended above.
[[ -n "${_MOUNT_PID[$M]:-}" && -d "/proc/${_MOUNT_PID[$M]}/fd" ]] || fail "the daemon's pid is not known"
left=$(find "/proc/${_MOUNT_PID[$M]}/fd" -mindepth 1 -maxdepth 1 -lname "$S/early/*" 2>/dev/null | wc -l)
assert_eq 0 "$left" "the daemon's descriptors in $S/early once every early import ended"

#!/usr/bin/env bash
# SPEC §12 "Generated files", §1 (imgfs wait): poll(2) on a generated file
# is POLLPRI once the file differs from what its descriptor took at open,
# and `imgfs wait` sleeps on that instead of waking every 200 ms to look.
#   - a status unchanged since open: no POLLPRI; an upload begun while a
#     poller sleeps (its FUSE_POLL counted in /stats first): the daemon's
#     notification wakes it with POLLPRI, long before its timeout,
#     and a new descriptor reads the new status and is quiet again;
#   - `imgfs wait` on that upload ends by a POLLPRI (strace shows the
#     poll(2) that returned it), with the image available;
#   - the whole chain for a task this mount runs: a commit of the task's
#     thread wakes the watcher at once (SQLite would be polled every 200 ms
#     otherwise: the unit test test_change_wakes counts that), the
#     watcher's invalidation wakes the poller.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || fail "strace is not installed (scripts/install-deps installs it)"
setup_mount
P="$R/private"
mkdir "$P/p"
head -c $((3 << 20)) /dev/urandom >"$T/disk.raw"
printf '\x55\xaa' | dd of="$T/disk.raw" bs=1 seek=510 conv=notrunc status=none # a raw disk: an MBR

polls() { awk '$1 == "imgfs_requests_total{op=\"poll\"}" { print $2 }' "$M/stats"; }

say "poll(2) on status: quiet while it is what was opened, POLLPRI once an upload began"
before=$(polls)
python3 - "$P/p" "$T/disk.raw" "$M/stats" <<'PY' || fail "poll(2) on status did not follow the upload"
import os, select, sys, threading, time
img, src, stats = sys.argv[1:]
def pri(fd, ms):
    p = select.poll()
    p.register(fd, select.POLLPRI)
    return [ev for _, ev in p.poll(ms)]
def polls():
    for line in open(stats):
        if line.startswith('imgfs_requests_total{op="poll"}'):
            return int(line.split()[1])
    return 0
fd = os.open(img + "/status", os.O_RDONLY)
first = os.read(fd, 100)
assert first == b"queued\n", first
assert pri(fd, 0) == [], "POLLPRI on a status that did not change"
# The upload begins only once the daemon has the long poll below (its
# FUSE_POLL counted): the poller is asleep then, and only the daemon's
# notification can wake it before its 30 s are over (at the timeout the
# kernel asks once more, and that answer would be POLLPRI too: so the
# test also asks that it woke long before).
asked = polls()
out = []
def upload():
    deadline = time.monotonic() + 20
    while polls() <= asked and time.monotonic() < deadline:
        time.sleep(0.01)
    o = os.open(img + "/disks/vda", os.O_WRONLY | os.O_CREAT)
    os.write(o, open(src, "rb").read(1 << 20))  # uploading now
    out.append(o)
t = threading.Thread(target=upload)
t.start()
t0 = time.monotonic()
ev = pri(fd, 30000)
slept = time.monotonic() - t0
t.join()
assert ev and ev[0] & select.POLLPRI and slept < 20, ("not woken by the change", ev, slept)
fd2 = os.open(img + "/status", os.O_RDONLY)
now = os.read(fd2, 100)
assert now != first, now
assert pri(fd2, 0) == [], "POLLPRI on a descriptor opened after the change"
os.close(out[0])  # a partial raw disk: the upload ends (available or error)
PY
after=$(polls)
((after > before)) || fail "no FUSE_POLL reached the daemon ($before, then $after)"

say "imgfs wait on an upload wakes by POLLPRI when it ends"
# imgfs wait looks at status, then sleeps in poll(2) for at most 200 ms: a
# change that lands while it is looking is seen by the next look, not by a
# POLLPRI.  On a loaded host that window is wide, so the upload is tried
# up to three times; a wake-up that never comes fails all three.
woken=
for attempt in 1 2 3; do
    w="$P/w$attempt"
    mkdir "$w"
    exec {up}>"$w/disks/vda"
    head -c $((1 << 20)) "$T/disk.raw" >&"$up"
    assert_eq uploading "$(cat "$w/status")" "status while the upload is open"
    # (LeakSanitizer cannot run under ptrace: off for this one traced process
    # of an ASan build; the daemon and every other imgfs wait keep it.)
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=poll -e signal=none -o "$T/wait.strace" "$IMGFS" wait -q "$w" {up}>&- &
    waiter=$!
    for ((i = 0; i < 1200; i++)); do # until it sleeps in poll(2) (an ASan imgfs under strace on a busy host: seconds)
        grep -q 'poll(\[{fd=' "$T/wait.strace" 2>/dev/null && break
        sleep 0.05
    done
    tail -c +$((1 << 20 | 1)) "$T/disk.raw" >&"$up"
    exec {up}>&-
    wait "$waiter" || fail "imgfs wait: $(cat "$w/status"): $(cat "$w/error")"
    assert_eq available "$(cat "$w/status")" "status after imgfs wait"
    cmp "$w/disks/vda" "$T/disk.raw" || fail "the uploaded disk differs"
    if grep -q 'revents=POLLPRI' "$T/wait.strace"; then
        woken=$attempt
        break
    fi
    say "attempt $attempt: the change landed between two looks (no POLLPRI); again"
done
[ -n "$woken" ] || { cat "$T/wait.strace" >&2; fail "imgfs wait was never woken by a POLLPRI in 3 uploads"; }

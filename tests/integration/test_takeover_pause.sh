#!/usr/bin/env bash
# test_takeover_pause: a take-over that meets a store that does not answer
# waits, 1 s doubling, instead of being claimed again at once (SPEC §13's
# Decision, issue 49), seen through the mounts.  Two hosts of one service
# in PostgreSQL, lease 3 s; region r1's store is dir: on one path both
# use.  A URL import (4 MiB served slowly from 127.0.0.1) runs on a; a is
# killed (kill -9).  b's daemon runs without CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH (setpriv drops them from its bounding set: as root it
# keeps the rest, mount included) and the store's wblobs/ is made mode 000,
# so b's take-over cannot make its wblob there (EACCES) — only b: root with
# those capabilities would pass.  Then:
#   - in the 5 s after b's first failed take-over, b tried 2 to 4 times
#     (pauses of 1, 2, 4 s: 3 tries, the next at 7 s; the code before the
#     pause, 0c562cf^, tried 10 times in those 5 s, and without end), and
#     its log says each pause, each twice the last, the run counted;
#   - wblobs/ back to 755: b's next claim takes the import over and it ends
#     available with the served bytes (cmp).
# Cost: about 25 s (the 5 s window, b's 4 s pause, the 5 s of the file).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
chmod 711 "$T" # the database server runs as the postgres user
pg_database URL
admin() { "$IMGFS" admin --state "$T/state-a" --db "$URL" "$@"; }
command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"

say "a raw disk of 4 MiB served slowly (16 KiB every 20 ms) on 127.0.0.1"
serve_slow_disk 4
port=$PORT

say "r1's store dir: shared; host a, and host b without the capabilities that pass a file's mode"
admin init >/dev/null
mkdir "$T/shared"
admin region add r1 --store "dir:$T/shared" || fail "region add r1 --store dir:"
admin lease 3
admin import allow 127.0.0.1/32
imgfs_bin=$IMGFS
printf '#!/bin/sh\nexec setpriv --bounding-set=-dac_override,-dac_read_search %q "$@"\n' "$imgfs_bin" >"$T/imgfs-nodac"
chmod 755 "$T/imgfs-nodac"
A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a"
IMGFS="$T/imgfs-nodac" mount_imgfs "$T/state-b" "$B" "db=$URL,host=b"
# mount_imgfs looked for a daemon of the wrapper's: the real one's pid, watched
bpid=$(_daemon_pid "$B")
[[ -n "$bpid" ]] || fail "no daemon for b"
_MOUNT_PID[$B]=$bpid
_watch_add "$B" "$bpid"
capeff=$(awk '$1 == "CapEff:" { print $2 }' "/proc/$bpid/status")
(((0x$capeff & 0x6) == 0)) || fail "b's daemon still has CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH (CapEff $capeff)"
RA="$A/regions/r1" RB="$B/regions/r1"

say "the import runs on a; a killed; the store's wblobs/ made 000 before a's lease lapses"
mkdir "$RA/private/imp"
echo "url http://127.0.0.1:$port/disk.raw" >"$RA/private/imp/source" || fail "the url: $(cat "$RA/private/imp/error")"
field() { awk -v k="$2" '$1 == k { print $2 }' "$1/task"; }
running_on_a() { [[ "$(field "$RB/private/imp" host)" == a && "$(field "$RB/private/imp" bytes-done)" -gt 0 ]]; }
wait_for 30 running_on_a || fail "the import is not running on a, seen from b: $(cat "$RB/private/imp/task")"
kill_imgfs "$A"
at_exit "chmod 755 '$T/shared/wblobs'"
chmod 000 "$T/shared/wblobs"
LOG="$T/state-b/imgfs.log"
tried() { grep -c 'could not be taken over yet' "$LOG" || true; }
wait_for 30 grep -q 'could not be taken over yet' "$LOG" || fail "b never tried to take the import over: $(tail -n 5 "$LOG")"
grep -m1 'could not be taken over yet' "$LOG" | sed 's/^/    /'
grep -q 'could not be taken over yet: Permission denied' "$LOG" || fail "b's take-over did not fail for the mode: $(grep -m1 'taken over yet' "$LOG")"

say "5 s of b's failed take-overs: a few tries, each pause twice the last"
# Tries come at 0, 1, 3, 7, ... s after the first (pauses 1, 2, 4 s): in e
# seconds at most log2(e + 1) + 1 of them, one more allowed for where the
# look falls; the old code tried every half second (10 in 5 s). The bound
# follows the time that really passed, so a loaded machine's late look
# does not fail it.
t0=$SECONDS
nap 5
n=$(tried) e=$((SECONDS - t0 + 1))
max=2
for ((p = 2; p <= e + 1; p *= 2)); do max=$((max + 1)); done
grep 'back in the queue, claimed again' "$LOG" | sed 's/^/    /' || true
((n >= 2 && n <= max)) || fail "b tried $n times in about $e s (expected 2 to $max: pauses of 1, 2, 4 s)"
mapfile -t pauses < <(sed -n 's/.*back in the queue, claimed again in \([0-9]*\) s at the earliest (failed run \([0-9]*\) in a row).*/\1 \2/p' "$LOG")
((${#pauses[@]} == n)) || fail "$n failed tries but ${#pauses[@]} log lines naming their pause"
for ((i = 0; i < ${#pauses[@]}; i++)); do
    assert_eq "$((1 << i)) $((i + 1))" "${pauses[i]}" "the pause and count of failed run $((i + 1))"
done
assert_eq uploading "$(cat "$RB/private/imp/status")" "the image's status meanwhile"

say "wblobs/ readable again: b takes the import over at its next claim; it ends available"
chmod 755 "$T/shared/wblobs"
imgfs_wait "$RB/private/imp" >/dev/null 2>&1 || fail "the import: $(cat "$RB/private/imp/error")"
grep -q 'taken over from its durable point' "$LOG" || fail "b's log does not say it took the import over"
assert_eq available "$(cat "$RB/private/imp/status")" "the image's status"
cmp "$RB/private/imp/disks/vda" "$T/files/disk.raw" || fail "the imported bytes"
# A try due before the chmod was seen may still fail; none after the
# take-over that succeeded.
after=$(awk '/taken over from its durable point/ { ok = 1 } ok && /could not be taken over yet/ { n++ } END { print n + 0 }' "$LOG")
assert_eq 0 "$after" "b's failed tries after its take-over"
say "done"

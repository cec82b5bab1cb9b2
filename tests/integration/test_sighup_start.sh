#!/usr/bin/env bash
# SPEC §15 (signals): SIGHUP while a mount starts — logrotate's fallback
# `pkill -HUP -x imgfs` landing while a first mount creates its state — is
# counted, not fatal: the mount comes up, and once its log is open it
# reopens the log as for any SIGHUP ("SIGHUP: log reopened").  Before,
# SIGHUP's default action ended the process with no line anywhere.
#   - `imgfs -f` of a new state, SIGHUP every 20 ms from its start until the
#     mount answers: it mounts, its log says the SIGHUPs were handled;
#   - the same daemonized (the SIGHUPs to the process that creates the
#     state and forks the daemon): it returns 0, mounted;
#   - a SIGHUP to the running daemon reopens the log, as before.
# Two first mounts (the catalogue made twice): about 15 s.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

export IMGFS_FRESH=1 # a first mount: the state is created while the SIGHUPs come

# hup_until_mounted PID MNT STATE: SIGHUP to PID every 20 ms, from when it
# starts making STATE (its main() has run: a process still being loaded
# dies of any signal) until MNT answers (or PID is gone); the number sent.
hup_until_mounted() {
    local pid=$1 mnt=$2 state=$3 n=0
    wait_for 20 test -e "$state" || fail "imgfs made no state at $state"
    while kill -0 "$pid" 2>/dev/null; do
        kill -HUP "$pid" 2>/dev/null && n=$((n + 1))
        mountpoint -q "$mnt" && ls "$mnt/regions" >/dev/null 2>&1 && break
        nap 0.02
    done
    echo "$n"
}

say "imgfs -f of a new state, SIGHUP every 20 ms until it answers"
S1="$T/s1" M1="$T/m1"
mkdir -p "$M1"
also_unmount "$M1"
"$IMGFS" -f -o state="$S1" "$M1" >"$T/f.out" 2>&1 &
pid=$!
sent=$(hup_until_mounted "$pid" "$M1" "$S1")
kill -0 "$pid" 2>/dev/null || { cat "$T/f.out" >&2; fail "imgfs -f died of a SIGHUP while starting ($sent sent)"; }
((sent >= 3)) || fail "only $sent SIGHUPs reached the starting mount: the test proves nothing"
ls "$M1/regions/cn-north-1/public" >/dev/null
wait_for 10 grep -q 'SIGHUP: log reopened' "$S1/imgfs.log" || fail "no SIGHUP handled once the log was open"
fusermount3 -u "$M1"
wait "$pid" || fail "imgfs -f exited non-zero after the unmount"

say "daemonized: SIGHUP to the starting process until it returns"
S2="$T/s2" M2="$T/m2"
mkdir -p "$M2"
also_unmount "$M2"
"$IMGFS" -o state="$S2" "$M2" >"$T/d.out" 2>&1 &
pid=$!
sent=$(hup_until_mounted "$pid" "$M2" "$S2")
rc=0
wait "$pid" || rc=$?
assert_eq 0 "$rc" "the starting imgfs's exit status after $sent SIGHUPs: $(cat "$T/d.out")"
mountpoint -q "$M2" || fail "not mounted after $sent SIGHUPs"
_MOUNTS+=("$M2")
_MOUNT_STATE[$M2]=$S2
_MOUNT_PID[$M2]=$(_daemon_pid "$M2")

say "a SIGHUP to the running daemon reopens its log"
reopened() { grep -c 'SIGHUP: log reopened' "$S2/imgfs.log" || true; }
more_than() { (($(reopened) > $1)); }
wait_for 10 more_than 0 || fail "the SIGHUPs sent while it started were not handled"
# those are handled one by one: wait until the count stays
before=-1
while (($(reopened) != before)); do before=$(reopened); nap 0.5; done
kill -HUP "${_MOUNT_PID[$M2]}"
wait_for 10 more_than "$before" ||
    fail "the daemon (pid ${_MOUNT_PID[$M2]}) did not reopen its log: $before lines before, $(reopened) after; $(ps -o pid,stat,args -p "${_MOUNT_PID[$M2]}" | tail -1)"
ls "$M2/regions" >/dev/null
umount_imgfs "$M2"

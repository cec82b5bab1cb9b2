#!/usr/bin/env bash
# SPEC §16 (an instance's password), §17 (keycmd): secrets stay out of the
# daemon's memory and out of `ps` once they have done their work.
#
#   - `-o keycmd=CMD`: the daemon's /proc/PID/cmdline (what `ps` shows to
#     every user) no longer holds CMD once the options are parsed; the
#     mount still has its key (the log says so); nor does `imgfs serve
#     --keycmd CMD`'s once it serves;
#   - passwords written to instances/<vm>/password — one accepted with
#     `echo`, one accepted without a newline (applied at close), one
#     refused as weak, one refused for a space — are, after 200 more
#     requests, nowhere in the daemon's memory, nor two more whose
#     writers still hold the file open (memscan.py reads every
#     readable mapping through /proc/PID/mem): before the request buffer
#     was wiped, one copy of each stayed in libfuse's receive buffers;
#   - nor at once, before any other request could overwrite what a
#     worker's stack kept (issue 47: two copies in a thread's stack of a
#     Release build), for passwords written whole, a byte a write, in
#     pieces, and while other threads answer readers; this test runs on
#     the Release binary too (CMakeLists.txt's INTEGRATION_RELEASE).
source "$(dirname "$0")/lib.sh"

openssl rand -hex 32 >"$T/kek"
chmod 600 "$T/kek"
# A comma, escaped as mount options want it, and a word found nowhere else.
KEYCMD="echo KeycmdNeedle42 \\, >/dev/null; cat $T/kek"
setup_mount "keycmd=$KEYCMD"
pid=${_MOUNT_PID[$M]}
[[ -n "$pid" ]] || fail "no daemon pid for $M"

say "keycmd: not in the daemon's command line; the mount has its key"
tr '\0' ' ' <"/proc/$pid/cmdline" >"$T/cmdline"
if grep -qF KeycmdNeedle42 "$T/cmdline" || grep -qF "cat $T/kek" "$T/cmdline"; then
    fail "the keycmd shows in /proc/$pid/cmdline: $(cat "$T/cmdline")"
fi
grep -qF "state=$S" "$T/cmdline" || fail "the state's option is gone from the command line: $(cat "$T/cmdline")"
grep -qF "$M" "$T/cmdline" || fail "the mount point is gone from the command line"
grep -qF "key-encryption key" "$S/imgfs.log" || fail "the mount logged no key-encryption key"

say "imgfs serve --keycmd: not in its command line once it serves"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$IMGFS" serve --state "$S" --listen "127.0.0.1:$PORT" --keycmd "cat $T/kek; : ServeNeedle43" 2>"$T/serve.err" &
SERVE=$!
at_exit "kill $SERVE; wait $SERVE"
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$PORT/" || { cat "$T/serve.err" >&2; fail "imgfs serve"; }
tr '\0' ' ' <"/proc/$SERVE/cmdline" >"$T/serve.cmdline"
if grep -qF ServeNeedle43 "$T/serve.cmdline"; then fail "the keycmd shows in serve's cmdline: $(cat "$T/serve.cmdline")"; fi
grep -qF -- "--listen 127.0.0.1:$PORT" "$T/serve.cmdline" || fail "serve's other arguments are gone"

V="$R/instances/vm1"
new_vm "$V"
PW1='Zq7-EchoNeedle-9x'
PW2='Yr8+CloseNeedle-7w'
WEAK='weakneedleonlylowercase'
SPACE='Sp ace9-SpaceNeedle'

say "passwords: two accepted, two refused"
echo "$PW1" >"$V/password"
printf '%s' "$PW2" >"$V/password"
assert_errno EINVAL write "$V/password" "$WEAK"
assert_errno EINVAL write "$V/password" "$SPACE"
[[ " $(entries "$V/disks") " == *" cidata "* ]] || fail "no disks/cidata: the passwords were not taken"

say "at once, no password's bytes are anywhere in the daemon's memory, however they were written"
PW4='Wt1=ByteByByteNeedle-3q'
PW5='Vu2=PiecesNeedle-4r'
PW6='Us3=BusyThreadsNeedle-5s'
printf '%s\n' "$PW4" | dd of="$V/password" bs=1 status=none
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
for i in range(0, len(sys.argv[2]), 3):
    os.write(fd, sys.argv[2][i:i + 3].encode())
os.close(fd)' "$V/password" "$PW5"
busy=()
for i in 1 2 3 4; do
    (for ((j = 0; j < 100; j++)); do read -r _ <"$V/status"; done) &
    busy+=($!)
done
echo "$PW6" >"$V/password"
wait "${busy[@]}"
python3 "$INTEGRATION_DIR/memscan.py" "$pid" "$PW1" "$PW2" "$WEAK" "$SPACE" "$PW4" "$PW5" "$PW6" >"$T/scan.now"
sed 's/^/    /' "$T/scan.now"
awk '$1 != 0 { bad = 1 } END { exit bad }' "$T/scan.now" || fail "a password is in the daemon's memory right after it was applied"

say "200 requests later, no password's bytes are anywhere in the daemon's memory"
# Two more, each written with its newline by a writer that keeps the file
# open while the daemon is searched: one taken, one refused.
PW3='Xs9_HeldOpenNeedle-5v'
WEAK2='heldopenweakneedle'
exec 7>"$V/password" 8>"$V/password"
printf '%s\n' "$PW3" >&7
if printf '%s\n' "$WEAK2" >&8 2>/dev/null; then fail "a weak password written to a held file was taken"; fi
for ((i = 0; i < 200; i++)); do read -r _ <"$V/status"; done
python3 "$INTEGRATION_DIR/memscan.py" "$pid" "$PW1" "$PW2" "$WEAK" "$SPACE" "$PW3" "$WEAK2" >"$T/scan"
exec 7>&- 8>&-
cat "$T/scan" | sed 's/^/    /'
awk '$1 != 0 { bad = 1 } END { exit bad }' "$T/scan" || fail "a password is still in the daemon's memory"
# The scan finds what is there: the mount's state directory name is.
python3 "$INTEGRATION_DIR/memscan.py" "$pid" "$S" >"$T/scan.self"
awk '$1 == 0 { exit 1 }' "$T/scan.self" || fail "memscan.py finds nothing at all: $(cat "$T/scan.self")"

echo "PASS"

#!/usr/bin/env bash
# SPEC §15 (where the log goes): -o log=FILE writes the log there (a
# relative FILE is taken from where imgfs was started) and nothing to
# <state>/imgfs.log; a FILE that cannot be opened refuses the mount before
# any state is created; -o debug adds one line per request naming the
# operation, the inode, the name and the caller, escaped like every line
# (§9); -o log=syslog sends the same lines to syslog (checked in a private
# mount namespace whose /dev/log is a socket this test reads).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

LINE_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z imgfs: '

say "-o log=FILE that cannot be opened: the mount is refused, no state is created"
mkdir -p "$T/m0"
out=$("$IMGFS" -o "state=$T/s0,log=$T/missing/imgfs.log" "$T/m0" 2>&1) && fail "mounted with an unwritable log"
assert_match 'imgfs: cannot open the log .*/missing/imgfs.log: No such file or directory' "$out" "the reason"
[[ ! -e "$T/s0" ]] || fail "a refused mount created $T/s0"
out=$("$IMGFS" -o "state=$T/s0,log_max=-1" "$T/m0" 2>&1) && fail "mounted with log_max=-1"
assert_match '.*log_max=-1: .*' "$out" "the reason"

say "-o log=FILE (relative to where imgfs starts) with -o debug: every line there, one per request"
S="$T/state" M="$T/mnt"
cd "$T"
mount_imgfs "$S" "$M" "log=service.log,debug"
cd - >/dev/null
L="$T/service.log"
R="$M/regions/cn-north-1" P="$M/regions/cn-north-1/private"
assert_errno EINVAL mkdir "$P/$(printf 'x\nFORGED line \033[31m')"
mkdir "$P/dbg"
cat "$P/dbg/status" >/dev/null
grep -q "imgfs: mounted $S on $M" "$L" || fail "no 'mounted' line in $L"
[[ ! -e "$S/imgfs.log" ]] || fail "$S/imgfs.log written with -o log=$L"
mode=$(stat -c %a "$L")
assert_eq 640 "$mode" "the log file's mode"
# Each line of the file is a log line: the name's newline and ESC did not
# start a line of their own or reach the file raw.
if grep -vE "$LINE_RE" "$L" | grep -q .; then
    grep -vE "$LINE_RE" "$L" | head -n 3 >&2
    fail "$L has lines that are not log lines"
fi
! grep -q $'\033' "$L" || fail "an ESC byte reached $L"
grep -qF 'imgfs: mkdir /regions/cn-north-1/private/x\x0aFORGED line \x1b[31m: EINVAL ' "$L" ||
    fail "no escaped refusal line in $L"
grep -qE "imgfs: request mkdir ino [0-9]+ name x\\\\x0aFORGED line \\\\x1b\[31m uid $(id -u) pid [0-9]+$" "$L" ||
    { grep 'request mkdir' "$L" >&2 || true; fail "no debug line for the refused mkdir"; }
grep -qE "imgfs: request mkdir ino [0-9]+ name dbg uid $(id -u) pid [0-9]+$" "$L" || fail "no debug line for mkdir dbg"
grep -qE "imgfs: request lookup ino [0-9]+ name status uid $(id -u) pid [0-9]+$" "$L" || fail "no debug line for the lookup"
grep -qE "imgfs: request (open|read|getattr) ino [0-9]+ uid $(id -u) pid [0-9]+$" "$L" || fail "no debug line for the read"
n=$(grep -c 'imgfs: request ' "$L")
echo "    $n request lines"

say "without -o debug: no request lines, and the log is <state>/imgfs.log again"
remount_imgfs "$S" "$M"
before=$(grep -c 'imgfs: request ' "$L")
ls -R "$M/regions" >/dev/null
cat "$P/dbg/status" >/dev/null
assert_eq "$before" "$(grep -c 'imgfs: request ' "$L")" "request lines in $L after the remount"
grep -q 'imgfs: request ' "$S/imgfs.log" && fail "request lines without -o debug"
grep -q "imgfs: mounted $S on $M" "$S/imgfs.log" || fail "no 'mounted' line in $S/imgfs.log"
umount_imgfs "$M"

say "-o log=syslog: the lines go to /dev/log (facility daemon, ident imgfs), escaped, nothing to imgfs.log"
# A private mount namespace whose /dev is a tmpfs with the devices imgfs
# needs and a /dev/log socket read by this test: no syslog daemon needed,
# and the machine's own /dev/log is never touched.
command -v unshare >/dev/null || fail "unshare (util-linux) is needed"
cat >"$T/listen.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
open(sys.argv[3], "w").close()  # listening
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536) + b"\n")
PY
mkdir -p "$T/olddev" "$T/m2"
export T IMGFS
timeout 120 unshare --mount --propagation private bash -euo pipefail -c '
mount --rbind /dev "$T/olddev"
mount -t tmpfs tmpfs /dev
for f in fuse null zero urandom random full; do
    touch "/dev/$f"
    mount --bind "$T/olddev/$f" "/dev/$f"
done
umount -l "$T/olddev"
ln -s /proc/self/fd /dev/fd
python3 "$T/listen.py" /dev/log "$T/syslog.out" "$T/listening" &
lp=$!
trap "umount -l \"$T/m2\" 2>/dev/null || true; kill $lp" EXIT
for ((i = 0; i < 50; i++)); do [[ -e "$T/listening" ]] && break; sleep 0.1; done
"$IMGFS" -o "state=$T/s2,log=syslog" "$T/m2"
mkdir "$T/m2/regions/cn-north-1/private/$(printf "y\nFORGED")" 2>/dev/null && exit 3
umount "$T/m2"
sleep 0.5
' || fail "the syslog mount in a private namespace failed"
cat "$T/syslog.out" | sed 's/^/    /'
grep -qE '^<30>.* imgfs\[[0-9]+\]: mounted '"$T/s2" "$T/syslog.out" || fail "no 'mounted' line at daemon.info"
grep -qF ' imgfs[' "$T/syslog.out" || fail "no imgfs ident"
grep -qE '^<29>.* imgfs\[[0-9]+\]: mkdir /regions/cn-north-1/private/y\\x0aFORGED: EINVAL ' "$T/syslog.out" ||
    fail "no escaped refusal at daemon.notice"
grep -q '^FORGED' "$T/syslog.out" && fail "a forged syslog line"
[[ ! -e "$T/s2/imgfs.log" ]] || fail "imgfs.log written with -o log=syslog"
true

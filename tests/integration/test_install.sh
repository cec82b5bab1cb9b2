#!/usr/bin/env bash
# SPEC §15 (install): `cmake --install` of the build that made $IMGFS, into
# a DESTDIR with prefix /usr/local, puts imgfs in bin/, imgfs(8) and
# imgfs-admin(8) in share/man/man8 (rendered by groff with no warning), the
# systemd unit in lib/systemd/system and the bash completion; the
# installed binary prints the build's version, mounts a state, answers and
# unmounts.  Installed into a plain --prefix, the unit names that prefix's
# binary and passes `systemd-analyze verify` (its Documentation= pages
# found by man), and its own command lines work as systemd runs them:
# ExecStartPre makes the mount point, ExecStart mounts and sends READY=1
# once the mount answers, ExecReload (SIGHUP) reopens a moved log, a stop
# (SIGTERM) sends STOPPING=1, unmounts and exits 0, and ExecStopPost
# detaches a dead mount but not a live one.  The completion completes
# admin subcommands, -o options, and account and region names from the
# state named on the line.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

BUILD=$(dirname "$(readlink -f "$IMGFS")")
[[ -f "$BUILD/cmake_install.cmake" ]] || fail "$BUILD (where $IMGFS is) is not a CMake build directory"

say "cmake --install --prefix /usr/local with DESTDIR"
D="$T/destdir"
DESTDIR=$D cmake --install "$BUILD" --prefix /usr/local >"$T/install.out" 2>&1 ||
    { cat "$T/install.out" >&2; fail "cmake --install into DESTDIR"; }
for f in bin/imgfs share/man/man8/imgfs.8 share/man/man8/imgfs-admin.8 lib/systemd/system/imgfs.service \
    share/bash-completion/completions/imgfs share/doc/imgfs/LICENSE; do
    [[ -s "$D/usr/local/$f" ]] || fail "not installed: /usr/local/$f"
done
[[ -x "$D/usr/local/bin/imgfs" ]] || fail "the installed imgfs is not executable"
grep -q "Apache License" "$D/usr/local/share/doc/imgfs/LICENSE" || fail "LICENSE is not the Apache License"
assert_eq "ExecStart=/usr/local/bin/imgfs -f -o \${IMGFS_OPTIONS} \${IMGFS_STATE} \${IMGFS_MOUNTPOINT}" \
    "$(grep '^ExecStart=' "$D/usr/local/lib/systemd/system/imgfs.service")" "the unit's ExecStart"

say "the manual pages render with no warning (groff -man -ww -z)"
command -v groff >/dev/null || fail "groff is needed (scripts/install-deps: groff-base)"
for p in imgfs imgfs-admin; do
    groff -man -ww -z "$D/usr/local/share/man/man8/$p.8" >"$T/groff.out" 2>&1 || true
    [[ ! -s "$T/groff.out" ]] || { cat "$T/groff.out" >&2; fail "groff warns about $p(8)"; }
    man -l "$D/usr/local/share/man/man8/$p.8" 2>/dev/null | grep -q "^NAME" || fail "man -l $p.8 shows no NAME section"
done
for o in state= db= account= workers= multiuser allow_other ro log= log_max= debug; do
    grep -qF -- "-o $o" <(man -l "$D/usr/local/share/man/man8/imgfs.8" 2>/dev/null) ||
        fail "imgfs(8) does not describe -o $o"
done

say "the installed binary: its version, a mount that answers, an unmount"
I="$D/usr/local/bin/imgfs"
assert_eq "$("$IMGFS" --version)" "$("$I" --version)" "the installed binary's --version"
mkdir -p "$T/mnt"
"$I" "$T/state" "$T/mnt" || fail "the installed imgfs did not mount"
_MOUNTS+=("$T/mnt"); _MOUNT_STATE[$T/mnt]=$T/state; _MOUNT_PID[$T/mnt]=""
[[ -d "$T/mnt/regions/cn-north-1/public/centos-7.4" ]] || fail "the installed imgfs's mount does not answer"
"$I" admin --state "$T/state" account add alice --uid 2301 >/dev/null
fusermount3 -u "$T/mnt" || fail "fusermount3 -u after the installed imgfs's mount"
_MOUNTS=()

say "bash completion: admin subcommands, -o options, accounts and regions from the state"
comp() { # comp WORD... : what completing the last word offers
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _imgfs
             printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | paste -sd " " -' _ \
        "$D/usr/local/share/bash-completion/completions/imgfs" "$@"
}
export PATH="$D/usr/local/bin:$PATH"
assert_eq "import" "$(comp imgfs admin im)" "imgfs admin im<TAB>"
assert_eq "init" "$(comp imgfs admin in)" "imgfs admin in<TAB>"
assert_eq "add list" "$(comp imgfs admin region "")" "imgfs admin region <TAB>"
assert_eq "--tls-cert --tls-key" "$(comp imgfs serve --tls)" "imgfs serve --tls<TAB>"
assert_eq "allow_other,multiuser" "$(comp imgfs -o allow_other,mul)" "imgfs -o allow_other,mul<TAB>"
assert_eq "alice root" "$(comp imgfs admin --state "$T/state" quota set "")" "quota set <TAB> (accounts)"
assert_eq "cn-east-2 cn-north-1 cn-south-1" "$(comp imgfs admin --state="$T/state" quota set alice "")" \
    "quota set alice <TAB> (regions)"

say "installed with --prefix P: the unit names P's binary and passes systemd-analyze verify"
P="$T/prefix"
cmake --install "$BUILD" --prefix "$P" >"$T/install.out" 2>&1 || { cat "$T/install.out" >&2; fail "cmake --install --prefix"; }
grep -qxF "ExecStart=$P/bin/imgfs -f -o \${IMGFS_OPTIONS} \${IMGFS_STATE} \${IMGFS_MOUNTPOINT}" \
    "$P/lib/systemd/system/imgfs.service" || fail "the unit does not run $P/bin/imgfs"
if command -v systemd-analyze >/dev/null; then
    MANPATH="$P/share/man" systemd-analyze verify "$P/lib/systemd/system/imgfs.service" >"$T/verify.out" 2>&1 ||
        { cat "$T/verify.out" >&2; fail "systemd-analyze verify imgfs.service"; }
    [[ ! -s "$T/verify.out" ]] || { cat "$T/verify.out" >&2; fail "systemd-analyze verify printed warnings"; }
else
    say "(systemd-analyze is not installed: the unit is not verified)"
fi

say "the unit's own command lines, run as systemd would (its variables set, a notify socket): start, reload, stop"
U="$P/lib/systemd/system/imgfs.service"
# unit_cmd KEY: the unit's KEY= command with ${VAR} replaced as systemd does
# (the variables from the test's environment) and $$ as $; the leading
# "-" (ignore failure) dropped.
unit_cmd() {
    local line
    line=$(sed -n "s/^$1=//p" "$U")
    line=${line#-}
    line=${line//\$\{IMGFS_STATE\}/$IMGFS_STATE}
    line=${line//\$\{IMGFS_MOUNTPOINT\}/$IMGFS_MOUNTPOINT}
    line=${line//\$\{IMGFS_OPTIONS\}/$IMGFS_OPTIONS}
    line=${line//\$MAINPID/$MAINPID}
    line=${line//\$\$/\$}
    echo "$line"
}
export IMGFS_STATE="$T/unit-state" IMGFS_MOUNTPOINT="$T/unit-mnt" IMGFS_OPTIONS="allow_other,multiuser,workers=1"
MAINPID=""
python3 - "$T/unit.sock" >"$T/unit-notify.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
while True:
    msg = s.recv(4096).decode()
    print(msg, flush=True)
    if msg == "STOPPING=1":
        break
PY
listener=$!
wait_for 10 test -S "$T/unit.sock" || fail "the notify listener did not start"
eval "$(unit_cmd ExecStartPre)" || fail "ExecStartPre: $(unit_cmd ExecStartPre)"
[[ -d $IMGFS_MOUNTPOINT ]] || fail "ExecStartPre made no mount point"
NOTIFY_SOCKET="$T/unit.sock" eval "$(unit_cmd ExecStart) 2>$T/unit.err &"
MAINPID=$!
wait_for 30 grep -qx READY=1 "$T/unit-notify.out" || fail "no READY=1 from ExecStart: $(cat "$T/unit.err")"
assert_eq "$IMGFS_STATE fuse.imgfs" "$(awk -v m="$IMGFS_MOUNTPOINT" '$2 == m { print $1, $3 }' /proc/mounts)" \
    "the unit's mount in /proc/mounts"
[[ -d "$IMGFS_MOUNTPOINT/regions/cn-north-1" ]] || fail "the unit's mount does not answer"
_MOUNTS+=("$IMGFS_MOUNTPOINT"); _MOUNT_STATE[$IMGFS_MOUNTPOINT]=$IMGFS_STATE; _MOUNT_PID[$IMGFS_MOUNTPOINT]=$MAINPID
mv "$IMGFS_STATE/imgfs.log" "$IMGFS_STATE/imgfs.log.1"
eval "$(unit_cmd ExecReload)" || fail "ExecReload"
wait_for 10 test -f "$IMGFS_STATE/imgfs.log" || fail "ExecReload made no new log"
mountpoint -q "$IMGFS_MOUNTPOINT" || fail "ExecReload unmounted"
kill -TERM "$MAINPID" # systemctl stop
rc=0; wait "$MAINPID" || rc=$?
assert_eq 0 "$rc" "ExecStart's exit status after SIGTERM (systemctl stop)"
wait "$listener" || fail "the notify listener: $(cat "$T/unit-notify.out")"
assert_eq "READY=1
STOPPING=1" "$(cat "$T/unit-notify.out")" "what the unit's process told systemd"
mountpoint -q "$IMGFS_MOUNTPOINT" && fail "still mounted after the stop"
_MOUNTS=()

say "ExecStopPost detaches a dead mount a crash left, and leaves a live one alone"
"$D/usr/local/bin/imgfs" "$IMGFS_STATE" "$IMGFS_MOUNTPOINT"
pid=$(pgrep -n -x -f -- "$D/usr/local/bin/imgfs $IMGFS_STATE $IMGFS_MOUNTPOINT") || fail "no daemon"
_MOUNTS+=("$IMGFS_MOUNTPOINT"); _MOUNT_STATE[$IMGFS_MOUNTPOINT]=$IMGFS_STATE; _MOUNT_PID[$IMGFS_MOUNTPOINT]=$pid
eval "$(unit_cmd ExecStopPost)" || true
mountpoint -q "$IMGFS_MOUNTPOINT" || fail "ExecStopPost detached a live mount"
kill -9 "$pid"
wait_for 10 bash -c "! stat -f '$IMGFS_MOUNTPOINT' >/dev/null 2>&1" || fail "the mount did not die"
eval "$(unit_cmd ExecStopPost)" || fail "ExecStopPost failed on a dead mount"
mountpoint -q "$IMGFS_MOUNTPOINT" && fail "ExecStopPost left the dead mount"
_MOUNTS=()
exit 0

#!/usr/bin/env bash
# SPEC §15 (install): `cmake --install` of the build that made $IMGFS, into
# a DESTDIR with prefix /usr/local, puts imgfs in bin/, the manual pages
# imgfs(8), imgfs-admin(8), imgfs-serve(8) in share/man/man8, imgfs-wait(1)
# in man1, imgfs(5) in man5 and imgfs-images(7) (the guide) in man7 — each rendered by groff with no output at
# all, shown by man -l, and naming every command and option the binary's
# own --help lists —, the systemd unit in lib/systemd/system and the bash
# completion; the
# installed binary prints the build's version, mounts a state, answers and
# unmounts.  Installed into a plain --prefix, the unit names that prefix's
# binary and passes `systemd-analyze verify` (its Documentation= pages
# found by man), and its own command lines work as systemd runs them:
# ExecStartPre makes the mount point, ExecStart mounts and sends READY=1
# once the mount answers, ExecReload (SIGHUP) reopens a moved log, a stop
# (SIGTERM) sends STOPPING=1, unmounts and exits 0, and ExecStopPost
# detaches a dead mount but not a live one.  imgfs-serve.service passes
# systemd-analyze verify too, and its command lines work as systemd runs
# them: READY=1 once imgfs serve listens (it answers), a reload reopens its
# log, a stop sends STOPPING=1 and exits 0.  A packager's configuration
# (-DBUILD_TESTING=OFF) needs no cmocka and compiles no test.  The
# completion completes
# admin subcommands, -o options, and account and region names from the
# state named on the line.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

BUILD=$(dirname "$(readlink -f "$IMGFS")")
[[ -f "$BUILD/cmake_install.cmake" ]] || fail "$BUILD (where $IMGFS is) is not a CMake build directory"

say "cmake --install --prefix /usr/local with DESTDIR"
D="$T/destdir"
# Debian 12's plocate /etc/updatedb.conf: the install adds fuse.imgfs to its
# PRUNEFS (SPEC §15, issue 70), once however often it runs.
mkdir -p "$D/etc"
cat >"$D/etc/updatedb.conf" <<'CONF'
PRUNE_BIND_MOUNTS="yes"
# PRUNENAMES=".git .bzr .hg .svn"
PRUNEPATHS="/tmp /var/spool /media /var/lib/os-prober /var/lib/ceph /home/.ecryptfs /var/lib/schroot"
PRUNEFS="NFS afs autofs binfmt_misc ceph cgroup cgroup2 cifs coda configfs curlftpfs debugfs devfs devpts devtmpfs ecryptfs ftpfs fuse.ceph fuse.cryptomount fuse.glusterfs fuse.gvfsd-fuse fuse.mfs fuse.rozofs fuse.sshfs fusectl fusesmb hugetlbfs iso9660 lustre lustre_lite mfs mqueue ncpfs nfs nfs4 ocfs ocfs2 proc pstore rpc_pipefs securityfs shfs smbfs sysfs tmpfs tracefs udev udf usbfs"
CONF
prunefs() { (source "$1" && echo "$PRUNEFS"); } # the value updatedb reads (a shell assignment)
before=$(prunefs "$D/etc/updatedb.conf")
DESTDIR=$D cmake --install "$BUILD" --prefix /usr/local >"$T/install.out" 2>&1 ||
    { cat "$T/install.out" >&2; fail "cmake --install into DESTDIR"; }
PAGES=(man8/imgfs.8 man8/imgfs-admin.8 man8/imgfs-serve.8 man1/imgfs-wait.1 man5/imgfs.5 man7/imgfs-images.7)
for f in bin/imgfs "${PAGES[@]/#/share/man/}" lib/systemd/system/imgfs.service lib/systemd/system/imgfs-serve.service \
    share/bash-completion/completions/imgfs share/doc/imgfs/LICENSE; do
    [[ -s "$D/usr/local/$f" ]] || fail "not installed: /usr/local/$f"
done
[[ -x "$D/usr/local/bin/imgfs" ]] || fail "the installed imgfs is not executable"
assert_eq "fuse.imgfs $before" "$(prunefs "$D/etc/updatedb.conf")" "PRUNEFS after the install"
DESTDIR=$D cmake --install "$BUILD" --prefix /usr/local >"$T/install.out" 2>&1 ||
    { cat "$T/install.out" >&2; fail "cmake --install into DESTDIR, a second time"; }
assert_eq "fuse.imgfs $before" "$(prunefs "$D/etc/updatedb.conf")" "PRUNEFS after a second install"
assert_eq 4 "$(wc -l <"$D/etc/updatedb.conf")" "lines of updatedb.conf after two installs"
# files/'s helper (SPEC §18), where the daemon looks: ../libexec/ of its binary.
[[ -x "$D/usr/local/libexec/imgfs-inside-helper" ]] || fail "not installed: /usr/local/libexec/imgfs-inside-helper"
[[ -s "$D/etc/logrotate.d/imgfs" ]] || fail "not installed: /etc/logrotate.d/imgfs"
command -v logrotate >/dev/null || fail "logrotate is needed (scripts/install-deps)"
logrotate -d -s "$T/logrotate.status" "$D/etc/logrotate.d/imgfs" >"$T/logrotate.out" 2>&1 ||
    { cat "$T/logrotate.out" >&2; fail "logrotate -d refused /etc/logrotate.d/imgfs"; }
! grep -qi '^error' "$T/logrotate.out" || { cat "$T/logrotate.out" >&2; fail "logrotate -d: errors in /etc/logrotate.d/imgfs"; }
grep -q 'rotating pattern: /var/lib/imgfs/imgfs.log' "$T/logrotate.out" || fail "logrotate does not rotate the mount's log"
grep -q "Apache License" "$D/usr/local/share/doc/imgfs/LICENSE" || fail "LICENSE is not the Apache License"
assert_eq "ExecStart=/usr/local/bin/imgfs -f -o \${IMGFS_OPTIONS} \${IMGFS_STATE} \${IMGFS_MOUNTPOINT}" \
    "$(grep '^ExecStart=' "$D/usr/local/lib/systemd/system/imgfs.service")" "the unit's ExecStart"

say "DESTDIR with --prefix /usr: the unit names /usr/bin/imgfs; an updatedb.conf without PRUNEFS gets one"
D2="$T/destdir-usr"
mkdir -p "$D2/etc"
printf '# PRUNEFS="nfs"\nPRUNE_BIND_MOUNTS="yes"' >"$D2/etc/updatedb.conf"
DESTDIR=$D2 cmake --install "$BUILD" --prefix /usr >"$T/install.out" 2>&1 ||
    { cat "$T/install.out" >&2; fail "cmake --install --prefix /usr into DESTDIR"; }
assert_eq "fuse.imgfs" "$(prunefs "$D2/etc/updatedb.conf")" "PRUNEFS added to an updatedb.conf without one"
assert_eq '# PRUNEFS="nfs"' "$(head -n 1 "$D2/etc/updatedb.conf")" "the comment left as it was"
assert_eq "ExecStart=/usr/bin/imgfs -f -o \${IMGFS_OPTIONS} \${IMGFS_STATE} \${IMGFS_MOUNTPOINT}" \
    "$(grep '^ExecStart=' "$D2/usr/lib/systemd/system/imgfs.service")" "the unit's ExecStart under --prefix /usr"
[[ -s "$D2/etc/logrotate.d/imgfs" ]] || fail "not installed under --prefix /usr: /etc/logrotate.d/imgfs"

say "the manual pages render with no output at all (groff -man -ww -z) and man -l shows them"
command -v groff >/dev/null || fail "groff is needed (scripts/install-deps: groff-base)"
M="$D/usr/local/share/man"
for p in "${PAGES[@]}"; do
    groff -man -ww -z "$M/$p" >"$T/groff.out" 2>&1 || true
    [[ ! -s "$T/groff.out" ]] || { cat "$T/groff.out" >&2; fail "groff says something about $p"; }
    man -l "$M/$p" 2>/dev/null >"$T/${p#*/}.txt"
    grep -q "^NAME" "$T/${p#*/}.txt" || fail "man -l $p shows no NAME section"
    grep -q "^SEE ALSO" "$T/${p#*/}.txt" || fail "man -l $p shows no SEE ALSO section"
done
for o in state= db= account= workers= multiuser allow_other ro log= log_max= debug; do
    grep -qF -- "-o $o" "$T/imgfs.8.txt" || fail "imgfs(8) does not describe -o $o"
done

say "the manual pages name every command and option the binary lists"
# Every imgfs option of `imgfs --help` (the lines "    -o NAME[=...]"), in imgfs(5)'s MOUNT OPTIONS.
opts=$("$IMGFS" --help | sed -n '/^imgfs options:/,/^$/s/^    -o \([a-z_]*=\{0,1\}\).*/\1/p')
[[ $(wc -w <<<"$opts") -ge 12 ]] || fail "imgfs --help listed only: $opts"
sed -n '/^MOUNT OPTIONS/,/^FSTAB/p' "$T/imgfs.5.txt" >"$T/options.txt"
for o in $opts; do
    grep -qE "^ {7}${o}" "$T/options.txt" || fail "imgfs(5) has no entry for the mount option $o"
done
# Every command of `imgfs admin --help`, and each of its subcommands (the
# second word: "account add", "import allow|deny|remove"), is an entry of
# imgfs-admin(8)'s COMMANDS.
sed -n '/^COMMANDS/,/^EXIT STATUS/p' "$T/imgfs-admin.8.txt" >"$T/commands.txt"
n=0
while read -r cmd sub _; do
    n=$((n + 1))
    grep -qE "^ {7}${cmd}( |$)" "$T/commands.txt" || fail "imgfs-admin(8) has no entry for $cmd"
    [[ $sub =~ ^[a-z][a-z|]*$ ]] || continue
    for s in ${sub//|/ }; do
        grep -qE "^ {7}${cmd} [^ ]*\b${s}\b" "$T/commands.txt" || fail "imgfs-admin(8) has no entry for $cmd $s"
    done
done < <("$IMGFS" admin --help | sed -n 's/^  \([a-z][a-z-]*\)\( [^ ]*\)\{0,1\}.*/\1\2/p')
((n >= 14)) || fail "imgfs admin --help listed $n commands"
# Every option of `imgfs serve --help` in imgfs-serve(8)'s OPTIONS, and of
# `imgfs wait --help` in imgfs-wait(1)'s.
while read -r sub page; do
    sed -n '/^OPTIONS/,/^[A-Z]/p' "$T/$page.txt" >"$T/$sub-options.txt"
    n=0
    for o in $("$IMGFS" "$sub" --help | grep -oE -- '(^|[ [])-{1,2}[a-z][a-z-]*' | grep -oE -- '-{1,2}[a-z-]+' | sort -u); do
        [[ $o == -h || $o == --help ]] && continue
        n=$((n + 1))
        grep -qE -- "^ {7}([^ ].*, )?${o}( |,|=|$)" "$T/$sub-options.txt" || fail "$page has no entry for imgfs $sub $o"
    done
    ((n >= 2)) || fail "imgfs $sub --help listed $n options"
done <<<"serve imgfs-serve.8
wait imgfs-wait.1"

say "a packager's build: -DBUILD_TESTING=OFF configures without cmocka and compiles no test"
# pkg-config as on a machine without cmocka (every other module found).
mkdir -p "$T/nocmocka"
cat >"$T/nocmocka/pkg-config" <<'SH'
#!/bin/sh
for a in "$@"; do case $a in *cmocka*) exit 1 ;; esac; done
exec pkg-config "$@"
SH
chmod +x "$T/nocmocka/pkg-config"
SRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt")
[[ -f $SRC/CMakeLists.txt ]] || fail "no source directory in $BUILD/CMakeCache.txt"
"$T/nocmocka/pkg-config" --exists cmocka && fail "the pkg-config wrapper finds cmocka"
pkg-config --exists cmocka || fail "cmocka is not installed here (scripts/install-deps)"
# A build with the tests has test targets (so the check below can fail).
grep -q '/unit_model_meta_test_account\.dir$' "$BUILD/CMakeFiles/TargetDirectories.txt" ||
    fail "the tested build has no unit test target"
B="$T/notest"
cmake -S "$SRC" -B "$B" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
    -DPKG_CONFIG_EXECUTABLE="$T/nocmocka/pkg-config" >"$T/notest.out" 2>&1 ||
    { cat "$T/notest.out" >&2; fail "configuring with -DBUILD_TESTING=OFF and no cmocka"; }
grep -q '/imgfs\.dir$' "$B/CMakeFiles/TargetDirectories.txt" || fail "no imgfs target with BUILD_TESTING=OFF"
grep -E '/(unit|fuzz)_[^/]*\.dir$' "$B/CMakeFiles/TargetDirectories.txt" && fail "BUILD_TESTING=OFF has test targets"
# What `cmake --build` would run (make -n -k: nothing runs; the links fail
# for want of the libraries, every compile is still listed): no test source.
cmake --build "$B" -- -n -k >"$T/notest-build.out" 2>&1 || true
grep 'tests/' "$T/notest-build.out" && fail "the BUILD_TESTING=OFF build compiles a test"
grep -q 'fs/cli/admin.c' "$T/notest-build.out" || fail "the BUILD_TESTING=OFF build does not compile imgfs"
[[ ! -e $B/CTestTestfile.cmake ]] || fail "BUILD_TESTING=OFF registered ctest entries"
echo "    configured without cmocka; $(grep -c 'Building C object' "$T/notest-build.out") objects, none a test"

say "the installed binary: its version, a mount that answers, an unmount"
I="$D/usr/local/bin/imgfs"
assert_eq "$("$IMGFS" --version)" "$("$I" --version)" "the installed binary's --version"
mkdir -p "$T/mnt"
"$I" "$T/state" "$T/mnt" || fail "the installed imgfs did not mount"
_MOUNTS+=("$T/mnt"); _MOUNT_STATE[$T/mnt]=$T/state; _MOUNT_PID[$T/mnt]=""
[[ -d "$T/mnt/regions/cn-north-1/public/centos-7.4" ]] || fail "the installed imgfs's mount does not answer"
# Its files/ helper started ahead (SPEC §18) is the installed program.
installed_helper() {
    local p
    for p in /proc/[0-9]*; do
        [[ $p/exe -ef $D/usr/local/libexec/imgfs-inside-helper ]] && return 0 # (no process a turn)
    done
    return 1
}
wait_until 10 installed_helper || fail "no helper of the installed imgfs runs libexec/imgfs-inside-helper"
"$I" admin --state "$T/state" account add alice --uid 2301 >/dev/null
"$I" admin --state "$T/state" account add boss --admin >/dev/null
"$I" admin --state "$T/state" account add dev --parent alice >/dev/null
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
assert_eq "add list remove set" "$(comp imgfs admin account "")" "imgfs admin account <TAB>"
assert_eq "set show" "$(comp imgfs admin quota "")" "imgfs admin quota <TAB>"
assert_eq "unpublish" "$(comp imgfs admin unp)" "imgfs admin unp<TAB>"
assert_eq "--db --dry-run" "$(comp imgfs admin gc --d)" "imgfs admin gc --d<TAB>"
assert_eq "--tls-cert --tls-key" "$(comp imgfs serve --tls)" "imgfs serve --tls<TAB>"
assert_eq "--max-connections --max-per-client" "$(comp imgfs serve --max)" "imgfs serve --max<TAB>"
assert_eq "allow_other,multiuser" "$(comp imgfs -o allow_other,mul)" "imgfs -o allow_other,mul<TAB>"
assert_eq "alice boss dev root" "$(comp imgfs admin --state "$T/state" quota set "")" "quota set <TAB> (accounts)"
assert_eq "cn-east-2 cn-north-1 cn-south-1" "$(comp imgfs admin --state="$T/state" quota set alice "")" \
    "quota set alice <TAB> (regions)"
assert_eq "alice boss dev root" "$(comp imgfs admin --state "$T/state" account remove "")" "account remove <TAB> (accounts)"
assert_eq "admin api-password encrypt-by-default parent uid" "$(comp imgfs admin --state "$T/state" account set dev "")" "account set dev <TAB>"
assert_eq "- alice root" "$(comp imgfs admin --state "$T/state" account set dev parent "")" \
    "account set dev parent <TAB> (main accounts)"
assert_eq "no yes" "$(comp imgfs admin --state "$T/state" account set dev admin "")" "account set dev admin <TAB>"
assert_eq "alice root" "$(comp imgfs admin --state "$T/state" account add x --parent "")" "--parent <TAB> (main accounts)"
assert_eq "--admin" "$(comp imgfs admin account add x --ad)" "account add x --ad<TAB>"
assert_eq "cn-east-2 cn-north-1 cn-south-1" "$(comp imgfs admin --state "$T/state" unpublish public "")" \
    "unpublish public <TAB> (regions)"

say "bash completion offers every command and option the binary's own usage lists (issue 70)"
# has WORD... : the completion of the words (the last one being completed)
# offers the word given in $want.
offers() { [[ " $(comp "$@") " == *" $want "* ]] || fail "completing '$*' does not offer '$want' (offers: $(comp "$@"))"; }
checked=0
# imgfs's own commands, from its usage lines
for want in $("$IMGFS" --help | sed -nE 's/^(usage:)? +[^ ]*imgfs ([a-z]+) .*/\2/p'); do offers imgfs ""; checked=$((checked + 1)); done
# every -o option of `imgfs --help` ($opts, above)
for want in $opts; do offers imgfs -o ""; checked=$((checked + 1)); done
# serve's and wait's options
for sub in serve wait; do
    for want in $("$IMGFS" "$sub" --help | grep -oE -- '(^|[ [])-{1,2}[a-z][a-z-]*' | grep -oE -- '-{1,2}[a-z-]+' | sort -u); do
        offers imgfs "$sub" -; checked=$((checked + 1))
    done
done
# `imgfs admin --help`: each command line ("  account add NAME [--uid UID] ...")
# and the lines that continue it.  Its words up to the first option are
# typed (an upper-case placeholder as x, a|b as a), each literal word
# offered where it stands, each --option of the lines offered after them,
# and the global options of the usage line with every command.
"$IMGFS" admin --help >"$T/admin-help.txt"
globals=$(sed -n 1p "$T/admin-help.txt" | grep -oE -- '--[a-z][a-z-]*')
[[ $(wc -w <<<"$globals") -ge 4 ]] || fail "imgfs admin --help's usage line lists only: $globals"
words=()
check_admin_line() { # the command's words so far in words[], its options in $1
    local want
    for want in $1; do offers imgfs admin "${words[@]}" --; checked=$((checked + 1)); done
}
pending_opts=""
while IFS= read -r line; do
    if [[ $line =~ ^\ \ [a-z] ]]; then
        ((${#words[@]} == 0)) || check_admin_line "$pending_opts $globals"
        words=()
        pending_opts=""
        cmdcol=${line#  }
        cmdcol=${cmdcol%%  *}
        for w in $cmdcol; do
            [[ $w == [\[-]* ]] && break
            if [[ $w =~ ^[a-z][a-z|-]*$ ]]; then
                for want in ${w//|/ }; do offers imgfs admin "${words[@]}" ""; checked=$((checked + 1)); done
                words+=("${w%%|*}")
            else
                words+=(x)
            fi
        done
    fi
    if [[ $line =~ ^\ \  ]]; then
        pending_opts+=" $(grep -oE -- '(^|[ [|])--[a-z][a-z-]*' <<<"$line" | grep -oE -- '--[a-z-]+' || true)"
    fi
done <"$T/admin-help.txt"
check_admin_line "$pending_opts $globals"
# the quota keys "quota set" lists in its parenthesis
keys=$(sed -n '/^  quota set/,/)/p' "$T/admin-help.txt" | tr '\n' ' ' | sed -E 's/.*\(([^)]*)\).*/\1/; s/,/ /g')
[[ $(wc -w <<<"$keys") -ge 5 ]] || fail "imgfs admin --help's quota keys: $keys"
for want in $keys; do offers imgfs admin quota set x cn-north-1 ""; checked=$((checked + 1)); done
((checked >= 100)) || fail "only $checked completions checked: the usage was not read"
say "    $checked completions checked"

say "installed with --prefix P: the unit names P's binary and passes systemd-analyze verify"
P="$T/prefix"
cmake --install "$BUILD" --prefix "$P" >"$T/install.out" 2>&1 || { cat "$T/install.out" >&2; fail "cmake --install --prefix"; }
grep -qxF "ExecStart=$P/bin/imgfs -f -o \${IMGFS_OPTIONS} \${IMGFS_STATE} \${IMGFS_MOUNTPOINT}" \
    "$P/lib/systemd/system/imgfs.service" || fail "the unit does not run $P/bin/imgfs"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is needed (scripts/install-deps: systemd)"
MANPATH="$P/share/man" systemd-analyze verify "$P/lib/systemd/system/imgfs.service" >"$T/verify.out" 2>&1 ||
    { cat "$T/verify.out" >&2; fail "systemd-analyze verify imgfs.service"; }
[[ ! -s "$T/verify.out" ]] || { cat "$T/verify.out" >&2; fail "systemd-analyze verify printed warnings"; }

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
say "imgfs-serve.service: verified; its command lines as systemd runs them: READY=1 once it listens, reload, stop"
SU="$P/lib/systemd/system/imgfs-serve.service"
grep -qxF "ExecStart=$P/bin/imgfs serve --state \${IMGFS_STATE} \$IMGFS_SERVE_OPTIONS" "$SU" ||
    fail "imgfs-serve.service does not run $P/bin/imgfs: $(grep '^ExecStart=' "$SU")"
if command -v systemd-analyze >/dev/null; then
    MANPATH="$P/share/man" systemd-analyze verify "$SU" >"$T/verify.out" 2>&1 ||
        { cat "$T/verify.out" >&2; fail "systemd-analyze verify imgfs-serve.service"; }
    [[ ! -s "$T/verify.out" ]] || { cat "$T/verify.out" >&2; fail "systemd-analyze verify printed warnings"; }
fi
# serve_cmd KEY: the unit's KEY= command as systemd expands it (${VAR}
# one word, $VAR split into words).
serve_cmd() {
    local line
    line=$(sed -n "s/^$1=//p" "$SU")
    line=${line//\$\{IMGFS_STATE\}/$IMGFS_STATE}
    line=${line//\$IMGFS_SERVE_OPTIONS/$IMGFS_SERVE_OPTIONS}
    line=${line//\$MAINPID/$MAINPID}
    echo "$line"
}
export IMGFS_SERVE_OPTIONS="--listen 127.0.0.1:0 --log $T/serve-unit.log"
python3 - "$T/serve-unit.sock" >"$T/serve-notify.out" 2>&1 <<'PY' &
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
wait_for 10 test -S "$T/serve-unit.sock" || fail "the notify listener did not start"
NOTIFY_SOCKET="$T/serve-unit.sock" eval "$(serve_cmd ExecStart) 2>$T/serve-unit.err &"
MAINPID=$!
at_exit "kill $MAINPID 2>/dev/null; true"
wait_for 30 grep -qx READY=1 "$T/serve-notify.out" || fail "no READY=1 from imgfs serve: $(cat "$T/serve-unit.err")"
port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/serve-unit.log" | head -1)
[[ -n $port ]] || fail "no listening line in the log once READY=1 was sent"
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/d/nosuchtoken")" \
    "imgfs serve's answer right after READY=1"
mv "$T/serve-unit.log" "$T/serve-unit.log.1"
eval "$(serve_cmd ExecReload)" || fail "imgfs-serve.service's ExecReload"
wait_for 10 test -f "$T/serve-unit.log" || fail "ExecReload made no new log"
kill -TERM "$MAINPID"
rc=0; wait "$MAINPID" || rc=$?
assert_eq 0 "$rc" "imgfs serve's exit status after SIGTERM (systemctl stop)"
wait "$listener" || fail "the notify listener: $(cat "$T/serve-notify.out")"
assert_eq "READY=1
STOPPING=1" "$(cat "$T/serve-notify.out")" "what imgfs serve told systemd"
exit 0

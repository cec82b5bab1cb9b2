# shellcheck shell=bash
# Helpers sourced by every tests/integration/test_*.sh.
#
# A test is run by run-one, which exports IMGFS (the binary under test).
# Sourcing this file:
#   - turns on `set -euo pipefail`,
#   - creates a private temporary directory $T (mktemp -d, parallel-safe),
#   - installs an EXIT trap that unmounts every mount made with mount_imgfs
#     (lazy unmount as the last resort), waits for the daemons to exit,
#     reports sanitizer findings of any imgfs process (an ASan build writes
#     them to $T/sanitizer.*; a finding fails the test), and removes $T.
#
# Conventions: `say` prints what is being checked, so a failure's output
# explains itself; every assert_* prints what it expected and what it got.
set -euo pipefail

INTEGRATION_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ERRNO_PY="$INTEGRATION_DIR/errno.py"
: "${IMGFS:?IMGFS must name the imgfs binary (tests are run by tests/integration/run-one)}"
[[ -x $IMGFS ]] || { echo "FATAL: IMGFS=$IMGFS is not an executable" >&2; exit 1; }

TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/imgfs-$TEST_NAME.XXXXXX")
export LC_ALL=C.UTF-8

# Sanitizer reports of every imgfs process (daemon and admin commands) go to
# files in $T so that a report from the daemonized process is not lost.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/sanitizer-asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$T/sanitizer-ubsan"
# ... but GCC 12's UBSan, beside ASan, writes to stderr whatever log_path
# says, and a daemon's stderr is /dev/null once it detached: the daemons
# keep it in this file (fs/cli/service.c), read at exit.
export IMGFS_STDERR="$T/daemon-stderr"

# nap SECONDS: sleep(1) without a process: a read that times out on a
# pipe nobody writes (this shell holds its write end).  The helpers below
# poll ten times a second, and on this machine a fork and exec costs
# about 10 ms of CPU: `sleep` was a third of the processes a test started.
exec {_NAP_FD}<> <(:)
nap() { read -rt "$1" -u "$_NAP_FD" _ || true; }

declare -a _MOUNTS=()        # mount points made by mount_imgfs, in order
declare -A _MOUNT_STATE=()   # mount point -> state dir
declare -A _MOUNT_PID=()     # mount point -> daemon pid ("" when unknown)
declare -a _OTHER_MOUNTS=()  # other mounts a test made (tmpfs ...), see also_unmount
declare -a _AT_EXIT=()       # commands to run after unmounting, see at_exit

say() { printf '  - [%3ds] %s\n' "$SECONDS" "$*"; }

# --- the daemons' watchdog -------------------------------------------------
# A daemon that dies with its mount attached can leave a request of the
# test waiting forever, not failing: a thread of the dying daemon that was
# telling the kernel to forget a name (a reverse invalidation) waits for
# the directory's lock, which the test's own request holds while it waits
# for the answer the dead main thread never sends; the daemon never
# finishes dying, so /dev/fuse is never closed and the kernel never aborts
# the connection (test_open_disks hung 900 s, to ctest's timeout, when a
# planted bug crashed the daemon).  So every test runs a watchdog: every
# DOG_POLL seconds it looks at the daemons mount_imgfs started (a file each
# in $T/.watch, named by the pid, holding its FUSE connection's number and
# the mount point), and one that is gone or whose main thread exited (a
# zombie leader), with that connection still mounted there DOG_GRACE
# seconds later, has its FUSE connection aborted
# (/sys/fs/fuse/connections/N/abort): every request on it fails at once
# with ECONNABORTED, as the kernel would have done had the daemon finished
# dying, and the test fails where it stood.  The line saying which daemon
# died goes to stderr and into $T/.daemon-died, which the exit trap prints
# again beside the failure.  Aborting a dead daemon's connection is never
# wrong (it only does what the kernel does at the daemon's exit), so the
# watchdog needs no opt-out; a test that stops a daemon on purpose through
# umount_imgfs, kill_imgfs or freeze_until_taken_over is unwatched first.
# It costs one bash process a test, no fork a turn (builtins only).
DOG_POLL=${DOG_POLL:-0.5}
DOG_GRACE=${DOG_GRACE:-3}
mkdir "$T/.watch"
# _watch_add MNT PID: watches daemon PID, serving MNT on the FUSE connection
# MNT has now (a later mount on MNT is another's: its watch goes).
_watch_add() {
    local f
    [[ -n "${2:-}" ]] || return 0
    for f in "$T/.watch"/*; do
        if [[ -f "$f" && "$(<"$f")" == *$'\n'"$1" ]]; then rm -f "$f"; fi
    done
    _fuse_conn "$1"
    printf '%s\n%s\n' "$_CONN" "$1" >"$T/.watch/$2"
}
_watch_drop() { [[ -z "${1:-}" ]] || rm -f "$T/.watch/$1"; }              # PID

# _daemon_dead PID: gone, or its main thread exited (state Z or X).
_daemon_dead() {
    local line
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
    line=${line##*) }
    [[ ${line:0:1} == [ZX] ]]
}

# _fuse_conn MNT: sets _CONN to the FUSE connection number of the mount
# at MNT (its device's minor: the name under /sys/fs/fuse/connections),
# empty when MNT is not a FUSE mount any more.
_fuse_conn() {
    local id parent dev root mp rest
    _CONN=
    # (if, not &&: a loop's status is its last test's, and under set -e a
    # last mountinfo line that is another test's mount failed the caller)
    while read -r id parent dev root mp rest; do
        if [[ "$mp" == "$1" && "$rest" == *" - fuse"* ]]; then _CONN=${dev#*:}; fi
    done </proc/self/mountinfo
}

_watchdog() {
    local main=$1 f pid conn mnt now live
    local -A seen=()
    set +e
    while kill -0 "$main" 2>/dev/null; do
        for f in "$T/.watch"/*; do
            pid=${f##*/}
            [[ -f "$f" ]] && _daemon_dead "$pid" || { unset "seen[$pid]"; continue; }
            now=$SECONDS
            : "${seen[$pid]:=$now}"
            ((now - seen[$pid] >= DOG_GRACE)) || continue
            { { read -r conn && read -r mnt; } <"$f" && rm -f "$f"; } 2>/dev/null || continue
            _fuse_conn "$mnt"
            # detached, or another daemon's mount now: nothing waits on it
            [[ -n "$_CONN" && "$_CONN" == "$conn" ]] || continue
            # a live daemon serves it after all (the pid watched was not
            # the daemon's): watch that one, abort nothing
            live=$(_daemon_pid "$mnt")
            if [[ -n "$live" ]] && ! _daemon_dead "$live"; then
                printf '%s\n%s\n' "$conn" "$mnt" >"$T/.watch/$live"
                continue
            fi
            [[ -d /sys/fs/fuse/connections/$_CONN ]] || mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null
            echo 1 >"/sys/fs/fuse/connections/$_CONN/abort"
            printf 'watchdog: the imgfs daemon %s serving %s died (its mount still attached %d s later): its FUSE connection was aborted, so no request waits on it\n' \
                "$pid" "$mnt" "$((now - seen[$pid]))" | tee -a "$T/.daemon-died" >&2
        done
        nap "$DOG_POLL"
    done
}

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
    if [[ "$1" != "$2" ]]; then
        printf 'FAIL: %s\n  expected: %q\n  actual:   %q\n' "${3:-assert_eq}" "$1" "$2" >&2
        exit 1
    fi
}

# assert_ne UNEXPECTED ACTUAL [WHAT]
assert_ne() {
    if [[ "$1" == "$2" ]]; then
        printf 'FAIL: %s\n  did not expect: %q\n' "${3:-assert_ne}" "$2" >&2
        exit 1
    fi
}

# assert_match REGEX ACTUAL [WHAT]   (bash ERE, whole string)
assert_match() {
    if ! [[ "$2" =~ ^($1)$ ]]; then
        printf 'FAIL: %s\n  expected to match: %s\n  actual: %q\n' "${3:-assert_match}" "$1" "$2" >&2
        exit 1
    fi
}

# assert_file_eq FILE1 FILE2 [WHAT]: byte-exact equality (cmp).
assert_file_eq() {
    cmp -- "$1" "$2" >&2 || fail "${3:-files differ}: $1 vs $2"
}

# assert_errno EXPECTED OP ARGS... : performs one operation through errno.py
# and checks the errno name it hit (or OK).
assert_errno() {
    local expected=$1; shift
    local got
    got=$(python3 "$ERRNO_PY" "$@") || fail "errno.py $* did not run"
    if [[ "$got" != "$expected" ]]; then
        printf 'FAIL: %s\n  expected: %s\n  actual:   %s\n' "$(printf '%q ' "$@")" "$expected" "$got" >&2
        exit 1
    fi
}

# assert_fails CMD...: the command must exit non-zero.
assert_fails() {
    if "$@" >"$T/assert_fails.out" 2>&1; then
        cat "$T/assert_fails.out" >&2
        fail "expected to fail but succeeded: $*"
    fi
}

# errno_of OP ARGS...: prints the errno name (or OK) of one operation.
errno_of() { python3 "$ERRNO_PY" "$@"; }

# imgfs_admin STATE ARGS...: runs `imgfs admin --state STATE ARGS...`.
imgfs_admin() {
    local state=$1; shift
    "$IMGFS" admin --state "$state" "$@"
}

# _daemon_pid MNT: pid of the imgfs process serving MNT (empty if not found).
# A process's comm is read without a fork; only imgfs processes cost a
# readlink (a readlink for each of the machine's processes at every mount
# was half the processes the tests started).
_daemon_pid() {
    local mnt=$1 p exe comm name alias ppid
    local -a found=()
    local imgfs_real
    imgfs_real=$(readlink -f "$IMGFS")
    name=${imgfs_real##*/} alias=${IMGFS##*/}
    name=${name:0:15} alias=${alias:0:15} # comm: the file's name, cut at 15 bytes
    for p in /proc/[0-9]*; do
        { read -r comm <"$p/comm"; } 2>/dev/null || continue
        [[ "$comm" == "$name" || "$comm" == "$alias" ]] || continue
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        [[ "$exe" == "$imgfs_real" || "$exe" == "$imgfs_real (deleted)" ]] || continue
        tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$mnt" && found+=("${p#/proc/}")
    done
    # A child the daemon forks (a files/ helper between its fork and its
    # exec) has the daemon's name, program and arguments for a moment: the
    # daemon is the one whose parent is not one of them. Taking the child
    # made the watchdog abort a live mount once that helper exited
    # (test_inside_listing, Asan).
    for p in "${found[@]}"; do
        ppid=$(awk '$1 == "PPid:" { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
        [[ " ${found[*]} " == *" $ppid "* ]] && continue
        echo "$p"
        return 0
    done
    return 0
}

log_tail() {
    local state=$1
    if [[ -f "$state/imgfs.log" ]]; then
        echo "--- tail of $state/imgfs.log:" >&2
        tail -n 20 "$state/imgfs.log" >&2
    fi
}

# mount_imgfs STATE MNT [EXTRA_OPTS]: mounts imgfs (daemonized) and waits
# until MNT/regions is listable, at most 20 s.
mount_imgfs() {
    local state=$1 mnt=$2 extra=${3:-}
    local opts="state=$state" out="$T/mount.$$.$RANDOM.out" i
    [[ -n "$extra" ]] && opts="$opts,$extra"
    mkdir -p "$mnt"
    _from_template "$state" "$extra"
    if ! timeout 30 "$IMGFS" -o "$opts" "$mnt" >"$out" 2>&1; then
        echo "--- imgfs output:" >&2; cat "$out" >&2
        log_tail "$state"
        fail "imgfs -o $opts $mnt exited non-zero"
    fi
    _MOUNTS+=("$mnt")
    _MOUNT_STATE[$mnt]=$state
    _MOUNT_PID[$mnt]=""
    for ((i = 0; i < 200; i++)); do
        if mountpoint -q "$mnt" && ls "$mnt/regions" >/dev/null 2>&1; then
            _MOUNT_PID[$mnt]=$(_daemon_pid "$mnt")
            _watch_add "$mnt" "${_MOUNT_PID[$mnt]}"
            return 0
        fi
        nap 0.1
    done
    echo "--- imgfs output:" >&2; cat "$out" >&2
    log_tail "$state"
    fail "imgfs did not mount $mnt within 20 s"
}

# _from_template STATE OPTS: a new embedded state starts as a copy of the
# template (ctest's `template` fixture, IMGFS_TEST_TEMPLATE: what a first
# mount makes), unless the test wants a first mount of its own
# (IMGFS_FRESH=1), the state exists, or its metadata is elsewhere (db=).
_from_template() {
    local state=$1 opts=$2
    [[ -n "${IMGFS_TEST_TEMPLATE:-}" && -f "$IMGFS_TEST_TEMPLATE/imgfs.db" ]] || return 0
    [[ "${IMGFS_FRESH:-0}" != 1 && ! -e "$state" && ",$opts," != *,db=* ]] || return 0
    cp -a --sparse=always -- "$IMGFS_TEST_TEMPLATE" "$state"
}

# _wait_gone PID SECONDS: waits for a process to exit; 0 if it did.
_wait_gone() {
    local pid=$1 n=$(($2 * 10))
    [[ -n "$pid" ]] || return 0
    while ((n-- > 0)); do
        kill -0 "$pid" 2>/dev/null || return 0
        nap 0.1
    done
    return 1
}

# stat_of MNT NAME [LABELS]: the value of a /stats series, e.g.
# stat_of "$M" imgfs_requests_total 'op="lookup"' (empty if absent).
stat_of() {
    local series=$2${3:+\{$3\}}
    awk -v s="$series" '$1 == s { print $2 }' "$1/stats"
}

# _check_scans MNT: every statement the mount ran used its indexes
# (imgfs_db_unexpected_scan_rows_total stays 0: model/db/db.h).  Every
# integration test checks it when it unmounts, so each code path a test
# takes is checked at run time too.  Prints why and returns 1 otherwise; a
# mount that no longer answers is not judged here.
_check_scans() {
    local n
    n=$(stat_of "$1" imgfs_db_unexpected_scan_rows_total 2>/dev/null) || return 0
    [[ -z "$n" || "$n" == 0 ]] && return 0
    echo "FAIL: $1: $n rows were read by full table scans of statements not marked SQL_SCAN" >&2
    return 1
}

# umount_imgfs MNT: unmounts and waits for the daemon to exit (10 s).
umount_imgfs() {
    local mnt=$1 i pid=${_MOUNT_PID[$1]:-}
    _check_scans "$mnt" || exit 1
    _watch_drop "$pid"
    for ((i = 0; i < 50; i++)); do
        fusermount3 -u "$mnt" 2>"$T/umount.err" && break
        nap 0.1
    done
    if mountpoint -q "$mnt"; then
        cat "$T/umount.err" >&2
        fail "could not unmount $mnt"
    fi
    _wait_gone "$pid" 10 || fail "imgfs daemon $pid did not exit within 10 s of unmounting $mnt"
    local kept=() m
    for m in "${_MOUNTS[@]}"; do [[ "$m" == "$mnt" ]] || kept+=("$m"); done
    _MOUNTS=("${kept[@]+"${kept[@]}"}")
}

# also_unmount DIR: the EXIT trap unmounts DIR (a test's own non-imgfs
# mount, e.g. a tmpfs) after the imgfs mounts.
also_unmount() { _OTHER_MOUNTS+=("$1"); }

# at_exit CMD: the EXIT trap runs the shell command CMD after unmounting
# (stopping a server the test started).
at_exit() { _AT_EXIT+=("$1"); }

# remount_imgfs STATE MNT [EXTRA_OPTS]
remount_imgfs() {
    umount_imgfs "$2"
    mount_imgfs "$@"
}

_cleanup() {
    local rc=$? m pid f
    set +e
    [[ -s "$T/.watchdog" ]] && kill "$(<"$T/.watchdog")" 2>/dev/null
    for m in "${_MOUNTS[@]+"${_MOUNTS[@]}"}"; do
        pid=${_MOUNT_PID[$m]:-}
        _check_scans "$m" || rc=1
        fusermount3 -u "$m" 2>/dev/null || { sleep 0.5; fusermount3 -u "$m" 2>/dev/null; } ||
            fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
        if [[ -n "$pid" ]] && ! _wait_gone "$pid" 10; then
            echo "imgfs daemon $pid (for $m) still running after unmount; killing it" >&2
            kill "$pid" 2>/dev/null; _wait_gone "$pid" 3 || kill -9 "$pid" 2>/dev/null
            rc=1
        fi
        if ((rc != 0)); then log_tail "${_MOUNT_STATE[$m]}"; fi
    done
    for m in "${_OTHER_MOUNTS[@]+"${_OTHER_MOUNTS[@]}"}"; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    for m in "${_AT_EXIT[@]+"${_AT_EXIT[@]}"}"; do
        eval "$m" >/dev/null 2>&1
    done
    for f in "$T"/sanitizer-*; do
        [[ -s "$f" ]] || continue
        echo "--- sanitizer report $f:" >&2
        cat "$f" >&2
        rc=1
    done
    if [[ -s "$T/daemon-stderr" ]] && grep -qE 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$T/daemon-stderr"; then
        echo "--- sanitizer report (a daemon's stderr):" >&2
        cat "$T/daemon-stderr" >&2
        rc=1
    elif ((rc != 0)) && [[ -s "$T/daemon-stderr" ]]; then
        echo "--- the daemons' stderr:" >&2
        tail -n 20 "$T/daemon-stderr" >&2
    fi
    if ((rc != 0)) && [[ -s "$T/.daemon-died" ]]; then
        echo "--- daemons that died under the test (lib.sh's watchdog):" >&2
        cat "$T/.daemon-died" >&2
    fi
    # Never delete through a mount that is somehow still there.
    if grep -qF " $T" /proc/mounts; then
        echo "not removing $T: something is still mounted under it" >&2
    else
        rm -rf --one-file-system "$T"
    fi
    exit "$rc"
}
trap _cleanup EXIT

# --- small helpers used by several tests -----------------------------------

# A fresh state dir and mount point for the test, mounted.
# Sets S (state dir), M (mount point), R (region cn-north-1 in the mount).
setup_mount() {
    S="$T/state"
    M="$T/mnt"
    mount_imgfs "$S" "$M" "${1:-}"
    R="$M/regions/cn-north-1"
}

# other_uids: for a test that acts as other uids in a multi-user mount
# (setpriv): checks that it runs as root with setpriv and the system's
# Python (SYS_PY: other uids may not reach root's own), lets other uids walk
# to the mount point, and copies imgfs and errno.py where they can run them
# ($T/imgfs-as, $T/errno-as.py; the checkout may sit where they cannot).
# Then `as UID CMD...` runs CMD as UID, and `errno_as UID EXPECTED OP
# ARGS...` asserts the errno name errno.py hits as UID.
other_uids() {
    command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
    [[ $(id -u) == 0 ]] || fail "this test runs as root (it switches to other uids)"
    SYS_PY=/usr/bin/python3
    [[ -x $SYS_PY ]] || fail "$SYS_PY is needed"
    chmod 755 "$T"
    cp "$IMGFS" "$T/imgfs-as"
    cp "$ERRNO_PY" "$T/errno-as.py"
    chmod 755 "$T/imgfs-as" "$T/errno-as.py"
}
as() { local uid=$1; shift; setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }
errno_as() {
    local uid=$1 expected=$2 got; shift 2
    got=$(as "$uid" "$SYS_PY" "$T/errno-as.py" "$@") || fail "errno.py $* as uid $uid did not run"
    [[ "$got" == "$expected" ]] || fail "$(printf '%q ' "$@")as uid $uid: expected $expected, got $got"
}

# public_names REGION_DIR: the public images, one a line, sorted.
public_names() { ls -1 "$1/public" | LC_ALL=C sort; }

# The 14 public images of the platform catalogue (SPEC §3).
CATALOGUE=(centos-7.4 centos-7.3 centos-7.2 centos-7.1 centos-7.2-nat-gateway
    centos-6.9 centos-6.8 centos-6.6 centos-6.5 ubuntu-16.04 ubuntu-14.04
    windows-server-2016-datacenter windows-server-2012r2-standard
    windows-server-2008r2-datacenter)

# The files every image directory has (SPEC §2.1, "all").
ALL_ENTRIES=(id description status progress type format os-type platform
    version arch boot-mode features tags encrypted project size created owner source
    device-mapping disks files instances task error)

# smallest_public REGION_DIR: the public image with the smallest virtual size.
smallest_public() {
    local r=$1 n best="" bestsz=""
    for n in $(public_names "$r"); do
        local sz
        sz=$(cat "$r/public/$n/size")
        if [[ -z "$bestsz" ]] || ((sz < bestsz)); then best=$n; bestsz=$sz; fi
    done
    echo "$best"
}

# quota_line REGION_DIR KEY: "used limit" of one quota.
quota_line() {
    awk -v k="$2" '$1 == k { print $2, $3 }' "$1/quota"
}

# --- lifecycle helpers: instances, captures, the recycle bin ----------------

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; returns 1
# if it never did within SECONDS.
wait_for() {
    local n=$(($1 * 10)); shift
    while ((n-- > 0)); do
        "$@" && return 0
        nap 0.1
    done
    return 1
}

# wait_eq SECONDS WANT CMD...: until CMD prints WANT, CMD run each time
# (`wait_for N test "$(CMD)" = WANT` expands CMD once: it looks once,
# and does not wait).
wait_eq() {
    local secs=$1 want=$2
    shift 2
    _wait_eq_now() { [[ "$("$@" 2>/dev/null)" == "$want" ]]; }
    wait_for "$secs" _wait_eq_now "$@"
}

# ceph_cluster VAR DIR POOL...: the ceph.conf of a cluster with POOLs into
# variable VAR: ctest's `ceph` fixture's (IMGFS_TEST_CEPH_DIR) when there
# is one, else a cluster of the test's own in DIR, stopped at exit.
ceph_cluster() {
    local var=$1 dir=$2 conf scripts="$INTEGRATION_DIR/../../scripts"
    shift 2
    if [[ -n "${IMGFS_TEST_CEPH_DIR:-}" ]]; then
        dir=$IMGFS_TEST_CEPH_DIR
    else
        at_exit "'$scripts/ceph-down' '$dir'"
    fi
    conf=$("$scripts/ceph-up" "$dir" "$@") || fail "the cluster ($dir)"
    printf -v "$var" '%s' "$conf"
}

# ceph_own VAR POOL...: the ceph.conf of a one-node cluster of the test's
# own in $T/ceph, with POOLs, into variable VAR; stopped at exit.  For a
# test that stops its OSD or makes it full, which in the shared cluster
# would stop every other test's I/O (CEPH_UP_* from the environment).
ceph_own() {
    local var=$1 conf scripts="$INTEGRATION_DIR/../../scripts"
    shift
    at_exit "'$scripts/ceph-down' '$T/ceph'"
    conf=$("$scripts/ceph-up" "$T/ceph" "$@") || fail "the test's cluster did not start"
    printf -v "$var" '%s' "$conf"
}

# pg_service STATE REGION STORE: a service whose metadata is in a database
# of its own (its URL into variable URL, as pg_database) at STATE, with
# region REGION's chunks in STORE.
pg_service() {
    local state=$1 region=$2 store=$3
    chmod 711 "$T" # the database server runs as the postgres user
    pg_database URL
    "$IMGFS" admin --state "$state" --db "$URL" init >/dev/null
    "$IMGFS" admin --state "$state" --db "$URL" region add "$region" --store "$store" >/dev/null ||
        fail "region add $region"
}

# wait_until SECS CMD...: as wait_for, but the SECS are counted by the
# clock: for a command that may itself take seconds (a read that waits out
# a storage timeout), where wait_for's tries would add up to far more.
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    while ((SECONDS < deadline)); do
        "$@" && return 0
        nap 0.1
    done
    return 1
}

# freeze_until_taken_over MNT_A STATE_B LEASE URL: host a (the mount at
# MNT_A) stops (SIGSTOP: it no longer renews its lease, mid-task; outside
# a write transaction, stop_outside_write: the take-over is one), host b
# (whose state is STATE_B) must take a's task over once a's lease (LEASE
# seconds) lapsed and not before (a renews 6 times per period: it lapses
# 5/6 of a period after a stopped, at the earliest); then a is killed and
# unmounted.  URL: the PostgreSQL database.  SPEC §13.
freeze_until_taken_over() {
    local a=$1 log="$2/imgfs.log" lease=$3 url=$4 apid=${_MOUNT_PID[$1]} t0 took i kept=() m
    _watch_drop "$apid"
    stop_outside_write "$apid" "$url"
    t0=$_STOPPED_AT # when a stopped, not when its check ended (ss and psql took 0.4 s under ASan: a 2.1 s take-over)
    for ((i = 0; i < lease * 100; i++)); do grep -q 'taken over from a/' "$log" && break; nap 0.05; done
    took=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $t0))")
    # a goes before any verdict: a stopped daemon's mount would hang the
    # EXIT trap's unmount until ctest's timeout (15 minutes of CI).
    kill -9 "$apid"
    _wait_gone "$apid" 10
    umount -l "$a" 2>/dev/null || fusermount3 -uz "$a"
    for m in "${_MOUNTS[@]}"; do [[ "$m" == "$a" ]] || kept+=("$m"); done
    _MOUNTS=("${kept[@]+"${kept[@]}"}")
    grep 'taken over from a/' "$log" || fail "b never took the task over from a"
    python3 -c "import sys; sys.exit(0 if $took >= $lease * 0.75 else 1)" ||
        fail "b took the task over $took s after a stopped: before a's lease ($lease s) expired"
    echo "    taken over $took s after a stopped"
}

# stop_outside_write PID URL: stops (SIGSTOP) the daemon PID at a moment
# none of its sessions of the PostgreSQL database URL holds or waits for
# the service's write lock: a host paused inside a write transaction holds
# the lock until it resumes (reference §13's Decision on
# idle_in_transaction_session_timeout), so the other hosts' writes (a
# `host remove`, a start) would wait for it, and a test that pauses a host
# past its lease would hang.  Its sessions are told by their client ports
# (ss); each try that finds one in a write transaction lets the daemon go
# on for a moment.  Fails after 100 tries.
stop_outside_write() {
    local pid=$1 url=$2 port ports held i
    port=${url##*:} && port=${port%%/*}
    for ((i = 0; i < 100; i++)); do
        kill -STOP "$pid"
        _STOPPED_AT=$(date +%s.%N) # the stop that sticks: its time (freeze_until_taken_over)
        nap 0.05 # what it sent before the stop reaches the server
        ports=$(ss -Htnp state established "( dport = :$port )" | grep -F "pid=$pid," |
            awk '{ n = split($3, a, ":"); print a[n] }' | paste -sd, -)
        [[ -n "$ports" ]] || return 0
        held=$(psql -qtAX "$url" -c "SELECT count(*) FROM pg_stat_activity s JOIN pg_locks l ON l.pid = s.pid
            WHERE s.client_port IN ($ports) AND l.locktype = 'advisory'") || fail "stop_outside_write: psql"
        [[ "$held" != 0 ]] || return 0
        kill -CONT "$pid"
        nap 0.05
    done
    fail "daemon $pid was inside a write transaction at each of 100 stops"
}

# imgfs_wait PATH...: `imgfs wait` (SPEC §1), at most 300 s.
imgfs_wait() { timeout 300 "$IMGFS" wait "$@"; }

# status_of DIR: the content of DIR/status (an image, snapshot or instance).
status_of() { cat "$1/status"; }

# assert_logged OP PATH ERRNO: the daemon's log ($S/imgfs.log) has the
# refusal line "<OP> <PATH below the mount>: <ERRNO> <reason>" (SPEC §9).
# OP may list alternatives, "open|write", for a refusal that may come at
# open() or at write().
assert_logged() {
    local ops=$1 rel=${2#"$M"} e=$3 op
    local IFS='|'
    for op in $ops; do
        grep -F -- "imgfs: $op $rel: $e " "$S/imgfs.log" | grep -qE ": $e .+" && return 0
    done
    tail -n 10 "$S/imgfs.log" >&2
    fail "no log line \"$ops $rel: $e <reason>\" in $S/imgfs.log"
}

# assert_nowhere NEEDLE DIR [WHAT]: no file below DIR holds the bytes of
# NEEDLE (a secret that must never be stored).  Writable blobs (wblobs/:
# instance disks, sparse files of up to terabytes) are not read.
assert_nowhere() {
    local rc=0
    grep -rlaF --exclude-dir=wblobs -- "$1" "$2" >"$T/nowhere.out" 2>"$T/nowhere.err" || rc=$?
    ((rc != 2)) || { cat "$T/nowhere.err" >&2; fail "grep -r of $2 failed"; }
    ((rc == 1)) || fail "${3:-a secret} is in $(head -1 "$T/nowhere.out")"
}

# mtime_ns PATH: st_mtime in nanoseconds.
mtime_ns() { python3 -c 'import os, sys; print(os.stat(sys.argv[1]).st_mtime_ns)' "$1"; }

# write_random FILE OFFSET_MIB COUNT_MIB [REF]: writes COUNT_MIB MiB of
# random data at OFFSET_MIB MiB into FILE with dd (conv=notrunc, as a user
# would) and the same bytes at the same place into the local file REF.
write_random() {
    local file=$1 off=$2 count=$3 ref=${4:-}
    head -c "$((count * 1048576))" /dev/urandom >"$T/write_random.buf"
    dd if="$T/write_random.buf" of="$file" bs=1M seek="$off" conv=notrunc status=none ||
        fail "dd of $count MiB at $off MiB into $file failed"
    if [[ -n "$ref" ]]; then
        dd if="$T/write_random.buf" of="$ref" bs=1M seek="$off" conv=notrunc status=none
    fi
    rm -f "$T/write_random.buf"
}

# Sparse comparisons: a 40 GiB disk holding a few MiB is compared by the
# 1 MiB chunks either file reports as data (SEEK_DATA/SEEK_HOLE), so the
# check reads about the stored bytes, not 40 GiB of holes.  A file whose
# SEEK_HOLE hides data fails the comparison, as it would fool cp --sparse.
_SPARSE_PY='
import hashlib, os, sys
CHUNK = 1 << 20
def extents(fd, size):
    off = 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            return
        h = os.lseek(fd, d, os.SEEK_HOLE)
        yield d, h
        off = max(h, d + 1)
def chunks(fd, size):
    out = set()
    for d, h in extents(fd, size):
        out.update(range(d // CHUNK, (h + CHUNK - 1) // CHUNK))
    return out
def digest(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    h = hashlib.blake2b(str(size).encode())
    for i in sorted(chunks(fd, size)):
        b = os.pread(fd, CHUNK, i * CHUNK)
        if b.count(0) != len(b):
            h.update(b"%d:" % i + b)
    os.close(fd)
    return h.hexdigest()
def compare(a, b):
    fa, fb = os.open(a, os.O_RDONLY), os.open(b, os.O_RDONLY)
    sa, sb = os.fstat(fa).st_size, os.fstat(fb).st_size
    if sa != sb:
        sys.exit("%s: size %d, %s: size %d" % (a, sa, b, sb))
    both = chunks(fa, sa) | chunks(fb, sb)
    for i in sorted(both):
        if os.pread(fa, CHUNK, i * CHUNK) != os.pread(fb, CHUNK, i * CHUNK):
            sys.exit("%s and %s differ in MiB %d" % (a, b, i))
    print("    %d MiB of data compared" % len(both))
def datamap(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    for d, h in extents(fd, size):
        if d % CHUNK or (h % CHUNK and h != size) or h <= d:
            sys.exit("%s: data extent %d..%d is not made of whole chunks" % (path, d, h))
        for i in range(d // CHUNK, (h + CHUNK - 1) // CHUNK):
            print(i)
    os.close(fd)
if sys.argv[1] == "digest":
    print(digest(sys.argv[2]))
elif sys.argv[1] == "datamap":
    datamap(sys.argv[2])
else:
    compare(sys.argv[2], sys.argv[3])
'

# sparse_cmp A B: same size and bytes (see above); fails the test if not.
sparse_cmp() {
    python3 -c "$_SPARSE_PY" cmp "$1" "$2" || fail "${3:-files differ}: $1 vs $2"
}

# sparse_digest FILE: a digest of the size and the bytes of FILE, read the
# sparse way; equal digests mean equal contents.
sparse_digest() { python3 -c "$_SPARSE_PY" digest "$1"; }

# seek_datamap FILE: the 1 MiB chunk indexes of FILE's data, one a line, as
# SEEK_DATA/SEEK_HOLE report them walking from 0 (a few calls per extent;
# blob.py seekcheck probes every chunk, too slow for a 40 GiB disk).  Fails
# when an extent is not made of whole chunks.
seek_datamap() { python3 -c "$_SPARSE_PY" datamap "$1"; }

# kill_imgfs MNT: kill -9 the daemon serving MNT, detach the dead mount
# (lazily: a process may still hold it) and forget it.
kill_imgfs() {
    local mnt=$1 pid=${_MOUNT_PID[$1]:-} m kept=()
    [[ -n "$pid" ]] || fail "no daemon pid known for $mnt"
    _watch_drop "$pid"
    kill -9 "$pid"
    _wait_gone "$pid" 10 || fail "imgfs daemon $pid survived kill -9"
    fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt"
    for m in "${_MOUNTS[@]}"; do [[ "$m" == "$mnt" ]] || kept+=("$m"); done
    _MOUNTS=("${kept[@]+"${kept[@]}"}")
}

# new_vm DIR... : mkdir of each instance directory, its system disk made
# SIZE (default 1G) by writing system-disk-size (SPEC §16).  A capture
# hashes every byte of the system disk (§2.1 sha256: 0.55 s per GiB here,
# 22 s for the default 40 GiB), and the tests about something else need no
# 40 GiB: those about the size keep mkdir.  NEW_VM_SIZE overrides.
new_vm() {
    local d
    for d in "$@"; do
        mkdir "$d" || fail "mkdir $d"
        echo "${NEW_VM_SIZE:-1G}" >"$d/system-disk-size" || fail "system-disk-size of $d: $(tail -n1 "$S/imgfs.log" 2>/dev/null)"
    done
}

# Needles (SPEC §17's tests): 1 MiB of random bytes each, looked for as
# bytes and as hex in files (needle.py), so that a test can show that what
# went into an encrypted image is nowhere in the state, the database or
# a pool, and that the same search finds a plain image's.
# needles NAME...: makes $T/NAME for each.
needles() {
    local n
    for n in "$@"; do head -c 1048576 /dev/urandom >"$T/$n"; done
}
# needle_disk OUT NEEDLE: an 8 MiB raw disk (an MBR, so an upload takes
# it), the needle at 2 MiB, holes elsewhere.
needle_disk() {
    python3 - "$1" "$T/$2" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(8 << 20)
    f.write(b"\xeb\x63" + bytes(508) + b"\x55\xaa")
    f.seek(2 << 20)
    f.write(open(sys.argv[2], "rb").read())
EOF
}
# nowhere NEEDLE WHAT PATH...: fails if the needle is in PATH; somewhere
# the other way (WHAT says what it was, for the message).
_needle_found() { python3 "$INTEGRATION_DIR/needle.py" find "$T/$1" "${@:2}" >"$T/found.out"; }
nowhere() {
    if _needle_found "$1" "${@:3}"; then fail "$1 ($2) is in $(cat "$T/found.out")"; fi
}
somewhere() { _needle_found "$1" "${@:3}" || fail "$1 ($2) is nowhere in ${*:3}: the search finds nothing"; }

# destroyed DIR: waits (60 s at most) until the image directory DIR, just
# destroyed with rmdir in recycle-bin/, is gone: it reads `deleting` while
# its task frees its chunks (SPEC §16).
destroyed() {
    local d=$1
    _gone_now() { [[ ! -e "$d" ]]; }
    wait_for 60 _gone_now || fail "$d still $(cat "$d/status" 2>&1) 60 s after its destroy"
}

# capture IMAGE_DIR VM [DEV...]: writes "instance VM DEV..." to the queued
# image's source (SPEC §5.1) and waits until the image is available.
capture() {
    local img=$1; shift
    echo "instance $*" >"$img/source" || fail "capture of $* into $img refused"
    imgfs_wait "$img" >"$T/capture.out" 2>&1 || { cat "$T/capture.out" >&2; fail "imgfs wait $img"; }
    assert_eq available "$(status_of "$img")" "status of $img after imgfs wait"
    hashed "$img"
}

# hashed IMAGE_DIR...: waits (300 s at most, as imgfs_wait) until each
# image's sha256 is known: a capture's or a QCOW2 conversion's is read by a
# background checksum task once the image is available (SPEC §2.1), which
# keeps every disk's user.imgfs.xxh128 before the system disk's sha256
# (§2.3): once sha256 has content, so do the disks' xattrs.  A
# default 40 GiB system disk is 40 GiB of SHA-256 even where it is holes:
# about half a minute on an idle machine here, over 60 s in an ASan ctest -j3.
hashed() {
    local d
    for d in "$@"; do
        _hashed_now() { [[ -s "$d/sha256" ]]; }
        wait_for 300 _hashed_now || fail "$d/sha256 still empty 300 s after the image became available"
    done
}

# capture_as UID REGION_DIR VM IMAGE: as UID (other_uids), an instance VM
# built from public/centos-7.4 with a 16 MiB data disk vdb, captured with
# it into private/IMAGE (vdb becomes a snapshot); waits until IMAGE is
# available.
capture_as() {
    local uid=$1 r=$2 vm=$3 img=$4
    as "$uid" mkdir "$r/instances/$vm"
    as "$uid" sh -c "echo public/centos-7.4 > '$r/instances/$vm/image'"
    as "$uid" truncate -s 16M "$r/instances/$vm/disks/vdb"
    as "$uid" mkdir "$r/private/$img"
    as "$uid" sh -c "echo 'instance $vm vdb' > '$r/private/$img/source'"
    as "$uid" timeout 300 "$T/imgfs-as" wait "$r/private/$img" >"$T/wait.out" 2>&1 ||
        { cat "$T/wait.out"; fail "imgfs wait $img as uid $uid"; }
}

# devmap_ref IMAGE_DIR DEV: the reference column of DEV's device-mapping line.
devmap_ref() { awk -F '\t' -v d="$2" '$1 == d { print $3 }' "$1/device-mapping"; }

# entries DIR: the names in DIR, sorted bytewise, on one line.
entries() { ls -1A "$1" | LC_ALL=C sort | paste -sd ' ' -; }

# remote_disks VM_ON_A VM_ON_B: a new instance that runs on host a, seen
# on a and on b (SPEC §13).  b lists its disks with the sizes and stored
# bytes a's last close recorded (a data disk written on a shows its new
# size on b once closed), and refuses to open one or to attach another
# (EREMOTE); a opens them.
remote_disks() {
    local va=$1 vb=$2
    assert_eq vda "$(entries "$vb/disks")" "disks/ of a's instance listed on b"
    assert_eq $((40 << 30)) "$(stat -c %s "$vb/disks/vda")" "size of a's vda on b"
    truncate -s 1G "$va/disks/vdb"
    write_random "$va/disks/vdb" 3 2
    wait_eq 1 "vda vdb" entries "$vb/disks" || fail "vdb attached on a, not listed on b within 1 s"
    wait_eq 1 $((1 << 30)) stat -c %s "$vb/disks/vdb" || fail "vdb's size on b: $(stat -c %s "$vb/disks/vdb")"
    # The size shows from the truncate's close, the blocks from the write's
    # (a later close): each reaches b within its second.
    blocks_on_b() { (($(stat -c %b "$vb/disks/vdb") * 512 >= 2 << 20)); }
    wait_for 1 blocks_on_b || fail "vdb's blocks on b: $(stat -c %b "$vb/disks/vdb")"
    assert_errno EREMOTE open "$vb/disks/vda" rdonly
    assert_errno EREMOTE open "$vb/disks/vdb" rdwr
    assert_errno EREMOTE create "$vb/disks/vdc" x
    assert_errno EREMOTE create "$vb/disks/vda" x
    [[ ! -e "$va/disks/vdc" ]] || fail "b's refused create attached vdc"
    assert_errno OK open "$va/disks/vda" rdonly
}

# evict FILE...: drops FILE's pages from the kernel's page cache
# (posix_fadvise DONTNEED), so the next read of a file in the mount goes to
# the daemon.  What `echo 3 >/proc/sys/vm/drop_caches` did before, for
# these files only: a global drop would make tests running beside this one
# (ctest -j) lose the cache their counts rely on.
evict() {
    python3 - "$@" <<'PY'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
PY
}

# serve_slow_disk MIB: $T/files/disk.raw, a raw disk of MIB MiB (an MBR's
# signature, then random bytes), served slowly (serve.py slow: 16 KiB
# every 20 ms) on 127.0.0.1; sets PORT. The server is killed at exit. For
# a URL import that is still running when the test acts on it.
serve_slow_disk() {
    mkdir -p "$T/files"
    python3 - "$T/files/disk.raw" "$1" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    mbr = bytearray(512)
    mbr[510:512] = b"\x55\xaa"
    f.write(mbr + os.urandom((int(sys.argv[2]) << 20) - 512))
EOF
    /usr/bin/python3 "$INTEGRATION_DIR/../servers/serve.py" slow "$T/files" >"$T/serve.out" 2>"$T/serve.err" &
    at_exit "kill $!"
    wait_for 30 grep -q '^PORT ' "$T/serve.out" || { cat "$T/serve.err" >&2; fail "the server did not start"; }
    PORT=$(awk '$1 == "PORT" { print $2 }' "$T/serve.out")
}

# pg_database VAR: the URL of a new, empty PostgreSQL database of this
# test's own into variable VAR, on ctest's `pg` fixture's server
# (IMGFS_TEST_PG_DIR) when there is one, else on a throwaway server this
# test starts in $T/pg and stops at exit.  A test that stops or restarts
# its server starts one of its own with scripts/pg-up instead.
# pg_server VAR: a PostgreSQL server of the test's own in $T/pg, started
# once and stopped at exit (a test may stop and start it under its mounts:
# scripts/pg-down "$T/pg", scripts/pg-up "$T/pg"); its URL (database
# postgres) in VAR.
pg_server() {
    local scripts="$INTEGRATION_DIR/../../scripts"
    if [[ ! -s "$T/pg/port" ]]; then
        chmod 711 "$T" # the server runs as the postgres user
        "$scripts/pg-up" "$T/pg" >/dev/null || fail "scripts/pg-up $T/pg"
        at_exit "'$scripts/pg-down' '$T/pg'"
    fi
    printf -v "$1" 'postgresql://postgres@127.0.0.1:%s/postgres' "$(cat "$T/pg/port")"
}

pg_database() {
    local var=$1 dir=${IMGFS_TEST_PG_DIR:-} port db url
    if [[ -z "$dir" || ! -s "$dir/port" ]]; then
        dir=$T/pg
        pg_server url
    fi
    port=$(cat "$dir/port")
    db="t_${TEST_NAME}_$$_$RANDOM"
    db=${db,,}
    psql -qX -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE \"$db\"" >/dev/null || fail "CREATE DATABASE $db"
    if [[ "$dir" == "${IMGFS_TEST_PG_DIR:-}" ]]; then
        at_exit "psql -qX -h 127.0.0.1 -p '$port' -U postgres -d postgres -c 'DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)'"
    fi
    printf -v "$var" 'postgresql://postgres@127.0.0.1:%s/%s' "$port" "$db"
}

# The watchdog, started once every function it calls is defined, apart
# from the test's jobs (a `wait` in a test never waits for it); it ends
# when the test's shell is gone, or at the exit trap.
(_watchdog "$$" </dev/null & echo $! >"$T/.watchdog")

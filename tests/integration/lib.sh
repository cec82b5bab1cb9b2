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

declare -a _MOUNTS=()        # mount points made by mount_imgfs, in order
declare -A _MOUNT_STATE=()   # mount point -> state dir
declare -A _MOUNT_PID=()     # mount point -> daemon pid ("" when unknown)
declare -a _OTHER_MOUNTS=()  # other mounts a test made (tmpfs ...), see also_unmount

say() { printf '  - [%3ds] %s\n' "$SECONDS" "$*"; }

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
_daemon_pid() {
    local mnt=$1 p exe
    local imgfs_real
    imgfs_real=$(readlink -f "$IMGFS")
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        [[ "$exe" == "$imgfs_real" || "$exe" == "$imgfs_real (deleted)" ]] || continue
        if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$mnt"; then
            echo "${p#/proc/}"
            return 0
        fi
    done
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
            return 0
        fi
        sleep 0.1
    done
    echo "--- imgfs output:" >&2; cat "$out" >&2
    log_tail "$state"
    fail "imgfs did not mount $mnt within 20 s"
}

# _wait_gone PID SECONDS: waits for a process to exit; 0 if it did.
_wait_gone() {
    local pid=$1 n=$(($2 * 10))
    [[ -n "$pid" ]] || return 0
    while ((n-- > 0)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# umount_imgfs MNT: unmounts and waits for the daemon to exit (10 s).
umount_imgfs() {
    local mnt=$1 i pid=${_MOUNT_PID[$1]:-}
    for ((i = 0; i < 50; i++)); do
        fusermount3 -u "$mnt" 2>"$T/umount.err" && break
        sleep 0.1
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

# remount_imgfs STATE MNT [EXTRA_OPTS]
remount_imgfs() {
    umount_imgfs "$2"
    mount_imgfs "$@"
}

_cleanup() {
    local rc=$? m pid f
    set +e
    for m in "${_MOUNTS[@]+"${_MOUNTS[@]}"}"; do
        pid=${_MOUNT_PID[$m]:-}
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
    for f in "$T"/sanitizer-*; do
        [[ -s "$f" ]] || continue
        echo "--- sanitizer report $f:" >&2
        cat "$f" >&2
        rc=1
    done
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

# public_names REGION_DIR: the public images, one a line, sorted.
public_names() { ls -1 "$1/public" | LC_ALL=C sort; }

# The 14 public images of the platform catalogue (SPEC §3).
CATALOGUE=(centos-7.4 centos-7.3 centos-7.2 centos-7.1 centos-7.2-nat-gateway
    centos-6.9 centos-6.8 centos-6.6 centos-6.5 ubuntu-16.04 ubuntu-14.04
    windows-server-2016-datacenter windows-server-2012r2-standard
    windows-server-2008r2-datacenter)

# The files every image directory has (SPEC §2.1, "all").
ALL_ENTRIES=(id description status progress type format os-type platform
    version arch boot-mode features tags encrypted size created owner source
    device-mapping disks instances task error)

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

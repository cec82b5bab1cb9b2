#!/usr/bin/env bash
# README.md's tour runs as written after `bash scripts/demo` (issue 48):
# scripts/demo is run as a new user runs it — with this build's binary
# (IMGFS: no build), the state, the link to imgfs and the sample image in
# this test's directory instead of the machine's (XDG_DATA_HOME,
# IMGFS_DEMO_BIN, IMGFS_DEMO_DIR) — then the block between README.md's
# `<!-- tour -->` markers, with `set -e`: every line must succeed.  Its
# first line names where the demo put things; it is the one line replaced
# (this test's mount, state, sample and a free port).  Then what the tour
# did is checked.  A fresh state (the demo's first mount makes it): about
# 20 s.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
export XDG_DATA_HOME="$T/xdg" IMGFS_DEMO_BIN="$T/bin" IMGFS_DEMO_DIR="$T/demo" IMGFS_SKIP_DEPS=1
M="$T/mnt" S="$XDG_DATA_HOME/imgfs"
also_unmount "$M"

say "the tour block, from README.md"
awk '/^<!-- tour -->$/ { on = 1; next } /^<!-- \/tour -->$/ { on = 0 } on' "$ROOT/README.md" |
    sed '/^```/d' >"$T/tour.sh"
[[ $(wc -l <"$T/tour.sh") -gt 10 ]] || fail "no tour between README.md's markers: $(cat "$T/tour.sh")"
first=$(head -n1 "$T/tour.sh")
assert_match 'M=/mnt/imgfs S=/var/lib/imgfs W=build/demo/web.qcow2 P=8080 .*' "$first" "the tour's first line"

say "scripts/demo (this build's binary, this test's directories)"
(cd "$ROOT" && IMGFS=$IMGFS bash scripts/demo "$M") >"$T/demo.out" 2>&1 ||
    { cat "$T/demo.out" >&2; fail "scripts/demo failed"; }
mountpoint -q "$M" || fail "scripts/demo did not mount $M"
[[ -L "$T/bin/imgfs" && "$(readlink "$T/bin/imgfs")" == "$(realpath "$IMGFS")" ]] ||
    fail "scripts/demo did not link imgfs into $T/bin"
qemu-img info "$T/demo/web.qcow2" | grep -q '^file format: qcow2$' || fail "no qcow2 sample image"
_MOUNTS+=("$M")
_MOUNT_STATE[$M]=$S
_MOUNT_PID[$M]=$(_daemon_pid "$M")

say "the tour, as written (its first line ours)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
    echo "M=$M S=$S W=$T/demo/web.qcow2 P=$PORT"
    tail -n +2 "$T/tour.sh"
} >"$T/tour-here.sh"
# PATH: the demo's link first, as /usr/local/bin is on a login's PATH.
if ! (cd "$ROOT" && PATH="$T/bin:$PATH" bash -euo pipefail -x "$T/tour-here.sh") >"$T/tour.out" 2>&1; then
    tail -n 30 "$T/tour.out" >&2
    log_tail "$S"
    fail "the tour stopped at a line that failed (above)"
fi
_MOUNTS=() # the tour unmounted it

say "what the tour did"
mountpoint -q "$M" && fail "the tour's last line did not unmount $M"
grep -q '^PRETTY_NAME=' "$T/tour.out" || fail "no os-release shown"
grep -q "/private/golden/files/vda1/etc/ssh/sshd_config$" "$T/tour.out" || fail "find did not find the upload's sshd_config"
grep -qE "^http://127\.0\.0\.1:$PORT/d/[0-9a-f]+/golden\.qcow2 qcow2 " "$T/tour.out" || fail "no download link shown"
grep -q "instance web1" "$T/tour.out" || fail "rmdir golden's reason (EBUSY: instance web1) not shown"
assert_eq "http://127.0.0.1:$PORT" "$("$IMGFS" admin --state "$S" download-url)" "the download URL the tour set"
"$IMGFS" admin --state "$S" quota show root cn-north-1 | grep -qE 'private-images +[0-9]+ +20$' ||
    fail "the quota the tour set: $("$IMGFS" admin --state "$S" quota show root cn-north-1)"

#!/usr/bin/env bash
# SPEC §1 (imgfs wait): in a narrow terminal — tmux, 60 columns — the
# progress lines of two long paths being waited on are cut to the width, so
# none wraps and the redraw in place (cursor up one row per line) leaves no
# pieces of old lines: while one image is still importing the screen holds
# exactly the two lines, and at the end exactly the two final lines and the
# exit status.  One path holds a CJK name (two columns a character).  A
# resize to 48 columns in the middle (SIGWINCH) draws the next block within
# the new width.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || fail "tmux is not installed (scripts/install-deps installs it)"
SERVE="$INTEGRATION_DIR/../servers/serve.py"
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
setup_mount
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 10
imgfs_admin "$S" import allow 127.0.0.1 >/dev/null # loopback imports are refused by default

COLS=60
NARROW=48
SOCK="imgfs-test-$$" # a tmux server of our own, gone at exit
TM=(tmux -u -L "$SOCK")
at_exit "tmux -L $SOCK kill-server 2>/dev/null || true"

say "a slow server on 127.0.0.1 (about 800 KiB/s) with a 6 MiB raw disk"
mkdir -p "$T/files"
python3 - "$T/files/disk.raw" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(6 << 20)
    mbr = bytearray(512)
    mbr[0:2] = b"\xeb\x63"
    mbr[510:512] = b"\x55\xaa"
    f.write(mbr)
    f.seek(1 << 20); f.write(os.urandom(5 << 20))
PY
/usr/bin/python3 "$SERVE" slow "$T/files" >"$T/serve.out" 2>"$T/serve.err" &
at_exit "kill $! 2>/dev/null || true"
wait_for 30 grep -q '^PORT ' "$T/serve.out" || { cat "$T/serve.err" >&2; fail "the slow server did not start"; }
port=$(awk '$1 == "PORT" { print $2 }' "$T/serve.out")

say "two images with long names: one imported from the slow server, one captured from an instance"
new_vm "$R/instances/vm1"
write_random "$R/instances/vm1/disks/vda" 0 16
A="$R/private/a-long-image-name-for-narrow-tty"
B="$R/private/映像-狭い端末で待つ-とても長い名前の映像です"
mkdir "$A" "$B"
((${#A} > COLS)) || fail "path $A is not longer than $COLS"
echo "url http://127.0.0.1:$port/disk.raw" >"$A/source"
echo "instance vm1" >"$B/source"

say "imgfs wait on both in tmux, $COLS columns by 20 rows"
# The pane waits for $T/go, so that pipe-pane records every byte drawn.
"${TM[@]}" new-session -d -x "$COLS" -y 20 -c / \
    "while [ ! -e '$T/go' ]; do sleep 0.1; done; env LANG=C.UTF-8 '$IMGFS' wait '$A' '$B'; echo EXIT=\$?; sleep 600"
"${TM[@]}" pipe-pane -o -t 0 "cat >'$T/raw'"
touch "$T/go"
screen() { "${TM[@]}" capture-pane -p -J -t 0 | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }

# check_screen FILE COLS NLINES [FINAL]: every line within COLS columns
# (wrapped rows joined by capture-pane -J), the last NLINES lines exactly
# the block — the import's bar or final line, the capture's final line —
# and, with FINAL, "EXIT=0" after them.
check_screen() {
    python3 - "$@" "$A" "$B" <<'PY'
import re, sys, unicodedata
screen, cols, nlines, final, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "final", sys.argv[5], sys.argv[6]
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
lines = open(screen, encoding="utf-8").read().rstrip("\n").split("\n")
if len(lines) < nlines:
    sys.exit("%d lines on the screen, expected at least %d: %r" % (len(lines), nlines, lines))
for l in lines[-nlines:]:
    if width(l) > cols:
        sys.exit("%d columns (> %d): %r" % (width(l), cols, l))
def tail_of(l, p, rest):
    m = re.fullmatch(r"(?:\.\.\.)?(\S+?) +(" + rest + ")", l)
    return m and p.endswith(m.group(1)) and (l.startswith("...") or m.group(1) == p)
block = lines[-nlines:]
if final:
    if not tail_of(block[0], a, "available") or not tail_of(block[1], b, "available") or block[2] != "EXIT=0":
        sys.exit("the final lines are not the two paths available and EXIT=0: %r" % block)
else:
    if not tail_of(block[0], a, r"\[[#.]*\].*|uploading|available") or not tail_of(block[1], b, r"\[[#.]*\].*|\S+"):
        sys.exit("the lines are not the block of the two paths: %r" % block)
PY
}

say "while the import runs: exactly two lines, none wider than $COLS columns"
wait_for 60 sh -c "tmux -L $SOCK capture-pane -p -t 0 | grep -q '%'" || fail "no progress bar on the screen"
sleep 1.5 # a few redraws in place
screen >"$T/screen.mid"
sed 's/^/    | /' "$T/screen.mid"
[[ "$(status_of "$A")" == uploading ]] || fail "the import ended before the screen was read: the server is not slow"
assert_eq 2 "$(wc -l <"$T/screen.mid")" "lines on the screen during the import"
check_screen "$T/screen.mid" "$COLS" 2 mid || fail "the screen during the import is not the two lines"
ups=$(grep -o $'\033\\[2A' "$T/raw" | wc -l)
((ups >= 3)) || fail "imgfs wait redrew its block only $ups times"
say "  ($ups redraws in place so far)"

say "resized to $NARROW columns during the import: the block drawn next fits"
"${TM[@]}" resize-window -t 0 -x "$NARROW" -y 20
wait_for 300 sh -c "tmux -L $SOCK capture-pane -p -t 0 | grep -q '^EXIT='" || fail "imgfs wait did not end"
screen >"$T/screen.end"
sed 's/^/    | /' "$T/screen.end"
check_screen "$T/screen.end" "$NARROW" 3 final || fail "the final screen is not what was expected"
assert_eq available "$(status_of "$A")" "status of $A"
assert_eq available "$(status_of "$B")" "status of $B"

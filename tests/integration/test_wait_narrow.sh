#!/usr/bin/env bash
# SPEC §1 (imgfs wait): in a narrow terminal — tmux, 60 columns — the
# progress lines of two long paths being waited on are cut to the width, so
# none wraps and the redraw in place (cursor up one row per line) leaves no
# pieces of old lines: the final screen is exactly the two final lines and
# the exit status.  One path holds a CJK name (two columns a character).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || fail "tmux is not installed (scripts/install-deps installs it)"
setup_mount
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 10

COLS=60
SOCK="imgfs-test-$$"   # a tmux server of our own, gone at exit
TM=(tmux -u -L "$SOCK")
at_exit "tmux -L $SOCK kill-server 2>/dev/null || true"

say "two instances with 64 MiB of data each, an image with a long name captured from each"
mkdir "$R/instances/vm1" "$R/instances/vm2"
write_random "$R/instances/vm1/disks/vda" 0 64
write_random "$R/instances/vm2/disks/vda" 0 64
A="$R/private/a-long-image-name-for-narrow-tty"
B="$R/private/映像-狭い端末で待つ-とても長い名前の映像です"
mkdir "$A" "$B"
echo "instance vm1" >"$A/source"
echo "instance vm2" >"$B/source"
((${#A} > COLS)) || fail "path $A is not longer than $COLS"

say "imgfs wait on both in tmux, $COLS columns by 20 rows"
# The pane waits for $T/go, so that pipe-pane records every byte drawn.
"${TM[@]}" new-session -d -x "$COLS" -y 20 -c / \
    "while [ ! -e '$T/go' ]; do sleep 0.1; done; env LANG=C.UTF-8 '$IMGFS' wait '$A' '$B'; echo EXIT=\$?; sleep 600"
"${TM[@]}" pipe-pane -o -t 0 "cat >'$T/raw'"
touch "$T/go"
screen() { "${TM[@]}" capture-pane -p -J -t 0; }
for _ in $(seq 600); do
    screen | grep -q '^EXIT=' && break
    sleep 0.5
done
screen >"$T/screen"
sed 's/^/    | /' "$T/screen"
grep -q '^EXIT=' "$T/screen" || fail "imgfs wait did not end within 300 s"

say "no line (wrapped rows joined: capture-pane -J) is wider than $COLS columns; the screen is exactly the final lines"
python3 - "$T/screen" "$COLS" "$A" "$B" <<'PY' || fail "the narrow terminal's screen is not what was expected"
import re, sys, unicodedata
screen, cols, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
lines = open(screen, encoding="utf-8").read().split("\n")
while lines and not lines[-1].strip():
    lines.pop()
for l in lines:
    if width(l) > cols:
        sys.exit("%d columns (> %d): %r" % (width(l), cols, l))
if len(lines) != len(paths) + 1:
    sys.exit("%d lines on the screen, expected %d: %r" % (len(lines), len(paths) + 1, lines))
for l, p in zip(lines, paths):
    m = re.fullmatch(r"(?:\.\.\.)?(\S+?) +available", l)
    if not m or not p.endswith(m.group(1)) or (not l.startswith("...") and m.group(1) != p):
        sys.exit("line %r is not %s's final line" % (l, p))
if lines[-1] != "EXIT=0":
    sys.exit("last line %r, expected EXIT=0" % lines[-1])
PY
ups=$(grep -o $'\033\\[2A' "$T/raw" | wc -l)
say "it redrew in place $ups times (cursor up 2 rows)"
((ups >= 1)) || fail "imgfs wait never redrew its block: the capture ended before a second draw"
assert_eq available "$(status_of "$A")" "status of $A"
assert_eq available "$(status_of "$B")" "status of $B"

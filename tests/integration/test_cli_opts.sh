#!/usr/bin/env bash
# SPEC §15 ("One way to read options"): the four commands — the mount,
# `imgfs admin`, `imgfs serve`, `imgfs wait` — read their options one
# way (a table read by getopt_long; the mount's -o list by libfuse's
# fuse_opt) and refuse a bad one the same way: exit 2, the first line
# `imgfs[ CMD]: unknown option --bogus` (or "--X needs a value", "--X
# takes A to B"), nothing started, no state made, nothing mounted.  And
# `imgfs admin --help` and `help account` list every account verb,
# `account set NAME uid` among them.  No mount: about a second.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

export XDG_DATA_HOME="$T/xdg" # the default state of these commands: never made
M="$T/mnt"
mkdir -p "$M"

# usage_error WANT ARGS...: exit 2 and a first line that is exactly WANT;
# then the command's usage (admin, serve, wait), or nothing more (the
# mount's one line).
usage_error() {
    local want=$1 rc=0 out; shift
    out=$("$IMGFS" "$@" 2>&1 </dev/null) || rc=$?
    assert_eq 2 "$rc" "exit status of imgfs $*: $out"
    assert_eq "$want" "$(printf '%s\n' "$out" | head -n1)" "the first line of imgfs $*"
    case $1 in
    admin | serve | wait)
        assert_match "usage: imgfs $1 .*|  [a-z].*" "$(printf '%s\n' "$out" | sed -n 2p)" "imgfs $*: the usage after the reason" ;;
    *) assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "imgfs $*: one line: $out" ;;
    esac
    grep -q " $T" /proc/mounts && fail "imgfs $*: something was mounted"
    [[ ! -e "$XDG_DATA_HOME" ]] || fail "imgfs $*: the default state $XDG_DATA_HOME was made"
}

# lists PATTERN WHAT: stdin has a line matching PATTERN (grep -E).
lists() { grep -qE -- "$1" || fail "$2: no line matches $1"; }

say "an unknown option is named by every command"
usage_error "imgfs: unknown option --bogus" --bogus "$M"
usage_error "imgfs: unknown option -x" -x "$M"
usage_error "imgfs: unknown option -o bogus" -o bogus "$M"
usage_error "imgfs: unknown option -o bogus2" -o "ro,bogus2,noatime" -o state="$T/s" "$M"
usage_error "imgfs admin: unknown option --bogus" admin --bogus
usage_error "imgfs admin: unknown option --bogus" admin account list --bogus
usage_error "imgfs serve: unknown option --bogus" serve --bogus
usage_error "imgfs serve: unknown option --bogus" serve --bogus x
usage_error "imgfs wait: unknown option --bogus" wait --bogus "$M"

say "a missing or bad value is named too"
usage_error "imgfs admin: --state needs a value" admin --state
usage_error "imgfs serve: --threads needs a value" serve --threads
usage_error "imgfs serve: --threads takes 1 to 64" serve --threads 65
usage_error "imgfs serve: unexpected argument x" serve x
usage_error "imgfs wait: --timeout needs a value" wait "$M" --timeout
usage_error "imgfs wait: no PATH given" wait
usage_error "imgfs wait: no PATH given" wait -q --timeout 1
usage_error "imgfs wait: --timeout takes a number of seconds" wait --timeout soon "$M"
usage_error "imgfs: workers=x: 0 to 64 task threads" -o workers=x "$M"
usage_error "imgfs: workers=65: 0 to 64 task threads" -o workers=65 "$M"
usage_error "imgfs: log_max=-1: a size in bytes, or 0 for never" -o log_max=-1 "$M"

say "options that parse: imgfs wait goes on to its PATH (one line, no usage: not a usage error of options)"
rc=0
out=$("$IMGFS" wait -q --timeout 1 "$M" 2>&1) || rc=$?
assert_eq 2 "$rc" "imgfs wait on a directory that is no image: $out"
assert_eq "imgfs wait: $M: not an image, snapshot or copy directory of an imgfs mount" "$out" "what it says"

say "the options libfuse knows still mount: -o ro,noatime,workers=64 passes the option checks"
rc=0
out=$("$IMGFS" -o ro,noatime,workers=64,state="$T/none" "$M" 2>&1) || rc=$?
assert_eq 1 "$rc" "a read-only mount of no state: refused for the state, not its options: $out"
assert_match "imgfs: -o ro: no imgfs state at $T/none .*" "$out" "the reason"

say "--help: exit 0, on stdout"
for cmd in "" admin serve wait; do
    # shellcheck disable=SC2086 # $cmd is one word or none
    out=$("$IMGFS" $cmd --help 2>/dev/null) || fail "imgfs $cmd --help: exit $?"
    lists "^usage: [^ ]*imgfs( |$)" "imgfs $cmd --help" <<<"$out"
done

say "imgfs admin --help and help account list account set NAME uid"
lists "^  account set NAME uid UID\|-" "imgfs admin --help" <<<"$("$IMGFS" admin --help)"
help=$("$IMGFS" admin help account)
for verb in "account add NAME" "account list" "account set NAME admin" "account set NAME parent" \
    "account set NAME encrypt-by-default" "account set NAME uid UID\|-" "account remove NAME"; do
    lists "^  $verb" "imgfs admin help account" <<<"$help"
done

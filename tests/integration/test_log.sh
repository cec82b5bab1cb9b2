#!/usr/bin/env bash
# SPEC §9 (logging is bounded, background failures are logged): a caller
# that loops on a refused call gets its first lines logged, then about a
# line a second and one "N similar lines suppressed" line, not a line per
# call; another caller's refusals are logged meanwhile; imgfs.log rotates
# by size (-o log_max=) into imgfs.log.1 ... .3 without losing or cutting a
# line; a task that ends in error is logged with the image's id.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount "log_max=1500"
P="$R/private"
# LOGS: the log and its rotated files, oldest first.
LOGS() {
    local f
    for f in "$S/imgfs.log.3" "$S/imgfs.log.2" "$S/imgfs.log.1" "$S/imgfs.log"; do
        if [[ -f "$f" ]]; then cat "$f"; fi
    done
}

say "2000 refused mkdir in a loop: a bounded number of log lines, then a summary"
before=$(LOGS | grep -c ': EINVAL a name cannot start' || true)
t0=$SECONDS
python3 - "$P" <<'PY'
import errno, os, sys
for i in range(2000):
    try:
        os.mkdir(os.path.join(sys.argv[1], ".bad-%d" % i))
        sys.exit("mkdir of a dot name succeeded")
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
PY
took=$((SECONDS - t0 + 1))
logged=$(($(LOGS | grep -c ': EINVAL a name cannot start') - before))
echo "    $logged lines for 2000 refusals in about $took s"
((logged >= 20)) || fail "only $logged lines: the first refusals must all be logged"
((logged <= 20 + took + 2)) || fail "$logged lines for 2000 refusals in $took s: not rate-limited"
sleep 1.5
assert_errno EINVAL mkdir "$P/.one-more"
# One summary line per second in which lines were suppressed (a slow run
# has several): together they count every refusal not logged.
line=$(LOGS | grep 'similar lines suppressed' | tail -n1)
assert_match '.*imgfs: [0-9]+ similar lines suppressed \(mkdir refused to uid [0-9]+\)' "$line" "the summary line"
n=$(LOGS | sed -nE 's/.*imgfs: ([0-9]+) similar lines suppressed \(mkdir refused to uid [0-9]+\)$/\1/p' | awk '{ n += $1 } END { print n + 0 }')
((n + logged == 2000)) || fail "$logged logged + $n suppressed != 2000"

say "the log rotates past log_max, keeping 3 old files, every line whole"
ls "$S"/imgfs.log* | sed 's/^/    /'
[[ -f "$S/imgfs.log.1" ]] || fail "no imgfs.log.1 after more than 1500 bytes of log"
[[ ! -e "$S/imgfs.log.4" ]] || fail "more than 3 old logs kept"
for f in "$S"/imgfs.log*; do
    size=$(stat -c %s "$f")
    ((size <= 1500 + 1024)) || fail "$f has $size bytes (log_max 1500)"
    [[ -z "$(tail -c1 "$f")" ]] || fail "$f does not end with a whole line"
    grep -vqE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z imgfs: ' "$f" && fail "$f has a line that is not a log line"
done
true

say "a task that ends in error is logged with the image's id"
mkdir "$P/img"
id=$(cat "$P/img/id")
echo "url http://127.0.0.1:1/x.raw" >"$P/img/source"
imgfs_wait "$P/img" >/dev/null 2>&1 || true
assert_eq error "$(status_of "$P/img")" "the import's image"
LOGS | grep -qF "import of image $id (img) ended in error: import failed: the address 127.0.0.1 is not allowed for imports" ||
    { LOGS | tail -n 5 >&2; fail "no log line for the failed import of $id"; }

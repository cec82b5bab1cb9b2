#!/usr/bin/env bash
# test_state_owner: a state directory given with a database holds that
# service's files only (issue 47; SPEC §1, §12 "arguments that could
# hurt", §13).  `imgfs admin --db URL --state DIR init` and a mount with
# -o db=URL,state=DIR refuse, exit 1, one line, DIR untouched and no key
# left in the database:
#   - a DIR that holds an embedded state (its chunk-id key is not the
#     database's: the two services' default regions would share chunks and
#     each one's gc delete the other's);
#   - a DIR that holds another database's host files (its `service` file,
#     written by that service's init or mount, names another service).
# The same DIR with its own database is accepted, again and again, and so
# is an embedded state migrated into a database (the key moved with it).
# Cost: about 6 s (two databases on the pg fixture's server, one mount).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

chmod 711 "$T" # the database server runs as the postgres user
pg_database URL1
pg_database URL2
pg_database URL3
# refused WHAT CMD...: exit 1, one line naming DIR and "another service".
refused() {
    local what=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    ((rc == 1)) || { echo "$out" >&2; fail "$what: exit $rc, not 1"; }
    (($(wc -l <<<"$out") == 1)) || { echo "$out" >&2; fail "$what printed more than one line"; }
    [[ "$out" == *"holds another service's"*"give this host a state directory of its own" ]] ||
        fail "$what: \"$out\""
    echo "    $out"
}
# keys URL: whether the database holds a chunk-id key (0 or 1).
keys() {
    psql -qtAX "$1" -c "SELECT count(*) FROM settings WHERE key = 'secret'" 2>/dev/null || echo 0
}
# snapshot DIR: every file's name and size, to see it untouched.
snapshot() { (cd "$1" && find . -printf '%p %s\n' | LC_ALL=C sort); }

say "an embedded state's directory, given with a database: refused"
E="$T/embedded"
imgfs_admin "$E" init >/dev/null
snapshot "$E" >"$T/e.before"
refused "init --db over an embedded state" "$IMGFS" admin --db "$URL1" --state "$E" init
mkdir -p "$T/m"
refused "a mount -o db= over an embedded state" timeout 30 "$IMGFS" -o "db=$URL1,state=$E" "$T/m"
! mountpoint -q "$T/m" || fail "the refused mount is mounted"
snapshot "$E" >"$T/e.after"
cmp -s "$T/e.before" "$T/e.after" || { diff "$T/e.before" "$T/e.after" >&2; fail "the refusals touched $E"; }
assert_eq 0 "$(keys "$URL1")" "chunk-id keys in the database after the refusals"

say "a host directory of one database, given with another: refused"
H="$T/host-a"
"$IMGFS" admin --db "$URL1" --state "$H" init >/dev/null || fail "init --db URL1 --state $H"
grep -qx 'imgfs service [0-9a-f]\{16\}' "$H/service" || fail "init wrote no service file"
snapshot "$H" >"$T/h.before"
refused "init --db URL2 over URL1's host directory" "$IMGFS" admin --db "$URL2" --state "$H" init
refused "a mount -o db=URL2 over URL1's host directory" timeout 30 "$IMGFS" -o "db=$URL2,state=$H" "$T/m"
snapshot "$H" >"$T/h.after"
cmp -s "$T/h.before" "$T/h.after" || fail "the refusals touched $H"
assert_eq 0 "$(keys "$URL2")" "chunk-id keys in the second database after the refusals"

say "its own database, and a migrated state, are accepted"
"$IMGFS" admin --db "$URL1" --state "$H" init >/dev/null || fail "a second init --db URL1 --state $H"
imgfs_admin "$T/moved" init >/dev/null
imgfs_admin "$T/moved" migrate --to "$URL3" >/dev/null || fail "migrate"
mount_imgfs "$T/moved" "$T/m" "db=$URL3,host=moved"
grep -qx 'imgfs service [0-9a-f]\{16\}' "$T/moved/service" || fail "the mount wrote no service file"
umount_imgfs "$T/m"

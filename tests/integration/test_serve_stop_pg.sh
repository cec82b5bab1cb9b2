#!/usr/bin/env bash
# test_serve_stop_pg.sh — test_serve_stop's revoke and rmdir with the
# metadata in PostgreSQL (SPEC §13): `imgfs serve --db` is told of the
# change by the database's notification (its watcher's LISTEN), not by the
# mount, and ends the slow download under way as fast.  The server is a
# new database on the shared test server (lib.sh pg_database).
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
SLOWHTTP="$INTEGRATION_DIR/slowhttp.py"
chmod 711 "$T" # the server runs as the postgres user
pg_database URL
S="$T/state" M="$T/mnt"
mount_imgfs "$S" "$M" "db=$URL"
R="$M/regions/cn-north-1" P="$M/regions/cn-north-1/private"
MiB=1048576

python3 - "$T/big.raw" <<'PYEOF'
import os, sys
d = bytearray(os.urandom(16 << 20))
d[0:512] = bytes(512)
d[0:2] = b"\xeb\x63"
d[510:512] = b"\x55\xaa"
open(sys.argv[1], "wb").write(d)
PYEOF
mkdir "$P/big"
cp "$T/big.raw" "$P/big/disks/vda" || fail "cp into $P/big/disks/vda"
imgfs_wait "$P/big" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" "$P/big/error" >&2; fail "imgfs wait"; }

say "imgfs serve --db (another process, as on another host)"
"$IMGFS" serve --state "$S" --db "$URL" --listen 127.0.0.1:0 --log "$T/serve.log" 2>"$T/serve.err" &
SERVE_PID=$!
at_exit "kill $SERVE_PID; wait $SERVE_PID"
wait_for 20 grep -q 'listening on http://127.0.0.1:[0-9]' "$T/serve.err" ||
    { cat "$T/serve.err" >&2; fail "imgfs serve did not start"; }
PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/serve.err" | head -1)
"$IMGFS" admin --state "$S" --db "$URL" download-url "http://127.0.0.1:$PORT"

has_bytes() { (($(stat -c %s "$1" 2>/dev/null || echo 0) >= $2)); }
# stopped_by WHAT CMD...: a 1 MiB/s download, CMD once it received 1 MiB;
# the download ends short, with little received after CMD.
stopped_by() {
    local what=$1 out="$T/$1.out" url before after rc=0
    shift
    echo link >"$P/big/download"
    url=$(awk '{ print $1 }' "$P/big/download" | tail -1)
    python3 "$SLOWHTTP" get "$url" "$out" --rate "$MiB" >"$out.res" 2>"$out.err" &
    local pid=$!
    wait_for 20 has_bytes "$out" "$MiB" || { cat "$out.err" >&2; fail "$what: the download did not start"; }
    before=$(stat -c %s "$out")
    "$@"
    wait "$pid" || rc=$?
    after=$(stat -c %s "$out")
    say "  $what: $before bytes at the change, $after at the end ($(cat "$out.res"))"
    assert_eq 18 "$rc" "$what: the client saw a short transfer"
    ((after - before <= 3 * MiB / 2)) || fail "$what: $((after - before)) bytes came after the change"
}
say "revoke during a slow download: a short transfer"
stopped_by revoke sh -c "echo revoke >'$P/big/download'"
grep -q "stopped: the link was revoked" "$T/serve.log" || fail "no log line of the revoked transfer"
say "rmdir during a slow download: a short transfer"
stopped_by rmdir rmdir "$P/big"
grep -q "stopped: the image was deleted" "$T/serve.log" || fail "no log line of the deleted image's transfer"

#!/usr/bin/env bash
# test_pg_restart_tasks: back to work when the database is back (issue 36,
# SPEC §13).  Two hosts on one PostgreSQL (a throwaway server of the
# test's own, restarted under them).  A URL import runs on host a from a
# local HTTP server of the test's that holds the transfer until told; the
# server goes down, the transfer ends, and the task's end and its requeue
# meet a database that does not answer.  Before, the requeue was tried
# once: the row stayed `running` under a live host until that host was
# remounted.  Now the runner tries again until the database answers:
# once it is back the task is in the queue, runs again, and the image ends
# available; no row stays running.  And the reads of both hosts after the
# restart answer at once (every connection renewed on its first use), and
# an EIO while the server is away has its line in the mount's log.
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
pg_server URL

# The disk: 8 MiB of raw with an MBR signature (an importable raw).
mkdir "$T/www"
python3 - "$T/www/disk.raw" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.write(os.urandom(8 << 20))
    mbr = bytearray(512)
    mbr[0:2] = b"\xeb\x63"
    mbr[3:30] = b"imgfs pg restart test disk"
    mbr[510:512] = b"\x55\xaa"
    f.seek(0); f.write(mbr)
PY
# The server: sends the first MiB, then holds the rest until $T/release
# exists (each request, after that: all of it at once).  No ranges.
cat >"$T/www.py" <<'PY'
import http.server, os, sys, time
root, port_file, release = sys.argv[1:4]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        data = open(os.path.join(root, self.path.lstrip("/")), "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: 1 << 20])
        self.wfile.flush()
        while not os.path.exists(release):
            time.sleep(0.05)
        self.wfile.write(data[1 << 20:])
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f: f.write(str(s.server_address[1]))
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
PY
python3 "$T/www.py" "$T/www" "$T/www.port" "$T/release" &
www=$!
at_exit "kill $www"
wait_for 10 test -s "$T/www.port" || fail "the HTTP server did not start"

"$IMGFS" admin --state "$T/state-a" --db "$URL" init >/dev/null
"$IMGFS" admin --state "$T/state-a" --db "$URL" import allow 127.0.0.1 >/dev/null
A="$T/mnt-a" B="$T/mnt-b"
mount_imgfs "$T/state-a" "$A" "db=$URL,host=a,workers=1"
mount_imgfs "$T/state-b" "$B" "db=$URL,host=b,workers=0"
RA="$A/regions/cn-north-1" RB="$B/regions/cn-north-1"
running() { psql -qtA "$URL" -c "SELECT count(*) FROM tasks WHERE state = 'running'"; }

say "an import runs on a; the server restarts while its transfer is held, then the transfer ends"
mkdir "$RA/private/web"
echo "url http://127.0.0.1:$(cat "$T/www.port")/disk.raw" >"$RA/private/web/source"
wait_for 30 grep -q '^state running' "$RA/private/web/task" || fail "the import never ran: $(cat "$RA/private/web/task")"
"$ROOT/scripts/pg-down" "$T/pg"
touch "$T/release"
# The task's end meets the database away, and so does its requeue.
wait_for 60 grep -q 'import task [0-9]*: cannot give it back to the queue' "$T/state-a/imgfs.log" ||
    fail "the import's requeue never met the database away"
"$ROOT/scripts/pg-up" "$T/pg" >/dev/null

say "the database is back: the task goes back to the queue, runs again, and ends; no row stays running"
wait_for 30 grep -q 'import task [0-9]*: back in the queue after' "$T/state-a/imgfs.log" ||
    fail "the import was not given back to the queue: $(psql -qtA "$URL" -c 'SELECT id, kind, state, claimed_by FROM tasks')"
imgfs_wait "$RA/private/web" >/dev/null || fail "the import did not end available: $(cat "$RA/private/web/error")"
assert_file_eq "$T/www/disk.raw" "$RA/private/web/disks/vda" "web/disks/vda"
# The image's inspection (§20) may run for a moment after it is available;
# a row that stays running past that is the bug this test is about.
wait_for 30 bash -c "[[ \$(psql -qtA '$URL' -c \"SELECT count(*) FROM tasks WHERE state = 'running'\") == 0 ]]" ||
    fail "task rows still running: $(psql -qtA "$URL" -c "SELECT id, kind, state, claimed_by FROM tasks WHERE state = 'running'")"

say "the server stopped: b's EIO has its line in b's log; restarted: both hosts answer at once, 20 reads each"
"$ROOT/scripts/pg-down" "$T/pg"
assert_errno EIO mkdir "$RB/private/down"
grep -q "imgfs: postgresql: cannot reconnect (statements fail with EIO until it answers): " "$T/state-b/imgfs.log" ||
    { tail -5 "$T/state-b/imgfs.log" >&2; fail "no log line in b's log for its EIO"; }
"$ROOT/scripts/pg-up" "$T/pg" >/dev/null
for ((k = 0; k < 20; k++)); do
    for R in "$RA" "$RB"; do
        assert_eq available "$(cat "$R/private/web/status")" "status $k on $R after the restart"
        ls "$R/private" >/dev/null || fail "listing $k of $R/private after the restart"
    done
done
mkdir "$RB/private/after" || fail "the first mkdir on b after the restart"
grep -q "imgfs: postgresql: reconnected" "$T/state-b/imgfs.log" || fail "no 'reconnected' line in b's log"
say "done"

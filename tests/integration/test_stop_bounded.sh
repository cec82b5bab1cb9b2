#!/usr/bin/env bash
# test_stop_bounded: stopping is bounded (issue 36, SPEC §15).  SIGTERM or
# an unmount ends the daemon within seconds whatever its threads are
# doing; what cannot finish is abandoned as in a crash and resumed by the
# next mount.  The mount's database is a throwaway PostgreSQL of the
# test's own, reached through a TCP proxy (python, 127.0.0.1) that can
# freeze: it stops forwarding, as a server host that went away without a
# word (libpq waits for it forever).  A URL import from a local HTTP
# server that holds its transfer until told keeps a task running.
#   - the database frozen, the import's end and a mkdir waiting for it:
#     SIGTERM, the daemon gone within 10 s (a log line says what it
#     abandoned), the mount point unmounted; the database back, the next
#     mount resumes the import, which ends available.
#   - the server stopped (connections refused) while an import runs:
#     fusermount3 -u, gone within 10 s; restarted, the next mount ends it.
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
pg_server URL
pgport=$(cat "$T/pg/port")

# The proxy: while $T/freeze exists nothing is forwarded either way.
cat >"$T/proxy.py" <<'PY'
import os, socket, sys, threading, time
upstream_port, port_file, freeze = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def pump(src, dst):
    try:
        while (data := src.recv(65536)):
            while os.path.exists(freeze):
                time.sleep(0.05)
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def serve(cl):
    while os.path.exists(freeze):
        time.sleep(0.05)
    try:
        up = socket.create_connection(("127.0.0.1", upstream_port))
    except OSError:
        cl.close()
        return
    threading.Thread(target=pump, args=(up, cl), daemon=True).start()
    pump(cl, up)

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 "$T/proxy.py" "$pgport" "$T/proxy.port" "$T/freeze" &
proxy=$!
at_exit "kill $proxy"

# The disk (8 MiB of raw with an MBR signature) and its server: the first
# MiB, then the rest once $T/release-NAME exists.
mkdir "$T/www"
python3 - "$T/www/disk.raw" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.write(os.urandom(8 << 20))
    mbr = bytearray(512)
    mbr[0:2] = b"\xeb\x63"
    mbr[3:30] = b"imgfs stop-bounded test dis"
    mbr[510:512] = b"\x55\xaa"
    f.seek(0); f.write(mbr)
PY
cat >"$T/www.py" <<'PY'
import http.server, os, sys, time
root, port_file = sys.argv[1:3]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        name, _, tag = self.path.lstrip("/").partition("?")
        data = open(os.path.join(root, name), "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: 1 << 20])
        self.wfile.flush()
        while not os.path.exists(os.path.join(root, "release-" + tag)):
            time.sleep(0.05)
        try:
            self.wfile.write(data[1 << 20:])
        except OSError:
            pass  # an importer that went away (a daemon stopped)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f: f.write(str(s.server_address[1]))
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
PY
python3 "$T/www.py" "$T/www" "$T/www.port" &
www=$!
at_exit "kill $www"
wait_for 10 test -s "$T/proxy.port" || fail "the proxy did not start"
wait_for 10 test -s "$T/www.port" || fail "the HTTP server did not start"
PURL="postgresql://postgres@127.0.0.1:$(cat "$T/proxy.port")/postgres"

"$IMGFS" admin --state "$T/state" --db "$URL" init >/dev/null
"$IMGFS" admin --state "$T/state" --db "$URL" import allow 127.0.0.1 >/dev/null
M="$T/mnt" S="$T/state"
R="$M/regions/cn-north-1"
OPTS="db=$PURL,host=a,workers=1"
mount_imgfs "$S" "$M" "$OPTS"

# import NAME: a URL import of disk.raw into private/NAME, running.
import() {
    mkdir "$R/private/$1"
    echo "url http://127.0.0.1:$(cat "$T/www.port")/disk.raw?$1" >"$R/private/$1/source"
    wait_for 30 grep -q '^state running' "$R/private/$1/task" || fail "the import $1 never ran"
}
# gone_within PID: the daemon ends within 10 s, its mount point unmounted.
gone_within() {
    local pid=$1 m kept=()
    wait_for 10 bash -c "! kill -0 $pid 2>/dev/null" || fail "the daemon $pid did not end within 10 s of the stop"
    ! mountpoint -q "$M" || fail "$M is still mounted after the daemon ended"
    for m in "${_MOUNTS[@]}"; do [[ "$m" == "$M" ]] || kept+=("$m"); done
    _MOUNTS=("${kept[@]+"${kept[@]}"}")
}

say "the database frozen, an import's end and a mkdir waiting for it: SIGTERM ends the daemon within 10 s"
import one
pid=${_MOUNT_PID[$M]}
touch "$T/freeze"
touch "$T/www/release-one" # the transfer ends; the task's next statement waits
(rc=0; mkdir "$R/private/waits" 2>"$T/mkdir.err" || rc=$?; echo "$rc" >"$T/mkdir.rc") &
kill -TERM "$pid"
gone_within "$pid"
grep "stopping took more than 5 s: abandoned as in a crash" "$S/imgfs.log" || { tail -5 "$S/imgfs.log" >&2; fail "no log line of what the stop abandoned"; }
wait_for 10 test -s "$T/mkdir.rc" || fail "the mkdir that waited for the database never returned"
echo "    the waiting mkdir: exit $(cat "$T/mkdir.rc"), $(cat "$T/mkdir.err")"
rm "$T/freeze"

say "the next mount resumes the import, which ends available"
mount_imgfs "$S" "$M" "$OPTS"
imgfs_wait "$R/private/one" >/dev/null || fail "the import did not end available: $(cat "$R/private/one/error")"
assert_file_eq "$T/www/disk.raw" "$R/private/one/disks/vda" "one/disks/vda"

say "imgfs serve: the database frozen under a download's request, SIGTERM ends it within 10 s"
"$IMGFS" serve --state "$S" --db "$PURL" --listen 127.0.0.1:0 --log "$T/serve.log" 2>"$T/serve.err" &
serve=$!
at_exit "kill -9 $serve 2>/dev/null"
wait_for 20 grep -q 'listening on http://127.0.0.1:[0-9]' "$T/serve.err" ||
    { cat "$T/serve.err" >&2; fail "imgfs serve did not start"; }
port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/serve.err" | head -1)
"$IMGFS" admin --state "$S" --db "$URL" download-url "http://127.0.0.1:$port"
echo "link" >"$R/private/one/download" || fail "a link of one"
link=$(awk 'NR == 1 { print $1 }' "$R/private/one/download")
touch "$T/freeze"
(curl -sS -m 60 -o /dev/null "$link" 2>/dev/null || true) &
# The request is in (connected); its link is looked up in the frozen database.
wait_for 10 bash -c "ss -Htn state established '( dport = :$port )' | grep -q ." || fail "the download did not connect"
kill -TERM "$serve"
wait_for 10 bash -c "! kill -0 $serve 2>/dev/null" || fail "imgfs serve did not end within 10 s of SIGTERM"
grep "stopping took more than 5 s: the transfers still in progress are abandoned" "$T/serve.log" || fail "no log line of what serve abandoned"
rm "$T/freeze"

say "the server stopped while an import runs: fusermount3 -u ends the daemon within 10 s; the next mount ends it"
import two
pid=${_MOUNT_PID[$M]}
"$ROOT/scripts/pg-down" "$T/pg"
touch "$T/www/release-two"
fusermount3 -u "$M" || fail "fusermount3 -u"
gone_within "$pid"
"$ROOT/scripts/pg-up" "$T/pg" >/dev/null
mount_imgfs "$S" "$M" "$OPTS"
imgfs_wait "$R/private/two" >/dev/null || fail "the import did not end available: $(cat "$R/private/two/error")"
assert_file_eq "$T/www/disk.raw" "$R/private/two/disks/vda" "two/disks/vda"
say "done"

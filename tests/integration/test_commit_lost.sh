#!/usr/bin/env bash
# test_commit_lost: a refusal is a refusal (SPEC §12) when the database goes
# away mid-commit: a mkdir that returns EIO leaves no image, one that
# returns success left exactly one, and a retry after recovery does it once.
# The mount reaches a throwaway PostgreSQL through a TCP proxy of the
# test's own (python, on 127.0.0.1) that cuts one connection on request,
# at the transaction that carries COMMIT:
#   - after forwarding it whole (the server commits; its answer is lost):
#     the mkdir succeeds and the image is there once — the old code said
#     EIO and left it there, holding a quota slot;
#   - before forwarding any of it (nothing reaches the server): EIO, no
#     image; the same mkdir again makes it once.
# Then a mkdir loop runs while scripts/pg-down and pg-up restart the
# server under the mount: every EIO left no image, every success one.  And
# a restart under an idle mount: the reads after it answer at once (each
# stale connection is renewed by the read that finds it closed).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
pg_server URL
pgport=$(cat "$T/pg/port")
me=$(id -un)

# The proxy: forwards every connection to the server; when $T/cut-answer
# exists (it removes it), the first client write that carries COMMIT goes
# to the server whole, then the client's side is closed at once (the
# server's side a second later, after it committed); with $T/cut-commit,
# that write is dropped and both sides closed.  Each cut is a line in
# $T/proxy.log.
cat >"$T/proxy.py" <<'EOF'
import os, socket, sys, threading, time
upstream_port, port_file, cut_answer, cut_commit, log = int(sys.argv[1]), *sys.argv[2:]
lock = threading.Lock()

def take(flag):
    with lock:
        if os.path.exists(flag):
            os.remove(flag)
            return True
    return False

def say(line):
    with open(log, "a") as f:
        f.write(line + "\n")

def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

def to_client(up, cl):
    try:
        while (data := up.recv(65536)):
            cl.sendall(data)
    except OSError:
        pass
    close(up, cl)

def serve(cl):
    try:
        up = socket.create_connection(("127.0.0.1", upstream_port))
    except OSError:
        cl.close()
        return
    threading.Thread(target=to_client, args=(up, cl), daemon=True).start()
    try:
        while (data := cl.recv(65536)):
            if b"COMMIT\0" in data:
                if take(cut_answer):
                    up.sendall(data)
                    close(cl)
                    say("cut the answer of a commit")
                    time.sleep(1)
                    close(up)
                    return
                if take(cut_commit):
                    close(cl, up)
                    say("cut a commit before it reached the server")
                    return
            up.sendall(data)
    except OSError:
        pass
    close(cl, up)

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
python3 "$T/proxy.py" "$pgport" "$T/proxy.port" "$T/cut-answer" "$T/cut-commit" "$T/proxy.log" &
proxy=$!
at_exit "kill $proxy"
wait_for 10 test -s "$T/proxy.port" || fail "the proxy did not start"
PURL="postgresql://postgres@127.0.0.1:$(cat "$T/proxy.port")/postgres"

"$IMGFS" admin --state "$T/state" --db "$URL" init >/dev/null
M="$T/mnt"
mount_imgfs "$T/state" "$M" "db=$PURL,host=a,workers=0" # no task: the next COMMIT is the mkdir's
"$IMGFS" admin --state "$T/state" --db "$URL" quota set "$me" cn-north-1 private-images 5000
R="$M/regions/cn-north-1"
used() { awk '$1 == "private-images" { print $2 }' "$R/quota"; }
# The images named NAME in private/, counted in the database.
rows() { psql -qtA "$URL" -c "SELECT count(*) FROM images WHERE name = '$1' AND folder = 3"; }

say "the connection lost after COMMIT reached the server: the mkdir committed, and says so"
u0=$(used)
touch "$T/cut-answer"
got=$(errno_of mkdir "$R/private/one")
grep -q 'cut the answer of a commit' "$T/proxy.log" || fail "the proxy did not cut the commit's answer"
n=$(rows one)
[[ $got == OK && $n == 1 ]] || fail "mkdir said $got and left $n images named one (a success leaves one, a refusal none)"
[[ -d "$R/private/one" ]] || fail "private/one is not there"
assert_eq $((u0 + 1)) "$(used)" "private-images used"
assert_errno EEXIST mkdir "$R/private/one"

say "the connection lost before COMMIT reached the server: EIO, nothing changed; the retry makes it once"
touch "$T/cut-commit"
assert_errno EIO mkdir "$R/private/two"
grep -q 'cut a commit before' "$T/proxy.log" || fail "the proxy did not cut the commit"
assert_eq 0 "$(rows two)" "images named two after the EIO"
assert_eq $((u0 + 1)) "$(used)" "private-images used after the EIO"
assert_errno OK mkdir "$R/private/two"
assert_eq 1 "$(rows two)" "images named two after the retry"

say "a mkdir loop while PostgreSQL restarts: every EIO left no image, every success one"
(i=0
 while [[ -d "$T" && ! -e "$T/stop" ]] && ((i < 5000)); do
     i=$((i + 1))
     if mkdir "$R/private/loop-$i" 2>"$T/loop.err"; then echo "$i OK"
     elif grep -q 'Input/output error' "$T/loop.err"; then echo "$i EIO"
     else echo "$i $(cat "$T/loop.err")"; fi
 done) >"$T/loop.out" &
loop=$!
at_exit "kill $loop"
started() { (($(cat "$T/loop.out" 2>/dev/null | wc -l) >= 5)); }
back() { [[ "$(tail -n 1 "$T/loop.out" | awk '{ print $2 }')" == OK ]]; }
wait_for 30 started || fail "the loop did not start"
"$ROOT/scripts/pg-down" "$T/pg"
wait_for 30 grep -q ' EIO$' "$T/loop.out" || fail "no mkdir failed while the server was down"
"$ROOT/scripts/pg-up" "$T/pg" >/dev/null
wait_for 60 back || fail "mkdir did not work again after the restart: $(tail -n 1 "$T/loop.out")"
touch "$T/stop"
wait "$loop"
# Every image named loop-N, with its count (one query, not one per mkdir).
declare -A made=()
while read -r name n; do made[$name]=$n; done < <(psql -qtA -F ' ' "$URL" -c \
    "SELECT name, count(*) FROM images WHERE name LIKE 'loop-%' AND folder = 3 GROUP BY name")
ok=0 eio=0
while read -r i r; do
    case $r in
    OK) assert_eq 1 "${made[loop-$i]:-0}" "images named loop-$i (mkdir said OK)"; ok=$((ok + 1)) ;;
    EIO) assert_eq 0 "${made[loop-$i]:-0}" "images named loop-$i (mkdir said EIO)"; eio=$((eio + 1)) ;;
    *) fail "mkdir loop-$i: $r" ;;
    esac
done <"$T/loop.out"
assert_eq "$ok" "${#made[@]}" "images named loop-N"
echo "    $ok made, $eio EIO"
((eio > 0)) || fail "no mkdir met the restart"
assert_eq $((u0 + 2 + ok)) "$(used)" "private-images used after the loop"

say "the server restarted under an idle mount: the first reads answer, none is EIO"
# Every connection the mount holds was closed by the server while idle;
# libpq learns that only at its next statement, which a read runs again on
# a new connection (a write is not run twice: its EIO stands, as above).
"$ROOT/scripts/pg-down" "$T/pg"
"$ROOT/scripts/pg-up" "$T/pg" >/dev/null
for ((k = 0; k < 20; k++)); do
    q=$(cat "$R/quota") || fail "read $k of quota after the restart"
    assert_match '.*private-images .*' "$q" "quota after the restart"
    ls "$R/private" >/dev/null || fail "listing $k of private/ after the restart"
    [[ -d "$R/private/one" ]] || fail "stat $k of private/one after the restart"
done
assert_eq $((u0 + 2 + ok)) "$(used)" "private-images used after the restart"

say "the server away: a generated file is EIO with a log line, never an empty success"
"$ROOT/scripts/pg-down" "$T/pg"
for f in quota images.csv images.json; do
    if out=$(cat "$R/$f" 2>"$T/cat.err"); then
        fail "cat $f with the server down succeeded: '$(head -c 80 <<<"$out")'"
    fi
    grep -q "Input/output error" "$T/cat.err" || fail "cat $f with the server down: $(cat "$T/cat.err")"
    grep -q "read /regions/cn-north-1/$f: EIO the database did not answer" "$T/state/imgfs.log" ||
        fail "no log line for the EIO of $f"
done
"$ROOT/scripts/pg-up" "$T/pg" >/dev/null
assert_match '.*private-images .*' "$(cat "$R/quota")" "quota once the server is back"
say "done"

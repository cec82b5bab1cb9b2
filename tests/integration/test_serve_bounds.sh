#!/usr/bin/env bash
# test_serve_bounds.sh — `imgfs serve` bounds each client (SPEC §12 "bounded
# by design", issue 23).  While 1,000 slow connections from 127.0.0.1 each
# send one byte of a request every 3 s (slowhttp.py loris, reconnecting
# what the server closes), a client from 127.0.0.2 downloads a link whole,
# byte-exact, its first byte within a second; the server holds at most 8
# connections of 127.0.0.1 and refuses the others at once (503); it closes
# a held one 10 s after its first byte, its request not being complete;
# its memory stays within what 8 connections cost; its log says so in a
# few lines, not thousands.  Garbage and a TLS ClientHello on the plain
# port get 400 and a close at once, a connection that sends nothing is
# closed after 10 s; on the TLS port (--max-per-client 2) a plain request
# gets 400 and a close, a third connection of one address is closed at
# once, and curl still downloads over HTTPS.
# The whole server (issue 36), its defaults (64 connections, 8 per
# address): 160 slow connections from 20 addresses, then 72 slow readers
# (64 B/s) from 9, each attack holding every slot; meanwhile a client from
# a fresh address downloads 5 times, whole and byte-exact, each first byte
# well within the bound (1 s by design: the grace, 0.5 s, and the backlog
# ahead of it; 5 s allowed on a loaded machine).
# The attackers' connections are closed — the slowest to make room, the
# readers below the minimum rate (1024 bytes/s over 10 s) — and the log
# and the metrics say why.  After each attack the server holds as many
# sockets as before it (/proc/PID/fd counted): every connection it
# refused or closed had its descriptor closed.
source "$(dirname "$0")/lib.sh"

for tool in curl openssl; do
    command -v "$tool" >/dev/null || fail "$tool is needed (scripts/install-deps)"
done
SLOWHTTP="$INTEGRATION_DIR/slowhttp.py"
# The attacker's 1,000 sockets.
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= 1100)) || fail "ulimit -n is $(ulimit -n): 1,100 descriptors at least are needed"

setup_mount
P="$R/private"
MiB=1048576
python3 - "$T/disk.raw" <<'EOF'
import os, sys
d = bytearray(os.urandom(8 << 20))
d[0:512] = bytes(512)
d[0:2] = b"\xeb\x63"
d[510:512] = b"\x55\xaa"
open(sys.argv[1], "wb").write(d)
EOF
mkdir "$P/web"
cp "$T/disk.raw" "$P/web/disks/vda" || fail "cp into $P/web/disks/vda"
imgfs_wait "$P/web" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" "$P/web/error" >&2; fail "imgfs wait"; }

# start_serve NAME ARGS...: imgfs serve on 127.0.0.1, a port of its
# choosing, printed into PORT; its pid into SERVE_PID.
start_serve() {
    local name=$1
    shift
    "$IMGFS" serve --state "$S" --listen 127.0.0.1:0 --log "$T/$name.log" "$@" 2>"$T/$name.err" &
    SERVE_PID=$!
    at_exit "kill $SERVE_PID; wait $SERVE_PID"
    wait_for 20 grep -q 'listening on http.*://127.0.0.1:[0-9]' "$T/$name.err" ||
        { cat "$T/$name.err" >&2; fail "imgfs serve ($name) did not start"; }
    PORT=$(sed -n 's|.*listening on https*://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/$name.err" | head -1)
}

say "imgfs serve with its defaults (8 connections per client address)"
start_serve plain
imgfs_admin "$S" download-url "http://127.0.0.1:$PORT"
echo link >"$P/web/download"
U=$(awk '{ print $1 }' "$P/web/download")
# A first download fills the store's chunk cache: what grows after it is
# the connections'.
curl -sSf -o /dev/null "$U"
rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$SERVE_PID/status")
# fds_back MAX: the server holds MAX sockets at most (every connection it
# refused or closed has its descriptor closed: a leak of one a refusal
# grows by the hundreds under an attack, and never comes back).  Sockets
# only: its threads open their database connections as they first serve.
fds() { find "/proc/$SERVE_PID/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' | wc -l; }
fds_back() { (($(fds) <= $1)); }
fds_show() { ls -l "/proc/$SERVE_PID/fd" >&2; ss -tanp 2>/dev/null | grep -E "pid=${SERVE_PID}[,)]" >&2; }
fd0=$(fds)

say "garbage and a TLS ClientHello on the plain port: 400 and a close at once"
for kind in garbage hello; do
    out=$(python3 "$SLOWHTTP" probe 127.0.0.1 "$PORT" "$kind" --source 127.0.0.3)
    assert_match 'reply=HTTP/1.1_400_Bad_Request closed=0\.[0-9]+' "$out" "the server's answer to $kind"
done

say "1,000 slow connections from 127.0.0.1, a download from 127.0.0.2 meanwhile"
# Meanwhile too, from 127.0.0.4, a connection that sends nothing.
python3 "$SLOWHTTP" probe 127.0.0.1 "$PORT" idle --wait 15 --source 127.0.0.4 >"$T/idle.out" &
IDLE=$!
python3 "$SLOWHTTP" loris "$PORT" 1000 "$T/loris.ready" "$T/loris.stop" --pid "$SERVE_PID" \
    >"$T/loris.out" 2>"$T/loris.err" &
LORIS=$!
at_exit "touch '$T/loris.stop'; kill $LORIS"
wait_for 30 test -e "$T/loris.ready" || { cat "$T/loris.err" >&2; fail "the attacker did not start"; }
# The attack is on: its held connections have sent their first bytes.
wait_for 10 grep -q 'refused 127.0.0.1' "$T/plain.log" || fail "no connection of 127.0.0.1 refused"
out=$(curl -sS --interface 127.0.0.2 --max-time 30 -o "$T/dl.raw" \
    -w '%{http_code} %{time_starttransfer} %{size_download}' "$U") || fail "the download during the attack: $out"
read -r code first size <<<"$out"
say "  status $code, first byte after $first s, $size bytes"
assert_eq "200 $((8 * MiB))" "$code $size" "the download during the attack"
assert_file_eq "$T/disk.raw" "$T/dl.raw" "the download during the attack"
awk -v t="$first" 'BEGIN { exit !(t < 1.0) }' || fail "the first byte came after $first s (1 s at most)"

say "a connection whose request is not complete is closed 10 s after its first byte"
# The first ones held were opened at the start: wait (bounded) until the
# server closed some, then stop the attack and read what it saw.
held_closed() { grep -q 'whose request was not complete' "$T/plain.log"; }
wait_until 30 held_closed || { tail "$T/plain.log" >&2; fail "no held connection was closed"; }
touch "$T/loris.stop"
wait_for 20 test -s "$T/loris.out" || fail "the attacker did not report"
wait "$LORIS" || true
cat "$T/loris.out" | sed 's/^/    /'
stat_() { sed -n "s/^$1=//p" "$T/loris.out"; }
opened=$(stat_ opened) refused=$(stat_ refused) refused_503=$(stat_ refused_503) held=$(stat_ held_max)
((opened >= 1000)) || fail "the attacker opened $opened connections"
((held <= 8)) || fail "$held connections of one address were held at once (8 at most)"
((held >= 1)) || fail "no connection held: the attack did not reach the server's slots"
# Held: 8 at a time, each for 10 s, so 8 more every 10 s; the rest refused.
secs=$(stat_ seconds)
((opened - refused <= 8 * (secs / 10 + 2))) || fail "$refused of $opened connections refused at once in $secs s"
((refused_503 * 10 >= refused * 9)) || fail "$refused_503 of $refused refused connections got a 503"
lifetimes=$(stat_ lifetimes)
[[ -n "$lifetimes" ]] || fail "no held connection was closed by the server"
for l in $lifetimes; do
    awk -v t="$l" 'BEGIN { exit !(t >= 9.9 && t <= 12.5) }' ||
        fail "a partial request was closed $l s after its first byte (10 s expected)"
done
peak=$(stat_ rss_peak_kib)
say "  RSS ${rss0} KiB before, ${peak} KiB at most during the attack"
# 8 connections reading requests hold libmicrohttpd's 32 KiB pool each,
# the download a 256 KiB buffer; the thousands of refused connects hold
# nothing (a Release build grows by about 130 KiB, an ASan one by 2.4 MiB:
# its quarantine keeps what was freed).  1,000 held connections would be
# 32 MiB of pools alone.
((peak - rss0 < 8 * 1024)) || fail "RSS grew by $((peak - rss0)) KiB under the attack (8 MiB at most)"
lines=$(grep -c 'refused 127.0.0.1' "$T/plain.log")
say "  $lines log line(s) for $refused refused connections"
((lines <= 10)) || fail "$lines log lines for refused connections: they are not rate-limited"
wait_for 15 grep -q 'similar suppressed' "$T/plain.log" || fail "no count of the suppressed lines in the log"

say "a connection that sent nothing was closed after 10 s"
wait "$IDLE"
assert_match 'reply=- closed=(9\.9|1[0-2]\.)[0-9]*' "$(cat "$T/idle.out")" "an idle connection"

say "the $refused refused connections' descriptors are closed: the server holds its $fd0 sockets again"
wait_until 20 fds_back "$fd0" || { fds_show; fail "the server holds $(fds) sockets after the attack, $fd0 before"; }

say "the TLS port, 2 connections per client: plain text gets 400, a third connection is closed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/key.pem" \
    -out "$T/cert.pem" -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
start_serve tls --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --max-per-client 2
out=$(python3 "$SLOWHTTP" probe 127.0.0.1 "$PORT" plain)
assert_match 'reply=HTTP/1.1_400_Bad_Request closed=0\.[0-9]+' "$out" "a plain request on the TLS port"
python3 "$SLOWHTTP" hold 127.0.0.1 "$PORT" 3 22 --wait 2 >"$T/hold.out" # 22: 0x16, a TLS record
assert_eq "never never" "$(sed -n '1,2s/closed=//p' "$T/hold.out" | paste -sd ' ')" "two connections of one address"
assert_match 'closed=0\.[0-9]+' "$(sed -n 3p "$T/hold.out")" "a third connection of that address"
H="https://127.0.0.1:$PORT/${U#http://127.0.0.1:*/}"
curl -sSf --cacert "$T/cert.pem" -o "$T/h.raw" "$H"
assert_file_eq "$T/disk.raw" "$T/h.raw" "the download over HTTPS"

say "the whole server: imgfs serve with its defaults (64 connections, 8 per address) and metrics"
start_serve many --metrics-listen 0
wait_for 10 grep -q 'metrics on http' "$T/many.err" || fail "no metrics listener"
MPORT=$(sed -n 's|.*metrics on http://127\.0\.0\.1:\([0-9]*\)/metrics.*|\1|p' "$T/many.err" | head -1)
H="http://127.0.0.1:$PORT/${U#http://127.0.0.1:*/}"
sources() { seq -f "127.0.0.%g" "$1" "$2" | paste -sd ,; } # 127.0.0.A,...,127.0.0.B
curl -sSf -o /dev/null "$H" # the chunk cache filled: what the server holds after it
fd0=$(fds)
metric() { curl -sS "http://127.0.0.1:$MPORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
# honest WHAT: 5 downloads from 127.0.0.40, none of whose connections the
# attackers share an address with.
honest() {
    local i out code first size
    for i in 1 2 3 4 5; do
        out=$(curl -sS --interface 127.0.0.40 --max-time 30 -o "$T/honest.raw" \
            -w '%{http_code} %{time_starttransfer} %{size_download}' "$H") || fail "$1: download $i: $out"
        read -r code first size <<<"$out"
        say "  $1: download $i, status $code, first byte after $first s"
        assert_eq "200 $((8 * MiB))" "$code $size" "$1: download $i"
        assert_file_eq "$T/disk.raw" "$T/honest.raw" "$1: download $i"
        awk -v t="$first" 'BEGIN { exit !(t < 5.0) }' || fail "$1: download $i's first byte came after $first s"
    done
}

say "160 slow connections from 127.0.0.2 ... 127.0.0.21 (8 each), a client from 127.0.0.40 meanwhile"
python3 "$SLOWHTTP" loris "$PORT" 160 "$T/many.ready" "$T/many.stop" --sources "$(sources 2 21)" \
    >"$T/many.out" 2>"$T/many.loris.err" &
LORIS2=$!
at_exit "touch '$T/many.stop'; kill $LORIS2"
wait_for 30 test -e "$T/many.ready" || { cat "$T/many.loris.err" >&2; fail "the attacker did not start"; }
# Every slot held, more waiting: the server makes room, and says so.
wait_for 20 grep -q 'connection(s) to make room for as many waiting (--max-connections held): the slowest' "$T/many.log" ||
    { tail "$T/many.log" >&2; fail "the server did not make room while 160 connections waited"; }
# In its stride: more connections closed to make room than the attacker has.
churned() { local e; e=$(metric 'imgfs_serve_refused_connections_total{reason="evicted"}'); ((${e:-0} >= 200)); }
wait_for 30 churned || fail "the server did not make room 200 times: $(metric 'imgfs_serve_refused_connections_total{reason="evicted"}')"
honest "during the slowloris"
touch "$T/many.stop"
wait_for 20 test -s "$T/many.out" || fail "the attacker did not report"
wait "$LORIS2" || true
sed 's/^/    /' "$T/many.out"
# The attacker's count of the connections the server closed: within a
# second of the connect (refused), or later (lifetimes).
n=$(($(sed -n 's/^refused=//p' "$T/many.out") + $(sed -n 's/^lifetimes=//p' "$T/many.out" | wc -w)))
say "  $n of the attacker's connections closed by the server"
((n >= 200)) || fail "only $n of the attacker's connections were closed by the server"

say "72 slow readers (64 B/s) from 127.0.0.22 ... 127.0.0.30 (8 each), a client from 127.0.0.40 meanwhile"
python3 "$SLOWHTTP" readers "$H" 72 "$T/readers.ready" "$T/readers.stop" --sources "$(sources 22 30)" \
    --progress "$T/readers.seen" >"$T/readers.out" 2>"$T/readers.err" &
READERS=$!
at_exit "touch '$T/readers.stop'; kill $READERS"
wait_for 30 test -e "$T/readers.ready" || { cat "$T/readers.err" >&2; fail "the readers did not start"; }
full() { (($(metric imgfs_serve_connections) >= 64)); }
wait_for 20 full || fail "the readers did not hold every slot: $(metric imgfs_serve_connections) connections"
honest "during the slow readers"
# Each reader's request ends with a log line saying why the server closed
# it: the slowest, to make room, or below the minimum rate.
# The first 64 go after 10 s each at the earliest; a loaded machine (CI's
# parallel lanes) spreads them out: 46 came in 40 s there. A deadline,
# not a measure: a server that closes none still fails.
closed_slow() { (($(grep -c 'client 127\.0\.0\.\(2[2-9]\|30\):.* status 200 closed: ' "$T/many.log" || true) >= 64)); }
wait_until 120 closed_slow || { tail "$T/many.log" >&2; fail "the server did not close 64 slow readers"; }
grep -q 'status 200 closed: its client took fewer than 1024 bytes/s over 10 s' "$T/many.log" ||
    fail "no reader was closed for its pace"
grep -q 'closed [0-9]* connection(s) whose client took fewer than 1024 bytes/s of its response over 10 s' \
    "$T/many.log" || fail "no log line of readers closed for their pace"
# What the readers saw of it: a close reaches a reader when the server's
# socket goes (the server shuts down first), which trails the log line by
# as long as the machine makes it (45 of 64 were seen at the log's 64th in
# CI's parallel lanes).  Waited for, then counted in the readers' report.
seen() { (($(sed -n 's/^closed=//p' "$T/readers.seen" 2>/dev/null || echo 0) >= 64)); }
wait_until 120 seen || fail "the readers saw $(cat "$T/readers.seen" 2>/dev/null) of their connections closed"
touch "$T/readers.stop"
wait_for 20 test -s "$T/readers.out" || fail "the readers did not report"
wait "$READERS" || true
sed 's/^/    /' "$T/readers.out"
n=$(sed -n 's/^closed=//p' "$T/readers.out")
((n >= 64)) || fail "the readers saw $n of their connections closed by the server (64 at least)"
((slow = $(metric 'imgfs_serve_refused_connections_total{reason="slow_reader"}'))) ||
    fail "the metrics count no slow reader"
say "  $slow reader(s) closed below the minimum rate"

say "every connection refused, closed to make room or for its pace has its descriptor closed"
wait_until 30 fds_back "$fd0" || { fds_show; fail "the server holds $(fds) sockets after the attacks, $fd0 before"; }

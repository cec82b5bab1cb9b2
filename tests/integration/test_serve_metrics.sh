#!/usr/bin/env bash
# test_serve_metrics.sh — `imgfs serve --metrics-listen` (issue 24): GET
# /metrics on a listener of its own (PORT alone: 127.0.0.1), no token, in
# the Prometheus text format read with Prometheus' own parser, every family
# with HELP and TYPE; each counter moved by exactly what the test did:
# requests by method and status (a whole GET, a range, a HEAD, a bad
# token), the body bytes sent, open connections (2 held), refused ones by
# reason (a third of one address past --max-per-client 2, garbage bytes,
# the 2 held requests not complete in time), a transfer stopped by a
# revoke.  The download port has no /metrics, the metrics port serves
# nothing else.
source "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || fail "curl is needed (scripts/install-deps)"
SLOWHTTP="$INTEGRATION_DIR/slowhttp.py"
PROM_PY=python3
python3 -c 'import prometheus_client' 2>/dev/null || PROM_PY=/usr/bin/python3
"$PROM_PY" -c 'import prometheus_client' || fail "python3-prometheus-client is not installed"

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

say "imgfs serve --max-per-client 2 --metrics-listen 0: two ports of its choosing, metrics on 127.0.0.1"
"$IMGFS" serve --state "$S" --listen 127.0.0.1:0 --max-per-client 2 --metrics-listen 0 --log "$T/serve.log" \
    2>"$T/serve.err" &
SERVE_PID=$!
at_exit "kill $SERVE_PID; wait $SERVE_PID"
wait_for 20 grep -q 'metrics on http://127.0.0.1:[0-9]*/metrics' "$T/serve.err" ||
    { cat "$T/serve.err" >&2; fail "imgfs serve did not start"; }
PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/serve.err" | head -1)
MPORT=$(sed -n 's|.*metrics on http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$T/serve.err" | head -1)
[[ -n $PORT && -n $MPORT && $PORT != "$MPORT" ]] || fail "ports: download $PORT, metrics $MPORT"
imgfs_admin "$S" download-url "http://127.0.0.1:$PORT"

# prom SERIES: the value of one sample as Prometheus' parser reads a fresh
# scrape (0 when absent); fails when it does not parse, a family lacks HELP
# or TYPE, or a sample is there twice.
cat >"$T/prom.py" <<'PY'
import re, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?', sys.argv[2])
name, labels = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ''))
helps = set(re.findall(r'^# HELP (\S+) ', text, re.M))
types = dict(re.findall(r'^# TYPE (\S+) (\S+)$', text, re.M))
found = []
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        if s.name not in helps or s.name not in types:
            sys.exit(f"{s.name}: no HELP or TYPE")
        if s.name == name and s.labels == labels:
            found.append(s.value)
if len(found) > 1:
    sys.exit(f"{sys.argv[2]} is there {len(found)} times")
print(int(found[0]) if found else 0)
PY
prom() {
    curl -sSf -o "$T/metrics.txt" "http://127.0.0.1:$MPORT/metrics" || fail "GET /metrics"
    "$PROM_PY" "$T/prom.py" "$T/metrics.txt" "$1" || fail "/metrics: $1"
}
metric_is() { [[ $(prom "$1") == "$2" ]]; } # SERIES VALUE

say "a fresh server: zeros, every family there"
assert_eq 0 "$(prom imgfs_serve_sent_bytes_total)" "sent bytes"
for f in imgfs_serve_requests_total imgfs_serve_sent_bytes_total imgfs_serve_connections \
    imgfs_serve_refused_connections_total imgfs_serve_transfers_stopped_total; do
    grep -q "^# TYPE $f \(counter\|gauge\)$" "$T/metrics.txt" || fail "no TYPE line of $f"
done
for r in per_client garbage late_request idle full; do
    assert_eq 0 "$(prom "imgfs_serve_refused_connections_total{reason=\"$r\"}")" "refused ($r)"
done
curl -sS -D "$T/h" -o /dev/null "http://127.0.0.1:$MPORT/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/h" || fail "the Content-Type of /metrics"
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")" "/ on the metrics port"
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")" \
    "/metrics on the download port"
assert_eq 405 "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MPORT/metrics")" \
    "POST /metrics"

say "a whole GET, a range, a HEAD, a bad token: counted by method and status, body bytes summed"
echo link >"$P/web/download"
U=$(awk '{ print $1 }' "$P/web/download")
curl -sSf -o "$T/whole" "$U"
cmp "$T/whole" "$T/disk.raw" || fail "the download differs"
curl -sSf -r 0-99 -o /dev/null "$U"
curl -sSf -I -o /dev/null "$U"
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/d/nosuchtoken")" "a bad token"
# The server counts a request when it ends, just after its last byte.
wait_for 5 metric_is 'imgfs_serve_requests_total{method="GET",status="200"}' 1 ||
    fail "GET 200: $(prom 'imgfs_serve_requests_total{method="GET",status="200"}')"
assert_eq 1 "$(prom 'imgfs_serve_requests_total{method="GET",status="206"}')" "GET 206"
wait_for 5 metric_is 'imgfs_serve_requests_total{method="HEAD",status="200"}' 1 || fail "HEAD 200"
# (and GET /metrics on the download port, above)
wait_for 5 metric_is 'imgfs_serve_requests_total{method="GET",status="404"}' 2 ||
    fail "GET 404: $(prom 'imgfs_serve_requests_total{method="GET",status="404"}')"
assert_eq $((8 * MiB + 100)) "$(prom imgfs_serve_sent_bytes_total)" "sent bytes (8 MiB, then 100)"
assert_eq 4 "$(grep -c '^imgfs_serve_requests_total{' "$T/metrics.txt")" "requests series"

say "2 connections held (one byte of a request each), a third refused; garbage refused"
python3 "$SLOWHTTP" hold 127.0.0.1 "$PORT" 3 71 --wait 14 >"$T/hold.out" 2>&1 &
HOLD_PID=$!
wait_for 10 metric_is 'imgfs_serve_refused_connections_total{reason="per_client"}' 1 ||
    fail "per_client refusals: $(prom 'imgfs_serve_refused_connections_total{reason="per_client"}')"
assert_eq 2 "$(prom imgfs_serve_connections)" "open connections while 2 are held"
python3 - "$PORT" <<'PY' || fail "garbage was not refused with 400"
import socket, sys
# From 127.0.0.2: 127.0.0.1 has its 2 connections.
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), source_address=("127.0.0.2", 0))
s.sendall(b"\x01\x02garbage\r\n\r\n")
assert s.recv(100).startswith(b"HTTP/1.1 400"), "no 400"
PY
wait_for 5 metric_is 'imgfs_serve_refused_connections_total{reason="garbage"}' 1 || fail "garbage refusals"
say "the held requests are not complete 10 s after their first byte: closed, counted late"
wait_for 20 metric_is 'imgfs_serve_refused_connections_total{reason="late_request"}' 2 ||
    fail "late_request: $(prom 'imgfs_serve_refused_connections_total{reason="late_request"}')"
wait "$HOLD_PID" || true
wait_for 5 metric_is imgfs_serve_connections 0 || fail "open connections after the close: $(prom imgfs_serve_connections)"

say "a slow download revoked: one transfer stopped"
slow_rc=0
python3 "$SLOWHTTP" get "$U" "$T/slow" --rate "$MiB" >"$T/slow.res" 2>"$T/slow.err" &
SLOW_PID=$!
wait_for 20 bash -c "(( \$(stat -c %s '$T/slow' 2>/dev/null || echo 0) >= $MiB / 4 ))" ||
    { cat "$T/slow.err" >&2; fail "the slow download did not start"; }
assert_eq 1 "$(prom imgfs_serve_connections)" "open connections during the slow download"
echo revoke >"$P/web/download"
wait "$SLOW_PID" || slow_rc=$?
assert_eq 18 "$slow_rc" "the slow client's exit status (a short transfer)"
wait_for 5 metric_is imgfs_serve_transfers_stopped_total 1 || fail "transfers stopped: $(prom imgfs_serve_transfers_stopped_total)"
assert_eq 2 "$(prom 'imgfs_serve_requests_total{method="GET",status="200"}')" "GET 200 after the stopped one"
exit 0

#!/usr/bin/env bash
# test_download.sh — download links (SPEC §14, seed 004 §4.4) through a real
# mount and a running `imgfs serve` on 127.0.0.1: the `download` file (link,
# list, revoke, refusals with errno, error and log), raw, qcow2 and iso
# links fetched with curl, wget and aria2c (whole, interrupted at a random
# byte and resumed, several connections), HEAD, Range, 416, If-Range,
# expiry (410), a tampered token and a deleted image (404), a qcow2 checked
# with qemu-img and uploaded back, a corrupt chunk ending a response early,
# and the server's memory under 20 parallel downloads.
source "$(dirname "$0")/lib.sh"

for tool in curl wget aria2c qemu-img genisoimage; do
    command -v "$tool" >/dev/null || fail "$tool is needed (scripts/install-deps)"
done

setup_mount
P="$R/private"
MiB=1048576
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 40 >/dev/null

# A 24 MiB disk: an MBR, 3 MiB of random data at 5 MiB, a pattern ending
# in the last chunk, holes elsewhere.
python3 - "$T/disk.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(24 << 20)
    mbr = bytearray(512)
    mbr[0:2] = b"\xeb\x63"
    mbr[510:512] = b"\x55\xaa"
    f.seek(0); f.write(mbr)
    f.seek(5 << 20); f.write(os.urandom(3 << 20))
    f.seek((23 << 20) + 4321); f.write(b"imgfs-download-tail" * 1000)
EOF

upload() { # NAME FILE [DIR]
    local img="${3:-$P}/$1" dev=vda
    [[ "${3:-$P}" == "$R/iso" ]] && dev=cdrom
    mkdir "$img"
    cp "$2" "$img/disks/$dev" || fail "cp $2 into $img/disks/$dev"
    imgfs_wait "$img" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" "$img/error" >&2; fail "imgfs wait $img"; }
}

say "refusals: a queued image (EPERM), a public image (EPERM), bad durations and formats (EINVAL, error, log)"
mkdir "$P/q"
assert_errno EPERM write "$P/q/download" $'link\n'
assert_match '.*available.*' "$(cat "$P/q/error")" "q/error"
assert_logged "write" "$P/q/download" EPERM
pub="$R/public/$(smallest_public "$R")"
[[ ! -e "$pub/download" ]] || fail "$pub/download exists: §2.1 gives it to private and iso images"
assert_errno EPERM create "$pub/download" $'link\n'
upload r "$T/disk.raw"
for bad in "link 8d" "link 0s" "link 90" "link 5x" "link 1h vmdk" "link raw qcow2" "link iso" "links" "revoke now"; do
    assert_errno EINVAL write "$P/r/download" "$bad"$'\n'
    [[ -n "$(cat "$P/r/error")" ]] || fail "r/error empty after \"$bad\""
done
assert_errno EINVAL write "$P/r/download" $'link 8d\n'
assert_match '.*8d.*duration.*' "$(cat "$P/r/error")" "r/error names the bad duration"
assert_logged "write" "$P/r/download" EINVAL
assert_eq "" "$(cat "$P/r/download")" "no link made by a refusal"

say "imgfs serve on 127.0.0.1 (a free port), the admin's base URL"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
assert_fails imgfs_admin "$S" download-url "ftp://127.0.0.1:$PORT"
imgfs_admin "$S" download-url "$BASE/"
assert_eq "$BASE" "$(imgfs_admin "$S" download-url)" "download-url"
# All the clients here are 127.0.0.1: 20 parallel downloads below need more
# than the 8 connections a client address gets by default.
"$IMGFS" serve --state "$S" --listen "127.0.0.1:$PORT" --log "$T/serve.log" --max-per-client 24 \
    2>"$T/serve.err" &
SERVE_PID=$!
at_exit "kill $SERVE_PID; wait $SERVE_PID"
wait_for 10 curl -s -o /dev/null "$BASE/" || { cat "$T/serve.err" >&2; fail "imgfs serve did not answer"; }

say "link, link 90m qcow2: listed as '<URL> <format> <expires>'"
echo link >"$P/r/download"
echo "link 90m qcow2" >"$P/r/download"
assert_eq "" "$(cat "$P/r/error")" "r/error after a link"
assert_eq 2 "$(wc -l <"$P/r/download")" "two live links"
now=$(date +%s)
while read -r url fmt exp; do
    assert_match "$BASE/d/[0-9a-f]{64}/r\\.$fmt" "$url" "the URL"
    e=$(date -d "$exp" +%s)
    case $fmt in
    raw) ((e >= now + 86390 && e <= now + 86410)) || fail "raw link expires $exp, not in 24 h";;
    qcow2) ((e >= now + 5390 && e <= now + 5410)) || fail "qcow2 link expires $exp, not in 90 m";;
    *) fail "format $fmt";;
    esac
done <"$P/r/download"
U=$(awk '$2 == "raw" { print $1 }' "$P/r/download")
Q=$(awk '$2 == "qcow2" { print $1 }' "$P/r/download")

say "curl: the whole raw download equals disks/vda"
curl -sSf -o "$T/r.raw" "$U"
assert_file_eq "$P/r/disks/vda" "$T/r.raw" "curl download"

say "HEAD: length, ranges, validators, attachment name"
curl -sSf -I "$U" | tr -d '\r' >"$T/head"
grep -qx 'HTTP/1.1 200 OK' "$T/head" || { cat "$T/head" >&2; fail "HEAD status"; }
grep -qix "content-length: $((24 * MiB))" "$T/head" || fail "HEAD Content-Length"
grep -qix 'accept-ranges: bytes' "$T/head" || fail "HEAD Accept-Ranges"
grep -qix 'content-disposition: attachment; filename="r.raw"' "$T/head" || fail "HEAD Content-Disposition"
grep -qi '^last-modified: ..., .. ... .... ..:..:.. GMT$' "$T/head" || fail "HEAD Last-Modified"
ETAG=$(awk -F': ' 'tolower($1) == "etag" { print $2 }' "$T/head")
assert_match '"[0-9a-f]{32}"' "$ETAG" "ETag"

say "Range: 206 with the bytes, 416 outside, If-Range stale gives the whole file, fresh the range"
code=$(curl -sS -r 5242000-5243999 -o "$T/part" -w '%{http_code}' "$U")
assert_eq 206 "$code" "ranged status"
cmp <(tail -c +5242001 "$T/disk.raw" | head -c 2000) "$T/part" || fail "ranged bytes"
assert_eq 416 "$(curl -sS -r $((24 * MiB))- -o /dev/null -w '%{http_code}' "$U")" "range past the end"
out=$(curl -sS -r 0-99 -H 'If-Range: "0123456789abcdef0123456789abcdef"' -o "$T/ifr" -w '%{http_code} %{size_download}' "$U")
assert_eq "200 $((24 * MiB))" "$out" "If-Range with a stale ETag"
assert_eq "206 100" "$(curl -sS -r 0-99 -H "If-Range: $ETAG" -o /dev/null -w '%{http_code} %{size_download}' "$U")" \
    "If-Range with the ETag"

say "interrupted at a random byte, resumed with curl -C -"
cut_at=$((RANDOM * 500 + 1))
curl -sS "$U" 2>/dev/null | head -c "$cut_at" >"$T/c.raw" || true
assert_eq "$cut_at" "$(stat -c %s "$T/c.raw")" "the interrupted download's length"
curl -sSf -C - -o "$T/c.raw" "$U"
assert_file_eq "$T/disk.raw" "$T/c.raw" "curl -C - resume"

say "interrupted at a random byte, resumed with wget -c (the URL's file name)"
mkdir "$T/w"
cut_at=$((RANDOM * 600 + 7))
curl -sS "$U" 2>/dev/null | head -c "$cut_at" >"$T/w/r.raw" || true
(cd "$T/w" && wget -q -c "$U")
assert_file_eq "$T/disk.raw" "$T/w/r.raw" "wget -c resume"

say "aria2c -x 4 -s 4: several connections with ranges"
aria2c -q -x 4 -s 4 -k 1M --file-allocation=none -d "$T/a" -o r.raw "$U"
assert_file_eq "$T/disk.raw" "$T/a/r.raw" "aria2c download"

say "qemu-img reads the links themselves over HTTP (its curl driver: qemu-block-extra)"
qemu-img compare -q -f raw -F raw "$U" "$T/disk.raw" || fail "qemu-img compare: the raw link vs the disk"

say "qcow2 link: qemu-img check and compare, the same bytes on every request and range"
curl -sSf -o "$T/r.qcow2" "$Q"
qemu-img check -q "$T/r.qcow2" || fail "qemu-img check of the qcow2 download"
qemu-img compare -q "$T/r.qcow2" "$P/r/disks/vda" || fail "qemu-img compare: qcow2 download vs the blob"
qemu-img compare -q -f qcow2 -F raw "$Q" "$T/disk.raw" || fail "qemu-img compare: the qcow2 link read over HTTP vs the disk"
qsize=$(stat -c %s "$T/r.qcow2")
((qsize < 24 * MiB)) || fail "the qcow2 ($qsize bytes) carries the holes"
curl -sS "$Q" 2>/dev/null | head -c 3333333 >"$T/rq.qcow2" || true
curl -sSf -C - -o "$T/rq.qcow2" "$Q"
assert_file_eq "$T/r.qcow2" "$T/rq.qcow2" "qcow2 resumed"
grep -qi 'filename="r.qcow2"' <(curl -sSI "$Q") || fail "qcow2 Content-Disposition"

say "the qcow2 download uploaded back is an image of the same bytes"
upload back "$T/r.qcow2"
qemu-img compare -q "$P/back/disks/vda" "$T/disk.raw" || fail "uploaded download vs the disk"

say "an ISO image: link (iso), the download equals disks/cdrom"
mkdir -p "$T/isodir"
head -c 300000 /dev/urandom >"$T/isodir/blob.bin"
genisoimage -quiet -V DLTEST -R -o "$T/y.iso" "$T/isodir" 2>/dev/null
upload y "$T/y.iso" "$R/iso"
assert_errno EINVAL write "$R/iso/y/download" $'link qcow2\n'
echo "link 1h" >"$R/iso/y/download"
I=$(awk '$2 == "iso" { print $1 }' "$R/iso/y/download")
assert_match "$BASE/d/[0-9a-f]{64}/y\\.iso" "$I" "the ISO's URL"
curl -sSf -o "$T/y.dl" "$I"
assert_file_eq "$T/y.iso" "$T/y.dl" "iso download"

say "keep-alive: two requests on one connection"
curl -sv -r 0-9 -o /dev/null "$U" -o /dev/null "$U" 2>"$T/ka.err"
grep -q 'Re-using existing connection' "$T/ka.err" || { cat "$T/ka.err" >&2; fail "the connection was not kept"; }

say "HTTPS: imgfs serve --tls-cert/--tls-key, curl and wget -c verify the certificate"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
TPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$IMGFS" serve --state "$S" --listen "127.0.0.1:$TPORT" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
    2>"$T/serve-tls.err" &
TLS_PID=$!
at_exit "kill $TLS_PID; wait $TLS_PID"
H="https://127.0.0.1:$TPORT${U#"$BASE"}"
wait_for 10 curl -s --cacert "$T/cert.pem" -o /dev/null "https://127.0.0.1:$TPORT/" ||
    { cat "$T/serve-tls.err" >&2; fail "imgfs serve (TLS) did not answer"; }
curl -sSf --cacert "$T/cert.pem" -o "$T/h.raw" "$H"
assert_file_eq "$T/disk.raw" "$T/h.raw" "https download"
mkdir "$T/hw"
head -c 777777 "$T/disk.raw" >"$T/hw/r.raw"
(cd "$T/hw" && wget -q -c --ca-certificate="$T/cert.pem" "$H")
assert_file_eq "$T/disk.raw" "$T/hw/r.raw" "wget -c over https"
assert_fails curl -sSf -o /dev/null "$H" # an unknown certificate is refused by the client
kill "$TLS_PID"

say "a 4-second link is 410 once expired; a tampered token 404"
echo "link 4s" >"$P/r/download"
X=$(sort -k3 "$P/r/download" | awk '$2 == "raw" { print $1; exit }')
assert_eq 200 "$(curl -sS -r 0-0 -o /dev/null -w '%{http_code}' "$X" | sed 's/206/200/')" "short link before expiry"
code() { curl -sS -o /dev/null -w '%{http_code}' "$1"; }
gone() { [[ "$(code "$X")" == 410 ]]; }
wait_until 10 gone || fail "the 4-second link is not 410 10 s on: $(code "$X")"
[[ "$(cat "$P/r/download")" != *"$X"* ]] || fail "an expired link is still listed"
tok=${U#"$BASE/d/"}; tok=${tok%%/*}
last=${tok: -1}; [[ $last == 0 ]] && flip=1 || flip=0
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/d/${tok%?}$flip/r.raw")" "tampered MAC"
first=${tok:0:1}; [[ $first == 0 ]] && flip=1 || flip=0
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/d/$flip${tok:1}/r.raw")" "tampered nonce"
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/d/nope/r.raw")" "no token"
assert_eq 405 "$(curl -sS -X POST -o /dev/null -w '%{http_code}' "$U")" "POST"

say "20 parallel downloads: the server's memory stays bounded"
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVE_PID/status"; }
rss0=$(rss)
pids=()
for i in $(seq 1 20); do
    curl -sSf -o "$T/par.$i" --limit-rate 8M "$U" &
    pids+=($!)
done
peak=$rss0
for ((n = 0; n < 600; n++)); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    r=$(rss); ((r > peak)) && peak=$r
    sleep 0.1
done
for p in "${pids[@]}"; do wait "$p" || fail "parallel download $p failed"; done
for i in $(seq 1 20); do cmp -s "$T/disk.raw" "$T/par.$i" || fail "parallel download $i differs"; done
say "  RSS ${rss0} KiB before, ${peak} KiB at most during"
((peak - rss0 < 96 * 1024)) || fail "RSS grew by $((peak - rss0)) KiB for 20 downloads"

say "revoke ends every link of the image at once"
echo revoke >"$P/r/download"
assert_eq "" "$(cat "$P/r/download")" "download after revoke"
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "$U")" "revoked link"

say "deleting the image ends its links at once (404), and a restore does not bring them back"
echo link >"$P/r/download"
U=$(awk '$2 == "raw" { print $1 }' "$P/r/download")
assert_eq 200 "$(curl -sS -r 0-0 -o /dev/null -w '%{http_code}' "$U" | sed 's/206/200/')" "before delete"
rmdir "$P/r"
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "$U")" "after delete"
mv "$R/recycle-bin/r" "$P/r"
assert_eq 404 "$(curl -sS -o /dev/null -w '%{http_code}' "$U")" "after restore"
assert_eq "" "$(cat "$P/r/download")" "no link after restore"

say "a corrupt chunk ends the response early, logged; never wrong bytes"
touch "$T/before-c"
sleep 1
python3 - "$T/c3.raw" <<'EOF'
import os, sys
d = bytearray(os.urandom(3 << 20))
d[0:512] = bytes(512)
d[0:2] = b"\xeb\x63"
d[510:512] = b"\x55\xaa"
open(sys.argv[1], "wb").write(d)
EOF
upload c "$T/c3.raw"
# The chunk file of the disk's second MiB (chunk files hold the bytes).
dd if="$T/c3.raw" of="$T/c3.chunk1" bs=1M skip=1 count=1 status=none
chunk=""
for f in $(find "$S/regions/cn-north-1/chunks" -type f -newer "$T/before-c"); do
    cmp -s "$f" "$T/c3.chunk1" && chunk=$f && break
done
[[ -n "$chunk" ]] || fail "no chunk file holds the second MiB of private/c"
chmod u+w "$chunk"
printf '\xff\xfe' | dd of="$chunk" bs=1 seek=1000 conv=notrunc status=none
echo link >"$P/c/download"
C=$(awk '$2 == "raw" { print $1 }' "$P/c/download")
: >"$T/c.dl"
if curl -sS -o "$T/c.dl" "$C" 2>/dev/null; then fail "download of a corrupt blob succeeded"; fi
assert_eq "$MiB" "$(stat -c %s "$T/c.dl")" "the corrupt download ends at the bad chunk"
cmp -s "$T/c.dl" <(head -c "$MiB" "$T/c3.raw") || fail "bytes before the bad chunk differ"
wait_for 5 grep -q 'ended early.*verification' "$T/serve.log" || fail "no log line for the corrupt chunk"

say "the log: one line per download with image, format, range, bytes, client, status"
id=$(cat "$P/r/id")
grep -qE "GET $id raw range - bytes $((24 * MiB)) checks 0 client 127\\.0\\.0\\.1:[0-9]+ status 200 complete" "$T/serve.log" ||
    fail "no log line of a whole raw download"
grep -qE "GET $id raw range 5242000-5243999 bytes 2000 checks [0-9]+ client 127\\.0\\.0\\.1:[0-9]+ status 206" "$T/serve.log" ||
    fail "no log line of a ranged download"
grep -qE "GET $id raw range - bytes 0 checks [0-9]+ client .* status 410" "$T/serve.log" || fail "no log line of the 410"
grep -qE "GET - - range - bytes 0 checks [0-9]+ client .* status 404" "$T/serve.log" || fail "no log line of a 404"

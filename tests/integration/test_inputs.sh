#!/usr/bin/env bash
# Issue 23, inputs that hurt (SPEC §5.2, §5.3, §9, §12), through the mount
# as a user meets them:
#   - QCOW2 files qemu makes and opens are still accepted and decode to
#     qemu's bytes (internal snapshots, extended L2 with partly written
#     clusters), while headers qemu refuses (refcount_order 7, a refcount
#     table of 2^32-1 clusters or at 2^55, nb_snapshots 2^32-1) and a
#     compressed cluster that does not inflate end in `error` at close with
#     the field named, never `available`;
#   - an import from the SIIT form of 127.0.0.1 is refused as 127.0.0.1
#     is, and `import allow ::ffff:127.0.0.1` is the IPv4 rule (it opens
#     127.0.0.1, written either way) and says so;
#   - descriptions, tags and names refuse DEL, C1 controls and
#     bidirectional overrides and isolates with EINVAL, the reason naming
#     the character in `error` and the log, nothing stored; admin publish
#     refuses such a description before it stores a chunk.
# Loopback only: the SIIT address is refused before any connection.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

SERVE="$INTEGRATION_DIR/../servers/serve.py"
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
setup_mount
P="$R/private"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 20 >/dev/null
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 snapshots 20 >/dev/null

say "the files: a 16 MiB raw disk (an MBR, random and compressible data) as QCOW2, v3 and compressed"
F="$T/files"
mkdir -p "$F"
python3 - "$T/disk.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(16 << 20)
    f.write(b"\xeb\x63" + bytes(508) + b"\x55\xaa")
    f.seek(1 << 20); f.write(os.urandom(2 << 20))
    f.seek(9 << 20); f.write(b"imgfs-inputs-" * 50000)
EOF
qemu-img convert -f raw -O qcow2 "$T/disk.raw" "$F/disk.qcow2"
qemu-img convert -c -f raw -O qcow2 "$T/disk.raw" "$T/comp.qcow2"

# upload NAME FILE: cp FILE into private/NAME/disks/vda and wait; prints nothing.
upload() {
    mkdir "$P/$1"
    cp "$2" "$P/$1/disks/vda" || fail "cp $2 into $1 was refused at once: $(cat "$P/$1/error")"
    imgfs_wait "$P/$1" >/dev/null 2>&1 || true
}

say "qemu's own images are accepted and decode to qemu's bytes: internal snapshots, extended L2"
cp "$F/disk.qcow2" "$T/snap.qcow2"
qemu-img snapshot -c before "$T/snap.qcow2"
qemu-io -f qcow2 -c 'write -q -P 0x5a 4M 1M' -c 'write -q -z 10M 64k' "$T/snap.qcow2" >/dev/null
qemu-img snapshot -c after "$T/snap.qcow2"
qemu-img convert -f raw -O qcow2 -o extended_l2=on "$T/disk.raw" "$T/ext.qcow2"
# Partly written clusters: only some of their 32 subclusters allocated.
qemu-io -f qcow2 -c 'write -q -P 0x33 5M 3k' -c 'write -q -P 0x44 13M 1k' -c 'write -q -z 9M 4k' "$T/ext.qcow2" >/dev/null
for name in snap ext; do
    upload "$name" "$T/$name.qcow2"
    assert_eq available "$(status_of "$P/$name")" "$name/status ($(cat "$P/$name/error"))"
    assert_eq $((16 << 20)) "$(cat "$P/$name/size")" "$name/size"
    # A conversion decodes it: the new snapshot holds qemu's bytes.
    echo "$name-cloud" >"$P/$name/convert"
    imgfs_wait "$P/$name-cloud" >/dev/null 2>&1 || fail "converting $name: $(cat "$P/$name-cloud/error")"
    snap=$(devmap_ref "$P/$name-cloud" vda)
    qemu-img compare -q -f raw -F qcow2 "$R/snapshots/$snap/data" "$T/$name.qcow2" ||
        fail "$name: the converted disk differs from what qemu reads in $name.qcow2"
done

say "QCOW2 headers qemu refuses, and a corrupt compressed cluster, end in error with the field named"
# craft NAME EDIT...: a copy of disk.qcow2 (or comp.qcow2 for "compressed")
# with big-endian fields written at offsets: OFFSET:BYTES:VALUE ...
craft() {
    python3 - "$@" <<'EOF'
import struct, sys
src, dst, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
f = bytearray(open(src, "rb").read())
for e in edits:
    if e == "compressed":
        # The first compressed L2 entry's stream: overwritten with garbage.
        l1o = struct.unpack(">Q", f[40:48])[0]
        l2o = struct.unpack(">Q", f[l1o:l1o + 8])[0] & 0x00fffffffffffe00
        for j in range(0, 65536, 8):
            ent = struct.unpack(">Q", f[l2o + j:l2o + j + 8])[0]
            if ent >> 62 & 1:
                off = ent & ((1 << 54) - 1)
                f[off:off + 64] = b"\xa5" * 64
                break
        else:
            sys.exit("no compressed cluster")
        continue
    off, size, value = e.split(":")
    f[int(off):int(off) + int(size)] = int(value, 0).to_bytes(int(size), "big")
open(dst, "wb").write(f)
EOF
}
declare -A WHY=(
    [order]="qcow2: refcount_order 7 is above 6"
    [rtsize]="qcow2: refcount_table_clusters 4294967295 is above 128 (8 MiB of table)"
    [rtfar]="qcow2: refcount table (36028797018963968..36028797019029504) beyond the end of the file"
    [snaps]="qcow2: nb_snapshots 4294967295 is above 65536"
    [zbad]="qcow2: corrupt compressed cluster at"
)
craft "$F/disk.qcow2" "$T/order.qcow2" 96:4:7
craft "$F/disk.qcow2" "$T/rtsize.qcow2" 56:4:0xffffffff
craft "$F/disk.qcow2" "$T/rtfar.qcow2" 48:8:$((1 << 55))
craft "$F/disk.qcow2" "$T/snaps.qcow2" 60:4:0xffffffff
craft "$T/comp.qcow2" "$T/zbad.qcow2" compressed
for name in order rtsize rtfar snaps zbad; do
    upload "$name" "$T/$name.qcow2"
    assert_eq error "$(status_of "$P/$name")" "$name/status"
    why=$(cat "$P/$name/error")
    [[ $why == "${WHY[$name]}"* ]] || fail "$name/error: \"$why\", expected it to start with \"${WHY[$name]}\""
    assert_eq "" "$(entries "$P/$name/disks")" "$name/disks/ after the refusal"
    grep -qF "ended in error: ${WHY[$name]}" "$S/imgfs.log" || fail "no log line for $name: ${WHY[$name]}"
    echo "    $name: $why"
done

say "an import from the SIIT form of 127.0.0.1 (::ffff:0:7f00:1) is refused as 127.0.0.1 is"
# A port nobody listens on, chosen now: the address is refused before any
# connection is tried.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir "$P/siit"
echo "url http://[::ffff:0:7f00:1]:$port/disk.qcow2" >"$P/siit/source"
imgfs_wait "$P/siit" >/dev/null 2>&1 && fail "the import from [::ffff:0:7f00:1] succeeded"
assert_eq error "$(status_of "$P/siit")" "siit/status"
assert_match 'import failed: the address ::ffff:0:(7f00:1|127\.0\.0\.1) is not allowed for imports' \
    "$(cat "$P/siit/error")" "siit/error"

say "import allow ::ffff:127.0.0.1 is the IPv4 rule 127.0.0.1/32, says so, and opens 127.0.0.1 either way"
/usr/bin/python3 "$SERVE" http "$F" >"$T/serve.out" 2>"$T/serve.err" &
spid=$!
at_exit "kill $spid 2>/dev/null; wait $spid 2>/dev/null"
wait_for 30 grep -q '^PORT ' "$T/serve.out" || { cat "$T/serve.err" >&2; fail "the http server did not start"; }
port=$(awk '$1 == "PORT" { print $2 }' "$T/serve.out")
out=$(imgfs_admin "$S" import allow ::ffff:127.0.0.1)
assert_eq "::ffff:127.0.0.1 is an IPv4-mapped address (::ffff:0:0/96), judged as the IPv4 address it holds: the rule is 127.0.0.1/32" \
    "$out" "import allow's output"
assert_eq "allow 127.0.0.1/32" "$(imgfs_admin "$S" import rules)" "import rules"
i=0
for host in '[::ffff:127.0.0.1]' 127.0.0.1; do
    i=$((i + 1)) name=mapped$i
    mkdir "$P/$name"
    echo "url http://$host:$port/disk.qcow2" >"$P/$name/source"
    imgfs_wait "$P/$name" >/dev/null 2>&1 || fail "the import from $host: $(cat "$P/$name/error")"
    assert_file_eq "$F/disk.qcow2" "$P/$name/disks/vda" "$name/disks/vda"
done
assert_fails imgfs_admin "$S" import allow 2002::/16
grep -qF "write 0.0.0.0/0 if that is meant" "$T/assert_fails.out" || fail "import allow 2002::/16: $(cat "$T/assert_fails.out")"
imgfs_admin "$S" import remove ::ffff:127.0.0.1
assert_eq "" "$(imgfs_admin "$S" import rules)" "import rules after the removal"

say "descriptions and tags refuse DEL, C1 controls and bidirectional overrides: EINVAL, the character named"
mkdir "$P/val"
echo "kept" >"$P/val/description"
echo "env=prod" >"$P/val/tags"
rlo=$'\u202e' lri=$'\u2066' csi=$'\u009b' del=$'\x7f'
declare -A BAD=(
    ["invoice ${rlo}fdp.exe"]="a description cannot hold U+202E (RIGHT-TO-LEFT OVERRIDE), at character 9"
    ["${lri}x"]="a description cannot hold U+2066 (LEFT-TO-RIGHT ISOLATE), at character 1"
    ["red ${csi}31m"]="a description cannot hold U+009B (a C1 control character), at character 5"
    ["rub${del}out"]="a description cannot hold U+007F (DELETE), at character 4"
)
for v in "${!BAD[@]}"; do
    assert_errno EINVAL write "$P/val/description" "$v"$'\n'
    assert_eq "${BAD[$v]}" "$(cat "$P/val/error")" "val/error after writing $(printf %q "$v")"
    assert_eq kept "$(cat "$P/val/description")" "val/description after a refusal"
done
assert_logged write "$P/val/description" EINVAL
grep -qF 'a description cannot hold U+202E (RIGHT-TO-LEFT OVERRIDE), at character 9' "$S/imgfs.log" ||
    fail "the log lacks the reason naming U+202E"
assert_errno EINVAL write "$P/val/tags" "owner=${rlo}eve"$'\n'
assert_eq "tags cannot hold U+202E (RIGHT-TO-LEFT OVERRIDE), at character 7" "$(cat "$P/val/error")" "val/error (tags)"
assert_eq env=prod "$(cat "$P/val/tags")" "val/tags after a refusal"
# Right-to-left text with its marks stays allowed.
arabic=$'\u0639\u0631\u0628\u064a \u200f(1)'
echo "$arabic" >"$P/val/description"
assert_eq "$arabic" "$(cat "$P/val/description")" "val/description: Arabic with RIGHT-TO-LEFT MARK"
grep -q $'[\u202e\u2066\u009b\x7f]' "$R/images.csv" && fail "images.csv holds a refused character"

say "names refuse them too"
assert_errno EINVAL mkdir "$P/ab${rlo}cd"
grep -F "mkdir " "$S/imgfs.log" | grep -qF "EINVAL a name cannot hold U+202E (RIGHT-TO-LEFT OVERRIDE), at character 3" ||
    fail "no log line for the mkdir naming U+202E"
assert_errno EINVAL rename "$P/val" "$P/v${lri}al"
[[ -d $P/val ]] || fail "val was renamed"

say "admin publish refuses such a description before it stores a chunk"
chunks() { find "$S/regions/cn-north-1" -type f | wc -l; }
before=$(chunks)
assert_fails imgfs_admin "$S" publish public cn-north-1 evil "$T/disk.raw" --description "x${rlo}y"
assert_eq "imgfs admin: --description: EINVAL a description cannot hold U+202E (RIGHT-TO-LEFT OVERRIDE), at character 2" \
    "$(cat "$T/assert_fails.out")" "publish's refusal"
assert_eq "$before" "$(chunks)" "files in the region's store after the refused publish"
[[ -e $R/public/evil ]] && fail "public/evil exists"
echo "    refused, nothing stored"

#!/usr/bin/env bash
# SPEC §5.2 (URL import), §2.1 (source, cancel, progress, task), §4, §9,
# §11: writing "url <URL>" to `source` of a queued image imports it from
# real servers on 127.0.0.1 (tests/servers/serve.py): a QCOW2 over http
# and over https (the test CA named by SSL_CERT_FILE in the daemon's
# environment), ftp with user:password (the password shown as *** in
# `source`), an ISO into iso/; https without the CA, 404, a reset, a short
# body and a stall end in error with the reason; file://, gopher:// and a
# bare "url" are EINVAL at the write with the image still queued; cancel
# stops a slow import; a remount in the middle of one resumes it and the
# bytes come out exact; a file replaced on the server during such a remount
# comes whole, the new version, never the old start spliced to the new end.
# While an import runs its disk cannot be opened (EBUSY).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v genisoimage >/dev/null || fail "genisoimage is missing (scripts/install-deps installs it)"
SERVE="$INTEGRATION_DIR/../servers/serve.py"
# The servers are local: no proxy in between (the daemon inherits this).
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
MiB=1048576

# ---- servers ------------------------------------------------------------------
declare -a SERVER_PIDS=()
kill_servers() {
    local p
    for p in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
    for p in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do wait "$p" 2>/dev/null; done
    return 0
}
# The servers go before lib.sh's cleanup, which keeps the exit status.
on_exit() {
    local rc=$?
    set +e # errexit would end this handler at (exit 1): no cleanup after a failure
    kill_servers
    (exit "$rc")
    _cleanup
}
trap on_exit EXIT

# serve NAME MODE [ARGS...]: starts a server; sets PORT[NAME] (and, for
# https, CA_FILE).
declare -A PORT=()
serve() {
    local name=$1 out="$T/serve.$1"; shift
    /usr/bin/python3 "$SERVE" "$@" >"$out" 2>"$out.err" &
    SERVER_PIDS+=($!)
    wait_for 30 grep -q '^PORT ' "$out" || { cat "$out.err" >&2; fail "server $name ($*) did not start"; }
    PORT[$name]=$(awk '$1 == "PORT" { print $2 }' "$out")
    if grep -q '^CA ' "$out"; then CA_FILE=$(awk '$1 == "CA" { print $2 }' "$out"); fi
}

say "the files: a 64 MiB raw disk with an MBR as QCOW2, an ISO 9660 image, a 12 MiB raw disk"
F="$T/files"
mkdir -p "$F"
python3 - "$T/disk.raw" "$F/big.raw" <<'EOF'
import os, sys
def disk(path, size, data):
    with open(path, "wb") as f:
        f.truncate(size)
        mbr = bytearray(512)
        mbr[0:2] = b"\xeb\x63"
        mbr[3:30] = b"imgfs import test disk    "
        mbr[510:512] = b"\x55\xaa"
        f.seek(0); f.write(mbr)
        for off, blob in data:
            f.seek(off); f.write(blob)
disk(sys.argv[1], 64 << 20, [(5 << 20, os.urandom(3 << 20)), (40 << 20, b"imgfs-pattern-" * 10000)])
disk(sys.argv[2], 12 << 20, [(1 << 20, os.urandom(11 << 20))])
EOF
qemu-img convert -f raw -O qcow2 "$T/disk.raw" "$F/disk.qcow2"
mkdir -p "$T/isodir"
echo "hello from the imported ISO" >"$T/isodir/README.TXT"
head -c 300000 /dev/urandom >"$T/isodir/blob.bin"
genisoimage -quiet -V IMGFSIMPORT -R -o "$F/y.iso" "$T/isodir" 2>/dev/null

say "servers on 127.0.0.1: http, https, ftp, slow, 404, reset, short, stall"
serve http http "$F"
serve https https "$F"
serve ftp ftp "$F" --user imgfs --password 's3cret-pw'
serve slow slow "$F"
serve e404 404
serve reset reset "$F"
serve short short "$F"
serve stall stall
[[ -s "${CA_FILE:-}" ]] || fail "the https server printed no CA file"

# The daemon trusts the test CA through OpenSSL's SSL_CERT_FILE; stalls
# fail after 3 s instead of 60 (IMGFS_IMPORT_STALL_TIMEOUT, docs/reference.md §5.2).
export IMGFS_IMPORT_STALL_TIMEOUT=3
SSL_CERT_FILE=$CA_FILE setup_mount
P="$R/private"
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 20 >/dev/null

# import DIR URL: writes the source and waits until the import ends.
import_ok() {
    local img=$1 url=$2
    echo "url $url" >"$img/source" || fail "writing url $url to $img/source was refused: $(cat "$img/error")"
    imgfs_wait "$img" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait $img ($url)"; }
    assert_eq available "$(status_of "$img")" "$img/status"
    assert_eq 100 "$(cat "$img/progress")" "$img/progress"
    assert_eq "" "$(cat "$img/error")" "$img/error"
    assert_eq "" "$(cat "$img/task")" "$img/task once available"
    # §2.1: its sha256 is the served file's (hashed as it came, or, after a
    # resume, read once by the background checksum pass).
    hashed "$img"
    local file="$F/${url##*/}"
    if [[ -f "$file" ]]; then
        assert_eq "$(sha256sum <"$file" | cut -d' ' -f1)" "$(cat "$img/sha256")" "$img/sha256"
    else
        assert_match '[0-9a-f]{64}' "$(cat "$img/sha256")" "$img/sha256"
    fi
}

check_qcow2() { # DIR
    assert_eq qcow2 "$(cat "$1/format")" "$1/format"
    assert_eq $((64 * MiB)) "$(cat "$1/size")" "$1/size: the virtual size"
    assert_eq local "$(cat "$1/type")" "$1/type"
    assert_file_eq "$F/disk.qcow2" "$1/disks/vda" "$1/disks/vda: the file byte for byte"
    qemu-img compare -q "$T/disk.raw" "$1/disks/vda" || fail "qemu-img compare: $1/disks/vda is not the raw disk"
}

import_fails() { # DIR URL REGEX
    local img=$1 url=$2
    echo "url $url" >"$img/source" || fail "writing url $url to $img/source was refused: $(cat "$img/error")"
    if imgfs_wait "$img" >"$T/wait.out" 2>&1; then fail "imgfs wait $img ($url) reported success"; fi
    assert_eq error "$(status_of "$img")" "$img/status"
    assert_match "$3" "$(cat "$img/error")" "$img/error"
    assert_eq "" "$(entries "$img/disks")" "$img/disks/ after the failure"
    assert_eq "" "$(cat "$img/task")" "$img/task after the failure"
}

say "by default an import reaches no loopback address: by IP, by name, in hex, open port or closed (§5.2)"
u="http://127.0.0.1:${PORT[http]}/disk.qcow2"
mkdir "$P/lo1" "$P/lo2" "$P/lo3" "$P/lo4" "$P/lo5"
import_fails "$P/lo1" "$u" '^import failed: the address 127\.0\.0\.1 is not allowed for imports$'
import_fails "$P/lo2" "http://localhost:${PORT[http]}/disk.qcow2" '^import failed: the address (127\.0\.0\.1|::1) is not allowed for imports$'
import_fails "$P/lo3" "http://0x7f000001:${PORT[http]}/disk.qcow2" '^import failed: the address 127\.0\.0\.1 is not allowed for imports$'
# Every other spelling of loopback is the address it resolves to.
i=0
for host in 2130706433 0177.0.0.1 127.1 0.0.0.0 '[::ffff:127.0.0.1]' '[::1]'; do
    i=$((i + 1))
    mkdir "$P/lospell$i"
    case $host in
    0.0.0.0) want='0\.0\.0\.0' ;;
    '[::ffff:127.0.0.1]') want='::ffff:127\.0\.0\.1' ;;
    '[::1]') want='::1' ;;
    *) want='127\.0\.0\.1' ;;
    esac
    import_fails "$P/lospell$i" "http://$host:${PORT[http]}/disk.qcow2" "^import failed: the address $want is not allowed for imports\$"
    rmdir "$P/lospell$i"
done
# A closed port says the same as an open one: no port scanning by reasons.
import_fails "$P/lo4" "http://127.0.0.1:1/disk.qcow2" '^import failed: the address 127\.0\.0\.1 is not allowed for imports$'
assert_eq "$(cat "$P/lo1/error")" "$(cat "$P/lo4/error")" "the reasons for an open and a closed port"
grep -q "the address 127.0.0.1 is not allowed for imports" "$S/imgfs.log" || fail "no log line for the refused import"

say "an allow rule opens one address; a redirect to another is judged again"
imgfs_admin "$S" import allow 127.0.0.1
assert_eq "allow 127.0.0.1/32" "$(imgfs_admin "$S" import rules)" "import rules"
import_fails "$P/lo5" "http://127.0.0.1:${PORT[http]}/goto?url=http://127.0.0.2:${PORT[http]}/disk.qcow2" \
    '^import failed: the address 127\.0\.0\.2 is not allowed for imports$'
# localhost may resolve to ::1 too: that address is refused, 127.0.0.1 used.
mkdir "$P/lo6"
import_ok "$P/lo6" "http://localhost:${PORT[http]}/disk.qcow2"
imgfs_admin "$S" import deny 127.0.0.0/8
imgfs_admin "$S" import allow 127.0.0.2/31
assert_eq "deny 127.0.0.0/8|allow 127.0.0.1/32|allow 127.0.0.2/31" "$(imgfs_admin "$S" import rules | paste -sd '|')" \
    "import rules, in CIDR order"
imgfs_admin "$S" import remove 127.0.0.0/8
imgfs_admin "$S" import remove 127.0.0.2/31
assert_fails imgfs_admin "$S" import allow 127.0.0.1/33
assert_fails imgfs_admin "$S" import allow localhost
assert_fails imgfs_admin "$S" import remove 10.0.0.0/8
assert_eq "allow 127.0.0.1/32" "$(imgfs_admin "$S" import rules)" "import rules after the removals"
rmdir "$P/lo1" "$P/lo2" "$P/lo3" "$P/lo4" "$P/lo5" "$P/lo6"

say "http: a QCOW2 becomes an available qcow2 image, qemu-img compare equal"
mkdir "$P/h"
import_ok "$P/h" "http://127.0.0.1:${PORT[http]}/disk.qcow2"
check_qcow2 "$P/h"
assert_eq "url http://127.0.0.1:${PORT[http]}/disk.qcow2" "$(cat "$P/h/source")" "h/source"
assert_errno EPERM write "$P/h/source" "url http://127.0.0.1:${PORT[http]}/disk.qcow2"

say "https with the test CA (SSL_CERT_FILE in the daemon's environment): available"
mkdir "$P/s"
import_ok "$P/s" "https://localhost:${PORT[https]}/disk.qcow2"
check_qcow2 "$P/s"

say "ftp with user:password: available; source shows *** for the password"
mkdir "$P/f"
import_ok "$P/f" "ftp://imgfs:s3cret-pw@127.0.0.1:${PORT[ftp]}/disk.qcow2"
check_qcow2 "$P/f"
assert_eq "url ftp://imgfs:***@127.0.0.1:${PORT[ftp]}/disk.qcow2" "$(cat "$P/f/source")" "f/source"
if grep -rqF 's3cret-pw' "$P/f" "$S/imgfs.log" 2>/dev/null; then fail "the ftp password shows in the tree or the log"; fi

say "an ISO into iso/y over http: available, format iso, the bytes"
mkdir "$R/iso/y"
import_ok "$R/iso/y" "http://127.0.0.1:${PORT[http]}/y.iso"
assert_eq iso "$(cat "$R/iso/y/format")" "y/format"
assert_eq "$(stat -c %s "$F/y.iso")" "$(cat "$R/iso/y/size")" "y/size"
assert_file_eq "$F/y.iso" "$R/iso/y/disks/cdrom" "y/disks/cdrom"

say "failures end in error with fetch's reason: 404, reset, short body, stall, a QCOW2 into iso/"
mkdir "$P/e404" "$P/reset" "$P/short" "$P/stall" "$R/iso/wrong"
import_fails "$P/e404" "http://127.0.0.1:${PORT[e404]}/disk.qcow2" '.*HTTP 404.*'
import_fails "$P/reset" "http://127.0.0.1:${PORT[reset]}/disk.qcow2" '.*reset.*'
import_fails "$P/short" "http://127.0.0.1:${PORT[short]}/disk.qcow2" '.*closed the connection after.*'
import_fails "$P/stall" "http://127.0.0.1:${PORT[stall]}/disk.qcow2" '.*stalled.*'
import_fails "$R/iso/wrong" "http://127.0.0.1:${PORT[http]}/disk.qcow2" '.*only ISO 9660 images go to iso/.*'
say "an image in error after an import can be removed"
rmdir "$P/e404"

say "refused at the write (EINVAL, the reason in error and the log, still queued): file://, gopher://, bare url"
mkdir "$P/bad"
for v in "url file:///etc/passwd" "url gopher://127.0.0.1/x" "url" "url http://a/ http://b/"; do
    assert_errno EINVAL write "$P/bad/source" "$v"
    assert_eq queued "$(status_of "$P/bad")" "bad/status after \"$v\""
    assert_ne "" "$(cat "$P/bad/error")" "bad/error after \"$v\""
done
assert_match '.*(scheme|http).*' "$(cat "$P/bad/error")" "bad/error names what is allowed"
assert_errno EINVAL write "$P/bad/source" "url file:///etc/passwd"
assert_match '.*(file|scheme).*' "$(cat "$P/bad/error")" "bad/error for file://"
assert_logged write "$P/bad/source" EINVAL
assert_eq "" "$(cat "$P/bad/source")" "bad/source unchanged"

say "while a slow import runs: uploading, task shows import, the disk cannot be opened (EBUSY)"
mkdir "$P/c"
echo "url http://127.0.0.1:${PORT[slow]}/big.raw" >"$P/c/source"
wait_for 60 grep -q '^op import' "$P/c/task" || fail "c/task never showed the import: $(cat "$P/c/task")"
assert_eq uploading "$(status_of "$P/c")" "c/status during the import"
wait_for 60 grep -q '^bytes-total 12582912$' "$P/c/task" || fail "c/task: no bytes-total: $(cat "$P/c/task")"
assert_errno EBUSY read "$P/c/disks/vda"
assert_errno EBUSY open "$P/c/disks/vda" wronly
assert_logged open "$P/c/disks/vda" EBUSY
say "cancel during the slow import: error, cancelled"
echo 1 >"$P/c/cancel"
assert_eq error "$(status_of "$P/c")" "c/status after cancel"
assert_eq cancelled "$(cat "$P/c/error")" "c/error after cancel"
assert_eq "" "$(entries "$P/c/disks")" "c/disks/ after cancel"

say "a remount in the middle of a slow import: it resumes and the bytes come out exact"
mkdir "$P/m"
echo "url http://127.0.0.1:${PORT[slow]}/big.raw" >"$P/m/source"
wait_for 60 awk '$1 == "bytes-done" && $2 > 1048576 { ok = 1 } END { exit !ok }' "$P/m/task" ||
    fail "m/task: no progress: $(cat "$P/m/task")"
umount_imgfs "$M"
SSL_CERT_FILE=$CA_FILE mount_imgfs "$S" "$M"
assert_match 'uploading|available' "$(status_of "$P/m")" "m/status after the remount"
imgfs_wait "$P/m" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait m after the remount"; }
assert_eq raw "$(cat "$P/m/format")" "m/format"
assert_file_eq "$F/big.raw" "$P/m/disks/vda" "m/disks/vda after the remount"
assert_eq "url http://127.0.0.1:${PORT[slow]}/big.raw" "$(cat "$P/m/source")" "m/source"

say "the file replaced on the server during a remount mid-import: the new file whole, never a splice"
# Version A is big.raw; B has the same size and shape with other bytes from
# the start (an MBR of its own), so A's first part spliced to B's rest
# would still look like a disk.
cp "$F/big.raw" "$F/chg.raw"
mkdir "$P/n"
echo "url http://127.0.0.1:${PORT[slow]}/chg.raw" >"$P/n/source"
wait_for 60 awk '$1 == "bytes-done" && $2 > 1048576 { ok = 1 } END { exit !ok }' "$P/n/task" ||
    fail "n/task: no progress: $(cat "$P/n/task")"
umount_imgfs "$M"
python3 - "$T/chg.new" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(12 << 20)
    mbr = bytearray(512)
    mbr[0:2] = b"\xeb\x63"
    mbr[3:30] = b"imgfs import test disk, B  "
    mbr[510:512] = b"\x55\xaa"
    f.write(mbr)
    f.seek(512 << 10)
    f.write(os.urandom((12 << 20) - (512 << 10)))
EOF
mv -f "$T/chg.new" "$F/chg.raw"
SSL_CERT_FILE=$CA_FILE mount_imgfs "$S" "$M"
imgfs_wait "$P/n" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait n after the remount"; }
assert_eq raw "$(cat "$P/n/format")" "n/format"
assert_file_eq "$F/chg.raw" "$P/n/disks/vda" "n/disks/vda: the new file, whole"

say "https without the test CA (a mount without SSL_CERT_FILE): error with a TLS reason"
S2="$T/state2" M2="$T/mnt2"
mount_imgfs "$S2" "$M2"
imgfs_admin "$S2" import allow 127.0.0.1
mkdir "$M2/regions/cn-north-1/private/t"
import_fails "$M2/regions/cn-north-1/private/t" "https://localhost:${PORT[https]}/disk.qcow2" '.*TLS.*'

say "fsck is clean"
umount_imgfs "$M2"
umount_imgfs "$M"
imgfs_admin "$S" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck of the state after the imports"; }
imgfs_admin "$S2" fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "fsck of the second state"; }

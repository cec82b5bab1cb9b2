#!/usr/bin/env bash
# SPEC §4, §5.3, §2.1 (`task`), §12 (/stats): an upload while its bytes
# arrive, counted, not timed.  A `cp` of a raw disk costs at most one
# WRITE request per MiB and /stats counts every byte of it into uploads
# (imgfs_upload_bytes_total), copying each at most twice on its way into
# the store (imgfs_copied_bytes_total); a QCOW2 written through a writer the test
# drives step by step shows `bytes-done` growing and `progress` above 0
# before its close, with `bytes-total` empty (its size is not known) and a
# `rate`; one whose size was given ahead (ftruncate) shows it as
# `bytes-total`; and each ends available, byte for byte the file.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v qemu-img >/dev/null || fail "qemu-img is missing (scripts/install-deps installs it)"
setup_mount
P="$R/private"
MiB=1048576
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 20 >/dev/null
writes() { stat_of "$M" imgfs_requests_total 'op="write"'; }
uploaded() { stat_of "$M" imgfs_upload_bytes_total; }
copied() { stat_of "$M" imgfs_copied_bytes_total; }

say "cp of a 48 MiB raw disk: one WRITE request per MiB at most, two copies of each byte, every byte counted"
python3 - "$T/disk.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    mbr = bytearray(os.urandom(48 << 20)); mbr[510:512] = b"\x55\xaa"
    f.write(mbr)
EOF
mkdir "$P/raw"
w0=$(writes) u0=$(uploaded) c0=$(copied)
cp "$T/disk.raw" "$P/raw/disks/vda"
w1=$(writes) u1=$(uploaded) c1=$(copied)
assert_eq "$((48 * MiB))" "$((u1 - u0))" "imgfs_upload_bytes_total after the cp"
((w1 - w0 <= 48)) || fail "$((w1 - w0)) WRITE requests for 48 MiB uploaded (at most 48: 1 MiB each)"
# One copy into the SHA-256 queue, one into a store lane's buffer.
((c1 - c0 <= 2 * (u1 - u0))) || fail "$((c1 - c0)) bytes copied for $((u1 - u0)) uploaded (at most 2 per byte)"
imgfs_wait "$P/raw" >/dev/null 2>&1 || fail "the raw upload: $(cat "$P/raw/error")"
cmp "$T/disk.raw" "$P/raw/disks/vda" || fail "the raw upload's bytes"

# writer SRC DST TRUNCATE: writes SRC into DST a step at a time, as told
# on its stdin ("write N": N MiB more; "close"), answering "ok" after each
# step, so that the test looks at the upload between steps, its file open.
cat >"$T/writer.py" <<'EOF'
import os, sys
src, dst, ahead = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
fd = os.open(dst, os.O_WRONLY | os.O_CREAT, 0o644)
if ahead:
    os.ftruncate(fd, os.path.getsize(src))
with open(src, "rb") as f:
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "write":
            for _ in range(int(cmd[1])):
                b = f.read(1 << 20)
                if b:
                    os.write(fd, b)
        else:
            os.close(fd)
        print("ok", flush=True)
        if cmd[0] == "close":
            break
EOF
head -c "$((300 * MiB))" /dev/urandom >"$T/data.raw"
qemu-img convert -f raw -O qcow2 "$T/data.raw" "$T/data.qcow2"
rm -f "$T/data.raw"
size=$(stat -c %s "$T/data.qcow2")
key() { awk -v k="$2" '$1 == k { print ($2 == "" ? "-" : $2) }' "$1/task"; }
step() { echo "$1" >&"${W[1]}"; read -r ok <&"${W[0]}"; assert_eq ok "$ok" "the writer's answer to $1"; }
grown() { local d; d=$(key "$1" bytes-done); [[ -n "$d" ]] && ((d > $2)); }

for ahead in 0 1; do
    img=$P/q$ahead
    mkdir "$img"
    say "a ${size}-byte QCOW2 written in steps (size given ahead: $ahead)"
    coproc W { python3 "$T/writer.py" "$T/data.qcow2" "$img/disks/vda" "$ahead"; }
    step "write 1"
    wait_for 30 grown "$img" 0 || fail "bytes-done after 1 MiB: $(cat "$img/task")"
    d1=$(key "$img" bytes-done)
    assert_eq uploading "$(status_of "$img")" "status while the file is open"
    if ((ahead)); then
        assert_eq "$size" "$(key "$img" bytes-total)" "bytes-total of a file whose size was given ahead"
    else
        assert_eq - "$(key "$img" bytes-total)" "bytes-total of a file of unknown size (empty)"
    fi
    # 256 MiB more: past the 64 MiB after which the task row is told again.
    step "write 256"
    wait_for 30 grown "$img" "$d1" || fail "bytes-done did not grow past $d1: $(cat "$img/task")"
    p=$(cat "$img/progress")
    ((p > 0 && p < 100)) || fail "progress $p while the file is open (1..99)"
    [[ "$(key "$img" rate)" =~ ^[0-9]+$ ]] || fail "no rate while bytes arrive: $(cat "$img/task")"
    assert_eq uploading "$(status_of "$img")" "status before the close"
    step "write 100"
    step close
    wait "$W_PID" 2>/dev/null || true
    imgfs_wait "$img" >/dev/null 2>&1 || fail "the upload: $(cat "$img/error")"
    cmp "$T/data.qcow2" "$img/disks/vda" || fail "the QCOW2 upload's bytes"
done

say "a write answered before its bytes were stored, then the store full: the next write and close(2) fail, error"
# A region whose store is a 1 GiB tmpfs, filled up to 20 MiB before a
# 48 MiB upload: ENOSPC once the answered bytes are stored (SPEC §11: an
# upload's bytes are promised at close, so close(2) must say so).
mkdir -p "$T/small"
mount -t tmpfs -o size=1g tmpfs "$T/small" || fail "mounting a tmpfs for the full store"
at_exit "umount -l '$T/small'"
"$IMGFS" admin init "$T/state2" >/dev/null 2>&1 || fail "imgfs admin init"
"$IMGFS" admin region add tiny --state "$T/state2" --store "dir:$T/small" >/dev/null || fail "region add tiny"
free_kib=$(df -Pk "$T/small" | awk 'NR == 2 {print $4}')
head -c "$(((free_kib - 20 * 1024) * 1024))" /dev/zero >"$T/small/filler" || fail "filling the store"
mount_imgfs "$T/state2" "$T/mnt2"
big=$T/mnt2/regions/tiny/private/big
mkdir "$big"
if cp "$T/disk.raw" "$big/disks/vda" 2>"$T/cp.err"; then fail "cp into a full store succeeded"; fi
grep -q 'No space left on device' "$T/cp.err" || fail "cp's errors: $(cat "$T/cp.err")"
wait_for 30 grep -qx error "$big/status" || fail "status after the failed upload: $(cat "$big/status")"
assert_eq "upload failed: storing the file: No space left on device" "$(cat "$big/error")" "the failed upload's error"
grep -q "imgfs: write /regions/tiny/private/big/disks/vda: ENOSPC storing the file: " "$T/state2/imgfs.log" ||
    fail "no log line for the write whose bytes could not be stored"

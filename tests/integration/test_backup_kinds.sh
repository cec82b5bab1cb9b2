#!/usr/bin/env bash
# SPEC §2, §2.3: backups stay incremental for every kind of image.  borg
# drops from its files cache every file whose ctime is the newest it saw
# in a run (its guard against changes within one timestamp tick), and
# reads those files again the next time: an image's disk must never carry
# its directory's newest ctime, or every backup re-reads the whole disk.
# For an uploaded image, a URL-imported one, a converted one and a copy
# in another region, and the snapshots of the last two: a second `borg
# create` of each, run after a remount with every chunk of the store made
# unreadable, reads no blob.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v borg >/dev/null || fail "borg is not installed (scripts/install-deps)"
SERVE="$INTEGRATION_DIR/../servers/serve.py"
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY

setup_mount
P="$R/private"
R2="$M/regions/cn-east-2"

say "a 24 MiB raw disk with an MBR and data in two extents, served over http on 127.0.0.1"
mkdir "$T/files"
python3 - "$T/files/disk.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(24 << 20)
    mbr = bytearray(512)
    mbr[446 + 4] = 0x83
    mbr[510:512] = b"\x55\xaa"
    f.write(mbr)
    f.seek(1 << 20); f.write(os.urandom(3 << 20))
    f.seek(17 << 20); f.write(os.urandom(2 << 20))
EOF
/usr/bin/python3 "$SERVE" http "$T/files" >"$T/serve.out" 2>"$T/serve.err" &
server=$!
at_exit "kill $server"
wait_for 30 grep -q '^PORT ' "$T/serve.out" || { cat "$T/serve.err" >&2; fail "the http server did not start"; }
port=$(awk '$1 == "PORT" { print $2 }' "$T/serve.out")
# Imports from loopback need the admin's rule where imports are checked
# against an address policy (SPEC §5.2); a build without one has no such
# command and imports from anywhere.
imgfs_admin "$S" import allow 127.0.0.1/32 >/dev/null 2>&1 || true

say "uploaded (cp), imported (url), converted, and copied to cn-east-2"
mkdir "$P/up" "$P/url"
cp "$T/files/disk.raw" "$P/up/disks/vda"
imgfs_admin "$S" import allow 127.0.0.1 # imports reach no loopback by default (§5.2)
echo "url http://127.0.0.1:$port/disk.raw" >"$P/url/source"
imgfs_wait "$P/up" "$P/url" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait up url"; }
echo >"$P/up/convert"
imgfs_wait "$P/up-cloud" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait up-cloud"; }
mkdir "$P/up-cloud/copies/cn-east-2"
imgfs_wait "$R2/private/up-cloud" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait the copy"; }
snap=$(devmap_ref "$P/up-cloud" vda)
snap2=$(devmap_ref "$R2/private/up-cloud" vda)
DIRS=("$P/up" "$P/url" "$P/up-cloud" "$R/snapshots/$snap" "$R2/private/up-cloud" "$R2/snapshots/$snap2")

# The disk of each must not be the newest ctime among its directory's files.
for d in "${DIRS[@]}"; do
    python3 - "$d" <<'EOF' || fail "the disk of $d carries its directory's newest ctime"
import os, sys
d = sys.argv[1]
files = {}
for root, dirs, names in os.walk(d):
    for n in names:
        p = os.path.join(root, n)
        files[os.path.relpath(p, d)] = os.stat(p).st_ctime_ns
disk = [k for k in files if k.startswith("disks/") or k == "data"]
newest = max(files.values())
bad = [k for k in disk if files[k] >= newest]
if bad:
    sys.exit("%s: ctime %d is the newest (%s)" % (d, newest, ", ".join(bad)))
EOF
done

say "borg create of each, then a remount with every chunk made unreadable"
export BORG_REPO=$T/borg BORG_PASSPHRASE="" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_BASE_DIR=$T/borg-home
borg init -e none
# One archive per image, as one backs up one image: borg's newest ctime is
# then the newest of that directory.
for i in "${!DIRS[@]}"; do
    borg create --sparse --exclude "${DIRS[$i]}/files" "::first-$i" "${DIRS[$i]}" || fail "borg create of ${DIRS[$i]} failed"
done
remount_imgfs "$S" "$M"
n=0
for region in cn-north-1 cn-east-2; do
    while IFS= read -r -d '' f; do
        chmod u+w "$f"
        printf '\xff' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
        n=$((n + 1))
    done < <(find "$S/regions/$region/chunks" -type f -print0)
done
((n > 0)) || fail "no chunk files found"
assert_errno EIO read "$P/up/disks/vda"

say "second borg create: no disk read (exit 0 despite the unreadable chunks)"
for i in "${!DIRS[@]}"; do
    borg create --list --filter=AME --exclude "${DIRS[$i]}/files" "::second-$i" "${DIRS[$i]}" >"$T/borg2.out" 2>&1 ||
        { cat "$T/borg2.out" >&2; fail "second borg create of ${DIRS[$i]} failed (did it read a blob?)"; }
    if grep -qE '/disks/|/data$' "$T/borg2.out"; then
        cat "$T/borg2.out" >&2
        fail "second borg create of ${DIRS[$i]} re-read a blob"
    fi
done

#!/usr/bin/env bash
# SPEC §20: inspection never cuts its answer without a word (issue 67).
#   big  an ext4 root (mke2fs -d) whose dpkg status holds 65,537 installed
#        packages (2.6 MiB of package lines: the helper's answer is sent in
#        parts; it used to stop at 1 MiB, silently), an /etc/hostname, and
#        an /etc/fstab of 200 lines on no disk of the image with a NUL
#        byte in one more line: 65,536 packages are listed and the note
#        names the bound; every fstab line and its warning are there, the
#        no-cloud-init warning after them (a fixed 64 lines cut them); the
#        NUL line is ignored as mount ignores it, said in a note, and the
#        lines after it are read.
#   win  an NTFS root (mkntfs, filled through ntfs-3g's mount: fixture
#        building only) with a SOFTWARE hive holding applications and a
#        SYSTEM hive holding the host name (make-hive, hivexregedit
#        --merge): `hostname`, and the applications in `packages`, each
#        compared with what libhivex reads back from the same hives
#        (hivexregedit --export: the Uninstall keys' DisplayName and
#        DisplayVersion, the host name of the set Select\Current names).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in sfdisk mke2fs mkntfs ntfs-3g hivexregedit jq findmnt; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs fdisk, e2fsprogs, ntfs-3g," \
        "libhivex-bin, jq, util-linux)"
done

setup_mount ""
P="$R/private"
MiB=1048576
inspected() { grep -qE '^status: (done|failed)$' "$1/inspection"; }
upload() {
    mkdir "$P/$1"
    cp "$2" "$P/$1/disks/vda"
    imgfs_wait --timeout 120 "$P/$1" >/dev/null || { cat "$P/$1/error" >&2; fail "imgfs wait private/$1"; }
    wait_for 60 inspected "$P/$1" || { cat "$P/$1/inspection" >&2; fail "private/$1 was not inspected"; }
}
line() { grep -E "^$2: " "$P/$1/inspection" | sed "s/^$2: //"; }
# disk ROOTIMG RAW TYPE: the file system ROOTIMG in partition 1 of an MBR disk.
disk() {
    local size
    size=$(stat -c %s "$1")
    truncate -s $((size + 2 * MiB)) "$2"
    echo "start=2048, type=$3" | sfdisk -q "$2"
    dd if="$1" of="$2" bs=1M seek=1 conv=notrunc status=none
}

say "big: 65,537 packages in dpkg's status, an fstab of 200 lines and a NUL, a host name"
root="$T/big"
mkdir -p "$root/etc" "$root/var/lib/dpkg"
printf 'ID=debian\nVERSION_ID="12"\nNAME="Debian GNU/Linux"\n' >"$root/etc/os-release"
printf '# set by the installer\nbounds-guest\n' >"$root/etc/hostname"
awk 'BEGIN { for (i = 1; i <= 65537; i++)
    printf "Package: package-name-%05d\nStatus: install ok installed\nVersion: 1.2.3-4+deb12u%d\nArchitecture: amd64\n\n", i, i }' \
    >"$root/var/lib/dpkg/status"
awk 'BEGIN { for (i = 1; i <= 65536; i++) printf "package-name-%05d 1.2.3-4+deb12u%d amd64\n", i, i }' |
    LC_ALL=C sort >"$T/big.want"
{
    echo "UUID=6f1e6b3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b / ext4 errors=remount-ro 0 1"
    printf '/dev/vdb1 /nul\0ed ext4 defaults 0 2\n'
    for i in $(seq 1 200); do echo "UUID=00000000-0000-4000-8000-$(printf %012d "$i") /data$i ext4 defaults 0 2"; done
} >"$root/etc/fstab"
# mount's own reading of it: the NUL line a parse error, ignored, the rest read.
assert_eq 201 "$(findmnt --tab-file "$root/etc/fstab" -n -o TARGET 2>/dev/null | wc -l)" "findmnt: the lines mount reads"
mke2fs -q -F -t ext4 -U 6f1e6b3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b -d "$root" "$T/big.img" 24M >/dev/null || fail "mke2fs -d"
disk "$T/big.img" "$T/big.raw" 83
upload big "$T/big.raw"

say "big: 65,536 packages listed whole, the note names the bound"
assert_eq "65536 dpkg" "$(line big packages)" "big: the packages line"
assert_eq 65536 "$(wc -l <"$P/big/packages")" "big: lines of packages"
diff "$T/big.want" <(LC_ALL=C sort "$P/big/packages") >/dev/null || fail "big: packages are not the first 65,536"
line big note >"$T/big.notes"
grep -qxF "vda1: more than 65536 packages: 65536 are listed (in the database's order), the rest are not" "$T/big.notes" ||
    { cat "$T/big.notes" >&2; fail "big: no note naming the 65,536 bound"; }
assert_eq 65536 "$(jq .packages "$P/big/inspection.json")" "big: inspection.json's packages"
assert_eq dpkg "$(jq -r '.["package-database"]' "$P/big/inspection.json")" "big: inspection.json's database"

say "big: every fstab line and its warning; the NUL line said and ignored; the host name"
assert_eq 201 "$(line big fstab | wc -l)" "big: fstab lines (the NUL line not among them)"
assert_eq "3 UUID=00000000-0000-4000-8000-000000000001 /data1 ext4 defaults 0 2" "$(line big fstab | sed -n 2p)" \
    "big: the line after the NUL is read, numbered as in the file"
line big warning >"$T/big.warnings"
assert_eq 200 "$(grep -c '^fstab line ' "$T/big.warnings")" "big: a warning for each of the 200 lines"
grep -qxF "fstab line 202 mounts UUID=00000000-0000-4000-8000-000000000200 on /data200 without nofail, and no disk of this image holds it: an instance made from it may not start (seed 001: remove the line or add nofail before capturing)" \
    "$T/big.warnings" || fail "big: the last line's warning"
grep -q '^no cloud-init installed: ' "$T/big.warnings" || fail "big: the no-cloud-init warning after the 200"
grep -qxF "vda1: /etc/fstab has 1 line holding a NUL byte (the first: line 2): mount ignores such a line (a parse error), and so does this inspection" \
    "$T/big.notes" || { cat "$T/big.notes" >&2; fail "big: the NUL note"; }
assert_eq 201 "$(jq '.warnings | length' "$P/big/inspection.json")" "big: inspection.json's warnings"
assert_eq "bounds-guest" "$(line big hostname)" "big: hostname"
assert_eq "bounds-guest" "$(jq -r .hostname "$P/big/inspection.json")" "big: inspection.json's hostname"

say "win: applications from the SOFTWARE hive, the computer name from SYSTEM (hivexregedit --merge)"
python3 "$INTEGRATION_DIR/make-hive" "$T/SOFTWARE"
python3 "$INTEGRATION_DIR/make-hive" "$T/SYSTEM"
U='HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall'
cat >"$T/software.reg" <<EOF
Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"ProductName"="Windows Server 2022 Datacenter"
"CurrentBuild"="20348"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion]

[$U]

[$U\7-Zip]
"DisplayName"="7-Zip 23.01 (x64)"
"DisplayVersion"="23.01"

[$U\{4A03706F-666A-4037-7777-5F2748764D10}]
"DisplayName"="Cloudbase-Init 1.1.4"
"DisplayVersion"="1.1.4.0"

[$U\KB5005112]
"SystemComponent"=dword:00000001

[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node]

[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft]

[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows]

[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion]

[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall]

[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\Notepad++]
"DisplayName"="Notepad++ (32-bit x86)"
"DisplayVersion"="8.6"
EOF
hivexregedit --merge --prefix 'HKEY_LOCAL_MACHINE\SOFTWARE' "$T/SOFTWARE" "$T/software.reg" || fail "hivexregedit SOFTWARE"
cat >"$T/system.reg" <<'EOF'
Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SYSTEM\Select]
"Current"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ComputerName]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ComputerName\ComputerName]
"ComputerName"="WIN-BOUNDS"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip]

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Tcpip\Parameters]
"Hostname"="win-bounds-01"
EOF
hivexregedit --merge --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' "$T/SYSTEM" "$T/system.reg" || fail "hivexregedit SYSTEM"
python3 -c 'import struct, sys
pe = bytearray(512); pe[0:2] = b"MZ"; struct.pack_into("<I", pe, 0x3c, 0x80)
pe[0x80:0x86] = b"PE\0\0" + struct.pack("<H", 0x8664); open(sys.argv[1], "wb").write(pe)' "$T/ntoskrnl.exe"
truncate -s $((16 * MiB)) "$T/win.img"
mkntfs -F -Q -s 512 "$T/win.img" >/dev/null 2>&1 || fail "mkntfs"
mkdir -p "$T/ntfsmnt"
ntfs-3g "$T/win.img" "$T/ntfsmnt" || fail "ntfs-3g mount (fixture)"
mkdir -p "$T/ntfsmnt/Windows/System32/config"
cp "$T/SOFTWARE" "$T/SYSTEM" "$T/ntfsmnt/Windows/System32/config/"
cp "$T/ntoskrnl.exe" "$T/ntfsmnt/Windows/System32/"
umount "$T/ntfsmnt"
disk "$T/win.img" "$T/win.raw" 7
upload win "$T/win.raw"
# What libhivex reads back from the same hives (hivexregedit --export),
# as §20 lists it: each Uninstall subkey with a DisplayName, its version
# (blanks '_', none "(none)") and the architecture (WOW6432Node's i686).
export_of() { # HIVE PREFIX KEY: hivexregedit --export of KEY, strings as text
    hivexregedit --export --unsafe-printable-strings --prefix "$2" "$1" "$3" || fail "hivexregedit --export $3"
}
{
    export_of "$T/SOFTWARE" 'HKEY_LOCAL_MACHINE\SOFTWARE' '\Microsoft\Windows\CurrentVersion\Uninstall'
    export_of "$T/SOFTWARE" 'HKEY_LOCAL_MACHINE\SOFTWARE' '\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall'
} | python3 -c '
import re, sys
apps, key = {}, None
for line in sys.stdin.read().splitlines():
    m = re.match(r"^\[(.*\\Uninstall)\\([^\\]+)\]$", line)
    if m:
        key = (m.group(1), m.group(2)); apps[key] = {}; continue
    if line.startswith("["):
        key = None; continue
    m = re.match(r"^\"(\w+)\"=str\(1\):\"(.*)\"$", line)
    if key and m:
        apps[key][m.group(1)] = m.group(2)
for (parent, _), v in apps.items():
    if "DisplayName" in v:
        ver = v.get("DisplayVersion")
        ver = "(none)" if ver is None else ver.replace(" ", "_")
        print(v["DisplayName"], ver, "i686" if "WOW6432Node" in parent else "x86_64")
' | LC_ALL=C sort >"$T/win.want"
sel=$(export_of "$T/SYSTEM" 'HKEY_LOCAL_MACHINE\SYSTEM' '\Select' | sed -n 's/^"Current"=dword://p')
[[ -n $sel ]] || fail "win: no Select\\Current in the SYSTEM hive's export"
host=$(export_of "$T/SYSTEM" 'HKEY_LOCAL_MACHINE\SYSTEM' "\\ControlSet$(printf %03d $((16#$sel)))\\Services\\Tcpip\\Parameters" |
    sed -n 's/^"Hostname"=str(1):"\(.*\)"$/\1/p')
[[ -n $host ]] || fail "win: no Tcpip Hostname in the SYSTEM hive's export"
assert_eq "windows 2022 x86_64 $host" "$(line win platform) $(line win version) $(line win arch) $(line win hostname)" \
    "win: OS, version, arch, the host name (Tcpip's in hivexregedit --export's Select\\Current set)"
assert_eq 3 "$(wc -l <"$T/win.want")" "win: the applications hivexregedit --export shows"
assert_eq "3 registry" "$(line win packages)" "win: the packages line"
diff "$T/win.want" <(LC_ALL=C sort "$P/win/packages") >&2 || fail "win: the applications differ from hivexregedit --export's"
assert_eq "win-bounds-01 registry 3" "$(jq -r '[.hostname, .["package-database"], .packages] | join(" ")' \
    "$P/win/inspection.json")" "win: inspection.json"
assert_eq "" "$(line win note)" "win: no note"

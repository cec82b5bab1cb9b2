#!/usr/bin/env bash
# SPEC §16 (instances from ISO images, the administrator password), §2.4,
# §11: a machine boots from an ISO image through the mount.
#
#   - a tiny bootable ISO (an El Torito no-emulation boot sector that
#     prints a marker to COM1, made with genisoimage) is uploaded into
#     iso/<name> with cp and written to an instance's image: disks/cdrom is
#     the ISO byte for byte (by reference: no chunk stored), vda a blank
#     disk of system-disk-size, boot cdrom;
#   - qemu-system-x86_64 (TCG) boots disks/cdrom with disks/vda attached:
#     the marker on its serial port, within a bounded time;
#   - a password written makes disks/cidata: isoinfo reads volume id
#     cidata and the files user-data and meta-data (Joliet), the hash in
#     user-data is the password's (openssl passwd -6 with its salt), and
#     the guest's BIOS reads the volume id off disks/cidata attached as a
#     plain drive; `cloud-init schema` accepts user-data where cloud-init is
#     installed (it is not in scripts/install-deps: its package enables boot
#     services);
#   - the password, refused or taken, is in no log line (the mount runs
#     with -o debug), no file of the state directory and no row of the
#     database; the seed's bytes are the same on every read, after a
#     remount and after kill -9.
source "$(dirname "$0")/lib.sh"

for tool in qemu-system-x86_64 genisoimage isoinfo openssl python3 sqlite3; do
    command -v "$tool" >/dev/null || fail "$tool is needed (scripts/install-deps)"
done

setup_mount debug
I="$R/instances"
V="$I/vm1"
PW='S3cure-Pass!word'
# Refused passwords, each breaking one rule, each a string found nowhere else.
REFUSED=(refusedonlylowerxyz 'Sp ace9-Refused' 'Aa1!refused-far-too-long-0123456789')

say "a bootable ISO: a 512-byte boot sector as El Torito no-emulation image (genisoimage)"
# The boot sector, loaded at 0000:7C00 (GNU as, .code16):
#   start:  cli; xor %ax,%ax; mov %ax,%ds; mov %ax,%es; mov %ax,%ss
#           mov $0x7c00,%sp; sti
#           mov $hello,%si; call print          # "IMGFS-BOOT-OK\r\nSEED="
#           mov $0x42,%ah; mov $0x81,%dl        # int 13h extended read of the
#           mov $dap,%si; int $0x13; jc nodisk  #   second hard disk, LBA 64 (the
#           movb $0,0x8048                      #   ISO's sector 16) to 0x8000;
#           mov $0x8028,%si; call print         # its volume id (bytes 40..71)
#           jmp done
#   nodisk: mov $none,%si; call print           # "none"
#   done:   mov $crlf,%si; call print
#           mov $0x10,%al; out %al,$0xf4        # isa-debug-exit: qemu exits 33
#   halt:   hlt; jmp halt
#   print:  mov $0x3f8,%dx                      # COM1
#   1:      lodsb; test %al,%al; jz 2f; out %al,%dx; jmp 1b
#   2:      ret
#   dap:    .byte 16,0; .word 1; .word 0x8000,0; .quad 64
#   hello:  .asciz "IMGFS-BOOT-OK\r\nSEED="
#   none:   .asciz "none"
#   crlf:   .asciz "\r\n"
BOOT_HEX=fa31c08ed88ec08ed0bc007cfbbe5a7ce82b00b442b281be4a7ccd13720dc606488000be2880e81500eb06be6f7ce80d00
BOOT_HEX+=be747ce80700b010e6f4f4ebfdbaf803ac84c07403eeebf8c310000100008000004000000000000000494d4746532d
BOOT_HEX+=424f4f542d4f4b0d0a534545443d006e6f6e65000d0a00
mkdir "$T/isodir"
python3 -c 'import sys
code = bytes.fromhex(sys.argv[1])
sector = code + bytes(510 - len(code)) + b"\x55\xaa"
sys.stdout.buffer.write(sector + bytes(2048 - 512))' "$BOOT_HEX" >"$T/isodir/boot.img"
genisoimage -quiet -o "$T/boot.iso" -V IMGFSBOOT -b boot.img -no-emul-boot -boot-load-size 4 "$T/isodir" ||
    fail "genisoimage"

say "cp boot.iso iso/bootdisc/disks/cdrom: an available ISO image"
mkdir "$R/iso/bootdisc"
cp "$T/boot.iso" "$R/iso/bootdisc/disks/cdrom"
imgfs_wait "$R/iso/bootdisc" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" "$R/iso/bootdisc/error" >&2; fail "imgfs wait"; }
assert_eq available "$(status_of "$R/iso/bootdisc")" "iso/bootdisc/status"
iso_id=$(cat "$R/iso/bootdisc/id")

say "mkdir instances/vm1, system-disk-size 64M, image iso/bootdisc: cdrom by reference, vda blank, boot cdrom"
mkdir "$V"
assert_eq disk "$(cat "$V/boot")" "vm1/boot before"
echo 64M >"$V/system-disk-size"
chunks() { find "$S/regions/cn-north-1/chunks" -type f | wc -l; }
nchunks=$(chunks)
echo iso/bootdisc >"$V/image"
assert_eq "$iso_id" "$(cat "$V/image")" "vm1/image"
assert_eq cdrom "$(cat "$V/boot")" "vm1/boot"
assert_eq "cdrom vda" "$(entries "$V/disks")" "vm1/disks/"
assert_file_eq "$T/boot.iso" "$V/disks/cdrom" "vm1/disks/cdrom"
assert_eq "regular file 444 $(stat -c %s "$T/boot.iso")" "$(stat -c '%F %a %s' "$V/disks/cdrom")" "stat of cdrom"
assert_eq "67108864 0" "$(stat -c '%s %b' "$V/disks/vda")" "vda: 64 MiB, nothing stored"
assert_eq "$nchunks" "$(chunks)" "chunks in the store after the ISO went in (by reference)"
assert_eq vm1 "$(cat "$R/iso/bootdisc/instances")" "iso/bootdisc/instances"

# boots NAME EXTRA...: qemu boots vm1's cdrom with vda (and EXTRA drives),
# bounded by timeout; the boot sector's serial output into $T/NAME.serial.
boots() {
    local name=$1 rc=0; shift
    timeout 120 qemu-system-x86_64 -machine pc,accel=tcg -m 32 -nodefaults -display none -no-reboot \
        -serial "file:$T/$name.serial" -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        -drive "file=$V/disks/vda,format=raw,if=ide,index=0" \
        -drive "file=$V/disks/cdrom,format=raw,if=ide,index=2,media=cdrom,readonly=on" \
        "$@" -boot order=d >"$T/$name.qemu" 2>&1 || rc=$?
    # The boot sector ends qemu through isa-debug-exit: (0x10 << 1) | 1.
    [[ $rc == 33 ]] || { cat "$T/$name.qemu" "$T/$name.serial" >&2; fail "qemu ($name) exited $rc, not 33"; }
    grep -q '^IMGFS-BOOT-OK' "$T/$name.serial" || { cat -A "$T/$name.serial" >&2; fail "no marker ($name)"; }
}

say "qemu-system-x86_64 boots disks/cdrom (TCG): the marker on COM1"
boots plain
grep -q '^SEED=none' "$T/plain.serial" || fail "a second disk seen without one: $(cat -A "$T/plain.serial")"

say "password: write-only (0200), reading it is EACCES even for root"
assert_eq 200 "$(stat -c %a "$V/password")" "mode of vm1/password"
assert_errno EACCES read "$V/password"
assert_errno EACCES open "$V/password" rdwr
if [[ -r "$V/password" ]]; then fail "test -r password: readable"; fi
[[ -w "$V/password" ]] || fail "test -w password: not writable"
assert_logged open "$V/password" EACCES

say "refused passwords: EINVAL with the rule in the log, no disks/cidata"
for p in "${REFUSED[@]}"; do
    assert_errno EINVAL write "$V/password" "$p"
done
assert_logged write "$V/password" EINVAL
grep -F "write ${V#"$M"}/password: EINVAL a password is 8 to 30 printable ASCII" "$S/imgfs.log" >/dev/null ||
    fail "the refusal's line does not give the rule"
assert_eq "cdrom vda" "$(entries "$V/disks")" "vm1/disks/ after refusals"

say "echo PASSWORD > password: disks/cidata, a cloud-init seed (isoinfo), the password's hash"
echo "$PW" >"$V/password"
assert_eq "cdrom cidata vda" "$(entries "$V/disks")" "vm1/disks/ with the seed"
assert_eq "regular file 444" "$(stat -c '%F %a' "$V/disks/cidata")" "stat of cidata"
cp "$V/disks/cidata" "$T/cidata.iso"
isoinfo -d -i "$T/cidata.iso" >"$T/isoinfo.d"
grep -qx 'Volume id: cidata' "$T/isoinfo.d" || { cat "$T/isoinfo.d" >&2; fail "volume id"; }
grep -q 'Joliet' "$T/isoinfo.d" || fail "no Joliet names"
isoinfo -J -f -i "$T/cidata.iso" | LC_ALL=C sort >"$T/isoinfo.f"
assert_eq "/meta-data /user-data" "$(paste -sd ' ' "$T/isoinfo.f")" "the seed's files"
isoinfo -J -x /user-data -i "$T/cidata.iso" >"$T/user-data"
isoinfo -J -x /meta-data -i "$T/cidata.iso" >"$T/meta-data"
vm_id=$(cat "$V/id")
assert_match "instance-id: \"$vm_id-[0-9]+\"" "$(head -1 "$T/meta-data")" "meta-data's instance-id"
assert_eq 'local-hostname: "vm1"' "$(sed -n 2p "$T/meta-data")" "meta-data's host name"
[[ $(wc -l <"$T/meta-data") == 2 ]] || fail "meta-data has more than two lines: $(cat "$T/meta-data")"
head -1 "$T/user-data" | grep -qx '#cloud-config' || fail "user-data is not #cloud-config"
grep -qx '  expire: false' "$T/user-data" && grep -qx 'ssh_pwauth: true' "$T/user-data" ||
    { cat "$T/user-data" >&2; fail "user-data lacks expire: false / ssh_pwauth: true"; }
hash=$(sed -n 's/^password: "\(.*\)"$/\1/p' "$T/user-data")
assert_match '\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}' "$hash" "the hash in user-data"
salt=$(cut -d '$' -f 3 <<<"$hash")
assert_eq "$hash" "$(openssl passwd -6 -salt "$salt" "$PW")" "openssl passwd -6 of the password with its salt"
assert_ne "$hash" "$(openssl passwd -6 -salt "$salt" "${PW}x")" "the hash of another password"
if command -v cloud-init >/dev/null; then
    cloud-init schema --config-file "$T/user-data" >"$T/schema.out" 2>&1 || { cat "$T/schema.out" >&2; fail "cloud-init schema"; }
    echo "    cloud-init schema: $(tail -1 "$T/schema.out")"
else
    echo "    (cloud-init not installed: its schema check skipped)"
fi

say "qemu with disks/cidata as a plain drive: the guest's BIOS reads volume id cidata"
boots seed -drive "file=$V/disks/cidata,format=raw,if=virtio,readonly=on"
grep -q '^SEED=cidata ' "$T/seed.serial" || fail "the guest did not read the seed: $(cat -A "$T/seed.serial")"
say "... and as a cdrom, as NoCloud seeds usually are"
boots seedcd -drive "file=$V/disks/cidata,format=raw,if=ide,index=1,media=cdrom"

say "the password, refused or taken, is nowhere: log (-o debug), state directory, database"
grep -c 'request ' "$S/imgfs.log" >/dev/null || fail "no -o debug request lines in the log"
sqlite3 "$S/imgfs.db" .dump >"$T/db.dump" || fail "sqlite3 .dump"
for p in "$PW" "${REFUSED[@]}"; do
    assert_nowhere "$p" "$S" "\"$p\""
    assert_nowhere "$p" "$T/db.dump" "\"$p\" (the database's rows)"
done
grep -rqaF -- "$hash" "$S/regions" || fail "the hash is in no chunk of the region's store"

say "the seed's bytes: the same read again, after a remount, after kill -9"
sum=$(sha256sum <"$V/disks/cidata")
ino=$(stat -c '%i %Y' "$V/disks/cidata")
assert_eq "$sum" "$(sha256sum <"$V/disks/cidata")" "cidata read twice"
remount_imgfs "$S" "$M" debug
assert_eq "$sum" "$(sha256sum <"$V/disks/cidata")" "cidata after a remount"
assert_eq "$ino" "$(stat -c '%i %Y' "$V/disks/cidata")" "cidata's inode and mtime after a remount"
assert_eq cdrom "$(cat "$V/boot")" "boot after a remount"
kill_imgfs "$M"
mount_imgfs "$S" "$M" debug
assert_eq "$sum" "$(sha256sum <"$V/disks/cidata")" "cidata after kill -9"
assert_file_eq "$T/boot.iso" "$V/disks/cdrom" "cdrom after kill -9"
assert_eq "cdrom 67108864" "$(cat "$V/boot") $(cat "$V/system-disk-size")" "boot, system-disk-size after kill -9"

say "a new password makes a new seed (a new salt, a new cloud-init instance id); the old one's hash is gone from it"
# The seed's time is in seconds: the new one is made in a later second.
seed_time=$(sed -n 's/^instance-id: "i-[0-9a-f]*-\([0-9]*\)"$/\1/p' "$T/meta-data")
later() { (($(date +%s) > seed_time)); }
wait_for 5 later || fail "the clock did not pass the seed's second $seed_time"
echo 'An0ther-Secret' >"$V/password"
isoinfo -J -x /meta-data -i "$V/disks/cidata" >"$T/meta-data2"
assert_ne "$(head -1 "$T/meta-data")" "$(head -1 "$T/meta-data2")" "the instance id of the new seed"
isoinfo -J -x /user-data -i "$V/disks/cidata" >"$T/user-data2"
hash2=$(sed -n 's/^password: "\(.*\)"$/\1/p' "$T/user-data2")
assert_ne "$hash" "$hash2" "the second hash"
salt2=$(cut -d '$' -f 3 <<<"$hash2")
assert_eq "$hash2" "$(openssl passwd -6 -salt "$salt2" 'An0ther-Secret')" "the second hash"
boots again -drive "file=$V/disks/cidata,format=raw,if=virtio,readonly=on"
grep -q '^SEED=cidata ' "$T/again.serial" || fail "the new seed not read by the guest"
assert_nowhere 'An0ther-Secret' "$S" "the second password"

#!/usr/bin/env bash
# SPEC §18, §20 (issue 67): an XFS root as the world's tools leave it, read
# through files/ and inspection, against the kernel's own XFS on the same
# bytes.  mkfs.xfs on a small file, mounted read-write through a loop
# device and filled with `cp -a` of this host's own files (a few hundred
# from /usr/share/doc and /etc: cp -a leaves every file an empty attribute
# fork in extents format), then given attribute forks of every form by
# setfattr, setfacl and setcap: shortform (one small user.*), a leaf (30
# attributes: past the inode), a tree of leaves (400), a btree fork (60
# remote values whose blocks lie between a second file's: more extents
# than the inode holds), a remote value of 9000 bytes, access and default
# ACLs, security.capability, security.selinux and trusted.* (a symbolic
# link's too); qemu-ga installed and enabled by a wants link in a
# shortform /etc/systemd/system (no udev rule), as a Debian root has it.
# Beside it, an NTFS volume made by mkntfs -L.  Both go into a GPT disk,
# uploaded; the XFS file is mounted read-only by the kernel (loop).
# Checked, as root and as uid 65534: getfattr -d -m - of every path
# (names and values) and getfacl equal to the kernel's, errors included;
# ls -lR equal to the kernel's, with no error; tar --xattrs --acls and
# rsync -aAX from files/ succeed, and their copies (onto an XFS of their
# own) hold what the kernel shows; inspection says qemu-ga is enabled,
# and its volume lines name each volume's type, UUID and label as blkid
# -o export gives them (NTFS's label is in its $Volume file), and its
# fstab's LABEL= lines are judged against those labels.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

export PATH=/usr/sbin:/sbin:$PATH
for t in mkfs.xfs xfs_db mkntfs blkid sgdisk getfattr setfattr getfacl setfacl setcap rsync tar setpriv; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs xfsprogs, ntfs-3g, util-linux," \
        "gdisk, attr, acl, libcap2-bin, rsync, tar)"
done
[[ $(id -u) == 0 ]] || fail "this test runs as root (loop mounts; it switches to uid 65534)"
grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null || true
grep -qw xfs /proc/filesystems || fail "the kernel has no XFS (the reference this test compares with)"

setup_mount "allow_other"
P="$R/private"
MiB=1048576
chmod 755 "$T"
# mkxfs IMG MiB [LABEL]: an XFS on a plain file (small: the variables let
# mkfs.xfs make one under 300 MiB, as its own tests do).
mkxfs() {
    truncate -s $(($2 * MiB)) "$1"
    TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f ${3:+-L "$3"} "$1" 2>/dev/null || fail "mkfs.xfs $1"
}

say "an XFS root: cp -a of this host's files onto a loop mount"
mkxfs "$T/x.img" 64 root
W="$T/w"
mkdir "$W"
mount -o loop "$T/x.img" "$W" || fail "mount -o loop (read-write)"
also_unmount "$W"
mkdir -p "$W/usr/share/doc" "$W/usr/sbin" "$W/etc"
# A few hundred files: the first 60 packages' docs, some of /etc.
mapfile -t docs < <(find /usr/share/doc -mindepth 1 -maxdepth 1 -type d | LC_ALL=C sort | head -60)
cp -a "${docs[@]}" "$W/usr/share/doc/"
for e in default skel profile.d bash.bashrc logrotate.d cron.daily; do
    if [[ -e /etc/$e ]]; then cp -a "/etc/$e" "$W/etc/"; fi
done
# Readable by uid 65534 everywhere (files/ shows modes, it does not
# enforce them, §18: a file the kernel would refuse to read is no
# comparison), then the guest's own files.
chmod -R a+rX "$W/usr" "$W/etc"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n' \
    >"$W/etc/os-release"
echo 12.11 >"$W/etc/debian_version"
# Volumes by label: this one's, the NTFS volume's (in its $Volume file),
# and two that no volume has (a byte away from it, either side).
printf 'LABEL=root / xfs defaults 0 1\nLABEL=Windows /win ntfs defaults 0 0\n' >"$W/etc/fstab"
printf 'LABEL=Windowr /r ntfs defaults 0 0\nLABEL=Windowt /t ntfs defaults 0 0\n' >>"$W/etc/fstab"
printf '\177ELF' >"$W/usr/sbin/qemu-ga"
chmod 755 "$W/usr/sbin/qemu-ga"
# /etc/systemd/system as Debian's: a link, then .wants directories, the
# first of which does not hold the agent (its walk looks into each).
sd="$W/etc/systemd/system"
mkdir -p "$sd"
ln -s /lib/systemd/system/systemd-timesyncd.service "$sd/dbus-org.freedesktop.timesync1.service"
for w in getty.target.wants multi-user.target.wants sockets.target.wants timers.target.wants; do mkdir "$sd/$w"; done
ln -s /lib/systemd/system/getty@.service "$sd/getty.target.wants/getty@tty1.service"
for u in cron.service qemu-guest-agent.service ssh.service; do
    ln -s "/lib/systemd/system/$u" "$sd/multi-user.target.wants/$u"
done
ln -s /lib/systemd/system/dbus.socket "$sd/sockets.target.wants/dbus.socket"
ln -s /lib/systemd/system/apt-daily.timer "$sd/timers.target.wants/apt-daily.timer"

say "attribute forks of every form: shortform, leaf, node, btree, remote; ACLs, a capability, trusted.*"
a="$W/attrs"
mkdir -p "$a/shared"
for f in sf leaf node btree remote acl cap pad; do echo "$f" >"$a/$f"; done
setfattr -n user.a -v x "$a/sf"
python3 - "$a" <<'PY'
import os, sys
a = sys.argv[1]
for i in range(30):
    os.setxattr(a + "/leaf", "user.leaf%02d" % i, b"%0100d" % i)
for i in range(400):
    os.setxattr(a + "/node", "user.node%03d" % i, b"%040d" % i)
# Each 4000-byte value takes a block of its own, and a block of pad's
# between two: the fork's extents no longer fit the inode (a btree).
fd = os.open(a + "/pad", os.O_RDWR)
for i in range(60):
    os.setxattr(a + "/btree", "user.r%03d" % i, bytes([65 + i % 26]) * 4000)
    os.posix_fallocate(fd, i * 4096, 4096)
os.close(fd)
os.setxattr(a + "/remote", "user.big", (bytes(range(256)) * 36)[:9000])
PY
setfacl -m u:1234:rwx,g:55:r "$a/acl"
setfacl -m u:1234:rwx "$a/shared"
setfacl -d -m u:1234:rx,g:55:rx "$a/shared"
setcap cap_net_raw+ep "$a/cap"
setfattr -n security.selinux -v 'system_u:object_r:ping_exec_t:s0' "$a/cap"
setfattr -n trusted.overlay.opaque -v y "$a/shared"
ln -s sf "$a/link"
setfattr -h -n trusted.link -v t "$a/link"
cpd=$(cd "$W" && find usr/share/doc -type f | LC_ALL=C sort | sed -n 1p)
[[ -n $cpd ]] || fail "cp -a copied no regular file"
umount "$W"

# The forms, as xfs_db reads them (the kernel wrote them).
# (format 1 local, 2 extents, 3 btree; then the fork's extent count)
aform() { xfs_db -r -c "path $1" -c 'print core.aformat core.naextents' "$T/x.img" | awk '{print $3}' | paste -sd ' '; }
assert_eq "2 0" "$(aform "/$cpd")" "$cpd (cp -a copied it): an empty extents fork"
assert_eq "1 0" "$(aform /attrs/sf)" "attrs/sf's fork"
assert_eq "2 1" "$(aform /attrs/leaf)" "attrs/leaf's fork (one leaf block)"
[[ $(aform /attrs/node) == "2 "* ]] || fail "attrs/node's fork: $(aform /attrs/node)"
[[ $(aform /attrs/btree) == "3 "* ]] || fail "attrs/btree's fork is not a btree: $(aform /attrs/btree)"
[[ $(xfs_db -r -c 'path /attrs/node' -c 'ablock 0' -c 'print hdr.info.hdr.magic' "$T/x.img") == *0x3ebe ]] ||
    fail "attrs/node's first attribute block is not a node"
[[ $(xfs_db -r -c 'path /etc/systemd/system' -c 'print core.format' "$T/x.img") == *local* ]] ||
    fail "/etc/systemd/system is not a shortform directory"

say "an NTFS volume labelled by mkntfs; both in a GPT disk, uploaded"
truncate -s $((8 * MiB)) "$T/n.img"
mkntfs -F -Q -L Windows "$T/n.img" >/dev/null 2>&1 || fail "mkntfs"
disk="$T/disk.raw"
truncate -s $((80 * MiB)) "$disk"
sgdisk -n 1:2048:+64M -t 1:8300 -n 2:0:+8M -t 2:0700 "$disk" >/dev/null || fail "sgdisk"
mapfile -t starts < <(sgdisk -p "$disk" | awk '$1 ~ /^[12]$/ {print $2}')
dd if="$T/x.img" of="$disk" bs=512 seek="${starts[0]}" conv=notrunc,sparse status=none
dd if="$T/n.img" of="$disk" bs=512 seek="${starts[1]}" conv=notrunc,sparse status=none
mkdir "$P/real"
cp "$disk" "$P/real/disks/vda"
imgfs_wait --timeout 120 "$P/real" >/dev/null || { cat "$P/real/error" >&2; fail "imgfs wait private/real"; }
F="$P/real/files/vda1"
K="$T/k"
mkdir "$K"
mount -o loop,ro "$T/x.img" "$K" || fail "mount -o loop,ro"
also_unmount "$K"

# dump WHO DIR: getfattr of every path below DIR (sorted, relative) and
# getfacl of every one but links (it would follow them to this host's
# files), each one's errors after its output (as WHO: root or nobody).
dump() {
    local run=()
    [[ $1 == nobody ]] && run=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    (
        cd "$2"
        find . | LC_ALL=C sort >"$T/paths"
        find . ! -type l | LC_ALL=C sort >"$T/nolinks"
        # (xargs says 123 when a getfattr failed: errors are compared too)
        "${run[@]}" xargs -d '\n' getfattr -d -m - -h --absolute-names -- <"$T/paths" 2>"$T/err" || echo "rc $?"
        cat "$T/err"
        echo "--- getfacl"
        "${run[@]}" xargs -d '\n' getfacl -p -- <"$T/nolinks" 2>"$T/err" || echo "rc $?"
        cat "$T/err"
    )
}
for who in root nobody; do
    say "getfattr and getfacl over files/vda1 equal the kernel's ($who)"
    dump "$who" "$K" >"$T/kernel.$who"
    dump "$who" "$F" >"$T/imgfs.$who"
    diff "$T/kernel.$who" "$T/imgfs.$who" >&2 || fail "files/vda1's attributes differ from the kernel's ($who)"
    [[ $(wc -l <"$T/paths") -ge 300 ]] || fail "fewer than 300 paths compared ($who)"
done
grep -q '^trusted.SGI_ACL_FILE=' "$T/kernel.root" || fail "the kernel lists no trusted.SGI_ACL_FILE to root"
grep -q '^trusted\.' "$T/kernel.nobody" && fail "the kernel lists trusted.* to uid 65534"
grep -q '^user.node399=' "$T/kernel.nobody" || fail "the kernel lists no user.* to uid 65534"
grep -q '^user.r059=' "$T/kernel.root" || fail "the btree fork's last attribute is not listed"

say "uid 65534's getxattr of trusted.* names is ENODATA, as the kernel's"
# trusted_as_nobody DIR: the errno (or the value's length) of each name.
trusted_as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import errno, os, sys
for p, n in (("attrs/shared", "trusted.overlay.opaque"), ("attrs/acl", "trusted.SGI_ACL_FILE"),
             ("attrs/shared", "trusted.SGI_ACL_DEFAULT"), ("attrs/acl", "system.posix_acl_access")):
    try:
        print(n, len(os.getxattr(os.path.join(sys.argv[1], p), n)))
    except OSError as e:
        print(n, errno.errorcode[e.errno])' "$1"
}
assert_eq "$(trusted_as_nobody "$K")" "$(trusted_as_nobody "$F")" "getxattr as uid 65534"
assert_eq "trusted.overlay.opaque ENODATA" "$(trusted_as_nobody "$F" | sed -n 1p)" "getxattr of trusted.* as uid 65534"

say "ls -lR over files/vda1: no error, as the kernel's"
(cd "$K" && ls -lR --time-style=full-iso) >"$T/ls.kernel" 2>&1
(cd "$F" && ls -lR --time-style=full-iso) >"$T/ls.imgfs" 2>"$T/ls.err" || fail "ls -lR: $(head -3 "$T/ls.err")"
[[ -s $T/ls.err ]] && fail "ls -lR printed errors: $(head -3 "$T/ls.err")"
diff "$T/ls.kernel" "$T/ls.imgfs" >&2 || fail "ls -lR of files/vda1 differs from the kernel's"

say "tar --xattrs --acls and rsync -aAX from files/vda1 succeed, and carry what the kernel shows"
mkxfs "$T/d.img" 64
D="$T/d"
mkdir "$D"
mount -o loop "$T/d.img" "$D" || fail "mount -o loop (the copies' XFS)"
also_unmount "$D"
tar --xattrs --xattrs-include='*' --acls -C "$F" -cf "$T/x.tar" . 2>"$T/tar.err" || fail "tar: $(head -3 "$T/tar.err")"
[[ -s $T/tar.err ]] && fail "tar printed errors: $(head -3 "$T/tar.err")"
mkdir "$D/tar"
tar --xattrs --xattrs-include='*' --acls -C "$D/tar" -xf "$T/x.tar" || fail "tar -x"
rsync -aAX "$F/" "$D/rsync/" 2>"$T/rsync.err" || fail "rsync -aAX: $(head -3 "$T/rsync.err")"
for c in tar rsync; do
    dump root "$D/$c" >"$T/copy.$c"
    diff "$T/kernel.root" "$T/copy.$c" >&2 || fail "the $c copy's attributes differ from the kernel's"
done

say "inspection: qemu-ga enabled (a wants link); each volume's type, UUID and label as blkid's"
inspected() { grep -qE '^status: (done|failed)$' "$1/inspection"; }
wait_for 60 inspected "$P/real" || { cat "$P/real/inspection" >&2; fail "private/real was not inspected"; }
line() { grep -E "^$1: " "$P/real/inspection" | sed "s/^$1: //"; }
assert_eq "qemu-ga installed enabled" "$(line agent)" "the agent line"
[[ " $(line features) " == *" qemu-ga "* ]] || fail "features: $(line features), no qemu-ga"
# blkid's TYPE, UUID and LABEL of the same bytes, as a volume line says them.
blk() {
    local TYPE="" UUID="" LABEL=""
    eval "$(blkid -p -o export "$2" | grep -E '^(TYPE|UUID|LABEL)=')"
    echo "$1 $TYPE${UUID:+ uuid=$UUID}${LABEL:+ label=$LABEL}"
}
assert_eq "$(blk vda1 "$T/x.img")" "$(line volume | grep '^vda1 ')" "vda1's volume line"
assert_eq "$(blk vda2 "$T/n.img")" "$(line volume | grep '^vda2 ')" "vda2's volume line"
assert_eq "vda2 ntfs uuid=$(blkid -p -o value -s UUID "$T/n.img") label=Windows" "$(line volume | grep '^vda2 ')" \
    "the NTFS volume's label"
assert_eq "3 4" "$(line warning | sed -n 's/^fstab line \([0-9]*\) mounts.*/\1/p' | paste -sd ' ')" \
    "the fstab lines whose label no volume has"

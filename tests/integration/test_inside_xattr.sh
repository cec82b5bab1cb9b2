#!/usr/bin/env bash
# SPEC §18: the extended attributes of the files inside an image, and the
# times and block counts files/ shows as the kernel's drivers do.  A GPT
# disk made without root or loop devices: an ext4 (mke2fs -d, which copies
# a source tree's xattrs) whose files carry a file capability, an SELinux
# label, an access and a default ACL, user.* (one of 60 KiB) and trusted.*
# attributes, and a file dated before 1970 with nanoseconds; an NTFS
# volume (mkntfs, filled through ntfs-3g's mount: fixture building only)
# whose small resident file takes one block as ntfs-3g says; two XFS
# volumes (v5 and v4: mkfs.xfs -p, attributes set by xfs_db -x) whose
# attributes are shortform, in a leaf (a remote value) and in a tree of
# leaves, with an ACL in XFS's own format, and a damaged one.  getfattr
# over files/ shows what went in (as root; trusted.* not listed to another
# uid), `rsync -aX` and `tar --xattrs` from files/ carry them, setfattr
# and removexattr are EPERM, and a name that is not there is ENODATA.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in sgdisk mke2fs mkntfs ntfs-3g mkfs.xfs xfs_db getfattr setfattr setfacl setcap rsync tar; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs gdisk, e2fsprogs, ntfs-3g," \
        "xfsprogs, attr, acl, libcap2-bin, rsync, tar)"
done

other_uids
setup_mount "allow_other"
P="$R/private"
MiB=1048576
xattrs_of() { # DIR: getfattr's dump of a tree but user.big, compared apart
    (cd "$1" && find . -path ./lost+found -prune -o -print | LC_ALL=C sort |
        xargs -d '\n' getfattr -h -d -m - --absolute-names 2>/dev/null) |
        awk 'BEGIN { RS = ""; ORS = "\n\n" } { gsub(/\nuser\.big=[^\n]*/, "") } NF > 3'
}

say "an ext4 tree whose files carry every kind of attribute, and a file of 1969"
src="$T/src"
mkdir -p "$src/usr/bin" "$src/srv/shared" "$src/etc"
printf 'ping\n' >"$src/usr/bin/ping"
printf 'plain\n' >"$src/etc/plain"
printf 'moon\n' >"$src/etc/moon"
setcap cap_net_raw+ep "$src/usr/bin/ping"
setfattr -n security.selinux -v 'system_u:object_r:ping_exec_t:s0' "$src/usr/bin/ping"
setfattr -n user.comment -v 'the guest wrote this' "$src/usr/bin/ping"
setfattr -n trusted.overlay.opaque -v y "$src/srv/shared"
setfacl -m u:1234:rwx,g:55:r "$src/srv/shared"
setfacl -d -m u:1234:rx "$src/srv/shared"
# 1969-07-20 20:17:40.5 UTC: -14182939.5 s.
python3 -c 'import os, sys; os.utime(sys.argv[1], ns=(-14182939500000000, -14182939500000000))' "$src/etc/moon"
xattrs_of "$src" >"$T/want.xattrs"
grep -q 'security.capability=' "$T/want.xattrs" || fail "the host's file system kept no file capability (fixture)"
mke2fs -q -F -t ext4 -b 4096 -I 256 -O ea_inode -d "$src" "$T/p1.img" 2048 >/dev/null || fail "mke2fs -d"
# A value past a block (an EA inode): the host's own ext4 would not keep it
# (and debugfs's -f reads one block of a file: the value goes inline).
head -c 61440 /dev/zero | tr '\0' b >"$T/big"
debugfs -w -R "ea_set /etc/plain user.big $(cat "$T/big")" "$T/p1.img" 2>/dev/null
[[ $(debugfs -R "ea_list /etc/plain" "$T/p1.img" 2>/dev/null) == *'user.big (61440)'* ]] ||
    fail "debugfs did not set user.big (fixture)"
# mke2fs -d keeps whole seconds: etc/moon's half second is set in its inode
# (ext4's extra field: the nanoseconds << 2, the epoch bits 0 before 1970).
debugfs -w -R "sif /etc/moon mtime_extra $((500000000 << 2))" "$T/p1.img" 2>/dev/null
debugfs -w -R "sif /etc/moon atime_extra $((500000000 << 2))" "$T/p1.img" 2>/dev/null
# A damaged ACL (its stored bytes no ACL: debugfs's raw ea_set), in
# lost+found, which the comparisons below leave out.
printf 'acl\n' >"$T/badacl"
debugfs -w -R "write $T/badacl lost+found/badacl" "$T/p1.img" >/dev/null 2>&1
debugfs -w -R "ea_set -r lost+found/badacl system.posix_acl_access garbage" "$T/p1.img" 2>/dev/null
[[ $(debugfs -R "ea_list lost+found/badacl" "$T/p1.img" 2>/dev/null) == *'system.posix_acl_access (7)'* ]] ||
    fail "debugfs did not set the damaged ACL (fixture)"

say "an NTFS volume with a small resident file"
truncate -s $((16 * MiB)) "$T/p2.img"
mkntfs -F -Q -s 512 "$T/p2.img" >/dev/null 2>&1 || fail "mkntfs"
mkdir -p "$T/ntfsmnt"
ntfs-3g "$T/p2.img" "$T/ntfsmnt" || fail "ntfs-3g mount (fixture)"
printf 'hi\n' >"$T/ntfsmnt/small"
head -c 5000 /dev/urandom >"$T/ntfsmnt/k5"
: >"$T/ntfsmnt/empty"
(cd "$T/ntfsmnt" && stat -c '%n %s %b' small k5 empty) >"$T/ntfs.want"
umount "$T/ntfsmnt"

say "an XFS volume whose attributes are in each of the attribute fork's forms"
# mkfs.xfs -p (a protofile) makes the files; xfs_db -x's attr_set gives
# them attributes whose values are the letter v repeated (its only
# content): sf's in the inode (shortform), leaf's in one leaf block with a
# remote value of 5000 bytes, node's 400 in a tree of leaves.
mkdir -p "$T/xsrc"
for f in sf leaf node badacl; do echo "$f" >"$T/xsrc/$f"; done
python3 "$INTEGRATION_DIR/xfs-edit" proto "$T/xsrc" >"$T/xproto"
# xfs_volume IMG MKFS-OPTIONS...: the three files and their attributes.
xfs_volume() {
    local img=$1 xino
    shift
    truncate -s $((24 * MiB)) "$img"
    TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f "$@" -p "$T/xproto" "$img" 2>/dev/null || fail "mkfs.xfs -p $*"
    mapfile -t xino < <(printf 'path /sf\ninode\npath /leaf\ninode\npath /node\ninode\npath /badacl\ninode\n' | xfs_db -r "$img" |
        awk '/current inode number/ {print $NF}')
    {
        printf 'inode %s\nattr_set -v 5 a\nattr_set -s -v 30 selinux\nattr_set -r -v 3 t\n' "${xino[0]}"
        printf 'attr_set -r -v 64 SGI_ACL_FILE\n'
        printf 'inode %s\n' "${xino[1]}"
        # (3-byte names, 62-byte values: entries of 68 bytes, the first one
        # ending at its leaf block's last byte)
        for i in $(seq -w 0 39); do printf 'attr_set -v 62 l%s\n' "$i"; done
        printf 'attr_set -v 5000 remote\n' # (last: xfs_db 6.1 crashes on v4 otherwise)
        printf 'inode %s\n' "${xino[2]}"
        for i in $(seq -w 0 399); do printf 'attr_set -v 40 n%s\n' "$i"; done
        # badacl's ACL damaged: 7 bytes (vvvvvvv), no XFS ACL
        printf 'inode %s\nattr_set -r -v 7 SGI_ACL_FILE\n' "${xino[3]}"
    } | xfs_db -x "$img" >/dev/null || fail "xfs_db attr_set"
    # sf's ACL: XFS's own format (be32 count; be32 tag, be32 id, be16 perm,
    # pad) of user::rw- user:1234:rwx group::r-- mask::rwx other::r--,
    # written over the v's, a v5 inode's CRC redone.
    python3 - "$img" "${xino[0]}" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
ino = int(sys.argv[2])
bs, = struct.unpack(">I", b[4:8]); agblocks, = struct.unpack(">I", b[84:88]); isz, = struct.unpack(">H", b[104:106])
inopblog, agblklog, v5 = b[123], b[124], struct.unpack(">H", b[100:102])[0] & 0xF == 5
agno, agino = ino >> (agblklog + inopblog), ino & ((1 << (agblklog + inopblog)) - 1)
o = (agno * agblocks + (agino >> inopblog)) * bs + (agino & ((1 << inopblog) - 1)) * isz
ents = [(1, 0xFFFFFFFF, 6), (2, 1234, 7), (4, 0xFFFFFFFF, 4), (0x10, 0xFFFFFFFF, 7), (0x20, 0xFFFFFFFF, 4)]
acl = struct.pack(">I", len(ents)) + b"".join(struct.pack(">IIHH", t, i, p, 0) for t, i, p in ents)
at = b.index(b"SGI_ACL_FILE" + b"v" * 64, o, o + isz) + 12
b[at:at + 64] = acl
def crc32c(data):
    c = 0xFFFFFFFF
    for x in data:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF
if v5:
    b[o + 100:o + 104] = b"\0\0\0\0"
    b[o + 100:o + 104] = struct.pack("<I", crc32c(bytes(b[o:o + isz])))
open(sys.argv[1], "r+b").write(b)
PY
    assert_eq "1 2 2 1" "$(for i in "${xino[@]}"; do xfs_db -r -c "inode $i" -c 'print core.aformat' "$img"; done |
        awk '{printf "%s%s", sep, $3; sep=" "}')" "the attribute forks' formats (shortform, extents, extents, shortform) $*"
}
xfs_volume "$T/p3.img" -m crc=1
xfs_volume "$T/p4.img" -m crc=0 -i size=512

say "XFS, hostile and at the bounds: 64 KiB of names and one byte more, a leaf linked to itself"
# at: 2048 names of 31 bytes ("user.p" and 25 digits) and their NULs,
# Linux's XATTR_LIST_MAX exactly; past: one of them a byte longer; loop:
# node's 400 attributes, its last leaf's forward link pointed at its first.
mkdir -p "$T/bsrc"
for f in at past loop; do echo "$f" >"$T/bsrc/$f"; done
python3 "$INTEGRATION_DIR/xfs-edit" proto "$T/bsrc" >"$T/bproto"
truncate -s $((24 * MiB)) "$T/p5.img"
TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f -p "$T/bproto" "$T/p5.img" 2>/dev/null || fail "mkfs.xfs -p (p5)"
mapfile -t bino < <(printf 'path /at\ninode\npath /past\ninode\npath /loop\ninode\n' | xfs_db -r "$T/p5.img" |
    awk '/current inode number/ {print $NF}')
{
    printf 'inode %s\n' "${bino[0]}"
    for i in $(seq 1 2048); do printf 'attr_set -v 1 p%025d\n' "$i"; done
    printf 'inode %s\n' "${bino[1]}"
    for i in $(seq 1 2047); do printf 'attr_set -v 1 p%025d\n' "$i"; done
    printf 'attr_set -v 1 q%026d\n' 0
    printf 'inode %s\n' "${bino[2]}"
    for i in $(seq -w 0 399); do printf 'attr_set -v 40 n%s\n' "$i"; done
} | xfs_db -x "$T/p5.img" >/dev/null 2>&1 || fail "xfs_db attr_set (p5)"
python3 - "$T/p5.img" "${bino[2]}" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
ino, bs = int(sys.argv[2]), struct.unpack(">I", b[4:8])[0]
def crc32c(data):
    c = 0xFFFFFFFF
    for x in data:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF
# v5 attribute leaves of ino: magic 0x3bee at 8, owner at 48.
leaves = [o for o in range(0, len(b), bs) if b[o + 8:o + 10] == b"\x3b\xee" and struct.unpack(">Q", b[o + 48:o + 56])[0] == ino]
assert len(leaves) >= 3, leaves
last = next(o for o in leaves if struct.unpack(">I", b[o:o + 4])[0] == 0)
second = next(o for o in leaves if struct.unpack(">I", b[o + 4:o + 8])[0] != 0 and
              not any(struct.unpack(">I", b[p:p + 4])[0] == struct.unpack(">I", b[o + 4:o + 8])[0] and
                      struct.unpack(">I", b[p + 4:p + 8])[0] != 0 for p in leaves))
first_blk = struct.unpack(">I", b[second + 4:second + 8])[0]  # the first leaf's block: second's back link
b[last:last + 4] = struct.pack(">I", first_blk)
b[last + 12:last + 16] = b"\0\0\0\0"
b[last + 12:last + 16] = struct.pack("<I", crc32c(bytes(b[last:last + bs])))
open(sys.argv[1], "r+b").write(b)
PY

disk="$T/disk.raw"
truncate -s $((104 * MiB)) "$disk"
sgdisk -n 1:2048:+8M -t 1:8300 -n 2:0:+16M -t 2:0700 -n 3:0:+24M -t 3:8300 -n 4:0:+24M -t 4:8300 \
    -n 5:0:+24M -t 5:8300 "$disk" >/dev/null || fail "sgdisk"
mapfile -t starts < <(sgdisk -p "$disk" | awk '$1 ~ /^[12345]$/ {print $2}')
dd if="$T/p1.img" of="$disk" bs=512 seek="${starts[0]}" conv=notrunc status=none
dd if="$T/p2.img" of="$disk" bs=512 seek="${starts[1]}" conv=notrunc status=none
dd if="$T/p3.img" of="$disk" bs=512 seek="${starts[2]}" conv=notrunc status=none
dd if="$T/p4.img" of="$disk" bs=512 seek="${starts[3]}" conv=notrunc status=none
dd if="$T/p5.img" of="$disk" bs=512 seek="${starts[4]}" conv=notrunc status=none
mkdir "$P/x"
cp "$disk" "$P/x/disks/vda"
imgfs_wait --timeout 120 "$P/x" >/dev/null || { cat "$P/x/error" >&2; fail "imgfs wait private/x"; }
F="$P/x/files"

say "getfattr over files/vda1 shows every attribute as it went in (as root)"
xattrs_of "$F/vda1" >"$T/got.xattrs"
diff "$T/want.xattrs" "$T/got.xattrs" >&2 || fail "files/vda1's attributes differ from the source's"
assert_eq "$(sha256sum <"$T/big")" \
    "$(getfattr -n user.big --only-values "$F/vda1/etc/plain" | sha256sum)" "a 60 KiB value"
assert_match ".* cap_net_raw=ep" "$(getcap "$F/vda1/usr/bin/ping")" "getcap"
assert_eq "$(getfacl -p "$src/srv/shared" | tail -n +2)" "$(getfacl -p "$F/vda1/srv/shared" | tail -n +2)" "getfacl"

say "a name that is not there is ENODATA; a buffer too small ERANGE; writes EPERM"
assert_errno ENODATA getxattr "$F/vda1/etc/plain" user.nothing
# exact_buf PATH [NAME]: listxattr(2) (getxattr(2) of NAME) with a buffer
# of the size a first call with none gave, and of one byte less: "N ERANGE".
exact_buf() {
    python3 -c 'import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
call = (lambda b, n: libc.getxattr(sys.argv[1].encode(), sys.argv[2].encode(), b, n)) if len(sys.argv) > 2 else \
       (lambda b, n: libc.listxattr(sys.argv[1].encode(), b, n))
need = call(None, 0); full = call(ctypes.create_string_buffer(need), need)
short = call(ctypes.create_string_buffer(need), need - 1)
print(full if full == need else "short read %d of %d" % (full, need), errno.errorcode[ctypes.get_errno()] if short < 0 else short)' "$@"
}
assert_eq "20 ERANGE" "$(exact_buf "$F/vda1/usr/bin/ping" user.comment)" "getxattr into its size and one byte less"
assert_eq "$(($(getfattr -m - "$F/vda1/usr/bin/ping" 2>/dev/null | grep -v '^#' | grep . | wc -c))) ERANGE" \
    "$(exact_buf "$F/vda1/usr/bin/ping")" "listxattr into its size and one byte less"
assert_errno EPERM setxattr "$F/vda1/etc/plain" user.new v
assert_errno EPERM removexattr "$F/vda1/usr/bin/ping" user.comment

say "another uid is not shown trusted.*"
list_as() { as "$1" /usr/bin/python3 -c 'import os, sys; print(" ".join(sorted(os.listxattr(sys.argv[1]))))' "$2"; }
assert_eq "system.posix_acl_access system.posix_acl_default" "$(list_as 2001 "$F/vda1/srv/shared")" \
    "listxattr as uid 2001"
assert_eq "system.posix_acl_access system.posix_acl_default trusted.overlay.opaque" \
    "$(list_as 0 "$F/vda1/srv/shared")" "listxattr as root"

say "rsync -aAX (ACLs are -A) and tar --xattrs from files/ carry them"
# (etc/plain's 60 KiB value does not fit the host's own ext4: left out.)
rsync -aAX --exclude /etc/plain --exclude /lost+found "$F/vda1/" "$T/rsynced/"
xattrs_of "$T/rsynced" >"$T/rsync.xattrs"
diff "$T/want.xattrs" "$T/rsync.xattrs" >&2 || fail "rsync -aAX lost attributes"
tar --xattrs --xattrs-include='*' --acls -C "$F/vda1" --exclude ./etc/plain -cf "$T/x.tar" ./usr ./srv ./etc
mkdir "$T/untar"
tar --xattrs --xattrs-include='*' --acls -C "$T/untar" -xf "$T/x.tar"
xattrs_of "$T/untar" >"$T/tar.xattrs"
diff "$T/want.xattrs" "$T/tar.xattrs" >&2 || fail "tar --xattrs lost attributes"

say "a damaged ACL is listed, and reading it is EIO with the reason (issue 70; the kernel says EINVAL)"
assert_eq "system.posix_acl_access" "$(python3 -c 'import os, sys; print(" ".join(os.listxattr(sys.argv[1])))' \
    "$F/vda1/lost+found/badacl")" "listxattr of the damaged ACL's file"
assert_errno EIO getxattr "$F/vda1/lost+found/badacl" system.posix_acl_access
assert_match ".*getxattr .*/files/vda1 .*: EIO its system.posix_acl_access does not convert to Linux's format.*" "$(cat "$M/errors")" \
    "the reason, in the caller's /errors"
assert_eq "acl" "$(cat "$F/vda1/lost+found/badacl")" "its bytes read"

say "a time before 1970 keeps its nanoseconds"
assert_eq "-14182939500000000" "$(mtime_ns "$F/vda1/etc/moon")" "etc/moon's mtime"
assert_eq "-14182939.500000000 -14182939.500000000" "$(stat -c '%.9X %.9Y' "$F/vda1/etc/moon")" "etc/moon's times"

say "NTFS: st_blocks as ntfs-3g gives them"
(cd "$F/vda2" && stat -c '%n %s %b' small k5 empty) >"$T/ntfs.got"
diff "$T/ntfs.want" "$T/ntfs.got" >&2 || fail "NTFS sizes or blocks differ from ntfs-3g's"

v() { printf "%${1}s" | tr ' ' v; }
for vol in vda3 vda4; do
    say "XFS ($vol: v5, v4): shortform, leaf and node attributes, a remote value, an ACL"
    # (the ACL as stored, too: the kernel lists trusted.SGI_ACL_FILE to root)
    assert_eq "$(printf '# file: %s\n%s\n%s\n%s\n%s\n' "$F/$vol/sf" "security.selinux=\"$(v 30)\"" \
        "trusted.SGI_ACL_FILE=0sAAAABQAAAAH/////AAYAAAAAAAIAAATSAAcAAAAAAAT/////AAQAAAAAABD/////AAcAAAAAACD/////AAQAAA==" \
        "trusted.t=\"vvv\"" 'user.a="vvvvv"')" \
        "$(getfattr -d -m '^(security|trusted|user)\.' --absolute-names "$F/$vol/sf")" "$vol/sf's attributes"
    assert_eq "user::rw- user:1234:rwx group::r-- mask::rwx other::r--" \
        "$(getfacl -pc "$F/$vol/sf" 2>/dev/null | xargs)" "$vol/sf's ACL (XFS's own format)"
    assert_eq 41 "$(getfattr -d -m - --absolute-names "$F/$vol/leaf" | grep -c '^user\.')" "$vol/leaf's attribute count"
    assert_eq "$(v 5000 | sha256sum)" "$(getfattr -n user.remote --only-values "$F/$vol/leaf" | sha256sum)" \
        "$vol/leaf's remote value"
    assert_eq "$(for i in $(seq -w 0 399); do echo "user.n$i=\"$(v 40)\""; done)" \
        "$(getfattr -d -m - --absolute-names "$F/$vol/node" | grep '^user\.' | LC_ALL=C sort)" "$vol/node's 400 attributes"
    # A damaged ACL (issue 70, as ext4's above): listed, both names, and
    # reading it is EIO with the reason; its stored bytes read as stored.
    assert_eq "system.posix_acl_access trusted.SGI_ACL_FILE" \
        "$(python3 -c 'import os, sys; print(" ".join(sorted(os.listxattr(sys.argv[1]))))' "$F/$vol/badacl")" \
        "listxattr of $vol/badacl (its ACL damaged)"
    assert_errno EIO getxattr "$F/$vol/badacl" system.posix_acl_access
    assert_match ".*getxattr .*/files/$vol .*: EIO its system\.posix_acl_access \(7 bytes\) is no XFS ACL: a count or an entry out of its bounds.*" \
        "$(cat "$M/errors")" "the reason of $vol/badacl's EIO, in the caller's /errors"
    assert_eq vvvvvvv "$(getfattr -n trusted.SGI_ACL_FILE --only-values "$F/$vol/badacl")" "$vol/badacl's ACL as stored"
    assert_eq badacl "$(cat "$F/$vol/badacl")" "$vol/badacl's bytes"
done

say "XFS: 64 KiB of names list; a byte more is E2BIG (Linux's bound); a looping leaf chain is EIO, logged"
assert_eq 2048 "$(getfattr -d -m - --absolute-names "$F/vda5/at" | grep -c '^user\.p')" "vda5/at's 2048 names"
assert_errno E2BIG listxattr "$F/vda5/past"
assert_eq v "$(getfattr -n user.p0000000000000000000000001 --only-values "$F/vda5/past")" "a name of past, read by name"
assert_errno EIO listxattr "$F/vda5/loop"
grep -q "inside .*/files/vda5 (inode ${bino[2]}): EIO .*attribute leaf [0-9]* does not link back" "$S/imgfs.log" ||
    { tail -n 3 "$S/imgfs.log" >&2; fail "no log line for the looping leaves"; }

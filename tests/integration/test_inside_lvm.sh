#!/usr/bin/env bash
# SPEC §18: LVM2 logical volumes inside an image.  A disk made without
# root, loop devices or lvm2's tools (they want block devices): partition 1
# of an MBR (sfdisk on a plain file) is a physical volume written here by
# a small script from LVM2's on-disk format — the label in sector 1 and
# the PV header, a metadata area at 4 KiB with its header and the volume
# group's text, ending with a NUL as lvm2's does, every CRC as LVM
# computes it (initial 0xf597a6cf, checked against a volume lvm2 wrote) —
# whose volume group vg0 has (test_inside_lvm2.sh reads what lvm2 itself
# writes):
#   root     an ext4 (mke2fs -d) in two runs, the second before the first
#            on the PV (its segments map through both);
#   data     an ext4 in one run;
#   many16   16 one-extent segments (the bound), no file system;
#   many17   17 (one past it): not shown;
#   stripes  a segment striped over two areas: not shown;
#   pool     a thin pool: not shown.
# And 74 volumes on one PV (70 more before many16): 30 take the disk's
# free numbers, the 34 others of the 64 the helper tells and the 10 past
# them are named or counted on the PV's README line (512 bytes at most);
# the disk's load went round one line for good here before.
# files/ shows vda1-vg0-root and vda1-vg0-data with every file as it went
# in, README names the physical volume and each volume not shown with why,
# and the inspection (§20) finds the OS in vda1-vg0-root, its fstab's
# /dev/mapper/vg0-root held.  Hostile: a metadata area whose header fails
# its checksum, and metadata text that does not parse: README says why,
# nothing hangs, and the rest of the disk reads.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in sfdisk mke2fs; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs fdisk, e2fsprogs)"
done

setup_mount ""
P="$R/private"
MiB=1048576

say "a physical volume of vg0: root in two runs, data, many16, many17, stripes, pool"
mkdir -p "$T/root/etc" "$T/data"
printf 'ID=rocky\nVERSION_ID="9.3"\nNAME="Rocky Linux"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n' >"$T/root/etc/os-release"
printf '/dev/mapper/vg0-root / ext4 defaults 0 1\n/dev/vg0/data /data ext4 defaults 0 2\n' >"$T/root/etc/fstab"
head -c 300000 /dev/urandom >"$T/root/etc/blob"
seq 1 20000 >"$T/data/numbers"
mke2fs -q -F -t ext4 -d "$T/root" "$T/root.img" 8M >/dev/null
mke2fs -q -F -t ext4 -d "$T/data" "$T/data.img" 2M >/dev/null
cat >"$T/mkpv.py" <<'PY'
# mkpv.py OUT ROOT DATA [damage]: a 52 MiB disk, partition 1 (from 1 MiB) an LVM2 PV.
import struct, sys
out, rootimg, dataimg = sys.argv[1:4]
damage = sys.argv[4] if len(sys.argv) > 4 else ""
MiB = 1 << 20
T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
    T.append(c)
def crc(data):  # LVM2's calc_crc: initial 0xf597a6cf, no final inversion
    c = 0xF597A6CF
    for x in data:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c
part = 1 * MiB                    # the partition's start on the disk
pvsize = 51 * MiB
pe_start = 1 * MiB                # data area: 1 MiB into the PV, extents of 1 MiB
uuid = b"Abcdef0123456789Abcdef0123456789"
pvid = "Abcdef-0123-4567-89Ab-cdef-0123-456789"
disk = bytearray(52 * MiB)
disk[510:512] = b"\x55\xaa"       # MBR: partition 1, type 8e (Linux LVM)
disk[446:462] = struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", 0x8E, b"\xfe\xff\xff", part // 512, pvsize // 512)
def put(pv_off, data):
    disk[part + pv_off:part + pv_off + len(data)] = data
root, data = open(rootimg, "rb").read(), open(dataimg, "rb").read()
ext = lambda n: pe_start + n * MiB
put(ext(10), root[:4 * MiB]); put(ext(2), root[4 * MiB:])        # root: LV extents 0-3 at PV 10-13, 4-7 at PV 2-5
put(ext(0), data)                                                  # data: PV 0-1
def segs(runs):
    return "".join('segment%d {\nstart_extent = %d\nextent_count = %d\ntype = "striped"\nstripe_count = 1\n'
                   'stripes = [\n"pv0", %d\n]\n}\n' % (i + 1, s, c, p) for i, (s, c, p) in enumerate(runs))
def lv(name, runs, raw=None):
    body = raw if raw else segs(runs)
    n = body.count("segment") if raw else len(runs)
    return '%s {\nid = "x"\nstatus = ["READ", "WRITE", "VISIBLE"]\nflags = []\nsegment_count = %d\n%s}\n' % (name, n, body)
text = ('vg0 {\nid = "vgid"\nseqno = 7\nformat = "lvm2"\nstatus = ["RESIZEABLE", "READ", "WRITE"]\n'
        'flags = []\nextent_size = 2048\nmax_lv = 0\nmax_pv = 0\nmetadata_copies = 0\n\n'
        'physical_volumes {\n\npv0 {\nid = "%s"\ndevice = "/dev/vda1"\n\nstatus = ["ALLOCATABLE"]\n'
        'flags = []\ndev_size = %d\npe_start = %d\npe_count = 50\n}\n}\n\nlogical_volumes {\n\n' % (pvid, pvsize // 512, pe_start // 512)
        + (lv("root", [(0, 4, 10), (4, 4, 2)]) + lv("data", [(0, 2, 0)]) if damage != "many" else
           "".join(lv("m%02d" % i, [(0, 1, 48)]) for i in range(70)))
        + lv("many16", [(i, 1, 14 + i) for i in range(16)]) + lv("many17", [(i, 1, 30 + i) for i in range(17)])
        + lv("stripes", None, 'segment1 {\nstart_extent = 0\nextent_count = 2\ntype = "striped"\nstripe_count = 2\n'
                              'stripe_size = 128\nstripes = [\n"pv0", 6,\n"pv0", 8\n]\n}\n')
        + lv("pool", None, 'segment1 {\nstart_extent = 0\nextent_count = 1\ntype = "thin-pool"\n'
                           'metadata = "pool_tmeta"\npool = "pool_tdata"\n}\n')
        + '}\n}\n# Generated by a test\ncontents = "Text Format Volume Group"\nversion = 1\n')
if damage == "text":
    text = text.replace("logical_volumes {", "logical_volumes {{", 1)
text = text.encode() + b"\0"      # lvm2 ends its text with a NUL, counted in its size and CRC
mda, mdasize = 4096, pe_start - 4096
put(mda + 512, text)
hdr = bytearray(512)
hdr[4:20] = b" LVM2 x[5A%r0N*>"
struct.pack_into("<IQQ", hdr, 20, 1, mda, mdasize)
struct.pack_into("<QQII", hdr, 40, 512, len(text), crc(text), 0)
struct.pack_into("<I", hdr, 0, crc(hdr[4:]))
if damage == "header":
    hdr[100] ^= 0xFF                 # after its CRC was computed
put(mda, hdr)
label = bytearray(512)
label[0:8] = b"LABELONE"
struct.pack_into("<QII", label, 8, 1, 0, 32)
label[24:32] = b"LVM2 001"
pvh = uuid + struct.pack("<Q", pvsize) + struct.pack("<QQQQ", pe_start, 0, 0, 0) + struct.pack("<QQQQ", mda, mdasize, 0, 0)
label[32:32 + len(pvh)] = pvh
struct.pack_into("<I", label, 16, crc(label[20:]))
put(512, label)
open(out, "wb").write(disk)
PY
python3 "$T/mkpv.py" "$T/lvm.raw" "$T/root.img" "$T/data.img"
mkdir "$P/lvm"
cp "$T/lvm.raw" "$P/lvm/disks/vda"
imgfs_wait --timeout 120 "$P/lvm" >/dev/null || { cat "$P/lvm/error" >&2; fail "imgfs wait private/lvm"; }
F="$P/lvm/files"

say "files/ shows the linear volumes, every file as it went in"
assert_eq "README vda1-vg0-data vda1-vg0-root" "$(ls "$F" | xargs)" "ls files/"
diff -r "$T/root" "$F/vda1-vg0-root" -x lost+found >&2 || fail "vda1-vg0-root differs from what went in"
cmp "$T/data/numbers" "$F/vda1-vg0-data/numbers" || fail "vda1-vg0-data/numbers"
grep -qx 'vda1: not shown: an LVM2 physical volume of volume group vg0; vg0-many17 not shown (it has more than 16 runs); vg0-stripes not shown (it is striped over several areas); vg0-pool not shown (it is not linear: a mirror, RAID, thin, cache or snapshot volume)' \
    "$F/README" || { cat "$F/README" >&2; fail "README's line for the physical volume"; }
grep -q '^vda1-vg0-root: ext2/3/4, read through libext2fs$' "$F/README" || fail "README: vda1-vg0-root"
grep -q '^vda1-vg0-many16: not shown: no file system imgfs knows$' "$F/README" ||
    { cat "$F/README" >&2; fail "README: the 16-segment volume (the bound) is a volume"; }
ino=$(stat -c %i "$F/vda1-vg0-root/etc/blob")
remount_imgfs "$S" "$M" ""
assert_eq "$ino" "$(stat -c %i "$F/vda1-vg0-root/etc/blob")" "a logical volume's inode numbers after a remount"

say "the inspection finds the OS in vda1-vg0-root; its fstab's LVM names are the image's own"
wait_for 60 grep -q '^status: done$' "$P/lvm/inspection" || fail "not inspected"
assert_eq "rocky 9.3 vda1-vg0-root" "$(sed -n 's/^platform: //p; s/^version: //p; s/^root: //p' "$P/lvm/inspection" | xargs)" \
    "the inspection's OS and root"
grep -q '^warning: fstab' "$P/lvm/inspection" && fail "an fstab warning for the image's own volumes"

say "74 volumes on one physical volume: 30 numbers free, 64 told, README names or counts every other"
python3 "$T/mkpv.py" "$T/many.raw" "$T/root.img" "$T/data.img" many
mkdir "$P/many"
cp "$T/many.raw" "$P/many/disks/vda"
imgfs_wait --timeout 120 "$P/many" >/dev/null || fail "imgfs wait many"
assert_eq 30 "$(grep -c '^vda1-vg0-m[0-9]*: not shown: no file system imgfs knows$' "$P/many/files/README")" \
    "volumes given the 30 free numbers (31 down to 2)"
line=$(grep '^vda1: ' "$P/many/files/README")
named=$(grep -o 'vg0-m[0-9]* not shown (no partition number is free)' <<<"$line" | wc -l)
cut=$(sed -n 's/.*; and \([0-9]*\) more not shown (no room on this line)$/\1/p' <<<"$line")
((${#line} <= 520)) || fail "the physical volume's line is ${#line} bytes"
assert_match 'vda1: not shown: an LVM2 physical volume of volume group vg0; vg0-m30 not shown \(no partition number is free\); .*' "$line" \
    "the first volume without a number"
# 34 of the 64 told have no number, 10 past 64 (m64-m69, many16, many17,
# stripes, pool): each named or counted
assert_eq 44 "$((named + cut))" "volumes named or counted on the line: $line"

say "hostile: a metadata header that fails its checksum, text that does not parse: README says why"
for damage in header text; do
    python3 "$T/mkpv.py" "$T/bad-$damage.raw" "$T/root.img" "$T/data.img" "$damage"
    mkdir "$P/bad-$damage"
    cp "$T/bad-$damage.raw" "$P/bad-$damage/disks/vda"
    imgfs_wait --timeout 120 "$P/bad-$damage" >/dev/null || fail "imgfs wait bad-$damage"
    assert_eq README "$(ls "$P/bad-$damage/files" | xargs)" "bad-$damage: no volume shown"
done
assert_eq "vda1: not shown: an LVM2 physical volume whose metadata is not read: LVM: the metadata area's header is malformed or fails its checksum" \
    "$(cat "$P/bad-header/files/README")" "bad-header's README"
assert_match "vda1: not shown: an LVM2 physical volume whose metadata is not read: LVM: the metadata text does not parse \(at byte [0-9]+\)" \
    "$(cat "$P/bad-text/files/README")" "bad-text's README"

#!/usr/bin/env bash
# SPEC §18: LVM2 volume groups that lvm2 itself made, read as the kernel
# reads their file systems.  Two disks, on loop devices over plain files
# (there is no device-mapper here: lvm2 runs with --driverloaded n, its
# volumes never active; each file system is made on a file of its own,
# filled by cp -a on a loop mount, and its bytes written where lvm2's own
# `lvs --segments` puts the volume's runs):
#   vda  an MBR (sfdisk) whose partitions 1 and 2 are the two physical
#        volumes of group cl (pvcreate, vgcreate, as installers do):
#          root  XFS, an /etc/os-release of Rocky 9.3; two runs on vda1
#                (lvcreate, another volume, lvextend; the other removed)
#          home  ext4, wholly on vda2: read from vda2
#          span  a run on each: not shown, README says why
#        after lvcreate, lvextend, lvrename, lvremove: the metadata areas
#        hold several generations, the newest not the first;
#   vdb  (the disk of a second image, so its vda; uploaded as QCOW2, as a
#        raw disk must have a partition table) a whole-disk physical
#        volume of group data, its metadata area
#        small (16 KiB asked, 60 KiB made) and changed (vgchange --addtag)
#        until lvm2 wrote its newest text wrapped round the area's end:
#          lv0   ext4 in two runs;  pad  no file system.
# Every text ends with the NUL lvm2 counts in its size (checked here).
# files/ is compared with the kernel's read-only loop mount of the same
# bytes (mount -o loop,ro,offset=,sizelimit= on the disk for a one-run
# volume; the runs lvm2 lists, copied out of the disk, for the others):
# names, types, modes, owners, sizes, link counts, mtimes with
# nanoseconds, link targets, and every file's bytes; README's lines; and
# the inspection (§20) finds the OS on the LVM root.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

for t in sfdisk losetup pvcreate vgcreate lvcreate mkfs.xfs mkfs.ext4 qemu-img python3; do
    command -v $t >/dev/null || fail "$t is missing (scripts/install-deps installs fdisk, mount, lvm2, xfsprogs, e2fsprogs, qemu-utils)"
done
((EUID == 0)) || fail "needs root (loop devices, loop mounts)"

MiB=1048576
say "two disks on loop devices: vda (MBR, partitions 1 and 2), vdb (whole)"
truncate -s 128M "$T/vda.raw"
truncate -s 64M "$T/vdb.raw"
printf 'label: dos\nstart=2048, size=163840, type=8e\nstart=165888, type=8e\n' | sfdisk -q "$T/vda.raw"
# At exit, the loop devices still on this test's files are detached (by
# their backing file: a device this test let go may be another's by then).
detach_ours() {
    local f dev
    for f in "$T/vda.raw" "$T/vdb.raw"; do
        for dev in $(losetup -n -O NAME -j "$f" 2>/dev/null); do losetup -d "$dev"; done
    done
}
at_exit detach_ours
loop() { # loop VAR FILE [OFFSET SIZE]: a loop device on FILE
    local dev
    if (($# > 2)); then
        dev=$(losetup -f --show -o "$3" --sizelimit "$4" "$2")
    else
        dev=$(losetup -f --show "$2")
    fi
    printf -v "$1" %s "$dev"
}
loop LA "$T/vda.raw" $((1 * MiB)) $((80 * MiB))
loop LB "$T/vda.raw" $((81 * MiB)) $((47 * MiB))
loop LC "$T/vdb.raw"
# lvm2 of its own: sees these three devices only, no udev, no daemon, no
# device-mapper, nothing written outside $T.
export LVM_SYSTEM_DIR="$T/lvm" DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1
mkdir -p "$T/lvm/lock"
cat >"$T/lvm/lvm.conf" <<EOF
devices { filter = [ "a|^$LA\$|", "a|^$LB\$|", "a|^$LC\$|", "r|.*|" ] obtain_device_list_from_udev = 0
          use_devicesfile = 0 write_cache_state = 0 hints = "none" }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
backup { backup = 0 archive = 0 }
global { locking_dir = "$T/lvm/lock" }
EOF
lvm_do() { "$@" --driverloaded n >>"$T/lvm.log" 2>&1 || { tail -n 20 "$T/lvm.log" >&2; fail "lvm2: $*"; }; }
lvm_ask() { "$@" --driverloaded n --noheadings --units b --nosuffix 2>>"$T/lvm.log"; }
N=(-an -Zn -Wn -y)

say "lvm2 makes group cl over vda1 and vda2, group data on vdb; several generations each"
lvm_do pvcreate -q "$LA" "$LB"
lvm_do pvcreate -q --metadatasize 16k --dataalignment 64k "$LC"
lvm_do vgcreate -q -s 4m cl "$LA" "$LB"
lvm_do vgcreate -q -s 1m data "$LC"
lvm_do lvcreate "${N[@]}" -L 32m -n root cl "$LA"
lvm_do lvcreate "${N[@]}" -L 8m -n swap cl "$LA"
lvm_do lvextend -L +8m cl/root "$LA"
lvm_do lvrename cl swap scratch
lvm_do lvcreate "${N[@]}" -L 16m -n home cl "$LB"
lvm_do lvcreate "${N[@]}" -L 4m -n span cl "$LA"
lvm_do lvextend -L +4m cl/span "$LB"
lvm_do lvremove -y cl/scratch
lvm_do lvcreate "${N[@]}" -L 8m -n lv0 data
lvm_do lvcreate "${N[@]}" -L 2m -n pad data
lvm_do lvextend -L +8m data/lv0
tags=()
for i in $(seq 1 24); do tags+=(--addtag "$(printf 'tag%02d-%090d' "$i" 0)"); done
lvm_do vgchange "${tags[@]}" data
# Each change a generation after the last; until one runs past the area's end.
wrapped=0
for i in $(seq 25 60); do
    read -r off size msize wrapped last gens < <(python3 "$INTEGRATION_DIR/mda.py" "$T/vdb.raw" 0)
    ((wrapped)) && break
    lvm_do vgchange --addtag "$(printf 'tag%02d-%090d' "$i" 0)" data
done
((wrapped)) || fail "lvm2 never wrapped data's metadata text (last at $off, $size bytes of $msize)"
assert_eq 0 "$last" "vdb: the text's last byte (lvm2's NUL)"
say "vdb: the newest of $gens texts at $off, $size bytes, wrapped round the area's $msize"
read -r off size msize wrapped last gens < <(python3 "$INTEGRATION_DIR/mda.py" "$T/vda.raw" $((1 * MiB)))
assert_eq "0 0" "$wrapped $last" "vda1: the text does not wrap, its last byte is lvm2's NUL"
((off > 512 && gens > 3)) || fail "vda1: the newest text at $off, $gens texts: not several generations"
say "vda1: the newest of $gens texts at $off, $size bytes"

# The runs of VG/LV as disk byte ranges: "OFFSET LENGTH" lines (its PV's
# start on the disk: PV_BASE).
declare -A base=(["$LA"]=$((1 * MiB)) ["$LB"]=$((81 * MiB)) ["$LC"]=0)
lvm_runs() {
    local vg=${1%/*} ext pv first last pe_start
    ext=$(lvm_ask vgs -o vg_extent_size "$vg" | tr -d ' ')
    lvm_ask lvs --segments -o seg_pe_ranges "$1" | tr ' ' '\n' | grep . | while IFS=: read -r pv range; do
        first=${range%-*} last=${range#*-}
        pe_start=$(lvm_ask pvs -o pe_start "$pv" | tr -d ' ')
        echo $((base[$pv] + pe_start + first * ext)) $(((last - first + 1) * ext))
    done
}

# A small tree, as cp -a leaves it: modes, owners, nanosecond times,
# links hard and symbolic, an empty file, a sparse one, deep directories.
tree() { # tree DIR OS-ID
    local d=$1
    mkdir -p "$d/etc" "$d/usr/bin" "$d/home/user/deep/a/b/c/d" "$d/var/empty"
    printf 'ID=%s\nVERSION_ID="9.3"\nNAME="Rocky Linux"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n' "$2" >"$d/etc/os-release"
    printf '/dev/mapper/cl-root / xfs defaults 0 0\n/dev/mapper/cl-home /home ext4 defaults 0 0\n' >"$d/etc/fstab"
    head -c 300000 /dev/urandom >"$d/usr/bin/blob"
    seq 1 20000 >"$d/etc/numbers"
    : >"$d/var/empty/zero"
    printf 'deep\n' >"$d/home/user/deep/a/b/c/d/file"
    truncate -s 5M "$d/home/user/sparse"
    printf 'x' | dd of="$d/home/user/sparse" bs=1 seek=3000000 conv=notrunc status=none
    ln -s ../usr/bin/blob "$d/etc/link"
    ln -s /nowhere/at/all "$d/dangling"
    ln "$d/etc/numbers" "$d/etc/hard"
    chmod 4755 "$d/usr/bin/blob"
    chmod 0600 "$d/etc/numbers"
    chmod 1777 "$d/var/empty"
    chown -R 1000:1001 "$d/home/user"
    touch -d '2021-03-04 05:06:07.123456789' "$d/etc/numbers" "$d/home/user/deep/a"
    touch -h -d '2020-01-02 03:04:05.987654321' "$d/etc/link"
}
# fill VG/LV MKFS...: a file system of the volume's size on a file of its
# own, filled with the tree by cp -a on a loop mount.
fill() {
    local lv=$1 img="$T/fs-${1/\//-}.img" size=0 off len
    shift
    while read -r off len; do size=$((size + len)); done < <(runs "$lv")
    truncate -s "$size" "$img"
    # (mkfs.xfs makes one under 300 MB for xfstests' variables only)
    TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 "$@" "$img" >/dev/null 2>&1 || fail "$* on $lv"
    rm -rf "$T/src" && mkdir -p "$T/src" "$T/fill" && tree "$T/src" rocky
    mount -o loop "$img" "$T/fill"
    also_unmount "$T/fill"
    cp -a "$T/src/." "$T/fill/"
    umount "$T/fill"
}
disk_of() { case $1 in cl/*) echo "$T/vda.raw" ;; *) echo "$T/vdb.raw" ;; esac; }
place() { # place VG/LV: the file system's bytes into its disk, at lvm2's runs
    local lv=$1 img="$T/fs-${1/\//-}.img" off len at=0
    while read -r off len; do
        dd if="$img" of="$(disk_of "$lv")" bs=64k iflag=skip_bytes,count_bytes oflag=seek_bytes conv=notrunc \
            skip="$at" seek="$off" count="$len" status=none
        at=$((at + len))
    done < <(runs "$lv")
}
for lv in cl/root cl/home cl/span data/lv0; do lvm_runs "$lv" >"$T/runs-${lv/\//-}"; done
runs() { cat "$T/runs-${1/\//-}"; }
# lvm2 is done: its loop devices go (the kernel mounts no range of a file
# that a loop device also holds).
losetup -d "$LA" "$LB" "$LC"

say "file systems: cl/root XFS (two runs), cl/home ext4, data/lv0 ext4 (two runs), filled with cp -a"
assert_eq 2 "$(runs cl/root | wc -l)" "cl/root's runs"
assert_eq 2 "$(runs data/lv0 | wc -l)" "data/lv0's runs"
assert_eq 2 "$(runs cl/span | wc -l)" "cl/span's runs (one on each PV)"
fill cl/root mkfs.xfs -q -f
fill cl/home mkfs.ext4 -q -F
fill data/lv0 mkfs.ext4 -q -F
for lv in cl/root cl/home data/lv0; do place "$lv"; done

say "the kernel's own read-only loop mounts of the same bytes"
ref() { # ref NAME VG/LV: mounted at $T/ref-NAME
    local m="$T/ref-$1" off len
    mkdir -p "$m"
    if (($(runs "$2" | wc -l) == 1)); then
        read -r off len < <(runs "$2")
        mount -o loop,ro,offset="$off",sizelimit="$len" "$(disk_of "$2")" "$m"
    else
        : >"$T/lv-$1.img"
        while read -r off len; do
            dd if="$(disk_of "$2")" bs=64k iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none >>"$T/lv-$1.img"
        done < <(runs "$2")
        mount -o loop,ro "$T/lv-$1.img" "$m"
    fi
    also_unmount "$m"
}
ref vda1-cl-root cl/root
ref vda2-cl-home cl/home
ref vda-data-lv0 data/lv0

setup_mount ""
P="$R/private"
mkdir "$P/lvm2"
cp "$T/vda.raw" "$P/lvm2/disks/vda"
mkdir "$P/whole"
qemu-img convert -f raw -O qcow2 "$T/vdb.raw" "$T/vdb.qcow2" # (a raw upload needs an MBR or a GPT: §5.3)
cp "$T/vdb.qcow2" "$P/whole/disks/vda"
for i in lvm2 whole; do
    imgfs_wait --timeout 120 "$P/$i" >/dev/null || { cat "$P/$i/error" >&2; fail "imgfs wait private/$i"; }
done
F="$P/lvm2/files"

say "files/ shows the linear volumes; README names the physical volumes and what is not shown, with why"
assert_eq "README vda1-cl-root vda2-cl-home" "$(ls "$F" | xargs)" "ls private/lvm2/files/"
assert_eq "README vda-data-lv0" "$(ls "$P/whole/files" | xargs)" "ls private/whole/files/"
cat >"$T/readme.want" <<'EOF'
vda1: not shown: an LVM2 physical volume of volume group cl; cl-span not shown (it has runs on another physical volume)
vda2: not shown: an LVM2 physical volume of volume group cl
vda1-cl-root: XFS, read by imgfs's own reader
vda2-cl-home: ext2/3/4, read through libext2fs
EOF
diff "$T/readme.want" "$F/README" >&2 || fail "private/lvm2/files/README"
cat >"$T/readme.want" <<'EOF'
vda: not shown: an LVM2 physical volume of volume group data
vda-data-lv0: ext2/3/4, read through libext2fs
vda-data-pad: not shown: no file system imgfs knows
EOF
diff "$T/readme.want" "$P/whole/files/README" >&2 || fail "private/whole/files/README"

say "each volume against the kernel's mount: every name, type, mode, owner, size, link count, mtime, target, byte"
listing() { (cd "$1" && find . -printf '%P %y %m %U %G %s %n %T@ %l\n' | LC_ALL=C sort); }
for v in vda1-cl-root vda2-cl-home vda-data-lv0; do
    g="$F/$v"
    [[ $v == vda-* ]] && g="$P/whole/files/$v"
    listing "$T/ref-$v" >"$T/$v.want"
    listing "$g" >"$T/$v.got"
    (($(wc -l <"$T/$v.want") > 15)) || fail "$v: the kernel shows $(wc -l <"$T/$v.want") entries"
    diff "$T/$v.want" "$T/$v.got" >&2 || fail "$v: files/ differs from the kernel's mount"
    n=0
    while IFS= read -r -d '' f; do
        cmp "$T/ref-$v/$f" "$g/$f" || fail "$v/$f: the bytes differ from the kernel's"
        n=$((n + 1))
    done < <(cd "$T/ref-$v" && find . -type f -print0)
    ((n >= 7)) || fail "$v: $n files compared"
done

say "the inspection finds the OS on the LVM root"
wait_for 60 grep -q '^status: done$' "$P/lvm2/inspection" || { cat "$P/lvm2/inspection" >&2; fail "not inspected"; }
assert_eq "rocky 9.3 vda1-cl-root" "$(sed -n 's/^platform: //p; s/^version: //p; s/^root: //p' "$P/lvm2/inspection" | xargs)" \
    "the inspection's OS and root"

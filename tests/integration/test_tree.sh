#!/usr/bin/env bash
# SPEC §2, §2.1, §3, §7, §8: the tree of a fresh state directory — regions,
# class directories, the public catalogue, the files of an image directory,
# ids, inode numbers, and that listings are stable.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount

say "regions of a fresh state: cn-east-2 cn-north-1 cn-south-1"
assert_eq "cn-east-2 cn-north-1 cn-south-1" "$(ls "$M/regions" | LC_ALL=C sort | xargs)" "ls regions"
[[ -d "$M/regions" ]] || fail "regions is not a directory"
assert_eq "errors regions stats" "$(ls "$M" | xargs)" "ls of the mount root"

expected_entries=$(printf '%s\n' GUIDE images.csv images.json instances iso marketplace private public \
    quota recycle-bin shared snapshots | LC_ALL=C sort | xargs)
expected_public=$(printf '%s\n' "${CATALOGUE[@]}" | LC_ALL=C sort | xargs)

for region in cn-east-2 cn-north-1 cn-south-1; do
    r="$M/regions/$region"
    say "$region: the 8 class directories, quota, images.csv and images.json"
    assert_eq "$expected_entries" "$(ls "$r" | LC_ALL=C sort | xargs)" "ls $region"
    for d in public marketplace private shared iso recycle-bin snapshots instances; do
        [[ -d "$r/$d" ]] || fail "$r/$d is not a directory"
    done
    for f in quota images.csv images.json GUIDE; do
        [[ -f "$r/$f" ]] || fail "$r/$f is not a regular file"
    done

    say "$region: GUIDE (seed 004 §4.3's custom image guide): read-only, its size its bytes, one text everywhere"
    assert_eq "444 $(wc -c <"$r/GUIDE")" "$(stat -c '%a %s' "$r/GUIDE")" "GUIDE's mode and size"
    assert_eq "Your own images: making, converting and bringing them in" "$(head -n1 "$r/GUIDE")" "GUIDE's title"
    assert_errno EPERM write "$r/GUIDE" x
    [[ $region == cn-east-2 ]] || cmp -s "$r/GUIDE" "$M/regions/cn-east-2/GUIDE" || fail "GUIDE differs between regions"

    say "$region: the 14 public images of the catalogue, exactly"
    assert_eq "$expected_public" "$(public_names "$r" | xargs)" "ls $region/public"

    say "$region: a fresh account has no private, shared, iso, recycle-bin, snapshot or instance entries"
    for d in private shared iso recycle-bin snapshots instances; do
        assert_eq "" "$(ls -A "$r/$d")" "ls $region/$d"
    done

    say "$region: marketplace has images"
    nmarket=$(ls "$r/marketplace" | wc -l)
    ((nmarket >= 1)) || fail "$region/marketplace is empty"

    say "$region: quota of a fresh account (SPEC §8 defaults)"
    while read -r line; do
        assert_match '[a-z-]+ [0-9]+ [0-9]+' "$line" "quota line in $region"
    done <"$r/quota"
    assert_eq "0 5" "$(quota_line "$r" private-images)" "private-images quota"
    assert_eq "0 15" "$(quota_line "$r" snapshots)" "snapshots quota"
    assert_eq "0 5" "$(quota_line "$r" shared-images)" "shared-images quota"
    [[ -n "$(quota_line "$r" shares-per-image)" ]] || fail "quota has no shares-per-image line"
    assert_eq "5" "$(quota_line "$r" shares-per-image | cut -d' ' -f2)" "shares-per-image limit"
done

say "GUIDE's commands are imgfs-images(7)'s (one guide, two places)"
sed 's/\\-/-/g; s/\\e/\\/g' "$INTEGRATION_DIR/../../man/imgfs-images.7" >"$T/guide.7"
n=0
while IFS= read -r line; do
    n=$((n + 1))
    grep -qF -- "${line#    }" "$T/guide.7" || fail "imgfs-images(7) lacks GUIDE's line: ${line#    }"
done < <(grep -E '^    (qemu-img|qemu-system|tar|mkdir|echo|cp|imgfs|cat|R=) ' "$M/regions/cn-north-1/GUIDE")
((n >= 20)) || fail "GUIDE has only $n command lines"

r="$M/regions/cn-north-1"
for n in "${CATALOGUE[@]}"; do
    d="$r/public/$n"
    say "public/$n: every §2.1 file present; values well-formed"
    for e in "${ALL_ENTRIES[@]}"; do
        [[ -e "$d/$e" ]] || fail "$d/$e missing"
        if [[ "$e" == disks || "$e" == files ]]; then
            [[ -d "$d/$e" ]] || fail "$d/$e is not a directory"
        else
            [[ -f "$d/$e" ]] || fail "$d/$e is not a regular file"
            cat "$d/$e" >/dev/null || fail "cat $d/$e failed"
        fi
    done
    for e in convert cancel copies shares expires download; do
        [[ ! -e "$d/$e" ]] || fail "$d/$e exists but §2.1 gives it only to private/iso/recycle-bin images"
    done
    [[ -f "$d/disks/vda" ]] || fail "$d/disks/vda is not a regular file"
    assert_eq "vda" "$(ls "$d/disks")" "ls public/$n/disks"
    assert_match 'img-[0-9a-f]{8}' "$(cat "$d/id")" "public/$n/id"
    assert_eq available "$(cat "$d/status")" "public/$n/status"
    assert_eq 100 "$(cat "$d/progress")" "public/$n/progress"
    assert_eq "local cloud" "$(cat "$d/type")" "public/$n/type"
    assert_eq raw "$(cat "$d/format")" "public/$n/format"
    assert_eq x86_64 "$(cat "$d/arch")" "public/$n/arch (the catalogue is all 64-bit)"
    assert_match 'bios|uefi' "$(cat "$d/boot-mode")" "public/$n/boot-mode"
    assert_match 'yes|no' "$(cat "$d/encrypted")" "public/$n/encrypted"
    assert_match '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z' \
        "$(cat "$d/created")" "public/$n/created (ISO 8601 UTC)"
    size=$(cat "$d/size")
    assert_match '[0-9]+' "$size" "public/$n/size"
    ((size >= 1073741824)) || fail "public/$n/size $size is below 1 GiB"
    assert_eq "$size" "$(stat -c %s "$d/disks/vda")" "stat size of public/$n/disks/vda vs size file"
    first=$(head -n1 "$d/device-mapping")
    assert_match $'vda\t[a-z]+\t[^\t]+\t[0-9]+' "$first" "public/$n/device-mapping first line"
    assert_eq "$size" "${first##*$'\t'}" "size field of the vda line in device-mapping"
    features=$(cat "$d/features")
    for f in $features; do
        assert_match 'cloud-init|qemu-ga|hot-upgrade' "$f" "a word of public/$n/features"
    done
    assert_eq "" "$(cat "$d/task")" "public/$n/task (no task)"
    assert_eq "" "$(cat "$d/error")" "public/$n/error"
    assert_eq "" "$(cat "$d/instances")" "public/$n/instances (the account has no instances)"
    case $n in
        windows-*) os=windows; platform=windows ;;
        centos-*) os=linux; platform=centos ;;
        ubuntu-*) os=linux; platform=ubuntu ;;
    esac
    assert_eq "$os" "$(cat "$d/os-type")" "public/$n/os-type"
    assert_eq "$platform" "$(cat "$d/platform")" "public/$n/platform"
    version=$(cat "$d/version")
    case $n in
        centos-7.2-nat-gateway) assert_eq 7.2 "$version" "public/$n/version" ;;
        centos-* | ubuntu-*) assert_eq "${n#*-}" "$version" "public/$n/version" ;;
        windows-server-*r2-*) assert_eq "$(cut -d- -f3 <<<"$n" | cut -c1-4) R2" "$version" "public/$n/version" ;;
        windows-server-*) assert_eq "$(cut -d- -f3 <<<"$n")" "$version" "public/$n/version" ;;
    esac
    [[ -n "$(cat "$d/owner")" ]] || fail "public/$n/owner is empty"
done

say "marketplace images: every §2.1 file present, status available"
for d in "$r"/marketplace/*/; do
    d=${d%/}; n=${d##*/}
    for e in "${ALL_ENTRIES[@]}"; do
        [[ -e "$d/$e" ]] || fail "$d/$e missing"
    done
    assert_match 'img-[0-9a-f]{8}' "$(cat "$d/id")" "marketplace/$n/id"
    assert_eq available "$(cat "$d/status")" "marketplace/$n/status"
    [[ -f "$d/disks/vda" ]] || fail "$d/disks/vda missing"
done

say "ids are unique across the whole mount (all regions, all classes)"
find "$M/regions" -mindepth 4 -maxdepth 4 -name id -type f -exec cat {} + >"$T/ids"
nids=$(wc -l <"$T/ids")
nimages=$(find "$M/regions" -mindepth 3 -maxdepth 3 -type d | wc -l)
assert_eq "$nimages" "$nids" "number of id files vs number of image directories"
dups=$(sort "$T/ids" | uniq -d)
assert_eq "" "$dups" "duplicate ids"
# 3 regions x 14 public at least
((nids >= 42)) || fail "only $nids ids"

say "inode numbers are unique across the mount"
find "$M" -printf '%i %p\n' >"$T/inodes"
dupino=$(awk '{print $1}' "$T/inodes" | sort | uniq -d | head -n 5)
if [[ -n "$dupino" ]]; then
    grep -E "^($(echo "$dupino" | paste -sd'|')) " "$T/inodes" | head -n 10 >&2
    fail "inode numbers shared by different entries"
fi

say "images.csv: header, one row per visible image, ids match the tree"
for region in cn-east-2 cn-north-1 cn-south-1; do
    rr="$M/regions/$region"
    assert_eq "id,name,class,type,status,os-type,platform,version,arch,boot-mode,size,encrypted,features,created,\
description,project,format,owner" "$(head -n1 "$rr/images.csv" | tr -d '\r')" "$region/images.csv header"
    python3 - "$rr" <<'EOF' || fail "$region/images.csv does not match the tree"
import csv, os, sys
r = sys.argv[1]
with open(os.path.join(r, "images.csv"), newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
header, rows = rows[0], rows[1:]
want = {}
for cls in ("public", "marketplace", "private", "shared", "iso"):
    for n in os.listdir(os.path.join(r, cls)):
        d = os.path.join(r, cls, n)
        rd = lambda e: open(os.path.join(d, e), encoding="utf-8").read().rstrip("\n")
        want[rd("id")] = {"name": n, "class": cls, "status": rd("status"),
                          "size": rd("size"), "type": rd("type"),
                          "os-type": rd("os-type"), "platform": rd("platform"),
                          "version": rd("version"), "arch": rd("arch"),
                          "description": rd("description"), "project": rd("project"),
                          "format": rd("format"), "owner": rd("owner")}
got = {}
for row in rows:
    if len(row) != len(header):
        sys.exit("row with %d fields: %r" % (len(row), row))
    rec = dict(zip(header, row))
    if rec["id"] in got:
        sys.exit("id twice in images.csv: %s" % rec["id"])
    got[rec["id"]] = rec
if set(got) != set(want):
    sys.exit("ids in csv but not in tree: %s; in tree but not in csv: %s"
             % (sorted(set(got) - set(want)), sorted(set(want) - set(got))))
for i, w in want.items():
    for k, v in w.items():
        if got[i][k] != v:
            sys.exit("%s: %s is %r in images.csv, %r in the tree" % (i, k, got[i][k], v))
print("    %d rows agree with the tree" % len(rows))
EOF
done

say "find over the whole mount is stable across two runs"
find "$M/regions" >"$T/find1"
find "$M/regions" >"$T/find2"
n1=$(wc -l <"$T/find1")
((n1 > 1000)) || fail "find printed only $n1 entries"
assert_eq "$n1" "$(wc -l <"$T/find2")" "find | wc -l, second run"
assert_file_eq "$T/find1" "$T/find2" "two find runs"

say "ls -l and ls -lR work on an image directory"
ls -l "$r/public/centos-7.4" >/dev/null
ls -lR "$r/public/centos-7.4" >/dev/null
ls -la "$M/regions/cn-north-1" >/dev/null

say "an unknown name is ENOENT"
assert_errno ENOENT open "$M/regions/nowhere-1" rdonly
assert_errno ENOENT open "$r/public/no-such-image" rdonly
assert_errno ENOENT open "$r/public/centos-7.4/no-such-file" rdonly

#!/usr/bin/env bash
# SPEC §2.1, §16: an image's project group through the mount.  `project` is
# in every image directory; the owner writes it on private and iso images
# at any status (echo, then cat: one line of at most 64 bytes, without
# control characters or bidi overrides: EINVAL with the reason in `error`);
# it keeps a time of its own (a write moves project's mtime, not
# description's); public and shared images' project is read-only (EPERM,
# as their other attributes); images.csv and images.json carry it (and
# format and owner) in their last columns; a remount keeps it; a
# conversion and a copy to another region take it along.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

S="$T/state"
M="$T/alice"
B="$T/bob"
mount_imgfs "$S" "$M" account=alice
mount_imgfs "$S" "$B" account=bob
R="$M/regions/cn-north-1"
P="$R/private"

say "every image has a project file, empty until written; the owner's is mode 644"
mkdir "$P/web"
assert_eq "" "$(cat "$P/web/project")" "a new image's project"
assert_eq 0 "$(stat -c %s "$P/web/project")" "st_size of an empty project"
assert_eq 644 "$(stat -c %a "$P/web/project")" "mode of private/web/project"
for d in "$R/public/centos-7.4" "$R/marketplace/$(ls "$R/marketplace" | head -n1)"; do
    [[ -f "$d/project" ]] || fail "$d/project missing"
    assert_eq "" "$(cat "$d/project")" "$d/project"
done

say "echo writes it, cat and stat read it back; description's time does not move"
desc_mtime=$(mtime_ns "$P/web/description")
proj_mtime=$(mtime_ns "$P/web/project")
echo "shop 前端" >"$P/web/project"
assert_eq "shop 前端" "$(cat "$P/web/project")" "private/web/project"
assert_eq "$(printf 'shop 前端\n' | wc -c)" "$(stat -c %s "$P/web/project")" "st_size of project"
assert_eq "$desc_mtime" "$(mtime_ns "$P/web/description")" "description's mtime after a project write"
(( $(mtime_ns "$P/web/project") > proj_mtime )) || fail "project's mtime did not move"
assert_eq "" "$(cat "$P/web/error")" "error after a good write"

say "64 bytes are kept; 65 are EINVAL with the reason in error, and nothing changes"
p64=$(printf 'p%.0s' {1..64})
echo "$p64" >"$P/web/project"
assert_eq "$p64" "$(cat "$P/web/project")" "a 64-byte project"
assert_errno EINVAL write "$P/web/project" "${p64}q"$'\n'
assert_eq "a project is at most 64 bytes" "$(cat "$P/web/error")" "error after 65 bytes"
assert_eq "$p64" "$(cat "$P/web/project")" "project after the refusal"
assert_logged write "$P/web/project" EINVAL

say "a control character or a bidi override is EINVAL, the character named; one line only"
assert_errno EINVAL write "$P/web/project" $'a\tb\n'
assert_eq "a project cannot hold U+0009 (a control character), at character 2" "$(cat "$P/web/error")" \
    "error after a tab"
assert_errno EINVAL write "$P/web/project" $'esc\x1b[2J\n'
assert_eq "a project cannot hold U+001B (a control character), at character 4" "$(cat "$P/web/error")" \
    "error after an ESC"
assert_errno EINVAL write "$P/web/project" $'rlo \u202e\n'
assert_match '.*U\+202E \(RIGHT-TO-LEFT OVERRIDE\).*' "$(cat "$P/web/error")" "error after a bidi override"
assert_errno EINVAL write "$P/web/project" $'one\ntwo\n'
assert_eq "$p64" "$(cat "$P/web/project")" "project after the refusals"
echo "" >"$P/web/project"
assert_eq "" "$(cat "$P/web/project")" "an empty write clears it"

say "writable at any status (an available image), and on iso images"
mkdir "$R/instances/vm1"
truncate -s 8M "$R/instances/vm1/disks/vda"
capture "$P/web" vm1
echo shop >"$P/web/project"
assert_eq shop "$(cat "$P/web/project")" "an available image's project"
mkdir "$R/iso/installer"
echo installers >"$R/iso/installer/project"
assert_eq installers "$(cat "$R/iso/installer/project")" "iso/installer/project"

say "public, marketplace and shared images' project is read-only: EPERM, as their other files"
pub="$R/public/centos-7.4"
assert_eq "$(errno_of write "$pub/description" "x")" "$(errno_of write "$pub/project" "x")" \
    "public project refused as public description"
assert_errno EPERM write "$pub/project" $'mine\n'
if (echo mine >"$pub/project") 2>/dev/null; then fail "echo mine > public project succeeded"; fi
assert_eq "" "$(cat "$pub/project")" "public project after the refusals"
mkdir "$P/web/shares/bob"
RB="$B/regions/cn-north-1"
assert_eq shop "$(cat "$RB/shared/web@alice/project")" "bob reads the shared image's project"
assert_errno EPERM write "$RB/shared/web@alice/project" $'bobs\n'
assert_eq "$(stat -c %a "$pub/description")" "$(stat -c %a "$pub/project")" "mode of public project"

say "images.csv and images.json: project, format and owner after the columns of old"
python3 - "$R" <<'EOF' || fail "images.csv's new columns"
import csv, os, sys
region = sys.argv[1]
rows = list(csv.reader(open(os.path.join(region, "images.csv"), newline="", encoding="utf-8")))
old = "id,name,class,type,status,os-type,platform,version,arch,boot-mode,size,encrypted,features,created,description"
if rows[0] != old.split(",") + ["project", "format", "owner"]:
    sys.exit("header %r" % rows[0])
by = {(r[2], r[1]): r for r in rows[1:]}
if by[("private", "web")][15:] != ["shop", "raw", "alice"]:
    sys.exit("private/web: %r" % by[("private", "web")][15:])
if by[("iso", "installer")][15:] != ["installers", "iso", "alice"]:
    sys.exit("iso/installer: %r" % by[("iso", "installer")][15:])
if by[("public", "centos-7.4")][15:] != ["", "raw", "platform"]:
    sys.exit("public/centos-7.4: %r" % by[("public", "centos-7.4")][15:])
EOF
assert_eq '["shop","raw","alice"]' \
    "$(jq -c '.[] | select(.name == "web") | [.project, .format, .owner]' "$R/images.json")" "images.json's web"
assert_eq '["project","format","owner"]' "$(jq -c '.[0] | keys_unsorted | .[-3:]' "$R/images.json")" \
    "images.json's last keys"
assert_eq '["shop","raw","alice"]' \
    "$(jq -c '.[] | select(.name == "web@alice") | [.project, .format, .owner]' "$RB/images.json")" \
    "bob's images.json row of the shared image"

say "a conversion and a copy to another region take the project along"
echo "" >"$P/web/convert"
imgfs_wait "$P/web-cloud" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait for the conversion"; }
assert_eq shop "$(cat "$P/web-cloud/project")" "the conversion's project"
mkdir "$P/web-cloud/copies/cn-east-2"
imgfs_wait "$M/regions/cn-east-2/private/web-cloud" >"$T/wait.out" 2>&1 ||
    { cat "$T/wait.out" >&2; fail "imgfs wait for the copy"; }
assert_eq shop "$(cat "$M/regions/cn-east-2/private/web-cloud/project")" "the copy's project"

say "a remount keeps it, and its time"
proj_mtime=$(mtime_ns "$P/web/project")
umount_imgfs "$B"
remount_imgfs "$S" "$M" account=alice
assert_eq shop "$(cat "$P/web/project")" "private/web/project after a remount"
assert_eq installers "$(cat "$R/iso/installer/project")" "iso/installer/project after a remount"
assert_eq "$proj_mtime" "$(mtime_ns "$P/web/project")" "project's mtime after a remount"

#!/usr/bin/env bash
# SPEC §7: images.csv — RFC 4180 (CRLF rows, quoting), UTF-8, the header row
# of §7, one row for every image the caller sees in the region and for
# nothing else, every field equal to the image's own files; descriptions
# with commas, quotes, newlines and non-ASCII text survive a round trip
# through Python's csv module.  §16's columns project, format and owner
# come after the first fifteen, so scripts that index columns keep working.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
imgfs_admin "$S" quota set "$(id -un)" cn-north-1 private-images 10

say "private images whose descriptions need quoting, one in the recycle bin"
mkdir "$R/private/plain" "$R/private/commas" "$R/private/quotes" "$R/private/lines" "$R/private/映像"
printf 'a plain description' >"$R/private/plain/description"
printf 'one, two, three' >"$R/private/commas/description"
printf 'say "hello", then ""twice""' >"$R/private/quotes/description"
printf 'first line\nsecond, "quoted" line\n\nlast, line\nend' >"$R/private/lines/description"
printf '说明：镜像，带逗号' >"$R/private/映像/description"
echo 'shop, "front"' >"$R/private/quotes/project"
echo '前端' >"$R/private/映像/project"
mkdir "$R/instances/vm1"
truncate -s 8M "$R/instances/vm1/disks/vda"
mkdir "$R/private/gone"
printf 'deleted, but listed' >"$R/private/gone/description"
capture "$R/private/gone" vm1
rmdir "$R/private/gone"
[[ -d "$R/recycle-bin/gone" ]] || fail "recycle-bin/gone missing after rmdir"

say "images.csv parsed by Python's csv: header, one row per visible image, fields equal the files"
python3 - "$R" <<'EOF' || fail "images.csv does not match the tree"
import csv, os, sys
region = sys.argv[1]
header = ("id,name,class,type,status,os-type,platform,version,arch,boot-mode,size,encrypted,features,created,"
          "description,project,format,owner")
raw = open(os.path.join(region, "images.csv"), "rb").read()
text = raw.decode("utf-8")                      # UTF-8, or this raises
if not text.startswith(header + "\r\n"):
    sys.exit("header row is not %r + CRLF: %r" % (header, text[:200]))
rows = list(csv.DictReader(open(os.path.join(region, "images.csv"), newline="", encoding="utf-8")))
if not text.endswith("\r\n"):
    sys.exit("the last row does not end with CRLF")

def value(path):
    with open(path, "rb") as f:
        v = f.read().decode("utf-8")
    return v[:-1] if v.endswith("\n") else v

seen = {}
for cls in ("public", "marketplace", "private", "shared", "iso", "recycle-bin"):
    for name in sorted(os.listdir(os.path.join(region, cls))):
        seen[value(os.path.join(region, cls, name, "id"))] = (cls, name)
got = {r["id"]: r for r in rows}
if len(got) != len(rows):
    sys.exit("an id appears twice")
if set(got) != set(seen):
    sys.exit("rows %s, tree %s" % (sorted(set(got) - set(seen)), sorted(set(seen) - set(got))))
for iid, (cls, name) in seen.items():
    r, d = got[iid], os.path.join(region, cls, name)
    if r["class"] != cls or r["name"] != name:
        sys.exit("%s: row says %s/%s, tree %s/%s" % (iid, r["class"], r["name"], cls, name))
    for field in ("type", "status", "os-type", "platform", "version", "arch", "boot-mode", "size",
                  "encrypted", "features", "created", "description", "project", "format", "owner"):
        if r[field] != value(os.path.join(d, field)):
            sys.exit("%s/%s: %s is %r in images.csv, %r in the file" % (cls, name, field, r[field],
                                                                         value(os.path.join(d, field))))
print("    %d rows checked, %d of them private or recycle-bin" %
      (len(rows), sum(1 for r in rows if r["class"] in ("private", "recycle-bin"))))
EOF

say "round trip: the descriptions written come back from images.csv unchanged"
python3 - "$R" <<'EOF' || fail "a description did not survive the round trip"
import csv, os, sys
region = sys.argv[1]
want = {
    "plain": "a plain description",
    "commas": "one, two, three",
    "quotes": 'say "hello", then ""twice""',
    "lines": 'first line\nsecond, "quoted" line\n\nlast, line\nend',
    "映像": "说明：镜像，带逗号",
    "gone": "deleted, but listed",
}
rows = {r["name"]: r for r in csv.DictReader(open(os.path.join(region, "images.csv"), newline="", encoding="utf-8"))}
for name, desc in want.items():
    if name not in rows:
        sys.exit("no row for %s" % name)
    if rows[name]["description"] != desc:
        sys.exit("%s: %r came back as %r" % (name, desc, rows[name]["description"]))
for name, project in (("quotes", 'shop, "front"'), ("映像", "前端"), ("plain", "")):
    if rows[name]["project"] != project:
        sys.exit("%s: project %r came back as %r" % (name, project, rows[name]["project"]))
EOF

say "stat agrees with the bytes read; the file changes when a description does"
size=$(stat -c %s "$R/images.csv")
assert_eq "$size" "$(wc -c <"$R/images.csv")" "st_size of images.csv vs its bytes"
printf 'changed, again' >"$R/private/plain/description"
grep -q '"changed, again"' "$R/images.csv" || fail "images.csv does not show the new description"

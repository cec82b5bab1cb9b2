#!/usr/bin/env bash
# SPEC §7 (images.csv), §6.4 (sharing), issue 70: what one tenant writes
# is no formula in another's spreadsheet.  alice writes descriptions and a
# project beginning with '=', '+', '-', '@' and a tab (OWASP's
# CSV-injection rule; its sixth, a CR, no value of the tree can begin
# with: §2.1 refuses CR bytes) on images she shares with bob; bob's
# images.csv holds each such field quoted and begun with a single quote
# (spreadsheets take it as text), a field that only has one inside
# untouched; the service's own columns (id, size, created, ...) are as
# before, byte for byte; images.json carries the values as written.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

S="$T/state"
M="$T/alice"
B="$T/bob"
mount_imgfs "$S" "$M" account=alice
mount_imgfs "$S" "$B" account=bob
RA="$M/regions/cn-north-1"
RB="$B/regions/cn-north-1"
imgfs_admin "$S" quota set alice cn-north-1 private-images 10
imgfs_admin "$S" quota set bob cn-north-1 shared-images 10

say "alice: five queued images whose descriptions begin with a formula's first character, shared with bob"
# name -> description (printf escapes); the sixth's '=' is inside, not first
declare -A desc=(
    [eq]='=HYPERLINK("http://127.0.0.1/x","click")'
    [plus]='+1+2'
    [minus]='-2+3'
    [at]='@SUM(1,2)'
    [tab]='\t=1+1'
    [inside]='a = b, c'
)
for name in eq plus minus at tab inside; do
    mkdir "$RA/private/$name"
    printf -- "${desc[$name]}" >"$RA/private/$name/description"
    mkdir "$RA/private/$name/shares/bob"
done
printf -- '=cmd|" /C calc"!A0' >"$RA/private/eq/project"

say "bob's images.csv: each formula field quoted and begun with a single quote, the others as before"
python3 - "$RB/images.csv" "$RB/images.json" <<'PY' || fail "bob's images.csv carries a formula"
import csv, io, json, sys
raw = open(sys.argv[1], "rb").read()
rows = {r["name"]: r for r in csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""))}
want = {"eq": '=HYPERLINK("http://127.0.0.1/x","click")', "plus": "+1+2", "minus": "-2+3",
        "at": "@SUM(1,2)", "tab": "\t=1+1"}
for name, d in want.items():
    r = rows["%s@alice" % name]
    if r["description"] != "'" + d:
        sys.exit("%s: description %r, not %r" % (name, r["description"], "'" + d))
    # the bytes: the field opens with a quote and the single quote
    field = '"\'' + d.replace('"', '""') + '"'
    if field.encode() not in raw:
        sys.exit("%s: no field %r in the bytes" % (name, field))
if rows["inside@alice"]["description"] != "a = b, c":
    sys.exit("inside: %r" % rows["inside@alice"]["description"])
if b'"\'a = b' in raw:
    sys.exit("a description with '=' inside was changed")
if rows["eq@alice"]["project"] != "'=cmd|\" /C calc\"!A0":
    sys.exit("project %r" % rows["eq@alice"]["project"])
# No field of any row begins with a formula's character once parsed
# (the header and the service's own columns included).
for r in rows.values():
    for k, v in r.items():
        if v[:1] in ("=", "+", "-", "@", "\t", "\r"):
            sys.exit("%s: %s begins with %r" % (r["name"], k, v[:1]))
# images.json: the values as written
js = {o["name"]: o for o in json.load(open(sys.argv[2]))}
for name, d in want.items():
    if js["%s@alice" % name]["description"] != d:
        sys.exit("images.json %s: %r" % (name, js["%s@alice" % name]["description"]))
PY

say "the service's own columns are the files' bytes, unquoted (size, created, id, status, owner)"
python3 - "$RB" <<'PY' || fail "a column the service writes was changed"
import csv, io, os, sys
rb = sys.argv[1]
raw = open(os.path.join(rb, "images.csv"), "rb").read().decode()
lines = raw.split("\r\n")
for r in csv.DictReader(io.StringIO(raw, newline="")):
    d = os.path.join(rb, r["class"], r["name"])
    for k in ("id", "size", "created", "status", "owner", "encrypted"):
        v = open(os.path.join(d, k)).read().rstrip("\n")
        if r[k] != v:
            sys.exit("%s %s: %r in images.csv, %r in the file" % (r["name"], k, r[k], v))
    line = next(l for l in lines if l.startswith(r["id"] + ","))
    for k in ("size", "created"):
        if "," + r[k] + "," not in line:
            sys.exit("%s: %s %r is not a bare field of %r" % (r["name"], k, r[k], line))
PY

say "alice's own images.csv neutralises her own values too"
grep -qF "\"'=HYPERLINK(\"\"http" "$RA/images.csv" || fail "alice's images.csv: $(grep -F HYPERLINK "$RA/images.csv")"
echo "PASS"

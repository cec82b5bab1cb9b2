#!/usr/bin/env bash
# SPEC §15, §7: beside every images.csv, images.json — an array of objects,
# one per row of images.csv and in its order, keys its header's column
# names, size a JSON number, every other value a string.  jq's reading of
# images.json equals Python's csv reading of images.csv in every region, for
# two accounts (alice's private and recycle-bin rows; bob's shared
# row), descriptions needing JSON escapes (quote, backslash, control
# characters, non-ASCII) included; st_size equals the bytes read; it is in
# the region's listing and follows a change like images.csv does.
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

say "alice: private images whose descriptions need JSON escapes, one shared with bob, one in the recycle bin"
# Names (§10) are letters, digits, . _ -: none needs an escape but the
# non-ASCII ones; descriptions are free text.
mkdir "$RA/private/plain" "$RA/private/quotes" "$RA/private/ctl" "$RA/private/映像-1"
printf 'a plain description' >"$RA/private/plain/description"
printf 'say "hi" \\ back\\slash \\u0041 /slash/' >"$RA/private/quotes/description"
# A description holds no control character but tab and newline (§9).
printf 'tab\there\nline two\n\nend' >"$RA/private/ctl/description"
printf '说明：镜像，带逗号 😀' >"$RA/private/映像-1/description"
printf 'shop "front" \\ 前端' >"$RA/private/quotes/project"  # §16: one line, escapes in JSON
mkdir "$RA/instances/vm1"
truncate -s 8M "$RA/instances/vm1/disks/vda"
mkdir "$RA/private/golden" "$RA/private/gone"
printf 'shared, with "bob"' >"$RA/private/golden/description"
capture "$RA/private/golden" vm1
capture "$RA/private/gone" vm1
rmdir "$RA/private/gone"
[[ -d "$RA/recycle-bin/gone" ]] || fail "recycle-bin/gone missing after rmdir"
mkdir "$RA/private/golden/shares/bob"
[[ -d "$RB/shared/golden@alice" ]] || fail "bob does not see shared/golden@alice"

# same_rows REGION_DIR: jq over images.json equals csv over images.csv
# (both as lists of dicts of strings, in order); st_size equals the bytes.
same_rows() {
    local r=$1
    [[ -f "$r/images.json" ]] || fail "$r/images.json is not a regular file"
    assert_eq "$(stat -c %s "$r/images.json")" "$(wc -c <"$r/images.json")" "st_size of $r/images.json vs its bytes"
    assert_eq "$(stat -c %s "$r/images.csv")" "$(wc -c <"$r/images.csv")" "st_size of $r/images.csv vs its bytes"
    # jq -c: one compact object a line, numbers as jq prints them.
    jq -e 'type == "array" and all(.[]; type == "object")' "$r/images.json" >/dev/null \
        || fail "$r/images.json is not an array of objects"
    jq -c '.[]' "$r/images.json" >"$T/rows.jsonl" || fail "jq cannot read $r/images.json"
    python3 - "$r" "$T/rows.jsonl" <<'PY' || fail "$r: images.json and images.csv differ"
import csv, json, os, sys
region, jsonl = sys.argv[1], sys.argv[2]
with open(os.path.join(region, "images.csv"), newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    header = reader.fieldnames
    want = [dict(row) for row in reader]
got = []
with open(jsonl, encoding="utf-8") as f:
    for line in f:
        obj = json.loads(line)
        if list(obj) != header:
            sys.exit("keys %r, header %r" % (list(obj), header))
        if not isinstance(obj["size"], int):
            sys.exit("size is not a JSON integer: %r" % obj["size"])
        for k, v in obj.items():
            if k != "size" and not isinstance(v, str):
                sys.exit("%s is not a string: %r" % (k, v))
        got.append({k: str(v) for k, v in obj.items()})
if got != want:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            sys.exit("row %d: json %r, csv %r" % (i, g, w))
    sys.exit("%d objects in images.json, %d rows in images.csv" % (len(got), len(want)))
print("    %s: %d rows, the same" % (region, len(got)))
PY
}

say "every region, both accounts: images.json is images.csv's rows"
for mnt in "$M" "$B"; do
    for region in cn-east-2 cn-north-1 cn-south-1; do
        same_rows "$mnt/regions/$region"
    done
done

say "the classes seen: alice public, marketplace, private, recycle-bin; bob public, marketplace, shared"
assert_eq "marketplace private public recycle-bin" \
    "$(jq -r '[.[].class] | unique | join(" ")' "$RA/images.json")" "alice's classes"
assert_eq "marketplace public shared" \
    "$(jq -r '[.[].class] | unique | join(" ")' "$RB/images.json")" "bob's classes"
assert_eq 1 "$(jq '[.[] | select(.name == "golden@alice")] | length' "$RB/images.json")" "bob's shared row"
assert_eq 0 "$(jq '[.[] | select(.class == "private")] | length' "$RB/images.json")" "bob sees no private rows"

say "escapes: the descriptions come back from jq byte for byte (the file adds a newline); controls are \\u00XX"
for name in plain quotes ctl 映像-1; do
    assert_eq "$(od -An -tx1 "$RA/private/$name/description")" \
        "$({ jq -j --arg n "$name" '.[] | select(.name == $n) | .description' "$RA/images.json"; echo; } | od -An -tx1)" \
        "description of $name through images.json"
done
grep -qF '"tab\u0009here\u000aline two\u000a\u000aend"' "$RA/images.json" \
    || fail "control characters are not escaped as \\u00XX"
grep -qF '"say \"hi\" \\ back\\slash \\u0041 /slash/"' "$RA/images.json" \
    || fail "quote and backslash are not escaped"
grep -qF '说明：镜像，带逗号 😀' "$RA/images.json" || fail "non-ASCII text is not kept as UTF-8"

say "§16's keys come last: project, format, owner; a project comes back byte for byte"
assert_eq '["description","project","format","owner"]' "$(jq -c '.[0] | keys_unsorted | .[-4:]' "$RA/images.json")" \
    "images.json's last keys"
assert_eq 'shop "front" \ 前端' "$(jq -r '.[] | select(.name == "quotes") | .project' "$RA/images.json")" \
    "project of quotes through images.json"
assert_eq '["alice","raw"]' "$(jq -c '.[] | select(.name == "golden@alice") | [.owner, .format]' "$RB/images.json")" \
    "owner and format of bob's shared row"

say "listed beside images.csv, read-only; a change shows in both"
assert_match ".*images.csv images.json.*" "$(ls "$RA" | LC_ALL=C sort | xargs)" "ls of the region"
w=$(errno_of write "$RA/images.json" x)
assert_ne OK "$w" "a write into images.json"
assert_eq "$(errno_of write "$RA/images.csv" x)" "$w" "a write into images.json refused like one into images.csv"
printf 'changed, "again"' >"$RA/private/plain/description"
assert_eq 'changed, "again"' "$(jq -r '.[] | select(.name == "plain") | .description' "$RA/images.json")" \
    "images.json after a description change"
same_rows "$RA"
rmdir "$RA/private/ctl" # queued: removed, not recycled (§6.1)
assert_eq 0 "$(jq '[.[] | select(.name == "ctl")] | length' "$RA/images.json")" \
    "the removed ctl in images.json"
same_rows "$RA"

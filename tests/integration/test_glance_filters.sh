#!/usr/bin/env bash
# test_glance_filters.sh — the image list's filters and operators as
# Glance 25 (Zed) has them (SPEC §19.4; glance/db/sqlalchemy/api.py's
# _make_conditions_from_filters and glance/common/utils.py): id, and name,
# status and the formats with eq or in: (a quoted value holding commas),
# created_at and updated_at with gt, gte, lt, lte, eq, neq against an ISO
# 8601 time, sizes with _min and _max, os_hash_value, checksum, min_disk,
# (served with --glance-hash-algo sha512: checksum what md5sum prints,
# os_hash_value sha512sum's, both hashed as the PUT's body arrived),
# tags repeated (all of them), properties; and each refusal Glance gives
# (an unknown operator, a time that is not one, a bad in: list,
# changes-since), never an ignored filter.  curl only, to 127.0.0.1.
source "$(dirname "$0")/lib.sh"

for tool in curl jq python3 sha256sum md5sum sha512sum; do
    command -v "$tool" >/dev/null || fail "$tool is needed (scripts/install-deps)"
done

setup_mount
ME=$(id -un)
TOK=$(imgfs_admin "$S" token "$ME" 1h | cut -d' ' -f1)
say "--glance-hash-algo takes sha256 or sha512, with --glance"
for bad in "--glance --glance-hash-algo md5" "--glance --glance-hash-algo SHA512" "--glance-hash-algo sha512"; do
    # shellcheck disable=SC2086
    "$IMGFS" serve --state "$S" --listen 127.0.0.1:0 $bad >/dev/null 2>"$T/opt.err" && fail "serve $bad started"
    assert_eq 2 "$?" "serve $bad: exit 2"
    assert_match '.*--glance-hash-algo.*' "$(head -1 "$T/opt.err")" "serve $bad: the reason names it"
done
"$IMGFS" serve --state "$S" --listen 127.0.0.1:0 --glance --glance-hash-algo sha512 \
    --log "$T/serve.log" 2>"$T/serve.err" &
SERVE_PID=$!
at_exit "kill $SERVE_PID; wait $SERVE_PID"
wait_for 10 grep -qs 'listening on' "$T/serve.log" || { cat "$T/serve.err" >&2; fail "imgfs serve did not start"; }
PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')
U=http://127.0.0.1:$PORT/v2

python3 -c "
import os
with open('$T/disk.raw', 'wb') as f:
    f.truncate(2 << 20); f.write(b'\xeb\x63' + os.urandom(508) + b'\x55\xaa')
"
SHA=$(sha512sum "$T/disk.raw" | cut -d' ' -f1) SHA256=$(sha256sum "$T/disk.raw" | cut -d' ' -f1)
MD5=$(md5sum "$T/disk.raw" | cut -d' ' -f1)
# create NAME JSON-EXTRA: an image (queued) with the extra attributes.
create() {
    curl -sf -H "X-Auth-Token: $TOK" -H 'Content-Type: application/json' \
        --data "{\"name\": \"$1\", \"disk_format\": \"raw\", \"container_format\": \"bare\"$2}" "$U/images" | jq -r .id
}
A=$(create a ', "min_disk": 3, "tags": ["x", "y"], "hw_foo": "1"')
B=$(create b ', "tags": ["x"]')
CD=$(create 'c,d' '')
curl -sf -X PUT -H "X-Auth-Token: $TOK" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$T/disk.raw" "$U/images/$A/file" || fail "upload of a"

# ids QUERY: the ids of the caller's own images the query lists (sorted).
MINE=" $A $B $CD "
ids() {
    curl -sf -g -H "X-Auth-Token: $TOK" "$U/images?$1" | jq -r '.images[].id' |
        while read -r i; do [[ $MINE == *" $i "* ]] && echo "$i"; done | sort | tr '\n' ' ' | sed 's/ $//'
}
want() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
# refused QUERY TEXT: 400 with TEXT in the body.
refused() {
    local code
    code=$(curl -s -g -o "$T/body" -w '%{http_code}' -H "X-Auth-Token: $TOK" "$U/images?$1")
    [[ $code == 400 ]] || fail "?$1: $code, Glance says 400"
    grep -qF "$2" "$T/body" || fail "?$1: the reason is $(cat "$T/body"), not '$2'"
}

say "unfiltered: the three"
assert_eq "$(want "$A" "$B" "$CD")" "$(ids '')" "all three"
say "id, and name/status/formats with eq and in:"
assert_eq "$B" "$(ids "id=$B")" "id="
assert_eq "$(want "$A" "$B")" "$(ids "id=in:$A,$B")" "id=in:"
assert_eq "$(want "$A" "$B")" "$(ids 'name=in:a,b')" "name=in:a,b"
assert_eq "$CD" "$(ids 'name=in:%22c,d%22')" 'name=in:"c,d"'
assert_eq "$(want "$A" "$CD")" "$(ids 'name=in:%22c,d%22,a')" 'name=in:"c,d",a'
assert_eq "$A" "$(ids 'name=eq:a')" "name=eq:a"
assert_eq "$A" "$(ids 'status=active')" "status=active"
assert_eq "$(want "$A" "$B" "$CD")" "$(ids 'status=in:active,queued')" "status=in:"
assert_eq "$(want "$B" "$CD")" "$(ids 'status=in:queued,killed')" "status=in: queued"
assert_eq "$(want "$A" "$B" "$CD")" "$(ids 'disk_format=in:raw,qcow2')" "disk_format=in:"
assert_eq "" "$(ids 'container_format=in:ova,docker')" "container_format=in: none"
say "created_at and updated_at with their operators"
assert_eq "" "$(ids 'created_at=gte:2100-01-01T00:00:00Z')" "created in the future: none"
assert_eq "$(want "$A" "$B" "$CD")" "$(ids 'created_at=lt:2100-01-01T00:00:00Z')" "created before 2100"
assert_eq "$(want "$A" "$B" "$CD")" "$(ids 'created_at=gt:2000-01-01')" "created after 2000 (a date)"
assert_eq "$(want "$A" "$B" "$CD")" "$(ids 'created_at=neq:2000-01-01T00:00:00%2B01:00')" "neq, with a zone"
assert_eq "" "$(ids 'updated_at=lte:1999-12-31T23:59:59Z')" "updated before 2000: none"
CREATED=$(curl -sf -H "X-Auth-Token: $TOK" "$U/images/$B" | jq -r .created_at)
assert_match ".*$B.*" "$(ids "created_at=eq:$CREATED")" "eq: the time shown"
assert_match ".*$B.*" "$(ids "created_at=$CREATED")" "a time alone (its colons are no operator): eq"
assert_eq "" "$(ids "created_at=gt:$CREATED" | grep -o "$B" || true)" "gt: the time shown, not after itself"
assert_eq "$(want "$A" "$B" "$CD")" "$(ids 'created_at=gt:2000')" "a year alone is a time (its first day)"
assert_eq "" "$(ids 'created_at=lt:2000-01')" "a month alone too"
refused 'created_at=gte:2000-01-01T' 'Bad "created_at" query filter format.'
refused 'created_at=gte:2000-01-01Z' 'Bad "created_at" query filter format.'
say "sizes, hashes, numbers, tags, properties"
assert_eq "$A" "$(ids 'size_min=1')" "size_min"
assert_eq "" "$(ids 'size_max=1')" "size_max below"
assert_eq "$MD5 sha512 $SHA" "$(curl -sf -H "X-Auth-Token: $TOK" "$U/images/$A" |
    jq -r '"\(.checksum) \(.os_hash_algo) \(.os_hash_value)"')" "checksum is md5sum's, os_hash sha512sum's"
assert_eq "$A" "$(ids "os_hash_value=$SHA")" "os_hash_value"
assert_eq "" "$(ids "os_hash_value=$SHA256")" "os_hash_value: the SHA-256 is not the one shown"
assert_eq "$A" "$(ids "checksum=$MD5")" "checksum"
assert_eq "" "$(ids 'checksum=d41d8cd98f00b204e9800998ecf8427e')" "checksum of no image: none"
assert_eq "$A" "$(ids 'min_disk=3')" "min_disk"
assert_eq "$A" "$(ids 'min_disk_min=2')" "min_disk_min"
assert_eq "$(want "$B" "$CD")" "$(ids 'min_disk_max=2')" "min_disk_max"
assert_eq "$(want "$A" "$B")" "$(ids 'tag=x')" "tag=x"
assert_eq "$A" "$(ids 'tag=x&tag=y')" "tag=x&tag=y: both"
assert_eq "$A" "$(ids 'hw_foo=1')" "a property"
assert_eq "" "$(ids 'hw_foo=2')" "a property's other value"
say "as Glance's SQL has them: a filter twice counts its last value, text against a number none"
assert_eq "$A" "$(ids 'name=b&name=a')" "name twice: the last"
assert_eq "$B" "$(ids "id=$A&id=$B")" "id twice: the last"
assert_eq "$A" "$(ids 'hw_foo=2&hw_foo=1')" "a property twice: the last"
assert_eq "$CD" "$(ids 'created_at=gt:2100-01-01&created_at=lt:2100-01-01&name=in:%22c,d%22')" "created_at twice"
assert_eq "$A" "$(ids 'size=2097152')" "size= a number"
for q in 'size=x' 'min_disk=' 'min_disk=gt:1' 'min_ram=-1' 'virtual_size=1.0' 'checksum=' 'visibility='; do
    assert_eq "" "$(ids "$q")" "$q: none"
done
assert_eq "$(want "$A" "$B")" "$(ids 'tag=%20x%09')" "a tag's blanks stripped"
assert_eq "$(want "$A" "$B" "$CD")" "$(ids 'os_hidden=FALSE')" "os_hidden in capitals"
refused 'protected=True' "Invalid value 'True' for 'protected' filter. Valid values are 'true' or 'false'."
assert_eq "$(want "$A" "$B" "$CD")" "$(ids 'visibility=shared&member_status=all')" \
    "visibility=shared with member_status: the caller's own shared images too"
say "refusals, in Glance's words"
refused 'name=foo:bar' "Unable to filter by unknown operator 'foo'."
refused 'name=gt:a' "Unable to filter by unknown operator 'gt'."
refused 'created_at=gte:garbage' 'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.'
refused 'updated_at=in:2000-01-01' "Unable to filter on a unknown operator."
refused 'name=in:%22a' "The quote is not closed."
refused 'name=in:a%22b%22' "There is no comma before opening quotation mark."
refused 'changes-since=2000-01-01' 'The "changes-since" filter is no longer available on v2.'
refused 'size_min=abc' "size_min is a whole number"
refused 'visibility=everyone' "visibility is"
say "orders of several keys, as Glance's (ties by creation), at most 4 keys"
# order QUERY: the caller's own images in the order listed.
order() {
    curl -sf -g -H "X-Auth-Token: $TOK" "$U/images?$1" | jq -r '.images[].id' |
        while read -r i; do [[ $MINE == *" $i "* ]] && echo "$i"; done | tr '\n' ' ' | sed 's/ $//'
}
assert_eq "$A $CD $B" "$(order 'sort=status:asc,name:desc')" "sort=status:asc,name:desc"
assert_eq "$A $B $CD" "$(order 'sort_key=status&sort_key=name&sort_dir=asc')" "one sort_dir for both keys"
assert_eq "$B $CD $A" "$(order 'sort_key=status&sort_key=name&sort_dir=desc&sort_dir=asc')" "a sort_dir each"
assert_eq "$A $B $CD" "$(order 'sort=status:asc,name:asc,size,id')" "4 keys"
refused 'sort=status,name,size,id,owner' "at most 4 sort keys"
refused 'sort_key=name&sort_key=status&sort_key=size&sort_dir=asc&sort_dir=desc' \
    "Number of sort dirs does not match the number of sort keys"
refused 'sort=name&sort_key=name' "Old and new sorting syntax cannot be combined"
refused 'sort=' "Invalid sort key"
refused 'sort=,name' "Invalid sort key"
refused 'sort=name,' "Invalid sort key"
refused 'sort=name:%20,id' "Invalid sort direction"
assert_eq "$CD $B $A" "$(order 'sort=name:')" "sort=name: (no direction: desc)"
assert_eq "$A $B $CD" "$(order 'sort=%20name%20:%20asc%20')" "a key and direction stripped"
assert_eq "$A $B $CD" "$(order 'sort_key=%20name&sort_dir=asc%20')" "sort_key and sort_dir stripped"
say "a tag of 255 bytes is one, of 256 is 400 (not 404); a patch as plain JSON is 415"
tag_put() { curl -s -o "$T/body" -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOK" "$U/images/$B/tags/$1"; }
assert_eq 204 "$(tag_put "$(printf 't%.0s' $(seq 255))")" "a 255-byte tag"
assert_eq 400 "$(tag_put "$(printf 't%.0s' $(seq 256))")" "a 256-byte tag"
assert_eq 415 "$(curl -s -o "$T/body" -w '%{http_code}' -X PATCH -H "X-Auth-Token: $TOK" \
    -H 'Content-Type: application/json' --data '[{"op": "replace", "path": "/name", "value": "x"}]' \
    "$U/images/$B")" "a patch sent as application/json"
assert_eq b "$(curl -sf -H "X-Auth-Token: $TOK" "$U/images/$B" | jq -r .name)" "nothing changed"
say "ok"

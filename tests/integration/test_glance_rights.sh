#!/usr/bin/env bash
# test_glance_rights.sh — who may do what to an image through the image API
# (SPEC §19.4 "Who may do what", model/include/rights.h): every image route
# tried by every relation a caller can have to one private image — its
# owner, a member pending, accepted and rejected, a stranger, an
# administrator, a main account over its sub-account's image — and on the
# platform's public and marketplace images, each answer's status compared
# with the table's.  A right missing from a route, a cell of the table
# flipped, or a handler that answers before the dispatcher asked, fails a
# row here.  curl only, all traffic to 127.0.0.1.
source "$(dirname "$0")/lib.sh"

for tool in curl jq python3; do
    command -v "$tool" >/dev/null || fail "$tool is needed (scripts/install-deps)"
done

setup_mount
ME=$(id -un)
for a in bob carol; do imgfs_admin "$S" account add "$a" >/dev/null; done
imgfs_admin "$S" account add boss --admin >/dev/null
imgfs_admin "$S" account add acme >/dev/null
imgfs_admin "$S" account add acme-dev --parent acme >/dev/null
declare -A TOK
for a in "$ME" bob carol boss acme acme-dev; do
    TOK[$a]=$(imgfs_admin "$S" token "$a" 1h | cut -d' ' -f1)
    [[ ${#TOK[$a]} == 64 ]] || fail "no token for $a"
done

"$IMGFS" serve --state "$S" --listen 127.0.0.1:0 --glance --log "$T/serve.log" 2>"$T/serve.err" &
SERVE_PID=$!
at_exit "kill $SERVE_PID; wait $SERVE_PID"
wait_for 10 grep -qs 'listening on' "$T/serve.log" || { cat "$T/serve.err" >&2; fail "imgfs serve did not start"; }
PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')
U=http://127.0.0.1:$PORT/v2

# code AS METHOD PATH [BODY]: the status of one request as account AS.
code() {
    local as=$1 method=$2 path=$3 body=${4:-}
    local args=(-s -o "$T/body" -w '%{http_code}' -X "$method" -H "X-Auth-Token: ${TOK[$as]}")
    # one Content-Type: a patch's own (a second one, plain JSON, is 415 as Glance's)
    local ctype=application/json
    [[ $method != PATCH ]] || ctype=application/openstack-images-v2.1-json-patch
    [[ -z $body ]] || args+=(-H "Content-Type: $ctype" --data "$body")
    curl "${args[@]}" "$U$path"
}
# expect AS STATUS METHOD PATH [BODY]
expect() {
    local as=$1 want=$2 got
    got=$(code "$as" "${@:3}")
    [[ $got == "$want" ]] || fail "$as $3 $4: $got, the table says $want ($(head -c 200 "$T/body"))"
}

python3 -c "
import os
with open('$T/disk.raw', 'wb') as f:
    f.truncate(2 << 20); f.write(b'\xeb\x63' + os.urandom(508) + b'\x55\xaa')
"
# new_image AS NAME: an available raw image of AS's, through the API.
new_image() {
    local id
    id=$(curl -sf -H "X-Auth-Token: ${TOK[$1]}" -H 'Content-Type: application/json' \
        --data "{\"name\": \"$2\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}" "$U/images" | jq -r .id)
    [[ $id =~ ^[0-9a-f-]{36}$ ]] || fail "no image $2 for $1"
    curl -sf -X PUT -H "X-Auth-Token: ${TOK[$1]}" -H 'Content-Type: application/octet-stream' \
        --data-binary @"$T/disk.raw" "$U/images/$id/file" || fail "upload of $2"
    echo "$id"
}

say "an image of $ME's, shared with bob"
WEB=$(new_image "$ME" web)
expect "$ME" 200 PATCH "/images/$WEB" '[{"op": "replace", "path": "/visibility", "value": "shared"}]'
expect "$ME" 200 POST "/images/$WEB/members" '{"member": "bob"}'

# rows CALLER STATUS...: one caller's answers to the image routes, in order:
# show, file (a range), tasks, members, a member (bob), PATCH, tag add,
# tag delete, member add, member remove (carol, not there), bob's answer,
# deactivate, reactivate, import, stage.
ROUTES=(
    "GET /images/$WEB"
    "GET /images/$WEB/file"
    "GET /images/$WEB/tasks"
    "GET /images/$WEB/members"
    "GET /images/$WEB/members/bob"
    "PATCH /images/$WEB [{\"op\":\"add\",\"path\":\"/x_k\",\"value\":\"v\"}]"
    "PUT /images/$WEB/tags/t1"
    "DELETE /images/$WEB/tags/t1"
    "POST /images/$WEB/members {\"member\":\"acme\"}"
    "DELETE /images/$WEB/members/acme"
    "PUT /images/$WEB/members/bob {\"status\":\"pending\"}"
    "POST /images/$WEB/actions/deactivate"
    "POST /images/$WEB/actions/reactivate"
    "POST /images/$WEB/import {\"method\":{\"name\":\"glance-direct\"}}"
)
rows() {
    local as=$1 i=0 r method path body
    shift
    for r in "${ROUTES[@]}"; do
        read -r method path body <<<"$r"
        expect "$as" "${@:$((i + 1)):1}" "$method" "$path" "$body"
        i=$((i + 1))
    done
    ((i == $#)) || fail "rows $as: $# statuses for $i routes"
}

say "a stranger: the image does not exist (404) on every route"
rows carol 404 404 404 404 404 404 404 404 404 404 404 404 404 404
say "bob, pending: sees it, builds from it, answers; reads no byte, changes nothing"
rows bob 200 403 200 200 200 403 403 403 403 403 200 403 403 403
assert_eq bob "$(jq -r '.members[].member_id' < <(curl -sf -H "X-Auth-Token: ${TOK[bob]}" "$U/images/$WEB/members"))" \
    "a member lists its own share only"
expect bob 200 PUT "/images/$WEB/members/bob" '{"status":"accepted"}'
say "bob, accepted: the same"
rows bob 200 403 200 200 200 403 403 403 403 403 200 403 403 403
expect bob 200 PUT "/images/$WEB/members/bob" '{"status":"rejected"}'
say "bob, rejected: sees it by id and answers, nothing else"
rows bob 200 403 200 200 200 403 403 403 403 403 200 403 403 403
expect bob 200 PUT "/images/$WEB/members/bob" '{"status":"accepted"}'
say "an administrator: sees and reads a tenant's image, changes nothing; no member of it"
rows boss 200 200 200 200 404 403 403 403 403 403 404 403 403 403
assert_eq 0 "$(curl -sf -H "X-Auth-Token: ${TOK[boss]}" "$U/images/$WEB/members" | jq '.members | length')" \
    "an administrator sees no member"
say "the owner: every route (its own answer 403; the import of an active image 409)"
rows "$ME" 200 200 200 200 200 200 204 204 200 204 403 204 204 409
assert_eq bob "$(curl -sf -H "X-Auth-Token: ${TOK[$ME]}" "$U/images/$WEB/members" | jq -r '[.members[].member_id] | join(" ")')" \
    "the owner lists every member"
expect "$ME" 403 PUT "/images/$WEB/members/bob" '{"status":"accepted"}'
assert_match ".*only the member answers a share.*" "$(cat "$T/body")" "the owner's answer, its reason"

say "deactivated: its data is the administrators' only, through every face (the model's one rule)"
imgfs_admin "$S" download-url "http://127.0.0.1:$PORT/"
echo "link 1h" >"$R/private/web/download"
LINK=$(cut -d' ' -f1 "$R/private/web/download")
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$LINK")" "the link, active"
expect "$ME" 204 POST "/images/$WEB/actions/deactivate"
expect "$ME" 403 GET "/images/$WEB/file"
assert_match '.*has been deactivated.*' "$(cat "$T/body")" "the reason"
expect boss 200 GET "/images/$WEB/file"
expect bob 403 GET "/images/$WEB/file"
# The tree asks the same question: the owner's disk and files/, a link
# made before, and a new link.
assert_errno EACCES read "$R/private/web/disks/vda"
assert_match '.*deactivated: its disks are read by administrators only.*' "$(cat "$M/errors")" "the tree's reason"
assert_errno EACCES listdir "$R/private/web/files/vda"
assert_eq 403 "$(curl -s -o "$T/linkbody" -w '%{http_code}' "$LINK")" "a link made before, deactivated"
assert_match '.*deactivated.*' "$(cat "$T/linkbody")" "the link's reason"
assert_errno EACCES write "$R/private/web/download" $'link 1h\n'
expect "$ME" 204 POST "/images/$WEB/actions/reactivate"
expect "$ME" 200 GET "/images/$WEB/file"
cmp "$T/body" "$T/disk.raw" || fail "the owner's download differs from the upload"
cmp "$R/private/web/disks/vda" "$T/disk.raw" || fail "the owner's disk, reactivated"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$LINK")" "the link, reactivated"
echo revoke >"$R/private/web/download"

say "a main account over its sub-account's image: sees and reads, changes nothing"
DEV=$(new_image acme-dev dev)
expect acme 200 GET "/images/$DEV"
expect acme 200 GET "/images/$DEV/file"
expect acme 403 PATCH "/images/$DEV" '[{"op":"add","path":"/x_k","value":"v"}]'
expect acme 403 DELETE "/images/$DEV"
expect acme-dev 404 GET "/images/$WEB" # a sub-account sees nothing of another's
expect "$ME" 404 GET "/images/$DEV"

say "the platform's images: public ones are read by anyone, marketplace ones only make instances"
PUB=$(cat "$R/public/centos-7.4/uuid")
MKT=$(cat "$(ls -d "$R"/marketplace/* | head -n1)/uuid")
curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: ${TOK[carol]}" -H 'Range: bytes=0-511' "$U/images/$PUB/file" >"$T/c"
assert_eq 206 "$(cat "$T/c")" "carol reads a public image's first sector"
expect carol 200 GET "/images/$MKT"
expect carol 403 GET "/images/$MKT/file"
assert_match ".*not yours to read.*" "$(cat "$T/body")" "marketplace data, its reason"
expect carol 403 PATCH "/images/$PUB" '[{"op":"add","path":"/x_k","value":"v"}]'
expect carol 403 DELETE "/images/$MKT"

say "deleting: only the owner; then it is gone for everyone"
expect bob 403 DELETE "/images/$WEB"
expect boss 403 DELETE "/images/$WEB"
expect "$ME" 204 DELETE "/images/$WEB"
expect "$ME" 404 GET "/images/$WEB"
expect boss 404 GET "/images/$WEB"
say "ok"

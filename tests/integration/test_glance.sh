#!/usr/bin/env bash
# test_glance.sh — the OpenStack image API of `imgfs serve --glance`
# (SPEC §19) with the clients users script it with, Debian's
# python3-glanceclient and python3-openstackclient, beside a mount of the
# same state: every `glance` command of issue 51's list (bytes exact on
# download), the `openstack image` commands (list, show, create --file
# and --import, set/unset, save, delete, add/remove project, tag), the
# same image both ways (made by mkdir + cp it is in the API's list, made
# through the API it is in the tree with its uuid and properties; one
# share; a delete either way goes to the recycle bin; protected refuses
# rmdir too), the identity face (a login with the API password, a token
# revoked or expired is 401), refusals with their statuses, a body past
# its bound (413), and what a listing costs: SQL statements per listed
# image the same for N and 2N images.  All traffic to 127.0.0.1.
source "$(dirname "$0")/lib.sh"

for tool in glance openstack curl jq python3; do
    command -v "$tool" >/dev/null || fail "$tool is needed (scripts/install-deps)"
done
export HOME=$T/home # the clients cache the image schema in ~/.glanceclient
mkdir -p "$HOME"

setup_mount
ME=$(id -un)
imgfs_admin "$S" quota set "$ME" cn-north-1 private-images 500 >/dev/null
imgfs_admin "$S" account add bob
imgfs_admin "$S" import allow 127.0.0.0/8 >/dev/null
echo 'my-api-password' | imgfs_admin "$S" account set "$ME" api-password
TOK=$(imgfs_admin "$S" token "$ME" 1h | cut -d' ' -f1)
BOB=$(imgfs_admin "$S" token bob 1h | cut -d' ' -f1)
[[ ${#TOK} == 64 ]] || fail "imgfs admin token printed '$TOK'"

say "imgfs serve --glance on a free port, metrics on another"
"$IMGFS" serve --state "$S" --listen 127.0.0.1:0 --glance --metrics-listen 0 --max-per-client 32 \
    --log "$T/serve.log" 2>"$T/serve.err" &
SERVE_PID=$!
at_exit "kill $SERVE_PID; wait $SERVE_PID"
wait_for 10 grep -qs 'metrics on' "$T/serve.log" || { cat "$T/serve.err" >&2; fail "imgfs serve did not start"; }
PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')
MPORT=$(grep -o 'metrics on http://127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')
U=http://127.0.0.1:$PORT
# stdin closed: glance takes an open stdin for the image's data (its "cron
# job" case, glanceclient's get_data_file)
gl() { glance --os-image-url "$U" --os-auth-token "$TOK" "$@" <&-; }
glb() { glance --os-image-url "$U" --os-auth-token "$BOB" "$@" <&-; }
O=(openstack --os-auth-type v3password --os-auth-url "$U/v3" --os-username "$ME" --os-password my-api-password
   --os-project-name "$ME" --os-user-domain-name Default --os-project-domain-name Default
   --os-identity-api-version 3 --os-region-name cn-north-1)
gshow() { curl -sf -H "X-Auth-Token: $TOK" "$U/v2/images/$1"; }
status_code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }

# A raw disk (an MBR and data) and random bytes (a kernel: aki keeps them as sent).
python3 - "$T/disk.raw" "$T/kernel" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(3 << 20)
    f.write(b"\xeb\x63" + os.urandom(508) + b"\x55\xaa")
    f.seek(1 << 20); f.write(os.urandom(1 << 20))
open(sys.argv[2], "wb").write(os.urandom(5000))
EOF

say "versions (300, v2.0 .. v2.16), schemas, info/import, info/stores, usage"
assert_eq 300 "$(status_code "$U/")" "GET /"
assert_eq 17 "$(jq '.versions | length' "$T/body")" "version ids"
assert_eq "v2.0 v2.16" "$(jq -r '[.versions[].id] | [.[-1], .[0]] | join(" ")' "$T/body")" "first and last"
for s in image images member members task tasks; do
    assert_eq "$s" "$(curl -sf -H "X-Auth-Token: $TOK" "$U/v2/schemas/$s" | jq -r .name)" "schema $s"
done
assert_match '.*web-download.*' "$(gl import-info)" "glance import-info"
assert_match '.*cn-north-1.*' "$(gl stores-info)" "glance stores-info"
assert_eq 500 "$(curl -sf -H "X-Auth-Token: $TOK" "$U/v2/info/usage" | jq .usage.image_count_total.limit)" "usage"

say "glance image-create --file: a raw disk checked as a cp's, bytes exact on download"
gl image-create --name web --disk-format raw --container-format bare --file "$T/disk.raw" >"$T/out"
WEB=$(awk '$2 == "id" {print $4}' "$T/out")
assert_eq active "$(gshow "$WEB" | jq -r .status)" "web's status"
assert_eq "$(sha256sum <"$T/disk.raw" | cut -d' ' -f1)" "$(gshow "$WEB" | jq -r .os_hash_value)" "os_hash_value"
MD5=$(md5sum <"$T/disk.raw" | cut -d' ' -f1)
assert_eq "$MD5 sha256" "$(gshow "$WEB" | jq -r '"\(.checksum) \(.os_hash_algo)"')" "checksum: md5sum's (os_hash_algo's default)"
gl image-download --file "$T/back" "$WEB"
cmp "$T/disk.raw" "$T/back" || fail "image-download: other bytes"
assert_eq "$WEB" "$(cat "$R/private/web/uuid")" "the tree's uuid"
assert_eq available "$(cat "$R/private/web/status")" "the tree's status"
curl -sf -H "X-Auth-Token: $TOK" -H 'Range: bytes=1048576-1048585' "$U/v2/images/$WEB/file" >"$T/part"
cmp "$T/part" <(dd if="$T/disk.raw" bs=1 skip=1048576 count=10 status=none) || fail "a Range"

say "random bytes: refused as raw (400, the image queued again), kept as aki"
gl image-create --name junk --disk-format raw --container-format bare >"$T/out"
JUNK=$(awk '$2 == "id" {print $4}' "$T/out")
assert_eq 400 "$(status_code -X PUT -H "X-Auth-Token: $TOK" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$T/kernel" "$U/v2/images/$JUNK/file")" "PUT random bytes as raw"
assert_match '.*no known format.*' "$(cat "$T/body")" "the reason"
assert_eq queued "$(gshow "$JUNK" | jq -r .status)" "queued again"
assert_match '.*no known format.*' "$(cat "$R/private/junk/error")" "the tree's error"
# refused at its first MiB, mid-body: the refusal reaches the client once the body is in
head -c 3M /dev/urandom >"$T/junk3"
assert_eq 400 "$(status_code -X PUT -H "X-Auth-Token: $TOK" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$T/junk3" "$U/v2/images/$JUNK/file")" "PUT 3 MiB of random bytes as raw"
assert_match '.*no known format.*' "$(cat "$T/body")" "the reason, mid-body"
assert_eq queued "$(gshow "$JUNK" | jq -r .status)" "queued again, mid-body"
gl image-create --name kern --disk-format aki --container-format aki --file "$T/kernel" >/dev/null ||
    { tail -n 4 "$T/serve.log" >&2; ls -l "$T/kernel" >&2; fail "glance image-create --file kernel"; }
KERN=$(curl -sf -H "X-Auth-Token: $TOK" "$U/v2/images?name=kern" | jq -r '.images[0].id')
assert_eq "active 5000 aki" "$(gshow "$KERN" | jq -r '"\(.status) \(.size) \(.disk_format)"')" "kern"

say "a client gone mid-body with the pipeline full: the upload failed, nothing half-changed"
gl image-create --name gone --disk-format raw --container-format bare >"$T/out"
GONE=$(awk '$2 == "id" {print $4}' "$T/out")
# 6 MiB of a 64 MiB body sent (a chunk being written, one handed, one being
# received), then the connection closed
python3 - "$PORT" "$TOK" "$GONE" "$T/disk.raw" <<'PY'
import socket, struct, sys, time
port, tok, gid, disk = sys.argv[1:]
s = socket.create_connection(("127.0.0.1", int(port)))
s.sendall(("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: %s\r\n"
           "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % (gid, tok, 64 << 20)).encode())
data = open(disk, "rb").read()
s.sendall(data + data)
time.sleep(0.5)  # taken in; then a reset, as a killed client's with bytes unread
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
PY
wait_for 10 grep -qx error "$R/private/gone/status" || fail "gone: $(cat "$R/private/gone/status")"
assert_match '.*client closed the connection.*' "$(cat "$R/private/gone/error")" "the tree's error"
assert_eq "killed 0" "$(gshow "$GONE" | jq -r '"\(.status) \(.size // 0)"')" "gone through the API"
assert_eq 409 "$(status_code -X PUT -H "X-Auth-Token: $TOK" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$T/kernel" "$U/v2/images/$GONE/file")" "data again for a killed image"

say "image-update, tags, properties: shown in the tree; read-only and reserved refused"
gl image-update --property os_distro=debian --min-disk 3 "$WEB" >/dev/null
gl image-tag-update "$WEB" golden
assert_eq "os_distro=debian" "$(cat "$R/private/web/properties")" "properties file"
assert_eq "golden=" "$(cat "$R/private/web/tags")" "tags file"
gl image-tag-delete "$WEB" golden
assert_eq "" "$(cat "$R/private/web/tags")" "tag deleted"
patch() { status_code -X PATCH -H "X-Auth-Token: $TOK" -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
    --data "$2" "$U/v2/images/$1"; }
assert_eq 403 "$(patch "$WEB" '[{"op": "replace", "path": "/status", "value": "active"}]')" "status is read-only"
assert_eq 403 "$(patch "$WEB" '[{"op": "add", "path": "/os_glance_x", "value": "1"}]')" "os_glance_ reserved"
assert_eq 409 "$(patch "$WEB" '[{"op": "remove", "path": "/nope"}]')" "remove of a missing property"
assert_eq 400 "$(patch "$WEB" '[{"op": "add", "path": "/k", "value": "a\u202eb"}]')" "a bidi override"
assert_match '.*U\+202E.*' "$(cat "$T/body")" "the model's reason"
assert_eq 200 "$(patch "$WEB" '[{"op": "add", "path": "/k", "value": "v"}, {"op": "replace", "path": "/name", "value": "my web"}]')" \
    "two operations"
assert_eq "my web" "$(gshow "$WEB" | jq -r .name)" "a name that is no directory name: a title"
[[ -d "$R/private/web" ]] || fail "the directory keeps its name"

say "protected: refuses the API's delete and rmdir alike"
gl image-update --protected True "$WEB" >/dev/null
assert_eq 403 "$(status_code -X DELETE -H "X-Auth-Token: $TOK" "$U/v2/images/$WEB")" "DELETE protected"
assert_errno EPERM rmdir "$R/private/web"
gl image-update --protected False "$WEB" >/dev/null

say "deactivate, reactivate: no data while deactivated (403)"
gl image-deactivate "$WEB"
assert_eq deactivated "$(gshow "$WEB" | jq -r .status)" "deactivated"
assert_eq 403 "$(status_code -H "X-Auth-Token: $TOK" "$U/v2/images/$WEB/file")" "download while deactivated"
gl image-reactivate "$WEB"
assert_eq active "$(gshow "$WEB" | jq -r .status)" "active again"

say "stage then import (glance-direct), web-download from a local server, tasks"
gl image-create --name staged --disk-format raw --container-format bare >"$T/out"
ST=$(awk '$2 == "id" {print $4}' "$T/out")
gl image-stage --file "$T/disk.raw" "$ST"
assert_eq "uploading $(stat -c %s "$T/disk.raw") null null" \
    "$(gshow "$ST" | jq -r '"\(.status) \(.size) \(.checksum) \(.os_hash_value)"')" \
    "staged: its size shown, no hashes until active (as Glance)"
gl image-import --import-method glance-direct "$ST" >/dev/null
wait_for 20 bash -c "curl -sf -H 'X-Auth-Token: $TOK' $U/v2/images/$ST | jq -e '.status == \"active\"' >/dev/null" ||
    fail "the staged image did not become active"
assert_eq "$(md5sum <"$T/disk.raw" | cut -d' ' -f1)" "$(gshow "$ST" | jq -r .checksum)" "active: its checksum"
assert_match '.*success.*' "$(gl image-tasks "$ST")" "its task"
mkdir -p "$T/www" && cp "$T/disk.raw" "$T/www/d.raw"
/usr/bin/python3 "$INTEGRATION_DIR/../servers/serve.py" http "$T/www" >"$T/http.out" 2>&1 &
HTTP_PID=$!
at_exit "kill $HTTP_PID"
wait_for 10 grep -q PORT "$T/http.out" || fail "serve.py did not start"
HP=$(awk '/PORT/{print $2}' "$T/http.out")
gl image-create --name wd --disk-format raw --container-format bare >"$T/out"
WD=$(awk '$2 == "id" {print $4}' "$T/out")
gl image-import --import-method web-download --uri "http://127.0.0.1:$HP/d.raw" "$WD" >/dev/null
wait_for 30 bash -c "curl -sf -H 'X-Auth-Token: $TOK' $U/v2/images/$WD | jq -e '.status == \"active\"' >/dev/null" ||
    fail "web-download did not make the image active"
gl image-create --name wdbad --disk-format raw --container-format bare >"$T/out"
WDB=$(awk '$2 == "id" {print $4}' "$T/out")
gl image-import --import-method web-download --uri "http://127.0.0.1:$HP/missing" "$WDB" >/dev/null
wait_for 30 bash -c "curl -sf -H 'X-Auth-Token: $TOK' $U/v2/images/$WDB | jq -e '.os_glance_failed_import == \"cn-north-1\"' >/dev/null" ||
    fail "a failed web-download shows no os_glance_failed_import"

say "the same image both ways: mkdir + cp is in the API's list within moments; the API's is in the tree"
mkdir "$R/private/fromtree"
cp "$T/disk.raw" "$R/private/fromtree/disks/vda"
imgfs_wait "$R/private/fromtree" >/dev/null
assert_eq "$(cat "$R/private/fromtree/uuid")" \
    "$(curl -sf -H "X-Auth-Token: $TOK" "$U/v2/images?name=fromtree" | jq -r '.images[0].id')" "the tree's image listed"
assert_eq "$MD5" "$(curl -sf -H "X-Auth-Token: $TOK" "$U/v2/images?name=fromtree" | jq -r '.images[0].checksum')" \
    "the cp's checksum: md5sum's, hashed as the writes arrived"
wait_for 10 test -d "$R/private/kern" || fail "the API's image kern is not in the tree"

say "members: a share by the API is the tree's shares/ entry; only the member answers"
assert_eq 404 "$(status_code -H "X-Auth-Token: $TOK" --data '{"member": "nobody"}' "$U/v2/images/$WEB/members")" \
    "a member that is no account (the model's ENOENT)"
assert_match '.*no account nobody.*' "$(cat "$T/body")" "its reason"
gl member-create "$WEB" bob >/dev/null
wait_for 10 test -d "$R/private/web/shares/bob" || fail "no shares/bob in the tree"
assert_eq pending "$(gl member-list --image-id "$WEB" | awk '/bob/{print $6}')" "bob pending"
assert_eq 403 "$(status_code -X PUT -H "X-Auth-Token: $TOK" --data '{"status": "accepted"}' \
    "$U/v2/images/$WEB/members/bob")" "the owner's answer"
glb member-update "$WEB" bob accepted >/dev/null
assert_eq accepted "$(gl member-list --image-id "$WEB" | awk '/bob/{print $6}')" "bob accepted"
assert_match ".*$WEB.*" "$(curl -sf -H "X-Auth-Token: $BOB" "$U/v2/images" | jq -r '.images[].id')" "bob lists it"
rmdir "$R/private/web/shares/bob"
assert_eq "" "$(gl member-list --image-id "$WEB" | awk '/bob/{print $6}')" "unshared by rmdir"

say "deletes: the API's to the recycle bin, rmdir's out of the API"
gl image-delete "$KERN"
wait_for 10 test -d "$R/recycle-bin/kern" || fail "kern is not in the recycle bin"
assert_eq 404 "$(status_code -H "X-Auth-Token: $TOK" "$U/v2/images/$KERN")" "a deleted image"
rmdir "$R/private/fromtree"
assert_eq 0 "$(curl -sf -H "X-Auth-Token: $TOK" "$U/v2/images?name=fromtree" | jq '.images | length')" "rmdir'ed"
mv "$R/recycle-bin/kern" "$R/private/kern"
assert_eq active "$(gshow "$KERN" | jq -r .status)" "restored, back in the API"

say "openstack image: list, show, create --file and --import, set/unset, tag, save, add/remove project, delete"
# one process runs them all (openstack reads commands from its standard
# input): its Python's start-up is seconds on a busy machine
osc() { "${O[@]}" <"$1" >"$1.out" 2>&1 || { cat "$1.out" >&2; fail "openstack < $1"; }; }
cat >"$T/osc1" <<EOF
image create --disk-format raw --container-format bare --file $T/disk.raw osc1
image create --disk-format raw --container-format bare --file $T/disk.raw --import osc2
image set --property tier=gold --tag t1 osc1
image show osc1 -f value -c status
image save --file $T/osc osc1
image add project osc1 bob
image list -f value -c Name
EOF
osc "$T/osc1"
OSC1=$(curl -sf -H "X-Auth-Token: $TOK" "$U/v2/images?name=osc1" | jq -r '.images[0].id')
assert_match '.*osc2.*' "$(cat "$T/osc1.out")" "image list"
assert_eq "gold t1" "$(gshow "$OSC1" | jq -r '"\(.tier) \(.tags[0])"')" "set --property --tag"
cmp "$T/osc" "$T/disk.raw" || fail "openstack image save: other bytes"
wait_for 10 test -d "$R/private/osc1/shares/bob" || fail "image add project: no share"
wait_for 20 bash -c "curl -sf -H 'X-Auth-Token: $TOK' '$U/v2/images?name=osc2' | jq -e '.images[0].status == \"active\"' >/dev/null" ||
    fail "openstack image create --import"
cat >"$T/osc2" <<EOF
image unset --property tier --tag t1 osc1
image remove project osc1 bob
EOF
osc "$T/osc2"
assert_eq "null null" "$(gshow "$OSC1" | jq -r '"\(.tier) \(.tags[0])"')" "unset --property --tag"
wait_for 10 test ! -e "$R/private/osc1/shares/bob" || fail "image remove project: the share stays (another process: the mount learns it from the change log)"
echo "image delete osc1 osc2" >"$T/osc3"
osc "$T/osc3"
wait_for 10 test -d "$R/recycle-bin/osc1" -a -d "$R/recycle-bin/osc2" || fail "openstack image delete: not in the bin"

say "identity: a login's token, a wrong password, revoked and expired tokens are 401"
cat >"$T/login.json" <<EOF
{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "$ME", "password": "my-api-password"}}},
 "scope": {"project": {"name": "$ME"}}}}
EOF
assert_eq 201 "$(curl -s -o "$T/login.out" -D "$T/hdr" -w '%{http_code}' --data @"$T/login.json" "$U/v3/auth/tokens")" "login"
LT=$(awk 'tolower($1) == "x-subject-token:" {print $2}' "$T/hdr" | tr -d '\r')
assert_eq 200 "$(status_code -H "X-Auth-Token: $LT" "$U/v2/images")" "the login's token"
assert_eq "$U/region/cn-north-1" "$(jq -r '.token.catalog[] | select(.type == "image") | .endpoints[0].url' "$T/login.out")" \
    "the catalogue points here"
sed 's/my-api-password/wrong-password/' "$T/login.json" >"$T/bad.json"
assert_eq 401 "$(status_code --data @"$T/bad.json" "$U/v3/auth/tokens")" "a wrong password"
sed "s/\"name\": \"$ME\"}}}/\"name\": \"bob\"}}}/" "$T/login.json" >"$T/other.json"
assert_eq 401 "$(status_code --data @"$T/other.json" "$U/v3/auth/tokens")" "another account's project"
assert_eq 403 "$(status_code -H "X-Auth-Token: $TOK" "$U/v3/projects/bob")" "another account's project (Keystone's policy: 403)"
assert_eq 200 "$(status_code -H "X-Auth-Token: $TOK" "$U/v3/projects/$ME")" "its own project"
imgfs_admin "$S" token revoke bob "$BOB" >/dev/null
assert_eq 401 "$(status_code -H "X-Auth-Token: $BOB" "$U/v2/images")" "a revoked token"
SHORT=$(imgfs_admin "$S" token bob 1s | cut -d' ' -f1)
nap 2.1
assert_eq 401 "$(status_code -H "X-Auth-Token: $SHORT" "$U/v2/images")" "an expired token"
assert_eq 401 "$(status_code -D "$T/hdr" "$U/v2/images")" "no token"
# a client learns where to log in from the 401 (keystoneauth's discovery)
grep -qi '^WWW-Authenticate: Keystone uri="/v3"' "$T/hdr" || fail "a 401 without WWW-Authenticate: $(cat "$T/hdr")"
assert_eq 200 "$(status_code -u "$ME:my-api-password" "$U/v2/images")" "HTTP Basic with the API password"

say "refusals: 404 unknown, 405, 400 bad JSON, 413 a body past 256 KiB"
assert_eq 404 "$(status_code -H "X-Auth-Token: $TOK" "$U/v2/images/00000000-0000-4000-8000-000000000000")" "404"
assert_eq 404 "$(status_code -H "X-Auth-Token: $TOK" "$U/v2/nothing")" "no route"
assert_eq 405 "$(status_code -D "$T/hdr" -X PUT -H "X-Auth-Token: $TOK" "$U/v2/images")" "405"
grep -qi '^Allow: GET, HEAD, POST, PUT, PATCH, DELETE' "$T/hdr" || fail "a 405 without Allow: $(cat "$T/hdr")"
assert_eq 400 "$(status_code -H "X-Auth-Token: $TOK" --data '{"name": ' "$U/v2/images")" "bad JSON"
python3 -c 'import json; print(json.dumps({"name": "big", "p": "x" * (256 << 10)}))' >"$T/big.json"
assert_eq 413 "$(status_code -H "X-Auth-Token: $TOK" --data @"$T/big.json" "$U/v2/images")" "a body past its bound"
python3 -c 'import json; print(json.dumps({"name": "b" * 10, "p": "x" * 200}))' >"$T/ok.json"
assert_eq 201 "$(status_code -H "X-Auth-Token: $TOK" --data @"$T/ok.json" "$U/v2/images")" "a body within it"

say "a listing's cost: statements per listed image the same for N and 2N images"
stmts() { curl -sf "http://127.0.0.1:$MPORT/metrics" | awk '/^imgfs_serve_db_statements_total/{print $2}'; }
make_images() { # COUNT: queued images through the API, one client, one after the other
    python3 -c '
import sys, urllib.request
for i in range(int(sys.argv[3])):
    req = urllib.request.Request(sys.argv[1] + "/v2/images", data=b"{}", headers={"X-Auth-Token": sys.argv[2]})
    urllib.request.urlopen(req).read()
' "$U" "$TOK" "$1"
}
per_image() {
    local n a b
    n=$(curl -sf -H "X-Auth-Token: $TOK" "$U/v2/images?limit=1000" | jq '.images | length')
    a=$(stmts); curl -sf -o /dev/null -H "X-Auth-Token: $TOK" "$U/v2/images?limit=1000"; b=$(stmts)
    echo "$n $((b - a))"
}
make_images 100
read -r n1 s1 < <(per_image)
make_images 100
read -r n2 s2 < <(per_image)
say "  $n1 images: $s1 statements; $n2 images: $s2 statements"
((n2 >= n1 + 100)) || fail "the second listing shows $n2 images, the first $n1"
# one statement an image shown, a sixteenth for its properties, a
# sixty-fourth for the ids: the per-image cost does not grow with N
((s2 * 100 <= s1 * 100 * n2 / n1 + 100 * 8)) || fail "statements grew faster than the images: $s1 for $n1, $s2 for $n2"
((s2 <= n2 * 3 / 2 + 10)) || fail "$s2 statements for $n2 images: more than 1.5 an image"

grep -q 'API GET /v2/images account' "$T/serve.log" || fail "no API line in the log"

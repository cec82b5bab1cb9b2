#!/usr/bin/env bash
# SPEC §6.4, §8 (shared-images), issue 70: a share its receiver rejected
# holds no place in the receiver's quota.  alice shares five images with
# bob by mkdir (bob's shared-images 5 of 5, five listed); bob rejects one
# through the image API (`imgfs serve --glance`, the only face that
# answers a share): his quota file says 4 of 5 and lists 4, and alice's
# sixth share by mkdir goes through (it was EDQUOT with 4 listed before).
# Answering the rejected share again with no place free is 413, the share
# stays rejected; once alice unshares another, bob accepts it again.
# All traffic to 127.0.0.1.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || fail "curl is needed (scripts/install-deps)"
command -v jq >/dev/null || fail "jq is needed (scripts/install-deps)"
S="$T/state"
M="$T/alice"
B="$T/bob"
mount_imgfs "$S" "$M" account=alice
mount_imgfs "$S" "$B" account=bob
RA="$M/regions/cn-north-1"
RB="$B/regions/cn-north-1"
imgfs_admin "$S" quota set alice cn-north-1 private-images 10
BOB=$(imgfs_admin "$S" token bob 1h | cut -d' ' -f1)
shared_used() { quota_line "$RB" shared-images; }

"$IMGFS" serve --state "$S" --listen 127.0.0.1:0 --glance --metrics-listen 0 --log "$T/serve.log" 2>"$T/serve.err" &
SERVE_PID=$!
at_exit "kill $SERVE_PID; wait $SERVE_PID"
wait_for 10 grep -qs 'metrics on' "$T/serve.log" || { cat "$T/serve.err" >&2; fail "imgfs serve did not start"; }
U=http://127.0.0.1:$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')
answer() { # IMAGE STATUS: bob's answer through the API; prints the HTTP status
    curl -s -o "$T/body" -w '%{http_code}' -X PUT -H "X-Auth-Token: $BOB" -H 'Content-Type: application/json' \
        --data "{\"status\": \"$2\"}" "$U/v2/images/$(cat "$RA/private/$1/uuid")/members/bob"
}

say "alice shares five queued images with bob: 5 of 5, five listed, a sixth EDQUOT"
for i in 1 2 3 4 5 6; do mkdir "$RA/private/s$i"; done
for i in 1 2 3 4 5; do mkdir "$RA/private/s$i/shares/bob"; done
assert_eq "5 5" "$(shared_used)" "bob's shared-images after five shares"
assert_eq "s1@alice s2@alice s3@alice s4@alice s5@alice" "$(entries "$RB/shared")" "bob's shared/"
assert_errno EDQUOT mkdir "$RA/private/s6/shares/bob"

say "bob rejects s3 through the API: 4 of 5, four listed, alice's sixth share goes through"
assert_eq 200 "$(answer s3 rejected)" "bob rejects s3"
assert_eq rejected "$(jq -r .status "$T/body")" "the member's status"
assert_eq "4 5" "$(shared_used)" "bob's shared-images after rejecting s3"
assert_eq "s1@alice s2@alice s4@alice s5@alice" "$(entries "$RB/shared")" "bob's shared/ after rejecting s3"
mkdir "$RA/private/s6/shares/bob"
assert_eq "5 5" "$(shared_used)" "bob's shared-images after s6"

say "bob answers s3 again with no place free: 413, still rejected; alice unshares s1, then bob accepts s3"
assert_eq 413 "$(answer s3 accepted)" "bob accepts s3 at 5 of 5"
assert_eq 413 "$(answer s3 pending)" "bob makes s3 pending at 5 of 5"
assert_eq "s1@alice s2@alice s4@alice s5@alice s6@alice" "$(entries "$RB/shared")" "bob's shared/ unchanged"
rmdir "$RA/private/s1/shares/bob"
assert_eq "4 5" "$(shared_used)" "bob's shared-images after alice unshares s1"
assert_eq 200 "$(answer s3 accepted)" "bob accepts s3 with a place free"
assert_eq "5 5" "$(shared_used)" "bob's shared-images after accepting s3"
assert_eq "s2@alice s3@alice s4@alice s5@alice s6@alice" "$(entries "$RB/shared")" "bob's shared/ at the end"

echo "PASS"

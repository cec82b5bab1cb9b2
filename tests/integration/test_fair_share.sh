#!/usr/bin/env bash
# SPEC §5.2, §8: fair share.  Two accounts on one multi-user mount with 4
# task workers; alice imports three images from a server that sends 2
# bytes a second.  Two of her imports run and the third waits (two per
# account), and they leave a worker free: bob's capture completes while
# alice's imports still run.  The admin's rate floor (`imgfs admin import
# floor`) then ends a dribbling import in error with the rate.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
[[ $(id -u) == 0 ]] || fail "this test runs as root (it switches to other uids)"
SERVE="$INTEGRATION_DIR/../servers/serve.py"
unset http_proxy https_proxy ftp_proxy all_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY no_proxy NO_PROXY
chmod 755 "$T"
cp "$IMGFS" "$T/imgfs-as"
chmod 755 "$T/imgfs-as"

mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/disk.raw"
/usr/bin/python3 "$SERVE" dribble "$T/www" >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
at_exit "kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true"
wait_for 30 grep -q '^PORT ' "$T/serve.out" || fail "the dribbling server did not start"
URL="http://127.0.0.1:$(awk '$1 == "PORT" { print $2 }' "$T/serve.out")/disk.raw"

setup_mount allow_other,multiuser,workers=4
imgfs_admin "$S" account add alice --uid 2101
imgfs_admin "$S" account add bob --uid 2102
imgfs_admin "$S" import allow 127.0.0.1
as() { local uid=$1; shift; setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }
alice() { as 2101 "$@"; }
bob() { as 2102 "$@"; }
P="$R/private"
I="$R/instances"

say "alice: three imports from a server that sends 2 bytes a second"
for i in 1 2 3; do
    alice mkdir "$P/slow$i"
    alice sh -c "echo 'url $URL' > '$P/slow$i/source'"
done
running() { # how many of alice's imports have received a byte or more
    local n=0 i
    for i in 1 2 3; do [[ "$(alice cat "$P/slow$i/task")" == *"bytes-done "[1-9]* ]] && n=$((n + 1)); done
    echo "$n"
}
for ((w = 0; w < 300; w++)); do (($(running) >= 2)) && break; sleep 0.1; done
(($(running) >= 2)) || fail "two of alice's imports did not start"
sleep 3
assert_eq 2 "$(running)" "alice's imports receiving bytes (two per account)"
assert_match '.*state queued.*' "$(alice cat "$P/slow3/task" | paste -sd ' ')" "alice's third import waits"

say "bob's capture completes while alice's imports run"
bob mkdir "$I/b-vm"
bob sh -c "echo public/centos-7.4 > '$I/b-vm/image'"
bob mkdir "$P/bobs"
bob sh -c "echo 'instance b-vm' > '$P/bobs/source'"
bob timeout 120 "$T/imgfs-as" wait "$P/bobs" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait bobs"; }
assert_eq available "$(bob cat "$P/bobs/status")" "bob's capture"
for i in 1 2 3; do assert_eq uploading "$(alice cat "$P/slow$i/status")" "alice's slow$i after bob's capture"; done

say "the rate floor ends a dribbling import in error with the rate"
for i in 1 2 3; do alice sh -c "echo 1 > '$P/slow$i/cancel'"; done
imgfs_admin "$S" import floor 1000 2
assert_eq "1000 2" "$(imgfs_admin "$S" import floor)" "import floor"
assert_fails imgfs_admin "$S" import floor 1000 0
alice mkdir "$P/floored"
alice sh -c "echo 'url $URL' > '$P/floored/source'"
alice timeout 60 "$T/imgfs-as" wait "$P/floored" >/dev/null 2>&1 || true
assert_eq error "$(alice cat "$P/floored/status")" "the floored import"
assert_match '^import failed: slower than the floor of 1000 bytes/s: [0-9]+ bytes in 2 s$' "$(alice cat "$P/floored/error")" \
    "the floored import's reason"

#!/usr/bin/env bash
# SPEC §9 (/errors), §8 (multiuser): a tenant reads why it was refused.
#
# One mount with -o allow_other,multiuser; alice (uid 2001), bob (2002)
# and root (uid 0, an account of its own here) act through setpriv; uid
# 2003 has no account.  A refused mkdir, a weak password and a refused
# instance write give only an errno; /errors shows each caller its own
# refusals, each line "<UTC time> <op> <path>: <ERRNO> <reason>", and none
# of anybody else's; the password itself is in no line.  A loop of 300
# refusals keeps the file bounded (4 KiB), its newest line kept, while the
# log, rate-limited, has suppressed most of them.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

other_uids
setup_mount allow_other,multiuser
imgfs_admin "$S" account add alice --uid 2001
imgfs_admin "$S" account add bob --uid 2002
imgfs_admin "$S" account add boss --uid 0

alice() { as 2001 "$@"; }
bob() { as 2002 "$@"; }
P="$R/private"
I="$R/instances"
E="$M/errors"
rel_r=${R#"$M"}
line_re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z '

say "/errors is in the root listing, a file of mode 0444 owned by the caller, empty at first, read-only"
assert_eq "errors regions stats" "$(ls "$M" | xargs)" "ls of the mount root"
assert_eq "regular empty file 444 2001" "$(alice stat -c '%F %a %u' "$E")" "stat of /errors for alice"
assert_eq "" "$(alice cat "$E")" "alice's /errors before any refusal"
errno_as 2001 EPERM write "$E" x

say "alice: a refused mkdir, a weak password, a bad instance value"
errno_as 2001 EINVAL mkdir "$P/.hidden"
alice mkdir "$I/a-vm"
WEAK='weakneedleonlylowercase'
errno_as 2001 EINVAL write "$I/a-vm/password" "$WEAK"
errno_as 2001 EINVAL write "$I/a-vm/system-disk-size" "lots"
alice cat "$E" >"$T/alice.errors"
sed 's/^/    alice: /' "$T/alice.errors"
assert_eq 4 "$(wc -l <"$T/alice.errors")" "lines of alice's /errors"
grep -qE "${line_re}open /errors: EPERM this file cannot be written" "$T/alice.errors" ||
    fail "alice's /errors lacks the refused open of /errors itself"
grep -qE "${line_re}mkdir $rel_r/private/\.hidden: EINVAL .+" "$T/alice.errors" ||
    fail "alice's /errors lacks the mkdir's line"
grep -qE "${line_re}write $rel_r/instances/a-vm/password: EINVAL a password is 8 to 30 printable ASCII" \
    "$T/alice.errors" || fail "alice's /errors lacks the password's reason"
grep -qE "${line_re}write $rel_r/instances/a-vm/system-disk-size: EINVAL .+" "$T/alice.errors" ||
    fail "alice's /errors lacks the system-disk-size line"
if grep -qF "$WEAK" "$T/alice.errors"; then fail "the password is in alice's /errors"; fi
assert_eq "$(wc -c <"$T/alice.errors")" "$(alice stat -c %s "$E")" "st_size of alice's /errors"

say "bob, root (an account) and uid 2003 (none) see none of alice's lines"
assert_eq "" "$(bob cat "$E")" "bob's /errors"
assert_eq "" "$(cat "$E")" "root's /errors"
assert_eq "" "$(as 2003 cat "$E")" "uid 2003's /errors"
errno_as 2002 EINVAL mkdir "$P/-bob"
errno_as 2003 EACCES mkdir "$P/nobody"
bob cat "$E" >"$T/bob.errors"
assert_eq 1 "$(wc -l <"$T/bob.errors")" "lines of bob's /errors"
grep -qE "${line_re}mkdir $rel_r/private/-bob: EINVAL " "$T/bob.errors" || fail "bob's own line: $(cat "$T/bob.errors")"
as 2003 cat "$E" >"$T/nobody.errors"
grep -qE "${line_re}mkdir $rel_r/private/nobody: EACCES the caller has no account" "$T/nobody.errors" ||
    fail "uid 2003's own line: $(cat "$T/nobody.errors")"
assert_eq "" "$(cat "$E")" "root's /errors after bob's and uid 2003's refusals"
alice cat "$E" | cmp -s - "$T/alice.errors" || fail "alice's /errors changed with others' refusals"
if alice cat "$E" | grep -qF -e -bob -e nobody; then fail "alice sees another caller's line"; fi

say "root's own refusal is root's"
errno_as 0 EINVAL mkdir "$P/.root"
assert_eq 1 "$(cat "$E" | wc -l)" "lines of root's /errors"
grep -qF "mkdir $rel_r/private/.root: EINVAL" "$E" || fail "root's own line"

say "refused through tenants/: the actor's /errors has it, '(actor A, tenant T)' as in the log (issue 70)"
# alice is made a main account (dev her sub-account), boss (uid 0) an
# administrator: each is refused a mkdir through tenants/ and reads why in
# its own /errors, not only the log (it went to the tenant's ring before).
imgfs_admin "$S" account add dev --parent alice
imgfs_admin "$S" account set boss admin yes
errno_as 2001 EPERM mkdir "$R/tenants/dev/private/new"
errno_as 0 EPERM mkdir "$R/tenants/alice/private/new"
assert_logged mkdir "$R/tenants/dev/private/new" EPERM
grep -qE "${line_re}mkdir $rel_r/tenants/dev/private/new: EPERM through tenants/, .+ \(actor alice, tenant dev\)\$" \
    <(alice cat "$E") || fail "alice's /errors lacks her refusal through tenants/: $(alice cat "$E" | tail -n 2)"
grep -qE "${line_re}mkdir $rel_r/tenants/alice/private/new: EPERM through tenants/, .+ \(actor boss, tenant alice\)\$" \
    <(cat "$E") || fail "the administrator's /errors lacks its refusal through tenants/: $(cat "$E")"
if bob cat "$E" | grep -qF tenants/; then fail "bob sees a refusal through tenants/"; fi
if alice cat "$E" | grep -qF "tenants/alice"; then fail "alice sees the administrator's refusal on her images"; fi

say "300 refusals in a row: alice's /errors stays within 4 KiB, newest kept; the log suppressed most"
alice "$SYS_PY" -c '
import os, sys
for i in range(300):
    try:
        os.mkdir("%s/.loop-%03d" % (sys.argv[1], i))
    except OSError:
        pass
' "$P"
alice cat "$E" >"$T/alice.loop"
size=$(wc -c <"$T/alice.loop")
((size <= 4096)) || fail "alice's /errors is $size bytes"
((size > 2048)) || fail "alice's /errors is only $size bytes"
tail -n 1 "$T/alice.loop" | grep -qF "mkdir $rel_r/private/.loop-299: EINVAL" || fail "the newest refusal is not last"
if grep -qF ".loop-000" "$T/alice.loop"; then fail "the oldest refusals are kept past the bound"; fi
if grep -vqE "${line_re}mkdir $rel_r/private/\.loop-[0-9]{3}: EINVAL .+" "$T/alice.loop"; then
    fail "a line of alice's /errors is not whole: $(grep -vE "$line_re" "$T/alice.loop" | head -1)"
fi
logged=$(grep -c "mkdir $rel_r/private/.loop-" "$S/imgfs.log" || true)
((logged < 300)) || fail "the log has all 300 refusals: no rate limit to compare with"
assert_eq "" "$(bob cat "$E" | grep -F loop || true)" "bob's /errors after alice's loop"

echo "PASS"

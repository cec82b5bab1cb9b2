#!/usr/bin/env bash
# SPEC §1, §15 (issue 15): the admin command line as an operator types it.
# --state DIR / --state=DIR before or after the command; -h and --help at
# every level; only `init` (or a mount) creates a state, so a typo in
# --state creates nothing and says how to make one; a state written by a
# newer imgfs is refused; an account name that differs from another only by
# case is warned about; region list; a state the caller may not read is
# "permission denied" (as nobody, setpriv), and an empty imgfs.db is no
# state: admin commands, init and a mount refuse it and leave it be.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

S="$T/state"

say "a command on a state that does not exist creates nothing and says how to make one"
for form in "--state $T/typo account list" "account list --state $T/typo" "--state=$T/typo region list" \
    "gc --state=$T/typo" "migrate --to postgresql://localhost/x --state $T/typo"; do
    rc=0
    # shellcheck disable=SC2086 # the form is words
    out=$("$IMGFS" admin $form 2>&1) || rc=$?
    assert_eq 1 "$rc" "exit status of imgfs admin $form"
    assert_eq "imgfs admin: no imgfs state at $T/typo (create one with imgfs admin init $T/typo or by mounting)" \
        "$out" "imgfs admin $form"
done
[[ ! -e $T/typo ]] || fail "a command on a missing state created $T/typo"
mkdir "$T/empty"
assert_fails "$IMGFS" admin --state "$T/empty" account list
assert_eq "" "$(ls -A "$T/empty")" "what a command left in an empty directory"
echo "    refused in one line, nothing created"

say "init creates a state with the default regions; a second init changes nothing"
out=$("$IMGFS" admin init "$S")
assert_eq "created an imgfs state at $S" "$out" "init's line"
[[ -f $S/imgfs.db ]] || fail "init made no imgfs.db"
"$IMGFS" admin --state "$S" region list >"$T/regions"
sed 's/^/    /' "$T/regions"
assert_eq "cn-east-2 -
cn-north-1 -
cn-south-1 -" "$(sort "$T/regions")" "region list of a new state"
sum1=$(sqlite3 "$S/imgfs.db" "SELECT count(*) FROM images")
((sum1 > 0)) || fail "init installed no platform catalogue"
out=$("$IMGFS" admin init --state "$S")
assert_eq "an imgfs state is at $S already" "$out" "a second init"
assert_eq "$sum1" "$(sqlite3 "$S/imgfs.db" "SELECT count(*) FROM images")" "images after a second init"

say "--state before or after the command, with = or without; options of the command anywhere"
"$IMGFS" admin --state "$S" account add alice --uid 4242
"$IMGFS" admin account add bob --state "$S"
"$IMGFS" admin account --state="$S" add carol
"$IMGFS" admin account add --uid 77 dave --state="$S"
assert_eq "alice 4242 main -
bob - main -
carol - main -
dave 77 main -" "$("$IMGFS" admin account list --state "$S" | grep -E '^(alice|bob|carol|dave) ' | sort)" "accounts"
mkdir "$T/r4-chunks"
"$IMGFS" admin region add r4 --state "$S" --store "dir:$T/r4-chunks"
"$IMGFS" admin --state "$S" region list | grep -qx "r4 dir:$T/r4-chunks" || fail "region list does not show r4's store"

say "-h and --help at every level: the usage on stdout, exit 0"
for form in "-h" "--help" "help" "account -h" "account --help" "account add --help" "help account" \
    "region -h" "gc --help" "migrate -h" "init --help" "--state $S publish -h"; do
    rc=0
    # shellcheck disable=SC2086
    out=$("$IMGFS" admin $form 2>"$T/err") || rc=$?
    assert_eq 0 "$rc" "exit status of imgfs admin $form"
    [[ ! -s $T/err ]] || fail "imgfs admin $form wrote to stderr: $(cat "$T/err")"
    [[ -n $out ]] || fail "imgfs admin $form printed nothing"
done
# (whole outputs first: grep -q leaves early, and a writer cut by SIGPIPE
# fails the pipeline under pipefail once the usage passes a pipe write)
acct_help=$("$IMGFS" admin account --help)
admin_help=$("$IMGFS" admin --help)
grep -q "account add NAME" <<<"$acct_help" || fail "account --help does not show account's usage"
grep -q "publish" <<<"$acct_help" && fail "account --help shows other commands"
grep -q "region add NAME \[--store dir:PATH|rados:POOL\[,conf=FILE\]\[,id=CLIENT\]\[,ns=NAMESPACE\]\]" <<<"$admin_help" ||
    fail "the usage does not show the store forms of region add"
grep -q "migrate --to URL \[--store REGION=dir:PATH|rados:" <<<"$admin_help" ||
    fail "the usage does not show the store forms of migrate"
[[ ! -e $T/typo ]] || fail "--help created a state"

say "usage errors: exit 2, the reason on the first line, nothing changed"
for form in "" "bogus" "account" "account add" "gc --nope" "gc --grace" "account add x --uid" "fsck extra"; do
    rc=0
    # shellcheck disable=SC2086
    "$IMGFS" admin --state "$S" $form >/dev/null 2>"$T/err" || rc=$?
    assert_eq 2 "$rc" "exit status of imgfs admin $form"
    head -n1 "$T/err" | grep -q '^imgfs admin: ' || fail "imgfs admin $form: first line: $(head -n1 "$T/err")"
    echo "    $form: $(head -n1 "$T/err")"
done
"$IMGFS" admin --state "$S" account list | grep -q '^x ' && fail "a usage error added an account"

say "an account whose name differs from another's only by case is warned about"
"$IMGFS" admin --state "$S" account add Alice 2>"$T/err"
assert_eq "imgfs admin: warning: account Alice differs from account alice only by case" "$(cat "$T/err")" \
    "the warning"
"$IMGFS" admin --state "$S" account list | grep -qx 'Alice - main -' || fail "Alice was not added"
"$IMGFS" admin --state "$S" account add erin 2>"$T/err"
[[ ! -s $T/err ]] || fail "a warning for erin: $(cat "$T/err")"

say "the state mounts as made by init, and admin works on it while mounted"
M="$T/mnt"
mkdir -p "$M"
mount_imgfs "$S" "$M"
[[ -d $M/regions/r4/public ]] || fail "region r4 is not in the mount"
"$IMGFS" admin --state "$S" quota set alice cn-north-1 snapshots 3
umount_imgfs "$M"

say "a state written by a newer imgfs is refused, by admin and by a mount"
cp -a "$S" "$T/newer"
v=$(sqlite3 "$T/newer/imgfs.db" "PRAGMA user_version")
sqlite3 "$T/newer/imgfs.db" "PRAGMA user_version = $((v + 1))"
rc=0
out=$("$IMGFS" admin --state "$T/newer" account list 2>&1) || rc=$?
echo "    $out"
assert_eq 1 "$rc" "exit status on a newer state"
[[ $out == *"newer imgfs"* ]] || fail "the refusal does not say a newer imgfs wrote the state: $out"
rc=0
out=$(timeout 60 "$IMGFS" -o "state=$T/newer" "$M" 2>&1) || rc=$?
((rc != 0)) || { _MOUNTS+=("$M"); fail "mounted a state of a newer imgfs"; }
[[ $out == *"newer imgfs"* ]] || fail "the mount's refusal does not say a newer imgfs wrote the state: $out"
mountpoint -q "$M" && fail "$M is mounted"
assert_eq "$((v + 1))" "$(sqlite3 "$T/newer/imgfs.db" "PRAGMA user_version")" "the newer state's version"
echo "    refused, left as it was"

say "a state the caller may not read: permission denied, not \"no imgfs state\" (issue 23)"
# $T is the test's own (mode 0700): let others pass through it to the
# state, whose own mode (0700, made by init) keeps them out.
chmod 711 "$T"
assert_eq 700 "$(stat -c %a "$S")" "mode of the state directory init made"
for form in "account list" "region list" "fsck" "init $S"; do
    rc=0
    # shellcheck disable=SC2086 # the form is words
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$IMGFS" admin --state "$S" $form 2>&1) || rc=$?
    assert_eq 1 "$rc" "exit status of imgfs admin $form as nobody"
    assert_eq "imgfs admin: $S: permission denied (the state belongs to uid 0: run imgfs as that user or as root)" \
        "$out" "imgfs admin $form as nobody"
done
# One step further out: the directory holding the state is closed too.
chmod 700 "$T"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$IMGFS" admin --state "$S" account list 2>&1) &&
    fail "account list as nobody through a closed directory succeeded"
assert_eq "imgfs admin: $S: permission denied" "$out" "account list as nobody, $T closed"
echo "    $out"

say "an empty imgfs.db is no state: admin commands, init and a mount refuse it and touch nothing"
E="$T/emptydb"
mkdir "$E"
: >"$E/imgfs.db"
want="$E/imgfs.db is empty: not an imgfs state (remove it, then create one with imgfs admin init $E or by mounting)"
for form in "account list" "account add zed" "region list" "init $E"; do
    rc=0
    # shellcheck disable=SC2086 # the form is words
    out=$("$IMGFS" admin --state "$E" $form 2>&1) || rc=$?
    assert_eq 1 "$rc" "exit status of imgfs admin $form on an empty imgfs.db"
    assert_eq "imgfs admin: $want" "$out" "imgfs admin $form on an empty imgfs.db"
done
mkdir -p "$T/mnt-empty"
rc=0
out=$(timeout 60 "$IMGFS" -o "state=$E" "$T/mnt-empty" 2>&1) || rc=$?
((rc != 0)) || { _MOUNTS+=("$T/mnt-empty"); fail "mounted a state whose imgfs.db is empty"; }
assert_eq "imgfs: $want" "$out" "the mount's refusal"
mountpoint -q "$T/mnt-empty" && fail "$T/mnt-empty is mounted"
assert_eq "imgfs.db" "$(ls -A "$E")" "what the refusals left in $E"
assert_eq 0 "$(stat -c %s "$E/imgfs.db")" "size of the empty imgfs.db after the refusals"
echo "    $out"

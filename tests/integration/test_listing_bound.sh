#!/usr/bin/env bash
# SPEC §12 "What bounds each cost" (issue 36's audit): images.csv and
# images.json list an account's images, and two of its folders have no
# quota (iso/; the recycle bin for the retention period).  Their rendering
# stops at the largest file an open takes (16 MiB): an account with
# 200,000 ISO images of 256-byte descriptions (about 106 MiB of JSON, 66
# of CSV) costs one `stat` or one refused `open` the rows of 16 MiB (about
# 31,500 images in JSON, 50,500 in CSV), not all of them — counted in
# /stats' imgfs_db_rows_total, not timed (a stat reads each image twice: it
# read 400,000 rows before).  The open is ENOMEM with its
# reason, as before; the stat says "larger than 16 MiB".
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

N=200000
MiB=1048576

setup_mount
me=$(id -un)
db() { sqlite3 -cmd '.timeout 10000' "$S/imgfs.db" "$@"; }
rows() { stat_of "$M" imgfs_db_rows_total; }

say "$N ISO images of $me, a 256-byte description each (rows put in the database: seconds, not minutes)"
acct=$(db "SELECT id FROM accounts WHERE name = '$me'")
region=$(db "SELECT id FROM regions WHERE name = 'cn-north-1'")
[[ -n $acct && -n $region ]] || fail "no account $me or region cn-north-1"
db "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < $N)
    INSERT INTO images(ext_id, region_id, account_id, folder, name, status, description, created, mtime_ns,
                       ctime_ns, dir_mtime_ns)
    SELECT printf('img-%08x', 4026531840 + n), $region, $acct, 4, 'iso' || n, 1, hex(zeroblob(128)), 1, 1, 1, 1
    FROM k"
assert_eq "$N" "$(db "SELECT count(*) FROM images WHERE account_id = $acct AND folder = 4")" "ISO images"

for f in images.json images.csv; do
    say "stat $f: more than 16 MiB, from the rows of 16 MiB, not of $N images"
    r0=$(rows)
    size=$(stat -c %s "$R/$f")
    r1=$(rows)
    echo "    st_size $size, $((r1 - r0)) rows read"
    ((size >= 16 * MiB)) || fail "stat $f says $size bytes: not past 16 MiB"
    ((size < 17 * MiB)) || fail "stat $f counted $size bytes: past 16 MiB it should stop"
    (((r1 - r0) < N)) || fail "stat $f read $((r1 - r0)) rows: the rendering did not stop at 16 MiB"

    say "cat $f: ENOMEM with the reason, from the rows of 16 MiB"
    r0=$(rows)
    assert_errno ENOMEM read "$R/$f"
    r1=$(rows)
    echo "    $((r1 - r0)) rows read"
    (((r1 - r0) < N)) || fail "open of $f read $((r1 - r0)) rows: the rendering did not stop at 16 MiB"
    grep -q "a generated file is at most 16 MiB: this one is larger" "$S/imgfs.log" ||
        fail "the log has no reason for the refused open of $f"
done

say "the rows gone: images.json is whole again, and stat agrees with it"
db "DELETE FROM images WHERE account_id = $acct AND folder = 4"
cat "$R/images.json" >"$T/j"
assert_eq "$(stat -c %s "$T/j")" "$(stat -c %s "$R/images.json")" "stat size of images.json"
jq -e 'map(select(.class == "iso")) | length == 0' "$T/j" >/dev/null || fail "images.json still lists ISO images"

#!/usr/bin/env bash
# SPEC §12, §9, §6.1: control and attribute files apply a command whole —
# a value written in pieces (`n`, then `5\n`) is applied once, at its
# newline (that write returns the command's errno) or at close (close(2)
# returns it), never piece by piece; 4 KiB, one line, no NUL or \r.  A
# successful operation clears the reason of an earlier refusal in `error`,
# except that of an image in status error.  rename(2) flags other than
# RENAME_NOREPLACE are EINVAL, never done as a plain rename.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount
P="$R/private"
I="$R/instances"

# pieces PATH PIECE...: opens PATH (O_WRONLY|O_TRUNC), writes each piece
# with its own write(2), closes; prints the result of every write and of
# the close (OK or the errno name).  A piece "?FILE" writes nothing: it
# prints "yes" or "no" for whether FILE exists at that moment.
pieces() {
    python3 -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
out = []
def run(f):
    try:
        f()
        out.append("OK")
    except OSError as e:
        out.append(errno.errorcode[e.errno])
for p in sys.argv[2:]:
    if p.startswith("?"):
        out.append("yes" if os.path.lexists(p[1:]) else "no")
    else:
        run(lambda: os.write(fd, os.fsencode(p)))
run(lambda: os.close(fd))
print(" ".join(out))' "$@"
}

say "a local image to convert: captured from vm1"
new_vm "$I/vm1"
write_random "$I/vm1/disks/vda" 0 1
mkdir "$P/loc"
capture "$P/loc" vm1

say "convert: 'n' then '5\\n' in two writes creates n5 once, at the newline; never n"
assert_eq "OK no OK yes OK" "$(pieces "$P/loc/convert" n "?$P/n5" $'5\n' "?$P/n5")" "write n, write 5\\n, close"
[[ ! -e "$P/n" ]] || fail "private/n was created from the first piece"
imgfs_wait "$P/n5" >/dev/null 2>&1 || fail "imgfs wait n5"
assert_eq cloud "$(cat "$P/n5/type")" "n5/type"

say "convert without a newline: applied at close; close returns the command's errno"
assert_eq "OK OK no OK" "$(pieces "$P/loc/convert" n "6" "?$P/n6")" "write n, write 6, close"
[[ -d "$P/n6" ]] || fail "private/n6 was not created at close"
assert_eq "OK EEXIST" "$(pieces "$P/loc/convert" n6)" "convert to a taken name, applied at close"
assert_match ".*n6.*" "$(cat "$P/loc/error")" "loc/error after the refusal at close"
assert_logged write "$P/loc/convert" EEXIST
imgfs_wait "$P/n6" >/dev/null 2>&1 || fail "imgfs wait n6"

say "a successful operation clears the refusal's reason (SPEC §9)"
echo "converted twice" >"$P/loc/description"
assert_eq "" "$(cat "$P/loc/error")" "loc/error after a successful write"
assert_errno EEXIST rename "$P/n5" "$P/n6"
[[ -n "$(cat "$P/n5/error")" ]] || fail "n5/error is empty after a refused rename"
mv -T "$P/n5" "$P/n7"
assert_eq "" "$(cat "$P/n7/error")" "n7/error after a successful rename"

say "the line's rules: nothing after the newline, NUL and \\r, 4 KiB in all, pieces in order"
assert_eq "EINVAL OK" "$(pieces "$P/loc/convert" $'a\nb')" "bytes after the newline in one write"
assert_eq "OK EINVAL OK" "$(pieces "$P/n7/description" $'x' $'\r\n')" "a carriage return in the second piece"
assert_eq "OK EINVAL OK" "$(pieces "$I/vm1/status" $'stop\n' "x")" "a piece after the applied line"
assert_eq "OK EINVAL OK" "$(pieces "$P/n7/description" "$(head -c 3000 /dev/zero | tr '\0' a)" \
    "$(head -c 1200 /dev/zero | tr '\0' b)")" "two pieces over 4 KiB"
assert_errno EINVAL write "$P/n7/description" "$(head -c 4097 /dev/zero | tr '\0' a)"
assert_eq "converted twice" "$(cat "$P/loc/description")" "loc/description untouched by refused writes"

say "multi-line files: each complete line applies the value so far, the last one at close"
python3 - "$P/n7/description" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"line one\n")
got = open(sys.argv[1]).read()
assert got == "line one\n", repr(got)
os.write(fd, b"line t")
got = open(sys.argv[1]).read()
assert got == "line one\n", "a partial line was applied: %r" % got
os.write(fd, b"wo")
os.close(fd)
got = open(sys.argv[1]).read()
assert got == "line one\nline two\n", repr(got)
EOF

say "instances/vm1/image and status take their command whole"
assert_eq "OK OK OK" "$(pieces "$I/vm1/image" "public/cen" $'tos-7.4\n')" "image in two pieces"
assert_eq "$(cat "$R/public/centos-7.4/id")" "$(cat "$I/vm1/image")" "vm1/image"
assert_eq "OK OK OK" "$(pieces "$I/vm1/status" "sta" $'rt\n')" "status in two pieces"
assert_eq running "$(cat "$I/vm1/status")" "vm1/status"
assert_eq "OK EINVAL" "$(pieces "$I/vm1/status" "sto")" "a bad value applied at close"
assert_eq running "$(cat "$I/vm1/status")" "vm1/status after the bad value"
echo stop >"$I/vm1/status"

say "source in pieces: one capture"
mkdir "$P/cap"
assert_eq "OK no OK OK" "$(pieces "$P/cap/source" "instance" "?$P/cap/never" $' vm1\n')" "source in two pieces"
imgfs_wait "$P/cap" >/dev/null 2>&1 || fail "imgfs wait cap"
assert_eq "instance $(cat "$I/vm1/id")" "$(cat "$P/cap/source")" "cap/source"

say "an image in status error keeps its failure's reason through later operations"
mkdir "$P/up"
python3 - "$P/up" <<'EOF'
import os, sys
d = sys.argv[1]
fd = os.open(d + "/disks/vda", os.O_WRONLY | os.O_CREAT, 0o644)
mbr = bytearray(512)
mbr[510:512] = b"\x55\xaa"
os.write(fd, bytes(mbr))
with open(d + "/cancel", "w") as f:
    f.write("\n")
try:
    os.close(fd)
except OSError:
    pass
EOF
wait_for 10 grep -qx error "$P/up/status" || fail "private/up did not end in error: $(cat "$P/up/status")"
reason=$(cat "$P/up/error")
[[ -n "$reason" ]] || fail "private/up/error is empty"
echo "kept" >"$P/up/description"
assert_eq "$reason" "$(cat "$P/up/error")" "up/error after a successful write"
assert_errno EEXIST rename "$P/up" "$P/loc"
assert_eq "$reason" "$(cat "$P/up/error")" "up/error after a refused rename"

say "rename flags: RENAME_WHITEOUT and RENAME_EXCHANGE EINVAL, RENAME_NOREPLACE renames"
renameat2() {
    python3 -c '
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, os.fsencode(sys.argv[1]), -100, os.fsencode(sys.argv[2]), int(sys.argv[3]))
print("OK" if r == 0 else errno.errorcode[ctypes.get_errno()])' "$@"
}
assert_eq EINVAL "$(renameat2 "$P/n7" "$P/n8" 4)" "RENAME_WHITEOUT"
assert_logged rename "$P/n7" EINVAL
assert_eq EINVAL "$(renameat2 "$P/n7" "$P/loc" 2)" "RENAME_EXCHANGE"
[[ -d "$P/n7" && ! -e "$P/n8" ]] || fail "a refused renameat2 moved n7"
assert_eq OK "$(renameat2 "$P/n7" "$P/n8" 1)" "RENAME_NOREPLACE"
assert_eq EEXIST "$(renameat2 "$P/n8" "$P/loc" 1)" "RENAME_NOREPLACE onto a taken name"

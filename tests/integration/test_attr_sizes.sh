#!/usr/bin/env bash
# SPEC §2.1 ("stat reports the true length of the content, so cat, cp, tar
# and rsync all see the same bytes"), §12: for every generated file in the
# tree (all regular files except the disks/* blobs), st_size equals the
# number of bytes a read returns, every non-empty value ends with a newline,
# and reads at odd offsets and sizes return the same bytes as one big read.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

setup_mount

say "create a private image with a description and tags, so private files are covered too"
mkdir "$R/private/sizes-test"
printf 'described \xe9\x95\x9c\xe5\x83\x8f\n' >"$R/private/sizes-test/description"
# One write(2): bash's builtin printf writes line by line, and a second
# write lands at a non-zero offset (EINVAL by SPEC §2.1).
assert_errno OK write "$R/private/sizes-test/tags" $'env=test\nteam=qa\n'

find "$M/regions" -type f ! -path '*/disks/*' -print0 >"$T/files"
nfiles=$(tr -cd '\0' <"$T/files" | wc -c)
((nfiles > 1000)) || fail "only $nfiles generated files found"

say "all $nfiles generated files: stat(2)'s size, the bytes one read returns, the last byte, stat(2) again"
# One process for every file (seven tools a file took six minutes under a
# parallel ctest); the same system calls stat and cat make.
python3 - "$T/files" <<'EOF' || fail "generated files with a wrong size or a missing newline"
import os, sys
paths = [p for p in open(sys.argv[1], "rb").read().split(b"\0") if p]
bad = 0
for p in paths:
    st = os.stat(p).st_size
    with open(p, "rb") as f:
        data = f.read()
    if st != len(data):
        print("size mismatch: stat %d, read %d bytes: %r" % (st, len(data), p), file=sys.stderr); bad += 1
        continue
    if data and not data.endswith(b"\n"):
        print("value does not end with a newline: %r" % p, file=sys.stderr); bad += 1
    st2 = os.stat(p).st_size
    if st2 != len(data):
        print("stat after the read (%d) disagrees with the read (%d): %r" % (st2, len(data), p), file=sys.stderr); bad += 1
sys.exit(1 if bad else 0)
EOF

say "every 10th of them with the tools themselves: stat -c %s, cat | wc -c"
bad=0
i=0
while IFS= read -r -d '' f; do
    ((i++ % 10 == 0)) || continue
    st=$(stat -c %s "$f")
    n=$(cat "$f" | wc -c) || { echo "cat failed: $f" >&2; bad=$((bad + 1)); continue; }
    [[ "$st" == "$n" ]] || { echo "size mismatch: stat $st, cat $n bytes: $f" >&2; bad=$((bad + 1)); }
done <"$T/files"
((bad == 0)) || fail "$bad generated files whose stat and cat disagree"

say "reads in 3-byte pieces and at every offset of a few files return the same bytes as one read"
python3 - "$T/files" <<'EOF' || fail "piecewise reads differ from whole reads"
import os, sys
paths = [p for p in open(sys.argv[1], "rb").read().split(b"\0") if p]
bad = 0
for i, p in enumerate(paths):
    fd = os.open(p, os.O_RDONLY)
    try:
        whole = b""
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            whole += b
        pieces = b""
        off = 0
        while True:
            b = os.pread(fd, 3, off)
            if not b:
                break
            pieces += b
            off += len(b)
        if pieces != whole:
            print("piecewise read differs: %r" % p, file=sys.stderr); bad += 1
        if i % 50 == 0:      # every offset for a sample of files
            for o in range(len(whole) + 2):
                if os.pread(fd, 4096, o) != whole[o:o + 4096]:
                    print("pread at %d differs: %r" % (o, p), file=sys.stderr); bad += 1
                    break
        if os.fstat(fd).st_size != len(whole):
            print("fstat size %d != %d: %r" % (os.fstat(fd).st_size, len(whole), p), file=sys.stderr); bad += 1
    finally:
        os.close(fd)
sys.exit(1 if bad else 0)
EOF

say "cp -r and tar of an image directory see the same bytes as cat"
d="$R/public/centos-7.4"
mkdir "$T/cp"
for f in "$d"/*; do
    [[ -f "$f" ]] || continue
    cp "$f" "$T/cp/"
    cat "$f" >"$T/cur"
    assert_file_eq "$T/cur" "$T/cp/$(basename "$f")" "cp of $(basename "$f")"
done
tar -C "$d" --exclude=disks -cf "$T/img.tar" .
mkdir "$T/untar"
tar -C "$T/untar" -xf "$T/img.tar"
for f in "$d"/*; do
    [[ -f "$f" ]] || continue
    cat "$f" >"$T/cur"
    assert_file_eq "$T/cur" "$T/untar/$(basename "$f")" "tar round trip of $(basename "$f")"
done

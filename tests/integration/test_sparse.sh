#!/usr/bin/env bash
# SPEC §2.3: backup tools copy the blobs sparsely — cp --sparse=always and
# tar --sparse give byte-identical, still-sparse copies and read about as
# many bytes as the blob stores; reads resumed at an offset (dd skip=)
# return the same bytes as a read from that offset.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
BLOB_PY="$INTEGRATION_DIR/blob.py"

setup_mount

n=$(smallest_public "$R")
disk="$R/public/$n/disks/vda"
size=$(stat -c %s "$disk")
stored=$(($(stat -c %b "$disk") * 512))
say "public/$n/disks/vda: virtual size $size, stored $stored bytes"
((stored > 0)) || fail "st_blocks of $disk is 0 (tar --sparse would store it as all holes)"
((stored * 4 < size)) || fail "stored size $stored is not well under the virtual size $size: not sparse"
slack=$((8 * 1048576))

say "cp --sparse=always: equal bytes, small copy, reads about the stored size"
mkdir "$T/cp"
rchar=$(python3 "$BLOB_PY" rchar cp --sparse=always "$disk" "$T/cp/vda") || fail "cp --sparse=always failed"
echo "    cp read $rchar bytes"
cmp "$disk" "$T/cp/vda" || fail "cp --sparse=always copy differs from the blob"
assert_eq "$size" "$(stat -c %s "$T/cp/vda")" "size of the cp copy"
du_k=$(du -k "$T/cp/vda" | cut -f1)
echo "    du -k of the copy: $du_k KiB"
((du_k * 1024 <= stored + slack)) || fail "cp copy takes $du_k KiB, more than the stored $stored bytes + 8 MiB"
((du_k * 1024 * 4 < size)) || fail "cp copy takes $du_k KiB: not sparse"
((rchar <= stored + slack)) || fail "cp read $rchar bytes for $stored stored bytes: holes were read, not skipped"

say "tar --sparse -cf and extract: equal bytes, archive and extracted copy stay small"
mkdir "$T/tar-out"
rchar=$(python3 "$BLOB_PY" rchar tar --sparse -C "$R/public/$n/disks" -cf "$T/vda.tar" vda) || fail "tar --sparse -cf failed"
echo "    tar read $rchar bytes, archive $(stat -c %s "$T/vda.tar") bytes"
(($(stat -c %s "$T/vda.tar") <= stored + slack)) || fail "tar archive is $(stat -c %s "$T/vda.tar") bytes for $stored stored"
((rchar <= 2 * stored + slack)) || fail "tar read $rchar bytes for $stored stored bytes"
tar -C "$T/tar-out" --sparse -xf "$T/vda.tar"
cmp "$disk" "$T/tar-out/vda" || fail "file extracted from tar --sparse differs from the blob"
du_k=$(du -k "$T/tar-out/vda" | cut -f1)
echo "    du -k of the extracted file: $du_k KiB"
((du_k * 1024 <= stored + slack)) || fail "extracted file takes $du_k KiB: not sparse"
tar -tvf "$T/vda.tar" | grep -q " $size " || { tar -tvf "$T/vda.tar" >&2; fail "tar lists a wrong size"; }

say "resumed reads: dd bs=1M skip=N of a tail equals a pread from N MiB"
mapfile -t data < <(python3 "$BLOB_PY" datamap "$T/cp/vda")
nchunks=$(((size + 1048575) / 1048576))
last=${data[$((${#data[@]} - 1))]}
for range in "$((nchunks > 48 ? nchunks - 48 : 0)) 48" "$((last > 0 ? last - 1 : 0)) 4"; do
    read -r skip count <<<"$range"
    echo "    dd skip=$skip count=$count"
    dd if="$disk" of="$T/dd.tail" bs=1M skip="$skip" count="$count" status=none || fail "dd skip=$skip failed"
    (($(stat -c %s "$T/dd.tail") > 0)) || fail "dd skip=$skip read nothing"
    python3 "$BLOB_PY" tail "$disk" $((skip * 1048576)) "$(stat -c %s "$T/dd.tail")" "$T/py.tail"
    cmp "$T/dd.tail" "$T/py.tail" || fail "dd skip=$skip differs from pread at that offset"
    cmp -i "$((skip * 1048576)):0" -n "$(stat -c %s "$T/dd.tail")" "$T/cp/vda" "$T/dd.tail" ||
        fail "dd skip=$skip differs from the same range of the cp copy"
done

say "the last bytes of the disk: dd iflag=skip_bytes of the final 1000 bytes"
dd if="$disk" of="$T/end" bs=4096 iflag=skip_bytes skip=$((size - 1000)) status=none
assert_eq 1000 "$(stat -c %s "$T/end")" "bytes read at the end of the disk"
cmp -i "$((size - 1000)):0" "$T/cp/vda" "$T/end" || fail "the last 1000 bytes differ"

#!/usr/bin/env python3
"""mda.py FILE OFFSET: the newest metadata text of the LVM2 physical volume
at OFFSET bytes in FILE, as its first metadata area's header points at it
(raw_locn slot 0), printed as "TEXT_OFFSET TEXT_SIZE AREA_SIZE WRAPPED
LAST_BYTE GENERATIONS": where lvm2 put it in the area, whether it runs
past the area's end into its start, its last byte (lvm2 ends it with a
NUL: 0), and how many texts of the group the area holds (the older
generations lvm2 leaves behind: "contents = " lines).  For the test of
SPEC §18's LVM reader against volume groups lvm2 itself made
(test_inside_lvm2.sh)."""
import struct
import sys

path, base = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    f.seek(base)
    head = f.read(2048)
    label = next(head[s:s + 512] for s in range(0, 2048, 512) if head[s:s + 8] == b"LABELONE")
    pvh = label[struct.unpack_from("<I", label, 20)[0]:]
    p = 40
    while struct.unpack_from("<QQ", pvh, p) != (0, 0):  # data areas
        p += 16
    mda, msize = struct.unpack_from("<QQ", pvh, p + 16)
    f.seek(base + mda)
    area = f.read(msize)
off, size = struct.unpack_from("<QQ", area, 40)
wrapped = off + size > msize
text = area[off:off + size] if not wrapped else area[off:] + area[512:512 + off + size - msize]
print(off, size, msize, int(wrapped), text[-1], area.count(b'contents = "Text Format Volume Group"'))

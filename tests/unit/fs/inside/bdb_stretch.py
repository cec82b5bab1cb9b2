# bdb_stretch.py IN OUT: a copy of a Berkeley DB hash database (rpm's
# Packages, db_load's, little-endian) whose first off-page item is moved
# to a new overflow chain at the file's end, its first page saying one
# byte more than a page holds (per + 1): the page's own per bytes, and the
# next page's first byte (its header's, set to the item's next byte) —
# what a reader that trusts the count past its page would take for the
# whole item (test_inspect_pkg.c: the chain is damaged, the item not
# listed).  Prints the item's length.
import struct, sys

d = bytearray(open(sys.argv[1], "rb").read())
ps, last = struct.unpack_from("<I", d, 20)[0], struct.unpack_from("<I", d, 32)[0]
per = ps - 26


def page(n):
    return d[n * ps:(n + 1) * ps]


def item():
    for n in range(1, last + 1):
        pg = page(n)
        if pg[25] not in (2, 13):
            continue
        count = struct.unpack_from("<H", pg, 20)[0]
        for i in range(1, count, 2):
            at = struct.unpack_from("<H", pg, 26 + 2 * i)[0]
            if pg[at] == 3:
                return n * ps + at
    sys.exit("no off-page item")


ref = item()
pgno, tlen = struct.unpack_from("<II", d, ref + 4)
blob = bytearray()
while len(blob) < tlen:
    pg = page(pgno)
    blob += pg[26:26 + struct.unpack_from("<H", pg, 22)[0]]
    pgno = struct.unpack_from("<I", pg, 16)[0]
if tlen <= per + 1:
    sys.exit("the item fits a page: nothing to stretch")
# the new chain: pages last+1, last+2, ...
first = last + 1
rest = blob[per + 1:]
parts = [rest[i:i + per] for i in range(0, len(rest), per)]
pages = []
for k in range(1 + len(parts)):
    pg = bytearray(ps)
    pg[25] = 7
    nxt = first + k + 1 if k < len(parts) else 0
    struct.pack_into("<I", pg, 16, nxt)
    if k == 0:
        struct.pack_into("<H", pg, 22, per + 1)
        pg[26:26 + per] = blob[:per]
    else:
        struct.pack_into("<H", pg, 22, len(parts[k - 1]))
        pg[26:26 + len(parts[k - 1])] = parts[k - 1]
    pages.append(pg)
pages[1][0] = blob[per]  # the byte a page past the first's count would be
struct.pack_into("<I", d, ref + 4, first)
struct.pack_into("<I", d, 32, first + len(pages) - 1)
open(sys.argv[2], "wb").write(d + b"".join(pages))
print(tlen)

/*
 * xfs.c — XFS inside a helper, read by a reader of imgfs's own (SPEC §18;
 * ins_fs.h).  There is no well-kept userspace library for XFS: libxfs is
 * xfsprogs' internal code (not installed, not a stable interface), so
 * this is a small, strict reader of the on-disk format, read-only, of
 * what files/ shows and nothing else:
 *
 * - superblocks v4 and v5 (CRC), the first one only (its CRC checked);
 * - an inode's place computed from its number (allocation group, block,
 *   slot: no inode btree walk), cores v1/v2/v3 (v3's CRC and number
 *   checked), timestamps with or without bigtime;
 * - data forks in local, extents and btree formats (a btree's depth at
 *   most its stored level, at most XFS_MAX_LEVELS; its node blocks' CRC,
 *   magic, level and record counts checked; the blocks visited bounded);
 * - directories in shortform, block, leaf and node forms: a listing
 *   walks the data blocks below the leaf offset (the leaf and free-index
 *   blocks only speed up the kernel's lookups); a lookup hashes the
 *   names of the last directory it looked in, from the same walk;
 * - symbolic links local and remote (v5 remote blocks: header and CRC);
 * - regular files' bytes, holes and unwritten extents reading as zeros.
 *
 * Every length, extent and block number is checked against the volume
 * before it is used; what fails a check is EIO for that object, with the
 * reason (ins_why), and the rest of the volume reads.  The log is not
 * replayed: a file system that was not unmounted cleanly shows what its
 * blocks hold.  Fuzzed by tests/fuzz/fuzz_xfs.c, fed from memory.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "ins_fs.h"
#include "ins_xfs.h"

#define XFS_MAX_LEVELS 9            /* a bmap btree's depth (XFS's own bound is lower) */
#define XFS_MAX_EXTENTS (1u << 20)  /* of one file kept (32 MiB) */
#define XFS_LEAF_OFFSET (32ull << 30) /* a directory's leaf blocks start here */
#define XFS_LINK_MAX 1024           /* XFS_SYMLINK_MAXLEN */
#define XFS_DIR_BLOCKS 65536        /* directory blocks read for one listing */
#define CACHE_BYTES (8u << 20)      /* metadata blocks kept */
#define READ_AHEAD 16               /* blocks fetched around a miss */

/* ---- the superblock ------------------------------------------------------ */

static struct {
	uint64_t vol_size;
	uint32_t blocksize, agblocks, agcount, dirblksize;
	uint64_t dblocks, rootino;
	unsigned blocklog, agblklog, inopblog, inodelog;
	uint32_t inodesize;
	bool v5, ftype, bigtime_ok, nrext64;
	uint64_t opens;
} sb;

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CRC-32C (Castagnoli, reflected), as XFS's v5 metadata carries it: over
 * the object with its CRC field taken as zero, stored little-endian. */
static uint32_t crc32c(const uint8_t *p, size_t len, size_t skip)
{
	static uint32_t table[256];
	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ (i >= skip && i < skip + 4 ? 0 : p[i])) & 0xff] ^ (c >> 8);
	return ~c;
}

static bool crc_ok(const uint8_t *p, size_t len, size_t at)
{
	return crc32c(p, len, at) == le32(p + at);
}

static unsigned log2_exact(uint64_t v)
{
	unsigned l = 0;
	while (l < 63 && (1ull << l) < v)
		l++;
	return l;
}

/* ---- blocks -------------------------------------------------------------- */

/* Metadata blocks, by volume block number: a direct-mapped cache of
 * CACHE_BYTES, filled READ_AHEAD blocks at a time. */
static struct slot {
	uint64_t blk;
	bool valid;
} *slots;
static uint8_t *slot_data;
static unsigned nslots;

/* The volume block number (not XFS's agno:agbno encoding) of fsbno, or
 * UINT64_MAX when it lies outside the volume's allocation groups. */
static uint64_t fsb_to_blk(uint64_t fsbno)
{
	uint64_t agno = fsbno >> sb.agblklog, agbno = fsbno & ((1ull << sb.agblklog) - 1);
	if (agno >= sb.agcount || agbno >= sb.agblocks)
		return UINT64_MAX;
	uint64_t b = agno * sb.agblocks + agbno;
	return b < sb.dblocks ? b : UINT64_MAX;
}

/* Block blk of the volume (cached): a pointer valid until the next call,
 * or NULL (EIO, reason given). */
static const uint8_t *block(uint64_t blk)
{
	if (blk >= sb.dblocks || blk > sb.vol_size / sb.blocksize - 1 || sb.vol_size < sb.blocksize) {
		ins_why("block %llu is past the volume's end", (unsigned long long)blk);
		return NULL;
	}
	unsigned s = (unsigned)(blk % nslots);
	if (slots[s].valid && slots[s].blk == blk)
		return slot_data + (size_t)s * sb.blocksize;
	uint64_t last = sb.vol_size / sb.blocksize; /* blocks wholly inside */
	if (last > sb.dblocks)
		last = sb.dblocks;
	uint64_t first = blk - blk % READ_AHEAD, n = READ_AHEAD;
	if (n > last - first)
		n = last - first;
	static uint8_t *window;
	if (!window && !(window = malloc((size_t)READ_AHEAD * 65536))) {
		ins_why("out of memory");
		return NULL;
	}
	if (ins_fetch(first * sb.blocksize, (size_t)(n * sb.blocksize), window) < 0) {
		ins_why("block %llu cannot be read", (unsigned long long)blk);
		return NULL;
	}
	for (uint64_t b = first; b < first + n; b++) {
		unsigned t = (unsigned)(b % nslots);
		memcpy(slot_data + (size_t)t * sb.blocksize, window + (b - first) * sb.blocksize, sb.blocksize);
		slots[t].blk = b;
		slots[t].valid = true;
	}
	return slot_data + (size_t)s * sb.blocksize;
}

/* len bytes of the volume from block blk on (not cached): 0 or -EIO. */
static int read_blocks(uint64_t blk, uint64_t count, void *buf)
{
	if (blk >= sb.dblocks || count > sb.dblocks - blk) {
		ins_why("blocks %llu+%llu are past the file system's end", (unsigned long long)blk,
		        (unsigned long long)count);
		return -EIO;
	}
	if (ins_fetch(blk * sb.blocksize, (size_t)(count * sb.blocksize), buf) < 0) {
		ins_why("block %llu is past the volume's end", (unsigned long long)blk);
		return -EIO;
	}
	return 0;
}

/* ---- what is kept between requests --------------------------------------- */

struct inode {
	uint64_t ino;
	uint8_t raw[2048];  /* the inode as stored (inodesize bytes) */
	unsigned version, format, core;
	uint16_t mode;
	uint64_t size, nextents;
	const uint8_t *fork; /* the data fork, fork_size bytes */
	uint32_t fork_size;
	bool afork;          /* fork is the attribute fork (ins_xfs_attr_block) */
};

/* The last inode read: a request reads the same one again (stat, then
 * read or readlink; a listing's entries, each once).  get_inode's pointer
 * is to it, valid until the next get_inode: a caller that calls out
 * meanwhile (a listing's callback may look up, stat or list another
 * inode: inspection's walks do) works on a copy of its own (xfs_list). */
static struct inode last;
static bool last_valid;

struct extent {
	uint64_t off, blk, count; /* file block, volume block, blocks */
	bool unwritten;
};

/* The last file's extents, in file order. */
static struct {
	uint64_t ino;
	bool valid, afork; /* afork: the extents of its attribute fork */
	uint32_t n, cap;
	struct extent *e;
	uint64_t visits; /* btree blocks read while collecting */
} map;

/* ---- open ---------------------------------------------------------------- */

static int xfs_open(uint64_t size, char *why, size_t cap)
{
	uint8_t s[512];
	sb.vol_size = size;
	if (size < 512 || ins_fetch(0, sizeof(s), s) < 0) {
		snprintf(why, cap, "XFS: the superblock cannot be read");
		return -EIO;
	}
	if (memcmp(s, "XFSB", 4) != 0) {
		snprintf(why, cap, "XFS: no superblock magic");
		return -EIO;
	}
	uint16_t version = be16(s + 100), sectsize = be16(s + 102);
	sb.blocksize = be32(s + 4);
	sb.dblocks = be64(s + 8);
	sb.rootino = be64(s + 56);
	sb.agblocks = be32(s + 84);
	sb.agcount = be32(s + 88);
	sb.inodesize = be16(s + 104);
	sb.blocklog = s[120];
	sb.inodelog = s[122];
	sb.inopblog = s[123];
	sb.agblklog = s[124];
	uint8_t dirblklog = s[192];
	uint32_t features2 = be32(s + 200), incompat = be32(s + 216);
	sb.v5 = (version & 0xf) == 5;
	if ((version & 0xf) != 4 && !sb.v5) {
		snprintf(why, cap, "XFS: superblock version %u, which this reader does not know", version & 0xf);
		return -EIO;
	}
	if (sectsize < 512 || sectsize > 32768 || (sectsize & (sectsize - 1))) {
		snprintf(why, cap, "XFS: sector size %u out of bounds", sectsize);
		return -EIO;
	}
	if (sb.v5) {
		uint8_t *full = malloc(sectsize);
		bool ok = full && sectsize <= size && ins_fetch(0, sectsize, full) == 0 && crc_ok(full, sectsize, 224);
		free(full);
		if (!ok) {
			snprintf(why, cap, "XFS: the superblock fails its CRC");
			return -EIO;
		}
		/* ftype, sparse inodes, meta uuid, bigtime, nrext64: all this
		 * reader needs to know of them is below. */
		if (incompat & ~(uint32_t)0x2f) {
			snprintf(why, cap, "XFS: incompatible features 0x%x this reader does not know",
			         incompat & ~(uint32_t)0x2f);
			return -EIO;
		}
		sb.ftype = true;
		sb.bigtime_ok = incompat & 0x8;
		sb.nrext64 = incompat & 0x20;
	} else {
		if (!(version & 0x2000)) {
			snprintf(why, cap, "XFS: version 1 directories, which this reader does not read");
			return -EIO;
		}
		sb.ftype = (version & 0x8000) && (features2 & 0x200);
		sb.bigtime_ok = sb.nrext64 = false;
	}
	if (sb.blocklog < 9 || sb.blocklog > 16 || sb.blocksize != 1u << sb.blocklog || sb.inodelog < 8 ||
	    sb.inodelog > 11 || sb.inodesize != 1u << sb.inodelog || sb.inodelog > sb.blocklog ||
	    sb.inopblog != sb.blocklog - sb.inodelog || sb.agblocks < 8 || sb.agcount == 0 ||
	    sb.agblklog != log2_exact(sb.agblocks) || sb.agblklog + sb.inopblog > 56 || dirblklog > 16 - sb.blocklog ||
	    sb.dblocks == 0 || sb.dblocks > (uint64_t)sb.agcount * sb.agblocks || sb.dblocks > UINT64_MAX >> 17 ||
	    sb.dblocks <= (uint64_t)(sb.agcount - 1) * sb.agblocks || (sb.v5 && sb.inodesize < 512)) {
		snprintf(why, cap, "XFS: the superblock's geometry is inconsistent");
		return -EIO;
	}
	sb.dirblksize = sb.blocksize << dirblklog;
	last_valid = false;
	map.valid = false;
	sb.opens++; /* what was kept of another volume is not this one's */
	nslots = CACHE_BYTES / sb.blocksize;
	free(slots);
	free(slot_data);
	slots = calloc(nslots, sizeof(*slots));
	slot_data = malloc((size_t)nslots * sb.blocksize);
	if (!slots || !slot_data) {
		snprintf(why, cap, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static uint64_t xfs_root(void)
{
	return sb.rootino;
}

/* ---- inodes -------------------------------------------------------------- */

static int get_inode(uint64_t ino, struct inode **out)
{
	if (last_valid && last.ino == ino) {
		*out = &last;
		return 0;
	}
	last_valid = false;
	uint64_t agno = ino >> (sb.agblklog + sb.inopblog);
	uint64_t agino = ino & ((1ull << (sb.agblklog + sb.inopblog)) - 1);
	uint64_t agbno = agino >> sb.inopblog, slot = agino & ((1ull << sb.inopblog) - 1);
	if (ino == 0 || agno >= sb.agcount || agbno >= sb.agblocks) {
		ins_why("inode number %llu is outside the file system", (unsigned long long)ino);
		return -ENOENT;
	}
	const uint8_t *b = block(agno * sb.agblocks + agbno);
	if (!b)
		return -EIO;
	struct inode *in = &last;
	memset(in, 0, offsetof(struct inode, raw));
	in->ino = ino;
	memcpy(in->raw, b + slot * sb.inodesize, sb.inodesize);
	const uint8_t *r = in->raw;
	if (be16(r) != 0x494e) {
		ins_why("inode %llu has no inode magic", (unsigned long long)ino);
		return -EIO;
	}
	in->mode = be16(r + 2);
	in->version = r[4];
	in->format = r[5];
	if (in->version < 1 || in->version > 3 || (in->version == 3) != sb.v5) {
		ins_why("inode %llu has version %u", (unsigned long long)ino, in->version);
		return -EIO;
	}
	in->core = in->version == 3 ? 176 : 100;
	if (in->version == 3) {
		if (!crc_ok(r, sb.inodesize, 100)) {
			ins_why("inode %llu fails its CRC", (unsigned long long)ino);
			return -EIO;
		}
		if (be64(r + 152) != ino) {
			ins_why("inode %llu says it is inode %llu", (unsigned long long)ino,
			        (unsigned long long)be64(r + 152));
			return -EIO;
		}
	}
	if (in->mode == 0)
		return -ENOENT; /* free */
	bool big = in->version == 3 && (be64(r + 120) & (1u << 4)) && sb.nrext64;
	in->size = be64(r + 56);
	in->nextents = big ? be64(r + 24) : be32(r + 76);
	uint8_t forkoff = r[82];
	uint32_t lit = sb.inodesize - in->core;
	in->fork_size = forkoff ? (uint32_t)forkoff * 8 : lit;
	if (in->fork_size > lit || (int64_t)in->size < 0) {
		ins_why("inode %llu's fork or size is out of bounds", (unsigned long long)ino);
		return -EIO;
	}
	in->fork = r + in->core;
	last_valid = true;
	*out = in;
	return 0;
}

static struct ins_time ts(const struct inode *in, unsigned at)
{
	const uint8_t *p = in->raw + at;
	if (in->version == 3 && (be64(in->raw + 120) & (1u << 3)) && sb.bigtime_ok) {
		/* bigtime: nanoseconds since 1901-12-13T20:45:52Z (-2^31 s), to 2486 */
		uint64_t v = be64(p);
		return (struct ins_time){(int64_t)(v / 1000000000u) - (1ll << 31), (uint32_t)(v % 1000000000u), 0};
	}
	uint32_t ns = be32(p + 4);
	return (struct ins_time){(int32_t)be32(p), ns < 1000000000 ? ns : 0, 0};
}

static int xfs_stat(uint64_t ino, struct ins_stat *st)
{
	struct inode *in;
	int rc;
	if ((rc = get_inode(ino, &in)) < 0)
		return rc;
	const uint8_t *r = in->raw;
	memset(st, 0, sizeof(*st));
	st->mode = in->mode;
	st->uid = be32(r + 8);
	st->gid = be32(r + 12);
	st->nlink = in->version == 1 ? be16(r + 6) : be32(r + 16);
	st->size = in->size;
	uint64_t nblocks = be64(r + 64);
	st->blocks = nblocks > (UINT64_MAX >> 1) >> sb.blocklog ? 0 : nblocks << (sb.blocklog - 9);
	st->atime = ts(in, 32);
	st->mtime = ts(in, 40);
	st->ctime = ts(in, 48);
	if ((S_ISCHR(in->mode) || S_ISBLK(in->mode)) && in->format == 0 && in->fork_size >= 4) {
		uint32_t d = be32(in->fork); /* sysv: 14 bits of major, 18 of minor */
		st->rdev = (uint32_t)makedev((d >> 18) & 0x3fff, d & 0x3ffff);
	}
	return 0;
}

/* ---- extents ------------------------------------------------------------- */

static int add_extent(const uint8_t *rec)
{
	uint64_t l0 = be64(rec), l1 = be64(rec + 8);
	struct extent x = {
		.unwritten = l0 >> 63,
		.off = (l0 & ~(1ull << 63)) >> 9,
		.count = l1 & ((1u << 21) - 1),
	};
	uint64_t fsb = (l0 & 0x1ff) << 43 | l1 >> 21;
	if (x.count == 0)
		return 0; /* nothing mapped */
	x.blk = fsb_to_blk(fsb);
	uint64_t agbno = fsb & ((1ull << sb.agblklog) - 1);
	if (x.blk == UINT64_MAX || x.count > sb.agblocks - agbno || x.count > sb.dblocks - x.blk) {
		ins_why("inode %llu has an extent past the end of its allocation group or the volume",
		        (unsigned long long)map.ino);
		return -EIO;
	}
	if (map.n && (x.off < map.e[map.n - 1].off + map.e[map.n - 1].count)) {
		ins_why("inode %llu's extents overlap or are out of order", (unsigned long long)map.ino);
		return -EIO;
	}
	if (map.n >= XFS_MAX_EXTENTS) {
		ins_why("inode %llu has more than %u extents", (unsigned long long)map.ino, XFS_MAX_EXTENTS);
		return -EIO;
	}
	if (map.n == map.cap) {
		uint32_t cap = map.cap ? map.cap * 2 : 64;
		struct extent *e = realloc(map.e, cap * sizeof(*e));
		if (!e) {
			ins_why("out of memory");
			return -ENOMEM;
		}
		map.e = e;
		map.cap = cap;
	}
	map.e[map.n++] = x;
	return 0;
}

/* The bmap btree block fsbno, of level level: its records, or its
 * children's. */
static int bmbt_walk(uint64_t fsbno, unsigned level, uint64_t budget)
{
	uint64_t blk = fsb_to_blk(fsbno);
	unsigned hdr = sb.v5 ? 72 : 24;
	int rc;
	if (blk == UINT64_MAX) {
		ins_why("inode %llu's extent btree points outside the volume", (unsigned long long)map.ino);
		return -EIO;
	}
	if (++map.visits > budget) {
		ins_why("inode %llu's extent btree has more blocks than its extents need (a cycle?)",
		        (unsigned long long)map.ino);
		return -EIO;
	}
	/* Copied: the cache's block is reused by the walk below. */
	uint8_t *b = malloc(sb.blocksize);
	const uint8_t *c = block(blk);
	if (!b || !c) {
		free(b);
		if (!b)
			ins_why("out of memory");
		return b ? -EIO : -ENOMEM;
	}
	memcpy(b, c, sb.blocksize);
	uint16_t nrecs = be16(b + 6);
	uint32_t maxrecs = (sb.blocksize - hdr) / (level ? 16 : 16);
	rc = -EIO;
	if (memcmp(b, sb.v5 ? "BMA3" : "BMAP", 4) != 0)
		ins_why("inode %llu's extent btree block %llu has no btree magic", (unsigned long long)map.ino,
		        (unsigned long long)blk);
	else if (sb.v5 && !crc_ok(b, sb.blocksize, 64))
		ins_why("inode %llu's extent btree block %llu fails its CRC", (unsigned long long)map.ino,
		        (unsigned long long)blk);
	else if (be16(b + 4) != level || nrecs == 0 || nrecs > maxrecs || (sb.v5 && be64(b + 56) != map.ino))
		ins_why("inode %llu's extent btree block %llu is malformed", (unsigned long long)map.ino,
		        (unsigned long long)blk);
	else if (level == 0) {
		rc = 0;
		for (unsigned i = 0; !rc && i < nrecs; i++)
			rc = add_extent(b + hdr + (size_t)i * 16);
	} else {
		rc = 0;
		for (unsigned i = 0; !rc && i < nrecs; i++)
			rc = bmbt_walk(be64(b + hdr + (size_t)maxrecs * 8 + (size_t)i * 8), level - 1, budget);
	}
	free(b);
	return rc;
}

/* in's extents into map: 0 or -errno. */
static int extents(struct inode *in)
{
	int rc = 0;
	if (map.valid && map.ino == in->ino && map.afork == in->afork)
		return 0;
	map.valid = false;
	map.ino = in->ino;
	map.afork = in->afork;
	map.n = 0;
	map.visits = 0;
	if (in->nextents > XFS_MAX_EXTENTS) {
		ins_why("inode %llu has more than %u extents", (unsigned long long)in->ino, XFS_MAX_EXTENTS);
		return -EIO;
	}
	if (in->format == 2) {
		if (in->nextents * 16 > in->fork_size) {
			ins_why("inode %llu's extent count overflows its fork", (unsigned long long)in->ino);
			return -EIO;
		}
		for (uint64_t i = 0; !rc && i < in->nextents; i++)
			rc = add_extent(in->fork + i * 16);
	} else if (in->format == 3) {
		/* The root in the inode: level, count, keys, then pointers at
		 * the place the fork's size gives them. */
		uint16_t level = be16(in->fork), nrecs = be16(in->fork + 2);
		uint32_t maxrecs = (in->fork_size - 4) / 16;
		if (level == 0 || level > XFS_MAX_LEVELS || nrecs == 0 || nrecs > maxrecs) {
			ins_why("inode %llu's extent btree root is malformed", (unsigned long long)in->ino);
			return -EIO;
		}
		/* Each block holds one record at least: more blocks than
		 * extents (plus the levels) is a cycle or a lie. */
		uint64_t budget = in->nextents + XFS_MAX_LEVELS * 2 + 2;
		uint64_t ptrs[XFS_MAX_EXTENTS / 65536 + 512];
		if (nrecs > sizeof(ptrs) / sizeof(ptrs[0]))
			return -EIO;
		for (unsigned i = 0; i < nrecs; i++)
			ptrs[i] = be64(in->fork + 4 + (size_t)maxrecs * 8 + (size_t)i * 8);
		for (unsigned i = 0; !rc && i < nrecs; i++)
			rc = bmbt_walk(ptrs[i], level - 1u, budget);
		if (!rc && map.n > in->nextents) {
			ins_why("inode %llu has more extents than it says", (unsigned long long)in->ino);
			rc = -EIO;
		}
	} else {
		ins_why("inode %llu has data fork format %u", (unsigned long long)in->ino, in->format);
		return -EIO;
	}
	if (rc)
		return rc;
	map.valid = true;
	return 0;
}

/* The extent of map holding file block fb, or the index of the first
 * after it (NULL: a hole up to that one, or to the end). */
static const struct extent *find_extent(uint64_t fb, uint32_t *next)
{
	uint32_t lo = 0, hi = map.n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (map.e[mid].off + map.e[mid].count <= fb)
			lo = mid + 1;
		else
			hi = mid;
	}
	*next = lo;
	return lo < map.n && map.e[lo].off <= fb ? &map.e[lo] : NULL;
}

/* len bytes of in's data at off: holes and unwritten extents as zeros. */
static int read_data(struct inode *in, uint64_t off, uint32_t len, uint8_t *buf)
{
	int rc;
	if (in->format == 1) {
		if (off > in->fork_size || len > in->fork_size - off) {
			ins_why("inode %llu's inline data is out of bounds", (unsigned long long)in->ino);
			return -EIO;
		}
		memcpy(buf, in->fork + off, len);
		return 0;
	}
	if ((rc = extents(in)) < 0)
		return rc;
	while (len) {
		uint64_t fb = off >> sb.blocklog, in_blk = off & (sb.blocksize - 1);
		uint32_t next;
		const struct extent *x = find_extent(fb, &next);
		uint64_t avail; /* bytes from off this extent (or hole) covers */
		if (!x) {
			uint64_t gap = next < map.n ? map.e[next].off - fb : UINT64_MAX;
			avail = gap > UINT64_MAX >> 17 ? UINT64_MAX : (gap << sb.blocklog) - in_blk;
			uint32_t n = avail < len ? (uint32_t)avail : len;
			memset(buf, 0, n);
			buf += n, off += n, len -= n;
			continue;
		}
		avail = ((x->off + x->count - fb) << sb.blocklog) - in_blk;
		uint32_t n = avail < len ? (uint32_t)avail : len;
		if (x->unwritten) {
			memset(buf, 0, n);
		} else {
			uint64_t at = ((x->blk + (fb - x->off)) << sb.blocklog) + in_blk;
			if (at + n > sb.dblocks << sb.blocklog || ins_fetch(at, n, buf) < 0) {
				ins_why("inode %llu's data lies past the volume's end", (unsigned long long)in->ino);
				return -EIO;
			}
		}
		buf += n, off += n, len -= n;
	}
	return 0;
}

static int xfs_read(uint64_t ino, uint64_t off, uint32_t len, void *buf, uint32_t *got)
{
	struct inode *in;
	int rc;
	*got = 0;
	if ((rc = get_inode(ino, &in)) < 0)
		return rc;
	if (be16(in->raw + 90) & 1) {
		ins_why("inode %llu is a realtime file, which this reader does not read", (unsigned long long)ino);
		return -EIO;
	}
	if ((rc = read_data(in, off, len, buf)) < 0)
		return rc;
	*got = len;
	return 0;
}

static int xfs_readlink(uint64_t ino, char *buf, size_t len)
{
	struct inode *in;
	int rc;
	if ((rc = get_inode(ino, &in)) < 0)
		return rc;
	if (len > XFS_LINK_MAX) {
		ins_why("link %llu is longer than XFS allows", (unsigned long long)ino);
		return -EIO;
	}
	if (in->format == 1) {
		if (len > in->fork_size) {
			ins_why("link %llu's inline target is out of bounds", (unsigned long long)ino);
			return -EIO;
		}
		memcpy(buf, in->fork, len);
		return 0;
	}
	if (!sb.v5)
		return read_data(in, 0, (uint32_t)len, (uint8_t *)buf);
	/* v5 (xfs_symlink_remote.c): the blocks len needs, a header in each, read
	 * a mapping (an extent, cut to them) at a time: a header (XSLM, offset,
	 * bytes, CRC over the mapping, uuid, owner, block, lsn), then bytes. */
	if ((rc = extents(in)) < 0)
		return rc;
	uint64_t need = (len + sb.blocksize - 57) / (sb.blocksize - 56), cnt;
	size_t done = 0;
	uint8_t *b = malloc((size_t)need * sb.blocksize);
	if (!b)
		return -ENOMEM;
	for (uint64_t fb = 0; done < len && fb < need; fb += cnt) {
		uint32_t next;
		const struct extent *x = find_extent(fb, &next);
		cnt = !x ? 0 : x->off + x->count - fb < need - fb ? x->off + x->count - fb : need - fb;
		size_t room = (size_t)cnt * sb.blocksize;
		if (!x || x->unwritten || read_blocks(x->blk + (fb - x->off), cnt, b) < 0 || memcmp(b, "XSLM", 4) != 0 ||
		    !crc_ok(b, room, 12) || be32(b + 4) != done || be32(b + 8) > room - 56 || be32(b + 8) > len - done ||
		    be32(b + 8) == 0 || be64(b + 32) != ino) {
			free(b);
			ins_why("link %llu's remote block %llu is missing, malformed or fails its CRC",
			        (unsigned long long)ino, (unsigned long long)fb);
			return -EIO;
		}
		memcpy(buf + done, b + 56, be32(b + 8));
		done += be32(b + 8);
	}
	free(b);
	if (done != len) {
		ins_why("link %llu's remote blocks hold fewer bytes than its size", (unsigned long long)ino);
		return -EIO;
	}
	return 0;
}

/* ---- the attribute fork (xfs_attr.c reads what is in it) ------------------ */

static int xfs_afork(uint64_t ino, struct ins_xfs_afork *out)
{
	struct inode *in;
	int rc;
	if ((rc = get_inode(ino, &in)) < 0)
		return rc;
	const uint8_t *r = in->raw;
	uint32_t off = (uint32_t)r[82] * 8, lit = sb.inodesize - in->core; /* (get_inode: off <= lit) */
	bool big = in->version == 3 && (be64(r + 120) & (1u << 4)) && sb.nrext64;
	memset(out, 0, sizeof(*out));
	out->v5 = sb.v5;
	out->blocksize = sb.blocksize;
	if (off == 0)
		return 0; /* no attribute fork */
	out->present = true;
	out->format = r[83];
	out->nextents = big ? be32(r + 76) : be16(r + 80);
	out->size = lit - off;
	memcpy(out->fork, r + in->core + off, out->size);
	return 0;
}

static int xfs_attr_block(uint64_t ino, uint64_t fb, uint8_t *buf)
{
	struct ins_xfs_afork af;
	struct inode a;
	int rc;
	if ((rc = xfs_afork(ino, &af)) < 0)
		return rc;
	if (!af.present || (af.format != 2 && af.format != 3)) {
		ins_why("inode %llu has no attribute blocks", (unsigned long long)ino);
		return -EIO;
	}
	/* The attribute fork's extents, as a data fork's are collected. */
	memset(&a, 0, offsetof(struct inode, raw));
	a.ino = ino;
	a.afork = true;
	a.format = af.format;
	a.nextents = af.nextents;
	a.fork = af.fork;
	a.fork_size = af.size;
	if ((rc = extents(&a)) < 0)
		return rc;
	uint32_t next;
	const struct extent *x = find_extent(fb, &next);
	if (!x || x->unwritten) {
		ins_why("inode %llu's attribute block %llu is not mapped", (unsigned long long)ino, (unsigned long long)fb);
		return -EIO;
	}
	return read_blocks(x->blk + (fb - x->off), 1, buf);
}

/* ---- directories --------------------------------------------------------- */

/* The entries of a shortform directory (in the inode). */
/* A shortform directory's entries (in the inode) by their place:
 * position i + 1 follows the i-th. */
static int sf_walk(struct inode *in, uint64_t from, ins_add_fn add, void *arg)
{
	const uint8_t *p = in->fork;
	uint32_t end = in->fork_size < in->size ? in->fork_size : (uint32_t)in->size;
	if (end < 6) {
		ins_why("directory %llu's shortform header is out of bounds", (unsigned long long)in->ino);
		return -EIO;
	}
	unsigned count = p[0], i8 = p[1], isz = i8 ? 8 : 4;
	uint32_t pos = 2 + isz; /* count, i8count, the parent's number */
	if (pos > end) {
		ins_why("directory %llu's shortform header is out of bounds", (unsigned long long)in->ino);
		return -EIO;
	}
	for (unsigned i = 0; i < count; i++) {
		if (end - pos < 3) {
			ins_why("directory %llu's shortform entries run past its end", (unsigned long long)in->ino);
			return -EIO;
		}
		unsigned nl = p[pos];
		uint32_t esz = 3 + nl + (sb.ftype ? 1 : 0) + isz;
		if (nl == 0 || end - pos < esz) {
			ins_why("directory %llu's shortform entries run past its end", (unsigned long long)in->ino);
			return -EIO;
		}
		const uint8_t *ip = p + pos + 3 + nl + (sb.ftype ? 1 : 0);
		uint64_t ino = i8 ? be64(ip) & ((1ull << 56) - 1) : be32(ip);
		unsigned type = sb.ftype ? ins_ftype(p[pos + 3 + nl]) : 0; /* the entry's own (SPEC §18.7) */
		int rc = i < from ? 0 : add(arg, ino, (const char *)p + pos + 3, nl, type, (uint64_t)i + 1);
		if (rc)
			return rc;
		pos += esz;
	}
	return 0;
}

/* The entries of one directory data block b (dirblksize bytes), at byte
 * base of the directory, that start at position from or after it (the
 * block is parsed whole: entries have no fixed places). */
static int data_block_walk(uint64_t dir, const uint8_t *b, uint64_t db, uint64_t base, uint64_t from, ins_add_fn add,
                           void *arg)
{
	bool block_form;
	unsigned hdr = sb.v5 ? 64 : 16;
	uint32_t end = sb.dirblksize;
	if (memcmp(b, sb.v5 ? "XDB3" : "XD2B", 4) == 0)
		block_form = true;
	else if (memcmp(b, sb.v5 ? "XDD3" : "XD2D", 4) == 0)
		block_form = false;
	else {
		ins_why("directory %llu's block %llu has no directory magic", (unsigned long long)dir,
		        (unsigned long long)db);
		return -EIO;
	}
	if (sb.v5 && (!crc_ok(b, sb.dirblksize, 4) || be64(b + 40) != dir)) {
		ins_why("directory %llu's block %llu fails its CRC", (unsigned long long)dir, (unsigned long long)db);
		return -EIO;
	}
	if (block_form) {
		/* The leaf entries and the tail (count, stale) end the block. */
		uint32_t count = be32(b + end - 8);
		if (count > (end - hdr - 8) / 8) {
			ins_why("directory %llu's block tail is out of bounds", (unsigned long long)dir);
			return -EIO;
		}
		end -= 8 + count * 8;
	}
	uint32_t pos = hdr;
	while (pos < end) {
		if (end - pos < 8) {
			ins_why("directory %llu's block %llu has an entry past its end", (unsigned long long)dir,
			        (unsigned long long)db);
			return -EIO;
		}
		if (be16(b + pos) == 0xffff) {
			uint16_t len = be16(b + pos + 2);
			if (len < 8 || len % 8 || len > end - pos) {
				ins_why("directory %llu's block %llu has a malformed free space", (unsigned long long)dir,
				        (unsigned long long)db);
				return -EIO;
			}
			pos += len;
			continue;
		}
		if (end - pos < 16) { /* the smallest entry: number, length, a byte, tag */
			ins_why("directory %llu's block %llu has an entry past its end", (unsigned long long)dir,
			        (unsigned long long)db);
			return -EIO;
		}
		unsigned nl = b[pos + 8];
		uint32_t esz = (8 + 1 + nl + (sb.ftype ? 1 : 0) + 2 + 7) & ~7u;
		if (nl == 0 || esz > end - pos) {
			ins_why("directory %llu's block %llu has an entry past its end", (unsigned long long)dir,
			        (unsigned long long)db);
			return -EIO;
		}
		const char *name = (const char *)b + pos + 9;
		if (base + pos >= from && !(nl == 1 && name[0] == '.') && !(nl == 2 && name[0] == '.' && name[1] == '.')) {
			int rc = add(arg, be64(b + pos) & ((1ull << 56) - 1), name, nl, sb.ftype ? ins_ftype(b[pos + 9 + nl]) : 0,
			             base + pos + esz);
			if (rc)
				return rc;
		}
		pos += esz;
	}
	return 0;
}

/* A directory from position from (SPEC §18, issue 47): a shortform one's
 * by place, a block one's by byte offset into its data blocks, only the
 * blocks from there on read. */
static int xfs_list(uint64_t dir, uint64_t from, ins_add_fn add, void *arg)
{
	struct inode *cached;
	int rc;
	if ((rc = get_inode(dir, &cached)) < 0)
		return rc;
	/* add may read other inodes (inspection looks up names inside a
	 * .wants directory while it lists /etc/systemd/system), each of which
	 * replaces the cached one: the walk reads a copy of its own.  Before,
	 * a shortform directory's walk went on in the fork of the directory
	 * looked into, and qemu-ga's wants link was not found. */
	struct inode *in = malloc(sizeof(*in));
	if (!in) {
		ins_why("out of memory");
		return -ENOMEM;
	}
	memcpy(in, cached, sizeof(*in));
	in->fork = in->raw + (cached->fork - cached->raw);
	if (in->format == 1) {
		rc = sf_walk(in, from, add, arg);
		free(in);
		return rc;
	}
	uint64_t size = in->size;
	rc = extents(in);
	free(in); /* (the walk needs its size and extents only) */
	if (rc < 0)
		return rc;
	/* The data blocks: those of the extents below the leaf offset, one
	 * directory block (dirblksize) each, read whole.  map may change
	 * under add (a lookup of add's reads another directory's): the walk
	 * reads a copy of the extents. */
	uint32_t fsbs = sb.dirblksize >> sb.blocklog, seen = 0;
	/* A directory's size is that of its data blocks (the leaf and free
	 * blocks lie past it, from XFS_LEAF_OFFSET on). */
	uint64_t leaf = XFS_LEAF_OFFSET >> sb.blocklog;
	if (size >> sb.blocklog < leaf)
		leaf = (size + sb.blocksize - 1) >> sb.blocklog;
	uint8_t *b = malloc(sb.dirblksize);
	if (!b)
		return -ENOMEM;
	uint32_t n = map.n;
	struct extent *xs = malloc((n ? n : 1) * sizeof(*xs));
	if (!xs) {
		free(b);
		return -ENOMEM;
	}
	memcpy(xs, map.e, n * sizeof(*xs));
	for (uint32_t i = 0; !rc && i < n && xs[i].off < leaf; i++) {
		for (uint64_t fb = xs[i].off; !rc && fb < xs[i].off + xs[i].count && fb < leaf; fb++) {
			if (fb % fsbs || (fb + fsbs) << sb.blocklog <= from)
				continue; /* not a directory block's start, or before the position */
			if (++seen > XFS_DIR_BLOCKS) {
				ins_why("directory %llu has more than %u blocks", (unsigned long long)dir, XFS_DIR_BLOCKS);
				rc = -EIO;
				break;
			}
			/* A directory block whose blocks are not all in this
			 * extent: the rest from the extents after it. */
			for (uint32_t k = 0; !rc && k < fsbs; k++) {
				/* xs is in file order (add_extent): a binary search. */
				const struct extent *x = NULL;
				uint32_t lo = i, hi = n;
				while (lo < hi) {
					uint32_t mid = lo + (hi - lo) / 2;
					if (xs[mid].off + xs[mid].count <= fb + k)
						lo = mid + 1;
					else
						hi = mid;
				}
				if (lo < n && xs[lo].off <= fb + k)
					x = &xs[lo];
				if (!x || x->unwritten) {
					ins_why("directory %llu's block %llu is not all mapped", (unsigned long long)dir,
					        (unsigned long long)fb);
					rc = -EIO;
				} else {
					const uint8_t *c = block(x->blk + (fb + k - x->off));
					if (c)
						memcpy(b + ((size_t)k << sb.blocklog), c, sb.blocksize);
					else
						rc = -EIO;
				}
			}
			if (!rc)
				rc = data_block_walk(dir, b, fb, fb << sb.blocklog, from, add, arg);
			if (!rc)
				rc = add(arg, 0, NULL, 0, 0, (fb + fsbs) << sb.blocklog); /* a block read */
		}
	}
	free(xs);
	free(b);
	return rc;
}

struct find {
	const char *name;
	size_t len;
	uint64_t ino;
};

static int match(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	struct find *f = arg;
	(void)after, (void)type;
	if (!name || len != f->len || memcmp(name, f->name, len) != 0)
		return 0;
	f->ino = ino;
	return 1;
}

/* The names of the last directory looked up in, hashed: a walk looks up
 * every name of a directory in turn, and a scan each would be quadratic.
 * Bounded as a listing is (SPEC §18); a directory past the bounds is
 * scanned for a name the table does not hold. */
#define NAMES_MAX INS_LIST_CAP
#define NAMES_BYTES (8u << 20)

static struct {
	uint64_t dir, opens;
	bool valid, partial;
	uint32_t n, nbuckets;
	char *names;
	size_t used;
	struct name {
		uint64_t ino;
		uint32_t at, next;
		uint8_t len;
	} *e;
	uint32_t *bucket; /* index + 1 of the first entry; 0: none */
} names;

static uint32_t name_hash(const char *p, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static int names_add(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	(void)type;
	(void)arg;
	(void)after;
	if (!name)
		return 0; /* a block read */
	if (names.n >= NAMES_MAX || names.used + len > NAMES_BYTES) {
		names.partial = true;
		return 1;
	}
	if (names.n % 1024 == 0) {
		struct name *e = realloc(names.e, (names.n + 1024) * sizeof(*e));
		if (!e)
			return -ENOMEM;
		names.e = e;
	}
	if (!names.names && !(names.names = malloc(NAMES_BYTES)))
		return -ENOMEM;
	memcpy(names.names + names.used, name, len);
	names.e[names.n++] = (struct name){ino, (uint32_t)names.used, 0, (uint8_t)len};
	names.used += len;
	return 0;
}

static int names_load(uint64_t dir)
{
	names.valid = names.partial = false;
	names.n = 0;
	names.used = 0;
	int rc = xfs_list(dir, 0, names_add, NULL);
	if (rc < 0)
		return rc;
	uint32_t nb = 1024;
	while (nb < names.n * 2)
		nb *= 2;
	if (nb != names.nbuckets) {
		uint32_t *b = realloc(names.bucket, nb * sizeof(*b));
		if (!b)
			return -ENOMEM;
		names.bucket = b;
		names.nbuckets = nb;
	}
	memset(names.bucket, 0, nb * sizeof(*names.bucket));
	for (uint32_t i = 0; i < names.n; i++) {
		uint32_t h = name_hash(names.names + names.e[i].at, names.e[i].len) & (nb - 1);
		names.e[i].next = names.bucket[h];
		names.bucket[h] = i + 1;
	}
	names.dir = dir;
	names.opens = sb.opens;
	names.valid = true;
	return 0;
}

static int xfs_lookup(uint64_t dir, const char *name, size_t len, uint64_t *ino)
{
	struct inode *in;
	int rc;
	if ((rc = get_inode(dir, &in)) < 0)
		return rc;
	if (in->format != 1 && len <= 255) {
		if ((!names.valid || names.dir != dir || names.opens != sb.opens) && (rc = names_load(dir)) < 0)
			return rc;
		for (uint32_t i = names.bucket[name_hash(name, len) & (names.nbuckets - 1)]; i; i = names.e[i - 1].next) {
			const struct name *e = &names.e[i - 1];
			if (e->len == len && memcmp(names.names + e->at, name, len) == 0) {
				*ino = e->ino;
				return 0;
			}
		}
		if (!names.partial)
			return -ENOENT;
	}
	struct find f = {name, len, 0};
	if ((rc = xfs_list(dir, 0, match, &f)) < 0)
		return rc;
	if (!f.ino)
		return -ENOENT;
	*ino = f.ino;
	return 0;
}

static int xfs_xattrs(uint64_t ino, ins_xattr_fn add, void *arg)
{
	static const struct ins_xfs_access x = {xfs_afork, xfs_attr_block, crc_ok};
	return ins_xfs_xattrs(&x, ino, add, arg);
}

const struct ins_fs_ops ins_fs_xfs = {
	.kind = INS_FS_XFS,
	.readme = "XFS, read by imgfs's own reader",
	.open = xfs_open,
	.root = xfs_root,
	.stat = xfs_stat,
	.lookup = xfs_lookup,
	.list = xfs_list,
	.read = xfs_read,
	.readlink = xfs_readlink,
	.xattrs = xfs_xattrs,
};

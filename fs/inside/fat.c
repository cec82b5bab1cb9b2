/*
 * fat.c — FAT12/16/32 with VFAT long names, read-only (SPEC §18; the
 * interface and its bounds: ins_fat.h).  Called by the inside helper for a
 * volume whose boot sector says FAT, by tests/unit/fs/inside/test_fat.c and
 * by the fuzz target fuzz_fat.
 *
 * What is shown follows Linux's vfat with its default options, so that a
 * file looks as it would on a loop mount: 8.3 names as stored, with the
 * Windows NT "lower case" flags applied and code page 437 (shortname=mixed),
 * long names when their checksum matches the 8.3 entry they precede;
 * owner 0/0, modes 0755 (fmask and dmask 0022), a read-only file's write
 * bits cleared; times read as UTC (tz=UTC), ctime = mtime, atime the access
 * date at midnight, the root's times 0.
 *
 * Load: one volume per helper, one request at a time.  It keeps the boot
 * sector's geometry, a small cache of FAT sectors, the last directory read
 * (for listings that come a page at a time and lookups in the same
 * directory) and the last file's cluster map (for reads that come 128 KiB
 * at a time): all bounded (FAT_DIR_MAX_BYTES, and a file's map is at most
 * its size / the cluster size entries, 32 MiB for a 4 GiB file of 512-byte
 * clusters).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ins_fat.h"

#define FAT_CACHE_SLOTS 64
#define FAT_CACHE_BYTES 4096
#define ENT 32

struct fat_vol {
	fat_fetch_fn fetch;
	void *arg;
	uint64_t size;
	unsigned bits;          /* 12, 16, 32 */
	uint32_t cs;            /* cluster size, bytes */
	uint32_t nclusters;     /* data clusters: numbers 2 .. nclusters + 1 */
	uint32_t root_clus;     /* FAT32 */
	uint64_t fat_off, fat_bytes, root_off, root_bytes, data_off;
	struct {
		uint64_t off;
		bool valid;
		uint8_t b[FAT_CACHE_BYTES];
	} cache[FAT_CACHE_SLOTS];
	struct {                /* the last directory read */
		uint32_t ino;       /* 0: none */
		uint8_t *buf;
		size_t len;
		uint64_t *where;    /* the volume offset of each cluster's (or the root's) bytes */
		uint32_t nwhere;
		uint32_t unit;      /* bytes per where[] entry */
	} dir;
	struct {                /* the last file's cluster map */
		uint32_t ino;
		uint32_t *clus;
		uint32_t n;
	} map;
	char why[200];
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int fail(fat_vol *v, int err, const char *why)
{
	snprintf(v->why, sizeof(v->why), "%s", why);
	return -err;
}

static int vol_read(fat_vol *v, void *buf, size_t len, uint64_t off)
{
	if (off > v->size || len > v->size - off)
		return fail(v, EIO, "a read past the volume's end");
	int rc = v->fetch(v->arg, buf, len, off);
	if (rc < 0)
		return fail(v, -rc, "the volume's bytes cannot be read");
	return 0;
}

const char *fat_kind(const fat_vol *v)
{
	return v->bits == 12 ? "FAT12" : v->bits == 16 ? "FAT16" : "FAT32";
}

const char *fat_why(const fat_vol *v)
{
	return v->why;
}

/* ---- the FAT --------------------------------------------------------------- */

static int fat_byte(fat_vol *v, uint64_t at, uint8_t *out)
{
	uint64_t win = at - at % FAT_CACHE_BYTES;
	unsigned slot = (unsigned)((win / FAT_CACHE_BYTES) % FAT_CACHE_SLOTS);
	if (!v->cache[slot].valid || v->cache[slot].off != win) {
		uint64_t len = v->fat_bytes - win < FAT_CACHE_BYTES ? v->fat_bytes - win : FAT_CACHE_BYTES;
		memset(v->cache[slot].b, 0, sizeof(v->cache[slot].b));
		int rc = vol_read(v, v->cache[slot].b, (size_t)len, v->fat_off + win);
		if (rc < 0)
			return rc;
		v->cache[slot].off = win;
		v->cache[slot].valid = true;
	}
	*out = v->cache[slot].b[at - win];
	return 0;
}

/* The FAT's entry for cluster c (2 <= c < nclusters + 2): 0 with *next, a
 * cluster number or FAT_EOC; -EIO for a value that is neither (free, bad,
 * out of the volume's clusters). */
#define FAT_EOC UINT32_MAX
static int fat_next(fat_vol *v, uint32_t c, uint32_t *next)
{
	uint8_t b[4] = {0};
	uint64_t at = v->bits == 12 ? (uint64_t)c + c / 2 : (uint64_t)c * (v->bits / 8);
	unsigned n = v->bits == 32 ? 4 : 2;
	for (unsigned i = 0; i < n; i++) {
		int rc = fat_byte(v, at + i, &b[i]);
		if (rc < 0)
			return rc;
	}
	uint32_t e, eoc;
	if (v->bits == 12) {
		e = le16(b);
		e = c & 1 ? e >> 4 : e & 0xfff;
		eoc = 0xff8;
	} else if (v->bits == 16) {
		e = le16(b);
		eoc = 0xfff8;
	} else {
		e = le32(b) & 0x0fffffff;
		eoc = 0x0ffffff8;
	}
	if (e >= eoc) {
		*next = FAT_EOC;
		return 0;
	}
	if (e < 2 || e - 2 >= v->nclusters)
		return fail(v, EIO, "a cluster chain leads to a free, bad or nonexistent cluster");
	*next = e;
	return 0;
}

static bool clus_ok(const fat_vol *v, uint32_t c)
{
	return c >= 2 && c - 2 < v->nclusters;
}

static uint64_t clus_off(const fat_vol *v, uint32_t c)
{
	return v->data_off + (uint64_t)(c - 2) * v->cs;
}

/* Follows the chain from first to its end, keeping at most keep clusters
 * in out (may be NULL): 0 with *len (the chain's length), or -EIO when it
 * leaves the clusters or is longer than the volume has clusters (a loop). */
static int chain(fat_vol *v, uint32_t first, uint32_t *out, uint32_t keep, uint32_t *len, uint32_t stop_after)
{
	uint32_t c = first, n = 0;
	if (!clus_ok(v, first))
		return fail(v, EIO, "a chain starts outside the volume's clusters");
	while (c != FAT_EOC) {
		if (n >= v->nclusters)
			return fail(v, EIO, "a cluster chain is longer than the volume's clusters: it loops");
		if (n < keep && out)
			out[n] = c;
		n++;
		if (stop_after && n >= stop_after)
			break;
		int rc = fat_next(v, c, &c);
		if (rc < 0)
			return rc;
	}
	*len = n;
	return 0;
}

/* ---- opening --------------------------------------------------------------- */

int fat_open(fat_fetch_fn fetch, void *arg, uint64_t size, fat_vol **out, char *why, size_t cap)
{
	uint8_t b[512];
	*out = NULL;
#define REFUSE(...)                                                                                                    \
	do {                                                                                                           \
		snprintf(why, cap, __VA_ARGS__);                                                                       \
		return -EIO;                                                                                           \
	} while (0)
	if (size < sizeof(b))
		REFUSE("the volume is smaller than a boot sector");
	int rc = fetch(arg, b, sizeof(b), 0);
	if (rc < 0) {
		snprintf(why, cap, "the boot sector cannot be read");
		return rc;
	}
	unsigned bps = le16(b + 11), spc = b[13], rsvd = le16(b + 14), nfats = b[16], rootents = le16(b + 17);
	uint64_t tot = le16(b + 19) ? le16(b + 19) : le32(b + 32);
	uint64_t fatsz = le16(b + 22) ? le16(b + 22) : le32(b + 36);
	if (bps != 512 && bps != 1024 && bps != 2048 && bps != 4096)
		REFUSE("not a FAT boot sector: %u bytes per sector", bps);
	if (spc == 0 || (spc & (spc - 1)) || bps * spc > 65536)
		REFUSE("not a FAT boot sector: %u sectors per cluster", spc);
	if (rsvd == 0 || nfats == 0 || nfats > 4 || fatsz == 0 || tot == 0)
		REFUSE("not a FAT boot sector: no reserved sectors, FATs or sectors");
	uint64_t rootsecs = ((uint64_t)rootents * ENT + bps - 1) / bps;
	uint64_t meta = rsvd + nfats * fatsz + rootsecs;
	if (meta >= tot)
		REFUSE("the FAT's metadata fills the volume: no data clusters");
	if (tot > size / bps)
		REFUSE("the file system is larger than its volume (%llu sectors of %u bytes in %llu bytes)",
		       (unsigned long long)tot, bps, (unsigned long long)size);
	if (tot * bps > (1ull << 37))
		REFUSE("a FAT volume past 128 GiB, which this version does not read");
	uint64_t nclus = (tot - meta) / spc;
	unsigned bits = nclus < 4085 ? 12 : nclus < 65525 ? 16 : 32;
	if (nclus == 0 || nclus > 0x0ffffff5)
		REFUSE("not a FAT file system: %llu clusters", (unsigned long long)nclus);
	uint64_t need = bits == 12 ? (nclus + 2) * 3 / 2 + 1 : (nclus + 2) * (bits / 8);
	if (need > fatsz * bps)
		REFUSE("the FAT is too small for the volume's %llu clusters", (unsigned long long)nclus);
	fat_vol *v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(why, cap, "out of memory");
		return -ENOMEM;
	}
	v->fetch = fetch;
	v->arg = arg;
	v->size = size;
	v->bits = bits;
	v->cs = bps * spc;
	v->nclusters = (uint32_t)nclus;
	v->fat_off = (uint64_t)rsvd * bps;
	v->fat_bytes = need;
	v->root_off = (rsvd + nfats * fatsz) * bps;
	v->root_bytes = (uint64_t)rootents * ENT;
	v->data_off = meta * bps;
	if (bits == 32) {
		v->root_clus = le32(b + 44);
		if (rootents != 0 || le16(b + 22) != 0 || !clus_ok(v, v->root_clus)) {
			free(v);
			REFUSE("a FAT32 boot sector with a root directory outside its clusters");
		}
	} else if (rootents == 0) {
		free(v);
		REFUSE("a %s boot sector with no root directory entries", bits == 12 ? "FAT12" : "FAT16");
	}
#undef REFUSE
	*out = v;
	return 0;
}

void fat_close(fat_vol *v)
{
	if (!v)
		return;
	free(v->dir.buf);
	free(v->dir.where);
	free(v->map.clus);
	free(v);
}

/* ---- entries --------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* A FAT date and time (local time, read as UTC: SPEC §18); fields out of
 * range are clamped. */
static struct ins_time fat_time(uint16_t date, uint16_t time)
{
	unsigned day = date & 31, mon = (date >> 5) & 15, year = 1980 + (date >> 9);
	unsigned sec = (time & 31) * 2, min = (time >> 5) & 63, hour = time >> 11;
	day = day ? day : 1;
	mon = mon < 1 ? 1 : mon > 12 ? 12 : mon;
	sec = sec > 59 ? 59 : sec;
	min = min > 59 ? 59 : min;
	hour = hour > 23 ? 23 : hour;
	return (struct ins_time){days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec, 0, 0};
}

static uint32_t ent_first(const fat_vol *v, const uint8_t *e)
{
	return le16(e + 26) | (v->bits == 32 ? (uint32_t)le16(e + 20) << 16 : 0);
}

static bool ent_dot(const uint8_t *e)
{
	return e[0] == '.' && (e[1] == ' ' || (e[1] == '.' && e[2] == ' '));
}

static bool ent_live(const uint8_t *e)
{
	return e[0] != 0 && e[0] != 0xe5 && (e[11] & 0x3f) != 0x0f && !(e[11] & 0x08) && !ent_dot(e);
}

/* The attributes of the entry e, stored at byte offset at of the volume. */
static int ent_stat(fat_vol *v, const uint8_t *e, uint64_t at, struct ins_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->ino = (uint32_t)(at / ENT);
	st->nlink = 1;
	st->mtime = st->ctime = fat_time(le16(e + 24), le16(e + 22));
	st->atime = fat_time(le16(e + 18), 0);
	if (e[11] & 0x10) {
		/* A directory's size is its clusters', as vfat shows it. */
		uint32_t n = 0, first = ent_first(v, e);
		st->mode = S_IFDIR | 0755;
		if (first && chain(v, first, NULL, 0, &n, FAT_DIR_MAX_BYTES / v->cs + 1) < 0)
			n = 0; /* (the listing says why) */
		st->size = (uint64_t)n * v->cs;
		st->blocks = st->size / 512;
	} else {
		st->mode = S_IFREG | ((e[11] & 0x01) ? 0555 : 0755);
		st->size = le32(e + 28);
		st->blocks = (st->size + v->cs - 1) / v->cs * v->cs / 512;
	}
	return 0;
}

static void root_stat(fat_vol *v, struct ins_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->ino = FAT_ROOT_INO;
	st->mode = S_IFDIR | 0755;
	st->nlink = 1;
	if (v->bits == 32) {
		uint32_t n = 0;
		if (chain(v, v->root_clus, NULL, 0, &n, FAT_DIR_MAX_BYTES / v->cs + 1) < 0)
			n = 0;
		st->size = (uint64_t)n * v->cs;
	} else
		st->size = v->root_bytes;
	st->blocks = st->size / 512;
}

/* Whether byte offset at may hold a directory entry: in the root's region
 * (FAT12/16) or the data clusters. */
static bool ent_place(const fat_vol *v, uint64_t at)
{
	if (v->root_bytes && at >= v->root_off && at - v->root_off < v->root_bytes)
		return true;
	return at >= v->data_off && at - v->data_off < (uint64_t)v->nclusters * v->cs;
}

int fat_stat(fat_vol *v, uint32_t ino, struct ins_stat *st)
{
	uint8_t e[ENT];
	if (ino == FAT_ROOT_INO) {
		root_stat(v, st);
		return 0;
	}
	uint64_t at = (uint64_t)ino * ENT;
	if (!ent_place(v, at))
		return fail(v, ENOENT, "no such inode");
	/* An entry of the directory just listed is in memory already. */
	for (uint32_t k = 0; k < v->dir.nwhere; k++)
		if (at >= v->dir.where[k] && at - v->dir.where[k] < v->dir.unit) {
			memcpy(e, v->dir.buf + (size_t)k * v->dir.unit + (at - v->dir.where[k]), ENT);
			goto have;
		}
	int rc = vol_read(v, e, sizeof(e), at);
	if (rc < 0)
		return rc;
have:
	if (!ent_live(e))
		return fail(v, ENOENT, "no such inode");
	return ent_stat(v, e, at, st);
}

/* ---- directories ----------------------------------------------------------- */

/* Reads directory dir into v->dir (kept for the next call on it). */
static int dir_load(fat_vol *v, uint32_t dir)
{
	uint32_t first;
	if (v->dir.ino == dir && dir)
		return 0;
	free(v->dir.buf);
	free(v->dir.where);
	memset(&v->dir, 0, sizeof(v->dir));
	if (dir == FAT_ROOT_INO && v->bits != 32) {
		size_t len = (size_t)v->root_bytes;
		if (!(v->dir.buf = malloc(len ? len : 1)) || !(v->dir.where = malloc(sizeof(uint64_t))))
			return fail(v, ENOMEM, "out of memory");
		int rc = vol_read(v, v->dir.buf, len, v->root_off);
		if (rc < 0)
			return rc;
		v->dir.len = len;
		v->dir.where[0] = v->root_off;
		v->dir.nwhere = 1;
		v->dir.unit = (uint32_t)len;
		v->dir.ino = dir;
		return 0;
	}
	if (dir == FAT_ROOT_INO)
		first = v->root_clus;
	else {
		uint8_t e[ENT];
		uint64_t at = (uint64_t)dir * ENT;
		if (!ent_place(v, at))
			return fail(v, ENOENT, "no such directory");
		int rc = vol_read(v, e, sizeof(e), at);
		if (rc < 0)
			return rc;
		if (!ent_live(e))
			return fail(v, ENOENT, "no such directory");
		if (!(e[11] & 0x10))
			return fail(v, ENOTDIR, "not a directory");
		first = ent_first(v, e);
	}
	if (first == 0) { /* no clusters: empty */
		v->dir.ino = dir;
		return 0;
	}
	/* The whole chain is followed (a loop is EIO), its first
	 * FAT_DIR_MAX_BYTES read. */
	uint32_t keep = FAT_DIR_MAX_BYTES / v->cs, n = 0;
	keep = keep ? keep : 1;
	if (!(v->dir.where = malloc(keep * sizeof(uint64_t))))
		return fail(v, ENOMEM, "out of memory");
	uint32_t *cl = malloc(keep * sizeof(uint32_t));
	if (!cl)
		return fail(v, ENOMEM, "out of memory");
	int rc = chain(v, first, cl, keep, &n, 0);
	if (rc < 0) {
		free(cl);
		return rc;
	}
	n = n < keep ? n : keep;
	if (!(v->dir.buf = malloc((size_t)n * v->cs))) {
		free(cl);
		return fail(v, ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < n; i++) {
		v->dir.where[i] = clus_off(v, cl[i]);
		if ((rc = vol_read(v, v->dir.buf + (size_t)i * v->cs, v->cs, v->dir.where[i])) < 0) {
			free(cl);
			return rc;
		}
	}
	free(cl);
	v->dir.len = (size_t)n * v->cs;
	v->dir.nwhere = n;
	v->dir.unit = v->cs;
	v->dir.ino = dir;
	return 0;
}

static const uint16_t cp437[128] = {
	0x00c7, 0x00fc, 0x00e9, 0x00e2, 0x00e4, 0x00e0, 0x00e5, 0x00e7, 0x00ea, 0x00eb, 0x00e8, 0x00ef, 0x00ee,
	0x00ec, 0x00c4, 0x00c5, 0x00c9, 0x00e6, 0x00c6, 0x00f4, 0x00f6, 0x00f2, 0x00fb, 0x00f9, 0x00ff, 0x00d6,
	0x00dc, 0x00a2, 0x00a3, 0x00a5, 0x20a7, 0x0192, 0x00e1, 0x00ed, 0x00f3, 0x00fa, 0x00f1, 0x00d1, 0x00aa,
	0x00ba, 0x00bf, 0x2310, 0x00ac, 0x00bd, 0x00bc, 0x00a1, 0x00ab, 0x00bb, 0x2591, 0x2592, 0x2593, 0x2502,
	0x2524, 0x2561, 0x2562, 0x2556, 0x2555, 0x2563, 0x2551, 0x2557, 0x255d, 0x255c, 0x255b, 0x2510, 0x2514,
	0x2534, 0x252c, 0x251c, 0x2500, 0x253c, 0x255e, 0x255f, 0x255a, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550,
	0x256c, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256b, 0x256a, 0x2518, 0x250c,
	0x2588, 0x2584, 0x258c, 0x2590, 0x2580, 0x03b1, 0x00df, 0x0393, 0x03c0, 0x03a3, 0x03c3, 0x00b5, 0x03c4,
	0x03a6, 0x0398, 0x03a9, 0x03b4, 0x221e, 0x03c6, 0x03b5, 0x2229, 0x2261, 0x00b1, 0x2265, 0x2264, 0x2320,
	0x2321, 0x00f7, 0x2248, 0x00b0, 0x2219, 0x00b7, 0x221a, 0x207f, 0x00b2, 0x25a0, 0x00a0};

/* Appends code point u as UTF-8 to out (room: at least 4 bytes). */
static size_t put_utf8(char *out, uint32_t u)
{
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | u >> 6);
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		out[0] = (char)(0xe0 | u >> 12);
		out[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		out[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | u >> 18);
	out[1] = (char)(0x80 | ((u >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((u >> 6) & 0x3f));
	out[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

/* The 8.3 name of e as vfat shows it by default (shortname=mixed: as
 * stored, but for the NT flags that say its base or extension is lower
 * case; code page 437).  As Linux's fat_parse_short, a NUL ends the base
 * or the extension (mtools writes "X_FB\x90OT~ " with an extension of
 * " \0\0": vfat lists X_FBÉOT~, which the NULs kept out of files/). */
static size_t short_name(const uint8_t *e, char *out)
{
	size_t n = 0;
	int blen = 0, elen = 0;
	while (blen < 8 && e[blen])
		blen++;
	while (elen < 3 && e[8 + elen])
		elen++;
	while (blen > 0 && e[blen - 1] == ' ')
		blen--;
	while (elen > 0 && e[8 + elen - 1] == ' ')
		elen--;
	for (int i = 0; i < blen + elen; i++) {
		int k = i < blen ? i : 8 + i - blen;
		uint8_t c = e[k];
		if (i == blen)
			out[n++] = '.';
		if (k == 0 && c == 0x05)
			c = 0xe5; /* a stored 0x05 is a first byte of 0xe5 */
		if (c >= 'A' && c <= 'Z' && (e[12] & (k < 8 ? 0x08 : 0x10)))
			c = (uint8_t)(c - 'A' + 'a');
		n += c < 0x80 ? put_utf8(out + n, c) : put_utf8(out + n, cp437[c - 0x80]);
	}
	return n;
}

static uint8_t lfn_sum(const uint8_t *e)
{
	uint8_t s = 0;
	for (int i = 0; i < 11; i++)
		s = (uint8_t)(((s & 1) << 7) + (s >> 1) + e[i]);
	return s;
}

/* Walks the loaded directory: fn for each live entry, with its name. */
/* fn for each entry of the loaded directory whose 8.3 slot lies at byte
 * from of the directory or after it (a long name's slots start right
 * after the 8.3 slot before), with the position after that slot. */
typedef int (*walk_fn)(fat_vol *v, void *arg, const char *name, size_t len, const uint8_t *e, uint64_t at,
                       uint64_t after);
static int dir_walk(fat_vol *v, uint64_t from, walk_fn fn, void *arg)
{
	uint16_t lfn[20 * 13 + 1];
	int want = 0;  /* the LFN slot expected next (0: none pending) */
	int count = 0; /* slots of the pending long name */
	uint8_t sum = 0;
	char name[20 * 13 * 3 + 16];
	static const int pos[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
	for (size_t i = from < v->dir.len ? (size_t)(from - from % ENT) : v->dir.len; i + ENT <= v->dir.len; i += ENT) {
		const uint8_t *e = v->dir.buf + i;
		if (e[0] == 0)
			break;
		if (e[0] == 0xe5) {
			want = 0;
			continue;
		}
		if ((e[11] & 0x3f) == 0x0f) {
			int ord = e[0] & 0x1f;
			if (e[0] & 0x40) {
				if (ord < 1 || ord > 20) {
					want = 0;
					continue;
				}
				count = ord;
				sum = e[13];
				for (int k = 0; k < 20 * 13 + 1; k++)
					lfn[k] = 0;
			} else if (!want || ord != want || e[13] != sum) {
				want = 0;
				continue;
			}
			for (int k = 0; k < 13; k++)
				lfn[(ord - 1) * 13 + k] = le16(e + pos[k]);
			want = ord - 1;
			if (want == 0)
				want = -1; /* complete: the 8.3 entry comes next */
			continue;
		}
		bool have_lfn = want == -1 && lfn_sum(e) == sum;
		want = 0;
		if (!ent_live(e))
			continue;
		size_t n = 0;
		if (have_lfn) {
			for (int k = 0; k < count * 13 && lfn[k] && lfn[k] != 0xffff; k++) {
				uint32_t u = lfn[k];
				if (u >= 0xd800 && u < 0xdc00 && lfn[k + 1] >= 0xdc00 && lfn[k + 1] < 0xe000) {
					u = 0x10000 + ((u - 0xd800) << 10) + (lfn[k + 1] - 0xdc00);
					k++;
				} else if (u >= 0xd800 && u < 0xe000)
					u = 0xfffd;
				n += put_utf8(name + n, u);
			}
			if (n == 0 || n > INS_NAME_MAX)
				n = 0; /* not a name Linux can show: the 8.3 one is */
		}
		if (n == 0)
			n = short_name(e, name);
		if (n == 0)
			continue; /* an 8.3 name of spaces: nothing to show */
		size_t unit = v->dir.unit;
		uint64_t at = v->dir.where[i / unit] + i % unit;
		int rc = fn(v, arg, name, n, e, at, (uint64_t)i + ENT);
		if (rc)
			return rc;
	}
	return 0;
}

struct list_ctx {
	fat_entry_fn fn;
	void *arg;
};

static int list_one(fat_vol *v, void *arg, const char *name, size_t len, const uint8_t *e, uint64_t at,
                    uint64_t after)
{
	struct list_ctx *c = arg;
	struct ins_stat st;
	ent_stat(v, e, at, &st);
	return c->fn(c->arg, name, len, &st, after);
}

int fat_list(fat_vol *v, uint32_t dir, uint64_t from, fat_entry_fn fn, void *arg)
{
	struct list_ctx c = {fn, arg};
	int rc = dir_load(v, dir);
	if (rc < 0)
		return rc;
	return dir_walk(v, from, list_one, &c); /* fn's stop (> 0) is a page's end, not the directory's */
}

struct lookup_ctx {
	const char *name;
	size_t len;
	struct ins_stat *st;
};

static int lookup_one(fat_vol *v, void *arg, const char *name, size_t len, const uint8_t *e, uint64_t at,
                      uint64_t after)
{
	(void)after;
	struct lookup_ctx *c = arg;
	if (len != c->len || memcmp(name, c->name, len) != 0)
		return 0;
	ent_stat(v, e, at, c->st);
	return 1;
}

int fat_lookup(fat_vol *v, uint32_t dir, const char *name, size_t len, struct ins_stat *st)
{
	struct lookup_ctx c = {name, len, st};
	int rc = dir_load(v, dir);
	if (rc < 0)
		return rc;
	rc = dir_walk(v, 0, lookup_one, &c);
	if (rc < 0)
		return rc;
	return rc ? 0 : fail(v, ENOENT, "no such name");
}

/* ---- files ----------------------------------------------------------------- */

int fat_read(fat_vol *v, uint32_t ino, uint64_t off, size_t len, void *buf, size_t *got)
{
	uint8_t e[ENT];
	uint64_t at = (uint64_t)ino * ENT;
	*got = 0;
	if (ino == FAT_ROOT_INO)
		return fail(v, EISDIR, "a directory");
	if (!ent_place(v, at))
		return fail(v, ENOENT, "no such inode");
	int rc = vol_read(v, e, sizeof(e), at);
	if (rc < 0)
		return rc;
	if (!ent_live(e))
		return fail(v, ENOENT, "no such inode");
	if (e[11] & 0x10)
		return fail(v, EISDIR, "a directory");
	uint64_t size = le32(e + 28);
	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	if (v->map.ino != ino) {
		/* The file's chain, followed to its end once (a loop or a
		 * chain shorter than the size is EIO), its clusters kept. */
		uint32_t need = (uint32_t)((size + v->cs - 1) / v->cs), n = 0;
		free(v->map.clus);
		v->map.ino = 0;
		if (!(v->map.clus = malloc(need * sizeof(uint32_t))))
			return fail(v, ENOMEM, "out of memory");
		if ((rc = chain(v, ent_first(v, e), v->map.clus, need, &n, 0)) < 0)
			return rc;
		if (n < need)
			return fail(v, EIO, "the file's cluster chain ends before its size");
		v->map.n = need;
		v->map.ino = ino;
	}
	/* Runs of adjacent clusters are one read. */
	uint8_t *p = buf;
	size_t done = 0;
	while (done < len) {
		uint64_t pos = off + done;
		uint32_t k = (uint32_t)(pos / v->cs), in = (uint32_t)(pos % v->cs);
		size_t part = v->cs - in;
		while (done + part < len && k + 1 < v->map.n && v->map.clus[k + 1] == v->map.clus[k] + 1) {
			k++;
			part += v->cs;
		}
		if (part > len - done)
			part = len - done;
		uint32_t k0 = (uint32_t)(pos / v->cs);
		if ((rc = vol_read(v, p + done, part, clus_off(v, v->map.clus[k0]) + in)) < 0)
			return rc;
		done += part;
	}
	*got = done;
	return 0;
}

/* ---- the helper's reader (ins_fs.h) ------------------------------------------ */

#ifndef INS_FAT_STANDALONE /* (the fuzz target has no helper) */
#include "ins_fs.h"

static fat_vol *helper_vol; /* the helper reads one volume */

static int helper_fetch(void *arg, void *buf, size_t len, uint64_t off)
{
	return ins_fetch(off, len, buf);
}

/* rc, its reason given to the helper. */
static int why_of(int rc)
{
	if (rc < 0)
		ins_why("%s", fat_why(helper_vol));
	return rc;
}

static int h_open(uint64_t size, char *why, size_t cap)
{
	return fat_open(helper_fetch, NULL, size, &helper_vol, why, cap);
}

static uint64_t h_root(void)
{
	return FAT_ROOT_INO;
}

static int h_stat(uint64_t ino, struct ins_stat *st)
{
	return ino > UINT32_MAX ? -ENOENT : why_of(fat_stat(helper_vol, (uint32_t)ino, st));
}

static int h_lookup(uint64_t dir, const char *name, size_t len, uint64_t *ino)
{
	struct ins_stat st;
	int rc = dir > UINT32_MAX ? -ENOENT : fat_lookup(helper_vol, (uint32_t)dir, name, len, &st);
	if (rc < 0)
		return why_of(rc);
	*ino = st.ino;
	return 0;
}

struct h_list {
	ins_add_fn add;
	void *arg;
};

static int h_add(void *arg, const char *name, size_t len, const struct ins_stat *st, uint64_t after)
{
	struct h_list *c = arg;
	return c->add(c->arg, st->ino, name, len, st->mode & S_IFMT, after);
}

/* A FAT directory is read whole once (at most 2 MiB: 65,536 slots) and
 * kept while it is the one listed; a page walks its slots from the
 * position on. */
static int h_list(uint64_t dir, uint64_t from, ins_add_fn add, void *arg)
{
	struct h_list c = {add, arg};
	return dir > UINT32_MAX ? -ENOENT : why_of(fat_list(helper_vol, (uint32_t)dir, from, h_add, &c));
}

static int h_read(uint64_t ino, uint64_t off, uint32_t len, void *buf, uint32_t *got)
{
	size_t n = 0;
	int rc = ino > UINT32_MAX ? -ENOENT : why_of(fat_read(helper_vol, (uint32_t)ino, off, len, buf, &n));
	*got = (uint32_t)n;
	return rc;
}

static int h_readlink(uint64_t ino, char *buf, size_t len)
{
	return -EINVAL; /* FAT has no links */
}

const struct ins_fs_ops ins_fs_fat = {
	.kind = INS_FS_FAT,
	.readme = "FAT12/16/32, read by imgfs's own reader",
	.open = h_open,
	.root = h_root,
	.stat = h_stat,
	.lookup = h_lookup,
	.list = h_list,
	.read = h_read,
	.readlink = h_readlink,
};
#endif

/*
 * iso9660_out.c — an ISO 9660 image with Joliet names from a few files in
 * memory (iso9660_out.h has the layout and the limits).
 *
 * Every field is written where ECMA-119 puts it (offsets from the start of
 * the record, as the standard numbers its byte positions minus one); the
 * numbers that appear in both byte orders ("both-endian") are written by
 * put_both16/put_both32.  Joliet (Microsoft's "Joliet Specification",
 * 1995) is a supplementary volume descriptor whose text fields and file
 * identifiers are UCS-2 big-endian, padded with UCS-2 spaces.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iso9660_out.h"

#define SECTOR ISO9660_SECTOR
#define PVD_SECTOR 16
#define SVD_SECTOR 17
#define TERM_SECTOR 18
#define PATH_L_SECTOR 19 /* primary; Joliet's are two further */
#define ROOT_SECTOR 23   /* primary; Joliet's is the next one */
#define PATH_TABLE_SIZE 10
#define DIR_RECORD_FIXED 33 /* a directory record without its identifier */
#define ROOT_RECORD 34      /* ... with the one-byte identifier of the root */

/* ---- numbers and text ------------------------------------------------------- */

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * (3 - i)));
}

/* ECMA-119 7.2.3 and 7.3.3: little-endian, then big-endian. */
static void put_both16(uint8_t *p, uint16_t v)
{
	put_le16(p, v);
	put_be16(p + 2, v);
}

static void put_both32(uint8_t *p, uint32_t v)
{
	put_le32(p, v);
	put_be32(p + 4, v);
}

/* A text field of len bytes: s, then spaces (a-/d-characters, 7.4). */
static void put_text(uint8_t *p, size_t len, const char *s)
{
	size_t n = strlen(s);
	memset(p, ' ', len);
	memcpy(p, s, n < len ? n : len);
}

/* The same in UCS-2 big-endian (Joliet): s is ASCII; an odd last byte is
 * 0, as genisoimage leaves it. */
static void put_ucs2(uint8_t *p, size_t len, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i + 1 < len; i += 2) {
		p[i] = 0;
		p[i + 1] = (uint8_t)(i / 2 < n ? s[i / 2] : ' ');
	}
	if (len % 2)
		p[len - 1] = 0;
}

/* ---- dates ------------------------------------------------------------------ */

/* 9.1.5: the recording date of a directory record: years since 1900,
 * month, day, hour, minute, second, offset from GMT (15-minute units). */
static void put_dir_date(uint8_t *p, const struct tm *t)
{
	p[0] = (uint8_t)t->tm_year;
	p[1] = (uint8_t)(t->tm_mon + 1);
	p[2] = (uint8_t)t->tm_mday;
	p[3] = (uint8_t)t->tm_hour;
	p[4] = (uint8_t)t->tm_min;
	p[5] = (uint8_t)t->tm_sec;
	p[6] = 0;
}

/* 8.4.26.1: a volume descriptor's date, "YYYYMMDDHHMMSScc" and the
 * offset; t NULL is "not specified" (sixteen '0' and a zero). */
static void put_vd_date(uint8_t *p, const struct tm *t)
{
	char s[80];
	if (t)
		snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02d00", t->tm_year + 1900, t->tm_mon + 1, t->tm_mday,
		         t->tm_hour, t->tm_min, t->tm_sec);
	else
		memset(s, '0', 16);
	memcpy(p, s, 16);
	p[16] = 0;
}

/* ---- names ------------------------------------------------------------------ */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ISO9660_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

static bool volume_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* A d-character (7.4.1): upper case, digits, '_'; anything else '_'. */
static char d_char(char c)
{
	if (c >= 'a' && c <= 'z')
		return (char)(c - 'a' + 'A');
	return (c >= '0' && c <= '9') ? c : '_';
}

/* The level-1 identifier of name: at most 8 d-characters before the last
 * dot, at most 3 after it, then ";1" ("user-data" -> "USER_DAT.;1").
 * base and ext (padded with spaces to 8 and 3) are what 9.3 sorts by. */
struct l1_name {
	char id[16]; /* NUL-terminated */
	char base[9], ext[4];
};

static void l1_name(const char *name, struct l1_name *out)
{
	const char *dot = strrchr(name, '.');
	size_t blen = dot ? (size_t)(dot - name) : strlen(name);
	size_t elen = dot ? strlen(dot + 1) : 0;
	size_t b = 0, e = 0;
	memset(out->base, ' ', 8);
	memset(out->ext, ' ', 3);
	out->base[8] = out->ext[3] = '\0';
	for (; b < blen && b < 8; b++)
		out->base[b] = d_char(name[b]);
	for (; e < elen && e < 3; e++)
		out->ext[e] = d_char(dot[1 + e]);
	snprintf(out->id, sizeof(out->id), "%.*s.%.*s;1", (int)b, out->base, (int)e, out->ext);
}

/* ---- records ---------------------------------------------------------------- */

/* A directory record at p for an identifier of idlen bytes (id), extent
 * lba, data length len, directory or file; its length (even: 9.1.12). */
static size_t put_dir_record(uint8_t *p, const uint8_t *id, size_t idlen, uint32_t lba, uint32_t len, bool dir,
                             const struct tm *t)
{
	size_t rec = DIR_RECORD_FIXED + idlen + (idlen % 2 == 0); /* the padding byte */
	memset(p, 0, rec);
	p[0] = (uint8_t)rec;
	p[1] = 0;               /* extended attribute record length */
	put_both32(p + 2, lba); /* location of extent */
	put_both32(p + 10, len);
	put_dir_date(p + 18, t);
	p[25] = dir ? 2 : 0;    /* file flags: directory */
	p[26] = 0;              /* file unit size (not interleaved) */
	p[27] = 0;              /* interleave gap */
	put_both16(p + 28, 1);  /* volume sequence number */
	p[32] = (uint8_t)idlen;
	memcpy(p + 33, id, idlen);
	return rec;
}

/* 9.4: the one-entry path table of a volume whose only directory is the
 * root (identifier 0x00, parent 1), in one byte order. */
static void put_path_table(uint8_t *p, uint32_t root_lba, bool big)
{
	p[0] = 1; /* length of the directory identifier */
	p[1] = 0; /* extended attribute record length */
	if (big) {
		put_be32(p + 2, root_lba);
		put_be16(p + 6, 1);
	} else {
		put_le32(p + 2, root_lba);
		put_le16(p + 6, 1);
	}
	p[8] = 0; /* the root's identifier */
	p[9] = 0; /* padding: the identifier's length is odd */
}

/* 8.4 and 8.5: the primary (joliet false) or the Joliet supplementary
 * volume descriptor at p. */
static void put_volume_descriptor(uint8_t *p, bool joliet, const char *volume_id, uint32_t sectors,
                                  const struct tm *t)
{
	void (*text)(uint8_t *, size_t, const char *) = joliet ? put_ucs2 : put_text;
	uint32_t path = joliet ? PATH_L_SECTOR + 2 : PATH_L_SECTOR;
	uint32_t root = joliet ? ROOT_SECTOR + 1 : ROOT_SECTOR;
	static const uint8_t self = 0;
	p[0] = joliet ? 2 : 1;
	memcpy(p + 1, "CD001", 5);
	p[6] = 1;                     /* version */
	text(p + 8, 32, "");          /* system identifier */
	text(p + 40, 32, volume_id);  /* volume identifier */
	put_both32(p + 80, sectors);  /* volume space size */
	if (joliet)
		memcpy(p + 88, "%/E", 3); /* escape sequences: UCS-2 level 3 */
	put_both16(p + 120, 1);       /* volume set size */
	put_both16(p + 124, 1);       /* volume sequence number */
	put_both16(p + 128, SECTOR);  /* logical block size */
	put_both32(p + 132, PATH_TABLE_SIZE);
	put_le32(p + 140, path);      /* type L path table */
	put_be32(p + 148, path + 1);  /* type M path table */
	put_dir_record(p + 156, &self, 1, root, SECTOR, true, t);
	text(p + 190, 128, "");       /* volume set identifier */
	text(p + 318, 128, "");       /* publisher */
	text(p + 446, 128, "");       /* data preparer */
	text(p + 574, 128, "IMGFS");  /* application */
	text(p + 702, 37, "");        /* copyright, abstract, bibliographic files */
	text(p + 739, 37, "");
	text(p + 776, 37, "");
	put_vd_date(p + 813, t);      /* creation */
	put_vd_date(p + 830, t);      /* modification */
	put_vd_date(p + 847, NULL);   /* expiration */
	put_vd_date(p + 864, NULL);   /* effective */
	p[881] = 1;                   /* file structure version */
}

/* ---- directories -------------------------------------------------------------- */

struct entry {
	size_t file;          /* index in the caller's files */
	struct l1_name l1;
	uint8_t joliet[2 * ISO9660_NAME_MAX];
	size_t joliet_len;
	uint32_t lba;
};

static int cmp_primary(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->l1.base, y->l1.base);
	return c ? c : strcmp(x->l1.ext, y->l1.ext);
}

static int cmp_joliet(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->joliet_len < y->joliet_len ? x->joliet_len : y->joliet_len;
	int c = memcmp(x->joliet, y->joliet, n);
	return c ? c : (x->joliet_len > y->joliet_len) - (x->joliet_len < y->joliet_len);
}

/* The root directory at p (one sector): ".", "..", then the entries in
 * their order, with primary or Joliet identifiers. */
static void put_root(uint8_t *p, const struct entry *e, size_t n, const struct iso9660_file *files, bool joliet,
                     uint32_t self_lba, const struct tm *t)
{
	static const uint8_t dot = 0, dotdot = 1;
	size_t off = put_dir_record(p, &dot, 1, self_lba, SECTOR, true, t);
	off += put_dir_record(p + off, &dotdot, 1, self_lba, SECTOR, true, t);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *id = joliet ? e[i].joliet : (const uint8_t *)e[i].l1.id;
		size_t idlen = joliet ? e[i].joliet_len : strlen(e[i].l1.id);
		off += put_dir_record(p + off, id, idlen, e[i].lba, (uint32_t)files[e[i].file].len, false, t);
	}
}

/* ---- the image ---------------------------------------------------------------- */

static uint32_t sectors_of(size_t len)
{
	return (uint32_t)((len + SECTOR - 1) / SECTOR);
}

/* The checks of iso9660_out.h's limits; the entries of files, with their
 * names and extents, in the caller's order. */
static int plan(struct entry *e, const char *volume_id, const struct iso9660_file *files, size_t n, int64_t when,
                uint32_t *sectors)
{
	uint32_t next = ISO9660_FIRST_DATA;
	if (n == 0 || n > ISO9660_MAX_FILES || !volume_id || !volume_id_ok(volume_id) || when < 0 ||
	    when >= 4102444800LL /* 2100-01-01: a directory record's year is a byte from 1900 */)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!files[i].name || !name_ok(files[i].name) || files[i].len > ISO9660_FILE_MAX ||
		    (files[i].len && !files[i].data))
			return -EINVAL;
		e[i].file = i;
		l1_name(files[i].name, &e[i].l1);
		e[i].joliet_len = 2 * strlen(files[i].name);
		put_ucs2(e[i].joliet, e[i].joliet_len, files[i].name);
		e[i].lba = files[i].len ? next : 0; /* an empty file has no extent */
		next += sectors_of(files[i].len);
		for (size_t j = 0; j < i; j++)
			if (strcmp(e[i].l1.id, e[j].l1.id) == 0)
				return -EINVAL; /* the same 8.3 name: the primary directory could not hold both */
	}
	*sectors = next;
	return 0;
}

int iso9660_build(void **out, size_t *len_out, const char *volume_id, const struct iso9660_file *files, size_t n,
                  int64_t when)
{
	struct entry e[ISO9660_MAX_FILES];
	uint32_t sectors;
	time_t tt = (time_t)when;
	struct tm t;
	uint8_t *img;
	int rc;

	*out = NULL;
	*len_out = 0;
	if ((rc = plan(e, volume_id, files, n, when, &sectors)) < 0)
		return rc;
	if (!gmtime_r(&tt, &t))
		return -EINVAL;
	if (!(img = calloc(sectors, SECTOR)))
		return -ENOMEM;
	put_volume_descriptor(img + PVD_SECTOR * SECTOR, false, volume_id, sectors, &t);
	put_volume_descriptor(img + SVD_SECTOR * SECTOR, true, volume_id, sectors, &t);
	img[TERM_SECTOR * SECTOR] = 255;
	memcpy(img + TERM_SECTOR * SECTOR + 1, "CD001", 5);
	img[TERM_SECTOR * SECTOR + 6] = 1;
	put_path_table(img + PATH_L_SECTOR * SECTOR, ROOT_SECTOR, false);
	put_path_table(img + (PATH_L_SECTOR + 1) * SECTOR, ROOT_SECTOR, true);
	put_path_table(img + (PATH_L_SECTOR + 2) * SECTOR, ROOT_SECTOR + 1, false);
	put_path_table(img + (PATH_L_SECTOR + 3) * SECTOR, ROOT_SECTOR + 1, true);
	for (size_t i = 0; i < n; i++)
		if (files[e[i].file].len)
			memcpy(img + (size_t)e[i].lba * SECTOR, files[e[i].file].data, files[e[i].file].len);
	/* Both directories sorted as their rules ask (the extents stay). */
	qsort(e, n, sizeof(e[0]), cmp_primary);
	put_root(img + ROOT_SECTOR * SECTOR, e, n, files, false, ROOT_SECTOR, &t);
	qsort(e, n, sizeof(e[0]), cmp_joliet);
	put_root(img + (ROOT_SECTOR + 1) * SECTOR, e, n, files, true, ROOT_SECTOR + 1, &t);
	*out = img;
	*len_out = (size_t)sectors * SECTOR;
	return 0;
}

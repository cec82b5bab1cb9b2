/*
 * SPEC §18: the LVM2 reader (fs/inside/lvm.c).  Its text parser and table
 * over a metadata text lvm2 itself wrote (lvm2-vg0.txt: a volume group of
 * two physical volumes made by pvcreate, vgcreate, lvcreate, lvextend on
 * loop devices, its text as lvm2 left it in the first PV's metadata area:
 * ending with the NUL lvm2 counts in the text's size), for each PV; the
 * whole physical volume (label, metadata area header, the newest of
 * several generations, a text wrapped round the area's end) over an image
 * in memory; each bound at it and one past it (the text's size, items,
 * depth; a volume's runs; the volumes told); malformed texts refused with
 * their reason; and the parser's work counted on a text at the items'
 * bound, all under one parent (linear: a few steps an item).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../../fs/inside/ins_lvm.h"
#include "../../../../fs/inside/ins_proto.h"

#define TEXT_MAX (1u << 20) /* lvm.c's LVM_TEXT_MAX */
#define NODES 65536         /* LVM_NODES */
#define PV0 "gytLw0d72nYPnBKB8HIQfbjtRQ4hB1jM"
#define PV1 "dQoIpvwqwG0Spk6qaNHw6tt8GT2asRjM"
#define UUID "Abcdef0123456789Abcdef0123456789"
#define PVID "Abcdef-0123-4567-89Ab-cdef-0123-456789"

/* ---- the volume the reader sees: an image in memory ---- */

static uint8_t *img;
static size_t img_size;

int ins_fetch(uint64_t off, size_t len, void *buf)
{
	if (off > img_size || len > img_size - off) {
		memset(buf, 0, len);
		return -EIO;
	}
	memcpy(buf, img + off, len);
	return 0;
}

static uint32_t crc(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t c = 0xf597a6cf; /* LVM's: no final inversion */
	for (size_t i = 0; i < len; i++) {
		c ^= b[i];
		for (int k = 0; k < 8; k++)
			c = c >> 1 ^ (0xedb88320 & -(c & 1));
	}
	return c;
}
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}
static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

#define MDA 4096
/* A PV of size bytes whose label has uuid and one metadata area at 4 KiB
 * of msize bytes (its header's first raw_locn: off, len, the text's CRC,
 * flags), the text put at off, wrapping to the area's 512th byte. */
static void make_pv(size_t size, const char *uuid, uint64_t msize, uint64_t off, const char *text, size_t len,
                    uint32_t flags)
{
	free(img);
	img = calloc(1, size);
	assert_non_null(img);
	img_size = size;
	uint8_t *l = img + 512;
	memcpy(l, "LABELONE", 8);
	put64(l + 8, 1);
	put32(l + 20, 32);
	memcpy(l + 24, "LVM2 001", 8);
	uint8_t *pvh = l + 32;
	memcpy(pvh, uuid, 32);
	put64(pvh + 32, size);
	put64(pvh + 40, MDA + msize); /* a data area, then the end of the list */
	put64(pvh + 72, MDA);         /* a metadata area, then the end */
	put64(pvh + 80, msize);
	put32(l + 16, crc(l + 20, 512 - 20));
	uint8_t *m = img + MDA;
	memcpy(m + 4, " LVM2 x[5A%r0N*>", 16);
	put32(m + 20, 1);
	put64(m + 24, MDA);
	put64(m + 32, msize);
	put64(m + 40, off);
	put64(m + 48, len);
	put32(m + 56, crc(text, len));
	put32(m + 60, flags);
	put32(m, crc(m + 4, 512 - 4));
	for (size_t i = 0; i < len && off >= 512; i++) { /* (never over the header) */
		uint64_t at = off + i < msize ? off + i : 512 + (off + i - msize);
		img[MDA + at] = (uint8_t)text[i];
	}
}

/* ---- texts ---- */

static char *lvm2_text;
static size_t lvm2_len;

static int setup(void **state)
{
	(void)state;
	FILE *f = fopen(IMGFS_SOURCE_DIR "/tests/unit/fs/inside/lvm2-vg0.txt", "rb");
	if (!f)
		return -1;
	lvm2_text = malloc(65536);
	lvm2_len = lvm2_text ? fread(lvm2_text, 1, 65536, f) : 0;
	fclose(f);
	return lvm2_len ? 0 : -1;
}
static int teardown(void **state)
{
	(void)state;
	free(lvm2_text);
	free(img);
	return 0;
}

/* A growing text (malloc'd). */
struct text {
	char *s;
	size_t len, cap;
};
static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (t->len + (size_t)n + 1 > t->cap) {
		t->cap = (t->len + (size_t)n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		assert_non_null(t->s);
	}
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* A volume group vg0 on one PV (PVID), extents of 1 MiB, whose logical
 * volumes follow (lv() each). */
static void vg_head(struct text *t)
{
	add(t, "vg0 {\nid = \"x\"\nseqno = 3\nformat = \"lvm2\"\nstatus = [\"RESIZEABLE\", \"READ\", \"WRITE\"]\n"
	       "flags = []\nextent_size = 2048\nmax_lv = 0\nmax_pv = 0\nmetadata_copies = 0\n\nphysical_volumes {\n\n"
	       "pv0 {\nid = \"%s\"\ndevice = \"/dev/vda1\"\n\nstatus = [\"ALLOCATABLE\"]\nflags = []\n"
	       "dev_size = 204800\npe_start = 2048\npe_count = 99\n}\n}\n\nlogical_volumes {\n\n",
	    PVID);
}
static void lv(struct text *t, const char *name, unsigned runs, unsigned pe)
{
	add(t, "%s {\nid = \"y\"\nstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\nflags = []\nsegment_count = %u\n\n", name,
	    runs);
	for (unsigned i = 0; i < runs; i++)
		add(t, "segment%u {\nstart_extent = %u\nextent_count = 1\n\ntype = \"striped\"\nstripe_count = 1\n\n"
		       "stripes = [\n\"pv0\", %u\n]\n}\n",
		    i + 1, i, pe + i);
	add(t, "}\n");
}
static void vg_tail(struct text *t)
{
	add(t, "}\n}\n# Generated by LVM2 version 2.03.16(2) (2022-05-18): Sun Nov 29 01:06:25 2026\n\n"
	       "contents = \"Text Format Volume Group\"\nversion = 1\n");
	t->s[t->len++] = '\0'; /* as lvm2 ends it, counted in its size */
}

static char answer[INS_MAX_PAYLOAD];
static char why[256];

/* The table of text for the PV uuid: its rc; the answer in answer. */
static int table(const char *text, size_t len, const char *uuid, uint64_t *work)
{
	struct ins_out o = {.buf = answer, .cap = INS_MAX_PAYLOAD - 64};
	why[0] = answer[0] = '\0';
	int rc = ins_lvm_table(text, len, uuid, &o, work, why, sizeof(why));
	answer[o.len < sizeof(answer) ? o.len : sizeof(answer) - 1] = '\0';
	return rc;
}
static int read_pv(void)
{
	struct ins_out o = {.buf = answer, .cap = INS_MAX_PAYLOAD - 64};
	why[0] = answer[0] = '\0';
	int rc = ins_lvm_read(img_size, &o, why, sizeof(why));
	answer[o.len < sizeof(answer) ? o.len : sizeof(answer) - 1] = '\0';
	return rc;
}

static size_t count_lines(const char *key)
{
	size_t n = 0, k = strlen(key);
	for (const char *p = answer; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
		if (strncmp(p, key, k) == 0 && p[k] == '\t')
			n++;
	return n;
}

/* ---- lvm2's own text ---- */

static void test_lvm2_text(void **state)
{
	(void)state;
	/* The vector is as lvm2 wrote it: its last byte a NUL. */
	assert_true(lvm2_len > 2000);
	assert_int_equal(lvm2_text[lvm2_len - 1], '\0');
	assert_int_equal(table(lvm2_text, lvm2_len, PV0, NULL), 0);
	assert_string_equal(answer, "vg\tvg0 8192 2048\n"
	                            "seg\troot 0 2 0\nseg\troot 2 2 3\n"
	                            "seg\tdata 0 1 2\n"
	                            "skip\tstr it is striped over several areas\n"
	                            "skip\tspan it has runs on another physical volume\n"
	                            "end\t1\n");
	/* Its second PV tells the volume wholly on it, and no other. */
	assert_int_equal(table(lvm2_text, lvm2_len, PV1, NULL), 0);
	assert_string_equal(answer, "vg\tvg0 8192 2048\nseg\thome 0 2 0\nend\t1\n");
	/* A UUID the text does not name. */
	assert_int_equal(table(lvm2_text, lvm2_len, UUID, NULL), -EIO);
	assert_string_equal(why, "LVM: the metadata does not name this physical volume");
}

/* The NUL: the text ends at it, as lvm2's parser ends it. */
static void test_nul(void **state)
{
	(void)state;
	struct text t = {0};
	vg_head(&t);
	lv(&t, "root", 1, 0);
	vg_tail(&t);
	assert_int_equal(table(t.s, t.len, UUID, NULL), 0);
	assert_string_equal(answer, "vg\tvg0 2048 2048\nseg\troot 0 1 0\nend\t1\n");
	/* Without it, the same. */
	assert_int_equal(table(t.s, t.len - 1, UUID, NULL), 0);
	/* What follows a NUL is not read (lvm2 reads no further). */
	size_t n = t.len;
	add(&t, "garbage { { {");
	assert_int_equal(table(t.s, t.len, UUID, NULL), 0);
	assert_string_equal(answer, "vg\tvg0 2048 2048\nseg\troot 0 1 0\nend\t1\n");
	/* A NUL inside a word ends the text there: it does not parse. */
	t.s[40] = '\0';
	assert_int_equal(table(t.s, n, UUID, NULL), -EIO);
	assert_string_equal(why, "LVM: the metadata text does not parse (at byte 40)");
	free(t.s);
}

/* ---- the physical volume ---- */

static void test_pv(void **state)
{
	(void)state;
	struct text old = {0}, t = {0};
	vg_head(&old);
	lv(&old, "before", 1, 5);
	vg_tail(&old);
	vg_head(&t);
	lv(&t, "root", 2, 7);
	vg_tail(&t);
	const char *want = "vg\tvg0 2048 2048\nseg\troot 0 1 7\nseg\troot 1 1 8\nend\t1\n";
	uint64_t msize = 1044480;

	/* The newest generation after an older one: the header's points at it. */
	make_pv(8 << 20, UUID, msize, 2560, t.s, t.len, 0);
	memcpy(img + MDA + 512, old.s, old.len);
	assert_int_equal(read_pv(), 0);
	assert_string_equal(answer, want);
	/* ... and before it (the buffer went round). */
	make_pv(8 << 20, UUID, msize, 512, t.s, t.len, 0);
	memcpy(img + MDA + 512 + 4096, old.s, old.len);
	assert_int_equal(read_pv(), 0);
	assert_string_equal(answer, want);
	/* Wrapped round the area's end: its rest at the area's 512th byte. */
	make_pv(8 << 20, UUID, msize, msize - 700, t.s, t.len, 0);
	assert_true(t.len > 700);
	assert_int_equal(read_pv(), 0);
	assert_string_equal(answer, want);
	/* Its last byte, the NUL, alone past the end. */
	make_pv(8 << 20, UUID, msize, msize - (t.len - 1), t.s, t.len, 0);
	assert_int_equal(read_pv(), 0);
	assert_string_equal(answer, want);

	/* lvm2's own text, in a PV whose label has its first PV's UUID. */
	make_pv(8 << 20, PV0, msize, 6144, lvm2_text, lvm2_len, 0);
	assert_int_equal(read_pv(), 0);
	assert_non_null(strstr(answer, "seg\troot 2 2 3\n"));

	/* Refused, each with its reason. */
	make_pv(8 << 20, UUID, msize, 512, t.s, t.len, 0);
	img[MDA + 512 + 100] ^= 1;
	assert_int_equal(read_pv(), -EIO);
	assert_string_equal(why, "LVM: the metadata text fails its checksum");
	make_pv(8 << 20, UUID, msize, 512, t.s, t.len, 0);
	img[MDA + 200] ^= 1;
	assert_int_equal(read_pv(), -EIO);
	assert_string_equal(why, "LVM: the metadata area's header is malformed or fails its checksum");
	make_pv(8 << 20, UUID, msize, 512, t.s, t.len, 0);
	img[512 + 300] ^= 1;
	assert_int_equal(read_pv(), -EIO);
	assert_string_equal(why, "LVM: the physical volume's label is malformed or fails its checksum");
	make_pv(8 << 20, UUID, msize, 0, "", 0, 0); /* pvcreate, no vgcreate */
	assert_int_equal(read_pv(), -EIO);
	assert_string_equal(why, "LVM: the physical volume is in no volume group (its metadata area is empty)");
	make_pv(8 << 20, UUID, msize, 512, t.s, t.len, 1); /* RAW_LOCN_IGNORED */
	assert_int_equal(read_pv(), -EIO);
	assert_string_equal(why, "LVM: the physical volume's metadata areas are marked ignored "
	                         "(its group's metadata is on its other physical volumes)");
	make_pv(8 << 20, UUID, msize, msize, t.s, t.len, 0); /* at the area's end */
	assert_int_equal(read_pv(), -EIO);
	assert_non_null(strstr(why, "LVM: the metadata text's place or size is out of bounds"));
	/* The area ends at the volume's end: read; one byte past it: not. */
	make_pv(MDA + 8192, UUID, 8192, 512, t.s, t.len, 0);
	assert_int_equal(read_pv(), 0);
	assert_string_equal(answer, want);
	make_pv(MDA + 8192, UUID, 8193, 512, t.s, t.len, 0);
	assert_int_equal(read_pv(), -EIO);
	assert_string_equal(why, "LVM: the metadata area's header is malformed or fails its checksum");
	/* The smallest area: 1,024 bytes (its header and 512 of text). */
	static const char tiny[] = "vg0 { extent_size = 1 physical_volumes { pv0 { id = \"" PVID "\" pe_start = 1 } } }";
	make_pv(MDA + 8192, UUID, 1024, 512, tiny, sizeof(tiny), 0);
	assert_int_equal(read_pv(), 0);
	assert_string_equal(answer, "vg\tvg0 1 1\nend\t1\n");
	make_pv(MDA + 8192, UUID, 1023, 512, tiny, sizeof(tiny), 0);
	assert_int_equal(read_pv(), -EIO);
	assert_string_equal(why, "LVM: the metadata area's header is malformed or fails its checksum");
	/* A text at 0 (the header's place), and one of no bytes at 512. */
	make_pv(8 << 20, UUID, msize, 0, t.s, t.len, 0);
	assert_int_equal(read_pv(), -EIO);
	assert_non_null(strstr(why, "LVM: the metadata text's place or size is out of bounds"));
	make_pv(8 << 20, UUID, msize, 512, t.s, 0, 0);
	assert_int_equal(read_pv(), -EIO);
	assert_non_null(strstr(why, "LVM: the metadata text's place or size is out of bounds"));
	static char longer[4096];
	memcpy(longer, t.s, t.len);
	make_pv(8 << 20, UUID, 4096, 512, longer, 4096 - 511, 0); /* longer than the area */
	assert_int_equal(read_pv(), -EIO);
	assert_non_null(strstr(why, "LVM: the metadata text's place or size is out of bounds"));
	free(old.s);
	free(t.s);
}

/* The text's size: 1 MiB (lvm2's size: the NUL counted) reads, one past
 * it is refused, in the metadata area and in the parser. */
static void test_bound_size(void **state)
{
	(void)state;
	struct text t = {0};
	vg_head(&t);
	lv(&t, "root", 1, 0);
	vg_tail(&t);
	size_t body = t.len - 1;
	char *big = malloc(TEXT_MAX + 2);
	assert_non_null(big);
	for (int past = 0; past <= 1; past++) {
		size_t len = TEXT_MAX + (size_t)past;
		memcpy(big, t.s, body);
		memset(big + body, ' ', len - 1 - body); /* (spaces: still one text) */
		big[len - 1] = '\0';
		make_pv(4 << 20, UUID, (2 << 20) - MDA, 512, big, len, 0);
		int rc = read_pv();
		if (!past) {
			assert_int_equal(rc, 0);
			assert_string_equal(answer, "vg\tvg0 2048 2048\nseg\troot 0 1 0\nend\t1\n");
		} else {
			assert_int_equal(rc, -EIO);
			assert_string_equal(why, "LVM: the metadata text's place or size is out of bounds "
			                         "(1048577 bytes at 512, at most 1048576)");
		}
		/* The parser alone: without a NUL, the same bound. */
		big[len - 1] = ' ';
		assert_int_equal(table(big, len, UUID, NULL), past ? -EIO : 0);
		if (past)
			assert_string_equal(why, "LVM: the metadata text is longer than 1048576 bytes");
	}
	free(big);
	free(t.s);
}

/* The items: 65,536 read, 65,537 refused; the work counted is a few
 * steps an item, all of them children of one list (the worst case of a
 * walk down a parent's children per item: 2^31 steps). */
static void test_bound_items(void **state)
{
	(void)state;
	for (int past = 0; past <= 1; past++) {
		struct text t = {0};
		/* 8 items (vg0, extent_size, physical_volumes, pv0, id,
		 * pe_start, logical_volumes, x), then x's values. */
		add(&t, "vg0 { extent_size = 1 physical_volumes { pv0 { id = \"%s\" pe_start = 1 } } "
		        "logical_volumes { } x = [",
		    PVID);
		for (int i = 0; i < NODES - 8 + past; i++)
			add(&t, "%d,", i % 10);
		add(&t, "] }\n");
		uint64_t work = 0;
		int rc = table(t.s, t.len, UUID, &work);
		if (!past) {
			assert_int_equal(rc, 0);
			assert_string_equal(answer, "vg\tvg0 1 1\nend\t1\n");
			assert_true(work <= 4ull * NODES);
		} else {
			assert_int_equal(rc, -EIO);
			assert_string_equal(why, "LVM: the metadata text has more than 65536 items");
		}
		free(t.s);
	}
	/* Many sections under one parent, each looked up by name: linear too. */
	struct text t = {0};
	vg_head(&t);
	for (int i = 0; i < 64; i++) {
		char name[16];
		snprintf(name, sizeof(name), "lv%d", i);
		lv(&t, name, 1, (unsigned)i);
	}
	for (int i = 0; i < 4000; i++)
		add(&t, "v%d = %d\n", i, i);
	vg_tail(&t);
	uint64_t work = 0;
	assert_int_equal(table(t.s, t.len, UUID, &work), 0);
	assert_int_equal(count_lines("seg"), 64);
	assert_true(work <= 40ull * 5000);
	free(t.s);
}

/* Depth: sections 8 deep read, 9 refused. */
static void test_bound_depth(void **state)
{
	(void)state;
	for (int past = 0; past <= 1; past++) {
		struct text t = {0};
		for (int i = 0; i < 8 + past; i++)
			add(&t, "s%d {\n", i);
		add(&t, "a = 1\n");
		for (int i = 0; i < 8 + past; i++)
			add(&t, "}\n");
		vg_head(&t);
		lv(&t, "root", 1, 0);
		vg_tail(&t);
		int rc = table(t.s, t.len, UUID, NULL);
		if (!past) {
			assert_int_equal(rc, 0);
			assert_string_equal(answer, "vg\tvg0 2048 2048\nseg\troot 0 1 0\nend\t1\n");
		} else {
			assert_int_equal(rc, -EIO);
			assert_string_equal(why, "LVM: the metadata text's sections nest deeper than 8");
		}
		free(t.s);
	}
}

/* Runs: 16 told, 17 not (named, with why). */
static void test_bound_runs(void **state)
{
	(void)state;
	struct text t = {0};
	vg_head(&t);
	lv(&t, "many16", 16, 0);
	lv(&t, "many17", 17, 20);
	vg_tail(&t);
	assert_int_equal(table(t.s, t.len, UUID, NULL), 0);
	assert_int_equal(count_lines("seg"), 16);
	assert_non_null(strstr(answer, "seg\tmany16 15 1 15\n"));
	assert_non_null(strstr(answer, "skip\tmany17 it has more than 16 runs\n"));
	assert_null(strstr(answer, "seg\tmany17"));
	free(t.s);
}

/* Volumes: 64 told, the 65th counted as one more. */
static void test_bound_volumes(void **state)
{
	(void)state;
	for (int past = 0; past <= 1; past++) {
		struct text t = {0};
		vg_head(&t);
		for (int i = 0; i < 64 + past; i++) {
			char name[16];
			snprintf(name, sizeof(name), "lv%d", i);
			lv(&t, name, 1, (unsigned)i);
		}
		vg_tail(&t);
		assert_int_equal(table(t.s, t.len, UUID, NULL), 0);
		assert_int_equal(count_lines("seg"), 64);
		assert_int_equal(count_lines("more"), (size_t)past);
		if (past)
			assert_non_null(strstr(answer, "\nmore\t1\nend\t1\n"));
		free(t.s);
	}
}

/* Malformed texts and volumes: each refused or named with its reason. */
static void test_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *text, *why;
	} bad[] = {
	    {"vg0 { a = \"open", "LVM: the metadata text does not parse (at byte 15)"},
	    {"vg0 { a 1 }", "LVM: the metadata text does not parse (at byte 8)"},
	    {"vg0 { a = [ 1, 2 }", "LVM: the metadata text does not parse (at byte 17)"},
	    {"vg0 { a = 1 } }", "LVM: the metadata text does not parse (at byte 14)"},
	    {"vg0 { a = 1 ", "LVM: the metadata text does not parse (at byte 12)"},
	    {"\"vg0\" { }", "LVM: the metadata text does not parse (at byte 5)"},
	    {"vg0 { physical_volumes { } }", "LVM: no volume group with an extent size in the metadata"},
	    {"vg0 { extent_size = 0 physical_volumes { } }", "LVM: no volume group with an extent size in the metadata"},
	    {"vg0 { extent_size = 8 physical_volumes { pv0 { id = \"" PVID "\" } } }",
	     "LVM: the metadata does not name this physical volume"},
	    {"", "LVM: no volume group with an extent size in the metadata"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(table(bad[i].text, strlen(bad[i].text), UUID, NULL), -EIO);
		assert_string_equal(why, bad[i].why);
	}
	/* Volumes not shown, named with why. */
	static const struct {
		const char *seg, *why;
	} lvs[] = {
	    {"segment1 { start_extent = 1 extent_count = 1 type = \"striped\" stripe_count = 1 stripes = [\"pv0\", 0] }",
	     "its segments do not follow each other"},
	    {"segment1 { start_extent = 0 extent_count = 1 type = \"thin\" }",
	     "it is not linear: a mirror, RAID, thin, cache or snapshot volume"},
	    {"segment1 { start_extent = 0 extent_count = 1 type = \"striped\" stripe_count = 1 stripes = [\"pv0\", x] }",
	     "a segment is missing or malformed"},
	    {"segment2 { start_extent = 0 extent_count = 1 type = \"striped\" stripe_count = 1 stripes = [\"pv0\", 0] }",
	     "a segment is missing or malformed"},
	    {"segment1 { start_extent = 0 extent_count = 0 type = \"striped\" stripe_count = 1 stripes = [\"pv0\", 0] }",
	     "its segments do not follow each other"},
	};
	for (size_t i = 0; i < sizeof(lvs) / sizeof(lvs[0]); i++) {
		struct text t = {0};
		vg_head(&t);
		add(&t, "odd {\nstatus = [\"READ\", \"VISIBLE\"]\nsegment_count = 1\n%s\n}\n", lvs[i].seg);
		vg_tail(&t);
		assert_int_equal(table(t.s, t.len, UUID, NULL), 0);
		char want[256];
		snprintf(want, sizeof(want), "vg\tvg0 2048 2048\nskip\todd %s\nend\t1\n", lvs[i].why);
		assert_string_equal(answer, want);
		free(t.s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lvm2_text),   cmocka_unit_test(test_nul),
	    cmocka_unit_test(test_pv),          cmocka_unit_test(test_bound_size),
	    cmocka_unit_test(test_bound_items), cmocka_unit_test(test_bound_depth),
	    cmocka_unit_test(test_bound_runs),  cmocka_unit_test(test_bound_volumes),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

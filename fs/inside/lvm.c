/*
 * lvm.c — an LVM2 physical volume, read in the helper (SPEC §18): its
 * label, its metadata area and the volume group's text metadata, turned
 * into the linear logical volumes the daemon shows as volumes of their
 * own (fs/fuse/inside_lvm.c).  Every byte of it is a tenant's.
 *
 * On disk (LVM2's format, lib/format_text): a label in one of the
 * volume's first four sectors ("LABELONE", its sector, a CRC of the rest
 * of the sector, "LVM2 001"), then the PV header (its UUID, size, the
 * data and metadata areas); a metadata area starts with a header (a CRC,
 * " LVM2 x[5A%r0N*>", version 1, its start and size, and where the
 * current text lies in it: offset, size, CRC) and holds the text in a
 * circular buffer after its first 512 bytes.  The text:
 *
 *   vg0 {  extent_size = 8192   physical_volumes { pv0 { id = "…" pe_start = 2048 … } }
 *          logical_volumes { root { status = [...] segment1 { start_extent = 0
 *          extent_count = 50 type = "striped" stripe_count = 1 stripes = ["pv0", 0] } } } }
 *
 * parsed into a small tree (sections, values, lists) and read for what a
 * linear volume needs: its segments, each a run of extents on this PV.
 * Every CRC is checked (LVM's CRC-32: initial 0xf597a6cf, no final
 * inversion); the text is at most LVM_TEXT_MAX, its nodes LVM_NODES, its
 * depth LVM_DEPTH; at most LVM_LVS volumes, LVM_SEGS segments each.  What
 * is not linear on this PV (a stripe set, a mirror, RAID, thin, cache, a
 * volume on another PV, a snapshot) is named with why it is not shown.
 *
 * The answer ("key\tvalue" lines, checked again by the daemon):
 *   vg NAME EXTENT_SECTORS PE_START_SECTORS
 *   seg LV START_EXTENT EXTENT_COUNT PV_EXTENT
 *   skip LV REASON
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ins_fs.h"
#include "ins_inspect.h"
#include "ins_lvm.h"

#define LVM_TEXT_MAX (1u << 20)
#define LVM_NODES 65536
#define LVM_DEPTH 8
#define LVM_LVS 64
#define LVM_SEGS 16
#define MDA_MAGIC " LVM2 x[5A%r0N*>"

static uint32_t lvm_crc(const uint8_t *p, size_t len)
{
	uint32_t c = 0xf597a6cf;
	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c >> 1 ^ (0xedb88320 & -(c & 1));
	}
	return c;
}
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ---- the text's tree ---------------------------------------------------------- */

enum { N_SECTION = 1, N_VALUE, N_LIST };
struct node {
	int kind;
	char name[65];          /* a section's or a value's name ("" for list items) */
	char value[129];        /* a value's text (a string without its quotes, a number) */
	int parent, first, last, next; /* indices; -1: none */
};

struct tree {
	struct node *n;
	int count;
	const char *start, *p, *end;
	uint64_t work;          /* nodes visited (each child hop, each node made): linear in the text */
	char why[160];
};

/* The node after i among its parent's children (-1: none); counts the hop. */
static int next_of(struct tree *t, int i)
{
	t->work++;
	return t->n[i].next;
}
static int first_of(struct tree *t, int parent)
{
	t->work++;
	return parent >= 0 ? t->n[parent].first : -1;
}

static void skip_space(struct tree *t)
{
	while (t->p < t->end) {
		if (*t->p == '#')
			while (t->p < t->end && *t->p != '\n')
				t->p++;
		else if (isspace((unsigned char)*t->p))
			t->p++;
		else
			break;
	}
}

static int add_node(struct tree *t, int parent, int kind, const char *name, size_t nlen)
{
	if (t->count >= LVM_NODES) {
		snprintf(t->why, sizeof(t->why), "the metadata text has more than %d items", LVM_NODES);
		return -1;
	}
	struct node *n = &t->n[t->count];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	snprintf(n->name, sizeof(n->name), "%.*s", (int)(nlen < 64 ? nlen : 64), name);
	n->parent = parent;
	n->first = n->last = n->next = -1;
	t->work++;
	if (parent >= 0) {
		/* Children kept in order (a list's items), appended after the
		 * parent's last: each item costs one step, whatever its rank. */
		struct node *up = &t->n[parent];
		if (up->last >= 0)
			t->n[up->last].next = t->count;
		else
			up->first = t->count;
		up->last = t->count;
	}
	return t->count++;
}

/* A word (name or number) or a string at p: its text into out. */
static int token(struct tree *t, char *out, size_t cap, bool *quoted)
{
	size_t n = 0;
	*quoted = false;
	skip_space(t);
	if (t->p < t->end && *t->p == '"') {
		*quoted = true;
		for (t->p++; t->p < t->end && *t->p != '"'; t->p++) {
			if (*t->p == '\\' && t->p + 1 < t->end)
				t->p++;
			if (n + 1 < cap)
				out[n++] = *t->p;
		}
		if (t->p >= t->end)
			return -1;
		t->p++;
	} else {
		while (t->p < t->end && (isalnum((unsigned char)*t->p) || strchr("_.+-", *t->p))) {
			if (n + 1 < cap)
				out[n++] = *t->p;
			t->p++;
		}
		if (!n)
			return -1;
	}
	out[n] = '\0';
	return 0;
}

/* The items of a section (or the whole text) until '}' (or the end). */
static int parse_items(struct tree *t, int parent, int depth)
{
	char name[129];
	bool q;
	if (depth > LVM_DEPTH) {
		snprintf(t->why, sizeof(t->why), "the metadata text's sections nest deeper than %d", LVM_DEPTH);
		return -1;
	}
	for (;;) {
		skip_space(t);
		if (t->p >= t->end || *t->p == '}')
			return 0;
		if (token(t, name, sizeof(name), &q) < 0 || q)
			goto bad;
		skip_space(t);
		if (t->p < t->end && *t->p == '{') {
			t->p++;
			int s = add_node(t, parent, N_SECTION, name, strlen(name));
			if (s < 0 || parse_items(t, s, depth + 1) < 0)
				return -1;
			if (t->p >= t->end || *t->p != '}')
				goto bad;
			t->p++;
			continue;
		}
		if (t->p >= t->end || *t->p != '=')
			goto bad;
		t->p++;
		skip_space(t);
		if (t->p < t->end && *t->p == '[') {
			t->p++;
			int l = add_node(t, parent, N_LIST, name, strlen(name));
			if (l < 0)
				return -1;
			for (;;) {
				skip_space(t);
				if (t->p < t->end && *t->p == ']') {
					t->p++;
					break;
				}
				char v[129];
				if (token(t, v, sizeof(v), &q) < 0)
					goto bad;
				int i = add_node(t, l, N_VALUE, "", 0);
				if (i < 0)
					return -1;
				snprintf(t->n[i].value, sizeof(t->n[i].value), "%s", v);
				skip_space(t);
				if (t->p < t->end && *t->p == ',')
					t->p++;
			}
			continue;
		}
		char v[129];
		if (token(t, v, sizeof(v), &q) < 0)
			goto bad;
		int i = add_node(t, parent, N_VALUE, name, strlen(name));
		if (i < 0)
			return -1;
		snprintf(t->n[i].value, sizeof(t->n[i].value), "%s", v);
	}
bad:
	snprintf(t->why, sizeof(t->why), "the metadata text does not parse (at byte %ld)", (long)(t->p - t->start));
	return -1;
}

static int child(struct tree *t, int parent, const char *name, int kind)
{
	for (int i = first_of(t, parent); i >= 0; i = next_of(t, i))
		if (t->n[i].kind == kind && strcmp(t->n[i].name, name) == 0)
			return i;
	return -1;
}

static bool number(struct tree *t, int parent, const char *name, uint64_t *out)
{
	int i = child(t, parent, name, N_VALUE);
	char *end;
	if (i < 0 || !isdigit((unsigned char)t->n[i].value[0]))
		return false;
	*out = strtoull(t->n[i].value, &end, 10);
	return *end == '\0';
}

static const char *string(struct tree *t, int parent, const char *name)
{
	int i = child(t, parent, name, N_VALUE);
	return i < 0 ? "" : t->n[i].value;
}

/* ---- the volume ------------------------------------------------------------------ */

/* The PV's UUID (32 characters) and its metadata's text (malloc'd): the
 * newest generation, where the first metadata area in use points (its
 * header's first raw_locn, slot 0: LVM's committed one; slot 1, a
 * precommitted text, is not read).  Older generations stay in the area
 * after it or before it: never read. */
static int read_text(uint64_t size, char uuid[33], char **text, size_t *len, char *why, size_t cap)
{
	uint8_t h[2048], m[512];
	if (size < 8192 || ins_fetch(0, sizeof(h), h) < 0) {
		snprintf(why, cap, "LVM: the volume is too small for a physical volume");
		return -EIO;
	}
	const uint8_t *l = NULL;
	for (unsigned s = 0; s < 4 && !l; s++)
		if (memcmp(h + 512 * s, "LABELONE", 8) == 0)
			l = h + 512 * s;
	if (!l || le64(l + 8) != (uint64_t)(l - h) / 512 || memcmp(l + 24, "LVM2 001", 8) != 0 ||
	    le32(l + 16) != lvm_crc(l + 20, 512 - 20) || le32(l + 20) < 32 || le32(l + 20) > 512 - 40 - 32) {
		snprintf(why, cap, "LVM: the physical volume's label is malformed or fails its checksum");
		return -EIO;
	}
	const uint8_t *pvh = l + le32(l + 20), *p = pvh + 40, *lend = l + 512;
	memcpy(uuid, pvh, 32);
	uuid[32] = '\0';
	/* Data areas, then metadata areas (lvm2 makes at most two: one after
	 * the label, one at the volume's end), each list ending with a zero
	 * pair. */
	while (p + 16 <= lend && (le64(p) || le64(p + 8)))
		p += 16;
	p += 16;
	uint64_t mda = 0, msize = 0, off = 0, tlen = 0;
	uint32_t tcrc = 0;
	bool ignored = false, bad = false, any = false;
	for (unsigned k = 0; k < 2 && p + 16 <= lend && le64(p) && !tlen; k++, p += 16) {
		any = true;
		mda = le64(p), msize = le64(p + 8);
		if (mda >= size || msize < 1024 || msize > size - mda || ins_fetch(mda, sizeof(m), m) < 0 ||
		    memcmp(m + 4, MDA_MAGIC, 16) != 0 || le32(m) != lvm_crc(m + 4, sizeof(m) - 4) || le32(m + 20) != 1 ||
		    le64(m + 24) != mda) {
			bad = true; /* (lvm2 reads the other area, if any) */
			continue;
		}
		if (le32(m + 60) & 1) { /* RAW_LOCN_IGNORED: pvchange --metadataignore y */
			ignored = true;
			continue;
		}
		off = le64(m + 40), tlen = le64(m + 48), tcrc = le32(m + 56);
		if (!tlen && !off)
			bad = false; /* (an empty area: said below) */
	}
	if (!any) {
		snprintf(why, cap, "LVM: the physical volume has no metadata area");
		return -EIO;
	}
	if (!tlen && bad) {
		snprintf(why, cap, "LVM: the metadata area's header is malformed or fails its checksum");
		return -EIO;
	}
	if (!tlen && !off) {
		snprintf(why, cap, ignored ? "LVM: the physical volume's metadata areas are marked ignored "
		                             "(its group's metadata is on its other physical volumes)"
		                           : "LVM: the physical volume is in no volume group (its metadata area is empty)");
		return -EIO;
	}
	if (tlen == 0 || tlen > LVM_TEXT_MAX || off < 512 || off >= msize || tlen > msize - 512) {
		snprintf(why, cap, "LVM: the metadata text's place or size is out of bounds (%llu bytes at %llu, "
		         "at most %u)", (unsigned long long)tlen, (unsigned long long)off, LVM_TEXT_MAX);
		return -EIO;
	}
	char *t = malloc(tlen + 1);
	if (!t)
		return -ENOMEM;
	/* A circular buffer after the header: what passes the area's end
	 * wraps to its start (lvm2 writes so when the area is nearly full). */
	uint64_t first = off + tlen <= msize ? tlen : msize - off;
	if (ins_fetch(mda + off, first, t) < 0 || (first < tlen && ins_fetch(mda + 512, tlen - first, t + first) < 0)) {
		free(t);
		snprintf(why, cap, "LVM: the metadata text cannot be read");
		return -EIO;
	}
	if (lvm_crc((uint8_t *)t, tlen) != tcrc) {
		free(t);
		snprintf(why, cap, "LVM: the metadata text fails its checksum");
		return -EIO;
	}
	t[tlen] = '\0';
	*text = t;
	*len = tlen;
	return 0;
}

int ins_lvm_table(const char *text, size_t len, const char *uuid, struct ins_out *o, uint64_t *work, char *why,
                  size_t cap)
{
	struct tree t = {0};
	int rc = -EIO;
	/* lvm2 ends its text with a NUL (counted in its size, under its CRC);
	 * its parser stops at the first NUL, and so does this one. */
	const char *nul = memchr(text, '\0', len);
	if (nul)
		len = (size_t)(nul - text);
	if (len > LVM_TEXT_MAX) {
		snprintf(why, cap, "LVM: the metadata text is longer than %u bytes", LVM_TEXT_MAX);
		return -EIO;
	}
	if (!(t.n = malloc(sizeof(*t.n) * LVM_NODES)))
		return -ENOMEM;
	t.start = t.p = text;
	t.end = text + len;
	if (parse_items(&t, -1, 0) < 0 || t.p != t.end) {
		if (!t.why[0])
			snprintf(t.why, sizeof(t.why), "the metadata text does not parse (at byte %ld)", (long)(t.p - t.start));
		snprintf(why, cap, "LVM: %s", t.why);
		goto out;
	}
	/* The volume group: the first section that has physical volumes. */
	int vg = -1;
	for (int i = 0; i < t.count && vg < 0; i++)
		if (t.n[i].parent < 0 && t.n[i].kind == N_SECTION && child(&t, i, "physical_volumes", N_SECTION) >= 0)
			vg = i;
	uint64_t extent, pe_start = 0;
	int pvs = vg >= 0 ? child(&t, vg, "physical_volumes", N_SECTION) : -1, me = -1, pv_first = -1;
	if (vg < 0 || !number(&t, vg, "extent_size", &extent) || extent == 0 || extent > (1ull << 32)) {
		snprintf(why, cap, "LVM: no volume group with an extent size in the metadata");
		goto out;
	}
	/* This PV: the one whose id, without its dashes, is the label's UUID. */
	for (int i = first_of(&t, pvs); i >= 0 && me < 0; i = next_of(&t, i)) {
		char id[40];
		size_t n = 0;
		if (t.n[i].kind != N_SECTION)
			continue;
		if (pv_first < 0)
			pv_first = i;
		for (const char *c = string(&t, i, "id"); *c && n < 32; c++)
			if (*c != '-')
				id[n++] = *c;
		id[n] = '\0';
		if (strcmp(id, uuid) == 0 && number(&t, i, "pe_start", &pe_start))
			me = i;
	}
	if (me < 0) {
		snprintf(why, cap, "LVM: the metadata does not name this physical volume");
		goto out;
	}
	ins_put(o, "vg", "%s %llu %llu", t.n[vg].name, (unsigned long long)extent, (unsigned long long)pe_start);
	int lvs = child(&t, vg, "logical_volumes", N_SECTION), nlv = 0, more = 0;
	for (int lv = first_of(&t, lvs); lv >= 0; lv = next_of(&t, lv)) {
		if (t.n[lv].kind != N_SECTION)
			continue;
		const char *name = t.n[lv].name;
		/* Whose volume it is: the PV of its first run (one with no run,
		 * a thin volume: the group's first PV's).  Each PV of a group
		 * holds the same text: each volume is told by one of them. */
		int s1 = child(&t, lv, "segment1", N_SECTION), l1 = s1 >= 0 ? child(&t, s1, "stripes", N_LIST) : -1;
		int p1 = first_of(&t, l1);
		if (p1 >= 0 ? strcmp(t.n[p1].value, t.n[me].name) != 0 : pv_first != me)
			continue;
		if (++nlv > LVM_LVS) {
			more++;
			continue;
		}
		/* Each segment a linear run on this PV, in order, from extent 0. */
		uint64_t next = 0, nseg = 0, run[LVM_SEGS][3];
		const char *bad = NULL;
		if (!number(&t, lv, "segment_count", &nseg) || nseg == 0)
			bad = "a segment is missing or malformed";
		else if (nseg > LVM_SEGS)
			bad = "it has more than 16 runs";
		for (uint64_t k = 1; !bad && k <= nseg; k++) {
			char sname[32];
			uint64_t start, count, stripes;
			snprintf(sname, sizeof(sname), "segment%llu", (unsigned long long)k);
			int s = child(&t, lv, sname, N_SECTION), list = s >= 0 ? child(&t, s, "stripes", N_LIST) : -1;
			if (s < 0 || !number(&t, s, "start_extent", &start) || !number(&t, s, "extent_count", &count))
				bad = "a segment is missing or malformed";
			else if (strcmp(string(&t, s, "type"), "striped") != 0)
				bad = "it is not linear: a mirror, RAID, thin, cache or snapshot volume";
			else if (!number(&t, s, "stripe_count", &stripes) || stripes != 1 || list < 0)
				bad = "it is striped over several areas";
			else if (start != next || count == 0 || count > (1ull << 32))
				bad = "its segments do not follow each other";
			else {
				int pv = first_of(&t, list), pe = pv >= 0 ? next_of(&t, pv) : -1;
				const char *c = pe >= 0 ? t.n[pe].value : "";
				if (pv < 0 || pe < 0 || strcmp(t.n[pv].value, t.n[me].name) != 0)
					bad = "it has runs on another physical volume";
				else if (!isdigit((unsigned char)c[0]))
					bad = "a segment is missing or malformed";
				else {
					run[k - 1][0] = start, run[k - 1][1] = count, run[k - 1][2] = strtoull(c, NULL, 10);
					next = start + count;
				}
			}
		}
		/* Told whole, or named with why (none of its runs told). */
		for (uint64_t k = 0; !bad && k < nseg; k++)
			ins_put(o, "seg", "%s %llu %llu %llu", name, (unsigned long long)run[k][0],
			        (unsigned long long)run[k][1], (unsigned long long)run[k][2]);
		if (bad)
			ins_put(o, "skip", "%s %s", name, bad);
	}
	if (more)
		ins_put(o, "more", "%d", more);
	ins_put(o, "end", "1");
	rc = o->full ? -EIO : 0;
	if (rc)
		snprintf(why, cap, "LVM: the volume group's table does not fit an answer");
out:
	if (work)
		*work = t.work;
	free(t.n);
	return rc;
}

int ins_lvm_read(uint64_t size, struct ins_out *o, char *why, size_t cap)
{
	char uuid[33], *text = NULL;
	size_t len;
	int rc = read_text(size, uuid, &text, &len, why, cap);
	if (rc == 0)
		rc = ins_lvm_table(text, len, uuid, o, NULL, why, cap);
	free(text);
	return rc;
}

/* ---- the reader's table: a physical volume holds no files ---- */

static uint64_t pv_size;

static int pv_open(uint64_t size, char *why, size_t cap)
{
	(void)why;
	(void)cap;
	pv_size = size;
	return 0;
}
static uint64_t pv_root(void)
{
	return 1;
}
static int pv_stat(uint64_t ino, struct ins_stat *st)
{
	(void)ino;
	(void)st;
	return -ENOENT;
}
static int pv_lookup(uint64_t dir, const char *name, size_t len, uint64_t *ino)
{
	(void)dir, (void)name, (void)len, (void)ino;
	return -ENOENT;
}
static int pv_list(uint64_t dir, uint64_t from, ins_add_fn add, void *arg)
{
	(void)dir, (void)from, (void)add, (void)arg;
	return -ENOENT;
}
static int pv_read(uint64_t ino, uint64_t off, uint32_t len, void *buf, uint32_t *got)
{
	(void)ino, (void)off, (void)len, (void)buf, (void)got;
	return -ENOENT;
}
static int pv_readlink(uint64_t ino, char *buf, size_t len)
{
	(void)ino, (void)buf, (void)len;
	return -ENOENT;
}

int ins_lvm_answer(struct ins_out *o, char *why, size_t cap)
{
	return ins_lvm_read(pv_size, o, why, cap);
}

const struct ins_fs_ops ins_fs_lvm = {
	.kind = INS_FS_LVM,
	.readme = "LVM2 physical volume, its metadata read by imgfs's own reader",
	.open = pv_open,
	.root = pv_root,
	.stat = pv_stat,
	.lookup = pv_lookup,
	.list = pv_list,
	.read = pv_read,
	.readlink = pv_readlink,
};

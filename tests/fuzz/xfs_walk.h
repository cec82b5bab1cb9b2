/*
 * xfs_walk.h — fs/inside/xfs.c fed from memory, for its fuzz target
 * (fuzz_xfs.c) and its unit test (tests/unit/fs/inside/test_xfs.c), which
 * runs the same walk over the fixtures and the seed corpus under the
 * sanitizers.
 *
 * The input is a volume in segments: a u64 (little-endian) volume size,
 * then segments {u64 offset, u32 length, the bytes}; what no segment
 * holds reads as zeros (a fixture's image is mostly zeros).  The walk
 * opens the volume, lists every directory from the root (depth and count
 * bounded), stats every entry, reads every regular file and every link,
 * and checks what the reader promises: errors are ENOENT, EIO or ENOMEM,
 * a read gives what was asked, a listing's names are 1..255 bytes, its
 * positions increase, and a listing resumed from an entry's position goes
 * on with the entry the whole walk gave next (issue 47).
 */
#ifndef IMGFS_XFS_WALK_H
#define IMGFS_XFS_WALK_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ins_fs.h"

#define XW_MAX_SEGS 4096
#define XW_MAX_ENTRIES 20000 /* entries visited per walk */
#define XW_MAX_DEPTH 24

static struct xw_seg {
	uint64_t off;
	uint32_t len;
	const uint8_t *data;
} xw_segs[XW_MAX_SEGS];
static unsigned xw_nsegs;
static uint64_t xw_vol;
static char xw_why[256];
static int xw_strict; /* a well-formed volume: a lookup finds what the listing named */

static void xw_must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "xfs walk: broken promise: %s\n", what);
		abort();
	}
}

int ins_fetch(uint64_t off, size_t len, void *buf)
{
	memset(buf, 0, len);
	for (unsigned i = 0; i < xw_nsegs; i++) {
		const struct xw_seg *s = &xw_segs[i];
		if (s->off >= off + len || s->off + s->len <= off)
			continue;
		uint64_t from = s->off > off ? s->off : off, to = s->off + s->len < off + len ? s->off + s->len : off + len;
		memcpy((uint8_t *)buf + (from - off), s->data + (from - s->off), to - from);
	}
	return off > xw_vol || len > xw_vol - off ? -EIO : 0;
}

void ins_why(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(xw_why, sizeof(xw_why), fmt, ap);
	va_end(ap);
}

/* Parses the input's segments: 0, or -1 when malformed. */
static int xw_load(const uint8_t *data, size_t size)
{
	xw_nsegs = 0;
	if (size < 8)
		return -1;
	memcpy(&xw_vol, data, 8);
	if (xw_vol > (1ull << 40))
		xw_vol = 1ull << 40;
	size_t pos = 8;
	while (size - pos >= 12 && xw_nsegs < XW_MAX_SEGS) {
		struct xw_seg *s = &xw_segs[xw_nsegs];
		uint32_t len;
		memcpy(&s->off, data + pos, 8);
		memcpy(&len, data + pos + 8, 4);
		pos += 12;
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		s->len = len;
		s->data = data + pos;
		pos += len;
		xw_nsegs++;
	}
	return 0;
}

struct xw_count {
	unsigned dirs, files, links, others, errors, entries, xattrs, typed;
	uint64_t bytes;
};

/* An extended attribute: a name and a value within Linux's bounds. */
static int xw_xattr(void *arg, const char *name, size_t nlen, const void *value, size_t vlen)
{
	struct xw_count *c = arg;
	xw_must(nlen >= 1 && nlen <= 255 && memchr(name, '\0', nlen) == NULL, "an xattr name of 1..255 bytes");
	xw_must(vlen <= 65536 && (vlen == 0 || value != NULL), "an xattr value of at most 64 KiB");
	c->xattrs++;
	return 0;
}

struct xw_list {
	unsigned n;
	uint64_t at; /* the last position given, an entry's or a block's */
	uint64_t ino[512], after[512];
	unsigned type[512]; /* the entry's own (ftype), 0 if it says none */
	char name[512][256];
};

static int xw_add(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	struct xw_list *l = arg;
	xw_must(after >= l->at && (!name || after > l->at) && after <= INS_POS_MAX, "positions that move forward");
	l->at = after;
	if (!name)
		return 0; /* a block read */
	xw_must(len >= 1 && len <= 255, "a name of 1..255 bytes");
	if (l->n >= 512)
		return 1;
	l->after[l->n] = after;
	l->ino[l->n] = ino;
	l->type[l->n] = type;
	xw_must((type & ~(unsigned)S_IFMT) == 0, "an entry's type of S_IF* bits only");
	memcpy(l->name[l->n], name, len);
	l->name[l->n][len] = '\0';
	l->n++;
	return 0;
}

/* A page of one entry (blocks read before it passed). */
struct xw_one {
	uint64_t at, ino, after;
	int got;
};

static int xw_first(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	struct xw_one *o = arg;
	(void)len, (void)type;
	xw_must(after >= o->at && (!name || after > o->at), "positions that move forward");
	o->at = after;
	if (!name)
		return 0;
	o->ino = ino;
	o->after = after;
	o->got = 1;
	return 1;
}

static void xw_rc(int rc)
{
	xw_must(rc == 0 || rc == -ENOENT || rc == -EIO || rc == -ENOMEM, "an error of ENOENT, EIO or ENOMEM");
}

static void xw_dir(const struct ins_fs_ops *ops, uint64_t dir, int depth, struct xw_count *c)
{
	struct xw_list *l = malloc(sizeof(*l));
	static char buf[128 << 10];
	xw_must(l != NULL, "memory");
	l->n = 0;
	l->at = 0;
	int rc = ops->list(dir, 0, xw_add, l);
	xw_must(rc >= 0 || rc == -ENOENT || rc == -EIO || rc == -ENOMEM, "list's error");
	if (rc < 0)
		c->errors++;
	/* Resumed from each of the first entries' positions: the next one. */
	for (unsigned i = 1; rc >= 0 && i < l->n && i < 16; i++) {
		struct xw_one one = {l->after[i - 1], 0, 0, 0};
		int r = ops->list(dir, l->after[i - 1], xw_first, &one);
		xw_must(r == 1 || r == -EIO || r == -ENOMEM, "a resumed list stops where its callback said (not the end)");
		xw_must(r < 0 || (one.ino == l->ino[i] && one.after == l->after[i]),
		        "a listing resumed from an entry's position goes on with the next one");
	}
	c->dirs++;
	for (unsigned i = 0; i < l->n && c->entries < XW_MAX_ENTRIES; i++) {
		struct ins_stat st;
		uint64_t found;
		c->entries++;
		if (i < 8 || xw_strict) {
			rc = ops->lookup(dir, l->name[i], strlen(l->name[i]), &found);
			xw_rc(rc);
			xw_must(!xw_strict || (rc == 0 && found == l->ino[i]), "a lookup finds what the listing named");
		}
		rc = ops->stat(l->ino[i], &st);
		xw_rc(rc);
		if (rc < 0) {
			c->errors++;
			continue;
		}
		/* A names-only listing's type (SPEC §18.7) is the inode's. */
		xw_must(!xw_strict || l->type[i] == 0 || l->type[i] == (st.mode & S_IFMT),
		        "an entry's type is its inode's");
		c->typed += l->type[i] != 0;
		if (ops->xattrs) {
			rc = ops->xattrs(l->ino[i], xw_xattr, c);
			xw_rc(rc);
			if (rc < 0)
				c->errors++;
		}
		if (S_ISDIR(st.mode)) {
			if (depth < XW_MAX_DEPTH)
				xw_dir(ops, l->ino[i], depth + 1, c);
		} else if (S_ISREG(st.mode)) {
			uint64_t off = 0;
			c->files++;
			/* The first MiB of each file, 16 MiB in all: a walk
			 * stays quick whatever sizes the input claims. */
			while (off < st.size && off < (1ull << 20) && c->bytes < (16ull << 20)) {
				uint32_t len = st.size - off > sizeof(buf) ? sizeof(buf) : (uint32_t)(st.size - off), got = 0;
				rc = ops->read(l->ino[i], off, len, buf, &got);
				xw_rc(rc);
				if (rc < 0) {
					c->errors++;
					break;
				}
				xw_must(got == len, "a read gives what was asked");
				off += got;
				c->bytes += got;
			}
		} else if (S_ISLNK(st.mode)) {
			c->links++;
			if (st.size >= 1 && st.size < 4096) {
				rc = ops->readlink(l->ino[i], buf, (size_t)st.size);
				xw_rc(rc);
				if (rc < 0)
					c->errors++;
			}
		} else {
			c->others++;
		}
	}
	free(l);
}

/* Opens and walks the volume: the open's -errno, or 0 with *c filled. */
static int xw_walk(const struct ins_fs_ops *ops, struct xw_count *c)
{
	char why[200] = "";
	struct ins_stat st;
	memset(c, 0, sizeof(*c));
	int rc = ops->open(xw_vol, why, sizeof(why));
	xw_rc(rc);
	if (rc < 0)
		return rc;
	rc = ops->stat(ops->root(), &st);
	xw_rc(rc);
	if (rc < 0 || !S_ISDIR(st.mode))
		return -EIO;
	xw_dir(ops, ops->root(), 0, c);
	return 0;
}

#endif

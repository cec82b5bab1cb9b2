/*
 * buf.c — the growable text buffer generated files are rendered into.
 * An allocation failure marks the buffer failed; callers answer ENOMEM.
 * A secret buffer (what is written to a password file) never leaves a
 * copy behind: growing it copies and wipes the old block (realloc might
 * leave it in freed memory), releasing it wipes it.
 *
 * A large buffer (BUF_MAP_MIN and up) is a mapping of its own, grown with
 * mremap and given back with munmap: malloc keeps a freed block of a few
 * MiB for its next use: the +570 MiB of RSS of 100 descriptors of a 5 MiB
 * images.json stayed after their close (issue 36).  A buffer with a budget
 * (files.c's renderings, SPEC §12) is charged for what it holds and stops
 * growing past it; a counting buffer keeps no byte (a stat's size).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "imgfs_assert.h"
#include "include/core.h" /* model_utf8_decode */

#define BUF_MAP_MIN (128u * 1024)

static size_t charge_of(size_t cap)
{
	return cap > FS_BUF_FREE ? cap : 0;
}

size_t fs_buf_charge(const struct fs_buf *b)
{
	return b->budget ? charge_of(b->cap) : 0;
}

/* The block a buffer of cap bytes takes: a mapping's whole pages. */
static size_t block_size(const struct fs_buf *b, size_t cap)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (b->secret || cap < BUF_MAP_MIN)
		return cap;
	return (cap + page - 1) / page * page;
}

/* Charges b's budget for a block of cap bytes instead of b->cap; false
 * (and why, in b->over) past one buffer's or everyone's limit. */
static bool budget_take(struct fs_buf *b, size_t cap)
{
	struct fs_budget *g = b->budget;
	if (!g || cap <= b->cap)
		return true;
	if (cap > g->one_max) {
		b->over = FS_BUF_OVER_ONE;
		return false;
	}
	size_t more = charge_of(cap) - charge_of(b->cap);
	if (atomic_fetch_add(&g->used, more) + more > g->max) {
		atomic_fetch_sub(&g->used, more);
		b->over = FS_BUF_OVER_ALL;
		return false;
	}
	return true;
}

static void budget_give(struct fs_buf *b, size_t from, size_t to)
{
	if (b->budget && charge_of(from) > charge_of(to))
		atomic_fetch_sub(&b->budget->used, charge_of(from) - charge_of(to));
}

/* Moves b's content into a block of cap bytes (cap > b->len). */
static bool buf_move(struct fs_buf *b, size_t cap)
{
	bool map = !b->secret && cap >= BUF_MAP_MIN;
	char *p;
	if (map && b->mapped) {
		if ((p = mremap(b->p, b->cap, cap, MREMAP_MAYMOVE)) == MAP_FAILED)
			return false;
	} else if (map) {
		if ((p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
			return false;
		if (b->p)
			memcpy(p, b->p, b->len + 1);
		free(b->p);
	} else if (b->mapped || b->secret) {
		if (!(p = malloc(cap)))
			return false;
		if (b->p)
			memcpy(p, b->p, b->len + 1);
		if (b->mapped) {
			munmap(b->p, b->cap);
		} else if (b->p) {
			/* realloc could leave the old bytes behind in freed memory */
			explicit_bzero(b->p, b->cap);
			free(b->p);
		}
	} else if (!(p = realloc(b->p, cap))) {
		return false;
	}
	b->p = p;
	b->cap = cap;
	b->mapped = map;
	return true;
}

static bool buf_reserve(struct fs_buf *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	cap = block_size(b, cap);
	size_t was = b->cap;
	if (!budget_take(b, cap)) {
		b->failed = true;
		return false;
	}
	if (!buf_move(b, cap)) {
		budget_give(b, cap, was);
		b->failed = true;
		return false;
	}
	return true;
}

void fs_buf_trim(struct fs_buf *b)
{
	size_t cap = block_size(b, b->len + 1), was = b->cap;
	if (!b->p || b->secret || cap >= was)
		return;
	if (b->mapped && cap >= BUF_MAP_MIN) {
		if (mremap(b->p, was, cap, 0) == MAP_FAILED) /* shrinking in place */
			return;
		b->cap = cap;
	} else if (!buf_move(b, cap)) {
		return; /* keeps the larger block */
	}
	budget_give(b, was, b->cap);
}

void fs_buf_put(struct fs_buf *b, const void *data, size_t len)
{
	if (b->count) {
		b->len += len;
		return;
	}
	if (!buf_reserve(b, len))
		return;
	IMGFS_ASSERT(b->len + len < b->cap); /* room for the bytes and the NUL */
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void fs_buf_puts(struct fs_buf *b, const char *s)
{
	fs_buf_put(b, s, strlen(s));
}

void fs_buf_printf(struct fs_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n >= 0 && b->count) {
		b->len += (size_t)n;
		return;
	}
	if (n < 0 || !buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void fs_buf_value(struct fs_buf *b, const char *v)
{
	if (!v[0])
		return;
	fs_buf_puts(b, v);
	fs_buf_put(b, "\n", 1);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if p does not
 * start one: the model's one UTF-8 decoder. */
static size_t utf8_len(const unsigned char *p)
{
	uint32_t cp;
	return model_utf8_decode((const char *)p, &cp);
}

void fs_buf_json_string(struct fs_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	fs_buf_put(b, "\"", 1);
	while (*p) {
		/* Copy the longest run that needs no escaping in one go. */
		const unsigned char *run = p;
		size_t n;
		while (*p && *p != '"' && *p != '\\' && *p >= 0x20 && *p != 0x7f && (n = utf8_len(p)) > 0)
			p += n;
		if (p > run)
			fs_buf_put(b, run, (size_t)(p - run));
		if (!*p)
			break;
		if (*p == '"' || *p == '\\') {
			fs_buf_put(b, "\\", 1);
			fs_buf_put(b, p, 1);
		} else if (*p < 0x20 || *p == 0x7f) {
			fs_buf_printf(b, "\\u%04x", *p);
		} else {
			fs_buf_puts(b, "\\ufffd"); /* not UTF-8: one replacement per byte */
		}
		p++;
	}
	fs_buf_put(b, "\"", 1);
}

void fs_buf_release(struct fs_buf *b)
{
	bool secret = b->secret, count = b->count;
	struct fs_budget *budget = b->budget;
	if (secret && b->p)
		explicit_bzero(b->p, b->cap);
	if (b->mapped)
		munmap(b->p, b->cap);
	else
		free(b->p);
	budget_give(b, b->cap, 0);
	memset(b, 0, sizeof(*b));
	/* a handle's buffer is used again after a release */
	b->secret = secret;
	b->count = count;
	b->budget = budget;
}

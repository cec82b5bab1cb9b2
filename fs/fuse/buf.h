/*
 * buf.h — the growable text buffer the generated files are rendered into
 * (buf.c), and the budget that bounds what renderings hold at once
 * (SPEC §12).  No FUSE, no model: attr.c, files.c, stats.c and log.c
 * render through it.  A buffer belongs to one thread at a time; the
 * budget is an atomic.
 */
#ifndef IMGFS_BUF_H
#define IMGFS_BUF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* What the renderings of generated files may hold at once (SPEC §12):
 * every buffer given a budget is charged for its capacity beyond
 * FS_BUF_FREE bytes (a small file costs its handle, not the budget) while
 * it grows, and until it is released, and stops growing past it. */
struct fs_budget {
	_Atomic size_t used;
	size_t max;     /* all charged buffers together */
	size_t one_max; /* one buffer */
};
#define FS_BUF_FREE 4096
/* The largest generated file (render.c's budget): an open past it
 * is ENOMEM, so a listing's rendering stops there (attr.c, show_images). */
#define FS_RENDER_ONE_MAX (16u << 20)

struct fs_buf {
	char *p;
	size_t len, cap;
	bool failed; /* an allocation failed: the content is incomplete */
	bool secret; /* holds a secret (a password written): every byte it
	                held is wiped when it grows or is released */
	bool count;  /* counts the length, keeps no byte (a stat's size) */
	bool mapped; /* p is an mmap of cap bytes (large: given back at release) */
	enum { FS_BUF_FITS, FS_BUF_OVER_ALL, FS_BUF_OVER_ONE } over; /* why failed, with a budget */
	struct fs_budget *budget; /* NULL: not charged */
	int err;     /* a model call behind the content failed (-errno): the
	                content is not to be shown (SPEC §12 "nothing silent") */
};
/* Records the first failure (rc < 0) of a model call a show made. */
static inline void fs_buf_error(struct fs_buf *b, int rc)
{
	if (rc < 0 && !b->err)
		b->err = rc;
}
void fs_buf_put(struct fs_buf *b, const void *data, size_t len);
void fs_buf_puts(struct fs_buf *b, const char *s);
void fs_buf_printf(struct fs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A value followed by a newline, or nothing when the value is empty. */
void fs_buf_value(struct fs_buf *b, const char *v);
/* s as a JSON string, quotes included (RFC 8259): '"' and '\\' escaped,
 * control characters (U+0000..U+001F and DEL) as \u00XX, valid UTF-8
 * copied as is.  A byte that does not start a valid UTF-8 sequence
 * (overlong forms, surrogates and code points past U+10FFFF included) is
 * written as \ufffd, so the output is always valid JSON in UTF-8. */
void fs_buf_json_string(struct fs_buf *b, const char *s);
void fs_buf_release(struct fs_buf *b);
/* Gives back the capacity past the content (a rendering about to be held). */
void fs_buf_trim(struct fs_buf *b);
/* What b is charged to its budget now. */
size_t fs_buf_charge(const struct fs_buf *b);

#endif

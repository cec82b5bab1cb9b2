/*
 * buf.c — the growable text buffer generated files are rendered into.
 * An allocation failure marks the buffer failed; callers answer ENOMEM.
 * A secret buffer (what is written to a password file) never leaves a
 * copy behind: growing it copies and wipes the old block (realloc might
 * leave it in freed memory), releasing it wipes it.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

static bool buf_reserve(struct fs_buf *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = b->secret ? malloc(cap) : realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	if (b->secret && b->p) {
		/* realloc could leave the old bytes behind in freed memory */
		memcpy(p, b->p, b->len + 1);
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void fs_buf_put(struct fs_buf *b, const void *data, size_t len)
{
	if (!buf_reserve(b, len))
		return;
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
	bool secret = b->secret;
	if (secret && b->p)
		explicit_bzero(b->p, b->cap);
	free(b->p);
	memset(b, 0, sizeof(*b));
	b->secret = secret; /* a handle's buffer is used again after a release */
}

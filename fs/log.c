/*
 * log.c — the daemon's log (<state>/imgfs.log, and stderr in the
 * foreground) and SPEC §9 refusals: one line naming the operation, the
 * path, the errno and the reason; the same reason goes to the image's
 * `error` file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fs.h"

/* The symbolic name of an errno for the log ("EMFILE"); one the list
 * lacks is written as its number ("E123"), never as a guess. */
const char *fs_errno_name(int err)
{
	static _Thread_local char other[16];
	switch (err < 0 ? -err : err) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case EACCES: return "EACCES";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EDQUOT: return "EDQUOT";
	case ENOMEM: return "ENOMEM";
	case ENODATA: return "ENODATA";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case EREMOTE: return "EREMOTE";
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case EAGAIN: return "EAGAIN";
	case EROFS: return "EROFS";
	case EFBIG: return "EFBIG";
	case ESTALE: return "ESTALE";
	case ENOTSUP: return "ENOTSUP";
	case ENOSYS: return "ENOSYS";
	case ERANGE: return "ERANGE";
	case EBADF: return "EBADF";
	case EINTR: return "EINTR";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case EOVERFLOW: return "EOVERFLOW";
	case ELOOP: return "ELOOP";
	case EMLINK: return "EMLINK";
	case ENOTCONN: return "ENOTCONN";
	case ECANCELED: return "ECANCELED";
	default:
		snprintf(other, sizeof(other), "E%d", err < 0 ? -err : err);
		return other;
	}
}

/* A code point that prints nothing or moves the text a reader sees: C1
 * controls, line and paragraph separators, bidirectional marks,
 * embeddings, overrides and isolates, the byte-order mark. */
static bool invisible(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/* The length of the printable UTF-8 character at s (1 to 4), or 0 when
 * s does not start one (a control, a byte outside a valid sequence, an
 * overlong form, a surrogate, an invisible code point). */
static size_t printable_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n;
	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    invisible(cp))
		return 0;
	return n;
}

size_t fs_escape(char *out, size_t size, const char *in)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	if (!size)
		return 0;
	while (*s) {
		size_t n = printable_len(s);
		char esc[5];
		const char *piece = (const char *)s;
		size_t len = n;
		if (n == 1 && *s == '\\') {
			piece = "\\\\";
			len = 2;
		} else if (n == 0) {
			snprintf(esc, sizeof(esc), "\\x%02x", *s);
			piece = esc;
			len = 4;
			n = 1;
		}
		if (o + len >= size)
			break; /* cut before a whole character, never inside one */
		memcpy(out + o, piece, len);
		o += len;
		s += n;
	}
	out[o] = '\0';
	return o;
}

void fs_log(struct fs_ctx *ctx, const char *fmt, ...)
{
	char raw[1024], line[2048], stamp[21];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* Paths, values and reasons come from callers and servers: no byte of
	 * theirs may end a line, start a forged one or reach a terminal as a
	 * control sequence (§9). */
	fs_escape(line, sizeof(line), raw);
	model_fmt_time(stamp, time(NULL));
	pthread_mutex_lock(&ctx->log_lock);
	if (ctx->log) {
		fprintf(ctx->log, "%s imgfs: %s\n", stamp, line);
		fflush(ctx->log);
	}
	if (ctx->log_stderr)
		fprintf(stderr, "imgfs: %s\n", line);
	pthread_mutex_unlock(&ctx->log_lock);
}

void fs_refuse(struct fs_ctx *ctx, const char *op, const char *path, int err, const char *reason, int64_t image_id)
{
	const char *why = reason && reason[0] ? reason : strerror(err < 0 ? -err : err);
	fs_log(ctx, "%s %s: %s %s", op, path, fs_errno_name(err), why);
	if (image_id)
		model_image_set_error(ctx->m, image_id, why);
}

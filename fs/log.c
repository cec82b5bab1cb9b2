/*
 * log.c — the daemon's log (<state>/imgfs.log, and stderr in the
 * foreground) and SPEC §9 refusals: one line naming the operation, the
 * path, the errno and the reason; the same reason goes to the image's
 * `error` file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
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

/* ---- bounds ------------------------------------------------------------- */

static _Thread_local int64_t caller_uid = -1;

void fs_log_set_caller(int64_t uid)
{
	caller_uid = uid;
}

/* Refusals are logged per (caller, operation) from a bucket of LOG_BURST
 * lines that refills at LOG_RATE lines a second: a person or a script
 * that makes a mistake sees every line of it, a loop of refused calls
 * (12 MB in 3 s from one uid without an account, before this) costs a
 * line a second and one "N similar lines suppressed" when it ends or
 * slows.  A table of slots by hash: a collision evicts the older key,
 * whose count is written then. */
#define LOG_SLOTS 64
#define LOG_BURST 20.0
#define LOG_RATE 1.0

struct log_slot {
	int64_t uid;
	const char *op; /* a string literal of ops.c: compared by address */
	double tokens;
	double last;    /* monotonic seconds of the last refill */
	uint64_t suppressed;
};

static struct log_slot slots[LOG_SLOTS];

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Under log_lock: whether a line of (uid, op) may be written now; *held
 * gets the count of lines of a key whose summary is due (then *held_uid,
 * *held_op name it). */
static bool log_admit(int64_t uid, const char *op, uint64_t *held, int64_t *held_uid, const char **held_op)
{
	uint64_t h = (uint64_t)uid * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)op;
	struct log_slot *s = &slots[(h >> 7) % LOG_SLOTS];
	double now = mono_now();
	*held = 0;
	if (!s->op || s->uid != uid || s->op != op) {
		if (s->op && s->suppressed) {
			*held = s->suppressed, *held_uid = s->uid, *held_op = s->op;
		}
		*s = (struct log_slot){.uid = uid, .op = op, .tokens = LOG_BURST, .last = now};
	}
	s->tokens += (now - s->last) * LOG_RATE;
	if (s->tokens > LOG_BURST)
		s->tokens = LOG_BURST;
	s->last = now;
	if (s->tokens < 1.0) {
		s->suppressed++;
		return false;
	}
	s->tokens -= 1.0;
	if (s->suppressed && !*held) {
		*held = s->suppressed, *held_uid = uid, *held_op = op;
		s->suppressed = 0;
	}
	return true;
}

/* Under log_lock: past log_max bytes, imgfs.log becomes imgfs.log.1 (.1
 * becomes .2, ...; the oldest goes) and a new imgfs.log is opened.  Each
 * rename is atomic: a reader sees the old file or the new one, whole. */
static void log_rotate(struct fs_ctx *ctx)
{
	char from[sizeof(ctx->log_path) + 16], to[sizeof(ctx->log_path) + 16]; /* ".<int>" fits */
	off_t size = ftello(ctx->log);
	if (!ctx->log_path[0] || size < 0 || size < (off_t)ctx->log_max)
		return;
	for (int i = FS_LOG_KEEP - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", ctx->log_path, i);
		snprintf(to, sizeof(to), "%s.%d", ctx->log_path, i + 1);
		rename(from, to); /* a missing one is fine */
	}
	snprintf(to, sizeof(to), "%s.1", ctx->log_path);
	if (rename(ctx->log_path, to) < 0)
		return; /* keep writing where we are */
	FILE *f = fopen(ctx->log_path, "ae");
	if (!f)
		return; /* the old handle writes on into imgfs.log.1 */
	fclose(ctx->log);
	ctx->log = f;
}

static void log_write(struct fs_ctx *ctx, const char *line)
{
	char stamp[21];
	model_fmt_time(stamp, time(NULL));
	if (ctx->log) {
		fprintf(ctx->log, "%s imgfs: %s\n", stamp, line);
		fflush(ctx->log);
		log_rotate(ctx);
	}
	if (ctx->log_stderr)
		fprintf(stderr, "imgfs: %s\n", line);
}

void fs_log(struct fs_ctx *ctx, const char *fmt, ...)
{
	char raw[1024], line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* Paths, values and reasons come from callers and servers: no byte of
	 * theirs may end a line, start a forged one or reach a terminal as a
	 * control sequence (§9). */
	fs_escape(line, sizeof(line), raw);
	pthread_mutex_lock(&ctx->log_lock);
	log_write(ctx, line);
	pthread_mutex_unlock(&ctx->log_lock);
}

void fs_refuse(struct fs_ctx *ctx, const char *op, const char *path, int err, const char *reason, int64_t image_id)
{
	const char *why = reason && reason[0] ? reason : strerror(err < 0 ? -err : err);
	uint64_t held;
	int64_t held_uid = -1;
	const char *held_op = NULL;
	char raw[1024], line[2048];
	pthread_mutex_lock(&ctx->log_lock);
	bool admit = log_admit(caller_uid, op, &held, &held_uid, &held_op);
	if (held) {
		snprintf(raw, sizeof(raw), "%" PRIu64 " similar lines suppressed (%s refused to uid %lld)", held, held_op,
		         (long long)held_uid);
		log_write(ctx, raw);
	}
	if (admit) {
		snprintf(raw, sizeof(raw), "%s %s: %s %s", op, path, fs_errno_name(err), why);
		fs_escape(line, sizeof(line), raw);
		log_write(ctx, line);
	}
	pthread_mutex_unlock(&ctx->log_lock);
	if (image_id)
		model_image_set_error(ctx->m, image_id, why);
}

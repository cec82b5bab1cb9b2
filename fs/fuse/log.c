/*
 * log.c — the daemon's log and SPEC §9 refusals: one line naming the
 * operation, the path, the errno and the reason; the same reason goes to
 * the image's `error` file.
 *
 * A line about what was done through tenants/ (SPEC §16) names both
 * accounts after its usual text: "(actor A, tenant T)" — a change
 * ("<op> <path>: done (actor A, tenant T)", tenants.c) or a refusal
 * ("<op> <path>: <ERRNO> <reason> (actor A, tenant T)", fs_refuse_by); the
 * image's error file gets the reason alone.
 *
 * Where lines go (SPEC §15, -o log=): a file (default <state>/imgfs.log),
 * rotated past ctx->log_max bytes into FILE.1 ... FILE.FS_LOG_KEEP, or
 * syslog (facility daemon, ident "imgfs"; the journal under systemd); and
 * also stderr when the mount runs in the foreground.  A file line is
 * "<UTC time> imgfs: <text>"; syslog stamps its own.  Every line is
 * escaped (fs_escape): one line whatever a caller wrote.
 *
 * Each caller's own recent refusals are also kept here, for /errors (SPEC
 * §9): see "each caller's refusals" below.
 *
 * Who calls it: every part of fs/ (fs_log, fs_refuse), req.c for -o debug
 * (fs_log_debug), main.c at mount and unmount (fs_log_open/close), and
 * whoever handles SIGHUP (fs_log_reopen, after logrotate moved the file).
 *
 * The file keeps one descriptor number for the whole mount: a rotation or
 * a reopen opens the path anew and dup2()s it onto that number, so
 * fs_log_reopen needs no lock and is safe in a signal handler, and no thread
 * can ever write into a descriptor that was closed and given to something
 * else.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "common.h"
#include "fs.h"
#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "log.h"

int fs_reply_errno(int err)
{
	err = err < 0 ? -err : err;
	return err == ENOSYS ? EPERM : err;
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
 * overlong form, a surrogate, an invisible code point).  Decoded by the
 * model's one UTF-8 decoder. */
static size_t printable_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n;
	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	/* below U+00A0 and not printable ASCII: C0, DEL, C1 */
	if (!(n = model_utf8_decode((const char *)s, &cp)) || cp < 0xa0 || invisible(cp))
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
/* The account the request acts as (fs_caller_get), -1 until it is known. */
static _Thread_local int64_t caller_account = -1;
static _Thread_local int64_t caller_as_uid = -1;

void fs_log_set_caller(int64_t uid)
{
	caller_uid = uid;
	caller_account = caller_as_uid = -1;
}

void fs_log_set_account(int64_t account_id, int64_t uid)
{
	caller_account = account_id;
	caller_as_uid = uid;
}

/* Refusals are logged per (caller, operation) from a bucket of LOG_BURST
 * lines that refills at LOG_RATE lines a second: a person or a script
 * that makes a mistake sees every line of it, a loop of refused calls
 * (megabytes a second from one uid without an account, unlimited) costs a
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

static struct log_slot *log_slots(struct fs_refusals *rf); /* below, with the room */

/* Under ctx->log_lock: whether a line of (uid, op) may be written now; *held
 * gets the count of lines of a key whose summary is due (then *held_uid,
 * *held_op name it).  A context without the room (a unit test's, a CLI's)
 * writes every line. */
static bool log_admit(struct fs_ctx *ctx, int64_t uid, const char *op, uint64_t *held, int64_t *held_uid,
                      const char **held_op)
{
	IMGFS_ASSERT_HELD(&ctx->log_lock);
	*held = 0;
	if (!ctx->refusals)
		return true;
	uint64_t h = (uint64_t)uid * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)op;
	struct log_slot *s = &log_slots(ctx->refusals)[(h >> 7) % LOG_SLOTS];
	double now = (double)fs_mono_ns() / 1e9;
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

/* ---- each caller's refusals (/errors) -------------------------------------- */

/* A tenant of a multi-user mount gets the errno of a refused call and
 * nothing more, the reason being in a log only root reads (SPEC §9).
 * /errors shows each caller its own newest refusals, as the log has them,
 * and nobody else's.
 *
 * A caller is the pair (account, uid) a request acts as (fs_caller_get:
 * in a multi-user mount the uid's account, 0 for a uid without one; in a
 * single-user mount the mount's account and user): a line is shown to a
 * reader whose pair is the same, so neither another account nor an
 * account later given the same uid ever sees it.
 *
 * In memory, not the database: a refusal must not cost a write
 * transaction (a read-only mount refuses every change, a loop of refused
 * calls would become a write load every tenant shares), and the refusals
 * worth recording include those the database itself caused.  The lines
 * are what the processes using this mount were told, gone at unmount
 * like the log's rate limit; the log keeps every line.
 *
 * Bounded per caller and in all: the newest lines that fit in ERR_BYTES
 * (each cut at ERR_LINE bytes, so at least four are kept), for at most
 * ERR_CALLERS callers, the caller whose newest refusal is oldest giving
 * its place to a new one: at most 1 MiB a mount, in zeroed pages that are
 * only touched where callers were refused.
 *
 * The slots and the rings are one room of the mount (struct fs_refusals at
 * ctx->refusals, made and freed with it by rooms.c): one mount's callers
 * neither evict another's lines nor spend another's rate limit. */
#define ERR_CALLERS FS_ERR_CALLERS
#define ERR_BYTES 4096
#define ERR_LINE 1024

struct err_ring {
	bool used;        /* false: free */
	int64_t account, uid;
	uint64_t seq;     /* of its newest line: the oldest is evicted first */
	int64_t last_ns;  /* the time of its newest line (the file's mtime) */
	size_t len;       /* whole lines, each ending in a newline */
	char text[ERR_BYTES];
};

struct fs_refusals {
	struct log_slot slots[LOG_SLOTS]; /* under ctx->log_lock */
	pthread_mutex_t err_lock;         /* the rings and seq */
	struct err_ring rings[ERR_CALLERS];
	uint64_t seq;
};
IMGFS_LOCK_LEVEL(err_lock, 61); /* a leaf, taken after ctx->log_lock is let go */

static struct log_slot *log_slots(struct fs_refusals *rf)
{
	return rf->slots;
}

int fs_refusals_new(struct fs_refusals **out)
{
	struct fs_refusals *rf = calloc(1, sizeof(*rf));
	if (!rf)
		return -ENOMEM;
	pthread_mutex_init(&rf->err_lock, NULL);
	*out = rf;
	return 0;
}

void fs_refusals_free(struct fs_refusals *rf)
{
	if (!rf)
		return;
	pthread_mutex_destroy(&rf->err_lock);
	free(rf);
}

/* Under rf->err_lock: the ring of (account, uid), NULL if none. */
static struct err_ring *err_find(struct fs_refusals *rf, int64_t account, int64_t uid)
{
	IMGFS_ASSERT_HELD(&rf->err_lock);
	for (size_t i = 0; i < ERR_CALLERS; i++)
		if (rf->rings[i].used && rf->rings[i].account == account && rf->rings[i].uid == uid)
			return &rf->rings[i];
	return NULL;
}

/* The caller this thread answers, as /errors keys it; false outside a
 * request (a background task's failure is no caller's refusal). */
static bool err_caller(struct fs_ctx *ctx, int64_t *account, int64_t *uid)
{
	if (caller_uid < 0)
		return false;
	if (caller_account >= 0) {
		*account = caller_account;
		*uid = caller_as_uid;
	} else if (!ctx->multiuser) {
		*account = ctx->account_id;
		*uid = ctx->uid;
	} else {
		/* Not resolved by this request (an upload's write goes straight
		 * to its disk): as fs_caller_get would. */
		struct model_account a;
		*account = ctx->m && model_account_by_uid(ctx->m, (uid_t)caller_uid, &a) == 0 ? a.id : 0;
		*uid = caller_uid;
	}
	return true;
}

/* Appends line (escaped, no newline) to the caller's ring. */
static void err_record(struct fs_ctx *ctx, const char *line)
{
	int64_t account, uid, now = model_now_ns();
	char stamp[21], text[ERR_LINE];
	struct fs_refusals *rf = ctx->refusals;
	if (!rf || !err_caller(ctx, &account, &uid))
		return;
	model_fmt_time(stamp, now / 1000000000);
	/* The escaped line is printable UTF-8: fs_escape cuts it before a
	 * whole character, never inside one. */
	size_t head = (size_t)snprintf(text, sizeof(text), "%s ", stamp);
	size_t n = head + fs_escape(text + head, sizeof(text) - head - 1, line);
	text[n++] = '\n';
	IMGFS_LOCK(&rf->err_lock, err_lock);
	struct err_ring *r = err_find(rf, account, uid);
	if (!r) {
		r = &rf->rings[0];
		for (size_t i = 0; i < ERR_CALLERS && r->used; i++)
			if (!rf->rings[i].used || rf->rings[i].seq < r->seq)
				r = &rf->rings[i];
		r->used = true;
		r->account = account;
		r->uid = uid;
		r->len = 0;
	}
	if (r->len + n > sizeof(r->text)) {
		/* Drop the oldest whole lines until this one fits. */
		size_t drop = r->len + n - sizeof(r->text);
		char *nl = memchr(r->text + drop - 1, '\n', r->len - drop + 1);
		drop = nl ? (size_t)(nl - r->text) + 1 : r->len;
		memmove(r->text, r->text + drop, r->len - drop);
		r->len -= drop;
	}
	memcpy(r->text + r->len, text, n);
	r->len += n;
	r->seq = ++rf->seq;
	r->last_ns = now;
	IMGFS_UNLOCK(&rf->err_lock, err_lock);
}

int64_t fs_show_errors(const struct fs_ctx *ctx, const struct fs_caller *c, struct fs_buf *out)
{
	int64_t last = 0;
	struct fs_refusals *rf = ctx->refusals;
	if (!rf)
		return 0;
	IMGFS_LOCK(&rf->err_lock, err_lock);
	const struct err_ring *r = err_find(rf, c->account_id, c->uid);
	if (r) {
		fs_buf_put(out, r->text, r->len);
		last = r->last_ns;
	}
	IMGFS_UNLOCK(&rf->err_lock, err_lock);
	return last;
}

/* ---- where lines go ------------------------------------------------------ */

/* The one mount whose log a signal handler may reopen (fs_log_reopen takes
 * no argument: a handler reaches nothing else).  Set by fs_log_open,
 * cleared by fs_log_close; read only as a whole pointer.  The one writable
 * global of fs/fuse (scripts/house-check.allow): a signal handler is given
 * a signal number and nothing else, so what it reaches must be at file
 * scope; every other piece of the mount's state is a room of the context
 * (rooms.h). */
static struct fs_ctx *volatile reopen_ctx;

/* Opens ctx->log_path anew (created 0640 if missing, appended to) onto
 * the log's descriptor.  Only open, dup2 and close: async-signal-safe. */
static int log_reattach(struct fs_ctx *ctx)
{
	int fd = open(ctx->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -errno;
	int rc = dup2(fd, ctx->log_fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int fs_log_open(struct fs_ctx *ctx, const char *where)
{
	ctx->log = NULL;
	ctx->log_fd = -1;
	ctx->log_syslog = false;
	if (strcmp(where, "syslog") == 0) {
		ctx->log_path[0] = '\0';
		ctx->log_syslog = true;
		openlog("imgfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		return 0;
	}
	if ((size_t)snprintf(ctx->log_path, sizeof(ctx->log_path), "%s", where) >= sizeof(ctx->log_path)) {
		ctx->log_path[0] = '\0';
		return -ENAMETOOLONG;
	}
	int fd = open(ctx->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -errno;
	if (!(ctx->log = fdopen(fd, "a"))) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	ctx->log_fd = fd;
	reopen_ctx = ctx;
	return 0;
}

void fs_log_close(struct fs_ctx *ctx)
{
	if (reopen_ctx == ctx)
		reopen_ctx = NULL;
	if (ctx->log)
		fclose(ctx->log);
	ctx->log = NULL;
	ctx->log_fd = -1;
	if (ctx->log_syslog)
		closelog();
	ctx->log_syslog = false;
}

void fs_log_reopen(void)
{
	struct fs_ctx *ctx = reopen_ctx;
	int saved = errno; /* a signal handler must leave errno as it was */
	if (ctx && ctx->log_fd >= 0 && ctx->log_path[0])
		log_reattach(ctx); /* a failure keeps the old file: better than none */
	errno = saved;
}

/* Under log_lock: past log_max bytes (0: never, logrotate's job), the
 * file becomes FILE.1 (.1 becomes .2, ...; the oldest goes) and a new
 * FILE is opened.  Each rename is atomic: a reader sees the old file or
 * the new one, whole. */
static void log_rotate(struct fs_ctx *ctx)
{
	char from[sizeof(ctx->log_path) + 16], to[sizeof(ctx->log_path) + 16]; /* ".<int>" fits */
	struct stat st;
	IMGFS_ASSERT_HELD(&ctx->log_lock);
	if (!ctx->log_path[0] || ctx->log_max <= 0 || fstat(ctx->log_fd, &st) < 0 || st.st_size < ctx->log_max)
		return;
	for (int i = FS_LOG_KEEP - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", ctx->log_path, i);
		snprintf(to, sizeof(to), "%s.%d", ctx->log_path, i + 1);
		rename(from, to); /* a missing one is fine */
	}
	snprintf(to, sizeof(to), "%s.1", ctx->log_path);
	if (rename(ctx->log_path, to) < 0)
		return; /* keep writing where we are */
	log_reattach(ctx); /* on failure the descriptor writes on into FILE.1 */
}

/* Under log_lock. */
static void log_write(struct fs_ctx *ctx, int prio, const char *line)
{
	char stamp[21];
	IMGFS_ASSERT_HELD(&ctx->log_lock);
	if (ctx->log) {
		model_fmt_time(stamp, time(NULL));
		fprintf(ctx->log, "%s imgfs: %s\n", stamp, line);
		fflush(ctx->log);
		log_rotate(ctx);
	}
	if (ctx->log_syslog)
		syslog(prio, "%s", line);
	if (ctx->log_stderr)
		fprintf(stderr, "imgfs: %s\n", line);
}

static void log_vline(struct fs_ctx *ctx, int prio, const char *fmt, va_list ap)
{
	char raw[1024], line[2048];
	vsnprintf(raw, sizeof(raw), fmt, ap);
	/* Paths, values and reasons come from callers and servers: no byte of
	 * theirs may end a line, start a forged one or reach a terminal as a
	 * control sequence (§9). */
	fs_escape(line, sizeof(line), raw);
	IMGFS_LOCK(&ctx->log_lock, fs_ctx_log_lock);
	log_write(ctx, prio, line);
	IMGFS_UNLOCK(&ctx->log_lock, fs_ctx_log_lock);
}

void fs_log(struct fs_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(ctx, LOG_INFO, fmt, ap);
	va_end(ap);
}

void fs_log_debug(struct fs_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(ctx, LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void fs_refuse(struct fs_ctx *ctx, const char *op, const char *path, int err, const char *reason, int64_t image_id)
{
	fs_refuse_by(ctx, op, path, err, reason, image_id, NULL);
}

void fs_refuse_by(struct fs_ctx *ctx, const char *op, const char *path, int err, const char *reason, int64_t image_id,
                  const char *who)
{
	const char *why = reason && reason[0] ? reason : strerror(err < 0 ? -err : err);
	uint64_t held;
	int64_t held_uid = -1;
	const char *held_op = NULL;
	char raw[1024], line[2048];
	IMGFS_LOCK(&ctx->log_lock, fs_ctx_log_lock);
	bool admit = log_admit(ctx, caller_uid, op, &held, &held_uid, &held_op);
	if (held) {
		snprintf(raw, sizeof(raw), "%" PRIu64 " similar lines suppressed (%s refused to uid %lld)", held, held_op,
		         (long long)held_uid);
		log_write(ctx, LOG_NOTICE, raw);
	}
	snprintf(raw, sizeof(raw), "%s %s: %s %s%s%s", op, path, fs_errno_name(fs_reply_errno(err)), why,
	         who ? " " : "", who ? who : "");
	if (admit) {
		fs_escape(line, sizeof(line), raw);
		log_write(ctx, LOG_NOTICE, line);
	}
	IMGFS_UNLOCK(&ctx->log_lock, fs_ctx_log_lock);
	/* The caller's own copy, every line (the log's rate limit is about
	 * the log's readers, the ring bounds itself). */
	err_record(ctx, raw);
	if (image_id)
		model_image_set_error(ctx->m, image_id, why);
}

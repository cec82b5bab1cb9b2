/*
 * log.c — the log of `imgfs serve`: one line per request (serve.c), and the
 * noise of a server facing the Internet (connections refused at the
 * front, libmicrohttpd's own messages), to stderr and --log FILE.
 *
 * Who calls it: every file of fs/serve/, from any thread (one mutex).
 *
 * Noise is rate-limited per kind (SPEC §9): a client that opens a thousand
 * connections a second past its cap must not write a thousand lines a
 * second.  The first event of a kind is logged; later ones within
 * SERVE_LOG_QUIET_S are counted, and the next line of that kind says how
 * many were left out — or, when none comes, a line of their count once the
 * quiet time is over (serve_noise_flush: the front calls it every second).
 * Request lines are never limited: each download is one line (SPEC §14),
 * and their number is bounded by what the server serves, not by what a
 * client sends.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "imgfs_lock.h"
#include "include/core.h" /* model_mono_ns */
#include "serve.h"

int64_t serve_now_ms(void)
{
	return model_mono_ns() / 1000000;
}

int serve_log_open(struct serve_log *l, const char *path)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->path = path;
	if (path && !(l->f = fopen(path, "ae")))
		return -errno;
	return 0;
}

void serve_log_close(struct serve_log *l)
{
	if (l->f)
		fclose(l->f);
	l->f = NULL;
	pthread_mutex_destroy(&l->lock);
}

void serve_log_reopen(struct serve_log *l)
{
	IMGFS_LOCK(&l->lock, serve_log_lock);
	if (l->f && l->path) { /* logrotate moved the file: a new one at the name */
		FILE *f = fopen(l->path, "ae");
		if (f) {
			fclose(l->f);
			l->f = f;
		}
	}
	IMGFS_UNLOCK(&l->lock, serve_log_lock);
}

/* Writes one line; the lock is held. */
static void put(struct serve_log *l, const char *line)
{
	IMGFS_ASSERT_HELD(&l->lock);
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s imgfs serve: %s\n", stamp, line);
	if (l->f) {
		fprintf(l->f, "%s imgfs serve: %s\n", stamp, line);
		fflush(l->f);
	}
}

void serve_logf(struct serve_log *l, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	IMGFS_LOCK(&l->lock, serve_log_lock);
	put(l, line);
	IMGFS_UNLOCK(&l->lock, serve_log_lock);
}

void serve_noise_flush(struct serve_log *l)
{
	static const char *const what[SERVE_NOISE_COUNT] = {
		[SERVE_NOISE_CAP] = "refused: a client's connection cap",
		[SERVE_NOISE_GARBAGE] = "refused: not a request",
		[SERVE_NOISE_SLOW] = "closed: a request not complete in time",
		[SERVE_NOISE_IDLE] = "closed: nothing sent in time",
		[SERVE_NOISE_MHD] = "libmicrohttpd",
		[SERVE_NOISE_EVICT] = "closed: the slowest, to make room",
		[SERVE_NOISE_READER] = "closed: a client below the minimum rate",
		[SERVE_NOISE_FULL] = "refused: the server full, from an address that holds more",
	};
	char line[128];
	int64_t now = serve_now_ms();
	IMGFS_LOCK(&l->lock, serve_log_lock);
	for (int k = 0; k < SERVE_NOISE_COUNT; k++) {
		if (l->suppressed[k] && now - l->last_ms[k] >= SERVE_LOG_QUIET_S * 1000) {
			snprintf(line, sizeof(line), "%llu similar suppressed (%s)", (unsigned long long)l->suppressed[k],
			         what[k]);
			put(l, line);
			l->suppressed[k] = 0;
			l->last_ms[k] = now;
		}
	}
	IMGFS_UNLOCK(&l->lock, serve_log_lock);
}

void serve_noisef(struct serve_log *l, enum serve_noise kind, uint64_t count, const char *fmt, ...)
{
	char line[1024], more[64] = "";
	int64_t now = serve_now_ms();
	va_list ap;
	if (count == 0 || kind >= SERVE_NOISE_COUNT)
		return;
	IMGFS_LOCK(&l->lock, serve_log_lock);
	l->total[kind] += count;
	if (l->last_ms[kind] && now - l->last_ms[kind] < SERVE_LOG_QUIET_S * 1000) {
		l->suppressed[kind] += count;
		IMGFS_UNLOCK(&l->lock, serve_log_lock);
		return;
	}
	l->last_ms[kind] = now;
	if (l->suppressed[kind])
		snprintf(more, sizeof(more), " (%llu similar suppressed)", (unsigned long long)l->suppressed[kind]);
	l->suppressed[kind] = 0;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s", more);
	put(l, line);
	IMGFS_UNLOCK(&l->lock, serve_log_lock);
}

void serve_noise_totals(struct serve_log *l, uint64_t out[SERVE_NOISE_COUNT])
{
	IMGFS_LOCK(&l->lock, serve_log_lock);
	memcpy(out, l->total, sizeof(l->total));
	IMGFS_UNLOCK(&l->lock, serve_log_lock);
}

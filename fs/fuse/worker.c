/*
 * worker.c — the mount's background task threads: they run what requests
 * queued (every task kind of model/task/: captures, conversions, copies,
 * uploads, URL imports, destroys, checksums) and the model's housekeeping
 * (recycle-bin expiry).
 *
 * Who calls it: main.c starts them once the daemon has forked and the
 * session is mounted (SQLite handles and threads do not survive fork) and
 * stops them after the session loop ends, before the model is closed;
 * ops.c/attr.c kick them after a request queued a task.
 *
 * Each thread loops: model_task_work() claims and runs one task (the
 * claim is a guarded UPDATE, so the threads of this mount and those of any
 * other mount of the same state never run one task twice); when nothing
 * was runnable it sleeps until kicked or WORK_POLL_MS passed — the poll is
 * what picks up tasks queued by another process, and interrupted tasks of
 * a runner that died.  Worker 0 also runs the housekeeping at start and
 * every HOUSEKEEPING_S seconds: a cheap query, kept frequent so that an
 * admin's short retention period takes effect promptly.
 *
 * Stopping: ctx->stopping is polled by model_task_work between chunks; a
 * task stopped that way goes back to the queue and the next mount (or
 * another running one) resumes it where its last finished device left off.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirs.h"
#include "fs.h"
#include "imgfs_lock.h"
#include "log.h"
#include "watch.h"

#define WORK_POLL_MS 1000
#define HOUSEKEEPING_S 5

struct fs_worker {
	struct fs_ctx *ctx;
	pthread_t thread;
	bool housekeeper;
};

static bool stopping(struct fs_ctx *ctx)
{
	return atomic_load_explicit(&ctx->stopping, memory_order_acquire);
}

static uint64_t kicks_now(struct fs_ctx *ctx)
{
	uint64_t k;
	IMGFS_LOCK(&ctx->work_lock, fs_ctx_work_lock);
	k = ctx->work_kicks;
	IMGFS_UNLOCK(&ctx->work_lock, fs_ctx_work_lock);
	return k;
}

/* Sleeps until `until` unless a kick arrived after `seen` was read (a kick
 * during the last model_task_work is not lost) or the mount is stopping. */
static void idle_wait(struct fs_ctx *ctx, uint64_t seen, struct timespec until)
{
	IMGFS_LOCK(&ctx->work_lock, fs_ctx_work_lock);
	while (ctx->work_kicks == seen && !stopping(ctx))
		if (IMGFS_COND_TIMEDWAIT(&ctx->work_cond, &ctx->work_lock, &until, fs_ctx_work_lock) == ETIMEDOUT)
			break;
	IMGFS_UNLOCK(&ctx->work_lock, fs_ctx_work_lock);
}

static void housekeeping(struct fs_ctx *ctx)
{
	int rc = model_task_housekeeping(ctx->m, (int64_t)time(NULL));
	if (rc > 0)
		fs_log(ctx, "recycle bin: destroyed %d image%s past the retention period", rc, rc == 1 ? "" : "s");
	else if (rc < 0)
		fs_log(ctx, "housekeeping failed: %s", strerror(-rc));
}

static void *worker_main(void *arg)
{
	struct fs_worker *w = arg;
	struct fs_ctx *ctx = w->ctx;
	int64_t next_hk = fs_mono_ns(), until;
	int last_err = 0;

	while (!stopping(ctx)) {
		if (w->housekeeper && fs_mono_ns() >= next_hk) {
			housekeeping(ctx);
			next_hk = fs_mono_ns() + HOUSEKEEPING_S * 1000000000LL;
		}
		uint64_t seen = kicks_now(ctx);
		int rc = model_task_work(ctx->m, &ctx->stopping);
		if (rc > 0)
			continue; /* there may be more */
		/* A database error repeats every poll while it lasts: log it once. */
		if (rc < 0 && rc != last_err)
			fs_log(ctx, "background tasks: %s (retrying every %d ms)", strerror(-rc), WORK_POLL_MS);
		last_err = rc;
		until = fs_mono_ns() + WORK_POLL_MS * 1000000LL;
		if (w->housekeeper && next_hk < until)
			until = next_hk;
		idle_wait(ctx, seen, model_mono_timespec(until));
	}
	return NULL;
}

static void worker_log(void *arg, const char *line)
{
	fs_log(arg, "%s", line);
}

int fs_workers_start(struct fs_ctx *ctx, unsigned n)
{
	pthread_condattr_t ca;
	int rc;

	/* What tasks report (a finished copy's counts) and what the blob
	 * stores report (a chunk that fails verification, a RADOS cluster
	 * that does not answer) go to the log, with or without workers. */
	model_set_log(ctx->m, worker_log, ctx);
	if (n == 0)
		return 0;
	model_set_workers(ctx->m, n);
	if (!(ctx->workers = calloc(n, sizeof(*ctx->workers))))
		return -ENOMEM;
	pthread_mutex_init(&ctx->work_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the waits use monotonic deadlines */
	pthread_cond_init(&ctx->work_cond, &ca);
	pthread_condattr_destroy(&ca);
	ctx->work_kicks = 0;
	for (unsigned i = 0; i < n; i++) {
		struct fs_worker *w = &ctx->workers[i];
		w->ctx = ctx;
		w->housekeeper = i == 0;
		if ((rc = pthread_create(&w->thread, NULL, worker_main, w)) != 0)
			return -rc; /* nworkers counts the running ones, for stop */
		ctx->nworkers = i + 1;
	}
	return 0;
}

void fs_workers_stop(struct fs_ctx *ctx)
{
	atomic_store_explicit(&ctx->stopping, true, memory_order_release);
	/* After the flag: an inspection whose helper is ended now sees the
	 * stop (its task goes back to the queue), never a failed run. */
	fs_inside_stopping(ctx);
	if (!ctx->workers)
		return;
	IMGFS_LOCK(&ctx->work_lock, fs_ctx_work_lock);
	ctx->work_kicks++;
	pthread_cond_broadcast(&ctx->work_cond);
	IMGFS_UNLOCK(&ctx->work_lock, fs_ctx_work_lock);
	for (unsigned i = 0; i < ctx->nworkers; i++)
		pthread_join(ctx->workers[i].thread, NULL);
	pthread_cond_destroy(&ctx->work_cond);
	pthread_mutex_destroy(&ctx->work_lock);
	free(ctx->workers);
	ctx->workers = NULL;
	ctx->nworkers = 0;
}

void fs_workers_kick(struct fs_ctx *ctx)
{
	if (!ctx->workers)
		return; /* another mount's workers find it at their next poll */
	IMGFS_LOCK(&ctx->work_lock, fs_ctx_work_lock);
	ctx->work_kicks++;
	pthread_cond_broadcast(&ctx->work_cond);
	IMGFS_UNLOCK(&ctx->work_lock, fs_ctx_work_lock);
}

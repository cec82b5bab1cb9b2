/*
 * workers.c — the task runners `imgfs serve --glance` brings (SPEC §19):
 * the API's uploads and imports are sealed and fetched by a runner, and
 * a server of the API may run without a mount of its state, so it runs
 * tasks as a mount's workers do (fs/fuse/worker.c): each thread claims and
 * runs one task (model_task_work: a guarded UPDATE, so no task runs twice
 * across this server and every mount), then sleeps until kicked (a PUT
 * closed, an import queued) or WORK_POLL_MS passed.  The first thread
 * also does the housekeeping (the recycle bin's expiry, uploads of dead
 * processes reaped) every HOUSEKEEPING_S, and keeps this host's lease
 * (SPEC §13) as a mount's watcher does.
 *
 * Who calls it: api.c (glance_new, glance_free, glance_kick).  Stopping:
 * a task stopped between its chunks goes back to the queue, as at an
 * unmount.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "glance.h"
#include "serve.h"

#define WORK_POLL_MS 1000
#define HOUSEKEEPING_S 5

struct glance_workers {
	model *m;
	struct serve_log *log;
	pthread_mutex_t lock; /* guards kicks; nothing else is taken while held */
	pthread_cond_t cond;
	uint64_t kicks;
	atomic_bool stop;
	unsigned n;
	pthread_t threads[];
};
IMGFS_LOCK_LEVEL(glance_workers_lock, 58); /* a leaf */

struct worker_arg {
	glance_workers *w;
	bool housekeeper;
};

static void *worker_run(void *arg)
{
	struct worker_arg *wa = arg;
	glance_workers *w = wa->w;
	bool hk = wa->housekeeper;
	int64_t next_hk = 0, renew_every = model_lease(w->m) / 3 * 1000000000LL, next_renew = 0;
	free(wa);
	while (!atomic_load(&w->stop)) {
		if (hk && model_mono_ns() >= next_hk) {
			int rc = model_task_housekeeping(w->m, (int64_t)time(NULL));
			if (rc < 0)
				serve_logf(w->log, "housekeeping failed: %s", strerror(-rc));
			next_hk = model_mono_ns() + HOUSEKEEPING_S * 1000000000LL;
		}
		if (hk && model_mono_ns() >= next_renew) {
			model_host_renew(w->m);
			next_renew = model_mono_ns() + (renew_every > 0 ? renew_every : 1000000000LL);
		}
		IMGFS_LOCK(&w->lock, glance_workers_lock);
		uint64_t seen = w->kicks;
		IMGFS_UNLOCK(&w->lock, glance_workers_lock);
		int rc = model_task_work(w->m, &w->stop);
		if (rc > 0)
			continue;
		struct timespec until = model_mono_timespec(model_mono_ns() + WORK_POLL_MS * 1000000LL);
		IMGFS_LOCK(&w->lock, glance_workers_lock);
		while (w->kicks == seen && !atomic_load(&w->stop))
			if (IMGFS_COND_TIMEDWAIT(&w->cond, &w->lock, &until, glance_workers_lock) == ETIMEDOUT)
				break;
		IMGFS_UNLOCK(&w->lock, glance_workers_lock);
	}
	return NULL;
}

static void worker_log(void *arg, const char *line)
{
	serve_logf(arg, "%s", line);
}

int glance_workers_start(glance_workers **out, model *m, unsigned n, struct serve_log *log)
{
	pthread_condattr_t ca;
	glance_workers *w = calloc(1, sizeof(*w) + n * sizeof(pthread_t));
	if (!w)
		return -ENOMEM;
	w->m = m;
	w->log = log;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	model_set_log(m, worker_log, log);
	model_set_workers(m, n);
	model_host_register(m); /* its lease: its uploads are this host's (SPEC §13) */
	for (; w->n < n; w->n++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (wa)
			*wa = (struct worker_arg){w, w->n == 0};
		if (!wa || pthread_create(&w->threads[w->n], NULL, worker_run, wa) != 0) {
			free(wa);
			glance_workers_stop(w);
			return -EAGAIN;
		}
	}
	*out = w;
	return 0;
}

void glance_workers_kick(glance_workers *w)
{
	if (!w)
		return;
	IMGFS_LOCK(&w->lock, glance_workers_lock);
	w->kicks++;
	pthread_cond_broadcast(&w->cond);
	IMGFS_UNLOCK(&w->lock, glance_workers_lock);
}

void glance_workers_stop(glance_workers *w)
{
	if (!w)
		return;
	IMGFS_LOCK(&w->lock, glance_workers_lock);
	atomic_store(&w->stop, true);
	pthread_cond_broadcast(&w->cond);
	IMGFS_UNLOCK(&w->lock, glance_workers_lock);
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

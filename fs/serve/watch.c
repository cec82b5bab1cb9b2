/*
 * watch.c — transfers under way, and the watcher that ends those whose
 * link ended (SPEC §14): a revoke, the image deleted (to the recycle bin),
 * destroyed, or gone out of private/ or iso/ stops every download of it
 * within a second — the client sees a short transfer (fewer bytes than
 * Content-Length, the connection reset) — not only the requests after it.
 *
 * Who calls it: serve.c registers a response with a body while it runs
 * (serve_watch_add / _remove) and reads whether it was stopped; the
 * watcher thread here does the rest.
 *
 * How it learns: the way a mount's watcher does (fs/fuse/watch.c), through the
 * model's change log, so a server on another host (`--db`) learns as fast
 * as one beside the mount: model_changes_wait (SQLite: a look at the
 * database's version every 200 ms; PostgreSQL: a notification), then the
 * changes since the last one seen (one statement per commit anywhere, for
 * all transfers).  Every change logs the image it touched; a transfer of an
 * image that changed is marked dirty and checked again: its link resolved
 * as of the moment the transfer began (an expiry after that does not end
 * it: the project's choice, docs/reference.md §14) and its image read — two
 * indexed statements, once per change of that image, never per block and
 * never by the clock.  A transfer's log line says how many checks it cost.
 *
 * The race with a request being answered: a change committed after the
 * request's own checks read the database is seen by the watcher after that
 * too; either the watcher marks the transfers after the request registered
 * (and finds it), or it finished marking before — then the request sees
 * the generation it read before its checks moved on, and registers dirty.
 * Both happen under one lock.
 *
 * Stopping: the transfer is marked (the body callback reads the mark and
 * sends nothing more) and its connection shut down (conns.c: reads and
 * writes, and a reset at the close, so what is queued is not sent).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imgfs_lock.h"
#include "include/changes.h"
#include "include/core.h"
#include "include/images.h"
#include "include/links.h"
#include "serve.h"
#include "serve_conns.h"

#define WATCH_WAIT_MS 250  /* one wait for a commit: the longest a stop waits for the thread */
#define WATCH_IDS 64       /* image ids remembered per batch of changes; more: every transfer */

struct serve_watch {
	model *m;
	serve_conns *t;
	struct serve_log *log;
	pthread_mutex_t lock;
	struct serve_xfer *head; /* the registered transfers */
	uint64_t gen, ids;
	int64_t seq;             /* the last change seen */
	pthread_t thread;
	atomic_bool stopping;
	bool running;
};
IMGFS_LOCK_LEVEL(serve_watch_lock, 6); /* the transfers: the connection table and the log are taken under it */

uint64_t serve_watch_gen(serve_watch *w)
{
	IMGFS_LOCK(&w->lock, serve_watch_lock);
	uint64_t g = w->gen;
	IMGFS_UNLOCK(&w->lock, serve_watch_lock);
	return g;
}

void serve_watch_add(serve_watch *w, struct serve_xfer *x, uint64_t gen)
{
	IMGFS_LOCK(&w->lock, serve_watch_lock);
	x->id = ++w->ids;
	x->dirty = gen != w->gen; /* changes were marked while the request was checked */
	x->prev = NULL;
	x->next = w->head;
	if (w->head)
		w->head->prev = x;
	w->head = x;
	IMGFS_UNLOCK(&w->lock, serve_watch_lock);
}

void serve_watch_remove(serve_watch *w, struct serve_xfer *x)
{
	IMGFS_LOCK(&w->lock, serve_watch_lock);
	if (x->prev)
		x->prev->next = x->next;
	else if (w->head == x)
		w->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	IMGFS_UNLOCK(&w->lock, serve_watch_lock);
}

/* ---- checking one transfer ------------------------------------------------------ */

/* Why a transfer of token, begun at `began`, must end; NULL when it may go
 * on, or when the database cannot tell now (a transfer is not cut for the
 * database's sake). */
static const char *ended(model *m, const char *token, int64_t image_id, int64_t began)
{
	struct model_link l;
	struct model_image img;
	int rc = model_link_resolve(m, token, began, &l);
	int irc = model_image_get(m, image_id, &img);
	if (irc == -ENOENT)
		return "the image was destroyed";
	if (irc < 0 || (rc < 0 && rc != -ENOENT && rc != -EKEYEXPIRED))
		return NULL;
	if (img.folder == MODEL_FOLDER_RECYCLE)
		return "the image was deleted";
	if (img.folder != MODEL_FOLDER_PRIVATE && img.folder != MODEL_FOLDER_ISO)
		return "the image left private/ and iso/";
	if (img.status != MODEL_IMG_AVAILABLE)
		return "the image is no longer available";
	if (rc == -ENOENT)
		return "the link was revoked";
	return NULL;
}

/* Checks the dirty transfers, one at a time, without the lock held over
 * the database. */
static void check_dirty(serve_watch *w)
{
	for (;;) {
		char token[sizeof(((struct serve_xfer *)0)->token)];
		int64_t image_id = 0, began = 0;
		uint64_t id = 0;
		IMGFS_LOCK(&w->lock, serve_watch_lock);
		for (struct serve_xfer *x = w->head; x; x = x->next) {
			if (x->dirty && !x->stopped) {
				x->dirty = false;
				x->checks++;
				id = x->id;
				image_id = x->image_id;
				began = x->began;
				memcpy(token, x->token, sizeof(token));
				break;
			}
		}
		IMGFS_UNLOCK(&w->lock, serve_watch_lock);
		if (!id)
			return;
		const char *why = ended(w->m, token, image_id, began);
		if (!why)
			continue;
		IMGFS_LOCK(&w->lock, serve_watch_lock);
		for (struct serve_xfer *x = w->head; x; x = x->next) {
			if (x->id == id) {
				__atomic_store_n(&x->stopped, why, __ATOMIC_RELEASE);
				serve_conns_shut(w->t, x->conn, x->conn_gen);
				break;
			}
		}
		IMGFS_UNLOCK(&w->lock, serve_watch_lock);
	}
}

/* ---- the thread -------------------------------------------------------------------- */

struct batch {
	int64_t ids[WATCH_IDS];
	unsigned n;
	bool all;
};

static int note_change(void *arg, const struct model_change *c)
{
	struct batch *b = arg;
	if (c->kind != MODEL_CHANGE_IMAGE || b->all)
		return 0;
	for (unsigned i = 0; i < b->n; i++)
		if (b->ids[i] == c->obj)
			return 0;
	if (b->n == WATCH_IDS)
		b->all = true;
	else
		b->ids[b->n++] = c->obj;
	return 0;
}

static void mark(serve_watch *w, const struct batch *b)
{
	IMGFS_LOCK(&w->lock, serve_watch_lock);
	for (struct serve_xfer *x = w->head; x; x = x->next) {
		bool hit = b->all;
		for (unsigned i = 0; i < b->n && !hit; i++)
			hit = b->ids[i] == x->image_id;
		x->dirty |= hit;
	}
	w->gen++;
	IMGFS_UNLOCK(&w->lock, serve_watch_lock);
}

static void *watch_main(void *arg)
{
	serve_watch *w = arg;
	bool away = false;
	while (!atomic_load_explicit(&w->stopping, memory_order_acquire)) {
		int rc = model_changes_wait(w->m, WATCH_WAIT_MS);
		if (rc < 0 && !away)
			serve_logf(w->log, "watch: the database does not answer (%s): transfers go on unchecked",
			           strerror(-rc));
		away = rc < 0;
		if (rc > 0) {
			struct batch b = {.n = 0};
			rc = model_changes_since(w->m, &w->seq, note_change, &b);
			if (rc < 0) /* -ESTALE: trimmed before we read them; or cannot tell */
				b.all = true;
			mark(w, &b);
		}
		check_dirty(w); /* also those a request registered dirty */
	}
	return NULL;
}

int serve_watch_start(serve_watch **out, struct model *m, serve_conns *t, struct serve_log *log)
{
	serve_watch *w = calloc(1, sizeof(*w));
	int rc;
	if (!w)
		return -ENOMEM;
	w->m = m;
	w->t = t;
	w->log = log;
	pthread_mutex_init(&w->lock, NULL);
	/* Before any request is served: every change after it is seen. */
	w->seq = model_changes_head(m);
	if ((rc = -pthread_create(&w->thread, NULL, watch_main, w)) < 0) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		return rc;
	}
	w->running = true;
	*out = w;
	return 0;
}

void serve_watch_stop(serve_watch *w)
{
	if (!w)
		return;
	atomic_store_explicit(&w->stopping, true, memory_order_release);
	if (w->running)
		pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

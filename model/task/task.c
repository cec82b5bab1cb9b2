/*
 * task.c — the background task engine: the queue, claiming, progress,
 * requeueing, failure, and the dispatch to the kinds of task (SPEC §5.1,
 * §6.2, §6.3; seed 001).  What each kind does lives in its own file
 * (capture.c, ...), reached through the table of kinds.c, which
 * model_open hands over (m->task_kinds): the engine names no kind; the
 * interface between the engine and a kind is task_int.h.  (Some 870
 * lines: the engine's parts share the claim's transaction and struct
 * task_run; fair share's slice and yield, about 200 of them, are the
 * piece to move to a file of their own when it grows.)
 *
 * Who calls it: fs/ (the `task` file; the mount's worker threads call
 * model_task_work in a loop), the kinds' queueing functions (which insert
 * the row), the unit tests.  Workload: a handful of tasks at a time, each
 * moving gigabytes; the database sees a claim, a progress row every
 * PROGRESS_NS and one transaction per finished device.
 *
 * The tasks row (model/db/schema_sqlite.c, schema_pg.c) is the queue
 * entry and the task's whole state:
 *   kind        a name in kinds.c's table ('capture', ...)
 *   image_id    the image it makes
 *   source_kind 'instance' or 'image', source_id the object it reads
 *               (which is "busy" while the row exists: model_instance_busy,
 *               model_image_remove)
 *   args        the kind's plan (see the kind's file)
 *   state       'queued' or 'running' ('open': an upload being written,
 *               upload.c; finished and failed rows are deleted)
 *   claimed_by  the runner that runs it, "<host>/<pid>:<start time>"
 *               (model_runner_id, host.c), '' when none
 *   bytes_done, bytes_total, started, updated: what `task` shows
 *
 * Claiming and liveness.  A runner is a process; its id is its pid and the
 * start time of that process (field 22 of /proc/<pid>/stat, clock ticks
 * since boot), so a recycled pid is not mistaken for the runner.  A claim
 * is one guarded UPDATE in a write transaction: a 'queued' task, or a
 * 'running' one whose runner is dead, becomes 'running' under this runner
 * WHERE claimed_by is still what was read — so no task runs twice, across
 * the threads of a process and across processes.  A kind may also refuse
 * a claim for now (its claimable check, e.g. a per-account limit): the
 * task stays queued and the claim looks at the next.  Every later write of
 * the task repeats the guard (claimed_by = me); finding the task taken
 * over, a runner stops quietly.  Assumption: every process that opens a
 * state directory runs on the same machine and in the same pid namespace
 * (the state directory is local; two machines sharing one over NFS, or
 * containers with separate pid namespaces, are not supported: each would
 * see the other's runners as dead).
 *
 * Stopping: a runner whose *stop is set stops between two chunks and puts
 * its task back in the queue; the next runner resumes it.  A runner whose
 * task ends in a database error (the server restarting) puts it back too,
 * and tries again, with growing pauses, until the database answers
 * (requeue_until_done): the task is never left 'running' under a live
 * runner that no longer runs it.
 *
 * Fair share (SPEC §8: one account's queue never keeps another account's
 * task waiting behind it).  The next free worker goes to the account with
 * the fewest running tasks of that kind — so an account with nothing
 * running is served first —, round robin among equals (the account whose
 * last turn at that kind is the oldest first: task_turns, one row per
 * account and kind, stamped when a task of it is claimed and when one
 * gives its worker back), oldest queued first within an account (task
 * id); a kind may still hold a task back (its claimable: 2 imports and 5
 * copies per account).  That order alone lets a task that runs for hours
 * keep its worker, and an import runs as long as its server dribbles (the
 * rate floor only ends one slower than 64 KiB/s): so imports are shared in
 * time.  An import that has run for a slice (model_import_slice: 60 s by
 * default, `imgfs admin import slice`) while a task of another account
 * waits that the next claim would take first — an import of an account
 * running fewer imports than its own, or a task of another kind — and that
 * this process has no worker (or import slot) free for, gives its worker
 * back at once: its bytes so far made durable, back to the queue, its turn
 * stamped (task_yield_due, import.c); it resumes later where it stopped,
 * with an HTTP Range (only an import whose server serves ranges and names
 * the file's version yields: one that would start again from 0 keeps its
 * worker one slice more, then ends in error).  Time-sharing rather than a pool of import workers: a pool
 * bounds how many accounts dribbling servers can hold up, not whether one
 * is held up, and a slow import costs one connection and one thread while
 * it runs either way.  The other kinds are not cut into slices: they run
 * at the machine's speed, their data is bounded by quotas, and their
 * durable points are whole devices (stopping one in a device's middle
 * would redo it); they take turns by the same order.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "task_int.h"

/* ---- task rows ---------------------------------------------------------------- */

static void task_fill(db_stmt *st, void *out)
{
	struct task_row *t = out;
	t->id = db_col_int64(st, 0);
	model_col_text(st, 1, t->kind, sizeof(t->kind));
	t->image_id = db_col_int64(st, 2);
	model_col_text(st, 3, t->source_kind, sizeof(t->source_kind));
	t->source_id = db_col_int64(st, 4);
	model_col_text(st, 5, t->args, sizeof(t->args));
	model_col_text(st, 6, t->state, sizeof(t->state));
	t->bytes_done = (uint64_t)db_col_int64(st, 7);
	t->bytes_total = (uint64_t)db_col_int64(st, 8);
	t->started = db_col_int64(st, 9);
	t->updated = db_col_int64(st, 10);
	model_col_text(st, 11, t->host, sizeof(t->host));
	model_col_text(st, 12, t->error, sizeof(t->error));
	t->retries = db_col_int64(st, 13);
}

/* The kinds are m's table (kinds.c, handed over by model_open): the
 * engine names none of them. */
static const struct task_kind *task_kind_find(const model *m, const char *name)
{
	for (size_t i = 0; i < m->task_nkinds; i++)
		if (strcmp(m->task_kinds[i].name, name) == 0)
			return &m->task_kinds[i];
	return NULL;
}

static int kind_index(const model *m, const char *kind)
{
	for (size_t i = 0; i < m->task_nkinds; i++)
		if (strcmp(m->task_kinds[i].name, kind) == 0)
			return (int)i;
	return -1;
}

void task_count_moved_kind(model *m, const char *kind, uint64_t bytes)
{
	int k = kind_index(m, kind);
	if (k >= 0)
		atomic_fetch_add_explicit(&m->moved_bytes[k], bytes, memory_order_relaxed);
}

void task_count_moved(struct task_run *r, uint64_t bytes)
{
	task_count_moved_kind(r->m, r->t.kind, bytes);
}

/* Adds the progress made since the last count to the process's counter
 * of the task's kind (/stats: model_task_bytes); an import's progress is
 * the bytes it fetched, so they are its bytes moved too.  A resumed task
 * starts counting where its row was, so bytes counted before a remount
 * (or by another process) are not counted twice. */
static void count_bytes(struct task_run *r)
{
	int k = kind_index(r->m, r->t.kind);
	if (r->bytes_done <= r->bytes_counted || k < 0)
		return;
	atomic_fetch_add_explicit(&r->m->task_bytes[k], r->bytes_done - r->bytes_counted, memory_order_relaxed);
	if (strcmp(r->t.kind, "import") == 0)
		task_count_moved(r, r->bytes_done - r->bytes_counted);
	r->bytes_counted = r->bytes_done;
}

/* Inside a transaction: records bytes_done if the task is still ours.  1
 * when it is, 0 when another runner took it (or it is gone), -errno. */
int task_touch(struct model_conn *c, struct task_run *r)
{
	db_stmt *st = model_stmt(c, SQL("UPDATE tasks SET bytes_done = ?, updated = ? WHERE id = ? AND claimed_by = ?"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, (int64_t)r->bytes_done);
	db_bind_int64(st, 2, (int64_t)time(NULL));
	db_bind_int64(st, 3, r->t.id);
	db_bind_text(st, 4, r->me);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	if (model_changes(c) != 1)
		r->lost = true;
	else
		count_bytes(r);
	return !r->lost;
}

uint64_t model_sha_read_bytes(model *m)
{
	return atomic_load_explicit(&m->sha_read_bytes, memory_order_relaxed);
}

int model_task_bytes(model *m, int (*cb)(void *arg, const char *kind, uint64_t progress, uint64_t moved), void *arg)
{
	int rc;
	for (size_t i = 0; i < m->task_nkinds; i++)
		if ((rc = cb(arg, m->task_kinds[i].name, atomic_load_explicit(&m->task_bytes[i], memory_order_relaxed),
		             atomic_load_explicit(&m->moved_bytes[i], memory_order_relaxed))) < 0)
			return rc;
	return 0;
}

int task_delete_row(struct model_conn *c, int64_t id)
{
	db_stmt *st = model_stmt(c, SQL("DELETE FROM tasks WHERE id = ?"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, id);
	return model_exec_stmt(st);
}

int task_drop_row(struct task_run *r)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	rc = task_delete_row(c, r->t.id);
out:
	return model_write_end(c, rc, NULL);
}

/* In the caller's transaction: account's turn at kind is now (fair
 * share, see the top). */
static int turn_stamp(struct model_conn *c, int64_t account_id, const char *kind)
{
	db_stmt *st = model_stmt(c, SQL("INSERT INTO task_turns(account_id, kind, served_ns) VALUES (?, ?, ?) "
	                                "ON CONFLICT (account_id, kind) DO UPDATE SET served_ns = excluded.served_ns"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, account_id);
	db_bind_text(st, 2, kind);
	db_bind_int64(st, 3, model_now_ns());
	return model_exec_stmt(st);
}

int64_t task_retry_pause_ns(int64_t retries)
{
	if (retries < 0)
		retries = 0;
	if (retries >= 6) /* 1 s << 6 is past the longest */
		return TASK_RETRY_MAX_NS;
	int64_t ns = TASK_RETRY_MIN_NS << retries;
	return ns < TASK_RETRY_MAX_NS ? ns : TASK_RETRY_MAX_NS;
}

/* Puts the task back in the queue for another runner: stopping, a time
 * slice given back (claimable at once, its failures forgotten: the run
 * went on), or a run that failed (r->failed: a database error that
 * another try may not meet, a store that did not answer): then no runner,
 * on any host, claims it before a pause of task_retry_pause_ns, which
 * doubles with each failed run in a row (issue 49: a take-over meeting a
 * store that did not answer was claimed again at once, for ever). */
int task_requeue(struct task_run *r)
{
	struct model_conn *c;
	db_stmt *st;
	int64_t retries = r->failed ? r->t.retries + 1 : 0;
	int rc;
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET state = 'queued', claimed_by = '', retries = ?, retry_ns = ? "
	                             "WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, retries);
	db_bind_int64(st, 2, r->failed ? model_now_ns() + task_retry_pause_ns(r->t.retries) : 0);
	db_bind_int64(st, 3, r->t.id);
	/* The task file shows the state: an IMAGE change.  A slice given back
	 * is the account's turn, in the same transaction: no claim between
	 * sees the task queued with its account's older turn. */
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (r->yielded && (rc = turn_stamp(c, r->account_id, r->t.kind)) < 0) ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

/* In the caller's transaction: the image's progress (0..99 until the task
 * makes it available) from bytes_done.  progress is a file whose content
 * changes, and `task` with it: the image's mtime and an IMAGE change. */
int task_image_progress(struct model_conn *c, struct task_run *r)
{
	db_stmt *st = model_stmt(c, SQL("UPDATE images SET progress = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3"));
	uint64_t total = r->t.bytes_total;
	int pct = total ? (int)(r->bytes_done * 100 / total) : 0;
	int rc;
	if (!st)
		return -EIO;
	db_bind_int(st, 1, pct > 99 ? 99 : pct);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, r->t.image_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL);
}

/* One short transaction: bytes_done and the image's progress.  1 to go
 * on, 0 when the task was lost.  A database error costs one update, not
 * the task: the next one (or the device's end) writes it again. */
int task_progress(struct task_run *r)
{
	struct model_conn *c;
	int rc;
	if (model_write_begin(r->m, &c, NULL) < 0)
		return 1;
	if ((rc = task_touch(c, r)) > 0)
		rc = task_image_progress(c, r);
	model_write_end(c, rc, NULL);
	return !r->lost;
}

bool task_progress_due(struct task_run *r)
{
	int64_t now = model_now_ns();
	if (now - r->last_progress < TASK_PROGRESS_NS)
		return false;
	r->last_progress = now;
	return true;
}

int task_tick(struct task_run *r, uint64_t done)
{
	if (r->stop && atomic_load(r->stop)) {
		r->stopped = true;
		return 1;
	}
	if (!task_progress_due(r))
		return 0;
	r->bytes_done = done;
	return task_progress(r) ? 0 : 1;
}

/* ---- claiming ------------------------------------------------------------------ */

struct running_count {
	struct model_conn *c;
	int running;
};

static int running_row(void *arg, db_stmt *st)
{
	struct running_count *rc = arg;
	char by[MODEL_RUNNER_ID_MAX];
	model_col_text(st, 0, by, sizeof(by));
	if (model_runner_alive(rc->c, by)) /* a dead runner's task is waiting, not running */
		rc->running++;
	return 0;
}

int task_account_running(struct model_conn *c, int64_t task_id, const char *kind)
{
	struct running_count cnt = {c, 0};
	db_stmt *st = model_stmt(c, SQL("SELECT t.claimed_by FROM tasks t JOIN images i ON i.id = t.image_id "
	                                 "WHERE t.kind = ?2 AND t.state = 'running' AND t.id != ?1 AND i.account_id = "
	                                 "(SELECT i2.account_id FROM tasks t2 JOIN images i2 ON i2.id = t2.image_id "
	                                 "WHERE t2.id = ?1)"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, task_id);
	db_bind_text(st, 2, kind);
	if ((rc = model_each_row(st, running_row, &cnt)) < 0)
		return rc;
	return cnt.running;
}

void model_set_workers(model *m, unsigned n)
{
	m->workers = n;
}

/* ---- fair share's time slice (see the top) ----------------------------------- */

int64_t model_import_slice(model *m)
{
	return model_setting_int(m, "import_slice", 0, MODEL_IMPORT_SLICE);
}

int model_import_slice_set(model *m, int64_t seconds, struct model_err *err)
{
	if (seconds < 0 || seconds > 86400)
		return model_fail(err, -EINVAL, "the slice is 0 (never) to 86400 seconds");
	return model_setting_set_int(m, "import_slice", seconds, err);
}

#define YIELD_CHECK_NS 1000000000LL /* task_yield_due looks at most this often */

struct waiter {
	struct model_conn *c;
	const char *host;
	bool import_slot_free, worker_free;
	int mine;     /* running tasks of the yielding task's kind, of its account */
	bool found;
};

/* One queued task of another account (id, kind, host, its account's
 * running tasks of its kind): whether the next claim would take it before
 * the yielding import, were the worker free — and only the yield can free
 * one for it. */
static int waiter_row(void *arg, db_stmt *st)
{
	struct waiter *w = arg;
	const struct task_kind *k;
	char kind[16], host[MODEL_HOST_MAX + 1];
	int64_t id = db_col_int64(st, 0);
	int running = db_col_int(st, 3);
	model_col_text(st, 1, kind, sizeof(kind));
	model_col_text(st, 2, host, sizeof(host));
	if (w->c->m->cluster && host[0] && strcmp(host, w->host) != 0)
		return 0; /* runs on another host: our worker is no use to it */
	if (strcmp(kind, "import") == 0) {
		/* Its account runs fewer imports than ours (after the yield, no
		 * more: the turn decides), and no import slot is free for it. */
		if (running >= w->mine || w->import_slot_free)
			return 0;
	} else {
		if (w->worker_free)
			return 0;
		if ((k = task_kind_find(w->c->m, kind)) && k->claimable && k->claimable(w->c, id) <= 0)
			return 0; /* held back by its own kind's limit: a worker would not help */
	}
	w->found = true;
	return 1;
}

bool task_yield_due(struct task_run *r)
{
	model *m = r->m;
	struct model_conn *c;
	db_stmt *st;
	int64_t now = model_now_ns(), slice;
	unsigned slots = m->workers > 1 ? m->workers - 1 : 1;
	struct waiter w = {0};

	if (now - r->yield_checked_ns < YIELD_CHECK_NS)
		return false;
	r->yield_checked_ns = now;
	if ((slice = model_import_slice(m)) == 0 || now - r->claimed_ns < slice * 1000000000LL)
		return false;
	if (model_conn_get(m, &c) < 0)
		return false;
	w.c = c;
	w.host = model_host(m);
	w.worker_free = m->workers > 0 && atomic_load(&m->running_here) < (int)m->workers;
	w.import_slot_free = w.worker_free && atomic_load(&m->imports_here) < (int)slots;
	if ((w.mine = task_account_running(c, r->t.id, r->t.kind)) < 0)
		return false;
	w.mine++; /* this one */
	if (!(st = model_stmt(c, SQL_SCAN("weighs the queued tasks of other accounts, at most 16",
	                                  "SELECT t.id, t.kind, t.host, (SELECT count(*) FROM tasks t2 JOIN images i2 "
	                                  "ON i2.id = t2.image_id WHERE t2.state = 'running' AND t2.kind = t.kind "
	                                  "AND i2.account_id = i.account_id) FROM tasks t JOIN images i ON i.id = "
	                                  "t.image_id WHERE t.state = 'queued' AND t.retry_ns <= ? AND i.account_id != ? "
	                                  "ORDER BY t.id LIMIT 16"))))
		return false;
	db_bind_int64(st, 1, now);
	db_bind_int64(st, 2, r->account_id);
	if (model_each_row(st, waiter_row, &w) < 0 || !w.found)
		return false;
	r->yielded = r->stopped = true;
	return true;
}

/* A task someone asked for (any kind but checksum) waits that the next
 * claim would take — it may run on this host, its kind's limit does not
 * hold it back — and this process has no worker free for it: a checksum
 * pass (the service's own work, checksum.c) gives its worker back. */
static int asked_row(void *arg, db_stmt *st)
{
	struct waiter *w = arg;
	const struct task_kind *k;
	char kind[16], host[MODEL_HOST_MAX + 1];
	model_col_text(st, 1, kind, sizeof(kind));
	model_col_text(st, 2, host, sizeof(host));
	if (w->c->m->cluster && host[0] && strcmp(host, w->host) != 0)
		return 0;
	k = task_kind_find(w->c->m, kind);
	/* One that waits for a data key this process cannot open (§17) would
	 * not take the worker: giving it back would only start the pass over. */
	if (db_col_int64(st, 3) && (!k || !k->keyless) && !model_key_usable(w->c, db_col_int64(st, 3)))
		return 0;
	if (k && k->claimable && k->claimable(w->c, db_col_int64(st, 0)) <= 0)
		return 0;
	w->found = true;
	return 1;
}

bool task_asked_waiting(struct task_run *r)
{
	model *m = r->m;
	struct model_conn *c;
	db_stmt *st;
	struct waiter w = {0};

	if (m->workers > 0 && atomic_load(&m->running_here) < (int)m->workers)
		return false; /* a worker is free: it takes the task */
	if (model_conn_get(m, &c) < 0)
		return false;
	w.c = c;
	w.host = model_host(m);
	if (!(st = model_stmt(c, SQL("SELECT t.id, t.kind, t.host, COALESCE(i.key_id, 0) FROM tasks t "
	                             "LEFT JOIN images i ON i.id = t.image_id "
	                             "WHERE t.state = 'queued' AND t.retry_ns <= ? AND t.kind NOT IN ('checksum', 'inspect') "
	                             "ORDER BY t.id LIMIT 16"))))
		return false;
	db_bind_int64(st, 1, model_now_ns());
	if (model_each_row(st, asked_row, &w) < 0)
		return false;
	return w.found;
}

struct claim_pick {
	struct model_conn *c;
	const char *host;
	int64_t now_ns;
	int64_t id;
	char claimed_by[MODEL_RUNNER_ID_MAX];
	char state[16];
};

static int claim_row(void *arg, db_stmt *st)
{
	struct claim_pick *p = arg;
	const struct task_kind *k;
	char state[16], by[MODEL_RUNNER_ID_MAX], kind[16], host[MODEL_HOST_MAX + 1];
	int rc;
	model_col_text(st, 1, state, sizeof(state));
	model_col_text(st, 2, by, sizeof(by));
	model_col_text(st, 3, kind, sizeof(kind));
	model_col_text(st, 4, host, sizeof(host));
	k = task_kind_find(p->c->m, kind);
	/* Its last run failed: it waits out its pause (task_requeue). */
	if (strcmp(state, "queued") == 0 && db_col_int64(st, 6) > p->now_ns)
		return 0;
	/* It must run on its host (it reads that host's files); a movable
	 * kind only while that host's lease is current. */
	if (p->c->m->cluster && host[0] && strcmp(host, p->host) != 0 &&
	    (!k || !k->movable || model_host_alive(p->c, host)))
		return 0;
	if (strcmp(state, "running") == 0 && model_runner_alive(p->c, by))
		return 0; /* its runner works on it (maybe another thread of ours) */
	/* An encrypted image's task waits for a process that can open its
	 * data key (SPEC §17): this one has no key-encryption key, or not
	 * the one that wrapped it. */
	if (db_col_int64(st, 5) && (!k || !k->keyless) && !model_key_usable(p->c, db_col_int64(st, 5)))
		return 0;
	/* The kind may hold it back for now; an unknown kind is claimed (and
	 * failed by model_task_work). */
	if (k && k->claimable && (rc = k->claimable(p->c, db_col_int64(st, 0))) <= 0)
		return rc;
	p->id = db_col_int64(st, 0);
	memcpy(p->claimed_by, by, sizeof(by));
	memcpy(p->state, state, sizeof(state));
	return 1;
}

/* Claims the oldest runnable task into r->t: 1, 0 when none, -errno. */
static int task_claim(struct task_run *r)
{
	struct claim_pick pick = {0};
	struct model_conn *c;
	db_stmt *st;
	int64_t now = (int64_t)time(NULL);
	bool claimed = false, import = false, checksum = false, inspect = false;
	int rc;

	/* Workers look for work at every change; most changes (a mkdir, a
	 * rename) make none.  Looking first without the write lock keeps them
	 * from queueing behind, and delaying, the writers that woke them: a
	 * task queued after this look logs a change and wakes them again. */
	if ((rc = model_conn_get(r->m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT 1 FROM tasks WHERE state IN ('queued', 'running') AND retry_ns <= ? LIMIT 1"))))
		return -EIO;
	db_bind_int64(st, 1, model_now_ns());
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_ROW)
		return rc == DB_DONE ? 0 : rc < 0 ? rc : -EIO;

	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	pick.c = c;
	pick.host = model_host(r->m);
	pick.now_ns = model_now_ns();
	/* Per account, not first come first served (§8, fair share at the
	 * top): the accounts with the fewest running tasks of the task's kind
	 * first, then the one whose turn at it is the oldest, each in the
	 * order it queued.  A checksum pass (§2.1 sha256) is the service's own
	 * background work: after every task someone asked for. */
	if (!(st = model_stmt(c, SQL_SCAN("sorts the task queue: queued and running tasks only",
	                                  "SELECT t.id, t.state, t.claimed_by, t.kind, t.host, COALESCE(i.key_id, 0), t.retry_ns FROM tasks t "
	                                  "LEFT JOIN images i ON i.id = t.image_id "
	                                  "WHERE t.state IN ('queued', 'running') ORDER BY t.kind IN ('checksum', 'inspect'), "
	                                  "(SELECT count(*) FROM tasks t2 JOIN images i2 ON i2.id = t2.image_id "
	                                  "WHERE t2.state = 'running' AND t2.kind = t.kind "
	                                  "AND i2.account_id = COALESCE(i.account_id, 0)), "
	                                  "COALESCE((SELECT u.served_ns FROM task_turns u WHERE u.account_id = "
	                                  "COALESCE(i.account_id, 0) AND u.kind = t.kind), 0), "
	                                  "t.id")))) {
		rc = -EIO;
		goto out;
	}
	if ((rc = model_each_row(st, claim_row, &pick)) <= 0)
		goto out;
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET state = 'running', claimed_by = ?, "
	                         "started = CASE started WHEN 0 THEN ?2 ELSE started END, updated = ?2 "
	                         "WHERE id = ? AND claimed_by = ? AND state = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, r->me);
	db_bind_int64(st, 2, now);
	db_bind_int64(st, 3, pick.id);
	db_bind_text(st, 4, pick.claimed_by);
	db_bind_text(st, 5, pick.state);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) != 1) { /* cannot happen inside BEGIN IMMEDIATE; be safe */
		rc = 0;
		goto out;
	}
	if (!(st = model_stmt(c, SQL("SELECT id, kind, image_id, source_kind, source_id, args, state, bytes_done, "
	                         "bytes_total, started, updated, host, error, retries FROM tasks WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, pick.id);
	if ((rc = model_one_row(st, task_fill, &r->t)) < 0)
		goto out;
	/* Its chunks are kept from gc until the task's row goes (writer.c);
	 * a kind that stores none (destroy) would only hold gc back. */
	const struct task_kind *kind = task_kind_find(r->m, r->t.kind);
	if ((!kind || !kind->stores_nothing) && (rc = model_writer_claimed(c, pick.id, r->me)) < 0)
		goto out;
	/* Its account's turn (fair share). */
	struct model_image img;
	r->account_id = model_image_get(r->m, r->t.image_id, &img) == 0 ? img.account_id : 0;
	if ((rc = turn_stamp(c, r->account_id, r->t.kind)) < 0)
		goto out;
	/* Counted under the write lock that serialises claims, so that
	 * import_claimable of the next claim (and task_yield_due) sees it. */
	import = strcmp(r->t.kind, "import") == 0;
	checksum = strcmp(r->t.kind, "checksum") == 0;
	inspect = strcmp(r->t.kind, "inspect") == 0;
	if (import)
		atomic_fetch_add(&r->m->imports_here, 1);
	if (checksum)
		atomic_fetch_add(&r->m->checksums_here, 1);
	if (inspect)
		atomic_fetch_add(&r->m->inspects_here, 1);
	atomic_fetch_add(&r->m->running_here, 1);
	claimed = true;
out:
	if ((rc = model_write_end(c, rc, NULL)) < 0 && claimed) {
		if (import)
			atomic_fetch_sub(&r->m->imports_here, 1);
		if (checksum)
			atomic_fetch_sub(&r->m->checksums_here, 1);
		if (inspect)
			atomic_fetch_sub(&r->m->inspects_here, 1);
		atomic_fetch_sub(&r->m->running_here, 1);
	}
	if (rc < 0 || !claimed)
		return rc;
	r->bytes_done = r->bytes_counted = r->t.bytes_done;
	/* An operator wants to know when a task changed hands (its host died,
	 * or its process: §11, §13). */
	if (strcmp(pick.state, "running") == 0 && pick.claimed_by[0])
		model_log(r->m, "task %lld (%s of image %lld) taken over from %s, which is gone", (long long)r->t.id,
		          r->t.kind, (long long)r->t.image_id, pick.claimed_by);
	return 1;
}


/* ---- failure -------------------------------------------------------------------- */

/* Inside a transaction: the kind's undo, the image in error with the
 * reason, the task deleted.  SPEC §4: "changes nothing else". */
static int task_fail_rows(struct model_conn *c, struct task_run *r, task_undo_fn undo, void *arg, const char *reason)
{
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;

	if (undo && (rc = undo(c, r, arg)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE images SET status = ?, error = ?, error_ns = ?3, mtime_ns = ?3, ctime_ns = ?3 "
	                         "WHERE id = ? AND status IN (?, ?)"))))
		return -EIO;
	db_bind_int(st, 1, MODEL_IMG_ERROR);
	db_bind_text(st, 2, reason);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, r->t.image_id);
	db_bind_int(st, 5, MODEL_IMG_PENDING);
	db_bind_int(st, 6, MODEL_IMG_REPLICATING);
	if ((rc = model_exec_stmt(st)) < 0 || (rc = task_delete_row(c, r->t.id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0)
		return rc;
	return task_log_source(c, r);
}

void task_log_failure(model *m, int64_t image_id, const char *what, const char *reason)
{
	struct model_image img;
	if (model_image_get(m, image_id, &img) == 0)
		model_log(m, "%s of image %s (%s) ended in error: %s", what, img.ext_id, img.name, reason);
	else
		model_log(m, "%s of image %lld ended in error: %s", what, (long long)image_id, reason);
}

int task_fail(struct task_run *r, task_undo_fn undo, void *arg, const char *fmt, ...)
{
	struct model_conn *c;
	char reason[256];
	bool failed = false;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	if ((rc = task_fail_rows(c, r, undo, arg, reason)) < 0)
		goto out;
	failed = true;
out:
	if ((rc = model_write_end(c, rc, NULL)) == 0 && failed)
		task_log_failure(r->m, r->t.image_id, r->t.kind, reason);
	return rc;
}

/* ---- the runner's entry points ---------------------------------------------------- */

#define REQUEUE_PAUSE_MIN_MS 100  /* the first pause before a requeue is tried again */
#define REQUEUE_PAUSE_MAX_MS 2000 /* the longest: well inside the shortest lease (2 s .. 86400 s, §13) */

/* Gives the task back to the queue (stopped, or a database error), and
 * keeps trying while the database does not answer: a task left 'running'
 * under this live runner would wait for the process to end, since no
 * other runner takes a live one's task (issue 36: a destroy stayed
 * running for minutes after a PostgreSQL restart).  Pauses grow from
 * REQUEUE_PAUSE_MIN_MS to REQUEUE_PAUSE_MAX_MS; a pause is cut short when
 * the process stops (then the row stays this runner's, which is dead by
 * the next mount: it claims it as after a crash).  Ends when the task is
 * back in the queue, lost to another runner, or the process stops. */
static int requeue_until_done(struct task_run *r)
{
	int rc, tries = 0;
	for (int pause_ms = REQUEUE_PAUSE_MIN_MS;; tries++) {
		if ((rc = task_requeue(r)) >= 0 || r->lost)
			break;
		if (tries == 0)
			model_log(r->m, "%s task %lld: cannot give it back to the queue (%s): trying again until the "
			          "database answers", r->t.kind, (long long)r->t.id, strerror(-rc));
		if (r->stop && atomic_load(r->stop)) {
			model_log(r->m, "%s task %lld: stopping with the database away: left to the next mount "
			          "(resumed as after a crash)", r->t.kind, (long long)r->t.id);
			return rc;
		}
		for (int slept = 0; slept < pause_ms && !(r->stop && atomic_load(r->stop)); slept += 50) {
			struct timespec ts = {0, 50 * 1000000L};
			nanosleep(&ts, NULL);
		}
		pause_ms = pause_ms * 2 > REQUEUE_PAUSE_MAX_MS ? REQUEUE_PAUSE_MAX_MS : pause_ms * 2;
	}
	if (tries > 0 && rc >= 0)
		model_log(r->m, "%s task %lld: %s after %d tries", r->t.kind, (long long)r->t.id,
		          r->lost ? "taken by another runner meanwhile" : "back in the queue", tries + 1);
	return rc;
}

int model_task_work(model *m, const atomic_bool *stop)
{
	struct task_run *r;
	struct model_image img;
	int rc;

	if (stop && *stop)
		return 0;
	if (!(r = calloc(1, sizeof(*r)))) /* args make it 4 KiB: not on a worker's stack */
		return -ENOMEM;
	r->m = m;
	r->stop = stop;
	if ((rc = model_runner_self(m, r->me)) < 0 || (rc = task_claim(r)) <= 0)
		goto out;
	if (model_image_get(m, r->t.image_id, &img) == 0) {
		r->region_id = img.region_id;
		r->folder = img.folder;
	}
	r->last_progress = r->claimed_ns = r->yield_checked_ns = model_now_ns();
	const struct task_kind *k = task_kind_find(m, r->t.kind);
	if (k)
		rc = k->run(r);
	else
		rc = task_fail(r, NULL, NULL, "unknown task kind %s", r->t.kind);
	if (strcmp(r->t.kind, "import") == 0)
		atomic_fetch_sub(&m->imports_here, 1);
	if (strcmp(r->t.kind, "checksum") == 0)
		atomic_fetch_sub(&m->checksums_here, 1);
	if (strcmp(r->t.kind, "inspect") == 0)
		atomic_fetch_sub(&m->inspects_here, 1);
	atomic_fetch_sub(&m->running_here, 1);
	/* Stopped: the next runner resumes it.  A database error: it may pass,
	 * and a task left 'running' under this live process would wait for
	 * the process to end — give it back now, and again until the
	 * database answers (requeue_until_done). */
	if ((r->stopped || rc < 0) && !r->lost) {
		r->failed = rc < 0 && !r->stopped;
		int rq = requeue_until_done(r);
		if (r->failed && rq >= 0 && !r->lost)
			model_log(m, "%s task %lld (image %lld): %s: back in the queue, claimed again in %lld s at the "
			          "earliest (failed run %lld in a row)", r->t.kind, (long long)r->t.id,
			          (long long)r->t.image_id, strerror(-rc),
			          (long long)(task_retry_pause_ns(r->t.retries) / 1000000000LL), (long long)r->t.retries + 1);
		if (rc >= 0)
			rc = rq;
	}
	if (rc >= 0)
		rc = 1;
out:
	free(r);
	return rc;
}

int model_task_running_here(model *m)
{
	return atomic_load(&m->running_here);
}

/* ---- what `task` shows ---------------------------------------------------------- */

int model_task_of_image(model *m, int64_t image_id, struct model_task *out)
{
	char runner[MODEL_RUNNER_ID_MAX] = "", bound[MODEL_HOST_MAX + 1] = "";
	struct model_conn *c;
	db_stmt *st;
	int64_t now = (int64_t)time(NULL), key_id = 0;
	int rc;

	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL_SCAN("sorts the tasks of one image and counts the queue ahead of it",
	                                  "SELECT t.id, t.kind, t.image_id, t.source_kind, t.source_id, t.state, t.bytes_done, "
	                         "t.bytes_total, t.started, t.updated, "
	                         "(SELECT count(*) FROM tasks q WHERE q.state = 'queued' AND q.id < t.id AND q.kind NOT IN ('checksum', 'inspect')), "
	                         "t.claimed_by, t.host, COALESCE((SELECT i.key_id FROM images i WHERE i.id = t.image_id), 0) "
	                         "FROM tasks t WHERE (t.image_id = ?1 OR (t.source_kind = 'image' AND t.source_id = ?1)) "
	                         "AND t.kind NOT IN ('checksum', 'inspect') ORDER BY t.id LIMIT 1"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		memset(out, 0, sizeof(*out));
		out->id = db_col_int64(st, 0);
		model_col_text(st, 1, out->kind, sizeof(out->kind));
		out->image_id = db_col_int64(st, 2);
		model_col_text(st, 3, out->source_kind, sizeof(out->source_kind));
		out->source_id = db_col_int64(st, 4);
		model_col_text(st, 5, out->state, sizeof(out->state));
		out->bytes_done = (uint64_t)db_col_int64(st, 6);
		out->bytes_total = (uint64_t)db_col_int64(st, 7);
		out->started = db_col_int64(st, 8);
		out->updated = db_col_int64(st, 9);
		out->position = strcmp(out->state, "queued") == 0 ? 1 + db_col_int(st, 10) : 0;
		/* Whole seconds: a task's first second shows its bytes as the rate. */
		if (out->started > 0 && out->bytes_done > 0)
			out->rate = (double)out->bytes_done / (double)(now - out->started > 0 ? now - out->started : 1);
		model_col_text(st, 11, runner, sizeof(runner));
		model_col_text(st, 12, bound, sizeof(bound));
		key_id = db_col_int64(st, 13);
		rc = 0;
	} else {
		rc = rc == DB_DONE ? -ENOENT : db_errno(rc);
	}
	db_reset(st);
	if (rc < 0)
		return rc;
	/* Who runs it, and whether anybody does (§13: a dead host's task must
	 * not look alive).  A queued task has no runner; 'open' is an upload
	 * whose file is open (upload.c): its process runs it. */
	if (strcmp(out->state, "queued") == 0) {
		runner[0] = '\0';
		const struct task_kind *k = task_kind_find(m, out->kind);
		out->waits_key = key_id && (!k || !k->keyless) && !model_key_usable(c, key_id);
	}
	if ((rc = model_task_orphaned(c, runner, bound, out->updated, out->host, &out->orphaned_since)) < 0)
		return rc;
	if (rc == 1) {
		snprintf(out->state, sizeof(out->state), "orphaned");
		out->position = 0;
		out->rate = 0; /* nothing moves: no rate, no eta */
	} else if (runner[0] && model_runner_silent(c, runner)) {
		out->rate = 0; /* its host reports nothing: not known to move (issue 47) */
	}
	return 0;
}

int task_log_source(struct model_conn *c, struct task_run *r)
{
	struct model_image src;
	if (strcmp(r->t.source_kind, "instance") == 0)
		return model_log_change(c, MODEL_CHANGE_INSTANCE, r->t.source_id, r->region_id, MODEL_FOLDER_INVALID,
		                        NULL);
	if (strcmp(r->t.source_kind, "image") == 0 && model_image_get(r->m, r->t.source_id, &src) == 0)
		return model_log_change(c, MODEL_CHANGE_IMAGE, src.id, src.region_id, src.folder, NULL);
	return 0;
}

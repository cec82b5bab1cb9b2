/*
 * writer.c — who is writing chunks that no committed manifest names yet
 * (SPEC §13: "gc never removes a chunk that a host is still writing"),
 * recorded where every host and every gc sees it: the writers table
 * (schema_sqlite.c, version 11).
 *
 * The chunks of an upload, a URL import, a capture's seal, a conversion, a
 * copy, `admin publish`, `admin migrate` or a new region's catalogue are
 * in the store before the manifest that names them commits; until then
 * nothing in the database names them, and a gc run meanwhile (from any
 * host, with any --state) must not take them.  So each such writer has a
 * row, committed before its first chunk is written:
 *   - a task's: inserted when the task is first claimed (task.c) — an
 *     upload's already when it begins (upload.c), since its file streams
 *     chunks before the task runs — and deleted with the task's row (the
 *     foreign key cascades), which goes in the transaction that commits
 *     the task's last manifest, or fails it.  A claim by another runner
 *     (a host that died, a mount restarted) keeps the row and its since
 *     (the new runner may rely on what the old one wrote) and records the
 *     new runner.  A task bound to a dead host keeps it while it waits;
 *     `host remove` ends such tasks, and their rows go with them.
 *   - an admin command's (publish, migrate, a region's catalogue; task_id
 *     NULL): model_writer_begin before the first chunk, model_writer_end
 *     after the commit.  One that died leaves its row: dropped by any
 *     process of its host that can tell the process is gone
 *     (model_writers_reap: gc, and each mount's housekeeping), and by
 *     `host remove` of its host.
 *
 * gc (fsck.c) reads the rows of a region before its manifests and keeps
 * every chunk stamped at or after the oldest row's since minus
 * WRITER_MARGIN, on top of its grace.  The margin: a writer that finds a
 * chunk already stored refreshes the chunk's stamp only when the stamp is
 * older than BLOB_STAMP_FRESH (blobstore.h), so the chunks a writer relies
 * on carry stamps from since - BLOB_STAMP_FRESH on; and hosts' clocks may
 * differ by up to MODEL_CLOCK_SKEW (a writer's since is its host's clock, a
 * chunk's stamp the writer's or the store's).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model_int.h"

#define WRITER_MARGIN MODEL_STAMP_MARGIN

int model_writer_insert(struct model_conn *c, int64_t region_id, int64_t task_id, const char *what, int64_t *id_out)
{
	char me[MODEL_RUNNER_ID_MAX];
	db_stmt *st;
	int64_t id;
	int rc;

	if ((rc = model_runner_self(c->m, me)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("INSERT INTO writers(region_id, task_id, host, runner, what, since_ns) "
	                             "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"))))
		return -EIO;
	db_bind_int64(st, 1, region_id);
	if (task_id)
		db_bind_int64(st, 2, task_id);
	else
		db_bind_null(st, 2);
	db_bind_text(st, 3, model_host(c->m));
	db_bind_text(st, 4, me);
	db_bind_text(st, 5, what);
	db_bind_int64(st, 6, model_now_ns());
	if ((rc = model_insert(st, &id)) < 0)
		return rc;
	if (id_out)
		*id_out = id;
	return 0;
}

int model_writer_claimed(struct model_conn *c, int64_t task_id, const char *runner)
{
	const char *slash = strchr(runner, '/');
	char host[MODEL_HOST_MAX + 1];
	db_stmt *st;
	size_t n = slash ? (size_t)(slash - runner) : 0;

	if (n > MODEL_HOST_MAX)
		return -EINVAL;
	memcpy(host, runner, n);
	host[n] = '\0';
	/* The region is the image's: a copy's image is the copy, in the
	 * region it writes to. */
	if (!(st = model_stmt(c, SQL("INSERT INTO writers(region_id, task_id, host, runner, what, since_ns) "
	                             "SELECT i.region_id, t.id, ?2, ?3, t.kind, ?4 FROM tasks t "
	                             "JOIN images i ON i.id = t.image_id WHERE t.id = ?1 "
	                             "ON CONFLICT (task_id) DO UPDATE SET host = excluded.host, "
	                             "runner = excluded.runner"))))
		return -EIO;
	db_bind_int64(st, 1, task_id);
	db_bind_text(st, 2, host);
	db_bind_text(st, 3, runner);
	db_bind_int64(st, 4, model_now_ns());
	return model_exec_stmt(st);
}

int model_writer_begin(model *m, int64_t region_id, const char *what, int64_t *id_out)
{
	struct model_conn *c;
	int rc;

	*id_out = 0;
	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	rc = model_writer_insert(c, region_id, 0, what, id_out);
	if ((rc = model_write_end(c, rc, NULL)) < 0)
		*id_out = 0;
	return rc;
}

void model_writer_end(model *m, int64_t id)
{
	struct model_conn *c;
	db_stmt *st;

	if (id <= 0 || model_conn_get(m, &c) < 0)
		return;
	/* On its own (autocommit): a failure leaves the row to
	 * model_writers_reap once this process is gone. */
	if ((st = model_stmt(c, SQL("DELETE FROM writers WHERE id = ?")))) {
		db_bind_int64(st, 1, id);
		model_exec_stmt(st);
	}
}

struct reap {
	model *m;
	struct model_conn *c;
	int n;
	int64_t ids[32];
};

static int reap_row(void *arg, db_stmt *st)
{
	struct reap *r = arg;
	char runner[MODEL_RUNNER_ID_MAX], host[MODEL_HOST_MAX + 1];
	model_col_text(st, 1, runner, sizeof(runner));
	model_col_text(st, 2, host, sizeof(host));
	/* Only a runner of this host can be judged exactly (its process);
	 * another host's is that host's to judge (a host with no mount
	 * renews no lease, so a lease says nothing about it). */
	if (r->m->cluster && strcmp(host, model_host(r->m)) != 0)
		return 0;
	if (model_runner_alive(r->c, runner))
		return 0;
	r->ids[r->n++] = db_col_int64(st, 0);
	return r->n == (int)(sizeof(r->ids) / sizeof(r->ids[0]));
}

int model_writers_reap(model *m)
{
	struct reap r = {m, NULL, 0, {0}};
	db_stmt *st;
	int rc;

	if ((rc = model_conn_get(m, &r.c)) < 0)
		return rc;
	if (!(st = model_stmt(r.c, SQL("SELECT id, runner, host FROM writers WHERE task_id IS NULL"))))
		return -EIO;
	if ((rc = model_each_row(st, reap_row, &r)) < 0)
		return rc;
	for (int i = 0; i < r.n; i++) {
		if (!(st = model_stmt(r.c, SQL("DELETE FROM writers WHERE id = ? AND task_id IS NULL"))))
			return -EIO;
		db_bind_int64(st, 1, r.ids[i]);
		if ((rc = model_exec_stmt(st)) < 0)
			return rc;
		model_log(m, "writer %lld dropped: its process is gone", (long long)r.ids[i]);
	}
	return r.n;
}

struct cut {
	int64_t region_id;
	int64_t oldest_ns;
	int n;
	void (*report)(void *arg, const char *line);
	void *arg;
	const char *region;
};

static int cut_row(void *arg, db_stmt *st)
{
	struct cut *k = arg;
	char host[MODEL_HOST_MAX + 1], what[64], when[21], line[256];
	int64_t since = db_col_int64(st, 3);
	if (k->n++ == 0 || since < k->oldest_ns)
		k->oldest_ns = since;
	if (!k->report)
		return 0;
	model_col_text(st, 1, host, sizeof(host));
	model_col_text(st, 2, what, sizeof(what));
	model_fmt_time(when, since / 1000000000);
	if (db_col_null(st, 4))
		snprintf(line, sizeof(line), "region %s: %s on host %s writing since %s", k->region, what, host, when);
	else
		snprintf(line, sizeof(line), "region %s: %s (task %lld) on host %s writing since %s", k->region, what,
		         (long long)db_col_int64(st, 4), host, when);
	k->report(k->arg, line);
	return 0;
}

int model_writers_cut(model *m, int64_t region_id, const char *region, int64_t *not_after,
                      void (*report)(void *arg, const char *line), void *arg)
{
	struct cut k = {region_id, 0, 0, report, arg, region};
	struct model_conn *c;
	db_stmt *st;
	int rc;

	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	/* region_id 0: a region being made (its catalogue), any region. */
	if (!(st = model_stmt(c, SQL("SELECT id, host, what, since_ns, task_id FROM writers "
	                             "WHERE region_id IN (?1, 0)"))))
		return -EIO;
	db_bind_int64(st, 1, region_id);
	if ((rc = model_each_row(st, cut_row, &k)) < 0)
		return rc;
	if (k.n) {
		int64_t keep = k.oldest_ns / 1000000000 - WRITER_MARGIN;
		if (keep < *not_after)
			*not_after = keep;
	}
	return k.n;
}

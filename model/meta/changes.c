/*
 * changes.c — the change log.  Every mutation that a kernel might hold in
 * its caches (attributes, names, listings) appends one row inside its own
 * transaction; each mount's watcher (fs/fuse/watch.c) reads the rows after the
 * last one it saw and invalidates exactly those inodes and names.  This is
 * what lets the mounts use long entry and attribute timeouts — a tree walk
 * is then served from the kernel's caches — and still show a change made by
 * another process within the watcher's poll interval.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "model_int.h"

#define CHANGES_KEEP 600 /* seconds */

/* Now and then (every 1024th change this process logs), inside the
 * transaction that logs one, drops rows nobody needs: a mount that was
 * away that long revalidates through its timeouts. */
static int trim(struct model_conn *c)
{
	db_stmt *st;
	if (atomic_fetch_add_explicit(&c->m->changes_logged, 1, memory_order_relaxed) % 1024 != 1023 ||
	    !(st = model_stmt(c, SQL("DELETE FROM changes WHERE at < ?"))))
		return 0;
	db_bind_int64(st, 1, time(NULL) - CHANGES_KEEP);
	return model_exec_deferred(st);
}

int model_log_change(struct model_conn *c, enum model_change_kind kind, int64_t obj, int64_t region_id,
                     enum model_folder folder, const char *old_name)
{
	db_stmt *st = model_stmt(c, SQL("INSERT INTO changes(at, kind, obj, region_id, folder, name) "
	                                 "VALUES (?, ?, ?, ?, ?, ?)"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, time(NULL));
	db_bind_int(st, 2, kind);
	db_bind_int64(st, 3, obj);
	db_bind_int64(st, 4, region_id);
	db_bind_int(st, 5, folder);
	model_bind_text(st, 6, old_name);
	/* The row decides nothing in this transaction: it goes out with the
	 * commit (one round trip to PostgreSQL for both). */
	int rc = model_exec_deferred(st);
	return rc < 0 ? rc : trim(c);
}

int model_log_image_inserted(struct model_conn *c, const char *ext_id, int64_t ctime_ns)
{
	/* Changes of an image that is only being created are nobody's; no
	 * old name.  ext_id is unique, the time exact: the row is that insert's. */
	db_stmt *st = model_stmt(c, SQL("INSERT INTO changes(at, kind, obj, region_id, folder, name) SELECT ?, ?, id, "
	                                 "region_id, folder, NULL FROM images WHERE ext_id = ? AND ctime_ns = ?"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, time(NULL));
	db_bind_int(st, 2, MODEL_CHANGE_IMAGE);
	db_bind_text(st, 3, ext_id);
	db_bind_int64(st, 4, ctime_ns);
	int rc = model_exec_deferred(st);
	return rc < 0 ? rc : trim(c);
}

int64_t model_changes_head(model *m)
{
	struct model_conn *c;
	db_stmt *st;
	int64_t seq = 0;
	if (model_conn_get(m, &c) < 0 || !(st = model_stmt(c, SQL("SELECT COALESCE(max(seq), 0) FROM changes"))))
		return 0;
	if (db_step(st) == DB_ROW)
		seq = db_col_int64(st, 0);
	db_reset(st);
	return seq;
}

struct change_cb {
	int64_t *seq;
	int (*cb)(void *arg, const struct model_change *c);
	void *arg;
};

void model_change_image_of(struct model_change_image *out, const struct model_image *img)
{
	*out = (struct model_change_image){true, true, img->dir_gen, img->origin_id, ""};
	memcpy(out->origin_kind, img->origin_kind, sizeof(out->origin_kind));
}

static int change_each(void *arg, db_stmt *st)
{
	struct change_cb *c = arg;
	struct model_change ch = {0};
	ch.seq = db_col_int64(st, 0);
	ch.kind = db_col_int(st, 1);
	ch.obj = db_col_int64(st, 2);
	ch.region_id = db_col_int64(st, 3);
	ch.folder = db_col_int(st, 4);
	model_col_text(st, 5, ch.name, sizeof(ch.name));
	if (ch.kind == MODEL_CHANGE_IMAGE) {
		ch.img.known = true;
		ch.img.here = !db_col_null(st, 7);
		ch.img.dir_gen = db_col_int64(st, 7);
		ch.img.origin_id = db_col_int64(st, 8);
		model_col_text(st, 9, ch.img.origin_kind, sizeof(ch.img.origin_kind));
	}
	*c->seq = ch.seq;
	return c->cb(c->arg, &ch);
}

int model_changes_since(model *m, int64_t *seq, int (*cb)(void *arg, const struct model_change *c), void *arg)
{
	struct change_cb c = {seq, cb, arg};
	struct model_conn *conn;
	db_stmt *st;
	int rc, stop = 0, n;
	bool first = true;
	atomic_fetch_add_explicit(&m->change_reads, 1, memory_order_relaxed);
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	/* The rows, a page at a time (the limit keeps PostgreSQL on the index
	 * whatever its statistics say), each with the oldest row still kept
	 * and, for an image, what its invalidation needs of the image as it is
	 * now: one statement, which every mount's watcher runs at every
	 * commit anywhere. */
	do {
		if (!(st = model_stmt(conn, SQL_SCAN("reads only the change log's rows after the last one seen, a page "
		                                     "at a time",
		                                     "SELECT c.seq, c.kind, c.obj, c.region_id, c.folder, "
		                                     "COALESCE(c.name, ''), (SELECT min(seq) FROM changes), i.dir_gen, "
		                                     "i.origin_id, i.origin_kind FROM changes c LEFT JOIN images i ON "
		                                     "c.kind = ?2 AND i.id = c.obj WHERE c.seq > ?1 ORDER BY c.seq "
		                                     MODEL_PAGE_SQL))))
			return -EIO;
		db_bind_int64(st, 1, *seq);
		db_bind_int(st, 2, MODEL_CHANGE_IMAGE);
		for (n = 0; (rc = db_step(st)) == DB_ROW; n++) {
			/* Rows after *seq that were trimmed before this reader
			 * saw them: it cannot know what changed (a gap in the
			 * numbers can also be a transaction that rolled back; the
			 * caller's cost is the same).  A trim always comes with a
			 * row of its own transaction's, so there is a row to tell. */
			if (first && db_col_int64(st, 6) > *seq + 1) {
				db_reset(st);
				*seq = model_changes_head(m);
				return -ESTALE;
			}
			first = false;
			if ((stop = change_each(&c, st)) != 0)
				break;
		}
		db_reset(st);
	} while (!stop && rc == DB_DONE && n == MODEL_PAGE);
	return stop ? stop : db_errno(rc);
}

static int everything_row(void *arg, db_stmt *st)
{
	struct change_cb *c = arg;
	struct model_change ch = {0};
	ch.kind = db_col_int(st, 0);
	ch.obj = db_col_int64(st, 1);
	ch.region_id = db_col_int64(st, 2);
	ch.folder = db_col_int(st, 3);
	return c->cb(c->arg, &ch);
}

int model_changes_everything(model *m, int (*cb)(void *arg, const struct model_change *c), void *arg)
{
	struct change_cb c = {NULL, cb, arg};
	struct model_conn *conn;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	if (!(st = model_stmt(conn, SQL_SCAN("a mount that missed changes invalidates every object",
	                                     "SELECT ?1, id, region_id, folder FROM images UNION ALL "
	                                     "SELECT ?2, id, region_id, 0 FROM snapshots UNION ALL "
	                                     "SELECT ?3, id, region_id, 0 FROM instances"))))
		return -EIO;
	db_bind_int(st, 1, MODEL_CHANGE_IMAGE);
	db_bind_int(st, 2, MODEL_CHANGE_SNAPSHOT);
	db_bind_int(st, 3, MODEL_CHANGE_INSTANCE);
	return model_each_row(st, everything_row, &c);
}

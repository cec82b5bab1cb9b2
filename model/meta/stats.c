/*
 * stats.c — the counts /stats shows that live in the database or the open
 * stores: images by region and status, blob data by region, the task
 * queue by kind and state, and the chunk caches' counters.
 *
 * Who calls it: fs/fuse/stats.c, each time /stats is rendered (stat and open).
 *
 * Workload: /stats is read by scrapers every few seconds while the service
 * holds 100,000 images or more, so nothing here reads table rows: each
 * statement groups or sums columns of one index that holds them all
 * (images_status, blobs_stored, tasks_state_kind: db/schema_*.c), so the
 * database reads narrow index entries and answers a handful of rows.  It
 * still reads one entry per image or blob; counters kept by triggers would
 * make it constant, at the price of a write on every status change.
 */
#include <errno.h>

#include "imgfs_lock.h"
#include "model_int.h"

struct images_cb {
	int (*cb)(void *arg, int64_t region_id, enum model_image_status s, int64_t n);
	void *arg;
};

static int images_row(void *arg, db_stmt *st)
{
	struct images_cb *c = arg;
	int64_t s = db_col_int64(st, 1);
	if (s <= MODEL_IMG_INVALID || s >= MODEL_IMG_STATUS_COUNT)
		return 0; /* not a status this program knows: fsck's business */
	return c->cb(c->arg, db_col_int64(st, 0), (enum model_image_status)s, db_col_int64(st, 2));
}

int model_stats_images(model *m, int (*cb)(void *arg, int64_t region_id, enum model_image_status s, int64_t n),
                       void *arg)
{
	struct images_cb c = {cb, arg};
	struct model_conn *conn;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	if (!(st = model_stmt(conn, SQL_SCAN("/stats counts every image: from the index images_status, not the rows",
	                                     "SELECT region_id, status, COUNT(*) FROM images "
	                                     "GROUP BY region_id, status ORDER BY region_id, status"))))
		return -EIO;
	return model_each_row(st, images_row, &c);
}

struct blobs_cb {
	int (*cb)(void *arg, int64_t region_id, int64_t chunks, int64_t bytes);
	void *arg;
};

static int blobs_row(void *arg, db_stmt *st)
{
	struct blobs_cb *c = arg;
	return c->cb(c->arg, db_col_int64(st, 0), db_col_int64(st, 1), db_col_int64(st, 2));
}

int model_stats_blobs(model *m, int (*cb)(void *arg, int64_t region_id, int64_t chunks, int64_t bytes), void *arg)
{
	struct blobs_cb c = {cb, arg};
	struct model_conn *conn;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	/* stored is the bytes of a blob's data chunks; all but its last chunk
	 * are whole, so rounding up counts its data chunks exactly. */
	if (!(st = model_stmt(conn, SQL_SCAN("/stats sums every blob: from the index blobs_stored, not the rows",
	                                     "SELECT region_id, COALESCE(SUM((stored + ?1 - 1) / ?1), 0), "
	                                     "COALESCE(SUM(stored), 0) FROM blobs GROUP BY region_id ORDER BY region_id"))))
		return -EIO;
	db_bind_int64(st, 1, BLOB_CHUNK_SIZE);
	return model_each_row(st, blobs_row, &c);
}

struct tasks_cb {
	int (*cb)(void *arg, const char *kind, const char *state, int64_t n);
	void *arg;
};

static int tasks_row(void *arg, db_stmt *st)
{
	struct tasks_cb *c = arg;
	char kind[64], state[64];
	model_col_text(st, 0, kind, sizeof(kind));
	model_col_text(st, 1, state, sizeof(state));
	return c->cb(c->arg, kind, state, db_col_int64(st, 2));
}

int model_stats_tasks(model *m, int (*cb)(void *arg, const char *kind, const char *state, int64_t n), void *arg)
{
	struct tasks_cb c = {cb, arg};
	struct model_conn *conn;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	if (!(st = model_stmt(conn, SQL_SCAN("/stats counts the queue (finished tasks are deleted): from the index "
	                                     "tasks_state_kind, not the rows",
	                                     "SELECT kind, state, COUNT(*) FROM tasks GROUP BY state, kind "
	                                     "ORDER BY state, kind"))))
		return -EIO;
	return model_each_row(st, tasks_row, &c);
}

int model_stats_caches(model *m, int (*cb)(void *arg, int64_t region_id, uint64_t hits, uint64_t misses),
                       void *arg)
{
	int rc = 0;
	/* Only the stores already open: /stats opens none (a RADOS store
	 * connects to its cluster).  A store stays open until model_close. */
	for (int64_t id = 0; id < MODEL_MAX_REGIONS && rc == 0; id++) {
		IMGFS_LOCK(&m->lock, model_lock);
		blob_store *s = m->stores[id];
		IMGFS_UNLOCK(&m->lock, model_lock);
		if (s)
			rc = cb(arg, id, blob_store_cache_hits(s), blob_store_cache_misses(s));
	}
	return rc;
}

/*
 * sql_test.h — direct SQL on a fixture's model (rows the API cannot reach
 * yet, through the model's own driver: both databases) and the API
 * shortcuts the model and fs/ tests share (an account, an image).
 */
#ifndef IMGFS_SQL_TEST_H
#define IMGFS_SQL_TEST_H

#include "fixture_test.h"

/* ---- direct SQL ------------------------------------------------------------ */

/* The SQLite database itself, on a second connection: only for tests of
 * SQLite's own files (schema migrations) while no model is open. */
static inline sqlite3 *ut_db(struct ut_fx *fx)
{
	char path[128];

	if (!fx->db) {
		snprintf(path, sizeof path, "%s/imgfs.db", fx->dir);
		assert_int_equal(sqlite3_open_v2(path, &fx->db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		sqlite3_busy_timeout(fx->db, 10000);
	}
	return fx->db;
}

/* Executes SQL formatted by sqlite3_mprintf (%q, %Q allowed; the quoting
 * is standard SQL's) that returns no rows, on the model's connection; fails
 * the test on an error. */
static inline void ut_sql(struct ut_fx *fx, const char *fmt, ...)
{
	struct model_conn *c;
	char *sql;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	assert_non_null(sql);
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	if ((rc = model_exec(c, sql)) < 0)
		fail_msg("sql %s: %d", sql, rc);
	sqlite3_free(sql);
}

/* The integer a one-row, one-column query returns. */
static inline int64_t ut_sql_int(struct ut_fx *fx, const char *fmt, ...)
{
	char *sql;
	int64_t v = 0;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	assert_non_null(sql);
	if ((rc = model_sql_int(fx->m, sql, &v)) < 0)
		fail_msg("sql %s: %d", sql, rc);
	sqlite3_free(sql);
	return v;
}

/* Holds the database's write lock (what every writer takes first) on the
 * test thread's connection until ut_write_unlock: other threads' writes
 * wait meanwhile.  The PostgreSQL driver sends BEGIN and the lock with a
 * transaction's first statement: one is run. */
static inline void ut_write_lock(struct ut_fx *fx)
{
	struct model_conn *c;
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_sql_exec(fx->m, "SELECT 1"), 0);
}

static inline void ut_write_unlock(struct ut_fx *fx)
{
	struct model_conn *c;
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	assert_int_equal(model_write_end(c, 0, NULL), 0);
}

/* An ad-hoc statement with parameters on the model's connection (db.h's
 * API: db_bind_*, db_step, db_col_*); end it with ut_finalize. */
static inline db_stmt *ut_prepare(struct ut_fx *fx, const char *sql)
{
	struct model_sql *q = calloc(1, sizeof *q);
	struct model_conn *c;
	db_stmt *st = NULL;

	assert_non_null(q);
	q->text = sql;
	q->may_scan = "a test's own statement";
	q->file = __FILE__;
	q->line = __LINE__;
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	if (c->drv->prepare(c->db, q, &st) < 0)
		fail_msg("sql %s does not prepare", sql);
	return st;
}

static inline void ut_finalize(db_stmt *st)
{
	struct model_sql *q = (struct model_sql *)st->sql;
	st->drv->finalize(st);
	free(q);
}

/* Puts an image into a status (and nothing else) behind the model's back. */
static inline void ut_force_status(struct ut_fx *fx, int64_t id, enum model_image_status s)
{
	ut_sql(fx, "UPDATE images SET status = %d WHERE id = %lld", (int)s, (long long)id);
}

/* Moves a private image into the recycle bin as SPEC §6.1 describes it
 * (status deleted, deleted_at now): the model has no operation for it yet. */
static inline void ut_force_recycle(struct ut_fx *fx, int64_t id, int64_t deleted_at)
{
	ut_sql(fx, "UPDATE images SET folder = %d, status = %d, deleted_at = %lld WHERE id = %lld",
	       (int)MODEL_FOLDER_RECYCLE, (int)MODEL_IMG_DELETED, (long long)deleted_at, (long long)id);
}

/* Shares an image with an account (SPEC §6.4), by row. */
static inline void ut_force_share(struct ut_fx *fx, int64_t image_id, int64_t account_id)
{
	ut_sql(fx, "INSERT INTO shares(image_id, account_id, created) VALUES (%lld, %lld, %lld)", (long long)image_id,
	       (long long)account_id, (long long)time(NULL));
}

/* ---- API shortcuts ------------------------------------------------------------ */

/* Adds an account (no uid) and returns its id. */
static inline int64_t ut_account(struct ut_fx *fx, const char *name)
{
	struct model_err err = {0};
	struct model_account a;
	int rc = model_account_add(fx->m, name, -1, &err);

	if (rc < 0)
		fail_msg("model_account_add %s: %d %s", name, rc, err.msg);
	assert_int_equal(model_account_by_name(fx->m, name, &a), 0);
	return a.id;
}

/* The id of account name, added (no uid) the first time. */
static inline int64_t ut_account_once(struct ut_fx *fx, const char *name)
{
	struct model_account a;

	if (model_account_by_name(fx->m, name, &a) == 0)
		return a.id;
	return ut_account(fx, name);
}

/* Creates a queued image and returns its id. */
static inline int64_t ut_image(struct ut_fx *fx, int64_t region_id, int64_t account_id, enum model_folder folder,
                               const char *name)
{
	struct model_err err = {0};
	struct model_image img;
	int rc = model_image_create(fx->m, region_id, account_id, folder, name, &img, &err);

	if (rc < 0)
		fail_msg("model_image_create %s: %d %s", name, rc, err.msg);
	assert_true(img.id > 0);
	return img.id;
}

/* A platform image by folder and name, in region_id. */
static inline struct model_image ut_platform(struct ut_fx *fx, int64_t region_id, enum model_folder folder,
                                             const char *name)
{
	struct model_image img;
	int rc = model_image_lookup(fx->m, region_id, 0, folder, name, &img);

	if (rc < 0)
		fail_msg("no %s/%s: %d", model_folder_name(folder), name, rc);
	return img;
}

static inline struct model_image ut_get(struct ut_fx *fx, int64_t id)
{
	struct model_image img;

	assert_int_equal(model_image_get(fx->m, id, &img), 0);
	return img;
}

#endif

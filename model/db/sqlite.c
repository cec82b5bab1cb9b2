/*
 * sqlite.c — the SQLite driver (db.h): the embedded default, one database
 * file in the state directory (<state>/imgfs.db).
 *
 * Connections: one per thread (db.c), WAL mode so readers never wait for
 * the writer, across processes too; synchronous=FULL so a commit that
 * returned survives a power cut (SPEC §11); foreign keys on; a 10 s busy
 * timeout.  Write transactions are BEGIN IMMEDIATE: the write lock is taken
 * at BEGIN, so writers are serialised and a transaction's reads are those
 * of the last commit (the model's check-then-write needs no retry).
 *
 * The shared dialect (db.h) is SQLite's own, so statements are prepared as
 * written.  This file is the only one that includes <sqlite3.h> besides the
 * unit tests' fixtures, and sqlite_errno() the one translation of SQLite's
 * result codes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "imgfs_lock.h"
#include "model_int.h"

struct sqlite_conn {
	struct db_conn base;
	sqlite3 *db;
	int64_t seen; /* data_version at the last wait_change */
};

/* Commits of write transactions by this process's connections: a watcher
 * waiting in wait_change wakes on them at once rather than at its next
 * poll of data_version (a task this mount ran is seen ending, and `imgfs
 * wait` returns, within milliseconds, not up to SQ_POLL_MS later).  Other
 * processes' commits are still found by the poll. */
static pthread_mutex_t commits_lock = PTHREAD_MUTEX_INITIALIZER;
IMGFS_LOCK_LEVEL(commits_lock, 54);
static pthread_cond_t commits_cond;
static pthread_once_t commits_once = PTHREAD_ONCE_INIT;
static uint64_t commits;

static void commits_init(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&commits_cond, &ca);
	pthread_condattr_destroy(&ca);
}

static uint64_t commits_seen(void)
{
	uint64_t k;
	pthread_once(&commits_once, commits_init);
	IMGFS_LOCK(&commits_lock, commits_lock);
	k = commits;
	IMGFS_UNLOCK(&commits_lock, commits_lock);
	return k;
}

static void commits_tell(void)
{
	pthread_once(&commits_once, commits_init);
	IMGFS_LOCK(&commits_lock, commits_lock);
	commits++;
	pthread_cond_broadcast(&commits_cond);
	IMGFS_UNLOCK(&commits_lock, commits_lock);
}

/* Until a commit after `seen` or the monotonic time `until`: true when a
 * commit came. */
static bool commits_wait(uint64_t seen, int64_t until)
{
	struct timespec t = model_mono_timespec(until);
	bool came;
	IMGFS_LOCK(&commits_lock, commits_lock);
	while (commits == seen && IMGFS_COND_TIMEDWAIT(&commits_cond, &commits_lock, &t, commits_lock) == 0)
		;
	came = commits != seen;
	IMGFS_UNLOCK(&commits_lock, commits_lock);
	return came;
}

struct sqlite_stmt {
	db_stmt base;
	sqlite3_stmt *st;
};

#define CONN(c) ((struct sqlite_conn *)(c))
#define ST(s) (((struct sqlite_stmt *)(s))->st)

static int sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return 0;
	case SQLITE_ROW:
		return DB_ROW;
	case SQLITE_DONE:
		return DB_DONE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_TOOBIG:
		return -E2BIG;
	default:
		return -EIO;
	}
}

static int sq_exec(struct db_conn *c, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(CONN(c)->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "imgfs: sql: %s\n", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return sqlite_errno(rc);
	}
	return 0;
}

static void sq_close(struct db_conn *c)
{
	if (!c)
		return;
	sqlite3_close(CONN(c)->db);
	free(c);
}

/* Every thread has its connection (db.c) and every connection its page
 * cache, 2 MB by default: a mount whose FUSE loop grew to 32 threads kept
 * 64 MB of copies of the same pages (92 MiB RSS after a walk of 100,000
 * images under load, 30 MiB with 11 threads).  One limit for the process
 * instead: above it SQLite recycles the least recently used cache pages of
 * any connection, and the kernel's page cache still holds the file. */
#define SQ_HEAP_LIMIT (16LL << 20)

static void sq_limit_heap(void)
{
	sqlite3_soft_heap_limit64(SQ_HEAP_LIMIT);
}

static int sq_open(struct db_conn **out, const char *path, struct model_err *err)
{
	static pthread_once_t limit_once = PTHREAD_ONCE_INIT;
	struct sqlite_conn *c = calloc(1, sizeof(*c));
	int rc;
	if (!c)
		return -ENOMEM;
	pthread_once(&limit_once, sq_limit_heap);
	c->base.drv = &db_sqlite;
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		model_fail(err, sqlite_errno(rc) < 0 ? sqlite_errno(rc) : -EIO, "cannot open %s: %s", path,
		           c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return err ? err->code : -EIO;
	}
	sqlite3_busy_timeout(c->db, 10000);
	sqlite3_extended_result_codes(c->db, 1);
	if ((rc = sq_exec(&c->base, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")) < 0) {
		model_fail(err, rc, "cannot set up %s", path);
		sq_close(&c->base);
		return rc;
	}
	*out = &c->base;
	return 0;
}

static int sq_prepare(struct db_conn *c, const struct model_sql *sql, db_stmt **out)
{
	struct sqlite_stmt *s = calloc(1, sizeof(*s));
	int rc;
	if (!s)
		return -ENOMEM;
	rc = sqlite3_prepare_v3(CONN(c)->db, sql->text, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "imgfs: sql (%s:%d): %s: %s\n", sql->file, sql->line, sqlite3_errmsg(CONN(c)->db),
		        sql->text);
		free(s);
		return sqlite_errno(rc) < 0 ? sqlite_errno(rc) : -EIO;
	}
	s->base.drv = &db_sqlite;
	s->base.conn = c;
	s->base.sql = sql;
	*out = &s->base;
	return 0;
}

static void sq_finalize(db_stmt *st)
{
	if (!st)
		return;
	sqlite3_finalize(ST(st));
	free(st);
}

/* Adds what the statement read in full scans to the model's counter,
 * unless the statement is allowed to scan. */
static void count_scans(db_stmt *st)
{
	int n = sqlite3_stmt_status(ST(st), SQLITE_STMTSTATUS_FULLSCAN_STEP, 1) +
	        sqlite3_stmt_status(ST(st), SQLITE_STMTSTATUS_AUTOINDEX, 1);
	if (n > 0 && !st->sql->may_scan && st->conn->scan_steps)
		atomic_fetch_add(st->conn->scan_steps, n);
}

static int sq_step(db_stmt *st)
{
	int rc = sqlite3_step(ST(st));
	if (rc == SQLITE_ROW && st->conn->rows)
		atomic_fetch_add_explicit(st->conn->rows, 1, memory_order_relaxed);
	if (rc != SQLITE_ROW)
		count_scans(st);
	return sqlite_errno(rc);
}

static void sq_reset(db_stmt *st)
{
	count_scans(st);
	sqlite3_reset(ST(st));
	sqlite3_clear_bindings(ST(st));
}

static void sq_rewind(db_stmt *st)
{
	count_scans(st);
	sqlite3_reset(ST(st));
}

static int sq_begin_write(struct db_conn *c)
{
	return sq_exec(c, "BEGIN IMMEDIATE");
}

static int sq_begin_read(struct db_conn *c)
{
	return sq_exec(c, "BEGIN DEFERRED");
}

static int sq_commit(struct db_conn *c)
{
	bool writing = sqlite3_txn_state(CONN(c)->db, NULL) == SQLITE_TXN_WRITE;
	int rc = sq_exec(c, "COMMIT");
	if (rc == 0 && writing)
		commits_tell();
	return rc;
}

static void sq_rollback(struct db_conn *c)
{
	if (!sqlite3_get_autocommit(CONN(c)->db))
		sq_exec(c, "ROLLBACK");
}

static int sq_schema(struct db_conn *c)
{
	sqlite3_stmt *st;
	char set[64];
	int version = 0, rc;

	if ((rc = sq_begin_write(c)) < 0)
		return rc;
	if (sqlite3_prepare_v2(CONN(c)->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto out;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > schema_sqlite_version) {
		rc = -EPROTONOSUPPORT;
		goto out;
	}
	for (int v = version; v < schema_sqlite_version; v++)
		if ((rc = sq_exec(c, schema_sqlite_steps[v])) < 0)
			goto out;
	snprintf(set, sizeof(set), "PRAGMA user_version = %d", schema_sqlite_version);
	if (version < schema_sqlite_version && (rc = sq_exec(c, set)) < 0)
		goto out;
	return sq_commit(c);
out:
	sq_rollback(c);
	return rc;
}

static int64_t sq_changes(struct db_conn *c)
{
	return sqlite3_changes(CONN(c)->db);
}

/* PRAGMA data_version: changes whenever another connection commits. */
static int64_t sq_data_version(struct db_conn *c)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(CONN(c)->db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* SQLite cannot be told of another process's commit: poll data_version
 * every SQ_POLL_MS, and wake at once on a write committed by this
 * process (commits_tell): 2 when that is what found the change. */
#define SQ_POLL_MS 200
static int sq_wait_change(struct db_conn *c, int timeout_ms)
{
	int64_t end = model_mono_ns() + (int64_t)timeout_ms * 1000000;
	bool woken = false;
	for (;;) {
		uint64_t k = commits_seen(); /* before the look: none is missed */
		int64_t v = sq_data_version(c);
		if (v < 0)
			return -EIO;
		if (v != CONN(c)->seen) {
			CONN(c)->seen = v;
			return woken ? 2 : 1;
		}
		int64_t now = model_mono_ns(), poll = now + SQ_POLL_MS * 1000000LL;
		if (now >= end)
			return 0;
		woken = commits_wait(k, poll < end ? poll : end);
	}
}

static int sq_explain(struct db_conn *c, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st;
	char *q;
	size_t n = 0;
	int rc;
	if (cap)
		out[0] = '\0';
	if (!(q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql)))
		return -ENOMEM;
	rc = sqlite3_prepare_v2(CONN(c)->db, q, -1, &st, NULL);
	sqlite3_free(q);
	if (rc != SQLITE_OK)
		return -EINVAL;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);
		int w = snprintf(out + n, n < cap ? cap - n : 0, "%s\n", d ? d : "");
		if (w > 0)
			n += (size_t)w;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int sq_bind_int64(db_stmt *st, int i, int64_t v)
{
	return sqlite_errno(sqlite3_bind_int64(ST(st), i, v));
}

static int sq_bind_text(db_stmt *st, int i, const char *s)
{
	if (!s)
		return sqlite_errno(sqlite3_bind_null(ST(st), i));
	return sqlite_errno(sqlite3_bind_text(ST(st), i, s, -1, SQLITE_TRANSIENT));
}

static int sq_bind_blob(db_stmt *st, int i, const void *p, size_t n)
{
	if (n > INT32_MAX)
		return -E2BIG;
	return sqlite_errno(sqlite3_bind_blob(ST(st), i, p, (int)n, SQLITE_TRANSIENT));
}

static int sq_bind_null(db_stmt *st, int i)
{
	return sqlite_errno(sqlite3_bind_null(ST(st), i));
}

static int64_t sq_col_int64(db_stmt *st, int i)
{
	return sqlite3_column_int64(ST(st), i);
}

static const char *sq_col_text(db_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(ST(st), i);
}

static const void *sq_col_blob(db_stmt *st, int i)
{
	return sqlite3_column_blob(ST(st), i);
}

static size_t sq_col_bytes(db_stmt *st, int i)
{
	return (size_t)sqlite3_column_bytes(ST(st), i);
}

static bool sq_col_null(db_stmt *st, int i)
{
	return sqlite3_column_type(ST(st), i) == SQLITE_NULL;
}

static int sq_col_count(db_stmt *st)
{
	return sqlite3_column_count(ST(st));
}

static const char *sq_col_name(db_stmt *st, int i)
{
	return sqlite3_column_name(ST(st), i);
}

static int sq_col_type(db_stmt *st, int i)
{
	switch (sqlite3_column_type(ST(st), i)) {
	case SQLITE_INTEGER: return DB_INTEGER;
	case SQLITE_BLOB: return DB_BLOB;
	case SQLITE_NULL: return DB_NULL;
	default: return DB_TEXT; /* text, and the floats the schema never stores */
	}
}

const struct db_driver db_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.prepare = sq_prepare,
	.finalize = sq_finalize,
	.exec = sq_exec,
	.schema = sq_schema,
	.begin_write = sq_begin_write,
	.begin_read = sq_begin_read,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.changes = sq_changes,
	.wait_change = sq_wait_change,
	.explain = sq_explain,
	.step = sq_step,
	.reset = sq_reset,
	.rewind = sq_rewind,
	.bind_int64 = sq_bind_int64,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.col_int64 = sq_col_int64,
	.col_text = sq_col_text,
	.col_blob = sq_col_blob,
	.col_bytes = sq_col_bytes,
	.col_null = sq_col_null,
	.col_count = sq_col_count,
	.col_name = sq_col_name,
	.col_type = sq_col_type,
};

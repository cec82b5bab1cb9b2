/*
 * db.c — per-thread SQLite connections, the prepared-statement cache,
 * transactions and the SQLite → errno mapping.
 *
 * Every thread that touches the model gets its own connection (WAL mode:
 * readers run concurrently with one writer, across processes too).  The
 * connections of threads still alive are closed by model_close; a thread
 * that exits closes its own through the pthread key destructor.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

int model_fail(struct model_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

int model_sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
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

static void conn_close(struct model_conn *c)
{
	for (int i = 0; i < MODEL_STMT_CACHE; i++)
		sqlite3_finalize(c->cache[i].st);
	sqlite3_close(c->db);
	free(c);
}

static void conn_unlink(model *m, struct model_conn *c)
{
	pthread_mutex_lock(&m->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&m->lock);
}

static void conn_destructor(void *p)
{
	struct model_conn *c = p;
	conn_unlink(c->m, c);
	conn_close(c);
}

int model_conns_init(model *m)
{
	return pthread_key_create(&m->conn_key, conn_destructor) == 0 ? 0 : -EAGAIN;
}

void model_conns_close(model *m)
{
	struct model_conn *c = pthread_getspecific(m->conn_key);
	if (c)
		pthread_setspecific(m->conn_key, NULL);
	while (m->conns) {
		c = m->conns;
		m->conns = c->next;
		conn_close(c);
	}
	pthread_key_delete(m->conn_key);
}

static int conn_open(model *m, struct model_conn **out)
{
	struct model_conn *c = calloc(1, sizeof(*c));
	int rc;
	if (!c)
		return -ENOMEM;
	c->m = m;
	rc = sqlite3_open_v2(m->db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = model_sqlite_errno(rc);
		sqlite3_close(c->db);
		free(c);
		return rc;
	}
	sqlite3_busy_timeout(c->db, 10000);
	sqlite3_extended_result_codes(c->db, 1);
	/* synchronous=FULL: a change that returned success survives power loss,
	 * not only kill -9 (SPEC §11). */
	rc = model_exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
	if (rc < 0) {
		conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int model_conn_get(model *m, struct model_conn **out)
{
	struct model_conn *c = pthread_getspecific(m->conn_key);
	int rc;
	if (c) {
		*out = c;
		return 0;
	}
	if ((rc = conn_open(m, &c)) < 0)
		return rc;
	pthread_mutex_lock(&m->lock);
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	pthread_mutex_unlock(&m->lock);
	pthread_setspecific(m->conn_key, c);
	*out = c;
	return 0;
}

sqlite3_stmt *model_stmt(struct model_conn *c, const char *sql)
{
	/* Keyed by the literal's address: each call site has its own slot. */
	size_t h = ((uintptr_t)sql >> 3) % MODEL_STMT_CACHE;
	for (size_t n = 0; n < MODEL_STMT_CACHE; n++) {
		size_t i = (h + n) % MODEL_STMT_CACHE;
		if (c->cache[i].sql == sql) {
			sqlite3_reset(c->cache[i].st);
			sqlite3_clear_bindings(c->cache[i].st);
			return c->cache[i].st;
		}
		if (!c->cache[i].sql) {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
				fprintf(stderr, "imgfs: sql: %s: %s\n", sqlite3_errmsg(c->db), sql);
				return NULL;
			}
			c->cache[i].sql = sql;
			c->cache[i].st = st;
			return st;
		}
	}
	fprintf(stderr, "imgfs: sql: statement cache full\n");
	return NULL;
}

int model_exec_stmt(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return model_sqlite_errno(rc);
}

int model_each_row(sqlite3_stmt *st, int (*row)(void *arg, sqlite3_stmt *st), void *arg)
{
	int rc, stop = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((stop = row(arg, st)) != 0)
			break;
	sqlite3_reset(st);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : model_sqlite_errno(rc);
}

int model_one_row(sqlite3_stmt *st, void (*fill)(sqlite3_stmt *st, void *out), void *out)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		fill(st, out);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : model_sqlite_errno(rc);
}

int model_fetch_one(model *m, const char *sql, const char *text, int64_t num,
                    void (*fill)(sqlite3_stmt *st, void *out), void *out)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, sql)))
		return -EIO;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, num);
	return model_one_row(st, fill, out);
}

int model_exec(struct model_conn *c, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "imgfs: sql: %s\n", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return model_sqlite_errno(rc);
	}
	return 0;
}

int model_begin(struct model_conn *c)
{
	if (c->depth++ > 0)
		return 0;
	int rc = model_exec(c, "BEGIN IMMEDIATE");
	if (rc < 0)
		c->depth = 0;
	return rc;
}

int model_write_begin(model *m, struct model_conn **out, struct model_err *err)
{
	int rc;
	if ((rc = model_conn_get(m, out)) < 0)
		return model_fail(err, rc, "database: %s", strerror(-rc));
	if ((rc = model_begin(*out)) < 0)
		return model_fail(err, rc, "database busy");
	return 0;
}

int model_commit(struct model_conn *c)
{
	if (--c->depth > 0)
		return 0;
	int rc = model_exec(c, "COMMIT");
	if (rc < 0)
		model_exec(c, "ROLLBACK");
	return rc;
}

void model_rollback(struct model_conn *c)
{
	if (c->depth > 0 && --c->depth > 0)
		return;
	c->depth = 0;
	if (!sqlite3_get_autocommit(c->db))
		model_exec(c, "ROLLBACK");
}

int model_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (!s)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

void model_col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(out, t, n);
	out[n] = '\0';
}

int64_t model_generation(model *m)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int64_t v = -1;
	if (model_conn_get(m, &c) < 0 || !(st = model_stmt(c, "PRAGMA data_version")))
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/*
 * db.c — the model's side of the database: one connection per thread, the
 * prepared-statement cache, nested transactions and the stepping helpers
 * every model file uses.  What a database engine does differently is its
 * driver's (db.h; sqlite.c).
 *
 * Every thread that touches the model gets its own connection (readers run
 * concurrently with the one writer, across processes too).  The
 * connections of threads still alive are closed by model_close; a thread
 * that exits closes its own through the pthread key destructor.
 *
 * The statement cache is per connection, an open-addressed table keyed by
 * the address of the statement's registry record (SQL() in db.h), so each
 * statement is prepared once per connection and found again without
 * comparing its text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imgfs_lock.h"
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

static void conn_close(struct model_conn *c)
{
	for (int i = 0; i < MODEL_STMT_CACHE; i++)
		if (c->cache[i].st)
			c->drv->finalize(c->cache[i].st);
	c->drv->close(c->db);
	free(c);
}

static void conn_unlink(model *m, struct model_conn *c)
{
	IMGFS_LOCK(&m->lock, model_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	IMGFS_UNLOCK(&m->lock, model_lock);
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

/* A driver's line (db_conn.log): into the model's log once it has one
 * (set after the first connections are made), else on stderr. */
static void conn_log(void *arg, const char *line)
{
	model *m = arg;
	if (m->log_fn)
		model_log(m, "%s", line);
	else
		fprintf(stderr, "imgfs: %s\n", line);
}

static int conn_open(model *m, struct model_conn **out)
{
	struct model_conn *c = calloc(1, sizeof(*c));
	int rc;
	if (!c)
		return -ENOMEM;
	c->m = m;
	c->drv = m->drv;
	if ((rc = c->drv->open(&c->db, m->db_target, NULL)) < 0) {
		free(c);
		return rc;
	}
	c->db->scan_steps = &m->scan_steps;
	c->db->rows = &m->rows;
	c->db->round_trips = &m->round_trips;
	c->db->connected_ms = &m->db_connected_ms;
	c->db->write_gen = &m->rows_gen;
	c->db->log = conn_log;
	c->db->log_arg = m;
	c->db->quiet_key = m->quiet_key;
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
	IMGFS_LOCK(&m->lock, model_lock);
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	IMGFS_UNLOCK(&m->lock, model_lock);
	pthread_setspecific(m->conn_key, c);
	*out = c;
	return 0;
}

/* Whether text is a query that changes nothing: anything else (INSERT,
 * UPDATE, DELETE, a WITH that may hold one) counts as a write. */
static bool is_select(const char *text)
{
	while (*text == ' ' || *text == '\n' || *text == '\t')
		text++;
	return strncasecmp(text, "SELECT", 6) == 0;
}

/* Something may have changed rows: what the model cached of them is old. */
static void rows_changed(model *m)
{
	atomic_fetch_add(&m->rows_gen, 1);
}

db_stmt *model_stmt(struct model_conn *c, const struct model_sql *sql)
{
	size_t h = ((uintptr_t)sql >> 3) % MODEL_STMT_CACHE;
	atomic_fetch_add_explicit(&c->m->statements, 1, memory_order_relaxed);
	for (size_t n = 0; n < MODEL_STMT_CACHE; n++) {
		size_t i = (h + n) % MODEL_STMT_CACHE;
		if (c->cache[i].sql == sql) {
			db_reset(c->cache[i].st);
			return c->cache[i].st;
		}
		if (!c->cache[i].sql) {
			db_stmt *st;
			if (c->drv->prepare(c->db, sql, &st) < 0)
				return NULL;
			st->writes = !is_select(sql->text);
			c->cache[i].sql = sql;
			c->cache[i].st = st;
			return st;
		}
	}
	fprintf(stderr, "imgfs: sql: statement cache full\n");
	return NULL;
}

int model_insert(db_stmt *st, int64_t *id_out)
{
	int rc = db_step(st);
	if (rc == DB_ROW)
		*id_out = db_col_int64(st, 0);
	db_reset(st);
	return rc == DB_ROW ? 0 : rc == DB_DONE ? -EIO : rc;
}

int model_exec_stmt(db_stmt *st)
{
	int rc = db_step(st);
	db_reset(st);
	return db_errno(rc);
}

int model_exec_deferred(db_stmt *st)
{
	if (!st->drv->defer)
		return model_exec_stmt(st);
	int rc = st->drv->defer(st);
	db_reset(st);
	return rc;
}

int model_send(db_stmt *st)
{
	if (!st->drv->send)
		return db_step(st);
	int rc = st->drv->send(st);
	return rc < 0 ? rc : 1;
}

int model_each_row(db_stmt *st, int (*row)(void *arg, db_stmt *st), void *arg)
{
	int rc, stop = 0;
	while ((rc = db_step(st)) == DB_ROW)
		if ((stop = row(arg, st)) != 0)
			break;
	db_reset(st);
	if (stop)
		return stop;
	return db_errno(rc);
}

int model_each_page(struct model_conn *c, const struct model_sql *sql, const int64_t *params, int nparams,
                    int key_col, int (*row)(void *arg, db_stmt *st), void *arg)
{
	int64_t after = params[nparams - 1];
	for (;;) {
		db_stmt *st = model_stmt(c, sql);
		int n = 0, rc, stop = 0;
		if (!st)
			return -EIO;
		for (int i = 0; i < nparams - 1; i++)
			db_bind_int64(st, i + 1, params[i]);
		db_bind_int64(st, nparams, after);
		while ((rc = db_step(st)) == DB_ROW) {
			after = db_col_int64(st, key_col);
			n++;
			if ((stop = row(arg, st)) != 0)
				break;
		}
		db_reset(st);
		if (stop)
			return stop;
		if (rc != DB_DONE)
			return db_errno(rc);
		if (n < MODEL_PAGE)
			return 0;
	}
}

int model_one_row(db_stmt *st, void (*fill)(db_stmt *st, void *out), void *out)
{
	int rc = db_step(st);
	if (rc == DB_ROW)
		fill(st, out);
	db_reset(st);
	return rc == DB_ROW ? 0 : rc == DB_DONE ? -ENOENT : db_errno(rc);
}

int model_fetch_one(model *m, const struct model_sql *sql, const char *text, int64_t num,
                    void (*fill)(db_stmt *st, void *out), void *out)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, sql)))
		return -EIO;
	if (text)
		db_bind_text(st, 1, text);
	else
		db_bind_int64(st, 1, num);
	return model_one_row(st, fill, out);
}

int model_exec(struct model_conn *c, const char *sql)
{
	int rc = c->drv->exec(c->db, sql);
	rows_changed(c->m);
	return rc;
}

int model_read_begin(model *m)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (c->read_depth++ > 0 || c->depth > 0 || !c->drv->begin_read)
		return 0;
	if ((rc = c->drv->begin_read(c->db)) == 0)
		c->read_open = true;
	return 0; /* without it the reads are each their own transaction */
}

/* Ends the read transaction c has open, if any. */
static void read_close(struct model_conn *c)
{
	if (c->read_open && c->depth == 0) {
		c->read_open = false;
		if (c->drv->commit(c->db) < 0)
			c->drv->rollback(c->db);
	}
}

void model_read_end(model *m)
{
	struct model_conn *c;
	if (model_conn_get(m, &c) < 0 || c->read_depth == 0)
		return;
	if (--c->read_depth == 0)
		read_close(c);
}

/* ---- write transactions ----------------------------------------------------------
 *
 * A writer has one shape (docs/style.md, "Errors"):
 *
 *	if ((rc = model_write_begin(m, &c, err)) < 0)
 *		return rc;
 *	... each step: if ((rc = step(c, ..., err)) < 0) goto out; ...
 *	out:
 *	return model_write_end(c, rc, err);
 *
 * Beginning, committing and rolling back are this file's own: nothing
 * else in the model can end a transaction, so every end passes
 * model_write_end, which tells each failure with its reason.  Nesting
 * only counts (a writer called inside another's transaction): the
 * outermost end decides, and an inner failure is its caller's to pass
 * on. */

static int txn_begin(struct model_conn *c)
{
	if (c->depth++ > 0)
		return 0;
	/* A write inside a group of reads: the reads' transaction ends first
	 * (a SQLite read transaction cannot become a write one safely). */
	read_close(c);
	atomic_fetch_add_explicit(&c->m->writes, 1, memory_order_relaxed);
	int rc = c->drv->begin_write(c->db);
	if (rc < 0)
		c->depth = 0;
	return rc;
}

static int txn_commit(struct model_conn *c)
{
	if (--c->depth > 0)
		return 0;
	int rc = c->drv->commit(c->db);
	if (rc < 0)
		c->drv->rollback(c->db);
	rows_changed(c->m); /* after the commit: a read before it may have cached the old rows */
	return rc;
}

static void txn_rollback(struct model_conn *c)
{
	if (c->depth > 0 && --c->depth > 0)
		return;
	c->depth = 0;
	c->drv->rollback(c->db);
	rows_changed(c->m); /* a read inside it may have cached what it wrote */
}

int model_write_begin(model *m, struct model_conn **out, struct model_err *err)
{
	int rc;
	/* From here a reason in err is a refusal of this transaction's. */
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
	if ((rc = model_conn_get(m, out)) < 0)
		return model_fail_db(err, rc);
	if ((rc = txn_begin(*out)) < 0)
		return model_fail(err, rc, "database busy");
	return 0;
}

void model_write_quiet(struct model_conn *c)
{
	if (c->drv->quiet && c->m->quiet_key[0])
		c->drv->quiet(c->db);
}

int model_fail_db(struct model_err *err, int rc)
{
	return model_fail(err, rc, "database: %s", strerror(-rc));
}

int model_write_end(struct model_conn *c, int rc, struct model_err *err)
{
	if (rc >= 0)
		return (rc = txn_commit(c)) < 0 ? model_fail_db(err, rc) : 0;
	/* A refusal's own reason stays; a bare errno is the database's. */
	if (err && !err->code)
		model_fail_db(err, rc);
	txn_rollback(c);
	return rc;
}

int model_bind_text(db_stmt *st, int i, const char *s)
{
	return db_bind_text(st, i, s);
}

void model_col_text(db_stmt *st, int i, char *out, size_t cap)
{
	const char *t = db_col_text(st, i);
	size_t n = t ? db_col_bytes(st, i) : 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(out, t, n);
	out[n] = '\0';
}

int64_t model_changes(struct model_conn *c)
{
	return c->drv->changes(c->db);
}

/* Ad-hoc statements (tests, debugging): prepared, run and dropped. */
static int adhoc(model *m, const char *sql, int64_t *out)
{
	const struct model_sql q = {sql, "an ad-hoc statement (tests)", __FILE__, __LINE__};
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0 || (rc = c->drv->prepare(c->db, &q, &st)) < 0)
		return rc;
	rc = db_step(st);
	if (rc == DB_ROW && out)
		*out = db_col_int64(st, 0);
	rc = rc == DB_ROW ? (out ? 0 : 0) : rc == DB_DONE ? (out ? -ENOENT : 0) : rc;
	c->drv->finalize(st);
	rows_changed(m);
	return rc;
}

int model_sql_exec(model *m, const char *sql)
{
	return adhoc(m, sql, NULL);
}

int model_sql_int(model *m, const char *sql, int64_t *out)
{
	return adhoc(m, sql, out);
}

int model_db_tune(model *m)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	return c->drv->tune ? c->drv->tune(c->db) : 0;
}

int model_changes_wait(model *m, int timeout_ms)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	/* Another connection committed (or the database is away and nobody
	 * can tell): cached rows may be old. */
	if ((rc = c->drv->wait_change(c->db, timeout_ms)) != 0)
		rows_changed(m);
	if (rc == 2) {
		atomic_fetch_add(&m->change_wakes, 1);
		rc = 1;
	}
	return rc == 3 ? MODEL_CHANGES_QUIET : rc;
}

int64_t model_change_wakes(model *m)
{
	return atomic_load(&m->change_wakes);
}

int64_t model_change_reads(model *m)
{
	return atomic_load(&m->change_reads);
}

int64_t model_scan_steps(model *m)
{
	return atomic_load(&m->scan_steps);
}

int64_t model_statements(model *m)
{
	return atomic_load(&m->statements);
}

int64_t model_writes(model *m)
{
	return atomic_load(&m->writes);
}

int64_t model_round_trips(model *m)
{
	return atomic_load(&m->round_trips);
}

int64_t model_rows(model *m)
{
	return atomic_load(&m->rows);
}

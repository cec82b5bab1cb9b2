/*
 * model_sql.h — the model's side of the database (db/db.c), for the
 * model's source files only (model_int.h includes it): one connection per
 * thread with its prepared-statement cache, the helpers that step a
 * statement, and write transactions, whose one shape every writer of
 * model/ follows:
 *
 *	if ((rc = model_write_begin(m, &c, err)) < 0)
 *		return rc;
 *	... if ((rc = step(c, ..., err)) < 0) goto out; ...
 *	out:
 *	return model_write_end(c, rc, err);
 *
 * The database engine itself is behind a driver (db/db.h); committing and
 * rolling back are db.c's own (scripts/house-check).
 */
#ifndef IMGFS_MODEL_SQL_H
#define IMGFS_MODEL_SQL_H

/* More slots than model/ has registered statements (256 at stop 42:
 * test_plans counts them and fails at this many): once the cache is full,
 * model_stmt fails every statement not in it yet. */
#define MODEL_STMT_CACHE 512
struct model_conn {
	struct db_conn *db;
	const struct db_driver *drv;
	model *m;
	struct model_conn *next, *prev;
	struct {
		const struct model_sql *sql; /* keyed by the registry record's address */
		db_stmt *st;
	} cache[MODEL_STMT_CACHE];
	int depth;               /* transaction nesting */
	int read_depth;          /* model_read_begin nesting */
	bool read_open;          /* a read transaction is open (db.c) */
};

/* The per-thread connections of a model: set up at open, all closed at
 * close (db.c). */
int model_conns_init(model *m);
void model_conns_close(model *m);
/* The calling thread's connection (opened on first use). */
int model_conn_get(model *m, struct model_conn **out);
/* The cached, reset statement of this connection for sql (written as
 * SQL("...")); NULL on error (logged). */
db_stmt *model_stmt(struct model_conn *c, const struct model_sql *sql);
/* Steps an INSERT ... RETURNING id: *id_out gets the new row's id (one
 * round trip for PostgreSQL, not a second statement).  Resets it. */
int model_insert(db_stmt *st, int64_t *id_out);
/* Steps a statement that returns no rows; 0 or -errno.  Resets it. */
int model_exec_stmt(db_stmt *st);
/* The same for a statement inside a write transaction whose failure may be
 * reported by the transaction's next statement or its commit instead
 * (db_driver.defer: PostgreSQL sends it with them).  For the writes that
 * end a transaction and decide nothing: the change log, a listing's time. */
int model_exec_deferred(db_stmt *st);
/* Sends st ahead inside a write transaction (db_driver.send): 1, and its
 * first db_step, even after the commit, reads its result.  Where the
 * driver has no such thing (SQLite) st runs now and the result of that
 * first step is returned (DB_ROW, DB_DONE or -errno): read the row, reset.
 * So what follows st in the transaction must not depend on its outcome
 * but in SQL.  A step after a commit that succeeded although its answer
 * was lost with the connection (db.h: commit) is -ESTALE: st ran, but its
 * rows are gone; read what it made anew. */
int model_send(db_stmt *st);
/* Steps st calling row(arg, st) for each row; stops at the first non-zero
 * value and returns it (a callback's "stop" is never taken for an SQLite
 * code).  0 after the last row, -errno on an SQLite error.  Resets st. */
int model_each_row(db_stmt *st, int (*row)(void *arg, db_stmt *st), void *arg);
/* Listings read in pages: a statement whose last parameter is the key to
 * start after and that ends "ORDER BY <key> " MODEL_PAGE_SQL, run again
 * from the last key until row(arg, st) returns non-zero (returned) or a
 * page comes back short.  params: the statement's integer parameters, the
 * start key last; key_col: the key's column.  (A listing's cost follows
 * what the caller takes, never the table: PostgreSQL sends a whole result
 * at once.) */
#define MODEL_PAGE 64
#define MODEL_PAGE_SQL "LIMIT 64"
int model_each_page(struct model_conn *c, const struct model_sql *sql, const int64_t *params, int nparams,
                    int key_col, int (*row)(void *arg, db_stmt *st), void *arg);
/* Steps st once: fill(st, out) and 0 for a row, -ENOENT for none, -errno
 * on an SQLite error.  Resets st. */
int model_one_row(db_stmt *st, void (*fill)(db_stmt *st, void *out), void *out);
/* Prepares the literal sql on this thread's connection, binds one text
 * (when not NULL) or number parameter, and fetches one row (model_one_row). */
int model_fetch_one(model *m, const struct model_sql *sql, const char *text, int64_t num,
                    void (*fill)(db_stmt *st, void *out), void *out);
/* Executes plain SQL (no parameters). */
int model_exec(struct model_conn *c, const char *sql);

/* Write transactions (db.c), the one way to write: this thread's
 * connection with a write transaction begun (BEGIN IMMEDIATE; nested in
 * the thread's open one, where the outermost end decides), err cleared
 * (may be NULL).  Every writer leaves through one label:
 *	out:
 *	return model_write_end(c, rc, err);
 * rc >= 0 commits and returns 0 — a failed commit rolls back and returns
 * its -errno (-EIO, -EBUSY...) with "database: <strerror>" in err; rc < 0
 * rolls back and returns rc, with err's reason when a step gave one (a
 * refusal) and "database: <strerror>" when none did.  Nothing else may
 * commit or roll back. */
int model_write_begin(model *m, struct model_conn **out, struct model_err *err);
int model_write_end(struct model_conn *c, int rc, struct model_err *err);
/* Right after model_write_begin: the request that runs this transaction
 * invalidates what it changes in its own mount's kernel itself, so its
 * commit does not send this process's watcher to the change log
 * (model_changes_wait: MODEL_CHANGES_QUIET); every other process's watcher
 * reads it as any.  PostgreSQL only (db.h: quiet). */
void model_write_quiet(struct model_conn *c);
/* The one way a database failure rc is told: "database: <strerror>" in err
 * (may be NULL); returns rc. */
int model_fail_db(struct model_err *err, int rc);

/* Rows the last INSERT, UPDATE or DELETE of c changed (a new row's id
 * comes back from INSERT ... RETURNING: model_insert). */
int64_t model_changes(struct model_conn *c);

/* Ad-hoc SQL for the unit tests (not in the statement registry): runs one
 * statement on the calling thread's connection; model_sql_int reads the
 * first column of its first row (-ENOENT: no row). */
int model_sql_exec(model *m, const char *sql);
int model_sql_int(model *m, const char *sql, int64_t *out);

/* Binds a text or NULL. */
int model_bind_text(db_stmt *st, int i, const char *s);
/* Copies column text into a fixed buffer (truncating, always NUL-terminated). */
void model_col_text(db_stmt *st, int i, char *out, size_t cap);

/* Steps st, an "INSERT ... ON CONFLICT ... DO NOTHING RETURNING ..."
 * whose first parameter is the new row's external id, with every other
 * parameter bound: draws ids (prefix — "img-", "snap-", "i-" — and 8 hex
 * digits; ext) until the row goes in, one statement each (no probe
 * first), at most 64 (-EEXIST); fill(st, arg) reads what it returned
 * (model_fill_id: the id into an int64_t).  Resets st. */
int model_insert_ext(db_stmt *st, const char *prefix, char ext[16], void (*fill)(db_stmt *st, void *arg),
                     void *arg);
/* A random external id: prefix and 8 hex digits (model_insert_ext's). */
int model_draw_ext_id(char out[16], const char *prefix);
/* A fill for model_fetch_one or model_insert_ext: the first column, an
 * int64_t (an id, a time), into *(int64_t *)out. */
void model_fill_id(db_stmt *st, void *out);

#endif

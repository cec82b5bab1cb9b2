/*
 * db.h — the database driver interface of the model, and the statement
 * registry.
 *
 * Who uses it: every file of model/ (through model_int.h), the drivers
 * (sqlite.c; a PostgreSQL driver beside it implements the same table) and
 * the unit tests.  Nothing outside model/ sees it.
 *
 * The model speaks one SQL dialect, the part SQLite and PostgreSQL share:
 * `?` and `?N` parameters (a driver renumbers them if it must), `ON
 * CONFLICT ... DO`, `RETURNING`, `COALESCE`, `CASE`; no PRAGMA, no
 * `INSERT OR ...`, no two-argument max().  What differs between databases —
 * the schema's DDL, opening a connection, beginning a write transaction,
 * noticing another process's commit — is each driver's, in its one file.
 *
 * A statement is stepped the way SQLite steps one: bind parameters
 * (1-based), db_step() until DB_DONE, read the current row's columns
 * (0-based), db_reset().  db_step returns DB_ROW, DB_DONE or -errno (the
 * driver translates its own codes, in one function).  Column values stay
 * valid until the next step or reset of the statement.
 *
 * The statement registry.  Every statement is written where it is used, as
 * SQL("...") (or SQL_SCAN("why", "...") for one that may read a whole
 * table), which yields a `const struct model_sql *` and also records it in
 * the linker section `model_sql`.  So a unit test can prepare every
 * statement the model has and ask the database for its query plan
 * (tests/unit/model/db/test_plans.c: a SCAN of a table is a failure unless
 * the statement says why it may scan), and the statement cache is keyed by
 * the record's address.  At run time each connection counts the rows that
 * statements *not* marked SQL_SCAN stepped through in full scans (the
 * driver's SQLITE_STMTSTATUS_FULLSCAN_STEP): /stats shows it, and a test
 * walks a large tree and expects 0.
 */
#ifndef IMGFS_DB_H
#define IMGFS_DB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A statement as written in the model. */
struct model_sql {
	const char *text;     /* the statement, in the shared dialect */
	const char *may_scan; /* NULL, or why reading a whole table is right */
	const char *file;     /* where it is written */
	int line;
};

/* The linker makes these the bounds of the section of every SQL() record
 * of the objects linked in (GNU ld, gold and lld all do for sections whose
 * names are C identifiers). */
extern const struct model_sql *const __start_model_sql[];
extern const struct model_sql *const __stop_model_sql[];

#define MODEL_SQL_RECORD(scan, sql)                                                                          \
	(__extension__({                                                                                     \
		static const struct model_sql model_sql_ = {sql, scan, __FILE__, __LINE__};                  \
		static const struct model_sql *const model_sql_p_                                             \
			__attribute__((section("model_sql"), used)) = &model_sql_;                             \
		(void)model_sql_p_;                                                                          \
		&model_sql_;                                                                                 \
	}))
/* A statement that uses indexes for everything it reads. */
#define SQL(sql) MODEL_SQL_RECORD(NULL, sql)
/* A statement that may read whole tables, and why (fsck, gc, a table that
 * stays small). */
#define SQL_SCAN(why, sql) MODEL_SQL_RECORD(why, sql)

/* ---- the driver interface ------------------------------------------------ */

enum { DB_ROW = 100, DB_DONE = 101 }; /* db_step's results besides -errno */

struct db_driver;
struct db_conn {
	const struct db_driver *drv;
	/* Where the driver adds the rows that statements not marked SQL_SCAN
	 * read in full scans (the model's counter; NULL: nowhere). */
	atomic_int_fast64_t *scan_steps;
	/* Where the driver adds the rows the database produced (stepped, or
	 * sent whole): what a statement's cost follows. */
	atomic_int_fast64_t *rows;
	/* Where a driver that talks to a server adds each network exchange
	 * (PostgreSQL; SQLite has none). */
	atomic_int_fast64_t *round_trips;
	/* When a connection of the process last (re)connected (a server
	 * driver's, monotonic ms; NULL: not shared): one whose own reset
	 * failed a moment ago tries again at once once another got through. */
	atomic_int_fast64_t *connected_ms;
	/* Bumped when a statement that may write is reset, that is after it
	 * ran (the model's cache generation; NULL: nothing). */
	atomic_int_fast64_t *write_gen;
	/* Where the driver's own lines go (a failed statement, a connection
	 * lost and reset): log(log_arg, line), the model's log when it has
	 * one (a mount's imgfs.log: a daemon's stderr is /dev/null), else
	 * stderr; NULL: stderr. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/* The process's mark of its quiet commits (quiet below; the model's,
	 * random): "" none. */
	const char *quiet_key;
};
typedef struct db_stmt {
	const struct db_driver *drv;
	struct db_conn *conn;
	const struct model_sql *sql;
	bool writes; /* not a SELECT (model_stmt) */
} db_stmt;

struct model_err;
struct db_driver {
	const char *name;
	/* One connection to target (a file for SQLite). */
	int (*open)(struct db_conn **out, const char *target, struct model_err *err);
	void (*close)(struct db_conn *c);
	/* -errno with a line on stderr naming the statement when it does not
	 * prepare. */
	int (*prepare)(struct db_conn *c, const struct model_sql *sql, db_stmt **out);
	void (*finalize)(db_stmt *st);
	/* Runs sql, no parameters, maybe several statements (DDL). */
	int (*exec)(struct db_conn *c, const char *sql);
	/* Brings the schema to this program's version in one transaction
	 * (creating it in an empty database); -EPROTONOSUPPORT for a database
	 * written by a later version. */
	int (*schema)(struct db_conn *c);
	/* Write transactions are serialised across every connection and
	 * process (SQLite: BEGIN IMMEDIATE), so the model's guarded updates and
	 * its check-then-insert (quotas, names) need no retry. */
	int (*begin_write)(struct db_conn *c);
	/* A read transaction: the statements until commit see one state and
	 * pay for one lock (SQLite: BEGIN DEFERRED).  NULL where it would only
	 * add round trips. */
	int (*begin_read)(struct db_conn *c);
	/* Right after begin_write: the transaction's changes need nothing of
	 * this process's watcher (the request that made them invalidated
	 * them itself), so its commit wakes that watcher as "quiet" (3 from
	 * wait_change) and every other process's as any commit.  NULL: every
	 * commit wakes every watcher alike. */
	void (*quiet)(struct db_conn *c);
	/* 0 when the transaction committed, -errno when it did not (nothing
	 * of it stays): never an error for a commit that happened, nor
	 * success for one that did not, even when the connection breaks
	 * during it (PostgreSQL then finds out which: postgres.c).  A
	 * statement sent ahead (send) whose rows that broken connection lost
	 * steps -ESTALE after a commit that happened. */
	int (*commit)(struct db_conn *c);
	void (*rollback)(struct db_conn *c);
	/* Rows changed by the last INSERT, UPDATE or DELETE of c. */
	int64_t (*changes)(struct db_conn *c);
	/* Waits until another connection may have committed, at most
	 * timeout_ms: 1 (maybe), 2 (yes, woken by a commit of this process:
	 * counted, model_change_wakes), 3 (yes, but only quiet commits of
	 * this process: see quiet), 0 (no), -errno (and the time was waited). */
	int (*wait_change)(struct db_conn *c, int timeout_ms);
	/* Keeps what the database's planner knows of the tables true enough
	 * for the model's statements; called every few seconds by each mount
	 * (model_db_tune).  NULL: the database needs nothing. */
	int (*tune)(struct db_conn *c);
	/* The query plan of sql, one line per step ("SCAN images", "SEARCH
	 * ..."), into out (cap bytes); for the plan test. */
	int (*explain)(struct db_conn *c, const char *sql, char *out, size_t cap);

	int (*step)(db_stmt *st);
	/* Inside a write transaction: runs st, whose only result is whether it
	 * failed, at the latest with the transaction's next statement or its
	 * commit, which then fail if st did (PostgreSQL sends it with them in
	 * one round trip).  The caller resets st and reads nothing from it.
	 * NULL: the model steps it at once. */
	int (*defer)(db_stmt *st);
	/* Inside a write transaction: st goes out now with what waits, and
	 * its result is read by its first step, which may come after the
	 * commit (PostgreSQL: the commit brings it back; no round trip of its
	 * own).  NULL: the model steps it at once (model_send). */
	int (*send)(db_stmt *st);
	/* Ends the statement's run and unbinds its parameters. */
	void (*reset)(db_stmt *st);
	/* Ends the statement's run and keeps its parameters bound: it can run
	 * again with some of them bound anew. */
	void (*rewind)(db_stmt *st);
	int (*bind_int64)(db_stmt *st, int i, int64_t v);
	int (*bind_text)(db_stmt *st, int i, const char *s); /* copied; NULL binds NULL */
	int (*bind_blob)(db_stmt *st, int i, const void *p, size_t n);
	int (*bind_null)(db_stmt *st, int i);
	int64_t (*col_int64)(db_stmt *st, int i);
	const char *(*col_text)(db_stmt *st, int i); /* NULL for NULL */
	const void *(*col_blob)(db_stmt *st, int i);
	size_t (*col_bytes)(db_stmt *st, int i);
	bool (*col_null)(db_stmt *st, int i);
	/* What a row has (migrate copies tables whole): its columns, their
	 * names, and the kind of value in column i of the current row. */
	int (*col_count)(db_stmt *st);
	const char *(*col_name)(db_stmt *st, int i);
	int (*col_type)(db_stmt *st, int i); /* DB_INTEGER, DB_TEXT, DB_BLOB, DB_NULL */
};
enum { DB_INTEGER = 1, DB_TEXT, DB_BLOB, DB_NULL };

extern const struct db_driver db_sqlite;
extern const struct db_driver db_postgres;
/* postgres.c: how long a statement's answer is waited for, in ms, given
 * IMGFS_PG_ANSWER_MS's value (NULL: unset): 1,000 to 3,600,000, anything
 * else the default, 60,000 (SPEC §13.23). */
int db_pg_answer_ms(const char *env);
/* schema_pg.c: applies the steps a PostgreSQL database lacks with exec,
 * reading its version with version (inside the caller's transaction). */
int schema_pg_apply(struct db_conn *c, int (*exec)(struct db_conn *c, const char *sql),
                    int (*version)(struct db_conn *c));
/* schema_sqlite.c: step N brings schema version N-1 to N. */
extern const char *const schema_sqlite_steps[];
extern const int schema_sqlite_version;

static inline int db_step(db_stmt *st) { return st->drv->step(st); }
static inline void db_reset(db_stmt *st)
{
	st->drv->reset(st);
	if (st->writes && st->conn->write_gen)
		atomic_fetch_add(st->conn->write_gen, 1);
}
static inline void db_rewind(db_stmt *st) { st->drv->rewind(st); }
static inline int db_bind_int64(db_stmt *st, int i, int64_t v) { return st->drv->bind_int64(st, i, v); }
static inline int db_bind_int(db_stmt *st, int i, int v) { return st->drv->bind_int64(st, i, v); }
static inline int db_bind_text(db_stmt *st, int i, const char *s) { return st->drv->bind_text(st, i, s); }
static inline int db_bind_blob(db_stmt *st, int i, const void *p, size_t n) { return st->drv->bind_blob(st, i, p, n); }
static inline int db_bind_null(db_stmt *st, int i) { return st->drv->bind_null(st, i); }
static inline int64_t db_col_int64(db_stmt *st, int i) { return st->drv->col_int64(st, i); }
static inline int db_col_int(db_stmt *st, int i) { return (int)st->drv->col_int64(st, i); }
static inline const char *db_col_text(db_stmt *st, int i) { return st->drv->col_text(st, i); }
static inline const void *db_col_blob(db_stmt *st, int i) { return st->drv->col_blob(st, i); }
static inline size_t db_col_bytes(db_stmt *st, int i) { return st->drv->col_bytes(st, i); }
static inline bool db_col_null(db_stmt *st, int i) { return st->drv->col_null(st, i); }
static inline int db_col_count(db_stmt *st) { return st->drv->col_count(st); }
static inline const char *db_col_name(db_stmt *st, int i) { return st->drv->col_name(st, i); }
static inline int db_col_type(db_stmt *st, int i) { return st->drv->col_type(st, i); }

/* A db_step result (or any -errno) as 0 / -errno. */
static inline int db_errno(int rc) { return rc == DB_ROW || rc == DB_DONE ? 0 : rc; }

#endif

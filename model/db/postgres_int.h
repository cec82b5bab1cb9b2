/*
 * postgres_int.h — what the PostgreSQL driver's three files share: a
 * statement (postgres.c prepares, sends and steps it; postgres_values.c
 * binds its parameters and reads its columns), the value functions the
 * driver table (postgres.c) names, and a connection (postgres.c runs its
 * statements and transactions; postgres_link.c connects, resets, waits
 * for its answers and logs).
 */
#ifndef IMGFS_POSTGRES_INT_H
#define IMGFS_POSTGRES_INT_H

#include <libpq-fe.h>

#include "model_int.h"

#define PG_MAX_PARAMS 64
#define PG_OID_INT8 20
#define PG_OID_BYTEA 17

struct pg_stmt {
	db_stmt base;
	char *sql;                  /* with $N parameters */
	int nparams;
	char name[16];
	unsigned epoch;             /* prepared in this epoch; 0: not prepared */
	Oid types[PG_MAX_PARAMS];   /* as prepared */
	char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	int formats[PG_MAX_PARAMS];
	Oid bound[PG_MAX_PARAMS];   /* the type of what is bound now */
	PGresult *res;
	int row, nrows;             /* row: the current one, -1 before the first */
	int state;                  /* PG_IDLE, or sent in a pipeline: PG_OWED, PG_ARRIVED */
	int err;                    /* PG_ARRIVED: the failure instead of res */
	unsigned char *blob;        /* decoded bytea of column blob_col of the current row */
	size_t blob_len;
	int blob_col;
	bool reads_only;            /* a SELECT: running it twice changes nothing */
};

enum { PG_IDLE, PG_OWED, PG_ARRIVED }; /* pg_stmt.state */

#define ST(s) ((struct pg_stmt *)(s))

#define PG_MAX_QUEUED 32 /* results a pipeline waits for before it is synced */

/* A result the pipeline owes: whose it is, and what to do with it. */
struct pg_queued {
	struct pg_stmt *st; /* the statement it belongs to, or NULL (BEGIN, the lock, COMMIT) */
	bool rows;          /* st reads its rows: the result is kept in st */
	bool prepare;       /* the result of preparing st */
	const char *what;   /* for the log line of a failure */
};

struct pg_conn {
	struct db_conn base;
	PGconn *pg;
	char *target;
	unsigned epoch;      /* bumped at every reset: prepared statements are gone */
	unsigned stmt_seq;   /* names s1, s2, ... */
	int64_t changes;     /* rows the last command changed */
	int64_t notified;    /* notifications received (wait_change) */
	int64_t quiet_heard; /* of them, quiet commits of this process's (pg_quiet) */
	bool listening;
	bool in_txn;         /* between begin_write and commit/rollback */
	bool begin_pending;  /* BEGIN and the lock go out with the next statement */
	bool quiet;          /* and the transaction's quiet mark (pg_quiet) */
	bool marks;          /* its commits set its imgfs_commits row (the table exists) */
	bool doomed;         /* the server said FATAL while it sat idle (a shutdown): reset it */
	bool down;           /* its last reset failed (logged once until one succeeds) */
	int64_t down_ms;     /* when (monotonic ms): not tried again before PG_RETRY_MS */
	int answer_ms;       /* an answer is waited for at most (pg_await) */
	bool unanswered;     /* pg_await gave the connection up: no statement runs again on a new one */
	int64_t commit_key;  /* that row's key: random, positive */
	int64_t commit_seq;  /* the number of its last marked commit */
	int nqueued;         /* results the pipeline owes, in order */
	struct pg_queued queued[PG_MAX_QUEUED];
	/* What the last pipe_sync heard: the results before the first that
	 * failed (all of them: none failed), and whether that failure was the
	 * server's answer (a SQLSTATE) rather than the connection's. */
	int sync_ok;
	char sync_state[6];
};

#define CONN(c) ((struct pg_conn *)(c))

/* postgres_link.c: the connection to the server. */
int pg_connect(struct pg_conn *c, const char *target, struct model_err *err);
bool pg_alive(struct pg_conn *c);
bool pg_reconnect(struct pg_conn *c);
bool pg_await(struct pg_conn *c, int ms);
PGresult *pg_result(struct pg_conn *c);
PGresult *pg_collect(struct pg_conn *c, int sent, int ms);
int pg_commit_outcome(struct pg_conn *c, int old_pid, int64_t seq);
int pg_sqlstate_errno(const PGresult *r);
void pg_say(const struct pg_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pg_complain(const struct pg_conn *c, const char *what, const PGresult *r);
void pg_round_trip(struct pg_conn *c);

/* postgres_values.c: parameters in, columns out (db.h's bind_* and col_*). */
int pg_bind_int64(db_stmt *st, int i, int64_t v);
int pg_bind_text(db_stmt *st, int i, const char *s);
int pg_bind_blob(db_stmt *st, int i, const void *p, size_t n);
int pg_bind_null(db_stmt *st, int i);
bool pg_col_null(db_stmt *st, int i);
int64_t pg_col_int64(db_stmt *st, int i);
const char *pg_col_text(db_stmt *st, int i);
size_t pg_col_bytes(db_stmt *st, int i);
const void *pg_col_blob(db_stmt *st, int i);
int pg_col_count(db_stmt *st);
const char *pg_col_name(db_stmt *st, int i);
int pg_col_type(db_stmt *st, int i);

#endif

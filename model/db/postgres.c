/*
 * postgres.c — the PostgreSQL driver (db.h): metadata that several hosts
 * share (SPEC §13), through libpq.  Any libpq connection string or URL is
 * the target (`-o db=postgresql://...`, `imgfs admin --db URL`).  This
 * file is the driver's table, its statements and its transactions;
 * postgres_link.c is the connection to the server (its deadlines, its
 * resets, a lost commit's outcome); postgres_values.c turns the model's
 * values into parameters and results back into values (postgres_int.h:
 * what they share).
 *
 * Connections: one per thread of each process (db.c), as for SQLite.  A
 * connection that breaks (the server restarted, the network went away) is
 * reset on the next statement; the statements prepared on it are prepared
 * again (each remembers the connection epoch it was prepared in).  While
 * the server is unreachable every statement fails with -EIO.
 *
 * A host cut off from the server, a server that keeps the connection but
 * does not answer: postgres_link.c (its statements end with -EIO within
 * about 20 s, SPEC §13).
 *
 * The dialect.  The model writes SQLite's `?` and `?N` parameters; they
 * become `$N` here (quoted strings and identifiers are left alone).  A
 * statement is prepared on its first execution, when its parameters'
 * types are known: integers are int8, blobs bytea (sent binary), text and
 * NULL "unknown" so that the server takes the type from the context;
 * results come back as text (postgres_values.c reads them).
 *
 * Transactions: reads are single statements (autocommit, READ COMMITTED);
 * a write transaction takes a transaction-level advisory lock first, so
 * every writer of the service — any thread, any process, any host — runs
 * alone, as SQLite's BEGIN IMMEDIATE makes them: the model's guarded
 * updates and its check-then-insert (quotas, unique names) keep their
 * meaning, and no serialization failure can occur: every connection runs
 * READ COMMITTED whatever the database's default (under SERIALIZABLE,
 * PostgreSQL may fail any transaction with 40001), and the writers never
 * overlap.  A
 * statement outside a write transaction that fails with 40001 or 40P01
 * anyway (a lock another program holds) is run again, up to 3 times; inside
 * one, the transaction fails with -EAGAIN and is rolled back as for any
 * error (the model's decisions inside it depend on what it read).
 * A connection that breaks inside a transaction is not reset until the
 * transaction ends: the server rolled it back, so every statement until
 * then fails with -EIO rather than running on a new connection outside it
 * (which would commit half of it).
 *
 * Round trips.  The server answers in tens of microseconds; the round
 * trip to it, and the two context switches, cost more than that, and a
 * request's statements run one after another.  So what can wait is sent
 * in libpq's pipeline mode (one network exchange for several statements):
 *   - BEGIN and the lock are not sent by begin_write but in front of the
 *     transaction's first statement (an empty transaction sends nothing);
 *   - a statement the model defers (db_defer: an UPDATE or INSERT whose
 *     only result is whether it failed, like the change log's row) is sent
 *     at once but its result is read with the next statement's, or with
 *     COMMIT; a failure then fails that statement or the commit, and the
 *     transaction is rolled back as for any error.
 * mkdir's transaction (the insert, which checks the name and the quota
 * itself; the region's time, the change log, the commit) costs 2 round
 * trips; 9 before.  Each exchange is counted (db_conn.round_trips:
 * /stats, and the unit test that holds the count).  A statement's state
 * says where its result is: PG_IDLE (none owed), PG_OWED (in the
 * pipeline), PG_ARRIVED (read by a sync, not yet taken by its step).
 *
 * A commit whose answer is lost.  When the connection breaks after COMMIT
 * went out, the transaction may have committed or not, and a refusal must
 * change nothing (SPEC §12: an EIO mkdir that had committed held a quota
 * slot).  So each connection has a random key and numbers its commits,
 * and every write transaction sets its connection's row of imgfs_commits
 * (schema_pg.c v8) to its number right before COMMIT, in the same
 * pipeline (no round trip of its own).  On a lost answer pg_commit_outcome
 * (postgres_link.c) reconnects (for up to PG_OUTCOME_WAIT_MS: a restarting server), waits
 * until the old backend is gone (then its transaction is over, one way or
 * the other), and reads the row: the number there means it committed, and
 * the commit succeeds; anything else, it did not, and the commit fails
 * with -EIO, nothing changed.  A statement sent ahead (pg_send) whose rows
 * were lost with a commit that happened steps -ESTALE: its caller reads
 * the row anew (mkdir, by the external id it drew).  Writes outside a
 * transaction are not marked: the model's are idempotent (a host's lease,
 * a writer's row).  Only a server away for longer than the wait leaves
 * the outcome unknown (-EIO, and a log line).
 *
 * A connection the server closed while it sat idle (a restart) looks
 * fine to libpq until it next reads.  So before a statement or a
 * transaction goes out on an idle connection, one poll() that returns at
 * once looks for what the server left in the socket (its FATAL, the end
 * of the stream: pg_alive), and such a connection is reset first: after
 * an outage every connection of a mount, read or write, works again from
 * its first use.  A server that closes the connection between that look
 * and the statement: a read outside a transaction (a SELECT:
 * pg_stmt.reads_only), or a statement whose prepare failed (nothing ran),
 * runs again, once, on a new connection; a write that went out is not run
 * again (whether it ran is not known: the commit marks above are for
 * transactions), and inside a transaction the rest must fail.  A reset
 * that fails is logged (once, until one succeeds), so that the EIO that
 * follows has its line.  The driver's lines (pg_say) go to the
 * connection's log (db_conn.log: the mount's imgfs.log; a daemon's
 * stderr is /dev/null), else to stderr.
 *
 * Noticing other writers: every insert into `changes` notifies the channel
 * imgfs_changes at commit (a trigger, schema_pg.c); wait_change() drains
 * the notifications this connection received, and sleeps on the
 * connection's socket until one arrives — the watcher of each mount
 * (fs/fuse/watch.c) wakes within milliseconds instead of polling.  A connection
 * that was reset reports a change: notifications sent while it was away
 * are lost, so the watcher must read the change log again.
 *
 * pg_sqlstate_errno() is the one translation of PostgreSQL's errors.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libpq-fe.h>

#include "postgres_int.h"

#define PG_GATHER_MS 3 /* how long a woken watcher waits for the commits right behind */
#define PG_ADVISORY_KEY "7596851276339898982" /* 'imgfs-db' as an int8: the write lock */
#define PG_COMMITS_KEEP 86400 /* seconds a connection's imgfs_commits row outlives it after a crash */
#define PG_CLOSE_MS 1000 /* a close's statement's answer is waited for at most (nothing waits on it) */

static int pipe_flush(struct pg_conn *c);

/* sql run (the plain way), its answer waited for at most ms. */
static int exec_within(struct pg_conn *c, const char *sql, int ms)
{
	PGresult *r;
	int rc = 0;
	if (!pg_alive(c))
		return -EIO;
	if ((rc = pipe_flush(c)) < 0)
		return rc;
	r = pg_collect(c, PQsendQuery(c->pg, sql), ms);
	pg_round_trip(c);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_complain(c, "exec", r);
		rc = pg_sqlstate_errno(r);
	} else {
		c->changes = atoll(PQcmdTuples(r));
	}
	PQclear(r);
	return rc;
}

static int pg_exec(struct db_conn *dc, const char *sql)
{
	return exec_within(CONN(dc), sql, CONN(dc)->answer_ms);
}

static void pg_close(struct db_conn *dc)
{
	if (!dc)
		return;
	/* Its row is of no use any more (one left by a crash is trimmed by
	 * age: pg_schema). */
	if (CONN(dc)->commit_seq && PQstatus(CONN(dc)->pg) == CONNECTION_OK && !CONN(dc)->in_txn) {
		char sql[96];
		snprintf(sql, sizeof(sql), "DELETE FROM imgfs_commits WHERE conn = %lld",
		         (long long)CONN(dc)->commit_key);
		exec_within(CONN(dc), sql, PG_CLOSE_MS); /* (a server that does not answer: trimmed by age) */
	}
	PQfinish(CONN(dc)->pg);
	free(CONN(dc)->target);
	free(dc);
}


static int pg_open(struct db_conn **out, const char *target, struct model_err *err)
{
	struct pg_conn *c = calloc(1, sizeof(*c));
	if (!c || !(c->target = strdup(target))) {
		free(c);
		return -ENOMEM;
	}
	c->base.drv = &db_postgres;
	c->epoch = 1;
	int rc = pg_connect(c, target, err);
	if (rc < 0) {
		pg_close(&c->base);
		return rc;
	}
	*out = &c->base;
	return 0;
}

/* `?` and `?N` -> `$N`, outside quotes; the number of parameters. */
static char *translate(const char *in, int *nparams)
{
	size_t cap = strlen(in) * 2 + 16;
	char *out = malloc(cap), *o = out;
	int next = 1, max = 0;
	char quote = 0;
	if (!out)
		return NULL;
	for (const char *p = in; *p; p++) {
		if (quote) {
			*o++ = *p;
			if (*p == quote)
				quote = 0;
			continue;
		}
		if (*p == '\'' || *p == '"') {
			quote = *p;
			*o++ = *p;
			continue;
		}
		if (*p != '?') {
			*o++ = *p;
			continue;
		}
		int n = 0;
		while (p[1] >= '0' && p[1] <= '9')
			n = n * 10 + (*++p - '0');
		if (n == 0)
			n = next;
		if (n > max)
			max = n;
		next = max + 1;
		o += sprintf(o, "$%d", n);
	}
	*o = '\0';
	*nparams = max;
	return out;
}

static int pg_prepare_stmt(struct db_conn *dc, const struct model_sql *sql, db_stmt **out)
{
	struct pg_stmt *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (!(s->sql = translate(sql->text, &s->nparams))) {
		free(s);
		return -ENOMEM;
	}
	if (s->nparams > PG_MAX_PARAMS) {
		fprintf(stderr, "imgfs: postgresql: %s:%d: too many parameters\n", sql->file, sql->line);
		free(s->sql);
		free(s);
		return -E2BIG;
	}
	snprintf(s->name, sizeof(s->name), "s%u", ++CONN(dc)->stmt_seq);
	s->base.drv = &db_postgres;
	s->base.conn = dc;
	s->base.sql = sql;
	s->row = -1;
	s->blob_col = -1;
	s->reads_only = strncasecmp(s->sql + strspn(s->sql, " \t\n"), "SELECT", 6) == 0;
	*out = &s->base;
	return 0;
}

static void clear_result(struct pg_stmt *s)
{
	PQclear(s->res);
	s->res = NULL;
	s->row = -1;
	s->nrows = 0;
	PQfreemem(s->blob);
	s->blob = NULL;
	s->blob_col = -1;
}

static void clear_params(struct pg_stmt *s)
{
	for (int i = 0; i < PG_MAX_PARAMS; i++) {
		free(s->values[i]);
		s->values[i] = NULL;
		s->lengths[i] = 0;
		s->formats[i] = 0;
		s->bound[i] = 0;
	}
}

/* s will not read a result the pipeline owes it (reset, or gone). */
static void forget_owed(struct pg_stmt *s, bool gone)
{
	struct pg_conn *c = CONN(s->base.conn);
	for (int i = 0; i < c->nqueued; i++) {
		if (c->queued[i].st != s)
			continue;
		c->queued[i].rows = false;
		if (gone)
			c->queued[i].st = NULL;
	}
	s->state = PG_IDLE;
}

static void pg_finalize(db_stmt *st)
{
	if (!st)
		return;
	forget_owed(ST(st), true);
	clear_result(ST(st));
	clear_params(ST(st));
	free(ST(st)->sql);
	free(st);
}

static void pg_reset(db_stmt *st)
{
	forget_owed(ST(st), false);
	clear_result(ST(st));
	clear_params(ST(st));
}

static void pg_rewind(db_stmt *st)
{
	forget_owed(ST(st), false);
	clear_result(ST(st));
}

/* Prepares s on its connection (again after a reset) with the types now
 * bound. */
static int ensure_prepared(struct pg_conn *c, struct pg_stmt *s)
{
	PGresult *r;
	int rc = 0;
	if (s->epoch == c->epoch)
		return 0;
	memcpy(s->types, s->bound, sizeof(s->types));
	r = pg_collect(c, PQsendPrepare(c->pg, s->name, s->sql, s->nparams, s->types), c->answer_ms);
	pg_round_trip(c);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char what[256];
		snprintf(what, sizeof(what), "%s:%d: %s", s->base.sql->file, s->base.sql->line, s->sql);
		pg_complain(c, what, r);
		rc = pg_sqlstate_errno(r);
	} else {
		s->epoch = c->epoch;
	}
	PQclear(r);
	return rc;
}

/* The -errno of a failed result r of s, logged (a unique name taken is an
 * answer, not a fault). */
static int result_error(struct pg_conn *c, struct pg_stmt *s, const PGresult *r)
{
	char what[256];
	int rc = pg_sqlstate_errno(r);
	snprintf(what, sizeof(what), "%s:%d", s->base.sql->file, s->base.sql->line);
	if (rc != -EEXIST)
		pg_complain(c, what, r);
	/* A prepared statement the server forgot (it restarted between two
	 * statements of a connection that still looked fine). */
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state && strcmp(state, "26000") == 0)
		s->epoch = 0;
	/* The server ending this backend (a shutdown) answered instead: the
	 * connection is reset before its next use, whatever libpq thinks. */
	if (state && strncmp(state, "57P0", 4) == 0)
		c->doomed = true;
	return rc;
}

/* s->res, the result of executing s, becomes its rows. */
static int take_result(struct pg_conn *c, struct pg_stmt *s)
{
	int rc;
	switch (PQresultStatus(s->res)) {
	case PGRES_TUPLES_OK:
		s->nrows = PQntuples(s->res);
		if (c->base.rows)
			atomic_fetch_add_explicit(c->base.rows, s->nrows, memory_order_relaxed);
		c->changes = atoll(PQcmdTuples(s->res)); /* INSERT ... RETURNING */
		s->row = 0;
		return s->nrows > 0 ? DB_ROW : DB_DONE;
	case PGRES_COMMAND_OK:
		c->changes = atoll(PQcmdTuples(s->res));
		s->row = 0;
		return DB_DONE;
	default:
		rc = result_error(c, s, s->res);
		clear_result(s);
		return rc;
	}
}

/* ---- the pipeline (see the top of the file) ------------------------------ */

static int queue(struct pg_conn *c, int sent, struct pg_stmt *st, bool rows, bool prepare, const char *what)
{
	if (!sent)
		return -EIO; /* the connection broke: pg_alive fails from now on */
	c->queued[c->nqueued++] = (struct pg_queued){st, rows, prepare, what};
	return 0;
}

/* sql: a string that outlives the sync (a literal): it names a failure. */
static int pipe_send_sql(struct pg_conn *c, const char *sql)
{
	return queue(c, PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0), NULL, false, false, sql);
}

static int pipe_sync(struct pg_conn *c);

/* Pipeline mode on, with room for `more` results (synced first if not),
 * and the transaction's BEGIN and lock sent if they wait. */
static int pipe_open(struct pg_conn *c, int more)
{
	int rc;
	if (c->nqueued + 2 + more > PG_MAX_QUEUED && (rc = pipe_sync(c)) < 0)
		return rc;
	if (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c->pg))
		return -EIO;
	if (!c->begin_pending)
		return 0;
	c->begin_pending = false;
	if ((rc = pipe_send_sql(c, "BEGIN")) < 0)
		return rc;
	if (!c->quiet || !c->base.quiet_key || !c->base.quiet_key[0])
		return pipe_send_sql(c, "SELECT pg_advisory_xact_lock(" PG_ADVISORY_KEY ")");
	/* The mark rides on the lock's statement (pg_quiet): the key is the
	 * model's own "q" and hex digits, nothing a caller wrote. */
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(" PG_ADVISORY_KEY "), set_config('imgfs.quiet', '%s', true)",
	         c->base.quiet_key);
	return queue(c, PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0), NULL, false, false,
	             "the write lock");
}

/* Sends s (prepared first, in the same pipeline, if this connection has
 * not prepared it); rows: its result is kept for the caller to step. */
static int pipe_send_stmt(struct pg_conn *c, struct pg_stmt *s, bool rows)
{
	int rc;
	if ((rc = pipe_open(c, 2)) < 0)
		return rc;
	if (rows)
		s->state = PG_OWED;
	if (s->epoch != c->epoch) {
		memcpy(s->types, s->bound, sizeof(s->types));
		if ((rc = queue(c, PQsendPrepare(c->pg, s->name, s->sql, s->nparams, s->types), s, false, true,
		                "prepare")) < 0)
			return rc;
		s->epoch = c->epoch; /* undone below if the server refuses it */
	}
	return queue(c, PQsendQueryPrepared(c->pg, s->name, s->nparams, (const char *const *)s->values, s->lengths,
	                                    s->formats, 0),
	             s, rows, false, s->base.sql->file);
}

/* Sends a Sync and reads every result the pipeline owes, in order: a
 * statement that steps its rows gets its result (or the failure that
 * stopped it); the first failure is returned (the server skipped what
 * followed it).  Leaves pipeline mode.  One round trip. */
static int pipe_sync(struct pg_conn *c)
{
	int rc = 0, n = c->nqueued;
	bool broken = !PQpipelineSync(c->pg);
	PGresult *r;
	c->nqueued = 0;
	c->sync_ok = n;
	c->sync_state[0] = '\0';
	if (!broken)
		pg_round_trip(c);
	for (int i = 0; i < n; i++) {
		struct pg_queued *q = &c->queued[i];
		r = broken ? NULL : pg_result(c);
		broken = broken || !r;
		ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
		if (!ok && q->prepare && q->st)
			q->st->epoch = 0; /* not prepared after all */
		if (!ok && c->sync_ok == n) {
			const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
			c->sync_ok = i;
			snprintf(c->sync_state, sizeof(c->sync_state), "%s", state ? state : "");
		}
		if (!ok && rc == 0) {
			if (!r || status == PGRES_PIPELINE_ABORTED)
				rc = -EIO; /* the connection broke, or a failure was not reported */
			else if (q->st)
				rc = result_error(c, q->st, r);
			else {
				pg_complain(c, q->what, r);
				rc = pg_sqlstate_errno(r);
			}
		}
		if (q->rows) {
			clear_result(q->st);
			q->st->state = PG_ARRIVED;
			q->st->err = ok ? 0 : rc;
			if (ok) {
				q->st->res = r;
				r = NULL;
			}
		} else if (ok) {
			c->changes = atoll(PQcmdTuples(r));
		}
		PQclear(r);
		if (!broken)
			PQclear(pg_result(c)); /* the NULL that ends each statement's results */
	}
	if (!broken) {
		r = pg_result(c);
		if (PQresultStatus(r) != PGRES_PIPELINE_SYNC && rc == 0)
			rc = -EIO;
		PQclear(r);
	}
	if (rc == 0 && broken)
		rc = -EIO;
	if (PQstatus(c->pg) == CONNECTION_OK && !PQexitPipelineMode(c->pg) && rc == 0)
		rc = -EIO;
	return rc;
}

/* What waits is sent (a pending BEGIN) and what is owed is read, so that
 * the connection can run a statement the plain way. */
static int pipe_flush(struct pg_conn *c)
{
	int rc;
	if (!c->begin_pending && c->nqueued == 0)
		return 0;
	if ((rc = pipe_open(c, 0)) < 0)
		return rc;
	return pipe_sync(c);
}

static int pg_step(db_stmt *st)
{
	struct pg_stmt *s = ST(st);
	struct pg_conn *c = CONN(st->conn);
	int rc;
	if (s->state != PG_IDLE) {
		/* Sent ahead (pg_send): its result came with a later sync (the
		 * commit's), or comes with this one. */
		if (s->state == PG_OWED)
			pipe_sync(c);
		s->state = PG_IDLE;
		return s->res ? take_result(c, s) : s->err < 0 ? s->err : -EIO;
	}
	if (s->res) {
		if (++s->row >= s->nrows)
			return DB_DONE;
		PQfreemem(s->blob);
		s->blob = NULL;
		s->blob_col = -1;
		return DB_ROW;
	}
	if (!pg_alive(c))
		return -EIO;
	if (c->begin_pending || c->nqueued) {
		/* With what waits: one round trip for all of it. */
		if ((rc = pipe_send_stmt(c, s, true)) < 0) {
			forget_owed(s, false);
			return rc;
		}
		pipe_sync(c);
		s->state = PG_IDLE;
		return s->res ? take_result(c, s) : s->err < 0 ? s->err : -EIO;
	}
	for (int tries = 0, resets = 0;; tries++) {
		bool ran = false;
		if ((rc = ensure_prepared(c, s)) == 0) {
			s->res = pg_collect(c,
			                    PQsendQueryPrepared(c->pg, s->name, s->nparams,
			                                        (const char *const *)s->values, s->lengths, s->formats, 0),
			                    c->answer_ms);
			pg_round_trip(c);
			rc = take_result(c, s);
			ran = true;
		}
		if (c->in_txn || tries == 2)
			return rc;
		/* A serialization failure of a statement that is its own
		 * transaction: nothing it did stays, so it is simply run again. */
		if (rc == -EAGAIN && ran)
			continue;
		/* The connection broke under it (a server that restarted between
		 * pg_alive's look and this statement): when nothing ran (the
		 * prepare failed) or it was a read, it runs again, once, on a new
		 * connection — the caller would otherwise get EIO from a server
		 * that is back.  A write that went out is not: whether it ran is
		 * not known.  Nor one whose answer did not come (pg_await): the
		 * server is not back, and its wait would be the caller's twice. */
		if (rc != -EIO || (ran && !s->reads_only) || c->unanswered || resets++ > 0 ||
		    (PQstatus(c->pg) == CONNECTION_OK && !c->doomed) || !pg_reconnect(c))
			return rc;
	}
}

/* Inside a write transaction: st goes out now and its result is read with
 * the next statement's or the commit's.  Outside one it simply runs. */
static int pg_defer(db_stmt *st)
{
	struct pg_conn *c = CONN(st->conn);
	int rc;
	if (!c->in_txn) {
		rc = pg_step(st);
		clear_result(ST(st));
		return db_errno(rc);
	}
	if (!pg_alive(c))
		return -EIO;
	return pipe_send_stmt(c, ST(st), false);
}

/* Inside a write transaction: st goes out now, its rows are kept for its
 * next step (pg_step). */
static int pg_send(db_stmt *st)
{
	struct pg_conn *c = CONN(st->conn);
	int rc;
	if (!c->in_txn)
		return -EINVAL;
	if (!pg_alive(c))
		return -EIO;
	clear_result(ST(st));
	if ((rc = pipe_send_stmt(c, ST(st), true)) < 0)
		forget_owed(ST(st), false);
	return rc;
}

/* BEGIN and the lock wait for the transaction's first statement (pipe_open). */
static int pg_begin_write(struct db_conn *dc)
{
	struct pg_conn *c = CONN(dc);
	if (!pg_alive(c))
		return -EIO;
	c->in_txn = true;
	c->begin_pending = true;
	c->quiet = false;
	return 0;
}

/* The transaction's notification (the changes table's trigger, schema_pg.c
 * v20) carries this process's key instead of nothing: its own watcher
 * (pg_wait_change) knows it need not read the change log for it. */
static void pg_quiet(struct db_conn *dc)
{
	struct pg_conn *c = CONN(dc);
	if (c->in_txn && c->begin_pending)
		c->quiet = true;
}

/* What the last pipe_sync heard of the COMMIT it carried as result number
 * at: 1, it happened (its answer came, whatever broke after it: a server
 * shutting down answers the Sync with FATAL on a connection libpq may
 * still call fine); -1, it did not (the server refused it or a statement
 * before it, and said so — but for a shutdown or a lost connection
 * reported as the COMMIT's own answer, which may come after it
 * happened); 0, unknown (the connection broke first). */
static int commit_heard(const struct pg_conn *c, int at)
{
	const char *s = c->sync_state;
	if (c->sync_ok > at)
		return 1;
	if (!s[0])
		return 0;
	if (c->sync_ok == at && (strncmp(s, "57P0", 4) == 0 || strncmp(s, "08", 2) == 0))
		return 0;
	return -1;
}

/* Sets this connection's commit mark in the transaction (its number into
 * *seq), when it has marks. */
static int mark(struct pg_conn *c, int64_t *seq)
{
	char sql[224];
	int rc;
	if (!c->marks)
		return 0;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO imgfs_commits(conn, seq, at) VALUES (%lld, %lld, %lld) "
	         "ON CONFLICT (conn) DO UPDATE SET seq = excluded.seq, at = excluded.at",
	         (long long)c->commit_key, (long long)(c->commit_seq + 1), (long long)time(NULL));
	/* Its failure's line names it, not sql: a queued statement's `what`
	 * is read at the sync, after this buffer is gone. */
	rc = queue(c, PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0), NULL, false, false,
	           "the commit mark");
	if (rc == 0)
		*seq = ++c->commit_seq;
	return rc;
}

/* COMMIT goes out with the statements deferred before it, and the mark
 * that tells, if its answer is lost, whether it happened. */
static int pg_commit(struct db_conn *dc)
{
	struct pg_conn *c = CONN(dc);
	struct pg_stmt *sent[PG_MAX_QUEUED];
	int64_t seq = 0;
	int rc, nsent = 0, pid, at = -1;
	if (c->begin_pending && c->nqueued == 0) {
		c->begin_pending = false; /* nothing was sent: nothing to end */
		c->in_txn = false;
		return 0;
	}
	if (!pg_alive(c)) {
		c->in_txn = false;
		return -EIO;
	}
	if ((rc = pipe_open(c, 2)) == 0 && (rc = mark(c, &seq)) == 0 && (rc = pipe_send_sql(c, "COMMIT")) == 0)
		at = c->nqueued - 1;
	/* What was sent ahead and waits for this sync (pg_send's rows). */
	for (int i = 0; i < c->nqueued; i++)
		if (c->queued[i].rows && c->queued[i].st)
			sent[nsent++] = c->queued[i].st;
	pid = PQbackendPID(c->pg);
	if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF) {
		int synced = pipe_sync(c); /* also what failed to go out: it fails */
		if (rc == 0)
			rc = synced;
	}
	if (rc < 0 && seq && at >= 0) {
		switch (commit_heard(c, at)) {
		case 1: /* COMMIT's own answer came; what failed came after it */
			rc = 0;
			break;
		case 0: /* no answer said: the database tells */
			if (pg_commit_outcome(c, pid, seq) < 0)
				break;
			rc = 0;
			for (int i = 0; i < nsent; i++)
				if (sent[i]->state == PG_ARRIVED && !sent[i]->res)
					sent[i]->err = -ESTALE; /* it happened, its rows are lost */
			break;
		default: /* the server refused a statement of it: rolled back */
			break;
		}
	}
	c->in_txn = false;
	return rc;
}

static void pg_rollback(struct db_conn *dc)
{
	struct pg_conn *c = CONN(dc);
	c->begin_pending = false;
	c->in_txn = false;
	if (PQstatus(c->pg) != CONNECTION_OK) {
		c->nqueued = 0; /* the server dropped the transaction with the connection */
		return;
	}
	if (c->nqueued)
		pipe_sync(c); /* what was deferred: its outcome no longer matters */
	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		pg_exec(dc, "ROLLBACK");
}

static int64_t pg_changes(struct db_conn *c)
{
	return CONN(c)->changes;
}

/* Drains the notifications the connection has received. */
static void drain(struct pg_conn *c)
{
	PGnotify *n;
	PQconsumeInput(c->pg);
	while ((n = PQnotifies(c->pg)) != NULL) {
		c->notified++;
		if (c->base.quiet_key && c->base.quiet_key[0] && strcmp(n->extra, c->base.quiet_key) == 0)
			c->quiet_heard++;
		PQfreemem(n);
	}
}

static int listen_changes(struct pg_conn *c)
{
	if (c->listening)
		return 0;
	int rc = pg_exec(&c->base, "LISTEN imgfs_changes");
	if (rc == 0) {
		c->listening = true;
		c->notified++; /* anything before now is unknown to the caller */
	}
	return rc;
}

static int pg_wait_change(struct db_conn *dc, int timeout_ms)
{
	struct pg_conn *c = CONN(dc);
	int64_t before = c->notified, quiet_before = c->quiet_heard;
	if (!pg_alive(c) || listen_changes(c) < 0) {
		struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL); /* the server is away: try again later */
		return -EIO;
	}
	drain(c);
	if (c->notified == before) {
		struct pollfd p = {PQsocket(c->pg), POLLIN, 0};
		if (poll(&p, 1, timeout_ms) > 0)
			drain(c);
	}
	if (c->notified == before)
		return 0;
	/* Commits come in bursts (a script's mkdir loop: one a millisecond):
	 * a moment's wait lets the watcher read those right behind this one
	 * in the same statement, instead of waking and asking once per
	 * commit.  It is what a change costs in latency (3 ms, against SPEC
	 * §13's second). */
	struct timespec gather = {0, PG_GATHER_MS * 1000000L};
	nanosleep(&gather, NULL);
	drain(c);
	/* Only this process's quiet commits (pg_quiet): 3, and the caller
	 * need not read the change log for them. */
	return c->notified - before == c->quiet_heard - quiet_before ? 3 : 1;
}

static int pg_schema_version(struct db_conn *dc)
{
	struct pg_conn *c = CONN(dc);
	PGresult *r = pg_collect(c, PQsendQuery(c->pg, "SELECT version FROM imgfs_schema"), c->answer_ms);
	int v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	return v;
}

static int pg_schema(struct db_conn *c)
{
	char trim[96];
	int rc;
	if ((rc = pg_begin_write(c)) < 0)
		return rc;
	/* The table that holds the version, so the version can be read. */
	if ((rc = pg_exec(c, "CREATE TABLE IF NOT EXISTS imgfs_schema (version INTEGER NOT NULL)")) < 0 ||
	    (rc = schema_pg_apply(c, pg_exec, pg_schema_version)) < 0) {
		pg_rollback(c);
		return rc;
	}
	/* Rows of connections that ended without removing theirs (a crash). */
	snprintf(trim, sizeof(trim), "DELETE FROM imgfs_commits WHERE at < %lld",
	         (long long)time(NULL) - PG_COMMITS_KEEP);
	if ((rc = pg_exec(c, trim)) < 0) {
		pg_rollback(c);
		return rc;
	}
	if ((rc = pg_commit(c)) == 0)
		CONN(c)->marks = true; /* the table exists now */
	return rc;
}

/* The planner's statistics of a table of which at least half changed since
 * they were taken (a new service whose tables grow from nothing: autovacuum
 * looks once a minute) are taken again: at 500 rows, 1000, 2000, ...  Without them PostgreSQL
 * takes any index whose first columns match for "unknown, so small" and
 * its choice between images(region_id, account_id, folder, name) and
 * (region_id, account_id, folder, id) for a name's lookup is a coin: the
 * wrong one reads every image of the folder.  Statistics are the
 * database's business, not data: any host may take them, at any time. */
static int pg_tune(struct db_conn *dc)
{
	struct pg_conn *c = CONN(dc);
	PGresult *r;
	int rc = 0;
	if (!pg_alive(c) || (rc = pipe_flush(c)) < 0)
		return rc < 0 ? rc : -EIO;
	r = pg_collect(c,
	               PQsendQuery(c->pg, "SELECT relname FROM pg_stat_user_tables WHERE schemaname = "
	                                  "current_schema() AND n_mod_since_analyze >= greatest(500, n_live_tup / 2)"),
	               c->answer_ms);
	pg_round_trip(c);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = pg_sqlstate_errno(r);
		PQclear(r);
		return rc;
	}
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		const char *name = PQgetvalue(r, i, 0);
		char *id = PQescapeIdentifier(c->pg, name, strlen(name)), sql[256];
		if (!id)
			continue;
		snprintf(sql, sizeof(sql), "ANALYZE %s", id);
		PQfreemem(id);
		rc = pg_exec(dc, sql);
	}
	PQclear(r);
	return rc;
}

const struct db_driver db_postgres = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.prepare = pg_prepare_stmt,
	.finalize = pg_finalize,
	.exec = pg_exec,
	.schema = pg_schema,
	.begin_write = pg_begin_write,
	.begin_read = NULL,
	.quiet = pg_quiet,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.changes = pg_changes,
	.wait_change = pg_wait_change,
	.tune = pg_tune,
	.explain = NULL,
	.step = pg_step,
	.defer = pg_defer,
	.send = pg_send,
	.reset = pg_reset,
	.rewind = pg_rewind,
	.bind_int64 = pg_bind_int64,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.col_int64 = pg_col_int64,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
	.col_bytes = pg_col_bytes,
	.col_null = pg_col_null,
	.col_count = pg_col_count,
	.col_name = pg_col_name,
	.col_type = pg_col_type,
};

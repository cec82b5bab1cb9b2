/*
 * postgres.c — the PostgreSQL driver (db.h): metadata that several hosts
 * share (SPEC §13), through libpq.  Any libpq connection string or URL is
 * the target (`-o db=postgresql://...`, `imgfs admin --db URL`).  This
 * file is the connection, its statements and its transactions;
 * postgres_values.c turns the model's values into parameters and results
 * back into values (postgres_int.h: the statement they share).
 *
 * Connections: one per thread of each process (db.c), as for SQLite.  A
 * connection that breaks (the server restarted, the network went away) is
 * reset on the next statement; the statements prepared on it are prepared
 * again (each remembers the connection epoch it was prepared in).  While
 * the server is unreachable every statement fails with -EIO.
 *
 * A host cut off from the server (issue 47: a network that drops every
 * packet, where nothing answers and nothing refuses) must not hang its
 * requests: every connection asks libpq for TCP keepalives and a TCP user
 * timeout (PG_LINK_PARAMS: a peer that acknowledges nothing for 10 s ends
 * the connection, whether a statement waits for its answer or the
 * connection sits idle), and a 5 s connect timeout; a connection whose
 * reset waited in vain (nothing answered: not a server that refuses while
 * it restarts) is not tried again for PG_RETRY_MS, unless another
 * connection of the process got through since (its statements fail at
 * once meanwhile: each request does not wait out a connect of its own).
 * So a statement of a cut-off host ends with -EIO within about 20 s (SPEC
 * §13).  A connection string may set these parameters itself: its values
 * win.
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
 * pipeline (no round trip of its own).  On a lost answer commit_outcome
 * reconnects (for up to PG_OUTCOME_WAIT_MS: a restarting server), waits
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
 * sqlstate_errno() is the one translation of PostgreSQL's errors.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <libpq-fe.h>

#include "postgres_int.h"

#define PG_MAX_QUEUED 32 /* results a pipeline waits for before it is synced */
#define PG_GATHER_MS 3   /* how long a woken watcher waits for the commits right behind */
#define PG_ADVISORY_KEY "7596851276339898982" /* 'imgfs-db' as an int8: the write lock */
#define PG_OUTCOME_WAIT_MS 30000 /* how long a lost commit's outcome is looked for (a server restarting) */
#define PG_COMMITS_KEEP 86400    /* seconds a connection's imgfs_commits row outlives it after a crash */
#define PG_RETRY_MS 5000         /* a connection whose reset failed is not tried again before */
#define PG_ANSWER_MS 60000       /* a statement's answer is waited for at most (IMGFS_PG_ANSWER_MS) */
#define PG_CLOSE_MS 1000         /* ... and at a close, where nothing waits on it */

/* libpq's parameters of every connection, before the target's own (which
 * override them: PQconnectdbParams reads the arrays in order, and the
 * target is expanded where its "dbname" stands). */
static const char *const pg_keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                                      "keepalives_count", "tcp_user_timeout", "dbname", NULL};
#define PG_LINK_PARAMS "5", "1", "5", "2", "3", "10000"

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

/* SQLSTATE -> -errno; the one translation of the server's errors. */
static int sqlstate_errno(const PGresult *r)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (!s)
		return -EIO; /* no answer: the connection */
	if (strncmp(s, "23", 2) == 0)
		return -EEXIST; /* integrity constraint: unique, foreign key */
	if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0)
		return -EAGAIN;
	if (strcmp(s, "53100") == 0)
		return -ENOSPC;
	if (strcmp(s, "53300") == 0 || strncmp(s, "57P0", 4) == 0 || strncmp(s, "08", 2) == 0)
		return -EIO; /* too many connections, shutting down, connection lost */
	if (strcmp(s, "22021") == 0 || strcmp(s, "22P05") == 0)
		return -EINVAL; /* bytes that are not UTF-8 (the model checks first) */
	if (strcmp(s, "42501") == 0)
		return -EACCES;
	return -EIO;
}

/* A line of the driver's, "postgresql: ...": into the mount's log (the
 * connection's log: an EIO the caller gets has its line there), else on
 * stderr. */
static void pg_say(const struct pg_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pg_say(const struct pg_conn *c, const char *fmt, ...)
{
	char line[480];
	int n = snprintf(line, sizeof(line), "postgresql: ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (c && c->base.log)
		c->base.log(c->base.log_arg, line);
	else
		fprintf(stderr, "imgfs: %s\n", line);
}

/* Logs a server error (like the SQLite driver's lines). */
static void pg_complain(const struct pg_conn *c, const char *what, const PGresult *r)
{
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg);
	size_t n = strcspn(msg, "\n");
	pg_say(c, "%s: %.*s", what, (int)n, msg);
}

/* One network exchange with the server. */
static void round_trip(struct pg_conn *c)
{
	if (c->base.round_trips)
		atomic_fetch_add_explicit(c->base.round_trips, 1, memory_order_relaxed);
}

static bool reconnect(struct pg_conn *c);
static void session_setup(struct pg_conn *c);

/* How long an answer is waited for: IMGFS_PG_ANSWER_MS in the process's
 * environment (1,000 to 3,600,000 ms; anything else: PG_ANSWER_MS). */
int db_pg_answer_ms(const char *env)
{
	char *end = NULL;
	long v = env ? strtol(env, &end, 10) : 0;
	return env && end != env && *end == '\0' && v >= 1000 && v <= 3600000 ? (int)v : PG_ANSWER_MS;
}

/* Sends what libpq holds and waits until its next result can be read
 * without blocking, for at most ms (the connection is non-blocking: see
 * pg_open).  A server that does not answer within it (paused, frozen, a
 * proxy that keeps the connection but passes nothing on: its kernel
 * acknowledges, so neither TCP's user timeout nor keepalives end it) is
 * given up: the connection is shut, libpq's next PQgetResult fails at
 * once as for any broken connection, and the next statement resets it
 * (SPEC §13.23, issue 70).  false when it was given up. */
static bool pg_await(struct pg_conn *c, int ms)
{
	int64_t end = model_mono_ns() / 1000000 + ms;
	for (;;) {
		int fl = PQflush(c->pg); /* 0: all sent, 1: more to send, -1: broken */
		if (fl < 0 || PQstatus(c->pg) != CONNECTION_OK || (fl == 0 && !PQisBusy(c->pg)))
			return true; /* PQgetResult answers at once */
		int64_t left = end - model_mono_ns() / 1000000;
		struct pollfd p = {PQsocket(c->pg), (short)(POLLIN | (fl ? POLLOUT : 0)), 0};
		if (p.fd < 0)
			return true;
		if (left <= 0) {
			pg_say(c, "no answer within %d ms (a server paused or unreachable): the connection is given up, "
			          "the statement fails with EIO",
			       ms);
			c->unanswered = true;
			shutdown(p.fd, SHUT_RDWR);
			PQconsumeInput(c->pg); /* sees the end: libpq marks the connection bad */
			return false;
		}
		int n = poll(&p, 1, (int)left);
		if (n > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(c->pg))
			return true; /* broken: PQgetResult says so */
	}
}

/* PQgetResult, waited for with an end (pg_await). */
static PGresult *pg_result(struct pg_conn *c)
{
	pg_await(c, c->answer_ms);
	return PQgetResult(c->pg);
}

/* What PQexec would return (the last result, NULL if sent was 0: nothing
 * went out), each waited for with an end: the one way the driver reads a
 * statement's answer. */
static PGresult *pg_collect(struct pg_conn *c, int sent, int ms)
{
	PGresult *last = NULL, *r;
	if (!sent)
		return NULL;
	for (;;) {
		pg_await(c, ms);
		if (!(r = PQgetResult(c->pg)))
			break;
		PQclear(last);
		last = r;
	}
	return last;
}

/* What the server says outside any statement (libpq's notice receiver):
 * a warning goes to stderr as before; FATAL or PANIC while the connection
 * sat idle is a server shutting down (or an administrator ending the
 * backend), and the connection is reset before its next statement. */
static void on_notice(void *arg, const PGresult *r)
{
	struct pg_conn *c = arg;
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorMessage(r);
	if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
		c->doomed = true;
	pg_say(c, "%.*s", (int)strcspn(msg, "\n"), msg);
}

/* Whether the server closed the connection while it sat idle (a restart:
 * its FATAL and the end of the stream wait in the socket, and libpq
 * learns of them only when it next reads).  One poll() that returns at
 * once; what is there is read (notifications are kept for drain()). */
static bool closed_while_idle(struct pg_conn *c)
{
	struct pollfd p = {PQsocket(c->pg), POLLIN, 0};
	for (int i = 0; i < 4 && !c->doomed && PQstatus(c->pg) == CONNECTION_OK; i++) {
		if (p.fd < 0 || poll(&p, 1, 0) <= 0)
			break;
		if (!PQconsumeInput(c->pg))
			break; /* the end of the stream: libpq marks it bad */
		PQisBusy(c->pg); /* parses it: a FATAL reaches on_notice */
	}
	return c->doomed || PQstatus(c->pg) != CONNECTION_OK;
}

/* The connection, reset if it broke (never inside a transaction: the rest
 * of it must fail, not run outside it); false when the server is
 * unreachable.  Outside a transaction a connection the server closed
 * while it sat idle is reset before it is used, so that after an outage
 * every connection of the mount works again from its first statement —
 * a write's too (a write that met the outage itself keeps its EIO). */
static bool pg_alive(struct pg_conn *c)
{
	if (!c->in_txn && c->nqueued == 0) {
		if (!closed_while_idle(c))
			return true;
	} else if (PQstatus(c->pg) == CONNECTION_OK) {
		return true;
	}
	if (c->in_txn)
		return false;
	return reconnect(c);
}

/* A new connection in place of the old one, whatever its state; a
 * failure is logged (the EIO that follows has its line), once until a
 * reset succeeds again. */
static bool reconnect(struct pg_conn *c)
{
	int64_t now_ms = model_mono_ns() / 1000000;
	c->nqueued = 0;
	c->begin_pending = false;
	c->doomed = false;
	if (c->down && c->down_ms && now_ms - c->down_ms < PG_RETRY_MS &&
	    (!c->base.connected_ms || atomic_load(c->base.connected_ms) < c->down_ms))
		return false; /* tried a moment ago, and nobody got through since: fail at once */
	PQreset(c->pg);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		if (!c->down) {
			const char *msg = PQerrorMessage(c->pg);
			pg_say(c, "cannot reconnect (statements fail with EIO until it answers): %.*s",
			       (int)strcspn(msg, "\n"), msg);
		}
		c->down = true;
		/* Only a reset that waited (nothing answered: a cut, not a
		 * refusal) holds the next ones back; a server that refuses while
		 * it restarts is asked again at once. */
		int64_t end_ms = model_mono_ns() / 1000000;
		c->down_ms = end_ms - now_ms >= 1000 ? end_ms : 0;
		return false;
	}
	if (c->base.connected_ms)
		atomic_store(c->base.connected_ms, model_mono_ns() / 1000000);
	if (c->down)
		pg_say(c, "reconnected");
	c->down = false;
	c->unanswered = false;
	c->epoch++;
	c->listening = false;
	c->notified++; /* notifications were lost meanwhile */
	PQsetnonblocking(c->pg, 1);
	session_setup(c);
	return true;
}

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
	round_trip(c);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_complain(c, "exec", r);
		rc = sqlstate_errno(r);
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

/* What a new session needs, on the first connection and after every
 * reset (a reset connection is a new session: its settings are gone).
 * Warnings (notices) are not errors: keep stderr for those.  READ
 * COMMITTED: see the top of the file.  Whether its commits can be marked
 * (a database of an older schema has no imgfs_commits yet: pg_schema
 * marks from when it made it): the same exchange. */
static void session_setup(struct pg_conn *c)
{
	/* The server's side of a cut too: a host cut off inside a write
	 * transaction (its connection idle in it) held the write lock, and
	 * every other host waited behind it for as long as the server kept
	 * the session — hours, for a peer that never answers (issue 49,
	 * test_rados_cut).  The server now probes an idle client after 5 s,
	 * 3 times 2 s apart, and ends the session (its transaction rolled
	 * back, the lock freed) when nothing answers: about 11 s, as the
	 * client's own 10 s.  Probes wait while an answer of the server's is
	 * still unacknowledged, and the cut that hung test_rados_cut fell
	 * there (b's BEGIN, its lock and its statement arrived, their answer
	 * did not): TCP then gives up after its 15 retransmissions, 15
	 * minutes.  So the server's TCP user timeout too: an answer the
	 * client acknowledges nothing of for 10 s ends the session. */
	PGresult *r = pg_collect(c, PQsendQuery(c->pg, "SET client_min_messages = warning; SET default_transaction_isolation = "
	                            "'read committed'; SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; "
	                            "SET tcp_keepalives_count = 3; SET tcp_user_timeout = 10000; "
	                            "SELECT to_regclass('imgfs_commits') IS NOT NULL"), c->answer_ms);
	round_trip(c);
	c->marks = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't' &&
	           c->commit_key > 0;
	PQclear(r);
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
	c->answer_ms = db_pg_answer_ms(getenv("IMGFS_PG_ANSWER_MS"));
	const char *values[] = {PG_LINK_PARAMS, target, NULL};
	_Static_assert(sizeof(values) == sizeof(pg_keys), "a value for each of pg_keys");
	c->pg = PQconnectdbParams(pg_keys, values, 1);
	if (c->pg)
		PQsetNoticeReceiver(c->pg, on_notice, c);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(c->pg);
		model_fail(err, -EIO, "cannot connect to the database: %.*s", (int)strcspn(msg, "\n"), msg);
		pg_close(&c->base);
		return -EIO;
	}
	/* Non-blocking: a send never waits in libpq (pg_await sends, with the
	 * answer's end; a server paused with a full buffer would hold a
	 * blocking send for ever). */
	PQsetnonblocking(c->pg, 1);
	uint64_t key = 0;
	if (getrandom(&key, sizeof(key), 0) == (ssize_t)sizeof(key))
		c->commit_key = (int64_t)(key >> 1) + 1; /* else 0: no key, no marks, a lost commit's outcome unknown */
	session_setup(c);
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
	round_trip(c);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char what[256];
		snprintf(what, sizeof(what), "%s:%d: %s", s->base.sql->file, s->base.sql->line, s->sql);
		pg_complain(c, what, r);
		rc = sqlstate_errno(r);
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
	int rc = sqlstate_errno(r);
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
		round_trip(c);
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
				rc = sqlstate_errno(r);
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
			round_trip(c);
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
		    (PQstatus(c->pg) == CONNECTION_OK && !c->doomed) || !reconnect(c))
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

/* The first column of the one row sql returns, as a number; -ENOENT for
 * no row, -errno. */
static int query_int(struct pg_conn *c, const char *sql, int64_t *out)
{
	PGresult *r = pg_collect(c, PQsendQuery(c->pg, sql), c->answer_ms);
	int rc = 0;
	round_trip(c);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = sqlstate_errno(r);
	else if (PQntuples(r) != 1)
		rc = -ENOENT;
	else
		*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return rc;
}

/* The outcome of commit number seq, whose answer was lost with the
 * connection to backend old_pid (see the top of the file): 0 when it
 * committed, -EIO when it did not or when that cannot be found out within
 * PG_OUTCOME_WAIT_MS. */
static int commit_outcome(struct pg_conn *c, int old_pid, int64_t seq)
{
	struct timespec pause = {0, 100 * 1000000L};
	int64_t deadline = model_mono_ns() / 1000000 + PG_OUTCOME_WAIT_MS, v;
	char sql[160];
	c->in_txn = false; /* over, one way or the other: the connection may be reset */
	if (PQstatus(c->pg) == CONNECTION_OK)
		reconnect(c); /* it answered with a shutdown's FATAL: its backend is going */
	for (;;) {
		/* The old backend gone first, then the row read afresh: read in
		 * one statement, a commit between its snapshot and the check of
		 * the backend would be missed. */
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", old_pid);
		if (pg_alive(c) && query_int(c, sql, &v) == 0 && v == 0) {
			snprintf(sql, sizeof(sql), "SELECT seq FROM imgfs_commits WHERE conn = %lld",
			         (long long)c->commit_key);
			int rc = query_int(c, sql, &v);
			if (rc == -ENOENT)
				v = -1; /* no row: its first marked commit did not happen */
			if (rc == 0 || rc == -ENOENT) {
				pg_say(c, "the connection was lost during a commit, which %s",
				       v == seq ? "had happened" : "had not happened (nothing changed)");
				return v == seq ? 0 : -EIO;
			}
		}
		if (model_mono_ns() / 1000000 >= deadline)
			break;
		nanosleep(&pause, NULL);
	}
	pg_say(c, "the connection was lost during a commit, and the database did not come back within %d s to "
	          "tell whether it happened", PG_OUTCOME_WAIT_MS / 1000);
	return -EIO;
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
			if (commit_outcome(c, pid, seq) < 0)
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
	round_trip(c);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = sqlstate_errno(r);
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

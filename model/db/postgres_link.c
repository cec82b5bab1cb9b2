/*
 * postgres_link.c — the PostgreSQL driver's connection to the server
 * (postgres.c is the driver: its statements, transactions and table):
 * the connect, the answer's deadline, the reset of a broken connection,
 * the lines the driver logs, the one translation of the server's errors
 * (pg_sqlstate_errno), and the outcome of a commit whose answer was lost.
 * postgres.c calls it; it calls nothing of postgres.c's (postgres_int.h:
 * the connection they share).
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
 * A server that keeps the connection but does not answer (paused,
 * frozen, a proxy that passes nothing on: its kernel acknowledges, so
 * neither TCP's user timeout nor keepalives end it): every answer is
 * waited for at most answer_ms (IMGFS_PG_ANSWER_MS, 60 s by default: SPEC
 * §13.23), through pg_await on a non-blocking connection; then the
 * connection is given up and the statement fails with -EIO.
 *
 * A lost commit's outcome (postgres.c's header: the commit marks):
 * pg_commit_outcome reconnects, waits until the old backend is gone, and
 * reads the connection's row of imgfs_commits.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <libpq-fe.h>

#include "postgres_int.h"

#define PG_OUTCOME_WAIT_MS 30000 /* how long a lost commit's outcome is looked for (a server restarting) */
#define PG_RETRY_MS 5000         /* a connection whose reset failed is not tried again before */
#define PG_ANSWER_MS 60000       /* a statement's answer is waited for at most (IMGFS_PG_ANSWER_MS) */

static void session_setup(struct pg_conn *c);

/* libpq's parameters of every connection, before the target's own (which
 * override them: PQconnectdbParams reads the arrays in order, and the
 * target is expanded where its "dbname" stands). */
static const char *const pg_keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                                      "keepalives_count", "tcp_user_timeout", "dbname", NULL};
#define PG_LINK_PARAMS "5", "1", "5", "2", "3", "10000"

/* SQLSTATE -> -errno; the one translation of the server's errors. */
int pg_sqlstate_errno(const PGresult *r)
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
void pg_say(const struct pg_conn *c, const char *fmt, ...)
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
void pg_complain(const struct pg_conn *c, const char *what, const PGresult *r)
{
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg);
	size_t n = strcspn(msg, "\n");
	pg_say(c, "%s: %.*s", what, (int)n, msg);
}

/* One network exchange with the server. */
void pg_round_trip(struct pg_conn *c)
{
	if (c->base.round_trips)
		atomic_fetch_add_explicit(c->base.round_trips, 1, memory_order_relaxed);
}

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
bool pg_await(struct pg_conn *c, int ms)
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
PGresult *pg_result(struct pg_conn *c)
{
	pg_await(c, c->answer_ms);
	return PQgetResult(c->pg);
}

/* What PQexec would return (the last result, NULL if sent was 0: nothing
 * went out), each waited for with an end: the one way the driver reads a
 * statement's answer. */
PGresult *pg_collect(struct pg_conn *c, int sent, int ms)
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
bool pg_alive(struct pg_conn *c)
{
	if (!c->in_txn && c->nqueued == 0) {
		if (!closed_while_idle(c))
			return true;
	} else if (PQstatus(c->pg) == CONNECTION_OK) {
		return true;
	}
	if (c->in_txn)
		return false;
	return pg_reconnect(c);
}

/* A new connection in place of the old one, whatever its state; a
 * failure is logged (the EIO that follows has its line), once until a
 * reset succeeds again. */
bool pg_reconnect(struct pg_conn *c)
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
	pg_round_trip(c);
	c->marks = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't' &&
	           c->commit_key > 0;
	PQclear(r);
}

/* The first column of the one row sql returns, as a number; -ENOENT for
 * no row, -errno. */
static int query_int(struct pg_conn *c, const char *sql, int64_t *out)
{
	PGresult *r = pg_collect(c, PQsendQuery(c->pg, sql), c->answer_ms);
	int rc = 0;
	pg_round_trip(c);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = pg_sqlstate_errno(r);
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
int pg_commit_outcome(struct pg_conn *c, int old_pid, int64_t seq)
{
	struct timespec pause = {0, 100 * 1000000L};
	int64_t deadline = model_mono_ns() / 1000000 + PG_OUTCOME_WAIT_MS, v;
	char sql[160];
	c->in_txn = false; /* over, one way or the other: the connection may be reset */
	if (PQstatus(c->pg) == CONNECTION_OK)
		pg_reconnect(c); /* it answered with a shutdown's FATAL: its backend is going */
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

/* The connection of a new pg_conn to target (its own parameters after
 * PG_LINK_PARAMS), non-blocking, its session set up; -EIO with why in
 * err when the server cannot be reached (the caller closes c). */
int pg_connect(struct pg_conn *c, const char *target, struct model_err *err)
{
	c->answer_ms = db_pg_answer_ms(getenv("IMGFS_PG_ANSWER_MS"));
	const char *values[] = {PG_LINK_PARAMS, target, NULL};
	_Static_assert(sizeof(values) == sizeof(pg_keys), "a value for each of pg_keys");
	c->pg = PQconnectdbParams(pg_keys, values, 1);
	if (c->pg)
		PQsetNoticeReceiver(c->pg, on_notice, c);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(c->pg);
		model_fail(err, -EIO, "cannot connect to the database: %.*s", (int)strcspn(msg, "\n"), msg);
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
	return 0;
}

/*
 * test_postgres.c — mirrors model/db/postgres.c: what the PostgreSQL driver
 * promises beyond running statements — the round trips a write costs (its
 * pipeline), statements sent ahead and read later, a deferred statement's
 * failure failing the transaction, a connection lost inside a
 * transaction never committing half of it, a COMMIT the server refuses
 * failing with nothing kept, a serialization failure outside a
 * transaction run 3 times, the client's keepalive parameters, and every
 * result libpq hands out cleared (counted by an event procedure).
 *
 * Runs on both drivers (ctest's _pg twin): where SQLite has nothing to
 * count or lose, the test checks what the model sees, which must be the
 * same on both.
 */
#include <dlfcn.h>

#include "test_util.h"

#include <libpq-events.h>

#include "postgres_int.h"

static int64_t round_trips(struct ut_fx *fx)
{
	return model_round_trips(fx->m);
}

/* mkdir of a private image: BEGIN, the lock, the insert (which checks the
 * name and the quota and returns the row, sent ahead), the region's time
 * and the change log (which do their part only if the row is there) and
 * COMMIT — one round trip (db/postgres.c, meta/image.c).  An empty write
 * transaction sends nothing. */
static void test_write_round_trips(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice");
	struct model_conn *c;

	ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "warm"); /* statements prepared on this connection */
	int64_t before = round_trips(fx);
	ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "counted");
	int64_t create = round_trips(fx) - before;

	assert_int_equal(model_conn_get(fx->m, &c), 0);
	before = round_trips(fx);
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_write_end(c, 0, NULL), 0);
	int64_t empty = round_trips(fx) - before;

	print_message("model_image_create: %lld round trips; an empty transaction: %lld\n", (long long)create,
	              (long long)empty);
	assert_int_equal(create, fx->pgdb[0] ? 1 : 0);
	assert_int_equal(empty, 0);
}

/* A deferred statement that fails fails the transaction — at once with
 * SQLite, at the commit with PostgreSQL — and nothing of it stays. */
static void test_deferred_failure_fails_the_transaction(void **state)
{
	struct ut_fx *fx = *state;
	struct model_conn *c;
	int rc;

	assert_int_equal(model_conn_get(fx->m, &c), 0);
	db_stmt *a = ut_prepare(fx, "INSERT INTO settings(key, value) VALUES ('ut-deferred', 'a')");
	db_stmt *b = ut_prepare(fx, "INSERT INTO settings(key, value) VALUES ('ut-deferred', 'b')");
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_exec_deferred(a), 0);
	rc = model_write_end(c, model_exec_deferred(b), NULL);
	ut_finalize(a);
	ut_finalize(b);
	assert_int_equal(rc, -EEXIST);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key = 'ut-deferred'"), 0);

	/* The connection works on: the next transaction commits. */
	ut_sql(fx, "INSERT INTO settings(key, value) VALUES ('ut-deferred', 'c')");
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key = 'ut-deferred'"), 1);
}

/* With PostgreSQL, a statement whose rows are read after a deferred one
 * that failed reports that failure (the server skipped it). */
static void test_deferred_failure_reaches_the_next_statement(void **state)
{
	struct ut_fx *fx = *state;
	struct model_conn *c;
	if (!fx->pgdb[0])
		skip(); /* SQLite runs a deferred statement at once */
	ut_sql(fx, "INSERT INTO settings(key, value) VALUES ('ut-next', 'a')");
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	db_stmt *dup = ut_prepare(fx, "INSERT INTO settings(key, value) VALUES ('ut-next', 'b')");
	db_stmt *sel = ut_prepare(fx, "SELECT count(*) FROM settings");
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_exec_deferred(dup), 0);
	assert_int_equal(db_step(sel), -EEXIST);
	model_write_end(c, -ECANCELED, NULL);
	db_reset(sel);
	assert_int_equal(db_step(sel), DB_ROW); /* and the connection works on */
	ut_finalize(dup);
	ut_finalize(sel);
}

/* The plan PostgreSQL makes for a name's lookup in a folder (its first
 * line names the index). */
static void lookup_plan(struct ut_fx *fx, char *out, size_t cap)
{
	db_stmt *st = ut_prepare(fx, "EXPLAIN SELECT id FROM images WHERE region_id = 1 AND account_id = 7 AND folder = 3 "
	                             "AND name = 'n-42'");
	size_t len = 0;
	out[0] = '\0';
	while (db_step(st) == DB_ROW && len + 1 < cap)
		len += (size_t)snprintf(out + len, cap - len, "%s\n", db_col_text(st, 0));
	ut_finalize(st);
}

/* A folder that grew from nothing faster than autovacuum looks (once a
 * minute): without statistics PostgreSQL may look a name up through the
 * listing's index, reading the whole folder.  A mount's upkeep
 * (model_db_tune, every few seconds) takes them, and the lookup goes
 * through the name's index again. */
static void test_tune_takes_statistics_of_a_grown_table(void **state)
{
	struct ut_fx *fx = *state;
	char plan[2048];
	if (!fx->pgdb[0])
		skip(); /* SQLite picks the unique index on its own */
	ut_sql(fx, "INSERT INTO images(ext_id, region_id, account_id, folder, name, status, created, mtime_ns, ctime_ns, "
	           "dir_mtime_ns) SELECT 'img-t' || g, 1, 7, 3, 'n-' || g, 1, 0, 0, 0, 0 FROM generate_series(1, 3000) g");
	ut_sql(fx, "SELECT pg_stat_force_next_flush()");
	ut_sql(fx, "SELECT 1"); /* its end sends this connection's counts */
	assert_true(ut_sql_int(fx, "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'images'") >= 3000);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'images' AND "
	                                "last_analyze IS NOT NULL"),
	                 0);
	assert_int_equal(model_db_tune(fx->m), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'images' AND "
	                                "last_analyze IS NOT NULL"),
	                 1);
	lookup_plan(fx, plan, sizeof plan);
	print_message("%s", plan);
	assert_non_null(strstr(plan, "images_name"));
	/* Nothing changed since: nothing to do. */
	int64_t before = round_trips(fx);
	assert_int_equal(model_db_tune(fx->m), 0);
	assert_int_equal(round_trips(fx) - before, 1);
}

/* Runs sql on the test's database through a connection of its own. */
static void pg_run(struct ut_fx *fx, const char *sql);

/* An operator's database default of SERIALIZABLE does not reach imgfs's
 * connections: they run READ COMMITTED, under which its serialised writers
 * meet no serialization failure. */
static void test_read_committed_whatever_the_default(void **state)
{
	struct ut_fx *fx = *state;
	char sql[256];
	model *m = NULL;
	struct model_err err = {0};
	if (!fx->pgdb[0])
		skip();
	snprintf(sql, sizeof sql, "ALTER DATABASE %s SET default_transaction_isolation = 'serializable'", fx->pgdb);
	pg_run(fx, sql);
	assert_int_equal(ut_open(&m, fx->dir, fx->pgdb, &err), 0); /* connections made from now on */
	const struct model_sql q = {"SELECT current_setting('transaction_isolation') = 'read committed'", "a test",
	                            __FILE__, __LINE__};
	struct model_conn *c;
	db_stmt *st;
	assert_int_equal(model_conn_get(m, &c), 0);
	assert_int_equal(c->drv->prepare(c->db, &q, &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_col_int64(st, 0), 1);
	c->drv->finalize(st);
	model_close(m);
}

/* Runs sql on the test's database through a connection of its own. */
static void pg_run(struct ut_fx *fx, const char *sql)
{
	char target[640];
	ut_pg_target(target, sizeof target, fx->pgdb);
	PGconn *pg = PQconnectdb(target);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(pg);
}

/* The server probes an imgfs connection that is idle (in a transaction
 * or not) after 5 s, 3 times 2 s apart, and gives up an answer the client
 * acknowledges nothing of for 10 s: a host cut off inside a write
 * transaction does not hold the write lock for hours, nor for TCP's 15
 * minutes of retransmissions (issue 49). */
static void test_server_probes_idle_connections(void **state)
{
	struct ut_fx *fx = *state;
	if (!fx->pgdb[0])
		skip();
	const struct model_sql q = {"SELECT current_setting('tcp_keepalives_idle') || ' ' || "
	                            "current_setting('tcp_keepalives_interval') || ' ' || "
	                            "current_setting('tcp_keepalives_count') || ' ' || "
	                            "current_setting('tcp_user_timeout')", "a test", __FILE__, __LINE__};
	struct model_conn *c;
	db_stmt *st;
	char v[64];
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	assert_int_equal(c->drv->prepare(c->db, &q, &st), 0);
	assert_int_equal(db_step(st), DB_ROW);
	model_col_text(st, 0, v, sizeof v);
	assert_string_equal(v, "5 2 3 10000");
	c->drv->finalize(st);
	/* and the client's own side: keepalives after 5 s idle, 2 s apart, 3
	 * of them, 10 s for an unacknowledged send, 5 s to connect
	 * (postgres_link.c's PG_LINK_PARAMS, as libpq took them). */
	static const char *const want[][2] = {{"connect_timeout", "5"}, {"keepalives", "1"}, {"keepalives_idle", "5"},
	                                      {"keepalives_interval", "2"}, {"keepalives_count", "3"},
	                                      {"tcp_user_timeout", "10000"}};
	PQconninfoOption *opts = PQconninfo(CONN(c->db)->pg);
	assert_non_null(opts);
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
		const PQconninfoOption *o = opts;
		while (o->keyword && strcmp(o->keyword, want[k][0]) != 0)
			o++;
		assert_non_null(o->keyword);
		assert_non_null(o->val);
		assert_string_equal(o->val, want[k][1]);
	}
	PQconninfoFree(opts);
}

/* The server drops the connection in the middle of a transaction (it
 * restarted, the network went): the rest of the transaction fails, none
 * of it runs on a new connection outside the transaction (which would
 * commit half of it), and the connection comes back for the next one. */
static void test_connection_lost_inside_a_transaction(void **state)
{
	struct ut_fx *fx = *state;
	struct model_conn *c;
	int64_t pid;
	char kill[128];
	if (!fx->pgdb[0])
		skip(); /* an SQLite connection is a file */
	assert_int_equal(model_sql_int(fx->m, "SELECT pg_backend_pid()", &pid), 0);
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	db_stmt *first = ut_prepare(fx, "INSERT INTO settings(key, value) VALUES ('ut-lost-1', 'a')");
	db_stmt *second = ut_prepare(fx, "INSERT INTO settings(key, value) VALUES ('ut-lost-2', 'a')");
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(db_step(first), DB_DONE);
	snprintf(kill, sizeof kill, "SELECT pg_terminate_backend(%lld)", (long long)pid);
	pg_run(fx, kill);
	db_reset(first);
	int a = db_step(first), b = db_step(second), rc = model_write_end(c, 0, NULL);
	ut_finalize(first);
	ut_finalize(second);
	assert_true(a < 0 && a != DB_DONE);
	assert_int_equal(b, -EIO);
	assert_true(rc < 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key LIKE 'ut-lost-%%'"), 0);
}

/* The model's log lines, for a test to read. */
struct lines {
	char buf[4096];
	size_t len;
};

static void collect(void *arg, const char *line)
{
	struct lines *l = arg;
	int n = snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s\n", line);
	if (n > 0 && l->len + (size_t)n < sizeof l->buf)
		l->len += (size_t)n;
}

/* A commit whose mark the server refuses (here a constraint added to its
 * table): the transaction fails, nothing of it stays, and the log line
 * names the mark.  Its text was a buffer of the function that queued it,
 * gone when the answer was read at the sync (ASan in CI, stop 52: a
 * stack use after scope when a server restart failed a commit). */
static void test_commit_mark_refused_is_named(void **state)
{
	struct ut_fx *fx = *state;
	struct lines l = {0};
	struct model_conn *c;
	if (!fx->pgdb[0])
		skip(); /* SQLite's commits have no mark */
	db_stmt *a = ut_prepare(fx, "INSERT INTO settings(key, value) VALUES ('ut-mark', 'a')");
	pg_run(fx, "ALTER TABLE imgfs_commits ADD CONSTRAINT ut_no_mark CHECK (seq < 0) NOT VALID");
	model_set_log(fx->m, collect, &l);
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	int rc = model_write_end(c, model_exec_deferred(a), NULL);
	model_set_log(fx->m, NULL, NULL);
	ut_finalize(a);
	pg_run(fx, "ALTER TABLE imgfs_commits DROP CONSTRAINT ut_no_mark");
	print_message("%s", l.buf);
	assert_true(rc < 0);
	assert_non_null(strstr(l.buf, "postgresql: the commit mark: "));
	assert_non_null(strstr(l.buf, "ut_no_mark"));
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key = 'ut-mark'"), 0);
}

/* IMGFS_PG_ANSWER_MS, read at each connection's open: 1,000 to
 * 3,600,000 ms, each end and one past it; anything else the default. */
static void test_answer_bound_parsed(void **state)
{
	(void)state;
	assert_int_equal(db_pg_answer_ms(NULL), 60000);
	assert_int_equal(db_pg_answer_ms("1000"), 1000);
	assert_int_equal(db_pg_answer_ms("999"), 60000);
	assert_int_equal(db_pg_answer_ms("3600000"), 3600000);
	assert_int_equal(db_pg_answer_ms("3600001"), 60000);
	assert_int_equal(db_pg_answer_ms(""), 60000);
	assert_int_equal(db_pg_answer_ms("2000ms"), 60000);
	assert_int_equal(db_pg_answer_ms("-5000"), 60000);
}

/* libpq's connections made and finished, counted: these two, linked
 * before libpq's (each passing the call on), see the driver's calls. */
static atomic_long pg_conns_live;

PGconn *PQconnectdbParams(const char *const *keywords, const char *const *values, int expand_dbname)
{
	static PGconn *(*real)(const char *const *, const char *const *, int);
	if (!real)
		real = (PGconn * (*)(const char *const *, const char *const *, int)) dlsym(RTLD_NEXT, "PQconnectdbParams");
	PGconn *c = real(keywords, values, expand_dbname);
	if (c)
		atomic_fetch_add(&pg_conns_live, 1);
	return c;
}

void PQfinish(PGconn *c)
{
	static void (*real)(PGconn *);
	if (!real)
		real = (void (*)(PGconn *))dlsym(RTLD_NEXT, "PQfinish");
	if (c)
		atomic_fetch_sub(&pg_conns_live, 1);
	real(c);
}

/* A server nobody answers for (a port nothing listens on): the open is
 * EIO with libpq's reason, and gives no connection — libpq's finished
 * too (a failed open that freed its PGconn without PQfinish passed here,
 * seen only by LeakSanitizer at the ASan pass's exit). */
static void test_unreachable_open(void **state)
{
	(void)state;
	struct db_conn *c = NULL;
	struct model_err err = {0};
	long before = atomic_load(&pg_conns_live);
	assert_int_equal(db_postgres.open(&c, "postgresql://imgfs@127.0.0.1:1/none", &err), -EIO);
	assert_null(c);
	assert_int_equal(atomic_load(&pg_conns_live), before);
	assert_int_equal(err.code, -EIO);
	assert_non_null(strstr(err.msg, "cannot connect to the database: "));
}

/* A server that does not answer (what a paused one is to its client: its
 * kernel acknowledges, so TCP's user timeout and keepalives never end the
 * wait; here a statement that sleeps past the bound stands for it) is
 * given up after IMGFS_PG_ANSWER_MS: the statement is EIO with the log's
 * line — alone, and as the statement of a write transaction (the
 * pipeline's wait), which fails with nothing of it kept — and the same
 * thread's next statement works on a new connection (issue 70).  Before,
 * each waited the whole sleep and answered.  A read given up is not run
 * again on a new connection (as a read that met a restart is): the
 * server is not back.  A new thread: a connection of its own, opened
 * with the bound. */
struct unanswered {
	struct ut_fx *fx;
	int alone, in_txn, commit, after;
	int64_t v;
};

static void *unanswered_main(void *arg)
{
	struct unanswered *u = arg;
	struct model_conn *c;
	int64_t v = 0;
	u->alone = model_sql_int(u->fx->m, "SELECT 1 FROM pg_sleep(20)", &v);
	db_stmt *w = ut_prepare(u->fx, "INSERT INTO settings(key, value) SELECT 'ut-unanswered', 'a' FROM pg_sleep(20)");
	if (model_conn_get(u->fx->m, &c) == 0 && model_write_begin(u->fx->m, &c, NULL) == 0) {
		u->in_txn = db_step(w);
		u->commit = model_write_end(c, 0, NULL);
	}
	ut_finalize(w);
	u->after = model_sql_int(u->fx->m, "SELECT 7", &u->v);
	return NULL;
}

static void test_unanswered_statement_ends(void **state)
{
	struct ut_fx *fx = *state;
	struct lines l = {0};
	struct unanswered u = {.fx = fx};
	pthread_t th;
	if (!fx->pgdb[0])
		skip(); /* an SQLite connection is a file */
	model_set_log(fx->m, collect, &l);
	setenv("IMGFS_PG_ANSWER_MS", "1000", 1);
	assert_int_equal(pthread_create(&th, NULL, unanswered_main, &u), 0);
	pthread_join(th, NULL);
	unsetenv("IMGFS_PG_ANSWER_MS");
	model_set_log(fx->m, NULL, NULL);
	/* the backends still sleeping, ended (the teardown drops their database) */
	pg_run(fx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
	           "AND query LIKE '%pg_sleep(20)' AND pid <> pg_backend_pid()");
	print_message("%s", l.buf);
	assert_int_equal(u.alone, -EIO);
	assert_int_equal(u.in_txn, -EIO);
	assert_true(u.commit < 0);
	assert_int_equal(u.after, 0);
	assert_int_equal(u.v, 7);
	/* once each: a read not answered is not run again on a new connection */
	int given_up = 0;
	for (const char *p = l.buf; (p = strstr(p, "postgresql: no answer within 1000 ms")) != NULL; p++)
		given_up++;
	assert_int_equal(given_up, 2);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key = 'ut-unanswered'"), 0);
}

/* A read whose connection the server drops while it runs (a restart, the
 * network; here pg_terminate_backend of its backend while it waits for a
 * lock this test holds) runs again, once, on a new connection, and the
 * caller gets its answer, not EIO: the answer is the new backend's pid,
 * not the one ended.  Before a test did this, the re-run could be turned
 * off (scripts/mutate's postgres.c #221, #233, #236) and nothing noticed. */
struct lost_read {
	struct ut_fx *fx;
	int rc;
	int64_t pid;
};

static void *lost_read_main(void *arg)
{
	struct lost_read *r = arg;
	r->rc = model_sql_int(r->fx->m, "SELECT pg_backend_pid() FROM pg_advisory_xact_lock_shared(4242)", &r->pid);
	return NULL;
}

/* The pid of the backend (not this one) waiting for the test's lock: 0 while none. */
static int64_t lock_waiter(struct ut_fx *fx, int64_t not_pid)
{
	return ut_sql_int(fx, "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
	                      "AND query LIKE '%%advisory_xact_lock_shared(4242)%%' AND pid <> pg_backend_pid() "
	                      "AND pid <> %lld", (long long)not_pid);
}

static int64_t lock_waiter_wait(struct ut_fx *fx, int64_t not_pid)
{
	for (int i = 0; i < 3000; i++) {
		int64_t pid = lock_waiter(fx, not_pid);
		if (pid)
			return pid;
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	fail_msg("no backend waited for the test's lock within 30 s");
	return 0;
}

/* A read outside a transaction that works runs once: its statement's
 * prepare and its execution, one round trip each (the loop that runs a
 * read again after a lost link, or a serialization failure, does not run
 * one that worked: scripts/mutate's postgres.c #221 made every read run
 * three times, and only a count sees it). */
static void test_read_round_trips(void **state)
{
	struct ut_fx *fx = *state;
	assert_int_equal(ut_sql_int(fx, "SELECT 41 + 1"), 42); /* the connection opened */
	int64_t before = round_trips(fx);
	assert_int_equal(ut_sql_int(fx, "SELECT 41 + 1"), 42);
	int64_t once = round_trips(fx) - before;
	print_message("a read: %lld round trips\n", (long long)once);
	assert_int_equal(once, fx->pgdb[0] ? 2 : 0);
}

static void test_read_lost_runs_again(void **state)
{
	struct ut_fx *fx = *state;
	struct lost_read r = {.fx = fx, .rc = 1};
	pthread_t th;
	char sql[128];
	if (!fx->pgdb[0])
		skip(); /* an SQLite connection is a file */
	assert_int_equal(ut_sql_int(fx, "SELECT 1 FROM pg_advisory_lock(4242)"), 1);
	assert_int_equal(pthread_create(&th, NULL, lost_read_main, &r), 0);
	int64_t first = lock_waiter_wait(fx, 0);
	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)first);
	pg_run(fx, sql);
	int64_t second = lock_waiter_wait(fx, first); /* the read again, on a new connection */
	assert_int_equal(ut_sql_int(fx, "SELECT pg_advisory_unlock(4242)::int"), 1);
	pthread_join(th, NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.pid, second);
	assert_true(second != first);
}

/* Blobs go out and come back byte for byte at 0, 1, 2 and 70,000 bytes
 * (a bytea sent binary, its length the parameter's; a BLOB with SQLite):
 * a blob sent one byte short (postgres_values.c) passed every test of
 * this directory. */
static void test_blob_round_trip(void **state)
{
	struct ut_fx *fx = *state;
	static const size_t sizes[] = {0, 1, 2, 70000};
	uint8_t *buf = malloc(70000);
	assert_non_null(buf);
	for (size_t k = 0; k < 70000; k++)
		buf[k] = (uint8_t)(k * 7 + 1);
	ut_sql(fx, fx->pgdb[0] ? "CREATE TABLE ut_blobs (n INTEGER, b BYTEA)" : "CREATE TABLE ut_blobs (n INTEGER, b BLOB)");
	db_stmt *ins = ut_prepare(fx, "INSERT INTO ut_blobs(n, b) VALUES (?, ?)");
	db_stmt *sel = ut_prepare(fx, "SELECT b, length(b) FROM ut_blobs WHERE n = ?");
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		db_bind_int64(ins, 1, (int64_t)sizes[k]);
		/* An empty one as migrate binds it: SQLite's column of an empty
		 * blob is NULL (the ASan pass's UBSan sees a memcpy from it). */
		db_bind_blob(ins, 2, sizes[k] ? buf : NULL, sizes[k]);
		assert_int_equal(db_step(ins), DB_DONE);
		db_reset(ins);
		db_bind_int64(sel, 1, (int64_t)sizes[k]);
		assert_int_equal(db_step(sel), DB_ROW);
		assert_int_equal(db_col_int64(sel, 1), (int64_t)sizes[k]);
		assert_int_equal(db_col_bytes(sel, 0), sizes[k]);
		if (sizes[k] > 0)
			assert_memory_equal(db_col_blob(sel, 0), buf, sizes[k]);
		db_reset(sel);
	}
	ut_finalize(ins);
	ut_finalize(sel);
	free(buf);
}

/* A transaction the server refuses at its COMMIT itself (a constraint
 * checked at the commit: DEFERRABLE INITIALLY DEFERRED) fails with the
 * constraint's errno, nothing of it kept: the COMMIT's own refusal is not
 * an answer that it happened (commit_heard counts the results before the
 * first failure; one more and the commit read as done, its rows gone). */
static void test_commit_refused_fails(void **state)
{
	struct ut_fx *fx = *state;
	struct model_conn *c;
	if (!fx->pgdb[0])
		skip(); /* SQLite checks its constraints at each statement */
	pg_run(fx, "CREATE TABLE ut_late (k int, CONSTRAINT ut_late_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)");
	db_stmt *ins = ut_prepare(fx, "INSERT INTO ut_late(k) VALUES (1)");
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_exec_deferred(ins), 0);
	assert_int_equal(model_exec_deferred(ins), 0);
	int rc = model_write_end(c, 0, NULL);
	ut_finalize(ins);
	assert_int_equal(rc, -EEXIST);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM ut_late"), 0);
}

/* A read outside a transaction that the server fails with a
 * serialization failure (40001: nothing of it stays) runs again, 3 times
 * in all (postgres.c's header): one that fails twice answers, one that
 * always fails is EAGAIN after exactly 3 runs — counted by a sequence the
 * statement draws from, which no rollback gives back. */
static void test_serialization_failure_runs_again(void **state)
{
	struct ut_fx *fx = *state;
	int64_t v = 0;
	if (!fx->pgdb[0])
		skip(); /* SQLite's writers never overlap: it has no such failure */
	pg_run(fx, "CREATE SEQUENCE ut_runs");
	pg_run(fx, "CREATE FUNCTION ut_flaky(fails bigint) RETURNS int AS $$ BEGIN IF nextval('ut_runs') <= fails "
	           "THEN RAISE EXCEPTION 'ut_flaky' USING ERRCODE = '40001'; END IF; RETURN 7; END $$ LANGUAGE plpgsql");
	assert_int_equal(model_sql_int(fx->m, "SELECT ut_flaky(2)", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(ut_sql_int(fx, "SELECT last_value FROM ut_runs"), 3);
	pg_run(fx, "SELECT setval('ut_runs', 1, false)");
	assert_int_equal(model_sql_int(fx->m, "SELECT ut_flaky(1000)", &v), -EAGAIN);
	assert_int_equal(ut_sql_int(fx, "SELECT last_value FROM ut_runs"), 3);
}

/* The driver's results libpq made and it has not cleared (PQclear), counted
 * by an event procedure on its connection: libpq tells it of each result
 * it hands out (PGEVT_RESULTCREATE; a copy with its events, RESULTCOPY)
 * and of each cleared (RESULTDESTROY), and the procedure stays with the
 * connection through its resets. */
static int count_results(PGEventId id, void *info, void *arg)
{
	long *live = arg;
	(void)info;
	if (id == PGEVT_RESULTCREATE || id == PGEVT_RESULTCOPY)
		++*live;
	else if (id == PGEVT_RESULTDESTROY)
		--*live;
	return 1;
}

/* Every result the driver reads is cleared once its statement is reset:
 * a read, rows stepped, a write transaction with statements deferred and
 * sent ahead, one that fails, a plain statement that fails, several
 * results of one exchange (a reset connection's session set up: its five
 * SETs and a SELECT) and the upkeep's statistics.  Not one is kept
 * (a result kept on a way out is memory a mount never gets back:
 * LeakSanitizer sees it only at exit, in the ASan pass). */
static void test_results_cleared(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice"), pid, v;
	struct model_conn *c;
	long live = 0;
	char kill[128];
	if (!fx->pgdb[0])
		skip(); /* SQLite has no results to clear */
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	assert_int_equal(PQregisterEventProc(CONN(c->db)->pg, count_results, "test_results_cleared", &live), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT 41 + 1"), 42);
	assert_int_equal(live, 0);
	db_stmt *rows = ut_prepare(fx, "SELECT n FROM generate_series(1, 3) AS n");
	for (int n = 1; n <= 3; n++) {
		assert_int_equal(db_step(rows), DB_ROW);
		assert_int_equal(db_col_int64(rows, 0), n);
	}
	assert_int_equal(db_step(rows), DB_DONE);
	db_reset(rows);
	assert_int_equal(live, 0);
	ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "one"); /* BEGIN, the lock, a send, defers, the mark, COMMIT */
	assert_int_equal(live, 0);
	db_stmt *dup = ut_prepare(fx, "INSERT INTO settings(key, value) VALUES ('ut-cleared', 'a')");
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_exec_deferred(dup), 0);
	assert_int_equal(model_exec_deferred(dup), 0);
	assert_int_equal(model_write_end(c, 0, NULL), -EEXIST);
	assert_int_equal(live, 0);
	assert_true(model_sql_int(fx->m, "SELECT no_such_column FROM settings", &v) < 0);
	assert_int_equal(live, 0);
	assert_int_equal(model_sql_int(fx->m, "SELECT pg_backend_pid()", &pid), 0);
	snprintf(kill, sizeof kill, "SELECT pg_terminate_backend(%lld)", (long long)pid);
	pg_run(fx, kill);
	for (int n = 1; n <= 3; n++) /* the read meets the end, the connection is reset and set up anew */
		assert_int_equal(db_step(rows), DB_ROW);
	db_reset(rows);
	assert_int_equal(live, 0);
	assert_int_equal(model_db_tune(fx->m), 0);
	assert_int_equal(live, 0);
	ut_finalize(rows);
	ut_finalize(dup);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_round_trips, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_deferred_failure_fails_the_transaction, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_deferred_failure_reaches_the_next_statement, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_connection_lost_inside_a_transaction, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_tune_takes_statistics_of_a_grown_table, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_read_committed_whatever_the_default, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_server_probes_idle_connections, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_commit_mark_refused_is_named, ut_setup, ut_teardown),
		cmocka_unit_test(test_answer_bound_parsed),
		cmocka_unit_test(test_unreachable_open),
		cmocka_unit_test_setup_teardown(test_unanswered_statement_ends, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_read_round_trips, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_read_lost_runs_again, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_results_cleared, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_serialization_failure_runs_again, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_commit_refused_fails, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_blob_round_trip, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

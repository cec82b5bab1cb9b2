/*
 * test_host.c — unit tests for model/meta/host.c's files and claim (SPEC
 * §13 "One name, one state"): what a claim holds and what a release gives
 * back, counted, and the order of a file's bytes and its name.
 *
 *   - a claim holds one descriptor more than before it (the shared lock
 *     of <state>/host.lock) and its row; a release gives back both, and
 *     nobody holds host.lock after it (a descriptor of it kept open would
 *     keep its lock: an exclusive flock from outside succeeds only when
 *     none is); three claims and releases in a row end where they began;
 *   - a claim whose transaction cannot begin, or whose commit fails, holds
 *     nothing either, nor does a release whose transaction cannot begin
 *     (the test's driver fails begin_write, then commit, as
 *     test_writers.c's does);
 *   - <state>/host and <state>/state-id are written under a temporary
 *     name, fsync'd, then renamed: the test's own fsync(2) and rename(2)
 *     (linked before libc's, each passing the call on) record the order,
 *     and every rename must follow an fsync of the very file it names;
 *   - a host name at its bound (64 bytes) and one past, and the
 *     characters it may start with;
 *   - another host's lease as the tasks ask of it (model_host_alive,
 *     model_runner_ended, model_task_orphaned): alive within the lease,
 *     not past it, orphaned since its end in seconds, and "alive, not
 *     ended" when the database does not answer.
 *
 * Planted bugs this file was written against (docs/testing.md, "Planted
 * bugs"): model_host_release's close of the lock it took to check the
 * claim removed (at its end, and on its way out when the transaction
 * cannot begin); file_put's fsync before the rename removed; the claim's
 * hold left open when its transaction could not begin; the lease read in
 * milliseconds, a lapse's end in nanoseconds, and no answer read as a
 * verdict either way (branch plants-cluster).
 */
#include <dlfcn.h>
#include <sys/file.h>

#include "test_util.h"
#include "task_int.h" /* model_runner_ended: what the tasks ask */

/* ---- fsync(2) and rename(2), recorded ------------------------------------------ */

#define EV_MAX 256
static struct {
	char op;                /* 'f' fsync, 'r' rename */
	char path[PATH_MAX];    /* the file fsync'd (its /proc link), or the rename's source */
	char to[PATH_MAX];      /* the rename's target */
} ev[EV_MAX];
static int nev;             /* events recorded (at most EV_MAX kept) */
static bool recording;

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (recording && nev < EV_MAX) {
		char link[64];
		ssize_t n;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, ev[nev].path, sizeof ev[nev].path - 1);
		ev[nev].path[n < 0 ? 0 : n] = '\0';
		ev[nev++].op = 'f';
	}
	return real(fd);
}

int rename(const char *from, const char *to)
{
	static int (*real)(const char *, const char *);
	if (!real)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	if (recording && nev < EV_MAX) {
		/* the state directory is absolute (the fixture's): so are these */
		snprintf(ev[nev].path, sizeof ev[nev].path, "%s", from);
		snprintf(ev[nev].to, sizeof ev[nev].to, "%s", to);
		ev[nev++].op = 'r';
	}
	return real(from, to);
}

/* ---- counts ----------------------------------------------------------------------- */

/* Whether someone holds <state>/host.lock (shared or exclusive). */
static bool lock_held(struct ut_fx *fx)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/host.lock", fx->dir);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	bool held = flock(fd, LOCK_EX | LOCK_NB) < 0;
	if (held)
		assert_int_equal(errno, EWOULDBLOCK);
	close(fd);
	return held;
}

static int64_t claims(struct ut_fx *fx)
{
	return ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key = 'host-state:%s'", model_host(fx->m));
}

/* The fixture's state has written what a first write opens (the state
 * id, SQLite's journal): counts from here on are the claim's alone. */
static int settled(struct ut_fx *fx)
{
	struct model_err err = {0};
	int hold = -1;
	assert_int_equal(model_host_claim(fx->m, &hold, &err), 0);
	model_host_release(fx->m, hold);
	/* (a lock kept here would hang the next claim: fail instead) */
	assert_false(lock_held(fx));
	assert_int_equal(claims(fx), 0); /* (whatever a read opens, open before the count) */
	return ut_fds_open();
}

/* ---- a claim and its release ------------------------------------------------------- */

static void test_claim_release_counted(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int before = settled(fx);

	assert_false(lock_held(fx));
	assert_int_equal(claims(fx), 0);
	for (int round = 0; round < 3; round++) {
		int hold = -1;
		assert_int_equal(model_host_claim(fx->m, &hold, &err), 0);
		assert_true(hold >= 0);
		assert_int_equal(ut_fds_open(), before + 1); /* the hold, nothing else */
		assert_true(lock_held(fx));
		assert_int_equal(claims(fx), 1);
		model_host_release(fx->m, hold);
		assert_int_equal(ut_fds_open(), before);
		assert_false(lock_held(fx)); /* a kept descriptor would hold it still */
		assert_int_equal(claims(fx), 0);
	}
}

/* ---- a claim that fails holds nothing ------------------------------------------------ */

static struct db_driver failing;
static const struct db_driver *real_drv;
static int fail_begin, fail_commit; /* the next begin_write, commit fails (once) */

static int failing_begin(struct db_conn *c)
{
	if (fail_begin) {
		fail_begin = 0;
		return -EIO;
	}
	return real_drv->begin_write(c);
}

/* The transaction is left open, as SQLite leaves it when its COMMIT
 * fails: the model rolls it back. */
static int failing_commit(struct db_conn *c)
{
	if (fail_commit) {
		fail_commit = 0;
		return -EIO;
	}
	return real_drv->commit(c);
}

static void arm(struct ut_fx *fx)
{
	struct model_conn *c;
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	real_drv = c->drv;
	failing = *real_drv;
	failing.begin_write = failing_begin;
	failing.commit = failing_commit;
	c->drv = &failing;
}

static void disarm(struct ut_fx *fx)
{
	struct model_conn *c;
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	c->drv = real_drv;
}

static void test_failed_claim_holds_nothing(void **state)
{
	struct ut_fx *fx = *state;
	int before = settled(fx);
	int *which[] = {&fail_begin, &fail_commit};

	arm(fx);
	for (size_t k = 0; k < sizeof which / sizeof which[0]; k++) {
		struct model_err err = {0};
		int hold = 7;
		*which[k] = 1;
		assert_int_equal(model_host_claim(fx->m, &hold, &err), -EIO);
		assert_int_equal(*which[k], 0); /* the failure was the one armed */
		assert_int_equal(hold, -1);
		assert_int_equal(ut_fds_open(), before);
		assert_false(lock_held(fx));
		assert_int_equal(claims(fx), 0);
	}
	disarm(fx);
	/* nothing left in the way */
	struct model_err err = {0};
	int hold = -1;
	assert_int_equal(model_host_claim(fx->m, &hold, &err), 0);
	model_host_release(fx->m, hold);
	assert_int_equal(ut_fds_open(), before);
	/* a release whose transaction cannot begin leaves the claim's row
	 * (the lease lapses: SPEC §13) but holds nothing either */
	assert_int_equal(model_host_claim(fx->m, &hold, &err), 0);
	arm(fx);
	fail_begin = 1;
	model_host_release(fx->m, hold);
	assert_int_equal(fail_begin, 0);
	disarm(fx);
	assert_int_equal(ut_fds_open(), before);
	assert_false(lock_held(fx));
	assert_int_equal(claims(fx), 1);
}

/* ---- a file's bytes durable before its name ------------------------------------------- */

static void test_files_synced_before_named(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char path[PATH_MAX], line[128];
	int hold = -1, renames = 0;

	assert_int_equal(model_host_set(fx->m, "ut-host-a", &err), 0);
	nev = 0;
	recording = true;
	assert_int_equal(model_host_record(fx->m), 0);         /* <state>/host */
	assert_int_equal(model_host_claim(fx->m, &hold, &err), 0); /* <state>/state-id, first made */
	recording = false;
	model_host_release(fx->m, hold);
	assert_true(nev < EV_MAX);
	for (int i = 0; i < nev; i++) {
		if (ev[i].op != 'r' || strncmp(ev[i].to, fx->dir, strlen(fx->dir)) != 0)
			continue;
		renames++;
		bool synced = false;
		for (int j = 0; j < i && !synced; j++)
			synced = ev[j].op == 'f' && strcmp(ev[j].path, ev[i].path) == 0;
		if (!synced)
			fail_msg("%s renamed to %s before its bytes were fsync'd", ev[i].path, ev[i].to);
	}
	assert_int_equal(renames, 2); /* the host file and the state id: the test saw both */

	/* and what they hold, whole */
	snprintf(path, sizeof path, "%s/host", fx->dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_string_equal(line, "ut-host-a\n");
	snprintf(path, sizeof path, "%s/state-id", fx->dir);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_int_equal(strlen(line), 33);
	assert_int_equal(strspn(line, "0123456789abcdef"), 32);
	/* a second record of the same name writes nothing */
	nev = 0;
	recording = true;
	assert_int_equal(model_host_record(fx->m), 0);
	recording = false;
	assert_int_equal(nev, 0);
}

/* ---- host names: 1 to 64 of [A-Za-z0-9._-], not starting with . or - ------------------- */

static void test_host_names(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char name[80];

	memset(name, 'h', sizeof name);
	name[MODEL_HOST_MAX] = '\0';
	assert_int_equal(MODEL_HOST_MAX, 64);
	assert_true(model_host_name_valid(name));
	assert_int_equal(model_host_set(fx->m, name, &err), 0);
	assert_string_equal(model_host(fx->m), name);
	name[MODEL_HOST_MAX] = 'h';
	name[MODEL_HOST_MAX + 1] = '\0';
	assert_false(model_host_name_valid(name));
	assert_int_equal(model_host_set(fx->m, name, &err), -EINVAL);
	name[MODEL_HOST_MAX] = '\0';
	assert_string_equal(model_host(fx->m), name); /* a refusal changes nothing */
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{"", false}, {"a", true}, {".a", false}, {"-a", false}, {"_a", true}, {"a.b-c_d9", true},
		{"a b", false}, {"a/b", false}, {"a:b", false}, {"Z0", true},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (model_host_name_valid(cases[i].name) != cases[i].valid)
			fail_msg("host name \"%s\": want %s", cases[i].name, cases[i].valid ? "valid" : "invalid");
}

/* The verdicts on another host's lease, through the model's own questions
 * (task.c asks them before it takes a task over): a host renewed 10 s ago
 * is alive, one renewed 40 s ago is not (the lease: 30 s); a runner of a
 * host with no row has ended, one of a host with a row has not (only its
 * removal ends it); a queued task bound to the lapsed host is orphaned
 * since its lease's end, in seconds.  And a question the database does
 * not answer (here a statement cancelled while another connection holds
 * the hosts table, PostgreSQL) is "alive", "not ended": never a verdict
 * that hands a live host's tasks to another.  With SQLite every runner is
 * this machine's (host.c's header): the verdicts on rows only. */
static void test_lease_verdicts(void **state)
{
	struct ut_fx *fx = *state;
	struct model_conn *c;
	char host[MODEL_HOST_MAX + 1];
	int64_t now = model_now_ns(), since = 0;
	assert_int_equal(model_lease(fx->m), 30);
	ut_sql(fx, "INSERT INTO hosts(name, started_ns, renewed_ns) VALUES ('ut-live', %lld, %lld)",
	       (long long)(now - 100000000000LL), (long long)(now - 10000000000LL));
	ut_sql(fx, "INSERT INTO hosts(name, started_ns, renewed_ns) VALUES ('ut-lapsed', %lld, %lld)",
	       (long long)(now - 100000000000LL), (long long)(now - 40000000000LL));
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	assert_true(model_host_alive(c, "ut-live"));
	assert_false(model_host_alive(c, "ut-lapsed"));
	assert_false(model_host_alive(c, "ut-none"));
	if (!fx->pgdb[0])
		return;
	assert_true(model_runner_ended(c, "ut-none/1:2"));
	assert_false(model_runner_ended(c, "ut-lapsed/1:2"));
	assert_false(model_runner_alive(c, "ut-lapsed/1:2"));
	assert_true(model_runner_alive(c, "ut-live/1:2"));
	assert_int_equal(model_task_orphaned(c, "", "ut-live", 5, host, &since), 0);
	assert_int_equal(model_task_orphaned(c, "", "ut-lapsed", 5, host, &since), 1);
	assert_string_equal(host, "ut-lapsed");
	assert_int_equal(since, (now - 40000000000LL) / 1000000000LL + 30);
	/* No answer: another connection holds the table, ours gives up. */
	char target[640];
	ut_pg_target(target, sizeof target, fx->pgdb);
	PGconn *holder = PQconnectdb(target);
	assert_int_equal(PQstatus(holder), CONNECTION_OK);
	PGresult *r = PQexec(holder, "BEGIN; LOCK TABLE hosts IN ACCESS EXCLUSIVE MODE");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	ut_sql(fx, "SET statement_timeout = 200");
	bool alive = model_host_alive(c, "ut-lapsed"), ended = model_runner_ended(c, "ut-none/1:2");
	PQclear(PQexec(holder, "ROLLBACK"));
	PQfinish(holder);
	ut_sql(fx, "RESET statement_timeout");
	assert_true(alive);
	assert_false(ended);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_release_counted, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_failed_claim_holds_nothing, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_files_synced_before_named, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_host_names, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_lease_verdicts, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

/*
 * test_writer.c — unit tests for model/meta/writer.c (SPEC §13: gc never
 * removes a chunk a host is still writing): while a writer's row exists,
 * gc keeps the region's chunks stamped from its start minus the margin on,
 * whatever the grace, and only in its region (region 0: every region);
 * once the row goes, they are collected.  A task's row is made by its
 * upload's begin or its first claim, keeps its start when another runner
 * claims it, and goes with the task; an admin command's row of a process
 * that died is reaped (exactly: only this host's runners are judged), and
 * `host remove` drops those of its host.  The chunks are stamped by hand
 * (utimensat), so nothing waits for a clock.
 */
#include "test_util.h"

#define MARGIN_IN (BLOB_STAMP_FRESH - 60) /* seconds before a writer's start: inside its margin */
#define MARGIN_OUT 7200                    /* outside it */

struct report {
	int n;
	char lines[8][256];
};

static void on_report(void *arg, const char *line)
{
	struct report *r = arg;
	if (r->n < 8)
		snprintf(r->lines[r->n], sizeof r->lines[0], "%s", line);
	r->n++;
}

/* A chunk of 4 KiB whose bytes follow seed, stored in the region's store
 * and stamped `age` seconds before `at`; its file's path into path. */
static void stamped_chunk(struct ut_fx *fx, int64_t region_id, const char *region, unsigned seed, int64_t at,
                          int64_t age, char path[256])
{
	blob_store *s;
	uint8_t buf[4096];
	chunk_id id;
	char hex[33];

	assert_int_equal(model_store(fx->m, region_id, &s), 0);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 13 + seed);
	assert_int_equal(blob_store_put_chunk(s, &id, buf, sizeof buf), 1);
	chunk_id_fmt(hex, &id);
	snprintf(path, 256, "%s/regions/%s/chunks/%.2s/%s", fx->dir, region, hex, hex);
	struct timespec ts[2] = {{.tv_sec = at - age}, {.tv_sec = at - age}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int64_t since_of(struct ut_fx *fx, int64_t writer)
{
	return ut_sql_int(fx, "SELECT since_ns FROM writers WHERE id = %lld", (long long)writer) / 1000000000;
}

/* gc with a grace that makes every chunk old keeps what a writer may name
 * (stamped inside its margin), drops the rest, and names the writer; once
 * the writer ends, its chunks go too. */
static void test_gc_keeps_a_writers_chunks(void **state)
{
	struct ut_fx *fx = *state;
	char near[256], far[256];
	struct report r = {0};
	uint64_t removed = 99;
	int64_t w = 0;

	assert_int_equal(model_writer_begin(fx->m, fx->r1, "publish golden", &w), 0);
	assert_true(w > 0);
	int64_t since = since_of(fx, w);
	stamped_chunk(fx, fx->r1, "cn-north-1", 1, since, MARGIN_IN, near);
	stamped_chunk(fx, fx->r1, "cn-north-1", 2, since, MARGIN_OUT, far);

	assert_int_equal(model_gc_report(fx->m, -60, on_report, &r, &removed), 0);
	assert_int_equal(removed, 1);
	assert_true(exists(near));
	assert_false(exists(far));
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.lines[0], "region cn-north-1: publish golden on host "));

	model_writer_end(fx->m, w);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers"), 0);
	assert_int_equal(model_gc(fx->m, -60, &removed), 0);
	assert_int_equal(removed, 1);
	assert_false(exists(near));
}

/* A writer keeps chunks of its own region only; one of region 0 (a region
 * being made) keeps every region's. */
static void test_gc_writer_region(void **state)
{
	struct ut_fx *fx = *state;
	int64_t r2 = fx->region[1].id, w = 0;
	char p1[256], p2[256];
	uint64_t removed = 99;

	assert_int_equal(model_writer_begin(fx->m, r2, "publish other", &w), 0);
	int64_t since = since_of(fx, w);
	stamped_chunk(fx, fx->r1, "cn-north-1", 3, since, MARGIN_IN, p1);
	stamped_chunk(fx, r2, ut_region_names[1], 4, since, MARGIN_IN, p2);
	assert_int_equal(model_gc(fx->m, -60, &removed), 0);
	assert_int_equal(removed, 1);
	assert_false(exists(p1));
	assert_true(exists(p2));
	model_writer_end(fx->m, w);

	assert_int_equal(model_writer_begin(fx->m, 0, "region add new", &w), 0);
	since = since_of(fx, w);
	stamped_chunk(fx, fx->r1, "cn-north-1", 5, since, MARGIN_IN, p1);
	assert_int_equal(model_gc(fx->m, -60, &removed), 0);
	assert_int_equal(removed, 0);
	assert_true(exists(p1));
	assert_true(exists(p2));
	model_writer_end(fx->m, w);
	assert_int_equal(model_gc(fx->m, -60, &removed), 0);
	assert_int_equal(removed, 2);
}

/* An upload's row is made when it begins (its file streams chunks before
 * its task runs) and goes with its task; a claim by another runner keeps
 * the row's start and records the runner. */
static void test_task_rows(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	struct model_upload u;
	struct model_conn *c;
	int64_t alice;

	assert_int_equal(model_account_add(fx->m, "alice", -1, &err), 0);
	alice = ut_sql_int(fx, "SELECT id FROM accounts WHERE name = 'alice'");
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "up", &img, &err), 0);
	assert_int_equal(model_upload_begin(fx->m, img.id, 0, &u, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers WHERE task_id = %lld AND region_id = %lld "
	                                "AND what = 'upload'",
	                            (long long)u.task_id, (long long)fx->r1),
	                 1);
	ut_sql(fx, "UPDATE writers SET since_ns = 12345 WHERE task_id = %lld", (long long)u.task_id);

	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_writer_claimed(c, u.task_id, "elsewhere/42:4242"), 0);
	assert_int_equal(model_write_end(c, 0, NULL), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers WHERE task_id = %lld AND since_ns = 12345 AND "
	                                "host = 'elsewhere' AND runner = 'elsewhere/42:4242'",
	                            (long long)u.task_id),
	                 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers"), 1);

	assert_int_equal(model_upload_cancel(fx->m, img.id, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers"), 0);
}

/* A task's first claim makes its row (since: the claim); its end drops it. */
static void test_claim_makes_a_row(void **state)
{
	struct ut_fx *fx = *state;
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	struct model_conn *c;
	int64_t task;

	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('bogus', %lld, 'queued')", (long long)pub.id);
	task = ut_sql_int(fx, "SELECT max(id) FROM tasks");
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_writer_claimed(c, task, "a/1:2"), 0);
	assert_int_equal(model_write_end(c, 0, NULL), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers WHERE task_id = %lld AND region_id = %lld AND "
	                                "host = 'a' AND what = 'bogus' AND since_ns > 0",
	                            (long long)task, (long long)fx->r1),
	                 1);
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)task);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers"), 0);
}

/* Rows of admin commands whose process is gone are dropped by a process of
 * their host; a live one stays; with PostgreSQL (several hosts) another
 * host's runner is not judged here. */
static void test_reap(void **state)
{
	struct ut_fx *fx = *state;
	const char *me = model_host(fx->m);
	int64_t live = 0;

	assert_int_equal(model_writer_begin(fx->m, fx->r1, "publish live", &live), 0);
	/* pid 1 exists but did not start at tick 1 */
	ut_sql(fx, "INSERT INTO writers(region_id, host, runner, what, since_ns) VALUES (%lld, %Q, '%q/1:1', "
	           "'publish dead', 1)",
	       (long long)fx->r1, me, me);
	ut_sql(fx, "INSERT INTO writers(region_id, host, runner, what, since_ns) VALUES (%lld, 'zz', 'zz/1:1', "
	           "'publish far', 1)",
	       (long long)fx->r1);
	int reaped = model_writers_reap(fx->m);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers WHERE what = 'publish dead'"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers WHERE what = 'publish live'"), 1);
	/* SQLite: one machine, every runner is this machine's. */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers WHERE what = 'publish far'"),
	                 fx->pgdb[0] ? 1 : 0);
	assert_int_equal(reaped, fx->pgdb[0] ? 1 : 2);
	model_writer_end(fx->m, live);
}

/* host remove drops its admin commands' rows. */
static void test_host_remove(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};

	ut_sql(fx, "INSERT INTO hosts(name, started_ns, renewed_ns) VALUES ('zz', 1, 1)");
	ut_sql(fx, "INSERT INTO writers(region_id, host, runner, what, since_ns) VALUES (%lld, 'zz', 'zz/1:1', "
	           "'publish far', 1)",
	       (long long)fx->r1);
	assert_int_equal(model_host_remove(fx->m, "zz", &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM writers"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gc_keeps_a_writers_chunks, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_gc_writer_region, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_task_rows, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_claim_makes_a_row, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_reap, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_host_remove, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

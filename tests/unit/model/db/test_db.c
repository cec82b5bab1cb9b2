/*
 * test_db.c — mirrors model/db/db.c: opening a state directory, and setting it
 * up exactly once even when the first mount is killed half-way.
 *
 * A first mount creates the three default regions one transaction at a
 * time (each writes its catalogue's chunks) and then marks the state
 * initialised.  A crash between those steps is simulated by deleting, with
 * SQL, what the later steps would have committed.
 */
#include <pthread.h>

#include "test_util.h"

static int64_t count_regions(struct ut_fx *fx)
{
	return ut_sql_int(fx, "SELECT count(*) FROM regions");
}

/* Removes a region and everything in it, as if it had never committed. */
static void forget_region(struct ut_fx *fx, const char *name)
{
	ut_sql(fx,
	       "DELETE FROM devices WHERE image_id IN (SELECT i.id FROM images i JOIN regions r ON r.id = i.region_id "
	       "WHERE r.name = %Q);"
	       "DELETE FROM images WHERE region_id = (SELECT id FROM regions WHERE name = %Q);"
	       "DELETE FROM blobs WHERE region_id = (SELECT id FROM regions WHERE name = %Q);"
	       "DELETE FROM regions WHERE name = %Q;",
	       name, name, name, name);
}

static void reopen(struct ut_fx *fx)
{
	ut_reopen(fx);
}

/* Every default region exists with the whole catalogue. */
static void assert_defaults(struct ut_fx *fx)
{
	for (int i = 0; i < UT_REGIONS; i++) {
		struct model_region r;
		if (model_region_by_name(fx->m, ut_region_names[i], &r) < 0)
			fail_msg("no region %s", ut_region_names[i]);
		assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE region_id = %lld AND folder = %d",
		                            (long long)r.id, MODEL_FOLDER_PUBLIC),
		                 UT_PUBLIC_COUNT);
		assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE region_id = %lld AND folder = %d",
		                            (long long)r.id, MODEL_FOLDER_MARKETPLACE),
		                 UT_MARKETPLACE_COUNT);
	}
}

static void test_first_open_initialises(void **state)
{
	struct ut_fx *fx = *state;
	assert_int_equal(count_regions(fx), UT_REGIONS);
	assert_defaults(fx);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key = 'initialised'"), 1);
}

/* Killed after the first region committed: the next open adds the others
 * and keeps the one that exists (same id, so the same inode numbers). */
static void test_interrupted_first_mount_is_completed(void **state)
{
	struct ut_fx *fx = *state;
	int64_t first = fx->region[0].id;

	forget_region(fx, "cn-east-2");
	forget_region(fx, "cn-south-1");
	ut_sql(fx, "DELETE FROM settings WHERE key = 'initialised'");
	assert_int_equal(count_regions(fx), 1);

	reopen(fx);
	assert_int_equal(count_regions(fx), UT_REGIONS);
	assert_defaults(fx);
	struct model_region r;
	assert_int_equal(model_region_by_name(fx->m, "cn-north-1", &r), 0);
	assert_int_equal(r.id, first);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM settings WHERE key = 'initialised'"), 1);
}

/* Killed before any region committed. */
static void test_state_without_regions_is_set_up(void **state)
{
	struct ut_fx *fx = *state;
	for (int i = 0; i < UT_REGIONS; i++)
		forget_region(fx, ut_region_names[i]);
	ut_sql(fx, "DELETE FROM settings WHERE key = 'initialised'");
	assert_int_equal(count_regions(fx), 0);

	reopen(fx);
	assert_int_equal(count_regions(fx), UT_REGIONS);
	assert_defaults(fx);
}

/* Once initialised, opening never adds regions again. */
static void test_initialised_state_is_left_alone(void **state)
{
	struct ut_fx *fx = *state;
	forget_region(fx, "cn-south-1");
	reopen(fx);
	assert_int_equal(count_regions(fx), UT_REGIONS - 1);
}

/* Without MODEL_OPEN_CREATE, a directory that holds no state is ENOENT and
 * stays empty (the daemon reopens; it must never create). */
static void test_open_without_create(void **state)
{
	char dir[] = "/tmp/imgfs-ut-db-XXXXXX", path[64];
	struct model_err err = {0};
	model *m = NULL;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(model_open(&m, dir, 0, &err), -ENOENT);
	assert_null(m);
	assert_true(err.msg[0] != '\0');
	snprintf(path, sizeof path, "%s/imgfs.db", dir);
	assert_int_equal(access(path, F_OK), -1);
	ut_rm_rf(dir);
}

/* ---- memory ------------------------------------------------------------- */

#define HEAP_THREADS 16
#define HEAP_IMAGES 40000

struct heap_walk {
	struct ut_fx *fx;
	pthread_barrier_t *walked, *measured;
	int64_t seen;
};

static int count_image(void *arg, const struct model_image *img)
{
	(void)img;
	((struct heap_walk *)arg)->seen++;
	return 0;
}

/* Lists every image on the thread's own connection, then keeps that
 * connection open (it closes when the thread ends) until measured. */
static void *heap_walker(void *arg)
{
	struct heap_walk *w = arg;
	model_image_list(w->fx->m, w->fx->r1, 0, MODEL_FOLDER_PRIVATE, 0, count_image, w);
	pthread_barrier_wait(w->walked);
	pthread_barrier_wait(w->measured);
	return NULL;
}

/* Sixteen threads that each read a table of 40,000 rows (about 10 MB)
 * hold together no more SQLite memory than the process-wide limit of
 * model/db/sqlite.c (16 MiB; soft, so a little slack): without it each
 * connection keeps its own 2 MB page cache, 32 MB in all. */
static void test_threads_share_one_heap_limit(void **state)
{
	struct ut_fx *fx = *state;
	if (fx->pgdb[0])
		skip(); /* PostgreSQL's memory is the server's */
	ut_sql(fx,
	       "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < %d) "
	       "INSERT INTO images(ext_id, region_id, account_id, folder, name, status, description, created, mtime_ns, "
	       "ctime_ns, dir_mtime_ns) SELECT printf('img-h%%07d', x), %lld, 0, %d, printf('h-%%07d', x), %d, "
	       "printf('%%0200d', x), 0, 0, 0, 0 FROM n",
	       HEAP_IMAGES, (long long)fx->r1, MODEL_FOLDER_PRIVATE, MODEL_IMG_AVAILABLE);
	pthread_barrier_t walked, measured;
	pthread_barrier_init(&walked, NULL, HEAP_THREADS + 1);
	pthread_barrier_init(&measured, NULL, HEAP_THREADS + 1);
	pthread_t t[HEAP_THREADS];
	struct heap_walk w[HEAP_THREADS];
	for (int i = 0; i < HEAP_THREADS; i++) {
		w[i] = (struct heap_walk){.fx = fx, .walked = &walked, .measured = &measured};
		assert_int_equal(pthread_create(&t[i], NULL, heap_walker, &w[i]), 0);
	}
	pthread_barrier_wait(&walked);
	sqlite3_int64 used = sqlite3_memory_used();
	pthread_barrier_wait(&measured);
	for (int i = 0; i < HEAP_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].seen, HEAP_IMAGES);
	}
	pthread_barrier_destroy(&walked);
	pthread_barrier_destroy(&measured);
	print_message("SQLite heap with %d connections that read %d images: %lld KiB\n", HEAP_THREADS, HEAP_IMAGES,
	              (long long)used / 1024);
	assert_true(used <= 20LL << 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_open_initialises, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_first_mount_is_completed, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_state_without_regions_is_set_up, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_initialised_state_is_left_alone, ut_setup, ut_teardown),
		cmocka_unit_test(test_open_without_create),
		cmocka_unit_test_setup_teardown(test_threads_share_one_heap_limit, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

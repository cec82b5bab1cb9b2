/*
 * test_early_got.c — unit tests for model/task/early_got.c (SPEC §6.5
 * "Early", §13.13): the rows of the chunks an early import's fetches
 * stored, on both drivers.  An entry (early_want, early_begin) takes the
 * rows of its version whose chunk the store holds (a hole always), each
 * once, and none whose chunk the store lacks, of another version or of
 * another image, nor an index no chunk of the file has (around 2^32); a
 * short last chunk counts its own bytes; a row is written only while the
 * image's import task exists (not another task of it, not another
 * image's import), and that task's end (a cancel here) deletes the rows
 * in its transaction, another task's end none.
 */
#include <pthread.h>

#include "early_int.h"
#include "test_util.h"

#define MiB (1u << 20)
#define SIZE (6 * MiB)
#define V1 "\"etag-1\""

/* A new image of alice's being imported (golden, golden-2, ...). */
static int64_t importing(struct ut_fx *fx)
{
	struct model_err err = {0};
	struct model_image img;
	int64_t acc = ut_account_once(fx, "alice");
	char name[32];
	int64_t n = ut_sql_int(fx, "SELECT count(*) FROM images WHERE account_id = %lld", (long long)acc);
	snprintf(name, sizeof(name), n ? "golden-%lld" : "golden", (long long)n + 1);
	assert_int_equal(model_image_create(fx->m, fx->r1, acc, MODEL_FOLDER_PRIVATE, name, &img, &err), 0);
	assert_int_equal(model_image_import_url(fx->m, img.id, "http://127.0.0.1:1/golden.raw", &err), 0);
	return img.id;
}

/* The entry of image id turned to windows: nothing held, size bytes of V1. */
static struct early_import *entry_of(struct ut_fx *fx, int64_t id, uint64_t size)
{
	struct early_import *e = NULL;
	blob_manifest *none = NULL;
	assert_int_equal(early_want(fx->m, id, fx->r1), 0);
	assert_int_equal(blob_manifest_new(&none, size), 0);
	assert_int_equal(early_begin(fx->m, id, "http://127.0.0.1:1/golden.raw", V1, size, none, 0, &e), 0);
	blob_manifest_free(none);
	return e;
}

static struct early_import *entry(struct ut_fx *fx, int64_t id)
{
	return entry_of(fx, id, SIZE);
}

static uint64_t arrived_of(struct ut_fx *fx, int64_t id, uint64_t size)
{
	uint64_t a = 0, t = 0;
	assert_int_equal(early_progress(fx->m, id, &a, &t), 0);
	assert_int_equal(t, size);
	return a;
}

static uint64_t arrived(struct ut_fx *fx, int64_t id)
{
	return arrived_of(fx, id, SIZE);
}

/* A chunk of len bytes c stored in the region's store: its id. */
static chunk_id stored_len(struct ut_fx *fx, uint8_t c, size_t len)
{
	static uint8_t buf[MiB];
	blob_store *s;
	chunk_id id;
	memset(buf, c, sizeof(buf));
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_true(blob_store_put_chunk(s, &id, buf, len) >= 0);
	return id;
}

static chunk_id stored(struct ut_fx *fx, uint8_t c)
{
	return stored_len(fx, c, MiB);
}

static int64_t rows(struct ut_fx *fx, int64_t id)
{
	return ut_sql_int(fx, "SELECT count(*) FROM early_got WHERE image_id = %lld", (long long)id);
}

/* Rows the database produced for this model's statements so far. */
static int64_t rows_read(struct ut_fx *fx)
{
	return (int64_t)atomic_load(&fx->m->rows);
}

static void test_rows_taken(void **state)
{
	struct ut_fx *fx = *state;
	int64_t id = importing(fx), before;
	struct early_import *e = entry(fx, id);
	chunk_id a = stored(fx, 0xa5), hole = {{0}}, gone = a;

	gone.b[0] ^= 0xff; /* a chunk the store does not hold */
	assert_int_equal(arrived(fx, id), 0);
	assert_int_equal(early_got_add(fx->m, e, 0, &a), 0);
	assert_int_equal(early_got_add(fx->m, e, 3, &a), 0);
	assert_int_equal(early_got_add(fx->m, e, 4, &hole), 0);
	assert_int_equal(early_got_add(fx->m, e, 5, &a), 0); /* the last chunk */
	assert_int_equal(early_got_add(fx->m, e, 2, &gone), 0);
	assert_int_equal(early_got_add(fx->m, e, 3, &a), 0); /* once a chunk */
	assert_int_equal(rows(fx, id), 5);
	assert_int_equal(ut_sql_int(fx, "SELECT length(chunk) FROM early_got WHERE image_id = %lld AND idx = 4",
	                            (long long)id),
	                 0);
	/* Not a row this program writes: an index past 2^32 (it would be
	 * chunk 1 cut to 32 bits) is no chunk of the file. */
	ut_sql(fx, "INSERT INTO early_got(image_id, idx, chunk, size, validator) SELECT image_id, 4294967297, chunk, "
	           "size, validator FROM early_got WHERE image_id = %lld AND idx = 3",
	       (long long)id);
	/* Chunks 0, 3, 5 and the hole; not chunk 2, whose id the store lacks. */
	assert_int_equal(early_got_pick(fx->m, e), 4);
	assert_int_equal(arrived(fx, id), 4 * MiB);
	/* Each row read once: the next pick reads none. */
	before = rows_read(fx);
	assert_int_equal(early_got_pick(fx->m, e), 0);
	assert_int_equal(rows_read(fx), before);
	assert_int_equal(arrived(fx, id), 4 * MiB);
	/* A row of another version of the file is not this entry's. */
	chunk_id b = stored(fx, 0x5a);
	ut_sql(fx, "UPDATE early_got SET validator = 'other' WHERE image_id = %lld AND idx = 2", (long long)id);
	ut_sql(fx, "DELETE FROM early_got WHERE image_id = %lld AND idx = 1", (long long)id);
	ut_sql(fx, "INSERT INTO early_got(image_id, idx, chunk, size, validator) SELECT image_id, 1, chunk, size, "
	           "'\"etag-2\"' FROM early_got WHERE image_id = %lld AND idx = 3",
	       (long long)id);
	assert_int_equal(early_got_pick(fx->m, e), 0);
	ut_sql(fx, "DELETE FROM early_got WHERE image_id = %lld AND idx = 1", (long long)id);
	/* Another host's row, written after this entry's last pick: taken,
	 * once. */
	assert_int_equal(early_got_add(fx->m, e, 1, &b), 0);
	assert_int_equal(early_got_pick(fx->m, e), 1);
	assert_int_equal(arrived(fx, id), 5 * MiB);
	before = rows_read(fx);
	assert_int_equal(early_got_pick(fx->m, e), 0);
	assert_int_equal(rows_read(fx), before);
	/* The very next row (seq one past the last read): the same. */
	ut_sql(fx, "DELETE FROM early_got WHERE image_id = %lld AND idx = 2", (long long)id);
	assert_int_equal(early_got_add(fx->m, e, 2, &b), 0);
	assert_int_equal(early_got_pick(fx->m, e), 1);
	assert_int_equal(arrived(fx, id), 6 * MiB);
	before = rows_read(fx);
	assert_int_equal(early_got_pick(fx->m, e), 0);
	assert_int_equal(rows_read(fx), before);
	assert_true(early_got_kept(fx->m, id));
	early_end(fx->m, e);
}

/* A reader's chunk in flight: taken by its own row (another host's fetch),
 * not without one, nor when the store lacks it, nor twice. */
static void test_take_one(void **state)
{
	struct ut_fx *fx = *state;
	int64_t id = importing(fx);
	struct early_import *e = entry(fx, id);
	chunk_id a = stored(fx, 0x42), gone = a;

	gone.b[3] ^= 0x10;
	assert_int_equal(early_got_add(fx->m, e, 2, &a), 0);
	assert_int_equal(early_got_add(fx->m, e, 5, &gone), 0);
	assert_int_equal(early_got_take(fx->m, e, 3), 0);
	assert_int_equal(early_got_take(fx->m, e, 5), 0);
	assert_int_equal(arrived(fx, id), 0);
	assert_int_equal(early_got_take(fx->m, e, 2), 1);
	assert_int_equal(arrived(fx, id), MiB);
	assert_int_equal(early_got_take(fx->m, e, 2), 0);
	assert_int_equal(arrived(fx, id), MiB);
	/* Not another version's row, nor another image's (of this version,
	 * or of none: a row no version names). */
	ut_sql(fx, "INSERT INTO early_got(image_id, idx, chunk, size, validator) SELECT image_id, 4, chunk, size, "
	           "'\"etag-2\"' FROM early_got WHERE image_id = %lld AND idx = 2",
	       (long long)id);
	ut_sql(fx, "INSERT INTO early_got(image_id, idx, chunk, size, validator) SELECT %lld, 4, chunk, size, "
	           "validator FROM early_got WHERE image_id = %lld AND idx = 2",
	       (long long)id + 1000, (long long)id);
	ut_sql(fx, "INSERT INTO early_got(image_id, idx, chunk, size, validator) SELECT %lld, 4, chunk, size, "
	           "'' FROM early_got WHERE image_id = %lld AND idx = 2",
	       (long long)id + 1001, (long long)id);
	assert_int_equal(early_got_take(fx->m, e, 4), 0);
	assert_int_equal(arrived(fx, id), MiB);
	early_end(fx->m, e);
}

static void test_rows_go_with_the_task(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t id = importing(fx), other = 0;
	struct early_import *e = entry(fx, id);
	chunk_id a = stored(fx, 0x33);

	assert_int_equal(early_got_add(fx->m, e, 0, &a), 0);
	assert_int_equal(early_got_add(fx->m, e, 5, &a), 0);
	/* Another import's rows stay. */
	ut_sql(fx, "INSERT INTO early_got(image_id, idx, chunk, size, validator) VALUES (%lld, 0, '', 1, 'x')",
	       (long long)(other = id + 1000));
	assert_int_equal(rows(fx, id), 2);
	assert_int_equal(model_upload_cancel(fx->m, id, &err), 0);
	assert_int_equal(rows(fx, id), 0);
	assert_false(early_got_kept(fx->m, id));
	assert_int_equal(rows(fx, other), 1);
	/* No task, no row: a fetch that ends after the cancel leaves none. */
	assert_int_equal(early_got_add(fx->m, e, 1, &a), 0);
	assert_int_equal(rows(fx, id), 0);
	early_end(fx->m, e);
}

/* A short last chunk (a file of 5.5 MiB): taken by its row, by a pick and
 * by a take, it counts its own bytes, not a whole MiB. */
static void test_short_last(void **state)
{
	struct ut_fx *fx = *state;
	const uint64_t size = 5 * MiB + MiB / 2;
	int64_t id = importing(fx);
	struct early_import *e = entry_of(fx, id, size);
	chunk_id a = stored(fx, 0x11), last = stored_len(fx, 0x22, MiB / 2);

	assert_int_equal(early_got_add(fx->m, e, 5, &last), 0);
	assert_int_equal(early_got_pick(fx->m, e), 1);
	assert_int_equal(arrived_of(fx, id, size), MiB / 2);
	assert_int_equal(early_got_add(fx->m, e, 0, &a), 0);
	assert_int_equal(early_got_pick(fx->m, e), 1);
	assert_int_equal(arrived_of(fx, id, size), MiB + MiB / 2);
	early_end(fx->m, e);

	/* The same by a take (a reader's chunk in flight). */
	id = importing(fx);
	e = entry_of(fx, id, size);
	assert_int_equal(early_got_add(fx->m, e, 5, &last), 0);
	assert_int_equal(early_got_take(fx->m, e, 5), 1);
	assert_int_equal(arrived_of(fx, id, size), MiB / 2);
	assert_int_equal(early_got_add(fx->m, e, 4, &a), 0);
	assert_int_equal(early_got_take(fx->m, e, 4), 1);
	assert_int_equal(arrived_of(fx, id, size), MiB + MiB / 2);
	early_end(fx->m, e);
}

/* Rows no program of this version writes, around 2^32: an index of
 * UINT32_MAX (past the file), 2^32 (chunk 0 cut to 32 bits) and -1 are
 * no chunk of the file; chunk 0's own row is. */
static void test_index_bounds(void **state)
{
	struct ut_fx *fx = *state;
	int64_t id = importing(fx);
	struct early_import *e = entry(fx, id);
	chunk_id a = stored(fx, 0x77);
	static const char *const idx[] = {"4294967295", "4294967296", "-1"};

	assert_int_equal(early_got_add(fx->m, e, 1, &a), 0);
	for (size_t k = 0; k < sizeof(idx) / sizeof(idx[0]); k++)
		ut_sql(fx, "INSERT INTO early_got(image_id, idx, chunk, size, validator) SELECT image_id, %s, chunk, "
		           "size, validator FROM early_got WHERE image_id = %lld AND idx = 1",
		       idx[k], (long long)id);
	assert_int_equal(early_got_pick(fx->m, e), 1);
	assert_int_equal(arrived(fx, id), MiB);
	assert_int_equal(early_got_add(fx->m, e, 0, &a), 0);
	assert_int_equal(early_got_pick(fx->m, e), 1);
	assert_int_equal(arrived(fx, id), 2 * MiB);
	early_end(fx->m, e);
}

/* Only the image's import task lets a row in and takes its rows with it:
 * another task of the image (an inspection's, a checksum pass's) neither
 * keeps rows coming after the import ended nor deletes them when it ends;
 * another image's import lets none of this image's in. */
static void test_other_tasks(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t id = importing(fx), other = importing(fx);
	struct early_import *e = entry(fx, id);
	chunk_id a = stored(fx, 0x44);

	assert_int_equal(early_got_add(fx->m, e, 0, &a), 0);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('inspect', %lld, 'queued')", (long long)id);
	ut_sql(fx, "DELETE FROM tasks WHERE image_id = %lld AND kind = 'inspect'", (long long)id);
	assert_int_equal(rows(fx, id), 1);
	assert_int_equal(model_upload_cancel(fx->m, id, &err), 0);
	assert_int_equal(rows(fx, id), 0);
	/* The import gone, a checksum task of the image and another image's
	 * import running: a fetch ending now writes no row. */
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('checksum', %lld, 'queued')", (long long)id);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld AND kind = 'import'",
	                            (long long)other),
	                 1);
	assert_int_equal(early_got_add(fx->m, e, 1, &a), 0);
	assert_int_equal(rows(fx, id), 0);
	assert_false(early_got_kept(fx->m, id));
	early_end(fx->m, e);
}

struct adder {
	struct ut_fx *fx;
	struct early_import *e;
	uint32_t i;
	chunk_id id;
	int rc;
};

static void *add_row(void *arg)
{
	struct adder *a = arg;
	a->rc = early_got_add(a->fx->m, a->e, a->i, &a->id);
	return NULL;
}

/* A reader's statement ends with its answer: after early_got_kept and
 * early_got_take found a row, another thread's connection writes a row,
 * and this thread's next write is not refused for a read it still held
 * open (SQLite: a snapshot older than that commit). */
static void test_statements_end(void **state)
{
	struct ut_fx *fx = *state;
	int64_t id = importing(fx);
	struct early_import *e = entry(fx, id);
	struct adder other = {.fx = fx, .e = e, .i = 1};
	pthread_t th;

	other.id = stored(fx, 0x66);
	assert_int_equal(early_got_add(fx->m, e, 0, &other.id), 0);
	assert_true(early_got_kept(fx->m, id));
	assert_int_equal(pthread_create(&th, NULL, add_row, &other), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(other.rc, 0);
	assert_int_equal(early_got_add(fx->m, e, 2, &other.id), 0);
	assert_int_equal(rows(fx, id), 3);
	assert_int_equal(early_got_take(fx->m, e, 2), 1);
	other.i = 3;
	assert_int_equal(pthread_create(&th, NULL, add_row, &other), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(other.rc, 0);
	assert_int_equal(early_got_add(fx->m, e, 4, &other.id), 0);
	assert_int_equal(rows(fx, id), 5);
	early_end(fx->m, e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rows_taken, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_rows_go_with_the_task, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_take_one, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_short_last, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_index_bounds, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_other_tasks, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_statements_end, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

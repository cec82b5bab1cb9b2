/*
 * test_checksum.c — unit tests for model/task/checksum.c, the upgrade's
 * pass that gives images made before imgfs kept a SHA-256 theirs (SPEC
 * §2.1 `sha256`, §16): the task the schema step queues fills the system
 * disk's blob with the SHA-256 of its bytes (checked against OpenSSL's
 * own over blob_store_read) and logs the image's change; it holds nothing
 * (the image is deleted while it waits, and the task then ends without a
 * word); an ISO image's cdrom is its system disk; an image whose hash is
 * known already is left as it is.  The XXH3-128 of every disk (§2.3) in
 * the same read; a disk with more holes than the allowance is not hashed
 * (a log line, nothing read); a store error keeps the task, to be tried
 * again; an image in a recycle bin waits for its restore; at most one
 * pass runs in a process at once; a pass stopped in a blob's middle goes
 * on where it stopped, and is left to its process by the others.
 */
#include <pthread.h>
#include <time.h>

#include "model/lifecycle_test.h"

/* What the schema step (schema_sqlite.c v15) queues for an image. */
static void queue_checksum(struct ut_fx *fx, int64_t image_id)
{
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('checksum', %lld, 'queued')", (long long)image_id);
}

static char last_log[512];
static int logged;

static void record_log(void *arg, const char *line)
{
	(void)arg;
	snprintf(last_log, sizeof last_log, "%s", line);
	logged++;
}

static int64_t system_blob(struct ut_fx *fx, int64_t image_id)
{
	return ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld ORDER BY idx LIMIT 1",
	                  (long long)image_id);
}

static void test_fills_sha256(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "old", 3 * LT_MiB + 512);
	char want[65], got[65];

	/* An image of an older version: no hash. */
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, "");
	queue_checksum(fx, img);
	int64_t changes = lt_changes(fx, MODEL_CHANGE_IMAGE, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	lt_blob_sha256(fx, fx->r1, system_blob(fx, img), want);
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, want);
	assert_true(lt_changes(fx, MODEL_CHANGE_IMAGE, img) > changes); /* its sha256 file changed */
	assert_int_equal(model_sha_read_bytes(fx->m), 3 * LT_MiB + 512);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);

	/* Known already: left as it is, nothing read. */
	ut_sql(fx, "UPDATE blobs SET sha256 = '%064d' WHERE id = %lld", 7, (long long)system_blob(fx, img));
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, "0000000000000000000000000000000000000000000000000000000000000007");
	assert_int_equal(model_sha_read_bytes(fx->m), 3 * LT_MiB + 512);
}

/* An ISO image: its cdrom (device 26) is the system disk. */
static void test_iso(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t iso = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "install");
	int64_t blob = lt_tagged_blob(fx, fx->r1, "iso", 2 * LT_MiB);
	char want[65], got[65];

	lt_device(fx, iso, 26, blob, 0);
	lt_available(fx, iso, MODEL_TYPE_LOCAL);
	queue_checksum(fx, iso);
	assert_int_equal(lt_run_tasks(fx), 1);
	lt_blob_sha256(fx, fx->r1, blob, want);
	assert_int_equal(model_image_sha256(fx->m, iso, got), 0);
	assert_string_equal(got, want);
}

/* It holds nothing: the image is deleted and destroyed while the checksum
 * waits, and the checksum then ends quietly. */
static void test_holds_nothing(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "doomed", LT_MiB);

	queue_checksum(fx, img);
	assert_int_equal(model_image_remove(fx->m, img, &err), 0);
	assert_int_equal(model_image_destroy(fx->m, img, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 2); /* the destroy, the checksum */
	struct model_image gone;
	assert_int_equal(model_image_get(fx->m, img, &gone), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);
}


/* §2.3: every disk's XXH3-128 is read beside the SHA-256, one read for
 * both; a disk whose SHA-256 is known already gets its XXH3-128 too. */
static void test_fills_xxh128(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "old", 3 * LT_MiB + 512);
	int64_t data = lt_tagged_blob(fx, fx->r1, "vdb", 2 * LT_MiB);
	char want[33], got[33], sha[65];
	blob_manifest *man = NULL;
	blob_store *s;

	lt_device(fx, img, 1, data, 0);
	assert_int_equal(model_blob_hash(fx->m, system_blob(fx, img), got), -ENODATA); /* never hashed on request */
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_sha_read_bytes(fx->m), 5 * LT_MiB + 512); /* each disk read once */
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	int64_t blobs[2] = {system_blob(fx, img), data};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(model_blob_manifest(fx->m, blobs[k], &man), 0);
		assert_int_equal(blob_store_hash_blob(s, man, want), 0);
		blob_manifest_free(man);
		assert_int_equal(model_blob_hash(fx->m, blobs[k], got), 0);
		assert_string_equal(got, want);
	}

	/* SHA-256 known, XXH3-128 not (an image made before it was kept). */
	ut_sql(fx, "UPDATE blobs SET xxh128 = '' WHERE id = %lld", (long long)data);
	assert_int_equal(model_image_sha256(fx->m, img, sha), 0);
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_sha_read_bytes(fx->m), 7 * LT_MiB + 512); /* vdb only */
	assert_int_equal(model_blob_hash(fx->m, data, got), 0);
	assert_string_equal(got, want);
}

/* A blob of size bytes holding one data chunk (its first), holes after. */
static int64_t sparse_blob(struct ut_fx *fx, uint64_t size)
{
	int64_t small = lt_tagged_blob(fx, fx->r1, "holey", LT_MiB);
	blob_manifest *man = NULL;
	void *enc = NULL;
	size_t len = 0;

	assert_int_equal(model_blob_manifest(fx->m, small, &man), 0);
	man->size = size;
	man->nchunks = (uint32_t)(man->size / BLOB_CHUNK_SIZE);
	assert_int_equal(blob_manifest_encode(&enc, &len, man), 0);
	db_stmt *st = ut_prepare(fx, "UPDATE blobs SET size = ?, manifest = ? WHERE id = ?");
	db_bind_int64(st, 1, (int64_t)man->size);
	db_bind_blob(st, 2, enc, len);
	db_bind_int64(st, 3, small);
	assert_int_equal(db_step(st), DB_DONE);
	ut_finalize(st);
	free(enc);
	blob_manifest_free(man);
	return small;
}

/* A blob of 65 GiB holding one data chunk: more holes than a pass hashes. */
static int64_t holey_blob(struct ut_fx *fx)
{
	return sparse_blob(fx, 65ULL << 30);
}

/* §2.1, §12: a disk whose holes pass the allowance is not hashed: nothing
 * read, a log line saying why, the task gone, the image still available. */
static void test_hole_allowance(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "sparse");
	int64_t blob = holey_blob(fx);
	char got[65];

	lt_device(fx, img, 0, blob, 0);
	lt_available(fx, img, MODEL_TYPE_LOCAL);
	model_set_log(fx->m, record_log, NULL);
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_sha_read_bytes(fx->m), 0);
	assert_non_null(strstr(last_log, "vda not hashed: 64 GiB of holes, more than the 64 GiB"));
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, "");
	assert_int_equal(model_blob_hash(fx->m, blob, got), -ENODATA);
	assert_int_equal(ut_get(fx, img).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);
}

/* A chunk that cannot be read: not "nothing to hash" — the task stays
 * queued with the reason, held back a while, and a log line says so. */
static void test_store_error_keeps_the_task(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "bad", 2 * LT_MiB);
	char path[512], got[65];

	lt_chunk_path(fx, 0, system_blob(fx, img), 1, path, sizeof path);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fputs("rot", f) >= 0, 1);
	fclose(f);
	model_set_log(fx->m, record_log, NULL);
	queue_checksum(fx, img);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_non_null(strstr(last_log, "tried again in 60 s"));
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'checksum' AND state = 'queued' "
	                                "AND error != ''"),
	                 1);
	assert_int_equal(lt_run_tasks(fx), 0); /* held back for now */
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, "");
	/* Its time come: tried again (and fails again, kept again). */
	ut_sql(fx, "UPDATE tasks SET updated = updated - 61");
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'checksum'"), 1);
}

/* An image in a recycle bin: its pass waits (not claimed) until it is
 * restored, then runs. */
static void test_waits_in_the_bin(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "binned", LT_MiB);
	char got[65];

	queue_checksum(fx, img);
	assert_int_equal(model_image_remove(fx->m, img, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'checksum'"), 1);
	assert_int_equal(model_image_restore(fx->m, img, MODEL_FOLDER_PRIVATE, "binned", &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_int_equal(strlen(got), 64);
}

/* One pass per process: a second checksum is not claimed while one runs
 * here (the other workers stay for the tasks someone asked for). */
static void test_one_at_a_time(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t a = lt_local_image(fx, fx->r1, alice, "a", LT_MiB);

	queue_checksum(fx, a);
	atomic_fetch_add(&fx->m->checksums_here, 1); /* as if a worker ran one */
	assert_int_equal(lt_run_tasks(fx), 0);
	atomic_fetch_sub(&fx->m->checksums_here, 1);
	assert_int_equal(lt_run_tasks(fx), 1);
}

struct stopper {
	struct ut_fx *fx;
	atomic_bool stop;
};

/* Stops the pass (as an unmount would) once it has hashed something. */
static void *stop_when_hashing(void *arg)
{
	struct stopper *st = arg;
	while (model_sha_read_bytes(st->fx->m) == 0) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	atomic_store(&st->stop, true);
	return NULL;
}

/* A pass stopped in a blob's middle goes on where it stopped in the same
 * process: every byte is read once over both runs (before, the second run
 * read the disk again from its start: issue 38), and the hashes are those
 * of one walk.  The row is marked for this process meanwhile. */
static void test_goes_on_where_it_stopped(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "long");
	uint64_t size = 2ULL << 30; /* about a second of hashing: the stopper's window */
	int64_t blob = sparse_blob(fx, size);
	struct stopper st = {fx, 0};
	blob_manifest *man = NULL;
	blob_store *s;
	char want[65], wantx[33], got[65], me[MODEL_RUNNER_ID_MAX], mark[MODEL_RUNNER_ID_MAX + 16];
	pthread_t t;

	lt_device(fx, img, 0, blob, 0);
	lt_available(fx, img, MODEL_TYPE_LOCAL);
	queue_checksum(fx, img);
	assert_int_equal(pthread_create(&t, NULL, stop_when_hashing, &st), 0);
	assert_int_equal(model_task_work(fx->m, &st.stop), 1);
	pthread_join(t, NULL);
	uint64_t first = model_sha_read_bytes(fx->m);
	assert_true(first > 0 && first < size); /* stopped in the middle */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE kind = 'checksum' AND state = 'queued'"), 1);
	assert_int_equal(model_runner_self(fx->m, me), 0);
	snprintf(mark, sizeof mark, "parked-by %s", me);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE args = '%s'", mark), 1);

	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_sha_read_bytes(fx->m), size); /* the rest only */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(model_blob_manifest(fx->m, blob, &man), 0);
	assert_int_equal(blob_store_digests(s, man, want, wantx, NULL, NULL), 0);
	blob_manifest_free(man);
	assert_int_equal(model_image_sha256(fx->m, img, got), 0);
	assert_string_equal(got, want);
	assert_int_equal(model_blob_hash(fx->m, blob, got), 0);
	assert_string_equal(got, wantx);
}

/* The start time of pid 1, as a runner id takes it (/proc/1/stat field 22). */
static unsigned long long init_start(void)
{
	char buf[1024];
	FILE *f = fopen("/proc/1/stat", "r");
	size_t n;
	assert_non_null(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	assert_non_null(p);
	unsigned long long start = 0;
	/* after ") ": state (field 3) ... starttime (field 22) */
	int field = 2;
	for (p = strtok(p + 1, " "); p && field < 22; p = strtok(NULL, " "))
		if (++field == 22)
			start = strtoull(p, NULL, 10);
	assert_true(start > 0);
	return start;
}

/* A pass another live process stopped and keeps the hashes of is left to
 * it for CHECKSUM_PARK_S; one marked by a process that is gone, or whose
 * mark is older, is taken here. */
static void test_left_to_its_process(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t img = lt_local_image(fx, fx->r1, alice, "parked", LT_MiB);
	char other[MODEL_RUNNER_ID_MAX + 16];

	queue_checksum(fx, img);
	snprintf(other, sizeof other, "parked-by %s/1:%llu", model_host(fx->m), init_start()); /* pid 1: alive */
	ut_sql(fx, "UPDATE tasks SET args = '%s', updated = %lld", other, (long long)time(NULL));
	assert_int_equal(lt_run_tasks(fx), 0);
	ut_sql(fx, "UPDATE tasks SET updated = updated - 61"); /* its mark has lapsed */
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_sha_read_bytes(fx->m), LT_MiB);

	queue_checksum(fx, img); /* a gone process's mark holds nothing back */
	ut_sql(fx, "UPDATE blobs SET sha256 = '', xxh128 = ''");
	snprintf(other, sizeof other, "parked-by %s/1:%llu", model_host(fx->m), init_start() + 1);
	ut_sql(fx, "UPDATE tasks SET args = '%s', updated = %lld", other, (long long)time(NULL));
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_sha_read_bytes(fx->m), 2 * LT_MiB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fills_sha256, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_iso, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_holds_nothing, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fills_xxh128, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_hole_allowance, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_store_error_keeps_the_task, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_waits_in_the_bin, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_one_at_a_time, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_goes_on_where_it_stopped, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_left_to_its_process, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

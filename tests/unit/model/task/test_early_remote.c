/*
 * test_early_remote.c — unit tests for model/task/early_remote.c (SPEC
 * §6.5 "Early", §13.13): an import's args read back (import_parse) at
 * its bounds, and the entry a host makes of an import another host runs
 * (early_remote_load): none for an import of this host, nor before the
 * size and the version are known; from the task row of that image's
 * import, its durable point's chunks arrived.  Hosts share metadata on
 * PostgreSQL only: on SQLite no entry is made.
 */
#include "early_int.h"
#include "test_util.h"

#define MiB (1u << 20)
#define SIZE (6 * MiB)
#define URL "http://127.0.0.1:1/golden.raw"
#define V1 "\"etag-1\""

/* import_parse over "URL\n[VALIDATOR\n]" of a URL of ulen bytes and a
 * validator of vlen (-1: no line). */
static int parse(size_t ulen, int vlen, char url[FETCH_URL_MAX + 1], char validator[FETCH_VALIDATOR_MAX])
{
	char *rest = malloc(ulen + (vlen > 0 ? (size_t)vlen : 0) + 3);
	size_t n = 0;
	int rc;

	assert_non_null(rest);
	memset(rest, 'u', ulen);
	n = ulen;
	rest[n++] = '\n';
	if (vlen >= 0) {
		memset(rest + n, 'v', (size_t)vlen);
		n += (size_t)vlen;
		rest[n++] = '\n';
	}
	rest[n] = '\0';
	rc = import_parse(rest, url, validator);
	free(rest);
	return rc;
}

static void test_parse_bounds(void **state)
{
	char url[FETCH_URL_MAX + 1 + 8], validator[FETCH_VALIDATOR_MAX + 8];

	(void)state;
	/* The URL: FETCH_URL_MAX bytes at most, its buffer one more. */
	memset(url, 'x', sizeof(url));
	assert_int_equal(parse(FETCH_URL_MAX, -1, url, validator), 0);
	assert_int_equal(strlen(url), FETCH_URL_MAX);
	assert_string_equal(validator, "");
	assert_int_equal(parse(FETCH_URL_MAX + 1, -1, url, validator), -EINVAL);
	assert_int_equal(parse(0, -1, url, validator), -EINVAL);
	/* The validator: FETCH_VALIDATOR_MAX - 1 bytes at most (its buffer's
	 * room with the NUL); none, or an empty line, is refused. */
	memset(validator, 'x', sizeof(validator));
	assert_int_equal(parse(10, FETCH_VALIDATOR_MAX - 1, url, validator), 0);
	assert_int_equal(strlen(url), 10);
	assert_int_equal(strlen(validator), FETCH_VALIDATOR_MAX - 1);
	assert_int_equal(validator[FETCH_VALIDATOR_MAX], 'x');
	assert_int_equal(parse(10, FETCH_VALIDATOR_MAX, url, validator), -EINVAL);
	assert_int_equal(parse(10, 0, url, validator), -EINVAL);
	/* Nothing after the validator's line. */
	assert_int_equal(import_parse("u\nv\nw\n", url, validator), -EINVAL);
	assert_int_equal(import_parse("u\nv", url, validator), -EINVAL);
	assert_int_equal(import_parse("u", url, validator), -EINVAL);
}

static uint64_t arrived(struct ut_fx *fx, int64_t id, int want)
{
	uint64_t a = 0, t = 0;
	assert_int_equal(early_progress(fx->m, id, &a, &t), want);
	if (want == 0)
		assert_int_equal(t, SIZE);
	return a;
}

/* Another host's import, running, its size announced and its version
 * known: this host's entry is made from the task row of that image's
 * import (not a row whose id is the image's), with the chunks of the
 * durable point arrived; an import of this host's own makes none. */
static void test_remote_entry(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	struct model_task t;
	int64_t acc = ut_account(fx, "alice"), blob_id;
	blob_manifest *man = NULL;
	blob_store *s;
	static uint8_t buf[MiB];
	chunk_id c0, c1;
	void *enc = NULL;
	size_t enc_len = 0;
	char args[256];
	db_stmt *st;

	assert_int_equal(model_image_create(fx->m, fx->r1, acc, MODEL_FOLDER_PRIVATE, "golden", &img, &err), 0);
	assert_int_equal(model_image_import_url(fx->m, img.id, URL, &err), 0);
	assert_int_equal(model_task_of_image(fx->m, img.id, &t), 0);
	/* A task whose id is the image's, of another image: not this one's. */
	assert_int_not_equal(t.id, img.id);
	if (ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE id = %lld", (long long)img.id) == 0)
		ut_sql(fx, "INSERT INTO tasks(id, kind, image_id, args, state, host, bytes_total) SELECT %lld, kind, "
		           "image_id + 100000, args, state, 'other-host', %u FROM tasks WHERE id = %lld",
		       (long long)img.id, SIZE, (long long)t.id);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks WHERE id = %lld AND image_id = %lld",
	                            (long long)img.id, (long long)img.id),
	                 0);
	blob_id = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld AND idx = 0", (long long)img.id);

	/* An instance here starts early from it: its entry, not ready. */
	assert_int_equal(early_want(fx->m, img.id, fx->r1), 0);
	/* Queued, no size: nothing to read through yet. */
	assert_int_equal(early_remote_load(fx->m, img.id), 0);
	arrived(fx, img.id, -ENOENT);
	/* Running here, with its size and version: this host's own. */
	snprintf(args, sizeof(args), "%lld 0\n%s\n%s\n", (long long)blob_id, URL, V1);
	st = ut_prepare(fx, "UPDATE tasks SET state = 'running', bytes_total = ?, args = ? WHERE id = ?");
	db_bind_int64(st, 1, SIZE);
	db_bind_text(st, 2, args);
	db_bind_int64(st, 3, t.id);
	assert_int_equal(db_step(st), DB_DONE);
	ut_finalize(st);
	assert_int_equal(early_remote_load(fx->m, img.id), 0);
	arrived(fx, img.id, -ENOENT);
	/* Another host's, 2 MiB of it durable: their chunks in the store
	 * and in the task's resume. */
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	memset(buf, 1, sizeof(buf));
	assert_true(blob_store_put_chunk(s, &c0, buf, sizeof(buf)) >= 0);
	memset(buf, 2, sizeof(buf));
	assert_true(blob_store_put_chunk(s, &c1, buf, sizeof(buf)) >= 0);
	assert_int_equal(blob_manifest_new(&man, 2 * MiB), 0);
	assert_int_equal(blob_manifest_set(man, 0, &c0), 0);
	assert_int_equal(blob_manifest_set(man, 1, &c1), 0);
	assert_int_equal(blob_manifest_encode(&enc, &enc_len, man), 0);
	blob_manifest_free(man);
	st = ut_prepare(fx, "UPDATE tasks SET resume = ?, host = 'other-host', claimed_by = 'other-host/1:1' WHERE id = ?");
	db_bind_blob(st, 1, enc, enc_len);
	db_bind_int64(st, 2, t.id);
	assert_int_equal(db_step(st), DB_DONE);
	ut_finalize(st);
	free(enc);
	ut_sql(fx, "UPDATE blobs SET size = %u WHERE id = %lld", 2 * MiB, (long long)blob_id);
	/* That host's lease is current (it runs the import). */
	ut_sql(fx, "INSERT INTO hosts(name, started_ns, renewed_ns) VALUES ('other-host', 1, %lld)",
	       (long long)model_now_ns() + 3600 * 1000000000LL);
	if (!ut_pg()) {
		/* One host's own database: no other host runs an import. */
		assert_int_equal(early_remote_load(fx->m, img.id), 0);
		arrived(fx, img.id, -ENOENT);
		return;
	}
	assert_int_equal(early_remote_load(fx->m, img.id), 1);
	assert_int_equal(arrived(fx, img.id, 0), 2 * MiB);
	/* Its task gone (sealed, failed): the entry goes. */
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)t.id);
	assert_int_equal(early_remote_load(fx->m, img.id), -ENOENT);
	arrived(fx, img.id, -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test_setup_teardown(test_remote_entry, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

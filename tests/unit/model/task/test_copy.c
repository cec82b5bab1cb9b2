/*
 * test_copy.c — unit tests for model/task/copy.c (SPEC §6.3): a copy arrives in
 * the target region with the source's bytes, counting what moved (chunks
 * missing there) and what was there already (a second copy of the same
 * data moves nothing); refusals with their errno change nothing; the
 * target's quotas are checked; at most five copies of one account run, the
 * others wait with their place in the queue; a resumed copy skips the
 * devices it finished; a copy's SHA-256 is its source's, never read back
 * while the copy waits; a chunk of the source gone ends it in error with
 * the reason.
 */
#include "model/convert_test.h"

#define MiB LT_MiB

static struct model_err err;
static char last_log[512];

static void record_log(void *arg, const char *line)
{
	(void)arg;
	snprintf(last_log, sizeof last_log, "%s", line);
}

static int copy(struct ut_fx *fx, int64_t src, int64_t region, int64_t *id)
{
	memset(&err, 0, sizeof err);
	return model_image_copy(fx->m, src, region, id, &err);
}

/* A private cloud image, available: vda a snapshot of size bytes tagged
 * with name, not hashed yet (a fresh capture's), and (data > 0) a data
 * disk. */
static int64_t unhashed_image(struct ut_fx *fx, int64_t acct, const char *name, uint64_t size, uint64_t data)
{
	int64_t id = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, name);
	char ext[16];
	snprintf(ext, sizeof ext, "snap-%08llx", (unsigned long long)id);
	ct_data_disk(fx, id, 0, ext, size);
	if (data) {
		snprintf(ext, sizeof ext, "snap-%08llx", (unsigned long long)id + 0x10000000);
		ct_data_disk(fx, id, 1, ext, data);
	}
	lt_available(fx, id, MODEL_TYPE_CLOUD);
	return id;
}

static int64_t vda_blob(struct ut_fx *fx, int64_t image_id)
{
	return ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld AND idx = 0", (long long)image_id);
}

/* The same with its hashes known, as an image's are once its checksum
 * task has run: a copy takes them and needs no task of its own.  (The
 * XXH3-128s are stand-ins: a copy only takes them over.) */
static int64_t cloud_image(struct ut_fx *fx, int64_t acct, const char *name, uint64_t size, uint64_t data)
{
	int64_t id = unhashed_image(fx, acct, name, size, data);
	char sha[65];
	lt_blob_sha256(fx, fx->r1, vda_blob(fx, id), sha);
	ut_sql(fx, "UPDATE blobs SET sha256 = '%s' WHERE id = %lld", sha, (long long)vda_blob(fx, id));
	ut_sql(fx, "UPDATE blobs SET xxh128 = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' WHERE id IN "
	       "(SELECT blob_id FROM devices WHERE image_id = %lld)", (long long)id);
	return id;
}

static int64_t r2(struct ut_fx *fx)
{
	return fx->region[1].id;
}

static void test_copy_bytes_and_counts(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice");
	int64_t src = cloud_image(fx, acct, "golden", 4 * MiB, 2 * MiB);
	struct model_device sd[MODEL_MAX_DEVICES], cd[MODEL_MAX_DEVICES];
	struct model_image c, out;
	int64_t id = 0;
	char want[256];

	ut_sql(fx, "UPDATE images SET description = 'web tier', project = 'shop' WHERE id = %lld", (long long)src);
	model_set_log(fx->m, record_log, NULL);
	int before = ct_chunk_files(fx, r2(fx));
	assert_int_equal(copy(fx, src, r2(fx), &id), 0);
	c = ut_get(fx, id);
	assert_int_equal(c.region_id, r2(fx));
	assert_string_equal(c.name, "golden");
	assert_int_equal(c.status, MODEL_IMG_PENDING);
	assert_int_equal(c.type, MODEL_TYPE_CLOUD);
	snprintf(want, sizeof want, "web tier — copied from cn-north-1 %s", ut_get(fx, src).ext_id);
	assert_string_equal(c.description, want);
	assert_string_equal(c.project, "shop"); /* the project group goes with it (§16) */
	snprintf(want, sizeof want, "copy cn-north-1 %s", ut_get(fx, src).ext_id);
	assert_string_equal(c.source, want);
	/* Snapshots creating in the target, counted there at once. */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM snapshots WHERE region_id = %lld AND status = %d",
	                            (long long)r2(fx), (int)MODEL_SNAP_CREATING),
	                 2);
	assert_int_equal(model_image_copy_in(fx->m, src, r2(fx), &out), 0);
	assert_int_equal(out.id, id);

	assert_int_equal(ct_run_all(fx), 1);
	c = ut_get(fx, id);
	assert_int_equal(c.status, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_device_list(fx->m, src, sd), 2);
	assert_int_equal(model_device_list(fx->m, id, cd), 2);
	for (int k = 0; k < 2; k++) {
		struct model_snapshot s;
		assert_int_equal(cd[k].kind, MODEL_DEV_SNAPSHOT);
		assert_int_equal(model_snapshot_get(fx->m, cd[k].snapshot_id, &s), 0);
		assert_int_equal(s.region_id, r2(fx));
		assert_int_equal(s.status, MODEL_SNAP_AVAILABLE);
		ct_assert_same_blob(fx, sd[k].blob_id, cd[k].blob_id);
	}
	/* 6 tagged chunks moved: the log line says so, the store has them. */
	snprintf(want, sizeof want, "copy %s cn-north-1 -> cn-east-2: 6 chunks (6291456 bytes) copied, 0 already there",
	         ut_get(fx, src).ext_id);
	assert_string_equal(last_log, want);
	assert_int_equal(ct_chunk_files(fx, r2(fx)), before + 6);

	/* A second copy of the same data (another image, same bytes) moves
	 * nothing. */
	int64_t twin = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "twin");
	for (int k = 0; k < 2; k++)
		lt_device(fx, twin, k, sd[k].blob_id,
		          lt_snapshot(fx, fx->r1, acct, k ? "snap-0000ee02" : "snap-0000ee01", sd[k].blob_id,
		                      MODEL_SNAP_AVAILABLE));
	lt_available(fx, twin, MODEL_TYPE_CLOUD);
	assert_int_equal(copy(fx, twin, r2(fx), NULL), 0);
	assert_int_equal(ct_run_all(fx), 1);
	snprintf(want, sizeof want, "copy %s cn-north-1 -> cn-east-2: 0 chunks (0 bytes) copied, 6 already there",
	         ut_get(fx, twin).ext_id);
	assert_string_equal(last_log, want);
	assert_int_equal(ct_chunk_files(fx, r2(fx)), before + 6);
}

/* The SHA-256 of a copy (§2.1): the source's, never read back.  A copy
 * of a source not hashed yet (right after its capture) is available at
 * once, and its checksum task takes the source's hash when the source's
 * own task has run by then (it queued first); else it reads the copy. */
static void test_sha256_without_reading(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice");
	int64_t hashed = cloud_image(fx, acct, "hashed", 3 * MiB, 0);
	int64_t fresh = unhashed_image(fx, acct, "fresh", 2 * MiB, 0);
	int64_t lone = unhashed_image(fx, acct, "lone", MiB + 512, 0);
	int64_t a, b, c;
	char want[65], got[65];

	/* Hashed: the copy takes it, no task after it, nothing read. */
	assert_int_equal(copy(fx, hashed, r2(fx), &a), 0);
	assert_int_equal(ct_run_all(fx), 1);
	assert_int_equal(model_image_sha256(fx->m, hashed, want), 0);
	assert_int_equal(model_image_sha256(fx->m, a, got), 0);
	assert_string_equal(got, want);
	assert_int_equal(model_sha_read_bytes(fx->m), 0);

	/* Not hashed yet, its checksum task queued (as a capture's is): the
	 * copy is available before any hash, and nothing is read twice. */
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('checksum', %lld, 'queued')", (long long)fresh);
	assert_int_equal(copy(fx, fresh, r2(fx), &b), 0);
	assert_int_equal(model_task_work(fx->m, NULL), 1); /* the copy: asked for, so first */
	assert_int_equal(ut_get(fx, b).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_image_sha256(fx->m, b, got), 0);
	assert_string_equal(got, "");
	assert_int_equal(model_sha_read_bytes(fx->m), 0);
	assert_int_equal(ct_run_all(fx), 2); /* the source's checksum, then the copy's */
	assert_int_equal(model_sha_read_bytes(fx->m), 2 * MiB);
	lt_blob_sha256(fx, fx->r1, vda_blob(fx, fresh), want);
	assert_int_equal(model_image_sha256(fx->m, fresh, got), 0);
	assert_string_equal(got, want);
	assert_int_equal(model_image_sha256(fx->m, b, got), 0);
	assert_string_equal(got, want);

	/* A source that has none when the copy's task runs: the copy is read. */
	assert_int_equal(copy(fx, lone, r2(fx), &c), 0);
	assert_int_equal(ct_run_all(fx), 2);
	assert_int_equal(model_sha_read_bytes(fx->m), 3 * MiB + 512);
	lt_blob_sha256(fx, r2(fx), vda_blob(fx, c), want);
	assert_int_equal(model_image_sha256(fx->m, c, got), 0);
	assert_string_equal(got, want);
}

/* A description at the limit is cut at a character boundary, never the
 * lineage. */
static void test_description_cut(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "bob");
	int64_t src = cloud_image(fx, acct, "long", MiB, 0);
	char desc[MODEL_DESC_MAX + 1] = "";
	int64_t id;

	for (int i = 0; i < 127; i++)
		strcat(desc, "é"); /* 254 bytes of 2-byte characters */
	ut_sql(fx, "UPDATE images SET description = %Q WHERE id = %lld", desc, (long long)src);
	assert_int_equal(copy(fx, src, r2(fx), &id), 0);
	struct model_image c = ut_get(fx, id);
	assert_true(strlen(c.description) <= MODEL_DESC_MAX);
	assert_true(model_utf8_valid(c.description));
	assert_non_null(strstr(c.description, ut_get(fx, src).ext_id));
}

static void test_refusals(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "carol");
	int64_t src = cloud_image(fx, acct, "img", MiB, 0);
	int64_t local = lt_local_image(fx, fx->r1, acct, "loc", MiB);
	int64_t queued = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "q");
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	int64_t rows = ct_rows(fx);

	assert_int_equal(copy(fx, src, fx->r1, NULL), -EINVAL); /* same region */
	assert_true(err.msg[0]);
	assert_int_equal(copy(fx, local, r2(fx), NULL), -EINVAL);
	assert_int_equal(copy(fx, queued, r2(fx), NULL), -EINVAL);
	assert_int_equal(copy(fx, pub.id, r2(fx), NULL), -EPERM);
	assert_int_equal(copy(fx, src, 9999, NULL), -ENOENT);
	/* The name is taken there. */
	int64_t there = ut_image(fx, r2(fx), acct, MODEL_FOLDER_PRIVATE, "img");
	rows = ct_rows(fx);
	assert_int_equal(copy(fx, src, r2(fx), NULL), -EEXIST);
	assert_int_equal(ct_rows(fx), rows);
	assert_int_equal(model_image_remove(fx->m, there, &err), 0);
	/* Target quotas: one image, a snapshot per device. */
	ut_sql(fx, "INSERT INTO quotas VALUES (%lld, %lld, %d, 0)", (long long)acct, (long long)r2(fx),
	       (int)MODEL_QUOTA_PRIVATE_IMAGES);
	rows = ct_rows(fx);
	assert_int_equal(copy(fx, src, r2(fx), NULL), -EDQUOT);
	ut_sql(fx, "DELETE FROM quotas");
	ut_sql(fx, "INSERT INTO quotas VALUES (%lld, %lld, %d, 0)", (long long)acct, (long long)r2(fx),
	       (int)MODEL_QUOTA_SNAPSHOTS);
	assert_int_equal(copy(fx, src, r2(fx), NULL), -EDQUOT);
	ut_sql(fx, "DELETE FROM quotas");
	/* The source's region's quotas do not matter. */
	ut_sql(fx, "INSERT INTO quotas VALUES (%lld, %lld, %d, 0)", (long long)acct, (long long)fx->r1,
	       (int)MODEL_QUOTA_SNAPSHOTS);
	assert_int_equal(ct_rows(fx), rows);
	/* A copy in progress to that region: EBUSY; to a third region: fine. */
	assert_int_equal(copy(fx, src, r2(fx), NULL), 0);
	rows = ct_rows(fx);
	assert_int_equal(copy(fx, src, r2(fx), NULL), -EBUSY);
	assert_int_equal(ct_rows(fx), rows);
	assert_int_equal(model_image_remove(fx->m, src, &err), -EBUSY); /* locked */
	assert_int_equal(copy(fx, src, fx->region[2].id, NULL), 0);
	assert_int_equal(ct_run_all(fx), 2);
	/* Finished, and still there: EEXIST (copies/ shows one per region). */
	assert_int_equal(copy(fx, src, r2(fx), NULL), -EEXIST);
	assert_int_equal(model_image_remove(fx->m, src, &err), 0);
}

/* Six copies of one account: five run, the sixth waits with its place in
 * the queue until one of them ends. */
static void test_five_running_per_account(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "dave");
	int64_t src[6], cp[6];
	char name[16], live[64];
	struct model_task t;
	unsigned long long start;
	FILE *f;
	char buf[2048], *p;

	ut_sql(fx, "INSERT INTO quotas VALUES (%lld, %lld, %d, 10)", (long long)acct, (long long)fx->r1,
	       (int)MODEL_QUOTA_PRIVATE_IMAGES);
	ut_sql(fx, "INSERT INTO quotas VALUES (%lld, %lld, %d, 10)", (long long)acct, (long long)r2(fx),
	       (int)MODEL_QUOTA_PRIVATE_IMAGES);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof name, "i%d", i);
		src[i] = cloud_image(fx, acct, name, MiB, 0);
		assert_int_equal(copy(fx, src[i], r2(fx), &cp[i]), 0);
	}
	/* This process is a live runner: five of the copies are its. */
	assert_non_null(f = fopen("/proc/self/stat", "r"));
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	p = strrchr(buf, ')') + 2;
	for (int field = 3; field < 22; field++)
		p = strchr(p, ' ') + 1;
	assert_int_equal(sscanf(p, "%llu", &start), 1);
	snprintf(live, sizeof live, "%ld:%llu", (long)getpid(), start);
	ut_sql(fx, "UPDATE tasks SET state = 'running', claimed_by = %Q WHERE image_id IN (%lld, %lld, %lld, %lld, %lld)",
	       live, (long long)cp[0], (long long)cp[1], (long long)cp[2], (long long)cp[3], (long long)cp[4]);
	/* Another account's copy is not held back. */
	int64_t other = ut_account(fx, "erin"), oc;
	assert_int_equal(copy(fx, cloud_image(fx, other, "x", MiB, 0), r2(fx), &oc), 0);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	assert_int_equal(ut_get(fx, oc).status, MODEL_IMG_AVAILABLE);
	/* The sixth waits. */
	assert_int_equal(model_task_work(fx->m, NULL), 0);
	assert_int_equal(model_task_of_image(fx->m, cp[5], &t), 0);
	assert_string_equal(t.state, "queued");
	assert_int_equal(t.position, 1);
	assert_int_equal(ut_get(fx, cp[5]).status, MODEL_IMG_PENDING);
	/* One of the five goes back to the queue (its runner stopped): now
	 * four run, and one more may. */
	ut_sql(fx, "UPDATE tasks SET state = 'queued', claimed_by = '' WHERE image_id = %lld", (long long)cp[0]);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	assert_int_equal(ut_get(fx, cp[0]).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	assert_int_equal(ut_get(fx, cp[5]).status, MODEL_IMG_AVAILABLE);
}

/* A copy interrupted after vda's durable point (its runner died) resumes
 * with vdb: vda's chunks are not walked again. */
static void test_resume_skips_finished_devices(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "frank");
	int64_t src = cloud_image(fx, acct, "res", 3 * MiB, 2 * MiB), id;
	struct model_device sd[MODEL_MAX_DEVICES], cd[MODEL_MAX_DEVICES];
	blob_manifest *man = NULL;
	blob_store *from, *to;
	void *enc = NULL;
	size_t len;
	db_stmt *st;

	model_set_log(fx->m, record_log, NULL);
	assert_int_equal(copy(fx, src, r2(fx), &id), 0);
	assert_int_equal(model_device_list(fx->m, src, sd), 2);
	/* What the dead runner had done: vda's chunks placed and its manifest
	 * committed; the task running under a pid that is gone. */
	assert_int_equal(model_blob_manifest(fx->m, sd[0].blob_id, &man), 0);
	assert_int_equal(model_store(fx->m, fx->r1, &from), 0);
	assert_int_equal(model_store(fx->m, r2(fx), &to), 0);
	for (uint32_t i = 0; i < man->nchunks; i++)
		assert_true(blob_store_copy_chunk(to, from, mf_id(man, i)) >= 0);
	assert_int_equal(blob_manifest_encode(&enc, &len, man), 0);
	int64_t vda_dst = ut_sql_int(fx, "SELECT b.id FROM blobs b JOIN snapshots s ON s.blob_id = b.id "
	                                 "WHERE s.region_id = %lld AND s.name = 'snap-%08llx'",
	                             (long long)r2(fx), (unsigned long long)src);
	st = ut_prepare(fx, "UPDATE blobs SET manifest = ?, stored = ? WHERE id = ?");
	db_bind_blob(st, 1, enc, len);
	db_bind_int64(st, 2, (int64_t)man->stored);
	db_bind_int64(st, 3, vda_dst);
	assert_int_equal(db_step(st), DB_DONE);
	ut_finalize(st);
	free(enc);
	blob_manifest_free(man);
	ut_sql(fx, "UPDATE tasks SET state = 'running', claimed_by = '999999999:1', started = 1, moved_chunks = 3, "
	           "moved_bytes = 3145728");

	assert_int_equal(ct_run_all(fx), 1);
	assert_int_equal(ut_get(fx, id).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_device_list(fx->m, id, cd), 2);
	ct_assert_same_blob(fx, sd[0].blob_id, cd[0].blob_id);
	ct_assert_same_blob(fx, sd[1].blob_id, cd[1].blob_id);
	/* vdb's 2 chunks moved in this run, vda's 3 counted from before. */
	assert_non_null(strstr(last_log, ": 5 chunks (5242880 bytes) copied, 0 already there"));
}

/* A chunk of the source that the store says is gone is a verdict (SPEC
 * §13): the copy ends in error with the reason, and the snapshots it
 * reserved in the target go (a store that does not answer is no verdict: the copy
 * goes back to the queue; test_rados_outage.sh, RADOS). */
static void test_chunk_gone(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "grace");
	int64_t src = cloud_image(fx, acct, "lost", 2 * MiB, 0), id;
	char path[PATH_MAX];

	lt_chunk_path(fx, 0, vda_blob(fx, src), 1, path, sizeof path);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(copy(fx, src, r2(fx), &id), 0);
	assert_int_equal(ct_run_all(fx), 1);
	struct model_image c = ut_get(fx, id);
	assert_int_equal(c.status, MODEL_IMG_ERROR);
	assert_string_equal(c.error, "copy failed: reading vda: a chunk of it is gone from the store");
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM snapshots WHERE region_id = %lld", (long long)r2(fx)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_bytes_and_counts, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_sha256_without_reading, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_description_cut, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_five_running_per_account, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_resume_skips_finished_devices, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_chunk_gone, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

/*
 * test_convert.c — unit tests for model/task/convert.c (SPEC §6.2): a raw image
 * converts by reference (the snapshot's manifest is the image file's, no
 * chunk stored), a QCOW2 one is decoded (made by qemu-img at test time,
 * compressed and not), data-disk snapshots are referenced by both images,
 * every refusal has its errno and changes nothing, the source is locked
 * while the task exists, and a failure leaves the new image in error with
 * only its own snapshot and blob removed.
 */
#include "model/convert_test.h"

#define MiB LT_MiB

static struct model_err err;

static int convert(struct ut_fx *fx, int64_t src, const char *name, int64_t *id)
{
	memset(&err, 0, sizeof err);
	return model_image_convert(fx->m, src, name, id, &err);
}

/* The new image's vda device. */
static struct model_device vda_of(struct ut_fx *fx, int64_t id)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	assert_true(model_device_list(fx->m, id, devs) >= 1);
	assert_int_equal(devs[0].index, 0);
	return devs[0];
}

static void test_raw_by_reference(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice");
	int64_t src = lt_local_image(fx, fx->r1, acct, "web", 5 * MiB);
	int64_t data = ct_data_disk(fx, src, 1, "snap-0000da7a", 3 * MiB);
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_snapshot snap;
	int64_t id = 0;

	int chunks = ct_chunk_files(fx, fx->r1);
	ut_sql(fx, "UPDATE images SET description = 'web tier', project = 'shop' WHERE id = %lld", (long long)src);
	assert_int_equal(convert(fx, src, "", &id), 0);
	struct model_image img = ut_get(fx, id);
	assert_string_equal(img.name, "web-cloud");
	assert_string_equal(img.description, "web tier"); /* description and project go with it (§16) */
	assert_string_equal(img.project, "shop");
	assert_int_equal(img.status, MODEL_IMG_PENDING);
	assert_int_equal(img.type, MODEL_TYPE_CLOUD);
	char want[64];
	snprintf(want, sizeof want, "convert %s", ut_get(fx, src).ext_id);
	assert_string_equal(img.source, want);
	/* Its snapshot is there at once, creating, named like the image. */
	int64_t snap_id = ut_sql_int(fx, "SELECT id FROM snapshots WHERE name = 'web-cloud'");
	assert_int_equal(model_snapshot_get(fx->m, snap_id, &snap), 0);
	assert_int_equal(snap.status, MODEL_SNAP_CREATING);

	assert_int_equal(ct_run_all(fx), 2); /* and its SHA-256 pass (checksum.c) */
	img = ut_get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_int_equal(img.size, 5 * MiB);
	assert_int_equal(model_device_list(fx->m, id, devs), 2);
	assert_int_equal(devs[0].kind, MODEL_DEV_SNAPSHOT);
	assert_int_equal(devs[0].snapshot_id, snap_id);
	assert_int_equal(devs[1].snapshot_id, data); /* referenced, not copied */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM snapshots WHERE account_id = %lld", (long long)acct), 2);
	assert_int_equal(model_snapshot_get(fx->m, snap_id, &snap), 0);
	assert_int_equal(snap.status, MODEL_SNAP_AVAILABLE);
	/* By reference: the same manifest, not one chunk written. */
	ct_assert_same_blob(fx, vda_of(fx, src).blob_id, devs[0].blob_id);
	assert_true(vda_of(fx, src).blob_id != devs[0].blob_id);
	assert_int_equal(ct_chunk_files(fx, fx->r1), chunks);
	/* The source is untouched and free again. */
	assert_int_equal(ut_get(fx, src).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_image_remove(fx->m, src, &err), 0);
}

/* Stores the file at path as the source image's vda, a QCOW2 image file. */
static int64_t qcow2_image(struct ut_fx *fx, int64_t acct, const char *name, const char *path, uint64_t vsize)
{
	int64_t id = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, name);
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	assert_non_null(buf = malloc((size_t)st.st_size));
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	lt_device(fx, id, 0, lt_blob(fx, fx->r1, buf, (uint64_t)st.st_size), 0);
	free(buf);
	lt_available(fx, id, MODEL_TYPE_LOCAL);
	ut_sql(fx, "UPDATE images SET format = 'qcow2', size = %llu WHERE id = %lld", (unsigned long long)vsize,
	       (long long)id);
	return id;
}

/* A raw disk of 6 MiB + 4 KiB with data in some chunks, holes in others,
 * a zero-filled written chunk, and a short tail; written to path. */
static uint8_t *raw_disk(struct ut_fx *fx, const char *path, uint64_t *size)
{
	uint64_t n = 6 * MiB + 4096;
	uint8_t *buf = calloc(1, n);
	FILE *f;

	assert_non_null(buf);
	for (uint64_t off = 0; off < 2 * MiB; off += 512)
		snprintf((char *)buf + off, 64, "sector %llu", (unsigned long long)off / 512);
	memset(buf + 4 * MiB + 100, 'x', 5000); /* chunk 4 */
	memset(buf + 6 * MiB, 't', 4096);      /* the tail */
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
	*size = n;
	(void)fx;
	return buf;
}

static void convert_qcow2(struct ut_fx *fx, bool compressed)
{
	char raw[160], q[160], cmd[512];
	uint64_t size;
	int64_t acct = ut_account(fx, "bob"), id = 0;
	uint8_t *want, *got;
	blob_manifest *man = NULL;
	blob_store *s;

	snprintf(raw, sizeof raw, "%s/disk.raw", fx->dir);
	snprintf(q, sizeof q, "%s/disk.qcow2", fx->dir);
	want = raw_disk(fx, raw, &size);
	snprintf(cmd, sizeof cmd, "qemu-img convert -q -f raw -O qcow2 %s %s %s", compressed ? "-c" : "", raw, q);
	if (system(cmd) != 0)
		fail_msg("%s failed: these tests need qemu-img (scripts/install-deps: qemu-utils)", cmd);
	int64_t src = qcow2_image(fx, acct, "q", q, size);
	assert_int_equal(convert(fx, src, "q-raw", &id), 0);
	assert_int_equal(ct_run_all(fx), 2); /* and its SHA-256 pass (checksum.c) */
	struct model_image img = ut_get(fx, id);
	if (img.status != MODEL_IMG_AVAILABLE)
		fail_msg("conversion ended %s: %s", model_image_status_name(img.status), img.error);
	assert_int_equal(img.size, size);
	assert_int_equal(model_blob_manifest(fx->m, vda_of(fx, id).blob_id, &man), 0);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_non_null(got = malloc(size));
	assert_int_equal(blob_store_read(s, man, got, size, 0), (ssize_t)size);
	assert_true(memcmp(want, got, size) == 0);
	/* Chunks never written stay holes. */
	assert_true(chunk_id_is_null(mf_id(man, 3)));
	assert_false(chunk_id_is_null(mf_id(man, 4)));
	blob_manifest_free(man);
	free(want);
	free(got);
}

static void test_qcow2_decoded(void **state)
{
	convert_qcow2(*state, false);
}

static void test_qcow2_compressed_decoded(void **state)
{
	convert_qcow2(*state, true);
}

/* Every refusal: its errno, a reason, and no row changed. */
static void test_refusals(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "carol");
	int64_t src = lt_local_image(fx, fx->r1, acct, "base", 2 * MiB);
	int64_t cloud = lt_local_image(fx, fx->r1, acct, "cl", MiB);
	int64_t queued = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "empty");
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	struct model_image mkt = ut_platform(fx, fx->r1, MODEL_FOLDER_MARKETPLACE, "lamp-centos-7.4");
	int64_t rows;

	ut_sql(fx, "UPDATE images SET type = %d WHERE id = %lld", MODEL_TYPE_CLOUD, (long long)cloud);
	rows = ct_rows(fx);
	assert_int_equal(convert(fx, cloud, "", NULL), -EINVAL);
	assert_true(err.msg[0]);
	assert_int_equal(convert(fx, pub.id, "x", NULL), -EPERM);
	assert_int_equal(convert(fx, mkt.id, "x", NULL), -EPERM);
	assert_int_equal(convert(fx, queued, "x", NULL), -EINVAL);
	assert_int_equal(convert(fx, src, "bad name", NULL), -EINVAL);
	assert_int_equal(convert(fx, src, ".hidden", NULL), -EINVAL);
	assert_int_equal(convert(fx, src, "cl", NULL), -EEXIST);
	ut_force_recycle(fx, cloud, time(NULL));
	assert_int_equal(convert(fx, cloud, "x", NULL), -EPERM); /* the recycle bin */
	assert_int_equal(ct_rows(fx), rows);
	/* 33 characters with the suffix: the user must name it. */
	int64_t longname = lt_local_image(fx, fx->r1, acct, "abcdefghijklmnopqrstuvwxyz0", MiB);
	rows = ct_rows(fx);
	assert_int_equal(convert(fx, longname, "", NULL), -EINVAL);
	/* Quotas: one image, one snapshot. */
	/* base, empty, abc...: 3 in private/ (cl is in the bin). */
	ut_sql(fx, "INSERT INTO quotas VALUES (%lld, %lld, %d, 3)", (long long)acct, (long long)fx->r1,
	       (int)MODEL_QUOTA_PRIVATE_IMAGES);
	assert_int_equal(convert(fx, src, "x", NULL), -EDQUOT);
	ut_sql(fx, "UPDATE quotas SET value = 5 WHERE key = %d", (int)MODEL_QUOTA_PRIVATE_IMAGES);
	ut_sql(fx, "INSERT INTO quotas VALUES (%lld, %lld, %d, 0)", (long long)acct, (long long)fx->r1,
	       (int)MODEL_QUOTA_SNAPSHOTS);
	assert_int_equal(convert(fx, src, "x", NULL), -EDQUOT);
	assert_int_equal(ct_rows(fx), rows);
	ut_sql(fx, "DELETE FROM quotas");
	/* A second conversion while the first is queued: EBUSY. */
	assert_int_equal(convert(fx, src, "x", NULL), 0);
	rows = ct_rows(fx);
	assert_int_equal(convert(fx, src, "y", NULL), -EBUSY);
	assert_int_equal(ct_rows(fx), rows);
}

/* The source cannot be deleted while the task exists; it can afterwards. */
static void test_source_locked(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "dave");
	int64_t src = lt_local_image(fx, fx->r1, acct, "locked", 2 * MiB);
	struct model_task t;
	int64_t id;

	assert_int_equal(convert(fx, src, "", &id), 0);
	assert_int_equal(model_image_remove(fx->m, src, &err), -EBUSY);
	assert_int_equal(model_image_remove(fx->m, id, &err), -EBUSY); /* pending */
	/* Both images' task files show it. */
	assert_int_equal(model_task_of_image(fx->m, src, &t), 0);
	assert_string_equal(t.kind, "convert");
	assert_int_equal(model_task_of_image(fx->m, id, &t), 0);
	assert_int_equal(ut_get(fx, src).status, MODEL_IMG_AVAILABLE); /* usable meanwhile */
	assert_int_equal(ct_run_all(fx), 2); /* and its SHA-256 pass (checksum.c) */
	assert_int_equal(model_task_of_image(fx->m, src, &t), -ENOENT);
	assert_int_equal(model_image_remove(fx->m, src, &err), 0);
}

/* A QCOW2 source whose content is no QCOW2: the image ends in error with
 * the reason; its snapshot and blob go, the data-disk snapshot stays. */
static void test_failure_cleans_up(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "erin");
	int64_t src = lt_local_image(fx, fx->r1, acct, "junk", 2 * MiB);
	int64_t data = ct_data_disk(fx, src, 1, "snap-0000da7b", MiB);
	struct model_snapshot s;
	int64_t id;

	ut_sql(fx, "UPDATE images SET format = 'qcow2' WHERE id = %lld", (long long)src);
	int64_t snaps = ut_sql_int(fx, "SELECT count(*) FROM snapshots"), blobs = ut_sql_int(fx, "SELECT count(*) FROM blobs");
	assert_int_equal(convert(fx, src, "", &id), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM snapshots"), snaps + 1);
	assert_int_equal(ct_run_all(fx), 1);
	struct model_image img = ut_get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_ERROR);
	assert_non_null(strstr(img.error, "conversion failed"));
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM snapshots"), snaps);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs"), blobs);
	assert_int_equal(model_snapshot_get(fx->m, data, &s), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), 0);
	assert_int_equal(ut_get(fx, src).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0); /* error images can go */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raw_by_reference, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_qcow2_decoded, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_qcow2_compressed_decoded, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_source_locked, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_failure_cleans_up, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

/*
 * test_upload.c — unit tests for model/task/upload.c (SPEC §5.3): beginning an
 * upload, the sniff's verdicts per folder, abandoning on a refused first
 * write, finishing through the task (raw, QCOW2, ISO → available; a bad or
 * truncated header, a hybrid ISO in private/ → error with the blob gone),
 * cancel in each state, and reaping the uploads of a dead process.
 *
 * The bytes go into the upload's writable blob directly (what fs/ does on
 * each write); the task runs through model_task_work like a mount's worker.
 */
#include "format_test.h"
#include "model/lifecycle_test.h"
#include "model_int.h"

#define MiB ((uint64_t)1 << 20)

/* SPEC §17's reason, word for word. */
#define ENCRYPTED "encrypted QCOW2/LUKS files are not accepted: upload the plain disk and set encrypted to yes"

static int64_t account(struct ut_fx *fx)
{
	return ut_account_once(fx, "alice");
}

static int64_t queued(struct ut_fx *fx, enum model_folder folder, const char *name)
{
	return ut_image(fx, fx->r1, account(fx), folder, name);
}

static struct model_image get(struct ut_fx *fx, int64_t id)
{
	struct model_image img;
	assert_int_equal(model_image_get(fx->m, id, &img), 0);
	return img;
}

static void begin(struct ut_fx *fx, int64_t image, int idx, struct model_upload *u)
{
	struct model_err err = {0};
	int rc = model_upload_begin(fx->m, image, idx, u, &err);
	if (rc != 0)
		fail_msg("model_upload_begin: %d %s", rc, err.msg);
}

/* Writes len bytes at off into the upload's wblob, as fs/ does. */
static void put(struct ut_fx *fx, const struct model_upload *u, const void *buf, size_t len, uint64_t off)
{
	blob_store *s;
	blob_wblob *w;
	assert_int_equal(model_store(fx->m, u->region_id, &s), 0);
	assert_int_equal(blob_wblob_open(&w, s, u->wblob), 0);
	assert_int_equal(blob_wblob_pwrite(w, buf, len, off), (ssize_t)len);
	blob_wblob_close(w);
}

static bool wblob_exists(struct ut_fx *fx, const struct model_upload *u)
{
	blob_store *s;
	blob_wblob *w = NULL;
	assert_int_equal(model_store(fx->m, u->region_id, &s), 0);
	int rc = blob_wblob_open(&w, s, u->wblob);
	blob_wblob_close(w);
	return rc == 0;
}

/* The last close: the task is queued, then run to its end. */
static void close_and_run(struct ut_fx *fx, const struct model_upload *u)
{
	blob_store *s;
	blob_wblob *w;
	assert_int_equal(model_store(fx->m, u->region_id, &s), 0);
	assert_int_equal(blob_wblob_open(&w, s, u->wblob), 0);
	uint64_t size = blob_wblob_size(w), stored = blob_wblob_stored(w);
	blob_wblob_close(w);
	assert_int_equal(model_upload_close(fx->m, u, size, stored, NULL, NULL), 0);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	/* No hash given at close: the checksum pass reads it (§2.1, §2.3),
	 * unless the upload was refused. */
	while (model_task_work(fx->m, NULL) == 1)
		;
}

static int64_t count(struct ut_fx *fx, const char *sql, int64_t id)
{
	return ut_sql_int(fx, sql, (long long)id);
}

/* Nothing of the upload is left: task, device, blob row, wblob file. */
static void assert_gone(struct ut_fx *fx, const struct model_upload *u)
{
	assert_int_equal(count(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld", u->image_id), 0);
	assert_int_equal(count(fx, "SELECT count(*) FROM devices WHERE image_id = %lld", u->image_id), 0);
	assert_int_equal(count(fx, "SELECT count(*) FROM blobs WHERE id = %lld", u->blob_id), 0);
	assert_false(wblob_exists(fx, u));
}

static void test_begin(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_upload u, v;
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");

	begin(fx, id, 0, &u);
	assert_int_equal(get(fx, id).status, MODEL_IMG_UPLOADING);
	assert_string_equal(get(fx, id).source, "upload");
	assert_int_equal(model_device_list(fx->m, id, devs), 1);
	assert_int_equal(devs[0].index, 0);
	assert_int_equal(devs[0].blob_id, u.blob_id);
	assert_true(wblob_exists(fx, &u));
	assert_int_equal(count(fx, "SELECT count(*) FROM tasks WHERE id = %lld AND kind = 'upload' AND state = 'open'",
	                       u.task_id), 1);
	/* 'open' is claimed by no runner. */
	assert_int_equal(model_task_work(fx->m, NULL), 0);
	assert_true(model_upload_alive(fx->m, &u));
	/* One upload at a time; only queued images. */
	assert_int_equal(model_upload_begin(fx->m, id, 0, &v, &err), -EPERM);
	assert_non_null(strstr(err.msg, "only while the image is queued"));
	/* The device: vda in private/, cdrom in iso/. */
	int64_t other = queued(fx, MODEL_FOLDER_PRIVATE, "other");
	assert_int_equal(model_upload_begin(fx->m, other, 1, &v, &err), -EINVAL);
	assert_int_equal(model_upload_begin(fx->m, other, 26, &v, &err), -EINVAL);
	assert_int_equal(get(fx, other).status, MODEL_IMG_QUEUED);
	int64_t iso = queued(fx, MODEL_FOLDER_ISO, "installer");
	assert_int_equal(model_upload_begin(fx->m, iso, 0, &v, &err), -EINVAL);
	begin(fx, iso, 26, &v);
	/* Platform images never. */
	struct model_image pub;
	assert_int_equal(model_image_lookup(fx->m, fx->r1, 0, MODEL_FOLDER_PUBLIC, "centos-7.4", &pub), 0);
	assert_int_equal(model_upload_begin(fx->m, pub.id, 0, &v, &err), -EPERM);
	/* An uploading image cannot be deleted. */
	assert_int_equal(model_image_remove(fx->m, id, &err), -EBUSY);
}

static void test_sniff_per_folder(void **state)
{
	struct model_err err = {0};
	uint8_t *b = calloc(1, 64 * FT_KiB);
	const char *f = NULL;
	assert_non_null(b);

	ft_qcow2(b, 64 * MiB);
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_PRIVATE, b, 65536, true, &f, &err), 1);
	assert_string_equal(f, "qcow2");
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_ISO, b, 65536, true, &f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "only ISO 9660 images go to iso/"));
	memset(b, 0, 65536);
	ft_mbr(b);
	/* An MBR: raw at once in private/; in iso/ it may still be a hybrid ISO. */
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_PRIVATE, b, 4096, true, &f, &err), 1);
	assert_string_equal(f, "raw");
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_ISO, b, 4096, true, &f, &err), 0);
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_ISO, b, 65536, true, &f, &err), -EINVAL);
	ft_iso(b, FT_ISO_BLOCKS);
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_ISO, b, 65536, true, &f, &err), 1);
	assert_string_equal(f, "iso");
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_PRIVATE, b, 65536, true, &f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "ISO images go to iso/"));
	memset(b, 'x', 65536);
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_PRIVATE, b, 65536, true, &f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no known format"));
	/* Encrypted files, at the first write: SPEC §17's words exactly. */
	memset(b, 0, 65536);
	memcpy(b, "LUKS\xba\xbe\0\1", 8);
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_PRIVATE, b, 4096, true, &f, &err), -EINVAL);
	assert_string_equal(err.msg, ENCRYPTED);
	memset(b, 0, 65536);
	ft_qcow2(b, 64 * MiB);
	ft_be32(b + 32, 2);
	assert_int_equal(model_upload_sniff(MODEL_FOLDER_PRIVATE, b, 4096, true, &f, &err), -EINVAL);
	assert_string_equal(err.msg, ENCRYPTED);
	free(b);
}

static void test_abandon(void **state)
{
	struct ut_fx *fx = *state;
	struct model_upload u;
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");
	begin(fx, id, 0, &u);
	put(fx, &u, "junk", 4, 0);
	assert_int_equal(model_upload_sniffed(fx->m, &u, "raw"), 0);
	assert_string_equal(get(fx, id).format, "raw");
	assert_int_equal(model_upload_abandon(fx->m, &u, "the file is of no known format"), 0);
	struct model_image img = get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_QUEUED);
	assert_string_equal(img.error, "the file is of no known format");
	assert_string_equal(img.format, "");
	assert_string_equal(img.source, "");
	assert_gone(fx, &u);
	/* Queued again: another upload may begin, and clears the reason. */
	begin(fx, id, 0, &u);
	assert_string_equal(get(fx, id).error, "");
}

static void test_finish_raw(void **state)
{
	struct ut_fx *fx = *state;
	struct model_upload u;
	uint8_t *disk = calloc(1, 3 * MiB), *back = malloc(3 * MiB);
	blob_manifest *man = NULL;
	blob_store *s;
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");
	assert_non_null(disk);
	assert_non_null(back);

	ft_mbr(disk);
	memset(disk + 2 * MiB + 100, 0x5a, 4096); /* MiB 1 stays zero: a hole */
	begin(fx, id, 0, &u);
	put(fx, &u, disk, 3 * MiB, 0);
	close_and_run(fx, &u);
	struct model_image img = get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_string_equal(img.format, "raw");
	assert_int_equal(img.size, 3 * MiB);
	assert_int_equal(img.type, MODEL_TYPE_LOCAL);
	assert_int_equal(img.progress, 100);
	assert_string_equal(img.error, "");
	/* The blob is sealed, holes and all, and reads back the bytes. */
	assert_int_equal(model_blob_manifest(fx->m, u.blob_id, &man), 0);
	assert_int_equal(man->size, 3 * MiB);
	assert_true(chunk_id_is_null(mf_id(man, 1)));
	assert_int_equal(man->stored, 2 * MiB);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_store_read(s, man, back, 3 * MiB, 0), (ssize_t)(3 * MiB));
	assert_memory_equal(back, disk, 3 * MiB);
	blob_manifest_free(man);
	assert_false(wblob_exists(fx, &u));
	assert_int_equal(count(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld", id), 0);
	/* §2.1: no hash came with the close (the mount's gave none): the seal
	 * read the file once to hash it. */
	char want[65], got[65];
	lt_blob_sha256(fx, fx->r1, u.blob_id, want);
	assert_int_equal(model_image_sha256(fx->m, id, got), 0);
	assert_string_equal(got, want);
	free(disk);
	free(back);
}

/* A hash given at close (the mount's, as the writes arrived) is the one
 * kept: the seal does not read the file again. */
static void test_finish_sha_from_close(void **state)
{
	struct ut_fx *fx = *state;
	struct model_upload u;
	uint8_t disk[4096] = {0};
	const char *given = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char got[65];
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");

	ft_mbr(disk);
	begin(fx, id, 0, &u);
	put(fx, &u, disk, sizeof disk, 0);
	assert_int_equal(model_upload_close(fx->m, &u, sizeof disk, sizeof disk, given, NULL), 0);
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	assert_int_equal(get(fx, id).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_image_sha256(fx->m, id, got), 0);
	assert_string_equal(got, given);
}

static void test_finish_qcow2(void **state)
{
	struct ut_fx *fx = *state;
	struct model_upload u;
	uint8_t *file = calloc(1, FT_QCOW2_FILE_SIZE);
	struct model_device devs[MODEL_MAX_DEVICES];
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");
	assert_non_null(file);

	ft_qcow2(file, 64 * MiB);
	begin(fx, id, 0, &u);
	put(fx, &u, file, FT_QCOW2_FILE_SIZE, 0);
	close_and_run(fx, &u);
	struct model_image img = get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_string_equal(img.format, "qcow2");
	assert_int_equal(img.size, 64 * MiB);             /* the virtual size */
	assert_int_equal(model_device_list(fx->m, id, devs), 1);
	assert_int_equal(devs[0].size, FT_QCOW2_FILE_SIZE); /* disks/vda: the file */
	free(file);
}

/* A refusal on close: error with the reason, nothing of the upload left. */
static void finish_refused(struct ut_fx *fx, enum model_folder folder, const char *name, const uint8_t *file,
                           size_t len, const char *why)
{
	struct model_upload u;
	int64_t id = queued(fx, folder, name);
	begin(fx, id, folder == MODEL_FOLDER_ISO ? 26 : 0, &u);
	if (len)
		put(fx, &u, file, len, 0);
	close_and_run(fx, &u);
	struct model_image img = get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_ERROR);
	if (!strstr(img.error, why))
		fail_msg("%s: error \"%s\" lacks \"%s\"", name, img.error, why);
	assert_gone(fx, &u);
}

static void test_finish_refused(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	uint8_t *file = calloc(1, FT_QCOW2_FILE_SIZE);
	assert_non_null(file);
	account(fx);
	assert_int_equal(model_quota_set(fx->m, "alice", ut_region_names[0], "private-images", 100, &err), 0);
	ft_qcow2(file, 64 * MiB);
	ft_be32(file + 4, 9);
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "version", file, FT_QCOW2_FILE_SIZE, "version 9 is not 2 or 3");
	ft_be32(file + 4, 2);
	/* Truncated: the L1 table is beyond the end (head -c of a real one). */
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "truncated", file, FT_QCOW2_L1_OFFSET, "beyond the end");
	ft_be64(file + 8, 512);
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "backing", file, FT_QCOW2_FILE_SIZE, "backing file");
	ft_be64(file + 8, 0);
	/* Headers qemu will not open never end available (issue 23): the
	 * field named.  Version 3 for refcount_order. */
	ft_be32(file + 4, 3);
	ft_be32(file + 96, 7);
	ft_be32(file + 100, 104);
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "refcount-order", file, FT_QCOW2_FILE_SIZE,
	               "refcount_order 7 is above 6");
	memset(file + 72, 0, 32);
	ft_be32(file + 4, 2);
	ft_be32(file + 56, 0xffffffffu);
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "reftable-size", file, FT_QCOW2_FILE_SIZE,
	               "refcount_table_clusters 4294967295 is above 128");
	ft_be32(file + 56, 1);
	ft_be64(file + 48, 1ull << 55);
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "reftable-offset", file, FT_QCOW2_FILE_SIZE,
	               "refcount table (36028797018963968..");
	ft_be64(file + 48, 65536);
	ft_be32(file + 60, 0xffffffffu);
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "snapshots", file, FT_QCOW2_FILE_SIZE,
	               "nb_snapshots 4294967295 is above 65536");
	ft_be32(file + 60, 0);
	/* A compressed cluster that does not inflate: the whole-file check at
	 * close finds it (its L2 table in cluster 2, the stream after the L1
	 * table). */
	ft_be64(file + FT_QCOW2_L1_OFFSET, 2 * 65536);
	ft_be64(file + 2 * 65536, 1ull << 62 | (FT_QCOW2_L1_OFFSET + 512));
	memset(file + FT_QCOW2_L1_OFFSET + 512, 0xa5, 512);
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "compressed", file, FT_QCOW2_FILE_SIZE, "corrupt compressed cluster");
	/* A hybrid ISO in private/: taken as raw by its MBR at first. */
	memset(file, 0, FT_QCOW2_FILE_SIZE);
	ft_mbr(file);
	ft_iso(file, FT_ISO_BLOCKS);
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "hybrid", file, FT_ISO_BLOCKS * 2048, "ISO images go to iso/");
	/* An empty file. */
	finish_refused(fx, MODEL_FOLDER_PRIVATE, "empty", file, 0, "empty");
	/* A truncated ISO. */
	finish_refused(fx, MODEL_FOLDER_ISO, "short-iso", file, (FT_ISO_BLOCKS - 4) * 2048, "truncated");
	free(file);
}

static void test_finish_iso(void **state)
{
	struct ut_fx *fx = *state;
	struct model_upload u;
	uint8_t *file = calloc(1, FT_ISO_BLOCKS * 2048);
	struct model_device devs[MODEL_MAX_DEVICES];
	int64_t id = queued(fx, MODEL_FOLDER_ISO, "installer");
	assert_non_null(file);
	ft_iso(file, FT_ISO_BLOCKS);
	begin(fx, id, 26, &u);
	put(fx, &u, file, FT_ISO_BLOCKS * 2048, 0);
	close_and_run(fx, &u);
	struct model_image img = get(fx, id);
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_string_equal(img.format, "iso");
	assert_int_equal(img.size, FT_ISO_BLOCKS * 2048);
	assert_int_equal(img.type, 0);
	assert_int_equal(model_device_list(fx->m, id, devs), 1);
	assert_string_equal(devs[0].name, "cdrom");
	free(file);
}

/* The check on close says the same of an encrypted QCOW2 (a URL import
 * or a publish meets only this one). */
static void test_validate_encrypted(void **state)
{
	struct model_err err = {0};
	uint8_t *b = calloc(1, 64 * FT_KiB);
	const char *f = NULL;
	uint64_t vsize = 0;
	struct model_import_attrs none = {0};
	assert_non_null(b);
	ft_qcow2(b, 64 * MiB);
	assert_int_equal(
		model_upload_validate(MODEL_FOLDER_PRIVATE, b, 65536, FT_QCOW2_FILE_SIZE, &none, &f, &vsize, &err), 0);
	for (uint32_t method = 1; method <= 2; method++) {
		ft_be32(b + 32, method);
		assert_int_equal(model_upload_validate(MODEL_FOLDER_PRIVATE, b, 65536, FT_QCOW2_FILE_SIZE, &none, &f, &vsize,
		                                       &err),
		                 -EINVAL);
		assert_string_equal(err.msg, ENCRYPTED);
	}
	memset(b, 0, 65536);
	memcpy(b, "LUKS\xba\xbe\0\2", 8);
	assert_int_equal(model_upload_validate(MODEL_FOLDER_ISO, b, 65536, MiB, &none, &f, &vsize, &err), -EINVAL);
	assert_string_equal(err.msg, ENCRYPTED);
	free(b);
}

static void test_validate_attrs(void **state)
{
	struct model_err err = {0};
	uint8_t *b = calloc(1, 64 * FT_KiB);
	const char *f = NULL;
	uint64_t vsize = 0;
	assert_non_null(b);
	ft_mbr(b);
	struct model_import_attrs ok = {"linux", "centos", "7.4", "x86_64", "bios", NULL};
	struct model_import_attrs bad = {"linux", "centos", "5.11", "x86_64", "bios", NULL};
	assert_int_equal(model_upload_validate(MODEL_FOLDER_PRIVATE, b, 65536, MiB, &ok, &f, &vsize, &err), 0);
	assert_string_equal(f, "raw");
	assert_int_equal(vsize, MiB);
	assert_int_equal(model_upload_validate(MODEL_FOLDER_PRIVATE, b, 65536, MiB, &bad, &f, &vsize, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not importable"));
	free(b);
}

static void test_cancel(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_upload u;
	uint8_t mbr[512] = {0};
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");

	assert_int_equal(model_upload_cancel(fx->m, id, &err), -EPERM); /* queued: nothing in progress */
	assert_non_null(strstr(err.msg, "nothing to cancel"));
	/* While the file is open. */
	begin(fx, id, 0, &u);
	assert_int_equal(model_upload_cancel(fx->m, id, &err), 0);
	assert_int_equal(get(fx, id).status, MODEL_IMG_ERROR);
	assert_string_equal(get(fx, id).error, "cancelled");
	assert_false(model_upload_alive(fx->m, &u));
	assert_int_equal(model_upload_close(fx->m, &u, 0, 0, NULL, NULL), -ENOENT);
	assert_gone(fx, &u);
	assert_int_equal(model_upload_cancel(fx->m, id, &err), -EPERM);
	/* Closed, its task queued. */
	int64_t id2 = queued(fx, MODEL_FOLDER_PRIVATE, "second");
	begin(fx, id2, 0, &u);
	ft_mbr(mbr);
	put(fx, &u, mbr, sizeof mbr, 0);
	assert_int_equal(model_upload_close(fx->m, &u, sizeof mbr, 0, NULL, NULL), 0);
	assert_int_equal(model_upload_cancel(fx->m, id2, &err), 0);
	assert_string_equal(get(fx, id2).error, "cancelled");
	assert_gone(fx, &u);
	assert_int_equal(model_task_work(fx->m, NULL), 0);
	assert_int_equal(get(fx, id2).status, MODEL_IMG_ERROR);
}

/* While the file is written (SPEC §4): bytes-done, bytes-total (0: not
 * known) and progress — against the size given ahead, else the QCOW2's
 * virtual size (never 100 before the close), else 0; nothing once the
 * upload is cancelled. */
static void test_progress(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_upload u;
	struct model_task t;
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "golden");

	begin(fx, id, 0, &u);
	/* No size known, no estimate: bytes move, progress does not. */
	assert_int_equal(model_upload_progress(fx->m, &u, 3 << 20, 0, 0), 0);
	assert_int_equal(model_task_of_image(fx->m, id, &t), 0);
	assert_int_equal(t.bytes_done, 3 << 20);
	assert_int_equal(t.bytes_total, 0);
	assert_true(t.rate > 0);
	assert_int_equal(get(fx, id).progress, 0);
	/* A QCOW2's virtual size as the estimate: bytes-total stays unknown. */
	assert_int_equal(model_upload_progress(fx->m, &u, 50 << 20, 0, 200 << 20), 0);
	assert_int_equal(model_task_of_image(fx->m, id, &t), 0);
	assert_int_equal(t.bytes_total, 0);
	assert_int_equal(get(fx, id).progress, 25);
	assert_int_equal(model_upload_progress(fx->m, &u, 300 << 20, 0, 200 << 20), 0);
	assert_int_equal(get(fx, id).progress, 99);
	/* A size given ahead. */
	assert_int_equal(model_upload_progress(fx->m, &u, 300 << 20, 400 << 20, 200 << 20), 0);
	assert_int_equal(model_task_of_image(fx->m, id, &t), 0);
	assert_int_equal(t.bytes_total, 400 << 20);
	assert_int_equal(get(fx, id).progress, 75);
	assert_int_equal(get(fx, id).status, MODEL_IMG_UPLOADING);
	/* Cancelled: nothing is written. */
	assert_int_equal(model_upload_cancel(fx->m, id, &err), 0);
	assert_int_equal(model_upload_progress(fx->m, &u, 350 << 20, 400 << 20, 0), -ENOENT);
	assert_int_equal(get(fx, id).status, MODEL_IMG_ERROR);
}

static void test_reap(void **state)
{
	struct ut_fx *fx = *state;
	struct model_upload dead, live;
	int64_t a = queued(fx, MODEL_FOLDER_PRIVATE, "a"), b = queued(fx, MODEL_FOLDER_ISO, "b");
	begin(fx, a, 0, &dead);
	begin(fx, b, 26, &live);
	/* pid 1's start time is never 1 tick after boot: a dead runner. */
	ut_sql(fx, "UPDATE tasks SET claimed_by = '1:1' WHERE id = %lld", (long long)dead.task_id);
	assert_int_equal(model_upload_reap(fx->m), 1);
	assert_int_equal(get(fx, a).status, MODEL_IMG_ERROR);
	assert_non_null(strstr(get(fx, a).error, "interrupted"));
	assert_gone(fx, &dead);
	/* This process's own open upload stays. */
	assert_int_equal(get(fx, b).status, MODEL_IMG_UPLOADING);
	assert_true(model_upload_alive(fx->m, &live));
	assert_int_equal(model_upload_reap(fx->m), 0);
	/* The housekeeping does it too. */
	ut_sql(fx, "UPDATE tasks SET claimed_by = '1:1' WHERE id = %lld", (long long)live.task_id);
	assert_int_equal(model_task_housekeeping(fx->m, (int64_t)time(NULL)), 0);
	assert_int_equal(get(fx, b).status, MODEL_IMG_ERROR);
	assert_string_equal(get(fx, b).format, "iso"); /* an ISO image keeps its format */
}

/* The API's stage (SPEC §19): the bytes wait, 'staged', held by nobody
 * (no runner claims it, the reaper leaves it), until an import queues
 * them; then they are checked and sealed as a cp's. */
static void test_stage_then_import(void **state)
{
	struct ut_fx *fx = *state;
	struct model_upload u;
	struct model_err err = {0};
	uint8_t disk[4096] = {0};
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "staged");

	assert_int_equal(model_upload_import(fx->m, id, &err), -EPERM); /* nothing staged yet */
	assert_string_equal(err.msg, "nothing is staged: the image is queued");
	ft_mbr(disk);
	begin(fx, id, 0, &u);
	put(fx, &u, disk, sizeof disk, 0);
	assert_int_equal(model_upload_stage(fx->m, &u, sizeof disk, sizeof disk, "", ""), 0);
	assert_int_equal(count(fx, "SELECT count(*) FROM tasks WHERE image_id = %lld AND state = 'staged'", id), 1);
	assert_int_equal(model_task_work(fx->m, NULL), 0);   /* no runner takes it */
	ut_sql(fx, "UPDATE tasks SET claimed_by = '1:1' WHERE id = %lld", (long long)u.task_id);
	assert_int_equal(model_upload_reap(fx->m), 0);        /* nor does the reaper: its bytes are durable */
	assert_int_equal(get(fx, id).status, MODEL_IMG_UPLOADING);
	assert_int_equal(model_upload_close(fx->m, &u, 1, 1, NULL, NULL), -ENOENT); /* not open any more */
	assert_int_equal(model_upload_import(fx->m, id, &err), 0);
	assert_int_equal(model_upload_import(fx->m, id, &err), -EPERM); /* once */
	assert_int_equal(model_task_work(fx->m, NULL), 1);
	while (model_task_work(fx->m, NULL) == 1)
		;
	assert_int_equal(get(fx, id).status, MODEL_IMG_AVAILABLE);
	assert_false(wblob_exists(fx, &u));
	/* a staged upload is cancelled as any */
	int64_t id2 = queued(fx, MODEL_FOLDER_PRIVATE, "staged2");
	begin(fx, id2, 0, &u);
	put(fx, &u, disk, sizeof disk, 0);
	assert_int_equal(model_upload_stage(fx->m, &u, sizeof disk, sizeof disk, NULL, NULL), 0);
	assert_int_equal(model_upload_cancel(fx->m, id2, &err), 0);
	assert_int_equal(get(fx, id2).status, MODEL_IMG_ERROR);
	assert_gone(fx, &u);
}

/* aki, ari, ami (SPEC §19): any bytes, kept as sent, as raw; the others
 * are sniffed as a cp's. */
static void test_opaque(void **state)
{
	struct ut_fx *fx = *state;
	struct model_upload u;
	struct model_err err = {0};
	uint8_t junk[1024];
	const char *f = NULL;
	struct model_api_op aki[] = {{.kind = MODEL_API_DISK_FORMAT, .value = "aki"}};
	struct model_image img;

	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(model_api_image_create(fx->m, fx->r1, account(fx), aki, 1, &img, &err), 0);
	begin(fx, img.id, 0, &u);
	assert_true(u.opaque);
	assert_int_equal(model_upload_sniff_for(&u, junk, sizeof junk, true, &f, &err), 1);
	assert_string_equal(f, "raw");
	put(fx, &u, junk, sizeof junk, 0);
	close_and_run(fx, &u);
	img = get(fx, img.id);
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_int_equal(img.size, sizeof junk);
	assert_string_equal(img.format, "raw");
	assert_string_equal(img.disk_format, "aki");
	/* raw: the same bytes are refused at their first write */
	int64_t raw = queued(fx, MODEL_FOLDER_PRIVATE, "raw");
	begin(fx, raw, 0, &u);
	assert_false(u.opaque);
	assert_int_equal(model_upload_sniff_for(&u, junk, sizeof junk, true, &f, &err), -EINVAL);
	assert_string_equal(err.msg, "the file is of no known format: not QCOW2, not ISO 9660, not a raw disk with an MBR or a GPT");
}

/* Another host's upload (§13, issue 47): a lapsed lease is no proof that
 * a host is gone (one cut off from the database still holds the file and
 * its writer), so no other host reaps it; `host remove` is.  A host that
 * reports nothing for a third of its lease shows its task without a rate.
 * (As a cluster: the hosts table is in both schemas.) */
static void test_reap_other_host(void **state)
{
	struct ut_fx *fx = *state;
	struct model_upload u;
	struct model_task t;
	struct model_err err = {0};
	int64_t id = queued(fx, MODEL_FOLDER_PRIVATE, "far");
	int64_t now = model_now_ns(), lease = model_lease(fx->m) * 1000000000LL;
	bool cluster = fx->m->cluster;
	fx->m->cluster = true;
	begin(fx, id, 0, &u);
	assert_int_equal(model_upload_progress(fx->m, &u, 3 << 20, 0, 0), 0);
	ut_sql(fx, "INSERT INTO hosts(name, started_ns, renewed_ns) VALUES ('far', %lld, %lld)", (long long)now,
	       (long long)now);
	ut_sql(fx, "UPDATE tasks SET claimed_by = 'far/1:1', host = 'far' WHERE id = %lld", (long long)u.task_id);
	assert_int_equal(model_task_of_image(fx->m, id, &t), 0);
	assert_true(t.rate > 0); /* its host reports */
	/* Silent for half its lease: still its host's, no rate. */
	ut_sql(fx, "UPDATE hosts SET renewed_ns = %lld WHERE name = 'far'", (long long)(now - lease / 2));
	assert_int_equal(model_task_of_image(fx->m, id, &t), 0);
	assert_string_equal(t.state, "open");
	assert_true(t.rate == 0);
	/* Its lease lapsed long ago: orphaned to see, not reaped. */
	ut_sql(fx, "UPDATE hosts SET renewed_ns = 1 WHERE name = 'far'");
	assert_int_equal(model_upload_reap(fx->m), 0);
	assert_int_equal(model_task_housekeeping(fx->m, (int64_t)time(NULL)), 0);
	assert_int_equal(get(fx, id).status, MODEL_IMG_UPLOADING);
	assert_int_equal(model_task_of_image(fx->m, id, &t), 0);
	assert_true(t.rate == 0);
	/* Removed: its upload ends, with the removal's reason. */
	assert_int_equal(model_host_remove(fx->m, "far", &err), 0);
	assert_int_equal(model_upload_reap(fx->m), 1);
	assert_int_equal(get(fx, id).status, MODEL_IMG_ERROR);
	assert_non_null(strstr(get(fx, id).error, "host far was removed"));
	fx->m->cluster = cluster;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_begin, ut_setup, ut_teardown),
		cmocka_unit_test(test_sniff_per_folder),
		cmocka_unit_test_setup_teardown(test_abandon, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_finish_raw, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_finish_sha_from_close, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_finish_qcow2, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_finish_refused, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_finish_iso, ut_setup, ut_teardown),
		cmocka_unit_test(test_validate_encrypted),
		cmocka_unit_test(test_validate_attrs),
		cmocka_unit_test_setup_teardown(test_cancel, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_reap, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_reap_other_host, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_progress, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_stage_then_import, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_opaque, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

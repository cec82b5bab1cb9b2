/*
 * test_upload.c — unit tests for fs/fuse/upload.c: the answer to an open
 * of an upload's disk whose upload was abandoned meanwhile (its blob gone:
 * `truncate -s` ahead of the cp, SPEC §5.3, issue 70).  A writer gets
 * ESTALE, so the kernel looks the name up again and the cp creates it
 * anew; a reader gets ENOENT; a blob sealed this moment is EBUSY.  The race itself (the cp's open meeting the
 * truncate's close) is test_upload.sh's, which does not always meet it.
 * And what close(2) promises (SPEC §11: an upload's bytes at close): its
 * FLUSH fsyncs the writable blob's map, and so does the last writer's
 * release before the upload is handed over, recorded by this file's own
 * fsync(2), which libc's follows (planted bugs that dropped either fsync
 * passed every test: a kill -9 of the daemon leaves the page cache).
 */
#include <dlfcn.h>

#include "attr.h"
#include "disk.h"
#include "fs.h"
#include "model/lifecycle_test.h"
#include "rooms.h"

/* ---- fsync(2), recorded ------------------------------------------------------------ */

static int map_syncs;  /* fsyncs of a writable blob's map (<store>/wblobs/<name>.map) since zeroed */
static bool recording;

int fsync(int fd)
{
	static int (*real)(int);
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (recording) {
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof path - 1);
		path[n < 0 ? 0 : n] = '\0';
		n = (ssize_t)strlen(path);
		map_syncs += n > 4 && strcmp(path + n - 4, ".map") == 0 && strstr(path, "/wblobs/") != NULL;
	}
	return real(fd);
}

static void test_open_abandoned(void **state)
{
	struct ut_fx *fx = *state;
	struct fs_ctx ctx = {.m = fx->m, .timeout = 1};
	struct fs_node n = {0};
	struct fs_disk *d = NULL;
	struct model_err err = {0};
	int64_t gone = ut_sql_int(fx, "SELECT coalesce(max(id), 0) + 1000 FROM blobs");

	n.blob_id = gone;
	assert_int_equal(fs_upload_open(&ctx, &n, true, &d, &err), -ESTALE);
	assert_null(d);
	assert_int_equal(fs_upload_open(&ctx, &n, false, &d, &err), -ENOENT);
	assert_null(d);
	/* sealed this moment (its blob there, no writable blob): EBUSY, open it again */
	int64_t img = lt_local_image(fx, fx->r1, ut_account(fx, "alice"), "sealed", LT_MiB);
	n.blob_id = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld ORDER BY idx LIMIT 1",
	                       (long long)img);
	assert_int_equal(fs_upload_open(&ctx, &n, true, &d, &err), -EBUSY);
	assert_null(d);
}


/* close(2) of an upload's writer: FLUSH makes what it wrote durable
 * (fs_upload_flush), and the last writer's release makes it durable again
 * before the upload is handed over (upload_closed), whether or not a
 * FLUSH came first (a writer killed between the two sends none). */
static void test_close_durable(void **state)
{
	struct ut_fx *fx = *state;
	struct fs_ctx ctx = {.m = fx->m, .timeout = 1};
	struct fs_node *p = malloc(sizeof *p), *n = malloc(sizeof *n);
	struct fs_disk *d = NULL;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	struct fs_caller ca = ut_caller(alice);
	static uint8_t blk[1 << 20];

	assert_non_null(p);
	assert_non_null(n);
	assert_int_equal(fs_rooms_new(&ctx), 0);
	int64_t img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "up");
	ut_node(&ctx, &ca, "/regions/cn-north-1/private/up/disks", p);
	assert_int_equal(fs_upload_create(&ctx, p, "vda", n, &d, &err), 0);
	/* a raw disk: an MBR (one Linux partition from sector 2048), then bytes */
	memset(blk + 512, 0x5a, sizeof blk - 512);
	blk[446 + 4] = 0x83;
	blk[446 + 9] = 0x08;  /* first sector 2048 (little-endian) */
	blk[446 + 13] = 0x08; /* 2048 sectors */
	blk[510] = 0x55;
	blk[511] = 0xaa;
	assert_int_equal(fs_disk_pwrite(d, blk, sizeof blk, 0, false, NULL, NULL), (ssize_t)sizeof blk);
	/* FLUSH */
	map_syncs = 0;
	recording = true;
	assert_int_equal(fs_upload_flush(d), 0);
	recording = false;
	if (map_syncs < 1)
		fail_msg("close(2)'s FLUSH returned success with the upload's map not fsync'd");
	/* more bytes, then the release alone */
	assert_int_equal(fs_disk_pwrite(d, blk, sizeof blk, sizeof blk, false, NULL, NULL), (ssize_t)sizeof blk);
	map_syncs = 0;
	recording = true;
	fs_disk_close(&ctx, d, true);
	recording = false;
	if (map_syncs < 1)
		fail_msg("the upload was handed over with its map not fsync'd");
	/* handed over: no longer uploading (a task seals it) */
	struct model_image after;
	assert_int_equal(model_image_get(fx->m, img, &after), 0);
	assert_int_not_equal(after.status, MODEL_IMG_QUEUED);
	fs_rooms_free(&ctx);
	free(p);
	free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_abandoned, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_close_durable, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

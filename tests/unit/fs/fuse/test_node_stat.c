/*
 * test_node_stat.c — unit tests for fs/fuse/node_stat.c: what a resolved
 * node shows.  The root's and /regions' link counts (the root holds
 * regions/, stats and errors: 3), a disk's blocks rounded up to whole
 * 512-byte sectors from what its blob stores (never 0 when data exists:
 * tar --sparse would store all holes), and each kind's attribute timeout
 * (0 for what other processes change, ctx->timeout for the rest, 0 for
 * everything under multiuser).  Every node of the tree is stat'ed by
 * test_node's walk; these are the values that walk does not check.
 */
#include "attr.h"
#include "fs.h"
#include "model/lifecycle_test.h"
#include "rooms.h"

struct sfx {
	struct ut_fx *fx;
	struct fs_ctx ctx;
};

/* One state for the group (a state's making is most of a test's time):
 * each test names its own images. */
static int sfx_setup(void **state)
{
	struct sfx *a = calloc(1, sizeof *a);

	if (!a || ut_group_setup(NULL) < 0 || ut_setup((void **)&a->fx) < 0) {
		free(a);
		return -1;
	}
	a->ctx.m = a->fx->m;
	a->ctx.timeout = 7;
	if (fs_rooms_new(&a->ctx) < 0) {
		ut_teardown((void **)&a->fx);
		free(a);
		return -1;
	}
	*state = a;
	return 0;
}

static int sfx_teardown(void **state)
{
	struct sfx *a = *state;

	fs_rooms_free(&a->ctx);
	ut_teardown((void **)&a->fx);
	free(a);
	return ut_group_teardown(NULL);
}

static void test_root_and_regions_links(void **state)
{
	struct sfx *a = *state;
	struct fs_caller c = ut_caller(ut_account_once(a->fx, "alice"));
	struct fs_node *n = calloc(1, sizeof *n);
	struct stat st;

	assert_non_null(n);
	assert_int_equal(fs_node_resolve(&a->ctx, &c, FS_INO_ROOT, n), 0);
	assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0555);
	assert_int_equal(st.st_nlink, 3); /* ., regions/'s .., and its entry */
	assert_int_equal(st.st_ino, FS_INO_ROOT);
	assert_int_equal(fs_node_resolve(&a->ctx, &c, FS_INO_REGIONS, n), 0);
	assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0555);
	assert_int_equal(st.st_nlink, 1);
	free(n);
}

/* A disk of size bytes: its blocks are what its blob stores, in 512-byte
 * sectors rounded up. */
static void check_disk_blocks(struct sfx *a, const char *name, uint64_t size)
{
	int64_t alice = ut_account_once(a->fx, "alice");
	struct fs_caller c = ut_caller(alice);
	int64_t img = lt_local_image(a->fx, a->fx->r1, alice, name, size);
	struct fs_node *n = calloc(1, sizeof *n), *d = calloc(1, sizeof *d);
	struct model_image row;
	struct model_blob b;
	struct stat st;

	assert_true(n && d);
	assert_int_equal(model_image_get(a->fx->m, img, &row), 0);
	assert_int_equal(fs_node_image(&a->ctx, &c, &row, n), 0);
	assert_int_equal(fs_node_lookup(&a->ctx, n, "disks", d), 0);
	assert_int_equal(fs_node_lookup(&a->ctx, d, "vda", n), 0);
	assert_int_equal(n->what, FS_W_DISK);
	assert_int_equal(model_blob_get(a->fx->m, n->blob_id, &b), 0);
	assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0444);
	assert_int_equal(st.st_size, (off_t)size);
	assert_int_equal(st.st_blocks, (blkcnt_t)((b.stored + 511) / 512));
	if (b.stored % 512) /* a part sector counts as one */
		assert_int_equal(st.st_blocks, (blkcnt_t)(b.stored / 512 + 1));
	assert_true(st.st_blocks > 0);
	free(n);
	free(d);
}

static void test_disk_blocks_round_up(void **state)
{
	struct sfx *a = *state;

	check_disk_blocks(a, "part", 100);     /* stores a part sector */
	check_disk_blocks(a, "odd", 4096 + 1); /* a sector and a byte past a page */
}

static void test_timeouts(void **state)
{
	struct sfx *a = *state;
	int64_t alice = ut_account_once(a->fx, "alice");
	struct fs_caller c = ut_caller(alice);
	int64_t img = lt_local_image(a->fx, a->fx->r1, alice, "golden", 4096);
	struct fs_node *n = calloc(1, sizeof *n), *p = calloc(1, sizeof *p);
	struct model_image row;

	assert_true(n && p);
	assert_int_equal(fs_node_resolve(&a->ctx, &c, FS_INO_ROOT, n), 0);
	assert_true(fs_node_timeout(&a->ctx, n) == 7); /* the root changes with no other process */
	assert_int_equal(fs_node_resolve(&a->ctx, &c, FS_INO_REGIONS, n), 0);
	assert_true(fs_node_timeout(&a->ctx, n) == 0); /* regions come with other hosts' admin commands */
	assert_int_equal(fs_node_lookup(&a->ctx, n, "cn-north-1", p), 0);
	assert_true(fs_node_timeout(&a->ctx, p) == 7);
	assert_int_equal(fs_node_lookup(&a->ctx, p, "private", n), 0);
	assert_int_equal(n->what, FS_W_CLASS);
	assert_true(fs_node_timeout(&a->ctx, n) == 0); /* a listing the kernel revalidates by mtime */
	assert_int_equal(fs_node_lookup(&a->ctx, p, "images.json", n), 0);
	assert_true(fs_node_timeout(&a->ctx, n) == 0);
	assert_int_equal(model_image_get(a->fx->m, img, &row), 0);
	assert_int_equal(fs_node_image(&a->ctx, &c, &row, n), 0);
	assert_true(fs_node_timeout(&a->ctx, n) == 7); /* the watcher invalidates it */
	assert_int_equal(fs_node_lookup(&a->ctx, n, "disks", p), 0);
	assert_true(fs_node_timeout(&a->ctx, p) == 7);
	assert_int_equal(fs_node_lookup(&a->ctx, p, "vda", n), 0);
	assert_true(fs_node_timeout(&a->ctx, n) == 7); /* a sealed blob never changes */
	a->ctx.multiuser = true;                         /* attributes differ by caller */
	assert_true(fs_node_timeout(&a->ctx, n) == 0);
	a->ctx.multiuser = false;
	free(n);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_and_regions_links),
		cmocka_unit_test(test_disk_blocks_round_up),
		cmocka_unit_test(test_timeouts),
	};
	return cmocka_run_group_tests(tests, sfx_setup, sfx_teardown);
}

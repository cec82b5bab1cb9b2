/*
 * test_copies.c — unit tests for fs/fuse/copies.c (SPEC §6.3): copies/ of the
 * owner's image lists one entry per region holding a copy, by name and by
 * inode number alike; copies/<region>/ holds status, progress and image
 * with exact sizes; a listing resumed at an offset never repeats an entry;
 * nobody else sees them; a copy leaving its private/ leaves copies/ and
 * changes the directory's mtime; mkdir refuses with the model's errno and
 * rmdir is EPERM.
 */
#include "attr.h"
#include "buf.h"
#include "dirs.h"
#include "fs.h"
#include "model/convert_test.h"

struct cfx {
	struct ut_fx *fx;
	struct fs_ctx ctx;
	struct fs_caller alice, bob;
	int64_t src, copy;
};

static int cfx_setup(void **state)
{
	struct cfx *a = calloc(1, sizeof *a);
	struct model_err err = {0};
	int64_t acct;

	if (!a || ut_setup((void **)&a->fx) < 0) {
		free(a);
		return -1;
	}
	a->ctx.m = a->fx->m;
	a->ctx.timeout = 1;
	acct = ut_account(a->fx, "alice");
	a->alice = ut_caller(acct);
	a->bob = ut_caller(ut_account(a->fx, "bob"));
	a->src = ut_image(a->fx, a->fx->r1, acct, MODEL_FOLDER_PRIVATE, "gold");
	ct_data_disk(a->fx, a->src, 0, "snap-0000c0c0", 2 * LT_MiB);
	lt_available(a->fx, a->src, MODEL_TYPE_CLOUD);
	if (model_image_copy(a->fx->m, a->src, a->fx->region[1].id, &a->copy, &err) < 0)
		fail_msg("copy: %s", err.msg);
	*state = a;
	return 0;
}

static int cfx_teardown(void **state)
{
	struct cfx *a = *state;
	ut_teardown((void **)&a->fx);
	free(a);
	return 0;
}

#define COPIES "/regions/cn-north-1/private/gold/copies"

static char *render(struct cfx *a, const char *path)
{
	struct fs_node n;
	struct fs_buf b = {0};
	struct stat st;

	ut_node(&a->ctx, &a->alice, path, &n);
	assert_int_equal(n.what, FS_W_COPY_FILE);
	n.attr->show(&n, &a->ctx, &b);
	fs_buf_put(&b, "", 0);
	assert_int_equal(fs_node_stat(&a->ctx, &n, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, (off_t)b.len); /* stat agrees with the content */
	return b.p;
}

struct names {
	char list[256];
	off_t last;
	int count;
};

static int collect(void *arg, const char *name, const struct fs_node *child, off_t next_off)
{
	struct names *l = arg;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	snprintf(l->list + strlen(l->list), sizeof l->list - strlen(l->list), "%s%s", l->count ? " " : "", name);
	l->last = next_off;
	l->count++;
	return 0;
}

static void list(struct cfx *a, const char *path, off_t off, struct names *out)
{
	struct fs_node dir;
	memset(out, 0, sizeof *out);
	ut_node(&a->ctx, &a->alice, path, &dir);
	assert_int_equal(fs_node_list(&a->ctx, &dir, off, collect, out), 0);
}

static void test_entries_and_files(void **state)
{
	struct cfx *a = *state;
	struct names l;
	struct fs_node n, again;
	char *s;

	list(a, COPIES, 0, &l);
	assert_string_equal(l.list, "cn-east-2");
	/* Resumed after its last entry, the listing has nothing more. */
	struct names rest;
	struct fs_node dir;
	memset(&rest, 0, sizeof rest);
	ut_node(&a->ctx, &a->alice, COPIES, &dir);
	assert_int_equal(fs_node_list(&a->ctx, &dir, l.last, collect, &rest), 0);
	assert_int_equal(rest.count, 0);
	list(a, COPIES "/cn-east-2", 0, &l);
	assert_string_equal(l.list, "status progress image");

	assert_string_equal(s = render(a, COPIES "/cn-east-2/status"), "pending\n");
	free(s);
	assert_string_equal(s = render(a, COPIES "/cn-east-2/progress"), "0\n");
	free(s);
	char want[32];
	snprintf(want, sizeof want, "%s\n", ut_get(a->fx, a->copy).ext_id);
	assert_string_equal(s = render(a, COPIES "/cn-east-2/image"), want);
	free(s);
	assert_int_equal(ct_run_all(a->fx), 2); /* and its SHA-256 pass (checksum.c) */
	assert_string_equal(s = render(a, COPIES "/cn-east-2/status"), "available\n");
	free(s);
	assert_string_equal(s = render(a, COPIES "/cn-east-2/progress"), "100\n");
	free(s);

	/* By inode number too. */
	ut_node(&a->ctx, &a->alice, COPIES "/cn-east-2", &n);
	assert_int_equal(n.what, FS_W_COPY);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->alice, n.ino, &again), 0);
	assert_int_equal(again.what, FS_W_COPY);
	assert_int_equal(again.copy_id, a->copy);
	/* Nobody else sees them. */
	assert_int_equal(ut_walk(&a->ctx, &a->bob, COPIES "/cn-east-2", &again), -ENOENT);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->bob, n.ino, &again), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &a->alice, COPIES "/cn-south-1", &again), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &a->alice, COPIES "/nowhere", &again), -ENOENT);
}

/* A copy deleted in its region leaves copies/, whose mtime changes. */
static void test_copy_leaves(void **state)
{
	struct cfx *a = *state;
	struct model_err err = {0};
	struct fs_node dir;
	struct stat st1, st2;
	struct names l;

	assert_int_equal(ct_run_all(a->fx), 2); /* and its SHA-256 pass (checksum.c) */
	ut_node(&a->ctx, &a->alice, COPIES, &dir);
	assert_int_equal(fs_node_stat(&a->ctx, &dir, &st1), 0);
	assert_int_equal(model_image_remove(a->fx->m, a->copy, &err), 0); /* into its recycle bin */
	ut_node(&a->ctx, &a->alice, COPIES, &dir);
	assert_int_equal(fs_node_stat(&a->ctx, &dir, &st2), 0);
	assert_true(st2.st_mtim.tv_sec != st1.st_mtim.tv_sec || st2.st_mtim.tv_nsec != st1.st_mtim.tv_nsec);
	list(a, COPIES, 0, &l);
	assert_int_equal(l.count, 0);
}

static void test_mkdir_rmdir(void **state)
{
	struct cfx *a = *state;
	struct model_err err = {0};
	struct fs_node p, n;

	ut_node(&a->ctx, &a->alice, COPIES, &p);
	assert_int_equal(fs_copies_mkdir(&a->ctx, &p, "cn-north-1", &n, &err), -EINVAL);
	assert_int_equal(fs_copies_mkdir(&a->ctx, &p, "nowhere", &n, &err), -ENOENT);
	assert_int_equal(fs_copies_mkdir(&a->ctx, &p, "cn-east-2", &n, &err), -EBUSY); /* in progress */
	assert_int_equal(fs_copies_mkdir(&a->ctx, &p, "cn-south-1", &n, &err), 0);
	assert_int_equal(n.what, FS_W_COPY);
	ut_node(&a->ctx, &a->alice, COPIES "/cn-south-1", &n);
	assert_int_equal(fs_copies_rmdir(&a->ctx, &n, &err), -EPERM);
	assert_true(err.msg[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_entries_and_files, cfx_setup, cfx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_leaves, cfx_setup, cfx_teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_rmdir, cfx_setup, cfx_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

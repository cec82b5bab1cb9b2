/*
 * test_share.c — unit tests for fs/fuse/share.c and the shared view (SPEC
 * §6.4, §3): shares/ of the owner's image lists the receivers, each
 * shares/<account> resolves by name and by inode number to an empty
 * directory dated by the share; nobody else sees shares/ or its entries;
 * the receiver's shared/<name>@<owner> has no owner-only entries, no
 * writable file and an unreadable blob, and is the image as shared (no
 * owner's reasons, instance ids or tasks); mkdir/rmdir through the fs layer.
 */
#include "attr.h"
#include "buf.h"
#include "dirs.h"
#include "fs.h"
#include "model/lifecycle_test.h"

struct sfx {
	struct ut_fx *fx;
	struct fs_ctx ctx;
	struct fs_caller alice, bob, carol;
	int64_t alice_id, bob_id, carol_id, img;
};

static int sfx_setup(void **state)
{
	struct sfx *a = calloc(1, sizeof *a);

	if (!a || ut_setup((void **)&a->fx) < 0) {
		free(a);
		return -1;
	}
	a->ctx.m = a->fx->m;
	a->ctx.timeout = 1;
	a->alice_id = ut_account(a->fx, "alice");
	a->bob_id = ut_account(a->fx, "bob");
	a->carol_id = ut_account(a->fx, "carol");
	a->alice = ut_caller(a->alice_id);
	a->bob = ut_caller(a->bob_id);
	a->carol = ut_caller(a->carol_id);
	a->img = lt_local_image(a->fx, a->fx->r1, a->alice_id, "golden", LT_MiB);
	*state = a;
	return 0;
}

static int sfx_teardown(void **state)
{
	struct sfx *a = *state;

	ut_teardown((void **)&a->fx);
	free(a);
	return 0;
}

#define SHARES "/regions/cn-north-1/private/golden/shares"

struct seen {
	int n;
	char names[64][64];
	fuse_ino_t ino[64];
};

static int emit(void *arg, const char *name, const struct fs_node *child, off_t next_off)
{
	struct seen *s = arg;

	(void)next_off;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	assert_true(s->n < 64);
	snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
	s->ino[s->n++] = child->ino;
	return 0;
}

static struct seen list(struct sfx *a, const struct fs_caller *c, const char *path)
{
	struct fs_node *n = malloc(sizeof *n);
	struct seen s = {0};

	assert_non_null(n);
	ut_node(&a->ctx, c, path, n);
	assert_int_equal(fs_node_list(&a->ctx, n, 0, emit, &s), 0);
	free(n);
	return s;
}

static void test_mkdir_list_resolve(void **state)
{
	struct sfx *a = *state;
	struct fs_node *p = malloc(sizeof *p), *n = malloc(sizeof *n);
	struct model_err err = {0};
	struct stat st;
	fuse_ino_t want = fs_ino(FS_K_IMAGE, a->img, FS_SUB_SHARE + (unsigned)a->bob_id);

	assert_non_null(p);
	assert_non_null(n);
	assert_int_equal(list(a, &a->alice, SHARES).n, 0);
	ut_node(&a->ctx, &a->alice, SHARES, p);
	assert_int_equal(fs_share_mkdir(&a->ctx, p, "bob", n, &err), 0);
	assert_int_equal(n->what, FS_W_SHARE);
	assert_int_equal(n->ino, want);
	assert_int_equal(fs_share_mkdir(&a->ctx, p, "bob", n, &err), -EEXIST);
	assert_int_equal(fs_share_mkdir(&a->ctx, p, "alice", n, &err), -EINVAL);
	assert_int_equal(fs_share_mkdir(&a->ctx, p, "nobody", n, &err), -ENOENT);

	struct seen s = list(a, &a->alice, SHARES);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], "bob");
	assert_int_equal(s.ino[0], want);
	/* By name and by inode number: the same node, an empty directory. */
	ut_node(&a->ctx, &a->alice, SHARES "/bob", n);
	assert_int_equal(n->ino, want);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->alice, want, n), 0);
	assert_int_equal(n->what, FS_W_SHARE);
	assert_string_equal(n->share.account, "bob");
	assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mtim.tv_sec, n->share.created);
	assert_int_equal(list(a, &a->alice, SHARES "/bob").n, 0);
	assert_int_equal(ut_walk(&a->ctx, &a->alice, SHARES "/bob/x", n), -ENOENT);
	/* Not a share (carol), not an account (sub 0x8000 + 0): ENOENT. */
	assert_int_equal(ut_walk(&a->ctx, &a->alice, SHARES "/carol", n), -ENOENT);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->alice,
	                                 fs_ino(FS_K_IMAGE, a->img, FS_SUB_SHARE + (unsigned)a->carol_id), n),
	                 -ENOENT);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->alice, fs_ino(FS_K_IMAGE, a->img, FS_SUB_SHARE), n), -ENOENT);
	/* The receiver and strangers: neither shares/ nor its entries. */
	assert_int_equal(fs_node_resolve(&a->ctx, &a->bob, want, n), -ENOENT);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->carol, want, n), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &a->bob, "/regions/cn-north-1/shared/golden@alice/shares", n), -ENOENT);

	/* rmdir: gone by name and by number. */
	ut_node(&a->ctx, &a->alice, SHARES "/bob", n);
	assert_int_equal(fs_share_rmdir(&a->ctx, n, &err), 0);
	assert_int_equal(list(a, &a->alice, SHARES).n, 0);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->alice, want, n), -ENOENT);
	free(p);
	free(n);
}

/* The receiver's view: readable attributes, nothing writable, no blob. */
static void test_shared_view(void **state)
{
	struct sfx *a = *state;
	struct fs_node *n = malloc(sizeof *n);
	struct model_err err = {0};
	static const char *const owner_only[] = {"shares", "copies", "convert", "cancel", "expires", "download"};
	char path[256];

	assert_non_null(n);
	assert_int_equal(model_share_add(a->fx->m, a->img, "bob", &err), 0);
	ut_node(&a->ctx, &a->bob, "/regions/cn-north-1/shared/golden@alice", n);
	assert_int_equal(n->view, FS_VIEW_SHARED);
	assert_int_equal(n->ino, fs_ino(FS_K_IMAGE, a->img, 0));
	for (size_t i = 0; i < sizeof owner_only / sizeof owner_only[0]; i++) {
		snprintf(path, sizeof path, "/regions/cn-north-1/shared/golden@alice/%s", owner_only[i]);
		if (ut_walk(&a->ctx, &a->bob, path, n) != -ENOENT)
			fail_msg("%s is visible to the receiver", owner_only[i]);
	}
	struct seen s = list(a, &a->bob, "/regions/cn-north-1/shared/golden@alice");
	for (int i = 0; i < s.n; i++) {
		snprintf(path, sizeof path, "/regions/cn-north-1/shared/golden@alice/%s", s.names[i]);
		ut_node(&a->ctx, &a->bob, path, n);
		if (n->what == FS_W_ATTR && fs_attr_is_writable(n))
			fail_msg("%s is writable for the receiver", s.names[i]);
	}
	ut_node(&a->ctx, &a->bob, "/regions/cn-north-1/shared/golden@alice/disks/vda", n);
	assert_int_equal(fs_node_blob_access(&a->ctx, n, &err), -EACCES);
	assert_string_equal(err.msg, "this image's disks are only for creating instances");
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/private/golden/disks/vda", n);
	assert_int_equal(fs_node_blob_access(&a->ctx, n, NULL), 0);
	/* Deactivated (§19.5): the owner, no administrator, reads nothing;
	 * reactivated, she reads again.  The model's rule, not the view's. */
	struct model_api_op deact = {.kind = MODEL_API_FLAG, .num = MODEL_GFLAG_DEACTIVATED, .on = true};
	assert_int_equal(model_share_remove(a->fx->m, a->img, "bob", &err), 0);
	assert_int_equal(model_api_image_update(a->fx->m, a->img, &deact, 1, &err), 0);
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/private/golden/disks/vda", n);
	assert_int_equal(fs_node_blob_access(&a->ctx, n, &err), -EACCES);
	assert_string_equal(err.msg, "the image is deactivated: its disks are read by administrators only");
	/* An administrator reads her own deactivated image: her role is read
	 * for the rule (the caller as the request made it does not know it). */
	struct fs_caller admin = ut_caller(a->alice_id);
	assert_int_equal(model_account_set_admin(a->fx->m, "alice", true, &err), 0);
	ut_node(&a->ctx, &admin, "/regions/cn-north-1/private/golden/disks/vda", n);
	assert_int_equal(fs_node_blob_access(&a->ctx, n, NULL), 0);
	assert_int_equal(model_account_set_admin(a->fx->m, "alice", false, &err), 0);
	deact.on = false;
	assert_int_equal(model_api_image_update(a->fx->m, a->img, &deact, 1, &err), 0);
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/private/golden/disks/vda", n);
	assert_int_equal(fs_node_blob_access(&a->ctx, n, NULL), 0);
	/* carol: not shared with her. */
	assert_int_equal(ut_walk(&a->ctx, &a->carol, "/regions/cn-north-1/shared/golden@alice", n), -ENOENT);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->carol, fs_ino(FS_K_IMAGE, a->img, 0), n), -ENOENT);
	free(n);
}

/* Renders path for c into a string (freed by the caller). */
static char *show(struct sfx *a, const struct fs_caller *c, const char *path)
{
	struct fs_node *n = malloc(sizeof *n);
	struct fs_buf b;
	char *s;

	assert_non_null(n);
	ut_node(&a->ctx, c, path, n);
	ut_render(&a->ctx, n, &b);
	s = strdup(b.p ? b.p : "");
	fs_buf_release(&b);
	free(n);
	assert_non_null(s);
	return s;
}

static void expect_shown(struct sfx *a, const struct fs_caller *c, const char *path, const char *want)
{
	char *got = show(a, c, path);
	if (strcmp(got, want) != 0)
		fail_msg("%s: '%s', want '%s'", path, got, want);
	free(got);
}

/* SPEC §8: the receiver sees the image as shared — not the owner's refusal
 * reasons (nor when they happened), not the owner's instance ids in
 * source (only its kind), not the owner's tasks; the reason of an image in
 * status error is the image's own.  And its directory is a node of its own
 * for the kernel (fs.h): not the owner's private/<name>. */
static void test_shared_view_is_the_image(void **state)
{
	struct sfx *a = *state;
	struct fs_node *n = malloc(sizeof *n), *o = malloc(sizeof *o);
	struct model_err err = {0};
	struct stat st, st2;
#define MINE "/regions/cn-north-1/private/golden/"
#define HIS "/regions/cn-north-1/shared/golden@alice/"

	assert_non_null(n);
	assert_non_null(o);
	assert_int_equal(model_share_add(a->fx->m, a->img, "bob", &err), 0);
	ut_sql(a->fx, "UPDATE images SET source = 'instance i-0000abcd vdb' WHERE id = %lld", (long long)a->img);
	assert_int_equal(model_image_set_error(a->fx->m, a->img, "an image named secret-plan exists"), 0);
	lt_task(a->fx, a->img, "image", a->img, "queued");

	expect_shown(a, &a->alice, MINE "error", "an image named secret-plan exists\n");
	expect_shown(a, &a->bob, HIS "error", "");
	expect_shown(a, &a->alice, MINE "source", "instance i-0000abcd vdb\n");
	expect_shown(a, &a->bob, HIS "source", "instance\n");
	char *t = show(a, &a->alice, MINE "task");
	assert_non_null(strstr(t, "op capture\n"));
	free(t);
	expect_shown(a, &a->bob, HIS "task", "");
	/* error's time is the owner's refusal's: the receiver gets the image's. */
	ut_node(&a->ctx, &a->bob, HIS "error", n);
	assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
	assert_int_equal(st.st_size, 0);
	ut_node(&a->ctx, &a->bob, HIS "status", o);
	assert_int_equal(fs_node_stat(&a->ctx, o, &st2), 0);
	assert_int_equal(st.st_mtim.tv_sec, st2.st_mtim.tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);

	/* Another node id than the owner's directory; the same st_ino. */
	ut_node(&a->ctx, &a->bob, "/regions/cn-north-1/shared/golden@alice", n);
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/private/golden", o);
	assert_true(fs_node_nodeid(n) != fs_node_nodeid(o));
	assert_int_equal(n->ino, o->ino);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->bob, fs_node_nodeid(n), o), 0);
	assert_int_equal(o->view, FS_VIEW_SHARED);

	/* An image in status error: its reason is the image's own. */
	ut_sql(a->fx, "UPDATE images SET status = %d, error = 'the capture failed' WHERE id = %lld", (int)MODEL_IMG_ERROR,
	       (long long)a->img);
	expect_shown(a, &a->bob, HIS "error", "the capture failed\n");
	free(n);
	free(o);
#undef MINE
#undef HIS
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mkdir_list_resolve, sfx_setup, sfx_teardown),
		cmocka_unit_test_setup_teardown(test_shared_view, sfx_setup, sfx_teardown),
		cmocka_unit_test_setup_teardown(test_shared_view_is_the_image, sfx_setup, sfx_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

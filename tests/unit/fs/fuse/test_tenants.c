/*
 * test_tenants.c — unit tests for fs/fuse/tenants.c and what node.c,
 * attr.c do through tenants/ (SPEC §16): who has tenants/ and whom it
 * lists (by name, by inode number, in listings), for an administrator, a
 * main account, its sub-account, an unrelated account and no account; the
 * tenant's view with the actor kept (files shown as the caller's); inode
 * numbers of their own (TENANT_ kinds) that follow a delete like the
 * owner's; what is writable there; paths for the log; no caching; a role
 * taken away taking the view with it — on both database drivers.
 */
#include "attr.h"
#include "dirs.h"
#include "fs.h"
#include "model/lifecycle_test.h"

struct tfx {
	struct ut_fx *fx;
	struct fs_ctx ctx;
	int64_t boss, acme, dev, eve;
	int64_t web, disc, gone, snap; /* dev's */
	struct fs_node *n, *o;
};

static int tfx_setup(void **state)
{
	struct tfx *t = calloc(1, sizeof *t);
	struct model_err err = {0};
	struct model_account a;

	if (!t || ut_setup((void **)&t->fx) < 0) {
		free(t);
		return -1;
	}
	struct ut_fx *fx = t->fx;
	t->ctx.m = fx->m;
	t->ctx.timeout = 86400;
	t->n = malloc(sizeof *t->n);
	t->o = malloc(sizeof *t->o);
	assert_non_null(t->n);
	assert_non_null(t->o);
	assert_int_equal(model_account_create(fx->m, "boss", 3101, true, NULL, &err), 0);
	assert_int_equal(model_account_by_name(fx->m, "boss", &a), 0);
	t->boss = a.id;
	t->acme = ut_account(fx, "acme");
	assert_int_equal(model_account_create(fx->m, "dev", -1, false, "acme", &err), 0);
	assert_int_equal(model_account_by_name(fx->m, "dev", &a), 0);
	t->dev = a.id;
	t->eve = ut_account(fx, "eve");
	t->web = lt_local_image(fx, fx->r1, t->dev, "web", LT_MiB);
	t->disc = ut_image(fx, fx->r1, t->dev, MODEL_FOLDER_ISO, "disc");
	t->gone = ut_image(fx, fx->r1, t->dev, MODEL_FOLDER_PRIVATE, "gone");
	ut_force_recycle(fx, t->gone, time(NULL));
	t->snap = lt_snapshot(fx, fx->r1, t->dev, "snap-0000d0d0", lt_tagged_blob(fx, fx->r1, "d", LT_MiB),
	                      MODEL_SNAP_AVAILABLE);
	*state = t;
	return 0;
}

static int tfx_teardown(void **state)
{
	struct tfx *t = *state;
	free(t->n);
	free(t->o);
	ut_teardown((void **)&t->fx);
	free(t);
	return 0;
}

#define TD "/regions/cn-north-1/tenants/dev"

struct names {
	int n;
	char list[1024];
	off_t next[16];
};

static int collect(void *arg, const char *name, const struct fs_node *child, off_t next_off)
{
	struct names *l = arg;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	size_t len = strlen(l->list);
	snprintf(l->list + len, sizeof l->list - len, "%s%s", l->n ? " " : "", name);
	if (l->n < 16)
		l->next[l->n] = next_off;
	l->n++;
	return 0;
}

static struct names list(struct tfx *t, const struct fs_node *dir, off_t off)
{
	struct names l = {0};
	assert_int_equal(fs_node_list(&t->ctx, dir, off, collect, &l), 0);
	return l;
}

/* Who has tenants/, by name, by number and in the region's listing. */
static void test_who_sees_tenants(void **state)
{
	struct tfx *t = *state;
	const struct {
		int64_t account;
		const char *tenants; /* NULL: no tenants/ */
	} who[] = {
		{t->boss, "acme dev eve"}, {t->acme, "dev"}, {t->dev, NULL}, {t->eve, NULL}, {0, NULL},
	};
	for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
		struct fs_caller c = ut_caller(who[i].account);
		ut_node(&t->ctx, &c, "/regions/cn-north-1", t->n);
		bool listed = strstr(list(t, t->n, 0).list, "tenants") != NULL;
		int by_name = ut_walk(&t->ctx, &c, "/regions/cn-north-1/tenants", t->n);
		int by_ino = fs_node_resolve(&t->ctx, &c, fs_ino(FS_K_REGION, t->fx->r1, FS_SUB_TENANTS), t->o);
		if (!who[i].tenants) {
			assert_false(listed);
			assert_int_equal(by_name, -ENOENT);
			assert_int_equal(by_ino, -ENOENT);
			assert_int_equal(ut_walk(&t->ctx, &c, TD "/private/web", t->n), -ENOENT);
			continue;
		}
		assert_true(listed);
		assert_int_equal(by_name, 0);
		assert_int_equal(by_ino, 0);
		assert_int_equal(t->n->what, FS_W_TENANTS);
		assert_string_equal(list(t, t->n, 0).list, who[i].tenants);
		/* The region's link count counts tenants/ (find's leaf rule). */
		struct stat st;
		ut_node(&t->ctx, &c, "/regions/cn-north-1", t->n);
		assert_int_equal(fs_node_stat(&t->ctx, t->n, &st), 0);
		assert_int_equal(st.st_nlink, 2 + 8 + 1);
	}
	/* Nobody is its own tenant; an administrator is nobody's; acme sees
	 * only its own sub-account. */
	struct fs_caller boss = ut_caller(t->boss), acme = ut_caller(t->acme);
	assert_int_equal(ut_walk(&t->ctx, &boss, "/regions/cn-north-1/tenants/boss", t->n), -ENOENT);
	assert_int_equal(ut_walk(&t->ctx, &acme, "/regions/cn-north-1/tenants/acme", t->n), -ENOENT);
	assert_int_equal(ut_walk(&t->ctx, &acme, "/regions/cn-north-1/tenants/eve", t->n), -ENOENT);
	assert_int_equal(ut_walk(&t->ctx, &acme, "/regions/cn-north-1/tenants/nobody", t->n), -ENOENT);
	ut_node(&t->ctx, &boss, TD, t->n);
	assert_string_equal(list(t, t->n, 0).list, "private iso recycle-bin snapshots");
	ut_node(&t->ctx, &boss, TD "/private", t->n);
	assert_string_equal(list(t, t->n, 0).list, "web");
	ut_node(&t->ctx, &acme, TD "/recycle-bin", t->n);
	assert_string_equal(list(t, t->n, 0).list, "gone");
	ut_node(&t->ctx, &acme, TD "/iso", t->n);
	assert_string_equal(list(t, t->n, 0).list, "disc");
	ut_node(&t->ctx, &boss, TD "/snapshots", t->n);
	assert_string_equal(list(t, t->n, 0).list, "snap-0000d0d0");
	assert_int_equal(ut_walk(&t->ctx, &boss, TD "/shared", t->n), -ENOENT);
	assert_int_equal(ut_walk(&t->ctx, &boss, TD "/instances", t->n), -ENOENT);
}

/* Every number of what boss sees in tenants/dev/: ENOENT for everybody who
 * may not see it, whatever way it is asked. */
static void test_numbers_hidden(void **state)
{
	struct tfx *t = *state;
	struct fs_caller boss = ut_caller(t->boss), acme = ut_caller(t->acme);
	const char *paths[] = {TD, TD "/private", TD "/iso", TD "/recycle-bin", TD "/snapshots", TD "/private/web",
	                       TD "/private/web/id", TD "/private/web/disks", TD "/private/web/disks/vda",
	                       TD "/private/web/shares", TD "/recycle-bin/gone", TD "/iso/disc/description",
	                       TD "/snapshots/snap-0000d0d0", TD "/snapshots/snap-0000d0d0/data"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		ut_node(&t->ctx, &boss, paths[i], t->n);
		fuse_ino_t ino = fs_node_st_ino(t->n), node = fs_node_nodeid(t->n);
		enum fs_kind k = fs_ino_kind(ino);
		assert_true(k == FS_K_TENANT || k == FS_K_TENANT_IMAGE || k == FS_K_TENANT_SNAP);
		assert_int_equal(t->n->actor_id, t->boss);
		assert_int_equal(t->n->caller.account_id, t->dev);
		assert_int_equal(t->n->caller.uid, 1000); /* shown as the caller's */
		/* acme sees the same numbers ... */
		ut_node(&t->ctx, &acme, paths[i], t->o);
		assert_int_equal(fs_node_st_ino(t->o), ino);
		assert_int_equal(fs_node_resolve(&t->ctx, &acme, ino, t->o), 0);
		assert_int_equal(t->o->actor_id, t->acme);
		/* ... the others none of them, nor dev itself. */
		const int64_t others[] = {t->dev, t->eve, 0};
		for (size_t j = 0; j < 3; j++) {
			struct fs_caller c = ut_caller(others[j]);
			if (fs_node_resolve(&t->ctx, &c, ino, t->o) != -ENOENT ||
			    fs_node_resolve(&t->ctx, &c, node, t->o) != -ENOENT)
				fail_msg("%s (%llx) resolves for account %lld", paths[i], (unsigned long long)ino,
				         (long long)others[j]);
		}
	}
	/* The owner's own numbers stay the owner's: boss resolves none. */
	assert_int_equal(fs_node_resolve(&t->ctx, &boss, fs_ino(FS_K_IMAGE, t->web, 0), t->n), -ENOENT);
	assert_int_equal(fs_node_resolve(&t->ctx, &boss, fs_ino(FS_K_SNAP, t->snap, 0), t->n), -ENOENT);
	/* An image shared with dev is not dev's own: not in tenants/ by number. */
	int64_t eves = lt_local_image(t->fx, t->fx->r1, t->eve, "eves", LT_MiB);
	ut_force_share(t->fx, eves, t->dev);
	assert_int_equal(fs_node_resolve(&t->ctx, &acme, fs_ino(FS_K_TENANT_IMAGE, eves, 0), t->n), -ENOENT);
	/* boss administers eve: the number is tenants/eve/private/eves. */
	assert_int_equal(fs_node_resolve(&t->ctx, &boss, fs_ino(FS_K_TENANT_IMAGE, eves, 0), t->n), 0);
	assert_string_equal(t->n->tenant.name, "eve");
	/* Another region's TENANT number, or an entry past the four: none. */
	assert_int_equal(fs_node_resolve(&t->ctx, &boss, fs_ino(FS_K_TENANT, t->dev, 4095u << 4), t->n), -ENOENT);
	assert_int_equal(fs_node_resolve(&t->ctx, &boss, fs_ino(FS_K_TENANT, t->dev, (unsigned)t->fx->r1 << 4 | 5), t->n),
	                 -ENOENT);
}

/* Nodes of their own, following a delete and a restore as the owner's do
 * (fs.h): st_ino the same, the node id renewed; every one resolves. */
static void test_inodes_follow_moves(void **state)
{
	struct tfx *t = *state;
	struct fs_caller boss = ut_caller(t->boss), dev = ut_caller(t->dev);
	struct model_err err = {0};

	ut_node(&t->ctx, &dev, "/regions/cn-north-1/private/web", t->o);
	ut_node(&t->ctx, &boss, TD "/private/web", t->n);
	fuse_ino_t ino = fs_node_st_ino(t->n), before = fs_node_nodeid(t->n);
	assert_int_equal(ino, fs_ino(FS_K_TENANT_IMAGE, t->web, 0));
	assert_int_equal(before, ino); /* never moved */
	assert_true(fs_node_nodeid(t->o) != before && fs_node_st_ino(t->o) != ino);
	assert_int_equal(model_image_remove(t->fx->m, t->web, &err), 0);
	ut_node(&t->ctx, &boss, TD "/recycle-bin/web", t->n);
	fuse_ino_t moved = fs_node_nodeid(t->n);
	assert_int_equal(fs_node_st_ino(t->n), ino);
	assert_int_equal(fs_ino_kind(moved), FS_K_TENANT_IMAGE_DIR);
	assert_true(moved != before);
	ut_node(&t->ctx, &dev, "/regions/cn-north-1/recycle-bin/web", t->o);
	assert_true(fs_node_nodeid(t->o) != moved);
	/* The old node id, and the new, name the image where it is. */
	assert_int_equal(fs_node_resolve(&t->ctx, &boss, before, t->n), 0);
	assert_int_equal(t->n->view, FS_VIEW_RECYCLE);
	assert_int_equal(fs_node_resolve(&t->ctx, &boss, moved, t->n), 0);
	assert_int_equal(t->n->actor_id, t->boss);
	assert_int_equal(model_image_restore(t->fx->m, t->web, MODEL_FOLDER_PRIVATE, "web", &err), 0);
	ut_node(&t->ctx, &boss, TD "/private/web", t->n);
	assert_int_equal(fs_node_nodeid(t->n), moved);
	assert_int_equal(fs_ino_sub(fs_tenant_image_dir_nodeid(t->web, 0x8000)), 1); /* wraps as the owner's */
}

/* What is writable there: remarks only; directories take no mkdir. */
static void test_writable(void **state)
{
	struct tfx *t = *state;
	struct fs_caller boss = ut_caller(t->boss), dev = ut_caller(t->dev);
	struct stat st;
	const struct {
		const char *file;
		bool tenant, owner;
	} files[] = {
		{"/private/web/description", true, true}, {"/private/web/tags", true, true},
		{"/private/web/project", true, true},     {"/private/web/convert", false, true},
		{"/private/web/download", false, true},   {"/iso/disc/os-type", false, true},
		{"/iso/disc/source", false, true},        {"/iso/disc/cancel", false, true},
		{"/recycle-bin/gone/description", true, true}, {"/private/web/status", false, false},
		{"/snapshots/snap-0000d0d0/description", true, true},
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char mine[256];
		snprintf(mine, sizeof mine, "/regions/cn-north-1%s", files[i].file);
		ut_node(&t->ctx, &dev, mine, t->o);
		if (fs_attr_is_writable(t->o) != files[i].owner)
			fail_msg("%s for dev: writable %d", files[i].file, !files[i].owner);
		snprintf(mine, sizeof mine, TD "%s", files[i].file);
		ut_node(&t->ctx, &boss, mine, t->n);
		if (fs_attr_is_writable(t->n) != files[i].tenant)
			fail_msg("%s through tenants/: writable %d", files[i].file, !files[i].tenant);
		assert_int_equal(fs_node_stat(&t->ctx, t->n, &st), 0);
		assert_int_equal(st.st_mode & 0777, files[i].tenant ? 0644 : 0444);
	}
	/* Directories: nothing is made there. */
	const char *dirs[] = {TD, TD "/private", TD "/iso", TD "/private/web", TD "/private/web/copies",
	                      TD "/private/web/shares", TD "/iso/disc/disks"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		ut_node(&t->ctx, &boss, dirs[i], t->n);
		assert_int_equal(fs_node_stat(&t->ctx, t->n, &st), 0);
		if ((st.st_mode & 0777) != 0555)
			fail_msg("%s: mode %o", dirs[i], st.st_mode & 0777);
	}
	ut_node(&t->ctx, &dev, "/regions/cn-north-1/iso/disc/disks", t->n);
	assert_int_equal(fs_node_stat(&t->ctx, t->n, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755); /* the owner's queued disks/ takes an upload */
}

/* Paths and the log's names; no caching even in a single-user mount. */
static void test_paths_and_timeouts(void **state)
{
	struct tfx *t = *state;
	struct fs_caller boss = ut_caller(t->boss), dev = ut_caller(t->dev);
	char path[1024];
	const char *paths[] = {"/regions/cn-north-1/tenants", TD, TD "/private", TD "/private/web",
	                       TD "/private/web/description", TD "/private/web/disks/vda", TD "/private/web/shares",
	                       TD "/snapshots/snap-0000d0d0/data", TD "/recycle-bin/gone/expires"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		ut_node(&t->ctx, &boss, paths[i], t->n);
		fs_node_path(&t->ctx, t->n, path, sizeof path);
		assert_string_equal(path, paths[i]);
		assert_true(fs_node_in_tenants(t->n));
		assert_true(fs_node_timeout(&t->ctx, t->n) == 0);
	}
	ut_node(&t->ctx, &boss, TD "/private/web", t->n);
	fs_tenant_who(&t->ctx, t->n, path, sizeof path);
	assert_string_equal(path, "(actor boss, tenant dev)");
	/* The owner's own are cached as before. */
	ut_node(&t->ctx, &dev, "/regions/cn-north-1/private/web/description", t->n);
	assert_false(fs_node_in_tenants(t->n));
	assert_true(fs_node_timeout(&t->ctx, t->n) > 0);
}

/* tenants/ lists in pages by account id; its time follows the accounts. */
static void test_listing_offsets_and_time(void **state)
{
	struct tfx *t = *state;
	struct fs_caller boss = ut_caller(t->boss);
	struct model_err err = {0};
	struct stat st;

	ut_node(&t->ctx, &boss, "/regions/cn-north-1/tenants", t->n);
	struct names all = list(t, t->n, 0);
	assert_int_equal(all.n, 3);
	assert_int_equal(all.next[1], t->dev + 2);
	assert_string_equal(list(t, t->n, all.next[0]).list, "dev eve");
	assert_string_equal(list(t, t->n, all.next[2]).list, "");
	assert_int_equal(fs_node_stat(&t->ctx, t->n, &st), 0);
	int64_t before = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	assert_int_equal(model_account_add(t->fx->m, "zed", -1, &err), 0);
	assert_int_equal(fs_node_stat(&t->ctx, t->n, &st), 0);
	assert_true(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec > before);
	assert_string_equal(list(t, t->n, all.next[2]).list, "zed");
}

/* A role taken away: what the caller held of tenants/ resolves no more. */
static void test_role_change(void **state)
{
	struct tfx *t = *state;
	struct fs_caller acme = ut_caller(t->acme), boss = ut_caller(t->boss);
	struct model_err err = {0};

	ut_node(&t->ctx, &acme, TD "/private/web/description", t->n);
	fuse_ino_t file = fs_node_st_ino(t->n);
	ut_node(&t->ctx, &acme, TD, t->n);
	fuse_ino_t dir = fs_node_st_ino(t->n);
	assert_int_equal(model_account_set_parent(t->fx->m, "dev", "-", &err), 0);
	acme = ut_caller(t->acme); /* a new request reads the role anew */
	assert_int_equal(fs_node_resolve(&t->ctx, &acme, file, t->n), -ENOENT);
	assert_int_equal(fs_node_resolve(&t->ctx, &acme, dir, t->n), -ENOENT);
	assert_int_equal(ut_walk(&t->ctx, &acme, "/regions/cn-north-1/tenants", t->n), -ENOENT);
	assert_int_equal(fs_node_resolve(&t->ctx, &boss, file, t->n), 0); /* boss still does */
	/* An administrator made a main account: nothing through tenants/. */
	assert_int_equal(model_account_set_admin(t->fx->m, "boss", false, &err), 0);
	boss = ut_caller(t->boss);
	assert_int_equal(fs_node_resolve(&t->ctx, &boss, file, t->n), -ENOENT);
	assert_int_equal(ut_walk(&t->ctx, &boss, "/regions/cn-north-1/tenants", t->n), -ENOENT);
	/* An administrator reads /stats in a multi-user mount (stats.c). */
	t->ctx.multiuser = true;
	boss = (struct fs_caller){.account_id = t->boss, .uid = 3101, .role_known = true, .admin = true};
	assert_true(fs_caller_is_admin(&t->ctx, &boss));
	boss.admin = false;
	assert_false(fs_caller_is_admin(&t->ctx, &boss));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_who_sees_tenants, tfx_setup, tfx_teardown),
		cmocka_unit_test_setup_teardown(test_numbers_hidden, tfx_setup, tfx_teardown),
		cmocka_unit_test_setup_teardown(test_inodes_follow_moves, tfx_setup, tfx_teardown),
		cmocka_unit_test_setup_teardown(test_writable, tfx_setup, tfx_teardown),
		cmocka_unit_test_setup_teardown(test_paths_and_timeouts, tfx_setup, tfx_teardown),
		cmocka_unit_test_setup_teardown(test_listing_offsets_and_time, tfx_setup, tfx_teardown),
		cmocka_unit_test_setup_teardown(test_role_change, tfx_setup, tfx_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

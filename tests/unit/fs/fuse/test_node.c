/*
 * test_node.c — unit tests for fs/fuse/node.c: inode numbers (fs.h) and their
 * round trips; resolving every node of the tree by inode number gives what
 * lookup by name gave (SPEC §2: stable names and inode numbers); what a
 * caller may not see does not exist, by name or by number (§8); listing
 * offsets are stable while entries come and go; an image directory that
 * moved gets a new node id and keeps its inode number; attribute files'
 * numbers are the ids of attr.c's tables, frozen here.  Walks the tree as
 * an administrator and a main account too, tenants/ included (§16).
 */
#include "attr.h"
#include "fs.h"
#include "model/lifecycle_test.h"
#include "rooms.h"

struct nfx {
	struct ut_fx *fx;
	struct fs_ctx ctx;
};

static int nfx_setup(void **state)
{
	struct nfx *a = calloc(1, sizeof *a);

	if (!a || ut_setup((void **)&a->fx) < 0) {
		free(a);
		return -1;
	}
	a->ctx.m = a->fx->m;
	a->ctx.timeout = 1;
	if (fs_rooms_new(&a->ctx) < 0) { /* files/ walks through ctx->inside */
		ut_teardown((void **)&a->fx);
		free(a);
		return -1;
	}
	*state = a;
	return 0;
}

static int nfx_teardown(void **state)
{
	struct nfx *a = *state;

	fs_rooms_free(&a->ctx); /* (the helpers files/ started end) */
	ut_teardown((void **)&a->fx);
	free(a);
	return 0;
}

/* ---- listings -------------------------------------------------------------------- */

#define MAX_ENTRIES 64

struct listing {
	int n;
	int stop_after;  /* stop (return 1) after this many entries other than . and ..; 0: never */
	int dots;
	char name[MAX_ENTRIES][MODEL_NAME_MAX + 2 + MODEL_NAME_MAX];
	fuse_ino_t ino[MAX_ENTRIES];
	enum fs_what what[MAX_ENTRIES];
	off_t next[MAX_ENTRIES];
};

static int collect(void *arg, const char *name, const struct fs_node *child, off_t next_off)
{
	struct listing *l = arg;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		l->dots++;
		return 0;
	}
	assert_true(l->n < MAX_ENTRIES);
	snprintf(l->name[l->n], sizeof l->name[0], "%s", name);
	l->ino[l->n] = child->ino;
	l->what[l->n] = child->what;
	l->next[l->n] = next_off;
	l->n++;
	return l->stop_after && l->n == l->stop_after ? 1 : 0;
}

static int list_from(struct nfx *a, const struct fs_node *dir, off_t off, int stop_after, struct listing *l)
{
	memset(l, 0, sizeof *l);
	l->stop_after = stop_after;
	return fs_node_list(&a->ctx, dir, off, collect, l);
}

static bool is_dir(enum fs_what w)
{
	switch (w) {
	case FS_W_ROOT:
	case FS_W_REGIONS:
	case FS_W_REGION:
	case FS_W_CLASS:
	case FS_W_IMAGE:
	case FS_W_SUBDIR:
	case FS_W_SNAP:
	case FS_W_VM:
	case FS_W_TENANTS:
	case FS_W_TENANT:
		return true;
	default:
		return false;
	}
}

/* ---- inode numbers ---------------------------------------------------------------- */

static int cmp_ino(const void *x, const void *y)
{
	fuse_ino_t a = *(const fuse_ino_t *)x, b = *(const fuse_ino_t *)y;
	return a < b ? -1 : a > b;
}

static void test_ino_round_trip(void **state)
{
	static const enum fs_kind kinds[] = {FS_K_ROOT, FS_K_REGION, FS_K_IMAGE, FS_K_SNAP, FS_K_VM};
	static const int64_t objs[] = {0, 1, 2, 255, 65536, 123456789, (1ll << 40) - 1};
	static const unsigned subs[] = {0, 1, 9, 10, 63, FS_SUB_DISKS, FS_SUB_DISKS + 1 + 26, FS_SUB_COPIES,
	                                FS_SUB_SHARES, FS_SUB_COPY + 4 * 7 + 3, FS_SUB_SHARE + 99, 0xffff};
	enum { N = 5 * 7 * 12 };
	fuse_ino_t all[N];
	int n = 0;

	(void)state;
	for (size_t k = 0; k < 5; k++) {
		for (size_t o = 0; o < sizeof objs / sizeof objs[0]; o++) {
			for (size_t s = 0; s < sizeof subs / sizeof subs[0]; s++) {
				fuse_ino_t ino = fs_ino(kinds[k], objs[o], subs[s]);
				assert_int_equal(fs_ino_kind(ino), kinds[k]);
				assert_int_equal(fs_ino_obj(ino), objs[o]);
				assert_int_equal(fs_ino_sub(ino), subs[s]);
				all[n++] = ino;
			}
		}
	}
	assert_int_equal(n, N);
	/* Distinct triples, distinct numbers. */
	qsort(all, N, sizeof all[0], cmp_ino);
	for (int i = 1; i < N; i++)
		assert_true(all[i] != all[i - 1]);
	/* The fixed numbers: / is 1 and /regions 2, as the kernel wants. */
	assert_int_equal(FS_INO_ROOT, 1);
	assert_int_equal(fs_ino_kind(FS_INO_REGIONS), FS_K_ROOT);
	/* No object's number is 0 or collides with / and /regions. */
	for (size_t k = 1; k < 5; k++) {
		fuse_ino_t ino = fs_ino(kinds[k], 1, 0);
		assert_true(ino != 0 && ino != FS_INO_ROOT && ino != FS_INO_REGIONS);
	}
}

/* An image directory that moved (fs.h): every delete to the recycle bin
 * gives it a new node id (a kernel may hold the old inode dead), a restore
 * and a rename keep it, the shared view has its own; st_ino never changes,
 * and every node id of it resolves to it. */
static void test_moved_dir_nodeid(void **state)
{
	struct nfx *a = *state;
	struct fs_node *n = malloc(sizeof *n), *o = malloc(sizeof *o);
	struct model_err err = {0};
	int64_t alice = ut_account(a->fx, "alice"), bob = ut_account(a->fx, "bob");
	struct fs_caller ca = ut_caller(alice), cb = ut_caller(bob);
	int64_t img = lt_local_image(a->fx, a->fx->r1, alice, "golden", LT_MiB);
	fuse_ino_t ino = fs_ino(FS_K_IMAGE, img, 0), seen[4];

	assert_non_null(n);
	assert_non_null(o);
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/private/golden", n);
	assert_int_equal(n->ino, ino);
	assert_int_equal(fs_node_nodeid(n), ino); /* never moved: the st_ino */
	seen[0] = fs_node_nodeid(n);
	assert_int_equal(model_share_add(a->fx->m, img, "bob", &err), 0);
	ut_node(&a->ctx, &cb, "/regions/cn-north-1/shared/golden@alice", o);
	assert_int_equal(o->ino, ino);
	seen[1] = fs_node_nodeid(o);
	assert_true(seen[1] != seen[0]);

	assert_int_equal(model_image_remove(a->fx->m, img, &err), 0);
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/recycle-bin/golden", n);
	assert_int_equal(n->ino, ino);
	seen[2] = fs_node_nodeid(n);
	assert_true(seen[2] != seen[0] && seen[2] != seen[1]);
	/* The old node id still names the image, in its view now. */
	assert_int_equal(fs_node_resolve(&a->ctx, &ca, seen[0], o), 0);
	assert_int_equal(o->view, FS_VIEW_RECYCLE);
	assert_int_equal(fs_node_resolve(&a->ctx, &ca, seen[2], o), 0);
	assert_int_equal(o->ino, ino);

	/* Restored, renamed: the kernel moved its own inode, the id stays. */
	assert_int_equal(model_image_restore(a->fx->m, img, MODEL_FOLDER_PRIVATE, "golden2", &err), 0);
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/private/golden2", n);
	assert_int_equal(fs_node_nodeid(n), seen[2]);
	assert_int_equal(model_image_rename(a->fx->m, img, "golden3", &err), 0);
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/private/golden3", n);
	assert_int_equal(fs_node_nodeid(n), seen[2]);
	assert_int_equal(n->ino, ino);

	/* Deleted again: yet another node. */
	assert_int_equal(model_image_remove(a->fx->m, img, &err), 0);
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/recycle-bin/golden3", n);
	seen[3] = fs_node_nodeid(n);
	for (int i = 0; i < 3; i++)
		assert_true(seen[3] != seen[i]);
	assert_int_equal(fs_node_resolve(&a->ctx, &ca, seen[3], o), 0);

	/* The numbering: never 0 as sub, wrapping, shared apart. */
	assert_int_equal(fs_ino_sub(fs_image_dir_nodeid(img, 0x7fff, false)), 0x7fff);
	assert_int_equal(fs_ino_sub(fs_image_dir_nodeid(img, 0x8000, false)), 1);
	assert_int_equal(fs_ino_sub(fs_image_dir_nodeid(img, 0, true)), 0x8000);
	assert_int_equal(fs_ino_sub(fs_image_dir_nodeid(img, 1, true)), 0x8001);
	assert_int_equal(fs_ino_obj(fs_image_dir_nodeid(img, 5, true)), img);
	free(n);
	free(o);
}

/* ---- the whole tree ------------------------------------------------------------------ */

struct walk {
	struct nfx *a;
	const struct fs_caller *caller;
	int nodes, dirs, disks, images, attrs;
	fuse_ino_t *seen;
	int nseen, cap;
};

static void note_ino(struct walk *w, fuse_ino_t ino, const char *path)
{
	for (int i = 0; i < w->nseen; i++)
		if (w->seen[i] == ino)
			fail_msg("%s: inode %llx is used twice", path, (unsigned long long)ino);
	if (w->nseen == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 1024;
		w->seen = realloc(w->seen, (size_t)w->cap * sizeof *w->seen);
		assert_non_null(w->seen);
	}
	w->seen[w->nseen++] = ino;
}

/* Checks that resolving n's inode gives n, stats it, and recurses. */
static void walk_node(struct walk *w, const struct fs_node *n, const char *path)
{
	struct nfx *a = w->a;
	struct fs_node *r = malloc(sizeof *r), *child = malloc(sizeof *child);
	struct listing *l = malloc(sizeof *l);
	struct stat st;
	int rc;

	assert_non_null(r);
	assert_non_null(child);
	assert_non_null(l);
	/* The number the kernel is given (a TENANT_ kind through tenants/). */
	fuse_ino_t ino = fs_node_st_ino(n);
	w->nodes++;
	note_ino(w, ino, path);
	if ((rc = fs_node_resolve(&a->ctx, w->caller, ino, r)) != 0)
		fail_msg("%s: resolving inode %llx: %d", path, (unsigned long long)ino, rc);
	/* cls means something for class directories, view for images, attr
	 * for files and subdirectories (fs.h). */
	bool same = r->what == n->what && r->ino == n->ino;
	if (n->what == FS_W_CLASS)
		same &= r->cls == n->cls;
	if (fs_ino_kind(n->ino) == FS_K_IMAGE)
		same &= r->view == n->view;
	if (n->what == FS_W_ATTR || n->what == FS_W_SUBDIR)
		same &= r->attr == n->attr;
	if (!same)
		fail_msg("%s: inode %llx resolves to what %d cls %d view %d, lookup gave what %d cls %d view %d", path,
		         (unsigned long long)n->ino, r->what, r->cls, r->view, n->what, n->cls, n->view);
	if (fs_ino_kind(n->ino) == FS_K_IMAGE)
		assert_int_equal(r->img.id, n->img.id);
	if (n->what != FS_W_ROOT && n->what != FS_W_REGIONS && n->what != FS_W_STATS && n->what != FS_W_ERRORS)
		assert_int_equal(r->region.id, n->region.id);
	if (n->what == FS_W_DISK)
		assert_int_equal(r->blob_id, n->blob_id);
	if ((rc = fs_node_stat(&a->ctx, r, &st)) != 0)
		fail_msg("%s: stat: %d", path, rc);
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(r->actor_id, n->actor_id);
	if (n->what == FS_W_INSIDE) {
		/* A guest's file (§18: the catalogue's Linux images hold a small
		 * ext2): its type is the guest's, and the walk of the guest's
		 * tree is test_inside's, not this one's. */
		assert_int_equal(st.st_mode & S_IFMT, n->inside.st.mode & S_IFMT);
		goto out;
	}
	assert_int_equal(S_ISDIR(st.st_mode), is_dir(n->what));
	assert_true(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode));

	if (!is_dir(n->what)) {
		w->disks += n->what == FS_W_DISK;
		w->attrs += n->what == FS_W_ATTR;
		/* A file is not a directory. */
		assert_int_equal(fs_node_lookup(&a->ctx, n, "x", child), -ENOTDIR);
		goto out;
	}
	w->dirs++;
	w->images += n->what == FS_W_IMAGE;
	assert_int_equal(list_from(a, n, 0, 0, l), 0);
	assert_int_equal(l->dots, 2);
	for (int i = 0; i < l->n; i++) {
		char sub[1024];
		snprintf(sub, sizeof sub, "%s/%s", strcmp(path, "/") ? path : "", l->name[i]);
		/* Lookup by the listed name gives the listed node. */
		if ((rc = fs_node_lookup(&a->ctx, n, l->name[i], child)) != 0)
			fail_msg("%s: lookup: %d", sub, rc);
		if (child->ino != l->ino[i] || child->what != l->what[i])
			fail_msg("%s: listed as %llx/%d, looked up as %llx/%d", sub, (unsigned long long)l->ino[i], l->what[i],
			         (unsigned long long)child->ino, child->what);
		if (i)
			assert_true(l->next[i] > l->next[i - 1]);
		walk_node(w, child, sub);
	}
	/* Unknown names. */
	rc = fs_node_lookup(&a->ctx, n, "no-such-entry", child);
	if (rc != -ENOENT)
		fail_msg("%s/no-such-entry: %d", path, rc);
out:
	free(l);
	free(child);
	free(r);
}

static void test_resolve_every_node(void **state)
{
	struct nfx *a = *state;
	struct ut_fx *fx = a->fx;
	int64_t alice = ut_account(fx, "alice");
	int64_t bob = ut_account(fx, "bob");
	struct fs_caller c = ut_caller(alice);
	struct fs_node *root = malloc(sizeof *root);
	struct walk w = {a, &c, 0, 0, 0, 0, 0, NULL, 0, 0};

	assert_non_null(root);
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "mine");
	ut_image(fx, fx->region[1].id, alice, MODEL_FOLDER_PRIVATE, "镜像-测试");
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "installer");
	int64_t gone = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "gone");
	ut_force_recycle(fx, gone, time(NULL));
	int64_t golden = ut_image(fx, fx->r1, bob, MODEL_FOLDER_PRIVATE, "golden");
	ut_force_status(fx, golden, MODEL_IMG_AVAILABLE);
	ut_force_share(fx, golden, alice);
	ut_image(fx, fx->r1, bob, MODEL_FOLDER_PRIVATE, "bobs-own");

	assert_int_equal(fs_node_resolve(&a->ctx, &c, FS_INO_ROOT, root), 0);
	assert_int_equal(root->what, FS_W_ROOT);
	walk_node(&w, root, "/");
	/* /, /regions, 3 regions with 8 class directories each, 48 platform
	 * images and alice's 5 (private, private, iso, recycle-bin, shared),
	 * each with disks/ and files/ (§18) and, for private ones, copies/ and
	 * shares/. */
	int images = UT_REGIONS * (UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT) + 5;
	assert_int_equal(w.images, images);
	assert_int_equal(w.disks, UT_REGIONS * (UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT)); /* one vda each */
	assert_int_equal(w.dirs, 2 + UT_REGIONS * (1 + 8) + images * 3 + 2 * 2);
	assert_true(w.attrs >= images * 19);
	free(w.seen);
	free(root);
}

/* The same walk as an administrator (§16): its own tree and, in every
 * region, tenants/ with each tenant's four folders, whose images and
 * snapshots resolve by their own inode numbers (a TENANT_ kind) to what the
 * lookups gave, none of them the owner's. */
static void test_resolve_every_node_admin(void **state)
{
	struct nfx *a = *state;
	struct ut_fx *fx = a->fx;
	struct model_err err = {0};
	struct fs_node *root = malloc(sizeof *root);

	assert_non_null(root);
	assert_int_equal(model_account_create(fx->m, "boss", -1, true, NULL, &err), 0);
	int64_t acme = ut_account(fx, "acme");
	assert_int_equal(model_account_create(fx->m, "dev", -1, false, "acme", &err), 0);
	struct model_account boss, dev;
	assert_int_equal(model_account_by_name(fx->m, "boss", &boss), 0);
	assert_int_equal(model_account_by_name(fx->m, "dev", &dev), 0);
	ut_image(fx, fx->r1, dev.id, MODEL_FOLDER_PRIVATE, "web");
	ut_image(fx, fx->r1, dev.id, MODEL_FOLDER_ISO, "disc");
	int64_t gone = ut_image(fx, fx->r1, dev.id, MODEL_FOLDER_PRIVATE, "gone");
	ut_force_recycle(fx, gone, time(NULL));
	lt_snapshot(fx, fx->r1, dev.id, "snap-0000d0d0", lt_tagged_blob(fx, fx->r1, "d", LT_MiB), MODEL_SNAP_AVAILABLE);
	ut_image(fx, fx->r1, acme, MODEL_FOLDER_PRIVATE, "acme-own");
	ut_image(fx, fx->r1, boss.id, MODEL_FOLDER_PRIVATE, "boss-own");

	struct fs_caller c = ut_caller(boss.id);
	struct walk w = {a, &c, 0, 0, 0, 0, 0, NULL, 0, 0};
	assert_int_equal(fs_node_resolve(&a->ctx, &c, FS_INO_ROOT, root), 0);
	walk_node(&w, root, "/");
	/* boss's own (the platform's 48 and boss-own), acme's acme-own and dev's
	 * three through tenants/ */
	int images = UT_REGIONS * (UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT) + 1 + 1 + 3;
	assert_int_equal(w.images, images);
	assert_int_equal(w.disks, UT_REGIONS * (UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT) + 1); /* + the snapshot's data */
	/* regions: 8 classes, tenants/, 2 tenants of 5 directories; images with
	 * disks/ and files/, private ones copies/ and shares/ (boss-own, acme-own, web);
	 * the snapshot and its files/ */
	assert_int_equal(w.dirs, 2 + UT_REGIONS * (1 + 8 + 1 + 2 * 5) + images * 3 + 3 * 2 + 2);
	free(w.seen);

	/* acme: tenants/dev/ only; dev: no tenants/ at all. */
	struct fs_caller ca = ut_caller(acme), cd = ut_caller(dev.id);
	struct walk wa = {a, &ca, 0, 0, 0, 0, 0, NULL, 0, 0};
	assert_int_equal(fs_node_resolve(&a->ctx, &ca, FS_INO_ROOT, root), 0);
	walk_node(&wa, root, "/");
	images = UT_REGIONS * (UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT) + 1 + 3;
	assert_int_equal(wa.images, images);
	assert_int_equal(wa.dirs, 2 + UT_REGIONS * (1 + 8 + 1 + 5) + images * 3 + 2 * 2 + 2);
	free(wa.seen);
	struct walk wd = {a, &cd, 0, 0, 0, 0, 0, NULL, 0, 0};
	assert_int_equal(fs_node_resolve(&a->ctx, &cd, FS_INO_ROOT, root), 0);
	walk_node(&wd, root, "/");
	images = UT_REGIONS * (UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT) + 3;
	assert_int_equal(wd.images, images);
	assert_int_equal(wd.dirs, 2 + UT_REGIONS * (1 + 8) + images * 3 + 2 + 2);
	free(wd.seen);
	free(root);
}

static void test_region_entries(void **state)
{
	struct nfx *a = *state;
	struct fs_caller c = ut_caller(ut_account(a->fx, "alice"));
	static const char *const want[] = {"public",      "marketplace", "private",   "shared", "iso",
	                                   "recycle-bin", "snapshots",   "instances", "quota",  "images.csv",
	                                   "images.json", "GUIDE"};
	struct fs_node *n = malloc(sizeof *n);
	struct listing l;

	assert_non_null(n);
	/* §2: the entries of a region. */
	ut_node(&a->ctx, &c, "/regions/cn-east-2", n);
	assert_int_equal(list_from(a, n, 0, 0, &l), 0);
	assert_int_equal(l.n, 12);
	for (int i = 0; i < 12; i++) {
		bool found = false;
		for (int j = 0; j < l.n; j++)
			found |= strcmp(l.name[j], want[i]) == 0;
		if (!found)
			fail_msg("/regions/cn-east-2 has no %s", want[i]);
	}
	/* /regions lists the three regions; / lists regions, stats and errors. */
	ut_node(&a->ctx, &c, "/regions", n);
	assert_int_equal(list_from(a, n, 0, 0, &l), 0);
	assert_int_equal(l.n, UT_REGIONS);
	for (int i = 0; i < UT_REGIONS; i++)
		assert_string_equal(l.name[i], ut_region_names[i]);
	ut_node(&a->ctx, &c, "/", n);
	assert_int_equal(list_from(a, n, 0, 0, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.name[0], "regions");
	assert_string_equal(l.name[1], "stats");
	assert_string_equal(l.name[2], "errors");
	free(n);
}

static void test_unknown_names(void **state)
{
	struct nfx *a = *state;
	struct fs_caller c = ut_caller(ut_account(a->fx, "alice"));
	static const char *const missing[] = {
		"/nope",
		"/regions/nope-1",
		"/regions/cn-north-1/nope",
		"/regions/cn-north-1/Public",
		"/regions/cn-north-1/public/nope",
		"/regions/cn-north-1/public/centos-7.4/nope",
		"/regions/cn-north-1/public/centos-7.4/disks/vdb",
		"/regions/cn-north-1/public/centos-7.4/disks/cdrom",
		"/regions/cn-north-1/public/centos-7.4/disks/bogus",
		"/regions/cn-north-1/marketplace/centos-7.4",
		"/regions/cn-north-1/private/centos-7.4",
		"/regions/cn-north-1/shared/nope",
		"/regions/cn-north-1/shared/nope@alice",
		"/regions/cn-north-1/shared/@alice",
		"/regions/cn-north-1/iso/nope",
		"/regions/cn-north-1/recycle-bin/nope",
		"/regions/cn-north-1/snapshots/snap-00000000",
		"/regions/cn-north-1/instances/nope",
	};
	struct fs_node *n = malloc(sizeof *n);

	assert_non_null(n);
	for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
		int rc = ut_walk(&a->ctx, &c, missing[i], n);
		if (rc != -ENOENT)
			fail_msg("%s: %d, want -ENOENT", missing[i], rc);
	}
	/* Files have no entries. */
	assert_int_equal(ut_walk(&a->ctx, &c, "/regions/cn-north-1/quota/x", n), -ENOTDIR);
	assert_int_equal(ut_walk(&a->ctx, &c, "/regions/cn-north-1/public/centos-7.4/id/x", n), -ENOTDIR);

	/* Inode numbers of nothing. */
	struct model_image pub = ut_platform(a->fx, a->fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	const fuse_ino_t bogus[] = {
		fs_ino(FS_K_REGION, 9999, 0),
		fs_ino(FS_K_REGION, a->fx->r1, FS_SUB_JSON + 1),
		fs_ino(FS_K_REGION, a->fx->r1, 0x7777),
		fs_ino(FS_K_IMAGE, 987654321, 0),
		fs_ino(FS_K_IMAGE, pub.id, 0x3f),
		fs_ino(FS_K_IMAGE, pub.id, FS_SUB_DISKS + 2), /* vdb */
		fs_ino(FS_K_IMAGE, pub.id, 0x7fff),
		fs_ino(FS_K_SNAP, 1, 0),
		fs_ino(FS_K_VM, 1, 0),
		fs_ino(FS_K_TENANT_SNAP + 1, 1, 0), /* no such kind */
		fs_ino(FS_K_TENANT_IMAGE, pub.id, 0), /* the platform is nobody's tenant */
		fs_ino(FS_K_TENANT, 1, 0),
		fs_ino(0xff, 1, 0),
	};
	for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
		int rc = fs_node_resolve(&a->ctx, &c, bogus[i], n);
		if (rc != -ENOENT)
			fail_msg("inode %llx: %d, want -ENOENT", (unsigned long long)bogus[i], rc);
	}
	free(n);
}

/* §8: another account's entries do not exist for the caller. */
static void test_other_accounts_invisible(void **state)
{
	struct nfx *a = *state;
	struct ut_fx *fx = a->fx;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	struct fs_caller ca = ut_caller(alice), cb = ut_caller(bob);
	struct fs_node *n = malloc(sizeof *n);
	struct listing l;

	assert_non_null(n);
	int64_t a_img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "a-img");
	int64_t b_img = ut_image(fx, fx->r1, bob, MODEL_FOLDER_PRIVATE, "b-img");
	int64_t b_iso = ut_image(fx, fx->r1, bob, MODEL_FOLDER_ISO, "b-iso");
	int64_t b_gone = ut_image(fx, fx->r1, bob, MODEL_FOLDER_PRIVATE, "b-gone");
	ut_force_recycle(fx, b_gone, time(NULL));

	/* Each sees their own by name ... */
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/private/a-img", n);
	assert_int_equal(n->img.id, a_img);
	ut_node(&a->ctx, &cb, "/regions/cn-north-1/private/b-img", n);
	assert_int_equal(n->img.id, b_img);
	/* ... and not the other's. */
	assert_int_equal(ut_walk(&a->ctx, &ca, "/regions/cn-north-1/private/b-img", n), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &ca, "/regions/cn-north-1/iso/b-iso", n), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &ca, "/regions/cn-north-1/recycle-bin/b-gone", n), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &ca, "/regions/cn-north-1/shared/b-img@bob", n), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &cb, "/regions/cn-north-1/private/a-img", n), -ENOENT);
	/* Nor by inode number: the directory, its files, its disks. */
	const int64_t hidden[] = {b_img, b_iso, b_gone};
	for (size_t i = 0; i < 3; i++) {
		const unsigned subs[] = {0, 1, 2, 3, FS_SUB_DISKS, FS_SUB_DISKS + 1, FS_SUB_COPIES, FS_SUB_SHARES};
		for (size_t s = 0; s < sizeof subs / sizeof subs[0]; s++) {
			int rc = fs_node_resolve(&a->ctx, &ca, fs_ino(FS_K_IMAGE, hidden[i], subs[s]), n);
			if (rc != -ENOENT)
				fail_msg("image %lld sub %x resolves for alice: %d", (long long)hidden[i], subs[s], rc);
		}
	}
	assert_int_equal(fs_node_resolve(&a->ctx, &cb, fs_ino(FS_K_IMAGE, a_img, 0), n), -ENOENT);
	assert_int_equal(fs_node_resolve(&a->ctx, &cb, fs_ino(FS_K_IMAGE, b_img, 0), n), 0);
	/* Nor in listings. */
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/private", n);
	assert_int_equal(list_from(a, n, 0, 0, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.name[0], "a-img");
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/iso", n);
	assert_int_equal(list_from(a, n, 0, 0, &l), 0);
	assert_int_equal(l.n, 0);
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/recycle-bin", n);
	assert_int_equal(list_from(a, n, 0, 0, &l), 0);
	assert_int_equal(l.n, 0);
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/shared", n);
	assert_int_equal(list_from(a, n, 0, 0, &l), 0);
	assert_int_equal(l.n, 0);

	/* Once shared, it appears in alice's shared/ (read-only view), and
	 * still not in her private/. */
	ut_force_status(fx, b_img, MODEL_IMG_AVAILABLE);
	ut_force_share(fx, b_img, alice);
	ut_node(&a->ctx, &ca, "/regions/cn-north-1/shared/b-img@bob", n);
	assert_int_equal(n->img.id, b_img);
	assert_int_equal(n->view, FS_VIEW_SHARED);
	assert_int_equal(fs_node_resolve(&a->ctx, &ca, fs_ino(FS_K_IMAGE, b_img, 0), n), 0);
	assert_int_equal(n->view, FS_VIEW_SHARED);
	assert_int_equal(ut_walk(&a->ctx, &ca, "/regions/cn-north-1/private/b-img", n), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &ca, "/regions/cn-north-1/shared/b-img@alice", n), -ENOENT);
	/* A third account still sees nothing of it. */
	struct fs_caller cc = ut_caller(ut_account(fx, "carol"));
	assert_int_equal(fs_node_resolve(&a->ctx, &cc, fs_ino(FS_K_IMAGE, b_img, 0), n), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &cc, "/regions/cn-north-1/shared/b-img@bob", n), -ENOENT);
	free(n);
}

/* §8: a caller with no account sees empty regions (but the platform's images). */
static void test_no_account(void **state)
{
	struct nfx *a = *state;
	struct ut_fx *fx = a->fx;
	int64_t alice = ut_account(fx, "alice");
	struct fs_caller none = ut_caller(0);
	struct fs_node *n = malloc(sizeof *n);
	struct listing l;
	static const char *const own[] = {"private", "shared", "iso", "recycle-bin", "snapshots", "instances"};
	char path[128];

	assert_non_null(n);
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "a-img");
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "a-iso");
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
		snprintf(path, sizeof path, "/regions/cn-north-1/%s", own[i]);
		ut_node(&a->ctx, &none, path, n);
		assert_int_equal(list_from(a, n, 0, 0, &l), 0);
		if (l.n != 0)
			fail_msg("%s lists %d entries for a caller without an account", path, l.n);
		assert_int_equal(l.dots, 2);
	}
	assert_int_equal(ut_walk(&a->ctx, &none, "/regions/cn-north-1/private/a-img", n), -ENOENT);
	assert_int_equal(ut_walk(&a->ctx, &none, "/regions/cn-north-1/iso/a-iso", n), -ENOENT);
	assert_int_equal(fs_node_resolve(&a->ctx, &none, fs_ino(FS_K_IMAGE, id, 0), n), -ENOENT);
	/* Platform images stay visible. */
	ut_node(&a->ctx, &none, "/regions/cn-north-1/public", n);
	assert_int_equal(list_from(a, n, 0, 0, &l), 0);
	assert_int_equal(l.n, UT_PUBLIC_COUNT);
	free(n);
}

/* ---- offsets ------------------------------------------------------------------------ */

/* fs.h: emit returns non-zero to stop (buffer full); that is not an error. */
static void test_list_stop_is_not_an_error(void **state)
{
	struct nfx *a = *state;
	struct fs_caller c = ut_caller(ut_account(a->fx, "alice"));
	struct fs_node *n = malloc(sizeof *n);
	struct listing l;
	static const char *const dirs[] = {"/regions", "/regions/cn-north-1", "/regions/cn-north-1/public",
	                                   "/regions/cn-north-1/public/centos-7.4"};

	int rcs[sizeof dirs / sizeof dirs[0]];

	assert_non_null(n);
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		ut_node(&a->ctx, &c, dirs[i], n);
		rcs[i] = list_from(a, n, 0, 2, &l);
		assert_int_equal(l.n, 2);
	}
	free(n);
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (rcs[i] != 0)
			fail_msg("%s: fs_node_list stopped by emit after 2 entries returned %d", dirs[i], rcs[i]);
}

/* Listing from an offset past the last entry: nothing, and no error. */
static void test_list_past_end(void **state)
{
	struct nfx *a = *state;
	struct fs_caller c = ut_caller(ut_account(a->fx, "alice")), none = ut_caller(0);
	struct fs_node *n = malloc(sizeof *n);
	struct listing l;
	static const struct {
		const char *path;
		off_t off;
		bool no_account;
	} cases[] = {
		{"/", 5, false},                                 /* after "regions", "stats", "errors" */
		{"/", 1000, false},
		{"/regions/cn-north-1", 15, false},              /* after its last entry, GUIDE (offset 15) */
		{"/regions/cn-north-1", 1 << 20, false},
		{"/regions/cn-north-1/public", 1 << 30, false},
		{"/regions/cn-north-1/public/centos-7.4", 500, false},
		{"/regions/cn-north-1/public/centos-7.4/disks", 500, false},
		{"/regions/cn-north-1/private", 2, true},        /* no account: empty */
		{"/regions/cn-north-1/private", 3, true},
		{"/regions/cn-north-1/snapshots", 2, true},
	};

	assert_non_null(n);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ut_node(&a->ctx, cases[i].no_account ? &none : &c, cases[i].path, n);
		int rc = list_from(a, n, cases[i].off, 0, &l);
		if (rc != 0 || l.n != 0 || l.dots != 0) {
			free(n);
			fail_msg("%s from %lld: rc %d, %d entries", cases[i].path, (long long)cases[i].off, rc, l.n + l.dots);
		}
	}
	free(n);
}

struct seen {
	int count[10];
};

static void tally(struct seen *s, const struct listing *l, char names[10][16])
{
	for (int i = 0; i < l->n; i++) {
		int k;
		for (k = 0; k < 10; k++)
			if (strcmp(l->name[i], names[k]) == 0)
				break;
		if (k == 10)
			fail_msg("listed '%s', which is not one of the images", l->name[i]);
		s->count[k]++;
	}
}

static void test_list_offsets_stable(void **state)
{
	struct nfx *a = *state;
	struct ut_fx *fx = a->fx;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	struct fs_caller c = ut_caller(alice);
	struct fs_node *dir = malloc(sizeof *dir);
	struct listing first, second, again;
	struct seen s = {{0}};
	char names[10][16];
	int64_t ids[10];

	assert_non_null(dir);
	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "private-images", 20, &err), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(names[i], sizeof names[i], "img%d", i);
		ids[i] = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, names[i]);
	}
	ut_node(&a->ctx, &c, "/regions/cn-north-1/private", dir);

	/* First half: stop after the 5th image, as a full reply buffer does. */
	list_from(a, dir, 0, 5, &first); /* its return value: test_list_stop_is_not_an_error */
	assert_int_equal(first.n, 5);
	assert_int_equal(first.dots, 2);
	off_t off = first.next[4];
	assert_int_equal(list_from(a, dir, off, 0, &second), 0);
	assert_int_equal(second.dots, 0);
	assert_int_equal(second.n, 5);
	tally(&s, &first, names);
	tally(&s, &second, names);
	for (int k = 0; k < 10; k++)
		if (s.count[k] != 1)
			fail_msg("%s listed %d times over the two halves", names[k], s.count[k]);

	/* An image listed before the offset goes away: continuing from the
	 * same offset gives the same rest. */
	int gone = -1;
	for (int k = 0; k < 10; k++)
		if (strcmp(first.name[1], names[k]) == 0)
			gone = k;
	assert_true(gone >= 0);
	assert_int_equal(model_image_remove(fx->m, ids[gone], &err), 0);
	assert_int_equal(list_from(a, dir, off, 0, &again), 0);
	assert_int_equal(again.n, second.n);
	for (int i = 0; i < again.n; i++) {
		assert_string_equal(again.name[i], second.name[i]);
		assert_int_equal(again.ino[i], second.ino[i]);
		assert_int_equal(again.next[i], second.next[i]);
	}
	/* One after the offset goes away: the others are still there, once. */
	int later = -1;
	for (int k = 0; k < 10; k++)
		if (strcmp(second.name[2], names[k]) == 0)
			later = k;
	assert_int_equal(model_image_remove(fx->m, ids[later], &err), 0);
	assert_int_equal(list_from(a, dir, off, 0, &again), 0);
	assert_int_equal(again.n, 4);
	for (int i = 0, j = 0; i < second.n; i++) {
		if (i == 2)
			continue;
		assert_string_equal(again.name[j++], second.name[i]);
	}
	/* A new image appears after the rest (row ids grow). */
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "newest");
	assert_int_equal(list_from(a, dir, off, 0, &again), 0);
	assert_int_equal(again.n, 5);
	assert_string_equal(again.name[4], "newest");
	/* Offsets between: each listing from next[i] continues with entry i+1. */
	struct listing full, from;
	assert_int_equal(list_from(a, dir, 0, 0, &full), 0);
	for (int i = 0; i < full.n; i++) {
		assert_int_equal(list_from(a, dir, full.next[i], 0, &from), 0);
		assert_int_equal(from.n, full.n - i - 1);
		if (from.n)
			assert_string_equal(from.name[0], full.name[i + 1]);
	}
	free(dir);
}

/* The same holds for the fixed tables (an image directory). */
static void test_table_offsets(void **state)
{
	struct nfx *a = *state;
	struct fs_caller c = ut_caller(ut_account(a->fx, "alice"));
	struct fs_node *dir = malloc(sizeof *dir);
	struct listing full, from;

	assert_non_null(dir);
	ut_node(&a->ctx, &c, "/regions/cn-north-1/public/ubuntu-14.04", dir);
	assert_int_equal(list_from(a, dir, 0, 0, &full), 0);
	assert_true(full.n >= 20);
	for (int i = 0; i < full.n; i++) {
		if (i)
			assert_true(full.next[i] > full.next[i - 1]);
		assert_int_equal(list_from(a, dir, full.next[i], 0, &from), 0);
		assert_int_equal(from.n, full.n - i - 1);
		if (from.n)
			assert_string_equal(from.name[0], full.name[i + 1]);
	}
	/* "." and ".." have offsets 1 and 2: from 1, ".." and everything. */
	assert_int_equal(list_from(a, dir, 1, 0, &from), 0);
	assert_int_equal(from.dots, 1);
	assert_int_equal(from.n, full.n);
	free(dir);
}

/* ---- attribute inode numbers are frozen --------------------------------------- */

/* The inode number (its low 16 bits) of every entry of the attribute tables
 * (attr.c), as they were when the numbers became ids written in the tables
 * (issue 24).  SPEC §2: inode numbers are stable across versions, so a
 * line here is never edited or removed: a new attribute adds one, with the
 * id its table gave it. */
static const struct frozen_ino {
	enum fs_kind kind;
	const char *name;
	unsigned sub;
} frozen_inos[] = {
	{FS_K_IMAGE, "id", 1},           {FS_K_IMAGE, "description", 2},   {FS_K_IMAGE, "status", 3},
	{FS_K_IMAGE, "progress", 4},     {FS_K_IMAGE, "type", 5},          {FS_K_IMAGE, "format", 6},
	{FS_K_IMAGE, "os-type", 7},      {FS_K_IMAGE, "platform", 8},      {FS_K_IMAGE, "version", 9},
	{FS_K_IMAGE, "arch", 10},        {FS_K_IMAGE, "boot-mode", 11},    {FS_K_IMAGE, "features", 12},
	{FS_K_IMAGE, "tags", 13},        {FS_K_IMAGE, "encrypted", 14},    {FS_K_IMAGE, "size", 15},
	{FS_K_IMAGE, "created", 16},     {FS_K_IMAGE, "owner", 17},        {FS_K_IMAGE, "source", 18},
	{FS_K_IMAGE, "device-mapping", 19}, {FS_K_IMAGE, "disks", FS_SUB_DISKS}, {FS_K_IMAGE, "instances", 21},
	{FS_K_IMAGE, "convert", 22},     {FS_K_IMAGE, "cancel", 23},       {FS_K_IMAGE, "copies", FS_SUB_COPIES},
	{FS_K_IMAGE, "shares", FS_SUB_SHARES}, {FS_K_IMAGE, "task", 26},   {FS_K_IMAGE, "expires", 27},
	{FS_K_IMAGE, "download", 28},    {FS_K_IMAGE, "error", 29},        {FS_K_IMAGE, "project", 30},
	{FS_K_IMAGE, "sha256", 31},      {FS_K_IMAGE, "files", FS_SUB_FILES},
	{FS_K_IMAGE, "uuid", 32},        {FS_K_IMAGE, "properties", 33},
	{FS_K_IMAGE, "inspection", 34},  {FS_K_IMAGE, "inspection.json", 35}, {FS_K_IMAGE, "packages", 36},
	{FS_K_IMAGE, "inspect", 37},
	{FS_K_SNAP, "name", 1},          {FS_K_SNAP, "description", 2},    {FS_K_SNAP, "size", 3},
	{FS_K_SNAP, "status", 4},        {FS_K_SNAP, "created", 5},        {FS_K_SNAP, "images", 6},
	{FS_K_SNAP, "data", 7},          {FS_K_SNAP, "files", FS_SUB_FILES},
	{FS_K_SNAP, "inspection", 8},    {FS_K_SNAP, "inspection.json", 9}, {FS_K_SNAP, "packages", 10},
	{FS_K_SNAP, "inspect", 11},
	{FS_K_VM, "id", 1},              {FS_K_VM, "status", 2},           {FS_K_VM, "system-disk", 3},
	{FS_K_VM, "image", 4},           {FS_K_VM, "disks", FS_SUB_DISKS}, {FS_K_VM, "host", 6},
	{FS_K_VM, "boot", 7},            {FS_K_VM, "system-disk-size", 8}, {FS_K_VM, "password", 9},
	{FS_K_VM, "arrived", 10},
};

/* Each entry, looked up by name in a directory of its kind, has its frozen
 * number, and that number resolves back to it; every entry of the tables
 * is in the list (a new one must add its line). */
static void test_attr_inos_frozen(void **state)
{
	struct nfx *a = *state;
	struct ut_fx *fx = a->fx;
	int64_t alice = ut_account(fx, "alice");
	struct fs_caller c = ut_caller(alice);
	struct fs_node *dir = malloc(sizeof *dir), *child = malloc(sizeof *child), *back = malloc(sizeof *back);
	struct model_err err = {0};
	int64_t vm = 0;
	size_t counts[FS_K_IMAGE_DIR + 1] = {0};

	assert_non_null(dir);
	assert_non_null(child);
	assert_non_null(back);
	int64_t mine = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "mine");
	int64_t gone = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "gone");
	ut_force_recycle(fx, gone, time(NULL));
	int64_t snap = lt_snapshot(fx, fx->r1, alice, "snap-frozen", lt_tagged_blob(fx, fx->r1, "s", LT_MiB),
	                           MODEL_SNAP_AVAILABLE);
	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm-frozen", &vm, &err), 0);
	for (size_t i = 0; i < sizeof frozen_inos / sizeof frozen_inos[0]; i++) {
		const struct frozen_ino *f = &frozen_inos[i];
		/* expires shows in the recycle bin only; the rest in private/. */
		int64_t obj = f->kind == FS_K_SNAP ? snap
		              : f->kind == FS_K_VM ? vm
		              : strcmp(f->name, "expires") == 0 ? gone
		                                                : mine;
		assert_int_equal(fs_node_resolve(&a->ctx, &c, fs_ino(f->kind, obj, 0), dir), 0);
		int rc = fs_node_lookup(&a->ctx, dir, f->name, child);
		if (rc != 0)
			fail_msg("lookup %s: %d", f->name, rc);
		if (fs_ino_sub(child->ino) != f->sub || fs_ino_kind(child->ino) != f->kind)
			fail_msg("%d/%s: inode sub %#x, frozen %#x", (int)f->kind, f->name, fs_ino_sub(child->ino), f->sub);
		assert_int_equal(fs_node_resolve(&a->ctx, &c, child->ino, back), 0);
		assert_non_null(back->attr);
		assert_string_equal(back->attr->name, f->name);
		counts[f->kind]++;
	}
	assert_int_equal(counts[FS_K_IMAGE], fs_image_attr_count);
	assert_int_equal(counts[FS_K_SNAP], fs_snap_attr_count);
	assert_int_equal(counts[FS_K_VM], fs_vm_attr_count);
	free(back);
	free(child);
	free(dir);
}

/* Every table's numbers are distinct, files' ids below their table's next
 * free id (so an attribute that takes it gets a number nobody had, frozen
 * or not) and below FS_SUB_DISKS; directories have id 0 and their sub. */
static void check_ids(const struct fs_attr *t, size_t count, unsigned next_id, enum fs_kind kind)
{
	assert_true(next_id > 0 && next_id < FS_SUB_DISKS);
	for (size_t i = 0; i < count; i++) {
		if (t[i].sub)
			assert_int_equal(t[i].id, 0);
		else if (t[i].id == 0 || t[i].id >= next_id)
			fail_msg("%s: id %u, next free %u", t[i].name, t[i].id, next_id);
		for (size_t j = 0; j < i; j++)
			if (fs_attr_ino_sub(&t[j]) == fs_attr_ino_sub(&t[i]))
				fail_msg("%s and %s share %#x", t[j].name, t[i].name, fs_attr_ino_sub(&t[i]));
	}
	/* The next id is new to the frozen list too (a removed attribute's
	 * number stays taken there). */
	for (size_t i = 0; i < sizeof frozen_inos / sizeof frozen_inos[0]; i++)
		if (frozen_inos[i].kind == kind)
			assert_true(frozen_inos[i].sub != next_id);
}

static void test_attr_ids_unique(void **state)
{
	(void)state;
	check_ids(fs_image_attrs, fs_image_attr_count, fs_image_attr_next_id, FS_K_IMAGE);
	check_ids(fs_snap_attrs, fs_snap_attr_count, fs_snap_attr_next_id, FS_K_SNAP);
	check_ids(fs_vm_attrs, fs_vm_attr_count, fs_vm_attr_next_id, FS_K_VM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ino_round_trip),
		cmocka_unit_test_setup_teardown(test_resolve_every_node, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_resolve_every_node_admin, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_region_entries, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_names, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_other_accounts_invisible, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_no_account, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_list_stop_is_not_an_error, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_list_past_end, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_list_offsets_stable, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_table_offsets, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_moved_dir_nodeid, nfx_setup, nfx_teardown),
		cmocka_unit_test_setup_teardown(test_attr_inos_frozen, nfx_setup, nfx_teardown),
		cmocka_unit_test(test_attr_ids_unique),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

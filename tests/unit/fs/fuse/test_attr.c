/*
 * test_attr.c — unit tests for fs/fuse/attr.c: the generated files of image
 * directories (SPEC §2.1, §2.2) — which appear in which view, what they
 * render, that stat reports the rendered length, which are writable — and
 * the region files quota (§2, §8), images.csv (§7) and images.json (§15);
 * and an instance's boot, system-disk-size and password and its
 * read-only disks cdrom and cidata (§16).
 * Nodes are built the way requests build them, with fs_node_resolve and
 * fs_node_lookup.
 */
#include <regex.h>

#include "attr.h"
#include "buf.h"
#include "disk.h"
#include "fs.h"
#include "model/lifecycle_test.h"

#define RETENTION (7 * 24 * 3600) /* §6.1: the recycle bin's default */

struct afx {
	struct ut_fx *fx;
	struct fs_ctx ctx;
	struct fs_caller alice, bob, nobody;
	int64_t alice_id, bob_id;
};

static int afx_setup(void **state)
{
	struct afx *a = calloc(1, sizeof *a);

	if (!a || ut_setup((void **)&a->fx) < 0) {
		free(a);
		return -1;
	}
	a->ctx.m = a->fx->m;
	a->ctx.timeout = 1;
	a->ctx.uid = 1000;
	a->ctx.gid = 1000;
	*state = a;
	return 0;
}

static int afx_teardown(void **state)
{
	struct afx *a = *state;

	ut_teardown((void **)&a->fx);
	free(a);
	return 0;
}

static void afx_accounts(struct afx *a)
{
	a->alice_id = ut_account(a->fx, "alice");
	a->bob_id = ut_account(a->fx, "bob");
	a->alice = ut_caller(a->alice_id);
	a->bob = ut_caller(a->bob_id);
	a->nobody = ut_caller(0);
}

/* ---- the entries of an image directory ----------------------------------------- */

#define MAX_ENTRIES 64

struct entries {
	int n;
	char name[MAX_ENTRIES][32];
	struct fs_node *node; /* MAX_ENTRIES nodes */
};

static int collect_entry(void *arg, const char *name, const struct fs_node *child, off_t next_off)
{
	struct entries *e = arg;

	(void)next_off;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	assert_true(e->n < MAX_ENTRIES);
	snprintf(e->name[e->n], sizeof e->name[0], "%s", name);
	e->node[e->n] = *child;
	e->n++;
	return 0;
}

static void list_dir(struct afx *a, const struct fs_node *dir, struct entries *e)
{
	e->n = 0;
	if (!e->node)
		e->node = calloc(MAX_ENTRIES, sizeof *e->node);
	assert_non_null(e->node);
	assert_int_equal(fs_node_list(&a->ctx, dir, 0, collect_entry, e), 0);
}

static bool has_entry(const struct entries *e, const char *name)
{
	for (int i = 0; i < e->n; i++)
		if (strcmp(e->name[i], name) == 0)
			return true;
	return false;
}

/* SPEC §2.1: the entries every image has, and those of some views only. */
static const char *const all_views[] = {
	"id",      "description", "status",  "progress",       "type",  "format",    "os-type", "platform",
	"version", "arch",        "boot-mode", "features",     "tags",  "encrypted", "size",    "created",
	"owner",   "source",      "device-mapping", "disks",   "instances", "task",  "error",     "project",
	"sha256",  "files",       "uuid",    "properties", "inspection", "inspection.json", "packages",
};
#define N_ALL (sizeof all_views / sizeof all_views[0])
static const char *const view_only[] = {"convert", "cancel", "copies", "shares", "expires", "download", "inspect"};
#define N_ONLY (sizeof view_only / sizeof view_only[0])

/* Files holding one value: at most one newline, the last byte. */
static bool single_line(const char *name)
{
	static const char *const multi[] = {"description", "tags",        "device-mapping", "instances",
	                                     "task",        "inspection", "inspection.json", "packages"};
	for (size_t i = 0; i < sizeof multi / sizeof multi[0]; i++)
		if (strcmp(name, multi[i]) == 0)
			return false;
	return true;
}

/* The listing of dir holds exactly all_views plus `extra` (a NULL-terminated list). */
static void check_entries(struct afx *a, const struct fs_node *dir, const char *const *extra, const char *what)
{
	struct entries e = {0};
	size_t want = N_ALL;

	list_dir(a, dir, &e);
	for (size_t i = 0; i < N_ALL; i++)
		if (!has_entry(&e, all_views[i]))
			fail_msg("%s: no %s", what, all_views[i]);
	for (size_t k = 0; k < N_ONLY; k++) {
		bool expected = false;
		for (const char *const *x = extra; *x; x++)
			expected |= strcmp(*x, view_only[k]) == 0;
		want += expected;
		if (has_entry(&e, view_only[k]) != expected)
			fail_msg("%s: %s is %s", what, view_only[k], expected ? "missing" : "listed");
		/* Lookup agrees with the listing. */
		struct fs_node *n = malloc(sizeof *n);
		assert_non_null(n);
		int rc = fs_node_lookup(&a->ctx, dir, view_only[k], n);
		if (expected ? rc != 0 : rc != -ENOENT)
			fail_msg("%s: lookup %s: %d", what, view_only[k], rc);
		free(n);
	}
	if ((size_t)e.n != want)
		fail_msg("%s: %d entries, want %zu", what, e.n, want);
	free(e.node);
}

/* Every generated file of an image: content ends with a newline or is
 * empty; a one-value file holds one line; stat tells the rendered length;
 * the mode says whether it is writable. */
static void check_files(struct afx *a, const struct fs_node *dir, const char *what)
{
	struct entries e = {0};
	int files = 0;

	list_dir(a, dir, &e);
	for (int i = 0; i < e.n; i++) {
		const struct fs_node *n = &e.node[i];
		struct fs_buf b;
		struct stat st;
		if (n->what != FS_W_ATTR)
			continue;
		files++;
		ut_render(&a->ctx, n, &b);
		if (b.len && b.p[b.len - 1] != '\n')
			fail_msg("%s/%s: '%s' does not end with a newline", what, e.name[i], b.p);
		assert_int_equal(strlen(b.p), b.len); /* no NUL bytes */
		if (single_line(e.name[i]) && b.len && memchr(b.p, '\n', b.len) != b.p + b.len - 1)
			fail_msg("%s/%s: '%s' is more than one line", what, e.name[i], b.p);
		assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
		if ((size_t)st.st_size != b.len)
			fail_msg("%s/%s: stat says %lld bytes, content is %zu", what, e.name[i], (long long)st.st_size, b.len);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 0777, fs_attr_is_writable(n) ? 0644 : 0444);
		assert_int_equal(st.st_ino, n->ino);
		assert_int_equal(st.st_nlink, 1);
		fs_buf_release(&b);
	}
	assert_true(files >= 19); /* §2.1: every image has at least 19 files */
	free(e.node);
}

/* Renders path's content into a malloc'd string. */
static char *render_path(struct afx *a, const struct fs_caller *c, const char *path)
{
	struct fs_node *n = malloc(sizeof *n);
	struct fs_buf b;
	char *s;

	assert_non_null(n);
	ut_node(&a->ctx, c, path, n);
	ut_render(&a->ctx, n, &b);
	s = strdup(b.p);
	fs_buf_release(&b);
	free(n);
	assert_non_null(s);
	return s;
}

static void expect_content(struct afx *a, const struct fs_caller *c, const char *path, const char *want)
{
	char *got = render_path(a, c, path);

	if (strcmp(got, want) != 0)
		fail_msg("%s: '%s', want '%s'", path, got, want);
	free(got);
}

static void iso8601(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	assert_non_null(gmtime_r(&tt, &tm));
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ\n", &tm);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_every_file_renders_lines(void **state)
{
	struct afx *a = *state;
	struct fs_node *dir = malloc(sizeof *dir);
	char path[256];

	afx_accounts(a);
	int64_t priv = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "golden");
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_ISO, "installer");
	int64_t gone = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "gone");
	struct model_err err = {0};
	assert_int_equal(model_image_set(a->fx->m, priv, MODEL_FIELD_DESCRIPTION, "two\nlines", &err), 0);
	assert_int_equal(model_image_set(a->fx->m, priv, MODEL_FIELD_TAGS, "a=b\nc=d", &err), 0);
	assert_int_equal(model_image_set_error(a->fx->m, priv, "a reason"), 0);
	ut_force_recycle(a->fx, gone, time(NULL));
	assert_non_null(dir);

	for (int i = 0; i < UT_PUBLIC_COUNT; i++) {
		snprintf(path, sizeof path, "/regions/cn-north-1/public/%s", ut_public_names[i]);
		ut_node(&a->ctx, &a->alice, path, dir);
		check_files(a, dir, path);
	}
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/private/golden", dir);
	check_files(a, dir, "private/golden");
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/iso/installer", dir);
	check_files(a, dir, "iso/installer");
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/recycle-bin/gone", dir);
	check_files(a, dir, "recycle-bin/gone");
	free(dir);
}

static void test_public_values(void **state)
{
	struct afx *a = *state;
	struct model_image img = ut_platform(a->fx, a->fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	const char *base = "/regions/cn-north-1/public/centos-7.4";
	char path[512], want[512];
	regex_t re;

	afx_accounts(a);
#define P(file) (snprintf(path, sizeof path, "%s/%s", base, file), path)
	expect_content(a, &a->alice, P("status"), "available\n");
	expect_content(a, &a->alice, P("progress"), "100\n");
	expect_content(a, &a->alice, P("type"), "local cloud\n");
	expect_content(a, &a->alice, P("format"), "raw\n");
	expect_content(a, &a->alice, P("encrypted"), "no\n");
	expect_content(a, &a->alice, P("arch"), "x86_64\n");
	expect_content(a, &a->alice, P("os-type"), "linux\n");
	expect_content(a, &a->alice, P("platform"), "centos\n");
	expect_content(a, &a->alice, P("version"), "7.4\n");
	expect_content(a, &a->alice, P("error"), "");
	expect_content(a, &a->alice, P("task"), "");
	expect_content(a, &a->alice, P("instances"), "");
	snprintf(want, sizeof want, "%s\n", img.ext_id);
	expect_content(a, &a->alice, P("id"), want);
	snprintf(want, sizeof want, "%s\n", img.description);
	expect_content(a, &a->alice, P("description"), want);
	snprintf(want, sizeof want, "%llu\n", (unsigned long long)img.size);
	expect_content(a, &a->alice, P("size"), want);
	/* §2.2: a local system disk image. */
	snprintf(want, sizeof want, "vda\timage\tdisks/vda\t%llu\n", (unsigned long long)img.size);
	expect_content(a, &a->alice, P("device-mapping"), want);

	/* §2.1: ISO 8601 UTC, the image's creation time. */
	char *created = render_path(a, &a->alice, P("created"));
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\n$", REG_EXTENDED | REG_NOSUB),
	                 0);
	if (regexec(&re, created, 0, NULL, 0) != 0)
		fail_msg("created is '%s'", created);
	regfree(&re);
	iso8601(want, img.created);
	assert_string_equal(created, want);
	free(created);

	/* Every public image's size and device mapping follow its disk. */
	for (int i = 0; i < UT_PUBLIC_COUNT; i++) {
		struct model_image p = ut_platform(a->fx, a->fx->r1, MODEL_FOLDER_PUBLIC, ut_public_names[i]);
		struct model_device devs[MODEL_MAX_DEVICES];
		assert_int_equal(model_device_list(a->fx->m, p.id, devs), 1);
		snprintf(path, sizeof path, "/regions/cn-north-1/public/%s/size", p.name);
		snprintf(want, sizeof want, "%llu\n", (unsigned long long)devs[0].size);
		expect_content(a, &a->alice, path, want);
		snprintf(path, sizeof path, "/regions/cn-north-1/public/%s/device-mapping", p.name);
		snprintf(want, sizeof want, "vda\timage\tdisks/vda\t%llu\n", (unsigned long long)devs[0].size);
		expect_content(a, &a->alice, path, want);
		snprintf(path, sizeof path, "/regions/cn-north-1/public/%s/type", p.name);
		expect_content(a, &a->alice, path, "local cloud\n");
	}
	/* A caller without an account sees the public catalogue the same way. */
	expect_content(a, &a->nobody, P("status"), "available\n");
#undef P
}

static void test_private_values(void **state)
{
	struct afx *a = *state;
	struct model_err err = {0};
	char want[512];

	afx_accounts(a);
	int64_t id = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "golden");
	struct model_image img = ut_get(a->fx, id);
	const char *base = "/regions/cn-north-1/private/golden";
	char path[256];
#define P(file) (snprintf(path, sizeof path, "%s/%s", base, file), path)
	expect_content(a, &a->alice, P("status"), "queued\n");
	expect_content(a, &a->alice, P("progress"), "0\n"); /* §2.1: 0 while queued */
	expect_content(a, &a->alice, P("owner"), "alice\n");
	expect_content(a, &a->alice, P("description"), "");
	expect_content(a, &a->alice, P("tags"), "");
	expect_content(a, &a->alice, P("error"), "");
	expect_content(a, &a->alice, P("device-mapping"), ""); /* no data yet */
	expect_content(a, &a->alice, P("convert"), "");
	expect_content(a, &a->alice, P("cancel"), "");
	snprintf(want, sizeof want, "%s\n", img.ext_id);
	expect_content(a, &a->alice, P("id"), want);

	/* Writes show up at the next read (no stale cache). */
	assert_int_equal(model_image_set(a->fx->m, id, MODEL_FIELD_DESCRIPTION, "web, \"prod\"", &err), 0);
	expect_content(a, &a->alice, P("description"), "web, \"prod\"\n");
	assert_int_equal(model_image_set(a->fx->m, id, MODEL_FIELD_DESCRIPTION, "two\nlines", &err), 0);
	expect_content(a, &a->alice, P("description"), "two\nlines\n");
	assert_int_equal(model_image_set(a->fx->m, id, MODEL_FIELD_TAGS, "env=prod\nteam=web", &err), 0);
	expect_content(a, &a->alice, P("tags"), "env=prod\nteam=web\n");
	assert_int_equal(model_image_set(a->fx->m, id, MODEL_FIELD_TAGS, "env=prod\n", &err), 0);
	expect_content(a, &a->alice, P("tags"), "env=prod\n");
	assert_int_equal(model_image_set_error(a->fx->m, id, "EINVAL: bad value"), 0);
	expect_content(a, &a->alice, P("error"), "EINVAL: bad value\n");
	/* Progress follows the status. */
	assert_int_equal(model_image_transition(a->fx->m, id, MODEL_IMG_QUEUED, MODEL_IMG_PENDING, NULL, &err), 0);
	ut_sql(a->fx, "UPDATE images SET progress = 42 WHERE id = %lld", (long long)id);
	expect_content(a, &a->alice, P("status"), "pending\n");
	expect_content(a, &a->alice, P("progress"), "42\n");
	assert_int_equal(model_image_transition(a->fx->m, id, MODEL_IMG_PENDING, MODEL_IMG_AVAILABLE, NULL, &err), 0);
	expect_content(a, &a->alice, P("status"), "available\n");
	expect_content(a, &a->alice, P("progress"), "100\n");
#undef P
}

static void test_visibility(void **state)
{
	struct afx *a = *state;
	struct fs_node *dir = malloc(sizeof *dir), *n = malloc(sizeof *n), *pub = malloc(sizeof *pub);
	static const char *const priv_extra[] = {"convert", "cancel", "copies", "shares", "download", "inspect", NULL};
	static const char *const iso_extra[] = {"cancel", "download", "inspect", NULL};
	static const char *const recycle_extra[] = {"expires", NULL};
	static const char *const none[] = {NULL};
	struct entries e = {0};

	assert_non_null(dir);
	assert_non_null(n);
	assert_non_null(pub);
	afx_accounts(a);
	int64_t golden = ut_image(a->fx, a->fx->r1, a->bob_id, MODEL_FOLDER_PRIVATE, "golden");
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "mine");
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_ISO, "installer");
	int64_t gone = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "gone");
	ut_force_recycle(a->fx, gone, time(NULL));
	ut_force_status(a->fx, golden, MODEL_IMG_AVAILABLE);
	ut_force_share(a->fx, golden, a->alice_id);

	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/private/mine", dir);
	assert_int_equal(dir->view, FS_VIEW_PRIVATE);
	check_entries(a, dir, priv_extra, "private/mine");
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/iso/installer", dir);
	check_entries(a, dir, iso_extra, "iso/installer");
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/recycle-bin/gone", dir);
	assert_int_equal(dir->view, FS_VIEW_RECYCLE);
	check_entries(a, dir, recycle_extra, "recycle-bin/gone");
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/shared/golden@bob", dir);
	assert_int_equal(dir->view, FS_VIEW_SHARED);
	check_entries(a, dir, none, "shared/golden@bob");
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/public/centos-7.4", pub);
	assert_int_equal(pub->view, FS_VIEW_PUBLIC);
	check_entries(a, pub, none, "public/centos-7.4");
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/marketplace", n);
	list_dir(a, n, &e);
	assert_int_equal(e.n, UT_MARKETPLACE_COUNT);
	for (int i = 0; i < e.n; i++) {
		assert_int_equal(e.node[i].view, FS_VIEW_MARKETPLACE);
		check_entries(a, &e.node[i], none, e.name[i]);
	}

	/* By inode number too: the sub numbers of private-only files do not
	 * resolve under a public image. */
	for (size_t k = 0; priv_extra[k]; k++) {
		char path[128];
		snprintf(path, sizeof path, "/regions/cn-north-1/private/mine/%s", priv_extra[k]);
		ut_node(&a->ctx, &a->alice, path, n);
		unsigned sub = fs_ino_sub(n->ino);
		assert_int_equal(fs_node_resolve(&a->ctx, &a->alice, fs_ino(FS_K_IMAGE, pub->img.id, sub), dir), -ENOENT);
	}
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/recycle-bin/gone/expires", n);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->alice, fs_ino(FS_K_IMAGE, pub->img.id, fs_ino_sub(n->ino)), dir),
	                 -ENOENT);
	free(e.node);
	free(dir);
	free(n);
	free(pub);
}

static void test_expires(void **state)
{
	struct afx *a = *state;
	int64_t when = 1700000000; /* 2023-11-14T22:13:20Z */
	char want[32];

	afx_accounts(a);
	int64_t gone = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "gone");
	ut_force_recycle(a->fx, gone, when);
	iso8601(want, when + RETENTION);
	assert_string_equal(want, "2023-11-21T22:13:20Z\n");
	expect_content(a, &a->alice, "/regions/cn-north-1/recycle-bin/gone/expires", want);
	expect_content(a, &a->alice, "/regions/cn-north-1/recycle-bin/gone/status", "deleted\n");
	/* Not in private/ any more. */
	struct fs_node *n = malloc(sizeof *n);
	assert_non_null(n);
	assert_int_equal(ut_walk(&a->ctx, &a->alice, "/regions/cn-north-1/private/gone", n), -ENOENT);
	free(n);
}

static void test_quota_file(void **state)
{
	struct afx *a = *state;
	struct fs_node *n = malloc(sizeof *n);
	struct fs_buf b;
	struct stat st;

	assert_non_null(n);
	afx_accounts(a);
	expect_content(a, &a->alice, "/regions/cn-north-1/quota",
	               "private-images 0 5\nsnapshots 0 15\nshared-images 0 5\nshares-per-image 0 5\ninstances 0 20\n");
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "one");
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "two");
	ut_image(a->fx, a->fx->r1, a->bob_id, MODEL_FOLDER_PRIVATE, "bobs");
	ut_image(a->fx, a->fx->region[1].id, a->alice_id, MODEL_FOLDER_PRIVATE, "east");

	char *q = render_path(a, &a->alice, "/regions/cn-north-1/quota");
	/* "<name> <used> <limit>", one a line; private-images first. */
	assert_string_equal(q, "private-images 2 5\nsnapshots 0 15\nshared-images 0 5\nshares-per-image 0 5\ninstances 0 20\n");
	free(q);
	expect_content(a, &a->bob, "/regions/cn-north-1/quota",
	               "private-images 1 5\nsnapshots 0 15\nshared-images 0 5\nshares-per-image 0 5\ninstances 0 20\n");
	expect_content(a, &a->alice, "/regions/cn-east-2/quota",
	               "private-images 1 5\nsnapshots 0 15\nshared-images 0 5\nshares-per-image 0 5\ninstances 0 20\n");
	struct model_err err = {0};
	assert_int_equal(model_quota_set(a->fx->m, "alice", "cn-north-1", "private-images", 9, &err), 0);
	expect_content(a, &a->alice, "/regions/cn-north-1/quota",
	               "private-images 2 9\nsnapshots 0 15\nshared-images 0 5\nshares-per-image 0 5\ninstances 0 20\n");
	/* stat agrees. */
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/quota", n);
	ut_render(&a->ctx, n, &b);
	assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
	assert_int_equal(st.st_size, b.len);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0222, 0);
	fs_buf_release(&b);
	/* §8: a caller with no account sees an empty region. */
	expect_content(a, &a->nobody, "/regions/cn-north-1/quota", "");
	free(n);
}

/* ---- images.csv ------------------------------------------------------------------- */

#define CSV_FIELDS 18
#define CSV_ROWS 64

struct csv {
	char *text;
	int rows;
	int fields[CSV_ROWS];
	char *f[CSV_ROWS][CSV_FIELDS];
};

static const char csv_py[] =
	"import csv, sys\n"
	"with open(sys.argv[1], newline='', encoding='utf-8') as f:\n"
	"    rows = list(csv.reader(f, strict=True))\n"
	"with open(sys.argv[2], 'w', newline='', encoding='utf-8') as o:\n"
	"    for r in rows:\n"
	"        o.write('\\x1f'.join(r) + '\\x1e')\n";

/* Python's csv module is the independent reader these tests compare
 * with: without it they fail, never skip (docs/style.md "Tests";
 * scripts/install-deps installs python3). */
static void need_python(void)
{
	if (system("python3 -c 'import csv' >/dev/null 2>&1") != 0)
		fail_msg("python3 with its csv module is needed (scripts/install-deps: python3)");
}

/* Parses text with Python's csv module (an independent RFC 4180 reader). */
static void parse_csv(struct ut_fx *fx, const char *text, size_t len, struct csv *out)
{
	char in[128], res[128], py[128], cmd[512];
	FILE *f;
	long n;

	snprintf(in, sizeof in, "%s/images.csv", fx->dir);
	snprintf(res, sizeof res, "%s/images.parsed", fx->dir);
	snprintf(py, sizeof py, "%s/parse.py", fx->dir);
	assert_non_null(f = fopen(py, "w"));
	fputs(csv_py, f);
	fclose(f);
	assert_non_null(f = fopen(in, "wb"));
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	snprintf(cmd, sizeof cmd, "python3 '%s' '%s' '%s'", py, in, res);
	if (system(cmd) != 0)
		fail_msg("Python's csv module cannot parse images.csv:\n%s", text);
	assert_non_null(f = fopen(res, "rb"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	out->text = calloc(1, (size_t)n + 1);
	assert_non_null(out->text);
	assert_int_equal(fread(out->text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	out->rows = 0;
	for (char *row = out->text; *row;) {
		char *end = strchr(row, '\x1e');
		assert_non_null(end);
		*end = '\0';
		assert_true(out->rows < CSV_ROWS);
		int k = 0;
		for (char *fld = row;; k++) {
			char *sep = strchr(fld, '\x1f');
			assert_true(k < CSV_FIELDS);
			out->f[out->rows][k] = fld;
			if (!sep)
				break;
			*sep = '\0';
			fld = sep + 1;
		}
		out->fields[out->rows++] = k + 1;
		row = end + 1;
	}
}

/* The row whose id is ext_id, or -1. */
static int csv_row(const struct csv *c, const char *ext_id)
{
	for (int r = 1; r < c->rows; r++)
		if (strcmp(c->f[r][0], ext_id) == 0)
			return r;
	return -1;
}

struct expect_rows {
	struct afx *a;
	const struct csv *c;
	const char *cls;
	int matched;
};

/* Checks img's row against the image itself. */
static int expect_row(void *arg, const struct model_image *img)
{
	struct expect_rows *x = arg;
	const struct csv *c = x->c;
	int r = csv_row(c, img->ext_id);
	char num[32], created[32];

	if (r < 0)
		fail_msg("images.csv has no row for %s/%s (%s)", x->cls, img->name, img->ext_id);
	for (int o = 1; o < c->rows; o++)
		if (o != r && strcmp(c->f[o][0], img->ext_id) == 0)
			fail_msg("images.csv lists %s twice", img->ext_id);
	if (strcmp(x->cls, "shared") != 0)
		assert_string_equal(c->f[r][1], img->name);
	assert_string_equal(c->f[r][2], x->cls);
	assert_string_equal(c->f[r][4], model_image_status_name(img->status));
	assert_string_equal(c->f[r][5], img->os_type);
	assert_string_equal(c->f[r][6], img->platform);
	assert_string_equal(c->f[r][7], img->version);
	assert_string_equal(c->f[r][8], img->arch);
	assert_string_equal(c->f[r][9], img->boot_mode);
	snprintf(num, sizeof num, "%llu", (unsigned long long)img->size);
	assert_string_equal(c->f[r][10], num);
	assert_string_equal(c->f[r][11], img->encrypted ? "yes" : "no");
	assert_string_equal(c->f[r][12], img->features);
	iso8601(created, img->created);
	created[strlen(created) - 1] = '\0';
	assert_string_equal(c->f[r][13], created);
	assert_string_equal(c->f[r][14], img->description);
	assert_string_equal(c->f[r][15], img->project); /* §16's three, appended */
	assert_string_equal(c->f[r][16], img->format);
	assert_string_equal(c->f[r][17], img->account_id ? img->owner : "platform");
	if (img->account_id == 0)
		assert_string_equal(c->f[r][3], "local cloud");
	x->matched++;
	return 0;
}

static void test_images_csv(void **state)
{
	struct afx *a = *state;
	struct model_err err = {0};
	struct fs_node *n = malloc(sizeof *n);
	static const char *const header[CSV_FIELDS] = {
		"id",        "name", "class", "type",     "status",   "os-type", "platform", "version",
		"arch",      "boot-mode", "size", "encrypted", "features", "created", "description",
		"project",   "format", "owner",
	};
	const char *tricky = "He said \"hi, there\", then left,\nsecond line; \"quoted\" too, 镜像";
	const char *quotes = "\"quoted\" at the start";
	struct csv c = {0};
	struct fs_buf b;
	struct stat st;

	need_python();
	assert_non_null(n);
	afx_accounts(a);
	int64_t g = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "golden");
	int64_t q = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "образ_1");
	ut_image(a->fx, a->fx->r1, a->bob_id, MODEL_FOLDER_PRIVATE, "bobs-secret");
	ut_image(a->fx, a->fx->region[1].id, a->alice_id, MODEL_FOLDER_PRIVATE, "elsewhere");
	assert_int_equal(model_image_set(a->fx->m, g, MODEL_FIELD_DESCRIPTION, tricky, &err), 0);
	/* Quotes alone need quoting too (RFC 4180: a bare field holds none). */
	assert_int_equal(model_image_set(a->fx->m, q, MODEL_FIELD_DESCRIPTION, quotes, &err), 0);
	assert_int_equal(model_image_set(a->fx->m, g, MODEL_FIELD_PROJECT, "web, \"front\" 前端", &err), 0);

	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/images.csv", n);
	ut_render(&a->ctx, n, &b);
	/* RFC 4180: CRLF line ends. */
	assert_true(b.len > 2 && b.p[b.len - 2] == '\r' && b.p[b.len - 1] == '\n');
	assert_true(strstr(b.p, "\r\n") == strchr(b.p, '\n') - 1);
	assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
	assert_int_equal(st.st_size, b.len);
	parse_csv(a->fx, b.p, b.len, &c);

	/* §7: the header, exactly. */
	assert_int_equal(c.fields[0], CSV_FIELDS);
	for (int i = 0; i < CSV_FIELDS; i++)
		assert_string_equal(c.f[0][i], header[i]);
	for (int r = 1; r < c.rows; r++)
		assert_int_equal(c.fields[r], CSV_FIELDS);
	/* One row per visible image: the catalogue and alice's own. */
	assert_int_equal(c.rows - 1, UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT + 2);
	struct expect_rows x = {a, &c, "public", 0};
	assert_int_equal(model_image_list(a->fx->m, a->fx->r1, 0, MODEL_FOLDER_PUBLIC, 0, expect_row, &x), 0);
	x.cls = "marketplace";
	assert_int_equal(model_image_list(a->fx->m, a->fx->r1, 0, MODEL_FOLDER_MARKETPLACE, 0, expect_row, &x), 0);
	x.cls = "private";
	assert_int_equal(model_image_list(a->fx->m, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, 0, expect_row, &x), 0);
	assert_int_equal(x.matched, c.rows - 1);
	/* The description round-trips: commas, quotes, a newline, UTF-8. */
	int r = csv_row(&c, ut_get(a->fx, g).ext_id);
	assert_string_equal(c.f[r][14], tricky);
	r = csv_row(&c, ut_get(a->fx, q).ext_id);
	assert_string_equal(c.f[r][14], quotes);
	assert_non_null(strstr(b.p, ",\"\"\"quoted\"\" at the start\",,,alice\r\n"));
	r = csv_row(&c, ut_get(a->fx, g).ext_id);
	assert_string_equal(c.f[r][15], "web, \"front\" 前端");
	assert_string_equal(c.f[r][17], "alice");
	for (int i = 1; i < c.rows; i++) {
		assert_string_not_equal(c.f[i][1], "bobs-secret");
		assert_string_not_equal(c.f[i][1], "elsewhere");
	}
	fs_buf_release(&b);
	free(c.text);

	/* Bob's view: his own image, not alice's. */
	ut_node(&a->ctx, &a->bob, "/regions/cn-north-1/images.csv", n);
	ut_render(&a->ctx, n, &b);
	memset(&c, 0, sizeof c);
	parse_csv(a->fx, b.p, b.len, &c);
	assert_int_equal(c.rows - 1, UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT + 1);
	assert_int_equal(csv_row(&c, ut_get(a->fx, g).ext_id), -1);
	fs_buf_release(&b);
	free(c.text);

	/* No account: the platform's images only. */
	ut_node(&a->ctx, &a->nobody, "/regions/cn-north-1/images.csv", n);
	ut_render(&a->ctx, n, &b);
	memset(&c, 0, sizeof c);
	parse_csv(a->fx, b.p, b.len, &c);
	assert_int_equal(c.rows - 1, UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT);
	fs_buf_release(&b);
	free(c.text);
	free(n);
}

/* OWASP's CSV-injection rule (§7, issue 70): a field that begins with
 * '=', '+', '-', '@' or a tab reaches images.csv quoted and begun with a
 * single quote (a spreadsheet's "text"), quotes inside doubled; one with
 * '=' inside, and an empty one, are as they were; images.json is no
 * spreadsheet's: its values are the images' own. */
static void test_images_csv_formula(void **state)
{
	struct afx *a = *state;
	struct model_err err = {0};
	struct fs_node *n = malloc(sizeof *n);
	static const char *const desc[] = {"=HYPERLINK(\"http://127.0.0.1/x\",\"click\")", "+1+2", "-2+3",
	                                   "@SUM(1,2)", "\t=1+1"}; /* alice's quota: 5 images */
	enum { NDESC = sizeof desc / sizeof desc[0] };
	int64_t id[NDESC];
	struct csv c = {0};
	struct fs_buf b;

	need_python();
	assert_non_null(n);
	afx_accounts(a);
	for (int i = 0; i < NDESC; i++) {
		char name[16];
		snprintf(name, sizeof name, "f%d", i);
		id[i] = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, name);
		assert_int_equal(model_image_set(a->fx->m, id[i], MODEL_FIELD_DESCRIPTION, desc[i], &err), 0);
	}
	/* projects: a formula, '=' inside, and empty ones */
	assert_int_equal(model_image_set(a->fx->m, id[0], MODEL_FIELD_PROJECT, "-x", &err), 0);
	assert_int_equal(model_image_set(a->fx->m, id[1], MODEL_FIELD_PROJECT, "a = b, c", &err), 0);
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/images.csv", n);
	ut_render(&a->ctx, n, &b);
	parse_csv(a->fx, b.p, b.len, &c);
	for (int i = 0; i < NDESC; i++) {
		char want[128];
		int r = csv_row(&c, ut_get(a->fx, id[i]).ext_id);
		assert_true(r > 0);
		snprintf(want, sizeof want, "'%s", desc[i]);
		assert_string_equal(c.f[r][14], want);
		assert_string_equal(c.f[r][15], i == 0 ? "'-x" : i == 1 ? "a = b, c" : ""); /* empty stays empty */
		assert_string_equal(c.f[r][1], ut_get(a->fx, id[i]).name);
	}
	/* the bytes: quoted, the single quote first, the quotes doubled */
	assert_non_null(strstr(b.p, ",\"'=HYPERLINK(\"\"http://127.0.0.1/x\"\",\"\"click\"\")\",\"'-x\","));
	assert_non_null(strstr(b.p, ",\"'+1+2\","));
	assert_non_null(strstr(b.p, ",\"a = b, c\","));
	assert_non_null(strstr(b.p, ",\"'\t=1+1\","));
	assert_null(strstr(b.p, "'a = b"));
	fs_buf_release(&b);
	free(c.text);

	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/images.json", n);
	ut_render(&a->ctx, n, &b);
	assert_non_null(strstr(b.p, "\"=HYPERLINK(\\\"http://127.0.0.1/x\\\",\\\"click\\\")\""));
	assert_non_null(strstr(b.p, "\"+1+2\""));
	assert_null(strstr(b.p, "'+1+2"));
	assert_null(strstr(b.p, "'-x"));
	fs_buf_release(&b);
	free(n);
}

/* ---- images.json ------------------------------------------------------------------ */

/* Exits 0 when argv[2] (JSON) holds argv[1]'s (CSV) rows: an array of
 * objects keyed by the header in its order, size an integer, the rest
 * strings, equal once size is a string again. */
static const char json_py[] =
	"import csv, json, sys\n"
	"with open(sys.argv[1], newline='', encoding='utf-8') as f:\n"
	"    r = csv.DictReader(f, strict=True)\n"
	"    want = [dict(x) for x in r]\n"
	"    header = r.fieldnames\n"
	"got = json.load(open(sys.argv[2], encoding='utf-8'))\n"
	"assert isinstance(got, list), 'not an array'\n"
	"for o in got:\n"
	"    assert list(o) == header, (list(o), header)\n"
	"    assert type(o['size']) is int, o['size']\n"
	"    assert all(type(v) is str for k, v in o.items() if k != 'size'), o\n"
	"got = [{k: str(v) for k, v in o.items()} for o in got]\n"
	"assert got == want, (got, want)\n"
	"print(len(got))\n";

/* images.json of path for caller equals its images.csv (by Python); its
 * st_size is what it renders; the number of rows. */
static int json_matches_csv(struct afx *a, const struct fs_caller *caller, const char *region)
{
	char csvp[256], jsonp[256], py[128], cmd[1024], path[128], out[32] = "";
	struct fs_node *n = malloc(sizeof *n);
	struct fs_buf b;
	struct stat st;
	FILE *f;

	assert_non_null(n);
	snprintf(csvp, sizeof csvp, "%s/images.csv", a->fx->dir);
	snprintf(jsonp, sizeof jsonp, "%s/images.json", a->fx->dir);
	snprintf(py, sizeof py, "%s/compare_json.py", a->fx->dir);
	const char *names[] = {"images.csv", "images.json"}, *files[] = {csvp, jsonp};
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "/regions/%s/%s", region, names[i]);
		ut_node(&a->ctx, caller, path, n);
		ut_render(&a->ctx, n, &b);
		assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
		assert_int_equal(st.st_size, b.len);
		assert_int_equal(st.st_mode, S_IFREG | 0444);
		assert_non_null(f = fopen(files[i], "wb"));
		assert_int_equal(fwrite(b.p, 1, b.len, f), b.len);
		fclose(f);
		fs_buf_release(&b);
	}
	assert_non_null(f = fopen(py, "w"));
	fputs(json_py, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "python3 '%s' '%s' '%s'", py, csvp, jsonp);
	assert_non_null(f = popen(cmd, "r"));
	if (!fgets(out, sizeof out, f))
		out[0] = '\0';
	if (pclose(f) != 0)
		fail_msg("images.json of %s does not hold images.csv's rows", region);
	free(n);
	return atoi(out);
}

/* SPEC §15: images.json lists what images.csv lists, for every caller. */
static void test_images_json(void **state)
{
	struct afx *a = *state;
	struct model_err err = {0};
	const char *tricky = "He said \"hi, there\", back\\slash\tand tab,\nsecond line 镜像 😀";

	need_python();
	afx_accounts(a);
	int64_t g = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "golden");
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "образ_1");
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_ISO, "disc");
	ut_image(a->fx, a->fx->r1, a->bob_id, MODEL_FOLDER_PRIVATE, "bobs-secret");
	assert_int_equal(model_image_set(a->fx->m, g, MODEL_FIELD_DESCRIPTION, tricky, &err), 0);

	int all = UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT;
	assert_int_equal(json_matches_csv(a, &a->alice, "cn-north-1"), all + 3);
	assert_int_equal(json_matches_csv(a, &a->bob, "cn-north-1"), all + 1);
	assert_int_equal(json_matches_csv(a, &a->nobody, "cn-north-1"), all);
	assert_int_equal(json_matches_csv(a, &a->alice, a->fx->region[1].name), all);
}

/* Images in iso/, the recycle bin and shared/ are visible too, each in its class. */
static void test_images_csv_classes(void **state)
{
	struct afx *a = *state;
	struct fs_node *n = malloc(sizeof *n);
	struct csv c = {0};
	struct fs_buf b;

	need_python();
	assert_non_null(n);
	afx_accounts(a);
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "mine");
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_ISO, "installer");
	int64_t gone = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "gone");
	ut_force_recycle(a->fx, gone, time(NULL));
	int64_t golden = ut_image(a->fx, a->fx->r1, a->bob_id, MODEL_FOLDER_PRIVATE, "golden");
	ut_force_status(a->fx, golden, MODEL_IMG_AVAILABLE);
	ut_force_share(a->fx, golden, a->alice_id);

	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/images.csv", n);
	ut_render(&a->ctx, n, &b);
	parse_csv(a->fx, b.p, b.len, &c);
	assert_int_equal(c.rows - 1, UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT + 4);
	struct expect_rows x = {a, &c, "private", 0};
	assert_int_equal(model_image_list(a->fx->m, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, 0, expect_row, &x), 0);
	x.cls = "iso";
	assert_int_equal(model_image_list(a->fx->m, a->fx->r1, a->alice_id, MODEL_FOLDER_ISO, 0, expect_row, &x), 0);
	x.cls = "recycle-bin";
	assert_int_equal(model_image_list(a->fx->m, a->fx->r1, a->alice_id, MODEL_FOLDER_RECYCLE, 0, expect_row, &x), 0);
	x.cls = "shared";
	assert_int_equal(model_image_list_shared(a->fx->m, a->fx->r1, a->alice_id, 0, expect_row, &x), 0);
	assert_int_equal(x.matched, 4);
	fs_buf_release(&b);
	free(c.text);
	free(n);
}

/* ---- writability ------------------------------------------------------------------- */

static bool writable(struct afx *a, const struct fs_caller *c, const char *path)
{
	struct fs_node *n = malloc(sizeof *n);
	struct stat st;
	bool w;

	assert_non_null(n);
	ut_node(&a->ctx, c, path, n);
	w = fs_attr_is_writable(n);
	if (n->what == FS_W_ATTR) {
		assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
		assert_int_equal(st.st_mode & 0777, w ? 0644 : 0444);
	}
	free(n);
	return w;
}

static void test_writable(void **state)
{
	struct afx *a = *state;

	afx_accounts(a);
	int64_t mine = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "mine");
	ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_ISO, "installer");
	int64_t golden = ut_image(a->fx, a->fx->r1, a->bob_id, MODEL_FOLDER_PRIVATE, "golden");
	ut_force_status(a->fx, golden, MODEL_IMG_AVAILABLE);
	ut_force_share(a->fx, golden, a->alice_id);

	/* §2.1: description and tags of the owner's private and iso images. */
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/private/mine/description"));
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/private/mine/tags"));
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/iso/installer/description"));
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/iso/installer/tags"));
	/* project (§16) likewise, at any status; never in another's view. */
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/private/mine/project"));
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/iso/installer/project"));
	assert_false(writable(a, &a->alice, "/regions/cn-north-1/shared/golden@bob/project"));
	assert_false(writable(a, &a->alice, "/regions/cn-north-1/public/centos-7.4/project"));
	/* Never: id, status, size, created ... */
	static const char *const ro[] = {"id", "status", "progress", "type", "format", "size",
	                                 "created", "owner", "device-mapping", "instances", "task", "error"};
	char path[128];
	for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
		snprintf(path, sizeof path, "/regions/cn-north-1/private/mine/%s", ro[i]);
		if (writable(a, &a->alice, path))
			fail_msg("%s is writable", path);
	}
	/* The import attributes (§5.4) and encrypted (§17) while queued, in
	 * private/ and iso/, and cancel at any status (it refuses when nothing
	 * is in progress). */
	static const char *const import[] = {"os-type", "platform", "version", "arch", "boot-mode", "features",
	                                     "encrypted", "cancel"};
	for (size_t i = 0; i < sizeof import / sizeof import[0]; i++) {
		snprintf(path, sizeof path, "/regions/cn-north-1/private/mine/%s", import[i]);
		if (!writable(a, &a->alice, path))
			fail_msg("%s is not writable while queued", path);
		snprintf(path, sizeof path, "/regions/cn-north-1/iso/installer/%s", import[i]);
		if (!writable(a, &a->alice, path))
			fail_msg("%s is not writable while queued", path);
	}
	/* source takes a capture while the image is queued, and only then. */
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/private/mine/source"));
	ut_force_status(a->fx, mine, MODEL_IMG_AVAILABLE);
	assert_false(writable(a, &a->alice, "/regions/cn-north-1/private/mine/source"));
	for (size_t i = 0; i + 1 < sizeof import / sizeof import[0]; i++) { /* all but cancel */
		snprintf(path, sizeof path, "/regions/cn-north-1/private/mine/%s", import[i]);
		if (writable(a, &a->alice, path))
			fail_msg("%s is writable once available", path);
	}
	/* description and tags at any status. */
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/private/mine/description"));
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/private/mine/tags"));

	/* The recycle bin keeps the remarks editable (§16), nothing else. */
	int64_t gone = ut_image(a->fx, a->fx->r1, a->alice_id, MODEL_FOLDER_PRIVATE, "gone");
	ut_force_recycle(a->fx, gone, time(NULL));
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/recycle-bin/gone/description"));
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/recycle-bin/gone/tags"));
	assert_true(writable(a, &a->alice, "/regions/cn-north-1/recycle-bin/gone/project"));
	static const char *const bin_ro[] = {"id", "status", "os-type", "platform", "version", "arch", "boot-mode",
	                                     "features", "encrypted", "source", "size", "owner", "expires", "error", "task"};
	for (size_t i = 0; i < sizeof bin_ro / sizeof bin_ro[0]; i++) {
		snprintf(path, sizeof path, "/regions/cn-north-1/recycle-bin/gone/%s", bin_ro[i]);
		if (writable(a, &a->alice, path))
			fail_msg("%s is writable", path);
	}
	/* Even while queued (a row put there behind the model's back). */
	ut_force_status(a->fx, gone, MODEL_IMG_QUEUED);
	assert_false(writable(a, &a->alice, "/regions/cn-north-1/recycle-bin/gone/os-type"));
	assert_false(writable(a, &a->alice, "/regions/cn-north-1/recycle-bin/gone/source"));

	/* Public, marketplace and shared images never change (§3). */
	static const char *const pub[] = {"description", "tags", "id", "os-type", "source", "status"};
	for (size_t i = 0; i < sizeof pub / sizeof pub[0]; i++) {
		snprintf(path, sizeof path, "/regions/cn-north-1/public/centos-7.4/%s", pub[i]);
		if (writable(a, &a->alice, path))
			fail_msg("%s is writable", path);
		snprintf(path, sizeof path, "/regions/cn-north-1/shared/golden@bob/%s", pub[i]);
		if (writable(a, &a->alice, path))
			fail_msg("%s is writable", path);
	}
	struct fs_node *n = malloc(sizeof *n), *f = malloc(sizeof *f);
	assert_non_null(n);
	assert_non_null(f);
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/marketplace", n);
	struct entries e = {0};
	list_dir(a, n, &e);
	assert_int_equal(fs_node_lookup(&a->ctx, &e.node[0], "description", f), 0);
	assert_false(fs_attr_is_writable(f));
	assert_int_equal(fs_node_lookup(&a->ctx, &e.node[0], "tags", f), 0);
	assert_false(fs_attr_is_writable(f));
	/* Directories and region files are not attribute files. */
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/private/mine", n);
	assert_false(fs_attr_is_writable(n));
	ut_node(&a->ctx, &a->alice, "/regions/cn-north-1/quota", n);
	assert_false(fs_attr_is_writable(n));
	free(e.node);
	free(n);
	free(f);
}

/* An instance's files of §16: boot and system-disk-size render and are
 * writable as their rules say; password is write-only (mode 0200, empty,
 * its refusals the rule alone); cdrom and cidata are read-only blobs at
 * their fixed inode numbers, listed after the writable disks. */
static void test_instance_files(void **state)
{
	struct afx *a = *state;
	struct model_err err = {0};
	struct fs_node *n = malloc(sizeof *n), *d = malloc(sizeof *d);
	struct fs_buf b;
	struct stat st;
	int64_t vm = 0;
	const char *dir = "/regions/cn-north-1/instances/web";

	assert_non_null(n);
	assert_non_null(d);
	afx_accounts(a);
	assert_int_equal(model_instance_create(a->fx->m, a->fx->r1, a->alice_id, "web", &vm, &err), 0);
	int64_t iso = lt_iso_image(a->fx, a->fx->r1, a->alice_id, "installer", 2 * LT_MiB);
	char path[160];
#define AT(f) (snprintf(path, sizeof path, "%s/%s", dir, f), path)

	ut_node(&a->ctx, &a->alice, AT("boot"), n);
	ut_render(&a->ctx, n, &b);
	assert_string_equal(b.p, "disk\n");
	fs_buf_release(&b);
	assert_true(writable(a, &a->alice, AT("boot")));
	ut_node(&a->ctx, &a->alice, AT("system-disk-size"), n);
	ut_render(&a->ctx, n, &b);
	assert_string_equal(b.p, "42949672960\n");
	fs_buf_release(&b);
	assert_true(writable(a, &a->alice, AT("system-disk-size")));
	/* The writes' parsing and refusals (the model checks the rest). */
	assert_int_equal(n->attr->store(n, &a->ctx, "1.5G", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "powers of 1024"));
	assert_int_equal(n->attr->store(n, &a->ctx, "20G", &err), 0);
	ut_node(&a->ctx, &a->alice, AT("system-disk-size"), n);
	ut_render(&a->ctx, n, &b);
	assert_string_equal(b.p, "21474836480\n");
	fs_buf_release(&b);
	ut_node(&a->ctx, &a->alice, AT("disks/vda"), d);
	assert_int_equal(fs_node_stat(&a->ctx, d, &st), 0);
	assert_int_equal(st.st_size, 20ll << 30);
	ut_node(&a->ctx, &a->alice, AT("boot"), n);
	assert_int_equal(n->attr->store(n, &a->ctx, "usb", &err), -EINVAL);
	assert_string_equal(err.msg, "boot takes cdrom or disk");
	assert_int_equal(n->attr->store(n, &a->ctx, "cdrom", &err), -EINVAL);

	/* password: 0200, nothing to read, never readable. */
	ut_node(&a->ctx, &a->alice, AT("password"), n);
	assert_int_equal(fs_node_stat(&a->ctx, n, &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0200);
	assert_int_equal(st.st_size, 0);
	assert_true(n->attr->flags & FS_ATTR_SECRET);
	assert_true(fs_attr_is_writable(n));
	assert_int_equal(n->attr->store(n, &a->ctx, "letmein", &err), -EINVAL);
	assert_string_equal(err.msg, MODEL_PASSWORD_RULE);
	assert_int_equal(ut_walk(&a->ctx, &a->alice, AT("disks/cidata"), d), -ENOENT);
	assert_int_equal(n->attr->store(n, &a->ctx, "Let-me-1n", &err), 0);

	/* An ISO image in: boot cdrom, the size fixed, cdrom and cidata listed. */
	ut_node(&a->ctx, &a->alice, AT("image"), n);
	assert_int_equal(n->attr->store(n, &a->ctx, "iso/installer", &err), 0);
	ut_node(&a->ctx, &a->alice, AT("boot"), n);
	ut_render(&a->ctx, n, &b);
	assert_string_equal(b.p, "cdrom\n");
	fs_buf_release(&b);
	assert_false(writable(a, &a->alice, AT("system-disk-size")));
	ut_node(&a->ctx, &a->alice, AT("image"), n);
	ut_render(&a->ctx, n, &b);
	char want[32];
	snprintf(want, sizeof want, "%s\n", ut_get(a->fx, iso).ext_id);
	assert_string_equal(b.p, want);
	fs_buf_release(&b);
	ut_node(&a->ctx, &a->alice, AT("disks"), n);
	struct entries e = {0};
	list_dir(a, n, &e);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.name[0], "vda");
	assert_string_equal(e.name[1], "cdrom");
	assert_string_equal(e.name[2], "cidata");
	free(e.node);
	static const struct {
		const char *name;
		unsigned sub;
	} media[] = {{"cdrom", FS_SUB_DISKS + 1 + 26}, {"cidata", FS_SUB_DISKS + 1 + 27}};
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/disks/%s", dir, media[i].name);
		ut_node(&a->ctx, &a->alice, path, d);
		assert_true(fs_node_is_vm_media(d));
		assert_false(fs_node_is_vm_disk(d));
		assert_int_equal(fs_ino_kind(d->ino), FS_K_VM);
		assert_int_equal(fs_ino_sub(d->ino), media[i].sub);
		assert_int_equal(fs_node_stat(&a->ctx, d, &st), 0);
		assert_int_equal(st.st_mode, S_IFREG | 0444);
		assert_true(st.st_size > 0 && st.st_blocks > 0);
		/* Resolved again from its number, it is the same disk. */
		assert_int_equal(fs_node_resolve(&a->ctx, &a->alice, d->ino, n), 0);
		assert_string_equal(n->vmdisk.name, media[i].name);
	}
	ut_node(&a->ctx, &a->alice, AT("disks/cdrom"), d);
	assert_int_equal(fs_node_stat(&a->ctx, d, &st), 0);
	assert_int_equal(st.st_size, 2 * LT_MiB);
	/* Another account sees no instance at all. */
	assert_int_equal(ut_walk(&a->ctx, &a->bob, dir, n), -ENOENT);
	assert_int_equal(fs_node_resolve(&a->ctx, &a->bob, d->ino, n), -ENOENT);
#undef AT
	free(n);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_file_renders_lines, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_public_values, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_private_values, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_visibility, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_expires, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_quota_file, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_images_csv, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_images_csv_formula, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_images_csv_classes, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_images_json, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_writable, afx_setup, afx_teardown),
		cmocka_unit_test_setup_teardown(test_instance_files, afx_setup, afx_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

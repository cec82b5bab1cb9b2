/*
 * test_util.h — fixtures shared by the model/ and fs/ unit tests.
 *
 * Included by tests/unit/model/test_*.c and tests/unit/fs/test_*.c
 * (header-only: every helper is static inline, so a test that does not use
 * one does not warn).
 *
 * Every test gets its own fresh state directory, /tmp/imgfs-ut-XXXXXX, opened
 * with model_open(..., MODEL_OPEN_CREATE, ...), and removed afterwards
 * (ut_setup / ut_teardown).  Creating a state writes the catalogue — three
 * regions of 16 images with fsynced 1 MiB chunks and a synchronous SQLite —
 * which takes about two seconds; doing that per test would make a test file
 * take minutes.  So the group setup (ut_group_setup) creates one state the
 * real way, closes it, and every test starts from a copy of it: the database
 * and the secret are copied, chunk files (immutable, mode 0444) are
 * hard-linked unless the test asks for real copies (ut_setup_copy: tests
 * that damage chunk files).  Set UT_FRESH=1 to create every test's state
 * from scratch instead.
 *
 * The SQL helpers open a second connection to <state>/imgfs.db for putting
 * rows into states the API cannot reach yet (a status, a recycle-bin entry,
 * a share); prefer the API wherever it can.
 *
 * The fs/ helpers at the end (callers, walking a path from the root the way
 * the kernel looks names up, rendering a generated file) are compiled only
 * when fs.h was included before this header.
 */
#ifndef IMGFS_TEST_UTIL_H
#define IMGFS_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "model.h"

#define UT_REGIONS 3

/* The default regions of SPEC §1, in creation order. */
static const char *const ut_region_names[UT_REGIONS] = {"cn-north-1", "cn-east-2", "cn-south-1"};

/* The public catalogue of SPEC §3. */
#define UT_PUBLIC_COUNT 14
static const char *const ut_public_names[UT_PUBLIC_COUNT] = {
	"windows-server-2016-datacenter", "windows-server-2012r2-standard", "windows-server-2008r2-datacenter",
	"centos-7.4", "centos-7.3", "centos-7.2", "centos-7.1", "centos-7.2-nat-gateway",
	"centos-6.9", "centos-6.8", "centos-6.6", "centos-6.5", "ubuntu-16.04", "ubuntu-14.04",
};
#define UT_MARKETPLACE_COUNT 2

struct ut_fx {
	char dir[64];                          /* the state directory */
	model *m;
	struct model_region region[UT_REGIONS]; /* by ut_region_names */
	int64_t r1;                            /* id of cn-north-1 */
	sqlite3 *db;                           /* ut_db(), opened on first use */
};

/* ---- removing and copying trees ----------------------------------------- */

static inline int ut_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void ut_rm_rf(const char *dir)
{
	nftw(dir, ut_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* nftw has no argument pointer: the copy in progress. */
static struct {
	const char *src, *dst;
	size_t src_len;
	bool link_chunks;
	int failed;
} ut_copy;

static inline int ut_copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY), out = -1, rc = -1;
	ssize_t n;

	if (in < 0)
		return -1;
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		goto out;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto out;
	if (n == 0 && fchmod(out, mode & 07777) == 0)
		rc = 0;
out:
	if (out >= 0)
		close(out);
	close(in);
	return rc;
}

static inline int ut_copy_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char to[PATH_MAX];
	const char *rel = path + ut_copy.src_len;

	(void)ftw;
	if (*rel == '\0')
		return 0; /* the root exists (mkdtemp) */
	snprintf(to, sizeof to, "%s%s", ut_copy.dst, rel);
	if (flag == FTW_D) {
		if (mkdir(to, st->st_mode & 07777) < 0)
			ut_copy.failed = errno;
	} else if (flag == FTW_F) {
		if (ut_copy.link_chunks && strstr(rel, "/chunks/") != NULL) {
			if (link(path, to) < 0)
				ut_copy.failed = errno;
		} else if (ut_copy_file(path, to, st->st_mode) < 0) {
			ut_copy.failed = errno ? errno : EIO;
		}
	}
	return ut_copy.failed ? -1 : 0;
}

/* Copies the tree src into the existing directory dst. */
static inline int ut_copy_tree(const char *src, const char *dst, bool link_chunks)
{
	ut_copy.src = src;
	ut_copy.dst = dst;
	ut_copy.src_len = strlen(src);
	ut_copy.link_chunks = link_chunks;
	ut_copy.failed = 0;
	if (nftw(src, ut_copy_one, 16, FTW_PHYS) != 0 || ut_copy.failed)
		return -1;
	return 0;
}

/* ---- the fixture ---------------------------------------------------------- */

static char ut_template[64]; /* the group's pristine state, "" with UT_FRESH */

static inline bool ut_fresh(void)
{
	const char *v = getenv("UT_FRESH");
	return v && *v && strcmp(v, "0") != 0;
}

static inline int ut_group_setup(void **state)
{
	struct model_err err = {0};
	model *m = NULL;
	int rc;

	(void)state;
	ut_template[0] = '\0';
	if (ut_fresh())
		return 0;
	strcpy(ut_template, "/tmp/imgfs-ut-tmpl-XXXXXX");
	if (!mkdtemp(ut_template)) {
		ut_template[0] = '\0';
		return -1;
	}
	rc = model_open(&m, ut_template, MODEL_OPEN_CREATE, &err);
	if (rc < 0) {
		fprintf(stderr, "model_open %s: %d %s\n", ut_template, rc, err.msg);
		ut_rm_rf(ut_template);
		ut_template[0] = '\0';
		return -1;
	}
	model_close(m);
	return 0;
}

static inline int ut_group_teardown(void **state)
{
	(void)state;
	if (ut_template[0])
		ut_rm_rf(ut_template);
	ut_template[0] = '\0';
	return 0;
}

static inline int ut_setup_mode(void **state, bool link_chunks)
{
	struct ut_fx *fx = calloc(1, sizeof *fx);
	struct model_err err = {0};
	int rc;

	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/imgfs-ut-XXXXXX");
	if (!mkdtemp(fx->dir))
		goto fail_free;
	if (ut_template[0] && ut_copy_tree(ut_template, fx->dir, link_chunks) < 0) {
		fprintf(stderr, "cannot copy %s to %s: %s\n", ut_template, fx->dir, strerror(ut_copy.failed));
		goto fail_rm;
	}
	if ((rc = model_open(&fx->m, fx->dir, MODEL_OPEN_CREATE, &err)) < 0) {
		fprintf(stderr, "model_open %s: %d %s\n", fx->dir, rc, err.msg);
		goto fail_rm;
	}
	for (int i = 0; i < UT_REGIONS; i++) {
		if (model_region_by_name(fx->m, ut_region_names[i], &fx->region[i]) < 0) {
			fprintf(stderr, "%s: no region %s\n", fx->dir, ut_region_names[i]);
			goto fail_close;
		}
	}
	fx->r1 = fx->region[0].id;
	*state = fx;
	return 0;
fail_close:
	model_close(fx->m);
fail_rm:
	ut_rm_rf(fx->dir);
fail_free:
	free(fx);
	return -1;
}

/* A fresh state; chunk files may be shared with the template (never write them). */
static inline int ut_setup(void **state)
{
	return ut_setup_mode(state, true);
}

/* A fresh state whose chunk files are the test's own (it may damage them). */
static inline int ut_setup_copy(void **state)
{
	return ut_setup_mode(state, false);
}

static inline int ut_teardown(void **state)
{
	struct ut_fx *fx = *state;

	if (!fx)
		return 0;
	if (fx->db)
		sqlite3_close(fx->db);
	model_close(fx->m);
	ut_rm_rf(fx->dir);
	free(fx);
	*state = NULL;
	return 0;
}

/* ---- direct SQL ------------------------------------------------------------ */

static inline sqlite3 *ut_db(struct ut_fx *fx)
{
	char path[128];

	if (!fx->db) {
		snprintf(path, sizeof path, "%s/imgfs.db", fx->dir);
		assert_int_equal(sqlite3_open_v2(path, &fx->db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		sqlite3_busy_timeout(fx->db, 10000);
		/* Test-only writes: no need to wait for the disk. */
		assert_int_equal(sqlite3_exec(fx->db, "PRAGMA synchronous=OFF", NULL, NULL, NULL), SQLITE_OK);
	}
	return fx->db;
}

/* Executes SQL formatted by sqlite3_mprintf (%q, %Q allowed) that returns no
 * rows; fails the test on an error. */
static inline void ut_sql(struct ut_fx *fx, const char *fmt, ...)
{
	char *sql, *msg = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	assert_non_null(sql);
	rc = sqlite3_exec(ut_db(fx), sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("sql %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(sql);
	sqlite3_free(msg);
}

/* The integer a one-row, one-column query returns. */
static inline int64_t ut_sql_int(struct ut_fx *fx, const char *fmt, ...)
{
	sqlite3_stmt *st = NULL;
	char *sql;
	int64_t v;
	va_list ap;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	assert_non_null(sql);
	if (sqlite3_prepare_v2(ut_db(fx), sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("sql %s: %s", sql, sqlite3_errmsg(ut_db(fx)));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("sql %s: no row", sql);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return v;
}

/* Puts an image into a status (and nothing else) behind the model's back. */
static inline void ut_force_status(struct ut_fx *fx, int64_t id, enum model_image_status s)
{
	ut_sql(fx, "UPDATE images SET status = %d WHERE id = %lld", (int)s, (long long)id);
}

/* Moves a private image into the recycle bin as SPEC §6.1 describes it
 * (status deleted, deleted_at now): the model has no operation for it yet. */
static inline void ut_force_recycle(struct ut_fx *fx, int64_t id, int64_t deleted_at)
{
	ut_sql(fx, "UPDATE images SET folder = %d, status = %d, deleted_at = %lld WHERE id = %lld",
	       (int)MODEL_FOLDER_RECYCLE, (int)MODEL_IMG_DELETED, (long long)deleted_at, (long long)id);
}

/* Shares an image with an account (SPEC §6.4), by row. */
static inline void ut_force_share(struct ut_fx *fx, int64_t image_id, int64_t account_id)
{
	ut_sql(fx, "INSERT INTO shares(image_id, account_id, created) VALUES (%lld, %lld, %lld)", (long long)image_id,
	       (long long)account_id, (long long)time(NULL));
}

/* ---- API shortcuts ------------------------------------------------------------ */

/* Adds an account (no uid) and returns its id. */
static inline int64_t ut_account(struct ut_fx *fx, const char *name)
{
	struct model_err err = {0};
	struct model_account a;
	int rc = model_account_add(fx->m, name, -1, &err);

	if (rc < 0)
		fail_msg("model_account_add %s: %d %s", name, rc, err.msg);
	assert_int_equal(model_account_by_name(fx->m, name, &a), 0);
	return a.id;
}

/* Creates a queued image and returns its id. */
static inline int64_t ut_image(struct ut_fx *fx, int64_t region_id, int64_t account_id, enum model_folder folder,
                               const char *name)
{
	struct model_err err = {0};
	int64_t id = 0;
	int rc = model_image_create(fx->m, region_id, account_id, folder, name, &id, &err);

	if (rc < 0)
		fail_msg("model_image_create %s: %d %s", name, rc, err.msg);
	assert_true(id > 0);
	return id;
}

/* A platform image by folder and name, in region_id. */
static inline struct model_image ut_platform(struct ut_fx *fx, int64_t region_id, enum model_folder folder,
                                             const char *name)
{
	struct model_image img;
	int rc = model_image_lookup(fx->m, region_id, 0, folder, name, &img);

	if (rc < 0)
		fail_msg("no %s/%s: %d", model_folder_name(folder), name, rc);
	return img;
}

static inline struct model_image ut_get(struct ut_fx *fx, int64_t id)
{
	struct model_image img;

	assert_int_equal(model_image_get(fx->m, id, &img), 0);
	return img;
}

/* ---- fs/ nodes (only when fs.h was included first) --------------------------- */

#ifdef IMGFS_FS_H

/* A caller acting as account_id (0: none), shown as uid/gid 1000. */
static inline struct fs_caller ut_caller(int64_t account_id)
{
	struct fs_caller c = {.account_id = account_id, .uid = 1000, .gid = 1000};
	return c;
}

/* The node of an absolute path ("/regions/cn-north-1/public/centos-7.4/id"),
 * found by lookups from the root as the kernel would; 0 or -errno. */
static inline int ut_walk(struct fs_ctx *ctx, const struct fs_caller *caller, const char *path, struct fs_node *out)
{
	char buf[1024], *save = NULL;
	struct fs_node *cur = malloc(sizeof *cur);
	int rc;

	assert_non_null(cur);
	snprintf(buf, sizeof buf, "%s", path);
	if ((rc = fs_node_resolve(ctx, caller, FS_INO_ROOT, out)) < 0)
		goto out;
	for (char *name = strtok_r(buf, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		*cur = *out;
		if ((rc = fs_node_lookup(ctx, cur, name, out)) < 0)
			goto out;
	}
out:
	free(cur);
	return rc;
}

/* Like ut_walk, failing the test when the path does not resolve. */
static inline void ut_node(struct fs_ctx *ctx, const struct fs_caller *caller, const char *path, struct fs_node *out)
{
	int rc = ut_walk(ctx, caller, path, out);

	if (rc < 0)
		fail_msg("%s: %d", path, rc);
}

/* Renders a generated file (an attribute, quota or images.csv) into b. */
static inline void ut_render(struct fs_ctx *ctx, const struct fs_node *n, struct fs_buf *b)
{
	memset(b, 0, sizeof *b);
	if (n->what == FS_W_QUOTA)
		fs_show_quota(n, ctx, b);
	else if (n->what == FS_W_CSV)
		fs_show_csv(n, ctx, b, NULL);
	else if (n->what == FS_W_ATTR && n->attr && n->attr->show)
		n->attr->show(n, ctx, b);
	else
		fail_msg("node %llx is not a generated file", (unsigned long long)n->ino);
	assert_false(b->failed);
	fs_buf_put(b, "", 0); /* so that an empty file is "" too, not NULL */
	assert_non_null(b->p);
}

#endif /* IMGFS_FS_H */

#endif

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
 * Both database drivers.  With IMGFS_TEST_PG set (a libpq keyword string
 * naming a server: "host=... port=... user=..."; or IMGFS_TEST_PG_FILE,
 * a file holding one, which the ctest fixture of scripts/pg-up writes),
 * every state's metadata is a PostgreSQL database of its own: the group's
 * template is a database made by model_open_db, and each test's is
 * CREATE DATABASE ... TEMPLATE it (the state directory is copied as for
 * SQLite).  ut_pg() says which driver a run uses.
 *
 * The SQL helpers run statements on the model's own connection (through
 * its driver, so they work on both) for putting rows into states the API
 * cannot reach yet (a status, a recycle-bin entry, a share); prefer the API
 * wherever it can.  Their SQL is the dialect both databases take.
 *
 * The fs/ helpers at the end (callers, walking a path from the root the way
 * the kernel looks names up, rendering a generated file) are compiled only
 * when fs/fuse/attr.h was included before this header.
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
#include <libpq-fe.h>
#include <sqlite3.h>

#include "manifest_test.h"
#include "model_int.h"

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
	char pgdb[64];                         /* its PostgreSQL database, "" with SQLite */
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
	char buf[1 << 15]; /* under the 64 KiB frame every target keeps */
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

static char ut_template[64];     /* the group's pristine state, "" with UT_FRESH */
static char ut_template_db[64];  /* and its PostgreSQL database */
static char ut_pg_server[512];   /* IMGFS_TEST_PG: "" for SQLite */

/* The PostgreSQL server the tests use, or NULL for SQLite. */
static inline const char *ut_pg(void)
{
	if (!ut_pg_server[0]) {
		const char *v = getenv("IMGFS_TEST_PG"), *f = getenv("IMGFS_TEST_PG_FILE");
		if (v && *v) {
			snprintf(ut_pg_server, sizeof ut_pg_server, "%s", v);
		} else if (f && *f) {
			FILE *fp = fopen(f, "r");
			if (fp && fgets(ut_pg_server, sizeof ut_pg_server, fp))
				ut_pg_server[strcspn(ut_pg_server, "\n")] = '\0';
			if (fp)
				fclose(fp);
			if (!ut_pg_server[0]) {
				/* Asked for PostgreSQL and given none: this run
				 * cannot be what it says (77: ctest's skipped). */
				fprintf(stderr, "IMGFS_TEST_PG_FILE %s names no server: skipped\n", f);
				exit(77);
			}
		}
		if (!ut_pg_server[0])
			strcpy(ut_pg_server, "-");
	}
	return strcmp(ut_pg_server, "-") == 0 ? NULL : ut_pg_server;
}

/* The conninfo of database db on the test server (cap >= 640). */
static inline void ut_pg_target(char *out, size_t cap, const char *db)
{
	snprintf(out, cap, "%s dbname=%s", ut_pg(), db);
}

/* Runs one statement on the server's maintenance database. */
static inline int ut_pg_admin(const char *sql)
{
	char target[640];
	int rc = 0;
	ut_pg_target(target, sizeof target, "postgres");
	PGconn *c = PQconnectdb(target);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "postgresql %s: %s", target, PQerrorMessage(c));
		rc = -1;
	} else {
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "postgresql: %s: %s", sql, PQresultErrorMessage(r));
			rc = -1;
		}
		PQclear(r);
	}
	PQfinish(c);
	return rc;
}

/* A fresh database name for this process. */
static inline void ut_pg_name(char out[64], const char *what)
{
	static unsigned n;
	snprintf(out, 64, "imgfs_ut_%ld_%s_%u", (long)getpid(), what, n++);
}

/* Opens the state dir with the test's driver (db: its database, or ""). */
static inline int ut_open(model **m, const char *dir, const char *db, struct model_err *err)
{
	char target[640];
	if (!db[0])
		return model_open(m, dir, MODEL_OPEN_CREATE, err);
	ut_pg_target(target, sizeof target, db);
	return model_open_db(m, dir, target, MODEL_OPEN_CREATE, err);
}

static inline bool ut_fresh(void)
{
	const char *v = getenv("UT_FRESH");
	return v && *v && strcmp(v, "0") != 0;
}

static inline int ut_group_setup(void **state)
{
	struct model_err err = {0};
	model *m = NULL;
	char sql[128];
	int rc;

	(void)state;
	ut_template[0] = '\0';
	ut_template_db[0] = '\0';
	if (ut_fresh())
		return 0;
	strcpy(ut_template, "/tmp/imgfs-ut-tmpl-XXXXXX");
	if (!mkdtemp(ut_template)) {
		ut_template[0] = '\0';
		return -1;
	}
	if (ut_pg()) {
		ut_pg_name(ut_template_db, "tmpl");
		snprintf(sql, sizeof sql, "CREATE DATABASE %s", ut_template_db);
		if (ut_pg_admin(sql) < 0)
			return -1;
	}
	rc = ut_open(&m, ut_template, ut_template_db, &err);
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
	char sql[128];
	(void)state;
	if (ut_template[0])
		ut_rm_rf(ut_template);
	ut_template[0] = '\0';
	if (ut_template_db[0]) {
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", ut_template_db);
		ut_pg_admin(sql);
	}
	ut_template_db[0] = '\0';
	return 0;
}

static inline int ut_setup_mode(void **state, bool link_chunks)
{
	struct ut_fx *fx = calloc(1, sizeof *fx);
	struct model_err err = {0};
	char sql[192];
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
	if (ut_pg()) {
		ut_pg_name(fx->pgdb, "t");
		if (ut_template_db[0])
			snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE %s", fx->pgdb, ut_template_db);
		else
			snprintf(sql, sizeof sql, "CREATE DATABASE %s", fx->pgdb);
		if (ut_pg_admin(sql) < 0)
			goto fail_rm;
	}
	if ((rc = ut_open(&fx->m, fx->dir, fx->pgdb, &err)) < 0) {
		fprintf(stderr, "model_open %s: %d %s\n", fx->dir, rc, err.msg);
		goto fail_rm;
	}
	if (fx->pgdb[0] && ut_template_db[0]) {
		/* The template recorded its own directory as the regions' stores
		 * (model_region_add in cluster mode): this test's copy is here. */
		struct model_conn *c;
		char *upd = sqlite3_mprintf("UPDATE regions SET store = 'dir:%q/regions/' || name", fx->dir);
		if (!upd || model_conn_get(fx->m, &c) < 0 || model_exec(c, upd) < 0) {
			sqlite3_free(upd);
			goto fail_close;
		}
		sqlite3_free(upd);
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
	if (fx->pgdb[0]) {
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", fx->pgdb);
		ut_pg_admin(sql);
	}
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

/* Reopens the test's state (after model_close, or to see what another
 * process would). */
static inline void ut_reopen(struct ut_fx *fx)
{
	struct model_err err = {0};
	model_close(fx->m);
	fx->m = NULL;
	if (ut_open(&fx->m, fx->dir, fx->pgdb, &err) < 0)
		fail_msg("reopening %s: %s", fx->dir, err.msg);
}

static inline int ut_teardown(void **state)
{
	struct ut_fx *fx = *state;
	char sql[128];

	if (!fx)
		return 0;
	if (fx->db)
		sqlite3_close(fx->db);
	model_close(fx->m);
	ut_rm_rf(fx->dir);
	if (fx->pgdb[0]) {
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", fx->pgdb);
		ut_pg_admin(sql);
	}
	free(fx);
	*state = NULL;
	return 0;
}

/* Skips a test that is about SQLite itself when the run uses PostgreSQL. */
#define UT_SQLITE_ONLY()                                                                                  \
	do {                                                                                              \
		if (ut_pg()) {                                                                            \
			print_message("(SQLite only: skipped with PostgreSQL)\n");                       \
			skip();                                                                           \
		}                                                                                         \
	} while (0)

/* ---- direct SQL ------------------------------------------------------------ */

/* The SQLite database itself, on a second connection: only for tests of
 * SQLite's own files (schema migrations) while no model is open. */
static inline sqlite3 *ut_db(struct ut_fx *fx)
{
	char path[128];

	if (!fx->db) {
		snprintf(path, sizeof path, "%s/imgfs.db", fx->dir);
		assert_int_equal(sqlite3_open_v2(path, &fx->db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		sqlite3_busy_timeout(fx->db, 10000);
	}
	return fx->db;
}

/* Executes SQL formatted by sqlite3_mprintf (%q, %Q allowed; the quoting
 * is standard SQL's) that returns no rows, on the model's connection; fails
 * the test on an error. */
static inline void ut_sql(struct ut_fx *fx, const char *fmt, ...)
{
	struct model_conn *c;
	char *sql;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	assert_non_null(sql);
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	if ((rc = model_exec(c, sql)) < 0)
		fail_msg("sql %s: %d", sql, rc);
	sqlite3_free(sql);
}

/* The integer a one-row, one-column query returns. */
static inline int64_t ut_sql_int(struct ut_fx *fx, const char *fmt, ...)
{
	char *sql;
	int64_t v = 0;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	assert_non_null(sql);
	if ((rc = model_sql_int(fx->m, sql, &v)) < 0)
		fail_msg("sql %s: %d", sql, rc);
	sqlite3_free(sql);
	return v;
}

/* Holds the database's write lock (what every writer takes first) on the
 * test thread's connection until ut_write_unlock: other threads' writes
 * wait meanwhile.  The PostgreSQL driver sends BEGIN and the lock with a
 * transaction's first statement: one is run. */
static inline void ut_write_lock(struct ut_fx *fx)
{
	struct model_conn *c;
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_sql_exec(fx->m, "SELECT 1"), 0);
}

static inline void ut_write_unlock(struct ut_fx *fx)
{
	struct model_conn *c;
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	assert_int_equal(model_write_end(c, 0, NULL), 0);
}

/* An ad-hoc statement with parameters on the model's connection (db.h's
 * API: db_bind_*, db_step, db_col_*); end it with ut_finalize. */
static inline db_stmt *ut_prepare(struct ut_fx *fx, const char *sql)
{
	struct model_sql *q = calloc(1, sizeof *q);
	struct model_conn *c;
	db_stmt *st = NULL;

	assert_non_null(q);
	q->text = sql;
	q->may_scan = "a test's own statement";
	q->file = __FILE__;
	q->line = __LINE__;
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	if (c->drv->prepare(c->db, q, &st) < 0)
		fail_msg("sql %s does not prepare", sql);
	return st;
}

static inline void ut_finalize(db_stmt *st)
{
	struct model_sql *q = (struct model_sql *)st->sql;
	st->drv->finalize(st);
	free(q);
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

/* The id of account name, added (no uid) the first time. */
static inline int64_t ut_account_once(struct ut_fx *fx, const char *name)
{
	struct model_account a;

	if (model_account_by_name(fx->m, name, &a) == 0)
		return a.id;
	return ut_account(fx, name);
}

/* Creates a queued image and returns its id. */
static inline int64_t ut_image(struct ut_fx *fx, int64_t region_id, int64_t account_id, enum model_folder folder,
                               const char *name)
{
	struct model_err err = {0};
	struct model_image img;
	int rc = model_image_create(fx->m, region_id, account_id, folder, name, &img, &err);

	if (rc < 0)
		fail_msg("model_image_create %s: %d %s", name, rc, err.msg);
	assert_true(img.id > 0);
	return img.id;
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

/* ---- fs/ nodes (only when attr.h was included first) --------------------------- */

#ifdef IMGFS_ATTR_H

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

/* Renders a generated file (an attribute, quota, images.csv or .json) into b. */
static inline void ut_render(struct fs_ctx *ctx, const struct fs_node *n, struct fs_buf *b)
{
	memset(b, 0, sizeof *b);
	if (n->what == FS_W_QUOTA)
		fs_show_quota(n, ctx, b);
	else if (n->what == FS_W_CSV)
		fs_show_csv(n, ctx, b, NULL);
	else if (n->what == FS_W_JSON)
		fs_show_json(n, ctx, b, NULL);
	else if (n->what == FS_W_ATTR && n->attr && n->attr->show)
		n->attr->show(n, ctx, b);
	else
		fail_msg("node %llx is not a generated file", (unsigned long long)n->ino);
	assert_false(b->failed);
	fs_buf_put(b, "", 0); /* so that an empty file is "" too, not NULL */
	assert_non_null(b->p);
}

#endif /* IMGFS_ATTR_H */

#endif

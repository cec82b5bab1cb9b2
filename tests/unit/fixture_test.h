/*
 * fixture_test.h — the unit tests' model fixture: a state per test, copied
 * from the group's template, on SQLite or on PostgreSQL (test_util.h says
 * how and why).  The SQL and API shortcuts over it are sql_test.h's.
 */
#ifndef IMGFS_FIXTURE_TEST_H
#define IMGFS_FIXTURE_TEST_H

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
#include "tree_test.h"

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

/* The process's open descriptors (of the first 4096): a test's count of
 * what a call kept. */
static inline int ut_fds_open(void)
{
	char path[64];
	int n = 0;
	for (int fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/* Skips a test that is about SQLite itself when the run uses PostgreSQL. */
#define UT_SQLITE_ONLY()                                                                                  \
	do {                                                                                              \
		if (ut_pg()) {                                                                            \
			print_message("(SQLite only: skipped with PostgreSQL)\n");                       \
			skip();                                                                           \
		}                                                                                         \
	} while (0)

#endif

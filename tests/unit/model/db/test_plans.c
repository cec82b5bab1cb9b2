/*
 * test_plans.c — every statement the model can run uses an index for every
 * table it reads, unless it says why it may scan (SPEC-wide: the cost of a
 * request must not grow with the number of images, snapshots, instances,
 * devices, blobs, shares, tasks or changes).
 *
 * The statements come from the registry (db.h: SQL() records each in the
 * linker section model_sql); this executable links the whole model library
 * so that no statement is left out.  Each is asked for its query plan on a
 * real state (the schema as the driver made it, the catalogue in it).  A
 * statement fails unless it is marked SQL_SCAN("why") when its plan has a
 * step whose cost grows with a table rather than with what it returns:
 *   - "SCAN <table>" (a full table or full index scan; a scan of a
 *     subquery's own result is not one),
 *   - an automatic index (built per statement from a scan),
 *   - a primary-key range alone ("rowid>?": every later row is read),
 *   - a temporary b-tree (a sort or DISTINCT of everything matched).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model_int.h"
#include "test_util.h"

/* Names the plan itself introduced (CO-ROUTINE x, MATERIALIZE x): scanning
 * those reads a subquery's rows, not a table. */
static bool plan_defines(const char *plan, const char *name, size_t len)
{
	static const char *const kinds[] = {"CO-ROUTINE ", "MATERIALIZE "};
	for (size_t k = 0; k < 2; k++) {
		size_t kl = strlen(kinds[k]);
		for (const char *p = plan; (p = strstr(p, kinds[k])) != NULL; p += kl)
			if (strncmp(p + kl, name, len) == 0 && (p[kl + len] == '\n' || p[kl + len] == ' '))
				return true;
	}
	return false;
}

/* The first plan line that reads a whole table, or NULL. */
static const char *plan_scan(const char *plan, char *line, size_t cap)
{
	for (const char *p = plan; *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		snprintf(line, cap, "%.*s", (int)n, p);
		if (strstr(line, "AUTOMATIC") || strstr(line, "USE TEMP B-TREE") ||
		    (strstr(line, "USING INTEGER PRIMARY KEY (rowid>") || strstr(line, "USING INTEGER PRIMARY KEY (rowid<")))
			return line;
		if (strncmp(line, "SCAN ", 5) == 0 && strncmp(line, "SCAN CONSTANT ROW", 17) != 0) {
			const char *name = line + 5;
			size_t len = strcspn(name, " ");
			if (!plan_defines(plan, name, len))
				return line;
		}
		p += n + (e ? 1 : 0);
	}
	return NULL;
}

static void test_every_statement_uses_indexes(void **state)
{
	struct ut_fx *fx = *state;
	struct model_conn *c;
	char *plan, line[512];
	size_t total = 0, marked = 0;
	int bad = 0;

	UT_SQLITE_ONLY(); /* PostgreSQL 15 cannot plan a statement with unbound parameters */
	plan = malloc(1 << 16);
	assert_non_null(plan);
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	for (const struct model_sql *const *q = __start_model_sql; q < __stop_model_sql; q++) {
		const struct model_sql *s = *q;
		total++;
		if (c->drv->explain(c->db, s->text, plan, 1 << 16) < 0) {
			print_error("%s:%d: does not prepare: %s\n", s->file, s->line, s->text);
			bad++;
			continue;
		}
		if (s->may_scan) {
			marked++;
			assert_true(strlen(s->may_scan) > 5); /* a reason, not a placeholder */
			continue;
		}
		if (plan_scan(plan, line, sizeof(line))) {
			print_error("%s:%d: %s\n    in: %s\n    plan:\n%s", s->file, s->line, line, s->text, plan);
			bad++;
		}
	}
	print_message("%zu statements, %zu marked SQL_SCAN with a reason\n", total, marked);
	/* The registry really holds the model's statements (a broken section
	 * would leave it empty or tiny). */
	assert_true(total > 100);
	/* Each statement has its slot in every connection's cache (db.c:
	 * model_stmt fails the ones that find it full). */
	assert_true(total < MODEL_STMT_CACHE);
	assert_int_equal(bad, 0);
	free(plan);
}

/* /stats is read every few seconds whatever the number of images: its
 * statements (model/meta/stats.c) may scan, but only an index that holds
 * every column they read (no table row), in the index's order (no sort). */
static void test_stats_reads_covering_indexes(void **state)
{
	struct ut_fx *fx = *state;
	struct model_conn *c;
	char plan[4096];
	int n = 0;

	UT_SQLITE_ONLY();
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	for (const struct model_sql *const *q = __start_model_sql; q < __stop_model_sql; q++) {
		const struct model_sql *s = *q;
		static const char suffix[] = "/meta/stats.c";
		size_t fl = strlen(s->file), sl = sizeof(suffix) - 1;
		if (fl < sl || strcmp(s->file + fl - sl, suffix) != 0)
			continue;
		n++;
		assert_int_equal(c->drv->explain(c->db, s->text, plan, sizeof(plan)), 0);
		for (const char *p = plan; *p;) {
			size_t len = strcspn(p, "\n");
			char line[512];
			snprintf(line, sizeof(line), "%.*s", (int)len, p);
			if (strncmp(line, "SCAN ", 5) != 0 || !strstr(line, " USING COVERING INDEX "))
				fail_msg("%s:%d reads more than an index: %s\n    in: %s", s->file, s->line, line, s->text);
			p += len + (p[len] == '\n');
		}
	}
	assert_int_equal(n, 3);
}

/* The checker itself: a plan with a table scan is caught, an index search
 * or a scan of a subquery's rows is not. */
static void test_checker(void **state)
{
	char line[512];
	(void)state;
	assert_non_null(plan_scan("SCAN images\n", line, sizeof(line)));
	assert_non_null(plan_scan("SEARCH i USING INDEX x (id=?)\nSCAN s\n", line, sizeof(line)));
	assert_string_equal(line, "SCAN s");
	assert_non_null(plan_scan("SEARCH t USING AUTOMATIC COVERING INDEX (a=?)\n", line, sizeof(line)));
	assert_non_null(plan_scan("SCAN images USING COVERING INDEX images_name\n", line, sizeof(line)));
	assert_null(plan_scan("SEARCH images USING INTEGER PRIMARY KEY (rowid=?)\n", line, sizeof(line)));
	assert_null(plan_scan("CO-ROUTINE per_image\nSEARCH s USING INDEX x (a=?)\nSCAN per_image\n", line,
	                      sizeof(line)));
	assert_null(plan_scan("SCAN CONSTANT ROW\n", line, sizeof(line)));
	assert_non_null(plan_scan("SEARCH images USING INTEGER PRIMARY KEY (rowid>?)\n", line, sizeof(line)));
	assert_non_null(plan_scan("SEARCH i USING INDEX x (a=?)\nUSE TEMP B-TREE FOR ORDER BY\n", line, sizeof(line)));
	assert_null(plan_scan("SEARCH i USING INDEX images_listing (region_id=? AND account_id=? AND folder=? AND "
	                      "rowid>?)\n", line, sizeof(line)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker),
		cmocka_unit_test_setup_teardown(test_every_statement_uses_indexes, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_stats_reads_covering_indexes, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

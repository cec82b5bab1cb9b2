/*
 * test_changes.c — mirrors model/meta/changes.c: the change log each
 * mount's watcher reads (rows after the last one seen, in order, in one
 * statement), a reader that the trimming left behind told so (-ESTALE) and
 * moved to the head, and the trim itself (every 1024th change a process
 * logs drops the rows older than ten minutes).
 */
#include "test_util.h"

struct seen {
	int64_t obj[16];
	int n;
};

static int collect(void *arg, const struct model_change *c)
{
	struct seen *s = arg;
	if (s->n < 16)
		s->obj[s->n] = c->obj;
	s->n++;
	return 0;
}

/* Logs one change of obj in a transaction of its own. */
static void log_change(struct ut_fx *fx, int64_t obj)
{
	struct model_conn *c;
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_log_change(c, MODEL_CHANGE_IMAGE, obj, fx->r1, MODEL_FOLDER_PRIVATE, NULL), 0);
	assert_int_equal(model_write_end(c, 0, NULL), 0);
}

static void test_rows_after_the_last_seen(void **state)
{
	struct ut_fx *fx = *state;
	struct seen s = {0};
	int64_t seq = model_changes_head(fx->m), start = seq;

	for (int64_t i = 1; i <= 3; i++)
		log_change(fx, 1000 + i);
	assert_int_equal(model_changes_since(fx->m, &seq, collect, &s), 0);
	assert_int_equal(s.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(s.obj[i], 1001 + i);
	assert_true(seq > start);
	assert_int_equal(seq, model_changes_head(fx->m));

	/* Read again: nothing new. */
	s.n = 0;
	assert_int_equal(model_changes_since(fx->m, &seq, collect, &s), 0);
	assert_int_equal(s.n, 0);
}

/* Rows this reader never saw were trimmed: it cannot know what changed. */
static void test_reader_left_behind_is_told(void **state)
{
	struct ut_fx *fx = *state;
	struct seen s = {0};
	int64_t seq = model_changes_head(fx->m);

	for (int64_t i = 1; i <= 4; i++)
		log_change(fx, 2000 + i);
	ut_sql(fx, "DELETE FROM changes WHERE seq <= %lld", (long long)(seq + 2));
	assert_int_equal(model_changes_since(fx->m, &seq, collect, &s), -ESTALE);
	assert_int_equal(s.n, 0);
	assert_int_equal(seq, model_changes_head(fx->m));

	/* Trimmed rows it had seen already are no news. */
	log_change(fx, 2005);
	int64_t head = model_changes_head(fx->m);
	ut_sql(fx, "DELETE FROM changes WHERE seq < %lld", (long long)head);
	assert_int_equal(model_changes_since(fx->m, &seq, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.obj[0], 2005);
}

/* Within 1024 changes a process logs, rows older than ten minutes go. */
static void test_old_rows_are_trimmed(void **state)
{
	struct ut_fx *fx = *state;
	ut_sql(fx, "INSERT INTO changes(at, kind, obj, region_id, folder) VALUES (1, %d, 1, %lld, %d)",
	       (int)MODEL_CHANGE_IMAGE, (long long)fx->r1, (int)MODEL_FOLDER_PRIVATE);
	for (int i = 0; i < 1024; i++)
		log_change(fx, 3000 + i);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM changes WHERE at < 1000"), 0);
	assert_true(ut_sql_int(fx, "SELECT count(*) FROM changes WHERE obj >= 3000") >= 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rows_after_the_last_seen, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_reader_left_behind_is_told, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_old_rows_are_trimmed, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

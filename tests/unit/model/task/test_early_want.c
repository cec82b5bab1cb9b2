/*
 * test_early_want.c — unit tests for early_want_start (model/task/early.c,
 * SPEC §6.5 "The import gives way"): an instance's early start registers
 * the entry and the start's expectation in one hold of the set's lock, so
 * the import's first window never sees the entry unheld (the expectation
 * after the entry let an 8 MiB window go before the start's write
 * committed: bench-early's log, stop 60).  A plain early_want (a copy's,
 * an import's own, a disk's open) holds nothing; with the open hold off
 * (IMGFS_EARLY_OPEN_HOLD_MS=0) a start holds nothing either.  On both
 * drivers (the entry reads the image's row).
 */
#include "early_int.h"
#include "test_util.h"

static int64_t importing(struct ut_fx *fx, const char *name)
{
	struct model_err err = {0};
	struct model_image img;
	char url[128];
	int64_t acc = ut_account_once(fx, "alice");
	assert_int_equal(model_image_create(fx->m, fx->r1, acc, MODEL_FOLDER_PRIVATE, name, &img, &err), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:1/%s.raw", name);
	assert_int_equal(model_image_import_url(fx->m, img.id, url, &err), 0);
	return img.id;
}

/* Whether the import of id's entry gives way now (the entry must exist). */
static bool held(struct ut_fx *fx, int64_t id)
{
	struct model_early *set = fx->m->early;
	struct early_import *e;
	bool h;
	IMGFS_LOCK(&set->lock, model_early_lock);
	e = early_find(set, id);
	assert_non_null(e);
	h = early_yield_holding(fx->m, e);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return h;
}

static void test_want_start(void **state)
{
	struct ut_fx *fx = *state;
	int64_t a = importing(fx, "a"), b = importing(fx, "b"), c = importing(fx, "c");

	unsetenv("IMGFS_EARLY_OPEN_HOLD_MS");
	assert_int_equal(early_want_start(fx->m, a, fx->r1), 0);
	assert_true(held(fx, a));
	assert_int_equal(early_want(fx->m, b, fx->r1), 0);
	assert_false(held(fx, b));
	assert_true(held(fx, a)); /* b's entry is not a's */
	/* Idempotent: a start of an image whose entry exists holds it too. */
	assert_int_equal(early_want_start(fx->m, b, fx->r1), 0);
	assert_true(held(fx, b));
	setenv("IMGFS_EARLY_OPEN_HOLD_MS", "0", 1);
	assert_int_equal(early_want_start(fx->m, c, fx->r1), 0);
	assert_false(held(fx, c));
	unsetenv("IMGFS_EARLY_OPEN_HOLD_MS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_want_start, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

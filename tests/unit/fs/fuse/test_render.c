/*
 * test_render.c — mirrors fs/fuse/render.c: the mount's renderings of
 * generated files and their bounds (SPEC §12), each at the limit and one
 * past it: what one account holds (FS_RENDER_ACCOUNT_MAX), what all hold
 * (FS_RENDER_MAX, the budget), one rendering (FS_RENDER_ONE_MAX), the
 * uncharged first FS_BUF_FREE bytes, and the lanes (FS_RENDER_LANES, one
 * per account).  Sizes are charges to the byte: a buffer under 128 KiB
 * holds exactly what it was trimmed to, a larger one whole pages (buf.c).
 * Cost: about 1 s (64 MiB written once).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "render.h"

#define MiB (1u << 20)

/* A rendering of owner charged `charge` bytes once trimmed: charge - 1
 * bytes of fill (and its NUL).  charge is > FS_BUF_FREE, and under 128 KiB
 * or a whole number of pages. */
static int take(struct fs_renderings *rs, uint64_t owner, size_t charge, int fill, struct fs_rendering **out,
                struct model_err *err)
{
	struct fs_buf b = {.budget = fs_render_budget(rs)};
	char *bytes = malloc(charge);
	assert_non_null(bytes);
	memset(bytes, fill, charge - 1);
	fs_buf_put(&b, bytes, charge - 1);
	free(bytes);
	assert_false(b.failed);
	return fs_render_take(rs, &b, owner, out, err);
}

/* Holds `total` bytes for owner in 4 MiB renderings and one for the rest
 * (a whole number of pages); their fills start at *fill. */
static void hold(struct fs_renderings *rs, uint64_t owner, size_t total, int *fill, struct fs_rendering **r,
                 unsigned *n)
{
	struct model_err err = {0};
	while (total) {
		size_t one = total > 4 * MiB ? 4 * MiB : total;
		assert_int_equal(take(rs, owner, one, (*fill)++, &r[(*n)++], &err), 0);
		total -= one;
	}
}

static void put_all(struct fs_renderings *rs, struct fs_rendering **r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fs_render_put(rs, r[i]);
}

static void test_account_at_the_limit(void **state)
{
	(void)state;
	struct fs_renderings *rs;
	struct fs_rendering *r[8], *last;
	struct model_err err = {0};
	unsigned n = 0;
	int fill = 'a';
	assert_int_equal(fs_render_new(&rs), 0);
	hold(rs, 7, FS_RENDER_ACCOUNT_MAX - 8192, &fill, r, &n);
	assert_int_equal(fs_render_held(rs, 7), FS_RENDER_ACCOUNT_MAX - 8192);
	/* The last 8,192 bytes fit: the account holds exactly its bound. */
	assert_int_equal(take(rs, 7, 8192, fill, &last, &err), 0);
	assert_int_equal(fs_render_held(rs, 7), FS_RENDER_ACCOUNT_MAX);
	fs_render_put(rs, last);
	put_all(rs, r, n);
	assert_int_equal(fs_render_held(rs, 7), 0);
	assert_int_equal(fs_render_budget(rs)->used, 0);
	fs_render_free(rs);
}

static void test_account_one_past(void **state)
{
	(void)state;
	struct fs_renderings *rs;
	struct fs_rendering *r[8], *last = NULL, *other;
	struct model_err err = {0};
	unsigned n = 0;
	int fill = 'a';
	assert_int_equal(fs_render_new(&rs), 0);
	hold(rs, 7, FS_RENDER_ACCOUNT_MAX - 8192, &fill, r, &n);
	/* One byte more than the bound: refused, with the reason, nothing
	 * charged, the buffer given back. */
	assert_int_equal(take(rs, 7, 8193, fill, &last, &err), -ENOMEM);
	assert_null(last);
	assert_non_null(strstr(err.msg, "one account holds at most 16 MiB"));
	assert_int_equal(fs_render_held(rs, 7), FS_RENDER_ACCOUNT_MAX - 8192);
	assert_int_equal(fs_render_budget(rs)->used, FS_RENDER_ACCOUNT_MAX - 8192);
	/* Another account is not refused for it. */
	assert_int_equal(take(rs, 8, 8193, fill, &other, &err), 0);
	assert_int_equal(fs_render_held(rs, 8), 8193);
	fs_render_put(rs, other);
	put_all(rs, r, n);
	assert_int_equal(fs_render_held(rs, 7), 0);
	fs_render_free(rs);
}

/* The same bytes for the same account are held once; for another account
 * they are its own (nothing of one account serves another). */
static void test_shared_once_per_account(void **state)
{
	(void)state;
	struct fs_renderings *rs;
	struct fs_rendering *a, *b, *c;
	struct model_err err = {0};
	assert_int_equal(fs_render_new(&rs), 0);
	assert_int_equal(take(rs, 1, 8 * MiB, 'x', &a, &err), 0);
	assert_int_equal(take(rs, 1, 8 * MiB, 'x', &b, &err), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(fs_render_held(rs, 1), 8 * MiB);
	assert_int_equal(fs_render_budget(rs)->used, 8 * MiB);
	/* Shared, a third and fourth of the same bytes fit past what two
	 * copies would hold. */
	assert_int_equal(take(rs, 1, 8 * MiB, 'x', &b, &err), 0);
	assert_int_equal(fs_render_held(rs, 1), 8 * MiB);
	assert_int_equal(take(rs, 2, 8 * MiB, 'x', &c, &err), 0);
	assert_ptr_not_equal(a, c);
	assert_int_equal(fs_render_held(rs, 2), 8 * MiB);
	fs_render_put(rs, a);
	fs_render_put(rs, b);
	assert_int_equal(fs_render_held(rs, 1), 8 * MiB); /* a third reference */
	fs_render_put(rs, a);
	assert_int_equal(fs_render_held(rs, 1), 0);
	fs_render_put(rs, c);
	assert_int_equal(fs_render_budget(rs)->used, 0);
	fs_render_free(rs);
}

/* Closing gives back, one rendering at a time: an account's charge goes
 * down by each rendering put back for the last time (not to 0 while it
 * holds another), and a rendering put back is gone from the table, so the
 * same bytes opened again (a `cat images.json` in a loop) are a new
 * rendering, charged anew and given back anew.  A NULL rendering and a
 * NULL table are no-ops (render.h: what files.c's release relies on). */
static void test_put_gives_back(void **state)
{
	(void)state;
	struct fs_renderings *rs;
	struct fs_rendering *a, *b, *again;
	struct model_err err = {0};
	assert_int_equal(fs_render_new(&rs), 0);
	assert_int_equal(take(rs, 7, 2 * MiB, 'a', &a, &err), 0);
	assert_int_equal(take(rs, 7, 3 * MiB, 'b', &b, &err), 0);
	assert_int_equal(fs_render_held(rs, 7), 5 * MiB);
	fs_render_put(rs, a);
	assert_int_equal(fs_render_held(rs, 7), 3 * MiB);
	assert_int_equal(fs_render_budget(rs)->used, 3 * MiB);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(take(rs, 7, 2 * MiB, 'a', &again, &err), 0);
		assert_ptr_not_equal(again, b);
		assert_int_equal(fs_render_held(rs, 7), 5 * MiB);
		assert_int_equal(fs_render_budget(rs)->used, 5 * MiB);
		fs_render_put(rs, again);
		assert_int_equal(fs_render_held(rs, 7), 3 * MiB);
	}
	fs_render_put(rs, NULL);
	assert_int_equal(fs_render_held(rs, 7), 3 * MiB);
	fs_render_put(rs, b);
	assert_int_equal(fs_render_held(rs, 7), 0);
	assert_int_equal(fs_render_budget(rs)->used, 0);
	fs_render_free(rs);
	fs_render_free(NULL);
}

/* FS_RENDER_MAX in all, to the byte: with 8,191 bytes left a buffer that
 * grows to 8,192 is one past, OVER_ALL. */
static void test_budget_one_byte_past(void **state)
{
	(void)state;
	struct fs_renderings *rs;
	struct fs_rendering *r[20], *small;
	struct model_err err = {0};
	unsigned n = 0;
	int fill = 1;
	assert_int_equal(fs_render_new(&rs), 0);
	for (uint64_t owner = 1; owner <= 3; owner++)
		hold(rs, owner, FS_RENDER_ACCOUNT_MAX, &fill, r, &n);
	hold(rs, 4, FS_RENDER_ACCOUNT_MAX - 12288, &fill, r, &n);
	assert_int_equal(take(rs, 4, 4097, fill++, &small, &err), 0);
	assert_int_equal(fs_render_budget(rs)->used, FS_RENDER_MAX - 8191);
	struct fs_buf b = {.budget = fs_render_budget(rs)};
	char bytes[8192];
	memset(bytes, 'p', sizeof(bytes));
	fs_buf_put(&b, bytes, 4096); /* grows to 8,192 */
	assert_true(b.failed);
	assert_int_equal(b.over, FS_BUF_OVER_ALL);
	fs_buf_release(&b);
	fs_render_put(rs, small);
	/* With 8,192 left, the same buffer is at the limit. */
	fs_render_put(rs, r[--n]); /* account 4's last, 4 MiB - 12,288 */
	assert_int_equal(take(rs, 4, 4 * MiB - 8192, fill++, &r[n++], &err), 0);
	assert_int_equal(fs_render_budget(rs)->used, FS_RENDER_MAX - 8192);
	struct fs_buf c = {.budget = fs_render_budget(rs)};
	fs_buf_put(&c, bytes, 8191);
	assert_false(c.failed);
	assert_int_equal(fs_render_budget(rs)->used, FS_RENDER_MAX);
	fs_buf_release(&c);
	put_all(rs, r, n);
	assert_int_equal(fs_render_budget(rs)->used, 0);
	fs_render_free(rs);
}

/* FS_RENDER_MAX in all: four accounts at their bound fill it exactly; then
 * a fifth's rendering stops growing past FS_BUF_FREE, said OVER_ALL, while
 * one within FS_BUF_FREE (a `cat status`) still renders. */
static void test_budget_at_the_limit_and_one_past(void **state)
{
	(void)state;
	_Static_assert(FS_RENDER_MAX == 4 * FS_RENDER_ACCOUNT_MAX, "four accounts fill the budget");
	struct fs_renderings *rs;
	struct fs_rendering *r[20];
	struct model_err err = {0};
	unsigned n = 0;
	int fill = 1;
	assert_int_equal(fs_render_new(&rs), 0);
	for (uint64_t owner = 1; owner <= 4; owner++)
		hold(rs, owner, FS_RENDER_ACCOUNT_MAX, &fill, r, &n);
	assert_int_equal(fs_render_budget(rs)->used, FS_RENDER_MAX);

	struct fs_buf small = {.budget = fs_render_budget(rs)};
	char bytes[FS_BUF_FREE + 1];
	memset(bytes, 's', sizeof(bytes));
	fs_buf_put(&small, bytes, FS_BUF_FREE - 1); /* its NUL: FS_BUF_FREE */
	assert_false(small.failed);
	assert_int_equal(fs_buf_charge(&small), 0);
	fs_buf_put(&small, bytes, 1); /* one past: charged, and over */
	assert_true(small.failed);
	assert_int_equal(small.over, FS_BUF_OVER_ALL);
	assert_true(fs_render_over_why(&small, &err));
	assert_non_null(strstr(err.msg, "take 64 MiB, the most it holds"));
	fs_buf_release(&small);
	assert_int_equal(fs_render_budget(rs)->used, FS_RENDER_MAX);
	put_all(rs, r, n);
	assert_int_equal(fs_render_budget(rs)->used, 0);
	fs_render_free(rs);
}

/* One rendering is at most FS_RENDER_ONE_MAX: 16 MiB - 1 bytes and a NUL
 * fit, one byte more is OVER_ONE. */
static void test_one_at_the_limit_and_one_past(void **state)
{
	(void)state;
	struct fs_renderings *rs;
	struct model_err err = {0};
	assert_int_equal(fs_render_new(&rs), 0);
	char *bytes = malloc(FS_RENDER_ONE_MAX);
	assert_non_null(bytes);
	memset(bytes, 'o', FS_RENDER_ONE_MAX);
	struct fs_buf b = {.budget = fs_render_budget(rs)};
	fs_buf_put(&b, bytes, FS_RENDER_ONE_MAX - 1);
	assert_false(b.failed);
	assert_int_equal(fs_buf_charge(&b), FS_RENDER_ONE_MAX);
	assert_false(fs_render_over_why(&b, &err));
	fs_buf_put(&b, bytes, 1);
	assert_true(b.failed);
	assert_int_equal(b.over, FS_BUF_OVER_ONE);
	assert_true(fs_render_over_why(&b, &err));
	assert_non_null(strstr(err.msg, "at most 16 MiB"));
	fs_buf_release(&b);
	free(bytes);
	assert_int_equal(fs_render_budget(rs)->used, 0);
	fs_render_free(rs);
}

struct enterer {
	struct fs_renderings *rs;
	uint64_t owner;
	_Atomic int entered;
};

static void *enter(void *arg)
{
	struct enterer *e = arg;
	fs_render_lane_enter(e->rs, e->owner);
	e->entered = 1;
	return NULL;
}

/* Waits until e's thread waits for a lane (counted, not timed); fails
 * when it entered instead. */
static void until_waiting(struct enterer *e)
{
	unsigned busy, waiting;
	for (;;) {
		fs_render_lanes(e->rs, &busy, &waiting);
		if (waiting == 1)
			return;
		assert_int_equal(e->entered, 0);
		sched_yield();
	}
}

/* FS_RENDER_LANES owners render at once: the next waits until one leaves.
 * An owner waits for itself even with lanes free. */
static void test_lanes_at_the_limit_and_one_past(void **state)
{
	(void)state;
	struct fs_renderings *rs;
	unsigned busy, waiting;
	pthread_t t;
	assert_int_equal(fs_render_new(&rs), 0);
	for (uint64_t owner = 1; owner <= FS_RENDER_LANES; owner++)
		fs_render_lane_enter(rs, owner); /* the last one at the limit: no wait */
	fs_render_lanes(rs, &busy, &waiting);
	assert_int_equal(busy, FS_RENDER_LANES);
	assert_int_equal(waiting, 0);
	struct enterer past = {rs, FS_RENDER_LANES + 1, 0};
	assert_int_equal(pthread_create(&t, NULL, enter, &past), 0);
	until_waiting(&past);
	assert_int_equal(past.entered, 0);
	fs_render_lane_leave(rs, 3);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(past.entered, 1);
	fs_render_lanes(rs, &busy, &waiting);
	assert_int_equal(busy, FS_RENDER_LANES);
	for (uint64_t owner = 1; owner <= FS_RENDER_LANES + 1; owner++)
		if (owner != 3 && owner != 5)
			fs_render_lane_leave(rs, owner);
	/* Owner 5 still renders: a second of its own waits for it. */
	struct enterer again = {rs, 5, 0};
	assert_int_equal(pthread_create(&t, NULL, enter, &again), 0);
	until_waiting(&again);
	assert_int_equal(again.entered, 0);
	fs_render_lane_leave(rs, 5);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(again.entered, 1);
	fs_render_lane_leave(rs, 5);
	fs_render_lanes(rs, &busy, &waiting);
	assert_int_equal(busy, 0);
	fs_render_free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_account_at_the_limit),
		cmocka_unit_test(test_account_one_past),
		cmocka_unit_test(test_shared_once_per_account),
		cmocka_unit_test(test_put_gives_back),
		cmocka_unit_test(test_budget_at_the_limit_and_one_past),
		cmocka_unit_test(test_budget_one_byte_past),
		cmocka_unit_test(test_one_at_the_limit_and_one_past),
		cmocka_unit_test(test_lanes_at_the_limit_and_one_past),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

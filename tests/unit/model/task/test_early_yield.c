/*
 * test_early_yield.c — unit tests for model/task/early_yield.c and
 * early.c's early_window (SPEC §6.5 "Early", §12.8; issue 71): the early
 * import's decisions beside an early disk's readers, on a clock the test
 * names (early_yield_set_clock), without a mount or a database (a model
 * of its early set alone; an entry made as early_begin makes it).
 *
 * The gate (early_yield_gate): no record, full windows; an early start or
 * a disk's open, held until its first read or the open hold (the start's
 * time kept by an open before it passed, not at it); reads, held until
 * quiet; the close, free again; the share (one chunk for every
 * IMGFS_EARLY_SHARE the readers brought) and the time bound (one each
 * IMGFS_EARLY_HOLD_MAX_MS), each at its limit and one short; the knobs at
 * their limits and one past, unset, empty, not a count; the hold's log
 * line and its figures; one record an image, gone when nothing holds it.
 * The window (early_window): a plain import's lowest run of at most 8
 * unclaimed chunks; the profile's chunks first, with the run after them
 * when nobody reads, one at a time and never held while readers read;
 * after them, held (the caller's cancel asked each time) until the
 * readers are quiet, a chunk through by the share; a failed entry.
 *
 * A held gate waits on the set's condition until the next bound, in real
 * time: the test puts its clock a nanosecond before that bound wherever a
 * gate holds but a few (at most 20 ms: the open hold).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "early_int.h"

#define MS INT64_C(1000000)
#define IMG 4242 /* the image of the tests (no row: the model has no database) */
#define T0 (INT64_C(1000) * 1000 * MS) /* the clock's start: 1000 s (0 is "no read") */

/* A model of its early set alone (the gate and the window read no
 * database), on a clock the test names, its log lines recorded. */
struct fx {
	model *m;
	int64_t now;
	int asked;    /* early_window's tests: the held window's cancel calls */
	int stop;     /* ... and after how many it says "cancelled" */
	int64_t step; /* ... and how far each call moves the clock */
	int lines;
	char line[512]; /* the last log line */
};

static int64_t fake_now(void *arg)
{
	return ((struct fx *)arg)->now;
}

static void record(void *arg, const char *line)
{
	struct fx *fx = arg;
	fx->lines++;
	snprintf(fx->line, sizeof(fx->line), "%s", line);
}

static void knobs(const char *quiet, const char *open, const char *max, const char *share)
{
	static const char *names[] = {"IMGFS_EARLY_QUIET_MS", "IMGFS_EARLY_OPEN_HOLD_MS", "IMGFS_EARLY_HOLD_MAX_MS",
	                              "IMGFS_EARLY_SHARE"};
	const char *v[] = {quiet, open, max, share};
	for (int i = 0; i < 4; i++) {
		if (v[i])
			setenv(names[i], v[i], 1);
		else
			unsetenv(names[i]);
	}
}

/* Quiet 10 ms, open hold 20 ms, hold max 50 ms, share 4 (each a
 * different figure: a test tells them apart). */
static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	assert_non_null(fx->m = calloc(1, sizeof(*fx->m)));
	assert_int_equal(early_set_new(&fx->m->early), 0);
	early_yield_set_clock(fx->m->early, fake_now, fx);
	model_set_log(fx->m, record, fx);
	fx->now = T0;
	knobs("10", "20", "50", "4");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	early_set_free(fx->m->early);
	free(fx->m);
	free(fx);
	knobs(NULL, NULL, NULL, NULL);
	return 0;
}

/* The gate at the clock's now, arrived chunks the entry's. */
static int gate(struct fx *fx, int64_t image_id, uint32_t arrived)
{
	struct model_early *set = fx->m->early;
	struct early_import e = {.image_id = image_id, .link_bytes = (uint64_t)arrived * CHUNK};
	int n;
	IMGFS_LOCK(&set->lock, model_early_lock);
	n = early_yield_gate(fx->m, &e);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return n;
}

static bool holding(struct fx *fx, int64_t image_id)
{
	struct model_early *set = fx->m->early;
	struct early_import e = {.image_id = image_id};
	bool h;
	IMGFS_LOCK(&set->lock, model_early_lock);
	h = early_yield_holding(fx->m, &e);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return h;
}

static size_t records(struct fx *fx)
{
	return early_yield_records(fx->m->early);
}

/* A hold that ends: the gate says 0 once (its log line), then windows. */
static void ends(struct fx *fx, int64_t image_id, uint32_t arrived)
{
	assert_int_equal(gate(fx, image_id, arrived), 0);
	assert_false(holding(fx, image_id));
	assert_int_equal(gate(fx, image_id, arrived), EARLY_WINDOW_CHUNKS);
}

/* No early start, no early disk: full windows, no record. */
static void test_no_reader(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(gate(fx, IMG, 0), EARLY_WINDOW_CHUNKS);
	assert_false(holding(fx, IMG));
	early_yield_read(fx->m, IMG); /* a read of no open disk: nothing */
	early_yield_close(fx->m, IMG);
	assert_int_equal(records(fx), 0);
	assert_int_equal(gate(fx, IMG, 0), EARLY_WINDOW_CHUNKS);
}

/* A disk opened, never read: held until the open hold (20 ms), not one
 * nanosecond more; closed, its record goes. */
static void test_open_hold(void **state)
{
	struct fx *fx = *state;
	early_yield_open(fx->m, IMG);
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	fx->now = T0 + 20 * MS - 1;
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	fx->now = T0 + 20 * MS;
	assert_false(holding(fx, IMG));
	ends(fx, IMG, 0);
	assert_int_equal(records(fx), 1); /* still open */
	early_yield_close(fx->m, IMG);
	assert_int_equal(records(fx), 0);
	/* Another image's record is not this one's. */
	early_yield_open(fx->m, IMG + 1);
	assert_false(holding(fx, IMG));
	assert_true(holding(fx, IMG + 1));
	early_yield_close(fx->m, IMG + 1);
	assert_true(holding(fx, IMG + 1)); /* closed unread: the open hold goes on (test_probe_close) */
	fx->now += 20 * MS;
	assert_false(holding(fx, IMG + 1));
}

/* A disk opened and closed without a read (qemu's probe before its real
 * open): the hold goes on until the open hold from the open, and the open
 * after it keeps that time; a close after a read ends the hold at once. */
static void test_probe_close(void **state)
{
	struct fx *fx = *state;
	early_yield_open(fx->m, IMG);
	fx->now = T0 + 5 * MS;
	early_yield_close(fx->m, IMG);
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	fx->now = T0 + 8 * MS;
	early_yield_open(fx->m, IMG); /* the real open: the spell from T0 */
	fx->now = T0 + 20 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 20 * MS;
	assert_false(holding(fx, IMG));
	ends(fx, IMG, 0);
	/* Closed without a read and not opened again: held to the open hold,
	 * not a nanosecond more, then the record goes. */
	early_yield_close(fx->m, IMG);
	fx->now = T0 + 100 * MS;
	early_yield_open(fx->m, IMG);
	fx->now = T0 + 101 * MS;
	early_yield_close(fx->m, IMG);
	fx->now = T0 + 120 * MS - 1;
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	assert_int_equal(records(fx), 1);
	fx->now = T0 + 120 * MS;
	ends(fx, IMG, 0);
	assert_int_equal(records(fx), 0);
	/* A close after a read: free at once. */
	fx->now = T0 + 200 * MS;
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 201 * MS;
	assert_true(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	assert_false(holding(fx, IMG));
	assert_int_equal(records(fx), 0);
}

/* An early start: held from the start until the open hold, the disk not
 * opened yet; its open keeps the start's time; a start whose disk is never
 * opened goes at the next start; an open hold of 0 expects none. */
static void test_expect(void **state)
{
	struct fx *fx = *state;
	early_yield_expect(fx->m, IMG);
	fx->now = T0 + 20 * MS - 1;
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	fx->now = T0 + 20 * MS;
	assert_false(holding(fx, IMG));
	ends(fx, IMG, 0);
	assert_int_equal(records(fx), 0); /* the start's time passed, no disk: it went */
	/* The open 5 ms after the start: the hold still runs from the start. */
	fx->now = T0 + 100 * MS;
	early_yield_expect(fx->m, IMG);
	fx->now += 5 * MS;
	early_yield_open(fx->m, IMG);
	fx->now = T0 + 120 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 120 * MS;
	assert_false(holding(fx, IMG));
	/* An open after the start's hold passed: a new spell from the open. */
	early_yield_close(fx->m, IMG);
	fx->now = T0 + 200 * MS;
	early_yield_expect(fx->m, IMG);
	fx->now = T0 + 220 * MS;
	early_yield_open(fx->m, IMG);
	fx->now = T0 + 240 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 240 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	assert_int_equal(records(fx), 0);
	/* A start (a copy's) whose disk is never opened: gone at the next
	 * start once its time passed, not before. */
	fx->now = T0 + 300 * MS;
	early_yield_expect(fx->m, IMG);
	fx->now = T0 + 320 * MS - 1;
	early_yield_expect(fx->m, IMG + 1);
	assert_int_equal(records(fx), 2);
	fx->now = T0 + 320 * MS;
	early_yield_expect(fx->m, IMG + 1);
	assert_int_equal(records(fx), 1);
	assert_false(holding(fx, IMG));
	fx->now = T0 + 400 * MS;
	early_yield_expect(fx->m, IMG + 2);
	assert_int_equal(records(fx), 1);
	/* An open hold of 0: no start is expected (nor are the others
	 * looked at: IMG + 2's, alive, stays). */
	knobs("10", "0", "50", "4");
	fx->now = T0 + 410 * MS;
	early_yield_expect(fx->m, IMG + 3);
	assert_false(holding(fx, IMG + 3));
	assert_int_equal(records(fx), 1);
}

/* Reads: held until the readers are quiet for 10 ms after the last one,
 * whatever the open hold; two disks open, the first close frees nothing. */
static void test_quiet(void **state)
{
	struct fx *fx = *state;
	knobs("30", "20", "500", "4"); /* the quiet past the open hold */
	early_yield_open(fx->m, IMG);
	early_yield_open(fx->m, IMG);
	fx->now = T0 + 1 * MS;
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 31 * MS - 1;
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	fx->now = T0 + 31 * MS;
	assert_false(holding(fx, IMG));
	/* A read later: held again, from it. */
	fx->now = T0 + 40 * MS;
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 70 * MS - 1;
	assert_true(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	assert_true(holding(fx, IMG)); /* one disk still open */
	assert_int_equal(gate(fx, IMG, 0), 0);
	early_yield_close(fx->m, IMG);
	assert_false(holding(fx, IMG)); /* none open: free, before quiet */
	ends(fx, IMG, 0);
	assert_int_equal(records(fx), 0);
	early_yield_close(fx->m, IMG); /* one close too many: nothing */
	assert_int_equal(records(fx), 0);
	/* The quiet shorter than the open hold: a read ends the open hold. */
	knobs("10", "20", "500", "4");
	fx->now = T0 + 100 * MS;
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 110 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 110 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
}

/* The share: held, one chunk for every 4 the readers brought — at 4 and
 * not at 3; then at 8 more of theirs (the passed chunk not theirs), not 7. */
static void test_share(void **state)
{
	struct fx *fx = *state;
	const uint32_t base = 10;
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 10 * MS - 1; /* a read each time, a nanosecond before the quiet */
	assert_int_equal(gate(fx, IMG, base), 0);
	early_yield_read(fx->m, IMG);
	fx->now += 10 * MS - 1;
	assert_int_equal(gate(fx, IMG, base + 3), 0);
	assert_int_equal(gate(fx, IMG, base + 4), 1);
	early_yield_read(fx->m, IMG);
	fx->now += 10 * MS - 1;
	assert_int_equal(gate(fx, IMG, base + 1 + 8 - 1), 0); /* 7 of theirs: one for 4 given already */
	assert_int_equal(gate(fx, IMG, base + 1 + 8), 1);
	/* Arrived fewer than at the hold's start (not a count this makes):
	 * none of theirs. */
	early_yield_read(fx->m, IMG);
	fx->now += 10 * MS - 1;
	assert_int_equal(gate(fx, IMG, 0), 0);
	/* The share at its limit (1024) and one past it (the default, 8). */
	early_yield_close(fx->m, IMG);
	ends(fx, IMG, 0);
	for (int k = 0; k < 2; k++) {
		uint32_t s = k == 0 ? 1024 : 8;
		knobs("10", "20", "50", k == 0 ? "1024" : "1025");
		early_yield_open(fx->m, IMG);
		early_yield_read(fx->m, IMG);
		fx->now += 10 * MS - 1;
		assert_int_equal(gate(fx, IMG, 0), 0);
		assert_int_equal(gate(fx, IMG, s - 1), 0);
		assert_int_equal(gate(fx, IMG, s), 1);
		early_yield_close(fx->m, IMG);
		ends(fx, IMG, 0);
	}
	/* Not a share: 0, -1, 8x (the default, 8). */
	static const char *bad[] = {"0", "-1", "8x", ""};
	for (size_t k = 0; k < 4; k++) {
		knobs("10", "20", "50", bad[k]);
		early_yield_open(fx->m, IMG);
		early_yield_read(fx->m, IMG);
		fx->now += 10 * MS - 1;
		assert_int_equal(gate(fx, IMG, 0), 0);
		assert_int_equal(gate(fx, IMG, 7), 0);
		assert_int_equal(gate(fx, IMG, 8), 1);
		early_yield_close(fx->m, IMG);
		ends(fx, IMG, 0);
	}
}

/* The time bound: a chunk each 50 ms of the hold, from the hold's start
 * then from the last one let through — at 50 ms, not a nanosecond before;
 * readers reading all along, fetching nothing. */
static void test_time_bound(void **state)
{
	struct fx *fx = *state;
	int64_t held;
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	held = fx->now = T0 + 5 * MS;
	assert_int_equal(gate(fx, IMG, 0), 0); /* the hold begins */
	for (int k = 1; k <= 3; k++) {
		fx->now = held + k * 50 * MS - 2;
		early_yield_read(fx->m, IMG);
		fx->now++;
		assert_int_equal(gate(fx, IMG, 0), 0);
		fx->now++;
		assert_int_equal(gate(fx, IMG, 0), 1);
	}
	/* A chunk let through by time is not the readers': none counted for
	 * the share (4 of theirs still let one through). */
	early_yield_read(fx->m, IMG);
	assert_int_equal(gate(fx, IMG, 3 + 3), 0);
	assert_int_equal(gate(fx, IMG, 3 + 4), 1);
	early_yield_close(fx->m, IMG);
	ends(fx, IMG, 0);
}

/* The knobs' limits: quiet and open hold at 600000 ms and one past (the
 * default, 30000), the hold's bound at 3600000 and one past (30000). */
static void test_knob_limits(void **state)
{
	struct fx *fx = *state;
	knobs("600000", "600000", "3600000", "4");
	early_yield_open(fx->m, IMG);
	fx->now = T0 + 600000 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 600000 * MS;
	assert_false(holding(fx, IMG));
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 1200000 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 1200000 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	knobs("600001", "600001", "3600000", "4");
	fx->now = T0;
	early_yield_open(fx->m, IMG);
	fx->now = T0 + 30000 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 30000 * MS;
	assert_false(holding(fx, IMG));
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 60000 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 60000 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	/* The hold's bound, a read a nanosecond before it (quiet 600 s). */
	for (int k = 0; k < 2; k++) {
		int64_t bound = (k == 0 ? 3600000 : 30000) * MS, t;
		knobs("600000", "20", k == 0 ? "3600000" : "3600001", "4");
		early_yield_open(fx->m, IMG);
		early_yield_read(fx->m, IMG);
		t = fx->now += 600000 * MS - 1; /* the hold begins a nanosecond before the quiet */
		assert_int_equal(gate(fx, IMG, 0), 0);
		fx->now = t + bound - 1;
		early_yield_read(fx->m, IMG);
		assert_int_equal(gate(fx, IMG, 0), 0);
		fx->now = t + bound;
		assert_int_equal(gate(fx, IMG, 0), 1);
		early_yield_close(fx->m, IMG);
		ends(fx, IMG, 0);
	}
}

/* The knobs unset, empty or not a count: the defaults (30000 ms each,
 * a share of 8); 0 a count (no quiet: a read holds nothing). */
static void test_knob_defaults(void **state)
{
	struct fx *fx = *state;
	for (int k = 0; k < 3; k++) {
		static const char *v[] = {NULL, "", "-1"};
		knobs(v[k], v[k], v[k], v[k]);
		fx->now = T0 + k * 100000 * MS;
		early_yield_open(fx->m, IMG);
		fx->now += 30000 * MS - 1;
		assert_true(holding(fx, IMG));
		assert_int_equal(gate(fx, IMG, 0), 0); /* the hold begins */
		assert_int_equal(gate(fx, IMG, 7), 0);
		fx->now++;
		assert_false(holding(fx, IMG));
		early_yield_read(fx->m, IMG);
		fx->now += 30000 * MS - 2; /* the hold's 30000 ms, one short */
		assert_true(holding(fx, IMG));
		assert_int_equal(gate(fx, IMG, 7), 0);
		fx->now++;
		assert_int_equal(gate(fx, IMG, 7), 1); /* the bound by time: 30000 ms */
		assert_int_equal(gate(fx, IMG, 8), 0);
		assert_int_equal(gate(fx, IMG, 9), 1); /* the share: 8 */
		early_yield_close(fx->m, IMG);
		ends(fx, IMG, 0);
	}
	knobs("0", "20", "50", "4");
	fx->now = T0 + 1000000 * MS;
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
}

/* The hold's log line: how long, the reads, the first one's time after
 * the open, the longest gap, the chunks let through. */
static void test_log_figures(void **state)
{
	struct fx *fx = *state;
	char want[512];
	knobs("12", "20", "1000", "4");
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG); /* 0 ms after the open */
	fx->now = T0 + 10 * MS;
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 21 * MS;
	early_yield_read(fx->m, IMG); /* the longest gap: 11 ms */
	fx->now = T0 + 31 * MS;
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 43 * MS - 1;
	assert_int_equal(gate(fx, IMG, 0), 0); /* the hold begins */
	assert_int_equal(gate(fx, IMG, 4), 1);
	early_yield_close(fx->m, IMG);
	fx->now = T0 + 50 * MS;
	assert_int_equal(fx->lines, 0);
	ends(fx, IMG, 4);
	assert_int_equal(fx->lines, 1);
	snprintf(want, sizeof(want),
	         "early import of image %d: windows held 7 ms beside its readers (4 reads, the first 0 ms after the "
	         "start or open, the longest gap between reads 11 ms; 1 chunks let through)",
	         IMG);
	assert_string_equal(fx->line, want);
	/* A new spell: its own figures (the first read 5 ms after the open). */
	fx->now = T0 + 100 * MS;
	early_yield_open(fx->m, IMG);
	fx->now += 5 * MS;
	early_yield_read(fx->m, IMG);
	fx->now += 12 * MS - 1;
	assert_int_equal(gate(fx, IMG, 0), 0);
	early_yield_close(fx->m, IMG);
	ends(fx, IMG, 0);
	snprintf(want, sizeof(want),
	         "early import of image %d: windows held 0 ms beside its readers (1 reads, the first 5 ms after the "
	         "start or open, the longest gap between reads 0 ms; 0 chunks let through)",
	         IMG);
	assert_string_equal(fx->line, want);
}

/* What does not start a spell again: an early start while a disk is open
 * and read, a second open; an open a nanosecond before the start's hold
 * passed keeps the start's time; a read of no open disk counts for
 * nothing, nor a close of none; the open hold read anew. */
static void test_spells(void **state)
{
	struct fx *fx = *state;
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 5 * MS;
	early_yield_expect(fx->m, IMG); /* another instance's start */
	early_yield_open(fx->m, IMG);   /* and its disk */
	fx->now = T0 + 10 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 10 * MS; /* quiet since the read: not the open hold of either */
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	early_yield_close(fx->m, IMG);
	assert_int_equal(records(fx), 0);
	/* Opened a nanosecond before the start's hold passed. */
	fx->now = T0 + 100 * MS;
	early_yield_expect(fx->m, IMG);
	fx->now = T0 + 120 * MS - 1;
	early_yield_open(fx->m, IMG);
	fx->now = T0 + 120 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	/* A read before the disk's open: the start's hold, not the quiet. */
	fx->now = T0 + 200 * MS;
	early_yield_expect(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	fx->now = T0 + 220 * MS - 1;
	assert_true(holding(fx, IMG));
	/* A close of no open disk: the open after it is the first. */
	early_yield_close(fx->m, IMG);
	early_yield_open(fx->m, IMG);
	assert_true(holding(fx, IMG)); /* from the start's time */
	fx->now = T0 + 220 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	/* The open hold is read each time (20, then 40 ms): an early start's
	 * hold ends at the time it set, whatever the knob says now. */
	fx->now = T0 + 300 * MS;
	early_yield_expect(fx->m, IMG);
	knobs("10", "40", "50", "4");
	fx->now = T0 + 320 * MS - 1;
	assert_true(holding(fx, IMG));
	fx->now = T0 + 320 * MS;
	assert_false(holding(fx, IMG));
}

/* A share of 1 (the smallest): each chunk of theirs lets one through. */
static void test_share_one(void **state)
{
	struct fx *fx = *state;
	knobs("10", "20", "50", "1");
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	fx->now += 10 * MS - 1;
	assert_int_equal(gate(fx, IMG, 10), 0);
	assert_int_equal(gate(fx, IMG, 11), 1);
	assert_int_equal(gate(fx, IMG, 12), 0); /* the chunk let through: not theirs */
	assert_int_equal(gate(fx, IMG, 13), 1);
	early_yield_close(fx->m, IMG);
	ends(fx, IMG, 13);
}

/* ---- early_window ---------------------------------------------------------- */

#define CHUNKS 24

/* An entry turned to windows (as early_begin makes it): CHUNKS chunks,
 * the first held ones arrived, the profile plan[0..nplan). */
static struct early_import *entry(struct fx *fx, uint32_t held, const uint32_t *plan, uint32_t nplan)
{
	struct early_import *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	(void)fx;
	e->image_id = IMG;
	e->ready = true;
	e->nchunks = CHUNKS;
	e->total = (uint64_t)CHUNKS * CHUNK;
	assert_non_null(e->arrived = calloc(1, CHUNKS / 8 + 1));
	assert_non_null(e->inflight = calloc(1, CHUNKS / 8 + 1));
	for (uint32_t i = 0; i < held; i++)
		bit_set(e->arrived, i, true);
	e->arrived_bytes = e->link_bytes = (uint64_t)held * CHUNK;
	if (nplan) {
		assert_non_null(e->plan = malloc(nplan * sizeof(*plan)));
		memcpy(e->plan, plan, nplan * sizeof(*plan));
		e->nplan = nplan;
	}
	return e;
}

/* Chunk i arrived by a reader (as early_fetch's sink sets it). */
static void reader_got(struct fx *fx, struct early_import *e, uint32_t i)
{
	IMGFS_LOCK(&fx->m->early->lock, model_early_lock);
	bit_set(e->arrived, i, true);
	e->arrived_bytes += CHUNK;
	e->link_bytes += CHUNK;
	IMGFS_UNLOCK(&fx->m->early->lock, model_early_lock);
}

/* Each call of the held window's cancel: the clock moves fx->step, and
 * after fx->stop calls the import is cancelled. */
static bool cancel(void *arg)
{
	struct fx *fx = arg;
	fx->now += fx->step;
	return ++fx->asked >= fx->stop;
}

static int window(struct fx *fx, struct early_import *e, uint32_t *first, uint32_t *end)
{
	char why[256] = "";
	*first = *end = UINT32_MAX;
	return early_window(fx->m, e, first, end, cancel, fx, why, sizeof(why));
}

#define WINDOW(want_first, want_end)                                                                                \
	do {                                                                                                           \
		uint32_t f_, e_;                                                                                           \
		assert_int_equal(window(fx, e, &f_, &e_), 1);                                                              \
		assert_int_equal(f_, want_first);                                                                          \
		assert_int_equal(e_, want_end);                                                                            \
	} while (0)

/* A plain import (no early disk): the lowest run of at most 8 chunks
 * neither arrived nor in flight, never asking its cancel, the last chunk
 * alone too; a reader's chunk alone left, waited for until the stall
 * timeout; 0 at the end, readers or not. */
static void test_window_plain(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, 2, NULL, 0);
	uint32_t f, n;
	fx->stop = 1;
	reader_got(fx, e, 5);
	reader_got(fx, e, 18);
	WINDOW(2, 5);
	WINDOW(6, 14); /* 8 */
	WINDOW(14, 18);
	WINDOW(19, 24); /* to the end */
	assert_int_equal(fx->asked, 0);
	/* All arrived but 20 (in flight) and 23 (given back): 23 alone. */
	for (uint32_t i = 0; i < CHUNKS; i++)
		if (bit(e->inflight, i) && i != 20) {
			bit_set(e->inflight, i, false);
			if (i != 23)
				reader_got(fx, e, i);
		}
	WINDOW(23, 24);
	assert_int_equal(fx->asked, 0);
	/* Given back while readers read: the last chunk is held too (the
	 * cancel asked), then, the disk closed, given (the hold's end asks). */
	bit_set(e->inflight, 23, false);
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	fx->now += 10 * MS - 1;
	assert_int_equal(window(fx, e, &f, &n), -ECANCELED);
	assert_int_equal(fx->asked, 1);
	early_yield_close(fx->m, IMG);
	fx->stop = 1000;
	WINDOW(23, 24);
	assert_int_equal(fx->asked, 2);
	bit_set(e->inflight, 23, false);
	reader_got(fx, e, 23);
	/* Only a reader's chunk left, in flight: waited for, the import's
	 * stall timeout (1 s here), then -ETIMEDOUT with the reason. */
	{
		char why[256] = "";
		setenv("IMGFS_IMPORT_STALL_TIMEOUT", "1", 1);
		assert_int_equal(early_window(fx->m, e, &f, &n, cancel, fx, why, sizeof(why)), -ETIMEDOUT);
		unsetenv("IMGFS_IMPORT_STALL_TIMEOUT");
		assert_string_equal(why, "the transfer stalled: nothing received for 1 s");
	}
	bit_set(e->inflight, 20, false);
	reader_got(fx, e, 20);
	/* Every chunk arrived: 0, readers reading or not, no cancel asked. */
	assert_int_equal(window(fx, e, &f, &n), 0);
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	assert_true(holding(fx, IMG));
	fx->stop = 1;
	assert_int_equal(window(fx, e, &f, &n), 0);
	assert_int_equal(fx->asked, 2);
	early_yield_close(fx->m, IMG);
	early_entry_free(e);
}

/* Chunks a reader fetches pieces of (`piecing`, early_part.c) are left
 * to it, by a run and by the profile, until their pieces are in; then the
 * window takes them. */
static void test_window_pieces(void **state)
{
	struct fx *fx = *state;
	static const uint32_t order[] = {12, 20};
	struct early_import *e = entry(fx, 0, order, 2);
	assert_non_null(e->piecing = calloc(1, CHUNKS / 8 + 1));
	bit_set(e->piecing, 3, true);
	bit_set(e->piecing, 12, true);
	bit_set(e->piecing, 0, true);
	fx->stop = 1;
	WINDOW(20, 24); /* the profile's 12 is a reader's: its 20 first */
	WINDOW(1, 3);   /* the lowest run, from 1 (0 a reader's), to the next reader's */
	WINDOW(4, 12);
	WINDOW(13, 20);
	bit_set(e->piecing, 3, false); /* its pieces are in */
	WINDOW(3, 4);
	bit_set(e->piecing, 0, false);
	bit_set(e->piecing, 12, false);
	WINDOW(0, 1);
	WINDOW(12, 13);
	assert_int_equal(fx->asked, 0);
	early_entry_free(e);
}

/* The profile's chunks first: with nobody reading, each with the run of
 * unclaimed chunks after it (at most 8); while readers read, the chunk
 * alone and never held; after the profile, held while readers read (the
 * cancel asked each time: cancelled, -ECANCELED), then the lowest run. */
static void test_window_profile(void **state)
{
	struct fx *fx = *state;
	static const uint32_t order[] = {19, 14, 15, 21, 13, 3};
	struct early_import *e = entry(fx, 0, order, 6);
	uint32_t f, n;
	reader_got(fx, e, 21); /* the profile's: arrived, skipped */
	fx->stop = 1;
	WINDOW(19, 21); /* nobody reads: the run after it, to the arrived chunk */
	WINDOW(14, 19); /* 14..18: 15 is the profile's, taken with it */
	assert_int_equal(fx->asked, 0);
	/* Readers now: 13, then 3 (the profile's last), one chunk each, not
	 * held. */
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	assert_true(holding(fx, IMG));
	WINDOW(13, 14);
	WINDOW(3, 4);
	assert_int_equal(fx->asked, 0);
	/* After the profile: held, a nanosecond before the quiet each time;
	 * the cancel asked, and cancelled at its third ask. */
	fx->step = 1;
	fx->now = T0 + 10 * MS - 4;
	fx->stop = 3;
	assert_int_equal(window(fx, e, &f, &n), -ECANCELED);
	assert_int_equal(fx->asked, 3);
	assert_int_equal(f, UINT32_MAX);
	/* Not cancelled: at the quiet, the hold ends (the cancel asked after
	 * its log line) and the lowest run goes. */
	fx->asked = 0;
	fx->stop = 1000;
	fx->now = T0 + 10 * MS - 2;
	WINDOW(0, 3);
	assert_int_equal(fx->asked, 3); /* held at -2 and -1, then the hold's end (its log line) */
	assert_int_equal(fx->lines, 1);
	/* The share lets one chunk through while held: 4 of the readers'. */
	fx->now = T0 + 20 * MS;
	early_yield_read(fx->m, IMG);
	fx->asked = 0;
	fx->step = 0;
	fx->stop = 1;
	fx->now += 10 * MS - 1;
	assert_int_equal(window(fx, e, &f, &n), -ECANCELED); /* the hold begins */
	for (uint32_t i = 4; i < 8; i++)
		reader_got(fx, e, i);
	WINDOW(8, 9);
	early_yield_close(fx->m, IMG);
	fx->asked = 0;
	fx->stop = 1000;
	WINDOW(9, 13); /* the hold's end, then 9..12 */
	assert_int_equal(fx->asked, 1);
	early_entry_free(e);
}

/* A failed entry: -EIO with its reason; failed for readers only, windows. */
static void test_window_failed(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, 0, NULL, 0);
	char why[256] = "";
	uint32_t f = UINT32_MAX, n = UINT32_MAX;
	fx->stop = 1;
	e->failed = -EIO;
	e->readers_only = true;
	WINDOW(0, 8);
	e->readers_only = false;
	snprintf(e->why, sizeof(e->why), "the file changed on the server");
	assert_int_equal(early_window(fx->m, e, &f, &n, cancel, fx, why, sizeof(why)), -EIO);
	assert_string_equal(why, "the file changed on the server");
	assert_int_equal(f, UINT32_MAX);
	early_entry_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_knob_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_knob_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_figures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spells, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_profile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_failed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

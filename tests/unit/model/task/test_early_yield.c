/*
 * test_early_yield.c — unit tests for model/task/early_yield.c and
 * early.c's early_window (SPEC §6.5 "Early", §12.8; issue 71): the early
 * import's decisions beside an early disk's readers, on a clock the test
 * names (early_yield_set_clock), without a mount.
 *
 * The gate (early_yield_gate): no record, full windows; an early start or
 * a disk's open, held until its first read or the open hold (the start's
 * time kept by the open); reads, held until quiet; the close, free again;
 * the share (one chunk for every IMGFS_EARLY_SHARE the readers brought)
 * and the time bound (one each IMGFS_EARLY_HOLD_MAX_MS), each at its limit
 * and one short; the knobs at their limits and one past.  The window
 * (early_window): a plain import's lowest run of at most 8 unclaimed
 * chunks; the profile's chunks first, with the run after them when nobody
 * reads, one at a time and never held while readers read; after them,
 * held (the caller's cancel asked each time) until the readers are quiet.
 *
 * A held gate waits on the set's condition until the next bound, in real
 * time: the test puts its clock a nanosecond before that bound wherever a
 * gate holds, so no wait is longer than a nanosecond.
 */
#include "early_int.h"
#include "test_util.h"

#define MiB (1u << 20)
#define MS INT64_C(1000000)
#define IMG 4242 /* an image of the gate's tests: no entry, no row */
#define T0 (INT64_C(1000) * 1000 * MS) /* the clock's start: 1000 s (0 is "no read") */

struct fake_clock {
	int64_t now;
	int asked;  /* early_window's tests: the held window's cancel calls */
	int stop;   /* ... and after how many it says "cancelled" */
	int64_t step; /* ... and how far each call moves the clock */
};

static int64_t fake_now(void *arg)
{
	return ((struct fake_clock *)arg)->now;
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

/* The set of fx's model on clock c: quiet 10 ms, open hold 20 ms, hold
 * max 50 ms, share 4 (each a different figure: a test tells them apart). */
static struct model_early *on_clock(struct ut_fx *fx, struct fake_clock *c)
{
	memset(c, 0, sizeof(*c));
	c->now = T0;
	knobs("10", "20", "50", "4");
	early_yield_set_clock(fx->m->early, fake_now, c);
	return fx->m->early;
}

static int teardown(void **state)
{
	struct ut_fx *fx = *state;
	early_yield_set_clock(fx->m->early, NULL, NULL);
	knobs(NULL, NULL, NULL, NULL);
	return ut_teardown(state);
}

/* The gate at the clock's now, arrived chunks the entry's. */
static int gate(struct ut_fx *fx, int64_t image_id, uint32_t arrived)
{
	struct model_early *set = fx->m->early;
	struct early_import e = {.image_id = image_id, .arrived_bytes = (uint64_t)arrived * CHUNK};
	int n;
	IMGFS_LOCK(&set->lock, model_early_lock);
	n = early_yield_gate(fx->m, &e);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return n;
}

static bool holding(struct ut_fx *fx, int64_t image_id)
{
	struct model_early *set = fx->m->early;
	struct early_import e = {.image_id = image_id};
	bool h;
	IMGFS_LOCK(&set->lock, model_early_lock);
	h = early_yield_holding(fx->m, &e);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return h;
}

static size_t records(struct ut_fx *fx)
{
	return early_yield_records(fx->m->early);
}

/* A hold that ends: the gate says 0 once (its log line), then windows. */
static void ends(struct ut_fx *fx, int64_t image_id, uint32_t arrived)
{
	assert_int_equal(gate(fx, image_id, arrived), 0);
	assert_false(holding(fx, image_id));
	assert_int_equal(gate(fx, image_id, arrived), EARLY_WINDOW_CHUNKS);
}

/* No early start, no early disk: full windows, no record. */
static void test_no_reader(void **state)
{
	struct ut_fx *fx = *state;
	struct fake_clock c;
	on_clock(fx, &c);
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
	struct ut_fx *fx = *state;
	struct fake_clock c;
	on_clock(fx, &c);
	early_yield_open(fx->m, IMG);
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	c.now = T0 + 20 * MS - 1;
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	c.now = T0 + 20 * MS;
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
	assert_false(holding(fx, IMG + 1));
}

/* An early start: held from the start until the open hold, the disk not
 * opened yet; its open keeps the start's time; a start whose disk is never
 * opened goes at the next start; an open hold of 0 expects none. */
static void test_expect(void **state)
{
	struct ut_fx *fx = *state;
	struct fake_clock c;
	on_clock(fx, &c);
	early_yield_expect(fx->m, IMG);
	c.now = T0 + 20 * MS - 1;
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	c.now = T0 + 20 * MS;
	assert_false(holding(fx, IMG));
	ends(fx, IMG, 0);
	assert_int_equal(records(fx), 0); /* the start's time passed, no disk: it went */
	/* The open 5 ms after the start: the hold still runs from the start. */
	c.now = T0 + 100 * MS;
	early_yield_expect(fx->m, IMG);
	c.now += 5 * MS;
	early_yield_open(fx->m, IMG);
	c.now = T0 + 120 * MS - 1;
	assert_true(holding(fx, IMG));
	c.now = T0 + 120 * MS;
	assert_false(holding(fx, IMG));
	/* An open after the start's hold passed: a new spell from the open. */
	early_yield_close(fx->m, IMG);
	c.now = T0 + 200 * MS;
	early_yield_expect(fx->m, IMG);
	c.now = T0 + 220 * MS;
	early_yield_open(fx->m, IMG);
	c.now = T0 + 240 * MS - 1;
	assert_true(holding(fx, IMG));
	c.now = T0 + 240 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	assert_int_equal(records(fx), 0);
	/* A start (a copy's) whose disk is never opened: gone at the next
	 * start once its time passed, not before. */
	c.now = T0 + 300 * MS;
	early_yield_expect(fx->m, IMG);
	c.now = T0 + 320 * MS - 1;
	early_yield_expect(fx->m, IMG + 1);
	assert_int_equal(records(fx), 2);
	c.now = T0 + 320 * MS;
	early_yield_expect(fx->m, IMG + 1);
	assert_int_equal(records(fx), 1);
	assert_false(holding(fx, IMG));
	c.now = T0 + 400 * MS;
	early_yield_expect(fx->m, IMG + 2);
	assert_int_equal(records(fx), 1);
	/* An open hold of 0: no start is expected. */
	knobs("10", "0", "50", "4");
	c.now = T0 + 500 * MS;
	early_yield_expect(fx->m, IMG + 3);
	assert_false(holding(fx, IMG + 3));
	assert_int_equal(records(fx), 1);
}

/* Reads: held until the readers are quiet for 10 ms after the last one,
 * whatever the open hold; two disks open, the first close frees nothing. */
static void test_quiet(void **state)
{
	struct ut_fx *fx = *state;
	struct fake_clock c;
	on_clock(fx, &c);
	knobs("30", "20", "500", "4"); /* the quiet past the open hold */
	early_yield_open(fx->m, IMG);
	early_yield_open(fx->m, IMG);
	c.now = T0 + 1 * MS;
	early_yield_read(fx->m, IMG);
	c.now = T0 + 31 * MS - 1;
	assert_true(holding(fx, IMG));
	assert_int_equal(gate(fx, IMG, 0), 0);
	c.now = T0 + 31 * MS;
	assert_false(holding(fx, IMG));
	/* A read later: held again, from it. */
	c.now = T0 + 40 * MS;
	early_yield_read(fx->m, IMG);
	c.now = T0 + 70 * MS - 1;
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
	c.now = T0 + 100 * MS;
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	c.now = T0 + 110 * MS - 1;
	assert_true(holding(fx, IMG));
	c.now = T0 + 110 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
}

/* The share: held, one chunk for every 4 the readers brought — at 4 and
 * not at 3; then at 8 more of theirs (the passed chunk not theirs), not 7. */
static void test_share(void **state)
{
	struct ut_fx *fx = *state;
	struct fake_clock c;
	const uint32_t base = 10;
	on_clock(fx, &c);
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	c.now = T0 + 10 * MS - 1; /* a read each time, a nanosecond before the quiet */
	assert_int_equal(gate(fx, IMG, base), 0);
	early_yield_read(fx->m, IMG);
	c.now += 10 * MS - 1;
	assert_int_equal(gate(fx, IMG, base + 3), 0);
	assert_int_equal(gate(fx, IMG, base + 4), 1);
	early_yield_read(fx->m, IMG);
	c.now += 10 * MS - 1;
	assert_int_equal(gate(fx, IMG, base + 1 + 8 - 1), 0); /* 7 of theirs: one for 4 given already */
	assert_int_equal(gate(fx, IMG, base + 1 + 8), 1);
	/* Arrived fewer than at the hold's start (not a count this makes):
	 * none of theirs. */
	early_yield_read(fx->m, IMG);
	c.now += 10 * MS - 1;
	assert_int_equal(gate(fx, IMG, 0), 0);
	/* The share at its limit (1024) and one past it (the default, 8). */
	early_yield_close(fx->m, IMG);
	ends(fx, IMG, 0);
	for (int k = 0; k < 2; k++) {
		uint32_t s = k == 0 ? 1024 : 8;
		knobs("10", "20", "50", k == 0 ? "1024" : "1025");
		early_yield_open(fx->m, IMG);
		early_yield_read(fx->m, IMG);
		c.now += 10 * MS - 1;
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
		c.now += 10 * MS - 1;
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
	struct ut_fx *fx = *state;
	struct fake_clock c;
	int64_t held;
	on_clock(fx, &c);
	early_yield_open(fx->m, IMG);
	early_yield_read(fx->m, IMG);
	held = c.now = T0 + 5 * MS;
	assert_int_equal(gate(fx, IMG, 0), 0); /* the hold begins */
	for (int k = 1; k <= 3; k++) {
		c.now = held + k * 50 * MS - 2;
		early_yield_read(fx->m, IMG);
		c.now++;
		assert_int_equal(gate(fx, IMG, 0), 0);
		c.now++;
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
	struct ut_fx *fx = *state;
	struct fake_clock c;
	on_clock(fx, &c);
	knobs("600000", "600000", "3600000", "4");
	early_yield_open(fx->m, IMG);
	c.now = T0 + 600000 * MS - 1;
	assert_true(holding(fx, IMG));
	c.now = T0 + 600000 * MS;
	assert_false(holding(fx, IMG));
	early_yield_read(fx->m, IMG);
	c.now = T0 + 1200000 * MS - 1;
	assert_true(holding(fx, IMG));
	c.now = T0 + 1200000 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	knobs("600001", "600001", "3600000", "4");
	c.now = T0;
	early_yield_open(fx->m, IMG);
	c.now = T0 + 30000 * MS - 1;
	assert_true(holding(fx, IMG));
	c.now = T0 + 30000 * MS;
	assert_false(holding(fx, IMG));
	early_yield_read(fx->m, IMG);
	c.now = T0 + 60000 * MS - 1;
	assert_true(holding(fx, IMG));
	c.now = T0 + 60000 * MS;
	assert_false(holding(fx, IMG));
	early_yield_close(fx->m, IMG);
	/* The hold's bound, a read a nanosecond before it (quiet 600 s). */
	for (int k = 0; k < 2; k++) {
		int64_t bound = (k == 0 ? 3600000 : 30000) * MS, t;
		knobs("600000", "20", k == 0 ? "3600000" : "3600001", "4");
		early_yield_open(fx->m, IMG);
		early_yield_read(fx->m, IMG);
		t = c.now += 600000 * MS - 1; /* the hold begins a nanosecond before the quiet */
		assert_int_equal(gate(fx, IMG, 0), 0);
		c.now = t + bound - 1;
		early_yield_read(fx->m, IMG);
		assert_int_equal(gate(fx, IMG, 0), 0);
		c.now = t + bound;
		assert_int_equal(gate(fx, IMG, 0), 1);
		early_yield_close(fx->m, IMG);
		ends(fx, IMG, 0);
	}
}

/* ---- early_window ---------------------------------------------------------- */

#define URL "http://127.0.0.1:1/golden.raw"
#define CHUNKS 24

static int64_t importing(struct ut_fx *fx, const char *name)
{
	struct model_err err = {0};
	struct model_image img;
	int64_t acc = ut_account_once(fx, "alice");
	assert_int_equal(model_image_create(fx->m, fx->r1, acc, MODEL_FOLDER_PRIVATE, name, &img, &err), 0);
	assert_int_equal(model_image_import_url(fx->m, img.id, URL, &err), 0);
	return img.id;
}

/* The entry of image id turned to windows: CHUNKS chunks, the first held
 * ones arrived. */
static struct early_import *entry(struct ut_fx *fx, int64_t id, uint32_t held)
{
	struct early_import *e = NULL;
	blob_manifest *none = NULL;
	assert_int_equal(early_want(fx->m, id, fx->r1), 0);
	assert_int_equal(blob_manifest_new(&none, (uint64_t)CHUNKS * MiB), 0);
	assert_int_equal(early_begin(fx->m, id, URL, "\"v1\"", (uint64_t)CHUNKS * MiB, none, (uint64_t)held * MiB, &e),
	                 0);
	blob_manifest_free(none);
	return e;
}

/* Chunk i arrived by a reader (another host's: its row, a hole). */
static void reader_got(struct ut_fx *fx, struct early_import *e, uint32_t i)
{
	static const chunk_id hole = {{0}};
	assert_int_equal(early_got_add(fx->m, e, i, &hole), 0);
	assert_int_equal(early_got_pick(fx->m, e), 1);
}

/* Each call of the held window's cancel: the clock moves c->step, and
 * after c->stop calls the import is cancelled. */
static bool cancel(void *arg)
{
	struct fake_clock *c = arg;
	c->now += c->step;
	return ++c->asked >= c->stop;
}

static int window(struct ut_fx *fx, struct early_import *e, struct fake_clock *c, uint32_t *first, uint32_t *end)
{
	char why[256] = "";
	*first = *end = UINT32_MAX;
	return early_window(fx->m, e, first, end, cancel, c, why, sizeof(why));
}

#define WINDOW(want_first, want_end)                                                                                \
	do {                                                                                                           \
		uint32_t f_, e_;                                                                                           \
		assert_int_equal(window(fx, e, &c, &f_, &e_), 1);                                                          \
		assert_int_equal(f_, want_first);                                                                          \
		assert_int_equal(e_, want_end);                                                                            \
	} while (0)

/* A plain import (no early disk): the lowest run of at most 8 chunks
 * neither arrived nor in flight, never asking its cancel; 0 at the end. */
static void test_window_plain(void **state)
{
	struct ut_fx *fx = *state;
	struct fake_clock c;
	int64_t id;
	struct early_import *e;
	uint32_t f, n;
	on_clock(fx, &c);
	c.stop = 1;
	id = importing(fx, "golden");
	e = entry(fx, id, 2);
	reader_got(fx, e, 5);
	reader_got(fx, e, 18);
	WINDOW(2, 5);
	WINDOW(6, 14); /* 8 */
	WINDOW(14, 18);
	WINDOW(19, 24);
	assert_int_equal(c.asked, 0);
	/* Every chunk arrived: 0. */
	IMGFS_LOCK(&fx->m->early->lock, model_early_lock);
	for (uint32_t i = 0; i < CHUNKS; i++)
		if (bit(e->inflight, i)) {
			bit_set(e->inflight, i, false);
			bit_set(e->arrived, i, true);
		}
	IMGFS_UNLOCK(&fx->m->early->lock, model_early_lock);
	assert_int_equal(window(fx, e, &c, &f, &n), 0);
	assert_int_equal(c.asked, 0);
	early_end(fx->m, e);
}

/* The profile's chunks first: with nobody reading, each with the run of
 * unclaimed chunks after it (at most 8); while readers read, the chunk
 * alone and never held; after the profile, held while readers read (the
 * cancel asked each time: cancelled, -ECANCELED), then the lowest run. */
static void test_window_profile(void **state)
{
	struct ut_fx *fx = *state;
	static const uint32_t order[] = {19, 14, 15, 13, 3};
	struct fake_clock c;
	int64_t id;
	struct early_import *e;
	uint32_t f, n;
	on_clock(fx, &c);
	assert_int_equal(early_profile_put(fx->m, URL, order, 5), 0);
	id = importing(fx, "golden");
	e = entry(fx, id, 0);
	reader_got(fx, e, 21);
	c.stop = 1;
	WINDOW(19, 21); /* nobody reads: the run after it, to the arrived chunk */
	WINDOW(14, 19); /* 14..18: 15 is the profile's, taken with it */
	assert_int_equal(c.asked, 0);
	/* Readers now: 13, then 3, one chunk each, not held. */
	early_yield_open(fx->m, id);
	early_yield_read(fx->m, id);
	assert_true(holding(fx, id));
	WINDOW(13, 14);
	WINDOW(3, 4);
	assert_int_equal(c.asked, 0);
	/* After the profile: held, a nanosecond before the quiet each time;
	 * the cancel asked, and cancelled at its third ask. */
	c.step = 1;
	c.now = T0 + 10 * MS - 4;
	c.stop = 3;
	assert_int_equal(window(fx, e, &c, &f, &n), -ECANCELED);
	assert_int_equal(c.asked, 3);
	assert_int_equal(f, UINT32_MAX);
	/* Not cancelled: at the quiet, the hold ends (the cancel asked after
	 * its log line) and the lowest run goes. */
	c.asked = 0;
	c.stop = 1000;
	c.now = T0 + 10 * MS - 2;
	WINDOW(0, 3);
	assert_int_equal(c.asked, 3); /* held at -2 and -1, then the hold's end (its log line) */
	/* The share lets one chunk through while held: 4 of the readers'. */
	c.now = T0 + 20 * MS;
	early_yield_read(fx->m, id);
	c.asked = 0;
	c.step = 0;
	c.stop = 1;
	assert_int_equal(window(fx, e, &c, &f, &n), -ECANCELED); /* the hold begins */
	for (uint32_t i = 4; i < 8; i++)
		reader_got(fx, e, i);
	WINDOW(8, 9);
	early_yield_close(fx->m, id);
	c.asked = 0;
	c.stop = 1000;
	WINDOW(9, 13); /* the hold's end, then 9..12 */
	assert_int_equal(c.asked, 1);
	early_end(fx->m, e);
}

/* A failed entry: -EIO with its reason; failed for readers only, windows. */
static void test_window_failed(void **state)
{
	struct ut_fx *fx = *state;
	struct fake_clock c;
	char why[256] = "";
	int64_t id, id2;
	struct early_import *e, *e2;
	uint32_t f = UINT32_MAX, n = UINT32_MAX;
	on_clock(fx, &c);
	c.stop = 1;
	id = importing(fx, "golden");
	e = entry(fx, id, 0);
	early_fail_readers(fx->m, id, "readers only");
	WINDOW(0, 8);
	early_end(fx->m, e);
	id2 = importing(fx, "other");
	e2 = entry(fx, id2, 0);
	early_fail(fx->m, id2, "the file changed on the server");
	assert_int_equal(early_window(fx->m, e2, &f, &n, cancel, &c, why, sizeof(why)), -EIO);
	assert_string_equal(why, "the file changed on the server");
	assert_int_equal(f, UINT32_MAX);
	early_end(fx->m, e2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_reader, ut_setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_hold, ut_setup, teardown),
		cmocka_unit_test_setup_teardown(test_expect, ut_setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet, ut_setup, teardown),
		cmocka_unit_test_setup_teardown(test_share, ut_setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_bound, ut_setup, teardown),
		cmocka_unit_test_setup_teardown(test_knob_limits, ut_setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_plain, ut_setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_profile, ut_setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_failed, ut_setup, teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

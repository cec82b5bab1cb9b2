/*
 * early_yield.c — an early import gives way to its readers (SPEC §6.5
 * "Early", §12.8; docs/design.md "Early instances", "The import gives
 * way").
 *
 * Who calls it: early_disk.c (an early disk opened, read, closed:
 * early_yield_open, _read, _close), instance.c (an early start: the disk
 * will be opened soon, early_yield_expect), early.c (the import's next
 * window: early_yield_gate, under the set's lock).
 *
 * Why: a guest's boot shares the source's link with the import.  Once an
 * early start registered, the import ran its windows back to back at the
 * link's speed, so what arrived by the login prompt was the import's
 * progress (54x the bytes the guest read), and each of the guest's reads
 * queued behind a window.  So the import's background windows (not the
 * boot profile's chunks: those are the boot's own) are held while readers
 * are at it:
 *   - from an early start (the disk is about to be opened) or a disk's
 *     open, until its first read, at most IMGFS_EARLY_OPEN_HOLD_MS (a
 *     close before any read does not end it: qemu's probe);
 *   - while an early disk of the image is open, until its readers have
 *     been quiet for IMGFS_EARLY_QUIET_MS.
 * The bounds (an import never starves): while held, one window of one
 * chunk for every IMGFS_EARLY_SHARE chunks the readers brought (their
 * fetches are the link's use), and one each IMGFS_EARLY_HOLD_MAX_MS of
 * a hold (a reader that reads only what arrived, forever).  No early
 * disk open and no early start expected: windows as before, request for
 * request.
 *
 * State: one record an image with an early start expected or an early
 * disk open, in the set's list (m->early->yield), under the set's lock
 * (level 53, a leaf: the log line is written with it released).  Bounds
 * (SPEC §12): a record an image read early on this host.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "early_int.h"

#define MS INT64_C(1000000)

struct early_yield {
	struct early_yield *next;
	int64_t image_id;
	int opens;              /* early disks of the image open */
	int64_t since;          /* mono ns: the expected start, or the first open of this spell */
	int64_t expect_until;   /* an early start's disk not opened yet: held until then */
	int64_t last;           /* the last read (0: none since `since`) */
	int64_t first_read;     /* ms from `since` to the first read (-1: none) */
	int64_t gap;            /* the longest gap between reads of this spell (ms) */
	uint64_t reads;
	bool holding;
	int64_t held_at, pass_at; /* the hold began; the last chunk let through by time */
	uint32_t base;          /* chunks' worth fetched when the hold began (link_bytes) */
	uint32_t passed;        /* chunks let through since */
	uint32_t shared;        /* ... of them for the readers' chunks */
};

/* The set's clock: the model's monotonic one, or a unit test's. */
static int64_t now_ns(const struct model_early *set)
{
	return set->clock ? set->clock(set->clock_arg) : model_mono_ns();
}

void early_yield_set_clock(struct model_early *set, int64_t (*clock)(void *arg), void *arg)
{
	set->clock = clock;
	set->clock_arg = arg;
}

/* A knob of the daemon's environment, in [0, max] (else def). */
static int64_t knob(const char *name, int64_t def, int64_t max)
{
	const char *v = getenv(name);
	char *end;
	long long n;
	if (!v || !*v)
		return def;
	n = strtoll(v, &end, 10);
	return *end == '\0' && n >= 0 && n <= max ? n : def;
}

static int64_t quiet_ns(void)
{
	return knob("IMGFS_EARLY_QUIET_MS", EARLY_QUIET_MS_DEFAULT, 600000) * MS;
}

static int64_t open_hold_ns(void)
{
	return knob("IMGFS_EARLY_OPEN_HOLD_MS", EARLY_OPEN_HOLD_MS_DEFAULT, 600000) * MS;
}

static int64_t hold_max_ns(void)
{
	return knob("IMGFS_EARLY_HOLD_MAX_MS", EARLY_HOLD_MAX_MS_DEFAULT, 3600000) * MS;
}

static uint32_t share(void)
{
	int64_t n = knob("IMGFS_EARLY_SHARE", EARLY_SHARE_DEFAULT, 1024);
	return n > 0 ? (uint32_t)n : EARLY_SHARE_DEFAULT;
}

/* Under the lock: image_id's record, made when make (NULL: none, or no memory). */
static struct early_yield *find(struct model_early *set, int64_t image_id, bool make)
{
	struct early_yield *y;
	IMGFS_ASSERT_HELD(&set->lock);
	for (y = set->yield; y; y = y->next)
		if (y->image_id == image_id)
			return y;
	if (make && (y = calloc(1, sizeof(*y)))) {
		y->image_id = image_id;
		y->first_read = -1;
		y->next = set->yield;
		set->yield = y;
	}
	return y;
}

/* Under the lock: the record goes when nothing holds it any more. */
static void forget(struct model_early *set, struct early_yield *y, int64_t now)
{
	struct early_yield **pp;
	if (y->opens > 0 || now < y->expect_until || y->holding)
		return;
	for (pp = &set->yield; *pp != y; pp = &(*pp)->next)
		;
	*pp = y->next;
	free(y);
}

/* A new spell of readers: the figures start again. */
static void spell(struct early_yield *y, int64_t now)
{
	y->since = now;
	y->last = 0;
	y->first_read = -1;
	y->gap = 0;
	y->reads = 0;
}

void early_yield_expect_locked(struct model_early *set, int64_t image_id)
{
	struct early_yield *y;
	int64_t now = now_ns(set), hold = open_hold_ns();

	IMGFS_ASSERT_HELD(&set->lock);
	if (hold == 0)
		return;
	/* Starts whose disk was never opened (a copy's: no window asks) go. */
	for (struct early_yield *n, *o = set->yield; o; o = n) {
		n = o->next;
		forget(set, o, now);
	}
	if ((y = find(set, image_id, true)) && y->opens == 0) {
		spell(y, now);
		y->expect_until = now + hold;
	}
}

void early_yield_expect(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	IMGFS_LOCK(&set->lock, model_early_lock);
	early_yield_expect_locked(set, image_id);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

void early_yield_open(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	struct early_yield *y;
	int64_t now = now_ns(set);

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((y = find(set, image_id, true)) && y->opens++ == 0 && now >= y->expect_until)
		spell(y, now); /* an expected start keeps its time: the hold runs from the start */
	if (y)
		y->expect_until = 0;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

void early_yield_read(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	struct early_yield *y;
	int64_t now = now_ns(set);

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((y = find(set, image_id, false)) && y->opens > 0) {
		if (y->last && (now - y->last) / MS > y->gap)
			y->gap = (now - y->last) / MS;
		if (y->first_read < 0)
			y->first_read = (now - y->since) / MS;
		y->last = now;
		y->reads++;
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

void early_yield_close(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	struct early_yield *y;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((y = find(set, image_id, false)) && y->opens > 0 && --y->opens == 0) {
		/* Closed without a read: qemu opens the file, probes it, closes
		 * it and opens it again (scripts/bench-early: a window of 8 MiB
		 * went between).  The start's or the open's hold goes on, at
		 * most the open hold from its beginning; a close after reads
		 * ends it (the guest stopped). */
		if (y->reads == 0)
			y->expect_until = y->since + open_hold_ns();
		pthread_cond_broadcast(&set->cv); /* a held import looks again */
		forget(set, y, now_ns(set));
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

void early_yield_free(struct model_early *set)
{
	while (set->yield) {
		struct early_yield *y = set->yield;
		set->yield = y->next;
		free(y);
	}
}

size_t early_yield_records(struct model_early *set)
{
	size_t n = 0;
	IMGFS_LOCK(&set->lock, model_early_lock);
	for (struct early_yield *y = set->yield; y; y = y->next)
		n++;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return n;
}

/* Under the lock: whether y's readers are at it now (the last read or
 * the start *act, the quiet *q it waits for). */
static bool readers_at_it(const struct early_yield *y, int64_t now, int64_t *act, int64_t *q)
{
	if (y->last) {
		*act = y->last;
		*q = quiet_ns();
	} else {
		*act = y->since;
		*q = open_hold_ns();
	}
	return (y->opens > 0 || now < y->expect_until) && now - *act < *q;
}

bool early_yield_holding(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	struct early_yield *y = find(set, e->image_id, false);
	int64_t act, q;

	IMGFS_ASSERT_HELD(&set->lock);
	return y && readers_at_it(y, now_ns(set), &act, &q);
}

int early_yield_gate(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	struct early_yield *y = find(set, e->image_id, false);
	uint32_t arrived = (uint32_t)(e->link_bytes / CHUNK), readers; /* the link's use, in chunks */
	int64_t now = now_ns(set), act, q, wake;
	struct timespec t;

	IMGFS_ASSERT_HELD(&set->lock);
	if (!y)
		return EARLY_WINDOW_CHUNKS;
	if (!readers_at_it(y, now, &act, &q)) {
		if (y->holding) {
			/* The hold ends: said in the log (its figures chose the defaults). */
			char line[300];
			snprintf(line, sizeof(line),
			         "early import of image %" PRId64 ": windows held %" PRId64 " ms beside its readers (%" PRIu64
			         " reads, the first %" PRId64 " ms after the start or open, the longest gap between reads %"
			         PRId64 " ms; %u chunks let through)",
			         e->image_id, (now - y->held_at) / MS, y->reads, y->first_read, y->gap, y->passed);
			y->holding = false;
			forget(set, y, now);
			IMGFS_UNLOCK(&set->lock, model_early_lock);
			model_log(m, "%s", line);
			IMGFS_LOCK(&set->lock, model_early_lock);
			return 0; /* the caller looks again */
		}
		forget(set, y, now);
		return EARLY_WINDOW_CHUNKS;
	}
	if (!y->holding) {
		y->holding = true;
		y->held_at = y->pass_at = now;
		y->base = arrived;
		y->passed = y->shared = 0;
	}
	/* The bounds: a chunk for every share() the readers brought, and one
	 * each hold_max of the hold. */
	readers = arrived > y->base + y->passed ? arrived - y->base - y->passed : 0;
	if (readers >= share() * (y->shared + 1) || now - y->pass_at >= hold_max_ns()) {
		y->shared += readers >= share() * (y->shared + 1);
		y->passed++;
		y->pass_at = now;
		return 1;
	}
	wake = act + q < y->pass_at + hold_max_ns() ? act + q : y->pass_at + hold_max_ns();
	if (y->opens == 0 && y->expect_until < wake)
		wake = y->expect_until;
	if (wake > now + 1000 * MS)
		wake = now + 1000 * MS; /* the caller asks whether its import stops, once a second */
	clock_gettime(CLOCK_REALTIME, &t);
	wake -= now;
	t.tv_sec += wake / INT64_C(1000000000);
	t.tv_nsec += wake % INT64_C(1000000000);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	(void)IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, &t, model_early_lock);
	return 0;
}

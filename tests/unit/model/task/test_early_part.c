/*
 * test_early_part.c — unit tests for model/task/early_part.c (SPEC §6.5
 * "Reads", §12.8; docs/design.md "Pieces"): a reader's range of a chunk
 * that has not arrived, fetched as the 16 KiB pieces it covers, without
 * a mount, a database or a source server (early_part_set_source: the
 * test's source records every range asked and can fail one, or change
 * the entry while it is asked).
 *
 * The runs of a piece mask (early_part_run) at each end of a chunk and of
 * a short one; a read asks exactly the pieces it covers that are not
 * there, one range a run, and none twice; the bytes come back, from the
 * source and then from the piece file, at their offsets; the last piece
 * there makes the chunk the caller's (EARLY_PART_WHOLE, in flight); a
 * chunk that is need_chunk's is not pieced; a failed fetch says why
 * (once in the log), keeps nothing and is asked again; a piece fetched
 * for an old version, or of a chunk that arrived meanwhile, is not kept;
 * a piece another reader fetches is waited for, never asked again; the
 * records (drop, fill, reset, free: the piece file closed).  And
 * early_range.c's stall knob at its bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "early_int.h"

#define P EARLY_PIECE
#define ASKS 64

/* The test's source: the ranges asked, in order; ask number fail_at
 * fails, bump_at changes the file's version, arrive_at makes the chunk
 * arrive, nest_at reads the same piece again from inside the fetch. */
struct fx {
	model *m;
	struct early_import *e;
	char dir[64];
	int nasks;
	uint64_t from[ASKS], to[ASKS];
	int fail_at, bump_at, arrive_at, nest_at;
	int nested_rc, nested_asks;
	char nested_out[256];
	int lines;
	char line[512];
};

static uint8_t pat(uint64_t o)
{
	return (uint8_t)(o + (o >> 14) * 7 + (o >> 20) * 31);
}

static int need(struct fx *fx, uint32_t i, size_t in, size_t n, void *dst, const struct timespec *until,
                char *out, size_t cap);

static int source(void *arg, struct early_import *e, uint64_t from, uint64_t to, uint8_t *dst, char *why, size_t cap)
{
	struct fx *fx = arg;
	int k = ++fx->nasks;
	assert_true(k <= ASKS);
	fx->from[k - 1] = from;
	fx->to[k - 1] = to;
	assert_true(e == fx->e);
	if (k == fx->fail_at) {
		snprintf(why, cap, "the test's source refused");
		return -EIO;
	}
	for (uint64_t o = from; o < to; o++)
		dst[o - from] = pat(o);
	if (k == fx->bump_at)
		e->gen++;
	if (k == fx->arrive_at)
		bit_set(e->arrived, (uint32_t)(from / CHUNK), true);
	if (k == fx->nest_at) {
		/* Another reader of the piece being fetched, whose wait is over
		 * at once: it waits (and times out), it does not ask. */
		struct timespec past = {0};
		uint8_t b;
		fx->nested_rc = need(fx, (uint32_t)(from / CHUNK), from % CHUNK, 1, &b, &past, fx->nested_out,
		                     sizeof(fx->nested_out));
		fx->nested_asks = fx->nasks;
	}
	return 0;
}

static void record(void *arg, const char *line)
{
	struct fx *fx = arg;
	fx->lines++;
	snprintf(fx->line, sizeof(fx->line), "%s", line);
}

/* An entry of total bytes turned ready, with a piece file, as early_begin
 * and the import's turn make it. */
static struct early_import *entry(struct fx *fx, uint64_t total)
{
	struct early_import *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->image_id = 4242;
	e->total = total;
	e->nchunks = (uint32_t)((total + CHUNK - 1) / CHUNK);
	e->ready = true;
	assert_non_null(e->arrived = calloc(1, e->nchunks / 8 + 1));
	assert_non_null(e->inflight = calloc(1, e->nchunks / 8 + 1));
	assert_non_null(e->piecing = calloc(1, e->nchunks / 8 + 1));
	e->part_fd = early_part_file(fx->m);
	assert_true(e->part_fd >= 0);
	e->part_open = true;
	fx->e = e;
	return e;
}

static void entry_free(struct early_import *e)
{
	early_part_free(e);
	free(e->arrived);
	free(e->inflight);
	free(e);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	assert_non_null(fx->m = calloc(1, sizeof(*fx->m)));
	assert_int_equal(early_set_new(&fx->m->early), 0);
	early_part_set_source(fx->m->early, source, fx);
	model_set_log(fx->m, record, fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_early_part.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->m->dir = fx->dir;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX];
	if (fx->e)
		entry_free(fx->e);
	early_set_free(fx->m->early);
	snprintf(p, sizeof(p), "%s/early", fx->dir);
	int r = rmdir(p); /* O_TMPFILE: nothing left in it (none made: test_no_state) */
	assert_true(r == 0 || errno == ENOENT);
	assert_int_equal(rmdir(fx->dir), 0);
	free(fx->m);
	free(fx);
	return 0;
}

static int need(struct fx *fx, uint32_t i, size_t in, size_t n, void *dst, const struct timespec *until,
                char *out, size_t cap)
{
	struct model_early *set = fx->m->early;
	struct timespec later;
	char fault[256];
	int rc;
	if (!until) {
		clock_gettime(CLOCK_REALTIME, &later);
		later.tv_sec += 30;
		until = &later;
	}
	IMGFS_LOCK(&set->lock, model_early_lock);
	rc = early_part_need(fx->m, fx->e, i, in, n, dst, until, out, cap, fault, sizeof(fault));
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return rc;
}

/* need for [in, in + n) of chunk i, which must be 1, and its bytes. */
static void read_ok(struct fx *fx, uint32_t i, size_t in, size_t n)
{
	uint8_t *b = malloc(n);
	char out[256] = "";
	assert_non_null(b);
	assert_int_equal(need(fx, i, in, n, b, NULL, out, sizeof(out)), 1);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(b[k], pat((uint64_t)i * CHUNK + in + k));
	free(b);
}

static void asked(struct fx *fx, int k, uint64_t from, uint64_t to)
{
	assert_true(k <= fx->nasks);
	assert_int_equal(fx->from[k - 1], from);
	assert_int_equal(fx->to[k - 1], to);
}

static bool have(struct fx *fx, uint32_t i)
{
	struct model_early *set = fx->m->early;
	bool h;
	IMGFS_LOCK(&set->lock, model_early_lock);
	h = early_part_have(fx->e, i);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return h;
}

/* The runs of a mask: each run once, in order, its bytes within the
 * chunk's length, its bits exactly the run's. */
static void test_run(void **state)
{
	(void)state;
	uint32_t at = 0;
	size_t from, to;
	uint64_t bits;

	assert_false(early_part_run(0, CHUNK, &at, &from, &to, &bits));
	at = 0;
	assert_true(early_part_run(UINT64_MAX, CHUNK, &at, &from, &to, &bits));
	assert_int_equal(from, 0);
	assert_int_equal(to, CHUNK);
	assert_true(bits == UINT64_MAX);
	assert_int_equal(at, 64);
	assert_false(early_part_run(UINT64_MAX, CHUNK, &at, &from, &to, &bits));
	/* Three runs: piece 0; pieces 2-4; piece 63 (the chunk's last). */
	uint64_t mask = UINT64_C(1) | UINT64_C(0x1c) | UINT64_C(1) << 63;
	at = 0;
	assert_true(early_part_run(mask, CHUNK, &at, &from, &to, &bits));
	assert_int_equal(from, 0);
	assert_int_equal(to, P);
	assert_true(bits == 1);
	assert_true(early_part_run(mask, CHUNK, &at, &from, &to, &bits));
	assert_int_equal(from, 2 * P);
	assert_int_equal(to, 5 * P);
	assert_true(bits == 0x1c);
	assert_int_equal(at, 5);
	assert_true(early_part_run(mask, CHUNK, &at, &from, &to, &bits));
	assert_int_equal(from, 63 * P);
	assert_int_equal(to, CHUNK);
	assert_true(bits == UINT64_C(1) << 63);
	assert_false(early_part_run(mask, CHUNK, &at, &from, &to, &bits));
	/* A short chunk: its last run ends at its length, not the piece's. */
	at = 0;
	assert_true(early_part_run(UINT64_C(3), P + 1, &at, &from, &to, &bits));
	assert_int_equal(from, 0);
	assert_int_equal(to, P + 1);
	assert_true(bits == 3);
	at = 1;
	assert_true(early_part_run(UINT64_C(3), P + 1, &at, &from, &to, &bits));
	assert_int_equal(from, P);
	assert_int_equal(to, P + 1);
	assert_true(bits == 2);
}

/* A read asks the pieces it covers that are not there, one range a run,
 * none twice; its bytes come back; the last piece makes the chunk the
 * caller's. */
static void test_pieces(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, 2 * CHUNK + 12345);
	uint8_t b[2 * P];
	char out[256];

	read_ok(fx, 0, 100, 10);
	assert_int_equal(fx->nasks, 1);
	asked(fx, 1, 0, P);
	assert_true(have(fx, 0));
	assert_false(have(fx, 1));
	assert_int_equal(e->link_bytes, P);
	assert_false(bit(e->piecing, 0)); /* no reader fetches it now */
	assert_false(bit(e->inflight, 0));
	/* The same bytes again, and others of that piece: from the file. */
	read_ok(fx, 0, 100, 10);
	read_ok(fx, 0, 0, P);
	assert_int_equal(fx->nasks, 1);
	/* Across two pieces, the first there: only the second asked. */
	read_ok(fx, 0, P - 4, 10);
	assert_int_equal(fx->nasks, 2);
	asked(fx, 2, P, 2 * P);
	/* The piece file holds each piece at its offset in the image. */
	assert_int_equal(pread(e->part_fd, b, 2 * P, 0), 2 * P);
	for (size_t k = 0; k < 2 * P; k++)
		assert_int_equal(b[k], pat(k));
	/* Pieces 3-5 and then 2-6: one range for 3-5, then 2 and 6 alone. */
	read_ok(fx, 0, 3 * P + 1, 3 * P - 2);
	asked(fx, 3, 3 * P, 6 * P);
	read_ok(fx, 0, 2 * P + 7, 5 * P - 14);
	assert_int_equal(fx->nasks, 5);
	asked(fx, 4, 2 * P, 3 * P);
	asked(fx, 5, 6 * P, 7 * P);
	assert_int_equal(e->link_bytes, 7 * P);
	/* The rest of the chunk: one range; its reader completed it: the
	 * chunk is whole, in flight for it (it stores it and reads again). */
	assert_false(bit(e->inflight, 0));
	assert_int_equal(need(fx, 0, 7 * P, CHUNK - 7 * P, b, NULL, out, sizeof(out)), EARLY_PART_WHOLE);
	assert_int_equal(fx->nasks, 6);
	asked(fx, 6, 7 * P, CHUNK);
	assert_int_equal(e->link_bytes, CHUNK);
	assert_true(bit(e->inflight, 0));
	/* In flight now: need_chunk's, nothing asked. */
	assert_int_equal(need(fx, 0, 5, 1, b, NULL, out, sizeof(out)), 0);
	assert_int_equal(fx->nasks, 6);
	/* Chunk 1's last byte: its last piece alone, at the image's offset;
	 * a byte of the piece before it: that piece alone (not the last). */
	read_ok(fx, 1, CHUNK - 1, 1);
	asked(fx, 7, 2 * CHUNK - P, 2 * CHUNK);
	read_ok(fx, 1, CHUNK - P - 1, 1);
	assert_int_equal(fx->nasks, 8);
	asked(fx, 8, 2 * CHUNK - 2 * P, 2 * CHUNK - P);
	/* A piece file that cannot be read: -EIO, and why. */
	int fd = e->part_fd, wo = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(wo >= 0);
	e->part_fd = wo;
	assert_int_equal(need(fx, 1, CHUNK - 1, 1, b, NULL, out, sizeof(out)), -EIO);
	assert_string_equal(out, "chunk 1: the piece file: Bad file descriptor");
	close(wo);
	assert_true((wo = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0); /* a read of nothing */
	e->part_fd = wo;
	assert_int_equal(need(fx, 1, CHUNK - 1, 1, b, NULL, out, sizeof(out)), -EIO);
	assert_string_equal(out, "chunk 1: the piece file: short read");
	e->part_fd = fd;
	close(wo);
	assert_int_equal(fx->nasks, 8);
	assert_true(have(fx, 1));
	assert_false(bit(e->inflight, 1));
}

/* The last chunk, 12,345 bytes: its one piece is those bytes; a range
 * past its end is not pieced; the one piece there makes it whole. */
static void test_short_last(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, 2 * CHUNK + 12345);
	uint8_t b[8];
	char out[256];

	assert_int_equal(need(fx, 2, 12340, 6, b, NULL, out, sizeof(out)), 0); /* one past its end */
	assert_int_equal(fx->nasks, 0);
	assert_int_equal(need(fx, 2, 12340, 5, b, NULL, out, sizeof(out)), EARLY_PART_WHOLE); /* to its end */
	assert_int_equal(fx->nasks, 1);
	asked(fx, 1, 2 * CHUNK, 2 * CHUNK + 12345);
	assert_true(bit(e->inflight, 2));
	assert_true(have(fx, 2));
}

/* A short last chunk of 63 pieces (the mask's edge below 64): its
 * pieces all there make it whole. */
static void test_63_pieces(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, CHUNK + 62 * P + 5);
	uint8_t *b = malloc(CHUNK);
	char out[256];

	assert_non_null(b);
	read_ok(fx, 1, 0, 62 * P);
	assert_int_equal(need(fx, 1, 62 * P, 5, b, NULL, out, sizeof(out)), EARLY_PART_WHOLE);
	assert_int_equal(fx->nasks, 2);
	asked(fx, 2, CHUNK + 62 * P, CHUNK + 62 * P + 5);
	assert_true(bit(e->inflight, 1));
	free(b);
}

/* A chunk that is need_chunk's is not pieced, and nothing is asked. */
static void test_not_pieced(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, 4 * CHUNK);
	uint8_t b[4];
	char out[256];

	assert_int_equal(need(fx, 0, 0, 0, b, NULL, out, sizeof(out)), 0); /* nothing to read */
	e->failed = -EIO;
	assert_int_equal(need(fx, 0, 0, 1, b, NULL, out, sizeof(out)), 0);
	e->failed = 0;
	e->ready = false;
	assert_int_equal(need(fx, 0, 0, 1, b, NULL, out, sizeof(out)), 0);
	e->ready = true;
	e->copy = true;
	assert_int_equal(need(fx, 0, 0, 1, b, NULL, out, sizeof(out)), 0);
	e->copy = false;
	e->remote = true;
	assert_int_equal(need(fx, 0, 0, 1, b, NULL, out, sizeof(out)), 0);
	e->remote = false;
	e->part_open = false;
	assert_int_equal(need(fx, 0, 0, 1, b, NULL, out, sizeof(out)), 0);
	e->part_open = true;
	bit_set(e->arrived, 1, true);
	assert_int_equal(need(fx, 1, 0, 1, b, NULL, out, sizeof(out)), 0);
	bit_set(e->inflight, 2, true);
	assert_int_equal(need(fx, 2, 0, 1, b, NULL, out, sizeof(out)), 0);
	assert_int_equal(fx->nasks, 0);
	assert_false(have(fx, 0));
	/* Chunk 3, none of that: pieced. */
	read_ok(fx, 3, 0, 1);
	assert_int_equal(fx->nasks, 1);
	asked(fx, 1, 3 * CHUNK, 3 * CHUNK + P);
}

/* A fetch that fails: -EIO with why, its log line once, nothing kept and
 * nobody's; the next read asks again. */
static void test_fault(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, 2 * CHUNK);
	uint8_t b[3 * P];
	char out[256] = "";

	fx->fail_at = 1;
	assert_int_equal(need(fx, 1, 3 * P, 4, b, NULL, out, sizeof(out)), -EIO);
	assert_string_equal(out, "chunk 1 could not be fetched from the image's source (the test's source refused): "
	                         "the next read tries again");
	assert_int_equal(fx->lines, 1);
	assert_string_equal(fx->line, "early read of image 4242 chunk 1: the test's source refused");
	assert_false(have(fx, 1));
	assert_false(bit(e->piecing, 1));
	assert_int_equal(e->link_bytes, 0);
	read_ok(fx, 1, 3 * P, 4);
	assert_int_equal(fx->nasks, 2);
	asked(fx, 2, CHUNK + 3 * P, CHUNK + 4 * P);
	assert_int_equal(fx->lines, 1); /* a piece that arrived logs nothing */
	assert_int_equal(e->link_bytes, P);
	/* Two runs (pieces 2 and 4; 3 there), the second fails: the first
	 * is kept, the failure logged, and only piece 4 asked again. */
	read_ok(fx, 1, 3 * P, 4); /* there: nothing asked */
	fx->fail_at = 4;
	assert_int_equal(need(fx, 1, 2 * P, 3 * P, b, NULL, out, sizeof(out)), -EIO);
	asked(fx, 3, CHUNK + 2 * P, CHUNK + 3 * P);
	asked(fx, 4, CHUNK + 4 * P, CHUNK + 5 * P);
	assert_int_equal(fx->lines, 2);
	assert_int_equal(e->link_bytes, 2 * P);
	read_ok(fx, 1, 2 * P, 3 * P);
	assert_int_equal(fx->nasks, 5);
	asked(fx, 5, CHUNK + 4 * P, CHUNK + 5 * P);
	/* A piece file that cannot be written: the piece fetched is not kept. */
	int fd = e->part_fd, ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	e->part_fd = ro;
	assert_int_equal(need(fx, 0, 0, 1, b, NULL, out, sizeof(out)), -EIO);
	assert_string_equal(out, "chunk 0 could not be fetched from the image's source (the piece file: Bad file "
	                         "descriptor): the next read tries again");
	assert_int_equal(fx->nasks, 6);
	e->part_fd = fd;
	close(ro);
	assert_false(have(fx, 0));
	assert_int_equal(e->link_bytes, 3 * P); /* as before it */
}

/* A piece fetched while the file changed version is not kept: asked again
 * of the new one; one fetched of a chunk that arrived meanwhile is not
 * kept either, and the chunk is need_chunk's. */
static void test_version_arrived(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, 2 * CHUNK);
	uint8_t b[4];
	char out[256];

	fx->bump_at = 1;
	read_ok(fx, 0, 5 * P, 4);
	assert_int_equal(fx->nasks, 2);
	asked(fx, 1, 5 * P, 6 * P);
	asked(fx, 2, 5 * P, 6 * P);
	assert_int_equal(e->link_bytes, P);
	fx->arrive_at = 3;
	assert_int_equal(need(fx, 1, 0, 4, b, NULL, out, sizeof(out)), 0);
	assert_int_equal(fx->nasks, 3);
	assert_false(have(fx, 1));
	assert_false(bit(e->piecing, 1));
	assert_int_equal(e->link_bytes, P);
}

/* A reader of a piece another reader is fetching waits for it (here its
 * wait is over at once: the stall's -EIO) and never asks it again. */
static void test_busy_waits(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, 2 * CHUNK);

	fx->nest_at = 1;
	read_ok(fx, 1, 9 * P + 3, 2);
	assert_int_equal(fx->nasks, 1);
	assert_int_equal(fx->nested_asks, 1);
	assert_int_equal(fx->nested_rc, -EIO);
	assert_non_null(strstr(fx->nested_out, "chunk 1 did not arrive within the import's stall timeout"));
	assert_true(have(fx, 1));
	assert_false(bit(e->piecing, 1));
}

/* Records of several chunks, made out of order: each its own; drop takes
 * one; fill gives a chunk's pieces at their offsets and what is missing;
 * reset forgets them all; free closes the piece file. */
static void test_records(void **state)
{
	struct fx *fx = *state;
	struct early_import *e = entry(fx, 7 * CHUNK + 3 * P + 9);
	uint8_t *buf = calloc(1, CHUNK);
	char why[256] = "";

	assert_non_null(buf);
	read_ok(fx, 5, 0, 1);
	read_ok(fx, 1, 2 * P, 1);
	read_ok(fx, 3, 0, 1);
	read_ok(fx, 1, 0, 1);
	read_ok(fx, 7, 3 * P, 9); /* the last chunk's short last piece */
	assert_true(have(fx, 1) && have(fx, 3) && have(fx, 5) && have(fx, 7));
	assert_false(have(fx, 0) || have(fx, 2) || have(fx, 4) || have(fx, 6));
	IMGFS_LOCK(&fx->m->early->lock, model_early_lock);
	bit_set(e->piecing, 3, true);
	early_part_drop(e, 3);
	assert_false(bit(e->piecing, 3));
	assert_false(early_part_have(e, 3));
	assert_true(early_part_have(e, 1) && early_part_have(e, 5) && early_part_have(e, 7));
	IMGFS_UNLOCK(&fx->m->early->lock, model_early_lock);
	/* Chunk 1: pieces 0 and 2 there, the rest missing. */
	assert_true(early_part_fill(fx->m, e, 1, buf, why, sizeof(why)) == (UINT64_MAX & ~UINT64_C(5)));
	assert_string_equal(why, "");
	for (size_t k = 0; k < P; k++) {
		assert_int_equal(buf[k], pat(CHUNK + k));
		assert_int_equal(buf[P + k], 0);
		assert_int_equal(buf[2 * P + k], pat(CHUNK + 2 * P + k));
	}
	/* Chunk 7 (3 pieces and 9 bytes): piece 3 there; 0-2 missing. */
	assert_true(early_part_fill(fx->m, e, 7, buf, why, sizeof(why)) == 7);
	/* A piece file that cannot be read: its pieces missing, and why. */
	int fd = e->part_fd, wo = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(wo >= 0);
	e->part_fd = wo;
	assert_true(early_part_fill(fx->m, e, 1, buf, why, sizeof(why)) == UINT64_MAX);
	assert_string_equal(why, "the piece file: Bad file descriptor");
	assert_true(early_part_fill(fx->m, e, 7, buf, why, sizeof(why)) == 15);
	close(wo);
	assert_true((wo = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0); /* a read of nothing */
	e->part_fd = wo;
	assert_true(early_part_fill(fx->m, e, 7, buf, why, sizeof(why)) == 15);
	assert_string_equal(why, "the piece file: short read");
	e->part_fd = fd;
	close(wo);
	/* A chunk with no record: all of its pieces missing. */
	assert_true(early_part_fill(fx->m, e, 6, buf, why, sizeof(why)) == UINT64_MAX);
	bit_set(e->piecing, 5, true);
	bit_set(e->piecing, 7, true);
	early_part_reset(e);
	assert_false(have(fx, 1) || have(fx, 5) || have(fx, 7));
	assert_false(bit(e->piecing, 5) || bit(e->piecing, 7));
	read_ok(fx, 1, 0, 1); /* asked again after the reset */
	assert_int_equal(fx->nasks, 6);
	fd = e->part_fd;
	early_part_free(e);
	assert_false(e->part_open);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	free(buf);
}

/* The stall timeout's knob (early_range.c, §5.2): seconds, 1 to 3600;
 * anything else is the default. */
static void test_stall_knob(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		int want;
	} cases[] = {{"1", 1}, {"3600", 3600}, {"3601", 0}, {"0", 0}, {"-1", 0}, {"", 0}, {"5s", 0}, {"x", 0}};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		setenv("IMGFS_IMPORT_STALL_TIMEOUT", cases[k].v, 1);
		assert_int_equal(import_stall_env(), cases[k].want);
		assert_int_equal(import_stall_seconds(), cases[k].want ? cases[k].want : FETCH_STALL_TIMEOUT_DEFAULT);
	}
	unsetenv("IMGFS_IMPORT_STALL_TIMEOUT");
	assert_int_equal(import_stall_env(), 0);
	assert_int_equal(import_stall_seconds(), FETCH_STALL_TIMEOUT_DEFAULT);
}

/* The piece file: one each time (the directory made once), none without
 * a state directory. */
static void test_no_state(void **state)
{
	struct fx *fx = *state;
	char *dir = fx->m->dir;
	int a = early_part_file(fx->m), b = early_part_file(fx->m);
	assert_true(a >= 0 && b >= 0 && a != b);
	close(a);
	close(b);
	fx->m->dir = NULL;
	assert_int_equal(early_part_file(fx->m), -1);
	fx->m->dir = dir;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run),
	    cmocka_unit_test(test_stall_knob),
	    cmocka_unit_test_setup_teardown(test_pieces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_last, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_63_pieces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_pieced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fault, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_version_arrived, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_busy_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_state, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

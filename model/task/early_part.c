/*
 * early_part.c — a reader's bytes of a chunk that has not arrived, fetched
 * alone (SPEC §6.5 "Early", §12.8; docs/design.md "Early instances",
 * "Pieces").
 *
 * Why: a chunk (1 MiB) is the unit the store keeps, but a guest's boot
 * reads a few KiB here and there; fetching whole each chunk it touched
 * brought 5.2x the bytes it read by its login prompt.  So a reader's range
 * of a chunk not arrived (nor in flight) is fetched as the pieces
 * (EARLY_PIECE, 16 KiB) it covers, kept in the entry's piece file and
 * read from there.  The chunk is stored when its last piece is there:
 * fetched by readers, or the rest by the import's window (early_fetch
 * asks for the missing pieces only).  So no byte is fetched twice, and the
 * store still gets whole chunks, checked and stored as any.
 *
 * Who calls it: early.c (file_read: early_part_need, before need_chunk,
 * and early_fetch once a chunk's last piece is there; early_window: the
 * `piecing` bit; the entry's end and a new version), early_fetch.c (the
 * rest of a chunk: early_part_fill; a chunk stored: early_part_drop).
 * Below it: early_range.c (a range asked of the source).
 *
 * State, under the set's lock (early_int.h's entry): a record per chunk
 * with pieces (those there, those a reader is fetching), in an array
 * sorted by chunk; a bit a chunk, `piecing`, while a reader fetches pieces
 * of it (the window leaves it until they are in).  The bytes: a file of
 * the image's size, sparse and unlinked (O_TMPFILE in <state>/early), each
 * piece at its own offset, written before its bit is set and never again
 * while the entry lives (a reader preads it without the lock); closed
 * with the entry.  Readers on another host than the import's, and copies,
 * fetch whole chunks (their chunks are another host's or the store's).
 *
 * Bounds (SPEC §12.8): a record (24 bytes) a chunk a reader touched and
 * that has not arrived; the file's blocks: the pieces readers fetched, at
 * most the image's size, freed with the entry.  No piece file (no state
 * directory, no O_TMPFILE) or no memory for a record: whole chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "early_int.h"

#define PIECES (CHUNK / EARLY_PIECE)

_Static_assert(PIECES == 64, "a piece mask is 64 bits");

struct early_part {
	uint32_t chunk;
	uint64_t have, busy; /* a bit a piece */
};

/* The pieces of chunk i of e (its last may be short). */
static uint64_t full_mask(const struct early_import *e, uint32_t i)
{
	uint32_t n = (uint32_t)((blob_chunk_len(e->total, i) + EARLY_PIECE - 1) / EARLY_PIECE);
	return n >= 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
}

/* The pieces [in, in + n) of a chunk covers (n > 0). */
static uint64_t range_mask(size_t in, size_t n)
{
	uint32_t a = (uint32_t)(in / EARLY_PIECE), b = (uint32_t)((in + n - 1) / EARLY_PIECE);
	uint64_t hi = b >= 63 ? UINT64_MAX : (UINT64_C(1) << (b + 1)) - 1;
	return hi & ~((UINT64_C(1) << a) - 1);
}

bool early_part_run(uint64_t mask, size_t len, uint32_t *at, size_t *from, size_t *to, uint64_t *bits)
{
	uint32_t a = *at, b;
	while (a < PIECES && !(mask >> a & 1))
		a++;
	if (a >= PIECES)
		return false;
	for (b = a; b < PIECES && (mask >> b & 1); b++)
		;
	*from = (size_t)a * EARLY_PIECE;
	*to = (size_t)b * EARLY_PIECE < len ? (size_t)b * EARLY_PIECE : len;
	*bits = range_mask(*from, (size_t)(b - a) * EARLY_PIECE);
	*at = b;
	return true;
}

/* Under the lock: chunk i's record's slot (the place it would go: *at). */
static struct early_part *find(struct early_import *e, uint32_t i, uint32_t *at)
{
	uint32_t lo = 0, hi = e->nparts;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (e->parts[mid].chunk < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (at)
		*at = lo;
	return lo < e->nparts && e->parts[lo].chunk == i ? &e->parts[lo] : NULL;
}

/* Under the lock: chunk i's record, made (NULL: no memory). */
static struct early_part *make(struct early_import *e, uint32_t i)
{
	uint32_t at;
	struct early_part *p = find(e, i, &at);
	if (p)
		return p;
	if (e->nparts == e->cparts) {
		uint32_t c = e->cparts ? e->cparts * 2 : 16;
		struct early_part *n = realloc(e->parts, (size_t)c * sizeof(*n));
		if (!n)
			return NULL;
		e->parts = n;
		e->cparts = c;
	}
	memmove(&e->parts[at + 1], &e->parts[at], (size_t)(e->nparts - at) * sizeof(*p));
	e->nparts++;
	p = &e->parts[at];
	*p = (struct early_part){.chunk = i};
	return p;
}

int early_part_file(model *m)
{
	char dir[PATH_MAX];
	if (!m->dir)
		return -1;
	snprintf(dir, sizeof(dir), "%s/early", m->dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600); /* -1: none */
}

void early_part_reset(struct early_import *e)
{
	/* The bytes stay in the file, unread: a piece's bit is set after
	 * its bytes are written again. */
	e->nparts = 0;
	if (e->piecing)
		memset(e->piecing, 0, (e->nchunks + 7) / 8 + 1);
}

void early_part_free(struct early_import *e)
{
	free(e->parts);
	free(e->piecing);
	e->parts = NULL;
	e->piecing = NULL;
	e->nparts = e->cparts = 0;
	if (e->part_open)
		close(e->part_fd);
	e->part_open = false;
}

bool early_part_have(struct early_import *e, uint32_t i)
{
	struct early_part *p = find(e, i, NULL);
	return p && p->have;
}

void early_part_drop(struct early_import *e, uint32_t i)
{
	uint32_t at;
	if (find(e, i, &at)) {
		memmove(&e->parts[at], &e->parts[at + 1], (size_t)(e->nparts - at - 1) * sizeof(*e->parts));
		e->nparts--;
	}
	if (e->piecing)
		bit_set(e->piecing, i, false);
}

uint64_t early_part_fill(model *m, struct early_import *e, uint32_t i, uint8_t *buf, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct early_part *p;
	uint64_t have = 0, full, bits;
	size_t len, from, to;

	IMGFS_LOCK(&set->lock, model_early_lock);
	full = full_mask(e, i);
	len = blob_chunk_len(e->total, i);
	if ((p = find(e, i, NULL)))
		have = p->have & full;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	/* The chunk is in flight for the caller: no reader adds a piece. */
	uint64_t there = have;
	for (uint32_t at = 0; early_part_run(there, len, &at, &from, &to, &bits);) {
		ssize_t r = pread(e->part_fd, buf + from, to - from, (off_t)((uint64_t)i * CHUNK + from));
		if (r != (ssize_t)(to - from)) {
			/* Unreadable: those pieces are fetched again. */
			snprintf(why, cap, "the piece file: %s", r < 0 ? strerror(errno) : "short read");
			have &= ~bits;
		}
	}
	return full & ~have;
}

void early_part_set_source(struct model_early *set,
                          int (*source)(void *arg, struct early_import *e, uint64_t from, uint64_t to,
                                        uint8_t *dst, char *why, size_t cap),
                          void *arg)
{
	set->source = source;
	set->source_arg = arg;
}

/* Pieces miss of chunk i fetched (one range a run of them) and written to
 * the piece file: the mask of those that were; 0 with why when none. */
static uint64_t fetch_pieces(model *m, struct early_import *e, uint32_t i, uint64_t miss, char *why, size_t cap)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t got = 0, bits;
	size_t len = blob_chunk_len(e->total, i), from, to;

	if (!buf) {
		snprintf(why, cap, "%s", strerror(ENOMEM));
		return 0;
	}
	for (uint32_t at = 0; early_part_run(miss, len, &at, &from, &to, &bits);) {
		uint64_t off = (uint64_t)i * CHUNK + from;
		if ((m->early->source ? m->early->source(m->early->source_arg, e, off, off + (to - from), buf, why, cap)
		                      : early_range_mem(m, e, off, off + (to - from), buf, NULL, 0, why, cap)) < 0)
			break;
		if (pwrite(e->part_fd, buf, to - from, (off_t)off) != (ssize_t)(to - from)) {
			snprintf(why, cap, "the piece file: %s", strerror(errno));
			break;
		}
		got |= bits;
	}
	free(buf);
	return got;
}

int early_part_need(model *m, struct early_import *e, uint32_t i, size_t in, size_t n, void *dst,
                    const struct timespec *until, char *out, size_t cap, char *fault, size_t fcap)
{
	struct model_early *set = m->early;

	IMGFS_ASSERT_HELD(&set->lock);
	fault[0] = '\0';
	for (;;) {
		struct early_part *p;
		uint64_t want, miss, got;
		uint32_t gen;
		if (e->failed || !e->ready || e->copy || e->remote || !e->part_open || !e->piecing ||
		    bit(e->arrived, i) || bit(e->inflight, i))
			return 0; /* need_chunk's: arrived, waited for, fetched whole, or failed */
		if (n == 0 || in + n > blob_chunk_len(e->total, i))
			return 0;
		want = range_mask(in, n) & full_mask(e, i);
		if ((p = find(e, i, NULL)) && p->have == full_mask(e, i) && !p->busy) {
			/* Its last piece is there: the caller stores the chunk. */
			bit_set(e->inflight, i, true);
			return EARLY_PART_WHOLE;
		}
		if (p && (p->have & want) == want) {
			int fd = e->part_fd; /* the entry lives while its reader holds it */
			ssize_t r;
			IMGFS_UNLOCK(&set->lock, model_early_lock);
			r = pread(fd, dst, n, (off_t)((uint64_t)i * CHUNK + in));
			IMGFS_LOCK(&set->lock, model_early_lock);
			if (r == (ssize_t)n)
				return 1;
			snprintf(out, cap, "chunk %u: the piece file: %s", i, r < 0 ? strerror(errno) : "short read");
			return -EIO;
		}
		if (p && (p->busy & want & ~p->have)) {
			/* Another reader fetches some of them: wait. */
			if (IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, until, model_early_lock) == ETIMEDOUT) {
				snprintf(out, cap, "chunk %u did not arrive within the import's stall timeout (%d s): the "
				         "image's source stopped answering; the next read tries again", i,
				         import_stall_seconds());
				return -EIO;
			}
			continue;
		}
		if (!p && !(p = make(e, i)))
			return 0; /* no memory: the whole chunk */
		miss = want & ~p->have;
		p->busy |= miss;
		bit_set(e->piecing, i, true);
		gen = e->gen;
		IMGFS_UNLOCK(&set->lock, model_early_lock);
		got = fetch_pieces(m, e, i, miss, fault, fcap);
		if (got != miss)
			model_log(m, "early read of image %" PRId64 " chunk %u: %s", e->image_id, i, fault);
		IMGFS_LOCK(&set->lock, model_early_lock);
		if ((p = find(e, i, NULL))) {
			p->busy &= ~miss;
			if (gen == e->gen && !bit(e->arrived, i)) {
				p->have |= got;
				e->link_bytes += (uint64_t)__builtin_popcountll(got) * EARLY_PIECE;
			}
			bit_set(e->piecing, i, p->busy != 0);
		}
		pthread_cond_broadcast(&set->cv);
		if (got != miss) {
			snprintf(out, cap, "chunk %u could not be fetched from the image's source (%s): the next read "
			         "tries again", i, fault);
			return -EIO;
		}
		fault[0] = '\0';
	}
}

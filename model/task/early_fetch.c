/*
 * early_fetch.c — chunks of an early import's file fetched into its entry
 * (SPEC §6.5 "Early"): the chunks gathered from a range's stream, stored
 * and marked arrived as each is whole; a chunk some of whose pieces
 * readers fetched (early_part.c), its missing pieces asked for and the
 * chunk stored; and a copy's chunk placed from the source region's store
 * (early_copy_fetch).
 *
 * Who calls it: import.c (the import's windows: early_fetch), early.c (a
 * reader's chunk, or one whose last piece arrived: early_fetch,
 * early_copy_fetch).  Below it: early_part.c (the pieces), early_range.c
 * (a range asked of the source).  The entry and its lock are early.c's
 * (early_int.h); a fetch holds no lock while it runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "early_int.h"

struct early_sink {
	model *m;
	struct early_import *e;
	uint8_t *buf;      /* CHUNK */
	uint64_t base;     /* the file's offset of buf[0] (fetch_rest) */
	uint32_t chunk;    /* the chunk being gathered */
	size_t have;       /* its bytes so far */
	uint64_t fetched;  /* ... of them from the source (the link's use) */
	blob_store *s;
	struct fetch_rule *rules;
	size_t nrules;
	bool (*cancelled)(void *arg);
	void *arg;
};

/* The chunk gathered is whole: stored (a hole when all zeros), arrived. */
static int sink_chunk(struct early_sink *k)
{
	struct model_early *set = k->m->early;
	struct early_import *e = k->e;
	chunk_id id;
	int rc = 0;
	bool zero = true;

	for (size_t i = 0; i < k->have && zero; i++)
		zero = k->buf[i] == 0;
	memset(&id, 0, sizeof(id));
	if (!zero && (rc = blob_store_put_chunk(k->s, &id, k->buf, k->have)) < 0)
		return rc;
	/* Durable in the store: now its row, for every host (a hint). */
	(void)early_got_add(k->m, e, k->chunk, &id);
	IMGFS_LOCK(&set->lock, model_early_lock);
	e->link_bytes += k->fetched;
	if ((rc = blob_manifest_set(e->got, k->chunk, &id)) == 0) {
		bit_set(e->arrived, k->chunk, true);
		bit_set(e->inflight, k->chunk, false);
		e->arrived_bytes += k->have;
		early_part_drop(e, k->chunk);
		pthread_cond_broadcast(&set->cv);
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	k->chunk++;
	k->have = 0;
	k->fetched = 0;
	return rc;
}

static int early_sink_fn(void *arg, const void *buf, size_t len, uint64_t offset)
{
	struct early_sink *k = arg;
	const uint8_t *p = buf;
	(void)offset; /* in order: fetch.c checked the range */
	while (len > 0) {
		size_t want = blob_chunk_len(k->e->total, k->chunk) - k->have;
		size_t n = len < want ? len : want;
		int rc;
		memcpy(k->buf + k->have, p, n);
		k->have += n;
		k->fetched += n;
		p += n;
		len -= n;
		if (k->have == blob_chunk_len(k->e->total, k->chunk) && (rc = sink_chunk(k)) < 0)
			return rc;
	}
	return 0;
}

static bool early_cancelled_fn(void *arg)
{
	struct early_sink *k = arg;
	return k->cancelled && k->cancelled(k->arg);
}

static int sink_rules(model *m, struct early_sink *k)
{
	return model_import_addresses_load(m, &k->rules, &k->nrules);
}

/* Chunk i (in flight for the caller), some of whose pieces readers
 * fetched (early_part.c): those read from the piece file, the rest asked
 * for (one range a run), the chunk stored. */
static int fetch_rest(struct early_sink *k, uint32_t i, char *why, size_t cap)
{
	struct early_import *e = k->e;
	size_t len = blob_chunk_len(e->total, i);
	uint64_t miss = early_part_fill(k->m, e, i, k->buf, why, cap), bits;
	size_t from, to;
	int rc = 0;

	k->base = (uint64_t)i * CHUNK;
	k->fetched = 0;
	for (uint32_t at = 0; rc == 0 && early_part_run(miss, len, &at, &from, &to, &bits);) {
		rc = early_range_mem(k->m, e, k->base + from, k->base + to, k->buf + from, k->rules, k->nrules, why, cap);
		k->fetched += to - from; /* counted once the chunk is stored (rc 0) */
	}
	if (rc == 0) {
		k->chunk = i;
		k->have = len;
		rc = sink_chunk(k);
	}
	return rc;
}

int early_fetch(model *m, struct early_import *e, uint32_t first, uint32_t end, bool (*cancelled)(void *arg),
                void *arg, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct early_sink k = {.m = m, .e = e, .chunk = first, .cancelled = cancelled, .arg = arg};
	uint32_t i = first;
	int rc;

	why[0] = '\0';
	if (!(k.buf = malloc(CHUNK)))
		rc = -ENOMEM;
	else if ((rc = model_store(m, e->region_id, &k.s)) == 0)
		rc = sink_rules(m, &k);
	/* The chunks without pieces in runs (one range each, streamed chunk
	 * by chunk); a chunk with pieces alone, its missing pieces only. */
	while (rc == 0 && i < end) {
		uint32_t j = i;
		bool pieces;
		IMGFS_LOCK(&set->lock, model_early_lock);
		pieces = early_part_have(e, i);
		while (!pieces && j < end && !early_part_have(e, j))
			j++;
		IMGFS_UNLOCK(&set->lock, model_early_lock);
		if (pieces) {
			rc = fetch_rest(&k, i, why, cap);
			i++;
			continue;
		}
		k.chunk = i;
		k.have = 0;
		k.fetched = 0;
		rc = early_range_run(e, (uint64_t)i * CHUNK, (uint64_t)j * CHUNK < e->total ? (uint64_t)j * CHUNK : e->total,
		                     early_sink_fn, early_cancelled_fn, &k, k.rules, k.nrules, why, cap);
		if (rc == 0 && k.chunk != j) {
			rc = -EIO;
			snprintf(why, cap, "the range of chunks %u-%u ended at chunk %u", i, j, k.chunk);
		}
		i = j;
	}
	free(k.rules);
	free(k.buf);
	/* What did not arrive is nobody's any more: the next reader takes it. */
	IMGFS_LOCK(&set->lock, model_early_lock);
	for (uint32_t c = first; c < end; c++)
		if (!bit(e->arrived, c))
			bit_set(e->inflight, c, false);
	pthread_cond_broadcast(&set->cv);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc < 0 && !why[0])
		snprintf(why, cap, "%s", strerror(-rc));
	return rc;
}

/* Chunk i of a copy (in flight for the caller) placed in this region's
 * store from the source region's, unless the store holds it (then nothing
 * is read): blob_batch_copy's check of the bytes against the id, committed
 * before it is arrived.  Counted as the copy's moved bytes (/stats). */
int early_copy_fetch(model *m, struct early_import *e, uint32_t i, char *why, size_t cap)
{
	struct model_early *set = m->early;
	const chunk_id *p = blob_manifest_get(e->got, i); /* a copy's got never changes */
	blob_store *src = NULL, *dst = NULL;
	blob_batch *b = NULL;
	uint8_t moved = 0;
	int rc;

	if (!p)
		rc = 0; /* a hole: arrived from the start */
	else if ((rc = model_store(m, e->src_region, &src)) == 0 && (rc = model_store(m, e->region_id, &dst)) == 0 &&
	         (rc = blob_batch_new(&b, dst)) == 0 && (rc = blob_batch_copy_many(b, src, p, 1, &moved)) >= 0)
		rc = blob_batch_commit(b);
	blob_batch_free(b);
	IMGFS_LOCK(&set->lock, model_early_lock);
	bit_set(e->inflight, i, false);
	if (rc >= 0 && !bit(e->arrived, i)) {
		bit_set(e->arrived, i, true);
		bit_set(e->moved, i, moved != 0);
		e->arrived_bytes += blob_chunk_len(e->total, i);
	}
	pthread_cond_broadcast(&set->cv);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc < 0) {
		snprintf(why, cap, "copying it from the source region: %s",
		         rc == -EUCLEAN ? "its bytes there are not the chunk" : strerror(-rc));
		return rc;
	}
	if (moved)
		task_count_moved_kind(m, "copy", blob_chunk_len(e->total, i));
	return 0;
}

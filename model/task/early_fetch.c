/*
 * early_fetch.c — one range of an early import's file fetched into its
 * entry (SPEC §6.5 "Early"): the chunks gathered from fetch.c's stream,
 * stored and marked arrived as each is whole; and a copy's chunk placed
 * from the source region's store (early_copy_fetch).  The import's stall
 * timeout, which bounds every wait of an early read, is here too.
 *
 * Who calls it: import.c (the import's windows: early_fetch), early.c (a
 * reader's chunk: early_fetch, early_copy_fetch; its waits'
 * import_stall_seconds).  The entry and its lock are early.c's
 * (early_int.h); a fetch holds no lock while it runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "early_int.h"

/* Tests make stalls short: seconds without a byte before a transfer fails
 * (read by each run from the daemon's environment; docs/reference.md §5.2). */
#define IMPORT_STALL_ENV "IMGFS_IMPORT_STALL_TIMEOUT"

int import_stall_env(void)
{
	const char *v = getenv(IMPORT_STALL_ENV);
	char *end;
	long n;
	if (!v || !*v)
		return 0;
	n = strtol(v, &end, 10);
	return *end == '\0' && n > 0 && n <= 3600 ? (int)n : 0;
}

int import_stall_seconds(void)
{
	int n = import_stall_env();
	return n ? n : FETCH_STALL_TIMEOUT_DEFAULT;
}

struct early_sink {
	model *m;
	struct early_import *e;
	uint8_t *buf;      /* CHUNK */
	uint32_t chunk;    /* the chunk being gathered */
	size_t have;       /* its bytes so far */
	blob_store *s;
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
	if ((rc = blob_manifest_set(e->got, k->chunk, &id)) == 0) {
		bit_set(e->arrived, k->chunk, true);
		bit_set(e->inflight, k->chunk, false);
		e->arrived_bytes += k->have;
		pthread_cond_broadcast(&set->cv);
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	k->chunk++;
	k->have = 0;
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

int early_fetch(model *m, struct early_import *e, uint32_t first, uint32_t end, bool (*cancelled)(void *arg),
                void *arg, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct early_sink k = {.m = m, .e = e, .chunk = first, .cancelled = cancelled, .arg = arg};
	struct fetch_result res;
	struct fetch_rule *rules = NULL;
	struct fetch_req rq = {
		.url = e->url,
		.ca_file = getenv("SSL_CERT_FILE"),
		.max_size = MODEL_IMPORT_MAX_SIZE,
		.resume_from = (uint64_t)first * CHUNK,
		.range_end = (uint64_t)end * CHUNK < e->total ? (uint64_t)end * CHUNK : e->total,
		.validator = e->validator,
		.stall_timeout = import_stall_seconds(),
		.sink = early_sink_fn,
		.cancelled = early_cancelled_fn,
		.arg = &k,
	};
	int rc;

	why[0] = '\0';
	if (!(k.buf = malloc(CHUNK)))
		rc = -ENOMEM;
	else if ((rc = model_store(m, e->region_id, &k.s)) == 0 &&
	         (rc = model_import_addresses_load(m, &rules, &rq.nrules)) == 0) {
		rq.rules = rules;
		rc = fetch_run(&rq, &res);
		if (rc < 0)
			snprintf(why, cap, "%s", res.reason[0] ? res.reason : strerror(-rc));
		else if (k.chunk != end) {
			rc = -EIO;
			snprintf(why, cap, "the server sent %" PRIu64 " bytes of a range of %" PRIu64, res.bytes,
			         rq.range_end - rq.resume_from);
		}
	}
	free(rules);
	free(k.buf);
	/* What did not arrive is nobody's any more: the next reader takes it. */
	IMGFS_LOCK(&set->lock, model_early_lock);
	for (uint32_t i = k.chunk; i < end; i++)
		bit_set(e->inflight, i, false);
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

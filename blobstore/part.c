/*
 * part.c — reads of part of a stored chunk, verified block by block (SPEC
 * §13, "A read of part of a stored chunk").
 *
 * Who calls it: cache.c (blob_store_read_chunk, for a small read of a
 * plain chunk the cache does not hold), store.c and batch.c (the digests
 * of a chunk being placed, handed to the backend with its bytes).
 *
 * Why.  A stored chunk is verified by its id, a keyed hash of all its
 * bytes, so a reader wanting 4 KiB of it read and hashed 1 MiB: on a
 * cloud disk of 2 GiB (2048 chunks against a cache of 256) fio's 4k random
 * reads ran at 0.13x RBD.  A backend with a network between it and the
 * bytes (get_part: RADOS) keeps one digest per BLOB_DIG_BLOCK of a plain
 * chunk beside it, set in the same write as its bytes; a small read
 * fetches the blocks it covers and those digests in one operation and
 * serves only blocks whose digest matches.
 *
 * The digests.  d(k) = H(H(block k) || id || k || len), H the store's
 * keyed XXH3-64 (its secret, as the ids'), len the chunk's length: without
 * the secret nobody makes a digest that matches other bytes, and a
 * block's digest names its chunk, its place in it and the chunk's length,
 * so a block (with its digest) moved to another place or another chunk
 * does not verify, nor does any block read for a manifest whose length
 * for the chunk is not the chunk's (the whole path's "length does not
 * match").
 *
 * Anything that does not verify — a block, a missing or short object, an
 * attribute of the wrong length — sends the read down the whole path
 * (the cache: the whole chunk, checked against its id), which then tells:
 * the id matches, so the bytes are right and the digests were wrong (a
 * line in the log, and the bytes served); it does not: EIO, as before.  A
 * chunk without digests (placed before them, or by a backend that keeps
 * none) reads whole.  A read that could not be made (a timeout, after the
 * backend's tries) is EIO at once, "could not tell" (§13), not a second
 * wait on the whole path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore_int.h"
#include "imgfs_assert.h"
#include "xxh.h"

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Block k (at p) of chunk id of len bytes: its digest. */
static uint64_t block_digest(const blob_store *s, const chunk_id *id, size_t len, uint32_t k, const uint8_t *p)
{
	size_t at = (size_t)k * BLOB_DIG_BLOCK;
	size_t blen = len - at < BLOB_DIG_BLOCK ? len - at : BLOB_DIG_BLOCK;
	uint8_t in[8 + sizeof id->b + 4 + 4];

	put_le64(in, XXH3_64bits_withSecret(p, blen, s->secret, BLOB_SECRET_SIZE));
	memcpy(in + 8, id->b, sizeof id->b);
	for (int i = 0; i < 4; i++) {
		in[8 + sizeof id->b + i] = (uint8_t)(k >> (8 * i));
		in[12 + sizeof id->b + i] = (uint8_t)((uint32_t)len >> (8 * i));
	}
	return XXH3_64bits_withSecret(in, sizeof in, s->secret, BLOB_SECRET_SIZE);
}

void blob_store_block_digests(const blob_store *s, const chunk_id *id, const void *buf, size_t len, uint8_t *out)
{
	const uint8_t *p = buf;

	for (uint32_t k = 0; (size_t)k * BLOB_DIG_BLOCK < len; k++)
		put_le64(out + (size_t)k * BLOB_DIG_SIZE, block_digest(s, id, len, k, p + (size_t)k * BLOB_DIG_BLOCK));
}

const uint8_t *blob_store_digests_for(const blob_store *s, const chunk_id *id, const void *buf, size_t len,
                                      uint8_t out[BLOB_DIG_MAX])
{
	if (s->be->get_part == NULL || len > BLOB_CHUNK_SIZE)
		return NULL;
	blob_store_block_digests(s, id, buf, len, out);
	return out;
}

/* ---- the cache of digest arrays ------------------------------------------ */

int blob_digc_init(struct blob_digc *d)
{
	memset(d, 0, sizeof *d);
	d->limit = BLOB_DIGC_BYTES;
	return -pthread_mutex_init(&d->lock, NULL);
}

void blob_digc_release(struct blob_digc *d)
{
	free(d->ent);
	pthread_mutex_destroy(&d->lock);
}

/* Chunk id's set (the lock held; d->ent allocated): by its first 8
 * bytes, a keyed hash's, which nobody without the secret chooses. */
static struct blob_digc_ent *digc_set(struct blob_digc *d, const chunk_id *id)
{
	uint64_t h;

	IMGFS_ASSERT_HELD(&d->lock);
	memcpy(&h, id->b, sizeof h);
	return d->ent + (size_t)(h % d->nsets) * BLOB_DIGC_WAYS;
}

/* Chunk id's entry for a chunk of len bytes (> 0: an empty entry's len
 * is 0) in set e, or NULL. */
static struct blob_digc_ent *digc_find(struct blob_digc_ent *e, const chunk_id *id, size_t len)
{
	for (unsigned w = 0; w < BLOB_DIGC_WAYS; w++)
		if (e[w].len == len && chunk_id_equal(&e[w].id, id))
			return &e[w];
	return NULL;
}

/* Digests first..last of chunk id (len bytes) into out when cached. */
static bool digc_get(struct blob_digc *d, const chunk_id *id, size_t len, uint32_t first, uint32_t last,
                     uint8_t *out)
{
	struct blob_digc_ent *e = NULL;

	IMGFS_LOCK(&d->lock, blob_digc_lock);
	if (d->ent != NULL && (e = digc_find(digc_set(d, id), id, len)) != NULL) {
		e->tick = ++d->tick;
		memcpy(out, e->dig + (size_t)first * BLOB_DIG_SIZE, (size_t)(last - first + 1) * BLOB_DIG_SIZE);
	}
	IMGFS_UNLOCK(&d->lock, blob_digc_lock);
	return e != NULL;
}

/* Chunk id's array (BLOB_DIG_LEN(len) bytes at dig) cached, in place of
 * the least recently used of its set (an empty entry's tick is 0: the
 * least of all). */
static void digc_put(struct blob_digc *d, const chunk_id *id, size_t len, const uint8_t *dig)
{
	struct blob_digc_ent *set, *e;

	IMGFS_ASSERT(len > 0 && len <= BLOB_CHUNK_SIZE);
	IMGFS_LOCK(&d->lock, blob_digc_lock);
	if (d->ent == NULL && d->limit >= BLOB_DIGC_WAYS * sizeof *d->ent) {
		d->nsets = (uint32_t)(d->limit / (BLOB_DIGC_WAYS * sizeof *d->ent));
		d->ent = calloc((size_t)d->nsets * BLOB_DIGC_WAYS, sizeof *d->ent);
	}
	if (d->ent != NULL) {
		set = digc_set(d, id);
		if ((e = digc_find(set, id, len)) == NULL) {
			e = set;
			for (unsigned w = 1; w < BLOB_DIGC_WAYS; w++)
				if (set[w].tick < e->tick)
					e = &set[w];
		}
		e->id = *id;
		e->len = (uint32_t)len;
		e->tick = ++d->tick;
		memcpy(e->dig, dig, BLOB_DIG_LEN(len));
	}
	IMGFS_UNLOCK(&d->lock, blob_digc_lock);
}

/* Chunk id's arrays no longer cached (one did not verify a block). */
static void digc_drop(struct blob_digc *d, const chunk_id *id)
{
	IMGFS_LOCK(&d->lock, blob_digc_lock);
	if (d->ent != NULL) {
		struct blob_digc_ent *set = digc_set(d, id);
		for (unsigned w = 0; w < BLOB_DIGC_WAYS; w++)
			if (chunk_id_equal(&set[w].id, id))
				set[w].len = 0, set[w].tick = 0;
	}
	IMGFS_UNLOCK(&d->lock, blob_digc_lock);
}

void blob_store_test_digc_limit(blob_store *s, size_t bytes)
{
	IMGFS_LOCK(&s->digc.lock, blob_digc_lock);
	free(s->digc.ent);
	s->digc.ent = NULL;
	s->digc.limit = bytes;
	IMGFS_UNLOCK(&s->digc.lock, blob_digc_lock);
}

void blob_store_test_digc_put(blob_store *s, const chunk_id *id, size_t len, const uint8_t *dig)
{
	digc_put(&s->digc, id, len, dig);
}

size_t blob_store_test_digc_held(blob_store *s)
{
	size_t n = 0;

	IMGFS_LOCK(&s->digc.lock, blob_digc_lock);
	if (s->digc.ent != NULL)
		n = (size_t)s->digc.nsets * BLOB_DIGC_WAYS * sizeof *s->digc.ent;
	IMGFS_UNLOCK(&s->digc.lock, blob_digc_lock);
	return n;
}

bool blob_store_test_digc_get(blob_store *s, const chunk_id *id, size_t len, uint8_t *out)
{
	struct blob_digc_ent *e = NULL;

	IMGFS_LOCK(&s->digc.lock, blob_digc_lock);
	if (s->digc.ent != NULL && (e = digc_find(digc_set(&s->digc, id), id, len)) != NULL && out != NULL)
		memcpy(out, e->dig, BLOB_DIG_LEN(len));
	IMGFS_UNLOCK(&s->digc.lock, blob_digc_lock);
	return e != NULL;
}

/* ---- reads of part of a chunk ---------------------------------------------- */

bool blob_part_span(const chunk_id *id, size_t chunk_len, size_t coff, size_t n, struct blob_part_span *sp)
{
	if (n == 0 || n > BLOB_PART_MAX || chunk_len > BLOB_CHUNK_SIZE || coff > chunk_len || n > chunk_len - coff ||
	    chunk_id_is_null(id))
		return false;
	sp->first = (uint32_t)(coff / BLOB_DIG_BLOCK);
	sp->last = (uint32_t)((coff + n - 1) / BLOB_DIG_BLOCK);
	sp->off = (size_t)sp->first * BLOB_DIG_BLOCK;
	sp->end = (size_t)(sp->last + 1) * BLOB_DIG_BLOCK;
	if (sp->end > chunk_len)
		sp->end = chunk_len;
	return true;
}

int blob_store_read_part(blob_store *s, const chunk_id *id, size_t chunk_len, void *dst, size_t coff, size_t n,
                         enum blob_part_why *why)
{
	struct blob_part_span sp;
	uint8_t dig[BLOB_DIG_MAX];
	uint32_t first, last;
	size_t off, end, got = 0, dlen = 0;
	bool cached;
	uint8_t *buf;
	int rc;

	*why = BLOB_PART_FINE;
	if (s->be->get_part == NULL || !blob_part_span(id, chunk_len, coff, n, &sp))
		return 1;
	first = sp.first;
	last = sp.last;
	off = sp.off;
	end = sp.end;
	/* The blocks' digests cached (dig[0] is block first's): the blocks
	 * only; else the blocks and the whole array, in one operation. */
	cached = digc_get(&s->digc, id, chunk_len, first, last, dig);
	/* Zeroed: what a short object did not bring is never stale bytes. */
	if ((buf = calloc(1, end - off)) == NULL)
		return -ENOMEM;
	rc = s->be->get_part(s->be, id, off, end - off, buf, &got, cached ? NULL : dig, cached ? 0 : sizeof dig,
	                     &dlen);
	if (rc == -ENOENT) {
		rc = 1; /* the whole path says so, as it always did */
		goto out;
	}
	if (rc < 0) {
		char hex[33];

		/* blob_store_log_chunk's line, not its call: store.c calls here */
		chunk_id_fmt(hex, id);
		blob_log_line(&s->log, "chunk %s in %s: part of it could not be read: EIO (could not tell)", hex, s->where);
		rc = -EIO;
		goto out;
	}
	if (!cached && dlen == 0) { /* no digests: placed before them */
		*why = BLOB_PART_BARE;
		rc = 1;
		goto out;
	}
	if ((!cached && dlen != BLOB_DIG_LEN(chunk_len)) || got != end - off) {
		*why = BLOB_PART_SUSPECT;
		rc = 1;
		goto out;
	}
	for (uint32_t k = first; k <= last; k++) {
		uint8_t want[BLOB_DIG_SIZE];
		const uint8_t *have = dig + (size_t)(cached ? k - first : k) * BLOB_DIG_SIZE;

		put_le64(want, block_digest(s, id, chunk_len, k, buf + ((size_t)k * BLOB_DIG_BLOCK - off)));
		if (memcmp(want, have, BLOB_DIG_SIZE) != 0) {
			*why = BLOB_PART_SUSPECT;
			rc = 1;
			goto out;
		}
	}
	/* An array is cached once it verified the blocks read: one that
	 * verifies none (garbage, another chunk's) never is. */
	if (!cached)
		digc_put(&s->digc, id, chunk_len, dig);
	memcpy(dst, buf + (coff - off), n);
	rc = 0;
out:
	/* Anything that did not verify: the cached array goes too (the whole
	 * path sets the right one when the chunk's id verifies). */
	if (rc == 1 && cached && *why == BLOB_PART_SUSPECT)
		digc_drop(&s->digc, id);
	free(buf);
	return rc;
}

/* ---- a started part read's two halves (cache.c) ---------------------------- */

bool blob_store_part_held(blob_store *s, const chunk_id *id, size_t chunk_len, uint32_t first, uint32_t last,
                          uint8_t *dig)
{
	return digc_get(&s->digc, id, chunk_len, first, last, dig);
}

bool blob_store_part_verify(blob_store *s, const chunk_id *id, size_t chunk_len, const struct blob_part_span *sp,
                            const uint8_t *buf, size_t got, const uint8_t *dig)
{
	if (got != sp->end - sp->off)
		goto bad;
	for (uint32_t k = sp->first; k <= sp->last; k++) {
		uint8_t want[BLOB_DIG_SIZE];

		put_le64(want, block_digest(s, id, chunk_len, k, buf + ((size_t)k * BLOB_DIG_BLOCK - sp->off)));
		if (memcmp(want, dig + (size_t)(k - sp->first) * BLOB_DIG_SIZE, BLOB_DIG_SIZE) != 0)
			goto bad;
	}
	return true;
bad:
	digc_drop(&s->digc, id); /* as the waiting part read drops it */
	return false;
}

void blob_store_backfill(blob_store *s, const chunk_id *id, const uint8_t *buf, size_t len)
{
	uint8_t dig[BLOB_DIG_MAX];

	IMGFS_ASSERT(s->be->get_part != NULL && len > 0 && len <= BLOB_CHUNK_SIZE);
	blob_store_block_digests(s, id, buf, len, dig);
	digc_put(&s->digc, id, len, dig);
	if (s->be->set_digests != NULL)
		s->be->set_digests(s->be, id, dig, BLOB_DIG_LEN(len));
}

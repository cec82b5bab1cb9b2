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

int blob_store_read_part(blob_store *s, const chunk_id *id, size_t chunk_len, void *dst, size_t coff, size_t n,
                         bool *suspect)
{
	uint8_t dig[BLOB_DIG_MAX];
	uint32_t first, last;
	size_t off, end, got = 0, dlen = 0;
	uint8_t *buf;
	int rc;

	*suspect = false;
	if (s->be->get_part == NULL || n == 0 || n > BLOB_PART_MAX || chunk_len > BLOB_CHUNK_SIZE ||
	    coff > chunk_len || n > chunk_len - coff || chunk_id_is_null(id))
		return 1;
	first = (uint32_t)(coff / BLOB_DIG_BLOCK);
	last = (uint32_t)((coff + n - 1) / BLOB_DIG_BLOCK);
	off = (size_t)first * BLOB_DIG_BLOCK;
	end = (size_t)(last + 1) * BLOB_DIG_BLOCK;
	if (end > chunk_len)
		end = chunk_len;
	/* Zeroed: what a short object did not bring is never stale bytes. */
	if ((buf = calloc(1, end - off)) == NULL)
		return -ENOMEM;
	rc = s->be->get_part(s->be, id, off, end - off, buf, &got, dig, sizeof dig, &dlen);
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
	if (dlen == 0) { /* no digests: placed before them */
		rc = 1;
		goto out;
	}
	if (dlen != BLOB_DIG_LEN(chunk_len) || got != end - off) {
		*suspect = true;
		rc = 1;
		goto out;
	}
	for (uint32_t k = first; k <= last; k++) {
		uint8_t want[BLOB_DIG_SIZE];

		put_le64(want, block_digest(s, id, chunk_len, k, buf + ((size_t)k * BLOB_DIG_BLOCK - off)));
		if (memcmp(want, dig + (size_t)k * BLOB_DIG_SIZE, BLOB_DIG_SIZE) != 0) {
			*suspect = true;
			rc = 1;
			goto out;
		}
	}
	memcpy(dst, buf + (coff - off), n);
	rc = 0;
out:
	free(buf);
	return rc;
}

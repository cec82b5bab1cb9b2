/*
 * test_part.c — unit tests for blobstore/part.c: reads of part of a stored
 * chunk in RADOS, verified block by block (SPEC §13).  Costs are counted
 * (the backend's operations and bytes), not timed: a 4 KiB read of a
 * chunk placed by a put or by a batch is one operation bringing its block
 * and the chunk's 2 KiB of digests; a damaged block reads EIO while an
 * undamaged block of the same chunk reads right; digests removed or
 * damaged (their bytes or their length) read the right bytes whole; blocks
 * moved with their digests (within a chunk, or to another) read EIO; a
 * short last block; the size bound at BLOB_PART_MAX and one past; a
 * sealed chunk is read whole and placed without digests; a sequential
 * reader takes whole chunks; a part read that could not be made is EIO
 * with no whole read after it, a missing chunk answers as the whole path.  It runs with a cluster (IMGFS_TEST_CEPH_CONF:
 * ctest's _rados run) or not at all (exit 77: skipped).
 */
#include <stdio.h>
#include <time.h>

#include "blob_test.h"
#include "blobstore_int.h"
#include "manifest_test.h"

#define DIGS (BLOB_DIG_MAX) /* a whole chunk's digests: 2 KiB */

/* What one read cost: part reads, whole reads, bytes the part reads
 * brought. */
struct cost {
	uint64_t part, whole, bytes;
};

/* Reads [coff, coff + n) of chunk id (clen bytes) through the store and
 * checks its answer, its bytes against ref (the chunk) when it succeeds,
 * and what it cost.  Cold: the store's digest cache emptied first (the
 * read finds its digests on the object only). */
static void read_costs_how(struct blob_fx *fx, const chunk_id *id, size_t clen, const uint8_t *ref, size_t coff,
                           size_t n, int want_rc, struct cost want, bool cold)
{
	struct blob_rados_counters c0, c1;
	uint8_t *got = malloc(n + 1);
	int rc;

	assert_non_null(got);
	if (cold)
		blob_store_test_digc_limit(fx->s, BLOB_DIGC_BYTES);
	blob_rados_counters(fx->s->be, &c0);
	rc = blob_store_read_chunk(fx->s, NULL, id, clen, got, coff, n);
	blob_rados_counters(fx->s->be, &c1);
	fprintf(stderr, "    [%zu, +%zu): %d; %llu part (%llu bytes), %llu whole\n", coff, n, rc,
	        (unsigned long long)(c1.part_reads - c0.part_reads), (unsigned long long)(c1.part_bytes - c0.part_bytes),
	        (unsigned long long)(c1.reads - c0.reads));
	assert_int_equal(rc, want_rc);
	if (rc == 0)
		assert_bytes_equal(got, ref + coff, n);
	assert_int_equal(c1.part_reads - c0.part_reads, want.part);
	assert_int_equal(c1.reads - c0.reads, want.whole);
	assert_int_equal(c1.part_bytes - c0.part_bytes, want.bytes);
	free(got);
}

static void read_costs(struct blob_fx *fx, const chunk_id *id, size_t clen, const uint8_t *ref, size_t coff,
                       size_t n, int want_rc, struct cost want)
{
	read_costs_how(fx, id, clen, ref, coff, n, want_rc, want, true);
}

/* The same, the digest cache as earlier reads left it. */
static void read_warm(struct blob_fx *fx, const chunk_id *id, size_t clen, const uint8_t *ref, size_t coff, size_t n,
                      int want_rc, struct cost want)
{
	read_costs_how(fx, id, clen, ref, coff, n, want_rc, want, false);
}

/* A chunk of len random bytes placed by put: its id, its bytes (malloc'd). */
static uint8_t *put_one(struct blob_fx *fx, chunk_id *id, size_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	fx_fill(fx, buf, len);
	assert_int_equal(blob_store_put_chunk(fx->s, id, buf, len), 1);
	return buf;
}

/* 4 KiB of a chunk placed by a put, and of one placed by a batch (an
 * upload's lanes): one operation each, the block and the digests; a read
 * across two blocks brings both; cold again after each (nothing cached). */
static void test_small_read_costs(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *m = NULL;
	uint8_t *ref, *blob;
	chunk_id id;

	fx_cluster_only(fx);
	ref = put_one(fx, &id, MiB);
	read_costs(fx, &id, MiB, ref, 8192, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	read_costs(fx, &id, MiB, ref, 0, 1, 0, (struct cost){1, 0, 4096 + DIGS});
	read_costs(fx, &id, MiB, ref, MiB - 4096, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	read_costs(fx, &id, MiB, ref, 4000, 4096, 0, (struct cost){1, 0, 8192 + DIGS});
	read_costs(fx, &id, MiB, ref, 4095, 2, 0, (struct cost){1, 0, 8192 + DIGS});
	read_costs(fx, &id, MiB, ref, 4095, 1, 0, (struct cost){1, 0, 4096 + DIGS});
	assert_false(blob_cache_has(&fx->s->cache, &id));

	blob = malloc(3 * MiB);
	assert_non_null(blob);
	fx_fill(fx, blob, 3 * MiB);
	assert_int_equal(blob_store_put_buf(fx->s, &m, blob, 3 * MiB), 0);
	for (uint32_t i = 0; i < 3; i++)
		read_costs(fx, mf_id(m, i), MiB, blob + (size_t)i * MiB, 12345 * (i + 1), 4096, 0,
		           (struct cost){1, 0, 8192 + DIGS});
	blob_manifest_free(m);
	free(blob);
	free(ref);
}

/* A read of BLOB_PART_MAX bytes reads its blocks only; one byte more reads
 * the whole chunk (into the cache: the next read is served there). */
static void test_size_bound(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref;
	chunk_id id;

	fx_cluster_only(fx);
	ref = put_one(fx, &id, MiB);
	read_costs(fx, &id, MiB, ref, 65536, BLOB_PART_MAX, 0, (struct cost){1, 0, BLOB_PART_MAX + DIGS});
	read_costs(fx, &id, MiB, ref, 65536, BLOB_PART_MAX + 1, 0, (struct cost){0, 1, 0});
	read_costs(fx, &id, MiB, ref, 4096, 4096, 0, (struct cost){0, 0, 0});
	free(ref);
}

/* One byte changed in block 5 of the object: a read of block 5 (alone, or
 * with block 4) is EIO, after the whole path found the id wrong too;
 * blocks 4 and 6 read right. */
static void test_damaged_block(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref, *bad;
	chunk_id id;

	fx_cluster_only(fx);
	ref = put_one(fx, &id, MiB);
	bad = malloc(MiB);
	assert_non_null(bad);
	memcpy(bad, ref, MiB);
	bad[5 * 4096 + 777] ^= 0x40;
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &id, bad, MiB), 0);
	read_costs(fx, &id, MiB, ref, 5 * 4096, 4096, -EIO, (struct cost){1, 1, 4096 + DIGS});
	read_costs(fx, &id, MiB, ref, 4 * 4096 + 100, 4096, -EIO, (struct cost){1, 1, 8192 + DIGS});
	read_costs(fx, &id, MiB, ref, 4 * 4096, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	read_costs(fx, &id, MiB, ref, 6 * 4096, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	/* Cut short: its last block is missing. */
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &id, ref, MiB - 4096), 0);
	read_costs(fx, &id, MiB, ref, MiB - 4096, 4096, -EIO, (struct cost){1, 1, DIGS});
	free(ref);
	/* A chunk whose last block is zeros, cut short by that block: what
	 * the read did not bring is not taken for zeros. */
	ref = malloc(MiB);
	assert_non_null(ref);
	fx_fill(fx, ref, MiB - 4096);
	memset(ref + MiB - 4096, 0, 4096);
	assert_int_equal(blob_store_put_chunk(fx->s, &id, ref, MiB), 1);
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &id, ref, MiB - 4096), 0);
	read_costs(fx, &id, MiB, ref, MiB - 4096, 4096, -EIO, (struct cost){1, 1, DIGS});
	free(bad);
	free(ref);
}

/* Blocks moved with their digests — two blocks of a chunk swapped, or
 * another chunk's bytes and digests under a chunk's name — do not verify:
 * a digest binds its block's place and its chunk's id.  EIO (the whole
 * path: the id does not match either). */
static void test_blocks_moved(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t dig[BLOB_DIG_MAX], tmp[4096];
	uint8_t *a, *b, *moved;
	chunk_id ida, idb;

	fx_cluster_only(fx);
	a = put_one(fx, &ida, MiB);
	b = put_one(fx, &idb, MiB);
	moved = malloc(MiB);
	assert_non_null(moved);
	memcpy(moved, a, MiB);
	memcpy(tmp, moved + 3 * 4096, 4096);
	memcpy(moved + 3 * 4096, moved + 4 * 4096, 4096);
	memcpy(moved + 4 * 4096, tmp, 4096);
	blob_store_block_digests(fx->s, &ida, a, MiB, dig);
	memcpy(tmp, dig + 3 * BLOB_DIG_SIZE, BLOB_DIG_SIZE);
	memcpy(dig + 3 * BLOB_DIG_SIZE, dig + 4 * BLOB_DIG_SIZE, BLOB_DIG_SIZE);
	memcpy(dig + 4 * BLOB_DIG_SIZE, tmp, BLOB_DIG_SIZE);
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &ida, moved, MiB), 0);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &ida, dig, BLOB_DIG_MAX), 0);
	read_costs(fx, &ida, MiB, a, 3 * 4096, 4096, -EIO, (struct cost){1, 1, 4096 + DIGS});
	read_costs(fx, &ida, MiB, a, 9 * 4096, 4096, 0, (struct cost){1, 0, 4096 + DIGS});

	blob_store_block_digests(fx->s, &ida, a, MiB, dig);
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &idb, a, MiB), 0);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &idb, dig, BLOB_DIG_MAX), 0);
	read_costs(fx, &idb, MiB, b, 5 * 4096, 4096, -EIO, (struct cost){1, 1, 4096 + DIGS});
	free(moved);
	free(a);
	free(b);
}

/* Digests removed (a chunk placed before them), damaged, or of the wrong
 * length: the right bytes, read whole (the id says they are right). */
static void test_digests_wrong(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t junk[BLOB_DIG_MAX + 8];
	uint8_t *ref;
	chunk_id id;

	fx_cluster_only(fx);
	fx_fill(fx, junk, sizeof junk);
	ref = put_one(fx, &id, MiB);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &id, NULL, 0), 0);
	read_costs(fx, &id, MiB, ref, 40960, 4096, 0, (struct cost){1, 1, 4096});
	free(ref);

	ref = put_one(fx, &id, MiB);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &id, junk, BLOB_DIG_MAX), 0);
	read_costs(fx, &id, MiB, ref, 40960, 4096, 0, (struct cost){1, 1, 4096 + DIGS});
	free(ref);

	ref = put_one(fx, &id, MiB);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &id, junk, BLOB_DIG_MAX - 8), 0);
	read_costs(fx, &id, MiB, ref, 40960, 4096, 0, (struct cost){1, 1, 4096 + DIGS - 8});
	free(ref);

	/* Right digests, but too few (the last one missing) or too many (one
	 * more): the attribute is not the chunk's, read whole. */
	uint8_t good[BLOB_DIG_MAX + 8];
	ref = put_one(fx, &id, MiB);
	blob_store_block_digests(fx->s, &id, ref, MiB, good);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &id, good, BLOB_DIG_MAX - 8), 0);
	read_costs(fx, &id, MiB, ref, 40960, 4096, 0, (struct cost){1, 1, 4096 + DIGS - 8});
	free(ref);
	ref = put_one(fx, &id, MiB);
	blob_store_block_digests(fx->s, &id, ref, MiB, good);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &id, good, BLOB_DIG_MAX + 8), 0);
	read_costs(fx, &id, MiB, ref, 40960, 4096, 0, (struct cost){1, 1, 4096 + DIGS + 8});
	free(ref);
	/* One byte past the largest the reader takes (its buffer's size):
	 * not copied into it (ASan sees a byte too many), read whole. */
	ref = put_one(fx, &id, MiB);
	blob_store_block_digests(fx->s, &id, ref, MiB, good);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &id, good, BLOB_DIG_MAX + 1), 0);
	read_costs(fx, &id, MiB, ref, 40960, 4096, 0, (struct cost){1, 1, 4096 + DIGS + 1});
	free(ref);

	/* Only the digest of the block read is changed. */
	uint8_t dig[BLOB_DIG_MAX];
	ref = put_one(fx, &id, MiB);
	blob_store_block_digests(fx->s, &id, ref, MiB, dig);
	dig[10 * BLOB_DIG_SIZE + 3] ^= 1;
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &id, dig, BLOB_DIG_MAX), 0);
	read_costs(fx, &id, MiB, ref, 11 * 4096, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	read_costs(fx, &id, MiB, ref, 10 * 4096, 4096, 0, (struct cost){1, 1, 4096 + DIGS});
	free(ref);
}

/* A chunk of 10000 bytes: its last block holds 1808; reads in it, across
 * into it, and of its last byte, each only the blocks covered; one past
 * the end is refused.  A digest made for another length of the chunk (a
 * manifest saying 9999) does not verify. */
static void test_short_last_block(void **state)
{
	struct blob_fx *fx = *state;
	const size_t len = 10000;
	uint8_t *ref, got[8];
	chunk_id id;

	fx_cluster_only(fx);
	ref = put_one(fx, &id, len);
	read_costs(fx, &id, len, ref, 9000, 1000, 0, (struct cost){1, 0, 1808 + 3 * 8});
	read_costs(fx, &id, len, ref, 8000, 2000, 0, (struct cost){1, 0, 4096 + 1808 + 3 * 8});
	read_costs(fx, &id, len, ref, len - 1, 1, 0, (struct cost){1, 0, 1808 + 3 * 8});
	read_costs(fx, &id, len, ref, 0, 10, 0, (struct cost){1, 0, 4096 + 3 * 8});
	assert_int_equal(blob_store_read_chunk(fx->s, NULL, &id, len, got, len - 1, 2), -EINVAL);
	/* Its first block is whole and unchanged, yet bound to the length. */
	read_costs(fx, &id, len - 1, ref, 0, 10, -EIO, (struct cost){1, 1, 4096 + 3 * 8});
	free(ref);
}

/* Chunks whose last block is 1 byte, one byte short of a block and a
 * whole block: the last byte of each is one part read of that block and
 * every digest, no whole read.  A digest list one short, a last block
 * hashed a byte long or short, or the read's end clamped a byte off would
 * not verify and read whole (scripts/mutate survivors #6, #12, #43, #44 of
 * part.c). */
static void test_last_block_lengths(void **state)
{
	struct blob_fx *fx = *state;
	const size_t lens[] = {2 * 4096 + 1, 3 * 4096 - 1, 3 * 4096};

	fx_cluster_only(fx);
	for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
		size_t len = lens[k], nblk = (len + 4095) / 4096, last = len - (nblk - 1) * 4096;
		chunk_id id;
		uint8_t *ref = put_one(fx, &id, len);

		read_costs(fx, &id, len, ref, len - 1, 1, 0, (struct cost){1, 0, last + nblk * 8});
		free(ref);
	}
}

/* A sealed chunk (SPEC §17) is read whole, and a batch under a key places
 * it without digests. */
static void test_sealed_whole(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	uint8_t dk[BLOB_KEY_SIZE], dig[BLOB_DIG_MAX], *data, got[4096];
	size_t n = 0, dlen = 99;
	blob_manifest *m = NULL;
	blob_key *k = NULL;
	uint8_t *part;

	fx_cluster_only(fx);
	for (int i = 0; i < BLOB_KEY_SIZE; i++)
		dk[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(blob_key_new(&k, dk), 0);
	data = malloc(2 * MiB + 1000);
	part = malloc(4096);
	assert_non_null(data);
	assert_non_null(part);
	fx_fill(fx, data, 2 * MiB + 1000);
	assert_int_equal(blob_store_put_buf_key(fx->s, k, &m, data, 2 * MiB + 1000), 0);
	blob_rados_counters(fx->s->be, &c0);
	assert_int_equal(blob_store_read(fx->s, m, got, 4096, MiB + 8192), 4096);
	blob_rados_counters(fx->s->be, &c1);
	assert_bytes_equal(got, data + MiB + 8192, 4096);
	assert_int_equal(c1.part_reads - c0.part_reads, 0);
	assert_int_equal(c1.reads - c0.reads, 1);
	assert_int_equal(fx->s->be->get_part(fx->s->be, mf_id(m, 1), 0, 4096, part, &n, dig, sizeof dig, &dlen), 0);
	assert_int_equal(n, 4096);
	assert_int_equal(dlen, 0);
	/* Its last chunk, sealed, fits a chunk's length: no digests either. */
	dlen = 99;
	assert_int_equal(fx->s->be->get_part(fx->s->be, mf_id(m, 2), 0, 1000, part, &n, dig, sizeof dig, &dlen), 0);
	assert_int_equal(n, 1000);
	assert_int_equal(dlen, 0);
	blob_manifest_free(m);
	blob_key_unref(k);
	free(part);
	free(data);
}

/* A sequential reader in small requests (read.c: its next chunks read
 * ahead) takes whole chunks, not blocks. */
static void test_sequential_whole(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	blob_manifest *m = NULL;
	uint8_t *data, got[4096];

	fx_cluster_only(fx);
	data = malloc(4 * MiB);
	assert_non_null(data);
	fx_fill(fx, data, 4 * MiB);
	assert_int_equal(blob_store_put_buf(fx->s, &m, data, 4 * MiB), 0);
	blob_rados_counters(fx->s->be, &c0);
	for (uint64_t off = 0; off < 4 * MiB; off += sizeof got) {
		assert_int_equal(blob_store_read(fx->s, m, got, sizeof got, off), sizeof got);
		assert_bytes_equal(got, data + off, sizeof got);
	}
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.part_reads - c0.part_reads, 0);
	assert_int_equal(c1.reads - c0.reads + c1.reads_ahead_hit - c0.reads_ahead_hit, 4);
	blob_manifest_free(m);
	free(data);
}

/* ---- the digest cache (SPEC §12) and the backfill ------------------------- */

/* Waits (10 s at most) until every digest backfill started has its
 * answer; the counters then. */
static void digs_settled(struct blob_fx *fx, struct blob_rados_counters *c)
{
	for (int i = 0; i < 10000; i++) {
		blob_rados_counters(fx->s->be, c);
		if (c->digs_done == c->digs_sent)
			return;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	fail_msg("digest backfills still unanswered after 10 s: %llu sent, %llu answered",
	         (unsigned long long)c->digs_sent, (unsigned long long)c->digs_done);
}

/* What the chunk's object holds as digests (get_part straight). */
static size_t object_digests(struct blob_fx *fx, const chunk_id *id, uint8_t dig[BLOB_DIG_MAX + 8])
{
	uint8_t block[4096];
	size_t got = 0, dlen = 0;

	assert_int_equal(fx->s->be->get_part(fx->s->be, id, 0, 4096, block, &got, dig, BLOB_DIG_MAX + 8, &dlen), 0);
	return dlen;
}

/* A chunk read in part once: its later small reads bring their blocks
 * only (4096 bytes, no digests), a chunk of a batch alike; a read across
 * two blocks brings both. */
static void test_digest_cache_costs(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t dig[BLOB_DIG_MAX], want[BLOB_DIG_MAX];
	blob_manifest *m = NULL;
	uint8_t *ref, *blob;
	chunk_id id;

	fx_cluster_only(fx);
	ref = put_one(fx, &id, MiB);
	assert_false(blob_store_test_digc_get(fx->s, &id, MiB, NULL));
	read_warm(fx, &id, MiB, ref, 8192, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	assert_true(blob_store_test_digc_get(fx->s, &id, MiB, dig));
	blob_store_block_digests(fx->s, &id, ref, MiB, want);
	assert_memory_equal(dig, want, BLOB_DIG_MAX);
	read_warm(fx, &id, MiB, ref, 8192, 4096, 0, (struct cost){1, 0, 4096});
	read_warm(fx, &id, MiB, ref, MiB - 4096, 4096, 0, (struct cost){1, 0, 4096});
	read_warm(fx, &id, MiB, ref, 4000, 4096, 0, (struct cost){1, 0, 8192});
	read_warm(fx, &id, MiB, ref, 0, 1, 0, (struct cost){1, 0, 4096});
	read_warm(fx, &id, MiB, ref, 65536, BLOB_PART_MAX, 0, (struct cost){1, 0, BLOB_PART_MAX});
	/* Its array is bound to its length: a manifest saying 9999 bytes
	 * finds none cached. */
	assert_false(blob_store_test_digc_get(fx->s, &id, MiB - 1, NULL));
	assert_false(blob_cache_has(&fx->s->cache, &id));

	blob = malloc(2 * MiB);
	assert_non_null(blob);
	fx_fill(fx, blob, 2 * MiB);
	assert_int_equal(blob_store_put_buf(fx->s, &m, blob, 2 * MiB), 0);
	for (uint32_t i = 0; i < 2; i++) {
		read_warm(fx, mf_id(m, i), MiB, blob + (size_t)i * MiB, 4096, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
		read_warm(fx, mf_id(m, i), MiB, blob + (size_t)i * MiB, 12345, 4096, 0, (struct cost){1, 0, 8192});
	}
	blob_manifest_free(m);
	free(blob);
	free(ref);
}

/* The bound: a limit of exactly one set (BLOB_DIGC_WAYS arrays) holds 8
 * chunks' arrays, all read small afterwards; a ninth pushes out the least
 * recently used, whose next read brings its digests again.  One byte
 * under one set: nothing is cached.  The default holds at most
 * BLOB_DIGC_BYTES. */
static void test_digest_cache_bound(void **state)
{
	struct blob_fx *fx = *state;
	const size_t one_set = BLOB_DIGC_WAYS * sizeof(struct blob_digc_ent);
	uint8_t *ref[BLOB_DIGC_WAYS + 1];
	chunk_id id[BLOB_DIGC_WAYS + 1];

	fx_cluster_only(fx);
	for (unsigned k = 0; k <= BLOB_DIGC_WAYS; k++)
		ref[k] = put_one(fx, &id[k], 64 * 1024);
	blob_store_test_digc_limit(fx->s, one_set);
	for (unsigned k = 0; k < BLOB_DIGC_WAYS; k++)
		read_warm(fx, &id[k], 64 * 1024, ref[k], 0, 4096, 0, (struct cost){1, 0, 4096 + 16 * 8});
	assert_int_equal(blob_store_test_digc_held(fx->s), one_set);
	for (unsigned k = 0; k < BLOB_DIGC_WAYS; k++)
		read_warm(fx, &id[k], 64 * 1024, ref[k], 8192, 4096, 0, (struct cost){1, 0, 4096});
	/* Chunk 0 is the least recently used: the ninth takes its place. */
	read_warm(fx, &id[BLOB_DIGC_WAYS], 64 * 1024, ref[BLOB_DIGC_WAYS], 0, 4096, 0, (struct cost){1, 0, 4096 + 16 * 8});
	assert_int_equal(blob_store_test_digc_held(fx->s), one_set);
	assert_false(blob_store_test_digc_get(fx->s, &id[0], 64 * 1024, NULL));
	for (unsigned k = 1; k <= BLOB_DIGC_WAYS; k++)
		read_warm(fx, &id[k], 64 * 1024, ref[k], 4096, 4096, 0, (struct cost){1, 0, 4096});
	read_warm(fx, &id[0], 64 * 1024, ref[0], 4096, 4096, 0, (struct cost){1, 0, 4096 + 16 * 8});
	/* Chunk 7's entry, the set's last way, wrong, and its chunk damaged:
	 * the read is EIO and the entry goes (no whole read sets it again);
	 * the others stay (chunk 1 went for chunk 0 above). */
	uint8_t junk[16 * 8];
	const unsigned w7 = BLOB_DIGC_WAYS - 1;
	fx_fill(fx, junk, sizeof junk);
	blob_store_test_digc_put(fx->s, &id[w7], 64 * 1024, junk);
	ref[w7][100] ^= 1;
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &id[w7], ref[w7], 64 * 1024), 0);
	ref[w7][100] ^= 1;
	read_warm(fx, &id[w7], 64 * 1024, ref[w7], 0, 4096, -EIO, (struct cost){1, 1, 4096});
	assert_false(blob_store_test_digc_get(fx->s, &id[w7], 64 * 1024, NULL));
	for (unsigned k = 0; k <= BLOB_DIGC_WAYS; k++)
		assert_true(blob_store_test_digc_get(fx->s, &id[k], 64 * 1024, NULL) == (k != 1 && k != w7));

	blob_store_test_digc_limit(fx->s, one_set - 1);
	for (unsigned k = 0; k < 2; k++)
		read_warm(fx, &id[k], 64 * 1024, ref[k], 0, 4096, 0, (struct cost){1, 0, 4096 + 16 * 8});
	assert_int_equal(blob_store_test_digc_held(fx->s), 0);

	blob_store_test_digc_limit(fx->s, BLOB_DIGC_BYTES);
	read_warm(fx, &id[0], 64 * 1024, ref[0], 0, 4096, 0, (struct cost){1, 0, 4096 + 16 * 8});
	assert_true(blob_store_test_digc_held(fx->s) <= BLOB_DIGC_BYTES);
	assert_true(blob_store_test_digc_held(fx->s) > BLOB_DIGC_BYTES - one_set);
	for (unsigned k = 0; k <= BLOB_DIGC_WAYS; k++)
		free(ref[k]);
}

/* A block damaged after its chunk's digests were cached: EIO (the whole
 * path finds the id wrong too), the cached array dropped (the next read
 * brings the digests again), the undamaged blocks read right. */
static void test_digest_cache_damaged(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref, *bad;
	chunk_id id;

	fx_cluster_only(fx);
	ref = put_one(fx, &id, MiB);
	read_warm(fx, &id, MiB, ref, 4 * 4096, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	bad = malloc(MiB);
	assert_non_null(bad);
	memcpy(bad, ref, MiB);
	bad[5 * 4096 + 9] ^= 0x01;
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &id, bad, MiB), 0);
	read_warm(fx, &id, MiB, ref, 5 * 4096, 4096, -EIO, (struct cost){1, 1, 4096});
	assert_false(blob_store_test_digc_get(fx->s, &id, MiB, NULL));
	read_warm(fx, &id, MiB, ref, 6 * 4096, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	read_warm(fx, &id, MiB, ref, 5 * 4096 + 4000, 200, -EIO, (struct cost){1, 1, 8192});
	read_warm(fx, &id, MiB, ref, 7 * 4096, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	/* Cut short with the digests cached: its last block missing is not
	 * taken for zeros, even where it was zeros. */
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &id, ref, MiB - 4096), 0);
	read_warm(fx, &id, MiB, ref, MiB - 4096, 4096, -EIO, (struct cost){1, 1, 0});
	memset(ref + MiB - 4096, 0, 4096);
	assert_int_equal(blob_store_put_chunk(fx->s, &id, ref, MiB), 1);
	read_warm(fx, &id, MiB, ref, MiB - 8192, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &id, ref, MiB - 4096), 0);
	read_warm(fx, &id, MiB, ref, MiB - 4096, 4096, -EIO, (struct cost){1, 1, 0});
	free(bad);
	free(ref);
}

/* A wrong array in the cache — garbage, another chunk's, one changed
 * digest, its own for another length — never serves wrong bytes: what
 * does not verify is read whole (the right bytes, the id says so), and
 * the array the whole read computes replaces it.  An array that verifies
 * no block is never cached. */
static void test_digest_cache_wrong(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t junk[BLOB_DIG_MAX], dig[BLOB_DIG_MAX], want[BLOB_DIG_MAX];
	struct blob_rados_counters c;
	uint8_t *a, *b;
	chunk_id ida, idb;

	fx_cluster_only(fx);
	fx_fill(fx, junk, sizeof junk);
	a = put_one(fx, &ida, MiB);
	b = put_one(fx, &idb, MiB);
	blob_store_block_digests(fx->s, &ida, a, MiB, want);
	blob_store_test_digc_put(fx->s, &ida, MiB, junk);
	read_warm(fx, &ida, MiB, a, 3 * 4096, 4096, 0, (struct cost){1, 1, 4096});
	assert_true(blob_store_test_digc_get(fx->s, &ida, MiB, dig));
	assert_memory_equal(dig, want, BLOB_DIG_MAX);
	digs_settled(fx, &c);

	blob_store_block_digests(fx->s, &ida, a, MiB, dig);
	blob_store_test_digc_put(fx->s, &idb, MiB, dig); /* a's array under b */
	read_warm(fx, &idb, MiB, b, 0, 4096, 0, (struct cost){1, 1, 4096});
	blob_store_block_digests(fx->s, &idb, b, MiB, want);
	assert_true(blob_store_test_digc_get(fx->s, &idb, MiB, dig));
	assert_memory_equal(dig, want, BLOB_DIG_MAX);
	free(a);
	free(b);

	/* One digest changed: the others still serve; that one reads whole. */
	a = put_one(fx, &ida, MiB);
	blob_store_block_digests(fx->s, &ida, a, MiB, dig);
	dig[7 * BLOB_DIG_SIZE] ^= 0x80;
	blob_store_test_digc_put(fx->s, &ida, MiB, dig);
	read_warm(fx, &ida, MiB, a, 6 * 4096, 4096, 0, (struct cost){1, 0, 4096});
	read_warm(fx, &ida, MiB, a, 7 * 4096, 4096, 0, (struct cost){1, 1, 4096});
	free(a);

	/* An array for 9999 bytes of a 10000-byte chunk is not this read's:
	 * the read brings the object's own. */
	a = put_one(fx, &ida, 10000);
	blob_store_block_digests(fx->s, &ida, a, 9999, dig);
	blob_store_test_digc_put(fx->s, &ida, 9999, dig);
	read_warm(fx, &ida, 10000, a, 0, 10, 0, (struct cost){1, 0, 4096 + 3 * 8});
	assert_true(blob_store_test_digc_get(fx->s, &ida, 10000, NULL));
	free(a);

	/* Garbage on the object verifies nothing: never cached (a block
	 * damaged too, so that no whole read sets the right array). */
	a = put_one(fx, &ida, MiB);
	b = malloc(MiB);
	assert_non_null(b);
	memcpy(b, a, MiB);
	b[MiB - 1] ^= 0x10;
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &ida, b, MiB), 0);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &ida, junk, BLOB_DIG_MAX), 0);
	read_warm(fx, &ida, MiB, a, 0, 4096, -EIO, (struct cost){1, 1, 4096 + DIGS});
	assert_false(blob_store_test_digc_get(fx->s, &ida, MiB, NULL));
	digs_settled(fx, &c);
	free(a);
	free(b);
}

/* The store's log lines, counted: those saying a chunk's digests were
 * wrong. */
struct log_count {
	int lines, wrong;
};

static void on_log(void *arg, const char *line)
{
	struct log_count *l = arg;

	l->lines++;
	l->wrong += strstr(line, "block digests do not match") != NULL;
}

/* The backfill: a chunk without digests (placed before them) read whole
 * once gets them on its object, once, from the bytes its id verified, and
 * in the cache (its next small read brings 4096 bytes); junk digests are
 * replaced alike.  It never creates an object; at most
 * RADOS_DIGS_INFLIGHT are in flight, one more is not started. */
static void test_backfill(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t dig[BLOB_DIG_MAX + 8], want[BLOB_DIG_MAX], junk[BLOB_DIG_MAX];
	struct blob_rados_counters c0, c1;
	struct log_count log = {0};
	uint8_t *ref;
	chunk_id id, absent;

	fx_cluster_only(fx);
	blob_store_set_log(fx->s, on_log, &log);
	ref = put_one(fx, &id, MiB);
	blob_store_block_digests(fx->s, &id, ref, MiB, want);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &id, NULL, 0), 0);
	assert_int_equal(object_digests(fx, &id, dig), 0);
	digs_settled(fx, &c0);
	read_warm(fx, &id, MiB, ref, 40960, 4096, 0, (struct cost){1, 1, 4096});
	assert_int_equal(log.wrong, 0); /* none is not wrong: placed before them */
	digs_settled(fx, &c1);
	assert_int_equal(c1.digs_sent - c0.digs_sent, 1);
	assert_int_equal(c1.digs_set - c0.digs_set, 1);
	assert_int_equal(object_digests(fx, &id, dig), BLOB_DIG_MAX);
	assert_memory_equal(dig, want, BLOB_DIG_MAX);
	assert_true(blob_store_test_digc_get(fx->s, &id, MiB, NULL));
	/* Served from the chunk cache now: no part read, no second backfill. */
	read_warm(fx, &id, MiB, ref, 0, 4096, 0, (struct cost){0, 0, 0});
	/* Another host (no chunk cached, no array) finds them on the object. */
	blob_store *mine = fx->s;
	fx->s = fx_other_host(fx, "h2");
	read_warm(fx, &id, MiB, ref, 8192, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	read_warm(fx, &id, MiB, ref, 12288, 4096, 0, (struct cost){1, 0, 4096});
	digs_settled(fx, &c0);
	assert_int_equal(c0.digs_sent, 0);
	blob_store_close(fx->s);
	fx->s = mine;
	digs_settled(fx, &c0);
	free(ref);

	/* Junk on the object: replaced by the right ones. */
	fx_fill(fx, junk, sizeof junk);
	ref = put_one(fx, &id, MiB);
	blob_store_block_digests(fx->s, &id, ref, MiB, want);
	assert_int_equal(blob_rados_test_set_digests(fx->s->be, &id, junk, BLOB_DIG_MAX), 0);
	read_warm(fx, &id, MiB, ref, 0, 4096, 0, (struct cost){1, 1, 4096 + DIGS});
	assert_int_equal(log.wrong, 1);
	digs_settled(fx, &c1);
	assert_int_equal(c1.digs_sent - c0.digs_sent, 1);
	assert_int_equal(c1.digs_set - c0.digs_set, 1);
	assert_int_equal(object_digests(fx, &id, dig), BLOB_DIG_MAX);
	assert_memory_equal(dig, want, BLOB_DIG_MAX);
	free(ref);

	/* Never an object made: a chunk gone meanwhile stays gone. */
	memset(&absent, 0x5b, sizeof absent);
	ref = calloc(1, MiB);
	assert_non_null(ref);
	blob_store_backfill(fx->s, &absent, ref, MiB);
	free(ref);
	digs_settled(fx, &c0);
	assert_int_equal(c0.digs_sent - c1.digs_sent, 1);
	assert_int_equal(c0.digs_set - c1.digs_set, 0);
	assert_int_equal(fx->s->be->exists(fx->s->be, &absent), 0);

	/* The bound: RADOS_DIGS_INFLIGHT (8) in flight, the ninth not
	 * started. */
	int started[9];
	blob_rados_test_hold_digs(fx->s->be, true);
	for (int k = 0; k < 9; k++)
		started[k] = fx->s->be->set_digests(fx->s->be, &absent, want, BLOB_DIG_MAX);
	blob_rados_counters(fx->s->be, &c1);
	blob_rados_test_hold_digs(fx->s->be, false); /* before any assert: the teardown waits for them */
	for (int k = 0; k < 8; k++)
		assert_int_equal(started[k], 1);
	assert_int_equal(started[8], 0);
	assert_int_equal(c1.digs_sent - c0.digs_sent, 8);
	digs_settled(fx, &c1);
	assert_int_equal(c1.digs_done - c0.digs_done, 8);
	assert_int_equal(c1.digs_set - c0.digs_set, 0);
	assert_int_equal(fx->s->be->set_digests(fx->s->be, &absent, want, BLOB_DIG_MAX), 1);
	digs_settled(fx, &c1);
	assert_int_equal(fx->s->be->exists(fx->s->be, &absent), 0);
	blob_store_set_log(fx->s, NULL, NULL); /* (log is this frame's) */
}

static int part_calls;
static int part_fails(struct blob_backend *be, const chunk_id *id, uint64_t off, size_t len, void *buf, size_t *got,
                      uint8_t *dig, size_t cap, size_t *dig_len)
{
	(void)be, (void)id, (void)off, (void)len, (void)buf, (void)got, (void)dig, (void)cap, (void)dig_len;
	part_calls++;
	return -EIO; /* what get_part answers after its tries timed out */
}

/* A part read that could not be made is EIO at once (could not tell):
 * no whole read after it.  A chunk that is not there reads as the whole
 * path says (the part read's ENOENT is not the answer). */
static void test_could_not_tell(void **state)
{
	struct blob_fx *fx = *state;
	int (*real)(struct blob_backend *, const chunk_id *, uint64_t, size_t, void *, size_t *, uint8_t *, size_t,
	            size_t *);
	uint8_t *ref, got[4096];
	chunk_id id, absent;

	fx_cluster_only(fx);
	ref = put_one(fx, &id, MiB);
	real = fx->s->be->get_part;
	fx->s->be->get_part = part_fails;
	read_costs(fx, &id, MiB, ref, 8192, 4096, -EIO, (struct cost){0, 0, 0});
	fx->s->be->get_part = real;
	assert_int_equal(part_calls, 1);

	memset(&absent, 0x5a, sizeof absent);
	int whole = blob_store_read_chunk_how(fx->s, NULL, &absent, MiB, got, 0, 4096, false);
	assert_true(whole < 0);
	read_costs(fx, &absent, MiB, ref, 0, 4096, whole, (struct cost){1, 1, 0});

	/* The digests cached: the same (a part read of the blocks only). */
	read_warm(fx, &id, MiB, ref, 0, 4096, 0, (struct cost){1, 0, 4096 + DIGS});
	fx->s->be->get_part = part_fails;
	read_warm(fx, &id, MiB, ref, 8192, 4096, -EIO, (struct cost){0, 0, 0});
	fx->s->be->get_part = real;
	assert_int_equal(part_calls, 2);
	assert_true(blob_store_test_digc_get(fx->s, &id, MiB, NULL));
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_small_read_costs, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_size_bound, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_block, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_digests_wrong, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_blocks_moved, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_short_last_block, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_last_block_lengths, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_sealed_whole, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_sequential_whole, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_could_not_tell, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_digest_cache_costs, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_digest_cache_bound, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_digest_cache_damaged, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_digest_cache_wrong, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_backfill, blob_fx_setup, blob_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

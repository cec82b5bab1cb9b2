/*
 * blob_part.h — reads of part of a stored chunk, verified by block digests
 * (part.c, SPEC §13), and the digests a chunk is placed with.  Included by
 * blobstore_int.h; model/ and fs/ never see it.
 */
#ifndef IMGFS_BLOB_PART_H
#define IMGFS_BLOB_PART_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blob_backend.h"
#include "blobstore.h"
#include "imgfs_lock.h"

/* The largest read of a chunk that fetches only the blocks it covers
 * (part.c); larger ones, and sequential readers (read.c), read whole
 * chunks through the cache. */
#define BLOB_PART_MAX (64u * 1024)

/* The store's cache of block digests (part.c, SPEC §12): the digest
 * arrays of chunks read in part, so that a later small read of the same
 * chunk fetches its blocks only.  Set-associative: a chunk's id (a keyed
 * hash nobody without the store's secret chooses) picks a set of
 * BLOB_DIGC_WAYS entries, the least recently used of which makes room.
 * At most BLOB_DIGC_BYTES of entries (allocated at the first insert: a
 * store that never reads in part holds none), fewer under a test's
 * limit. */
#define BLOB_DIGC_BYTES (16u << 20)
#define BLOB_DIGC_WAYS 8u
struct blob_digc_ent {
	chunk_id id;
	uint32_t len; /* the chunk's length, which its digests bind; 0: empty */
	uint64_t tick;
	uint8_t dig[BLOB_DIG_MAX];
};
struct blob_digc {
	pthread_mutex_t lock;
	struct blob_digc_ent *ent; /* nsets * BLOB_DIGC_WAYS, or NULL */
	size_t limit;              /* bytes the entries may take */
	uint32_t nsets;
	uint64_t tick;
};
IMGFS_LOCK_LEVEL(blob_digc_lock, 50); /* a leaf (blobstore_int.h "Locks") */
int blob_digc_init(struct blob_digc *d);
void blob_digc_release(struct blob_digc *d);
/* For tests, before the store's first read: the cache's bound in bytes
 * (0: no cache). */
void blob_store_test_digc_limit(blob_store *s, size_t bytes);
/* For tests: chunk id's array (for a chunk of len bytes) cached as dig
 * says, whatever it is (a wrong array in the cache); the bytes the
 * cache's entries take; chunk id's array (len bytes of chunk) into out
 * (BLOB_DIG_LEN(len) bytes; out may be NULL) when cached. */
void blob_store_test_digc_put(blob_store *s, const chunk_id *id, size_t len, const uint8_t *dig);
size_t blob_store_test_digc_held(blob_store *s);
bool blob_store_test_digc_get(blob_store *s, const chunk_id *id, size_t len, uint8_t *out);
/* The block digests of chunk id (len bytes at buf) into out
 * (BLOB_DIG_LEN(len) bytes): blob_backend.h's BLOB_DIG_*. */
void blob_store_block_digests(const blob_store *s, const chunk_id *id, const void *buf, size_t len, uint8_t *out);
/* Those, into out, when the backend keeps them (get_part) and len fits a
 * chunk: out; else NULL (what put and add are handed). */
const uint8_t *blob_store_digests_for(const blob_store *s, const chunk_id *id, const void *buf, size_t len,
                                      uint8_t out[BLOB_DIG_MAX]);
/* What a part read found when it sends the read down the whole path. */
enum blob_part_why {
	BLOB_PART_FINE,    /* served, or not tried (past BLOB_PART_MAX, no get_part, absent) */
	BLOB_PART_BARE,    /* the chunk has no digests (placed before them) */
	BLOB_PART_SUSPECT, /* something did not verify: a block, the digests, the object's length */
};
/* Bytes [coff, coff + n) of plain chunk id (chunk_len bytes) into dst,
 * only the blocks they cover read, each verified by its digest (the
 * cached array's, else those read beside the blocks in the same
 * operation): 0 served; 1 when the whole path must tell (*why says what
 * was found); -EIO when the read could not be made (could not tell),
 * -ENOMEM. */
int blob_store_read_part(blob_store *s, const chunk_id *id, size_t chunk_len, void *dst, size_t coff, size_t n,
                         enum blob_part_why *why);
/* The blocks [first, last] a read of [coff, coff + n) of chunk id
 * (chunk_len bytes) covers, and their bytes [off, end): false when that
 * is no part read (empty, past BLOB_PART_MAX, outside the chunk, a null
 * id). */
struct blob_part_span {
	uint32_t first, last;
	size_t off, end;
};
bool blob_part_span(const chunk_id *id, size_t chunk_len, size_t coff, size_t n, struct blob_part_span *sp);
/* A started part read's halves (cache.c's blob_store_read_part_start):
 * the digests of blocks [first, last] of chunk id the store holds, into
 * dig (block first's first), or false; and the blocks brought (got bytes
 * at buf, from block first's start) checked against them: true when
 * every one verifies, else false and the held array dropped. */
bool blob_store_part_held(blob_store *s, const chunk_id *id, size_t chunk_len, uint32_t first, uint32_t last,
                          uint8_t *dig);
bool blob_store_part_verify(blob_store *s, const chunk_id *id, size_t chunk_len, const struct blob_part_span *sp,
                            const uint8_t *buf, size_t got, const uint8_t *dig);
/* blob_store_read_part, started, when the cache does not hold the chunk
 * and the store holds the digests of the blocks [coff, coff + n) covers:
 * 1 when done(arg, rc) will be called once, on a thread of the backend's
 * client, with what blob_store_read_chunk would return (a read that was
 * not answered, came back short or did not verify is made again that
 * way, on that thread); 0 when not started (done is not called). */
int blob_store_read_part_start(blob_store *s, const chunk_id *id, size_t chunk_len, void *dst, size_t coff, size_t n,
                               void (*done)(void *arg, int rc), void *arg);
/* After a whole read verified chunk id (len bytes at buf) by its id, when
 * the part read found it BARE or SUSPECT: its digests, computed from
 * those bytes, cached, and set on its object by the backend (set_digests:
 * started, not waited for; never creating an object). */
void blob_store_backfill(blob_store *s, const chunk_id *id, const uint8_t *buf, size_t len);
/* blob_store_read_chunk (cache.c), judged: -EUCLEAN when the chunk's
 * bytes were read and are not the chunk (its hash, tag or length), where
 * blob_store_read_chunk says EIO; part_ok false: the whole chunk through
 * the cache whatever the size (a sequential reader, whose next chunks are
 * read ahead). */
int blob_store_read_chunk_how(blob_store *s, const blob_key *key, const chunk_id *id, size_t chunk_len, void *dst,
                              size_t coff, size_t n, bool part_ok);

#endif

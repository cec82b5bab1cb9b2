/*
 * blob_part.h — reads of part of a stored chunk, verified by block digests
 * (part.c, SPEC §13), and the digests a chunk is placed with.  Included by
 * blobstore_int.h; model/ and fs/ never see it.
 */
#ifndef IMGFS_BLOB_PART_H
#define IMGFS_BLOB_PART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blob_backend.h"
#include "blobstore.h"

/* The largest read of a chunk that fetches only the blocks it covers
 * (part.c); larger ones, and sequential readers (read.c), read whole
 * chunks through the cache. */
#define BLOB_PART_MAX (64u * 1024)
/* The block digests of chunk id (len bytes at buf) into out
 * (BLOB_DIG_LEN(len) bytes): blob_backend.h's BLOB_DIG_*. */
void blob_store_block_digests(const blob_store *s, const chunk_id *id, const void *buf, size_t len, uint8_t *out);
/* Those, into out, when the backend keeps them (get_part) and len fits a
 * chunk: out; else NULL (what put and add are handed). */
const uint8_t *blob_store_digests_for(const blob_store *s, const chunk_id *id, const void *buf, size_t len,
                                      uint8_t out[BLOB_DIG_MAX]);
/* Bytes [coff, coff + n) of plain chunk id (chunk_len bytes) into dst,
 * only the blocks they cover read, each verified by its digest: 0 served;
 * 1 when the whole path must tell (no digests, n past BLOB_PART_MAX, no
 * get_part; *suspect when something did not verify); -EIO when the read
 * could not be made (could not tell), -ENOMEM. */
int blob_store_read_part(blob_store *s, const chunk_id *id, size_t chunk_len, void *dst, size_t coff, size_t n,
                         bool *suspect);
/* blob_store_read_chunk (cache.c); part_ok false: the whole chunk through
 * the cache whatever the size (a sequential reader, whose next chunks are
 * read ahead). */
int blob_store_read_chunk_how(blob_store *s, const blob_key *key, const chunk_id *id, size_t chunk_len, void *dst,
                              size_t coff, size_t n, bool part_ok);

#endif

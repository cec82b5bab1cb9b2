/*
 * blob_digest.h — digests of a blob's bytes: SHA-256 (what `sha256sum`
 * of a download prints) and XXH3-128, whole or in steps (digest.c).
 * Part of the blob store's API (blobstore.h has the model, the errors
 * and the threads, which hold here too).
 */
#ifndef IMGFS_BLOB_DIGEST_H
#define IMGFS_BLOB_DIGEST_H

#include "blobstore.h"

/* ---- SHA-256 of a blob's bytes (SPEC §2.1 `sha256`; digest.c) ---------------
 *
 * What `sha256sum` prints for a download of the raw blob, computed on the
 * way in: fed in order, zero runs as counts (an upload's holes, a sealed
 * blob's).  OpenSSL's libcrypto does the hashing (SHA-NI where the CPU has
 * it): every byte of a virtual size costs time, holes included — about
 * 0.55 s per GiB here, 22 s for a blank 40 GiB disk. */
typedef struct blob_sha256 blob_sha256;
int blob_sha256_new(blob_sha256 **out);
void blob_sha256_free(blob_sha256 *h);
void blob_sha256_update(blob_sha256 *h, const void *buf, size_t len);
void blob_sha256_zeros(blob_sha256 *h, uint64_t n);
/* The lowercase hex digest (64 characters and a NUL); h is spent. */
int blob_sha256_final(blob_sha256 *h, char out[65]);
/* The SHA-256 of the sealed blob m, read through the store
 * (blob_store_walk_bytes; tick as there). */
int blob_store_sha256(blob_store *s, const blob_manifest *m, char out[65], int (*tick)(void *arg, uint64_t done),
                      void *arg);
/* The SHA-256 (sha) and the XXH3-128 (xxh, as blob_store_hash_blob) of the
 * sealed blob m from one walk; either may be NULL (not wanted).  Holes are
 * fed as zeros from a static buffer, never read or copied, but they cost
 * hashing time (the caller bounds what it hashes: model/task/checksum.c). */
int blob_store_digests(blob_store *s, const blob_manifest *m, char sha[65], char xxh[33],
                       int (*tick)(void *arg, uint64_t done), void *arg);
/* The same walk in steps, for a pass that gives its thread back between
 * two pieces of a blob and goes on later without reading again what it
 * read (model/task/checksum.c): a blob_digest holds the hashes of the
 * bytes walked so far and where the walk is.  blob_store_digest_walk walks
 * m from there; a tick that stops it (-ECANCELED) leaves d at the last
 * piece handed on, to be walked on with the same m (the caller keeps d
 * with the blob it is for; a sealed blob's bytes never change).  At the
 * end it gives the hex digests d has into sha / xxh where not NULL.  Any
 * other error leaves d of no further use. */
typedef struct blob_digest blob_digest;
int blob_digest_new(bool sha, bool xxh, blob_digest **out);
void blob_digest_free(blob_digest *d);
/* The bytes walked so far; whether d hashes at least what is asked. */
uint64_t blob_digest_done(const blob_digest *d);
bool blob_digest_has(const blob_digest *d, bool sha, bool xxh);
int blob_store_digest_walk(blob_store *s, const blob_manifest *m, blob_digest *d, char sha[65], char xxh[33],
                           int (*tick)(void *arg, uint64_t done), void *arg);
/* The same fed by a thread of its own, so that the writer that feeds it
 * (an upload's FUSE writes) waits only for a copy: update copies into a
 * bounded queue (BLOB_SHA256_QUEUE chunk buffers; a full queue waits);
 * lend queues buf itself, which that thread copies into the queue first
 * thing, and settle waits until every lent piece is copied (buf must stay
 * unchanged until then: the writer does other work meanwhile); zeros
 * queues a count (hashed by that thread: the caller bounds it).
 * finish waits for the thread and gives the digest, and the XXH3-128 of
 * the same bytes in xxh when not NULL (-ENOMEM if a buffer could not be
 * had: the caller hashes another way). */
#define BLOB_SHA256_QUEUE 8
typedef struct blob_sha256_async blob_sha256_async;
int blob_sha256_async_new(blob_sha256_async **out);
/* The same, hashing also what also asks (BLOB_ALSO_*) in the same pass:
 * Glance's `checksum` (MD5) and its default `os_hash_algo` (SHA-512),
 * SPEC §19.5, by a second thread reading the same queue beside the first.  Once finish gave 0, also gives their lowercase hex ("" for
 * one not asked, or when finish failed): once. */
#define BLOB_ALSO_MD5 1u
#define BLOB_ALSO_SHA512 2u
int blob_sha256_async_new_also(blob_sha256_async **out, unsigned also);
void blob_sha256_async_update(blob_sha256_async *a, const void *buf, size_t len);
void blob_sha256_async_lend(blob_sha256_async *a, const void *buf, size_t len);
void blob_sha256_async_settle(blob_sha256_async *a);
void blob_sha256_async_zeros(blob_sha256_async *a, uint64_t n);
int blob_sha256_async_finish(blob_sha256_async *a, char out[65], char xxh[33]);
void blob_sha256_async_also(blob_sha256_async *a, char md5[33], char sha512[129]);
void blob_sha256_async_free(blob_sha256_async *a); /* finish or not */

#endif

/*
 * blobstore.h — content-addressed chunk store for imgfs disk blobs.
 *
 * Who calls it: model/ (creating, sealing, collecting blobs) and fs/ (reads,
 * SEEK_DATA/SEEK_HOLE, writes to writable blobs).  Nothing here knows about
 * FUSE, inodes or SQLite; this is the only code that includes <xxhash.h>
 * (through xxh.h).
 *
 * Workload: disk images of 1 MiB .. 100s of GiB, mostly sparse, read
 * sequentially by backup tools and randomly by qemu-img; written by uploads
 * (mostly sequential) and instance disks (random).  A tenant chooses a
 * disk's virtual size, up to BLOB_MAX_SIZE (4 PiB), so nothing here costs
 * memory or time per chunk of the virtual size: manifests and wblobs hold
 * their data chunks only, and every walk over a blob steps from data
 * chunk to data chunk (SPEC §12 "Bounded by design").
 *
 * Model
 *   A blob is a byte array of a fixed virtual size cut into BLOB_CHUNK_SIZE
 *   aligned chunks.  An immutable blob is described by a manifest: for every
 *   chunk index either a chunk id or the null id (a hole: reads as zeros,
 *   nothing stored).  A chunk is stored once per region store under its id,
 *   the keyed XXH3-128 of its bytes (key: the state directory's secret), so
 *   equal ids mean equal bytes (SPEC §11) and identical chunks are shared
 *   between blobs and, because the key is per state directory, recognisable
 *   across the regions' stores (a cross-region copy skips chunks already
 *   there).  The last chunk of a blob may be shorter than BLOB_CHUNK_SIZE.
 *   A chunk that is all zeros is never stored.
 *
 *   A writable blob ("wblob": instance disks, uploads in progress) is a base
 *   manifest plus a sparse overlay file holding every chunk written since;
 *   a chunk is copied into the overlay on its first write (copy-on-write).
 *   Sealing a wblob stores its overlay chunks and yields a manifest, so
 *   capturing a disk never copies unchanged chunks.
 *
 * The API is in three headers: this one (ids, keys, the store, batches,
 * manifests, reads), blob_wblob.h (writable blobs) and blob_digest.h
 * (SHA-256 and XXH3 of a blob's bytes).  Where a region's store lives and
 * what its files hold: blob_format.h.  Backends (where chunk bytes are
 * kept, and how to add one): blob_backend.h, which only blobstore/ and
 * its tests include.
 *
 * Errors: every function returns 0 (or a count) on success and -errno on
 * failure.  A chunk whose bytes do not hash to its id is -EIO (and a line on
 * stderr), never wrong bytes.  A full disk is -ENOSPC and leaves nothing
 * visible half-written.
 *
 * Threads: a blob_store may be used from many threads at once; a
 * blob_manifest is immutable after creation and may be shared read-only;
 * a blob_wblob must be serialised by its caller for writes (reads may run
 * concurrently with each other).
 */
#ifndef IMGFS_BLOBSTORE_H
#define IMGFS_BLOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "blob_format.h"

/* ---- chunk ids ---------------------------------------------------------- */

typedef struct chunk_id {
	uint8_t b[16]; /* XXH128_canonical_t bytes (big-endian high64, low64) */
} chunk_id;

bool chunk_id_equal(const chunk_id *a, const chunk_id *b);
bool chunk_id_is_null(const chunk_id *id); /* all zero bytes: a hole */
void chunk_id_fmt(char out[33], const chunk_id *id);       /* 32 lowercase hex + NUL */
int chunk_id_parse(chunk_id *out, const char *hex);        /* exactly 32 hex digits, else -EINVAL */

/* ---- keys of encrypted blobs (SPEC §17; crypt.c) ---------------------------
 *
 * A blob is plain or sealed under a data key: every reader and writer of
 * the store takes the blob's key context with the blob (a manifest's
 * `key`, a wblob's at open, a batch's at creation; NULL: plain) and never
 * asks what kind of image it belongs to.  Under a key, each chunk is
 * stored sealed whole (AES-256-GCM, its nonce derived from its bytes:
 * BLOB_SEAL_OVERHEAD bytes more than the chunk) and named, like any
 * chunk, by the keyed hash of what is stored — so the store verifies,
 * copies and collects it without the key, equal chunks of one key are
 * stored once, and nothing in the store is a hash of the plaintext.  A
 * wblob's overlay is AES-256-XTS by 4 KiB sector.  Reading a chunk checks
 * its GCM tag: -EIO when it does not verify (a changed byte, another key).
 * A key context is immutable and shared (reference counted). */
#define BLOB_KEY_SIZE 32      /* a data key: AES-256 */
#define BLOB_SEAL_NONCE 12
#define BLOB_SEAL_TAG 16
#define BLOB_SEAL_OVERHEAD (BLOB_SEAL_NONCE + BLOB_SEAL_TAG)
#define BLOB_OBJ_MAX (BLOB_CHUNK_SIZE + BLOB_SEAL_OVERHEAD) /* the largest stored object */
typedef struct blob_key blob_key;
/* The key context of data key dk (its working keys derived, dk not kept). */
int blob_key_new(blob_key **out, const uint8_t dk[BLOB_KEY_SIZE]);
blob_key *blob_key_ref(const blob_key *k);  /* another reference; NULL gives NULL */
void blob_key_unref(const blob_key *k);     /* accepts NULL */
/* Whether a and b are the same data key (NULL and NULL: both plain). */
bool blob_key_same(const blob_key *a, const blob_key *b);
/* AES-256-GCM of len bytes (libcrypto's): seal into out and tag; open in
 * place, -EIO (buf wiped) when the tag does not verify.  What chunks are
 * sealed with (no associated data), and what model/ wraps data keys
 * with. */
int blob_gcm_seal(const uint8_t key[32], const uint8_t nonce[BLOB_SEAL_NONCE], const void *aad, size_t aadlen,
                  const void *plain, size_t len, uint8_t *out, uint8_t tag[BLOB_SEAL_TAG]);
int blob_gcm_open(const uint8_t key[32], const uint8_t nonce[BLOB_SEAL_NONCE], const void *aad, size_t aadlen,
                  uint8_t *buf, size_t len, const uint8_t tag[BLOB_SEAL_TAG]);

/* A short value (a digest; at most BLOB_CHUNK_SIZE bytes) sealed under k
 * as a chunk is, into out (room for len + BLOB_SEAL_OVERHEAD): its length,
 * or -errno; and opened in place (-EIO, wiped, when its tag does not
 * verify), *plain_len bytes at obj + BLOB_SEAL_NONCE.  What model/ keeps
 * an encrypted blob's SHA-256 under. */
int blob_key_seal(const blob_key *k, uint8_t *out, const void *plain, size_t len);
int blob_key_open(const blob_key *k, uint8_t *obj, size_t len, size_t *plain_len);

/* ---- the secret (one per state directory) -------------------------------- */

/* Reads the secret at path, or creates it (random, mode 0600, written to a
 * temporary name, fsynced and link()ed into place, which never replaces: two
 * processes creating it at once end up using the same one) when the file is
 * absent. */
int blob_secret_load_or_create(uint8_t out[BLOB_SECRET_SIZE], const char *path);
/* Reads the secret at path: 0, -ENOENT when there is none, -EINVAL when
 * the file is not one. */
int blob_secret_load(uint8_t out[BLOB_SECRET_SIZE], const char *path);
/* A fingerprint of a secret that does not give it away: what names a
 * service in a RADOS pool's owner line and a state directory's mark. */
uint64_t blob_secret_fingerprint(const uint8_t secret[BLOB_SECRET_SIZE]);

/* A put, a batch or a copy that finds its chunk stored already refreshes
 * the chunk's timestamp only when it is older than this many seconds (a
 * second copy of the same data then costs a read per chunk, not a write):
 * every chunk a writer stored or found carries a timestamp at or after
 * the writer's start minus this.  Both backends. */
#define BLOB_STAMP_FRESH 600

/* ---- the store ----------------------------------------------------------- */

typedef struct blob_store blob_store;

/* Opens the store rooted at dir (a region's directory), creating its
 * layout when missing.  The secret is copied. */
int blob_store_open(blob_store **out, const char *dir, const uint8_t secret[BLOB_SECRET_SIZE]);
/* Opens the store of region `region` as its store spec says ("" / NULL,
 * "dir:PATH", "rados:..."; see the top of this file): dir is the region's
 * directory on this host, which holds wblobs/ and tmp/ (and the chunks,
 * for ""); the secret is copied.  On failure why (cap bytes) holds a
 * one-line reason. */
int blob_store_open_spec(blob_store **out, const char *spec, const char *dir, const char *region,
                         const uint8_t secret[BLOB_SECRET_SIZE], char *why, size_t cap);
/* Whether region `region` could have its chunks where spec says, now:
 * a RADOS cluster that answers, a pool that exists and holds no other
 * region's chunks (nothing is written).  "" and "dir:" are not checked
 * here.  0, or -errno with a one-line reason in why. */
int blob_store_check_spec(const char *spec, const char *region, const uint8_t secret[BLOB_SECRET_SIZE], char *why,
                          size_t cap);
void blob_store_close(blob_store *s); /* accepts NULL */
/* Where the store's own lines go (a chunk that fails verification, an
 * object store that does not answer): fn(arg, line), one line without a
 * newline, from any thread.  Default: stderr.  Set once, right after
 * opening, before other threads use the store. */
void blob_store_set_log(blob_store *s, void (*fn)(void *arg, const char *line), void *arg);

/* Bytes this process copied from a caller's buffer, or between its own,
 * on their way into a store: into a SHA-256 queue, a batch lane's buffer,
 * a wblob's stage or sealing buffer (not the kernel's copies, not a
 * buffer exchanged instead of copied).  What an upload costs in memory
 * traffic per byte; /stats shows it. */
uint64_t blob_copied_bytes(void);

/* Keyed id of len bytes (len <= BLOB_CHUNK_SIZE). */
void blob_store_chunk_id(const blob_store *s, chunk_id *out, const void *buf, size_t len);

/* Stores one chunk, durably before it returns: all-zero data is not stored
 * and gives the null id.  Returns 1 if new bytes were written, 0 if
 * deduplicated or a hole.  Many chunks: blob_batch, below. */
int blob_store_put_chunk(blob_store *s, chunk_id *out, const void *buf, size_t len);

/* Storing many chunks with few waits for the disk (batch.c): what a seal
 * or a whole-blob put uses.  blob_batch_add gives the chunk's id at once
 * (null for all zeros) and returns 1 when the chunk is new — its bytes are
 * on their way, written by the batch's own threads — or 0 for a hole, a
 * chunk the store has (its mtime refreshed) or one this batch was given
 * before.  A chunk is guaranteed stored (readable, and surviving a power
 * cut) only once a later blob_batch_commit returned success: commit before
 * anything durable (a manifest) names the ids.  commit returns the number
 * of chunks the batch stored since it was made.  An error sticks: every
 * later add and commit returns it (a failure of the batch's threads comes
 * back from the next add or the commit); nothing the batch was given and
 * did not commit becomes visible, and chunks a failed commit placed are
 * whole and durable but named by no manifest (gc drops them after its
 * grace).  blob_batch_free drops what was not committed.  A batch belongs
 * to one thread. */
typedef struct blob_batch blob_batch;
int blob_batch_new(blob_batch **out, blob_store *s);
/* A batch whose chunks are sealed under key (NULL: plain, as
 * blob_batch_new): the ids add gives name the sealed chunks. */
int blob_batch_new_key(blob_batch **out, blob_store *s, const blob_key *key);
int blob_batch_add(blob_batch *b, chunk_id *out, const void *buf, size_t len);
int blob_batch_commit(blob_batch *b);
void blob_batch_free(blob_batch *b); /* accepts NULL */
/* Cross-region copy (SPEC §6.3): places chunk id of store src in the
 * batch's store unless it is there (or this batch took it) already, like
 * blob_batch_add of its bytes but without hashing them again (the id is
 * known): a hard link of the chunk file when both stores are local
 * directories on one file system, else its bytes read from src (verified)
 * and written by the batch.  A read that failed is judged (SPEC §13): the
 * chunk's stored bytes not the chunk -EUCLEAN, the chunk gone -ENOENT (a
 * verdict), no answer -EIO (could not tell).  Returns 1 when the chunk
 * is new in the store, 0 when it was there (its mtime refreshed, so gc
 * keeps it) or is the null id; durable, as for blob_batch_add, once a
 * later commit returned.  The stores must share the secret (-EINVAL). */
int blob_batch_copy(blob_batch *b, blob_store *src, const chunk_id *id);
/* blob_batch_copy of n ids at once (any n): the target's existence checks
 * are made together (on an object store, one wait for up to
 * BLOB_BATCH_MAX of them, not one round trip per chunk) and the chunks
 * the target lacks are read from src with several reads in flight.
 * moved[k] (may be NULL) = 1 when ids[k] was new in the store, else 0.
 * Returns how many were new, or -errno (sticky, as for add). */
int blob_batch_copy_many(blob_batch *b, blob_store *src, const chunk_id *ids, size_t n, uint8_t *moved);

/* Places every chunk src holds in dst (moving a region to another store):
 * each one dst lacks is linked or copied and verified as blob_batch_copy
 * does, committed in batches; *placed_out (may be NULL) gets how many
 * were new.  Run again, it places only what is still missing. */
int blob_store_copy_all(blob_store *dst, blob_store *src, uint64_t *placed_out);

/* Reads a chunk and verifies it against its id (-EIO on mismatch). */
int blob_store_get_chunk(blob_store *s, const chunk_id *id, void *buf, size_t cap, size_t *len_out);

int blob_store_has_chunk(blob_store *s, const chunk_id *id); /* 1, 0, -errno */
/* Reads chunk id as a blob sealed under key (NULL: plain) would, and
 * checks it (its hash, its tag under key, its length chunk_len; 0: any)
 * without keeping it: 0; -EUCLEAN when its bytes were read and are not
 * the chunk (a verdict, with a line in the log); -ENOENT when it is not
 * there; any other -errno (EIO: a timeout, an unreachable OSD or pool, a
 * disk's error) when nothing could be read — no verdict about the chunk
 * (SPEC §13: fsck counts it "could not check", never repairs it). */
int blob_store_check_chunk(blob_store *s, const blob_key *key, const chunk_id *id, size_t chunk_len);

/* Copies chunk id from src to dst unless dst has it; returns 1 when bytes
 * moved, 0 when dst already had it (cross-region copy, SPEC §6.3). */
int blob_store_copy_chunk(blob_store *dst, blob_store *src, const chunk_id *id);

/* The chunk cache's counters since the store was opened (/stats, and tests
 * that check reads are efficient): chunk reads it served from an entry
 * already loaded (or being loaded by another reader), and chunks it had to
 * read from the backend. */
uint64_t blob_store_cache_hits(blob_store *s);
uint64_t blob_store_cache_misses(blob_store *s);

/* Drops every chunk not in live whose mtime is older than not_after (unix
 * seconds; chunks written or deduplicated later may belong to a blob whose
 * metadata is not committed yet).  The chunks referenced by the store's
 * wblobs' base manifests are always kept.  *removed_out may be NULL. */
typedef struct blob_idset blob_idset;
int blob_idset_new(blob_idset **out);
void blob_idset_free(blob_idset *set);
int blob_idset_add(blob_idset *set, const chunk_id *id);
bool blob_idset_has(const blob_idset *set, const chunk_id *id);
int blob_store_gc(blob_store *s, const blob_idset *live, int64_t not_after, uint64_t *removed_out);
/* What blob_store_gc(s, live, not_after) would drop, nothing removed:
 * the chunks in *count_out and their stored bytes in *bytes_out (a chunk
 * removed meanwhile is not counted).  -ENOTSUP when the backend cannot
 * stat a chunk. */
int blob_store_gc_plan(blob_store *s, const blob_idset *live, int64_t not_after, uint64_t *count_out,
                       uint64_t *bytes_out);
/* blob_store_gc's rule applied to the n chunks ids only, without listing
 * the store (a destroyed image's, SPEC §16 "deleting": the caller knows
 * which chunks may have become garbage): each one in no live manifest, in
 * no wblob's base or .ids, and stamped before not_after is removed.  An id
 * twice or absent is no error.  *removed_out (may be NULL) counts them. */
int blob_store_gc_ids(blob_store *s, const blob_idset *live, const chunk_id *ids, size_t n, int64_t not_after,
                      uint64_t *removed_out);

/* Removes files in the store's tmp/ (on this host) whose mtime is older
 * than `before` (unix seconds): what writers that died left (a live
 * writer's temp file lives for one chunk or one wblob creation). */
int blob_store_clean_tmp(blob_store *s, int64_t before, uint64_t *removed_out);

/* Verifies every stored chunk (blob_store_check_chunk); calls bad(arg,
 * id, errno) for each one that failed: EUCLEAN when its bytes were read
 * and do not match its id (a verdict: with repair, it is deleted), any
 * other errno when it could not be read (never deleted, not counted).  A
 * chunk gone meanwhile (ENOENT: a concurrent gc) is not reported.  After
 * BLOB_VERIFY_GIVE_UP reads in a row that could not be made (the store
 * stopped answering) it stops with that -errno, as it does when the
 * listing fails: what was not reached is not checked.  Returns the number
 * of condemned chunks (>= 0) or -errno. */
#define BLOB_VERIFY_GIVE_UP 3
int blob_store_verify_all(blob_store *s, bool repair, void (*bad)(void *arg, const chunk_id *id, int err), void *arg);

/* ---- manifests ----------------------------------------------------------- */

/* A manifest is sparse: its data chunks only, as the encoding lists them
 * (index ascending, never a null id), so its memory follows what is
 * stored, never the virtual size.  Read it with blob_manifest_get (one
 * chunk: a binary search) or walk index[]/id[] (every data chunk in
 * order; blob_manifest_find says where to start); build it with
 * blob_manifest_set, in ascending order for O(1) appends. */
typedef struct blob_manifest {
	uint64_t size;    /* virtual size in bytes */
	blob_key *key;    /* its chunks are sealed under it (NULL: plain); a reference, not encoded */
	uint32_t nchunks; /* ceil(size / BLOB_CHUNK_SIZE) */
	uint64_t stored;  /* bytes of data chunks (what st_blocks counts), kept by set */
	uint32_t count;   /* data chunks */
	uint32_t *index;  /* count chunk indexes, strictly ascending, < nchunks */
	chunk_id *id;     /* count ids, none null: id[k] is chunk index[k]'s */
	uint32_t cap;     /* room in index[] and id[] */
} blob_manifest;

int blob_manifest_new(blob_manifest **out, uint64_t size); /* all holes, plain */
void blob_manifest_free(blob_manifest *m);
/* The key m's chunks are sealed under (a reference is taken; NULL: plain).
 * What decode gives is plain: the caller that knows the blob sets it. */
void blob_manifest_set_key(blob_manifest *m, const blob_key *key);
int blob_manifest_encode(void **out, size_t *len_out, const blob_manifest *m); /* caller free()s *out */
int blob_manifest_decode(blob_manifest **out, const void *buf, size_t len);    /* -EINVAL when malformed */
/* Chunk i's id, NULL for a hole (i >= nchunks too). */
const chunk_id *blob_manifest_get(const blob_manifest *m, uint32_t i);
/* The position in index[] of the first data chunk >= i (count: none). */
uint32_t blob_manifest_find(const blob_manifest *m, uint32_t i);
/* Chunk i (< nchunks) becomes id's, or a hole for the null id.  -ENOMEM
 * (the manifest unchanged), -EINVAL for i out of range. */
int blob_manifest_set(blob_manifest *m, uint32_t i, const chunk_id *id);

/* Length of chunk i of a blob of that size. */
size_t blob_chunk_len(uint64_t size, uint32_t i);

/* lseek(SEEK_DATA / SEEK_HOLE) over the manifest: the first data (or hole)
 * offset >= off; -ENXIO when off >= size or (SEEK_DATA) no data follows.
 * The virtual end of the blob counts as a hole. */
int64_t blob_manifest_seek(const blob_manifest *m, uint64_t off, int whence);

/* Reads len bytes at off (clamped to size) into buf; holes read as zeros;
 * every chunk is verified.  Returns the number of bytes read. */
ssize_t blob_store_read(blob_store *s, const blob_manifest *m, void *buf, size_t len, uint64_t off);
/* blob_store_read that tells a verdict from a read that failed (SPEC
 * §13.9): -EUCLEAN when a chunk's bytes were read and are not the chunk
 * (its hash, under m->key its tag, or its length the manifest's), with
 * *bad its index in the blob; any other -errno when nothing was read (EIO:
 * the store did not answer).  blob_store_read answers EIO for both (a
 * reader's, SPEC §11.3); this is for a caller whose answer differs (an
 * inspection: a damaged image is a verdict, SPEC §20.2). */
ssize_t blob_store_read_judged(blob_store *s, const blob_manifest *m, void *buf, size_t len, uint64_t off,
                               uint32_t *bad);
/* blob_store_read without the copy, for a reader that sends the bytes on
 * (fs/ replying to the kernel): when [off, off + len) (clamped to size)
 * lies in one data chunk, that chunk is loaded and verified as for a read
 * and kept in the store's cache until blob_store_unpin(*pin); *p points at
 * the bytes and the length is returned.  0 (nothing pinned) when the range
 * is empty, spans chunks or a hole, or the cache has no free entry: read it
 * with blob_store_read.  -errno as blob_store_read. */
typedef struct blob_cache_ent blob_pin;
ssize_t blob_store_read_pinned(blob_store *s, const blob_manifest *m, uint64_t off, size_t len, const void **p,
                               blob_pin **pin);
void blob_store_unpin(blob_store *s, blob_pin *pin); /* accepts NULL */

/* XXH3-128 (unkeyed, as `xxhsum -H2` prints it) of the whole blob, as 32
 * lowercase hex digits + NUL. */
int blob_store_hash_blob(blob_store *s, const blob_manifest *m, char out[33]);
/* Every byte of the sealed blob m in order, to a sink: bytes of the data
 * chunks (read once, verified, bypassing the cache, read ahead as a
 * sequential reader), zeros(n) for each run of holes (in pieces of at most
 * 64 MiB).  tick (may be NULL) is called after each data chunk and each
 * piece of zeros with the bytes handed on so far; a non-zero return stops
 * the walk (-ECANCELED).  from: where to begin, a place an earlier walk's
 * tick was given (-EINVAL inside a data chunk); 0 for the whole blob.  0
 * or -errno. */
struct blob_byte_sink {
	void (*bytes)(void *arg, const void *buf, size_t len);
	void (*zeros)(void *arg, uint64_t n);
	int (*tick)(void *arg, uint64_t done);
	void *arg;
};
int blob_store_walk_bytes(blob_store *s, const blob_manifest *m, uint64_t from, const struct blob_byte_sink *sink);

/* XXH3-128 (unkeyed) of the size and the chunk ids, 32 hex + NUL: names
 * the content without reading it (HTTP ETags). */
void blob_manifest_digest(const blob_manifest *m, char out[33]);

/* Stores a whole blob from a file descriptor (regular file or pipe) read
 * sequentially from offset 0 for size bytes: used by admin publish and the
 * platform catalogue.  Zero chunks become holes. */
int blob_store_put_fd(blob_store *s, blob_manifest **out, int fd, uint64_t size);

/* Stores a whole blob from memory, same rules (tests, small generated disks). */
int blob_store_put_buf(blob_store *s, blob_manifest **out, const void *buf, uint64_t size);
/* The same sealed under key (NULL: plain): *out carries the key. */
int blob_store_put_buf_key(blob_store *s, const blob_key *key, blob_manifest **out, const void *buf, uint64_t size);

#endif

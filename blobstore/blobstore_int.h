/*
 * blobstore_int.h — what the blobstore/ files share and nobody else sees.
 *
 * Who includes it: every blobstore source file and the blobstore unit tests (which
 * look at the cache's miss counter).  It holds the body of struct blob_store,
 * the verified-chunk cache and the small helpers several files need
 * (little-endian codecs, full-length read/write loops, the chunk-granular
 * seek shared by manifests and writable blobs, the local backend's extra
 * operations).  Nothing here is part of the public contract.
 *
 * The store's chunk cache (cache.c)
 *   The kernel reads a blob in 128 KiB .. 1 MiB requests, often from several
 *   threads at once, and a chunk is only usable after all of its 1 MiB has
 *   been read and hashed.  So the store keeps BLOB_CACHE_ENTRIES recently
 *   verified chunks, keyed by id.  An entry is EMPTY, LOADING (one thread is
 *   reading and verifying it; others wanting the same id wait on the
 *   condition variable instead of reading it again) or READY (immutable
 *   bytes; readers hold a reference while they copy out, without the lock).
 *   Eviction takes the least recently used unreferenced entry.  Because an id
 *   names its bytes forever, a cached entry can never be stale.
 *
 * Locks of blobstore/, what each guards and what may be taken under it
 * (arrows point from the holder; nothing is taken against an arrow), with
 * their IMGFS_LOCK_LEVEL (include/imgfs_lock.h: checked in Debug builds):
 *
 *   blob_wblob.lock 30 (rwlock: writes, truncates, punches, shares hold it
 *   for writing, reads for reading)
 *     -> blob_wblob.ext_lock 50  the .data.<k> files, opened by readers too
 *     -> wb_stream.batch_lock 32 (wblob_stream.c) a streamed upload's batch and `uncommitted`
 *          -> blob_batch.lock 34 (batch.c: the lanes' commands; released
 *                               around every backend call)
 *     -> blob_cache.lock (a base chunk read; released around the load)
 *     -> blob_sealer.lock, blob_sha256_async.lock (crypt.c, digest.c: a
 *        hand-off to their thread)
 *   Leaves (50), under which nothing of imgfs is taken: blob_cache.lock,
 *   blob_digc.lock (part.c), blob_batch.lock, blob_sealer.lock, blob_sha256_async.lock,
 *   ext_lock, and the RADOS backend's pf_lock (its prefetch slots).
 *
 * Above blobstore/, fs/fuse's disk locks are taken before all of these
 * (fs/fuse/fs.h, "locks"), the model's never while one of these is held.
 * "Under the lock" and _locked functions check it with IMGFS_ASSERT_HELD
 * or IMGFS_ASSERT_WRLOCKED (imgfs_assert.h) in Debug and Asan builds.
 */
#ifndef IMGFS_BLOBSTORE_INT_H
#define IMGFS_BLOBSTORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/types.h>

#include "blob_backend.h"
#include "blob_digest.h"
#include "blob_part.h"
#include "blob_wblob.h"
#include "blobstore.h"
#include "imgfs_lock.h"

#define BLOB_CACHE_ENTRIES 32
/* A chunk buffer's room (blob_chunk_buf_new): a sealed chunk, and the
 * padding of an O_DIRECT write of one (backend/local.c). */
#define BLOB_CHUNK_BUF (BLOB_CHUNK_SIZE + BLOB_DIO_ALIGN)
#define BLOB_CHUNK_MASK ((uint64_t)BLOB_CHUNK_SIZE - 1)
/* Buffer address and length that O_DIRECT takes on every common device
 * (the local backend writes such chunks with it; batch.c aligns its lane
 * buffers so). */
#define BLOB_DIO_ALIGN 4096
/* Largest virtual size: chunk indexes are u32. */
#define BLOB_MAX_SIZE ((uint64_t)UINT32_MAX << BLOB_CHUNK_SHIFT)

enum blob_cache_state { BLOB_CACHE_EMPTY, BLOB_CACHE_LOADING, BLOB_CACHE_READY };

struct blob_cache_ent {
	chunk_id id;
	uint8_t kfp[16]; /* the identity of the key it was opened with (zeros: plain) */
	uint8_t *buf;    /* a chunk buffer once allocated */
	size_t off;      /* the chunk's bytes begin at buf + off (a sealed one's after its nonce) */
	size_t len;
	enum blob_cache_state state;
	unsigned refs;
	uint64_t last_use;
};

struct blob_cache {
	pthread_mutex_t lock;
	pthread_cond_t loaded; /* broadcast whenever a LOADING entry settles */
	uint64_t tick;
	struct blob_cache_ent ent[BLOB_CACHE_ENTRIES];
	atomic_uint_fast64_t misses; /* chunks read from the backend for reads */
	atomic_uint_fast64_t hits;   /* chunk reads served by an entry already loaded */
};
IMGFS_LOCK_LEVEL(blob_cache_lock, 50); /* a leaf (blobstore_int.h "Locks") */

/* Where a store's own lines go (blob_store_set_log); fn NULL: stderr. */
struct blob_log {
	void (*fn)(void *arg, const char *line);
	void *arg;
};

struct blob_store {
	char *dir;               /* this host's directory of the store: wblobs/, tmp/ */
	char *where;             /* the chunks' place in log lines: dir, or the spec */
	uint8_t secret[BLOB_SECRET_SIZE];
	struct blob_backend *be; /* the local backend on dir, or the spec's */
	int wblobs_fd;           /* <dir>/wblobs, O_DIRECTORY */
	int tmp_fd;              /* <dir>/tmp, O_DIRECTORY */
	atomic_uint_fast64_t tmp_counter;
	struct blob_log log;
	struct blob_cache cache;
	struct blob_digc digc; /* part.c: digest arrays of chunks read in part */
	atomic_int test_read_err; /* tests only: blob_store_test_fail_reads */
	atomic_int test_put_err;  /* tests only: blob_store_test_fail_puts */
	atomic_uint marks_at_open; /* BLOB_MARKS_AT_OPEN; tests set less (blob_store_test_marks_at_open) */
};

/* A cloud disk's open reads the marks of at most this many patched chunks
 * (64 a round trip: 32 round trips); the others' are read when first
 * needed (wblob_patch.c "The marks, read when first needed"). */
#define BLOB_MARKS_AT_OPEN 2048

/* ---- cache.c ------------------------------------------------------------ */

int blob_cache_init(struct blob_cache *c);
/* Whether chunk id is in the cache, ready or being loaded (a hint: it may
 * be evicted at once). */
bool blob_cache_has(struct blob_cache *c, const chunk_id *id);
void blob_cache_release(struct blob_cache *c);
/* Copies bytes [coff, coff + n) of chunk id, sealed under key (NULL:
 * plain), whose length must be chunk_len, into dst, through the cache; the
 * chunk is verified (and opened) when it is loaded.  -EIO (and a line in
 * the store's log) when it is corrupt, does not open or is of the wrong
 * length.  Entries are the chunk as a key shows it: one loaded under
 * another key (or none) is not this one's.  A plain read of at most
 * BLOB_PART_MAX bytes of a chunk the cache does not hold reads only its
 * blocks when the backend keeps digests (part.c). */
int blob_store_read_chunk(blob_store *s, const blob_key *key, const chunk_id *id, size_t chunk_len, void *dst,
                          size_t coff, size_t n);
/* For tests: from now on every blob_store_read_chunk of s returns err (a
 * negative errno), until called again with 0 — a store read that fails,
 * with the errno the test picks, whoever the reader is (a wblob's copy of
 * a stored chunk).  Never called outside tests. */
void blob_store_test_fail_reads(blob_store *s, int err);
/* For tests: from now on every blob_store_put_known of s, and every
 * chunk a batch's lane stores, fails with err without storing anything,
 * until called again with 0. */
void blob_store_test_fail_puts(blob_store *s, int err);
/* For tests: the opens of s's cloud disks read the marks of at most n
 * patched chunks (BLOB_MARKS_AT_OPEN until then). */
void blob_store_test_marks_at_open(blob_store *s, unsigned n);
/* Stores chunk id (blob_store_chunk_id of buf, computed by the caller:
 * not null) as blob_store_put_chunk does: 1 new, 0 there already. */
int blob_store_put_known(blob_store *s, const chunk_id *id, const void *buf, size_t len);
/* Chunk id (of length chunk_len) loaded and verified in its entry, which
 * stays as it is until blob_cache_unpin: *out (its bytes at buf + off), or
 * NULL when every entry is in use (read around the cache then).  -EIO as
 * blob_store_read_chunk. */
int blob_cache_pin(blob_store *s, const blob_key *key, const chunk_id *id, size_t chunk_len,
                   struct blob_cache_ent **out);
void blob_cache_unpin(struct blob_cache *c, struct blob_cache_ent *e);

/* ---- store.c ------------------------------------------------------------ */

/* blob_store_get_chunk into *buf, a chunk buffer the backend may exchange
 * for one holding the chunk already (its get_buf): no copy of a chunk read
 * ahead. */
int blob_store_get_chunk_buf(blob_store *s, const chunk_id *id, uint8_t **buf, size_t *len_out);
/* The chunk's bytes as key shows them, into *buf (a chunk buffer, which
 * may be exchanged as for blob_store_get_chunk_buf): verified against its
 * id, then, under a key, opened in place — the bytes at *buf + *off_out,
 * *len_out of them.  -EIO (a line in the log) when it does not open. */
int blob_store_load_chunk(blob_store *s, const blob_key *key, const chunk_id *id, uint8_t **buf, size_t *off_out,
                          size_t *len_out);
/* blob_store_load_chunk that tells a verdict from a read that failed:
 * -EUCLEAN when bytes were read and are not the chunk (a hash, or under
 * key a tag, that does not match), any other -errno when nothing was
 * (the judged read path's: cache.c, blob_store_read_judged). */
int blob_store_load_judged(blob_store *s, const blob_key *key, const chunk_id *id, uint8_t **buf, size_t *off_out,
                           size_t *len_out);
/* blob_store_check_chunk with the caller's chunk buffer *buf (exchanged
 * as for blob_store_get_chunk_buf; verify_all's, one for the walk). */
int blob_store_check_chunk_in(blob_store *s, const blob_key *key, const chunk_id *id, size_t chunk_len,
                              uint8_t **buf);

/* One line about chunk id to the store's log: "chunk <hex> in <where>: <what>". */
void blob_store_log_chunk(const blob_store *s, const chunk_id *id, const char *what);
/* Creates (O_EXCL, write-only) a new file in <dir>/tmp under a name unique
 * among all processes and threads ("w.<pid>.<tid>.<n>.tmp", cap >= 64),
 * stored into name; returns the descriptor or -errno. */
int blob_store_tmp_create(blob_store *s, char *name, size_t cap, mode_t mode);
/* Stored chunk id hard-linked at dirfd/name (the backend's link_out):
 * 0, -ENOENT when the store lacks it, another -errno when no link can be
 * made (-EOPNOTSUPP: a backend that has no files). */
int blob_store_link_chunk(blob_store *s, const chunk_id *id, int dirfd, const char *name);
/* Hints the backend that the data chunks of m after data entry k
 * (m->index[k]) will be read next (read.c): the next BLOB_READ_AHEAD (not
 * in the cache, unless cached_too: a reader that bypasses it).  Nothing
 * when the backend does not prefetch. */
#define BLOB_READ_AHEAD 8
void blob_store_read_ahead(blob_store *s, const blob_manifest *m, uint32_t k, bool cached_too);

/* ---- backend/local.c ---------------------------------------------------- */

/* Whether batches sync with one syncfs per step (true) or an fsync per
 * file and directory (false); chosen by file system type at creation.
 * Tests switch it to cover both. */
void blob_local_set_whole_fs(struct blob_backend *be, bool on);
/* Removes files in <dir>/tmp whose mtime is older than `before`. */
int blob_local_clean_tmp(struct blob_backend *be, int64_t before, uint64_t *removed_out);
/* A name for a new file in <dir>/tmp, unique among all processes and
 * threads: "<pid>.<tid>.<counter>.tmp" (cap >= 64). */
void blob_local_tmp_name(struct blob_backend *be, char *buf, size_t cap);
/* Creates (O_EXCL, write-only) a new file in <dir>/tmp under such a name,
 * stored into name; returns the descriptor or -errno. */
int blob_local_tmp_create(struct blob_backend *be, char *name, size_t cap, mode_t mode);

/* ---- crypt.c (SPEC §17) ------------------------------------------------- */

/* blob_key_seal and blob_key_open (blobstore.h) seal and open chunks. */
/* The identity of k (zeros for NULL), 16 bytes. */
void blob_key_fp(const blob_key *k, uint8_t out[16]);
/* A wblob's overlay keys: AES-256-XTS by 4 KiB sector, the tweak the
 * sector's number in the disk. */
#define BLOB_XTS_SECTOR 4096
struct blob_xts {
	uint8_t key[64];
};
int blob_key_xts(const blob_key *k, const char *name, struct blob_xts *out);
/* Encrypts (enc) or decrypts nsectors whole sectors in place, the first
 * being sector number `sector`; an all-zero sector decrypts to zeros. */
int blob_xts_crypt(const struct blob_xts *x, uint8_t *buf, size_t nsectors, uint64_t sector, bool enc);
/* A seal beside the caller (an encrypted upload's chunk sealed while the
 * next one arrives): one thread, one job at a time.  start hands it
 * blob_key_seal(k, obj, plain, len) (the sealer idle; k, obj and plain
 * stay the caller's, untouched by it until wait returns); wait waits for
 * the job and answers what blob_key_seal answered (0 when none was
 * given); free waits for a job, then ends the thread. */
typedef struct blob_sealer blob_sealer;
int blob_sealer_new(blob_sealer **out);
void blob_sealer_start(blob_sealer *s, const blob_key *k, uint8_t *obj, const uint8_t *plain, size_t len);
int blob_sealer_wait(blob_sealer *s);
void blob_sealer_free(blob_sealer *s);

/* ---- util.c: the log ---------------------------------------------------- */

/* printf-style, one line (a newline in it is written as "\n"). */
void blob_log_line(const struct blob_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- manifest.c --------------------------------------------------------- */

/* The first chunk index >= i and < n that holds data (want_data) or is
 * a hole (!want_data), n when there is none: a blob's answer to seeking,
 * at a cost that follows its data chunks, not n. */
typedef uint32_t (*blob_next_fn)(const void *ctx, uint32_t i, uint32_t n, bool want_data);
/* lseek(SEEK_DATA/SEEK_HOLE) at chunk granularity over a blob of `size`
 * bytes whose chunks next() describes. */
int64_t blob_seek_chunks(uint64_t size, uint64_t off, int whence, blob_next_fn next, const void *ctx);
uint32_t blob_nchunks(uint64_t size);
/* blob_next_fn over a manifest (ctx: the blob_manifest). */
uint32_t blob_manifest_next(const void *ctx, uint32_t i, uint32_t n, bool want_data);

/* ---- radix.c: sparse arrays over chunk indexes --------------------------- */

/* Elements of esize bytes indexed by a u32, all zero until set; memory
 * only for the leaves (2^leaf_bits elements, 8 <= leaf_bits < 32) that
 * hold a non-zero element (see radix.c).  The caller locks. */
struct blob_radix {
	size_t esize;
	unsigned leaf_bits;
	void *top;        /* the top directory, NULL when empty */
	uint64_t leaves;  /* allocated leaves (tests count them) */
	uint64_t dirs;    /* allocated directories */
	uint64_t nonzero; /* non-zero elements */
};

/* -EINVAL for a shape it cannot hold. */
int blob_radix_init(struct blob_radix *r, size_t esize, unsigned leaf_bits);
void blob_radix_release(struct blob_radix *r); /* frees everything; init again to reuse */
/* Element i, NULL when its leaf is absent (then it is zero). */
const void *blob_radix_get(const struct blob_radix *r, uint32_t i);
/* Stores esize bytes at i; a zero element frees a leaf it empties.  Only
 * a non-zero element in an absent leaf allocates: -ENOMEM, i unchanged. */
int blob_radix_set(struct blob_radix *r, uint32_t i, const void *elem);
/* Makes the leaf of i exist, so that a set there cannot fail (an empty
 * leaf stays until a set in it or a clear frees it). */
int blob_radix_reserve(struct blob_radix *r, uint32_t i);
/* The first index >= from whose element is non-zero: true and *out. */
bool blob_radix_next(const struct blob_radix *r, uint32_t from, uint32_t *out);
/* Zeroes every element >= first, freeing the leaves it empties. */
void blob_radix_clear_from(struct blob_radix *r, uint32_t first);

/* ---- batch.c ------------------------------------------------------------ */

/* blob_batch_add of the bytes in *buf, a chunk buffer (blob_chunk_buf_new),
 * which the batch may take instead of copying them, giving back another
 * chunk buffer in *buf (the caller's bytes are then gone from it).  Same
 * answers as blob_batch_add; on failure *buf is as it was. */
int blob_batch_add_buf(blob_batch *b, chunk_id *out, uint8_t **buf, size_t len);
/* blob_batch_add_buf of a chunk the caller sealed under the batch's key
 * already (blob_key_seal: *obj holds len bytes of sealed chunk, which the
 * batch names and stores as they are).  Never for a chunk of zeros: that
 * one is a hole, added as plaintext. */
int blob_batch_add_sealed(blob_batch *b, chunk_id *out, uint8_t **obj, size_t len);
/* Chunk id, whose bytes the file open as fd holds (the caller hashed
 * them), placed without copying them: a hard link made by a later commit,
 * after the bytes are durable (the local backend's add_file).  Once the
 * file is linked (from then on its writer leaves it alone), still(arg),
 * when given, must say it holds those bytes yet, else the link is taken
 * back.  1 placed or there already, 0 when no link can be made here (a
 * key, another file system or kind of backend: the caller adds the bytes
 * instead, and is told so from then on) or still said no, -errno. */
int blob_batch_add_file(blob_batch *b, const chunk_id *id, int fd, bool (*still)(void *arg), void *arg);

/* ---- wblob.c ------------------------------------------------------------ */

/* Adds to set (gc) the chunk ids of every wblob's base manifest and
 * every id a .ids file names (streamed chunks, synced or not yet). */
int blob_wblob_add_base_ids(blob_store *s, blob_idset *set);
/* What an open wblob holds in memory, counted (tests: it must follow what
 * was written, not the virtual size). */
struct blob_wblob_mem {
	uint64_t state_leaves; /* 4 KiB leaves of state bytes */
	uint64_t sid_leaves;   /* 4 KiB leaves of streamed ids */
	uint64_t dirs;         /* 2 KiB radix directories, both radixes */
	uint32_t base_entries; /* data chunks of the base manifest, 20 bytes each */
	uint32_t pend_cap;     /* pending list, 4 bytes each */
	bool ext;              /* the table of .data.<k> files (8 KiB) */
};
void blob_wblob_mem(const blob_wblob *w, struct blob_wblob_mem *out);
/* Whole chunks written from now on go into the overlay as parts of
 * chunks do (tests of the overlay; an encrypted disk's always do). */
void blob_wblob_overlay_only(blob_wblob *w);
/* Chunks of an encrypted upload sealed beside the writes that followed
 * them, not in the write (tests: every whole data chunk should be). */
uint64_t blob_wblob_sealed_beside(const blob_wblob *w);

/* ---- small helpers (util.c) --------------------------------------------- */

/* A chunk buffer: BLOB_CHUNK_BUF bytes (a sealed chunk fits), BLOB_DIO_ALIGN
 * aligned (the local backend writes lane buffers with O_DIRECT), freed
 * with free().  Every
 * buffer that may be exchanged instead of copied (blob_backend's get_buf
 * and batch_add_buf, blob_batch_add_buf) is one; NULL when out of memory. */
uint8_t *blob_chunk_buf_new(void);
/* n bytes were copied from one buffer into another of the store's own on
 * their way in (blob_copied_bytes). */
void blob_count_copy(size_t n);

bool blob_is_zero(const void *buf, size_t len);
/* Full-length I/O: retry on EINTR and short transfers.  blob_pread_full
 * returns the number of bytes read (less than len only at end of file). */
ssize_t blob_pread_full(int fd, void *buf, size_t len, uint64_t off);
int blob_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
ssize_t blob_read_full(int fd, void *buf, size_t len);
int blob_write_full(int fd, const void *buf, size_t len);
int blob_fsync_dir_at(int dirfd, const char *name); /* name NULL or "": dirfd itself */
/* Whether one syncfs(2) makes everything on fd's file system durable. */
bool blob_syncfs_suits(int fd);
/* Removes the regular files in the directory tmp_fd whose mtime is older
 * than `before` (writers that crashed left them). */
int blob_clean_tmp_dir(int tmp_fd, int64_t before, uint64_t *removed_out);

static inline void blob_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void blob_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t blob_get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline uint64_t blob_get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif

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
 * Where a region's store lives (blob_store_open_spec; SPEC §13)
 *   ""              chunks and wblobs in the region's directory <state>/regions/<name>
 *   "dir:PATH"      chunks and wblobs in PATH (a local or shared directory)
 *   "rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]"
 *                   chunks in a Ceph RADOS pool, one object per chunk named by
 *                   its id (backend/rados.c); wblobs and tmp/ stay in the
 *                   region's directory on this host (instances run on one host)
 *
 * On-disk layout of one region store (the local-directory backend)
 *   <dir>/chunks/<xx>/<32 hex>   chunk files, read-only (0444) once placed;
 *                                <xx> = first two hex digits of the id
 *   <dir>/tmp/                   chunk files being written (never read)
 *   <dir>/wblobs/<name>.map      wblob header + one state byte per chunk (sparse)
 *   <dir>/wblobs/<name>.data     wblob overlay, sparse, virtual size long up to 8 TiB
 *   <dir>/wblobs/<name>.data.<k> the overlay of the k-th further 8 TiB, made on
 *                                first write there (wblob.c)
 *   <dir>/wblobs/<name>.ids      ids of streamed chunks (uploads)
 *   Chunk placement: write to tmp/, fsync, link() into chunks/<xx>/ (link
 *   never replaces), unlink the temp name, fsync the directory; batches do
 *   each step for many chunks at once (backend/local.c: a name never
 *   appears before its bytes are durable).
 *
 * Manifest encoding (stored by model/ in SQLite as an opaque BLOB)
 *   "IMGFSMF1"  8 bytes magic
 *   size        u64 little-endian, virtual size in bytes
 *   count       u32 LE, number of data (non-hole) entries
 *   entries     count x { index u32 LE, id 16 bytes }, strictly ascending index
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

#define BLOB_CHUNK_SHIFT 20
#define BLOB_CHUNK_SIZE (1u << BLOB_CHUNK_SHIFT) /* 1 MiB: see docs/design.md */
#define BLOB_SECRET_SIZE 192                     /* >= XXH3_SECRET_SIZE_MIN */

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

/* ---- backends ------------------------------------------------------------ */

/* Most chunks a backend batch holds between two commits (see blob_batch). */
#define BLOB_BATCH_MAX 64
/* The most lanes a backend's batching may ask for (lanes, below). */
#define BLOB_BATCH_LANES 8

/* A backend stores chunk bytes by id; it never hashes.  The local directory
 * backend (backend/local.c) and the RADOS backend (backend/rados.c, an
 * object store) implement this table.  Every chunk has a timestamp gc
 * goes by: the local backend's is the file's mtime, RADOS's an attribute
 * of the object.
 *
 * The table is a required core and optional parts.  Each optional hook
 * stands alone (NULL: the store does without it, as said at the hook);
 * the one optional sub-table, batching, is NULL or complete.  The store
 * asks a backend what it can do by these pointers (and batching's
 * ask_first), never by which backend it is: no file outside backend/
 * tests a backend's type.
 *
 * Adding a backend
 *   1. backend/NAME.c: a struct of your own that begins with (or holds)
 *      a struct blob_backend, the six core operations, and a constructor
 *      blob_backend_NAME_new declared below, beside the others.
 *   2. The store spec's prefix for it in blob_store_open_spec (store.c)
 *      and, if it can be checked without writing, blob_store_check_spec.
 *   3. Optional parts only where they pay: batching when one write costs
 *      a wait (a disk's fsync, a network round trip); get_buf / prefetch
 *      when there is a network between the backend and the bytes;
 *      del_if_older when list cannot tell a chunk's timestamp.
 *   4. tests/unit/blobstore/backend/test_NAME.c for what is the backend's
 *      own, and the store's tests re-run on it (CMakeLists.txt's
 *      IMGFS_RADOS_UNIT_TESTS shows how the RADOS runs are made). */
struct blob_backend;
struct blob_backend_batch; /* the backend's own */
struct blob_log;           /* blobstore_int.h */

/* Placing many chunks with few waits for the disk (blob_batch).  A batch
 * is used by one thread at a time.
 *   add      is put (same answers) of the len bytes in *buf, a chunk buffer
 *            (blob_chunk_buf_new, blobstore_int.h: its room past len is the
 *            backend's to use, say for padding), except that a chunk it reports new is not
 *            stored yet — a backend that finds out only when it writes
 *            (RADOS's exclusive create) reports 1 and counts the chunk at
 *            commit only if it was new.  The backend may keep *buf
 *            instead of copying (a write in flight holds its bytes, for
 *            a retry), giving back another chunk buffer in *buf.
 *   has_many asks about n ids at once (n <= BLOB_BATCH_MAX): found[k] =
 *            1 or 0, a found chunk refreshed like put does; returns 0 or
 *            -errno.  An object store checks them all with one wait.
 *   commit   makes every chunk added since the last commit durable, then
 *            visible under its id, then makes those names — and those of
 *            the chunks add or has_many found — durable, and returns how
 *            many it placed (one another writer placed meanwhile is not
 *            counted).
 *   free     drops what was not committed (the local backend: never
 *            visible; RADOS: a write in flight lands whole or not at all,
 *            unreferenced: gc drops it).
 *   ask_first  a capability: the store asks has_many about each chunk
 *            before adding it (a backend whose add of a chunk it has
 *            costs a write); false: the store adds without asking (an
 *            add that finds the chunk costs no more than a question).
 *   lanes    how many threads a store's batch keeps writing at once
 *            (batch.c; 1..BLOB_BATCH_LANES), measured per backend.
 * Ids added between two commits are distinct, at most BLOB_BATCH_MAX
 * (-E2BIG beyond).  A failed add leaves nothing of its chunk; a failed
 * commit may have placed some of its chunks, each whole and durable. */
struct blob_backend_batching {
	int (*new_batch)(struct blob_backend *be, struct blob_backend_batch **out);
	int (*add)(struct blob_backend_batch *b, const chunk_id *id, uint8_t **buf, size_t len);
	int (*has_many)(struct blob_backend_batch *b, const chunk_id *ids, size_t n, uint8_t *found);
	int (*commit)(struct blob_backend_batch *b);
	void (*free)(struct blob_backend_batch *b);
	/* Stages chunk id whose bytes the file open as fd holds (a file on
	 * the store's own file system that nobody writes again), to be named
	 * by a hard link instead of a copy: its bytes made durable by the
	 * commit before the name appears, as an added chunk's.  1 staged, 0
	 * there already (refreshed, its name synced by the commit), -EXDEV,
	 * -EPERM, -EMLINK or -EOPNOTSUPP when no link can be made (the caller
	 * stores the bytes instead), -E2BIG when the batch is full, -errno.
	 * NULL: never. */
	int (*add_file)(struct blob_backend_batch *b, const chunk_id *id, int fd);
	/* Takes back the file the last add_file staged (it answered 1). */
	void (*drop_file)(struct blob_backend_batch *b);
	bool ask_first;
	int lanes;
};

struct blob_backend {
	/* ---- the core: every backend has all six ---- */

	/* Reads the whole chunk into buf (cap >= BLOB_CHUNK_SIZE); *len_out = its length.
	 * -ENOENT when absent. */
	int (*get)(struct blob_backend *be, const chunk_id *id, void *buf, size_t cap, size_t *len_out);
	/* Stores len bytes under id, durably, never replacing.  Returns 1 when
	 * newly stored, 0 when a chunk of that id was already there (then its
	 * timestamp is refreshed so a concurrent gc keeps it). */
	int (*put)(struct blob_backend *be, const chunk_id *id, const void *buf, size_t len);
	int (*exists)(struct blob_backend *be, const chunk_id *id); /* 1, 0 or -errno */
	int (*del)(struct blob_backend *be, const chunk_id *id);
	/* Calls cb for every stored chunk with its timestamp (unix seconds),
	 * or BLOB_MTIME_UNKNOWN when listing does not tell it (such a backend
	 * has del_if_older: gc needs one of the two); stops and returns cb's
	 * value when it is non-zero. */
	int (*list)(struct blob_backend *be, int (*cb)(void *arg, const chunk_id *id, int64_t mtime), void *arg);
	void (*free)(struct blob_backend *be);

	/* ---- optional ---- */

	/* NULL: the store puts chunk by chunk (blob_batch then waits for
	 * each). */
	const struct blob_backend_batching *batching;
	/* get into *buf, a chunk buffer (as for batching's add), which the
	 * backend may exchange for a chunk buffer of its own that holds the
	 * chunk already (one prefetch read ahead) instead of copying: *buf
	 * then points to that one and the backend keeps the old one.  NULL:
	 * the store uses get. */
	int (*get_buf)(struct blob_backend *be, const chunk_id *id, uint8_t **buf, size_t *len_out);
	/* Refreshes a chunk found stored (blob_store_copy_chunk), as put does
	 * when it finds one: 0, -ENOENT when it is gone.  NULL: nothing
	 * refreshed. */
	int (*touch)(struct blob_backend *be, const chunk_id *id);
	/* Places chunk id, which src holds, in the store of batch b without
	 * moving its bytes (the local backend: a hard link between stores on
	 * one file system), its name made durable by b's commit: 1 placed,
	 * 0 there already (refreshed), -EXDEV (also for a src of another
	 * kind), -EPERM, -EMLINK or -EOPNOTSUPP when it cannot be done here
	 * (the store copies the bytes instead, from then on), -ENOENT when src
	 * lacks it.  NULL: the store copies the bytes. */
	int (*copy_from)(struct blob_backend_batch *b, struct blob_backend *src, const chunk_id *id);
	/* del only when the chunk's timestamp is older than not_after,
	 * decided where the chunk is stored, atomically with the removal (a
	 * put refreshing it at the same moment keeps it): 1 removed, 0 kept
	 * or absent, -errno.  NULL: gc goes by list's timestamps and del. */
	int (*del_if_older)(struct blob_backend *be, const chunk_id *id, int64_t not_after);
	/* A stored chunk's size in bytes (as stored) and timestamp (unix
	 * seconds, what del_if_older compares): 0, -ENOENT, -errno.  gc
	 * --dry-run counts with it (blob_store_gc_plan).  NULL: no plan
	 * (-ENOTSUP). */
	int (*stat)(struct blob_backend *be, const chunk_id *id, uint64_t *size, int64_t *mtime);
	/* get will soon be asked for these chunks, in this order (a
	 * sequential reader): a backend with a network between it and the
	 * bytes starts reading some of them now.  A hint: no answer.  NULL:
	 * no hints. */
	void (*prefetch)(struct blob_backend *be, const chunk_id *ids, size_t n);
	/* Where the backend's own lines go (the store's log, which outlives
	 * the backend).  NULL: the backend says nothing. */
	void (*set_log)(struct blob_backend *be, const struct blob_log *log);
};

#define BLOB_MTIME_UNKNOWN INT64_MIN

/* A put, a batch or a copy that finds its chunk stored already refreshes
 * the chunk's timestamp only when it is older than this many seconds (a
 * second copy of the same data then costs a read per chunk, not a write):
 * every chunk a writer stored or found carries a timestamp at or after
 * the writer's start minus this.  Both backends. */
#define BLOB_STAMP_FRESH 600

/* The local directory backend rooted at dir (created if missing). */
int blob_backend_local_new(struct blob_backend **out, const char *dir);

/* The RADOS backend of a store spec "rados:POOL[,conf=FILE][,id=CLIENT]
 * [,ns=NAMESPACE]" (backend/rados.c): connects to the cluster and opens
 * the pool.  owner is one line naming the region and the service; the
 * pool (namespace) keeps it in an object of its own, and a pool that
 * names another owner is refused (-EBUSY), so that no two regions' gc
 * collect each other's chunks; with claim, a pool naming none is marked as
 * owner's, without, it is left as it is (a check).  On failure why (cap
 * bytes) holds a one-line reason; -EINVAL for a malformed spec, -ENOENT
 * for a pool that does not exist, -EIO for a cluster that cannot
 * be reached, -EPROTONOSUPPORT when imgfs was built without librados. */
int blob_backend_rados_new(struct blob_backend **out, const char *spec, const char *owner, bool claim, char *why,
                           size_t cap);

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
 * directories on one file system, else its bytes read from src (verified:
 * -EIO on a mismatch) and written by the batch.  Returns 1 when the chunk
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
 * checks it (its hash, its tag under key, its length chunk_len) without
 * keeping it: 0, -EIO (and a line in the log), -ENOENT.  fsck's check
 * of encrypted blobs. */
int blob_store_verify_chunk(blob_store *s, const blob_key *key, const chunk_id *id, size_t chunk_len);

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

/* Verifies every stored chunk; calls bad(arg, id, errno) for each one that
 * is unreadable or does not match its id.  Returns the number of bad chunks
 * (>= 0) or -errno.  With repair, bad chunks are deleted. */
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
void blob_sha256_async_update(blob_sha256_async *a, const void *buf, size_t len);
void blob_sha256_async_lend(blob_sha256_async *a, const void *buf, size_t len);
void blob_sha256_async_settle(blob_sha256_async *a);
void blob_sha256_async_zeros(blob_sha256_async *a, uint64_t n);
int blob_sha256_async_finish(blob_sha256_async *a, char out[65], char xxh[33]);
void blob_sha256_async_free(blob_sha256_async *a); /* finish or not */

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

/* ---- writable blobs ------------------------------------------------------ */

typedef struct blob_wblob blob_wblob;

/* Creates wblob `name` ([A-Za-z0-9_.-]{1,64}) over base (NULL: all holes),
 * with the given virtual size.  -EEXIST if it exists. */
int blob_wblob_create(blob_store *s, const char *name, const blob_manifest *base, uint64_t size);
int blob_wblob_open(blob_wblob **out, blob_store *s, const char *name);
/* Opens it under key (SPEC §17; NULL: plain, as blob_wblob_open): its
 * base's chunks, the chunks it streams and its seal are sealed under
 * key, its overlay encrypted with keys derived from key and the name.  A
 * wblob is always opened with the key it was written with (model/ keeps
 * it with the blob's row); only its size and stored bytes mean anything
 * under another. */
int blob_wblob_open_key(blob_wblob **out, blob_store *s, const char *name, const blob_key *key);
/* blob_wblob_open_key that says why an open failed with -EIO because an
 * overlay is missing or shorter than the chunks its map says it holds (a
 * file lost or cut outside imgfs: never read as zeros), in why (cap
 * bytes, may be NULL; "" for every other failure).  The same reason goes to
 * the store's log. */
int blob_wblob_open_why(blob_wblob **out, blob_store *s, const char *name, const blob_key *key, char *why,
                        size_t cap);
void blob_wblob_close(blob_wblob *w); /* accepts NULL */
/* Removes its files; also what a crash in an earlier remove left (an
 * overlay without its map).  -ENOENT when none exists. */
int blob_wblob_remove(blob_store *s, const char *name);
/* Calls cb(arg, name, mtime) for every wblob in the store, including an
 * overlay left without its map by a crash (fsck finds wblobs no metadata
 * names); mtime is the newest of its files' (unix seconds).  Stops and
 * returns cb's value when it is non-zero. */
int blob_wblob_list(blob_store *s, int (*cb)(void *arg, const char *name, int64_t mtime), void *arg);

uint64_t blob_wblob_size(const blob_wblob *w);
uint64_t blob_wblob_stored(const blob_wblob *w); /* bytes of non-hole chunks */
blob_store *blob_wblob_store(const blob_wblob *w); /* the store it was opened in */
const blob_key *blob_wblob_key(const blob_wblob *w); /* the key it was opened with */
ssize_t blob_wblob_pread(blob_wblob *w, void *buf, size_t len, uint64_t off);
/* Writes past the end grow the blob. */
ssize_t blob_wblob_pwrite(blob_wblob *w, const void *buf, size_t len, uint64_t off);
int blob_wblob_truncate(blob_wblob *w, uint64_t size);
/* [off, off + len) (clipped to the size) reads as zeros afterwards; whole
 * chunks in it become holes and give their space back (fallocate
 * punch-hole, zero-range).  A writer: serialised with pwrite and truncate.
 * -EOPNOTSUPP on a streaming wblob. */
int blob_wblob_punch(blob_wblob *w, uint64_t off, uint64_t len);
int64_t blob_wblob_seek(blob_wblob *w, uint64_t off, int whence);
/* Copies [src_off, src_off + len) of the sealed blob src (clipped to its
 * size) to dst_off of w by reference where it can (SPEC §16): a whole
 * chunk of src that lands on a whole chunk of w (both offsets equally
 * aligned within a chunk) is taken by its id, nothing read or written;
 * the rest is read from src and written as pwrite does; holes of src
 * become holes.  Grows w as a write would.  Durable as pwrite (reaches
 * the device at blob_wblob_fsync).  Returns the bytes copied (0 at or past
 * src's end); *counts (may be NULL) says how many went by id and how many
 * as bytes (holes are neither).  -EXDEV when s_src is not w's store or
 * src not of w's key (blob_wblob_share_check).
 * A writer, like pwrite; on a streaming wblob (an upload) it settles
 * what streamed so far first (as fsync does). */
struct blob_share_counts {
	uint64_t by_id, by_bytes;
};
/* Whether blob_wblob_share may take src's chunks by id: 0, or -EXDEV when
 * src is of another store or sealed under another key than w's (a copy
 * outside the lineage: the caller copies by read and write, which seals
 * the bytes under w's key). */
int blob_wblob_share_check(const blob_wblob *w, const blob_store *s_src, const blob_manifest *src);
ssize_t blob_wblob_share(blob_wblob *w, blob_store *s_src, const blob_manifest *src, uint64_t src_off,
                         uint64_t dst_off, uint64_t len, struct blob_share_counts *counts);
int blob_wblob_fsync(blob_wblob *w);
/* From now on, writes through this handle that cover a whole chunk go
 * straight into the store (uploads: their bytes are written once, their
 * seal copies nothing).  Such writes are durable at the next fsync, not
 * when they return; other handles on the same wblob see them only after
 * it.  All-zero chunks become holes. */
void blob_wblob_stream(blob_wblob *w);
/* Stores the overlay's chunks and returns the manifest of the current
 * content.  The wblob stays open and usable. */
int blob_wblob_seal(blob_wblob *w, blob_manifest **out);
/* The same, calling progress(arg, done, total) after each data chunk
 * with the bytes of virtual size processed so far (monotonic, reaching
 * total = the size; holes count, in one step: a call per data chunk, not
 * per chunk, and one at the end).  A non-zero return stops the seal: -ECANCELED,
 * the wblob unchanged (chunks stored so far stay until gc drops them). */
int blob_wblob_seal_progress(blob_wblob *w, blob_manifest **out,
                             int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg);
/* The same with the manifest's chunks sealed under key (NULL: plain),
 * which may differ from w's: a capture of an instance disk into an image
 * of another lineage (SPEC §17) stores every data chunk again under key;
 * under w's own key the unchanged chunks keep their ids. */
int blob_wblob_seal_key(blob_wblob *w, const blob_key *key, blob_manifest **out,
                        int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg);

#endif

/*
 * blob_backend.h — the table a chunk backend implements (where a store's
 * chunk bytes are kept: a local directory, a RADOS pool), and how to add
 * one.  Included by blobstore/ (blobstore_int.h) and the backends' tests;
 * model/ and fs/ never see a backend.
 */
#ifndef IMGFS_BLOB_BACKEND_H
#define IMGFS_BLOB_BACKEND_H

#include "blobstore.h"

/* ---- backends ------------------------------------------------------------ */

/* Block digests (SPEC §13, "A read of part of a stored chunk"): one keyed
 * XXH3-64 per BLOB_DIG_BLOCK bytes of a plain chunk (the last block may be
 * short), each binding the chunk's id and the block's index
 * (blob_store_block_digests, part.c), BLOB_DIG_SIZE bytes each, in block
 * order.  A backend that keeps them beside the chunk (get_part) lets a
 * small read fetch and verify only the blocks it wants. */
#define BLOB_DIG_BLOCK 4096u
#define BLOB_DIG_SIZE 8u
#define BLOB_DIG_MAX (BLOB_CHUNK_SIZE / BLOB_DIG_BLOCK * BLOB_DIG_SIZE) /* 2 KiB for 1 MiB */
/* The digests' length for a chunk of len bytes. */
#define BLOB_DIG_LEN(len) (((len) + BLOB_DIG_BLOCK - 1) / BLOB_DIG_BLOCK * BLOB_DIG_SIZE)

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
 *   add      is put (same answers, dig too) of the len bytes in *buf, a chunk buffer
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
	int (*add)(struct blob_backend_batch *b, const chunk_id *id, uint8_t **buf, size_t len, const uint8_t *dig);
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

/* Writable blobs kept in the cluster (cluster disks: SPEC §13, wblob.c
 * "Cluster disks"): every host reaches them, and one writer at a time
 * writes them.  A disk NAME is a header object (the map's header: size,
 * base_limit, the base manifest) whose key/value records are its chunks'
 * states (key: the chunk index, 8 hex digits; value: opaque bytes, the
 * state byte and, for a stored chunk, its id), and one object per chunk
 * holding its overlay bytes; the backend keeps a list of its disks.
 * Everything acknowledged is durable (every replica has it), so there is
 * no sync.
 *
 * One writer at a time, fenced by the cluster.  A disk is opened through
 * a client of its own (struct blob_backend_disk), recorded on the header
 * as the disk's writer; an open (or fence) that finds another client
 * recorded first has the cluster refuse that client everything from then
 * on (RADOS: blocklisted, and the new writer waits for the OSD map that
 * says so), so a host that comes back after its disk moved writes
 * nothing more: its operations fail, -EIO with a line in the log.
 *
 * Optional: NULL when the backend has none (a local store's wblob files
 * are in its directory, which every host of a shared dir: reaches). */
struct blob_backend_disk; /* the backend's own: one open disk */
struct blob_backend_recs; /* the backend's own: records being set (recs_start) */
struct blob_backend_disks {
	/* The disk's header made (exclusively: -EEXIST) holding hdr[0, len),
	 * with no writer recorded, and its name in the list. */
	int (*create)(struct blob_backend *be, const char *name, const void *hdr, size_t len);
	/* Every object of the disk: chunk i's for every i below nchunks
	 * (its chunk count: a chunk's object may be there that no record
	 * names) and every one its records name, then the header, then its
	 * name in the list: 0, -ENOENT when there was none.  A chunk's object
	 * that cannot be removed (a timeout) fails it before the header goes
	 * (-errno, a line in the log): a later call finishes it.  The caller
	 * fenced its writer first. */
	int (*remove)(struct blob_backend *be, const char *name, uint32_t nchunks);
	/* cb for every disk in the list, with when it was made (unix
	 * seconds); stops at a non-zero answer. */
	int (*list)(struct blob_backend *be, int (*cb)(void *arg, const char *name, int64_t made), void *arg);
	/* The disk's header (into *hdr, malloc'd, *len bytes) and every
	 * record (rec, in index order; NULL: none read), without opening
	 * it: gc's ids, remove's chunk count. */
	int (*peek)(struct blob_backend *be, const char *name, uint8_t **hdr, size_t *len,
	            int (*rec)(void *arg, uint32_t i, const uint8_t *val, size_t n), void *arg);
	/* Fences the writer recorded on the disk, if any, and clears the
	 * record: 1 fenced, 0 none recorded, -ENOENT no such disk, -errno
	 * (why: one line). */
	int (*fence)(struct blob_backend *be, const char *name, char *why, size_t cap);
	/* gc's (SPEC §13 "what is removed when"): every disk chunk object of
	 * the pool that no record of its disk names (names(val, n) says
	 * whether a record of those bytes names its chunk's object; a disk
	 * whose header is gone names none) and that last changed before
	 * not_after, counted into *count and *bytes, and removed unless dry
	 * or unless it changed since it was looked at.  0, or -errno (why:
	 * one line): an answer the store did not give (a timeout) stops it
	 * before it removes anything more. */
	int (*sweep)(struct blob_backend *be, int64_t not_after, bool dry, bool (*names)(const uint8_t *val, size_t n),
	             uint64_t *count, uint64_t *bytes, char *why, size_t cap);
	/* Opens the disk, then reads the header and the records as peek
	 * does.  A writer has a client of its own, which fences the writer
	 * recorded (if it is not itself) and records itself; a reader (a
	 * capture, fsck) uses the store's client, fences and records nobody,
	 * and is refused writes. */
	int (*open)(struct blob_backend *be, const char *name, bool writer, struct blob_backend_disk **out,
	            uint8_t **hdr, size_t *len, int (*rec)(void *arg, uint32_t i, const uint8_t *val, size_t n),
	            void *arg, char *why, size_t cap);
	/* Its record cleared if it is still this client's; the client gone. */
	void (*close)(struct blob_backend_disk *d);
	/* Operations on an open disk, each durable when it returns: bytes of
	 * the header at off; a chunk's record set; the records of chunks >=
	 * first removed; chunk i's object: bytes written at off (fresh: the
	 * object emptied first, in the same operation), read (zeros past its
	 * end; -ENOENT with no object: only a record names one, so its bytes
	 * are lost), zeroed, removed. */
	int (*write_header)(struct blob_backend_disk *d, uint64_t off, const void *buf, size_t len);
	int (*set_rec)(struct blob_backend_disk *d, uint32_t i, const void *val, size_t n);
	int (*cut_recs)(struct blob_backend_disk *d, uint32_t first);
	int (*write)(struct blob_backend_disk *d, uint32_t i, uint64_t off, const void *buf, size_t len, bool fresh);
	int (*read)(struct blob_backend_disk *d, uint32_t i, uint64_t off, void *buf, size_t len);
	/* read, started (SPEC §12, "A read answered by the cluster"): 0 when
	 * done(arg, rc) will be called once, on a thread of the disk's
	 * client, with what read would return; -errno when it was not
	 * started (done is not called; -EAGAIN: as many in flight as the
	 * backend allows, SPEC §12).  done may run before read_start
	 * returns (a fault a test injected).  Two of one client on one object land
	 * in the order they were started, as every operation of that client
	 * on it (a drop started after it finds the read done). */
	int (*read_start)(struct blob_backend_disk *d, uint32_t i, uint64_t off, void *buf, size_t len,
	                  void (*done)(void *arg, int rc), void *arg);
	/* write (not fresh) started (SPEC §12, "A write answered by the
	 * cluster"): 0 when done(arg, rc) will be called once, on a thread of
	 * the disk's client, with what write would return; patch: the bytes
	 * are a patched chunk's blocks (off and len whole WB_BLOCK_SIZE
	 * blocks), marked as patch marks them, in the same operation.  buf is
	 * copied before it returns.  -errno when not started (done is not
	 * called; -EAGAIN: as many in flight as the backend allows, read_start's
	 * too, or a fault a test injected, which the waiting write takes).  It
	 * lands in order with the client's other operations on the object. */
	int (*write_start)(struct blob_backend_disk *d, uint32_t i, uint64_t off, const void *buf, size_t len, bool patch,
	                   void (*done)(void *arg, int rc), void *arg);
	int (*zero)(struct blob_backend_disk *d, uint32_t i, uint64_t off, size_t len);
	int (*drop)(struct blob_backend_disk *d, uint32_t i);
	/* n (1..BLOB_RECS_MAX) records set in one operation, started: *op
	 * until recs_wait (which frees it) says 0 or -errno.  Two of one
	 * client on the same disk land in the order they were started (one
	 * object: RADOS orders a client's operations on it). */
	int (*recs_start)(struct blob_backend_disk *d, size_t n, const uint32_t *idx, const uint8_t *const *val,
	                  const size_t *len, struct blob_backend_recs **op);
	int (*recs_wait)(struct blob_backend_recs *op);
	/* A patched chunk (WB_PATCHED): blocks [b0, b0 + nb) of chunk i's
	 * object written from buf (nb * WB_BLOCK_SIZE bytes) and marked
	 * written, one key per block on the object, in ONE operation (bytes
	 * and marks land together or not at all); fresh: the object's old
	 * bytes and keys removed first, in that same operation. */
	int (*patch)(struct blob_backend_disk *d, uint32_t i, uint32_t b0, uint32_t nb, const void *buf, bool fresh);
	/* The blocks marked on each of the n chunks' objects, to cb (bits:
	 * WB_BLOCKS / 8 bytes, block b at bit b % 8 of byte b / 8), many
	 * asked at once; -ENOENT when an object is missing, -EIO when a key
	 * is not one of ours. */
	int (*marks)(struct blob_backend_disk *d, const uint32_t *idx, size_t n,
	             int (*cb)(void *arg, uint32_t i, const uint8_t *bits), void *arg);
};
#define BLOB_RECS_MAX 160

struct blob_backend {
	/* ---- the core: every backend has all six ---- */

	/* Reads the whole chunk into buf (cap >= BLOB_CHUNK_SIZE); *len_out = its length.
	 * -ENOENT when absent; -EUCLEAN when what is stored under id is
	 * longer than any chunk (damaged: a verdict); -EIO when it could not
	 * be read. */
	int (*get)(struct blob_backend *be, const chunk_id *id, void *buf, size_t cap, size_t *len_out);
	/* Stores len bytes under id, durably, never replacing.  Returns 1 when
	 * newly stored, 0 when a chunk of that id was already there (then its
	 * timestamp is refreshed so a concurrent gc keeps it).  dig: the
	 * chunk's block digests (BLOB_DIG_LEN(len) bytes) when the backend has
	 * get_part and the chunk is plain, stored with it in the same write;
	 * else NULL. */
	int (*put)(struct blob_backend *be, const chunk_id *id, const void *buf, size_t len, const uint8_t *dig);
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
	/* Bytes [off, off + len) of chunk id (off and len whole blocks, but
	 * for a short last one) into buf, and the block digests stored with
	 * it into dig (cap bytes), in ONE operation: 0 with *got bytes read
	 * and *dig_len digest bytes (0: the chunk has none, or more than
	 * cap), -ENOENT, -EIO when it could not be read.  dig NULL: the
	 * bytes only (the store holds the digests).  The backend verifies
	 * nothing (the store does: part.c).  NULL: reads are whole (the local
	 * backend: its page cache makes them cheap). */
	int (*get_part)(struct blob_backend *be, const chunk_id *id, uint64_t off, size_t len, void *buf, size_t *got,
	                uint8_t *dig, size_t cap, size_t *dig_len);
	/* get_part without the digests (the store holds them), started: 0
	 * when done(arg, rc, got) will be called once, on a thread of the
	 * backend's client, with get_part's rc and *got after the backend's
	 * one try (a timeout is an rc like any failure: the store reads
	 * again the waiting way, with its tries); -errno when not started (-EAGAIN: as many in flight
	 * as the backend allows, read_start's too).  done may run before it
	 * returns (a fault a test injected).  NULL: none. */
	int (*get_part_start)(struct blob_backend *be, const chunk_id *id, uint64_t off, size_t len, void *buf,
	                      void (*done)(void *arg, int rc, size_t got), void *arg);
	/* Sets chunk id's block digests (len bytes of dig, copied before it
	 * returns) on its object only if the object exists (never creating
	 * one), in one operation it does not wait for: 1 started, 0 not
	 * (as many already in flight as the backend allows, or no memory).
	 * What the cluster answers is counted, never waited for.  NULL: with
	 * get_part NULL. */
	int (*set_digests)(struct blob_backend *be, const chunk_id *id, const uint8_t *dig, size_t len);
	/* Cluster disks (above).  NULL: none. */
	const struct blob_backend_disks *disks;
	/* A hard link to stored chunk id at dirfd/name (the local backend: a
	 * file system's link, nothing copied), for a writer whose chunk the
	 * store holds already: 0, -ENOENT when it does not, -EEXIST (name
	 * taken), -EXDEV, -EPERM, -EMLINK or -EOPNOTSUPP when no link can be
	 * made here.  NULL: never. */
	int (*link_out)(struct blob_backend *be, const chunk_id *id, int dirfd, const char *name);
};

#define BLOB_MTIME_UNKNOWN INT64_MIN

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

#endif

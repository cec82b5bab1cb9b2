/*
 * backend/rados_int.h — what the RADOS backend's files share (rados.c,
 * rados_read.c, rados_batch.c, rados_disk.c, rados_chunks.c); nothing outside backend/ includes it.
 *
 * rados.c has the backend's design (its header comment: objects, stamps,
 * gc, fast paths, failures), the connection, the pool's owner and the
 * table; rados_op.c the single operations (rados.c, rados_read.c and
 * rados_batch.c call them; it calls none); rados_read.c the reads and the reads ahead
 * (prefetch, get, get_buf); rados_batch.c the batches: writes in flight
 * and existence checks many at a time.  Only built with librados.
 */
#ifndef IMGFS_RADOS_INT_H
#define IMGFS_RADOS_INT_H

#include <limits.h>

#include "blobstore_int.h"
#include "blob_rados_test.h"

#define RADOS_NAME_MAX 64 /* a pool's, client's or namespace's name */
#define RADOS_OWNER_OID "imgfs.owner"

/* Parsed "rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]". */
struct rados_spec {
	char pool[RADOS_NAME_MAX + 1];
	char conf[PATH_MAX];
	char id[RADOS_NAME_MAX + 1];
	char ns[RADOS_NAME_MAX + 1];
};


#ifdef IMGFS_HAVE_RADOS

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include "rados_lib.h"
#include <stdatomic.h>
#include "imgfs_lock.h"

#define RADOS_OP_TIMEOUT "10"    /* seconds, when the ceph.conf sets none */
#define RADOS_MOUNT_TIMEOUT "10" /* seconds to reach the cluster at open */
#define RADOS_ATTEMPTS 3         /* tries of an operation that times out */
#define RADOS_PREFETCH_SLOTS 16  /* chunks read ahead, at most, per store */
#define RADOS_BATCH_INFLIGHT 4   /* writes in flight per batch (per lane): bench-results/README.md */
#define RADOS_DIGS_INFLIGHT 8    /* digest backfills in flight, at most, per store (set_digests) */
/* Operations started (a cluster disk's read_start and write_start,
 * get_part_start) in flight, at most, per store and its disks (SPEC §12);
 * past it one is not started (its caller waits for it, on its own
 * thread). */
#define RADOS_STARTED_MAX 128
#define RADOS_FRESH BLOB_STAMP_FRESH /* seconds a refreshed timestamp stays fresh */
#define RADOS_STAMP_XATTR "imgfs.t"
#define RADOS_STAMP_LEN 20
#define RADOS_DIG_XATTR "imgfs.b" /* a plain chunk's block digests (blob_backend.h, BLOB_DIG_*) */

/* A chunk read ahead (prefetch): its read operation is in flight or done,
 * the result in the fields its operation fills. */
struct rados_pf {
	bool used;  /* an operation was started for id */
	bool taken; /* a get is waiting for it or copying it out */
	chunk_id id;
	uint64_t tick; /* when it was started: the oldest done one is reused */
	uint8_t *buf;  /* a chunk buffer once allocated */
	rados_completion_t c;
	rados_read_op_t op;
	uint64_t size;
	time_t mtime;
	int stat_rv, read_rv;
	size_t got;
};

struct rados_backend {
	struct blob_backend be; /* first: the table */
	struct rados_spec spec; /* what it was opened with: a cluster disk opens a client of its own */
	rados_t cluster;
	rados_ioctx_t io;
	char where[2 * RADOS_NAME_MAX + 16]; /* "POOL" or "POOL/NS", for log lines */
	unsigned op_timeout;                 /* seconds, for log lines */
	const struct blob_log *log;
	struct {
		atomic_uint_fast64_t reads, reads_ahead, reads_ahead_hit, reads_handed, creates, creates_handed,
		    creates_waited, has_rounds, has_objects, refreshes, timeouts, disk_writes, disk_recs, disk_recs_now,
		    disk_recs_peak, disk_rec_keys, part_reads, part_bytes, creates_beside_rec, disk_reads, disk_reads_now,
		    disk_reads_peak, disk_reads_started, disk_writes_started, disk_marks, disk_keys, parts_started, parts_now, started_now,
		    digs_sent, digs_set, digs_done, digs_now, map_asks;
	} n;
	atomic_int test_rec_err, test_patch_err; /* tests only: blob_rados_test_fail_recs */
	atomic_int test_drop_err, test_exists_err; /* tests only: blob_rados_test_fail_drop, _fail_exists */
	atomic_uint test_drop_at;
	atomic_bool test_digs_hold;              /* tests only: blob_rados_test_hold_digs */
	atomic_bool test_started_hold;           /* tests only: blob_rados_test_hold_started */
	atomic_uint test_ops_mask;               /* tests only: blob_rados_test_fail_ops */
	atomic_int test_ops_err;
	atomic_int test_sweep_err, test_peek_err; /* tests only: blob_rados_test_sweep, _fail_peek */
	atomic_bool test_sweep_touch;
	atomic_uint test_list_after;             /* tests only: blob_rados_test_fail_list */
	atomic_int test_list_err;
	atomic_uint test_has_mask;               /* tests only: blob_rados_test_fail_has */
	atomic_int test_has_err;
	pthread_mutex_t pf_lock;
	/* Cluster disks open in this process (rados_disk.c): a disk opened
	 * twice here (the mount's handle, a resize) shares one client, which
	 * the second open must not fence. */
	pthread_mutex_t disk_lock;
	struct blob_backend_disk *disks_open;
	uint64_t pf_tick;
	struct rados_pf pf[RADOS_PREFETCH_SLOTS];
};
IMGFS_LOCK_LEVEL(rados_disk_lock, 50); /* a leaf: the cluster disks open here (RADOS calls under it, no lock) */
IMGFS_LOCK_LEVEL(rados_pf_lock, 50); /* a leaf: the prefetch slots */

static inline struct rados_backend *rb_of(struct blob_backend *be)
{
	return (struct rados_backend *)be;
}

/* ---- rados_op.c: one operation on one object, tried again after a timeout */

struct rados_call {
	const void *wbuf; /* create */
	size_t wlen;
	const uint8_t *dig; /* create: the block digests (BLOB_DIG_LEN(wlen) bytes), or NULL */
	void *rbuf;         /* read */
	size_t rcap;
	size_t got;
	uint64_t off;  /* part read: where */
	uint8_t *dbuf; /* part read: the digests, dcap bytes at most; dlen read */
	size_t dcap, dlen;
	uint64_t size;
	int64_t t; /* fresh, del_older: the cut-off */
};

typedef int (*rados_op_fn)(struct rados_backend *rb, const char *oid, struct rados_call *call);

/* A one-line reason into why (cap bytes; why may be NULL). */
void blob_rados_why(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Pool's handle in namespace ns of cluster, every operation through it
 * marked FULL_TRY (rados_op.c): 0, or librados's -errno. */
int blob_rados_ioctx(rados_t cluster, const char *pool, const char *ns, rados_ioctx_t *io);
/* Each object name of io's namespace to cb until cb answers non-zero
 * (returned): 0 at the end, or the listing's own failure with *failed. */
int blob_rados_each_name(rados_ioctx_t io, int (*cb)(void *arg, const char *oid), void *arg, bool *failed);
/* A client of the cluster sp names, connected, and its pool (namespace)
 * open, with imgfs's timeouts where the ceph.conf sets none: 0, or -errno
 * with the reason in why. */
int blob_rados_connect(const struct rados_spec *sp, rados_t *cluster, rados_ioctx_t *io, unsigned *op_timeout,
                       char *why, size_t cap);
/* The latest OSD map asked of client cluster, on a thread of its own, one
 * at a time per client: with wait, 0 once a map asked for after this call
 * came, -ETIMEDOUT when none came within the monitor's op timeout
 * (blob_rados_map_secs: a monitor that does not answer; SPEC §13);
 * without, asked and not waited for. */
int blob_rados_map(struct rados_backend *rb, rados_t cluster, bool wait);
/* The seconds blob_rados_map waits: cluster's rados_mon_op_timeout (10 s
 * unless the ceph.conf sets one: rados_op.c), else rb's op timeout (rb
 * NULL: RADOS_OP_TIMEOUT's). */
unsigned blob_rados_map_secs(struct rados_backend *rb, rados_t cluster);
/* Client addr blocklisted for secs: the monitor's command alone, bounded
 * by its op timeout (rados_blocklist_add then waits for the latest OSD map
 * with no end: the caller waits for it with blob_rados_map).  0 or what
 * librados returned. */
int blob_rados_blocklist(rados_t cluster, const char *addr, unsigned secs);
/* rados_shutdown(cluster), or, when a map wait of it is still in
 * librados, left to that wait's thread to do once it returns. */
void blob_rados_shutdown(rados_t cluster);
/* The errnos the store promises, from what librados returned. */
int blob_rados_errno(int rc);
/* A timestamp as the object's attribute holds it (20 digits). */
void blob_rados_stamp_fmt(char out[RADOS_STAMP_LEN + 1], int64_t t);
/* fn on oid until it does not time out (RADOS_ATTEMPTS tries counting from
 * first); librados's answer, untranslated. */
int blob_rados_run(struct rados_backend *rb, const char *oid, const char *what, rados_op_fn fn,
                   struct rados_call *call, int first);
/* The fault a test asked for on the next operation tried again after a
 * timeout (blob_rados_test_fail_ops), or 0: one atomic load when none is. */
int blob_rados_test_fault(struct rados_backend *rb);
/* rc of an operation of client cluster on oid: when it timed out (an OSD
 * stopped, or back at a new address), the client waits for the latest
 * OSD map — its next operation would else go to the old address and time
 * out too — and true while *tries (counted here) is under RADOS_ATTEMPTS:
 * try it again.  For operations blob_rados_run cannot carry. */
bool blob_rados_again(struct rados_backend *rb, rados_t cluster, const char *oid, const char *what, int rc,
                      int *tries);
/* A whole chunk: stat + read in one operation (call->rbuf, rcap). */
int blob_rados_op_read(struct rados_backend *rb, const char *oid, struct rados_call *call);
/* The stamp of a found chunk refreshed when older than RADOS_FRESH. */
int blob_rados_refresh(struct rados_backend *rb, const char *oid, int first);
/* An exclusive create of a chunk (with its block digests dig, or NULL), a
 * found one refreshed: 1 new, 0 there. */
int blob_rados_place(struct rados_backend *rb, const char *oid, const void *buf, size_t len, const uint8_t *dig,
                     int first);
/* Part of a chunk and its block digests: read + getxattrs in one
 * operation (call->off, rbuf, rcap; dbuf, dcap). */
int blob_rados_op_read_part(struct rados_backend *rb, const char *oid, struct rados_call *call);
int blob_rados_set_digests(struct blob_backend *be, const chunk_id *id, const uint8_t *dig, size_t len);
/* The single operations the table runs through blob_rados_run: a refresh
 * (op_touch), a removal only when older than call->t (op_del_older), the
 * size and timestamp (op_stat_stamp), the size (op_stat), a removal. */
int blob_rados_op_del_older(struct rados_backend *rb, const char *oid, struct rados_call *call);
int blob_rados_op_stat_stamp(struct rados_backend *rb, const char *oid, struct rados_call *call);
int blob_rados_op_stat(struct rados_backend *rb, const char *oid, struct rados_call *call);
int blob_rados_op_remove(struct rados_backend *rb, const char *oid, struct rados_call *call);


/* ---- rados_read.c ------------------------------------------------------ */

/* Waits for a read ahead and says how it went (the slot's fields). */
int blob_rados_pf_finish(struct rados_pf *p);
/* The table's get, get_buf and prefetch. */
int blob_rados_get(struct blob_backend *be, const chunk_id *id, void *buf, size_t cap, size_t *len_out);
int blob_rados_get_buf(struct blob_backend *be, const chunk_id *id, uint8_t **buf, size_t *len_out);
void blob_rados_prefetch(struct blob_backend *be, const chunk_id *ids, size_t n);
int blob_rados_get_part(struct blob_backend *be, const chunk_id *id, uint64_t off, size_t len, void *buf,
                        size_t *got, uint8_t *dig, size_t cap, size_t *dig_len);
/* A place for one more started operation (RADOS_STARTED_MAX): true and taken
 * (given back when it is answered), or false. */
bool blob_rados_start_room(struct rados_backend *rb);
/* While a test holds started operations (blob_rados_test_hold_started). */
void blob_rados_test_started_held(struct rados_backend *rb);
int blob_rados_get_part_start(struct blob_backend *be, const chunk_id *id, uint64_t off, size_t len, void *buf,
                              void (*done)(void *arg, int rc, size_t got), void *arg);

/* ---- rados_batch.c ----------------------------------------------------- */

/* The batching sub-table's operations (rados.c holds the table). */
int blob_rados_batch_new(struct blob_backend *be, struct blob_backend_batch **out);
int blob_rados_batch_add_buf(struct blob_backend_batch *b, const chunk_id *id, uint8_t **buf, size_t len,
                             const uint8_t *dig);
int blob_rados_batch_commit(struct blob_backend_batch *b);
int blob_rados_batch_has_many(struct blob_backend_batch *b, const chunk_id *ids, size_t n, uint8_t *found);
void blob_rados_batch_free(struct blob_backend_batch *b);

/* ---- rados_disk.c and rados_chunks.c: cluster disks --------------------- */

/* The disks sub-table: cluster disks (rados_disk.c's header: objects,
 * fencing).  rados_disk.c opens, closes and fences a disk and keeps its
 * header and records; rados_chunks.c reads and writes its chunks' objects. */
extern const struct blob_backend_disks blob_rados_disks;

#define RADOS_ADDR_MAX 256
#define RADOS_OID_MAX (3 + 64 + 10) /* "wb." NAME ".IIIIIIII" */

/* A cluster disk open here. */
struct blob_backend_disk {
	struct rados_backend *rb; /* its store's: the log, the spec */
	rados_t cluster;          /* its own client */
	rados_ioctx_t io;
	unsigned op_timeout;
	char name[65];
	char hdr[RADOS_OID_MAX];
	char me[RADOS_ADDR_MAX]; /* this client's address, as recorded */
	bool reader;             /* the store's client: nothing recorded, no writes */
	atomic_bool fenced;
	atomic_uint started; /* reads and writes started, not yet answered: the client stays until they are */
	/* A writer's: the process's opens of this disk share it (rb->disk_lock). */
	int refs;
	struct blob_backend_disk *next;
};

/* Chunk i's object. */
static inline void rados_chunk_oid(char out[RADOS_OID_MAX], const char *name, uint32_t i)
{
	snprintf(out, RADOS_OID_MAX, "wb.%s.%08x", name, i);
}

/* A change through a reader, or a fenced client: refused. */
static inline int rados_disk_refused(const struct blob_backend_disk *d)
{
	return d->reader ? -EROFS : atomic_load(&d->fenced) ? -EIO : 0;
}

/* Record sets and chunk objects' reads counted, and how many are in
 * flight at once (tests count first writes of different chunks side by
 * side, wblob_cluster.c, and a capture's reads ahead, wblob_copy.c). */
static inline void rados_in_flight(atomic_uint_fast64_t *total, atomic_uint_fast64_t *now_,
                                   atomic_uint_fast64_t *peak_, int d)
{
	uint_fast64_t now, peak;

	if (d < 0) {
		atomic_fetch_sub(now_, 1);
		return;
	}
	atomic_fetch_add(total, 1);
	now = atomic_fetch_add(now_, 1) + 1;
	peak = atomic_load(peak_);
	while (now > peak && !atomic_compare_exchange_weak(peak_, &peak, now))
		;
}
#define RADOS_RECS_IN_FLIGHT(rb, d) \
	rados_in_flight(&(rb)->n.disk_recs, &(rb)->n.disk_recs_now, &(rb)->n.disk_recs_peak, d)
#define RADOS_READS_IN_FLIGHT(rb, d) \
	rados_in_flight(&(rb)->n.disk_reads, &(rb)->n.disk_reads_now, &(rb)->n.disk_reads_peak, d)

/* What an operation of open disk d returned, for its caller (rc, or the
 * store's errno): a client blocklisted by another opener is fenced for
 * good (said once in the log); other failures said with what. */
int blob_rados_disk_rc(struct blob_backend_disk *d, int rc, const char *what);

/* rados_chunks.c: the table's operations on a disk's chunk objects
 * (blob_backend.h says what each does). */
int blob_rados_chunk_write(struct blob_backend_disk *d, uint32_t i, uint64_t off, const void *buf, size_t len,
                           bool fresh);
int blob_rados_chunk_read(struct blob_backend_disk *d, uint32_t i, uint64_t off, void *buf, size_t len);
int blob_rados_chunk_read_start(struct blob_backend_disk *d, uint32_t i, uint64_t off, void *buf, size_t len,
                                void (*done)(void *arg, int rc), void *arg);
int blob_rados_chunk_write_start(struct blob_backend_disk *d, uint32_t i, uint64_t off, const void *buf,
                                 size_t len, bool patch, void (*done)(void *arg, int rc), void *arg);
int blob_rados_chunk_zero(struct blob_backend_disk *d, uint32_t i, uint64_t off, size_t len);
int blob_rados_chunk_drop(struct blob_backend_disk *d, uint32_t i);
int blob_rados_chunk_patch(struct blob_backend_disk *d, uint32_t i, uint32_t b0, uint32_t nb, const void *buf,
                           bool fresh);
int blob_rados_chunk_marks(struct blob_backend_disk *d, const uint32_t *idx, size_t n,
                           int (*cb)(void *arg, uint32_t i, const uint8_t *bits), void *arg);
/* ---- rados_sweep.c ----------------------------------------------------- */

#define RADOS_REC_KEY_LEN 8 /* a disk record's omap key: 8 hex digits of its index */

#define RADOS_OMAP_KEY_MAX 255 /* an omap key read back: imgfs writes none over 79 bytes */

/* Every key of object oid's omap, in key order, a page a round trip, to
 * kv with its value (stops at a non-zero answer, which it returns): 0,
 * -EIO for a key longer than RADOS_OMAP_KEY_MAX (not ours), or the
 * librados error (-ENOENT: no such object). */
int blob_rados_omap_each(rados_ioctx_t io, const char *oid,
                         int (*kv)(void *arg, const char *key, size_t klen, const char *val, size_t vlen), void *arg);
/* Every record of a disk's header oid, in key order, to rec (stops at a
 * non-zero answer): 0, -EIO for a key not ours, or the librados error. */
int blob_rados_read_recs(rados_ioctx_t io, const char *oid,
                         int (*rec)(void *arg, uint32_t i, const uint8_t *val, size_t n), void *arg);

/* The disks sub-table's sweep (blob_backend.h). */
int blob_rados_disk_sweep(struct blob_backend *be, int64_t not_after, bool dry,
                          bool (*names)(const uint8_t *val, size_t n), uint64_t *count, uint64_t *bytes, char *why,
                          size_t cap);

#endif /* IMGFS_HAVE_RADOS */
#endif

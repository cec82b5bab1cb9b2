/*
 * blob_rados_test.h — the RADOS backend's instruments, for tests: hooks
 * that do what an operator's `rados` or a failing cluster would (overwrite
 * a chunk, change its digests or timestamp, fail a disk's record sets)
 * and the counters of what the backend asked the cluster, which tests use
 * to guard costs per chunk.  backend/rados.c defines them (no-ops without
 * librados); rados_int.h and tests/unit/blobstore/blob_test.h include it.
 */
#ifndef IMGFS_BLOB_RADOS_TEST_H
#define IMGFS_BLOB_RADOS_TEST_H

#include <stdio.h>

#include "blobstore_int.h"

/* For tests: what `rados put` of other bytes under a chunk's name does
 * (replaces the object's bytes, keeps its attributes), and setting the
 * timestamp gc goes by. */
int blob_rados_test_overwrite(struct blob_backend *be, const chunk_id *id, const void *buf, size_t len);
/* For tests: a chunk's block digests replaced by len bytes of dig, or
 * removed (dig NULL). */
int blob_rados_test_set_digests(struct blob_backend *be, const chunk_id *id, const void *dig, size_t len);
int blob_rados_test_set_stamp(struct blob_backend *be, const chunk_id *id, int64_t t);
int blob_rados_test_get_stamp(struct blob_backend *be, const chunk_id *id, int64_t *out);
/* For tests: from now on every record set (or cut) of a cluster disk of
 * be fails with rec_err, every patch of a chunk's blocks with patch_err
 * (0: none) — a crash between a chunk's object and its record, a write
 * refused, a removal of records timed out. */
void blob_rados_test_fail_recs(struct blob_backend *be, int rec_err, int patch_err);
/* For tests: from now on removing chunk i's object of any cluster disk
 * being removed fails with err (0: none), as a timeout would (the object
 * stays); and every question whether a chunk exists (exists) fails with
 * err (0: none) — a cluster that does not answer. */
void blob_rados_test_fail_drop(struct blob_backend *be, uint32_t i, int err);
void blob_rados_test_fail_exists(struct blob_backend *be, int err);
/* For tests: of the next 32 single operations on one object that the
 * backend runs and tries again after a timeout (a read, a create, a
 * timestamp check or refresh, a stat, a removal: blob_rados_run; a cluster
 * disk's listing and header creation, a header read, its writer read or
 * recorded at a fence or an open, a read of a chunk's object, tried
 * once, a listing of the pool's disks, and each try of a disk's removal:
 * its chunk objects, its header (this one sent, then answered err: a
 * timeout after it landed), its name, three operations: rados_disk.c), the
 * k-th (from 0) fails with err, not sent, when bit k of mask is set — an
 * OSD that times out, a pool that is full, gc removing a chunk between a
 * create and its refresh.  Counted from this call on; mask 0: none. */
void blob_rados_test_fail_ops(struct blob_backend *be, uint32_t mask, int err);
/* For tests: while hold, the OSD map waits (rados_op.c blob_rados_map)
 * ask the monitor nothing and do not return — a monitor that does not
 * answer; let go, they ask it. */
void blob_rados_test_hold_map(bool hold);
/* For tests: the next listing of the pool's cluster disks fails with err
 * (once) after it gave `after` names, as a timeout between two of its
 * pages would (its next try goes on after the names given). */
void blob_rados_test_fail_list(struct blob_backend *be, uint32_t after, int err);
/* For tests: of the next 32 operations a batch's existence check starts
 * (blob_rados_batch_has_many: its checks in the order of the ids, then the
 * refreshes of those found old), the k-th (from 0) answers err, not sent,
 * when bit k of mask is set — a check or a refresh that timed out, a
 * chunk gc removed between its check and its refresh (ENOENT), an OSD's
 * error.  Counted from this call on; mask 0: none. */
void blob_rados_test_fail_has(struct blob_backend *be, uint32_t mask, int err);
/* For tests: blob_rados_blocklist (the fence's monitor command) through
 * be's client: client address addr blocklisted for secs seconds. */
int blob_rados_test_blocklist(struct blob_backend *be, const char *addr, unsigned secs);
/* For tests: whether the monitor's blocklist (`osd blocklist ls`) names
 * addr: 0 with *until the end of its entry (seconds since the epoch), and
 * the entry removed when rm; -ENOENT when it does not. */
int blob_rados_test_blocklisted(struct blob_backend *be, const char *addr, bool rm, int64_t *until);
/* For tests: the value of the configuration option name of be's client
 * (what the ceph.conf set, or imgfs's default: rados_op.c), into
 * out[cap]; the op timeout its log lines say into *op_timeout. */
int blob_rados_test_conf(struct blob_backend *be, const char *name, char *out, size_t cap, unsigned *op_timeout);
/* For tests: from now on every read of gc's disk-object sweep
 * (rados_sweep.c) fails with err (0: none), as a timeout would; touch:
 * each object it is about to remove is written to first, as a writer
 * starting it afresh between the sweep's look and its removal would. */
void blob_rados_test_sweep(struct blob_backend *be, int err, bool touch);
/* For tests: from now on every peek of a cluster disk (its header read
 * without opening it: a removal's, gc's) fails with err (0: none). */
void blob_rados_test_fail_peek(struct blob_backend *be, int err);
/* For tests: object oid made (one byte), as `rados put` would; 1 when
 * it exists, 0 when not. */
int blob_rados_test_put_object(struct blob_backend *be, const char *oid);
int blob_rados_test_object_exists(struct blob_backend *be, const char *oid);
/* For tests: every object of namespace ns of pool (cluster conf)
 * removed, through a client of its own (a test's teardown: its disks,
 * chunks and the store's own objects); how many, or -errno (the
 * listing's or a removal's first failure; the others are still
 * removed). */
int blob_rados_test_purge(const char *conf, const char *pool, const char *ns);
/* For tests: the next purge's removal number `at` (from 0, in the
 * listing's order) answered err, not sent — an object gone since the
 * listing (ENOENT, not a failure), or a removal refused. */
void blob_rados_test_fail_purge(unsigned at, int err);
/* For tests: disk name's header object removed, its name left listed
 * (a crash between a disk's list entry and its header). */
int blob_rados_test_disk_drop_header(struct blob_backend *be, const char *name);
/* For tests: how many of disk name's objects exist, its header and its
 * chunk objects below upto, each asked (a stat). */
int blob_rados_test_disk_objects(struct blob_backend *be, const char *name, uint32_t upto);
/* For tests: disk name's header object's bytes replaced by len bytes of
 * buf (its writer and records kept), as bit rot or an operator's `rados
 * put` would, or (buf NULL) the header removed, the name still listed (a
 * create killed between the two): no other way in. */
int blob_rados_test_disk_header(struct blob_backend *be, const char *name, const void *buf, size_t len);
/* For tests: while hold is true, no digest backfill's answer is taken
 * (each stays in flight, as on a slow cluster). */
void blob_rados_test_hold_digs(struct blob_backend *be, bool hold);
/* For tests: while hold is true, no started operation's answer (a
 * cluster disk's read_start and write_start, the store's get_part_start)
 * is handed on: each stays in flight, as on a slow cluster. */
void blob_rados_test_hold_started(struct blob_backend *be, bool hold);
/* For tests: the handles librados gave the backend and it has not given
 * back, by kind (out[BLOB_RADOS_CLIENTS] ...): from the first call on
 * each one is counted (shims in front of librados's calls, put in once
 * per process: call it before opening a RADOS store), so a test's counts
 * before and after say what it leaked — a completion, an operation, a
 * client or a pool's handle kept on a way out.  0, or -EPROTONOSUPPORT
 * without librados (all 0). */
enum {
	BLOB_RADOS_CLIENTS,     /* rados_create .. rados_shutdown */
	BLOB_RADOS_IOCTXS,      /* rados_ioctx_create .. rados_ioctx_destroy */
	BLOB_RADOS_READ_OPS,    /* rados_create_read_op .. rados_release_read_op */
	BLOB_RADOS_WRITE_OPS,   /* rados_create_write_op .. rados_release_write_op */
	BLOB_RADOS_COMPLETIONS, /* rados_aio_create_completion2 .. rados_aio_release */
	BLOB_RADOS_HANDLE_KINDS
};
int blob_rados_test_handles(long out[BLOB_RADOS_HANDLE_KINDS]);
/* For tests: 0 when every handle counted since `before` (an earlier
 * blob_rados_test_handles) is given back, else 1, and what is kept said
 * on `say`.  A store's close gives back its operations, completions and pool
 * handles before it returns (it waits for what it started); only a client
 * may outlive it, shut down by a map wait's thread once the monitor
 * answers (rados_op.c): clients are waited for, up to 30 s (one kept is
 * never given back). */
int blob_rados_test_handles_kept(const long before[BLOB_RADOS_HANDLE_KINDS], FILE *say);
/* What the backend asked the cluster, counted (tests guard that costs do
 * not grow per chunk where they must not). */
struct blob_rados_counters {
	uint64_t reads;           /* chunk reads waited for synchronously */
	uint64_t reads_ahead;     /* chunk reads started by prefetch */
	uint64_t reads_ahead_hit; /* gets served by a read started ahead */
	uint64_t reads_handed;    /* of those, handed over without a copy (get_buf) */
	uint64_t creates;         /* exclusive creates sent (put, batches) */
	uint64_t creates_handed;  /* of those, sent from the caller's buffer, kept (batching's add) */
	uint64_t creates_waited;  /* a batch's add that first waited for its oldest write (all slots busy) */
	uint64_t has_rounds;      /* batching has_many calls: one wait each */
	uint64_t has_objects;     /* objects those asked about */
	uint64_t refreshes;       /* timestamp refreshes written */
	uint64_t timeouts;        /* operations that timed out */
	uint64_t disk_writes;     /* cluster disks: chunk objects written (one round trip each) */
	uint64_t disk_recs;       /* cluster disks: chunk records set (one round trip each) */
	uint64_t disk_recs_peak;  /* cluster disks: the most record sets in flight at once */
	uint64_t disk_rec_keys;   /* cluster disks: records those set (one operation sets many: wblob_recs.c) */
	uint64_t part_reads;      /* reads of part of a chunk with its block digests (get_part) */
	uint64_t part_bytes;      /* bytes those brought: the blocks and the digests (taken or not) */
	uint64_t digs_sent;       /* digest backfills started (set_digests) */
	uint64_t digs_set;        /* of those, answered done */
	uint64_t digs_done;       /* of those, answered (done or not) */
	uint64_t creates_beside_rec; /* exclusive creates sent while a record set was in flight */
	uint64_t disk_reads;         /* cluster disks: reads of chunk objects (one round trip each) */
	uint64_t disk_reads_peak;    /* cluster disks: the most of those in flight at once */
	uint64_t disk_reads_started; /* of disk_reads, those started and answered by the cluster's thread (read_start) */
	uint64_t parts_started;      /* reads of part of a chunk started, digests held (get_part_start) */
	uint64_t disk_writes_started; /* of disk_writes, those started and answered by the cluster's thread (write_start) */
	uint64_t disk_marks;          /* cluster disks: patched chunks whose marks (their object's keys) were read */
	uint64_t disk_keys;           /* cluster disks: blocks' marks (keys) set by patch writes, one per block */
	uint64_t map_asks;            /* latest OSD maps asked (blob_rados_map), of the region's client or a disk's */
};
void blob_rados_counters(struct blob_backend *be, struct blob_rados_counters *out);

#endif

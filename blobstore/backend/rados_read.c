/*
 * backend/rados_read.c — the RADOS backend's reads: get, get_buf, the
 * reads ahead (prefetch), as rados.c's header comment ("Fast paths:
 * reads") describes, get_part (part of a chunk with its block digests, or
 * without them when the store holds them) and set_digests (a chunk's
 * digests set after a whole read verified it: part.c's backfill).
 *
 * Who calls it: the store through the backend table (rados.c).  The
 * prefetch table (rb->pf, RADOS_PREFETCH_SLOTS chunk buffers) is guarded by
 * rb->pf_lock; a slot taken by a get is the getter's until released.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "rados_int.h"

#ifdef IMGFS_HAVE_RADOS

/* The prefetch slot holding id, taken for the caller, or NULL. */
static struct rados_pf *pf_take(struct rados_backend *rb, const chunk_id *id)
{
	struct rados_pf *p = NULL;

	IMGFS_LOCK(&rb->pf_lock, rados_pf_lock);
	for (int i = 0; i < RADOS_PREFETCH_SLOTS && p == NULL; i++)
		if (rb->pf[i].used && !rb->pf[i].taken && chunk_id_equal(&rb->pf[i].id, id))
			p = &rb->pf[i];
	if (p != NULL)
		p->taken = true;
	IMGFS_UNLOCK(&rb->pf_lock, rados_pf_lock);
	return p;
}

/* Waits for a used slot's read and frees its operation (the slot's lock
 * is not needed: used and taken, or the backend is being freed). */
int blob_rados_pf_finish(struct rados_pf *p)
{
	int rc;

	rados_aio_wait_for_complete(p->c);
	rc = rados_aio_get_return_value(p->c);
	rados_aio_release(p->c);
	rados_release_read_op(p->op);
	if (rc == 0)
		rc = p->stat_rv < 0 ? p->stat_rv : p->read_rv;
	return rc;
}

static void pf_release(struct rados_backend *rb, struct rados_pf *p)
{
	IMGFS_LOCK(&rb->pf_lock, rados_pf_lock);
	p->used = p->taken = false;
	IMGFS_UNLOCK(&rb->pf_lock, rados_pf_lock);
}

/* get and get_buf: into buf (cap bytes), or, when swap is not NULL (then
 * buf == *swap, a chunk buffer), into whichever chunk buffer ends up in
 * *swap: a chunk read ahead is handed over by exchanging buffers. */
static int get_chunk(struct rados_backend *rb, const chunk_id *id, void *buf, size_t cap, uint8_t **swap,
                     size_t *len_out)
{
	struct rados_call call = {.rbuf = buf, .rcap = cap};
	struct rados_pf *p;
	char oid[33];
	int first = 1, rc = -ETIMEDOUT;

	chunk_id_fmt(oid, id);
	if ((p = pf_take(rb, id)) != NULL) {
		rc = blob_rados_pf_finish(p);
		atomic_fetch_add(&rb->n.reads_ahead_hit, 1);
		if (rc == 0 && p->size <= cap && swap != NULL) {
			uint8_t *mine = p->buf;
			p->buf = *swap; /* the slot keeps the caller's buffer */
			*swap = mine;
			atomic_fetch_add(&rb->n.reads_handed, 1);
			call.got = p->got;
			call.size = p->size;
		} else if (rc == 0 && p->size <= cap) {
			memcpy(buf, p->buf, p->got);
			call.got = p->got;
			call.size = p->size;
		} else if (rc == 0) {
			call.size = p->size;
		}
		pf_release(rb, p);
		if (rc == -ETIMEDOUT) { /* its first try: the retries here */
			blob_log_line(rb->log,
			              "rados %s: object %s: a read timed out after %u s (try 1 of %d); waiting for the "
			              "latest OSD map",
			              rb->where, oid, rb->op_timeout, RADOS_ATTEMPTS);
			if (blob_rados_map(rb, rb->cluster, true) < 0) {
				blob_log_line(rb->log, "rados %s: object %s: a read: the monitor did not give the latest OSD "
				              "map within %u s: giving up: EIO", rb->where, oid,
				              blob_rados_map_secs(rb, rb->cluster));
				return -EIO;
			}
			first = 2;
		}
	}
	if (p == NULL || rc == -ETIMEDOUT)
		rc = blob_rados_run(rb, oid, "a read", blob_rados_op_read, &call, first);
	if (rc < 0)
		return blob_rados_errno(rc);
	if (call.size > BLOB_OBJ_MAX) /* no chunk is that long: damaged (a verdict) */
		return -EUCLEAN;
	if (call.size > cap)
		return -ERANGE;
	*len_out = call.got;
	return 0;
}

int blob_rados_get(struct blob_backend *be, const chunk_id *id, void *buf, size_t cap, size_t *len_out)
{
	return get_chunk(rb_of(be), id, buf, cap, NULL, len_out);
}

int blob_rados_get_buf(struct blob_backend *be, const chunk_id *id, uint8_t **buf, size_t *len_out)
{
	return get_chunk(rb_of(be), id, *buf, BLOB_OBJ_MAX, buf, len_out);
}

/* Part of a chunk and its block digests in one read operation (the
 * table's get_part: blob_backend.h); the store verifies (part.c). */
int blob_rados_get_part(struct blob_backend *be, const chunk_id *id, uint64_t off, size_t len, void *buf,
                        size_t *got, uint8_t *dig, size_t cap, size_t *dig_len)
{
	struct rados_call call = {.rbuf = buf, .rcap = len, .off = off, .dbuf = dig, .dcap = cap};
	char oid[33];
	int rc;

	chunk_id_fmt(oid, id);
	rc = blob_rados_run(rb_of(be), oid, "a read", blob_rados_op_read_part, &call, 1);
	if (rc < 0)
		return blob_rados_errno(rc);
	*got = call.got;
	*dig_len = call.dlen;
	return 0;
}

/* One get_part_start: freed by its completion. */
struct part_start {
	struct rados_backend *rb;
	void (*done)(void *arg, int rc, size_t got);
	void *arg;
};

static void part_started_done(rados_completion_t c, void *p)
{
	struct part_start *r = p;
	struct rados_backend *rb = r->rb;
	int rc = rados_aio_get_return_value(c);

	blob_rados_test_started_held(rb);
	rados_aio_release(c);
	if (rc == -ETIMEDOUT)
		atomic_fetch_add(&rb->n.timeouts, 1);
	if (rc >= 0)
		atomic_fetch_add(&rb->n.part_bytes, (uint64_t)rc);
	atomic_fetch_sub(&rb->n.started_now, 1);
	r->done(r->arg, rc < 0 ? blob_rados_errno(rc) : 0, rc < 0 ? 0 : (size_t)rc);
	free(r);
	atomic_fetch_sub(&rb->n.parts_now, 1); /* last: rados_free waits for it */
}

/* The table's get_part_start: the blocks only, one try, answered on the
 * client's thread. */
int blob_rados_get_part_start(struct blob_backend *be, const chunk_id *id, uint64_t off, size_t len, void *buf,
                              void (*done)(void *arg, int rc, size_t got), void *arg)
{
	struct rados_backend *rb = rb_of(be);
	rados_completion_t c;
	struct part_start *r;
	char oid[33];
	int rc;

	if ((rc = blob_rados_test_fault(rb)) < 0) { /* a test's fault: answered here, as the cluster would */
		atomic_fetch_add(&rb->n.parts_started, 1);
		done(arg, rc, 0);
		return 0;
	}
	if (!blob_rados_start_room(rb))
		return -EAGAIN;
	if ((r = malloc(sizeof *r)) == NULL) {
		atomic_fetch_sub(&rb->n.started_now, 1);
		return -ENOMEM;
	}
	*r = (struct part_start){rb, done, arg};
	if (rados_aio_create_completion2(r, part_started_done, &c) < 0) {
		atomic_fetch_sub(&rb->n.started_now, 1);
		free(r);
		return -ENOMEM;
	}
	chunk_id_fmt(oid, id);
	atomic_fetch_add(&rb->n.parts_now, 1);
	atomic_fetch_add(&rb->n.parts_started, 1);
	if ((rc = rados_aio_read(rb->io, oid, c, buf, len, off)) < 0) {
		atomic_fetch_sub(&rb->n.started_now, 1);
		atomic_fetch_sub(&rb->n.parts_now, 1);
		rados_aio_release(c);
		free(r);
		return blob_rados_errno(rc);
	}
	return 0;
}

/* A digest backfill's operation, freed when the cluster answers. */
struct dig_set {
	struct rados_backend *rb;
	rados_write_op_t op;
};

static void dig_set_done(rados_completion_t c, void *arg)
{
	struct dig_set *d = arg;
	struct rados_backend *rb = d->rb;

	while (atomic_load(&rb->test_digs_hold))
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	if (rados_aio_get_return_value(c) == 0)
		atomic_fetch_add(&rb->n.digs_set, 1);
	atomic_fetch_add(&rb->n.digs_done, 1);
	rados_release_write_op(d->op);
	rados_aio_release(c);
	free(d);
	atomic_fetch_sub(&rb->n.digs_now, 1); /* last: rados_free waits for it */
}

/* The table's set_digests: assert the object exists, set its digests; one
 * operation, not waited for, RADOS_DIGS_INFLIGHT at most. */
int blob_rados_set_digests(struct blob_backend *be, const chunk_id *id, const uint8_t *dig, size_t len)
{
	struct rados_backend *rb = rb_of(be);
	rados_completion_t c;
	struct dig_set *d;
	char oid[33];

	IMGFS_ASSERT(len > 0 && len <= BLOB_DIG_MAX); /* the store's BLOB_DIG_LEN of a chunk */
	if (atomic_fetch_add(&rb->n.digs_now, 1) >= RADOS_DIGS_INFLIGHT)
		goto skip;
	if ((d = malloc(sizeof *d)) == NULL)
		goto skip;
	d->rb = rb;
	if ((d->op = rados_create_write_op()) == NULL) {
		free(d);
		goto skip;
	}
	if (rados_aio_create_completion2(d, dig_set_done, &c) < 0) {
		rados_release_write_op(d->op);
		free(d);
		goto skip;
	}
	rados_write_op_assert_exists(d->op);
	rados_write_op_setxattr(d->op, RADOS_DIG_XATTR, (const char *)dig, len);
	chunk_id_fmt(oid, id);
	if (rados_aio_write_op_operate(d->op, rb->io, c, oid, NULL, LIBRADOS_OPERATION_NOFLAG) < 0) {
		rados_aio_release(c);
		rados_release_write_op(d->op);
		free(d);
		goto skip;
	}
	atomic_fetch_add(&rb->n.digs_sent, 1);
	return 1;
skip:
	atomic_fetch_sub(&rb->n.digs_now, 1);
	return 0;
}

void blob_rados_test_hold_digs(struct blob_backend *be, bool hold)
{
	atomic_store(&rb_of(be)->test_digs_hold, hold);
}

void blob_rados_test_hold_started(struct blob_backend *be, bool hold)
{
	atomic_store(&rb_of(be)->test_started_hold, hold);
}

bool blob_rados_start_room(struct rados_backend *rb)
{
	if (atomic_fetch_add(&rb->n.started_now, 1) < RADOS_STARTED_MAX)
		return true;
	atomic_fetch_sub(&rb->n.started_now, 1);
	return false;
}

void blob_rados_test_started_held(struct rados_backend *rb)
{
	while (atomic_load(&rb->test_started_hold))
		nanosleep(&(struct timespec){0, 1000000}, NULL);
}

/* Whether id is one of ids[0..n). */
static bool ids_have(const chunk_id *ids, size_t n, const chunk_id *id)
{
	for (size_t k = 0; k < n; k++)
		if (chunk_id_equal(&ids[k], id))
			return true;
	return false;
}

void blob_rados_prefetch(struct blob_backend *be, const chunk_id *ids, size_t n)
{
	struct rados_backend *rb = rb_of(be);

	/* A test's faults (blob_rados_test_fail_ops) are for the reads that
	 * follow: nothing read ahead of them. */
	if (atomic_load(&rb->test_ops_mask) != 0)
		return;
	IMGFS_LOCK(&rb->pf_lock, rados_pf_lock);
	for (size_t k = 0; k < n; k++) {
		struct rados_pf *p = NULL;
		bool have = false;
		char oid[33];

		for (int i = 0; i < RADOS_PREFETCH_SLOTS && !have; i++)
			have = rb->pf[i].used && chunk_id_equal(&rb->pf[i].id, &ids[k]);
		if (have)
			continue;
		/* A free slot, else the oldest one whose read is done and that
		 * nobody took or is about to (a reader that went elsewhere: its
		 * chunk is not among those asked for now). */
		for (int i = 0; i < RADOS_PREFETCH_SLOTS; i++) {
			struct rados_pf *q = &rb->pf[i];
			if (!q->used) {
				p = q;
				break;
			}
			if (!q->taken && rados_aio_is_complete(q->c) && (p == NULL || q->tick < p->tick) &&
			    !ids_have(ids, n, &q->id))
				p = q;
		}
		if (p == NULL)
			break; /* all on their way or wanted: enough ahead */
		if (p->used) {
			blob_rados_pf_finish(p);
			p->used = false;
		}
		if (p->buf == NULL && (p->buf = blob_chunk_buf_new()) == NULL)
			break;
		if ((p->op = rados_create_read_op()) == NULL)
			break;
		if (rados_aio_create_completion2(NULL, NULL, &p->c) < 0) {
			rados_release_read_op(p->op);
			break;
		}
		p->stat_rv = p->read_rv = 0;
		p->got = 0;
		p->size = 0;
		rados_read_op_stat(p->op, &p->size, &p->mtime, &p->stat_rv);
		rados_read_op_read(p->op, 0, BLOB_OBJ_MAX, (char *)p->buf, &p->got, &p->read_rv);
		chunk_id_fmt(oid, &ids[k]);
		if (rados_aio_read_op_operate(p->op, rb->io, p->c, oid, LIBRADOS_OPERATION_NOFLAG) < 0) {
			rados_aio_release(p->c);
			rados_release_read_op(p->op);
			break;
		}
		atomic_fetch_add(&rb->n.reads_ahead, 1);
		p->id = ids[k];
		p->used = true;
		p->taken = false;
		p->tick = ++rb->pf_tick;
	}
	IMGFS_UNLOCK(&rb->pf_lock, rados_pf_lock);
}

#endif

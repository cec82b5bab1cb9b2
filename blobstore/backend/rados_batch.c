/*
 * backend/rados_batch.c — the RADOS backend's batches: up to
 * RADOS_BATCH_INFLIGHT exclusive creates in flight per batch, each keeping
 * its chunk buffer until settled (a retry, or a create after a refresh
 * found the chunk gone), and existence checks of up to BLOB_BATCH_MAX
 * chunks with one wait (rados.c's header comment, "Fast paths: writes").
 *
 * Who calls it: batch.c's lanes through the batching sub-table (rados.c).
 * A batch is used by one thread at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rados_int.h"

#ifdef IMGFS_HAVE_RADOS

struct rados_wslot {
	bool busy;
	int tries; /* of this create so far */
	chunk_id id;
	size_t len;
	bool has_dig;
	uint8_t dig[BLOB_DIG_MAX]; /* the block digests, for a retry as the bytes */
	uint8_t *buf; /* our copy: a retry, or a create after a refresh that
	                 found the chunk gone, needs the bytes again */
	rados_completion_t c;
	rados_write_op_t op;
};

struct blob_backend_batch {
	struct rados_backend *rb;
	struct rados_wslot w[RADOS_BATCH_INFLIGHT];
	unsigned next;  /* the slot to reuse next (the oldest) */
	int placed;     /* since the last commit */
	int err;        /* sticky */
};

int blob_rados_batch_new(struct blob_backend *be, struct blob_backend_batch **out)
{
	struct blob_backend_batch *b = calloc(1, sizeof *b);

	if (b == NULL)
		return -ENOMEM;
	b->rb = rb_of(be);
	*out = b;
	return 0;
}

/* Waits for slot w's create and settles it: placed, found (refreshed), or
 * the error recorded. */
static void wslot_finish(struct blob_backend_batch *b, struct rados_wslot *w)
{
	char oid[33];
	int rc;

	if (!w->busy)
		return;
	rados_aio_wait_for_complete(w->c);
	rc = rados_aio_get_return_value(w->c);
	rados_aio_release(w->c);
	rados_release_write_op(w->op);
	w->busy = false;
	chunk_id_fmt(oid, &w->id);
	if (rc == 0) {
		b->placed++;
		return;
	}
	if (rc == -ETIMEDOUT) {
		atomic_fetch_add(&b->rb->n.timeouts, 1);
		blob_log_line(b->rb->log,
		              "rados %s: object %s: a write timed out after %u s (try 1 of %d); waiting for the latest "
		              "OSD map",
		              b->rb->where, oid, b->rb->op_timeout, RADOS_ATTEMPTS);
		rc = blob_rados_map(b->rb, b->rb->cluster, true) < 0
		         ? (blob_log_line(b->rb->log, "rados %s: object %s: a write: the monitor did not give the latest "
		                          "OSD map within %u s: giving up: EIO", b->rb->where, oid,
		                          blob_rados_map_secs(b->rb, b->rb->cluster)),
		            -EIO)
		         : blob_rados_place(b->rb, oid, w->buf, w->len, w->has_dig ? w->dig : NULL, 2);
	} else {
		/* -EEXIST: another writer placed it (refresh it); else an error. */
		rc = rc == -EEXIST ? blob_rados_place(b->rb, oid, w->buf, w->len, w->has_dig ? w->dig : NULL, 0)
		                    : blob_rados_errno(rc);
	}
	if (rc > 0)
		b->placed++;
	if (rc < 0 && b->err == 0)
		b->err = rc;
}

/* The slot the batching's add fills next: the oldest, once its write is settled.
 * NULL with *rc set when the batch failed. */
static struct rados_wslot *wslot_next(struct blob_backend_batch *b, size_t len, int *rc)
{
	struct rados_wslot *w = &b->w[b->next];

	*rc = b->err;
	if (*rc == 0 && len > BLOB_OBJ_MAX)
		*rc = -EINVAL;
	if (*rc < 0)
		return NULL;
	if (w->busy)
		atomic_fetch_add(&b->rb->n.creates_waited, 1);
	wslot_finish(b, w); /* the oldest: its slot is ours */
	return (*rc = b->err) < 0 ? NULL : w;
}

/* Starts slot w's create of chunk id from the len bytes in w->buf. */
static int wslot_start(struct blob_backend_batch *b, struct rados_wslot *w, const chunk_id *id, size_t len)
{
	char stamp[RADOS_STAMP_LEN + 1];
	char oid[33];
	int rc;

	w->id = *id;
	w->len = len;
	if ((w->op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	if ((rc = rados_aio_create_completion2(NULL, NULL, &w->c)) < 0) {
		rados_release_write_op(w->op);
		return blob_rados_errno(rc);
	}
	blob_rados_stamp_fmt(stamp, (int64_t)time(NULL));
	atomic_fetch_add(&b->rb->n.creates, 1);
	rados_write_op_create(w->op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	rados_write_op_write_full(w->op, (const char *)w->buf, len);
	rados_write_op_setxattr(w->op, RADOS_STAMP_XATTR, stamp, RADOS_STAMP_LEN);
	if (w->has_dig)
		rados_write_op_setxattr(w->op, RADOS_DIG_XATTR, (const char *)w->dig, BLOB_DIG_LEN(len));
	chunk_id_fmt(oid, id);
	if ((rc = rados_aio_write_op_operate(w->op, b->rb->io, w->c, oid, NULL, LIBRADOS_OPERATION_NOFLAG)) < 0) {
		rados_aio_release(w->c);
		rados_release_write_op(w->op);
		return blob_rados_errno(rc);
	}
	w->busy = true;
	b->next = (b->next + 1) % RADOS_BATCH_INFLIGHT;
	return 1;
}

/* The write keeps the caller's chunk buffer (for a retry) and gives back
 * the slot's, free now: no copy. */
int blob_rados_batch_add_buf(struct blob_backend_batch *b, const chunk_id *id, uint8_t **buf, size_t len,
                             const uint8_t *dig)
{
	struct rados_wslot *w;
	uint8_t *spare;
	int rc;

	if (dig != NULL && len > BLOB_CHUNK_SIZE)
		return -EINVAL;
	if ((w = wslot_next(b, len, &rc)) == NULL)
		return rc;
	w->has_dig = dig != NULL;
	if (dig != NULL)
		memcpy(w->dig, dig, BLOB_DIG_LEN(len));
	if ((spare = w->buf) == NULL && (spare = blob_chunk_buf_new()) == NULL)
		return -ENOMEM;
	w->buf = *buf;
	*buf = spare;
	atomic_fetch_add(&b->rb->n.creates_handed, 1);
	return wslot_start(b, w, id, len);
}

int blob_rados_batch_commit(struct blob_backend_batch *b)
{
	int placed;

	for (unsigned i = 0; i < RADOS_BATCH_INFLIGHT; i++)
		wslot_finish(b, &b->w[(b->next + i) % RADOS_BATCH_INFLIGHT]);
	if (b->err < 0)
		return b->err;
	placed = b->placed;
	b->placed = 0;
	return placed;
}

/* The answer a test asked for instead of the existence check's next
 * operation (blob_rados_test_fail_has), or 0: one atomic load when none. */
static int has_fault(struct rados_backend *rb)
{
	unsigned mask = atomic_load(&rb->test_has_mask);

	while (mask != 0 && !atomic_compare_exchange_weak(&rb->test_has_mask, &mask, mask >> 1))
		;
	return (mask & 1) != 0 ? atomic_load(&rb->test_has_err) : 0;
}

void blob_rados_test_fail_has(struct blob_backend *be, uint32_t mask, int err)
{
	atomic_store(&rb_of(be)->test_has_err, err);
	atomic_store(&rb_of(be)->test_has_mask, mask);
}

/* Up to BLOB_BATCH_MAX existence checks (with the refresh of found chunks
 * whose timestamp is old) in flight at once.  found[k] = 1 or 0. */
int blob_rados_batch_has_many(struct blob_backend_batch *b, const chunk_id *ids, size_t n, uint8_t *found)
{
	struct rados_backend *rb = b->rb;
	rados_completion_t c[BLOB_BATCH_MAX];
	rados_read_op_t rop[BLOB_BATCH_MAX];
	rados_write_op_t wop[BLOB_BATCH_MAX];
	int res[BLOB_BATCH_MAX];
	char stamp[RADOS_STAMP_LEN + 1], now[RADOS_STAMP_LEN + 1], oid[33];
	size_t started = 0;
	int rc = 0;

	if (n > BLOB_BATCH_MAX)
		return -E2BIG;
	atomic_fetch_add(&rb->n.has_rounds, 1);
	atomic_fetch_add(&rb->n.has_objects, n);
	blob_rados_stamp_fmt(stamp, (int64_t)time(NULL) - RADOS_FRESH);
	blob_rados_stamp_fmt(now, (int64_t)time(NULL));
	/* 1. Is it there, with a fresh timestamp?  All in flight. */
	for (; started < n; started++) {
		if ((res[started] = has_fault(rb)) != 0) { /* a test's: answered, not sent */
			c[started] = NULL;
			continue;
		}
		if ((rop[started] = rados_create_read_op()) == NULL) {
			rc = -ENOMEM;
			break;
		}
		if ((rc = rados_aio_create_completion2(NULL, NULL, &c[started])) < 0) {
			rados_release_read_op(rop[started]);
			break;
		}
		rados_read_op_cmpxattr(rop[started], RADOS_STAMP_XATTR, LIBRADOS_CMPXATTR_OP_LTE, stamp, RADOS_STAMP_LEN);
		chunk_id_fmt(oid, &ids[started]);
		if ((rc = rados_aio_read_op_operate(rop[started], rb->io, c[started], oid, LIBRADOS_OPERATION_NOFLAG)) <
		    0) {
			rados_aio_release(c[started]);
			rados_release_read_op(rop[started]);
			break;
		}
	}
	for (size_t k = 0; k < started; k++) {
		if (c[k] == NULL)
			continue;
		rados_aio_wait_for_complete(c[k]);
		res[k] = rados_aio_get_return_value(c[k]);
		rados_aio_release(c[k]);
		rados_release_read_op(rop[k]);
	}
	if (rc < 0)
		return blob_rados_errno(rc);
	/* 2. Found but old: refresh, all in flight. */
	size_t nw = 0;
	size_t wk[BLOB_BATCH_MAX];
	int wf[BLOB_BATCH_MAX]; /* a test's answer in place of refresh j's (0: sent) */
	for (size_t k = 0; k < n; k++) {
		found[k] = res[k] >= 0;
		if (res[k] != -ECANCELED)
			continue;
		if ((wf[nw] = has_fault(rb)) != 0) { /* a test's: answered, not sent */
			wop[nw] = NULL;
			wk[nw++] = k;
			continue;
		}
		if ((wop[nw] = rados_create_write_op()) == NULL)
			break;
		if (rados_aio_create_completion2(NULL, NULL, &c[nw]) < 0) {
			rados_release_write_op(wop[nw]);
			break;
		}
		atomic_fetch_add(&rb->n.refreshes, 1);
		rados_write_op_assert_exists(wop[nw]);
		rados_write_op_setxattr(wop[nw], RADOS_STAMP_XATTR, now, RADOS_STAMP_LEN);
		chunk_id_fmt(oid, &ids[k]);
		if (rados_aio_write_op_operate(wop[nw], rb->io, c[nw], oid, NULL, LIBRADOS_OPERATION_NOFLAG) < 0) {
			rados_aio_release(c[nw]);
			rados_release_write_op(wop[nw]);
			break;
		}
		wk[nw++] = k;
	}
	for (size_t j = 0; j < nw; j++) {
		int r = wf[j];
		if (wop[j] != NULL) {
			rados_aio_wait_for_complete(c[j]);
			r = rados_aio_get_return_value(c[j]);
			rados_aio_release(c[j]);
			rados_release_write_op(wop[j]);
		}
		res[wk[j]] = r == 0 ? 0 : r;
	}
	/* 3. What is still undecided (timed out, not started, refresh not
	 * sent or timed out) one by one, with the retries. */
	for (size_t k = 0; k < n && rc == 0; k++) {
		if (res[k] == 0 || res[k] == 1 || res[k] == -ENOENT) {
			found[k] = res[k] >= 0;
			continue;
		}
		if (res[k] != -ECANCELED && res[k] != -ETIMEDOUT) {
			rc = blob_rados_errno(res[k]);
			break;
		}
		chunk_id_fmt(oid, &ids[k]);
		if (res[k] == -ETIMEDOUT) { /* its first try */
			atomic_fetch_add(&rb->n.timeouts, 1);
			blob_log_line(rb->log,
			              "rados %s: object %s: a timestamp check timed out after %u s (try 1 of %d); waiting "
			              "for the latest OSD map",
			              rb->where, oid, rb->op_timeout, RADOS_ATTEMPTS);
			if (blob_rados_map(rb, rb->cluster, true) < 0) {
				blob_log_line(rb->log, "rados %s: object %s: a timestamp check: the monitor did not give the "
				              "latest OSD map within %u s: giving up: EIO", rb->where, oid,
				              blob_rados_map_secs(rb, rb->cluster));
				rc = -EIO;
				break;
			}
		}
		if ((rc = blob_rados_refresh(rb, oid, res[k] == -ETIMEDOUT ? 2 : 1)) >= 0) {
			found[k] = rc > 0;
			rc = 0;
		}
	}
	return rc;
}

void blob_rados_batch_free(struct blob_backend_batch *b)
{
	if (b == NULL)
		return;
	/* Writes in flight land or not; nobody names them (gc's). */
	for (unsigned i = 0; i < RADOS_BATCH_INFLIGHT; i++) {
		struct rados_wslot *w = &b->w[i];
		if (w->busy) {
			rados_aio_wait_for_complete(w->c);
			rados_aio_release(w->c);
			rados_release_write_op(w->op);
		}
		free(w->buf);
	}
	free(b);
}

#else

void blob_rados_test_fail_has(struct blob_backend *be, uint32_t mask, int err)
{
	(void)be;
	(void)mask;
	(void)err;
}

#endif

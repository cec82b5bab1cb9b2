/*
 * backend/rados_chunks.c — a cluster disk's chunk objects: the reads and
 * writes of the disks sub-table (blob_backend.h), waiting or started, a
 * patched chunk's blocks and their marks.  rados_disk.c has the objects'
 * layout, fencing, the header and its records; both share rados_int.h's
 * struct blob_backend_disk.
 *
 * Started operations (read_start, write_start) are answered from
 * librados's completion, on its finisher thread: each takes one of the
 * store's RADOS_STARTED_MAX places and counts on d->started, which a
 * disk's close drains before its client goes (rados_disk.c).
 *
 * Only built with librados.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rados_int.h"

#ifdef IMGFS_HAVE_RADOS

#define BLOCK_KEY_LEN 2 /* a patched chunk's block: 2 hex digits */

/* rados_int.h: a client blocklisted by another opener is fenced for good.
 * Here, below rados_disk.c, which calls it too: the two files call each
 * other in one direction only. */
int blob_rados_disk_rc(struct blob_backend_disk *d, int rc, const char *what)
{
	if (rc >= 0)
		return rc;
	if (rc == -ESHUTDOWN && !atomic_exchange(&d->fenced, true) && !d->reader)
		blob_log_line(d->rb->log,
		              "cluster disk %s (rados %s): %s refused: this host's client of it was fenced (another host "
		              "opened the disk: its instance moved there); nothing more of this host lands in it: EIO",
		              d->name, d->rb->where, what);
	else if (rc != -ENOENT && rc != -ESHUTDOWN)
		blob_log_line(d->rb->log, "cluster disk %s (rados %s): %s failed: %s", d->name, d->rb->where, what,
		              strerror(-rc));
	/* An OSD that did not answer (stopped, or back at a new address):
	 * the disk's own client learns the latest OSD map now, or its next
	 * operation would go to the old address and time out too — the disk
	 * would never work again without a remount (SPEC §13, issue 49). */
	if (rc == -ETIMEDOUT) /* asked, not waited for: the caller's EIO is now */
		blob_rados_map(d->rb, d->cluster, false);
	return blob_rados_errno(rc);
}

/* A write operation for chunk i's object (its name into oid): 0, or why
 * not (a refused disk, no memory). */
static int chunk_op(struct blob_backend_disk *d, uint32_t i, rados_write_op_t *op, char oid[RADOS_OID_MAX])
{
	int rc;

	if ((rc = rados_disk_refused(d)) < 0)
		return rc;
	if ((*op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	rados_chunk_oid(oid, d->name, i);
	return 0;
}

/* op run on oid and released: librados's answer. */
static int chunk_op_run(struct blob_backend_disk *d, rados_write_op_t op, const char *oid)
{
	int rc = rados_write_op_operate(op, d->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);

	rados_release_write_op(op);
	return rc;
}

int blob_rados_chunk_write(struct blob_backend_disk *d, uint32_t i, uint64_t off, const void *buf, size_t len,
                           bool fresh)
{
	rados_write_op_t op;
	char oid[RADOS_OID_MAX];
	int rc;

	if ((rc = chunk_op(d, i, &op, oid)) < 0)
		return rc;
	if (fresh && off == 0) {
		rados_write_op_write_full(op, buf, len);
	} else {
		if (fresh)
			rados_write_op_truncate(op, 0);
		rados_write_op_write(op, buf, len, off);
	}
	atomic_fetch_add(&d->rb->n.disk_writes, 1);
	return blob_rados_disk_rc(d, chunk_op_run(d, op, oid), "a write");
}

/* What a read of chunk i's object that brought rc bytes (or -errno) of
 * len into buf returns: the rest zeros. */
static int read_rc(struct blob_backend_disk *d, uint32_t i, int rc, void *buf, size_t len)
{
	/* A record names the object (its bytes land before it): gone, the
	 * disk lost them — ENOENT, never zeros (the caller says EIO). */
	if (rc == -ENOENT)
		blob_log_line(d->rb->log, "cluster disk %s (rados %s): the object of chunk %u is missing", d->name,
		              d->rb->where, i);
	if (rc < 0)
		return blob_rados_disk_rc(d, rc, "a read");
	memset((uint8_t *)buf + rc, 0, len - (size_t)rc);
	return 0;
}

int blob_rados_chunk_read(struct blob_backend_disk *d, uint32_t i, uint64_t off, void *buf, size_t len)
{
	char oid[RADOS_OID_MAX];
	int rc;

	if (atomic_load(&d->fenced))
		return -EIO;
	rados_chunk_oid(oid, d->name, i);
	RADOS_READS_IN_FLIGHT(d->rb, 1);
	if ((rc = blob_rados_test_fault(d->rb)) == 0)
		rc = rados_read(d->io, oid, buf, len, off);
	RADOS_READS_IN_FLIGHT(d->rb, -1);
	return read_rc(d, i, rc, buf, len);
}

/* ---- started operations: answered from librados's thread ---------------- */

/* One read_start or write_start: freed once answered. */
struct started {
	struct blob_backend_disk *d;
	rados_completion_t c;
	void (*done)(void *arg, int rc);
	void *arg;
	void *buf; /* a read's: where, how much, which chunk */
	size_t len;
	uint32_t i;
};

/* A place for one more (RADOS_STARTED_MAX) and its record, whose
 * completion calls cb: NULL with *rc -EAGAIN (no place: the caller waits
 * its own way) or -ENOMEM. */
static struct started *started_new(struct blob_backend_disk *d, rados_callback_t cb,
                                   void (*done)(void *arg, int rc), void *arg, int *rc)
{
	struct started *r;

	*rc = -EAGAIN;
	if (!blob_rados_start_room(d->rb))
		return NULL;
	*rc = -ENOMEM;
	if ((r = malloc(sizeof *r)) == NULL) {
		atomic_fetch_sub(&d->rb->n.started_now, 1);
		return NULL;
	}
	*r = (struct started){.d = d, .done = done, .arg = arg};
	if (rados_aio_create_completion2(r, cb, &r->c) < 0) {
		atomic_fetch_sub(&d->rb->n.started_now, 1);
		free(r);
		return NULL;
	}
	atomic_fetch_add(&d->started, 1);
	return r;
}

/* One librados did not take (rc): its place and count given back. */
static int started_undo(struct started *r, int rc)
{
	struct blob_backend_disk *d = r->d;

	rados_aio_release(r->c);
	free(r);
	atomic_fetch_sub(&d->rb->n.started_now, 1);
	atomic_fetch_sub(&d->started, 1);
	return blob_rados_errno(rc);
}

/* What librados answered r, in its completion (a test may hold it here). */
static int started_rc(struct started *r)
{
	int rc = rados_aio_get_return_value(r->c);

	blob_rados_test_started_held(r->d->rb);
	rados_aio_release(r->c);
	return rc;
}

/* r answered rc: its place given back, its caller told, and d let go —
 * last, since the disk's client may go once nothing is started. */
static void started_end(struct started *r, int rc)
{
	struct blob_backend_disk *d = r->d;

	atomic_fetch_sub(&d->rb->n.started_now, 1);
	r->done(r->arg, rc);
	free(r);
	atomic_fetch_sub(&d->started, 1);
}

static void aread_done(rados_completion_t c, void *p)
{
	struct started *r = p;
	int rc = started_rc(r);

	(void)c;
	RADOS_READS_IN_FLIGHT(r->d->rb, -1);
	started_end(r, read_rc(r->d, r->i, rc, r->buf, r->len));
}

int blob_rados_chunk_read_start(struct blob_backend_disk *d, uint32_t i, uint64_t off, void *buf, size_t len,
                                void (*done)(void *arg, int rc), void *arg)
{
	char oid[RADOS_OID_MAX];
	struct started *r;
	int rc;

	if (atomic_load(&d->fenced))
		return -EIO;
	if ((rc = blob_rados_test_fault(d->rb)) < 0) { /* a test's fault: answered here, as the cluster would */
		done(arg, read_rc(d, i, rc, buf, len));
		return 0;
	}
	if ((r = started_new(d, aread_done, done, arg, &rc)) == NULL)
		return rc;
	r->buf = buf;
	r->len = len;
	r->i = i;
	rados_chunk_oid(oid, d->name, i);
	RADOS_READS_IN_FLIGHT(d->rb, 1);
	atomic_fetch_add(&d->rb->n.disk_reads_started, 1);
	if ((rc = rados_aio_read(d->io, oid, r->c, buf, len, off)) < 0) {
		RADOS_READS_IN_FLIGHT(d->rb, -1);
		return started_undo(r, rc);
	}
	return 0;
}

int blob_rados_chunk_zero(struct blob_backend_disk *d, uint32_t i, uint64_t off, size_t len)
{
	rados_write_op_t op;
	char oid[RADOS_OID_MAX];
	int rc;

	if ((rc = chunk_op(d, i, &op, oid)) < 0)
		return rc;
	rados_write_op_assert_exists(op); /* no object: zeros already */
	rados_write_op_zero(op, off, len);
	rc = chunk_op_run(d, op, oid);
	return rc == -ENOENT ? 0 : blob_rados_disk_rc(d, rc, "a zeroing");
}

int blob_rados_chunk_drop(struct blob_backend_disk *d, uint32_t i)
{
	char oid[RADOS_OID_MAX];
	int rc;

	if ((rc = rados_disk_refused(d)) < 0)
		return rc;
	rados_chunk_oid(oid, d->name, i);
	rc = rados_remove(d->io, oid);
	return rc == -ENOENT ? 0 : blob_rados_disk_rc(d, rc, "a removal");
}

/* ---- patched chunks ----------------------------------------------------------- */

static void block_key(char out[BLOCK_KEY_LEN + 1], uint32_t b)
{
	static const char hex[] = "0123456789abcdef";

	out[0] = hex[(b >> 4) & 15];
	out[1] = hex[b & 15];
	out[2] = '\0';
}

/* Blocks [b0, b0 + nb) of a patched chunk's object into op: their bytes
 * and one key each (fresh: the object's old bytes and keys removed first,
 * in the same operation). */
static void patch_fill(rados_write_op_t op, uint32_t b0, uint32_t nb, const void *buf, bool fresh)
{
	char keys[WB_BLOCKS][BLOCK_KEY_LEN + 1];
	const char *kp[WB_BLOCKS], *vp[WB_BLOCKS];
	size_t lens[WB_BLOCKS];

	if (fresh) { /* whatever an earlier life of the object left: gone */
		rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
		rados_write_op_truncate(op, 0);
		rados_write_op_omap_clear(op);
	}
	rados_write_op_write(op, buf, (size_t)nb << WB_BLOCK_SHIFT, (uint64_t)b0 << WB_BLOCK_SHIFT);
	for (uint32_t k = 0; k < nb; k++) {
		block_key(keys[k], b0 + k);
		kp[k] = keys[k];
		vp[k] = "";
		lens[k] = 0;
	}
	rados_write_op_omap_set(op, kp, vp, lens, nb); /* copied: the arrays may go */
}

int blob_rados_chunk_patch(struct blob_backend_disk *d, uint32_t i, uint32_t b0, uint32_t nb, const void *buf,
                           bool fresh)
{
	char oid[RADOS_OID_MAX];
	rados_write_op_t op;
	int rc;

	if (nb == 0 || b0 >= WB_BLOCKS || nb > WB_BLOCKS - b0)
		return -EINVAL;
	if ((rc = rados_disk_refused(d)) < 0 || (rc = atomic_load(&d->rb->test_patch_err)) < 0 ||
	    (rc = chunk_op(d, i, &op, oid)) < 0)
		return rc;
	patch_fill(op, b0, nb, buf, fresh);
	atomic_fetch_add(&d->rb->n.disk_writes, 1);
	atomic_fetch_add(&d->rb->n.disk_keys, nb);
	return blob_rados_disk_rc(d, chunk_op_run(d, op, oid), "a write");
}

static void awrite_done(rados_completion_t c, void *p)
{
	struct started *r = p;
	int rc = blob_rados_disk_rc(r->d, started_rc(r), "a write");

	(void)c;
	started_end(r, rc < 0 ? rc : 0);
}

int blob_rados_chunk_write_start(struct blob_backend_disk *d, uint32_t i, uint64_t off, const void *buf,
                                 size_t len, bool patch, void (*done)(void *arg, int rc), void *arg)
{
	struct started *r;
	rados_write_op_t op;
	char oid[RADOS_OID_MAX];
	int rc;

	if (len == 0 || off > BLOB_CHUNK_SIZE || len > BLOB_CHUNK_SIZE - off ||
	    (patch && ((off | len) & (WB_BLOCK_SIZE - 1)) != 0))
		return -EINVAL;
	if ((rc = rados_disk_refused(d)) < 0)
		return rc;
	if (atomic_load(&d->rb->test_patch_err) != 0) /* a test's fault: the waiting write's to take */
		return -EAGAIN;
	if ((r = started_new(d, awrite_done, done, arg, &rc)) == NULL)
		return rc;
	if ((op = rados_create_write_op()) == NULL)
		return started_undo(r, -ENOMEM);
	rados_chunk_oid(oid, d->name, i);
	if (patch) {
		patch_fill(op, (uint32_t)(off >> WB_BLOCK_SHIFT), (uint32_t)(len >> WB_BLOCK_SHIFT), buf, false);
		atomic_fetch_add(&d->rb->n.disk_keys, len >> WB_BLOCK_SHIFT);
	} else {
		rados_write_op_write(op, buf, len, off); /* copied: buf may go once this returns */
	}
	rc = rados_aio_write_op_operate(op, d->io, r->c, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op); /* its operations were taken by the started one */
	if (rc < 0)
		return started_undo(r, rc);
	atomic_fetch_add(&d->rb->n.disk_writes, 1);
	atomic_fetch_add(&d->rb->n.disk_writes_started, 1);
	return 0;
}

/* One object's keys read by marks_many into bits. */
static int marks_parse(rados_omap_iter_t it, unsigned char more, uint8_t bits[WB_BLOCKS / 8])
{
	char *key, *val, buf[BLOCK_KEY_LEN + 1], *end;
	size_t klen, vlen;
	int rc;

	if (more)
		return -EIO; /* more keys than blocks: not ours */
	for (;;) {
		key = val = NULL;
		if ((rc = rados_omap_get_next2(it, &key, &val, &klen, &vlen)) < 0)
			return rc;
		if (key == NULL)
			return 0;
		if (klen != BLOCK_KEY_LEN)
			return -EIO;
		memcpy(buf, key, BLOCK_KEY_LEN);
		buf[BLOCK_KEY_LEN] = '\0';
		unsigned long b = strtoul(buf, &end, 16);
		if (*end != '\0' || b >= WB_BLOCKS)
			return -EIO;
		bits[b / 8] |= (uint8_t)(1u << (b % 8));
	}
}

#define MARKS_AT_ONCE 64

int blob_rados_chunk_marks(struct blob_backend_disk *d, const uint32_t *idx, size_t n,
                      int (*cb)(void *arg, uint32_t i, const uint8_t *bits), void *arg)
{
	rados_read_op_t op[MARKS_AT_ONCE];
	rados_completion_t c[MARKS_AT_ONCE];
	rados_omap_iter_t it[MARKS_AT_ONCE];
	unsigned char more[MARKS_AT_ONCE];
	int prval[MARKS_AT_ONCE];
	int rc = 0;

	if (atomic_load(&d->fenced))
		return -EIO;
	for (size_t at = 0; at < n && rc == 0; at += MARKS_AT_ONCE) {
		size_t m = n - at < MARKS_AT_ONCE ? n - at : MARKS_AT_ONCE, started = 0;

		for (; started < m; started++) {
			char oid[RADOS_OID_MAX];
			it[started] = NULL;
			more[started] = 0;
			prval[started] = 0;
			if ((op[started] = rados_create_read_op()) == NULL) {
				rc = -ENOMEM;
				break;
			}
			if ((rc = rados_aio_create_completion2(NULL, NULL, &c[started])) < 0) {
				rados_release_read_op(op[started]);
				break;
			}
			rados_chunk_oid(oid, d->name, idx[at + started]);
			rados_read_op_omap_get_keys2(op[started], "", WB_BLOCKS, &it[started], &more[started], &prval[started]);
			atomic_fetch_add(&d->rb->n.disk_marks, 1);
			if ((rc = rados_aio_read_op_operate(op[started], d->io, c[started], oid, LIBRADOS_OPERATION_NOFLAG)) < 0) {
				rados_aio_release(c[started]);
				rados_release_read_op(op[started]);
				break;
			}
		}
		for (size_t k = 0; k < started; k++) {
			uint8_t bits[WB_BLOCKS / 8] = {0};
			int r;

			rados_aio_wait_for_complete(c[k]);
			r = rados_aio_get_return_value(c[k]);
			if (r == 0)
				r = prval[k];
			if (r == 0)
				r = marks_parse(it[k], more[k], bits);
			if (r == -ENOENT) /* the caller says EIO (a capture's open: lost bytes) */
				blob_log_line(d->rb->log, "cluster disk %s (rados %s): the object of patched chunk %u is missing",
				              d->name, d->rb->where, idx[at + k]);
			if (r == 0 && rc == 0)
				r = cb(arg, idx[at + k], bits);
			if (rc == 0 && r < 0)
				rc = r;
			if (it[k] != NULL)
				rados_omap_get_end(it[k]);
			rados_aio_release(c[k]);
			rados_release_read_op(op[k]);
		}
	}
	return rc < 0 ? blob_rados_disk_rc(d, rc, "a read of a chunk's written blocks") : 0;
}

#endif /* IMGFS_HAVE_RADOS */

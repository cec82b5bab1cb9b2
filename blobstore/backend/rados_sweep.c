/*
 * backend/rados_sweep.c — cluster disks' chunk objects that no record
 * names, found and removed by gc (the disks sub-table's sweep,
 * blob_backend.h; SPEC §13 "what is removed when", §12's bound), and the
 * reading of a disk's records, which rados_disk.c's opens and removals
 * call too (here, so that the two files do not call each other).
 *
 * Who leaves them: a writer killed between a first write's object and
 * its record (the chunk shows what it did before; the object is a
 * leftover), a shrink killed between its header and its drops, a
 * removal of a disk too large to sweep (WB_CL_SWEEP_MAX) or killed
 * between its objects and its header.  Nothing a tenant does without a
 * crash, but nothing removed them: they took pool space for ever.
 *
 * How, in three passes over one client of its own (its own I/O context,
 * so the version an operation read is this sweep's: the store's is
 * shared by every thread):
 *   1. The pool's listing: every "wb.NAME.IIIIIIII" object is a
 *      candidate, kept as (NAME, I) — the pool's listing bounds it, as
 *      it bounds chunk gc (an operator's or the background gc's work,
 *      never a request's).
 *   2. Per disk (sorted by name, then index), its records read once from
 *      its header "wb.NAME": a record whose state shows its object's
 *      bytes (names()) marks that candidate.  No header: no record (a
 *      removed disk's, or a removal that stopped before its header).
 *      A read that fails with no answer (a timeout) stops the sweep
 *      before anything is removed: "could not tell"; a disk whose
 *      records are damaged keeps its objects and is said.
 *   3. Each candidate no record names: one read operation (its size, its
 *      mtime, its attributes), then, if it last changed before
 *      not_after (gc's grace: a first write in flight puts its object
 *      before its record lands), one write operation that removes it
 *      only if its version is still the one read (assert_version): a
 *      writer that wrote it meanwhile (a first write starting it
 *      afresh) keeps it.  An object with the imgfs.writer attribute is
 *      a header (a disk named "X.0000000a" has the name chunk 10 of
 *      disk X would have): never removed here.
 * What it cannot see: a writer paused longer than the grace between a
 * first write's object and its record — gc's grace is for that, as for
 * chunks (rados.c's header).
 *
 * Only built with librados.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rados_int.h"

#ifdef IMGFS_HAVE_RADOS

#define SW_PREFIX "wb."
#define SW_IDX_LEN 8 /* ".IIIIIIII": 8 hex digits */
#define SW_NAME_MAX 64
#define SW_OID_MAX (3 + SW_NAME_MAX + 1 + SW_IDX_LEN + 1)
#define SW_WRITER_XATTR "imgfs.writer" /* a header's (rados_disk.c) */
#define SW_PAGE 512                     /* records read per round trip */

/* ---- a disk's records (rados_disk.c's opens and removals read them too) ---- */

static int key_index(const char *key, size_t len, uint32_t *i)
{
	char buf[RADOS_REC_KEY_LEN + 1], *end;

	if (len != RADOS_REC_KEY_LEN)
		return -EIO;
	memcpy(buf, key, RADOS_REC_KEY_LEN);
	buf[RADOS_REC_KEY_LEN] = '\0';
	unsigned long v = strtoul(buf, &end, 16);
	if (*end != '\0')
		return -EIO;
	*i = (uint32_t)v;
	return 0;
}

int blob_rados_omap_each(rados_ioctx_t io, const char *oid,
                         int (*kv)(void *arg, const char *key, size_t klen, const char *val, size_t vlen), void *arg)
{
	char after[RADOS_OMAP_KEY_MAX + 1] = "";
	unsigned char more = 1;
	int rc = 0;

	while (rc == 0 && more) {
		rados_read_op_t op = rados_create_read_op();
		rados_omap_iter_t it = NULL;
		int prval = 0;

		if (op == NULL)
			return -ENOMEM;
		rados_read_op_omap_get_vals2(op, after, NULL, SW_PAGE, &it, &more, &prval);
		rc = rados_read_op_operate(op, io, oid, LIBRADOS_OPERATION_NOFLAG);
		if (rc == 0)
			rc = prval;
		while (rc == 0 && it != NULL) {
			char *key = NULL, *val = NULL;
			size_t klen = 0, vlen = 0;

			if ((rc = rados_omap_get_next2(it, &key, &val, &klen, &vlen)) < 0 || key == NULL)
				break;
			if (klen == 0 || klen > RADOS_OMAP_KEY_MAX) { /* not one of ours: the next page could not follow it */
				rc = -EIO;
				break;
			}
			memcpy(after, key, klen);
			after[klen] = '\0';
			rc = kv(arg, key, klen, val, vlen);
		}
		if (it != NULL)
			rados_omap_get_end(it);
		rados_release_read_op(op);
	}
	return rc;
}

struct recs_each {
	int (*rec)(void *arg, uint32_t i, const uint8_t *val, size_t n);
	void *arg;
};

static int rec_kv(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct recs_each *e = arg;
	uint32_t i;
	int rc;

	if ((rc = key_index(key, klen, &i)) < 0)
		return rc;
	return e->rec(e->arg, i, (const uint8_t *)val, vlen);
}

/* Every record of header oid, in key order, to rec. */
int blob_rados_read_recs(rados_ioctx_t io, const char *oid,
                         int (*rec)(void *arg, uint32_t i, const uint8_t *val, size_t n), void *arg)
{
	return blob_rados_omap_each(io, oid, rec_kv, &(struct recs_each){rec, arg});
}

/* ---- the sweep ---------------------------------------------------------------- */

struct sw_obj {
	size_t at; /* its disk's name in the arena */
	const char *name;
	uint32_t i;
	bool named;
	uint64_t size; /* pass 3 */
};

struct sweep {
	struct rados_backend *rb;
	rados_ioctx_t io;
	char *arena;
	size_t alen, acap;
	struct sw_obj *o;
	size_t n, cap;
	size_t k, end; /* pass 2: the disk's candidates, the next one a record may name */
	bool (*names)(const uint8_t *val, size_t n);
};

/* "wb.NAME.IIIIIIII" (lower-case hex, as rados_disk.c names them): the
 * name's length and the index, or false. */
static bool chunk_name(const char *oid, size_t *nlen, uint32_t *i)
{
	size_t len = strlen(oid), p = strlen(SW_PREFIX);
	char *end;

	if (len < p + 1 + 1 + SW_IDX_LEN || len - p - 1 - SW_IDX_LEN > SW_NAME_MAX ||
	    strncmp(oid, SW_PREFIX, p) != 0 || oid[len - SW_IDX_LEN - 1] != '.')
		return false;
	for (size_t k = len - SW_IDX_LEN; k < len; k++)
		if (!((oid[k] >= '0' && oid[k] <= '9') || (oid[k] >= 'a' && oid[k] <= 'f')))
			return false;
	*i = (uint32_t)strtoul(oid + len - SW_IDX_LEN, &end, 16);
	*nlen = len - p - 1 - SW_IDX_LEN;
	return true;
}

static int add(void *arg, const char *oid)
{
	struct sweep *w = arg;
	size_t nlen;
	uint32_t i;

	if (!chunk_name(oid, &nlen, &i))
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 256;
		struct sw_obj *o = realloc(w->o, cap * sizeof *o);
		if (o == NULL)
			return -ENOMEM;
		w->o = o;
		w->cap = cap;
	}
	if (w->alen + nlen + 1 > w->acap) {
		size_t cap = w->acap ? 2 * w->acap : 4096;
		char *a;
		while (cap < w->alen + nlen + 1)
			cap *= 2;
		if ((a = realloc(w->arena, cap)) == NULL)
			return -ENOMEM;
		w->arena = a;
		w->acap = cap;
	}
	memcpy(w->arena + w->alen, oid + strlen(SW_PREFIX), nlen);
	w->arena[w->alen + nlen] = '\0';
	w->o[w->n++] = (struct sw_obj){.at = w->alen, .i = i};
	w->alen += nlen + 1;
	return 0;
}

static int by_disk(const void *a, const void *b)
{
	const struct sw_obj *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : (x->i > y->i) - (x->i < y->i);
}

/* Pass 1: the pool's listing. */
static int list_all(struct sweep *w, char *why, size_t cap)
{
	bool failed;
	int rc = blob_rados_each_name(w->io, add, w, &failed);

	if (failed)
		blob_rados_why(why, cap, "rados %s: listing the pool for disk objects failed: %s (could not tell which "
		               "are garbage: nothing removed)", w->rb->where, strerror(-rc));
	for (size_t k = 0; k < w->n; k++)
		w->o[k].name = w->arena + w->o[k].at;
	if (rc == 0 && w->n > 1)
		qsort(w->o, w->n, sizeof *w->o, by_disk);
	return rc;
}

/* Pass 2's callback: records come in index order, as the candidates. */
static int mark(void *arg, uint32_t i, const uint8_t *val, size_t n)
{
	struct sweep *w = arg;

	while (w->k < w->end && w->o[w->k].i < i)
		w->k++;
	if (w->k < w->end && w->o[w->k].i == i && w->names(val, n))
		w->o[w->k].named = true;
	return 0;
}

/* Pass 2: every disk's records, before anything is removed. */
static int mark_all(struct sweep *w, char *why, size_t cap, int *said)
{
	char oid[SW_OID_MAX];
	int rc;

	for (size_t k = 0, end; k < w->n; k = end) {
		for (end = k + 1; end < w->n && strcmp(w->o[end].name, w->o[k].name) == 0; end++)
			;
		snprintf(oid, sizeof oid, SW_PREFIX "%s", w->o[k].name);
		w->k = k;
		w->end = end;
		if ((rc = atomic_load(&w->rb->test_sweep_err)) == 0)
			rc = blob_rados_read_recs(w->io, oid, mark, w);
		if (rc == 0 || rc == -ENOENT) /* none: a removed disk's objects */
			continue;
		if (rc == -EIO) { /* damaged: its objects stay, said */
			blob_log_line(w->rb->log, "cluster disk %s (rados %s): its records do not read (damaged): its %zu "
			              "chunk objects stay", w->o[k].name, w->rb->where, end - k);
			for (size_t j = k; j < end; j++)
				w->o[j].named = true;
			*said = -EIO;
			continue;
		}
		blob_rados_why(why, cap, "cluster disk %s (rados %s): cannot read its records: %s (could not tell which "
		               "of its objects no record names: nothing removed)", w->o[k].name, w->rb->where,
		               strerror(-rc));
		return rc;
	}
	return 0;
}

/* Pass 3, one object: 1 removed (or, dry, would be), 0 kept, -errno. */
static int sweep_one(struct sweep *w, struct sw_obj *o, int64_t not_after, bool dry)
{
	char oid[SW_OID_MAX];
	rados_read_op_t rop;
	rados_write_op_t wop;
	rados_xattrs_iter_t it = NULL;
	uint64_t size = 0, ver;
	time_t mtime = 0;
	int rc, srv = 0, xrv = 0;
	bool header = false;

	snprintf(oid, sizeof oid, SW_PREFIX "%s.%08x", o->name, o->i);
	if ((rop = rados_create_read_op()) == NULL)
		return -ENOMEM;
	rados_read_op_stat(rop, &size, &mtime, &srv);
	rados_read_op_getxattrs(rop, &it, &xrv);
	if ((rc = atomic_load(&w->rb->test_sweep_err)) == 0)
		rc = rados_read_op_operate(rop, w->io, oid, LIBRADOS_OPERATION_NOFLAG);
	ver = rados_get_last_version(w->io);
	for (;;) {
		const char *name = NULL, *val = NULL;
		size_t len = 0;
		if (rc < 0 || it == NULL || rados_getxattrs_next(it, &name, &val, &len) < 0 || name == NULL)
			break;
		header |= strcmp(name, SW_WRITER_XATTR) == 0;
	}
	if (it != NULL)
		rados_getxattrs_end(it);
	rados_release_read_op(rop);
	if (rc == 0)
		rc = srv < 0 ? srv : xrv;
	if (rc == -ENOENT)
		return 0; /* gone meanwhile */
	if (rc < 0)
		return rc;
	if (header || (int64_t)mtime >= not_after)
		return 0; /* a header; changed inside the grace: a first write may still record it */
	o->size = size;
	if (dry)
		return 1;
	if (atomic_load(&w->rb->test_sweep_touch))
		(void)rados_write(w->io, oid, "", 1, size); /* a writer between the look and the removal */
	if ((wop = rados_create_write_op()) == NULL)
		return -ENOMEM;
	rados_write_op_assert_version(wop, ver);
	rados_write_op_remove(wop);
	rc = rados_write_op_operate(wop, w->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(wop);
	if (rc == -ERANGE || rc == -EOVERFLOW || rc == -ENOENT)
		return 0; /* written (or removed) since it was looked at */
	return rc < 0 ? rc : 1;
}

int blob_rados_disk_sweep(struct blob_backend *be, int64_t not_after, bool dry,
                          bool (*names)(const uint8_t *val, size_t n), uint64_t *count, uint64_t *bytes, char *why,
                          size_t cap)
{
	struct rados_backend *rb = rb_of(be);
	struct sweep w = {.rb = rb, .names = names};
	int rc, said = 0;

	*count = *bytes = 0;
	if ((rc = blob_rados_ioctx(rb->cluster, rb->spec.pool, rb->spec.ns, &w.io)) < 0) {
		blob_rados_why(why, cap, "rados %s: cannot open the pool to sweep disk objects: %s", rb->where,
		               strerror(-rc));
		return blob_rados_errno(rc);
	}
	if ((rc = list_all(&w, why, cap)) < 0 || (rc = mark_all(&w, why, cap, &said)) < 0)
		goto out;
	for (size_t k = 0; k < w.n; k++) {
		if (w.o[k].named)
			continue;
		if ((rc = sweep_one(&w, &w.o[k], not_after, dry)) < 0) {
			blob_rados_why(why, cap, "cluster disk %s (rados %s): cannot %s chunk %u's object: %s (could not "
			               "tell whether it is garbage: it stays, and the sweep stops)", w.o[k].name, rb->where,
			               dry ? "look at" : "remove", w.o[k].i, strerror(-rc));
			goto out;
		}
		if (rc == 1) {
			(*count)++;
			*bytes += w.o[k].size;
		}
	}
	rc = said;
	if (said < 0)
		blob_rados_why(why, cap, "rados %s: a disk's records do not read (damaged): its objects stay", rb->where);
out:
	rados_ioctx_destroy(w.io);
	free(w.o);
	free(w.arena);
	return rc < 0 ? blob_rados_errno(rc) : 0;
}

void blob_rados_test_sweep(struct blob_backend *be, int err, bool touch)
{
	atomic_store(&rb_of(be)->test_sweep_err, err);
	atomic_store(&rb_of(be)->test_sweep_touch, touch);
}

/* rados_disk.c's peek's fault, here beside the sweep's (both reads of a
 * disk's header without opening it). */
void blob_rados_test_fail_peek(struct blob_backend *be, int err)
{
	atomic_store(&rb_of(be)->test_peek_err, err);
}

int blob_rados_test_put_object(struct blob_backend *be, const char *oid)
{
	return rados_write_full(rb_of(be)->io, oid, "x", 1);
}

int blob_rados_test_object_exists(struct blob_backend *be, const char *oid)
{
	uint64_t size;
	time_t mtime;
	int rc = rados_stat(rb_of(be)->io, oid, &size, &mtime);

	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

/* blob_rados_test_fail_purge's: the next purge's removal number
 * purge_at (from 0) answered purge_err, not sent. */
static atomic_uint purge_at;
static atomic_int purge_err;

void blob_rados_test_fail_purge(unsigned at, int err)
{
	atomic_store(&purge_at, at);
	atomic_store(&purge_err, err);
}

struct names {
	char **v;
	size_t n, cap;
};

static int keep_name(void *arg, const char *oid)
{
	struct names *nm = arg;

	if (nm->n == nm->cap) {
		char **p = realloc(nm->v, (nm->cap ? 2 * nm->cap : 64) * sizeof *p);

		if (p == NULL)
			return -ENOMEM;
		nm->v = p;
		nm->cap = nm->cap ? 2 * nm->cap : 64;
	}
	if ((nm->v[nm->n] = strdup(oid)) == NULL)
		return -ENOMEM;
	nm->n++;
	return 0;
}

/* Every name first, then the removals: a listing is not asked to stay
 * consistent under removals of what it lists. */
static int purge_io(rados_ioctx_t io)
{
	struct names nm = {0};
	bool failed;
	int rc = blob_rados_each_name(io, keep_name, &nm, &failed);
	int err = atomic_exchange(&purge_err, 0);

	for (size_t i = 0; i < nm.n; i++) {
		int r = err != 0 && i == atomic_load(&purge_at) ? err : rados_remove(io, nm.v[i]);

		if (rc == 0 && r < 0 && r != -ENOENT) /* ENOENT: gone since the listing */
			rc = r;
		free(nm.v[i]);
	}
	free(nm.v);
	return rc < 0 ? rc : (int)nm.n;
}

/* A client of its own: no store is opened (a test may have left its
 * namespace one that no store opens: another owner, a cut header).  A
 * client found fenced (ESHUTDOWN) is made again: after test_killed_writer
 * fenced the client of a child it had forked, this process's next client
 * was found fenced too, the one after it not (the child's address drawn,
 * it seems, from a copy of this process's nonce generator). */
int blob_rados_test_purge(const char *conf, const char *pool, const char *ns)
{
	int rc = -ESHUTDOWN;

	for (int tries = 0; tries < 3 && rc == -ESHUTDOWN; tries++) {
		rados_t cl;
		rados_ioctx_t io;

		if ((rc = rados_create(&cl, NULL)) < 0)
			return rc;
		if ((rc = rados_conf_read_file(cl, conf)) == 0 && (rc = rados_connect(cl)) == 0 &&
		    (rc = blob_rados_ioctx(cl, pool, ns, &io)) == 0) {
			rc = purge_io(io);
			rados_ioctx_destroy(io);
		}
		blob_rados_shutdown(cl); /* (a map wait of its, blob_rados_ioctx's, may still be in librados) */
	}
	return rc;
}

int blob_rados_test_disk_drop_header(struct blob_backend *be, const char *name)
{
	char oid[SW_OID_MAX];

	snprintf(oid, sizeof oid, SW_PREFIX "%s", name);
	return rados_remove(rb_of(be)->io, oid);
}

#else

void blob_rados_test_sweep(struct blob_backend *be, int err, bool touch)
{
	(void)be;
	(void)err;
	(void)touch;
}

void blob_rados_test_fail_peek(struct blob_backend *be, int err)
{
	(void)be;
	(void)err;
}

int blob_rados_test_put_object(struct blob_backend *be, const char *oid)
{
	(void)be;
	(void)oid;
	return -ENOTSUP;
}

int blob_rados_test_object_exists(struct blob_backend *be, const char *oid)
{
	(void)be;
	(void)oid;
	return -ENOTSUP;
}

void blob_rados_test_fail_purge(unsigned at, int err)
{
	(void)at;
	(void)err;
}

int blob_rados_test_purge(const char *conf, const char *pool, const char *ns)
{
	(void)conf;
	(void)pool;
	(void)ns;
	return -ENOTSUP;
}

int blob_rados_test_disk_drop_header(struct blob_backend *be, const char *name)
{
	(void)be;
	(void)name;
	return -ENOTSUP;
}

#endif /* IMGFS_HAVE_RADOS */

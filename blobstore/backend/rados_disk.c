/*
 * backend/rados_disk.c — cluster disks in a RADOS pool: the backend's
 * disks sub-table (blob_backend.h, "Writable blobs kept in the cluster";
 * the wblob that uses it: wblob_cluster.c).
 *
 * Objects, in the region's pool (its namespace), beside the chunks (whose
 * names are 32 hex digits: listing and gc skip these):
 *   wb.NAME          the disk's header: its data the wblob map's header
 *                    (magic, size, base_limit, the base manifest); its
 *                    omap one record per chunk whose state is not 0 (key
 *                    8 hex digits of the index, value the wblob's bytes);
 *                    its xattr imgfs.writer the address of the client
 *                    writing it, "-" for none
 *   wb.NAME.IIIIIIII chunk I's overlay bytes (a chunk written in part);
 *                    for a patched chunk (WB_PATCHED) only the 4 KiB blocks
 *                    written, at their offsets, and its omap one key per
 *                    block written (2 hex digits, empty value), set in the
 *                    same operation as the block's bytes
 *   imgfs.disks      the pool's list of disks: an omap key per name
 * A record and the object it names change in separate operations, the
 * object first (wblob.c's order: bytes before the state that shows them),
 * except a whole chunk stored by id, whose record goes beside its put
 * (recs_start, many records in one operation; wblob_cluster.c "A record
 * beside its chunk").
 *
 * Fencing (SPEC §13).  Every open disk has a RADOS client of its own
 * (about a dozen threads and 30-100 ms to connect, measured on the test
 * cluster), so that fencing it fences that disk and nothing else of its
 * host.  Opening records the client on the header with a compare-and-set
 * of imgfs.writer; a writer found recorded that is not this client is
 * blocklisted first (blob_rados_blocklist, RADOS_FENCE_EXPIRE seconds) and
 * the opener waits for the OSD map that says so: from then on every
 * operation of that client fails (ESHUTDOWN), whatever it had in flight
 * landed before the new writer's first one (an OSD serves a client's op
 * only with a map at least as new as the client's), and the client learns
 * it at its next operation — EIO to its writers and one line in the log.
 * This is what RBD's exclusive lock does when it breaks a dead owner's
 * lock, and what Nova and Cinder on RBD rely on; a disk's header is the
 * lock.  A clean close sets the record back to "-" (if it is still this
 * client's), so the next open fences nobody.  The client's id needs the
 * monitor capability to blocklist (`allow command "osd blocklist"`, as
 * RBD's profiles grant); client.admin has it.
 *
 * This file opens, closes, fences and lists disks and keeps their headers
 * and records; rados_chunks.c reads and writes the chunks' objects (the
 * waiting ones and the started ones) and a patched chunk's marks.
 *
 * Who calls it: wblob_cluster.c through the table; rados.c holds the table.
 * Only built with librados.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imgfs_assert.h"
#include "rados_int.h"

#ifdef IMGFS_HAVE_RADOS

#define DISKS_OID "imgfs.disks"
#define WRITER_XATTR "imgfs.writer"
#define NO_WRITER "-"
#define FENCE_EXPIRE (7u * 86400) /* seconds a fenced client stays blocklisted */
#define KEY_LEN RADOS_REC_KEY_LEN

static void hdr_oid(char out[RADOS_OID_MAX], const char *name)
{
	snprintf(out, RADOS_OID_MAX, "wb.%s", name);
}

static void rec_key(char out[KEY_LEN + 1], uint32_t i)
{
	snprintf(out, KEY_LEN + 1, "%08x", i);
}

/* ---- the header and its records ------------------------------------------- */

/* The whole header object into *out (malloc'd), its length in *len. */
static int read_header(rados_ioctx_t io, const char *oid, uint8_t **out, size_t *len)
{
	uint64_t size;
	time_t mtime;
	uint8_t *buf;
	int rc;

	*out = NULL;
	for (int round = 0; round < 3; round++) {
		if ((rc = rados_stat(io, oid, &size, &mtime)) < 0)
			return rc;
		if (size > (64u << 20))
			return -EIO; /* no manifest is that long */
		if ((buf = malloc(size + 1)) == NULL)
			return -ENOMEM;
		if ((rc = rados_read(io, oid, (char *)buf, size + 1, 0)) < 0) {
			free(buf);
			return rc;
		}
		if ((uint64_t)rc == size) { /* not grown meanwhile */
			*out = buf;
			*len = size;
			return 0;
		}
		free(buf);
	}
	return -EIO;
}

/* The header and then every record (rec NULL: none) through client
 * cluster: a header read that timed out is tried again after the latest
 * OSD map; records are given to rec once, so a read of them that timed
 * out only brings the map for the next open. */
static int read_disk(struct rados_backend *rb, rados_t cluster, rados_ioctx_t io, const char *oid, uint8_t **hdr,
                     size_t *len, int (*rec)(void *arg, uint32_t i, const uint8_t *val, size_t n), void *arg)
{
	int rc, tries = 0;

	do
		if ((rc = blob_rados_test_fault(rb)) == 0)
			rc = read_header(io, oid, hdr, len);
	while (rc < 0 && blob_rados_again(rb, cluster, oid, "a read of its header", rc, &tries));
	if (rc == 0 && rec != NULL && (rc = blob_rados_read_recs(io, oid, rec, arg)) < 0) {
		tries = RADOS_ATTEMPTS;
		blob_rados_again(rb, cluster, oid, "a read of its records", rc, &tries);
		free(*hdr);
		*hdr = NULL;
	}
	return rc;
}

/* ---- the writer record and fencing ---------------------------------------- */

/* The writer recorded on header oid (NO_WRITER: none). */
static int writer_get(rados_ioctx_t io, const char *oid, char out[RADOS_ADDR_MAX])
{
	int rc = rados_getxattr(io, oid, WRITER_XATTR, out, RADOS_ADDR_MAX - 1);

	if (rc < 0)
		return rc == -ENODATA ? (snprintf(out, RADOS_ADDR_MAX, "%s", NO_WRITER), 0) : rc;
	out[rc] = '\0';
	return 0;
}

/* The record from `from` to `to`, only if it still says from:
 * -ECANCELED when it changed meanwhile. */
static int writer_cas(rados_ioctx_t io, const char *oid, const char *from, const char *to)
{
	rados_write_op_t op = rados_create_write_op();
	int rc;

	if (op == NULL)
		return -ENOMEM;
	rados_write_op_assert_exists(op);
	rados_write_op_cmpxattr(op, WRITER_XATTR, LIBRADOS_CMPXATTR_OP_EQ, from, strlen(from));
	rados_write_op_setxattr(op, WRITER_XATTR, to, strlen(to));
	rc = rados_write_op_operate(op, io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return rc;
}

/* Fences the writer recorded on the disk's header unless it is `self`,
 * through client `cluster`, and records `self` (NO_WRITER: clears it):
 * 1 fenced one, 0 none to fence. */
static int take_over(struct rados_backend *rb, rados_t cluster, rados_ioctx_t io, const char *name, const char *self,
                     char *why, size_t cap)
{
	char oid[RADOS_OID_MAX], was[RADOS_ADDR_MAX];
	int rc, fenced = 0, tries = 0;

	hdr_oid(oid, name);
	for (int round = 0; round < 8; round++) {
		if ((rc = blob_rados_test_fault(rb)) == 0)
			rc = writer_get(io, oid, was);
		if (rc < 0) {
			if (blob_rados_again(rb, cluster, oid, "a read of its writer", rc, &tries))
				continue;
			if (rc != -ENOENT)
				blob_rados_why(why, cap, "cluster disk %s: cannot read its writer: %s", name, strerror(-rc));
			return rc;
		}
		if (strcmp(was, NO_WRITER) != 0 && strcmp(was, self) != 0) {
			if ((rc = blob_rados_blocklist(cluster, was, FENCE_EXPIRE)) < 0) {
				blob_rados_why(why, cap, "cluster disk %s: cannot fence its last writer %s: %s", name, was,
				               strerror(-rc));
				blob_log_line(rb->log, "cluster disk %s (rados %s): cannot fence its last writer, client %s: %s",
				              name, rb->where, was, strerror(-rc));
				return rc;
			}
			/* Ops of this client go out with a map that blocklists it:
			 * without that map, the fence cannot be told (SPEC §13). */
			if ((rc = blob_rados_map(rb, cluster, true)) < 0) {
				blob_rados_why(why, cap, "cluster disk %s: cannot fence its last writer %s: the monitor did "
				               "not give the OSD map that says so within %u s", name, was,
				               blob_rados_map_secs(rb, cluster));
				blob_log_line(rb->log, "cluster disk %s (rados %s): cannot fence its last writer, client %s: "
				              "the monitor did not give the OSD map that says so within %u s", name, rb->where,
				              was, blob_rados_map_secs(rb, cluster));
				return -ETIMEDOUT;
			}
			blob_log_line(rb->log, "cluster disk %s (rados %s): fenced its last writer, client %s (blocklisted "
			              "for %u s): nothing more of it lands in the disk", name, rb->where, was, FENCE_EXPIRE);
			fenced = 1;
		}
		if (strcmp(was, self) == 0)
			return fenced;
		if ((rc = blob_rados_test_fault(rb)) == 0 && (rc = writer_cas(io, oid, was, self)) == 0)
			return fenced;
		/* (one that timed out may have landed: the record, read again, says) */
		if (rc != -ECANCELED && !blob_rados_again(rb, cluster, oid, "a record of its writer", rc, &tries)) {
			blob_rados_why(why, cap, "cluster disk %s: cannot record its writer: %s", name, strerror(-rc));
			return rc;
		}
		/* Another opener recorded itself meanwhile: fence that one too. */
	}
	blob_rados_why(why, cap, "cluster disk %s: its writer keeps changing (several hosts opening it)", name);
	return -EBUSY;
}

/* ---- the table ---------------------------------------------------------------- */

static int list_add(struct rados_backend *rb, const char *name)
{
	rados_write_op_t op = rados_create_write_op();
	char made[24];
	const char *keys[1] = {name}, *vals[1] = {made};
	size_t lens[1];
	int rc;

	lens[0] = (size_t)snprintf(made, sizeof made, "%lld", (long long)time(NULL));

	if (op == NULL)
		return -ENOMEM;
	rados_write_op_omap_set(op, keys, vals, lens, 1);
	rc = rados_write_op_operate(op, rb->io, DISKS_OID, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return rc;
}

static int list_del(struct rados_backend *rb, const char *name)
{
	rados_write_op_t op = rados_create_write_op();
	int rc;

	if (op == NULL)
		return -ENOMEM;
	/* [name, name + "\0"): exactly the key name. */
	size_t n = strlen(name);
	char end[80];
	memcpy(end, name, n);
	end[n] = '\0';
	rados_write_op_omap_rm_range2(op, name, n, end, n + 1);
	rc = rados_write_op_operate(op, rb->io, DISKS_OID, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return rc == -ENOENT ? 0 : rc;
}

static int hdr_create(struct rados_backend *rb, const char *oid, const void *hdr, size_t len)
{
	rados_write_op_t op = rados_create_write_op();
	int rc;

	if (op == NULL)
		return -ENOMEM;
	rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	rados_write_op_write_full(op, hdr, len);
	rados_write_op_setxattr(op, WRITER_XATTR, NO_WRITER, strlen(NO_WRITER));
	rc = rados_write_op_operate(op, rb->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return rc;
}

static int disk_create(struct blob_backend *be, const char *name, const void *hdr, size_t len)
{
	struct rados_backend *rb = rb_of(be);
	char oid[RADOS_OID_MAX];
	uint8_t *was = NULL;
	size_t n = 0;
	int rc, tries = 0;

	/* Listed first: a name listed without a header is skipped by its
	 * readers and swept; a header nobody lists would be lost. */
	do
		if ((rc = blob_rados_test_fault(rb)) == 0)
			rc = list_add(rb, name);
	while (rc < 0 && blob_rados_again(rb, rb->cluster, DISKS_OID, "a listing", rc, &tries));
	if (rc < 0)
		return blob_rados_errno(rc);
	hdr_oid(oid, name);
	tries = 0;
	do
		if ((rc = blob_rados_test_fault(rb)) == 0)
			rc = hdr_create(rb, oid, hdr, len);
	while (rc < 0 && blob_rados_again(rb, rb->cluster, oid, "a header's creation", rc, &tries));
	/* After a try that timed out, a header there may be that try's. */
	if (rc == -EEXIST && tries > 0 && read_header(rb->io, oid, &was, &n) == 0 && n == len && !memcmp(was, hdr, len))
		rc = 0;
	free(was);
	return rc == -EEXIST ? -EEXIST : blob_rados_errno(rc);
}

/* Removing a disk's chunk objects: every one below its chunk count,
 * recorded or not (a writer killed between a chunk's object and its
 * record left one that no record names), and any a record names beyond
 * it; DROP_FLIGHT at once, ENOENT fine.  One that fails (a timeout: it
 * may or may not be gone) fails the removal, which leaves the header and
 * the list's name, so a later removal (fsck's sweep) finishes it. */
#define DROP_FLIGHT 32

struct drops {
	struct rados_backend *rb;
	const char *name;
	uint32_t nchunks;
	rados_completion_t c[DROP_FLIGHT];
	uint32_t at[DROP_FLIGHT];
	unsigned head, n; /* the oldest in flight, how many */
	uint32_t bad;     /* the first that failed (rc) */
	int rc;
};

static void drop_failed(struct drops *a, uint32_t i, int rc)
{
	if (rc < 0 && rc != -ENOENT && a->rc == 0) {
		a->rc = rc;
		a->bad = i;
	}
}

static void drop_wait_one(struct drops *a)
{
	rados_completion_t c = a->c[a->head];

	rados_aio_wait_for_complete(c);
	drop_failed(a, a->at[a->head], rados_aio_get_return_value(c));
	rados_aio_release(c);
	a->head = (a->head + 1) % DROP_FLIGHT;
	a->n--;
}

static void drop_start(struct drops *a, uint32_t i)
{
	unsigned k;
	char oid[RADOS_OID_MAX];
	int rc;

	if (atomic_load(&a->rb->test_drop_err) != 0 && i == atomic_load(&a->rb->test_drop_at)) {
		drop_failed(a, i, atomic_load(&a->rb->test_drop_err));
		return;
	}
	if (a->n == DROP_FLIGHT)
		drop_wait_one(a);
	k = (a->head + a->n) % DROP_FLIGHT;
	rados_chunk_oid(oid, a->name, i);
	if ((rc = rados_aio_create_completion2(NULL, NULL, &a->c[k])) < 0) {
		drop_failed(a, i, rc);
		return;
	}
	if ((rc = rados_aio_remove(a->rb->io, oid, a->c[k])) < 0) {
		rados_aio_release(a->c[k]);
		drop_failed(a, i, rc);
		return;
	}
	a->at[k] = i;
	a->n++;
}

static int drop_rec(void *arg, uint32_t i, const uint8_t *val, size_t n)
{
	struct drops *a = arg;

	(void)val;
	(void)n;
	if (i >= a->nchunks) /* below: removed anyway */
		drop_start(a, i);
	return 0;
}

/* One try of a removal: the chunk objects (and those records name beyond
 * nchunks), then the header, then the list's name; librados's answer, not
 * translated.  *had: the header was there at some try (sticky across
 * tries: a try that timed out after it removed the header leaves the next
 * one nothing to find, and that is not ENOENT); *bad: the chunk whose
 * object's removal failed this try (UINT32_MAX: none did). */
static int remove_try(struct rados_backend *rb, const char *name, const char *oid, uint32_t nchunks, bool *had,
                      uint32_t *bad)
{
	struct drops a = {.rb = rb, .name = name, .nchunks = nchunks};
	int rc;

	*bad = UINT32_MAX;
	if ((rc = blob_rados_test_fault(rb)) < 0)
		return rc;
	for (uint32_t i = 0; i < nchunks; i++)
		drop_start(&a, i);
	rc = blob_rados_read_recs(rb->io, oid, drop_rec, &a);
	while (a.n > 0)
		drop_wait_one(&a);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	*had |= rc == 0;
	if (a.rc < 0) {
		*bad = a.bad;
		return a.rc;
	}
	rc = rados_remove(rb->io, oid);
	int fault = blob_rados_test_fault(rb); /* a test's: it landed, then timed out */
	if (fault != 0)
		rc = fault;
	if (rc < 0 && rc != -ENOENT)
		return rc;
	*had |= rc == 0;
	if ((rc = blob_rados_test_fault(rb)) == 0)
		rc = list_del(rb, name);
	return rc;
}

/* Each step found done (ENOENT) by a later try is fine: a removal whose
 * try timed out is tried again after the latest OSD map, RADOS_ATTEMPTS
 * tries in all, as the other operations through the region's client. */
static int disk_remove(struct blob_backend *be, const char *name, uint32_t nchunks)
{
	struct rados_backend *rb = rb_of(be);
	char oid[RADOS_OID_MAX];
	bool had = false;
	uint32_t bad;
	int rc, tries = 0;

	hdr_oid(oid, name);
	do
		rc = remove_try(rb, name, oid, nchunks, &had, &bad);
	while (rc < 0 && blob_rados_again(rb, rb->cluster, oid, "a removal", rc, &tries));
	if (rc < 0 && bad != UINT32_MAX)
		blob_log_line(rb->log, "cluster disk %s (rados %s): cannot remove chunk %u's object: %s (could not tell "
		              "whether it is gone): the disk stays, a later removal finishes it", name, rb->where, bad,
		              strerror(-rc));
	if (rc < 0)
		return blob_rados_errno(rc);
	return had ? 0 : -ENOENT;
}

struct list_each {
	int (*cb)(void *arg, const char *name, int64_t made);
	void *arg;
	int said;      /* cb's answer that stopped the listing */
	char last[80]; /* the last name given ("": none yet) */
	struct rados_backend *rb;
	uint32_t given; /* names given, over every try */
};

static int list_kv(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct list_each *e = arg;
	char name[80], made[24];

	if (klen >= sizeof name) /* not a name imgfs gives a disk */
		return 0;
	memcpy(name, key, klen);
	name[klen] = '\0';
	if (e->last[0] != '\0' && strcmp(name, e->last) <= 0) /* given before a try that timed out */
		return 0;
	int cut = atomic_load(&e->rb->test_list_err);
	if (cut != 0 && e->given == atomic_load(&e->rb->test_list_after) && atomic_exchange(&e->rb->test_list_err, 0))
		return cut; /* the listing's own failure, not the callback's answer */
	memcpy(e->last, name, klen + 1);
	e->given++;
	vlen = vlen < sizeof made ? vlen : sizeof made - 1;
	memcpy(made, val, vlen);
	made[vlen] = '\0';
	return e->said = e->cb(e->arg, name, strtoll(made, NULL, 10));
}

static int disk_list(struct blob_backend *be, int (*cb)(void *arg, const char *name, int64_t made), void *arg)
{
	struct rados_backend *rb = rb_of(be);
	struct list_each e = {cb, arg, 0, "", rb_of(be), 0};
	int rc, tries = 0;

	/* A listing that timed out is tried again after the latest OSD map;
	 * the names it already gave (keys come in order) are skipped. */
	do
		if ((rc = blob_rados_test_fault(rb)) == 0)
			rc = blob_rados_omap_each(rb->io, DISKS_OID, list_kv, &e);
	while (rc < 0 && e.said == 0 && blob_rados_again(rb, rb->cluster, DISKS_OID, "a listing of the disks", rc, &tries));
	if (rc == -ENOENT && e.said == 0) /* no disk was ever made (a callback's ENOENT is its own) */
		return 0;
	if (e.said != 0)
		return rc;
	return rc < 0 ? blob_rados_errno(rc) : rc;
}

static int disk_peek(struct blob_backend *be, const char *name, uint8_t **hdr, size_t *len,
                     int (*rec)(void *arg, uint32_t i, const uint8_t *val, size_t n), void *arg)
{
	struct rados_backend *rb = rb_of(be);
	char oid[RADOS_OID_MAX];
	int rc;

	hdr_oid(oid, name);
	*hdr = NULL;
	if ((rc = atomic_load(&rb->test_peek_err)) < 0 ||
	    (rc = read_disk(rb, rb->cluster, rb->io, oid, hdr, len, rec, arg)) < 0)
		return rc == -ENOENT ? rc : blob_rados_errno(rc);
	return 0;
}

static int disk_fence(struct blob_backend *be, const char *name, char *why, size_t cap)
{
	struct rados_backend *rb = rb_of(be);
	int rc = take_over(rb, rb->cluster, rb->io, name, NO_WRITER, why, cap);

	return rc < 0 && rc != -ENOENT && rc != -EBUSY ? blob_rados_errno(rc) : rc;
}

/* Until every read and write started on d has called its done (each
 * within the client's op timeout): done is the last one does with d. */
static void started_drain(struct blob_backend_disk *d)
{
	while (atomic_load(&d->started) > 0)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
}

/* A writer's client gone (its last reference): its record cleared. */
static void client_free(struct blob_backend_disk *d)
{
	started_drain(d);
	if (d->io != NULL) {
		if (d->me[0] && !atomic_load(&d->fenced))
			writer_cas(d->io, d->hdr, d->me, NO_WRITER); /* best effort: the next opener fences it else */
		rados_ioctx_destroy(d->io);
	}
	blob_rados_shutdown(d->cluster);
	free(d);
}

/* Out of the table of disks open here (rb->disk_lock held). */
static void unlist(struct blob_backend_disk *d)
{
	IMGFS_ASSERT_HELD(&d->rb->disk_lock);
	for (struct blob_backend_disk **p = &d->rb->disks_open; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			return;
		}
}

static void disk_close(struct blob_backend_disk *d)
{
	struct rados_backend *rb;
	bool last;

	if (d == NULL)
		return;
	if (d->reader) {
		started_drain(d);
		free(d);
		return;
	}
	rb = d->rb;
	IMGFS_LOCK(&rb->disk_lock, rados_disk_lock);
	if ((last = --d->refs == 0))
		unlist(d);
	IMGFS_UNLOCK(&rb->disk_lock, rados_disk_lock);
	if (last)
		client_free(d);
}

static int disk_open(struct blob_backend *be, const char *name, bool writer, struct blob_backend_disk **out,
                     uint8_t **hdr, size_t *len, int (*rec)(void *arg, uint32_t i, const uint8_t *val, size_t n),
                     void *arg, char *why, size_t cap)
{
	struct rados_backend *rb = rb_of(be);
	struct blob_backend_disk *d = calloc(1, sizeof *d);
	char *addrs = NULL;
	int rc;

	*out = NULL;
	*hdr = NULL;
	if (d == NULL)
		return -ENOMEM;
	d->rb = rb;
	snprintf(d->name, sizeof d->name, "%s", name);
	hdr_oid(d->hdr, name);
	if (!writer) {
		d->reader = true;
		d->cluster = rb->cluster;
		d->io = rb->io;
		if ((rc = read_disk(rb, d->cluster, d->io, d->hdr, hdr, len, rec, arg)) < 0) {
			if (rc != -ENOENT)
				blob_rados_why(why, cap, "cluster disk %s: cannot read its header: %s", name, strerror(-rc));
			goto out;
		}
		*out = d;
		return 0;
	}
	/* Open in this process already, and still the disk's writer (another
	 * host may have fenced it without its noticing yet): shared. */
	IMGFS_LOCK(&rb->disk_lock, rados_disk_lock);
	for (struct blob_backend_disk *o = rb->disks_open; o; o = o->next) {
		char was[RADOS_ADDR_MAX];
		if (strcmp(o->name, name) != 0 || atomic_load(&o->fenced))
			continue;
		if (writer_get(o->io, o->hdr, was) == 0 && strcmp(was, o->me) != 0) {
			atomic_store(&o->fenced, true); /* its next use says so */
			continue;
		}
		o->refs++;
		free(d);
		d = o;
		break;
	}
	if (d->refs == 0) {
		if ((rc = blob_rados_connect(&rb->spec, &d->cluster, &d->io, &d->op_timeout, why, cap)) < 0 ||
		    (rc = rados_getaddrs(d->cluster, &addrs)) < 0) {
			if (rc < 0 && why && cap && !why[0])
				blob_rados_why(why, cap, "cluster disk %s: this client has no address: %s", name, strerror(-rc));
			IMGFS_UNLOCK(&rb->disk_lock, rados_disk_lock);
			client_free(d);
			return rc == -ENOENT ? rc : blob_rados_errno(rc);
		}
		snprintf(d->me, sizeof d->me, "%s", addrs);
		rados_buffer_free(addrs);
		if ((rc = take_over(rb, d->cluster, d->io, name, d->me, why, cap)) < 0) {
			IMGFS_UNLOCK(&rb->disk_lock, rados_disk_lock);
			d->me[0] = '\0'; /* recorded nothing */
			client_free(d);
			return rc == -ENOENT || rc == -EBUSY ? rc : blob_rados_errno(rc);
		}
		d->refs = 1;
		d->next = rb->disks_open;
		rb->disks_open = d;
	}
	IMGFS_UNLOCK(&rb->disk_lock, rados_disk_lock);
	if ((rc = read_disk(rb, d->cluster, d->io, d->hdr, hdr, len, rec, arg)) < 0) {
		blob_rados_why(why, cap, "cluster disk %s: cannot read its header: %s", name, strerror(-rc));
		goto out;
	}
	*out = d;
	return 0;
out:
	free(*hdr);
	*hdr = NULL;
	disk_close(d);
	return rc == -ENOENT || rc == -EBUSY ? rc : blob_rados_errno(rc);
}

static int disk_write_header(struct blob_backend_disk *d, uint64_t off, const void *buf, size_t len)
{
	int rc;

	if ((rc = rados_disk_refused(d)) < 0)
		return rc;
	return blob_rados_disk_rc(d, rados_write(d->io, d->hdr, buf, len, off), "a header write");
}

static int disk_set_rec(struct blob_backend_disk *d, uint32_t i, const void *val, size_t n)
{
	rados_write_op_t op;
	char key[KEY_LEN + 1];
	const char *keys[1] = {key}, *vals[1] = {val};
	size_t lens[1] = {n};
	int rc;

	if ((rc = rados_disk_refused(d)) < 0 || (rc = atomic_load(&d->rb->test_rec_err)) < 0)
		return rc;
	if ((op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	rec_key(key, i);
	rados_write_op_omap_set(op, keys, vals, lens, 1);
	RADOS_RECS_IN_FLIGHT(d->rb, +1);
	rc = rados_write_op_operate(op, d->io, d->hdr, NULL, LIBRADOS_OPERATION_NOFLAG);
	RADOS_RECS_IN_FLIGHT(d->rb, -1);
	rados_release_write_op(op);
	return blob_rados_disk_rc(d, rc, "a chunk's state");
}

struct blob_backend_recs {
	struct blob_backend_disk *d;
	rados_completion_t c;
};

static int disk_recs_start(struct blob_backend_disk *d, size_t n, const uint32_t *idx, const uint8_t *const *val,
                           const size_t *len, struct blob_backend_recs **out)
{
	char keys[BLOB_RECS_MAX][KEY_LEN + 1];
	const char *kp[BLOB_RECS_MAX];
	struct blob_backend_recs *r;
	rados_write_op_t op;
	int rc;

	*out = NULL;
	if (n == 0 || n > BLOB_RECS_MAX)
		return -EINVAL;
	if ((rc = rados_disk_refused(d)) < 0 || (rc = atomic_load(&d->rb->test_rec_err)) < 0)
		return rc;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return -ENOMEM;
	if ((op = rados_create_write_op()) == NULL) {
		free(r);
		return -ENOMEM;
	}
	for (size_t k = 0; k < n; k++) {
		rec_key(keys[k], idx[k]);
		kp[k] = keys[k];
	}
	/* The keys and values are copied into the operation here. */
	rados_write_op_omap_set(op, kp, (const char *const *)val, len, n);
	r->d = d;
	if ((rc = rados_aio_create_completion2(NULL, NULL, &r->c)) == 0) {
		RADOS_RECS_IN_FLIGHT(d->rb, +1);
		if ((rc = rados_aio_write_op_operate(op, d->io, r->c, d->hdr, NULL, LIBRADOS_OPERATION_NOFLAG)) < 0) {
			RADOS_RECS_IN_FLIGHT(d->rb, -1);
			rados_aio_release(r->c);
		} else {
			atomic_fetch_add(&d->rb->n.disk_rec_keys, n);
		}
	}
	rados_release_write_op(op);
	if (rc < 0) {
		free(r);
		return blob_rados_errno(rc); /* under the caller's leaf lock: no log line */
	}
	*out = r;
	return 0;
}

static int disk_recs_wait(struct blob_backend_recs *r)
{
	struct blob_backend_disk *d = r->d;
	int rc;

	rados_aio_wait_for_complete(r->c);
	rc = rados_aio_get_return_value(r->c);
	RADOS_RECS_IN_FLIGHT(d->rb, -1);
	rados_aio_release(r->c);
	free(r);
	return blob_rados_disk_rc(d, rc, "a chunk's state");
}

static int disk_cut_recs(struct blob_backend_disk *d, uint32_t first)
{
	rados_write_op_t op;
	char key[KEY_LEN + 1];
	int rc;

	if ((rc = rados_disk_refused(d)) < 0 || (rc = atomic_load(&d->rb->test_rec_err)) < 0)
		return rc;
	if ((op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	rec_key(key, first);
	rados_write_op_omap_rm_range2(op, key, KEY_LEN, "g", 1); /* "g" sorts after every hex key */
	rc = rados_write_op_operate(op, d->io, d->hdr, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return blob_rados_disk_rc(d, rc, "a cut of the states");
}

const struct blob_backend_disks blob_rados_disks = {
	.create = disk_create,
	.remove = disk_remove,
	.list = disk_list,
	.peek = disk_peek,
	.fence = disk_fence,
	.sweep = blob_rados_disk_sweep,
	.open = disk_open,
	.close = disk_close,
	.write_header = disk_write_header,
	.set_rec = disk_set_rec,
	.cut_recs = disk_cut_recs,
	.write = blob_rados_chunk_write,
	.read = blob_rados_chunk_read,
	.read_start = blob_rados_chunk_read_start,
	.write_start = blob_rados_chunk_write_start,
	.zero = blob_rados_chunk_zero,
	.drop = blob_rados_chunk_drop,
	.recs_start = disk_recs_start,
	.recs_wait = disk_recs_wait,
	.patch = blob_rados_chunk_patch,
	.marks = blob_rados_chunk_marks,
};

void blob_rados_test_fail_list(struct blob_backend *be, uint32_t after, int err)
{
	atomic_store(&rb_of(be)->test_list_after, after);
	atomic_store(&rb_of(be)->test_list_err, err);
}

#else

void blob_rados_test_fail_list(struct blob_backend *be, uint32_t after, int err)
{
	(void)be;
	(void)after;
	(void)err;
}

#endif /* IMGFS_HAVE_RADOS */

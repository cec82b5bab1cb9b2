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
 * blocklisted first (rados_blocklist_add, RADOS_FENCE_EXPIRE seconds) and
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
 * Who calls it: wblob_cluster.c through the table; rados.c holds the table.
 * Only built with librados.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rados_int.h"

#ifdef IMGFS_HAVE_RADOS

#define DISKS_OID "imgfs.disks"
#define WRITER_XATTR "imgfs.writer"
#define NO_WRITER "-"
#define FENCE_EXPIRE (7u * 86400) /* seconds a fenced client stays blocklisted */
#define ADDR_MAX 256
#define OID_MAX (3 + 64 + 10)     /* "wb." NAME ".IIIIIIII" */
#define KEY_LEN RADOS_REC_KEY_LEN
#define BLOCK_KEY_LEN 2           /* a patched chunk's block: 2 hex digits */

struct blob_backend_disk {
	struct rados_backend *rb; /* its store's: the log, the spec */
	rados_t cluster;          /* its own client */
	rados_ioctx_t io;
	unsigned op_timeout;
	char name[65];
	char hdr[OID_MAX];
	char me[ADDR_MAX]; /* this client's address, as recorded */
	bool reader;       /* the store's client: nothing recorded, no writes */
	atomic_bool fenced;
	atomic_uint started; /* reads and writes started, not yet answered: the client stays until they are */
	/* A writer's: the process's opens of this disk share it (rb->disk_lock). */
	int refs;
	struct blob_backend_disk *next;
};

static void hdr_oid(char out[OID_MAX], const char *name)
{
	snprintf(out, OID_MAX, "wb.%s", name);
}

static void chunk_oid(char out[OID_MAX], const char *name, uint32_t i)
{
	snprintf(out, OID_MAX, "wb.%s.%08x", name, i);
}

static void rec_key(char out[KEY_LEN + 1], uint32_t i)
{
	snprintf(out, KEY_LEN + 1, "%08x", i);
}

/* What an operation of an open disk returned, for its caller: a client
 * blocklisted by another opener is fenced for good (said once). */
static int disk_rc(struct blob_backend_disk *d, int rc, const char *what)
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
	if (rc == -ETIMEDOUT)
		rados_wait_for_latest_osdmap(d->cluster);
	return blob_rados_errno(rc);
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
static int writer_get(rados_ioctx_t io, const char *oid, char out[ADDR_MAX])
{
	int rc = rados_getxattr(io, oid, WRITER_XATTR, out, ADDR_MAX - 1);

	if (rc < 0)
		return rc == -ENODATA ? (snprintf(out, ADDR_MAX, "%s", NO_WRITER), 0) : rc;
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
	char oid[OID_MAX], was[ADDR_MAX];
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
			if ((rc = rados_blocklist_add(cluster, was, FENCE_EXPIRE)) < 0) {
				blob_rados_why(why, cap, "cluster disk %s: cannot fence its last writer %s: %s", name, was,
				               strerror(-rc));
				blob_log_line(rb->log, "cluster disk %s (rados %s): cannot fence its last writer, client %s: %s",
				              name, rb->where, was, strerror(-rc));
				return rc;
			}
			/* Ops of this client go out with a map that blocklists it. */
			rados_wait_for_latest_osdmap(cluster);
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
	char oid[OID_MAX];
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
	char oid[OID_MAX];
	int rc;

	if (atomic_load(&a->rb->test_drop_err) != 0 && i == atomic_load(&a->rb->test_drop_at)) {
		drop_failed(a, i, atomic_load(&a->rb->test_drop_err));
		return;
	}
	if (a->n == DROP_FLIGHT)
		drop_wait_one(a);
	k = (a->head + a->n) % DROP_FLIGHT;
	chunk_oid(oid, a->name, i);
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
	char oid[OID_MAX];
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
	char oid[OID_MAX];
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
	if (d->cluster != NULL)
		rados_shutdown(d->cluster);
	free(d);
}

/* Out of the table of disks open here (rb->disk_lock held). */
static void unlist(struct blob_backend_disk *d)
{
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
		char was[ADDR_MAX];
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

/* A change through a reader, or a fenced client: refused. */
static int refused(const struct blob_backend_disk *d)
{
	return d->reader ? -EROFS : atomic_load(&d->fenced) ? -EIO : 0;
}

static int disk_write_header(struct blob_backend_disk *d, uint64_t off, const void *buf, size_t len)
{
	int rc;

	if ((rc = refused(d)) < 0)
		return rc;
	return disk_rc(d, rados_write(d->io, d->hdr, buf, len, off), "a header write");
}

/* Record sets and chunk objects' reads counted, and how many are in
 * flight at once (tests count first writes of different chunks side by
 * side, wblob_cluster.c, and a capture's reads ahead, wblob_copy.c). */
static void in_flight(atomic_uint_fast64_t *total, atomic_uint_fast64_t *now_, atomic_uint_fast64_t *peak_, int d)
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
#define RECS_IN_FLIGHT(rb, d) in_flight(&(rb)->n.disk_recs, &(rb)->n.disk_recs_now, &(rb)->n.disk_recs_peak, d)
#define READS_IN_FLIGHT(rb, d) in_flight(&(rb)->n.disk_reads, &(rb)->n.disk_reads_now, &(rb)->n.disk_reads_peak, d)

static int disk_set_rec(struct blob_backend_disk *d, uint32_t i, const void *val, size_t n)
{
	rados_write_op_t op;
	char key[KEY_LEN + 1];
	const char *keys[1] = {key}, *vals[1] = {val};
	size_t lens[1] = {n};
	int rc;

	if ((rc = refused(d)) < 0 || (rc = atomic_load(&d->rb->test_rec_err)) < 0)
		return rc;
	if ((op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	rec_key(key, i);
	rados_write_op_omap_set(op, keys, vals, lens, 1);
	RECS_IN_FLIGHT(d->rb, +1);
	rc = rados_write_op_operate(op, d->io, d->hdr, NULL, LIBRADOS_OPERATION_NOFLAG);
	RECS_IN_FLIGHT(d->rb, -1);
	rados_release_write_op(op);
	return disk_rc(d, rc, "a chunk's state");
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
	if ((rc = refused(d)) < 0 || (rc = atomic_load(&d->rb->test_rec_err)) < 0)
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
		RECS_IN_FLIGHT(d->rb, +1);
		if ((rc = rados_aio_write_op_operate(op, d->io, r->c, d->hdr, NULL, LIBRADOS_OPERATION_NOFLAG)) < 0) {
			RECS_IN_FLIGHT(d->rb, -1);
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
	RECS_IN_FLIGHT(d->rb, -1);
	rados_aio_release(r->c);
	free(r);
	return disk_rc(d, rc, "a chunk's state");
}

static int disk_cut_recs(struct blob_backend_disk *d, uint32_t first)
{
	rados_write_op_t op;
	char key[KEY_LEN + 1];
	int rc;

	if ((rc = refused(d)) < 0 || (rc = atomic_load(&d->rb->test_rec_err)) < 0)
		return rc;
	if ((op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	rec_key(key, first);
	rados_write_op_omap_rm_range2(op, key, KEY_LEN, "g", 1); /* "g" sorts after every hex key */
	rc = rados_write_op_operate(op, d->io, d->hdr, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return disk_rc(d, rc, "a cut of the states");
}

static int disk_write(struct blob_backend_disk *d, uint32_t i, uint64_t off, const void *buf, size_t len, bool fresh)
{
	rados_write_op_t op;
	char oid[OID_MAX];
	int rc;

	if ((rc = refused(d)) < 0)
		return rc;
	if ((op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	chunk_oid(oid, d->name, i);
	if (fresh && off == 0) {
		rados_write_op_write_full(op, buf, len);
	} else {
		if (fresh)
			rados_write_op_truncate(op, 0);
		rados_write_op_write(op, buf, len, off);
	}
	atomic_fetch_add(&d->rb->n.disk_writes, 1);
	rc = rados_write_op_operate(op, d->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return disk_rc(d, rc, "a write");
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
		return disk_rc(d, rc, "a read");
	memset((uint8_t *)buf + rc, 0, len - (size_t)rc);
	return 0;
}

static int disk_read(struct blob_backend_disk *d, uint32_t i, uint64_t off, void *buf, size_t len)
{
	char oid[OID_MAX];
	int rc;

	if (atomic_load(&d->fenced))
		return -EIO;
	chunk_oid(oid, d->name, i);
	READS_IN_FLIGHT(d->rb, 1);
	if ((rc = blob_rados_test_fault(d->rb)) == 0)
		rc = rados_read(d->io, oid, buf, len, off);
	READS_IN_FLIGHT(d->rb, -1);
	return read_rc(d, i, rc, buf, len);
}

/* One read_start: freed by its completion. */
struct disk_aread {
	struct blob_backend_disk *d;
	rados_completion_t c;
	void *buf;
	size_t len;
	uint32_t i;
	void (*done)(void *arg, int rc);
	void *arg;
};

static void aread_done(rados_completion_t c, void *p)
{
	struct disk_aread *r = p;
	struct blob_backend_disk *d = r->d;
	int rc = rados_aio_get_return_value(c);

	blob_rados_test_started_held(d->rb);
	rados_aio_release(c);
	READS_IN_FLIGHT(d->rb, -1);
	rc = read_rc(d, r->i, rc, r->buf, r->len);
	atomic_fetch_sub(&d->rb->n.started_now, 1);
	r->done(r->arg, rc);
	free(r);
	atomic_fetch_sub(&d->started, 1); /* last: the client may go now */
}

static int disk_read_start(struct blob_backend_disk *d, uint32_t i, uint64_t off, void *buf, size_t len,
                           void (*done)(void *arg, int rc), void *arg)
{
	char oid[OID_MAX];
	struct disk_aread *r;
	int rc;

	if (atomic_load(&d->fenced))
		return -EIO;
	if ((rc = blob_rados_test_fault(d->rb)) < 0) { /* a test's fault: answered here, as the cluster would */
		done(arg, read_rc(d, i, rc, buf, len));
		return 0;
	}
	if (!blob_rados_start_room(d->rb))
		return -EAGAIN;
	if ((r = malloc(sizeof *r)) == NULL) {
		atomic_fetch_sub(&d->rb->n.started_now, 1);
		return -ENOMEM;
	}
	*r = (struct disk_aread){.d = d, .buf = buf, .len = len, .i = i, .done = done, .arg = arg};
	if (rados_aio_create_completion2(r, aread_done, &r->c) < 0) {
		atomic_fetch_sub(&d->rb->n.started_now, 1);
		free(r);
		return -ENOMEM;
	}
	chunk_oid(oid, d->name, i);
	atomic_fetch_add(&d->started, 1);
	READS_IN_FLIGHT(d->rb, 1);
	atomic_fetch_add(&d->rb->n.disk_reads_started, 1);
	if ((rc = rados_aio_read(d->io, oid, r->c, buf, len, off)) < 0) {
		READS_IN_FLIGHT(d->rb, -1);
		atomic_fetch_sub(&d->started, 1);
		atomic_fetch_sub(&d->rb->n.started_now, 1);
		rados_aio_release(r->c);
		free(r);
		return blob_rados_errno(rc);
	}
	return 0;
}

static int disk_zero(struct blob_backend_disk *d, uint32_t i, uint64_t off, size_t len)
{
	rados_write_op_t op;
	char oid[OID_MAX];
	int rc;

	if ((rc = refused(d)) < 0)
		return rc;
	if ((op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	chunk_oid(oid, d->name, i);
	rados_write_op_assert_exists(op); /* no object: zeros already */
	rados_write_op_zero(op, off, len);
	rc = rados_write_op_operate(op, d->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return rc == -ENOENT ? 0 : disk_rc(d, rc, "a zeroing");
}

static int disk_drop(struct blob_backend_disk *d, uint32_t i)
{
	char oid[OID_MAX];
	int rc;

	if ((rc = refused(d)) < 0)
		return rc;
	chunk_oid(oid, d->name, i);
	rc = rados_remove(d->io, oid);
	return rc == -ENOENT ? 0 : disk_rc(d, rc, "a removal");
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

static int disk_patch(struct blob_backend_disk *d, uint32_t i, uint32_t b0, uint32_t nb, const void *buf, bool fresh)
{
	char oid[OID_MAX];
	rados_write_op_t op;
	int rc;

	if (nb == 0 || b0 >= WB_BLOCKS || nb > WB_BLOCKS - b0)
		return -EINVAL;
	if ((rc = refused(d)) < 0 || (rc = atomic_load(&d->rb->test_patch_err)) < 0)
		return rc;
	if ((op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	chunk_oid(oid, d->name, i);
	patch_fill(op, b0, nb, buf, fresh);
	atomic_fetch_add(&d->rb->n.disk_writes, 1);
	rc = rados_write_op_operate(op, d->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return disk_rc(d, rc, "a write");
}

/* One write_start: freed by its completion. */
struct disk_awrite {
	struct blob_backend_disk *d;
	rados_completion_t c;
	void (*done)(void *arg, int rc);
	void *arg;
};

static void awrite_done(rados_completion_t c, void *p)
{
	struct disk_awrite *r = p;
	struct blob_backend_disk *d = r->d;
	int rc = rados_aio_get_return_value(c);

	blob_rados_test_started_held(d->rb);
	rados_aio_release(c);
	rc = disk_rc(d, rc, "a write");
	atomic_fetch_sub(&d->rb->n.started_now, 1);
	r->done(r->arg, rc < 0 ? rc : 0);
	free(r);
	atomic_fetch_sub(&d->started, 1); /* last: the client may go now */
}

static int disk_write_start(struct blob_backend_disk *d, uint32_t i, uint64_t off, const void *buf, size_t len,
                            bool patch, void (*done)(void *arg, int rc), void *arg)
{
	struct disk_awrite *r;
	rados_write_op_t op;
	char oid[OID_MAX];
	int rc;

	if (len == 0 || off > BLOB_CHUNK_SIZE || len > BLOB_CHUNK_SIZE - off ||
	    (patch && ((off | len) & (WB_BLOCK_SIZE - 1)) != 0))
		return -EINVAL;
	if ((rc = refused(d)) < 0)
		return rc;
	if (atomic_load(&d->rb->test_patch_err) != 0) /* a test's fault: the waiting write's to take */
		return -EAGAIN;
	if (!blob_rados_start_room(d->rb))
		return -EAGAIN;
	if ((r = malloc(sizeof *r)) == NULL || (op = rados_create_write_op()) == NULL) {
		free(r);
		atomic_fetch_sub(&d->rb->n.started_now, 1);
		return -ENOMEM;
	}
	*r = (struct disk_awrite){.d = d, .done = done, .arg = arg};
	if (rados_aio_create_completion2(r, awrite_done, &r->c) < 0) {
		rados_release_write_op(op);
		atomic_fetch_sub(&d->rb->n.started_now, 1);
		free(r);
		return -ENOMEM;
	}
	chunk_oid(oid, d->name, i);
	if (patch)
		patch_fill(op, (uint32_t)(off >> WB_BLOCK_SHIFT), (uint32_t)(len >> WB_BLOCK_SHIFT), buf, false);
	else
		rados_write_op_write(op, buf, len, off); /* copied: buf may go once this returns */
	atomic_fetch_add(&d->started, 1);
	rc = rados_aio_write_op_operate(op, d->io, r->c, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op); /* its operations were taken by the started one */
	if (rc < 0) {
		atomic_fetch_sub(&d->started, 1);
		atomic_fetch_sub(&d->rb->n.started_now, 1);
		rados_aio_release(r->c);
		free(r);
		return blob_rados_errno(rc);
	}
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

static int disk_marks(struct blob_backend_disk *d, const uint32_t *idx, size_t n,
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
			char oid[OID_MAX];
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
			chunk_oid(oid, d->name, idx[at + started]);
			rados_read_op_omap_get_keys2(op[started], "", WB_BLOCKS, &it[started], &more[started], &prval[started]);
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
	return rc < 0 ? disk_rc(d, rc, "a read of a chunk's written blocks") : 0;
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
	.write = disk_write,
	.read = disk_read,
	.read_start = disk_read_start,
	.write_start = disk_write_start,
	.zero = disk_zero,
	.drop = disk_drop,
	.recs_start = disk_recs_start,
	.recs_wait = disk_recs_wait,
	.patch = disk_patch,
	.marks = disk_marks,
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

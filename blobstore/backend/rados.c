/*
 * backend/rados.c — the Ceph RADOS chunk backend (SPEC §13).
 *
 * Who calls it: store.c opens one per region whose store is
 * "rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]" (model/ records the
 * spec; `imgfs admin region add NAME --store SPEC`), and every chunk of
 * that region then goes through the table below: reads (fs/, through the
 * store's verified cache), batches (captures, uploads, conversions,
 * copies), gc and fsck.  It stores bytes under ids it is given; it never
 * hashes (store.c does, on every read: a corrupted object is -EIO there).
 * Used from many threads at once: librados handles are thread-safe, the
 * prefetch table has its own mutex, a batch is used by one thread.
 *
 * In the pool (in NAMESPACE when given):
 *   <32 hex>      one object per chunk, named by its id: exactly the chunk's
 *                 bytes, written once by an exclusive create; its attribute
 *                 "imgfs.t" is the timestamp gc goes by (unix seconds, 20
 *                 decimal digits, so that RADOS's string comparison orders
 *                 them), set when the chunk is written and refreshed when a
 *                 put or a copy finds it there.  Its attribute "imgfs.b"
 *                 (a plain chunk placed since stop 45) holds its block
 *                 digests (blob_backend.h, BLOB_DIG_*: 2 KiB for 1 MiB),
 *                 computed by the store and set in the create's own
 *                 operation; get_part reads a block range and them in
 *                 one read operation (SPEC §13).
 *   imgfs.owner   one line naming the region and the service (a
 *                 fingerprint of the chunk-id key) whose chunks these are;
 *                 an open naming another owner is refused, so two regions
 *                 never share a pool (each one's gc would collect the
 *                 other's chunks).  Not a chunk name: listing skips it.
 *
 * Guarantees, against the local backend's (backend/local.c).  An object
 * appears whole or not at all and is durable when RADOS acknowledges the
 * write (every replica has it), so "a name never appears before its bytes
 * are durable" holds by itself and a batch's commit is a wait for its
 * writes.  The exclusive create (LIBRADOS_CREATE_EXCLUSIVE) is the put-if-
 * absent: -EEXIST means another writer placed the same id, hence the same
 * bytes (SPEC §11: ids are keyed hashes).  What differs: a write that was in
 * flight when its batch was dropped may still land; it is whole, named by
 * no manifest, and gc drops it after its grace.
 *
 * gc.  Listing a pool gives names only, so list reports BLOB_MTIME_UNKNOWN
 * and gc removes a chunk with del_if_older: one write operation that
 * compares imgfs.t with the cut-off and removes the object only if it is
 * older, atomically in the OSD, so a put refreshing the chunk at the same
 * moment can never lose it (the local backend has a microseconds-wide
 * window there).  A found chunk is refreshed only when its timestamp is
 * older than RADOS_FRESH: a second copy of the same data then costs one
 * read per chunk, not a write (gc's grace, an hour by default, must exceed
 * RADOS_FRESH plus the longest task, as for the local backend).
 *
 * Fast paths.  Reads: prefetch() starts rados aio reads (a read operation:
 * stat + read, so an object longer than a chunk is seen) of the chunks a
 * sequential reader will want next into a table of RADOS_PREFETCH_SLOTS
 * chunk buffers; get() takes its chunk from there when it is on its way,
 * else reads it synchronously.  get_buf() (the store's cache loading an
 * entry) takes it without a copy: the slot's buffer and the caller's are
 * exchanged.  A slot whose read is done and not taken is reused only for
 * a chunk asked for when its own chunk is not among those asked for (the
 * reader went elsewhere), so a deep window does not drop what comes next.
 * Writes: a batch keeps each chunk's bytes until its write is settled (a
 * retry, or a create after a refresh found the chunk gone, needs them):
 * the batching's add takes the caller's chunk buffer and gives the slot's
 * back (batch.c's lanes, so an upload's bytes are not copied again here);
 * then it starts the create
 * with rados_aio_write_op_operate, up to RADOS_BATCH_INFLIGHT per batch
 * (batch.c runs four batches at once, one per lane: 16 writes in flight;
 * 8 kept an upload waiting on the OSD), waiting for the oldest when all
 * are busy; commit waits for all.
 * The batching says !ask_first: asking first would put a round trip, which
 * waits behind the writes in flight, in the caller's thread for every
 * chunk; the exclusive create answers the same question.  Copies ask about
 * up to BLOB_BATCH_MAX chunks at once (has_many: that many aio reads in
 * flight, one wait).
 *
 * Failures (docs/reference.md §13).  librados by default waits for ever for an
 * OSD that does not answer.  Unless the ceph.conf sets them, imgfs sets
 * rados_osd_op_timeout and rados_mon_op_timeout to RADOS_OP_TIMEOUT seconds
 * and client_mount_timeout to RADOS_MOUNT_TIMEOUT.  An operation that times
 * out is tried again after a fresh OSD map — without one a client that
 * timed out keeps addressing the OSD's old address and never recovers
 * when it comes back (ceph/ceph PR #63425) — up to RADOS_ATTEMPTS times
 * in all; then it fails with -EIO (a read, a batch, a task: see the
 * callers), with a line in the store's log for every timeout.  The map is
 * waited for at most the monitor's op timeout (rados_op.c blob_rados_map:
 * rados_wait_for_latest_osdmap has no timeout of its own, and a monitor
 * that does not answer held it for minutes); one that does not come is
 * -EIO at once.  After the last try the map is asked, not waited for.
 * So an operation waits at most RADOS_ATTEMPTS x the OSD's timeout plus
 * RADOS_ATTEMPTS - 1 x the monitor's (50 s by default), and the same
 * client works again once the OSD is back.
 *
 * Errors: librados returns -errno; blob_rados_errno() is the one place that
 * turns what it returns into what the store's callers are promised.
 *
 * Files: this one (the spec, the connection and the pool's owner, the
 * table), rados_op.c (the single operations, tried again after a
 * timeout, and the errno translation: the bottom, calling no other),
 * rados_read.c (get, get_buf, prefetch), rados_batch.c (the batching
 * sub-table), rados_disk.c and rados_chunks.c (cluster disks: the disks
 * sub-table; a disk's header and fencing, its chunks' objects),
 * rados_int.h (what they share).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imgfs_lock.h"
#include "rados_int.h"


/* Pool, client and namespace names: letters, digits, '.', '_', '-'. */
static bool name_ok(const char *s, size_t len)
{
	if (len == 0 || len > RADOS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

static int spec_parse(struct rados_spec *out, const char *spec, char *why, size_t cap)
{
	const char *p, *end;

	memset(out, 0, sizeof *out);
	if (strncmp(spec, "rados:", 6) != 0) {
		blob_rados_why(why, cap, "a RADOS store is rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]");
		return -EINVAL;
	}
	p = spec + 6;
	end = strchr(p, ',');
	if (end == NULL)
		end = p + strlen(p);
	if (!name_ok(p, (size_t)(end - p))) {
		blob_rados_why(why, cap, "a pool name is 1-%d letters, digits, '.', '_' or '-'", RADOS_NAME_MAX);
		return -EINVAL;
	}
	memcpy(out->pool, p, (size_t)(end - p));
	while (*end == ',') {
		const char *key = end + 1, *eq = strchr(key, '='), *val;
		size_t len;
		char *dst;
		size_t dstcap;

		end = strchr(key, ',');
		if (end == NULL)
			end = key + strlen(key);
		if (eq == NULL || eq > end) {
			blob_rados_why(why, cap, "rados: options are conf=FILE, id=CLIENT and ns=NAMESPACE");
			return -EINVAL;
		}
		val = eq + 1;
		len = (size_t)(end - val);
		if ((size_t)(eq - key) == 4 && strncmp(key, "conf", 4) == 0) {
			dst = out->conf;
			dstcap = sizeof out->conf;
			if (len == 0 || val[0] != '/' || len >= dstcap) {
				blob_rados_why(why, cap, "conf=FILE takes an absolute path (every host must find it)");
				return -EINVAL;
			}
			for (size_t i = 0; i < len; i++)
				if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f) {
					blob_rados_why(why, cap, "conf=FILE: a control character in the path");
					return -EINVAL;
				}
		} else if ((size_t)(eq - key) == 2 && strncmp(key, "id", 2) == 0) {
			dst = out->id;
			dstcap = sizeof out->id;
			if (!name_ok(val, len)) {
				blob_rados_why(why, cap, "id=CLIENT is 1-%d letters, digits, '.', '_' or '-' (without \"client.\")",
				        RADOS_NAME_MAX);
				return -EINVAL;
			}
		} else if ((size_t)(eq - key) == 2 && strncmp(key, "ns", 2) == 0) {
			dst = out->ns;
			dstcap = sizeof out->ns;
			if (!name_ok(val, len)) {
				blob_rados_why(why, cap, "ns=NAMESPACE is 1-%d letters, digits, '.', '_' or '-'", RADOS_NAME_MAX);
				return -EINVAL;
			}
		} else {
			blob_rados_why(why, cap, "rados: options are conf=FILE, id=CLIENT and ns=NAMESPACE");
			return -EINVAL;
		}
		if (dst[0] != '\0') {
			blob_rados_why(why, cap, "rados: an option is given twice");
			return -EINVAL;
		}
		(void)dstcap;
		memcpy(dst, val, len);
		dst[len] = '\0';
	}
	return 0;
}

#ifdef IMGFS_HAVE_RADOS

static int rados_put(struct blob_backend *be, const chunk_id *id, const void *buf, size_t len, const uint8_t *dig)
{
	char oid[33];

	if (len > BLOB_OBJ_MAX || (dig != NULL && len > BLOB_CHUNK_SIZE))
		return -EINVAL;
	chunk_id_fmt(oid, id);
	return blob_rados_place(rb_of(be), oid, buf, len, dig, 1);
}

static int rados_exists(struct blob_backend *be, const chunk_id *id)
{
	struct rados_call call = {0};
	char oid[33];
	int rc;

	if ((rc = atomic_load(&rb_of(be)->test_exists_err)) != 0)
		return blob_rados_errno(rc);
	chunk_id_fmt(oid, id);
	rc = blob_rados_run(rb_of(be), oid, "a stat", blob_rados_op_stat, &call, 1);
	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? blob_rados_errno(rc) : 1;
}

static int rados_stat_chunk(struct blob_backend *be, const chunk_id *id, uint64_t *size, int64_t *mtime)
{
	struct rados_call call = {0};
	char oid[33];
	int rc;

	chunk_id_fmt(oid, id);
	if ((rc = blob_rados_run(rb_of(be), oid, "a stat", blob_rados_op_stat_stamp, &call, 1)) < 0)
		return blob_rados_errno(rc);
	*size = call.size;
	*mtime = call.t;
	return 0;
}

static int rados_del(struct blob_backend *be, const chunk_id *id)
{
	struct rados_call call = {0};
	char oid[33];

	chunk_id_fmt(oid, id);
	return blob_rados_errno(blob_rados_run(rb_of(be), oid, "a removal", blob_rados_op_remove, &call, 1));
}

static int rados_del_if_older(struct blob_backend *be, const chunk_id *id, int64_t not_after)
{
	struct rados_call call = {.t = not_after};
	char oid[33];
	int rc;

	chunk_id_fmt(oid, id);
	rc = blob_rados_run(rb_of(be), oid, "a removal", blob_rados_op_del_older, &call, 1);
	if (rc == 0)
		return 1;
	if (rc == -ECANCELED || rc == -ENOENT)
		return 0;
	return blob_rados_errno(rc);
}

static bool is_chunk_name(const char *s)
{
	size_t i = 0;

	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 32;
}

struct list_arg {
	int (*cb)(void *arg, const chunk_id *id, int64_t mtime);
	void *arg;
};

static int list_one(void *arg, const char *name)
{
	struct list_arg *a = arg;
	chunk_id id;

	if (!is_chunk_name(name) || chunk_id_parse(&id, name) < 0)
		return 0; /* imgfs.owner, or not ours */
	return a->cb(a->arg, &id, BLOB_MTIME_UNKNOWN);
}

static int rados_list(struct blob_backend *be, int (*cb)(void *arg, const chunk_id *id, int64_t mtime), void *arg)
{
	struct rados_backend *rb = rb_of(be);
	struct list_arg a = {.cb = cb, .arg = arg};
	bool failed;
	int rc = blob_rados_each_name(rb->io, list_one, &a, &failed);

	if (!failed)
		return rc;
	blob_log_line(rb->log, "rados %s: listing the pool failed: %s", rb->where, strerror(-rc));
	return blob_rados_errno(rc);
}

/* ---- opening --------------------------------------------------------------- */

static void rados_free(struct blob_backend *be)
{
	struct rados_backend *rb = rb_of(be);

	if (rb == NULL)
		return;
	for (int i = 0; i < RADOS_PREFETCH_SLOTS; i++) {
		if (rb->pf[i].used)
			blob_rados_pf_finish(&rb->pf[i]);
		free(rb->pf[i].buf);
	}
	/* The digest backfills and part reads started: answered (each
	 * within its op timeout) before the client goes. */
	while (atomic_load(&rb->n.digs_now) > 0 || atomic_load(&rb->n.parts_now) > 0)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	if (rb->io != NULL)
		rados_ioctx_destroy(rb->io);
	if (rb->cluster != NULL)
		blob_rados_shutdown(rb->cluster);
	pthread_mutex_destroy(&rb->pf_lock);
	pthread_mutex_destroy(&rb->disk_lock);
	free(rb);
}

/* Reads the pool's owner line; marks it owner's when it has none and
 * claim says so.  A pool owned by another: -EBUSY. */
static int owner_check(struct rados_backend *rb, const char *owner, bool claim, char *why, size_t cap)
{
	char got[512];
	int rc;

	for (int round = 0; round < 2; round++) {
		rc = rados_read(rb->io, RADOS_OWNER_OID, got, sizeof got - 1, 0);
		if (rc >= 0) {
			got[rc] = '\0';
			got[strcspn(got, "\n")] = '\0';
			if (strcmp(got, owner) == 0)
				return 0;
			blob_rados_why(why, cap, "pool %s already holds the chunks of another region (%s)", rb->where, got);
			return -EBUSY;
		}
		if (rc != -ENOENT)
			break;
		if (!claim)
			return 0;
		rados_write_op_t op = rados_create_write_op();
		char line[320];
		if (op == NULL)
			return -ENOMEM;
		snprintf(line, sizeof line, "%s\n", owner);
		rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
		rados_write_op_write_full(op, line, strlen(line));
		rc = rados_write_op_operate(op, rb->io, RADOS_OWNER_OID, NULL, LIBRADOS_OPERATION_NOFLAG);
		rados_release_write_op(op);
		if (rc == 0)
			return 0;
		if (rc != -EEXIST) /* another opener claimed it first: read it */
			break;
	}
	blob_rados_why(why, cap, "pool %s: cannot read or write its %s object: %s", rb->where, RADOS_OWNER_OID, strerror(-rc));
	return blob_rados_errno(rc);
}

static int rados_open(struct rados_backend *rb, const struct rados_spec *sp, const char *owner, bool claim, char *why,
                      size_t cap)
{
	int rc;

	snprintf(rb->where, sizeof rb->where, "%s%s%s", sp->pool, sp->ns[0] ? "/" : "", sp->ns);
	rb->spec = *sp;
	if ((rc = blob_rados_connect(sp, &rb->cluster, &rb->io, &rb->op_timeout, why, cap)) < 0)
		return rc;
	return owner_check(rb, owner, claim, why, cap);
}

static void rados_set_log(struct blob_backend *be, const struct blob_log *log)
{
	rb_of(be)->log = log;
}

/* Add without asking: an exclusive create of a chunk the pool has costs
 * one round trip, like the question would. */
static const struct blob_backend_batching rados_batching = {
	.new_batch = blob_rados_batch_new,
	.add = blob_rados_batch_add_buf,
	.has_many = blob_rados_batch_has_many,
	.commit = blob_rados_batch_commit,
	.free = blob_rados_batch_free,
	.ask_first = false,
	.lanes = 4, /* 4 writes in flight each: 16 ops */
};

int blob_backend_rados_new(struct blob_backend **out, const char *spec, const char *owner, bool claim, char *why,
                           size_t cap)
{
	struct rados_backend *rb;
	struct rados_spec sp;
	int rc;

	if ((rc = spec_parse(&sp, spec, why, cap)) < 0 || (rc = blob_rados_lib_load(why, cap)) < 0)
		return rc;
	if ((rb = calloc(1, sizeof *rb)) == NULL)
		return -ENOMEM;
	pthread_mutex_init(&rb->disk_lock, NULL);
	if ((rc = pthread_mutex_init(&rb->pf_lock, NULL)) != 0) {
		free(rb);
		return -rc;
	}
	rb->be = (struct blob_backend){
		.get = blob_rados_get,
		.put = rados_put,
		.exists = rados_exists,
		.del = rados_del,
		.stat = rados_stat_chunk,
		.list = rados_list,
		.free = rados_free,
		.batching = &rados_batching,
		.get_buf = blob_rados_get_buf,
		.del_if_older = rados_del_if_older,
		.prefetch = blob_rados_prefetch,
		.get_part = blob_rados_get_part,
		.get_part_start = blob_rados_get_part_start,
		.set_digests = blob_rados_set_digests,
		.set_log = rados_set_log,
		.disks = &blob_rados_disks,
	};
	if ((rc = rados_open(rb, &sp, owner, claim, why, cap)) < 0) {
		rados_free(&rb->be);
		return rc;
	}
	*out = &rb->be;
	return 0;
}

int blob_rados_test_overwrite(struct blob_backend *be, const chunk_id *id, const void *buf, size_t len)
{
	struct rados_backend *rb = rb_of(be);
	char oid[33];

	/* What was read ahead before is the old bytes: dropped, so the test
	 * sees the new ones. */
	IMGFS_LOCK(&rb->pf_lock, rados_pf_lock);
	for (int i = 0; i < RADOS_PREFETCH_SLOTS; i++) {
		struct rados_pf *p = &rb->pf[i];
		if (p->used && !p->taken && chunk_id_equal(&p->id, id)) {
			blob_rados_pf_finish(p);
			p->used = false;
		}
	}
	IMGFS_UNLOCK(&rb->pf_lock, rados_pf_lock);
	chunk_id_fmt(oid, id);
	return blob_rados_errno(rados_write_full(rb->io, oid, buf, len));
}

int blob_rados_test_set_digests(struct blob_backend *be, const chunk_id *id, const void *dig, size_t len)
{
	struct rados_backend *rb = rb_of(be);
	rados_write_op_t op = rados_create_write_op();
	char oid[33];
	int rc;

	if (op == NULL)
		return -ENOMEM;
	chunk_id_fmt(oid, id);
	if (dig == NULL)
		rados_write_op_rmxattr(op, RADOS_DIG_XATTR);
	else
		rados_write_op_setxattr(op, RADOS_DIG_XATTR, dig, len);
	rc = rados_write_op_operate(op, rb->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return blob_rados_errno(rc);
}

void blob_rados_test_fail_recs(struct blob_backend *be, int rec_err, int patch_err)
{
	atomic_store(&rb_of(be)->test_rec_err, rec_err);
	atomic_store(&rb_of(be)->test_patch_err, patch_err);
}

void blob_rados_test_fail_drop(struct blob_backend *be, uint32_t i, int err)
{
	atomic_store(&rb_of(be)->test_drop_at, i);
	atomic_store(&rb_of(be)->test_drop_err, err);
}

void blob_rados_test_fail_exists(struct blob_backend *be, int err)
{
	atomic_store(&rb_of(be)->test_exists_err, err);
}

/* rados_disk.c's names: "wb.NAME" its header, "wb.NAME.IIIIIIII" chunk I's. */
int blob_rados_test_disk_objects(struct blob_backend *be, const char *name, uint32_t upto)
{
	char oid[96];
	uint64_t size;
	time_t mtime;
	int n = 0, rc;

	for (uint32_t i = 0; i <= upto; i++) {
		if (i == 0)
			snprintf(oid, sizeof oid, "wb.%s", name);
		else
			snprintf(oid, sizeof oid, "wb.%s.%08x", name, i - 1);
		if ((rc = rados_stat(rb_of(be)->io, oid, &size, &mtime)) == 0)
			n++;
		else if (rc != -ENOENT)
			return rc;
	}
	return n;
}

int blob_rados_test_disk_header(struct blob_backend *be, const char *name, const void *buf, size_t len)
{
	char oid[96];

	snprintf(oid, sizeof oid, "wb.%s", name);
	if (buf == NULL)
		return blob_rados_errno(rados_remove(rb_of(be)->io, oid));
	return blob_rados_errno(rados_write_full(rb_of(be)->io, oid, buf, len));
}

int blob_rados_test_set_stamp(struct blob_backend *be, const chunk_id *id, int64_t t)
{
	char oid[33], stamp[RADOS_STAMP_LEN + 1];

	chunk_id_fmt(oid, id);
	blob_rados_stamp_fmt(stamp, t);
	return blob_rados_errno(rados_setxattr(rb_of(be)->io, oid, RADOS_STAMP_XATTR, stamp, RADOS_STAMP_LEN));
}

int blob_rados_test_get_stamp(struct blob_backend *be, const chunk_id *id, int64_t *out)
{
	char oid[33], stamp[RADOS_STAMP_LEN + 1];
	int rc;

	chunk_id_fmt(oid, id);
	if ((rc = rados_getxattr(rb_of(be)->io, oid, RADOS_STAMP_XATTR, stamp, RADOS_STAMP_LEN)) < 0)
		return blob_rados_errno(rc);
	stamp[rc] = '\0';
	*out = strtoll(stamp, NULL, 10);
	return 0;
}

void blob_rados_counters(struct blob_backend *be, struct blob_rados_counters *out)
{
	struct rados_backend *rb = rb_of(be);

	out->reads = atomic_load(&rb->n.reads);
	out->reads_ahead = atomic_load(&rb->n.reads_ahead);
	out->reads_ahead_hit = atomic_load(&rb->n.reads_ahead_hit);
	out->reads_handed = atomic_load(&rb->n.reads_handed);
	out->creates_handed = atomic_load(&rb->n.creates_handed);
	out->creates_waited = atomic_load(&rb->n.creates_waited);
	out->creates = atomic_load(&rb->n.creates);
	out->has_rounds = atomic_load(&rb->n.has_rounds);
	out->has_objects = atomic_load(&rb->n.has_objects);
	out->refreshes = atomic_load(&rb->n.refreshes);
	out->timeouts = atomic_load(&rb->n.timeouts);
	out->map_asks = atomic_load(&rb->n.map_asks);
	out->disk_writes = atomic_load(&rb->n.disk_writes);
	out->disk_recs = atomic_load(&rb->n.disk_recs);
	out->disk_recs_peak = atomic_load(&rb->n.disk_recs_peak);
	out->disk_rec_keys = atomic_load(&rb->n.disk_rec_keys);
	out->disk_reads = atomic_load(&rb->n.disk_reads);
	out->disk_reads_peak = atomic_load(&rb->n.disk_reads_peak);
	out->disk_reads_started = atomic_load(&rb->n.disk_reads_started);
	out->parts_started = atomic_load(&rb->n.parts_started);
	out->disk_writes_started = atomic_load(&rb->n.disk_writes_started);
	out->disk_marks = atomic_load(&rb->n.disk_marks);
	out->disk_keys = atomic_load(&rb->n.disk_keys);
	out->part_reads = atomic_load(&rb->n.part_reads);
	out->part_bytes = atomic_load(&rb->n.part_bytes);
	out->creates_beside_rec = atomic_load(&rb->n.creates_beside_rec);
	out->digs_sent = atomic_load(&rb->n.digs_sent);
	out->digs_set = atomic_load(&rb->n.digs_set);
	out->digs_done = atomic_load(&rb->n.digs_done);
}

#else /* !IMGFS_HAVE_RADOS: built without librados */

int blob_backend_rados_new(struct blob_backend **out, const char *spec, const char *owner, bool claim, char *why,
                           size_t cap)
{
	struct rados_spec sp;
	int rc;

	(void)out;
	(void)owner;
	(void)claim;
	if ((rc = spec_parse(&sp, spec, why, cap)) < 0)
		return rc;
	blob_rados_why(why, cap, "this imgfs was built without librados (install librados-dev and build again)");
	return -EPROTONOSUPPORT;
}

int blob_rados_test_overwrite(struct blob_backend *be, const chunk_id *id, const void *buf, size_t len)
{
	(void)be;
	(void)id;
	(void)buf;
	(void)len;
	return -EPROTONOSUPPORT;
}

int blob_rados_test_set_digests(struct blob_backend *be, const chunk_id *id, const void *dig, size_t len)
{
	(void)be;
	(void)id;
	(void)dig;
	(void)len;
	return -EPROTONOSUPPORT;
}

int blob_rados_test_set_stamp(struct blob_backend *be, const chunk_id *id, int64_t t)
{
	(void)be;
	(void)id;
	(void)t;
	return -EPROTONOSUPPORT;
}

int blob_rados_test_get_stamp(struct blob_backend *be, const chunk_id *id, int64_t *out)
{
	(void)be;
	(void)id;
	(void)out;
	return -EPROTONOSUPPORT;
}

void blob_rados_test_fail_recs(struct blob_backend *be, int rec_err, int patch_err)
{
	(void)be;
	(void)rec_err;
	(void)patch_err;
}

void blob_rados_test_fail_drop(struct blob_backend *be, uint32_t i, int err)
{
	(void)be;
	(void)i;
	(void)err;
}

void blob_rados_test_fail_exists(struct blob_backend *be, int err)
{
	(void)be;
	(void)err;
}

int blob_rados_test_disk_objects(struct blob_backend *be, const char *name, uint32_t upto)
{
	(void)be;
	(void)name;
	(void)upto;
	return -EPROTONOSUPPORT;
}

int blob_rados_test_disk_header(struct blob_backend *be, const char *name, const void *buf, size_t len)
{
	(void)be;
	(void)name;
	(void)buf;
	(void)len;
	return -EPROTONOSUPPORT;
}

void blob_rados_test_hold_digs(struct blob_backend *be, bool hold)
{
	(void)be;
	(void)hold;
}

void blob_rados_test_hold_started(struct blob_backend *be, bool hold)
{
	(void)be;
	(void)hold;
}

void blob_rados_test_fail_ops(struct blob_backend *be, uint32_t mask, int err)
{
	(void)be;
	(void)mask;
	(void)err;
}

void blob_rados_test_hold_map(bool hold)
{
	(void)hold;
}

int blob_rados_test_conf(struct blob_backend *be, const char *name, char *out, size_t cap, unsigned *op_timeout)
{
	(void)be;
	(void)name;
	(void)out;
	(void)cap;
	*op_timeout = 0;
	return -EPROTONOSUPPORT;
}

int blob_rados_test_blocklist(struct blob_backend *be, const char *addr, unsigned secs)
{
	(void)be;
	(void)addr;
	(void)secs;
	return -EPROTONOSUPPORT;
}

int blob_rados_test_blocklisted(struct blob_backend *be, const char *addr, bool rm, int64_t *until)
{
	(void)be;
	(void)addr;
	(void)rm;
	*until = 0;
	return -EPROTONOSUPPORT;
}

void blob_rados_counters(struct blob_backend *be, struct blob_rados_counters *out)
{
	(void)be;
	memset(out, 0, sizeof *out);
}

#endif

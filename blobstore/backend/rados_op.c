/*
 * backend/rados_op.c — the RADOS backend's connection to a cluster (one
 * per store, one per open cluster disk: rados_disk.c) and its single
 * operations on one object (a chunk's read, create, timestamp check and refresh, removal),
 * each tried again after a timeout, and the one translation of what
 * librados returns into the errnos the store promises.  The design and
 * the failure rules: rados.c's header comment.
 *
 * Who calls it: rados.c (the table), rados_read.c, rados_batch.c; it
 * calls none of them.  Only built with librados.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rados_int.h"

#ifdef IMGFS_HAVE_RADOS

void blob_rados_why(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
}

/* ---- the connection ------------------------------------------------------ */

/* Sets option name to value when the configuration left it at the
 * library's default (what the admin wrote in the ceph.conf wins). */
static void conf_default(rados_t cluster, const char *name, const char *lib_default, const char *value)
{
	char cur[64];

	if (rados_conf_get(cluster, name, cur, sizeof cur) == 0 && strcmp(cur, lib_default) == 0)
		rados_conf_set(cluster, name, value);
}

/* A client of the cluster sp names, connected, and its pool (namespace)
 * open: 0, or -errno with the reason in why (the failures rados.c says). */
int blob_rados_connect(const struct rados_spec *sp, rados_t *cluster, rados_ioctx_t *io, unsigned *op_timeout, char *why,
                       size_t cap)
{
	const char *conf = sp->conf[0] ? sp->conf : "the default ceph.conf";
	char val[64];
	int rc;

	if ((rc = rados_create(cluster, sp->id[0] ? sp->id : NULL)) < 0) {
		*cluster = NULL;
		blob_rados_why(why, cap, "cannot start a RADOS client: %s", strerror(-rc));
		return blob_rados_errno(rc);
	}
	if ((rc = rados_conf_read_file(*cluster, sp->conf[0] ? sp->conf : NULL)) < 0) {
		if (sp->conf[0])
			blob_rados_why(why, cap, "cannot read %s: %s", sp->conf, strerror(-rc));
		else
			blob_rados_why(why, cap, "no ceph.conf in the usual places (name one with conf=FILE)");
		return rc == -ENOENT || rc == -EACCES ? rc : -EINVAL;
	}
	/* A client library must not write into the daemon's stderr. */
	rados_conf_set(*cluster, "log_to_stderr", "false");
	rados_conf_set(*cluster, "err_to_stderr", "false");
	conf_default(*cluster, "rados_osd_op_timeout", "0", RADOS_OP_TIMEOUT);
	conf_default(*cluster, "rados_mon_op_timeout", "0", RADOS_OP_TIMEOUT);
	conf_default(*cluster, "client_mount_timeout", "300", RADOS_MOUNT_TIMEOUT);
	if (rados_conf_get(*cluster, "rados_osd_op_timeout", val, sizeof val) == 0)
		*op_timeout = (unsigned)strtoul(val, NULL, 10);
	if ((rc = rados_connect(*cluster)) < 0) {
		blob_rados_why(why, cap, "cannot reach the Ceph cluster of %s: %s", conf, strerror(-rc));
		return -EIO;
	}
	if ((rc = blob_rados_ioctx(*cluster, sp->pool, sp->ns, io)) < 0) {
		*io = NULL;
		if (rc == -ENOENT)
			blob_rados_why(why, cap, "pool %s does not exist in the Ceph cluster of %s", sp->pool, conf);
		else if (rc == -ETIMEDOUT) /* (blob_rados_ioctx: the latest map, for a pool the client's does not name) */
			blob_rados_why(why, cap, "cannot open pool %s: the monitor did not give the latest OSD map within "
			               "%u s (could not tell whether the pool exists)", sp->pool,
			               blob_rados_map_secs(NULL, *cluster));
		else
			blob_rados_why(why, cap, "cannot open pool %s: %s", sp->pool, strerror(-rc));
		return rc == -ENOENT ? -ENOENT : blob_rados_errno(rc);
	}
	return 0;
}

/* Whether the OSD map client cluster holds names pool: 1, 0, or -errno.
 * rados_pool_list reads the map the client has (waiting for a first one
 * at most the monitor's op timeout); it asks the monitor nothing. */
static int pool_known(rados_t cluster, const char *pool)
{
	char small[1024], *buf = small;
	int n = rados_pool_list(cluster, buf, sizeof small), rc = 0;

	if (n > (int)sizeof small) { /* (the length it needs) */
		if ((buf = malloc((size_t)n)) == NULL)
			return -ENOMEM;
		n = rados_pool_list(cluster, buf, (size_t)n);
	}
	if (n < 0)
		rc = n;
	for (const char *p = buf; rc == 0 && n > 0 && p < buf + n && *p; p += strlen(p) + 1)
		if (strcmp(p, pool) == 0)
			rc = 1;
	if (buf != small)
		free(buf);
	return rc;
}

/* The one way imgfs opens a pool: namespace ns ("" for none), and every
 * operation sent through it marked FULL_TRY (SPEC §13 "A full pool").
 * Without the mark librados holds each write to a pool or cluster the
 * OSD map calls full until it is not (here: the operation timeout, three
 * tries, then EIO, a wait that tells the writer nothing), and holds
 * removals too, so that no deletion and no gc could free space.  With it
 * the OSD answers at once: -ENOSPC (-EDQUOT past a pool's quota) for what
 * would grow the pool, and it performs what shrinks it. */
int blob_rados_ioctx(rados_t cluster, const char *pool, const char *ns, rados_ioctx_t *io)
{
	int rc;

	/* A pool the client's map does not name: rados_ioctx_create would
	 * wait for the latest map with no end (a paused monitor held it for
	 * ever: issue 70's audit).  The latest map is asked here, within the
	 * monitor's op timeout (-ETIMEDOUT: could not tell, EIO), and a pool
	 * it does not name either is -ENOENT without librados's wait. */
	if ((rc = pool_known(cluster, pool)) == 0) {
		if ((rc = blob_rados_map(NULL, cluster, true)) < 0)
			return rc;
		rc = pool_known(cluster, pool);
	}
	if (rc <= 0)
		return rc < 0 ? rc : -ENOENT;
	if ((rc = rados_ioctx_create(cluster, pool, io)) < 0)
		return rc;
	rados_ioctx_set_namespace(*io, ns); /* "": the default one */
	rados_set_pool_full_try(*io);
	return 0;
}

/* Each object name of io's namespace, in the listing's order, to cb (a
 * non-zero answer stops the listing and is returned); 0 at the listing's
 * end, or the listing's own failure (librados's, not translated) with
 * *failed set.  The one loop over a pool's listing: rados.c's chunks,
 * rados_sweep.c's disk objects and its tests' purge. */
int blob_rados_each_name(rados_ioctx_t io, int (*cb)(void *arg, const char *oid), void *arg, bool *failed)
{
	rados_list_ctx_t ctx;
	int rc;

	*failed = false;
	if ((rc = rados_nobjects_list_open(io, &ctx)) < 0) {
		*failed = true;
		return rc;
	}
	for (;;) {
		const char *oid;

		if ((rc = rados_nobjects_list_next(ctx, &oid, NULL, NULL)) < 0) {
			*failed = rc != -ENOENT; /* ENOENT: the end */
			rc = *failed ? rc : 0;
			break;
		}
		if ((rc = cb(arg, oid)) != 0)
			break;
	}
	rados_nobjects_list_close(ctx);
	return rc;
}

/* ---- one operation on one object ------------------------------------------ */

/* The one translation of what librados returns (after the retries) into
 * the errnos the store promises: a timeout or a lost connection is an I/O
 * error, a full pool or cluster is ENOSPC (SPEC §9). */
int blob_rados_errno(int rc)
{
	switch (-rc) {
	case 0:
	case ENOENT:
	case EEXIST:
	case ENOMEM:
	case ERANGE:
	case EINVAL:
	case ECANCELED:
		return rc;
	case ENOSPC:
	case EDQUOT:
		return -ENOSPC;
	default: /* ETIMEDOUT, ESHUTDOWN (blocklisted), EIO, anything else */
		return rc < 0 ? -EIO : rc;
	}
}

void blob_rados_stamp_fmt(char out[RADOS_STAMP_LEN + 1], int64_t t)
{
	snprintf(out, RADOS_STAMP_LEN + 1, "%020lld", (long long)(t < 0 ? 0 : t));
}

/* ---- one operation on one object, tried again after a timeout ---------- */

/* The fault a test asked for on this operation (blob_rados_test_fail_ops),
 * or 0: one atomic load when none is. */
int blob_rados_test_fault(struct rados_backend *rb)
{
	unsigned mask = atomic_load(&rb->test_ops_mask);

	while (mask != 0 && !atomic_compare_exchange_weak(&rb->test_ops_mask, &mask, mask >> 1))
		;
	return (mask & 1) != 0 ? atomic_load(&rb->test_ops_err) : 0;
}

void blob_rados_test_fail_ops(struct blob_backend *be, uint32_t mask, int err)
{
	atomic_store(&rb_of(be)->test_ops_err, err);
	atomic_store(&rb_of(be)->test_ops_mask, mask);
}

int blob_rados_test_conf(struct blob_backend *be, const char *name, char *out, size_t cap, unsigned *op_timeout)
{
	*op_timeout = rb_of(be)->op_timeout;
	return rados_conf_get(rb_of(be)->cluster, name, out, cap);
}

/* ---- the latest OSD map, waited for with an end ----------------------------- */

/* rados_wait_for_latest_osdmap asks the monitor and waits for its answer
 * with no timeout of its own (rados_mon_op_timeout does not bound it, in
 * Pacific as in Quincy): a monitor that does not answer (paused, cut off)
 * held a move's fence 8 min 38 s and a host's housekeeping as long (issue
 * 70).  So the wait runs on a thread of its own, one at a time per client
 * (a second asker shares it), and the asker waits for it at most the
 * monitor's op timeout (rados_mon_op_timeout: what the monitor is given
 * for any answer; SPEC §13 "Failure behaviour"): then it is -ETIMEDOUT,
 * the operation's EIO.  (The OSD's op timeout was too short a bound: with
 * 1 s, a monitor slow under load failed reads that would have worked.)  The thread stays in librados until the monitor
 * answers; a client closed meanwhile is shut down by that thread once it
 * returns (blob_rados_shutdown), so nothing frees what librados is still
 * using, and no more than one such thread waits per client. */
struct mapw {
	rados_t cluster;
	bool busy;           /* its thread is in rados_wait_for_latest_osdmap */
	bool orphan;         /* the client was closed meanwhile: the thread shuts it down */
	uint64_t want, done; /* waits asked for, waits that returned (numbered from 1) */
	struct mapw *next;
};
static pthread_mutex_t mapw_lock = PTHREAD_MUTEX_INITIALIZER;
IMGFS_LOCK_LEVEL(mapw_lock, 52); /* a leaf: the map waits (librados called without it; under rados_disk_lock) */
static pthread_cond_t mapw_cond;
static pthread_once_t mapw_once = PTHREAD_ONCE_INIT;
static struct mapw *mapws;                   /* one per client that ever asked */
static atomic_int mapw_test_hold;             /* tests: blob_rados_test_hold_map */

static void mapw_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the waits use monotonic deadlines */
	pthread_cond_init(&mapw_cond, &ca);
	pthread_condattr_destroy(&ca);
}

static void *mapw_main(void *arg)
{
	struct mapw *m = arg;
	bool orphan;

	IMGFS_LOCK(&mapw_lock, mapw_lock);
	while (m->want > m->done && !m->orphan) {
		uint64_t g = m->done + 1;

		IMGFS_UNLOCK(&mapw_lock, mapw_lock);
		while (atomic_load(&mapw_test_hold)) /* a test's monitor that does not answer */
			nanosleep(&(struct timespec){0, 10000000}, NULL);
		rados_wait_for_latest_osdmap(m->cluster);
		IMGFS_LOCK(&mapw_lock, mapw_lock);
		m->done = g;
		pthread_cond_broadcast(&mapw_cond);
	}
	m->busy = false;
	orphan = m->orphan; /* (then out of the list already) */
	IMGFS_UNLOCK(&mapw_lock, mapw_lock);
	if (orphan) {
		rados_shutdown(m->cluster);
		free(m);
	}
	return NULL;
}

unsigned blob_rados_map_secs(struct rados_backend *rb, rados_t cluster)
{
	char val[64];
	unsigned secs = 0;

	if (rados_conf_get(cluster, "rados_mon_op_timeout", val, sizeof val) == 0)
		secs = (unsigned)strtoul(val, NULL, 10);
	if (secs == 0) /* (the admin's "for ever": bounded all the same) */
		secs = rb && rb->op_timeout > 0 ? rb->op_timeout : (unsigned)atoi(RADOS_OP_TIMEOUT);
	return secs;
}

int blob_rados_map(struct rados_backend *rb, rados_t cluster, bool wait)
{
	unsigned secs = blob_rados_map_secs(rb, cluster);
	struct timespec end;
	struct mapw *m;
	uint64_t target;
	int rc = 0;

	if (rb != NULL)
		atomic_fetch_add(&rb->n.map_asks, 1);
	pthread_once(&mapw_once, mapw_init);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += secs;
	IMGFS_LOCK(&mapw_lock, mapw_lock);
	for (m = mapws; m != NULL && m->cluster != cluster; m = m->next)
		;
	if (m == NULL) {
		if ((m = calloc(1, sizeof *m)) == NULL) {
			IMGFS_UNLOCK(&mapw_lock, mapw_lock);
			return -ENOMEM;
		}
		m->cluster = cluster;
		m->next = mapws;
		mapws = m;
	}
	/* A map asked for after now: the wait in flight may have asked before. */
	target = m->done + (m->busy ? 2 : 1);
	if (m->want < target)
		m->want = target;
	if (!m->busy) {
		pthread_attr_t at;
		pthread_t th;

		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		m->busy = pthread_create(&th, &at, mapw_main, m) == 0;
		pthread_attr_destroy(&at);
		if (!m->busy)
			rc = -EAGAIN;
	}
	while (rc == 0 && m->done < target)
		if (!wait || IMGFS_COND_TIMEDWAIT(&mapw_cond, &mapw_lock, &end, mapw_lock) == ETIMEDOUT)
			rc = -ETIMEDOUT;
	IMGFS_UNLOCK(&mapw_lock, mapw_lock);
	return rc;
}

void blob_rados_shutdown(rados_t cluster)
{
	struct mapw **p, *m = NULL;

	if (cluster == NULL)
		return;
	pthread_once(&mapw_once, mapw_init);
	IMGFS_LOCK(&mapw_lock, mapw_lock);
	for (p = &mapws; *p != NULL; p = &(*p)->next)
		if ((*p)->cluster == cluster) {
			m = *p;
			*p = m->next;
			break;
		}
	if (m != NULL && m->busy) { /* its thread shuts the client down */
		m->orphan = true;
		m = NULL;
		cluster = NULL;
	}
	IMGFS_UNLOCK(&mapw_lock, mapw_lock);
	free(m);
	if (cluster != NULL)
		rados_shutdown(cluster);
}

void blob_rados_test_hold_map(bool hold)
{
	atomic_store(&mapw_test_hold, hold);
}

int blob_rados_blocklist(rados_t cluster, const char *addr, unsigned secs)
{
	const char *verb[] = {"blocklist", "blacklist"}; /* (before Pacific: the second) */
	int rc = -EINVAL;

	/* (what a header records: an address, nothing a command's JSON would
	 * read otherwise) */
	if (addr[0] == '\0' || strspn(addr, "0123456789abcdefABCDEF.:/[]v") != strlen(addr))
		return -EINVAL;
	for (int i = 0; i < 2 && rc == -EINVAL; i++) {
		char cmd[RADOS_ADDR_MAX + 128], *out = NULL, *outs = NULL;
		const char *argv[] = {cmd};
		size_t outlen = 0, outslen = 0;

		snprintf(cmd, sizeof cmd, "{\"prefix\": \"osd %s\", \"%sop\": \"add\", \"addr\": \"%s\", \"expire\": %u.0}",
		         verb[i], verb[i], addr, secs);
		rc = rados_mon_command(cluster, argv, 1, NULL, 0, &out, &outlen, &outs, &outslen);
		rados_buffer_free(out);
		rados_buffer_free(outs);
	}
	return rc;
}

int blob_rados_test_blocklist(struct blob_backend *be, const char *addr, unsigned secs)
{
	return blob_rados_blocklist(rb_of(be)->cluster, addr, secs);
}

int blob_rados_test_blocklisted(struct blob_backend *be, const char *addr, bool rm, int64_t *until)
{
	const char *ls = "{\"prefix\": \"osd blocklist ls\", \"format\": \"json\"}", *argv[] = {ls};
	char *out = NULL, *outs = NULL, key[RADOS_ADDR_MAX + 16];
	size_t outlen = 0, outslen = 0;
	struct tm tm;
	int rc;

	/* [{"addr":"A","until":"2026-11-29T08:07:17.460287+0000"}, ...] */
	if (strlen(addr) >= RADOS_ADDR_MAX)
		return -EINVAL;
	if ((rc = rados_mon_command(rb_of(be)->cluster, argv, 1, NULL, 0, &out, &outlen, &outs, &outslen)) == 0) {
		char *json = strndup(out ? out : "", outlen), *at;

		snprintf(key, sizeof key, "\"addr\":\"%s\",\"until\":\"", addr);
		memset(&tm, 0, sizeof tm);
		rc = json == NULL ? -ENOMEM : (at = strstr(json, key)) == NULL ? -ENOENT : 0;
		if (rc == 0 && sscanf(at + strlen(key), "%d-%d-%d%*c%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
			rc = -EBADMSG;
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		*until = rc == 0 ? (int64_t)timegm(&tm) : 0;
		free(json);
	}
	rados_buffer_free(out);
	rados_buffer_free(outs);
	if (rc == 0 && rm) {
		char cmd[RADOS_ADDR_MAX + 96];
		const char *rmv[] = {cmd};

		snprintf(cmd, sizeof cmd, "{\"prefix\": \"osd blocklist\", \"blocklistop\": \"rm\", \"addr\": \"%s\"}",
		         addr);
		out = outs = NULL;
		int r = rados_mon_command(rb_of(be)->cluster, rmv, 1, NULL, 0, &out, &outlen, &outs, &outslen);
		rados_buffer_free(out);
		rados_buffer_free(outs);
		rc = r < 0 ? r : 0;
	}
	return rc;
}

/* The line of an operation given up because the monitor did not give the
 * latest OSD map within the op timeout. */
static void map_unanswered(struct rados_backend *rb, rados_t cluster, const char *oid, const char *what)
{
	blob_log_line(rb->log,
	              "rados %s: object %s: %s: the monitor did not give the latest OSD map within %u s: giving up: EIO",
	              rb->where, oid, what, blob_rados_map_secs(rb, cluster));
}

/* Runs fn on object oid until it does not time out, waiting for the
 * latest OSD map before each new try, RADOS_ATTEMPTS tries in all counting
 * from `first`; returns what librados returned (not translated). */
int blob_rados_run(struct rados_backend *rb, const char *oid, const char *what, rados_op_fn fn,
                   struct rados_call *call, int first)
{
	for (int attempt = first;; attempt++) {
		int rc = blob_rados_test_fault(rb);

		if (rc == 0)
			rc = fn(rb, oid, call);
		if (rc != -ETIMEDOUT)
			return rc;
		atomic_fetch_add(&rb->n.timeouts, 1);
		if (attempt >= RADOS_ATTEMPTS) {
			blob_log_line(rb->log, "rados %s: object %s: %s timed out %d times (%u s each): giving up: EIO",
			              rb->where, oid, what, RADOS_ATTEMPTS, rb->op_timeout);
			return rc;
		}
		blob_log_line(rb->log,
		              "rados %s: object %s: %s timed out after %u s (try %d of %d); waiting for the latest OSD map",
		              rb->where, oid, what, rb->op_timeout, attempt, RADOS_ATTEMPTS);
		if (blob_rados_map(rb, rb->cluster, true) < 0) {
			map_unanswered(rb, rb->cluster, oid, what);
			return rc;
		}
	}
}

bool blob_rados_again(struct rados_backend *rb, rados_t cluster, const char *oid, const char *what, int rc,
                      int *tries)
{
	if (rc != -ETIMEDOUT)
		return false;
	atomic_fetch_add(&rb->n.timeouts, 1);
	++*tries;
	blob_log_line(rb->log, "rados %s: object %s: %s timed out after %u s (try %d of %d)%s", rb->where, oid, what,
	              rb->op_timeout, *tries, RADOS_ATTEMPTS,
	              *tries < RADOS_ATTEMPTS ? "; waiting for the latest OSD map" : ": giving up: EIO");
	if (*tries >= RADOS_ATTEMPTS) { /* asked for the next operation, not waited for */
		blob_rados_map(rb, cluster, false);
		return false;
	}
	if (blob_rados_map(rb, cluster, true) < 0) {
		map_unanswered(rb, cluster, oid, what);
		return false;
	}
	return true;
}

/* Whole chunk: stat + read in one operation (an object longer than a
 * chunk is damaged, not silently cut). */
int blob_rados_op_read(struct rados_backend *rb, const char *oid, struct rados_call *call)
{
	rados_read_op_t op = rados_create_read_op();
	int stat_rv = 0, read_rv = 0, rc;
	time_t mtime;

	if (op == NULL)
		return -ENOMEM;
	atomic_fetch_add(&rb->n.reads, 1);
	rados_read_op_stat(op, &call->size, &mtime, &stat_rv);
	rados_read_op_read(op, 0, call->rcap, call->rbuf, &call->got, &read_rv);
	rc = rados_read_op_operate(op, rb->io, oid, LIBRADOS_OPERATION_NOFLAG);
	rados_release_read_op(op);
	if (rc == 0)
		rc = stat_rv < 0 ? stat_rv : read_rv;
	return rc;
}

/* The chunk's creation: bytes and timestamp, only if the object is absent. */
static int op_create(struct rados_backend *rb, const char *oid, struct rados_call *call)
{
	rados_write_op_t op = rados_create_write_op();
	char stamp[RADOS_STAMP_LEN + 1];
	int rc;

	if (op == NULL)
		return -ENOMEM;
	blob_rados_stamp_fmt(stamp, (int64_t)time(NULL));
	atomic_fetch_add(&rb->n.creates, 1);
	if (atomic_load(&rb->n.disk_recs_now) > 0)
		atomic_fetch_add(&rb->n.creates_beside_rec, 1);
	rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	rados_write_op_write_full(op, call->wbuf, call->wlen);
	rados_write_op_setxattr(op, RADOS_STAMP_XATTR, stamp, RADOS_STAMP_LEN);
	if (call->dig != NULL)
		rados_write_op_setxattr(op, RADOS_DIG_XATTR, (const char *)call->dig, BLOB_DIG_LEN(call->wlen));
	rc = rados_write_op_operate(op, rb->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return rc;
}

/* Part of a chunk (call->rcap bytes at call->off into call->rbuf) and its
 * block digests (into call->dbuf when they fit in call->dcap; else
 * call->dlen = 0; call->dbuf NULL: not asked for), in one read
 * operation. */
int blob_rados_op_read_part(struct rados_backend *rb, const char *oid, struct rados_call *call)
{
	rados_read_op_t op = rados_create_read_op();
	rados_xattrs_iter_t it = NULL;
	int read_rv = 0, xattr_rv = 0, rc;
	size_t brought = 0;

	if (op == NULL)
		return -ENOMEM;
	atomic_fetch_add(&rb->n.part_reads, 1);
	call->got = call->dlen = 0;
	rados_read_op_read(op, call->off, call->rcap, call->rbuf, &call->got, &read_rv);
	if (call->dbuf != NULL)
		rados_read_op_getxattrs(op, &it, &xattr_rv);
	rc = rados_read_op_operate(op, rb->io, oid, LIBRADOS_OPERATION_NOFLAG);
	rados_release_read_op(op);
	if (rc == 0)
		rc = read_rv < 0 ? read_rv : xattr_rv < 0 ? xattr_rv : 0;
	if (rc == 0 && it != NULL) {
		const char *name, *val;
		size_t len;

		while (rados_getxattrs_next(it, &name, &val, &len) == 0 && name != NULL)
			if (strcmp(name, RADOS_DIG_XATTR) == 0) {
				brought = len;
				if (len <= call->dcap) {
					memcpy(call->dbuf, val, len);
					call->dlen = len;
				}
			}
	}
	if (it != NULL)
		rados_getxattrs_end(it);
	if (rc == 0)
		atomic_fetch_add(&rb->n.part_bytes, call->got + brought);
	return rc;
}

/* >= 0 when the object's timestamp is at least call->t, -ECANCELED when
 * older (or missing), -ENOENT when there is no object. */
static int op_fresh(struct rados_backend *rb, const char *oid, struct rados_call *call)
{
	rados_read_op_t op = rados_create_read_op();
	char stamp[RADOS_STAMP_LEN + 1];
	int rc;

	if (op == NULL)
		return -ENOMEM;
	blob_rados_stamp_fmt(stamp, call->t);
	rados_read_op_cmpxattr(op, RADOS_STAMP_XATTR, LIBRADOS_CMPXATTR_OP_LTE, stamp, RADOS_STAMP_LEN);
	rc = rados_read_op_operate(op, rb->io, oid, LIBRADOS_OPERATION_NOFLAG);
	rados_release_read_op(op);
	return rc;
}

/* Sets the timestamp to now on an object that exists (-ENOENT if not). */
static int op_touch(struct rados_backend *rb, const char *oid, struct rados_call *call)
{
	rados_write_op_t op = rados_create_write_op();
	char stamp[RADOS_STAMP_LEN + 1];
	int rc;

	(void)call;
	if (op == NULL)
		return -ENOMEM;
	atomic_fetch_add(&rb->n.refreshes, 1);
	blob_rados_stamp_fmt(stamp, (int64_t)time(NULL));
	rados_write_op_assert_exists(op);
	rados_write_op_setxattr(op, RADOS_STAMP_XATTR, stamp, RADOS_STAMP_LEN);
	rc = rados_write_op_operate(op, rb->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return rc;
}

/* Removes the object only if its timestamp is older than call->t:
 * 0 removed, -ECANCELED kept, -ENOENT absent.  A missing timestamp
 * compares as the oldest. */
int blob_rados_op_del_older(struct rados_backend *rb, const char *oid, struct rados_call *call)
{
	rados_write_op_t op = rados_create_write_op();
	char stamp[RADOS_STAMP_LEN + 1];
	int rc;

	if (op == NULL)
		return -ENOMEM;
	blob_rados_stamp_fmt(stamp, call->t);
	rados_write_op_cmpxattr(op, RADOS_STAMP_XATTR, LIBRADOS_CMPXATTR_OP_GT, stamp, RADOS_STAMP_LEN);
	rados_write_op_remove(op);
	rc = rados_write_op_operate(op, rb->io, oid, NULL, LIBRADOS_OPERATION_NOFLAG);
	rados_release_write_op(op);
	return rc;
}

int blob_rados_op_stat(struct rados_backend *rb, const char *oid, struct rados_call *call)
{
	time_t mtime;

	return rados_stat(rb->io, oid, &call->size, &mtime);
}

/* The size and the timestamp xattr (what del_older compares). */
int blob_rados_op_stat_stamp(struct rados_backend *rb, const char *oid, struct rados_call *call)
{
	char stamp[RADOS_STAMP_LEN + 1];
	time_t mtime;
	int rc;

	if ((rc = rados_stat(rb->io, oid, &call->size, &mtime)) < 0)
		return rc;
	if ((rc = rados_getxattr(rb->io, oid, RADOS_STAMP_XATTR, stamp, RADOS_STAMP_LEN)) < 0)
		return rc;
	stamp[rc] = '\0';
	call->t = strtoll(stamp, NULL, 10);
	return 0;
}

int blob_rados_op_remove(struct rados_backend *rb, const char *oid, struct rados_call *call)
{
	(void)call;
	return rados_remove(rb->io, oid);
}

/* A found chunk kept from gc: its timestamp refreshed unless it is fresh.
 * 1 there, 0 absent (maybe removed by gc just now), else -errno. */
int blob_rados_refresh(struct rados_backend *rb, const char *oid, int first)
{
	struct rados_call call = {.t = (int64_t)time(NULL) - RADOS_FRESH};
	int rc;

	rc = blob_rados_run(rb, oid, "a timestamp check", op_fresh, &call, first);
	if (rc == -ECANCELED)
		rc = blob_rados_run(rb, oid, "a timestamp refresh", op_touch, &call, 1);
	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? blob_rados_errno(rc) : 1;
}

/* put's answer for oid after a create that may have hit an existing
 * object (first: the try number of the create to run, or 0 when the
 * caller's create already said -EEXIST): 1 created, 0 there already. */
int blob_rados_place(struct rados_backend *rb, const char *oid, const void *buf, size_t len, const uint8_t *dig,
                     int first)
{
	struct rados_call call = {.wbuf = buf, .wlen = len, .dig = dig};
	int rc;

	/* Twice at most: a chunk found and then removed by gc before its
	 * refresh is created again. */
	for (int round = 0; round < 2; round++) {
		if (round == 0 && first == 0)
			rc = -EEXIST;
		else
			rc = blob_rados_run(rb, oid, "a write", op_create, &call, round == 0 ? first : 1);
		if (rc == 0)
			return 1;
		if (rc != -EEXIST)
			return blob_rados_errno(rc);
		/* Another writer placed the same id: the same bytes. */
		if ((rc = blob_rados_refresh(rb, oid, 1)) != 0)
			return rc < 0 ? rc : 0;
	}
	return -EIO;
}

#endif /* IMGFS_HAVE_RADOS */

/*
 * test_rados.c — unit tests for blobstore/backend/rados.c: store
 * specs refused with a reason (malformed, a pool that does not exist, a
 * cluster that does not answer, a pool holding another region's chunks);
 * the timestamp gc goes by, set on creation and refreshed by a put, a
 * batch and a copy that find the chunk (unless it is fresh); gc's atomic
 * compare-and-remove; an object longer than a chunk is damaged; and what
 * the fast paths cost, counted: a copy asks about 64 chunks per round trip
 * and reads nothing the target has, a sequential read is served by reads
 * started ahead, a random one starts none, a chunk read ahead and still
 * wanted is not dropped for one further on, an upload's and a put's writes
 * are sent from buffers handed over rather than copied again, a batch
 * keeps at least 4 writes in flight, copies between a local and a RADOS
 * store both ways.  It runs with a cluster (IMGFS_TEST_CEPH_CONF: ctest's
 * _rados run) or not at all (exit 77: skipped).
 */
#include <stdio.h>

#include "blobstore/blob_test.h"

static void assert_refused(const char *spec, int want, const char *reason_part)
{
	uint8_t secret[BLOB_SECRET_SIZE];
	char why[256] = "";
	blob_store *s = NULL;

	fx_secret(secret, 1);
	assert_int_equal(blob_store_open_spec(&s, spec, "/nonexistent/imgfs-test", "r", secret, why, sizeof why), want);
	assert_null(s);
	fprintf(stderr, "    %s: %s\n", spec, why);
	assert_non_null(strstr(why, reason_part));
	assert_null(strchr(why, '\n'));
}

/* Malformed specs are refused before anything is contacted. */
static void test_spec_refusals(void **state)
{
	(void)state;
	assert_refused("rados:", -EINVAL, "pool name");
	assert_refused("rados:a/b", -EINVAL, "pool name");
	assert_refused("rados:p,conf=relative.conf", -EINVAL, "absolute path");
	assert_refused("rados:p,conf=", -EINVAL, "absolute path");
	assert_refused("rados:p,conf=/x\x01y", -EINVAL, "control character");
	assert_refused("rados:p,color=blue", -EINVAL, "options are");
	assert_refused("rados:p,id", -EINVAL, "options are");
	assert_refused("rados:p,id=a,id=b", -EINVAL, "twice");
	assert_refused("rados:p,id=client.admin/x", -EINVAL, "id=CLIENT");
	assert_refused("rados:p,ns=", -EINVAL, "ns=NAMESPACE");
	assert_refused("s3:bucket", -EINVAL, "a store is");
	assert_refused("dir:relative", -EINVAL, "absolute");
}

/* Whether this imgfs was built with librados. */
static bool built_with_rados(void)
{
	uint8_t secret[BLOB_SECRET_SIZE] = {0};
	char why[256];

	return blob_store_check_spec("rados:p,conf=/nonexistent/ceph.conf", "r", secret, why, sizeof why) !=
	       -EPROTONOSUPPORT;
}

/* A cluster that does not answer (a monitor address nothing listens on,
 * on loopback) is a one-line refusal after the mount timeout. */
static void test_unreachable_cluster(void **state)
{
	struct blob_fx *fx = *state;
	char conf[160], spec[256];
	FILE *f;

	if (!built_with_rados())
		skip();
	snprintf(conf, sizeof conf, "%s/dead.conf", fx->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[global]\nmon host = v2:127.0.0.1:1\nauth cluster required = none\n"
	           "auth service required = none\nauth client required = none\n"
	           "[client]\nclient mount timeout = 2\nlog to file = false\n");
	fclose(f);
	snprintf(spec, sizeof spec, "rados:p,conf=%s", conf);
	assert_refused(spec, -EIO, "cannot reach the Ceph cluster");
	snprintf(spec, sizeof spec, "rados:p,conf=%s/absent.conf", fx->dir);
	assert_refused(spec, -ENOENT, "cannot read");
}

/* A pool the client's OSD map does not name is looked for in the latest
 * map, waited for the monitor's op timeout (2 s in this ceph.conf): a
 * monitor that does not give it (blob_rados_test_hold_map) is EIO, could
 * not tell, never ENOENT; one that does, ENOENT.  (Issue 70's audit: a
 * paused monitor held rados_ioctx_create of such a pool for ever — its own
 * wait for the latest map has no end.) */
static void test_missing_pool(void **state)
{
	struct blob_fx *fx = *state;
	char spec[256], conf[160], text[8192];
	FILE *f;
	size_t n;

	fx_cluster_only(fx);
	snprintf(spec, sizeof spec, "rados:no-such-pool,conf=%s", fx->ceph_conf);
	assert_refused(spec, -ENOENT, "does not exist");
	f = fopen(fx->ceph_conf, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	snprintf(conf, sizeof conf, "%s/mon2.conf", fx->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "%s\n[client]\nrados mon op timeout = 2\n", text); /* (the last word wins) */
	fclose(f);
	snprintf(spec, sizeof spec, "rados:no-such-pool,conf=%s", conf);
	blob_rados_test_hold_map(true);
	assert_refused(spec, -EIO, "the monitor did not give the latest OSD map within 2 s (could not tell");
	blob_rados_test_hold_map(false);
	assert_refused(spec, -ENOENT, "does not exist");
}

/* A pool (namespace) holds one region's chunks: another region, or the
 * same name in another service (another secret), is refused — opening
 * and checking alike — so that no gc collects another's chunks. */
static void test_owner(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t other[BLOB_SECRET_SIZE];
	char spec[512], why[256] = "", dir[160];
	blob_store *s = NULL;

	fx_cluster_only(fx);
	snprintf(spec, sizeof spec, "rados:%s,conf=%s,ns=%s", FX_POOL, fx->ceph_conf, fx->ns[0]);
	snprintf(dir, sizeof dir, "%s/again", fx->dir);
	/* fx->s is region "store" of secret 1. */
	assert_int_equal(blob_store_check_spec(spec, "store", fx->secret, why, sizeof why), 0);
	assert_int_equal(blob_store_open_spec(&s, spec, dir, "store", fx->secret, why, sizeof why), 0);
	blob_store_close(s);
	s = NULL;
	assert_int_equal(blob_store_open_spec(&s, spec, dir, "other", fx->secret, why, sizeof why), -EBUSY);
	fprintf(stderr, "    %s\n", why);
	assert_non_null(strstr(why, "another region"));
	assert_int_equal(blob_store_check_spec(spec, "other", fx->secret, why, sizeof why), -EBUSY);
	fx_secret(other, 9);
	assert_int_equal(blob_store_open_spec(&s, spec, dir, "store", other, why, sizeof why), -EBUSY);
	assert_null(s);
	/* A check of a fresh namespace claims nothing: two regions may both
	 * be checked, and the first to open it owns it. */
	snprintf(spec, sizeof spec, "rados:%s,conf=%s,ns=%s-fresh", FX_POOL, fx->ceph_conf, fx->ns[0]);
	assert_int_equal(blob_store_check_spec(spec, "a", fx->secret, why, sizeof why), 0);
	assert_int_equal(blob_store_check_spec(spec, "b", fx->secret, why, sizeof why), 0);
}

static void random_chunks(struct blob_fx *fx, blob_store *s, chunk_id *ids, int n)
{
	uint8_t *buf = malloc(MiB);

	assert_non_null(buf);
	for (int i = 0; i < n; i++) {
		fx_fill(fx, buf, MiB);
		assert_int_equal(blob_store_put_chunk(s, &ids[i], buf, MiB), 1);
	}
	free(buf);
}

static int64_t stamp_of(blob_store *s, const chunk_id *id)
{
	int64_t t = -1;

	assert_int_equal(blob_rados_test_get_stamp(s->be, id, &t), 0);
	return t;
}

/* The timestamp: set by a create; refreshed when a put, a batch or a copy
 * finds the chunk and its timestamp is older than ten minutes; left alone
 * when fresher (no write for a found chunk). */
static void test_stamps(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *data;
	time_t now = time(NULL);
	blob_store *src = NULL;
	blob_batch *b = NULL;
	chunk_id id, ids[3], got;

	fx_cluster_only(fx); /* before anything is allocated: skip() returns */
	data = malloc(MiB);
	assert_non_null(data);
	fx_fill(fx, data, MiB);
	assert_int_equal(blob_store_put_chunk(fx->s, &id, data, MiB), 1);
	assert_true(stamp_of(fx->s, &id) >= now);
	/* put */
	fx_age(fx, &id, now - 300);
	assert_int_equal(blob_store_put_chunk(fx->s, &got, data, MiB), 0);
	assert_int_equal(stamp_of(fx->s, &id), now - 300);
	fx_age(fx, &id, now - 900);
	assert_int_equal(blob_store_put_chunk(fx->s, &got, data, MiB), 0);
	assert_true(stamp_of(fx->s, &id) >= now);
	/* a batch (its exclusive create finds it) */
	fx_age(fx, &id, now - 900);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(blob_batch_add(b, &got, data, MiB), 1);
	assert_int_equal(blob_batch_commit(b), 0); /* placed nothing new */
	blob_batch_free(b);
	assert_true(stamp_of(fx->s, &id) >= now);
	/* a copy (found by the batched check) */
	assert_int_equal(fx_open_store(fx, &src, "src", fx->secret), 0);
	random_chunks(fx, src, ids, 3);
	assert_int_equal(blob_store_copy_chunk(fx->s, src, &ids[0]), 1);
	assert_int_equal(blob_store_copy_chunk(fx->s, src, &ids[1]), 1);
	fx_age(fx, &ids[0], now - 900);
	fx_age(fx, &ids[1], now - 300);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	uint8_t moved[3];
	assert_int_equal(blob_batch_copy_many(b, src, ids, 3, moved), 1);
	assert_int_equal(moved[0], 0);
	assert_int_equal(moved[1], 0);
	assert_int_equal(moved[2], 1);
	assert_int_equal(blob_batch_commit(b), 1);
	blob_batch_free(b);
	assert_true(stamp_of(fx->s, &ids[0]) >= now);
	assert_int_equal(stamp_of(fx->s, &ids[1]), now - 300);
	assert_true(stamp_of(fx->s, &ids[2]) >= now);
	blob_store_close(src);
	free(data);
}

/* gc's removal compares and removes in one operation: an old chunk goes,
 * a fresh one (refreshed a moment before) stays, an absent one is 0. */
static void test_del_if_older(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	time_t now = time(NULL);
	chunk_id ids[2], absent;

	fx_cluster_only(fx);
	random_chunks(fx, fx->s, ids, 2);
	fx_age(fx, &ids[0], now - 7200);
	assert_int_equal(be->del_if_older(be, &ids[0], now - 3600), 1);
	assert_int_equal(blob_store_has_chunk(fx->s, &ids[0]), 0);
	assert_int_equal(be->del_if_older(be, &ids[1], now - 3600), 0);
	assert_int_equal(blob_store_has_chunk(fx->s, &ids[1]), 1);
	memset(&absent, 0x77, sizeof absent);
	assert_int_equal(be->del_if_older(be, &absent, now), 0);
}

/* An object longer than any stored chunk (a sealed one, SPEC §17,
 * included) is damaged, whatever its first MiB says. */
static void test_overlong_object(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *buf, *got;
	size_t len;
	chunk_id id;

	fx_cluster_only(fx);
	buf = malloc(BLOB_OBJ_MAX + 10);
	got = malloc(BLOB_OBJ_MAX);
	assert_non_null(buf);
	assert_non_null(got);
	fx_fill(fx, buf, BLOB_OBJ_MAX + 10);
	assert_int_equal(blob_store_put_chunk(fx->s, &id, buf, MiB), 1);
	assert_int_equal(blob_rados_test_overwrite(fx->s->be, &id, buf, BLOB_OBJ_MAX + 10), 0);
	assert_int_equal(blob_store_get_chunk(fx->s, &id, got, BLOB_OBJ_MAX, &len), -EIO);
	free(buf);
	free(got);
}

/* rados.c's RADOS_NAME_MAX: a pool's, a client's or a namespace's name. */
#define NAME_LIMIT 64

/* A spec the parser takes gets as far as the cluster's configuration: a
 * conf= file that is not there is -ENOENT "cannot read" (or, for a path
 * the system cannot open at all, -EINVAL "cannot read"), nothing
 * contacted. */
static void assert_parsed(const char *spec)
{
	uint8_t secret[BLOB_SECRET_SIZE];
	char why[256] = "";
	blob_store *s = NULL;
	int rc;

	fx_secret(secret, 1);
	rc = blob_store_open_spec(&s, spec, "/nonexistent/imgfs-test", "r", secret, why, sizeof why);
	assert_null(s);
	if (rc != -ENOENT && rc != -EINVAL)
		fail_msg("%s: %d (%s)", spec, rc, why);
	assert_non_null(strstr(why, "cannot read"));
}

/* Every bound of the spec at its limit and one past: a pool's, a client's
 * and a namespace's name of NAME_LIMIT (64) characters is taken, 65
 * is refused; so is a conf= path of PATH_MAX - 1 bytes and one of
 * PATH_MAX; each end of each class of a name's characters is taken and
 * its neighbour outside refused; a control character in a conf= path is
 * refused (0x1f, 0x7f) where a space and '~' are taken; a key one letter
 * off is refused. */
static void test_spec_limits(void **state)
{
	char name[NAME_LIMIT + 2], spec[PATH_MAX + 64], path[PATH_MAX + 1];
	static const char outside[] = "`{@[/:";
	uint8_t secret[BLOB_SECRET_SIZE];
	char one[1] = {'x'};
	blob_store *s = NULL;

	(void)state;
	if (!built_with_rados())
		skip();
	memset(name, 'n', sizeof name);
	name[NAME_LIMIT] = '\0';
	snprintf(spec, sizeof spec, "rados:%s,conf=/nonexistent/c", name);
	assert_parsed(spec);
	snprintf(spec, sizeof spec, "rados:p,id=%s,conf=/nonexistent/c", name);
	assert_parsed(spec);
	snprintf(spec, sizeof spec, "rados:p,ns=%s,conf=/nonexistent/c", name);
	assert_parsed(spec);
	name[NAME_LIMIT] = 'n';
	name[NAME_LIMIT + 1] = '\0';
	snprintf(spec, sizeof spec, "rados:%s,conf=/nonexistent/c", name);
	assert_refused(spec, -EINVAL, "pool name");
	snprintf(spec, sizeof spec, "rados:p,id=%s,conf=/nonexistent/c", name);
	assert_refused(spec, -EINVAL, "id=CLIENT");
	snprintf(spec, sizeof spec, "rados:p,ns=%s,conf=/nonexistent/c", name);
	assert_refused(spec, -EINVAL, "ns=NAMESPACE");
	/* The classes' ends, then each neighbour outside, in each name. */
	assert_parsed("rados:azAZ09._-,id=azAZ09._-,ns=azAZ09._-,conf=/nonexistent/c");
	for (const char *c = outside; *c; c++) {
		snprintf(spec, sizeof spec, "rados:p%c,conf=/nonexistent/c", *c);
		assert_refused(spec, -EINVAL, "pool name");
		snprintf(spec, sizeof spec, "rados:p,id=i%c,conf=/nonexistent/c", *c);
		assert_refused(spec, -EINVAL, "id=CLIENT");
		snprintf(spec, sizeof spec, "rados:p,ns=n%c,conf=/nonexistent/c", *c);
		assert_refused(spec, -EINVAL, "ns=NAMESPACE");
	}
	/* conf=: PATH_MAX - 1 bytes fit its buffer, PATH_MAX do not. */
	memset(path, 'c', sizeof path);
	memcpy(path, "/nonexistent/", 13);
	for (size_t i = 13; i < PATH_MAX; i += 64)
		path[i] = '/';
	path[PATH_MAX - 1] = '\0';
	snprintf(spec, sizeof spec, "rados:p,conf=%s", path);
	assert_parsed(spec);
	path[PATH_MAX - 1] = 'c';
	path[PATH_MAX] = '\0';
	snprintf(spec, sizeof spec, "rados:p,conf=%s", path);
	assert_refused(spec, -EINVAL, "absolute path");
	assert_parsed("rados:p,conf=/nonexistent/a b~");
	assert_refused("rados:p,conf=/nonexistent/a\x1f", -EINVAL, "control character");
	assert_refused("rados:p,conf=/nonexistent/a\x7f", -EINVAL, "control character");
	/* Options in any order, each once; a key with no '=' before the next
	 * option; keys one letter off. */
	assert_parsed("rados:p,ns=a,id=b,conf=/nonexistent/c");
	assert_refused("rados:p,conf=/nonexistent/a,conf=/nonexistent/b", -EINVAL, "twice");
	assert_refused("rados:p,ns=a,ns=b", -EINVAL, "twice");
	assert_refused("rados:p,ns,id=a", -EINVAL, "options are");
	assert_refused("rados:p,con=/nonexistent/c", -EINVAL, "options are");
	assert_refused("rados:p,confs=/nonexistent/c", -EINVAL, "options are");
	assert_refused("rados:p,i=a", -EINVAL, "options are");
	assert_refused("rados:p,ids=a", -EINVAL, "options are");
	assert_refused("rados:p,n=a", -EINVAL, "options are");
	assert_refused("rados:p,nss=a", -EINVAL, "options are");
	assert_refused("rados:p,", -EINVAL, "options are");
	assert_refused("rados:,conf=/nonexistent/c", -EINVAL, "pool name");
	/* A reason's buffer of one byte holds the empty string; none at all
	 * (NULL, 0) is allowed. */
	fx_secret(secret, 1);
	assert_int_equal(blob_store_open_spec(&s, "rados:", "/nonexistent/imgfs-test", "r", secret, one, 1), -EINVAL);
	assert_int_equal(one[0], '\0');
	assert_int_equal(blob_store_open_spec(&s, "rados:", "/nonexistent/imgfs-test", "r", secret, NULL, 0), -EINVAL);
	assert_null(s);
}

/* The client's timeouts: what the ceph.conf sets wins (the suite's sets
 * rados osd op timeout = 5); a ceph.conf that sets none gets imgfs's 10 s
 * for an OSD's and a monitor's operations and for reaching the cluster
 * (librados would wait for ever, and 300 s at open), and the log lines
 * say the OSD's. */
static void test_conf_timeouts(void **state)
{
	struct blob_fx *fx = *state;
	static const char *const names[] = {"rados_osd_op_timeout", "rados_mon_op_timeout", "client_mount_timeout"};
	char conf[160], spec[512], why[256] = "", dir[160], val[64], line[512];
	unsigned op_timeout = 0;
	blob_store *s = NULL;
	FILE *in, *out;

	fx_cluster_only(fx);
	assert_int_equal(blob_rados_test_conf(fx->s->be, names[0], val, sizeof val, &op_timeout), 0);
	assert_string_equal(val, "5");
	assert_int_equal(op_timeout, 5);
	snprintf(conf, sizeof conf, "%s/bare.conf", fx->dir);
	in = fopen(fx->ceph_conf, "r");
	out = fopen(conf, "w");
	assert_non_null(in);
	assert_non_null(out);
	while (fgets(line, sizeof line, in) != NULL)
		if (strstr(line, "timeout") == NULL)
			fputs(line, out);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	snprintf(spec, sizeof spec, "rados:%s,conf=%s,ns=%s", FX_POOL, conf, fx->ns[0]);
	snprintf(dir, sizeof dir, "%s/bare", fx->dir);
	assert_int_equal(blob_store_open_spec(&s, spec, dir, "store", fx->secret, why, sizeof why), 0);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		assert_int_equal(blob_rados_test_conf(s->be, names[i], val, sizeof val, &op_timeout), 0);
		fprintf(stderr, "    %s = %s\n", names[i], val);
		assert_int_equal(atoi(val), 10);
	}
	assert_int_equal(op_timeout, 10);
	blob_store_close(s);
}

/* An operation that times out is tried again, RADOS_ATTEMPTS (3) tries in
 * all: two timeouts and the third try answers; three and it is EIO ("could
 * not tell"), never a fourth try, and never "absent" — for a question
 * whether a chunk is there, a stat, gc's removal.  What librados answers
 * is translated once (SPEC §9): a full pool or quota ENOSPC; a refusal,
 * a blocklisted client, an I/O error EIO; absent, exists, cancelled,
 * invalid as they are. */
static void test_op_timeouts(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be;
	struct blob_rados_counters c0, c1;
	static const struct {
		int err, want;
	} tr[] = {{-ENOSPC, -ENOSPC}, {-EDQUOT, -ENOSPC}, {-EPERM, -EIO},      {-ESHUTDOWN, -EIO},
	          {-EIO, -EIO},       {-ENOENT, -ENOENT}, {-EEXIST, -EEXIST}, {-ECANCELED, -ECANCELED},
	          {-EINVAL, -EINVAL}, {-ERANGE, -ERANGE}, {-ENOMEM, -ENOMEM}, {-ETIMEDOUT, -EIO}};
	chunk_id ids[1], absent;
	uint64_t size = 0;
	int64_t mtime = 0;

	fx_cluster_only(fx);
	be = fx->s->be;
	random_chunks(fx, fx->s, ids, 1);
	memset(&absent, 0x77, sizeof absent);
	blob_rados_counters(be, &c0);
	blob_rados_test_fail_ops(be, 0x3, -ETIMEDOUT);
	assert_int_equal(blob_store_has_chunk(fx->s, &ids[0]), 1);
	blob_rados_counters(be, &c1);
	assert_int_equal(c1.timeouts - c0.timeouts, 2);
	/* Three: EIO, and the next operation is the caller's next question. */
	blob_rados_test_fail_ops(be, 0xf, -ETIMEDOUT);
	assert_int_equal(blob_store_has_chunk(fx->s, &ids[0]), -EIO);
	blob_rados_counters(be, &c0);
	assert_int_equal(c0.timeouts - c1.timeouts, 3);
	/* The fourth timeout is the next question's first try. */
	assert_int_equal(blob_store_has_chunk(fx->s, &ids[0]), 1);
	blob_rados_counters(be, &c1);
	assert_int_equal(c1.timeouts - c0.timeouts, 1);
	blob_rados_test_fail_ops(be, 0x7, -ETIMEDOUT);
	assert_int_equal(blob_store_has_chunk(fx->s, &absent), -EIO);
	assert_int_equal(blob_store_has_chunk(fx->s, &absent), 0);
	blob_rados_test_fail_ops(be, 0x3, -ETIMEDOUT);
	assert_int_equal(be->stat(be, &ids[0], &size, &mtime), 0);
	assert_int_equal(size, MiB);
	assert_true(mtime >= time(NULL) - 60);
	blob_rados_test_fail_ops(be, 0x7, -ETIMEDOUT);
	assert_int_equal(be->stat(be, &ids[0], &size, &mtime), -EIO);
	assert_int_equal(be->stat(be, &absent, &size, &mtime), -ENOENT);
	/* gc: a removal that could not tell is neither removed nor kept. */
	blob_rados_test_fail_ops(be, 0x7, -ETIMEDOUT);
	assert_int_equal(be->del_if_older(be, &ids[0], time(NULL) + 3600), -EIO);
	assert_int_equal(blob_store_has_chunk(fx->s, &ids[0]), 1);
	for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++) {
		blob_rados_test_fail_ops(be, tr[i].err == -ETIMEDOUT ? 0x7 : 0x1, tr[i].err);
		assert_int_equal(be->del(be, &absent), tr[i].want);
	}
	assert_int_equal(be->del(be, &absent), -ENOENT);
	blob_rados_test_fail_ops(be, 0, 0);
}

/* A put that finds its chunk there (another writer's, the same bytes)
 * refreshes its timestamp unless fresh; when gc removes it between the
 * create and the refresh, the put creates it again, twice at most, then
 * EIO; so does a batch whose own create found it.  A full pool is
 * ENOSPC; a refresh that times out is EIO. */
static void test_put_races_gc(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be;
	struct blob_rados_counters c0, c1;
	blob_batch *b = NULL;
	uint8_t *data;
	chunk_id id, got;
	time_t now = time(NULL);

	fx_cluster_only(fx);
	be = fx->s->be;
	data = malloc(MiB);
	assert_non_null(data);
	fx_fill(fx, data, MiB);
	/* A new chunk whose create timed out twice: created on the third. */
	blob_rados_counters(be, &c0);
	blob_rados_test_fail_ops(be, 0x3, -ETIMEDOUT);
	assert_int_equal(blob_store_put_chunk(fx->s, &id, data, MiB), 1);
	blob_rados_counters(be, &c1);
	assert_int_equal(c1.creates - c0.creates, 1);
	/* Found fresh: create (EEXIST), the check (gone: gc), create again
	 * (EEXIST: it is there after all), the check: there already. */
	blob_rados_test_fail_ops(be, 0x2, -ENOENT);
	assert_int_equal(blob_store_put_chunk(fx->s, &got, data, MiB), 0);
	blob_rados_counters(be, &c0);
	assert_int_equal(c0.creates - c1.creates, 2);
	/* Gone at both checks: EIO after two rounds. */
	blob_rados_test_fail_ops(be, 0xa, -ENOENT);
	assert_int_equal(blob_store_put_chunk(fx->s, &got, data, MiB), -EIO);
	blob_rados_counters(be, &c1);
	assert_int_equal(c1.creates - c0.creates, 2);
	/* Old: create, the check (older), the refresh (gone), create, the
	 * check (older still), the refresh. */
	fx_age(fx, &id, now - 900);
	blob_rados_test_fail_ops(be, 0x4, -ENOENT);
	assert_int_equal(blob_store_put_chunk(fx->s, &got, data, MiB), 0);
	blob_rados_counters(be, &c0);
	assert_int_equal(c0.creates - c1.creates, 2);
	assert_int_equal(c0.refreshes - c1.refreshes, 1);
	assert_true(stamp_of(fx->s, &id) >= now);
	/* The check timed out three times: EIO; the stamp untouched. */
	fx_age(fx, &id, now - 900);
	blob_rados_test_fail_ops(be, 0xe, -ETIMEDOUT);
	assert_int_equal(blob_store_put_chunk(fx->s, &got, data, MiB), -EIO);
	assert_int_equal(stamp_of(fx->s, &id), now - 900);
	/* The refresh refused: its error. */
	blob_rados_test_fail_ops(be, 0x4, -ENOSPC);
	assert_int_equal(blob_store_put_chunk(fx->s, &got, data, MiB), -ENOSPC);
	/* A batch whose own create finds the chunk: the check, no second
	 * create; gone at the check (gc): created again, once. */
	blob_rados_counters(be, &c0);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(blob_batch_add(b, &got, data, MiB), 1);
	assert_int_equal(blob_batch_commit(b), 0);
	blob_batch_free(b);
	blob_rados_counters(be, &c1);
	assert_int_equal(c1.creates - c0.creates, 1);
	blob_rados_test_fail_ops(be, 0x1, -ENOENT);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(blob_batch_add(b, &got, data, MiB), 1);
	assert_int_equal(blob_batch_commit(b), 0);
	blob_batch_free(b);
	blob_rados_counters(be, &c0);
	assert_int_equal(c0.creates - c1.creates, 2);
	/* A full pool at the create. */
	data[0] ^= 1;
	blob_rados_test_fail_ops(be, 0x1, -EDQUOT);
	assert_int_equal(blob_store_put_chunk(fx->s, &got, data, MiB), -ENOSPC);
	blob_rados_test_fail_ops(be, 0, 0);
	free(data);
}

/* The backend's put takes an object of up to BLOB_OBJ_MAX bytes (a sealed
 * chunk), not one more; block digests only with a plain chunk of up to
 * BLOB_CHUNK_SIZE bytes, not one more.  Refused: EINVAL, nothing written. */
static void test_put_bounds(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be;
	uint8_t *buf, dig[BLOB_DIG_MAX + BLOB_DIG_SIZE];
	chunk_id ids[4];
	uint64_t size = 0;
	int64_t mtime;

	fx_cluster_only(fx);
	be = fx->s->be;
	buf = malloc(BLOB_OBJ_MAX + 1);
	assert_non_null(buf);
	fx_fill(fx, buf, BLOB_OBJ_MAX + 1);
	memset(dig, 0x5a, sizeof dig);
	for (int i = 0; i < 4; i++)
		memset(&ids[i], 0x31 + i, sizeof ids[i]);
	assert_int_equal(be->put(be, &ids[0], buf, BLOB_OBJ_MAX, NULL), 1);
	assert_int_equal(be->stat(be, &ids[0], &size, &mtime), 0);
	assert_int_equal(size, BLOB_OBJ_MAX);
	assert_int_equal(be->put(be, &ids[1], buf, BLOB_OBJ_MAX + 1, NULL), -EINVAL);
	assert_int_equal(be->exists(be, &ids[1]), 0);
	assert_int_equal(be->put(be, &ids[2], buf, BLOB_CHUNK_SIZE, dig), 1);
	assert_int_equal(be->stat(be, &ids[2], &size, &mtime), 0);
	assert_int_equal(size, BLOB_CHUNK_SIZE);
	assert_int_equal(be->put(be, &ids[3], buf, BLOB_CHUNK_SIZE + 1, dig), -EINVAL);
	assert_int_equal(be->exists(be, &ids[3]), 0);
	free(buf);
}

struct listed {
	int n;
	chunk_id ids[8];
};

static int collect(void *arg, const chunk_id *id, int64_t mtime)
{
	struct listed *l = arg;

	assert_int_equal(mtime, BLOB_MTIME_UNKNOWN);
	assert_true(l->n < 8);
	l->ids[l->n++] = *id;
	return 0;
}

/* A listing (gc's, fsck's) names the pool's chunks and nothing else:
 * objects another program put in the namespace (`rados put`) are
 * skipped — upper-case hex, which the id's parse takes and which would
 * read as another chunk's id that is not there, and a character just past
 * a-f — as is imgfs.owner.  (A name a digit short or long, or with '/',
 * ':' or '`', fails the id's parse too: not tried, each is a process.) */
/* collect's count, then 7: stops the listing at the first id. */
static int stop_at_first(void *arg, const chunk_id *id, int64_t mtime)
{
	struct listed *l = arg;

	(void)id;
	(void)mtime;
	l->n++;
	return 7;
}

static void test_list_names(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be;
	static const uint8_t digits[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	struct listed l = {0};
	uint8_t buf[64];
	chunk_id id;
	char cmd[1024];
	int n;

	fx_cluster_only(fx);
	be = fx->s->be;
	for (int i = 0; i < 16; i++)
		id.b[i] = digits[i % 8];
	fx_fill(fx, buf, sizeof buf);
	assert_int_equal(be->put(be, &id, buf, sizeof buf, NULL), 1);
	n = snprintf(cmd, sizeof cmd,
	             "set -e; for o in 0123456789ABCDEF0123456789ABCDEF 0123456789abcdef0123456789abcdeF "
	             "0123456789abcdef0123456789abcdeg; "
	             "do rados -c %s -p %s -N %s put \"$o\" /dev/null; done",
	             fx->ceph_conf, FX_POOL, fx->ns[0]);
	assert_true(n > 0 && (size_t)n < sizeof cmd);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(be->list(be, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_memory_equal(&l.ids[0], &id, sizeof id);

	/* A callback's non-zero answer ends the listing and is its answer. */
	id.b[0] ^= 1;
	assert_int_equal(be->put(be, &id, buf, sizeof buf, NULL), 1);
	l.n = 0;
	assert_int_equal(be->list(be, stop_at_first, &l), 7);
	assert_int_equal(l.n, 1);
}

/* A pool whose imgfs.owner is there but empty (another program wrote
 * it, or cut it) is not a pool without an owner: the open and the check
 * are refused, EBUSY, and nothing is claimed. */
static void test_owner_empty(void **state)
{
	struct blob_fx *fx = *state;
	char spec[512], why[256] = "", dir[160], cmd[512];
	blob_store *s = NULL;

	fx_cluster_only(fx);
	snprintf(cmd, sizeof cmd, "rados -c %s -p %s -N %s-empty put imgfs.owner /dev/null", fx->ceph_conf, FX_POOL,
	         fx->ns[0]);
	assert_int_equal(system(cmd), 0);
	snprintf(spec, sizeof spec, "rados:%s,conf=%s,ns=%s-empty", FX_POOL, fx->ceph_conf, fx->ns[0]);
	snprintf(dir, sizeof dir, "%s/empty", fx->dir);
	assert_int_equal(blob_store_check_spec(spec, "store", fx->secret, why, sizeof why), -EBUSY);
	assert_int_equal(blob_store_open_spec(&s, spec, dir, "store", fx->secret, why, sizeof why), -EBUSY);
	assert_null(s);
	fprintf(stderr, "    %s\n", why);
	assert_non_null(strstr(why, "another region"));
	snprintf(spec, sizeof spec, "%s-empty", fx->ns[0]); /* not the fixture's: emptied here */
	assert_int_equal(blob_rados_test_purge(fx->ceph_conf, FX_POOL, spec), 1);
}

static int threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* A store closed leaves nothing of its client behind (librados's threads
 * and sockets go with rados_shutdown): a daemon opens one per region and
 * per cloud disk, and checks a spec at every region add. */
static void test_close_frees(void **state)
{
	struct blob_fx *fx = *state;
	char spec[512], why[256] = "", dir[160];
	blob_store *s = NULL;
	int before;

	fx_cluster_only(fx);
	snprintf(spec, sizeof spec, "rados:%s,conf=%s,ns=%s", FX_POOL, fx->ceph_conf, fx->ns[0]);
	snprintf(dir, sizeof dir, "%s/again", fx->dir);
	before = threads_now();
	for (int i = 0; i < 3; i++) {
		assert_int_equal(blob_store_open_spec(&s, spec, dir, "store", fx->secret, why, sizeof why), 0);
		assert_true(threads_now() > before);
		blob_store_close(s);
		s = NULL;
		assert_int_equal(blob_store_check_spec(spec, "store", fx->secret, why, sizeof why), 0);
	}
	assert_int_equal(threads_now(), before);
}

static void counters(blob_store *s, struct blob_rados_counters *out)
{
	blob_rados_counters(s->be, out);
}

/* A copy of 200 chunks of which the target has 150: the target is asked
 * about them in ceil(200/64) round trips, 50 are read and written; a
 * second copy writes and reads nothing, in as few round trips.  From a
 * local store into RADOS and back. */
static void test_copy_costs(void **state)
{
	struct blob_fx *fx = *state;
	const int n = 200;
	chunk_id *ids;
	uint8_t *moved, *a, *b2;
	struct blob_rados_counters c0, c1;
	blob_store *local = NULL, *back = NULL;
	blob_batch *b = NULL;
	char dir[160];
	size_t la, lb;

	fx_cluster_only(fx);
	ids = calloc(n, sizeof *ids);
	moved = calloc(n, 1);
	a = malloc(MiB);
	b2 = malloc(MiB);
	assert_non_null(ids);
	assert_non_null(moved);
	snprintf(dir, sizeof dir, "%s/local", fx->dir);
	assert_int_equal(blob_store_open(&local, dir, fx->secret), 0);
	uint8_t *buf = malloc(64 * 1024);
	assert_non_null(buf);
	for (int i = 0; i < n; i++) {
		fx_fill(fx, buf, 64 * 1024);
		assert_int_equal(blob_store_put_chunk(local, &ids[i], buf, 64 * 1024), 1);
		if (i % 4 != 0)
			assert_int_equal(blob_store_copy_chunk(fx->s, local, &ids[i]), 1);
	}
	free(buf);

	counters(fx->s, &c0);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(blob_batch_copy_many(b, local, ids, n, moved), 50);
	assert_int_equal(blob_batch_commit(b), 50);
	blob_batch_free(b);
	counters(fx->s, &c1);
	for (int i = 0; i < n; i++)
		assert_int_equal(moved[i], i % 4 == 0);
	fprintf(stderr, "    first copy: %llu rounds for %llu checks, %llu creates\n",
	        (unsigned long long)(c1.has_rounds - c0.has_rounds), (unsigned long long)(c1.has_objects - c0.has_objects),
	        (unsigned long long)(c1.creates - c0.creates));
	assert_int_equal(c1.has_rounds - c0.has_rounds, (n + BLOB_BATCH_MAX - 1) / BLOB_BATCH_MAX);
	assert_int_equal(c1.has_objects - c0.has_objects, n);
	assert_int_equal(c1.creates - c0.creates, 50);

	counters(fx->s, &c0);
	assert_int_equal(blob_batch_new(&b, fx->s), 0);
	assert_int_equal(blob_batch_copy_many(b, local, ids, n, moved), 0);
	assert_int_equal(blob_batch_commit(b), 0);
	blob_batch_free(b);
	counters(fx->s, &c1);
	assert_int_equal(c1.has_rounds - c0.has_rounds, (n + BLOB_BATCH_MAX - 1) / BLOB_BATCH_MAX);
	assert_int_equal(c1.creates - c0.creates, 0);
	assert_int_equal(c1.reads - c0.reads, 0);
	assert_int_equal(c1.refreshes - c0.refreshes, 0); /* all fresh */

	/* Back into a new local store: every chunk read once from RADOS,
	 * mostly by reads started ahead. */
	snprintf(dir, sizeof dir, "%s/back", fx->dir);
	assert_int_equal(blob_store_open(&back, dir, fx->secret), 0);
	counters(fx->s, &c0);
	assert_int_equal(blob_batch_new(&b, back), 0);
	assert_int_equal(blob_batch_copy_many(b, fx->s, ids, n, NULL), n);
	assert_int_equal(blob_batch_commit(b), n);
	blob_batch_free(b);
	counters(fx->s, &c1);
	fprintf(stderr, "    copy out: %llu reads, %llu started ahead, %llu served by them\n",
	        (unsigned long long)(c1.reads - c0.reads), (unsigned long long)(c1.reads_ahead - c0.reads_ahead),
	        (unsigned long long)(c1.reads_ahead_hit - c0.reads_ahead_hit));
	assert_int_equal(c1.reads_ahead_hit - c0.reads_ahead_hit + c1.reads - c0.reads, n);
	assert_true(c1.reads_ahead_hit - c0.reads_ahead_hit >= (uint64_t)n * 9 / 10);
	for (int i = 0; i < n; i++) {
		assert_int_equal(blob_store_get_chunk(back, &ids[i], a, MiB, &la), 0);
		assert_int_equal(blob_store_get_chunk(local, &ids[i], b2, MiB, &lb), 0);
		assert_int_equal(la, lb);
		assert_bytes_equal(a, b2, la);
	}
	blob_store_close(local);
	blob_store_close(back);
	free(ids);
	free(moved);
	free(a);
	free(b2);
}

/* A sequential pass over a cold blob is served by reads started ahead
 * (every chunk read once: the cache's misses); chunks read backwards, 4 KiB
 * of each, start no read ahead (and read only their blocks). */
static void test_read_ahead(void **state)
{
	struct blob_fx *fx = *state;
	const uint64_t size = 40 * MiB;
	uint8_t *ref, *buf;
	struct blob_rados_counters c0, c1;
	blob_manifest *m = NULL;
	blob_store *cold = NULL;
	char spec[512], why[256], dir[160];
	uint64_t data = 0;

	fx_cluster_only(fx); /* before anything is allocated: skip() returns */
	ref = fx_make_blob(fx, size, 10);
	buf = malloc(size);
	assert_non_null(buf);
	ref[0] = 1; /* chunk 0 holds data: a reader's start */
	assert_int_equal(blob_store_put_buf(fx->s, &m, ref, size), 0);
	for (uint32_t i = 0; i < m->nchunks; i++)
		data += !chunk_id_is_null(mf_id(m, i));
	/* A second store on the same namespace: its cache is empty. */
	snprintf(spec, sizeof spec, "rados:%s,conf=%s,ns=%s", FX_POOL, fx->ceph_conf, fx->ns[0]);
	snprintf(dir, sizeof dir, "%s/cold", fx->dir);
	assert_int_equal(blob_store_open_spec(&cold, spec, dir, "store", fx->secret, why, sizeof why), 0);
	counters(cold, &c0);
	for (uint64_t off = 0; off < size; off += 128 * 1024)
		assert_int_equal(blob_store_read(cold, m, buf + off, 128 * 1024, off), 128 * 1024);
	counters(cold, &c1);
	assert_bytes_equal(buf, ref, size);
	fprintf(stderr, "    sequential: %llu data chunks, %llu reads, %llu served by reads started ahead\n",
	        (unsigned long long)data, (unsigned long long)(c1.reads - c0.reads),
	        (unsigned long long)(c1.reads_ahead_hit - c0.reads_ahead_hit));
	assert_int_equal(c1.reads - c0.reads + c1.reads_ahead_hit - c0.reads_ahead_hit, data);
	assert_true(c1.reads - c0.reads <= 2);
	/* Each of those reached the cache without a copy (get_buf), and no
	 * read started ahead went unused. */
	assert_int_equal(c1.reads_handed - c0.reads_handed, c1.reads_ahead_hit - c0.reads_ahead_hit);
	assert_int_equal(c1.reads_ahead - c0.reads_ahead, c1.reads_ahead_hit - c0.reads_ahead_hit);
	blob_store_close(cold);

	assert_int_equal(blob_store_open_spec(&cold, spec, dir, "store", fx->secret, why, sizeof why), 0);
	counters(cold, &c0);
	for (uint32_t i = m->nchunks - 1; i > 0; i--) {
		assert_int_equal(blob_store_read(cold, m, buf, 4096, (uint64_t)i * MiB + 1000), 4096);
		assert_bytes_equal(buf, ref + (uint64_t)i * MiB + 1000, 4096);
	}
	counters(cold, &c1);
	assert_int_equal(c1.reads_ahead - c0.reads_ahead, 0);
	/* Each a read of its two blocks (test_part.c), none whole. */
	assert_int_equal(c1.part_reads - c0.part_reads, data - 1);
	assert_int_equal(c1.reads - c0.reads, 0);
	/* The whole-blob hash reads ahead too. */
	char h1[33], h2[33];
	assert_int_equal(blob_store_hash_blob(fx->s, m, h1), 0);
	counters(cold, &c0);
	assert_int_equal(blob_store_hash_blob(cold, m, h2), 0);
	counters(cold, &c1);
	assert_string_equal(h1, h2);
	assert_true(c1.reads_ahead_hit - c0.reads_ahead_hit >= data * 3 / 4);
	blob_store_close(cold);
	blob_manifest_free(m);
	free(ref);
	free(buf);
}

/* Asked again for chunks it read ahead and nobody took yet, prefetch keeps
 * them (the reader will want them next) rather than reading further: with
 * more chunks asked for than it has slots, every read started ahead is
 * used by the gets that follow, in order, and each get is served by one. */
static void test_prefetch_keeps_wanted(void **state)
{
	struct blob_fx *fx = *state;
	const int n = 80;
	chunk_id ids[80];
	struct blob_rados_counters c0, c1;
	struct timespec pause = {0, 300 * 1000 * 1000};
	uint8_t *buf, *got;
	size_t len;

	fx_cluster_only(fx);
	buf = malloc(64 * 1024);
	got = malloc(MiB);
	assert_non_null(buf);
	assert_non_null(got);
	for (int i = 0; i < n; i++) {
		fx_fill(fx, buf, 64 * 1024);
		assert_int_equal(blob_store_put_chunk(fx->s, &ids[i], buf, 64 * 1024), 1);
	}
	counters(fx->s, &c0);
	fx->s->be->prefetch(fx->s->be, ids, n);
	nanosleep(&pause, NULL); /* the reads are done: their slots could be taken */
	fx->s->be->prefetch(fx->s->be, ids, n);
	counters(fx->s, &c1);
	uint64_t ahead = c1.reads_ahead - c0.reads_ahead;
	fprintf(stderr, "    %llu reads started ahead for %d chunks asked for\n", (unsigned long long)ahead, n);
	assert_true(ahead > 0 && ahead < (uint64_t)n);
	for (int i = 0; i < n; i++)
		assert_int_equal(blob_store_get_chunk(fx->s, &ids[i], got, MiB, &len), 0);
	counters(fx->s, &c1);
	assert_int_equal(c1.reads_ahead - c0.reads_ahead, ahead);
	assert_int_equal(c1.reads_ahead_hit - c0.reads_ahead_hit, ahead);
	assert_int_equal(c1.reads - c0.reads, n - ahead);
	free(buf);
	free(got);
}

/* An upload's bytes are copied once in imgfs (into the wblob's stage,
 * since cp's writes rarely fall on chunk boundaries), then handed on: the
 * stage's buffer to a lane, the lane's to the write in flight.  Counted:
 * every create of a streamed upload, and of a blob put from a file, was
 * sent from a buffer handed over (creates_handed), not copied again. */
static void test_writes_handed_over(void **state)
{
	struct blob_fx *fx = *state;
	const int n = 40;
	const size_t step = 1000 * 1000; /* writes across chunk boundaries */
	uint64_t size = (uint64_t)n * MiB;
	struct blob_rados_counters c0, c1;
	blob_manifest *m = NULL, *m2 = NULL;
	blob_wblob *w = NULL;
	uint8_t *ref;
	char path[128];
	int fd;

	fx_cluster_only(fx);
	ref = fx_make_blob(fx, size, 0);
	assert_int_equal(blob_wblob_create(fx->s, "up", NULL, 0), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "up"), 0);
	blob_wblob_stream(w);
	counters(fx->s, &c0);
	for (uint64_t off = 0; off < size; off += step) {
		size_t len = size - off < step ? (size_t)(size - off) : step;
		assert_int_equal(blob_wblob_pwrite(w, ref + off, len, off), len);
	}
	assert_int_equal(blob_wblob_fsync(w), 0);
	counters(fx->s, &c1);
	fprintf(stderr, "    upload: %llu creates, %llu sent from a buffer handed over\n",
	        (unsigned long long)(c1.creates - c0.creates), (unsigned long long)(c1.creates_handed - c0.creates_handed));
	assert_int_equal(c1.creates - c0.creates, n);
	assert_int_equal(c1.creates_handed - c0.creates_handed, n);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	blob_wblob_close(w);
	/* The same bytes from a file, into another namespace's store. */
	blob_store *other = NULL;
	assert_int_equal(fx_open_store(fx, &other, "other", fx->secret), 0);
	snprintf(path, sizeof path, "%s/file", fx->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(blob_pwrite_full(fd, ref, size, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	counters(other, &c0);
	assert_int_equal(blob_store_put_fd(other, &m2, fd, size), 0);
	counters(other, &c1);
	close(fd);
	assert_int_equal(c1.creates - c0.creates, n);
	assert_int_equal(c1.creates_handed - c0.creates_handed, n);
	for (int i = 0; i < n; i++)
		assert_true(chunk_id_equal(mf_id(m, i), mf_id(m2, i)));
	blob_store_close(other);
	blob_manifest_free(m);
	blob_manifest_free(m2);
	free(ref);
}

/* How many writes one backend batch (one of batch.c's four lanes) keeps
 * in flight before it waits for the oldest: counted, not timed — an add
 * waits (creates_waited) only when every slot holds a write.  At least 4,
 * so that four lanes keep 16 in flight (8 left an upload waiting on the
 * OSD: bench-results/README.md, bench-rados). */
static void test_writes_in_flight(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	struct blob_backend_batch *bb = NULL;
	struct blob_rados_counters c0, c1;
	uint8_t *buf;
	int depth = -1;

	fx_cluster_only(fx);
	buf = blob_chunk_buf_new(); /* add may keep it and give back another */
	assert_non_null(buf);
	assert_int_equal(be->batching->new_batch(be, &bb), 0);
	counters(fx->s, &c0);
	for (int k = 0; k < 20 && depth < 0; k++) {
		chunk_id id;
		fx_fill(fx, buf, 4096);
		blob_store_chunk_id(fx->s, &id, buf, 4096);
		assert_int_equal(be->batching->add(bb, &id, &buf, 4096, NULL), 1);
		counters(fx->s, &c1);
		if (c1.creates_waited > c0.creates_waited)
			depth = k; /* the k-th add (from 0) was the first to wait */
	}
	assert_int_equal(be->batching->commit(bb), depth + 1);
	be->batching->free(bb);
	fprintf(stderr, "    one batch keeps %d writes in flight\n", depth);
	assert_true(depth >= 4);
	free(buf);
}

/* One backend batch's edges (rados_batch.c), each a case a caller makes:
 * an object of BLOB_OBJ_MAX bytes (a sealed chunk) is created and one
 * byte more is refused (EINVAL, nothing sent, the caller's buffer kept,
 * the batch still working); block digests go only with a plain chunk
 * (BLOB_CHUNK_SIZE bytes; one more refused).  A chunk another writer
 * placed meanwhile (its exclusive create answers EEXIST) is found, not
 * counted placed, and is no timeout: no log line, no wait for the OSD
 * map. */
static void test_batch_edges(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	struct blob_backend_batch *bb = NULL;
	struct blob_rados_counters c0, c1;
	uint8_t dig[BLOB_DIG_MAX];
	uint8_t *buf, *kept, *ref;
	chunk_id big, plain;

	fx_cluster_only(fx);
	ref = malloc(BLOB_CHUNK_SIZE);
	assert_non_null(ref);
	buf = blob_chunk_buf_new(); /* room for BLOB_OBJ_MAX + 1 */
	assert_non_null(buf);
	assert_int_equal(be->batching->new_batch(be, &bb), 0);
	counters(fx->s, &c0);
	fx_fill(fx, buf, BLOB_OBJ_MAX + 1);
	blob_store_chunk_id(fx->s, &big, buf, BLOB_OBJ_MAX + 1);
	kept = buf;
	assert_int_equal(be->batching->add(bb, &big, &buf, BLOB_OBJ_MAX + 1, NULL), -EINVAL);
	assert_ptr_equal(buf, kept);
	fx_fill(fx, buf, BLOB_CHUNK_SIZE + 1);
	blob_store_chunk_id(fx->s, &plain, buf, BLOB_CHUNK_SIZE + 1);
	memset(dig, 0, sizeof dig);
	assert_int_equal(be->batching->add(bb, &plain, &buf, BLOB_CHUNK_SIZE + 1, dig), -EINVAL);
	assert_ptr_equal(buf, kept);
	counters(fx->s, &c1);
	assert_int_equal(c1.creates - c0.creates, 0);
	/* At the limits: both placed, by the same batch. */
	fx_fill(fx, buf, BLOB_OBJ_MAX);
	blob_store_chunk_id(fx->s, &big, buf, BLOB_OBJ_MAX);
	assert_int_equal(be->batching->add(bb, &big, &buf, BLOB_OBJ_MAX, NULL), 1);
	fx_fill(fx, buf, BLOB_CHUNK_SIZE);
	blob_store_chunk_id(fx->s, &plain, buf, BLOB_CHUNK_SIZE);
	assert_non_null(blob_store_digests_for(fx->s, &plain, buf, BLOB_CHUNK_SIZE, dig));
	memcpy(ref, buf, BLOB_CHUNK_SIZE);
	assert_int_equal(be->batching->add(bb, &plain, &buf, BLOB_CHUNK_SIZE, dig), 1);
	assert_int_equal(be->batching->commit(bb), 2);
	counters(fx->s, &c1);
	assert_int_equal(c1.creates - c0.creates, 2);
	assert_true(stamp_of(fx->s, &big) > 0);
	assert_true(stamp_of(fx->s, &plain) > 0);
	/* The same chunk again, from another batch (as another writer's):
	 * its create finds it. */
	be->batching->free(bb);
	bb = NULL;
	assert_int_equal(be->batching->new_batch(be, &bb), 0);
	memcpy(buf, ref, BLOB_CHUNK_SIZE);
	counters(fx->s, &c0);
	assert_int_equal(be->batching->add(bb, &plain, &buf, BLOB_CHUNK_SIZE, dig), 1);
	assert_int_equal(be->batching->commit(bb), 0);
	counters(fx->s, &c1);
	assert_int_equal(c1.creates - c0.creates, 1);
	assert_int_equal(c1.timeouts - c0.timeouts, 0);
	/* Existence checks: BLOB_BATCH_MAX with one wait, one more refused
	 * (E2BIG, nothing asked, nothing answered). */
	chunk_id ids[BLOB_BATCH_MAX + 1];
	uint8_t found[BLOB_BATCH_MAX + 1];
	for (int k = 0; k <= BLOB_BATCH_MAX; k++) {
		memset(buf, k + 1, 64);
		blob_store_chunk_id(fx->s, &ids[k], buf, 64); /* never stored */
	}
	ids[BLOB_BATCH_MAX - 1] = plain; /* the last, and old: refreshed, then found */
	fx_age(fx, &plain, time(NULL) - 900);
	memset(found, 7, sizeof found);
	counters(fx->s, &c0);
	assert_int_equal(be->batching->has_many(bb, ids, BLOB_BATCH_MAX + 1, found), -E2BIG);
	counters(fx->s, &c1);
	assert_int_equal(c1.has_objects - c0.has_objects, 0);
	assert_int_equal(found[0], 7);
	assert_int_equal(be->batching->has_many(bb, ids, BLOB_BATCH_MAX, found), 0);
	counters(fx->s, &c1);
	assert_int_equal(c1.has_rounds - c0.has_rounds, 1);
	assert_int_equal(c1.has_objects - c0.has_objects, BLOB_BATCH_MAX);
	for (int k = 0; k < BLOB_BATCH_MAX - 1; k++)
		assert_int_equal(found[k], 0);
	assert_int_equal(found[BLOB_BATCH_MAX - 1], 1);
	assert_true(stamp_of(fx->s, &plain) >= time(NULL) - 60);
	assert_int_equal(found[BLOB_BATCH_MAX], 7);
	/* The final pass, after an operation that did not settle a chunk
	 * (blob_rados_test_fail_has answers in its place): a refresh that
	 * answered ENOENT (gc removed the chunk between its check and its
	 * refresh) is absent, never found; */
	chunk_id two[2] = {plain, ids[0]};
	fx_age(fx, &plain, time(NULL) - 900);
	blob_rados_test_fail_has(be, 0x2, -ENOENT);
	assert_int_equal(be->batching->has_many(bb, &plain, 1, found), 0);
	assert_int_equal(found[0], 0);
	/* a refresh left undone (old still) is made one by one: found; */
	blob_rados_test_fail_has(be, 0x2, -ECANCELED);
	assert_int_equal(be->batching->has_many(bb, &plain, 1, found), 0);
	assert_int_equal(found[0], 1);
	assert_true(stamp_of(fx->s, &plain) >= time(NULL) - 60);
	/* a check that answered an error, not a timeout: that error, no verdict; */
	blob_rados_test_fail_has(be, 0x1, -EIO);
	assert_int_equal(be->batching->has_many(bb, two, 2, found), -EIO);
	/* checks that timed out are asked again after the latest OSD map (their
	 * try 2 of RADOS_ATTEMPTS): the stored one found, the other absent; */
	counters(fx->s, &c0);
	memset(found, 7, 2);
	blob_rados_test_fail_has(be, 0x3, -ETIMEDOUT);
	assert_int_equal(be->batching->has_many(bb, two, 2, found), 0);
	assert_int_equal(found[0], 1);
	assert_int_equal(found[1], 0);
	/* and a third timeout of one is the last: EIO (could not tell), never a verdict. */
	blob_rados_test_fail_has(be, 0x1, -ETIMEDOUT);
	blob_rados_test_fail_ops(be, 0x1, -ETIMEDOUT);
	assert_int_equal(be->batching->has_many(bb, &plain, 1, found), 0);
	assert_int_equal(found[0], 1);
	blob_rados_test_fail_has(be, 0x1, -ETIMEDOUT);
	blob_rados_test_fail_ops(be, 0x3, -ETIMEDOUT);
	assert_int_equal(be->batching->has_many(bb, &plain, 1, found), -EIO);
	blob_rados_test_fail_ops(be, 0, 0);
	blob_rados_test_fail_has(be, 0, 0);
	counters(fx->s, &c1);
	assert_int_equal(c1.timeouts - c0.timeouts, 2 + 2 + 3);
	be->batching->free(bb);
	free(ref);
	free(buf);
}

int main(void)
{
	/* Without a cluster most of this file could only skip: the whole run
	 * is skipped (77, as ctest reports it) rather than counted as passed.
	 * ctest runs it only as unit_blobstore_test_backend_rados_rados. */
	const char *conf = getenv("IMGFS_TEST_CEPH_CONF");
	if (conf == NULL || conf[0] == '\0') {
		fprintf(stderr, "test_backend_rados needs a cluster (IMGFS_TEST_CEPH_CONF): skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_refusals),
		cmocka_unit_test_setup_teardown(test_unreachable_cluster, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_missing_pool, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_owner, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stamps, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_del_if_older, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_overlong_object, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test(test_spec_limits),
		cmocka_unit_test_setup_teardown(test_put_bounds, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_list_names, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_owner_empty, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_close_frees, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_conf_timeouts, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_op_timeouts, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_put_races_gc, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_costs, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_read_ahead, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_prefetch_keeps_wanted, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_writes_handed_over, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_writes_in_flight, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_edges, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

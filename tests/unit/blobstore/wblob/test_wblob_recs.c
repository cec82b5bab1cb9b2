/*
 * test_wblob_recs.c — unit tests for a cluster wblob's record sets, set
 * together (blobstore/wblob/wblob_recs.c over backend/rados_disk.c).  RADOS only.
 *
 * The queue is held (wb_rq_test) so that what joins one operation is
 * known, not raced: 16 first writes into 16 stored chunks in flight at
 * once make ONE record operation (counted with the store's counters: one
 * operation, 16 records, never two in flight) and every byte reads back
 * on another client; 64 callers' records fill an operation and the 65th
 * waits for the next (the bound at the limit and one past); a failed
 * operation answers every caller in it with its error, and none of the
 * next, and no record of it lands; a chunk's record joined twice lands
 * with the later value; the confirmations a failed operation carried are
 * still pending (fsync sets them); a successful one's are done, and only
 * those; the confirmations fill an operation up to BLOB_RECS_MAX records
 * and the rest wait.  Without the hold, 16 first writes at once are
 * counted too: never two operations in flight.
 *
 * Whole chunks answered before they land (wblob_ahead.c): WB_AHEAD_MAX
 * held in flight, each read back by another thread before its put was
 * sent, the next one (one past) answered only once landed, a settle
 * begun meanwhile done only after all landed; of one that fails, each
 * handle open before it is told once, and the chunk shows its old bytes.
 */
#include <pthread.h>

#include "blobstore/blob_test.h"
#include "wblob_int.h"

#define BLK 4096
#define WAIT_MS 30000 /* a bound on every wait for threads: fails, never hangs */

/* The queue's next operation until it is {n records, callers, waiting
 * for room}, or fail after WAIT_MS. */
static void wait_queue(blob_wblob *w, unsigned n, unsigned callers, unsigned room)
{
	unsigned out[3] = {0};

	for (int ms = 0; ms < WAIT_MS; ms++) {
		wb_rq_test(w, WB_RQ_PEEK, out);
		if (out[0] == n && out[1] == callers && out[2] == room)
			return;
		usleep(1000);
	}
	fail_msg("the next record operation is {%u, %u, %u}, not {%u, %u, %u}", out[0], out[1], out[2], n, callers,
	         room);
}

struct job {
	blob_wblob *w;
	uint32_t i;
	chunk_id id;          /* set_job: the record's id */
	const uint8_t *buf;   /* write_job: BLK bytes at off */
	uint64_t off;
	int rc;
	atomic_bool done;
	pthread_t th;
};

static void *set_job(void *arg)
{
	struct job *j = arg;

	j->rc = wb_cl_set_stored(j->w, j->i, &j->id);
	atomic_store(&j->done, true);
	return NULL;
}

static void *write_job(void *arg)
{
	struct job *j = arg;

	j->rc = blob_wblob_pwrite(j->w, j->buf, BLK, j->off) == BLK ? 0 : -1;
	atomic_store(&j->done, true);
	return NULL;
}

/* Until `want` of jobs [0, n) are done, or fail after WAIT_MS. */
static void wait_done(struct job *j, unsigned n, unsigned want)
{
	unsigned got = 0;

	for (int ms = 0; ms < WAIT_MS; ms++) {
		got = 0;
		for (unsigned k = 0; k < n; k++)
			got += atomic_load(&j[k].done);
		if (got == want)
			return;
		usleep(1000);
	}
	fail_msg("%u callers of record operations answered within %d ms, not %u", got, WAIT_MS, want);
}

struct recs {
	uint32_t n;
	uint8_t val[128][40];
	size_t len[128];
};

static int rec_one(void *arg, uint32_t i, const uint8_t *val, size_t n)
{
	struct recs *r = arg;

	assert_true(i < 128 && n <= sizeof r->val[0]);
	memcpy(r->val[i], val, n);
	r->len[i] = n;
	r->n++;
	return 0;
}

/* The disk's records as another reader of the pool sees them. */
static void peek_recs(blob_store *s, const char *name, struct recs *r)
{
	uint8_t *hdr = NULL;
	size_t len = 0;

	memset(r, 0, sizeof *r);
	assert_int_equal(s->be->disks->peek(s->be, name, &hdr, &len, rec_one, r), 0);
	free(hdr);
}

static void assert_stored_rec(const struct recs *r, uint32_t i, const chunk_id *id)
{
	assert_int_equal(r->len[i], 1 + sizeof id->b);
	assert_int_equal(r->val[i][0], WB_STORED);
	assert_memory_equal(r->val[i] + 1, id->b, sizeof id->b);
}

/* 16 first writes into 16 stored chunks at once: one record operation
 * (held until all 16 joined), every byte on another client; then 16 more
 * not held: one operation in flight at a time. */
static void test_first_writes_one_op(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref = malloc(32 * MiB), *bytes = malloc(32 * BLK), *got = malloc(32 * MiB);
	struct blob_rados_counters c0, c1;
	struct job *j = calloc(32, sizeof *j);
	blob_store *s2;
	blob_wblob *w;

	fx_cluster_only(fx);
	assert_true(ref && bytes && got && j);
	fx_fill(fx, ref, 32 * MiB);
	fx_fill(fx, bytes, 32 * BLK);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "g", NULL, 32 * MiB), 0);
	w = fx_cl_open(fx->s, "g");
	for (uint32_t i = 0; i < 32; i++) /* stored by id, as dd's */
		assert_int_equal(blob_wblob_pwrite(w, ref + (size_t)i * MiB, MiB, (uint64_t)i * MiB), (ssize_t)MiB);
	blob_wblob_close(w);

	s2 = fx_other_host(fx, "h2");
	w = fx_cl_open(s2, "g");
	blob_rados_counters(s2->be, &c0);
	wb_rq_test(w, WB_RQ_HOLD, NULL);
	for (uint32_t t = 0; t < 16; t++) {
		j[t] = (struct job){.w = w, .buf = bytes + t * BLK, .off = (uint64_t)t * MiB + (t * 37 % 256) * BLK};
		assert_int_equal(pthread_create(&j[t].th, NULL, write_job, &j[t]), 0);
	}
	wait_queue(w, 16, 16, 0);
	wb_rq_test(w, WB_RQ_GO, NULL);
	wait_done(j, 16, 16);
	blob_rados_counters(s2->be, &c1);
	assert_int_equal(c1.disk_writes - c0.disk_writes, 16); /* each its block, in its chunk's object */
	assert_int_equal(c1.disk_recs - c0.disk_recs, 1);
	assert_int_equal(c1.disk_rec_keys - c0.disk_rec_keys, 16);
	assert_int_equal(c1.disk_recs_peak, 1);
	/* Not held: each waits for the one in flight, never two at once. */
	for (uint32_t t = 16; t < 32; t++) {
		j[t] = (struct job){.w = w, .buf = bytes + t * BLK, .off = (uint64_t)t * MiB + (t * 59 % 256) * BLK};
		assert_int_equal(pthread_create(&j[t].th, NULL, write_job, &j[t]), 0);
	}
	wait_done(j + 16, 16, 16);
	blob_rados_counters(s2->be, &c0);
	assert_int_equal(c0.disk_rec_keys - c1.disk_rec_keys, 16);
	assert_true(c0.disk_recs - c1.disk_recs <= 16);
	assert_int_equal(c0.disk_recs_peak, 1);
	for (uint32_t t = 0; t < 32; t++) {
		pthread_join(j[t].th, NULL);
		assert_int_equal(j[t].rc, 0);
		memcpy(ref + j[t].off, j[t].buf, BLK);
	}
	blob_wblob_close(w);
	blob_store_close(s2);
	/* Every record landed: the first client reads every byte. */
	w = fx_cl_open(fx->s, "g");
	assert_int_equal(blob_wblob_pread(w, got, 32 * MiB, 0), (ssize_t)(32 * MiB));
	assert_bytes_equal(got, ref, 32 * MiB);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "g"), 0);
	free(ref);
	free(bytes);
	free(got);
	free(j);
}

/* 65 callers at once: 64 fill an operation, the 65th waits for the next.
 * Failed (the backend's test fault): each of the 64 gets its error, the
 * 65th, in the next operation, lands; none of the 64 records does. */
static void test_bound_and_failure(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	struct job *j = calloc(WB_RQ_OWN + 1, sizeof *j);
	struct recs *r = malloc(sizeof *r);
	uint32_t last;
	blob_wblob *w;

	fx_cluster_only(fx);
	assert_true(j && r);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "b", NULL, 128 * MiB), 0);
	w = fx_cl_open(fx->s, "b");
	for (int pass = 0; pass < 2; pass++) {
		blob_rados_counters(fx->s->be, &c0);
		wb_rq_test(w, WB_RQ_HOLD, NULL);
		for (uint32_t t = 0; t <= WB_RQ_OWN; t++) {
			j[t] = (struct job){.w = w, .i = t};
			fx_fill(fx, j[t].id.b, sizeof j[t].id.b);
			assert_int_equal(pthread_create(&j[t].th, NULL, set_job, &j[t]), 0);
		}
		wait_queue(w, WB_RQ_OWN, WB_RQ_OWN, 1);
		last = WB_RQ_OWN + 1;
		if (pass == 0) {
			/* Failed: every caller of that operation answered its error;
			 * the one that waited for room joined the next, unanswered. */
			blob_rados_test_fail_recs(fx->s->be, -EIO, 0);
			wb_rq_test(w, WB_RQ_SEND, NULL);
			wait_done(j, WB_RQ_OWN + 1, WB_RQ_OWN);
			for (uint32_t t = 0; t <= WB_RQ_OWN; t++)
				if (!atomic_load(&j[t].done))
					last = t;
				else
					assert_int_equal(j[t].rc, -EIO);
			blob_rados_test_fail_recs(fx->s->be, 0, 0);
			wait_queue(w, 1, 1, 0);
			assert_true(last <= WB_RQ_OWN);
		}
		wb_rq_test(w, WB_RQ_GO, NULL);
		wait_done(j, WB_RQ_OWN + 1, WB_RQ_OWN + 1);
		for (uint32_t t = 0; t <= WB_RQ_OWN; t++) {
			pthread_join(j[t].th, NULL);
			assert_int_equal(j[t].rc, pass == 0 && t != last ? -EIO : 0);
		}
		blob_rados_counters(fx->s->be, &c1);
		assert_int_equal(c1.disk_recs - c0.disk_recs, pass == 0 ? 1 : 2);
		assert_int_equal(c1.disk_rec_keys - c0.disk_rec_keys, pass == 0 ? 1 : WB_RQ_OWN + 1);
		peek_recs(fx->s, "b", r);
		assert_int_equal(r->n, pass == 0 ? 1 : WB_RQ_OWN + 1);
		for (uint32_t t = 0; t <= WB_RQ_OWN; t++)
			if (pass == 1 || t == last)
				assert_stored_rec(r, t, &j[t].id);
	}
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "b"), 0);
	free(j);
	free(r);
}

/* A chunk's record joined twice into one operation: the later lands.  A
 * failed operation confirms nothing it carried. */
static void test_same_chunk_twice(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	struct job j[2];
	struct recs *r = malloc(sizeof *r);
	uint8_t *buf = malloc(MiB);
	blob_wblob *w;

	fx_cluster_only(fx);
	assert_true(r && buf);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "t", NULL, 8 * MiB), 0);
	w = fx_cl_open(fx->s, "t");
	blob_rados_counters(fx->s->be, &c0);
	wb_rq_test(w, WB_RQ_HOLD, NULL);
	for (int t = 0; t < 2; t++) {
		j[t] = (struct job){.w = w, .i = 5};
		fx_fill(fx, j[t].id.b, sizeof j[t].id.b);
		assert_int_equal(pthread_create(&j[t].th, NULL, set_job, &j[t]), 0);
		wait_queue(w, 1, (unsigned)t + 1, 0);
	}
	wb_rq_test(w, WB_RQ_GO, NULL);
	for (int t = 0; t < 2; t++) {
		pthread_join(j[t].th, NULL);
		assert_int_equal(j[t].rc, 0);
	}
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.disk_recs - c0.disk_recs, 1);
	assert_int_equal(c1.disk_rec_keys - c0.disk_rec_keys, 1);
	peek_recs(fx->s, "t", r);
	assert_int_equal(r->n, 1);
	assert_stored_rec(r, 5, &j[1].id);
	/* A whole chunk's record names two until a later operation confirms
	 * it; one that failed confirmed nothing: fsync still does. */
	fx_fill(fx, buf, MiB);
	assert_int_equal(blob_wblob_pwrite(w, buf, MiB, 0), (ssize_t)MiB);
	blob_rados_test_fail_recs(fx->s->be, -EIO, 0);
	assert_int_equal(wb_cl_set_stored(w, 6, &j[0].id), -EIO);
	blob_rados_test_fail_recs(fx->s->be, 0, 0);
	peek_recs(fx->s, "t", r);
	assert_int_equal(r->len[0], 2 + sizeof j[0].id.b); /* the new id, then the previous record (none) */
	assert_int_equal(blob_wblob_fsync(w), 0);
	peek_recs(fx->s, "t", r);
	assert_int_equal(r->len[0], 1 + sizeof j[0].id.b);
	assert_int_equal(r->n, 2);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "t"), 0);
	free(r);
	free(buf);
}

/* The confirmations an operation carried, done once it is acknowledged
 * (only those: one replaced or added meanwhile stays pending); at most
 * BLOB_RECS_MAX records an operation, the confirmations filling what the
 * callers' records leave, the rest pending for the next. */
static void test_confirmations(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	struct job *j = calloc(WB_RQ_OWN, sizeof *j);
	chunk_id id[WB_CONF_MAX];
	blob_wblob *w;

	fx_cluster_only(fx);
	assert_non_null(j);
	for (unsigned k = 0; k < WB_CONF_MAX; k++)
		fx_fill(fx, id[k].b, sizeof id[k].b);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "c", NULL, (WB_RQ_OWN + WB_CONF_MAX) * MiB), 0);
	w = fx_cl_open(fx->s, "c");
	/* {0, a} and {2, c} carried by an operation; meanwhile chunk 0's
	 * replaced by {0, b} and {1, d} added. */
	wb_cl_confirm_later(w, 0, &id[0]);
	wb_cl_confirm_later(w, 2, &id[2]);
	wb_rq_test(w, WB_RQ_HOLD, NULL);
	j[0] = (struct job){.w = w, .i = 5, .id = id[5]};
	assert_int_equal(pthread_create(&j[0].th, NULL, set_job, &j[0]), 0);
	wait_queue(w, 1, 1, 0);
	blob_rados_counters(fx->s->be, &c0);
	wb_rq_test(w, WB_RQ_SEND, NULL);
	wb_cl_confirm_later(w, 0, &id[1]);
	wb_cl_confirm_later(w, 1, &id[3]);
	wb_rq_test(w, WB_RQ_GO, NULL);
	pthread_join(j[0].th, NULL);
	assert_int_equal(j[0].rc, 0);
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.disk_rec_keys - c0.disk_rec_keys, 3);
	assert_int_equal(w->nconf, 2);
	for (unsigned k = 0; k < 2; k++)
		assert_true(w->conf[k].i == 0 ? chunk_id_equal(&w->conf[k].id, &id[1])
		                               : w->conf[k].i == 1 && chunk_id_equal(&w->conf[k].id, &id[3]));
	/* fsync sets those two, then none is pending: a second sets nothing. */
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_int_equal(w->nconf, 0);
	blob_rados_counters(fx->s->be, &c0);
	assert_int_equal(c0.disk_recs - c1.disk_recs, 1);
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.disk_recs - c0.disk_recs, 0);

	/* WB_CONF_MAX pending, 64 callers: one operation of BLOB_RECS_MAX
	 * records, the confirmations that did not fit still pending. */
	for (unsigned k = 0; k < WB_CONF_MAX; k++)
		wb_cl_confirm_later(w, WB_RQ_OWN + k, &id[k]);
	assert_int_equal(w->nconf, WB_CONF_MAX);
	wb_rq_test(w, WB_RQ_HOLD, NULL);
	for (uint32_t t = 0; t < WB_RQ_OWN; t++) {
		j[t] = (struct job){.w = w, .i = t, .id = id[t]};
		assert_int_equal(pthread_create(&j[t].th, NULL, set_job, &j[t]), 0);
	}
	wait_queue(w, WB_RQ_OWN, WB_RQ_OWN, 0);
	blob_rados_counters(fx->s->be, &c0);
	wb_rq_test(w, WB_RQ_GO, NULL);
	for (uint32_t t = 0; t < WB_RQ_OWN; t++) {
		pthread_join(j[t].th, NULL);
		assert_int_equal(j[t].rc, 0);
	}
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.disk_recs - c0.disk_recs, 1);
	assert_int_equal(c1.disk_rec_keys - c0.disk_rec_keys, BLOB_RECS_MAX);
	assert_int_equal(w->nconf, WB_RQ_OWN + WB_CONF_MAX - BLOB_RECS_MAX);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "c"), 0);
	free(j);
}


static void *first_writes_job(void *arg)
{
	struct job *j = arg;

	for (uint32_t k = 0; k < 16; k++)
		if (blob_wblob_pwrite(j->w, j->buf, BLK, (uint64_t)(k * 16 + j->i) * MiB + (k * 7 % 256) * BLK) != BLK)
			j->rc = -1;
	return NULL;
}

/* 16 threads each making 16 first writes into stored chunks, not held:
 * a first write takes the exclusive lock to show its chunk while the
 * others hold the shared one over their round trips.  Readers first, it
 * waited until none was in flight and the records seldom met (240 record
 * operations for 256 records, measured); writers first, they meet
 * (35-42). */
static void test_first_writes_meet(void **state)
{
	struct blob_fx *fx = *state;
	struct job *j = calloc(16, sizeof *j);
	uint8_t *bytes = malloc(BLK), *whole = malloc(MiB);
	struct blob_rados_counters c0, c1;
	blob_wblob *w;

	fx_cluster_only(fx);
	assert_true(j && bytes && whole);
	fx_fill(fx, bytes, BLK);
	fx_fill(fx, whole, MiB);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "m", NULL, 256 * MiB), 0);
	w = fx_cl_open(fx->s, "m");
	for (uint32_t i = 0; i < 256; i++) /* one stored chunk, 256 times */
		assert_int_equal(blob_wblob_pwrite(w, whole, MiB, (uint64_t)i * MiB), (ssize_t)MiB);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "m");
	blob_rados_counters(fx->s->be, &c0);
	for (uint32_t t = 0; t < 16; t++) {
		j[t] = (struct job){.w = w, .i = t, .buf = bytes};
		assert_int_equal(pthread_create(&j[t].th, NULL, first_writes_job, &j[t]), 0);
	}
	for (uint32_t t = 0; t < 16; t++) {
		pthread_join(j[t].th, NULL);
		assert_int_equal(j[t].rc, 0);
	}
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.disk_rec_keys - c0.disk_rec_keys, 256);
	assert_true(c1.disk_recs - c0.disk_recs < 128);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "m"), 0);
	free(j);
	free(bytes);
	free(whole);
}

/* ---- whole chunks answered before they land (wblob_ahead.c) ---------------- */

#define AH_N (WB_AHEAD_MAX + 1)

struct ah_job {
	blob_wblob *w;
	blob_store *s;
	uint32_t i;
	const uint8_t *buf; /* MiB, written at chunk i */
	const uint8_t *old; /* what chunk i showed before */
	bool hold;          /* the answer waits for gate */
	atomic_bool answered, done, read_ok;
	ssize_t rc;
	pthread_t th;
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	bool *gate;
};

struct ah_read {
	blob_wblob *w;
	uint32_t i;
	const uint8_t *want;
	bool ok;
};

static void *ah_reader(void *arg)
{
	struct ah_read *r = arg;
	uint8_t *got = malloc(MiB);

	r->ok = got != NULL && blob_wblob_pread(r->w, got, MiB, (uint64_t)r->i * MiB) == (ssize_t)MiB &&
	        memcmp(got, r->want, MiB) == 0;
	free(got);
	return NULL;
}

/* Called once the write is in flight: another thread's read must see its
 * bytes already (its state in memory is still the old one: this thread
 * has not sent the put yet); then, held, it waits for the gate. */
static void ah_answer(void *arg, size_t n)
{
	struct ah_job *j = arg;
	struct ah_read r = {j->w, j->i, j->buf, false};
	pthread_t th;

	assert_int_equal(n, MiB);
	if (pthread_create(&th, NULL, ah_reader, &r) == 0 && pthread_join(th, NULL) == 0)
		atomic_store(&j->read_ok, r.ok);
	atomic_store(&j->answered, true);
	if (!j->hold)
		return;
	pthread_mutex_lock(j->mu);
	while (!*j->gate)
		pthread_cond_wait(j->cv, j->mu);
	pthread_mutex_unlock(j->mu);
}

static void *ah_writer(void *arg)
{
	struct ah_job *j = arg;

	j->rc = blob_wblob_pwrite_ahead(j->w, j->buf, MiB, (uint64_t)j->i * MiB, ah_answer, j);
	atomic_store(&j->done, true);
	return NULL;
}

struct ah_sync {
	blob_wblob *w;
	blob_store *s;
	const chunk_id *ids; /* WB_AHEAD_MAX: chunks 0.. must name them once fsync returned */
	int rc;
	bool landed;
	atomic_bool done;
};

/* A settle (what fsync and close wait for; it takes no lock the held
 * writers or the one past them hold), then what another client of the
 * pool sees: every write answered before it began has landed. */
static void *ah_fsync(void *arg)
{
	struct ah_sync *f = arg;
	struct recs *r = malloc(sizeof *r);

	f->rc = blob_wblob_settle(f->w, NULL);
	f->landed = r != NULL;
	if (r != NULL) {
		peek_recs(f->s, "ah", r);
		/* Its record names the new id first (and, not yet confirmed,
		 * the one before it: wblob_cluster.c "A record beside its chunk"). */
		for (uint32_t i = 0; i < WB_AHEAD_MAX; i++)
			f->landed = f->landed && r->len[i] >= 1 + sizeof f->ids[i].b && r->val[i][0] == WB_STORED &&
			            memcmp(r->val[i] + 1, f->ids[i].b, sizeof f->ids[i].b) == 0;
	}
	free(r);
	atomic_store(&f->done, true);
	return NULL;
}

/* WB_AHEAD_MAX whole chunks answered and held in flight: each one's bytes
 * read back by another thread before its put was sent; the next one (one
 * past) answered only once it landed; a settle begun meanwhile returns
 * only after all of them landed (another client sees their records).  A
 * write of part of a chunk is never answered ahead. */
static void test_ahead(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *old = malloc(AH_N * MiB), *neu = malloc(AH_N * MiB), *got = malloc(MiB);
	struct ah_job *j = calloc(AH_N, sizeof *j);
	chunk_id ids[AH_N];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	struct ah_sync f = {0};
	pthread_t fth;
	bool gate = false;
	blob_wblob *w;

	fx_cluster_only(fx);
	assert_true(old && neu && got && j);
	fx_fill(fx, old, AH_N * MiB);
	fx_fill(fx, neu, AH_N * MiB);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "ah", NULL, AH_N * MiB), 0);
	w = fx_cl_open(fx->s, "ah");
	assert_int_equal(blob_wblob_pwrite(w, old, AH_N * MiB, 0), (ssize_t)(AH_N * MiB));
	for (uint32_t t = 0; t < AH_N; t++) {
		blob_store_chunk_id(fx->s, &ids[t], neu + (size_t)t * MiB, MiB);
		if (t == WB_AHEAD_MAX) {
			/* A chunk not in flight, read while others are: its own bytes. */
			assert_int_equal(blob_wblob_pread(w, got, MiB, (uint64_t)t * MiB), (ssize_t)MiB);
			assert_memory_equal(got, old + (size_t)t * MiB, MiB);
		}
		j[t] = (struct ah_job){.w = w, .s = fx->s, .i = t, .buf = neu + (size_t)t * MiB, .hold = t < WB_AHEAD_MAX,
		                       .mu = &mu, .cv = &cv, .gate = &gate};
		assert_int_equal(pthread_create(&j[t].th, NULL, ah_writer, &j[t]), 0);
		/* One at a time: the last starts once all the others are held.
		 * It is answered by its return alone (it cannot return before the
		 * gate: its state waits for the held writers' shared lock), so an
		 * answer within 200 ms is one too many. */
		for (int ms = 0; ms < (t < WB_AHEAD_MAX ? WAIT_MS : 200) && !atomic_load(&j[t].answered); ms++)
			usleep(1000);
		assert_true(atomic_load(&j[t].answered) == (t < WB_AHEAD_MAX));
	}
	assert_int_equal(__atomic_load_n(&w->nahead, __ATOMIC_ACQUIRE), WB_AHEAD_MAX);
	for (uint32_t t = 0; t < WB_AHEAD_MAX; t++) {
		assert_true(atomic_load(&j[t].answered));
		assert_true(atomic_load(&j[t].read_ok));
		assert_false(atomic_load(&j[t].done));
	}
	f = (struct ah_sync){.w = w, .s = fx->s, .ids = ids};
	assert_int_equal(pthread_create(&fth, NULL, ah_fsync, &f), 0);
	/* A settle that did not wait would be done by now (nothing was sent). */
	for (int ms = 0; ms < 200 && !atomic_load(&f.done); ms++)
		usleep(1000);
	assert_false(atomic_load(&f.done));
	pthread_mutex_lock(&mu);
	gate = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (uint32_t t = 0; t < AH_N; t++) {
		pthread_join(j[t].th, NULL);
		assert_int_equal(j[t].rc, (ssize_t)MiB);
	}
	assert_false(atomic_load(&j[WB_AHEAD_MAX].answered));
	pthread_join(fth, NULL);
	assert_int_equal(f.rc, 0);
	assert_true(f.landed);
	assert_int_equal(__atomic_load_n(&w->nahead, __ATOMIC_ACQUIRE), 0);
	/* Part of a chunk, or zeros: answered once done, never ahead. */
	j[0] = (struct ah_job){.w = w, .s = fx->s, .i = 0, .buf = old};
	assert_int_equal(blob_wblob_pwrite_ahead(w, old, BLK, 0, ah_answer, &j[0]), BLK);
	memset(got, 0, MiB);
	assert_int_equal(blob_wblob_pwrite_ahead(w, got, MiB, MiB, ah_answer, &j[0]), (ssize_t)MiB);
	assert_false(atomic_load(&j[0].answered));
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "ah");
	assert_int_equal(blob_wblob_pread(w, got, MiB, 0), (ssize_t)MiB);
	assert_memory_equal(got, old, BLK);
	assert_memory_equal(got + BLK, neu + BLK, MiB - BLK);
	for (uint32_t t = 2; t < AH_N; t++) {
		assert_int_equal(blob_wblob_pread(w, got, MiB, (uint64_t)t * MiB), (ssize_t)MiB);
		assert_memory_equal(got, neu + (size_t)t * MiB, MiB);
	}
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "ah"), 0);
	free(old);
	free(neu);
	free(got);
	free(j);
}

/* A write answered ahead whose record fails (an OSD that does not answer):
 * the next settle of each handle open before it says its errno once
 * (fsync's and close's, as Linux tells each open file of a writeback
 * error), a handle opened after it is not told; the chunk shows its old
 * bytes, and writes go on (the OSD is back). */
static void test_ahead_lost(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *old = malloc(2 * MiB), *neu = malloc(MiB), *got = malloc(MiB);
	struct ah_job j = {0};
	uint64_t a, b, c;
	blob_wblob *w;

	fx_cluster_only(fx);
	assert_true(old && neu && got);
	fx_fill(fx, old, 2 * MiB);
	fx_fill(fx, neu, MiB);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "al", NULL, 2 * MiB), 0);
	w = fx_cl_open(fx->s, "al");
	assert_int_equal(blob_wblob_pwrite(w, old, 2 * MiB, 0), (ssize_t)(2 * MiB));
	a = b = blob_wblob_ahead_mark(w);
	assert_int_equal(blob_wblob_settle(w, &a), 0);
	blob_rados_test_fail_recs(fx->s->be, -ETIMEDOUT, 0);
	j = (struct ah_job){.w = w, .s = fx->s, .i = 1, .buf = neu};
	(void)blob_wblob_pwrite_ahead(w, neu, MiB, MiB, ah_answer, &j);
	blob_rados_test_fail_recs(fx->s->be, 0, 0);
	assert_true(atomic_load(&j.answered));
	c = blob_wblob_ahead_mark(w);
	assert_int_equal(blob_wblob_settle(w, &c), 0);
	assert_int_equal(blob_wblob_settle(w, &a), -ETIMEDOUT);
	assert_int_equal(blob_wblob_settle(w, &a), 0);
	assert_int_equal(blob_wblob_settle(w, &b), -ETIMEDOUT);
	assert_int_equal(blob_wblob_settle(w, NULL), 0);
	assert_int_equal(blob_wblob_pread(w, got, MiB, MiB), (ssize_t)MiB);
	assert_memory_equal(got, old + MiB, MiB);
	/* Written again, with the store back. */
	assert_int_equal(blob_wblob_pwrite_ahead(w, neu, MiB, MiB, ah_answer, &j), (ssize_t)MiB);
	assert_int_equal(blob_wblob_settle(w, &a), 0);
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "al");
	assert_int_equal(blob_wblob_pread(w, got, MiB, MiB), (ssize_t)MiB);
	assert_memory_equal(got, neu, MiB);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "al"), 0);
	free(old);
	free(neu);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_writes_one_op, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_bound_and_failure, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_same_chunk_twice, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_confirmations, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_first_writes_meet, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_ahead, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_ahead_lost, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

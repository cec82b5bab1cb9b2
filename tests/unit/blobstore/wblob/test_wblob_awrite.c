/*
 * test_wblob_awrite.c — unit tests for a cluster wblob's writes answered
 * by the cluster's thread (blobstore/wblob/wblob_awrite.c, backend/rados_disk.c's
 * write_start).  RADOS only.
 *
 * Each started write is answered once, on a thread that is not the
 * caller's, with its length, counted as started, and reads back exactly
 * (here, after a close and open again, and on another host): a patched
 * chunk's whole blocks (its marks set in memory once answered, and on the
 * object: the next open reads them) and an overlay's bytes.  Not started
 * (0, done never called, nothing written): a first write into a stored
 * chunk, a patched chunk's blocks in part, one block past
 * BLOB_WBLOB_START_MAX (at it: started), two chunks, past the end, a
 * hole, zeros into an overlay, a short last chunk whole, a chunk another
 * started write holds, a patch fault a test injected (the waiting write
 * takes it), a fenced client, any chunk while a punch or a truncate waits
 * for one.  In flight: a punch, a truncate, a close and a waiting write
 * of part of its block wait for the answer; a write that the cluster
 * refuses (its client fenced meanwhile) is EIO, marks nothing, and gives
 * its chunk back.  At most 128 in flight per store, reads and writes
 * together, and 64 chunks held per disk: at each bound, and one past it.
 * A close after a started read's or write's answer waits for its starter
 * to let go of the wblob (an answer that came before the start returned).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "wblob_int.h" /* wb_state_of, wb_pt_marked */
#include "wblob_test.h"

#define BLK 4096

/* len bytes of fx's random written into w at off by a started write:
 * what blob_wblob_pwrite_start returned; when 1, answered once, by
 * another thread, with *n (and ref has the bytes when *n is len). */
static int awrite(blob_wblob *w, uint8_t *ref, struct blob_fx *fx, uint64_t off, size_t len, ssize_t *n)
{
	struct ans a = ANS_INIT;
	uint8_t *b = malloc(len);
	int rc;

	assert_non_null(b);
	fx_fill(fx, b, len);
	rc = blob_wblob_pwrite_start(w, b, len, off, ans_done, &a);
	memset(b, 0xee, len); /* the caller's again once it returned */
	if (rc == 1)
		ans_wait(&a);
	usleep(1000); /* a second answer would come now */
	free(b);
	if (rc == 0) {
		assert_int_equal(a.calls, 0);
		return 0;
	}
	assert_int_equal(rc, 1);
	assert_int_equal(a.calls, 1);
	assert_false(pthread_equal(a.by, pthread_self()));
	*n = a.n;
	(void)ref;
	return rc;
}

/* A write started and answered with its length; ref has its bytes. */
static void write_ok(blob_wblob *w, uint8_t *ref, struct blob_fx *fx, uint64_t off, size_t len)
{
	struct ans a = ANS_INIT;
	uint8_t *b = malloc(len);

	assert_non_null(b);
	fx_fill(fx, b, len);
	assert_int_equal(blob_wblob_pwrite_start(w, b, len, off, ans_done, &a), 1);
	memcpy(ref + off, b, len);
	memset(b, 0xee, len); /* the caller's again once it returned */
	ans_wait(&a);
	usleep(1000); /* a second answer would come now */
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.n, (ssize_t)len);
	assert_false(pthread_equal(a.by, pthread_self()));
	free(b);
}

/* A write not started: 0, never answered, nothing of it written. */
static void not_started(blob_wblob *w, const uint8_t *b, uint64_t off, size_t len)
{
	struct ans a = ANS_INIT;

	assert_int_equal(blob_wblob_pwrite_start(w, b, len, off, ans_done, &a), 0);
	usleep(1000);
	assert_int_equal(a.calls, 0);
}

static void not_started_rand(blob_wblob *w, struct blob_fx *fx, uint64_t off, size_t len)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	fx_fill(fx, b, len);
	not_started(w, b, off, len);
	free(b);
}

/* The same bytes through a new open, and through another host's. */
static void check_again(struct blob_fx *fx, const char *name, const uint8_t *ref, uint64_t size)
{
	blob_wblob *w = fx_cl_open(fx->s, name);
	blob_store *s2;

	check_bytes(w, ref, size);
	blob_wblob_close(w);
	s2 = fx_other_host(fx, "h2");
	w = fx_cl_open(s2, name);
	check_bytes(w, ref, size);
	blob_wblob_close(w);
	blob_store_close(s2);
}

/* A patched chunk's whole blocks: one operation each, marked once
 * answered; its first write, blocks in part and more than the bound are
 * not started. */
static void test_awrite_patched(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1, mid;
	uint8_t *ref;
	blob_wblob *w;

	fx_cluster_only(fx);
	fx_stored_disk(fx, "p", 3, &ref);
	w = fx_cl_open(fx->s, "p");
	not_started_rand(w, fx, 5 * BLK, BLK); /* a first write: it sets a record */
	assert_int_equal(wb_state_of(w, 0), WB_STORED);
	fx_put(w, ref, fx, 2 * BLK, BLK); /* the waiting way: chunk 0 patched */
	assert_int_equal(wb_state_of(w, 0), WB_PATCHED);
	assert_int_equal(wb_pt_marked(w, 0, 5 * BLK, BLK), 0);
	blob_rados_counters(fx->s->be, &c0);
	write_ok(w, ref, fx, 5 * BLK, BLK);
	assert_int_equal(wb_pt_marked(w, 0, 5 * BLK, BLK), 1);
	assert_int_equal(wb_pt_marked(w, 0, 4 * BLK, 3 * BLK), -1); /* 4 and 6 are not */
	write_ok(w, ref, fx, 16 * BLK, BLOB_WBLOB_START_MAX); /* at the bound */
	write_ok(w, ref, fx, MiB - BLK, BLK);                 /* the chunk's last block */
	write_ok(w, ref, fx, 0, BLK);                         /* its first */
	blob_rados_counters(fx->s->be, &mid);
	assert_int_equal(mid.disk_keys - c0.disk_keys, 3 + BLOB_WBLOB_START_MAX / BLK); /* a key per new block */
	write_ok(w, ref, fx, 5 * BLK, BLK);  /* a block written again: its key is there, its bytes alone */
	write_ok(w, ref, fx, 17 * BLK, BLK); /* inside the run written at the bound */
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.disk_keys - mid.disk_keys, 0);
	write_ok(w, ref, fx, 15 * BLK, 2 * BLK); /* 15 new, 16 marked: both keys, in its one operation */
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.disk_keys - mid.disk_keys, 2);
	assert_int_equal(c1.disk_writes_started - c0.disk_writes_started, 7);
	assert_int_equal(c1.disk_writes - c0.disk_writes, 7);
	assert_int_equal(wb_pt_marked(w, 0, 16 * BLK, BLOB_WBLOB_START_MAX), 1);
	not_started_rand(w, fx, 40 * BLK, BLOB_WBLOB_START_MAX + BLK); /* one block past it */
	not_started_rand(w, fx, 40 * BLK + 100, BLK);                  /* blocks in part */
	not_started_rand(w, fx, 40 * BLK, BLK - 1);
	not_started_rand(w, fx, 40 * BLK + 1, BLK - 1);
	not_started_rand(w, fx, MiB - BLK, 2 * BLK);   /* two chunks */
	not_started_rand(w, fx, 3 * MiB - BLK, 2 * BLK); /* past the end */
	not_started_rand(w, fx, 3 * MiB, BLK);
	not_started(w, ref, 0, 0);
	blob_rados_counters(fx->s->be, &c0);
	assert_int_equal(c0.disk_writes - c1.disk_writes, 0);
	assert_int_equal(wb_pt_marked(w, 0, 40 * BLK, 17 * BLK), 0);
	check_bytes(w, ref, 3 * MiB);
	blob_wblob_close(w);
	check_again(fx, "p", ref, 3 * MiB); /* the marks were set on the object too */
	free(ref);
}

/* An overlay's bytes, any alignment; zeros (a punch), a hole, a short
 * last chunk whole are not started. */
static void test_awrite_overlay(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	uint64_t size = 2 * MiB + 3000;
	uint8_t *ref = calloc(1, 3 * MiB), zeros[BLK] = {0};
	blob_wblob *w;

	fx_cluster_only(fx);
	assert_non_null(ref);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "o", NULL, size), 0);
	w = fx_cl_open(fx->s, "o");
	not_started_rand(w, fx, BLK, BLK); /* a hole: its first write */
	fx_put(w, ref, fx, BLK, 10);       /* chunk 0: an overlay */
	fx_put(w, ref, fx, 2 * MiB, 10);   /* chunk 2 (short, 3000 bytes): one too */
	assert_true(wb_is_overlay(wb_state_of(w, 0)));
	blob_rados_counters(fx->s->be, &c0);
	write_ok(w, ref, fx, 7, 1);
	write_ok(w, ref, fx, 3 * BLK + 5, 3 * BLK);
	write_ok(w, ref, fx, 64 * BLK, BLOB_WBLOB_START_MAX);
	write_ok(w, ref, fx, MiB - 3, 3);   /* to the chunk's end */
	write_ok(w, ref, fx, size - 2999, 2999); /* the short chunk to the disk's end, not whole */
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.disk_writes_started - c0.disk_writes_started, 5);
	not_started_rand(w, fx, 64 * BLK, BLOB_WBLOB_START_MAX + 1); /* one byte past the bound */
	not_started(w, zeros, 2 * BLK, BLK); /* zeros: a punch */
	not_started_rand(w, fx, 2 * MiB, 3000);  /* the short chunk whole */
	not_started_rand(w, fx, size - 10, 11);  /* past the end */
	not_started_rand(w, fx, MiB + BLK, BLK); /* a hole */
	not_started_rand(w, fx, MiB - 1, 2);     /* two chunks */
	blob_rados_counters(fx->s->be, &c0);
	assert_int_equal(c0.disk_writes - c1.disk_writes, 0);
	check_bytes(w, ref, size);
	blob_wblob_close(w);
	check_again(fx, "o", ref, size);
	free(ref);
}

/* What must wait for a started write: a second one of its chunk (not
 * started: the waiting way queues behind it), a punch, a truncate, a
 * close. */
struct op_arg {
	blob_wblob *w;
	int what; /* 0 punch, 1 truncate, 2 close, 3 a waiting write into the held chunk */
	const uint8_t *buf;
	atomic_int done;
	int rc;
};

static void *op_run(void *arg)
{
	struct op_arg *o = arg;

	if (o->what == 0)
		o->rc = blob_wblob_punch(o->w, 3 * MiB + 20 * BLK, BLK);
	else if (o->what == 1)
		o->rc = blob_wblob_truncate(o->w, 3 * MiB);
	else if (o->what == 2)
		blob_wblob_close(o->w);
	else
		o->rc = (int)blob_wblob_pwrite(o->w, o->buf, 100, 8 * BLK + 7);
	atomic_store(&o->done, 1);
	return NULL;
}

static void test_awrite_waits(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref, other[100];
	blob_wblob *w;

	fx_cluster_only(fx);
	fx_stored_disk(fx, "h", 4, &ref);
	w = fx_cl_open(fx->s, "h");
	fx_put(w, ref, fx, 0, BLK);           /* chunk 0 patched */
	fx_put(w, ref, fx, MiB, BLK);         /* chunk 1 patched too */
	fx_put(w, ref, fx, 2 * MiB + 10, 10); /* chunk 2 an overlay; 3 stored (a punch's, a truncate's) */
	fx_fill(fx, other, sizeof other);
	for (int what = 0; what < 4; what++) {
		struct ans a = ANS_INIT, b = ANS_INIT;
		struct op_arg o = {.w = w, .what = what, .buf = other};
		uint8_t blk[BLK], blk2[BLK];
		pthread_t t;

		fx_fill(fx, blk, BLK);
		fx_fill(fx, blk2, BLK);
		blob_rados_test_hold_started(fx->s->be, true);
		assert_int_equal(blob_wblob_pwrite_start(w, blk, BLK, 8 * BLK, ans_done, &a), 1);
		assert_int_equal(blob_wblob_pwrite_start(w, blk2, BLK, 2 * MiB + 5 * BLK, ans_done, &b), 1);
		not_started(w, blk, 9 * BLK, BLK); /* its chunk is held */
		assert_int_equal(pthread_create(&t, NULL, op_run, &o), 0);
		usleep(300 * 1000);
		assert_int_equal(atomic_load(&o.done), 0);
		assert_int_equal(answered(&a, 1) + answered(&b, 1), 0);
		if (what < 2)
			not_started(w, blk, MiB + 5 * BLK, BLK); /* a punch or a truncate waits: nothing new goes ahead of it */
		blob_rados_test_hold_started(fx->s->be, false);
		assert_int_equal(pthread_join(t, NULL), 0);
		if (what == 3)
			ans_wait(&b); /* a write in chunk 0 waits for a's chunk only: b's (chunk 2) may answer after it */
		assert_int_equal(answered(&a, 1) + answered(&b, 1), 2);
		assert_int_equal(a.n, BLK);
		assert_int_equal(b.n, BLK);
		memcpy(ref + 8 * BLK, blk, BLK);
		memcpy(ref + 2 * MiB + 5 * BLK, blk2, BLK);
		if (what == 0) {
			assert_int_equal(o.rc, 0);
			memset(ref + 3 * MiB + 20 * BLK, 0, BLK);
		} else if (what == 1) {
			assert_int_equal(o.rc, 0);
			check_bytes(w, ref, 3 * MiB);
			assert_int_equal(blob_wblob_truncate(w, 4 * MiB), 0);
			memset(ref + 3 * MiB, 0, MiB);
		} else if (what == 2) {
			w = fx_cl_open(fx->s, "h");
		} else {
			assert_int_equal(o.rc, 100); /* after the started one: its bytes over them */
			memcpy(ref + 8 * BLK + 7, other, 100);
		}
		assert_int_equal(wb_state_of(w, 0), WB_PATCHED);
		check_bytes(w, ref, 4 * MiB);
	}
	blob_wblob_close(w);
	check_again(fx, "h", ref, 4 * MiB);
	free(ref);
}

/* Faults: a test's is the waiting write's; a fenced client starts
 * nothing; one fenced while its write is in flight: EIO, nothing marked,
 * its chunk given back. */
static void test_awrite_faults(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref, blk[BLK];
	blob_wblob *w, *b;
	blob_store *s2;
	ssize_t n;

	fx_cluster_only(fx);
	fx_stored_disk(fx, "f", 2, &ref);
	w = fx_cl_open(fx->s, "f");
	fx_put(w, ref, fx, 0, BLK);        /* chunk 0 patched */
	fx_put(w, ref, fx, MiB + 3, 10);   /* chunk 1: a copy, an overlay */
	fx_fill(fx, blk, BLK);
	blob_rados_test_fail_recs(fx->s->be, 0, -EIO); /* a patch refused: the waiting write's */
	not_started(w, blk, 3 * BLK, BLK);
	assert_int_equal(blob_wblob_pwrite(w, blk, BLK, 3 * BLK), -EIO);
	blob_rados_test_fail_recs(fx->s->be, 0, 0);
	assert_int_equal(wb_pt_marked(w, 0, 3 * BLK, BLK), 0);
	write_ok(w, ref, fx, 3 * BLK, BLK);
	/* Another host opens the disk: w's client is fenced, which w learns
	 * from its next operation — a started one here. */
	s2 = fx_other_host(fx, "h2");
	b = fx_cl_open(s2, "f");
	assert_int_equal(awrite(w, ref, fx, 7 * BLK, BLK, &n), 1);
	assert_int_equal(n, -EIO);
	assert_int_equal(wb_pt_marked(w, 0, 7 * BLK, BLK), 0);
	assert_int_equal(awrite(w, ref, fx, MiB + 7 * BLK, BLK, &n), 0); /* fenced: not started */
	assert_int_equal(blob_wblob_pwrite(w, blk, BLK, 7 * BLK), -EIO);  /* its chunk given back */
	check_bytes(b, ref, 2 * MiB);
	blob_wblob_close(w);
	blob_wblob_close(b);
	blob_store_close(s2);
	check_again(fx, "f", ref, 2 * MiB);
	free(ref);
}

/* At most RADOS_STARTED_MAX (128) in flight per store, its disks' reads
 * and writes together, and WB_BUSY_MAX (64) chunks held per disk: at each
 * bound all started, one past it not; room again once answered. */
static void test_awrite_bound(void **state)
{
	struct blob_fx *fx = *state;
	struct ans *a = calloc(128, sizeof *a);
	uint8_t *ref[2], *buf = malloc(128 * BLK), got[BLK];
	blob_wblob *w[2];

	fx_cluster_only(fx);
	assert_true(a && buf);
	for (int d = 0; d < 2; d++) {
		const char *name = d ? "b1" : "b0";
		ref[d] = calloc(1, 66 * MiB);
		assert_non_null(ref[d]);
		assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, name, NULL, 66 * MiB), 0);
		w[d] = fx_cl_open(fx->s, name);
		for (uint32_t i = 0; i < 66; i++)
			fx_put(w[d], ref[d], fx, (uint64_t)i * MiB, 10); /* every chunk an overlay */
	}
	for (int round = 0; round < 2; round++) { /* the second: every place given back */
		fx_fill(fx, buf, 128 * BLK);
		blob_rados_test_hold_started(fx->s->be, true);
		/* Disk 0: 64 chunks held, a 65th not (its bound). */
		for (int k = 0; k < 64; k++) {
			a[k] = (struct ans)ANS_INIT;
			assert_int_equal(blob_wblob_pwrite_start(w[0], buf + (size_t)k * BLK, BLK, (uint64_t)k * MiB + 8 * BLK,
			                                         ans_done, &a[k]),
			                 1);
		}
		not_started(w[0], buf, 64ull * MiB + 8 * BLK, BLK);
		/* Disk 1: a read and 63 writes make the store's 128; one more not. */
		a[64] = (struct ans)ANS_INIT;
		assert_int_equal(blob_wblob_pread_start(w[1], got, BLK, 0, ans_done, &a[64]), 1);
		for (int k = 65; k < 128; k++) {
			a[k] = (struct ans)ANS_INIT;
			assert_int_equal(blob_wblob_pwrite_start(w[1], buf + (size_t)k * BLK, BLK,
			                                         (uint64_t)(k - 64) * MiB + 8 * BLK, ans_done, &a[k]),
			                 1);
		}
		not_started(w[1], buf, 64ull * MiB + 8 * BLK, BLK);
		assert_int_equal(answered(a, 128), 0);
		blob_rados_test_hold_started(fx->s->be, false);
		for (int k = 0; k < 128; k++) {
			ans_wait(&a[k]);
			assert_int_equal(a[k].n, BLK);
		}
		assert_bytes_equal(got, ref[1], BLK);
		for (int k = 0; k < 64; k++)
			memcpy(ref[0] + (size_t)k * MiB + 8 * BLK, buf + (size_t)k * BLK, BLK);
		for (int k = 65; k < 128; k++)
			memcpy(ref[1] + (size_t)(k - 64) * MiB + 8 * BLK, buf + (size_t)k * BLK, BLK);
	}
	for (int d = 0; d < 2; d++) {
		write_ok(w[d], ref[d], fx, 64ull * MiB + 8 * BLK, BLK);
		check_bytes(w[d], ref[d], 66 * MiB);
		blob_wblob_close(w[d]);
		free(ref[d]);
	}
	free(buf);
	free(a);
}

/* ---- the close's barrier ------------------------------------------------------- */

/* A backend whose started reads and writes are answered before their
 * start returns to the starter (a fast cluster): after the real start,
 * it waits until the caller's done ran, lets the closer go, and holds the
 * starter (who still holds w's shared lock) for 100 ms more. */
static struct blob_backend_disks slow_cx;
static const struct blob_backend_disks *real_cx;
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool answered, go;
	atomic_bool returned; /* the start returned to its starter */
} gate = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void gate_hold(void)
{
	pthread_mutex_lock(&gate.lock);
	while (!gate.answered)
		pthread_cond_wait(&gate.cv, &gate.lock);
	gate.go = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.lock);
	usleep(100 * 1000);
	atomic_store(&gate.returned, true);
}

static int slow_write_start(struct blob_backend_disk *d, uint32_t i, uint64_t off, const void *buf, size_t len,
                            bool patch, void (*done)(void *arg, int rc), void *arg)
{
	int rc = real_cx->write_start(d, i, off, buf, len, patch, done, arg);

	if (rc == 0)
		gate_hold();
	return rc;
}

static int slow_read_start(struct blob_backend_disk *d, uint32_t i, uint64_t off, void *buf, size_t len,
                           void (*done)(void *arg, int rc), void *arg)
{
	int rc = real_cx->read_start(d, i, off, buf, len, done, arg);

	if (rc == 0)
		gate_hold();
	return rc;
}

/* The caller's done: answered, as FUSE's reply would be. */
static void gate_done(void *arg, ssize_t n)
{
	*(ssize_t *)arg = n;
	pthread_mutex_lock(&gate.lock);
	gate.answered = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.lock);
}

/* The closer: the file released once answered; whether the starter had
 * let go of w when the close returned. */
static void *gate_close(void *arg)
{
	pthread_mutex_lock(&gate.lock);
	while (!gate.go)
		pthread_cond_wait(&gate.cv, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
	blob_wblob_close(arg);
	return (void *)(intptr_t)atomic_load(&gate.returned);
}

/* A close that follows the answer of a read or write started on w waits
 * for its starter to let go of w (blob_wblob_close's lock barrier): the
 * answer can go out, and the file be released and closed, before the
 * start returned to the thread that holds w's shared lock.  Without the
 * barrier the close frees w under it (and returns first: caught here,
 * and by ASan as a use after free). */
static void test_awrite_close_barrier(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref, blk[BLK];

	fx_cluster_only(fx);
	fx_stored_disk(fx, "c", 2, &ref);
	for (int what = 0; what < 2; what++) { /* a write, a read */
		blob_wblob *w = fx_cl_open(fx->s, "c");
		ssize_t n = 0;
		pthread_t t;
		void *back;

		fx_put(w, ref, fx, MiB, BLK); /* chunk 1 patched: a started write's and read's */
		real_cx = w->cx;
		slow_cx = *w->cx;
		slow_cx.write_start = slow_write_start;
		slow_cx.read_start = slow_read_start;
		w->cx = &slow_cx;
		gate.answered = gate.go = false;
		atomic_store(&gate.returned, false);
		assert_int_equal(pthread_create(&t, NULL, gate_close, w), 0);
		fx_fill(fx, blk, BLK);
		if (what == 0) {
			assert_int_equal(blob_wblob_pwrite_start(w, blk, BLK, MiB + 3 * BLK, gate_done, &n), 1);
			memcpy(ref + MiB + 3 * BLK, blk, BLK);
		} else {
			assert_int_equal(blob_wblob_pread_start(w, blk, BLK, MiB + 3 * BLK, gate_done, &n), 1);
			assert_bytes_equal(blk, ref + MiB + 3 * BLK, BLK);
		}
		assert_int_equal(pthread_join(t, &back), 0);
		assert_int_equal(n, BLK);
		assert_true((intptr_t)back); /* the close returned after the start did */
	}
	check_again(fx, "c", ref, 2 * MiB);
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_awrite_patched, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_awrite_overlay, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_awrite_waits, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_awrite_faults, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_awrite_bound, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_awrite_close_barrier, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

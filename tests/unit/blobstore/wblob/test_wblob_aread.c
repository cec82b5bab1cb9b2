/*
 * test_wblob_aread.c — unit tests for a cluster wblob's reads answered by
 * the cluster's thread (blobstore/wblob/wblob_aread.c, part.c's started part
 * read, backend/rados_disk.c's read_start).  RADOS only.
 *
 * Each started read is checked against a plain buffer, answered once, on
 * a thread that is not the caller's, and counted where it went: an
 * overlay's object; a patched chunk's object (every block marked) or its
 * stored chunk (none); a stored chunk whose digests the store holds.  Not
 * started (0, done never called): a hole, a read across two chunks, one
 * byte past BLOB_WBLOB_START_MAX (at it: started), past the end, a
 * patched read of marked and unmarked blocks, a stored chunk whose
 * digests are not held.  Faults: a block that does not match its digest
 * but whose chunk matches its id is served right (the waiting path, the
 * wrong array dropped); a damaged chunk is EIO; a part read whose first
 * try timed out is tried again the waiting way; an object read that timed
 * out, or whose object was removed outside imgfs, is EIO, never zeros.
 * A close waits for the reads started on its disk, a store's close for
 * its part reads.  At most 128 in flight per store: at the bound, and one
 * past it (not started).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "wblob_int.h" /* wb_stored_id */
#include "wblob_test.h"

#define BLK 4096

/* Starts a read of len at off into buf: what blob_wblob_pread_start
 * returned; when 1, the answer waited for (*n), once, by another thread
 * unless it was answered at the start (a test's fault). */
static int aread(blob_wblob *w, void *buf, size_t len, uint64_t off, ssize_t *n)
{
	struct ans a = ANS_INIT;
	int rc = blob_wblob_pread_start(w, buf, len, off, ans_done, &a);

	pthread_mutex_lock(&a.lock);
	if (rc == 1)
		while (a.calls == 0)
			pthread_cond_wait(&a.cv, &a.lock);
	pthread_mutex_unlock(&a.lock);
	if (rc == 0) {
		assert_int_equal(a.calls, 0);
		return 0;
	}
	usleep(1000); /* a second answer would come now */
	assert_int_equal(a.calls, 1);
	*n = a.n;
	return rc;
}

/* A read started and answered (by the cluster's thread unless here is
 * true: a fault the test injected is answered at the start): its bytes
 * are want's. */
static void read_ok_by(blob_wblob *w, const uint8_t *want, size_t len, uint64_t off, size_t expect, bool here)
{
	struct ans a = ANS_INIT;
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	memset(buf, 0xee, len);
	assert_int_equal(blob_wblob_pread_start(w, buf, len, off, ans_done, &a), 1);
	ans_wait(&a);
	assert_int_equal(!pthread_equal(a.by, pthread_self()), !here);
	assert_int_equal(a.n, (ssize_t)expect);
	assert_bytes_equal(buf, want + off, expect);
	free(buf);
}

static void read_ok(blob_wblob *w, const uint8_t *want, size_t len, uint64_t off, size_t expect)
{
	read_ok_by(w, want, len, off, expect, false);
}

static void not_started(blob_wblob *w, size_t len, uint64_t off)
{
	uint8_t *buf = malloc(len + 1);
	ssize_t n;

	assert_non_null(buf);
	assert_int_equal(aread(w, buf, len, off, &n), 0);
	free(buf);
}

/* An overlay's reads: from its object, at the bound and one past it. */
static void test_aread_overlay(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	uint64_t size = 3 * MiB - 100;
	uint8_t *ref = calloc(1, 3 * MiB);
	blob_wblob *w;

	fx_cluster_only(fx);
	assert_non_null(ref);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "o", NULL, size), 0);
	w = fx_cl_open(fx->s, "o");
	fx_put(w, ref, fx, BLK, 2 * BLK);                      /* chunk 0: an overlay */
	fx_put(w, ref, fx, 2 * MiB + 5, 300);                  /* chunk 2 (the last, short): one too */
	fx_put(w, ref, fx, 3 * MiB - 100 - 2 * BLK, 2 * BLK);  /* its end */
	blob_rados_counters(fx->s->be, &c0);
	read_ok(w, ref, BLK, BLK, BLK);
	read_ok(w, ref, 3, BLK * 2 + 7, 3);
	read_ok(w, ref, BLOB_WBLOB_START_MAX, 0, BLOB_WBLOB_START_MAX); /* at the bound */
	read_ok(w, ref, BLK, size - 100, 100);                             /* cut at the end */
	read_ok(w, ref, 101, size - 100, 100);                             /* by one byte */
	read_ok(w, ref, 2 * BLK, 2 * MiB, 2 * BLK);                        /* zeros and bytes */
	read_ok(w, ref, BLK, MiB - BLK, BLK);                              /* to the chunk's end */
	blob_rados_counters(fx->s->be, &c1);
	assert_int_equal(c1.disk_reads_started - c0.disk_reads_started, 7);
	assert_int_equal(c1.disk_reads - c0.disk_reads, 7);
	not_started(w, BLOB_WBLOB_START_MAX + 1, 0); /* one past it */
	not_started(w, 2 * BLK, MiB - BLK);          /* two chunks */
	not_started(w, BLK, MiB + BLK);              /* a hole */
	not_started(w, BLK, size);                   /* the end */
	not_started(w, 0, 0);
	blob_rados_counters(fx->s->be, &c0);
	assert_int_equal(c0.disk_reads - c1.disk_reads, 0);
	/* The waiting reads agree (a read's length as pread's). */
	check_bytes(w, ref, size);
	blob_wblob_close(w);
	free(ref);
}

/* Stored and patched chunks: the stored chunk's blocks once its digests
 * are held, a patched chunk's object or stored chunk, never both. */
static void test_aread_stored_patched(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	uint8_t *ref, got[BLK];
	blob_store *s2;
	blob_wblob *w;

	fx_cluster_only(fx);
	fx_stored_disk(fx, "p", 2, &ref);
	s2 = fx_other_host(fx, "h2"); /* its digests cache cold */
	w = fx_cl_open(s2, "p");
	blob_rados_counters(s2->be, &c0);
	not_started(w, BLK, 3 * BLK); /* no digests held */
	assert_int_equal(blob_wblob_pread(w, got, BLK, 3 * BLK), BLK); /* they come with this one */
	assert_bytes_equal(got, ref + 3 * BLK, BLK);
	read_ok(w, ref, BLK, 7 * BLK, BLK);
	read_ok(w, ref, 2 * BLK + 10, 100 * BLK + 5, 2 * BLK + 10); /* three blocks, not aligned */
	read_ok(w, ref, BLOB_WBLOB_START_MAX, 128 * BLK, BLOB_WBLOB_START_MAX); /* at the bound */
	blob_rados_counters(s2->be, &c1);
	assert_int_equal(c1.parts_started - c0.parts_started, 3);
	assert_int_equal(c1.part_reads - c0.part_reads, 1);
	/* Chunk 1 patched at block 2: that block from its object, block 9
	 * from the stored chunk, both only by a read of neither. */
	fx_put(w, ref, fx, MiB + 2 * BLK, BLK);
	assert_int_equal(wb_state_of(w, 1), WB_PATCHED);
	assert_int_equal(blob_wblob_pread(w, got, BLK, MiB + 9 * BLK), BLK); /* its digests held */
	blob_rados_counters(s2->be, &c0);
	read_ok(w, ref, BLK, MiB + 2 * BLK, BLK);
	read_ok(w, ref, 100, MiB + 2 * BLK + 50, 100);
	read_ok(w, ref, BLK, MiB + 9 * BLK, BLK);
	read_ok(w, ref, 2 * BLK, MiB + 3 * BLK, 2 * BLK);
	blob_rados_counters(s2->be, &c1);
	assert_int_equal(c1.disk_reads_started - c0.disk_reads_started, 2);
	assert_int_equal(c1.parts_started - c0.parts_started, 2);
	/* A stored chunk the cache holds (a whole read brought it): read
	 * from there, not started. */
	uint8_t *whole = malloc(MiB);
	assert_non_null(whole);
	assert_int_equal(blob_wblob_pread(w, whole, MiB, 0), MiB);
	assert_bytes_equal(whole, ref, MiB);
	free(whole);
	not_started(w, BLK, 11 * BLK);
	not_started(w, 2 * BLK, MiB + BLK);      /* blocks 1 and 2: one of each */
	not_started(w, 2, MiB + 3 * BLK - 1);    /* 2 and 3 */
	check_bytes(w, ref, 2 * MiB);
	blob_wblob_close(w);
	blob_store_close(s2);
	free(ref);
}

/* What did not verify, what was not answered, what is gone. */
static void test_aread_faults(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref, *buf = malloc(BLK), bad[BLOB_DIG_MAX];
	struct blob_rados_counters c0, c1;
	blob_store *s2;
	blob_wblob *w;
	ssize_t n;

	fx_cluster_only(fx);
	assert_non_null(buf);
	fx_stored_disk(fx, "f", 2, &ref);
	s2 = fx_other_host(fx, "h2");
	w = fx_cl_open(s2, "f");
	chunk_id id0 = *wb_stored_id(w, 0), id1 = *wb_stored_id(w, 1);
	assert_int_equal(blob_wblob_pread(w, buf, BLK, 0), BLK);
	assert_int_equal(blob_wblob_pread(w, buf, BLK, MiB), BLK);
	/* A wrong array held, the bytes right: served by the whole chunk,
	 * which matches its id, and the array is the right one again. */
	memset(bad, 0x11, sizeof bad);
	blob_store_test_digc_put(s2, &id0, MiB, bad);
	read_ok(w, ref, BLK, 5 * BLK, BLK);
	assert_true(blob_store_test_digc_get(s2, &id0, MiB, bad));
	assert_int_not_equal(bad[5 * BLOB_DIG_SIZE], 0x11);
	/* A first try that timed out: the waiting way tries again. */
	blob_rados_counters(s2->be, &c0);
	blob_rados_test_fail_ops(s2->be, 1, -ETIMEDOUT);
	read_ok_by(w, ref, BLK, 6 * BLK, BLK, true);
	blob_rados_counters(s2->be, &c1);
	assert_int_equal(c1.parts_started - c0.parts_started, 1);
	assert_int_equal(c1.part_reads - c0.part_reads, 1);
	/* Every try timed out: EIO (could not tell). */
	blob_rados_test_fail_ops(s2->be, 0xffff, -ETIMEDOUT);
	assert_int_equal(aread(w, buf, BLK, 6 * BLK, &n), 1);
	assert_int_equal(n, -EIO);
	blob_rados_test_fail_ops(s2->be, 0, 0);
	/* A damaged chunk: EIO, as the waiting read says. */
	fx_corrupt(fx, &id1, 8 * BLK + 3);
	assert_int_equal(aread(w, buf, BLK, MiB + 8 * BLK, &n), 1);
	assert_int_equal(n, -EIO);
	assert_int_equal(blob_wblob_pread(w, buf, BLK, MiB + 8 * BLK), -EIO);
	/* An overlay's read that timed out: EIO, never zeros. */
	fx_put(w, ref, fx, 20 * BLK, 100);
	blob_rados_test_fail_ops(s2->be, 1, -ETIMEDOUT);
	assert_int_equal(aread(w, buf, BLK, 20 * BLK, &n), 1);
	assert_int_equal(n, -EIO);
	read_ok(w, ref, BLK, 20 * BLK, BLK);
	/* Its object removed outside imgfs: EIO. */
	char cmd[512];
	int k = snprintf(cmd, sizeof cmd, "rados -c %s -p %s -N %s rm wb.f.00000000", fx->ceph_conf, FX_POOL, fx->ns[0]);
	assert_true(k > 0 && (size_t)k < sizeof cmd);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(aread(w, buf, BLK, 20 * BLK, &n), 1);
	assert_int_equal(n, -EIO);
	blob_wblob_close(w);
	blob_store_close(s2);
	free(buf);
	free(ref);
}

/* A close waits for the reads started on its disk, and a store's for its
 * part reads: answers held in flight (a slow cluster), the close does
 * not return until they are let go and answered. */
struct closer {
	blob_wblob *w;
	blob_store *s;
	atomic_int done;
};

static void *close_it(void *arg)
{
	struct closer *c = arg;

	if (c->w != NULL)
		blob_wblob_close(c->w);
	else
		blob_store_close(c->s);
	atomic_store(&c->done, 1);
	return NULL;
}

/* The marks an open reads (SPEC §13 "marks read when first needed"): of
 * the first BLOB_MARKS_AT_OPEN patched chunks; the others' by the first
 * read of each, once; until then a started read of such a chunk is not
 * started (the waiting read reads them).  Three patched chunks, the
 * bound set to 3 (all at the bound), 2 (one chunk past it) and 0. */
static void test_aread_marks_at_open(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	uint8_t *ref, got[BLK];
	blob_wblob *w;

	fx_cluster_only(fx);
	fx_stored_disk(fx, "m", 4, &ref);
	w = fx_cl_open(fx->s, "m");
	for (uint32_t c = 0; c < 3; c++)
		fx_put(w, ref, fx, (uint64_t)c * MiB + 2 * BLK, BLK); /* chunks 0-2 patched at block 2 */
	for (uint32_t c = 0; c < 4; c++) /* every chunk's digests held */
		assert_int_equal(blob_wblob_pread(w, got, BLK, (uint64_t)c * MiB + 9 * BLK), BLK);
	blob_wblob_close(w);
	for (int k = 0; k < 3; k++) {
		unsigned read_at_open = (unsigned[]){3, 2, 0}[k]; /* the bound: exactly the 3, one under, none */

		blob_store_test_marks_at_open(fx->s, read_at_open);
		blob_rados_counters(fx->s->be, &c0);
		w = fx_cl_open(fx->s, "m");
		blob_rados_counters(fx->s->be, &c1);
		assert_int_equal(c1.disk_marks - c0.disk_marks, read_at_open);
		for (uint32_t c = 0; c < 3; c++) {
			uint64_t base = (uint64_t)c * MiB;
			if (c < read_at_open) { /* read at open: started at once, both ways */
				read_ok(w, ref, BLK, base + 2 * BLK, BLK);
				read_ok(w, ref, BLK, base + 9 * BLK, BLK);
				continue;
			}
			not_started(w, BLK, base + 2 * BLK);
			not_started(w, BLK, base + 9 * BLK);
			assert_int_equal(blob_wblob_pread(w, got, BLK, base + 9 * BLK), BLK); /* its marks read */
			assert_bytes_equal(got, ref + base + 9 * BLK, BLK);
			read_ok(w, ref, BLK, base + 2 * BLK, BLK);
			read_ok(w, ref, BLK, base + 9 * BLK, BLK);
		}
		read_ok(w, ref, BLK, 3 * MiB + 2 * BLK, BLK); /* chunk 3 (stored): no marks */
		blob_rados_counters(fx->s->be, &c0);
		assert_int_equal(c0.disk_marks - c1.disk_marks, 3 - read_at_open); /* once each */
		blob_wblob_close(w);
	}
	blob_store_test_marks_at_open(fx->s, BLOB_MARKS_AT_OPEN);
	w = fx_cl_open(fx->s, "m");
	check_bytes(w, ref, 4 * MiB); /* last: its whole reads fill the cache, which started reads skip */
	blob_wblob_close(w);
	free(ref);
}

static void test_aread_close_waits(void **state)
{
	struct blob_fx *fx = *state;
	struct ans a[16];
	uint8_t *ref, *buf = malloc(16 * BLK), got[BLK];
	struct closer c = {0};
	blob_store *s2;
	blob_wblob *w;
	pthread_t t;

	fx_cluster_only(fx);
	assert_non_null(buf);
	fx_stored_disk(fx, "c", 2, &ref);
	s2 = fx_other_host(fx, "h2");
	w = fx_cl_open(s2, "c");
	fx_put(w, ref, fx, 0, 16 * BLK); /* chunk 0: patched, every block read marked */
	assert_int_equal(blob_wblob_pread(w, got, BLK, MiB), BLK); /* chunk 1's digests held */
	for (int round = 0; round < 3; round++) {
		/* Round 0: the disk's object reads, the disk closed; round 1: a
		 * reader's (a capture's open, through the store's client); round
		 * 2: the store's part reads, the store closed (w first). */
		uint64_t base = round < 2 ? 0 : MiB;
		if (round == 1) {
			char why[256] = "";
			blob_wblob_close(w);
			w = NULL;
			assert_int_equal(blob_wblob_open_reader(&w, s2, BLOB_WB_CLUSTER, "c", NULL, why, sizeof why), 0);
			assert_int_equal(blob_wblob_pread(w, got, BLK, 0), BLK); /* chunk 0's marks read */
		}
		blob_rados_test_hold_started(s2->be, true);
		for (int k = 0; k < 16; k++) {
			a[k] = (struct ans)ANS_INIT;
			assert_int_equal(blob_wblob_pread_start(w, buf + k * BLK, BLK, base + (uint64_t)k * BLK, ans_done, &a[k]),
			                 1);
		}
		if (round == 2) {
			blob_wblob_close(w);
			w = NULL;
		}
		c = (struct closer){.w = w, .s = s2};
		assert_int_equal(pthread_create(&t, NULL, close_it, &c), 0);
		usleep(300 * 1000);
		assert_int_equal(atomic_load(&c.done), 0);
		assert_int_equal(answered(a, 16), 0);
		blob_rados_test_hold_started(s2->be, false);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(answered(a, 16), 16);
		for (int k = 0; k < 16; k++)
			assert_int_equal(a[k].n, BLK);
		assert_bytes_equal(buf, ref + base, 16 * BLK);
		if (round < 2)
			w = fx_cl_open(s2, "c");
	}
	free(buf);
	free(ref);
}

/* At most RADOS_STARTED_MAX (128) started reads in flight per store,
 * its disks' and its own: at the bound all started, one past it not (the
 * caller reads the waiting way); room again once they are answered. */
static void test_aread_bound(void **state)
{
	struct blob_fx *fx = *state;
	struct ans *a = calloc(129, sizeof *a);
	uint8_t *ref, *buf = malloc(129 * BLK), got[BLK];
	blob_store *s2;
	blob_wblob *w;
	ssize_t n;

	fx_cluster_only(fx);
	assert_true(a && buf);
	fx_stored_disk(fx, "b", 1, &ref);
	s2 = fx_other_host(fx, "h2");
	w = fx_cl_open(s2, "b");
	fx_put(w, ref, fx, 0, 16 * BLK); /* blocks 0-15 patched: their object; 16-255 the stored chunk's */
	assert_int_equal(blob_wblob_pread(w, got, BLK, 100 * BLK), BLK); /* its digests held */
	for (int round = 0; round < 2; round++) { /* the second: every place given back */
		memset(buf, 0, 129 * BLK);
		blob_rados_test_hold_started(s2->be, true);
		for (int k = 0; k < 128; k++) {
			a[k] = (struct ans)ANS_INIT;
			assert_int_equal(
			    blob_wblob_pread_start(w, buf + (size_t)k * BLK, BLK, (uint64_t)k * BLK, ans_done, &a[k]), 1);
		}
		assert_int_equal(aread(w, buf + 128 * BLK, BLK, 128 * BLK, &n), 0); /* one past: a part read */
		assert_int_equal(aread(w, buf + 128 * BLK, BLK, 3 * BLK, &n), 0);   /* and an object read */
		assert_int_equal(answered(a, 128), 0);
		blob_rados_test_hold_started(s2->be, false);
		for (int k = 0; k < 128; k++) {
			pthread_mutex_lock(&a[k].lock);
			while (a[k].calls == 0)
				pthread_cond_wait(&a[k].cv, &a[k].lock);
			pthread_mutex_unlock(&a[k].lock);
			assert_int_equal(a[k].n, BLK);
		}
		assert_bytes_equal(buf, ref, 128 * BLK);
	}
	read_ok(w, ref, BLK, 128 * BLK, BLK);
	read_ok(w, ref, BLK, 3 * BLK, BLK);
	blob_wblob_close(w);
	blob_store_close(s2);
	free(buf);
	free(a);
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_aread_overlay, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_aread_stored_patched, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_aread_faults, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_aread_marks_at_open, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_aread_close_waits, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_aread_bound, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

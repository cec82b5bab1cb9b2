/*
 * test_wblob_patch.c — unit tests for a cluster wblob's patched chunks
 * (blobstore/wblob/wblob_patch.c over backend/rados_disk.c): a first write into
 * a chunk that shows a stored chunk writes its blocks, not the chunk.
 * RADOS only.
 *
 * Counted with the store's counters, on a second client whose cache is
 * cold: a first 4 KiB write into a stored chunk is one object operation
 * and one record, and reads no stored chunk; a later one is one
 * operation.  Against a plain buffer: reads at every block edge of
 * patched chunks (block 0, 255, runs crossing written and unwritten),
 * unaligned writes (1 B, 511 B at 4095, across two chunks, two threads
 * into one block), the same after a reopen on another client and on the
 * first; a capture's merged bytes; whole writes, punches (whole and
 * part), truncates inside a patched chunk, zeros; gc keeps the id a
 * patched chunk shows; a record that failed after its object (a crash
 * between the two) shows the old chunk, and the next first write starts
 * the object afresh; a later write whose operation failed marks nothing.
 */
#include <pthread.h>

#include "wblob_int.h" /* WB_CL_SWEEP_MAX */
#include "wblob_test.h"

#define BLK 4096

/* Small reads across every block edge of chunk i (1 and 2 bytes, a block
 * and a bit), against want. */
static void check_edges(blob_wblob *w, const uint8_t *want, uint32_t i)
{
	uint8_t got[BLK + 2];
	uint64_t c = (uint64_t)i * MiB;

	for (uint64_t b = 0; b <= MiB / BLK; b++) {
		uint64_t e = c + b * BLK;
		if (e > 0 && e - 1 < blob_wblob_size(w)) {
			size_t m = blob_wblob_size(w) - (e - 1) < 2 ? 1 : 2;
			assert_int_equal(blob_wblob_pread(w, got, 2, e - 1), (ssize_t)m);
			assert_bytes_equal(got, want + e - 1, m);
		}
		if (b < MiB / BLK && e < blob_wblob_size(w)) {
			assert_int_equal(blob_wblob_pread(w, got, 1, e), 1);
			assert_int_equal(got[0], want[e]);
			if (e + BLK + 1 <= c + MiB && e + BLK + 1 <= blob_wblob_size(w)) {
				assert_int_equal(blob_wblob_pread(w, got, BLK + 1, e), BLK + 1);
				assert_bytes_equal(got, want + e, BLK + 1);
			}
		}
	}
}

/* The costs, and reads merging at every block edge. */
static void test_patch_costs_and_edges(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	blob_store *s2;
	uint8_t *ref;
	blob_wblob *w;

	fx_cluster_only(fx);
	fx_stored_disk(fx, "p", 4, &ref);
	s2 = fx_other_host(fx, "h2");
	w = fx_cl_open(s2, "p");
	/* A first 4 KiB write into stored chunk 1: one operation, one record,
	 * no stored chunk read. */
	blob_rados_counters(s2->be, &c0);
	fx_put(w, ref, fx, MiB + 5 * BLK, BLK);
	blob_rados_counters(s2->be, &c1);
	assert_int_equal(c1.disk_writes - c0.disk_writes, 1);
	assert_int_equal(c1.disk_recs - c0.disk_recs, 1);
	assert_int_equal(c1.reads - c0.reads, 0);
	assert_int_equal(c1.reads_ahead - c0.reads_ahead, 0);
	assert_int_equal(c1.part_reads - c0.part_reads, 0);
	/* Later ones: one operation each, nothing else (8 KiB: two blocks). */
	fx_put(w, ref, fx, MiB + 200 * BLK, 2 * BLK);
	fx_put(w, ref, fx, MiB + 6 * BLK, BLK); /* beside the first: a run of two */
	blob_rados_counters(s2->be, &c0);
	assert_int_equal(c0.disk_writes - c1.disk_writes, 2);
	assert_int_equal(c0.disk_recs - c1.disk_recs, 0);
	assert_int_equal(c0.reads - c1.reads, 0);
	assert_int_equal(c0.part_reads - c1.part_reads, 0);
	/* Chunk 2: its first and last blocks; chunk 3 every other block. */
	fx_put(w, ref, fx, 2 * MiB, BLK);
	fx_put(w, ref, fx, 3 * MiB - BLK, BLK);
	for (uint32_t b = 0; b < 256; b += 2)
		fx_put(w, ref, fx, 3 * MiB + (uint64_t)b * BLK, BLK);
	for (uint32_t i = 1; i < 4; i++)
		check_edges(w, ref, i);
	check_bytes(w, ref, 4 * MiB);
	assert_int_equal(blob_wblob_stored(w), 4 * MiB);
	blob_wblob_close(w);
	/* Another open (its marks read back), on both clients. */
	w = fx_cl_open(s2, "p");
	for (uint32_t i = 1; i < 4; i++)
		check_edges(w, ref, i);
	check_bytes(w, ref, 4 * MiB);
	/* Every block of chunk 3 written: 256 marks, the most there are. */
	for (uint32_t b = 1; b < 256; b += 2)
		fx_put(w, ref, fx, 3 * MiB + (uint64_t)b * BLK, BLK);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "p");
	check_edges(w, ref, 3);
	check_bytes(w, ref, 4 * MiB);
	/* A short last chunk: the disk cut inside patched chunk 3 (reads
	 * stop there, a write up to the end), then grown (zeros past the
	 * cut).  And a stored chunk first patched while short: chunk 2 of a
	 * disk cut to 2 MiB + 3 blocks (below). */
	assert_int_equal(blob_wblob_truncate(w, 3 * MiB + 5 * BLK + 1), 0);
	check_edges(w, ref, 3);
	fx_put(w, ref, fx, 3 * MiB + 4 * BLK + 7, BLK - 6); /* up to the end */
	check_bytes(w, ref, 3 * MiB + 5 * BLK + 1);
	blob_wblob_close(w);
	w = fx_cl_open(s2, "p");
	check_bytes(w, ref, 3 * MiB + 5 * BLK + 1);
	assert_int_equal(blob_wblob_truncate(w, 4 * MiB), 0);
	memset(ref + 3 * MiB + 5 * BLK + 1, 0, MiB - 5 * BLK - 1);
	check_bytes(w, ref, 4 * MiB);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "p");
	fx_put(w, ref, fx, 2 * MiB, MiB); /* stored again, whole */
	assert_int_equal(blob_wblob_truncate(w, 2 * MiB + 3 * BLK), 0);
	fx_put(w, ref, fx, 2 * MiB + BLK + 1, 2 * BLK - 1);
	check_edges(w, ref, 2);
	/* The whole short chunk: a patch (no record: never the object
	 * rewritten while the record says patched). */
	blob_rados_test_fail_recs(fx->s->be, -EIO, 0);
	fx_put(w, ref, fx, 2 * MiB, 3 * BLK);
	blob_rados_test_fail_recs(fx->s->be, 0, 0);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "p");
	check_bytes(w, ref, 2 * MiB + 3 * BLK);
	blob_wblob_close(w);
	blob_store_close(s2);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "p"), 0);
	free(ref);
}

struct same_block {
	blob_wblob *w;
	uint64_t off;
	uint8_t v;
	pthread_barrier_t *go;
};

static void *byte_writer(void *arg)
{
	struct same_block *p = arg;

	pthread_barrier_wait(p->go);
	for (int k = 0; k < 20; k++)
		if (blob_wblob_pwrite(p->w, &p->v, 1, p->off + (uint64_t)k * 2) != 1)
			return (void *)1;
	return NULL;
}

/* Unaligned writes against a plain buffer, over a base (WB_BASE chunks
 * patched with the base's id) and stored chunks. */
static void test_patch_unaligned(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *base = NULL;
	uint8_t *ref, *base_bytes;
	pthread_barrier_t go;
	struct same_block sb[2];
	pthread_t th[2];
	blob_wblob *w;

	fx_cluster_only(fx);
	base_bytes = fx_make_blob(fx, 6 * MiB, 0);
	assert_int_equal(blob_store_put_buf(fx->s, &base, base_bytes, 6 * MiB), 0);
	ref = malloc(6 * MiB);
	assert_non_null(ref);
	memcpy(ref, base_bytes, 6 * MiB);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "u", base, 6 * MiB), 0);
	w = fx_cl_open(fx->s, "u");
	fx_put(w, ref, fx, 0, 1);                        /* 1 B at block 0 */
	fx_put(w, ref, fx, BLK - 1, 511);                /* 511 B at 4095: two blocks */
	fx_put(w, ref, fx, MiB - 1, 1);                  /* the last byte of chunk 0 */
	fx_put(w, ref, fx, 2 * MiB - 3000, 7000);        /* across chunks 1 and 2 */
	fx_put(w, ref, fx, 3 * MiB + 100 * BLK + 1, 3 * BLK); /* four blocks, both edges inside */
	fx_put(w, ref, fx, 3 * MiB + 100 * BLK + 2, 10); /* inside a patched block */
	for (int k = 0; k < 60; k++) {
		size_t len = 1 + (size_t)fx_below(fx, 3 * BLK);
		fx_put(w, ref, fx, 4 * MiB + fx_below(fx, 2 * MiB - len), len);
	}
	check_bytes(w, ref, 6 * MiB);
	for (uint32_t i = 0; i < 6; i++)
		check_edges(w, ref, i);
	/* Two writers into one block of a patched chunk, 1 byte at a time at
	 * interleaved offsets: neither loses the other's. */
	assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
	for (int t = 0; t < 2; t++) {
		sb[t] = (struct same_block){w, 5 * MiB + 7 * BLK + 3 + (uint64_t)t, (uint8_t)(0xa0 + t), &go};
		assert_int_equal(pthread_create(&th[t], NULL, byte_writer, &sb[t]), 0);
	}
	for (int t = 0; t < 2; t++) {
		void *r;
		pthread_join(th[t], &r);
		assert_null(r);
		for (int k = 0; k < 20; k++)
			ref[sb[t].off + (uint64_t)k * 2] = sb[t].v;
	}
	pthread_barrier_destroy(&go);
	check_bytes(w, ref, 6 * MiB);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "u");
	check_bytes(w, ref, 6 * MiB);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "u"), 0);
	blob_manifest_free(base);
	free(base_bytes);
	free(ref);
}

/* Everything rare over patched chunks: a capture, whole writes, punches
 * whole and in part, zeros, truncates inside one; gc keeps the id a
 * patched chunk shows. */
static void test_patch_rare(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest *m = NULL;
	blob_idset *live = NULL;
	uint8_t *ref, *got, z[BLK] = {0};
	chunk_id id6;
	blob_wblob *w;

	fx_cluster_only(fx);
	fx_stored_disk(fx, "x", 8, &ref);
	got = malloc(8 * MiB);
	assert_non_null(got);
	/* The id of chunk 6's stored chunk (stored already: the same id). */
	assert_int_equal(blob_store_put_chunk(fx->s, &id6, ref + 6 * MiB, MiB), 0);
	w = fx_cl_open(fx->s, "x");
	for (uint32_t i = 0; i < 8; i++)
		fx_put(w, ref, fx, (uint64_t)i * MiB + (uint64_t)(i * 31 % 256) * BLK, BLK);
	/* A capture: the merged bytes. */
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(blob_store_read(fx->s, m, got, 8 * MiB, 0), (ssize_t)(8 * MiB));
	assert_bytes_equal(got, ref, 8 * MiB);
	blob_manifest_free(m);
	m = NULL;
	/* gc keeps the stored chunk chunk 6 shows (no other disk names it:
	 * its record is the one name). */
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_int_equal(blob_idset_new(&live), 0);
	assert_int_equal(blob_wblob_add_base_ids(fx->s, live), 0);
	assert_true(blob_idset_has(live, &id6));
	blob_idset_free(live);
	/* A whole chunk over patched chunk 0, a whole punch over 1. */
	fx_put(w, ref, fx, 0, MiB);
	assert_int_equal(blob_wblob_punch(w, MiB, MiB), 0);
	memset(ref + MiB, 0, MiB);
	/* Part of 2 punched; zeros written into 3's part (a patch) and over
	 * a block of 4. */
	assert_int_equal(blob_wblob_punch(w, 2 * MiB + 10, 3 * BLK), 0);
	memset(ref + 2 * MiB + 10, 0, 3 * BLK);
	assert_int_equal(blob_wblob_pwrite(w, z, 100, 3 * MiB + 50), 100);
	memset(ref + 3 * MiB + 50, 0, 100);
	assert_int_equal(blob_wblob_pwrite(w, z, BLK, 4 * MiB + 4 * 31 * BLK), BLK);
	memset(ref + 4 * MiB + 4 * 31 * BLK, 0, BLK);
	check_bytes(w, ref, 8 * MiB);
	/* Chunk 2, an overlay chunk now, written whole (its object a leftover
	 * of the overlay), then patched anew before the fsync that frees the
	 * leftover: the object holds the patch, and stays. */
	fx_put(w, ref, fx, 2 * MiB, MiB);
	fx_put(w, ref, fx, 2 * MiB + 77 * BLK, BLK);
	assert_int_equal(blob_wblob_fsync(w), 0);
	check_bytes(w, ref, 8 * MiB);
	/* A shrink inside patched chunk 7, a growth from there, a write after. */
	assert_int_equal(blob_wblob_truncate(w, 7 * MiB + 300 * 1000), 0);
	assert_int_equal(blob_wblob_truncate(w, 8 * MiB), 0);
	memset(ref + 7 * MiB + 300 * 1000, 0, MiB - 300 * 1000);
	check_bytes(w, ref, 8 * MiB);
	fx_put(w, ref, fx, 7 * MiB + 900 * 1000, 10);
	/* A shrink inside patched chunk 5, reads there, a growth. */
	assert_int_equal(blob_wblob_truncate(w, 5 * MiB + 5 * 31 * BLK + 100), 0);
	check_bytes(w, ref, 5 * MiB + 5 * 31 * BLK + 100);
	assert_int_equal(blob_wblob_truncate(w, 8 * MiB), 0);
	memset(ref + 5 * MiB + 5 * 31 * BLK + 100, 0, 3 * MiB - 5 * 31 * BLK - 100);
	check_bytes(w, ref, 8 * MiB);
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "x");
	check_bytes(w, ref, 8 * MiB);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(blob_store_read(fx->s, m, got, 8 * MiB, 0), (ssize_t)(8 * MiB));
	assert_bytes_equal(got, ref, 8 * MiB);
	blob_manifest_free(m);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "x"), 0);
	free(got);
	free(ref);
}

/* A first write whose record failed after its object was written (what a
 * kill between the two leaves): the write fails, the chunk shows its
 * stored chunk, before and after a reopen; the next first write into it
 * starts the object afresh (the failed write's block never shows). */
static void test_patch_record_lost(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *ref, b[BLK];
	blob_wblob *w;

	fx_cluster_only(fx);
	fx_stored_disk(fx, "k", 2, &ref);
	w = fx_cl_open(fx->s, "k");
	memset(b, 0x77, sizeof b);
	blob_rados_test_fail_recs(fx->s->be, -EIO, 0);
	assert_int_equal(blob_wblob_pwrite(w, b, BLK, MiB + 9 * BLK), -EIO);
	blob_rados_test_fail_recs(fx->s->be, 0, 0);
	check_bytes(w, ref, 2 * MiB);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "k");
	check_bytes(w, ref, 2 * MiB);
	fx_put(w, ref, fx, MiB + 10 * BLK, BLK);
	check_edges(w, ref, 1);
	/* A later write refused (its operation failed): nothing of it shows,
	 * in memory either (no block marked before its bytes landed). */
	blob_rados_test_fail_recs(fx->s->be, 0, -EIO);
	assert_int_equal(blob_wblob_pwrite(w, b, BLK, MiB + 11 * BLK), -EIO);
	assert_int_equal(blob_wblob_pwrite(w, b, 10, MiB + 12 * BLK + 5), -EIO);
	blob_rados_test_fail_recs(fx->s->be, 0, 0);
	check_edges(w, ref, 1);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "k");
	check_edges(w, ref, 1);
	check_bytes(w, ref, 2 * MiB);
	/* A whole chunk over patched chunk 1: its record, set beside the put,
	 * names the new id and the patched record it replaces (its id too),
	 * unconfirmed until the next record set; another host's open now
	 * (the writer alive, then fenced) reads that record. */
	fx_put(w, ref, fx, MiB, MiB);
	{
		blob_store *s2 = fx_other_host(fx, "h2");
		blob_wblob *w2 = fx_cl_open(s2, "k");
		check_bytes(w2, ref, 2 * MiB);
		blob_wblob_close(w2);
		blob_store_close(s2);
	}
	/* A patched chunk whose object was removed outside imgfs: the open
	 * reads none (stop 51); every read of that chunk is EIO, never a
	 * chunk of no blocks, and the other chunk reads (w was fenced by the
	 * open above). */
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "k");
	fx_put(w, ref, fx, 10 * BLK, BLK);
	blob_wblob_close(w);
	char cmd[512], why[256] = "";
	int n = snprintf(cmd, sizeof cmd, "rados -c %s -p %s -N %s rm wb.k.00000000", fx->ceph_conf, FX_POOL, fx->ns[0]);
	assert_true(n > 0 && (size_t)n < sizeof cmd);
	assert_int_equal(system(cmd), 0);
	w = NULL;
	assert_int_equal(blob_wblob_open_in(&w, fx->s, BLOB_WB_CLUSTER, "k", NULL, why, sizeof why), 0);
	assert_int_equal(blob_wblob_pread(w, b, BLK, 10 * BLK), -EIO);
	assert_int_equal(blob_wblob_pread(w, b, BLK, 20 * BLK), -EIO); /* a block never written there */
	assert_int_equal(blob_wblob_pread(w, b, BLK, MiB), BLK);
	assert_bytes_equal(b, ref + MiB, BLK);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "k"), 0);
	free(ref);
}

static int stop_after_5(void *arg, uint64_t done, uint64_t total)
{
	int *calls = arg;

	(void)done;
	(void)total;
	return ++*calls == 5;
}

/* A capture (seal) of a disk of patched, stored, overlay and zero chunks,
 * on a second client whose cache is cold: each patched chunk (two or
 * three runs of written blocks) is one read of its object and one get of
 * its stored chunk, no part reads (a read of runs apart of at most
 * BLOB_PART_MAX reads parts, one past it the whole chunk); several of them in flight at once, never more
 * than the seal's 4 readers; stored chunks are named, not read; the
 * manifest reads back exactly.  A stored chunk that does not read, a
 * put that fails fail the capture with their errno (a damaged chunk:
 * EUCLEAN from seal_key, a verdict; the cluster not answering: EIO, could
 * not tell), a stop stops it; the
 * disk reads the same after each. */
static void test_patch_capture(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_rados_counters c0, c1;
	uint8_t *ref = calloc(1, 20 * MiB), *got = malloc(20 * MiB);
	blob_manifest *m = NULL;
	blob_store *s2;
	blob_wblob *w;
	chunk_id st5;
	int calls = 0;

	fx_cluster_only(fx);
	assert_true(ref && got);
	fx_fill(fx, ref, 17 * MiB);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "cap", NULL, 20 * MiB), 0);
	w = fx_cl_open(fx->s, "cap");
	for (uint32_t i = 0; i < 17; i++)
		assert_int_equal(blob_wblob_pwrite(w, ref + (size_t)i * MiB, MiB, (uint64_t)i * MiB), (ssize_t)MiB);
	blob_store_chunk_id(fx->s, &st5, ref + 5 * MiB, MiB);
	for (uint32_t i = 0; i < 16; i++)
		for (uint32_t b = 3; b < 256; b += 97)
			fx_put(w, ref, fx, (uint64_t)i * MiB + (uint64_t)b * BLK, BLK);
	fx_put(w, ref, fx, 16 * MiB + 2 * BLK, BLK); /* 16: two runs in its first 64 KiB */
	fx_put(w, ref, fx, 16 * MiB + 9 * BLK, BLK);
	fx_put(w, ref, fx, 17 * MiB + 50, 100); /* an overlay; 18 and 19 zeros */
	blob_wblob_close(w);

	s2 = fx_other_host(fx, "h2");
	assert_int_equal(blob_wblob_open_reader(&w, s2, BLOB_WB_CLUSTER, "cap", NULL, NULL, 0), 0);
	/* A read of runs apart reads the stored chunk whole above
	 * BLOB_PART_MAX (64 KiB): at it, a part read per run between. */
	for (size_t n = 64 * 1024; n <= 64 * 1024 + 1; n++) {
		blob_rados_counters(s2->be, &c0);
		assert_int_equal(blob_wblob_pread(w, got, n, 16 * MiB), (ssize_t)n);
		blob_rados_counters(s2->be, &c1);
		assert_bytes_equal(got, ref + 16 * MiB, n);
		assert_int_equal(c1.part_reads - c0.part_reads, n == 64 * 1024 ? 3 : 0);
		assert_int_equal(c1.reads - c0.reads, n == 64 * 1024 ? 0 : 1);
	}
	blob_rados_counters(s2->be, &c0);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	blob_rados_counters(s2->be, &c1);
	assert_int_equal(c1.part_reads - c0.part_reads, 0);
	assert_int_equal(c1.reads - c0.reads, 16); /* 16's is in the cache now */
	assert_int_equal(c1.disk_reads - c0.disk_reads, 18);
	assert_in_range(c1.disk_reads_peak, 2, 4);
	assert_int_equal(blob_store_read(fx->s, m, got, 20 * MiB, 0), (ssize_t)(20 * MiB));
	assert_bytes_equal(got, ref, 20 * MiB);
	assert_null(blob_manifest_get(m, 18));
	assert_null(blob_manifest_get(m, 19));
	blob_manifest_free(m);
	m = NULL;

	/* The cluster not answering (every operation of a cold client times
	 * out): the capture could not tell, EIO (issue 49, stop 47). */
	{
		blob_store *s4 = fx_other_host(fx, "h4");
		blob_wblob *w4;
		assert_int_equal(blob_wblob_open_reader(&w4, s4, BLOB_WB_CLUSTER, "cap", NULL, NULL, 0), 0);
		blob_rados_test_fail_ops(s4->be, UINT32_MAX, -ETIMEDOUT);
		assert_int_equal(blob_wblob_seal_key(w4, NULL, &m, NULL, NULL), -EIO);
		blob_rados_test_fail_ops(s4->be, 0, 0);
		assert_null(m);
		blob_wblob_close(w4);
		blob_store_close(s4);
	}
	/* One patched chunk's stored chunk damaged: read by a third client
	 * (cold), the capture fails, a verdict (EUCLEAN; EIO to seal's other
	 * callers). */
	{
		blob_store *s3 = fx_other_host(fx, "h3");
		blob_wblob *w3;
		fx_corrupt(fx, &st5, 1000);
		assert_int_equal(blob_wblob_open_reader(&w3, s3, BLOB_WB_CLUSTER, "cap", NULL, NULL, 0), 0);
		assert_int_equal(blob_wblob_seal_key(w3, NULL, &m, NULL, NULL), -EUCLEAN);
		assert_int_equal(blob_wblob_seal(w3, &m), -EIO);
		assert_null(m);
		blob_wblob_close(w3);
		blob_store_close(s3);
	}
	blob_store_test_fail_puts(s2, -ENOSPC);
	assert_int_equal(blob_wblob_seal(w, &m), -ENOSPC);
	blob_store_test_fail_puts(s2, 0);
	assert_int_equal(blob_wblob_seal_progress(w, &m, stop_after_5, &calls), -ECANCELED);
	assert_int_equal(calls, 5);
	assert_null(m);
	check_bytes(w, ref, 20 * MiB);
	blob_wblob_close(w);
	blob_store_close(s2);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "cap"), 0);
	free(ref);
	free(got);
}

static int no_rec(void *arg, uint32_t i, const uint8_t *val, size_t n)
{
	(void)arg;
	(void)i;
	(void)val;
	(void)n;
	return 0;
}

static int list_names(void *arg, const char *name, int64_t made)
{
	(void)made;
	strcat(arg, name);
	strcat(arg, " ");
	return 0;
}

/* Removing a disk removes every chunk object below its chunk count,
 * whether a record names it or not: a first write killed between its
 * object and its record (a base chunk's patched blocks and keys; a zero
 * chunk's overlay) leaves one that no record names.  Disks of 0 chunks,
 * of 1, and of 3 whose last is short.  A chunk object that cannot be
 * removed (a timeout: it may or may not be gone) fails the removal, which
 * leaves the header, the name listed and the disk opening; the next
 * removal finishes it. */
static void test_remove_unrecorded(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	blob_manifest *base = NULL;
	uint8_t *ref, b[BLK];
	char seen[64] = "";
	blob_wblob *w;

	fx_cluster_only(fx);
	memset(b, 0x5a, sizeof b);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "z0", NULL, 0), 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "z0", 2), 1);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "z0"), 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "z0", 2), 0);

	/* Over a base: its chunk has no record (WB_BASE) until written. */
	ref = fx_make_blob(fx, MiB, 0);
	assert_int_equal(blob_store_put_buf(fx->s, &base, ref, MiB), 0);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "o1", base, MiB), 0);
	w = fx_cl_open(fx->s, "o1");
	blob_rados_test_fail_recs(be, -EIO, 0);
	assert_int_equal(blob_wblob_pwrite(w, b, BLK, 7 * BLK), -EIO);
	blob_rados_test_fail_recs(be, 0, 0);
	check_bytes(w, ref, MiB);
	blob_wblob_close(w);
	assert_int_equal(blob_rados_test_disk_objects(be, "o1", 2), 2);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "o1"), 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "o1", 2), 0);
	blob_manifest_free(base);
	free(ref);

	/* 40 chunks, the last 5 KiB (more than DROP_FLIGHT in flight). */
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "o3", NULL, 39 * MiB + 5 * 1024), 0);
	w = fx_cl_open(fx->s, "o3");
	assert_int_equal(blob_wblob_pwrite(w, b, 100, 10), 100); /* chunk 0: recorded */
	blob_rados_test_fail_recs(be, -EIO, 0);
	assert_int_equal(blob_wblob_pwrite(w, b, 100, 39 * MiB + 3), -EIO); /* 39 */
	assert_int_equal(blob_wblob_pwrite(w, b, 100, 38 * MiB), -EIO);
	blob_rados_test_fail_recs(be, 0, 0);
	blob_wblob_close(w);
	{ /* A record and its object beyond the end (a shrink killed before it dropped them). */
		struct blob_backend_disk *d = NULL;
		uint8_t *hdr = NULL, rec = WB_OVERLAY;
		size_t len;
		assert_int_equal(be->disks->open(be, "o3", true, &d, &hdr, &len, no_rec, NULL, NULL, 0), 0);
		assert_int_equal(be->disks->write(d, 44, 0, b, 10, true), 0);
		assert_int_equal(be->disks->set_rec(d, 44, &rec, 1), 0);
		free(hdr);
		be->disks->close(d);
	}
	assert_int_equal(blob_rados_test_disk_objects(be, "o3", 45), 5);
	blob_rados_test_fail_drop(be, 38, -ETIMEDOUT);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "o3"), -EIO);
	blob_rados_test_fail_drop(be, 0, 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "o3", 45), 2); /* the header, chunk 38's */
	assert_int_equal(blob_rados_test_disk_objects(be, "o3", 39), 2); /* 38 is the one */
	assert_int_equal(blob_wblob_list_cluster(fx->s, list_names, seen), 0);
	assert_string_equal(seen, "o3 ");
	w = fx_cl_open(fx->s, "o3");
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "o3"), 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "o3", 45), 0);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "o3"), -ENOENT);
}

/* The sweep's bound (SPEC §12): a disk of WB_CL_SWEEP_MAX chunks has its
 * unrecorded objects removed; one chunk more, and its removal drops only
 * what its records name (a sparse disk costs nothing to make, so its
 * removal must not cost one operation per chunk of its size). */
static void test_remove_sweep_bound(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	uint8_t b[100];
	blob_wblob *w;
	uint64_t at = (uint64_t)WB_CL_SWEEP_MAX * MiB;

	fx_cluster_only(fx);
	memset(b, 7, sizeof b);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "s0", NULL, at), 0);
	w = fx_cl_open(fx->s, "s0");
	blob_rados_test_fail_recs(be, -EIO, 0);
	assert_int_equal(blob_wblob_pwrite(w, b, sizeof b, at - MiB), -EIO); /* the last chunk, unrecorded */
	blob_rados_test_fail_recs(be, 0, 0);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "s0"), 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "s0", WB_CL_SWEEP_MAX), 0);

	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "s1", NULL, at + 1), 0);
	w = fx_cl_open(fx->s, "s1");
	blob_rados_test_fail_recs(be, -EIO, 0);
	assert_int_equal(blob_wblob_pwrite(w, b, sizeof b, 0), -EIO); /* chunk 0, unrecorded */
	blob_rados_test_fail_recs(be, 0, 0);
	assert_int_equal(blob_wblob_pwrite(w, b, sizeof b, 2 * MiB), (ssize_t)sizeof b); /* chunk 2, recorded */
	blob_wblob_close(w);
	assert_int_equal(blob_rados_test_disk_objects(be, "s1", 3), 3);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "s1"), 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "s1", 3), 1); /* chunk 0's, left (§13) */
}

struct size_log {
	int unread; /* lines saying a removal could not read the disk's size */
};

static void on_log(void *arg, const char *line)
{
	struct size_log *l = arg;

	l->unread += strstr(line, "does not say its size") != NULL;
}

/* A disk whose header object is damaged (bit rot, an operator's `rados
 * put`), each field at a time: the magic, the length, the manifest's
 * length, the size one past BLOB_MAX_SIZE, the base limit one past the
 * base.  It opens for no writer and no reader (EIO, "its header is
 * damaged"), gc stops rather than guess which chunks it needs (EIO), and
 * its removal drops its header and the chunk objects its records name,
 * saying in the log when it could not read the size.  A sound header at
 * the limit (size BLOB_MAX_SIZE) opens, and
 * no sound disk's removal says its size was unread. */
static void test_damaged_header(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	struct size_log log = {0};
	blob_manifest *base = NULL;
	blob_idset *live = NULL;
	uint8_t b[100], *hdr = NULL, *ref;
	size_t len = 0;
	blob_wblob *w;
	char why[256];

	fx_cluster_only(fx);
	blob_store_set_log(fx->s, on_log, &log);
	memset(b, 3, sizeof b);
	ref = fx_make_blob(fx, MiB, 0);
	assert_int_equal(blob_store_put_buf(fx->s, &base, ref, MiB), 0);
	/* Sound: removed without a word about its size. */
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "h0", base, 2 * MiB), 0);
	w = fx_cl_open(fx->s, "h0");
	assert_int_equal(blob_wblob_pwrite(w, b, sizeof b, MiB), (ssize_t)sizeof b);
	blob_wblob_close(w);
	/* gc keeps what it needs: its base's chunks. */
	assert_int_equal(blob_idset_new(&live), 0);
	assert_int_equal(blob_wblob_add_base_ids(fx->s, live), 0);
	assert_true(blob_idset_has(live, &base->id[0]));
	blob_idset_free(live);
	live = NULL;
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "h0"), 0);
	assert_int_equal(log.unread, 0);
	/* Gone: ENOENT, and no reason (the caller's own words say it). */
	assert_int_equal(blob_wblob_open_in(&w, fx->s, BLOB_WB_CLUSTER, "h0", NULL, why, sizeof why), -ENOENT);
	assert_string_equal(why, "");
	for (int k = 0; k < 6; k++) {
		char name[16];
		int unread = log.unread;

		snprintf(name, sizeof name, "h%d", k + 1);
		assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, name, base, 2 * MiB), 0);
		w = fx_cl_open(fx->s, name);
		assert_int_equal(blob_wblob_pwrite(w, b, sizeof b, MiB), (ssize_t)sizeof b); /* chunk 1: recorded */
		blob_wblob_close(w);
		assert_int_equal(be->disks->peek(be, name, &hdr, &len, NULL, NULL), 0);
		assert_true(len > WB_HEADER);
		switch (k) {
		case 0: hdr[7] ^= 1; break;                                   /* the magic */
		case 1: len = WB_HEADER - 1; break;                           /* shorter than a header */
		case 2: blob_put_le32(hdr + 20, blob_get_le32(hdr + 20) + 1); break; /* the manifest's length */
		case 3: blob_put_le64(hdr + 8, BLOB_MAX_SIZE + 1); break;
		case 4: blob_put_le32(hdr + 16, base->nchunks + 1); break;
		case 5: blob_put_le64(hdr + 8, BLOB_MAX_SIZE); break;        /* sound, at the limits */
		}
		assert_int_equal(blob_rados_test_disk_header(be, name, hdr, len), 0);
		free(hdr);
		hdr = NULL;
		if (k >= 5) {
			w = fx_cl_open(fx->s, name);
			blob_wblob_close(w);
		} else {
			why[0] = '\0';
			assert_int_equal(blob_wblob_open_in(&w, fx->s, BLOB_WB_CLUSTER, name, NULL, why, sizeof why), -EIO);
			assert_non_null(strstr(why, "header is damaged"));
			assert_int_equal(blob_wblob_open_reader(&w, fx->s, BLOB_WB_CLUSTER, name, NULL, why, sizeof why),
			                 -EIO);
			/* A capture's open: bytes read and damaged are a verdict. */
			assert_int_equal(blob_wblob_open_judged(&w, fx->s, BLOB_WB_CLUSTER, name, NULL, why, sizeof why),
			                 -EUCLEAN);
			assert_int_equal(blob_idset_new(&live), 0);
			assert_int_equal(blob_wblob_add_base_ids(fx->s, live), -EIO);
			blob_idset_free(live);
			live = NULL;
		}
		assert_int_equal(blob_rados_test_disk_objects(be, name, 2), 2); /* the header, chunk 1's */
		assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, name), 0);
		assert_int_equal(blob_rados_test_disk_objects(be, name, 2), 0);
		/* The size unread: the magic, the length, the size (not the manifest or the limit). */
		assert_int_equal(log.unread - unread, k == 0 || k == 1 || k == 3);
	}
	/* Listed, its header gone (a create killed between the two): it does
	 * not open (ENOENT), gc has nothing of it to keep and goes on to the
	 * disks listed after it (i1's base kept), and its removal takes the
	 * name away. */
	char seen[32] = "";
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "h9", NULL, MiB), 0);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "i1", base, MiB), 0);
	assert_int_equal(blob_rados_test_disk_header(be, "h9", NULL, 0), 0);
	assert_int_equal(blob_wblob_open_in(&w, fx->s, BLOB_WB_CLUSTER, "h9", NULL, why, sizeof why), -ENOENT);
	assert_int_equal(blob_idset_new(&live), 0);
	assert_int_equal(blob_wblob_add_base_ids(fx->s, live), 0);
	assert_true(blob_idset_has(live, &base->id[0]));
	blob_idset_free(live);
	assert_int_equal(blob_wblob_list_cluster(fx->s, list_names, seen), 0);
	assert_string_equal(seen, "h9 i1 ");
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "h9"), -ENOENT);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "i1"), 0);
	seen[0] = '\0';
	assert_int_equal(blob_wblob_list_cluster(fx->s, list_names, seen), 0);
	assert_string_equal(seen, "");
	blob_store_set_log(fx->s, NULL, NULL); /* (log is this frame's) */
	blob_manifest_free(base);
	free(ref);
}

/* A writer's open removes the records beyond the end (a shrink killed
 * before it dropped them).  When that removal fails (a timeout), the open
 * fails (EIO) rather than go on with memory the cluster does not agree
 * with; a reader's open forgets them without writing; the next writer's
 * open removes them, so a growth then shows zeros, not the old chunk. */
static void test_open_cut_fails(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	struct blob_backend_disk *d = NULL;
	uint8_t *hdr = NULL, rec = WB_OVERLAY, b[BLK], zero[BLK] = {0}, got[BLK];
	size_t len;
	char why[256];
	blob_wblob *w = NULL;

	fx_cluster_only(fx);
	memset(b, 0x6b, sizeof b);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "c1", NULL, MiB), 0);
	assert_int_equal(be->disks->open(be, "c1", true, &d, &hdr, &len, no_rec, NULL, NULL, 0), 0);
	assert_int_equal(be->disks->write(d, 3, 0, b, BLK, true), 0);
	assert_int_equal(be->disks->set_rec(d, 3, &rec, 1), 0);
	free(hdr);
	be->disks->close(d);
	blob_rados_test_fail_recs(be, -EIO, 0);
	assert_int_equal(blob_wblob_open_in(&w, fx->s, BLOB_WB_CLUSTER, "c1", NULL, why, sizeof why), -EIO);
	assert_int_equal(blob_wblob_open_reader(&w, fx->s, BLOB_WB_CLUSTER, "c1", NULL, why, sizeof why), 0);
	assert_int_equal(blob_wblob_size(w), MiB);
	blob_wblob_close(w);
	blob_rados_test_fail_recs(be, 0, 0);
	w = fx_cl_open(fx->s, "c1");
	assert_int_equal(blob_wblob_truncate(w, 4 * MiB), 0);
	assert_int_equal(blob_wblob_pread(w, got, BLK, 3 * MiB), BLK);
	assert_memory_equal(got, zero, BLK);
	blob_wblob_close(w);
	w = fx_cl_open(fx->s, "c1");
	assert_int_equal(blob_wblob_pread(w, got, BLK, 3 * MiB), BLK);
	assert_memory_equal(got, zero, BLK);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "c1"), 0);
}

/* First writes into chunks a patch cannot take (a base chunk one byte
 * short of a chunk, a hole, a short last chunk of 5 KiB) are copies of
 * what the chunk shows, then the write, then its record.  Inside one
 * chunk (the busy path): one object write and one record, counted.
 * Across a chunk edge (the exclusive path; one write ends a byte short
 * of a chunk's end): each says exactly its length, and every byte reads
 * back at once, and on another host. */
static void test_first_writes_across(void **state)
{
	struct blob_fx *fx = *state;
	const uint64_t blen = 2 * MiB - 1, size = 4 * MiB + 5 * 1024;
	const uint64_t at[4] = {3 * MiB + 64 * 1024, MiB - BLK, 2 * MiB - BLK, 4 * MiB - 2048};
	const size_t len[4] = {BLK, BLK + MiB - 1, 2 * BLK, 6 * 1024}; /* the 2nd ends a byte short of chunk 1 */
	struct blob_rados_counters c0, c1;
	blob_manifest *base = NULL;
	uint8_t *ref, *want;
	blob_store *s2;
	blob_wblob *w;

	fx_cluster_only(fx);
	ref = fx_make_blob(fx, blen, 0);
	want = calloc(1, size);
	assert_non_null(want);
	memcpy(want, ref, blen);
	assert_int_equal(blob_store_put_buf(fx->s, &base, ref, blen), 0);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "x", base, size), 0);
	w = fx_cl_open(fx->s, "x");
	for (int k = 0; k < 4; k++) {
		fx_fill(fx, want + at[k], len[k]);
		blob_rados_counters(fx->s->be, &c0);
		assert_int_equal(blob_wblob_pwrite(w, want + at[k], len[k], at[k]), (ssize_t)len[k]);
		blob_rados_counters(fx->s->be, &c1);
		if (k == 0) { /* chunk 3, a hole */
			assert_int_equal(c1.disk_writes - c0.disk_writes, 1);
			assert_int_equal(c1.disk_recs - c0.disk_recs, 1);
		}
		check_bytes(w, want, size);
	}
	blob_wblob_close(w);
	s2 = fx_other_host(fx, "h2");
	w = fx_cl_open(s2, "x");
	check_bytes(w, want, size);
	blob_wblob_close(w);
	blob_store_close(s2);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "x"), 0);
	blob_manifest_free(base);
	free(want);
	free(ref);
}

/* A growth whose record cannot be set (a timeout) fails the write that
 * grew the disk (EIO), even one of zeros that sets no record of its own:
 * the size stays, and the bytes.  The next write grows it, and what lay
 * past the old end in its base reads as zeros. */
static void test_grow_fails(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	const uint64_t old = MiB + MiB / 2, size = 2 * MiB + BLK;
	uint8_t zero[BLK] = {0}, *ref, *want;
	blob_manifest *base = NULL;
	blob_wblob *w;

	fx_cluster_only(fx);
	ref = fx_make_blob(fx, 2 * MiB, 0);
	want = calloc(1, size);
	assert_non_null(want);
	memcpy(want, ref, old);
	assert_int_equal(blob_store_put_buf(fx->s, &base, ref, 2 * MiB), 0);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "g", base, old), 0);
	w = fx_cl_open(fx->s, "g");
	blob_rados_test_fail_recs(be, -EIO, 0);
	assert_int_equal(blob_wblob_pwrite(w, zero, BLK, 2 * MiB), -EIO);
	blob_rados_test_fail_recs(be, 0, 0);
	check_bytes(w, want, old);
	assert_int_equal(blob_wblob_pwrite(w, zero, BLK, 2 * MiB), BLK);
	check_bytes(w, want, size);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "g"), 0);
	blob_manifest_free(base);
	free(want);
	free(ref);
}

struct says {
	int n, nosize;
	char last[256];
};

static void on_say(void *arg, const char *line)
{
	struct says *l = arg;

	l->n++;
	l->nosize += strstr(line, "does not say its size") != NULL;
	snprintf(l->last, sizeof l->last, "%s", line);
}

/* Disk name made with header bytes hdr[0, len), chunk 0's object
 * recorded and chunk 1's not (a first write killed before its record). */
static void made_disk(struct blob_backend *be, const char *name, const uint8_t *hdr, size_t len)
{
	struct blob_backend_disk *d = NULL;
	const uint8_t overlay = WB_OVERLAY;
	uint8_t *h = NULL;
	size_t n;

	assert_int_equal(be->disks->create(be, name, hdr, len), 0);
	assert_int_equal(be->disks->open(be, name, true, &d, &h, &n, no_rec, NULL, NULL, 0), 0);
	assert_int_equal(be->disks->write(d, 0, 0, "recorded", 8, true), 0);
	assert_int_equal(be->disks->set_rec(d, 0, &overlay, 1), 0);
	assert_int_equal(be->disks->write(d, 1, 0, "leftover", 8, true), 0);
	free(h);
	be->disks->close(d);
}

/* A removal whose header read fails (a timeout) removes nothing, says
 * so, and a retry finishes it; a header of WB_HEADER bytes says the
 * disk's size (its unrecorded objects go); one a byte shorter, or with
 * another magic, does not (only what its records name goes, said); a
 * header gone (its name still listed) unlists it.  gc's sweep then
 * removes what those left. */
static void test_remove_faults(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	struct says log = {0};
	uint8_t hdr[WB_HEADER] = {0};
	char seen[64] = "";
	uint64_t count, bytes;

	fx_cluster_only(fx);
	blob_store_set_log(fx->s, on_say, &log);
	memcpy(hdr, WB_MAGIC, 8);
	blob_put_le64(hdr + 8, 3 * MiB);
	made_disk(be, "f0", hdr, WB_HEADER);
	blob_rados_test_fail_peek(be, -ETIMEDOUT);
	assert_true(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "f0") < 0);
	blob_rados_test_fail_peek(be, 0);
	assert_non_null(strstr(log.last, "cannot read its header to remove it"));
	assert_int_equal(blob_rados_test_disk_objects(be, "f0", 3), 3);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "f0"), 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "f0", 3), 0);
	assert_int_equal(log.nosize, 0);

	made_disk(be, "f1", hdr, WB_HEADER - 1);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "f1"), 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "f1", 3), 1);
	assert_int_equal(blob_rados_test_object_exists(be, "wb.f1.00000001"), 1);
	assert_int_equal(log.nosize, 1);
	hdr[7] = '2';
	made_disk(be, "f2", hdr, WB_HEADER);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "f2"), 0);
	assert_int_equal(blob_rados_test_disk_objects(be, "f2", 3), 1);
	assert_int_equal(blob_rados_test_object_exists(be, "wb.f2.00000001"), 1);
	assert_int_equal(log.nosize, 2);

	hdr[7] = '1';
	made_disk(be, "f3", hdr, WB_HEADER);
	assert_int_equal(blob_rados_test_disk_drop_header(be, "f3"), 0);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "f3"), -ENOENT);
	assert_int_equal(blob_wblob_list_cluster(fx->s, list_names, seen), 0);
	assert_string_equal(seen, "");
	assert_int_equal(log.nosize, 2);
	assert_int_equal(blob_rados_test_disk_objects(be, "f3", 3), 2); /* no header; 0 and 1 */

	assert_int_equal(blob_wblob_sweep_cluster(fx->s, (int64_t)time(NULL) + 5, false, &count, &bytes), 0);
	assert_int_equal(count, 4);
	assert_int_equal(bytes, 4 * 8);
	assert_int_equal(blob_rados_test_disk_objects(be, "f1", 3) + blob_rados_test_disk_objects(be, "f2", 3) +
	                     blob_rados_test_disk_objects(be, "f3", 3),
	                 0);
	blob_store_set_log(fx->s, NULL, NULL); /* (log is this frame's) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_patch_costs_and_edges, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_patch_unaligned, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_patch_rare, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_patch_record_lost, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_remove_unrecorded, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_remove_sweep_bound, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_header, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_cut_fails, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_first_writes_across, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_grow_fails, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_remove_faults, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_patch_capture, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

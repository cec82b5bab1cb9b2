/*
 * test_rados_sweep.c — unit tests for gc's sweep of cluster disks' chunk
 * objects that no record names (blobstore/backend/rados_sweep.c, through
 * blob_wblob_sweep_cluster and blob_store_gc).  RADOS only.
 *
 * Each leftover is made by a planted crash (a record set that fails after
 * its object landed: blob_rados_test_fail_recs) or by the disk's own
 * operations without their record (what a shrink killed before its drops
 * leaves): on a disk of WB_CL_SWEEP_MAX + 1 chunks (its removal does not
 * sweep), beyond a disk's chunk count, and of a removed disk whose header
 * is gone.  Kept: every object a record names (an overlay, a patched
 * chunk, one beyond the end, a record naming two whose previous one has
 * the object, a record that does not parse), a header whose name looks
 * like a chunk's, objects whose names are not a disk chunk's (an index in
 * upper case or not hex, a name longer than WB_NAME_MAX, none),
 * everything inside the grace, everything when the store does not answer
 * (nothing removed, said; gc then fails with EIO), and an object written between the sweep's
 * look and its removal.  Removed: also those of disks named WB_NAME_MAX
 * long and one letter long, and those whose records name no object (a
 * plain WB_STORED, two naming a hole).  The dry run counts without removing; gc removes exactly the
 * leftovers and the disk reads back what was written.
 */
#include "wblob_int.h" /* WB_CL_SWEEP_MAX, WB_OVERLAY */
#include "blobstore/wblob/wblob_test.h"

#define BIG ((uint64_t)(WB_CL_SWEEP_MAX + 1) * MiB)

struct log_lines {
	int n;
	char last[256];
};

static void on_log(void *arg, const char *line)
{
	struct log_lines *l = arg;

	l->n++;
	snprintf(l->last, sizeof l->last, "%s", line);
}

static int no_rec(void *arg, uint32_t i, const uint8_t *val, size_t n)
{
	(void)arg;
	(void)i;
	(void)val;
	(void)n;
	return 0;
}

/* Chunk i of disk name written by the disk's own operations: 10 bytes,
 * and the record rec (n bytes; none when n is 0). */
static void raw_chunk(struct blob_backend *be, const char *name, uint32_t i, const uint8_t *rec, size_t n)
{
	struct blob_backend_disk *d = NULL;
	uint8_t *hdr = NULL;
	size_t len;

	assert_int_equal(be->disks->open(be, name, true, &d, &hdr, &len, no_rec, NULL, NULL, 0), 0);
	assert_int_equal(be->disks->write(d, i, 0, "0123456789", 10, true), 0);
	if (n > 0)
		assert_int_equal(be->disks->set_rec(d, i, rec, n), 0);
	free(hdr);
	be->disks->close(d);
}

/* A first write of 100 bytes at off whose record fails after its object
 * landed (a writer killed between the two). */
static void killed_write(struct blob_backend *be, blob_wblob *w, uint64_t off)
{
	uint8_t b[100];

	memset(b, 0x33, sizeof b);
	blob_rados_test_fail_recs(be, -EIO, 0);
	assert_int_equal(blob_wblob_pwrite(w, b, sizeof b, off), -EIO);
	blob_rados_test_fail_recs(be, 0, 0);
}

static int has(struct blob_backend *be, const char *name, uint32_t i)
{
	char oid[96];
	int rc;

	snprintf(oid, sizeof oid, "wb.%s.%08x", name, i);
	rc = blob_rados_test_object_exists(be, oid);

	assert_true(rc >= 0);
	return rc;
}

static void test_sweep(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	uint8_t *ref = calloc(1, 3 * MiB), *got = malloc(3 * MiB);
	const uint8_t overlay = WB_OVERLAY;
	uint8_t two[2 * (1 + sizeof(chunk_id))];
	struct log_lines log = {0};
	uint64_t count, bytes, removed = 0;
	blob_wblob *w;
	int said;

	fx_cluster_only(fx);
	assert_non_null(ref);
	assert_non_null(got);
	blob_store_set_log(fx->s, on_log, &log);

	/* "big": over the removal's bound.  Chunk 0 whole (stored by id),
	 * then patched; chunk 2 an overlay; chunk 4096 (its last) and chunk
	 * 4095 killed first writes. */
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "big", NULL, BIG), 0);
	w = fx_cl_open(fx->s, "big");
	fx_fill(fx, ref, MiB);
	assert_int_equal(blob_wblob_pwrite(w, ref, MiB, 0), (ssize_t)MiB);
	memset(ref + 8192, 0x44, 4096);
	assert_int_equal(blob_wblob_pwrite(w, ref + 8192, 4096, 8192), 4096);
	memset(ref + 2 * MiB + 5, 0x55, 100);
	assert_int_equal(blob_wblob_pwrite(w, ref + 2 * MiB + 5, 100, 2 * MiB + 5), 100);
	killed_write(be, w, BIG - MiB);
	killed_write(be, w, BIG - 2 * MiB + 7);
	blob_wblob_close(w);
	/* Beyond its chunk count: one a record names, one none does (a
	 * shrink killed before its drops); chunk 4094 with a record naming
	 * two whose previous one is an overlay (its new id may never have
	 * landed: the object may be what it shows). */
	raw_chunk(be, "big", 0x9a0f, NULL, 0); /* every kind of hex digit */
	raw_chunk(be, "big", 4101, &overlay, 1);
	memset(two, 0x11, sizeof two);
	two[0] = WB_STORED;
	two[1 + sizeof(chunk_id)] = WB_OVERLAY;
	raw_chunk(be, "big", 4094, two, 1 + sizeof(chunk_id) + 1);

	/* "gone": removed (over the bound: its unrecorded chunk 7 stays with
	 * no header left). */
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "gone", NULL, BIG), 0);
	w = fx_cl_open(fx->s, "gone");
	killed_write(be, w, 7 * MiB);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove_in(fx->s, BLOB_WB_CLUSTER, "gone"), 0);
	assert_int_equal(has(be, "gone", 7), 1);
	assert_int_equal(blob_rados_test_disk_objects(be, "gone", 0), 0); /* its header */

	/* Records that name no object: a plain WB_STORED one (an object an
	 * fsync would have freed), one naming two whose previous one is a
	 * hole; removed. */
	memset(two, 0x22, sizeof two);
	two[0] = WB_STORED;
	raw_chunk(be, "big", 4092, two, 1 + sizeof(chunk_id));
	two[1 + sizeof(chunk_id)] = WB_HOLE;
	raw_chunk(be, "big", 4091, two, 1 + sizeof(chunk_id) + 1);
	/* "dmg": a record that does not parse (kept, not judged) and a
	 * WB_OVERLAY_EXT one (kept). */
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "dmg", NULL, MiB), 0);
	raw_chunk(be, "dmg", 0, two, 2);
	two[0] = WB_OVERLAY_EXT;
	raw_chunk(be, "dmg", 1, two, 1);

	/* Names at the parser's edges: a leftover of a disk whose name is
	 * WB_NAME_MAX long (removed); objects that are not a disk's chunk
	 * (kept): a name one longer, an index in upper case, one not hex,
	 * one of 7 digits, no name. */
	{
		char n64[WB_NAME_MAX + 2], oid[WB_NAME_MAX + 32];
		memset(n64, 'n', WB_NAME_MAX + 1);
		n64[WB_NAME_MAX] = '\0';
		assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, n64, NULL, MiB), 0);
		raw_chunk(be, n64, 3, NULL, 0);
		assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "q", NULL, MiB), 0);
		raw_chunk(be, "q", 1, NULL, 0); /* the shortest name */
		n64[WB_NAME_MAX] = 'n';
		n64[WB_NAME_MAX + 1] = '\0';
		snprintf(oid, sizeof oid, "wb.%s.00000003", n64);
		assert_int_equal(blob_rados_test_put_object(be, oid), 0);
		assert_int_equal(blob_rados_test_put_object(be, "wb.dmg.0000000A"), 0);
		assert_int_equal(blob_rados_test_put_object(be, "wb.dmg.0000000g"), 0);
		assert_int_equal(blob_rados_test_put_object(be, "wb.dmg.0000:/00"), 0);
		assert_int_equal(blob_rados_test_put_object(be, "wb.dmg.0000003"), 0);
		assert_int_equal(blob_rados_test_put_object(be, "wb..00000003"), 0);
		assert_int_equal(blob_rados_test_put_object(be, "wb.dmg.0000000`"), 0);
		assert_int_equal(blob_rados_test_put_object(be, "xb.dmg.00000003"), 0);
		assert_int_equal(blob_rados_test_put_object(be, "wb.dmg-00000003"), 0);
	}

	/* "h.0000000a": a disk whose header has chunk 10 of disk "h"'s name. */
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "h.0000000a", NULL, MiB), 0);
	said = log.n;

	/* Inside the grace: nothing. */
	assert_int_equal(blob_wblob_sweep_cluster(fx->s, (int64_t)time(NULL) - 3600, false, &count, &bytes), 0);
	assert_int_equal(count, 0);
	assert_int_equal(log.n, said); /* nothing to say */
	/* The store does not answer: nothing removed, said. */
	blob_rados_test_sweep(be, -ETIMEDOUT, false);
	assert_true(blob_wblob_sweep_cluster(fx->s, (int64_t)time(NULL) + 5, false, &count, &bytes) < 0);
	blob_rados_test_sweep(be, 0, false);
	assert_int_equal(count, 0);
	assert_non_null(strstr(log.last, "could not tell"));
	/* gc passes it on: EIO (could not tell), none of the disks' objects
	 * removed, said; never an answer of 0 with the leftovers kept. */
	said = log.n;
	removed = 99;
	blob_rados_test_sweep(be, -ETIMEDOUT, false);
	assert_int_equal(blob_store_gc(fx->s, NULL, (int64_t)time(NULL) + 5, &removed), -EIO);
	blob_rados_test_sweep(be, 0, false);
	assert_int_equal(removed, 0);
	assert_int_equal(log.n, said + 1);
	assert_non_null(strstr(log.last, "could not tell which of its objects no record names: nothing removed"));
	assert_int_equal(has(be, "big", 4096) + has(be, "big", 4095) + has(be, "big", 0x9a0f) + has(be, "gone", 7) +
	                     has(be, "big", 4092) + has(be, "big", 4091),
	                 6);
	/* Written between the look and the removal: kept. */
	blob_rados_test_sweep(be, 0, true);
	assert_int_equal(blob_wblob_sweep_cluster(fx->s, (int64_t)time(NULL) + 5, false, &count, &bytes), 0);
	blob_rados_test_sweep(be, 0, false);
	assert_int_equal(count, 0);
	assert_int_equal(has(be, "big", 4096) + has(be, "big", 4095) + has(be, "big", 0x9a0f) + has(be, "gone", 7) +
	                     has(be, "big", 4092) + has(be, "big", 4091),
	                 6);
	/* The dry run: the eight counted (and their bytes), nothing removed, nothing said. */
	said = log.n;
	assert_int_equal(blob_store_gc_plan(fx->s, NULL, (int64_t)time(NULL) + 5, &count, &bytes), 0);
	assert_int_equal(count, 8);
	assert_true(bytes >= 8 * 11);
	assert_int_equal(log.n, said);
	assert_int_equal(has(be, "big", 4096) + has(be, "big", 4095) + has(be, "big", 0x9a0f) + has(be, "gone", 7) +
	                     has(be, "big", 4092) + has(be, "big", 4091),
	                 6);

	/* gc: the eight, and nothing else (the stored chunk a record names stays). */
	assert_int_equal(blob_store_gc(fx->s, NULL, (int64_t)time(NULL) + 5, &removed), 0);
	assert_int_equal(removed, 8);
	assert_non_null(strstr(log.last, "removed 8 chunk objects"));
	assert_int_equal(has(be, "big", 4096) + has(be, "big", 4095) + has(be, "big", 0x9a0f) + has(be, "gone", 7) +
	                     has(be, "big", 4092) + has(be, "big", 4091),
	                 0);
	assert_int_equal(has(be, "big", 0) + has(be, "big", 2) + has(be, "big", 4101) + has(be, "big", 4094), 4);
	assert_int_equal(has(be, "dmg", 0) + has(be, "dmg", 1), 2);
	{
		char n64[WB_NAME_MAX + 2], oid[WB_NAME_MAX + 32];
		memset(n64, 'n', WB_NAME_MAX + 1);
		n64[WB_NAME_MAX] = '\0';
		assert_int_equal(has(be, n64, 3) + has(be, "q", 1), 0);
		n64[WB_NAME_MAX] = 'n';
		n64[WB_NAME_MAX + 1] = '\0';
		snprintf(oid, sizeof oid, "wb.%s.00000003", n64);
		assert_int_equal(blob_rados_test_object_exists(be, oid), 1);
		assert_int_equal(blob_rados_test_object_exists(be, "wb.dmg.0000000A") +
		                     blob_rados_test_object_exists(be, "wb.dmg.0000000g") +
		                     blob_rados_test_object_exists(be, "wb.dmg.0000:/00") +
		                     blob_rados_test_object_exists(be, "wb.dmg.0000003") +
		                     blob_rados_test_object_exists(be, "wb..00000003") +
		                     blob_rados_test_object_exists(be, "wb.dmg.0000000`") +
		                     blob_rados_test_object_exists(be, "xb.dmg.00000003") +
		                     blob_rados_test_object_exists(be, "wb.dmg-00000003"),
		                 8);
	}
	assert_int_equal(blob_rados_test_disk_objects(be, "h.0000000a", 0), 1);
	assert_int_equal(blob_rados_test_disk_objects(be, "big", 0), 1);
	/* One more leftover: one removed, said; then nothing left, nothing said. */
	raw_chunk(be, "dmg", 5, NULL, 0);
	assert_int_equal(blob_store_gc(fx->s, NULL, (int64_t)time(NULL) + 5, &removed), 0);
	assert_int_equal(removed, 1);
	assert_non_null(strstr(log.last, "removed 1 chunk objects (10 bytes)"));
	said = log.n;
	assert_int_equal(blob_store_gc(fx->s, NULL, (int64_t)time(NULL) + 5, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(log.n, said);

	/* big reads back what was written (4094's record says what it did). */
	w = fx_cl_open(fx->s, "big");
	assert_int_equal(blob_wblob_pread(w, got, 3 * MiB, 0), (ssize_t)(3 * MiB));
	assert_memory_equal(got, ref, 3 * MiB);
	blob_wblob_close(w);
	blob_store_set_log(fx->s, NULL, NULL); /* (log is this frame's) */
	free(ref);
	free(got);
}

/* The teardown's purge (blob_rados_test_purge): everything of its
 * namespace goes, a disk gc would keep included, and nothing of
 * another's. */
static void test_purge(void **state)
{
	struct blob_fx *fx = *state;
	struct blob_backend *be = fx->s->be;
	blob_store *other = NULL;

	fx_cluster_only(fx);
	assert_int_equal(fx_open_store(fx, &other, "other", fx->secret), 0);
	assert_int_equal(blob_rados_test_put_object(other->be, "keep"), 0);
	assert_int_equal(blob_wblob_create_in(fx->s, BLOB_WB_CLUSTER, "gone", NULL, 4 * MiB), 0);
	raw_chunk(be, "gone", 3, NULL, 0);
	assert_int_equal(blob_rados_test_put_object(be, "stray"), 0);
	assert_int_equal(blob_rados_test_object_exists(be, "wb.gone.00000003"), 1);

	/* the disk's header and chunk, stray, and the store's own objects */
	assert_true(blob_rados_test_purge(fx->ceph_conf, FX_POOL, fx->ns[0]) >= 4);
	assert_int_equal(blob_rados_test_object_exists(be, "wb.gone"), 0);
	assert_int_equal(blob_rados_test_object_exists(be, "wb.gone.00000003"), 0);
	assert_int_equal(blob_rados_test_object_exists(be, "stray"), 0);
	assert_int_equal(blob_rados_test_purge(fx->ceph_conf, FX_POOL, fx->ns[0]), 0); /* nothing was left */
	assert_int_equal(blob_rados_test_object_exists(other->be, "keep"), 1);

	/* A removal answered ENOENT (the object gone since the listing) is
	 * no failure: the count of names listed.  One refused (EPERM, the
	 * smallest errno) is the purge's answer, and the other objects are
	 * removed all the same: the next purge finds only the refused one. */
	assert_int_equal(blob_rados_test_put_object(be, "p1"), 0);
	assert_int_equal(blob_rados_test_put_object(be, "p2"), 0);
	assert_int_equal(blob_rados_test_put_object(be, "p3"), 0);
	blob_rados_test_fail_purge(1, -ENOENT);
	assert_int_equal(blob_rados_test_purge(fx->ceph_conf, FX_POOL, fx->ns[0]), 3);
	assert_int_equal(blob_rados_test_purge(fx->ceph_conf, FX_POOL, fx->ns[0]), 1); /* the one not sent */
	assert_int_equal(blob_rados_test_put_object(be, "p1"), 0);
	assert_int_equal(blob_rados_test_put_object(be, "p2"), 0);
	assert_int_equal(blob_rados_test_put_object(be, "p3"), 0);
	blob_rados_test_fail_purge(0, -EPERM);
	assert_int_equal(blob_rados_test_purge(fx->ceph_conf, FX_POOL, fx->ns[0]), -EPERM);
	assert_int_equal(blob_rados_test_purge(fx->ceph_conf, FX_POOL, fx->ns[0]), 1);
	assert_int_equal(blob_rados_test_purge(fx->ceph_conf, FX_POOL, fx->ns[0]), 0);
	blob_store_close(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sweep, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_purge, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

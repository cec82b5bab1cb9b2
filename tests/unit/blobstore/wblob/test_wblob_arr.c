/*
 * test_wblob_arr.c — unit tests for blobstore/wblob/wblob_arr.c: an instance
 * disk's whole-chunk writes kept as files of their own (state 6), which a
 * seal hard-links into the store instead of copying.
 *
 * Counted, not timed: the inode a sealed chunk file shares with its
 * arrived file (no byte copied), the store's chunk files, the overlay's
 * allocated blocks.  Also: a chunk rewritten after a seal leaves the
 * stored chunk as it was; records the seal must not trust (zeroed as by a
 * kill before step 4, of another boot, of another inode) make it read the
 * bytes, which it stores as they are; a part written, a punch, a shrink
 * and a growth; a chunk written whole then a byte at a time (an early
 * disk's copy-on-write, then the guest), across a reopen; remove; a file removed by hand (EIO) or lost to a power
 * cut (zeros); a writer SIGKILLed while rewriting whole chunks
 * (every page old or new, and the seal's manifest reads back verified as
 * the disk).  Local stores only: RADOS has no files to link
 * (test_wblob's random runs cover the seal reading arrived chunks there).
 * And the order of fsync: every arrived file's bytes durable (syncfs of
 * their file system, or an fsync of each) before the map that says state
 * 6 is, recorded by this file's own fsync(2) and syncfs(2), which libc's
 * follow (a planted bug that left a whole write's chunk out of the next
 * fsync went uncaught).
 */
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>

#include "blobstore/blob_test.h"

static void arr_path(char *out, size_t cap, struct blob_fx *fx, const char *name, uint32_t i)
{
	snprintf(out, cap, "%s/wblobs/%s.arr/%x", fx->store, name, i);
}

static ino_t ino_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	return st.st_ino;
}

static ino_t chunk_ino(struct blob_fx *fx, const chunk_id *id)
{
	char path[512];

	fx_chunk_path(path, sizeof path, fx->store, id);
	return ino_of(path);
}

/* Blocks the overlay (.data) holds, in bytes. */
static uint64_t data_bytes(struct blob_fx *fx, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/wblobs/%s.data", fx->store, name);
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* The sealed manifest reads back (verified) as want. */
static void check_sealed(struct blob_fx *fx, const blob_manifest *m, const uint8_t *want, uint64_t size)
{
	uint8_t *got = malloc(size);

	assert_non_null(got);
	assert_int_equal(m->size, size);
	assert_int_equal(blob_store_read(fx->s, m, got, size, 0), (ssize_t)size);
	assert_bytes_equal(got, want, size);
	free(got);
}

static void check_read(blob_wblob *w, const uint8_t *want, uint64_t size)
{
	uint8_t *got = malloc(size);

	assert_non_null(got);
	assert_int_equal(blob_wblob_pread(w, got, size, 0), (ssize_t)size);
	assert_bytes_equal(got, want, size);
	free(got);
}

/* Whole chunks become files, not overlay blocks; a seal by another handle
 * (a capture opens its own) links every one of them: the chunk file is the
 * arrived file's inode and the store gained no bytes of its own. */
static void test_seal_links(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 6 * MiB + 5000; /* a short last chunk */
	uint8_t *want = fx_make_blob(fx, size, 0);
	blob_manifest *m = NULL, *m2 = NULL;
	blob_wblob *w = NULL, *c = NULL;
	char path[512];
	ino_t ino[7];
	int before;

	fx_local_only(fx);
	assert_int_equal(blob_wblob_create(fx->s, "a", NULL, size), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "a"), 0);
	/* Chunks 0..5 whole (two writes of 3 MiB), the short last one whole. */
	assert_int_equal(blob_wblob_pwrite(w, want, 3 * MiB, 0), 3 * MiB);
	assert_int_equal(blob_wblob_pwrite(w, want + 3 * MiB, 3 * MiB, 3 * MiB), 3 * MiB);
	assert_int_equal(blob_wblob_pwrite(w, want + 6 * MiB, 5000, 6 * MiB), 5000);
	assert_int_equal(blob_wblob_fsync(w), 0);
	for (uint32_t i = 0; i < 7; i++) {
		arr_path(path, sizeof path, fx, "a", i);
		assert_true((ino[i] = ino_of(path)) != 0);
	}
	assert_true(data_bytes(fx, "a") == 0);
	assert_int_equal(blob_wblob_stored(w), size);
	check_read(w, want, size);
	/* Written again whole before any seal: in place, the same file. */
	assert_int_equal(blob_wblob_pwrite(w, want + 5 * MiB, MiB, 5 * MiB), MiB);
	arr_path(path, sizeof path, fx, "a", 5);
	assert_int_equal(ino_of(path), ino[5]);
	assert_true(data_bytes(fx, "a") == 0);
	check_read(w, want, size);

	before = fx_nchunks(fx);
	assert_int_equal(blob_wblob_open(&c, fx->s, "a"), 0);
	assert_int_equal(blob_wblob_seal(c, &m), 0);
	assert_int_equal(fx_nchunks(fx), before + 7);
	for (uint32_t i = 0; i < 7; i++)
		assert_int_equal(chunk_ino(fx, mf_id(m, i)), ino[i]);
	check_sealed(fx, m, want, size);
	/* Again: every chunk found stored, the same manifest. */
	assert_int_equal(blob_wblob_seal(c, &m2), 0);
	assert_int_equal(fx_nchunks(fx), before + 7);
	for (uint32_t i = 0; i < 7; i++)
		assert_true(chunk_id_equal(mf_id(m, i), mf_id(m2, i)));
	blob_manifest_free(m2);
	blob_wblob_close(c);

	uint8_t *orig = malloc(size);
	assert_non_null(orig);
	memcpy(orig, want, size);
	/* Chunk 2 written again, part of chunk 3: linked into the store, so
	 * a new file and a copy into the overlay; the stored chunks are
	 * untouched. */
	assert_int_equal(blob_wblob_pwrite(w, "x", 1, 3 * MiB + 7), 1);
	arr_path(path, sizeof path, fx, "a", 3);
	assert_int_equal(access(path, F_OK), 0); /* until the map is synced */
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_true(data_bytes(fx, "a") >= MiB);
	assert_int_equal(chunk_ino(fx, mf_id(m, 3)), ino[3]);
	want[3 * MiB + 7] = 'x';
	uint8_t *other = fx_make_blob(fx, MiB, 0);
	assert_int_equal(blob_wblob_pwrite(w, other, MiB, 2 * MiB), MiB);
	arr_path(path, sizeof path, fx, "a", 2);
	assert_true(ino_of(path) != ino[2]);
	assert_int_equal(chunk_ino(fx, mf_id(m, 2)), ino[2]);
	check_sealed(fx, m, orig, size);
	memcpy(want + 2 * MiB, other, MiB);
	check_read(w, want, size);
	assert_int_equal(blob_wblob_seal(w, &m2), 0);
	check_sealed(fx, m2, want, size);
	assert_int_equal(chunk_ino(fx, mf_id(m2, 2)), ino_of(path));

	/* remove takes the files and their directory. */
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove(fx->s, "a"), 0);
	snprintf(path, sizeof path, "%s/wblobs/a.arr", fx->store);
	assert_int_equal(access(path, F_OK), -1);
	check_sealed(fx, m2, want, size); /* the store keeps its names */
	check_sealed(fx, m, orig, size);
	blob_manifest_free(m);
	blob_manifest_free(m2);
	free(orig);
	free(other);
	free(want);
}

/* Overwrites record i's second slot (what vouches for the file). */
static void poke_record(struct blob_fx *fx, const char *name, uint32_t i, const uint8_t slot[16])
{
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/wblobs/%s.ids", fx->store, name);
	assert_true((fd = open(path, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, slot, 16, (off_t)i * 32 + 16), 16);
	close(fd);
}

/* A record the seal must not trust: it reads the file and stores its
 * bytes as they are (a chunk file of its own), never the recorded id. */
static void test_untrusted_records(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 4 * MiB;
	uint8_t *want = fx_make_blob(fx, size, 0), zero[16] = {0}, slot[16];
	blob_manifest *m = NULL;
	blob_wblob *w = NULL;
	char path[512], ids[512];
	int fd;

	fx_local_only(fx);
	assert_int_equal(blob_wblob_create(fx->s, "u", NULL, size), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "u"), 0);
	assert_int_equal(blob_wblob_pwrite(w, want, size, 0), (ssize_t)size);
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);
	snprintf(ids, sizeof ids, "%s/wblobs/u.ids", fx->store);
	assert_true((fd = open(ids, O_RDONLY)) >= 0);
	assert_int_equal(pread(fd, slot, 16, 16 + 32), 16); /* chunk 1's, good */
	close(fd);

	/* 0: zeroed, as a kill between steps 1 and 4 leaves it. */
	poke_record(fx, "u", 0, zero);
	/* 1: another boot's (a power cut came between). */
	slot[0] ^= 1;
	poke_record(fx, "u", 1, slot);
	/* 2: another inode's (the file replaced, the record not yet). */
	arr_path(path, sizeof path, fx, "u", 2);
	uint8_t *b = malloc(MiB);
	assert_non_null(b);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(pread(fd, b, MiB, 0), (ssize_t)MiB);
	close(fd);
	b[77] ^= 0xff; /* torn, as a power cut may leave it */
	want[2 * MiB + 77] ^= 0xff;
	/* Made beside it, then renamed over it: another inode number (one
	 * made after the unlink could take the freed one, which is why a
	 * writer unvouches the record before it makes a file). */
	char side[520];
	snprintf(side, sizeof side, "%s.new", path);
	assert_true((fd = open(side, O_WRONLY | O_CREAT | O_EXCL, 0644)) >= 0);
	assert_int_equal(write(fd, b, MiB), (ssize_t)MiB);
	close(fd);
	assert_int_equal(rename(side, path), 0);
	free(b);
	/* 3: trusted. */
	assert_int_equal(blob_wblob_open(&w, fx->s, "u"), 0);
	check_read(w, want, size);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	check_sealed(fx, m, want, size);
	for (uint32_t i = 0; i < 3; i++) {
		arr_path(path, sizeof path, fx, "u", i);
		assert_true(chunk_ino(fx, mf_id(m, i)) != ino_of(path));
	}
	arr_path(path, sizeof path, fx, "u", 3);
	assert_int_equal(chunk_ino(fx, mf_id(m, 3)), ino_of(path));
	blob_manifest_free(m);
	blob_wblob_close(w);
	free(want);
}

/* A chunk that arrived, then: part of it written (copied into the
 * overlay, its file gone at the next fsync), punched whole (a hole, its file gone), cut by
 * a shrink and grown again (the bytes past the cut read zeros). */
static void test_arrived_then(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 4 * MiB;
	uint8_t *want = fx_make_blob(fx, size, 0), *grown = calloc(1, size);
	blob_manifest *m = NULL;
	blob_wblob *w = NULL;
	char path[512];

	fx_local_only(fx);
	assert_non_null(grown);
	assert_int_equal(blob_wblob_create(fx->s, "t", NULL, size), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "t"), 0);
	assert_int_equal(blob_wblob_pwrite(w, want, size, 0), (ssize_t)size);
	/* Part of chunk 1: copied into the overlay (where later small writes
	 * cost one write each), its file kept until the map saying so is
	 * durable: a power cut must not find state 6 without it. */
	assert_int_equal(blob_wblob_pwrite(w, "part", 4, MiB + 10), 4);
	memcpy(want + MiB + 10, "part", 4);
	arr_path(path, sizeof path, fx, "t", 1);
	assert_int_equal(access(path, F_OK), 0);
	assert_true(data_bytes(fx, "t") >= MiB);
	check_read(w, want, size);
	/* Chunk 2 punched whole. */
	assert_int_equal(blob_wblob_punch(w, 2 * MiB, MiB), 0);
	memset(want + 2 * MiB, 0, MiB);
	check_read(w, want, size);
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_int_equal(access(path, F_OK), -1);
	arr_path(path, sizeof path, fx, "t", 2);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(blob_wblob_stored(w), 3 * MiB);
	/* Cut inside chunk 3, grown back: zeros past the cut. */
	assert_int_equal(blob_wblob_truncate(w, 3 * MiB + 100), 0);
	assert_int_equal(blob_wblob_truncate(w, size), 0);
	memset(want + 3 * MiB + 100, 0, MiB - 100);
	check_read(w, want, size);
	/* Cut before chunk 3: its file goes. */
	assert_int_equal(blob_wblob_pwrite(w, want, MiB, 3 * MiB), MiB);
	memcpy(want + 3 * MiB, want, MiB);
	arr_path(path, sizeof path, fx, "t", 3);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(blob_wblob_truncate(w, 3 * MiB), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(blob_wblob_truncate(w, size), 0);
	memset(want + 3 * MiB, 0, MiB);
	check_read(w, want, size);
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_open(&w, fx->s, "t"), 0);
	check_read(w, want, size);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	check_sealed(fx, m, want, size);
	blob_manifest_free(m);
	blob_wblob_close(w);
	free(want);
	free(grown);
}

/* A chunk in the overlay that then arrives whole keeps its overlay bytes
 * until the fsync that makes state 6 durable (a power cut must find the
 * old state with its bytes, or the new), and gives them back then. */
static void test_overlay_left_until_fsync(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *want = fx_make_blob(fx, 2 * MiB, 0);
	blob_wblob *w = NULL;

	fx_local_only(fx);
	fx_fill(fx, want, 2 * MiB);
	assert_int_equal(blob_wblob_create(fx->s, "t", NULL, 2 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "t"), 0);
	assert_int_equal(blob_wblob_pwrite(w, want + MiB, MiB - 4096, 0), (ssize_t)(MiB - 4096));
	assert_true(data_bytes(fx, "t") >= MiB - 4096);
	assert_int_equal(blob_wblob_pwrite(w, want, MiB, 0), (ssize_t)MiB);
	assert_true(data_bytes(fx, "t") >= MiB - 4096);
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_true(data_bytes(fx, "t") < 64 * 1024);
	uint8_t *got = malloc(MiB);
	assert_non_null(got);
	assert_int_equal(blob_wblob_pread(w, got, MiB, 0), (ssize_t)MiB);
	assert_bytes_equal(got, want, MiB);
	free(got);
	blob_wblob_close(w);
	free(want);
}

/* A handle that writes the overlay only (no arrivals through it) still
 * reads an arrived chunk by its file, and a chunk that leaves state 6
 * through it loses its file at the next fsync. */
static void test_arrived_without_plugin(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *want = fx_make_blob(fx, 2 * MiB, 0);
	blob_wblob *w = NULL;
	char path[512];

	fx_local_only(fx);
	fx_fill(fx, want, 2 * MiB);
	assert_int_equal(blob_wblob_create(fx->s, "t", NULL, 2 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "t"), 0);
	assert_int_equal(blob_wblob_pwrite(w, want, 2 * MiB, 0), (ssize_t)(2 * MiB));
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_open(&w, fx->s, "t"), 0);
	blob_wblob_overlay_only(w);
	check_read(w, want, 2 * MiB);
	arr_path(path, sizeof path, fx, "t", 1);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(blob_wblob_pwrite(w, want, MiB, MiB), (ssize_t)MiB);
	memcpy(want + MiB, want, MiB);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_int_equal(access(path, F_OK), -1);
	check_read(w, want, 2 * MiB);
	blob_wblob_close(w);
	free(want);
}

/* A whole chunk written that the store holds already (cp or dd of a
 * snapshot onto a disk) is taken by reference: the arrived file is the
 * store's chunk file, nothing is written, the seal names it; a damaged
 * stored chunk is not taken for the bytes written. */
static void test_stored_chunk_taken(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *data = malloc(3 * MiB);
	blob_manifest *snap = NULL, *m = NULL;
	blob_wblob *w = NULL;
	char path[512];
	int n0;

	fx_local_only(fx);
	assert_non_null(data);
	fx_fill(fx, data, 3 * MiB);
	assert_int_equal(blob_store_put_buf(fx->s, &snap, data, 3 * MiB), 0);
	n0 = fx_count_chunks(fx->store);
	assert_int_equal(blob_wblob_create(fx->s, "t", NULL, 3 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "t"), 0);
	uint64_t before = data_bytes(fx, "t");
	assert_int_equal(blob_wblob_pwrite(w, data, 2 * MiB, 0), (ssize_t)(2 * MiB));
	for (uint32_t k = 0; k < 2; k++) {
		arr_path(path, sizeof path, fx, "t", k);
		assert_int_equal(ino_of(path), chunk_ino(fx, &snap->id[k]));
	}
	assert_int_equal(data_bytes(fx, "t"), before);
	/* Chunk 2's stored file damaged: written, not taken. */
	fx_corrupt_chunk(fx->store, &snap->id[2], 100);
	assert_int_equal(blob_wblob_pwrite(w, data + 2 * MiB, MiB, 2 * MiB), (ssize_t)MiB);
	arr_path(path, sizeof path, fx, "t", 2);
	assert_int_not_equal(ino_of(path), chunk_ino(fx, &snap->id[2]));
	check_read(w, data, 3 * MiB);
	fx_chunk_path(path, sizeof path, fx->store, &snap->id[2]);
	assert_int_equal(unlink(path), 0); /* what fsck --repair does with it */
	/* A part written again: copied into the overlay, the store's chunk
	 * left as it was. */
	assert_int_equal(blob_wblob_pwrite(w, "xy", 2, 10), 2);
	memcpy(data + 10, "xy", 2);
	arr_path(path, sizeof path, fx, "t", 1);
	assert_int_equal(ino_of(path), chunk_ino(fx, &snap->id[1]));
	check_read(w, data, 3 * MiB);
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	check_sealed(fx, m, data, 3 * MiB);
	/* Chunk 1 named, not stored again; chunk 0 (changed) stored anew. */
	assert_true(chunk_id_equal(&m->id[1], &snap->id[1]));
	assert_false(chunk_id_equal(&m->id[0], &snap->id[0]));
	assert_true(fx_count_chunks(fx->store) <= n0 + 2);
	blob_manifest_free(m);
	blob_wblob_close(w);
	blob_manifest_free(snap);
	free(data);
}

/* An early disk's copy-on-write (model/task/early_disk.c): a chunk written
 * whole (it arrives: the store's own file when the store holds the chunk,
 * else a file of its own), fsynced, then a byte at a time into it (as dd
 * bs=1 writes; the chunk copied into the overlay), closed and reopened:
 * the chunk reads as written, never zeros, and the store's chunk it was
 * linked to keeps its bytes.  Also a short last chunk, and a chunk written
 * whole, in part and whole again before one fsync (the file of the last
 * write stays).  Issue 69: test_early once saw such a chunk read back as
 * zeros after a remount; this is that sequence against the blob directly. */
static void test_whole_then_bytes_reopened(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 4 * MiB + 5000; /* chunk 4 is short */
	uint8_t *data = malloc(size), *want = malloc(size), *again = fx_make_blob(fx, MiB, 0);

	fx_local_only(fx);
	assert_non_null(data);
	assert_non_null(want);
	fx_fill(fx, data, size);
	for (int stored = 0; stored < 2; stored++) {
		blob_manifest *snap = NULL, *m = NULL;
		blob_wblob *w = NULL;
		char name[16], path[512];

		snprintf(name, sizeof name, "e%d", stored);
		if (stored)
			assert_int_equal(blob_store_put_buf(fx->s, &snap, data, size), 0);
		memset(want, 0, size); /* blank: chunks 0 and 3 never written, 2 later */
		memcpy(want + MiB, data + MiB, MiB);
		memcpy(want + 4 * MiB, data + 4 * MiB, 5000);
		assert_int_equal(blob_wblob_create(fx->s, name, NULL, size), 0);
		assert_int_equal(blob_wblob_open(&w, fx->s, name), 0);
		/* Chunks 1 and 4 whole, as the copy-on-write writes them, then
		 * fsynced before the written map says so. */
		assert_int_equal(blob_wblob_pwrite(w, data + MiB, MiB, MiB), (ssize_t)MiB);
		assert_int_equal(blob_wblob_pwrite(w, data + 4 * MiB, 5000, 4 * MiB), 5000);
		assert_int_equal(blob_wblob_fsync(w), 0);
		arr_path(path, sizeof path, fx, name, 1);
		if (stored)
			assert_int_equal(ino_of(path), chunk_ino(fx, &snap->id[1]));
		else
			assert_true(ino_of(path) != 0);
		/* The guest's write, a byte at a time; the last byte of chunk 4. */
		for (int k = 0; k < 17; k++) {
			uint8_t c = (uint8_t)("early-guest-write"[k]);
			assert_int_equal(blob_wblob_pwrite(w, &c, 1, MiB + 100 + (uint64_t)k), 1);
			want[MiB + 100 + k] = c;
		}
		assert_int_equal(blob_wblob_pwrite(w, "!", 1, size - 1), 1);
		want[size - 1] = '!';
		check_read(w, want, size);
		blob_wblob_close(w);
		assert_int_equal(blob_wblob_open(&w, fx->s, name), 0);
		check_read(w, want, size);
		/* Chunk 2 whole, a byte, whole again (other bytes), one fsync:
		 * its last file stays, the overlay's copy goes. */
		assert_int_equal(blob_wblob_pwrite(w, data + 2 * MiB, MiB, 2 * MiB), (ssize_t)MiB);
		assert_int_equal(blob_wblob_pwrite(w, "x", 1, 2 * MiB + 9), 1);
		assert_int_equal(blob_wblob_pwrite(w, again, MiB, 2 * MiB), (ssize_t)MiB);
		memcpy(want + 2 * MiB, again, MiB);
		assert_int_equal(blob_wblob_fsync(w), 0);
		arr_path(path, sizeof path, fx, name, 2);
		assert_int_equal(access(path, F_OK), 0);
		blob_wblob_close(w);
		assert_int_equal(blob_wblob_open(&w, fx->s, name), 0);
		check_read(w, want, size);
		if (stored)
			check_sealed(fx, snap, data, size); /* the linked chunks untouched */
		assert_int_equal(blob_wblob_seal(w, &m), 0);
		check_sealed(fx, m, want, size);
		blob_manifest_free(m);
		blob_manifest_free(snap);
		blob_wblob_close(w);
	}
	free(data);
	free(want);
	free(again);
}

/* A chunk's file missing: removed by hand after a write in this boot,
 * EIO (never zeros); its record of another boot (a power cut came before
 * the fsync), zeros. */
static void test_missing_file(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *want = fx_make_blob(fx, 2 * MiB, 0), *got = malloc(MiB), slot[16];
	blob_wblob *w = NULL;
	char path[512], ids[512];
	int fd;

	fx_local_only(fx);
	assert_non_null(got);
	assert_int_equal(blob_wblob_create(fx->s, "m", NULL, 2 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "m"), 0);
	assert_int_equal(blob_wblob_pwrite(w, want, 2 * MiB, 0), 2 * MiB);
	for (uint32_t i = 0; i < 2; i++) {
		arr_path(path, sizeof path, fx, "m", i);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(blob_wblob_pread(w, got, MiB, 0), -EIO);
	snprintf(ids, sizeof ids, "%s/wblobs/m.ids", fx->store);
	assert_true((fd = open(ids, O_RDONLY)) >= 0);
	assert_int_equal(pread(fd, slot, 16, 16 + 32), 16);
	close(fd);
	slot[0] ^= 1;
	poke_record(fx, "m", 1, slot);
	memset(got, 0xee, MiB);
	assert_int_equal(blob_wblob_pread(w, got, MiB, MiB), MiB);
	assert_true(blob_is_zero(got, MiB));
	blob_wblob_close(w);
	free(want);
	free(got);
}

#define KILL_NCH 8

/* A writer rewriting whole chunks, SIGKILLed at a random moment: every
 * page reads as one of the two patterns, and the seal's manifest (trusting
 * what the records vouch for) reads back verified as the disk. */
static void test_killed_writer(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = KILL_NCH * MiB;
	uint8_t *a = fx_make_blob(fx, size, 0), *b = fx_make_blob(fx, size, 0), *got = malloc(size);
	int seen[2] = {0};

	fx_local_only(fx);
	assert_non_null(got);
	for (int t = 0; t < 12; t++) {
		char name[16];
		blob_manifest *m = NULL;
		blob_wblob *w = NULL;
		int p[2], status;
		char c;
		pid_t pid;

		snprintf(name, sizeof name, "k%d", t);
		assert_int_equal(blob_wblob_create(fx->s, name, NULL, size), 0);
		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			if (blob_wblob_open(&w, fx->s, name) < 0 || blob_wblob_pwrite(w, a, size, 0) != (ssize_t)size ||
			    write(p[1], "A", 1) != 1)
				_exit(1);
			for (uint64_t k = 0;; k++) {
				uint32_t i = (uint32_t)(k % KILL_NCH);
				const uint8_t *src = (k / KILL_NCH) % 2 ? a : b;
				if (blob_wblob_pwrite(w, src + (uint64_t)i * MiB, MiB, (uint64_t)i * MiB) != (ssize_t)MiB)
					_exit(1);
			}
		}
		close(p[1]);
		assert_int_equal(read(p[0], &c, 1), 1);
		usleep((useconds_t)fx_below(fx, 20000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		close(p[0]);

		assert_int_equal(blob_wblob_open(&w, fx->s, name), 0);
		assert_int_equal(blob_wblob_pread(w, got, size, 0), (ssize_t)size);
		/* Rewritten in place (the file is the chunk's alone): a write
		 * killed half-way leaves some pages new, as in an overlay. */
		for (uint64_t o = 0; o < size; o += 4096) {
			bool is_a = memcmp(got + o, a + o, 4096) == 0, is_b = memcmp(got + o, b + o, 4096) == 0;
			assert_true(is_a || is_b);
			seen[is_b]++;
		}
		assert_int_equal(blob_wblob_seal(w, &m), 0);
		check_sealed(fx, m, got, size);
		blob_manifest_free(m);
		blob_wblob_close(w);
		assert_int_equal(blob_wblob_remove(fx->s, name), 0);
	}
	fprintf(stderr, "    pages seen: %d old, %d new\n", seen[0], seen[1]);
	assert_true(seen[1] > 0);
	free(a);
	free(b);
	free(got);
}

/* An encrypted disk's and an upload's whole chunks never arrive. */
static void test_not_for_streams(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *want = fx_make_blob(fx, 2 * MiB, 0);
	blob_wblob *w = NULL;
	char path[512];

	fx_local_only(fx);
	assert_int_equal(blob_wblob_create(fx->s, "s", NULL, 2 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "s"), 0);
	blob_wblob_stream(w);
	assert_int_equal(blob_wblob_pwrite(w, want, 2 * MiB, 0), 2 * MiB);
	assert_int_equal(blob_wblob_fsync(w), 0);
	snprintf(path, sizeof path, "%s/wblobs/s.arr", fx->store);
	assert_int_equal(access(path, F_OK), -1);
	check_read(w, want, 2 * MiB);
	blob_wblob_close(w);
	free(want);
}


/* ---- the order of fsync: the bytes before the map that names them ---------------- */

#define SYNCS_MAX 64
static struct {
	char path[512]; /* what the descriptor synced was (its /proc link) */
	bool fs;        /* syncfs: its whole file system */
} syncs[SYNCS_MAX];
static int nsyncs;
static bool syncs_on;

static void sync_note(int fd, bool fs)
{
	char link[64];
	ssize_t n;

	if (!syncs_on || nsyncs >= SYNCS_MAX)
		return;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, syncs[nsyncs].path, sizeof syncs[nsyncs].path - 1);
	syncs[nsyncs].path[n < 0 ? 0 : n] = '\0';
	syncs[nsyncs++].fs = fs;
}

int fsync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	sync_note(fd, false);
	return real(fd);
}

int syncfs(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
	sync_note(fd, true);
	return real(fd);
}

/* The first sync at or after from that makes path durable: its fsync, or
 * a syncfs of the store's file system (the test's store is one); -1. */
static int synced_at(const char *store, const char *path, int from)
{
	for (int k = from; k < nsyncs; k++)
		if (strcmp(syncs[k].path, path) == 0 || (syncs[k].fs && strncmp(syncs[k].path, store, strlen(store)) == 0))
			return k;
	return -1;
}

/* Whole chunks written, then fsync: each arrived file is synced before
 * the map (whose state byte 6 names the file) is; again after a rewrite
 * in place, and for a chunk that arrives in a file "t" renamed. */
static void test_files_synced_before_map(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *want = fx_make_blob(fx, 3 * MiB, 0);
	blob_wblob *w = NULL;
	char map[512], path[512];

	fx_local_only(fx);
	assert_int_equal(blob_wblob_create(fx->s, "o", NULL, 3 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "o"), 0);
	snprintf(map, sizeof map, "%s/wblobs/o.map", fx->store);
	for (int round = 0; round < 3; round++) {
		/* 0: chunks 0 and 1 arrive; 1: chunk 1 again, in place; 2: chunk 2 */
		uint32_t first = round == 2 ? 2 : round == 1 ? 1 : 0, n = round == 0 ? 2 : 1;
		want[first * MiB] ^= (uint8_t)(round + 1);
		assert_int_equal(blob_wblob_pwrite(w, want + first * MiB, n * MiB, first * MiB), (ssize_t)(n * MiB));
		nsyncs = 0;
		syncs_on = true;
		assert_int_equal(blob_wblob_fsync(w), 0);
		syncs_on = false;
		assert_true(nsyncs < SYNCS_MAX);
		int at_map = -1;
		for (int k = 0; k < nsyncs && at_map < 0; k++)
			if (!syncs[k].fs && strcmp(syncs[k].path, map) == 0)
				at_map = k;
		if (at_map < 0)
			fail_msg("round %d: the map %s was not fsync'd", round, map);
		for (uint32_t i = first; i < first + n; i++) {
			arr_path(path, sizeof path, fx, "o", i);
			assert_true(ino_of(path) != 0); /* it arrived: a file of its own */
			int at = synced_at(fx->store, path, 0);
			if (at < 0 || at > at_map)
				fail_msg("round %d: chunk %u's file %s synced at %d, the map at %d: its bytes must be durable "
				         "before the map says state 6",
				         round, i, path, at, at_map);
		}
	}
	check_read(w, want, 3 * MiB);
	blob_wblob_close(w);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seal_links, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_untrusted_records, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_arrived_then, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_overlay_left_until_fsync, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_arrived_without_plugin, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stored_chunk_taken, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_whole_then_bytes_reopened, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_killed_writer, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_not_for_streams, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_files_synced_before_map, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

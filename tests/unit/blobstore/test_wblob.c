/*
 * test_wblob.c — unit tests for blobstore/wblob.c against a reference model:
 * an in-memory byte array plus, per chunk, whether it is a hole, shows the
 * base, or was written.  ~2000 random pwrites and truncates (unaligned
 * offsets, 1 byte .. 3 MiB) over a base manifest, compared after every batch
 * (content, size, stored, SEEK_DATA/SEEK_HOLE), across close and reopen, and
 * then sealed: the manifest reads back as the reference and unchanged base
 * chunks keep their ids; sealing reports progress and can be stopped.
 * Also: simulated kills between the overlay write and the state byte, and
 * in the middle of a shrink; concurrent readers;
 * names and lifecycle errors.
 */
#include <pthread.h>

#include "blob_test.h"

#define MAX_SIZE (24 * MiB)
#define NCH (MAX_SIZE / MiB + 4)

enum ref_state { R_HOLE, R_BASE, R_OVERLAY };

struct model {
	uint8_t *bytes; /* MAX_SIZE + 4 MiB; zero beyond size */
	uint64_t size;
	enum ref_state st[NCH];
	bool pristine[NCH]; /* base chunk never written nor cut by a size change */
	const blob_manifest *base;
};

static uint32_t nchunks(uint64_t size)
{
	return (uint32_t)((size + MiB - 1) / MiB);
}

static void model_init(struct model *r, const blob_manifest *base, const uint8_t *base_bytes, uint64_t size)
{
	uint64_t show = size < base->size ? size : base->size;

	r->bytes = calloc(1, MAX_SIZE + 4 * MiB);
	assert_non_null(r->bytes);
	if (show > 0)
		memcpy(r->bytes, base_bytes, show);
	r->size = size;
	r->base = base;
	for (uint32_t i = 0; i < NCH; i++) {
		bool b = i < base->nchunks && i < nchunks(size) && !chunk_id_is_null(&base->chunks[i]);
		r->st[i] = b ? R_BASE : R_HOLE;
		r->pristine[i] = b;
	}
}

static void model_resize(struct model *r, uint64_t size)
{
	uint64_t lo = size < r->size ? size : r->size;

	if (size < r->size)
		memset(r->bytes + size, 0, r->size - size);
	for (uint32_t i = (uint32_t)(lo / MiB); i < NCH; i++)
		r->pristine[i] = false;
	for (uint32_t i = nchunks(lo); i < NCH; i++)
		r->st[i] = R_HOLE;
	r->size = size;
}

static void model_write(struct model *r, const uint8_t *buf, size_t len, uint64_t off)
{
	if (off + len > r->size)
		model_resize(r, off + len);
	memcpy(r->bytes + off, buf, len);
	for (uint64_t i = off / MiB; i <= (off + len - 1) / MiB; i++) {
		r->st[i] = R_OVERLAY;
		r->pristine[i] = false;
	}
}

static uint64_t model_stored(const struct model *r)
{
	uint64_t s = 0;

	for (uint32_t i = 0; i < nchunks(r->size); i++)
		if (r->st[i] != R_HOLE)
			s += blob_chunk_len(r->size, i);
	return s;
}

static int64_t model_seek(const struct model *r, uint64_t off, int whence)
{
	if (off >= r->size)
		return -ENXIO;
	for (uint32_t i = (uint32_t)(off / MiB); i < nchunks(r->size); i++)
		if ((r->st[i] != R_HOLE) == (whence == SEEK_DATA))
			return (int64_t)(off > (uint64_t)i * MiB ? off : (uint64_t)i * MiB);
	return whence == SEEK_DATA ? -ENXIO : (int64_t)r->size;
}

static void check_against(struct blob_fx *fx, blob_wblob *w, const struct model *r)
{
	uint8_t *buf = malloc(MAX_SIZE + 4 * MiB);

	assert_non_null(buf);
	assert_int_equal(blob_wblob_size(w), r->size);
	memset(buf, 0xa5, r->size + 5);
	assert_int_equal(blob_wblob_pread(w, buf, r->size + 5, 0), r->size);
	assert_bytes_equal(buf, r->bytes, r->size);
	/* A few unaligned reads too. */
	for (int k = 0; k < 5 && r->size > 0; k++) {
		uint64_t off = fx_below(fx, r->size + 2);
		size_t len = (size_t)fx_below(fx, 2 * MiB) + 1;
		ssize_t n = blob_wblob_pread(w, buf, len, off);
		size_t want = off >= r->size ? 0 : (r->size - off < len ? (size_t)(r->size - off) : len);

		assert_int_equal(n, want);
		assert_bytes_equal(buf, r->bytes + (off < r->size ? off : 0), want);
	}
	assert_int_equal(blob_wblob_stored(w), model_stored(r));
	for (uint32_t i = 0; i <= nchunks(r->size); i++) {
		uint64_t offs[3] = {(uint64_t)i * MiB, (uint64_t)i * MiB + 1 + fx_below(fx, MiB - 1),
		                    (uint64_t)i * MiB + MiB - 1};
		for (int k = 0; k < 3; k++) {
			assert_int_equal(blob_wblob_seek(w, offs[k], SEEK_DATA), model_seek(r, offs[k], SEEK_DATA));
			assert_int_equal(blob_wblob_seek(w, offs[k], SEEK_HOLE), model_seek(r, offs[k], SEEK_HOLE));
		}
	}
	free(buf);
}

/* Cheap check after every operation: the chunks [lo, hi) touched. */
static void check_window(blob_wblob *w, const struct model *r, uint64_t lo, uint64_t hi, uint8_t *buf)
{
	size_t want;

	lo &= ~(MiB - 1);
	hi = (hi + MiB - 1) & ~(MiB - 1);
	if (hi > r->size)
		hi = r->size;
	if (lo >= hi)
		return;
	want = (size_t)(hi - lo);
	assert_int_equal(blob_wblob_pread(w, buf, want, lo), want);
	assert_bytes_equal(buf, r->bytes + lo, want);
}

/* 1 .. 3 MiB, log-uniform-ish so small writes are common. */
static size_t random_len(struct blob_fx *fx)
{
	uint64_t bits = fx_below(fx, 23);
	uint64_t len = 1 + fx_below(fx, (uint64_t)1 << bits);

	if (fx_below(fx, 20) == 0)
		len = MiB * (1 + fx_below(fx, 3)); /* whole chunks */
	return (size_t)(len > 3 * MiB ? 3 * MiB : len);
}

static uint64_t random_off(struct blob_fx *fx, uint64_t size, size_t len)
{
	uint64_t off;

	switch (fx_below(fx, 6)) {
	case 0:
		off = fx_below(fx, size / MiB + 2) * MiB; /* chunk aligned */
		break;
	case 1:
		off = size + fx_below(fx, 2 * MiB); /* past the end */
		break;
	case 2:
		off = fx_below(fx, size + 1) & ~(uint64_t)4095;
		break;
	default:
		off = fx_below(fx, size + 1);
	}
	if (off + len > MAX_SIZE)
		off = MAX_SIZE - len - fx_below(fx, 1000);
	return off;
}

static void do_random_ops(struct blob_fx *fx, blob_wblob *w, struct model *r, int nops, int batch)
{
	uint8_t *buf = malloc(3 * MiB), *win = malloc(MAX_SIZE + 4 * MiB);

	assert_non_null(buf);
	assert_non_null(win);
	for (int op = 1; op <= nops; op++) {
		uint64_t k = fx_below(fx, 100);
		uint64_t old = r->size;

		if (k < 88) {
			size_t len = random_len(fx);
			uint64_t off = random_off(fx, r->size, len);

			fx_fill(fx, buf, len);
			if (fx_below(fx, 10) == 0)
				memset(buf, 0, len); /* zeros are data too */
			assert_int_equal(blob_wblob_pwrite(w, buf, len, off), len);
			model_write(r, buf, len, off);
			check_window(w, r, off < old ? off : old, off + len, win);
		} else if (k < 98) {
			uint64_t size = fx_below(fx, 20 * MiB);

			if (fx_below(fx, 3) == 0)
				size &= ~(uint64_t)(MiB - 1);
			assert_int_equal(blob_wblob_truncate(w, size), 0);
			model_resize(r, size);
			check_window(w, r, size < old ? size : old, size > old ? size : old, win);
		} else {
			assert_int_equal(blob_wblob_fsync(w), 0);
		}
		if (op % batch == 0)
			check_against(fx, w, r);
	}
	free(buf);
	free(win);
}

static void check_seal(struct blob_fx *fx, blob_wblob *w, const struct model *r)
{
	blob_manifest *m = NULL, *m2 = NULL;
	uint8_t *buf = malloc(r->size + 1);
	int before, reused = 0;

	assert_non_null(buf);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(m->size, r->size);
	assert_int_equal(blob_store_read(fx->s, m, buf, r->size, 0), r->size);
	assert_bytes_equal(buf, r->bytes, r->size);
	for (uint32_t i = 0; i < m->nchunks; i++) {
		if (r->pristine[i] && blob_chunk_len(r->size, i) == blob_chunk_len(r->base->size, i)) {
			assert_true(chunk_id_equal(&m->chunks[i], &r->base->chunks[i]));
			reused++;
		}
	}
	/* Sealing again stores nothing new and gives the same manifest. */
	before = fx_count_chunks(fx->store);
	assert_int_equal(blob_wblob_seal(w, &m2), 0);
	assert_int_equal(fx_count_chunks(fx->store), before);
	assert_int_equal(m2->size, m->size);
	assert_int_equal(m2->stored, m->stored);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_true(chunk_id_equal(&m->chunks[i], &m2->chunks[i]));
	fprintf(stderr, "    sealed %u chunks, %d base ids reused\n", m->nchunks, reused);
	blob_manifest_free(m);
	blob_manifest_free(m2);
	free(buf);
}

static blob_manifest *make_base_holes(struct blob_fx *fx, uint8_t **bytes_out, uint64_t size, int hole_pct)
{
	uint8_t *bytes = fx_make_blob(fx, size, hole_pct);
	blob_manifest *base = NULL;

	assert_int_equal(blob_store_put_buf(fx->s, &base, bytes, size), 0);
	*bytes_out = bytes;
	return base;
}

static blob_manifest *make_base(struct blob_fx *fx, uint8_t **bytes_out, uint64_t size)
{
	return make_base_holes(fx, bytes_out, size, 25);
}

static void run_random(struct blob_fx *fx, uint64_t base_size, uint64_t size, int nops)
{
	uint8_t *base_bytes = NULL;
	blob_manifest *base = make_base(fx, &base_bytes, base_size);
	blob_wblob *w = NULL;
	struct model r;

	assert_int_equal(blob_wblob_create(fx->s, "vm-disk_0.x", base, size), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "vm-disk_0.x"), 0);
	model_init(&r, base, base_bytes, size);
	check_against(fx, w, &r);
	/* Sealing before any write copies nothing. */
	check_seal(fx, w, &r);

	do_random_ops(fx, w, &r, nops / 2, 50);
	/* Persistence: everything comes back after a close. */
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_open(&w, fx->s, "vm-disk_0.x"), 0);
	check_against(fx, w, &r);
	do_random_ops(fx, w, &r, nops - nops / 2, 50);
	check_seal(fx, w, &r);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_open(&w, fx->s, "vm-disk_0.x"), 0);
	check_against(fx, w, &r);
	check_seal(fx, w, &r);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove(fx->s, "vm-disk_0.x"), 0);

	free(r.bytes);
	free(base_bytes);
	blob_manifest_free(base);
}

static void test_random_same_size(void **state)
{
	run_random(*state, 10 * MiB + 4444, 10 * MiB + 4444, 1000);
}

static void test_random_smaller_than_base(void **state)
{
	/* The base shows only its first 5.5 MiB; growth must read zeros. */
	run_random(*state, 12 * MiB, 5 * MiB + MiB / 2, 500);
}

static void test_random_larger_than_base(void **state)
{
	run_random(*state, 3 * MiB + 100, 9 * MiB, 500);
}

static void test_no_base(void **state)
{
	struct blob_fx *fx = *state;
	blob_manifest empty = {0};
	blob_wblob *w = NULL;
	blob_manifest *m = NULL;
	struct model r;
	uint8_t buf[10];

	assert_int_equal(blob_wblob_create(fx->s, "upload", NULL, 0), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "upload"), 0);
	assert_int_equal(blob_wblob_size(w), 0);
	assert_int_equal(blob_wblob_stored(w), 0);
	assert_int_equal(blob_wblob_pread(w, buf, sizeof buf, 0), 0);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_DATA), -ENXIO);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(m->size, 0);
	blob_manifest_free(m);
	model_init(&r, &empty, NULL, 0);
	do_random_ops(fx, w, &r, 300, 30);
	check_seal(fx, w, &r);
	blob_wblob_close(w);
	free(r.bytes);
}

/* Sequential appends, as an upload does: each chunk is written whole. */
static void test_sequential_upload(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 6 * MiB + 300;
	uint8_t *ref = fx_make_blob(fx, size, 30);
	blob_manifest *m = NULL, *direct = NULL;
	blob_wblob *w = NULL;

	assert_int_equal(blob_wblob_create(fx->s, "up", NULL, 0), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "up"), 0);
	for (uint64_t off = 0; off < size; off += 128 * 1024) {
		size_t n = size - off < 128 * 1024 ? (size_t)(size - off) : 128 * 1024;
		assert_int_equal(blob_wblob_pwrite(w, ref + off, n, off), n);
	}
	assert_int_equal(blob_wblob_size(w), size);
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(blob_store_put_buf(fx->s, &direct, ref, size), 0);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_true(chunk_id_equal(&m->chunks[i], &direct->chunks[i]));
	assert_int_equal(m->stored, direct->stored);
	blob_manifest_free(m);
	blob_manifest_free(direct);
	blob_wblob_close(w);
	free(ref);
}

/* Capturing a disk stores only the chunks written since its creation. */
static void test_capture_costs_no_copy(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *base_bytes = NULL;
	blob_manifest *base = make_base_holes(fx, &base_bytes, 16 * MiB, 0);
	blob_manifest *m = NULL;
	blob_wblob *w = NULL;
	const uint32_t touched[] = {2, 7, 15};
	int before;

	assert_int_equal(blob_wblob_create(fx->s, "cap", base, 16 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "cap"), 0);
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(blob_wblob_pwrite(w, "new", 3, (uint64_t)touched[k] * MiB + 1000 + k), 3);
	before = fx_count_chunks(fx->store);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(fx_count_chunks(fx->store), before + 3);
	for (uint32_t i = 0; i < m->nchunks; i++) {
		bool t = i == 2 || i == 7 || i == 15;
		assert_int_equal(chunk_id_equal(&m->chunks[i], &base->chunks[i]), !t);
	}
	blob_manifest_free(m);
	blob_wblob_close(w);
	blob_manifest_free(base);
	free(base_bytes);
}

/* What a seal's progress callback saw; it stops the seal at call stop_at
 * (0: never). */
struct seal_watch {
	uint64_t calls, last, total;
	uint64_t stop_at;
	bool backwards; /* done ever went down, or total changed */
};

static int seal_progress(void *arg, uint64_t done, uint64_t total)
{
	struct seal_watch *sw = arg;

	if (sw->calls > 0 && (done < sw->last || total != sw->total))
		sw->backwards = true;
	sw->calls++;
	sw->last = done;
	sw->total = total;
	return sw->stop_at && sw->calls == sw->stop_at;
}

/* Progress rises with every chunk (holes and unchanged chunks included)
 * up to the size, and the manifest is the one a plain seal gives. */
static void test_seal_progress(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *base_bytes = NULL;
	uint64_t size = 9 * MiB + 4321; /* a short last chunk */
	blob_manifest *base = make_base_holes(fx, &base_bytes, 8 * MiB, 40);
	blob_manifest *m = NULL, *plain = NULL;
	struct seal_watch sw = {0};
	blob_wblob *w = NULL;

	assert_int_equal(blob_wblob_create(fx->s, "p", base, size), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "p"), 0);
	assert_int_equal(blob_wblob_pwrite(w, "written", 7, 3 * MiB + 17), 7);
	assert_int_equal(blob_wblob_pwrite(w, "tail", 4, size - 4), 4);
	assert_int_equal(blob_wblob_seal_progress(w, &m, seal_progress, &sw), 0);
	assert_false(sw.backwards);
	assert_int_equal(sw.calls, 10); /* one per chunk */
	assert_int_equal(sw.last, size);
	assert_int_equal(sw.total, size);
	assert_int_equal(blob_wblob_seal(w, &plain), 0);
	assert_int_equal(m->nchunks, plain->nchunks);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_true(chunk_id_equal(&m->chunks[i], &plain->chunks[i]));
	blob_manifest_free(m);
	blob_manifest_free(plain);
	blob_wblob_close(w);
	blob_manifest_free(base);
	free(base_bytes);
}

/* A callback that says stop ends the seal with -ECANCELED right there,
 * gives no manifest, and leaves the wblob as it was: same content, and a
 * later seal completes. */
static void test_seal_progress_abort(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 6 * MiB;
	uint8_t *ref = fx_make_blob(fx, size, 0), *back = malloc(size);
	blob_manifest *m = NULL, *direct = NULL;
	struct seal_watch sw = {.stop_at = 3};
	blob_wblob *w = NULL;

	assert_non_null(back);
	assert_int_equal(blob_wblob_create(fx->s, "ab", NULL, size), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "ab"), 0);
	assert_int_equal(blob_wblob_pwrite(w, ref, size, 0), (ssize_t)size);
	assert_int_equal(blob_wblob_seal_progress(w, &m, seal_progress, &sw), -ECANCELED);
	assert_null(m);
	assert_int_equal(sw.calls, 3);
	assert_int_equal(sw.last, 3 * MiB);
	assert_int_equal(blob_wblob_size(w), size);
	assert_int_equal(blob_wblob_stored(w), size);
	assert_int_equal(blob_wblob_pread(w, back, size, 0), (ssize_t)size);
	assert_bytes_equal(back, ref, size);
	blob_wblob_close(w);
	/* Reopened (the files are intact too), it seals completely. */
	assert_int_equal(blob_wblob_open(&w, fx->s, "ab"), 0);
	sw = (struct seal_watch){0};
	assert_int_equal(blob_wblob_seal_progress(w, &m, seal_progress, &sw), 0);
	assert_int_equal(sw.last, size);
	assert_int_equal(blob_store_put_buf(fx->s, &direct, ref, size), 0);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_true(chunk_id_equal(&m->chunks[i], &direct->chunks[i]));
	blob_manifest_free(m);
	blob_manifest_free(direct);
	blob_wblob_close(w);
	free(back);
	free(ref);
}

static void wb_path(char *out, size_t cap, struct blob_fx *fx, const char *name, const char *ext)
{
	snprintf(out, cap, "%s/wblobs/%s.%s", fx->store, name, ext);
}

/* A pwrite killed after its overlay bytes but before the state byte: the
 * old content stays, and a later partial write does not expose the stray
 * overlay bytes. */
static void test_killed_before_state_byte(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *base_bytes = NULL, *junk = malloc(MiB), *buf = malloc(3 * MiB);
	blob_manifest *base = make_base(fx, &base_bytes, 3 * MiB);
	blob_wblob *w = NULL;
	char path[256];
	int fd;

	assert_non_null(junk);
	assert_non_null(buf);
	memset(base_bytes + MiB, 0, MiB); /* chunk 1: a hole in the base */
	blob_manifest_free(base);
	assert_int_equal(blob_store_put_buf(fx->s, &base, base_bytes, 3 * MiB), 0);
	assert_true(chunk_id_is_null(&base->chunks[1]));

	assert_int_equal(blob_wblob_create(fx->s, "d", base, 3 * MiB), 0);
	/* The "killed" writer got its bytes into the overlay for chunks 0 and 1. */
	fx_fill(fx, junk, MiB);
	wb_path(path, sizeof path, fx, "d", "data");
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, MiB, 0), MiB);
	assert_int_equal(pwrite(fd, junk, MiB, MiB), MiB);
	close(fd);

	assert_int_equal(blob_wblob_open(&w, fx->s, "d"), 0);
	assert_int_equal(blob_wblob_pread(w, buf, 3 * MiB, 0), 3 * MiB);
	assert_bytes_equal(buf, base_bytes, 3 * MiB);
	/* Small writes into both chunks: the rest must be base / zeros. */
	assert_int_equal(blob_wblob_pwrite(w, "abc", 3, 100), 3);
	assert_int_equal(blob_wblob_pwrite(w, "xyz", 3, MiB + 100), 3);
	memcpy(base_bytes + 100, "abc", 3);
	memcpy(base_bytes + MiB + 100, "xyz", 3);
	assert_int_equal(blob_wblob_pread(w, buf, 3 * MiB, 0), 3 * MiB);
	assert_bytes_equal(buf, base_bytes, 3 * MiB);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_open(&w, fx->s, "d"), 0);
	assert_int_equal(blob_wblob_pread(w, buf, 3 * MiB, 0), 3 * MiB);
	assert_bytes_equal(buf, base_bytes, 3 * MiB);
	blob_wblob_close(w);
	blob_manifest_free(base);
	free(base_bytes);
	free(junk);
	free(buf);
}

/* A shrink killed right after its header write: the state bytes and overlay
 * beyond the new end are still there, yet growing again reads zeros. */
static void test_killed_in_shrink(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *base_bytes = NULL, *data = malloc(4 * MiB), *buf = malloc(4 * MiB), *zero = calloc(1, 4 * MiB);
	blob_manifest *base = make_base_holes(fx, &base_bytes, 4 * MiB, 0);
	blob_wblob *w = NULL;
	uint8_t hdr[8];
	char path[256];
	int fd;

	assert_non_null(data);
	assert_non_null(buf);
	assert_non_null(zero);
	assert_int_equal(blob_wblob_create(fx->s, "s", base, 4 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "s"), 0);
	fx_fill(fx, data, 4 * MiB);
	/* Chunks 1 .. 3 in the overlay: 1 will hold the new end. */
	assert_int_equal(blob_wblob_pwrite(w, data + MiB, 3 * MiB - 7, MiB + 7), 3 * MiB - 7);
	memcpy(base_bytes + MiB + 7, data + MiB, MiB / 2 - 7);
	blob_wblob_close(w);

	/* Shrink to 1.5 MiB "by hand": only the header's size changes. */
	for (int i = 0; i < 8; i++)
		hdr[i] = (uint8_t)((MiB + MiB / 2) >> (8 * i));
	wb_path(path, sizeof path, fx, "s", "map");
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, hdr, 8, 8), 8);
	close(fd);

	assert_int_equal(blob_wblob_open(&w, fx->s, "s"), 0);
	assert_int_equal(blob_wblob_size(w), MiB + MiB / 2);
	assert_int_equal(blob_wblob_truncate(w, 4 * MiB), 0);
	assert_int_equal(blob_wblob_pread(w, buf, 4 * MiB, 0), 4 * MiB);
	assert_bytes_equal(buf, base_bytes, MiB + MiB / 2);
	assert_bytes_equal(buf + MiB + MiB / 2, zero, 2 * MiB + MiB / 2);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_HOLE), 2 * MiB);
	assert_int_equal(blob_wblob_stored(w), 2 * MiB);
	/* And after a reopen: the stale state bytes are gone from the file. */
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_open(&w, fx->s, "s"), 0);
	assert_int_equal(blob_wblob_pread(w, buf, 4 * MiB, 0), 4 * MiB);
	assert_bytes_equal(buf, base_bytes, MiB + MiB / 2);
	assert_bytes_equal(buf + MiB + MiB / 2, zero, 2 * MiB + MiB / 2);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_HOLE), 2 * MiB);
	assert_int_equal(blob_wblob_stored(w), 2 * MiB);
	blob_wblob_close(w);
	blob_manifest_free(base);
	free(base_bytes);
	free(data);
	free(buf);
	free(zero);
}

struct wreader {
	blob_wblob *w;
	const uint8_t *ref;
	uint64_t size;
	uint64_t seed;
	int errors;
};

static void *wreader_main(void *arg)
{
	struct wreader *r = arg;
	struct blob_fx rng = {.rng = r->seed};
	uint8_t *buf = malloc(MiB);

	for (int k = 0; k < 100 && buf != NULL; k++) {
		uint64_t off = fx_below(&rng, r->size);
		size_t len = (size_t)fx_below(&rng, MiB) + 1;
		size_t want = r->size - off < len ? (size_t)(r->size - off) : len;

		if (blob_wblob_pread(r->w, buf, len, off) != (ssize_t)want || memcmp(buf, r->ref + off, want) != 0)
			r->errors++;
	}
	free(buf);
	return NULL;
}

static void test_concurrent_preads(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *base_bytes = NULL, *data = malloc(MiB);
	blob_manifest *base = make_base(fx, &base_bytes, 40 * MiB);
	blob_wblob *w = NULL;
	struct wreader r[6];
	pthread_t t[6];

	assert_non_null(data);
	assert_int_equal(blob_wblob_create(fx->s, "c", base, 40 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "c"), 0);
	for (int k = 0; k < 20; k++) {
		uint64_t off = fx_below(fx, 40 * MiB - MiB);
		size_t len = (size_t)fx_below(fx, MiB) + 1;
		fx_fill(fx, data, len);
		assert_int_equal(blob_wblob_pwrite(w, data, len, off), len);
		memcpy(base_bytes + off, data, len);
	}
	for (int i = 0; i < 6; i++) {
		r[i] = (struct wreader){.w = w, .ref = base_bytes, .size = 40 * MiB, .seed = fx_rand(fx)};
		assert_int_equal(pthread_create(&t[i], NULL, wreader_main, &r[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].errors, 0);
	}
	blob_wblob_close(w);
	blob_manifest_free(base);
	free(base_bytes);
	free(data);
}

static void test_lifecycle_errors(void **state)
{
	struct blob_fx *fx = *state;
	const char *bad[] = {"", "a/b", "has space", "x\n", "ünï",
	                     "12345678901234567890123456789012345678901234567890123456789012345"};
	blob_wblob *w = NULL;
	uint8_t buf[4];

	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		assert_int_equal(blob_wblob_create(fx->s, bad[k], NULL, MiB), -EINVAL);
		assert_int_equal(blob_wblob_open(&w, fx->s, bad[k]), -EINVAL);
	}
	assert_int_equal(blob_wblob_create(fx->s, "1234567890123456789012345678901234567890123456789012345678901234",
	                                   NULL, 1),
	                 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "nope"), -ENOENT);
	assert_int_equal(blob_wblob_remove(fx->s, "nope"), -ENOENT);
	assert_int_equal(blob_wblob_create(fx->s, "a", NULL, MiB), 0);
	assert_int_equal(blob_wblob_create(fx->s, "a", NULL, 2 * MiB), -EEXIST);
	assert_int_equal(blob_wblob_open(&w, fx->s, "a"), 0);
	assert_int_equal(blob_wblob_size(w), MiB); /* the failed create changed nothing */
	assert_int_equal(blob_wblob_pwrite(w, "x", 1, (uint64_t)UINT32_MAX << 21), -EFBIG);
	assert_int_equal(blob_wblob_truncate(w, UINT64_MAX), -EFBIG);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_SET), -EINVAL);
	assert_int_equal(blob_wblob_pwrite(w, buf, 0, 5 * MiB), 0); /* no growth */
	assert_int_equal(blob_wblob_size(w), MiB);
	blob_wblob_close(w);
	blob_wblob_close(NULL);
	assert_int_equal(blob_wblob_remove(fx->s, "a"), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "a"), -ENOENT);
	/* No temporary files were left. */
	char tmp[256];
	snprintf(tmp, sizeof tmp, "%s/tmp", fx->store);
	assert_int_equal(fx_count_files(tmp), 0);
}

static void test_damaged_map(void **state)
{
	struct blob_fx *fx = *state;
	blob_wblob *w = NULL;
	char path[256];
	int fd;

	assert_int_equal(blob_wblob_create(fx->s, "m", NULL, MiB), 0);
	wb_path(path, sizeof path, fx, "m", "map");
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 0), 1);
	close(fd);
	assert_int_equal(blob_wblob_open(&w, fx->s, "m"), -EIO);
}

/* blob_wblob_list: what fsck compares with the metadata. */
#define LIST_MAX 8
struct wb_listed {
	int n;
	char names[LIST_MAX][72];
	int64_t mtimes[LIST_MAX];
	int stop_at; /* return 7 at this count; 0: never */
};

static int wb_collect(void *arg, const char *name, int64_t mtime)
{
	struct wb_listed *l = arg;

	assert_true(l->n < LIST_MAX);
	snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
	l->mtimes[l->n] = mtime;
	l->n++;
	return l->stop_at && l->n == l->stop_at ? 7 : 0;
}

/* Index of name among the listed, -1 when absent. */
static int wb_find(const struct wb_listed *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return i;
	return -1;
}

static void test_list(void **state)
{
	struct blob_fx *fx = *state;
	struct wb_listed l = {0};
	char path[256];
	int fd;

	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(blob_wblob_create(fx->s, "d1", NULL, MiB), 0);
	assert_int_equal(blob_wblob_create(fx->s, "d2", NULL, 0), 0);
	/* Files that are not wblobs are not listed. */
	snprintf(path, sizeof path, "%s/wblobs/stray.txt", fx->store);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 2); /* each once, though each has two files */
	assert_true(wb_find(&l, "d1") >= 0);
	assert_true(wb_find(&l, "d2") >= 0);
	int64_t now = (int64_t)time(NULL);
	for (int i = 0; i < l.n; i++)
		assert_true(l.mtimes[i] > now - 60 && l.mtimes[i] <= now + 1);

	/* The mtime is the newer file's: an old map with a fresh overlay (a
	 * disk written to) is fresh. */
	struct timespec old[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};
	wb_path(path, sizeof path, fx, "d1", "map");
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	memset(&l, 0, sizeof l);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_true(l.mtimes[wb_find(&l, "d1")] > now - 60);
	wb_path(path, sizeof path, fx, "d1", "data");
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	memset(&l, 0, sizeof l);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.mtimes[wb_find(&l, "d1")], 1000000);

	/* A crash between remove's two unlinks: the overlay alone is listed,
	 * and remove takes it away. */
	wb_path(path, sizeof path, fx, "d2", "map");
	assert_int_equal(unlink(path), 0);
	memset(&l, 0, sizeof l);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 2);
	assert_true(wb_find(&l, "d2") >= 0);
	assert_int_equal(blob_wblob_remove(fx->s, "d2"), 0);
	assert_int_equal(blob_wblob_remove(fx->s, "d2"), -ENOENT);
	memset(&l, 0, sizeof l);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.names[0], "d1");

	/* The callback's non-zero value stops the walk and is returned. */
	assert_int_equal(blob_wblob_create(fx->s, "d3", NULL, 0), 0);
	memset(&l, 0, sizeof l);
	l.stop_at = 1;
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 7);
	assert_int_equal(l.n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_random_same_size, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_random_smaller_than_base, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_random_larger_than_base, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_no_base, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_sequential_upload, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_capture_costs_no_copy, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_seal_progress, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_seal_progress_abort, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_killed_before_state_byte, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_killed_in_shrink, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_preads, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle_errors, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_map, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_list, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

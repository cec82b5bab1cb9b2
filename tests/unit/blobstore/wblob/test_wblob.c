/*
 * test_wblob.c — unit tests for blobstore/wblob/wblob.c against a reference model:
 * an in-memory byte array plus, per chunk, whether it is a hole, shows the
 * base, or was written.  ~2000 random pwrites and truncates (unaligned
 * offsets, 1 byte .. 3 MiB) over a base manifest, compared after every batch
 * (content, size, stored, SEEK_DATA/SEEK_HOLE), across close and reopen, and
 * then sealed: the manifest reads back as the reference and unchanged base
 * chunks keep their ids; sealing reports progress and can be stopped.
 * Punches (fallocate punch-hole, zero-range) among the random operations,
 * and on their own: holes given back, a punch killed half-way.
 * Also: simulated kills between the overlay write and the state byte, and
 * in the middle of a shrink; concurrent readers;
 * names and lifecycle errors.
 * Streaming (blob_wblob_stream): the same random runs; an upload written as
 * cp writes it (its bytes written once, seen by other handles only after
 * the fsync); a streaming writer SIGKILLed (every chunk old or new, whole);
 * gc keeping streamed chunks through .ids; .ids and state bytes on reopen;
 * the stage.
 * The largest disk (4 PiB, 2^32 - 1 chunks): the random runs in windows
 * across the end of .data at 8 TiB and at the very end; a disk written at
 * 0, 1 PiB and its end, whose memory (blob_wblob_mem's counters) and
 * reopening (bytes read, /proc/self/io) follow what was written, with
 * seeks, PiB punches, a shrink and a growth, a seal; a map of the old
 * layout with a chunk beyond 8 TiB in .data; gc and list with .data.<k>
 * and a .ids record 128 GiB into its file.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "blobstore/blob_test.h"

#define MAX_SIZE (24 * MiB)
#define NCH (MAX_SIZE / MiB + 4)

enum ref_state { R_HOLE, R_BASE, R_OVERLAY };

struct model {
	uint8_t *bytes; /* MAX_SIZE + 4 MiB; zero beyond size */
	uint64_t size;
	/* The model is the wblob's [shift, shift + size): a window far into
	 * a huge disk (chunk-aligned; nothing is data below it, and there is
	 * no base then).  0 for the others. */
	uint64_t shift;
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
	r->shift = 0;
	r->base = base;
	for (uint32_t i = 0; i < NCH; i++) {
		bool b = i < base->nchunks && i < nchunks(size) && !chunk_id_is_null(mf_id(base, i));
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

static void model_punch(struct model *r, uint64_t off, uint64_t len);

/* A write; its all-zero pieces (per chunk) are punches (wblob.c
 * write_zeros): a whole chunk of zeros is a hole, zeros into a hole leave
 * it one. */
static void model_write(struct model *r, const uint8_t *buf, size_t len, uint64_t off)
{
	if (off + len > r->size)
		model_resize(r, off + len);
	memcpy(r->bytes + off, buf, len);
	for (uint64_t i = off / MiB; i <= (off + len - 1) / MiB; i++) {
		uint64_t a = i * MiB > off ? i * MiB : off, e = (i + 1) * MiB < off + len ? (i + 1) * MiB : off + len;
		bool zero = true;
		for (uint64_t k = a; k < e && zero; k++)
			zero = buf[k - off] == 0;
		if (zero) {
			model_punch(r, a, e - a);
			continue;
		}
		r->st[i] = R_OVERLAY;
		r->pristine[i] = false;
	}
}

/* fallocate punch-hole / zero-range: zeros in [off, off + len) (within the
 * size); a chunk covered whole becomes a hole, one covered in part keeps
 * being data if it was (written now). */
static void model_punch(struct model *r, uint64_t off, uint64_t len)
{
	uint64_t end = off + len > r->size ? r->size : off + len;

	if (off >= end)
		return;
	memset(r->bytes + off, 0, end - off);
	for (uint64_t i = off / MiB; i <= (end - 1) / MiB; i++) {
		uint64_t cs = i * MiB, clen = blob_chunk_len(r->size, (uint32_t)i);
		bool whole = off <= cs && end >= cs + clen;
		r->st[i] = whole ? R_HOLE : r->st[i] == R_HOLE ? R_HOLE : R_OVERLAY;
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
	assert_int_equal(blob_wblob_size(w), r->shift + r->size);
	memset(buf, 0xa5, r->size + 5);
	assert_int_equal(blob_wblob_pread(w, buf, r->size + 5, r->shift), r->size);
	assert_bytes_equal(buf, r->bytes, r->size);
	/* A few unaligned reads too. */
	for (int k = 0; k < 5 && r->size > 0; k++) {
		uint64_t off = fx_below(fx, r->size + 2);
		size_t len = (size_t)fx_below(fx, 2 * MiB) + 1;
		ssize_t n = blob_wblob_pread(w, buf, len, r->shift + off);
		size_t want = off >= r->size ? 0 : (r->size - off < len ? (size_t)(r->size - off) : len);

		assert_int_equal(n, want);
		assert_bytes_equal(buf, r->bytes + (off < r->size ? off : 0), want);
	}
	assert_int_equal(blob_wblob_stored(w), model_stored(r));
	for (uint32_t i = 0; i <= nchunks(r->size); i++) {
		uint64_t offs[3] = {(uint64_t)i * MiB, (uint64_t)i * MiB + 1 + fx_below(fx, MiB - 1),
		                    (uint64_t)i * MiB + MiB - 1};
		for (int k = 0; k < 3; k++) {
			int64_t d = model_seek(r, offs[k], SEEK_DATA), h = model_seek(r, offs[k], SEEK_HOLE);
			uint64_t at = r->shift + offs[k];
			assert_int_equal(blob_wblob_seek(w, at, SEEK_DATA), d < 0 ? d : (int64_t)r->shift + d);
			assert_int_equal(blob_wblob_seek(w, at, SEEK_HOLE), h < 0 ? h : (int64_t)r->shift + h);
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
	assert_int_equal(blob_wblob_pread(w, buf, want, r->shift + lo), want);
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

/* Files in the store's wblobs/. */
static int wblob_files(struct blob_fx *fx)
{
	char dir[256];

	snprintf(dir, sizeof dir, "%s/wblobs", fx->store);
	return fx_count_files(dir);
}

/* Opens name (streaming when asked: blob_wblob_stream after every open). */
static blob_wblob *wb_open(struct blob_fx *fx, const char *name, bool stream)
{
	blob_wblob *w = NULL;

	assert_int_equal(blob_wblob_open(&w, fx->s, name), 0);
	if (stream)
		blob_wblob_stream(w);
	return w;
}

/* A streaming wblob's writes are durable only at the next fsync: it
 * fsyncs before every close. */
static void wb_close(blob_wblob *w, bool stream)
{
	if (stream)
		assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);
}

/* Random pwrites, truncates, punches (not streaming) and fsyncs on *wp
 * (the wblob `name`), checked against r.  Streaming: no byte written is zero (a whole all-zero chunk
 * becomes a hole there, which the model does not know), and an fsync is
 * sometimes followed by a close and reopen (state-2 chunks come back from
 * .ids). */
static void do_random_ops(struct blob_fx *fx, blob_wblob **wp, const char *name, struct model *r, int nops, int batch,
                          bool stream)
{
	uint8_t *buf = malloc(3 * MiB), *win = malloc(MAX_SIZE + 4 * MiB);

	assert_non_null(buf);
	assert_non_null(win);
	for (int op = 1; op <= nops; op++) {
		uint64_t k = fx_below(fx, 100);
		uint64_t old = r->size;

		if (!stream && k >= 76 && k < 88) {
			size_t len = random_len(fx);
			uint64_t off = random_off(fx, r->size, len);

			assert_int_equal(blob_wblob_punch(*wp, r->shift + off, len), 0);
			model_punch(r, off, len);
			check_window(*wp, r, off, off + len, win);
		} else if (k < 88) {
			size_t len = random_len(fx);
			uint64_t off = random_off(fx, r->size, len);

			fx_fill(fx, buf, len);
			if (stream) {
				for (size_t i = 0; i < len; i++)
					buf[i] |= (uint8_t)(buf[i] == 0);
			} else if (fx_below(fx, 10) == 0) {
				memset(buf, 0, len); /* zeros: holes where they can be */
			}
			assert_int_equal(blob_wblob_pwrite(*wp, buf, len, r->shift + off), len);
			model_write(r, buf, len, off);
			check_window(*wp, r, off < old ? off : old, off + len, win);
		} else if (k < 98) {
			uint64_t size = fx_below(fx, 20 * MiB);

			if (fx_below(fx, 3) == 0)
				size &= ~(uint64_t)(MiB - 1);
			assert_int_equal(blob_wblob_truncate(*wp, r->shift + size), 0);
			model_resize(r, size);
			check_window(*wp, r, size < old ? size : old, size > old ? size : old, win);
		} else {
			assert_int_equal(blob_wblob_fsync(*wp), 0);
			if (stream && fx_below(fx, 2) == 0) {
				blob_wblob_close(*wp);
				*wp = wb_open(fx, name, stream);
				check_against(fx, *wp, r);
			}
		}
		if (op % batch == 0)
			check_against(fx, *wp, r);
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
	assert_int_equal(m->size, r->shift + r->size);
	assert_int_equal(blob_store_read(fx->s, m, buf, r->size, r->shift), r->size);
	assert_bytes_equal(buf, r->bytes, r->size);
	for (uint32_t i = 0; i < r->base->nchunks && i < m->nchunks; i++) {
		if (r->pristine[i] && blob_chunk_len(r->size, i) == blob_chunk_len(r->base->size, i)) {
			assert_true(chunk_id_equal(mf_id(m, i), mf_id(r->base, i)));
			reused++;
		}
	}
	/* Sealing again stores nothing new and gives the same manifest. */
	before = fx_nchunks(fx);
	assert_int_equal(blob_wblob_seal(w, &m2), 0);
	assert_int_equal(fx_nchunks(fx), before);
	assert_int_equal(m2->size, m->size);
	assert_int_equal(m2->stored, m->stored);
	assert_int_equal(m2->count, m->count);
	for (uint32_t k = 0; k < m->count; k++) {
		assert_int_equal(m->index[k], m2->index[k]);
		assert_true(chunk_id_equal(&m->id[k], &m2->id[k]));
	}
	fprintf(stderr, "    sealed %u chunks (%u data), %d base ids reused\n", m->nchunks, m->count, reused);
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

/* The random runs' length on fx's store: a third on RADOS.  The random mix
 * is the wblob's own logic, run in full on the local store; on RADOS the
 * runs are there for the backend's side of it (batches that keep write
 * buffers, a commit per read of a streamed chunk), which a third covers at
 * a third of the cost (the RADOS runs were 2 of the ASan pass's minutes). */
static int ops_on_store(const struct blob_fx *fx, int nops)
{
	return fx_rados(fx) ? nops / 3 : nops;
}

static void run_random(struct blob_fx *fx, uint64_t base_size, uint64_t size, int nops, bool stream)
{
	uint8_t *base_bytes = NULL;
	blob_manifest *base = make_base(fx, &base_bytes, base_size);
	const char *name = "vm-disk_0.x";
	blob_wblob *w = NULL;
	struct model r;

	nops = ops_on_store(fx, nops);
	assert_int_equal(blob_wblob_create(fx->s, name, base, size), 0);
	w = wb_open(fx, name, stream);
	model_init(&r, base, base_bytes, size);
	check_against(fx, w, &r);
	/* Sealing before any write copies nothing. */
	check_seal(fx, w, &r);

	do_random_ops(fx, &w, name, &r, nops / 2, 50, stream);
	/* Persistence: everything comes back after a close. */
	wb_close(w, stream);
	w = wb_open(fx, name, stream);
	check_against(fx, w, &r);
	do_random_ops(fx, &w, name, &r, nops - nops / 2, 50, stream);
	check_seal(fx, w, &r);
	wb_close(w, stream);
	/* Reopened without streaming: the same content. */
	w = wb_open(fx, name, false);
	check_against(fx, w, &r);
	check_seal(fx, w, &r);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove(fx->s, name), 0);

	free(r.bytes);
	free(base_bytes);
	blob_manifest_free(base);
}

/* The random runs in a window far into a disk of the largest size: across
 * the end of .data (8 TiB: chunks before it in .data, after it in
 * .data.1) and at the very end of a 4 PiB disk (.data.511).  No base;
 * the disk is all holes below the window. */
static void run_random_at(struct blob_fx *fx, uint64_t shift, int nops, bool stream)
{
	blob_manifest *none = NULL;
	const char *name = "far";
	blob_wblob *w = NULL;
	struct model r;

	nops = ops_on_store(fx, nops);
	assert_int_equal(blob_manifest_new(&none, 0), 0);
	assert_int_equal(blob_wblob_create(fx->s, name, NULL, shift), 0);
	w = wb_open(fx, name, stream);
	model_init(&r, none, NULL, 0);
	r.shift = shift;
	check_against(fx, w, &r);
	do_random_ops(fx, &w, name, &r, nops / 2, 50, stream);
	wb_close(w, stream);
	w = wb_open(fx, name, stream);
	check_against(fx, w, &r);
	do_random_ops(fx, &w, name, &r, nops - nops / 2, 50, stream);
	check_seal(fx, w, &r);
	wb_close(w, stream);
	w = wb_open(fx, name, false);
	check_against(fx, w, &r);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove(fx->s, name), 0);
	assert_int_equal(wblob_files(fx), 0); /* every .data.<k> too */
	free(r.bytes);
	blob_manifest_free(none);
}

static void test_random_across_8t(void **state)
{
	run_random_at(*state, (8ull << 40) - 12 * MiB, 600, false);
}

static void test_random_at_4p_end(void **state)
{
	run_random_at(*state, BLOB_MAX_SIZE - MAX_SIZE - 4 * MiB, 600, false);
}

static void test_stream_random_at_4p_end(void **state)
{
	run_random_at(*state, BLOB_MAX_SIZE - MAX_SIZE - 4 * MiB, 400, true);
}

static void test_random_same_size(void **state)
{
	run_random(*state, 10 * MiB + 4444, 10 * MiB + 4444, 1000, false);
}

static void test_random_smaller_than_base(void **state)
{
	/* The base shows only its first 5.5 MiB; growth must read zeros. */
	run_random(*state, 12 * MiB, 5 * MiB + MiB / 2, 500, false);
}

static void test_random_larger_than_base(void **state)
{
	run_random(*state, 3 * MiB + 100, 9 * MiB, 500, false);
}

/* The same in streaming mode (uploads): whole chunks go straight into the
 * store, the chunk being written waits in the stage, fsync makes the
 * streamed chunks state 2. */
static void test_stream_random_same_size(void **state)
{
	run_random(*state, 10 * MiB + 4444, 10 * MiB + 4444, 400, true);
}

static void test_stream_random_smaller_than_base(void **state)
{
	run_random(*state, 12 * MiB, 5 * MiB + MiB / 2, 300, true);
}

static void test_stream_random_larger_than_base(void **state)
{
	run_random(*state, 3 * MiB + 100, 9 * MiB, 300, true);
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
	do_random_ops(fx, &w, "upload", &r, 300, 30, false);
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
		assert_true(chunk_id_equal(mf_id(m, i), mf_id(direct, i)));
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
	before = fx_nchunks(fx);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(fx_nchunks(fx), before + 3);
	for (uint32_t i = 0; i < m->nchunks; i++) {
		bool t = i == 2 || i == 7 || i == 15;
		assert_int_equal(chunk_id_equal(mf_id(m, i), mf_id(base, i)), !t);
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

/* Progress rises with every data chunk (unchanged ones included; holes
 * count in one step with the data chunk after them) up to the size,
 * reached by a last call, and the manifest is the one a plain seal
 * gives. */
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
	assert_int_equal(sw.calls, m->count); /* one per data chunk (the last one is) */
	assert_true(m->count < 10);
	assert_int_equal(sw.last, size);
	assert_int_equal(sw.total, size);
	assert_int_equal(blob_wblob_seal(w, &plain), 0);
	assert_int_equal(m->nchunks, plain->nchunks);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_true(chunk_id_equal(mf_id(m, i), mf_id(plain, i)));
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
		assert_true(chunk_id_equal(mf_id(m, i), mf_id(direct, i)));
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

static bool file_exists(struct blob_fx *fx, const char *name, const char *ext)
{
	char path[256];

	wb_path(path, sizeof path, fx, name, ext);
	return access(path, F_OK) == 0;
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
	assert_true(chunk_id_is_null(mf_id(base, 1)));

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

/* Punching: whole chunks become holes whatever they were (base, overlay, a
 * hole already), give their overlay bytes back, stay holes after a reopen
 * and seal as holes; part of a chunk reads zeros; a punch killed after the
 * state byte and before the overlay was freed shows no stray bytes to a
 * later partial write; streaming wblobs refuse. */
static void test_punch(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *base_bytes = NULL, *junk = malloc(MiB), *buf = malloc(6 * MiB);
	blob_manifest *base = make_base_holes(fx, &base_bytes, 6 * MiB, 0), *m = NULL;
	blob_wblob *w = NULL;
	char path[256];
	struct stat st;
	int fd;

	assert_non_null(junk);
	assert_non_null(buf);
	assert_int_equal(blob_wblob_create(fx->s, "p", base, 6 * MiB), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "p"), 0);
	blob_wblob_overlay_only(w); /* whole chunks too: this is the overlay's test */
	/* Chunks 1 and 2 written (overlay), 0 and 3..5 from the base. */
	fx_fill(fx, junk, MiB);
	assert_int_equal(blob_wblob_pwrite(w, junk, MiB, MiB), MiB);
	assert_int_equal(blob_wblob_pwrite(w, junk, MiB, 2 * MiB), MiB);
	memcpy(base_bytes + MiB, junk, MiB);
	memcpy(base_bytes + 2 * MiB, junk, MiB);
	assert_int_equal(blob_wblob_fsync(w), 0);
	wb_path(path, sizeof path, fx, "p", "data");
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 >= 2 * MiB);

	/* Whole chunks 1 (overlay) and 3 (base), part of 4, part of 2. */
	assert_int_equal(blob_wblob_punch(w, MiB, MiB), 0);
	assert_int_equal(blob_wblob_punch(w, 3 * MiB, MiB + 4096), 0);
	assert_int_equal(blob_wblob_punch(w, 2 * MiB + 10, 100), 0);
	memset(base_bytes + MiB, 0, MiB);
	memset(base_bytes + 3 * MiB, 0, MiB + 4096);
	memset(base_bytes + 2 * MiB + 10, 0, 100);
	assert_int_equal(blob_wblob_stored(w), 4 * MiB);
	assert_int_equal(blob_wblob_seek(w, MiB, SEEK_DATA), 2 * MiB);
	assert_int_equal(blob_wblob_seek(w, 2 * MiB, SEEK_HOLE), 3 * MiB);
	assert_int_equal(blob_wblob_seek(w, 3 * MiB, SEEK_DATA), 4 * MiB);
	assert_int_equal(blob_wblob_pread(w, buf, 6 * MiB, 0), 6 * MiB);
	assert_bytes_equal(buf, base_bytes, 6 * MiB);
	/* Chunk 1's overlay bytes are given back; chunk 4's copy is sparse. */
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 <= MiB + MiB - 4096 + 64 * 1024);
	/* Past the end, and nothing: no change. */
	assert_int_equal(blob_wblob_punch(w, 6 * MiB, MiB), 0);
	assert_int_equal(blob_wblob_punch(w, 0, 0), 0);
	assert_int_equal(blob_wblob_size(w), 6 * MiB);
	blob_wblob_close(w);

	/* Reopened: the same; sealed: holes where punched. */
	assert_int_equal(blob_wblob_open(&w, fx->s, "p"), 0);
	assert_int_equal(blob_wblob_pread(w, buf, 6 * MiB, 0), 6 * MiB);
	assert_bytes_equal(buf, base_bytes, 6 * MiB);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_true(chunk_id_is_null(mf_id(m, 1)));
	assert_true(chunk_id_is_null(mf_id(m, 3)));
	assert_true(chunk_id_equal(mf_id(m, 0), mf_id(base, 0)));
	assert_true(chunk_id_equal(mf_id(m, 5), mf_id(base, 5)));
	blob_manifest_free(m);

	/* Killed between chunk 5's state byte and the freeing of its overlay:
	 * junk left in the overlay, the state byte says hole. */
	assert_int_equal(blob_wblob_pwrite(w, junk, MiB, 5 * MiB), MiB);
	assert_int_equal(blob_wblob_punch(w, 5 * MiB, MiB), 0);
	blob_wblob_close(w);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, MiB, 5 * MiB), MiB);
	close(fd);
	assert_int_equal(blob_wblob_open(&w, fx->s, "p"), 0);
	assert_int_equal(blob_wblob_pwrite(w, "abc", 3, 5 * MiB + 7), 3);
	memset(base_bytes + 5 * MiB, 0, MiB);
	memcpy(base_bytes + 5 * MiB + 7, "abc", 3);
	assert_int_equal(blob_wblob_pread(w, buf, 6 * MiB, 0), 6 * MiB);
	assert_bytes_equal(buf, base_bytes, 6 * MiB);
	blob_wblob_close(w);

	/* A streaming wblob (an upload) does not punch. */
	assert_int_equal(blob_wblob_open(&w, fx->s, "p"), 0);
	blob_wblob_stream(w);
	assert_int_equal(blob_wblob_punch(w, 0, MiB), -EOPNOTSUPP);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove(fx->s, "p"), 0);
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

/* An overlay lost or cut outside imgfs (a disk gone bad, an operator's
 * slip) is EIO — at open, at a read and at a seal — never zeros where data
 * was written (issue 36); a .data that a crash kept from being made (no
 * chunk in it yet) is made again at open, as before. */
static void test_lost_overlay(void **state)
{
	struct blob_fx *fx = *state;
	uint8_t *buf = malloc(MiB), *got = malloc(MiB);
	blob_manifest *m = NULL;
	blob_wblob *w = NULL;
	char path[256];

	assert_non_null(buf);
	assert_non_null(got);
	fx_fill(fx, buf, MiB);
	/* Nothing written: a missing .data is all zeros, and is made again. */
	assert_int_equal(blob_wblob_create(fx->s, "fresh", NULL, 8 * MiB), 0);
	wb_path(path, sizeof path, fx, "fresh", "data");
	assert_int_equal(unlink(path), 0);
	w = wb_open(fx, "fresh", false);
	assert_true(file_exists(fx, "fresh", "data"));
	assert_int_equal(blob_wblob_pread(w, got, MiB, 0), MiB);
	assert_true(blob_is_zero(got, MiB));
	blob_wblob_close(w);

	/* Written at chunk 0 (part of it) and chunk 3 (whole). */
	assert_int_equal(blob_wblob_create(fx->s, "d", NULL, 8 * MiB), 0);
	w = wb_open(fx, "d", false);
	blob_wblob_overlay_only(w);
	assert_int_equal(blob_wblob_pwrite(w, buf, 4096, 100), 4096);
	assert_int_equal(blob_wblob_pwrite(w, buf, MiB, 3 * MiB), MiB);
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);
	wb_path(path, sizeof path, fx, "d", "data");
	/* Cut inside chunk 3: its first bytes are there, opens (what is cut
	 * of the chunk is not told apart from bytes never written). */
	assert_int_equal(truncate(path, 3 * MiB + 1), 0);
	w = wb_open(fx, "d", false);
	blob_wblob_close(w);
	/* Cut before chunk 3, then missing: EIO, and not made again. */
	assert_int_equal(truncate(path, 3 * MiB), 0);
	w = NULL;
	assert_int_equal(blob_wblob_open(&w, fx->s, "d"), -EIO);
	assert_null(w);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "d"), -EIO);
	assert_false(file_exists(fx, "d", "data"));

	/* Cut under an open wblob: its reads and its seal are EIO. */
	assert_int_equal(blob_wblob_create(fx->s, "e", NULL, 8 * MiB), 0);
	w = wb_open(fx, "e", false);
	blob_wblob_overlay_only(w);
	assert_int_equal(blob_wblob_pwrite(w, buf, MiB, 2 * MiB), MiB);
	wb_path(path, sizeof path, fx, "e", "data");
	assert_int_equal(truncate(path, 2 * MiB + 4096), 0);
	assert_int_equal(blob_wblob_pread(w, got, 4096, 2 * MiB), 4096); /* what is left reads */
	assert_bytes_equal(got, buf, 4096);
	assert_int_equal(blob_wblob_pread(w, got, MiB, 2 * MiB), -EIO);
	assert_int_equal(blob_wblob_seal(w, &m), -EIO);
	assert_null(m);
	blob_wblob_close(w);
	free(buf);
	free(got);
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

	/* Overlays beyond 8 TiB left alone by a crash in remove (after the
	 * map, the ids and the data went): listed once, by the first of
	 * them, removable. */
	blob_wblob *w = NULL;
	assert_int_equal(blob_wblob_create(fx->s, "d4", NULL, 20ull << 40), 0);
	assert_int_equal(blob_wblob_open(&w, fx->s, "d4"), 0);
	assert_int_equal(blob_wblob_pwrite(w, "x", 1, 9ull << 40), 1);
	assert_int_equal(blob_wblob_pwrite(w, "y", 1, 17ull << 40), 1);
	blob_wblob_close(w);
	memset(&l, 0, sizeof l);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 2);
	for (size_t k = 0; k < 2; k++) {
		wb_path(path, sizeof path, fx, "d4", k ? "data" : "map");
		assert_int_equal(unlink(path), 0);
	}
	memset(&l, 0, sizeof l);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 2); /* d1, and d4 once for its .data.1 and .data.2 */
	assert_true(wb_find(&l, "d4") >= 0);
	assert_int_equal(blob_wblob_remove(fx->s, "d4"), 0);
	assert_int_equal(blob_wblob_remove(fx->s, "d4"), -ENOENT);
	memset(&l, 0, sizeof l);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 1);

	/* The callback's non-zero value stops the walk and is returned. */
	assert_int_equal(blob_wblob_create(fx->s, "d3", NULL, 0), 0);
	memset(&l, 0, sizeof l);
	l.stop_at = 1;
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 7);
	assert_int_equal(l.n, 1);
}

/* ---- the largest disk ------------------------------------------------------ */

static uint64_t wb_state_off(struct blob_fx *fx, const char *name);

/* Bytes this process has read with read(2)-like calls so far (the
 * "rchar" of /proc/self/io): what an open costs, counted. */
static uint64_t rchar(void)
{
	char line[128];
	uint64_t v = 0;
	FILE *f = fopen("/proc/self/io", "r");

	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "rchar: %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

/* A 4 PiB disk (2^32 - 1 chunks), written at 0, at 1 PiB and at its end:
 * the wblob's memory is a few leaves (counted, blob_wblob_mem), reopening
 * it reads a few KiB of its map, seeking, punching a PiB, shrinking and
 * growing, sealing all step over the holes, and its overlay beyond 8 TiB
 * is in .data.<k> files that truncate and remove take away. */
static void test_huge_disk(void **state)
{
	struct blob_fx *fx = *state;
	const uint64_t size = BLOB_MAX_SIZE, pib = 1ull << 50, last = size - MiB;
	uint8_t *buf = malloc(2 * MiB), *got = malloc(2 * MiB);
	struct blob_wblob_mem mem;
	blob_manifest *m = NULL;
	blob_wblob *w = NULL;
	uint64_t before;

	assert_non_null(buf);
	assert_non_null(got);
	assert_int_equal(blob_wblob_create(fx->s, "huge", NULL, size + 1), -EFBIG);
	assert_int_equal(blob_wblob_create(fx->s, "huge", NULL, size), 0);
	w = wb_open(fx, "huge", false);
	blob_wblob_overlay_only(w); /* the overlay's .data.<k> files */
	blob_wblob_mem(w, &mem);
	assert_int_equal(mem.state_leaves + mem.sid_leaves + mem.dirs, 0);
	assert_false(mem.ext);
	assert_int_equal(blob_wblob_stored(w), 0);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_DATA), -ENXIO);
	assert_int_equal(blob_wblob_seek(w, 12345, SEEK_HOLE), 12345);
	/* A read in the middle of nothing. */
	memset(got, 0xee, MiB);
	assert_int_equal(blob_wblob_pread(w, got, MiB, pib + 77), MiB);
	assert_true(blob_is_zero(got, MiB));

	/* Part of chunk 0, a whole chunk at 1 PiB, the last 5000 bytes. */
	fx_fill(fx, buf, 2 * MiB);
	assert_int_equal(blob_wblob_pwrite(w, buf, 4096, 100), 4096);
	assert_int_equal(blob_wblob_pwrite(w, buf + 4096, MiB, pib), MiB);
	assert_int_equal(blob_wblob_pwrite(w, buf + 8192, 5000, size - 5000), 5000);
	assert_int_equal(blob_wblob_pwrite(w, buf, 1, size), -EFBIG);
	assert_int_equal(blob_wblob_size(w), size);
	blob_wblob_mem(w, &mem);
	assert_int_equal(mem.state_leaves, 3);
	assert_true(mem.dirs <= 1 + 2 * 3);
	assert_true(mem.ext);
	assert_true(file_exists(fx, "huge", "data.128")); /* 1 PiB / 8 TiB */
	assert_true(file_exists(fx, "huge", "data.511"));
	assert_false(file_exists(fx, "huge", "data.1"));
	assert_int_equal(blob_wblob_stored(w), 3 * MiB);
	assert_int_equal(blob_wblob_pread(w, got, 4196, 0), 4196);
	assert_true(blob_is_zero(got, 100));
	assert_bytes_equal(got + 100, buf, 4096);
	assert_int_equal(blob_wblob_pread(w, got, MiB, pib), MiB);
	assert_bytes_equal(got, buf + 4096, MiB);
	assert_int_equal(blob_wblob_pread(w, got, 6000, size - 6000), 6000);
	assert_true(blob_is_zero(got, 1000));
	assert_bytes_equal(got + 1000, buf + 8192, 5000);
	assert_int_equal(blob_wblob_pread(w, got, 10, size), 0);
	/* Seeking from data to data across PiB of holes. */
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_HOLE), MiB);
	assert_int_equal(blob_wblob_seek(w, MiB, SEEK_DATA), pib);
	assert_int_equal(blob_wblob_seek(w, pib + 1, SEEK_HOLE), pib + MiB);
	assert_int_equal(blob_wblob_seek(w, pib + MiB, SEEK_DATA), last);
	assert_int_equal(blob_wblob_seek(w, last + 1, SEEK_HOLE), size);
	assert_int_equal(blob_wblob_seek(w, size, SEEK_DATA), -ENXIO);

	/* The report's zero-range at 2^50 over a hole changes nothing; a
	 * punch of 2 PiB around 1 PiB frees that chunk, nothing else. */
	assert_int_equal(blob_wblob_punch(w, pib + MiB, MiB), 0);
	assert_int_equal(blob_wblob_stored(w), 3 * MiB);
	assert_int_equal(blob_wblob_punch(w, pib / 2, 2 * pib), 0);
	assert_int_equal(blob_wblob_stored(w), 2 * MiB);
	assert_int_equal(blob_wblob_seek(w, MiB, SEEK_DATA), last);
	assert_int_equal(blob_wblob_pread(w, got, MiB, pib), MiB);
	assert_true(blob_is_zero(got, MiB));
	/* A punch of everything but the first 4 KiB: chunk 0 keeps them. */
	assert_int_equal(blob_wblob_punch(w, 4096, size), 0);
	assert_int_equal(blob_wblob_stored(w), MiB);
	assert_int_equal(blob_wblob_pread(w, got, 4096, 0), 4096);
	assert_true(blob_is_zero(got, 100));
	assert_bytes_equal(got + 100, buf, 4096 - 100);
	assert_int_equal(blob_wblob_seek(w, MiB, SEEK_DATA), -ENXIO);

	/* Written again at both places, then shrunk to 2 PiB: the end goes,
	 * with its overlay file; grown back, it reads zeros. */
	assert_int_equal(blob_wblob_pwrite(w, buf, MiB, pib + 7), MiB);
	assert_int_equal(blob_wblob_pwrite(w, buf, 100, size - 100), 100);
	assert_int_equal(blob_wblob_truncate(w, 2 * pib), 0);
	assert_int_equal(blob_wblob_stored(w), 3 * MiB);
	assert_false(file_exists(fx, "huge", "data.511"));
	assert_true(file_exists(fx, "huge", "data.128"));
	assert_int_equal(blob_wblob_truncate(w, size), 0);
	assert_int_equal(blob_wblob_pread(w, got, 100, size - 100), 100);
	assert_true(blob_is_zero(got, 100));
	assert_int_equal(blob_wblob_seek(w, pib + 2 * MiB, SEEK_DATA), -ENXIO);
	assert_int_equal(blob_wblob_pread(w, got, MiB, pib + 7), MiB);
	assert_bytes_equal(got, buf, MiB);

	/* Sealed: a manifest of three entries. */
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(m->nchunks, UINT32_MAX);
	assert_int_equal(m->count, 3);
	assert_int_equal(m->stored, 3 * MiB);
	assert_int_equal(blob_store_read(fx->s, m, got, MiB, pib + 7), MiB);
	assert_bytes_equal(got, buf, MiB);
	blob_manifest_free(m);
	assert_int_equal(blob_wblob_fsync(w), 0);
	blob_wblob_close(w);

	/* Reopened: a few KiB of the map read (not 4 GiB of state bytes), a
	 * few leaves, the same content. */
	before = rchar();
	w = wb_open(fx, "huge", false);
	fprintf(stderr, "    reopening a 4 PiB disk read %" PRIu64 " bytes\n", rchar() - before);
	assert_true(rchar() - before < 256 * 1024);
	blob_wblob_mem(w, &mem);
	assert_true(mem.state_leaves <= 3);
	assert_int_equal(blob_wblob_stored(w), 3 * MiB);
	assert_int_equal(blob_wblob_pread(w, got, MiB, pib + 7), MiB);
	assert_bytes_equal(got, buf, MiB);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove(fx->s, "huge"), 0);
	assert_int_equal(wblob_files(fx), 0);
	free(buf);
	free(got);
}

/* A map of imgfs before .data.<k>: a chunk beyond 8 TiB in state 1 lives
 * in .data at its index << 20 (a file system that allows such files, or
 * ext4 below 16 TiB).  It stays readable and writable where it is, and
 * is sealed and shrunk like any other. */
static void test_old_overlay_beyond_8t(void **state)
{
	struct blob_fx *fx = *state;
	const uint32_t i = (1u << 23) + 5; /* 8 TiB + 5 MiB */
	const uint64_t size = 10ull << 40;
	uint8_t *buf, *got, one = 1;
	blob_manifest *m = NULL;
	blob_wblob *w = NULL;
	char path[256];
	int fd;

	fx_local_only(fx); /* skips (a longjmp): before anything is allocated */
	buf = malloc(MiB);
	got = malloc(MiB);
	assert_non_null(buf);
	assert_non_null(got);
	assert_int_equal(blob_wblob_create(fx->s, "old", NULL, size), 0);
	/* What the old code left: the bytes in .data, the state byte 1. */
	fx_fill(fx, buf, MiB);
	wb_path(path, sizeof path, fx, "old", "data");
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, MiB, (off_t)i << 20), (ssize_t)MiB);
	close(fd);
	wb_path(path, sizeof path, fx, "old", "map");
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &one, 1, (off_t)(wb_state_off(fx, "old") + i)), 1);
	close(fd);

	w = wb_open(fx, "old", false);
	assert_int_equal(blob_wblob_stored(w), MiB);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_DATA), (int64_t)i << 20);
	assert_int_equal(blob_wblob_pread(w, got, MiB, (uint64_t)i << 20), MiB);
	assert_bytes_equal(got, buf, MiB);
	/* Written where it is: no .data.1 made. */
	assert_int_equal(blob_wblob_pwrite(w, "new", 3, ((uint64_t)i << 20) + 10), 3);
	memcpy(buf + 10, "new", 3);
	assert_false(file_exists(fx, "old", "data.1"));
	/* The chunk after it is new: state 5, in .data.1. */
	assert_int_equal(blob_wblob_pwrite(w, "next", 4, (uint64_t)(i + 1) << 20), 4);
	assert_true(file_exists(fx, "old", "data.1"));
	blob_wblob_close(w);
	w = wb_open(fx, "old", false);
	assert_int_equal(blob_wblob_stored(w), 2 * MiB);
	assert_int_equal(blob_wblob_pread(w, got, MiB, (uint64_t)i << 20), MiB);
	assert_bytes_equal(got, buf, MiB);
	assert_int_equal(blob_wblob_pread(w, got, 4, (uint64_t)(i + 1) << 20), 4);
	assert_memory_equal(got, "next", 4);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(m->count, 2);
	assert_int_equal(blob_store_read(fx->s, m, got, MiB, (uint64_t)i << 20), MiB);
	assert_bytes_equal(got, buf, MiB);
	blob_manifest_free(m);
	/* Shrunk below it: gone; grown back: zeros. */
	assert_int_equal(blob_wblob_truncate(w, 8ull << 40), 0);
	assert_int_equal(blob_wblob_stored(w), 0);
	assert_false(file_exists(fx, "old", "data.1"));
	assert_int_equal(blob_wblob_truncate(w, size), 0);
	assert_int_equal(blob_wblob_pread(w, got, MiB, (uint64_t)i << 20), MiB);
	assert_true(blob_is_zero(got, MiB));
	blob_wblob_close(w);
	/* A state 5 below 8 TiB is no map imgfs writes. */
	wb_path(path, sizeof path, fx, "old", "map");
	fd = open(path, O_WRONLY);
	uint8_t five = 5;
	assert_int_equal(pwrite(fd, &five, 1, (off_t)(wb_state_off(fx, "old") + 3)), 1);
	close(fd);
	assert_int_equal(blob_wblob_open(&w, fx->s, "old"), -EIO);
	free(buf);
	free(got);
}

/* ---- streaming (blob_wblob_stream) ---------------------------------------- */

/* Where the state bytes of wblob `name` start in its map: 24 + baselen. */
static uint64_t wb_state_off(struct blob_fx *fx, const char *name)
{
	uint8_t h[24];
	char path[256];
	int fd;

	wb_path(path, sizeof path, fx, name, "map");
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof h, 0), sizeof h);
	close(fd);
	return 24 + ((uint64_t)h[20] | (uint64_t)h[21] << 8 | (uint64_t)h[22] << 16 | (uint64_t)h[23] << 24);
}

/* A fresh non-streaming handle on name shows want[0 .. size). */
static void check_other_handle(struct blob_fx *fx, const char *name, const uint8_t *want, uint64_t size)
{
	blob_wblob *o = wb_open(fx, name, false);
	uint8_t *buf = malloc(size + 1);

	assert_non_null(buf);
	assert_int_equal(blob_wblob_size(o), size);
	assert_int_equal(blob_wblob_pread(o, buf, size + 1, 0), (ssize_t)size);
	assert_bytes_equal(buf, want, size);
	blob_wblob_close(o);
	free(buf);
}

struct wr {
	uint64_t off;
	size_t len;
};

/* The writes coreutils cp makes of a QCOW2 file of `size` bytes (its
 * SEEK_DATA/SEEK_HOLE walk skips a hole after the header's first clusters):
 * 196 KiB at 0, nothing up to 256 KiB, 64 KiB there, then 1 MiB writes at
 * unaligned offsets to the end. */
static int cp_writes(struct wr *ws, int cap, uint64_t size)
{
	int n = 0;

	ws[n++] = (struct wr){0, 200704};
	ws[n++] = (struct wr){262144, 65536};
	for (uint64_t off = 327680; off < size; off += MiB) {
		assert_true(n < cap);
		ws[n++] = (struct wr){off, size - off < MiB ? (size_t)(size - off) : (size_t)MiB};
	}
	return n;
}

/* An upload written the way cp writes it, streaming: its bytes are written
 * once.  Before the fsync a pread already shows them (a chunk streamed
 * but not yet in the store by name included) while another handle shows
 * nothing of them; after it the overlay holds only the short last chunk,
 * and the seal stores only that chunk and names the others as they are:
 * the manifest put_buf makes of the same bytes. */
static void test_stream_written_once(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 6 * MiB + 314573; /* ~6.3 MiB: a short last chunk */
	size_t last = (size_t)(size - 6 * MiB);
	uint8_t *ref = fx_make_blob(fx, size, 0), *zero = calloc(1, size + 1), *back = malloc(size + 1);
	blob_manifest *m = NULL, *direct = NULL;
	blob_wblob *w = NULL;
	struct wr ws[16];
	int nw = cp_writes(ws, 16, size), before;
	chunk_id c5;
	char path[256];
	struct stat st;

	assert_non_null(zero);
	assert_non_null(back);
	memset(ref + 200704, 0, 262144 - 200704); /* what cp skipped */
	memset(ref + 3 * MiB, 0, MiB);            /* a whole zero chunk: a hole */
	assert_int_equal(blob_wblob_create(fx->s, "up", NULL, 0), 0);
	w = wb_open(fx, "up", true);
	for (int k = 0; k < nw; k++) {
		assert_int_equal(blob_wblob_pwrite(w, ref + ws[k].off, ws[k].len, ws[k].off), (ssize_t)ws[k].len);
		if (k == 3) /* nothing synced yet: another handle sees zeros */
			check_other_handle(fx, "up", zero, ws[k].off + ws[k].len);
	}
	assert_int_equal(blob_wblob_size(w), size);
	/* Chunk 5 went to the batch with the last write, which nothing has
	 * committed yet; reading it commits it.  (A local chunk is named only
	 * at the commit; a RADOS object is written whole under its name by an
	 * aio that may land before it, so there only "after" is certain.) */
	blob_store_chunk_id(fx->s, &c5, ref + 5 * MiB, MiB);
	if (!fx_rados(fx))
		assert_int_equal(blob_store_has_chunk(fx->s, &c5), 0);
	assert_int_equal(blob_wblob_pread(w, back, MiB, 5 * MiB), (ssize_t)MiB);
	assert_bytes_equal(back, ref + 5 * MiB, MiB);
	assert_int_equal(blob_store_has_chunk(fx->s, &c5), 1);
	assert_int_equal(blob_wblob_pread(w, back, size + 1, 0), (ssize_t)size);
	assert_bytes_equal(back, ref, size);
	assert_int_equal(blob_wblob_stored(w), size - MiB); /* chunk 3 is a hole */
	assert_int_equal(blob_wblob_seek(w, 3 * MiB, SEEK_DATA), 4 * MiB);
	check_other_handle(fx, "up", zero, size);

	assert_int_equal(blob_wblob_fsync(w), 0);
	check_other_handle(fx, "up", ref, size);
	/* Written once: only the short last chunk went into the overlay. */
	wb_path(path, sizeof path, fx, "up", "data");
	assert_int_equal(stat(path, &st), 0);
	fprintf(stderr, "    overlay: %lld bytes allocated, last chunk %zu bytes\n", (long long)st.st_blocks * 512,
	        last);
	assert_true((uint64_t)st.st_blocks * 512 <= ((last + 4095) & ~(size_t)4095) + 65536);
	/* The seal stores the last chunk and nothing else. */
	before = fx_nchunks(fx);
	assert_int_equal(before, 5); /* chunks 0-2, 4, 5 */
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(fx_nchunks(fx), before + 1);
	assert_int_equal(blob_store_put_buf(fx->s, &direct, ref, size), 0);
	assert_int_equal(fx_nchunks(fx), before + 1);
	assert_int_equal(m->size, direct->size);
	assert_int_equal(m->nchunks, direct->nchunks);
	assert_int_equal(m->stored, direct->stored);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_true(chunk_id_equal(mf_id(m, i), mf_id(direct, i)));
	assert_true(chunk_id_is_null(mf_id(m, 3)));
	assert_int_equal(blob_store_read(fx->s, m, back, size, 0), (ssize_t)size);
	assert_bytes_equal(back, ref, size);
	blob_manifest_free(m);
	blob_manifest_free(direct);
	blob_wblob_close(w);
	free(ref);
	free(zero);
	free(back);
}

/* Another handle sees a streaming handle's writes only after its fsync:
 * before it, what the last fsync left (here the first 1.3 MiB: a streamed
 * chunk and a short one in the overlay), zeros after. */
static void test_stream_other_handle(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 6 * MiB + 314573;
	uint8_t *ref = fx_make_blob(fx, size, 0), *old = calloc(1, size + 1), *back = malloc(size + 1);
	blob_manifest *m = NULL, *direct = NULL;
	blob_wblob *w = NULL;
	struct wr ws[16];
	int nw = cp_writes(ws, 16, size);
	uint64_t s1 = ws[2].off + ws[2].len;
	char path[256];
	struct stat st;

	assert_non_null(old);
	assert_non_null(back);
	memset(ref + 200704, 0, 262144 - 200704);
	assert_int_equal(blob_wblob_create(fx->s, "up2", NULL, 0), 0);
	w = wb_open(fx, "up2", true);
	for (int k = 0; k < 3; k++)
		assert_int_equal(blob_wblob_pwrite(w, ref + ws[k].off, ws[k].len, ws[k].off), (ssize_t)ws[k].len);
	assert_int_equal(blob_wblob_fsync(w), 0);
	memcpy(old, ref, s1);
	check_other_handle(fx, "up2", old, s1);
	for (int k = 3; k < nw; k++) {
		assert_int_equal(blob_wblob_pwrite(w, ref + ws[k].off, ws[k].len, ws[k].off), (ssize_t)ws[k].len);
		check_other_handle(fx, "up2", old, ws[k].off + ws[k].len);
	}
	assert_int_equal(blob_wblob_pread(w, back, size + 1, 0), (ssize_t)size);
	assert_bytes_equal(back, ref, size);
	check_other_handle(fx, "up2", old, size); /* the pread committed, did not sync */
	assert_int_equal(blob_wblob_fsync(w), 0);
	check_other_handle(fx, "up2", ref, size);
	wb_path(path, sizeof path, fx, "up2", "data");
	assert_int_equal(stat(path, &st), 0);
	fprintf(stderr, "    overlay after two fsyncs: %lld bytes allocated\n", (long long)st.st_blocks * 512);
	/* The short chunk the first fsync left in the overlay was streamed
	 * since: its overlay bytes were freed; only the new last chunk's stay. */
	assert_true((uint64_t)st.st_blocks * 512 <= ((size % MiB + 4095) & ~(uint64_t)4095) + 65536);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(blob_store_put_buf(fx->s, &direct, ref, size), 0);
	for (uint32_t i = 0; i < m->nchunks; i++)
		assert_true(chunk_id_equal(mf_id(m, i), mf_id(direct, i)));
	blob_manifest_free(m);
	blob_manifest_free(direct);
	blob_wblob_close(w);
	free(ref);
	free(old);
	free(back);
}

#define CRASH_NCH 8

/* Writes buf (CRASH_NCH chunks) into w in the child of test_stream_killed:
 * sequentially in pieces of random sizes across chunk boundaries (A), or
 * chunk by chunk in a random order, each whole or in unaligned pieces,
 * fsyncing after some chunks (B).  Returns 0, or -1 on any failure. */
static int crash_write(blob_wblob *w, const uint8_t *buf, uint64_t seed, bool sequential)
{
	struct blob_fx rng = {.rng = seed};
	uint64_t size = CRASH_NCH * MiB;
	uint32_t order[CRASH_NCH];

	if (sequential) {
		for (uint64_t off = 0; off < size;) {
			size_t n = 1 + (size_t)fx_below(&rng, MiB + MiB / 2);
			if (fx_below(&rng, 4) == 0)
				n = MiB - (size_t)(off % MiB); /* to the chunk's end */
			if (n > size - off)
				n = (size_t)(size - off);
			if (blob_wblob_pwrite(w, buf + off, n, off) != (ssize_t)n)
				return -1;
			off += n;
		}
		return 0;
	}
	for (uint32_t i = 0; i < CRASH_NCH; i++)
		order[i] = i;
	for (uint32_t i = CRASH_NCH - 1; i > 0; i--) {
		uint32_t j = (uint32_t)fx_below(&rng, i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (uint32_t k = 0; k < CRASH_NCH; k++) {
		uint64_t c = (uint64_t)order[k] * MiB;

		if (fx_below(&rng, 2) == 0) {
			if (blob_wblob_pwrite(w, buf + c, MiB, c) != (ssize_t)MiB)
				return -1;
		} else {
			for (uint64_t a = 0; a < MiB;) {
				size_t n = 1 + (size_t)fx_below(&rng, MiB / 2);
				if (n > MiB - a)
					n = (size_t)(MiB - a);
				if (blob_wblob_pwrite(w, buf + c + a, n, c + a) != (ssize_t)n)
					return -1;
				a += n;
			}
		}
		if (fx_below(&rng, 3) == 0 && blob_wblob_fsync(w) < 0)
			return -1;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A streaming writer SIGKILLed: the child writes content A over a base Z,
 * fsyncs, says 'A' through a pipe, writes B (fsyncing after some chunks),
 * fsyncs, says 'B', and waits.  Killed after a random delay (the first
 * two trials measure the phases; later ones kill in A's phase or in B's), the
 * wblob reopens and every chunk reads wholly as one of its versions: Z or A
 * when killed before 'A', A or B after, B once the parent had read 'B'.
 * Every stored chunk verifies, and the wblob seals.  (A kill shows
 * mostly the order of the steps; what fdatasync orders only a power cut
 * would show.) */
static void test_stream_killed(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = CRASH_NCH * MiB;
	uint8_t *zb = NULL;

	/* A forked child cannot use its parent's RADOS client; kill -9 of an
	 * upload into RADOS is crash-trials-import's. */
	fx_local_only(fx);
	blob_manifest *base = make_base_holes(fx, &zb, size, 0);
	uint8_t *ab = fx_make_blob(fx, size, 0), *bb = fx_make_blob(fx, size, 0), *back = malloc(MiB);
	double da = 0, db = 0;
	int seen[3] = {0}; /* chunks found as Z, A, B over all trials */
	const int trials = 10;

	assert_non_null(back);
	for (int t = 0; t < trials; t++) {
		char name[16], c = 0;
		uint64_t sa = fx_rand(fx), sb = fx_rand(fx);
		bool in_b = t < 2 || fx_below(fx, 4) != 0, got_a = false, got_b = false;
		double t0, delay = 0;
		blob_manifest *m = NULL;
		blob_wblob *w = NULL;
		int p[2], status;
		pid_t pid;

		snprintf(name, sizeof name, "k%d", t);
		assert_int_equal(blob_wblob_create(fx->s, name, base, size), 0);
		assert_int_equal(pipe(p), 0);
		t0 = now_s();
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) { /* the uploader */
			close(p[0]);
			if (blob_wblob_open(&w, fx->s, name) < 0)
				_exit(1);
			blob_wblob_stream(w);
			if (crash_write(w, ab, sa, true) < 0 || blob_wblob_fsync(w) < 0 || write(p[1], "A", 1) != 1)
				_exit(1);
			if (crash_write(w, bb, sb, false) < 0 || blob_wblob_fsync(w) < 0 || write(p[1], "B", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		close(p[1]);
		if (t < 2) { /* measures the two phases (the shorter of two runs) */
			double a, b;
			got_a = read(p[0], &c, 1) == 1 && c == 'A';
			a = now_s() - t0;
			got_b = got_a && read(p[0], &c, 1) == 1 && c == 'B';
			b = now_s() - t0 - a;
			da = t == 0 || a < da ? a : da;
			db = t == 0 || b < db ? b : db;
			fprintf(stderr, "    phase A %.1f ms, phase B %.1f ms\n", a * 1e3, b * 1e3);
		} else {
			if (in_b) {
				got_a = read(p[0], &c, 1) == 1 && c == 'A';
				delay = (double)fx_below(fx, (uint64_t)(db * 1.3e6) + 1) / 1e6;
			} else {
				delay = (double)fx_below(fx, (uint64_t)(da * 1.1e6) + 1) / 1e6;
			}
			usleep((useconds_t)(delay * 1e6));
			assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
			if (!got_a)
				got_a = read(p[0], &c, 1) == 1 && c == 'A';
			got_b = got_a && read(p[0], &c, 1) == 1 && c == 'B';
			/* The phase was shorter than measured: aim within it. */
			if (in_b && got_b && delay < db)
				db = delay;
			if (!in_b && got_a && delay < da)
				da = delay;
		}
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		close(p[0]);
		assert_true(WIFSIGNALED(status)); /* not an _exit(1): every step worked */
		assert_int_equal(WTERMSIG(status), SIGKILL);
		if (t < 2)
			assert_true(got_b);

		/* What the crash left. */
		int got[3] = {0};
		assert_int_equal(blob_store_verify_all(fx->s, false, NULL, NULL), 0);
		w = wb_open(fx, name, false);
		assert_int_equal(blob_wblob_size(w), size);
		for (uint32_t i = 0; i < CRASH_NCH; i++) {
			const uint8_t *v[3] = {zb + (uint64_t)i * MiB, ab + (uint64_t)i * MiB, bb + (uint64_t)i * MiB};
			int which = -1;

			assert_int_equal(blob_wblob_pread(w, back, MiB, (uint64_t)i * MiB), (ssize_t)MiB);
			for (int k = 0; k < 3 && which < 0; k++)
				if (memcmp(back, v[k], MiB) == 0)
					which = k;
			assert_true(which >= 0);               /* one version, whole */
			assert_true(got_a ? which >= 1 : which <= 1); /* Z or A before 'A', A or B after */
			if (got_b)
				assert_int_equal(which, 2);
			got[which]++;
			seen[which]++;
		}
		fprintf(stderr, "    trial %d: killed after %.1f ms of phase %c%s: %d Z, %d A, %d B\n", t, delay * 1e3,
		        in_b ? 'B' : 'A', got_b ? " (said B)" : "", got[0], got[1], got[2]);
		/* And it seals: the manifest reads back as the wblob does. */
		assert_int_equal(blob_wblob_seal(w, &m), 0);
		for (uint32_t i = 0; i < CRASH_NCH; i++) {
			uint8_t *mine = malloc(MiB);
			assert_non_null(mine);
			assert_int_equal(blob_wblob_pread(w, mine, MiB, (uint64_t)i * MiB), (ssize_t)MiB);
			assert_int_equal(blob_store_read(fx->s, m, back, MiB, (uint64_t)i * MiB), (ssize_t)MiB);
			assert_bytes_equal(back, mine, MiB);
			free(mine);
		}
		blob_manifest_free(m);
		blob_wblob_close(w);
		assert_int_equal(blob_store_verify_all(fx->s, false, NULL, NULL), 0);
	}
	fprintf(stderr, "    chunks seen: %d Z, %d A, %d B\n", seen[0], seen[1], seen[2]);
	blob_manifest_free(base);
	free(zb);
	free(ab);
	free(bb);
	free(back);
}

static void assert_ids_present(struct blob_fx *fx, const uint8_t *bytes, uint32_t first, uint32_t n, int want)
{
	for (uint32_t i = first; i < first + n; i++) {
		chunk_id id;

		blob_store_chunk_id(fx->s, &id, bytes + (uint64_t)i * MiB, MiB);
		assert_int_equal(blob_store_has_chunk(fx->s, &id), want);
	}
}

static void check_content(blob_wblob *w, const uint8_t *want, uint64_t size)
{
	uint8_t *buf = malloc(size + 1);

	assert_non_null(buf);
	assert_int_equal(blob_wblob_size(w), size);
	assert_int_equal(blob_wblob_pread(w, buf, size + 1, 0), (ssize_t)size);
	assert_bytes_equal(buf, want, size);
	free(buf);
}

/* gc keeps a streaming wblob's chunks, though no manifest and no recent
 * mtime protects them: synced ones (first slots of .ids) and ones
 * committed but not synced (second slots); once the wblob is removed
 * (its .ids with it) they go.  blob_wblob_list names a wblob of which
 * only the .ids is left, once, and remove takes it away. */
static void test_stream_gc(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 5 * MiB;
	uint8_t *ref = fx_make_blob(fx, size, 0), *ref2 = malloc(size), *other = fx_make_blob(fx, 2 * MiB, 0);
	blob_manifest *om = NULL;
	blob_idset *none = NULL;
	struct wb_listed l = {0};
	blob_wblob *w = NULL;
	uint64_t removed = 99;
	int64_t later = (int64_t)time(NULL) + 3600; /* protects no chunk */
	char path[256];
	struct stat st;

	assert_non_null(ref2);
	assert_int_equal(blob_idset_new(&none), 0);
	assert_int_equal(blob_store_put_buf(fx->s, &om, other, 2 * MiB), 0); /* garbage */
	assert_int_equal(blob_wblob_create(fx->s, "g", NULL, 0), 0);
	w = wb_open(fx, "g", true);
	assert_int_equal(blob_wblob_pwrite(w, ref, size, 0), (ssize_t)size);
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_ids_present(fx, ref, 0, 5, 1);
	assert_int_equal(blob_store_gc(fx->s, none, later, &removed), 0);
	assert_int_equal(removed, 2); /* the garbage only */
	assert_ids_present(fx, ref, 0, 5, 1);
	check_content(w, ref, size);

	/* Chunks 1 and 2 again, new bytes: committed by the pread, not synced. */
	memcpy(ref2, ref, size);
	fx_fill(fx, ref2 + MiB, 2 * MiB);
	assert_int_equal(blob_wblob_pwrite(w, ref2 + MiB, 2 * MiB, MiB), (ssize_t)(2 * MiB));
	check_content(w, ref2, size);
	assert_ids_present(fx, ref2, 1, 2, 1);
	assert_int_equal(blob_store_gc(fx->s, none, later, &removed), 0);
	assert_int_equal(removed, 0);
	assert_ids_present(fx, ref2, 1, 2, 1); /* pending: for the next fsync */
	assert_ids_present(fx, ref, 0, 5, 1);  /* synced: what a reopen shows */
	check_content(w, ref2, size);
	/* Closed without an fsync: the synced content comes back. */
	blob_wblob_close(w);
	w = wb_open(fx, "g", false);
	check_content(w, ref, size);
	blob_wblob_close(w);

	wb_path(path, sizeof path, fx, "g", "ids");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(blob_wblob_remove(fx->s, "g"), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(blob_store_gc(fx->s, none, later, &removed), 0);
	assert_int_equal(removed, 7);
	assert_int_equal(fx_nchunks(fx), 0);

	/* Only the .ids left (a crash in remove): listed once, removable. */
	assert_int_equal(blob_wblob_create(fx->s, "h", NULL, 0), 0);
	w = wb_open(fx, "h", true);
	assert_int_equal(blob_wblob_pwrite(w, ref, MiB, 0), (ssize_t)MiB);
	wb_close(w, true);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 1); /* three files, one wblob */
	wb_path(path, sizeof path, fx, "h", "map");
	assert_int_equal(unlink(path), 0);
	wb_path(path, sizeof path, fx, "h", "data");
	assert_int_equal(unlink(path), 0);
	memset(&l, 0, sizeof l);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.names[0], "h");
	/* Its chunk is still kept... */
	assert_int_equal(blob_store_gc(fx->s, none, later, &removed), 0);
	assert_int_equal(removed, 0);
	assert_ids_present(fx, ref, 0, 1, 1);
	/* ...until remove takes the .ids away. */
	assert_int_equal(blob_wblob_remove(fx->s, "h"), 0);
	assert_int_equal(blob_wblob_remove(fx->s, "h"), -ENOENT);
	memset(&l, 0, sizeof l);
	assert_int_equal(blob_wblob_list(fx->s, wb_collect, &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(blob_store_gc(fx->s, none, later, &removed), 0);
	assert_int_equal(removed, 1);

	/* An upload streamed at the end of a 4 PiB disk: its .ids record is
	 * 128 GiB into the file; gc finds the id reading the file's data
	 * blocks only, and so does a reopen. */
	assert_int_equal(blob_wblob_create(fx->s, "far", NULL, BLOB_MAX_SIZE), 0);
	w = wb_open(fx, "far", true);
	assert_int_equal(blob_wblob_pwrite(w, ref, MiB, BLOB_MAX_SIZE - MiB), (ssize_t)MiB);
	wb_close(w, true);
	uint64_t before = rchar();
	assert_int_equal(blob_store_gc(fx->s, none, later, &removed), 0);
	assert_int_equal(removed, 0);
	assert_ids_present(fx, ref, 0, 1, 1);
	w = wb_open(fx, "far", false);
	assert_true(rchar() - before < 1024 * 1024);
	uint8_t *got = malloc(MiB);
	assert_non_null(got);
	assert_int_equal(blob_wblob_pread(w, got, MiB, BLOB_MAX_SIZE - MiB), (ssize_t)MiB);
	assert_bytes_equal(got, ref, MiB);
	free(got);
	blob_wblob_close(w);
	assert_int_equal(blob_wblob_remove(fx->s, "far"), 0);
	assert_int_equal(blob_store_gc(fx->s, none, later, &removed), 0);
	assert_int_equal(removed, 1);

	blob_idset_free(none);
	blob_manifest_free(om);
	free(ref);
	free(ref2);
	free(other);
}

/* Reopened after an fsync, a streaming wblob shows its state-2 chunks
 * (their ids from .ids; a whole zero chunk streamed over a base chunk is a
 * hole, at once and after the reopen); a .ids too short for a state-2 chunk's record, a
 * missing .ids, or a state byte 3 (in memory only, never on disk) make
 * open fail with -EIO. */
static void test_stream_reopen(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 4 * MiB + 1000;
	uint8_t *base_bytes = NULL;
	blob_manifest *base = make_base_holes(fx, &base_bytes, 4 * MiB, 0);
	uint8_t *ref = calloc(1, size), *ids = malloc(4096);
	blob_manifest *m = NULL;
	blob_wblob *w = NULL;
	uint64_t soff;
	ssize_t idslen;
	char path[256];
	chunk_id id;
	int fd;

	assert_non_null(ref);
	assert_non_null(ids);
	memcpy(ref, base_bytes, 4 * MiB);
	assert_int_equal(blob_wblob_create(fx->s, "r", base, size), 0);
	w = wb_open(fx, "r", true);
	fx_fill(fx, ref + MiB, 2 * MiB);      /* chunks 1, 2: whole */
	fx_fill(fx, ref + 3 * MiB + 10, 100); /* chunk 3: a piece */
	fx_fill(fx, ref + 4 * MiB, 1000);     /* chunk 4: the short last one */
	memset(ref, 0, MiB);                  /* chunk 0: a base chunk zeroed */
	assert_int_equal(blob_wblob_pwrite(w, ref + MiB, 2 * MiB, MiB), (ssize_t)(2 * MiB));
	assert_int_equal(blob_wblob_pwrite(w, ref + 3 * MiB + 10, 100, 3 * MiB + 10), 100);
	assert_int_equal(blob_wblob_pwrite(w, ref + 4 * MiB, 1000, 4 * MiB), 1000);
	assert_int_equal(blob_wblob_stored(w), size);
	assert_int_equal(blob_wblob_pwrite(w, ref, MiB, 0), (ssize_t)MiB);
	/* Streamed, a whole zero chunk is a hole. */
	assert_int_equal(blob_wblob_stored(w), size - MiB);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_DATA), MiB);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_HOLE), 0);
	check_content(w, ref, size);
	wb_close(w, true);

	/* The states on disk: 2 (a null id), 2, 2, 2 (the stage, whole), 1. */
	soff = wb_state_off(fx, "r");
	wb_path(path, sizeof path, fx, "r", "map");
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	{
		uint8_t st[5];
		assert_int_equal(pread(fd, st, 5, (off_t)soff), 5);
		assert_int_equal(st[0], 2);
		assert_int_equal(st[1], 2);
		assert_int_equal(st[2], 2);
		assert_int_equal(st[3], 2);
		assert_int_equal(st[4], 1);
	}
	w = wb_open(fx, "r", false);
	check_content(w, ref, size);
	assert_int_equal(blob_wblob_stored(w), size - MiB);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_DATA), MiB);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_true(chunk_id_is_null(mf_id(m, 0)));
	for (uint32_t i = 1; i <= 3; i++) {
		blob_store_chunk_id(fx->s, &id, ref + (uint64_t)i * MiB, MiB);
		assert_true(chunk_id_equal(mf_id(m, i), &id));
	}
	blob_manifest_free(m);
	blob_wblob_close(w);

	/* A damaged .ids: shorter than chunk 3's record. */
	wb_path(path, sizeof path, fx, "r", "ids");
	{
		const ssize_t REC = 2 * sizeof(chunk_id); /* a .ids record: synced id, pending id */
		int ifd = open(path, O_RDWR);
		assert_true(ifd >= 0);
		idslen = pread(ifd, ids, 4096, 0);
		assert_int_equal(idslen, 4 * REC); /* records 0 .. 3 */
		assert_int_equal(ftruncate(ifd, 3 * REC + 8), 0); /* half of chunk 3's id */
		assert_int_equal(blob_wblob_open(&w, fx->s, "r"), -EIO);
		assert_int_equal(ftruncate(ifd, 2 * REC), 0); /* no record for chunk 2 either */
		assert_int_equal(blob_wblob_open(&w, fx->s, "r"), -EIO);
		assert_int_equal(pwrite(ifd, ids, (size_t)idslen, 0), idslen);
		close(ifd);
	}
	w = wb_open(fx, "r", false);
	check_content(w, ref, size);
	blob_wblob_close(w);
	/* No .ids at all. */
	{
		char moved[300];
		snprintf(moved, sizeof moved, "%s.moved", path);
		assert_int_equal(rename(path, moved), 0);
		assert_int_equal(blob_wblob_open(&w, fx->s, "r"), -EIO);
		assert_int_equal(rename(moved, path), 0);
	}
	/* A state byte 3. */
	assert_int_equal(pwrite(fd, "\3", 1, (off_t)soff + 2), 1);
	assert_int_equal(blob_wblob_open(&w, fx->s, "r"), -EIO);
	assert_int_equal(pwrite(fd, "\2", 1, (off_t)soff + 2), 1);
	w = wb_open(fx, "r", false);
	check_content(w, ref, size);
	blob_wblob_close(w);
	close(fd);
	blob_manifest_free(base);
	free(base_bytes);
	free(ref);
	free(ids);
}

/* The stage (the chunk a streaming wblob is writing, in memory): a seal
 * stores what it holds, a whole-chunk write replaces it, a shrink does not
 * keep it beyond the end for a later growth to show, and the parts of a
 * new chunk not written yet (zeroed only as writes reach them) read as
 * zeros. */
static void test_stream_stage(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t size = 3 * MiB;
	uint8_t *ref = calloc(1, size), *back = malloc(size), *piece = malloc(MiB);
	blob_manifest *m = NULL;
	blob_wblob *w = NULL;

	assert_non_null(ref);
	assert_non_null(back);
	assert_non_null(piece);
	assert_int_equal(blob_wblob_create(fx->s, "st", NULL, size), 0);
	w = wb_open(fx, "st", true);
	fx_fill(fx, ref, size);
	assert_int_equal(blob_wblob_pwrite(w, ref, size, 0), (ssize_t)size);
	assert_int_equal(blob_wblob_fsync(w), 0); /* chunks 0-2: state 2 */

	/* A piece of chunk 1, staged: the seal stores it. */
	fx_fill(fx, ref + MiB + 5, 1000);
	assert_int_equal(blob_wblob_pwrite(w, ref + MiB + 5, 1000, MiB + 5), 1000);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(blob_store_read(fx->s, m, back, size, 0), (ssize_t)size);
	assert_bytes_equal(back, ref, size);
	blob_manifest_free(m);
	m = NULL;

	/* A whole chunk 1 over the stage: the stage goes. */
	fx_fill(fx, ref + MiB, MiB);
	assert_int_equal(blob_wblob_pwrite(w, ref + MiB, MiB, MiB), (ssize_t)MiB);
	check_content(w, ref, size);
	assert_int_equal(blob_wblob_fsync(w), 0);
	check_other_handle(fx, "st", ref, size);

	/* A piece of chunk 2 staged, then cut off and grown back: zeros. */
	fx_fill(fx, piece, 1000);
	assert_int_equal(blob_wblob_pwrite(w, piece, 1000, 2 * MiB + 77), 1000);
	assert_int_equal(blob_wblob_truncate(w, MiB + 300), 0);
	assert_int_equal(blob_wblob_truncate(w, size), 0);
	memset(ref + MiB + 300, 0, size - MiB - 300);
	check_content(w, ref, size);
	assert_int_equal(blob_wblob_stored(w), 2 * MiB);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_HOLE), 2 * MiB);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_int_equal(blob_store_read(fx->s, m, back, size, 0), (ssize_t)size);
	assert_bytes_equal(back, ref, size);
	blob_manifest_free(m);
	wb_close(w, true);
	w = wb_open(fx, "st", false);
	check_content(w, ref, size);
	blob_wblob_close(w);

	/* A new chunk written in pieces out of order, past a gap: what was not
	 * written reads as zeros, before and after the seal. */
	uint64_t big = size + MiB;
	uint8_t *ref2 = calloc(1, big);
	assert_non_null(ref2);
	memcpy(ref2, ref, size);
	w = wb_open(fx, "st", true);
	fx_fill(fx, piece, 3000);
	assert_int_equal(blob_wblob_pwrite(w, piece, 1000, size + 5000), 1000);
	memcpy(ref2 + size + 5000, piece, 1000);
	assert_int_equal(blob_wblob_pwrite(w, piece + 1000, 2000, size + 100), 2000);
	memcpy(ref2 + size + 100, piece + 1000, 2000);
	assert_int_equal(blob_wblob_pwrite(w, piece, 10, big - 10), 10);
	memcpy(ref2 + big - 10, piece, 10);
	check_content(w, ref2, big);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	uint8_t *back2 = malloc(big);
	assert_non_null(back2);
	assert_int_equal(blob_store_read(fx->s, m, back2, big, 0), (ssize_t)big);
	assert_bytes_equal(back2, ref2, big);
	blob_manifest_free(m);
	blob_wblob_close(w);
	free(ref2);
	free(back2);
	free(ref);
	free(back);
	free(piece);
}

/* ---- copies by reference (blob_wblob_share) ------------------------------- */

/* blob_wblob_share of src (bytes sb) into w, and the same copy into the
 * reference ref (*size its size): the bytes copied as it says. */
static struct blob_share_counts share(struct blob_fx *fx, blob_wblob *w, const blob_manifest *src,
                                      const uint8_t *sb, uint64_t soff, uint64_t doff, uint64_t len, uint8_t *ref,
                                      uint64_t *size)
{
	struct blob_share_counts c;
	uint64_t n = soff >= src->size ? 0 : src->size - soff < len ? src->size - soff : len;

	assert_int_equal(blob_wblob_share(w, fx->s, src, soff, doff, len, &c), (ssize_t)n);
	if (n > 0) {
		memcpy(ref + doff, sb + soff, n);
		if (doff + n > *size)
			*size = doff + n;
	}
	check_content(w, ref, *size);
	return c;
}

/* Whole aligned chunks are taken by id (no chunk read, none stored, by
 * the seal either: the manifest names the source's ids); the head and
 * tail of a range, a range crossing the source's end, differently aligned
 * offsets go by bytes; holes of the source stay holes, over data too;
 * all of it survives a close and reopen, and gc keeps the taken chunks
 * once nothing else names them. */
static void test_share(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t ssize = 10 * MiB + 300, size = 4 * MiB;
	uint8_t *sb = fx_make_blob(fx, ssize, 0), *ref = calloc(1, 40 * MiB);
	blob_manifest *src = NULL, *m = NULL;
	struct blob_share_counts c;
	blob_idset *none = NULL;
	blob_store *other = NULL;
	uint8_t secret[BLOB_SECRET_SIZE];
	blob_wblob *w = NULL;
	uint64_t removed = 0;
	int64_t later = (int64_t)time(NULL) + 3600;
	int before;

	assert_non_null(ref);
	memset(sb + 3 * MiB, 0, MiB); /* chunk 3 a hole */
	memset(sb + 7 * MiB, 0, MiB); /* chunk 7 too */
	assert_int_equal(blob_store_put_buf(fx->s, &src, sb, ssize), 0);
	assert_true(chunk_id_is_null(mf_id(src, 3)));
	assert_int_equal(blob_wblob_create(fx->s, "d", NULL, size), 0);
	w = wb_open(fx, "d", false);
	/* Data where the holes land: they must become holes. */
	fx_fill(fx, ref, size);
	assert_int_equal(blob_wblob_pwrite(w, ref, size, 0), (ssize_t)size);

	/* Aligned, whole: no chunk stored, the data chunks by id. */
	before = fx_nchunks(fx);
	c = share(fx, w, src, sb, 0, 0, ssize, ref, &size);
	assert_int_equal(fx_nchunks(fx), before);
	assert_int_equal(c.by_id, 8 * MiB); /* chunks 0-2, 4-6, 8, 9 */
	assert_true(c.by_bytes <= 300); /* the short last chunk (its zeros are punched) */
	assert_int_equal(blob_wblob_seek(w, 3 * MiB, SEEK_DATA), 4 * MiB);
	assert_int_equal(blob_wblob_seek(w, 0, SEEK_HOLE), 3 * MiB);

	/* Equally aligned, not on chunks: head and tail by bytes. */
	c = share(fx, w, src, sb, MiB + 5, 12 * MiB + 5, 4 * MiB, ref, &size);
	assert_int_equal(c.by_id, 2 * MiB); /* source chunks 2 and 4 (3 is a hole) */
	assert_true(c.by_bytes <= MiB && c.by_bytes > 0);
	/* Differently aligned: all by bytes. */
	c = share(fx, w, src, sb, 100, 20 * MiB + 7777, 3 * MiB, ref, &size);
	assert_int_equal(c.by_id, 0);
	assert_true(c.by_bytes <= 3 * MiB && c.by_bytes > 2 * MiB);
	/* Across the source's end: what there is; past it: nothing. */
	share(fx, w, src, sb, ssize - 1000, 30 * MiB, 5000, ref, &size);
	share(fx, w, src, sb, ssize, 0, 5000, ref, &size);
	share(fx, w, src, sb, ssize + MiB, 0, 5000, ref, &size);
	/* Over what was copied by id: a write into a taken chunk. */
	assert_int_equal(blob_wblob_pwrite(w, "xyz", 3, MiB + 10), 3);
	memcpy(ref + MiB + 10, "xyz", 3);
	check_content(w, ref, size);
	/* Another store: -EXDEV, nothing changed. */
	fx_secret(secret, 7);
	assert_int_equal(fx_open_store(fx, &other, "other", secret), 0);
	assert_int_equal(blob_wblob_share(w, other, src, 0, 0, MiB, NULL), -EXDEV);
	blob_store_close(other);
	check_content(w, ref, size);

	/* Sealed: the taken chunks are the source's, nothing stored for them. */
	assert_int_equal(blob_wblob_fsync(w), 0);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	for (uint32_t i = 0; i < 10; i++) {
		if (i == 1 || i == 3 || i == 7)
			continue;
		assert_true(chunk_id_equal(mf_id(m, i), mf_id(src, i)));
	}
	assert_true(chunk_id_is_null(mf_id(m, 3)));
	assert_true(chunk_id_is_null(mf_id(m, 7)));
	blob_manifest_free(m);

	/* Reopened: the same. */
	blob_wblob_close(w);
	w = wb_open(fx, "d", false);
	check_content(w, ref, size);
	assert_int_equal(blob_wblob_seek(w, 3 * MiB, SEEK_DATA), 4 * MiB);
	/* gc with no manifest live: the taken chunks stay (.ids names them). */
	assert_int_equal(blob_idset_new(&none), 0);
	assert_int_equal(blob_store_gc(fx->s, none, later, &removed), 0);
	check_content(w, ref, size);
	blob_wblob_close(w);
	w = wb_open(fx, "d", false);
	check_content(w, ref, size);

	blob_wblob_close(w);
	blob_idset_free(none);
	blob_manifest_free(src);
	free(sb);
	free(ref);
}

/* Into a streaming wblob (an upload): whole chunks streamed and still
 * pending, a staged partial chunk, then a share over both and around them,
 * then streaming writes again (into a taken chunk too): every byte is the
 * last writer's, across an fsync, a seal and a reopen, and the taken
 * chunks are the source's ids in the manifest. */
static void test_share_streaming(void **state)
{
	struct blob_fx *fx = *state;
	uint64_t ssize = 6 * MiB, size = 0;
	uint8_t *sb = fx_make_blob(fx, ssize, 0), *ref = calloc(1, 16 * MiB), *buf = malloc(2 * MiB);
	blob_manifest *src = NULL, *m = NULL;
	struct blob_share_counts c;
	blob_wblob *w;

	assert_non_null(ref);
	assert_non_null(buf);
	memset(sb + 2 * MiB, 0, MiB); /* chunk 2 a hole */
	assert_int_equal(blob_store_put_buf(fx->s, &src, sb, ssize), 0);
	assert_int_equal(blob_wblob_create(fx->s, "u", NULL, 0), 0);
	w = wb_open(fx, "u", true);
	/* Two whole chunks streamed (pending in the batch), half of a third staged. */
	fx_fill(fx, buf, 2 * MiB);
	assert_int_equal(blob_wblob_pwrite(w, buf, 2 * MiB, 0), (ssize_t)(2 * MiB));
	memcpy(ref, buf, 2 * MiB);
	fx_fill(fx, buf, MiB / 2);
	assert_int_equal(blob_wblob_pwrite(w, buf, MiB / 2, 2 * MiB), (ssize_t)(MiB / 2));
	memcpy(ref + 2 * MiB, buf, MiB / 2);
	size = 2 * MiB + MiB / 2;
	/* Over the pending chunk 1 and the staged one, from source chunk 1 on:
	 * chunks 1 and 3-5 by id, the source's hole (chunk 2) a hole here. */
	c = share(fx, w, src, sb, MiB, MiB, 5 * MiB, ref, &size);
	assert_int_equal(c.by_id, 4 * MiB);
	assert_int_equal(c.by_bytes, 0);
	/* Streaming again: a whole chunk after, a partial one into a taken chunk. */
	fx_fill(fx, buf, MiB);
	assert_int_equal(blob_wblob_pwrite(w, buf, MiB, 6 * MiB), (ssize_t)MiB);
	memcpy(ref + 6 * MiB, buf, MiB);
	assert_int_equal(blob_wblob_pwrite(w, "abc", 3, 4 * MiB + 17), 3);
	memcpy(ref + 4 * MiB + 17, "abc", 3);
	size = 7 * MiB;
	check_content(w, ref, size);
	assert_int_equal(blob_wblob_fsync(w), 0);
	check_content(w, ref, size);
	assert_int_equal(blob_wblob_seal(w, &m), 0);
	assert_true(chunk_id_equal(mf_id(m, 1), mf_id(src, 1)));
	assert_true(chunk_id_is_null(mf_id(m, 2)));
	assert_true(chunk_id_equal(mf_id(m, 3), mf_id(src, 3)));
	assert_true(chunk_id_equal(mf_id(m, 5), mf_id(src, 5)));
	assert_false(chunk_id_equal(mf_id(m, 4), mf_id(src, 4))); /* written into after */
	blob_manifest_free(m);
	wb_close(w, true);
	w = wb_open(fx, "u", true);
	check_content(w, ref, size);
	wb_close(w, true);
	blob_manifest_free(src);
	free(sb);
	free(ref);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_random_same_size, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_random_smaller_than_base, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_random_larger_than_base, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_random_same_size, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_random_smaller_than_base, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_random_larger_than_base, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_random_across_8t, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_random_at_4p_end, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_random_at_4p_end, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_no_base, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_sequential_upload, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_capture_costs_no_copy, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_seal_progress, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_seal_progress_abort, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_punch, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_killed_before_state_byte, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_killed_in_shrink, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_preads, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle_errors, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_map, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_lost_overlay, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_list, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_huge_disk, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_old_overlay_beyond_8t, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_written_once, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_other_handle, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_killed, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_gc, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_reopen, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stream_stage, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_share, blob_fx_setup, blob_fx_teardown),
		cmocka_unit_test_setup_teardown(test_share_streaming, blob_fx_setup, blob_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

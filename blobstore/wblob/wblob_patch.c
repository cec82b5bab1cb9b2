/*
 * wblob_patch.c — a cluster wblob's patched chunks (WB_PATCHED, SPEC
 * §2.4): a chunk that shows a stored chunk (a dd-written disk's, or its
 * base's) takes a first write of part of it without copying it.  The
 * chunk then reads from its stored chunk (its record keeps the id, as a
 * WB_STORED one's: {7, id}) except the WB_BLOCK_SIZE blocks written since,
 * which are in its object wb.NAME.IIIIIIII at their offsets, each marked
 * by a key of that object's omap (backend/rados_chunks.c).  A block's bytes
 * and its key are set in ONE operation on one object (atomic), and the
 * keys are a set union, so
 *   a first write    one operation (the object started afresh: its old
 *                    bytes and keys, which no record names, removed in the
 *                    same operation), then the record {7, id} once;
 *   a later write    one operation, no record (blocks all marked
 *                    already: their bytes alone, wblob_awrite.c);
 * and no write reads the stored chunk unless it is not aligned to blocks
 * (its edge blocks are made whole first: from the object where marked,
 * else the stored chunk; the chunk held busy, so two writes into one
 * block do not lose each other: wblob.c's cluster_write_busy).
 *
 * Crash order (§11, §13): a write returns once its operation (bytes and
 * keys) is acknowledged, and a first write's record follows its object.
 * Killed between the two, the record still says what it said (WB_STORED
 * or WB_BASE): the chunk shows its stored chunk, and the object is a
 * leftover nobody names, which the next first write starts afresh (or
 * the disk's removal removes: every chunk object below its chunk count).
 *
 * In memory a bitmap per patched chunk (w->wbits, a radix like the state
 * and sid ones: what was written, never the disk's size; SPEC §12), set
 * after a write's operation returned — a bit is never set before its
 * block is in the object; a concurrent reader may see it late (unordered
 * concurrent I/O).  Bits are set by atomic ORs under the shared lock (a
 * later write runs beside readers) and read by atomic loads.
 *
 * The marks, read when first needed (stop 51).  An open gives each
 * patched chunk an element whose last byte says "not read yet"
 * (WB_MARKS_LEN) and reads the keys of the first BLOB_MARKS_AT_OPEN of
 * them (2,048: a 2 GiB disk written all over, 64 a round trip, as
 * before); a read that fails there does not fail the open.  The others'
 * are read by the first read of the chunk's blocks, or of an edge block
 * a write makes whole (one round trip, wb_pt_need); a write of whole
 * blocks needs none (it only adds bits).  Before, every open read the
 * keys of every patched chunk: work that grew with the disk on the
 * opener's thread (a 100 GiB disk written all over: 102,400 objects an
 * open).  Why not none at open: the first read of each chunk would then
 * wait a round trip more, where an open read them 64 at once.  Two
 * readers may both read the keys; both OR the same union, and the keys
 * only grow until a change of state, which takes the exclusive lock.  A
 * started read of a chunk whose marks were not read is not started
 * (wb_pt_marked says -1): the waiting read reads them.  An object gone is
 * EIO to the reader, as an overlay's is, and the capture's judge asks
 * again (wblob_copy.c).
 *
 * Everything rare materialises the chunk first (wb_pt_materialise: the
 * merged bytes written as the object's whole content, then the record
 * WB_OVERLAY): a punch of part of it, a growth from inside it, zeros.  Its
 * keys stay on the object until the record no longer says WB_PATCHED
 * (killed before the record, the marked blocks still show the same
 * bytes); an overlay chunk never reads them, and a first write clears
 * them.  A whole-chunk write, a whole punch, a copy by reference leave the
 * object a leftover (old state WB_PATCHED) freed at fsync (its keys go
 * with it); a capture reads the merged bytes; gc keeps the id (wblob_open.c
 * cl_rec_id).
 *
 * Only a chunk showing a whole 1 MiB stored chunk is patched (a base's
 * short last chunk takes the copy as before: one chunk of a disk); a
 * disk's short last chunk is (its reads stop at the disk's end, and a
 * growth from inside it materialises it first).  Who calls it: wblob.c, wblob_chunk.c (reads),
 * wblob_open.c (the load).  It calls wblob_cluster.c, wblob_state.c and
 * the store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "wblob_int.h"

#define NBYTES (WB_BLOCKS / 8)
#define UNREAD NBYTES /* an element's last byte: 1 while its marks were not read */

static bool bit_of(const uint8_t *bits, uint32_t b)
{
	return (bits[b / 8] >> (b % 8)) & 1u;
}

bool wb_pt_can(const blob_wblob *w, uint32_t i, enum wb_state st)
{
	return w->cl != NULL && (st == WB_BASE || st == WB_STORED) && wb_stored_id(w, i) != NULL &&
	       wb_stored_len(w, i) == BLOB_CHUNK_SIZE;
}

/* Chunk i's written blocks as a reader sees them now. */
static void bits_now(const blob_wblob *w, uint32_t i, uint8_t out[NBYTES])
{
	const uint8_t *e = blob_radix_get(&w->wbits, i);

	for (unsigned k = 0; k < NBYTES; k++)
		out[k] = e ? __atomic_load_n(&e[k], __ATOMIC_ACQUIRE) : 0;
}

int wb_pt_marked(const blob_wblob *w, uint32_t i, size_t a, size_t n)
{
	const uint8_t *e = blob_radix_get(&w->wbits, i);
	uint8_t bits[NBYTES];
	unsigned set = 0, all = 0;

	if (e != NULL && __atomic_load_n(&e[UNREAD], __ATOMIC_ACQUIRE))
		return -1;
	bits_now(w, i, bits);
	for (uint32_t b = (uint32_t)(a >> WB_BLOCK_SHIFT); ((size_t)b << WB_BLOCK_SHIFT) < a + n; b++, all++)
		set += bit_of(bits, b);
	return set == all ? 1 : set == 0 ? 0 : -1;
}

int wb_pt_read(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	const chunk_id *id = wb_stored_id(w, i);
	struct blob_cache_ent *e = NULL;
	uint8_t bits[NBYTES];
	size_t pos = a, end = a + n;
	int rc = 0;

	IMGFS_ASSERT(id != NULL && end <= BLOB_CHUNK_SIZE);
	if ((rc = wb_pt_need(w, i)) < 0)
		return rc;
	bits_now(w, i, bits);
	/* Written runs apart (a capture's whole chunk): the object's span
	 * from the first to the last in one read, the runs between from the
	 * stored chunk over it. */
	uint32_t first = WB_BLOCKS, last = 0, runs = 0;
	for (uint32_t b = (uint32_t)(a >> WB_BLOCK_SHIFT); ((size_t)b << WB_BLOCK_SHIFT) < end; b++)
		if (bit_of(bits, b)) {
			runs += b == 0 || !bit_of(bits, b - 1) || b == (uint32_t)(a >> WB_BLOCK_SHIFT);
			first = b < first ? b : first;
			last = b;
		}
	if (runs > 1) {
		size_t lo = (size_t)first << WB_BLOCK_SHIFT, hi = ((size_t)last + 1) << WB_BLOCK_SHIFT;
		lo = lo > a ? lo : a;
		hi = hi < end ? hi : end;
		if ((rc = wb_cl_read(w, i, lo, dst + (lo - a), hi - lo)) < 0)
			return rc;
		/* The runs between from the stored chunk read once, held in the
		 * cache while they are copied (a capture's whole chunk: one get,
		 * not a part read per run); NULL when the cache is all in use. */
		if (n > BLOB_PART_MAX && (rc = blob_cache_pin(w->s, w->key, id, BLOB_CHUNK_SIZE, &e)) < 0)
			return rc;
	}
	while (pos < end && rc == 0) {
		uint32_t b = (uint32_t)(pos >> WB_BLOCK_SHIFT), c = b + 1;
		bool set = bit_of(bits, b);
		size_t run_end;

		while (c < WB_BLOCKS && ((size_t)c << WB_BLOCK_SHIFT) < end && bit_of(bits, c) == set)
			c++;
		run_end = ((size_t)c << WB_BLOCK_SHIFT) < end ? (size_t)c << WB_BLOCK_SHIFT : end;
		if (set && runs <= 1)
			rc = wb_cl_read(w, i, pos, dst + (pos - a), run_end - pos);
		else if (!set && e != NULL)
			memcpy(dst + (pos - a), e->buf + e->off + pos, run_end - pos);
		else if (!set)
			rc = blob_store_read_chunk(w->s, w->key, id, BLOB_CHUNK_SIZE, dst + (pos - a), pos, run_end - pos);
		pos = run_end;
	}
	if (e != NULL)
		blob_cache_unpin(&w->s->cache, e);
	return rc;
}

/* Block b of chunk i as it shows now: its stored chunk's (fresh: not
 * patched yet) or the merged one's. */
static int block_now(blob_wblob *w, uint32_t i, uint32_t b, bool fresh, uint8_t *dst)
{
	size_t off = (size_t)b << WB_BLOCK_SHIFT;

	if (fresh)
		return blob_store_read_chunk(w->s, w->key, wb_stored_id(w, i), BLOB_CHUNK_SIZE, dst, off, WB_BLOCK_SIZE);
	return wb_pt_read(w, i, dst, off, WB_BLOCK_SIZE);
}

int wb_pt_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n, bool fresh, uint8_t bits[NBYTES])
{
	uint32_t b0 = (uint32_t)(a >> WB_BLOCK_SHIFT);
	uint32_t b1 = (uint32_t)((a + n + WB_BLOCK_SIZE - 1) >> WB_BLOCK_SHIFT);
	uint32_t nb = b1 - b0;
	size_t head = a - ((size_t)b0 << WB_BLOCK_SHIFT), span = (size_t)nb << WB_BLOCK_SHIFT;
	const uint8_t *buf = src;
	uint8_t *own = NULL;
	int rc = 0;

	IMGFS_ASSERT(n > 0 && a + n <= BLOB_CHUNK_SIZE);
	if (head != 0 || n != span) {
		/* Not aligned: the edge blocks whole first, then the write. */
		if ((own = malloc(span)) == NULL)
			return -ENOMEM;
		if (head != 0)
			rc = block_now(w, i, b0, fresh, own);
		if (rc == 0 && head + n < span && (nb > 1 || head == 0))
			rc = block_now(w, i, b1 - 1, fresh, own + span - WB_BLOCK_SIZE);
		if (rc < 0)
			goto out;
		memcpy(own + head, src, n);
		buf = own;
	}
	if ((rc = wb_cl_patch(w, i, b0, nb, buf, fresh)) < 0)
		goto out;
	memset(bits, 0, NBYTES);
	for (uint32_t b = b0; b < b1; b++)
		bits[b / 8] |= (uint8_t)(1u << (b % 8));
out:
	free(own);
	return rc;
}

int wb_pt_record(blob_wblob *w, uint32_t i)
{
	return wb_cl_set_patched(w, i, wb_stored_id(w, i));
}

int wb_pt_publish(blob_wblob *w, uint32_t i, const uint8_t bits[NBYTES])
{
	enum wb_state st = wb_state_of(w, i);
	uint8_t b = WB_PATCHED, e[WB_MARKS_LEN] = {0}; /* read: the object was started afresh with these */
	chunk_id id;
	int rc;

	IMGFS_ASSERT_WRLOCKED(&w->lock);
	IMGFS_ASSERT(wb_pt_can(w, i, st));
	memcpy(e, bits, NBYTES);
	id = *wb_stored_id(w, i);
	if ((rc = blob_radix_reserve(&w->state, i)) < 0 || (rc = blob_radix_reserve(&w->sid, i)) < 0 ||
	    (rc = blob_radix_reserve(&w->wbits, i)) < 0) {
		wb_cl_set_state(w, i, st); /* best effort: the record back to what memory shows */
		return rc;
	}
	/* Reserved: none of these can fail.  Data before and after. */
	blob_radix_set(&w->sid, i, &id);
	blob_radix_set(&w->wbits, i, e);
	blob_radix_set(&w->state, i, &b);
	return 0;
}

uint8_t *wb_pt_marks(blob_wblob *w, uint32_t i)
{
	uint8_t *e = (uint8_t *)blob_radix_get(&w->wbits, i); /* patched: its leaf is there */

	IMGFS_ASSERT(e != NULL);
	return e;
}

void wb_pt_or(uint8_t *marks, const uint8_t bits[NBYTES])
{
	for (unsigned k = 0; k < NBYTES; k++)
		if (bits[k])
			__atomic_fetch_or(&marks[k], bits[k], __ATOMIC_RELEASE);
}

void wb_pt_mark(blob_wblob *w, uint32_t i, const uint8_t bits[NBYTES])
{
	wb_pt_or(wb_pt_marks(w, i), bits);
}

int wb_pt_write_locked(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	enum wb_state st = wb_state_of(w, i);
	uint8_t bits[NBYTES];
	int rc;

	IMGFS_ASSERT_WRLOCKED(&w->lock);
	if (st == WB_PATCHED) {
		if ((rc = wb_pt_write(w, i, src, a, n, false, bits)) < 0)
			return rc;
		wb_pt_mark(w, i, bits);
		return 1;
	}
	if (!wb_pt_can(w, i, st))
		return 0;
	if ((rc = wb_pt_write(w, i, src, a, n, true, bits)) < 0 || (rc = wb_pt_record(w, i)) < 0 ||
	    (rc = wb_pt_publish(w, i, bits)) < 0)
		return rc;
	return 1;
}

int wb_pt_materialise(blob_wblob *w, uint32_t i)
{
	size_t len = blob_chunk_len(w->size, i);
	uint8_t *buf;
	int rc;

	IMGFS_ASSERT_WRLOCKED(&w->lock);
	IMGFS_ASSERT(wb_state_of(w, i) == WB_PATCHED);
	if ((buf = malloc(BLOB_CHUNK_SIZE)) == NULL)
		return -ENOMEM;
	/* The object's whole content (its keys kept: until the record says
	 * otherwise, the marked blocks show the same bytes), then the record. */
	if ((rc = wb_pt_read(w, i, buf, 0, len)) == 0 && (rc = wb_cl_write(w, i, 0, buf, len, true)) == 0)
		rc = wb_set_state(w, i, wb_overlay_state(i));
	free(buf);
	return rc;
}

/* ---- the marks, read when first needed ----------------------------------------- */

/* A chunk's marks read: ORed into its element, which says so. */
static void marks_in(uint8_t *e, const uint8_t *bits)
{
	wb_pt_or(e, bits);
	__atomic_store_n(&e[UNREAD], 0, __ATOMIC_RELEASE);
}

static int need_one(void *arg, uint32_t i, const uint8_t *bits)
{
	(void)i;
	marks_in(arg, bits);
	return 0;
}

int wb_pt_need(blob_wblob *w, uint32_t i)
{
	uint8_t *e = wb_pt_marks(w, i);
	int rc;

	if (!__atomic_load_n(&e[UNREAD], __ATOMIC_ACQUIRE))
		return 0;
	if ((rc = wb_cl_marks(w, &i, 1, need_one, e)) < 0)
		return rc == -ENOENT ? -EIO : rc; /* gone: logged with its chunk by the store */
	return 0;
}

static int load_one(void *arg, uint32_t i, const uint8_t *bits)
{
	marks_in(wb_pt_marks(arg, i), bits);
	return 0;
}

int wb_pt_load(blob_wblob *w)
{
	uint8_t e[WB_MARKS_LEN] = {0};
	uint32_t j, *idx = NULL;
	size_t n = 0, cap = atomic_load_explicit(&w->s->marks_at_open, memory_order_relaxed);
	int rc;

	e[UNREAD] = 1;
	for (uint64_t from = 0; from <= UINT32_MAX && blob_radix_next(&w->state, (uint32_t)from, &j); from = (uint64_t)j + 1) {
		if (wb_state_of(w, j) != WB_PATCHED)
			continue;
		if ((rc = blob_radix_set(&w->wbits, j, e)) < 0)
			goto out;
		if (n < cap) {
			if (idx == NULL && (idx = malloc(cap * sizeof *idx)) == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			idx[n++] = j;
		}
	}
	/* The first cap ones' marks now, 64 a round trip; one that fails (an
	 * object gone, no answer) and those after it stay for their first
	 * read, which says so: the open never fails for them. */
	if (n > 0)
		(void)wb_cl_marks(w, idx, n, load_one, w);
	rc = 0;
out:
	free(idx);
	return rc;
}

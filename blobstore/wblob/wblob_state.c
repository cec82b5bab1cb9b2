/*
 * wblob_state.c — a writable blob's chunk states: the state byte (in
 * memory a radix, on disk the map), what each state means for a reader
 * (data or a hole, the stored chunk it shows), the walk from data chunk
 * to data chunk, the map's header, the chunks a plug-in holds in memory
 * and the leftovers (old bytes freed once a new state is durable).  The
 * states and the order in which they change: wblob.c's header comment.
 *
 * Who calls it: the core (wblob.c, wblob_copy.c, wblob_open.c), the
 * plug-ins (wblob_stream.c, wblob_arr.c) and wblob_chunk.c; it calls no
 * other wblob file.  Under the wblob's lock: the shared one for the
 * questions, the exclusive one for changes (the leftovers have their own
 * mutex, ext_lock, as fsync takes them under the shared lock).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "wblob_int.h"

uint64_t wb_chunk_start(uint32_t i)
{
	return (uint64_t)i << BLOB_CHUNK_SHIFT;
}

enum wb_state wb_state_of(const blob_wblob *w, uint32_t i)
{
	const uint8_t *p = blob_radix_get(&w->state, i);

	return p ? *p : WB_BASE;
}

bool wb_is_overlay(enum wb_state st)
{
	return st == WB_OVERLAY || st == WB_OVERLAY_EXT;
}

bool wb_has_own_bytes(enum wb_state st)
{
	return wb_is_overlay(st) || st == WB_PATCHED;
}

/* The overlay state chunk i gets when it is written into an overlay. */
enum wb_state wb_overlay_state(uint32_t i)
{
	return i < WB_SEG_CHUNKS ? WB_OVERLAY : WB_OVERLAY_EXT;
}

/* The stored chunk chunk i shows: the base's (WB_BASE) or a streamed one
 * (WB_STORED, WB_STREAMED); NULL for none (an overlay, or a hole). */
const chunk_id *wb_stored_id(const blob_wblob *w, uint32_t i)
{
	const chunk_id *id;

	switch (wb_state_of(w, i)) {
	case WB_BASE:
		return i < w->base_limit ? blob_manifest_get(w->base, i) : NULL;
	case WB_STORED:
	case WB_STREAMED:
	case WB_PATCHED:
		id = blob_radix_get(&w->sid, i);
		return id && !chunk_id_is_null(id) ? id : NULL;
	default:
		return NULL;
	}
}

/* Bytes chunk i shows from its stored chunk (before clipping to the
 * chunk's length). */
size_t wb_stored_len(const blob_wblob *w, uint32_t i)
{
	if (wb_state_of(w, i) == WB_ARRIVED) /* its file: zeros past its end */
		return BLOB_CHUNK_SIZE;
	if (wb_stored_id(w, i) == NULL)
		return 0;
	return wb_state_of(w, i) == WB_BASE ? blob_chunk_len(w->base->size, i) : BLOB_CHUNK_SIZE;
}

bool wb_is_held(const blob_wblob *w, uint32_t i)
{
	for (int k = 0; k < WB_NHELD; k++)
		if (w->held[k].on && w->held[k].i == i)
			return true;
	return false;
}

bool wb_is_data(const blob_wblob *w, uint32_t i)
{
	enum wb_state st = wb_state_of(w, i);

	return wb_is_held(w, i) || wb_is_overlay(st) || st == WB_ARRIVED || wb_stored_id(w, i) != NULL;
}

void wb_count_data(blob_wblob *w, uint32_t i, bool was_data)
{
	bool is_data = wb_is_data(w, i);

	if (!was_data && is_data)
		w->ndata++;
	else if (was_data && !is_data)
		w->ndata--;
}

/* The first data chunk >= i and < n, n when none.  Candidates are the
 * visible base entries, the chunks whose state is not 0 and the held
 * ones: a base entry before the first non-zero state is data (WB_BASE
 * there); a non-zero state may be a hole (4, a streamed zero chunk), then
 * the search goes on after it.  The cost follows those candidates, never
 * n. */
uint32_t wb_next_data(const blob_wblob *w, uint32_t i, uint32_t n)
{
	uint32_t limit = w->base_limit < n ? w->base_limit : n;

	while (i < n) {
		uint32_t k = blob_manifest_find(w->base, i);
		uint32_t b = k < w->base->count && w->base->index[k] < limit ? w->base->index[k] : n;
		uint32_t s;
		uint32_t c;

		if (!blob_radix_next(&w->state, i, &s) || s > n)
			s = n;
		c = b < s ? b : s;
		for (int h = 0; h < WB_NHELD; h++)
			if (w->held[h].on && w->held[h].i >= i && w->held[h].i < c)
				c = w->held[h].i;
		if (c >= n || c != s || wb_is_data(w, c))
			return c < n ? c : n;
		i = c + 1;
	}
	return n;
}

/* The first chunk >= i and < n that is not data, n when none: a walk
 * over the data chunks from i. */
static uint32_t wb_next_hole(const blob_wblob *w, uint32_t i, uint32_t n)
{
	while (i < n && wb_is_data(w, i))
		i++;
	return i;
}

uint32_t wb_next(const void *ctx, uint32_t i, uint32_t n, bool want_data)
{
	return want_data ? wb_next_data(ctx, i, n) : wb_next_hole(ctx, i, n);
}

/* In memory first (the only step that can run out of memory), then in
 * the map; on a failure of the map, back as it was. */
int wb_set_state(blob_wblob *w, uint32_t i, enum wb_state v)
{
	uint64_t off = w->state_off + i;
	uint8_t old = (uint8_t)wb_state_of(w, i), b = (uint8_t)v; /* one byte, as the map holds it */
	int rc;

	IMGFS_ASSERT(v <= WB_ARRIVED); /* WB_PATCHED is set by wblob_patch.c alone */
	if ((rc = blob_radix_set(&w->state, i, &b)) < 0)
		return rc;
	rc = w->cl ? wb_cl_set_state(w, i, v) : blob_pwrite_full(w->map_fd, &b, 1, off);
	if (rc < 0) {
		blob_radix_set(&w->state, i, &old); /* its leaf exists: cannot fail */
		return rc;
	}
	if (!w->cl && off + 1 > w->map_len)
		w->map_len = off + 1;
	if (old == WB_ARRIVED && v != WB_ARRIVED)
		wb_left_add(w, i, WB_ARRIVED);
	if (old == WB_PATCHED && v != WB_PATCHED) /* its written blocks: forgotten (a zero frees) */
		blob_radix_set(&w->wbits, i, (uint8_t[WB_MARKS_LEN]){0});
	return 0;
}

int wb_write_header(blob_wblob *w, uint64_t size, uint32_t base_limit)
{
	uint8_t h[12];

	blob_put_le64(h, size);
	blob_put_le32(h + 8, base_limit);
	return w->cl ? wb_cl_header(w, h) : blob_pwrite_full(w->map_fd, h, sizeof h, 8);
}

int wb_states_cut(blob_wblob *w, uint32_t first)
{
	uint32_t any;
	/* A cluster wblob's records are the states it holds in memory (open
	 * cut those beyond the end): none there, nothing to remove. */
	bool recs = w->cl && blob_radix_next(&w->state, first, &any);

	blob_radix_clear_from(&w->state, first);
	blob_radix_clear_from(&w->sid, first);
	blob_radix_clear_from(&w->wbits, first);
	if (w->cl)
		return recs ? wb_cl_cut(w, first) : 0;
	if (w->map_len > w->state_off + first) {
		if (ftruncate(w->map_fd, (off_t)(w->state_off + first)) < 0)
			return -errno;
		w->map_len = w->state_off + first;
	}
	return 0;
}

/* ---- leftovers -------------------------------------------------------------- */

void wb_left_add(blob_wblob *w, uint32_t i, enum wb_state old)
{
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	if (w->left_len == w->left_cap) {
		uint32_t cap = w->left_cap ? 2 * w->left_cap : 64;
		struct wb_left *p = realloc(w->left, (size_t)cap * sizeof *p);
		if (p != NULL) {
			w->left = p;
			w->left_cap = cap;
		}
	}
	if (w->left_len < w->left_cap)
		w->left[w->left_len++] = (struct wb_left){i, (uint8_t)old};
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
}

struct wb_left *wb_left_take(blob_wblob *w, uint32_t *n)
{
	struct wb_left *l;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	l = w->left;
	*n = w->left_len;
	w->left = NULL;
	w->left_len = w->left_cap = 0;
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return l;
}

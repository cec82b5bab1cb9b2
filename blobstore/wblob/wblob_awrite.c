/*
 * wblob_awrite.c — a small write of a cluster wblob answered by the
 * cluster's thread (SPEC §12, "A write answered by the cluster").
 *
 * Why.  blob_wblob_pwrite holds its caller (a FUSE thread) for the round
 * trip, as reads did until wblob_aread.c: fio's 4k random writer at queue
 * depth 16 kept 16 threads asleep on a condition, each woken twice per
 * write.  Here the write is started and the caller returns; the backend's
 * thread that takes the cluster's answer calls done.  It is answered at
 * the same point as the waiting write (the operation acknowledged), so
 * what it promises (§11) is the same.
 *
 * Which writes.  Up to BLOB_WBLOB_START_MAX bytes inside one chunk of a
 * plain (no key) cluster wblob, within its size, not the whole of a short
 * last chunk, into a chunk that is
 *   patched (WB_PATCHED)  whole blocks: their bytes and marks in one
 *                         operation (wblob_patch.c), the marks set in
 *                         memory when it returned, as the waiting write;
 *                         blocks all marked already: their bytes alone
 *                         (their keys are there: a guest rewriting its
 *                         blocks cost the OSD a key set per write);
 *   an overlay            not all zeros (those punch): its object's bytes.
 * Everything else is 0 and the caller writes the waiting way: a first
 * write into a chunk (it has a record to set), a patched chunk's blocks
 * in part (their edges are read first), zeros into an overlay, a chunk
 * another write holds, and whatever the backend does not start (its bound,
 * a fault a test injected, a fenced client: the waiting write says why).
 *
 * Order.  The chunk is held busy (wblob_cluster.c "Busy chunks") from the
 * start to the answer, and its state read under the shared lock: whatever
 * changes its state (a punch, a truncate, a whole-chunk or first write of
 * it) holds it busy or all chunks busy first, so it waits for the answer,
 * and the marks' leaf stays where it is meanwhile (wb_pt_marks).  Two
 * writes of one chunk in flight are ordered by RADOS as the client sent
 * them (one client per disk); a second one started while the first holds
 * the chunk goes the waiting way (cluster_write_shared: beside it, or
 * cluster_write_busy: after it).
 *
 * Who calls it: fs/fuse/disk.c.  It calls the disk's backend and
 * wblob_patch.c.
 */
#include <stdlib.h>

#include "imgfs_lock.h"
#include "wblob_int.h"

/* One started write: its chunk (held busy), the marks it sets, its
 * caller's done and the length it answers. */
struct awrite {
	blob_wblob *w;
	uint32_t i;
	uint8_t *marks; /* a patched chunk's, or NULL */
	uint8_t bits[WB_BLOCKS / 8];
	size_t n;
	void (*done)(void *arg, ssize_t n);
	void *arg;
};

static void awrite_done(void *arg, int rc)
{
	struct awrite *r = arg;

	if (rc == 0 && r->marks != NULL)
		wb_pt_or(r->marks, r->bits); /* after the operation returned: a bit set is a block in the object */
	wb_cl_busy_give(r->w, r->i, (uint64_t)r->i + 1);
	r->done(r->arg, rc < 0 ? rc : (ssize_t)r->n);
	free(r);
}

int blob_wblob_pwrite_start(blob_wblob *w, const void *buf, size_t len, uint64_t off,
                            void (*done)(void *arg, ssize_t n), void *arg)
{
	uint32_t i = (uint32_t)(off >> BLOB_CHUNK_SHIFT);
	size_t a = (size_t)(off & BLOB_CHUNK_MASK);
	struct awrite *r;
	int started = 0;

	if (w->cl == NULL || w->reader || w->key != NULL || w->stream != NULL || w->cx->write_start == NULL ||
	    len == 0 || len > BLOB_WBLOB_START_MAX || off > BLOB_MAX_SIZE || a + len > BLOB_CHUNK_SIZE)
		return 0;
	if ((r = malloc(sizeof *r)) == NULL)
		return 0;
	if (!wb_cl_busy_try_fair(w, i)) {
		free(r);
		return 0;
	}
	*r = (struct awrite){.w = w, .i = i, .n = len, .done = done, .arg = arg};
	IMGFS_RDLOCK(&w->lock, blob_wblob_lock);
	if (off + len <= w->size && len != blob_chunk_len(w->size, i)) {
		enum wb_state st = wb_state_of(w, i);

		if (st == WB_PATCHED && ((a | len) & (WB_BLOCK_SIZE - 1)) == 0) {
			/* Blocks all marked already: their keys are on the object
			 * (a bit is set only once its key was acknowledged, and
			 * the keys go only with a change of state, which waits
			 * for this chunk), so their bytes alone. */
			bool marked = wb_pt_marked(w, i, a, len) == 1;
			r->marks = wb_pt_marks(w, i);
			for (size_t b = a >> WB_BLOCK_SHIFT; b < (a + len) >> WB_BLOCK_SHIFT; b++)
				r->bits[b / 8] |= (uint8_t)(1u << (b % 8));
			started = w->cx->write_start(w->cl, i, a, buf, len, !marked, awrite_done, r) == 0;
		} else if (wb_is_overlay(st) && !blob_is_zero(buf, len)) {
			started = w->cx->write_start(w->cl, i, a, buf, len, false, awrite_done, r) == 0;
		}
	}
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	if (!started) {
		wb_cl_busy_give(w, i, (uint64_t)i + 1);
		free(r);
	}
	return started;
}

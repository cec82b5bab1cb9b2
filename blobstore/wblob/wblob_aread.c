/*
 * wblob_aread.c — a small read of a cluster wblob answered by the
 * cluster's thread (SPEC §12, "A read answered by the cluster").
 *
 * Why.  blob_wblob_pread holds its caller (a FUSE thread) for the round
 * trip: on two shared cores, a 4k random reader at queue depth 16 kept 16
 * threads asleep on a condition and woke each twice per read, and the
 * daemon spent more CPU per read than librbd in fio's process does.  Here
 * the read is started and the caller returns; the backend's thread that
 * takes the cluster's answer calls done.
 *
 * Which reads.  Up to BLOB_PART_MAX bytes inside one chunk of a plain
 * (no key) cluster wblob, no whole chunk of it answered ahead
 * (wblob_ahead.c: those read from their buffers), of a chunk that is
 *   an overlay            its object, from the disk's client;
 *   patched               its object when every block read is marked, its
 *                         stored chunk when none is (wblob_patch.c);
 *   stored (or a base's)  its stored chunk, when the store holds the
 *                         digests of the blocks read and its cache does
 *                         not hold the chunk (part.c).
 * Anything else (a hole, a chunk of mixed blocks, a stored chunk whose
 * digests are not held yet) is 0: the caller reads the waiting way.
 *
 * Order.  The state is read and the read started under the shared lock:
 * whatever changes the chunk later (a write, a punch, a truncate) takes
 * the exclusive lock after, and its operations on the object are the
 * same client's, which RADOS lands after the read.  A stored chunk is
 * never rewritten (gc removes it only when nothing names it past its
 * grace).  So a read sees the chunk as it was when it started, as a
 * read racing a write may (unordered concurrent I/O).
 *
 * Who calls it: fs/fuse/disk.c.  It calls the disk's backend and part.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "imgfs_lock.h"
#include "wblob_int.h"

_Static_assert(BLOB_WBLOB_START_MAX == BLOB_PART_MAX, "a started read is at most a part read");

/* One started read: its caller's done and the length it answers. */
struct aread {
	void (*done)(void *arg, ssize_t n);
	void *arg;
	size_t n;
};

static void aread_done(void *arg, int rc)
{
	struct aread r = *(struct aread *)arg;

	free(arg);
	/* Gone with a record naming it: the disk lost it (wb_cl_read). */
	r.done(r.arg, rc == -ENOENT ? -EIO : rc < 0 ? rc : (ssize_t)r.n);
}

/* Started by one of the two ways, or not (a -errno of a start that failed
 * is 0: the waiting path tells). */
static int start(blob_wblob *w, uint32_t i, bool object, uint8_t *buf, size_t a, size_t n, struct aread *r)
{
	if (object)
		return w->cx->read_start(w->cl, i, a, buf, n, aread_done, r) == 0;
	return blob_store_read_part_start(w->s, wb_stored_id(w, i), wb_stored_len(w, i), buf, a, n, aread_done, r);
}

int blob_wblob_pread_start(blob_wblob *w, void *buf, size_t len, uint64_t off, void (*done)(void *arg, ssize_t n),
                           void *arg)
{
	struct aread *r;
	int started = 0;

	if (w->cl == NULL || w->key != NULL || w->stream != NULL || w->cx->read_start == NULL || len == 0 ||
	    len > BLOB_WBLOB_START_MAX || (r = malloc(sizeof *r)) == NULL)
		return 0;
	IMGFS_RDLOCK(&w->lock, blob_wblob_lock);
	uint32_t i = (uint32_t)(off >> BLOB_CHUNK_SHIFT);
	size_t a = (size_t)(off & BLOB_CHUNK_MASK);
	size_t n = off < w->size && len > w->size - off ? (size_t)(w->size - off) : len;
	if (off < w->size && a + n <= BLOB_CHUNK_SIZE && __atomic_load_n(&w->nahead, __ATOMIC_ACQUIRE) == 0) {
		enum wb_state st = wb_state_of(w, i);
		int marked = st == WB_PATCHED ? wb_pt_marked(w, i, a, n) : -1;

		*r = (struct aread){done, arg, n};
		if (wb_is_overlay(st) || marked == 1)
			started = start(w, i, true, buf, a, n, r);
		else if ((marked == 0 || ((st == WB_STORED || st == WB_BASE) && wb_stored_id(w, i) != NULL)) &&
		         a + n <= wb_stored_len(w, i))
			started = start(w, i, false, buf, a, n, r);
	}
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	if (!started)
		free(r);
	return started;
}

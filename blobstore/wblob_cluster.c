/*
 * wblob_cluster.c — a cluster wblob's persistence: where a host wblob has
 * files (the map, the overlays, .ids), a cluster one has the backend's
 * disk objects (blob_backend.h, "Writable blobs kept in the cluster";
 * RADOS: backend/rados_disk.c).  The same states and the same order of
 * steps (wblob.c): a chunk's bytes before the state that shows them.
 *
 *   the map's header   the disk's header (the same bytes: magic, size,
 *                      base_limit, the base manifest)
 *   a state byte       the chunk's record: the byte, then for WB_STORED
 *                      its id (one record: the id and the state change
 *                      together, where a host wblob syncs .ids first)
 *   the overlay        one object per chunk written in part (WB_OVERLAY
 *                      and WB_OVERLAY_EXT alike: there is no file size cap)
 * A whole chunk written goes to the store by its id (WB_STORED), as a
 * streamed one does: dd's and cp's chunks are stored once, a chunk the
 * store holds is not stored again, and a capture names them all.
 * Everything the backend acknowledged is durable: fsync waits for nothing.
 *
 * Busy chunks.  A first write into a chunk (the copy of its stored bytes
 * with the write's, or a whole chunk stored by id, then its record) is
 * two or three round trips; under the disk's exclusive lock fio's 16
 * writes in flight waited in one line behind each (docs/design.md).  So
 * it runs under the shared lock with its chunk held busy here: first
 * writes of different chunks go side by side, a second one of the same
 * chunk waits for the first (then finds it in the overlay), and only the
 * state in memory is changed under the exclusive lock, after the record.
 * Every operation that takes the exclusive lock to change states (a write
 * the shared paths leave, a punch, a truncate, a copy by reference) holds
 * all chunks busy first, so no state changes between a first write's
 * record and its state in memory; fsync's sweep frees a leftover only
 * while it holds its chunk (a first write may be making that object
 * anew).  A busy range is taken holding no lock (its holder may wait for
 * the rwlock), at most WB_BUSY_MAX at once.
 *
 * The bottom layer, beside wblob_file.c: it calls the backend's table and
 * reads the handle's radixes, nothing of the other wblob files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wblob_int.h"

#define REC_MAX (1 + sizeof(chunk_id))

static const struct blob_backend_disks *disks_of(const blob_store *s)
{
	return s->be->disks;
}

bool blob_store_has_cluster(const blob_store *s)
{
	return disks_of(s) != NULL;
}

bool blob_wblob_in_cluster(const blob_wblob *w)
{
	return w->cl != NULL;
}

bool wb_cl_where(const blob_store *s, enum blob_wb_where where)
{
	return where == BLOB_WB_CLUSTER && disks_of(s) != NULL;
}

int wb_cl_create(blob_store *s, const char *name, const void *hdr, size_t len)
{
	return disks_of(s)->create(s->be, name, hdr, len);
}

int wb_cl_remove(blob_store *s, const char *name)
{
	char why[160];
	int rc = disks_of(s)->fence(s->be, name, why, sizeof why);

	/* A writer still at work would write into what is being removed. */
	if (rc < 0 && rc != -ENOENT) {
		blob_log_line(&s->log, "%s", why);
		return rc;
	}
	return disks_of(s)->remove(s->be, name);
}

struct cl_list {
	int (*cb)(void *arg, const char *name, int64_t mtime);
	void *arg;
};

static int cl_list_one(void *arg, const char *name, int64_t made)
{
	struct cl_list *l = arg;

	return wb_name_ok(name) ? l->cb(l->arg, name, made) : 0;
}

int blob_wblob_list_cluster(blob_store *s, int (*cb)(void *arg, const char *name, int64_t mtime), void *arg)
{
	struct cl_list l = {cb, arg};

	return disks_of(s) ? disks_of(s)->list(s->be, cl_list_one, &l) : 0;
}

int blob_wblob_fence(blob_store *s, const char *name, char *why, size_t cap)
{
	if (why && cap)
		why[0] = '\0';
	if (!disks_of(s))
		return 0;
	return disks_of(s)->fence(s->be, name, why, cap);
}

/* ---- records -------------------------------------------------------------------- */

/* A record as the wblob reads it back: its state (and id) into the radixes. */
int wb_cl_load_rec(blob_wblob *w, uint32_t i, const uint8_t *val, size_t n)
{
	uint8_t v;
	int rc;

	if (n < 1 || (v = val[0]) > WB_ARRIVED || v == WB_STREAMED || v == WB_ARRIVED ||
	    (v == WB_STORED && n != REC_MAX) || (v != WB_STORED && n != 1))
		return -EIO;
	if (v == WB_BASE)
		return 0;
	if ((rc = blob_radix_set(&w->state, i, &v)) < 0)
		return rc;
	if (v == WB_STORED)
		rc = blob_radix_set(&w->sid, i, val + 1);
	return rc;
}

int wb_cl_set_state(blob_wblob *w, uint32_t i, enum wb_state v)
{
	uint8_t rec[REC_MAX] = {(uint8_t)v};
	size_t n = 1;

	if (v == WB_STORED) {
		const chunk_id *id = blob_radix_get(&w->sid, i); /* absent: the null id, a zero chunk */
		if (id)
			memcpy(rec + 1, id->b, sizeof id->b);
		n = REC_MAX;
	}
	return w->cx->set_rec(w->cl, i, rec, n);
}

int wb_cl_set_stored(blob_wblob *w, uint32_t i, const chunk_id *id)
{
	uint8_t rec[REC_MAX] = {(uint8_t)WB_STORED};

	memcpy(rec + 1, id->b, sizeof id->b);
	return w->cx->set_rec(w->cl, i, rec, sizeof rec);
}

int wb_cl_header(blob_wblob *w, const uint8_t h[12])
{
	return w->cx->write_header(w->cl, 8, h, 12);
}

int wb_cl_cut(blob_wblob *w, uint32_t first)
{
	return w->cx->cut_recs(w->cl, first);
}

/* ---- chunk objects ------------------------------------------------------------------ */

int wb_cl_read(blob_wblob *w, uint32_t i, size_t a, void *dst, size_t n)
{
	return w->cx->read(w->cl, i, a, dst, n);
}

int wb_cl_write(blob_wblob *w, uint32_t i, size_t a, const void *src, size_t n, bool fresh)
{
	return w->cx->write(w->cl, i, a, src, n, fresh);
}

int wb_cl_zero(blob_wblob *w, uint32_t i, size_t a, size_t n)
{
	return w->cx->zero(w->cl, i, a, n);
}

int wb_cl_drop(blob_wblob *w, uint32_t i)
{
	return w->cx->drop(w->cl, i);
}

/* ---- busy chunks ---------------------------------------------------------------- */

static bool busy_overlaps(const blob_wblob *w, uint32_t lo, uint64_t hi)
{
	for (unsigned k = 0; k < w->nbusy; k++)
		if (w->busy[k].lo < hi && lo < w->busy[k].hi)
			return true;
	return false;
}

void wb_cl_busy_take(blob_wblob *w, uint32_t lo, uint64_t hi)
{
	bool all = lo == 0 && hi == WB_BUSY_ALL;

	if (!w->cl)
		return;
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	/* An exclusive taker waiting stops new first writes: it is not starved. */
	if (all)
		w->busy_want_all++;
	while (w->nbusy == WB_BUSY_MAX || busy_overlaps(w, lo, hi) || (!all && w->busy_want_all > 0))
		IMGFS_COND_WAIT(&w->busy_cv, &w->ext_lock, blob_wblob_ext_lock);
	if (all)
		w->busy_want_all--;
	w->busy[w->nbusy++] = (struct wb_busy){lo, hi};
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
}

bool wb_cl_busy_try(blob_wblob *w, uint32_t i)
{
	bool got = false;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	if (w->nbusy < WB_BUSY_MAX && !busy_overlaps(w, i, (uint64_t)i + 1)) {
		w->busy[w->nbusy++] = (struct wb_busy){i, (uint64_t)i + 1};
		got = true;
	}
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return got;
}

void wb_cl_busy_give(blob_wblob *w, uint32_t lo, uint64_t hi)
{
	if (!w->cl)
		return;
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	for (unsigned k = 0; k < w->nbusy; k++)
		if (w->busy[k].lo == lo && w->busy[k].hi == hi) {
			w->busy[k] = w->busy[--w->nbusy];
			break;
		}
	pthread_cond_broadcast(&w->busy_cv);
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
}

/*
 * wblob_cluster.c — a cluster wblob's persistence: where a host wblob has
 * files (the map, the overlays, .ids), a cluster one has the backend's
 * disk objects (blob_backend.h, "Writable blobs kept in the cluster";
 * RADOS: backend/rados_disk.c).  The same states and the same order of
 * steps (wblob.c): a chunk's bytes before the state that shows them, but
 * for a whole chunk stored by id, whose record names the previous one
 * too and goes beside the put ("A record beside its chunk", below).
 *
 *   the map's header   the disk's header (the same bytes: magic, size,
 *                      base_limit, the base manifest)
 *   a state byte       the chunk's record: the byte, then for WB_STORED
 *                      and WB_PATCHED its id (one record: the id and the
 *                      state change together, where a host wblob syncs
 *                      .ids first)
 *   the overlay        one object per chunk written in part (WB_OVERLAY
 *                      and WB_OVERLAY_EXT alike: there is no file size cap);
 *                      a patched chunk's (WB_PATCHED) holds only the
 *                      blocks written, marked by its keys (wblob_patch.c)
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
#include <stdio.h>
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

/* Removing a disk: every chunk object below its chunk count goes,
 * whether a record names it or not (a writer killed between a chunk's
 * object and its record left one no record names), then the header
 * (SPEC §13).  The count is read after the fence: nobody grows the disk
 * then.  A header that does not say its size (damaged) leaves only the
 * objects its records name to remove, said in the log. */
int wb_cl_remove(blob_store *s, const char *name)
{
	char why[160];
	uint8_t *hdr = NULL;
	size_t len = 0;
	uint32_t n = 0;
	int rc = disks_of(s)->fence(s->be, name, why, sizeof why);

	/* A writer still at work would write into what is being removed. */
	if (rc < 0 && rc != -ENOENT) {
		blob_log_line(&s->log, "%s", why);
		return rc;
	}
	if ((rc = disks_of(s)->peek(s->be, name, &hdr, &len, NULL, NULL)) < 0 && rc != -ENOENT) {
		blob_log_line(&s->log, "cluster disk %s: cannot read its header to remove it: %s", name, strerror(-rc));
		return rc;
	}
	if (rc == 0 && len >= WB_HEADER && memcmp(hdr, WB_MAGIC, 8) == 0 && blob_get_le64(hdr + 8) <= BLOB_MAX_SIZE)
		n = blob_nchunks(blob_get_le64(hdr + 8));
	else if (rc == 0)
		blob_log_line(&s->log, "cluster disk %s: its header does not say its size: removing the chunk objects "
		              "its records name only", name);
	/* Bounded (SPEC §12): a sparse disk costs nothing to make, so the
	 * sweep of unrecorded objects is for disks of at most WB_CL_SWEEP_MAX
	 * chunks; a larger one's removal drops what its records name (gc's
	 * sweep, blob_wblob_sweep_cluster, finds the rest). */
	if (n > WB_CL_SWEEP_MAX)
		n = 0;
	free(hdr);
	return disks_of(s)->remove(s->be, name, n);
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

/* Whether a record of these bytes names its chunk's object: its state
 * shows the object's bytes (an overlay, a patched chunk), or, naming
 * two (wb_cl_resolve), the previous one does (the new id may never have
 * landed).  A record that does not parse names it: kept, not judged. */
static bool plain_rec_ok(const uint8_t *val, size_t n);

static bool rec_names_object(const uint8_t *val, size_t n)
{
	uint8_t v;

	if (!plain_rec_ok(val, n) && (n < REC_MAX + 1 || val[0] != WB_STORED || !plain_rec_ok(val + REC_MAX, n - REC_MAX)))
		return true;
	v = n > REC_MAX ? val[REC_MAX] : val[0];
	return v == WB_OVERLAY || v == WB_OVERLAY_EXT || v == WB_PATCHED;
}

int blob_wblob_sweep_cluster(blob_store *s, int64_t not_after, bool dry, uint64_t *count, uint64_t *bytes)
{
	char why[256] = "";
	int rc;

	*count = *bytes = 0;
	if (!disks_of(s) || !disks_of(s)->sweep)
		return 0;
	rc = disks_of(s)->sweep(s->be, not_after, dry, rec_names_object, count, bytes, why, sizeof why);
	if (rc < 0)
		blob_log_line(&s->log, "%s", why);
	if (*count > 0 && !dry)
		blob_log_line(&s->log, "cluster disks: removed %llu chunk objects (%llu bytes) that no record named "
		              "(a crash's leftovers)", (unsigned long long)*count, (unsigned long long)*bytes);
	return rc;
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

/* A record beside its chunk.  A whole chunk stored by its id was two
 * round trips in series, the chunk's put then its record (bytes before
 * the record that shows them): dd's 1 MiB writes ran at a quarter of
 * RBD's pace (docs/design.md).  Now its record is set beside the put,
 * both in flight at once, and names the new id AND the record it
 * replaces (WB_STORED, the id, then the previous record's bytes: 18 or
 * 34 bytes).  The write returns once both landed.  A crash between them
 * leaves either the object without the record (old content, the object
 * gc's) or the record naming an object that never landed: the next open
 * asks the store for the new id, and only an answer that it is absent
 * (a verdict, never a timeout: then the open fails) makes the record the
 * previous one again, so a write that never returned leaves old or new
 * (SPEC §11).  Once both landed the record is confirmed (rewritten
 * naming the new id alone) by the next record operation of the disk,
 * which carries the confirmations pending (up to BLOB_RECS_MAX), or by fsync or
 * a clean close: so an object lost after it was acknowledged shows the
 * old bytes at a later open only if the writer died before its next
 * record set (otherwise EIO, as any lost chunk).  Every record joins the
 * disk's next record operation under ext_lock (wblob_recs.c: records set
 * together, one operation in flight), with its chunk's pending
 * confirmation dropped there: records land in the order joined, so a
 * stale confirmation never lands after a newer record.  gc keeps both
 * ids a record names. */

struct wb_unsure {
	uint32_t i;
	uint8_t prev[REC_MAX];
	size_t plen;
};

static bool plain_rec_ok(const uint8_t *val, size_t n)
{
	uint8_t v;

	bool with_id;

	if (n < 1 || (v = val[0]) > WB_PATCHED || v == WB_STREAMED || v == WB_ARRIVED)
		return false;
	with_id = v == WB_STORED || v == WB_PATCHED;
	/* A patched chunk's stored chunk is never the null id (zeros are
	 * never patched: wb_pt_can). */
	return ((with_id && n == REC_MAX) || (!with_id && n == 1)) &&
	       !(v == WB_PATCHED && blob_is_zero(val + 1, REC_MAX - 1));
}

static int load_plain(blob_wblob *w, uint32_t i, const uint8_t *val)
{
	static const chunk_id none;
	uint8_t v = val[0];
	int rc;

	/* Zeros allocate nothing (a record set back to the previous one). */
	if ((rc = blob_radix_set(&w->state, i, &v)) < 0)
		return rc;
	return blob_radix_set(&w->sid, i, v == WB_STORED || v == WB_PATCHED ? val + 1 : none.b);
}

/* A record as the wblob reads it back: its state (and id) into the
 * radixes; one naming two: the new id, and the previous record kept for
 * wb_cl_resolve. */
int wb_cl_load_rec(blob_wblob *w, uint32_t i, const uint8_t *val, size_t n)
{
	struct wb_unsure *u;

	if (plain_rec_ok(val, n))
		return load_plain(w, i, val);
	if (n < REC_MAX + 1 || val[0] != WB_STORED || !plain_rec_ok(val + REC_MAX, n - REC_MAX)) {
		w->damaged = true;
		return -EIO;
	}
	if (w->nunsure == w->unsure_cap) {
		uint32_t cap = w->unsure_cap ? 2 * w->unsure_cap : 8;
		if ((u = realloc(w->unsure, cap * sizeof *u)) == NULL)
			return -ENOMEM;
		w->unsure = u;
		w->unsure_cap = cap;
	}
	u = &w->unsure[w->nunsure++];
	u->i = i;
	u->plen = n - REC_MAX;
	memcpy(u->prev, val + REC_MAX, u->plen);
	return load_plain(w, i, val);
}

static int set_rec(blob_wblob *w, uint32_t i, const uint8_t *rec, size_t n)
{
	struct wb_cl_recs r;
	int rc;

	if ((rc = wb_rq_join(w, true, i, rec, n, &r)) < 0)
		return rc;
	return wb_rq_wait(w, &r);
}

int wb_cl_set_state(blob_wblob *w, uint32_t i, enum wb_state v)
{
	uint8_t rec[REC_MAX] = {(uint8_t)v};
	size_t n = 1;

	if (v == WB_STORED || v == WB_PATCHED) {
		const chunk_id *id = blob_radix_get(&w->sid, i); /* absent: the null id, a zero chunk */
		if (id)
			memcpy(rec + 1, id->b, sizeof id->b);
		n = REC_MAX;
	}
	return set_rec(w, i, rec, n);
}

int wb_cl_set_stored(blob_wblob *w, uint32_t i, const chunk_id *id)
{
	uint8_t rec[REC_MAX] = {(uint8_t)WB_STORED};

	memcpy(rec + 1, id->b, sizeof id->b);
	return set_rec(w, i, rec, sizeof rec);
}

int wb_cl_beside_start(blob_wblob *w, uint32_t i, enum wb_state now, const chunk_id *id, struct wb_cl_recs *r)
{
	uint8_t st = (uint8_t)now;
	size_t n = REC_MAX + 1;

	r->own[0] = WB_STORED;
	memcpy(r->own + 1, id->b, sizeof id->b);
	r->own[REC_MAX] = st;
	if (st == WB_STORED || st == WB_PATCHED) { /* the previous record's id too */
		const chunk_id *had = blob_radix_get(&w->sid, i);
		memset(r->own + REC_MAX + 1, 0, sizeof had->b);
		if (had)
			memcpy(r->own + REC_MAX + 1, had->b, sizeof had->b);
		n = 2 * REC_MAX;
	}
	return wb_rq_join(w, true, i, r->own, n, r);
}

int wb_cl_beside_wait(blob_wblob *w, struct wb_cl_recs *r)
{
	return wb_rq_wait(w, r);
}

void wb_cl_confirm_later(blob_wblob *w, uint32_t i, const chunk_id *id)
{
	bool room;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	wb_conf_forget(w, i);
	if ((room = w->nconf < WB_CONF_MAX))
		w->conf[w->nconf++] = (struct wb_conf){i, *id};
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	/* Full (never in practice: each set takes them all): at once.  A
	 * failure leaves it naming two, which the next open resolves. */
	if (!room)
		(void)wb_cl_set_stored(w, i, id);
}

int wb_cl_confirm_all(blob_wblob *w)
{
	struct wb_cl_recs r;
	int rc;

	if (!w->cl || w->reader)
		return 0;
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	rc = w->nconf;
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	if (rc == 0) /* none pending: nothing to set */
		return 0;
	if ((rc = wb_rq_join(w, false, 0, NULL, 0, &r)) < 0)
		return rc;
	return wb_rq_wait(w, &r);
}

int wb_cl_resolve(blob_wblob *w, char *why, size_t cap)
{
	int rc = 0;

	for (uint32_t k = 0; k < w->nunsure && rc >= 0; k++) {
		struct wb_unsure *u = &w->unsure[k];
		const chunk_id *id = blob_radix_get(&w->sid, u->i);
		chunk_id nid = {{0}};

		if (u->i >= blob_nchunks(w->size))
			continue; /* beyond the end: open removed its record */
		if (id)
			nid = *id;
		rc = chunk_id_is_null(&nid) ? 1 : blob_store_has_chunk(w->s, &nid);
		if (rc < 0) {
			/* Not an answer about the chunk: nothing is decided. */
			if (why && cap)
				snprintf(why, cap, "cluster disk %s: could not tell whether chunk %u's last write landed: %s",
				         w->name, u->i, strerror(-rc));
			break;
		}
		if (rc == 1) {
			if (!w->reader)
				wb_cl_confirm_later(w, u->i, &nid);
			continue;
		}
		/* Absent: that write never returned; its chunk shows what it did before. */
		if ((rc = load_plain(w, u->i, u->prev)) == 0 && !w->reader)
			rc = set_rec(w, u->i, u->prev, u->plen);
	}
	if (rc >= 0)
		rc = wb_cl_confirm_all(w);
	free(w->unsure);
	w->unsure = NULL;
	w->nunsure = w->unsure_cap = 0;
	return rc < 0 ? rc : 0;
}

int wb_cl_set_patched(blob_wblob *w, uint32_t i, const chunk_id *id)
{
	uint8_t rec[REC_MAX] = {(uint8_t)WB_PATCHED};

	memcpy(rec + 1, id->b, sizeof id->b);
	return set_rec(w, i, rec, sizeof rec);
}

int wb_cl_header(blob_wblob *w, const uint8_t h[12])
{
	return w->cx->write_header(w->cl, 8, h, 12);
}

int wb_cl_cut(blob_wblob *w, uint32_t first)
{
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	for (unsigned k = 0; k < w->nconf;)
		if (w->conf[k].i >= first)
			w->conf[k] = w->conf[--w->nconf];
		else
			k++;
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return w->cx->cut_recs(w->cl, first);
}

/* ---- chunk objects ------------------------------------------------------------------ */

int wb_cl_read(blob_wblob *w, uint32_t i, size_t a, void *dst, size_t n)
{
	int rc = w->cx->read(w->cl, i, a, dst, n);
	return rc == -ENOENT ? -EIO : rc;
}

int wb_cl_gone(blob_wblob *w, uint32_t i)
{
	uint8_t b;
	int rc = w->cx->read(w->cl, i, 0, &b, 1);

	return rc == -ENOENT ? 1 : rc < 0 ? rc : 0;
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

int wb_cl_patch(blob_wblob *w, uint32_t i, uint32_t b0, uint32_t nb, const void *buf, bool fresh)
{
	return w->cx->patch(w->cl, i, b0, nb, buf, fresh);
}

int wb_cl_marks(blob_wblob *w, const uint32_t *idx, size_t n, int (*cb)(void *arg, uint32_t i, const uint8_t *bits),
                void *arg)
{
	return w->cx->marks(w->cl, idx, n, cb, arg);
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

static bool busy_try(blob_wblob *w, uint32_t i, bool fair)
{
	bool got = false;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	if (w->nbusy < WB_BUSY_MAX && !busy_overlaps(w, i, (uint64_t)i + 1) && !(fair && w->busy_want_all > 0)) {
		w->busy[w->nbusy++] = (struct wb_busy){i, (uint64_t)i + 1};
		got = true;
	}
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return got;
}

bool wb_cl_busy_try(blob_wblob *w, uint32_t i)
{
	return busy_try(w, i, false);
}

bool wb_cl_busy_try_fair(blob_wblob *w, uint32_t i)
{
	return busy_try(w, i, true);
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

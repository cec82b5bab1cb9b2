/*
 * gc.c — whole-store maintenance: garbage collection and verification.
 *
 * Who calls it: model/ for `imgfs admin gc` and `imgfs admin fsck`, and
 * possibly a background task.  Both walk every stored chunk through the
 * backend's list operation.
 *
 * gc keeps a chunk when any of these holds:
 *   - it is in the caller's live set (every manifest the metadata knows);
 *   - a wblob's base manifest or its .ids file names it (instance disks
 *     read their base chunks directly; uploads in progress stream whole
 *     chunks into the store before any metadata names them);
 *   - its timestamp is >= not_after: it was written, or deduplicated (put
 *     refreshes the timestamp of a chunk that is already there), after the
 *     caller took its live set, so it may belong to a blob whose metadata is
 *     not committed yet.  Callers pass a not_after from before they read the
 *     metadata, minus a margin.
 * Every other chunk is deleted as soon as the listing reaches it.  The local
 * backend lists mtimes, so the window between seeing a chunk's mtime and
 * deleting it is a few microseconds; a backend that cannot list timestamps
 * (RADOS) deletes with del_if_older, which compares and removes in one
 * atomic operation where the chunk is stored, so there is no window at all.
 * gc also removes temporary files in <dir>/tmp older than both not_after and
 * an hour (left by writers that crashed); a live writer's temp file lives for
 * one chunk write.
 *
 * Then, in a store with cluster disks, gc removes their chunk objects
 * that no record names and that last changed before not_after (a crash's
 * leftovers: blob_wblob_sweep_cluster, backend/rados_sweep.c), counted
 * with the chunks; gc_plan counts them.
 *
 * gc_ids applies the same rule to chunks the caller names, without the
 * listing (a destroyed image's: model/task/destroy.c).
 *
 * gc_plan (`imgfs admin gc --dry-run`) walks the same listing with the same
 * rules and removes nothing: each chunk gc would drop is stat'ed (the
 * backend's stat) for its size and, where the listing gave no timestamp,
 * for the one del_if_older would compare.  Temporary files are not counted.
 *
 * verify_all reads every chunk through blob_store_check_chunk (which
 * re-hashes it) and reports the ones that fail — bad(arg, id, err) receives
 * a positive errno value, EUCLEAN for bytes that are not the chunk —
 * deleting those, and only those, with repair: a read that timed out or
 * found the cluster unreachable says nothing about the chunk (issue 47), so
 * it is reported, never deleted, and BLOB_VERIFY_GIVE_UP of them in a row
 * end the walk (a store that stopped answering is not asked for every one
 * of its chunks).  A chunk that disappears during the walk (a concurrent
 * gc) is not reported.  The
 * listing is taken VERIFY_GROUP ids at a time, and a backend that prefetches
 * is told the group before its chunks are read, so an object store has
 * several reads in flight.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "blobstore_int.h"

#define TMP_GRACE 3600 /* seconds a temp file is left alone */

struct gc_ctx {
	blob_store *s;
	const blob_idset *live;
	const blob_idset *bases;
	int64_t not_after;
	uint64_t removed;
	uint64_t bytes; /* gc_plan: the stored bytes of what would be removed */
};

static int gc_one(void *arg, const chunk_id *id, int64_t mtime)
{
	struct gc_ctx *g = arg;
	int rc;

	if ((mtime != BLOB_MTIME_UNKNOWN && mtime >= g->not_after) || blob_idset_has(g->live, id) ||
	    blob_idset_has(g->bases, id))
		return 0;
	if (mtime == BLOB_MTIME_UNKNOWN) {
		if ((rc = g->s->be->del_if_older(g->s->be, id, g->not_after)) > 0)
			g->removed++;
		return rc < 0 ? rc : 0;
	}
	rc = g->s->be->del(g->s->be, id);
	if (rc == 0)
		g->removed++;
	return rc == -ENOENT ? 0 : rc;
}

static int plan_one(void *arg, const chunk_id *id, int64_t mtime)
{
	struct gc_ctx *g = arg;
	uint64_t size;
	int64_t t;
	int rc;

	if ((mtime != BLOB_MTIME_UNKNOWN && mtime >= g->not_after) || blob_idset_has(g->live, id) ||
	    blob_idset_has(g->bases, id))
		return 0;
	if ((rc = g->s->be->stat(g->s->be, id, &size, &t)) < 0)
		return rc == -ENOENT ? 0 : rc;
	if (t >= g->not_after)
		return 0;
	g->removed++;
	g->bytes += size;
	return 0;
}

int blob_store_gc_plan(blob_store *s, const blob_idset *live, int64_t not_after, uint64_t *count_out,
                       uint64_t *bytes_out)
{
	struct gc_ctx g = {.s = s, .live = live, .not_after = not_after};
	blob_idset *bases = NULL;
	uint64_t nobj = 0, objbytes = 0;
	int rc;

	if (s->be->stat == NULL)
		return -ENOTSUP;
	if ((rc = blob_idset_new(&bases)) < 0)
		return rc;
	if ((rc = blob_wblob_add_base_ids(s, bases)) < 0)
		goto out;
	g.bases = bases;
	if ((rc = s->be->list(s->be, plan_one, &g)) < 0)
		goto out;
	if ((rc = blob_wblob_sweep_cluster(s, not_after, true, &nobj, &objbytes)) == 0) {
		g.removed += nobj;
		g.bytes += objbytes;
	}
out:
	*count_out = g.removed;
	*bytes_out = g.bytes;
	blob_idset_free(bases);
	return rc;
}

int blob_store_gc(blob_store *s, const blob_idset *live, int64_t not_after, uint64_t *removed_out)
{
	struct gc_ctx g = {.s = s, .live = live, .not_after = not_after};
	blob_idset *bases = NULL;
	int64_t tmp_before;
	uint64_t nobj = 0, objbytes = 0;
	int rc;

	if ((rc = blob_idset_new(&bases)) < 0)
		return rc;
	if ((rc = blob_wblob_add_base_ids(s, bases)) < 0)
		goto out;
	g.bases = bases;
	if ((rc = s->be->list(s->be, gc_one, &g)) < 0)
		goto out;
	/* The cluster disks' objects no record names (a crash's leftovers). */
	if ((rc = blob_wblob_sweep_cluster(s, not_after, false, &nobj, &objbytes)) < 0)
		goto out;
	g.removed += nobj;
	tmp_before = (int64_t)time(NULL) - TMP_GRACE;
	if (not_after < tmp_before)
		tmp_before = not_after;
	/* The store's tmp/ (the local backend's chunk temp files are there). */
	if ((rc = blob_store_clean_tmp(s, tmp_before, NULL)) < 0)
		goto out;
	rc = 0;
out:
	if (removed_out != NULL)
		*removed_out = g.removed;
	blob_idset_free(bases);
	return rc;
}

int blob_store_gc_ids(blob_store *s, const blob_idset *live, const chunk_id *ids, size_t n, int64_t not_after,
                      uint64_t *removed_out)
{
	struct gc_ctx g = {.s = s, .live = live, .not_after = not_after};
	blob_idset *bases = NULL;
	int rc;

	if (s->be->del_if_older == NULL && s->be->stat == NULL)
		return -ENOTSUP; /* no timestamp to go by without a listing */
	if ((rc = blob_idset_new(&bases)) < 0)
		return rc;
	if ((rc = blob_wblob_add_base_ids(s, bases)) < 0)
		goto out;
	g.bases = bases;
	for (size_t k = 0; k < n && rc == 0; k++) {
		int64_t mtime = BLOB_MTIME_UNKNOWN;
		uint64_t size;
		/* The timestamp a listing would have given (gc_one decides the
		 * same way): a backend with del_if_older compares where the
		 * chunk is stored, the others are asked first. */
		if (s->be->del_if_older == NULL && (rc = s->be->stat(s->be, &ids[k], &size, &mtime)) < 0) {
			rc = rc == -ENOENT ? 0 : rc;
			continue;
		}
		rc = gc_one(&g, &ids[k], mtime);
	}
out:
	if (removed_out != NULL)
		*removed_out = g.removed;
	blob_idset_free(bases);
	return rc;
}

#define VERIFY_GROUP 64

struct verify_ctx {
	blob_store *s;
	bool repair;
	void (*bad)(void *arg, const chunk_id *id, int err);
	void *arg;
	uint8_t *buf; /* a chunk buffer (exchanged by a backend that read ahead) */
	int nbad;
	int streak; /* reads in a row that could not be made */
	size_t n;   /* ids listed, not verified yet */
	chunk_id ids[VERIFY_GROUP];
};

static int verify_one(struct verify_ctx *v, const chunk_id *id)
{
	int rc = blob_store_check_chunk_in(v->s, NULL, id, 0, &v->buf);

	if (rc == 0 || rc == -ENOENT) {
		v->streak = 0;
		return 0;
	}
	if (v->bad != NULL)
		v->bad(v->arg, id, -rc);
	if (rc != -EUCLEAN) /* nothing was read: no verdict, nothing repaired */
		return ++v->streak >= BLOB_VERIFY_GIVE_UP ? rc : 0;
	v->streak = 0;
	v->nbad++;
	if (v->repair) {
		rc = v->s->be->del(v->s->be, id);
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	return 0;
}

/* Verifies the listed ids, hinting each next ones to the backend. */
static int verify_group(struct verify_ctx *v)
{
	struct blob_backend *be = v->s->be;
	int rc = 0;

	for (size_t k = 0; k < v->n && rc == 0; k++) {
		if (be->prefetch != NULL && k % BLOB_READ_AHEAD == 0) {
			size_t ahead = v->n - k < 2 * BLOB_READ_AHEAD ? v->n - k : 2 * BLOB_READ_AHEAD;
			be->prefetch(be, &v->ids[k], ahead);
		}
		rc = verify_one(v, &v->ids[k]);
	}
	v->n = 0;
	return rc;
}

static int verify_listed(void *arg, const chunk_id *id, int64_t mtime)
{
	struct verify_ctx *v = arg;

	(void)mtime;
	v->ids[v->n++] = *id;
	return v->n == VERIFY_GROUP ? verify_group(v) : 0;
}

int blob_store_verify_all(blob_store *s, bool repair, void (*bad)(void *arg, const chunk_id *id, int err), void *arg)
{
	struct verify_ctx *v;
	int rc;

	if ((v = calloc(1, sizeof *v)) == NULL)
		return -ENOMEM;
	*v = (struct verify_ctx){.s = s, .repair = repair, .bad = bad, .arg = arg};
	if ((v->buf = blob_chunk_buf_new()) == NULL) {
		free(v);
		return -ENOMEM;
	}
	rc = s->be->list(s->be, verify_listed, v);
	if (rc == 0)
		rc = verify_group(v);
	if (rc == 0)
		rc = v->nbad;
	free(v->buf);
	free(v);
	return rc;
}

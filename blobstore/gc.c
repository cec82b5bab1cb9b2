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
 *   - its mtime is >= not_after: it was written, or deduplicated (put
 *     refreshes the mtime of a chunk that is already there), after the caller
 *     took its live set, so it may belong to a blob whose metadata is not
 *     committed yet.  Callers pass a not_after from before they read the
 *     metadata, minus a margin.
 * Every other chunk is deleted as soon as the listing reaches it, so the
 * window between seeing its mtime and deleting it is a few microseconds.
 * gc also removes temporary files in <dir>/tmp older than both not_after and
 * an hour (left by writers that crashed); a live writer's temp file lives for
 * one chunk write.
 *
 * verify_all reads every chunk through blob_store_get_chunk (which re-hashes
 * it) and reports the ones that fail — bad(arg, id, err) receives a positive
 * errno value, EIO for a hash mismatch — deleting them with repair.  A chunk
 * that disappears during the walk (a concurrent gc) is not reported.
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
};

static int gc_one(void *arg, const chunk_id *id, int64_t mtime)
{
	struct gc_ctx *g = arg;
	int rc;

	if (mtime >= g->not_after || blob_idset_has(g->live, id) || blob_idset_has(g->bases, id))
		return 0;
	rc = g->s->be->del(g->s->be, id);
	if (rc == 0)
		g->removed++;
	return rc == -ENOENT ? 0 : rc;
}

int blob_store_gc(blob_store *s, const blob_idset *live, int64_t not_after, uint64_t *removed_out)
{
	struct gc_ctx g = {.s = s, .live = live, .not_after = not_after};
	blob_idset *bases = NULL;
	int64_t tmp_before;
	int rc;

	if ((rc = blob_idset_new(&bases)) < 0)
		return rc;
	if ((rc = blob_wblob_add_base_ids(s, bases)) < 0)
		goto out;
	g.bases = bases;
	if ((rc = s->be->list(s->be, gc_one, &g)) < 0)
		goto out;
	if (blob_backend_is_local(s->be)) {
		tmp_before = (int64_t)time(NULL) - TMP_GRACE;
		if (not_after < tmp_before)
			tmp_before = not_after;
		if ((rc = blob_local_clean_tmp(s->be, tmp_before, NULL)) < 0)
			goto out;
	}
	rc = 0;
out:
	if (removed_out != NULL)
		*removed_out = g.removed;
	blob_idset_free(bases);
	return rc;
}

struct verify_ctx {
	blob_store *s;
	bool repair;
	void (*bad)(void *arg, const chunk_id *id, int err);
	void *arg;
	uint8_t *buf;
	int nbad;
};

static int verify_one(void *arg, const chunk_id *id, int64_t mtime)
{
	struct verify_ctx *v = arg;
	size_t len;
	int rc;

	rc = blob_store_get_chunk(v->s, id, v->buf, BLOB_CHUNK_SIZE, &len);
	if (rc == 0 || rc == -ENOENT)
		return 0;
	v->nbad++;
	if (v->bad != NULL)
		v->bad(v->arg, id, -rc);
	if (v->repair) {
		rc = v->s->be->del(v->s->be, id);
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	return 0;
}

int blob_store_verify_all(blob_store *s, bool repair, void (*bad)(void *arg, const chunk_id *id, int err), void *arg)
{
	struct verify_ctx v = {.s = s, .repair = repair, .bad = bad, .arg = arg};
	int rc;

	v.buf = malloc(BLOB_CHUNK_SIZE);
	if (v.buf == NULL)
		return -ENOMEM;
	rc = s->be->list(s->be, verify_one, &v);
	free(v.buf);
	return rc < 0 ? rc : v.nbad;
}

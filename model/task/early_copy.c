/*
 * early_copy.c — a copy between regions read early (SPEC §6.3, §6.5
 * "Copies"), the copy's side of its entry: copy.c holds the entry, claims
 * the chunks it places (a chunk a reader is placing is waited for: one
 * placement a chunk) and ends it; and the ends of an entry by image
 * (early_end_image: early_remote.c's) and the mark of a remote one.
 *
 * Who calls it: copy.c, early_remote.c.  The entry, its lock and its
 * readers are early.c's (early_int.h).
 */
#include <errno.h>
#include <string.h>

#include "early_int.h"

struct early_import *early_copy_hold(model *m, int64_t image_id, int64_t src_blob)
{
	struct model_early *set = m->early;
	struct early_import *e;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = early_find(set, image_id)) && e->copy && e->src_blob == src_blob && !e->failed)
		e->users++;
	else
		e = NULL;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return e;
}

void early_copy_release(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	bool last;

	if (!e)
		return;
	IMGFS_LOCK(&set->lock, model_early_lock);
	last = --e->users == 0 && e->ended;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (last)
		early_entry_free(e);
}

int early_copy_claim(model *m, struct early_import *e, const uint32_t *at, size_t n, uint8_t *claim,
                     uint8_t *by_reader)
{
	struct model_early *set = m->early;
	struct timespec until = early_deadline();
	int rc = 0;

	memset(claim, 0, n);
	memset(by_reader, 0, n);
	IMGFS_LOCK(&set->lock, model_early_lock);
	for (size_t k = 0; k < n && rc == 0; k++) {
		uint32_t i = at[k];
		if (i >= e->nchunks) {
			rc = -EIO; /* not the manifest the entry was made from */
			break;
		}
		/* A chunk a reader is placing is waited for: one placement a chunk. */
		while (!bit(e->arrived, i) && bit(e->inflight, i))
			if (IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, &until, model_early_lock) == ETIMEDOUT &&
			    !bit(e->arrived, i) && bit(e->inflight, i)) {
				rc = -EIO;
				break;
			}
		if (rc < 0)
			break;
		if (bit(e->arrived, i)) {
			by_reader[k] = bit(e->moved, i);
		} else {
			bit_set(e->inflight, i, true);
			claim[k] = 1;
		}
	}
	if (rc < 0)
		for (size_t k = 0; k < n; k++)
			if (claim[k])
				bit_set(e->inflight, at[k], false);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return rc;
}

void early_copy_done(model *m, struct early_import *e, const uint32_t *at, size_t n, const uint8_t *claim, bool ok)
{
	struct model_early *set = m->early;

	IMGFS_LOCK(&set->lock, model_early_lock);
	for (size_t k = 0; k < n; k++) {
		if (!claim[k])
			continue;
		bit_set(e->inflight, at[k], false);
		if (ok && !bit(e->arrived, at[k])) {
			bit_set(e->arrived, at[k], true);
			e->arrived_bytes += blob_chunk_len(e->total, at[k]);
		}
	}
	pthread_cond_broadcast(&set->cv);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

static void end_image(model *m, int64_t image_id, bool copy)
{
	struct model_early *set = m->early;
	struct early_import *e;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = early_find(set, image_id)) && (!copy || e->copy))
		e->users++;
	else
		e = NULL;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (!e)
		return;
	early_end(m, e);
	early_copy_release(m, e);
}

void early_copy_end(model *m, int64_t image_id)
{
	end_image(m, image_id, true);
}

void early_end_image(model *m, int64_t image_id)
{
	end_image(m, image_id, false);
}

void early_remote_set(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	struct early_import *e;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = early_find(set, image_id))) {
		e->remote = true;
		pthread_cond_broadcast(&set->cv); /* its first reader looks at its file (entry_format) */
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

/*
 * destroy.c — destroying an image (SPEC §6.1, §16 "deleting", seed 004
 * §4.5): what `rmdir recycle-bin/<image>` and the recycle bin's expiry ask
 * for.  A kind of background task (the engine is task.c, the interface
 * task_int.h).
 *
 * Who calls it: fs/ (rmdir in recycle-bin/) and a runner's housekeeping
 * (expiry, model_recycle_expire) through model_image_destroy, which in one
 * transaction makes the image `deleting` and queues the task
 * (model_destroy_queue); the task engine (destroy_run).  Both verbs live
 * here, beside the queueing, as every kind keeps its own (capture.c,
 * copy.c): meta/ never reaches up into a task kind.
 *
 * Why a task.  Freeing an image's chunks means knowing which of them no
 * other manifest of the region names — a walk of every manifest, the mark
 * half of gc — and then removing them one by one (an object each in a
 * RADOS pool): seconds to minutes for a large region, not what an rmdir
 * should wait for.  Until the task is done the image stays in the recycle
 * bin as `deleting`, and nothing of it can be changed (EBUSY).
 *
 * Running (destroy_run), three steps:
 *   1. the chunk ids of every device blob of the image are read (the
 *      candidates: at most its data chunks, never its virtual size);
 *   2. one transaction strips the image (model_image_strip: its shares,
 *      devices, the blobs only it used and the snapshots no other image
 *      references) — from then on no manifest of it is in the database;
 *   3. the candidates that no manifest names any more are removed with
 *      gc's rules (model_gc_chunks: the live set of the region, the
 *      writers in progress, the wblobs of this host), but for those
 *      stamped in the last MODEL_STAMP_MARGIN seconds (11 minutes): a
 *      writer may have found such a chunk — a copy's existence check, an
 *      upload of the same bytes — without refreshing it, and rely on it
 *      until its manifest commits.  Those are left to `imgfs admin gc`
 *      (test_rados met exactly that: a copy to a region started as the
 *      previous copy there was destroyed).  Then one last transaction
 *      deletes the image's row and the task's, logging both.
 * A copy by reference that took chunks of the image holds its blob's row
 * (blob_holds), so step 2 keeps that blob and step 3 its chunks.  The
 * task stores no chunk: it has no writers row (task_kind.stores_nothing),
 * which would hold back its own step 3 and every gc.
 *
 * Resuming.  Killed before step 2 committed, the task starts again from
 * step 1.  Killed after it, the manifests are gone: the resumed task finds
 * no candidates and removes the row; the chunks that were not freed yet
 * are left to the next `imgfs admin gc` (nothing names them).  A failure
 * of step 3 (a cluster that does not answer) is logged and leaves them to
 * gc too: the image is gone either way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "task_int.h"

int model_destroy_queue(struct model_conn *c, const struct model_image *img)
{
	db_stmt *st = model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, state) VALUES ('destroy', ?, 'queued')"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, img->id);
	return model_exec_stmt(st);
}

/* The chunk ids of an image's device blobs, in one growing array. */
struct candidates {
	chunk_id *ids;
	size_t n, cap;
};

static int add_manifest(struct candidates *k, const blob_manifest *man)
{
	if (man->count == 0)
		return 0; /* all holes (a blank disk): nothing to free, and no id array */
	if (k->n + man->count > k->cap) {
		size_t cap = k->cap ? k->cap : 256;
		while (cap < k->n + man->count)
			cap *= 2;
		chunk_id *ids = realloc(k->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		k->ids = ids;
		k->cap = cap;
	}
	memcpy(k->ids + k->n, man->id, man->count * sizeof(*k->ids));
	k->n += man->count;
	return 0;
}

/* Step 1: the candidates (a device whose blob is not sealed has none). */
static int gather(model *m, const struct model_image *img, struct candidates *k)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int n, rc;
	if ((rc = n = model_device_list(m, img->id, devs)) < 0)
		return rc;
	for (int i = 0; i < n; i++) {
		blob_manifest *man;
		/* Ids only: an encrypted image's chunks go without its key. */
		if ((rc = model_blob_ids(m, devs[i].blob_id, &man)) == -EINVAL || rc == -ENOENT)
			continue;
		if (rc < 0)
			return rc;
		rc = add_manifest(k, man);
		blob_manifest_free(man);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Step 2, its own transaction. */
static int strip(struct task_run *r, const struct model_image *img)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	rc = model_image_strip(r->m, c, img);
out:
	return model_write_end(c, rc, NULL);
}

/* Step 3's last transaction: the image's row and the task's. */
static int finish(struct task_run *r, const struct model_image *img)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	if (!(st = model_stmt(c, SQL("DELETE FROM images WHERE id = ? AND status = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, img->id);
	db_bind_int(st, 2, MODEL_IMG_DELETING);
	if ((rc = task_delete_row(c, r->t.id)) < 0 || (rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_touch_region(c, img->region_id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, img->id, img->region_id, MODEL_FOLDER_RECYCLE, img->name)) < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

int destroy_run(struct task_run *r)
{
	struct candidates k = {0};
	struct model_image img;
	uint64_t removed = 0;
	int rc;

	if ((rc = model_image_get(r->m, r->t.image_id, &img)) == -ENOENT ||
	    (rc == 0 && img.status != MODEL_IMG_DELETING))
		return task_drop_row(r); /* its image is gone (or not deleting: never queued so) */
	if (rc < 0)
		return rc;
	if ((rc = gather(r->m, &img, &k)) < 0 || (rc = strip(r, &img)) < 0 || r->lost)
		goto out;
	if (k.n && (rc = model_gc_chunks(r->m, img.region_id, k.ids, k.n, &removed)) < 0) {
		/* Nothing names them any more: the next gc frees them. */
		model_log(r->m, "destroy of %s: its chunks are left to imgfs admin gc: %s", img.ext_id, strerror(-rc));
		rc = 0;
	}
	task_count_moved(r, removed << BLOB_CHUNK_SHIFT);
	rc = finish(r, &img);
out:
	free(k.ids);
	return rc;
}

int model_image_destroy(model *m, int64_t id, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if (img.folder != MODEL_FOLDER_RECYCLE) {
		rc = model_fail(err, -EPERM, "only images in the recycle bin are destroyed");
		goto out;
	}
	if ((rc = model_image_deleting_refuse(&img, err)) < 0)
		goto out;
	/* deleting until the destroy task (model/task/destroy.c) has freed
	 * the chunks only it used and removed the row; nothing of it changes
	 * meanwhile (§16).  Its directory lives on under its name: a new one
	 * for the kernel, as at a delete (the rmdir that asked for this
	 * renewed it, fs/fuse/ops.c). */
	if (!(st = model_stmt(c, SQL("UPDATE images SET status = ?1, mtime_ns = ?2, ctime_ns = ?2 "
	                             "WHERE id = ?3 AND status = ?4")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, MODEL_IMG_DELETING);
	db_bind_int64(st, 2, now);
	db_bind_int64(st, 3, id);
	db_bind_int(st, 4, MODEL_IMG_DELETED);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) != 1) {
		rc = model_fail(err, -EBUSY, "the image changed status meanwhile");
		goto out;
	}
	if ((rc = model_destroy_queue(c, &img)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, id, img.region_id, MODEL_FOLDER_RECYCLE, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

#define EXPIRE_BATCH 64

int model_recycle_expire(model *m, int64_t now)
{
	int64_t ids[EXPIRE_BATCH], after = 0, deadline = now - model_retention(m);
	struct model_conn *c;
	db_stmt *st;
	int n, rc, destroyed = 0;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	/* Batches of ids first, then one transaction per image: a failure (a
	 * busy database) skips that image until the next call. */
	do {
		if (!(st = model_stmt(c, SQL_SCAN("sorts only the expired images of the recycle bins",
		                             "SELECT id FROM images WHERE folder = ? AND deleted_at <= ? AND id > ? "
		                         "AND status = ? ORDER BY id LIMIT ?"))))
			return -EIO;
		db_bind_int(st, 1, MODEL_FOLDER_RECYCLE);
		db_bind_int64(st, 2, deadline);
		db_bind_int64(st, 3, after);
		db_bind_int(st, 4, MODEL_IMG_DELETED);
		db_bind_int(st, 5, EXPIRE_BATCH);
		for (n = 0; n < EXPIRE_BATCH && (rc = db_step(st)) == DB_ROW;)
			ids[n++] = db_col_int64(st, 0);
		db_reset(st);
		if (rc != DB_ROW && rc != DB_DONE)
			return db_errno(rc);
		for (int i = 0; i < n; i++) {
			after = ids[i];
			if (model_image_destroy(m, ids[i], NULL) == 0)
				destroyed++;
		}
	} while (n == EXPIRE_BATCH);
	return destroyed;
}

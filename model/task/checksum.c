/*
 * checksum.c — the SHA-256 of an image made before imgfs kept one (SPEC
 * §2.1 `sha256`, §16): "existing images get it from one background pass
 * after an upgrade".  A kind of background task (the engine is task.c, the
 * interface task_int.h).
 *
 * Who calls it: the schema step that added the column (schema_sqlite.c
 * v15, schema_pg.c v12) queues one task per image that has a system disk
 * and may be used again (available, or in a recycle bin), and task_finish
 * (task.c) one per image it makes available without a hash: a capture, a
 * decoded QCOW2, a copy or a raw conversion of a source not hashed yet.
 * Uploads hash their bytes as they are written (upload.c).  The task
 * engine runs them (checksum_run), after every task someone asked for.
 *
 * Running: a copy's or a raw conversion's bytes are its origin's, so the
 * origin's hash is taken when it has one by now and its system disk's
 * manifest is the same (model_blob_sha256_reuse; the origin's own task
 * queued first, so it has usually run).  Otherwise the system disk's blob
 * (vda; an ISO's cdrom) is read once (blob_store_sha256: holes are hashed
 * as the zeros they read as), then one
 * transaction records the digest, logs the image's change (its `sha256`
 * file has content now) and deletes the row.  An unmount stops it between
 * two chunks (it starts again from the beginning at the next mount).  The
 * image is not held by it: deleting, converting or copying it goes on as
 * if the task were not there (model_image_remove, image_busy), and a task
 * whose image went meanwhile ends without a word.  It stores no chunk (no
 * writers row: task_kind.stores_nothing).
 */
#include <errno.h>
#include <string.h>

#include "task_int.h"

/* The row goes, with what was found (sha: "" when nothing is recorded). */
static int checksum_end(struct task_run *r, const struct model_image *img, int64_t blob_id, const char *sha)
{
	struct model_conn *c;
	char stored[MODEL_SHA_STORED] = "";
	db_stmt *st;
	int rc;
	if (sha[0])
		model_sha256_seal(r->m, blob_id, sha, stored); /* sealed when encrypted (§17) */
	if ((rc = task_begin(r, &c)) <= 0)
		return rc < 0 ? rc : (r->lost = true, 0);
	if (stored[0]) {
		if (!(st = model_stmt(c, SQL("UPDATE blobs SET sha256 = ? WHERE id = ? AND sha256 = ''")))) {
			rc = -EIO;
			goto out;
		}
		db_bind_text(st, 1, stored);
		db_bind_int64(st, 2, blob_id);
		if ((rc = model_exec_stmt(st)) < 0 ||
		    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, img->id, img->region_id, img->folder, NULL)) < 0)
			goto out;
	}
	if ((rc = task_delete_row(c, r->t.id)) < 0)
		goto out;
	return model_commit(c);
out:
	model_rollback(c);
	return rc;
}

/* The hash of img's origin (a copy's source, a conversion's) when it has
 * one and its system disk holds the same bytes (man's manifest): 1 with
 * sha set, 0 when there is none to take (gone, unhashed, other bytes). */
static int origin_sha256(struct task_run *r, const struct model_image *img, const blob_manifest *man, char sha[65])
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int n;
	if (!img->origin_id || (n = model_device_list(r->m, img->origin_id, devs)) <= 0)
		return 0;
	return model_blob_sha256_reuse(r->m, devs[0].blob_id, 0, man, sha) > 0;
}

static int stop_asked(void *arg, uint64_t done)
{
	struct task_run *r = arg;
	(void)done;
	return r->stop && *r->stop;
}

int checksum_run(struct task_run *r)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_image img = {0};
	blob_manifest *man = NULL;
	blob_store *s;
	char sha[65] = "";
	int n, rc;

	if ((rc = model_image_get(r->m, r->t.image_id, &img)) == -ENOENT ||
	    (rc == 0 && img.status != MODEL_IMG_AVAILABLE && img.status != MODEL_IMG_DELETED))
		return checksum_end(r, &img, 0, "");
	if (rc < 0 || (rc = model_image_sha256(r->m, img.id, sha)) < 0)
		return rc;
	if (sha[0])
		return checksum_end(r, &img, 0, ""); /* known already: nothing to read */
	if ((rc = n = model_device_list(r->m, img.id, devs)) < 0)
		return rc;
	/* The system disk: vda, or an ISO's cdrom (index order: vda first). */
	const struct model_device *sys = n > 0 && (devs[0].index == 0 || devs[0].index == 26) ? &devs[0] : NULL;
	if (!sys || (rc = model_blob_manifest(r->m, sys->blob_id, &man)) < 0 || (rc = model_store(r->m, img.region_id, &s)) < 0) {
		blob_manifest_free(man);
		return checksum_end(r, &img, 0, ""); /* nothing to hash (or gone) */
	}
	if ((rc = origin_sha256(r, &img, man, sha)) == 0) {
		rc = blob_store_sha256(s, man, sha, stop_asked, r);
		if (rc == 0)
			atomic_fetch_add_explicit(&r->m->sha_read_bytes, man->size, memory_order_relaxed);
	}
	blob_manifest_free(man);
	if (rc == -ECANCELED) {
		r->stopped = true; /* an unmount: the next runner starts again */
		return 0;
	}
	if (rc < 0) {
		model_log(r->m, "sha256 of image %s: %s (its sha256 file stays empty)", img.ext_id, strerror(-rc));
		sha[0] = '\0';
	}
	return checksum_end(r, &img, sys->blob_id, sha);
}

/*
 * recycle.c — deleting images (SPEC §6.1, seed 004 §4.5): rmdir of a
 * private or ISO image moves it into the recycle bin (a queued one is
 * removed outright), restore brings it back to the folder it came from
 * (prior_folder: private/ or iso/, §16), destroy makes it `deleting` and
 * queues the destroy task (model/task/destroy.c), which removes its rows
 * and the snapshots nothing else references and frees the chunks only it
 * used (§16), and expiry destroys what stayed in the bin longer than the
 * retention period.
 *
 * Who calls it: fs/ (rmdir, rename out of recycle-bin/), the admin command
 * line (retention), a runner's housekeeping (model_recycle_expire).  Each
 * operation is one write transaction; the busy rules (instances, tasks,
 * transitions) are checked inside it.  Split from image.c, whose rows it
 * reads through model_image_get.
 *
 * Chunks are freed by the destroy task (an unpublished image's by gc).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

_Static_assert(MODEL_IMG_AVAILABLE == 5 && MODEL_IMG_ERROR == 6, "SQL below spells available and error as 5 and 6");

/* ---- deletion, the recycle bin, destruction (§6.1, seed 004 §4.5) -------------- */

/* -EBUSY with the reason when the image cannot be deleted now: an instance
 * (of any account) was built from it (an ISO image: has it as its cdrom,
 * instance_boot.c), a task reads or writes it, or it is
 * in a transition a task drives; 0 otherwise. */
static int image_busy(struct model_conn *c, const struct model_image *img, struct model_err *err)
{
	char name[MODEL_NAME_MAX + 1];
	db_stmt *st;
	bool own;
	int rc;

	/* The owner's own instance first: that one it can be told the name of. */
	if (!(st = model_stmt(c, SQL_SCAN("sorts only the instances made from one image",
	                                  "SELECT account_id = ?2, name FROM instances WHERE image_id = ?1 "
	                         "ORDER BY account_id = ?2 DESC, id LIMIT 1"))))
		return -EIO;
	db_bind_int64(st, 1, img->id);
	db_bind_int64(st, 2, img->account_id);
	rc = db_step(st);
	own = rc == DB_ROW && db_col_int(st, 0) != 0;
	if (rc == DB_ROW)
		model_col_text(st, 1, name, sizeof(name));
	db_reset(st);
	/* An ISO image is in use while it is an instance's cdrom (§16). */
	if (rc == DB_ROW && img->folder == MODEL_FOLDER_ISO)
		return model_fail(err, -EBUSY, "instance %s has it as its cdrom; write disk to the instance's boot (or "
		                               "rm its disks/cdrom) first", name);
	if (rc == DB_ROW)
		return own ? model_fail(err, -EBUSY, "instance %s was created from it; delete the instance first", name)
		           : model_fail(err, -EBUSY, "an instance of another account was created from it");
	if (rc != DB_DONE)
		return db_errno(rc);
	/* A checksum or an inspection (checksum.c, inspect.c) holds nothing: it
	 * ends quietly if the image goes. */
	if (!(st = model_stmt(c, SQL("SELECT 1 FROM tasks WHERE (image_id = ?1 OR (source_kind = 'image' AND "
	                         "source_id = ?1)) AND state IN ('queued', 'running') AND kind NOT IN ('checksum', 'inspect') LIMIT 1"))))
		return -EIO;
	db_bind_int64(st, 1, img->id);
	rc = db_step(st);
	db_reset(st);
	if (rc == DB_ROW)
		return model_fail(err, -EBUSY, "a task is working on it");
	if (rc != DB_DONE)
		return db_errno(rc);
	if (img->status == MODEL_IMG_PENDING || img->status == MODEL_IMG_REPLICATING || img->status == MODEL_IMG_UPLOADING)
		return model_fail(err, -EBUSY, "the image is %s: it can be deleted once available or in error",
		                  model_image_status_name(img->status));
	return 0;
}

/* A queued image holds nothing yet: its row goes. */
static int image_delete_queued(struct model_conn *c, const struct model_image *img, struct model_err *err)
{
	db_stmt *st = model_stmt(c, SQL("DELETE FROM images WHERE id = ? AND status = ?"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, img->id);
	db_bind_int(st, 2, MODEL_IMG_QUEUED);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_changes(c) == 1 ? 0 : model_fail(err, -EBUSY, "the image changed status meanwhile");
}

/* Runs st, a DELETE taking the image id, inside the caller's transaction. */
static int image_delete_by_id(db_stmt *st, int64_t id)
{
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, id);
	return model_exec_stmt(st);
}

/* Deletes a snapshot the image's device referenced, once no image's device
 * references it any more. */
static int snapshot_drop_if_orphan(model *m, struct model_conn *c, const struct model_image *img, int64_t snap_id)
{
	struct model_snapshot snap;
	db_stmt *st;
	int rc;
	if (!(st = model_stmt(c, SQL("SELECT 1 FROM devices WHERE snapshot_id = ? LIMIT 1"))))
		return -EIO;
	db_bind_int64(st, 1, snap_id);
	rc = db_step(st);
	db_reset(st);
	if (rc != DB_DONE)
		return rc == DB_ROW ? 0 : db_errno(rc);
	if ((rc = model_snapshot_get(m, snap_id, &snap)) < 0)
		return rc == -ENOENT ? 0 : rc;
	/* An image only ever maps its owner's snapshots; never take another's. */
	if (snap.account_id != img->account_id)
		return 0;
	return model_snapshot_delete_row(c, &snap);
}

/* Deletes whatever only the image used: its shares and devices, the blob
 * rows of its image files, and every snapshot no other image references
 * (with its blob row).  A blob still referenced by another row stays;
 * instance disks built from the image keep theirs through their wblob
 * bases.  The image's own row stays (model_image_destroy's task deletes
 * it once the chunks are freed; unpublish at once). */
int model_image_strip(model *m, struct model_conn *c, const struct model_image *img)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int n, rc;
	if ((rc = n = model_device_list(m, img->id, devs)) < 0)
		return rc;
	if ((rc = image_delete_by_id(model_stmt(c, SQL("DELETE FROM shares WHERE image_id = ?")), img->id)) < 0 ||
	    (rc = image_delete_by_id(model_stmt(c, SQL("DELETE FROM devices WHERE image_id = ?")), img->id)) < 0)
		return rc;
	for (int i = 0; i < n; i++) {
		if ((rc = model_blob_drop_unreferenced(c, devs[i].blob_id)) < 0)
			return rc;
		if (devs[i].kind == MODEL_DEV_SNAPSHOT &&
		    (rc = snapshot_drop_if_orphan(m, c, img, devs[i].snapshot_id)) < 0)
			return rc;
	}
	return 0;
}

/* The image's rows, all of them (unpublish: no recycle bin, no task). */
static int image_destroy_rows(model *m, struct model_conn *c, const struct model_image *img)
{
	int rc = model_image_strip(m, c, img);
	return rc < 0 ? rc : image_delete_by_id(model_stmt(c, SQL("DELETE FROM images WHERE id = ?")), img->id);
}

/* Moves an available or error private or ISO image into the recycle bin;
 * prior_folder remembers which (0 for private/, what rows put there before
 * the column existed say). */
static int image_to_recycle(model *m, struct model_conn *c, const struct model_image *img, struct model_err *err)
{
	struct model_image other;
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;
	if (model_image_lookup(m, img->region_id, img->account_id, MODEL_FOLDER_RECYCLE, img->name, &other) == 0)
		return model_fail(err, -EEXIST, "recycle-bin already holds an image named %s: destroy or restore it first",
		                  img->name);
	/* Its status, its view (expires appears) and its listing change; its
	 * directory is to be taken for a new one (dir_gen + 1). */
	if (!(st = model_stmt(c, SQL("UPDATE images SET folder = ?, prior_status = status, status = ?, deleted_at = ?, "
	                         "prior_folder = CASE WHEN folder = ?7 THEN ?7 ELSE 0 END, mtime_ns = ?4, "
	                         "ctime_ns = ?4, dir_mtime_ns = ?4, dir_gen = dir_gen + 1 "
	                         "WHERE id = ?5 AND status = ?6"))))
		return -EIO;
	db_bind_int(st, 1, MODEL_FOLDER_RECYCLE);
	db_bind_int(st, 2, MODEL_IMG_DELETED);
	db_bind_int64(st, 3, now / 1000000000);
	db_bind_int64(st, 4, now);
	db_bind_int64(st, 5, img->id);
	db_bind_int(st, 6, img->status);
	db_bind_int(st, 7, MODEL_FOLDER_ISO);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_changes(c) == 1 ? 0 : model_fail(err, -EBUSY, "the image changed status meanwhile");
}

int model_image_remove(model *m, int64_t id, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	/* Already deleted: another mount's rmdir (or this one's, asked twice)
	 * got there first.  Never a destroy: only an rmdir in recycle-bin/
	 * destroys (model_image_destroy), and an rmdir of private/x that
	 * raced a delete of x would otherwise lose the image the bin keeps. */
	if (img.folder == MODEL_FOLDER_RECYCLE) {
		rc = model_fail(err, -ENOENT, "%s is in the recycle bin already", img.name);
		goto out;
	}
	if (img.folder != MODEL_FOLDER_PRIVATE && img.folder != MODEL_FOLDER_ISO) {
		rc = model_fail(err, -EPERM, "%s images cannot be deleted", model_folder_name(img.folder));
		goto out;
	}
	/* protected (SPEC §19): one rule for both faces. */
	if (img.gflags & MODEL_GFLAG_PROTECTED) {
		rc = model_fail(err, -EPERM, "%s is protected: unprotect it first (the image API's protected)", img.name);
		goto out;
	}
	if ((rc = image_busy(c, &img, err)) < 0)
		goto out;
	if (img.status == MODEL_IMG_QUEUED)
		rc = image_delete_queued(c, &img, err);
	else if (img.status != MODEL_IMG_AVAILABLE && img.status != MODEL_IMG_ERROR)
		rc = model_fail(err, -EPERM, "a %s image cannot be deleted", model_image_status_name(img.status));
	else /* private and ISO images alike (§16) */
		rc = image_to_recycle(m, c, &img, err);
	if (rc < 0)
		goto out;
	if ((rc = model_touch_region(c, img.region_id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, id, img.region_id, img.folder, img.name)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

/* The folder image id in the bin came from: iso or private (prior_folder,
 * image_to_recycle), or a negative errno. */
static int bin_home(struct model_conn *c, int64_t id)
{
	db_stmt *st = model_stmt(c, SQL("SELECT prior_folder FROM images WHERE id = ?"));
	int rc, folder;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	folder = rc == DB_ROW ? db_col_int(st, 0) : 0;
	db_reset(st);
	if (rc != DB_ROW)
		return rc == DB_DONE ? -ENOENT : db_errno(rc);
	return folder == MODEL_FOLDER_ISO ? MODEL_FOLDER_ISO : MODEL_FOLDER_PRIVATE;
}

int model_image_restore(model *m, int64_t id, enum model_folder folder, const char *new_name, struct model_err *err)
{
	_Static_assert(MODEL_IMG_AVAILABLE == 5 && MODEL_IMG_ERROR == 6, "SQL below spells available and error");
	struct model_conn *c;
	struct model_image img, other;
	db_stmt *st;
	int rc, home;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if (img.folder != MODEL_FOLDER_RECYCLE) {
		rc = model_fail(err, -EPERM, "only images in the recycle bin are restored");
		goto out;
	}
	if ((rc = model_image_deleting_refuse(&img, err)) < 0)
		goto out;
	if ((rc = home = bin_home(c, id)) < 0)
		goto out;
	/* Back where it came from, never into the other class: an ISO image
	 * in private/ would be a private image with a cdrom (§16). */
	if (folder != (enum model_folder)home) {
		rc = model_fail(err, -EPERM, "%s was %s image: restore it to %s/", img.name,
		                home == MODEL_FOLDER_ISO ? "an ISO" : "a private", model_folder_name(home));
		goto out;
	}
	if ((rc = model_name_check(new_name, err)) < 0)
		goto out;
	if (model_image_lookup(m, img.region_id, img.account_id, folder, new_name, &other) == 0) {
		rc = model_fail(err, -EEXIST, "an image named %s exists", new_name);
		goto out;
	}
	/* iso/ has no quota (§8). */
	if (folder == MODEL_FOLDER_PRIVATE &&
	    (rc = model_quota_check(c, img.account_id, img.region_id, MODEL_QUOTA_PRIVATE_IMAGES, 1, err)) < 0)
		goto out;
	/* Back to the status it had.  A row put into the bin without one
	 * (older states, tests) is available when it has a system disk. */
	if (!(st = model_stmt(c, SQL("UPDATE images SET folder = ?1, name = ?2, status = CASE WHEN prior_status IN (5, 6) "
	                         "THEN prior_status WHEN EXISTS (SELECT 1 FROM devices WHERE image_id = ?4 AND idx = 0) "
	                         "THEN 5 ELSE 6 END, prior_status = 0, prior_folder = 0, deleted_at = 0, mtime_ns = ?3, "
	                         "ctime_ns = ?3, dir_mtime_ns = ?3 WHERE id = ?4 AND folder = ?5")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, folder);
	db_bind_text(st, 2, new_name);
	db_bind_int64(st, 3, model_now_ns());
	db_bind_int64(st, 4, id);
	db_bind_int(st, 5, MODEL_FOLDER_RECYCLE);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if ((rc = model_touch_region(c, img.region_id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, id, img.region_id, MODEL_FOLDER_RECYCLE, img.name)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

#define RETENTION_DEFAULT (7 * 24 * 3600) /* seconds (§6.1) */

int64_t model_retention(model *m)
{
	return model_setting_int(m, "retention", 1, RETENTION_DEFAULT);
}

/* Logs a change of one recycle-bin image (its `expires` moved). */
static int log_recycled(void *arg, db_stmt *st)
{
	return model_log_change(arg, MODEL_CHANGE_IMAGE, db_col_int64(st, 0), db_col_int64(st, 1),
	                        MODEL_FOLDER_RECYCLE, NULL);
}

int model_retention_set(model *m, int64_t seconds, struct model_err *err)
{
	struct model_conn *c;
	db_stmt *st;
	int64_t now = model_now_ns();
	char v[32];
	int rc;
	if (seconds < 1)
		return model_fail(err, -EINVAL, "the retention period is a number of seconds >= 1");
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (model_retention(m) == seconds)
		goto out; /* rc == 0: no change */
	snprintf(v, sizeof(v), "%lld", (long long)seconds);
	if ((rc = model_setting_put(c, "retention", v)) < 0)
		goto out;
	/* Every image in a recycle bin shows a new `expires`. */
	if (!(st = model_stmt(c, SQL("UPDATE images SET mtime_ns = ?, ctime_ns = ?1 WHERE folder = ? "
	                         "RETURNING id, region_id")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, now);
	db_bind_int(st, 2, MODEL_FOLDER_RECYCLE);
	if ((rc = model_each_row(st, log_recycled, c)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

/* admin unpublish: the reverse of publish.  The same refusals as a
 * deletion (image_busy: an instance of any account was made from it, a
 * task reads or writes it); then its rows go at once, as a destruction's
 * do (no recycle bin for the platform's images), and its chunks to gc. */
int model_image_unpublish(model *m, int64_t region_id, enum model_folder folder, const char *name,
                          struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	int rc;

	if (folder != MODEL_FOLDER_PUBLIC && folder != MODEL_FOLDER_MARKETPLACE)
		return model_fail(err, -EINVAL, "unpublish from public or marketplace");
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_lookup(m, region_id, 0, folder, name, &img)) < 0) {
		model_fail(err, rc, "no %s/%s", model_folder_name(folder), name);
		goto out;
	}
	if ((rc = image_busy(c, &img, err)) < 0 || (rc = image_destroy_rows(m, c, &img)) < 0 ||
	    (rc = model_touch_region(c, region_id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, img.id, region_id, folder, img.name)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

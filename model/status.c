/*
 * status.c — the image status machine of SPEC §4, as one table.
 *
 *              upload / url (issue 5)             capture (issue 3)
 *   queued ──────────────────► uploading   queued ─────────► pending
 *      ▲                          │  │                         │ model_image_transition
 *      └── first write refused ───┘  ▼                         ▼
 *          (model_upload_abandon)  available | error    replicating
 *                                                               │
 *   (conversion, copy: created as pending) pending ─────────────┴──► available | error
 *
 *   available | error ──rmdir──► deleted ──mv back──► available | error
 *                 (model_image_remove)     (restore, issue 3)
 *
 * A queued image that is removed leaves no row (no edge).  Every edge is
 * performed by one SQL UPDATE ... WHERE status = <from>, so two racing
 * writers cannot both move an image.
 */
#include <errno.h>
#include <string.h>

#include "model_int.h"

static const char *const image_status_names[MODEL_IMG_STATUS_COUNT] = {
	[MODEL_IMG_QUEUED] = "queued",
	[MODEL_IMG_UPLOADING] = "uploading",
	[MODEL_IMG_PENDING] = "pending",
	[MODEL_IMG_REPLICATING] = "replicating",
	[MODEL_IMG_AVAILABLE] = "available",
	[MODEL_IMG_ERROR] = "error",
	[MODEL_IMG_DELETED] = "deleted",
};

#define E(from, to) [MODEL_IMG_##from][MODEL_IMG_##to] = true
static const bool image_edges[MODEL_IMG_STATUS_COUNT][MODEL_IMG_STATUS_COUNT] = {
	E(QUEUED, UPLOADING),     E(QUEUED, PENDING),
	E(UPLOADING, AVAILABLE),  E(UPLOADING, ERROR),    E(UPLOADING, QUEUED),
	E(PENDING, REPLICATING),  E(PENDING, AVAILABLE),  E(PENDING, ERROR),
	E(REPLICATING, AVAILABLE), E(REPLICATING, ERROR),
	E(AVAILABLE, DELETED),    E(ERROR, DELETED),
	E(DELETED, AVAILABLE),    E(DELETED, ERROR),
};
#undef E

const char *model_image_status_name(enum model_image_status s)
{
	if (s <= MODEL_IMG_INVALID || s >= MODEL_IMG_STATUS_COUNT)
		return "invalid";
	return image_status_names[s];
}

bool model_image_transition_allowed(enum model_image_status from, enum model_image_status to)
{
	if (from <= MODEL_IMG_INVALID || from >= MODEL_IMG_STATUS_COUNT || to <= MODEL_IMG_INVALID ||
	    to >= MODEL_IMG_STATUS_COUNT)
		return false;
	return image_edges[from][to];
}

bool model_image_status_transitional(enum model_image_status s)
{
	return s == MODEL_IMG_QUEUED || s == MODEL_IMG_UPLOADING || s == MODEL_IMG_PENDING ||
	       s == MODEL_IMG_REPLICATING;
}

const char *model_snap_status_name(enum model_snap_status s)
{
	switch (s) {
	case MODEL_SNAP_CREATING: return "creating";
	case MODEL_SNAP_AVAILABLE: return "available";
	case MODEL_SNAP_ERROR: return "error";
	default: return "invalid";
	}
}

const char *model_vm_status_name(enum model_vm_status s)
{
	switch (s) {
	case MODEL_VM_STOPPED: return "stopped";
	case MODEL_VM_RUNNING: return "running";
	default: return "invalid";
	}
}

const char *model_folder_name(enum model_folder f)
{
	switch (f) {
	case MODEL_FOLDER_PUBLIC: return "public";
	case MODEL_FOLDER_MARKETPLACE: return "marketplace";
	case MODEL_FOLDER_PRIVATE: return "private";
	case MODEL_FOLDER_ISO: return "iso";
	case MODEL_FOLDER_RECYCLE: return "recycle-bin";
	default: return "invalid";
	}
}

int model_image_transition(model *m, int64_t id, enum model_image_status from, enum model_image_status to,
                           const char *reason, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	sqlite3_stmt *st;
	int rc;
	if (!model_image_transition_allowed(from, to))
		return model_fail(err, -EINVAL, "an image cannot go from %s to %s", model_image_status_name(from),
		                  model_image_status_name(to));
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (!(st = model_stmt(c, "UPDATE images SET status = ?1, error = ?2, progress = CASE ?1 WHEN ?3 THEN 100 "
	                         "WHEN ?4 THEN progress ELSE 0 END, mtime_ns = ?5, ctime_ns = ?5, "
	                         "error_ns = CASE WHEN error = ?2 THEN error_ns ELSE ?5 END "
	                         "WHERE id = ?6 AND status = ?7"))) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int(st, 1, to);
	sqlite3_bind_text(st, 2, to == MODEL_IMG_ERROR && reason ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, MODEL_IMG_AVAILABLE);
	sqlite3_bind_int(st, 4, MODEL_IMG_ERROR);
	sqlite3_bind_int64(st, 5, model_now_ns());
	sqlite3_bind_int64(st, 6, id);
	sqlite3_bind_int(st, 7, from);
	if ((rc = model_exec_stmt(st)) < 0) {
		model_fail(err, rc, "database: %s", strerror(-rc));
		goto out;
	}
	bool moved = sqlite3_changes(c->db) == 1;
	if ((rc = model_image_get(m, id, &img)) < 0) {
		model_fail(err, -ENOENT, "no such image");
		goto out;
	}
	if (!moved) {
		rc = model_fail(err, -EBUSY, "the image is %s, not %s", model_image_status_name(img.status),
		                model_image_status_name(from));
		goto out;
	}
	if ((rc = model_log_change(c, MODEL_CHANGE_IMAGE, id, img.region_id, img.folder, NULL)) < 0)
		goto out;
	return model_commit(c);
out:
	model_rollback(c);
	return rc;
}

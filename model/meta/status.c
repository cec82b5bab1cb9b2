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
 *                 (model_image_remove)  │  (restore, issue 3)
 *                                       │ rmdir in recycle-bin/ (model_image_destroy, §16)
 *                                       ▼
 *                                    deleting ──(the destroy task frees its chunks)──► row gone
 *
 * A queued image that is removed leaves no row (no edge).  Every edge is
 * performed by one SQL UPDATE ... WHERE status = <from> (the function named
 * beside it; model_image_transition, in image.c, for the generic ones), so
 * two racing writers cannot both move an image.
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
	[MODEL_IMG_DELETING] = "deleting",
};

#define E(from, to) [MODEL_IMG_##from][MODEL_IMG_##to] = true
static const bool image_edges[MODEL_IMG_STATUS_COUNT][MODEL_IMG_STATUS_COUNT] = {
	E(QUEUED, UPLOADING),     E(QUEUED, PENDING),
	E(UPLOADING, AVAILABLE),  E(UPLOADING, ERROR),    E(UPLOADING, QUEUED),
	E(PENDING, REPLICATING),  E(PENDING, AVAILABLE),  E(PENDING, ERROR),
	E(REPLICATING, AVAILABLE), E(REPLICATING, ERROR),
	E(AVAILABLE, DELETED),    E(ERROR, DELETED),
	E(DELETED, AVAILABLE),    E(DELETED, ERROR),     E(DELETED, DELETING),
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

/*
 * snapshots.h — snapshots (SPEC §2.4, meta/snapshot.c): the data disks a
 * capture or a conversion made, referenced by images, kept until no image
 * references them.
 *
 * Who calls it: fs/ (snapshots/ and each snapshot's files), the task kinds
 * that create them (capture, convert, copy).  Any thread.
 *
 * Errors: -errno; removing one an image still references is -EBUSY, with
 * the reason in struct model_err.
 */
#ifndef IMGFS_MODEL_SNAPSHOTS_H
#define IMGFS_MODEL_SNAPSHOTS_H

#include "core.h"

/* ---- snapshots (§2.4, snapshot.c) ------------------------------------------ */

struct model_snapshot {
	int64_t id;
	char ext_id[16];
	int64_t region_id, account_id;
	char name[MODEL_NAME_MAX + 1];
	char description[MODEL_DESC_MAX + 1];
	enum model_snap_status status;
	uint64_t size;
	int64_t blob_id;
	int64_t created, mtime_ns, ctime_ns;
};
int model_snapshot_list(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                        int (*cb)(void *arg, const struct model_snapshot *s), void *arg);
int model_snapshot_lookup(model *m, int64_t region_id, int64_t account_id, const char *ext_id,
                          struct model_snapshot *out);
int model_snapshot_get(model *m, int64_t id, struct model_snapshot *out);
/* Ext ids of the images referencing the snapshot, one a line, into buf. */
int model_snapshot_images(model *m, int64_t id, char *buf, size_t cap);
/* rmdir snapshots/<id>: -EBUSY while any image (recycle bin included)
 * references it or a task is creating it. */
int model_snapshot_remove(model *m, int64_t id, struct model_err *err);
int model_snapshot_set_description(model *m, int64_t id, const char *value, struct model_err *err);

#endif

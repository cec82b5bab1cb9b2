/*
 * inspections.h — what is inside each image (SPEC §20): the inspection
 * the service runs when an image becomes available (a background task of
 * kind 'inspect', model/task/inspect.c) and the files it shows
 * (model/meta/inspection.c).
 *
 * Who calls it: the mount (fs/fuse/inspect.c) registers the inspector,
 * which reads the image's disks through the sandboxed helpers the model
 * never sees; the task calls it, stores what it returns and fills the
 * attributes of §5.4 the uploader left empty.  A process without an
 * inspector (imgfs admin) never claims the task.  Threads: the task
 * runs on a worker; the getters on any thread.
 */
#ifndef IMGFS_MODEL_INSPECTIONS_H
#define IMGFS_MODEL_INSPECTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"

/* What an inspector found: the three files' content (malloc'd, the model
 * frees them) and the attributes to fill where the image's are empty
 * ("": not filled; each one a value §5.4 accepts with the others). */
struct model_inspection {
	char *text, *json, *packages;
	bool failed; /* a failure (text says why): nothing is filled */
	char os_type[16], platform[32], version[32], arch[16], boot_mode[8], features[64];
};

/* The inspector: 0 with *out filled, or -errno with the reason in err (the
 * task then stores a failed inspection with it). */
typedef int (*model_inspector_fn)(void *arg, int64_t image_id, struct model_inspection *out,
                                  struct model_err *err);
/* The same for a snapshot's data (§20): nothing to fill, out's attributes
 * stay empty. */
typedef int (*model_snap_inspector_fn)(void *arg, int64_t snap_id, struct model_inspection *out,
                                       struct model_err *err);
/* Registers the process's inspector (NULL: none, the default).  Where
 * there is none (imgfs admin, the unit tests), an image that becomes
 * available queues no inspection: the next mount's sweep does. */
void model_set_inspector(model *m, model_inspector_fn fn, model_snap_inspector_fn snap_fn, void *arg);
/* Queues an inspection of every available image and snapshot that has
 * none and none on its way (a mount's start: the images made where nothing inspects, and
 * those made before inspections were). */
int model_inspection_sweep(model *m);

/* Which file of an inspection. */
enum model_inspection_file { MODEL_INSPECTION_TEXT = 0, MODEL_INSPECTION_JSON, MODEL_INSPECTION_PACKAGES };
/* The file of image_id's last inspection (malloc'd, the caller frees it):
 * 0, or -ENOENT when it has none; *pending says whether an inspection is
 * queued or running (either way). */
int model_inspection_get(model *m, int64_t image_id, enum model_inspection_file which, char **out, bool *pending);
/* Queues an inspection of image_id (a refresh: `echo > inspect`), unless
 * one is queued already: 0, -EPERM unless the image is available, or
 * -errno with the reason in err. */
int model_inspection_queue(model *m, int64_t image_id, struct model_err *err);
/* The same two for a snapshot (its task: image_id 0, source_kind
 * 'snapshot'): -EPERM unless it is available. */
int model_snap_inspection_get(model *m, int64_t snap_id, enum model_inspection_file which, char **out,
                              bool *pending);
int model_snap_inspection_queue(model *m, int64_t snap_id, struct model_err *err);

#endif

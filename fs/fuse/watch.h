/*
 * watch.h — what keeps the kernel's caches true (watch.c: the change feed
 * turned into invalidations) and the background task threads of a mount
 * (worker.c).  Who includes it: ops.c, files.c, attr.c, upload.c,
 * copies.c and fs/cli/main.c, which starts and stops them.
 */
#ifndef IMGFS_WATCH_H
#define IMGFS_WATCH_H

#include "fs.h"

/* Cache invalidation (watch.c).  names: also drop the old name of an entry
 * that went away (never from inside a request: the kernel holds the
 * directory's lock there). */
void fs_invalidate(struct fs_ctx *ctx, const struct model_change *c, bool names);
/* After a change of image img made by the request being answered, before
 * it replies: fs_invalidate of it, names kept.  now: img is the row as the
 * change left it (an insert returned it), so the invalidation needs no
 * read of it; otherwise it is the row from before. */
void fs_image_changed(struct fs_ctx *ctx, const struct model_image *img, bool now);
/* After a change of instance vm (the row from before it) that changed the
 * image it was built from: fs_image_changed of that image (its
 * `instances` file), when it has one. */
void fs_vm_image_changed(struct fs_ctx *ctx, const struct model_instance *vm);
int fs_watch_start(struct fs_ctx *ctx);
void fs_watch_stop(struct fs_ctx *ctx);

/* ---- background tasks (worker.c) ---------------------------------- */

struct fs_worker;
/* Starts n worker threads running the model's tasks (model_task_work) and
 * its housekeeping; n == 0 runs none.  Called once the daemon has forked
 * and the session is mounted.  0 or -errno (threads already started stay
 * running: stop them with fs_workers_stop). */
int fs_workers_start(struct fs_ctx *ctx, unsigned n);
/* Sets ctx->stopping, wakes and joins the workers: a task running is put
 * back in the queue between two chunks, for the next mount to resume.
 * Call before the model is closed. */
void fs_workers_stop(struct fs_ctx *ctx);
/* Registers the mount's inspector (inspect.c, SPEC §20) with the model and
 * queues an inspection of every available image without one: before
 * fs_workers_start, whose workers run them. */
void fs_inspect_register(struct fs_ctx *ctx);
/* A request queued a task: wake an idle worker now rather than at its next
 * poll.  Does nothing when this mount runs no workers. */
void fs_workers_kick(struct fs_ctx *ctx);

#endif

/*
 * changes.h — the change log (the changes table, meta/changes.c): every
 * write transaction records what it changed (which image, snapshot,
 * instance, region, quota or account, and where it was listed before), so that
 * whoever keeps copies of what it read — this process's other threads,
 * other processes, other hosts — learns what to drop.
 *
 * Who calls it: fs/'s watcher thread (model_changes_wait, then
 * model_changes_since in a loop) and a mount's start (model_changes_head).
 * The calling thread's connection.
 *
 * Errors: -errno; -ESTALE for a reader that fell more than the kept ten
 * minutes behind, which must then assume that anything changed.
 */
#ifndef IMGFS_MODEL_CHANGES_H
#define IMGFS_MODEL_CHANGES_H

#include "images.h"

/* ---- the change log (model/db/schema_*.c: changes) ------------------------- */

enum model_change_kind {
	MODEL_CHANGE_INVALID = 0,
	MODEL_CHANGE_IMAGE,    /* an image's attributes, status, entries or listing */
	MODEL_CHANGE_REGION,   /* a region was added (the /regions listing) */
	MODEL_CHANGE_QUOTA,    /* quota limits of the region */
	MODEL_CHANGE_SNAPSHOT,
	MODEL_CHANGE_INSTANCE,
	MODEL_CHANGE_ACCOUNT,  /* an account added, removed or given another role
	                          (§16: who sees tenants/; obj: the account, region 0) */
};
/* What a reader of an image's change needs of the image as it is now:
 * its dir_gen and whether it is a copy. */
struct model_change_image {
	bool known;           /* read (with the change, or by whoever made it) */
	bool here;            /* the image still exists */
	int64_t dir_gen, origin_id;
	char origin_kind[16];
};
struct model_change {
	int64_t seq;
	enum model_change_kind kind;
	int64_t obj, region_id;
	enum model_folder folder; /* where the object was listed before the change */
	char name[MODEL_NAME_MAX + 1]; /* the old name when an entry went away, else "" */
	struct model_change_image img; /* MODEL_CHANGE_IMAGE from model_changes_since */
};
/* The image's part of a change of it (img: its row as it is now). */
void model_change_image_of(struct model_change_image *out, const struct model_image *img);
/* The newest sequence number (start point for a new mount). */
int64_t model_changes_head(model *m);
/* Waits at most timeout_ms until another connection (thread, process or
 * host) may have committed: 1 maybe, MODEL_CHANGES_QUIET (only quiet
 * commits of this process: model_write_quiet, whose changes its requests
 * invalidated), 0 no, -errno (the time was waited).  SQLite polls;
 * PostgreSQL is told (LISTEN/NOTIFY).  The calling thread's connection; a
 * watcher thread calls it in a loop. */
#define MODEL_CHANGES_QUIET 2
int model_changes_wait(model *m, int timeout_ms);
/* Calls cb for every change after *seq and advances *seq.  Rows are kept
 * for ten minutes: a reader that fell further behind gets -ESTALE (with
 * *seq moved to the head), and must assume that anything changed. */
int model_changes_since(model *m, int64_t *seq, int (*cb)(void *arg, const struct model_change *c), void *arg);

/* Every image, snapshot and instance as a change (kind, obj, region,
 * folder; no name): what a reader of the change log that fell behind
 * must invalidate. */
int model_changes_everything(model *m, int (*cb)(void *arg, const struct model_change *c), void *arg);

#endif

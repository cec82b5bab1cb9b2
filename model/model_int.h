/*
 * model_int.h — what the model's source files share and nobody else sees:
 * the model struct and its locks, then, in two headers of their own, the
 * database side (model_sql.h: connections, statements, write
 * transactions) and the rows' helpers (model_rows.h: accounts, settings,
 * runners, keys, blobs, quotas, the change log, the lifecycle).
 *
 * Locks of model/ (each a leaf, level 54 of include/imgfs_lock.h: it
 * guards a few pointers or a small table, and nothing else is taken while
 * it is held, a database call least of all; SQLite's commits_lock too):
 *   model.lock              conns, stores[], regions[] and keys (below);
 *                           a store is opened outside it (state.c)
 *   model_row_cache.lock    the image row cache's entries (image.c)
 *   model_keys.lock         the KEK and the data keys opened (keys.c);
 *                           it drops key references, which are atomics
 * Callers above may hold their own locks across a model call (fs/fuse's
 * disk locks: fs/fuse/fs.h, "locks"); the model never calls up.
 */
#ifndef IMGFS_MODEL_INT_H
#define IMGFS_MODEL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "db.h"
#include "imgfs_lock.h"
#include "model.h"

#define MODEL_MAX_REGIONS 4096
#define MODEL_TASK_KINDS 8 /* at least kinds.c's task_kinds[] */

struct task_kind; /* model/task/task_int.h */

struct model {
	char *dir;                     /* state directory */
	char host[MODEL_HOST_MAX + 1]; /* the host this process acts for (host.c) */
	bool cluster;                  /* several hosts may share the database (§13) */
	const struct db_driver *drv;   /* the database's driver */
	char *db_target;               /* what drv->open takes: <dir>/imgfs.db */
	atomic_int_fast64_t scan_steps;/* rows read by unexpected full scans (db.h) */
	atomic_int_fast64_t statements;/* statements run (model_stmt) */
	atomic_int_fast64_t rows;      /* rows the database produced for them */
	atomic_int_fast64_t writes;    /* write transactions begun (model_write_begin) */
	atomic_int_fast64_t round_trips; /* exchanges with a database server (db.h) */
	atomic_int_fast64_t db_connected_ms; /* a server connection's last (re)connect (db.h) */
	atomic_int_fast64_t change_wakes; /* model_changes_wait woken by this process's commit */
	atomic_int_fast64_t change_reads; /* model_changes_since calls (changes.c) */
	char quiet_key[24]; /* marks this process's quiet commits (db.h: quiet); "": none */
	atomic_uint_fast64_t changes_logged; /* change-log rows this process wrote (changes.c) */
	atomic_int imports_here;       /* import tasks this process runs (task.c) */
	atomic_int running_here;       /* tasks of any kind this process runs (task.c) */
	atomic_int checksums_here;     /* checksum passes this process runs: at most one (checksum.c) */
	atomic_int inspects_here;      /* inspections this process runs: at most one (inspect.c) */
	struct { model_inspector_fn fn; model_snap_inspector_fn snap_fn; void *arg; } inspector; /* the mount's, set before the workers; fn NULL: none */
	atomic_uint_fast64_t task_bytes[MODEL_TASK_KINDS];  /* progress of this process's tasks, by kind (task.c) */
	atomic_uint_fast64_t moved_bytes[MODEL_TASK_KINDS]; /* bytes they moved: fetched by imports, placed by copies */
	atomic_uint_fast64_t sha_read_bytes; /* read back to hash (§2.1: task.c, checksum.c) */
	unsigned workers;              /* its task workers (model_set_workers) */
	/* The kinds of task (kinds.c: task_kinds_all), set by model_open: the
	 * engine (task.c) reaches the kinds only through them. */
	const struct task_kind *task_kinds;
	size_t task_nkinds;
	uint8_t secret[BLOB_SECRET_SIZE];
	pthread_key_t conn_key;        /* -> struct model_conn of this thread */
	pthread_mutex_t lock;          /* guards conns, stores, regions, parked */
	struct model_conn *conns;      /* every open connection, for close */
	blob_store *stores[MODEL_MAX_REGIONS]; /* by region id */
	/* A checksum pass that gave its worker back in a blob's middle: its
	 * hashes so far, taken up where it stopped by the next run of that
	 * task in this process (checksum.c).  One: one pass runs at a time. */
	struct {
		int64_t task_id, blob_id;
		blob_digest *d;
	} parked;
	/* Regions read so far, by id (account.c): a region's row never changes
	 * but for its mtime, and no region is ever removed. */
	struct model_region *regions[MODEL_MAX_REGIONS];
	/* model_set_log (log.c): where model_log lines go. */
	void (*log_fn)(void *arg, const char *line);
	void *log_arg;
	struct model_row_cache *rows_cache; /* image.c; NULL: every read asks the database */
	/* Bumped after anything may have changed a row the cache holds: a
	 * commit of this process, a statement that writes (db.h), a commit of
	 * another one as the watcher learns it (model_changes_wait). */
	atomic_int_fast64_t rows_gen;
	int64_t swept_at;              /* unix seconds of the last model_wblobs_sweep (upload.c) */
	struct model_early *early;     /* images imported early, read through (task/early.c) */
	struct model_keys *keys;       /* the KEK and the data keys opened (keys.c); NULL until needed */
};
IMGFS_LOCK_LEVEL(model_lock, 54); /* a leaf (above) */

#include "model_sql.h"
#include "model_rows.h"

#endif

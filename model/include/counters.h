/*
 * counters.h — what the model counts about itself: the database's work
 * (statements, rows, scans, write transactions, round trips), and what
 * /stats reports (images, blobs and tasks by kind, chunk caches, the
 * bytes tasks moved).
 *
 * Who calls it: fs/'s /stats files and metrics endpoint, and the tests
 * that count instead of timing (tests/integration/test_scale.sh compares
 * these at two sizes).  The counters since the model was opened are
 * atomics of the model (any thread); the stats_* walks read the database
 * (meta/stats.c, task/task.c).
 *
 * Errors: the counters cannot fail; the walks return 0 or -errno, or
 * what a callback returned non-zero to stop them.
 */
#ifndef IMGFS_MODEL_COUNTERS_H
#define IMGFS_MODEL_COUNTERS_H

#include "core.h"

/* ---- the database's work ----------------------------------------------- */

/* Rows that statements not allowed to scan read in full table scans, since
 * the model was opened (db/db.h: 0 unless an index is missing). */
int64_t model_scan_steps(model *m);
/* Statements the model has run since it was opened. */
int64_t model_statements(model *m);
/* Rows the database produced for them (a cost that must not follow the
 * size of a table: tests compare it at two sizes). */
int64_t model_rows(model *m);
/* Write transactions begun: each takes the database's one write lock. */
int64_t model_writes(model *m);
/* Network exchanges with the database server (PostgreSQL; 0 for SQLite):
 * what a request waits for, one after another. */
int64_t model_round_trips(model *m);
/* Waits of model_changes_wait that a write committed by this process
 * ended at once (SQLite: rather than its next look at the database,
 * up to 200 ms later; PostgreSQL's notifications are prompt anyway). */
int64_t model_change_wakes(model *m);
/* Reads of the change log (model_changes_since): a watcher's, at every
 * commit anywhere but this process's quiet ones (model_write_quiet). */
int64_t model_change_reads(model *m);

/* ---- what /stats counts (meta/stats.c, task/task.c) ------------------------ */

/* Images by region and status (every folder, the recycle bin included). */
int model_stats_images(model *m, int (*cb)(void *arg, int64_t region_id, enum model_image_status s, int64_t n),
                       void *arg);
/* Blobs' data by region: chunk references and their bytes, summed over
 * blobs, so a chunk two blobs share (dedup) counts twice. */
int model_stats_blobs(model *m, int (*cb)(void *arg, int64_t region_id, int64_t chunks, int64_t bytes), void *arg);
/* Unfinished tasks (rows of the queue) by kind and state. */
int model_stats_tasks(model *m, int (*cb)(void *arg, const char *kind, const char *state, int64_t n), void *arg);
/* The chunk caches of the stores this process has open, by region. */
int model_stats_caches(model *m, int (*cb)(void *arg, int64_t region_id, uint64_t hits, uint64_t misses),
                       void *arg);
/* What this process's tasks did, by kind (every kind, zeros included):
 * bytes of progress (their bytes_done: an image's virtual bytes gone
 * through, holes included) and bytes moved (fetched by an import; chunk
 * bytes a copy placed in the target store, not those it already held). */
int model_task_bytes(model *m, int (*cb)(void *arg, const char *kind, uint64_t progress, uint64_t moved), void *arg);
/* Virtual bytes of blobs this process's tasks read back to hash them
 * (§2.1 sha256): a capture's disk, a QCOW2 conversion's decoded disk, an
 * upload written out of order or an import resumed, the upgrade's
 * checksum pass.  An upload written in order, a copy, a raw conversion
 * and an upload taken whole by reference add nothing: their hash came on
 * the way in (the test that says so counts this). */
uint64_t model_sha_read_bytes(model *m);

#endif

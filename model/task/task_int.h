/*
 * task_int.h — the interface between the task engine (task.c) and the
 * kinds of task (capture.c, convert.c, copy.c, upload.c ...).  Nobody
 * outside model/ sees it.
 *
 * A kind provides a run function, called by a worker with the task claimed
 * (r->t is the row as claimed).  It works in steps, each step's result made
 * durable in a write transaction whose first statement is task_touch
 * (which checks the task is still this runner's: 0 sets r->lost and the
 * step leaves by its one label, committing nothing), writes progress with task_progress at most every
 * TASK_PROGRESS_NS, polls r->stop between chunks (setting r->stopped: the
 * engine then puts the task back in the queue), and ends with one of:
 *   - its last transaction deleting the row (task_delete_row) — done;
 *   - task_fail — the image in error with the reason, the kind's undo
 *     callback removing what the task created, the row deleted;
 *   - returning with r->stopped or r->lost set, or -errno (a database
 *     error: the engine requeues the task, best effort).
 * A kind's run must be resumable: a task found 'running' under a dead
 * runner is run again from its row.
 *
 * Adding a kind: a file with its queueing function and its run function,
 * a declaration below, and one line in kinds.c's task_kinds[].
 */
#ifndef IMGFS_TASK_INT_H
#define IMGFS_TASK_INT_H

#include "model_int.h"

#define TASK_PROGRESS_NS (250 * 1000000LL) /* at most this often a progress write */
/* A task whose run failed waits 1 s before it is claimed again, twice as
 * long after each failed run in a row, at most 60 s (task_requeue). */
#define TASK_RETRY_MIN_NS (1000000000LL)
#define TASK_RETRY_MAX_NS (60 * 1000000000LL)

/* A tasks row (see task.c's header comment for the columns). */
struct task_row {
	int64_t id;
	char kind[16];
	int64_t image_id;
	char source_kind[16];
	int64_t source_id;
	char args[MODEL_TEXT_MAX + 1];
	char state[16];
	char host[MODEL_HOST_MAX + 1]; /* the host it must run on, "" any */
	char error[256];               /* set by host remove: the task ends in error with it */
	uint64_t bytes_done, bytes_total;
	int64_t started, updated;
	int64_t retries;               /* its failed runs in a row (task_requeue's pause) */
};

/* A task being run: the row as claimed, the runner, and how it ended. */
struct task_run {
	model *m;
	char me[MODEL_RUNNER_ID_MAX];
	struct task_row t;
	const atomic_bool *stop;
	int64_t region_id;     /* of the image (and everything the task made) */
	enum model_folder folder;
	uint64_t bytes_done;
	uint64_t bytes_counted; /* of bytes_done, what m->task_bytes has (task_touch) */
	int64_t last_progress; /* ns */
	bool stopped;          /* *stop was seen: the task goes back to the queue */
	bool yielded;          /* with stopped: its time slice gave the worker to
	                          another account's task (task_yield_due) */
	bool lost;             /* another runner holds it now: hands off */
	bool failed;           /* the run ended in -errno (not a stop): task_requeue
	                          holds it back for a pause that doubles */
	int64_t account_id;    /* the image's owner: whose turn this is (fair share) */
	int64_t claimed_ns;    /* when this run claimed it (its time slice) */
	int64_t yield_checked_ns; /* task_yield_due's last look */
	/* The kind's own writes at each device's durable point, inside
	 * task_device_done's transaction (NULL: none). */
	int (*device_done)(struct model_conn *c, struct task_run *r);
	void *kind_state;      /* the kind's, for device_done */
};

/* Counts bytes the task moved (/stats: model_task_bytes): a copy's chunk
 * bytes placed in the target store (imports count their progress). */
void task_count_moved(struct task_run *r, uint64_t bytes);
/* The same for bytes a task's kind moved outside a run (an early read's
 * chunk of a copy, early.c). */
void task_count_moved_kind(model *m, const char *kind, uint64_t bytes);

/* A kind of task: its name in tasks.kind, its run function (returns 0 or
 * -errno; see above), whether a queued task of the kind may be claimed
 * now (1 yes, 0 not now, -errno; NULL: always), asked inside the claim's
 * write transaction, and what a runner does now and then for the kind
 * (model_task_housekeeping; NULL: nothing).  The table is kinds.c's,
 * handed to the engine by model_open (m->task_kinds): the engine reaches
 * the kinds only through it and names none, so the kinds' calls into the
 * engine close no circle. */
struct task_kind {
	const char *name;
	int (*run)(struct task_run *r);
	int (*claimable)(struct model_conn *c, int64_t task_id);
	void (*housekeeping)(model *m);
	bool stores_nothing; /* it writes no chunk: no writers row (writer.c) holds gc back for it */
	bool keyless;        /* it reads and writes no chunk's bytes: it runs on an encrypted image
	                        (SPEC §17) in a process without its key; the others wait for one */
	bool movable;        /* bound to its host (tasks.host) while that host's lease is current;
	                        another host takes it over once it lapsed (a URL import: its durable
	                        point is in the region's store and tasks.resume, SPEC §13) */
};


/* Inside a write transaction, its first step: records bytes_done if the
 * task is still ours.  1 when it is, 0 when another runner took it (or it
 * is gone: r->lost set), -errno.  A step of a kind's run:
 *	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
 *		return rc;
 *	if ((rc = task_touch(c, r)) <= 0)
 *		goto out;
 *	...
 *	out:
 *	return model_write_end(c, rc, NULL); */
int task_touch(struct model_conn *c, struct task_run *r);
/* The time of a transition that follows content completed at content_ns:
 * now, but strictly later.  A blob's mtime (its ctime in the tree) must
 * never be the newest ctime of its directory: borg re-reads, on every run,
 * the files carrying the newest ctime it saw (SPEC §2.3). */
static inline int64_t task_after(int64_t content_ns)
{
	int64_t now = model_now_ns();
	return now > content_ns ? now : content_ns + 1;
}
/* Inside a transaction: deletes the task's row (its last write). */
int task_delete_row(struct model_conn *c, int64_t id);
/* The task's row goes in a transaction of its own, and nothing else
 * (nothing left to do): 0, or 0 with r->lost when it was not ours. */
int task_drop_row(struct task_run *r);
/* Puts the task back in the queue for another runner (yielded: as its
 * account's turn given back, task.c's fair share). */
int task_requeue(struct task_run *r);
/* The pause before a task that failed retries runs in a row is claimed
 * again: TASK_RETRY_MIN_NS << retries, at most TASK_RETRY_MAX_NS. */
int64_t task_retry_pause_ns(int64_t retries);
/* Fair share's time slice (SPEC §8; task.c): whether a task that can stop
 * now and resume later at no cost should give its worker back — it has run
 * for the slice (model_import_slice) and a task of another account waits
 * that the next claim would take first and that this process has no
 * worker free for.  Asked at most once a second (r->yield_checked_ns); a
 * true answer sets r->yielded, and the caller stops as at an unmount
 * (r->stopped). */
bool task_yield_due(struct task_run *r);
/* In the caller's transaction: the image's progress (0..99) from
 * r->bytes_done and the row's bytes_total. */
int task_image_progress(struct model_conn *c, struct task_run *r);
/* One short transaction: bytes_done and the image's progress.  1 to go
 * on, 0 when the task was lost. */
int task_progress(struct task_run *r);
/* Whether a progress write is due (TASK_PROGRESS_NS since the last one);
 * if so, the time is taken as the last one's. */
bool task_progress_due(struct task_run *r);
/* What a kind runs between chunks, done the bytes gone through so far:
 * 1 to stop (the runner stops: r->stopped set; or the task was lost),
 * else 0, after a progress write of done when one is due. */
int task_tick(struct task_run *r, uint64_t done);

/* What a kind removes when its task fails, inside the failure's
 * transaction (may be NULL). */
typedef int (*task_undo_fn)(struct model_conn *c, struct task_run *r, void *arg);
/* The log line of a task or upload that ended its image in error (§9:
 * background failures reach the log, not only `error`). */
void task_log_failure(model *m, int64_t image_id, const char *what, const char *reason);
/* Fails the task in one transaction: undo(c, r, arg), the image (pending
 * or replicating) to error with the formatted reason, the row deleted,
 * the changes logged; then task_log_failure.  0 or -errno (0 too when the
 * task was lost). */
int task_fail(struct task_run *r, task_undo_fn undo, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- rows a task makes (in the caller's transaction unless said) ---- */

/* A destination blob "being written": no manifest, no wblob; its chunks
 * sealed under data key key_id (0: plain; SPEC §17). */
int task_insert_blob(struct model_conn *c, int64_t region_id, uint64_t size, int64_t key_id, int64_t *id_out);
/* A snapshot `creating` over a blob being written, logged. */
struct task_snap_new {
	int64_t region_id, account_id;
	const char *name, *description;
	uint64_t size;
	int64_t blob_id;
};
int task_insert_snapshot(struct model_conn *c, const struct task_snap_new *sn, int64_t *id_out);
/* Logs a change of what the task reads (an instance's busy state, an
 * image's `task` file). */
int task_log_source(struct model_conn *c, struct task_run *r);
/* The durable point of one device, its own transaction: the manifest in
 * the destination blob, its snapshot (if any) available, the image's
 * progress from r->bytes_done, and r->device_done.  0 (also when the task
 * was lost: r->lost), -errno. */
int task_device_done(struct task_run *r, int64_t blob_id, int64_t snap_id, const blob_manifest *man);
/* The last transaction: the devices mapped (§2.2), the image (pending or
 * replicating) available with vda's size and vda's SHA-256 (§2.1: one its
 * blob has, a source's with the same manifest, else read once here,
 * before the transaction; an unmount meanwhile stops it: r->stopped), the
 * row deleted, changes logged. */
struct task_dev {
	int idx;
	int64_t blob_id;
	int64_t snap_id;  /* 0: an image file */
	int64_t src_blob; /* a blob of the same bytes (a raw conversion's, a copy's source), 0 none */
};
int task_finish(struct task_run *r, const struct task_dev *devs, int n);
/* The SHA-256 of blob_id (§2.1) for a task making it, found without a
 * read: the one its row has (an upload hashed as it was written, a
 * resumed task's), or one a blob of the same manifest has (src_blob, or a
 * blob holder took by reference; man, or, NULL, its row's manifest).  1
 * with out set ("" when not known: the checksum pass reads it once the
 * image is available), -errno. */
int task_blob_sha256(struct task_run *r, int64_t blob_id, int64_t src_blob, int64_t holder,
                     const blob_manifest *man, char out[65]);

/* ---- images made from images (convert.c, copy.c) ---- */

/* A new private cloud image made from src (pending, format raw, src's
 * attributes and tags, origin recorded; encrypted in src's lineage when
 * src is, SPEC §17), logged.  In the caller's transaction. */
struct task_image_new {
	int64_t region_id;
	const char *name, *description, *source, *origin_kind;
	uint64_t size;
};
int task_insert_image(struct model_conn *c, const struct model_image *src, const struct task_image_new *n,
                      int64_t *id_out);
/* A device of such a task: its source blob, the blob it writes (the same
 * blob: a snapshot referenced by both images, nothing to write) and the
 * snapshot over it.  args holds one line per device,
 * "<idx> <src blob> <dst blob> <snapshot id>", vda first. */
struct task_pdev {
	int idx;
	int64_t src_blob, dst_blob, snap_id;
};
struct task_plan {
	const struct task_pdev *d;
	int n;
};
/* The queued task row of a capture ('instance' source), conversion or copy
 * ('image' source): one args line per device; host: the one it must run
 * on ("" any). */
int task_insert_row(struct model_conn *c, const char *kind, int64_t image_id, const char *source_kind,
                    int64_t source_id, const struct task_pdev *d, int n, uint64_t total, const char *host);
/* The devices back from args: their count, or -EINVAL for args this
 * version did not write. */
int task_args_parse(const char *args, struct task_pdev *d, int max);
/* task_fail's undo for such a task (arg: a struct task_plan): the
 * snapshots and blobs it created go; referenced snapshots stay. */
int task_undo_devs(struct model_conn *c, struct task_run *r, void *arg);

/* ---- the kinds ---- */

/* capture.c: an instance's disks into a private image (SPEC §5.1). */
int capture_run(struct task_run *r);
/* convert.c: a local image's raw or QCOW2 disk into a cloud image (§6.2). */
int convert_run(struct task_run *r);
/* copy.c: a cloud image into another region (§6.3), at most
 * MODEL_COPIES_RUNNING per account at once (copy_claimable). */
int copy_run(struct task_run *r);
int copy_claimable(struct model_conn *c, int64_t task_id);
/* Tasks of kind of task_id's account running under live runners, task_id
 * itself not counted. */
int task_account_running(struct model_conn *c, int64_t task_id, const char *kind);
/* upload.c: an uploaded file validated and sealed into an image (§5.3);
 * its housekeeping ends uploads whose process died (model_upload_reap). */
int upload_run(struct task_run *r);
void upload_housekeeping(model *m);
/* import.c: a URL downloaded into an image (§5.2), then finished as an
 * upload is. */
int import_run(struct task_run *r);
/* At most MODEL_IMPORTS_RUNNING of an account at once, one worker left
 * for the other kinds (the kind's claimable). */
int import_claimable(struct model_conn *c, int64_t task_id);
/* destroy.c: an image in the recycle bin destroyed (§16 "deleting"): its
 * rows, then the chunks nothing else names, then its row. */
int destroy_run(struct task_run *r);
/* checksum.c: the whole-blob hashes (§2.1 sha256, §2.3 xxh128) an image's
 * disks did not get on their way in, one pass in the background; at most
 * one per process at once (checksum_claimable). */
int checksum_run(struct task_run *r);
int checksum_claimable(struct model_conn *c, int64_t task_id);
/* inspect.c (SPEC §20): an image's inspection, the service's own work. */
int inspect_run(struct task_run *r);
int inspect_claimable(struct model_conn *c, int64_t task_id);
/* Whether a task someone asked for (not a checksum) waits for a worker
 * that this process has none free for: a checksum pass gives its own back. */
bool task_asked_waiting(struct task_run *r);

/* ---- upload.c's pieces that import.c reuses (URL import, §5.2) ---- */

/* "<blob id> <idx>\n" of an upload's or import's args; what follows goes
 * to *rest (rest NULL: nothing may follow).  0 or -EINVAL. */
int upload_parse(const char *args, int64_t *blob_id, int *idx, const char **rest);
/* -EPERM unless img is a queued private (idx 0) or ISO (idx 26) image. */
int upload_check_image(const struct model_image *img, int idx, struct model_err *err);
/* In the caller's transaction: u's blob row naming a new empty wblob
 * "u<blob id>" (u->region_id in, u->blob_id and u->wblob out), its
 * chunks sealed under key_id (0: plain; SPEC §17). */
int upload_new_blob(struct model_conn *c, blob_store *s, struct model_upload *u, int64_t key_id);
/* After the commit that stopped naming it. */
void upload_remove_wblob(model *m, int64_t region_id, const char *name);
/* The task's image ends in error with the reason, its rows (task, device,
 * blob) gone, the wblob removed after the commit; 0 also when lost. */
int upload_fail(struct task_run *r, int64_t blob_id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Validates the whole file in w (format, §5.4) and seals it: the image
 * available, or in error with the reason. */
int upload_seal(struct task_run *r, int64_t blob_id, blob_wblob *w, const char *wblob);

/* Runner id is known over (model/meta/host.c, issue 47): here, its
 * process is gone; another host's only once `host remove` forgot it (a
 * lapsed lease is no proof: a cut-off host still runs, and still holds its
 * files).  false when it cannot be told. */
bool model_runner_ended(struct model_conn *c, const char *id);
/* Runner id is another host's that missed two renewals of its lease:
 * whatever it runs shows no rate (it is not known to move). */
bool model_runner_silent(struct model_conn *c, const char *id);

#endif

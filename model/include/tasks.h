/*
 * tasks.h — the background tasks (SPEC §2.1 `task`, §5, §6, §8; task/):
 * the queue and its runners, and what starts each kind — capture (§5.1),
 * conversion (§6.2), cross-region copy (§6.3), upload (§5.3) and URL
 * import (§5.2).
 *
 * Who calls it: fs/ (the writes that start a task, `task` and `cancel`;
 * a mount's worker threads run model_task_work in a loop), the admin
 * command line (task listing).  Claiming is one guarded UPDATE, so no
 * task runs twice, across threads, processes or hosts.
 *
 * Errors: -errno with the reason; a refusal changes nothing (SPEC §9).
 * A task that fails ends its image in `error` with the reason there.
 */
#ifndef IMGFS_MODEL_TASKS_H
#define IMGFS_MODEL_TASKS_H

#include <stdatomic.h>

#include "images.h"

/* ---- background tasks (task.c) -------------------------------------------- */

/* Capture (§5.1): writing `instance <vm> [<dev>...]` to a queued private
 * image's source.  vm_id resolved in the caller's view; devs are the data
 * devices (indexes 1..25) to capture as snapshots.  In one transaction:
 * checks (instance stopped: -EBUSY; devices attached: -ENOENT; snapshot
 * quota: -EDQUOT), the image goes queued -> pending with its type from the
 * system disk and `source` recorded, snapshot rows are created `creating`
 * (counted by the quota from now on), and a capture task is queued. */
int model_image_capture(model *m, int64_t image_id, int64_t vm_id, const int *devs, int ndevs,
                        struct model_err *err);

/* A task row as `task` shows it (SPEC §2.1). */
struct model_task {
	int64_t id;
	char kind[16];          /* a name in model/task/kinds.c: capture, convert, copy, upload, import, destroy, checksum */
	int64_t image_id;       /* the image it makes */
	char source_kind[16];   /* "instance" or "image" */
	int64_t source_id;
	char state[16];         /* queued, running (done and error rows are deleted) */
	int position;           /* place in the queue (1 = next), 0 when running */
	uint64_t bytes_done, bytes_total;
	int64_t started, updated; /* unix seconds; 0 until started */
	double rate;            /* bytes/s since started */
	/* The host running it (running), or the one it must run on (queued
	 * and bound to one); "" when neither. */
	char host[MODEL_HOST_MAX + 1];
	/* Orphaned (state "orphaned"): its runner is gone — its host's lease
	 * lapsed, or on this host its process died — or it is bound to a host
	 * whose lease lapsed, and no other host has taken it; since when
	 * (unix seconds: the lapse, or for a process of this host the task's
	 * last update).  0: not orphaned. */
	int64_t orphaned_since;
	/* Queued, of an encrypted image, and this process cannot open its
	 * data key (SPEC §17): it waits for a host that can. */
	bool waits_key;
};
/* The task working on the image, as target or as source (not a background
 * checksum pass, which is the service's own: §2.1 sha256): 0, -ENOENT. */
int model_task_of_image(model *m, int64_t image_id, struct model_task *out);

/* Runs queued tasks and resumes interrupted ones.  A runner is a process
 * (one per mount); its worker threads call model_task_work() in a loop.
 * Claiming is one guarded UPDATE in a write transaction, so no task runs
 * twice, even with two processes on one state directory; a task whose
 * runner died (its pid is gone or belongs to another process now) is
 * claimed again and resumed. */
/* Claims and runs one task; 1 when it ran one, 0 when none was runnable,
 * -errno on a database error.  *stop is polled between chunks: a task
 * stopped that way is left to be resumed by the next runner. */
int model_task_work(model *m, const atomic_bool *stop);
/* Tasks this process runs now (what a stop that gives up abandons). */
int model_task_running_here(model *m);
/* Housekeeping a runner does now and then: recycle-bin expiry. */
int model_task_housekeeping(model *m, int64_t now);

/* Imports of one account that run at once; more wait in the queue. */
#define MODEL_IMPORTS_RUNNING 2

/* The number of task workers of this process: imports leave one free. */
void model_set_workers(model *m, unsigned n);

/* ---- conversion (§6.2, convert.c) and cross-region copy (§6.3, copy.c) ---- */

/* Writing `convert` of a private local available image: a new private
 * cloud image named name ("" : "<source name>-cloud") is created pending,
 * with a new snapshot `creating` for its vda (named like it) and the
 * source's data-disk snapshots referenced (not copied), and a conversion
 * task is queued: a raw image file is taken by reference (its chunks are
 * the raw disk), a QCOW2 one decoded.  Refusals, before anything changes:
 * not private -EPERM; a cloud image -EINVAL; not available -EINVAL (as for
 * rebuild); a conversion of it running -EBUSY; name rules (§10); the name
 * taken -EEXIST; private-images or snapshots quota -EDQUOT.  The source
 * cannot be deleted until the task ends. */
int model_image_convert(model *m, int64_t image_id, const char *name, int64_t *id_out, struct model_err *err);

/* mkdir private/<name>/copies/<region>: a copy of a private cloud available
 * image in region_id, created pending (same name, attributes, description
 * plus lineage, snapshots `creating` in the target region, quotas reserved
 * there), and a copy task queued.  Refusals, before anything changes: not
 * private -EPERM; local, or not available -EINVAL; the same region
 * -EINVAL; a copy of it to that region running -EBUSY, or still there
 * (in private/, by any name) -EEXIST; the name taken there -EEXIST; the
 * target's private-images or snapshots quota -EDQUOT.  At most
 * MODEL_COPIES_RUNNING copies of one account run at once; the others wait
 * queued. */
#define MODEL_COPIES_RUNNING 5
int model_image_copy(model *m, int64_t image_id, int64_t region_id, int64_t *id_out, struct model_err *err);
/* The copies made of an image that are still in their region's private/,
 * in region id order (copies/ lists them by region name). */
int model_image_copies(model *m, int64_t image_id, int (*cb)(void *arg, const struct model_image *copy), void *arg);
/* The copy of image_id in region_id: 0, -ENOENT. */
int model_image_copy_in(model *m, int64_t image_id, int64_t region_id, struct model_image *out);
/* When copies/ of the image last changed: the newest of its own directory
 * time and the ctime of every copy made of it (in any folder, so a copy
 * leaving private/ counts); 0 on error. */
int64_t model_image_copies_mtime(model *m, int64_t image_id);

/* ---- uploads (§5.3, upload.c) ---------------------------------------------- */

/* An upload in progress, as model_upload_begin made it. */
struct model_upload {
	int64_t image_id, blob_id, task_id, region_id;
	enum model_folder folder;
	int idx;          /* 0 (vda) in private/, 26 (cdrom) in iso/ */
	char wblob[64];   /* the writable blob receiving the bytes */
	bool opaque;      /* its disk_format is aki, ari or ami (SPEC §19): any bytes, kept as sent */
	/* Set by the uploader before its close or stage, "" when not hashed:
	 * the MD5 and SHA-512 of the bytes, hashed beside the SHA-256 (Glance's
	 * `checksum` and `os_hash_value`, SPEC §19.5), kept with the blob. */
	char md5[33];
	char sha512[129];
};
/* Creating disks/<dev> of a queued private or ISO image starts an upload,
 * in one transaction: queued -> uploading, a writable blob (created before
 * the commit), its device row (disks/<dev> appears) and an 'upload' task
 * in state 'open' held by this process (no runner claims it; if this
 * process dies with it open, model_upload_reap ends it in error).
 * -EPERM when the image is not queued (or not private/ISO), -EINVAL for a
 * device other than vda (private/) or cdrom (iso/). */
int model_upload_begin(model *m, int64_t image_id, int idx, struct model_upload *out, struct model_err *err);
/* What the upload's first bytes are (1 decided: *format_out; 0 not yet;
 * -EINVAL with the reason: no known format, or one the folder does not
 * take — ISO only in iso/, QCOW2 or raw only in private/).  more: the file
 * may hold bytes beyond len. */
int model_upload_sniff(enum model_folder folder, const void *head, size_t len, bool more, const char **format_out,
                       struct model_err *err);
/* The same for an upload: an opaque one (aki, ari, ami, SPEC §19) takes
 * any bytes as raw. */
int model_upload_sniff_for(const struct model_upload *u, const void *head, size_t len, bool more,
                           const char **format_out, struct model_err *err);
/* Records the sniffed format (the `format` file shows it from now on). */
int model_upload_sniffed(model *m, const struct model_upload *u, const char *format);
/* While the file is written (SPEC §4): the task's bytes-done (done, the
 * bytes written so far) and bytes-total (total: the size the file was
 * given ahead of its bytes, 0 when unknown), and the image's progress —
 * done against total, else against estimate (a QCOW2's virtual size: it
 * moves, under 100), else 0.  One short transaction; nothing when the
 * upload was cancelled meanwhile. */
int model_upload_progress(model *m, const struct model_upload *u, uint64_t done, uint64_t total, uint64_t estimate);
/* A refused first write: the upload is abandoned as if it never began
 * (uploading -> queued, device, blob and task rows gone, the wblob removed
 * after the commit), the reason in `error`. */
int model_upload_abandon(model *m, const struct model_upload *u, const char *reason);
/* The last writer closed the file (the caller has fsynced the wblob):
 * the task is queued for a runner, which validates and seals it.
 * sha256: the file's SHA-256 (§2.1) as its writes arrived, "" (or NULL)
 * when they could not be hashed so (out of order, more holes than bytes:
 * fs/fuse/upload.c) — the image then gets it from the background checksum
 * pass once available; xxh128 the XXH3-128 of the same bytes (§2.3), kept
 * only with a sha256.  -ENOENT when the upload was cancelled meanwhile. */
int model_upload_close(model *m, const struct model_upload *u, uint64_t size, uint64_t stored, const char *sha256,
                       const char *xxh128);
/* Whether the upload's task still exists (a cancel from another mount
 * deletes it). */
bool model_upload_alive(model *m, const struct model_upload *u);
/* Writing `cancel`: an upload in progress (file open, or closed and
 * waiting for or being validated by its task) ends in error, reason
 * "cancelled"; its rows go and its wblob is removed.  -EPERM when nothing
 * is in progress. */
int model_upload_cancel(model *m, int64_t image_id, struct model_err *err);
/* The same with another reason, for the upload u only (its file could not
 * be made durable on close, say). */
int model_upload_fail(model *m, const struct model_upload *u, const char *reason);
/* Housekeeping: uploads left 'open' by a process that died (a mount killed
 * while the file was open) end in error, "the upload was interrupted".
 * Returns how many (>= 0). */
int model_upload_reap(model *m);
/* The full check of an uploaded file (what the task does before sealing):
 * its format from its first len bytes (head) and its size, the folder's
 * rule, the format's own check (blobstore/format/format.h) and the attributes'
 * (§5.4).  0 with *format_out and *vsize_out, or -EINVAL with why. */
int model_upload_validate(enum model_folder folder, const void *head, size_t len, uint64_t file_size,
                          const struct model_import_attrs *attrs, const char **format_out, uint64_t *vsize_out,
                          struct model_err *err);

/* ---- URL import (§5.2, import.c) ---- */

/* The largest file a URL import takes (1 TiB): a server announcing more is
 * refused before a byte is stored, one sending more is stopped there. */
#define MODEL_IMPORT_MAX_SIZE (1ULL << 40)
/* Writing "url <URL>" to `source` of a queued private or ISO image: the URL
 * is checked (-EINVAL with the reason: not http, https or ftp, malformed),
 * then in one transaction queued -> uploading, `source` "url <URL>" with
 * the password shown as ***, a writable blob, the device row and an
 * 'import' task (queued) that downloads it and finishes it like an upload.
 * -EPERM when the image is not a queued private or ISO image.  Cancelled
 * with model_upload_cancel. */
int model_image_import_url(model *m, int64_t image_id, const char *url, struct model_err *err);
/* Whether an image's `source` says it is (or was) imported from a URL. */
bool model_image_is_url_import(const struct model_image *img);

#endif

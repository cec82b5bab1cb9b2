/*
 * upload.c — uploads (SPEC §5.3): copying a file to disks/vda of a queued
 * private image (disks/cdrom of a queued ISO image) makes the image.
 *
 * Who calls it: fs/fuse/upload.c (create, the first writes, the last close,
 * `cancel`), the task engine (task.c runs the 'upload' task and reaps
 * uploads of dead processes in its housekeeping), the unit tests; URL
 * import (import.c) reuses the blob, the end (upload_seal, upload_fail)
 * and cancel, which ends an 'import' task as it ends an 'upload'.
 * Workload: one upload per image, gigabytes each, written by one `cp`.
 *
 * The life of an upload, each step one transaction:
 *
 *   begin    (create)     queued -> uploading; a blobs row naming a writable
 *                         blob "u<blob id>" (the file is created before the
 *                         commit, removed if the commit fails); a devices
 *                         row, so disks/<dev> exists and resolves from any
 *                         mount; a tasks row kind 'upload', args
 *                         "<blob id> <idx>", state 'open', claimed_by this
 *                         process's runner id.  No runner claims 'open'.
 *                         A writers row for the task (writer.c): every gc,
 *                         on any host, keeps the chunks the file streams
 *                         until the row goes with the task.
 *   sniffed  (first write) the format the first bytes show, in `format`.
 *   abandon  (first write refused) back to queued, every row of the upload
 *                         gone, the reason in `error`; the wblob removed after.
 *   close    (last release; the caller fsynced the wblob first) 'open' ->
 *                         'queued': from now on a runner validates and seals.
 *   stage    (the image API's PUT .../stage, SPEC §19) 'open' -> 'staged':
 *                         the bytes are in and durable, held by no
 *                         process; an import (POST .../import) moves it to
 *                         'queued', as a close does.  No runner claims
 *                         'staged'; a cancel or a delete ends it as any.
 *   run      (the task)   full validation (blobstore/format/format.h and §5.4), the
 *                         wblob sealed into a manifest (all-zero chunks become
 *                         holes), then one transaction: the blob sealed, the
 *                         image available with its format, size and type, the
 *                         task deleted; the wblob removed after.  A refusal:
 *                         the image in error with the reason, the rows gone.
 *   cancel   (`cancel`)   whatever the task's state, the rows go and the
 *                         image is in error, "cancelled"; a runner sealing it
 *                         finds its task gone at its next progress write and
 *                         stops; writes still arriving fail (fs/).
 *   reap     (housekeeping) an 'open' task whose process died (a mount
 *                         killed with the file open) ends in error, "the
 *                         upload was interrupted": what was written may be a
 *                         prefix of the file, so it is never validated.  The
 *                         wblob goes after the commit — when the reaper is
 *                         another host, its files stay in the dead host's
 *                         state directory until that host's next mount
 *                         sweeps them (model_wblobs_sweep, fsck.c).
 *
 * Durability (§11): fs/ streams the wblob (whole 1 MiB chunks go straight
 * into the store, the rest into the overlay), so the bytes are written
 * once and the seal copies nothing it streamed; close(2) returns after
 * FLUSH, which fsyncs the wblob (every streamed chunk durable and named by
 * it), and RELEASE follows at once and queues the task — a crash before or
 * between them finds an 'open' task and ends it in error, never in a wrong
 * available image.  A crash while the
 * task runs leaves the task 'running' under a dead runner: the next runner
 * claims it and validates and seals again from the wblob, which is removed
 * only after the commit that stops naming it (a crash in between leaves an
 * unreferenced wblob file, which fsck --repair removes).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format.h"
#include "qcow2.h"
#include "qcow2_in.h"
#include "task_int.h"

#define CDROM_IDX 26

/* ---- pure checks ---------------------------------------------------------------- */

/* The format a folder takes: QCOW2 or raw in private/, ISO in iso/. */
static int folder_takes(enum model_folder folder, enum blob_format f, struct model_err *err)
{
	if (folder == MODEL_FOLDER_ISO && f != BLOB_FORMAT_ISO)
		return model_fail(err, -EINVAL, "only ISO 9660 images go to iso/ (this file is %s)", blob_format_name(f));
	if (folder != MODEL_FOLDER_ISO && f == BLOB_FORMAT_ISO)
		return model_fail(err, -EINVAL, "ISO images go to iso/");
	return 0;
}

#define NO_FORMAT "the file is of no known format: not QCOW2, not ISO 9660, not a raw disk with an MBR or a GPT"
/* SPEC §17, word for word: imgfs encrypts an image's chunks itself. */
#define ENCRYPTED_FILE "encrypted QCOW2/LUKS files are not accepted: upload the plain disk and set encrypted to yes"

/* The reason for a file of a format imgfs does not take, naming it; an
 * encrypted file (LUKS, a QCOW2 with a crypt_method) gets SPEC §17's. */
static int unsupported(const void *head, size_t len, struct model_err *err)
{
	const char *name = blob_format_unsupported(head, len);
	if (blob_format_encrypted(head, len))
		return model_fail(err, -EINVAL, ENCRYPTED_FILE);
	if (name)
		return model_fail(err, -EINVAL, "%s is not supported: convert it to QCOW2 with qemu-img convert -O qcow2",
		                  name);
	return model_fail(err, -EINVAL, NO_FORMAT);
}

int model_upload_sniff(enum model_folder folder, const void *head, size_t len, bool more, const char **format_out,
                       struct model_err *err)
{
	enum blob_format f;
	int rc = blob_format_sniff(head, len, more, &f);

	/* An encrypted QCOW2 shows it in its first write (crypt_method at 32). */
	if (rc < 0 || blob_format_unsupported(head, len) || blob_format_encrypted(head, len))
		return unsupported(head, len, err);
	/* In private/ the first 512 bytes decide (§5.3): a QCOW2's magic, an
	 * MBR's or a GPT's protective MBR's signature.  Only iso/ needs to
	 * wait for the volume descriptor at 32 KiB: a sparse VMDK copied with
	 * cp is refused at its first write, not after its last. */
	if (rc == 0 && folder != MODEL_FOLDER_ISO && f == BLOB_FORMAT_UNKNOWN && len >= 512)
		return unsupported(head, len, err);
	/* An MBR in private/ is taken as raw at once: were it a hybrid ISO,
	 * the check on close refuses it. */
	if (rc == 0 && !(folder != MODEL_FOLDER_ISO && f == BLOB_FORMAT_RAW))
		return 0;
	if ((rc = folder_takes(folder, f, err)) < 0)
		return rc;
	*format_out = blob_format_name(f);
	return 1;
}

int model_upload_sniff_for(const struct model_upload *u, const void *head, size_t len, bool more,
                           const char **format_out, struct model_err *err)
{
	if (u->opaque) { /* aki, ari, ami (SPEC §19): kept as sent */
		*format_out = "raw";
		return 1;
	}
	return model_upload_sniff(u->folder, head, len, more, format_out, err);
}

int model_upload_validate(enum model_folder folder, const void *head, size_t len, uint64_t file_size,
                          const struct model_import_attrs *attrs, const char **format_out, uint64_t *vsize_out,
                          struct model_err *err)
{
	enum blob_format f;
	char why[256];
	int rc;

	if (file_size == 0)
		return model_fail(err, -EINVAL, "the file is empty");
	if (len > file_size)
		len = (size_t)file_size;
	/* len covers the file or BLOB_FORMAT_HEAD_LEN bytes: conclusive. */
	if (blob_format_sniff(head, len, false, &f) < 0 || blob_format_unsupported(head, len) ||
	    blob_format_encrypted(head, len))
		return unsupported(head, len, err);
	if ((rc = folder_takes(folder, f, err)) < 0)
		return rc;
	if (blob_format_check(f, head, len, file_size, vsize_out, why, sizeof(why)) < 0)
		return model_fail(err, -EINVAL, "%s", why);
	if ((rc = model_import_check(attrs, err)) < 0)
		return rc;
	*format_out = blob_format_name(f);
	return 0;
}

/* ---- rows ------------------------------------------------------------------------- */

static const char *folder_format(enum model_folder folder)
{
	return folder == MODEL_FOLDER_ISO ? "iso" : "";
}

/* Inside a transaction: the upload's task, device and blob rows go (the
 * caller removes the wblob after its commit). */
static int upload_drop_rows(struct model_conn *c, int64_t image_id, int64_t blob_id)
{
	db_stmt *st;
	int rc;
	if (!(st = model_stmt(c, SQL("DELETE FROM tasks WHERE image_id = ? AND kind IN ('upload', 'import')"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("DELETE FROM devices WHERE image_id = ? AND blob_id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	rc = model_blob_drop_unreferenced(c, blob_id);
	return rc < 0 ? rc : 0;
}

/* Inside a transaction: uploading -> to (queued or error) with the reason
 * in `error`; disks/ loses its entry.  -EBUSY when the image is no longer
 * uploading. */
static int upload_end_image(struct model_conn *c, int64_t image_id, enum model_folder folder,
                            enum model_image_status to, const char *reason)
{
	/* Back to queued, nothing of the upload stays: not its source either. */
	db_stmt *st = model_stmt(c, SQL("UPDATE images SET status = ?1, progress = 0, format = ?2, error = ?3, "
	                                 "error_ns = ?4, mtime_ns = ?4, ctime_ns = ?4, dir_mtime_ns = ?4, "
	                                 "source = CASE ?1 WHEN ?7 THEN '' ELSE source END "
	                                 "WHERE id = ?5 AND status = ?6"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int(st, 1, to);
	db_bind_text(st, 2, folder_format(folder));
	db_bind_text(st, 3, reason);
	db_bind_int64(st, 4, model_now_ns());
	db_bind_int64(st, 5, image_id);
	db_bind_int(st, 6, MODEL_IMG_UPLOADING);
	db_bind_int(st, 7, MODEL_IMG_QUEUED);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_changes(c) == 1 ? 0 : -EBUSY;
}

/* The upload's plan back from its task's args: "<blob id> <idx>\n", then
 * (an import's, import.c) more lines, into *rest; rest NULL: nothing may
 * follow. */
int upload_parse(const char *args, int64_t *blob_id, int *idx, const char **rest)
{
	int used = 0;
	if (sscanf(args, "%" SCNd64 " %d%n", blob_id, idx, &used) != 2 || args[used] != '\n' ||
	    (!rest && args[used + 1]) || *blob_id <= 0 || (*idx != 0 && *idx != CDROM_IDX))
		return -EINVAL;
	if (rest)
		*rest = args + used + 1;
	return 0;
}

/* The wblob a blob row names ("" when none). */
static void blob_wblob_name(model *m, int64_t blob_id, char out[64])
{
	struct model_blob b;
	out[0] = '\0';
	if (model_blob_get(m, blob_id, &b) == 0)
		memcpy(out, b.wblob, 64);
}

/* After the commit that stopped naming it.  A failure leaves an
 * unreferenced file, fsck's to remove. */
void upload_remove_wblob(model *m, int64_t region_id, const char *name)
{
	blob_store *s;
	if (name[0] && model_store(m, region_id, &s) == 0)
		blob_wblob_remove(s, name);
}

/* ---- begin ------------------------------------------------------------------------ */

int upload_check_image(const struct model_image *img, int idx, struct model_err *err)
{
	if (img->folder != MODEL_FOLDER_PRIVATE && img->folder != MODEL_FOLDER_ISO)
		return model_fail(err, -EPERM, "%s images cannot be uploaded to", model_folder_name(img->folder));
	if (img->status != MODEL_IMG_QUEUED)
		return model_fail(err, -EPERM, "an upload starts only while the image is queued (it is %s)",
		                  model_image_status_name(img->status));
	if (img->folder == MODEL_FOLDER_ISO && idx != CDROM_IDX)
		return model_fail(err, -EINVAL, "an ISO image is uploaded to disks/cdrom");
	if (img->folder == MODEL_FOLDER_PRIVATE && idx != 0)
		return model_fail(err, -EINVAL, "an image is uploaded to disks/vda");
	return 0;
}

/* The blob row and its (empty) wblob, created before the commit. */
int upload_new_blob(struct model_conn *c, blob_store *s, struct model_upload *u, int64_t key_id)
{
	db_stmt *st;
	int rc;
	if (!(st = model_stmt(c, SQL("INSERT INTO blobs(region_id, size, stored, manifest, wblob, mtime_ns, key_id) "
	                         "VALUES (?, 0, 0, NULL, NULL, ?, ?) RETURNING id"))))
		return -EIO;
	db_bind_int64(st, 1, u->region_id);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, key_id);
	if ((rc = model_insert(st, &u->blob_id)) < 0)
		return rc;
	snprintf(u->wblob, sizeof(u->wblob), "u%" PRId64, u->blob_id);
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET wblob = ? WHERE id = ?"))))
		return -EIO;
	db_bind_text(st, 1, u->wblob);
	db_bind_int64(st, 2, u->blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	rc = blob_wblob_create(s, u->wblob, NULL, 0);
	if (rc == -EEXIST) { /* a crashed transaction's leftover (row ids of rolled-back inserts come back) */
		blob_wblob_remove(s, u->wblob);
		rc = blob_wblob_create(s, u->wblob, NULL, 0);
	}
	return rc;
}

static int upload_new_rows(struct model_conn *c, struct model_upload *u)
{
	char me[MODEL_RUNNER_ID_MAX], args[64];
	db_stmt *st;
	int rc;
	if ((rc = model_runner_self(c->m, me)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("INSERT INTO devices(image_id, idx, blob_id, snapshot_id) VALUES (?, ?, ?, 0)"))))
		return -EIO;
	db_bind_int64(st, 1, u->image_id);
	db_bind_int(st, 2, u->idx);
	db_bind_int64(st, 3, u->blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	snprintf(args, sizeof(args), "%" PRId64 " %d\n", u->blob_id, u->idx);
	/* Its file is open on this host, and sealed from this host's copy. */
	if (!(st = model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, args, state, claimed_by, started, updated, host) "
	                         "VALUES ('upload', ?, ?, 'open', ?, ?4, ?4, ?5) RETURNING id"))))
		return -EIO;
	db_bind_int64(st, 1, u->image_id);
	db_bind_text(st, 2, args);
	db_bind_text(st, 3, me);
	db_bind_int64(st, 4, (int64_t)time(NULL));
	db_bind_text(st, 5, model_host(c->m));
	if ((rc = model_insert(st, &u->task_id)) < 0)
		return rc;
	/* Its file streams chunks into the store long before a manifest names
	 * them: gc keeps them from now until the task's row goes (writer.c). */
	if ((rc = model_writer_insert(c, u->region_id, u->task_id, "upload", NULL)) < 0)
		return rc;
	/* A new operation: the last one's reason goes; source says where the
	 * bytes come from (§2.1). */
	if (!(st = model_stmt(c, SQL("UPDATE images SET status = ?, progress = 0, source = 'upload', "
	                         "error_ns = CASE error WHEN '' THEN error_ns ELSE ?2 END, error = '', "
	                         "mtime_ns = ?2, ctime_ns = ?2, dir_mtime_ns = ?2 WHERE id = ? AND status = ?"))))
		return -EIO;
	db_bind_int(st, 1, MODEL_IMG_UPLOADING);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, u->image_id);
	db_bind_int(st, 4, MODEL_IMG_QUEUED);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_changes(c) == 1 ? 0 : -EBUSY;
}

int model_upload_begin(model *m, int64_t image_id, int idx, struct model_upload *out, struct model_err *err)
{
	struct model_image img;
	struct model_conn *c;
	blob_store *s = NULL;
	int64_t key_id;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if ((rc = upload_check_image(&img, idx, err)) < 0)
		goto out;
	*out = (struct model_upload){.image_id = image_id, .region_id = img.region_id, .folder = img.folder, .idx = idx,
	                             .opaque = model_disk_format_opaque(img.disk_format)};
	if ((rc = model_store(m, img.region_id, &s)) < 0) {
		model_fail(err, rc, "cannot open the blob store: %s", strerror(-rc));
		goto out;
	}
	/* An encrypted image's upload is sealed as it streams (SPEC §17). */
	if ((rc = model_image_key_ensure(c, &img, &key_id, err)) < 0)
		goto out;
	if ((rc = upload_new_blob(c, s, out, key_id)) < 0 || (rc = upload_new_rows(c, out)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, image_id, img.region_id, img.folder, NULL)) < 0) {
		/* Still under the write lock: nobody else can have taken the name. */
		if (out->wblob[0])
			blob_wblob_remove(s, out->wblob);
		out->wblob[0] = '\0';
		if (rc == -EBUSY)
			model_fail(err, rc, "the image changed status meanwhile");
		else
			model_fail(err, rc, "cannot start the upload: %s", strerror(-rc));
		goto out;
	}
out:
	if ((rc = model_write_end(c, rc, err)) < 0 && out->wblob[0])
		blob_wblob_remove(s, out->wblob); /* the commit failed: nothing names it */
	return rc;
}

/* ---- while the file is open ------------------------------------------------------ */

int model_upload_sniffed(model *m, const struct model_upload *u, const char *format)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE images SET format = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ? AND status = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, format);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, u->image_id);
	db_bind_int(st, 4, MODEL_IMG_UPLOADING);
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, u->image_id, u->region_id, u->folder, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

int model_upload_progress(model *m, const struct model_upload *u, uint64_t done, uint64_t total, uint64_t estimate)
{
	struct model_conn *c;
	db_stmt *st;
	int64_t now = model_now_ns();
	uint64_t of = total ? total : estimate;
	int pct = of ? (int)(done >= of ? 99 : done * 100 / of) : 0;
	int rc;
	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET bytes_done = ?, bytes_total = ?, updated = ? "
	                             "WHERE id = ? AND state = 'open'")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, (int64_t)done);
	db_bind_int64(st, 2, (int64_t)total);
	db_bind_int64(st, 3, now / 1000000000);
	db_bind_int64(st, 4, u->task_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) != 1) {
		rc = -ENOENT; /* cancelled (or closed) meanwhile */
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE images SET progress = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3 "
	                             "AND status = ?4")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, pct > 99 ? 99 : pct);
	db_bind_int64(st, 2, now);
	db_bind_int64(st, 3, u->image_id);
	db_bind_int(st, 4, MODEL_IMG_UPLOADING);
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, u->image_id, u->region_id, u->folder, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

int model_upload_abandon(model *m, const struct model_upload *u, const char *reason)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	if ((rc = upload_drop_rows(c, u->image_id, u->blob_id)) < 0 ||
	    (rc = upload_end_image(c, u->image_id, u->folder, MODEL_IMG_QUEUED, reason)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, u->image_id, u->region_id, u->folder, NULL)) < 0)
		goto out;
out:
	if ((rc = model_write_end(c, rc, NULL)) == 0)
		upload_remove_wblob(m, u->region_id, u->wblob);
	return rc;
}

/* close and stage: the task leaves 'open' for `to` ('queued': a runner
 * seals it; 'staged': it waits for an import, SPEC §19). */
static int upload_end_writes(model *m, const struct model_upload *u, uint64_t size, uint64_t stored,
                             const char *sha256, const char *xxh128, bool staged);

int model_upload_close(model *m, const struct model_upload *u, uint64_t size, uint64_t stored, const char *sha256,
                       const char *xxh128)
{
	return upload_end_writes(m, u, size, stored, sha256, xxh128, false);
}

int model_upload_stage(model *m, const struct model_upload *u, uint64_t size, uint64_t stored, const char *sha256,
                       const char *xxh128)
{
	return upload_end_writes(m, u, size, stored, sha256, xxh128, true);
}

int model_upload_import(model *m, int64_t image_id, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		rc = model_fail(err, rc, "no such image");
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET state = 'queued', updated = ? WHERE image_id = ? AND "
	                             "kind = 'upload' AND state = 'staged'")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, model_now_ns() / 1000000000);
	db_bind_int64(st, 2, image_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) != 1) {
		rc = model_fail(err, -EPERM, "nothing is staged: the image is %s", model_image_status_name(img.status));
		goto out;
	}
	rc = model_log_change(c, MODEL_CHANGE_IMAGE, img.id, img.region_id, img.folder, NULL);
out:
	return model_write_end(c, rc, err);
}

static int upload_end_writes(model *m, const struct model_upload *u, uint64_t size, uint64_t stored,
                             const char *sha256, const char *xxh128, bool staged)
{
	struct model_conn *c;
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;
	/* An encrypted upload's SHA-256 is kept sealed (§17), read before the
	 * transaction (its key may need a read). */
	char sha_stored[MODEL_SHA_STORED], xxh_stored[MODEL_SHA_STORED] = "";
	char md5_stored[MODEL_HASH512_STORED] = "", sha512_stored[MODEL_HASH512_STORED] = "";
	model_sha256_seal(m, u->blob_id, sha256, sha_stored);
	if (sha_stored[0]) { /* the others were hashed in the same pass */
		model_xxh128_seal(m, u->blob_id, xxh128, xxh_stored);
		model_md5_seal(m, u->blob_id, u->md5, md5_stored);
		model_sha512_seal(m, u->blob_id, u->sha512, sha512_stored);
	}
	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET state = ?, claimed_by = '', bytes_total = ?, updated = ? "
	                         "WHERE id = ? AND state = 'open'")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, staged ? "staged" : "queued");
	db_bind_int64(st, 2, (int64_t)size);
	db_bind_int64(st, 3, now / 1000000000);
	db_bind_int64(st, 4, u->task_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) != 1) {
		rc = -ENOENT; /* cancelled (or reaped) meanwhile */
		goto out;
	}
	/* stat and listings show the size until the seal records its own. */
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET size = ?, stored = ?, mtime_ns = ?, sha256 = ?, xxh128 = ?, "
	                             "md5 = ?, sha512 = ? WHERE id = ? AND manifest IS NULL")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, (int64_t)size);
	db_bind_int64(st, 2, (int64_t)stored);
	db_bind_int64(st, 3, now);
	db_bind_text(st, 4, sha_stored);
	db_bind_text(st, 5, xxh_stored);
	db_bind_text(st, 6, md5_stored);
	db_bind_text(st, 7, sha512_stored);
	db_bind_int64(st, 8, u->blob_id);
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, u->image_id, u->region_id, u->folder, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

bool model_upload_alive(model *m, const struct model_upload *u)
{
	struct model_conn *c;
	db_stmt *st;
	bool alive = true; /* a database error does not stop an upload */
	if (model_conn_get(m, &c) < 0 || !(st = model_stmt(c, SQL("SELECT 1 FROM tasks WHERE id = ? AND kind = 'upload'"))))
		return alive;
	db_bind_int64(st, 1, u->task_id);
	int rc = db_step(st);
	if (rc == DB_DONE)
		alive = false;
	db_reset(st);
	return alive;
}

/* ---- cancel and reap ------------------------------------------------------------ */

struct upload_task {
	int64_t task_id, image_id, blob_id;
	int idx;
	char state[16], claimed_by[MODEL_RUNNER_ID_MAX];
	char error[256]; /* "host H was removed" */
};

static void upload_task_fill(db_stmt *st, void *out)
{
	struct upload_task *t = out;
	char args[64];
	const char *rest;
	t->task_id = db_col_int64(st, 0);
	t->image_id = db_col_int64(st, 1);
	model_col_text(st, 2, args, sizeof(args));
	model_col_text(st, 3, t->state, sizeof(t->state));
	model_col_text(st, 4, t->claimed_by, sizeof(t->claimed_by));
	model_col_text(st, 5, t->error, sizeof(t->error));
	/* An import's URL follows (truncated here: only the first line counts). */
	if (upload_parse(args, &t->blob_id, &t->idx, &rest) < 0)
		t->blob_id = 0;
}

/* Inside a transaction: the image's upload ends in error with reason;
 * *wblob gets the name to remove after the commit. */
static int upload_end_in_error(model *m, struct model_conn *c, const struct model_image *img,
                               const struct upload_task *t, const char *reason, char wblob[64])
{
	int rc;
	blob_wblob_name(m, t->blob_id, wblob);
	if ((rc = upload_drop_rows(c, img->id, t->blob_id)) < 0 ||
	    (rc = upload_end_image(c, img->id, img->folder, MODEL_IMG_ERROR, reason)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_IMAGE, img->id, img->region_id, img->folder, NULL);
}

/* The image's upload ends in error with reason, whatever its task's state;
 * task_id 0: any upload task of the image.  -EPERM when none is in
 * progress. */
static int upload_end(model *m, int64_t image_id, int64_t task_id, const char *reason, struct model_err *err)
{
	struct upload_task t = {0};
	struct model_image img;
	struct model_conn *c;
	db_stmt *st;
	char wblob[64] = "";
	int rc;

	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if (!(st = model_stmt(c, SQL("SELECT id, image_id, args, state, claimed_by FROM tasks "
	                         "WHERE image_id = ? AND kind IN ('upload', 'import')")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, image_id);
	rc = model_one_row(st, upload_task_fill, &t);
	if (rc == -ENOENT || img.status != MODEL_IMG_UPLOADING || (task_id && t.task_id != task_id)) {
		rc = model_fail(err, -EPERM, "nothing to cancel: no upload or import is in progress (the image is %s)",
		                model_image_status_name(img.status));
		goto out;
	}
	if (rc >= 0)
		rc = upload_end_in_error(m, c, &img, &t, reason, wblob);
out:
	if ((rc = model_write_end(c, rc, err)) < 0)
		return rc;
	upload_remove_wblob(m, img.region_id, wblob);
	task_log_failure(m, image_id, "upload", reason);
	return 0;
}

int model_upload_cancel(model *m, int64_t image_id, struct model_err *err)
{
	return upload_end(m, image_id, 0, "cancelled", err);
}

int model_upload_fail(model *m, const struct model_upload *u, const char *reason)
{
	return upload_end(m, u->image_id, u->task_id, reason, NULL);
}

/* Ends one 'open' upload whose process died: again inside the write
 * transaction, the row must still be 'open' under the same runner. */
static int reap_one(model *m, const struct upload_task *dead)
{
	struct upload_task t = {0};
	struct model_image img;
	struct model_conn *c;
	db_stmt *st;
	char wblob[64] = "";
	bool reaped = false;
	int rc;

	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT id, image_id, args, state, claimed_by, error FROM tasks WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, dead->task_id);
	if ((rc = model_one_row(st, upload_task_fill, &t)) < 0 || strcmp(t.state, "open") != 0 ||
	    strcmp(t.claimed_by, dead->claimed_by) != 0) {
		rc = rc == -ENOENT ? 0 : rc;
		goto out;
	}
	const char *why = t.error[0] ? t.error
	                             : "the upload was interrupted (the file was still open when imgfs stopped)";
	if ((rc = model_image_get(m, t.image_id, &img)) < 0 || (rc = upload_end_in_error(m, c, &img, &t, why, wblob)) < 0)
		goto out;
	reaped = true;
out:
	if ((rc = model_write_end(c, rc, NULL)) < 0 || !reaped)
		return rc;
	upload_remove_wblob(m, img.region_id, wblob);
	task_log_failure(m, t.image_id, "upload", why); /* (its runner: t.claimed_by, over) */
	return 1;
}

struct reap_list {
	struct model_conn *c;
	int n;
	struct upload_task t[16];
};

static int reap_row(void *arg, db_stmt *st)
{
	struct reap_list *l = arg;
	struct upload_task t;
	upload_task_fill(st, &t);
	/* Only what is known to be over: this host's dead process, or a host
	 * `host remove` forgot.  Another host whose lease lapsed may be cut
	 * off, still holding the file and its writer (issue 47): that host
	 * ends its own uploads (or host remove does). */
	if (!model_runner_ended(l->c, t.claimed_by))
		return 0;
	l->t[l->n++] = t;
	return l->n == (int)(sizeof(l->t) / sizeof(l->t[0]));
}

/* How often a mount sweeps its wblob files (model_wblobs_sweep; at its
 * start too): each costs a lookup per file. */
#define UPLOAD_SWEEP_S 600

void upload_housekeeping(model *m)
{
	int64_t now = (int64_t)time(NULL);
	model_upload_reap(m);
	/* One housekeeper per mount (fs/fuse/worker.c): no race on swept_at. */
	if (now - m->swept_at >= UPLOAD_SWEEP_S) {
		m->swept_at = now;
		model_wblobs_sweep(m);
	}
}

int model_upload_reap(model *m)
{
	struct reap_list l = {0};
	struct model_conn *c;
	db_stmt *st;
	int rc, reaped = 0;

	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	l.c = c;
	if (!(st = model_stmt(c, SQL("SELECT id, image_id, args, state, claimed_by, error FROM tasks "
	                         "WHERE kind = 'upload' AND state = 'open' ORDER BY id"))))
		return -EIO;
	if ((rc = model_each_row(st, reap_row, &l)) < 0)
		return rc;
	for (int i = 0; i < l.n; i++) {
		if ((rc = reap_one(m, &l.t[i])) < 0)
			return rc;
		reaped += rc;
	}
	return reaped;
}

/* ---- the task: validate, seal, make available ----------------------------------- */

/* Ends the task's upload in error with the formatted reason, in one
 * transaction: its rows go (blob_id 0: the task row only, when the plan is
 * unreadable), the wblob is removed after the commit.  0 (also when the
 * task was lost: nothing done) or -errno. */
int upload_fail(struct task_run *r, int64_t blob_id, const char *fmt, ...)
{
	struct model_conn *c;
	char reason[256], wblob[64] = "";
	bool failed = false;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (blob_id)
		blob_wblob_name(r->m, blob_id, wblob);
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	if ((blob_id && (rc = upload_drop_rows(c, r->t.image_id, blob_id)) < 0) ||
	    (!blob_id && (rc = task_delete_row(c, r->t.id)) < 0))
		goto out;
	rc = upload_end_image(c, r->t.image_id, r->folder, MODEL_IMG_ERROR, reason);
	if ((rc < 0 && rc != -EBUSY) ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0)
		goto out;
	failed = true;
out:
	if ((rc = model_write_end(c, rc, NULL)) < 0 || !failed)
		return rc;
	upload_remove_wblob(r->m, r->region_id, wblob);
	task_log_failure(r->m, r->t.image_id, r->t.kind, reason);
	return 0;
}

/* Reads the file's first bytes (min(size, BLOB_FORMAT_HEAD_LEN)). */
static ssize_t read_head(blob_wblob *w, uint8_t *buf, uint64_t size)
{
	size_t want = size < BLOB_FORMAT_HEAD_LEN ? (size_t)size : BLOB_FORMAT_HEAD_LEN, got = 0;
	while (got < want) {
		ssize_t n = blob_wblob_pread(w, buf + got, want - got, got);
		if (n <= 0)
			return n < 0 ? n : -EIO;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int seal_progress(void *arg, uint64_t done, uint64_t total)
{
	(void)total;
	return task_tick(arg, done);
}

/* The last transaction: the blob sealed, the image available. */
static int upload_finish(struct task_run *r, int64_t blob_id, const char *wblob, const blob_manifest *man,
                         const char *format, uint64_t vsize, const char *sha, const char *xxh)
{
	struct model_conn *c;
	db_stmt *st;
	void *enc = NULL;
	size_t len = 0;
	int64_t sealed = model_now_ns(), now;
	bool done = false;
	int rc;

	char sha_stored[MODEL_SHA_STORED], xxh_stored[MODEL_SHA_STORED]; /* sealed when encrypted (§17) */

	if ((rc = blob_manifest_encode(&enc, &len, man)) < 0)
		return rc;
	r->bytes_done = man->size;
	model_sha256_seal(r->m, blob_id, sha, sha_stored);
	model_xxh128_seal(r->m, blob_id, xxh, xxh_stored);
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		goto out_free;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	now = task_after(sealed); /* the image's files are newer than its disk */
	/* xxh128 as the close kept it (hashed beside the SHA-256 as the writes
	 * arrived), or xxh (a blob taken whole by reference), else '' for
	 * the checksum pass queued below. */
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET manifest = ?1, size = ?2, stored = ?3, wblob = NULL, "
	                         "mtime_ns = ?4, sha256 = ?5, xxh128 = CASE WHEN ?8 = '' THEN xxh128 ELSE ?8 END "
	                         "WHERE id = ?6 AND wblob = ?7")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_blob(st, 1, enc, len);
	db_bind_int64(st, 2, (int64_t)man->size);
	db_bind_int64(st, 3, (int64_t)man->stored);
	db_bind_int64(st, 4, sealed);
	db_bind_text(st, 5, sha_stored);
	db_bind_int64(st, 6, blob_id);
	db_bind_text(st, 7, wblob);
	db_bind_text(st, 8, xxh_stored);
	/* Its manifest names what copies by reference took: their holds go. */
	if ((rc = model_exec_stmt(st)) < 0 || (rc = model_blob_release_holds(c, blob_id)) < 0)
		goto out;
	/* A private upload is a local image whose image file is the system
	 * disk (conversion makes a cloud image of it); an ISO is neither. */
	if (!(st = model_stmt(c, SQL("UPDATE images SET status = ?, progress = 100, format = ?, size = ?, type = ?, "
	                         "mtime_ns = ?5, ctime_ns = ?5 WHERE id = ? AND status = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, MODEL_IMG_AVAILABLE);
	db_bind_text(st, 2, format);
	db_bind_int64(st, 3, (int64_t)vsize);
	db_bind_int(st, 4, r->folder == MODEL_FOLDER_ISO ? 0 : MODEL_TYPE_LOCAL);
	db_bind_int64(st, 5, now);
	db_bind_int64(st, 6, r->t.image_id);
	db_bind_int(st, 7, MODEL_IMG_UPLOADING);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) != 1) {
		rc = -ESTALE; /* cancelled: the task row went with it, so task_touch saw it */
		goto out;
	}
	/* Whatever was not hashed on the way in (a file written out of order,
	 * more holes than bytes, an import's XXH3-128) is read in the
	 * background once the image is available (checksum.c). */
	if (!(st = model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, state) SELECT 'checksum', ?, 'queued' "
	                             "WHERE ? = '' OR EXISTS (SELECT 1 FROM blobs WHERE id = ? AND xxh128 = '')")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, r->t.image_id);
	db_bind_text(st, 2, sha);
	db_bind_int64(st, 3, blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	/* What is inside it, read in the background too (inspect.c, §20). */
	if (!(st = model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, state) SELECT 'inspect', ?, 'queued' WHERE ? != 0")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, r->t.image_id);
	db_bind_int(st, 2, c->m->inspector.fn != NULL); /* (a process that inspects: a mount) */
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if ((rc = task_delete_row(c, r->t.id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0)
		goto out;
	done = true;
out:
	if ((rc = model_write_end(c, rc, NULL)) == 0 && done)
		upload_remove_wblob(r->m, r->region_id, wblob);
out_free:
	free(enc);
	return rc;
}

static ssize_t wblob_read(void *arg, void *buf, size_t len, uint64_t off)
{
	return blob_wblob_pread(arg, buf, len, off);
}

/* A QCOW2 is judged whole (§5.3): every table and cluster it maps lies in
 * the file, so one cut short after its L1 table (an interrupted download)
 * ends in error now, not when it is first converted or used. */
static int qcow2_whole(blob_wblob *w, uint64_t size, struct model_err *err)
{
	qcow2_reader *q = NULL;
	char why[256];
	int rc = qcow2_reader_new(&q, wblob_read, w, size, why, sizeof(why));
	if (rc == 0 && (rc = qcow2_check_tables(q)) < 0)
		snprintf(why, sizeof(why), "%s", qcow2_reader_why(q));
	qcow2_reader_free(q);
	if (rc == -EINVAL)
		return model_fail(err, rc, "%s", why);
	return rc < 0 ? model_fail(err, rc, "upload failed: reading the file: %s", strerror(-rc)) : 0;
}

struct store_file {
	blob_store *s;
	const blob_manifest *man;
};

static ssize_t store_read(void *arg, void *buf, size_t len, uint64_t off)
{
	struct store_file *f = arg;
	return blob_store_read(f->s, f->man, buf, len, off);
}

int model_publish_disk(blob_store *s, const struct model_publish *p, const blob_manifest *file, blob_manifest **disk,
                       struct model_err *err)
{
#define OR_EMPTY(v) ((v) ? (v) : "")
	struct model_import_attrs attrs = {OR_EMPTY(p->os_type), OR_EMPTY(p->platform), OR_EMPTY(p->version),
	                                   OR_EMPTY(p->arch),    OR_EMPTY(p->boot_mode), OR_EMPTY(p->features)};
#undef OR_EMPTY
	struct store_file f = {s, file};
	const char *format = NULL;
	uint64_t size = file->size, vsize = 0;
	uint8_t *head = malloc(BLOB_FORMAT_HEAD_LEN);
	char why[256];
	ssize_t len;
	int rc;

	*disk = NULL;
	if (!head)
		return -ENOMEM;
	len = store_read(&f, head, size < BLOB_FORMAT_HEAD_LEN ? (size_t)size : BLOB_FORMAT_HEAD_LEN, 0);
	if (len < 0)
		rc = model_fail(err, (int)len, "reading the file: %s", strerror((int)-len));
	else
		rc = model_upload_validate(MODEL_FOLDER_PRIVATE, head, (size_t)len, size, &attrs, &format, &vsize, err);
	free(head);
	if (rc < 0)
		return rc;
	if (strcmp(format, "qcow2") != 0)
		return 0; /* the file is the disk */
	if ((rc = qcow2_in_decode(s, file, disk, NULL, NULL, why, sizeof(why))) < 0)
		return model_fail(err, rc, "%s", rc == -EINVAL ? why : strerror(-rc));
	return 0;
}

/* Validates the file and seals it; a refusal ends the task in error. */
int upload_seal(struct task_run *r, int64_t blob_id, blob_wblob *w, const char *wblob)
{
	struct model_import_attrs attrs;
	struct model_err err = {0};
	struct model_image img;
	blob_manifest *man = NULL;
	const char *format = NULL;
	uint64_t size = blob_wblob_size(w), vsize = 0;
	uint8_t *head;
	ssize_t len;
	int rc;

	if ((rc = model_image_get(r->m, r->t.image_id, &img)) < 0)
		return rc == -ENOENT ? upload_fail(r, blob_id, "upload failed: the image is gone") : rc;
	if (!(head = malloc(BLOB_FORMAT_HEAD_LEN)))
		return -ENOMEM;
	len = read_head(w, head, size);
	model_import_attrs_of(&img, &attrs);
	if (len < 0)
		rc = model_fail(&err, (int)len, "upload failed: reading the file: %s", strerror((int)-len));
	else if (model_disk_format_opaque(img.disk_format)) { /* kept as sent (SPEC §19): no disk to check */
		format = "raw";
		vsize = size;
		rc = size ? model_import_check(&attrs, &err) : model_fail(&err, -EINVAL, "the file is empty");
	} else
		rc = model_upload_validate(img.folder, head, (size_t)len, size, &attrs, &format, &vsize, &err);
	free(head);
	if (rc == 0 && strcmp(format, "qcow2") == 0)
		rc = qcow2_whole(w, size, &err);
	if (rc < 0)
		return upload_fail(r, blob_id, "%s", err.msg);
	rc = blob_wblob_seal_progress(w, &man, seal_progress, r);
	if (rc == -ECANCELED && (r->stopped || r->lost))
		return 0;
	if (rc < 0)
		return upload_fail(r, blob_id, "upload failed: storing the file: %s", strerror(-rc));
	/* The file's SHA-256 (§2.1): hashed as it was written (the mount's,
	 * recorded at close; an import's), the source's when it was taken
	 * whole by reference, else "" and read in the background once the
	 * image is available (an upload written out of order or with more
	 * holes than bytes, an import resumed after a restart): a seal that
	 * hashed a 1 TiB hole would hold its worker for ten minutes. */
	char sha[65], xxh[33] = "";
	struct model_blob b;
	/* Its XXH3-128 likewise (§2.3): kept at close, or the blob's taken. */
	if (model_blob_get(r->m, blob_id, &b) == 0 && !b.xxh128[0])
		model_blob_xxh128_reuse(r->m, 0, blob_id, man, xxh);
	if ((rc = task_blob_sha256(r, blob_id, 0, blob_id, man, sha)) > 0)
		rc = upload_finish(r, blob_id, wblob, man, format, vsize, sha, xxh);
	blob_manifest_free(man);
	return rc;
}

int upload_run(struct task_run *r)
{
	struct model_blob b;
	blob_wblob *w = NULL;
	int64_t blob_id;
	int idx, rc;

	if (upload_parse(r->t.args, &blob_id, &idx, NULL) < 0)
		return upload_fail(r, 0, "upload failed: its task record is unreadable");
	if (r->t.error[0]) /* its host was removed (host.c) */
		return upload_fail(r, blob_id, "upload failed: %s", r->t.error);
	if ((rc = model_blob_get(r->m, blob_id, &b)) < 0 || !b.wblob[0])
		return upload_fail(r, rc < 0 ? 0 : blob_id, "upload failed: its data is gone");
	if ((rc = model_wblob_open(r->m, &b, &w, NULL)) < 0)
		return upload_fail(r, blob_id, "upload failed: its data cannot be read: %s", strerror(-rc));
	rc = upload_seal(r, blob_id, w, b.wblob);
	blob_wblob_close(w);
	return rc;
}

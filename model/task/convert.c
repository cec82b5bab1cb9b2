/*
 * convert.c — type conversion (SPEC §6.2, seed 000): a private local image
 * becomes a new private cloud image whose system disk is a new snapshot of
 * the raw disk; the source stays, usable, locked against deletion and a
 * second conversion until the task ends.  A kind of background task (the
 * engine is task.c, the interface task_int.h).
 *
 * Who calls it: fs/ (a write to `convert`: model_image_convert), the task
 * engine (convert_run), the unit tests.
 *
 * Queueing (model_image_convert) checks everything and reserves in one
 * transaction: the new image pending (attributes, tags and description of
 * the source, `source` "convert <source id>", origin recorded), a blob
 * "being written" and a snapshot `creating` for its vda (counted by the
 * snapshots quota at once), and the task row: kind 'convert', source_kind
 * 'image' (which is what makes the source busy: model_image_remove refuses
 * while a task reads an image), args one line per device (task_int.h).
 * Data-disk snapshots are referenced by both images: their lines name the
 * same blob as source and destination, and nothing is written for them.
 * The new image is of the source's lineage (SPEC §17): encrypted when it
 * is, its blob under the same data key (a raw disk's manifest is taken as
 * it is; a decoded QCOW2's chunks are sealed under that key).
 *
 * Running (convert_run): the vda.
 *   raw    the source blob's manifest is the raw disk already: it becomes
 *          the snapshot blob's manifest as it is (no chunk read or written),
 *          so the task finishes at once.
 *   qcow2  decoded into a new blob by qcow2_in_decode
 *          (blobstore/format/qcow2_in.h), ticking progress and the stop
 *          request between chunks; its chunks are committed (durable and
 *          named) before the manifest is.
 * Then the durable point (task_device_done) and the last transaction
 * (task_finish: the devices mapped, the image available).  A resumed task
 * whose vda manifest is durable goes straight to the last transaction; one
 * interrupted mid-decode decodes again from the start (chunks stored by
 * the first run are found, not written).  A failure (a malformed QCOW2, a
 * chunk that does not match its hash, a full disk) leaves the image in
 * `error` with the reason; its snapshot and blob go, the referenced
 * data-disk snapshots stay (task_undo_devs).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2_in.h"
#include "task_int.h"

#define CONVERT_SUFFIX "-cloud" /* the new image's name on an empty write */

/* ---- queueing ------------------------------------------------------------------ */

/* The checks of §6.2 on the source, in the order a user meets them. */
static int conv_check_source(const struct model_image *src, struct model_err *err)
{
	if (src->folder != MODEL_FOLDER_PRIVATE)
		return model_fail(err, -EPERM, "only private images are converted (%s images are not)",
		                  model_folder_name(src->folder));
	if (src->type == MODEL_TYPE_CLOUD)
		return model_fail(err, -EINVAL, "a cloud image cannot be converted (conversion is local to cloud only)");
	if (src->status != MODEL_IMG_AVAILABLE)
		return model_fail(err, -EINVAL, "the image is %s, not available", model_image_status_name(src->status));
	if (src->type != MODEL_TYPE_LOCAL)
		return model_fail(err, -EINVAL, "only local images are converted");
	if (strcmp(src->format, "raw") != 0 && strcmp(src->format, "qcow2") != 0)
		return model_fail(err, -EINVAL, "a %s image cannot be converted", src->format);
	return 0;
}

/* -EBUSY while a conversion of the source is queued or running. */
static int conv_check_busy(struct model_conn *c, const struct model_image *src, struct model_err *err)
{
	db_stmt *st = model_stmt(c, SQL("SELECT 1 FROM tasks WHERE kind = 'convert' AND source_kind = 'image' "
	                                 "AND source_id = ? LIMIT 1"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, src->id);
	rc = db_step(st);
	db_reset(st);
	if (rc == DB_ROW)
		return model_fail(err, -EBUSY, "image %s is being converted already", src->name);
	return rc == DB_DONE ? 0 : db_errno(rc);
}

/* The new image's name: the one written, or "<source>-cloud". */
static int conv_name(const struct model_image *src, const char *name, char *out, size_t cap, struct model_err *err)
{
	if (name[0])
		snprintf(out, cap, "%s", name);
	else if ((size_t)snprintf(out, cap, "%s%s", src->name, CONVERT_SUFFIX) >= cap)
		return model_fail(err, -ENAMETOOLONG, "%s%s is too long a name", src->name, CONVERT_SUFFIX);
	return model_name_check(out, err);
}

/* The plan: vda to a new blob and snapshot, data disks referenced.  Fills
 * d (vda first) and returns the device count. */
static int conv_plan(model *m, struct model_conn *c, const struct model_image *src, const char *name,
                     struct task_pdev *d, struct model_err *err)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct task_snap_new sn = {src->region_id, src->account_id, name, "", src->size, 0};
	char desc[MODEL_NAME_MAX + 64];
	int n, rc;

	if ((n = model_device_list(m, src->id, devs)) < 0)
		return model_fail(err, n, "cannot list the devices of %s", src->name);
	if (n == 0 || devs[0].index != 0 || devs[0].kind != MODEL_DEV_IMAGE)
		return model_fail(err, -EINVAL, "image %s has no image file to convert", src->name);
	snprintf(desc, sizeof(desc), "system disk of %s, converted from %s", name, src->ext_id);
	sn.description = desc;
	d[0] = (struct task_pdev){0, devs[0].blob_id, 0, 0};
	if ((rc = task_insert_blob(c, src->region_id, src->size, src->key_id, &d[0].dst_blob)) < 0)
		return model_fail_db(err, rc);
	sn.blob_id = d[0].dst_blob;
	if ((rc = task_insert_snapshot(c, &sn, &d[0].snap_id)) < 0)
		return model_fail_db(err, rc);
	for (int k = 1; k < n; k++)
		d[k] = (struct task_pdev){devs[k].index, devs[k].blob_id, devs[k].blob_id, devs[k].snapshot_id};
	return n;
}

int model_image_convert(model *m, int64_t image_id, const char *name, int64_t *id_out, struct model_err *err)
{
	struct task_pdev d[MODEL_MAX_DEVICES];
	struct model_image src, other;
	struct model_conn *c;
	char newname[MODEL_NAME_MAX + 1], source[64];
	int64_t id;
	int n, rc;

	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &src)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if ((rc = conv_check_source(&src, err)) < 0 || (rc = conv_check_busy(c, &src, err)) < 0 ||
	    (rc = conv_name(&src, name, newname, sizeof(newname), err)) < 0)
		goto out;
	if (model_image_lookup(m, src.region_id, src.account_id, MODEL_FOLDER_PRIVATE, newname, &other) == 0) {
		rc = model_fail(err, -EEXIST, "an image named %s exists", newname);
		goto out;
	}
	if ((rc = model_quota_check(c, src.account_id, src.region_id, MODEL_QUOTA_PRIVATE_IMAGES, 1, err)) < 0 ||
	    (rc = model_quota_check(c, src.account_id, src.region_id, MODEL_QUOTA_SNAPSHOTS, 1, err)) < 0)
		goto out;
	/* By id (SPEC §12): the source may be renamed later. */
	snprintf(source, sizeof(source), "convert %s", src.ext_id);
	struct task_image_new ni = {src.region_id, newname, src.description, source, "convert", src.size};
	if ((rc = task_insert_image(c, &src, &ni, &id)) < 0 || (rc = n = conv_plan(m, c, &src, newname, d, err)) < 0)
		goto out;
	/* private/ and snapshots/ list the new entries; the source's `task`
	 * shows the conversion. */
	if ((rc = task_insert_row(c, "convert", id, "image", src.id, d, n, src.size, "")) < 0 ||
	    (rc = model_touch_region(c, src.region_id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, src.id, src.region_id, src.folder, NULL)) < 0)
		goto out;
out:
	if ((rc = model_write_end(c, rc, err)) == 0 && id_out)
		*id_out = id;
	return rc;
}

/* ---- running ------------------------------------------------------------------- */

/* Between chunks of the decode: the task's progress tick (task_tick). */
static int conv_decode_tick(void *arg, uint64_t done)
{
	return task_tick(arg, done);
}

/* The vda: its manifest durable in the destination blob unless a previous
 * run made it so.  0 when done, skipped, stopped or lost (see r), -errno
 * from the database; a failure of the bytes goes to *dev_err and why. */
static int conv_vda(struct task_run *r, const struct model_image *src, const struct task_pdev *d, int *dev_err,
                    char *why, size_t why_cap)
{
	struct model_blob dst, sb;
	blob_manifest *man = NULL, *out = NULL;
	blob_store *s;
	int rc;

	if ((rc = model_blob_get(r->m, d->dst_blob, &dst)) < 0)
		goto fail;
	if (dst.sealed)
		return 0; /* durable already: a resumed task */
	if ((rc = model_blob_get(r->m, d->src_blob, &sb)) < 0 || (rc = model_blob_manifest(r->m, d->src_blob, &man)) < 0 ||
	    (rc = model_store(r->m, sb.region_id, &s)) < 0)
		goto fail;
	if (strcmp(src->format, "qcow2") == 0) {
		rc = qcow2_in_decode(s, man, &out, conv_decode_tick, r, why, why_cap);
		blob_manifest_free(man);
		if (rc < 0)
			goto fail;
		if (!out)
			return 0; /* stopped or lost */
		man = out;
	}
	/* raw: the image file's manifest is the raw disk, taken as it is. */
	r->bytes_done = man->size;
	rc = task_device_done(r, d->dst_blob, d->snap_id, man);
	blob_manifest_free(man);
	return rc < 0 ? rc : 0;
fail:
	*dev_err = rc;
	return 0;
}

int convert_run(struct task_run *r)
{
	struct task_pdev d[MODEL_MAX_DEVICES];
	struct task_dev devs[MODEL_MAX_DEVICES];
	struct model_image img, src;
	char why[256] = "";
	int n, rc, dev_err = 0;

	if ((n = task_args_parse(r->t.args, d, MODEL_MAX_DEVICES)) < 0)
		return task_fail(r, NULL, NULL, "conversion failed: its task record is unreadable");
	struct task_plan plan = {d, n};
	if (r->t.error[0]) /* its host was removed (host.c) */
		return task_fail(r, task_undo_devs, &plan, "conversion failed: %s", r->t.error);
	if ((rc = model_image_get(r->m, r->t.image_id, &img)) < 0 || img.status != MODEL_IMG_PENDING)
		return task_fail(r, task_undo_devs, &plan, "conversion failed: the image is %s",
		                 rc < 0 ? "gone" : model_image_status_name(img.status));
	if (model_image_get(r->m, r->t.source_id, &src) < 0)
		return task_fail(r, task_undo_devs, &plan, "conversion failed: the source image is gone");
	if ((rc = conv_vda(r, &src, &d[0], &dev_err, why, sizeof(why))) < 0 || r->stopped || r->lost)
		return rc;
	if (dev_err == -EINVAL && why[0])
		return task_fail(r, task_undo_devs, &plan, "conversion failed: %s", why);
	if (dev_err)
		return task_fail(r, task_undo_devs, &plan, "conversion failed: %s vda: %s",
		                 dev_err == -ENOSPC ? "storing" : "reading", strerror(-dev_err));
	for (int k = 0; k < n; k++)
		devs[k] = (struct task_dev){d[k].idx, d[k].dst_blob, d[k].snap_id, d[k].src_blob};
	return task_finish(r, devs, n);
}

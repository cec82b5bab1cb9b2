/*
 * capture.c — the capture of an instance into a private image (SPEC §5.1,
 * seed 001), a kind of background task (task.c runs it: task_int.h).
 *
 * Who calls it: fs/ (writing `source` queues a capture: model_image_capture),
 * the task engine (capture_run), the unit tests.
 *
 * The task row: kind 'capture', source_kind 'instance', args one line per
 * captured device, "<idx> <src blob id> <dst blob id> <snapshot id or 0>".
 *
 * Capture.  model_image_capture() checks and reserves everything in one
 * transaction: the image goes queued -> pending with its type, format,
 * size and source; a destination blob row "being written" (no manifest,
 * no wblob) is created per device, a snapshot row `creating` for a cloud
 * vda and for every data disk (visible and counted by the quota at once),
 * and the task row; the image's lineage is decided there too (SPEC §17:
 * the instance's data key when its disks are encrypted, a new one when the
 * image is to be encrypted and has none).  The runner moves the image to
 * replicating, then seals
 * each instance disk (blob_wblob_seal_progress: unchanged chunks keep the
 * ids of the disk's base, the others are stored, deduplicated), and
 * records each manifest in its destination blob, with the snapshot
 * `available`, in one transaction: that is the durable point of a device,
 * and a resumed task skips every device whose blob has its manifest.  The
 * last transaction maps the devices and makes the image available; only
 * it does, after every manifest is durable (SQLite synchronous=FULL, chunk
 * files fsynced by the store), so a crash never yields an available image
 * with wrong bytes.  A failure removes every snapshot and blob row the
 * task created, leaves the image in `error` with the reason, and changes
 * nothing else (SPEC §4); chunks it stored are left to gc.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task_int.h"

/* ---- capture: the plan -------------------------------------------------------- */

/* One captured device. */
struct cap_dev {
	int idx;             /* 0 vda .. 25 vdz */
	int64_t src_blob;    /* the instance's disk (a wblob) */
	int64_t dst_blob;    /* being written: no manifest until sealed */
	int64_t snap_id;     /* 0: vda of a local image (the image file) */
	uint64_t size;
	char wblob[64];      /* the source's wblob name */
	int64_t src_key;     /* the disk's data key (SPEC §17), 0: plain */
};

static void dev_name(char out[8], int idx)
{
	snprintf(out, 8, "vd%c", 'a' + idx);
}

/* Orders the requested data devices, refusing repeats and non-data
 * devices; vda leads the plan. */
static int cap_select(const int *devs, int ndevs, int out[MODEL_VM_MAX_DISKS], struct model_err *err)
{
	bool seen[MODEL_VM_MAX_DISKS] = {false};
	int n = 0;
	char name[8];

	if (ndevs < 0 || ndevs > MODEL_VM_MAX_DISKS - 1)
		return model_fail(err, -EINVAL, "at most %d data disks", MODEL_VM_MAX_DISKS - 1);
	for (int i = 0; i < ndevs; i++) {
		if (devs[i] < 1 || devs[i] >= MODEL_VM_MAX_DISKS)
			return model_fail(err, -EINVAL, "device %d is not a data disk (vdb .. vdz)", devs[i]);
		dev_name(name, devs[i]);
		if (seen[devs[i]])
			return model_fail(err, -EINVAL, "%s is listed twice", name);
		seen[devs[i]] = true;
	}
	out[n++] = 0;
	for (int idx = 1; idx < MODEL_VM_MAX_DISKS; idx++)
		if (seen[idx])
			out[n++] = idx;
	return n;
}

/* The plan: every selected device of the instance with its size, read from
 * the disk itself (blobs.size lags behind a writer that is still open). */
static int cap_plan(model *m, const struct model_instance *vm, const int *devs, int ndevs, struct cap_dev *cap,
                    struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int want[MODEL_VM_MAX_DISKS];
	blob_store *s;
	int n, ndisks, rc;

	if ((n = cap_select(devs, ndevs, want, err)) < 0)
		return n;
	if ((ndisks = model_instance_disks(m, vm->id, disks)) < 0)
		return model_fail(err, ndisks, "cannot list the disks of instance %s", vm->name);
	if ((rc = model_store(m, vm->region_id, &s)) < 0)
		return model_fail(err, rc, "cannot open the blob store: %s", strerror(-rc));
	for (int k = 0; k < n; k++) {
		const struct model_vm_disk *d = NULL;
		blob_wblob *w = NULL;
		char name[8];

		dev_name(name, want[k]);
		for (int j = 0; j < ndisks && !d; j++)
			if (disks[j].index == want[k])
				d = &disks[j];
		if (!d)
			return model_fail(err, -ENOENT, "instance %s has no disk %s", vm->name, name);
		/* Its size only: opened without its key (an encrypted disk's is
		 * the task's to open, on a host that has the key).  A disk whose
		 * overlay was lost or cut outside imgfs (EIO) is captured all the
		 * same, at the size its row recorded: the task's open fails with
		 * what is missing and the image ends `error` saying so, where
		 * it would otherwise be an image of zeros (issue 36). */
		struct model_blob row;
		uint64_t size;
		if ((rc = blob_wblob_open_reader(&w, s, model_wblob_where(d->wblob), d->wblob, NULL, NULL, 0)) == -EIO &&
		    model_blob_get(m, d->blob_id, &row) == 0)
			size = row.size;
		else if (rc < 0)
			return model_fail(err, -EIO, "disk %s of instance %s cannot be read: %s", name, vm->name,
			                  strerror(-rc));
		else
			size = blob_wblob_size(w);
		cap[k] = (struct cap_dev){.idx = want[k], .src_blob = d->blob_id, .size = size, .src_key = d->key_id};
		snprintf(cap[k].wblob, sizeof(cap[k].wblob), "%s", d->wblob);
		blob_wblob_close(w);
	}
	return n;
}

/* ---- capture: queueing -------------------------------------------------------- */

/* queued -> pending, with what the capture decides about the image. */
static int cap_image_pending(struct model_conn *c, const struct model_image *img, const struct model_instance *vm,
                             const struct cap_dev *cap, int n, struct model_err *err)
{
	char source[MODEL_TEXT_MAX + 1];
	size_t len;
	db_stmt *st;
	int rc;

	/* By id (SPEC §12): the instance may be renamed or another take its
	 * name later. */
	len = (size_t)snprintf(source, sizeof(source), "instance %s", vm->ext_id);
	for (int k = 1; k < n && len < sizeof(source); k++)
		len += (size_t)snprintf(source + len, sizeof(source) - len, " vd%c", 'a' + cap[k].idx);
	if (!(st = model_stmt(c, SQL("UPDATE images SET status = ?, progress = 0, type = ?, format = 'raw', size = ?, "
	                         "source = ?, mtime_ns = ?5, ctime_ns = ?5 WHERE id = ? AND status = ?"))))
		return -EIO;
	db_bind_int(st, 1, MODEL_IMG_PENDING);
	db_bind_int(st, 2, (int)vm->system_disk);
	db_bind_int64(st, 3, (int64_t)cap[0].size);
	db_bind_text(st, 4, source);
	db_bind_int64(st, 5, model_now_ns());
	db_bind_int64(st, 6, img->id);
	db_bind_int(st, 7, MODEL_IMG_QUEUED);
	if ((rc = model_exec_stmt(st)) < 0)
		return model_fail_db(err, rc);
	if (model_changes(c) != 1)
		return model_fail(err, -EBUSY, "the image changed status meanwhile");
	return 0;
}

/* The image's lineage (SPEC §17), in the caller's transaction: an image
 * made from an encrypted instance is encrypted under the instance's data
 * key (vda's, else the first encrypted disk's: the others' chunks are
 * sealed again under it by the seal), whatever its `encrypted` said; an
 * image of no lineage yet that is to be encrypted gets a key of its own
 * (model_image_key_ensure: -EACCES without the key-encryption key). */
static int cap_image_key(struct model_conn *c, const struct model_image *img, const struct cap_dev *cap, int n,
                         int64_t *key_id, struct model_err *err)
{
	db_stmt *st;
	*key_id = 0;
	for (int k = 0; k < n && !*key_id; k++)
		*key_id = cap[k].src_key;
	if (!*key_id)
		return model_image_key_ensure(c, img, key_id, err);
	if (!(st = model_stmt(c, SQL("UPDATE images SET encrypted = 1, key_id = ? WHERE id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, *key_id);
	db_bind_int64(st, 2, img->id);
	return model_exec_stmt(st);
}

/* A snapshot `creating` over the device's destination blob. */
static int cap_insert_snapshot(struct model_conn *c, const struct model_image *img, const struct model_instance *vm,
                               struct cap_dev *d)
{
	/* Names are at most 32 characters (§10), so both fit their limits;
	 * the buffers only keep the compiler's truncation check quiet. */
	char name[MODEL_NAME_MAX + 16], desc[MODEL_NAME_MAX + 64], dev[8];
	struct task_snap_new sn = {img->region_id, img->account_id, name, desc, d->size, d->dst_blob};

	dev_name(dev, d->idx);
	snprintf(name, sizeof(name), "%s-%s", img->name, dev);
	snprintf(desc, sizeof(desc), "captured from instance %s %s", vm->name, dev);
	return task_insert_snapshot(c, &sn, &d->snap_id);
}

/* The task runs on the instance's host: it reads the disks, that host's
 * files (§13). */
static int cap_insert_task(struct model_conn *c, int64_t image_id, const struct model_instance *vm,
                           const struct cap_dev *cap, int n)
{
	struct task_pdev d[MODEL_VM_MAX_DISKS];
	uint64_t total = 0;
	for (int k = 0; k < n; k++) {
		d[k] = (struct task_pdev){cap[k].idx, cap[k].src_blob, cap[k].dst_blob, cap[k].snap_id};
		total += cap[k].size;
	}
	return task_insert_row(c, "capture", image_id, "instance", vm->id, d, n, total,
	                       vm->host[0] ? vm->host : model_host(c->m));
}

/* The checks of SPEC §5.1 on the image and on the instance (resolved in
 * the caller's view: another account's, or another region's, is none). */
static int cap_check_image(const struct model_image *img, struct model_err *err)
{
	if (img->folder != MODEL_FOLDER_PRIVATE)
		return model_fail(err, -EPERM, "only private images are captured from instances");
	if (img->status != MODEL_IMG_QUEUED)
		return model_fail(err, -EPERM, "source is written only while the image is queued");
	return 0;
}

static int cap_check_vm(model *m, const struct model_image *img, int64_t vm_id, struct model_instance *vm,
                        struct model_err *err)
{
	if (model_instance_get(m, vm_id, vm) < 0 || vm->account_id != img->account_id ||
	    vm->region_id != img->region_id)
		return model_fail(err, -ENOENT, "no such instance");
	if (vm->status == MODEL_VM_RUNNING)
		return model_fail(err, -EBUSY, "instance %s is running; stop it first", vm->name);
	if (model_instance_busy(m, vm->id))
		return model_fail(err, -EBUSY, "instance %s is busy: another image is being captured from it", vm->name);
	return 0;
}

int model_image_capture(model *m, int64_t image_id, int64_t vm_id, const int *devs, int ndevs,
                        struct model_err *err)
{
	struct cap_dev cap[MODEL_VM_MAX_DISKS];
	struct model_instance vm;
	struct model_image img;
	struct model_conn *c;
	int64_t key_id = 0;
	int n, nsnaps, rc;

	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if ((rc = cap_check_image(&img, err)) < 0 || (rc = cap_check_vm(m, &img, vm_id, &vm, err)) < 0 ||
	    (rc = n = cap_plan(m, &vm, devs, ndevs, cap, err)) < 0)
		goto out;
	nsnaps = n - (vm.system_disk == MODEL_TYPE_CLOUD ? 0 : 1);
	/* Checked only when snapshots are added: a quota lowered below its use
	 * does not stop a capture that takes none. */
	if ((nsnaps > 0 &&
	     (rc = model_quota_check(c, img.account_id, img.region_id, MODEL_QUOTA_SNAPSHOTS, nsnaps, err)) < 0) ||
	    (rc = cap_image_pending(c, &img, &vm, cap, n, err)) < 0 ||
	    (rc = cap_image_key(c, &img, cap, n, &key_id, err)) < 0)
		goto out;
	for (int k = 0; k < n; k++) {
		if ((rc = task_insert_blob(c, img.region_id, cap[k].size, key_id, &cap[k].dst_blob)) < 0)
			goto out;
		if ((k > 0 || vm.system_disk == MODEL_TYPE_CLOUD) && (rc = cap_insert_snapshot(c, &img, &vm, &cap[k])) < 0)
			goto out;
	}
	/* snapshots/ lists the new ones; the instance is busy from now on. */
	if ((nsnaps > 0 && (rc = model_touch_region(c, img.region_id)) < 0) ||
	    (rc = cap_insert_task(c, image_id, &vm, cap, n)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, image_id, img.region_id, img.folder, NULL)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_INSTANCE, vm_id, vm.region_id, MODEL_FOLDER_INVALID, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

/* ---- capture: running ---------------------------------------------------------- */

/* The plan back from the task's args (sizes and wblob names from the
 * rows).  Returns the device count or -EINVAL for args this version did
 * not write. */
static int cap_parse(const char *args, struct cap_dev *cap)
{
	struct task_pdev d[MODEL_VM_MAX_DISKS];
	int n = task_args_parse(args, d, MODEL_VM_MAX_DISKS);
	for (int k = 0; k < n; k++) {
		if (d[k].idx >= MODEL_VM_MAX_DISKS)
			return -EINVAL;
		cap[k] = (struct cap_dev){d[k].idx, d[k].src_blob, d[k].dst_blob, d[k].snap_id, 0, "", 0};
	}
	return n;
}

/* The plan of a failing capture, for its undo. */
struct cap_plan {
	const struct cap_dev *cap;
	int n;
};

/* task_fail's undo: removes what the task created (its snapshots and their
 * blobs, the image file's blob) — task_undo_devs over the plan. */
static int cap_undo(struct model_conn *c, struct task_run *r, void *arg)
{
	const struct cap_plan *p = arg;
	struct task_pdev d[MODEL_VM_MAX_DISKS];
	for (int k = 0; k < p->n; k++)
		d[k] = (struct task_pdev){p->cap[k].idx, p->cap[k].src_blob, p->cap[k].dst_blob, p->cap[k].snap_id};
	return task_undo_devs(c, r, &(struct task_plan){d, p->n});
}

/* pending -> replicating when the runner starts (a resumed task is there
 * already). */
static int cap_start(struct task_run *r)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	if (!(st = model_stmt(c, SQL("UPDATE images SET status = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ? AND status = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, MODEL_IMG_REPLICATING);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, r->t.image_id);
	db_bind_int(st, 4, MODEL_IMG_PENDING);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) == 1 &&
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

/* Progress of the device being sealed (blob_wblob_seal_progress). */
struct cap_seal {
	struct task_run *r;
	uint64_t before; /* bytes of the devices done before this one */
	uint64_t size;   /* this device's size as planned */
};

static int cap_seal_progress(void *arg, uint64_t done, uint64_t total)
{
	struct cap_seal *cs = arg;

	(void)total;
	return task_tick(cs->r, cs->before + (done < cs->size ? done : cs->size));
}

/* Seals one device unless a previous run did.  0 when sealed, skipped,
 * stopped or lost (see r), -errno from the database or -EIO when a cloud
 * disk's store did not answer (both: tried again); a verdict about the
 * device's bytes (damaged, a file gone, a cloud disk's own object gone,
 * the store full) goes to *dev_err. */
static int cap_device(struct task_run *r, struct cap_dev *d, uint64_t before, int *dev_err, struct model_err *why)
{
	struct cap_seal cs = {r, before, 0};
	struct model_blob src, dst;
	blob_manifest *man = NULL;
	blob_wblob *w = NULL;
	blob_key *key = NULL;
	int rc;

	if ((rc = model_blob_get(r->m, d->dst_blob, &dst)) < 0)
		goto fail;
	d->size = dst.size;
	if (dst.sealed)
		return 0; /* durable already: a resumed task skips it */
	cs.size = dst.size;
	/* The disk's wblob, named by its row now (the instance cannot change
	 * its disks while the capture makes it busy), opened under its key;
	 * sealed under the image's (SPEC §17: the same, unless the image
	 * took another lineage's or one of its own). */
	if ((rc = model_blob_get(r->m, d->src_blob, &src)) < 0 || (rc = src.wblob[0] ? 0 : -ENOENT) < 0)
		goto fail;
	/* A cloud disk whose store did not answer at the open: could not
	 * tell, back to the queue like a failed read below (SPEC §13); a
	 * header or record read and damaged is a verdict (EUCLEAN). */
	if ((rc = model_wblob_open_reader(r->m, &src, &w, why)) == -EIO && model_wblob_where(src.wblob) == BLOB_WB_CLUSTER)
		return rc;
	if (rc < 0 || (rc = model_key_get(r->m, dst.key_id, &key, NULL)) < 0)
		goto fail;
	rc = blob_wblob_seal_key(w, key, &man, cap_seal_progress, &cs);
	/* A file of the disk's gone outside imgfs is named (issue 47). */
	char lost[192];
	if (rc == -EIO && blob_wblob_check_files(w, lost, sizeof(lost)) == -EIO)
		model_fail(why, rc, "%s", lost);
	else if (rc == -EUCLEAN)
		model_fail(why, rc, "a chunk it shows is damaged in the store (its bytes are not the chunk)");
	else if (rc == -ENOENT && blob_wblob_in_cluster(w))
		model_fail(why, rc, "an object of the disk's own that its records name is gone from the store (the disk "
		                    "lost those bytes)");
	/* A cloud disk whose store did not answer: could not tell, the task
	 * goes back to the queue (SPEC §13), its sealed devices kept. */
	bool retry = rc == -EIO && !why->msg[0] && blob_wblob_in_cluster(w);
	blob_wblob_close(w);
	w = NULL;
	blob_key_unref(key);
	if (rc == -ECANCELED && (r->stopped || r->lost))
		return 0;
	if (retry)
		return rc;
	if (rc < 0)
		goto fail;
	r->bytes_done = before + d->size;
	rc = task_device_done(r, d->dst_blob, d->snap_id, man);
	blob_manifest_free(man);
	return rc < 0 ? rc : 0;
fail:
	blob_wblob_close(w);
	*dev_err = rc;
	return 0;
}

int capture_run(struct task_run *r)
{
	struct cap_dev cap[MODEL_VM_MAX_DISKS];
	struct model_image img;
	uint64_t before = 0;
	char dev[8];
	int n, rc;

	if ((n = cap_parse(r->t.args, cap)) < 0)
		return task_fail(r, NULL, NULL, "capture failed: its task record is unreadable");
	if (r->t.error[0]) /* its host was removed (host.c) */
		return task_fail(r, cap_undo, &(struct cap_plan){cap, n}, "capture failed: %s", r->t.error);
	if ((rc = model_image_get(r->m, r->t.image_id, &img)) < 0 ||
	    (img.status != MODEL_IMG_PENDING && img.status != MODEL_IMG_REPLICATING))
		return task_fail(r, cap_undo, &(struct cap_plan){cap, n}, "capture failed: the image is %s",
		                 rc < 0 ? "gone" : model_image_status_name(img.status));
	if ((rc = cap_start(r)) < 0 || r->lost)
		return rc;
	for (int k = 0; k < n; k++) {
		struct model_err why = {0};
		int dev_err = 0;
		if ((rc = cap_device(r, &cap[k], before, &dev_err, &why)) < 0 || r->stopped || r->lost)
			return rc;
		if (dev_err) {
			dev_name(dev, cap[k].idx);
			return task_fail(r, cap_undo, &(struct cap_plan){cap, n}, "capture failed: %s %s: %s",
			                 dev_err == -ENOSPC ? "storing" : "reading", dev,
			                 why.msg[0] ? why.msg : strerror(-dev_err));
		}
		before += cap[k].size;
	}
	struct task_dev devs[MODEL_VM_MAX_DISKS];
	for (int k = 0; k < n; k++)
		devs[k] = (struct task_dev){cap[k].idx, cap[k].dst_blob, cap[k].snap_id, 0};
	return task_finish(r, devs, n);
}


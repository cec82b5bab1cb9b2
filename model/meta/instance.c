/*
 * instance.c — VM instances (SPEC §2.4, §6.5): creating and deleting them,
 * start and stop, the system-disk type, attaching and detaching data disks,
 * recording disk writes, and rebuilding an instance from an image.
 *
 * Who calls it: fs/ (mkdir and rmdir of instances/<vm>, writes to status,
 * system-disk and image, files created in and removed from disks/, a disk
 * writer's close), the unit tests.  Reading rows is snapshot.c's.
 *
 * An instance's disks are writable blobs (blob_wblob.h, "wblob") in its
 * region's store: one blobs row each (manifest NULL, wblob "d<blob row
 * id>") and one instance_disks row (idx 0..25 = vda..vdz).  Two more
 * indexes are read-only disks, rows naming a sealed blob (SPEC §16): 26
 * the cdrom (its ISO image's blob row itself: instance_boot.c), 27 the
 * cidata seed (a blob row of its own: seed.c).  The writable disks' files
 * live outside SQLite, so every change keeps this order:
 *   adding a disk:    insert its rows, create the file, commit; when
 *                     anything fails before the commit the file is removed
 *                     while the write lock is still held (nobody else can
 *                     have taken its name yet), then the transaction is
 *                     rolled back;
 *   dropping a disk:  delete its rows, commit, then remove the file.
 * A crash in between leaves an unreferenced file, which `imgfs admin fsck
 * --repair` removes.  AUTOINCREMENT hands out the id of a rolled-back (or
 * crashed) insert again, so a new disk can meet such a leftover under its
 * name: it belongs to nobody (the row is ours, uncommitted) and is replaced.
 *
 * A rebuild copies no bytes: each new disk is a wblob whose base is the
 * image's (or snapshot's) sealed manifest, written copy-on-write, and gc
 * keeps every wblob base's chunks alive however the image fares later.
 *
 * Encrypted images (SPEC §17): an instance takes the data key of the
 * image it is built from (instances.key_id); every disk made for it from
 * then on — rebuilt ones, a blank vda for an ISO, data disks attached —
 * is a blob of that key: its overlay encrypted, its seal under the same
 * key, so chunks it shares with the image stay shared.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "early.h"
#include "instance_int.h"
#include "qcow2_in.h"

int instance_image_changed(model *m, struct model_conn *c, int64_t image_id)
{
	struct model_image img;
	db_stmt *st;
	int rc;
	if ((rc = model_image_get(m, image_id, &img)) == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE images SET mtime_ns = ?1, ctime_ns = ?1 WHERE id = ?2"))))
		return -EIO;
	db_bind_int64(st, 1, model_now_ns());
	db_bind_int64(st, 2, image_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_IMAGE, img.id, img.region_id, img.folder, NULL);
}

int instance_get_here(model *m, int64_t id, struct model_instance *vm, struct model_err *err)
{
	int rc = model_instance_get(m, id, vm);
	if (rc < 0)
		return model_fail(err, rc, rc == -ENOENT ? "no such instance" : "cannot read the instance");
	return model_instance_here(m, vm, err);
}

int instance_idle(model *m, const struct model_instance *vm, struct model_err *err)
{
	if (vm->status == MODEL_VM_RUNNING)
		return model_fail(err, -EBUSY, VM_BUSY_RUNNING);
	if (model_instance_busy(m, vm->id))
		return model_fail(err, -EBUSY, VM_BUSY_TASK);
	return 0;
}

/* ---- create and remove ------------------------------------------------------- */

int model_instance_create(model *m, int64_t region_id, int64_t account_id, const char *name, int64_t *id_out,
                          struct model_err *err)
{
	struct wblob_set made = {0};
	struct model_instance old;
	struct model_conn *c;
	blob_store *s = NULL;
	db_stmt *st;
	char ext[16];
	int64_t id, now = model_now_ns();
	int rc;

	if ((rc = model_name_check(name, err)) < 0)
		return rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	/* Its mount's mkdir shows the new instance itself (ops.c:
	 * ops_node_changed), as an image's does: that mount's watcher need
	 * not read the change row back (issue 49). */
	model_write_quiet(c);
	if ((rc = instance_store(m, region_id, &s, err)) < 0)
		goto out;
	if (model_instance_lookup(m, region_id, account_id, name, &old) == 0) {
		rc = model_fail(err, -EEXIST, "an instance named %s exists", name);
		goto out;
	}
	/* SPEC §8: the check and the insert are one transaction, so two
	 * mkdirs racing for the last one cannot both have it. */
	if ((rc = model_quota_check(c, account_id, region_id, MODEL_QUOTA_INSTANCES, 1, err)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("INSERT INTO instances(ext_id, region_id, account_id, name, status, system_disk, "
	                         "image_id, has_run, created, mtime_ns, ctime_ns, dir_mtime_ns, host) "
	                         "VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?8, ?8, ?8, ?9) "
	                         "ON CONFLICT (ext_id) DO NOTHING RETURNING id")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 2, region_id);
	db_bind_int64(st, 3, account_id);
	db_bind_text(st, 4, name);
	db_bind_int(st, 5, MODEL_VM_STOPPED);
	db_bind_int(st, 6, MODEL_TYPE_LOCAL);
	db_bind_int64(st, 7, now / 1000000000);
	db_bind_int64(st, 8, now);
	db_bind_text(st, 9, model_host(m));
	if ((rc = model_insert_ext(st, "i-", ext, model_fill_id, &id)) < 0) {
		model_fail(err, rc, "cannot insert the instance");
		goto out;
	}
	if ((rc = instance_disk_new(c, s, region_id, id, 0, false, NULL, MODEL_VM_DISK_SIZE, 0, &made)) < 0) {
		model_fail(err, rc, "cannot create the system disk: %s", strerror(-rc));
		goto out;
	}
	if ((rc = model_touch_region(c, region_id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_INSTANCE, id, region_id, MODEL_FOLDER_INVALID, NULL)) < 0)
		goto out;
out:
	/* A failed commit keeps the file: whether the rows made it is unknown,
	 * and a leftover is harmless (see the top). */
	if (rc < 0)
		instance_wblob_remove(s, &made);
	if ((rc = model_write_end(c, rc, err)) == 0 && id_out)
		*id_out = id;
	return rc;
}

int model_instance_remove(model *m, int64_t id, struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct wblob_set gone = {0};
	struct model_instance vm;
	struct model_conn *c;
	blob_store *s;
	db_stmt *st;
	int n, rc;

	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = instance_get_here(m, id, &vm, err)) < 0 || (rc = instance_store(m, vm.region_id, &s, err)) < 0)
		goto out;
	if ((rc = instance_idle(m, &vm, err)) < 0 || (rc = n = model_instance_disks(m, id, disks)) < 0)
		goto out;
	for (int i = 0; i < n; i++)
		if ((rc = instance_disk_drop(c, id, &disks[i], &gone)) < 0)
			goto out;
	if (!(st = model_stmt(c, SQL("DELETE FROM instances WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if ((vm.image_id && (rc = instance_image_changed(m, c, vm.image_id)) < 0) ||
	    (rc = model_touch_region(c, vm.region_id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_INSTANCE, id, vm.region_id, MODEL_FOLDER_INVALID, vm.name)) < 0)
		goto out;
out:
	if ((rc = model_write_end(c, rc, err)) == 0)
		instance_wblob_remove(s, &gone);
	return rc;
}

/* ---- attributes ---------------------------------------------------------------- */

int model_instance_set_status(model *m, int64_t id, enum model_vm_status to, struct model_err *err)
{
	struct model_instance vm;
	struct model_conn *c;
	db_stmt *st;
	int rc;

	if (to != MODEL_VM_STOPPED && to != MODEL_VM_RUNNING)
		return model_fail(err, -EINVAL, "write start or stop");
	/* A start on another host moves it here, when it can move. */
	if (to == MODEL_VM_RUNNING && (rc = instance_start_here(m, id, err)) != 0)
		return rc < 0 ? rc : 0;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = instance_get_here(m, id, &vm, err)) < 0)
		goto out;
	if (vm.status == to)
		goto out; /* rc == 0: nothing changes, nothing to tell */
	if (to == MODEL_VM_RUNNING && model_instance_busy(m, id)) {
		rc = model_fail(err, -EBUSY, VM_BUSY_TASK);
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE instances SET status = ?, has_run = ?, mtime_ns = ?3, ctime_ns = ?3 "
	                         "WHERE id = ?4")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, to);
	db_bind_int(st, 2, vm.has_run || to == MODEL_VM_RUNNING);
	db_bind_int64(st, 3, model_now_ns());
	db_bind_int64(st, 4, id);
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_INSTANCE, id, vm.region_id, MODEL_FOLDER_INVALID, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

int model_instance_set_system_disk(model *m, int64_t id, unsigned type, struct model_err *err)
{
	struct wblob_set made = {0}, gone = {0};
	struct model_instance vm;
	struct model_conn *c;
	blob_store *s = NULL;
	db_stmt *st;
	bool committing = false;
	int rc;

	if (type != MODEL_TYPE_LOCAL && type != MODEL_TYPE_CLOUD)
		return model_fail(err, -EINVAL, "a system disk is local or cloud");
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = instance_get_here(m, id, &vm, err)) < 0)
		goto out;
	if (vm.system_disk == type)
		goto out; /* rc == 0: writing the current value is no change */
	/* Its disks were made for the type it has (§2.4). */
	if (vm.image_id != 0 || vm.has_run) {
		rc = model_fail(err, -EPERM, "the system disk type is fixed once the instance has an image or has run");
		goto out;
	}
	/* A cloud system disk lives in the cluster, a local one on its host. */
	if ((rc = instance_store(m, vm.region_id, &s, err)) < 0 ||
	    (rc = instance_vda_place(m, c, s, &vm, type, &made, &gone)) < 0) {
		model_fail(err, rc, "cannot move the system disk: %s", strerror(-rc));
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE instances SET system_disk = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, (int)type);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, id);
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_INSTANCE, id, vm.region_id, MODEL_FOLDER_INVALID, NULL)) < 0 ||
	    (made.n + gone.n > 0 && (rc = instance_dir_changed(c, &vm)) < 0))
		goto out;
	committing = true; /* a failed commit keeps the new file (instance.c's order) */
out:
	if ((rc = model_write_end(c, rc, err)) == 0 && s)
		instance_wblob_remove(s, &gone);
	else if (rc < 0 && s && !committing)
		instance_wblob_remove(s, &made);
	return rc;
}

/* ---- data disks ---------------------------------------------------------------- */

int model_instance_disk_attach(model *m, int64_t vm_id, int index, struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct wblob_set made = {0};
	struct model_instance vm;
	struct model_conn *c;
	blob_store *s = NULL;
	char name[8];
	int n, rc;

	if (index == 0)
		return model_fail(err, -EEXIST, "vda, the system disk, is always there");
	if (index == MODEL_VM_CDROM)
		return model_fail(err, -EPERM, "disks/cdrom is attached by writing an ISO image to the instance's image");
	if (index == MODEL_VM_CIDATA)
		return model_fail(err, -EPERM, "disks/cidata is made by writing the instance's password");
	if (index < 0 || index >= MODEL_VM_MAX_DISKS)
		return model_fail(err, -EINVAL, "data disks are vdb..vdz");
	model_vm_disk_name(name, index);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = instance_get_here(m, vm_id, &vm, err)) < 0 || (rc = instance_store(m, vm.region_id, &s, err)) < 0)
		goto out;
	if ((rc = n = model_instance_disks(m, vm_id, disks)) < 0)
		goto out;
	if (instance_disk_at(disks, n, index)) {
		rc = model_fail(err, -EEXIST, "%s is attached", name);
		goto out;
	}
	/* Attaching while running is hot plug; while a capture reads the disks
	 * the set of disks stays as it is. */
	if (model_instance_busy(m, vm_id)) {
		rc = model_fail(err, -EBUSY, VM_BUSY_TASK);
		goto out;
	}
	/* An instance built from an encrypted image gets encrypted data
	 * disks, of its lineage (SPEC §17). */
	if ((rc = instance_disk_new(c, s, vm.region_id, vm_id, index, true, NULL, 0, vm.key_id, &made)) < 0) {
		model_fail(err, rc, "cannot create %s: %s", name, strerror(-rc));
		goto out;
	}
	rc = instance_dir_changed(c, &vm);
out:
	if (rc < 0) /* a failed commit keeps it, as model_instance_create's */
		instance_wblob_remove(s, &made);
	return model_write_end(c, rc, err);
}

int model_instance_disk_detach(model *m, int64_t vm_id, int index, struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	const struct model_vm_disk *d;
	struct wblob_set gone = {0};
	struct model_instance vm;
	struct model_conn *c;
	blob_store *s;
	char name[8];
	int n, rc;

	if (index == 0)
		return model_fail(err, -EPERM, "vda is the system disk");
	if (index < 0 || index >= MODEL_VM_SLOTS)
		return model_fail(err, -EINVAL, "data disks are vdb..vdz");
	model_vm_disk_name(name, index);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = instance_get_here(m, vm_id, &vm, err)) < 0 || (rc = instance_store(m, vm.region_id, &s, err)) < 0)
		goto out;
	if ((rc = n = model_instance_disks(m, vm_id, disks)) < 0)
		goto out;
	if (!(d = instance_disk_at(disks, n, index))) {
		rc = model_fail(err, -ENOENT, "%s is not attached", name);
		goto out;
	}
	if ((rc = instance_idle(m, &vm, err)) < 0)
		goto out;
	/* Ejecting the cdrom also ends the instance's use of its ISO. */
	if (index == MODEL_VM_CDROM)
		rc = instance_cdrom_eject(m, c, &vm, disks, n);
	else if ((rc = instance_disk_drop(c, vm_id, d, &gone)) == 0)
		rc = instance_dir_changed(c, &vm);
	if (rc < 0)
		goto out;
out:
	if ((rc = model_write_end(c, rc, err)) == 0)
		instance_wblob_remove(s, &gone);
	return rc;
}

int model_instance_disk_touch(model *m, int64_t blob_id, uint64_t size, uint64_t stored)
{
	struct model_conn *c;
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;

	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET size = ?, stored = ?, mtime_ns = ? WHERE id = ? AND wblob IS NOT NULL")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, (int64_t)size);
	db_bind_int64(st, 2, (int64_t)stored);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) != 1) {
		rc = -ENOENT; /* detached or rebuilt away meanwhile */
		goto out;
	}
	/* The owning instance: its ctime moves and mounts drop the disk's
	 * cached attributes (size, blocks, mtime). */
	if (!(st = model_stmt(c, SQL("UPDATE instances SET ctime_ns = ? WHERE id = "
	                         "(SELECT instance_id FROM instance_disks WHERE blob_id = ?) RETURNING id, region_id")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, now);
	db_bind_int64(st, 2, blob_id);
	if ((rc = db_step(st)) == DB_ROW) {
		int64_t vm_id = db_col_int64(st, 0), region_id = db_col_int64(st, 1);
		db_reset(st);
		rc = model_log_change(c, MODEL_CHANGE_INSTANCE, vm_id, region_id, MODEL_FOLDER_INVALID, NULL);
	} else {
		db_reset(st);
		rc = db_errno(rc);
	}
	if (rc < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

/* ---- rebuild (§6.5) ------------------------------------------------------------ */

/* Whether account_id may build an instance from img: the model's rights
 * table's B (rights.h: public and marketplace images, its own private and
 * ISO images, a private image shared with it and not rejected; not the
 * recycle bin, not an administrator's view of a tenant's).  -EIO when the
 * database did not answer: could not tell. */
static int image_usable_by(model *m, const struct model_image *img, int64_t account_id)
{
	struct model_account a;
	unsigned rights;
	int rc = model_account_get(m, account_id, &a);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0 || model_image_rights(m, &a, img, &rights) < 0)
		return -EIO;
	return (rights & MODEL_RIGHT_BUILD) != 0;
}

/* The instance and the image of a rebuild, read inside its transaction:
 * the caller's instance, on this host (§13), and an image of its region
 * the caller may build from (another region's is not in the instance's
 * view either). */
static int rebuild_subjects(model *m, int64_t vm_id, int64_t image_id, int64_t account_id,
                            struct model_instance *vm, struct model_image *img, struct model_err *err)
{
	int rc;
	if (model_instance_get(m, vm_id, vm) < 0 || vm->account_id != account_id)
		return model_fail(err, -ENOENT, "no such instance");
	if ((rc = model_instance_here(m, vm, err)) < 0)
		return rc;
	if (model_image_get(m, image_id, img) < 0 || img->region_id != vm->region_id ||
	    (rc = image_usable_by(m, img, account_id)) == 0)
		return model_fail(err, -ENOENT, "no such image");
	return rc < 0 ? model_fail(err, rc, "the image's shares could not be read") : 0;
}

/* The refusals of §6.5 for building vm from img (an ISO image, §16,
 * gives the instance a blank system disk of either type). */
static int rebuild_check(model *m, const struct model_instance *vm, const struct model_image *img,
                         struct model_err *err)
{
	bool iso = img->folder == MODEL_FOLDER_ISO;
	if (img->status != MODEL_IMG_AVAILABLE)
		return model_fail(err, -EINVAL, "the image is %s, not available", model_image_status_name(img->status));
	if (!iso && (img->type & vm->system_disk) == 0 && vm->system_disk == MODEL_TYPE_CLOUD)
		return model_fail(err, -EINVAL, "a local image needs a conversion to build an instance with a cloud "
		                                "system disk");
	if (!iso && (img->type & vm->system_disk) == 0)
		return model_fail(err, -EINVAL, "a cloud image needs an instance whose system disk is cloud");
	return instance_idle(m, vm, err);
}

/* Replaces the instance's disk at dev's index (if any) by a copy-on-write
 * copy of dev's sealed blob, or of raw (the decoded QCOW2 system disk)
 * when given; the disk is of the image's lineage (key_id, SPEC §17). */
static int rebuild_disk(model *m, struct model_conn *c, blob_store *s, const struct model_instance *vm,
                        const struct model_vm_disk *disks, int n, const struct model_device *dev,
                        const blob_manifest *raw, int64_t key_id, struct wblob_set *made, struct wblob_set *gone)
{
	const struct model_vm_disk *old = instance_disk_at(disks, n, dev->index);
	blob_manifest *base = NULL;
	int rc;
	if (!raw && (rc = model_blob_ids(m, dev->blob_id, &base)) < 0)
		return rc;
	if (raw)
		base = (blob_manifest *)raw;
	if (!old || (rc = instance_disk_drop(c, vm->id, old, gone)) == 0)
		rc = instance_disk_new(c, s, vm->region_id, vm->id, dev->index,
		                       dev->index > 0 || vm->system_disk == MODEL_TYPE_CLOUD, base, base->size, key_id, made);
	if (!raw)
		blob_manifest_free(base);
	return rc;
}

/* A QCOW2 image's system disk decoded to raw (§6.5), before the rebuild's
 * transaction (decoding takes seconds; nobody should wait on the database
 * meanwhile): its chunks stored, *raw_out its manifest; NULL for a raw
 * image.  The decoded chunks are kept by nothing until the rebuild names
 * them: gc spares them for its grace; a rebuild refused after this leaves
 * them to gc. */
static int rebuild_decode(model *m, int64_t image_id, blob_manifest **raw_out, struct model_err *err)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_image img;
	blob_manifest *src = NULL;
	blob_store *s;
	char why[256] = "";
	int n, rc;

	*raw_out = NULL;
	if (model_image_get(m, image_id, &img) < 0 || strcmp(img.format, "qcow2") != 0 ||
	    img.status != MODEL_IMG_AVAILABLE)
		return 0; /* the transaction's checks answer */
	if ((n = model_device_list(m, image_id, devs)) <= 0 || devs[0].index != 0)
		return 0;
	if ((rc = model_store(m, img.region_id, &s)) < 0)
		return model_fail(err, rc, "cannot read the image: %s", strerror(-rc));
	/* An encrypted image is decoded through its key, into its lineage. */
	if ((rc = model_blob_manifest_err(m, devs[0].blob_id, &src, err)) < 0)
		return err && err->code ? rc : model_fail(err, rc, "cannot read the image: %s", strerror(-rc));
	rc = qcow2_in_decode(s, src, raw_out, NULL, NULL, why, sizeof(why));
	blob_manifest_free(src);
	if (rc == -EINVAL)
		return model_fail(err, -EINVAL, "the QCOW2 image cannot be decoded: %s", why);
	if (rc < 0)
		return model_fail(err, rc, "decoding the QCOW2 image: %s", strerror(-rc));
	return 0;
}

int instance_set_image(model *m, struct model_conn *c, const struct model_instance *vm, int64_t image_id)
{
	/* Its new disks go on in the image's lineage (SPEC §17): the image's
	 * key; an ejected ISO (image 0) leaves the one it had. */
	db_stmt *st = model_stmt(c, SQL("UPDATE instances SET image_id = ?1, key_id = CASE ?1 WHEN 0 THEN key_id ELSE "
	                                 "COALESCE((SELECT i.key_id FROM images i WHERE i.id = ?1), 0) END, "
	                                 "dir_mtime_ns = ?2, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, vm->id);
	if ((rc = model_exec_stmt(st)) < 0 || (image_id && (rc = instance_image_changed(m, c, image_id)) < 0))
		return rc;
	/* The image it was built from before lists it no more. */
	if (vm->image_id && vm->image_id != image_id && (rc = instance_image_changed(m, c, vm->image_id)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_INSTANCE, vm->id, vm->region_id, MODEL_FOLDER_INVALID, NULL);
}

/* Rebuilds vm from the disk image img (§6.5), in c: vda from the image's
 * system disk (raw: the decoded QCOW2, when it is one), each data-disk
 * snapshot at its index; other data disks stay, a cdrom goes (the
 * instance boots from vda). */
static int rebuild_disks(model *m, struct model_conn *c, blob_store *s, const struct model_instance *vm,
                         const struct model_image *img, const blob_manifest *raw, struct wblob_set *made,
                         struct wblob_set *gone, struct model_err *err)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	const struct model_vm_disk *cdrom;
	int ndev, ndisk, rc;

	if (strcmp(img->format, "qcow2") == 0 && !raw) /* it became available after rebuild_decode looked */
		return model_fail(err, -EBUSY, "the image changed while it was decoded; write again");
	if ((ndev = model_device_list(m, img->id, devs)) < 0)
		return ndev;
	if ((ndisk = model_instance_disks(m, vm->id, disks)) < 0)
		return ndisk;
	if (ndev == 0 || devs[0].index != 0)
		return model_fail(err, -EIO, "the image has no system disk");
	for (int i = 0; i < ndev; i++) {
		const struct model_device *d = &devs[i];
		if (d->index != 0 && (d->index >= MODEL_VM_MAX_DISKS || d->kind != MODEL_DEV_SNAPSHOT))
			continue;
		if ((rc = rebuild_disk(m, c, s, vm, disks, ndisk, d, d->index == 0 ? raw : NULL, img->key_id, made, gone)) <
		    0)
			return model_fail(err, rc, "cannot build %s: %s", d->name, strerror(-rc));
	}
	if ((cdrom = instance_disk_at(disks, ndisk, MODEL_VM_CDROM)) && (rc = instance_disk_drop(c, vm->id, cdrom, gone)) < 0)
		return rc;
	return instance_set_image(m, c, vm, img->id);
}

int model_instance_rebuild(model *m, int64_t vm_id, int64_t image_id, int64_t account_id, struct model_err *err)
{
	struct wblob_set made = {0}, gone = {0};
	struct model_instance vm;
	struct model_image img;
	struct model_conn *c;
	blob_store *s = NULL;
	blob_manifest *raw = NULL;
	int rc;

	if ((rc = rebuild_decode(m, image_id, &raw, err)) < 0)
		return rc;
	if ((rc = model_write_begin(m, &c, err)) < 0) {
		blob_manifest_free(raw);
		return rc;
	}
	if ((rc = rebuild_subjects(m, vm_id, image_id, account_id, &vm, &img, err)) < 0)
		goto out;
	if ((rc = rebuild_check(m, &vm, &img, err)) < 0 || (rc = instance_store(m, vm.region_id, &s, err)) < 0)
		goto out;
	rc = img.folder == MODEL_FOLDER_ISO ? instance_boot_iso(m, c, s, &vm, &img, &made, &gone, err)
	                                    : rebuild_disks(m, c, s, &vm, &img, raw, &made, &gone, err);
	if (rc < 0)
		goto out;
out:
	if (rc < 0) /* a failed commit keeps it, as model_instance_create's */
		instance_wblob_remove(s, &made);
	if ((rc = model_write_end(c, rc, err)) == 0)
		instance_wblob_remove(s, &gone);
	blob_manifest_free(raw);
	return rc;
}

/* ---- an early start (§6.5 "Early") ----------------------------------------------- */

/* Whether img is a copy from another region being made (§6.3). */
static bool early_is_copy(const struct model_image *img)
{
	return img->status == MODEL_IMG_PENDING && strcmp(img->origin_kind, "copy") == 0;
}

/* The refusals of an early start from img (its import or copy running). */
static int early_check(const struct model_instance *vm, const struct model_image *img, struct model_err *err)
{
	if (img->folder == MODEL_FOLDER_ISO)
		return model_fail(err, -EINVAL, "an ISO image cannot start early: write its id without early");
	if (!early_is_copy(img) && (img->status != MODEL_IMG_UPLOADING || !model_image_is_url_import(img)))
		return model_fail(err, -EINVAL,
		                  "early takes an image being imported from a URL or copied from another region; "
		                  "the image is %s",
		                  model_image_status_name(img->status));
	if (img->key_id)
		return model_fail(err, -EINVAL, "an encrypted image cannot start early");
	if (vm->system_disk == MODEL_TYPE_CLOUD)
		return model_fail(err, -EINVAL, "an early start needs an instance whose system disk is local");
	return 0;
}

/* The size of vda for an early start from image_id, before the rebuild's
 * transaction: the import is asked to turn to windows (early_want) and
 * looks at the file's first bytes — a QCOW2 file's disk is its virtual
 * size, read from its header.  *size 0: the transaction's checks answer
 * (not an image being imported, no size announced), or the import cannot
 * start early (its readers say why): the file's size.  A QCOW2 file the
 * decoder refuses is EINVAL with its reason. */
static int early_size(model *m, int64_t vm_id, int64_t image_id, int64_t account_id, uint64_t *size,
                      struct model_err *err)
{
	struct model_instance vm;
	struct model_image img;
	struct model_task t;
	int rc;

	*size = 0;
	/* Refused before anything asks the import to turn. */
	if ((rc = rebuild_subjects(m, vm_id, image_id, account_id, &vm, &img, err)) < 0 ||
	    (rc = early_check(&vm, &img, err)) < 0 || (rc = instance_idle(m, &vm, err)) < 0)
		return rc;
	if (model_task_of_image(m, image_id, &t) < 0 || t.bytes_total == 0)
		return 0;
	/* The disk is opened soon: the import gives way from its turn on (one
	 * call: the expectation is there before the entry an import could take
	 * a window of), or its first window (8 MiB the boot did not ask for)
	 * would go before this write commits.  A refusal below leaves the
	 * expectation to lapse (IMGFS_EARLY_OPEN_HOLD_MS). */
	if ((rc = early_want_start(m, image_id, img.region_id)) < 0)
		return model_fail(err, rc, "cannot build vda: %s", strerror(-rc));
	char why[512];
	rc = early_disk_size(m, image_id, size, why, sizeof(why));
	if (rc == -ETIMEDOUT)
		return model_fail(err, -EBUSY, "the import has not announced the image's size yet; write again");
	if (rc == -EINVAL)
		return model_fail(err, -EINVAL, "%s", why);
	if (rc < 0)
		*size = 0;
	return 0;
}

int model_instance_rebuild_early(model *m, int64_t vm_id, int64_t image_id, int64_t account_id, struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct wblob_set made = {0}, gone = {0};
	const struct model_vm_disk *old;
	struct model_instance vm;
	struct model_image img;
	struct model_task t;
	struct model_conn *c;
	blob_store *s = NULL;
	int64_t blob_id = 0;
	uint64_t size = 0, disk = 0;
	int ndisk, rc;

	if (model_image_get(m, image_id, &img) == 0 && img.status == MODEL_IMG_AVAILABLE)
		return model_instance_rebuild(m, vm_id, image_id, account_id, err); /* it arrived: nothing early */
	if ((rc = early_size(m, vm_id, image_id, account_id, &disk, err)) < 0)
		return rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = rebuild_subjects(m, vm_id, image_id, account_id, &vm, &img, err)) < 0)
		goto out;
	if ((rc = early_check(&vm, &img, err)) < 0 || (rc = instance_idle(m, &vm, err)) < 0 ||
	    (rc = instance_store(m, vm.region_id, &s, err)) < 0)
		goto out;
	if (early_is_copy(&img)) {
		/* vda is the source's system disk (a copy's task counts every device). */
		struct model_device devs[MODEL_MAX_DEVICES];
		int nd = model_device_list(m, img.origin_id, devs);
		if (nd <= 0 || devs[0].index != 0) {
			rc = model_fail(err, -EIO, "cannot read the copy's source %" PRId64, img.origin_id);
			goto out;
		}
		size = devs[0].size;
	} else if (model_task_of_image(m, image_id, &t) < 0 || (size = t.bytes_total) == 0) {
		rc = model_fail(err, -EBUSY, "the import has not announced the image's size yet; write again");
		goto out;
	}
	if (disk)
		size = disk; /* what the file describes: a QCOW2 file's virtual size */
	if ((ndisk = model_instance_disks(m, vm.id, disks)) < 0) {
		rc = ndisk;
		goto out;
	}
	if ((old = instance_disk_at(disks, ndisk, 0)) && (rc = instance_disk_drop(c, vm.id, old, &gone)) < 0)
		goto out;
	if ((old = instance_disk_at(disks, ndisk, MODEL_VM_CDROM)) && (rc = instance_disk_drop(c, vm.id, old, &gone)) < 0)
		goto out;
	if ((rc = instance_disk_new(c, s, vm.region_id, vm.id, 0, false, NULL, size, 0, &made)) < 0 ||
	    made.n != 1 || sscanf(made.names[0], "d%" SCNd64, &blob_id) != 1) {
		rc = model_fail(err, rc < 0 ? rc : -EIO, "cannot build vda: %s", strerror(rc < 0 ? -rc : EIO));
		goto out;
	}
	/* Its map before the commit: a disk that is early says so from its
	 * first moment (a failed commit removes both). */
	if ((rc = model_early_disk_create(m, blob_id, size)) < 0) {
		model_fail(err, rc, "cannot build vda: %s", strerror(-rc));
		goto out;
	}
	if ((rc = instance_set_image(m, c, &vm, image_id)) < 0)
		goto out;
	rc = early_want(m, image_id, vm.region_id);
out:
	if (rc < 0) {
		instance_wblob_remove(s, &made);
		if (blob_id)
			model_early_disk_remove(m, blob_id);
	}
	if ((rc = model_write_end(c, rc, err)) == 0) {
		instance_wblob_remove(s, &gone);
		early_yield_expect(m, image_id); /* its disk is opened soon: the import gives way */
	} else if (blob_id) {
		model_early_disk_remove(m, blob_id);
		instance_wblob_remove(s, &made);
	}
	return rc;
}

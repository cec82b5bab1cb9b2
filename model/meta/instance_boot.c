/*
 * instance_boot.c — instances from ISO images (SPEC §16): an ISO image as
 * an instance's disks/cdrom, the `boot` file, ejecting, and the size of
 * the blank system disk (`system-disk-size`).
 *
 * Who calls it: instance.c (model_instance_rebuild, for an ISO image;
 * model_instance_disk_detach, for rm disks/cdrom), fs/ (writes to boot
 * and system-disk-size), the unit tests.
 *
 * The cdrom is by reference: its instance_disks row (idx MODEL_VM_CDROM)
 * names the ISO image's own blob row, whose manifest is sealed and read
 * as any image disk's; nothing is copied, and since the blob row is the
 * image's (devices references it) dropping the cdrom's row never drops
 * it.  While the cdrom is in, the instance's image_id is the ISO image:
 * the image's `instances` file lists the instance and the image cannot be
 * deleted (recycle.c's busy rule, EBUSY).  Ejecting ends both (image_id
 * 0), so an installed instance lets its installation ISO go.
 *
 * `boot` is not stored: an instance boots from its cdrom exactly while one
 * is in (writing `disk` ejects it; `cdrom` needs one), so the file can
 * never disagree with disks/.
 *
 *   boot      in       write cdrom      write disk
 *   disk      no cdrom EINVAL           no change
 *   cdrom     cdrom    no change        eject (stopped, no capture: EBUSY)
 *
 * system-disk-size is the instance row's, written like system-disk
 * (while the instance has no image and has never run: EPERM otherwise);
 * a write resizes vda (its wblob, truncated in the transaction, fsynced
 * before the commit) and a later ISO image gives a blank vda of that size.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "instance_int.h"

int model_instance_boot(model *m, int64_t vm_id)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int n = model_instance_disks(m, vm_id, disks);
	if (n < 0)
		return n;
	return instance_disk_at(disks, n, MODEL_VM_CDROM) != NULL;
}

int instance_cdrom_eject(model *m, struct model_conn *c, const struct model_instance *vm,
                         const struct model_vm_disk *disks, int n)
{
	const struct model_vm_disk *cdrom = instance_disk_at(disks, n, MODEL_VM_CDROM);
	struct wblob_set none = {0}; /* a sealed blob has no file */
	struct model_image img;
	int rc;
	if (!cdrom)
		return 0;
	if ((rc = instance_disk_drop(c, vm->id, cdrom, &none)) < 0)
		return rc;
	/* The ISO it was built from: no longer in use by it. */
	if (vm->image_id && model_image_get(m, vm->image_id, &img) == 0 && img.folder == MODEL_FOLDER_ISO)
		return instance_set_image(m, c, vm, 0);
	return instance_dir_changed(c, vm);
}

int instance_boot_iso(model *m, struct model_conn *c, blob_store *s, const struct model_instance *vm,
                      const struct model_image *iso, struct wblob_set *made, struct wblob_set *gone,
                      struct model_err *err)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	const struct model_device *disc = NULL;
	const struct model_vm_disk *old;
	int ndev, ndisk, rc;

	if ((ndev = model_device_list(m, iso->id, devs)) < 0)
		return ndev;
	for (int i = 0; i < ndev; i++)
		if (devs[i].index == MODEL_VM_CDROM)
			disc = &devs[i];
	if (!disc)
		return model_fail(err, -EIO, "the ISO image has no disk");
	if ((ndisk = model_instance_disks(m, vm->id, disks)) < 0)
		return ndisk;
	/* A blank vda of system-disk-size, the ISO's blob as the cdrom. */
	if ((old = instance_disk_at(disks, ndisk, 0)) && (rc = instance_disk_drop(c, vm->id, old, gone)) < 0)
		return rc;
	if ((rc = instance_disk_new(c, s, vm->region_id, vm->id, 0, vm->system_disk == MODEL_TYPE_CLOUD, NULL,
	                            vm->system_disk_size, iso->key_id, made)) < 0)
		return model_fail(err, rc, "cannot create the system disk: %s", strerror(-rc));
	if ((old = instance_disk_at(disks, ndisk, MODEL_VM_CDROM)) && (rc = instance_disk_drop(c, vm->id, old, gone)) < 0)
		return rc;
	if ((rc = instance_disk_link(c, vm->id, MODEL_VM_CDROM, disc->blob_id)) < 0)
		return rc;
	return instance_set_image(m, c, vm, iso->id);
}

int model_instance_set_boot(model *m, int64_t vm_id, bool cdrom, struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct model_instance vm;
	struct model_conn *c;
	int n, rc;

	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = instance_get_here(m, vm_id, &vm, err)) < 0 || (rc = n = model_instance_disks(m, vm_id, disks)) < 0)
		goto out;
	bool in = instance_disk_at(disks, n, MODEL_VM_CDROM) != NULL;
	if (cdrom && !in) {
		rc = model_fail(err, -EINVAL, "the instance has no cdrom: write an ISO image (iso/<name>) to its image first");
		goto out;
	}
	if (cdrom || !in) {
		rc = 0; /* what it boots from already: no change */
		goto out;
	}
	if ((rc = instance_idle(m, &vm, err)) < 0 || (rc = instance_cdrom_eject(m, c, &vm, disks, n)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

/* Resizes vda's wblob to size, durably; *before (may be NULL) gets the
 * size it had.  Under its key (SPEC §17: an ISO's blank vda is of the
 * ISO's lineage; a resize may rewrite part of a sector of its overlay). */
static int vda_resize(model *m, blob_store *s, const struct model_vm_disk *vda, uint64_t size, uint64_t *before)
{
	blob_wblob *w = NULL;
	blob_key *key = NULL;
	int rc;
	if ((rc = model_key_get(m, vda->key_id, &key, NULL)) < 0)
		return rc;
	rc = blob_wblob_open_in(&w, s, model_wblob_where(vda->wblob), vda->wblob, key, NULL, 0);
	blob_key_unref(key);
	if (rc < 0)
		return rc;
	if (before)
		*before = blob_wblob_size(w);
	if ((rc = blob_wblob_truncate(w, size)) == 0)
		rc = blob_wblob_fsync(w);
	blob_wblob_close(w);
	return rc;
}

/* Its blobs row says the new size too (listings, other hosts' stat). */
static int vda_record(struct model_conn *c, const struct model_vm_disk *vda, uint64_t size)
{
	db_stmt *st = model_stmt(c, SQL("UPDATE blobs SET size = ?, mtime_ns = ? WHERE id = ?"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, (int64_t)size);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, vda->blob_id);
	return model_exec_stmt(st);
}

int model_size_parse(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTP";
	uint64_t v = 0, mul = 1;
	const char *p = s;
	bool big = false;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			big = true;
		else
			v = v * 10 + d;
	}
	if (*p) {
		const char *u = strchr(units, *p);
		if (!u || !*u)
			return -EINVAL;
		for (const char *k = units; k <= u; k++)
			mul *= 1024;
		p++;
		if (strcmp(p, "iB") == 0)
			p += 2;
		if (*p)
			return -EINVAL;
	}
	*out = big || v > UINT64_MAX / mul ? UINT64_MAX : v * mul;
	return 0;
}

int model_instance_set_disk_size(model *m, int64_t vm_id, uint64_t size, struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	const struct model_vm_disk *vda;
	struct model_instance vm;
	struct model_conn *c;
	blob_store *s;
	db_stmt *st;
	uint64_t before = 0;
	bool resized = false;
	int n, rc;

	if (size == 0 || size > MODEL_VM_DISK_MAX)
		return model_fail(err, -EINVAL, "system-disk-size is 1 byte to %llu bytes (4 PiB - 1 MiB)",
		                  (unsigned long long)MODEL_VM_DISK_MAX);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = instance_get_here(m, vm_id, &vm, err)) < 0 || (rc = instance_store(m, vm.region_id, &s, err)) < 0)
		goto out;
	if (vm.system_disk_size == size)
		goto out; /* rc == 0: writing the current value is no change */
	/* vda is the blank disk it was given at creation (§2.4). */
	if (vm.image_id != 0 || vm.has_run) {
		rc = model_fail(err, -EPERM, "the system disk size is fixed once the instance has an image or has run");
		goto out;
	}
	if (model_instance_busy(m, vm_id)) {
		rc = model_fail(err, -EBUSY, VM_BUSY_TASK);
		goto out;
	}
	if ((rc = n = model_instance_disks(m, vm_id, disks)) < 0)
		goto out;
	if (!(vda = instance_disk_at(disks, n, 0)) || vda->sealed) {
		rc = model_fail(err, -EIO, "the instance has no system disk");
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE instances SET system_disk_size = ?, mtime_ns = ?2, ctime_ns = ?2 "
	                             "WHERE id = ?3")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, (int64_t)size);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, vm_id);
	if ((rc = model_exec_stmt(st)) < 0 || (rc = vda_record(c, vda, size)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_INSTANCE, vm_id, vm.region_id, MODEL_FOLDER_INVALID, NULL)) < 0)
		goto out;
	/* The file last, right before the commit: a refusal above left it. */
	if ((rc = vda_resize(m, s, vda, size, &before)) < 0) {
		model_fail(err, rc, "cannot resize the system disk: %s", strerror(-rc));
		goto out;
	}
	resized = true;
out:
	if ((rc = model_write_end(c, rc, err)) < 0 && resized)
		vda_resize(m, s, vda, before, NULL); /* the rows say the old size: so does the file, as far as it can */
	return rc;
}

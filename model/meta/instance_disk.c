/*
 * instance_disk.c — an instance's disks (SPEC §2.4, §6.5), the helpers
 * below instance.c (an instance's life, attaching and detaching, a
 * rebuild), instance_boot.c (the cdrom, a blank vda for an ISO),
 * instance_move.c (vda placed where its system disk lives) and seed.c
 * (disks/cidata): the wblob files an operation made or dereferenced, a
 * disk's rows made, linked and dropped in the caller's transaction,
 * reading an instance's disks, and the region's store they live in.
 * The order a disk's file keeps with its rows is instance.c's header.
 *
 * Split from instance.c (issue 48 step 4) so that the three instance
 * files no longer call each other for these: it calls none of them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "instance_int.h"

void instance_wblob_add(struct wblob_set *set, const char *name)
{
	if (set->n < MODEL_VM_SLOTS)
		snprintf(set->names[set->n++], sizeof(set->names[0]), "%s", name);
}

void instance_wblob_remove(blob_store *s, struct wblob_set *set)
{
	for (int i = 0; i < set->n; i++)
		blob_wblob_remove_in(s, model_wblob_where(set->names[i]), set->names[i]);
	set->n = 0;
}

const struct model_vm_disk *instance_disk_at(const struct model_vm_disk *disks, int n, int idx)
{
	for (int i = 0; i < n; i++)
		if (disks[i].index == idx)
			return &disks[i];
	return NULL;
}

int instance_disk_link(struct model_conn *c, int64_t vm_id, int idx, int64_t blob_id)
{
	db_stmt *st = model_stmt(c, SQL("INSERT INTO instance_disks(instance_id, idx, blob_id) VALUES (?, ?, ?)"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, vm_id);
	db_bind_int(st, 2, idx);
	db_bind_int64(st, 3, blob_id);
	return model_exec_stmt(st);
}

int instance_disk_new(struct model_conn *c, blob_store *s, int64_t region_id, int64_t vm_id, int idx, bool cloud,
                      const blob_manifest *base, uint64_t size, int64_t key_id, struct wblob_set *made)
{
	enum blob_wb_where where =
	    cloud && c->m->cluster && key_id == 0 && blob_store_has_cluster(s) ? BLOB_WB_CLUSTER : BLOB_WB_HOST;
	db_stmt *st;
	int64_t blob_id;
	char name[64];
	int rc;

	if (!(st = model_stmt(c, SQL("INSERT INTO blobs(region_id, size, stored, manifest, wblob, mtime_ns, key_id) "
	                         "VALUES (?, ?, ?, NULL, NULL, ?, ?) RETURNING id"))))
		return -EIO;
	db_bind_int64(st, 1, region_id);
	db_bind_int64(st, 2, (int64_t)size);
	db_bind_int64(st, 3, base ? (int64_t)base->stored : 0);
	db_bind_int64(st, 4, model_now_ns());
	db_bind_int64(st, 5, key_id);
	if ((rc = model_insert(st, &blob_id)) < 0)
		return rc;
	snprintf(name, sizeof(name), "%c%lld", where == BLOB_WB_CLUSTER ? 'c' : 'd', (long long)blob_id);
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET wblob = ? WHERE id = ?"))))
		return -EIO;
	db_bind_text(st, 1, name);
	db_bind_int64(st, 2, blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	if ((rc = instance_disk_link(c, vm_id, idx, blob_id)) < 0)
		return rc;
	rc = blob_wblob_create_in(s, where, name, base, size);
	if (rc == -EEXIST) { /* a crashed transaction's leftover: see the top */
		blob_wblob_remove_in(s, where, name);
		rc = blob_wblob_create_in(s, where, name, base, size);
	}
	if (rc < 0)
		return rc;
	instance_wblob_add(made, name);
	return 0;
}

int instance_disk_drop(struct model_conn *c, int64_t vm_id, const struct model_vm_disk *d, struct wblob_set *gone)
{
	db_stmt *st;
	int rc;

	if (!(st = model_stmt(c, SQL("DELETE FROM instance_disks WHERE instance_id = ? AND idx = ?"))))
		return -EIO;
	db_bind_int64(st, 1, vm_id);
	db_bind_int(st, 2, d->index);
	if ((rc = model_exec_stmt(st)) < 0 || (rc = model_blob_drop_unreferenced(c, d->blob_id)) < 0)
		return rc;
	if (rc == 1 && d->wblob[0])
		instance_wblob_add(gone, d->wblob);
	return 0;
}

int instance_dir_changed(struct model_conn *c, const struct model_instance *vm)
{
	db_stmt *st = model_stmt(c, SQL("UPDATE instances SET dir_mtime_ns = ?1, ctime_ns = ?1 WHERE id = ?2"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, model_now_ns());
	db_bind_int64(st, 2, vm->id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_INSTANCE, vm->id, vm->region_id, MODEL_FOLDER_INVALID, NULL);
}

int instance_store(model *m, int64_t region_id, blob_store **out, struct model_err *err)
{
	int rc = model_store(m, region_id, out);
	if (rc == -ENOENT)
		return model_fail(err, rc, "no such region");
	return rc < 0 ? model_fail(err, rc, "cannot open the region's blob store: %s", strerror(-rc)) : 0;
}

bool model_instance_busy(model *m, int64_t id)
{
	struct model_conn *c;
	db_stmt *st;
	bool yes;
	if (model_conn_get(m, &c) < 0 ||
	    !(st = model_stmt(c, SQL("SELECT 1 FROM tasks WHERE source_kind = 'instance' AND source_id = ? "
	                         "AND state IN ('queued', 'running') LIMIT 1"))))
		return false;
	db_bind_int64(st, 1, id);
	yes = db_step(st) == DB_ROW;
	db_reset(st);
	return yes;
}

void model_vm_disk_name(char out[8], int idx)
{
	if (idx == MODEL_VM_CDROM)
		snprintf(out, 8, "cdrom");
	else if (idx == MODEL_VM_CIDATA)
		snprintf(out, 8, "cidata");
	else
		snprintf(out, 8, "vd%c", 'a' + idx);
}

int model_vm_disk_index(const char *name)
{
	if (strcmp(name, "cidata") == 0)
		return MODEL_VM_CIDATA;
	int idx = model_device_index(name); /* vda..vdz, cdrom */
	return idx == MODEL_VM_CDROM || (idx >= 0 && idx < MODEL_VM_MAX_DISKS) ? idx : -EINVAL;
}

int model_instance_disks(model *m, int64_t vm_id, struct model_vm_disk out[MODEL_VM_SLOTS])
{
	struct model_conn *c;
	db_stmt *st;
	int rc, n = 0;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT d.idx, d.blob_id, COALESCE(b.wblob, ''), b.mtime_ns, "
	                         "b.manifest IS NOT NULL, b.key_id FROM instance_disks d "
	                         "JOIN blobs b ON b.id = d.blob_id WHERE d.instance_id = ? ORDER BY d.idx"))))
		return -EIO;
	db_bind_int64(st, 1, vm_id);
	while (n < MODEL_VM_SLOTS && (rc = db_step(st)) == DB_ROW) {
		struct model_vm_disk *d = &out[n];
		d->index = db_col_int(st, 0);
		if (d->index < 0 || d->index >= MODEL_VM_SLOTS)
			continue; /* no such disk: not shown */
		n++;
		model_vm_disk_name(d->name, d->index);
		d->blob_id = db_col_int64(st, 1);
		model_col_text(st, 2, d->wblob, sizeof(d->wblob));
		d->mtime_ns = db_col_int64(st, 3);
		d->sealed = db_col_int(st, 4) != 0;
		d->key_id = db_col_int64(st, 5);
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? n : db_errno(rc);
}

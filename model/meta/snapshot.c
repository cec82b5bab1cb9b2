/*
 * snapshot.c — snapshot and instance rows as the tree shows them (SPEC
 * §2.4), removing a snapshot and editing its description, and dropping a
 * blob row nothing references any more (shared by snapshot, image and
 * instance removal).  Snapshots are created by tasks (task.c), instances
 * and their disks by instance.c.
 */
#include <errno.h>
#include <string.h>

#include "model_int.h"

#define SNAP_COLS "id, ext_id, region_id, account_id, name, description, status, size, blob_id, created, " \
	"mtime_ns, ctime_ns FROM snapshots "

static void snap_row(db_stmt *st, struct model_snapshot *s)
{
	s->id = db_col_int64(st, 0);
	model_col_text(st, 1, s->ext_id, sizeof(s->ext_id));
	s->region_id = db_col_int64(st, 2);
	s->account_id = db_col_int64(st, 3);
	model_col_text(st, 4, s->name, sizeof(s->name));
	model_col_text(st, 5, s->description, sizeof(s->description));
	s->status = db_col_int(st, 6);
	s->size = (uint64_t)db_col_int64(st, 7);
	s->blob_id = db_col_int64(st, 8);
	s->created = db_col_int64(st, 9);
	s->mtime_ns = db_col_int64(st, 10);
	s->ctime_ns = db_col_int64(st, 11);
}

#define VM_COLS "id, ext_id, region_id, account_id, name, status, system_disk, image_id, created, mtime_ns, " \
	"ctime_ns, has_run, dir_mtime_ns, host, system_disk_size, key_id FROM instances "

static void vm_row(db_stmt *st, struct model_instance *vm)
{
	vm->id = db_col_int64(st, 0);
	model_col_text(st, 1, vm->ext_id, sizeof(vm->ext_id));
	vm->region_id = db_col_int64(st, 2);
	vm->account_id = db_col_int64(st, 3);
	model_col_text(st, 4, vm->name, sizeof(vm->name));
	vm->status = db_col_int(st, 5);
	vm->system_disk = (unsigned)db_col_int(st, 6);
	vm->image_id = db_col_int64(st, 7);
	vm->created = db_col_int64(st, 8);
	vm->mtime_ns = db_col_int64(st, 9);
	vm->ctime_ns = db_col_int64(st, 10);
	vm->has_run = db_col_int(st, 11) != 0;
	vm->dir_mtime_ns = db_col_int64(st, 12);
	model_col_text(st, 13, vm->host, sizeof(vm->host));
	vm->system_disk_size = (uint64_t)db_col_int64(st, 14);
	vm->key_id = db_col_int64(st, 15);
}

/* Typed row callbacks over model_each_row, and single-row fetches. */
struct snap_cb {
	int (*cb)(void *arg, const struct model_snapshot *s);
	void *arg;
};

static int snap_each(void *arg, db_stmt *st)
{
	struct snap_cb *c = arg;
	struct model_snapshot s;
	snap_row(st, &s);
	return c->cb(c->arg, &s);
}

struct vm_cb {
	int (*cb)(void *arg, const struct model_instance *vm);
	void *arg;
};

static int vm_each(void *arg, db_stmt *st)
{
	struct vm_cb *c = arg;
	struct model_instance vm;
	vm_row(st, &vm);
	return c->cb(c->arg, &vm);
}

static void snap_fill(db_stmt *st, void *out)
{
	snap_row(st, out);
}

static void vm_fill(db_stmt *st, void *out)
{
	vm_row(st, out);
}

int model_snapshot_list(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                        int (*cb)(void *arg, const struct model_snapshot *s), void *arg)
{
	struct snap_cb sc = {cb, arg};
	struct model_conn *c;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	const int64_t params[] = {region_id, account_id, after_id};
	return model_each_page(c, SQL("SELECT " SNAP_COLS "WHERE region_id = ? AND account_id = ? AND id > ? ORDER BY id "
	                              MODEL_PAGE_SQL),
	                       params, 3, 0, snap_each, &sc);
}

int model_snapshot_lookup(model *m, int64_t region_id, int64_t account_id, const char *ext_id,
                          struct model_snapshot *out)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " SNAP_COLS "WHERE region_id = ? AND account_id = ? AND ext_id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, region_id);
	db_bind_int64(st, 2, account_id);
	db_bind_text(st, 3, ext_id);
	return model_one_row(st, snap_fill, out);
}

int model_snapshot_get(model *m, int64_t id, struct model_snapshot *out)
{
	return model_fetch_one(m, SQL("SELECT " SNAP_COLS "WHERE id = ?"), NULL, id, snap_fill, out);
}

/* Appends column 0 of every row, one a line, into buf. */
static int lines_into(db_stmt *st, char *buf, size_t cap)
{
	size_t used = 0;
	int rc;
	buf[0] = '\0';
	while ((rc = db_step(st)) == DB_ROW) {
		const char *t = db_col_text(st, 0);
		size_t n = t ? strlen(t) : 0;
		if (used + n + 2 > cap)
			break;
		memcpy(buf + used, t, n);
		used += n;
		buf[used++] = '\n';
		buf[used] = '\0';
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? (int)used : db_errno(rc);
}

int model_snapshot_images(model *m, int64_t id, char *buf, size_t cap)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL_SCAN("sorts only the images that map one snapshot",
	                                  "SELECT i.ext_id FROM devices d JOIN images i ON i.id = d.image_id "
	                         "WHERE d.snapshot_id = ? GROUP BY i.id, i.ext_id ORDER BY i.id"))))
		return -EIO;
	db_bind_int64(st, 1, id);
	return lines_into(st, buf, cap);
}

int model_image_instances(model *m, int64_t image_id, int64_t account_id, char *buf, size_t cap)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT name FROM instances WHERE image_id = ? AND account_id = ? ORDER BY id"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, account_id);
	return lines_into(st, buf, cap);
}

int model_instance_list(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                        int (*cb)(void *arg, const struct model_instance *vm), void *arg)
{
	struct vm_cb vc = {cb, arg};
	struct model_conn *c;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	const int64_t params[] = {region_id, account_id, after_id};
	return model_each_page(c, SQL("SELECT " VM_COLS "WHERE region_id = ? AND account_id = ? AND id > ? ORDER BY id "
	                              MODEL_PAGE_SQL),
	                       params, 3, 0, vm_each, &vc);
}

int model_instance_lookup(model *m, int64_t region_id, int64_t account_id, const char *name,
                          struct model_instance *out)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " VM_COLS "WHERE region_id = ? AND account_id = ? AND name = ?"))))
		return -EIO;
	db_bind_int64(st, 1, region_id);
	db_bind_int64(st, 2, account_id);
	db_bind_text(st, 3, name);
	return model_one_row(st, vm_fill, out);
}

int model_instance_get(model *m, int64_t id, struct model_instance *out)
{
	return model_fetch_one(m, SQL("SELECT " VM_COLS "WHERE id = ?"), NULL, id, vm_fill, out);
}

/* ---- removal and editing ---------------------------------------------------- */

int model_snapshot_delete_row(struct model_conn *c, const struct model_snapshot *s)
{
	db_stmt *st = model_stmt(c, SQL("DELETE FROM snapshots WHERE id = ?"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, s->id);
	if ((rc = model_exec_stmt(st)) < 0 || (rc = model_blob_drop_unreferenced(c, s->blob_id)) < 0)
		return rc;
	/* Its inspection goes with it (§20); a queued one ends by itself. */
	if (!(st = model_stmt(c, SQL("DELETE FROM snapshot_inspections WHERE snapshot_id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, s->id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_SNAPSHOT, s->id, s->region_id, MODEL_FOLDER_INVALID, s->ext_id);
}

/* The ext id of one image whose devices reference the snapshot into out;
 * -ENOENT when none does. */
static int snapshot_referrer(struct model_conn *c, int64_t snap_id, char out[16])
{
	db_stmt *st = model_stmt(c, SQL_SCAN("sorts only the images that map one snapshot",
	                                      "SELECT i.ext_id FROM devices d JOIN images i ON i.id = d.image_id "
	                                      "WHERE d.snapshot_id = ? ORDER BY i.id LIMIT 1"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, snap_id);
	rc = db_step(st);
	if (rc == DB_ROW)
		model_col_text(st, 0, out, 16);
	db_reset(st);
	return rc == DB_ROW ? 0 : rc == DB_DONE ? -ENOENT : db_errno(rc);
}

int model_snapshot_remove(model *m, int64_t id, struct model_err *err)
{
	struct model_conn *c;
	struct model_snapshot s;
	char img[16];
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_snapshot_get(m, id, &s)) < 0) {
		model_fail(err, rc, "no such snapshot");
		goto out;
	}
	/* A capture fills it and records it in its image's devices when done. */
	if (s.status == MODEL_SNAP_CREATING) {
		rc = model_fail(err, -EBUSY, "a capture is creating it");
		goto out;
	}
	/* Images in the recycle bin count: a restore would need it (§2.4). */
	if ((rc = snapshot_referrer(c, id, img)) != -ENOENT) {
		if (rc == 0)
			rc = model_fail(err, -EBUSY, "image %s references it", img);
		goto out;
	}
	if ((rc = model_snapshot_delete_row(c, &s)) < 0 || (rc = model_touch_region(c, s.region_id)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

int model_snapshot_set_description(model *m, int64_t id, const char *value, struct model_err *err)
{
	struct model_conn *c;
	struct model_snapshot s;
	db_stmt *st;
	int rc;
	/* The same rules as an image's description (§2.1). */
	if ((rc = model_description_check(value, err)) < 0)
		return rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_snapshot_get(m, id, &s)) < 0) {
		model_fail(err, rc, "no such snapshot");
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE snapshots SET description = ?, mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, value);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, id);
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_SNAPSHOT, id, s.region_id, MODEL_FOLDER_INVALID, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

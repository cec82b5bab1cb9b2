/*
 * snapshot.c — snapshot and instance rows as the tree shows them (SPEC
 * §2.4).  Creating them (captures, instances) arrives with the lifecycle
 * work; this file only reads.
 */
#include <errno.h>
#include <string.h>

#include "model_int.h"

#define SNAP_COLS "id, ext_id, region_id, account_id, name, description, status, size, blob_id, created, " \
	"mtime_ns, ctime_ns FROM snapshots "

static void snap_row(sqlite3_stmt *st, struct model_snapshot *s)
{
	s->id = sqlite3_column_int64(st, 0);
	model_col_text(st, 1, s->ext_id, sizeof(s->ext_id));
	s->region_id = sqlite3_column_int64(st, 2);
	s->account_id = sqlite3_column_int64(st, 3);
	model_col_text(st, 4, s->name, sizeof(s->name));
	model_col_text(st, 5, s->description, sizeof(s->description));
	s->status = sqlite3_column_int(st, 6);
	s->size = (uint64_t)sqlite3_column_int64(st, 7);
	s->blob_id = sqlite3_column_int64(st, 8);
	s->created = sqlite3_column_int64(st, 9);
	s->mtime_ns = sqlite3_column_int64(st, 10);
	s->ctime_ns = sqlite3_column_int64(st, 11);
}

#define VM_COLS "id, ext_id, region_id, account_id, name, status, system_disk, image_id, created, mtime_ns, " \
	"ctime_ns FROM instances "

static void vm_row(sqlite3_stmt *st, struct model_instance *vm)
{
	vm->id = sqlite3_column_int64(st, 0);
	model_col_text(st, 1, vm->ext_id, sizeof(vm->ext_id));
	vm->region_id = sqlite3_column_int64(st, 2);
	vm->account_id = sqlite3_column_int64(st, 3);
	model_col_text(st, 4, vm->name, sizeof(vm->name));
	vm->status = sqlite3_column_int(st, 5);
	vm->system_disk = (unsigned)sqlite3_column_int(st, 6);
	vm->image_id = sqlite3_column_int64(st, 7);
	vm->created = sqlite3_column_int64(st, 8);
	vm->mtime_ns = sqlite3_column_int64(st, 9);
	vm->ctime_ns = sqlite3_column_int64(st, 10);
}

/* Typed row callbacks over model_each_row, and single-row fetches. */
struct snap_cb {
	int (*cb)(void *arg, const struct model_snapshot *s);
	void *arg;
};

static int snap_each(void *arg, sqlite3_stmt *st)
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

static int vm_each(void *arg, sqlite3_stmt *st)
{
	struct vm_cb *c = arg;
	struct model_instance vm;
	vm_row(st, &vm);
	return c->cb(c->arg, &vm);
}

static void snap_fill(sqlite3_stmt *st, void *out)
{
	snap_row(st, out);
}

static void vm_fill(sqlite3_stmt *st, void *out)
{
	vm_row(st, out);
}

int model_snapshot_list(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                        int (*cb)(void *arg, const struct model_snapshot *s), void *arg)
{
	struct snap_cb sc = {cb, arg};
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, "SELECT " SNAP_COLS "WHERE region_id = ? AND account_id = ? AND id > ? ORDER BY id")))
		return -EIO;
	sqlite3_bind_int64(st, 1, region_id);
	sqlite3_bind_int64(st, 2, account_id);
	sqlite3_bind_int64(st, 3, after_id);
	return model_each_row(st, snap_each, &sc);
}

int model_snapshot_lookup(model *m, int64_t region_id, int64_t account_id, const char *ext_id,
                          struct model_snapshot *out)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, "SELECT " SNAP_COLS "WHERE region_id = ? AND account_id = ? AND ext_id = ?")))
		return -EIO;
	sqlite3_bind_int64(st, 1, region_id);
	sqlite3_bind_int64(st, 2, account_id);
	sqlite3_bind_text(st, 3, ext_id, -1, SQLITE_STATIC);
	return model_one_row(st, snap_fill, out);
}

int model_snapshot_get(model *m, int64_t id, struct model_snapshot *out)
{
	return model_fetch_one(m, "SELECT " SNAP_COLS "WHERE id = ?", NULL, id, snap_fill, out);
}

/* Appends column 0 of every row, one a line, into buf. */
static int lines_into(sqlite3_stmt *st, char *buf, size_t cap)
{
	size_t used = 0;
	int rc;
	buf[0] = '\0';
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		size_t n = t ? strlen(t) : 0;
		if (used + n + 2 > cap)
			break;
		memcpy(buf + used, t, n);
		used += n;
		buf[used++] = '\n';
		buf[used] = '\0';
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? (int)used : model_sqlite_errno(rc);
}

int model_snapshot_images(model *m, int64_t id, char *buf, size_t cap)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, "SELECT DISTINCT i.ext_id FROM devices d JOIN images i ON i.id = d.image_id "
	                         "WHERE d.snapshot_id = ? ORDER BY i.id")))
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return lines_into(st, buf, cap);
}

int model_image_instances(model *m, int64_t image_id, int64_t account_id, char *buf, size_t cap)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, "SELECT name FROM instances WHERE image_id = ? AND account_id = ? ORDER BY id")))
		return -EIO;
	sqlite3_bind_int64(st, 1, image_id);
	sqlite3_bind_int64(st, 2, account_id);
	return lines_into(st, buf, cap);
}

int model_instance_list(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                        int (*cb)(void *arg, const struct model_instance *vm), void *arg)
{
	struct vm_cb vc = {cb, arg};
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, "SELECT " VM_COLS "WHERE region_id = ? AND account_id = ? AND id > ? ORDER BY id")))
		return -EIO;
	sqlite3_bind_int64(st, 1, region_id);
	sqlite3_bind_int64(st, 2, account_id);
	sqlite3_bind_int64(st, 3, after_id);
	return model_each_row(st, vm_each, &vc);
}

int model_instance_lookup(model *m, int64_t region_id, int64_t account_id, const char *name,
                          struct model_instance *out)
{
	struct model_conn *c;
	sqlite3_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, "SELECT " VM_COLS "WHERE region_id = ? AND account_id = ? AND name = ?")))
		return -EIO;
	sqlite3_bind_int64(st, 1, region_id);
	sqlite3_bind_int64(st, 2, account_id);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	return model_one_row(st, vm_fill, out);
}

int model_instance_get(model *m, int64_t id, struct model_instance *out)
{
	return model_fetch_one(m, "SELECT " VM_COLS "WHERE id = ?", NULL, id, vm_fill, out);
}

/*
 * inspection.c — an image's inspection (SPEC §20; model/include/
 * inspections.h): the stored files, a refresh, the inspector's
 * registration.  The task that runs an inspection and writes its row is
 * model/task/inspect.c.
 *
 * Who calls it: the mount's files (fs/fuse/inspect.c: inspection,
 * inspection.json, packages, the inspect control file) and main.c
 * (the registration).  Reads are one row by primary key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

void model_set_inspector(model *m, model_inspector_fn fn, model_snap_inspector_fn snap_fn, void *arg)
{
	m->inspector.fn = fn;
	m->inspector.snap_fn = snap_fn;
	m->inspector.arg = arg;
}

/* Reads st's one row — the file asked for, and whether an inspection is on
 * its way — for the image or snapshot id (both statements bind ?1 the id,
 * ?2 the file). */
static int file_row(db_stmt *st, int64_t id, enum model_inspection_file which, char **out, bool *pending)
{
	int rc;
	*out = NULL;
	*pending = false;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, id);
	db_bind_int(st, 2, (int)which);
	rc = db_step(st);
	if (rc == DB_ROW) {
		*pending = db_col_int(st, 1) != 0;
		const char *t = db_col_text(st, 0);
		if (t && !(*out = strdup(t)))
			rc = -ENOMEM;
	}
	db_reset(st);
	if (rc == -ENOMEM)
		return rc;
	if (rc != DB_ROW)
		return rc == DB_DONE ? -ENOENT : db_errno(rc);
	return *out ? 0 : -ENOENT;
}

/* Inside a write: queues an inspection of id (ins binds ?1 the id) when its
 * status (read by status_st, which binds the id) is available; what the
 * refusals say is the caller's (noun: "image", "snapshot"). */
static int queue_if_available(db_stmt *status_st, db_stmt *ins, int64_t id, int available, const char *noun,
                              struct model_err *err)
{
	int rc;
	if (!status_st || !ins)
		return -EIO;
	db_bind_int64(status_st, 1, id);
	rc = db_step(status_st);
	int status = rc == DB_ROW ? db_col_int(status_st, 0) : 0;
	db_reset(status_st);
	if (rc != DB_ROW)
		return rc == DB_DONE ? model_fail(err, -ENOENT, "no such %s", noun) : db_errno(rc);
	if (status != available)
		return model_fail(err, -EPERM, "a%s %s is inspected once it is available", noun[0] == 'i' ? "n" : "",
		                  noun);
	/* One queued at a time: a second write while it waits adds nothing. */
	db_bind_int64(ins, 1, id);
	return model_exec_stmt(ins);
}

int model_inspection_get(model *m, int64_t image_id, enum model_inspection_file which, char **out, bool *pending)
{
	struct model_conn *c;
	int rc;
	*out = NULL;
	*pending = false;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	/* One statement: the row (if any) and whether a task is on its way. */
	return file_row(model_stmt(c, SQL("SELECT CASE ?2 WHEN 0 THEN n.text WHEN 1 THEN n.json ELSE n.packages END, "
	                                  "EXISTS (SELECT 1 FROM tasks t WHERE t.image_id = ?1 AND t.kind = 'inspect') "
	                                  "FROM images i LEFT JOIN inspections n ON n.image_id = i.id WHERE i.id = ?1")),
	                image_id, which, out, pending);
}

int model_inspection_queue(model *m, int64_t image_id, struct model_err *err)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	rc = queue_if_available(model_stmt(c, SQL("SELECT status FROM images WHERE id = ?")),
	                        model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, state) SELECT 'inspect', ?1, 'queued' "
	                                          "WHERE NOT EXISTS (SELECT 1 FROM tasks WHERE image_id = ?1 AND "
	                                          "kind = 'inspect' AND state = 'queued')")),
	                        image_id, MODEL_IMG_AVAILABLE, "image", err);
	return model_write_end(c, rc, err);
}

int model_inspection_sweep(model *m)
{
	struct model_conn *c;
	struct model_err err = {0};
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, &err)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL_SCAN("once a mount: the available images that have no inspection yet",
	                                  "INSERT INTO tasks(kind, image_id, state) SELECT 'inspect', i.id, 'queued' "
	                                  "FROM images i WHERE i.status = ? AND NOT EXISTS (SELECT 1 FROM inspections n "
	                                  "WHERE n.image_id = i.id) AND NOT EXISTS (SELECT 1 FROM tasks t WHERE "
	                                  "t.image_id = i.id AND t.kind = 'inspect') ORDER BY i.id")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, MODEL_IMG_AVAILABLE);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	/* And the snapshots: those made before snapshots were inspected. */
	if (!(st = model_stmt(c, SQL_SCAN("once a mount: the available snapshots that have no inspection yet",
	                                  "INSERT INTO tasks(kind, image_id, source_kind, source_id, state) "
	                                  "SELECT 'inspect', 0, 'snapshot', s.id, 'queued' FROM snapshots s "
	                                  "WHERE s.status = ? AND NOT EXISTS (SELECT 1 FROM snapshot_inspections n "
	                                  "WHERE n.snapshot_id = s.id) AND NOT EXISTS (SELECT 1 FROM tasks t WHERE "
	                                  "t.source_kind = 'snapshot' AND t.source_id = s.id AND t.kind = 'inspect') "
	                                  "ORDER BY s.id")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, MODEL_SNAP_AVAILABLE);
	rc = model_exec_stmt(st);
out:
	return model_write_end(c, rc, &err);
}

/* ---- a snapshot's (§20: its data, one disk) -------------------------------- */

int model_snap_inspection_get(model *m, int64_t snap_id, enum model_inspection_file which, char **out,
                              bool *pending)
{
	struct model_conn *c;
	int rc;
	*out = NULL;
	*pending = false;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	return file_row(model_stmt(c, SQL("SELECT CASE ?2 WHEN 0 THEN n.text WHEN 1 THEN n.json ELSE n.packages END, "
	                                  "EXISTS (SELECT 1 FROM tasks t WHERE t.source_kind = 'snapshot' AND "
	                                  "t.source_id = ?1 AND t.kind = 'inspect') "
	                                  "FROM snapshots s LEFT JOIN snapshot_inspections n ON n.snapshot_id = s.id "
	                                  "WHERE s.id = ?1")),
	                snap_id, which, out, pending);
}

int model_snap_inspection_queue(model *m, int64_t snap_id, struct model_err *err)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	rc = queue_if_available(model_stmt(c, SQL("SELECT status FROM snapshots WHERE id = ?")),
	                        model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, source_kind, source_id, state) "
	                                          "SELECT 'inspect', 0, 'snapshot', ?1, 'queued' WHERE NOT EXISTS "
	                                          "(SELECT 1 FROM tasks WHERE source_kind = 'snapshot' AND "
	                                          "source_id = ?1 AND kind = 'inspect' AND state = 'queued')")),
	                        snap_id, MODEL_SNAP_AVAILABLE, "snapshot", err);
	return model_write_end(c, rc, err);
}

/*
 * inspect.c — the inspection of an image (SPEC §20): a kind of background
 * task (the engine is task.c, the interface task_int.h), the service's own
 * work like the checksum pass: after every task someone asked for, at
 * most one per process, on no request thread.
 *
 * Who queues it: task_finish (rows.c: captures, conversions, copies),
 * upload_finish (upload.c: uploads, URL imports), the publishing of a
 * platform image (image.c: the catalogue, `imgfs admin publish`), a
 * refresh (`echo > inspect`, model/meta/inspection.c) and the schema step
 * that brought inspections (one per image available then).
 *
 * Running: the process's inspector (the mount's, fs/fuse/inspect.c: the
 * sandboxed helpers read the disks) returns the three files and the
 * attributes to fill; one transaction stores the row, fills each of the
 * image's empty §5.4 attributes it was given (never one the uploader
 * wrote: the UPDATE itself keeps a value that is there), deletes the task
 * and logs the image's change.  A copy's bytes are its origin's: it takes
 * the origin's row when the origin has one, reading nothing.  A failure
 * of the inspector (a helper that died, a disk that cannot be read) is
 * stored as a failed inspection with its reason: an inspection never
 * blocks the image, and a refresh tries again.  A store that did not
 * answer (-EAGAIN from the inspector) is no failure of the image: could
 * not tell, the last inspection stays and the task goes back to the queue
 * with its pause.  An unmount meanwhile puts the task back (r->stopped).
 *
 * Claimable: in a process with an inspector only (`imgfs admin` has
 * none), one at a time (m->inspects_here, counted by the claim, task.c),
 * not while the image is in a recycle bin (it waits for a restore or
 * goes with the destroy); an image gone ends the task quietly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "task_int.h"

int inspect_claimable(struct model_conn *c, int64_t task_id)
{
	db_stmt *st;
	int rc, status = 0;
	if (!c->m->inspector.fn || atomic_load(&c->m->inspects_here) >= 1)
		return 0;
	if (!(st = model_stmt(c, SQL("SELECT COALESCE(i.status, 0) FROM tasks t LEFT JOIN images i ON i.id = t.image_id "
	                             "WHERE t.id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, task_id);
	if ((rc = db_step(st)) == DB_ROW)
		status = db_col_int(st, 0);
	db_reset(st);
	if (rc != DB_ROW)
		return rc == DB_DONE ? 0 : db_errno(rc);
	return status != MODEL_IMG_DELETED;
}

/* The attributes filled: "platform version ..." (those given where the
 * image has none). */
static void filled_names(const struct model_image *img, const struct model_inspection *in, char *out, size_t cap)
{
	const struct {
		const char *name, *have, *give;
	} a[] = {{"os-type", img->os_type, in->os_type},   {"platform", img->platform, in->platform},
	         {"version", img->version, in->version},   {"arch", img->arch, in->arch},
	         {"boot-mode", img->boot_mode, in->boot_mode}, {"features", img->features, in->features}};
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (!a[i].have[0] && a[i].give[0] && n < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " " : "", a[i].name);
}

/* The row, the attributes filled, the task gone, in one transaction. */
static int store(struct task_run *r, const struct model_image *img, const struct model_inspection *in)
{
	struct model_conn *c;
	struct model_err err = {0};
	char filled[96];
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;
	filled_names(img, in, filled, sizeof(filled));
	if ((rc = model_write_begin(r->m, &c, &err)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0) {
		r->lost = rc == 0;
		goto out;
	}
	if (!(st = model_stmt(c, SQL("INSERT INTO inspections(image_id, state, inspected, filled, text, json, packages) "
	                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (image_id) DO UPDATE SET "
	                             "state = excluded.state, inspected = excluded.inspected, filled = excluded.filled, "
	                             "text = excluded.text, json = excluded.json, packages = excluded.packages")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, img->id);
	db_bind_text(st, 2, in->failed ? "failed" : "done");
	db_bind_int64(st, 3, now / 1000000000);
	db_bind_text(st, 4, filled);
	db_bind_text(st, 5, in->text ? in->text : "");
	db_bind_text(st, 6, in->json ? in->json : "");
	db_bind_text(st, 7, in->packages ? in->packages : "");
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	/* Each empty attribute takes what was found; a written one stays. */
	if (filled[0]) {
		if (!(st = model_stmt(c, SQL("UPDATE images SET "
		                             "os_type = CASE WHEN os_type = '' THEN ?2 ELSE os_type END, "
		                             "platform = CASE WHEN platform = '' THEN ?3 ELSE platform END, "
		                             "version = CASE WHEN version = '' THEN ?4 ELSE version END, "
		                             "arch = CASE WHEN arch = '' THEN ?5 ELSE arch END, "
		                             "boot_mode = CASE WHEN boot_mode = '' THEN ?6 ELSE boot_mode END, "
		                             "features = CASE WHEN features = '' THEN ?7 ELSE features END, "
		                             "mtime_ns = ?8, ctime_ns = ?8 WHERE id = ?1")))) {
			rc = -EIO;
			goto out;
		}
		db_bind_int64(st, 1, img->id);
		db_bind_text(st, 2, in->failed ? "" : in->os_type);
		db_bind_text(st, 3, in->failed ? "" : in->platform);
		db_bind_text(st, 4, in->failed ? "" : in->version);
		db_bind_text(st, 5, in->failed ? "" : in->arch);
		db_bind_text(st, 6, in->failed ? "" : in->boot_mode);
		db_bind_text(st, 7, in->failed ? "" : in->features);
		db_bind_int64(st, 8, now);
		if ((rc = model_exec_stmt(st)) < 0)
			goto out;
	}
	if ((rc = task_delete_row(c, r->t.id)) < 0)
		goto out;
	rc = model_log_change(c, MODEL_CHANGE_IMAGE, img->id, img->region_id, img->folder, NULL);
out:
	return model_write_end(c, rc, &err);
}

/* A copy takes its origin's row (the same bytes): 1 when there was one
 * (the task is done), 0 when the origin has none (it is read), -errno. */
static int inherit(struct task_run *r, const struct model_image *img)
{
	struct model_conn *c;
	struct model_err err = {0};
	db_stmt *st;
	int rc, done = 0;
	if ((rc = model_write_begin(r->m, &c, &err)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0) {
		r->lost = rc == 0;
		goto out;
	}
	if (!(st = model_stmt(c, SQL("INSERT INTO inspections(image_id, state, inspected, filled, text, json, packages) "
	                             "SELECT ?1, state, inspected, filled, text, json, packages FROM inspections "
	                             "WHERE image_id = ?2 AND state = 'done' ON CONFLICT (image_id) DO UPDATE SET "
	                             "state = excluded.state, inspected = excluded.inspected, filled = excluded.filled, "
	                             "text = excluded.text, json = excluded.json, packages = excluded.packages")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, img->id);
	db_bind_int64(st, 2, img->origin_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if ((done = model_changes(c) == 1) &&
	    ((rc = task_delete_row(c, r->t.id)) < 0 ||
	     (rc = model_log_change(c, MODEL_CHANGE_IMAGE, img->id, img->region_id, img->folder, NULL)) < 0))
		goto out;
out:
	rc = model_write_end(c, rc, &err);
	return rc < 0 ? rc : r->lost ? 1 : done;
}

/* A snapshot's row (§20: its data, one disk), the task gone, in one
 * transaction; nothing to fill. */
static int snap_store(struct task_run *r, const struct model_snapshot *s, const struct model_inspection *in)
{
	struct model_conn *c;
	struct model_err err = {0};
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(r->m, &c, &err)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0) {
		r->lost = rc == 0;
		goto out;
	}
	if (!(st = model_stmt(c, SQL("INSERT INTO snapshot_inspections(snapshot_id, state, inspected, text, json, packages) "
	                             "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM snapshots WHERE id = ?1) "
	                             "ON CONFLICT (snapshot_id) DO UPDATE SET state = excluded.state, "
	                             "inspected = excluded.inspected, text = excluded.text, json = excluded.json, "
	                             "packages = excluded.packages")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, s->id);
	db_bind_text(st, 2, in->failed ? "failed" : "done");
	db_bind_int64(st, 3, model_now_ns() / 1000000000);
	db_bind_text(st, 4, in->text ? in->text : "");
	db_bind_text(st, 5, in->json ? in->json : "");
	db_bind_text(st, 6, in->packages ? in->packages : "");
	if ((rc = model_exec_stmt(st)) < 0 || (rc = task_delete_row(c, r->t.id)) < 0)
		goto out;
	rc = model_log_change(c, MODEL_CHANGE_SNAPSHOT, s->id, s->region_id, MODEL_FOLDER_INVALID, NULL);
out:
	return model_write_end(c, rc, &err);
}

/* Runs the inspector (fn for an image, snap_fn for a snapshot) into in;
 * a failure becomes a failed inspection with its reason (what names the
 * owner in the log).  -EINTR: an unmount meanwhile (r->stopped).
 * -EAGAIN: could not tell (a store that did not answer: issue 70, an
 * OSD outage stored "no operating system found" over a good inspection):
 * nothing is stored, the last inspection stays, and the task goes back to
 * the queue with its pause (task.c task_requeue). */
static int run_inspector(struct task_run *r, int64_t id, bool snap, const char *what, struct model_inspection *in)
{
	struct model_err err = {0};
	memset(in, 0, sizeof(*in));
	int rc = snap ? r->m->inspector.snap_fn(r->m->inspector.arg, id, in, &err)
	              : r->m->inspector.fn(r->m->inspector.arg, id, in, &err);
	if (r->stop && *r->stop) {
		r->stopped = true; /* an unmount: the next runner reads it again */
		return -EINTR;
	}
	if (rc == -EAGAIN) {
		free(in->text);
		free(in->json);
		free(in->packages);
		memset(in, 0, sizeof(*in));
		model_log(r->m, "inspection of %s: %s: the last inspection stays", what,
		          err.msg[0] ? err.msg : "could not tell");
		return rc;
	}
	if (rc < 0) {
		free(in->text);
		free(in->json);
		free(in->packages);
		memset(in, 0, sizeof(*in));
		in->failed = true;
		const char *why = err.msg[0] ? err.msg : strerror(-rc);
		if (asprintf(&in->text, "status: failed\nreason: %s\n", why) < 0)
			in->text = NULL;
		in->json = strdup("{\"status\": \"failed\"}\n");
		model_log(r->m, "inspection of %s: %s", what, why);
	}
	return 0;
}

/* A snapshot's inspection (source_kind 'snapshot'): gone or not
 * available any more ends the task quietly. */
static int snap_run(struct task_run *r)
{
	struct model_inspection in;
	struct model_snapshot s;
	char what[48];
	int rc = model_snapshot_get(r->m, r->t.source_id, &s);
	if (rc == -ENOENT || (rc == 0 && s.status != MODEL_SNAP_AVAILABLE) || (rc == 0 && !r->m->inspector.snap_fn))
		return task_drop_row(r);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "snapshot %s", s.ext_id);
	rc = run_inspector(r, s.id, true, what, &in);
	if (rc == 0)
		rc = snap_store(r, &s, &in);
	else if (rc == -EINTR)
		rc = 0; /* (-EAGAIN: back in the queue with its pause) */
	free(in.text);
	free(in.json);
	free(in.packages);
	return rc;
}

int inspect_run(struct task_run *r)
{
	if (strcmp(r->t.source_kind, "snapshot") == 0)
		return snap_run(r);

	struct model_inspection in;
	struct model_image img;
	char what[48];
	int rc = model_image_get(r->m, r->t.image_id, &img);
	if (rc == -ENOENT || (rc == 0 && img.status != MODEL_IMG_AVAILABLE))
		return task_drop_row(r); /* gone, or nothing to read any more */
	if (rc < 0)
		return rc;
	if (img.origin_id && strcmp(img.origin_kind, "copy") == 0 && (rc = inherit(r, &img)) != 0)
		return rc < 0 ? rc : 0;
	snprintf(what, sizeof(what), "image %s", img.ext_id);
	if ((rc = run_inspector(r, img.id, false, what, &in)) < 0) {
		if (rc == -EINTR)
			rc = 0; /* an unmount; -EAGAIN: back in the queue with its pause */
		goto out;
	}
	rc = store(r, &img, &in);
out:
	free(in.text);
	free(in.json);
	free(in.packages);
	return rc;
}

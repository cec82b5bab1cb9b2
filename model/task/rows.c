/*
 * rows.c — the rows a task kind makes, shared by the kinds (SPEC §5.1,
 * §6.2, §6.3): a blob or a snapshot made, a device finished, the image
 * made available with its devices and SHA-256 (task_finish), images made
 * from images (convert.c, copy.c), a task row queued, and the undo of
 * devices a failed task made.  The engine that claims and runs tasks is
 * task.c; this file is what the kinds call inside their own transactions
 * (task_int.h declares it all).  Moved out of task.c, which had grown past
 * 1,300 lines holding two things: the engine and these helpers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task_int.h"

/* ---- rows a task makes --------------------------------------------------------- */

int task_insert_blob(struct model_conn *c, int64_t region_id, uint64_t size, int64_t key_id, int64_t *id_out)
{
	db_stmt *st = model_stmt(c, SQL("INSERT INTO blobs(region_id, size, stored, mtime_ns, key_id) VALUES (?, ?, 0, ?, ?) "
	                                "RETURNING id"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, region_id);
	db_bind_int64(st, 2, (int64_t)size);
	db_bind_int64(st, 3, model_now_ns());
	db_bind_int64(st, 4, key_id);
	return model_insert(st, id_out);
}

int task_insert_snapshot(struct model_conn *c, const struct task_snap_new *sn, int64_t *id_out)
{
	char ext[16];
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;

	if (!(st = model_stmt(c, SQL("INSERT INTO snapshots(ext_id, region_id, account_id, name, description, status, "
	                         "size, blob_id, created, mtime_ns, ctime_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?10) "
	                         "ON CONFLICT (ext_id) DO NOTHING RETURNING id"))))
		return -EIO;
	db_bind_int64(st, 2, sn->region_id);
	db_bind_int64(st, 3, sn->account_id);
	db_bind_text(st, 4, sn->name);
	db_bind_text(st, 5, sn->description);
	db_bind_int(st, 6, MODEL_SNAP_CREATING);
	db_bind_int64(st, 7, (int64_t)sn->size);
	db_bind_int64(st, 8, sn->blob_id);
	db_bind_int64(st, 9, now / 1000000000);
	db_bind_int64(st, 10, now);
	if ((rc = model_insert_ext(st, "snap-", ext, model_fill_id, id_out)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_SNAPSHOT, *id_out, sn->region_id, MODEL_FOLDER_INVALID, NULL);
}

int task_device_done(struct task_run *r, int64_t blob_id, int64_t snap_id, const blob_manifest *man)
{
	struct model_conn *c;
	db_stmt *st;
	void *enc = NULL;
	size_t len = 0;
	int64_t sealed = model_now_ns(), now;
	int rc;

	if ((rc = blob_manifest_encode(&enc, &len, man)) < 0)
		return rc;
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		goto out_free;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	now = task_after(sealed); /* the snapshot's files are newer than its data */
	/* xxh128 '': the checksum pass reads it once the image is available
	 * (task_finish queues it; checksum.c). */
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET manifest = ?, size = ?, stored = ?, xxh128 = '', mtime_ns = ? "
	                         "WHERE id = ? AND manifest IS NULL")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_blob(st, 1, enc, len);
	db_bind_int64(st, 2, (int64_t)man->size);
	db_bind_int64(st, 3, (int64_t)man->stored);
	db_bind_int64(st, 4, sealed);
	db_bind_int64(st, 5, blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (snap_id) {
		if (!(st = model_stmt(c, SQL("UPDATE snapshots SET status = ?, size = ?, mtime_ns = ?3, ctime_ns = ?3 "
		                         "WHERE id = ?")))) {
			rc = -EIO;
			goto out;
		}
		db_bind_int(st, 1, MODEL_SNAP_AVAILABLE);
		db_bind_int64(st, 2, (int64_t)man->size);
		db_bind_int64(st, 3, now);
		db_bind_int64(st, 4, snap_id);
		if ((rc = model_exec_stmt(st)) < 0 ||
		    (rc = model_log_change(c, MODEL_CHANGE_SNAPSHOT, snap_id, r->region_id, MODEL_FOLDER_INVALID, NULL)) <
		            0)
			goto out;
		/* What is inside it, read in the background (inspect.c, §20). */
		if (!(st = model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, source_kind, source_id, state) "
		                             "SELECT 'inspect', 0, 'snapshot', ?, 'queued' WHERE ? != 0")))) {
			rc = -EIO;
			goto out;
		}
		db_bind_int64(st, 1, snap_id);
		db_bind_int(st, 2, c->m->inspector.snap_fn != NULL); /* (a process that inspects: a mount) */
		if ((rc = model_exec_stmt(st)) < 0)
			goto out;
	}
	if ((rc = task_image_progress(c, r)) < 0 || (r->device_done && (rc = r->device_done(c, r)) < 0))
		goto out;
out:
	rc = model_write_end(c, rc, NULL);
out_free:
	free(enc);
	return rc;
}

int task_blob_sha256(struct task_run *r, int64_t blob_id, int64_t src_blob, int64_t holder,
                     const blob_manifest *man, char out[65])
{
	blob_manifest *own = NULL;
	struct model_blob b;
	int rc;

	if ((rc = model_blob_get(r->m, blob_id, &b)) < 0)
		return rc;
	model_sha256_open(r->m, b.key_id, b.sha256, out);
	if (out[0])
		return 1; /* hashed as it was written (an upload), or a resumed task's */
	if (!man) {
		if ((rc = model_blob_manifest(r->m, blob_id, &own)) < 0)
			return rc;
		man = own;
	}
	/* Else "": no task reads a blob here, the checksum pass does (§2.1). */
	if ((rc = model_blob_sha256_reuse(r->m, src_blob, holder, man, out)) >= 0)
		rc = 1;
	blob_manifest_free(own);
	return rc;
}

int task_finish(struct task_run *r, const struct task_dev *devs, int n)
{
	struct model_conn *c;
	db_stmt *st;
	int64_t now = model_now_ns();
	char sha[65], stored[MODEL_SHA_STORED];
	int rc;

	/* The system disk's SHA-256 (§2.1): hashed on its way in, or the
	 * source's of the same bytes (a copy, a raw conversion).  Anything
	 * else is read by a checksum task once the image is available: a new
	 * disk (a capture, a decoded QCOW2), whose hash of a 40 GiB blank
	 * system disk would otherwise keep it pending 22 s (0.55 s per GiB,
	 * holes too), and a copy or conversion of a source whose own checksum
	 * task has not run yet (a copy right after a capture would otherwise
	 * read its 4 GiB before it is available: 28 s cold, against 0.02 s;
	 * the task takes the source's hash when it has one by then,
	 * checksum.c).  An encrypted one's is kept sealed (§17; "" if it
	 * cannot be). */
	if ((rc = task_blob_sha256(r, devs[0].blob_id, devs[0].src_blob, 0, NULL, sha)) <= 0)
		return rc;
	model_sha256_seal(r->m, devs[0].blob_id, sha, stored);
	/* Each disk's XXH3-128 (§2.3): its source's of the same bytes when it
	 * has one, found without a read; the rest by the checksum pass. */
	char xxh[MODEL_MAX_DEVICES][MODEL_SHA_STORED]; /* as stored: sealed when encrypted (§17) */
	for (int k = 0; k < n && k < MODEL_MAX_DEVICES; k++) {
		blob_manifest *man = NULL;
		char hex[33] = "";
		xxh[k][0] = '\0';
		if (devs[k].src_blob && model_blob_manifest(r->m, devs[k].blob_id, &man) == 0 &&
		    model_blob_xxh128_reuse(r->m, devs[k].src_blob, 0, man, hex) > 0)
			model_xxh128_seal(r->m, devs[k].blob_id, hex, xxh[k]);
		blob_manifest_free(man);
	}
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	for (int k = 0; k < n && k < MODEL_MAX_DEVICES; k++) {
		if (!xxh[k][0])
			continue;
		if (!(st = model_stmt(c, SQL("UPDATE blobs SET xxh128 = ? WHERE id = ? AND xxh128 = ''")))) {
			rc = -EIO;
			goto out;
		}
		db_bind_text(st, 1, xxh[k]);
		db_bind_int64(st, 2, devs[k].blob_id);
		if ((rc = model_exec_stmt(st)) < 0)
			goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET sha256 = ? WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, stored);
	db_bind_int64(st, 2, devs[0].blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	for (int k = 0; k < n; k++) {
		if (!(st = model_stmt(c, SQL("INSERT INTO devices(image_id, idx, blob_id, snapshot_id) VALUES (?, ?, ?, ?)")))) {
			rc = -EIO;
			goto out;
		}
		db_bind_int64(st, 1, r->t.image_id);
		db_bind_int(st, 2, devs[k].idx);
		db_bind_int64(st, 3, devs[k].blob_id);
		db_bind_int64(st, 4, devs[k].snap_id);
		if ((rc = model_exec_stmt(st)) < 0)
			goto out;
	}
	/* disks/ gets its entries: the directory's mtime too.  The size is
	 * vda's as written.  Entering available clears a refusal's reason. */
	if (!(st = model_stmt(c, SQL("UPDATE images SET status = ?, progress = 100, "
	                         "size = (SELECT size FROM blobs WHERE id = ?), "
	                         "error_ns = CASE error WHEN '' THEN error_ns ELSE ?3 END, error = '', "
	                         "mtime_ns = ?3, ctime_ns = ?3, dir_mtime_ns = ?3 WHERE id = ? AND status IN (?, ?)")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, MODEL_IMG_AVAILABLE);
	db_bind_int64(st, 2, devs[0].blob_id);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, r->t.image_id);
	db_bind_int(st, 5, MODEL_IMG_PENDING);
	db_bind_int(st, 6, MODEL_IMG_REPLICATING);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (model_changes(c) != 1) {
		rc = -ESTALE; /* checked by the caller beforehand: cannot happen */
		goto out;
	}
	/* Its SHA-256 and its disks' XXH3-128 (§2.3: no disk made here has
	 * one yet) read in the background (checksum.c). */
	if (!(st = model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, state) SELECT 'checksum', ?1, 'queued' "
	                             "WHERE ?2 = 0 OR EXISTS (SELECT 1 FROM devices d JOIN blobs b ON b.id = d.blob_id "
	                             "WHERE d.image_id = ?1 AND b.xxh128 = '')")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, r->t.image_id);
	db_bind_int(st, 2, sha[0] != '\0');
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
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, r->t.image_id, r->region_id, r->folder, NULL)) < 0 ||
	    (rc = task_log_source(c, r)) < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

/* ---- images made from images (convert.c, copy.c) ---------------------------------- */

int task_insert_image(struct model_conn *c, const struct model_image *src, const struct task_image_new *n,
                      int64_t *id_out)
{
	char ext[16];
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;

	/* Of the source's lineage (SPEC §17): encrypted when it is, under its key. */
	if (!(st = model_stmt(c, SQL("INSERT INTO images(ext_id, region_id, account_id, folder, name, status, progress, type, "
	                         "format, os_type, platform, version, arch, boot_mode, features, description, tags, "
	                         "source, size, origin_kind, origin_id, created, mtime_ns, ctime_ns, dir_mtime_ns, "
	                         "project, encrypted, key_id, uuid) VALUES (?, ?, ?, ?, ?, ?, 0, ?, 'raw', ?, ?, ?, ?, ?, ?, ?, "
	                         "?, ?, ?, ?, ?, ?, ?, ?22, ?22, ?23, ?24, ?25, ?26) "
	                         "ON CONFLICT (ext_id) DO NOTHING RETURNING id"))))
		return -EIO;
	db_bind_int(st, 24, src->encrypted || src->key_id ? 1 : 0);
	db_bind_int64(st, 25, src->key_id);
	db_bind_int64(st, 2, n->region_id);
	db_bind_int64(st, 3, src->account_id);
	db_bind_int(st, 4, MODEL_FOLDER_PRIVATE);
	db_bind_text(st, 5, n->name);
	db_bind_int(st, 6, MODEL_IMG_PENDING);
	db_bind_int(st, 7, MODEL_TYPE_CLOUD);
	db_bind_text(st, 8, src->os_type);
	db_bind_text(st, 9, src->platform);
	db_bind_text(st, 10, src->version);
	db_bind_text(st, 11, src->arch);
	db_bind_text(st, 12, src->boot_mode);
	db_bind_text(st, 13, src->features);
	db_bind_text(st, 14, n->description);
	db_bind_text(st, 15, src->tags);
	db_bind_text(st, 16, n->source);
	db_bind_int64(st, 17, (int64_t)n->size);
	db_bind_text(st, 18, n->origin_kind);
	db_bind_int64(st, 19, src->id);
	db_bind_int64(st, 20, now / 1000000000);
	db_bind_int64(st, 21, now);
	db_bind_int64(st, 22, now);
	db_bind_text(st, 23, src->project); /* the project group goes with the description */
	char uuid[37];
	if ((rc = model_uuid_new(uuid)) < 0) {
		db_reset(st);
		return rc;
	}
	db_bind_text(st, 26, uuid);
	if ((rc = model_insert_ext(st, "img-", ext, model_fill_id, id_out)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_IMAGE, *id_out, n->region_id, MODEL_FOLDER_PRIVATE, NULL);
}

int task_insert_row(struct model_conn *c, const char *kind, int64_t image_id, const char *source_kind,
                    int64_t source_id, const struct task_pdev *d, int n, uint64_t total, const char *host)
{
	char args[MODEL_TEXT_MAX + 1];
	size_t len = 0;
	db_stmt *st;

	for (int k = 0; k < n; k++) {
		len += (size_t)snprintf(args + len, sizeof(args) - len, "%d %" PRId64 " %" PRId64 " %" PRId64 "\n",
		                        d[k].idx, d[k].src_blob, d[k].dst_blob, d[k].snap_id);
		if (len >= sizeof(args))
			return -E2BIG; /* 27 lines of 4 numbers: cannot happen */
	}
	if (!(st = model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, source_kind, source_id, args, state, bytes_total, "
	                             "host) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)"))))
		return -EIO;
	db_bind_text(st, 1, kind);
	db_bind_int64(st, 2, image_id);
	db_bind_text(st, 3, source_kind);
	db_bind_int64(st, 4, source_id);
	db_bind_text(st, 5, args);
	db_bind_int64(st, 6, (int64_t)total);
	db_bind_text(st, 7, host);
	return model_exec_stmt(st);
}

int task_args_parse(const char *args, struct task_pdev *d, int max)
{
	int n = 0;
	for (const char *p = args; *p;) {
		struct task_pdev e = {0};
		int used = 0;
		if (n == max ||
		    sscanf(p, "%d %" SCNd64 " %" SCNd64 " %" SCNd64 "%n", &e.idx, &e.src_blob, &e.dst_blob, &e.snap_id,
		           &used) != 4 ||
		    e.idx < 0 || e.idx >= MODEL_MAX_DEVICES || p[used] != '\n')
			return -EINVAL;
		d[n++] = e;
		p += used + 1;
	}
	return n > 0 && d[0].idx == 0 ? n : -EINVAL;
}

int task_undo_devs(struct model_conn *c, struct task_run *r, void *arg)
{
	const struct task_plan *p = arg;
	bool snaps = false;
	int rc;

	for (int k = 0; k < p->n; k++) {
		struct model_snapshot s;
		if (p->d[k].dst_blob == p->d[k].src_blob)
			continue; /* a snapshot both images reference: not ours */
		if (p->d[k].snap_id && model_snapshot_get(r->m, p->d[k].snap_id, &s) == 0) {
			if ((rc = model_snapshot_delete_row(c, &s)) < 0)
				return rc;
			snaps = true;
		}
		if ((rc = model_blob_drop_unreferenced(c, p->d[k].dst_blob)) < 0)
			return rc;
	}
	if (snaps && (rc = model_touch_region(c, r->region_id)) < 0)
		return rc;
	return 0;
}


/*
 * copy.c — copying a private cloud image to another region (SPEC §6.3, seed
 * 003), a kind of background task (engine: task.c, interface: task_int.h),
 * and the copies an image has (copies/).
 *
 * Who calls it: fs/ (mkdir copies/<region>: model_image_copy; the copies/
 * listing: model_image_copies, model_image_copy_in), the task engine
 * (copy_run, copy_claimable), the unit tests.
 *
 * Queueing checks everything and reserves in one transaction, before mkdir
 * returns: the copy image in the target region (pending, the source's
 * name, attributes and tags, its description plus the lineage, `source`
 * "copy <region> <source id>", origin_kind 'copy' and origin_id the
 * source), per source device a blob "being written" and a snapshot
 * `creating` in the target region (the target's quotas count them at
 * once), and the task row: kind 'copy', source_kind 'image' (the source
 * is busy: it cannot be deleted), args one line per device (task_int.h).
 * The source's copies/ listing changes (its dir_mtime_ns), so does the
 * target region's private/ and snapshots/ (model_touch_region).
 *
 * Running: for each device, the chunks of the source manifest go through
 * blob_batch_copy_many into the target store, COPY_GROUP at a time: a
 * chunk the target has costs an exists check (asked together for the
 * group: one round trip for all on a RADOS store; it refreshes the chunk's
 * timestamp, so a gc there keeps it); a missing one is hard-linked when both
 * stores are on one file system, else read (verified, several reads in
 * flight from a RADOS source) and written — never hashed again, its id is
 * known; between two regions in different Ceph clusters each missing chunk
 * crosses once (SPEC §13).
 * The batch is committed (every chunk durable, named, and the names
 * durable) before the device's manifest — the source's manifest itself:
 * the ids are the same in every region (one secret per state) — is
 * committed with its snapshot available and the counts of what moved
 * (tasks.moved_chunks, moved_bytes, found_chunks): that is the device's
 * durable point, and a resumed task skips the devices that passed it.
 * The last transaction maps the devices and makes the copy available, and
 * one log line tells what moved:
 *   "copy img-x cn-north-1 -> cn-east-2: N chunks (B bytes) copied, M already there"
 *
 * A read that failed is judged (SPEC §13): a chunk damaged or gone, or the
 * target full, ends the copy in error with the reason (a verdict); a store
 * in a cluster that did not answer (EIO) sends the run back to the queue
 * with its pause, and the next one resumes from the last device done.
 *
 * An instance may read the copy early (SPEC §6.5 "Early", early.c): then
 * device 0's chunks go through the early entry's claims (copy_group_early:
 * a chunk a reader placed is not placed again, and counts as this copy's),
 * each group committed at once; the copy's end ends the entry.
 *
 * At most MODEL_COPIES_RUNNING copies of one account run at once: the
 * claim asks copy_claimable, which counts the account's copies running
 * under live runners; the others stay queued (`task` shows their place).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "early.h"
#include "task_int.h"

/* ---- the copies of an image ----------------------------------------------------- */

struct copies_cb {
	model *m;
	int (*cb)(void *arg, const struct model_image *copy);
	void *arg;
};

static int copies_row(void *arg, db_stmt *st)
{
	struct copies_cb *cc = arg;
	struct model_image img;
	if (model_image_get(cc->m, db_col_int64(st, 0), &img) < 0)
		return 0; /* gone meanwhile */
	return cc->cb(cc->arg, &img);
}

int model_image_copies(model *m, int64_t image_id, int (*cb)(void *arg, const struct model_image *copy), void *arg)
{
	struct copies_cb cc = {m, cb, arg};
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL_SCAN("sorts only the copies of one image",
	                                  "SELECT id FROM images WHERE origin_id = ? AND origin_kind = 'copy' AND folder = ? "
	                         "ORDER BY region_id, id"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	db_bind_int(st, 2, MODEL_FOLDER_PRIVATE);
	return model_each_row(st, copies_row, &cc);
}

struct copy_find {
	int64_t region_id;
	struct model_image *out;
	bool found;
};

static int copy_find_one(void *arg, const struct model_image *copy)
{
	struct copy_find *f = arg;
	if (copy->region_id != f->region_id)
		return 0;
	*f->out = *copy;
	f->found = true;
	return 1;
}

int model_image_copy_in(model *m, int64_t image_id, int64_t region_id, struct model_image *out)
{
	struct copy_find f = {region_id, out, false};
	int rc = model_image_copies(m, image_id, copy_find_one, &f);
	if (rc < 0)
		return rc;
	return f.found ? 0 : -ENOENT;
}

static void fill_i64(db_stmt *st, void *out)
{
	*(int64_t *)out = db_col_int64(st, 0);
}

int64_t model_image_copies_mtime(model *m, int64_t image_id)
{
	int64_t t = 0;
	if (model_fetch_one(m, SQL("SELECT max(t) FROM (SELECT dir_mtime_ns AS t FROM images WHERE id = ?1 UNION ALL "
	                           "SELECT ctime_ns FROM images WHERE origin_id = ?1 AND origin_kind = 'copy') AS times"),
	                    NULL, image_id, fill_i64, &t) < 0)
		return 0;
	return t;
}

/* ---- queueing ------------------------------------------------------------------ */

static int copy_check_source(const struct model_image *src, int64_t region_id, struct model_err *err)
{
	if (src->folder != MODEL_FOLDER_PRIVATE)
		return model_fail(err, -EPERM, "only private images are copied (%s images are not)",
		                  model_folder_name(src->folder));
	if (src->type != MODEL_TYPE_CLOUD)
		return model_fail(err, -EINVAL, "only cloud images are copied; convert %s first", src->name);
	if (src->status != MODEL_IMG_AVAILABLE)
		return model_fail(err, -EINVAL, "the image is %s, not available", model_image_status_name(src->status));
	if (src->region_id == region_id)
		return model_fail(err, -EINVAL, "the image is in that region already");
	return 0;
}

/* -EBUSY while a copy of src to the region is queued or running; -EEXIST
 * while an earlier copy is still in its private/ (copies/ shows one copy
 * per region). */
static int copy_check_target(model *m, struct model_conn *c, const struct model_image *src,
                             const struct model_region *to, struct model_err *err)
{
	struct model_image other;
	db_stmt *st = model_stmt(c, SQL("SELECT 1 FROM tasks t JOIN images i ON i.id = t.image_id "
	                                 "WHERE t.kind = 'copy' AND t.source_id = ? AND i.region_id = ? LIMIT 1"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, src->id);
	db_bind_int64(st, 2, to->id);
	rc = db_step(st);
	db_reset(st);
	if (rc == DB_ROW)
		return model_fail(err, -EBUSY, "a copy of %s to %s is in progress", src->name, to->name);
	if (rc != DB_DONE)
		return db_errno(rc);
	if (model_image_copy_in(m, src->id, to->id, &other) == 0)
		return model_fail(err, -EEXIST, "%s has a copy of %s already (%s %s); remove it there first", to->name,
		                  src->name, other.name, other.ext_id);
	if (model_image_lookup(m, to->id, src->account_id, MODEL_FOLDER_PRIVATE, src->name, &other) == 0)
		return model_fail(err, -EEXIST, "an image named %s exists in %s", src->name, to->name);
	return 0;
}

/* The copy's description: the source's plus where it came from, within
 * MODEL_DESC_MAX bytes — the source's text is cut (at a UTF-8 character
 * boundary) rather than the lineage. */
static void copy_description(char out[MODEL_DESC_MAX + 1], const struct model_image *src, const char *region)
{
	char lineage[MODEL_NAME_MAX + 64]; /* a region name is 32 characters: at most 128 bytes (§10) */
	size_t room, keep = strlen(src->description);

	snprintf(lineage, sizeof(lineage), "%scopied from %s %s", keep ? " — " : "", region, src->ext_id);
	room = strlen(lineage) < MODEL_DESC_MAX ? MODEL_DESC_MAX - strlen(lineage) : 0;
	if (keep > room) {
		keep = room;
		while (keep > 0 && ((unsigned char)src->description[keep] & 0xc0) == 0x80)
			keep--; /* never end inside a character */
	}
	size_t tail = strlen(lineage) < MODEL_DESC_MAX - keep ? strlen(lineage) : MODEL_DESC_MAX - keep;
	memcpy(out, src->description, keep);
	memcpy(out + keep, lineage, tail);
	out[keep + tail] = '\0';
}

/* Per source device: a blob and a snapshot `creating` in the target
 * region.  Fills d; returns the count and *total, the bytes to copy. */
static int copy_plan(model *m, struct model_conn *c, const struct model_image *src, const struct model_region *to,
                     struct task_pdev *d, uint64_t *total, struct model_err *err)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int n, rc;

	if ((n = model_device_list(m, src->id, devs)) < 0)
		return model_fail(err, n, "cannot list the devices of %s", src->name);
	if (n == 0 || devs[0].index != 0)
		return model_fail(err, -EINVAL, "image %s has no system disk", src->name);
	*total = 0;
	for (int k = 0; k < n; k++) {
		struct model_snapshot s;
		char desc[MODEL_DESC_MAX + 1];
		struct task_snap_new sn = {to->id, src->account_id, NULL, desc, devs[k].size, 0};

		if (devs[k].kind != MODEL_DEV_SNAPSHOT || model_snapshot_get(m, devs[k].snapshot_id, &s) < 0)
			return model_fail(err, -EINVAL, "device %s of %s is not a snapshot", devs[k].name, src->name);
		snprintf(desc, sizeof(desc), "copy of %s from %s", s.ext_id, src->ext_id);
		sn.name = s.name;
		d[k] = (struct task_pdev){devs[k].index, devs[k].blob_id, 0, 0};
		if ((rc = task_insert_blob(c, to->id, devs[k].size, src->key_id, &d[k].dst_blob)) < 0)
			return model_fail_db(err, rc);
		sn.blob_id = d[k].dst_blob;
		if ((rc = task_insert_snapshot(c, &sn, &d[k].snap_id)) < 0)
			return model_fail_db(err, rc);
		*total += devs[k].size;
	}
	return n;
}

/* The source's copies/ listing changed: its directories' mtime, logged. */
static int copy_touch_source(struct model_conn *c, const struct model_image *src)
{
	db_stmt *st = model_stmt(c, SQL("UPDATE images SET dir_mtime_ns = ?, ctime_ns = ?1 WHERE id = ?"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, model_now_ns());
	db_bind_int64(st, 2, src->id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_IMAGE, src->id, src->region_id, src->folder, NULL);
}

int model_image_copy(model *m, int64_t image_id, int64_t region_id, int64_t *id_out, struct model_err *err)
{
	struct task_pdev d[MODEL_MAX_DEVICES];
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_region from, to;
	struct model_image src;
	struct model_conn *c;
	char desc[MODEL_DESC_MAX + 1], source[MODEL_NAME_MAX + 32];
	uint64_t total = 0;
	int64_t id;
	int n, rc;

	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &src)) < 0 || (rc = model_region_get(m, src.region_id, &from)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if ((rc = model_region_get(m, region_id, &to)) < 0) {
		model_fail(err, -ENOENT, "no such region");
		goto out;
	}
	if ((rc = copy_check_source(&src, region_id, err)) < 0 || (rc = copy_check_target(m, c, &src, &to, err)) < 0 ||
	    (rc = model_quota_check(c, src.account_id, to.id, MODEL_QUOTA_PRIVATE_IMAGES, 1, err)) < 0 ||
	    (rc = n = model_device_list(m, src.id, devs)) < 0 ||
	    (rc = model_quota_check(c, src.account_id, to.id, MODEL_QUOTA_SNAPSHOTS, n, err)) < 0)
		goto out;
	copy_description(desc, &src, from.name);
	snprintf(source, sizeof(source), "copy %s %s", from.name, src.ext_id);
	struct task_image_new ni = {to.id, src.name, desc, source, "copy", src.size};
	if ((rc = task_insert_image(c, &src, &ni, &id)) < 0 || (rc = n = copy_plan(m, c, &src, &to, d, &total, err)) < 0 ||
	    (rc = task_insert_row(c, "copy", id, "image", src.id, d, n, total, "")) < 0 || (rc = model_touch_region(c, to.id)) < 0 ||
	    (rc = copy_touch_source(c, &src)) < 0)
		goto out;
out:
	if ((rc = model_write_end(c, rc, err)) == 0 && id_out)
		*id_out = id;
	return rc;
}

/* ---- the per-account limit ------------------------------------------------------- */

int copy_claimable(struct model_conn *c, int64_t task_id)
{
	int rc = task_account_running(c, task_id, "copy");
	return rc < 0 ? rc : rc < MODEL_COPIES_RUNNING;
}

/* ---- running ------------------------------------------------------------------- */

/* What the device being copied moved, added to the task row at its
 * durable point (task_device_done calls copy_device_done). */
struct copy_moved {
	uint64_t chunks, bytes, found;
	uint64_t early_bytes; /* of bytes, those early reads placed (counted in /stats as they did) */
};

static int copy_device_done(struct model_conn *c, struct task_run *r)
{
	const struct copy_moved *mv = r->kind_state;
	db_stmt *st = model_stmt(c, SQL("UPDATE tasks SET moved_chunks = moved_chunks + ?, moved_bytes = moved_bytes + ?, "
	                                 "found_chunks = found_chunks + ? WHERE id = ?"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, (int64_t)mv->chunks);
	db_bind_int64(st, 2, (int64_t)mv->bytes);
	db_bind_int64(st, 3, (int64_t)mv->found);
	db_bind_int64(st, 4, r->t.id);
	int rc = model_exec_stmt(st);
	if (rc >= 0)
		task_count_moved(r, mv->bytes - mv->early_bytes);
	return rc;
}

/* Data chunks given to blob_batch_copy_many at once (its existence checks
 * are batched by that many). */
#define COPY_GROUP 64

/* A group of chunks of a copy that early readers read (SPEC §6.5 "Early"):
 * the chunks a reader placed or is placing are not placed again (moved[k]
 * says whether the chunk crossed, by the copy or by a reader), the others
 * claimed, placed and committed at once (a reader waiting for one reads it
 * from the store next). */
static int copy_group_early(model *m, struct early_import *e, blob_batch *b, blob_store *src, const chunk_id *ids,
                            const uint32_t *at, size_t n, uint8_t *moved, const blob_manifest *man,
                            struct copy_moved *mv)
{
	chunk_id mine[COPY_GROUP];
	uint8_t claim[COPY_GROUP], by_reader[COPY_GROUP], got[COPY_GROUP];
	size_t c = 0;
	int rc;

	if ((rc = early_copy_claim(m, e, at, n, claim, by_reader)) < 0)
		return rc;
	for (size_t k = 0; k < n; k++)
		if (claim[k])
			mine[c++] = ids[k];
	rc = c ? blob_batch_copy_many(b, src, mine, c, got) : 0;
	if (rc >= 0 && c)
		rc = blob_batch_commit(b);
	early_copy_done(m, e, at, n, claim, rc >= 0);
	if (rc < 0)
		return rc;
	c = 0;
	for (size_t k = 0; k < n; k++) {
		moved[k] = claim[k] ? got[c++] : by_reader[k];
		if (!claim[k] && by_reader[k])
			mv->early_bytes += blob_chunk_len(man->size, at[k]);
	}
	return 0;
}

/* Every chunk of man into dst through one batch, committed; through e's
 * claims when early readers read it (NULL: none here).  0 (also when
 * stopped or lost: r says), -errno. */
static int copy_chunks(struct task_run *r, blob_store *dst, blob_store *src, const blob_manifest *man,
                       uint64_t before, struct copy_moved *mv, struct early_import *e)
{
	chunk_id ids[COPY_GROUP];
	uint32_t at[COPY_GROUP];
	uint8_t moved[COPY_GROUP];
	blob_batch *b = NULL;
	uint32_t i = 0; /* the next data entry */
	int rc;

	if ((rc = blob_batch_new(&b, dst)) < 0)
		return rc;
	while (i < man->count) {
		size_t n = 0;
		for (; i < man->count && n < COPY_GROUP; i++) {
			at[n] = man->index[i];
			ids[n++] = man->id[i];
		}
		if (n == 0)
			break;
		if ((rc = e ? copy_group_early(r->m, e, b, src, ids, at, n, moved, man, mv)
		            : blob_batch_copy_many(b, src, ids, n, moved)) < 0)
			goto out;
		for (size_t k = 0; k < n; k++) {
			if (moved[k]) {
				mv->chunks++;
				mv->bytes += blob_chunk_len(man->size, at[k]);
			} else {
				mv->found++;
			}
		}
		if (task_tick(r, before + ((uint64_t)at[n - 1] << BLOB_CHUNK_SHIFT))) {
			rc = 0; /* nothing committed: the next run starts the device again */
			goto out;
		}
	}
	rc = blob_batch_commit(b);
out:
	blob_batch_free(b);
	return rc < 0 ? rc : 0;
}

/* The early readers' entry of the copy's system disk (SPEC §6.5 "Early"),
 * made here when an instance reads the copy already (it can only be an
 * early one: the copy is pending) but nobody on this host asked yet — so
 * a read and the copy never place one chunk both; NULL: no reader. */
static struct early_import *copy_early(struct task_run *r, const struct task_pdev *d)
{
	int64_t one = 0;
	if (d->idx != 0)
		return NULL;
	if (model_fetch_one(r->m, SQL("SELECT 1 FROM instances WHERE image_id = ? LIMIT 1"), NULL, r->t.image_id, fill_i64,
	                    &one) < 0 ||
	    !one || early_want(r->m, r->t.image_id, r->region_id) < 0)
		return NULL;
	return early_copy_hold(r->m, r->t.image_id, d->src_blob);
}

/* Copies one device unless a previous run did.  0 when copied, skipped,
 * stopped or lost (see r), -errno from the database, or -EIO when a store
 * in a cluster did not answer (could not tell: the task goes back to the
 * queue and resumes from the last device done, SPEC §13); a verdict about
 * the bytes (a chunk damaged or gone, the target full) goes to *dev_err,
 * its reason to *why. */
static int copy_device(struct task_run *r, const struct task_pdev *d, uint64_t *before, int *dev_err,
                       const char **why)
{
	struct copy_moved mv = {0};
	struct model_blob sb, db;
	struct early_import *e;
	blob_manifest *man = NULL;
	blob_store *src = NULL, *dst = NULL;
	int rc;

	if ((rc = model_blob_get(r->m, d->dst_blob, &db)) < 0)
		goto fail;
	if (db.sealed) {
		*before += db.size; /* durable already: a resumed task skips it */
		return 0;
	}
	/* The chunks move as they are stored: an encrypted image's sealed
	 * ones keep their ids, under the same data key (SPEC §17). */
	if ((rc = model_blob_get(r->m, d->src_blob, &sb)) < 0 || (rc = model_blob_ids(r->m, d->src_blob, &man)) < 0 ||
	    (rc = model_store(r->m, sb.region_id, &src)) < 0 || (rc = model_store(r->m, db.region_id, &dst)) < 0)
		goto fail;
	e = copy_early(r, d);
	rc = copy_chunks(r, dst, src, man, *before, &mv, e);
	early_copy_release(r->m, e);
	if (rc < 0) {
		if (rc == -EIO && (blob_store_has_cluster(src) || blob_store_has_cluster(dst))) {
			blob_manifest_free(man);
			return rc; /* could not tell */
		}
		*why = rc == -EUCLEAN ? "a chunk of it is damaged in the store (its bytes are not the chunk)"
		       : rc == -ENOENT ? "a chunk of it is gone from the store"
		                       : NULL;
		goto fail;
	}
	if (r->stopped || r->lost) {
		blob_manifest_free(man);
		return 0;
	}
	*before += man->size;
	r->bytes_done = *before;
	r->kind_state = &mv;
	r->device_done = copy_device_done;
	rc = task_device_done(r, d->dst_blob, d->snap_id, man);
	r->device_done = NULL;
	blob_manifest_free(man);
	return rc < 0 ? rc : 0;
fail:
	blob_manifest_free(man);
	*dev_err = rc;
	return 0;
}

static void copy_fill_moved(db_stmt *st, void *out)
{
	struct copy_moved *mv = out;
	mv->chunks = (uint64_t)db_col_int64(st, 0);
	mv->bytes = (uint64_t)db_col_int64(st, 1);
	mv->found = (uint64_t)db_col_int64(st, 2);
}

/* The log line of a finished copy (what the task row counted). */
static void copy_log(struct task_run *r, const struct copy_moved *mv)
{
	struct model_image src;
	struct model_region from, to;
	if (model_image_get(r->m, r->t.source_id, &src) < 0 || model_region_get(r->m, src.region_id, &from) < 0 ||
	    model_region_get(r->m, r->region_id, &to) < 0)
		return;
	model_log(r->m, "copy %s %s -> %s: %" PRIu64 " chunks (%" PRIu64 " bytes) copied, %" PRIu64 " already there",
	          src.ext_id, from.name, to.name, mv->chunks, mv->bytes, mv->found);
}

static int copy_run_devices(struct task_run *r)
{
	struct task_pdev d[MODEL_MAX_DEVICES];
	struct task_dev devs[MODEL_MAX_DEVICES];
	struct copy_moved mv = {0};
	struct model_image img;
	uint64_t before = 0;
	int n, rc;

	if ((n = task_args_parse(r->t.args, d, MODEL_MAX_DEVICES)) < 0)
		return task_fail(r, NULL, NULL, "copy failed: its task record is unreadable");
	struct task_plan plan = {d, n};
	if (r->t.error[0]) /* its host was removed (host.c) */
		return task_fail(r, task_undo_devs, &plan, "copy failed: %s", r->t.error);
	if ((rc = model_image_get(r->m, r->t.image_id, &img)) < 0 || img.status != MODEL_IMG_PENDING)
		return task_fail(r, task_undo_devs, &plan, "copy failed: the image is %s",
		                 rc < 0 ? "gone" : model_image_status_name(img.status));
	for (int k = 0; k < n; k++) {
		const char *why = NULL;
		int dev_err = 0;
		if ((rc = copy_device(r, &d[k], &before, &dev_err, &why)) < 0 || r->stopped || r->lost)
			return rc;
		if (dev_err)
			return task_fail(r, task_undo_devs, &plan, "copy failed: %s vd%c: %s",
			                 dev_err == -ENOSPC ? "storing" : "reading", 'a' + d[k].idx,
			                 why ? why : strerror(-dev_err));
		devs[k] = (struct task_dev){d[k].idx, d[k].dst_blob, d[k].snap_id, d[k].src_blob};
	}
	/* Read before the last transaction deletes the row. */
	model_fetch_one(r->m, SQL("SELECT moved_chunks, moved_bytes, found_chunks FROM tasks WHERE id = ?"), NULL, r->t.id,
	                copy_fill_moved, &mv);
	if ((rc = task_finish(r, devs, n)) < 0 || r->lost || r->stopped)
		return rc;
	copy_log(r, &mv);
	return 0;
}

int copy_run(struct task_run *r)
{
	struct model_image img;
	int rc = copy_run_devices(r);

	/* Made or failed: early readers of the copy read the image (§6.5). */
	if (model_image_get(r->m, r->t.image_id, &img) < 0 || img.status != MODEL_IMG_PENDING)
		early_copy_end(r->m, r->t.image_id);
	return rc;
}

/*
 * checksum.c — the whole-blob hashes an image's disks did not get on their
 * way in (SPEC §2.1 `sha256`, §2.3 `user.imgfs.xxh128`, §16): the SHA-256
 * of the system disk and the XXH3-128 of every disk, read in one pass.  A
 * kind of background task (the engine is task.c, the interface
 * task_int.h).  No request thread hashes a whole blob: getxattr answers
 * from what this pass (or the way in) kept, ENODATA meanwhile.
 *
 * Who calls it: the schema steps that added the columns (schema_sqlite.c
 * v15 and v19, schema_pg.c v12 and v16) queue one task per image that may
 * be used again (available, or in a recycle bin) and lacks one; task_finish
 * (task.c) and upload_finish (upload.c) one per image they make available
 * without both: a capture, a decoded QCOW2, a copy or a conversion (their
 * XXH3-128 is not computed on the way), an upload whose writes could not be
 * hashed as they arrived (out of order, or more holes than bytes: §16).
 *
 * Running: a copy's or a raw conversion's bytes are its origin's, so the
 * origin's hashes are taken when it has them by now and its disk's
 * manifest is the same.  While the origin is available with its own pass
 * still to come, this pass is not claimed (checksum_claimable: in no
 * process of the state, so two mounts never read the same bytes twice);
 * an origin deleted or destroyed first holds it back no longer.
 * Otherwise each disk's blob is read once for both hashes
 * (blob_store_digests: holes are fed as the zeros they read as, never read)
 * and each disk's result is kept as soon as it is known, in a transaction
 * of its own that logs the image's change; the system disk comes last, so
 * a `sha256` with content says the pass is over; the row goes at the end.
 *
 * Bounded (§12): a disk whose holes (virtual size minus stored data) pass
 * CHECKSUM_HOLE_ALLOWANCE is not hashed at all — zeros cannot be skipped
 * by SHA-256 or XXH3, and a 1 TiB hole is ten minutes of a core — the
 * image keeps an empty `sha256` and no xattr, and the log says why.  The
 * pass is the service's own work: at most one per process runs
 * (checksum_claimable, so a worker is always left for the tasks someone
 * asked for), and between two pieces of a blob (a data chunk, 64 MiB of a
 * hole) it gives its worker back — back to the queue, its hashes so far
 * kept in the process (model.parked) and the row left to that process for
 * CHECKSUM_PARK_S, so the next run goes on where it stopped instead of
 * reading the disk again from its start — when an unmount asks, when a
 * task someone asked for waits and no worker is free for it
 * (task_asked_waiting), or when its image left `available` (deleted: the
 * row waits, not claimable, until a restore or the destroy; destroyed: the
 * next run ends it).  The image is not held by it: deleting, converting or
 * copying it goes on as if the task were not there (model_image_remove,
 * image_busy).
 *
 * Errors: an image that is gone (ENOENT) ends the task without a word.  A
 * database error leaves the row to be run again (task.c requeues it) and
 * logs; a store error (a chunk that cannot be read or does not verify)
 * logs and puts the row back with the reason in tasks.error, held back for
 * CHECKSUM_RETRY_S before it is tried again — never deleted as "nothing to
 * hash".  It stores no chunk (no writers row: task_kind.stores_nothing).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "imgfs_lock.h"
#include "task_int.h"

/* A disk with more holes than this is not hashed (§2.1, §12): 64 GiB, so
 * the blank 40 GiB system disks of instances, and their captures, get
 * theirs (about 35 s of a core for both hashes), and no disk costs more
 * than about a minute of hashing zeros (its data, bounded by quotas, is
 * read and hashed as any reader's would be). */
#define CHECKSUM_HOLE_ALLOWANCE MODEL_CHECKSUM_HOLES /* 64 GiB (images.h: fsck knows it too) */
/* How often (bytes of a blob walked) the pass asks whether to go on. */
#define CHECKSUM_LOOK_EVERY (256ULL << 20)
/* A store error is tried again after this many seconds. */
#define CHECKSUM_RETRY_S 60
/* A pass that gave its worker back is held for its process this long (a
 * live one): that process goes on where it stopped (its hashes so far are
 * in its memory, model.parked), where another would read it all again. */
#define CHECKSUM_PARK_S 60
#define PARKED_BY "parked-by " /* tasks.args of such a pass, then the runner */

int checksum_claimable(struct model_conn *c, int64_t task_id)
{
	db_stmt *st;
	char error[8] = "", args[sizeof(PARKED_BY) + MODEL_RUNNER_ID_MAX] = "", me[MODEL_RUNNER_ID_MAX];
	int status, rc;
	int64_t updated;
	bool origin_pending = false;

	/* One pass per process: the other workers stay free for what is asked. */
	if (atomic_load(&c->m->checksums_here) >= 1)
		return 0;
	/* The last column: the image is a copy or a raw conversion whose
	 * origin, still available, has its own pass to come (origin_hashes
	 * takes that pass's result instead of reading the same bytes). */
	if (!(st = model_stmt(c, SQL("SELECT COALESCE(i.status, 0), t.error, t.updated, t.args, "
	                             "EXISTS (SELECT 1 FROM images o JOIN tasks ot ON ot.image_id = o.id "
	                             "WHERE o.id = i.origin_id AND i.origin_id != 0 AND o.status = ?2 "
	                             "AND (i.origin_kind = 'copy' OR (i.origin_kind = 'convert' AND o.format = 'raw')) "
	                             "AND ot.kind = 'checksum') FROM tasks t "
	                             "LEFT JOIN images i ON i.id = t.image_id WHERE t.id = ?1"))))
		return -EIO;
	db_bind_int64(st, 1, task_id);
	db_bind_int(st, 2, MODEL_IMG_AVAILABLE);
	if ((rc = db_step(st)) == DB_ROW) {
		status = db_col_int(st, 0);
		model_col_text(st, 1, error, sizeof(error));
		updated = db_col_int64(st, 2);
		model_col_text(st, 3, args, sizeof(args));
		origin_pending = db_col_int(st, 4) != 0;
	}
	db_reset(st);
	if (rc != DB_ROW)
		return rc == DB_DONE ? 0 : rc < 0 ? rc : -EIO;
	if (status == MODEL_IMG_DELETED)
		return 0; /* in a recycle bin: waits for a restore, or goes with the destroy */
	/* Its bytes are its origin's, whose hashes are on their way: it waits
	 * for them rather than read the same bytes (in another process, or
	 * before a pass that gave its worker back) — issue 38.  An origin
	 * deleted or destroyed meanwhile holds nothing back: this pass reads
	 * its own. */
	if (origin_pending)
		return 0;
	/* Stopped in a blob's middle by a live process, which goes on from
	 * there with what it hashed: not read again from the start here. */
	if (strncmp(args, PARKED_BY, strlen(PARKED_BY)) == 0 && (int64_t)time(NULL) - updated < CHECKSUM_PARK_S &&
	    model_runner_self(c->m, me) == 0 && strcmp(args + strlen(PARKED_BY), me) != 0 &&
	    model_runner_alive(c, args + strlen(PARKED_BY)))
		return 0;
	if (error[0] && (int64_t)time(NULL) - updated < CHECKSUM_RETRY_S)
		return 0; /* a store error: tried again later */
	return 1;
}

struct pass {
	struct task_run *r;
	int64_t image_id;
	uint64_t looked;    /* the walk's position at the last look */
	uint64_t counted;   /* of it, what /stats has (imgfs_sha256_read_bytes_total) */
	const char *why;    /* what stopped it (a log line's words), NULL: an unmount */
};

/* Between two pieces of a blob: whether to go on (0) or stop (1). */
static int pass_tick(void *arg, uint64_t done)
{
	struct pass *p = arg;
	struct model_image img;
	/* /stats counts the bytes as they are hashed, a pass in progress too. */
	if (done > p->counted)
		atomic_fetch_add_explicit(&p->r->m->sha_read_bytes, done - p->counted, memory_order_relaxed);
	p->counted = done;
	if (p->r->stop && atomic_load(p->r->stop))
		return 1;
	if (done < p->looked + CHECKSUM_LOOK_EVERY && done >= p->looked)
		return 0;
	p->looked = done;
	if (task_asked_waiting(p->r)) {
		p->why = "a task waits for its worker";
		return 1;
	}
	int rc = model_image_get(p->r->m, p->image_id, &img);
	if (rc == -ENOENT || (rc == 0 && img.status != MODEL_IMG_AVAILABLE)) {
		p->why = "its image is no longer available";
		return 1;
	}
	return 0;
}

/* One disk's hashes kept (sha, xxh: "" when not known). */
static int pass_record(struct task_run *r, const struct model_image *img, int64_t blob_id, const char *sha,
                       const char *xxh)
{
	struct model_conn *c;
	char stored[MODEL_SHA_STORED] = "", xstored[MODEL_SHA_STORED] = "";
	db_stmt *st;
	int rc;
	if (sha[0])
		model_sha256_seal(r->m, blob_id, sha, stored); /* sealed when encrypted (§17) */
	if (xxh[0])
		model_xxh128_seal(r->m, blob_id, xxh, xstored);
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET sha256 = CASE WHEN sha256 = '' THEN ?1 ELSE sha256 END, "
	                             "xxh128 = CASE WHEN xxh128 = '' THEN ?2 ELSE xxh128 END WHERE id = ?3")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, stored);
	db_bind_text(st, 2, xstored);
	db_bind_int64(st, 3, blob_id);
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, img->id, img->region_id, img->folder, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

/* A store error: the row back in the queue with the reason, tried again
 * after CHECKSUM_RETRY_S (checksum_claimable). */
static int pass_retry_later(struct task_run *r, const char *reason)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		return rc;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET state = 'queued', claimed_by = '', error = ?, updated = ? "
	                             "WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, reason);
	db_bind_int64(st, 2, (int64_t)time(NULL));
	db_bind_int64(st, 3, r->t.id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	r->lost = true; /* not ours any more: the engine does not requeue it */
out:
	return model_write_end(c, rc, NULL);
}

/* What img's origin (a copy's source, a conversion's) kept for the disk
 * at idx when it holds the same bytes (man's manifest): sha and xxh filled
 * where known ("" left as it was otherwise). */
static void origin_hashes(struct task_run *r, const struct model_image *img, int idx, const blob_manifest *man,
                          bool want_sha, char sha[65], bool want_xxh, char xxh[33])
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int n;
	if (!img->origin_id || (n = model_device_list(r->m, img->origin_id, devs)) <= 0)
		return;
	for (int k = 0; k < n; k++) {
		if (devs[k].index != idx)
			continue;
		if (want_sha && model_blob_sha256_reuse(r->m, devs[k].blob_id, 0, man, sha) <= 0)
			sha[0] = '\0';
		if (want_xxh && model_blob_xxh128_reuse(r->m, devs[k].blob_id, 0, man, xxh) <= 0)
			xxh[0] = '\0';
	}
}

/* The hashes a stopped run of this task kept for blob_id in this process,
 * if they are what is wanted (then taken from model.parked), else NULL. */
static blob_digest *pass_unpark(struct task_run *r, int64_t blob_id, bool sha, bool xxh)
{
	struct model *m = r->m;
	blob_digest *d = NULL;
	IMGFS_LOCK(&m->lock, model_lock);
	if (m->parked.d && m->parked.task_id == r->t.id) {
		if (m->parked.blob_id == blob_id && blob_digest_has(m->parked.d, sha, xxh))
			d = m->parked.d;
		else
			blob_digest_free(m->parked.d);
		m->parked.d = NULL;
	}
	IMGFS_UNLOCK(&m->lock, model_lock);
	return d;
}

/* A run stopped in blob_id's middle: its hashes kept for the next run (in
 * place of any other task's: one pass runs at a time, the newest is the
 * one a worker comes back to), and the row marked so other processes
 * leave it to this one for CHECKSUM_PARK_S (checksum_claimable). */
static void pass_park(struct task_run *r, int64_t blob_id, blob_digest *d)
{
	struct model *m = r->m;
	struct model_conn *c;
	db_stmt *st;
	char args[sizeof(PARKED_BY) + MODEL_RUNNER_ID_MAX];
	int rc;
	IMGFS_LOCK(&m->lock, model_lock);
	blob_digest_free(m->parked.d);
	m->parked.task_id = r->t.id;
	m->parked.blob_id = blob_id;
	m->parked.d = d;
	IMGFS_UNLOCK(&m->lock, model_lock);
	snprintf(args, sizeof(args), PARKED_BY "%s", r->me);
	/* On any failure no mark: another process may take it up, from the
	 * start. */
	if (model_write_begin(r->m, &c, NULL) < 0)
		return;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET args = ?, updated = ? WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, args);
	db_bind_int64(st, 2, (int64_t)time(NULL));
	db_bind_int64(st, 3, r->t.id);
	rc = model_exec_stmt(st);
out:
	model_write_end(c, rc, NULL);
}

/* The disk dev of img: its missing hashes read and kept.  0 (done, or
 * nothing to do), 1 (stopped: p->why), -errno (a database error, logged),
 * -EAGAIN (a store error, logged and the row put back). */
static int pass_disk(struct pass *p, const struct model_image *img, const struct model_device *dev, bool system)
{
	struct task_run *r = p->r;
	struct model_blob b;
	blob_manifest *man = NULL;
	blob_store *s;
	char sha[65] = "", xxh[33] = "";
	bool want_sha = false, want_xxh;
	int rc;

	if ((rc = model_blob_get(r->m, dev->blob_id, &b)) < 0)
		goto db_error;
	if (!b.sealed)
		return 0;
	if (system) {
		if ((rc = model_image_sha256(r->m, img->id, sha)) < 0)
			goto db_error;
		want_sha = !sha[0];
		sha[0] = '\0';
	}
	want_xxh = !b.xxh128[0];
	if (!want_sha && !want_xxh)
		return 0;
	if ((rc = model_blob_manifest(r->m, dev->blob_id, &man)) < 0)
		goto db_error;
	origin_hashes(r, img, dev->index, man, want_sha, sha, want_xxh, xxh);
	if ((!want_sha || sha[0]) && (!want_xxh || xxh[0])) {
		blob_manifest_free(man);
		return pass_record(r, img, dev->blob_id, sha, xxh);
	}
	uint64_t holes = man->size > man->stored ? man->size - man->stored : 0;
	if (holes > CHECKSUM_HOLE_ALLOWANCE) {
		model_log(r->m, "image %s: %s not hashed: %" PRIu64 " GiB of holes, more than the %llu GiB a checksum pass "
		          "hashes (its sha256 file stays empty, user.imgfs.xxh128 absent)",
		          img->ext_id, dev->name, holes >> 30, CHECKSUM_HOLE_ALLOWANCE >> 30);
		blob_manifest_free(man);
		return sha[0] || xxh[0] ? pass_record(r, img, dev->blob_id, sha, xxh) : 0;
	}
	if ((rc = model_store(r->m, img->region_id, &s)) < 0) {
		blob_manifest_free(man);
		goto store_error;
	}
	bool sha_walk = want_sha && !sha[0], xxh_walk = want_xxh && !xxh[0];
	blob_digest *d = pass_unpark(r, dev->blob_id, sha_walk, xxh_walk);
	if (d == NULL && (rc = blob_digest_new(sha_walk, xxh_walk, &d)) < 0) {
		blob_manifest_free(man);
		goto store_error;
	}
	/* A run taken up where an earlier one stopped: /stats counts only
	 * what this one reads. */
	p->looked = p->counted = blob_digest_done(d);
	rc = blob_store_digest_walk(s, man, d, sha_walk ? sha : NULL, xxh_walk ? xxh : NULL, pass_tick, p);
	blob_manifest_free(man);
	if (rc == -ECANCELED) {
		pass_park(r, dev->blob_id, d);
		return 1;
	}
	blob_digest_free(d);
	if (rc < 0)
		goto store_error;
	return pass_record(r, img, dev->blob_id, sha, xxh);
db_error:
	if (rc == -ENOENT)
		return 0; /* the disk went with its image meanwhile */
	model_log(r->m, "checksum of image %s: %s: %s (tried again)", img->ext_id, dev->name, strerror(-rc));
	return rc;
store_error:
	model_log(r->m, "checksum of image %s: %s: %s (tried again in %d s)", img->ext_id, dev->name, strerror(-rc),
	          CHECKSUM_RETRY_S);
	return -EAGAIN;
}

int checksum_run(struct task_run *r)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_image img = {0};
	struct pass p = {.r = r, .image_id = r->t.image_id};
	int n, rc;

	if ((rc = model_image_get(r->m, r->t.image_id, &img)) == -ENOENT)
		return task_drop_row(r); /* destroyed: nothing to hash */
	if (rc < 0) {
		model_log(r->m, "checksum of image %lld: %s (tried again)", (long long)r->t.image_id, strerror(-rc));
		return rc;
	}
	if (img.status == MODEL_IMG_DELETED) {
		r->stopped = true; /* back to the queue, held while in the bin */
		return 0;
	}
	if (img.status != MODEL_IMG_AVAILABLE)
		return task_drop_row(r); /* an error or a destroy: nothing to hash */
	if ((rc = n = model_device_list(r->m, img.id, devs)) < 0) {
		model_log(r->m, "checksum of image %s: %s (tried again)", img.ext_id, strerror(-rc));
		return rc;
	}
	/* The system disk last (vda, or an ISO's cdrom; index order: it is
	 * first): a `sha256` with content says the whole pass is done. */
	for (int k = n - 1; k >= 0; k--) {
		bool system = k == 0 && (devs[k].index == 0 || devs[k].index == 26);
		if ((rc = pass_disk(&p, &img, &devs[k], system)) == 1) {
			r->stopped = true; /* the next runner starts again at this disk */
			if (p.why)
				model_log(r->m, "checksum of image %s: %s: stopped, %s", img.ext_id, devs[k].name, p.why);
			return 0;
		}
		if (rc == -EAGAIN) {
			char why[128];
			snprintf(why, sizeof(why), "%s: a chunk could not be read", devs[k].name);
			return pass_retry_later(r, why);
		}
		if (rc < 0 || r->lost)
			return rc;
	}
	return task_drop_row(r);
}

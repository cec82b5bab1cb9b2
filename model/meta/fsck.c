/*
 * fsck.c — `imgfs admin fsck` and `imgfs admin gc` (SPEC §1).
 *
 * fsck checks, in order: every image's region and devices resolve; every
 * sealed blob's manifest decodes and names chunks its region's store holds;
 * every writable blob row's wblob opens (in cluster mode those of this
 * host only — the host whose state directory fsck was given: another
 * host's instance disks and uploads are its files, judged by an fsck given
 * its state, and are only counted in a note); every blob row with neither (a
 * capture's blob being written) has a task that will finish it; every wblob
 * file in a store is named by a blob row; every chunk in every store hashes
 * to its id; and, with the key-encryption key, that every chunk of every
 * encrypted blob opens under its data key (SPEC §17: its GCM tag;
 * without the key a note says how many were not opened).
 *
 * Only bytes read and hashed condemn a chunk (issue 47).  A check the
 * store did not answer — a timeout, EIO from the cluster, an unreachable
 * OSD or pool, a store that does not open for such a reason — is "could
 * not check": a note line, counted apart (*unchecked_out), never a problem
 * and never repaired.  FSCK_GIVE_UP such answers in a row from one region
 * (its store stopped answering) and the rest of that region is counted
 * without asking: a cluster that is down costs a few timeouts, not one per
 * chunk.  With repair,
 * chunks that do not verify are deleted (reads of
 * blobs that used them then fail with EIO instead of serving wrong bytes),
 * dangling device rows are dropped, incomplete blobs nothing references
 * and no task will finish are deleted, and unnamed wblob files (what a crash
 * between a disk's file and its commit leaves) are removed.  An available
 * image (or one in a recycle bin) whose sha256 will never come — empty, no
 * checksum task for it — is a problem, and repair queues its task; one
 * whose system disk has more holes than the pass hashes is only a note.
 *
 * The sweep (model_wblobs_sweep), each mount's automatic share of fsck
 * --repair: wblob files of this host's stores that no blob row names —
 * what a killed upload leaves when its rows were ended elsewhere (another
 * host reaped it: the files are in this host's state directory), or a
 * crash between a disk's file and its commit — are removed, and temp
 * files older than SWEEP_TMP_AGE.  A file is made before its row and both
 * inside one write transaction, so each unnamed file is looked up again
 * holding the write lock: then no transaction that could name it is open.
 *
 * gc marks the chunks of every sealed manifest of a region and lets the
 * store drop the rest that are older than the grace period and older than
 * what the region's writers in progress may still name (writer.c: the
 * writers table, read before the manifests, so a writer that commits
 * between the two reads is found in one or the other).  Rows without a
 * manifest are skipped: a wblob's base chunks are kept by the store itself,
 * and its overlay is no chunk.  gc --dry-run (model_gc_plan) takes the
 * same steps and asks the store what it would drop (blob_store_gc_plan).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_int.h"

struct fsck {
	model *m;
	void (*report)(void *, const char *);
	void *arg;
	int problems;
	const char *region;
	bool repair;
	void (*note)(void *, const char *); /* what is not a problem but not checked either */
	int others;                         /* wblobs of other hosts in this region */
	char other_hosts[256];              /* their names, ", "-separated (cut short) */
	int locked;                         /* encrypted blobs of this region whose tags went unchecked */
	char locked_why[256];               /* why (the first one's) */
	int unchecked;                      /* checks the stores did not answer (could not check) */
	int streak;                         /* ... in a row, in this region */
	bool down;                          /* this region's store stopped answering: not asked again */
	int ndown;                          /* regions found down, by id (the verify pass skips them) */
	int64_t down_ids[64];
};

#define FSCK_GIVE_UP BLOB_VERIFY_GIVE_UP /* unanswered checks in a row that end a region's */

/* Whether a failed check is one the store did not answer (a timeout, an
 * unreachable cluster or disk, memory): no verdict about the data.  The
 * verdicts are the store's own answers — not there (ENOENT), another
 * owner's pool (EBUSY), a pool that does not exist, a spec or a conf that
 * is wrong, bytes that are not the chunk (EUCLEAN). */
static bool no_answer(int rc)
{
	switch (-rc) {
	case ENOENT:
	case EBUSY:
	case EINVAL:
	case EACCES:
	case EUCLEAN:
	case ENOTSUP:
		return false;
	default:
		return rc < 0;
	}
}

/* A wblob file younger than this may belong to a disk whose transaction
 * has not committed yet (the file comes first): fsck leaves it alone. */
#define FSCK_WBLOB_GRACE 600 /* seconds */

static void problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fsck *f, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->problems++;
	f->report(f->arg, line);
}

/* A check the store did not answer (no_answer): counted, a note line;
 * FSCK_GIVE_UP in a row and the region is down. */
static void unchecked(struct fsck *f, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void unchecked(struct fsck *f, int rc, const char *fmt, ...)
{
	char line[512];
	int n;
	va_list ap;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(-rc));
	f->unchecked++;
	if (f->note)
		f->note(f->arg, line);
	if (++f->streak >= FSCK_GIVE_UP && !f->down) {
		f->down = true;
		if (f->ndown < (int)(sizeof(f->down_ids) / sizeof(f->down_ids[0])))
			f->ndown++;
		if (f->note) {
			snprintf(line, sizeof(line), "could not check: region %s: its store stopped answering (%d checks "
			         "in a row): the rest of it is counted, not asked; run fsck again once it answers",
			         f->region, f->streak);
			f->note(f->arg, line);
		}
	}
}
static void bad_chunk(void *arg, const chunk_id *id, int err)
{
	struct fsck *f = arg;
	char hex[33];
	chunk_id_fmt(hex, id);
	/* err is a positive errno (blobstore.h): EUCLEAN, bytes read and
	 * condemned; anything else, a read that could not be made. */
	if (err != EUCLEAN) {
		unchecked(f, -err, "could not check: region %s: chunk %s: not read", f->region, hex);
		return;
	}
	f->streak = 0;
	problem(f, "region %s: chunk %s: does not match its hash%s", f->region, hex, f->repair ? "; removed" : "");
}

/* The callback of each_manifest: a sealed blob's id, its encoded manifest
 * and its data key's id (0: plain). */
typedef int (*manifest_fn)(void *arg, int64_t blob_id, const void *enc, size_t len, int64_t key_id);
struct manifest_cb {
	manifest_fn fn;
	void *arg;
};

static int manifest_each(void *arg, db_stmt *st)
{
	struct manifest_cb *c = arg;
	return c->fn(c->arg, db_col_int64(st, 0), db_col_blob(st, 1), db_col_bytes(st, 1), db_col_int64(st, 2));
}

/* Calls fn for every sealed blob of a region. */
static int each_manifest(model *m, int64_t region_id, manifest_fn fn, void *arg)
{
	struct manifest_cb c = {fn, arg};
	struct model_conn *conn;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	if (!(st = model_stmt(conn, SQL_SCAN("fsck and gc read every manifest of a region",
	                                     "SELECT id, manifest, key_id FROM blobs WHERE region_id = ? "
	                                     "AND manifest IS NOT NULL"))))
		return -EIO;
	db_bind_int64(st, 1, region_id);
	return model_each_row(st, manifest_each, &c);
}

struct fsck_region {
	struct fsck *f;
	blob_store *s;
	blob_idset *opened; /* encrypted chunks whose tags were checked (each once) */
	blob_idset *absent; /* chunks found missing or not answered for (not asked again) */
};

/* The chunks of an encrypted blob (SPEC §17) opened under its data key:
 * each GCM tag checked, once per chunk however many blobs name it.  A
 * chunk that does not open is reported (repair cannot make it open: what
 * reads it gets EIO).  Without the key, the blob is counted for the note
 * (the store's check of every chunk's hash, keyless, still covers it). */
static void fsck_tags(struct fsck_region *fr, int64_t blob_id, const blob_manifest *man, int64_t key_id)
{
	struct model_err err = {0};
	blob_key *key = NULL;
	int rc;
	if (model_key_get(fr->f->m, key_id, &key, &err) < 0) {
		if (!fr->f->locked++)
			snprintf(fr->f->locked_why, sizeof(fr->f->locked_why), "%s", err.msg);
		return;
	}
	for (uint32_t k = 0; k < man->count; k++) {
		if (blob_idset_has(fr->opened, &man->id[k]) || blob_idset_has(fr->absent, &man->id[k]))
			continue; /* checked already, or missing or unanswered (counted) */
		if (fr->f->down) {
			fr->f->unchecked++;
			continue;
		}
		char hex[33];
		chunk_id_fmt(hex, &man->id[k]);
		rc = blob_store_check_chunk(fr->s, key, &man->id[k], blob_chunk_len(man->size, man->index[k]));
		if (rc == 0 || rc == -ENOENT) { /* (gone since: a concurrent gc) */
			fr->f->streak = 0;
			blob_idset_add(fr->opened, &man->id[k]);
		} else if (no_answer(rc)) {
			unchecked(fr->f, rc, "could not check: region %s: blob %lld: chunk %u (%s): its tag not checked",
			          fr->f->region, (long long)blob_id, man->index[k], hex);
		} else {
			fr->f->streak = 0;
			problem(fr->f, "region %s: blob %lld: chunk %u (%s) %s", fr->f->region, (long long)blob_id,
			        man->index[k], hex,
			        rc == -EUCLEAN ? "does not open under its data key (its tag or its hash does not match)"
			                       : strerror(-rc));
		}
	}
	blob_key_unref(key);
}

static int fsck_manifest(void *arg, int64_t blob_id, const void *enc, size_t len, int64_t key_id)
{
	struct fsck_region *fr = arg;
	blob_manifest *man;
	if (blob_manifest_decode(&man, enc, len) < 0) {
		problem(fr->f, "region %s: blob %lld: malformed manifest", fr->f->region, (long long)blob_id);
		return 0;
	}
	for (uint32_t k = 0; k < man->count; k++) {
		if (fr->f->down) { /* its store stopped answering: counted, not asked */
			fr->f->unchecked += (int)(man->count - k);
			break;
		}
		int rc = blob_store_has_chunk(fr->s, &man->id[k]);
		if (rc == 1) {
			fr->f->streak = 0;
			continue;
		}
		char hex[33];
		chunk_id_fmt(hex, &man->id[k]);
		if (rc < 0 && blob_idset_add(fr->absent, &man->id[k]) == 0 && no_answer(rc)) {
			unchecked(fr->f, rc, "could not check: region %s: blob %lld: chunk %u (%s): not asked whether "
			          "it is there", fr->f->region, (long long)blob_id, man->index[k], hex);
			continue;
		}
		if (rc == 0)
			blob_idset_add(fr->absent, &man->id[k]);
		fr->f->streak = 0;
		problem(fr->f, "region %s: blob %lld: chunk %u (%s) %s", fr->f->region, (long long)blob_id,
		        man->index[k], hex, rc == 0 ? "is missing" : strerror(-rc));
	}
	if (key_id)
		fsck_tags(fr, blob_id, man, key_id);
	blob_manifest_free(man);
	return 0;
}

/* ---- writable and incomplete blobs -------------------------------------------- */

struct fsck_wb {
	struct fsck *f;
	blob_store *s;
	db_stmt *named;      /* SELECT: does a blob row name this wblob? */
	int64_t region_id;
	int64_t not_after;   /* files modified later are left alone */
	enum blob_wb_where where; /* what the listing lists */
};

/* Runs sql with ?1 = region_id, calling row(arg, st) per row. */
static int fsck_query(model *m, const struct model_sql *sql, int64_t region_id, int (*row)(void *, db_stmt *),
                      void *arg)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, sql)))
		return -EIO;
	db_bind_int64(st, 1, region_id);
	return model_each_row(st, row, arg);
}

/* Notes one wblob of another host. */
static void other_host(struct fsck *f, const char *host)
{
	size_t n = strlen(f->other_hosts), h = strlen(host);
	f->others++;
	for (const char *p = f->other_hosts; (p = strstr(p, host)); p += h)
		if ((p == f->other_hosts || p[-1] == ' ') && (p[h] == ',' || p[h] == '\0'))
			return;
	if (n + h + 3 < sizeof(f->other_hosts))
		snprintf(f->other_hosts + n, sizeof(f->other_hosts) - n, "%s%s", n ? ", " : "", host);
}

static int wblob_row(void *arg, db_stmt *st)
{
	struct fsck_wb *w = arg;
	const char *name = db_col_text(st, 1), *host = db_col_text(st, 2);
	enum blob_wb_where where = model_wblob_where(name ? name : "");
	blob_wblob *wb = NULL;
	/* Another host's disk or upload is that host's file: judged there,
	 * by fsck given that host's state directory (SPEC §13).  A disk in
	 * the cluster is every host's to check (read, its writer unfenced). */
	if (w->f->m->cluster && host && host[0] && strcmp(host, model_host(w->f->m)) != 0 &&
	    !(where == BLOB_WB_CLUSTER && blob_store_has_cluster(w->s))) {
		other_host(w->f, host);
		return 0;
	}
	/* An overlay lost or cut outside imgfs is a problem of its own: its
	 * disk's opens, reads and captures are EIO (issue 36), and fsck says
	 * what is missing. */
	char why[192];
	int rc = blob_wblob_open_reader(&wb, w->s, where, name ? name : "", NULL, why, sizeof(why));
	if (rc == -EOPNOTSUPP) /* encrypted: opened under its key by its task */
		rc = 0;
	if (rc < 0)
		problem(w->f, "region %s: blob %lld: writable blob %s does not open: %s", w->f->region,
		        (long long)db_col_int64(st, 0), name ? name : "", why[0] ? why : strerror(-rc));
	/* A whole chunk's file (<name>.arr/<i>) gone outside imgfs: its reads
	 * and captures fail with EIO (issue 47). */
	else if ((rc = blob_wblob_check_files(wb, why, sizeof(why))) < 0 && why[0])
		problem(w->f, "region %s: blob %lld: writable blob %s: %s", w->f->region, (long long)db_col_int64(st, 0),
		        name ? name : "", why);
	else if (rc < 0) /* a file that could not be looked at: no verdict */
		unchecked(w->f, rc, "could not check: region %s: blob %lld: writable blob %s's files",
		          w->f->region, (long long)db_col_int64(st, 0), name ? name : "");
	blob_wblob_close(wb);
	return 0;
}

static int wblob_file(void *arg, const char *name, int64_t mtime)
{
	struct fsck_wb *w = arg;
	int rc;
	if (mtime > w->not_after)
		return 0;
	db_reset(w->named);
	db_bind_int64(w->named, 1, w->region_id);
	db_bind_text(w->named, 2, name);
	rc = db_step(w->named);
	db_reset(w->named);
	if (rc == DB_ROW)
		return 0;
	if (rc != DB_DONE)
		return db_errno(rc);
	rc = w->f->repair ? blob_wblob_remove_in(w->s, w->where, name) : 0;
	problem(w->f, "region %s: %s %s: no blob row names it%s", w->f->region,
	        w->where == BLOB_WB_CLUSTER ? "cluster disk" : "writable blob", name,
	        !w->f->repair ? "" : rc < 0 ? "; cannot remove it" : "; removed");
	return 0;
}

/* Whether a task will still run (a capture fills its blobs when it does). */
static bool tasks_live(struct model_conn *c)
{
	db_stmt *st = model_stmt(c, SQL("SELECT 1 FROM tasks WHERE state IN ('queued', 'running') LIMIT 1"));
	bool yes = st && db_step(st) == DB_ROW;
	if (st)
		db_reset(st);
	return yes;
}

static int incomplete_row(void *arg, db_stmt *st)
{
	struct fsck *f = arg;
	problem(f, "region %s: blob %lld is incomplete and no task will finish it%s", f->region,
	        (long long)db_col_int64(st, 0),
	        !f->repair ? "" : db_col_int(st, 1) ? " (a snapshot or device still references it)" : "; deleted");
	return 0;
}

/* Blobs with neither manifest nor wblob: a capture writing them, or what a
 * task that will never run again left. */
static int fsck_incomplete(struct fsck *f, int64_t region_id)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_conn_get(f->m, &c)) < 0)
		return rc;
	if (tasks_live(c))
		return 0;
	if ((rc = fsck_query(f->m,
	                     SQL_SCAN("fsck reads every blob row of a region",
	                              "SELECT id, (EXISTS (SELECT 1 FROM devices WHERE blob_id = b.id) OR EXISTS "
	                              "(SELECT 1 FROM snapshots WHERE blob_id = b.id) OR EXISTS (SELECT 1 FROM "
	                              "instance_disks WHERE blob_id = b.id)) AS used FROM blobs b WHERE "
	                              "region_id = ?1 AND manifest IS NULL AND wblob IS NULL"),
	                     region_id, incomplete_row, f)) < 0 ||
	    !f->repair)
		return rc;
	/* Again inside the write transaction: a task queued meanwhile keeps them. */
	if ((rc = model_write_begin(f->m, &c, NULL)) < 0)
		return rc;
	if (!tasks_live(c)) {
		db_stmt *st = model_stmt(c, SQL_SCAN("fsck --repair reads every blob row of a region",
		                                     "DELETE FROM blobs WHERE region_id = ?1 AND manifest IS NULL AND "
		                                     "wblob IS NULL AND id NOT IN (SELECT blob_id FROM devices) AND id "
		                                     "NOT IN (SELECT blob_id FROM snapshots) AND id NOT IN (SELECT "
		                                     "blob_id FROM instance_disks)"));
		if (!st) {
			rc = -EIO;
			goto out;
		}
		db_bind_int64(st, 1, region_id);
		rc = model_exec_stmt(st);
	}
out:
	return model_write_end(c, rc, NULL);
}

/* Every wblob row opens, every wblob file is named, every incomplete blob
 * will be finished. */
static int fsck_wblobs(struct fsck *f, int64_t region_id, blob_store *s)
{
	struct fsck_wb w = {f, s, NULL, region_id, (int64_t)time(NULL) - FSCK_WBLOB_GRACE, BLOB_WB_HOST};
	struct model_conn *c;
	int rc;
	/* Whose file each is: an instance's disk its instance's host's, an
	 * upload's or import's its task's host's ('' the embedded default's,
	 * or a row of an older imgfs: this host's). */
	f->others = 0;
	f->other_hosts[0] = '\0';
	if ((rc = fsck_query(f->m,
	                     SQL_SCAN("fsck reads every blob row of a region",
	                              "SELECT b.id, b.wblob, COALESCE((SELECT i.host FROM instance_disks d "
	                              "JOIN instances i ON i.id = d.instance_id WHERE d.blob_id = b.id), "
	                              "(SELECT t.host FROM devices v JOIN tasks t ON t.image_id = v.image_id "
	                              "AND t.kind IN ('upload', 'import') WHERE v.blob_id = b.id LIMIT 1), '') "
	                              "FROM blobs b WHERE b.region_id = ?1 AND b.wblob IS NOT NULL"),
	                     region_id, wblob_row, &w)) < 0)
		return rc;
	if (f->others && f->note) {
		char line[512];
		snprintf(line, sizeof(line),
		         "region %s: %d writable blob%s of other hosts (%s) not checked here: they are those "
		         "hosts' files (imgfs admin --db URL --state THEIR-STATE fsck)",
		         f->region, f->others, f->others == 1 ? "" : "s", f->other_hosts);
		f->note(f->arg, line);
	}
	if ((rc = model_conn_get(f->m, &c)) < 0)
		return rc;
	if (!(w.named = model_stmt(c, SQL_SCAN("fsck, once per wblob file of a region",
	                                       "SELECT 1 FROM blobs WHERE region_id = ?1 AND wblob = ?2"))))
		return -EIO;
	rc = blob_wblob_list(s, wblob_file, &w);
	if (rc < 0)
		return rc;
	w.where = BLOB_WB_CLUSTER;
	if ((rc = blob_wblob_list_cluster(s, wblob_file, &w)) < 0)
		return rc;
	return fsck_incomplete(f, region_id);
}

static int fsck_region(void *arg, const struct model_region *r)
{
	struct fsck *f = arg;
	struct fsck_region fr = {f, NULL, NULL, NULL};
	int rc;
	f->region = r->name;
	f->locked = 0;
	f->streak = 0;
	f->down = false;
	if ((rc = model_store(f->m, r->id, &fr.s)) < 0) {
		if (!no_answer(rc)) {
			problem(f, "region %s: cannot open its blob store: %s", r->name, strerror(-rc));
			return 0;
		}
		/* Its manifests are still decoded (the database's), their
		 * chunks counted; its files and chunks wait for the store. */
		f->streak = FSCK_GIVE_UP - 1;
		unchecked(f, rc, "could not check: region %s: its blob store does not open (its writable blobs and "
		          "chunks not checked)", r->name);
		f->down_ids[f->ndown - 1] = r->id;
	} else if ((rc = fsck_wblobs(f, r->id, fr.s)) < 0) {
		return rc;
	}
	if ((rc = blob_idset_new(&fr.opened)) < 0 || (rc = blob_idset_new(&fr.absent)) < 0) {
		blob_idset_free(fr.opened);
		return rc;
	}
	bool was_down = f->down;
	rc = each_manifest(f->m, r->id, fsck_manifest, &fr);
	if (f->down && !was_down)
		f->down_ids[f->ndown - 1] = r->id;
	blob_idset_free(fr.opened);
	blob_idset_free(fr.absent);
	if (rc == 0 && f->locked && f->note) {
		char line[1024];
		snprintf(line, sizeof(line), "region %s: %d encrypted blob%s not opened, their tags unchecked (their "
		         "chunks' hashes are checked): %s", r->name, f->locked, f->locked == 1 ? "" : "s", f->locked_why);
		f->note(f->arg, line);
	}
	return rc;
}

/* ---- the sweep ---------------------------------------------------------------------- */

#define SWEEP_TMP_AGE 600 /* seconds: a live writer's temp file lives for one chunk */

struct sweep {
	model *m;
	blob_store *s;
	int64_t region_id;
	const char *region;
	int n;
	char names[64][72]; /* unnamed ones found by the listing, checked again under the lock */
	int removed;
	enum blob_wb_where where; /* what the listing lists */
};

/* Whether a blob row of the region names wblob: 1, 0, -errno; in c's
 * transaction (or on its own). */
static int wblob_named(struct model_conn *c, int64_t region_id, const char *name)
{
	db_stmt *st = model_stmt(c, SQL("SELECT 1 FROM blobs WHERE region_id = ?1 AND wblob = ?2"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, region_id);
	db_bind_text(st, 2, name);
	rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : db_errno(rc);
}

static int sweep_file(void *arg, const char *name, int64_t mtime)
{
	struct sweep *w = arg;
	struct model_conn *c;
	int rc;
	/* A cluster disk is made before its row commits, on any host: one
	 * younger than the grace may be another host's still committing. */
	if (w->where == BLOB_WB_CLUSTER && mtime > (int64_t)time(NULL) - FSCK_WBLOB_GRACE)
		return 0;
	if ((rc = model_conn_get(w->m, &c)) < 0 || (rc = wblob_named(c, w->region_id, name)) != 0)
		return rc < 0 ? rc : 0;
	snprintf(w->names[w->n++], sizeof(w->names[0]), "%s", name);
	return w->n == (int)(sizeof(w->names) / sizeof(w->names[0]));
}

static int sweep_region(struct sweep *w, const struct model_region *r)
{
	struct model_conn *c;
	int rc;
	w->region_id = r->id;
	w->region = r->name;
	w->n = 0;
	if (model_store(w->m, r->id, &w->s) < 0)
		return 0; /* a store this host cannot open holds nothing of it here */
	for (int pass = 0; pass < 2; pass++) {
		w->n = 0;
		w->where = pass ? BLOB_WB_CLUSTER : BLOB_WB_HOST;
		if ((rc = pass ? blob_wblob_list_cluster(w->s, sweep_file, w) : blob_wblob_list(w->s, sweep_file, w)) < 0)
			return rc;
		for (int i = 0; i < w->n; i++) {
			if ((rc = model_write_begin(w->m, &c, NULL)) < 0)
				return rc;
			/* Only the write lock: it reads, and removes the file under it. */
			if ((rc = wblob_named(c, r->id, w->names[i])) == 0 &&
			    blob_wblob_remove_in(w->s, w->where, w->names[i]) == 0) {
				model_log(w->m, "region %s: removed %s %s, which no row names (what a killed upload or a "
				          "crash left)", r->name, pass ? "cluster disk" : "writable blob", w->names[i]);
				w->removed++;
			}
			if ((rc = model_write_end(c, rc, NULL)) < 0)
				return rc;
		}
	}
	uint64_t tmp = 0;
	if (blob_store_clean_tmp(w->s, (int64_t)time(NULL) - SWEEP_TMP_AGE, &tmp) == 0 && tmp)
		model_log(w->m, "region %s: removed %llu temporary files older than %d s", r->name,
		          (unsigned long long)tmp, SWEEP_TMP_AGE);
	return 0;
}

struct region_ids {
	int n, cap;
	int64_t *id;
};

static int collect_region(void *arg, const struct model_region *r)
{
	struct region_ids *l = arg;
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		int64_t *id = realloc(l->id, (size_t)cap * sizeof(*id));
		if (!id)
			return -ENOMEM;
		l->id = id;
		l->cap = cap;
	}
	l->id[l->n++] = r->id;
	return 0;
}

int model_wblobs_sweep(model *m)
{
	struct region_ids l = {0};
	struct sweep *w = calloc(1, sizeof(*w));
	int rc;
	if (!w)
		return -ENOMEM;
	w->m = m;
	/* The regions first: the write transactions below must not begin
	 * while the listing's statement holds a read snapshot (SQLite could
	 * not take the write lock on a snapshot older than a commit). */
	if ((rc = model_region_list(m, 0, collect_region, &l)) >= 0) {
		for (int i = 0; i < l.n && rc >= 0; i++) {
			struct model_region r;
			if (model_region_get(m, l.id[i], &r) == 0)
				rc = sweep_region(w, &r);
		}
	}
	if (rc >= 0)
		rc = w->removed;
	free(l.id);
	free(w);
	return rc;
}

/* Rows whose references dangle: what each check finds, and the statement
 * that repairs it (NULL: reported only). */
struct fsck_check {
	const char *what;
	const struct model_sql *find, *fix;
};

static int fsck_check(struct fsck *f, struct model_conn *c, const struct fsck_check *k, bool repair)
{
	db_stmt *st = model_stmt(c, k->find);
	int rc;
	if (!st)
		return -EIO;
	while ((rc = db_step(st)) == DB_ROW)
		problem(f, "%s: %s", db_col_text(st, 0), k->what);
	db_reset(st);
	if (rc != DB_DONE)
		return db_errno(rc);
	if (repair && k->fix && (st = model_stmt(c, k->fix)))
		return model_exec_stmt(st);
	return 0;
}

/* What the usage table should hold (db/schema_*.c), each count signed by
 * sign: rows (account_id, region_id, key, n). */
#define USAGE_COUNTS(sign)                                                                                 \
	"SELECT account_id, region_id, 1, " sign "count(*) FROM images WHERE folder = 3 "                  \
	"GROUP BY account_id, region_id UNION ALL "                                                        \
	"SELECT account_id, region_id, 2, " sign "count(*) FROM snapshots GROUP BY account_id, region_id " \
	"UNION ALL SELECT s.account_id, i.region_id, 3, " sign "count(*) FROM shares s "                   \
	"JOIN images i ON i.id = s.image_id WHERE s.status != 3 GROUP BY s.account_id, i.region_id"

/* Each usage row as a part of its payer's total (roles.c). */
#define USAGE_TOTALS(sign)                                                                                 \
	"SELECT COALESCE(NULLIF(a.parent_id, 0), u.account_id) AS account_id, u.region_id AS region_id, "  \
	"u.key AS key, " sign "u.used AS n FROM usage u LEFT JOIN accounts a ON a.id = u.account_id"

static int fsck_rows(struct fsck *f, bool repair)
{
	const struct fsck_check checks[] = {
		{"image in an unknown region",
		 SQL_SCAN("fsck reads every image",
		          "SELECT ext_id FROM images WHERE region_id NOT IN (SELECT id FROM regions)"),
		 NULL},
		{"device of a missing blob",
		 SQL_SCAN("fsck reads every device",
		          "SELECT i.ext_id FROM devices d JOIN images i ON i.id = d.image_id WHERE d.blob_id NOT IN "
		          "(SELECT id FROM blobs)"),
		 SQL_SCAN("fsck --repair reads every device",
		          "DELETE FROM devices WHERE blob_id NOT IN (SELECT id FROM blobs)")},
		{"available image without a system disk",
		 SQL_SCAN("fsck reads every image",
		          "SELECT ext_id FROM images WHERE status = 5 AND id NOT IN (SELECT image_id FROM devices)"),
		 NULL},
		/* The usage the schema's triggers keep (quota.c) against a count. */
		{"quota usage differs from the rows",
		 SQL_SCAN("fsck counts every image, snapshot and share",
		          "SELECT 'account ' || account_id || ' region ' || region_id || ' quota ' || key FROM "
		          "(SELECT account_id, region_id, key, sum(n) AS diff FROM "
		          "(SELECT account_id, region_id, key, used AS n FROM usage UNION ALL "
		          USAGE_COUNTS("-") ") AS parts GROUP BY account_id, region_id, key) AS sums WHERE diff != 0"),
		 SQL_SCAN("fsck --repair counts every image, snapshot and share",
		          "INSERT INTO usage(account_id, region_id, key, used) SELECT account_id, region_id, key, sum(n) "
		          "FROM (SELECT account_id, region_id, key, 0 AS n FROM usage UNION ALL " USAGE_COUNTS("")
		          ") AS parts GROUP BY account_id, region_id, key "
		          "ON CONFLICT(account_id, region_id, key) DO UPDATE SET used = excluded.used")},
		/* The totals of families (SPEC §16, roles.c) against the usage rows. */
		{"quota total of a main account and its sub-accounts differs from their usage",
		 SQL_SCAN("fsck adds up every account's usage",
		          "SELECT 'account ' || account_id || ' region ' || region_id || ' quota ' || key FROM "
		          "(SELECT account_id, region_id, key, sum(n) AS diff FROM "
		          "(SELECT account_id, region_id, key, used AS n FROM usage_totals UNION ALL " USAGE_TOTALS("-")
		          ") AS parts GROUP BY account_id, region_id, key) AS sums WHERE diff != 0"),
		 SQL_SCAN("fsck --repair adds up every account's usage",
		          "INSERT INTO usage_totals(account_id, region_id, key, used) SELECT account_id, region_id, key, "
		          "sum(n) FROM (SELECT account_id, region_id, key, 0 AS n FROM usage_totals UNION ALL "
		          USAGE_TOTALS("") ") AS parts GROUP BY account_id, region_id, key "
		          "ON CONFLICT(account_id, region_id, key) DO UPDATE SET used = excluded.used")},
		{"its number of shares is wrong",
		 SQL_SCAN("fsck counts every image's shares",
		          "SELECT ext_id FROM images i WHERE shares != (SELECT count(*) FROM shares WHERE image_id = i.id)"),
		 SQL_SCAN("fsck --repair counts every image's shares",
		          "UPDATE images SET shares = (SELECT count(*) FROM shares WHERE image_id = images.id) "
		          "WHERE shares != (SELECT count(*) FROM shares WHERE image_id = images.id)")},
	};
	struct model_conn *c;
	int rc;
	if ((rc = model_conn_get(f->m, &c)) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if ((rc = fsck_check(f, c, &checks[i], repair)) < 0)
			return rc;
	return 0;
}

/* Images whose `sha256` will never come (issue 36): available or in a
 * recycle bin, the system disk (idx 0, else an ISO's cdrom 26: what
 * model_image_sha256 reads) sealed with an empty sha256, and no checksum
 * task queued or running for it.  What a task lost to a database outage
 * leaves, or a pass whose row went without a word.  One whose disk has
 * more holes than the pass hashes (MODEL_CHECKSUM_HOLES) is so by design:
 * a note, not a problem.  Rows: ext_id, GiB of holes, whether past it. */
#define FSCK_NO_CHECKSUM                                                                                   \
	"FROM images i JOIN devices d ON d.image_id = i.id AND d.idx = (SELECT min(idx) FROM devices "     \
	"WHERE image_id = i.id AND idx IN (0, 26)) JOIN blobs b ON b.id = d.blob_id "                      \
	"WHERE i.status IN (5, 7) AND b.manifest IS NOT NULL AND b.sha256 = '' AND NOT EXISTS "             \
	"(SELECT 1 FROM tasks t WHERE t.image_id = i.id AND t.kind = 'checksum' AND t.state IN ('queued', " \
	"'running'))"
_Static_assert(MODEL_IMG_AVAILABLE == 5 && MODEL_IMG_DELETED == 7, "FSCK_NO_CHECKSUM spells them 5 and 7");

static int fsck_checksums(struct fsck *f, bool repair)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(f->m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL_SCAN("fsck reads every available image's system disk",
	                                  "SELECT i.ext_id, (b.size - b.stored) >> 30, b.size - b.stored > ?1 "
	                                  FSCK_NO_CHECKSUM " ORDER BY i.id"))))
		return -EIO;
	db_bind_int64(st, 1, (int64_t)MODEL_CHECKSUM_HOLES);
	while ((rc = db_step(st)) == DB_ROW) {
		if (!db_col_int(st, 2)) {
			problem(f, "%s: its sha256 will never come: no checksum task is queued for it%s",
			        db_col_text(st, 0), repair ? "; queued" : "");
			continue;
		}
		if (f->note) {
			char line[256];
			snprintf(line, sizeof(line),
			         "%s: no sha256, by design: its system disk has %lld GiB of holes, more than the %llu "
			         "GiB a checksum pass hashes (not a problem)",
			         db_col_text(st, 0), (long long)db_col_int64(st, 1), MODEL_CHECKSUM_HOLES >> 30);
			f->note(f->arg, line);
		}
	}
	db_reset(st);
	if (rc != DB_DONE)
		return db_errno(rc);
	if (!repair)
		return 0;
	/* Queued again inside the write transaction: what a pass added
	 * meanwhile is not doubled (the same condition, re-read). */
	if ((rc = model_write_begin(f->m, &c, NULL)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL_SCAN("fsck --repair reads every available image's system disk",
	                                  "INSERT INTO tasks(kind, image_id, state) SELECT 'checksum', i.id, 'queued' "
	                                  FSCK_NO_CHECKSUM " AND b.size - b.stored <= ?1 ORDER BY i.id")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, (int64_t)MODEL_CHECKSUM_HOLES);
	rc = model_exec_stmt(st);
out:
	return model_write_end(c, rc, NULL);
}

struct verify_ctx {
	struct fsck *f;
	bool repair;
};

/* Every chunk of region r against its hash (a region whose store stopped
 * answering in the first pass: one check counted, not asked). */
static int fsck_verify_repair(void *arg, const struct model_region *r)
{
	struct verify_ctx *v = arg;
	struct fsck *f = v->f;
	blob_store *s;
	f->region = r->name;
	f->streak = 0;
	f->down = false;
	for (int i = 0; i < f->ndown; i++)
		if (f->down_ids[i] == r->id) {
			f->unchecked++;
			return 0;
		}
	int rc = model_store(f->m, r->id, &s);
	if (rc < 0) {
		if (!no_answer(rc))
			return 0; /* its problem is told (fsck_region) */
		f->streak = FSCK_GIVE_UP - 1; /* one answer missing is its whole walk */
		unchecked(f, rc, "could not check: region %s: its blob store does not open (its chunks' hashes not "
		          "checked)", r->name);
		return 0;
	}
	if ((rc = blob_store_verify_all(s, v->repair, bad_chunk, f)) < 0)
		unchecked(f, rc, "could not check: region %s: the walk of its chunks stopped (the rest not checked)",
		          r->name);
	return 0;
}

int model_fsck(model *m, bool repair, void (*report)(void *arg, const char *line), void *arg)
{
	return model_fsck_report(m, repair, report, NULL, arg);
}

/* Every check, in order (see the top). */
static int fsck_all(struct fsck *f)
{
	struct verify_ctx v = {f, f->repair};
	int rc;
	if ((rc = fsck_rows(f, f->repair)) < 0 || (rc = fsck_checksums(f, f->repair)) < 0 ||
	    (rc = model_region_list(f->m, 0, fsck_region, f)) < 0 ||
	    (rc = model_region_list(f->m, 0, fsck_verify_repair, &v)) < 0)
		return rc;
	return f->problems;
}

int model_fsck_report(model *m, bool repair, void (*report)(void *arg, const char *line),
                      void (*note)(void *arg, const char *line), void *arg)
{
	return model_fsck_checked(m, repair, report, note, arg, NULL);
}

int model_fsck_checked(model *m, bool repair, void (*report)(void *arg, const char *line),
                       void (*note)(void *arg, const char *line), void *arg, int *unchecked_out)
{
	struct fsck *f = calloc(1, sizeof(*f));
	int rc;
	if (!f)
		return -ENOMEM;
	*f = (struct fsck){.m = m, .report = report, .arg = arg, .region = "", .repair = repair, .note = note};
	rc = fsck_all(f);
	if (unchecked_out)
		*unchecked_out = f->unchecked;
	free(f);
	return rc;
}

struct gc_ctx {
	model *m;
	blob_idset *live;
	int64_t not_after;
	uint64_t removed;
	void (*report)(void *arg, const char *line);
	void *arg;
	/* model_gc_plan: counts instead of removing */
	void (*plan)(void *arg, const char *name, uint64_t chunks, uint64_t bytes);
};

static int gc_mark(void *arg, int64_t blob_id, const void *enc, size_t len, int64_t key_id)
{
	struct gc_ctx *g = arg;
	blob_manifest *man;
	int rc;
	/* A manifest that does not decode keeps the whole store: refuse. */
	if ((rc = blob_manifest_decode(&man, enc, len)) < 0)
		return rc;
	for (uint32_t k = 0; k < man->count && rc >= 0; k++)
		rc = blob_idset_add(g->live, &man->id[k]);
	blob_manifest_free(man);
	(void)blob_id;
	(void)key_id; /* gc goes by ids: an encrypted blob's are as any */
	return rc < 0 ? rc : 0;
}

static int gc_region(void *arg, const struct model_region *r)
{
	struct gc_ctx *g = arg;
	blob_store *s;
	uint64_t removed = 0;
	int rc;
	int64_t not_after = g->not_after;
	if ((rc = model_store(g->m, r->id, &s)) < 0)
		return rc;
	/* The writers first, then the manifests (see the top). */
	if ((rc = model_writers_cut(g->m, r->id, r->name, &not_after, g->report, g->arg)) < 0)
		return rc;
	if ((rc = blob_idset_new(&g->live)) < 0)
		return rc;
	if (g->plan) {
		uint64_t bytes = 0;
		if ((rc = each_manifest(g->m, r->id, gc_mark, g)) == 0 &&
		    (rc = blob_store_gc_plan(s, g->live, not_after, &removed, &bytes)) == 0)
			g->plan(g->arg, r->name, removed, bytes);
	} else if ((rc = each_manifest(g->m, r->id, gc_mark, g)) == 0 &&
	           (rc = blob_store_gc(s, g->live, not_after, &removed)) >= 0) {
		g->removed += removed;
		rc = 0;
	}
	blob_idset_free(g->live);
	g->live = NULL;
	return rc;
}

int model_gc_report(model *m, int64_t grace, void (*report)(void *arg, const char *line), void *arg,
                    uint64_t *removed_out)
{
	/* The grace period is measured from before the live set is read. */
	struct gc_ctx g = {m, NULL, (int64_t)time(NULL) - grace, 0, report, arg, NULL};
	int rc;
	/* An admin command of this host that died keeps nothing any more. */
	if ((rc = model_writers_reap(m)) >= 0)
		rc = model_region_list(m, 0, gc_region, &g);
	if (removed_out)
		*removed_out = g.removed;
	return rc;
}

int model_gc_plan(model *m, int64_t grace, void (*report)(void *arg, const char *line),
                  void (*region)(void *arg, const char *name, uint64_t chunks, uint64_t bytes), void *arg)
{
	struct gc_ctx g = {m, NULL, (int64_t)time(NULL) - grace, 0, report, arg, region};
	return model_region_list(m, 0, gc_region, &g);
}

int model_gc_chunks(model *m, int64_t region_id, const chunk_id *ids, size_t n, uint64_t *removed_out)
{
	/* A young chunk may be one a writer found (a copy's existence check,
	 * a put of the same bytes) without refreshing it, and relies on before
	 * its manifest commits: its stamp says nothing then, so it stays. */
	struct gc_ctx g = {m, NULL, (int64_t)time(NULL) - MODEL_STAMP_MARGIN, 0, NULL, NULL, NULL};
	blob_store *s;
	int rc;
	*removed_out = 0;
	if (n == 0)
		return 0;
	/* The writers first, then the manifests, as gc_region. */
	if ((rc = model_store(m, region_id, &s)) < 0 ||
	    (rc = model_writers_cut(m, region_id, "", &g.not_after, NULL, NULL)) < 0 ||
	    (rc = blob_idset_new(&g.live)) < 0)
		return rc;
	if ((rc = each_manifest(m, region_id, gc_mark, &g)) == 0)
		rc = blob_store_gc_ids(s, g.live, ids, n, g.not_after, removed_out);
	blob_idset_free(g.live);
	return rc;
}

int model_gc(model *m, int64_t grace, uint64_t *removed_out)
{
	return model_gc_report(m, grace, NULL, NULL, removed_out);
}

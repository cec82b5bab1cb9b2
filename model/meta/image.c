/*
 * image.c — image rows: listing, lookup (with the row cache), creation
 * (mkdir), renames, writable attributes, the status machine's edges,
 * publishing platform images.  Deletion, the recycle bin and destruction
 * are recycle.c's.
 *
 * Listings are keyed by row id (stable readdir offsets: entries that come
 * and go never make a listing skip or repeat another).  Every change sets
 * the image's ctime, and mtime when a value a reader sees changed, and
 * touches the region when a listing changed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imgfs_lock.h"
#include "model_int.h"

_Static_assert(MODEL_FOLDER_PRIVATE == 3, "SQL below spells the private folder as 3");

#define IMAGE_FIELDS_OF MODEL_IMAGE_FIELDS_OF
#define IMAGE_FIELDS MODEL_IMAGE_FIELDS
#define IMAGE_NFIELDS MODEL_IMAGE_NFIELDS
#define IMAGE_FROM MODEL_IMAGE_FROM
#define IMAGE_COLS MODEL_IMAGE_COLS

void model_image_row(db_stmt *st, struct model_image *img)
{
	img->id = db_col_int64(st, 0);
	model_col_text(st, 1, img->ext_id, sizeof(img->ext_id));
	img->region_id = db_col_int64(st, 2);
	img->account_id = db_col_int64(st, 3);
	model_col_text(st, 4, img->owner, sizeof(img->owner));
	img->folder = db_col_int(st, 5);
	model_col_text(st, 6, img->name, sizeof(img->name));
	img->status = db_col_int(st, 7);
	img->progress = db_col_int(st, 8);
	img->type = (unsigned)db_col_int(st, 9);
	model_col_text(st, 10, img->format, sizeof(img->format));
	model_col_text(st, 11, img->os_type, sizeof(img->os_type));
	model_col_text(st, 12, img->platform, sizeof(img->platform));
	model_col_text(st, 13, img->version, sizeof(img->version));
	model_col_text(st, 14, img->arch, sizeof(img->arch));
	model_col_text(st, 15, img->boot_mode, sizeof(img->boot_mode));
	model_col_text(st, 16, img->features, sizeof(img->features));
	model_col_text(st, 17, img->description, sizeof(img->description));
	model_col_text(st, 18, img->tags, sizeof(img->tags));
	model_col_text(st, 19, img->source, sizeof(img->source));
	model_col_text(st, 20, img->error, sizeof(img->error));
	img->encrypted = db_col_int(st, 21) != 0;
	img->size = (uint64_t)db_col_int64(st, 22);
	img->created = db_col_int64(st, 23);
	img->mtime_ns = db_col_int64(st, 24);
	img->ctime_ns = db_col_int64(st, 25);
	img->deleted_at = db_col_int64(st, 26);
	img->dir_mtime_ns = db_col_int64(st, 27);
	img->description_ns = db_col_int64(st, 28);
	img->tags_ns = db_col_int64(st, 29);
	img->error_ns = db_col_int64(st, 30);
	img->dir_gen = db_col_int64(st, 31);
	img->origin_id = db_col_int64(st, 32);
	model_col_text(st, 33, img->origin_kind, sizeof(img->origin_kind));
	model_col_text(st, 34, img->project, sizeof(img->project));
	img->project_ns = db_col_int64(st, 35);
	img->key_id = db_col_int64(st, 36);
	model_col_text(st, 37, img->uuid, sizeof(img->uuid));
	model_col_text(st, 38, img->title, sizeof(img->title));
	model_col_text(st, 39, img->disk_format, sizeof(img->disk_format));
	model_col_text(st, 40, img->container_format, sizeof(img->container_format));
	img->min_disk = db_col_int64(st, 41);
	img->min_ram = db_col_int64(st, 42);
	img->gflags = (unsigned)db_col_int64(st, 43);
	img->nprops = (int)db_col_int64(st, 44);
	img->inspected = (unsigned)db_col_int64(st, 45);
	img->refs = MODEL_REF_UNKNOWN;
	img->copies_ctime_ns = -1;
}

static void image_fill(db_stmt *st, void *out)
{
	model_image_row(st, out);
}

/* Steps st: one row → out (0), none → -ENOENT. */
static int image_step_one(db_stmt *st, struct model_image *out)
{
	return model_one_row(st, image_fill, out);
}

struct image_cb {
	int (*cb)(void *arg, const struct model_image *img);
	void *arg;
};

static int image_each(void *arg, db_stmt *st)
{
	struct image_cb *c = arg;
	struct model_image img;
	model_image_row(st, &img);
	return c->cb(c->arg, &img);
}

int model_image_list(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, int64_t after_id,
                     int (*cb)(void *arg, const struct model_image *img), void *arg)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	struct image_cb ic = {cb, arg};
	const int64_t params[] = {region_id, account_id, folder, after_id};
	return model_each_page(c, SQL("SELECT " IMAGE_COLS "WHERE i.region_id = ? AND i.account_id = ? AND i.folder = ? "
	                              "AND i.id > ? ORDER BY i.id " MODEL_PAGE_SQL),
	                       params, 4, 0, image_each, &ic);
}

int model_image_lookup(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, const char *name,
                       struct model_image *out)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " IMAGE_COLS "WHERE i.region_id = ? AND i.account_id = ? AND i.folder = ? "
	                         "AND i.name = ?"))))
		return -EIO;
	db_bind_int64(st, 1, region_id);
	db_bind_int64(st, 2, account_id);
	db_bind_int(st, 3, folder);
	db_bind_text(st, 4, name);
	return image_step_one(st, out);
}

/* The image row and what refers to it (model_image.refs): index probes in
 * the same statement, where each would otherwise be a statement of its own
 * — for PostgreSQL a round trip — of a file or listing that is empty for
 * most images.  Only the probes asked for run (a CASE evaluates its branch
 * only when taken); the others read "may exist". */
static void image_refs_fill(db_stmt *st, void *out)
{
	struct model_image *img = out;
	model_image_row(st, img);
	img->copies_ctime_ns = db_col_int64(st, IMAGE_NFIELDS);
	img->refs = (db_col_int(st, IMAGE_NFIELDS + 1) ? MODEL_REF_TASK : 0) |
	            (db_col_int(st, IMAGE_NFIELDS + 2) ? MODEL_REF_INSTANCES : 0) |
	            (db_col_int(st, IMAGE_NFIELDS + 3) ? MODEL_REF_LINKS : 0) |
	            (db_col_int(st, IMAGE_NFIELDS + 4) ? MODEL_REF_DEVICES : 0) |
	            (db_col_int(st, IMAGE_NFIELDS + 5) ? MODEL_REF_SHARES : 0) |
	            (img->copies_ctime_ns ? MODEL_REF_COPIES : 0);
}

/* ---- the row cache --------------------------------------------------------
 *
 * Every FUSE request on an image's files resolves the image
 * (model_image_get_in_region), and a walk makes several in a row for each
 * image: its directory, then copies/, disks/, shares/.  With SQLite each is
 * microseconds; with PostgreSQL each is a round trip.  So for a database a
 * round trip away the rows read last are kept, and served again while
 *   - nothing may have changed any row since (model.rows_gen: bumped after
 *     every commit and write statement of this process, and when another
 *     commit is learnt from the database, model_changes_wait — the same
 *     news that invalidates the kernel's caches, and before it does), and
 *   - they are younger than the cache's age limit (a bound should a change
 *     ever reach the database without a word to the watcher).
 * A read takes the generation before its statement and files its row under
 * it: a commit that lands meanwhile bumps it after, so the row is never
 * served.  The probes a row answered (want) are kept with it: a request
 * asking for more reads the database. */
#define ROW_CACHE_SLOTS 256
struct row_slot {
	int64_t id, gen, at_ns; /* id 0: empty */
	unsigned asked;
	struct model_image img;
};
struct model_row_cache {
	pthread_mutex_t lock;
	int64_t max_age_ns;
	struct row_slot slot[ROW_CACHE_SLOTS];
};
IMGFS_LOCK_LEVEL(model_row_cache_lock, 54); /* a leaf */

int model_set_row_cache(model *m, int max_age_ms)
{
	struct model_row_cache *rc = m->rows_cache;
	if (max_age_ms <= 0) {
		if (rc) {
			m->rows_cache = NULL;
			pthread_mutex_destroy(&rc->lock);
			free(rc);
		}
		return 0;
	}
	if (!rc) {
		if (!(rc = calloc(1, sizeof(*rc))))
			return -ENOMEM;
		pthread_mutex_init(&rc->lock, NULL);
		m->rows_cache = rc;
	}
	rc->max_age_ns = max_age_ms * 1000000LL;
	return 0;
}

/* The row of image id as cached under generation gen, if it answered want. */
static bool row_cached(model *m, int64_t id, unsigned want, int64_t gen, struct model_image *out)
{
	struct model_row_cache *rc = m->rows_cache;
	bool hit;
	IMGFS_LOCK(&rc->lock, model_row_cache_lock);
	struct row_slot *e = &rc->slot[(uint64_t)id % ROW_CACHE_SLOTS];
	hit = e->id == id && e->gen == gen && (want & ~e->asked) == 0 && model_mono_ns() - e->at_ns < rc->max_age_ns;
	if (hit) {
		*out = e->img;
		/* What was not asked reads "may exist", as from the database. */
		out->refs |= MODEL_REF_UNKNOWN & ~want;
		if (!(want & MODEL_REF_COPIES))
			out->copies_ctime_ns = -1;
	}
	IMGFS_UNLOCK(&rc->lock, model_row_cache_lock);
	return hit;
}

static void row_keep(model *m, unsigned asked, int64_t gen, const struct model_image *img)
{
	struct model_row_cache *rc = m->rows_cache;
	IMGFS_LOCK(&rc->lock, model_row_cache_lock);
	struct row_slot *e = &rc->slot[(uint64_t)img->id % ROW_CACHE_SLOTS];
	e->id = img->id;
	e->gen = gen;
	e->at_ns = model_mono_ns();
	e->asked = asked;
	e->img = *img;
	IMGFS_UNLOCK(&rc->lock, model_row_cache_lock);
}

int model_image_get_in_region(model *m, int64_t id, unsigned want, struct model_image *img,
                              struct model_region *region)
{
	_Static_assert(MODEL_REF_TASK == 1 && MODEL_REF_INSTANCES == 2 && MODEL_REF_LINKS == 4 &&
	                       MODEL_REF_DEVICES == 8 && MODEL_REF_COPIES == 16 && MODEL_REF_SHARES == 32,
	               "SQL below spells the MODEL_REF_* bits");
	struct model_conn *c;
	db_stmt *st;
	int rc;
	int64_t gen = m->rows_cache ? atomic_load(&m->rows_gen) : 0;
	if (m->rows_cache && row_cached(m, id, want, gen, img))
		return model_region_get(m, img->region_id, region);
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " IMAGE_FIELDS ", "
	                             "CASE WHEN (?2 & 16) = 0 THEN -1 ELSE COALESCE((SELECT max(c.ctime_ns) FROM images c "
	                             "WHERE c.origin_id = i.id AND c.origin_kind = 'copy'), 0) END, "
	                             "CASE WHEN (?2 & 1) = 0 THEN true ELSE EXISTS (SELECT 1 FROM tasks t WHERE "
	                             "t.image_id = i.id AND t.kind NOT IN ('checksum', 'inspect')) OR EXISTS (SELECT 1 FROM tasks t WHERE t.source_kind = 'image' "
	                             "AND t.source_id = i.id) END, "
	                             "CASE WHEN (?2 & 2) = 0 THEN true ELSE EXISTS (SELECT 1 FROM instances v WHERE "
	                             "v.image_id = i.id) END, "
	                             "CASE WHEN (?2 & 4) = 0 THEN true ELSE EXISTS (SELECT 1 FROM download_links l WHERE "
	                             "l.image_id = i.id) END, "
	                             "CASE WHEN (?2 & 8) = 0 THEN true ELSE EXISTS (SELECT 1 FROM devices d WHERE "
	                             "d.image_id = i.id) END, "
	                             "CASE WHEN (?2 & 32) = 0 THEN true ELSE EXISTS (SELECT 1 FROM shares s WHERE "
	                             "s.image_id = i.id) END " IMAGE_FROM "WHERE i.id = ?1"))))
		return -EIO;
	db_bind_int64(st, 1, id);
	db_bind_int(st, 2, (int)want);
	if ((rc = model_one_row(st, image_refs_fill, img)) < 0)
		return rc;
	if (m->rows_cache)
		row_keep(m, want, gen, img);
	return model_region_get(m, img->region_id, region);
}

int model_image_get(model *m, int64_t id, struct model_image *out)
{
	return model_fetch_one(m, SQL("SELECT " IMAGE_COLS "WHERE i.id = ?"), NULL, id, image_fill, out);
}

int model_image_list_shared(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                            int (*cb)(void *arg, const struct model_image *img), void *arg)
{
	struct model_conn *c;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	struct image_cb ic = {cb, arg};
	const int64_t params[] = {region_id, account_id, after_id};
	return model_each_page(c, SQL("SELECT " IMAGE_COLS "JOIN shares s ON s.image_id = i.id WHERE i.region_id = ? "
	                              "AND s.account_id = ? AND i.folder = 3 AND s.status != 3 AND s.image_id > ? ORDER BY s.image_id "
	                              MODEL_PAGE_SQL),
	                       params, 3, 0, image_each, &ic);
}

int model_image_lookup_shared(model *m, int64_t region_id, int64_t account_id, const char *name, const char *owner,
                              struct model_image *out)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " IMAGE_COLS "JOIN shares s ON s.image_id = i.id WHERE i.region_id = ? "
	                         "AND s.account_id = ? AND i.folder = 3 AND s.status != 3 AND i.name = ? AND a.name = ?"))))
		return -EIO;
	db_bind_int64(st, 1, region_id);
	db_bind_int64(st, 2, account_id);
	db_bind_text(st, 3, name);
	db_bind_text(st, 4, owner);
	return image_step_one(st, out);
}

bool model_image_shared_with(model *m, int64_t image_id, int64_t account_id)
{
	struct model_conn *c;
	db_stmt *st;
	bool yes;
	if (model_conn_get(m, &c) < 0 ||
	    /* status 3: MODEL_MEMBER_REJECTED */
	    !(st = model_stmt(c, SQL("SELECT 1 FROM shares WHERE image_id = ? AND account_id = ? AND status <> 3"))))
		return false;
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, account_id);
	yes = db_step(st) == DB_ROW;
	db_reset(st);
	return yes;
}

/* model_image_create's insert: what its row and its refusal need. */
struct image_create {
	model *m;
	struct model_conn *c;
	int64_t region_id, account_id;
	enum model_folder folder;
	const char *name;
	enum model_quota_key quota;
	struct model_err *err;
	struct model_image row; /* the row the insert returned */
	bool made;              /* it returned one */
};

/* The insert's result (db_step's): the row — nothing refers to a new
 * image yet — or none; the statement is reset either way. */
static int image_create_result(struct image_create *ic, db_stmt *st, int rc)
{
	if (rc == DB_ROW) {
		model_image_row(st, &ic->row);
		ic->row.refs = 0;
		ic->row.copies_ctime_ns = 0;
		ic->made = true;
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? 0 : db_errno(rc);
}

/* The row the insert made under ext, looked for after a commit whose
 * answer was lost: none (the name was taken, the quota full: the caller
 * finds why) or the new image. */
static int image_create_found(struct image_create *ic, const char *ext)
{
	enum model_ext_kind kind;
	int64_t id;
	int rc = model_find_ext_id(ic->m, ext, &kind, &id);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && kind == MODEL_EXT_IMAGE && (rc = model_image_get(ic->m, id, &ic->row)) == 0) {
		ic->made = true;
		return 0;
	}
	return model_fail(ic->err, rc < 0 ? rc : -EIO, "cannot read the new image back");
}

/* Why the insert made no row: the name taken (the answer before a full
 * quota), the quota full, else 0: the external id was taken, another is
 * drawn. */
static int image_create_refused(struct image_create *ic)
{
	struct model_image old;
	int rc = model_image_lookup(ic->m, ic->region_id, ic->account_id, ic->folder, ic->name, &old);
	if (rc == 0)
		return model_fail(ic->err, -EEXIST, "an image named %s exists", ic->name);
	if (rc == -ENOENT)
		return ic->quota ? model_quota_check(ic->c, ic->account_id, ic->region_id, ic->quota, 1, ic->err) : 0;
	return model_fail(ic->err, rc, "cannot insert the image");
}

/* One try: a write transaction that inserts the image under the external
 * id ext, if nothing stands in the way, and commits.  The insert checks
 * the name itself (unique: ON CONFLICT) and the quota (private-images
 * counts the images in private/, SPEC §8, a sub-account's main account's
 * total and limit, §16; iso/ has no quota: key 0) —
 * model_quota_check's rule, used < limit, in SQL — and returns the new row
 * whole, so the caller needs no statement to show it.  It is sent ahead
 * (model_send) and what follows it — the region's time, the change log —
 * does its part only if the row is there, so the whole transaction is one
 * round trip to PostgreSQL. */
static int image_create_try(struct image_create *ic, const char *ext)
{
	db_stmt *st, *touch;
	int sent = 0, rc;
	if ((rc = model_write_begin(ic->m, &ic->c, ic->err)) < 0)
		return rc;
	/* Its mount's mkdir shows the new image itself (fs_image_changed):
	 * that mount's watcher need not read the change row back. */
	model_write_quiet(ic->c);
	/* encrypted: the account's default (SPEC §17). */
	if (!(st = model_stmt(ic->c, SQL("INSERT INTO images(ext_id, region_id, account_id, folder, name, status, type, "
	                                 "format, created, mtime_ns, ctime_ns, dir_mtime_ns, encrypted, uuid) SELECT ?1, ?2, ?3, "
	                                 "?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?10, COALESCE((SELECT encrypt_default FROM "
	                                 "accounts WHERE id = ?3), 0), ?13 WHERE ?11 = 0 OR COALESCE((SELECT used FROM "
	                                 "usage_totals WHERE account_id = " MODEL_SQL_PAYER("?3") " AND region_id = ?2 AND "
	                                 "key = ?11), 0) < COALESCE((SELECT value FROM quotas WHERE account_id = "
	                                 MODEL_SQL_PAYER("?3") " AND region_id = ?2 AND key = ?11), ?12) "
	                                 "ON CONFLICT DO NOTHING RETURNING " IMAGE_FIELDS_OF("images.",
	                                 "COALESCE((SELECT a.name FROM accounts a WHERE a.id = images.account_id), "
	                                 "'platform')"))))) {
		rc = -EIO;
		goto out;
	}
	int64_t now = model_now_ns();
	db_bind_text(st, 1, ext);
	db_bind_int64(st, 2, ic->region_id);
	db_bind_int64(st, 3, ic->account_id);
	db_bind_int(st, 4, ic->folder);
	db_bind_text(st, 5, ic->name);
	db_bind_int(st, 6, MODEL_IMG_QUEUED);
	db_bind_text(st, 7, ic->folder == MODEL_FOLDER_ISO ? "iso" : "");
	db_bind_int64(st, 8, now / 1000000000);
	db_bind_int64(st, 9, now);
	db_bind_int64(st, 10, now);
	db_bind_int(st, 11, ic->quota);
	db_bind_int64(st, 12, model_quota_default(ic->quota));
	char uuid[37];
	if ((rc = model_uuid_new(uuid)) < 0) {
		db_reset(st);
		model_fail(ic->err, rc, "no random bytes for an id");
		goto out;
	}
	db_bind_text(st, 13, uuid);
	sent = model_send(st);
	if (sent != 1 && (rc = image_create_result(ic, st, sent)) < 0)
		goto out;
	touch = model_stmt(ic->c, SQL("UPDATE regions SET mtime_ns = ? WHERE id = ? AND EXISTS (SELECT 1 "
	                                       "FROM images WHERE ext_id = ? AND ctime_ns = ?)"));
	if (!touch) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(touch, 1, now);
	db_bind_int64(touch, 2, ic->region_id);
	db_bind_text(touch, 3, ext);
	db_bind_int64(touch, 4, now);
	rc = model_exec_deferred(touch);
	if (rc >= 0)
		rc = model_log_image_inserted(ic->c, ext, now);
out:
	if ((rc = model_write_end(ic->c, rc, ic->err)) < 0) {
		if (sent == 1)
			db_reset(st);
		return rc; /* it rolled back */
	}
	if (sent != 1)
		return 0;
	if ((rc = db_step(st)) == -ESTALE) {
		/* Committed, but the insert's answer was lost with the connection
		 * (model_send): the row, if it made one, is found by its id. */
		db_reset(st);
		return image_create_found(ic, ext);
	}
	return image_create_result(ic, st, rc);
}

int model_image_create(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, const char *name,
                       struct model_image *out, struct model_err *err)
{
	struct image_create ic = {.m = m, .region_id = region_id, .account_id = account_id, .folder = folder,
	                          .name = name, .err = err};
	char ext[16];
	int rc;

	if (folder != MODEL_FOLDER_PRIVATE && folder != MODEL_FOLDER_ISO)
		return model_fail(err, -EPERM, "images are created only in private/ and iso/");
	if ((rc = model_name_check(name, err)) < 0)
		return rc;
	ic.quota = folder == MODEL_FOLDER_PRIVATE ? MODEL_QUOTA_PRIVATE_IMAGES : MODEL_QUOTA_INVALID;
	/* Only when the insert made no row is the reason looked for (after
	 * its transaction: it changed nothing); none but a drawn external id
	 * that was taken: another, at most 64. */
	for (int tries = 0; tries < 64; tries++) {
		if ((rc = model_draw_ext_id(ext, "img-")) < 0)
			return model_fail(err, rc, "no random bytes for an id");
		if ((rc = image_create_try(&ic, ext)) < 0)
			return rc;
		if (ic.made) {
			if (out)
				*out = ic.row;
			return 0;
		}
		if ((rc = image_create_refused(&ic)) < 0)
			return rc;
	}
	return model_fail(err, -EEXIST, "no free external id");
}


int model_image_rename(model *m, int64_t id, const char *new_name, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img, other;
	db_stmt *st;
	int rc;
	if ((rc = model_name_check(new_name, err)) < 0)
		return rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	/* In place: private/, iso/, and the recycle bin (§16: names stay editable there). */
	if (img.folder != MODEL_FOLDER_PRIVATE && img.folder != MODEL_FOLDER_ISO &&
	    img.folder != MODEL_FOLDER_RECYCLE) {
		rc = model_fail(err, -EPERM, "%s images cannot be renamed", model_folder_name(img.folder));
		goto out;
	}
	if ((rc = model_image_deleting_refuse(&img, err)) < 0)
		goto out;
	if (strcmp(img.name, new_name) == 0) {
		rc = 0; /* rename(2) to itself succeeds and does nothing */
		goto out;
	}
	if (model_image_lookup(m, img.region_id, img.account_id, img.folder, new_name, &other) == 0) {
		rc = model_fail(err, -EEXIST, "an image named %s exists (renames never replace)", new_name);
		goto out;
	}
	/* the API's title too (glance.c): the name given last is both faces' */
	if (!(st = model_stmt(c, SQL("UPDATE images SET name = ?, title = '', ctime_ns = ? WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, new_name);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if ((rc = model_touch_region(c, img.region_id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, id, img.region_id, img.folder, img.name)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

/* Runs st, an UPDATE of one text column taking (value, now, id), on img,
 * inside the caller's transaction, and logs the change. */
static int image_update_text(struct model_conn *c, const struct model_image *img, db_stmt *st,
                             const char *value)
{
	int rc;
	if (!st)
		return -EIO;
	db_bind_text(st, 1, value);
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, img->id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_IMAGE, img->id, img->region_id, img->folder, NULL);
}

/* Tags: key=value lines, key non-empty without '=' or spaces. */
static int tags_check(const char *v, struct model_err *err)
{
	for (const char *line = v; *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		const char *eq = memchr(line, '=', n);
		if (!eq || eq == line)
			return model_fail(err, -EINVAL, "tags are key=value lines");
		for (const char *p = line; p < eq; p++)
			if (*p == ' ' || *p == '\t' || (unsigned char)*p < 0x20)
				return model_fail(err, -EINVAL, "a tag key cannot hold blanks or control characters");
		for (const char *p = eq; p < line + n; p++)
			if ((unsigned char)*p < 0x20 && *p != '\t')
				return model_fail(err, -EINVAL, "a tag value cannot hold control characters");
		line += n + (nl ? 1 : 0);
	}
	return 0;
}

int model_image_set(model *m, int64_t id, enum model_image_field field, const char *value, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	db_stmt *st = NULL;
	int rc;
	size_t len = strlen(value);

	/* All reach other tenants (shared images, images.csv): nothing in
	 * them may hide or reorder what those see (model_text_check). */
	switch (field) {
	case MODEL_FIELD_DESCRIPTION:
		if ((rc = model_description_check(value, err)) < 0)
			return rc;
		break;
	case MODEL_FIELD_TAGS:
		if (len > MODEL_TEXT_MAX)
			return model_fail(err, -EINVAL, "tags are at most %d bytes", MODEL_TEXT_MAX);
		if ((rc = model_text_check("tags", value, "\t\n", err)) < 0 || (rc = tags_check(value, err)) < 0)
			return rc;
		break;
	case MODEL_FIELD_PROJECT: /* one line: no control character at all */
		if (len > MODEL_PROJECT_MAX)
			return model_fail(err, -EINVAL, "a project is at most %d bytes", MODEL_PROJECT_MAX);
		if ((rc = model_text_check("a project", value, "", err)) < 0)
			return rc;
		break;
	default:
		return model_fail(err, -EPERM, "not a writable attribute");
	}
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	/* The recycle bin keeps the remarks editable (§16, seed 004 §4.6). */
	if (img.folder != MODEL_FOLDER_PRIVATE && img.folder != MODEL_FOLDER_ISO &&
	    img.folder != MODEL_FOLDER_RECYCLE) {
		rc = model_fail(err, -EPERM, "%s images cannot be changed", model_folder_name(img.folder));
		goto out;
	}
	if ((rc = model_image_deleting_refuse(&img, err)) < 0)
		goto out;
	/* One statement per column (a column name cannot be a parameter). */
	switch (field) {
	case MODEL_FIELD_DESCRIPTION:
		st = model_stmt(c, SQL("UPDATE images SET description = ?, description_ns = ?2, ctime_ns = ?2 "
		                       "WHERE id = ?3"));
		break;
	case MODEL_FIELD_TAGS:
		st = model_stmt(c, SQL("UPDATE images SET tags = ?, tags_ns = ?2, ctime_ns = ?2 WHERE id = ?3"));
		break;
	default:
		st = model_stmt(c, SQL("UPDATE images SET project = ?, project_ns = ?2, ctime_ns = ?2 WHERE id = ?3"));
		break;
	}
	if ((rc = image_update_text(c, &img, st, value)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

int model_image_clear_error(model *m, int64_t id)
{
	struct model_conn *c;
	struct model_image img;
	bool cleared = false;
	db_stmt *st;
	int rc;
	if ((rc = model_image_get(m, id, &img)) < 0)
		return rc;
	if (!img.error[0])
		return 0;
	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	/* Not the reason of a failure the image is in (or, in the recycle bin,
	 * will be in again once restored): SPEC §9. */
	if (!(st = model_stmt(c, SQL("UPDATE images SET error = '', error_ns = ?1, ctime_ns = ?1 WHERE id = ?2 "
	                             "AND error != '' AND status != ?3 AND NOT (status = ?4 AND prior_status = ?3)")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, model_now_ns());
	db_bind_int64(st, 2, id);
	db_bind_int(st, 3, MODEL_IMG_ERROR);
	db_bind_int(st, 4, MODEL_IMG_DELETED);
	if ((rc = model_exec_stmt(st)) < 0 || !(cleared = model_changes(c) > 0))
		goto out;
	rc = model_log_change(c, MODEL_CHANGE_IMAGE, img.id, img.region_id, img.folder, NULL);
out:
	return (rc = model_write_end(c, rc, NULL)) < 0 ? rc : cleared;
}

int model_image_renew_dir(model *m, int64_t id, int64_t *dir_gen)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	/* No change logged: nothing a reader sees changed, and no kernel
	 * holds the new node id yet. */
	if (!(st = model_stmt(c, SQL("UPDATE images SET dir_gen = dir_gen + 1 WHERE id = ? RETURNING dir_gen")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW)
		*dir_gen = db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_ROW) {
		rc = rc == DB_DONE ? -ENOENT : rc < 0 ? rc : -EIO;
		goto out;
	}
out:
	return model_write_end(c, rc, NULL);
}

int model_image_set_error(model *m, int64_t id, const char *reason)
{
	struct model_conn *c;
	struct model_image img;
	db_stmt *st;
	int rc;
	if ((rc = model_image_get(m, id, &img)) < 0)
		return rc;
	/* Platform images are shared by everyone: their error file stays empty.
	 * An image in status error keeps the reason of that failure (SPEC §9). */
	if (img.account_id == 0 || strcmp(img.error, reason) == 0 || img.status == MODEL_IMG_ERROR)
		return 0;
	if ((rc = model_write_begin(m, &c, NULL)) < 0)
		return rc;
	st = model_stmt(c, SQL("UPDATE images SET error = ?, error_ns = ?2, ctime_ns = ?2 WHERE id = ?3"));
	if ((rc = image_update_text(c, &img, st, reason)) < 0)
		goto out;
out:
	return model_write_end(c, rc, NULL);
}

int model_image_publish(model *m, int64_t region_id, const struct model_publish *p, const blob_manifest *disk,
                        const char *xxh128, int64_t *id_out, struct model_err *err)
{
	struct model_conn *c;
	struct model_image old;
	db_stmt *st;
	char ext[16], sha[65];
	int64_t blob_id, image_id = 0;
	blob_store *s;
	int rc;

	if (p->folder != MODEL_FOLDER_PUBLIC && p->folder != MODEL_FOLDER_MARKETPLACE)
		return model_fail(err, -EINVAL, "publish to public or marketplace");
	if ((rc = model_name_check(p->name, err)) < 0)
		return rc;
	/* Every account reads a platform image's description (§2.1's rules). */
	if (p->description && (rc = model_description_check(p->description, err)) < 0)
		return rc;
	/* Its SHA-256 (§2.1), before the transaction: a read of the disk. */
	if (p->sha256)
		snprintf(sha, sizeof(sha), "%s", p->sha256);
	else if ((rc = model_store(m, region_id, &s)) < 0 || (rc = blob_store_sha256(s, disk, sha, NULL, NULL)) < 0)
		return model_fail(err, rc, "cannot read the disk to hash it: %s", strerror(-rc));
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (model_image_lookup(m, region_id, 0, p->folder, p->name, &old) == 0) {
		rc = model_fail(err, -EEXIST, "%s/%s exists", model_folder_name(p->folder), p->name);
		goto out;
	}
	if ((rc = model_blob_insert_sealed(c, region_id, disk, xxh128, 0, &blob_id)) < 0) {
		model_fail(err, rc, "cannot record the disk");
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET sha256 = ? WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, sha);
	db_bind_int64(st, 2, blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("INSERT INTO images(ext_id, region_id, account_id, folder, name, status, progress, "
	                         "type, format, os_type, platform, version, arch, boot_mode, features, description, "
	                         "source, size, created, mtime_ns, ctime_ns, dir_mtime_ns, uuid) VALUES (?, ?, 0, ?, ?, ?, 100, ?, "
	                         "'raw', ?, ?, ?, ?, ?, ?, ?, 'platform', ?, ?, ?, ?, ?17, ?18) "
	                         "ON CONFLICT (ext_id) DO NOTHING RETURNING id")))) {
		rc = -EIO;
		goto out;
	}
	int64_t now = model_now_ns();
	db_bind_int64(st, 2, region_id);
	db_bind_int(st, 3, p->folder);
	db_bind_text(st, 4, p->name);
	db_bind_int(st, 5, MODEL_IMG_AVAILABLE);
	db_bind_int(st, 6, MODEL_TYPE_LOCAL | MODEL_TYPE_CLOUD);
	db_bind_text(st, 7, p->os_type ? p->os_type : "");
	db_bind_text(st, 8, p->platform ? p->platform : "");
	db_bind_text(st, 9, p->version ? p->version : "");
	db_bind_text(st, 10, p->arch ? p->arch : "x86_64");
	db_bind_text(st, 11, p->boot_mode ? p->boot_mode : "bios");
	db_bind_text(st, 12, p->features ? p->features : "");
	db_bind_text(st, 13, p->description ? p->description : "");
	db_bind_int64(st, 14, (int64_t)disk->size);
	db_bind_int64(st, 15, now / 1000000000);
	db_bind_int64(st, 16, now);
	db_bind_int64(st, 17, now);
	char uuid[37];
	if ((rc = model_uuid_new(uuid)) < 0) {
		db_reset(st);
		model_fail(err, rc, "no random bytes for an id");
		goto out;
	}
	db_bind_text(st, 18, uuid);
	if ((rc = model_insert_ext(st, "img-", ext, model_fill_id, &image_id)) < 0) {
		model_fail(err, rc, "cannot insert the image");
		goto out;
	}
	if (!(st = model_stmt(c, SQL("INSERT INTO devices(image_id, idx, blob_id, snapshot_id) VALUES (?, 0, ?, 0)")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	/* What is inside it (§20: model/task/inspect.c). */
	if (!(st = model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, state) SELECT 'inspect', ?, 'queued' WHERE ? != 0")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, image_id);
	db_bind_int(st, 2, c->m->inspector.fn != NULL); /* (a process that inspects: a mount) */
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if ((rc = model_touch_region(c, region_id)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, image_id, region_id, p->folder, NULL)) < 0)
		goto out;
out:
	if ((rc = model_write_end(c, rc, err)) == 0 && id_out)
		*id_out = image_id;
	return rc;
}

/* One edge of the status machine (status.c holds the table), SPEC §4. */
int model_image_transition(model *m, int64_t id, enum model_image_status from, enum model_image_status to,
                           const char *reason, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	db_stmt *st;
	int rc;
	if (!model_image_transition_allowed(from, to))
		return model_fail(err, -EINVAL, "an image cannot go from %s to %s", model_image_status_name(from),
		                  model_image_status_name(to));
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE images SET status = ?1, error = ?2, progress = CASE ?1 WHEN ?3 THEN 100 "
	                         "WHEN ?4 THEN progress ELSE 0 END, mtime_ns = ?5, ctime_ns = ?5, "
	                         "error_ns = CASE WHEN error = ?2 THEN error_ns ELSE ?5 END "
	                         "WHERE id = ?6 AND status = ?7")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, to);
	db_bind_text(st, 2, to == MODEL_IMG_ERROR && reason ? reason : "");
	db_bind_int(st, 3, MODEL_IMG_AVAILABLE);
	db_bind_int(st, 4, MODEL_IMG_ERROR);
	db_bind_int64(st, 5, model_now_ns());
	db_bind_int64(st, 6, id);
	db_bind_int(st, 7, from);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	bool moved = model_changes(c) == 1;
	if ((rc = model_image_get(m, id, &img)) < 0) {
		model_fail(err, -ENOENT, "no such image");
		goto out;
	}
	if (!moved) {
		rc = model_fail(err, -EBUSY, "the image is %s, not %s", model_image_status_name(img.status),
		                model_image_status_name(from));
		goto out;
	}
	if ((rc = model_log_change(c, MODEL_CHANGE_IMAGE, id, img.region_id, img.folder, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

int model_image_get_queued(model *m, int64_t id, struct model_image *img, struct model_err *err)
{
	int rc;
	if ((rc = model_image_get(m, id, img)) < 0)
		return model_fail(err, rc, "no such image");
	if (img->folder != MODEL_FOLDER_PRIVATE && img->folder != MODEL_FOLDER_ISO)
		return model_fail(err, -EPERM, "%s images cannot be changed", model_folder_name(img->folder));
	if (img->status != MODEL_IMG_QUEUED)
		return model_fail(err, -EPERM, "cannot change after upload: the image is %s",
		                  model_image_status_name(img->status));
	return 0;
}

int model_image_queued_update(struct model_conn *c, db_stmt *st, const struct model_image *img)
{
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 2, model_now_ns());
	db_bind_int64(st, 3, img->id);
	db_bind_int(st, 4, MODEL_IMG_QUEUED);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_IMAGE, img->id, img->region_id, img->folder, NULL);
}

int model_image_deleting_refuse(const struct model_image *img, struct model_err *err)
{
	return img->status == MODEL_IMG_DELETING
	               ? model_fail(err, -EBUSY, "the image is being destroyed (its chunks are being freed)")
	               : 0;
}

int model_image_set_encrypted(model *m, int64_t id, bool on, struct model_err *err)
{
	struct model_image img;
	struct model_conn *c;
	db_stmt *st;
	int rc;

	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get_queued(m, id, &img, err)) < 0)
		goto out;
	if (img.encrypted == on) {
		rc = 0; /* the current value: no change */
		goto out;
	}
	/* A key an abandoned upload made goes with "no" (no data of it is
	 * left: the upload's rows went with it). */
	if ((st = model_stmt(c, SQL("UPDATE images SET encrypted = ?1, key_id = CASE ?1 WHEN 0 THEN 0 ELSE key_id END, "
	                            "mtime_ns = ?2, ctime_ns = ?2 WHERE id = ?3 AND status = ?4"))))
		db_bind_int(st, 1, on ? 1 : 0);
	rc = model_image_queued_update(c, st, &img);
out:
	return model_write_end(c, rc, err);
}

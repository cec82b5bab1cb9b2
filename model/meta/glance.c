/*
 * glance.c — an image as the image API (Glance v2, SPEC §19) sees and
 * changes it: its UUID, its API name, declared formats, min_disk/min_ram,
 * the flags (protected, os_hidden, visibility, deactivated), and the
 * create and update that apply a list of changes in one transaction.
 * Properties are props.c's.
 *
 * Who calls it: fs/serve/glance (POST /v2/images, PATCH, deactivate,
 * reactivate, every lookup by id), the unit tests.  Any thread; a refused
 * change list changes nothing.
 *
 * Names.  A Glance name is free text of up to 255 bytes, need not be
 * unique, may be absent; a directory's is a §10 name, unique in its
 * folder.  An image's directory takes its API name when that is a §10
 * name free in the folder; otherwise the directory is named by the
 * image's id (img-...) and the API name is kept as its title.  A rename
 * through the API to a name the directory can take renames the directory
 * (and drops the title); `mv` renames the directory and drops the title
 * too (image.c): the name a user gave last is the name both faces show.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

int model_image_by_uuid(model *m, const char *uuid, struct model_image *out)
{
	struct model_conn *c;
	db_stmt *st;
	char low[37];
	int rc;
	if (!model_uuid_valid(uuid))
		return -ENOENT;
	for (size_t i = 0; i < 37; i++) /* stored lowercase; a client may write it in capitals */
		low[i] = (char)(uuid[i] >= 'A' && uuid[i] <= 'F' ? uuid[i] - 'A' + 'a' : uuid[i]);
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " MODEL_IMAGE_COLS "WHERE i.uuid = ?"))))
		return -EIO;
	db_bind_text(st, 1, low);
	return model_one_row(st, (void (*)(db_stmt *, void *))model_image_row, out);
}

const char *model_image_api_name(const struct model_image *img)
{
	return img->title[0] ? img->title : img->name;
}

bool model_uuid_valid(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	size_t n = strlen(s);
	if (n != 36)
		return false;
	for (size_t i = 0, d = 0; i < n; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
			continue;
		}
		char ch = s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return true;
}

bool model_word_in(const char *word, const char *list)
{
	size_t n = strlen(word);
	if (!n)
		return false;
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ' ');
		size_t k = e ? (size_t)(e - p) : strlen(p);
		if (k == n && memcmp(p, word, n) == 0)
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

bool model_disk_format_opaque(const char *disk_format)
{
	return model_word_in(disk_format, "aki ari ami");
}

/* ---- applying changes ------------------------------------------------------------ */

/* What the changes need of their image, read once in the transaction. */
struct gchange {
	struct model_conn *c;
	struct model_image img;
	bool touched; /* a value the API shows changed: mtime, ctime, the change log */
	struct model_err *err;
};

/* The API's name: the directory's when it can be (free in its folder),
 * else the title. */
static int op_name(struct gchange *g, const char *v)
{
	struct model_image other;
	struct model_err ignore = {0};
	db_stmt *st;
	int rc;
	if (!v || !v[0] || strcmp(v, g->img.name) == 0) {
		v = "";
	} else if (model_name_check(v, &ignore) == 0 &&
	           model_image_lookup(g->c->m, g->img.region_id, g->img.account_id, g->img.folder, v, &other) ==
	               -ENOENT) {
		if (!(st = model_stmt(g->c, SQL("UPDATE images SET name = ?, title = '' WHERE id = ?"))))
			return -EIO;
		db_bind_text(st, 1, v);
		db_bind_int64(st, 2, g->img.id);
		if ((rc = model_exec_stmt(st)) < 0)
			return rc;
		/* the old name: another mount drops that entry */
		if ((rc = model_log_change(g->c, MODEL_CHANGE_IMAGE, g->img.id, g->img.region_id, g->img.folder,
		                           g->img.name)) < 0 ||
		    (rc = model_touch_region(g->c, g->img.region_id)) < 0)
			return rc;
		snprintf(g->img.name, sizeof(g->img.name), "%s", v);
		g->img.title[0] = '\0';
		g->touched = true;
		return 0;
	} else {
		if (strlen(v) > MODEL_NAME_MAX)
			return model_fail(g->err, -EINVAL, "a name is at most %d bytes", MODEL_NAME_MAX);
		if ((rc = model_text_check("a name", v, "", g->err)) < 0)
			return rc;
	}
	if (!(st = model_stmt(g->c, SQL("UPDATE images SET title = ? WHERE id = ?"))))
		return -EIO;
	db_bind_text(st, 1, v);
	db_bind_int64(st, 2, g->img.id);
	snprintf(g->img.title, sizeof(g->img.title), "%s", v);
	g->touched = true;
	return model_exec_stmt(st);
}

/* A queued image's folder follows its disk format (SPEC §19): iso/ for
 * iso, private/ for the others — moved, the name kept (-EEXIST when the
 * other folder has it), private-images checked on the way in. */
static int refile(struct gchange *g, enum model_folder to)
{
	struct model_image other;
	db_stmt *st;
	int rc;
	if (model_image_lookup(g->c->m, g->img.region_id, g->img.account_id, to, g->img.name, &other) == 0)
		return model_fail(g->err, -EEXIST, "%s/ holds an image named %s already", model_folder_name(to),
		                  g->img.name);
	if (to == MODEL_FOLDER_PRIVATE &&
	    (rc = model_quota_check(g->c, g->img.account_id, g->img.region_id, MODEL_QUOTA_PRIVATE_IMAGES, 1, g->err)) < 0)
		return rc;
	if (!(st = model_stmt(g->c, SQL("UPDATE images SET folder = ?, format = ? WHERE id = ? AND status = 1"))))
		return -EIO;
	_Static_assert(MODEL_IMG_QUEUED == 1, "the statement above spells queued as 1");
	db_bind_int(st, 1, to);
	db_bind_text(st, 2, to == MODEL_FOLDER_ISO ? "iso" : "");
	db_bind_int64(st, 3, g->img.id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	/* the old folder's entry goes in other mounts; both listings moved */
	if ((rc = model_log_change(g->c, MODEL_CHANGE_IMAGE, g->img.id, g->img.region_id, g->img.folder, g->img.name)) <
	        0 ||
	    (rc = model_touch_region(g->c, g->img.region_id)) < 0)
		return rc;
	g->img.folder = to;
	g->touched = true;
	return 0;
}

/* disk_format and container_format: words of their lists, while queued;
 * an ISO image (iso/) is iso and nothing else is. */
static int op_format(struct gchange *g, bool disk, const char *v)
{
	const char *what = disk ? "disk_format" : "container_format";
	db_stmt *st;
	if (!v || !model_word_in(v, disk ? MODEL_DISK_FORMATS : MODEL_CONTAINER_FORMATS))
		return model_fail(g->err, -EINVAL, "%s is one of %s", what,
		                  disk ? MODEL_DISK_FORMATS : MODEL_CONTAINER_FORMATS);
	if (strcmp(v, disk ? g->img.disk_format : g->img.container_format) == 0)
		return 0;
	if (g->img.status != MODEL_IMG_QUEUED)
		return model_fail(g->err, -EPERM, "%s is set only while the image is queued (it is %s)", what,
		                  model_image_status_name(g->img.status));
	if (disk && (strcmp(v, "iso") == 0) != (g->img.folder == MODEL_FOLDER_ISO)) {
		int rc = refile(g, strcmp(v, "iso") == 0 ? MODEL_FOLDER_ISO : MODEL_FOLDER_PRIVATE);
		if (rc < 0)
			return rc;
	}
	if (!(st = disk ? model_stmt(g->c, SQL("UPDATE images SET disk_format = ? WHERE id = ?"))
	                : model_stmt(g->c, SQL("UPDATE images SET container_format = ? WHERE id = ?"))))
		return -EIO;
	db_bind_text(st, 1, v);
	db_bind_int64(st, 2, g->img.id);
	g->touched = true;
	return model_exec_stmt(st);
}

static int op_min(struct gchange *g, bool disk, int64_t v)
{
	db_stmt *st;
	if (v < 0 || v > INT32_MAX)
		return model_fail(g->err, -EINVAL, "%s is a whole number from 0 to %d", disk ? "min_disk" : "min_ram",
		                  INT32_MAX);
	if (!(st = disk ? model_stmt(g->c, SQL("UPDATE images SET min_disk = ? WHERE id = ?"))
	                : model_stmt(g->c, SQL("UPDATE images SET min_ram = ? WHERE id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, v);
	db_bind_int64(st, 2, g->img.id);
	g->touched = true;
	return model_exec_stmt(st);
}

static int op_flag(struct gchange *g, unsigned bit, bool on)
{
	db_stmt *st;
	unsigned now = g->img.gflags;
	if (bit == MODEL_GFLAG_DEACTIVATED && on && !(now & bit) && g->img.status != MODEL_IMG_AVAILABLE)
		return model_fail(g->err, -EPERM, "a %s image cannot be deactivated: only available ones",
		                  model_image_status_name(g->img.status));
	/* Glance's reactivate: of a deactivated or an active image (a no-op), else 403 */
	if (bit == MODEL_GFLAG_DEACTIVATED && !on && !(now & bit) && g->img.status != MODEL_IMG_AVAILABLE)
		return model_fail(g->err, -EPERM, "a %s image cannot be reactivated: only available ones",
		                  model_image_status_name(g->img.status));
	if (bit == MODEL_GFLAG_SHARED && !on && (now & bit)) {
		/* members see a shared image; a private one has none */
		if (!(st = model_stmt(g->c, SQL("SELECT shares FROM images WHERE id = ?"))))
			return -EIO;
		db_bind_int64(st, 1, g->img.id);
		int64_t shares = db_step(st) == DB_ROW ? db_col_int64(st, 0) : 0;
		db_reset(st);
		if (shares > 0)
			return model_fail(g->err, -EBUSY, "%s has members: remove them before it is made private",
			                  g->img.name);
	}
	unsigned next = on ? now | bit : now & ~bit;
	if (next == now)
		return 0;
	if (!(st = model_stmt(g->c, SQL("UPDATE images SET gflags = ? WHERE id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, next);
	db_bind_int64(st, 2, g->img.id);
	g->img.gflags = next;
	g->touched = true;
	return model_exec_stmt(st);
}

/* One property: its rules, then in or out. */
static int op_prop(struct gchange *g, const char *key, const char *value)
{
	db_stmt *st;
	int rc;
	if ((rc = model_prop_key_check(key, g->err)) < 0)
		return rc;
	if (value) {
		if (strlen(value) > MODEL_PROP_VALUE_MAX)
			return model_fail(g->err, -EINVAL, "a property's value is at most %d bytes", MODEL_PROP_VALUE_MAX);
		if ((rc = model_text_check("a property's value", value, "", g->err)) < 0)
			return rc;
		st = model_stmt(g->c, SQL("INSERT INTO image_props(image_id, key, value) VALUES (?, ?, ?) "
		                          "ON CONFLICT (image_id, key) DO UPDATE SET value = excluded.value"));
	} else {
		st = model_stmt(g->c, SQL("DELETE FROM image_props WHERE image_id = ? AND key = ?"));
	}
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, g->img.id);
	db_bind_text(st, 2, key);
	if (value)
		db_bind_text(st, 3, value);
	g->touched = true;
	return model_exec_stmt(st);
}

static int props_bound(struct gchange *g)
{
	db_stmt *st = model_stmt(g->c, SQL("SELECT count(*) FROM image_props WHERE image_id = ?"));
	int64_t n = 0;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, g->img.id);
	int rc = db_step(st);
	if (rc == DB_ROW)
		n = db_col_int64(st, 0);
	db_reset(st);
	if (rc < 0)
		return rc;
	if (n > MODEL_PROPS_MAX)
		return model_fail(g->err, -EDQUOT, "an image has at most %d properties (this change makes %lld)",
		                  MODEL_PROPS_MAX, (long long)n);
	return 0;
}

static int apply_ops(struct gchange *g, const struct model_api_op *ops, size_t n)
{
	bool props = false;
	int rc = 0;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		const struct model_api_op *o = &ops[i];
		switch (o->kind) {
		case MODEL_API_NAME: rc = op_name(g, o->value); break;
		case MODEL_API_DISK_FORMAT: rc = op_format(g, true, o->value); break;
		case MODEL_API_CONTAINER_FORMAT: rc = op_format(g, false, o->value); break;
		case MODEL_API_MIN_DISK: rc = op_min(g, true, o->num); break;
		case MODEL_API_MIN_RAM: rc = op_min(g, false, o->num); break;
		case MODEL_API_FLAG: rc = op_flag(g, (unsigned)o->num, o->on); break;
		case MODEL_API_TAGS:
			/* the tags file's rules, its own time (image.c) */
			rc = model_image_set(g->c->m, g->img.id, MODEL_FIELD_TAGS, o->value ? o->value : "", g->err);
			break;
		case MODEL_API_DESCRIPTION:
			rc = model_image_set(g->c->m, g->img.id, MODEL_FIELD_DESCRIPTION, o->value ? o->value : "", g->err);
			break;
		case MODEL_API_PROP:
			rc = op_prop(g, o->key, o->value);
			props = true;
			break;
		default: rc = model_fail(g->err, -EINVAL, "not a change the API makes"); break;
		}
	}
	if (rc >= 0 && props)
		rc = props_bound(g);
	return rc;
}

/* The image's times and the change log, once for the whole list. */
static int changes_done(struct gchange *g)
{
	db_stmt *st;
	int rc;
	if (!g->touched)
		return 0;
	if (!(st = model_stmt(g->c, SQL("UPDATE images SET mtime_ns = ?1, ctime_ns = ?1 WHERE id = ?2"))))
		return -EIO;
	db_bind_int64(st, 1, model_now_ns());
	db_bind_int64(st, 2, g->img.id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_log_change(g->c, MODEL_CHANGE_IMAGE, g->img.id, g->img.region_id, g->img.folder, NULL);
}

int model_api_image_update(model *m, int64_t image_id, const struct model_api_op *ops, size_t n,
                           struct model_err *err)
{
	struct gchange g = {.err = err};
	int rc;
	if ((rc = model_write_begin(m, &g.c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &g.img)) < 0) {
		rc = model_fail(err, rc, "no such image");
		goto out;
	}
	if (g.img.folder != MODEL_FOLDER_PRIVATE && g.img.folder != MODEL_FOLDER_ISO) {
		rc = model_fail(err, -EPERM, "%s images are not changed through the API", model_folder_name(g.img.folder));
		goto out;
	}
	if ((rc = model_image_deleting_refuse(&g.img, err)) < 0 || (rc = apply_ops(&g, ops, n)) < 0)
		goto out;
	rc = changes_done(&g);
out:
	return model_write_end(g.c, rc, err);
}

/* The directory's name for a new image: its API name when that is a §10
 * name free in the folder, else "" (the insert then names it by its id). */
static const char *dir_name_for(model *m, int64_t region_id, int64_t account_id, enum model_folder folder,
                                const struct model_api_op *ops, size_t n)
{
	struct model_image other;
	struct model_err ignore = {0};
	const char *name = NULL;
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind == MODEL_API_NAME)
			name = ops[i].value;
	if (!name || model_name_check(name, &ignore) < 0 ||
	    model_image_lookup(m, region_id, account_id, folder, name, &other) != -ENOENT)
		return "";
	return name;
}

int model_api_image_create(model *m, int64_t region_id, int64_t account_id, const struct model_api_op *ops, size_t n,
                           struct model_image *out, struct model_err *err)
{
	struct gchange g = {.err = err};
	enum model_folder folder = MODEL_FOLDER_PRIVATE;
	unsigned gflags = MODEL_GFLAG_SHARED; /* Glance's default visibility since v2.5 */
	char ext[16], uuid[37];
	int64_t id = 0;
	db_stmt *st;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (ops[i].kind == MODEL_API_DISK_FORMAT && ops[i].value && strcmp(ops[i].value, "iso") == 0)
			folder = MODEL_FOLDER_ISO;
		if (ops[i].kind == MODEL_API_FLAG && ops[i].num == MODEL_GFLAG_SHARED && !ops[i].on)
			gflags = 0;
	}
	if ((rc = model_write_begin(m, &g.c, err)) < 0)
		return rc;
	if (folder == MODEL_FOLDER_PRIVATE &&
	    (rc = model_quota_check(g.c, account_id, region_id, MODEL_QUOTA_PRIVATE_IMAGES, 1, err)) < 0)
		goto out;
	const char *dir = dir_name_for(m, region_id, account_id, folder, ops, n);
	if (!(st = model_stmt(g.c, SQL("INSERT INTO images(ext_id, region_id, account_id, folder, name, status, type, "
	                               "format, created, mtime_ns, ctime_ns, dir_mtime_ns, encrypted, uuid, gflags) "
	                               "VALUES (?1, ?2, ?3, ?4, CASE WHEN ?5 = '' THEN ?1 ELSE ?5 END, ?6, 0, ?7, ?8, ?9, "
	                               "?9, ?9, COALESCE((SELECT encrypt_default FROM accounts WHERE id = ?3), 0), ?10, "
	                               "?11) ON CONFLICT DO NOTHING RETURNING id")))) {
		rc = -EIO;
		goto out;
	}
	/* No row: a name taken meanwhile (then the id names it) or an id
	 * drawn twice; a few tries, each one statement. */
	for (int tries = 0; tries < 8 && id == 0; tries++) {
		int64_t now = model_now_ns();
		if ((rc = model_draw_ext_id(ext, "img-")) < 0 || (rc = model_uuid_new(uuid)) < 0) {
			rc = model_fail(err, -EIO, "no random bytes for an id");
			goto out;
		}
		db_bind_text(st, 1, ext);
		db_bind_int64(st, 2, region_id);
		db_bind_int64(st, 3, account_id);
		db_bind_int(st, 4, folder);
		db_bind_text(st, 5, tries ? "" : dir);
		db_bind_int(st, 6, MODEL_IMG_QUEUED);
		db_bind_text(st, 7, folder == MODEL_FOLDER_ISO ? "iso" : "");
		db_bind_int64(st, 8, now / 1000000000);
		db_bind_int64(st, 9, now);
		db_bind_text(st, 10, uuid);
		db_bind_int64(st, 11, gflags);
		if ((rc = model_one_row(st, model_fill_id, &id)) < 0 && rc != -ENOENT)
			goto out;
	}
	if (!id) {
		rc = model_fail(err, -EEXIST, "no free name or id for the image");
		goto out;
	}
	if ((rc = model_image_get(m, id, &g.img)) < 0 || (rc = model_touch_region(g.c, region_id)) < 0 ||
	    (rc = model_log_change(g.c, MODEL_CHANGE_IMAGE, id, region_id, folder, NULL)) < 0)
		goto out;
	if ((rc = apply_ops(&g, ops, n)) < 0)
		goto out;
	g.touched = false; /* made now: its times are its creation's */
	if (out && (rc = model_image_get(m, id, out)) < 0)
		goto out;
	rc = 0;
out:
	return model_write_end(g.c, rc, err);
}

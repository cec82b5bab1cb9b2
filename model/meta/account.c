/*
 * account.c — accounts (SPEC §8) and regions (SPEC §1).  Roles
 * (administrators, sub-accounts: §16) are roles.c's.
 *
 * Regions are added (region.c) with the platform catalogue (catalogue.c)
 * inside the same transaction, so a region never exists without its
 * public images.
 *
 * An account is removed (admin account remove) only when it owns nothing:
 * no image in any folder (the recycle bin included: a task always works
 * for one of its images), snapshot, instance or share it receives, and no
 * sub-account is left under it; its quota, usage and fair-share rows go
 * with it in the same transaction.
 * Its id is never reused (AUTOINCREMENT), nor are inode numbers made of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imgfs_lock.h"
#include "model_int.h"

void model_account_row(db_stmt *st, struct model_account *a)
{
	a->id = db_col_int64(st, 0);
	model_col_text(st, 1, a->name, sizeof(a->name));
	a->uid = db_col_null(st, 2) ? -1 : db_col_int64(st, 2);
	a->admin = db_col_int64(st, 3) != 0;
	a->parent_id = db_col_int64(st, 4);
	a->has_subs = db_col_int64(st, 5) != 0;
	a->created = db_col_int64(st, 6);
	a->encrypt_default = db_col_int64(st, 7) != 0;
}

static void account_fill(db_stmt *st, void *out)
{
	model_account_row(st, out);
}

int model_account_by_name(model *m, const char *name, struct model_account *out)
{
	return model_fetch_one(m, SQL("SELECT " MODEL_ACCOUNT_COLS "WHERE a.name = ?"), name, 0, account_fill, out);
}

int model_account_by_uid(model *m, int64_t uid, struct model_account *out)
{
	return model_fetch_one(m, SQL("SELECT " MODEL_ACCOUNT_COLS "WHERE a.uid = ?"), NULL, uid, account_fill, out);
}

int model_account_get(model *m, int64_t id, struct model_account *out)
{
	return model_fetch_one(m, SQL("SELECT " MODEL_ACCOUNT_COLS "WHERE a.id = ?"), NULL, id, account_fill, out);
}

int model_account_add(model *m, const char *name, int64_t uid, struct model_err *err)
{
	return model_account_create(m, name, uid, false, NULL, err);
}

int model_account_create(model *m, const char *name, int64_t uid, bool admin, const char *parent,
                         struct model_err *err)
{
	struct model_conn *c;
	struct model_account a, main = {0};
	db_stmt *st;
	int rc;
	if ((rc = model_name_check(name, err)) < 0)
		return rc;
	/* -1: no uid.  A uid is 0 ... 4294967294; (uid_t)-1 means "no uid"
	 * to the kernel's calls, so no process ever has it. */
	if (uid < -1 || uid > 4294967294LL)
		return model_fail(err, -EINVAL, "uid %lld is not a uid (0 to 4294967294)", (long long)uid);
	if (admin && parent)
		return model_fail(err, -EINVAL, "an administrator is nobody's sub-account");
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (model_account_by_name(m, name, &a) == 0) {
		rc = model_fail(err, -EEXIST, "account %s exists", name);
		goto out;
	}
	if (uid >= 0 && model_account_by_uid(m, uid, &a) == 0) {
		rc = model_fail(err, -EEXIST, "uid %lld is mapped to account %s", (long long)uid, a.name);
		goto out;
	}
	if (parent && (rc = model_account_main_check(m, parent, &main, err)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("INSERT INTO accounts(name, uid, created, admin, parent_id) VALUES (?, ?, ?, ?, ?) "
	                             "RETURNING id")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, name);
	if (uid >= 0)
		db_bind_int64(st, 2, uid);
	db_bind_int64(st, 3, time(NULL));
	db_bind_int(st, 4, admin ? 1 : 0);
	db_bind_int64(st, 5, main.id);
	int64_t id = 0;
	if ((rc = model_insert(st, &id)) < 0 || (rc = model_accounts_changed(c, id)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

/* What account a.id owns, for model_account_remove: images (any folder),
 * snapshots, instances, shares it receives. */
static int account_owns(struct model_conn *c, int64_t id, int64_t n[4])
{
	db_stmt *st;
	int rc;
	if (!(st = model_stmt(c, SQL_SCAN("admin account remove counts what one account owns",
	                                  "SELECT (SELECT count(*) FROM images WHERE account_id = ?1), "
	                                  "(SELECT count(*) FROM snapshots WHERE account_id = ?1), "
	                                  "(SELECT count(*) FROM instances WHERE account_id = ?1), "
	                                  "(SELECT count(*) FROM shares WHERE account_id = ?1)"))))
		return -EIO;
	db_bind_int64(st, 1, id);
	if ((rc = db_step(st)) == DB_ROW)
		for (int i = 0; i < 4; i++)
			n[i] = db_col_int64(st, i);
	db_reset(st);
	return rc == DB_ROW ? 0 : rc < 0 ? rc : -EIO;
}

int model_account_remove(model *m, const char *name, struct model_err *err)
{
	const struct model_sql *const gone[] = {
		SQL("DELETE FROM quotas WHERE account_id = ?"),
		SQL("DELETE FROM usage WHERE account_id = ?"),
		SQL("DELETE FROM usage_totals WHERE account_id = ?"),
		SQL("DELETE FROM task_turns WHERE account_id = ?"),
		SQL("DELETE FROM accounts WHERE id = ?"),
	};
	struct model_conn *c;
	struct model_account a;
	char subs[192];
	int64_t n[4] = {0};
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_account_named(m, name, &a, err)) < 0)
		goto out;
	if (a.has_subs) {
		model_account_subs_named(m, a.id, subs, sizeof(subs));
		rc = model_fail(err, -EBUSY, "account %s has sub-accounts %s: remove them or make them main accounts "
		                "(account set SUB parent -) first", name, subs);
		goto out;
	}
	if ((rc = account_owns(c, a.id, n)) < 0)
		goto out;
	if (n[0] || n[1] || n[2] || n[3]) {
		rc = model_fail(err, -EBUSY, "account %s owns %lld images (the recycle bin's too), %lld snapshots, "
		                "%lld instances and receives %lld shares: remove them first", name, (long long)n[0],
		                (long long)n[1], (long long)n[2], (long long)n[3]);
		goto out;
	}
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		if (!(st = model_stmt(c, gone[i]))) {
			rc = -EIO;
			goto out;
		}
		db_bind_int64(st, 1, a.id);
		if ((rc = model_exec_stmt(st)) < 0)
			goto out;
	}
	if ((rc = model_accounts_changed(c, a.id)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

int model_account_named(model *m, const char *name, struct model_account *out, struct model_err *err)
{
	int rc = model_account_by_name(m, name, out);
	if (rc == -ENOENT)
		return model_fail(err, rc, "no account %s", name);
	return rc;
}

int model_account_ensure(model *m, const char *name, struct model_account *out, struct model_err *err)
{
	int rc = model_account_by_name(m, name, out);
	if (rc != -ENOENT)
		return rc;
	rc = model_account_add(m, name, -1, err);
	if (rc < 0 && rc != -EEXIST)
		return rc;
	return model_account_by_name(m, name, out);
}

int model_account_each(void *arg, db_stmt *st)
{
	struct model_account_cb *c = arg;
	struct model_account a;
	model_account_row(st, &a);
	return c->cb(c->arg, &a);
}

int model_account_list(model *m, int (*cb)(void *arg, const struct model_account *a), void *arg)
{
	struct model_account_cb c = {cb, arg};
	struct model_conn *conn;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	if (!(st = model_stmt(conn, SQL_SCAN("admin account list reads every account",
	                                         "SELECT " MODEL_ACCOUNT_COLS "ORDER BY a.id"))))
		return -EIO;
	return model_each_row(st, model_account_each, &c);
}

/* ---- regions ------------------------------------------------------------- */

static void region_row(db_stmt *st, struct model_region *r)
{
	r->id = db_col_int64(st, 0);
	model_col_text(st, 1, r->name, sizeof(r->name));
	r->created_ns = db_col_int64(st, 2);
	model_col_text(st, 3, r->store, sizeof(r->store));
}

static void region_fill(db_stmt *st, void *out)
{
	region_row(st, out);
}

/* Keeps r for model_region_get (m->regions). */
static void region_keep(model *m, const struct model_region *r)
{
	struct model_region *copy;
	if (r->id <= 0 || r->id >= MODEL_MAX_REGIONS || !(copy = malloc(sizeof(*copy))))
		return;
	*copy = *r;
	IMGFS_LOCK(&m->lock, model_lock);
	if (!m->regions[r->id]) {
		m->regions[r->id] = copy;
		copy = NULL;
	}
	IMGFS_UNLOCK(&m->lock, model_lock);
	free(copy);
}

/* A region already read, by id (name NULL) or by name: 0, or -ENOENT. */
static int region_kept(model *m, int64_t id, const char *name, struct model_region *out)
{
	int rc = -ENOENT;
	IMGFS_LOCK(&m->lock, model_lock);
	if (!name) {
		if (id > 0 && id < MODEL_MAX_REGIONS && m->regions[id]) {
			*out = *m->regions[id];
			rc = 0;
		}
	} else {
		for (int i = 1; i < MODEL_MAX_REGIONS && rc < 0; i++)
			if (m->regions[i] && strcmp(m->regions[i]->name, name) == 0) {
				*out = *m->regions[i];
				rc = 0;
			}
	}
	IMGFS_UNLOCK(&m->lock, model_lock);
	return rc;
}

int model_region_get(model *m, int64_t id, struct model_region *out)
{
	int rc;
	if (region_kept(m, id, NULL, out) == 0)
		return 0;
	rc = model_fetch_one(m, SQL("SELECT id, name, created_ns, store FROM regions WHERE id = ?"), NULL, id,
	                     region_fill, out);
	if (rc == 0)
		region_keep(m, out);
	return rc;
}

int model_region_by_name(model *m, const char *name, struct model_region *out)
{
	int rc;
	if (region_kept(m, 0, name, out) == 0)
		return 0;
	rc = model_fetch_one(m, SQL("SELECT id, name, created_ns, store FROM regions WHERE name = ?"), name, 0,
	                     region_fill, out);
	if (rc == 0)
		region_keep(m, out);
	return rc;
}

int64_t model_region_mtime(model *m, int64_t id)
{
	int64_t t = 0;
	if (model_fetch_one(m, SQL("SELECT mtime_ns FROM regions WHERE id = ?"), NULL, id, model_fill_id, &t) < 0)
		return 0;
	return t;
}

struct region_cb {
	int (*cb)(void *arg, const struct model_region *r);
	void *arg;
};

static int region_each(void *arg, db_stmt *st)
{
	struct region_cb *c = arg;
	struct model_region r;
	region_row(st, &r);
	return c->cb(c->arg, &r);
}

int model_region_list(model *m, int64_t after_id, int (*cb)(void *arg, const struct model_region *r), void *arg)
{
	struct region_cb c = {cb, arg};
	struct model_conn *conn;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	if (!(st = model_stmt(conn, SQL_SCAN("regions are a handful of rows, listed whole",
	                                         "SELECT id, name, created_ns, store FROM regions WHERE id > ? ORDER BY id"))))
		return -EIO;
	db_bind_int64(st, 1, after_id);
	return model_each_row(st, region_each, &c);
}

int model_touch_region(struct model_conn *c, int64_t region_id)
{
	db_stmt *st = model_stmt(c, SQL("UPDATE regions SET mtime_ns = ? WHERE id = ?"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, model_now_ns());
	db_bind_int64(st, 2, region_id);
	return model_exec_deferred(st); /* nothing after it depends on it */
}

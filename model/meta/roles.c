/*
 * roles.c — administrators, main accounts and sub-accounts (SPEC §16,
 * seed 004 §4: "platform administrators, tenants, and authorized
 * sub-accounts all have the right to view and manage them").
 *
 * The rows: accounts.admin (1: an administrator) and accounts.parent_id
 * (a sub-account's main account; 0: none).  One level: an administrator
 * is nobody's sub-account and has none, a main account is neither an
 * administrator nor a sub-account.  Who sees whom under tenants/ is
 * model_account_administers; fs/fuse/tenants.c builds the tree on it.
 * An account's other setting, encrypt_default (SPEC §17: its new images
 * start encrypted), is set here the same way.
 *
 * Quotas of a family (quota.c).  A sub-account's images, snapshots and
 * received shares count toward its main account's quotas.  The usage
 * table keeps each account's own counts (its triggers, schema_*.c v4); a
 * trigger on usage adds every change of a row to usage_totals of the
 * account it counts against (MODEL_SQL_PAYER: the main account of a
 * sub-account, else the account itself), so a check reads one row of
 * usage_totals whatever the family's size.  Changing an account's parent
 * moves its own usage from the old payer's totals to the new one's here,
 * in the same transaction (at most regions x 3 rows: never the images).
 *
 * Who calls it: the admin command line (account add, set, list), a
 * mount's resolution of tenants/ (fs/fuse/tenants.c).  Any thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model_int.h"

bool model_account_administers(const struct model_account *actor, const struct model_account *tenant)
{
	if (!actor->id || !tenant->id || actor->id == tenant->id || tenant->admin)
		return false;
	return actor->admin || (!actor->parent_id && tenant->parent_id == actor->id);
}

bool model_account_has_tenants(const struct model_account *actor)
{
	return actor->id && (actor->admin || actor->has_subs);
}

int model_account_main_check(model *m, const char *parent, struct model_account *out, struct model_err *err)
{
	if (model_account_by_name(m, parent, out) < 0)
		return model_fail(err, -ENOENT, "no account %s", parent);
	if (out->admin)
		return model_fail(err, -EINVAL, "%s is an administrator: a sub-account belongs to a main account", parent);
	if (out->parent_id) {
		struct model_account up = {0};
		model_account_get(m, out->parent_id, &up);
		return model_fail(err, -EINVAL, "%s is a sub-account of %s: sub-accounts are one level deep", parent,
		                  up.name[0] ? up.name : "another account");
	}
	return 0;
}

int model_accounts_changed(struct model_conn *c, int64_t account_id)
{
	char now[32];
	int rc;
	snprintf(now, sizeof(now), "%" PRId64, model_now_ns());
	if ((rc = model_setting_put(c, "accounts_ns", now)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_ACCOUNT, account_id, 0, MODEL_FOLDER_INVALID, NULL);
}

int64_t model_accounts_mtime(model *m)
{
	return model_setting_int(m, "accounts_ns", 0, 0);
}

int model_account_tenants(model *m, const struct model_account *actor, int64_t after_id,
                          int (*cb)(void *arg, const struct model_account *a), void *arg)
{
	struct model_account_cb c = {cb, arg};
	struct model_conn *conn;
	int rc;
	if (!model_account_has_tenants(actor))
		return 0;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	if (actor->admin) {
		const int64_t params[] = {after_id};
		return model_each_page(conn, SQL("SELECT " MODEL_ACCOUNT_COLS "WHERE a.admin = 0 AND a.id > ? "
		                                 "ORDER BY a.id " MODEL_PAGE_SQL),
		                       params, 1, 0, model_account_each, &c);
	}
	const int64_t params[] = {actor->id, after_id};
	return model_each_page(conn, SQL("SELECT " MODEL_ACCOUNT_COLS "WHERE a.parent_id = ? AND a.id > ? "
	                                 "ORDER BY a.id " MODEL_PAGE_SQL),
	                       params, 2, 0, model_account_each, &c);
}

/* model_account_subs's page: stops after max rows. */
struct subs_cb {
	struct model_account_cb c;
	int left;
};

static int subs_each(void *arg, db_stmt *st)
{
	struct subs_cb *s = arg;
	if (s->left-- <= 0)
		return 1;
	return model_account_each(&s->c, st);
}

int model_account_subs(model *m, int64_t main_id, int max, int (*cb)(void *arg, const struct model_account *a),
                       void *arg)
{
	struct subs_cb s = {{cb, arg}, max};
	struct model_conn *conn;
	int rc;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	const int64_t params[] = {main_id, 0};
	rc = model_each_page(conn, SQL("SELECT " MODEL_ACCOUNT_COLS "WHERE a.parent_id = ? AND a.id > ? "
	                               "ORDER BY a.id " MODEL_PAGE_SQL),
	                     params, 2, 0, subs_each, &s);
	return rc == 1 && s.left < 0 ? 0 : rc;
}

/* model_account_subs_named's list. */
struct names {
	char *out;
	size_t cap, len;
	int count;
};

static int name_each(void *arg, const struct model_account *a)
{
	struct names *n = arg;
	if (n->count++ == 8) {
		snprintf(n->out + n->len, n->cap - n->len, " and more");
		return 1;
	}
	int w = snprintf(n->out + n->len, n->cap - n->len, "%s%s", n->len ? ", " : "", a->name);
	n->len = w < 0 || (size_t)w >= n->cap - n->len ? n->cap - 1 : n->len + (size_t)w;
	return 0;
}

void model_account_subs_named(model *m, int64_t main_id, char *out, size_t cap)
{
	struct names n = {out, cap, 0, 0};
	out[0] = '\0';
	model_account_subs(m, main_id, 9, name_each, &n);
}

/* A role's change in c's transaction: st (NULL: it did not prepare), an
 * UPDATE of one column of accounts taking (value, id), then the change
 * noted.  0 or -errno. */
static int account_update(struct model_conn *c, db_stmt *st, int64_t value, int64_t id)
{
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, value);
	db_bind_int64(st, 2, id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_accounts_changed(c, id);
}

int model_account_set_admin(model *m, const char *name, bool admin, struct model_err *err)
{
	struct model_conn *c;
	struct model_account a, up = {0};
	char subs[192];
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_account_named(m, name, &a, err)) < 0 || a.admin == admin /* already so */)
		goto out;
	if (admin && a.parent_id) {
		model_account_get(m, a.parent_id, &up);
		rc = model_fail(err, -EINVAL, "%s is a sub-account of %s: make it a main account first (account set %s "
		                "parent -)", name, up.name, name);
		goto out;
	}
	if (admin && a.has_subs) {
		model_account_subs_named(m, a.id, subs, sizeof(subs));
		rc = model_fail(err, -EBUSY, "%s has sub-accounts %s: an administrator has none (account set SUB "
		                "parent - first)", name, subs);
		goto out;
	}
	rc = account_update(c, model_stmt(c, SQL("UPDATE accounts SET admin = ? WHERE id = ?")), admin ? 1 : 0, a.id);
out:
	return model_write_end(c, rc, err);
}

int model_account_set_encrypt_default(model *m, const char *name, bool on, struct model_err *err)
{
	struct model_conn *c;
	struct model_account a;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_account_named(m, name, &a, err)) < 0 || a.encrypt_default == on /* already so */)
		goto out;
	rc = account_update(c, model_stmt(c, SQL("UPDATE accounts SET encrypt_default = ? WHERE id = ?")), on ? 1 : 0,
	                    a.id);
out:
	return model_write_end(c, rc, err);
}

int model_account_set_uid(model *m, const char *name, int64_t uid, struct model_err *err)
{
	struct model_conn *c;
	struct model_account a, other;
	int rc;
	if (uid < -1 || uid > 4294967294LL)
		return model_fail(err, -EINVAL, "uid %lld is not a uid (0 to 4294967294)", (long long)uid);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_account_named(m, name, &a, err)) < 0 || a.uid == uid /* already so */)
		goto out;
	if (uid >= 0 && model_account_by_uid(m, uid, &other) == 0) {
		rc = model_fail(err, -EEXIST, "uid %lld is mapped to account %s", (long long)uid, other.name);
		goto out;
	}
	/* -1 (no uid) is stored as NULL: NULLIF keeps it one statement. */
	rc = account_update(c, model_stmt(c, SQL("UPDATE accounts SET uid = NULLIF(CAST(? AS BIGINT), -1) WHERE id = ?")),
	                    uid, a.id);
out:
	return model_write_end(c, rc, err);
}

/* A sub-account's own usage leaves the totals of its main account payer,
 * inside the caller's transaction. */
static int usage_leave(struct model_conn *c, int64_t account_id, int64_t payer)
{
	db_stmt *st = model_stmt(c, SQL("UPDATE usage_totals SET used = used - COALESCE((SELECT u.used FROM usage u "
	                                "WHERE u.account_id = ?1 AND u.region_id = usage_totals.region_id AND "
	                                "u.key = usage_totals.key), 0) WHERE account_id = ?2"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, account_id);
	db_bind_int64(st, 2, payer);
	return model_exec_stmt(st);
}

/* Account a's own usage joins the totals of payer. */
static int usage_join(struct model_conn *c, int64_t account_id, int64_t payer)
{
	db_stmt *st = model_stmt(c, SQL("INSERT INTO usage_totals(account_id, region_id, key, used) SELECT ?2, "
	                                "region_id, key, used FROM usage WHERE account_id = ?1 AND used != 0 "
	                                "ON CONFLICT(account_id, region_id, key) DO UPDATE SET "
	                                "used = usage_totals.used + excluded.used"));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, account_id);
	db_bind_int64(st, 2, payer);
	return model_exec_stmt(st);
}

/* The refusals of model_account_set_parent, before anything changes. */
static int parent_check(model *m, const struct model_account *a, const char *parent, struct model_account *main,
                        struct model_err *err)
{
	char subs[192];
	int rc;
	if (strcmp(a->name, parent) == 0)
		return model_fail(err, -EINVAL, "an account is not its own sub-account");
	if (a->admin)
		return model_fail(err, -EINVAL, "%s is an administrator: administrators are nobody's sub-accounts "
		                  "(account set %s admin no first)", a->name, a->name);
	if ((rc = model_account_main_check(m, parent, main, err)) < 0)
		return rc;
	if (a->has_subs) {
		model_account_subs_named(m, a->id, subs, sizeof(subs));
		return model_fail(err, -EBUSY, "%s has sub-accounts %s: sub-accounts are one level deep (account set "
		                  "SUB parent - first)", a->name, subs);
	}
	return 0;
}

int model_account_set_parent(model *m, const char *name, const char *parent, struct model_err *err)
{
	struct model_conn *c;
	struct model_account a, main = {0};
	db_stmt *st;
	int rc;
	if (parent && strcmp(parent, "-") == 0)
		parent = NULL;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_account_named(m, name, &a, err)) < 0 ||
	    (parent && (rc = parent_check(m, &a, parent, &main, err)) < 0) || main.id == a.parent_id /* already so */)
		goto out;
	/* Its usage leaves the old payer's totals (a main account's own
	 * totals go: a sub-account has none) and joins the new one's. */
	if (a.parent_id) {
		rc = usage_leave(c, a.id, a.parent_id);
	} else if (!(st = model_stmt(c, SQL("DELETE FROM usage_totals WHERE account_id = ?")))) {
		rc = -EIO;
	} else {
		db_bind_int64(st, 1, a.id);
		rc = model_exec_stmt(st);
	}
	if (rc < 0)
		goto out;
	if ((rc = usage_join(c, a.id, main.id ? main.id : a.id)) < 0)
		goto out;
	rc = account_update(c, model_stmt(c, SQL("UPDATE accounts SET parent_id = ? WHERE id = ?")), main.id, a.id);
out:
	return model_write_end(c, rc, err);
}

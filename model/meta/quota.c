/*
 * quota.c — per-account, per-region quotas (SPEC §8).
 *
 * Limits default to the seeds' values and are overridden by rows in
 * `quotas` (admin quota set).  Usage is the `usage` table, which triggers
 * keep in the very transaction that adds or removes an image, snapshot or
 * share (db/schema_*.c), so a check inside the caller's transaction and
 * the change it guards are one atomic step, and a check reads one row
 * however many images the account has.  fsck compares it with a count.
 *
 * Families (SPEC §16, roles.c): a sub-account's usage counts toward its
 * main account's quotas.  Every check reads usage_totals of the account
 * the usage counts against (MODEL_SQL_PAYER: the main account of a
 * sub-account, else the account itself) and that account's limit: the
 * payer's own usage and its sub-accounts', kept by a trigger on usage.
 * shares-per-image is per image: the payer's limit, the image's count.
 *
 * instances has no usage row: it is counted from the instances rows, one
 * index range per member of the family (instances_listing, accounts_parent),
 * which the limit itself keeps short — no trigger, no schema change, and
 * nothing for fsck to compare.
 */
#include <errno.h>
#include <string.h>

#include "model_int.h"

static const struct {
	const char *name;
	int64_t def;
} quota_keys[MODEL_QUOTA_COUNT] = {
	[MODEL_QUOTA_PRIVATE_IMAGES] = {"private-images", 5},
	[MODEL_QUOTA_SNAPSHOTS] = {"snapshots", 15},
	[MODEL_QUOTA_SHARED_IMAGES] = {"shared-images", 5},
	[MODEL_QUOTA_SHARES_PER_IMAGE] = {"shares-per-image", 5},
	/* Not in the seeds (they name images and snapshots): without a limit
	 * one account made 1,000 instances in 2 s (issue 36). */
	[MODEL_QUOTA_INSTANCES] = {"instances", 20},
};

int64_t model_quota_default(enum model_quota_key k)
{
	return k > MODEL_QUOTA_INVALID && k < MODEL_QUOTA_COUNT ? quota_keys[k].def : 0;
}

const char *model_quota_name(enum model_quota_key k)
{
	return k > MODEL_QUOTA_INVALID && k < MODEL_QUOTA_COUNT ? quota_keys[k].name : "invalid";
}

enum model_quota_key model_quota_parse(const char *name)
{
	for (int k = 1; k < MODEL_QUOTA_COUNT; k++)
		if (strcmp(quota_keys[k].name, name) == 0)
			return (enum model_quota_key)k;
	return MODEL_QUOTA_INVALID;
}

/* Usage and limit of k, in one statement: q->used the payer's total,
 * q->limit the payer's limit (the admin's row, else the default), q->own
 * the account's own part, q->payer_id the payer.  Usage is what the
 * schema's triggers keep (db/schema_*.c); shares-per-image has no single
 * usage: the largest number of shares of any one of the account's private
 * images is shown (an index max). */
static int quota_read(struct model_conn *c, int64_t account_id, int64_t region_id, enum model_quota_key k,
                      struct model_quota *q)
{
	_Static_assert(MODEL_FOLDER_PRIVATE == 3, "SQL below spells the private folder as 3");
	db_stmt *st;
	int rc;
	if (k == MODEL_QUOTA_INSTANCES)
		st = model_stmt(c, SQL("SELECT (SELECT count(*) FROM instances WHERE region_id = ?2 AND account_id = "
		                       MODEL_SQL_PAYER("?1") ") + (SELECT count(*) FROM accounts a JOIN instances v ON "
		                       "v.region_id = ?2 AND v.account_id = a.id WHERE a.parent_id = " MODEL_SQL_PAYER("?1")
		                       " AND a.parent_id != 0), (SELECT value FROM quotas WHERE account_id = "
		                       MODEL_SQL_PAYER("?1") " AND region_id = ?2 AND key = ?3), (SELECT count(*) FROM "
		                       "instances WHERE region_id = ?2 AND account_id = ?1), " MODEL_SQL_PAYER("?1")));
	else if (k == MODEL_QUOTA_SHARES_PER_IMAGE)
		st = model_stmt(c, SQL("SELECT COALESCE((SELECT max(shares) FROM images WHERE region_id = ?2 AND "
		                       "account_id = ?1 AND folder = 3), 0), (SELECT value FROM quotas WHERE "
		                       "account_id = " MODEL_SQL_PAYER("?1") " AND region_id = ?2 AND key = ?3), "
		                       "COALESCE((SELECT max(shares) FROM images WHERE region_id = ?2 AND account_id = ?1 "
		                       "AND folder = 3), 0), " MODEL_SQL_PAYER("?1")));
	else
		st = model_stmt(c, SQL("SELECT COALESCE((SELECT used FROM usage_totals WHERE account_id = "
		                       MODEL_SQL_PAYER("?1") " AND region_id = ?2 AND key = ?3), 0), (SELECT value FROM "
		                       "quotas WHERE account_id = " MODEL_SQL_PAYER("?1") " AND region_id = ?2 AND "
		                       "key = ?3), COALESCE((SELECT used FROM usage WHERE account_id = ?1 AND "
		                       "region_id = ?2 AND key = ?3), 0), " MODEL_SQL_PAYER("?1")));
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, account_id);
	db_bind_int64(st, 2, region_id);
	db_bind_int(st, 3, k);
	if ((rc = db_step(st)) == DB_ROW) {
		q->key = k;
		q->used = db_col_int64(st, 0);
		q->limit = db_col_null(st, 1) ? quota_keys[k].def : db_col_int64(st, 1);
		q->own = db_col_int64(st, 2);
		q->payer_id = db_col_int64(st, 3);
	}
	db_reset(st);
	return rc == DB_ROW ? 0 : rc == DB_DONE ? -EIO : rc;
}

int model_quota_check(struct model_conn *c, int64_t account_id, int64_t region_id, enum model_quota_key key,
                      int64_t adding, struct model_err *err)
{
	struct model_quota q;
	struct model_account payer = {0};
	int rc;
	if ((rc = quota_read(c, account_id, region_id, key, &q)) < 0)
		return model_fail(err, rc, "cannot read quota %s", quota_keys[key].name);
	if (q.used + adding <= q.limit)
		return 0;
	if (q.payer_id == account_id)
		return model_fail(err, -EDQUOT, "quota %s is %lld of %lld", quota_keys[key].name, (long long)q.used,
		                  (long long)q.limit);
	model_account_get(c->m, q.payer_id, &payer);
	return model_fail(err, -EDQUOT, "quota %s is %lld of %lld (main account %s's, its sub-accounts' included)",
	                  quota_keys[key].name, (long long)q.used, (long long)q.limit, payer.name);
}

int model_quota_list(model *m, int64_t account_id, int64_t region_id, struct model_quota out[MODEL_QUOTA_COUNT])
{
	struct model_conn *c;
	int rc, n = 0;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	for (int k = 1; k < MODEL_QUOTA_COUNT; k++) {
		if ((rc = quota_read(c, account_id, region_id, (enum model_quota_key)k, &out[n])) < 0)
			return rc;
		n++;
	}
	return n;
}

int model_quota_set(model *m, const char *account, const char *region, const char *key, int64_t value,
                    struct model_err *err)
{
	struct model_conn *c;
	struct model_account a;
	struct model_region r;
	enum model_quota_key k = model_quota_parse(key);
	db_stmt *st;
	int rc;
	if (k == MODEL_QUOTA_INVALID)
		return model_fail(err, -EINVAL, "unknown quota %s (private-images, snapshots, shared-images, "
		                  "shares-per-image, instances)", key);
	if (value < 0)
		return model_fail(err, -EINVAL, "a quota is a count >= 0");
	if (model_account_by_name(m, account, &a) < 0)
		return model_fail(err, -ENOENT, "no account %s", account);
	if (a.parent_id) {
		struct model_account main = {0};
		model_account_get(m, a.parent_id, &main);
		return model_fail(err, -EINVAL, "%s is a sub-account of %s: its quotas are %s's (quota set %s ...)",
		                  account, main.name, main.name, main.name);
	}
	if (model_region_by_name(m, region, &r) < 0)
		return model_fail(err, -ENOENT, "no region %s", region);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("INSERT INTO quotas(account_id, region_id, key, value) VALUES (?, ?, ?, ?) "
	                             "ON CONFLICT(account_id, region_id, key) DO UPDATE SET value = excluded.value")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, a.id);
	db_bind_int64(st, 2, r.id);
	db_bind_int(st, 3, k);
	db_bind_int64(st, 4, value);
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_QUOTA, a.id, r.id, MODEL_FOLDER_INVALID, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

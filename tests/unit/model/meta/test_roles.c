/*
 * test_roles.c — unit tests for model/meta/roles.c and the quotas of
 * families (SPEC §16, §8): administrators and sub-accounts made and
 * changed with their refusals, who administers whom (against a reference
 * rule over every pair), the tenants a listing gives (in pages), an
 * account with sub-accounts that cannot be removed, and the usage of
 * sub-accounts counted in their main account's quotas — kept by the
 * triggers on usage, moved when a parent changes, checked by fsck — on
 * both database drivers.
 */
#include "model/lifecycle_test.h"

static struct model_account role_of(struct ut_fx *fx, const char *name)
{
	struct model_account a;
	assert_int_equal(model_account_by_name(fx->m, name, &a), 0);
	return a;
}

static int64_t add_role(struct ut_fx *fx, const char *name, bool admin, const char *parent)
{
	struct model_err err = {0};
	int rc = model_account_create(fx->m, name, -1, admin, parent, &err);
	if (rc < 0)
		fail_msg("model_account_create %s: %d %s", name, rc, err.msg);
	return role_of(fx, name).id;
}

/* ---- uids (§8: a single-user state's account mapped for multiuser) --------- */

static void test_set_uid(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_account a;

	add_role(fx, "alice", false, NULL);
	add_role(fx, "bob", false, NULL);
	assert_int_equal(role_of(fx, "alice").uid, -1);
	assert_int_equal(model_account_by_uid(fx->m, 0, &a), -ENOENT);
	/* Mapped: the uid finds it (the largest uid too: a BIGINT, not int4). */
	assert_int_equal(model_account_set_uid(fx->m, "alice", 0, &err), 0);
	assert_int_equal(model_account_by_uid(fx->m, 0, &a), 0);
	assert_string_equal(a.name, "alice");
	assert_int_equal(model_account_set_uid(fx->m, "bob", 4294967294LL, &err), 0);
	assert_int_equal(role_of(fx, "bob").uid, 4294967294LL);
	/* Refusals, each with its reason, nothing changed. */
	assert_int_equal(model_account_set_uid(fx->m, "bob", 0, &err), -EEXIST);
	assert_string_equal(err.msg, "uid 0 is mapped to account alice");
	assert_int_equal(role_of(fx, "bob").uid, 4294967294LL);
	assert_int_equal(model_account_set_uid(fx->m, "nobody", 5, &err), -ENOENT);
	assert_int_equal(model_account_set_uid(fx->m, "bob", 4294967295LL, &err), -EINVAL);
	assert_int_equal(role_of(fx, "bob").uid, 4294967294LL);
	/* The same again is no change; "-" (-1) takes the uid away. */
	assert_int_equal(model_account_set_uid(fx->m, "alice", 0, &err), 0);
	assert_int_equal(model_account_set_uid(fx->m, "alice", -1, &err), 0);
	assert_int_equal(role_of(fx, "alice").uid, -1);
	assert_int_equal(model_account_by_uid(fx->m, 0, &a), -ENOENT);
	assert_int_equal(model_account_set_uid(fx->m, "bob", 0, &err), 0);
	assert_string_equal(model_account_by_uid(fx->m, 0, &a) == 0 ? a.name : "", "bob");
}

/* ---- roles ------------------------------------------------------------------- */

static void test_create_roles(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_account a;

	int64_t root = add_role(fx, "root-admin", true, NULL);
	int64_t acme = add_role(fx, "acme", false, NULL);
	int64_t dev = add_role(fx, "dev", false, "acme");
	a = role_of(fx, "root-admin");
	assert_true(a.admin);
	assert_int_equal(a.parent_id, 0);
	assert_false(a.has_subs);
	a = role_of(fx, "acme");
	assert_false(a.admin);
	assert_int_equal(a.parent_id, 0);
	assert_true(a.has_subs);
	assert_true(a.created > 0);
	a = role_of(fx, "dev");
	assert_int_equal(a.parent_id, acme);
	assert_false(a.has_subs);
	assert_int_equal(model_account_get(fx->m, dev, &a), 0);
	assert_int_equal(a.parent_id, acme);
	assert_true(root > 0);

	/* Refusals, each with its reason, nothing added. */
	assert_int_equal(model_account_create(fx->m, "x1", -1, false, "nobody", &err), -ENOENT);
	assert_string_equal(err.msg, "no account nobody");
	assert_int_equal(model_account_create(fx->m, "x1", -1, false, "root-admin", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "root-admin is an administrator"));
	assert_int_equal(model_account_create(fx->m, "x1", -1, false, "dev", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "dev is a sub-account of acme"));
	assert_non_null(strstr(err.msg, "one level"));
	assert_int_equal(model_account_create(fx->m, "x1", -1, true, "acme", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nobody's sub-account"));
	assert_int_equal(model_account_by_name(fx->m, "x1", &a), -ENOENT);
	/* A plain add is a main account. */
	assert_int_equal(model_account_add(fx->m, "plain", 5000, &err), 0);
	a = role_of(fx, "plain");
	assert_false(a.admin);
	assert_int_equal(a.parent_id, 0);
	assert_int_equal(model_account_by_uid(fx->m, 5000, &a), 0);
	assert_string_equal(a.name, "plain");
}

static void test_set_roles(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};

	add_role(fx, "boss", true, NULL);
	int64_t acme = add_role(fx, "acme", false, NULL);
	add_role(fx, "dev", false, "acme");
	add_role(fx, "ops", false, "acme");
	add_role(fx, "solo", false, NULL);

	/* admin yes|no, and back: an undo of each. */
	assert_int_equal(model_account_set_admin(fx->m, "solo", true, &err), 0);
	assert_true(role_of(fx, "solo").admin);
	assert_int_equal(model_account_set_admin(fx->m, "solo", true, &err), 0); /* already: nothing */
	assert_int_equal(model_account_set_admin(fx->m, "solo", false, &err), 0);
	assert_false(role_of(fx, "solo").admin);
	assert_int_equal(model_account_set_admin(fx->m, "nobody", true, &err), -ENOENT);
	assert_int_equal(model_account_set_admin(fx->m, "dev", true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "dev is a sub-account of acme"));
	assert_non_null(strstr(err.msg, "account set dev parent -"));
	assert_int_equal(model_account_set_admin(fx->m, "acme", true, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "dev, ops"));
	assert_false(role_of(fx, "acme").admin);

	/* parent MAIN|- */
	assert_int_equal(model_account_set_parent(fx->m, "solo", "acme", &err), 0);
	assert_int_equal(role_of(fx, "solo").parent_id, acme);
	assert_int_equal(model_account_set_parent(fx->m, "solo", "acme", &err), 0); /* already */
	assert_int_equal(model_account_set_parent(fx->m, "solo", "-", &err), 0);
	assert_int_equal(role_of(fx, "solo").parent_id, 0);
	assert_int_equal(model_account_set_parent(fx->m, "solo", NULL, &err), 0); /* a main account already */
	assert_int_equal(model_account_set_parent(fx->m, "solo", "solo", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "its own sub-account"));
	assert_int_equal(model_account_set_parent(fx->m, "solo", "nobody", &err), -ENOENT);
	assert_int_equal(model_account_set_parent(fx->m, "nobody", "acme", &err), -ENOENT);
	assert_int_equal(model_account_set_parent(fx->m, "boss", "acme", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "boss is an administrator"));
	assert_int_equal(model_account_set_parent(fx->m, "solo", "boss", &err), -EINVAL);
	assert_int_equal(model_account_set_parent(fx->m, "solo", "dev", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "one level"));
	assert_int_equal(model_account_set_parent(fx->m, "acme", "solo", &err), -EBUSY);
	assert_non_null(strstr(err.msg, "dev, ops"));
	assert_int_equal(role_of(fx, "acme").parent_id, 0);
	/* A sub-account moves from one main account to another directly. */
	assert_int_equal(model_account_set_parent(fx->m, "ops", "solo", &err), 0);
	assert_int_equal(role_of(fx, "ops").parent_id, role_of(fx, "solo").id);
	assert_true(role_of(fx, "solo").has_subs);
}

static void test_remove_with_subs(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_account a;
	char name[16];

	add_role(fx, "acme", false, NULL);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof name, "sub%02d", i);
		add_role(fx, name, false, "acme");
	}
	assert_int_equal(model_account_remove(fx->m, "acme", &err), -EBUSY);
	/* Named, at most a few of them (the reason stays one short line). */
	assert_non_null(strstr(err.msg, "has sub-accounts sub00, sub01"));
	assert_non_null(strstr(err.msg, "and more"));
	assert_null(strstr(err.msg, "sub11"));
	assert_int_equal(model_account_by_name(fx->m, "acme", &a), 0);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof name, "sub%02d", i);
		assert_int_equal(model_account_set_parent(fx->m, name, i % 2 ? "-" : NULL, &err), 0);
	}
	assert_false(role_of(fx, "acme").has_subs);
	assert_int_equal(model_account_remove(fx->m, "acme", &err), 0);
	/* A sub-account that owns nothing goes like any account. */
	add_role(fx, "acme2", false, NULL);
	add_role(fx, "dev", false, "acme2");
	assert_int_equal(model_account_remove(fx->m, "dev", &err), 0);
	assert_false(role_of(fx, "acme2").has_subs);
}

/* Who sees whom, against the rule written out: an administrator sees every
 * account that is not one, a main account its own sub-accounts, nobody
 * itself. */
static void test_administers(void **state)
{
	struct ut_fx *fx = *state;
	static const char *const names[] = {"adm1", "adm2", "m1", "m2", "s1a", "s1b", "s2a"};
	enum { N = 7 };
	struct model_account a[N];

	add_role(fx, "adm1", true, NULL);
	add_role(fx, "adm2", true, NULL);
	add_role(fx, "m1", false, NULL);
	add_role(fx, "m2", false, NULL);
	add_role(fx, "s1a", false, "m1");
	add_role(fx, "s1b", false, "m1");
	add_role(fx, "s2a", false, "m2");
	for (int i = 0; i < N; i++)
		a[i] = role_of(fx, names[i]);
	for (int i = 0; i < N; i++) {
		for (int j = 0; j < N; j++) {
			bool want = i != j && !a[j].admin && (a[i].admin || a[j].parent_id == a[i].id);
			if (model_account_administers(&a[i], &a[j]) != want)
				fail_msg("%s administers %s: expected %d", names[i], names[j], want);
		}
		bool tenants = a[i].admin || (names[i][0] == 'm');
		assert_int_equal(model_account_has_tenants(&a[i]), tenants);
	}
	/* No account: nobody's administrator, nobody's tenant. */
	struct model_account none = {0};
	assert_false(model_account_administers(&none, &a[2]));
	assert_false(model_account_administers(&a[0], &none));
	assert_false(model_account_has_tenants(&none));
}

struct names {
	int n;
	char list[4096];
};

static int collect(void *arg, const struct model_account *a)
{
	struct names *l = arg;
	size_t len = strlen(l->list);
	snprintf(l->list + len, sizeof l->list - len, "%s%s", l->n++ ? " " : "", a->name);
	return 0;
}

static struct names tenants_of(struct ut_fx *fx, const char *actor, int64_t after)
{
	struct names l = {0};
	struct model_account a = role_of(fx, actor);
	assert_int_equal(model_account_tenants(fx->m, &a, after, collect, &l), 0);
	return l;
}

static void test_tenants_list(void **state)
{
	struct ut_fx *fx = *state;
	char name[16];

	add_role(fx, "adm", true, NULL);
	add_role(fx, "adm2", true, NULL);
	add_role(fx, "acme", false, NULL);
	int64_t dev = add_role(fx, "dev", false, "acme");
	add_role(fx, "solo", false, NULL);
	assert_string_equal(tenants_of(fx, "adm", 0).list, "acme dev solo");
	assert_string_equal(tenants_of(fx, "acme", 0).list, "dev");
	assert_int_equal(tenants_of(fx, "dev", 0).n, 0);
	assert_int_equal(tenants_of(fx, "solo", 0).n, 0);
	assert_string_equal(tenants_of(fx, "adm", dev).list, "solo"); /* after an id: where a listing goes on */

	/* More than a page (64) of sub-accounts: every one, once, in order. */
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof name, "t%03d", i);
		add_role(fx, name, false, "solo");
	}
	struct names l = tenants_of(fx, "solo", 0);
	assert_int_equal(l.n, 150);
	assert_non_null(strstr(l.list, "t000 t001"));
	assert_non_null(strstr(l.list, "t148 t149"));
	assert_int_equal(tenants_of(fx, "adm", 0).n, 153);
	/* The refusal's list: its first ones only. */
	char subs[192];
	model_account_subs_named(fx->m, role_of(fx, "solo").id, subs, sizeof subs);
	assert_string_equal(subs, "t000, t001, t002, t003, t004, t005, t006, t007 and more");
}

static void test_accounts_mtime(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t t0 = model_accounts_mtime(fx->m), t;

	add_role(fx, "acme", false, NULL);
	assert_true((t = model_accounts_mtime(fx->m)) > t0);
	assert_true(lt_changes(fx, MODEL_CHANGE_ACCOUNT, role_of(fx, "acme").id) >= 1);
	add_role(fx, "dev", false, NULL);
	t0 = model_accounts_mtime(fx->m);
	assert_int_equal(model_account_set_parent(fx->m, "dev", "acme", &err), 0);
	assert_true((t = model_accounts_mtime(fx->m)) > t0);
	assert_int_equal(model_account_set_admin(fx->m, "acme", false, &err), 0); /* nothing changed: no time */
	assert_int_equal(model_accounts_mtime(fx->m), t);
	assert_int_equal(model_account_set_admin(fx->m, "dev", true, &err), -EINVAL); /* refused: no time */
	assert_int_equal(model_accounts_mtime(fx->m), t);
	assert_int_equal(model_account_set_parent(fx->m, "dev", "-", &err), 0);
	assert_int_equal(model_account_remove(fx->m, "dev", &err), 0);
	assert_true(model_accounts_mtime(fx->m) > t);
}

/* ---- quotas of a family -------------------------------------------------------- */

static struct model_quota quota(struct ut_fx *fx, int64_t account, enum model_quota_key k)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	int n = model_quota_list(fx->m, account, fx->r1, q);
	for (int i = 0; i < n; i++)
		if (q[i].key == k)
			return q[i];
	fail_msg("no quota %d", (int)k);
	return q[0];
}

/* usage_totals as every account's usage adds up (what fsck checks). */
static void assert_totals_consistent(struct ut_fx *fx)
{
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM (SELECT account_id, region_id, key, sum(n) AS d FROM "
	                                "(SELECT account_id, region_id, key, used AS n FROM usage_totals UNION ALL "
	                                "SELECT COALESCE(NULLIF(a.parent_id, 0), u.account_id), u.region_id, u.key, "
	                                "-u.used FROM usage u LEFT JOIN accounts a ON a.id = u.account_id) AS p "
	                                "GROUP BY account_id, region_id, key) AS s WHERE d != 0"),
	                 0);
}

static void test_family_private_images(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	struct model_quota q;

	int64_t acme = add_role(fx, "acme", false, NULL);
	int64_t dev = add_role(fx, "dev", false, "acme");
	int64_t other = add_role(fx, "other", false, NULL);
	assert_int_equal(model_quota_set(fx->m, "acme", ut_region_names[0], "private-images", 3, &err), 0);
	ut_image(fx, fx->r1, acme, MODEL_FOLDER_PRIVATE, "a1");
	ut_image(fx, fx->r1, dev, MODEL_FOLDER_PRIVATE, "d1");
	int64_t d2 = ut_image(fx, fx->r1, dev, MODEL_FOLDER_PRIVATE, "d2");
	/* The family's total reached acme's limit: each of them is refused,
	 * the sub-account with the main account named. */
	assert_int_equal(model_image_create(fx->m, fx->r1, dev, MODEL_FOLDER_PRIVATE, "d3", &img, &err), -EDQUOT);
	assert_string_equal(err.msg, "quota private-images is 3 of 3 (main account acme's, its sub-accounts' included)");
	assert_int_equal(model_image_create(fx->m, fx->r1, acme, MODEL_FOLDER_PRIVATE, "a2", &img, &err), -EDQUOT);
	assert_string_equal(err.msg, "quota private-images is 3 of 3");
	/* iso/ has no quota; another account is not in the family. */
	ut_image(fx, fx->r1, dev, MODEL_FOLDER_ISO, "iso1");
	ut_image(fx, fx->r1, other, MODEL_FOLDER_PRIVATE, "o1");
	/* Another region has its own count. */
	ut_image(fx, fx->region[1].id, dev, MODEL_FOLDER_PRIVATE, "d3");

	q = quota(fx, dev, MODEL_QUOTA_PRIVATE_IMAGES);
	assert_int_equal(q.used, 3);
	assert_int_equal(q.limit, 3);
	assert_int_equal(q.own, 2);
	assert_int_equal(q.payer_id, acme);
	q = quota(fx, acme, MODEL_QUOTA_PRIVATE_IMAGES);
	assert_int_equal(q.used, 3);
	assert_int_equal(q.own, 1);
	assert_int_equal(q.payer_id, acme);
	assert_int_equal(quota(fx, other, MODEL_QUOTA_PRIVATE_IMAGES).used, 1);
	/* A sub-account's quotas are its main account's: not set on it. */
	assert_int_equal(model_quota_set(fx->m, "dev", ut_region_names[0], "private-images", 9, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "its quotas are acme's"));

	/* A delete frees a place for the whole family; a restore takes it again,
	 * refused when the family is full. */
	lt_available(fx, d2, MODEL_TYPE_LOCAL);
	assert_int_equal(model_image_remove(fx->m, d2, &err), 0);
	assert_int_equal(quota(fx, acme, MODEL_QUOTA_PRIVATE_IMAGES).used, 2);
	ut_image(fx, fx->r1, acme, MODEL_FOLDER_PRIVATE, "a2");
	assert_int_equal(model_image_restore(fx->m, d2, MODEL_FOLDER_PRIVATE, "d2", &err), -EDQUOT);
	assert_non_null(strstr(err.msg, "main account acme's"));
	assert_totals_consistent(fx);

	/* dev leaves: its images leave acme's total, its own limits apply. */
	assert_int_equal(model_account_set_parent(fx->m, "dev", "-", &err), 0);
	assert_int_equal(quota(fx, acme, MODEL_QUOTA_PRIVATE_IMAGES).used, 2);
	q = quota(fx, dev, MODEL_QUOTA_PRIVATE_IMAGES);
	assert_int_equal(q.used, 1);
	assert_int_equal(q.limit, 5);
	assert_int_equal(q.payer_id, dev);
	assert_int_equal(model_image_restore(fx->m, d2, MODEL_FOLDER_PRIVATE, "d2", &err), 0);
	assert_totals_consistent(fx);
	/* ... and comes back: acme is above its limit (allowed, nothing more
	 * is made until it is under). */
	assert_int_equal(model_account_set_parent(fx->m, "dev", "acme", &err), 0);
	q = quota(fx, acme, MODEL_QUOTA_PRIVATE_IMAGES);
	assert_int_equal(q.used, 4);
	assert_int_equal(q.limit, 3);
	assert_int_equal(model_image_create(fx->m, fx->r1, dev, MODEL_FOLDER_PRIVATE, "d4", &img, &err), -EDQUOT);
	assert_int_equal(quota(fx, dev, MODEL_QUOTA_PRIVATE_IMAGES).own, 2);
	assert_totals_consistent(fx);
	/* Moved to another main account: counted there, not at acme. */
	assert_int_equal(model_account_set_parent(fx->m, "dev", "other", &err), 0);
	assert_int_equal(quota(fx, acme, MODEL_QUOTA_PRIVATE_IMAGES).used, 2);
	assert_int_equal(quota(fx, other, MODEL_QUOTA_PRIVATE_IMAGES).used, 3);
	assert_int_equal(quota(fx, dev, MODEL_QUOTA_PRIVATE_IMAGES).used, 3);
	assert_totals_consistent(fx);
}

/* Snapshots and received shares are a family's too; shares-per-image is per
 * image, under the main account's limit. */
static void test_family_snapshots_and_shares(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char ext[16];

	int64_t acme = add_role(fx, "acme", false, NULL);
	int64_t dev = add_role(fx, "dev", false, "acme");
	int64_t alice = add_role(fx, "alice", false, NULL);
	int64_t blob = lt_tagged_blob(fx, fx->r1, "s", LT_MiB);
	for (int i = 0; i < 3; i++) {
		snprintf(ext, sizeof ext, "snap-0000000%d", i);
		lt_snapshot(fx, fx->r1, i ? dev : acme, ext, blob, MODEL_SNAP_AVAILABLE);
	}
	assert_int_equal(quota(fx, acme, MODEL_QUOTA_SNAPSHOTS).used, 3);
	assert_int_equal(quota(fx, dev, MODEL_QUOTA_SNAPSHOTS).used, 3);
	assert_int_equal(quota(fx, dev, MODEL_QUOTA_SNAPSHOTS).own, 2);
	assert_int_equal(model_quota_set(fx->m, "acme", ut_region_names[0], "snapshots", 3, &err), 0);
	struct model_conn *c;
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	assert_int_equal(model_quota_check(c, dev, fx->r1, MODEL_QUOTA_SNAPSHOTS, 1, &err), -EDQUOT);
	assert_int_equal(model_quota_check(c, dev, fx->r1, MODEL_QUOTA_SNAPSHOTS, 0, &err), 0);
	model_write_end(c, -ECANCELED, NULL);

	/* alice shares with acme and dev: two of acme's shared-images. */
	int64_t a1 = lt_local_image(fx, fx->r1, alice, "a1", LT_MiB);
	int64_t a2 = lt_local_image(fx, fx->r1, alice, "a2", LT_MiB);
	assert_int_equal(model_share_add(fx->m, a1, "acme", &err), 0);
	assert_int_equal(model_share_add(fx->m, a1, "dev", &err), 0);
	assert_int_equal(quota(fx, acme, MODEL_QUOTA_SHARED_IMAGES).used, 2);
	assert_int_equal(quota(fx, dev, MODEL_QUOTA_SHARED_IMAGES).own, 1);
	assert_int_equal(model_quota_set(fx->m, "acme", ut_region_names[0], "shared-images", 2, &err), 0);
	assert_int_equal(model_share_add(fx->m, a2, "dev", &err), -EDQUOT);
	assert_non_null(strstr(err.msg, "dev cannot receive more shared images here"));
	assert_non_null(strstr(err.msg, "main account acme's"));
	assert_int_equal(model_share_remove(fx->m, a1, "acme", &err), 0);
	assert_int_equal(model_share_add(fx->m, a2, "dev", &err), 0);
	assert_int_equal(quota(fx, acme, MODEL_QUOTA_SHARED_IMAGES).used, 2);

	/* shares-per-image: dev's image under acme's limit, counted per image. */
	int64_t d1 = lt_local_image(fx, fx->r1, dev, "d1", LT_MiB);
	assert_int_equal(model_quota_set(fx->m, "acme", ut_region_names[0], "shares-per-image", 1, &err), 0);
	assert_int_equal(model_share_add(fx->m, d1, "alice", &err), 0);
	assert_int_equal(quota(fx, dev, MODEL_QUOTA_SHARES_PER_IMAGE).used, 1);
	assert_int_equal(quota(fx, dev, MODEL_QUOTA_SHARES_PER_IMAGE).limit, 1);
	assert_int_equal(model_share_add(fx->m, d1, "acme", &err), -EDQUOT);
	assert_totals_consistent(fx);
	/* Destroying dev's things gives the family its places back. */
	assert_int_equal(model_share_remove(fx->m, a2, "dev", &err), 0);
	assert_int_equal(quota(fx, acme, MODEL_QUOTA_SHARED_IMAGES).used, 1);
	assert_totals_consistent(fx);
}

static void count_line(void *arg, const char *line)
{
	(void)line;
	++*(int *)arg;
}

static int fsck(struct ut_fx *fx, bool repair)
{
	int lines = 0;
	int n = model_fsck(fx->m, repair, count_line, &lines);
	assert_int_equal(n, lines);
	return n;
}

/* fsck finds a family's total that differs from its rows and repairs it. */
static void test_fsck_totals(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acme = add_role(fx, "acme", false, NULL);
	int64_t dev = add_role(fx, "dev", false, "acme");
	ut_image(fx, fx->r1, dev, MODEL_FOLDER_PRIVATE, "d1");
	ut_image(fx, fx->r1, acme, MODEL_FOLDER_PRIVATE, "a1");
	assert_int_equal(fsck(fx, false), 0);
	ut_sql(fx, "UPDATE usage_totals SET used = 7 WHERE account_id = %lld AND key = 1", (long long)acme);
	assert_int_equal(quota(fx, dev, MODEL_QUOTA_PRIVATE_IMAGES).used, 7);
	assert_int_equal(fsck(fx, false), 1);
	assert_int_equal(fsck(fx, true), 1);
	assert_int_equal(fsck(fx, false), 0);
	assert_int_equal(quota(fx, dev, MODEL_QUOTA_PRIVATE_IMAGES).used, 2);
	assert_totals_consistent(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_uid, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_create_roles, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_set_roles, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove_with_subs, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_administers, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_tenants_list, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_accounts_mtime, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_family_private_images, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_family_snapshots_and_shares, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_totals, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

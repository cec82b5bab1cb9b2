/*
 * test_account.c — unit tests for model/meta/account.c: accounts and their uid
 * mapping (SPEC §8, §1 admin), regions and the catalogue every new region
 * gets (§1, §3), and opening a state directory.
 */
#include "test_util.h"

/* ---- accounts ------------------------------------------------------------------ */

#define MAX_ACCOUNTS 16

struct accounts {
	int n;
	struct model_account a[MAX_ACCOUNTS];
};

static int collect_account(void *arg, const struct model_account *a)
{
	struct accounts *l = arg;

	assert_true(l->n < MAX_ACCOUNTS);
	l->a[l->n++] = *a;
	return 0;
}

static struct accounts list_accounts(struct ut_fx *fx)
{
	struct accounts l = {0};

	assert_int_equal(model_account_list(fx->m, collect_account, &l), 0);
	return l;
}

static void test_account_add(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_account a, b;

	assert_int_equal(list_accounts(fx).n, 0); /* a fresh state has none */
	assert_int_equal(model_account_add(fx->m, "alice", -1, &err), 0);
	assert_int_equal(model_account_by_name(fx->m, "alice", &a), 0);
	assert_string_equal(a.name, "alice");
	assert_true(a.id > 0);
	assert_int_equal(a.uid, -1);
	assert_int_equal(model_account_get(fx->m, a.id, &b), 0);
	assert_int_equal(b.id, a.id);
	assert_string_equal(b.name, "alice");

	/* The name is taken. */
	assert_int_equal(model_account_add(fx->m, "alice", -1, &err), -EEXIST);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(model_account_add(fx->m, "alice", 4242, NULL), -EEXIST);
	assert_int_equal(model_account_by_uid(fx->m, 4242, &b), -ENOENT);
	assert_int_equal(list_accounts(fx).n, 1);
	/* Names are byte-exact: another case is another account. */
	assert_int_equal(model_account_add(fx->m, "Alice", -1, &err), 0);
	assert_int_equal(model_account_add(fx->m, "аlice", -1, &err), 0); /* Cyrillic a */
	assert_int_equal(list_accounts(fx).n, 3);

	assert_int_equal(model_account_by_name(fx->m, "nobody", &b), -ENOENT);
	assert_int_equal(model_account_get(fx->m, 987654, &b), -ENOENT);
	assert_int_equal(model_account_get(fx->m, 0, &b), -ENOENT); /* 0 is the platform, not an account */
}

static void test_account_uid(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_account a;

	assert_int_equal(model_account_add(fx->m, "bob", 1000, &err), 0);
	assert_int_equal(model_account_add(fx->m, "root-user", 0, &err), 0); /* uid 0 is a uid */
	assert_int_equal(model_account_by_uid(fx->m, 1000, &a), 0);
	assert_string_equal(a.name, "bob");
	assert_int_equal(a.uid, 1000);
	assert_int_equal(model_account_by_uid(fx->m, 0, &a), 0);
	assert_string_equal(a.name, "root-user");
	assert_int_equal(model_account_by_uid(fx->m, 999, &a), -ENOENT);
	assert_int_equal(model_account_by_uid(fx->m, -1, &a), -ENOENT); /* "no uid" maps nobody */

	/* One uid maps one account. */
	assert_int_equal(model_account_add(fx->m, "carol", 1000, &err), -EEXIST);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(model_account_by_name(fx->m, "carol", &a), -ENOENT);
	assert_int_equal(model_account_by_uid(fx->m, 1000, &a), 0);
	assert_string_equal(a.name, "bob");
	/* Any number of accounts have no uid. */
	assert_int_equal(model_account_add(fx->m, "dave", -1, &err), 0);
	assert_int_equal(model_account_add(fx->m, "erin", -1, &err), 0);
	assert_int_equal(model_account_add(fx->m, "carol", 1001, &err), 0);
	assert_int_equal(model_account_by_uid(fx->m, 1001, &a), 0);
	assert_string_equal(a.name, "carol");
	/* (uid_t)-1 is no process's uid; nothing above it is a uid at all. */
	assert_int_equal(model_account_add(fx->m, "frank", 4294967295LL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "4294967295"));
	assert_int_equal(model_account_add(fx->m, "frank", 99999999999LL, &err), -EINVAL);
	assert_int_equal(model_account_add(fx->m, "frank", -2, &err), -EINVAL);
	assert_int_equal(model_account_by_name(fx->m, "frank", &a), -ENOENT);
	assert_int_equal(model_account_add(fx->m, "frank", 4294967294LL, &err), 0);
}

static void test_account_ensure(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_account a, b;

	assert_int_equal(model_account_ensure(fx->m, "frank", &a, &err), 0);
	assert_string_equal(a.name, "frank");
	assert_true(a.id > 0);
	assert_int_equal(list_accounts(fx).n, 1);
	assert_int_equal(model_account_ensure(fx->m, "frank", &b, &err), 0);
	assert_int_equal(b.id, a.id);
	assert_int_equal(list_accounts(fx).n, 1);
	/* An account that was added explicitly is found, not duplicated. */
	assert_int_equal(model_account_add(fx->m, "grace", 77, &err), 0);
	assert_int_equal(model_account_ensure(fx->m, "grace", &b, &err), 0);
	assert_int_equal(b.uid, 77);
	assert_int_equal(list_accounts(fx).n, 2);
	/* A bad name is refused, not created. */
	assert_int_equal(model_account_ensure(fx->m, "bad name", &b, &err), -EINVAL);
	assert_int_equal(list_accounts(fx).n, 2);
}

static void test_account_list(void **state)
{
	struct ut_fx *fx = *state;
	static const char *const names[] = {"zed", "amy", "mike", "ann"};
	static const int64_t uids[] = {-1, 500, -1, 501};
	struct accounts l;

	for (int i = 0; i < 4; i++)
		assert_int_equal(model_account_add(fx->m, names[i], uids[i], NULL), 0);
	l = list_accounts(fx);
	assert_int_equal(l.n, 4);
	for (int i = 0; i < 4; i++) {
		/* In id order, which is creation order. */
		assert_string_equal(l.a[i].name, names[i]);
		assert_int_equal(l.a[i].uid, uids[i]);
		if (i)
			assert_true(l.a[i].id > l.a[i - 1].id);
	}
}

/* ---- regions ------------------------------------------------------------------- */

#define MAX_REGIONS 8

struct regions {
	int n;
	struct model_region r[MAX_REGIONS];
};

static int collect_region(void *arg, const struct model_region *r)
{
	struct regions *l = arg;

	assert_true(l->n < MAX_REGIONS);
	l->r[l->n++] = *r;
	return 0;
}

/* account remove: refused (EBUSY, nothing changed) while the account owns
 * an image in any folder, a snapshot or an instance, or receives a share;
 * then it goes with its quota rows, and a new account of that name starts
 * from the defaults under a new id. */
static void test_account_remove(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_quota q[MODEL_QUOTA_COUNT];
	struct model_account a;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");

	assert_int_equal(model_account_remove(fx->m, "nobody", &err), -ENOENT);
	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "snapshots", 21, &err), 0);
	int64_t img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "disk1");
	assert_int_equal(model_account_remove(fx->m, "alice", &err), -EBUSY);
	assert_non_null(strstr(err.msg, "1 images"));
	assert_int_equal(model_account_by_name(fx->m, "alice", &a), 0);
	assert_int_equal(model_quota_list(fx->m, alice, fx->r1, q), MODEL_QUOTA_COUNT - 1);
	assert_int_equal(q[MODEL_QUOTA_SNAPSHOTS - 1].limit, 21);
	/* In the recycle bin it is still hers. */
	ut_force_recycle(fx, img, time(NULL));
	assert_int_equal(model_account_remove(fx->m, "alice", &err), -EBUSY);
	ut_sql(fx, "DELETE FROM images WHERE id = %lld", (long long)img);
	/* A share she receives (of bob's image). */
	int64_t bobs = ut_image(fx, fx->r1, bob, MODEL_FOLDER_PRIVATE, "disk2");
	ut_force_share(fx, bobs, alice);
	memset(&err, 0, sizeof(err));
	assert_int_equal(model_account_remove(fx->m, "alice", &err), -EBUSY);
	assert_non_null(strstr(err.msg, "receives 1 shares"));
	ut_sql(fx, "DELETE FROM shares WHERE account_id = %lld", (long long)alice);

	assert_int_equal(model_account_remove(fx->m, "alice", &err), 0);
	assert_int_equal(model_account_by_name(fx->m, "alice", &a), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM quotas WHERE account_id = %lld", (long long)alice), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM usage WHERE account_id = %lld", (long long)alice), 0);
	assert_int_equal(list_accounts(fx).n, 1);
	int64_t again = ut_account(fx, "alice");
	assert_true(again > bob);
	assert_int_equal(model_quota_list(fx->m, again, fx->r1, q), MODEL_QUOTA_COUNT - 1);
	assert_int_equal(q[MODEL_QUOTA_SNAPSHOTS - 1].limit, 15);
	/* bob owns an image: refused. */
	assert_int_equal(model_account_remove(fx->m, "bob", &err), -EBUSY);
}

static void test_default_regions(void **state)
{
	struct ut_fx *fx = *state;
	struct regions l = {0}, rest = {0};
	struct model_region r;

	/* §1: a new state has exactly the three default regions. */
	assert_int_equal(model_region_list(fx->m, 0, collect_region, &l), 0);
	assert_int_equal(l.n, UT_REGIONS);
	for (int i = 0; i < UT_REGIONS; i++) {
		assert_string_equal(l.r[i].name, ut_region_names[i]);
		assert_true(l.r[i].id > 0);
		if (i)
			assert_true(l.r[i].id > l.r[i - 1].id);
		assert_true(l.r[i].created_ns > 0);
		assert_true(model_region_mtime(fx->m, l.r[i].id) > 0);
		assert_int_equal(model_region_by_name(fx->m, ut_region_names[i], &r), 0);
		assert_int_equal(r.id, l.r[i].id);
		assert_int_equal(model_region_get(fx->m, l.r[i].id, &r), 0);
		assert_string_equal(r.name, ut_region_names[i]);
	}
	assert_int_equal(model_region_list(fx->m, l.r[0].id, collect_region, &rest), 0);
	assert_int_equal(rest.n, UT_REGIONS - 1);
	assert_int_equal(rest.r[0].id, l.r[1].id);
	assert_int_equal(model_region_by_name(fx->m, "cn-west-9", &r), -ENOENT);
	assert_int_equal(model_region_get(fx->m, 987654, &r), -ENOENT);
	assert_int_equal(model_region_get(fx->m, 0, &r), -ENOENT);
}

struct names {
	int n;
	char name[32][MODEL_NAME_MAX + 1];
	int64_t account;
	int bad_status;
};

static int collect_name(void *arg, const struct model_image *img)
{
	struct names *l = arg;

	assert_true(l->n < 32);
	snprintf(l->name[l->n++], sizeof l->name[0], "%s", img->name);
	if (img->status != MODEL_IMG_AVAILABLE || img->account_id != 0)
		l->bad_status++;
	return 0;
}

/* The catalogue of a region: exactly §3's 14 public names and 2 marketplace images. */
static void check_catalogue(struct ut_fx *fx, int64_t region_id)
{
	struct names pub = {0}, mk = {0};

	assert_int_equal(model_image_list(fx->m, region_id, 0, MODEL_FOLDER_PUBLIC, 0, collect_name, &pub), 0);
	assert_int_equal(pub.n, UT_PUBLIC_COUNT);
	for (int i = 0; i < UT_PUBLIC_COUNT; i++) {
		int found = 0;
		for (int j = 0; j < pub.n; j++)
			found += strcmp(pub.name[j], ut_public_names[i]) == 0;
		if (found != 1)
			fail_msg("region %lld: public/%s appears %d times", (long long)region_id, ut_public_names[i], found);
	}
	assert_int_equal(pub.bad_status, 0);
	assert_int_equal(model_image_list(fx->m, region_id, 0, MODEL_FOLDER_MARKETPLACE, 0, collect_name, &mk), 0);
	assert_int_equal(mk.n, UT_MARKETPLACE_COUNT);
	assert_string_not_equal(mk.name[0], mk.name[1]);
	assert_int_equal(mk.bad_status, 0);
}

static void test_default_catalogue(void **state)
{
	struct ut_fx *fx = *state;

	for (int i = 0; i < UT_REGIONS; i++)
		check_catalogue(fx, fx->region[i].id);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images"),
	                 UT_REGIONS * (UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT));
}

static void test_region_add(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_region r;
	struct regions l = {0};
	struct stat st;
	char path[256];

	assert_int_equal(model_region_add(fx->m, "eu-west-1", &err), 0);
	assert_int_equal(model_region_by_name(fx->m, "eu-west-1", &r), 0);
	assert_true(r.id > fx->region[UT_REGIONS - 1].id);
	check_catalogue(fx, r.id);
	/* Its blob store lives in the state directory (§1). */
	snprintf(path, sizeof path, "%s/regions/eu-west-1", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(model_region_list(fx->m, 0, collect_region, &l), 0);
	assert_int_equal(l.n, UT_REGIONS + 1);
	assert_string_equal(l.r[UT_REGIONS].name, "eu-west-1");

	/* Duplicates and bad names create nothing. */
	int64_t images = ut_sql_int(fx, "SELECT count(*) FROM images");
	assert_int_equal(model_region_add(fx->m, "eu-west-1", &err), -EEXIST);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(model_region_add(fx->m, "cn-north-1", &err), -EEXIST);
	assert_int_equal(model_region_add(fx->m, "", &err), -EINVAL);
	assert_int_equal(model_region_add(fx->m, "../escape", &err), -EINVAL);
	assert_int_equal(model_region_add(fx->m, "a/b", &err), -EINVAL);
	assert_int_equal(model_region_add(fx->m, ".hidden", &err), -EINVAL);
	assert_int_equal(model_region_add(fx->m, "us east", &err), -EINVAL);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images"), images);
	l.n = 0;
	assert_int_equal(model_region_list(fx->m, 0, collect_region, &l), 0);
	assert_int_equal(l.n, UT_REGIONS + 1);
	snprintf(path, sizeof path, "%s/escape", fx->dir);
	assert_int_equal(stat(path, &st), -1);
}

/* A region is read from the database once per model: nothing in its row
 * but its mtime ever changes (a request resolves its region on every call:
 * a statement each, a round trip for PostgreSQL).  A region another process
 * adds is found all the same, and the mtime is always the database's. */
static void test_region_read_once(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_region r;
	model *other = NULL;

	assert_int_equal(model_region_get(fx->m, fx->r1, &r), 0);
	int64_t before = model_statements(fx->m);
	assert_int_equal(model_region_get(fx->m, fx->r1, &r), 0);
	assert_int_equal(r.id, fx->r1);
	assert_string_equal(r.name, "cn-north-1");
	assert_int_equal(model_region_by_name(fx->m, "cn-north-1", &r), 0);
	assert_int_equal(r.id, fx->r1);
	assert_int_equal(model_statements(fx->m), before);
	assert_int_equal(model_region_get(fx->m, 999999, &r), -ENOENT);

	/* Another mount of the same service adds a region and an image. */
	assert_int_equal(ut_open(&other, fx->dir, fx->pgdb, &err), 0);
	int64_t t0 = model_region_mtime(fx->m, fx->r1);
	assert_int_equal(model_region_add(other, "eu-west-1", &err), 0);
	assert_int_equal(model_region_by_name(fx->m, "eu-west-1", &r), 0);
	struct model_region again;
	assert_int_equal(model_region_get(fx->m, r.id, &again), 0);
	assert_string_equal(again.name, "eu-west-1");
	int64_t acct = ut_account(fx, "alice");
	assert_int_equal(model_image_create(other, fx->r1, acct, MODEL_FOLDER_PRIVATE, "seen", NULL, &err), 0);
	assert_true(model_region_mtime(fx->m, fx->r1) > t0);
	model_close(other);
}

/* ---- opening ---------------------------------------------------------------------- */

static void test_open(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char dir[64] = "/tmp/imgfs-ut-open-XXXXXX", path[128];
	model *m = NULL;

	assert_non_null(mkdtemp(dir));
	/* Without MODEL_OPEN_CREATE, a directory without state is refused. */
	assert_true(model_open(&m, dir, 0, &err) < 0);
	assert_null(m);
	assert_true(err.msg[0] != '\0');
	snprintf(path, sizeof path, "%s/imgfs.db", dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof path, "%s/missing", dir);
	assert_true(model_open(&m, path, 0, &err) < 0);
	assert_int_equal(access(path, F_OK), -1);
	/* A regular file is not a state directory. */
	snprintf(path, sizeof path, "%s/file", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_true(model_open(&m, path, MODEL_OPEN_CREATE, &err) < 0);
	ut_rm_rf(dir);

	/* A second handle on an existing state sees the same things, and
	 * opening with MODEL_OPEN_CREATE again adds nothing. */
	ut_account(fx, "alice");
	assert_int_equal(ut_open(&m, fx->dir, fx->pgdb, &err), 0);
	struct model_account a;
	assert_int_equal(model_account_by_name(m, "alice", &a), 0);
	struct regions l = {0};
	assert_int_equal(model_region_list(m, 0, collect_region, &l), 0);
	assert_int_equal(l.n, UT_REGIONS);
	assert_string_equal(model_state_dir(m), fx->dir);
	model_close(m);
	model_close(NULL);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images"),
	                 UT_REGIONS * (UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT));
}

/* An empty imgfs.db is not a state to open or to create on (issue 23): a
 * command used to take it for a new database and fill it silently.
 * model_state_probe tells the cases apart, touching nothing. */
static void test_open_empty_db(void **state)
{
	(void)state;
	struct model_err err = {0};
	char dir[64] = "/tmp/imgfs-ut-empty-XXXXXX", path[128], regions[128], want[512];
	struct stat st;
	model *m = NULL;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(model_state_probe(dir, &err), -ENOENT);
	snprintf(want, sizeof want, "no imgfs state at %s (create one with imgfs admin init %s or by mounting)", dir, dir);
	assert_string_equal(err.msg, want);
	snprintf(path, sizeof path, "%s/imgfs.db", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(want, sizeof want,
	         "%s is empty: not an imgfs state (remove it, then create one with imgfs admin init %s or by mounting)",
	         path, dir);
	assert_int_equal(model_state_probe(dir, &err), -EINVAL);
	assert_string_equal(err.msg, want);
	for (int create = 0; create < 2; create++) {
		memset(&err, 0, sizeof err);
		assert_int_equal(model_open(&m, dir, create ? MODEL_OPEN_CREATE : 0, &err), -EINVAL);
		assert_null(m);
		assert_string_equal(err.msg, want);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, 0); /* untouched */
		snprintf(regions, sizeof regions, "%s/regions", dir);
		assert_int_equal(access(regions, F_OK), -1); /* nothing made beside it */
	}
	/* Removed, the directory takes a new state; then the probe says yes. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(model_open(&m, dir, MODEL_OPEN_CREATE, &err), 0);
	model_close(m);
	assert_int_equal(model_state_probe(dir, &err), 0);
	ut_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_account_add, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_account_uid, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_account_ensure, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_account_list, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_account_remove, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_default_regions, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_default_catalogue, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_region_add, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_region_read_once, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_open, ut_setup, ut_teardown),
		cmocka_unit_test(test_open_empty_db),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

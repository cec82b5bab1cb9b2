/*
 * test_writers.c — every write transaction of model/ ends through
 * model_write_end (db.c), so a commit that fails is told the same way
 * everywhere: SQLite's I/O-error test at this house's scale.
 *
 * A test driver sits between the model and the real one (SQLite, or
 * PostgreSQL in the _pg run) on the test thread's connection: the real
 * driver but for commit, which fails with -EIO (and rolls back) at the
 * n-th commit from the moment it is armed.  Then:
 *   - a table of writers, at least one of each file of model/ that has a
 *     public one: each, with its commit failing, returns -EIO with a
 *     reason "database: ..." and leaves every table as it was (a digest
 *     of every row of every table, before and after); then, the driver
 *     disarmed, the same call succeeds (nothing the failure left in the
 *     way, and the setup was right: the -EIO was the commit's);
 *   - the task engine's own transactions (task.c, rows.c, checksum.c and
 *     the kinds': copy.c, destroy.c), which have no caller to tell: a
 *     clean run of the tasks counts its commits, then for each k one run
 *     with the k-th failing, and the tasks run on to the clean run's end.
 *
 * What is not here: state.c's one writer (the PostgreSQL service's
 * chunk-id key, written at the first open) runs before a test can arm.
 */
#include "convert_test.h"

/* ---- the failing driver --------------------------------------------------------- */

/* A test's own state, as test_batch.c's backend wrapper: one test thread. */
static struct db_driver failing;          /* the real driver but for commit */
static const struct db_driver *real_drv;  /* the connection's own */
static int fail_in;                       /* commits until the failing one (1: the next); 0: none */
static int commits;                       /* commits asked for since armed */
static int failed;                        /* commits failed since armed */
static bool fail_prepare;                 /* the next statement prepared fails */

/* The transaction is left open, as SQLite leaves it when its COMMIT fails
 * (SQLITE_BUSY): the model rolls it back. */
static int failing_commit(struct db_conn *c)
{
	commits++;
	if (fail_in > 0 && --fail_in == 0) {
		failed++;
		return -EIO;
	}
	return real_drv->commit(c);
}

/* A statement that does not prepare (first use on this connection only:
 * the model caches prepared ones): a bare -EIO from a writer's step. */
static int failing_prepare(struct db_conn *c, const struct model_sql *sql, db_stmt **out)
{
	if (fail_prepare) {
		fail_prepare = false;
		return -EIO;
	}
	return real_drv->prepare(c, sql, out);
}

/* From now on the n-th commit of this thread fails (0: none; counts). */
static void arm(struct ut_fx *fx, int n)
{
	struct model_conn *c;
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	if (c->drv != &failing) {
		real_drv = c->drv;
		failing = *real_drv;
		failing.commit = failing_commit;
		failing.prepare = failing_prepare;
		c->drv = &failing;
	}
	fail_in = n;
	commits = failed = 0;
	fail_prepare = false;
}

static void disarm(struct ut_fx *fx)
{
	struct model_conn *c;
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	if (c->drv == &failing)
		c->drv = real_drv;
	fail_in = 0;
}

/* ---- every row of every table, as a digest ----------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* "table rows sum\n" for each table: the sum of the rows' hashes does not
 * depend on their order. */
static void dump(struct ut_fx *fx, char *out, size_t cap)
{
	char names[64][64];
	int n = 0;
	size_t len = 0;
	db_stmt *st = ut_prepare(fx, fx->pgdb[0] ? "SELECT table_name FROM information_schema.tables WHERE "
	                                           "table_schema = current_schema() AND table_type = 'BASE TABLE' "
	                                           "ORDER BY 1"
	                                         : "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1");
	while (db_step(st) == DB_ROW && n < 64)
		snprintf(names[n++], sizeof names[0], "%s", db_col_text(st, 0));
	ut_finalize(st);
	assert_true(n > 10 && n < 64);
	out[0] = '\0';
	for (int t = 0; t < n; t++) {
		char sql[96];
		uint64_t sum = 0, rows = 0;
		snprintf(sql, sizeof sql, "SELECT * FROM %.63s", names[t]);
		st = ut_prepare(fx, sql);
		while (db_step(st) == DB_ROW) {
			uint64_t h = 14695981039346656037ULL;
			for (int i = 0; i < db_col_count(st); i++) {
				const void *v = db_col_type(st, i) == DB_BLOB ? db_col_blob(st, i) : db_col_text(st, i);
				size_t vn = db_col_type(st, i) == DB_NULL ? 0 : db_col_bytes(st, i);
				h = fnv(h, &i, sizeof i);
				h = v ? fnv(h, v, vn) : fnv(h, "\xff", 1);
			}
			sum += h;
			rows++;
		}
		ut_finalize(st);
		len += (size_t)snprintf(out + len, cap - len, "%s %llu %016llx\n", names[t], (unsigned long long)rows,
		                        (unsigned long long)sum);
		assert_true(len < cap);
	}
}

/* ---- the writers ------------------------------------------------------------------ */

/* What a writer's setup made for its call. */
struct ctx {
	int i;                  /* the writer's index: its names are its own */
	char name[16], other[16]; /* its account, and another */
	int64_t acct, img, avail, vm, snap, blob, holder, recycled;
};

struct writer {
	const char *file, *name;
	void (*setup)(struct ut_fx *fx, struct ctx *x); /* NULL: an account only */
	int (*call)(struct ut_fx *fx, struct ctx *x, struct model_err *err);
	bool no_err; /* it takes no struct model_err: the errno is all it tells */
};

static void with_image(struct ut_fx *fx, struct ctx *x)
{
	x->img = ut_image(fx, fx->r1, x->acct, MODEL_FOLDER_PRIVATE, "queued");
}

static void with_available(struct ut_fx *fx, struct ctx *x)
{
	x->avail = lt_local_image(fx, fx->r1, x->acct, "golden", 3 * LT_MiB);
}

/* A private cloud image, available: vda a snapshot, not hashed yet. */
static void with_cloud(struct ut_fx *fx, struct ctx *x)
{
	char ext[16];
	snprintf(ext, sizeof ext, "snap-%08x", 0xbeef0000u + (unsigned)x->i);
	x->avail = ut_image(fx, fx->r1, x->acct, MODEL_FOLDER_PRIVATE, "cloudy");
	ct_data_disk(fx, x->avail, 0, ext, 3 * LT_MiB);
	lt_available(fx, x->avail, MODEL_TYPE_CLOUD);
}

static void with_vm(struct ut_fx *fx, struct ctx *x)
{
	x->vm = lt_instance(fx, fx->r1, x->acct, "vm");
}

static void with_snapshot(struct ut_fx *fx, struct ctx *x)
{
	char ext[16];
	snprintf(ext, sizeof ext, "snap-%08x", 0xcafe0000u + (unsigned)x->i);
	x->blob = lt_tagged_blob(fx, fx->r1, ext, LT_MiB);
	x->snap = lt_snapshot(fx, fx->r1, x->acct, ext, x->blob, MODEL_SNAP_AVAILABLE);
}

static void with_hold(struct ut_fx *fx, struct ctx *x)
{
	struct model_vm_disk d[MODEL_VM_SLOTS];
	with_snapshot(fx, x);
	with_vm(fx, x);
	assert_int_equal(model_instance_disks(fx->m, x->vm, d), 1);
	x->holder = d[0].blob_id; /* an instance disk: a wblob, not sealed */
}

/* An available image in the recycle bin. */
static void with_recycled(struct ut_fx *fx, struct ctx *x)
{
	struct model_err err = {0};
	x->recycled = lt_local_image(fx, fx->r1, x->acct, "old", LT_MiB);
	assert_int_equal(model_image_remove(fx->m, x->recycled, &err), 0);
}

static void with_other_account(struct ut_fx *fx, struct ctx *x)
{
	ut_account(fx, x->other);
}

static void with_kek(struct ut_fx *fx, struct ctx *x)
{
	(void)x;
	model_set_kek(fx->m, (const uint8_t *)"0123456789abcdef0123456789abcdef");
}

static int w_account_create(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	char name[16];
	snprintf(name, sizeof name, "new%d", x->i);
	return model_account_create(fx->m, name, 2000 + x->i, false, NULL, err);
}

static int w_account_remove(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_account_remove(fx->m, x->other, err);
}

static int w_set_admin(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_account_set_admin(fx->m, x->name, true, err);
}

static int w_set_parent(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_account_set_parent(fx->m, x->other, x->name, err);
}

static int w_setting(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	(void)x;
	return model_setting_set(fx->m, "ut-key", "v", err);
}

static int w_lease(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	(void)x;
	return model_lease_set(fx->m, 30, err);
}

static int w_quota(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_quota_set(fx->m, x->name, ut_region_names[0], "snapshots", 5, err);
}

static int w_region(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	(void)x;
	return model_region_add(fx->m, "eu-west-9", err);
}

static int w_image_create(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	struct model_image img;
	return model_image_create(fx->m, fx->r1, x->acct, MODEL_FOLDER_PRIVATE, "new", &img, err);
}

static int w_image_rename(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_image_rename(fx->m, x->img, "renamed", err);
}

static int w_image_set(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_image_set(fx->m, x->img, MODEL_FIELD_DESCRIPTION, "web tier", err);
}

static int w_link_create(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	struct model_link l;
	return model_link_create(fx->m, x->avail, 600, "raw", &l, err);
}

static int w_share_add(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_share_add(fx->m, x->avail, x->other, err);
}

static int w_snapshot_describe(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_snapshot_set_description(fx->m, x->snap, "before the upgrade", err);
}

static int w_image_remove(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_image_remove(fx->m, x->img, err);
}

static int w_retention(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	(void)x;
	return model_retention_set(fx->m, 3600, err);
}

static int w_blob_hold(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_blob_hold(fx->m, x->holder, x->blob, err);
}

static int w_instance_create(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	int64_t id;
	return model_instance_create(fx->m, fx->r1, x->acct, "vm2", &id, err);
}

static int w_disk_attach(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_instance_disk_attach(fx->m, x->vm, 1, err);
}

static int w_disk_size(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_instance_set_disk_size(fx->m, x->vm, 2 * LT_MiB, err);
}

static int w_password(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_instance_set_password(fx->m, x->vm, "Correct-Horse-9", err);
}

static int w_key_rotate(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	struct model_key_rotation out;
	(void)x;
	return model_key_rotate(fx->m, (const uint8_t *)"fedcba9876543210fedcba9876543210", NULL, NULL, &out, err);
}

static int w_import_attr(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_image_set_import_attr(fx->m, x->img, MODEL_IMPORT_ARCH, "x86_64", err);
}

static int w_import_address(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	char note[128];
	(void)x;
	return model_import_address_set(fx->m, "10.0.0.0/8", true, note, sizeof note, err);
}

static int w_import_url(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_image_import_url(fx->m, x->img, "http://127.0.0.1:9/disk.qcow2", err);
}

static int w_upload_begin(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	struct model_upload u;
	return model_upload_begin(fx->m, x->img, 0, &u, err);
}

static int w_capture(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_image_capture(fx->m, x->img, x->vm, NULL, 0, err);
}

static int w_convert(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	int64_t id;
	return model_image_convert(fx->m, x->avail, "converted", &id, err);
}

static int w_copy(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	int64_t id;
	return model_image_copy(fx->m, x->avail, fx->region[1].id, &id, err);
}

static int w_destroy(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	return model_image_destroy(fx->m, x->recycled, err);
}

static int w_writer_begin(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	int64_t id = -1;
	(void)x;
	(void)err;
	int rc = model_writer_begin(fx->m, fx->r1, "ut", &id);
	assert_true(rc < 0 ? id == 0 : id > 0);
	return rc;
}

static int w_token_new(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	char token[MODEL_TOKEN_LEN + 1];
	int64_t expires;
	return model_token_new(fx->m, x->name, 600, "ut", token, &expires, err);
}

static int w_api_update(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	const struct model_api_op op = {.kind = MODEL_API_MIN_DISK, .num = 4};
	return model_api_image_update(fx->m, x->img, &op, 1, err);
}

static int w_api_task(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	struct model_api_task t;
	return model_api_task_new(fx->m, x->img, x->acct, "web-download", "{}", "req-1", NULL, &t, err);
}

static void no_report(void *arg, const char *line)
{
	(void)arg;
	(void)line;
}

/* fsck --repair of an available image with no checksum: it queues one. */
static int w_fsck_repair(struct ut_fx *fx, struct ctx *x, struct model_err *err)
{
	(void)x;
	(void)err;
	return model_fsck(fx->m, true, no_report, NULL);
}

static void with_image_and_vm(struct ut_fx *fx, struct ctx *x)
{
	with_image(fx, x);
	with_vm(fx, x);
}

static void with_available_and_carol(struct ut_fx *fx, struct ctx *x)
{
	with_available(fx, x);
	with_other_account(fx, x);
}

/* One state for all (a state each would cost seconds each): every writer
 * has accounts, images and names of its own. */
static const struct writer writers[] = {
	{"meta/account.c", "model_account_create", NULL, w_account_create, false},
	{"meta/account.c", "model_account_remove", with_other_account, w_account_remove, false},
	{"meta/roles.c", "model_account_set_admin", NULL, w_set_admin, false},
	{"meta/roles.c", "model_account_set_parent", with_other_account, w_set_parent, false},
	{"meta/settings.c", "model_setting_set", NULL, w_setting, false},
	{"meta/host.c", "model_lease_set", NULL, w_lease, false},
	{"meta/quota.c", "model_quota_set", NULL, w_quota, false},
	{"meta/region.c", "model_region_add", NULL, w_region, false},
	{"meta/image.c", "model_image_create", NULL, w_image_create, false},
	{"meta/image.c", "model_image_rename", with_image, w_image_rename, false},
	{"meta/image.c", "model_image_set", with_image, w_image_set, false},
	{"meta/download.c", "model_link_create", with_available, w_link_create, false},
	{"meta/share.c", "model_share_add", with_available_and_carol, w_share_add, false},
	{"meta/snapshot.c", "model_snapshot_set_description", with_snapshot, w_snapshot_describe, false},
	{"meta/recycle.c", "model_image_remove", with_image, w_image_remove, false},
	{"meta/recycle.c", "model_retention_set", NULL, w_retention, false},
	{"meta/blob.c", "model_blob_hold", with_hold, w_blob_hold, false},
	{"meta/instance.c", "model_instance_create", NULL, w_instance_create, false},
	{"meta/instance.c", "model_instance_disk_attach", with_vm, w_disk_attach, false},
	{"meta/instance_boot.c", "model_instance_set_disk_size", with_vm, w_disk_size, false},
	{"meta/seed.c", "model_instance_set_password", with_vm, w_password, false},
	{"meta/keys.c", "model_key_rotate", with_kek, w_key_rotate, false},
	{"meta/writer.c", "model_writer_begin", NULL, w_writer_begin, true},
	{"meta/tokens.c", "model_token_new", NULL, w_token_new, false},
	{"meta/glance.c", "model_api_image_update", with_image, w_api_update, false},
	{"meta/apitask.c", "model_api_task_new", with_image, w_api_task, false},
	{"meta/fsck.c", "model_fsck (repair)", with_available, w_fsck_repair, true},
	{"rules/import_rules.c", "model_image_set_import_attr", with_image, w_import_attr, false},
	{"rules/import_addresses.c", "model_import_address_set", NULL, w_import_address, false},
	{"task/import.c", "model_image_import_url", with_image, w_import_url, false},
	{"task/upload.c", "model_upload_begin", with_image, w_upload_begin, false},
	{"task/capture.c", "model_image_capture", with_image_and_vm, w_capture, false},
	{"task/convert.c", "model_image_convert", with_available, w_convert, false},
	{"task/copy.c", "model_image_copy", with_cloud, w_copy, false},
	{"task/destroy.c", "model_image_destroy", with_recycled, w_destroy, false},
};
#define NWRITERS (sizeof writers / sizeof writers[0])

/* Each writer with its commit failing: -EIO, "database: ...", every row
 * as it was; then without: it succeeds, and writes. */
static void test_commit_fails(void **state)
{
	struct ut_fx *fx = *state;
	static char before[8192], after[8192];

	for (size_t i = 0; i < NWRITERS; i++) {
		const struct writer *w = &writers[i];
		/* A reason left from an earlier call: the writer's own replaces it. */
		struct model_err err = {-EPERM, "stale"};
		struct ctx x = {.i = (int)i};
		int rc;

		snprintf(x.name, sizeof x.name, "acct%zu", i);
		snprintf(x.other, sizeof x.other, "other%zu", i);
		x.acct = ut_account(fx, x.name);
		if (w->setup)
			w->setup(fx, &x);
		dump(fx, before, sizeof before);
		arm(fx, 1);
		rc = w->call(fx, &x, &err);
		int asked = commits;
		disarm(fx);
		if (rc != -EIO)
			fail_msg("%s %s: %d (%s) with its commit failing, not -EIO", w->file, w->name, rc, err.msg);
		assert_int_equal(failed, 1);
		assert_true(asked >= 1);
		if (!w->no_err) {
			assert_int_equal(err.code, -EIO);
			if (strncmp(err.msg, "database: ", 10) != 0)
				fail_msg("%s %s: the reason is \"%s\"", w->file, w->name, err.msg);
		}
		dump(fx, after, sizeof after);
		if (strcmp(before, after) != 0)
			fail_msg("%s %s: rows changed by a failed commit:\nbefore:\n%s\nafter:\n%s", w->file, w->name,
			         before, after);

		memset(&err, 0, sizeof err);
		if ((rc = w->call(fx, &x, &err)) < 0)
			fail_msg("%s %s: %d (%s) after the failed commit", w->file, w->name, rc, err.msg);
		dump(fx, after, sizeof after);
		if (strcmp(before, after) == 0) /* it writes: the first call's commit was the one */
			fail_msg("%s %s: wrote nothing", w->file, w->name);
	}
	print_message("%zu writers\n", NWRITERS);
}

/* The transaction this thread has open: none after a writer returned. */
static int depth(struct ut_fx *fx)
{
	struct model_conn *c;
	assert_int_equal(model_conn_get(fx->m, &c), 0);
	return c->depth;
}

/* A refusal leaves by the same label: its own reason kept, nothing of the
 * transaction left (no row, none open). */
static void test_refusal_keeps_reason(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	static char before[8192], after[8192];
	struct ctx x = {.name = "alice", .other = "nobody"};

	x.acct = ut_account(fx, x.name);
	with_image(fx, &x);
	ut_image(fx, fx->r1, x.acct, MODEL_FOLDER_PRIVATE, "taken");
	dump(fx, before, sizeof before);
	assert_int_equal(model_image_rename(fx->m, x.img, "taken", &err), -EEXIST);
	assert_string_equal(err.msg, "an image named taken exists (renames never replace)");
	assert_int_equal(depth(fx), 0);
	assert_int_equal(model_account_set_parent(fx->m, x.other, x.name, &err), -ENOENT);
	assert_string_equal(err.msg, "no account nobody");
	assert_int_equal(depth(fx), 0);
	assert_int_equal(model_share_add(fx->m, x.img, x.name, &err), -EINVAL);
	assert_true(err.msg[0] && strncmp(err.msg, "database: ", 10) != 0);
	assert_int_equal(depth(fx), 0);
	dump(fx, after, sizeof after);
	assert_string_equal(before, after);
	/* A step's bare errno is told as the database's, not with a reason an
	 * earlier call left in err (the import rules' statements are not
	 * prepared yet on this connection). */
	char note[128];
	err = (struct model_err){-EPERM, "stale"};
	arm(fx, 0);
	fail_prepare = true;
	assert_int_equal(model_import_address_set(fx->m, "10.0.0.0/8", true, note, sizeof note, &err), -EIO);
	disarm(fx);
	assert_string_equal(err.msg, "database: Input/output error");
	assert_int_equal(depth(fx), 0);
	/* The connection writes on. */
	assert_int_equal(model_image_rename(fx->m, x.img, "free", &err), 0);
	assert_int_equal(depth(fx), 0);
	dump(fx, after, sizeof after);
	assert_string_not_equal(before, after);
}

/* What a write transaction that rolled back wrote is not read back from
 * the model's row cache (on for PostgreSQL; here on for both), though a
 * read inside the transaction cached it. */
static const char *cached_name(struct ut_fx *fx, int64_t id, struct model_image *img)
{
	struct model_region r;
	assert_int_equal(model_image_get_in_region(fx->m, id, 0, img, &r), 0);
	return img->name;
}

static void test_rollback_forgets_rows(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice"), img = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "before");
	struct model_image got;
	struct model_conn *c;

	assert_int_equal(model_set_row_cache(fx->m, 60000), 0);
	assert_string_equal(cached_name(fx, img, &got), "before");
	assert_int_equal(model_write_begin(fx->m, &c, NULL), 0);
	ut_sql(fx, "UPDATE images SET name = 'during' WHERE id = %lld", (long long)img);
	assert_string_equal(cached_name(fx, img, &got), "during");
	assert_int_equal(model_write_end(c, -ECANCELED, NULL), -ECANCELED);
	assert_string_equal(cached_name(fx, img, &got), "before");
}

/* ---- the task engine's transactions ------------------------------------------------ */

/* Runs every runnable task; failures (the armed commit's) are tolerated,
 * a bounded number of times. */
static void run_tasks(struct ut_fx *fx)
{
	int rc, errors = 0;
	for (int i = 0; i < 200; i++) {
		if ((rc = model_task_work(fx->m, NULL)) == 0)
			return;
		if (rc < 0 && ++errors > 4)
			fail_msg("model_task_work: %d, again", rc);
	}
	fail_msg("the tasks do not end");
}

/* What the tasks leave, as counts (ids and times differ between runs):
 * rows of the tables a task writes, images by status and in error, sealed
 * blobs not hashed. */
#define NSUM 12
static void summary(struct ut_fx *fx, int64_t out[NSUM])
{
	static const char *const tables[] = {"images", "snapshots", "blobs", "devices", "tasks", "blob_holds", "writers"};
	static const enum model_image_status statuses[] = {MODEL_IMG_PENDING, MODEL_IMG_AVAILABLE, MODEL_IMG_ERROR};
	int n = 0;
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
		out[n++] = ut_sql_int(fx, "SELECT count(*) FROM %s", tables[i]);
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		out[n++] = ut_sql_int(fx, "SELECT count(*) FROM images WHERE status = %d", (int)statuses[i]);
	out[n++] = ut_sql_int(fx, "SELECT count(*) FROM images WHERE error != ''");
	out[n++] = ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE manifest IS NOT NULL AND sha256 = ''");
	assert_int_equal(n, NSUM);
}

/* A copy to another region (with the source's checksum pass before it)
 * and the destruction of a recycled image; the counts they change. */
static void tasks_run(struct ut_fx *fx, int k, int fail_at, int64_t delta[NSUM])
{
	struct model_err err = {0};
	struct ctx x = {.i = 1000 + k};
	int64_t before[NSUM], after[NSUM], id;

	snprintf(x.name, sizeof x.name, "tasks%d", k);
	x.acct = ut_account(fx, x.name);
	with_cloud(fx, &x);
	with_recycled(fx, &x);
	summary(fx, before);
	if (model_image_copy(fx->m, x.avail, fx->region[1].id, &id, &err) < 0 ||
	    model_image_destroy(fx->m, x.recycled, &err) < 0)
		fail_msg("%s", err.msg);
	arm(fx, fail_at);
	run_tasks(fx);
	int hit = failed;
	disarm(fx);
	/* A failed run waits in the queue before it is claimed again (§13:
	 * 1 s, doubling): its pause is over, as if that time had passed. */
	ut_sql(fx, "UPDATE tasks SET retry_ns = 0");
	run_tasks(fx); /* what the failure left to do */
	if (fail_at && hit != 1)
		fail_msg("commit %d: %d failed", fail_at, hit);
	summary(fx, after);
	for (int i = 0; i < NSUM; i++)
		delta[i] = after[i] - before[i];
}

/* Each commit of the tasks' run fails once in turn; the tasks still end
 * as a clean run's do. */
static void test_task_commits_fail(void **state)
{
	struct ut_fx *fx = *state;
	int64_t clean[NSUM], got[NSUM];
	int n;

	tasks_run(fx, 0, 0, clean);
	n = commits; /* counted by the clean run's arm(fx, 0) */
	assert_true(n >= 6); /* claims, the copy's device and finish steps, the checksum, the destruction */
	print_message("a clean run commits %d times\n", n);
	for (int k = 1; k <= n; k++) {
		tasks_run(fx, k, k, got);
		for (int i = 0; i < NSUM; i++)
			if (got[i] != clean[i])
				fail_msg("commit %d of %d failing: count %d is %lld, not %lld", k, n, i, (long long)got[i],
				         (long long)clean[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_fails, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refusal_keeps_reason, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_forgets_rows, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_task_commits_fail, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

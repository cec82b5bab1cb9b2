/*
 * test_schema.c — unit tests for the SQLite schema's migrations
 * (model/db/schema_sqlite.c, applied by model/db/sqlite.c): a database
 * written by any earlier version (the schema's first N steps, as that
 * version wrote it) is brought to the current version in place on open,
 * keeping its rows, with the derived data a later step adds (quota usage,
 * share counts, the totals of main accounts) computed from them, and
 * usable on (a sub-account, an image, a data key of an encrypted image);
 * a database of a later version is refused with a reason.
 */
#include "model/lifecycle_test.h"

#include "db.h"

/* A state directory whose database is what version `version` wrote, with a
 * few rows of every kind the first version had. */
static void old_state(const char *dir, int version)
{
	char path[PATH_MAX], *msg = NULL;
	sqlite3 *db;

	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/imgfs.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	for (int v = 0; v < version; v++)
		if (sqlite3_exec(db, schema_sqlite_steps[v], NULL, NULL, &msg) != SQLITE_OK)
			fail_msg("step %d: %s", v + 1, msg);
	char *sql = sqlite3_mprintf(
		"PRAGMA user_version = %d;"
		"INSERT INTO accounts(name, created) VALUES ('alice', 1), ('bob', 1);"
		"INSERT INTO regions(name, created_ns, mtime_ns) VALUES ('cn-north-1', 1, 1);"
		"INSERT INTO settings(key, value) VALUES ('initialised', '1');"
		"INSERT INTO images(ext_id, region_id, account_id, folder, name, status, created, mtime_ns, ctime_ns, "
		"  dir_mtime_ns) VALUES ('img-00000001', 1, 1, 3, 'kept', 1, 1, 1, 1, 1),"
		"  ('img-00000002', 1, 1, 3, 'shared', 1, 1, 1, 1, 1),"
		"  ('img-00000003', 1, 1, 4, 'disc', 1, 1, 1, 1, 1),"
		/* In the recycle bin (folder 5, status 7: deleted), put there
		 * before version 13 knew which folder it came from. */
		"  ('img-00000008', 1, 1, 5, 'binned', 7, 1, 1, 1, 1);"
		/* The catalogue's Windows images as versions before 12 made them
		 * ("2012", not "2012 R2"; queued here: fsck wants no disks), and
		 * a private image of the same name. */
		"INSERT INTO images(ext_id, region_id, account_id, folder, name, status, version, created, mtime_ns, "
		"  ctime_ns, dir_mtime_ns) VALUES"
		"  ('img-00000004', 1, 0, 1, 'windows-server-2016-datacenter', 1, '2016', 1, 1, 1, 1),"
		"  ('img-00000005', 1, 0, 1, 'windows-server-2012r2-standard', 1, '2012', 1, 1, 1, 1),"
		"  ('img-00000006', 1, 0, 1, 'windows-server-2008r2-datacenter', 1, '2008', 1, 1, 1, 1),"
		"  ('img-00000007', 1, 1, 3, 'windows-server-2012r2-standard', 1, '2012', 1, 1, 1, 1);"
		"INSERT INTO shares(image_id, account_id, created) VALUES (2, 2, 1);"
		/* An instance made before version 17 knew system-disk-size. */
		"INSERT INTO instances(ext_id, region_id, account_id, name, status, system_disk, created, mtime_ns, "
		"  ctime_ns) VALUES ('i-00000001', 1, 1, 'old-vm', 1, 1, 1, 1, 1);",
		version);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("rows of version %d: %s", version, msg);
	sqlite3_free(sql);
	sqlite3_close(db);
}

static int64_t used(model *m, int64_t account_id, enum model_quota_key k)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	int n = model_quota_list(m, account_id, 1, q);
	for (int i = 0; i < n; i++)
		if (q[i].key == k)
			return q[i].used;
	return -1;
}

static void ignore(void *arg, const char *line)
{
	(void)arg;
	print_message("fsck: %s\n", line);
}

#define WIN "windows-server-"

/* The data key of an instance's new disks. */
static int64_t lt_vm_key(model *m, int64_t vm_id)
{
	struct model_instance vm;
	assert_int_equal(model_instance_get(m, vm_id, &vm), 0);
	return vm.key_id;
}

static void test_migrates_from_every_version(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char dir[PATH_MAX];

	UT_SQLITE_ONLY();
	for (int v = 1; v < schema_sqlite_version; v++) {
		model *m = NULL;
		struct model_image img;

		snprintf(dir, sizeof(dir), "%s/v%d", fx->dir, v);
		old_state(dir, v);
		assert_int_equal(model_open(&m, dir, 0, &err), 0);
		assert_int_equal(model_image_lookup(m, 1, 1, MODEL_FOLDER_PRIVATE, "kept", &img), 0);
		assert_string_equal(img.ext_id, "img-00000001");
		assert_int_equal(used(m, 1, MODEL_QUOTA_PRIVATE_IMAGES), 3);
		assert_int_equal(used(m, 1, MODEL_QUOTA_SHARES_PER_IMAGE), 1);
		assert_int_equal(used(m, 2, MODEL_QUOTA_SHARED_IMAGES), 1);
		/* Version 12: the platform's R2 images say so, their version
		 * file's time moved; nothing else does (a state of version 12
		 * was made with them so). */
		assert_int_equal(model_image_lookup(m, 1, 0, MODEL_FOLDER_PUBLIC, WIN "2012r2-standard", &img), 0);
		if (v >= 12) {
			assert_string_equal(img.version, "2012");
			goto v13;
		}
		assert_string_equal(img.version, "2012 R2");
		assert_true(img.mtime_ns > 1 && img.ctime_ns > 1);
		assert_int_equal(model_image_lookup(m, 1, 0, MODEL_FOLDER_PUBLIC, WIN "2008r2-datacenter", &img), 0);
		assert_string_equal(img.version, "2008 R2");
		assert_int_equal(model_image_lookup(m, 1, 0, MODEL_FOLDER_PUBLIC, WIN "2016-datacenter", &img), 0);
		assert_string_equal(img.version, "2016");
		assert_int_equal(img.mtime_ns, 1);
		assert_int_equal(model_image_lookup(m, 1, 1, MODEL_FOLDER_PRIVATE, WIN "2012r2-standard", &img), 0);
		assert_string_equal(img.version, "2012");
	v13:
		/* Version 13: an image the bin held before goes back to private/,
		 * the only folder the bin took from then (§16). */
		assert_int_equal(model_image_lookup(m, 1, 1, MODEL_FOLDER_RECYCLE, "binned", &img), 0);
		assert_int_equal(model_image_restore(m, img.id, MODEL_FOLDER_ISO, "binned", &err), -EPERM);
		assert_int_equal(model_image_restore(m, img.id, MODEL_FOLDER_PRIVATE, "binned", &err), 0);
		assert_int_equal(used(m, 1, MODEL_QUOTA_PRIVATE_IMAGES), 4);
		/* Version 17: an older instance's blank system disk was 40 GiB. */
		struct model_instance vm;
		assert_int_equal(model_instance_lookup(m, 1, 1, "old-vm", &vm), 0);
		assert_int_equal(vm.system_disk_size, MODEL_VM_DISK_SIZE);
		assert_int_equal(model_instance_boot(m, vm.id), 0);
		assert_int_equal(model_fsck(m, false, ignore, NULL), 0);
		/* And it works on: a new image counts. */
		assert_int_equal(model_image_create(m, 1, 1, MODEL_FOLDER_PRIVATE, "new", NULL, &err), 0);
		assert_int_equal(used(m, 1, MODEL_QUOTA_PRIVATE_IMAGES), 5);
		/* Version 16: every account a main account whose totals are its
		 * own usage (used() read them); a sub-account made now counts in
		 * its main account's (§16): alice is at 5 of 5. */
		struct model_account a;
		assert_int_equal(model_account_get(m, 1, &a), 0);
		assert_false(a.admin);
		assert_int_equal(a.parent_id, 0);
		assert_int_equal(model_account_create(m, "carol", -1, false, "alice", &err), 0);
		assert_int_equal(model_account_by_name(m, "carol", &a), 0);
		assert_int_equal(used(m, a.id, MODEL_QUOTA_PRIVATE_IMAGES), 5);
		assert_int_equal(used(m, a.id, MODEL_QUOTA_SHARED_IMAGES), 0);
		assert_int_equal(model_image_create(m, 1, a.id, MODEL_FOLDER_PRIVATE, "c", NULL, &err), -EDQUOT);
		/* Version 18 (SPEC §17): nothing is encrypted, no account is by
		 * default, and data keys can be made. */
		assert_int_equal(model_image_lookup(m, 1, 1, MODEL_FOLDER_PRIVATE, "kept", &img), 0);
		assert_false(img.encrypted);
		assert_int_equal(img.key_id, 0);
		assert_int_equal(model_account_get(m, 1, &a), 0);
		assert_false(a.encrypt_default);
		assert_int_equal(lt_vm_key(m, vm.id), 0);
		struct model_conn *c;
		int64_t key_id = 0;
		model_set_kek(m, (const uint8_t *)"0123456789abcdef0123456789abcdef");
		assert_int_equal(model_write_begin(m, &c, NULL), 0);
		assert_int_equal(model_key_new(c, &key_id, &err), 0);
		assert_int_equal(model_write_end(c, 0, NULL), 0);
		assert_true(key_id > 0);
		assert_int_equal(model_image_set_encrypted(m, img.id, true, &err), 0);
		assert_int_equal(model_fsck(m, false, ignore, NULL), 0);
		model_close(m);
	}
}

static void test_newer_version_refused(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char dir[PATH_MAX];
	model *m = NULL;

	UT_SQLITE_ONLY();
	snprintf(dir, sizeof(dir), "%s/newer", fx->dir);
	old_state(dir, schema_sqlite_version);
	char path[PATH_MAX + 16];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/imgfs.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *sql = sqlite3_mprintf("PRAGMA user_version = %d", schema_sqlite_version + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_free(sql);
	sqlite3_close(db);
	memset(&err, 0, sizeof(err));
	assert_int_equal(model_open(&m, dir, 0, &err), -EPROTONOSUPPORT);
	assert_null(m);
	assert_non_null(strstr(err.msg, "newer imgfs"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrates_from_every_version, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_newer_version_refused, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

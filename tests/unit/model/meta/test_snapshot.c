/*
 * test_snapshot.c — unit tests for model/meta/snapshot.c: rmdir of a snapshot
 * (EBUSY while any image references it, the recycle bin included, or while
 * a capture creates it; otherwise its row and blob go), its description,
 * the instance row's has_run and dir_mtime_ns, the snapshots quota
 * counting every snapshot whatever its status (SPEC §2.4, §8), and the
 * holds of copies by reference (blob.c, SPEC §16).
 */
#include "model/lifecycle_test.h"

static int64_t snapshots_used(struct ut_fx *fx, int64_t account_id)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	int n = model_quota_list(fx->m, account_id, fx->r1, q);

	for (int i = 0; i < n; i++)
		if (q[i].key == MODEL_QUOTA_SNAPSHOTS)
			return q[i].used;
	fail_msg("no snapshots quota");
	return -1;
}

static void test_remove(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_snapshot snap;
	int64_t alice = ut_account(fx, "alice");
	int64_t blob = lt_tagged_blob(fx, fx->r1, "data", 2 * LT_MiB);
	int64_t id = lt_snapshot(fx, fx->r1, alice, "snap-0000abcd", blob, MODEL_SNAP_AVAILABLE);
	int64_t img = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	char buf[64];

	lt_device(fx, img, 1, blob, id);
	assert_int_equal(model_snapshot_images(fx->m, id, buf, sizeof buf), (int)strlen(ut_get(fx, img).ext_id) + 1);

	/* Referenced by an image: refused, naming it. */
	assert_int_equal(model_snapshot_remove(fx->m, id, &err), -EBUSY);
	assert_non_null(strstr(err.msg, ut_get(fx, img).ext_id));
	/* In the recycle bin, the image still references it (a restore needs it). */
	assert_int_equal(model_image_remove(fx->m, img, &err), 0);
	assert_int_equal(model_snapshot_remove(fx->m, id, &err), -EBUSY);
	assert_int_equal(model_snapshot_get(fx->m, id, &snap), 0);
	ut_sql(fx, "DELETE FROM devices WHERE snapshot_id = %lld", (long long)id);

	/* Being created by a capture: refused. */
	ut_sql(fx, "UPDATE snapshots SET status = %d WHERE id = %lld", (int)MODEL_SNAP_CREATING, (long long)id);
	assert_int_equal(model_snapshot_remove(fx->m, id, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "capture"));
	ut_sql(fx, "UPDATE snapshots SET status = %d WHERE id = %lld", (int)MODEL_SNAP_ERROR, (long long)id);

	assert_int_equal(snapshots_used(fx, alice), 1);
	int64_t before = lt_region_mtime(fx, fx->r1);
	assert_int_equal(model_snapshot_remove(fx->m, id, &err), 0);
	assert_int_equal(model_snapshot_get(fx->m, id, &snap), -ENOENT);
	assert_int_equal(model_snapshot_lookup(fx->m, fx->r1, alice, "snap-0000abcd", &snap), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)blob), 0);
	assert_int_equal(snapshots_used(fx, alice), 0);
	assert_true(lt_region_mtime(fx, fx->r1) > before);
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_SNAPSHOT, id);
	assert_string_equal(ch.name, "snap-0000abcd");
	assert_int_equal(ch.region_id, fx->r1);
	assert_int_equal(model_snapshot_remove(fx->m, id, &err), -ENOENT);
}

/* A blob another row still uses survives the snapshot's removal. */
static void test_remove_keeps_shared_blob(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t blob = lt_tagged_blob(fx, fx->r1, "data", LT_MiB);
	int64_t a = lt_snapshot(fx, fx->r1, alice, "snap-000000aa", blob, MODEL_SNAP_AVAILABLE);
	int64_t b = lt_snapshot(fx, fx->r1, alice, "snap-000000bb", blob, MODEL_SNAP_AVAILABLE);

	assert_int_equal(model_snapshot_remove(fx->m, a, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)blob), 1);
	assert_int_equal(model_snapshot_remove(fx->m, b, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)blob), 0);
}

/* A disk that took a snapshot's chunks by reference (SPEC §16) holds the
 * snapshot's blob: the snapshot goes, its blob row (the manifest gc marks)
 * stays while the disk is there, and goes with the disk.  A hold is
 * recorded once, only between blobs of one region, only of a sealed one. */
static void test_hold(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk d[MODEL_VM_SLOTS];
	int64_t alice = ut_account(fx, "alice"), vm = 0;
	int64_t blob = lt_tagged_blob(fx, fx->r1, "data", 2 * LT_MiB);
	int64_t other = lt_tagged_blob(fx, fx->region[1].id, "far", LT_MiB);
	int64_t snap = lt_snapshot(fx, fx->r1, alice, "snap-0000cafe", blob, MODEL_SNAP_AVAILABLE);

	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm", &vm, &err), 0);
	assert_int_equal(model_instance_disk_attach(fx->m, vm, 1, &err), 0);
	assert_int_equal(model_instance_disks(fx->m, vm, d), 2);
	int64_t disk = d[1].blob_id, vda = d[0].blob_id;

	assert_int_equal(model_blob_hold(fx->m, disk, blob, &err), 0);
	assert_int_equal(model_blob_hold(fx->m, disk, blob, &err), 0); /* again: one row */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blob_holds"), 1);
	/* Another region's blob, an unsealed one, a blob that is not there. */
	assert_int_equal(model_blob_hold(fx->m, disk, other, &err), -ENOENT);
	assert_int_equal(model_blob_hold(fx->m, disk, vda, &err), -ENOENT);
	assert_int_equal(model_blob_hold(fx->m, disk, 424242, &err), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blob_holds"), 1);

	/* The snapshot goes; its blob stays, held. */
	assert_int_equal(model_snapshot_remove(fx->m, snap, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)blob), 1);
	/* The disk goes: the hold and the blob with it. */
	assert_int_equal(model_instance_disk_detach(fx->m, vm, 1, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blob_holds"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)blob), 0);
	/* A held blob whose snapshot stays is kept by the snapshot alone. */
	blob = lt_tagged_blob(fx, fx->r1, "kept", LT_MiB);
	snap = lt_snapshot(fx, fx->r1, alice, "snap-0000beef", blob, MODEL_SNAP_AVAILABLE);
	assert_int_equal(model_blob_hold(fx->m, vda, blob, &err), 0);
	assert_int_equal(model_instance_remove(fx->m, vm, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blob_holds"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)blob), 1);
}

static void test_description(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_snapshot s0, s;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_snapshot(fx, fx->r1, alice, "snap-00000001", lt_tagged_blob(fx, fx->r1, "d", LT_MiB),
	                         MODEL_SNAP_AVAILABLE);
	char big[MODEL_DESC_MAX + 2];

	assert_int_equal(model_snapshot_get(fx->m, id, &s0), 0);
	assert_int_equal(model_snapshot_set_description(fx->m, id, "nightly — before the upgrade", &err), 0);
	assert_int_equal(model_snapshot_get(fx->m, id, &s), 0);
	assert_string_equal(s.description, "nightly — before the upgrade");
	assert_true(s.mtime_ns > s0.mtime_ns && s.ctime_ns > s0.ctime_ns);
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_SNAPSHOT, id), 1);
	assert_int_equal(lt_last_change(fx, MODEL_CHANGE_SNAPSHOT, id).name[0], '\0'); /* nothing went away */

	memset(big, 'x', MODEL_DESC_MAX);
	big[MODEL_DESC_MAX] = '\0';
	assert_int_equal(model_snapshot_set_description(fx->m, id, big, &err), 0);
	big[MODEL_DESC_MAX] = 'x';
	big[MODEL_DESC_MAX + 1] = '\0';
	assert_int_equal(model_snapshot_set_description(fx->m, id, big, &err), -EINVAL);
	assert_int_equal(model_snapshot_set_description(fx->m, id, "bad \xff utf-8", &err), -EINVAL);
	assert_int_equal(model_snapshot_set_description(fx->m, id, "bell\a", &err), -EINVAL);
	/* Bidirectional overrides and C1 controls, like an image's (issue 23). */
	assert_int_equal(model_snapshot_set_description(fx->m, id, "a\xe2\x80\xae" "b", &err), -EINVAL);
	assert_string_equal(err.msg, "a description cannot hold U+202E (RIGHT-TO-LEFT OVERRIDE), at character 2");
	assert_int_equal(model_snapshot_set_description(fx->m, id, "\xc2\x9b", &err), -EINVAL);
	assert_int_equal(model_snapshot_get(fx->m, id, &s), 0);
	assert_int_equal((int)strlen(s.description), MODEL_DESC_MAX);
	assert_int_equal(model_snapshot_set_description(fx->m, id, "", &err), 0);
	assert_int_equal(model_snapshot_set_description(fx->m, 424242, "x", &err), -ENOENT);
}

/* The snapshots quota counts every snapshot row, creating ones too. */
static void test_quota_counts_creating(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t blob = lt_tagged_blob(fx, fx->r1, "d", LT_MiB);

	lt_snapshot(fx, fx->r1, alice, "snap-00000001", blob, MODEL_SNAP_CREATING);
	lt_snapshot(fx, fx->r1, alice, "snap-00000002", blob, MODEL_SNAP_ERROR);
	lt_snapshot(fx, fx->r1, alice, "snap-00000003", blob, MODEL_SNAP_AVAILABLE);
	lt_snapshot(fx, fx->region[1].id, alice, "snap-00000004", lt_tagged_blob(fx, fx->region[1].id, "d", LT_MiB),
	            MODEL_SNAP_AVAILABLE);
	lt_snapshot(fx, fx->r1, bob, "snap-00000005", blob, MODEL_SNAP_AVAILABLE);
	assert_int_equal(snapshots_used(fx, alice), 3);
	assert_int_equal(snapshots_used(fx, bob), 1);
}

/* The instance row carries has_run and the disks/ mtime. */
static void test_instance_row(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_instance vm;
	int64_t alice = ut_account(fx, "alice"), id = 0;

	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm", &id, &err), 0);
	ut_sql(fx, "UPDATE instances SET has_run = 1, dir_mtime_ns = 1234567 WHERE id = %lld", (long long)id);
	assert_int_equal(model_instance_get(fx->m, id, &vm), 0);
	assert_true(vm.has_run);
	assert_int_equal(vm.dir_mtime_ns, 1234567);
	assert_int_equal(model_instance_lookup(fx->m, fx->r1, alice, "vm", &vm), 0);
	assert_true(vm.has_run);
	assert_int_equal(vm.dir_mtime_ns, 1234567);
	ut_sql(fx, "UPDATE instances SET has_run = 0 WHERE id = %lld", (long long)id);
	assert_int_equal(model_instance_get(fx->m, id, &vm), 0);
	assert_false(vm.has_run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_remove, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove_keeps_shared_blob, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_hold, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_description, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_quota_counts_creating, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_instance_row, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

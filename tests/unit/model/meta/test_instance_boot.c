/*
 * test_instance_boot.c — unit tests for model/meta/instance_boot.c (SPEC
 * §16, instances from ISO images), on both drivers: an ISO image written
 * to an instance's image becomes its cdrom by reference (the ISO's own
 * blob row, nothing stored), vda a blank disk of system-disk-size, boot
 * cdrom; the ISO cannot be deleted while it is in and can once it is out
 * (boot disk, rm disks/cdrom, a rebuild from a disk image, another ISO,
 * removing the instance); every refusal leaves everything as it was;
 * system-disk-size and its parser.
 */
#include "model/lifecycle_test.h"

/* The instance's disk at idx; NULL-like (index -1) when none. */
static struct model_vm_disk disk_of(struct ut_fx *fx, int64_t vm_id, int idx)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS], none = {.index = -1};
	int n = model_instance_disks(fx->m, vm_id, disks);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		if (disks[i].index == idx)
			return disks[i];
	return none;
}

/* The blob row of the ISO image's disks/cdrom. */
static int64_t iso_blob(struct ut_fx *fx, int64_t iso)
{
	return ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld AND idx = 26", (long long)iso);
}

static uint64_t wblob_size(struct ut_fx *fx, const char *name)
{
	blob_store *s;
	blob_wblob *w = NULL;
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_open(&w, s, name), 0);
	uint64_t size = blob_wblob_size(w);
	blob_wblob_close(w);
	return size;
}

static void instances_of(struct ut_fx *fx, int64_t image, int64_t account, const char *want)
{
	char buf[256] = "";
	assert_true(model_image_instances(fx->m, image, account, buf, sizeof buf) >= 0);
	assert_string_equal(buf, want);
}

/* An ISO image in: the cdrom by reference, a blank vda of the instance's
 * size, boot cdrom, the ISO busy; then out by boot disk. */
static void test_boot_iso(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_instance(fx, fx->r1, alice, "web");
	int64_t iso = lt_iso_image(fx, fx->r1, alice, "debian", 3 * LT_MiB);
	struct model_vm_disk vda0 = disk_of(fx, id, 0);
	struct model_instance v0 = lt_instance_get(fx, id);
	int64_t blobs = ut_sql_int(fx, "SELECT count(*) FROM blobs");
	int64_t sealed = ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE manifest IS NOT NULL");
	int64_t iso_logged = lt_changes(fx, MODEL_CHANGE_IMAGE, iso);

	assert_int_equal(model_instance_boot(fx->m, id), 0);
	assert_int_equal(model_instance_set_disk_size(fx->m, id, 8 * LT_MiB, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, id, iso, alice, &err), 0);

	struct model_instance v = lt_instance_get(fx, id);
	assert_int_equal(v.image_id, iso);
	assert_true(v.dir_mtime_ns > v0.dir_mtime_ns);
	assert_int_equal(model_instance_boot(fx->m, id), 1);
	/* The cdrom is the ISO's own blob row: nothing was stored or copied. */
	struct model_vm_disk cd = disk_of(fx, id, MODEL_VM_CDROM);
	assert_int_equal(cd.index, MODEL_VM_CDROM);
	assert_string_equal(cd.name, "cdrom");
	assert_true(cd.sealed);
	assert_string_equal(cd.wblob, "");
	assert_int_equal(cd.blob_id, iso_blob(fx, iso));
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE manifest IS NOT NULL"), sealed);
	/* vda: a new blank disk of system-disk-size (the old one's file gone). */
	struct model_vm_disk vda = disk_of(fx, id, 0);
	assert_false(vda.sealed);
	assert_true(vda.blob_id != vda0.blob_id);
	assert_false(lt_wblob_exists(fx, fx->r1, vda0.wblob));
	assert_int_equal(wblob_size(fx, vda.wblob), 8 * LT_MiB);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs"), blobs); /* one vda for another */
	/* The ISO lists it, cannot go, and every mount heard of it. */
	instances_of(fx, iso, alice, "web\n");
	assert_true(lt_changes(fx, MODEL_CHANGE_IMAGE, iso) > iso_logged);
	assert_int_equal(model_image_remove(fx->m, iso, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "web"));
	assert_non_null(strstr(err.msg, "cdrom"));

	/* boot: cdrom again changes nothing; disk while running is refused. */
	int64_t mtime = lt_instance_get(fx, id).mtime_ns;
	assert_int_equal(model_instance_set_boot(fx->m, id, true, &err), 0);
	assert_int_equal(lt_instance_get(fx, id).mtime_ns, mtime);
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_set_boot(fx->m, id, false, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "running"));
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	int64_t task = lt_task(fx, 0, "instance", id, "running");
	assert_int_equal(model_instance_set_boot(fx->m, id, false, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "capture"));
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)task);
	assert_int_equal(model_instance_boot(fx->m, id), 1);

	/* boot disk: ejected, the ISO free; vda stays. */
	assert_int_equal(model_instance_set_boot(fx->m, id, false, &err), 0);
	assert_int_equal(model_instance_boot(fx->m, id), 0);
	assert_int_equal(disk_of(fx, id, MODEL_VM_CDROM).index, -1);
	assert_int_equal(disk_of(fx, id, 0).blob_id, vda.blob_id);
	assert_int_equal(lt_instance_get(fx, id).image_id, 0);
	instances_of(fx, iso, alice, "");
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)cd.blob_id), 1);
	/* disk again: no change; cdrom with none: refused. */
	assert_int_equal(model_instance_set_boot(fx->m, id, false, &err), 0);
	assert_int_equal(model_instance_set_boot(fx->m, id, true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no cdrom"));
	assert_int_equal(model_image_remove(fx->m, iso, &err), 0);
}

/* rm disks/cdrom, a rebuild from a disk image, another ISO and removing
 * the instance each take the ISO out. */
static void test_eject_ways(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_instance(fx, fx->r1, alice, "vm");
	int64_t a = lt_iso_image(fx, fx->r1, alice, "a", LT_MiB), b = lt_iso_image(fx, fx->r1, alice, "b", LT_MiB);
	int64_t golden = lt_local_image(fx, fx->r1, alice, "golden", 2 * LT_MiB);

	/* rm disks/cdrom: stopped only. */
	assert_int_equal(model_instance_rebuild(fx->m, id, a, alice, &err), 0);
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_disk_detach(fx->m, id, MODEL_VM_CDROM, &err), -EBUSY);
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	assert_int_equal(model_instance_disk_detach(fx->m, id, MODEL_VM_CDROM, &err), 0);
	assert_int_equal(model_instance_boot(fx->m, id), 0);
	assert_int_equal(lt_instance_get(fx, id).image_id, 0);
	assert_int_equal(model_instance_disk_detach(fx->m, id, MODEL_VM_CDROM, &err), -ENOENT);

	/* Another ISO replaces the first: a fresh blank vda, the first free. */
	assert_int_equal(model_instance_rebuild(fx->m, id, a, alice, &err), 0);
	struct model_vm_disk vda = disk_of(fx, id, 0);
	assert_int_equal(model_instance_rebuild(fx->m, id, b, alice, &err), 0);
	assert_int_equal(disk_of(fx, id, MODEL_VM_CDROM).blob_id, iso_blob(fx, b));
	assert_true(disk_of(fx, id, 0).blob_id != vda.blob_id);
	assert_false(lt_wblob_exists(fx, fx->r1, vda.wblob));
	instances_of(fx, a, alice, "");
	instances_of(fx, b, alice, "vm\n");

	/* A disk image: built from it, the cdrom out, b free. */
	assert_int_equal(model_instance_rebuild(fx->m, id, golden, alice, &err), 0);
	assert_int_equal(model_instance_boot(fx->m, id), 0);
	assert_int_equal(lt_instance_get(fx, id).image_id, golden);
	instances_of(fx, b, alice, "");
	instances_of(fx, golden, alice, "vm\n");
	lt_assert_wblob_is_blob(fx, fx->r1, disk_of(fx, id, 0).wblob,
	                        ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld AND idx = 0",
	                                   (long long)golden));

	/* Removing the instance: the ISO's blob row stays (it is the image's). */
	assert_int_equal(model_instance_rebuild(fx->m, id, b, alice, &err), 0);
	int64_t bb = iso_blob(fx, b);
	assert_int_equal(model_instance_remove(fx->m, id, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)bb), 1);
	instances_of(fx, b, alice, "");
	assert_int_equal(model_image_remove(fx->m, b, &err), 0);
	assert_int_equal(model_image_remove(fx->m, a, &err), 0);
}

/* Every refusal of writing an ISO image, each leaving the instance as it
 * was. */
static void test_boot_iso_refusals(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t id = lt_instance(fx, fx->r1, alice, "vm");
	int64_t bobs = lt_iso_image(fx, fx->r1, bob, "bobs", LT_MiB);
	int64_t far = lt_iso_image(fx, fx->region[1].id, alice, "far", LT_MiB);
	int64_t queued = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "queued");
	int64_t binned = lt_iso_image(fx, fx->r1, alice, "binned", LT_MiB);
	int64_t iso = lt_iso_image(fx, fx->r1, alice, "iso", LT_MiB);
	struct model_vm_disk vda = disk_of(fx, id, 0);
	int64_t blobs = ut_sql_int(fx, "SELECT count(*) FROM blobs");

	assert_int_equal(model_image_remove(fx->m, binned, &err), 0); /* to the recycle bin */
	struct {
		int64_t image;
		int want;
		const char *why;
	} cases[] = {
		{bobs, -ENOENT, "image"},     /* another account's ISO (never shared) */
		{far, -ENOENT, "image"},      /* another region's */
		{binned, -ENOENT, "image"},   /* in the recycle bin */
		{queued, -EINVAL, "queued"},  /* not available */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&err, 0, sizeof err);
		int rc = model_instance_rebuild(fx->m, id, cases[i].image, alice, &err);
		if (rc != cases[i].want || !strstr(err.msg, cases[i].why))
			fail_msg("case %zu: %d (%s), want %d", i, rc, err.msg, cases[i].want);
	}
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, id, iso, alice, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "running"));
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	int64_t task = lt_task(fx, 0, "instance", id, "queued");
	assert_int_equal(model_instance_rebuild(fx->m, id, iso, alice, &err), -EBUSY);
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)task);
	/* Nothing changed. */
	assert_int_equal(disk_of(fx, id, 0).blob_id, vda.blob_id);
	assert_true(lt_wblob_exists(fx, fx->r1, vda.wblob));
	assert_int_equal(disk_of(fx, id, MODEL_VM_CDROM).index, -1);
	assert_int_equal(lt_instance_get(fx, id).image_id, 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs"), blobs);
	/* An instance with a cloud system disk takes an ISO too: its vda is blank. */
	int64_t cloud = lt_instance(fx, fx->r1, alice, "cloud");
	assert_int_equal(model_instance_set_system_disk(fx->m, cloud, MODEL_TYPE_CLOUD, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, cloud, iso, alice, &err), 0);
	assert_int_equal(model_instance_boot(fx->m, cloud), 1);
	/* cdrom and cidata are not attached by creating them. */
	assert_int_equal(model_instance_disk_attach(fx->m, id, MODEL_VM_CDROM, &err), -EPERM);
	assert_int_equal(model_instance_disk_attach(fx->m, id, MODEL_VM_CIDATA, &err), -EPERM);
}

/* system-disk-size: resizes vda while the instance has no image and never
 * ran; the range; the same value is no change. */
static void test_disk_size(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_instance(fx, fx->r1, alice, "vm");
	struct model_instance v0 = lt_instance_get(fx, id);
	struct model_vm_disk vda = disk_of(fx, id, 0);
	struct model_blob b;

	assert_int_equal(v0.system_disk_size, MODEL_VM_DISK_SIZE);
	assert_int_equal(model_instance_set_disk_size(fx->m, id, 100ull << 30, &err), 0);
	assert_int_equal(lt_instance_get(fx, id).system_disk_size, 100ull << 30);
	assert_true(lt_instance_get(fx, id).mtime_ns > v0.mtime_ns);
	assert_int_equal(wblob_size(fx, vda.wblob), 100ull << 30);
	assert_int_equal(model_blob_get(fx->m, vda.blob_id, &b), 0);
	assert_int_equal(b.size, 100ull << 30);
	assert_true(lt_changes(fx, MODEL_CHANGE_INSTANCE, id) >= 2);
	/* What was written to vda stays (a resize, not a new disk). */
	blob_store *s;
	blob_wblob *w = NULL;
	char got[6] = "";
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_open(&w, s, vda.wblob), 0);
	assert_int_equal(blob_wblob_pwrite(w, "hello", 5, 4096), 5);
	blob_wblob_close(w);
	assert_int_equal(model_instance_set_disk_size(fx->m, id, MODEL_VM_DISK_MAX, &err), 0);
	assert_int_equal(wblob_size(fx, vda.wblob), MODEL_VM_DISK_MAX);
	assert_int_equal(model_instance_set_disk_size(fx->m, id, 1, &err), 0);
	assert_int_equal(model_instance_set_disk_size(fx->m, id, 8192, &err), 0);
	assert_int_equal(blob_wblob_open(&w, s, vda.wblob), 0);
	assert_int_equal(blob_wblob_pread(w, got, 5, 4096), 5);
	blob_wblob_close(w);
	assert_memory_equal(got, "\0\0\0\0\0", 5); /* cut to 1 byte, then grown: zeros */

	/* Out of range: nothing changes. */
	int64_t mtime = lt_instance_get(fx, id).mtime_ns;
	assert_int_equal(model_instance_set_disk_size(fx->m, id, 0, &err), -EINVAL);
	assert_int_equal(model_instance_set_disk_size(fx->m, id, MODEL_VM_DISK_MAX + 1, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "4 PiB"));
	assert_int_equal(model_instance_set_disk_size(fx->m, id, UINT64_MAX, &err), -EINVAL);
	assert_int_equal(model_instance_set_disk_size(fx->m, 424242, 8192, &err), -ENOENT);
	/* The same value: no change. */
	assert_int_equal(model_instance_set_disk_size(fx->m, id, 8192, &err), 0);
	assert_int_equal(lt_instance_get(fx, id).mtime_ns, mtime);
	assert_int_equal(wblob_size(fx, vda.wblob), 8192);

	/* An ISO gives a vda of that size; then it is fixed. */
	int64_t iso = lt_iso_image(fx, fx->r1, alice, "iso", LT_MiB);
	assert_int_equal(model_instance_rebuild(fx->m, id, iso, alice, &err), 0);
	assert_int_equal(wblob_size(fx, disk_of(fx, id, 0).wblob), 8192);
	assert_int_equal(model_instance_set_disk_size(fx->m, id, 16384, &err), -EPERM);
	assert_non_null(strstr(err.msg, "fixed"));
	/* Out again and never run: writable again (vda is what it was given). */
	assert_int_equal(model_instance_set_boot(fx->m, id, false, &err), 0);
	assert_int_equal(model_instance_set_disk_size(fx->m, id, 16384, &err), 0);
	/* Once it ran: fixed. */
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	assert_int_equal(model_instance_set_disk_size(fx->m, id, 32768, &err), -EPERM);
	assert_int_equal(lt_instance_get(fx, id).system_disk_size, 16384);
	assert_int_equal(wblob_size(fx, disk_of(fx, id, 0).wblob), 16384);
	/* A capture reading it: refused (a never-run instance). */
	int64_t other = lt_instance(fx, fx->r1, alice, "other");
	int64_t task = lt_task(fx, 0, "instance", other, "running");
	assert_int_equal(model_instance_set_disk_size(fx->m, other, 16384, &err), -EBUSY);
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)task);
	assert_int_equal(wblob_size(fx, disk_of(fx, other, 0).wblob), MODEL_VM_DISK_SIZE);
}

static void test_size_parse(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
		{"1", 0, 1},
		{"0", 0, 0},
		{"42949672960", 0, 40ull << 30},
		{"40G", 0, 40ull << 30},
		{"40GiB", 0, 40ull << 30},
		{"1K", 0, 1024},
		{"3KiB", 0, 3072},
		{"5M", 0, 5ull << 20},
		{"2T", 0, 2ull << 40},
		{"4P", 0, 4ull << 50},
		{"0040G", 0, 40ull << 30},
		{"18446744073709551615", 0, UINT64_MAX},
		{"18446744073709551616", 0, UINT64_MAX}, /* past 2^64 - 1: out of any range */
		{"99999999999999999999999", 0, UINT64_MAX},
		{"16384P", 0, UINT64_MAX},              /* 2^64 */
		{"16383P", 0, 16383ull << 50},
		{"", -EINVAL, 0},
		{"G", -EINVAL, 0},
		{"1g", -EINVAL, 0},
		{"1KB", -EINVAL, 0},
		{"1E", -EINVAL, 0},
		{"1.5G", -EINVAL, 0},
		{"-1", -EINVAL, 0},
		{"+1", -EINVAL, 0},
		{" 1", -EINVAL, 0},
		{"1 ", -EINVAL, 0},
		{"1G ", -EINVAL, 0},
		{"1GiBx", -EINVAL, 0},
		{"1Gi", -EINVAL, 0},
		{"0x10", -EINVAL, 0},
		{"1\n", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t v = 12345;
		int rc = model_size_parse(cases[i].s, &v);
		if (rc != cases[i].rc || (rc == 0 && v != cases[i].v))
			fail_msg("\"%s\": %d %llu, want %d %llu", cases[i].s, rc, (unsigned long long)v, cases[i].rc,
			         (unsigned long long)cases[i].v);
	}
}

/* Who may build from a shared image is the model's rights table's B
 * (rights.h), asked by the rebuild itself: a member pending or accepted
 * builds, a rejected one does not (the image is out of its view, §6.4),
 * nor a stranger, nor the owner's administrator. */
static void test_build_right(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t carol = ut_account(fx, "carol");
	int64_t golden = lt_local_image(fx, fx->r1, alice, "golden", 2 * LT_MiB);
	int64_t vb = lt_instance(fx, fx->r1, bob, "vb"), vc = lt_instance(fx, fx->r1, carol, "vc");

	assert_int_equal(model_share_add(fx->m, golden, "bob", &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, vb, golden, bob, &err), 0); /* pending */
	assert_int_equal(model_share_answer(fx->m, golden, bob, MODEL_MEMBER_ACCEPTED, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, vb, golden, bob, &err), 0);
	assert_int_equal(model_share_answer(fx->m, golden, bob, MODEL_MEMBER_REJECTED, &err), 0);
	assert_false(model_image_shared_with(fx->m, golden, bob));
	assert_int_equal(model_instance_rebuild(fx->m, vb, golden, bob, &err), -ENOENT);
	assert_string_equal(err.msg, "no such image");
	assert_int_equal(model_instance_rebuild(fx->m, vc, golden, carol, &err), -ENOENT);
	assert_int_equal(model_share_answer(fx->m, golden, bob, MODEL_MEMBER_ACCEPTED, &err), 0);
	assert_true(model_image_shared_with(fx->m, golden, bob));
	assert_int_equal(model_instance_rebuild(fx->m, vb, golden, bob, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_boot_iso, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_eject_ways, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_boot_iso_refusals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_disk_size, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_build_right, ut_setup, ut_teardown),
		cmocka_unit_test(test_size_parse),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

/*
 * test_instance.c — unit tests for model/meta/instance.c (SPEC §2.4, §6.5):
 * creating and removing instances with their wblob disks, start and stop,
 * the system-disk type, the busy rule (a capture task reading the disks),
 * attaching and detaching data disks, recording disk writes, and rebuilding
 * an instance from an image (copy-on-write over the image's blobs), with
 * every refusal's errno leaving everything as it was.
 */
#include <regex.h>

#include "model/lifecycle_test.h"

static int64_t vm_new(struct ut_fx *fx, int64_t region_id, int64_t account_id, const char *name)
{
	struct model_err err = {0};
	int64_t id = 0;
	int rc = model_instance_create(fx->m, region_id, account_id, name, &id, &err);

	if (rc < 0)
		fail_msg("model_instance_create %s: %d %s", name, rc, err.msg);
	assert_true(id > 0);
	return id;
}

static struct model_instance vm_get(struct ut_fx *fx, int64_t id)
{
	struct model_instance vm;

	assert_int_equal(model_instance_get(fx->m, id, &vm), 0);
	return vm;
}

static int vm_disks(struct ut_fx *fx, int64_t id, struct model_vm_disk disks[MODEL_VM_SLOTS])
{
	int n = model_instance_disks(fx->m, id, disks);

	assert_true(n >= 0);
	return n;
}

static void assert_matches(const char *s, const char *re)
{
	regex_t r;

	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&r, s, 0, NULL, 0) != 0)
		fail_msg("\"%s\" does not match /%s/", s, re);
	regfree(&r);
}

/* ---- create ---------------------------------------------------------------------- */

static void test_create(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct model_blob b;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t before = lt_region_mtime(fx, fx->r1), t0 = model_now_ns();
	int64_t id = vm_new(fx, fx->r1, alice, "web-1");
	struct model_instance vm = vm_get(fx, id);

	assert_matches(vm.ext_id, "^i-[0-9a-f]{8}$");
	assert_string_equal(vm.name, "web-1");
	assert_int_equal(vm.region_id, fx->r1);
	assert_int_equal(vm.account_id, alice);
	assert_int_equal(vm.status, MODEL_VM_STOPPED);
	assert_int_equal(vm.system_disk, MODEL_TYPE_LOCAL);
	assert_int_equal(vm.image_id, 0);
	assert_false(vm.has_run);
	assert_true(vm.mtime_ns >= t0 && vm.ctime_ns == vm.mtime_ns && vm.dir_mtime_ns == vm.mtime_ns);
	assert_true(vm.created >= t0 / 1000000000 - 1);

	/* vda: a blank, sparse 40 GiB wblob named after its blob row. */
	assert_int_equal(vm_disks(fx, id, disks), 1);
	assert_string_equal(disks[0].name, "vda");
	assert_int_equal(disks[0].index, 0);
	char want[64];
	snprintf(want, sizeof want, "d%lld", (long long)disks[0].blob_id);
	assert_string_equal(disks[0].wblob, want);
	assert_int_equal(model_blob_get(fx->m, disks[0].blob_id, &b), 0);
	assert_false(b.sealed);
	assert_int_equal(b.size, MODEL_VM_DISK_SIZE);
	assert_int_equal(b.stored, 0);
	blob_store *s;
	blob_wblob *w = NULL;
	uint8_t buf[512], zero[512] = {0};
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_open(&w, s, disks[0].wblob), 0);
	assert_int_equal(blob_wblob_size(w), MODEL_VM_DISK_SIZE);
	assert_int_equal(blob_wblob_stored(w), 0);
	assert_int_equal(blob_wblob_pread(w, buf, sizeof buf, MODEL_VM_DISK_SIZE - sizeof buf), sizeof buf);
	assert_memory_equal(buf, zero, sizeof buf);
	blob_wblob_close(w);

	/* The instances/ listing changed, and mounts hear of it. */
	assert_true(lt_region_mtime(fx, fx->r1) > before);
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_INSTANCE, id), 1);
	struct model_instance by_name;
	assert_int_equal(model_instance_lookup(fx->m, fx->r1, alice, "web-1", &by_name), 0);
	assert_int_equal(by_name.id, id);

	/* Names: taken, bad; the same name elsewhere is another instance. */
	int64_t rows = ut_sql_int(fx, "SELECT count(*) FROM blobs");
	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "web-1", NULL, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "web-1"));
	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, ".hidden", NULL, &err), -EINVAL);
	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "a/b", NULL, &err), -EINVAL);
	assert_int_equal(model_instance_create(fx->m, 999, alice, "web-2", NULL, &err), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs"), rows); /* refusals left nothing */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM instances"), 1);
	int64_t other = vm_new(fx, fx->r1, bob, "web-1");
	int64_t there = vm_new(fx, fx->region[1].id, alice, "web-1");
	assert_true(other != id && there != id && other != there);
	struct model_instance o = vm_get(fx, other);
	assert_string_not_equal(o.ext_id, vm.ext_id);
}

/* A crash between a disk's file and its commit leaves a file under the
 * name the next disk gets (a rolled-back row id is handed out again): the
 * create replaces it. */
/* A region that is not there: ENOENT saying so, and no instance made
 * (instance_store's reason; a region id past the table and one with no
 * row). */
static void test_create_no_region(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), id = 0;
	const int64_t gone[] = {MODEL_MAX_REGIONS, MODEL_MAX_REGIONS - 1};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		struct model_err err = {0};
		assert_int_equal(model_instance_create(fx->m, gone[i], alice, "web-1", &id, &err), -ENOENT);
		assert_string_equal(err.msg, "no such region");
	}
	assert_int_equal(ut_sql_int(fx, "SELECT COUNT(*) FROM instances"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT COUNT(*) FROM instance_disks"), 0);
}

static void test_create_over_leftover(void **state)
{
	struct ut_fx *fx = *state;
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	/* (PostgreSQL never hands a sequence's number out twice, rolled back
	 * or not: there the leftover keeps a name no later disk takes.) */
	UT_SQLITE_ONLY();
	int64_t alice = ut_account(fx, "alice");
	int64_t next = ut_sql_int(fx, "SELECT seq + 1 FROM sqlite_sequence WHERE name = 'blobs'");
	char name[64];
	blob_store *s;
	blob_wblob *w = NULL;

	snprintf(name, sizeof name, "d%lld", (long long)next);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_create(s, name, NULL, 12345), 0);
	int64_t id = vm_new(fx, fx->r1, alice, "vm");
	assert_int_equal(vm_disks(fx, id, disks), 1);
	assert_string_equal(disks[0].wblob, name);
	assert_int_equal(blob_wblob_open(&w, s, name), 0);
	assert_int_equal(blob_wblob_size(w), MODEL_VM_DISK_SIZE);
	blob_wblob_close(w);
}

/* ---- remove ---------------------------------------------------------------------- */

static void test_remove(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct model_instance vm;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = vm_new(fx, fx->r1, alice, "doomed");
	int64_t blobs = ut_sql_int(fx, "SELECT count(*) FROM blobs");

	assert_int_equal(model_instance_disk_attach(fx->m, id, 1, &err), 0);
	assert_int_equal(vm_disks(fx, id, disks), 2);

	/* Running: refused, nothing changes. */
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_remove(fx->m, id, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "stop"));
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	/* A capture reading it: refused. */
	int64_t task = lt_task(fx, 0, "instance", id, "running");
	assert_int_equal(model_instance_remove(fx->m, id, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "capture"));
	assert_true(lt_wblob_exists(fx, fx->r1, disks[0].wblob));
	assert_true(lt_wblob_exists(fx, fx->r1, disks[1].wblob));
	ut_sql(fx, "UPDATE tasks SET state = 'done' WHERE id = %lld", (long long)task);

	int64_t before = lt_region_mtime(fx, fx->r1);
	assert_int_equal(model_instance_remove(fx->m, id, &err), 0);
	assert_int_equal(model_instance_get(fx->m, id, &vm), -ENOENT);
	assert_int_equal(model_instance_lookup(fx->m, fx->r1, alice, "doomed", &vm), -ENOENT);
	/* Its disks went with it: rows and files. */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM instance_disks WHERE instance_id = %lld", (long long)id), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs"), blobs - 1);
	assert_false(lt_wblob_exists(fx, fx->r1, disks[0].wblob));
	assert_false(lt_wblob_exists(fx, fx->r1, disks[1].wblob));
	assert_true(lt_region_mtime(fx, fx->r1) > before);
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_INSTANCE, id);
	assert_string_equal(ch.name, "doomed"); /* the entry that went away */
	assert_int_equal(ch.region_id, fx->r1);
	assert_int_equal(model_instance_remove(fx->m, id, &err), -ENOENT);
	/* The name is free again. */
	assert_true(vm_new(fx, fx->r1, alice, "doomed") > id);
}

/* Removing an instance built from an image changes the image's
 * `instances` file. */
static void test_remove_tells_image(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.2");
	int64_t alice = ut_account(fx, "alice");
	int64_t id = vm_new(fx, fx->r1, alice, "vm");
	char buf[256];

	assert_int_equal(model_instance_rebuild(fx->m, id, pub.id, alice, &err), 0);
	assert_int_equal(model_image_instances(fx->m, pub.id, alice, buf, sizeof buf), 3);
	assert_string_equal(buf, "vm\n");
	struct model_image mid = ut_get(fx, pub.id);
	int64_t logged = lt_changes(fx, MODEL_CHANGE_IMAGE, pub.id);
	assert_int_equal(model_instance_remove(fx->m, id, &err), 0);
	assert_int_equal(model_image_instances(fx->m, pub.id, alice, buf, sizeof buf), 0);
	struct model_image after = ut_get(fx, pub.id);
	assert_true(after.mtime_ns > mid.mtime_ns);
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_IMAGE, pub.id), logged + 1);
}

/* ---- status and system disk ------------------------------------------------------ */

static void test_status(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = vm_new(fx, fx->r1, alice, "vm");
	struct model_instance v0 = vm_get(fx, id), v;
	int64_t logged = lt_changes(fx, MODEL_CHANGE_INSTANCE, id);

	/* Stopping a stopped instance: accepted, no change at all. */
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	v = vm_get(fx, id);
	assert_int_equal(v.mtime_ns, v0.mtime_ns);
	assert_int_equal(v.ctime_ns, v0.ctime_ns);
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_INSTANCE, id), logged);

	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	v = vm_get(fx, id);
	assert_int_equal(v.status, MODEL_VM_RUNNING);
	assert_true(v.has_run);
	assert_true(v.mtime_ns > v0.mtime_ns && v.ctime_ns == v.mtime_ns);
	assert_int_equal(v.dir_mtime_ns, v0.dir_mtime_ns); /* disks/ did not change */
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_INSTANCE, id), logged + 1);
	struct model_instance v1 = v;
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(vm_get(fx, id).mtime_ns, v1.mtime_ns);

	/* A capture reading the disks: stop is fine, start is not. */
	int64_t task = lt_task(fx, 0, "instance", id, "queued");
	assert_true(model_instance_busy(fx->m, id));
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	v = vm_get(fx, id);
	assert_int_equal(v.status, MODEL_VM_STOPPED);
	assert_true(v.has_run); /* it ran once: that stays */
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "capture"));
	assert_int_equal(vm_get(fx, id).status, MODEL_VM_STOPPED);
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)task);
	assert_false(model_instance_busy(fx->m, id));

	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_INVALID, &err), -EINVAL);
	assert_int_equal(model_instance_set_status(fx->m, id, (enum model_vm_status)7, &err), -EINVAL);
	assert_int_equal(model_instance_set_status(fx->m, 424242, MODEL_VM_RUNNING, &err), -ENOENT);
}

static void test_system_disk(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = vm_new(fx, fx->r1, alice, "vm");
	struct model_instance v0 = vm_get(fx, id), v;

	assert_int_equal(model_instance_set_system_disk(fx->m, id, MODEL_TYPE_CLOUD, &err), 0);
	v = vm_get(fx, id);
	assert_int_equal(v.system_disk, MODEL_TYPE_CLOUD);
	assert_true(v.mtime_ns > v0.mtime_ns);
	assert_int_equal(lt_last_change(fx, MODEL_CHANGE_INSTANCE, id).name[0], '\0');
	/* The same value: accepted, nothing changes. */
	assert_int_equal(model_instance_set_system_disk(fx->m, id, MODEL_TYPE_CLOUD, &err), 0);
	assert_int_equal(vm_get(fx, id).mtime_ns, v.mtime_ns);
	assert_int_equal(model_instance_set_system_disk(fx->m, id, MODEL_TYPE_LOCAL | MODEL_TYPE_CLOUD, &err), -EINVAL);
	assert_int_equal(model_instance_set_system_disk(fx->m, id, 0, &err), -EINVAL);
	assert_int_equal(model_instance_set_system_disk(fx->m, id, MODEL_TYPE_LOCAL, &err), 0);

	/* Once it has run: fixed. */
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	assert_int_equal(model_instance_set_system_disk(fx->m, id, MODEL_TYPE_CLOUD, &err), -EPERM);
	assert_non_null(strstr(err.msg, "fixed"));
	assert_int_equal(vm_get(fx, id).system_disk, MODEL_TYPE_LOCAL);

	/* Once it has an image: fixed. */
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "ubuntu-14.04");
	int64_t other = vm_new(fx, fx->r1, alice, "other");
	assert_int_equal(model_instance_rebuild(fx->m, other, pub.id, alice, &err), 0);
	assert_int_equal(model_instance_set_system_disk(fx->m, other, MODEL_TYPE_CLOUD, &err), -EPERM);
	assert_int_equal(model_instance_set_system_disk(fx->m, 424242, MODEL_TYPE_CLOUD, &err), -ENOENT);
}

static void test_busy(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t a = vm_new(fx, fx->r1, alice, "a"), b = vm_new(fx, fx->r1, alice, "b");
	int64_t img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "img");

	assert_false(model_instance_busy(fx->m, a));
	int64_t t = lt_task(fx, img, "instance", a, "queued");
	assert_true(model_instance_busy(fx->m, a));
	assert_false(model_instance_busy(fx->m, b));
	ut_sql(fx, "UPDATE tasks SET state = 'running' WHERE id = %lld", (long long)t);
	assert_true(model_instance_busy(fx->m, a));
	ut_sql(fx, "UPDATE tasks SET state = 'error' WHERE id = %lld", (long long)t);
	assert_false(model_instance_busy(fx->m, a));
	/* A task reading an image with the same row id is not about instances. */
	lt_task(fx, img, "image", a, "running");
	assert_false(model_instance_busy(fx->m, a));
}

/* ---- data disks ------------------------------------------------------------------ */

static void test_attach_detach(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct model_blob b;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = vm_new(fx, fx->r1, alice, "vm");
	struct model_instance v0 = vm_get(fx, id), v;

	assert_int_equal(model_instance_disk_attach(fx->m, id, 1, &err), 0);
	assert_int_equal(vm_disks(fx, id, disks), 2);
	assert_string_equal(disks[1].name, "vdb");
	assert_int_equal(disks[1].index, 1);
	assert_int_equal(model_blob_get(fx->m, disks[1].blob_id, &b), 0);
	assert_int_equal(b.size, 0); /* its size is set by truncate */
	assert_true(lt_wblob_exists(fx, fx->r1, disks[1].wblob));
	v = vm_get(fx, id);
	assert_true(v.dir_mtime_ns > v0.dir_mtime_ns);
	assert_int_equal(lt_last_change(fx, MODEL_CHANGE_INSTANCE, id).name[0], '\0');

	/* vdz, the last; listed in index order. */
	assert_int_equal(model_instance_disk_attach(fx->m, id, 25, &err), 0);
	assert_int_equal(model_instance_disk_attach(fx->m, id, 3, &err), 0);
	assert_int_equal(vm_disks(fx, id, disks), 4);
	assert_string_equal(disks[2].name, "vdd");
	assert_string_equal(disks[3].name, "vdz");

	/* Refusals change nothing. */
	int64_t rows = ut_sql_int(fx, "SELECT count(*) FROM blobs");
	assert_int_equal(model_instance_disk_attach(fx->m, id, 1, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "vdb"));
	assert_int_equal(model_instance_disk_attach(fx->m, id, 0, &err), -EEXIST);
	assert_int_equal(model_instance_disk_attach(fx->m, id, MODEL_VM_CDROM, &err), -EPERM); /* §16: by image */
	assert_non_null(strstr(err.msg, "ISO"));
	assert_int_equal(model_instance_disk_attach(fx->m, id, MODEL_VM_CIDATA, &err), -EPERM); /* by password */
	assert_non_null(strstr(err.msg, "password"));
	assert_int_equal(model_instance_disk_attach(fx->m, id, MODEL_VM_SLOTS, &err), -EINVAL);
	assert_int_equal(model_instance_disk_attach(fx->m, id, -1, &err), -EINVAL);
	assert_int_equal(model_instance_disk_attach(fx->m, 424242, 2, &err), -ENOENT);
	int64_t task = lt_task(fx, 0, "instance", id, "running");
	assert_int_equal(model_instance_disk_attach(fx->m, id, 2, &err), -EBUSY);
	assert_int_equal(model_instance_disk_detach(fx->m, id, 1, &err), -EBUSY);
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)task);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs"), rows);

	/* Hot plug: attaching to a running instance is fine, detaching is not. */
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_disk_attach(fx->m, id, 2, &err), 0);
	assert_int_equal(model_instance_disk_detach(fx->m, id, 2, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "running"));
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);

	assert_int_equal(model_instance_disk_detach(fx->m, id, 0, &err), -EPERM);
	assert_int_equal(model_instance_disk_detach(fx->m, id, 4, &err), -ENOENT);
	assert_int_equal(model_instance_disk_detach(fx->m, id, MODEL_VM_CDROM, &err), -ENOENT); /* none in */
	assert_non_null(strstr(err.msg, "cdrom"));
	assert_int_equal(model_instance_disk_detach(fx->m, id, MODEL_VM_SLOTS, &err), -EINVAL);
	assert_int_equal(vm_disks(fx, id, disks), 5);
	char gone[64];
	snprintf(gone, sizeof gone, "%s", disks[1].wblob); /* vdb */
	int64_t gone_blob = disks[1].blob_id;
	v0 = vm_get(fx, id);
	assert_int_equal(model_instance_disk_detach(fx->m, id, 1, &err), 0);
	assert_false(lt_wblob_exists(fx, fx->r1, gone));
	assert_int_equal(model_blob_get(fx->m, gone_blob, &b), -ENOENT);
	assert_int_equal(vm_disks(fx, id, disks), 4);
	assert_string_equal(disks[1].name, "vdc");
	assert_true(vm_get(fx, id).dir_mtime_ns > v0.dir_mtime_ns);
	assert_int_equal(model_instance_disk_detach(fx->m, id, 1, &err), -ENOENT);
	/* Attach again: a new blob and a new file. */
	assert_int_equal(model_instance_disk_attach(fx->m, id, 1, &err), 0);
	assert_int_equal(vm_disks(fx, id, disks), 5);
	assert_true(disks[1].blob_id > gone_blob);
}

static void test_disk_touch(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct model_blob b0, b;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = vm_new(fx, fx->r1, alice, "vm");

	assert_int_equal(model_instance_disk_attach(fx->m, id, 1, &err), 0);
	assert_int_equal(vm_disks(fx, id, disks), 2);
	assert_int_equal(model_blob_get(fx->m, disks[1].blob_id, &b0), 0);
	struct model_instance v0 = vm_get(fx, id);
	int64_t logged = lt_changes(fx, MODEL_CHANGE_INSTANCE, id);

	assert_int_equal(model_instance_disk_touch(fx->m, disks[1].blob_id, 3 * LT_MiB, LT_MiB), 0);
	assert_int_equal(model_blob_get(fx->m, disks[1].blob_id, &b), 0);
	assert_int_equal(b.size, 3 * LT_MiB);
	assert_int_equal(b.stored, LT_MiB);
	assert_true(b.mtime_ns > b0.mtime_ns);
	struct model_instance v = vm_get(fx, id);
	assert_true(v.ctime_ns > v0.ctime_ns);
	assert_int_equal(v.mtime_ns, v0.mtime_ns);         /* no attribute changed */
	assert_int_equal(v.dir_mtime_ns, v0.dir_mtime_ns); /* nor an entry */
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_INSTANCE, id), logged + 1);
	assert_int_equal(vm_disks(fx, id, disks), 2);
	assert_int_equal(disks[1].mtime_ns, b.mtime_ns);

	/* Not an instance disk: a sealed blob, or none. */
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-6.9");
	struct model_device devs[MODEL_MAX_DEVICES];
	assert_int_equal(model_device_list(fx->m, pub.id, devs), 1);
	assert_int_equal(model_instance_disk_touch(fx->m, devs[0].blob_id, 1, 1), -ENOENT);
	assert_int_equal(model_blob_get(fx->m, devs[0].blob_id, &b), 0);
	assert_true(b.sealed && b.size > 1);
	assert_int_equal(model_instance_disk_touch(fx->m, 424242, 1, 1), -ENOENT);
}

/* ---- rebuild --------------------------------------------------------------------- */

static void test_rebuild_public(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	int64_t alice = ut_account(fx, "alice");
	int64_t id = vm_new(fx, fx->r1, alice, "web");
	char buf[256];

	assert_int_equal(model_instance_disk_attach(fx->m, id, 1, &err), 0);
	assert_int_equal(vm_disks(fx, id, disks), 2);
	struct model_vm_disk old_vda = disks[0], vdb = disks[1];
	struct model_instance v0 = vm_get(fx, id);
	int64_t img_logged = lt_changes(fx, MODEL_CHANGE_IMAGE, pub.id);

	assert_int_equal(model_instance_rebuild(fx->m, id, pub.id, alice, &err), 0);
	struct model_instance v = vm_get(fx, id);
	assert_int_equal(v.image_id, pub.id);
	assert_true(v.dir_mtime_ns > v0.dir_mtime_ns && v.mtime_ns > v0.mtime_ns && v.ctime_ns > v0.ctime_ns);
	assert_int_equal(vm_disks(fx, id, disks), 2);
	/* vda is new; its bytes are the image's, by reference. */
	assert_true(disks[0].blob_id != old_vda.blob_id);
	assert_false(lt_wblob_exists(fx, fx->r1, old_vda.wblob));
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)old_vda.blob_id), 0);
	assert_int_equal(model_device_list(fx->m, pub.id, devs), 1);
	lt_assert_wblob_is_blob(fx, fx->r1, disks[0].wblob, devs[0].blob_id);
	struct model_blob b;
	assert_int_equal(model_blob_get(fx->m, disks[0].blob_id, &b), 0);
	assert_int_equal(b.size, pub.size);
	/* The data disk stays as it was. */
	assert_int_equal(disks[1].blob_id, vdb.blob_id);
	assert_string_equal(disks[1].wblob, vdb.wblob);
	/* The image lists the instance, and its `instances` file changed. */
	assert_int_equal(model_image_instances(fx->m, pub.id, alice, buf, sizeof buf), 4);
	assert_string_equal(buf, "web\n");
	assert_true(ut_get(fx, pub.id).mtime_ns > pub.mtime_ns);
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_IMAGE, pub.id), img_logged + 1);
	/* Its stored bytes are the image's: nothing was written yet. */
	assert_int_equal(b.stored, ut_sql_int(fx, "SELECT stored FROM blobs WHERE id = %lld", (long long)devs[0].blob_id));

	/* Writing to the new disk changes the instance's copy only. */
	blob_store *s;
	blob_wblob *w = NULL;
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_wblob_open(&w, s, disks[0].wblob), 0);
	assert_int_equal(blob_wblob_pwrite(w, "guest", 5, 0), 5);
	blob_wblob_close(w);
	uint8_t first[5];
	blob_manifest *man = NULL;
	assert_int_equal(model_blob_manifest(fx->m, devs[0].blob_id, &man), 0);
	assert_int_equal(blob_store_read(s, man, first, 5, 0), 5);
	assert_memory_not_equal(first, "guest", 5);
	blob_manifest_free(man);

	/* Rebuilt again from another image: the first one lists it no more. */
	struct model_image other = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "ubuntu-16.04");
	struct model_vm_disk first_vda = disks[0];
	assert_int_equal(model_instance_rebuild(fx->m, id, other.id, alice, &err), 0);
	assert_int_equal(model_image_instances(fx->m, pub.id, alice, buf, sizeof buf), 0);
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_IMAGE, pub.id), img_logged + 2);
	assert_false(lt_wblob_exists(fx, fx->r1, first_vda.wblob));
	assert_int_equal(vm_disks(fx, id, disks), 2);
	assert_int_equal(model_device_list(fx->m, other.id, devs), 1);
	lt_assert_wblob_is_blob(fx, fx->r1, disks[0].wblob, devs[0].blob_id);

	/* Marketplace images build instances too (their blobs are only not
	 * readable through the mount). */
	struct model_image mk;
	int64_t mk_id = ut_sql_int(fx, "SELECT min(id) FROM images WHERE region_id = %lld AND folder = %d",
	                           (long long)fx->r1, (int)MODEL_FOLDER_MARKETPLACE);
	assert_int_equal(model_image_get(fx->m, mk_id, &mk), 0);
	int64_t vm2 = vm_new(fx, fx->r1, alice, "from-market");
	assert_int_equal(model_instance_rebuild(fx->m, vm2, mk.id, alice, &err), 0);
}

/* A cloud image: vda is a snapshot, and data-disk snapshots become data
 * disks at their indexes, replacing those there; other data disks stay. */
static void test_rebuild_snapshots(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int64_t alice = ut_account(fx, "alice");
	int64_t root = lt_tagged_blob(fx, fx->r1, "root", 4 * LT_MiB);
	int64_t data = lt_tagged_blob(fx, fx->r1, "data", 3 * LT_MiB);
	int64_t s_root = lt_snapshot(fx, fx->r1, alice, "snap-00000001", root, MODEL_SNAP_AVAILABLE);
	int64_t s_data = lt_snapshot(fx, fx->r1, alice, "snap-00000002", data, MODEL_SNAP_AVAILABLE);
	int64_t img = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden");
	lt_device(fx, img, 0, root, s_root);
	lt_device(fx, img, 2, data, s_data);
	lt_available(fx, img, MODEL_TYPE_CLOUD);

	int64_t id = vm_new(fx, fx->r1, alice, "vm");
	/* A local system disk cannot take a cloud image. */
	assert_int_equal(model_instance_rebuild(fx->m, id, img, alice, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cloud"));
	assert_int_equal(model_instance_set_system_disk(fx->m, id, MODEL_TYPE_CLOUD, &err), 0);
	assert_int_equal(model_instance_disk_attach(fx->m, id, 1, &err), 0);
	assert_int_equal(model_instance_disk_attach(fx->m, id, 2, &err), 0);
	assert_int_equal(vm_disks(fx, id, disks), 3);
	struct model_vm_disk vdb = disks[1], old_vdc = disks[2];

	assert_int_equal(model_instance_rebuild(fx->m, id, img, alice, &err), 0);
	assert_int_equal(vm_disks(fx, id, disks), 3);
	lt_assert_wblob_is_blob(fx, fx->r1, disks[0].wblob, root);
	assert_int_equal(disks[1].blob_id, vdb.blob_id);
	assert_string_equal(disks[2].name, "vdc");
	assert_true(disks[2].blob_id != old_vdc.blob_id);
	assert_false(lt_wblob_exists(fx, fx->r1, old_vdc.wblob));
	lt_assert_wblob_is_blob(fx, fx->r1, disks[2].wblob, data);

	/* The image cannot go while the instance exists (§6.5). */
	assert_int_equal(model_image_remove(fx->m, img, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "vm"));
}

/* Every refusal of §6.5, each leaving the instance as it was. */
static void test_rebuild_refusals(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk before[MODEL_VM_SLOTS], after[MODEL_VM_SLOTS];
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t id = vm_new(fx, fx->r1, alice, "vm");
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.3");
	struct model_image far = ut_platform(fx, fx->region[1].id, MODEL_FOLDER_PUBLIC, "centos-7.3");
	int64_t bobs = lt_local_image(fx, fx->r1, bob, "bobs", 2 * LT_MiB);
	int64_t mine = lt_local_image(fx, fx->r1, alice, "mine", 2 * LT_MiB);
	int64_t queued = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "queued");
	int64_t iso = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "install");
	int64_t qcow = lt_local_image(fx, fx->r1, alice, "qcow", 2 * LT_MiB);
	int64_t binned = lt_local_image(fx, fx->r1, alice, "binned", 2 * LT_MiB);
	int n = vm_disks(fx, id, before);

	ut_sql(fx, "UPDATE images SET format = 'qcow2' WHERE id = %lld", (long long)qcow);
	lt_device(fx, iso, 26, lt_tagged_blob(fx, fx->r1, "iso", LT_MiB), 0); /* still queued */
	assert_int_equal(model_image_remove(fx->m, binned, &err), 0); /* to the recycle bin */

	struct {
		int64_t vm, image, account;
		int want;
		const char *why;
	} cases[] = {
		{id, pub.id, bob, -ENOENT, "instance"},    /* another account's instance */
		{424242, pub.id, alice, -ENOENT, "instance"},
		{id, 424242, alice, -ENOENT, "image"},
		{id, bobs, alice, -ENOENT, "image"},      /* not shared with alice */
		{id, far.id, alice, -ENOENT, "image"},    /* another region's */
		{id, binned, alice, -ENOENT, "image"},    /* in the recycle bin */
		{id, iso, alice, -EINVAL, "queued"},      /* an ISO image, not available (§16) */
		{id, queued, alice, -EINVAL, "queued"},
		{id, qcow, alice, -EINVAL, "QCOW2"},      /* marked qcow2, not a decodable file */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&err, 0, sizeof err);
		int rc = model_instance_rebuild(fx->m, cases[i].vm, cases[i].image, cases[i].account, &err);
		if (rc != cases[i].want)
			fail_msg("case %zu: %d, want %d (%s)", i, rc, cases[i].want, err.msg);
		if (!strstr(err.msg, cases[i].why))
			fail_msg("case %zu: reason \"%s\" does not mention %s", i, err.msg, cases[i].why);
	}
	/* A local image, a cloud system disk. */
	assert_int_equal(model_instance_set_system_disk(fx->m, id, MODEL_TYPE_CLOUD, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, id, mine, alice, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "conversion"));
	assert_int_equal(model_instance_set_system_disk(fx->m, id, MODEL_TYPE_LOCAL, &err), 0);
	/* Running; a capture reading it. */
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_RUNNING, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, id, mine, alice, &err), -EBUSY);
	assert_int_equal(model_instance_set_status(fx->m, id, MODEL_VM_STOPPED, &err), 0);
	int64_t task = lt_task(fx, 0, "instance", id, "queued");
	assert_int_equal(model_instance_rebuild(fx->m, id, mine, alice, &err), -EBUSY);
	ut_sql(fx, "DELETE FROM tasks WHERE id = %lld", (long long)task);

	/* Nothing changed. */
	assert_int_equal(vm_get(fx, id).image_id, 0);
	assert_int_equal(vm_disks(fx, id, after), n);
	assert_int_equal(after[0].blob_id, before[0].blob_id);
	assert_true(lt_wblob_exists(fx, fx->r1, before[0].wblob));

	/* Shared with alice: usable; her own: usable. */
	ut_force_share(fx, bobs, alice);
	assert_int_equal(model_instance_rebuild(fx->m, id, bobs, alice, &err), 0);
	assert_int_equal(vm_get(fx, id).image_id, bobs);
	assert_int_equal(model_instance_rebuild(fx->m, id, mine, alice, &err), 0);
	assert_int_equal(vm_get(fx, id).image_id, mine);
}

/* §8: the instances quota, per account and region, a family's counted
 * together under its main account's limit; a refusal makes nothing and a
 * removal gives the place back. */
static void test_quota(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_quota q[MODEL_QUOTA_COUNT];
	int64_t acme, dev;

	struct model_account a;
	assert_int_equal(model_account_create(fx->m, "acme", -1, false, NULL, &err), 0);
	assert_int_equal(model_account_create(fx->m, "dev", -1, false, "acme", &err), 0);
	assert_int_equal(model_account_by_name(fx->m, "acme", &a), 0);
	acme = a.id;
	assert_int_equal(model_account_by_name(fx->m, "dev", &a), 0);
	dev = a.id;
	assert_int_equal(model_quota_set(fx->m, "acme", ut_region_names[0], "instances", 3, &err), 0);
	vm_new(fx, fx->r1, acme, "a1");
	int64_t d1 = vm_new(fx, fx->r1, dev, "d1");
	vm_new(fx, fx->r1, dev, "d2");
	assert_int_equal(model_quota_list(fx->m, dev, fx->r1, q), MODEL_QUOTA_COUNT - 1);
	assert_int_equal(q[MODEL_QUOTA_INSTANCES - 1].key, MODEL_QUOTA_INSTANCES);
	assert_int_equal(q[MODEL_QUOTA_INSTANCES - 1].used, 3);
	assert_int_equal(q[MODEL_QUOTA_INSTANCES - 1].own, 2);
	assert_int_equal(q[MODEL_QUOTA_INSTANCES - 1].limit, 3);

	int64_t blobs = ut_sql_int(fx, "SELECT count(*) FROM blobs");
	assert_int_equal(model_instance_create(fx->m, fx->r1, acme, "a2", NULL, &err), -EDQUOT);
	assert_string_equal(err.msg, "quota instances is 3 of 3");
	assert_int_equal(model_instance_create(fx->m, fx->r1, dev, "d3", NULL, &err), -EDQUOT);
	assert_non_null(strstr(err.msg, "quota instances is 3 of 3 (main account acme's"));
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM instances"), 3);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs"), blobs); /* no disk left behind */

	/* Another region has its own count and the default limit. */
	vm_new(fx, fx->region[1].id, dev, "d3");
	assert_int_equal(model_quota_list(fx->m, acme, fx->region[1].id, q), MODEL_QUOTA_COUNT - 1);
	assert_int_equal(q[MODEL_QUOTA_INSTANCES - 1].used, 1);
	assert_int_equal(q[MODEL_QUOTA_INSTANCES - 1].limit, 20);

	/* A removal gives the family its place back. */
	assert_int_equal(model_instance_remove(fx->m, d1, &err), 0);
	vm_new(fx, fx->r1, acme, "a2");
	assert_int_equal(model_instance_create(fx->m, fx->r1, dev, "d4", NULL, &err), -EDQUOT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_create_over_leftover, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_create_no_region, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_quota, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove_tells_image, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_status, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_system_disk, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_busy, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_attach_detach, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_disk_touch, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_public, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_snapshots, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_refusals, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

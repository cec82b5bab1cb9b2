/*
 * test_recycle.c — unit tests for model/meta/recycle.c, images deleted (SPEC
 * §6.1, seed 004 §4.5): rmdir of a private or ISO image moves it into the
 * recycle bin (or removes a queued one), with every busy rule; restore
 * (names, quota, back to the folder it came from); destroy (its snapshots
 * go unless another image references them); expiry after the retention
 * period; what the bin does to quotas and to shared/ views of other
 * accounts; and what stays editable there (§16: remarks and names).
 */
#include "model/lifecycle_test.h"

static int64_t private_count(struct ut_fx *fx, int64_t account_id)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	int n = model_quota_list(fx->m, account_id, fx->r1, q);

	for (int i = 0; i < n; i++)
		if (q[i].key == MODEL_QUOTA_PRIVATE_IMAGES)
			return q[i].used;
	fail_msg("no private-images quota");
	return -1;
}

static int count_cb(void *arg, const struct model_image *img)
{
	(void)img;
	(*(int *)arg)++;
	return 0;
}

static int listed(struct ut_fx *fx, int64_t account_id, enum model_folder f)
{
	int n = 0;

	assert_int_equal(model_image_list(fx->m, fx->r1, account_id, f, 0, count_cb, &n), 0);
	return n;
}

static int listed_shared(struct ut_fx *fx, int64_t account_id)
{
	int n = 0;

	assert_int_equal(model_image_list_shared(fx->m, fx->r1, account_id, 0, count_cb, &n), 0);
	return n;
}

/* ---- into the bin ------------------------------------------------------------------ */

static void test_remove_to_recycle(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", 2 * LT_MiB);
	struct model_image before = ut_get(fx, id);
	/* The model's clock: time() reads a coarse clock that may lag it. */
	int64_t region_before = lt_region_mtime(fx, fx->r1), t0 = model_now_ns() / 1000000000;

	assert_int_equal(private_count(fx, alice), 1);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	img = ut_get(fx, id);
	assert_int_equal(img.folder, MODEL_FOLDER_RECYCLE);
	assert_int_equal(img.status, MODEL_IMG_DELETED);
	assert_string_equal(img.name, "golden");
	assert_true(img.deleted_at >= t0 && img.deleted_at <= model_now_ns() / 1000000000);
	assert_int_equal(img.progress, before.progress);
	assert_true(img.mtime_ns > before.mtime_ns && img.ctime_ns > before.ctime_ns);
	assert_true(img.dir_mtime_ns > before.dir_mtime_ns); /* `expires` appeared */
	assert_int_equal(ut_sql_int(fx, "SELECT prior_status FROM images WHERE id = %lld", (long long)id),
	                 MODEL_IMG_AVAILABLE);
	/* Listed in recycle-bin/, no longer in private/, not counted (§6.1). */
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_PRIVATE), 0);
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 1);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_RECYCLE, "golden", &img), 0);
	assert_int_equal(private_count(fx, alice), 0);
	/* Its data is kept; mounts hear where it was listed. */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM devices WHERE image_id = %lld", (long long)id), 1);
	assert_true(lt_region_mtime(fx, fx->r1) > region_before);
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_IMAGE, id);
	assert_int_equal(ch.folder, MODEL_FOLDER_PRIVATE);
	assert_string_equal(ch.name, "golden");

	/* The name is free in private/ again; a second image of that name in
	 * the bin is refused while the first is there. */
	int64_t again = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	int64_t changes = ut_sql_int(fx, "SELECT count(*) FROM changes");
	assert_int_equal(model_image_remove(fx->m, again, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "recycle-bin already holds an image named golden"));
	assert_int_equal(ut_get(fx, again).folder, MODEL_FOLDER_PRIVATE);
	assert_int_equal(ut_get(fx, again).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM changes"), changes);
}

static void test_remove_error_and_queued_and_iso(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	int64_t alice = ut_account(fx, "alice");
	int64_t bad = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "bad");
	int64_t queued = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "queued");
	int64_t iso = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "install");
	int64_t iso_blob = lt_tagged_blob(fx, fx->r1, "install", LT_MiB);

	/* An image in error can be removed (§4): to the bin, and back in error. */
	ut_force_status(fx, bad, MODEL_IMG_ERROR);
	assert_int_equal(model_image_remove(fx->m, bad, &err), 0);
	assert_int_equal(ut_get(fx, bad).folder, MODEL_FOLDER_RECYCLE);
	assert_int_equal(model_image_restore(fx->m, bad, MODEL_FOLDER_PRIVATE, "bad", &err), 0);
	assert_int_equal(ut_get(fx, bad).status, MODEL_IMG_ERROR);

	/* A queued image holds nothing: removed outright. */
	assert_int_equal(model_image_remove(fx->m, queued, &err), 0);
	assert_int_equal(model_image_get(fx->m, queued, &img), -ENOENT);
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 0);

	/* An ISO image goes to the bin like a private one (§16), its data
	 * kept; a destroy then takes its blob too. */
	lt_device(fx, iso, 26, iso_blob, 0);
	lt_available(fx, iso, MODEL_TYPE_LOCAL);
	assert_int_equal(model_image_remove(fx->m, iso, &err), 0);
	img = ut_get(fx, iso);
	assert_int_equal(img.folder, MODEL_FOLDER_RECYCLE);
	assert_int_equal(img.status, MODEL_IMG_DELETED);
	assert_int_equal(ut_sql_int(fx, "SELECT prior_folder FROM images WHERE id = %lld", (long long)iso),
	                 MODEL_FOLDER_ISO);
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_ISO), 0);
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 1);
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_IMAGE, iso);
	assert_int_equal(ch.folder, MODEL_FOLDER_ISO);
	assert_string_equal(ch.name, "install");
	assert_int_equal(model_image_destroy(fx->m, iso, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_get(fx->m, iso, &img), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM devices WHERE image_id = %lld", (long long)iso), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)iso_blob), 0);
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 0);
}

/* A second delete of an image already in the recycle bin (another mount's
 * rmdir of the same private/x got there first) is ENOENT and changes
 * nothing: the image stays in the bin, deleted, its data kept, no destroy
 * queued.  Only an rmdir in recycle-bin/ destroys (issue 36). */
static void test_remove_twice_never_destroys(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", 2 * LT_MiB);

	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	struct model_image binned = ut_get(fx, id);
	int64_t changes = ut_sql_int(fx, "SELECT count(*) FROM changes");
	int64_t tasks = ut_sql_int(fx, "SELECT count(*) FROM tasks");

	memset(&err, 0, sizeof(err));
	assert_int_equal(model_image_remove(fx->m, id, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "golden is in the recycle bin already"));
	struct model_image img = ut_get(fx, id);
	assert_int_equal(img.folder, MODEL_FOLDER_RECYCLE);
	assert_int_equal(img.status, MODEL_IMG_DELETED);
	assert_int_equal(img.mtime_ns, binned.mtime_ns);
	assert_int_equal(img.dir_gen, binned.dir_gen);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM changes"), changes);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM tasks"), tasks);
	assert_int_equal(lt_run_tasks(fx), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM devices WHERE image_id = %lld", (long long)id), 1);
	/* It is still the bin's to restore or destroy. */
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "golden", &err), 0);
	assert_int_equal(ut_get(fx, id).status, MODEL_IMG_AVAILABLE);
}

/* Every reason an image cannot be deleted now (§6.1), each refused with
 * EBUSY and its own reason, changing nothing. */
static void test_remove_busy(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", 2 * LT_MiB);
	int64_t vm = 0, bobs_vm = 0;

	/* Alice's own instance: named. */
	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "web-7", &vm, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, vm, id, alice, &err), 0);
	assert_int_equal(model_image_remove(fx->m, id, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "instance web-7 was created from it"));
	/* Bob's, from the image shared with him: not named. */
	ut_force_share(fx, id, bob);
	assert_int_equal(model_instance_create(fx->m, fx->r1, bob, "secret-name", &bobs_vm, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, bobs_vm, id, bob, &err), 0);
	assert_int_equal(model_instance_remove(fx->m, vm, &err), 0);
	assert_int_equal(model_image_remove(fx->m, id, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "another account"));
	assert_null(strstr(err.msg, "secret-name"));
	assert_int_equal(model_instance_remove(fx->m, bobs_vm, &err), 0);

	/* A task making it, or reading it. */
	int64_t t = lt_task(fx, id, "", 0, "queued");
	assert_int_equal(model_image_remove(fx->m, id, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "task"));
	ut_sql(fx, "UPDATE tasks SET image_id = 0, source_kind = 'image', source_id = %lld, state = 'running' "
	           "WHERE id = %lld", (long long)id, (long long)t);
	assert_int_equal(model_image_remove(fx->m, id, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "task"));
	/* A task reading an instance whose row id happens to be the image's
	 * holds nothing. */
	ut_sql(fx, "UPDATE tasks SET source_kind = 'instance' WHERE id = %lld", (long long)t);

	/* In a transition a task drives. */
	enum model_image_status busy[] = {MODEL_IMG_PENDING, MODEL_IMG_REPLICATING, MODEL_IMG_UPLOADING};
	for (size_t i = 0; i < sizeof busy / sizeof busy[0]; i++) {
		ut_force_status(fx, id, busy[i]);
		assert_int_equal(model_image_remove(fx->m, id, &err), -EBUSY);
		assert_non_null(strstr(err.msg, model_image_status_name(busy[i])));
	}
	assert_int_equal(ut_get(fx, id).folder, MODEL_FOLDER_PRIVATE);
	ut_force_status(fx, id, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
}

static void test_remove_platform(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	int64_t mk = ut_sql_int(fx, "SELECT min(id) FROM images WHERE folder = %d", (int)MODEL_FOLDER_MARKETPLACE);

	assert_int_equal(model_image_remove(fx->m, pub.id, &err), -EPERM);
	assert_int_equal(model_image_remove(fx->m, mk, &err), -EPERM);
	assert_int_equal(model_image_destroy(fx->m, pub.id, &err), -EPERM);
	assert_int_equal(model_image_restore(fx->m, pub.id, MODEL_FOLDER_PRIVATE, "x", &err), -EPERM);
	assert_int_equal(ut_get(fx, pub.id).folder, MODEL_FOLDER_PUBLIC);
	assert_int_equal(model_image_remove(fx->m, 424242, &err), -ENOENT);
}

/* ---- restore ---------------------------------------------------------------------- */

static void test_restore(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", 2 * LT_MiB);

	/* Not in the bin. */
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "golden", &err), -EPERM);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	struct model_image binned = ut_get(fx, id);

	/* Refusals: a bad name, a taken name, the quota. */
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "-bad", &err), -EINVAL);
	int64_t taken = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden");
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "golden", &err), -EEXIST);
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof name, "filler-%d", i);
		ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, name);
	}
	assert_int_equal(private_count(fx, alice), 5);
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "golden-2", &err), -EDQUOT);
	struct model_image still = ut_get(fx, id);
	assert_int_equal(still.folder, MODEL_FOLDER_RECYCLE);
	assert_int_equal(still.ctime_ns, binned.ctime_ns);

	/* Room again: back under a new name, as it was. */
	assert_int_equal(model_image_remove(fx->m, taken, &err), 0); /* queued: gone */
	int64_t region_before = lt_region_mtime(fx, fx->r1);
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "golden-2", &err), 0);
	struct model_image img = ut_get(fx, id);
	assert_int_equal(img.folder, MODEL_FOLDER_PRIVATE);
	assert_string_equal(img.name, "golden-2");
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_int_equal(img.deleted_at, 0);
	assert_int_equal(ut_sql_int(fx, "SELECT prior_status FROM images WHERE id = %lld", (long long)id), 0);
	assert_true(img.mtime_ns > binned.mtime_ns && img.dir_mtime_ns > binned.dir_mtime_ns);
	assert_true(lt_region_mtime(fx, fx->r1) > region_before);
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_IMAGE, id);
	assert_int_equal(ch.folder, MODEL_FOLDER_RECYCLE);
	assert_string_equal(ch.name, "golden");
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 0);
	assert_int_equal(private_count(fx, alice), 5);
}

/* An image put into the bin behind the model's back (no prior status)
 * comes back available when it has a system disk, in error otherwise. */
static void test_restore_without_prior_status(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t full = lt_local_image(fx, fx->r1, alice, "full", LT_MiB);
	int64_t empty = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "empty");

	ut_force_recycle(fx, full, time(NULL));
	ut_force_recycle(fx, empty, time(NULL));
	assert_int_equal(model_image_restore(fx->m, full, MODEL_FOLDER_PRIVATE, "full", &err), 0);
	assert_int_equal(model_image_restore(fx->m, empty, MODEL_FOLDER_PRIVATE, "empty", &err), 0);
	assert_int_equal(ut_get(fx, full).status, MODEL_IMG_AVAILABLE);
	assert_int_equal(ut_get(fx, empty).status, MODEL_IMG_ERROR);
}

/* An ISO image comes back to iso/ only, whatever private/'s quota says; a
 * private image to private/ only (§16).  A private and an ISO image of one
 * name cannot both be in the bin. */
static void test_restore_iso(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t iso = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "install");
	int64_t priv = lt_local_image(fx, fx->r1, alice, "install", LT_MiB);

	lt_device(fx, iso, 26, lt_tagged_blob(fx, fx->r1, "install", LT_MiB), 0);
	lt_available(fx, iso, MODEL_TYPE_LOCAL);
	assert_int_equal(model_image_remove(fx->m, iso, &err), 0);
	assert_int_equal(model_image_remove(fx->m, priv, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "recycle-bin already holds an image named install"));
	assert_int_equal(ut_get(fx, priv).folder, MODEL_FOLDER_PRIVATE);

	/* To private/: refused, saying where it goes, changing nothing. */
	struct model_image binned = ut_get(fx, iso);
	assert_int_equal(model_image_restore(fx->m, iso, MODEL_FOLDER_PRIVATE, "disc", &err), -EPERM);
	assert_string_equal(err.msg, "install was an ISO image: restore it to iso/");
	assert_int_equal(ut_get(fx, iso).ctime_ns, binned.ctime_ns);
	assert_int_equal(ut_get(fx, iso).folder, MODEL_FOLDER_RECYCLE);

	/* iso/ has no quota: a full private-images changes nothing. */
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof name, "filler-%d", i);
		ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, name);
	}
	assert_int_equal(private_count(fx, alice), 5);
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "taken");
	assert_int_equal(model_image_restore(fx->m, iso, MODEL_FOLDER_ISO, "taken", &err), -EEXIST);
	assert_int_equal(model_image_restore(fx->m, iso, MODEL_FOLDER_ISO, "install", &err), 0);
	struct model_image img = ut_get(fx, iso);
	assert_int_equal(img.folder, MODEL_FOLDER_ISO);
	assert_string_equal(img.name, "install");
	assert_int_equal(img.status, MODEL_IMG_AVAILABLE);
	assert_int_equal(ut_sql_int(fx, "SELECT prior_folder FROM images WHERE id = %lld", (long long)iso), 0);
	assert_int_equal(private_count(fx, alice), 5);

	/* And a private image never goes to iso/. */
	assert_int_equal(model_image_remove(fx->m, priv, &err), 0);
	assert_int_equal(model_image_restore(fx->m, priv, MODEL_FOLDER_ISO, "install-2", &err), -EPERM);
	assert_string_equal(err.msg, "install was a private image: restore it to private/");
	assert_int_equal(ut_get(fx, priv).folder, MODEL_FOLDER_RECYCLE);
}

/* ---- what the bin keeps editable (§16, seed 004 §4.6) ---------------------------- */

/* description, tags and project are written in the bin as anywhere, with
 * the same checks, each with its own time; a restore keeps them. */
static void test_bin_remarks(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);

	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	struct model_image before = ut_get(fx, id);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, "kept for the audit\n", &err), 0);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_TAGS, "env=old\n", &err), 0);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_PROJECT, "billing", &err), 0);
	struct model_image img = ut_get(fx, id);
	assert_string_equal(img.description, "kept for the audit\n");
	assert_string_equal(img.tags, "env=old\n");
	assert_string_equal(img.project, "billing");
	assert_true(img.description_ns > before.ctime_ns && img.tags_ns > before.ctime_ns &&
	            img.project_ns > before.ctime_ns);
	assert_int_equal(img.folder, MODEL_FOLDER_RECYCLE);
	assert_int_equal(img.status, MODEL_IMG_DELETED);
	assert_int_equal(img.deleted_at, before.deleted_at); /* expires does not move */
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_IMAGE, id);
	assert_int_equal(ch.folder, MODEL_FOLDER_RECYCLE);

	/* The same refusals as outside the bin. */
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_TAGS, "no equals sign", &err), -EINVAL);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_PROJECT, "two\nlines", &err), -EINVAL);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_INVALID, "x", &err), -EPERM);
	assert_string_equal(ut_get(fx, id).tags, "env=old\n");

	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "golden", &err), 0);
	img = ut_get(fx, id);
	assert_string_equal(img.description, "kept for the audit\n");
	assert_string_equal(img.tags, "env=old\n");
	assert_string_equal(img.project, "billing");

	/* Platform images still never change. */
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	assert_int_equal(model_image_set(fx->m, pub.id, MODEL_FIELD_DESCRIPTION, "x", &err), -EPERM);
}

/* mv recycle-bin/<a> recycle-bin/<b>: §10's names, never replacing; a
 * restore then takes the new name. */
static void test_bin_rename(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	int64_t other = lt_local_image(fx, fx->r1, alice, "other", LT_MiB);
	int64_t bobs = lt_local_image(fx, fx->r1, bob, "bobs", LT_MiB);

	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	assert_int_equal(model_image_remove(fx->m, other, &err), 0);
	assert_int_equal(model_image_remove(fx->m, bobs, &err), 0);
	struct model_image before = ut_get(fx, id);

	assert_int_equal(model_image_rename(fx->m, id, "other", &err), -EEXIST);
	assert_non_null(strstr(err.msg, "an image named other exists"));
	assert_int_equal(model_image_rename(fx->m, id, "-bad", &err), -EINVAL);
	assert_int_equal(model_image_rename(fx->m, id, "a/b", &err), -EINVAL);
	assert_int_equal(model_image_rename(fx->m, id, "", &err), -EINVAL);
	assert_string_equal(ut_get(fx, id).name, "golden");
	assert_int_equal(model_image_rename(fx->m, id, "golden", &err), 0); /* to itself: nothing */
	assert_int_equal(ut_get(fx, id).ctime_ns, before.ctime_ns);

	/* Another account's bin, and private/, hold other names. */
	assert_int_equal(model_image_rename(fx->m, id, "bobs", &err), 0);
	struct model_image img = ut_get(fx, id);
	assert_string_equal(img.name, "bobs");
	assert_int_equal(img.folder, MODEL_FOLDER_RECYCLE);
	assert_int_equal(img.status, MODEL_IMG_DELETED);
	assert_int_equal(img.deleted_at, before.deleted_at);
	assert_true(img.ctime_ns > before.ctime_ns);
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_IMAGE, id);
	assert_int_equal(ch.folder, MODEL_FOLDER_RECYCLE);
	assert_string_equal(ch.name, "golden");
	struct model_image found;
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_RECYCLE, "golden", &found), -ENOENT);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_RECYCLE, "bobs", &found), 0);
	assert_int_equal(found.id, id);

	/* The freed name takes a new deletion; the restore keeps the new name. */
	int64_t again = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	assert_int_equal(model_image_remove(fx->m, again, &err), 0);
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "bobs", &err), 0);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "bobs", &found), 0);
	assert_int_equal(found.id, id);
	assert_int_equal(found.status, MODEL_IMG_AVAILABLE);
}

/* ---- destroy ---------------------------------------------------------------------- */

/* A cloud image whose vda is snapshot 1 and vdb snapshot 2; another image
 * references snapshot 2 too.  Destroying the first frees snapshot 1 and its
 * blob and keeps snapshot 2. */
static void test_destroy(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_snapshot snap;
	struct model_image img;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t b1 = lt_tagged_blob(fx, fx->r1, "one", 2 * LT_MiB), b2 = lt_tagged_blob(fx, fx->r1, "two", LT_MiB);
	int64_t s1 = lt_snapshot(fx, fx->r1, alice, "snap-00000001", b1, MODEL_SNAP_AVAILABLE);
	int64_t s2 = lt_snapshot(fx, fx->r1, alice, "snap-00000002", b2, MODEL_SNAP_AVAILABLE);
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "doomed");
	int64_t keeper = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "keeper");
	lt_device(fx, id, 0, b1, s1);
	lt_device(fx, id, 1, b2, s2);
	lt_available(fx, id, MODEL_TYPE_CLOUD);
	lt_device(fx, keeper, 0, lt_tagged_blob(fx, fx->r1, "keeper", LT_MiB), 0);
	lt_device(fx, keeper, 1, b2, s2);
	lt_available(fx, keeper, MODEL_TYPE_LOCAL);
	ut_force_share(fx, id, bob);

	/* Only from the bin. */
	assert_int_equal(model_image_destroy(fx->m, id, &err), -EPERM);
	assert_non_null(strstr(err.msg, "recycle bin"));
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	/* The bin's snapshots are still referenced: they cannot be removed. */
	assert_int_equal(model_snapshot_remove(fx->m, s1, &err), -EBUSY);

	int64_t region_before = lt_region_mtime(fx, fx->r1);
	char c1[PATH_MAX], c2[PATH_MAX], ck[PATH_MAX];
	lt_age_chunks(fx, 0, b1, 3600);
	lt_age_chunks(fx, 0, b2, 3600);
	lt_chunk_path(fx, 0, b1, 1, c1, sizeof(c1));
	lt_chunk_path(fx, 0, b2, 0, c2, sizeof(c2));
	lt_chunk_path(fx, 0, ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld AND idx = 0",
	                                (long long)keeper), 0, ck, sizeof(ck));
	assert_int_equal(model_image_destroy(fx->m, id, &err), 0);
	/* deleting (§16): listed in the bin, nothing of it changes, until its
	 * task has run. */
	assert_int_equal(model_image_get(fx->m, id, &img), 0);
	assert_int_equal(img.status, MODEL_IMG_DELETING);
	assert_string_equal(model_image_status_name(img.status), "deleting");
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 1);
	assert_int_equal(model_image_destroy(fx->m, id, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "being destroyed"));
	assert_int_equal(model_image_rename(fx->m, id, "other", &err), -EBUSY);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, "x", &err), -EBUSY);
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "doomed", &err), -EBUSY);
	assert_int_equal(model_image_get(fx->m, id, &img), 0);
	assert_string_equal(img.name, "doomed");
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_get(fx->m, id, &img), -ENOENT);
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 0);
	/* Snapshot 1's chunks are freed; snapshot 2's (keeper maps it) and
	 * keeper's own stay. */
	assert_int_equal(access(c1, F_OK), -1);
	assert_int_equal(access(c2, F_OK), 0);
	assert_int_equal(access(ck, F_OK), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM devices WHERE image_id = %lld", (long long)id), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM shares WHERE image_id = %lld", (long long)id), 0);
	/* Snapshot 1 went with it, its blob too; snapshot 2 stays. */
	assert_int_equal(model_snapshot_get(fx->m, s1, &snap), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)b1), 0);
	assert_int_equal(model_snapshot_get(fx->m, s2, &snap), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)b2), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM devices WHERE image_id = %lld", (long long)keeper), 2);
	/* Mounts hear of the image and the freed snapshot. */
	assert_true(lt_region_mtime(fx, fx->r1) > region_before);
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_IMAGE, id);
	assert_int_equal(ch.folder, MODEL_FOLDER_RECYCLE);
	assert_string_equal(ch.name, "doomed");
	ch = lt_last_change(fx, MODEL_CHANGE_SNAPSHOT, s1);
	assert_string_equal(ch.name, "snap-00000001");
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_SNAPSHOT, s2), 0);
	assert_int_equal(model_image_destroy(fx->m, id, &err), -ENOENT);

	/* A second model_image_remove never destroys (a racing rmdir of
	 * private/keeper: ENOENT); the destroy does, and the last reference
	 * gone, snapshot 2 goes with keeper. */
	assert_int_equal(model_image_remove(fx->m, keeper, &err), 0);
	assert_int_equal(model_image_remove(fx->m, keeper, &err), -ENOENT);
	assert_int_equal(lt_run_tasks(fx), 0);
	assert_int_equal(model_image_destroy(fx->m, keeper, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_get(fx->m, keeper, &img), -ENOENT);
	assert_int_equal(model_snapshot_get(fx->m, s2, &snap), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)b2), 0);
}

/* A destroy frees no chunk stamped in the last 11 minutes (a copy or an
 * upload may have found it without refreshing it, and rely on it until
 * its manifest commits): those are left to gc; the image goes all the
 * same. */
static void test_destroy_keeps_young_chunks(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "fresh", 2 * LT_MiB);
	int64_t blob = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld", (long long)id);
	char young[PATH_MAX], old[PATH_MAX];

	lt_chunk_path(fx, 0, blob, 0, young, sizeof(young));
	lt_chunk_path(fx, 0, blob, 1, old, sizeof(old));
	lt_age_chunks(fx, 0, blob, 5 * 60); /* both 5 minutes old ... */
	struct timespec t[2] = {{time(NULL) - 12 * 60, 0}, {time(NULL) - 12 * 60, 0}};
	assert_int_equal(utimensat(AT_FDCWD, old, t, 0), 0); /* ... this one 12 */
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	assert_int_equal(model_image_destroy(fx->m, id, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_get(fx->m, id, &img), -ENOENT);
	assert_int_equal(access(young, F_OK), 0);
	assert_int_equal(access(old, F_OK), -1);
}

/* An image file still used as an instance's wblob base: the instance
 * keeps reading it after the image is destroyed and gc has run. */
static void test_destroy_keeps_instance_disks(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", 3 * LT_MiB);
	int64_t vm = 0;
	blob_store *s;
	blob_wblob *w = NULL;
	char buf[32];

	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm", &vm, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, vm, id, alice, &err), 0);
	/* Bypass the instance rule (§6.5) to see what destroy leaves. */
	ut_sql(fx, "UPDATE instances SET image_id = 0 WHERE id = %lld", (long long)vm);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	/* Old enough for the destroy task's own sweep: the base keeps them. */
	lt_age_chunks(fx, 0, ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld", (long long)id), 3600);
	assert_int_equal(model_image_destroy(fx->m, id, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	/* gc, with every chunk old enough (a negative grace), takes what nothing
	 * references — a stray chunk shows it ran — but not the base's. */
	uint8_t stray[4096];
	chunk_id stray_id;
	uint64_t removed = 0;
	memset(stray, 0x5a, sizeof stray);
	assert_int_equal(model_store(fx->m, fx->r1, &s), 0);
	assert_int_equal(blob_store_put_chunk(s, &stray_id, stray, sizeof stray), 1);
	assert_int_equal(model_gc(fx->m, -60, &removed), 0);
	assert_true(removed >= 1);
	assert_int_equal(blob_store_has_chunk(s, &stray_id), 0);
	assert_int_equal(model_instance_disks(fx->m, vm, disks), 1);
	assert_int_equal(blob_wblob_open(&w, s, disks[0].wblob), 0);
	assert_int_equal(blob_wblob_pread(w, buf, sizeof buf, 2 * LT_MiB), (ssize_t)sizeof buf);
	assert_string_equal(buf, "golden@2097152");
	blob_wblob_close(w);
}

/* ---- expiry and retention --------------------------------------------------------- */

static void test_retention(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);

	assert_int_equal(model_retention(fx->m), 7 * 24 * 3600);
	assert_int_equal(model_retention_set(fx->m, 0, &err), -EINVAL);
	assert_int_equal(model_retention_set(fx->m, -5, &err), -EINVAL);
	assert_int_equal(model_retention(fx->m), 7 * 24 * 3600);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	struct model_image before = ut_get(fx, id);
	int64_t logged = lt_changes(fx, MODEL_CHANGE_IMAGE, id);
	/* A new period moves every binned image's `expires`. */
	assert_int_equal(model_retention_set(fx->m, 3600, &err), 0);
	assert_int_equal(model_retention(fx->m), 3600);
	assert_true(ut_get(fx, id).mtime_ns > before.mtime_ns);
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_IMAGE, id), logged + 1);
	/* The same period again: nothing moves. */
	assert_int_equal(model_retention_set(fx->m, 3600, &err), 0);
	assert_int_equal(lt_changes(fx, MODEL_CHANGE_IMAGE, id), logged + 1);
	/* Another model on the state sees it (it is in the database). */
	model *other = NULL;
	assert_int_equal(ut_open(&other, fx->dir, fx->pgdb, &err), 0);
	assert_int_equal(model_retention(other), 3600);
	model_close(other);
}

static void test_expire(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	int64_t alice = ut_account(fx, "alice");
	int64_t old = lt_local_image(fx, fx->r1, alice, "old", LT_MiB);
	int64_t young = lt_local_image(fx, fx->r1, alice, "young", LT_MiB);
	int64_t kept = lt_local_image(fx, fx->r1, alice, "kept", LT_MiB);
	int64_t now = time(NULL);

	assert_int_equal(model_image_remove(fx->m, old, &err), 0);
	assert_int_equal(model_image_remove(fx->m, young, &err), 0);
	ut_sql(fx, "UPDATE images SET deleted_at = %lld WHERE id = %lld", (long long)(now - 10), (long long)old);
	ut_sql(fx, "UPDATE images SET deleted_at = %lld WHERE id = %lld", (long long)now, (long long)young);

	/* The default week: nothing is due. */
	assert_int_equal(model_recycle_expire(fx->m, now), 0);
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 2);
	/* One second: the one deleted ten seconds ago is. */
	assert_int_equal(model_retention_set(fx->m, 1, &err), 0);
	assert_int_equal(model_recycle_expire(fx->m, now), 1);
	assert_int_equal(model_image_get(fx->m, old, &img), 0);
	assert_int_equal(img.status, MODEL_IMG_DELETING);
	assert_int_equal(model_recycle_expire(fx->m, now), 0); /* being destroyed already */
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_get(fx->m, old, &img), -ENOENT);
	assert_int_equal(model_image_get(fx->m, young, &img), 0);
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 1);
	/* A second later the other is due; private images never are. */
	assert_int_equal(model_recycle_expire(fx->m, now + 1), 1);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(model_image_get(fx->m, young, &img), -ENOENT);
	assert_int_equal(model_recycle_expire(fx->m, now + 1000000), 0);
	assert_int_equal(model_image_get(fx->m, kept, &img), 0);
}

/* More than one batch of ids is due at once. */
static void test_expire_many(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t now = time(NULL);

	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "private-images", 1000, &err), 0);
	for (int i = 0; i < 70; i++) {
		char name[32];
		snprintf(name, sizeof name, "img-%d", i);
		int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, name);
		ut_force_status(fx, id, MODEL_IMG_ERROR);
		assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	}
	ut_sql(fx, "UPDATE images SET deleted_at = %lld WHERE folder = %d", (long long)(now - 100),
	       (int)MODEL_FOLDER_RECYCLE);
	assert_int_equal(model_retention_set(fx->m, 50, &err), 0);
	assert_int_equal(model_recycle_expire(fx->m, now), 70);
	assert_int_equal(lt_run_tasks(fx), 70);
	assert_int_equal(listed(fx, alice, MODEL_FOLDER_RECYCLE), 0);
}

/* ---- what the bin does to others ------------------------------------------------- */

static void test_shared_view(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);

	ut_force_share(fx, id, bob);
	assert_int_equal(listed_shared(fx, bob), 1);
	assert_int_equal(model_image_lookup_shared(fx->m, fx->r1, bob, "golden", "alice", &img), 0);
	/* In the bin, the image is gone from bob's shared/ ... */
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	assert_int_equal(listed_shared(fx, bob), 0);
	assert_int_equal(model_image_lookup_shared(fx->m, fx->r1, bob, "golden", "alice", &img), -ENOENT);
	/* ... and bob cannot build from it. */
	int64_t vm = 0;
	assert_int_equal(model_instance_create(fx->m, fx->r1, bob, "vm", &vm, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, vm, id, bob, &err), -ENOENT);
	/* Restored, it is shared again. */
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "golden", &err), 0);
	assert_int_equal(listed_shared(fx, bob), 1);
	assert_int_equal(model_instance_rebuild(fx->m, vm, id, bob, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_remove_to_recycle, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove_error_and_queued_and_iso, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove_twice_never_destroys, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove_busy, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove_platform, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_restore, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_restore_without_prior_status, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_restore_iso, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_bin_remarks, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_bin_rename, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_destroy, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_keeps_instance_disks, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_keeps_young_chunks, ut_setup_copy, ut_teardown),
		cmocka_unit_test_setup_teardown(test_retention, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_expire, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_expire_many, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_shared_view, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

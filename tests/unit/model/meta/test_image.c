/*
 * test_image.c — unit tests for model/meta/image.c (and the quota counting of
 * model/meta/quota.c it relies on): creating, looking up, listing and paging
 * images; name clashes; the private-images quota (SPEC §8); renames,
 * descriptions and tags (§2.1, §6.1); removal; external ids; times; error
 * files.
 */
#include <pthread.h>
#include <regex.h>

#include "test_util.h"

/* ---- listing helpers -------------------------------------------------------- */

#define MAX_LISTED 64

struct listed {
	int n;
	int stop_after; /* 0: never stop */
	int stop_value;
	int64_t ids[MAX_LISTED];
	char names[MAX_LISTED][MODEL_NAME_MAX + 1];
};

static int collect(void *arg, const struct model_image *img)
{
	struct listed *l = arg;

	assert_true(l->n < MAX_LISTED);
	l->ids[l->n] = img->id;
	snprintf(l->names[l->n], sizeof l->names[0], "%s", img->name);
	l->n++;
	return l->stop_after && l->n == l->stop_after ? l->stop_value : 0;
}

static struct listed list_folder(struct ut_fx *fx, int64_t region, int64_t acct, enum model_folder f, int64_t after)
{
	struct listed l = {0};

	assert_int_equal(model_image_list(fx->m, region, acct, f, after, collect, &l), 0);
	return l;
}

static int64_t quota_used(struct ut_fx *fx, int64_t acct, int64_t region, enum model_quota_key key, int64_t *limit)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	int n = model_quota_list(fx->m, acct, region, q);

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		if (q[i].key == key) {
			if (limit)
				*limit = q[i].limit;
			return q[i].used;
		}
	}
	fail_msg("quota %s not listed", model_quota_name(key));
	return -1;
}

/* ---- create, lookup, get, list ---------------------------------------------- */

static void test_create_lookup_get(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img, by_name;
	int64_t alice = ut_account(fx, "alice");
	int64_t t0 = model_now_ns();
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden");

	assert_int_equal(model_image_get(fx->m, id, &img), 0);
	assert_int_equal(img.id, id);
	assert_int_equal(img.region_id, fx->r1);
	assert_int_equal(img.account_id, alice);
	assert_string_equal(img.owner, "alice");
	assert_int_equal(img.folder, MODEL_FOLDER_PRIVATE);
	assert_string_equal(img.name, "golden");
	assert_int_equal(img.status, MODEL_IMG_QUEUED); /* §5.1: mkdir creates a queued image */
	assert_int_equal(img.progress, 0);
	assert_string_equal(img.description, "");
	assert_string_equal(img.tags, "");
	assert_string_equal(img.error, "");
	assert_int_equal(img.deleted_at, 0);
	assert_in_range(img.created, t0 / 1000000000 - 1, time(NULL) + 1);
	assert_true(img.mtime_ns >= t0 && img.ctime_ns >= t0);

	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden", &by_name), 0);
	assert_int_equal(by_name.id, id);
	assert_string_equal(by_name.ext_id, img.ext_id);
	/* Names are per (region, account, folder). */
	assert_int_equal(model_image_lookup(fx->m, fx->region[1].id, alice, MODEL_FOLDER_PRIVATE, "golden", &by_name),
	                 -ENOENT);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_ISO, "golden", &by_name), -ENOENT);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, 0, MODEL_FOLDER_PRIVATE, "golden", &by_name), -ENOENT);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "Golden", &by_name), -ENOENT);
	assert_int_equal(model_image_get(fx->m, 987654321, &img), -ENOENT);

	/* An ISO image. */
	id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "installer");
	img = ut_get(fx, id);
	assert_int_equal(img.folder, MODEL_FOLDER_ISO);
	assert_int_equal(img.status, MODEL_IMG_QUEUED);

	/* Images are created only in private/ and iso/. */
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_PUBLIC, "mine", NULL, &err), -EPERM);
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_MARKETPLACE, "mine", NULL, NULL), -EPERM);
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_RECYCLE, "mine", NULL, NULL), -EPERM);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE name = 'mine'"), 0);
}

/* mkdir's row comes back from the insert itself (the reply needs no
 * statement): it is the row a later read finds, with what refers to it as
 * the per-request read reports it (nothing yet). */
static void test_create_returns_the_row(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image made, got;
	struct model_region r;
	int64_t alice = ut_account(fx, "alice");

	for (int iso = 0; iso <= 1; iso++) {
		enum model_folder f = iso ? MODEL_FOLDER_ISO : MODEL_FOLDER_PRIVATE;
		assert_int_equal(model_image_create(fx->m, fx->r1, alice, f, iso ? "cd" : "golden", &made, &err), 0);
		assert_int_equal(model_image_get_in_region(fx->m, made.id, MODEL_REF_UNKNOWN, &got, &r), 0);
		assert_int_equal(made.id, got.id);
		assert_string_equal(made.ext_id, got.ext_id);
		assert_int_equal(made.region_id, got.region_id);
		assert_int_equal(made.account_id, got.account_id);
		assert_string_equal(made.owner, "alice");
		assert_string_equal(made.owner, got.owner);
		assert_int_equal(made.folder, got.folder);
		assert_string_equal(made.name, got.name);
		assert_int_equal(made.status, got.status);
		assert_int_equal(made.type, got.type);
		assert_string_equal(made.format, got.format);
		assert_string_equal(made.arch, got.arch);
		assert_int_equal(made.created, got.created);
		assert_int_equal(made.mtime_ns, got.mtime_ns);
		assert_int_equal(made.ctime_ns, got.ctime_ns);
		assert_int_equal(made.dir_mtime_ns, got.dir_mtime_ns);
		assert_int_equal(made.dir_gen, got.dir_gen);
		assert_int_equal(made.origin_id, got.origin_id);
		assert_int_equal(made.refs, 0);
		assert_int_equal(got.refs, 0);
		assert_int_equal(made.copies_ctime_ns, got.copies_ctime_ns);
	}
}

static unsigned refs_of(struct ut_fx *fx, int64_t id, int64_t *copies_ctime)
{
	struct model_image img;
	struct model_region r;
	assert_int_equal(model_image_get_in_region(fx->m, id, MODEL_REF_UNKNOWN, &img, &r), 0);
	if (copies_ctime)
		*copies_ctime = img.copies_ctime_ns;
	return img.refs;
}

/* What refers to an image, as the per-request read reports it
 * (model_image.refs, which lets the files and listings that would be empty
 * skip their statements): each kind of row sets its own bit and no other;
 * a read that did not ask leaves them all "may exist". */
static void test_refs(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob"), vm = 0, copied;
	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "private-images", 20, &err), 0);
	int64_t task = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "task");
	int64_t source = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "source");
	int64_t inst = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "inst");
	int64_t link = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "link");
	int64_t dev = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "dev");
	int64_t orig = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "orig");
	int64_t copy = ut_image(fx, fx->region[1].id, alice, MODEL_FOLDER_PRIVATE, "orig");
	int64_t shared = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "shared");

	assert_int_equal(refs_of(fx, task, &copied), 0);
	assert_int_equal(copied, 0);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, state) VALUES ('convert', %lld, 'queued')", (long long)task);
	ut_sql(fx, "INSERT INTO tasks(kind, image_id, source_kind, source_id, state) VALUES ('copy', %lld, 'image', %lld, "
	       "'running')", (long long)copy, (long long)source);
	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm1", &vm, &err), 0);
	ut_sql(fx, "UPDATE instances SET image_id = %lld WHERE id = %lld", (long long)inst, (long long)vm);
	ut_sql(fx, "INSERT INTO download_links(nonce, image_id, format, expires, created) VALUES ('ut', %lld, 'raw', 1, 1)",
	       (long long)link);
	ut_sql(fx, "INSERT INTO blobs(region_id, size, stored, mtime_ns) VALUES (%lld, 0, 0, 1)", (long long)fx->r1);
	ut_sql(fx, "INSERT INTO devices(image_id, idx, blob_id, snapshot_id) VALUES (%lld, 0, (SELECT max(id) FROM blobs), 0)",
	       (long long)dev);
	ut_sql(fx, "UPDATE images SET origin_id = %lld, origin_kind = 'copy', ctime_ns = 4242 WHERE id = %lld",
	       (long long)orig, (long long)copy);
	ut_force_share(fx, shared, bob);

	assert_int_equal(refs_of(fx, task, NULL), MODEL_REF_TASK);
	assert_int_equal(refs_of(fx, source, NULL), MODEL_REF_TASK); /* a task reads it */
	assert_int_equal(refs_of(fx, inst, NULL), MODEL_REF_INSTANCES);
	assert_int_equal(refs_of(fx, link, NULL), MODEL_REF_LINKS); /* expired: the listing decides */
	assert_int_equal(refs_of(fx, dev, NULL), MODEL_REF_DEVICES);
	assert_int_equal(refs_of(fx, orig, &copied), MODEL_REF_COPIES);
	assert_int_equal(copied, 4242);
	assert_int_equal(refs_of(fx, copy, NULL), MODEL_REF_TASK); /* the copy task's target; a copy is no source */
	assert_int_equal(refs_of(fx, shared, NULL), MODEL_REF_SHARES);
	assert_int_equal(ut_get(fx, task).refs, MODEL_REF_UNKNOWN);
	assert_int_equal(ut_get(fx, task).copies_ctime_ns, -1);

	/* Only what is asked is probed; the rest reads "may exist". */
	struct model_image img;
	struct model_region r;
	assert_int_equal(model_image_get_in_region(fx->m, shared, MODEL_REF_DEVICES, &img, &r), 0);
	assert_int_equal(img.refs, MODEL_REF_UNKNOWN & ~MODEL_REF_DEVICES);
	assert_int_equal(img.copies_ctime_ns, -1);
	assert_int_equal(model_image_get_in_region(fx->m, orig, MODEL_REF_COPIES | MODEL_REF_SHARES, &img, &r), 0);
	assert_int_equal(img.refs, MODEL_REF_UNKNOWN & ~MODEL_REF_SHARES);
	assert_int_equal(img.copies_ctime_ns, 4242);
	assert_int_equal(model_image_get_in_region(fx->m, dev, 0, &img, &r), 0);
	assert_int_equal(img.refs, MODEL_REF_UNKNOWN);
}

/* The row cache (image.c): a second read of an unchanged image runs no
 * statement; a write of this process, a statement run by hand and another
 * process's commit as model_changes_wait learns it each make the next read
 * ask the database; so does age.  On by default only with PostgreSQL. */
static struct model_image get_counted(model *m, int64_t id, unsigned want, int64_t *statements)
{
	struct model_image img;
	struct model_region r;
	int64_t before = model_statements(m);
	assert_int_equal(model_image_get_in_region(m, id, want, &img, &r), 0);
	assert_int_equal(r.id, img.region_id);
	*statements = model_statements(m) - before;
	return img;
}

/* A write committed by this process ends a watcher's wait at once
 * (SQLite: instead of its next poll of data_version, up to 200 ms later),
 * and is counted as such; the wait still says 1. */
struct later_write {
	model *m;
	int64_t id;
	int rc;
};

static void *write_later(void *arg)
{
	struct later_write *w = arg;
	struct model_err err = {0};
	struct timespec ms50 = {0, 50000000};
	nanosleep(&ms50, NULL); /* the waiter is asleep by then, or about to look */
	w->rc = model_image_set(w->m, w->id, MODEL_FIELD_DESCRIPTION, "later", &err);
	return NULL;
}

static void test_change_wakes(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t id = ut_image(fx, fx->r1, ut_account(fx, "alice"), MODEL_FOLDER_PRIVATE, "woken");
	struct later_write w = {NULL, id, -1};
	pthread_t t;
	int woke = 0;

	assert_int_equal(ut_open(&w.m, fx->dir, fx->pgdb, &err), 0);
	while (model_changes_wait(fx->m, 0) != 0) /* what the setup committed */
		;
	int64_t wakes = model_change_wakes(fx->m);
	assert_int_equal(pthread_create(&t, NULL, write_later, &w), 0);
	for (int i = 0; i < 20 && woke == 0; i++)
		woke = model_changes_wait(fx->m, 10000);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(woke, 1);
	if (!fx->pgdb[0]) /* PostgreSQL's notification wakes it: not counted */
		assert_int_equal(model_change_wakes(fx->m) - wakes, 1);
	model_close(w.m);
}

static void test_row_cache(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice"), n;
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "cached");
	struct model_image img;
	model *other;

	assert_int_equal(model_set_row_cache(fx->m, 1000), 0);
	img = get_counted(fx->m, id, MODEL_REF_UNKNOWN, &n);
	assert_int_equal(n, 1);
	img = get_counted(fx->m, id, MODEL_REF_UNKNOWN, &n);
	assert_int_equal(n, 0);
	assert_string_equal(img.name, "cached");
	assert_int_equal(img.refs, 0);
	assert_int_equal(img.copies_ctime_ns, 0);
	/* Fewer probes: served, the rest read "may exist" as uncached. */
	img = get_counted(fx->m, id, MODEL_REF_DEVICES, &n);
	assert_int_equal(n, 0);
	assert_int_equal(img.refs, MODEL_REF_UNKNOWN & ~MODEL_REF_DEVICES);
	assert_int_equal(img.copies_ctime_ns, -1);

	/* This process writes: the next read asks. */
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, "one", &err), 0);
	img = get_counted(fx->m, id, MODEL_REF_DEVICES, &n);
	assert_int_equal(n, 1);
	assert_string_equal(img.description, "one");
	/* A row kept for fewer probes does not answer more. */
	img = get_counted(fx->m, id, MODEL_REF_DEVICES | MODEL_REF_LINKS, &n);
	assert_int_equal(n, 1);
	ut_sql(fx, "INSERT INTO download_links(nonce, image_id, format, expires, created) VALUES ('rc', %lld, 'raw', 1, 1)",
	       (long long)id);
	img = get_counted(fx->m, id, MODEL_REF_LINKS, &n);
	assert_int_equal(n, 1);
	assert_int_equal(img.refs & MODEL_REF_LINKS, MODEL_REF_LINKS);

	/* Another process commits: kept until the watcher's wait says so. */
	assert_int_equal(ut_open(&other, fx->dir, fx->pgdb, &err), 0);
	(void)get_counted(fx->m, id, MODEL_REF_LINKS, &n);
	assert_int_equal(model_image_set(other, id, MODEL_FIELD_DESCRIPTION, "two", &err), 0);
	int woke = 0;
	for (int i = 0; i < 20 && woke == 0; i++)
		woke = model_changes_wait(fx->m, 250);
	assert_int_equal(woke, 1);
	img = get_counted(fx->m, id, MODEL_REF_LINKS, &n);
	assert_int_equal(n, 1);
	assert_string_equal(img.description, "two");
	model_close(other);

	/* Age. */
	assert_int_equal(model_set_row_cache(fx->m, 30), 0);
	(void)get_counted(fx->m, id, 0, &n);
	img = get_counted(fx->m, id, 0, &n);
	assert_int_equal(n, 0);
	struct timespec ms40 = {0, 40000000};
	nanosleep(&ms40, NULL);
	img = get_counted(fx->m, id, 0, &n);
	assert_int_equal(n, 1);

	/* Off: every read asks. */
	assert_int_equal(model_set_row_cache(fx->m, 0), 0);
	(void)get_counted(fx->m, id, 0, &n);
	(void)get_counted(fx->m, id, 0, &n);
	assert_int_equal(n, 1);
}

static void test_duplicate_name(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t bob = ut_account(fx, "bob");

	/* A creation logs one change, of the new image, and moves the
	 * region's listing time (both sent ahead of knowing the insert's
	 * outcome: they look for its row); a refusal does neither. */
	int64_t head = model_changes_head(fx->m), mtime = model_region_mtime(fx->m, fx->r1);
	int64_t golden = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden");
	assert_int_equal(model_changes_head(fx->m), head + 1);
	assert_int_equal(ut_sql_int(fx, "SELECT obj FROM changes WHERE seq = %lld", (long long)head + 1), golden);
	assert_true(model_region_mtime(fx->m, fx->r1) > mtime);
	head = model_changes_head(fx->m), mtime = model_region_mtime(fx->m, fx->r1);
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden", NULL, &err), -EEXIST);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(model_changes_head(fx->m), head);
	assert_int_equal(model_region_mtime(fx->m, fx->r1), mtime);
	assert_int_equal(
		ut_sql_int(fx, "SELECT count(*) FROM images WHERE name = 'golden' AND account_id = %lld", (long long)alice),
		1);
	/* The same name elsewhere is another image. */
	ut_image(fx, fx->r1, bob, MODEL_FOLDER_PRIVATE, "golden");
	ut_image(fx, fx->region[1].id, alice, MODEL_FOLDER_PRIVATE, "golden");
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "golden");
	/* A name a platform image has is free for a private one. */
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "centos-7.4");
}

static void test_list_order_and_paging(void **state)
{
	struct ut_fx *fx = *state;
	struct listed all, rest, stopped = {.stop_after = 3, .stop_value = 42};
	int64_t alice = ut_account(fx, "alice");

	/* Public: the 14 catalogue images, ascending ids. */
	all = list_folder(fx, fx->r1, 0, MODEL_FOLDER_PUBLIC, 0);
	assert_int_equal(all.n, UT_PUBLIC_COUNT);
	for (int i = 1; i < all.n; i++)
		assert_true(all.ids[i] > all.ids[i - 1]);
	for (int i = 0; i < UT_PUBLIC_COUNT; i++) {
		bool found = false;
		for (int j = 0; j < all.n; j++)
			found |= strcmp(all.names[j], ut_public_names[i]) == 0;
		if (!found)
			fail_msg("public/%s is not listed", ut_public_names[i]);
	}
	/* after_id pages: every id > after_id, nothing skipped or repeated. */
	for (int k = 0; k <= all.n; k++) {
		int64_t after = k ? all.ids[k - 1] : 0;
		rest = list_folder(fx, fx->r1, 0, MODEL_FOLDER_PUBLIC, after);
		assert_int_equal(rest.n, all.n - k);
		for (int i = 0; i < rest.n; i++)
			assert_int_equal(rest.ids[i], all.ids[k + i]);
	}
	/* Past the end: nothing. */
	assert_int_equal(list_folder(fx, fx->r1, 0, MODEL_FOLDER_PUBLIC, INT64_MAX - 1).n, 0);

	/* Marketplace: 2.  Private of an account: its own, in creation order. */
	assert_int_equal(list_folder(fx, fx->r1, 0, MODEL_FOLDER_MARKETPLACE, 0).n, UT_MARKETPLACE_COUNT);
	assert_int_equal(list_folder(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, 0).n, 0);
	int64_t c = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "c");
	int64_t a = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "a");
	int64_t b = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "b");
	all = list_folder(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, 0);
	assert_int_equal(all.n, 3);
	assert_int_equal(all.ids[0], c);
	assert_int_equal(all.ids[1], a);
	assert_int_equal(all.ids[2], b);
	assert_int_equal(list_folder(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, a).n, 1);
	assert_int_equal(list_folder(fx, fx->r1, alice, MODEL_FOLDER_ISO, 0).n, 0);
	assert_int_equal(list_folder(fx, fx->region[1].id, alice, MODEL_FOLDER_PRIVATE, 0).n, 0);
	assert_int_equal(list_folder(fx, fx->r1, 0, MODEL_FOLDER_PRIVATE, 0).n, 0);

	/* A callback that returns non-zero stops the listing (its return
	 * value: test_list_stop_value). */
	model_image_list(fx->m, fx->r1, 0, MODEL_FOLDER_PUBLIC, 0, collect, &stopped);
	assert_int_equal(stopped.n, 3);
}

/* model.h: "cb returns non-zero to stop (that value is returned)"; fs/
 * readdir stops with 1 when the reply buffer is full. */
static void test_list_stop_value(void **state)
{
	struct ut_fx *fx = *state;
	struct listed one = {.stop_after = 1, .stop_value = 1};
	struct listed neg = {.stop_after = 2, .stop_value = -ENOMEM};
	int rc;

	rc = model_image_list(fx->m, fx->r1, 0, MODEL_FOLDER_PUBLIC, 0, collect, &one);
	assert_int_equal(one.n, 1);
	if (rc < 0)
		fail_msg("model_image_list stopped by its callback (1) returned %d", rc);
	assert_int_equal(rc, 1);
	rc = model_image_list(fx->m, fx->r1, 0, MODEL_FOLDER_PUBLIC, 0, collect, &neg);
	assert_int_equal(neg.n, 2);
	assert_int_equal(rc, -ENOMEM); /* a callback's error comes back as is */
}

/* ---- quota ---------------------------------------------------------------------- */

static void test_quota_private_images(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t bob = ut_account(fx, "bob");
	int64_t limit = 0;
	char name[16];

	assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, &limit), 0);
	assert_int_equal(limit, 5); /* §8 default */
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "img-%d", i);
		ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, name);
		assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, NULL), i + 1);
	}
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "sixth", NULL, &err), -EDQUOT);
	assert_true(err.msg[0] != '\0');
	/* Nothing changed. */
	assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, NULL), 5);
	assert_int_equal(list_folder(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, 0).n, 5);
	/* Quotas are per account and per region. */
	ut_image(fx, fx->r1, bob, MODEL_FOLDER_PRIVATE, "sixth");
	ut_image(fx, fx->region[1].id, alice, MODEL_FOLDER_PRIVATE, "sixth");
	assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, NULL), 5);
	assert_int_equal(quota_used(fx, alice, fx->region[1].id, MODEL_QUOTA_PRIVATE_IMAGES, NULL), 1);
	assert_int_equal(quota_used(fx, bob, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, NULL), 1);

	/* The admin raises the limit: the sixth fits, the seventh does not. */
	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "private-images", 6, &err), 0);
	assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, &limit), 5);
	assert_int_equal(limit, 6);
	assert_int_equal(quota_used(fx, alice, fx->region[1].id, MODEL_QUOTA_PRIVATE_IMAGES, &limit), 1);
	assert_int_equal(limit, 5); /* other regions keep the default */
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "sixth");
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "seventh", NULL, &err),
	                 -EDQUOT);
	assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, &limit), 6);
	assert_int_equal(limit, 6);

	/* Removing an image frees its place. */
	struct model_image img;
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "img-0", &img), 0);
	assert_int_equal(model_image_remove(fx->m, img.id, &err), 0);
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "seventh");

	/* Lowering below the usage refuses new images, keeps the old. */
	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "private-images", 0, &err), 0);
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "eighth", NULL, NULL), -EDQUOT);
	assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, NULL), 6);
}

/* SPEC §8: private-images counts every image in private/, whatever its
 * status, and nothing else: ISO images are not in private/. */
static void test_quota_counts_private_only(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");

	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "p1");
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "p2");
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "i1");
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "i2");
	assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, NULL), 2);
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "p3");
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "p4");
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "p5");
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "p6", NULL, &err), -EDQUOT);
	assert_int_equal(model_image_create(fx->m, fx->r1, alice, MODEL_FOLDER_ISO, "i3", NULL, &err), 0);
	assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, NULL), 5);
}

static void test_quota_list_and_set(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_quota q[MODEL_QUOTA_COUNT];
	static const struct {
		const char *name;
		int64_t def;
	} want[] = {{"private-images", 5}, {"snapshots", 15}, {"shared-images", 5}, {"shares-per-image", 5},
	             {"instances", 20}};
	int64_t alice = ut_account(fx, "alice");
	int n = model_quota_list(fx->m, alice, fx->r1, q);

	/* §8: five quotas with their defaults, nothing used. */
	assert_int_equal(n, 5);
	for (size_t w = 0; w < 5; w++) {
		bool found = false;
		for (int i = 0; i < n; i++) {
			if (strcmp(model_quota_name(q[i].key), want[w].name) != 0)
				continue;
			found = true;
			assert_int_equal(q[i].limit, want[w].def);
			assert_int_equal(q[i].used, 0);
			assert_int_equal(model_quota_parse(want[w].name), q[i].key);
		}
		if (!found)
			fail_msg("quota %s is not listed", want[w].name);
	}
	assert_int_equal(model_quota_parse("private_images"), MODEL_QUOTA_INVALID);
	assert_int_equal(model_quota_parse(""), MODEL_QUOTA_INVALID);

	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "snapshots", 30, &err), 0);
	n = model_quota_list(fx->m, alice, fx->r1, q);
	for (int i = 0; i < n; i++)
		if (q[i].key == MODEL_QUOTA_SNAPSHOTS)
			assert_int_equal(q[i].limit, 30);
	/* Refusals. */
	assert_int_equal(model_quota_set(fx->m, "nobody", "cn-north-1", "snapshots", 3, &err), -ENOENT);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(model_quota_set(fx->m, "alice", "mars-1", "snapshots", 3, &err), -ENOENT);
	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "disks", 3, &err), -EINVAL);
	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "snapshots", -1, &err), -EINVAL);
	n = model_quota_list(fx->m, alice, fx->r1, q);
	for (int i = 0; i < n; i++)
		if (q[i].key == MODEL_QUOTA_SNAPSHOTS)
			assert_int_equal(q[i].limit, 30);
}

/* ---- rename ---------------------------------------------------------------------- */

static void test_rename(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image before, after, found;
	int64_t alice = ut_account(fx, "alice");
	int64_t a = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "a");
	int64_t b = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "b");
	before = ut_get(fx, a);
	int64_t r0 = model_region_mtime(fx->m, fx->r1);
	assert_int_equal(model_image_rename(fx->m, a, "renamed", &err), 0);
	after = ut_get(fx, a);
	assert_string_equal(after.name, "renamed");
	assert_string_equal(after.ext_id, before.ext_id); /* the id stays */
	assert_int_equal(after.created, before.created);
	/* A rename changes the directory, not the content: ctime only. */
	assert_true(after.ctime_ns > before.ctime_ns);
	assert_int_equal(after.mtime_ns, before.mtime_ns);
	/* The listing changed: the region's mtime moves. */
	assert_true(model_region_mtime(fx->m, fx->r1) > r0);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "a", &found), -ENOENT);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "renamed", &found), 0);
	assert_int_equal(found.id, a);

	/* Never replaces (§6.1). */
	before = ut_get(fx, a);
	assert_int_equal(model_image_rename(fx->m, a, "b", &err), -EEXIST);
	assert_true(err.msg[0] != '\0');
	assert_string_equal(ut_get(fx, a).name, "renamed");
	assert_string_equal(ut_get(fx, b).name, "b");
	assert_int_equal(ut_get(fx, a).ctime_ns, before.ctime_ns);

	/* To itself: success, nothing changes. */
	assert_int_equal(model_image_rename(fx->m, a, "renamed", &err), 0);
	after = ut_get(fx, a);
	assert_string_equal(after.name, "renamed");
	assert_int_equal(after.ctime_ns, before.ctime_ns);
	assert_int_equal(after.mtime_ns, before.mtime_ns);

	/* Bad names. */
	assert_int_equal(model_image_rename(fx->m, a, "", &err), -EINVAL);
	assert_int_equal(model_image_rename(fx->m, a, ".dot", &err), -EINVAL);
	assert_int_equal(model_image_rename(fx->m, a, "a/b", &err), -EINVAL);
	assert_int_equal(model_image_rename(fx->m, a, "a b", &err), -EINVAL);
	assert_string_equal(ut_get(fx, a).name, "renamed");

	/* A name taken by another account or in another folder is free. */
	int64_t bob = ut_account(fx, "bob");
	ut_image(fx, fx->r1, bob, MODEL_FOLDER_PRIVATE, "bobs");
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "iso-name");
	assert_int_equal(model_image_rename(fx->m, a, "bobs", &err), 0);
	assert_int_equal(model_image_rename(fx->m, a, "iso-name", &err), 0);

	/* Public and marketplace images are the platform's: EPERM. */
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	assert_int_equal(model_image_rename(fx->m, pub.id, "my-centos", &err), -EPERM);
	assert_true(err.msg[0] != '\0');
	assert_string_equal(ut_get(fx, pub.id).name, "centos-7.4");
	struct listed mk = list_folder(fx, fx->r1, 0, MODEL_FOLDER_MARKETPLACE, 0);
	assert_int_equal(model_image_rename(fx->m, mk.ids[0], "mine", &err), -EPERM);
	assert_string_equal(ut_get(fx, mk.ids[0]).name, mk.names[0]);

	assert_int_equal(model_image_rename(fx->m, 987654321, "whatever", &err), -ENOENT);
}

/* ---- description and tags ------------------------------------------------------- */

static void test_description(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image before, after;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden");
	char v[512];

	before = ut_get(fx, id);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, "web server, \"prod\"\nline two", &err), 0);
	after = ut_get(fx, id);
	assert_string_equal(after.description, "web server, \"prod\"\nline two");
	/* The description file's own time and the image's ctime move; the
	 * time of the other attribute files does not (backup tools re-read
	 * only what changed). */
	assert_true(after.description_ns > before.mtime_ns);
	assert_int_equal(after.mtime_ns, before.mtime_ns);
	assert_int_equal(after.tags_ns, before.tags_ns);
	assert_true(after.ctime_ns > before.ctime_ns);
	assert_string_equal(after.name, "golden");

	/* At most 256 bytes of UTF-8 (§2.1). */
	memset(v, 'd', 256);
	v[256] = '\0';
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, v, &err), 0);
	assert_string_equal(ut_get(fx, id).description, v);
	before = ut_get(fx, id);
	v[256] = 'd';
	v[257] = '\0';
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, v, &err), -EINVAL);
	assert_true(err.msg[0] != '\0');
	after = ut_get(fx, id);
	assert_int_equal(strlen(after.description), 256);
	assert_int_equal(after.mtime_ns, before.mtime_ns);
	/* 256 bytes of multi-byte UTF-8: 128 two-byte characters. */
	v[0] = '\0';
	for (int i = 0; i < 128; i++)
		strcat(v, "é");
	assert_int_equal(strlen(v), 256);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, v, &err), 0);
	assert_string_equal(ut_get(fx, id).description, v);
	strcat(v, "é");
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, v, &err), -EINVAL);
	/* Nothing that hides or reorders what another tenant reads (issue 23):
	 * refused, the character named, the value unchanged. */
	static const char *const hidden[] = {"del\x7f", "c1 \xc2\x9b", "rlo \xe2\x80\xae", "lri \xe2\x81\xa6"};
	strcpy(v, ut_get(fx, id).description);
	for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
		memset(&err, 0, sizeof err);
		assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, hidden[i], &err), -EINVAL);
		assert_non_null(strstr(err.msg, "a description cannot hold U+"));
		assert_string_equal(ut_get(fx, id).description, v);
	}
	/* Empty clears. */
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, "", &err), 0);
	assert_string_equal(ut_get(fx, id).description, "");

	/* At any status (§2.1), and on iso images. */
	ut_force_status(fx, id, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, "now available", &err), 0);
	assert_string_equal(ut_get(fx, id).description, "now available");
	ut_force_status(fx, id, MODEL_IMG_ERROR);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_DESCRIPTION, "in error", &err), 0);
	int64_t iso = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "installer");
	assert_int_equal(model_image_set(fx->m, iso, MODEL_FIELD_DESCRIPTION, "an ISO", &err), 0);
	assert_string_equal(ut_get(fx, iso).description, "an ISO");

	assert_int_equal(model_image_set(fx->m, 987654321, MODEL_FIELD_DESCRIPTION, "x", &err), -ENOENT);
}

static void test_tags(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden");
	static const char *const good[] = {"env=prod", "env=prod\nteam=web", "k=", "k=v=w", "k=a value with spaces",
	                                   "k=v\n", "ключ=значение"};
	static const char *const bad[] = {"novalue", "=v", "k v=x", "k\t=x", "env=prod\nbad", "env=prod\n=x",
	                                  "k=v\x01", "k=v\x7f", "k=\xc2\x85", "k=\xe2\x80\xaegnp.exe", "\xe2\x81\xa7k=v"};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		int rc = model_image_set(fx->m, id, MODEL_FIELD_TAGS, good[i], &err);
		if (rc != 0)
			fail_msg("tags '%s': %d (%s)", good[i], rc, err.msg);
		assert_string_equal(ut_get(fx, id).tags, good[i]);
	}
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_TAGS, "env=prod\nteam=web", &err), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		int rc = model_image_set(fx->m, id, MODEL_FIELD_TAGS, bad[i], &err);
		if (rc != -EINVAL)
			fail_msg("tags '%s': %d, want -EINVAL", bad[i], rc);
		assert_true(err.msg[0] != '\0');
		assert_string_equal(ut_get(fx, id).tags, "env=prod\nteam=web");
	}
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_TAGS, "", &err), 0);
	assert_string_equal(ut_get(fx, id).tags, "");
	/* Not a writable field. */
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_INVALID, "x", &err), -EPERM);
}

/* project (§16): one line of at most 64 bytes, a time of its own, at any
 * status, private and iso images only. */
static void test_project(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image before, after;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden");
	char v[80];

	assert_string_equal(ut_get(fx, id).project, "");
	before = ut_get(fx, id);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_PROJECT, "web-frontend 前端", &err), 0);
	after = ut_get(fx, id);
	assert_string_equal(after.project, "web-frontend 前端");
	/* The project file's own time and the image's ctime move; the other
	 * files' times do not (backup tools re-read only project). */
	assert_true(after.project_ns > before.mtime_ns);
	assert_int_equal(after.mtime_ns, before.mtime_ns);
	assert_int_equal(after.description_ns, before.description_ns);
	assert_int_equal(after.tags_ns, before.tags_ns);
	assert_true(after.ctime_ns > before.ctime_ns);
	assert_string_equal(after.description, "");

	/* At most 64 bytes. */
	memset(v, 'p', 64);
	v[64] = '\0';
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_PROJECT, v, &err), 0);
	assert_string_equal(ut_get(fx, id).project, v);
	v[64] = 'p';
	v[65] = '\0';
	memset(&err, 0, sizeof err);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_PROJECT, v, &err), -EINVAL);
	assert_string_equal(err.msg, "a project is at most 64 bytes");
	v[64] = '\0';
	assert_string_equal(ut_get(fx, id).project, v);
	/* One line, and model_text_check's rules: no control character (not
	 * even the tab and newline a description may hold), no bidi override,
	 * UTF-8; refused, the character named, the value unchanged. */
	static const char *const bad[] = {"two\nlines", "tab\there", "esc\x1b[2J", "del\x7f", "c1 \xc2\x9b",
	                                  "rlo \xe2\x80\xae", "lri \xe2\x81\xa6", "bad \xff"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		int rc = model_image_set(fx->m, id, MODEL_FIELD_PROJECT, bad[i], &err);
		if (rc != -EINVAL)
			fail_msg("project '%s': %d, want -EINVAL", bad[i], rc);
		assert_non_null(strstr(err.msg, "a project"));
		assert_string_equal(ut_get(fx, id).project, v);
	}
	memset(&err, 0, sizeof err);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_PROJECT, "a\nb", &err), -EINVAL);
	assert_string_equal(err.msg, "a project cannot hold U+000A (a control character), at character 2");
	/* Empty clears. */
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_PROJECT, "", &err), 0);
	assert_string_equal(ut_get(fx, id).project, "");

	/* At any status, and on iso images. */
	ut_force_status(fx, id, MODEL_IMG_AVAILABLE);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_PROJECT, "prod", &err), 0);
	assert_string_equal(ut_get(fx, id).project, "prod");
	ut_force_status(fx, id, MODEL_IMG_ERROR);
	assert_int_equal(model_image_set(fx->m, id, MODEL_FIELD_PROJECT, "broken", &err), 0);
	int64_t iso = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "installer");
	assert_int_equal(model_image_set(fx->m, iso, MODEL_FIELD_PROJECT, "installers", &err), 0);
	assert_string_equal(ut_get(fx, iso).project, "installers");
	/* Written to one image only. */
	assert_string_equal(ut_get(fx, id).project, "broken");

	/* Platform images: never. */
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	memset(&err, 0, sizeof err);
	assert_int_equal(model_image_set(fx->m, pub.id, MODEL_FIELD_PROJECT, "mine now", &err), -EPERM);
	assert_true(err.msg[0] != '\0');
	after = ut_get(fx, pub.id);
	assert_string_equal(after.project, "");
	assert_int_equal(after.ctime_ns, pub.ctime_ns);
	assert_int_equal(model_image_set(fx->m, 987654321, MODEL_FIELD_PROJECT, "x", &err), -ENOENT);
}

static void test_set_platform_image(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "ubuntu-16.04");
	struct listed mk = list_folder(fx, fx->r1, 0, MODEL_FOLDER_MARKETPLACE, 0);
	struct model_image after;

	assert_int_equal(model_image_set(fx->m, pub.id, MODEL_FIELD_DESCRIPTION, "mine now", &err), -EPERM);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(model_image_set(fx->m, pub.id, MODEL_FIELD_TAGS, "k=v", &err), -EPERM);
	assert_int_equal(model_image_set(fx->m, mk.ids[0], MODEL_FIELD_DESCRIPTION, "mine now", &err), -EPERM);
	after = ut_get(fx, pub.id);
	assert_string_equal(after.description, pub.description);
	assert_string_equal(after.tags, pub.tags);
	assert_int_equal(after.mtime_ns, pub.mtime_ns);
	assert_int_equal(after.ctime_ns, pub.ctime_ns);
}

/* ---- remove ---------------------------------------------------------------------- */

static void test_remove(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "doomed");
	int64_t iso = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "doomed-iso");

	int64_t r0 = model_region_mtime(fx->m, fx->r1);
	/* A queued image holds nothing: removed outright (§6.1). */
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	assert_int_equal(model_image_get(fx->m, id, &img), -ENOENT);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_PRIVATE, "doomed", &img), -ENOENT);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, alice, MODEL_FOLDER_RECYCLE, "doomed", &img), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE id = %lld", (long long)id), 0);
	assert_true(model_region_mtime(fx->m, fx->r1) > r0);
	assert_int_equal(model_image_remove(fx->m, iso, &err), 0);
	assert_int_equal(model_image_get(fx->m, iso, &img), -ENOENT);
	assert_int_equal(quota_used(fx, alice, fx->r1, MODEL_QUOTA_PRIVATE_IMAGES, NULL), 0);
	/* The name is free again; the row id is never reused. */
	int64_t again = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "doomed");
	assert_true(again > iso);
	/* Twice: gone. */
	assert_int_equal(model_image_remove(fx->m, id, &err), -ENOENT);

	/* Platform images cannot be removed. */
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-6.5");
	assert_int_equal(model_image_remove(fx->m, pub.id, &err), -EPERM);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(model_image_get(fx->m, pub.id, &img), 0);
	struct listed mk = list_folder(fx, fx->r1, 0, MODEL_FOLDER_MARKETPLACE, 0);
	assert_int_equal(model_image_remove(fx->m, mk.ids[1], &err), -EPERM);
	assert_int_equal(model_image_get(fx->m, mk.ids[1], &img), 0);

	/* While a task holds an image it cannot be removed (§4, §6.1). */
	ut_force_status(fx, again, MODEL_IMG_UPLOADING);
	assert_int_equal(model_image_remove(fx->m, again, &err), -EBUSY);
	ut_force_status(fx, again, MODEL_IMG_PENDING);
	assert_int_equal(model_image_remove(fx->m, again, &err), -EBUSY);
	assert_int_equal(model_image_get(fx->m, again, &img), 0);
}

/* A delete's first step (fs/fuse/fs.h): the directory's node id is renewed —
 * dir_gen one more, returned — and nothing a reader sees changes, no
 * change is logged; an unknown image is ENOENT. */
static void test_renew_dir(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "held");
	struct model_image before = ut_get(fx, id), after;
	int64_t changes = ut_sql_int(fx, "SELECT count(*) FROM changes"), gen = -1;

	assert_int_equal(model_image_renew_dir(fx->m, id, &gen), 0);
	assert_int_equal(gen, before.dir_gen + 1);
	assert_int_equal(model_image_renew_dir(fx->m, id, &gen), 0);
	assert_int_equal(gen, before.dir_gen + 2);
	after = ut_get(fx, id);
	assert_int_equal(after.dir_gen, gen);
	assert_int_equal(after.mtime_ns, before.mtime_ns);
	assert_int_equal(after.ctime_ns, before.ctime_ns);
	assert_int_equal(after.dir_mtime_ns, before.dir_mtime_ns);
	assert_int_equal(after.folder, before.folder);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM changes"), changes);
	assert_int_equal(model_image_renew_dir(fx->m, id + 1000, &gen), -ENOENT);
	assert_int_equal(gen, before.dir_gen + 2);
}

/* ---- ids, times, errors ----------------------------------------------------------- */

static void test_ext_ids(void **state)
{
	struct ut_fx *fx = *state;
	regex_t re;
	int64_t alice = ut_account(fx, "alice");
	int64_t bob = ut_account(fx, "bob");
	db_stmt *st;
	char (*ids)[16];
	int n = 0;

	for (int r = 0; r < UT_REGIONS; r++) {
		char name[16];
		for (int i = 0; i < 5; i++) {
			snprintf(name, sizeof name, "a%d", i);
			ut_image(fx, fx->region[r].id, i % 2 ? alice : bob, i == 4 ? MODEL_FOLDER_ISO : MODEL_FOLDER_PRIVATE,
			         name);
		}
	}
	assert_int_equal(regcomp(&re, "^img-[0-9a-f]{8}$", REG_EXTENDED | REG_NOSUB), 0);
	int total = (int)ut_sql_int(fx, "SELECT count(*) FROM images");
	assert_int_equal(total, UT_REGIONS * (UT_PUBLIC_COUNT + UT_MARKETPLACE_COUNT + 5));
	ids = calloc((size_t)total, sizeof *ids);
	assert_non_null(ids);
	/* Through the API, image by image. */
	st = ut_prepare(fx, "SELECT id FROM images");
	while (db_step(st) == DB_ROW) {
		struct model_image img = ut_get(fx, db_col_int64(st, 0));
		if (regexec(&re, img.ext_id, 0, NULL, 0) != 0)
			fail_msg("image %s has id '%s'", img.name, img.ext_id);
		for (int j = 0; j < n; j++)
			if (strcmp(ids[j], img.ext_id) == 0)
				fail_msg("id %s is used twice", img.ext_id);
		memcpy(ids[n++], img.ext_id, 16);
	}
	ut_finalize(st);
	assert_int_equal(n, total);
	free(ids);
	regfree(&re);
}

static void test_set_error(void **state)
{
	struct ut_fx *fx = *state;
	struct model_image before, after;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden");
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	struct listed mk = list_folder(fx, fx->r1, 0, MODEL_FOLDER_MARKETPLACE, 0);

	before = ut_get(fx, id);
	assert_int_equal(model_image_set_error(fx->m, id, "EPERM: os-type is fixed after upload"), 0);
	after = ut_get(fx, id);
	assert_string_equal(after.error, "EPERM: os-type is fixed after upload");
	assert_true(after.error_ns > before.mtime_ns);      /* the error file's content changed */
	assert_int_equal(after.mtime_ns, before.mtime_ns); /* and nothing else */
	assert_int_equal(after.status, before.status);
	assert_int_equal(model_image_set_error(fx->m, id, "another reason"), 0);
	assert_string_equal(ut_get(fx, id).error, "another reason");

	/* Platform images are everybody's: one caller's refusal is not written into them. */
	assert_true(model_image_set_error(fx->m, pub.id, "EPERM: public images are read-only") <= 0);
	after = ut_get(fx, pub.id);
	assert_string_equal(after.error, "");
	assert_int_equal(after.mtime_ns, pub.mtime_ns);
	assert_int_equal(after.ctime_ns, pub.ctime_ns);
	assert_true(model_image_set_error(fx->m, mk.ids[0], "EPERM") <= 0);
	assert_string_equal(ut_get(fx, mk.ids[0]).error, "");
}

/* SPEC §9: a successful operation clears a refusal's reason; an image in
 * status error keeps its failure's reason (refusals do not replace it,
 * successes do not clear it), also in the recycle bin, to be restored. */
static void test_clear_error(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "golden");
	struct model_image before;

	assert_int_equal(model_image_clear_error(fx->m, id), 0); /* nothing to clear */
	assert_int_equal(model_image_set_error(fx->m, id, "EEXIST: an image named x exists"), 0);
	before = ut_get(fx, id);
	assert_int_equal(model_image_clear_error(fx->m, id), 1);
	assert_string_equal(ut_get(fx, id).error, "");
	assert_true(ut_get(fx, id).error_ns > before.error_ns);
	assert_int_equal(ut_get(fx, id).mtime_ns, before.mtime_ns);

	ut_sql(fx, "UPDATE images SET status = %d, error = 'the capture failed' WHERE id = %lld", (int)MODEL_IMG_ERROR,
	       (long long)id);
	assert_int_equal(model_image_set_error(fx->m, id, "EPERM: another refusal"), 0);
	assert_string_equal(ut_get(fx, id).error, "the capture failed");
	assert_int_equal(model_image_clear_error(fx->m, id), 0);
	assert_string_equal(ut_get(fx, id).error, "the capture failed");
	ut_sql(fx, "UPDATE images SET folder = %d, status = %d, prior_status = %d WHERE id = %lld",
	       (int)MODEL_FOLDER_RECYCLE, (int)MODEL_IMG_DELETED, (int)MODEL_IMG_ERROR, (long long)id);
	assert_int_equal(model_image_clear_error(fx->m, id), 0);
	assert_string_equal(ut_get(fx, id).error, "the capture failed");
}

/* admin unpublish: EBUSY (nothing changed) while an instance of any
 * account was made from the image or a task reads it; then its rows go at
 * once (its blob too: gc frees the chunks), and the name may be used again;
 * a private image's name is never found in public/. */
static void test_unpublish(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_image img = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4"), left;
	int64_t alice = ut_account(fx, "alice"), vm;
	int64_t blob = ut_sql_int(fx, "SELECT blob_id FROM devices WHERE image_id = %lld", (long long)img.id);

	assert_int_equal(model_image_unpublish(fx->m, fx->r1, MODEL_FOLDER_PUBLIC, "no-such", &err), -ENOENT);
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "mine");
	assert_int_equal(model_image_unpublish(fx->m, fx->r1, MODEL_FOLDER_PUBLIC, "mine", &err), -ENOENT);
	assert_int_equal(model_image_unpublish(fx->m, fx->r1, MODEL_FOLDER_PRIVATE, "mine", &err), -EINVAL);
	assert_int_equal(model_instance_create(fx->m, fx->r1, alice, "vm1", &vm, &err), 0);
	ut_sql(fx, "UPDATE instances SET image_id = %lld WHERE id = %lld", (long long)img.id, (long long)vm);
	memset(&err, 0, sizeof(err));
	assert_int_equal(model_image_unpublish(fx->m, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4", &err), -EBUSY);
	assert_non_null(strstr(err.msg, "instance"));
	assert_int_equal(model_image_lookup(fx->m, fx->r1, 0, MODEL_FOLDER_PUBLIC, "centos-7.4", &left), 0);
	ut_sql(fx, "UPDATE instances SET image_id = 0 WHERE id = %lld", (long long)vm);
	assert_int_equal(model_image_unpublish(fx->m, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4", &err), 0);
	assert_int_equal(model_image_lookup(fx->m, fx->r1, 0, MODEL_FOLDER_PUBLIC, "centos-7.4", &left), -ENOENT);
	assert_int_equal(model_image_get(fx->m, img.id, &left), -ENOENT);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM devices WHERE image_id = %lld", (long long)img.id), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM blobs WHERE id = %lld", (long long)blob), 0);
	/* In another region the same name is another image: it stays. */
	ut_platform(fx, fx->region[1].id, MODEL_FOLDER_PUBLIC, "centos-7.4");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_lookup_get, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_create_returns_the_row, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refs, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_row_cache, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_change_wakes, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_name, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_list_order_and_paging, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_list_stop_value, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_quota_private_images, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_quota_counts_private_only, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_quota_list_and_set, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_rename, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_description, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_tags, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_project, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_set_platform_image, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_renew_dir, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_ext_ids, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_set_error, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_clear_error, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_unpublish, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

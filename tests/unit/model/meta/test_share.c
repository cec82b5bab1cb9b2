/*
 * test_share.c — unit tests for model/meta/share.c (SPEC §6.4, §8 quotas,
 * §19 members): sharing a private image in any status, the receiver's
 * answer (pending, accepted, rejected: out of shared/), every refusal (and that a refusal
 * changes nothing), both quotas (the owner's shares-per-image counted per
 * image, the receiver's shared-images across owners and through the
 * recycle bin), listing, unsharing (instances stay, no new ones), and what
 * renames, deletion, restore and destruction do to a share.
 */
#include "model/lifecycle_test.h"

static int64_t quota_used(struct ut_fx *fx, int64_t account_id, enum model_quota_key k)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	int n = model_quota_list(fx->m, account_id, fx->r1, q);

	for (int i = 0; i < n; i++)
		if (q[i].key == k)
			return q[i].used;
	fail_msg("no quota %d", (int)k);
	return -1;
}

static void set_quota(struct ut_fx *fx, const char *account, const char *key, int64_t v)
{
	struct model_err err = {0};

	if (model_quota_set(fx->m, account, "cn-north-1", key, v, &err) < 0)
		fail_msg("quota set %s %s: %s", account, key, err.msg);
}

struct names {
	int n;
	char name[8][MODEL_NAME_MAX + 1];
	int64_t ids[8];
};

static int collect(void *arg, const struct model_share *s)
{
	struct names *l = arg;

	assert_true(l->n < 8);
	snprintf(l->name[l->n], sizeof l->name[0], "%s", s->account);
	l->ids[l->n++] = s->account_id;
	return 0;
}

static struct names shares_of(struct ut_fx *fx, int64_t image_id)
{
	struct names l = {0};

	assert_int_equal(model_share_list(fx->m, image_id, 0, collect, &l), 0);
	return l;
}

static int count_cb(void *arg, const struct model_image *img)
{
	(void)img;
	(*(int *)arg)++;
	return 0;
}

static int listed_shared(struct ut_fx *fx, int64_t account_id)
{
	int n = 0;

	assert_int_equal(model_image_list_shared(fx->m, fx->r1, account_id, 0, count_cb, &n), 0);
	return n;
}

static int share(struct ut_fx *fx, int64_t image_id, const char *account)
{
	struct model_err err = {0};
	int rc = model_share_add(fx->m, image_id, account, &err);

	if (rc < 0)
		assert_true(err.msg[0] != '\0'); /* every refusal says why */
	return rc;
}

/* ---- sharing ------------------------------------------------------------------ */

static void test_add_lists_and_shows(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	struct model_image before = ut_get(fx, id), img;
	int64_t region_before = lt_region_mtime(fx, fx->r1);
	int64_t t0 = model_now_ns() / 1000000000;
	struct model_share s;

	assert_int_equal(listed_shared(fx, bob), 0);
	assert_int_equal(share(fx, id, "bob"), 0);
	struct names l = shares_of(fx, id);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.name[0], "bob");
	assert_int_equal(l.ids[0], bob);
	assert_int_equal(model_share_lookup(fx->m, id, "bob", &s), 0);
	assert_int_equal(s.image_id, id);
	assert_int_equal(s.account_id, bob);
	assert_true(s.created >= t0 && s.created <= model_now_ns() / 1000000000);
	assert_int_equal(s.status, MODEL_MEMBER_PENDING); /* made pending, the receiver answers */
	assert_int_equal(s.updated, s.created);
	assert_true(ut_get(fx, id).gflags & MODEL_GFLAG_SHARED); /* "shared" to the API now */
	assert_int_equal(model_share_get(fx->m, id, bob, &s), 0);
	assert_string_equal(s.account, "bob");
	assert_int_equal(model_share_get(fx->m, id, alice, &s), -ENOENT);
	assert_int_equal(model_share_lookup(fx->m, id, "alice", &s), -ENOENT);
	/* The receiver's view: shared/golden@alice. */
	assert_int_equal(listed_shared(fx, bob), 1);
	assert_int_equal(model_image_lookup_shared(fx->m, fx->r1, bob, "golden", "alice", &img), 0);
	assert_int_equal(img.id, id);
	assert_true(model_image_shared_with(fx->m, id, bob));
	/* Both listings moved; other mounts hear of it. */
	img = ut_get(fx, id);
	assert_true(img.dir_mtime_ns > before.dir_mtime_ns);
	assert_true(img.ctime_ns > before.ctime_ns);
	assert_int_equal(img.mtime_ns, before.mtime_ns); /* no attribute changed */
	assert_true(lt_region_mtime(fx, fx->r1) > region_before);
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_IMAGE, id);
	assert_int_equal(ch.folder, MODEL_FOLDER_PRIVATE);
	assert_string_equal(ch.name, "");
	/* Quotas: one place of bob's, one share of this image. */
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 1);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_SHARES_PER_IMAGE), 1);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_SHARED_IMAGES), 0);
	/* Listing from an offset: after bob's id, nothing. */
	l.n = 0;
	assert_int_equal(model_share_list(fx->m, id, bob, collect, &l), 0);
	assert_int_equal(l.n, 0);
}

static void test_list_in_account_order(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t carol = ut_account(fx, "carol"), bob = ut_account(fx, "bob");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);

	assert_int_equal(share(fx, id, "bob"), 0);
	assert_int_equal(share(fx, id, "carol"), 0);
	struct names l = shares_of(fx, id);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.ids[0], carol); /* created first: the smaller id */
	assert_int_equal(l.ids[1], bob);
	l.n = 0;
	assert_int_equal(model_share_list(fx->m, id, carol, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.name[0], "bob");
}

/* Every refusal of §6.4 / §9, and that it changes nothing. */
static void test_refusals(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	int64_t queued = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "queued");
	int64_t iso = ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, "disc");
	int64_t binned = lt_local_image(fx, fx->r1, alice, "binned", LT_MiB);
	int64_t errored = lt_local_image(fx, fx->r1, alice, "errored", LT_MiB);
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	struct model_err err = {0};

	ut_force_status(fx, iso, MODEL_IMG_AVAILABLE);
	ut_force_status(fx, errored, MODEL_IMG_ERROR);
	assert_int_equal(model_image_remove(fx->m, binned, &err), 0);
	assert_int_equal(share(fx, id, "bob"), 0);
	int64_t shares = ut_sql_int(fx, "SELECT count(*) FROM shares");
	int64_t changes = ut_sql_int(fx, "SELECT count(*) FROM changes");
	int64_t region = lt_region_mtime(fx, fx->r1);
	static const struct {
		int which; /* 0 golden, 1 queued, 2 iso, 3 binned, 4 public, 5 errored, 6 no such image */
		const char *account;
		int rc;
	} cases[] = {
		{0, "alice", -EINVAL},   /* the owner */
		{0, "nobody", -ENOENT},  /* unknown account */
		{0, "a b", -EINVAL},     /* not a name (§10) */
		{0, "", -EINVAL},
		{0, "bob", -EEXIST},     /* already */
		{2, "bob", -EPERM},      /* ISO images are not private images */
		{3, "bob", -EPERM},      /* in the recycle bin */
		{4, "bob", -EPERM},      /* public */
		{6, "bob", -ENOENT},
	};
	int64_t ids[] = {id, queued, iso, binned, pub.id, errored, 999999};

	(void)bob;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = share(fx, ids[cases[i].which], cases[i].account);
		if (rc != cases[i].rc)
			fail_msg("case %zu (%s): %d, expected %d", i, cases[i].account, rc, cases[i].rc);
	}
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM shares"), shares);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM changes"), changes);
	assert_int_equal(lt_region_mtime(fx, fx->r1), region);
}

/* A queued image, and one in error, are shared too (SPEC §6.4, §19: the
 * API adds members before the data), one being made is not; the receiver
 * answers, and only it. */
static void test_any_status_and_answers(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob"), carol = ut_account(fx, "carol");
	int64_t queued = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "queued");
	int64_t errored = lt_local_image(fx, fx->r1, alice, "errored", LT_MiB);
	struct model_err err = {0};
	struct model_share s;
	struct model_image img;

	/* but not one being made (seed 001: an intermediate status) */
	static const enum model_image_status making[] = {MODEL_IMG_UPLOADING, MODEL_IMG_PENDING,
	                                                 MODEL_IMG_REPLICATING, MODEL_IMG_DELETING};
	for (size_t i = 0; i < sizeof making / sizeof *making; i++) {
		ut_force_status(fx, errored, making[i]);
		assert_int_equal(share(fx, errored, "bob"), -EPERM);
	}
	ut_force_status(fx, errored, MODEL_IMG_ERROR);
	assert_int_equal(share(fx, queued, "bob"), 0);
	assert_int_equal(share(fx, errored, "bob"), 0);
	assert_int_equal(listed_shared(fx, bob), 2); /* pending ones are seen */
	/* Only the receiver answers: the owner is refused, a stranger finds nothing. */
	assert_int_equal(model_share_answer(fx->m, queued, alice, MODEL_MEMBER_ACCEPTED, &err), -EPERM);
	assert_string_equal(err.msg, "only the member answers a share");
	assert_int_equal(model_share_answer(fx->m, queued, carol, MODEL_MEMBER_ACCEPTED, &err), -ENOENT);
	assert_int_equal(model_share_answer(fx->m, queued, bob, MODEL_MEMBER_INVALID, &err), -EINVAL);
	assert_int_equal(model_share_answer(fx->m, queued, bob, (enum model_member_status)4, &err), -EINVAL);
	assert_int_equal(model_share_get(fx->m, queued, bob, &s), 0);
	assert_int_equal(s.status, MODEL_MEMBER_PENDING);
	/* accepted: still listed; rejected: out of shared/, by name too */
	int64_t changes = ut_sql_int(fx, "SELECT count(*) FROM changes");
	assert_int_equal(model_share_answer(fx->m, queued, bob, MODEL_MEMBER_ACCEPTED, &err), 0);
	assert_int_equal(model_share_get(fx->m, queued, bob, &s), 0);
	assert_int_equal(s.status, MODEL_MEMBER_ACCEPTED);
	assert_int_equal(listed_shared(fx, bob), 2);
	assert_true(ut_sql_int(fx, "SELECT count(*) FROM changes") > changes);
	assert_int_equal(model_share_answer(fx->m, queued, bob, MODEL_MEMBER_REJECTED, &err), 0);
	assert_int_equal(listed_shared(fx, bob), 1);
	assert_int_equal(model_image_lookup_shared(fx->m, fx->r1, bob, "queued", "alice", &img), -ENOENT);
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_IMAGE, queued);
	assert_string_equal(ch.name, "queued"); /* other mounts drop the entry */
	/* and back: a member may change its mind */
	assert_int_equal(model_share_answer(fx->m, queued, bob, MODEL_MEMBER_PENDING, &err), 0);
	assert_int_equal(model_image_lookup_shared(fx->m, fx->r1, bob, "queued", "alice", &img), 0);
	assert_string_equal(model_member_status_name(MODEL_MEMBER_REJECTED), "rejected");
	assert_string_equal(model_member_status_name(MODEL_MEMBER_INVALID), "");
}

/* Receivers are numbered in 16-bit inode fields (fs.h): beyond, EINVAL. */
static void test_account_beyond_inode_range(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);

	ut_sql(fx, "INSERT INTO accounts(id, name, created) VALUES (%d, 'far', 0)", MODEL_SHARE_ACCOUNT_MAX + 1);
	ut_sql(fx, "INSERT INTO accounts(id, name, created) VALUES (%d, 'near', 0)", MODEL_SHARE_ACCOUNT_MAX);
	assert_int_equal(share(fx, id, "far"), -EINVAL);
	assert_int_equal(share(fx, id, "near"), 0);
}

/* ---- quotas ------------------------------------------------------------------------ */

/* shares-per-image is per image: another image's shares do not count. */
static void test_quota_shares_per_image(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t a = lt_local_image(fx, fx->r1, alice, "a", LT_MiB);
	int64_t b = lt_local_image(fx, fx->r1, alice, "b", LT_MiB);
	struct model_err err = {0};

	ut_account(fx, "bob");
	ut_account(fx, "carol");
	ut_account(fx, "dave");
	set_quota(fx, "alice", "shares-per-image", 2);
	assert_int_equal(share(fx, a, "bob"), 0);
	assert_int_equal(share(fx, a, "carol"), 0);
	assert_int_equal(model_share_add(fx->m, a, "dave", &err), -EDQUOT);
	assert_non_null(strstr(err.msg, "shares-per-image"));
	/* b has none yet: two more are fine, a third is not. */
	assert_int_equal(share(fx, b, "dave"), 0);
	assert_int_equal(share(fx, b, "bob"), 0);
	assert_int_equal(share(fx, b, "carol"), -EDQUOT);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_SHARES_PER_IMAGE), 2);
	/* A raised limit takes effect at once. */
	set_quota(fx, "alice", "shares-per-image", 3);
	assert_int_equal(share(fx, b, "carol"), 0);
}

/* shared-images is the receiver's, across owners; a share of an image in
 * the recycle bin keeps its place (a restore brings it back unasked). */
static void test_quota_shared_images(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), carol = ut_account(fx, "carol"), bob = ut_account(fx, "bob");
	int64_t a1 = lt_local_image(fx, fx->r1, alice, "a1", LT_MiB);
	int64_t a2 = lt_local_image(fx, fx->r1, alice, "a2", LT_MiB);
	int64_t c1 = lt_local_image(fx, fx->r1, carol, "c1", LT_MiB);
	struct model_err err = {0};

	set_quota(fx, "bob", "shared-images", 2);
	assert_int_equal(share(fx, a1, "bob"), 0);
	assert_int_equal(share(fx, c1, "bob"), 0);
	assert_int_equal(model_share_add(fx->m, a2, "bob", &err), -EDQUOT);
	assert_non_null(strstr(err.msg, "shared-images"));
	assert_non_null(strstr(err.msg, "bob"));
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 2);
	/* a1 to the recycle bin: gone from bob's shared/, its place kept. */
	assert_int_equal(model_image_remove(fx->m, a1, &err), 0);
	assert_int_equal(listed_shared(fx, bob), 1);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 2);
	assert_int_equal(share(fx, a2, "bob"), -EDQUOT);
	/* Destroyed: the place is free. */
	assert_int_equal(model_image_destroy(fx->m, a1, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1); /* deleting until its task ran (§16) */
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 1);
	assert_int_equal(share(fx, a2, "bob"), 0);
	/* Unsharing frees one too. */
	assert_int_equal(model_share_remove(fx->m, c1, "bob", &err), 0);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 1);
}

/* fsck's lines about counts (the fixture's images lack checksum tasks,
 * which fsck reports too: not this test's). */
static void fsck_line(void *arg, const char *line)
{
	if (strstr(line, "quota") || strstr(line, "usage") || strstr(line, "shares"))
		(*(int *)arg)++;
}

/* A rejected share holds no place in its receiver's shared-images (seed
 * 002 limits the shared images a user accepts; issue 70: 5 of 5 with 4
 * listed, and only the owner could free it); answering it again takes a
 * place, refused when none is free; the owner's shares-per-image still
 * counts it; an unshare or a destroy of a rejected share frees nothing
 * twice; fsck finds the counts right. */
static void test_quota_rejected_frees(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t a1 = lt_local_image(fx, fx->r1, alice, "a1", LT_MiB);
	int64_t a2 = lt_local_image(fx, fx->r1, alice, "a2", LT_MiB);
	int64_t a3 = lt_local_image(fx, fx->r1, alice, "a3", LT_MiB);
	struct model_err err = {0};
	int problems = 0;

	set_quota(fx, "bob", "shared-images", 2);
	assert_int_equal(share(fx, a1, "bob"), 0);
	assert_int_equal(share(fx, a2, "bob"), 0);
	assert_int_equal(share(fx, a3, "bob"), -EDQUOT); /* pending ones count */
	assert_int_equal(model_share_answer(fx->m, a1, bob, MODEL_MEMBER_REJECTED, &err), 0);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 1);
	assert_int_equal(listed_shared(fx, bob), 1);
	assert_int_equal(quota_used(fx, alice, MODEL_QUOTA_SHARES_PER_IMAGE), 1); /* the owner's: every share */
	/* rejected twice: one place freed, not two */
	assert_int_equal(model_share_answer(fx->m, a1, bob, MODEL_MEMBER_REJECTED, &err), 0);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 1);
	assert_int_equal(share(fx, a3, "bob"), 0); /* the freed place */
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 2);
	/* back from rejected with no place free: refused, still rejected */
	assert_int_equal(model_share_answer(fx->m, a1, bob, MODEL_MEMBER_ACCEPTED, &err), -EDQUOT);
	assert_non_null(strstr(err.msg, "quota shared-images is 2 of 2"));
	struct model_share s;
	assert_int_equal(model_share_get(fx->m, a1, bob, &s), 0);
	assert_int_equal(s.status, MODEL_MEMBER_REJECTED);
	assert_int_equal(model_share_answer(fx->m, a1, bob, MODEL_MEMBER_PENDING, &err), -EDQUOT);
	/* the owner unshares the rejected one: bob's count does not move */
	assert_int_equal(model_share_remove(fx->m, a1, "bob", &err), 0);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 2);
	/* rejected, then its image destroyed: nothing freed twice */
	assert_int_equal(model_share_answer(fx->m, a3, bob, MODEL_MEMBER_REJECTED, &err), 0);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 1);
	assert_int_equal(model_image_remove(fx->m, a3, &err), 0);
	assert_int_equal(model_image_destroy(fx->m, a3, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 1);
	/* a rejected share accepted again, with a place free */
	assert_int_equal(share(fx, a1, "bob"), 0);
	assert_int_equal(model_share_answer(fx->m, a1, bob, MODEL_MEMBER_REJECTED, &err), 0);
	assert_int_equal(model_share_answer(fx->m, a1, bob, MODEL_MEMBER_ACCEPTED, &err), 0);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 2);
	/* fsck counts as the triggers do: a rejected share is no place */
	assert_int_equal(model_share_answer(fx->m, a2, bob, MODEL_MEMBER_REJECTED, &err), 0);
	assert_int_equal(quota_used(fx, bob, MODEL_QUOTA_SHARED_IMAGES), 1);
	assert_true(model_fsck(fx->m, false, fsck_line, &problems) >= 0);
	assert_int_equal(problems, 0);
}

/* ---- unsharing ------------------------------------------------------------------------ */

static void test_remove(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	struct model_err err = {0};
	struct model_image img;
	struct model_instance vm;
	int64_t vm_id = 0;

	assert_int_equal(share(fx, id, "bob"), 0);
	assert_int_equal(model_instance_create(fx->m, fx->r1, bob, "b1", &vm_id, &err), 0);
	assert_int_equal(model_instance_rebuild(fx->m, vm_id, id, bob, &err), 0);
	struct model_image before = ut_get(fx, id);
	int64_t region_before = lt_region_mtime(fx, fx->r1);

	assert_int_equal(model_share_remove(fx->m, id, "bob", &err), 0);
	assert_int_equal(shares_of(fx, id).n, 0);
	assert_int_equal(listed_shared(fx, bob), 0);
	assert_int_equal(model_image_lookup_shared(fx->m, fx->r1, bob, "golden", "alice", &img), -ENOENT);
	assert_false(model_image_shared_with(fx->m, id, bob));
	assert_true(ut_get(fx, id).dir_mtime_ns > before.dir_mtime_ns);
	assert_true(lt_region_mtime(fx, fx->r1) > region_before);
	/* Other mounts drop shared/golden@alice: the old name is logged. */
	struct model_change ch = lt_last_change(fx, MODEL_CHANGE_IMAGE, id);
	assert_int_equal(ch.folder, MODEL_FOLDER_PRIVATE);
	assert_string_equal(ch.name, "golden");
	/* Bob's instance stays, built from the image; he can build no new one. */
	assert_int_equal(model_instance_get(fx->m, vm_id, &vm), 0);
	assert_int_equal(vm.image_id, id);
	assert_int_equal(model_instance_rebuild(fx->m, vm_id, id, bob, &err), -ENOENT);
	/* Twice, or with a stranger: ENOENT with a reason. */
	err.msg[0] = '\0';
	assert_int_equal(model_share_remove(fx->m, id, "bob", &err), -ENOENT);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(model_share_remove(fx->m, id, "nobody", &err), -ENOENT);
	assert_int_equal(model_share_remove(fx->m, 999999, "bob", &err), -ENOENT);
}

/* A share follows the image: renamed, deleted, restored, destroyed. */
static void test_rename_recycle_destroy(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	struct model_err err = {0};
	struct model_image img;

	assert_int_equal(share(fx, id, "bob"), 0);
	assert_int_equal(model_image_rename(fx->m, id, "silver", &err), 0);
	assert_int_equal(model_image_lookup_shared(fx->m, fx->r1, bob, "golden", "alice", &img), -ENOENT);
	assert_int_equal(model_image_lookup_shared(fx->m, fx->r1, bob, "silver", "alice", &img), 0);
	assert_int_equal(shares_of(fx, id).n, 1);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	assert_int_equal(listed_shared(fx, bob), 0);
	assert_int_equal(shares_of(fx, id).n, 1); /* kept for a restore */
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "gold", &err), 0);
	assert_int_equal(model_image_lookup_shared(fx->m, fx->r1, bob, "gold", "alice", &img), 0);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	assert_int_equal(model_image_destroy(fx->m, id, &err), 0);
	assert_int_equal(lt_run_tasks(fx), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM shares WHERE image_id = %lld", (long long)id), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_lists_and_shows, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_list_in_account_order, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_any_status_and_answers, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_quota_rejected_frees, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_account_beyond_inode_range, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_quota_shares_per_image, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_quota_shared_images, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_remove, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_rename_recycle_destroy, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

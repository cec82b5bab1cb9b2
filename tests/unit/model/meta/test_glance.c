/*
 * test_glance.c — unit tests for model/meta/glance.c (SPEC §19): an
 * image's UUID (every insert path makes one; the schema step gives one to
 * images made before), the API's names (a §10 name names the directory,
 * anything else is a title), formats, min_disk/min_ram, the flags and
 * their rules (protected stops rmdir, deactivating needs an available
 * image, private with members is refused), properties and their bound,
 * and that a refused change list changes nothing.
 */
#include "model/lifecycle_test.h"

#define OP(k, v) ((struct model_api_op){.kind = (k), .value = (v)})
#define PROP(k, v) ((struct model_api_op){.kind = MODEL_API_PROP, .key = (k), .value = (v)})
#define FLAG(b, o) ((struct model_api_op){.kind = MODEL_API_FLAG, .num = (b), .on = (o)})

static struct model_image api_create(struct ut_fx *fx, int64_t account, const struct model_api_op *ops, size_t n)
{
	struct model_err err = {0};
	struct model_image img;
	int rc = model_api_image_create(fx->m, fx->r1, account, ops, n, &img, &err);
	if (rc < 0)
		fail_msg("create: %d %s", rc, err.msg);
	return img;
}

static int update(struct ut_fx *fx, int64_t id, const struct model_api_op *ops, size_t n, struct model_err *err)
{
	*err = (struct model_err){0};
	int rc = model_api_image_update(fx->m, id, ops, n, err);
	if (rc < 0)
		assert_true(err->msg[0] != '\0'); /* every refusal says why */
	return rc;
}

static void test_uuid_every_insert(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t mk = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "web");
	struct model_image a = ut_get(fx, mk), pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4"), b;

	assert_true(model_uuid_valid(a.uuid));
	assert_int_equal(a.uuid[14], '4'); /* version 4 */
	assert_true(strchr("89ab", a.uuid[19]) != NULL);
	assert_true(model_uuid_valid(pub.uuid)); /* the catalogue's, made at the region's install */
	assert_string_not_equal(a.uuid, pub.uuid);
	assert_int_equal(model_image_by_uuid(fx->m, a.uuid, &b), 0);
	assert_int_equal(b.id, mk);
	/* capitals find it too; anything that is not a UUID finds nothing */
	char upper[37];
	for (int i = 0; i < 37; i++)
		upper[i] = (char)(a.uuid[i] >= 'a' && a.uuid[i] <= 'f' ? a.uuid[i] - 32 : a.uuid[i]);
	assert_int_equal(model_image_by_uuid(fx->m, upper, &b), 0);
	assert_int_equal(model_image_by_uuid(fx->m, "", &b), -ENOENT);
	assert_int_equal(model_image_by_uuid(fx->m, "00000000-0000-4000-8000-000000000000", &b), -ENOENT);
	assert_false(model_uuid_valid("00000000-0000-4000-8000-00000000000"));   /* one short */
	assert_false(model_uuid_valid("00000000-0000-4000-8000-0000000000000")); /* one over */
	assert_false(model_uuid_valid("00000000+0000-4000-8000-000000000000"));
	assert_false(model_uuid_valid("0000000g-0000-4000-8000-000000000000"));
	/* unique in the service: every image differs */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) - count(DISTINCT uuid) FROM images"), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE length(uuid) != 36"), 0);
}

static void test_create_names(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	struct model_err qerr = {0};
	assert_int_equal(model_quota_set(fx->m, "alice", "cn-north-1", "private-images", 100, &qerr), 0);
	struct model_api_op named[] = {OP(MODEL_API_NAME, "web"), OP(MODEL_API_DISK_FORMAT, "raw"),
	                               OP(MODEL_API_CONTAINER_FORMAT, "bare")};
	struct model_image a = api_create(fx, alice, named, 3);

	assert_string_equal(a.name, "web");
	assert_string_equal(a.title, "");
	assert_string_equal(model_image_api_name(&a), "web");
	assert_int_equal(a.folder, MODEL_FOLDER_PRIVATE);
	assert_int_equal(a.status, MODEL_IMG_QUEUED);
	assert_string_equal(a.disk_format, "raw");
	assert_string_equal(a.container_format, "bare");
	assert_int_equal(a.gflags, MODEL_GFLAG_SHARED); /* Glance's default visibility */
	/* the same name again: Glance names need not be unique — the id names the directory */
	struct model_image b = api_create(fx, alice, named, 3);
	assert_string_equal(b.name, b.ext_id);
	assert_string_equal(b.title, "web");
	assert_string_equal(model_image_api_name(&b), "web");
	/* not a §10 name: a title */
	struct model_api_op spaced[] = {OP(MODEL_API_NAME, "CirrOS 0.6.2 (x86_64)")};
	struct model_image c = api_create(fx, alice, spaced, 1);
	assert_string_equal(c.name, c.ext_id);
	assert_string_equal(c.title, "CirrOS 0.6.2 (x86_64)");
	/* none at all: the id */
	struct model_image d = api_create(fx, alice, NULL, 0);
	assert_string_equal(model_image_api_name(&d), d.ext_id);
	/* iso: in iso/ */
	struct model_api_op iso[] = {OP(MODEL_API_NAME, "disc"), OP(MODEL_API_DISK_FORMAT, "iso"),
	                             FLAG(MODEL_GFLAG_SHARED, false)};
	struct model_image e = api_create(fx, alice, iso, 3);
	assert_int_equal(e.folder, MODEL_FOLDER_ISO);
	assert_string_equal(e.format, "iso");
	assert_int_equal(e.gflags, 0);
	/* a title at 255 bytes, and one past */
	char t[300];
	memset(t, 'x', 255);
	memcpy(t, "a b", 3);
	t[255] = '\0';
	struct model_api_op longest[] = {OP(MODEL_API_NAME, t)};
	assert_int_equal(strlen(api_create(fx, alice, longest, 1).title), 255);
	t[255] = 'x';
	t[256] = '\0';
	struct model_err err = {0};
	int64_t before = ut_sql_int(fx, "SELECT count(*) FROM images");
	assert_int_equal(model_api_image_create(fx->m, fx->r1, alice, longest, 1, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "a name is at most 255 bytes");
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images"), before); /* nothing made */
}

static void test_create_quota_and_refusals(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	struct model_err err = {0};
	struct model_api_op bad[][1] = {
		{OP(MODEL_API_DISK_FORMAT, "wrong")},
		{OP(MODEL_API_CONTAINER_FORMAT, "wrong")},
		{PROP("a b", "v")},
		{PROP("k", "line\nbreak")},
		{OP(MODEL_API_NAME, "bidi\xe2\x80\xae")},
	};
	int64_t before = ut_sql_int(fx, "SELECT count(*) FROM images");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err = (struct model_err){0};
		assert_int_equal(model_api_image_create(fx->m, fx->r1, alice, bad[i], 1, NULL, &err), -EINVAL);
		assert_true(err.msg[0]);
	}
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images"), before);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM image_props"), 0);
	/* private-images: 5 */
	for (int i = 0; i < 5; i++)
		api_create(fx, alice, NULL, 0);
	assert_int_equal(model_api_image_create(fx->m, fx->r1, alice, NULL, 0, NULL, &err), -EDQUOT);
	assert_string_equal(err.msg, "quota private-images is 5 of 5");
	/* iso/ has none */
	struct model_api_op iso[] = {OP(MODEL_API_DISK_FORMAT, "iso")};
	api_create(fx, alice, iso, 1);
}

static void test_update_rules(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	ut_account(fx, "bob");
	struct model_api_op named[] = {OP(MODEL_API_NAME, "web")};
	struct model_image a = api_create(fx, alice, named, 1), got;
	struct model_err err;

	/* a rename the directory can take renames it, and drops a title */
	struct model_api_op spaced[] = {OP(MODEL_API_NAME, "my web")};
	assert_int_equal(update(fx, a.id, spaced, 1, &err), 0);
	got = ut_get(fx, a.id);
	assert_string_equal(got.name, "web");
	assert_string_equal(got.title, "my web");
	struct model_api_op renamed[] = {OP(MODEL_API_NAME, "web2")};
	assert_int_equal(update(fx, a.id, renamed, 1, &err), 0);
	got = ut_get(fx, a.id);
	assert_string_equal(got.name, "web2");
	assert_string_equal(got.title, "");
	/* the old entry goes in other mounts */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM changes WHERE obj = %lld AND name = 'web'", (long long)a.id), 1);
	/* mv drops the title too */
	assert_int_equal(update(fx, a.id, spaced, 1, &err), 0);
	assert_int_equal(model_image_rename(fx->m, a.id, "web3", &err), 0);
	assert_string_equal(model_image_api_name(&(struct model_image){0}), "");
	got = ut_get(fx, a.id);
	assert_string_equal(model_image_api_name(&got), "web3");
	/* min_disk, min_ram at their bounds and past them */
	struct model_api_op mins[] = {{.kind = MODEL_API_MIN_DISK, .num = INT32_MAX}, {.kind = MODEL_API_MIN_RAM, .num = 0}};
	assert_int_equal(update(fx, a.id, mins, 2, &err), 0);
	assert_int_equal(ut_get(fx, a.id).min_disk, INT32_MAX);
	struct model_api_op over[] = {{.kind = MODEL_API_MIN_RAM, .num = (int64_t)INT32_MAX + 1}};
	assert_int_equal(update(fx, a.id, over, 1, &err), -EINVAL);
	struct model_api_op neg[] = {{.kind = MODEL_API_MIN_DISK, .num = -1}};
	assert_int_equal(update(fx, a.id, neg, 1, &err), -EINVAL);
	/* all or nothing: a good change before a bad one is not kept */
	struct model_api_op mixed[] = {OP(MODEL_API_CONTAINER_FORMAT, "ovf"), OP(MODEL_API_DISK_FORMAT, "nope")};
	int64_t changes = ut_sql_int(fx, "SELECT count(*) FROM changes");
	assert_int_equal(update(fx, a.id, mixed, 2, &err), -EINVAL);
	assert_string_equal(ut_get(fx, a.id).container_format, "");
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM changes"), changes);
	/* a queued image's folder follows its disk format: to iso/ and back */
	struct model_api_op to_iso[] = {OP(MODEL_API_DISK_FORMAT, "iso")}, to_raw[] = {OP(MODEL_API_DISK_FORMAT, "raw")};
	assert_int_equal(update(fx, a.id, to_iso, 1, &err), 0);
	got = ut_get(fx, a.id);
	assert_int_equal(got.folder, MODEL_FOLDER_ISO);
	assert_string_equal(got.format, "iso");
	assert_int_equal(update(fx, a.id, to_raw, 1, &err), 0);
	got = ut_get(fx, a.id);
	assert_int_equal(got.folder, MODEL_FOLDER_PRIVATE);
	assert_string_equal(got.format, "");
	/* refused when the other folder holds the name */
	ut_image(fx, fx->r1, alice, MODEL_FOLDER_ISO, got.name);
	assert_int_equal(update(fx, a.id, to_iso, 1, &err), -EEXIST);
	assert_int_equal(ut_get(fx, a.id).folder, MODEL_FOLDER_PRIVATE);
	/* formats only while queued; deactivate only when available */
	struct model_api_op fmt[] = {OP(MODEL_API_DISK_FORMAT, "qcow2")};
	struct model_api_op deact[] = {FLAG(MODEL_GFLAG_DEACTIVATED, true)};
	assert_int_equal(update(fx, a.id, deact, 1, &err), -EPERM);
	assert_string_equal(err.msg, "a queued image cannot be deactivated: only available ones");
	struct model_api_op react[] = {FLAG(MODEL_GFLAG_DEACTIVATED, false)};
	assert_int_equal(update(fx, a.id, react, 1, &err), -EPERM);
	assert_string_equal(err.msg, "a queued image cannot be reactivated: only available ones");
	ut_force_status(fx, a.id, MODEL_IMG_AVAILABLE);
	assert_int_equal(update(fx, a.id, fmt, 1, &err), -EPERM);
	assert_string_equal(err.msg, "disk_format is set only while the image is queued (it is available)");
	assert_int_equal(update(fx, a.id, react, 1, &err), 0); /* active: a no-op */
	assert_int_equal(update(fx, a.id, deact, 1, &err), 0);
	assert_true(ut_get(fx, a.id).gflags & MODEL_GFLAG_DEACTIVATED);
	/* private with members: refused; without: fine */
	assert_int_equal(model_share_add(fx->m, a.id, "bob", &err), 0);
	struct model_api_op priv[] = {FLAG(MODEL_GFLAG_SHARED, false)};
	assert_int_equal(update(fx, a.id, priv, 1, &err), -EBUSY);
	assert_int_equal(model_share_remove(fx->m, a.id, "bob", &err), 0);
	assert_int_equal(update(fx, a.id, priv, 1, &err), 0);
	/* public images are not the API's to change */
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	assert_int_equal(update(fx, pub.id, renamed, 1, &err), -EPERM);
}

/* protected: one rule for both faces (rmdir too). */
static void test_protected(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	struct model_api_op on[] = {FLAG(MODEL_GFLAG_PROTECTED, true)}, off[] = {FLAG(MODEL_GFLAG_PROTECTED, false)};
	struct model_err err;

	assert_int_equal(update(fx, id, on, 1, &err), 0);
	err = (struct model_err){0};
	assert_int_equal(model_image_remove(fx->m, id, &err), -EPERM);
	assert_string_equal(err.msg, "golden is protected: unprotect it first (the image API's protected)");
	assert_int_equal(ut_get(fx, id).folder, MODEL_FOLDER_PRIVATE);
	assert_int_equal(update(fx, id, off, 1, &err), 0);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	assert_int_equal(ut_get(fx, id).folder, MODEL_FOLDER_RECYCLE);
}

static int count_props(void *arg, const char *key, const char *value)
{
	(void)key;
	(void)value;
	(*(int *)arg)++;
	return 0;
}

struct seen {
	int n;
	int64_t ids[64];
	char keys[64][16];
};

static int seen_prop(void *arg, int64_t image_id, const char *key, const char *value)
{
	struct seen *s = arg;
	(void)value;
	assert_true(s->n < 64);
	s->ids[s->n] = image_id;
	snprintf(s->keys[s->n++], 16, "%s", key);
	return 0;
}

static void test_properties(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	struct model_image a = api_create(fx, alice, NULL, 0);
	struct model_api_op ops[MODEL_PROPS_MAX + 1];
	char keys[MODEL_PROPS_MAX + 1][16];
	struct model_err err;
	int n = 0;

	for (int i = 0; i <= MODEL_PROPS_MAX; i++) {
		snprintf(keys[i], sizeof keys[i], "k%03d", i);
		ops[i] = PROP(keys[i], "v");
	}
	/* 129 at once: refused, none kept */
	assert_int_equal(update(fx, a.id, ops, MODEL_PROPS_MAX + 1, &err), -EDQUOT);
	assert_string_equal(err.msg, "an image has at most 128 properties (this change makes 129)");
	assert_int_equal(model_image_props(fx->m, a.id, count_props, &n), 0);
	assert_int_equal(n, 0);
	/* 128: kept */
	assert_int_equal(update(fx, a.id, ops, MODEL_PROPS_MAX, &err), 0);
	assert_int_equal(model_image_props(fx->m, a.id, count_props, &n), 0);
	assert_int_equal(n, MODEL_PROPS_MAX);
	/* a value replaced does not count twice; a removal makes room */
	struct model_api_op again[] = {PROP("k000", "w"), PROP("k001", NULL), PROP("new", "x")};
	assert_int_equal(update(fx, a.id, again, 3, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM image_props WHERE image_id = %lld", (long long)a.id), 128);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM image_props WHERE key = 'k000' AND value = 'w'"), 1);
	/* a key and a value at 255 bytes, and past them */
	char k[300], v[300];
	memset(k, 'k', 256);
	k[255] = '\0';
	memset(v, 'v', 256);
	v[255] = '\0';
	struct model_api_op big[] = {PROP("k002", NULL), PROP(k, v)};
	assert_int_equal(update(fx, a.id, big, 2, &err), 0);
	k[255] = 'k';
	k[256] = '\0';
	struct model_api_op bigk[] = {PROP(k, "v")};
	assert_int_equal(update(fx, a.id, bigk, 1, &err), -EINVAL);
	assert_string_equal(err.msg, "a property's name is at most 255 bytes");
	v[255] = 'v';
	v[256] = '\0';
	struct model_api_op bigv[] = {PROP("k003", v)};
	assert_int_equal(update(fx, a.id, bigv, 1, &err), -EINVAL);
	assert_string_equal(err.msg, "a property's value is at most 255 bytes");
	assert_int_equal(model_prop_key_check("", &err), -EINVAL);
	assert_int_equal(model_prop_key_check("a=b", &err), -EINVAL);
	assert_int_equal(model_prop_key_check("os_distro", &err), 0);
	/* a page's properties in one statement a batch, in (image, key) order */
	struct model_image b = api_create(fx, alice, NULL, 0), c = api_create(fx, alice, NULL, 0);
	struct model_api_op one[] = {PROP("z", "1"), PROP("a", "2")};
	assert_int_equal(update(fx, c.id, one, 2, &err), 0);
	int64_t ids[] = {c.id, b.id};
	struct seen s = {0};
	assert_int_equal(model_image_props_of(fx->m, ids, 2, seen_prop, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ids[0], c.id);
	assert_string_equal(s.keys[0], "a");
	assert_string_equal(s.keys[1], "z");
}

/* aki, ari, ami keep their bytes unchecked; the others are checked. */
static void test_words(void **state)
{
	(void)state;
	assert_true(model_disk_format_opaque("aki"));
	assert_true(model_disk_format_opaque("ari"));
	assert_true(model_disk_format_opaque("ami"));
	assert_false(model_disk_format_opaque("raw"));
	assert_false(model_disk_format_opaque(""));
	assert_false(model_disk_format_opaque("ak"));
	assert_true(model_word_in("ploop", MODEL_DISK_FORMATS));
	assert_true(model_word_in("ami", MODEL_DISK_FORMATS));
	assert_false(model_word_in("am", MODEL_DISK_FORMATS));
	assert_false(model_word_in("raw qcow2", MODEL_DISK_FORMATS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_uuid_every_insert, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_create_names, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_create_quota_and_refusals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_update_rules, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_protected, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_properties, ut_setup, ut_teardown),
		cmocka_unit_test(test_words),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

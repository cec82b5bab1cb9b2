/*
 * test_render.c — unit tests for fs/serve/glance/render.c (SPEC §19): an
 * image, a member and the status and visibility mappings as the API shows
 * them, through GET (glance_test.h), with every field that has a twin
 * given a value its twin does not have — size (the data's bytes) and
 * virtual_size (the disk's), created_at and updated_at, min_disk and
 * min_ram, protected and os_hidden, disk_format and container_format — so
 * that two fields swapped show.
 */
#include "glance_test.h"

static json_t *show(struct gt *t, const char *id, const char *who)
{
	struct gt_reply o;
	char url[200];
	snprintf(url, sizeof url, "/v2/images/%s", id);
	assert_int_equal(gt_call(t, &o, "GET", url, who, NULL), 200);
	json_t *j = json_incref(o.json);
	gt_reply_free(&o);
	return j;
}

static const char *str_of(json_t *j, const char *k)
{
	const char *s = json_string_value(json_object_get(j, k));
	return s ? s : "(not a string)";
}
#define STR(j, k) str_of((j), (k))
#define INT(j, k) ((int64_t)json_integer_value(json_object_get((j), (k))))

static void test_image_fields(void **state)
{
	struct gt t;
	char id[37];
	gt_start(&t, *state);
	gt_create(&t, "alice",
	          "{\"name\": \"web\", \"min_disk\": 3, \"min_ram\": 512, \"protected\": true, \"os_hidden\": false, "
	          "\"disk_format\": \"qcow2\", \"container_format\": \"bare\", \"tags\": [\"a\", \"k=v\"], "
	          "\"description\": \"d1\", \"os_distro\": \"debian\", \"visibility\": \"private\"}",
	          id);
	json_t *j = show(&t, id, "alice");
	assert_string_equal(STR(j, "id"), id);
	assert_string_equal(STR(j, "name"), "web");
	assert_string_equal(STR(j, "status"), "queued");
	assert_string_equal(STR(j, "visibility"), "private");
	assert_string_equal(STR(j, "owner"), "alice");
	assert_int_equal(INT(j, "min_disk"), 3);
	assert_int_equal(INT(j, "min_ram"), 512);
	assert_true(json_is_true(json_object_get(j, "protected")));
	assert_true(json_is_false(json_object_get(j, "os_hidden")));
	assert_string_equal(STR(j, "disk_format"), "qcow2");
	assert_string_equal(STR(j, "container_format"), "bare");
	assert_string_equal(STR(j, "description"), "d1");
	assert_string_equal(STR(j, "os_distro"), "debian");
	assert_true(json_is_null(json_object_get(j, "size")));         /* no data yet */
	assert_true(json_is_null(json_object_get(j, "virtual_size")));
	json_t *tags = json_object_get(j, "tags");
	assert_int_equal(json_array_size(tags), 2);
	assert_string_equal(json_string_value(json_array_get(tags, 0)), "a");
	assert_string_equal(json_string_value(json_array_get(tags, 1)), "k=v");
	char self[100];
	snprintf(self, sizeof self, "/v2/images/%s", id);
	assert_string_equal(STR(j, "self"), self);
	snprintf(self, sizeof self, "/v2/images/%s/file", id);
	assert_string_equal(STR(j, "file"), self);
	json_decref(j);
	/* available: data of 1 MiB + 100 bytes, a disk of 3 GiB; made at one
	 * time, changed at another */
	struct model_image img = gt_image(&t, id);
	lt_device(t.fx, img.id, 0, lt_tagged_blob(t.fx, t.fx->r1, "web", LT_MiB + 100), 0);
	lt_available(t.fx, img.id, MODEL_TYPE_LOCAL);
	ut_sql(t.fx, "UPDATE images SET size = %lld, created = 1000000000, ctime_ns = 1500000000000000000 WHERE id = %lld",
	       (long long)(3LL << 30), (long long)img.id);
	j = show(&t, id, "alice");
	assert_string_equal(STR(j, "status"), "active");
	assert_int_equal(INT(j, "size"), LT_MiB + 100);
	assert_int_equal(INT(j, "virtual_size"), 3LL << 30);
	assert_string_equal(STR(j, "created_at"), "2001-09-09T01:46:40Z");
	assert_string_equal(STR(j, "updated_at"), "2017-07-14T02:40:00Z");
	assert_string_equal(STR(j, "disk_format"), "raw"); /* what the bytes are, once in */
	assert_string_equal(STR(j, "stores"), "cn-north-1");
	json_decref(j);
	char url[200];
	snprintf(url, sizeof url, "/v2/images/%s", id);
	assert_int_equal(gt_status(&t, "PATCH", url, "alice",
	                           "[{\"op\": \"replace\", \"path\": \"/protected\", \"value\": false},"
	                           " {\"op\": \"replace\", \"path\": \"/os_hidden\", \"value\": true},"
	                           " {\"op\": \"replace\", \"path\": \"/min_ram\", \"value\": 4},"
	                           " {\"op\": \"replace\", \"path\": \"/visibility\", \"value\": \"shared\"}]"),
	                 200);
	j = show(&t, id, "alice");
	assert_true(json_is_false(json_object_get(j, "protected")));
	assert_true(json_is_true(json_object_get(j, "os_hidden")));
	assert_int_equal(INT(j, "min_disk"), 3);
	assert_int_equal(INT(j, "min_ram"), 4);
	assert_string_equal(STR(j, "visibility"), "shared");
	json_decref(j);
	gt_stop(&t);
}

static void test_member_fields(void **state)
{
	struct gt t;
	struct gt_reply o;
	char id[37], url[200];
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\", \"visibility\": \"shared\"}", id);
	snprintf(url, sizeof url, "/v2/images/%s/members", id);
	gt_token(&t, "bob");
	assert_int_equal(gt_status(&t, "POST", url, "alice", "{\"member\": \"bob\"}"), 200);
	ut_sql(t.fx, "UPDATE shares SET created = 1000000000, updated = 1500000000");
	snprintf(url, sizeof url, "/v2/images/%s/members/bob", id);
	assert_int_equal(gt_call(&t, &o, "GET", url, "bob", NULL), 200);
	assert_string_equal(STR(o.json, "image_id"), id);
	assert_string_equal(STR(o.json, "member_id"), "bob");
	assert_string_equal(STR(o.json, "created_at"), "2001-09-09T01:46:40Z");
	assert_string_equal(STR(o.json, "updated_at"), "2017-07-14T02:40:00Z");
	gt_reply_free(&o);
	/* the public and marketplace folders as Glance names them */
	struct model_image pub = ut_platform(t.fx, t.fx->r1, MODEL_FOLDER_PUBLIC, ut_public_names[0]);
	json_t *j = show(&t, pub.uuid, "bob");
	assert_string_equal(STR(j, "visibility"), "public");
	assert_string_equal(STR(j, "owner"), "platform");
	json_decref(j);
	gt_stop(&t);
}

/* The statuses an image goes through, as Glance names them (render.c's
 * table), and what each shows beside it: size once the bytes are in
 * (active, or staged), virtual_size, the hashes and stores only active
 * (Glance hashes the data as the image becomes active), the disk format
 * the bytes are once they are being taken (the declared one while
 * queued), the region in os_glance_importing_to_stores while importing
 * and in os_glance_failed_import once killed; a deactivated one without
 * its stores; a deleted one (in the recycle bin) not shown at all. */
static void test_image_statuses(void **state)
{
	static const char md5[] = "0123456789abcdef0123456789abcdef";
	static const struct {
		enum model_image_status status;
		const char *kind, *task; /* the image's task, kind and state (NULL: none) */
		const char *shown;
		bool sized, active;
	} cases[] = {
		{MODEL_IMG_QUEUED, NULL, NULL, "queued", false, false},
		{MODEL_IMG_UPLOADING, NULL, NULL, "importing", false, false},
		{MODEL_IMG_UPLOADING, "import", "running", "importing", false, false}, /* a URL import */
		{MODEL_IMG_UPLOADING, "upload", "open", "saving", false, false},       /* its bytes being written */
		{MODEL_IMG_UPLOADING, "upload", "staged", "uploading", true, false},
		{MODEL_IMG_UPLOADING, "upload", "queued", "importing", false, false},  /* checked and sealed */
		{MODEL_IMG_UPLOADING, "upload", "running", "importing", false, false},
		{MODEL_IMG_PENDING, NULL, NULL, "saving", false, false},
		{MODEL_IMG_REPLICATING, NULL, NULL, "saving", false, false},
		{MODEL_IMG_AVAILABLE, NULL, NULL, "active", true, true},
		{MODEL_IMG_ERROR, NULL, NULL, "killed", false, false},
	};
	struct gt t;
	char id[37], sha512[129];
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\", \"disk_format\": \"qcow2\", \"container_format\": \"bare\"}", id);
	struct model_image img = gt_image(&t, id);
	int64_t blob = lt_tagged_blob(t.fx, t.fx->r1, "web", LT_MiB + 70);
	lt_device(t.fx, img.id, 0, blob, 0);
	memset(sha512, 'e', 128);
	sha512[128] = '\0';
	ut_sql(t.fx, "UPDATE blobs SET md5 = %Q, sha512 = %Q WHERE id = %lld", md5, sha512, (long long)blob);
	ut_sql(t.fx, "UPDATE images SET format = 'raw', size = %lld WHERE id = %lld", 3LL << 30, (long long)img.id);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ut_sql(t.fx, "DELETE FROM tasks WHERE image_id = %lld", (long long)img.id);
		if (cases[i].kind)
			ut_sql(t.fx, "INSERT INTO tasks(kind, image_id, state) VALUES (%Q, %lld, %Q)", cases[i].kind,
			       (long long)img.id, cases[i].task);
		ut_sql(t.fx, "UPDATE images SET status = %d WHERE id = %lld", (int)cases[i].status, (long long)img.id);
		json_t *j = show(&t, id, "alice");
		const char *st = STR(j, "status");
		if (strcmp(st, cases[i].shown) != 0)
			fail_msg("case %zu: status %s, want %s", i, st, cases[i].shown);
		bool importing = strcmp(cases[i].shown, "importing") == 0, killed = cases[i].status == MODEL_IMG_ERROR;
		if (cases[i].sized)
			assert_int_equal(INT(j, "size"), LT_MiB + 70);
		else
			assert_true(json_is_null(json_object_get(j, "size")));
		if (cases[i].active) {
			assert_int_equal(INT(j, "virtual_size"), 3LL << 30);
			assert_string_equal(STR(j, "checksum"), md5);
			assert_string_equal(STR(j, "os_hash_algo"), "sha512");
			assert_string_equal(STR(j, "os_hash_value"), sha512);
			assert_string_equal(STR(j, "stores"), "cn-north-1");
		} else {
			if (!json_is_null(json_object_get(j, "virtual_size")) || !json_is_null(json_object_get(j, "checksum")) ||
			    !json_is_null(json_object_get(j, "os_hash_algo")) || !json_is_null(json_object_get(j, "os_hash_value")))
				fail_msg("case %zu (%s): a virtual size or a hash shown", i, st);
			if (json_object_get(j, "stores"))
				fail_msg("case %zu (%s): stores shown", i, st);
		}
		assert_string_equal(STR(j, "disk_format"), cases[i].status == MODEL_IMG_QUEUED ? "qcow2" : "raw");
		assert_string_equal(STR(j, "os_glance_importing_to_stores"), importing ? "cn-north-1" : "");
		assert_string_equal(STR(j, "os_glance_failed_import"), killed ? "cn-north-1" : "");
		json_decref(j);
	}
	/* deactivated: its sizes and hashes shown, its stores hidden (with
	 * its locations, as Glance hides them) */
	char url[200];
	snprintf(url, sizeof url, "/v2/images/%s", id);
	ut_sql(t.fx, "UPDATE images SET status = %d WHERE id = %lld", (int)MODEL_IMG_AVAILABLE, (long long)img.id);
	snprintf(url, sizeof url, "/v2/images/%s/actions/deactivate", id);
	assert_int_equal(gt_status(&t, "POST", url, "alice", NULL), 204);
	json_t *j = show(&t, id, "alice");
	assert_string_equal(STR(j, "status"), "deactivated");
	assert_int_equal(INT(j, "size"), LT_MiB + 70);
	assert_int_equal(INT(j, "virtual_size"), 3LL << 30);
	assert_string_equal(STR(j, "checksum"), md5);
	assert_null(json_object_get(j, "stores"));
	json_decref(j);
	snprintf(url, sizeof url, "/v2/images/%s/actions/reactivate", id);
	assert_int_equal(gt_status(&t, "POST", url, "alice", NULL), 204);
	/* deleted (to the recycle bin): not shown, as a deleted Glance image */
	snprintf(url, sizeof url, "/v2/images/%s", id);
	assert_int_equal(gt_status(&t, "DELETE", url, "alice", NULL), 204);
	assert_int_equal(gt_image(&t, id).status, MODEL_IMG_DELETED);
	assert_int_equal(gt_status(&t, "GET", url, "alice", NULL), 404);
	gt_stop(&t);
}

/* A listing's properties, read a batch of images a statement: each image
 * shows its own and no other's, and a property named as an attribute
 * (the tree's properties file can hold one: "name=...", "status=...")
 * never takes the attribute's place. */
static void test_listed_props(void **state)
{
	struct gt t;
	struct gt_reply o;
	char a[37], b[37];
	size_t i;
	json_t *v;
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"pa\", \"os_distro\": \"debian\"}", a);
	gt_create(&t, "alice", "{\"name\": \"pb\", \"hw_x\": \"1\"}", b);
	ut_sql(t.fx, "INSERT INTO image_props(image_id, key, value) VALUES (%lld, 'name', 'other'), (%lld, 'status', 'x')",
	       (long long)gt_image(&t, a).id, (long long)gt_image(&t, a).id);
	gt_query("owner", "alice");
	assert_int_equal(gt_call(&t, &o, "GET", "/v2/images", "alice", NULL), 200);
	int seen = 0;
	json_array_foreach(json_object_get(o.json, "images"), i, v) {
		bool is_a = strcmp(STR(v, "id"), a) == 0;
		assert_true(is_a || strcmp(STR(v, "id"), b) == 0);
		seen |= is_a ? 1 : 2;
		assert_string_equal(STR(v, "name"), is_a ? "pa" : "pb");
		assert_string_equal(STR(v, "status"), "queued");
		assert_true(is_a == (json_object_get(v, "os_distro") != NULL));
		assert_true(is_a != (json_object_get(v, "hw_x") != NULL));
	}
	assert_int_equal(seen, 3);
	gt_reply_free(&o);
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_image_fields, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_member_fields, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_image_statuses, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_listed_props, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

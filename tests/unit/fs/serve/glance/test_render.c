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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_image_fields, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_member_fields, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

/*
 * test_images.c — unit tests for fs/serve/glance/images.c (SPEC §19)
 * through the dispatcher (glance_test.h): an image's tags by PUT and
 * DELETE .../tags/{tag}, by a create's body and by a patch — a tag of 255
 * bytes and one of 256, GLANCE_TAGS_MAX tags and one more, a tag twice, a
 * tag that is the end of another — each refusal leaving the tags as they
 * were; and a patch's body through the handler (its refusals change
 * nothing); deactivation and its rule on the data; images created in
 * the same second listed in Glance's order, by each sort's ties.
 */
#include "glance_test.h"

/* The image's tags as the API lists them, joined by ','. */
static void tags_of(struct gt *t, const char *id, char *out, size_t cap)
{
	struct gt_reply o;
	char url[200];
	size_t i, n = 0;
	json_t *v;
	snprintf(url, sizeof url, "/v2/images/%s", id);
	assert_int_equal(gt_call(t, &o, "GET", url, "alice", NULL), 200);
	out[0] = '\0';
	json_array_foreach(json_object_get(o.json, "tags"), i, v)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "", json_string_value(v));
	gt_reply_free(&o);
}

static void test_tag_routes(void **state)
{
	struct gt t;
	char id[37], url[600], tag[300], got[8192];
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\"}", id);
	/* 255 bytes: a tag; 256: refused, nothing changed */
	memset(tag, 'g', 256);
	tag[255] = '\0';
	snprintf(url, sizeof url, "/v2/images/%s/tags/%s", id, tag);
	assert_int_equal(gt_status(&t, "PUT", url, "alice", NULL), 204);
	tags_of(&t, id, got, sizeof got);
	assert_string_equal(got, tag);
	tag[255] = 'g';
	tag[256] = '\0';
	snprintf(url, sizeof url, "/v2/images/%s/tags/%s", id, tag);
	int st = gt_status(&t, "PUT", url, "alice", NULL);
	assert_true(st == 400 || st == 404);
	tag[255] = '\0';
	tags_of(&t, id, got, sizeof got);
	assert_string_equal(got, tag);
	/* twice is once */
	snprintf(url, sizeof url, "/v2/images/%s/tags/%s", id, tag);
	assert_int_equal(gt_status(&t, "DELETE", url, "alice", NULL), 204);
	snprintf(url, sizeof url, "/v2/images/%s/tags/ab", id);
	assert_int_equal(gt_status(&t, "PUT", url, "alice", NULL), 204);
	assert_int_equal(gt_status(&t, "PUT", url, "alice", NULL), 204);
	snprintf(url, sizeof url, "/v2/images/%s/tags/b", id); /* the end of another: a tag of its own */
	assert_int_equal(gt_status(&t, "PUT", url, "alice", NULL), 204);
	tags_of(&t, id, got, sizeof got);
	assert_string_equal(got, "ab,b");
	/* removing one leaves the other; an absent one is 404 */
	assert_int_equal(gt_status(&t, "DELETE", url, "alice", NULL), 204);
	assert_int_equal(gt_status(&t, "DELETE", url, "alice", NULL), 404);
	tags_of(&t, id, got, sizeof got);
	assert_string_equal(got, "ab");
	/* GLANCE_TAGS_MAX tags, and one more: 413, the 128 kept */
	for (int i = 1; i < GLANCE_TAGS_MAX; i++) {
		snprintf(url, sizeof url, "/v2/images/%s/tags/t%d", id, i);
		assert_int_equal(gt_status(&t, "PUT", url, "alice", NULL), 204);
	}
	snprintf(url, sizeof url, "/v2/images/%s/tags/one-more", id);
	assert_int_equal(gt_status(&t, "PUT", url, "alice", NULL), 413);
	snprintf(url, sizeof url, "/v2/images/%s/tags/t1", id); /* one there already: no more of them */
	assert_int_equal(gt_status(&t, "PUT", url, "alice", NULL), 204);
	tags_of(&t, id, got, sizeof got);
	int n = 1;
	for (const char *p = got; *p; p++)
		n += *p == ',';
	assert_int_equal(n, GLANCE_TAGS_MAX);
	assert_null(strstr(got, "one-more"));
	assert_int_equal(strncmp(got, "ab,t1,", 6), 0);
	gt_stop(&t);
}

/* Tags in a create's body and a patch's: bounds, a set, refusals atomic. */
static void test_tag_bodies(void **state)
{
	struct gt t;
	char id[37], url[200], got[8192];
	char *body = malloc(8192);
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"w\", \"tags\": [\"ab\", \"b\", \"cab\", \"b\", \"ab\"]}", id);
	tags_of(&t, id, got, sizeof got);
	assert_string_equal(got, "ab,b,cab"); /* a set: each once, none lost */
	/* GLANCE_TAGS_MAX in a body, and one more */
	size_t n = (size_t)sprintf(body, "{\"name\": \"many\", \"tags\": [");
	for (int i = 0; i < GLANCE_TAGS_MAX; i++)
		n += (size_t)sprintf(body + n, "%s\"t%d\"", i ? ", " : "", i);
	strcpy(body + n, "]}");
	gt_create(&t, "alice", body, id);
	tags_of(&t, id, got, sizeof got);
	assert_non_null(strstr(got, ",t127"));
	strcpy(body + n, ", \"t128\"]}");
	assert_int_equal(gt_status(&t, "POST", "/v2/images", "alice", body), 413);
	/* a patch replacing them: 255 bytes yes, 256 no, the old kept */
	snprintf(url, sizeof url, "/v2/images/%s", id);
	char tag[300];
	memset(tag, 'g', 256);
	tag[255] = '\0';
	snprintf(body, 8192, "[{\"op\": \"replace\", \"path\": \"/tags\", \"value\": [\"%s\", \"x\"]}]", tag);
	assert_int_equal(gt_status(&t, "PATCH", url, "alice", body), 200);
	tags_of(&t, id, got, sizeof got);
	assert_int_equal(strlen(got), 255 + 2);
	tag[255] = 'g';
	tag[256] = '\0';
	snprintf(body, 8192, "[{\"op\": \"replace\", \"path\": \"/tags\", \"value\": [\"y\", \"%s\"]}]", tag);
	assert_int_equal(gt_status(&t, "PATCH", url, "alice", body), 400);
	tags_of(&t, id, got, sizeof got);
	assert_int_equal(strlen(got), 255 + 2);
	/* a patch refused in its last operation changes nothing of the first */
	assert_int_equal(gt_status(&t, "PATCH", url, "alice",
	                           "[{\"op\": \"replace\", \"path\": \"/name\", \"value\": \"renamed\"},"
	                           " {\"op\": \"replace\", \"path\": \"/min_ram\", \"value\": \"lots\"}]"),
	                 400);
	assert_string_equal(gt_image(&t, id).name, "many");
	/* tags are not removed (Glance's 403), but replaced by none */
	assert_int_equal(gt_status(&t, "PATCH", url, "alice",
	                           "[{\"op\": \"remove\", \"path\": \"/tags\"}]"), 403);
	tags_of(&t, id, got, sizeof got);
	assert_int_equal(strlen(got), 255 + 2);
	assert_int_equal(gt_status(&t, "PATCH", url, "alice",
	                           "[{\"op\": \"replace\", \"path\": \"/tags\", \"value\": []}]"), 200);
	tags_of(&t, id, got, sizeof got);
	assert_string_equal(got, "");
	free(body);
	gt_stop(&t);
}

/* The listing's ids in order (of the caller's own images: owner=alice),
 * after the query the test set with gt_query; each created_at into
 * created when given. */
static void order_of(struct gt *t, char *out, size_t cap, const char *const ids[3], char created[3][32])
{
	struct gt_reply o;
	size_t i, n = 0;
	json_t *v;
	gt_query("owner", "alice");
	assert_int_equal(gt_call(t, &o, "GET", "/v2/images", "alice", NULL), 200);
	out[0] = '\0';
	json_array_foreach(json_object_get(o.json, "images"), i, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		int k = 0;
		while (k < 3 && strcmp(ids[k], id) != 0)
			k++;
		assert_true(k < 3);
		n += (size_t)snprintf(out + n, cap - n, "%c", "abc"[k]);
		if (created)
			snprintf(created[k], 32, "%s", json_string_value(json_object_get(v, "created_at")));
	}
	gt_reply_free(&o);
}

/* Images created in the same second (created_at equal as shown) are
 * listed by creation, as Glance's are (its created_at keeps microseconds,
 * then its id breaks the tie): the default order newest first; one
 * sort_dir (alone, or for every key) turns the ties with it; several
 * directions leave them newest first (SPEC §19.4 "ties by creation"). */
static void test_list_ties(void **state)
{
	static const struct {
		const char *q[4][2];
		const char *want;
	} cases[] = {
		{{{NULL, NULL}}, "cba"},
		{{{"sort_dir", "asc"}}, "abc"},
		{{{"sort_dir", "desc"}}, "cba"},
		{{{"sort_key", "created_at"}, {"sort_dir", "asc"}}, "abc"},
		{{{"sort", "created_at:asc"}}, "abc"},
		{{{"sort", "created_at"}}, "cba"},
		{{{"sort", "name:asc"}}, "abz"},              /* a and b named alike: their tie asc */
		{{{"sort", "name:desc"}}, "zba"},
		{{{"sort", "name:asc,status:asc"}}, "baz"},   /* two directions: ties desc */
		{{{"sort_key", "name"}, {"sort_key", "status"}, {"sort_dir", "asc"}}, "abz"}, /* one for both */
		{{{"sort_key", "name"}, {"sort_key", "status"}, {"sort_dir", "asc"}, {"sort_dir", "asc"}}, "baz"},
		{{{"sort_key", "name"}}, "zba"},
		{{{"sort_key", "min_ram"}, {"sort_dir", "asc"}}, "abc"}, /* every key alike */
		{{{"sort", "min_ram:asc,name:asc"}}, "baz"},
	};
	struct gt t;
	char id[3][37], created[3][32], got[16], want[16];
	const char *ids[3] = {id[0], id[1], id[2]};
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"same\"}", id[0]);
	gt_create(&t, "alice", "{\"name\": \"same\"}", id[1]);
	gt_create(&t, "alice", "{\"name\": \"zz\"}", id[2]);
	long long a = gt_image(&t, id[0]).id, c = gt_image(&t, id[2]).id;
	ut_sql(t.fx, "UPDATE images SET created = (SELECT min(created) FROM images WHERE id BETWEEN %lld AND %lld)"
	             " WHERE id BETWEEN %lld AND %lld", a, c, a, c);
	assert_true(c == a + 2);
	order_of(&t, got, sizeof got, ids, created);
	assert_string_equal(got, "cba");
	assert_string_equal(created[0], created[1]); /* the same instant, as the API shows it */
	assert_string_equal(created[1], created[2]);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int k = 0; k < 4 && cases[i].q[k][0]; k++)
			gt_query(cases[i].q[k][0], cases[i].q[k][1]);
		order_of(&t, got, sizeof got, ids, NULL);
		snprintf(want, sizeof want, "%s", cases[i].want);
		for (char *p = want; *p; p++)
			*p = *p == 'z' ? 'c' : *p;
		if (strcmp(got, want) != 0)
			fail_msg("case %zu (%s=%s ...): %s, want %s", i, cases[i].q[0][0] ? cases[i].q[0][0] : "(none)",
			         cases[i].q[0][1] ? cases[i].q[0][1] : "", got, want);
	}
	/* the one direction of the default key refused as Glance refuses it,
	 * and nothing listed after the refusal (one answer) */
	struct gt_reply o;
	gt_query("sort_dir", "up");
	assert_int_equal(gt_call(&t, &o, "GET", "/v2/images", "alice", NULL), 400);
	assert_non_null(strstr(o.body, "Invalid sort direction: up"));
	gt_reply_free(&o);
	gt_stop(&t);
}

/* Deactivated: shown so, its data the administrators' only (the owner's
 * download refused), until reactivated; only the owner does either. */
static void test_deactivate(void **state)
{
	struct gt t;
	struct gt_reply o;
	char id[37], url[200], file[220], act[240];
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", id);
	struct model_image img = gt_image(&t, id);
	lt_device(t.fx, img.id, 0, lt_tagged_blob(t.fx, t.fx->r1, "web", LT_MiB), 0);
	lt_available(t.fx, img.id, MODEL_TYPE_LOCAL);
	snprintf(url, sizeof url, "/v2/images/%s", id);
	snprintf(file, sizeof file, "/v2/images/%s/file", id);
	assert_int_equal(gt_status(&t, "GET", file, "alice", NULL), 200);
	snprintf(act, sizeof act, "/v2/images/%s/actions/deactivate", id);
	gt_token(&t, "bob");
	assert_int_equal(gt_status(&t, "POST", act, "bob", NULL), 404);
	assert_int_equal(gt_status(&t, "POST", act, "alice", NULL), 204);
	assert_int_equal(gt_call(&t, &o, "GET", url, "alice", NULL), 200);
	assert_string_equal(json_string_value(json_object_get(o.json, "status")), "deactivated");
	gt_reply_free(&o);
	assert_int_equal(gt_call(&t, &o, "GET", file, "alice", NULL), 403);
	assert_non_null(strstr(o.body, "deactivated"));
	gt_reply_free(&o);
	snprintf(act, sizeof act, "/v2/images/%s/actions/reactivate", id);
	assert_int_equal(gt_status(&t, "POST", act, "alice", NULL), 204);
	assert_int_equal(gt_status(&t, "GET", file, "alice", NULL), 200);
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tag_routes, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_tag_bodies, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_deactivate, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_list_ties, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

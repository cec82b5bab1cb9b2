/*
 * test_images.c — unit tests for fs/serve/glance/images.c (SPEC §19)
 * through the dispatcher (glance_test.h): an image's tags by PUT and
 * DELETE .../tags/{tag}, by a create's body and by a patch — a tag of 255
 * bytes and one of 256, GLANCE_TAGS_MAX tags and one more, a tag twice, a
 * tag that is the end of another — each refusal leaving the tags as they
 * were; and a patch's body through the handler (its refusals change
 * nothing); deactivation and its rule on the data; images created in
 * the same second listed in Glance's order, by each sort's ties; a
 * listing's filters on fields that have a twin, its visibilities, and its
 * bounds (tags, properties, sort keys, limit: 0, -1, GLANCE_LIMIT_MAX over
 * one image more, GLANCE_SORT_MAX to sort and one more) at the limit and
 * one past, a filter given twice;
 * a create naming another owner (refused, nothing made); a staged
 * image's delete, and a protected one's refused with its stage kept.
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

/* The listing as who sees it after the query the test set with gt_query:
 * its images in order as letters, each image of ids[] its letter ("abc..."),
 * any other counted in *others.  The status; the body in *o when given
 * (gt_reply_free it). */
static int listed(struct gt *t, const char *who, const char *const *ids, int nids, char *out, size_t cap, int *others,
                  struct gt_reply *keep)
{
	struct gt_reply o;
	size_t i, n = 0;
	json_t *v;
	int st = gt_call(t, &o, "GET", "/v2/images", who, NULL);
	out[0] = '\0';
	*others = 0;
	json_array_foreach(json_object_get(o.json, "images"), i, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		int k = 0;
		while (k < nids && strcmp(ids[k], id) != 0)
			k++;
		if (k == nids)
			++*others;
		else
			n += (size_t)snprintf(out + n, cap - n, "%c", 'a' + k);
	}
	if (keep)
		*keep = o;
	else
		gt_reply_free(&o);
	return st;
}

/* The filters of a listing (SPEC §19.4) on fields that have a twin, each
 * image given a value its twin does not have (so that two swapped show):
 * updated_at and created_at (a filter and a sort), min_ram and min_disk,
 * size (the data's bytes) and virtual_size, the image's owner and the
 * caller, each key's sort_dir; visibility=community the marketplace's, no
 * one's shares, shared and private the caller's own apart; the
 * bounds of a listing's tags and properties (8, and 9: 400), of its sort
 * keys (4, and 5: 400, in either syntax), of limit (a
 * page of exactly limit, with its next link), and a marker the caller
 * cannot see (400, as an unknown one: never a page after another's
 * private image). */
static void test_list_filters(void **state)
{
	struct gt t;
	struct gt_reply o;
	char id[5][37], url[200], got[64];
	const char *ids[5] = {id[0], id[1], id[2], id[3], id[4]};
	int others;
	gt_start(&t, *state);
	/* a, b, c: alice's (c private); d: bob's, shared with alice (accepted); e: bob's private */
	gt_create(&t, "alice", "{\"name\": \"a\", \"min_disk\": 5, \"tags\": [\"t0\", \"t1\", \"t2\", \"t3\", \"t4\", \"t5\", "
	                       "\"t6\", \"t7\", \"t8\"], \"p0\": \"v\", \"p1\": \"v\", \"p2\": \"v\", \"p3\": \"v\", "
	                       "\"p4\": \"v\", \"p5\": \"v\", \"p6\": \"v\", \"p7\": \"v\", \"p8\": \"v\"}", id[0]);
	gt_create(&t, "alice", "{\"name\": \"b\", \"min_ram\": 5}", id[1]);
	gt_create(&t, "alice", "{\"name\": \"c\", \"visibility\": \"private\"}", id[2]);
	gt_create(&t, "bob", "{\"name\": \"d\", \"visibility\": \"shared\"}", id[3]);
	gt_create(&t, "bob", "{\"name\": \"e\"}", id[4]);
	gt_token(&t, "alice");
	snprintf(url, sizeof url, "/v2/images/%s/members", id[3]);
	assert_int_equal(gt_status(&t, "POST", url, "bob", "{\"member\": \"alice\"}"), 200);
	snprintf(url, sizeof url, "/v2/images/%s/members/alice", id[3]);
	assert_int_equal(gt_status(&t, "PUT", url, "alice", "{\"status\": \"accepted\"}"), 200);
	/* made 2001, 2004, 2008; changed 2033, 2008, 2011: updated_at's order is b c a */
	static const long long made[3] = {1000000000, 1100000000, 1200000000}, changed[3] = {2000000000, 1200000000, 1300000000};
	for (int k = 0; k < 3; k++)
		ut_sql(t.fx, "UPDATE images SET created = %lld, ctime_ns = %lld000000000 WHERE id = %lld", made[k],
		       changed[k], (long long)gt_image(&t, id[k]).id);
	/* a and b available: 1 MiB of data each; a a disk of 8 MiB, b of 1 MiB */
	for (int k = 0; k < 2; k++) {
		struct model_image img = gt_image(&t, id[k]);
		lt_device(t.fx, img.id, 0, lt_tagged_blob(t.fx, t.fx->r1, k ? "b" : "a", LT_MiB), 0);
		lt_available(t.fx, img.id, MODEL_TYPE_LOCAL);
		ut_sql(t.fx, "UPDATE images SET size = %llu WHERE id = %lld", (unsigned long long)(k ? LT_MiB : 8 * LT_MiB),
		       (long long)img.id);
	}
	const struct { /* not static: ids are the test's */
		const char *q[4][2];
		const char *want;
	} cases[] = {
		{{{"owner", "alice"}}, "cba"},
		{{{"owner", "bob"}}, "d"},                                   /* the image's owner, not the caller */
		{{{"updated_at", "gt:2030-01-01T00:00:00Z"}}, "a"},          /* updated_at: changed, not made */
		{{{"created_at", "gt:2030-01-01T00:00:00Z"}}, ""},
		{{{"updated_at", "lt:2009-01-01"}, {"owner", "alice"}}, "b"},
		{{{"created_at", "lt:2005-01-01"}, {"owner", "alice"}}, "ba"},
		{{{"sort_key", "updated_at"}, {"sort_dir", "asc"}, {"owner", "alice"}}, "bca"},
		{{{"sort", "updated_at:desc"}, {"owner", "alice"}}, "acb"},
		{{{"min_ram", "5"}}, "b"},                                   /* min_ram, not min_disk */
		{{{"min_disk", "5"}}, "a"},
		{{{"min_ram_min", "1"}}, "b"},
		{{{"min_disk_max", "4"}, {"owner", "alice"}}, "cb"},
		{{{"size_min", "1048577"}}, ""},                             /* the data's bytes, not the disk's */
		{{{"size_max", "1048576"}, {"owner", "alice"}}, "ba"},
		{{{"size", "1048576"}}, "ba"},
		{{{"virtual_size_min", "1048577"}}, "a"},
		{{{"virtual_size", "1048576"}}, "b"},
		{{{"name", "b"}, {"name", "a"}}, "a"},                       /* a filter twice: its last, as Glance's */
		{{{"tag", " \tt8 \t"}}, "a"},                                 /* a tag's blanks stripped, both ends */
		{{{"tag", "t8 x"}}, ""},
		{{{"id", id[1]}, {"id", id[2]}}, "c"},
		{{{"owner", "alice"}, {"limit", "0"}}, ""},
		/* one direction for both keys, then one a key (a, c and d tie on min_ram) */
		{{{"sort_key", "min_ram"}, {"sort_key", "name"}, {"sort_dir", "asc"}}, "acdb"},
		{{{"sort_key", "min_ram"}, {"sort_key", "name"}, {"sort_dir", "asc"}, {"sort_dir", "desc"}}, "dcab"},
		{{{"sort", "min_ram:asc,name:desc,size,id"}, {"owner", "alice"}}, "cab"}, /* 4 keys */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int k = 0; k < 4 && cases[i].q[k][0]; k++)
			gt_query(cases[i].q[k][0], cases[i].q[k][1]);
		assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, NULL), 200);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu (%s=%s ...): %s, want %s", i, cases[i].q[0][0], cases[i].q[0][1], got, cases[i].want);
	}
	/* 5 sort keys: 400, whichever syntax */
	gt_query("sort", "min_ram:asc,name:desc,size,id,owner");
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, &o), 400);
	assert_non_null(strstr(o.body, "at most 4 sort keys"));
	gt_reply_free(&o);
	for (int k = 0; k < 5; k++)
		gt_query("sort_key", (const char *[]){"min_ram", "name", "size", "id", "owner"}[k]);
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, &o), 400);
	assert_non_null(strstr(o.body, "at most 4 sort keys"));
	gt_reply_free(&o);
	/* 8 tags and 8 properties to match, and 9: 400 */
	const char *const tq[9] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"};
	const char *const pq[9] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"};
	for (int nine = 0; nine < 2; nine++) {
		for (int k = 0; k < 8 + nine; k++)
			gt_query("tag", tq[k]);
		int st = listed(&t, "alice", ids, 5, got, sizeof got, &others, &o);
		if (nine) {
			assert_int_equal(st, 400);
			assert_non_null(strstr(o.body, "at most 8 tags"));
		} else {
			assert_int_equal(st, 200);
			assert_string_equal(got, "a");
			assert_int_equal(others, 0);
		}
		gt_reply_free(&o);
		for (int k = 0; k < 8 + nine; k++)
			gt_query(pq[k], "v");
		st = listed(&t, "alice", ids, 5, got, sizeof got, &others, &o);
		if (nine) {
			assert_int_equal(st, 400);
			assert_non_null(strstr(o.body, "at most 8 properties"));
		} else {
			assert_int_equal(st, 200);
			assert_string_equal(got, "a");
			assert_int_equal(others, 0);
		}
		gt_reply_free(&o);
	}
	/* limit: a whole number, 0 an empty page with no next; -1 is 400 */
	gt_query("limit", "0");
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, &o), 200);
	assert_int_equal(others, 0);
	assert_null(json_object_get(o.json, "next"));
	gt_reply_free(&o);
	gt_query("limit", "-1");
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, NULL), 400);
	/* limit: a page of exactly that many, and the next page from its last */
	gt_query("owner", "alice");
	gt_query("limit", "2");
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, &o), 200);
	assert_string_equal(got, "cb");
	char next[300];
	snprintf(next, sizeof next, "%s", json_string_value(json_object_get(o.json, "next")));
	gt_reply_free(&o);
	char want[300];
	snprintf(want, sizeof want, "/v2/images?marker=%s&owner=alice&limit=2", id[1]);
	assert_string_equal(next, want);
	gt_query("owner", "alice");
	gt_query("limit", "2");
	gt_query("marker", id[1]);
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, &o), 200);
	assert_string_equal(got, "a");
	assert_null(json_object_get(o.json, "next")); /* a short page is the last */
	gt_reply_free(&o);
	/* a marker: one the caller sees (a share received) pages; bob's
	 * private image is no marker for alice, as one that does not exist */
	gt_query("marker", id[3]);
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, NULL), 200);
	gt_query("marker", id[4]);
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, &o), 400);
	assert_non_null(strstr(o.body, "could not be found"));
	gt_reply_free(&o);
	/* visibility=community: the marketplace's images, each shown so; none of the shares */
	gt_query("visibility", "community");
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, &o), 200);
	assert_string_equal(got, "");
	assert_int_equal(others, UT_MARKETPLACE_COUNT);
	for (size_t i = 0; i < json_array_size(json_object_get(o.json, "images")); i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(o.json, "images"), i),
		                                                      "visibility")),
		                    "community");
	gt_reply_free(&o);
	/* shared: the caller's own (Glance's default for a new image) and
	 * those it accepted; private: its own not shared */
	gt_query("visibility", "shared");
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, NULL), 200);
	assert_string_equal(got, "dba");
	gt_query("visibility", "private");
	assert_int_equal(listed(&t, "alice", ids, 5, got, sizeof got, &others, NULL), 200);
	assert_string_equal(got, "c");
	gt_stop(&t);
}

/* A create names its owner at most as the caller (Glance's 403 for
 * another project): refused with the name, no image made. */
static void test_create_owner(void **state)
{
	struct gt t;
	struct gt_reply o;
	char id[37], got[64];
	const char *ids[1] = {id};
	int others, before;
	gt_start(&t, *state);
	gt_token(&t, "bob");
	assert_int_equal(listed(&t, "alice", ids, 0, got, sizeof got, &before, NULL), 200);
	assert_int_equal(gt_call(&t, &o, "POST", "/v2/images", "alice", "{\"name\": \"x\", \"owner\": \"bob\"}"), 403);
	assert_non_null(strstr(o.body, "(not bob)"));
	gt_reply_free(&o);
	assert_int_equal(listed(&t, "alice", ids, 0, got, sizeof got, &others, NULL), 200);
	assert_int_equal(others, before);
	gt_create(&t, "alice", "{\"name\": \"x\", \"owner\": \"alice\"}", id);
	gt_query("owner", "alice");
	assert_int_equal(listed(&t, "alice", ids, 1, got, sizeof got, &others, NULL), 200);
	assert_string_equal(got, "a");
	assert_int_equal(others, 0);
	gt_stop(&t);
}

/* A staged upload's image deleted: the stage is cancelled with it; a
 * protected one's DELETE is refused (403) and leaves the stage as it was
 * (still uploading, its size shown), nothing half-changed. */
static void test_delete_staged(void **state)
{
	struct gt t;
	struct gt_reply o;
	char id[37], url[200], stage[220];
	const size_t n = 64 * 1024;
	char *body = gt_raw_body(n);
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"p\", \"protected\": true, \"disk_format\": \"raw\", \"container_format\": "
	                       "\"bare\"}", id);
	snprintf(url, sizeof url, "/v2/images/%s", id);
	snprintf(stage, sizeof stage, "/v2/images/%s/stage", id);
	assert_int_equal(gt_status(&t, "PUT", stage, "alice", body), 204);
	assert_int_equal(gt_call(&t, &o, "DELETE", url, "alice", NULL), 403);
	assert_non_null(strstr(o.body, "protected"));
	gt_reply_free(&o);
	assert_int_equal(gt_call(&t, &o, "GET", url, "alice", NULL), 200);
	assert_string_equal(json_string_value(json_object_get(o.json, "status")), "uploading");
	assert_int_equal(json_integer_value(json_object_get(o.json, "size")), n);
	gt_reply_free(&o);
	/* unprotected: deleted, its stage with it */
	assert_int_equal(gt_status(&t, "PATCH", url, "alice",
	                           "[{\"op\": \"replace\", \"path\": \"/protected\", \"value\": false}]"), 200);
	assert_int_equal(gt_status(&t, "DELETE", url, "alice", NULL), 204);
	assert_int_equal(gt_status(&t, "GET", url, "alice", NULL), 404);
	free(body);
	gt_stop(&t);
}

/* limit at GLANCE_LIMIT_MAX and past it, over GLANCE_LIMIT_MAX + 1 images
 * of one account (rows written by SQL: no create's cost or quota): a page
 * is never longer than GLANCE_LIMIT_MAX, whatever limit asks, and says
 * where the next begins; without a limit, GLANCE_LIMIT_DEFAULT. */
static void test_list_limit_max(void **state)
{
	struct gt t;
	struct gt_reply o;
	static const char *const limits[] = {NULL, "999", "1000", "1001", "99999999999"};
	static const size_t want[] = {GLANCE_LIMIT_DEFAULT, 999, GLANCE_LIMIT_MAX, GLANCE_LIMIT_MAX, GLANCE_LIMIT_MAX};
	_Static_assert(GLANCE_LIMIT_MAX == 1000 && GLANCE_LIMIT_DEFAULT == 1000, "the limits as §19.4 states them");
	gt_start(&t, *state);
	int64_t alice = ut_account_once(t.fx, "alice");
	ut_sql(t.fx, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
	             "INSERT INTO images(ext_id, region_id, account_id, folder, name, status, type, format, created, "
	             "mtime_ns, ctime_ns, dir_mtime_ns, uuid) SELECT printf('img-l%%07d', i), %lld, %lld, %d, "
	             "printf('l%%d', i), %d, 0, '', 1000000000, 0, 0, 0, printf('00000000-0000-4000-8000-%%012d', i) FROM n",
	       GLANCE_LIMIT_MAX + 1, (long long)t.fx->r1, (long long)alice, (int)MODEL_FOLDER_PRIVATE,
	       (int)MODEL_IMG_QUEUED);
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		gt_query("owner", "alice");
		if (limits[i])
			gt_query("limit", limits[i]);
		assert_int_equal(gt_call(&t, &o, "GET", "/v2/images", "alice", NULL), 200);
		size_t n = json_array_size(json_object_get(o.json, "images"));
		if (n != want[i])
			fail_msg("limit=%s: %zu images, want %zu", limits[i] ? limits[i] : "(none)", n, want[i]);
		assert_non_null(json_object_get(o.json, "next")); /* one more is left */
		gt_reply_free(&o);
	}
	gt_stop(&t);
}

/* Sorting by another key than created_at reads at most GLANCE_SORT_MAX
 * images (SPEC §19.4): that many sort, one more is 400 with the reason
 * (rows written by SQL, as above). */
static void test_list_sort_max(void **state)
{
	struct gt t;
	struct gt_reply o;
	gt_start(&t, *state);
	int64_t alice = ut_account_once(t.fx, "alice");
	ut_sql(t.fx, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
	             "INSERT INTO images(ext_id, region_id, account_id, folder, name, status, type, format, created, "
	             "mtime_ns, ctime_ns, dir_mtime_ns, uuid) SELECT printf('img-s%%07d', i), %lld, %lld, %d, "
	             "printf('s%%d', i), %d, 0, '', 1000000000, 0, 0, 0, printf('00000000-0000-4000-8000-%%012d', i) FROM n",
	       GLANCE_SORT_MAX + 1, (long long)t.fx->r1, (long long)alice, (int)MODEL_FOLDER_PRIVATE,
	       (int)MODEL_IMG_QUEUED);
	gt_query("owner", "alice");
	gt_query("sort", "name:asc");
	assert_int_equal(gt_call(&t, &o, "GET", "/v2/images", "alice", NULL), 400);
	assert_non_null(strstr(o.body, "images to sort by name"));
	gt_reply_free(&o);
	ut_sql(t.fx, "DELETE FROM images WHERE ext_id = 'img-s0000001'");
	gt_query("owner", "alice");
	gt_query("sort", "name:asc");
	gt_query("limit", "1");
	assert_int_equal(gt_call(&t, &o, "GET", "/v2/images", "alice", NULL), 200);
	json_t *first = json_array_get(json_object_get(o.json, "images"), 0);
	assert_string_equal(json_string_value(json_object_get(first, "name")), "s10"); /* s1 gone: s10 < s100 < s2 */
	gt_reply_free(&o);
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tag_routes, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_tag_bodies, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_deactivate, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_list_ties, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_list_filters, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_list_limit_max, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_list_sort_max, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_create_owner, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_delete_staged, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

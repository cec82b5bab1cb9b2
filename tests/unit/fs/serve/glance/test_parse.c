/*
 * test_parse.c — unit tests for fs/serve/glance/parse.c (SPEC §19): a
 * create's body and a JSON patch (both dialects) into the model's change
 * lists, with each refusal's status; Glance tags to and from the tags
 * file; every bound at its limit and one past it; and the fuzzer's body
 * (tests/fuzz/fuzz_glance_body.h) over tests/fuzz/corpus-glance and
 * bit-flipped copies of it, so every build runs the corpus.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../../fuzz/fuzz_glance_body.h"

static json_t *J(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	return j;
}

static bool has_a(void *arg, const char *key)
{
	(void)arg;
	return strcmp(key, "a") == 0;
}

static void test_create(void **state)
{
	struct glance_ops *ops = malloc(sizeof(*ops));
	struct glance_bad bad = {0};
	const char *owner;
	json_t *j = J("{\"name\": \"web\", \"disk_format\": \"raw\", \"visibility\": \"private\", \"protected\": true,"
	              " \"min_ram\": 512, \"tags\": [\"t\", \"k=v\", \"t\"], \"os_distro\": \"debian\", \"owner\": \"me\","
	              " \"description\": \"d\", \"container_format\": null, \"kernel_id\": null}");
	(void)state;
	assert_int_equal(glance_parse_create(j, ops, &owner, &bad), 0);
	assert_string_equal(owner, "me");
	int seen = 0;
	for (size_t i = 0; i < ops->n; i++) {
		const struct model_api_op *o = &ops->op[i];
		switch (o->kind) {
		case MODEL_API_NAME: assert_string_equal(o->value, "web"); seen |= 1; break;
		case MODEL_API_DISK_FORMAT: assert_string_equal(o->value, "raw"); seen |= 2; break;
		case MODEL_API_FLAG:
			if (o->num == MODEL_GFLAG_SHARED)
				assert_false(o->on), seen |= 4;
			else
				assert_true(o->num == MODEL_GFLAG_PROTECTED && o->on), seen |= 8;
			break;
		case MODEL_API_MIN_RAM: assert_int_equal(o->num, 512); seen |= 16; break;
		case MODEL_API_TAGS: assert_string_equal(o->value, "t=\nk=v\n"); seen |= 32; break; /* a set */
		case MODEL_API_PROP: assert_string_equal(o->key, "os_distro"); seen |= 64; break;
		case MODEL_API_DESCRIPTION: assert_string_equal(o->value, "d"); seen |= 128; break;
		default: fail_msg("op %d", o->kind);
		}
	}
	assert_int_equal(seen, 255);
	assert_int_equal(ops->n, 8); /* nulls change nothing */
	json_decref(j);
	static const struct {
		const char *body;
		int status;
	} bad_bodies[] = {
		{"[]", 400},
		{"{\"os_glance_x\": \"1\"}", 403},
		{"{\"id\": \"00000000-0000-4000-8000-000000000000\"}", 403},
		{"{\"status\": \"active\"}", 403},
		{"{\"visibility\": \"public\"}", 403},
		{"{\"visibility\": \"community\"}", 403},
		{"{\"visibility\": \"nope\"}", 400},
		{"{\"protected\": \"yes\"}", 400},
		{"{\"min_disk\": 1.5}", 400},
		{"{\"name\": 7}", 400},
		{"{\"hw_cpu\": 4}", 400},
		{"{\"tags\": \"t\"}", 400},
		{"{\"tags\": [\"\"]}", 400},
		{"{\"owner\": 1}", 400},
	};
	for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
		j = J(bad_bodies[i].body);
		bad = (struct glance_bad){0};
		assert_int_equal(glance_parse_create(j, ops, &owner, &bad), -1);
		if (bad.status != bad_bodies[i].status)
			fail_msg("%s: %d, want %d (%s)", bad_bodies[i].body, bad.status, bad_bodies[i].status, bad.why);
		assert_true(bad.why[0]);
		json_decref(j);
	}
	free(ops);
}

static void test_patch(void **state)
{
	struct glance_ops *ops = malloc(sizeof(*ops));
	struct glance_bad bad = {0};
	(void)state;
	/* RFC 6902's dialect and the v2.0 draft's (tempest's) alike */
	json_t *j = J("[{\"op\": \"replace\", \"path\": \"/name\", \"value\": \"n\"},"
	              " {\"replace\": \"/min_disk\", \"value\": 2},"
	              " {\"op\": \"add\", \"path\": \"/x~1y~0z\", \"value\": \"v\"},"
	              " {\"remove\": \"/a\"},"
	              " {\"op\": \"add\", \"path\": \"/a\", \"value\": \"again\"},"
	              " {\"op\": \"replace\", \"path\": \"/a\", \"value\": \"third\"},"
	              " {\"op\": \"replace\", \"path\": \"/tags\", \"value\": []}]");
	assert_int_equal(glance_parse_patch(j, "", has_a, NULL, ops, &bad), 0);
	assert_int_equal(ops->n, 7);
	assert_int_equal(ops->op[0].kind, MODEL_API_NAME);
	assert_int_equal(ops->op[1].kind, MODEL_API_MIN_DISK);
	assert_int_equal(ops->op[1].num, 2);
	assert_string_equal(ops->op[2].key, "x/y~z"); /* RFC 6901's escapes */
	assert_null(ops->op[3].value);                  /* removed */
	assert_string_equal(ops->op[5].value, "third"); /* replace after add: it exists by then */
	assert_int_equal(ops->op[6].kind, MODEL_API_TAGS);
	assert_string_equal(ops->op[6].value, "");
	json_decref(j);
	static const struct {
		const char *patch;
		int status;
	} bad_patches[] = {
		{"{}", 400},
		{"[1]", 400},
		{"[{\"op\": \"move\", \"path\": \"/a\"}]", 400},
		{"[{\"op\": \"add\", \"path\": \"/a\"}]", 400},           /* no value */
		{"[{\"op\": \"add\", \"path\": \"a\", \"value\": \"v\"}]", 400},
		{"[{\"op\": \"add\", \"path\": \"/\", \"value\": \"v\"}]", 400},
		{"[{\"op\": \"add\", \"path\": \"/a~2\", \"value\": \"v\"}]", 400},
		{"[{\"op\": \"replace\", \"path\": \"/status\", \"value\": \"active\"}]", 403},
		{"[{\"op\": \"replace\", \"path\": \"/owner\", \"value\": \"x\"}]", 403},
		{"[{\"op\": \"add\", \"path\": \"/os_glance_x\", \"value\": \"v\"}]", 403},
		{"[{\"op\": \"add\", \"path\": \"/locations/-\", \"value\": {}}]", 403},
		{"[{\"op\": \"remove\", \"path\": \"/name\"}]", 403},
		{"[{\"op\": \"remove\", \"path\": \"/tags\"}]", 403}, /* Glance: "Property tags may not be removed." */
		{"[{\"op\": \"replace\", \"path\": \"/nope\", \"value\": \"v\"}]", 409},
		{"[{\"op\": \"remove\", \"path\": \"/nope\"}]", 409},
		{"[{\"op\": \"remove\", \"path\": \"/a\"}, {\"op\": \"remove\", \"path\": \"/a\"}]", 409},
		{"[{\"op\": \"add\", \"path\": \"/a\", \"value\": 1}]", 400},
		/* an attribute's value of another type or out of its enum */
		{"[{\"op\": \"replace\", \"path\": \"/min_disk\", \"value\": \"x\"}]", 400},
		{"[{\"op\": \"replace\", \"path\": \"/visibility\", \"value\": \"nope\"}]", 400},
		{"[{\"op\": \"replace\", \"path\": \"/protected\", \"value\": \"yes\"}]", 400},
		{"[{\"op\": \"replace\", \"path\": \"/name\", \"value\": 7}]", 400},
	};
	for (size_t i = 0; i < sizeof bad_patches / sizeof bad_patches[0]; i++) {
		j = J(bad_patches[i].patch);
		bad = (struct glance_bad){0};
		assert_int_equal(glance_parse_patch(j, "", has_a, NULL, ops, &bad), -1);
		if (bad.status != bad_patches[i].status)
			fail_msg("%s: %d, want %d (%s)", bad_patches[i].patch, bad.status, bad_patches[i].status, bad.why);
		json_decref(j);
	}
	/* a patch of GLANCE_PATCH_OPS operations, and one more */
	json_t *p = json_array();
	for (int i = 0; i < GLANCE_PATCH_OPS; i++)
		json_array_append_new(p, json_pack("{s:s,s:s,s:s}", "op", "add", "path", "/k", "value", "v"));
	assert_int_equal(glance_parse_patch(p, "", NULL, NULL, ops, &bad), 0);
	assert_int_equal(ops->n, GLANCE_PATCH_OPS);
	json_array_append_new(p, json_pack("{s:s,s:s,s:s}", "op", "add", "path", "/k", "value", "v"));
	assert_int_equal(glance_parse_patch(p, "", NULL, NULL, ops, &bad), -1);
	assert_int_equal(bad.status, 413);
	json_decref(p);
	/* a property's name at 255 bytes, and one past */
	char path[300] = "/";
	memset(path + 1, 'k', 255);
	j = json_pack("[{s:s,s:s,s:s}]", "op", "add", "path", path, "value", "v");
	assert_int_equal(glance_parse_patch(j, "", NULL, NULL, ops, &bad), 0);
	json_decref(j);
	path[256] = 'k';
	j = json_pack("[{s:s,s:s,s:s}]", "op", "add", "path", path, "value", "v");
	assert_int_equal(glance_parse_patch(j, "", NULL, NULL, ops, &bad), -1);
	assert_int_equal(bad.status, 400);
	json_decref(j);
	free(ops);
}

static void collect(void *arg, const char *tag, size_t len)
{
	strncat(arg, tag, len);
	strcat(arg, ",");
}

/* A patch's removals refused in Glance's words (Debian's glance-api 25, as
 * test_glance_diff runs it, answers each of these so): every attribute
 * the API writes, tags among them, "Property K may not be removed."; a
 * read-only one and a reserved one their own words, checked first (its
 * deserializer's _validate_change). */
static void test_remove_words(void **state)
{
	static const char *const attributes[] = {"name",     "visibility",  "protected",        "os_hidden", "min_ram",
	                                         "min_disk", "disk_format", "container_format", "tags"};
	struct glance_ops *ops = malloc(sizeof(*ops));
	struct glance_bad bad;
	char path[32], want[128];
	(void)state;
	for (size_t i = 0; i < sizeof attributes / sizeof attributes[0]; i++) {
		snprintf(path, sizeof path, "/%s", attributes[i]);
		json_t *j = json_pack("[{s:s,s:s}]", "op", "remove", "path", path);
		bad = (struct glance_bad){0};
		assert_int_equal(glance_parse_patch(j, "", NULL, NULL, ops, &bad), -1);
		assert_int_equal(bad.status, 403);
		snprintf(want, sizeof want, "Property %s may not be removed.", attributes[i]);
		assert_string_equal(bad.why, want);
		json_decref(j);
	}
	static const struct {
		const char *patch, *why;
	} first[] = {
		{"[{\"op\": \"remove\", \"path\": \"/id\"}]", "Attribute 'id' is read-only."},
		{"[{\"op\": \"remove\", \"path\": \"/status\"}]", "Attribute 'status' is read-only."},
		{"[{\"op\": \"remove\", \"path\": \"/owner\"}]", "Property owner may not be removed."},
		{"[{\"op\": \"replace\", \"path\": \"/owner\", \"value\": \"x\"}]", "Attribute 'owner' is read-only."},
		{"[{\"op\": \"remove\", \"path\": \"/os_glance_x\"}]", "Attribute 'os_glance_x' is reserved."},
		{"[{\"remove\": \"/tags\"}]", "Property tags may not be removed."}, /* the v2.0 draft's spelling */
	};
	for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) {
		json_t *j = J(first[i].patch);
		bad = (struct glance_bad){0};
		assert_int_equal(glance_parse_patch(j, "", NULL, NULL, ops, &bad), -1);
		assert_int_equal(bad.status, 403);
		assert_string_equal(bad.why, first[i].why);
		json_decref(j);
	}
	free(ops);
}

static void test_tags(void **state)
{
	char out[MODEL_TEXT_MAX + 1], why[160], seen[256] = "";
	(void)state;
	glance_tags_each("a=\nk=v\n=\nb\n", collect, seen);
	assert_string_equal(seen, "a,k=v,b,");
	assert_int_equal(glance_tags_edit("a=\nk=v\n", "new", true, out, why, sizeof why), 0);
	assert_string_equal(out, "a=\nk=v\nnew=\n");
	assert_int_equal(glance_tags_edit("a=\nk=v\n", "a", true, out, why, sizeof why), 0); /* there already */
	assert_string_equal(out, "a=\nk=v\n");
	assert_int_equal(glance_tags_edit("a=\nk=v\n", "k=v", false, out, why, sizeof why), 0);
	assert_string_equal(out, "a=\n");
	assert_int_equal(glance_tags_edit("a=\n", "zz", false, out, why, sizeof why), -ENOENT);
	assert_int_equal(glance_tags_edit("", "a\nb", true, out, why, sizeof why), -EINVAL);
	assert_int_equal(glance_tags_edit("", "", true, out, why, sizeof why), -EINVAL);
	/* a tag of 255 bytes, and one past */
	char t[300];
	memset(t, 't', 256);
	t[255] = '\0';
	assert_int_equal(glance_tags_edit("", t, true, out, why, sizeof why), 0);
	t[255] = 't';
	t[256] = '\0';
	assert_int_equal(glance_tags_edit("", t, true, out, why, sizeof why), -EINVAL);
	/* 128 tags, and one more */
	char *many = calloc(1, MODEL_TEXT_MAX + 1);
	for (int i = 0; i < GLANCE_TAGS_MAX; i++)
		sprintf(many + strlen(many), "t%d=\n", i);
	assert_int_equal(glance_tags_edit(many, "t0", true, out, why, sizeof why), 0);
	assert_int_equal(glance_tags_edit(many, "one-more", true, out, why, sizeof why), -EDQUOT);
	assert_string_equal(why, "an image has at most 128 tags");
	free(many);
}

/* The fuzzer's body over its corpus, and bit-flipped copies of each seed. */
static void test_corpus(void **state)
{
	char dir[4096];
	(void)state;
	snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus-glance", IMGFS_SOURCE_DIR);
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	unsigned seed = 1;
	while ((e = readdir(d))) {
		char path[8192];
		uint8_t buf[65536];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t len = fread(buf, 1, sizeof buf, f);
		fclose(f);
		glance_fuzz_one(buf, len);
		for (int k = 0; k < 200 && len > 1; k++) {
			uint8_t copy[65536];
			memcpy(copy, buf, len);
			seed = seed * 1103515245 + 12345;
			copy[1 + (seed >> 8) % (len - 1)] ^= (uint8_t)(1u << ((seed >> 4) & 7));
			glance_fuzz_one(copy, len);
		}
		n++;
	}
	closedir(d);
	assert_true(n >= 10);
}

/* Glance's split_filter_op: op:value, and a whole time is eq of itself. */
static void test_filter_op(void **state)
{
	(void)state;
	const char *v;
	char name[32];
	assert_int_equal(glance_parse_op("abc", &v, name), GLANCE_OP_EQ);
	assert_string_equal(v, "abc");
	assert_int_equal(glance_parse_op("in:a,b", &v, name), GLANCE_OP_IN);
	assert_string_equal(v, "a,b");
	assert_int_equal(glance_parse_op("gte:2100-01-01T00:00:00Z", &v, name), GLANCE_OP_GTE);
	assert_string_equal(v, "2100-01-01T00:00:00Z");
	const char *ops[] = {"eq", "neq", "gt", "gte", "lt", "lte", "in"};
	for (int i = 0; i < 7; i++) {
		char e[32];
		snprintf(e, sizeof(e), "%s:x", ops[i]);
		assert_int_equal(glance_parse_op(e, &v, name), i);
	}
	/* a time with colons of its own, no operator: eq of the whole */
	assert_int_equal(glance_parse_op("2100-01-01T00:00:00Z", &v, name), GLANCE_OP_EQ);
	assert_string_equal(v, "2100-01-01T00:00:00Z");
	/* an unknown operator says its name (Glance's 400) */
	assert_int_equal(glance_parse_op("foo:bar", &v, name), -1);
	assert_string_equal(name, "foo");
	assert_int_equal(glance_parse_op("GTE:x", &v, name), -1); /* case matters, as there */
	assert_int_equal(glance_parse_op(":x", &v, name), -1);
	assert_string_equal(name, "");
	/* a long name is cut to the buffer, never past it */
	assert_int_equal(glance_parse_op("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1", &v, name), -1);
	assert_int_equal(strlen(name), 31);
	assert_true(glance_op_holds(GLANCE_OP_GT, 2, 1) && !glance_op_holds(GLANCE_OP_GT, 1, 1));
	assert_true(glance_op_holds(GLANCE_OP_GTE, 1, 1) && !glance_op_holds(GLANCE_OP_GTE, 0, 1));
	assert_true(glance_op_holds(GLANCE_OP_LT, 0, 1) && !glance_op_holds(GLANCE_OP_LT, 1, 1));
	assert_true(glance_op_holds(GLANCE_OP_LTE, 1, 1) && !glance_op_holds(GLANCE_OP_LTE, 2, 1));
	assert_true(glance_op_holds(GLANCE_OP_EQ, 1, 1) && !glance_op_holds(GLANCE_OP_EQ, 2, 1));
	assert_true(glance_op_holds(GLANCE_OP_NEQ, 2, 1) && !glance_op_holds(GLANCE_OP_NEQ, 1, 1));
	assert_false(glance_op_holds(GLANCE_OP_IN, 1, 1));
}

static void in_is(const char *list, int n, const char *const *want)
{
	struct glance_in in;
	struct glance_bad bad = {0};
	if (glance_parse_in(list, &in, &bad) < 0)
		fail_msg("%s: %s", list, bad.why);
	if (in.n != n)
		fail_msg("%s: %d values, want %d", list, in.n, n);
	for (int i = 0; i < n; i++)
		if (in.len[i] != strlen(want[i]) || memcmp(in.v[i], want[i], in.len[i]) != 0)
			fail_msg("%s: value %d is '%.*s', want '%s'", list, i, (int)in.len[i], in.v[i], want[i]);
}

/* Glance's split_filter_value_for_quotes and validate_quotes. */
static void test_filter_in(void **state)
{
	(void)state;
	struct glance_in in;
	struct glance_bad bad = {0};
	in_is("a,b", 2, (const char *[]){"a", "b"});
	in_is("\"c,d\",a", 2, (const char *[]){"c,d", "a"});
	in_is("a,,b", 3, (const char *[]){"a", "", "b"});
	in_is("a,", 1, (const char *[]){"a"});
	in_is(",a", 2, (const char *[]){"", "a"});
	in_is("\"x\\\"y\",z", 2, (const char *[]){"x\\\"y", "z"}); /* the backslash kept, as there */
	in_is("", 0, NULL);
	assert_true(glance_in_has(&(struct glance_in){2, {"ab", "c"}, {2, 1}}, "c", 1));
	assert_false(glance_in_has(&(struct glance_in){2, {"ab", "c"}, {2, 1}}, "a", 1));
	/* quotes out of their rules: 400 with Glance's words */
	assert_int_equal(glance_parse_in("a\"b\"", &in, &bad), -1);
	assert_int_equal(bad.status, 400);
	assert_non_null(strstr(bad.why, "no comma before opening quotation mark"));
	assert_int_equal(glance_parse_in("\"a\"b", &in, &bad), -1);
	assert_non_null(strstr(bad.why, "no comma after closing quotation mark"));
	assert_int_equal(glance_parse_in("\"a,b", &in, &bad), -1);
	assert_non_null(strstr(bad.why, "The quote is not closed"));
	/* GLANCE_IN_MAX values, and one past */
	char list[4 * GLANCE_IN_MAX + 8] = "";
	for (int i = 0; i < GLANCE_IN_MAX; i++)
		strcat(list, i ? ",v" : "v");
	assert_int_equal(glance_parse_in(list, &in, &bad), 0);
	assert_int_equal(in.n, GLANCE_IN_MAX);
	strcat(list, ",v");
	assert_int_equal(glance_parse_in(list, &in, &bad), -1);
	assert_int_equal(bad.status, 400);
}

static int64_t t_of(const char *s)
{
	int64_t ns = -42;
	if (glance_parse_time(s, &ns) < 0)
		fail_msg("%s is no time", s);
	return ns;
}

/* ISO 8601 as python's iso8601 reads it (oslo's parse_isotime). */
/* A PATCH's media types, as Glance's update() takes them: the v2.1 and
 * v2.0 json-patch types, any case, parameters aside; anything else (plain
 * JSON, a prefix, a longer name, a name as long with one byte changed,
 * none) is 415; and the bytes' type (glance_media_type_is) alike. */
static void test_patch_type(void **state)
{
	(void)state;
	assert_true(glance_patch_type_ok("application/openstack-images-v2.1-json-patch"));
	assert_true(glance_patch_type_ok("application/openstack-images-v2.0-json-patch"));
	assert_true(glance_patch_type_ok("Application/OpenStack-Images-V2.1-JSON-Patch; charset=utf-8"));
	assert_true(glance_patch_type_ok(" application/openstack-images-v2.1-json-patch "));
	assert_false(glance_patch_type_ok("application/json"));
	assert_false(glance_patch_type_ok("application/openstack-images-v2.1-json-patc"));
	assert_false(glance_patch_type_ok("application/openstack-images-v2.1-json-patchx"));
	assert_false(glance_patch_type_ok("application/openstack-images-v2.2-json-patch"));
	assert_false(glance_patch_type_ok("application/openstack-images-v2.1-json-patch x"));
	assert_false(glance_patch_type_ok(""));
	assert_false(glance_patch_type_ok(NULL));
	/* as long as the type, one byte different: its first, its last */
	assert_false(glance_patch_type_ok("bpplication/openstack-images-v2.1-json-patch"));
	assert_false(glance_patch_type_ok("application/openstack-images-v2.1-json-patcx"));
	/* the bytes' type alike (PUT .../file and .../stage) */
	assert_true(glance_media_type_is("application/octet-stream", "application/octet-stream"));
	assert_true(glance_media_type_is("\tAPPLICATION/OCTET-STREAM ;q=1", "application/octet-stream"));
	assert_false(glance_media_type_is("application/octet-streax", "application/octet-stream"));
	assert_false(glance_media_type_is("xpplication/octet-stream", "application/octet-stream"));
	assert_false(glance_media_type_is("application/octet-strea", "application/octet-stream"));
	assert_false(glance_media_type_is("application/octet-streams", "application/octet-stream"));
	assert_false(glance_media_type_is("application/octet-stream x", "application/octet-stream"));
	assert_false(glance_media_type_is(NULL, "application/octet-stream"));
}

static void test_filter_time(void **state)
{
	(void)state;
	int64_t ns;
	assert_int_equal(t_of("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(t_of("1970-01-01"), 0);
	assert_int_equal(t_of("2100-01-01T00:00:00Z"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-01-01T00:00:00"), 4102444800LL * 1000000000); /* no zone: UTC */
	assert_int_equal(t_of("2100-01-01 00:00:00Z"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("21000101T000000Z"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-01-01T01:00:00+01:00"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-01-01T00:00:00-0130"), (4102444800LL + 5400) * 1000000000);
	assert_int_equal(t_of("2100-01-01T00:00:00.5Z"), 4102444800LL * 1000000000 + 500000000);
	assert_int_equal(t_of("2100-01-01T00:00:00,000000001Z"), 4102444800LL * 1000000000 + 1);
	assert_int_equal(t_of("2100-01-01T00:00"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2024-02-29"), 1709164800LL * 1000000000); /* a leap day */
	assert_int_equal(t_of("2000-02-29"), 951782400LL * 1000000000);  /* 400 years */
	assert_int_equal(t_of("1969-12-31T23:59:59Z"), -1000000000LL);   /* before the epoch */
	/* a year, a month: their first day (python's iso8601 as Glance calls it) */
	assert_int_equal(t_of("2100"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-01"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-1"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-1-1"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-01-01T00"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-01-01T00Z"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-01-01T0000"), 4102444800LL * 1000000000);
	assert_int_equal(t_of("2100-01-01T00:00:5"), (4102444800LL + 5) * 1000000000);
	assert_int_equal(t_of("2100-01-01T00:00:00+02"), (4102444800LL - 7200) * 1000000000);
	assert_int_equal(t_of("2100-01-01T00:00:00+02:"), (4102444800LL - 7200) * 1000000000);
	/* the bounds: year 1, second 59, a zone of 23:59 (datetime's) */
	assert_true(t_of("0001-01-01") == INT64_MIN);
	assert_int_equal(t_of("2100-01-01T00:00:59Z"), (4102444800LL + 59) * 1000000000);
	assert_int_equal(t_of("2100-01-01T00:00:00+23:59"), (4102444800LL - 86340) * 1000000000);
	assert_int_equal(t_of("2100-01-01T00:00:00-01:75"), (4102444800LL + 8100) * 1000000000);
	/* past what nanoseconds hold (1677-2262): the end, never a wrap */
	assert_true(t_of("2262-04-11T23:47:16.854775807Z") == INT64_MAX);
	assert_true(t_of("2262-04-11T23:47:16.854775808Z") == INT64_MAX);
	assert_true(t_of("2262-04-11T23:47:16.854775806Z") == INT64_MAX - 1);
	assert_true(t_of("9999-12-31T23:59:59Z") == INT64_MAX);
	/* not times */
	const char *bad[] = {"", "garbage", "210", "2100-13-01", "2100-00-01", "2100-02-29", "1900-02-29", "2100-04-31",
	                     "2100-01-00", "2100-01-01T24:00:00", "2100-01-01T00:60:00", "2100-01-01T00:00:60",
	                     "gte:2100-01-01", "2100-01-01T00:00:00+24:00", "0000-01-01", "210001", "2100-01-01T",
	                     "2100-01-01Z", "2100-01-01 ", "2100-01-01T0", "2100-01-01T00:", "2100-01-01T00:00:00Zjunk",
	                     "2100-01T00:00", "2100T00", "2100-01-01T00:00:00+2", "2100-01-01T00:00:123"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (glance_parse_time(bad[i], &ns) == 0)
			fail_msg("'%s' read as a time", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_patch),
		cmocka_unit_test(test_remove_words),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_filter_op),
		cmocka_unit_test(test_filter_in),
		cmocka_unit_test(test_filter_time),
		cmocka_unit_test(test_patch_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

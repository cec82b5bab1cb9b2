/*
 * test_bounds.c — the image API's parsers (fs/serve/glance/parse.c) at
 * §19.7's numbers, written as the reference writes them, not as the
 * constants the code and test_parse.c share: a bound moved in glance.h
 * (64 values of an "in:" list became 65) passed every test that counted
 * to the constant itself.  Each at the number and one past:
 *   - an "in:" list of 64 values, 65 (400);
 *   - a JSON patch of 512 operations, 513 (413);
 *   - an image's 128 tags, a 129th (-EDQUOT);
 *   - the tags file's 4096 bytes (MODEL_TEXT_MAX, §12): a tag whose line
 *     ends exactly at byte 4096 is added whole, its newline included, and
 *     one byte more is -EDQUOT with its reason and the tags as they were;
 *     a key=value tag (no '=' added) the same; a removal at the bound
 *     keeps every other line.  (Planted: the new line's snprintf given
 *     one byte less than the file's room — the newline of a tag ending at
 *     byte 4096 cut off, the tag said added.)
 *
 * A file of its own beside test_parse.c because the image API's tests are
 * another branch's too (issue 71).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "glance.h"

/* n lines of a 200-byte tag each (200 letters, '=', a newline: 202
 * bytes), each of its own letter. */
static void fill(char *out, int n)
{
	for (int i = 0; i < n; i++) {
		memset(out + 202 * i, 'a' + i % 26, 200);
		memcpy(out + 202 * i + 200, "=\n", 2);
	}
	out[202 * n] = '\0';
}

struct seen {
	int n;
	size_t last; /* the last tag's length */
};

static void count(void *arg, const char *tag, size_t len)
{
	struct seen *s = arg;
	(void)tag;
	s->n++;
	s->last = len;
}

static void test_bytes_bound(void **state)
{
	char *tags = calloc(1, MODEL_TEXT_MAX + 1), *out = malloc(MODEL_TEXT_MAX + 1), why[160], tag[300];
	(void)state;
	assert_non_null(tags);
	assert_non_null(out);
	fill(tags, 20);
	size_t base = strlen(tags);
	assert_int_equal(base, 20 * 202);
	static const struct {
		size_t len;    /* the tag's bytes */
		bool eq;       /* key=value: its line is the tag and a newline */
		int rc;
	} cases[] = {
		{MODEL_TEXT_MAX - 20 * 202 - 2, false, 0},       /* "tag=\n" ends at byte 4096 */
		{MODEL_TEXT_MAX - 20 * 202 - 1, false, -EDQUOT}, /* one past */
		{MODEL_TEXT_MAX - 20 * 202 - 1, true, 0},        /* "k=v\n" ends at byte 4096 */
		{MODEL_TEXT_MAX - 20 * 202, true, -EDQUOT},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(tag, 'z', cases[i].len);
		tag[cases[i].len] = '\0';
		if (cases[i].eq)
			tag[1] = '=';
		memset(out, 'X', MODEL_TEXT_MAX + 1);
		why[0] = '\0';
		int rc = glance_tags_edit(tags, tag, true, out, why, sizeof why);
		if (rc != cases[i].rc)
			fail_msg("a tag of %zu bytes%s after %zu: %d, want %d", cases[i].len, cases[i].eq ? " (k=v)" : "",
			         base, rc, cases[i].rc);
		if (rc == 0) {
			/* whole: the old lines, the tag, its '=' when it had none, a newline */
			assert_int_equal(strlen(out), MODEL_TEXT_MAX);
			assert_memory_equal(out, tags, base);
			assert_memory_equal(out + base, tag, cases[i].len);
			assert_string_equal(out + base + cases[i].len, cases[i].eq ? "\n" : "=\n");
			/* and it reads back as a 21st tag, whole */
			struct seen seen = {0};
			glance_tags_each(out, count, &seen);
			assert_int_equal(seen.n, 21);
			assert_int_equal(seen.last, cases[i].len);
		} else {
			assert_string_equal(why, "tags are at most 4096 bytes");
			assert_string_equal(out, tags); /* as they were: nothing half-added */
		}
	}
	/* at the bound, a removal keeps every other line */
	memset(tag, 'z', MODEL_TEXT_MAX - 20 * 202 - 2);
	tag[MODEL_TEXT_MAX - 20 * 202 - 2] = '\0';
	assert_int_equal(glance_tags_edit(tags, tag, true, out, why, sizeof why), 0);
	snprintf(tags, MODEL_TEXT_MAX + 1, "%s", out);
	assert_int_equal(strlen(tags), MODEL_TEXT_MAX);
	char first[202];
	snprintf(first, sizeof first, "%.200s", tags);
	assert_int_equal(glance_tags_edit(tags, first, false, out, why, sizeof why), 0);
	assert_int_equal(strlen(out), MODEL_TEXT_MAX - 202);
	assert_string_equal(out, tags + 202);
	free(tags);
	free(out);
}

static void test_numbers(void **state)
{
	struct glance_bad bad = {0};
	(void)state;

	/* an "in:" list: 64 values, 65 */
	char list[4 * 65 + 8] = "";
	struct glance_in in;
	for (int i = 0; i < 64; i++)
		strcat(list, i ? ",v" : "v");
	assert_int_equal(glance_parse_in(list, &in, &bad), 0);
	assert_int_equal(in.n, 64);
	strcat(list, ",v");
	assert_int_equal(glance_parse_in(list, &in, &bad), -1);
	assert_int_equal(bad.status, 400);

	/* a patch: 512 operations, 513 */
	struct glance_ops *ops = calloc(1, sizeof *ops);
	json_t *p = json_array();
	assert_non_null(ops);
	for (int i = 0; i < 512; i++)
		json_array_append_new(p, json_pack("{s:s,s:s,s:s}", "op", "add", "path", "/k", "value", "v"));
	assert_int_equal(glance_parse_patch(p, "", NULL, NULL, ops, &bad), 0);
	assert_int_equal(ops->n, 512);
	json_array_append_new(p, json_pack("{s:s,s:s,s:s}", "op", "add", "path", "/k", "value", "v"));
	bad.status = 0;
	assert_int_equal(glance_parse_patch(p, "", NULL, NULL, ops, &bad), -1);
	assert_int_equal(bad.status, 413);
	json_decref(p);
	free(ops);

	/* tags: 128, a 129th */
	char *tags = calloc(1, MODEL_TEXT_MAX + 1), *out = malloc(MODEL_TEXT_MAX + 1), why[160];
	assert_non_null(tags);
	assert_non_null(out);
	for (int i = 0; i < 127; i++)
		sprintf(tags + strlen(tags), "t%d=\n", i);
	assert_int_equal(glance_tags_edit(tags, "t127", true, out, why, sizeof why), 0);
	assert_int_equal(glance_tags_edit(out, "t128", true, tags, why, sizeof why), -EDQUOT);
	assert_string_equal(why, "an image has at most 128 tags");
	free(tags);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_bound),
		cmocka_unit_test(test_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_stats.c — mirrors fs/fuse/stats.c: /stats is the Prometheus text
 * exposition format 0.0.4.  Label values escape backslash, double quote
 * and newline (and nothing else); every sample follows its family's
 * "# HELP" and "# TYPE"; errno answers are counted by operation and errno
 * name; the byte counters show what was counted; who may read it (the
 * administrators of a multi-user mount).  Rendered here without a
 * model (the mount's own counters); what the database holds is checked by
 * tests/integration/test_metrics.sh with Prometheus' own parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attr.h"
#include "buf.h"
#include "fs.h"
#include "rooms.h"
#include "stats.h"

static void expect_label(const char *in, const char *want)
{
	struct fs_buf b = {0};
	fs_stats_label(&b, in);
	assert_false(b.failed);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.len ? b.p : "", want, b.len);
	fs_buf_release(&b);
}

static void test_label_escaping(void **state)
{
	(void)state;
	expect_label("", "");
	expect_label("cn-north-1", "cn-north-1");
	expect_label("a\\b", "a\\\\b");
	expect_label("say \"hi\"", "say \\\"hi\\\"");
	expect_label("two\nlines\n", "two\\nlines\\n");
	expect_label("\\\"\n", "\\\\\\\"\\n");
	/* Only those three: tabs, carriage returns and UTF-8 pass as they are. */
	expect_label("tab\there\r", "tab\there\r");
	expect_label("镜像 é", "镜像 é");
}

/* Whether line is a well-formed sample or comment, and every sample's
 * family (its name up to '{' or ' ') was announced by HELP then TYPE. */
static void check_format(const char *text)
{
	char family[128] = "", typed[128] = "";
	const char *line = text;
	int samples = 0;
	assert_true(text[0] != '\0' && text[strlen(text) - 1] == '\n');
	while (*line) {
		const char *end = strchr(line, '\n');
		char l[1024];
		assert_non_null(end);
		assert_true((size_t)(end - line) < sizeof(l));
		memcpy(l, line, (size_t)(end - line));
		l[end - line] = '\0';
		line = end + 1;
		if (strncmp(l, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(l + 7, "%127s", family), 1);
			typed[0] = '\0';
		} else if (strncmp(l, "# TYPE ", 7) == 0) {
			char name[128], type[32];
			assert_int_equal(sscanf(l + 7, "%127s %31s", name, type), 2);
			assert_string_equal(name, family);
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0);
			snprintf(typed, sizeof(typed), "%s", family);
		} else {
			size_t n = strcspn(l, "{ ");
			unsigned long long v;
			assert_true(l[0] != '#');
			assert_true(strlen(typed) == n && strncmp(l, typed, n) == 0);
			if (l[n] == '{') {
				const char *close = strstr(l, "\"} ");
				assert_non_null(close);
				n = (size_t)(close + 2 - l);
			}
			assert_int_equal(sscanf(l + n, " %llu", &v), 1);
			samples++;
		}
	}
	assert_true(samples > 0);
}

static void test_render(void **state)
{
	(void)state;
	struct fs_ctx *ctx = calloc(1, sizeof(*ctx));
	struct fs_buf b = {0};
	assert_non_null(ctx);
	assert_int_equal(fs_rooms_new(ctx), 0); /* (files/'s counters are its room's) */
	fs_stats_request(ctx, FS_OP_MKDIR);
	fs_stats_request(ctx, FS_OP_MKDIR);
	fs_stats_request(ctx, FS_OP_MKDIR);
	fs_stats_error(ctx, FS_OP_MKDIR, EEXIST);
	fs_stats_error(ctx, FS_OP_MKDIR, EEXIST);
	fs_stats_error(ctx, FS_OP_MKDIR, EDQUOT);
	fs_stats_error(ctx, FS_OP_READ, 4000); /* beyond the table: E0 */
	fs_stats_read(ctx, 4096);
	fs_stats_read(ctx, 1);
	fs_stats_written(ctx, 1048576);
	fs_show_stats(ctx, &b);
	assert_false(b.failed);
	check_format(b.p);
	assert_non_null(strstr(b.p, "\nimgfs_requests_total{op=\"mkdir\"} 3\n"));
	assert_non_null(strstr(b.p, "\nimgfs_requests_total{op=\"lookup\"} 0\n")); /* zeros too */
	assert_non_null(strstr(b.p, "\nimgfs_request_errors_total{op=\"mkdir\"} 3\n"));
	assert_non_null(strstr(b.p, "\nimgfs_request_errors_by_errno_total{op=\"mkdir\",errno=\"EEXIST\"} 2\n"));
	assert_non_null(strstr(b.p, "\nimgfs_request_errors_by_errno_total{op=\"mkdir\",errno=\"EDQUOT\"} 1\n"));
	assert_non_null(strstr(b.p, "\nimgfs_request_errors_by_errno_total{op=\"read\",errno=\"E0\"} 1\n"));
	assert_null(strstr(b.p, "errno=\"ENOENT\"")); /* only the pairs seen */
	assert_non_null(strstr(b.p, "\nimgfs_read_bytes_total 4097\n"));
	assert_non_null(strstr(b.p, "\nimgfs_written_bytes_total 1048576\n"));
	assert_non_null(strstr(b.p, "\n# TYPE imgfs_read_bytes_total counter\n"));
	assert_non_null(strstr(b.p, "\nimgfs_inside_helper_starts_total 0\n"));
	fs_buf_release(&b);
	fs_rooms_free(ctx);
	free(ctx);
}

/* Who reads /stats (SPEC §15): everybody on a single-user mount and with
 * -o stats=all; on a multi-user mount root and the mounting user only —
 * a caller with an account or without (account 0) is not let in, whatever
 * its gid; the mode says so (0400) while the file is the admin's. */
static void test_who_reads(void **state)
{
	(void)state;
	struct fs_ctx ctx = {.uid = 1000, .gid = 1000};
	struct fs_caller root = {.account_id = 0, .uid = 0, .gid = 0};
	struct fs_caller mounter = {.account_id = 0, .uid = 1000, .gid = 1000};
	struct fs_caller alice = {.account_id = 7, .uid = 2001, .gid = 1000};
	struct fs_caller nobody = {.account_id = 0, .uid = 2002, .gid = 0};

	assert_true(fs_caller_is_admin(&ctx, &root));
	assert_true(fs_caller_is_admin(&ctx, &mounter));
	assert_false(fs_caller_is_admin(&ctx, &alice));
	assert_false(fs_caller_is_admin(&ctx, &nobody));

	/* single-user: unchanged */
	assert_true(fs_stats_readable(&ctx, &alice));
	assert_true(fs_stats_readable(&ctx, &nobody));
	assert_int_equal(fs_stats_mode(&ctx), 0444);
	/* multi-user: the admin's */
	ctx.multiuser = true;
	assert_true(fs_stats_readable(&ctx, &root));
	assert_true(fs_stats_readable(&ctx, &mounter));
	assert_false(fs_stats_readable(&ctx, &alice));
	assert_false(fs_stats_readable(&ctx, &nobody));
	assert_int_equal(fs_stats_mode(&ctx), 0400);
	/* -o stats=all */
	ctx.stats_all = true;
	assert_true(fs_stats_readable(&ctx, &alice));
	assert_true(fs_stats_readable(&ctx, &nobody));
	assert_int_equal(fs_stats_mode(&ctx), 0444);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_who_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_log.c — mirrors fs/log.c: what reaches a log line or an `error`
 * file (SPEC §9) is printable UTF-8, and errnos are named.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "fs.h"

static void expect_escaped(const char *in, const char *want)
{
	char out[256];
	size_t n = fs_escape(out, sizeof(out), in);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_printable_utf8_passes(void **state)
{
	(void)state;
	expect_escaped("mkdir private/img-1: EEXIST an image named x exists", "mkdir private/img-1: EEXIST an image named x exists");
	expect_escaped("中文镜像 — é ü 😀", "中文镜像 — é ü 😀");
	expect_escaped("", "");
}

static void test_controls_are_escaped(void **state)
{
	(void)state;
	/* A newline would start a forged line; ESC a terminal sequence. */
	expect_escaped("x\nFORGED line", "x\\x0aFORGED line");
	expect_escaped("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
	expect_escaped("a\rb\tc\x7f", "a\\x0db\\x09c\\x7f");
	/* The escape character itself is escaped, so \x0a typed by a caller
	 * cannot pass for an escaped newline. */
	expect_escaped("a\\x0ab", "a\\\\x0ab");
}

static void test_bad_utf8_and_invisible_code_points(void **state)
{
	(void)state;
	expect_escaped("\xff\xfe", "\\xff\\xfe");               /* never UTF-8 */
	expect_escaped("\xc3", "\\xc3");                        /* cut short */
	expect_escaped("\xc0\xaf", "\\xc0\\xaf");               /* overlong '/' */
	expect_escaped("\xe0\x80\xaf", "\\xe0\\x80\\xaf");      /* overlong, 3 bytes */
	expect_escaped("\xed\xa0\x80", "\\xed\\xa0\\x80");      /* a surrogate */
	expect_escaped("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
	expect_escaped("\xc2\x85", "\\xc2\\x85");               /* NEL, a C1 control */
	expect_escaped("a\xe2\x80\xae" "cba", "a\\xe2\\x80\\xaecba"); /* RIGHT-TO-LEFT OVERRIDE */
	expect_escaped("\xe2\x80\xa8", "\\xe2\\x80\\xa8");      /* LINE SEPARATOR */
}

static void test_cut_at_a_whole_character(void **state)
{
	(void)state;
	char out[6];
	assert_int_equal(fs_escape(out, sizeof(out), "ab\n"), 2); /* "\x0a" does not fit after "ab" */
	assert_string_equal(out, "ab");
	assert_int_equal(fs_escape(out, sizeof(out), "abcd中"), 4);
	assert_string_equal(out, "abcd");
	assert_int_equal(fs_escape(out, 0, "x"), 0);
}

static void test_errno_names(void **state)
{
	(void)state;
	assert_string_equal(fs_errno_name(EMFILE), "EMFILE");
	assert_string_equal(fs_errno_name(-ENOSPC), "ENOSPC");
	assert_string_equal(fs_errno_name(EROFS), "EROFS");
	assert_string_equal(fs_errno_name(EDOM), "E33"); /* not listed: its number */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable_utf8_passes),
		cmocka_unit_test(test_controls_are_escaped),
		cmocka_unit_test(test_bad_utf8_and_invisible_code_points),
		cmocka_unit_test(test_cut_at_a_whole_character),
		cmocka_unit_test(test_errno_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

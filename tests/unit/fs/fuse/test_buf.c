/*
 * test_buf.c — mirrors fs/fuse/buf.c: the text buffer generated files are
 * rendered into, and fs_buf_json_string, the JSON string escaping that
 * images.json (SPEC §15) relies on: RFC 8259 quoting and control
 * characters, UTF-8 kept, bytes that are not UTF-8 replaced by \ufffd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fs.h"

static void expect_json(const char *in, const char *want)
{
	struct fs_buf b = {0};
	fs_buf_json_string(&b, in);
	assert_false(b.failed);
	assert_non_null(b.p);
	assert_string_equal(b.p, want);
	assert_int_equal(b.len, strlen(want));
	fs_buf_release(&b);
}

static void test_plain_and_utf8_pass(void **state)
{
	(void)state;
	expect_json("", "\"\"");
	expect_json("centos-7.4", "\"centos-7.4\"");
	/* Letters of any script are names (§10): copied byte for byte. */
	expect_json("中文镜像 é ü 😀", "\"中文镜像 é ü 😀\"");
	/* The longest valid sequences at each boundary. */
	expect_json("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
	            "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
}

static void test_quote_backslash_controls(void **state)
{
	(void)state;
	expect_json("say \"hi\"", "\"say \\\"hi\\\"\"");
	expect_json("C:\\dir\\", "\"C:\\\\dir\\\\\"");
	expect_json("a\nb\rc\td", "\"a\\u000ab\\u000dc\\u0009d\"");
	expect_json("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	expect_json("\x1b[31mred", "\"\\u001b[31mred\"");
	/* A slash needs no escape; an escape typed by a user stays literal. */
	expect_json("a/b \\u0041", "\"a/b \\\\u0041\"");
}

static void test_bad_utf8_replaced(void **state)
{
	(void)state;
	expect_json("a\xff" "b", "\"a\\ufffdb\"");
	expect_json("\x80", "\"\\ufffd\"");
	/* Truncated sequences: at the end, and before an ASCII byte. */
	expect_json("x\xe4\xb8", "\"x\\ufffd\\ufffd\"");
	expect_json("\xc3" "A", "\"\\ufffdA\"");
	/* Overlong forms, surrogates, past U+10FFFF. */
	expect_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	expect_json("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	expect_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	expect_json("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	expect_json("\xf5\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	/* Valid text around a bad byte survives. */
	expect_json("é\xfeé\"", "\"é\\ufffdé\\\"\"");
}

static void test_appends_after_content(void **state)
{
	(void)state;
	struct fs_buf b = {0};
	fs_buf_puts(&b, "{\"name\":");
	fs_buf_json_string(&b, "x\"y");
	fs_buf_puts(&b, "}");
	assert_string_equal(b.p, "{\"name\":\"x\\\"y\"}");
	/* Long enough to grow the buffer several times. */
	char big[5000];
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	size_t before = b.len;
	fs_buf_json_string(&b, big);
	assert_false(b.failed);
	assert_int_equal(b.len - before, 2 + 6 * (sizeof(big) - 1));
	fs_buf_release(&b);
	fs_buf_release(&b); /* released twice: harmless */
}

/* A secret buffer (a password written) grows by copy, keeping every byte
 * in order, and stays secret after a release (a handle's value is
 * collected again by its next write). */
static void test_secret_grows(void **state)
{
	struct fs_buf b = {.secret = true};
	char piece[100];
	for (int i = 0; i < 50; i++) {
		snprintf(piece, sizeof piece, "%02d:0123456789abcdef;", i);
		fs_buf_puts(&b, piece);
	}
	assert_false(b.failed);
	assert_int_equal(b.len, 50 * 20);
	assert_true(b.cap >= b.len + 1);
	for (int i = 0; i < 50; i++) {
		snprintf(piece, sizeof piece, "%02d:0123456789abcdef;", i);
		assert_memory_equal(b.p + 20 * i, piece, 20);
	}
	fs_buf_release(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_true(b.secret);
	fs_buf_puts(&b, "again");
	assert_string_equal(b.p, "again");
	fs_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_utf8_pass),
		cmocka_unit_test(test_quote_backslash_controls),
		cmocka_unit_test(test_bad_utf8_replaced),
		cmocka_unit_test(test_appends_after_content),
		cmocka_unit_test(test_secret_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

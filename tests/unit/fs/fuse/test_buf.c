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

#include "buf.h"

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

/* Large buffers are mappings of their own (grown by mremap, trimmed to
 * whole pages): the bytes survive each move, and trim keeps them. */
static void test_large_mapped(void **state)
{
	(void)state;
	struct fs_buf b = {0};
	char piece[32];
	for (int i = 0; i < 40000; i++) { /* 40000 x 12 bytes: 480,000 */
		snprintf(piece, sizeof piece, "%011d;", i);
		fs_buf_puts(&b, piece);
	}
	assert_false(b.failed);
	assert_true(b.mapped);
	assert_int_equal(b.len, 480000);
	fs_buf_trim(&b);
	assert_true(b.mapped);
	assert_true(b.cap >= b.len + 1 && b.cap < b.len + 1 + 4096 * 4);
	for (int i = 0; i < 40000; i += 997) {
		snprintf(piece, sizeof piece, "%011d;", i);
		assert_memory_equal(b.p + 12 * i, piece, 12);
	}
	assert_int_equal(b.p[b.len], '\0');
	fs_buf_release(&b);
	assert_null(b.p);
	assert_false(b.mapped);
}

/* A counting buffer keeps no byte and says how many it was given. */
static void test_count(void **state)
{
	(void)state;
	struct fs_buf b = {.count = true};
	fs_buf_puts(&b, "abc");
	fs_buf_printf(&b, "%d-%s", 12345, "xy");
	fs_buf_json_string(&b, "a\"b");
	assert_null(b.p);
	assert_int_equal(b.len, 3 + 8 + 6);
	fs_buf_release(&b);
	assert_true(b.count);
}

/* A budget is charged for capacity past FS_BUF_FREE, refuses past its
 * limits (one buffer, all of them) with why, and is given back. */
static void test_budget(void **state)
{
	(void)state;
	struct fs_budget g = {0, 1u << 20, 512u << 10};
	struct fs_buf small = {.budget = &g}, a = {.budget = &g}, c = {.budget = &g};
	char k[1024];
	memset(k, 'x', sizeof k);
	fs_buf_put(&small, k, 1000); /* 1 KiB: free */
	assert_int_equal(atomic_load(&g.used), 0);
	assert_int_equal(fs_buf_charge(&small), 0);
	for (int i = 0; i < 400; i++) /* 400 KiB: charged */
		fs_buf_put(&a, k, sizeof k);
	assert_false(a.failed);
	assert_int_equal(atomic_load(&g.used), a.cap);
	assert_int_equal(fs_buf_charge(&a), a.cap);
	fs_buf_trim(&a);
	assert_int_equal(atomic_load(&g.used), a.cap);
	/* One buffer past 512 KiB: refused as one. */
	for (int i = 0; i < 600 && !c.failed; i++)
		fs_buf_put(&c, k, sizeof k);
	assert_true(c.failed);
	assert_int_equal(c.over, FS_BUF_OVER_ONE);
	fs_buf_release(&c);
	/* Two of 400 KiB (each grown to 512 KiB) pass 1 MiB: refused as all. */
	c = (struct fs_buf){.budget = &g};
	struct fs_buf d = {.budget = &g};
	for (int i = 0; i < 400 && !c.failed; i++)
		fs_buf_put(&c, k, sizeof k);
	for (int i = 0; i < 400 && !d.failed; i++)
		fs_buf_put(&d, k, sizeof k);
	assert_true(c.failed || d.failed);
	assert_int_equal(c.failed ? c.over : d.over, FS_BUF_OVER_ALL);
	fs_buf_release(&c);
	fs_buf_release(&d);
	fs_buf_release(&a);
	fs_buf_release(&small);
	assert_int_equal(atomic_load(&g.used), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_utf8_pass),
		cmocka_unit_test(test_quote_backslash_controls),
		cmocka_unit_test(test_bad_utf8_replaced),
		cmocka_unit_test(test_appends_after_content),
		cmocka_unit_test(test_secret_grows),
		cmocka_unit_test(test_large_mapped),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

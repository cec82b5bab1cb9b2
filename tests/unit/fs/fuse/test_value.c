/*
 * test_value.c — mirrors fs/fuse/value.c: a value written into a generated
 * file, piece by piece (SPEC §2.1, §12).  Each rule at its limit and one
 * past: 4096 bytes and 4097, whole or in pieces; a piece exactly where the
 * last ended and one byte off; NUL and \r anywhere; nothing after a
 * command's newline, anything in a multi-line file; a secret wiped when
 * dropped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "value.h"

/* fs_value_take, expecting rc and (for a refusal) a reason holding word. */
static void take(struct fs_buf *v, const char *buf, size_t size, off_t off, bool multiline, int rc, const char *word)
{
	const char *why = NULL;
	int got = fs_value_take(v, buf, size, off, multiline, &why);

	if (got != rc)
		fail_msg("take of %zu bytes at %lld: %d (%s), expected %d", size, (long long)off, got, why ? why : "-", rc);
	if (rc < 0 && (why == NULL || strstr(why, word) == NULL))
		fail_msg("take of %zu bytes at %lld: reason \"%s\", expected one naming \"%s\"", size, (long long)off,
		         why ? why : "(none)", word);
}

static char *letters(size_t n)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	memset(p, 'a', n);
	p[n] = '\0';
	return p;
}

static void test_size_whole(void **state)
{
	struct fs_buf v = {0};
	char *a = letters(FS_VALUE_MAX + 1);

	(void)state;
	assert_int_equal(FS_VALUE_MAX, 4096);
	take(&v, a, FS_VALUE_MAX, 0, false, 0, NULL);
	assert_int_equal(v.len, FS_VALUE_MAX);
	take(&v, a, FS_VALUE_MAX + 1, 0, false, -EINVAL, "at most 4 KiB");
	/* At the limit with its newline: 4095 bytes and '\n'. */
	a[FS_VALUE_MAX - 1] = '\n';
	take(&v, a, FS_VALUE_MAX, 0, false, 0, NULL);
	assert_true(fs_value_ends_line(&v));
	fs_buf_release(&v);
	free(a);
}

static void test_size_in_pieces(void **state)
{
	struct fs_buf v = {0};
	char *a = letters(FS_VALUE_MAX);

	(void)state;
	take(&v, a, 4000, 0, false, 0, NULL);
	take(&v, a, FS_VALUE_MAX - 4000, 4000, false, 0, NULL); /* 4096 in all */
	assert_int_equal(v.len, FS_VALUE_MAX);
	take(&v, "b", 1, FS_VALUE_MAX, false, -EINVAL, "at most 4 KiB");
	/* One byte fewer, then the one that fills it. */
	take(&v, a, 4000, 0, false, 0, NULL);
	take(&v, a, FS_VALUE_MAX - 4001, 4000, false, 0, NULL);
	take(&v, "b", 1, FS_VALUE_MAX - 1, false, 0, NULL);
	assert_int_equal(v.len, FS_VALUE_MAX);
	assert_int_equal(v.p[FS_VALUE_MAX - 1], 'b');
	fs_buf_release(&v);
	free(a);
}

static void test_offsets(void **state)
{
	struct fs_buf v = {0};

	(void)state;
	take(&v, "x", 1, 1, false, -EINVAL, "from offset 0"); /* nothing yet: only 0 */
	take(&v, "abc", 3, 0, false, 0, NULL);
	take(&v, "d", 1, 4, false, -EINVAL, "where the last one ended"); /* one past the end */
	take(&v, "d", 1, 2, false, -EINVAL, "where the last one ended"); /* one before */
	assert_int_equal(v.len, 3);
	take(&v, "d", 1, 3, false, 0, NULL); /* exactly where it ended */
	assert_int_equal(v.len, 4);
	assert_memory_equal(v.p, "abcd", 4);
	/* Offset 0 starts the value again. */
	take(&v, "z", 1, 0, false, 0, NULL);
	assert_int_equal(v.len, 1);
	assert_int_equal(v.p[0], 'z');
	fs_buf_release(&v);
}

static void test_bytes(void **state)
{
	struct fs_buf v = {0};

	(void)state;
	take(&v, "ab\0", 3, 0, false, -EINVAL, "NUL or carriage-return");
	take(&v, "\0ab", 3, 0, true, -EINVAL, "NUL or carriage-return");
	take(&v, "ab\r", 3, 0, true, -EINVAL, "NUL or carriage-return");
	take(&v, "ab\r\n", 4, 0, false, -EINVAL, "NUL or carriage-return");
	take(&v, "a\tb c~\x7f\xc3\xa9\n", 10, 0, false, 0, NULL); /* every other byte is a value's */
	assert_int_equal(v.len, 10);
	fs_buf_release(&v);
}

static void test_one_line(void **state)
{
	struct fs_buf v = {0};

	(void)state;
	take(&v, "start\n", 6, 0, false, 0, NULL);
	assert_true(fs_value_ends_line(&v));
	take(&v, "x", 1, 6, false, -EINVAL, "one line"); /* after the newline, in a later piece */
	take(&v, "a\nb", 3, 0, false, -EINVAL, "one line"); /* in the same piece */
	take(&v, "a\n\n", 3, 0, false, -EINVAL, "one line"); /* even an empty second line */
	take(&v, "stop", 4, 0, false, 0, NULL);
	assert_false(fs_value_ends_line(&v));
	take(&v, "\n", 1, 4, false, 0, NULL); /* the newline in a piece of its own */
	assert_true(fs_value_ends_line(&v));
	/* A multi-line file (description, tags): lines follow lines. */
	take(&v, "one\n", 4, 0, true, 0, NULL);
	take(&v, "two\nthree", 9, 4, true, 0, NULL);
	assert_false(fs_value_ends_line(&v));
	take(&v, "\n", 1, 13, true, 0, NULL);
	assert_int_equal(v.len, 14);
	assert_memory_equal(v.p, "one\ntwo\nthree\n", 14);
	fs_buf_release(&v);
}

static void test_empty(void **state)
{
	struct fs_buf v = {0};

	(void)state;
	assert_false(fs_value_ends_line(&v));
	take(&v, "", 0, 0, false, 0, NULL); /* an O_TRUNC's empty write */
	assert_int_equal(v.len, 0);
	assert_false(fs_value_ends_line(&v));
	fs_buf_release(&v);
}

static void test_secret_wiped(void **state)
{
	struct fs_buf v = {.secret = true};

	(void)state;
	take(&v, "hunter2-password", 16, 0, false, 0, NULL);
	assert_non_null(v.p);
	fs_value_drop(&v);
	assert_int_equal(v.len, 0);
	for (size_t i = 0; i < v.cap; i++)
		if (v.p[i] != 0)
			fail_msg("byte %zu of a dropped secret is %#x", i, (unsigned char)v.p[i]);
	fs_buf_release(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_whole),  cmocka_unit_test(test_size_in_pieces), cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_bytes),       cmocka_unit_test(test_one_line),       cmocka_unit_test(test_empty),
		cmocka_unit_test(test_secret_wiped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

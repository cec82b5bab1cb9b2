/*
 * test_http.c — unit tests for fs/serve/http.c (SPEC §14): Range (one range,
 * suffix and open ranges, 416 outside, anything else the whole body),
 * If-Range (strong ETag or the exact date), the date format,
 * Content-Disposition of plain and non-ASCII names, the request path and
 * the log's escaping of what a client sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "serve.h"

static void test_range(void **state)
{
	(void)state;
	static const struct {
		const char *h;
		uint64_t size;
		int rc;
		uint64_t start, len;
	} cases[] = {
		{"bytes=0-99", 1000, 1, 0, 100},
		{"bytes=100-", 1000, 1, 100, 900},
		{"bytes=-100", 1000, 1, 900, 100},
		{"bytes=-5000", 1000, 1, 0, 1000},
		{"bytes=990-5000", 1000, 1, 990, 10},
		{"bytes=999-999", 1000, 1, 999, 1},
		{"bytes=1000-", 1000, -1, 0, 0},
		{"bytes=5000-6000", 1000, -1, 0, 0},
		{"bytes=-0", 1000, -1, 0, 0},
		{"bytes=0-1,5-6", 1000, 0, 0, 0},   /* several: the whole body */
		{"bytes=9-1", 1000, 0, 0, 0},       /* invalid: ignored */
		{"bytes=-", 1000, 0, 0, 0},
		{"items=0-1", 1000, 0, 0, 0},
		{"bytes=0-1x", 1000, 0, 0, 0},
		{"bytes=99999999999999999999-", 1000, 0, 0, 0},
		{"bytes= 5-9", 1000, 1, 5, 5},
		{NULL, 1000, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t s = 0, l = 0;
		int rc = serve_range_parse(cases[i].h, cases[i].size, &s, &l);
		if (rc != cases[i].rc || (rc == 1 && (s != cases[i].start || l != cases[i].len)))
			fail_msg("%s: %d %llu+%llu", cases[i].h ? cases[i].h : "(none)", rc, (unsigned long long)s,
			         (unsigned long long)l);
	}
}

static void test_if_range(void **state)
{
	(void)state;
	const char *etag = "\"abc\"", *date = "Sun, 06 Nov 1994 08:49:37 GMT";
	assert_true(serve_if_range(NULL, etag, date));
	assert_true(serve_if_range("\"abc\"", etag, date));
	assert_false(serve_if_range("\"abd\"", etag, date));
	assert_false(serve_if_range("W/\"abc\"", etag, date));
	assert_true(serve_if_range(date, etag, date));
	assert_false(serve_if_range("Sun, 06 Nov 1994 08:49:38 GMT", etag, date));
	char d[30];
	serve_http_date(d, 784111777);
	assert_string_equal(d, date);
}

static void test_disposition(void **state)
{
	(void)state;
	char out[512];
	serve_disposition(out, sizeof(out), "golden-7.4_x", "qcow2");
	assert_string_equal(out, "attachment; filename=\"golden-7.4_x.qcow2\"");
	serve_disposition(out, sizeof(out), "镜像", "raw");
	assert_string_equal(out, "attachment; filename=\"______.raw\"; filename*=UTF-8''%E9%95%9C%E5%83%8F.raw");
}

static void test_path_and_escape(void **state)
{
	(void)state;
	char t[80], e[64];
	assert_true(serve_path_token("/d/abc/name.raw", t, sizeof(t)));
	assert_string_equal(t, "abc");
	assert_true(serve_path_token("/d/abc", t, sizeof(t)));
	assert_false(serve_path_token("/d/", t, sizeof(t)));
	assert_false(serve_path_token("/x/abc", t, sizeof(t)));
	assert_false(serve_path_token("/d/abc/x/y", t, sizeof(t)));
	serve_escape(e, sizeof(e), "a\nb\x1b[31m\\\xff");
	assert_string_equal(e, "a\\x0ab\\x1b[31m\\\\\\xff");
	serve_escape(e, 6, "abcdefgh");
	assert_string_equal(e, "abcde");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_if_range),
		cmocka_unit_test(test_disposition),
		cmocka_unit_test(test_path_and_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

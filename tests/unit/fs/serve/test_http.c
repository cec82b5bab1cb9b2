/*
 * test_http.c — unit tests for fs/serve/http.c (SPEC §14): Range (one range,
 * suffix and open ranges, 416 outside, anything else the whole body),
 * If-Range (strong ETag or the exact date), the date format,
 * Content-Disposition of plain and non-ASCII names, the request path, the
 * log's escaping of what a client sent, and what a connection's first
 * bytes are (the front's 400 for garbage and the wrong protocol).
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

/* The answer's Content-Range: the last byte's offset, at the body's first
 * byte, its last, one past a chunk, and a 416's. */
static void test_content_range(void **state)
{
	(void)state;
	char out[96];
	uint64_t s, l;
	serve_content_range(out, sizeof(out), 0, 1, 1000);
	assert_string_equal(out, "bytes 0-0/1000");
	serve_content_range(out, sizeof(out), 999, 1, 1000);
	assert_string_equal(out, "bytes 999-999/1000");
	serve_content_range(out, sizeof(out), 0, 1000, 1000);
	assert_string_equal(out, "bytes 0-999/1000");
	serve_content_range(out, sizeof(out), 0, 0, 1000);
	assert_string_equal(out, "bytes */1000");
	serve_content_range(out, sizeof(out), UINT64_MAX - 1, 1, UINT64_MAX);
	assert_string_equal(out, "bytes 18446744073709551614-18446744073709551614/18446744073709551615");
	/* parsed and answered: a suffix of one byte is the last */
	assert_int_equal(serve_range_parse("bytes=-1", 1000, &s, &l), 1);
	serve_content_range(out, sizeof(out), s, l, 1000);
	assert_string_equal(out, "bytes 999-999/1000");
	assert_int_equal(serve_range_parse("bytes=998-", 1000, &s, &l), 1);
	serve_content_range(out, sizeof(out), s, l, 1000);
	assert_string_equal(out, "bytes 998-999/1000");
	assert_int_equal(serve_range_parse("bytes=0-1000", 1000, &s, &l), 1); /* past the end: to the end */
	serve_content_range(out, sizeof(out), s, l, 1000);
	assert_string_equal(out, "bytes 0-999/1000");
	assert_int_equal(serve_range_parse("bytes=0-0", 1, &s, &l), 1);
	assert_int_equal(serve_range_parse("bytes=1-", 1, &s, &l), -1);
	assert_int_equal(serve_range_parse("bytes=-1", 0, &s, &l), -1); /* nothing to take the end of */
	assert_int_equal(serve_range_parse("bytes=0-", 0, &s, &l), -1);
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

static void test_sniff(void **state)
{
	(void)state;
	/* A real ClientHello's first bytes (TLS 1.0 record version, as every
	 * client sends them), and SSL 2's, which is not a TLS record. */
	static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
	static const unsigned char ssl2[] = {0x80, 0x2e, 0x01, 0x00, 0x02};
	static const struct {
		const char *b;
		size_t n; /* 0: strlen */
		enum serve_sniff want;
	} cases[] = {
		{"GET /d/abc HTTP/1.1\r\n", 0, SERVE_SNIFF_HTTP},
		{"HEAD / HTTP/1.0\r\n\r\n", 0, SERVE_SNIFF_HTTP},
		{"G", 0, SERVE_SNIFF_HTTP},                /* one byte of a slow request */
		{"GE", 0, SERVE_SNIFF_HTTP},
		{"\r\nGET / HTTP/1.1", 0, SERVE_SNIFF_HTTP}, /* an empty line before it */
		{"\r\n", 0, SERVE_SNIFF_HTTP},
		{"M-SEARCH * HTTP/1.1", 0, SERVE_SNIFF_HTTP}, /* any token is a method */
		{"ABCDEFGHIJKLMNOP /", 0, SERVE_SNIFF_HTTP}, /* 16 characters */
		{"ABCDEFGHIJKLMNOPQ /", 0, SERVE_SNIFF_GARBAGE},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 0, SERVE_SNIFF_GARBAGE},
		{" GET / HTTP/1.1", 0, SERVE_SNIFF_GARBAGE},
		{"GET\t/ HTTP/1.1", 0, SERVE_SNIFF_GARBAGE},
		{"\x00\x01\x02", 3, SERVE_SNIFF_GARBAGE},
		{"\xff\xfe", 0, SERVE_SNIFF_GARBAGE},
		{"\r\n\x01", 0, SERVE_SNIFF_GARBAGE},
		{"SSH-2.0-OpenSSH_9.2\r\n", 0, SERVE_SNIFF_GARBAGE}, /* a token, but no space after it */
		{"SSH-2.0\r\n", 0, SERVE_SNIFF_GARBAGE},
		{"(GET) / HTTP/1.1", 0, SERVE_SNIFF_GARBAGE},
		{"\x16", 1, SERVE_SNIFF_TLS},
		{"\x16\x02", 2, SERVE_SNIFF_GARBAGE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].n ? cases[i].n : strlen(cases[i].b);
		enum serve_sniff got = serve_sniff((const unsigned char *)cases[i].b, n);
		if (got != cases[i].want)
			fail_msg("case %zu: %d, not %d", i, got, cases[i].want);
	}
	assert_int_equal(serve_sniff(hello, sizeof(hello)), SERVE_SNIFF_TLS);
	assert_int_equal(serve_sniff(ssl2, sizeof(ssl2)), SERVE_SNIFF_GARBAGE);
}

/* A request's framing (RFC 9112 §6.3): one reading or 400. */
static const char *framing(const char *const *kv)
{
	static struct serve_framing f;
	f = (struct serve_framing){0};
	for (; kv[0]; kv += 2)
		serve_framing_add(&f, kv[0], kv[1]);
	return serve_framing_verdict(&f);
}

static void test_framing(void **state)
{
	(void)state;
	const char *none[] = {"Host", "h", NULL};
	const char *one[] = {"content-length", "12", NULL};
	const char *same[] = {"Content-Length", "12", "Content-Length", " 12 ", NULL};
	const char *list_same[] = {"Content-Length", "12, 12", NULL};
	const char *chunked[] = {"Transfer-Encoding", "Chunked", NULL};
	/* optional whitespace (spaces and tabs) around a value and a list's elements */
	const char *tabs[] = {"Content-Length", "\t12\t,\t12 ", NULL};
	const char *te_ows[] = {"Transfer-Encoding", " \tchunked\t ", NULL};
	assert_null(framing(tabs));
	assert_null(framing(te_ows));
	assert_null(framing(none));
	assert_null(framing(one));
	assert_null(framing(same));
	assert_null(framing(list_same));
	assert_null(framing(chunked));
	const char *differ[] = {"Content-Length", "12", "Content-Length", "13", NULL};
	const char *list_differ[] = {"Content-Length", "12, 13", NULL};
	const char *both[] = {"Content-Length", "5", "Transfer-Encoding", "chunked", NULL};
	const char *both_rev[] = {"transfer-encoding", "chunked", "content-length", "5", NULL};
	const char *te_other[] = {"Transfer-Encoding", "gzip, chunked", NULL};
	const char *te_twice[] = {"Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", NULL};
	const char *not_number[] = {"Content-Length", "+12", NULL};
	const char *empty[] = {"Content-Length", "", NULL};
	const char *too_long[] = {"Content-Length", "12345678901234567890", NULL}; /* 20 digits */
	assert_string_equal(framing(differ), "two different Content-Lengths");
	assert_string_equal(framing(list_differ), "two different Content-Lengths");
	assert_string_equal(framing(both), "Transfer-Encoding beside Content-Length");
	assert_string_equal(framing(both_rev), "Transfer-Encoding beside Content-Length");
	assert_string_equal(framing(te_other), "a Transfer-Encoding other than one chunked");
	assert_string_equal(framing(te_twice), "a Transfer-Encoding other than one chunked");
	assert_string_equal(framing(not_number), "a Content-Length that is not a number");
	assert_string_equal(framing(empty), "an empty Content-Length");
	assert_string_equal(framing(too_long), "a Content-Length that is not a number");
	const char *longest[] = {"Content-Length", "1234567890123456789", NULL}; /* 19 digits */
	assert_null(framing(longest));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_content_range),
		cmocka_unit_test(test_if_range),
		cmocka_unit_test(test_disposition),
		cmocka_unit_test(test_path_and_escape),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_framing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

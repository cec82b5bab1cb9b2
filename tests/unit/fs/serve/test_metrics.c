/*
 * test_metrics.c — unit tests for fs/serve/metrics.c (issue 24): a request
 * counted under its method (GET, HEAD, anything else "other": a client's
 * method never becomes a label) and status (one outside 100-599 as "0"),
 * bytes and stopped transfers summed, only the pairs seen listed, every
 * family with HELP and TYPE, the refusals by reason from the log's counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "serve.h"

static int count_lines(const char *text, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, len) == 0)
			n++;
	return n;
}

static void test_text(void **state)
{
	static struct serve_metrics mt; /* 12 KiB: not on the stack */
	uint64_t refused[SERVE_NOISE_COUNT] = {0};
	size_t len = 0;
	(void)state;
	memset(&mt, 0, sizeof(mt));
	serve_metrics_request(&mt, "GET", 200, 1000, false);
	serve_metrics_request(&mt, "GET", 200, 24, false);
	serve_metrics_request(&mt, "GET", 200, 5, true);
	serve_metrics_request(&mt, "HEAD", 404, 0, false);
	serve_metrics_request(&mt, "PUT\"x", 405, 0, false);
	serve_metrics_request(&mt, "DELETE", 405, 0, false);
	serve_metrics_request(&mt, "GET", 0, 0, false);
	serve_metrics_request(&mt, "GET", 700, 0, false);
	refused[SERVE_NOISE_CAP] = 3;
	refused[SERVE_NOISE_SLOW] = 2;
	refused[SERVE_NOISE_MHD] = 9; /* libmicrohttpd's messages: no reason of ours */
	refused[SERVE_NOISE_EVICT] = 5;
	refused[SERVE_NOISE_READER] = 4;
	char *text = serve_metrics_text(&mt, 7, refused, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	assert_non_null(strstr(text, "imgfs_serve_requests_total{method=\"GET\",status=\"200\"} 3\n"));
	assert_non_null(strstr(text, "imgfs_serve_requests_total{method=\"HEAD\",status=\"404\"} 1\n"));
	assert_non_null(strstr(text, "imgfs_serve_requests_total{method=\"other\",status=\"405\"} 2\n"));
	assert_non_null(strstr(text, "imgfs_serve_requests_total{method=\"GET\",status=\"0\"} 2\n"));
	assert_int_equal(count_lines(text, "imgfs_serve_requests_total{"), 4);
	assert_non_null(strstr(text, "\nimgfs_serve_sent_bytes_total 1029\n"));
	assert_non_null(strstr(text, "\nimgfs_serve_connections 7\n"));
	assert_non_null(strstr(text, "imgfs_serve_refused_connections_total{reason=\"per_client\"} 3\n"));
	assert_non_null(strstr(text, "imgfs_serve_refused_connections_total{reason=\"late_request\"} 2\n"));
	assert_non_null(strstr(text, "imgfs_serve_refused_connections_total{reason=\"garbage\"} 0\n"));
	assert_non_null(strstr(text, "imgfs_serve_refused_connections_total{reason=\"idle\"} 0\n"));
	assert_non_null(strstr(text, "imgfs_serve_refused_connections_total{reason=\"evicted\"} 5\n"));
	assert_non_null(strstr(text, "imgfs_serve_refused_connections_total{reason=\"slow_reader\"} 4\n"));
	assert_non_null(strstr(text, "imgfs_serve_refused_connections_total{reason=\"full\"} 0\n"));
	assert_int_equal(count_lines(text, "imgfs_serve_refused_connections_total{"), 7);
	assert_non_null(strstr(text, "\nimgfs_serve_transfers_stopped_total 1\n"));
	assert_int_equal(count_lines(text, "# HELP imgfs_serve_"), 5);
	assert_int_equal(count_lines(text, "# TYPE imgfs_serve_"), 5);
	assert_null(strstr(text, "PUT"));
	free(text);
}

/* The log counts every event of a kind, the suppressed ones too. */
static void test_noise_totals(void **state)
{
	struct serve_log l = {0};
	uint64_t t[SERVE_NOISE_COUNT];
	(void)state;
	assert_int_equal(serve_log_open(&l, NULL), 0);
	for (int i = 0; i < 5; i++)
		serve_noisef(&l, SERVE_NOISE_GARBAGE, 1, "refused %d", i);
	serve_noisef(&l, SERVE_NOISE_SLOW, 3, "closed 3");
	serve_noisef(&l, SERVE_NOISE_IDLE, 0, "closed 0");
	serve_noise_totals(&l, t);
	assert_int_equal(t[SERVE_NOISE_GARBAGE], 5);
	assert_int_equal(t[SERVE_NOISE_SLOW], 3);
	assert_int_equal(t[SERVE_NOISE_IDLE], 0);
	assert_int_equal(t[SERVE_NOISE_CAP], 0);
	serve_log_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_noise_totals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

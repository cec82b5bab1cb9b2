/*
 * test_data.c — unit tests for fs/serve/glance/data.c (SPEC §19.7): the
 * shares of the image API's upload slots (glance_upload_fits), each bound
 * at its limit and one past it, and against a reference: accounts that
 * take every slot they may, one after the other, never let one account
 * hold more than half, and leave a slot for a newcomer while any is free;
 * and GET .../file through the dispatcher (glance_test.h) with and
 * without a Range: the bytes, the status and the Content-Range at the
 * body's first byte, its last, a suffix, a range past the end (416) and
 * ranges that are ignored (several, reversed); an upload refused as it
 * begins gives its slot back.
 */
#include "glance_test.h"

_Static_assert(GLANCE_UPLOADS == 16, "the figures below are for 16 slots");

/* One account alone: 8 of the 16 (half of what nobody else holds), one
 * address of it 4 (half its share). */
static void test_one_account(void **state)
{
	(void)state;
	assert_true(glance_upload_fits(0, 0, 0));
	assert_true(glance_upload_fits(7, 7, 3));   /* its 8th, from a 2nd address */
	assert_false(glance_upload_fits(8, 8, 0));  /* a 9th: past its share */
	assert_true(glance_upload_fits(3, 3, 3));   /* the 4th of one address */
	assert_false(glance_upload_fits(4, 4, 4));  /* a 5th from it */
	assert_true(glance_upload_fits(4, 4, 0));   /* from another address */
}

/* Beside others: half of what they leave; the last slots one each. */
static void test_beside_others(void **state)
{
	(void)state;
	assert_true(glance_upload_fits(8, 0, 0));    /* another account beside one holding 8 */
	assert_true(glance_upload_fits(11, 3, 1));   /* its 4th: the others leave 8, half is 4 */
	assert_false(glance_upload_fits(12, 4, 0));  /* a 5th */
	assert_false(glance_upload_fits(10, 2, 2));  /* a 3rd from one address: half of 4 is 2 */
	assert_true(glance_upload_fits(15, 0, 0));   /* the last slot: one at least */
	assert_false(glance_upload_fits(15, 1, 0));  /* a 2nd when the others hold 14 */
	assert_false(glance_upload_fits(16, 0, 0));  /* all held */
}

/* Accounts arriving one after the other, each taking all it may: the
 * first holds 8, and every later one gets one slot at least until the 16
 * are held. */
static void test_greedy_accounts(void **state)
{
	unsigned held = 0, per[16] = {0}, accounts = 0;
	(void)state;
	for (unsigned a = 0; a < 16 && held < GLANCE_UPLOADS; a++) {
		/* each address of the account takes what it may, then the next */
		for (unsigned addr = 0; addr < 16; addr++) {
			unsigned mine = 0;
			while (glance_upload_fits(held, per[a], mine)) {
				held++;
				per[a]++;
				mine++;
			}
		}
		assert_true(per[a] >= 1);
		accounts++;
	}
	assert_int_equal(per[0], 8);
	assert_int_equal(held, GLANCE_UPLOADS);
	assert_true(accounts >= 5);
}

/* The bytes lt_tagged_blob stores. */
static uint8_t *tagged(const char *tag, uint64_t size)
{
	uint8_t *buf = calloc(1, size);
	assert_non_null(buf);
	for (uint64_t off = 0; off < size; off += LT_MiB)
		snprintf((char *)buf + off, size - off < 64 ? (size_t)(size - off) : 64, "%s@%llu", tag,
		         (unsigned long long)off);
	return buf;
}

static void test_download_ranges(void **state)
{
	struct gt t;
	struct gt_reply o;
	char id[37], url[200], crange[96], last[64];
	const uint64_t size = 2 * LT_MiB + 100;
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", id);
	struct model_image img = gt_image(&t, id);
	lt_device(t.fx, img.id, 0, lt_tagged_blob(t.fx, t.fx->r1, "web", size), 0);
	lt_available(t.fx, img.id, MODEL_TYPE_LOCAL);
	uint8_t *want = tagged("web", size);
	snprintf(url, sizeof url, "/v2/images/%s/file", id);
	/* whole */
	assert_int_equal(gt_call(&t, &o, "GET", url, "alice", NULL), 200);
	assert_int_equal(o.len, size);
	assert_memory_equal(o.body, want, size);
	assert_null(gt_reply_header(&o, "Content-Range"));
	assert_string_equal(gt_reply_header(&o, "Accept-Ranges"), "bytes");
	gt_reply_free(&o);
	/* ranges: start, length; ignored ones whole (start 0, length size) */
	snprintf(last, sizeof last, "bytes=%llu-", (unsigned long long)(size - 1));
	static char past[64], across[64], suffix_all[64];
	snprintf(past, sizeof past, "bytes=%llu-", (unsigned long long)size);
	snprintf(across, sizeof across, "bytes=%llu-%llu", (unsigned long long)(LT_MiB - 1), (unsigned long long)LT_MiB);
	snprintf(suffix_all, sizeof suffix_all, "bytes=-%llu", (unsigned long long)(size + 5));
	const struct {
		const char *range;
		int status;
		uint64_t start, len;
	} cases[] = {
		{"bytes=0-0", 206, 0, 1},
		{last, 206, size - 1, 1},
		{"bytes=-1", 206, size - 1, 1},
		{"bytes=-100", 206, size - 100, 100},
		{suffix_all, 206, 0, size},
		{across, 206, LT_MiB - 1, 2},
		{"bytes=5-9", 206, 5, 5},
		{past, 416, 0, 0},
		{"bytes=-0", 416, 0, 0},
		{"bytes=0-1,5-6", 200, 0, size},
		{"bytes=9-5", 200, 0, size},
		{"pages=0-1", 200, 0, size},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		gt_header("Range", cases[i].range);
		int st = gt_call(&t, &o, "GET", url, "alice", NULL);
		if (st != cases[i].status)
			fail_msg("Range %s: %d, want %d", cases[i].range, st, cases[i].status);
		const char *cr = gt_reply_header(&o, "Content-Range");
		if (st == 206) {
			snprintf(crange, sizeof crange, "bytes %llu-%llu/%llu", (unsigned long long)cases[i].start,
			         (unsigned long long)(cases[i].start + cases[i].len - 1), (unsigned long long)size);
			if (!cr || strcmp(cr, crange) != 0)
				fail_msg("Range %s: Content-Range %s, want %s", cases[i].range, cr ? cr : "(none)", crange);
		} else if (st == 416) {
			snprintf(crange, sizeof crange, "bytes */%llu", (unsigned long long)size);
			assert_non_null(cr);
			assert_string_equal(cr, crange);
		} else {
			assert_null(cr);
		}
		assert_int_equal(o.len, cases[i].len);
		if (cases[i].len)
			assert_memory_equal(o.body, want + cases[i].start, cases[i].len);
		gt_reply_free(&o);
	}
	free(want);
	gt_stop(&t);
}

/* An upload refused as it begins (its image is not queued: 409) gives
 * its slot back: more of them than all the slots, one after the other
 * from one address (its share: 4), each answer 409, never 503 (issue 70's
 * slots; a refusal that kept its slot passed every unit test). */
static void test_refused_upload_gives_back(void **state)
{
	struct gt t;
	char id[37], url[200];
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", id);
	struct model_image img = gt_image(&t, id);
	lt_device(t.fx, img.id, 0, lt_tagged_blob(t.fx, t.fx->r1, "web", LT_MiB), 0);
	lt_available(t.fx, img.id, MODEL_TYPE_LOCAL);
	snprintf(url, sizeof url, "/v2/images/%s/file", id);
	for (int i = 0; i < GLANCE_UPLOADS + 1; i++)
		assert_int_equal(gt_status(&t, "PUT", url, "alice", "0123456789"), 409);
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_account),
		cmocka_unit_test(test_beside_others),
		cmocka_unit_test(test_greedy_accounts),
		cmocka_unit_test_setup_teardown(test_download_ranges, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refused_upload_gives_back, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

/*
 * test_data.c — unit tests for fs/serve/glance/data.c (SPEC §19.7): GET
 * .../file through the dispatcher (glance_test.h) with and without a
 * Range: the bytes, the status and the Content-Range at the body's first
 * byte, its last, a suffix, a range past the end (416) and ranges that
 * are ignored (several, reversed); an upload refused as it begins gives
 * its slot back; held uploads (gt_hold here: a client that trickles
 * its body) take the slots of their tenant — a sub-account's
 * under its main account — and their address, and a client that goes
 * away gives its slot back.  The ledger's own rules: test_slots.c.
 */
#include "glance_test.h"

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

/* An image's bytes are application/octet-stream, as Glance's deserializer
 * takes them: a PUT of file or stage as JSON, as text, as an empty type or
 * a longer name is 415 and the image stays queued, nothing begun; with a
 * parameter, or in capitals, the bytes are taken (and these ten, of no
 * disk format, refused by the sniff: 400); with no body at all, 415
 * still, and an empty body of the right type 400 "the file is empty". */
static void test_bytes_type(void **state)
{
	static const char *const refused[] = {"application/json", "text/plain", "", "application/octet-streamx",
	                                      "application/octet"};
	struct gt t;
	struct gt_reply o;
	char id[37], url[200];
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", id);
	for (int stage = 0; stage < 2; stage++) {
		snprintf(url, sizeof url, "/v2/images/%s/%s", id, stage ? "stage" : "file");
		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
			gt_header("Content-Type", refused[i]);
			assert_int_equal(gt_status(&t, "PUT", url, "alice", "0123456789"), 415);
			assert_int_equal(gt_image(&t, id).status, MODEL_IMG_QUEUED);
		}
		gt_header("Content-Type", stage ? "APPLICATION/Octet-Stream" : "application/octet-stream; charset=binary");
		assert_int_equal(gt_status(&t, "PUT", url, "alice", "0123456789"), 400);
		assert_int_equal(gt_image(&t, id).status, MODEL_IMG_QUEUED);
		/* a body that never comes: its type is judged first, as Glance's
		 * deserializer does (415 before the empty upload's 400), and an
		 * empty body of the right type is the empty upload's refusal */
		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
			gt_header("Content-Type", refused[i]);
			assert_int_equal(gt_call(&t, &o, "PUT", url, "alice", ""), 415);
			assert_non_null(strstr(o.body, "is not supported by this server"));
			gt_reply_free(&o);
			assert_int_equal(gt_image(&t, id).status, MODEL_IMG_QUEUED);
		}
		assert_int_equal(gt_call(&t, &o, "PUT", url, "alice", ""), 400);
		assert_non_null(strstr(o.body, "the file is empty"));
		gt_reply_free(&o);
		assert_int_equal(gt_image(&t, id).status, MODEL_IMG_QUEUED);
	}
	gt_stop(&t);
}

/* A held upload: PUT url as who on conn, a 1 MiB body announced, its first
 * bytes sent and the rest never (a client that trickles): the request,
 * which holds its upload slot until gt_let_go; or NULL when the server
 * refused it at once, its status in *status (and the reply's reason
 * printed when it is not the one expected by the caller). */
static struct glance_req *gt_hold(struct gt *t, struct serve_conn *conn, const char *url, const char *who,
                                         int *status)
{
	struct glance_req *r = NULL;
	struct MHD_Connection *c = (struct MHD_Connection *)&gt_now;
	size_t n = 0;
	gt_now.queued = 0;
	memset(&gt_now.out, 0, sizeof(gt_now.out));
	gt_header("X-Auth-Token", gt_token(t, who));
	gt_header("Content-Length", "1048576");
	gt_header("Content-Type", "application/octet-stream");
	glance_request(t->g, c, conn, &r, url, "PUT", NULL, &n);
	if (!gt_now.queued) {
		n = 4;
		glance_request(t->g, c, conn, &r, url, "PUT", "QFI\xfb", &n);
	}
	gt_now.nhdr = gt_now.nquery = 0;
	*status = gt_now.queued ? gt_now.out.status : glance_status(r);
	if (!*status)
		return r; /* held */
	if (!gt_now.queued) { /* refused mid-body: the refusal sent at the end */
		n = 0;
		glance_request(t->g, c, conn, &r, url, "PUT", NULL, &n);
	}
	assert_int_equal(gt_now.queued, 1);
	*status = gt_now.out.status;
	glance_done(r, MHD_REQUEST_TERMINATED_COMPLETED_OK, "127.0.0.1");
	free(gt_now.out.body);
	memset(&gt_now.out, 0, sizeof(gt_now.out));
	return NULL;
}

/* A held upload's client goes away (its upload fails, its slot freed). */
static void gt_let_go(struct glance_req *r)
{
	glance_done(r, MHD_REQUEST_TERMINATED_CLIENT_ABORT, "127.0.0.1");
}

/* A queued image of who's, its PUT .../file URL in url. */
static void queued_image(struct gt *t, const char *who, char url[200])
{
	char id[37];
	gt_create(t, who, "{\"name\": \"up\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", id);
	snprintf(url, 200, "/v2/images/%s/file", id);
}

/* The held-upload harness (issue 70's shares, issue 71's seam): uploads
 * that hold their slot while their client trickles, through the
 * dispatcher.  A main account and its two sub-accounts share one tenant's
 * slots: 4 from one address (the 5th, a sub-account's, 503 for its
 * address), 8 in all (the 9th, from a third address, 503 for the
 * account), while another account's upload still gets a slot (and
 * holding it, shrinks the tenant's share to 7); clients that go away
 * give their slots back (a sub-account's 8th then starts), and all let
 * go, the tenant takes its 8 again. */
static void test_held_uploads(void **state)
{
	struct gt t;
	struct model_err err = {0};
	char url[21][200];
	struct glance_req *held[12] = {NULL};
	int st;
	gt_start(&t, *state);
	struct serve_conn *a2 = gt_conn(&t, "127.0.0.2"), *a3 = gt_conn(&t, "127.0.0.3");
	const char *owner[21] = {"boss", "sub1", "boss", "sub1", "sub2", "sub1", "sub2", "sub1", "sub2", "sub2", "bob",
	                         "sub1", "sub2", "sub1", "sub2", "sub1", "boss", "sub1", "boss", "sub2", "boss"};
	for (int i = 0; i < 21; i++)
		gt_token(&t, owner[i]);
	if (model_quota_set(t.fx->m, "boss", ut_region_names[0], "private-images", 100, &err) < 0 ||
	    model_quota_set(t.fx->m, "sub1", ut_region_names[0], "private-images", 100, &err) < 0 ||
	    model_quota_set(t.fx->m, "sub2", ut_region_names[0], "private-images", 100, &err) < 0)
		fail_msg("quota: %s", err.msg);
	for (int i = 0; i < 21; i++)
		queued_image(&t, owner[i], url[i]);
	if (model_account_set_parent(t.fx->m, "sub1", "boss", &err) < 0 ||
	    model_account_set_parent(t.fx->m, "sub2", "boss", &err) < 0)
		fail_msg("set parent: %s", err.msg);
	/* 127.0.0.1: the tenant's 4 (boss and sub1), a 5th (sub2's) refused */
	for (int i = 0; i < 4; i++) {
		held[i] = gt_hold(&t, t.conn, url[i], owner[i], &st);
		if (!held[i])
			fail_msg("upload %d of %s: %d", i, owner[i], st);
	}
	assert_null(gt_hold(&t, t.conn, url[4], "sub2", &st));
	assert_int_equal(st, 503);
	assert_true(gt_log_has(&t, "status 503", "your address has its share"));
	/* 127.0.0.2: 4 more (sub1, sub2): 8, the tenant's share */
	for (int i = 4; i < 8; i++) {
		held[i] = gt_hold(&t, a2, url[i], owner[i], &st);
		if (!held[i])
			fail_msg("upload %d of %s: %d", i, owner[i], st);
	}
	/* a 9th from a third address: the account's share */
	assert_null(gt_hold(&t, a3, url[8], "sub2", &st));
	assert_int_equal(st, 503);
	assert_true(gt_log_has(&t, "status 503", "your account has its share"));
	/* bob, from the address the tenant filled: a slot */
	held[10] = gt_hold(&t, t.conn, url[10], "bob", &st);
	assert_non_null(held[10]);
	/* one of sub1's clients goes away: 7 held by the tenant, 1 by bob,
	 * who leaves it 7 (half of the 14 bob leaves): still refused */
	gt_let_go(held[1]);
	held[1] = NULL;
	assert_null(gt_hold(&t, a3, url[8], "sub2", &st));
	assert_int_equal(st, 503);
	/* bob's goes too: the tenant's share is 8 again, its 8th starts */
	gt_let_go(held[10]);
	held[10] = NULL;
	held[8] = gt_hold(&t, a3, url[8], "sub2", &st);
	if (!held[8])
		fail_msg("the slots let go were not given back: %d", st);
	assert_null(gt_hold(&t, a3, url[9], "sub2", &st));
	assert_int_equal(st, 503);
	/* all let go (every slot given back, the first one's too): the
	 * tenant's 8 again, 4 from one address and 4 from another */
	for (int i = 0; i < 12; i++)
		if (held[i])
			gt_let_go(held[i]);
	for (int i = 0; i < 8; i++) { /* fresh images: those let go are in error */
		held[i] = gt_hold(&t, i < 4 ? a3 : a2, url[12 + i], owner[12 + i], &st);
		if (!held[i])
			fail_msg("after all let go, upload %d: %d", i, st);
	}
	assert_null(gt_hold(&t, t.conn, url[20], "boss", &st)); /* and a 9th is the account's */
	assert_int_equal(st, 503);
	for (int i = 0; i < 8; i++)
		gt_let_go(held[i]);
	gt_stop(&t);
}

/* A staged upload (PUT .../stage) answers 204 once its bytes are in,
 * without waiting for the seal only an import starts: the image then
 * "uploading" with its size shown, as Glance shows a staged image. */
static void test_stage_answers(void **state)
{
	struct gt t;
	struct gt_reply o;
	char id[37], url[200];
	const size_t n = 64 * 1024;
	char *body = gt_raw_body(n);
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", id);
	snprintf(url, sizeof url, "/v2/images/%s/stage", id);
	assert_int_equal(gt_status(&t, "PUT", url, "alice", body), 204);
	snprintf(url, sizeof url, "/v2/images/%s", id);
	assert_int_equal(gt_call(&t, &o, "GET", url, "alice", NULL), 200);
	assert_string_equal(json_string_value(json_object_get(o.json, "status")), "uploading");
	assert_int_equal(json_integer_value(json_object_get(o.json, "size")), n);
	gt_reply_free(&o);
	free(body);
	gt_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_download_ranges, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refused_upload_gives_back, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_bytes_type, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_stage_answers, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_held_uploads, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

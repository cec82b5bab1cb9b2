/*
 * test_api.c — unit tests for fs/serve/glance/api.c and reply.c (SPEC
 * §19) through the dispatcher (glance_test.h): the route table's right
 * column, asked once before a handler runs (every image route as a
 * stranger, who sees nothing: 404; as a pending member, who sees and
 * builds, and as a rejected one, who sees and answers: 403 on each route
 * that changes, shares or reads the data, the handler on the others; the
 * image unchanged after), the endpoint's own rule (one region, the recycle
 * bin deleted to the API), the request's bounds at their limit and one
 * past (a path, a query's parameters, a JSON body), 401/404/405, and the
 * errno -> status table.
 */
#include "glance_test.h"

/* Every image route, with what a member (pending or rejected) gets: 0 the handler ran
 * (any status but 401/403/404), else the dispatcher's refusal. */
static const struct {
	const char *method, *tail, *body;
	int member;
} routes[] = {
	{"GET", "", NULL, 0},
	{"PATCH", "", "[{\"op\": \"replace\", \"path\": \"/name\", \"value\": \"x\"}]", 403},
	{"DELETE", "", NULL, 403},
	{"PUT", "/file", "", 403},
	{"GET", "/file", NULL, 403},
	{"PUT", "/stage", "", 403},
	{"POST", "/import", "{\"method\": {\"name\": \"glance-direct\"}}", 403},
	{"GET", "/tasks", NULL, 0},
	{"POST", "/actions/deactivate", NULL, 403},
	{"POST", "/actions/reactivate", NULL, 403},
	{"PUT", "/tags/t", NULL, 403},
	{"DELETE", "/tags/t0", NULL, 403},
	{"GET", "/members", NULL, 0},
	{"POST", "/members", "{\"member\": \"carol\"}", 403},
	{"GET", "/members/bob", NULL, 0},
	{"PUT", "/members/bob", "{\"status\": \"accepted\"}", 0},
	{"DELETE", "/members/bob", NULL, 403},
};

static void test_route_rights(void **state)
{
	struct gt t;
	char id[37], url[200];
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\", \"visibility\": \"shared\", \"tags\": [\"t0\"]}", id);
	snprintf(url, sizeof url, "/v2/images/%s/members", id);
	gt_token(&t, "bob");
	gt_token(&t, "carol");
	assert_int_equal(gt_status(&t, "POST", url, "alice", "{\"member\": \"bob\"}"), 200);
	struct model_image before = gt_image(&t, id);
	/* pass 0: bob pending (he sees and builds); pass 1: rejected (he sees
	 * and answers only): no route asks for building, so both get the same */
	for (int pass = 0; pass < 2; pass++) {
		if (pass) {
			snprintf(url, sizeof url, "/v2/images/%s/members/bob", id);
			assert_int_equal(gt_status(&t, "PUT", url, "bob", "{\"status\": \"rejected\"}"), 200);
		}
		for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
			snprintf(url, sizeof url, "/v2/images/%s%s", id, routes[i].tail);
			int st = gt_status(&t, routes[i].method, url, "carol", routes[i].body);
			if (st != 404)
				fail_msg("%s %s as a stranger: %d, want 404", routes[i].method, routes[i].tail, st);
			st = gt_status(&t, routes[i].method, url, NULL, routes[i].body);
			if (st != 401)
				fail_msg("%s %s without a token: %d, want 401", routes[i].method, routes[i].tail, st);
			st = gt_status(&t, routes[i].method, url, "bob", routes[i].body);
			if (routes[i].member ? st != routes[i].member : (st == 401 || st == 403 || st == 404))
				fail_msg("%s %s as a %s member: %d, want %s%d", routes[i].method, routes[i].tail,
				         pass ? "rejected" : "pending", st, routes[i].member ? "" : "not ",
				         routes[i].member ? routes[i].member : 403);
		}
	}
	/* nothing the refusals passed changed the image */
	struct model_image after = gt_image(&t, id);
	assert_string_equal(after.name, before.name);
	assert_string_equal(after.tags, before.tags);
	assert_int_equal(after.status, before.status);
	assert_int_equal(after.gflags, before.gflags);
	/* the owner: each right it has is asked and given (a route whose
	 * right column asked more than the owner has would 403 here) */
	static const struct {
		const char *method, *tail, *body;
		int status;
	} owner[] = {
		{"GET", "", NULL, 200},
		{"PATCH", "", "[{\"op\": \"replace\", \"path\": \"/name\", \"value\": \"x\"}]", 200},
		{"GET", "/file", NULL, 204},
		{"PUT", "/tags/t", NULL, 204},
		{"DELETE", "/tags/t0", NULL, 204},
		{"GET", "/members", NULL, 200},
		{"POST", "/members", "{\"member\": \"carol\"}", 200},
		{"GET", "/members/bob", NULL, 200},
		{"DELETE", "/members/carol", NULL, 204},
		{"GET", "/tasks", NULL, 200},
		{"DELETE", "", NULL, 204},
	};
	for (size_t i = 0; i < sizeof owner / sizeof owner[0]; i++) {
		snprintf(url, sizeof url, "/v2/images/%s%s", id, owner[i].tail);
		int st = gt_status(&t, owner[i].method, url, "alice", owner[i].body);
		if (st != owner[i].status)
			fail_msg("%s %s as the owner: %d, want %d", owner[i].method, owner[i].tail, st, owner[i].status);
	}
	/* deleted: in the recycle bin, which the API does not show, even to its owner */
	snprintf(url, sizeof url, "/v2/images/%s", id);
	assert_int_equal(gt_status(&t, "GET", url, "alice", NULL), 404);
	gt_stop(&t);
}

/* The endpoint is one region's: another region's path sees no image of it. */
static void test_region(void **state)
{
	struct gt t;
	char id[37], url[300];
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\"}", id);
	snprintf(url, sizeof url, "/region/%s/v2/images/%s", ut_region_names[0], id);
	assert_int_equal(gt_status(&t, "GET", url, "alice", NULL), 200);
	snprintf(url, sizeof url, "/region/%s/v2/images/%s", ut_region_names[1], id);
	assert_int_equal(gt_status(&t, "GET", url, "alice", NULL), 404);
	assert_int_equal(gt_status(&t, "GET", "/region/nowhere/v2/images", "alice", NULL), 404);
	/* a create says where the image is and in which store, as Glance's
	 * (Location, OpenStack-image-store-ids): at the root and under a
	 * region's prefix */
	for (int k = 0; k < 2; k++) {
		struct gt_reply o;
		char want[400], path[300];
		snprintf(path, sizeof path, "%s%s/v2/images", k ? "/region/" : "", k ? ut_region_names[1] : "");
		assert_int_equal(gt_call(&t, &o, "POST", path, "alice", "{\"name\": \"where\"}"), 201);
		snprintf(want, sizeof want, "http://127.0.0.1:9292%s%s/v2/images/%s", k ? "/region/" : "",
		         k ? ut_region_names[1] : "", json_string_value(json_object_get(o.json, "id")));
		assert_string_equal(gt_reply_header(&o, "Location"), want);
		assert_string_equal(gt_reply_header(&o, "OpenStack-image-store-ids"), ut_region_names[k]);
		assert_string_equal(gt_reply_header(&o, "OpenStack-image-import-methods"), "glance-direct,web-download");
		gt_reply_free(&o);
	}
	gt_stop(&t);
}

static void test_bounds(void **state)
{
	struct gt t;
	struct gt_reply o;
	char *url = malloc(GLANCE_PATH_MAX + 8);
	gt_start(&t, *state);
	/* a path of GLANCE_PATH_MAX - 1 bytes is read (no such route), one more is 414 */
	memset(url, 'a', GLANCE_PATH_MAX + 1);
	url[0] = '/';
	url[GLANCE_PATH_MAX - 1] = '\0';
	assert_int_equal(gt_status(&t, "GET", url, "alice", NULL), 404);
	url[GLANCE_PATH_MAX - 1] = 'a';
	url[GLANCE_PATH_MAX] = '\0';
	assert_int_equal(gt_status(&t, "GET", url, "alice", NULL), 414);
	free(url);
	/* GLANCE_QUERY_MAX parameters, and one more (limit=, read once: the first) */
	for (int i = 0; i < GLANCE_QUERY_MAX; i++)
		gt_query("limit", "5");
	assert_int_equal(gt_status(&t, "GET", "/v2/images", "alice", NULL), 200);
	for (int i = 0; i <= GLANCE_QUERY_MAX; i++)
		gt_query("limit", "5");
	assert_int_equal(gt_call(&t, &o, "GET", "/v2/images", "alice", NULL), 400);
	assert_non_null(strstr(o.body, "at most 32 parameters"));
	gt_reply_free(&o);
	/* a JSON body of GLANCE_BODY_MAX bytes, and one more */
	char *body = malloc(GLANCE_BODY_MAX + 2);
	memset(body, ' ', GLANCE_BODY_MAX + 1);
	memcpy(body, "{\"name\": \"big\"}", 15);
	body[GLANCE_BODY_MAX] = '\0';
	assert_int_equal(gt_status(&t, "POST", "/v2/images", "alice", body), 201);
	body[GLANCE_BODY_MAX] = ' ';
	body[GLANCE_BODY_MAX + 1] = '\0';
	assert_int_equal(gt_status(&t, "POST", "/v2/images", "alice", body), 413);
	/* ... also when no Content-Length says so: the bytes are counted */
	struct glance_req *r = NULL;
	size_t n = 0;
	gt_now.queued = 0;
	gt_header("X-Auth-Token", gt_token(&t, "alice"));
	glance_request(t.g, (struct MHD_Connection *)&gt_now, t.conn, &r, "/v2/images", "POST", NULL, &n);
	for (size_t off = 0; off < GLANCE_BODY_MAX + 1; off += n) {
		size_t piece = GLANCE_BODY_MAX + 1 - off < 65536 ? GLANCE_BODY_MAX + 1 - off : 65536;
		n = piece;
		glance_request(t.g, (struct MHD_Connection *)&gt_now, t.conn, &r, "/v2/images", "POST", body + off, &n);
		n = piece;
	}
	assert_int_equal(gt_now.queued, 0);
	n = 0;
	glance_request(t.g, (struct MHD_Connection *)&gt_now, t.conn, &r, "/v2/images", "POST", NULL, &n);
	assert_int_equal(gt_now.out.status, 413);
	glance_done(r, MHD_REQUEST_TERMINATED_COMPLETED_OK, "127.0.0.1");
	free(gt_now.out.body);
	gt_now.nhdr = 0;
	free(body);
	/* one image made, the first big one */
	gt_query("name", "big");
	assert_int_equal(gt_call(&t, &o, "GET", "/v2/images", "alice", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(o.json, "images")), 1);
	gt_reply_free(&o);
	/* routes: none, not this method, no caller, a caller unknown */
	assert_int_equal(gt_status(&t, "GET", "/v2/nothing", "alice", NULL), 404);
	assert_int_equal(gt_call(&t, &o, "PATCH", "/v2/images", "alice", NULL), 405);
	assert_non_null(gt_reply_header(&o, "Allow"));
	gt_reply_free(&o);
	assert_int_equal(gt_call(&t, &o, "GET", "/v2/images", NULL, NULL), 401);
	assert_non_null(gt_reply_header(&o, "WWW-Authenticate"));
	gt_reply_free(&o);
	gt_header("X-Auth-Token", "not-a-token");
	assert_int_equal(gt_status(&t, "GET", "/v2/images", NULL, NULL), 401);
	assert_int_equal(gt_status(&t, "GET", "/versions", NULL, NULL), 200); /* anonymous */
	gt_stop(&t);
}

/* glance_new: the region by name, the first when not told, an unknown one
 * refused with its reason; the task runners started when asked. */
static void test_glance_new(void **state)
{
	struct ut_fx *fx = *state;
	struct serve_log log;
	glance *g = NULL;
	char why[256] = "";
	assert_int_equal(serve_log_open(&log, NULL), 0);
	struct glance_opts o = {.m = fx->m, .log = &log, .listen = "127.0.0.1:9292", .region = "nowhere"};
	assert_int_equal(glance_new(&g, &o, why, sizeof why), -ENOENT);
	assert_null(g);
	assert_string_equal(why, "--glance-region: no region nowhere");
	o.region = ut_region_names[1];
	assert_int_equal(glance_new(&g, &o, why, sizeof why), 0);
	assert_string_equal(g->region, ut_region_names[1]);
	assert_int_equal(g->region_id, fx->region[1].id);
	glance_free(g);
	o.region = NULL;
	o.workers = 1;
	assert_int_equal(glance_new(&g, &o, why, sizeof why), 0);
	assert_string_equal(g->region, ut_region_names[0]);
	assert_non_null(g->workers);
	glance_free(g);
	serve_log_close(&log);
}

/* The links' root from the Host header: a host and port as they may be
 * spelled (letters a to z, A to Z, digits, ".-:[]"), else the listener's. */
static void test_host_root(void **state)
{
	struct gt t;
	struct gt_reply o;
	gt_start(&t, *state);
	static const struct {
		const char *host, *self;
	} cases[] = {
		{"zZ09.a-A:9292", "http://zZ09.a-A:9292/v3/"},
		{"[::1]:80", "http://[::1]:80/v3/"},
		{"a{b", "http://127.0.0.1:9292/v3/"},   /* one past 'z' */
		{"a`b", "http://127.0.0.1:9292/v3/"},   /* one before 'a' */
		{"a@b", "http://127.0.0.1:9292/v3/"},   /* one before 'A' */
		{"a[b\"", "http://127.0.0.1:9292/v3/"}, /* a quote: echoed in JSON, never */
		{"", "http://127.0.0.1:9292/v3/"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		gt_header("Host", cases[i].host);
		assert_int_equal(gt_call(&t, &o, "GET", "/v3", NULL, NULL), 200);
		const char *self = json_string_value(
		        json_object_get(json_array_get(json_object_get(json_object_get(o.json, "version"), "links"), 0), "href"));
		if (!self || strcmp(self, cases[i].self) != 0)
			fail_msg("Host %s: self %s, want %s", cases[i].host, self ? self : "(none)", cases[i].self);
		gt_reply_free(&o);
	}
	gt_stop(&t);
}

/* A JSON body announced past GLANCE_BODY_MAX is refused from its headers,
 * before a byte is read; a data route's (an upload) is not bounded so. */
static void test_announced_length(void **state)
{
	struct gt t;
	struct glance_req *r = NULL;
	char id[37], url[200], len[24];
	size_t n = 0;
	gt_start(&t, *state);
	gt_create(&t, "alice", "{\"name\": \"web\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", id);
	for (unsigned extra = 0; extra <= 1; extra++) {
		snprintf(len, sizeof len, "%u", GLANCE_BODY_MAX + extra);
		gt_now.queued = 0;
		gt_header("X-Auth-Token", gt_token(&t, "alice"));
		gt_header("Content-Length", len);
		glance_request(t.g, (struct MHD_Connection *)&gt_now, t.conn, &r, "/v2/images", "POST", NULL, &n);
		assert_int_equal(gt_now.queued, extra); /* refused at once, or reading on */
		if (extra)
			assert_int_equal(gt_now.out.status, 413);
		glance_done(r, MHD_REQUEST_TERMINATED_CLIENT_ABORT, "127.0.0.1");
		free(gt_now.out.body);
		memset(&gt_now.out, 0, sizeof(gt_now.out));
		gt_now.nhdr = 0;
		r = NULL;
	}
	snprintf(url, sizeof url, "/v2/images/%s/file", id);
	gt_now.queued = 0;
	gt_header("X-Auth-Token", gt_token(&t, "alice"));
	gt_header("Content-Length", "1073741824");
	gt_header("Content-Type", "application/octet-stream");
	glance_request(t.g, (struct MHD_Connection *)&gt_now, t.conn, &r, url, "PUT", NULL, &n);
	assert_int_equal(gt_now.queued, 0); /* an upload of 1 GiB: read on */
	glance_done(r, MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN, "127.0.0.1");
	gt_now.nhdr = 0;
	/* each request's end in the log, how it ended said */
	assert_true(gt_log_has(&t, "API PUT", "server stopping"));
	assert_true(gt_log_has(&t, "API POST /v2/images", "client closed"));
	gt_stop(&t);
}

/* SPEC §19's table of errnos and statuses. */
static void test_http_status(void **state)
{
	(void)state;
	static const struct {
		int err, status;
	} table[] = {
		{ENOENT, 404}, {EEXIST, 409},    {EBUSY, 409},     {ECANCELED, 409}, {EINVAL, 400},
		{ENAMETOOLONG, 400}, {EDQUOT, 413}, {EFBIG, 413},  {ENOSPC, 413},    {EPERM, 403},
		{EACCES, 403}, {EKEYEXPIRED, 401}, {EIO, 503},     {EAGAIN, 503},    {EROFS, 503},
		{ETIMEDOUT, 503}, {ENOMEM, 500}, {EXDEV, 500},
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (glance_http_status(-table[i].err) != table[i].status)
			fail_msg("%s: %d, want %d", strerror(table[i].err), glance_http_status(-table[i].err),
			         table[i].status);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_route_rights, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_region, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_bounds, ut_setup, ut_teardown),
		cmocka_unit_test(test_http_status),
		cmocka_unit_test_setup_teardown(test_glance_new, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_host_root, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_announced_length, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

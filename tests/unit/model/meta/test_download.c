/*
 * test_download.c — unit tests for model/meta/download.c (SPEC §14):
 * durations, the token (deterministic from its fields, any changed field
 * or digit refuses it), links of an available private image (listing,
 * resolving, expiry, revoke), the refusals (format, status, class, the
 * cap on live links) and that a link ends when its image leaves private/.
 */
#include "model/lifecycle_test.h"

static void test_durations(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int64_t secs; /* -1: refused */
	} cases[] = {
		{"30s", 30}, {"90m", 5400}, {"24h", 86400}, {"7d", 604800}, {"1s", 1}, {"168h", 604800},
		{"604800s", 604800}, {"8d", -1}, {"604801s", -1}, {"0s", -1}, {"", -1}, {"5", -1}, {"5x", -1},
		{"-5m", -1}, {"05m", -1}, {"5 m", -1}, {"5mm", -1}, {"99999999999999999999d", -1}, {"1w", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -1;
		int rc = model_link_parse_duration(cases[i].in, &v);
		if (cases[i].secs < 0) {
			if (rc != -EINVAL)
				fail_msg("%s accepted as %lld", cases[i].in, (long long)v);
		} else if (rc != 0 || v != cases[i].secs) {
			fail_msg("%s: rc %d, %lld, want %lld", cases[i].in, rc, (long long)v, (long long)cases[i].secs);
		}
	}
}

static void test_token(void **state)
{
	(void)state;
	uint8_t secret[BLOB_SECRET_SIZE], key[MODEL_LINK_KEY_SIZE], other[MODEL_LINK_KEY_SIZE];
	char a[MODEL_LINK_TOKEN_LEN + 1], b[MODEL_LINK_TOKEN_LEN + 1];
	const char *nonce = "00112233445566778899aabbccddeeff";
	memset(secret, 7, sizeof(secret));
	model_link_key(key, secret, sizeof(secret));
	secret[0] = 8;
	model_link_key(other, secret, sizeof(secret));
	assert_memory_not_equal(key, other, sizeof(key));

	model_link_token(a, key, nonce, 42, "raw", 1000);
	model_link_token(b, key, nonce, 42, "raw", 1000);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), MODEL_LINK_TOKEN_LEN);
	assert_true(model_link_token_valid(a));
	assert_memory_equal(a, nonce, 32);
	/* Every bound field changes the MAC half. */
	model_link_token(b, key, nonce, 43, "raw", 1000);
	assert_string_not_equal(a, b);
	model_link_token(b, key, nonce, 42, "qcow2", 1000);
	assert_string_not_equal(a, b);
	model_link_token(b, key, nonce, 42, "raw", 1001);
	assert_string_not_equal(a, b);
	model_link_token(b, other, nonce, 42, "raw", 1000);
	assert_string_not_equal(a, b);
	assert_memory_equal(a, b, 32);

	assert_false(model_link_token_valid(""));
	assert_false(model_link_token_valid("00112233"));
	snprintf(b, sizeof(b), "%s", a);
	b[5] = 'G';
	assert_false(model_link_token_valid(b));
	b[5] = 'A'; /* upper case is not a token's */
	assert_false(model_link_token_valid(b));
}

struct seen {
	int n;
	struct model_link l[4];
};

static int collect(void *arg, const struct model_link *l)
{
	struct seen *s = arg;
	assert_true(s->n < 4);
	s->l[s->n++] = *l;
	return 0;
}

static void test_links(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_link l, r;
	struct seen s = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", 3u << 20);
	int64_t now = time(NULL);

	assert_int_equal(model_link_create(fx->m, id, 3600, NULL, &l, &err), 0);
	assert_string_equal(l.format, "raw");
	assert_true(l.expires >= now + 3600 && l.expires <= now + 3602);
	assert_int_equal(model_link_command(fx->m, id, "link 7d qcow2", &err), 0);
	assert_int_equal(model_link_list(fx->m, id, now, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.l[0].token, l.token); /* soonest first */
	assert_string_equal(s.l[1].format, "qcow2");

	assert_int_equal(model_link_resolve(fx->m, l.token, now, &r), 0);
	assert_int_equal(r.image_id, id);
	assert_string_equal(r.format, "raw");
	/* Expired: still known (410), told apart from unknown (404). */
	assert_int_equal(model_link_resolve(fx->m, l.token, l.expires, &r), -EKEYEXPIRED);
	char bad[MODEL_LINK_TOKEN_LEN + 1];
	for (int i = 0; i < MODEL_LINK_TOKEN_LEN; i += 13) {
		snprintf(bad, sizeof(bad), "%s", l.token);
		bad[i] = bad[i] == '0' ? '1' : '0';
		assert_int_equal(model_link_resolve(fx->m, bad, now, &r), -ENOENT);
	}
	assert_int_equal(model_link_resolve(fx->m, "nope", now, &r), -ENOENT);

	char url[1024];
	model_link_url(url, sizeof(url), "https://dl.example:8443", &l, "g o/ld");
	char want[1024];
	snprintf(want, sizeof(want), "https://dl.example:8443/d/%s/g%%20o%%2Fld.raw", l.token);
	assert_string_equal(url, want);

	assert_int_equal(model_link_command(fx->m, id, "revoke", &err), 0);
	s.n = 0;
	assert_int_equal(model_link_list(fx->m, id, now, collect, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(model_link_resolve(fx->m, l.token, now, &r), -ENOENT);
}

static void test_refusals(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", 1u << 20);
	static const char *const bad[] = {"link 8d",  "link 0s",    "link raw qcow2", "link 1h 2h", "link iso",
	                                  "links",    "link 1h raw x", "",            "revoke all", "link vmdk"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (model_link_command(fx->m, id, bad[i], &err) != -EINVAL)
			fail_msg("\"%s\" not EINVAL", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
	int64_t q = ut_image(fx, fx->r1, alice, MODEL_FOLDER_PRIVATE, "queued");
	assert_int_equal(model_link_command(fx->m, q, "link", &err), -EPERM);
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.4");
	assert_int_equal(model_link_command(fx->m, pub.id, "link", &err), -EPERM);
	/* A deactivated image's data is the administrators' (§19.5): a link,
	 * the owner's read handed to anyone, is refused while it is. */
	struct model_api_op deact = {.kind = MODEL_API_FLAG, .num = MODEL_GFLAG_DEACTIVATED, .on = true};
	assert_int_equal(model_api_image_update(fx->m, id, &deact, 1, &err), 0);
	assert_int_equal(model_link_command(fx->m, id, "link", &err), -EACCES);
	assert_string_equal(err.msg, "the image is deactivated: its data is read by administrators only");
	deact.on = false;
	assert_int_equal(model_api_image_update(fx->m, id, &deact, 1, &err), 0);
	for (int i = 0; i < MODEL_LINK_MAX_LIVE; i++)
		assert_int_equal(model_link_command(fx->m, id, "link 1h", &err), 0);
	assert_int_equal(model_link_command(fx->m, id, "link 1h", &err), -EDQUOT);
}

static void test_leaving_private_ends_links(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_link l, r;
	int64_t alice = ut_account(fx, "alice");
	int64_t id = lt_local_image(fx, fx->r1, alice, "golden", 1u << 20);
	assert_int_equal(model_link_create(fx->m, id, 3600, "qcow2", &l, &err), 0);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0); /* to the recycle bin */
	assert_int_equal(model_link_resolve(fx->m, l.token, time(NULL), &r), -ENOENT);
	assert_int_equal(model_image_restore(fx->m, id, MODEL_FOLDER_PRIVATE, "golden", &err), 0);
	assert_int_equal(model_link_resolve(fx->m, l.token, time(NULL), &r), -ENOENT); /* ended, not paused */
	assert_int_equal(model_link_create(fx->m, id, 3600, "raw", &l, &err), 0);
	assert_int_equal(model_image_remove(fx->m, id, &err), 0);
	assert_int_equal(model_image_destroy(fx->m, id, &err), 0);
	assert_int_equal(model_link_resolve(fx->m, l.token, time(NULL), &r), -ENOENT);
}

static void test_download_url(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	char url[512];
	assert_int_equal(model_download_url(fx->m, url, sizeof(url)), 0);
	assert_string_equal(url, MODEL_DOWNLOAD_URL_DEFAULT);
	assert_int_equal(model_download_url_set(fx->m, "https://dl.example/images//", &err), 0);
	assert_int_equal(model_download_url(fx->m, url, sizeof(url)), 0);
	assert_string_equal(url, "https://dl.example/images");
	assert_int_equal(model_download_url_set(fx->m, "ftp://x", &err), -EINVAL);
	assert_int_equal(model_download_url_set(fx->m, "http://a b", &err), -EINVAL);
	assert_int_equal(model_download_url_set(fx->m, "http://a\nb", &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_token),
		cmocka_unit_test_setup_teardown(test_links, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_leaving_private_ends_links, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_download_url, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

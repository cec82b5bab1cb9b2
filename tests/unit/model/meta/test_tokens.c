/*
 * test_tokens.c — unit tests for model/meta/tokens.c (SPEC §19): a token
 * resolves to its account until it expires or is revoked; one changed
 * digit, a token of another service, a truncated one resolve to nothing;
 * the row keeps no MAC; an account's live tokens are bounded; the API
 * password is kept hashed and checked, with one answer for every failure.
 */
#include "test_util.h"

static void test_token_life(void **state)
{
	struct ut_fx *fx = *state;
	int64_t alice = ut_account(fx, "alice");
	struct model_account a;
	struct model_err err = {0};
	char tok[MODEL_TOKEN_LEN + 1], other[MODEL_TOKEN_LEN + 1];
	int64_t exp = 0, exp2 = 0, now = time(NULL);

	assert_int_equal(model_token_new(fx->m, "alice", 60, "admin", tok, &exp, &err), 0);
	assert_int_equal(strlen(tok), MODEL_TOKEN_LEN);
	assert_true(exp >= now + 60 && exp <= now + 61);
	assert_int_equal(model_token_resolve(fx->m, tok, now, &a, &exp2), 0);
	assert_int_equal(a.id, alice);
	assert_int_equal(exp2, exp);
	/* the database keeps the random half only */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM api_tokens WHERE nonce = substr(%Q, 1, 32)", tok), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM api_tokens WHERE nonce = %Q", tok), 0);
	/* expired at its second */
	assert_int_equal(model_token_resolve(fx->m, tok, exp - 1, &a, NULL), 0);
	assert_int_equal(model_token_resolve(fx->m, tok, exp, &a, NULL), -EKEYEXPIRED);
	/* any changed digit, in either half, and any other length */
	for (int i = 0; i < MODEL_TOKEN_LEN; i += 7) {
		snprintf(other, sizeof other, "%s", tok);
		other[i] = other[i] == '0' ? '1' : '0';
		assert_int_equal(model_token_resolve(fx->m, other, now, &a, NULL), -ENOENT);
	}
	snprintf(other, sizeof other, "%.63s", tok);
	assert_int_equal(model_token_resolve(fx->m, other, now, &a, NULL), -ENOENT);
	assert_int_equal(model_token_resolve(fx->m, "", now, &a, NULL), -ENOENT);
	snprintf(other, sizeof other, "%s", tok);
	other[0] = 'G';
	assert_int_equal(model_token_resolve(fx->m, other, now, &a, NULL), -ENOENT);
	/* durations: 1 s .. a year */
	assert_int_equal(model_token_new(fx->m, "alice", 0, "admin", other, NULL, &err), -EINVAL);
	assert_int_equal(model_token_new(fx->m, "alice", MODEL_TOKEN_MAX_SECONDS + 1, "admin", other, NULL, &err),
	                 -EINVAL);
	assert_int_equal(model_token_new(fx->m, "alice", MODEL_TOKEN_MAX_SECONDS, "admin", other, NULL, &err), 0);
	char none[MODEL_TOKEN_LEN + 1] = "x";
	assert_int_equal(model_token_new(fx->m, "nobody", 60, "admin", none, NULL, &err), -ENOENT);
	assert_string_equal(none, ""); /* no token out of a refusal */
	/* revoked: one, then all; another account's token is not ours to revoke */
	ut_account(fx, "bob");
	char bobs[MODEL_TOKEN_LEN + 1];
	assert_int_equal(model_token_new(fx->m, "bob", 60, "login", bobs, NULL, &err), 0);
	assert_int_equal(model_token_revoke(fx->m, "alice", bobs, &err), -ENOENT);
	assert_int_equal(model_token_revoke(fx->m, "alice", tok, &err), 1);
	assert_int_equal(model_token_resolve(fx->m, tok, now, &a, NULL), -ENOENT);
	assert_int_equal(model_token_resolve(fx->m, other, now, &a, NULL), 0);
	assert_int_equal(model_token_revoke(fx->m, "alice", NULL, &err), 1);
	assert_int_equal(model_token_resolve(fx->m, other, now, &a, NULL), -ENOENT);
	assert_int_equal(model_token_resolve(fx->m, bobs, now, &a, NULL), 0);
	assert_string_equal(a.name, "bob");
}

static int count_tokens(void *arg, int64_t id, int64_t created, int64_t expires, const char *via)
{
	(void)id;
	assert_true(expires > created);
	assert_string_equal(via, "login");
	(*(int *)arg)++;
	return 0;
}

/* A login loop cannot grow the table: the oldest live token makes room. */
static void test_bounded(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_account a;
	char first[MODEL_TOKEN_LEN + 1], tok[MODEL_TOKEN_LEN + 1];
	int n = 0;

	ut_account(fx, "alice");
	assert_int_equal(model_token_new(fx->m, "alice", 60, "login", first, NULL, &err), 0);
	for (int i = 1; i < MODEL_TOKENS_MAX; i++)
		assert_int_equal(model_token_new(fx->m, "alice", 120, "login", tok, NULL, &err), 0);
	assert_int_equal(model_token_list(fx->m, "alice", time(NULL), count_tokens, &n), 0);
	assert_int_equal(n, MODEL_TOKENS_MAX);
	assert_int_equal(model_token_resolve(fx->m, first, time(NULL), &a, NULL), 0); /* 64: all live */
	assert_int_equal(model_token_new(fx->m, "alice", 120, "login", tok, NULL, &err), 0);
	assert_int_equal(model_token_resolve(fx->m, first, time(NULL), &a, NULL), -ENOENT); /* 65th: the oldest went */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM api_tokens"), MODEL_TOKENS_MAX);
	/* expired rows go at the next token */
	ut_sql(fx, "UPDATE api_tokens SET expires = 1");
	assert_int_equal(model_token_new(fx->m, "alice", 120, "login", tok, NULL, &err), 0);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM api_tokens"), 1);
}

static void test_api_password(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_account a;
	int64_t alice = ut_account(fx, "alice");

	assert_int_equal(model_account_api_login(fx->m, "alice", "", &a), -EACCES); /* none set */
	assert_int_equal(model_account_set_api_password(fx->m, "alice", "1234567", &err), -EINVAL); /* 7 */
	char longest[130];
	memset(longest, 'p', 129);
	longest[129] = '\0';
	assert_int_equal(model_account_set_api_password(fx->m, "alice", longest, &err), -EINVAL); /* 129 */
	longest[128] = '\0';
	assert_int_equal(model_account_set_api_password(fx->m, "alice", longest, &err), 0); /* 128 */
	assert_int_equal(model_account_set_api_password(fx->m, "alice", "tab\there1", &err), -EINVAL);
	assert_int_equal(model_account_set_api_password(fx->m, "alice", "s3cret-pw", &err), 0); /* 8 is 9 here */
	assert_int_equal(model_account_set_api_password(fx->m, "alice", "12345678", &err), 0);
	assert_int_equal(model_account_set_api_password(fx->m, "nobody", "12345678", &err), -ENOENT);
	/* kept as a salted SHA-512 crypt hash, never as given */
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM accounts WHERE api_password LIKE '$6$%%'"), 1);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM accounts WHERE api_password LIKE '%%12345678%%'"), 0);
	assert_int_equal(model_account_api_login(fx->m, "alice", "12345678", &a), 0);
	assert_int_equal(a.id, alice);
	assert_int_equal(model_account_api_login(fx->m, "alice", "12345679", &a), -EACCES);
	assert_int_equal(model_account_api_login(fx->m, "alice", "s3cret-pw", &a), -EACCES);
	assert_int_equal(model_account_api_login(fx->m, "nobody", "12345678", &a), -EACCES);
	assert_int_equal(model_account_set_api_password(fx->m, "alice", "", &err), 0); /* removed */
	assert_int_equal(model_account_api_login(fx->m, "alice", "12345678", &a), -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_life, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_bounded, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_api_password, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}

/*
 * tokens.c — who the image API (SPEC §19) acts for: tokens per account,
 * sent as X-Auth-Token, and the account's API password, which a login
 * (POST /v3/auth/tokens) trades for a token.
 *
 * Who calls it: the admin command line (`imgfs admin token ...`, `imgfs
 * admin account set NAME api-password`), fs/serve/glance (every request
 * resolves its token; the identity face logs in), the unit tests.
 *
 * A token is built as a download link's is (download.c): 16 random bytes,
 * the row's key (nonce, 32 hex digits), then the first 16 bytes of an
 * HMAC-SHA256 over "imgfs-token-v1", the nonce, the account's id and the
 * expiry, keyed by a key derived from the service's secret.  The row
 * keeps the nonce, the account and the times, never the MAC: a copy of
 * the database is not a list of tokens, and a token whose digits were
 * changed does not verify.  Revoking deletes the row.  An account holds
 * at most MODEL_TOKENS_MAX live tokens: a new one past it ends the
 * oldest (a login loop cannot grow the table), expired rows go then too.
 *
 * The API password is kept as the instances' passwords are (seed.c): its
 * salted SHA-512 crypt hash, compared by crypt(3) and a constant-time
 * comparison.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "model_int.h"

#define TOKEN_NONCE_HEX 32

static void hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The token whose random half is nonce, for account_id until expires. */
static void token_of(model *m, const char *nonce, int64_t account_id, int64_t expires, char out[MODEL_TOKEN_LEN + 1])
{
	static const char label[] = "imgfs api tokens";
	uint8_t key[EVP_MAX_MD_SIZE], md[EVP_MAX_MD_SIZE];
	unsigned klen = 0, mdlen = 0;
	char msg[128];
	HMAC(EVP_sha256(), m->secret, (int)sizeof(m->secret), (const uint8_t *)label, sizeof(label) - 1, key, &klen);
	int n = snprintf(msg, sizeof(msg), "imgfs-token-v1\n%.32s\n%lld\n%lld", nonce, (long long)account_id,
	                 (long long)expires);
	HMAC(EVP_sha256(), key, (int)klen, (const uint8_t *)msg, (size_t)n, md, &mdlen);
	memcpy(out, nonce, TOKEN_NONCE_HEX);
	hex(out + TOKEN_NONCE_HEX, md, 16);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(md, sizeof(md));
}

static bool token_shape_ok(const char *t)
{
	size_t n = 0;
	for (; t[n]; n++)
		if (!((t[n] >= '0' && t[n] <= '9') || (t[n] >= 'a' && t[n] <= 'f')))
			return false;
	return n == MODEL_TOKEN_LEN;
}

/* Inside c's transaction: the account's expired tokens go, and the oldest
 * live ones until one more fits under MODEL_TOKENS_MAX. */
static int tokens_make_room(struct model_conn *c, int64_t account_id, int64_t now)
{
	db_stmt *st;
	int rc;
	if (!(st = model_stmt(c, SQL("DELETE FROM api_tokens WHERE account_id = ? AND expires <= ?"))))
		return -EIO;
	db_bind_int64(st, 1, account_id);
	db_bind_int64(st, 2, now);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT count(*) FROM api_tokens WHERE account_id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, account_id);
	int64_t live = (rc = db_step(st)) == DB_ROW ? db_col_int64(st, 0) : 0;
	db_reset(st);
	if (rc < 0)
		return rc;
	if (live < MODEL_TOKENS_MAX)
		return 0;
	if (!(st = model_stmt(c, SQL("DELETE FROM api_tokens WHERE id IN (SELECT id FROM api_tokens WHERE account_id = ? "
	                             "ORDER BY expires, id LIMIT ?)"))))
		return -EIO;
	db_bind_int64(st, 1, account_id);
	db_bind_int64(st, 2, live - MODEL_TOKENS_MAX + 1);
	return model_exec_stmt(st);
}

int model_token_new(model *m, const char *account, int64_t seconds, const char *via,
                    char out[MODEL_TOKEN_LEN + 1], int64_t *expires_out, struct model_err *err)
{
	struct model_conn *c;
	struct model_account a;
	uint8_t rnd[16];
	char nonce[TOKEN_NONCE_HEX + 1];
	db_stmt *st;
	int64_t now = model_now_ns() / 1000000000, expires = now + seconds;
	int rc;

	out[0] = '\0';
	if (seconds < 1 || seconds > MODEL_TOKEN_MAX_SECONDS)
		return model_fail(err, -EINVAL, "a token lives 1 s to %lld days", MODEL_TOKEN_MAX_SECONDS / 86400);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return model_fail(err, -EIO, "no random bytes for a token");
	hex(nonce, rnd, sizeof(rnd));
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_account_named(m, account, &a, err)) < 0)
		goto out;
	if ((rc = tokens_make_room(c, a.id, now)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("INSERT INTO api_tokens(nonce, account_id, created, expires, via) "
	                             "VALUES (?, ?, ?, ?, ?)")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, nonce);
	db_bind_int64(st, 2, a.id);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, expires);
	db_bind_text(st, 5, via);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	token_of(m, nonce, a.id, expires, out);
	if (expires_out)
		*expires_out = expires;
out:
	if ((rc = model_write_end(c, rc, err)) < 0)
		explicit_bzero(out, MODEL_TOKEN_LEN + 1);
	return rc;
}

struct token_row {
	int64_t id, account_id, expires;
};

static void token_fill(db_stmt *st, void *out)
{
	struct token_row *t = out;
	t->id = db_col_int64(st, 0);
	t->account_id = db_col_int64(st, 1);
	t->expires = db_col_int64(st, 2);
}

/* The row of a well-formed token whose MAC verifies: 0, -ENOENT. */
static int token_row(model *m, const char *token, struct token_row *out)
{
	char nonce[TOKEN_NONCE_HEX + 1], want[MODEL_TOKEN_LEN + 1];
	int rc;
	if (!token_shape_ok(token))
		return -ENOENT;
	memcpy(nonce, token, TOKEN_NONCE_HEX);
	nonce[TOKEN_NONCE_HEX] = '\0';
	if ((rc = model_fetch_one(m, SQL("SELECT id, account_id, expires FROM api_tokens WHERE nonce = ?"), nonce, 0,
	                          token_fill, out)) < 0)
		return rc;
	token_of(m, nonce, out->account_id, out->expires, want);
	rc = CRYPTO_memcmp(want, token, MODEL_TOKEN_LEN) == 0 ? 0 : -ENOENT;
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}

int model_token_resolve(model *m, const char *token, int64_t now, struct model_account *out, int64_t *expires_out)
{
	struct token_row t;
	int rc;
	if ((rc = token_row(m, token, &t)) < 0)
		return rc;
	if (t.expires <= now)
		return -EKEYEXPIRED;
	if ((rc = model_account_get(m, t.account_id, out)) < 0)
		return rc;
	if (expires_out)
		*expires_out = t.expires;
	return 0;
}

int model_token_revoke(model *m, const char *account, const char *token, struct model_err *err)
{
	struct model_conn *c;
	struct model_account a;
	struct token_row t = {0};
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_account_named(m, account, &a, err)) < 0)
		goto out;
	if (token && (token_row(m, token, &t) < 0 || t.account_id != a.id)) {
		rc = model_fail(err, -ENOENT, "no such token of %s", account);
		goto out;
	}
	if (!(st = model_stmt(c, SQL("DELETE FROM api_tokens WHERE account_id = ? AND (? = 0 OR id = ?)")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, a.id);
	db_bind_int64(st, 2, t.id);
	db_bind_int64(st, 3, t.id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	rc = (int)model_changes(c);
out:;
	int ended = rc;
	if ((rc = model_write_end(c, rc, err)) < 0)
		return rc;
	return ended;
}

struct list_cb {
	int (*cb)(void *arg, int64_t id, int64_t created, int64_t expires, const char *via);
	void *arg;
};

static int list_each(void *arg, db_stmt *st)
{
	struct list_cb *l = arg;
	return l->cb(l->arg, db_col_int64(st, 0), db_col_int64(st, 1), db_col_int64(st, 2), db_col_text(st, 3));
}

int model_token_list(model *m, const char *account, int64_t now,
                     int (*cb)(void *arg, int64_t id, int64_t created, int64_t expires, const char *via), void *arg)
{
	struct model_conn *c;
	struct model_account a;
	struct list_cb l = {cb, arg};
	db_stmt *st;
	int rc;
	if ((rc = model_account_by_name(m, account, &a)) < 0)
		return rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT id, created, expires, via FROM api_tokens WHERE account_id = ? AND "
	                             "expires > ? ORDER BY expires, id"))))
		return -EIO;
	db_bind_int64(st, 1, a.id);
	db_bind_int64(st, 2, now);
	return model_each_row(st, list_each, &l);
}

int model_account_set_api_password(model *m, const char *account, const char *password, struct model_err *err)
{
	struct model_conn *c;
	struct model_account a;
	char hash[MODEL_PASSWORD_HASH_MAX] = "";
	db_stmt *st;
	size_t n = strlen(password);
	int rc;
	if (n) {
		if (n < 8 || n > 128)
			return model_fail(err, -EINVAL, "an API password is 8 to 128 bytes");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)password[i] < 0x20 || password[i] == 0x7f)
				return model_fail(err, -EINVAL, "an API password cannot hold control characters");
		if ((rc = model_password_hash(password, hash)) < 0)
			return model_fail(err, rc, "cannot hash the password: %s", strerror(-rc));
	}
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_account_named(m, account, &a, err)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("UPDATE accounts SET api_password = ? WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, hash);
	db_bind_int64(st, 2, a.id);
	rc = model_exec_stmt(st);
out:
	return model_write_end(c, rc, err);
}

struct login_row {
	int64_t id;
	char hash[MODEL_PASSWORD_HASH_MAX];
};

static void login_fill(db_stmt *st, void *out)
{
	struct login_row *l = out;
	l->id = db_col_int64(st, 0);
	model_col_text(st, 1, l->hash, sizeof(l->hash));
}

int model_account_api_login(model *m, const char *account, const char *password, struct model_account *out)
{
	struct login_row l = {0};
	struct crypt_data *data;
	int rc;
	if ((rc = model_fetch_one(m, SQL("SELECT id, api_password FROM accounts WHERE name = ?"), account, 0, login_fill,
	                          &l)) < 0)
		return rc == -ENOENT ? -EACCES : rc;
	if (!l.hash[0])
		return -EACCES;
	if (!(data = calloc(1, sizeof(*data))))
		return -ENOMEM;
	const char *h = crypt_rn(password, l.hash, data, (int)sizeof(*data));
	bool ok = h && strlen(h) == strlen(l.hash) && CRYPTO_memcmp(h, l.hash, strlen(l.hash)) == 0;
	explicit_bzero(data, sizeof(*data));
	free(data);
	if (!ok)
		return -EACCES;
	return model_account_get(m, l.id, out);
}

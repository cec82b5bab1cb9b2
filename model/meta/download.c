/*
 * download.c — download links (SPEC §14, seed 004 §4.4): the addresses an
 * owner makes for an available private image or an ISO image, that any
 * HTTP client fetches (and resumes) through `imgfs serve`.
 *
 * Who calls it: fs/fuse/attr.c (the image's `download` file: "link [DURATION]
 * [FORMAT]", "revoke", the listing), fs/cli/admin.c (`download-url`), fs/serve/
 * (resolving a request's token), the unit tests.
 *
 * A token is 64 lowercase hex digits: 16 random bytes (the nonce, the
 * row's key) and the first 16 bytes of HMAC-SHA256 over "imgfs-link-v1",
 * the nonce, the image's row id, the format and the expiry, under a key
 * derived from the service's secret (the chunk-id key, which every host
 * shares: model/state.c).  The row keeps the nonce and the bound fields,
 * never the MAC: a reader of the database alone cannot rebuild a URL, and
 * a URL whose nonce or MAC was changed does not verify (unknown: 404 at
 * the server).  The expiry is in the MAC, so a link cannot be stretched.
 *
 * Rows: download_links (schema_sqlite.c v8).  A link ends when it expires
 * (kept one day after, so the server can answer 410 rather than 404, then
 * pruned by the next link of the image), when its owner revokes the
 * image's links, and when the image leaves private/ or iso/ (the schema's
 * triggers delete its rows).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "model_int.h"

#define LINK_KEEP_EXPIRED 86400 /* seconds an expired row stays (410, not 404) */

/* ---- pure parts (unit-tested) ------------------------------------------- */

int model_link_parse_duration(const char *s, int64_t *out)
{
	int64_t v = 0, unit;
	const char *p = s;
	if (!s || *s < '1' || *s > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (v > MODEL_LINK_MAX_SECONDS)
			return -EINVAL;
		p++;
	}
	switch (*p) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return -EINVAL;
	}
	if (p[1] != '\0' || v * unit > MODEL_LINK_MAX_SECONDS)
		return -EINVAL;
	*out = v * unit;
	return 0;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

void model_link_key(uint8_t out[MODEL_LINK_KEY_SIZE], const uint8_t *secret, size_t len)
{
	static const char label[] = "imgfs download links";
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	HMAC(EVP_sha256(), secret, (int)len, (const uint8_t *)label, sizeof(label) - 1, md, &mdlen);
	memcpy(out, md, MODEL_LINK_KEY_SIZE);
	OPENSSL_cleanse(md, sizeof(md));
}

void model_link_token(char out[MODEL_LINK_TOKEN_LEN + 1], const uint8_t key[MODEL_LINK_KEY_SIZE],
                      const char nonce[33], int64_t image_id, const char *format, int64_t expires)
{
	char msg[160];
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int n = snprintf(msg, sizeof(msg), "imgfs-link-v1\n%.32s\n%lld\n%.7s\n%lld", nonce, (long long)image_id, format,
	                 (long long)expires);
	HMAC(EVP_sha256(), key, MODEL_LINK_KEY_SIZE, (const uint8_t *)msg, (size_t)n, md, &mdlen);
	snprintf(out, 33, "%.32s", nonce);
	hex(out + 32, md, 16);
}

bool model_link_token_valid(const char *token)
{
	size_t n = 0;
	for (; token[n]; n++)
		if (!((token[n] >= '0' && token[n] <= '9') || (token[n] >= 'a' && token[n] <= 'f')))
			return false;
	return n == MODEL_LINK_TOKEN_LEN;
}

/* ---- the key and the base URL -------------------------------------------- */

static void service_key(model *m, uint8_t key[MODEL_LINK_KEY_SIZE])
{
	model_link_key(key, m->secret, sizeof(m->secret));
}

int model_download_url(model *m, char *out, size_t cap)
{
	int rc;
	snprintf(out, cap, "%s", MODEL_DOWNLOAD_URL_DEFAULT);
	rc = model_setting_get(m, "download_url", out, cap);
	return rc < 0 ? rc : 0;
}

int model_download_url_set(model *m, const char *url, struct model_err *err)
{
	char v[512];
	size_t n = strlen(url);
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return model_fail(err, -EINVAL, "the download URL starts with http:// or https://");
	if (n >= sizeof(v) - 1)
		return model_fail(err, -EINVAL, "the download URL is at most %zu bytes", sizeof(v) - 2);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '?' || *p == '#')
			return model_fail(err, -EINVAL, "the download URL is printable ASCII without blanks, ? or #");
	snprintf(v, sizeof(v), "%s", url);
	while (n > 8 && v[n - 1] == '/') /* the tokens follow a slash of their own */
		v[--n] = '\0';
	return model_setting_set(m, "download_url", v, err);
}

/* ---- links ---------------------------------------------------------------- */

/* The device served: the image's first one (vda, or cdrom of an ISO image). */
int model_link_device(model *m, const struct model_image *img, struct model_device *out)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int n = model_device_list(m, img->id, devs);
	if (n < 0)
		return n;
	if (n == 0)
		return -ENOENT;
	*out = devs[0];
	return 0;
}

/* Whether img may have links now; the reason when not. */
static int link_allowed(const struct model_image *img, struct model_err *err)
{
	if (img->folder != MODEL_FOLDER_PRIVATE && img->folder != MODEL_FOLDER_ISO)
		return model_fail(err, -EPERM, "only private and ISO images have download links");
	if (img->status != MODEL_IMG_AVAILABLE)
		return model_fail(err, -EPERM, "the image is %s: a download link needs it available",
		                  model_image_status_name(img->status));
	/* A link is its owner's read, handed to a bearer who is no
	 * administrator: the model's rights, the deactivated rule with them. */
	if (!(model_rights_as(img, img->folder, MODEL_REL_OWNER, false) & MODEL_RIGHT_READ))
		return model_fail(err, -EACCES, "the image is deactivated: its data is read by administrators only");
	return 0;
}

/* The format a link serves, checked against the image. */
static int link_format(const struct model_image *img, const char *want, char out[8], struct model_err *err)
{
	bool iso = img->folder == MODEL_FOLDER_ISO;
	bool qcow2_file = strcmp(img->format, "qcow2") == 0; /* its disk is a QCOW2 file */
	const char *dflt = iso ? "iso" : qcow2_file ? "qcow2" : "raw";
	if (!want)
		want = dflt;
	if (iso && strcmp(want, "iso") != 0)
		return model_fail(err, -EINVAL, "an ISO image is downloaded as iso");
	if (!iso && strcmp(want, "raw") != 0 && strcmp(want, "qcow2") != 0)
		return model_fail(err, -EINVAL, "the format is raw or qcow2");
	if (qcow2_file && strcmp(want, "raw") == 0)
		return model_fail(err, -EINVAL, "this image's disk is a QCOW2 file: it is downloaded as qcow2");
	snprintf(out, 8, "%s", want);
	return 0;
}

int model_link_create(model *m, int64_t image_id, int64_t seconds, const char *format, struct model_link *out,
                      struct model_err *err)
{
	uint8_t key[MODEL_LINK_KEY_SIZE], rnd[16];
	struct model_image img;
	struct model_conn *c;
	struct model_link l = {0};
	db_stmt *st;
	int64_t live = 0;
	int rc;
	if (seconds < 1 || seconds > MODEL_LINK_MAX_SECONDS)
		return model_fail(err, -EINVAL, "a link lasts 1 s to 7 days");
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return model_fail(err, -EIO, "no random bytes for the token");
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	/* Checked inside the transaction: an image deleted meanwhile gets no link. */
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if ((rc = link_allowed(&img, err)) < 0 || (rc = link_format(&img, format, l.format, err)) < 0)
		goto out;
	int64_t now = time(NULL);
	if (!(st = model_stmt(c, SQL("DELETE FROM download_links WHERE image_id = ? AND expires < ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, now - LINK_KEEP_EXPIRED);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("SELECT count(*) FROM download_links WHERE image_id = ? AND expires > ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, now);
	if (db_step(st) == DB_ROW)
		live = db_col_int64(st, 0);
	db_reset(st);
	if (live >= MODEL_LINK_MAX_LIVE) {
		rc = model_fail(err, -EDQUOT, "an image has at most %d live links (revoke them first)", MODEL_LINK_MAX_LIVE);
		goto out;
	}
	char nonce[33];
	hex(nonce, rnd, sizeof(rnd));
	l.image_id = image_id;
	l.expires = now + seconds;
	if (!(st = model_stmt(c, SQL("INSERT INTO download_links(nonce, image_id, format, expires, created) "
	                             "VALUES (?, ?, ?, ?, ?)")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, nonce);
	db_bind_int64(st, 2, image_id);
	db_bind_text(st, 3, l.format);
	db_bind_int64(st, 4, l.expires);
	db_bind_int64(st, 5, now);
	/* The image's download file changed: other mounts drop what their
	 * kernels hold of it. */
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, image_id, img.region_id, img.folder, NULL)) < 0)
		goto out;
out:
	if ((rc = model_write_end(c, rc, err)) < 0)
		return rc;
	service_key(m, key);
	model_link_token(l.token, key, nonce, l.image_id, l.format, l.expires);
	OPENSSL_cleanse(key, sizeof(key));
	char until[21];
	model_fmt_time(until, l.expires);
	model_log(m, "download: link for %s (%s) until %s", img.ext_id, l.format, until);
	if (out)
		*out = l;
	return 0;
}

int model_link_revoke(model *m, int64_t image_id, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	int64_t n = 0;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("DELETE FROM download_links WHERE image_id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, image_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	n = model_changes(c);
	if (n > 0 && (rc = model_image_get(m, image_id, &img)) >= 0)
		rc = model_log_change(c, MODEL_CHANGE_IMAGE, image_id, img.region_id, img.folder, NULL);
out:
	if ((rc = model_write_end(c, rc, err)) < 0)
		return rc;
	model_log(m, "download: %lld link(s) of image %lld revoked", (long long)n, (long long)image_id);
	return (int)n;
}

int model_link_command(model *m, int64_t image_id, const char *cmd, struct model_err *err)
{
	char buf[128], *w[4], *save = NULL;
	const char *format = NULL;
	int64_t seconds = MODEL_LINK_DEFAULT_SECONDS;
	bool have_duration = false;
	int n = 0, rc;
	if (strlen(cmd) >= sizeof(buf))
		return model_fail(err, -EINVAL, "download takes \"link [DURATION] [raw|qcow2]\" or \"revoke\"");
	snprintf(buf, sizeof(buf), "%s", cmd);
	for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 4)
			return model_fail(err, -EINVAL, "download takes \"link [DURATION] [raw|qcow2]\" or \"revoke\"");
		w[n++] = t;
	}
	if (n == 1 && strcmp(w[0], "revoke") == 0) {
		rc = model_link_revoke(m, image_id, err);
		return rc < 0 ? rc : 0;
	}
	if (n < 1 || n > 3 || strcmp(w[0], "link") != 0)
		return model_fail(err, -EINVAL, "download takes \"link [DURATION] [raw|qcow2]\" or \"revoke\"");
	for (int i = 1; i < n; i++) {
		if (strcmp(w[i], "raw") == 0 || strcmp(w[i], "qcow2") == 0 || strcmp(w[i], "iso") == 0) {
			if (format)
				return model_fail(err, -EINVAL, "one format, raw or qcow2");
			format = w[i];
		} else if (!have_duration && model_link_parse_duration(w[i], &seconds) == 0) {
			have_duration = true;
		} else {
			return model_fail(err, -EINVAL,
			                  "%.32s is not a duration (30s, 90m, 24h, 7d; at most 7d) nor a format (raw, qcow2)",
			                  w[i]);
		}
	}
	return model_link_create(m, image_id, seconds, format, NULL, err);
}

struct list_arg {
	int (*cb)(void *arg, const struct model_link *l);
	void *arg;
	uint8_t key[MODEL_LINK_KEY_SIZE];
};

static int list_row(void *arg, db_stmt *st)
{
	struct list_arg *a = arg;
	struct model_link l = {0};
	char nonce[33];
	model_col_text(st, 0, nonce, sizeof(nonce));
	l.image_id = db_col_int64(st, 1);
	model_col_text(st, 2, l.format, sizeof(l.format));
	l.expires = db_col_int64(st, 3);
	model_link_token(l.token, a->key, nonce, l.image_id, l.format, l.expires);
	return a->cb(a->arg, &l);
}

int model_link_list(model *m, int64_t image_id, int64_t now, int (*cb)(void *arg, const struct model_link *l),
                    void *arg)
{
	struct list_arg a = {cb, arg, {0}};
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT nonce, image_id, format, expires FROM download_links "
	                             "WHERE image_id = ? AND expires > ? ORDER BY expires, nonce"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, now);
	service_key(m, a.key);
	rc = model_each_row(st, list_row, &a);
	OPENSSL_cleanse(a.key, sizeof(a.key));
	return rc;
}

int model_link_resolve(model *m, const char *token, int64_t now, struct model_link *out)
{
	uint8_t key[MODEL_LINK_KEY_SIZE];
	char nonce[33], want[MODEL_LINK_TOKEN_LEN + 1];
	struct model_conn *c;
	struct model_link l = {0};
	db_stmt *st;
	int rc;
	if (!model_link_token_valid(token))
		return -ENOENT;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT image_id, format, expires FROM download_links WHERE nonce = ?"))))
		return -EIO;
	snprintf(nonce, sizeof(nonce), "%.32s", token);
	db_bind_text(st, 1, nonce);
	if ((rc = db_step(st)) == DB_ROW) {
		l.image_id = db_col_int64(st, 0);
		model_col_text(st, 1, l.format, sizeof(l.format));
		l.expires = db_col_int64(st, 2);
	}
	db_reset(st);
	if (rc == DB_DONE)
		return -ENOENT;
	if (rc != DB_ROW)
		return db_errno(rc);
	service_key(m, key);
	model_link_token(want, key, nonce, l.image_id, l.format, l.expires);
	OPENSSL_cleanse(key, sizeof(key));
	/* Constant time: the comparison tells nothing of how much was right. */
	if (CRYPTO_memcmp(want, token, MODEL_LINK_TOKEN_LEN) != 0)
		return -ENOENT;
	memcpy(l.token, want, sizeof(l.token));
	*out = l;
	return now >= l.expires ? -EKEYEXPIRED : 0;
}

/* RFC 3986 unreserved bytes stay, every other byte is %XX. */
static void url_escape(char *out, size_t cap, const char *in)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '.' || *p == '_' || *p == '~') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = digits[*p >> 4];
			out[o++] = digits[*p & 15];
		}
	}
	out[o] = '\0';
}

void model_link_url(char *out, size_t cap, const char *base, const struct model_link *l, const char *name)
{
	char file[3 * MODEL_NAME_MAX + 1];
	url_escape(file, sizeof(file), name);
	snprintf(out, cap, "%s/d/%s/%s.%s", base, l->token, file, l->format);
}

/*
 * fetch.c — the download engine of URL import (SPEC §5.2) on libcurl's easy
 * interface.  Interface and workload: fetch.h.
 *
 * What a URL may make us do is fixed here, not left to libcurl's defaults:
 *   - protocols http, https and ftp only (CURLOPT_PROTOCOLS_STR), checked
 *     when the URL is written (fetch_url_check) and again by libcurl;
 *   - at most 5 redirects, only to the URL's own scheme
 *     (CURLOPT_REDIR_PROTOCOLS_STR), so https never falls back to http and
 *     http never reaches ftp, file or anything else;
 *   - TLS peer and host name verified (the system CA store, or
 *     fetch_req.ca_file);
 *   - connect timeout, and a stall timeout (less than 1 byte/s for
 *     stall_timeout seconds: CURLOPT_LOW_SPEED_*);
 *   - the size the server announces (Content-Length, FTP SIZE) is checked
 *     against max_size in the first write callback, before the sink sees a
 *     byte; without an announcement the running count is checked;
 *   - HTTP status >= 400 fails (CURLOPT_FAILONERROR).
 *
 * Resume: resume_from is sent as a range (CURLOPT_RESUME_FROM_LARGE), and
 * only with the validator of the bytes held, so that a file changed in
 * between is never spliced onto the start of the old one.  http(s) sends
 * it as If-Range (RFC 9110 §13.1.5): a server whose file changed answers
 * 200 with the whole file; a 206 whose own ETag or Last-Modified differs
 * from it (a server or proxy that ignores If-Range) counts as changed too.
 * ftp has no If-Range: the validator is "<SIZE> <MDTM>", compared with the
 * file's when the transfer starts.  A server that cannot honour the range
 * — HTTP 200 instead of 206 (libcurl reports CURLE_RANGE_ERROR before any
 * byte is delivered), 416, FTP REST refused or past the end — or whose
 * file changed is asked once more for the whole file: the sink then sees
 * offset 0 first and res->restarted is set.  Without a validator there is
 * nothing to tell a changed file by: the whole file from the start.
 * Validators come from the final response only (curl_easy_header of the
 * last request: not a redirect's).
 *
 * Reasons: every failure leaves one line in res->reason.  libcurl codes
 * become errnos in exactly one function (fetch_failure).  The userinfo of
 * a user:password@ URL is taken out of the URL as libcurl parses it
 * (fetch_creds) and handed over as CURLOPT_USERNAME and CURLOPT_PASSWORD:
 * libcurl never sees it in a URL, so no message of its — and no reason of
 * ours, which name no part of the URL but its scheme — can carry it.  (It
 * was once replaced by text search in every reason: a password that is
 * also a word of the reason showed where it stood, issue 70.)  This file
 * logs nothing itself.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "fetch.h"
#include "model.h" /* model_mono_ns */

#define FETCH_MAX_REDIRS 5L
#define FETCH_PROTOCOLS "http,https,ftp"

/* libcurl wants curl_global_init once per process before any other call,
 * and it is not safe to race; this pair is the only file-scope state. */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static CURLcode fetch_init_rc = CURLE_FAILED_INIT;

static void fetch_global_init(void)
{
	fetch_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- reasons -------------------------------------------------------------- */

/* Formats a reason into out, flattened to one line (libcurl's messages can
 * end in a newline). */
static void fetch_say(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fetch_say(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (out == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	for (size_t n = strlen(out); n > 0 && out[n - 1] == ' '; n--)
		out[n - 1] = '\0';
}

int fetch_url_redact(const char *url, char *out, size_t cap)
{
	const char *auth = strstr(url, "://");
	const char *colon = NULL, *at = NULL;
	int n;

	/* The authority ends at the first "/?#" (libcurl's rule); the userinfo
	 * at its last '@' — libcurl takes the first, so taking the last hides
	 * at least as much on any string. */
	if (auth != NULL) {
		auth += 3;
		for (const char *p = auth; *p && !strchr("/?#", *p); p++)
			if (*p == '@')
				at = p;
		if (at != NULL)
			colon = memchr(auth, ':', (size_t)(at - auth));
	}
	if (colon != NULL)
		n = snprintf(out, cap, "%.*s***%s", (int)(colon + 1 - url), url, at);
	else
		n = snprintf(out, cap, "%s", url);
	/* A truncated copy is a prefix of the redacted one: still no password. */
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- the URL check -------------------------------------------------------- */

static const char *const fetch_schemes[] = {"http", "https", "ftp"};

static int fetch_refuse(char *why, size_t cap, const char *reason)
{
	fetch_say(why, cap, "%s", reason);
	return -EINVAL;
}

/* Printable ASCII only: spaces and control characters would let a value
 * break a line or a request, and non-ASCII must arrive percent-encoded. */
static int fetch_check_bytes(const char *url, char *why, size_t cap)
{
	size_t n = strlen(url);

	if (n == 0)
		return fetch_refuse(why, cap, "the URL is empty");
	if (n > FETCH_URL_MAX) {
		fetch_say(why, cap, "the URL is longer than %d bytes", FETCH_URL_MAX);
		return -EINVAL;
	}
	for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
		if (*p == ' ')
			return fetch_refuse(why, cap, "the URL contains a space (write it as %20)");
		if (*p < 0x20 || *p == 0x7f)
			return fetch_refuse(why, cap, "the URL contains a control character");
		if (*p >= 0x80)
			return fetch_refuse(why, cap, "the URL contains a non-ASCII byte (percent-encode it)");
	}
	return 0;
}

static bool fetch_scheme_allowed(const char *scheme)
{
	for (size_t i = 0; i < sizeof(fetch_schemes) / sizeof(fetch_schemes[0]); i++)
		if (strcasecmp(scheme, fetch_schemes[i]) == 0)
			return true;
	return false;
}

/* Parses url with libcurl into u and judges its parts. */
static int fetch_check_parts(CURLU *u, const char *url, char *why, size_t cap)
{
	char *scheme = NULL, *host = NULL, *path = NULL;
	CURLUcode uc;
	int rc = 0;

	/* NON_SUPPORT_SCHEME: parse any scheme, so that every refused scheme
	 * gets the same reason whether this libcurl knows it or not. */
	uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (uc == CURLUE_OUT_OF_MEMORY)
		return -ENOMEM;
	if (uc != CURLUE_OK) {
		fetch_say(why, cap, "the URL is not valid: %s", curl_url_strerror(uc));
		return -EINVAL;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		rc = fetch_refuse(why, cap, "the URL has no scheme (http, https or ftp)");
		goto out;
	}
	if (!fetch_scheme_allowed(scheme)) {
		fetch_say(why, cap, "the scheme %.32s is not allowed (only http, https and ftp)", scheme);
		rc = -EINVAL;
		goto out;
	}
	/* libcurl is lenient with slashes ("http:/h", "http:///h" both mean
	 * host h); an import URL spells its authority out: scheme "://" host. */
	if (strncmp(url + strlen(scheme), "://", 3) != 0 || url[strlen(scheme) + 3] == '/' ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
		rc = fetch_refuse(why, cap, "the URL names no host");
		goto out;
	}
	/* For ftp a trailing '/' asks for a directory listing, not a file. */
	if (strcasecmp(scheme, "ftp") == 0 &&
	    (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK || path[strlen(path) - 1] == '/'))
		rc = fetch_refuse(why, cap, "an ftp URL must name a file, not a directory");
out:
	curl_free(path);
	curl_free(host);
	curl_free(scheme);
	return rc;
}

int fetch_url_check(const char *url, char *why, size_t cap)
{
	CURLU *u;
	int rc;

	if (why != NULL && cap > 0)
		why[0] = '\0';
	pthread_once(&fetch_once, fetch_global_init);
	if ((rc = fetch_check_bytes(url, why, cap)) < 0)
		return rc;
	if ((u = curl_url()) == NULL)
		return -ENOMEM;
	rc = fetch_check_parts(u, url, why, cap);
	curl_url_cleanup(u);
	return rc;
}

/* ---- one transfer --------------------------------------------------------- */

struct fetch_xfer {
	const struct fetch_req *rq;
	struct fetch_result *res;
	CURL *h;
	bool ftp;
	uint64_t start;        /* offset of the first byte of this attempt */
	struct curl_slist *if_range; /* the If-Range header of a resumed http(s) attempt */
	bool checked;          /* the announced size was checked */
	bool changed;          /* the file is not the one the held bytes came from */
	int abort_err;         /* why a callback stopped the transfer, or 0 */
	char abort_reason[FETCH_REASON_MAX];
	char refused[FETCH_REASON_MAX]; /* an address not allowed, if any */
	uint64_t progress_ms;  /* when progress was last reported, 0: never */
	uint64_t window_ms;    /* the rate floor's window began, 0: not yet */
	uint64_t window_end;   /* res->end when it began */
	char errbuf[CURL_ERROR_SIZE];
	/* The URL as libcurl gets it (no userinfo) and the userinfo, decoded
	 * (fetch_creds; NULL: none): libcurl's allocations. */
	char *bare, *user, *password;
};

/* Records why a callback is about to stop the transfer (its reason wins
 * over the code libcurl then returns). */
static void fetch_abort(struct fetch_xfer *x, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fetch_abort(struct fetch_xfer *x, int err, const char *fmt, ...)
{
	va_list ap;

	x->abort_err = err;
	va_start(ap, fmt);
	vsnprintf(x->abort_reason, sizeof(x->abort_reason), fmt, ap);
	va_end(ap);
}

/* A range's answer (fetch_req.range_end): a 206 whose Content-Range
 * starts where we asked and ends no later; its total is the file's size. */
static int fetch_check_range(struct fetch_xfer *x)
{
	struct curl_header *hd = NULL;
	unsigned long long a, b, total;
	long status = 0;
	char star;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (!x->ftp && status != 206) {
		x->changed = true;
		fetch_abort(x, -EIO, "the file changed on the server since byte %" PRIu64 " was received (HTTP %ld to a "
		            "range)", x->start, status);
		return -EIO;
	}
	x->res->announced = -1;
	if (x->ftp)
		return 0;
	if (curl_easy_header(x->h, "Content-Range", 0, CURLH_HEADER, -1, &hd) != CURLHE_OK || !hd->value ||
	    sscanf(hd->value, "bytes %llu-%llu/%llu", &a, &b, &total) != 3 || a != x->start || b < a ||
	    b >= x->rq->range_end || total <= b) {
		if (hd && hd->value && sscanf(hd->value, "bytes %llu-%llu/%c", &a, &b, &star) == 3 && star == '*' &&
		    a == x->start && b >= a && b < x->rq->range_end)
			return 0;
		fetch_abort(x, -EIO, "the server answered a range it was not asked for");
		return -EIO;
	}
	x->res->announced = (int64_t)total;
	return 0;
}

/* The first bytes of the response arrived: its headers are complete, so
 * the size the server announces is known (Content-Length, or FTP SIZE). */
static int fetch_check_announced(struct fetch_xfer *x)
{
	curl_off_t cl = -1;
	int rc;
	uint64_t max = x->rq->max_size;

	x->checked = true;
	if (curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK || cl < 0)
		return 0;
	/* For a resumed transfer libcurl reports what remains; a range's
	 * whole size is its Content-Range's. */
	x->res->announced = (int64_t)(x->start + (uint64_t)cl);
	if (x->rq->range_end && (rc = fetch_check_range(x)) < 0)
		return rc;
	if (max != 0 && (uint64_t)x->res->announced > max) {
		fetch_abort(x, -EFBIG, "the server announces %" PRId64 " bytes, more than the maximum %" PRIu64,
		            x->res->announced, max);
		return -EFBIG;
	}
	return 0;
}

/* A validator we send or keep: 1 to FETCH_VALIDATOR_MAX - 1 bytes of
 * printable ASCII, so it can neither break a header line nor a line of the
 * task's record. */
static bool fetch_validator_ok(const char *v)
{
	size_t n = 0;

	for (; v[n]; n++)
		if ((unsigned char)v[n] < 0x20 || (unsigned char)v[n] > 0x7e || n + 1 >= FETCH_VALIDATOR_MAX)
			return false;
	return n > 0;
}

/* A strong entity tag (RFC 9110 §8.8.3): DQUOTE *etagc DQUOTE, etagc
 * printable ASCII but '"' and space; a weak one (W/"...") is not. */
static bool fetch_etag_strong(const char *v)
{
	size_t n = strlen(v);

	if (n < 2 || v[0] != '"' || v[n - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (v[i] == '"' || v[i] == ' ')
			return false;
	return true;
}

/* The value of the final response's header name, when it came exactly once
 * and is a valid validator; "" otherwise. */
static void fetch_header(CURL *h, const char *name, char out[FETCH_VALIDATOR_MAX])
{
	struct curl_header *hd;

	out[0] = '\0';
	if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd->amount == 1 &&
	    fetch_validator_ok(hd->value))
		snprintf(out, FETCH_VALIDATOR_MAX, "%s", hd->value);
}

/* The response's validator into res->validator (fetch.h); for a resumed
 * attempt, -EIO (x->changed) when it says the file is not the one the held
 * bytes came from. */
static int fetch_check_validator(struct fetch_xfer *x)
{
	const char *sent = x->rq->validator;
	char *v = x->res->validator;
	char etag[FETCH_VALIDATOR_MAX], lm[FETCH_VALIDATOR_MAX], date[FETCH_VALIDATOR_MAX];
	curl_off_t mtime = -1;
	time_t t_lm, t_date;

	v[0] = '\0';
	bool held = x->start > 0 || x->rq->range_end; /* a validator was sent */

	x->res->ranges = x->ftp || held; /* a 206 reached the sink's first byte */
	if (!x->ftp) {
		struct curl_header *hd;
		if (curl_easy_header(x->h, "Accept-Ranges", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd->value &&
		    strcasecmp(hd->value, "bytes") == 0)
			x->res->ranges = true;
	}
	if (x->ftp) {
		if (curl_easy_getinfo(x->h, CURLINFO_FILETIME_T, &mtime) == CURLE_OK && mtime >= 0 &&
		    x->res->announced >= 0)
			snprintf(v, FETCH_VALIDATOR_MAX, "%" PRId64 " %" PRId64, x->res->announced, (int64_t)mtime);
		if (held && strcmp(v, sent) != 0)
			goto changed;
	} else {
		fetch_header(x->h, "ETag", etag);
		fetch_header(x->h, "Last-Modified", lm);
		if (held) {
			/* A 206 to our If-Range: one naming another version comes
			 * from a server (or proxy) that ignored the condition. */
			const char *now = sent[0] == '"' ? etag : lm;
			if (now[0] && strcmp(now, sent) != 0)
				goto changed;
		}
		if (fetch_etag_strong(etag)) {
			snprintf(v, FETCH_VALIDATOR_MAX, "%s", etag);
		} else if (lm[0]) {
			/* A date is a strong validator only when the file had not
			 * changed for a minute when the response left (§8.8.2.2). */
			fetch_header(x->h, "Date", date);
			t_lm = curl_getdate(lm, NULL);
			t_date = date[0] ? curl_getdate(date, NULL) : -1;
			if (t_lm != -1 && t_date != -1 && t_date - t_lm >= 60)
				snprintf(v, FETCH_VALIDATOR_MAX, "%s", lm);
		}
	}
	/* Resumed: the bytes are still those of the version we asked for. */
	if (held)
		snprintf(v, FETCH_VALIDATOR_MAX, "%s", sent);
	return 0;
changed:
	x->changed = true;
	fetch_abort(x, -EIO, "the file changed on the server since byte %" PRIu64 " was received", x->start);
	return -EIO;
}

static size_t fetch_on_write(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct fetch_xfer *x = arg;
	struct fetch_result *res = x->res;
	size_t len = size * nmemb;
	uint64_t max = x->rq->max_size;
	int rc;

	if (!x->checked && (fetch_check_announced(x) < 0 || fetch_check_validator(x) < 0))
		return 0;
	if (x->rq->range_end && res->end + len > x->rq->range_end) {
		fetch_abort(x, -EIO, "the server sent more than the range it was asked for");
		return 0;
	}
	if (max != 0 && res->end + len > max) {
		fetch_abort(x, -EFBIG, "the download exceeds the maximum of %" PRIu64 " bytes", max);
		return 0;
	}
	if ((rc = x->rq->sink(x->rq->arg, buf, len, res->end)) < 0) {
		fetch_abort(x, rc, "could not store the downloaded data: %s", strerror(-rc));
		return 0;
	}
	res->bytes += len;
	res->end += len;
	return len;
}

/* libcurl calls this often while bytes flow and about once a second when
 * they do not: the place to poll for cancellation and report progress. */
static int fetch_on_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct fetch_xfer *x = arg;
	const struct fetch_req *rq = x->rq;
	uint64_t now;

	if (rq->cancelled != NULL && rq->cancelled(rq->arg)) {
		fetch_abort(x, -ECANCELED, "cancelled");
		return 1;
	}
	now = (uint64_t)model_mono_ns() / 1000000;
	if (rq->floor_bps > 0 && rq->floor_window > 0) {
		uint64_t span = (uint64_t)rq->floor_window * 1000;
		if (x->window_ms == 0) {
			x->window_ms = now;
			x->window_end = x->res->end;
		} else if (now - x->window_ms >= span) {
			uint64_t got = x->res->end - x->window_end;
			if (got < rq->floor_bps * (uint64_t)rq->floor_window) {
				fetch_abort(x, -ETIMEDOUT,
				            "slower than the floor of %" PRIu64 " bytes/s: %" PRIu64 " bytes in %d s",
				            rq->floor_bps, got, rq->floor_window);
				return 1;
			}
			x->window_ms = now;
			x->window_end = x->res->end;
		}
	}
	if (rq->progress == NULL)
		return 0;
	if (x->progress_ms == 0 || now - x->progress_ms >= FETCH_PROGRESS_INTERVAL_MS) {
		x->progress_ms = now;
		rq->progress(rq->arg, x->res->end, x->res->announced > 0 ? (uint64_t)x->res->announced : 0);
	}
	return 0;
}

/* The scheme of url in lower case ("http", "https", "ftp"), for the
 * redirect rule; checked by fetch_url_check already. */
static int fetch_scheme_of(const char *url, char *out, size_t cap)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	int rc = -EINVAL;

	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK) {
		snprintf(out, cap, "%s", scheme);
		for (char *p = out; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		rc = 0;
	}
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

/* Every option of a transfer; CURLE_OK or the first option refused. */
/* Every socket libcurl opens (each address of a name, each redirect hop,
 * FTP's data connections): refused before it exists when its address is
 * not allowed for imports (address.c).  libcurl then tries the name's
 * next address, or fails the transfer with CURLE_COULDNT_CONNECT. */
static curl_socket_t fetch_on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct fetch_xfer *x = arg;
	(void)purpose;
	if (!fetch_address_allowed(x->rq->rules, x->rq->nrules, &a->addr)) {
		char host[64];
		fetch_address_format(&a->addr, host, sizeof(host));
		fetch_say(x->refused, sizeof(x->refused), "the address %s is not allowed for imports", host);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static CURLcode fetch_setup(struct fetch_xfer *x, const char *scheme)
{
	const struct fetch_req *rq = x->rq;
	CURL *h = x->h;
	long connect = rq->connect_timeout > 0 ? rq->connect_timeout : FETCH_CONNECT_TIMEOUT_DEFAULT;
	long stall = rq->stall_timeout > 0 ? rq->stall_timeout : FETCH_STALL_TIMEOUT_DEFAULT;
	CURLcode cc = CURLE_OK;

#define FETCH_SET(opt, val)                                  \
	do {                                                  \
		if (cc == CURLE_OK)                           \
			cc = curl_easy_setopt(h, opt, val);   \
	} while (0)
	FETCH_SET(CURLOPT_URL, x->bare);
	if (x->user != NULL)
		FETCH_SET(CURLOPT_USERNAME, x->user);
	if (x->password != NULL)
		FETCH_SET(CURLOPT_PASSWORD, x->password);
	/* The address judged must be the server's: no proxy from the
	 * environment, whose address would be judged instead. */
	FETCH_SET(CURLOPT_NOPROXY, "*");
	FETCH_SET(CURLOPT_OPENSOCKETFUNCTION, fetch_on_open);
	/* FTP's data connection goes to the control connection's address,
	 * never to the one a PASV answer names (libcurl's default since
	 * 7.74; said here so an older one does it too).  fetch_on_open would
	 * judge that address anyway: this keeps a server from bouncing an
	 * import to another host that a rule allows. */
	FETCH_SET(CURLOPT_FTP_SKIP_PASV_IP, 1L);
	FETCH_SET(CURLOPT_OPENSOCKETDATA, x);
	FETCH_SET(CURLOPT_PROTOCOLS_STR, FETCH_PROTOCOLS);
	FETCH_SET(CURLOPT_REDIR_PROTOCOLS_STR, scheme);
	FETCH_SET(CURLOPT_FOLLOWLOCATION, 1L);
	FETCH_SET(CURLOPT_MAXREDIRS, FETCH_MAX_REDIRS);
	FETCH_SET(CURLOPT_FAILONERROR, 1L);
	FETCH_SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
	FETCH_SET(CURLOPT_SSL_VERIFYPEER, 1L);
	FETCH_SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (rq->ca_file != NULL)
		FETCH_SET(CURLOPT_CAINFO, rq->ca_file);
	FETCH_SET(CURLOPT_CONNECTTIMEOUT, connect);
	FETCH_SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	FETCH_SET(CURLOPT_LOW_SPEED_TIME, stall);
	FETCH_SET(CURLOPT_TCP_KEEPALIVE, 1L);
	FETCH_SET(CURLOPT_USERAGENT, "imgfs");
	if (rq->range_end) {
		char range[48];
		snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, x->start, rq->range_end - 1);
		FETCH_SET(CURLOPT_RANGE, range); /* copied by libcurl */
	} else if (x->start > 0) {
		FETCH_SET(CURLOPT_RESUME_FROM_LARGE, (curl_off_t)x->start);
	}
	if ((x->start > 0 || rq->range_end) && !x->ftp) {
		char line[FETCH_VALIDATOR_MAX + 16];
		snprintf(line, sizeof(line), "If-Range: %s", rq->validator);
		if (cc == CURLE_OK && (x->if_range = curl_slist_append(NULL, line)) == NULL)
			cc = CURLE_OUT_OF_MEMORY;
		FETCH_SET(CURLOPT_HTTPHEADER, x->if_range);
	}
	if (x->ftp)
		FETCH_SET(CURLOPT_FILETIME, 1L); /* MDTM: half of the validator */
	FETCH_SET(CURLOPT_WRITEFUNCTION, fetch_on_write);
	FETCH_SET(CURLOPT_WRITEDATA, x);
	FETCH_SET(CURLOPT_XFERINFOFUNCTION, fetch_on_xferinfo);
	FETCH_SET(CURLOPT_XFERINFODATA, x);
	FETCH_SET(CURLOPT_NOPROGRESS, 0L);
	FETCH_SET(CURLOPT_ERRORBUFFER, x->errbuf);
#undef FETCH_SET
	return cc;
}

static int fetch_http_errno(long status)
{
	switch (status) {
	case 404:
	case 410:
		return -ENOENT;
	case 401:
	case 403:
	case 407:
		return -EACCES;
	default:
		return -EIO;
	}
}

/* libcurl's code → -errno and the reason: the one translation.  Sets
 * *resume_refused when the server could not start at x->start. */
static int fetch_failure(struct fetch_xfer *x, const char *scheme, CURLcode cc, bool *resume_refused)
{
	char *r = x->res->reason;
	size_t cap = sizeof(x->res->reason);
	const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);
	long status = 0, redirects = 0, os_errno = 0;
	curl_off_t connected_us = 0;

	if (x->abort_err != 0) {
		*resume_refused = x->changed;
		fetch_say(r, cap, "%s", x->abort_reason);
		return x->abort_err;
	}
	/* Refused before connecting, so the reason says nothing of ports or
	 * of what answers there. */
	if (x->refused[0] && (cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT)) {
		fetch_say(r, cap, "%s", x->refused);
		return -EACCES;
	}
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->h, CURLINFO_REDIRECT_COUNT, &redirects);
	switch (cc) {
	case CURLE_HTTP_RETURNED_ERROR:
		*resume_refused = status == 416 && x->start > 0;
		fetch_say(r, cap, "the server answered HTTP %ld", status);
		return fetch_http_errno(status);
	case CURLE_RANGE_ERROR:
	case CURLE_BAD_DOWNLOAD_RESUME:
	case CURLE_FTP_COULDNT_USE_REST:
		*resume_refused = x->start > 0;
		fetch_say(r, cap, "the server cannot resume at byte %" PRIu64 ": %s", x->start, detail);
		return -EIO;
	case CURLE_PARTIAL_FILE:
		fetch_say(r, cap, "the server closed the connection after %" PRIu64 " of %" PRId64 " bytes",
		          x->res->end, x->res->announced);
		return -EIO;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		curl_easy_getinfo(x->h, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno == ECONNRESET || strstr(detail, "reset") != NULL) {
			fetch_say(r, cap, "the connection was reset after %" PRIu64 " bytes", x->res->end);
			return -ECONNRESET;
		}
		fetch_say(r, cap, "the connection failed after %" PRIu64 " bytes: %s", x->res->end, detail);
		return -EIO;
	case CURLE_GOT_NOTHING:
		fetch_say(r, cap, "the server closed the connection without an answer");
		return -EIO;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(x->h, CURLINFO_CONNECT_TIME_T, &connected_us);
		if (connected_us > 0)
			fetch_say(r, cap, "the transfer stalled: nothing received for %ld s (after %" PRIu64 " bytes)",
			          x->rq->stall_timeout > 0 ? (long)x->rq->stall_timeout : (long)FETCH_STALL_TIMEOUT_DEFAULT,
			          x->res->end);
		else
			fetch_say(r, cap, "could not connect to the server: %s", detail);
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		fetch_say(r, cap, "could not connect to the server: %s", detail);
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		fetch_say(r, cap, "could not resolve the host name: %s", detail);
		return -EHOSTUNREACH;
	case CURLE_UNSUPPORTED_PROTOCOL:
		if (redirects > 0 || status / 100 == 3) {
			fetch_say(r, cap, "the server redirected to another scheme (only %s is followed)", scheme);
			return -EPROTO;
		}
		fetch_say(r, cap, "%s", detail);
		return -EINVAL;
	case CURLE_TOO_MANY_REDIRECTS:
		fetch_say(r, cap, "more than %ld redirects", FETCH_MAX_REDIRS);
		return -ELOOP;
	case CURLE_PEER_FAILED_VERIFICATION:
		fetch_say(r, cap, "the server's TLS certificate could not be verified: %s", detail);
		return -EPROTO;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		fetch_say(r, cap, "TLS failed: %s", detail);
		return -EPROTO;
	case CURLE_LOGIN_DENIED:
		fetch_say(r, cap, "the server refused the login");
		return -EACCES;
	case CURLE_REMOTE_ACCESS_DENIED:
		fetch_say(r, cap, "the server denied access: %s", detail);
		return -EACCES;
	case CURLE_REMOTE_FILE_NOT_FOUND:
		fetch_say(r, cap, "the server has no such file");
		return -ENOENT;
	case CURLE_OUT_OF_MEMORY:
		fetch_say(r, cap, "out of memory");
		return -ENOMEM;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_FTP_WEIRD_PASV_REPLY:
	case CURLE_FTP_WEIRD_227_FORMAT:
	case CURLE_BAD_CONTENT_ENCODING:
		fetch_say(r, cap, "the server's answer is not valid: %s", detail);
		return -EPROTO;
	default:
		fetch_say(r, cap, "the download failed: %s", detail);
		return -EIO;
	}
}

/* Splits rq->url as libcurl parses it into the URL without its userinfo
 * and the user and password (decoded, as libcurl would send them). */
static int fetch_creds(struct fetch_xfer *x)
{
	CURLU *u = curl_url();
	int rc = -ENOMEM;

	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, x->rq->url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		rc = -EINVAL;
		goto out;
	}
	curl_url_get(u, CURLUPART_USER, &x->user, CURLU_URLDECODE);
	curl_url_get(u, CURLUPART_PASSWORD, &x->password, CURLU_URLDECODE);
	if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &x->bare, 0) != CURLUE_OK)
		goto out;
	rc = 0;
out:
	curl_url_cleanup(u);
	return rc;
}

static void fetch_creds_free(struct fetch_xfer *x)
{
	if (x->password != NULL)
		explicit_bzero(x->password, strlen(x->password));
	curl_free(x->password);
	curl_free(x->user);
	curl_free(x->bare);
	x->password = x->user = x->bare = NULL;
}

/* One request from x->start; 0 or -errno with the reason in x->res. */
static int fetch_attempt(struct fetch_xfer *x, const char *scheme, bool *resume_refused)
{
	curl_off_t cl = -1;
	CURLcode cc;
	int rc;

	*resume_refused = false;
	x->checked = false;
	x->changed = false;
	x->abort_err = 0;
	x->window_ms = 0;
	x->errbuf[0] = '\0';
	x->res->end = x->start;
	if ((x->h = curl_easy_init()) == NULL) {
		fetch_say(x->res->reason, sizeof(x->res->reason), "could not start libcurl");
		return -ENOMEM;
	}
	cc = fetch_setup(x, scheme);
	if (cc != CURLE_OK) {
		fetch_say(x->res->reason, sizeof(x->res->reason), "libcurl refused an option: %s", curl_easy_strerror(cc));
		rc = -EINVAL;
	} else if ((cc = curl_easy_perform(x->h)) != CURLE_OK) {
		rc = fetch_failure(x, scheme, cc, resume_refused);
	} else {
		rc = 0;
		/* A body-less success (an empty file, or all of it held already):
		 * no write callback saw the headers; never a range's answer. */
		if (!x->checked && x->rq->range_end) {
			fetch_say(x->res->reason, sizeof(x->res->reason), "the server sent nothing of the range it was asked for");
			rc = -EIO;
		} else if (!x->checked) {
			if (curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0)
				x->res->announced = (int64_t)x->res->end;
			if (fetch_check_validator(x) < 0)
				rc = fetch_failure(x, scheme, cc, resume_refused);
		}
	}
	curl_easy_cleanup(x->h);
	x->h = NULL;
	curl_slist_free_all(x->if_range);
	x->if_range = NULL;
	return rc;
}

int fetch_run(const struct fetch_req *rq, struct fetch_result *res)
{
	struct fetch_xfer x = {.rq = rq, .res = res, .start = rq->resume_from};
	char scheme[8];
	bool resume_refused = false;
	int rc;

	memset(res, 0, sizeof(*res));
	res->announced = -1;
	pthread_once(&fetch_once, fetch_global_init);
	if (fetch_init_rc != CURLE_OK) {
		fetch_say(res->reason, sizeof(res->reason), "libcurl could not be initialised: %s",
		          curl_easy_strerror(fetch_init_rc));
		return res->err = -ENOMEM;
	}
	if ((rc = fetch_url_check(rq->url, res->reason, sizeof(res->reason))) < 0 ||
	    (rc = fetch_scheme_of(rq->url, scheme, sizeof(scheme))) < 0)
		goto out;
	x.ftp = strcmp(scheme, "ftp") == 0;
	if ((rc = fetch_creds(&x)) < 0) {
		fetch_say(res->reason, sizeof(res->reason), "the URL is not valid");
		goto out;
	}
	if (rq->range_end && (rq->range_end <= rq->resume_from || rq->validator == NULL ||
	                      !fetch_validator_ok(rq->validator))) {
		/* A range is checked as a resume is, or not asked at all. */
		fetch_say(res->reason, sizeof(res->reason), "a range needs the version of the file it is of");
		rc = -EINVAL;
		goto out;
	}
	if (x.start > 0 && (rq->validator == NULL || !fetch_validator_ok(rq->validator))) {
		/* Nothing tells whether the file is still the one the held bytes
		 * came from: no gamble, the whole file (docs/reference.md §5.2). */
		res->restarted = true;
		x.start = 0;
	}
	rc = fetch_attempt(&x, scheme, &resume_refused);
	if (rc < 0 && resume_refused && res->bytes == 0 && !rq->range_end) {
		/* The server cannot start where we are: take the whole file. */
		res->restarted = true;
		res->announced = -1;
		res->reason[0] = '\0';
		x.start = 0;
		rc = fetch_attempt(&x, scheme, &resume_refused);
	}
	if (rc == 0)
		res->reason[0] = '\0';
out:
	fetch_creds_free(&x);
	return res->err = rc;
}

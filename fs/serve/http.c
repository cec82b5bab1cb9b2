/*
 * http.c — the pure HTTP text of `imgfs serve`: Range and If-Range, dates,
 * Content-Disposition, the request path, escaping for the log, and what the
 * first bytes of a connection are (front.c refuses garbage with them), and
 * whether a request's framing is one we read as every server does.
 *
 * Who calls it: serve.c for every request; the unit tests.  Everything here
 * reads bytes a client chose: it parses strictly, never reads past a NUL,
 * and an input it does not understand means "whole body" (Range) or "not
 * a match" (If-Range), as RFC 9110 tells a server to do.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "serve.h"

/* A decimal of at most 19 digits at *p; advances *p. */
static bool number(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;
	while (**p >= '0' && **p <= '9') {
		if (++n > 19)
			return false;
		v = v * 10 + (uint64_t)(**p - '0');
		(*p)++;
	}
	*out = v;
	return n > 0;
}

int serve_range_parse(const char *h, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *p = h;
	uint64_t a = 0, b = 0;
	bool has_a, has_b;
	if (!h || strncmp(p, "bytes=", 6) != 0)
		return 0;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	has_a = number(&p, &a);
	if (*p != '-')
		return 0;
	p++;
	has_b = number(&p, &b);
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0') /* several ranges, or junk: the whole body */
		return 0;
	if (!has_a && !has_b)
		return 0;
	if (!has_a) { /* the last b bytes */
		if (b == 0)
			return -1;
		if (size == 0)
			return -1;
		*len = b < size ? b : size;
		*start = size - *len;
		return 1;
	}
	if (has_b && b < a)
		return 0; /* invalid: ignored */
	if (a >= size)
		return -1;
	uint64_t last = has_b && b < size - 1 ? b : size - 1;
	*start = a;
	*len = last - a + 1;
	return 1;
}

void serve_content_range(char *out, size_t cap, uint64_t start, uint64_t len, uint64_t size)
{
	if (len == 0)
		snprintf(out, cap, "bytes */%llu", (unsigned long long)size);
	else
		snprintf(out, cap, "bytes %llu-%llu/%llu", (unsigned long long)start, (unsigned long long)(start + len - 1),
		         (unsigned long long)size);
}

bool serve_if_range(const char *h, const char *etag, const char *last_modified)
{
	if (!h)
		return true;
	if (h[0] == 'W' && h[1] == '/')
		return false; /* a weak validator never matches (strong comparison) */
	if (h[0] == '"')
		return strcmp(h, etag) == 0;
	return strcmp(h, last_modified) == 0;
}

void serve_http_date(char out[30], time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void serve_disposition(char *out, size_t cap, const char *name, const char *ext)
{
	static const char digits[] = "0123456789ABCDEF";
	char ascii[256], utf8[3 * 256 + 1];
	bool plain = true;
	size_t a = 0, u = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p && a < sizeof(ascii) - 1; p++) {
		bool ok = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '%' && *p != ';';
		plain &= ok;
		ascii[a++] = ok ? (char)*p : '_';
	}
	ascii[a] = '\0';
	for (const unsigned char *p = (const unsigned char *)name; *p && u + 4 < sizeof(utf8); p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '.' || *p == '_') {
			utf8[u++] = (char)*p;
		} else {
			utf8[u++] = '%';
			utf8[u++] = digits[*p >> 4];
			utf8[u++] = digits[*p & 15];
		}
	}
	utf8[u] = '\0';
	if (plain)
		snprintf(out, cap, "attachment; filename=\"%s.%s\"", ascii, ext);
	else
		snprintf(out, cap, "attachment; filename=\"%s.%s\"; filename*=UTF-8''%s.%s", ascii, ext, utf8, ext);
}

void serve_escape(char *out, size_t cap, const char *in)
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 0;
	if (cap == 0)
		return;
	for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p; p++) {
		if (*p == '\\') {
			if (o + 2 >= cap)
				break;
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (*p >= 0x20 && *p < 0x7f) {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)*p;
		} else {
			if (o + 4 >= cap)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = digits[*p >> 4];
			out[o++] = digits[*p & 15];
		}
	}
	out[o] = '\0';
}

bool serve_path_token(const char *path, char *out, size_t cap)
{
	if (strncmp(path, "/d/", 3) != 0)
		return false;
	const char *t = path + 3;
	size_t n = strcspn(t, "/");
	if (n == 0 || n >= cap)
		return false;
	if (t[n] == '/' && strchr(t + n + 1, '/'))
		return false; /* one file name after the token, no more */
	memcpy(out, t, n);
	out[n] = '\0';
	return true;
}

/* RFC 9110 §5.6.2: tchar. */
static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

enum serve_sniff serve_sniff(const unsigned char *b, size_t n)
{
	size_t i = 0, method = 0;
	/* A TLS record: content type 22 (handshake), then the major version 3. */
	if (n >= 1 && b[0] == 0x16)
		return n == 1 || b[1] == 0x03 ? SERVE_SNIFF_TLS : SERVE_SNIFF_GARBAGE;
	while (i < n && (b[i] == '\r' || b[i] == '\n')) /* empty lines before the request line */
		i++;
	for (; i < n && tchar(b[i]); i++)
		if (++method > SERVE_METHOD_MAX)
			return SERVE_SNIFF_GARBAGE;
	if (i == n)
		return SERVE_SNIFF_HTTP; /* a prefix of one: the deadline covers the rest */
	return method > 0 && b[i] == ' ' ? SERVE_SNIFF_HTTP : SERVE_SNIFF_GARBAGE;
}

/* One element of a Content-Length list: 1*DIGIT between optional spaces;
 * advances *p past it and the comma after it. */
static bool length_element(const char **p, uint64_t *out)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (!number(p, out))
		return false;
	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (**p == ',')
		(*p)++;
	else if (**p)
		return false;
	return true;
}

static void framing_fault(struct serve_framing *f, const char *why)
{
	if (!f->bad)
		f->why = why;
	f->bad = true;
}

void serve_framing_add(struct serve_framing *f, const char *key, const char *value)
{
	if (!key)
		return;
	if (strcasecmp(key, "Content-Length") == 0) {
		const char *p = value ? value : "";
		if (!*p)
			framing_fault(f, "an empty Content-Length");
		while (*p) {
			uint64_t v;
			if (!length_element(&p, &v)) {
				framing_fault(f, "a Content-Length that is not a number");
				break;
			}
			if (f->cl++ == 0)
				f->length = v;
			else if (v != f->length)
				framing_fault(f, "two different Content-Lengths");
		}
	} else if (strcasecmp(key, "Transfer-Encoding") == 0) {
		const char *p = value ? value : "";
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strlen(p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (f->te++ > 0 || n != 7 || strncasecmp(p, "chunked", 7) != 0)
			framing_fault(f, "a Transfer-Encoding other than one chunked");
	}
}

const char *serve_framing_verdict(const struct serve_framing *f)
{
	if (f->bad)
		return f->why;
	if (f->cl && f->te)
		return "Transfer-Encoding beside Content-Length";
	return NULL;
}

/*
 * fuzz_http.c — libFuzzer target for fs/serve/http.c, the text of `imgfs
 * serve` that every client chooses: the Range and If-Range headers, the
 * request path's token, the first bytes of a connection (serve_sniff), and
 * the escaping of what reaches the log and Content-Disposition.
 *
 * Input: 8 bytes of a body size (little-endian; small sizes are made
 * likely), then the header text (cut at its first NUL, as libmicrohttpd
 * hands headers over).  Beyond "no crash, no read past a buffer, no
 * undefined behaviour", each answer is checked against what it promises:
 * a satisfiable range lies inside the body and is not empty; an escaped
 * line is printable ASCII and NUL-terminated within its buffer; a path
 * token is what followed "/d/" and fits.
 *
 * Built by -DIMGFS_FUZZ=ON with clang and run by scripts/fuzz-parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok)
{
	if (!ok)
		abort();
}

static void printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	must(n < cap);
	for (size_t i = 0; i < n; i++)
		must(s[i] >= 0x20 && s[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t body = 0;
	if (size < 8)
		return 0;
	memcpy(&body, data, 8);
	if (data[7] < 0x80)
		body &= 0xffffff; /* mostly small bodies, sometimes huge ones */
	data += 8;
	size -= 8;
	char *h = malloc(size + 1);
	if (!h)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';

	uint64_t start = 0, len = 0;
	int r = serve_range_parse(h, body, &start, &len);
	must(r == -1 || r == 0 || r == 1);
	if (r == 1)
		must(len > 0 && start < body && len <= body - start);

	(void)serve_if_range(h, "\"etag-1\"", "Thu, 26 Nov 2026 01:00:00 GMT");
	enum serve_sniff k = serve_sniff(data, size);
	must(k == SERVE_SNIFF_HTTP || k == SERVE_SNIFF_TLS || k == SERVE_SNIFF_GARBAGE);

	char out[96];
	serve_escape(out, sizeof(out), h);
	printable(out, sizeof(out));
	serve_disposition(out, sizeof(out), h, "raw");
	must(strnlen(out, sizeof(out)) < sizeof(out));
	char tok[65];
	if (serve_path_token(h, tok, sizeof(tok))) {
		must(strncmp(h, "/d/", 3) == 0);
		size_t n = strnlen(tok, sizeof(tok));
		must(n < sizeof(tok) && strncmp(h + 3, tok, n) == 0);
	}
	free(h);
	return 0;
}

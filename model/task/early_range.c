/*
 * early_range.c — one range of an early import's file asked of its source
 * (SPEC §6.5 "Early"): the version held (If-Range, a 206 of it only:
 * fetch.c checks it as a resume), the import's address rules, its stall
 * timeout; the bytes to a sink, or into memory (a reader's pieces,
 * early_part.c; the rest of a chunk, early_fetch.c).
 *
 * Who calls it: early_fetch.c (the import's windows, a reader's chunk),
 * early_part.c (a reader's pieces), early.c and import.c (the stall
 * timeout).  The lowest of the early files: it calls none of them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "early_int.h"

/* Tests make stalls short: seconds without a byte before a transfer fails
 * (read by each run from the daemon's environment; docs/reference.md §5.2). */
#define IMPORT_STALL_ENV "IMGFS_IMPORT_STALL_TIMEOUT"

int import_stall_env(void)
{
	const char *v = getenv(IMPORT_STALL_ENV);
	char *end;
	long n;
	if (!v || !*v)
		return 0;
	n = strtol(v, &end, 10);
	return *end == '\0' && n > 0 && n <= 3600 ? (int)n : 0;
}

int import_stall_seconds(void)
{
	int n = import_stall_env();
	return n ? n : FETCH_STALL_TIMEOUT_DEFAULT;
}

int early_range_run(struct early_import *e, uint64_t from, uint64_t to,
                    int (*sink)(void *arg, const void *buf, size_t len, uint64_t offset),
                    bool (*cancelled)(void *arg), void *arg, const struct fetch_rule *rules, size_t nrules,
                    char *why, size_t cap)
{
	struct fetch_result res;
	struct fetch_req rq = {
		.url = e->url,
		.ca_file = getenv("SSL_CERT_FILE"),
		.max_size = MODEL_IMPORT_MAX_SIZE,
		.resume_from = from,
		.range_end = to,
		.validator = e->validator,
		.stall_timeout = import_stall_seconds(),
		.sink = sink,
		.cancelled = cancelled,
		.arg = arg,
		.rules = rules,
		.nrules = nrules,
	};
	int rc = fetch_run(&rq, &res);
	if (rc < 0)
		snprintf(why, cap, "%s", res.reason[0] ? res.reason : strerror(-rc));
	else if (res.bytes != to - from) {
		rc = -EIO;
		snprintf(why, cap, "the server sent %" PRIu64 " bytes of a range of %" PRIu64, res.bytes, to - from);
	}
	return rc;
}

struct mem_sink {
	uint8_t *dst;
	uint64_t base;
	size_t len;
};

/* Bytes into dst at their offset from base (within its len). */
static int mem_sink_fn(void *arg, const void *buf, size_t len, uint64_t offset)
{
	struct mem_sink *k = arg;
	if (offset < k->base || offset - k->base > k->len || len > k->len - (offset - k->base))
		return -EIO;
	memcpy(k->dst + (offset - k->base), buf, len);
	return 0;
}

int early_range_mem(model *m, struct early_import *e, uint64_t from, uint64_t to, uint8_t *dst,
                    const struct fetch_rule *rules, size_t nrules, char *why, size_t cap)
{
	struct mem_sink k = {.dst = dst, .base = from, .len = (size_t)(to - from)};
	struct fetch_rule *own = NULL;
	int rc = 0;

	why[0] = '\0';
	if (!rules && (rc = model_import_addresses_load(m, &own, &nrules)) == 0)
		rules = own;
	if (rc == 0)
		rc = early_range_run(e, from, to, mem_sink_fn, NULL, &k, rules, nrules, why, cap);
	free(own);
	if (rc < 0 && !why[0])
		snprintf(why, cap, "%s", strerror(-rc));
	return rc;
}

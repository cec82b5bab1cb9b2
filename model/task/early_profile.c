/*
 * early_profile.c — boot profiles (SPEC §6.5 "Boot profile", docs/design.md
 * "Early instances"): the order in which instances first read an image,
 * saved when its import ends and read by a later import of the same URL,
 * on any host (table early_profiles, schema_sqlite.c v28), whose windows
 * take its chunks first.
 *
 * Who calls it: early.c (early_begin: early_profile_load), import.c
 * (early_profiled, early_profile_save).  Any thread, no lock held.
 *
 * A profile is a hint: it orders fetches, never bytes (each range is
 * checked as ever), a failure to save one keeps the one before, and a URL
 * hash that collides only orders another image's fetches.  Bounded
 * (SPEC §12.8): at most EARLY_PROFILE_MAX chunks, the first reads kept.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "early_int.h"

/* The row's key: FNV-1a 64 of the URL, 16 hex digits (the URL may hold
 * a password: it is not kept). */
static void profile_key(const char *url, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	snprintf(out, 17, "%016" PRIx64, h);
}

void early_profile_load(model *m, const char *url, uint32_t n, uint32_t **plan, uint32_t *nplan)
{
	struct model_conn *c;
	const uint8_t *b;
	uint32_t *p = NULL, k = 0;
	char key[17];
	size_t len;
	db_stmt *st;

	*plan = NULL;
	*nplan = 0;
	if (n == 0 || model_conn_get(m, &c) < 0 ||
	    !(st = model_stmt(c, SQL("SELECT chunks FROM early_profiles WHERE url_hash = ?"))))
		return;
	profile_key(url, key);
	db_bind_text(st, 1, key);
	if (db_step(st) == DB_ROW && (len = db_col_bytes(st, 0) / 4) > 0 && (b = db_col_blob(st, 0))) {
		/* Past the bound (a row no program of this version wrote): its
		 * first EARLY_PROFILE_MAX. */
		if (len > EARLY_PROFILE_MAX)
			len = EARLY_PROFILE_MAX;
		if ((p = calloc(len < n ? len : n, sizeof(*p))))
			for (size_t j = 0; j < len && k < n; j++) {
				uint32_t v = (uint32_t)b[4 * j] | (uint32_t)b[4 * j + 1] << 8 | (uint32_t)b[4 * j + 2] << 16 |
				             (uint32_t)b[4 * j + 3] << 24;
				if (v < n)
					p[k++] = v;
			}
	}
	db_reset(st);
	*plan = p;
	*nplan = p ? k : 0;
}

bool early_profiled(model *m, const char *url)
{
	struct model_conn *c;
	char key[17];
	db_stmt *st;
	bool found;

	if (model_conn_get(m, &c) < 0 ||
	    !(st = model_stmt(c, SQL("SELECT 1 FROM early_profiles WHERE url_hash = ?"))))
		return false;
	profile_key(url, key);
	db_bind_text(st, 1, key);
	found = db_step(st) == DB_ROW;
	db_reset(st);
	return found;
}

int early_profile_put(model *m, const char *url, const uint32_t *order, uint32_t n)
{
	struct model_conn *c;
	uint8_t *b = NULL;
	char key[17];
	db_stmt *st;
	int rc;

	if (n > EARLY_PROFILE_MAX)
		n = EARLY_PROFILE_MAX; /* the first reads: a boot's */
	if (n == 0)
		return 0;
	if (!(b = malloc(4 * (size_t)n)))
		return -ENOMEM;
	for (uint32_t j = 0; j < n; j++) {
		b[4 * j] = (uint8_t)order[j];
		b[4 * j + 1] = (uint8_t)(order[j] >> 8);
		b[4 * j + 2] = (uint8_t)(order[j] >> 16);
		b[4 * j + 3] = (uint8_t)(order[j] >> 24);
	}
	profile_key(url, key);
	if ((rc = model_write_begin(m, &c, NULL)) < 0) {
		free(b);
		return rc;
	}
	if (!(st = model_stmt(c, SQL("INSERT INTO early_profiles(url_hash, chunks, saved) VALUES (?, ?, ?) "
	                             "ON CONFLICT (url_hash) DO UPDATE SET chunks = excluded.chunks, "
	                             "saved = excluded.saved")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, key);
	db_bind_blob(st, 2, b, 4 * (size_t)n);
	db_bind_int64(st, 3, (int64_t)(model_now_ns() / 1000000000LL));
	rc = model_exec_stmt(st);
out:
	free(b);
	return model_write_end(c, rc, NULL);
}

void early_profile_save(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	uint32_t *copy = NULL, n = 0;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if (e->norder && (copy = malloc(e->norder * sizeof(*copy)))) {
		n = e->norder;
		memcpy(copy, e->order, n * sizeof(*copy));
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (copy)
		(void)early_profile_put(m, e->url, copy, n); /* a hint: a failure keeps the one before */
	free(copy);
}

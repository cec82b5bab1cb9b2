/*
 * early_profile.c — boot profiles (SPEC §6.5, docs/design.md "Early
 * instances"): the order in which an instance first read its image,
 * saved when the import ends and read by a later import of the same URL,
 * whose windows take its chunks first.
 *
 * Who calls it: early.c (early_begin: early_profile_load), import.c
 * (early_profiled, early_profile_save).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "early_int.h"

/* <state>/profiles/<FNV-1a 64 of the URL>: the chunk indexes a first
 * boot read, in order, 4 bytes each (host order).  A collision only
 * orders another image's fetches: the bytes are checked as ever. */
static void profile_path(const model *m, const char *url, char *out, size_t cap)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	snprintf(out, cap, "%s/profiles/%016" PRIx64, m->dir, h);
}

/* The profile of url, at most n chunks below n (none: *nplan 0). */
void early_profile_load(model *m, const char *url, uint32_t n, uint32_t **plan, uint32_t *nplan)
{
	char path[4200];
	uint32_t *p = NULL, k = 0, v;
	FILE *f;

	*plan = NULL;
	*nplan = 0;
	if (!m->dir || n == 0)
		return;
	profile_path(m, url, path, sizeof(path));
	if (!(f = fopen(path, "rb")))
		return;
	if ((p = calloc(n, sizeof(*p))))
		while (k < n && fread(&v, sizeof(v), 1, f) == 1)
			if (v < n)
				p[k++] = v;
	fclose(f);
	*plan = p;
	*nplan = p ? k : 0;
}

bool early_profiled(model *m, const char *url)
{
	char path[4200];

	if (!m->dir)
		return false;
	profile_path(m, url, path, sizeof(path));
	return access(path, F_OK) == 0;
}

void early_profile_save(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	char path[4200], tmp[4300], dir[4200];
	uint32_t *copy = NULL, n = 0;
	FILE *f;

	if (!m->dir)
		return;
	IMGFS_LOCK(&set->lock, model_early_lock);
	if (e->norder && (copy = malloc(e->norder * sizeof(*copy)))) {
		n = e->norder;
		memcpy(copy, e->order, n * sizeof(*copy));
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (!copy)
		return;
	snprintf(dir, sizeof(dir), "%s/profiles", m->dir);
	mkdir(dir, 0700);
	profile_path(m, e->url, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "wb"))) {
		bool ok = fwrite(copy, sizeof(*copy), n, f) == n;
		if (fclose(f) == 0 && ok)
			rename(tmp, path); /* a hint: its durability is not promised (a crash keeps the old one) */
		else
			unlink(tmp);
	}
	free(copy);
}

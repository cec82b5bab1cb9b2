/*
 * early_got.c — what an early import's entry holds that arrived, kept
 * across a crash (SPEC §6.5 "Faults"): the file below, written after each
 * fetch that brought chunks and read by the run after a crash.
 *
 * Who calls it: early_fetch.c (early_got_save), early.c (early_begin:
 * early_got_load), import.c (early_got_kept, early_got_remove).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "early_int.h"

/* <state>/early-got/<image id>: "IMGFSEG1", the size (u64), the
 * validator's length (u32) and bytes, then the manifest of the chunks
 * that arrived (blob_manifest_encode).  Rewritten (temporary name, fsync,
 * rename) after each fetch that brought chunks, removed when the import
 * ends: the run after a crash (kill -9, a power cut) takes the chunks it
 * names that the store holds as arrived, for the same version of the
 * file only, instead of fetching them again (SPEC §6.5 "Faults").  Every
 * chunk it names was stored durably first (blob_store_put_chunk). */
#define GOT_MAGIC "IMGFSEG1"

/* write(2) until all of it is written: 0 or -EIO. */
static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void got_path(const model *m, int64_t image_id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/early-got/%" PRId64, m->dir, image_id);
}

void early_got_save(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	char path[4200], tmp[4300], dir[4200];
	uint8_t head[8 + 8 + 4];
	uint32_t v32;
	void *enc = NULL;
	size_t len = 0, vlen = 0;
	unsigned seq;
	int fd, rc;

	if (!m->dir)
		return;
	IMGFS_LOCK(&set->lock, model_early_lock);
	/* Ended: the import sealed or failed, and removed the file (a reader's
	 * fetch that ends in that moment may still leave one: its image's
	 * task is gone, nothing reads it). */
	rc = e->got && !e->ended ? blob_manifest_encode(&enc, &len, e->got) : -ENOENT;
	seq = set->seq++;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc < 0)
		return;
	vlen = strlen(e->validator);
	memcpy(head, GOT_MAGIC, 8);
	memcpy(head + 8, &e->total, 8); /* host order, as the profiles */
	v32 = (uint32_t)vlen;
	memcpy(head + 16, &v32, 4);
	snprintf(dir, sizeof(dir), "%s/early-got", m->dir);
	mkdir(dir, 0700);
	got_path(m, e->image_id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%u.tmp", path, seq);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		goto out;
	rc = write_all(fd, head, sizeof(head)) == 0 && write_all(fd, e->validator, vlen) == 0 &&
	             write_all(fd, enc, len) == 0 && fsync(fd) == 0
	         ? 0
	         : -EIO;
	close(fd);
	/* A hint: a failure costs fetches after a crash, never bytes. */
	if (rc < 0 || rename(tmp, path) < 0)
		unlink(tmp);
out:
	free(enc);
}

bool early_got_kept(model *m, int64_t image_id)
{
	char path[4200];

	if (!m->dir)
		return false;
	got_path(m, image_id, path, sizeof(path));
	return access(path, F_OK) == 0;
}

void early_got_remove(model *m, int64_t image_id)
{
	char path[4200];

	if (!m->dir)
		return;
	got_path(m, image_id, path, sizeof(path));
	unlink(path);
}

/* The chunks the file kept for image_id names that the store holds, for
 * this version (validator, total) only: a manifest, or NULL. */
blob_manifest *early_got_load(model *m, int64_t image_id, int64_t region_id, const char *validator, uint64_t total)
{
	char path[4200];
	blob_manifest *man = NULL, *have = NULL;
	uint8_t *buf = NULL;
	blob_store *s;
	struct stat st;
	size_t vlen = strlen(validator);
	uint64_t size = 0;
	uint32_t v32 = 0;
	int fd = -1;

	if (!m->dir)
		return NULL;
	got_path(m, image_id, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0 || st.st_size < 20 ||
	    st.st_size > (off_t)64 << 20 || !(buf = malloc((size_t)st.st_size)) ||
	    pread(fd, buf, (size_t)st.st_size, 0) != (ssize_t)st.st_size)
		goto out;
	memcpy(&size, buf + 8, 8);
	memcpy(&v32, buf + 16, 4);
	if (memcmp(buf, GOT_MAGIC, 8) != 0 || size != total || v32 != vlen ||
	    20 + vlen > (size_t)st.st_size || memcmp(buf + 20, validator, vlen) != 0 ||
	    blob_manifest_decode(&man, buf + 20 + vlen, (size_t)st.st_size - 20 - vlen) < 0 || man->size != total ||
	    model_store(m, region_id, &s) < 0 || blob_manifest_new(&have, total) < 0)
		goto out;
	for (uint32_t k = 0; k < man->count; k++)
		if (blob_store_has_chunk(s, &man->id[k]) == 1 && blob_manifest_set(have, man->index[k], &man->id[k]) < 0)
			break;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	blob_manifest_free(man);
	return have;
}

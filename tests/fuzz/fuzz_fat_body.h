/*
 * fuzz_fat_body.h — one input through the FAT reader (fs/inside/fat.c,
 * SPEC §18), shared by the libFuzzer target fuzz_fat and the unit test
 * tests/unit/fs/inside/test_fat.c, which runs a corpus of damaged volumes
 * through it in every build (the ASan lane included).
 *
 * Input: a FAT volume's first bytes.  The volume's size is the input's
 * length or, when the last byte is odd, 2^32 (a boot sector that names
 * sectors past what was sent: those reads fail with EIO, as a short
 * blob's would).  The whole tree is walked (depth, entries and
 * reads bounded) and every file read.  Checked: every call ends with 0 or
 * an errno, every name listed is 1..255 bytes, every stat has a known
 * type and an inode number, a read returns at most what was asked, and
 * the reads stay bounded (a looping chain is cut); a listing resumed from
 * each entry's position goes on with the entry the whole walk gave next
 * (issue 47: a page never walks the directory before it).
 */
#ifndef IMGFS_FUZZ_FAT_BODY_H
#define IMGFS_FUZZ_FAT_BODY_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ins_fat.h"

struct fuzz_fat_src {
	const uint8_t *data;
	size_t size;
	unsigned long reads;
};

static void fuzz_fat_must(int ok)
{
	if (!ok)
		abort();
}

static int fuzz_fat_fetch(void *arg, void *buf, size_t len, uint64_t off)
{
	struct fuzz_fat_src *s = arg;
	s->reads++;
	fuzz_fat_must(s->reads < 1000000);
	if (off > s->size || len > s->size - off)
		return -EIO;
	memcpy(buf, s->data + off, len);
	return 0;
}

struct fuzz_fat_walk {
	fat_vol *v;
	unsigned depth, seen;
	uint32_t dirs[64];
	unsigned ndirs;
	unsigned npos;
	struct {
		uint32_t ino;
		uint64_t after;
	} pos[32]; /* the directory's first entries, as the whole walk gave them */
};

/* A page of one entry: its number and position. */
static int fuzz_fat_first(void *arg, const char *name, size_t len, const struct ins_stat *st, uint64_t after)
{
	uint64_t *got = arg;
	(void)name;
	(void)len;
	got[0] = st->ino;
	got[1] = after;
	return 1;
}

static int fuzz_fat_entry(void *arg, const char *name, size_t len, const struct ins_stat *st, uint64_t after)
{
	struct fuzz_fat_walk *w = arg;
	fuzz_fat_must(len >= 1 && len <= INS_NAME_MAX && name != NULL);
	fuzz_fat_must(st->ino != 0 && (S_ISDIR(st->mode) || S_ISREG(st->mode)));
	if (++w->seen > 4096)
		return 1;
	fuzz_fat_must(after > (w->npos ? w->pos[w->npos - 1].after : 0));
	if (w->npos < 32) {
		w->pos[w->npos].ino = st->ino;
		w->pos[w->npos++].after = after;
	}
	if (S_ISDIR(st->mode) && w->ndirs < 64)
		w->dirs[w->ndirs++] = st->ino;
	if (S_ISREG(st->mode)) {
		static char buf[8192];
		size_t got = 0;
		int rc = fat_read(w->v, st->ino, 0, sizeof(buf), buf, &got);
		fuzz_fat_must(rc == 0 || rc == -EIO || rc == -ENOMEM || rc == -ENOENT);
		fuzz_fat_must(got <= sizeof(buf) && (rc == 0 || got == 0));
	}
	struct ins_stat again;
	int rc = fat_stat(w->v, st->ino, &again);
	fuzz_fat_must(rc == 0 || rc == -EIO || rc == -ENOENT);
	return 0;
}

static void fuzz_fat_dir(struct fuzz_fat_walk *w, uint32_t dir)
{
	uint32_t mine[64];
	unsigned n;
	int rc;
	if (w->depth >= 8)
		return;
	w->ndirs = 0;
	w->npos = 0;
	rc = fat_list(w->v, dir, 0, fuzz_fat_entry, w);
	fuzz_fat_must(rc == 0 || rc == 1 || rc == -EIO || rc == -ENOMEM || rc == -ENOENT || rc == -ENOTDIR);
	/* Resumed from each entry's position: the next one, and a stop, not
	 * the end (1: what the walk's callback returned). */
	for (unsigned i = 1; rc >= 0 && i < w->npos; i++) {
		uint64_t got[2] = {0, 0};
		int r = fat_list(w->v, dir, w->pos[i - 1].after, fuzz_fat_first, got);
		fuzz_fat_must(r == 1 || r == -EIO || r == -ENOMEM);
		fuzz_fat_must(r != 1 || (got[0] == w->pos[i].ino && got[1] == w->pos[i].after));
	}
	n = w->ndirs;
	memcpy(mine, w->dirs, n * sizeof(mine[0]));
	w->depth++;
	for (unsigned i = 0; i < n; i++)
		fuzz_fat_dir(w, mine[i]);
	w->depth--;
}

static int fuzz_fat_one(const uint8_t *data, size_t size)
{
	struct fuzz_fat_src s = {data, size, 0};
	char why[200];
	fat_vol *v;
	uint64_t vol = size && (data[size - 1] & 1) ? 1ull << 32 : size;
	int rc = fat_open(fuzz_fat_fetch, &s, vol, &v, why, sizeof(why));
	fuzz_fat_must(memchr(why, '\0', sizeof(why)) != NULL || rc == 0);
	if (rc < 0) {
		fuzz_fat_must(rc == -EIO || rc == -ENOMEM);
		return 0;
	}
	struct fuzz_fat_walk w = {.v = v};
	struct ins_stat st;
	fuzz_fat_must(fat_stat(v, FAT_ROOT_INO, &st) == 0 && S_ISDIR(st.mode));
	char name[] = "README.TXT";
	rc = fat_lookup(v, FAT_ROOT_INO, name, sizeof(name) - 1, &st);
	fuzz_fat_must(rc == 0 || rc == -ENOENT || rc == -EIO || rc == -ENOMEM);
	fuzz_fat_dir(&w, FAT_ROOT_INO);
	fat_close(v);
	return 0;
}

#endif

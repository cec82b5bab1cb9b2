/*
 * tree_test.h — removing and copying directory trees, for the unit tests'
 * state directories (test_util.h's fixture; a test of its own trees).
 */
#ifndef IMGFS_TREE_TEST_H
#define IMGFS_TREE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- removing and copying trees ----------------------------------------- */

static inline int ut_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void ut_rm_rf(const char *dir)
{
	nftw(dir, ut_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* nftw has no argument pointer: the copy in progress. */
static struct {
	const char *src, *dst;
	size_t src_len;
	bool link_chunks;
	int failed;
} ut_copy;

static inline int ut_copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[1 << 15]; /* under the 64 KiB frame every target keeps */
	int in = open(from, O_RDONLY), out = -1, rc = -1;
	ssize_t n;

	if (in < 0)
		return -1;
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		goto out;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto out;
	if (n == 0 && fchmod(out, mode & 07777) == 0)
		rc = 0;
out:
	if (out >= 0)
		close(out);
	close(in);
	return rc;
}

static inline int ut_copy_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char to[PATH_MAX];
	const char *rel = path + ut_copy.src_len;

	(void)ftw;
	if (*rel == '\0')
		return 0; /* the root exists (mkdtemp) */
	snprintf(to, sizeof to, "%s%s", ut_copy.dst, rel);
	if (flag == FTW_D) {
		if (mkdir(to, st->st_mode & 07777) < 0)
			ut_copy.failed = errno;
	} else if (flag == FTW_F) {
		if (ut_copy.link_chunks && strstr(rel, "/chunks/") != NULL) {
			if (link(path, to) < 0)
				ut_copy.failed = errno;
		} else if (ut_copy_file(path, to, st->st_mode) < 0) {
			ut_copy.failed = errno ? errno : EIO;
		}
	}
	return ut_copy.failed ? -1 : 0;
}

/* Copies the tree src into the existing directory dst. */
static inline int ut_copy_tree(const char *src, const char *dst, bool link_chunks)
{
	ut_copy.src = src;
	ut_copy.dst = dst;
	ut_copy.src_len = strlen(src);
	ut_copy.link_chunks = link_chunks;
	ut_copy.failed = 0;
	if (nftw(src, ut_copy_one, 16, FTW_PHYS) != 0 || ut_copy.failed)
		return -1;
	return 0;
}

#endif

/*
 * memfs.h — a guest file system in memory for the inspection's unit tests
 * (test_inspect*.c): struct ins_fs_ops over a table of paths, so that
 * fs/inside/inspect*.c read files a test wrote (or a real tool wrote and
 * the test loaded) through the same calls a reader serves.  Directories
 * are made as a path needs them; a symbolic link is a path and a target.
 */
#ifndef IMGFS_TEST_MEMFS_H
#define IMGFS_TEST_MEMFS_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ins_inspect.h"

#define MFS_MAX 4200 /* (test_inspect's EFI bound: INSPECT_WANTS_MAX entries and more) */

static struct mfs_node {
	char path[512]; /* "" the root; "/etc", "/etc/fstab" */
	unsigned mode;
	char *data; /* malloc'd: a file's bytes, a link's target */
	size_t len;
} mfs[MFS_MAX];
static unsigned mfs_n;

static inline void mfs_reset(void)
{
	for (unsigned i = 0; i < mfs_n; i++)
		free(mfs[i].data);
	memset(mfs, 0, sizeof(mfs));
	mfs[0].mode = S_IFDIR | 0755;
	mfs_n = 1;
}

static int mfs_find(const char *path)
{
	for (unsigned i = 0; i < mfs_n; i++)
		if (strcmp(mfs[i].path, path) == 0)
			return (int)i;
	return -1;
}

static struct mfs_node *mfs_add(const char *path, unsigned mode)
{
	char parent[512];
	snprintf(parent, sizeof(parent), "%s", path);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (mfs_find(parent) < 0)
			mfs_add(parent, S_IFDIR | 0755);
	}
	int at = mfs_find(path);
	if (at < 0) {
		if (mfs_n >= MFS_MAX)
			abort();
		at = (int)mfs_n++;
	}
	free(mfs[at].data);
	snprintf(mfs[at].path, sizeof(mfs[at].path), "%s", path);
	mfs[at].mode = mode;
	mfs[at].data = NULL;
	mfs[at].len = 0;
	return &mfs[at];
}

/* A file of len bytes (data copied). */
static inline void mfs_file(const char *path, const void *data, size_t len)
{
	struct mfs_node *n = mfs_add(path, S_IFREG | 0644);
	n->data = malloc(len ? len : 1);
	if (!n->data)
		abort();
	memcpy(n->data, data, len);
	n->len = len;
}

/* A file whose bytes the caller malloc'd (taken). */
static inline void mfs_file_take(const char *path, char *data, size_t len)
{
	struct mfs_node *n = mfs_add(path, S_IFREG | 0644);
	n->data = data;
	n->len = len;
}

/* The file dir/name, read whole, as the file at path: 0 or -errno. */
static inline int mfs_file_load(const char *dir, const char *name, const char *path)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY), rc = 0;
	if (fd < 0)
		return -errno;
	off_t size = lseek(fd, 0, SEEK_END);
	char *data = size >= 0 ? malloc((size_t)size + 1) : NULL;
	if (!data || pread(fd, data, (size_t)size, 0) != size)
		rc = data ? -EIO : -ENOMEM;
	close(fd);
	if (rc < 0) {
		free(data);
		return rc;
	}
	mfs_file_take(path, data, (size_t)size);
	return 0;
}

static inline void mfs_text(const char *path, const char *text)
{
	mfs_file(path, text, strlen(text));
}

static inline void mfs_link(const char *path, const char *target)
{
	struct mfs_node *n = mfs_add(path, S_IFLNK | 0777);
	n->data = strdup(target);
	n->len = strlen(target);
}

static uint64_t mfs_root(void)
{
	return 1;
}

static int mfs_stat(uint64_t ino, struct ins_stat *st)
{
	if (ino < 1 || ino > mfs_n)
		return -ENOENT;
	memset(st, 0, sizeof(*st));
	st->ino = (uint32_t)ino;
	st->mode = mfs[ino - 1].mode;
	st->size = mfs[ino - 1].len;
	st->nlink = 1;
	return 0;
}

static int mfs_lookup(uint64_t dir, const char *name, size_t len, uint64_t *ino)
{
	char path[1024];
	if (dir < 1 || dir > mfs_n)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/%.*s", mfs[dir - 1].path, (int)len, name);
	int at = mfs_find(path);
	if (at < 0)
		return -ENOENT;
	*ino = (uint64_t)at + 1;
	return 0;
}

static int mfs_list(uint64_t dir, uint64_t from, ins_add_fn add, void *arg)
{
	const char *d = mfs[dir - 1].path;
	size_t dl = strlen(d);
	for (unsigned i = (unsigned)from; i < mfs_n; i++) {
		const char *p = mfs[i].path;
		if (strncmp(p, d, dl) == 0 && p[dl] == '/' && !strchr(p + dl + 1, '/') &&
		    add(arg, i + 1, p + dl + 1, strlen(p + dl + 1), mfs[i].mode & S_IFMT, i + 1))
			return 0;
	}
	return 0;
}

static int mfs_read(uint64_t ino, uint64_t off, uint32_t len, void *buf, uint32_t *got)
{
	struct mfs_node *n = &mfs[ino - 1];
	if (off > n->len)
		return -EIO;
	*got = (uint32_t)(n->len - off < len ? n->len - off : len);
	memcpy(buf, n->data + off, *got);
	return 0;
}

static int mfs_readlink(uint64_t ino, char *buf, size_t len)
{
	memcpy(buf, mfs[ino - 1].data, len);
	return 0;
}

static const struct ins_fs_ops mfs_ops = {
	.kind = INS_FS_EXT,
	.readme = "a test's files in memory",
	.root = mfs_root,
	.stat = mfs_stat,
	.lookup = mfs_lookup,
	.list = mfs_list,
	.read = mfs_read,
	.readlink = mfs_readlink,
};

/* An answer as the helper builds it (INSPECT_ANSWER_MAX unless cap). */
static inline struct ins_out mfs_out(size_t cap)
{
	struct ins_out o = {malloc(cap), 0, cap, false, 0, 0};
	if (!o.buf)
		abort();
	o.buf[0] = '\0';
	return o;
}

/* How many lines of o are "key\tvalue" for key (value: NULL any), and the
 * first's value into first (cap bytes) when given. */
static inline unsigned mfs_count(const struct ins_out *o, const char *key, const char *value, char *first, size_t cap)
{
	unsigned n = 0;
	size_t kl = strlen(key);
	if (first)
		first[0] = '\0';
	for (size_t at = 0; at < o->len;) {
		const char *line = o->buf + at, *nl = memchr(line, '\n', o->len - at);
		size_t len = nl ? (size_t)(nl - line) : o->len - at;
		if (len > kl && memcmp(line, key, kl) == 0 && line[kl] == '\t' &&
		    (!value || (len - kl - 1 == strlen(value) && memcmp(line + kl + 1, value, len - kl - 1) == 0))) {
			if (!n && first)
				snprintf(first, cap, "%.*s", (int)(len - kl - 1), line + kl + 1);
			n++;
		}
		at += len + 1;
	}
	return n;
}

#endif

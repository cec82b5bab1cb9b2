/*
 * ntfs.c — an NTFS volume read through libntfs-3g (SPEC §18; the interface:
 * ins_ntfs.h).  Called by the inside helper for a volume whose boot sector
 * says NTFS, and by tests/unit/fs/inside/test_ntfs.c.
 *
 * libntfs-3g reads its "device" through a table of operations: ours has no
 * file descriptor, its reads are the fetch callback (in the helper, block
 * requests to the daemon), every write is EROFS, and the volume is mounted
 * read-only (NTFS_MNT_RDONLY), so nothing is ever written and no journal is
 * replayed.  Its log is silenced: the helper may write to nothing but its
 * socket, and a reason reaches the daemon as the error's text.
 *
 * What is shown follows ntfs-3g with its default options (no user
 * mapping): owner 0/0, modes 0777 for files, directories and links, a
 * directory's size its index allocation's, a file's its unnamed data
 * stream's (sparse and compressed streams decoded by the library), a
 * directory's link count 1; system files (MFT records below 16 but the
 * root) and DOS 8.3 names are not listed.  Links: a reparse point that
 * libntfs-3g turns into a link (a symbolic link or a junction,
 * ntfs_make_symlink, its absolute targets relative to a mount at "/") and
 * an Interix link (what ntfs-3g itself makes for `ln -s`).
 *
 * Load: one volume per helper, one request at a time; the last file read
 * is kept open for the next piece of it.
 */
#define HAVE_STDINT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_STDDEF_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRING_H 1
#define HAVE_ERRNO_H 1
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/device.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/logging.h>
#include <ntfs-3g/ntfstime.h>
#include <ntfs-3g/reparse.h>
#include <ntfs-3g/unistr.h>
#include <ntfs-3g/volume.h>

#include "ins_ntfs.h"

#define WIN_BYTES (64u << 10) /* a window of the volume kept */
#define WIN_SLOTS 32          /* 2 MiB */
#define LINK_SLOTS 64         /* reparse-point targets kept */

struct ins_ntfs {
	ins_ntfs_fetch_fn fetch;
	void *arg;
	uint64_t size;
	int64_t pos; /* the device's seek position */
	struct ntfs_device *dev;
	ntfs_volume *vol;
	struct {     /* the last file read, kept open */
		uint32_t ino;
		ntfs_inode *ni;
		ntfs_attr *na;
	} open;
	/* libntfs-3g reads an MFT record, an index block or a cluster at a
	 * time, mostly near the last: each miss fetches the aligned window
	 * around it (one request to the daemon, not dozens). */
	struct {
		uint64_t off;
		bool valid;
		uint8_t *b;
	} win[WIN_SLOTS];
	/* Reparse points' targets, by record: libntfs-3g's
	 * ntfs_make_symlink leaks an inode each time it resolves a junction
	 * (2022.10.3), so a link's stat and readlink ask it once. */
	struct {
		uint32_t ino;
		char *target;
	} links[LINK_SLOTS];
	char why[200];
};

static int fail(ins_ntfs *v, int err, const char *fmt, uint64_t n)
{
	char what[120];
	snprintf(what, sizeof(what), fmt, (unsigned long long)n);
	snprintf(v->why, sizeof(v->why), "libntfs-3g: %s: %s", what, strerror(err));
	return -err;
}

const char *ins_ntfs_why(const ins_ntfs *v)
{
	return v->why;
}

/* ---- the device: reads through the fetch callback --------------------------- */

static int d_open(struct ntfs_device *dev, int flags)
{
	if ((flags & O_ACCMODE) != O_RDONLY) {
		errno = EROFS;
		return -1;
	}
	NDevSetOpen(dev);
	NDevSetReadOnly(dev);
	return 0;
}

static int d_close(struct ntfs_device *dev)
{
	NDevClearOpen(dev);
	return 0;
}

static s64 d_seek(struct ntfs_device *dev, s64 off, int whence)
{
	ins_ntfs *v = dev->d_private;
	s64 base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? v->pos : (s64)v->size;
	if ((whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) || base + off < 0) {
		errno = EINVAL;
		return -1;
	}
	v->pos = base + off;
	return v->pos;
}

static s64 d_pread(struct ntfs_device *dev, void *buf, s64 count, s64 off)
{
	ins_ntfs *v = dev->d_private;
	if (count < 0 || off < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)off >= v->size)
		return 0;
	if ((uint64_t)count > v->size - (uint64_t)off)
		count = (s64)(v->size - (uint64_t)off);
	uint64_t w = (uint64_t)off - (uint64_t)off % WIN_BYTES;
	if ((uint64_t)off + (uint64_t)count <= w + WIN_BYTES) {
		unsigned slot = (unsigned)(w / WIN_BYTES % WIN_SLOTS);
		if (!v->win[slot].valid || v->win[slot].off != w) {
			size_t len = v->size - w < WIN_BYTES ? (size_t)(v->size - w) : WIN_BYTES;
			if (!v->win[slot].b && !(v->win[slot].b = malloc(WIN_BYTES))) {
				errno = ENOMEM;
				return -1;
			}
			v->win[slot].valid = false;
			int rc = v->fetch(v->arg, v->win[slot].b, len, w);
			if (rc < 0) {
				errno = -rc;
				return -1;
			}
			v->win[slot].off = w;
			v->win[slot].valid = true;
		}
		memcpy(buf, v->win[slot].b + ((uint64_t)off - w), (size_t)count);
		return count;
	}
	int rc = v->fetch(v->arg, buf, (size_t)count, (uint64_t)off);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return count;
}

static s64 d_read(struct ntfs_device *dev, void *buf, s64 count)
{
	ins_ntfs *v = dev->d_private;
	s64 n = d_pread(dev, buf, count, v->pos);
	if (n > 0)
		v->pos += n;
	return n;
}

static s64 d_write(struct ntfs_device *dev, const void *buf, s64 count)
{
	errno = EROFS;
	return -1;
}

static s64 d_pwrite(struct ntfs_device *dev, const void *buf, s64 count, s64 off)
{
	errno = EROFS;
	return -1;
}

static int d_sync(struct ntfs_device *dev)
{
	return 0;
}

static int d_stat(struct ntfs_device *dev, struct stat *st)
{
	ins_ntfs *v = dev->d_private;
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0444;
	st->st_size = (off_t)v->size;
	return 0;
}

static int d_ioctl(struct ntfs_device *dev, unsigned long request, void *argp)
{
	errno = ENOTTY;
	return -1;
}

static struct ntfs_device_operations inside_dops = {
	.open = d_open,
	.close = d_close,
	.seek = d_seek,
	.read = d_read,
	.write = d_write,
	.pread = d_pread,
	.pwrite = d_pwrite,
	.sync = d_sync,
	.stat = d_stat,
	.ioctl = d_ioctl,
};

int ins_ntfs_open(ins_ntfs_fetch_fn fetch, void *arg, uint64_t size, ins_ntfs **out, char *why, size_t cap)
{
	*out = NULL;
	ntfs_log_set_handler(ntfs_log_handler_null);
	ntfs_log_clear_levels(UINT32_MAX);
	ins_ntfs *v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(why, cap, "out of memory");
		return -ENOMEM;
	}
	v->fetch = fetch;
	v->arg = arg;
	v->size = size;
	if (!(v->dev = ntfs_device_alloc("inside", 0, &inside_dops, v))) {
		free(v);
		snprintf(why, cap, "out of memory");
		return -ENOMEM;
	}
	errno = 0;
	if (!(v->vol = ntfs_device_mount(v->dev, NTFS_MNT_RDONLY))) {
		int err = errno ? errno : EIO;
		snprintf(why, cap, "libntfs-3g cannot open the file system: %s", strerror(err));
		ntfs_device_free(v->dev);
		for (unsigned i = 0; i < WIN_SLOTS; i++)
			free(v->win[i].b);
		free(v);
		return -EIO;
	}
	*out = v;
	return 0;
}

static void close_open(ins_ntfs *v)
{
	if (v->open.na)
		ntfs_attr_close(v->open.na);
	if (v->open.ni)
		ntfs_inode_close(v->open.ni);
	memset(&v->open, 0, sizeof(v->open));
}

void ins_ntfs_close(ins_ntfs *v)
{
	if (!v)
		return;
	close_open(v);
	ntfs_umount(v->vol, FALSE); /* (frees the device too) */
	for (unsigned i = 0; i < WIN_SLOTS; i++)
		free(v->win[i].b);
	for (unsigned i = 0; i < LINK_SLOTS; i++)
		free(v->links[i].target);
	free(v);
}

/* ---- inodes ----------------------------------------------------------------- */

/* Record ino, open: NULL with -errno in *rc (ENOENT: a system file, or a
 * record not in use). */
static ntfs_inode *inode(ins_ntfs *v, uint32_t ino, int *rc)
{
	if (ino < FILE_first_user && ino != FILE_root) {
		*rc = fail(v, ENOENT, "MFT record %llu is a system file, not shown", ino);
		return NULL;
	}
	errno = 0;
	ntfs_inode *ni = ntfs_inode_open(v->vol, ino);
	if (!ni) {
		int err = errno == ENOENT ? ENOENT : EIO;
		*rc = fail(v, err, "MFT record %llu cannot be read", ino);
	}
	return ni;
}

static struct ins_time ns(ntfs_time t)
{
	struct timespec s = ntfs2timespec(t);
	return (struct ins_time){(int64_t)s.tv_sec, (uint32_t)s.tv_nsec, 0};
}

/* An Interix link's target (ntfs-3g's own `ln -s`): "IntxLNK\1" and the
 * target in UTF-16.  1 with *out (malloc'd), 0 when ni is not one, -errno. */
static int interix_target(ins_ntfs *v, ntfs_inode *ni, char **out)
{
	if (!(ni->flags & FILE_ATTR_SYSTEM) || ntfs_interix_types(ni) != NTFS_DT_LNK)
		return 0;
	ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (!na)
		return fail(v, EIO, "the link of MFT record %llu cannot be read", ni->mft_no);
	s64 len = na->data_size;
	ntfschar *buf = NULL;
	int rc = 0;
	if (len <= 8 || len > 8 + 2 * 4096 || !(buf = malloc((size_t)len)) || ntfs_attr_pread(na, 0, len, buf) != len)
		rc = fail(v, EIO, "the link of MFT record %llu cannot be read", ni->mft_no);
	else if (ntfs_ucstombs(buf + 4, (int)((len - 8) / 2), out, 0) < 0)
		rc = fail(v, EIO, "the link of MFT record %llu is not a name", ni->mft_no);
	else
		rc = 1;
	free(buf);
	ntfs_attr_close(na);
	return rc;
}

/* The target of ni if it is a link: 1 with *out, 0 when it is not. */
static int link_target(ins_ntfs *v, ntfs_inode *ni, char **out)
{
	*out = NULL;
	if (ni->flags & FILE_ATTR_REPARSE_POINT) {
		unsigned slot = (unsigned)(ni->mft_no % LINK_SLOTS);
		if (!v->links[slot].target || v->links[slot].ino != ni->mft_no) {
			char *t = ntfs_make_symlink(ni, "");
			if (!t)
				return 0;
			free(v->links[slot].target);
			v->links[slot].ino = (uint32_t)ni->mft_no;
			v->links[slot].target = t;
		}
		if (!(*out = strdup(v->links[slot].target)))
			return fail(v, ENOMEM, "the link of MFT record %llu: out of memory", ni->mft_no);
		return 1;
	}
	if (ni->mrec->flags & MFT_RECORD_IS_DIRECTORY)
		return 0;
	return interix_target(v, ni, out);
}

/* The st_blocks of ni's unnamed data stream (and its size in *size): in
 * 512-byte units rounded up, as ntfs-3g gives them: a small resident
 * file's 8 allocated bytes are one block.  0 without one. */
static uint64_t data_blocks(ntfs_inode *ni, uint64_t *size)
{
	ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (!na)
		return 0;
	if (size)
		*size = (uint64_t)na->data_size;
	uint64_t bytes = (uint64_t)((na->data_flags & (ATTR_IS_SPARSE | ATTR_COMPRESSION_MASK)) ? na->compressed_size
	                                                                                       : na->allocated_size);
	ntfs_attr_close(na);
	return (bytes + 511) >> 9;
}

/* ntfs-3g's Interix fifos, sockets and devices (what its mknod writes: a
 * system file whose data is empty, one byte, or "IntxCHR\0"/"IntxBLK\0"
 * and the le64 major and minor), shown as ntfs-3g shows them; a device
 * number past Linux's 32-bit encoding (12 bits of major, 20 of minor) as
 * 0.  Other files are left as they are. */
static void interix_node(ntfs_inode *ni, struct ins_stat *st)
{
	u32 t = ntfs_interix_types(ni);
	if (t == NTFS_DT_FIFO || t == NTFS_DT_SOCK) {
		st->mode = (t == NTFS_DT_FIFO ? S_IFIFO : S_IFSOCK) | 0777;
		return;
	}
	if (t != NTFS_DT_CHR && t != NTFS_DT_BLK)
		return;
	INTX_FILE f;
	const s64 need = (s64)offsetof(INTX_FILE, device_end);
	ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (!na)
		return;
	if (na->data_size == need && ntfs_attr_pread(na, 0, need, &f) == need) {
		uint64_t major = le64_to_cpu(f.major), minor = le64_to_cpu(f.minor);
		st->mode = (t == NTFS_DT_CHR ? S_IFCHR : S_IFBLK) | 0777;
		st->rdev = major < 4096 && minor < (1u << 20) ? (uint32_t)makedev(major, minor) : 0;
	}
	ntfs_attr_close(na);
}

static int fill(ins_ntfs *v, ntfs_inode *ni, uint32_t ino, struct ins_stat *st)
{
	char *target;
	memset(st, 0, sizeof(*st));
	st->ino = ino;
	st->nlink = 1;
	st->atime = ns(ni->last_access_time);
	st->mtime = ns(ni->last_data_change_time);
	st->ctime = ns(ni->last_mft_change_time);
	int rc = link_target(v, ni, &target);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		st->mode = S_IFLNK | 0777;
		st->size = strlen(target);
		free(target);
		/* An Interix link's blocks are its data stream's, as ntfs-3g
		 * gives them (a reparse point's: 0). */
		if (!(ni->flags & FILE_ATTR_REPARSE_POINT))
			st->blocks = data_blocks(ni, NULL);
		return 0;
	}
	if (ni->mrec->flags & MFT_RECORD_IS_DIRECTORY) {
		st->mode = S_IFDIR | 0777;
		ntfs_attr *na = ntfs_attr_open(ni, AT_INDEX_ALLOCATION, NTFS_INDEX_I30, 4);
		if (na) {
			st->size = (uint64_t)na->data_size;
			st->blocks = (uint64_t)na->allocated_size >> 9;
			ntfs_attr_close(na);
		}
		return 0;
	}
	st->mode = S_IFREG | 0777;
	st->nlink = le16_to_cpu(ni->mrec->link_count);
	st->blocks = data_blocks(ni, &st->size);
	if (ni->flags & FILE_ATTR_SYSTEM)
		interix_node(ni, st);
	return 0;
}

int ins_ntfs_stat(ins_ntfs *v, uint32_t ino, struct ins_stat *st)
{
	int rc;
	ntfs_inode *ni = inode(v, ino, &rc);
	if (!ni)
		return rc;
	rc = fill(v, ni, ino, st);
	ntfs_inode_close(ni);
	return rc;
}

/* ---- directories ------------------------------------------------------------ */

struct collect {
	ins_ntfs *v;
	struct centry {
		uint32_t ino;
		char *name;
	} *e;
	uint32_t count;
	size_t bytes;
	int err;
};

static int collect_one(void *arg, const ntfschar *uname, const int ulen, const int type, const s64 pos,
                       const MFT_REF mref, const unsigned dt_type)
{
	struct collect *c = arg;
	u64 rec = MREF(mref);
	char *name = NULL;
	if (type == FILE_NAME_DOS || (rec < FILE_first_user && rec != FILE_root) || rec > UINT32_MAX)
		return 0;
	if (c->count >= INS_LIST_CAP || c->bytes >= (8u << 20))
		return -1; /* bounded (SPEC §18) */
	int len = ntfs_ucstombs(uname, ulen, &name, 0);
	if (len <= 0) {
		free(name);
		return 0; /* not a name: not listed */
	}
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
		free(name);
		return 0;
	}
	if (c->count % 256 == 0) {
		struct centry *n = realloc(c->e, (c->count + 256) * sizeof(*n));
		if (!n) {
			free(name);
			c->err = ENOMEM;
			return -1;
		}
		c->e = n;
	}
	c->e[c->count++] = (struct centry){(uint32_t)rec, name};
	c->bytes += (size_t)len;
	return 0;
}

/* The names of directory dir (not "." or ".."), bounded: 0 with c, or
 * -errno (c freed). */
static int collect_dir(ins_ntfs *v, uint32_t dir, struct collect *c)
{
	int rc;
	memset(c, 0, sizeof(*c));
	c->v = v;
	ntfs_inode *ni = inode(v, dir, &rc);
	if (!ni)
		return rc;
	if (!(ni->mrec->flags & MFT_RECORD_IS_DIRECTORY)) {
		ntfs_inode_close(ni);
		return fail(v, ENOTDIR, "MFT record %llu is not a directory", dir);
	}
	/* The names first, then each one's record: libntfs-3g's walk of the
	 * index is not interleaved with opening other records. */
	s64 pos = 0;
	rc = 0;
	errno = 0;
	if (ntfs_readdir(ni, &pos, c, collect_one) < 0 && c->count < INS_LIST_CAP && c->bytes < (8u << 20))
		rc = fail(v, c->err ? c->err : EIO, "the index of directory %llu cannot be read", dir);
	ntfs_inode_close(ni);
	if (rc < 0) {
		for (uint32_t i = 0; i < c->count; i++)
			free(c->e[i].name);
		free(c->e);
		memset(c, 0, sizeof(*c));
	}
	return rc;
}

static void collect_free(struct collect *c)
{
	for (uint32_t i = 0; i < c->count; i++)
		free(c->e[i].name);
	free(c->e);
}

int ins_ntfs_list(ins_ntfs *v, uint32_t dir, ins_ntfs_entry_fn fn, void *arg)
{
	struct collect c;
	int rc = collect_dir(v, dir, &c);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < c.count; i++) {
		struct ins_stat st;
		/* An entry whose record cannot be read is not listed (SPEC
		 * §18); the rest is. */
		if (ins_ntfs_stat(v, c.e[i].ino, &st) == 0 && fn(arg, c.e[i].name, strlen(c.e[i].name), &st))
			break;
	}
	collect_free(&c);
	return 0;
}

int ins_ntfs_lookup(ins_ntfs *v, uint32_t dir, const char *name, size_t len, struct ins_stat *st)
{
	char buf[INS_NAME_MAX + 1];
	ntfschar *uname = NULL;
	int rc;
	if (len == 0 || len > INS_NAME_MAX)
		return fail(v, ENOENT, "no such name in directory %llu", dir);
	memcpy(buf, name, len);
	buf[len] = '\0';
	ntfs_inode *ni = inode(v, dir, &rc);
	if (!ni)
		return rc;
	if (!(ni->mrec->flags & MFT_RECORD_IS_DIRECTORY)) {
		ntfs_inode_close(ni);
		return fail(v, ENOTDIR, "MFT record %llu is not a directory", dir);
	}
	int ulen = ntfs_mbstoucs(buf, &uname);
	if (ulen <= 0) {
		ntfs_inode_close(ni);
		return fail(v, ENOENT, "no such name in directory %llu", dir);
	}
	errno = 0;
	u64 mref = ntfs_inode_lookup_by_name(ni, uname, ulen);
	int err = errno;
	free(uname);
	ntfs_inode_close(ni);
	if (mref == (u64)-1)
		return fail(v, err == ENOENT || err == 0 ? ENOENT : EIO, "no such name in directory %llu", dir);
	u64 rec = MREF(mref);
	if ((rec < FILE_first_user && rec != FILE_root) || rec > UINT32_MAX || rec == FILE_root)
		return fail(v, ENOENT, "no such name in directory %llu", dir);
	return ins_ntfs_stat(v, (uint32_t)rec, st);
}

/* ---- files and links -------------------------------------------------------- */

int ins_ntfs_read(ins_ntfs *v, uint32_t ino, uint64_t off, size_t len, void *buf, size_t *got)
{
	int rc;
	*got = 0;
	if (v->open.ino != ino || !v->open.na) {
		close_open(v);
		ntfs_inode *ni = inode(v, ino, &rc);
		if (!ni)
			return rc;
		if (ni->mrec->flags & MFT_RECORD_IS_DIRECTORY) {
			ntfs_inode_close(ni);
			return fail(v, EISDIR, "MFT record %llu is a directory", ino);
		}
		ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
		if (!na) {
			ntfs_inode_close(ni);
			return errno == ENOENT ? 0 : fail(v, EIO, "the data of MFT record %llu cannot be read", ino);
		}
		v->open.ino = ino;
		v->open.ni = ni;
		v->open.na = na;
	}
	ntfs_attr *na = v->open.na;
	if (off >= (uint64_t)na->data_size)
		return 0;
	if (len > (uint64_t)na->data_size - off)
		len = (size_t)((uint64_t)na->data_size - off);
	while (*got < len) {
		errno = 0;
		s64 n = ntfs_attr_pread(na, (s64)(off + *got), (s64)(len - *got), (char *)buf + *got);
		if (n <= 0) {
			bool efs = errno == EACCES; /* libntfs-3g's answer for an encrypted file */
			*got = 0;
			close_open(v);
			return fail(v, EIO,
			            efs ? "MFT record %llu is encrypted (EFS), which libntfs-3g does not decrypt"
			                : "the data of MFT record %llu cannot be read",
			            ino);
		}
		*got += (size_t)n;
	}
	return 0;
}

int ins_ntfs_readlink(ins_ntfs *v, uint32_t ino, char *buf, size_t cap, size_t *len)
{
	int rc;
	char *target;
	ntfs_inode *ni = inode(v, ino, &rc);
	if (!ni)
		return rc;
	rc = link_target(v, ni, &target);
	ntfs_inode_close(ni);
	if (rc <= 0)
		return rc < 0 ? rc : fail(v, EINVAL, "MFT record %llu is not a link", ino);
	size_t n = strlen(target);
	if (n == 0 || n >= cap) {
		free(target);
		return fail(v, EIO, "the link of MFT record %llu is longer than a path", ino);
	}
	memcpy(buf, target, n);
	*len = n;
	free(target);
	return 0;
}

const char *ins_ntfs_label(const ins_ntfs *v)
{
	/* libntfs-3g read $Volume's $VOLUME_NAME when it mounted the volume
	 * (its UTF-16 turned into UTF-8, as blkid shows it). */
	return v->vol && v->vol->vol_name ? v->vol->vol_name : "";
}

/* ---- the helper's reader (ins_fs.h) ------------------------------------------ */

#include "ins_fs.h"

static ins_ntfs *helper_vol; /* the helper reads one volume */

static int helper_fetch(void *arg, void *buf, size_t len, uint64_t off)
{
	return ins_fetch(off, len, buf);
}

/* rc, its reason given to the helper. */
static int why_of(int rc)
{
	if (rc < 0)
		ins_why("%s", helper_vol->why);
	return rc;
}

static int h_open(uint64_t size, char *why, size_t cap)
{
	return ins_ntfs_open(helper_fetch, NULL, size, &helper_vol, why, cap);
}

static uint64_t h_root(void)
{
	return INS_NTFS_ROOT_INO;
}

static int h_stat(uint64_t ino, struct ins_stat *st)
{
	return ino > UINT32_MAX ? -ENOENT : why_of(ins_ntfs_stat(helper_vol, (uint32_t)ino, st));
}

static int h_lookup(uint64_t dir, const char *name, size_t len, uint64_t *ino)
{
	struct ins_stat st;
	int rc = dir > UINT32_MAX ? -ENOENT : ins_ntfs_lookup(helper_vol, (uint32_t)dir, name, len, &st);
	if (rc < 0)
		return why_of(rc);
	*ino = st.ino;
	return 0;
}

/* A page of a directory for the helper (issue 47): libntfs-3g's walk
 * from a position of its own (an entry's place in the index root, or in
 * the index allocation past the MFT record's size), which it resumes at
 * without reading the index before it; position pos + 1 follows the
 * entry at pos.  Names and numbers only: the helper asks each one's
 * attributes after the walk (which is not interleaved with opening other
 * records). */
struct page_walk {
	ins_add_fn add;
	void *arg;
	int rc;
	s64 from; /* entries before it were a page before */
};

/* Where libntfs-3g's walk may resume for position from: in the index
 * allocation, only at the start of a group of 8 index blocks (one byte of
 * its bitmap: it checks the bitmap from that byte's first bit whatever
 * block it resumes at, and past the last block in use reads one that is
 * not, EIO — a listing of 3,000 names failed so).  The page passes the
 * entries of the group before from: at most 7 index blocks, read again
 * (mostly from the cache), whatever the directory's size. */
static s64 resume_at(ntfs_inode *ni, s64 from)
{
	s64 mft = ni->vol->mft_record_size;
	u32 ibs = 0;
	if (from < mft)
		return from; /* ".", "..", the index root: resumed exactly */
	ntfs_attr_search_ctx *ctx = ntfs_attr_get_search_ctx(ni, NULL);
	if (ctx && !ntfs_attr_lookup(AT_INDEX_ROOT, NTFS_INDEX_I30, 4, CASE_SENSITIVE, 0, NULL, 0, ctx)) {
		const INDEX_ROOT *ir = (const INDEX_ROOT *)((const u8 *)ctx->attr + le16_to_cpu(ctx->attr->value_offset));
		ibs = le32_to_cpu(ir->index_block_size);
	}
	if (ctx)
		ntfs_attr_put_search_ctx(ctx);
	if (ibs < NTFS_BLOCK_SIZE || (ibs & (ibs - 1)) || ibs > (1u << 20))
		return from; /* libntfs-3g's walk judges that index itself */
	s64 group = (s64)ibs * 8;
	return mft + (from - mft) / group * group;
}

static int page_one(void *arg, const ntfschar *uname, const int ulen, const int type, const s64 pos,
                    const MFT_REF mref, const unsigned dt_type)
{
	struct page_walk *w = arg;
	u64 rec = MREF(mref);
	char *name = NULL;
	(void)dt_type;
	if (type == FILE_NAME_DOS || (rec < FILE_first_user && rec != FILE_root) || rec > UINT32_MAX ||
	    pos < w->from || (uint64_t)pos >= INS_POS_MAX)
		return 0;
	int len = ntfs_ucstombs(uname, ulen, &name, 0);
	if (len > 0 && !(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.'))
		w->rc = w->add(w->arg, (uint32_t)rec, name, (size_t)len, 0, (uint64_t)pos + 1);
	free(name);
	return w->rc ? -1 : 0;
}

static int h_list(uint64_t dir, uint64_t from, ins_add_fn add, void *arg)
{
	struct page_walk w = {add, arg, 0, (s64)from};
	int rc;
	if (dir > UINT32_MAX || from >= INS_POS_MAX)
		return -ENOENT;
	ntfs_inode *ni = inode(helper_vol, (uint32_t)dir, &rc);
	if (!ni)
		return why_of(rc);
	if (!(ni->mrec->flags & MFT_RECORD_IS_DIRECTORY)) {
		ntfs_inode_close(ni);
		return why_of(fail(helper_vol, ENOTDIR, "MFT record %llu is not a directory", (unsigned long long)dir));
	}
	s64 pos = resume_at(ni, (s64)from);
	errno = 0;
	if (ntfs_readdir(ni, &pos, &w, page_one) < 0 && !w.rc)
		w.rc = why_of(fail(helper_vol, EIO, "the index of directory %llu cannot be read", (unsigned long long)dir));
	ntfs_inode_close(ni);
	return w.rc;
}

static int h_read(uint64_t ino, uint64_t off, uint32_t len, void *buf, uint32_t *got)
{
	size_t n = 0;
	int rc = ino > UINT32_MAX ? -ENOENT : why_of(ins_ntfs_read(helper_vol, (uint32_t)ino, off, len, buf, &n));
	*got = (uint32_t)n;
	return rc;
}

static int h_readlink(uint64_t ino, char *buf, size_t len)
{
	char target[4096];
	size_t n = 0;
	int rc = ino > UINT32_MAX ? -ENOENT : ins_ntfs_readlink(helper_vol, (uint32_t)ino, target, sizeof(target), &n);
	if (rc < 0)
		return why_of(rc);
	if (n != len)
		return ins_why("the link of MFT record %llu changed its length", (unsigned long long)ino), -EIO;
	memcpy(buf, target, len);
	return 0;
}

static const char *h_label(void)
{
	return helper_vol ? ins_ntfs_label(helper_vol) : "";
}

const struct ins_fs_ops ins_fs_ntfs = {
	.kind = INS_FS_NTFS,
	.readme = "NTFS, read through libntfs-3g",
	.open = h_open,
	.root = h_root,
	.stat = h_stat,
	.lookup = h_lookup,
	.list = h_list,
	.read = h_read,
	.readlink = h_readlink,
	.label = h_label,
};

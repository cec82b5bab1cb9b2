/*
 * ins_fs.h — the readers of guest file systems an inside helper holds
 * (SPEC §18), one file each (ext.c, xfs.c, ...), behind one small table.
 *
 * helper.c owns the socket, the sandbox and the protocol; it asks the
 * reader of the kind the daemon named in INS_T_OPEN (the kind the daemon's
 * magic-number sniff found) and does what is common to all of them: the
 * bounds of a listing and its pages, the checks of a read's length against
 * the file's size, a link's bounds, the inode numbers the protocol carries
 * (SPEC §18: 32 bits; a guest's number past them is not shown).
 *
 * A reader sees the volume only through ins_fetch() and keeps what it
 * caches bounded: its memory is under the helper's RLIMIT_AS, its time
 * under RLIMIT_CPU, but neither is a design.  An error is -errno (ENOENT:
 * no such inode or name; EIO: the file system is damaged; ENOMEM) with,
 * for EIO, a one-line reason given to ins_why(): the daemon logs it.
 */
#ifndef IMGFS_INSIDE_FS_H
#define IMGFS_INSIDE_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ins_proto.h"

/* Called for each entry of a directory but "." and "..", in the
 * directory's order, with its type as the directory entry itself says it
 * (S_IFDIR, S_IFREG, ...: ext4's file_type with the filetype feature,
 * XFS's ftype, a FAT record's attribute; 0 where the entry does not say:
 * no inode is read for it, SPEC §18.7), the position the next entry starts at (after:
 * a walk from it goes on with that one; ins_proto.h, INS_POS_MAX); and,
 * with name NULL, once a directory block was read (after: where the walk
 * goes on), so that a page can stop after so many blocks whatever they
 * hold.  A nonzero return stops the walk and is returned. */
typedef int (*ins_add_fn)(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after);

/* Calls add for each extended attribute of an inode, by its full name as
 * Linux names it ("user.x", "security.capability", a POSIX ACL as
 * "system.posix_acl_access" in Linux's xattr format); a nonzero return of
 * add stops the walk and is returned.  An attribute whose value is
 * damaged (an ACL that does not convert) is added with value NULL after
 * ins_why() said why: it is listed, and reading it is EIO with the reason
 * (SPEC §18), never hidden. */
typedef int (*ins_xattr_fn)(void *arg, const char *name, size_t nlen, const void *value, size_t vlen);

/* A directory entry's file type as ext2/3/4 (EXT2_FT_*, with the filetype
 * feature) and XFS (XFS_DIR3_FT_*, with ftype) store it, the same numbers:
 * its S_IF* bits, 0 for unknown (and for XFS's whiteout, 8). */
static inline unsigned ins_ftype(unsigned ft)
{
	static const unsigned type[8] = {0, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_IFLNK};
	return ft < 8 ? type[ft] : 0;
}

struct ins_fs_ops {
	uint32_t kind;       /* INS_FS_* */
	const char *readme;  /* files/README's line: "ext2/3/4, read through libext2fs" */
	/* Opens the volume of size bytes: 0, or -errno with the reason in
	 * why (cap bytes). */
	int (*open)(uint64_t size, char *why, size_t cap);
	/* The root directory's inode number. */
	uint64_t (*root)(void);
	/* st's every field but ino (helper.c sets it). */
	int (*stat)(uint64_t ino, struct ins_stat *st);
	int (*lookup)(uint64_t dir, const char *name, size_t len, uint64_t *ino);
	/* From position from (0: the start; else an after a walk gave): the
	 * walk costs what it reads from there on, never the directory before
	 * it (issue 47).  A from that is no entry's start (a seekdir of the
	 * caller's own) lists from the next one it can tell, or is EIO. */
	int (*list)(uint64_t dir, uint64_t from, ins_add_fn add, void *arg);
	/* Up to len bytes of regular file ino at off (off + len within the
	 * size stat gave): *got bytes, fewer only at its end. */
	int (*read)(uint64_t ino, uint64_t off, uint32_t len, void *buf, uint32_t *got);
	/* A symbolic link's target of *len bytes (size from stat, 1..cap-1). */
	int (*readlink)(uint64_t ino, char *buf, size_t len);
	/* ino's extended attributes (NULL: this reader shows none). */
	int (*xattrs)(uint64_t ino, ins_xattr_fn add, void *arg);
	/* The volume's label where its first 4 KiB do not hold it (NTFS:
	 * $Volume's $VOLUME_NAME), UTF-8, "" when it has none (NULL: the
	 * daemon's probe reads it, ins_ident.h). */
	const char *(*label)(void);
	/* Reads ahead, in one exchange, what stat will read of each of n
	 * inodes (numbers in increasing order: a page's, SPEC §18.7), so that
	 * a page's attributes cost one round trip, not one an inode's block
	 * (NULL: none). */
	void (*prefetch)(const uint64_t *ino, size_t n);
	/* Where inode ino's record lies on the volume (a byte offset), read
	 * from what the reader holds (no block read), UINT64_MAX when it
	 * cannot tell: a page with attributes holds the inodes of at most
	 * INS_LIST_SPREAD MiB-pieces of the volume (SPEC §18.7; NULL: no
	 * such bound, a page's inodes lie together). */
	uint64_t (*inode_at)(uint64_t ino);
};

extern const struct ins_fs_ops ins_fs_ext;
/* The directory blocks ext's lookups have read since the helper started
 * (an htree's index and leaves; a walk without one: the directory's
 * size in blocks): what its unit test counts (SPEC §18.7). */
unsigned ins_ext_dir_reads(void);
extern const struct ins_fs_ops ins_fs_fat;  /* fat.c: imgfs's own reader */
extern const struct ins_fs_ops ins_fs_ntfs; /* ntfs.c: through libntfs-3g */
extern const struct ins_fs_ops ins_fs_xfs;  /* xfs.c: imgfs's own reader */

/* The reader of kind, or NULL. */
const struct ins_fs_ops *ins_fs_find(uint32_t kind);

/* len bytes of the volume at off (the daemon's, over the socket): 0, or
 * -EIO when part of them lies past the volume's end (that part zeros). */
int ins_fetch(uint64_t off, size_t len, void *buf);

/* n pieces of the volume in one exchange (a page's inodes' blocks): each
 * inside the volume, n <= INS_READV_MAX, INS_MAX_PAYLOAD bytes at most in
 * all; data gets them one after the other. */
int ins_fetchv(const struct ins_req_blk *piece, unsigned n, void *data);

/* The reason of the error a reader is about to return (printf format). */
void ins_why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

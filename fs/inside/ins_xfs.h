/*
 * ins_xfs.h — what xfs.c (the XFS reader, SPEC §18) gives xfs_attr.c (its
 * extended attributes): an inode's attribute fork and its blocks, read
 * and checked as the data fork's are.  Private to those two files.
 */
#ifndef IMGFS_INS_XFS_H
#define IMGFS_INS_XFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ins_fs.h"

/* An inode's attribute fork, as its inode holds it. */
struct ins_xfs_afork {
	bool present;      /* the inode has one (its fork offset is not 0) */
	bool v5;           /* the file system's blocks carry headers and CRCs */
	unsigned format;   /* 1 shortform (in fork), 2 extents, 3 btree */
	uint64_t nextents;
	uint32_t blocksize;
	uint32_t size;     /* bytes of fork */
	uint8_t fork[2048];
};

/* What xfs_attr.c needs of xfs.c, handed over as a table (xfs.c calls
 * xfs_attr.c, which never names xfs.c's functions: no circle).  afork: ino's
 * attribute fork (0 or -errno: ENOENT, EIO with the reason); block: block
 * fb of it into buf (blocksize bytes: 0, or -EIO when not mapped or
 * outside the volume); crc_ok: whether the CRC-32C at p + at (little-endian)
 * is that of p's len bytes with it taken as zero (v5 metadata). */
struct ins_xfs_access {
	int (*afork)(uint64_t ino, struct ins_xfs_afork *out);
	int (*block)(uint64_t ino, uint64_t fb, uint8_t *buf);
	bool (*crc_ok)(const uint8_t *p, size_t len, size_t at);
};

/* xfs_attr.c: ino's extended attributes (ins_fs_ops.xattrs, through x). */
int ins_xfs_xattrs(const struct ins_xfs_access *x, uint64_t ino, ins_xattr_fn add, void *arg);

#endif

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

/* ino's attribute fork: 0 or -errno (ENOENT, EIO with the reason). */
int ins_xfs_afork(uint64_t ino, struct ins_xfs_afork *out);
/* Block fb of ino's attribute fork (extents or btree form) into buf
 * (blocksize bytes): 0, or -EIO (not mapped, outside the volume). */
int ins_xfs_attr_block(uint64_t ino, uint64_t fb, uint8_t *buf);

/* Whether the CRC-32C at p + at (little-endian) is that of p's len bytes
 * with it taken as zero (v5 metadata). */
bool ins_xfs_crc_ok(const uint8_t *p, size_t len, size_t at);

/* xfs_attr.c: the reader's ins_fs_ops.xattrs. */
int ins_xfs_xattrs(uint64_t ino, ins_xattr_fn add, void *arg);

#endif

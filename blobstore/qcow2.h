/*
 * qcow2.h — reading QCOW2 image files (versions 2 and 3) as the raw disk
 * they describe.
 *
 * Who calls it: model/ (type conversion §6.2, rebuild §6.5, upload and URL
 * import validation §5.2-§5.3), the fuzz target tests/fuzz/fuzz_qcow2.c.
 * The file comes from a user: every offset, size and count read from it is
 * checked before use; a malformed file is -EINVAL with a one-line reason,
 * never a crash, never a read outside a buffer, never memory or time that
 * grows with a number the file claims rather than with the work done.
 *
 * What is decoded: the header (v2 72 bytes, v3 104+ bytes) and its
 * extensions, the L1 table, L2 tables (standard 64-bit entries; extended L2
 * entries are refused), normal data clusters, zero clusters (v3 flag), and
 * zlib-compressed clusters (raw deflate, compression type 0).  What is
 * refused with a reason: a backing file, encryption, an external data file,
 * unknown incompatible feature bits, compression types other than zlib,
 * a cluster size outside 512 B .. 2 MiB, a virtual size of 0 or above
 * QCOW2_MAX_SIZE.  Refcounts and snapshots are not needed to read the
 * active disk and are ignored.
 */
#ifndef IMGFS_QCOW2_H
#define IMGFS_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define QCOW2_MAX_SIZE (64ull << 40) /* largest virtual size accepted: 64 TiB */
/* Bytes of the file's start that qcow2_check_header needs to see at most
 * (header and extensions live in the first cluster; more is harmless). */
#define QCOW2_HEAD_MAX 65536

struct qcow2_info {
	uint32_t version;      /* 2 or 3 */
	uint32_t cluster_bits; /* 9..21 */
	uint64_t size;         /* virtual size in bytes */
	uint64_t l1_offset;
	uint32_t l1_entries;
	bool compressed;       /* (informational) compressed clusters are decodable: their
	                        * type is zlib; true for every accepted header, whose
	                        * compression type is refused otherwise */
};

/* Whether buf starts with the QCOW2 magic "QFI\xfb" (the upload sniff). */
bool qcow2_sniff(const void *buf, size_t len);

/* Parses and checks the header from the first len bytes of the file (len
 * >= 72; extensions beyond len are not checked unless len reaches them).
 * file_size is the file's length (0: unknown; when known, the L1 table
 * must lie inside it).  0 and *out filled, or -EINVAL with why. */
int qcow2_check_header(const void *head, size_t len, uint64_t file_size, struct qcow2_info *out, char *why,
                       size_t why_cap);

/* The file's bytes, pread-like: returns the number of bytes read (short
 * only at the end of the file) or -errno. */
typedef ssize_t (*qcow2_read_fn)(void *arg, void *buf, size_t len, uint64_t off);

/* A reader of the virtual disk.  Not thread-safe: one reader per thread. */
typedef struct qcow2_reader qcow2_reader;
/* Reads and checks the header and the L1 table.  0, -EINVAL (malformed or
 * refused, why filled), -EIO/-errno from rd, -ENOMEM. */
int qcow2_reader_new(qcow2_reader **out, qcow2_read_fn rd, void *arg, uint64_t file_size, char *why,
                     size_t why_cap);
const struct qcow2_info *qcow2_reader_info(const qcow2_reader *r);
/* Reads len bytes of the virtual disk at off (clamped to the size) into
 * buf; unallocated and zero clusters read as zeros.  *hole_out (may be
 * NULL) is set to whether no byte of the range came from the file (all of
 * it unallocated or zero-flagged clusters, where `qemu-img map` says
 * "data": false; the caller may store a hole without scanning).  Returns
 * the bytes read, -EINVAL (malformed: an L2 table or cluster outside the
 * file, a corrupt compressed cluster; the reason in qcow2_reader_why), or
 * -errno. */
ssize_t qcow2_pread(qcow2_reader *r, void *buf, size_t len, uint64_t off, bool *hole_out);
/* The reason of the last -EINVAL. */
const char *qcow2_reader_why(const qcow2_reader *r);
/* Checks every table the active disk uses against the file (SPEC §5.3: an
 * upload is judged whole, not when it is first read): each L2 table and
 * each data or compressed cluster it maps lies inside the file (r needs a
 * known file_size) and is aligned.  A QCOW2 cut short after its L1 table
 * — an interrupted download — fails here.  0, or -EINVAL with the reason
 * in qcow2_reader_why.  Reads each L2 table once, no data cluster. */
int qcow2_check_tables(qcow2_reader *r);
void qcow2_reader_free(qcow2_reader *r); /* accepts NULL */

#endif

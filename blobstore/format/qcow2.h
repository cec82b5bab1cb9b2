/*
 * qcow2.h — reading QCOW2 image files (versions 2 and 3) as the raw disk
 * they describe.
 *
 * Who calls it: qcow2_in.c (a stored QCOW2 blob decoded into raw chunks:
 * type conversion §6.2, rebuild §6.5, uploads §5.3), format.c and
 * model/ (upload and URL import validation §5.2-§5.3), the fuzz target
 * tests/fuzz/fuzz_qcow2.c (which builds from qcow2.c alone: this file
 * needs nothing of the chunk store).
 * The file comes from a user: every offset, size and count read from it is
 * checked before use; a malformed file is -EINVAL with a one-line reason,
 * never a crash, never a read outside a buffer, never memory or time that
 * grows with a number the file claims rather than with the work done.
 *
 * What is decoded: the header (v2 72 bytes, v3 104+ bytes) and its
 * extensions, the L1 table, L2 tables (standard 64-bit entries and
 * extended 128-bit ones with 32 subclusters a cluster), normal data
 * clusters and subclusters, zero clusters and subclusters (v3 flag), and
 * zlib-compressed clusters (raw deflate, compression type 0).  What is
 * refused with a reason: a backing file, encryption, an external data
 * file, unknown incompatible feature bits, compression types other than
 * zlib, a cluster size outside 512 B .. 2 MiB, a virtual size of 0 or
 * above QCOW2_MAX_SIZE.  Refcounts and snapshots are not needed to read
 * the active disk; their tables are checked as qemu checks them when it
 * opens an image (so that a file qemu would not open is never accepted),
 * not read.
 *
 * What is checked, and where (qemu's qcow2_do_open and
 * qcow2_read_snapshots are the reference; every refusal names the field):
 *
 *   qcow2_check_header  magic; version 2 or 3; cluster_bits 9..21;
 *       (the header)    header_length 104.. one cluster, a multiple of 8;
 *                       incompatible_features: no unknown bit, not
 *                       corrupt, no data file, extended L2 only with
 *                       subclusters of >= 512 bytes; the compression type
 *                       zlib and its feature bit clear (qemu: set exactly
 *                       when the type is not zlib); autoclear_features
 *                       without data-file-raw (it needs a data file);
 *                       refcount_order <= 6; crypt_method 0; no backing
 *                       file; size 1 .. QCOW2_MAX_SIZE; the refcount table
 *                       (refcount_table_clusters 1 .. 8 MiB of table,
 *                       refcount_table_offset cluster aligned, inside the
 *                       file); nb_snapshots <= 65536, snapshots_offset
 *                       cluster aligned and the table's fixed part inside
 *                       the file; the L1 table (l1_size enough for the
 *                       size, at most 32 MiB, l1_table_offset cluster
 *                       aligned, inside the file); the header extensions
 *                       in the first cluster (no data file, no crypto
 *                       header, a backing format name under 16 bytes, a
 *                       bitmaps extension qemu would take).
 *   qcow2_check_tables  the snapshot table walked entry by entry (at most
 *       (the whole file)    1024 bytes of extra data each, 64 MiB in all,
 *                       inside the file); every L1 entry (the whole table,
 *                       the VM-state tail included) aligned and inside the
 *                       file; every L2 entry of the disk: data clusters
 *                       (their allocated subclusters) aligned and inside
 *                       the file, zero clusters with an allocation
 *                       aligned, subcluster bitmaps valid, and every
 *                       compressed cluster inflated: it must fill exactly
 *                       one cluster.
 *
 * What validation costs is bounded by the file, not by what its header
 * claims: each distinct L2 table is read once (an L1 table that names one
 * table from many entries makes no more work), and each lies in the file,
 * so at most file size / 8 entries are looked at and inflated (a
 * conversion, which reads every cluster of the disk, does more).
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
	bool extended_l2;      /* 128-bit L2 entries: 32 subclusters a cluster */
	uint32_t refcount_order;
	uint64_t refcount_table_offset;
	uint32_t refcount_table_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
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
/* The start of the first cluster at or after the one holding off whose
 * bytes come from the file (what qcow2_pread does not call a hole), or
 * the virtual size when none does: *out.  Unallocated L2 tables are
 * skipped whole, so walking a disk from data to data costs what its
 * tables hold, not its virtual size.  0, -EINVAL (reason in
 * qcow2_reader_why), -errno. */
int qcow2_next_data(qcow2_reader *r, uint64_t off, uint64_t *out);
/* The reason of the last -EINVAL. */
const char *qcow2_reader_why(const qcow2_reader *r);
/* Checks the whole file as qemu would find it (SPEC §5.3: an upload is
 * judged whole, not when it is first read; the list is in the comment at
 * the top): the snapshot table, every L1 entry, each L2 table and each
 * data or compressed cluster it maps inside the file (r needs a known
 * file_size) and aligned, every compressed cluster decodable.  A QCOW2
 * cut short after its L1 table — an interrupted download — fails here.
 * 0, or -EINVAL with the reason in qcow2_reader_why.  Reads each distinct
 * L2 table once and each compressed cluster, no other data cluster. */
int qcow2_check_tables(qcow2_reader *r);
void qcow2_reader_free(qcow2_reader *r); /* accepts NULL */

#endif

/*
 * qcow2_out.h — a sealed blob as a QCOW2 (version 3) file, made on the fly
 * (SPEC §14: `qcow2` download links).
 *
 * Who calls it: fs/serve/ (a qcow2 link's bytes, any range), the unit tests.
 *
 * The layout is a function of the manifest alone: the same manifest gives
 * the same file, byte for byte, on every request, so ranges and resumes of
 * one link fit together.  Holes are not in the file (unallocated clusters
 * read as zeros); each data chunk is one 1 MiB cluster.  Clusters, in
 * order:
 *
 *   0                      header (v3, 104 bytes, no extensions)
 *   1 .. L1                the L1 table (one entry per 128 GiB of disk)
 *   then                   the refcount table, then the refcount blocks
 *                          (16-bit refcounts, every cluster of the file 1)
 *   then                   one L2 table per 128 GiB range that has data
 *   then                   the data chunks in disk order; the last one
 *                          zero-padded to a whole cluster
 *
 * L1 and L2 entries carry the COPIED flag (refcount 1), as qemu writes
 * them, so `qemu-img check` finds nothing to say.  Metadata bytes are
 * computed for the range asked (no table is kept in memory); data bytes
 * come from blob_store_read, verified like every read (-EIO on a bad
 * chunk, never wrong bytes).
 */
#ifndef IMGFS_QCOW2_OUT_H
#define IMGFS_QCOW2_OUT_H

#include "blobstore.h"

typedef struct qcow2_out qcow2_out;

/* The layout of m's QCOW2 (m must outlive it).  -ENOMEM, -EINVAL (size 0). */
int qcow2_out_new(qcow2_out **out, const blob_manifest *m);
void qcow2_out_free(qcow2_out *q); /* accepts NULL */
/* Length of the file in bytes. */
uint64_t qcow2_out_size(const qcow2_out *q);
/* len bytes of the file at off (clamped to its length) into buf; data from
 * s.  Returns the bytes produced, or -EIO / -errno. */
ssize_t qcow2_out_read(qcow2_out *q, blob_store *s, void *buf, size_t len, uint64_t off);

#endif

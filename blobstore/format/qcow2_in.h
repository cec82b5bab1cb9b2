/*
 * qcow2_in.h — a QCOW2 file stored as a blob, decoded into the raw disk it
 * describes, as a new blob of the same store (the other way from
 * qcow2_out.h).
 *
 * Who calls it: model/ — type conversion (SPEC §6.2, model/task/convert.c),
 * an upload's qcow2 disk (§5.3, model/task/upload.c) and a rebuild from a
 * QCOW2 image (§6.5, model/meta/instance.c); the unit tests.
 *
 * The file is read through blob_store_read (every chunk verified) by
 * qcow2_reader (qcow2.h, which checks everything a user's file may get
 * wrong), 1 MiB of virtual disk at a time, into a blob_batch.  A range the
 * decoder reports as a hole is not read, hashed or stored, and runs of
 * chunks without a cluster are skipped in one step (qcow2_next_data): a
 * 64 TiB disk holding 1 GiB costs 1 GiB.  The batch is committed before
 * the manifest is returned, so the caller may name its ids at once.
 */
#ifndef IMGFS_QCOW2_IN_H
#define IMGFS_QCOW2_IN_H

#include "blobstore.h"

/* Decodes the QCOW2 file whose manifest is src into the raw disk's
 * manifest *out, its chunks stored and committed in s.  tick(arg, bytes of
 * the disk done) between chunks (may be NULL) stops the decode when it
 * returns non-zero: 0 with *out NULL, nothing committed.  0, -errno, or
 * -EINVAL with a one-line reason in why (why_cap bytes) for a file the
 * decoder refuses. */
int qcow2_in_decode(blob_store *s, const blob_manifest *src, blob_manifest **out,
                    int (*tick)(void *arg, uint64_t done), void *arg, char *why, size_t why_cap);

#endif

/*
 * qcow2_in.c — a QCOW2 blob decoded into a raw one (qcow2_in.h).
 *
 * Who calls it: model/ (conversion, uploads, rebuilds).  The file's
 * checks are qcow2.c's; here only the walk over the virtual disk: the
 * next chunk that has a cluster (runs without one are skipped in one
 * step), read whole, handed to the batch unless the decoder says the
 * range reads as zeros.  The raw blob is sealed under the file's key
 * (SPEC §17: a decoded encrypted image stays in its lineage).  A failure
 * or a stop leaves no manifest and
 * nothing committed: chunks the batch wrote are named by nothing and gc
 * drops them after its grace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "qcow2.h"
#include "qcow2_in.h"

/* The source blob as the decoder's file. */
struct in_src {
	blob_store *s;
	const blob_manifest *man;
};

static ssize_t in_read(void *arg, void *buf, size_t len, uint64_t off)
{
	struct in_src *cs = arg;
	return blob_store_read(cs->s, cs->man, buf, len, off);
}

int qcow2_in_decode(blob_store *s, const blob_manifest *src, blob_manifest **out,
                    int (*tick)(void *arg, uint64_t done), void *arg, char *why, size_t why_cap)
{
	struct in_src cs = {s, src};
	qcow2_reader *q = NULL;
	blob_manifest *man = NULL;
	blob_batch *b = NULL;
	uint8_t *buf = NULL;
	uint64_t size;
	int rc;

	*out = NULL;
	if ((rc = qcow2_reader_new(&q, in_read, &cs, src->size, why, why_cap)) < 0)
		return rc;
	size = qcow2_reader_info(q)->size;
	/* The raw disk is of the file's lineage: sealed under its key. */
	if ((rc = blob_manifest_new(&man, size)) < 0 || (rc = blob_batch_new_key(&b, s, src->key)) < 0 ||
	    (rc = (buf = malloc(BLOB_CHUNK_SIZE)) ? 0 : -ENOMEM) < 0)
		goto out;
	blob_manifest_set_key(man, src->key);
	for (uint32_t i = 0; i < man->nchunks;) {
		uint64_t off = (uint64_t)i << BLOB_CHUNK_SHIFT, next;
		size_t len = blob_chunk_len(size, i);
		bool hole = false;
		ssize_t got;
		chunk_id id;
		/* Chunks with no cluster from the file stay holes, skipped in
		 * one step: a 64 TiB disk holding 1 GiB costs 1 GiB. */
		if ((rc = qcow2_next_data(q, off, &next)) < 0) {
			if (rc == -EINVAL)
				snprintf(why, why_cap, "%s", qcow2_reader_why(q));
			goto out;
		}
		if (next >> BLOB_CHUNK_SHIFT > i) {
			i = next >= size ? man->nchunks : (uint32_t)(next >> BLOB_CHUNK_SHIFT);
			if (tick && tick(arg, next)) {
				rc = 0;
				goto out;
			}
			continue;
		}
		if ((got = qcow2_pread(q, buf, len, off, &hole)) < 0 || (size_t)got != len) {
			if ((rc = got < 0 ? (int)got : -EIO) == -EINVAL)
				snprintf(why, why_cap, "%s", qcow2_reader_why(q));
			goto out;
		}
		/* A hole stays a hole: not hashed, not stored. */
		if (!hole && ((rc = blob_batch_add(b, &id, buf, len)) < 0 || (rc = blob_manifest_set(man, i, &id)) < 0))
			goto out;
		if (tick && tick(arg, off + len)) {
			rc = 0; /* stopped: nothing committed, *out stays NULL */
			goto out;
		}
		i++;
	}
	if ((rc = blob_batch_commit(b)) < 0)
		goto out;
	*out = man;
	man = NULL;
	rc = 0;
out:
	free(buf);
	blob_batch_free(b);
	blob_manifest_free(man);
	qcow2_reader_free(q);
	return rc;
}

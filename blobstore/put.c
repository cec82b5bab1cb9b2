/*
 * put.c — storing whole immutable blobs, from a descriptor or from memory.
 *
 * Who calls it: model/ for admin publish, the platform catalogue and URL
 * imports (blob_store_put_fd), and tests and small generated disks
 * (blob_store_put_buf; put_buf_key seals them under a key: an encrypted
 * instance's cloud-init seed, SPEC §17).
 *
 * The blob is cut into aligned BLOB_CHUNK_SIZE chunks (the last may be
 * short); all go through one blob_batch (batch.c), which turns all-zero
 * chunks into holes, writes the others while the next is read, and is
 * committed — every chunk durable — before the manifest is returned (the
 * caller commits it next).  After a failure nothing uncommitted is
 * visible; committed chunks wait unreferenced for gc.
 *
 * put_fd reads with read() from the descriptor's current position, exactly
 * size bytes, so it works on pipes; end of input before size bytes is -EIO.
 * When the descriptor is a regular file it also asks lseek(SEEK_DATA) where
 * the next data is and skips the hole chunks before it without reading
 * them, in one step however many, so publishing a 40 GiB sparse image
 * holding 100 MiB reads about 100 MiB and a 4 PiB one costs nothing per
 * hole.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore_int.h"

/* For a regular file holding a blob in [start, end), at position pos (a
 * chunk's start): the start of the chunk holding the next data the file
 * system knows of (end when none), with the position moved there; pos
 * itself when its chunk holds data or SEEK_DATA does not answer.  A run
 * of hole chunks is one step, however long. */
static uint64_t skip_holes(int fd, uint64_t start, uint64_t pos, uint64_t end)
{
	off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
	uint64_t to;

	if (data < 0 && errno != ENXIO)
		return pos; /* SEEK_DATA unsupported: just read */
	to = data < 0 || (uint64_t)data >= end ? end : start + (((uint64_t)data - start) & ~BLOB_CHUNK_MASK);
	if (to <= pos || lseek(fd, (off_t)to, SEEK_SET) < 0) {
		lseek(fd, (off_t)pos, SEEK_SET); /* back where we were */
		return pos;
	}
	return to;
}

int blob_store_put_fd(blob_store *s, blob_manifest **out, int fd, uint64_t size)
{
	blob_manifest *m = NULL;
	blob_batch *b = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	int64_t pos = -1; /* file position of a regular file, else -1 */
	int rc;

	if ((rc = blob_manifest_new(&m, size)) < 0 || (rc = blob_batch_new(&b, s)) < 0)
		goto out;
	buf = blob_chunk_buf_new(); /* handed to the batch in exchange for another */
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		pos = lseek(fd, 0, SEEK_CUR);
		if (pos >= 0 && (uint64_t)st.st_size < (uint64_t)pos + size) {
			rc = -EIO; /* shorter than promised */
			goto out;
		}
	}

	for (uint32_t i = 0; i < m->nchunks; i++) {
		size_t clen;
		chunk_id id;
		ssize_t n;

		if (pos >= 0) {
			uint64_t start = (uint64_t)pos - ((uint64_t)i << BLOB_CHUNK_SHIFT); /* the blob's offset 0 */
			uint64_t to = skip_holes(fd, start, (uint64_t)pos, start + size);
			if (to != (uint64_t)pos) { /* holes up to there: the chunks stay holes */
				pos = (int64_t)to;
				i = (uint32_t)((to - start) >> BLOB_CHUNK_SHIFT);
				if (i >= m->nchunks)
					break;
			}
		}
		clen = blob_chunk_len(size, i);
		n = blob_read_full(fd, buf, clen);
		if (n < 0) {
			rc = (int)n;
			goto out;
		}
		if ((size_t)n != clen) {
			rc = -EIO;
			goto out;
		}
		if (pos >= 0)
			pos += (int64_t)clen;
		if ((rc = blob_batch_add_buf(b, &id, &buf, clen)) < 0 || (rc = blob_manifest_set(m, i, &id)) < 0)
			goto out;
	}
	if ((rc = blob_batch_commit(b)) < 0)
		goto out;
	*out = m;
	m = NULL;
	rc = 0;
out:
	blob_batch_free(b);
	free(buf);
	blob_manifest_free(m);
	return rc;
}

int blob_store_put_buf(blob_store *s, blob_manifest **out, const void *buf, uint64_t size)
{
	return blob_store_put_buf_key(s, NULL, out, buf, size);
}

int blob_store_put_buf_key(blob_store *s, const blob_key *key, blob_manifest **out, const void *buf, uint64_t size)
{
	blob_manifest *m = NULL;
	blob_batch *b = NULL;
	int rc;

	if ((rc = blob_manifest_new(&m, size)) < 0 || (rc = blob_batch_new_key(&b, s, key)) < 0)
		goto out;
	blob_manifest_set_key(m, key);
	for (uint32_t i = 0; i < m->nchunks; i++) {
		const uint8_t *p = (const uint8_t *)buf + ((uint64_t)i << BLOB_CHUNK_SHIFT);
		chunk_id id;

		if ((rc = blob_batch_add(b, &id, p, blob_chunk_len(size, i))) < 0 ||
		    (rc = blob_manifest_set(m, i, &id)) < 0)
			goto out;
	}
	if ((rc = blob_batch_commit(b)) < 0)
		goto out;
	*out = m;
	m = NULL;
	rc = 0;
out:
	blob_batch_free(b);
	blob_manifest_free(m);
	return rc;
}

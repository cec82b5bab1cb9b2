/*
 * wblob_chunk.c — one chunk's bytes wherever its state places them: in
 * its overlay (plain, or through the key by XTS sector: wblob_crypt.c),
 * in its arrived file (wblob_arr.c), in a stored chunk (the base's or one
 * taken by id), or nowhere (zeros).  Reads, the copy of a stored chunk
 * into the overlay that a partial write makes first, a whole chunk
 * written into the overlay, and zeroing.  The order of the steps around
 * these (data before the state byte): wblob.c's header comment.
 *
 * Who calls it: the core and the streamer.  It calls the file, state and
 * crypt layers and reads arrived files; never a plug-in's state.  A chunk
 * a plug-in holds in memory is the core's to ask about first, and a
 * WB_STREAMED chunk is read only once the streamer committed its batch
 * (wb_stream_commit).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wblob_int.h"

/* pwrite into an overlay file (through the key when the wblob has one),
 * keeping its len up to date when it grows. */
int wb_overlay_write(blob_wblob *w, struct wb_file *f, const void *buf, size_t n, uint64_t off)
{
	int rc = w->key ? wb_crypt_write(w, f, buf, n, off) : wb_file_pwrite(f, buf, n, off);

	if (rc == 0)
		wb_file_ran(f, n, off);
	return rc;
}

int wb_overlay_read(blob_wblob *w, struct wb_file *f, void *buf, size_t n, uint64_t off)
{
	ssize_t got;

	if (w->key)
		return wb_crypt_read(w, f, buf, n, off);
	if ((got = blob_pread_full(f->fd, buf, n, off)) < 0)
		return (int)got;
	/* Past the end this handle knows of, zeros; short before it, the file
	 * was cut under the open wblob (outside imgfs): not zeros, EIO. */
	if ((uint64_t)got < n && off + (uint64_t)got < f->len) {
		blob_log_line(&w->s->log, "writable blob %s: an overlay was cut to %llu bytes under it (it had %llu): EIO",
		              w->name, (unsigned long long)(off + (uint64_t)got), (unsigned long long)f->len);
		return -EIO;
	}
	memset((uint8_t *)buf + got, 0, n - (size_t)got);
	return 0;
}

int wb_zero_overlay(blob_wblob *w, struct wb_file *f, uint64_t off, uint64_t len)
{
	return w->key ? wb_crypt_zero(w, f, off, len) : wb_zero_plain(f, off, len);
}

int wb_zero_chunk(blob_wblob *w, uint32_t i, enum wb_state st, size_t a, size_t n)
{
	struct wb_file *f;
	uint64_t off;
	int rc;

	if (w->cl)
		return wb_cl_zero(w, i, a, n);
	if ((rc = wb_overlay_at(w, i, st, false, &f, &off)) < 0 || f == NULL)
		return rc;
	return wb_zero_overlay(w, f, off + a, n);
}

/* Bytes [a, a + n) of chunk i as its stored chunk shows them (states 0,
 * 2, 3), or its arrived file (6). */
static int read_stored(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	size_t sl = wb_stored_len(w, i);
	size_t m = 0;
	int rc;

	if (wb_state_of(w, i) == WB_ARRIVED)
		return wb_arr_read(w, i, dst, a, n);
	if (a < sl) {
		m = sl - a < n ? sl - a : n;
		/* The base's chunks and the streamed ones: all under w's key. */
		if ((rc = blob_store_read_chunk(w->s, w->key, wb_stored_id(w, i), sl, dst, a, m)) < 0)
			return rc;
	}
	memset(dst + m, 0, n - m);
	return 0;
}

int wb_read_placed(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	enum wb_state st = wb_state_of(w, i);
	struct wb_file *f;
	uint64_t off;
	int rc;

	if (st == WB_PATCHED)
		return wb_pt_read(w, i, dst, a, n);
	if (!wb_is_overlay(st))
		return read_stored(w, i, dst, a, n);
	if (w->cl)
		return wb_cl_read(w, i, a, dst, n);
	if ((rc = wb_overlay_at(w, i, st, false, &f, &off)) < 0)
		return rc;
	if (f == NULL) {
		/* State 5 names a .data.<k> made, and synced, before the state
		 * byte: gone, it was lost outside imgfs.  Never zeros. */
		blob_log_line(&w->s->log, "writable blob %s: the overlay of chunk %u is missing: EIO", w->name, i);
		return -EIO;
	}
	return wb_overlay_read(w, f, dst, n, off + a);
}

int wb_copy_stored(blob_wblob *w, uint32_t i, enum wb_state st, size_t keep)
{
	struct wb_file *f = NULL;
	uint8_t *buf = NULL;
	uint64_t off;
	int rc;

	/* A cluster chunk's object is emptied and written in one operation;
	 * a file's region is punched first. */
	if (!w->cl && ((rc = wb_overlay_at(w, i, st, true, &f, &off)) < 0 ||
	               (rc = wb_zero_overlay(w, f, off, BLOB_CHUNK_SIZE)) < 0))
		return rc;
	if (keep == 0)
		return w->cl ? wb_cl_write(w, i, 0, NULL, 0, true) : 0;
	buf = malloc(keep);
	if (buf == NULL)
		return -ENOMEM;
	if ((rc = read_stored(w, i, buf, 0, keep)) < 0)
		goto out;
	rc = w->cl ? wb_cl_write(w, i, 0, buf, keep, true) : wb_overlay_write(w, f, buf, keep, off);
out:
	free(buf);
	return rc;
}

int wb_cl_copy_stored_patched(blob_wblob *w, uint32_t i, size_t keep, const void *src, size_t a, size_t n)
{
	size_t len = a + n > keep ? a + n : keep;
	uint8_t *buf;
	int rc;

	if (keep == 0) /* nothing stored: the object emptied and written at a */
		return wb_cl_write(w, i, a, src, n, true);
	if ((buf = calloc(1, len)) == NULL)
		return -ENOMEM;
	if ((rc = read_stored(w, i, buf, 0, keep)) < 0)
		goto out;
	memcpy(buf + a, src, n);
	rc = wb_cl_write(w, i, 0, buf, len, true);
out:
	free(buf);
	return rc;
}

int wb_chunk_write(blob_wblob *w, uint32_t i, enum wb_state st, size_t a, const void *src, size_t n)
{
	struct wb_file *f;
	uint64_t off;
	int rc;

	if (w->cl)
		return wb_cl_write(w, i, a, src, n, false);
	if ((rc = wb_overlay_at(w, i, st, true, &f, &off)) < 0)
		return rc;
	return wb_overlay_write(w, f, src, n, off + a);
}

int wb_chunk_barrier(blob_wblob *w, uint32_t i, enum wb_state st)
{
	struct wb_file *f;
	uint64_t off;
	int rc;

	if (w->cl)
		return 0; /* acknowledged: durable */
	if ((rc = wb_overlay_at(w, i, st, true, &f, &off)) < 0)
		return rc;
	return fdatasync(f->fd) < 0 ? -errno : 0;
}

void wb_chunk_free(blob_wblob *w, uint32_t i, enum wb_state old)
{
	if (w->cl)
		wb_cl_drop(w, i);
	else
		wb_zero_chunk(w, i, old, 0, BLOB_CHUNK_SIZE);
}

int wb_write_whole(blob_wblob *w, uint32_t i, const uint8_t *src, size_t len)
{
	enum wb_state st = wb_state_of(w, i), to = wb_is_overlay(st) ? st : wb_overlay_state(i);
	bool was_data = wb_is_data(w, i);
	struct wb_file *f;
	uint64_t off;
	int rc;

	if (w->cl)
		rc = wb_cl_write(w, i, 0, src, len, true);
	else if ((rc = wb_overlay_at(w, i, to, true, &f, &off)) == 0)
		rc = wb_overlay_write(w, f, src, len, off);
	if (rc < 0 || to == st)
		return rc;
	if ((rc = wb_set_state(w, i, to)) < 0)
		return rc;
	if (!was_data)
		w->ndata++;
	return 0;
}

/*
 * wblob_io.c — reading and changing a writable blob: pread, pwrite
 * (copy-on-write into the overlay, or streamed whole chunks through the
 * handle's batch, partial ones gathered in the stage), punch, truncate,
 * seek, fsync and seal.  Every step keeps the order wblob.c's header
 * comment argues ("Writes", "Streaming", "Punching", "Shrinking and
 * growing", the seal): a kill shows a chunk's old content or its new.
 *
 * Who calls it: fs/ (the guest's and the uploader's I/O), model/ (seal).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgfs_assert.h"
#include "wblob_int.h"

/* The getters take the lock too (getattr may race a write): the handle is
 * never a const object, only seen through a const pointer. */
static pthread_rwlock_t *wb_lock(const blob_wblob *w)
{
	return (pthread_rwlock_t *)&w->lock;
}

uint64_t blob_wblob_size(const blob_wblob *w)
{
	uint64_t size;

	pthread_rwlock_rdlock(wb_lock(w));
	size = w->size;
	pthread_rwlock_unlock(wb_lock(w));
	return size;
}

blob_store *blob_wblob_store(const blob_wblob *w)
{
	return w->s; /* set at open, never changed */
}

const blob_key *blob_wblob_key(const blob_wblob *w)
{
	return w->key; /* set at open, never changed */
}

uint64_t blob_wblob_sealed_beside(const blob_wblob *w)
{
	uint64_t n;

	pthread_rwlock_rdlock(wb_lock(w));
	n = w->sealed_beside;
	pthread_rwlock_unlock(wb_lock(w));
	return n;
}

uint64_t blob_wblob_stored(const blob_wblob *w)
{
	uint32_t n;
	uint64_t stored;

	pthread_rwlock_rdlock(wb_lock(w));
	n = blob_nchunks(w->size);
	stored = (uint64_t)w->ndata << BLOB_CHUNK_SHIFT;
	if (n > 0 && wb_is_data(w, n - 1))
		stored -= BLOB_CHUNK_SIZE - blob_chunk_len(w->size, n - 1);
	pthread_rwlock_unlock(wb_lock(w));
	return stored;
}

ssize_t blob_wblob_pread(blob_wblob *w, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int rc = 0;

	pthread_rwlock_rdlock(&w->lock);
	if (off >= w->size)
		goto out;
	if (len > w->size - off)
		len = (size_t)(w->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		uint64_t pos = off + done;
		uint32_t i = (uint32_t)(pos >> BLOB_CHUNK_SHIFT);
		size_t a = (size_t)(pos & BLOB_CHUNK_MASK);
		size_t n = BLOB_CHUNK_SIZE - a;

		if (n > len - done)
			n = len - done;
		if ((rc = wb_read_chunk(w, i, (uint8_t *)buf + done, a, n)) < 0)
			goto out;
		done += n;
	}
out:
	pthread_rwlock_unlock(&w->lock);
	return rc < 0 ? rc : (ssize_t)done;
}

/* Writes [a, a + n) of chunk i from src (the size already covers it). */
static int write_chunk(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	size_t len = blob_chunk_len(w->size, i);
	enum wb_state st = wb_state_of(w, i), to = wb_overlay_state(i);
	size_t keep = 0;
	struct wb_file *f;
	uint64_t off;
	bool was_data;
	int rc;

	/* A whole chunk of an instance disk: a file of its own, which a
	 * capture names instead of copying (wblob_arr.c). */
	if (a == 0 && n == len && wb_arr_on(w))
		return wb_arr_write(w, i, src, len);
	if (wb_is_overlay(st)) {
		if ((rc = wb_overlay_at(w, i, st, true, &f, &off)) < 0)
			return rc;
		return wb_overlay_write(w, f, src, n, off + a);
	}

	was_data = wb_is_data(w, i);
	if (a != 0 || n < len) {
		keep = wb_stored_len(w, i) < len ? wb_stored_len(w, i) : len;
		if ((rc = wb_copy_stored(w, i, to, keep, &f)) < 0)
			return rc;
	}
	if ((rc = wb_overlay_at(w, i, to, true, &f, &off)) < 0 || (rc = wb_overlay_write(w, f, src, n, off + a)) < 0)
		return rc;
	if (keep > 0 && fdatasync(f->fd) < 0)
		return -errno;
	if ((rc = wb_set_state(w, i, to)) < 0)
		return rc;
	if (!was_data)
		w->ndata++;
	return 0;
}

/* What stream_chunk needs before the batch has chunk i (state st): the
 * batch, the .ids file, and room for all that must not fail once the
 * batch has it: its state, its id, its place in the pending list and, for
 * a chunk in an overlay (a mid-upload fsync left a short last chunk
 * there), the index of the overlay bytes freed once its new state is
 * durable. */
static int stream_prepare(blob_wblob *w, uint32_t i, enum wb_state st)
{
	int rc;

	if (w->batch == NULL && (rc = blob_batch_new_key(&w->batch, w->s, w->key)) < 0)
		return rc;
	if ((rc = wb_open_ids(w, true)) < 0)
		return rc;
	if ((rc = blob_radix_reserve(&w->state, i)) < 0 || (rc = blob_radix_reserve(&w->sid, i)) < 0 ||
	    (st != WB_STREAMED && (rc = wb_pend_add(w, i)) < 0))
		return rc;
	if (wb_is_overlay(st) && w->npunch == w->punch_cap) {
		uint32_t cap = w->punch_cap ? 2 * w->punch_cap : 16;
		struct wb_punch *p = realloc(w->punch, cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		w->punch = p;
		w->punch_cap = cap;
	}
	return 0;
}

/* Chunk i (state st before, data or not: was_data) is in the batch as id:
 * WB_STREAMED in memory, its id recorded. */
static int stream_done(blob_wblob *w, uint32_t i, enum wb_state st, bool was_data, const chunk_id *id)
{
	uint8_t three = WB_STREAMED;

	if (wb_is_overlay(st))
		w->punch[w->npunch++] = (struct wb_punch){i, st};
	pthread_mutex_lock(&w->batch_lock);
	w->uncommitted = true;
	pthread_mutex_unlock(&w->batch_lock);
	blob_radix_set(&w->state, i, &three); /* reserved: cannot fail */
	blob_radix_set(&w->sid, i, id);
	if (was_data && !wb_is_data(w, i))
		w->ndata--;
	else if (!was_data && wb_is_data(w, i))
		w->ndata++;
	/* For gc, which keeps every id a .ids file names. */
	return blob_pwrite_full(w->ids_fd, id->b, sizeof *id, (uint64_t)i * WB_IDS_REC + sizeof *id);
}

/* The chunk being sealed goes into the batch (see "Streaming"); nothing
 * to do when none is.  On a failure it stays held (reads go on seeing
 * it) and every later call fails the same way. */
static int seal_settle(blob_wblob *w)
{
	chunk_id id;
	int len, rc;

	if (!w->sealing)
		return 0;
	if ((len = blob_sealer_wait(w->sealer)) < 0)
		return len;
	/* Reserved again: a growth since (clear_states) frees empty leaves. */
	if ((rc = blob_radix_reserve(&w->state, w->seal_i)) < 0 || (rc = blob_radix_reserve(&w->sid, w->seal_i)) < 0 ||
	    (rc = blob_batch_add_sealed(w->batch, &id, &w->seal_obj, (size_t)len)) < 0)
		return rc;
	w->sealing = false; /* was data while held: counted */
	/* Its state is still the one it had when handed on: every change of
	 * a chunk's state settles the held chunk first. */
	return stream_done(w, w->seal_i, wb_state_of(w, w->seal_i), true, &id);
}

/* Hands chunk i (was_data; stream_prepare done) to the sealer:
 * held in seal_buf until seal_settle.  src == w->stage: the buffers are
 * exchanged, not copied.  -EAGAIN when there is no sealer to be had: the
 * caller seals it itself. */
static int seal_begin(blob_wblob *w, uint32_t i, bool was_data, const uint8_t *src)
{
	if (w->sealer == NULL && blob_sealer_new(&w->sealer) < 0)
		return -EAGAIN;
	if (w->seal_obj == NULL && (w->seal_obj = blob_chunk_buf_new()) == NULL)
		return -ENOMEM;
	if (src == w->stage) {
		uint8_t *t = w->seal_buf;
		w->seal_buf = w->stage;
		w->stage = t; /* NULL the first time: stage_write makes one */
	} else {
		if (w->seal_buf == NULL && (w->seal_buf = blob_chunk_buf_new()) == NULL)
			return -ENOMEM;
		memcpy(w->seal_buf, src, BLOB_CHUNK_SIZE);
		blob_count_copy(BLOB_CHUNK_SIZE);
	}
	w->sealing = true;
	w->seal_i = i;
	w->sealed_beside++;
	if (!was_data)
		w->ndata++;
	blob_sealer_start(w->sealer, w->key, w->seal_obj, w->seal_buf, BLOB_CHUNK_SIZE);
	return 0;
}

/* Chunk i, whole (BLOB_CHUNK_SIZE bytes from src), straight into the
 * store: WB_STREAMED (see "Streaming").  src == w->stage: the batch may take
 * the stage's buffer and give another back instead of copying it; once
 * the batch has the chunk, its state shows it whatever fails after.  An
 * encrypted wblob's chunk is sealed beside the next writes instead: held
 * until the next chunk comes, or anything else needs the batch. */
static int stream_chunk(blob_wblob *w, uint32_t i, const uint8_t *src)
{
	bool was_data;
	enum wb_state st;
	chunk_id id;
	int rc;

	if ((rc = seal_settle(w)) < 0)
		return rc;
	was_data = wb_is_data(w, i);
	st = wb_state_of(w, i);
	if ((rc = stream_prepare(w, i, st)) < 0)
		return rc;
	if (w->key != NULL && !blob_is_zero(src, BLOB_CHUNK_SIZE) &&
	    (rc = seal_begin(w, i, was_data, src)) != -EAGAIN)
		return rc; /* the pending entry stays on a failure: not in WB_STREAMED, skipped */
	rc = src == w->stage ? blob_batch_add_buf(w->batch, &id, &w->stage, BLOB_CHUNK_SIZE)
	                     : blob_batch_add(w->batch, &id, src, BLOB_CHUNK_SIZE);
	if (rc < 0)
		return rc; /* as above */
	return stream_done(w, i, st, was_data, &id);
}

/* The staged chunk stops being staged: back to what its state shows.
 * Returns whether that is data (ndata counted the stage as data). */
static bool unstage(blob_wblob *w)
{
	w->staged = false;
	if (wb_is_data(w, w->stage_i))
		return true;
	w->ndata--;
	return false;
}

/* Stores the staged chunk: streamed when it is a whole chunk, else (the
 * blob's last chunk, shorter) written into the overlay. */
static int stage_flush(blob_wblob *w)
{
	uint32_t i = w->stage_i;
	size_t len;
	bool data;
	int rc;

	if (!w->staged)
		return 0;
	memset(w->stage + w->stage_end, 0, BLOB_CHUNK_SIZE - w->stage_end);
	w->stage_end = BLOB_CHUNK_SIZE;
	len = blob_chunk_len(w->size, i);
	data = unstage(w);
	uint8_t *stage = w->stage;
	rc = len == BLOB_CHUNK_SIZE ? stream_chunk(w, i, w->stage) : write_chunk(w, i, w->stage, 0, len);
	if (rc < 0 && w->stage == stage) { /* still staged: reads go on seeing it */
		w->staged = true;
		if (!data)
			w->ndata++;
	}
	return rc;
}

/* Writes [a, a + n) of chunk i into the stage, after the chunk's current
 * content when it was not staged (any other staged chunk flushed first). */
static int stage_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	size_t len = blob_chunk_len(w->size, i);
	int rc;

	if (!wb_is_staged(w, i)) {
		bool was_data = wb_is_data(w, i);

		if ((rc = stage_flush(w)) < 0)
			return rc;
		if (w->stage == NULL && (w->stage = blob_chunk_buf_new()) == NULL)
			return -ENOMEM;
		/* A chunk with no data yet is zeros, put in as the writes come: a
		 * sequential writer fills it without any zeroing. */
		w->stage_end = 0;
		if (was_data) {
			if ((rc = wb_read_chunk(w, i, w->stage, 0, len)) < 0)
				return rc;
			memset(w->stage + len, 0, BLOB_CHUNK_SIZE - len);
			w->stage_end = BLOB_CHUNK_SIZE;
		}
		w->staged = true;
		w->stage_i = i;
		if (!was_data)
			w->ndata++;
	}
	if (a > w->stage_end)
		memset(w->stage + w->stage_end, 0, a - w->stage_end);
	memcpy(w->stage + a, src, n);
	blob_count_copy(n);
	if (a + n > w->stage_end)
		w->stage_end = a + n;
	return 0;
}

/* A write of streaming wblob into chunk i: a whole chunk goes to the
 * store at once, anything less into the stage. */
static int stream_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	if (n < BLOB_CHUNK_SIZE)
		return stage_write(w, i, src, a, n);
	if (wb_is_staged(w, i))
		unstage(w); /* all of it replaced */
	return stream_chunk(w, i, src);
}

/* Makes the .ids records written so far durable: their data, and the
 * file's name in wblobs/ when this open created it. */
static int wb_ids_sync(blob_wblob *w)
{
	int rc;

	if (fdatasync(w->ids_fd) < 0)
		return -errno;
	if (w->ids_new) {
		if ((rc = blob_fsync_dir_at(w->s->wblobs_fd, NULL)) < 0)
			return rc;
		w->ids_new = false;
	}
	return 0;
}

/* Makes every WB_STREAMED chunk WB_STORED, durably (see "Streaming"): a walk of
 * the pending list, not of the chunks. */
int wb_stream_sync(blob_wblob *w)
{
	int rc;

	if ((rc = stage_flush(w)) < 0 || (rc = seal_settle(w)) < 0 || (rc = wb_stream_commit(w)) < 0)
		return rc;
	wb_pend_compact(w);
	if (w->pend_len == 0)
		return 0;
	for (uint32_t k = 0; k < w->pend_len; k++) {
		static const chunk_id null_id;
		uint32_t i = w->pend[k];
		const chunk_id *id = blob_radix_get(&w->sid, i); /* absent: a zero chunk, the null id */
		if (id == NULL)
			id = &null_id;
		if ((rc = blob_pwrite_full(w->ids_fd, id->b, sizeof *id, (uint64_t)i * WB_IDS_REC)) < 0)
			return rc;
	}
	if ((rc = wb_ids_sync(w)) < 0)
		return rc;
	for (uint32_t k = 0; k < w->pend_len; k++)
		if (wb_state_of(w, w->pend[k]) == WB_STREAMED && (rc = wb_set_state(w, w->pend[k], WB_STORED)) < 0)
			return rc;
	w->pend_len = 0;
	return 0;
}

/* Zeros written into [a, a + n) of chunk i of a wblob that does not
 * stream (an instance disk: a dense cp of a sparse source, a guest's
 * zeroing) cost nothing where they can: they are a punch.  A chunk that
 * reads as zeros already is left as it is; a whole chunk of zeros becomes
 * a hole (its state byte, as a write sets one); zeros inside an overlay
 * chunk are punched out of its file, inside any other data chunk punched
 * in its copy into the overlay (the copy any write there makes). */
static int punch_whole(blob_wblob *w, uint32_t i);
static int punch_part(blob_wblob *w, uint32_t i, size_t a, size_t n);

static int write_zeros(blob_wblob *w, uint32_t i, size_t a, size_t n)
{
	if (a == 0 && n >= blob_chunk_len(w->size, i))
		return punch_whole(w, i);
	return punch_part(w, i, a, n);
}

ssize_t blob_wblob_pwrite(blob_wblob *w, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int rc = 0;

	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (off > BLOB_MAX_SIZE || len > BLOB_MAX_SIZE - off)
		return -EFBIG;

	pthread_rwlock_wrlock(&w->lock);
	if (off + len > w->size && (rc = wb_grow(w, off + len)) < 0)
		goto out;
	while (done < len) {
		uint64_t pos = off + done;
		uint32_t i = (uint32_t)(pos >> BLOB_CHUNK_SHIFT);
		size_t a = (size_t)(pos & BLOB_CHUNK_MASK);
		size_t n = BLOB_CHUNK_SIZE - a;

		if (n > len - done)
			n = len - done;
		if (w->streaming)
			rc = stream_write(w, i, (const uint8_t *)buf + done, a, n);
		else if (blob_is_zero((const uint8_t *)buf + done, n))
			rc = write_zeros(w, i, a, n);
		else
			rc = write_chunk(w, i, (const uint8_t *)buf + done, a, n);
		if (rc < 0)
			goto out;
		done += n;
	}
out:
	pthread_rwlock_unlock(&w->lock);
	/* A failure after some chunks were written reports those. */
	return done > 0 ? (ssize_t)done : rc;
}

/* Zeroes [a, a + n) of chunk i, part of it (see "Punching"). */
static int punch_part(blob_wblob *w, uint32_t i, size_t a, size_t n)
{
	size_t len = blob_chunk_len(w->size, i);
	enum wb_state st = wb_state_of(w, i), to = wb_overlay_state(i);
	struct wb_file *f;
	uint64_t off;
	size_t keep;
	int rc;

	if (!wb_is_data(w, i))
		return 0; /* reads as zeros already */
	if (wb_is_overlay(st))
		return wb_zero_chunk(w, i, st, a, n);
	keep = wb_stored_len(w, i) < len ? wb_stored_len(w, i) : len;
	if ((rc = wb_copy_stored(w, i, to, keep, &f)) < 0 || (rc = wb_overlay_at(w, i, to, true, &f, &off)) < 0 ||
	    (rc = wb_zero_overlay(w, f, off + a, n)) < 0)
		return rc;
	if (keep > 0 && fdatasync(f->fd) < 0)
		return -errno;
	return wb_set_state(w, i, to);
}

/* Makes chunk i a hole (see "Punching"). */
static int punch_whole(blob_wblob *w, uint32_t i)
{
	uint8_t old = wb_state_of(w, i);
	int rc;

	if (!wb_is_data(w, i))
		return 0;
	if ((rc = wb_set_state(w, i, WB_HOLE)) < 0)
		return rc;
	w->ndata--;
	/* Best effort: the bytes are invisible from now on, only take room. */
	if (wb_is_overlay(old))
		wb_zero_chunk(w, i, old, 0, BLOB_CHUNK_SIZE);
	return 0;
}

/* blob_wblob_punch under the write lock, on a wblob that does not stream. */
static int punch_locked(blob_wblob *w, uint64_t off, uint64_t len)
{
	uint64_t end;
	uint32_t i, last;
	size_t a, clen;
	int rc = 0;

	IMGFS_ASSERT_WRLOCKED(&w->lock);
	if (off >= w->size || len == 0)
		return 0;
	end = len > w->size - off ? w->size : off + len;
	/* The first chunk, when the range covers part of it only. */
	i = (uint32_t)(off >> BLOB_CHUNK_SHIFT);
	a = (size_t)(off & BLOB_CHUNK_MASK);
	clen = blob_chunk_len(w->size, i);
	if (a != 0 || end - off < clen) {
		size_t n = end - off < clen - a ? (size_t)(end - off) : clen - a;
		if ((rc = punch_part(w, i, a, n)) < 0)
			goto out;
		off += n;
	}
	if (off >= end)
		goto out;
	/* The whole chunks [first, last): only their data chunks change, one
	 * step for every run of holes. */
	i = (uint32_t)(off >> BLOB_CHUNK_SHIFT);
	last = end == w->size ? blob_nchunks(w->size) : (uint32_t)(end >> BLOB_CHUNK_SHIFT);
	for (uint32_t j = wb_next_data(w, i, last); j < last; j = wb_next_data(w, j + 1, last))
		if ((rc = punch_whole(w, j)) < 0)
			goto out;
	/* The last chunk, when the range ends inside it. */
	if (last < blob_nchunks(w->size) && end > wb_chunk_start(last))
		rc = punch_part(w, last, 0, (size_t)(end - wb_chunk_start(last)));
out:
	return rc;
}

int blob_wblob_punch(blob_wblob *w, uint64_t off, uint64_t len)
{
	int rc;

	pthread_rwlock_wrlock(&w->lock);
	rc = w->streaming ? -EOPNOTSUPP : punch_locked(w, off, len);
	pthread_rwlock_unlock(&w->lock);
	return rc;
}

int blob_wblob_truncate(blob_wblob *w, uint64_t size)
{
	int rc;

	pthread_rwlock_wrlock(&w->lock);
	/* A shrink must not cut the stage or the chunk being sealed. */
	if ((rc = stage_flush(w)) == 0 && (rc = seal_settle(w)) == 0)
		rc = wb_truncate_locked(w, size);
	pthread_rwlock_unlock(&w->lock);
	return rc;
}

int64_t blob_wblob_seek(blob_wblob *w, uint64_t off, int whence)
{
	int64_t rc;

	pthread_rwlock_rdlock(&w->lock);
	rc = blob_seek_chunks(w->size, off, whence, wb_next, w);
	pthread_rwlock_unlock(&w->lock);
	return rc;
}

void blob_wblob_stream(blob_wblob *w)
{
	pthread_rwlock_wrlock(&w->lock);
	w->streaming = true;
	pthread_rwlock_unlock(&w->lock);
}

int blob_wblob_fsync(blob_wblob *w)
{
	int rc = 0;

	/* Exclusive only when streamed chunks change state. */
	if (w->streaming)
		pthread_rwlock_wrlock(&w->lock);
	else
		pthread_rwlock_rdlock(&w->lock);
	if (w->streaming && (rc = wb_stream_sync(w)) < 0)
		goto out;
	if ((rc = wb_arr_sync(w)) < 0)
		goto out;
	if (fsync(w->data.fd) < 0) {
		rc = -errno;
		goto out;
	}
	pthread_mutex_lock(&w->ext_lock);
	for (uint32_t k = 1; w->ext && k < WB_NSEG && rc == 0; k++)
		if (w->ext[k].fd >= 0 && fsync(w->ext[k].fd) < 0)
			rc = -errno;
	pthread_mutex_unlock(&w->ext_lock);
	if (rc < 0)
		goto out;
	if (fsync(w->map_fd) < 0) {
		rc = -errno;
		goto out;
	}
	wb_arr_sweep(w);
	/* Durable WB_STORED now: the overlay's old bytes are never shown again
	 * (best effort: they only take room). */
	for (uint32_t k = 0; k < w->npunch; k++)
		if (wb_state_of(w, w->punch[k].i) == WB_STORED)
			wb_zero_chunk(w, w->punch[k].i, w->punch[k].st, 0, BLOB_CHUNK_SIZE);
	w->npunch = 0;
out:
	pthread_rwlock_unlock(&w->lock);
	return rc;
}

int blob_wblob_seal(blob_wblob *w, blob_manifest **out)
{
	return blob_wblob_seal_progress(w, out, NULL, NULL);
}

int blob_wblob_seal_progress(blob_wblob *w, blob_manifest **out,
                             int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
{
	return blob_wblob_seal_key(w, w->key, out, progress, arg);
}

/* The callback runs under the read lock, between chunks: it may take its
 * time (a capture writes its progress to the database there) but must not
 * write to this wblob.  "done" counts chunks handed to the batch, not yet
 * durable ones: nothing is durable before the final commit anyway.  Under
 * another key than w's, every data chunk is read and stored again (sealed
 * under the new one): no chunk id of one key is reused under another. */
int blob_wblob_seal_key(blob_wblob *w, const blob_key *key, blob_manifest **out,
                        int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
{
	bool same = blob_key_same(key, w->key);
	blob_manifest *m = NULL;
	blob_batch *b = NULL;
	uint8_t *buf = NULL;
	uint32_t n;
	int rc;

	pthread_rwlock_rdlock(&w->lock);
	if ((rc = blob_manifest_new(&m, w->size)) < 0 || (rc = blob_batch_new_key(&b, w->s, key)) < 0)
		goto out;
	blob_manifest_set_key(m, key);
	buf = blob_chunk_buf_new(); /* handed to the batch in exchange for another */
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* Streamed chunks the manifest names as they are: in the store by name. */
	if (w->pend_len > 0 && (rc = wb_stream_commit(w)) < 0)
		goto out;
	/* The data chunks only: every other chunk is a hole in the manifest. */
	n = m->nchunks;
	for (uint32_t i = wb_next_data(w, 0, n); i < n; i = wb_next_data(w, i + 1, n)) {
		size_t len = blob_chunk_len(w->size, i);
		size_t sl = wb_stored_len(w, i);
		enum wb_state st = wb_state_of(w, i);
		bool written = wb_is_held(w, i) || wb_is_overlay(st) || st == WB_ARRIVED;
		chunk_id id;

		if (!written && sl == len && same) {
			id = *wb_stored_id(w, i); /* unchanged or streamed: no copy */
		} else if (st == WB_ARRIVED && same && (rc = wb_arr_seal(w, i, len, b, &id)) != 0) {
			if (rc < 0) /* else: linked, or found stored: no copy */
				goto out;
		} else {
			if ((rc = wb_read_chunk(w, i, buf, 0, len)) < 0)
				goto out;
			if ((rc = blob_batch_add_buf(b, &id, &buf, len)) < 0)
				goto out;
		}
		if ((rc = blob_manifest_set(m, i, &id)) < 0)
			goto out;
		if (progress && progress(arg, wb_chunk_start(i) + len, w->size) != 0) {
			rc = -ECANCELED; /* the batch's uncommitted chunks go */
			goto out;
		}
	}
	if (progress && (n == 0 || !wb_is_data(w, n - 1)) && progress(arg, w->size, w->size) != 0) {
		rc = -ECANCELED;
		goto out;
	}
	/* The caller commits the manifest once this returns: every chunk it
	 * names must be durable by then. */
	if ((rc = blob_batch_commit(b)) < 0)
		goto out;
	*out = m;
	m = NULL;
	rc = 0;
out:
	pthread_rwlock_unlock(&w->lock);
	blob_batch_free(b);
	free(buf);
	blob_manifest_free(m);
	return rc;
}

/* ---- copies by reference (blob_wblob_share) -------------------------------- */

/* Chunks [i, i + n) take the ids of src's chunks [j, j + n), every one a
 * whole data chunk: WB_STORED, as a streamed chunk once its fsync made it
 * durable (see "Copies by reference" in wblob.c).  The .ids records first,
 * synced, then the state bytes: a crash never shows a WB_STORED whose id is
 * not on disk.  Overlay bytes a chunk leaves are freed by the next fsync,
 * once its WB_STORED is durable (the punch list, as for streaming). */
static int adopt_chunks(blob_wblob *w, uint32_t i, const blob_manifest *src, uint32_t j, uint32_t n)
{
	int rc;

	if ((rc = wb_open_ids(w, true)) < 0)
		return rc;
	for (uint32_t k = 0; k < n; k++) {
		const chunk_id *id = blob_manifest_get(src, j + k);
		chunk_id rec[2];
		if (id == NULL)
			return -EIO; /* the caller's data run says otherwise: never */
		/* The whole record (open reads whole ones): the id in both slots. */
		rec[0] = rec[1] = *id;
		if ((rc = blob_radix_reserve(&w->state, i + k)) < 0 || (rc = blob_radix_reserve(&w->sid, i + k)) < 0 ||
		    (rc = blob_pwrite_full(w->ids_fd, rec, sizeof rec, (uint64_t)(i + k) * WB_IDS_REC)) < 0)
			return rc;
	}
	if ((rc = wb_ids_sync(w)) < 0)
		return rc;
	for (uint32_t k = 0; k < n; k++) {
		enum wb_state st = wb_state_of(w, i + k);
		bool was_data = wb_is_data(w, i + k);

		if (wb_is_overlay(st) && w->npunch == w->punch_cap) {
			uint32_t cap = w->punch_cap ? 2 * w->punch_cap : 16;
			struct wb_punch *p = realloc(w->punch, cap * sizeof *p);
			if (p == NULL)
				return -ENOMEM;
			w->punch = p;
			w->punch_cap = cap;
		}
		blob_radix_set(&w->sid, i + k, blob_manifest_get(src, j + k)); /* reserved: cannot fail */
		if ((rc = wb_set_state(w, i + k, WB_STORED)) < 0)
			return rc;
		if (wb_is_overlay(st))
			w->punch[w->npunch++] = (struct wb_punch){i + k, st};
		if (!was_data)
			w->ndata++;
	}
	return 0;
}

/* [dst, dst + n) inside one chunk of w gets src's bytes at soff, as a
 * write would take them; all zeros are punched instead (a hole stays one). */
static int copy_bytes(blob_wblob *w, blob_store *s, const blob_manifest *src, uint64_t soff, uint64_t dst,
                      size_t n, uint8_t *buf, uint64_t *copied)
{
	uint32_t i = (uint32_t)(dst >> BLOB_CHUNK_SHIFT);
	size_t a = (size_t)(dst & BLOB_CHUNK_MASK);
	ssize_t got = blob_store_read(s, src, buf, n, soff);
	bool zero = true;

	if (got < 0)
		return (int)got;
	if ((size_t)got < n)
		return -EIO; /* inside the source's size: never short */
	for (size_t k = 0; k < n && zero; k++)
		zero = buf[k] == 0;
	if (zero)
		return punch_locked(w, dst, n);
	*copied += n;
	return write_chunk(w, i, buf, a, n);
}

int blob_wblob_share_check(const blob_wblob *w, const blob_store *s_src, const blob_manifest *src)
{
	/* Ids name chunks of one store, and of one key: a chunk of another
	 * lineage taken by id would not open under w's (SPEC §17). */
	return s_src == w->s && blob_key_same(src->key, w->key) ? 0 : -EXDEV;
}

ssize_t blob_wblob_share(blob_wblob *w, blob_store *s_src, const blob_manifest *src, uint64_t src_off,
                         uint64_t dst_off, uint64_t len, struct blob_share_counts *counts)
{
	bool aligned = ((src_off ^ dst_off) & BLOB_CHUNK_MASK) == 0;
	struct blob_share_counts c = {0, 0};
	uint64_t done = 0;
	uint8_t *buf = NULL;
	int rc = 0;

	if (counts)
		*counts = c;
	if ((rc = blob_wblob_share_check(w, s_src, src)) < 0)
		return rc;
	if (src_off >= src->size || len == 0)
		return 0;
	if (len > src->size - src_off)
		len = src->size - src_off;
	if (len > (uint64_t)SSIZE_MAX)
		len = (uint64_t)SSIZE_MAX & ~(uint64_t)BLOB_CHUNK_MASK;
	if (dst_off > BLOB_MAX_SIZE || len > BLOB_MAX_SIZE - dst_off)
		return -EFBIG;
	if ((buf = blob_chunk_buf_new()) == NULL)
		return -ENOMEM;

	pthread_rwlock_wrlock(&w->lock);
	/* An upload: what streamed so far is settled first (the stage stored,
	 * pending chunks WB_STORED), so every chunk below is in a state the
	 * overlay path knows; the streaming writes after it take up from
	 * there (a chunk's current content, whatever its state). */
	if (w->streaming && (rc = wb_stream_sync(w)) < 0)
		goto out;
	if (dst_off + len > w->size && (rc = wb_grow(w, dst_off + len)) < 0)
		goto out;
	while (done < len) {
		uint64_t spos = src_off + done, dpos = dst_off + done, end = src_off + len;
		int64_t d = blob_manifest_seek(src, spos, SEEK_DATA), h;

		/* A hole of the source: a hole here too, whatever was there. */
		if (d < 0 || (uint64_t)d >= end || (uint64_t)d > spos) {
			uint64_t n = d < 0 || (uint64_t)d >= end ? end - spos : (uint64_t)d - spos;
			if ((rc = punch_locked(w, dpos, n)) < 0)
				goto out;
			done += n;
			continue;
		}
		/* A run of data chunks: whole chunks by id, the rest by bytes. */
		h = blob_manifest_seek(src, spos, SEEK_HOLE);
		if (h < 0) {
			rc = (int)h;
			goto out;
		}
		if ((uint64_t)h > end)
			h = (int64_t)end;
		while (spos < (uint64_t)h) {
			uint32_t j = (uint32_t)(spos >> BLOB_CHUNK_SHIFT), n = 0;

			while (aligned && (spos & BLOB_CHUNK_MASK) == 0 &&
			       spos + ((uint64_t)n + 1) * BLOB_CHUNK_SIZE <= (uint64_t)h &&
			       blob_chunk_len(src->size, j + n) == BLOB_CHUNK_SIZE && n < 4096)
				n++;
			if (n > 0) {
				if ((rc = adopt_chunks(w, (uint32_t)(dpos >> BLOB_CHUNK_SHIFT), src, j, n)) < 0)
					goto out;
				c.by_id += (uint64_t)n << BLOB_CHUNK_SHIFT;
				spos += (uint64_t)n << BLOB_CHUNK_SHIFT;
				dpos += (uint64_t)n << BLOB_CHUNK_SHIFT;
				done += (uint64_t)n << BLOB_CHUNK_SHIFT;
				continue;
			}
			uint64_t room = BLOB_CHUNK_SIZE - (dpos & BLOB_CHUNK_MASK);
			size_t m = (size_t)((uint64_t)h - spos < room ? (uint64_t)h - spos : room);
			if ((rc = copy_bytes(w, s_src, src, spos, dpos, m, buf, &c.by_bytes)) < 0)
				goto out;
			spos += m;
			dpos += m;
			done += m;
		}
	}
out:
	pthread_rwlock_unlock(&w->lock);
	free(buf);
	if (counts)
		*counts = c;
	/* A failure after some bytes were copied reports those (as pwrite). */
	return done > 0 ? (ssize_t)done : rc;
}

/*
 * wblob_stream.c — the upload streamer, a plug-in of the writable blob
 * (w->stream, made by blob_wblob_stream; NULL for every other wblob).  A
 * whole chunk written goes straight into the store through the handle's
 * own batch (WB_STREAMED in memory, its id in the sid radix and in the
 * pending list; WB_STORED once an fsync recorded it), partial writes are
 * gathered in the stage until the chunk is whole, and an encrypted
 * upload's whole chunk is sealed beside the writes that follow.  The
 * design and its crash-safety order: wblob.c's header comment,
 * "Streaming".
 *
 * The core asks it one question before it changes any chunk's state or
 * the size: wb_stream_settle (nothing held in memory any more).  It shows
 * the chunks it holds through the handle's held[] slots, which the state
 * layer's questions read, and their bytes through wb_stream_read.
 *
 * Who calls it: the core (wblob.c, wblob_copy.c, wblob_open.c).  It calls
 * the chunk, state and file layers and the store's batches; never the
 * core.  Under the wblob's write lock, but wb_stream_commit (readers race
 * each other there: batch_lock) and the getters.
 */
#include <errno.h>
#include <stdlib.h>

#include "imgfs_lock.h"
#include "wblob_int.h"

struct wb_stream {
	uint32_t *pend;        /* every WB_STREAMED chunk (and maybe some that left it) */
	uint32_t pend_len, pend_cap;
	blob_batch *batch;     /* the streamed chunks' batch, NULL until needed */
	pthread_mutex_t batch_lock; /* a reader's commit against another's */
	bool uncommitted;      /* chunks added since the batch's last commit */
	uint8_t *stage;        /* BLOB_CHUNK_SIZE: the chunk being written (held[WB_HELD_STAGE]) */
	size_t stage_end;      /* stage bytes from here on are zeros not yet written */
	/* An encrypted upload's last whole chunk (held[WB_HELD_SEAL]), sealed
	 * by `sealer` beside the writes that follow. */
	blob_sealer *sealer;   /* NULL until the first */
	uint8_t *seal_buf;     /* BLOB_CHUNK_SIZE: the chunk, plaintext, whole */
	uint8_t *seal_obj;     /* the sealed chunk, once the sealer is done */
	uint64_t sealed_beside; /* chunks handed to the sealer, counted */
};
IMGFS_LOCK_LEVEL(wb_stream_batch_lock, 32); /* under the wblob's lock, over blob_batch.lock */

int wb_stream_new(blob_wblob *w)
{
	struct wb_stream *t = calloc(1, sizeof *t);

	if (t == NULL)
		return -ENOMEM;
	pthread_mutex_init(&t->batch_lock, NULL);
	w->stream = t;
	return 0;
}

void wb_stream_free(blob_wblob *w)
{
	struct wb_stream *t = w->stream;

	if (t == NULL)
		return;
	/* Streamed chunks no fsync recorded: what the batch had not committed
	 * is dropped, what it had stays for gc (after the wblob's removal:
	 * their pending ids in .ids keep them until then). */
	blob_sealer_free(t->sealer); /* its job done first: it uses seal_buf */
	blob_batch_free(t->batch);
	free(t->stage);
	free(t->seal_buf);
	free(t->seal_obj);
	free(t->pend);
	pthread_mutex_destroy(&t->batch_lock);
	free(t);
	w->stream = NULL;
}

static bool staged(const blob_wblob *w, uint32_t i)
{
	return w->held[WB_HELD_STAGE].on && w->held[WB_HELD_STAGE].i == i;
}

static bool sealing(const blob_wblob *w)
{
	return w->held[WB_HELD_SEAL].on;
}

int wb_stream_read(const blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	const struct wb_stream *t = w->stream;

	if (staged(w, i)) {
		size_t have = a < t->stage_end ? t->stage_end - a : 0;

		have = have < n ? have : n;
		memcpy(dst, t->stage + a, have);
		memset(dst + have, 0, n - have);
		return 1;
	}
	if (sealing(w) && w->held[WB_HELD_SEAL].i == i) { /* whole: no zeros to add */
		memcpy(dst, t->seal_buf + a, n);
		return 1;
	}
	return 0;
}

/* Drops from the pending list the chunks no longer in WB_STREAMED and not
 * about to be (the chunk being sealed). */
void wb_stream_compact(blob_wblob *w)
{
	struct wb_stream *t = w->stream;
	uint32_t n = 0;

	for (uint32_t k = 0; k < t->pend_len; k++)
		if (wb_state_of(w, t->pend[k]) == WB_STREAMED || (sealing(w) && t->pend[k] == w->held[WB_HELD_SEAL].i))
			t->pend[n++] = t->pend[k];
	t->pend_len = n;
}

/* The pending list gets chunk i, about to be put in WB_STREAMED.  It may
 * hold a chunk twice (one that left WB_STREAMED and came back):
 * wb_stream_sync does each once. */
static int pend_add(blob_wblob *w, uint32_t i)
{
	struct wb_stream *t = w->stream;

	if (t->pend_len == t->pend_cap)
		wb_stream_compact(w);
	if (t->pend_len == t->pend_cap) {
		uint32_t cap = t->pend_cap ? 2 * t->pend_cap : 64;
		uint32_t *p = realloc(t->pend, (size_t)cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		t->pend = p;
		t->pend_cap = cap;
	}
	t->pend[t->pend_len++] = i;
	return 0;
}

uint32_t wb_stream_pend_cap(const blob_wblob *w)
{
	return w->stream ? w->stream->pend_cap : 0;
}

uint64_t wb_stream_sealed_beside(const blob_wblob *w)
{
	return w->stream ? w->stream->sealed_beside : 0;
}

int wb_stream_commit(blob_wblob *w)
{
	struct wb_stream *t = w->stream;
	int rc = 0;

	IMGFS_LOCK(&t->batch_lock, wb_stream_batch_lock);
	if (t->uncommitted && (rc = blob_batch_commit(t->batch)) >= 0) {
		t->uncommitted = false;
		rc = 0;
	}
	IMGFS_UNLOCK(&t->batch_lock, wb_stream_batch_lock);
	return rc;
}

/* What stream_chunk needs before the batch has chunk i (state st): the
 * batch, the .ids file, and room for all that must not fail once the
 * batch has it: its state, its id and its place in the pending list. */
static int stream_prepare(blob_wblob *w, uint32_t i, enum wb_state st)
{
	int rc;

	if (w->stream->batch == NULL && (rc = blob_batch_new_key(&w->stream->batch, w->s, w->key)) < 0)
		return rc;
	if ((rc = wb_open_ids(w, true)) < 0)
		return rc;
	if ((rc = blob_radix_reserve(&w->state, i)) < 0 || (rc = blob_radix_reserve(&w->sid, i)) < 0 ||
	    (st != WB_STREAMED && (rc = pend_add(w, i)) < 0))
		return rc;
	return 0;
}

/* Chunk i (state st before, data or not: was_data) is in the batch as id:
 * WB_STREAMED in memory, its id recorded.  A chunk in an overlay (a
 * mid-upload fsync left a short last chunk there) leaves its overlay
 * bytes, freed once its new state is durable. */
static int stream_done(blob_wblob *w, uint32_t i, enum wb_state st, bool was_data, const chunk_id *id)
{
	struct wb_stream *t = w->stream;
	uint8_t three = WB_STREAMED;

	if (wb_is_overlay(st))
		wb_left_add(w, i, st);
	IMGFS_LOCK(&t->batch_lock, wb_stream_batch_lock);
	t->uncommitted = true;
	IMGFS_UNLOCK(&t->batch_lock, wb_stream_batch_lock);
	blob_radix_set(&w->state, i, &three); /* reserved: cannot fail */
	blob_radix_set(&w->sid, i, id);
	wb_count_data(w, i, was_data);
	/* For gc, which keeps every id a .ids file names. */
	return blob_pwrite_full(w->ids_fd, id->b, sizeof *id, (uint64_t)i * WB_IDS_REC + sizeof *id);
}

/* The chunk being sealed goes into the batch (see "Streaming"); nothing
 * to do when none is.  On a failure it stays held (reads go on seeing
 * it) and every later call fails the same way. */
static int seal_settle(blob_wblob *w)
{
	struct wb_stream *t = w->stream;
	uint32_t i = w->held[WB_HELD_SEAL].i;
	chunk_id id;
	int len, rc;

	if (!sealing(w))
		return 0;
	if ((len = blob_sealer_wait(t->sealer)) < 0)
		return len;
	/* Reserved again: a growth since (wb_states_cut) frees empty leaves. */
	if ((rc = blob_radix_reserve(&w->state, i)) < 0 || (rc = blob_radix_reserve(&w->sid, i)) < 0 ||
	    (rc = blob_batch_add_sealed(t->batch, &id, &t->seal_obj, (size_t)len)) < 0)
		return rc;
	w->held[WB_HELD_SEAL].on = false; /* was data while held: counted */
	/* Its state is still the one it had when handed on: every change of
	 * a chunk's state settles the held chunk first. */
	return stream_done(w, i, wb_state_of(w, i), true, &id);
}

/* Hands chunk i (was_data; stream_prepare done) to the sealer:
 * held in seal_buf until seal_settle.  src == stage: the buffers are
 * exchanged, not copied.  -EAGAIN when there is no sealer to be had: the
 * caller seals it itself. */
static int seal_begin(blob_wblob *w, uint32_t i, bool was_data, const uint8_t *src)
{
	struct wb_stream *t = w->stream;

	if (t->sealer == NULL && blob_sealer_new(&t->sealer) < 0)
		return -EAGAIN;
	if (t->seal_obj == NULL && (t->seal_obj = blob_chunk_buf_new()) == NULL)
		return -ENOMEM;
	if (src == t->stage) {
		uint8_t *x = t->seal_buf;
		t->seal_buf = t->stage;
		t->stage = x; /* NULL the first time: stage_write makes one */
	} else {
		if (t->seal_buf == NULL && (t->seal_buf = blob_chunk_buf_new()) == NULL)
			return -ENOMEM;
		memcpy(t->seal_buf, src, BLOB_CHUNK_SIZE);
		blob_count_copy(BLOB_CHUNK_SIZE);
	}
	w->held[WB_HELD_SEAL] = (struct wb_held){true, i};
	t->sealed_beside++;
	if (!was_data)
		w->ndata++;
	blob_sealer_start(t->sealer, w->key, t->seal_obj, t->seal_buf, BLOB_CHUNK_SIZE);
	return 0;
}

/* Chunk i, whole (BLOB_CHUNK_SIZE bytes from src), straight into the
 * store: WB_STREAMED (see "Streaming").  src == stage: the batch may take
 * the stage's buffer and give another back instead of copying it; once
 * the batch has the chunk, its state shows it whatever fails after.  An
 * encrypted wblob's chunk is sealed beside the next writes instead: held
 * until the next chunk comes, or anything else needs the batch. */
static int stream_chunk(blob_wblob *w, uint32_t i, const uint8_t *src)
{
	struct wb_stream *t = w->stream;
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
	rc = src == t->stage ? blob_batch_add_buf(t->batch, &id, &t->stage, BLOB_CHUNK_SIZE)
	                     : blob_batch_add(t->batch, &id, src, BLOB_CHUNK_SIZE);
	if (rc < 0)
		return rc; /* as above */
	return stream_done(w, i, st, was_data, &id);
}

/* The staged chunk stops being staged: back to what its state shows.
 * Returns whether that is data (ndata counted the stage as data). */
static bool unstage(blob_wblob *w)
{
	w->held[WB_HELD_STAGE].on = false;
	if (wb_is_data(w, w->held[WB_HELD_STAGE].i))
		return true;
	w->ndata--;
	return false;
}

/* Stores the staged chunk: streamed when it is a whole chunk, else (the
 * blob's last chunk, shorter) written into the overlay. */
static int stage_flush(blob_wblob *w)
{
	struct wb_stream *t = w->stream;
	uint32_t i = w->held[WB_HELD_STAGE].i;
	uint8_t *stage = t->stage;
	size_t len;
	bool data;
	int rc;

	if (!w->held[WB_HELD_STAGE].on)
		return 0;
	memset(t->stage + t->stage_end, 0, BLOB_CHUNK_SIZE - t->stage_end);
	t->stage_end = BLOB_CHUNK_SIZE;
	len = blob_chunk_len(w->size, i);
	data = unstage(w);
	rc = len == BLOB_CHUNK_SIZE ? stream_chunk(w, i, t->stage) : wb_write_whole(w, i, t->stage, len);
	if (rc < 0 && t->stage == stage) { /* still staged: reads go on seeing it */
		w->held[WB_HELD_STAGE].on = true;
		if (!data)
			w->ndata++;
	}
	return rc;
}

/* The bytes chunk i shows now, whole (len of them), for the stage. */
static int read_current(blob_wblob *w, uint32_t i, uint8_t *dst, size_t len)
{
	int rc = wb_stream_read(w, i, dst, 0, len);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (wb_state_of(w, i) == WB_STREAMED && (rc = wb_stream_commit(w)) < 0)
		return rc;
	return wb_read_placed(w, i, dst, 0, len);
}

/* Writes [a, a + n) of chunk i into the stage, after the chunk's current
 * content when it was not staged (any other staged chunk flushed first). */
static int stage_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	struct wb_stream *t = w->stream;
	size_t len = blob_chunk_len(w->size, i);
	int rc;

	if (!staged(w, i)) {
		bool was_data = wb_is_data(w, i);

		if ((rc = stage_flush(w)) < 0)
			return rc;
		if (t->stage == NULL && (t->stage = blob_chunk_buf_new()) == NULL)
			return -ENOMEM;
		/* A chunk with no data yet is zeros, put in as the writes come: a
		 * sequential writer fills it without any zeroing. */
		t->stage_end = 0;
		if (was_data) {
			if ((rc = read_current(w, i, t->stage, len)) < 0)
				return rc;
			memset(t->stage + len, 0, BLOB_CHUNK_SIZE - len);
			t->stage_end = BLOB_CHUNK_SIZE;
		}
		w->held[WB_HELD_STAGE] = (struct wb_held){true, i};
		if (!was_data)
			w->ndata++;
	}
	if (a > t->stage_end)
		memset(t->stage + t->stage_end, 0, a - t->stage_end);
	memcpy(t->stage + a, src, n);
	blob_count_copy(n);
	if (a + n > t->stage_end)
		t->stage_end = a + n;
	return 0;
}

int wb_stream_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	if (n < BLOB_CHUNK_SIZE)
		return stage_write(w, i, src, a, n);
	if (staged(w, i))
		unstage(w); /* all of it replaced */
	return stream_chunk(w, i, src);
}

int wb_stream_settle(blob_wblob *w)
{
	int rc;

	if ((rc = stage_flush(w)) < 0)
		return rc;
	return seal_settle(w);
}

/* A walk of the pending list, not of the chunks. */
int wb_stream_sync(blob_wblob *w)
{
	struct wb_stream *t = w->stream;
	int rc;

	if ((rc = wb_stream_settle(w)) < 0 || (rc = wb_stream_commit(w)) < 0)
		return rc;
	wb_stream_compact(w);
	if (t->pend_len == 0)
		return 0;
	for (uint32_t k = 0; k < t->pend_len; k++) {
		static const chunk_id null_id;
		uint32_t i = t->pend[k];
		const chunk_id *id = blob_radix_get(&w->sid, i); /* absent: a zero chunk, the null id */
		if (id == NULL)
			id = &null_id;
		if ((rc = blob_pwrite_full(w->ids_fd, id->b, sizeof *id, (uint64_t)i * WB_IDS_REC)) < 0)
			return rc;
	}
	if ((rc = wb_ids_sync(w)) < 0)
		return rc;
	for (uint32_t k = 0; k < t->pend_len; k++)
		if (wb_state_of(w, t->pend[k]) == WB_STREAMED && (rc = wb_set_state(w, t->pend[k], WB_STORED)) < 0)
			return rc;
	t->pend_len = 0;
	return 0;
}

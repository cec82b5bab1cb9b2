/*
 * wblob_copy.c — copies out of and into a writable blob: the seal (a
 * manifest of the current content, the chunks stored through one batch:
 * unchanged ones keep their ids, arrived ones are linked, the rest read
 * and stored) and the share (a sealed blob's whole chunks taken by id,
 * the rest copied as writes).  Their order of steps: wblob.c's header
 * comment, the seal and "Copies by reference".
 *
 * Who calls it: model/ (seals: captures, uploads, conversions) and fs/
 * (copy_file_range onto an instance disk).  It calls the core's reads,
 * writes and punches, the state layer and the plug-ins.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "wblob_int.h"

/* ---- a cluster disk's seal reads ahead ------------------------------------- */

/* A capture of a cluster disk after random writes reads every patched
 * chunk merged (its stored chunk and its object: two round trips) before
 * the batch stores it; one at a time, 2 GiB took 23 s, 7.6x cp + sync
 * (stop 45).  So up to SEAL_AHEAD chunks are read at once, in the order
 * the seal will want them, by as many threads of the seal's own; the seal
 * hands each to the batch in index order as before (its lanes put them
 * beside the reads), so its manifest, its crash order and its progress
 * are unchanged.  The threads read under the seal's read lock (held by the
 * seal's thread until they are joined), as concurrent readers of the
 * wblob do; they hold nothing else of it.  Bounded: SEAL_AHEAD threads and
 * chunk buffers a seal, whatever the disk's size.  A host wblob reads
 * local files and is sealed as before. */
#define SEAL_AHEAD 4

enum ahead_state { AH_FREE, AH_WORK, AH_READING, AH_DONE };

struct ahead_slot {
	enum ahead_state st;
	uint32_t i;
	size_t len;
	uint8_t *buf; /* a chunk buffer, exchanged with the batch's */
	int rc;
};

struct seal_ahead {
	blob_wblob *w;
	bool same;
	pthread_mutex_t lock;
	pthread_cond_t cv; /* a slot given work, a slot done, quit */
	struct ahead_slot slot[SEAL_AHEAD];
	pthread_t th[SEAL_AHEAD];
	int nth;
	bool quit;
	uint32_t scan;      /* the next chunk to consider handing out */
	uint64_t given, taken; /* chunks handed out, handed to the batch: slot = count % SEAL_AHEAD */
};
IMGFS_LOCK_LEVEL(wb_seal_ahead_lock, 50); /* a leaf: the seal's reading slots (nothing called under it) */

/* Whether the seal reads chunk i (else it names its id): the seal's own
 * test below, but an arrived chunk (a host wblob's) is never read ahead. */
static bool seal_reads(blob_wblob *w, uint32_t i, bool same)
{
	enum wb_state st = wb_state_of(w, i);
	bool written = wb_is_held(w, i) || wb_has_own_bytes(st);

	return st != WB_ARRIVED && !(!written && wb_stored_len(w, i) == blob_chunk_len(w->size, i) && same);
}

static void *ahead_main(void *arg)
{
	struct seal_ahead *a = arg;

	IMGFS_LOCK(&a->lock, wb_seal_ahead_lock);
	while (!a->quit) { /* a seal that stopped wants nothing more read */
		struct ahead_slot *sl = NULL;

		for (int k = 0; k < SEAL_AHEAD && !sl; k++)
			if (a->slot[k].st == AH_WORK)
				sl = &a->slot[k];
		if (sl == NULL) {
			IMGFS_COND_WAIT(&a->cv, &a->lock, wb_seal_ahead_lock);
			continue;
		}
		sl->st = AH_READING;
		IMGFS_UNLOCK(&a->lock, wb_seal_ahead_lock);
		int rc = wb_read_chunk(a->w, sl->i, sl->buf, 0, sl->len);
		IMGFS_LOCK(&a->lock, wb_seal_ahead_lock);
		sl->rc = rc;
		sl->st = AH_DONE;
		pthread_cond_broadcast(&a->cv);
	}
	IMGFS_UNLOCK(&a->lock, wb_seal_ahead_lock);
	return NULL;
}

/* Starts the readers: 0, or -errno with nothing left running. */
static int ahead_start(struct seal_ahead *a, blob_wblob *w, bool same)
{
	int rc;

	*a = (struct seal_ahead){.w = w, .same = same};
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cv, NULL);
	for (int k = 0; k < SEAL_AHEAD; k++)
		if ((a->slot[k].buf = blob_chunk_buf_new()) == NULL)
			return -ENOMEM;
	for (; a->nth < SEAL_AHEAD; a->nth++)
		if ((rc = pthread_create(&a->th[a->nth], NULL, ahead_main, a)) != 0)
			return a->nth > 0 ? 0 : -rc; /* fewer readers: slower, not wrong */
	return 0;
}

/* Every reader ended (a read under way finishes first), the buffers freed. */
static void ahead_stop(struct seal_ahead *a)
{
	IMGFS_LOCK(&a->lock, wb_seal_ahead_lock);
	a->quit = true;
	pthread_cond_broadcast(&a->cv);
	IMGFS_UNLOCK(&a->lock, wb_seal_ahead_lock);
	for (int k = 0; k < a->nth; k++)
		pthread_join(a->th[k], NULL);
	for (int k = 0; k < SEAL_AHEAD; k++)
		free(a->slot[k].buf);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->lock);
}

/* Hands out the next chunks the seal will read, below n, to free slots. */
static void ahead_fill(struct seal_ahead *a, uint32_t n)
{
	blob_wblob *w = a->w;

	IMGFS_LOCK(&a->lock, wb_seal_ahead_lock);
	while (a->scan < n && a->slot[a->given % SEAL_AHEAD].st == AH_FREE) {
		uint32_t i = wb_next_data(w, a->scan, n);
		if (i >= n) {
			a->scan = n;
			break;
		}
		a->scan = i + 1;
		if (!seal_reads(w, i, a->same))
			continue;
		struct ahead_slot *sl = &a->slot[a->given++ % SEAL_AHEAD];
		sl->i = i;
		sl->len = blob_chunk_len(w->size, i);
		sl->st = AH_WORK;
		pthread_cond_broadcast(&a->cv);
	}
	IMGFS_UNLOCK(&a->lock, wb_seal_ahead_lock);
}

/* Chunk i (the next the seal reads) once read: its slot, whose buffer
 * the caller hands on, then ahead_done. */
static struct ahead_slot *ahead_take(struct seal_ahead *a, uint32_t i, uint32_t n)
{
	struct ahead_slot *sl = &a->slot[a->taken % SEAL_AHEAD];

	ahead_fill(a, n);
	IMGFS_LOCK(&a->lock, wb_seal_ahead_lock);
	IMGFS_ASSERT(a->taken < a->given && sl->i == i); /* handed out in the seal's own order */
	(void)i;
	while (sl->st != AH_DONE)
		IMGFS_COND_WAIT(&a->cv, &a->lock, wb_seal_ahead_lock);
	IMGFS_UNLOCK(&a->lock, wb_seal_ahead_lock);
	return sl;
}

static void ahead_done(struct seal_ahead *a, struct ahead_slot *sl, uint32_t n)
{
	IMGFS_LOCK(&a->lock, wb_seal_ahead_lock);
	sl->st = AH_FREE;
	a->taken++;
	IMGFS_UNLOCK(&a->lock, wb_seal_ahead_lock);
	ahead_fill(a, n);
}

int blob_wblob_seal(blob_wblob *w, blob_manifest **out)
{
	return blob_wblob_seal_progress(w, out, NULL, NULL);
}

int blob_wblob_seal_progress(blob_wblob *w, blob_manifest **out,
                             int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
{
	int rc = blob_wblob_seal_key(w, w->key, out, progress, arg);
	/* Its callers promise EIO for all three. */
	return rc == -EUCLEAN || (rc == -ENOENT && w->cl) ? -EIO : rc;
}

/* A read of chunk i that failed (rc): -ENOENT when the chunk's own object
 * in the cluster (an overlay's, a patched chunk's), which a record names,
 * is gone (asked once more: a verdict, the disk lost bytes); -EUCLEAN when
 * what it read from the store is there and is not the chunk (its stored
 * chunk checked again, once: a verdict); else rc (EIO: the store did not
 * answer: could not tell, SPEC §13).  Readers got EIO for all; only the
 * seal asks. */
static int seal_judge(blob_wblob *w, uint32_t i, int rc)
{
	enum wb_state st = wb_state_of(w, i);
	int got;

	if (rc != -EIO || st == WB_ARRIVED)
		return rc;
	if (w->cl && wb_has_own_bytes(st) && wb_cl_gone(w, i) == 1)
		return -ENOENT;
	if (wb_is_overlay(st) || wb_stored_len(w, i) == 0)
		return rc;
	got = blob_store_check_chunk(w->s, w->key, wb_stored_id(w, i), 0);
	return got == -EUCLEAN || got == -ENOENT ? -EUCLEAN : rc;
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
	struct seal_ahead ahead, *ah = NULL;
	blob_manifest *m = NULL;
	blob_batch *b = NULL;
	uint8_t *buf = NULL;
	uint32_t n;
	int rc;

	IMGFS_RDLOCK(&w->lock, blob_wblob_lock);
	if ((rc = blob_manifest_new(&m, w->size)) < 0 || (rc = blob_batch_new_key(&b, w->s, key)) < 0)
		goto out;
	blob_manifest_set_key(m, key);
	buf = blob_chunk_buf_new(); /* handed to the batch in exchange for another */
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* Streamed chunks the manifest names as they are: in the store by name. */
	if (w->stream && (rc = wb_stream_commit(w)) < 0)
		goto out;
	/* The data chunks only: every other chunk is a hole in the manifest. */
	n = m->nchunks;
	if (w->cl && !w->stream) {
		ah = &ahead;
		if ((rc = ahead_start(ah, w, same)) < 0)
			goto out;
	}
	for (uint32_t i = wb_next_data(w, 0, n); i < n; i = wb_next_data(w, i + 1, n)) {
		size_t len = blob_chunk_len(w->size, i);
		size_t sl = wb_stored_len(w, i);
		enum wb_state st = wb_state_of(w, i);
		bool written = wb_is_held(w, i) || wb_has_own_bytes(st) || st == WB_ARRIVED;
		chunk_id id;

		if (!written && sl == len && same) {
			id = *wb_stored_id(w, i); /* unchanged or streamed: no copy */
		} else if (st == WB_ARRIVED && same && (rc = wb_arr_seal(w, i, len, b, &id)) != 0) {
			if (rc < 0) /* else: linked, or found stored: no copy */
				goto out;
		} else if (ah != NULL && st != WB_ARRIVED) {
			struct ahead_slot *got = ahead_take(ah, i, n);
			if ((rc = seal_judge(w, i, got->rc)) < 0 || (rc = blob_batch_add_buf(b, &id, &got->buf, len)) < 0)
				goto out;
			ahead_done(ah, got, n);
		} else {
			if ((rc = seal_judge(w, i, wb_read_chunk(w, i, buf, 0, len))) < 0)
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
	if (ah != NULL)
		ahead_stop(ah); /* before the lock: its readers read under it */
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
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
 * once its WB_STORED is durable (a leftover, as for streaming). */
static int adopt_chunks(blob_wblob *w, uint32_t i, const blob_manifest *src, uint32_t j, uint32_t n)
{
	int rc;

	/* A cluster wblob's record carries the id with the state. */
	if (!w->cl && (rc = wb_open_ids(w, true)) < 0)
		return rc;
	for (uint32_t k = 0; k < n; k++) {
		const chunk_id *id = blob_manifest_get(src, j + k);
		chunk_id rec[2];
		if (id == NULL)
			return -EIO; /* the caller's data run says otherwise: never */
		/* The whole record (open reads whole ones): the id in both slots. */
		rec[0] = rec[1] = *id;
		if ((rc = blob_radix_reserve(&w->state, i + k)) < 0 || (rc = blob_radix_reserve(&w->sid, i + k)) < 0 ||
		    (!w->cl && (rc = blob_pwrite_full(w->ids_fd, rec, sizeof rec, (uint64_t)(i + k) * WB_IDS_REC)) < 0))
			return rc;
	}
	if (!w->cl && (rc = wb_ids_sync(w)) < 0)
		return rc;
	for (uint32_t k = 0; k < n; k++) {
		enum wb_state st = wb_state_of(w, i + k);
		bool was_data = wb_is_data(w, i + k);

		blob_radix_set(&w->sid, i + k, blob_manifest_get(src, j + k)); /* reserved: cannot fail */
		if ((rc = wb_set_state(w, i + k, WB_STORED)) < 0)
			return rc;
		if (wb_has_own_bytes(st))
			wb_left_add(w, i + k, st);
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
		return wb_punch_locked(w, dst, n);
	*copied += n;
	return wb_write_chunk(w, i, buf, a, n);
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
	if (w->reader)
		return -EROFS;
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

	wb_cl_busy_take(w, 0, WB_BUSY_ALL); /* wblob_cluster.c "Busy chunks" */
	IMGFS_WRLOCK(&w->lock, blob_wblob_lock);
	/* An upload: what streamed so far is settled first (the stage stored,
	 * pending chunks WB_STORED), so every chunk below is in a state the
	 * overlay path knows; the streaming writes after it take up from
	 * there (a chunk's current content, whatever its state). */
	if (w->stream && (rc = wb_stream_sync(w)) < 0)
		goto out;
	if (dst_off + len > w->size && (rc = wb_grow(w, dst_off + len)) < 0)
		goto out;
	while (done < len) {
		uint64_t spos = src_off + done, dpos = dst_off + done, end = src_off + len;
		int64_t d = blob_manifest_seek(src, spos, SEEK_DATA), h;

		/* A hole of the source: a hole here too, whatever was there. */
		if (d < 0 || (uint64_t)d >= end || (uint64_t)d > spos) {
			uint64_t n = d < 0 || (uint64_t)d >= end ? end - spos : (uint64_t)d - spos;
			if ((rc = wb_punch_locked(w, dpos, n)) < 0)
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
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	wb_cl_busy_give(w, 0, WB_BUSY_ALL);
	free(buf);
	if (counts)
		*counts = c;
	/* A failure after some bytes were copied reports those (as pwrite). */
	return done > 0 ? (ssize_t)done : rc;
}

/*
 * batch.c — storing many chunks with few waits for the disk (blob_batch).
 *
 * Who calls it: put.c (whole blobs: admin publish, the catalogue, imports)
 * and wblob.c (sealing a writable blob: captures).  A batch belongs to one
 * thread (the caller); the store under it is shared as usual.
 *
 * Why: placing one chunk durably costs the local backend two waits for the
 * disk (its bytes, then its directory entry), and the disk idles while the
 * next chunk is read and hashed.  Sealing a 2 GiB disk that way took over
 * three times as long as copying the file.  The backend's batch operations
 * write chunks without waiting and wait once per BLOB_BATCH_MAX chunks
 * (backend/local.c has that protocol and its crash reasoning); this file
 * keeps the disk busy with them.
 *
 * The caller's thread does what add must answer: the all-zero test (holes
 * never reach the backend), the seal of a batch made with a key (SPEC §17:
 * crypt.c; the sealed chunk is what is named and stored, so the id, the
 * deduplication and the lanes below never see the plaintext), the keyed
 * hash (the caller needs the id), and
 * deduplication — against every id this batch took (an idset, so equal
 * chunks within one blob are written once) and against the store (the
 * backend's has_many on the caller's own backend batch, `check`: a chunk
 * found there gets its mtime refreshed, so gc keeps it until the caller's
 * metadata names it, and its name is synced when `check` commits).  A new
 * chunk is copied into the buffer of an idle lane.  A backend whose
 * batching says !ask_first (RADOS) is not asked first: a question to an object store is
 * a round trip, which under a stream of writes waits behind them, so the
 * caller's thread would spend its time waiting; its lanes' exclusive
 * creates find a chunk that is there instead (and refresh it).
 *
 * Copies (blob_batch_copy_many) ask the target about up to BLOB_BATCH_MAX
 * chunks at once (has_many: one wait for all on an object store),
 * then read the missing ones from the source, telling a source that
 * prefetches which ones come next, so several reads are in flight.  A
 * backend with copy_from (the local one) places a chunk of another store
 * without its bytes (a hard link) until that fails as unsupported here
 * (another file system, another kind of backend): then bytes, from then
 * on.
 *
 * Lanes: up to the backend's batching->lanes threads (local 8, RADOS 4:
 * each measured, see there), started when a chunk finds none idle,
 * each with its own backend batch and a page-aligned buffer (the local
 * backend writes from it with O_DIRECT).  A lane stages the chunk it was
 * handed and commits its backend batch itself when that holds
 * BLOB_BATCH_MAX chunks.  So reading and hashing overlap the writes,
 * several writes are in flight, and one lane's commit overlaps the other
 * lanes' writes.  blob_batch_commit has every lane commit, waits for all,
 * then commits `check`: when it returns success every chunk the batch was
 * given is durable and so is its name.
 *
 * Lanes and caller meet under one mutex: a lane's cmd goes IDLE -> ADD or
 * COMMIT (set by the caller, who signals the lane's own condition
 * variable) -> IDLE (set by the lane, which signals `changed`, the one the
 * caller waits on); QUIT ends the thread.  While a lane is IDLE its buffer
 * is the caller's to fill; otherwise the lane's.  A lane's backend batch is
 * only ever used by the lane (and freed once the lane has ended).
 *
 * Copies.  A chunk's bytes are copied once on their way in: into an idle
 * lane's buffer (blob_batch_add), or not at all when the caller hands over
 * a chunk buffer of its own (blob_batch_add_buf: the wblob's stage), which
 * is exchanged for the lane's.  A backend that keeps the bytes of a write in
 * flight takes the lane's buffer in exchange for one of its own the same
 * way (batching's add may keep *buf: RADOS), instead of copying them
 * again.
 *
 * A backend without batching gets a plain durable put per chunk in
 * the caller's thread, and commit has nothing left to do.
 *
 * Errors stick (b->err): after one, nothing the batch was given and did
 * not commit may be trusted, so neither may a later "successful" commit.
 * Lanes go on taking commands (an abandoned batch is freed normally) but the
 * caller sends none; what they staged is dropped when the batch is freed.
 */
#include <errno.h>
#include <stdlib.h>

#include "blobstore_int.h"
#include "imgfs_lock.h"

enum lane_cmd { LANE_IDLE, LANE_ADD, LANE_COMMIT, LANE_QUIT };

struct lane {
	blob_batch *b;
	pthread_t thread;
	struct blob_backend_batch *bb;
	uint8_t *buf; /* a chunk buffer (blob_chunk_buf_new) */
	chunk_id id;  /* the chunk in buf, len bytes */
	size_t len;
	bool plain;                /* not sealed: its block digests go with it */
	uint8_t dig[BLOB_DIG_MAX]; /* those, computed by the lane */
	size_t pending; /* chunks staged since the lane's last commit */
	enum lane_cmd cmd;
	pthread_cond_t wake; /* cmd left IDLE */
	bool wake_init;
};

struct blob_batch {
	blob_store *s;
	blob_key *key;                   /* chunks are sealed under it (NULL: plain) */
	uint8_t *obj;                    /* with a key: a chunk buffer, the chunk sealed */
	blob_idset *ids;                 /* every id handed to a lane */
	struct blob_backend_batch *check; /* NULL: the backend has no batches */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a lane's cmd went back to IDLE */
	int nlanes;             /* started */
	int max_lanes;          /* the backend's lanes, or fewer once a start failed */
	struct lane lane[BLOB_BATCH_LANES];
	int placed; /* chunks stored since the batch was made */
	int err;    /* the first error, sticky */
	bool no_link; /* blob_batch_copy: copy_from failed once, copy bytes */
	bool no_file; /* blob_batch_add_file: add_file failed once, copy bytes */
	size_t check_staged; /* files staged on check since its last commit */
};
IMGFS_LOCK_LEVEL(blob_batch_lock, 34); /* under a wblob's batch_lock; a leaf of imgfs (released around backend calls) */

/* ---- the lanes ------------------------------------------------------------ */

/* Runs one command of the lane's; returns chunks placed or -errno. */
static int lane_run(struct lane *l, enum lane_cmd cmd)
{
	const struct blob_backend_batching *bt = l->b->s->be->batching;
	int rc;

	if (cmd == LANE_ADD && (rc = atomic_load_explicit(&l->b->s->test_put_err, memory_order_relaxed)) != 0)
		return rc; /* tests only: blob_store_test_fail_puts */
	if (cmd == LANE_ADD) {
		const uint8_t *dig = l->plain ? blob_store_digests_for(l->b->s, &l->id, l->buf, l->len, l->dig) : NULL;

		if ((rc = bt->add(l->bb, &l->id, &l->buf, l->len, dig)) < 0)
			return rc;
		l->pending += (size_t)rc;
		if (l->pending < BLOB_BATCH_MAX)
			return 0;
	}
	/* Also with nothing pending: add may have found chunks whose
	 * names the commit syncs. */
	l->pending = 0;
	return bt->commit(l->bb);
}

static void *lane_main(void *arg)
{
	struct lane *l = arg;
	blob_batch *b = l->b;

	IMGFS_LOCK(&b->lock, blob_batch_lock);
	for (;;) {
		enum lane_cmd cmd;
		int rc;

		while (l->cmd == LANE_IDLE)
			IMGFS_COND_WAIT(&l->wake, &b->lock, blob_batch_lock);
		if ((cmd = l->cmd) == LANE_QUIT)
			break;
		IMGFS_UNLOCK(&b->lock, blob_batch_lock);
		rc = lane_run(l, cmd);
		IMGFS_LOCK(&b->lock, blob_batch_lock);
		if (rc < 0 && b->err == 0)
			b->err = rc;
		if (rc > 0)
			b->placed += rc;
		l->cmd = LANE_IDLE;
		pthread_cond_broadcast(&b->changed);
	}
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	return NULL;
}

/* Gives lane l a command.  Under the batch's lock. */
static void lane_send(struct lane *l, enum lane_cmd cmd)
{
	IMGFS_ASSERT_HELD(&l->b->lock);
	l->cmd = cmd;
	pthread_cond_signal(&l->wake);
}

/* Starts lane number b->nlanes.  Caller's thread, lock not held (the
 * lanes running meanwhile never read nlanes). */
static int lane_start(blob_batch *b)
{
	struct blob_backend *be = b->s->be;
	struct lane *l = &b->lane[b->nlanes];
	int rc;

	l->b = b;
	l->cmd = LANE_IDLE;
	if (l->buf == NULL && (l->buf = blob_chunk_buf_new()) == NULL)
		return -ENOMEM;
	if (!l->wake_init) {
		if ((rc = pthread_cond_init(&l->wake, NULL)) != 0)
			return -rc;
		l->wake_init = true;
	}
	if (l->bb == NULL && (rc = be->batching->new_batch(be, &l->bb)) < 0)
		return rc;
	if ((rc = pthread_create(&l->thread, NULL, lane_main, l)) != 0)
		return -rc;
	IMGFS_LOCK(&b->lock, blob_batch_lock);
	b->nlanes++;
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	return 0;
}

/* An idle lane, starting one when none is idle and fewer than max_lanes
 * run, else waiting for one; NULL with *rc set when the batch failed or no
 * lane could be started. */
static struct lane *lane_idle(blob_batch *b, int *rc)
{
	struct lane *l = NULL;

	IMGFS_LOCK(&b->lock, blob_batch_lock);
	while ((*rc = b->err) == 0) {
		for (int i = 0; i < b->nlanes && l == NULL; i++)
			if (b->lane[i].cmd == LANE_IDLE)
				l = &b->lane[i];
		if (l != NULL)
			break;
		if (b->nlanes < b->max_lanes) {
			IMGFS_UNLOCK(&b->lock, blob_batch_lock);
			*rc = lane_start(b);
			IMGFS_LOCK(&b->lock, blob_batch_lock);
			if (*rc < 0 && b->nlanes == 0)
				break;
			if (*rc < 0) /* carry on with the lanes there are */
				b->max_lanes = b->nlanes;
			continue;
		}
		IMGFS_COND_WAIT(&b->changed, &b->lock, blob_batch_lock);
	}
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	return *rc < 0 ? NULL : l;
}

/* Hands the chunk to a lane: its bytes copied into the lane's buffer, or,
 * when swap is not NULL (then buf == *swap, a chunk buffer), that buffer
 * exchanged for the lane's.  -errno (nothing exchanged) when the batch
 * failed meanwhile. */
static int hand_on(blob_batch *b, const chunk_id *id, const void *buf, size_t len, uint8_t **swap, bool plain)
{
	struct lane *l;
	int rc;

	if ((l = lane_idle(b, &rc)) == NULL)
		return rc;
	/* The lane is idle until we send it something: its buffer is ours. */
	if (swap != NULL) {
		uint8_t *mine = l->buf;
		l->buf = *swap;
		*swap = mine;
	} else {
		memcpy(l->buf, buf, len);
		blob_count_copy(len);
	}
	l->id = *id;
	l->len = len;
	l->plain = plain;
	IMGFS_LOCK(&b->lock, blob_batch_lock);
	lane_send(l, LANE_ADD);
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	return 0;
}

/* ---- the batch ------------------------------------------------------------ */

void blob_batch_free(blob_batch *b)
{
	struct blob_backend *be;

	if (b == NULL)
		return;
	be = b->s->be;
	IMGFS_LOCK(&b->lock, blob_batch_lock);
	for (int i = 0; i < b->nlanes; i++) {
		while (b->lane[i].cmd != LANE_IDLE)
			IMGFS_COND_WAIT(&b->changed, &b->lock, blob_batch_lock);
		lane_send(&b->lane[i], LANE_QUIT);
	}
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	for (int i = 0; i < b->nlanes; i++)
		pthread_join(b->lane[i].thread, NULL);
	for (int i = 0; i < BLOB_BATCH_LANES; i++) {
		if (b->lane[i].bb != NULL) /* drops what it did not commit */
			be->batching->free(b->lane[i].bb);
		free(b->lane[i].buf);
		if (b->lane[i].wake_init)
			pthread_cond_destroy(&b->lane[i].wake);
	}
	if (b->check != NULL)
		be->batching->free(b->check);
	blob_idset_free(b->ids);
	blob_key_unref(b->key);
	free(b->obj);
	pthread_cond_destroy(&b->changed);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

int blob_batch_new(blob_batch **out, blob_store *s)
{
	return blob_batch_new_key(out, s, NULL);
}

int blob_batch_new_key(blob_batch **out, blob_store *s, const blob_key *key)
{
	struct blob_backend *be = s->be;
	blob_batch *b = calloc(1, sizeof *b);
	int rc;

	if (b == NULL)
		return -ENOMEM;
	b->s = s;
	b->key = blob_key_ref(key);
	b->max_lanes = be->batching && be->batching->lanes > 0 && be->batching->lanes <= BLOB_BATCH_LANES
	                   ? be->batching->lanes
	                   : 1;
	if ((rc = pthread_mutex_init(&b->lock, NULL)) != 0) {
		free(b);
		return -rc;
	}
	if ((rc = pthread_cond_init(&b->changed, NULL)) != 0) {
		pthread_mutex_destroy(&b->lock);
		free(b);
		return -rc;
	}
	if ((rc = blob_idset_new(&b->ids)) < 0 ||
	    (be->batching != NULL && (rc = be->batching->new_batch(be, &b->check)) < 0)) {
		blob_batch_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* Records rc as the batch's error when it is the first; returns rc. */
static int batch_fail(blob_batch *b, int rc)
{
	IMGFS_LOCK(&b->lock, blob_batch_lock);
	if (b->err == 0)
		b->err = rc;
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	return rc;
}

static int batch_err(blob_batch *b)
{
	int rc;

	IMGFS_LOCK(&b->lock, blob_batch_lock);
	rc = b->err;
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	return rc;
}

/* blob_batch_add, blob_batch_add_buf (swap: see hand_on) and, sealed,
 * blob_batch_add_sealed. */
static int batch_add(blob_batch *b, chunk_id *out, const void *buf, size_t len, uint8_t **swap, bool sealed)
{
	struct blob_backend *be = b->s->be;
	chunk_id id;
	int rc;

	if ((rc = batch_err(b)) < 0)
		return rc;
	if (sealed ? b->key == NULL || len > BLOB_CHUNK_SIZE + BLOB_SEAL_OVERHEAD : len > BLOB_CHUNK_SIZE)
		return -EINVAL;
	if (!sealed && blob_is_zero(buf, len)) {
		memset(out, 0, sizeof *out);
		return 0;
	}
	if (b->key != NULL && !sealed) {
		/* What is stored, named and handed on is the sealed chunk, made
		 * in the batch's own chunk buffer (exchanged with a lane's, not
		 * copied); the caller's buffer stays the caller's. */
		if (b->obj == NULL && (b->obj = blob_chunk_buf_new()) == NULL)
			return -ENOMEM;
		if ((rc = blob_key_seal(b->key, b->obj, buf, len)) < 0)
			return batch_fail(b, rc);
		buf = b->obj;
		len = (size_t)rc;
		swap = &b->obj;
	}
	blob_store_chunk_id(b->s, &id, buf, len);
	*out = id;
	if (b->check == NULL) { /* no batches: durable now */
		uint8_t dig[BLOB_DIG_MAX];

		if ((rc = be->put(be, &id, buf, len,
		                  b->key == NULL && !sealed ? blob_store_digests_for(b->s, &id, buf, len, dig) : NULL)) < 0)
			return batch_fail(b, rc);
		b->placed += rc; /* no lanes: nobody else writes it */
		return rc;
	}
	if (blob_idset_has(b->ids, &id))
		return 0; /* taken before */
	if (be->batching->ask_first) {
		uint8_t found;
		if ((rc = be->batching->has_many(b->check, &id, 1, &found)) < 0)
			return batch_fail(b, rc);
		if (found)
			return 0;
	}
	if ((rc = blob_idset_add(b->ids, &id)) < 0)
		return batch_fail(b, rc);
	if ((rc = hand_on(b, &id, buf, len, swap, b->key == NULL && !sealed)) < 0)
		return batch_fail(b, rc); /* the idset says it was taken */
	return 1;
}

int blob_batch_add(blob_batch *b, chunk_id *out, const void *buf, size_t len)
{
	return batch_add(b, out, buf, len, NULL, false);
}

int blob_batch_add_buf(blob_batch *b, chunk_id *out, uint8_t **buf, size_t len)
{
	return batch_add(b, out, *buf, len, buf, false);
}

int blob_batch_add_sealed(blob_batch *b, chunk_id *out, uint8_t **obj, size_t len)
{
	return batch_add(b, out, *obj, len, obj, true);
}

/* Whether a failed link means "copy the bytes instead". */
static bool link_unsupported(int rc);

int blob_batch_add_file(blob_batch *b, const chunk_id *id, int fd, bool (*still)(void *arg), void *arg)
{
	const struct blob_backend_batching *bt = b->s->be->batching;
	int rc;

	if ((rc = batch_err(b)) < 0)
		return rc;
	/* A sealed chunk is not its plaintext's file; no batches, no links. */
	if (b->key != NULL || b->check == NULL || bt->add_file == NULL || b->no_file)
		return 0;
	if (blob_idset_has(b->ids, id))
		return 1; /* taken before */
	/* On the caller's own backend batch, committed when full and by
	 * blob_batch_commit's last step. */
	if (b->check_staged == BLOB_BATCH_MAX) {
		if ((rc = bt->commit(b->check)) < 0)
			return batch_fail(b, rc);
		b->check_staged = 0;
	}
	if ((rc = bt->add_file(b->check, id, fd)) < 0) {
		if (!link_unsupported(rc))
			return batch_fail(b, rc);
		b->no_file = true; /* another file system: copy from now on */
		return 0;
	}
	/* Linked: asked again whether the file holds those bytes (its writer
	 * may have begun to change it before the link stopped it). */
	if (rc > 0 && still != NULL && !still(arg)) {
		bt->drop_file(b->check);
		return 0;
	}
	b->check_staged += (size_t)rc;
	IMGFS_LOCK(&b->lock, blob_batch_lock);
	b->placed += rc;
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	if ((rc = blob_idset_add(b->ids, id)) < 0)
		return batch_fail(b, rc);
	return 1;
}

int blob_batch_commit(blob_batch *b)
{
	int placed, rc;

	IMGFS_LOCK(&b->lock, blob_batch_lock);
	for (int i = 0; i < b->nlanes && b->err == 0; i++) {
		while (b->err == 0 && b->lane[i].cmd != LANE_IDLE)
			IMGFS_COND_WAIT(&b->changed, &b->lock, blob_batch_lock);
		if (b->err == 0)
			lane_send(&b->lane[i], LANE_COMMIT);
	}
	for (int i = 0; i < b->nlanes; i++)
		while (b->lane[i].cmd != LANE_IDLE)
			IMGFS_COND_WAIT(&b->changed, &b->lock, blob_batch_lock);
	rc = b->err;
	placed = b->placed;
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	/* Names of chunks found in the store: durable too. */
	if (rc == 0 && b->check != NULL && (rc = b->s->be->batching->commit(b->check)) > 0)
		rc = 0;
	b->check_staged = 0;
	return rc < 0 ? batch_fail(b, rc) : placed;
}

static bool link_unsupported(int rc)
{
	return rc == -EXDEV || rc == -EPERM || rc == -EMLINK || rc == -EOPNOTSUPP;
}

/* A read of chunk id from src that failed (rc): a verdict when the store
 * answers about the chunk — its bytes are not the chunk (-EUCLEAN: a read
 * says EIO for it, so the chunk is checked again, once, only after a
 * failure) or it is gone (-ENOENT) — else rc (EIO: the store did not
 * answer, could not tell; SPEC §13), as the seal's judge (wblob_copy.c). */
static int copy_judge(blob_store *src, const chunk_id *id, int rc)
{
	int got;

	if (rc != -EIO)
		return rc;
	got = blob_store_check_chunk(src, NULL, id, 0);
	return got == -EUCLEAN || got == -ENOENT ? got : rc;
}

/* blob_batch_copy's bytes: read and verified from src straight into an
 * idle lane's buffer, then written by the lane. */
static int copy_bytes(blob_batch *b, blob_store *src, const chunk_id *id)
{
	struct lane *l;
	size_t len;
	int rc;

	if ((l = lane_idle(b, &rc)) == NULL)
		return rc;
	/* The lane is idle until we send it something: its buffer is ours (a
	 * chunk src read ahead comes in exchange for it, without a copy). */
	if ((rc = blob_store_get_chunk_buf(src, id, &l->buf, &len)) < 0)
		return copy_judge(src, id, rc);
	l->id = *id;
	l->len = len;
	/* Which a copied chunk is, plain or sealed, is the manifest's: its
	 * digests are right for its bytes either way, and never used under a
	 * key (reads of sealed chunks are whole: part.c). */
	l->plain = true;
	IMGFS_LOCK(&b->lock, blob_batch_lock);
	lane_send(l, LANE_ADD);
	IMGFS_UNLOCK(&b->lock, blob_batch_lock);
	return 1;
}

/* Asks the store about ids[0..n) (n <= BLOB_BATCH_MAX) on the check
 * batch: found[k] = 1 or 0. */
static int check_many(blob_batch *b, const chunk_id *ids, size_t n, uint8_t *found)
{
	return b->s->be->batching->has_many(b->check, ids, n, found);
}

/* Places ids[k] for every k with want[k] (the target lacks them): the
 * backend's copy_from (a hard link between local stores), else the bytes, read from src with the next
 * ones hinted to it.  moved[k] = 1 for each placed.  Returns how many. */
static int copy_missing(blob_batch *b, blob_store *src, const chunk_id *ids, size_t n, const uint8_t *want,
                        uint8_t *moved)
{
	struct blob_backend *be = b->s->be;
	chunk_id ahead[BLOB_READ_AHEAD];
	size_t next_hint = 0; /* hint again on reaching this index */
	int placed = 0, rc;

	for (size_t k = 0; k < n; k++) {
		if (!want[k])
			continue;
		if ((rc = blob_idset_add(b->ids, &ids[k])) < 0)
			return rc;
		if (!b->no_link && be->copy_from != NULL) {
			/* On the caller's own backend batch: its commit (the last
			 * step of blob_batch_commit) makes the name durable. */
			rc = be->copy_from(b->check, src->be, &ids[k]);
			if (rc >= 0) {
				IMGFS_LOCK(&b->lock, blob_batch_lock);
				b->placed += rc;
				IMGFS_UNLOCK(&b->lock, blob_batch_lock);
				moved[k] = rc > 0;
				placed += rc;
				continue;
			}
			if (!link_unsupported(rc))
				return rc;
			b->no_link = true; /* another file system: copy from now on */
		}
		if (src->be->prefetch != NULL && k >= next_hint) {
			/* The next wanted ones; hint again once half are read. */
			size_t m = 0;
			for (size_t j = k; j < n && m < BLOB_READ_AHEAD; j++) {
				if (!want[j])
					continue;
				if (m == BLOB_READ_AHEAD / 2)
					next_hint = j;
				ahead[m++] = ids[j];
			}
			if (m <= BLOB_READ_AHEAD / 2)
				next_hint = n;
			src->be->prefetch(src->be, ahead, m);
		}
		if ((rc = copy_bytes(b, src, &ids[k])) < 0)
			return rc;
		moved[k] = 1;
		placed++;
	}
	return placed;
}

int blob_batch_copy_many(blob_batch *b, blob_store *src, const chunk_id *ids, size_t n, uint8_t *moved)
{
	uint8_t want[BLOB_BATCH_MAX], found[BLOB_BATCH_MAX], scratch[BLOB_BATCH_MAX];
	chunk_id ask[BLOB_BATCH_MAX];
	size_t at[BLOB_BATCH_MAX];
	int total = 0, rc;

	if ((rc = batch_err(b)) < 0)
		return rc;
	/* Ids are only comparable between stores keyed alike. */
	if (memcmp(b->s->secret, src->secret, BLOB_SECRET_SIZE) != 0)
		return -EINVAL;
	if (b->check == NULL) { /* no batches: durable now, one by one */
		for (size_t k = 0; k < n; k++) {
			if ((rc = blob_store_copy_chunk(b->s, src, &ids[k])) < 0)
				return batch_fail(b, rc);
			b->placed += rc;
			total += rc;
			if (moved != NULL)
				moved[k] = rc > 0;
		}
		return total;
	}
	for (size_t base = 0; base < n; base += BLOB_BATCH_MAX) {
		size_t len = n - base < BLOB_BATCH_MAX ? n - base : BLOB_BATCH_MAX;
		uint8_t *mv = moved != NULL ? moved + base : scratch;
		size_t nask = 0;

		/* Holes and chunks this batch took need no question. */
		for (size_t k = 0; k < len; k++) {
			const chunk_id *id = &ids[base + k];
			mv[k] = want[k] = 0;
			if (chunk_id_is_null(id) || blob_idset_has(b->ids, id))
				continue;
			/* An id twice in one group is asked about once. */
			bool dup = false;
			for (size_t j = 0; j < nask && !dup; j++)
				dup = chunk_id_equal(&ask[j], id);
			if (dup)
				continue;
			at[nask] = k;
			ask[nask++] = *id;
		}
		if (nask > 0 && (rc = check_many(b, ask, nask, found)) < 0)
			return batch_fail(b, rc);
		for (size_t j = 0; j < nask; j++)
			want[at[j]] = !found[j];
		if ((rc = copy_missing(b, src, ids + base, len, want, mv)) < 0)
			return batch_fail(b, rc);
		total += rc;
	}
	return total;
}

int blob_batch_copy(blob_batch *b, blob_store *src, const chunk_id *id)
{
	return blob_batch_copy_many(b, src, id, 1, NULL);
}

/* ---- a whole store into another (migration) ---------------------------------- */

struct copy_all {
	blob_batch *b;
	blob_store *src;
	unsigned pending; /* adds since the last commit */
	int rc;
};

static int copy_all_one(void *arg, const chunk_id *id, int64_t mtime)
{
	struct copy_all *c = arg;
	(void)mtime;
	if ((c->rc = blob_batch_copy(c->b, c->src, id)) < 0)
		return c->rc;
	if (++c->pending == BLOB_BATCH_MAX) {
		if ((c->rc = blob_batch_commit(c->b)) < 0)
			return c->rc;
		c->pending = 0;
	}
	return 0;
}

int blob_store_copy_all(blob_store *dst, blob_store *src, uint64_t *placed_out)
{
	struct copy_all c = {NULL, src, 0, 0};
	int rc;
	if ((rc = blob_batch_new(&c.b, dst)) < 0)
		return rc;
	if ((rc = src->be->list(src->be, copy_all_one, &c)) == 0)
		rc = blob_batch_commit(c.b);
	if (rc >= 0 && placed_out)
		*placed_out = (uint64_t)rc;
	blob_batch_free(c.b);
	return rc < 0 ? rc : 0;
}

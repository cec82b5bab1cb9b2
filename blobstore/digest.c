/*
 * digest.c — the SHA-256 of a blob's bytes (SPEC §2.1 `sha256`;
 * blob_digest.h).
 *
 * Who calls it: model/ (the tasks that make a blob: capture, conversion,
 * upload and import seals; the upgrade's pass over older images) and
 * fs/fuse/upload.c (an upload hashed as its writes arrive).  A blob_sha256
 * is one caller's; a blob_sha256_async is fed by one thread at a time (the
 * upload's writer lock) and hashed by a thread of its own.
 *
 * The hashing is libcrypto's EVP interface, which picks SHA-NI (or AVX2)
 * when the CPU has it: about 1.8 GB/s here, a single stream that cannot be
 * split — so a zero run costs what its bytes cost, fed from one static
 * buffer.  The asynchronous form exists for uploads: an upload's write is
 * answered once its bytes are in the queue, and the hashing overlaps the
 * writes that follow (on two cores, the FUSE thread and the hasher run
 * side by side).  Its queue is a fixed ring of chunk buffers: memory does
 * not grow with what a writer sends, a writer faster than the hasher
 * waits.  A writer either copies its bytes into the ring itself (update)
 * or lends them (lend, then settle): the hasher thread copies them into
 * the ring before it hashes anything more, so the writer's own work (an
 * upload's storing of the same bytes) overlaps that copy instead of
 * waiting for it, and the hasher still runs up to the ring's length
 * behind.  Hashing goes a step (HASH_STEP) at a time so that a lent piece
 * is taken within one step.  The image API's MD5 and SHA-512 (§19.5), when
 * asked, are a second thread's, reading the same queued pieces once the
 * first has taken them: MD5 costs more than twice SHA-256 (780 MB/s here
 * against 1.8 GB/s), and on two cores the two run side by side; a piece
 * goes back to the spares once both have hashed it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "blobstore_int.h"
#include "imgfs_lock.h"
#include "xxh.h"
#include "imgfs_assert.h"

#define ZERO_FEED 65536

struct blob_sha256 {
	EVP_MD_CTX *ctx;
	unsigned len; /* the digest's bytes */
};

/* One stream of md's (SHA-256; an upload's MD5 and SHA-512 beside it). */
static int md_new(blob_sha256 **out, const EVP_MD *md)
{
	blob_sha256 *h = calloc(1, sizeof(*h));
	if (h == NULL || (h->ctx = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
		blob_sha256_free(h);
		return -ENOMEM;
	}
	h->len = (unsigned)EVP_MD_get_size(md);
	*out = h;
	return 0;
}

int blob_sha256_new(blob_sha256 **out)
{
	return md_new(out, EVP_sha256());
}

void blob_sha256_free(blob_sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void blob_sha256_update(blob_sha256 *h, const void *buf, size_t len)
{
	EVP_DigestUpdate(h->ctx, buf, len);
}

void blob_sha256_zeros(blob_sha256 *h, uint64_t n)
{
	static const uint8_t zeros[ZERO_FEED];

	for (uint64_t fed = 0; fed < n; fed += ZERO_FEED)
		EVP_DigestUpdate(h->ctx, zeros, n - fed < ZERO_FEED ? (size_t)(n - fed) : ZERO_FEED);
}

/* The lowercase hex of h's digest (2 * h->len digits and a NUL). */
static int md_final(blob_sha256 *h, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != h->len)
		return -EIO;
	for (unsigned i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * len] = '\0';
	return 0;
}

int blob_sha256_final(blob_sha256 *h, char out[65])
{
	return h->len == 32 ? md_final(h, out) : -EIO;
}

/* ---- a sealed blob ------------------------------------------------------ */

/* The unkeyed XXH3-128 of a state, as `xxhsum -H2` prints it. */
static void xxh_hex(XXH3_state_t *st, char out[33])
{
	XXH128_canonical_t c;
	chunk_id id;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	memcpy(id.b, c.digest, 16);
	chunk_id_fmt(out, &id);
}

static void xxh_zeros(XXH3_state_t *st, uint64_t n)
{
	static const uint8_t zeros[ZERO_FEED];

	for (uint64_t fed = 0; fed < n; fed += ZERO_FEED)
		XXH3_128bits_update(st, zeros, n - fed < ZERO_FEED ? (size_t)(n - fed) : ZERO_FEED);
}

struct blob_digest {
	blob_sha256 *h;      /* NULL: not wanted */
	XXH3_state_t *xxh;   /* NULL: not wanted */
	uint64_t done;       /* bytes hashed so far: where the next walk begins */
	int (*tick)(void *arg, uint64_t done); /* the walk's, while it runs */
	void *arg;
};

int blob_digest_new(bool sha, bool xxh, blob_digest **out)
{
	blob_digest *d = calloc(1, sizeof(*d));
	int rc = d ? 0 : -ENOMEM;

	if (rc == 0 && sha)
		rc = blob_sha256_new(&d->h);
	if (rc == 0 && xxh && ((d->xxh = XXH3_createState()) == NULL || XXH3_128bits_reset(d->xxh) != XXH_OK))
		rc = -ENOMEM;
	if (rc < 0) {
		blob_digest_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void blob_digest_free(blob_digest *d)
{
	if (d == NULL)
		return;
	blob_sha256_free(d->h);
	XXH3_freeState(d->xxh);
	free(d);
}

uint64_t blob_digest_done(const blob_digest *d)
{
	return d->done;
}

bool blob_digest_has(const blob_digest *d, bool sha, bool xxh)
{
	return (!sha || d->h) && (!xxh || d->xxh);
}

static void walk_bytes(void *arg, const void *buf, size_t len)
{
	blob_digest *d = arg;
	if (d->h)
		blob_sha256_update(d->h, buf, len);
	if (d->xxh)
		XXH3_128bits_update(d->xxh, buf, len);
}

static void walk_zeros(void *arg, uint64_t n)
{
	blob_digest *d = arg;
	if (d->h)
		blob_sha256_zeros(d->h, n);
	if (d->xxh)
		xxh_zeros(d->xxh, n);
}

/* Every tick follows a piece fed whole: done is where a stopped walk
 * goes on. */
static int walk_tick(void *arg, uint64_t done)
{
	blob_digest *d = arg;
	d->done = done;
	return d->tick ? d->tick(d->arg, done) : 0;
}

int blob_store_digest_walk(blob_store *s, const blob_manifest *m, blob_digest *d, char sha[65], char xxh[33],
                           int (*tick)(void *arg, uint64_t done), void *arg)
{
	struct blob_byte_sink sink = {.bytes = walk_bytes, .zeros = walk_zeros, .tick = walk_tick, .arg = d};
	int rc;

	d->tick = tick;
	d->arg = arg;
	rc = blob_store_walk_bytes(s, m, d->done, &sink);
	d->tick = NULL;
	if (rc < 0)
		return rc;
	d->done = m->size;
	if (d->h && sha && (rc = blob_sha256_final(d->h, sha)) < 0)
		return rc;
	if (d->xxh && xxh)
		xxh_hex(d->xxh, xxh);
	return 0;
}

int blob_store_digests(blob_store *s, const blob_manifest *m, char sha[65], char xxh[33],
                       int (*tick)(void *arg, uint64_t done), void *arg)
{
	blob_digest *d;
	int rc;

	if ((rc = blob_digest_new(sha != NULL, xxh != NULL, &d)) < 0)
		return rc;
	rc = blob_store_digest_walk(s, m, d, sha, xxh, tick, arg);
	blob_digest_free(d);
	return rc;
}

int blob_store_sha256(blob_store *s, const blob_manifest *m, char out[65], int (*tick)(void *arg, uint64_t done),
                      void *arg)
{
	return blob_store_digests(s, m, out, NULL, tick, arg);
}

/* ---- fed from another thread -------------------------------------------- */

/* How much the hasher hashes between two looks at the queue: a writer
 * waiting for its lent bytes to be taken waits for at most this much
 * hashing (64 KiB: about 35 us), not for a whole piece. */
#define HASH_STEP 65536

/* One queued piece: bytes (len of them in buf: a chunk buffer of the
 * queue's, or the writer's own while lent) or a zero run (buf NULL);
 * done of them hashed. */
struct piece {
	uint8_t *buf;
	size_t len;
	uint64_t zeros;
	uint64_t done;
	bool lent;
	uint64_t done2; /* of it, hashed by the second thread (MD5, SHA-512) */
};

struct blob_sha256_async {
	blob_sha256 *h;
	XXH3_state_t *xxh;     /* the XXH3-128 beside it (§2.3), same pieces */
	blob_sha256 *md5;      /* Glance's checksum and os_hash beside them (§19.5): NULL when not asked, */
	blob_sha256 *sha512;   /* else hashed by a second thread from the same queue, side by side */
	bool finished;         /* finish gave the digests: the others may be finalised */
	pthread_t thread, thread2;
	bool started, started2;
	bool two;              /* md5 or sha512: the second thread's (set before either starts) */
	unsigned pos1, pos2;   /* pieces from head each thread has hashed whole: the head goes once both passed it */
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* a piece queued, taken or freed, the end */
	struct piece q[BLOB_SHA256_QUEUE];
	uint8_t *spare[BLOB_SHA256_QUEUE]; /* chunk buffers not in the queue */
	unsigned head, count, nspare;
	unsigned lent;         /* lent pieces not taken yet: settle waits for 0 */
	bool done;             /* no more pieces: the thread ends once the queue is empty */
	atomic_bool abort;     /* the digest is not wanted: pieces are dropped unhashed */
	int failed;            /* -ENOMEM: a buffer could not be had, the digest is not the bytes' */
	int take_failed;       /* the same, for a lent piece (the hasher's; read after the join) */
};
IMGFS_LOCK_LEVEL(blob_sha256_async_lock, 50); /* a leaf */

/* Under the lock: the oldest lent piece, NULL when none is queued. */
static struct piece *first_lent(blob_sha256_async *a)
{
	IMGFS_ASSERT_HELD(&a->lock);
	for (unsigned i = 0; a->lent > 0 && i < a->count; i++) {
		struct piece *p = &a->q[(a->head + i) % BLOB_SHA256_QUEUE];
		if (p->lent)
			return p;
	}
	return NULL;
}

/* Under the lock, released meanwhile: lent piece l copied into a buffer of
 * the queue's, so that its writer may go on (no longer lent).  A piece
 * that stays in the queue never moves: l stays valid. */
static void take(blob_sha256_async *a, struct piece *l)
{
	IMGFS_ASSERT_HELD(&a->lock);
	uint8_t *b = a->nspare ? a->spare[--a->nspare] : NULL;
	const uint8_t *src = l->buf;
	size_t len = l->len;
	bool drop = atomic_load(&a->abort);

	IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
	if (b == NULL && !drop)
		b = blob_chunk_buf_new();
	if (b != NULL && !drop) {
		memcpy(b, src, len);
		blob_count_copy(len);
	}
	IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
	if (b == NULL && !drop)
		a->take_failed = -ENOMEM; /* the digest is not the bytes': finish says so */
	*l = (struct piece){b, b ? len : 0, 0, 0, false, 0};
	a->lent--;
	pthread_cond_broadcast(&a->cond);
}

/* Under the lock: the head pieces every thread has hashed whole go back to
 * the spares, and a writer waiting for a slot may go on. */
static void release(blob_sha256_async *a)
{
	IMGFS_ASSERT_HELD(&a->lock);
	while (a->count > 0 && a->pos1 > 0 && (!a->two || a->pos2 > 0)) {
		struct piece *p = &a->q[a->head];
		if (p->buf)
			a->spare[a->nspare++] = p->buf;
		a->head = (a->head + 1) % BLOB_SHA256_QUEUE;
		a->count--;
		a->pos1--;
		if (a->two)
			a->pos2--;
	}
	pthread_cond_broadcast(&a->cond);
}

/* Lent pieces first (their writer waits), then the head piece a step at a
 * time: a zero run too, bounded by the caller (fs/fuse/upload.c feeds no
 * more zeros than bytes), looked at between steps. */
static void *hasher(void *arg)
{
	blob_sha256_async *a = arg;
	struct piece *l;

	IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
	for (;;) {
		while (a->pos1 == a->count && !a->done)
			IMGFS_COND_WAIT(&a->cond, &a->lock, blob_sha256_async_lock);
		if (a->pos1 == a->count)
			break;
		if ((l = first_lent(a)) != NULL) {
			take(a, l);
			continue;
		}
		struct piece *p = &a->q[(a->head + a->pos1) % BLOB_SHA256_QUEUE]; /* never lent: taken above */
		uint64_t total = p->buf ? p->len : p->zeros;
		uint64_t k = total - p->done < HASH_STEP ? total - p->done : HASH_STEP;
		const uint8_t *src = p->buf ? p->buf + p->done : NULL;
		IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
		if (k > 0 && !atomic_load(&a->abort)) {
			if (src) {
				blob_sha256_update(a->h, src, (size_t)k);
				XXH3_128bits_update(a->xxh, src, (size_t)k);
			} else {
				blob_sha256_zeros(a->h, k);
				xxh_zeros(a->xxh, k);
			}
		}
		IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
		p->done += k;
		if (p->done < total && !atomic_load(&a->abort))
			continue;
		a->pos1++;
		release(a);
	}
	IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
	return NULL;
}

/* The second thread: MD5 and SHA-512 of the same pieces, in order, each
 * once the first thread has taken it (never a lent piece: its bytes are
 * the writer's until taken), side by side with the first. */
static void *hasher2(void *arg)
{
	blob_sha256_async *a = arg;

	IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
	for (;;) {
		while ((a->pos2 == a->count || a->q[(a->head + a->pos2) % BLOB_SHA256_QUEUE].lent) &&
		       !(a->done && a->pos2 == a->count))
			IMGFS_COND_WAIT(&a->cond, &a->lock, blob_sha256_async_lock);
		if (a->pos2 == a->count)
			break;
		struct piece *p = &a->q[(a->head + a->pos2) % BLOB_SHA256_QUEUE];
		uint64_t total = p->buf ? p->len : p->zeros;
		uint64_t k = total - p->done2 < HASH_STEP ? total - p->done2 : HASH_STEP;
		const uint8_t *src = p->buf ? p->buf + p->done2 : NULL;
		IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
		if (k > 0 && !atomic_load(&a->abort)) {
			if (a->md5)
				src ? blob_sha256_update(a->md5, src, (size_t)k) : blob_sha256_zeros(a->md5, k);
			if (a->sha512)
				src ? blob_sha256_update(a->sha512, src, (size_t)k) : blob_sha256_zeros(a->sha512, k);
		}
		IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
		p->done2 += k;
		if (p->done2 < total && !atomic_load(&a->abort))
			continue;
		a->pos2++;
		release(a);
	}
	IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
	return NULL;
}

int blob_sha256_async_new(blob_sha256_async **out)
{
	return blob_sha256_async_new_also(out, 0);
}

int blob_sha256_async_new_also(blob_sha256_async **out, unsigned also)
{
	blob_sha256_async *a = calloc(1, sizeof(*a));
	int rc;

	if (a == NULL)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	a->two = (also & (BLOB_ALSO_MD5 | BLOB_ALSO_SHA512)) != 0;
	if ((rc = blob_sha256_new(&a->h)) < 0 || ((also & BLOB_ALSO_MD5) && (rc = md_new(&a->md5, EVP_md5())) < 0) ||
	    ((also & BLOB_ALSO_SHA512) && (rc = md_new(&a->sha512, EVP_sha512())) < 0) ||
	    ((a->xxh = XXH3_createState()) == NULL || XXH3_128bits_reset(a->xxh) != XXH_OK ? (rc = -ENOMEM) : 0) < 0 ||
	    (rc = -pthread_create(&a->thread, NULL, hasher, a)) < 0) {
		blob_sha256_async_free(a);
		return rc;
	}
	a->started = true;
	if (a->two && (rc = -pthread_create(&a->thread2, NULL, hasher2, a)) < 0) {
		blob_sha256_async_free(a);
		return rc;
	}
	a->started2 = a->two;
	*out = a;
	return 0;
}

/* Under the lock: waits for a free slot, returns it. */
static struct piece *slot(blob_sha256_async *a)
{
	IMGFS_ASSERT_HELD(&a->lock);
	while (a->count == BLOB_SHA256_QUEUE)
		IMGFS_COND_WAIT(&a->cond, &a->lock, blob_sha256_async_lock);
	return &a->q[(a->head + a->count) % BLOB_SHA256_QUEUE];
}

void blob_sha256_async_update(blob_sha256_async *a, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0 && !a->failed) {
		size_t n = len < BLOB_CHUNK_SIZE ? len : BLOB_CHUNK_SIZE;
		IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
		struct piece *q = slot(a);
		uint8_t *b = a->nspare ? a->spare[--a->nspare] : NULL;
		IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
		if (b == NULL && (b = blob_chunk_buf_new()) == NULL) {
			a->failed = -ENOMEM;
			return;
		}
		memcpy(b, p, n);
		blob_count_copy(n);
		IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
		*q = (struct piece){b, n, 0, 0, false, 0};
		a->count++;
		pthread_cond_broadcast(&a->cond);
		IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
		p += n;
		len -= n;
	}
}

void blob_sha256_async_lend(blob_sha256_async *a, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0 && !a->failed) {
		size_t n = len < BLOB_CHUNK_SIZE ? len : BLOB_CHUNK_SIZE;
		IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
		/* Only read, by take(): the cast keeps one piece type. */
		*slot(a) = (struct piece){(uint8_t *)(uintptr_t)p, n, 0, 0, true, 0};
		a->count++;
		a->lent++;
		pthread_cond_broadcast(&a->cond);
		IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
		p += n;
		len -= n;
	}
}

void blob_sha256_async_settle(blob_sha256_async *a)
{
	IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
	while (a->lent > 0)
		IMGFS_COND_WAIT(&a->cond, &a->lock, blob_sha256_async_lock);
	IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
}

void blob_sha256_async_zeros(blob_sha256_async *a, uint64_t n)
{
	if (n == 0 || a->failed)
		return;
	IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
	*slot(a) = (struct piece){NULL, 0, n, 0, false, 0};
	a->count++;
	pthread_cond_broadcast(&a->cond);
	IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
}

/* Ends the thread once the queue is empty. */
static void stop(blob_sha256_async *a)
{
	if (!a->started)
		return;
	IMGFS_LOCK(&a->lock, blob_sha256_async_lock);
	a->done = true;
	pthread_cond_broadcast(&a->cond);
	IMGFS_UNLOCK(&a->lock, blob_sha256_async_lock);
	pthread_join(a->thread, NULL);
	if (a->started2)
		pthread_join(a->thread2, NULL);
	a->started = a->started2 = false;
}

int blob_sha256_async_finish(blob_sha256_async *a, char out[65], char xxh[33])
{
	int rc;

	stop(a);
	if ((rc = a->failed ? a->failed : a->take_failed ? a->take_failed : blob_sha256_final(a->h, out)) == 0 && xxh)
		xxh_hex(a->xxh, xxh);
	a->finished = rc == 0;
	return rc;
}

void blob_sha256_async_also(blob_sha256_async *a, char md5[33], char sha512[129])
{
	md5[0] = sha512[0] = '\0';
	if (a->finished && a->md5 && md_final(a->md5, md5) < 0)
		md5[0] = '\0';
	if (a->finished && a->sha512 && md_final(a->sha512, sha512) < 0)
		sha512[0] = '\0';
	a->finished = false; /* spent */
}

void blob_sha256_async_free(blob_sha256_async *a)
{
	if (a == NULL)
		return;
	atomic_store(&a->abort, true); /* a cancelled upload's queue is not worth hashing */
	stop(a);
	for (unsigned i = 0; i < a->count; i++) /* a lent piece's bytes are its writer's */
		if (!a->q[(a->head + i) % BLOB_SHA256_QUEUE].lent)
			free(a->q[(a->head + i) % BLOB_SHA256_QUEUE].buf);
	for (unsigned i = 0; i < a->nspare; i++)
		free(a->spare[i]);
	blob_sha256_free(a->h);
	blob_sha256_free(a->md5);
	blob_sha256_free(a->sha512);
	XXH3_freeState(a->xxh);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

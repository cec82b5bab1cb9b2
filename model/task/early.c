/*
 * early.c — the read-through of an image whose URL import is running, for
 * the instances started from it early (SPEC §6.5 "Early", docs/design.md
 * "Early instances").
 *
 * Who calls it: early_disk.c (a guest's read of an early disk: early_read;
 * the `arrived` file: early_progress), instance.c (an early start:
 * early_want), import.c (the import's windows: early_begin, early_window,
 * early_fetch, early_prefix, early_end).  Any thread.
 *
 * One entry per image imported early, in the model's set (m->early; no
 * global).  It holds what a range needs (the URL, the validator of the
 * version, the size), the manifest `got` of the chunks that arrived (their
 * ids in the region's store; a chunk of zeros a hole) and two bits a chunk:
 * arrived, in flight.  Each chunk is fetched once: whoever needs it first
 * marks it in flight, fetches its range (checked as a resume is: If-Range,
 * a 206 of that version only, fetch.c), stores it (content-addressed:
 * blob_store_put_chunk writes nothing new for a chunk the store holds)
 * and sets it arrived; anyone else waits on the condition variable, at
 * most the import's stall timeout.  The import (import.c) asks for the
 * lowest run of chunks neither arrived nor in flight, so it never fetches
 * a chunk a reader fetched, and a reader never one the import holds.
 *
 * Lock: the set's lock (level 53) guards the list and every entry's
 * fields; nothing is taken under it, and no fetch, store or database call
 * is made while it is held (a reader copies a chunk's id out, then reads).
 *
 * Bounds (SPEC §12): per entry two bits a chunk and the manifest of the
 * data chunks that arrived — the image's own size; one chunk buffer per
 * fetching thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "early.h"
#include "fetch.h"
#include "imgfs_lock.h"
#include "qcow2.h"
#include "task_int.h"

#define CHUNK BLOB_CHUNK_SIZE

struct early_import {
	struct early_import *next;
	int64_t image_id, region_id;
	int users;    /* readers holding it (early_read) */
	bool ended;   /* out of the list (early_end): freed by its last user */
	bool ready;   /* the import turned to windows: url, validator, total, got set */
	int failed;   /* -errno: every read fails (why) */
	char why[FETCH_REASON_MAX];
	char url[FETCH_URL_MAX + 1];
	char validator[FETCH_VALIDATOR_MAX];
	uint64_t total, arrived_bytes;
	uint32_t nchunks;
	uint8_t *arrived, *inflight; /* a bit a chunk */
	blob_manifest *got;
	/* The boot profile (docs/design.md): the chunks readers read, in the
	 * order of their first read (seen: a bit a chunk), saved when the
	 * import ends; and the one an earlier import of the URL saved, whose
	 * chunks the windows take first (plan_at: how far they went). */
	uint8_t *seen;
	uint32_t *order, norder;
	uint32_t *plan, nplan, plan_at;
	/* What the file is (early_format): 0 not known yet, else a raw disk
	 * or a QCOW2 file read through its tables; the disk's size (the
	 * file's, or the QCOW2's virtual size); the QCOW2 readers not in use
	 * (each holds its L1 table and L2 cache) and how many exist. */
	int fmt;
	uint64_t vsize;
	struct early_q *pool[EARLY_QCOW2_READERS];
	int pooled, readers;
	uint32_t gen; /* a new version of the file: readers of the old one are dropped */
};

enum { EARLY_FMT_REFUSED = -1, EARLY_FMT_RAW = 1, EARLY_FMT_QCOW2 = 2 };

/* A QCOW2 reader of an entry's file: its reads are the entry's file reads
 * (each chunk fetched once, checked as the import checks it). */
struct early_q {
	qcow2_reader *q;
	model *m;
	struct early_import *e;
	uint32_t gen;
};

struct model_early {
	pthread_mutex_t lock;
	pthread_cond_t cv; /* a chunk arrived or was given up, an entry turned ready or failed */
	struct early_import *list;
};
IMGFS_LOCK_LEVEL(model_early_lock, 53); /* a leaf: nothing is taken under it */

static bool bit(const uint8_t *b, uint32_t i)
{
	return b[i >> 3] & (1u << (i & 7));
}

static void bit_set(uint8_t *b, uint32_t i, bool on)
{
	if (on)
		b[i >> 3] |= (uint8_t)(1u << (i & 7));
	else
		b[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

int early_set_new(struct model_early **out)
{
	struct model_early *set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	pthread_mutex_init(&set->lock, NULL);
	pthread_cond_init(&set->cv, NULL);
	*out = set;
	return 0;
}

static void pool_drop(struct early_import *e)
{
	for (int i = 0; i < e->pooled; i++) {
		qcow2_reader_free(e->pool[i]->q);
		free(e->pool[i]);
	}
	e->readers -= e->pooled;
	e->pooled = 0;
}

static void entry_free(struct early_import *e)
{
	if (!e)
		return;
	pool_drop(e);
	free(e->arrived);
	free(e->inflight);
	free(e->seen);
	free(e->order);
	free(e->plan);
	blob_manifest_free(e->got);
	explicit_bzero(e->url, sizeof(e->url)); /* it may hold a password */
	free(e);
}

void early_set_free(struct model_early *set)
{
	if (!set)
		return;
	while (set->list) {
		struct early_import *e = set->list;
		set->list = e->next;
		entry_free(e);
	}
	pthread_cond_destroy(&set->cv);
	pthread_mutex_destroy(&set->lock);
	free(set);
}

/* Under the lock. */
static struct early_import *find(struct model_early *set, int64_t image_id)
{
	IMGFS_ASSERT_HELD(&set->lock);
	for (struct early_import *e = set->list; e; e = e->next)
		if (e->image_id == image_id)
			return e;
	return NULL;
}

int early_want(model *m, int64_t image_id, int64_t region_id)
{
	struct model_early *set = m->early;
	struct early_import *e;
	int rc = 0;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if (!find(set, image_id)) {
		if ((e = calloc(1, sizeof(*e)))) {
			e->image_id = image_id;
			e->region_id = region_id;
			e->next = set->list;
			set->list = e;
		} else {
			rc = -ENOMEM;
		}
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return rc;
}

bool early_wanted(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	struct early_import *e;
	bool want;

	IMGFS_LOCK(&set->lock, model_early_lock);
	want = (e = find(set, image_id)) && !e->ready && !e->failed;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return want;
}

bool early_known(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	struct early_import *e;
	bool known;

	IMGFS_LOCK(&set->lock, model_early_lock);
	known = (e = find(set, image_id)) && !e->failed;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return known;
}

/* Tests make stalls short: seconds without a byte before a transfer fails
 * (read by each run from the daemon's environment; docs/reference.md §5.2). */
#define IMPORT_STALL_ENV "IMGFS_IMPORT_STALL_TIMEOUT"

int import_stall_env(void)
{
	const char *v = getenv(IMPORT_STALL_ENV);
	char *end;
	long n;
	if (!v || !*v)
		return 0;
	n = strtol(v, &end, 10);
	return *end == '\0' && n > 0 && n <= 3600 ? (int)n : 0;
}

int import_stall_seconds(void)
{
	int n = import_stall_env();
	return n ? n : FETCH_STALL_TIMEOUT_DEFAULT;
}

/* The deadline of a wait: now + the import's stall timeout. */
static struct timespec deadline(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += import_stall_seconds();
	return t;
}

/* ---- fetching one range ---------------------------------------------------- */

struct early_sink {
	model *m;
	struct early_import *e;
	uint8_t *buf;      /* CHUNK */
	uint32_t chunk;    /* the chunk being gathered */
	size_t have;       /* its bytes so far */
	blob_store *s;
	bool (*cancelled)(void *arg);
	void *arg;
};

/* The chunk gathered is whole: stored (a hole when all zeros), arrived. */
static int sink_chunk(struct early_sink *k)
{
	struct model_early *set = k->m->early;
	struct early_import *e = k->e;
	chunk_id id;
	int rc = 0;
	bool zero = true;

	for (size_t i = 0; i < k->have && zero; i++)
		zero = k->buf[i] == 0;
	memset(&id, 0, sizeof(id));
	if (!zero && (rc = blob_store_put_chunk(k->s, &id, k->buf, k->have)) < 0)
		return rc;
	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((rc = blob_manifest_set(e->got, k->chunk, &id)) == 0) {
		bit_set(e->arrived, k->chunk, true);
		bit_set(e->inflight, k->chunk, false);
		e->arrived_bytes += k->have;
		pthread_cond_broadcast(&set->cv);
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	k->chunk++;
	k->have = 0;
	return rc;
}

static int early_sink_fn(void *arg, const void *buf, size_t len, uint64_t offset)
{
	struct early_sink *k = arg;
	const uint8_t *p = buf;
	(void)offset; /* in order: fetch.c checked the range */
	while (len > 0) {
		size_t want = blob_chunk_len(k->e->total, k->chunk) - k->have;
		size_t n = len < want ? len : want;
		int rc;
		memcpy(k->buf + k->have, p, n);
		k->have += n;
		p += n;
		len -= n;
		if (k->have == blob_chunk_len(k->e->total, k->chunk) && (rc = sink_chunk(k)) < 0)
			return rc;
	}
	return 0;
}

static bool early_cancelled_fn(void *arg)
{
	struct early_sink *k = arg;
	return k->cancelled && k->cancelled(k->arg);
}

int early_fetch(model *m, struct early_import *e, uint32_t first, uint32_t end, bool (*cancelled)(void *arg),
                void *arg, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct early_sink k = {.m = m, .e = e, .chunk = first, .cancelled = cancelled, .arg = arg};
	struct fetch_result res;
	struct fetch_rule *rules = NULL;
	struct fetch_req rq = {
		.url = e->url,
		.ca_file = getenv("SSL_CERT_FILE"),
		.max_size = MODEL_IMPORT_MAX_SIZE,
		.resume_from = (uint64_t)first * CHUNK,
		.range_end = (uint64_t)end * CHUNK < e->total ? (uint64_t)end * CHUNK : e->total,
		.validator = e->validator,
		.stall_timeout = import_stall_seconds(),
		.sink = early_sink_fn,
		.cancelled = early_cancelled_fn,
		.arg = &k,
	};
	int rc;

	why[0] = '\0';
	if (!(k.buf = malloc(CHUNK)))
		rc = -ENOMEM;
	else if ((rc = model_store(m, e->region_id, &k.s)) == 0 &&
	         (rc = model_import_addresses_load(m, &rules, &rq.nrules)) == 0) {
		rq.rules = rules;
		rc = fetch_run(&rq, &res);
		if (rc < 0)
			snprintf(why, cap, "%s", res.reason[0] ? res.reason : strerror(-rc));
		else if (k.chunk != end) {
			rc = -EIO;
			snprintf(why, cap, "the server sent %" PRIu64 " bytes of a range of %" PRIu64, res.bytes,
			         rq.range_end - rq.resume_from);
		}
	}
	free(rules);
	free(k.buf);
	/* What did not arrive is nobody's any more: the next reader takes it. */
	IMGFS_LOCK(&set->lock, model_early_lock);
	for (uint32_t i = k.chunk; i < end; i++)
		bit_set(e->inflight, i, false);
	pthread_cond_broadcast(&set->cv);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc < 0 && !why[0])
		snprintf(why, cap, "%s", strerror(-rc));
	return rc;
}

/* ---- readers -------------------------------------------------------------------- */

/* Chunk i of e arrived (its id into *id, null: a hole), waiting for it or
 * fetching it.  Under the lock on entry and on return. */
static int need_chunk(model *m, struct early_import *e, uint32_t i, chunk_id *id, const struct timespec *until)
{
	struct model_early *set = m->early;
	char why[FETCH_REASON_MAX];
	int rc;

	IMGFS_ASSERT_HELD(&set->lock);
	for (;;) {
		if (e->failed)
			return e->failed;
		if (e->ready && bit(e->arrived, i)) {
			const chunk_id *p = blob_manifest_get(e->got, i);
			if (p)
				*id = *p;
			else
				memset(id, 0, sizeof(*id));
			return 0;
		}
		if (e->ready && !bit(e->inflight, i)) {
			bit_set(e->inflight, i, true);
			IMGFS_UNLOCK(&set->lock, model_early_lock);
			rc = early_fetch(m, e, i, i + 1, NULL, NULL, why, sizeof(why));
			if (rc < 0)
				model_log(m, "early read of image %" PRId64 " chunk %u: %s", e->image_id, i, why);
			if (rc < 0 && strstr(why, "changed on the server"))
				early_fail(m, e->image_id, why);
			IMGFS_LOCK(&set->lock, model_early_lock);
			if (rc < 0)
				return -EIO;
			continue;
		}
		if (IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, until, model_early_lock) == ETIMEDOUT &&
		    !(e->ready && bit(e->arrived, i)))
			return -EIO;
	}
}

/* Takes a user's hold of image_id's entry (NULL: none here). */
static struct early_import *hold(struct model_early *set, int64_t image_id)
{
	struct early_import *e;
	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = find(set, image_id)))
		e->users++;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return e;
}

static void release(struct model_early *set, struct early_import *e)
{
	bool last;
	IMGFS_LOCK(&set->lock, model_early_lock);
	last = --e->users == 0 && e->ended;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (last)
		entry_free(e);
}

/* Bytes [off, off + len) of e's file (zeros past its end), each chunk
 * fetched, waited for or read from the store.  len, or -errno (-ENOENT:
 * the entry ended meanwhile). */
static ssize_t file_read(model *m, struct early_import *e, void *buf, size_t len, uint64_t off,
                         const struct timespec *until)
{
	struct model_early *set = m->early;
	blob_store *s = NULL;
	size_t done = 0;
	int rc = 0;

	if ((rc = model_store(m, e->region_id, &s)) < 0)
		return rc;
	while (done < len) {
		uint64_t at = off + done;
		uint32_t i = (uint32_t)(at / CHUNK);
		size_t n = CHUNK - (size_t)(at % CHUNK);
		blob_manifest *one = NULL;
		chunk_id id;
		uint64_t total;
		if (n > len - done)
			n = len - done;
		IMGFS_LOCK(&set->lock, model_early_lock);
		rc = 0;
		while (!e->ready && !e->failed && rc != ETIMEDOUT)
			rc = IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, until, model_early_lock);
		rc = e->failed ? e->failed : !e->ready ? -EIO : 0;
		total = e->total;
		if (rc == 0 && at >= total)
			rc = 1; /* past the end: zeros */
		else if (rc == 0) {
			if (e->seen && !bit(e->seen, i)) {
				bit_set(e->seen, i, true);
				e->order[e->norder++] = i;
			}
			rc = need_chunk(m, e, i, &id, until);
		}
		IMGFS_UNLOCK(&set->lock, model_early_lock);
		if (rc < 0)
			return rc == -ENOENT && done ? -EIO : rc;
		if (rc == 1 || chunk_id_is_null(&id)) {
			memset((uint8_t *)buf + done, 0, n);
		} else {
			/* A manifest of that one chunk: the store's read (its cache,
			 * its check of the bytes against the id). */
			ssize_t got = -ENOMEM;
			if (blob_manifest_new(&one, total) == 0 && blob_manifest_set(one, i, &id) == 0)
				got = blob_store_read(s, one, (uint8_t *)buf + done, n, at);
			blob_manifest_free(one);
			if (got != (ssize_t)n)
				return got < 0 ? (int)got : -EIO;
		}
		done += n;
	}
	return (ssize_t)done;
}

/* qcow2_read_fn over an entry's file: short only at its end. */
static ssize_t q_file_read(void *arg, void *buf, size_t len, uint64_t off)
{
	struct early_q *eq = arg;
	struct timespec until = deadline();
	uint64_t total = eq->e->total; /* set before any reader exists, never changed while one does */
	if (off >= total)
		return 0;
	if (len > total - off)
		len = (size_t)(total - off);
	return file_read(eq->m, eq->e, buf, len, off, &until);
}

/* A QCOW2 reader of e, from its pool or made (at most
 * EARLY_QCOW2_READERS; a reader beyond waits for one, until the deadline).
 * 0, -errno, -EINVAL with why. */
static int pool_take(model *m, struct early_import *e, struct early_q **out, const struct timespec *until, char *why,
                     size_t cap)
{
	struct model_early *set = m->early;
	struct early_q *eq;
	int rc = 0;

	*out = NULL;
	IMGFS_LOCK(&set->lock, model_early_lock);
	while (!e->failed && e->pooled == 0 && e->readers >= EARLY_QCOW2_READERS && rc != ETIMEDOUT)
		rc = IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, until, model_early_lock);
	if (e->failed)
		rc = e->failed;
	else if (e->pooled > 0) {
		*out = e->pool[--e->pooled];
		rc = 0;
	} else if (e->readers < EARLY_QCOW2_READERS) {
		e->readers++;
		rc = 1; /* make one */
	} else
		rc = -EIO;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc <= 0)
		return rc;
	if (!(eq = calloc(1, sizeof(*eq))))
		rc = -ENOMEM;
	else {
		eq->m = m;
		eq->e = e;
		eq->gen = e->gen;
		rc = qcow2_reader_new(&eq->q, q_file_read, eq, e->total, why, cap);
	}
	if (rc < 0) {
		free(eq);
		IMGFS_LOCK(&set->lock, model_early_lock);
		e->readers--;
		pthread_cond_broadcast(&set->cv);
		IMGFS_UNLOCK(&set->lock, model_early_lock);
		return rc;
	}
	*out = eq;
	return 0;
}

static void pool_put(model *m, struct early_import *e, struct early_q *eq)
{
	struct model_early *set = m->early;
	bool stale;
	IMGFS_LOCK(&set->lock, model_early_lock);
	if (!(stale = eq->gen != e->gen))
		e->pool[e->pooled++] = eq; /* readers <= EARLY_QCOW2_READERS: room */
	else
		e->readers--;
	pthread_cond_broadcast(&set->cv);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (stale) {
		qcow2_reader_free(eq->q);
		free(eq);
	}
}

ssize_t early_read(model *m, int64_t image_id, void *buf, size_t len, uint64_t off)
{
	struct model_early *set = m->early;
	struct timespec until = deadline();
	struct early_import *e;
	struct early_q *eq = NULL;
	char why[FETCH_REASON_MAX] = "";
	uint64_t vsize = 0;
	ssize_t n;
	int rc = 0, fmt;

	if (!(e = hold(set, image_id)))
		return -ENOENT;
	/* What the file is: known once the import turned (early_format). */
	IMGFS_LOCK(&set->lock, model_early_lock);
	while (!(e->fmt && e->vsize) && !e->failed && rc != ETIMEDOUT)
		rc = IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, &until, model_early_lock);
	rc = e->failed ? e->failed : !(e->fmt && e->vsize) ? -EIO : 0;
	fmt = e->fmt;
	vsize = e->vsize;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc < 0)
		n = rc;
	else if (fmt == EARLY_FMT_RAW)
		n = file_read(m, e, buf, len, off, &until);
	else if (off >= vsize) {
		memset(buf, 0, len);
		n = (ssize_t)len;
	} else if ((rc = pool_take(m, e, &eq, &until, why, sizeof(why))) < 0) {
		n = rc;
	} else {
		/* The disk's bytes: its header and tables as the reader needs them,
		 * then the clusters the range maps, each a read of the file. */
		size_t in = len < vsize - off ? len : (size_t)(vsize - off);
		n = qcow2_pread(eq->q, buf, in, off, NULL);
		if (n == -EINVAL)
			snprintf(why, sizeof(why), "%s", qcow2_reader_why(eq->q));
		if (n >= 0 && (size_t)n == in) {
			memset((uint8_t *)buf + in, 0, len - in);
			n = (ssize_t)len;
		} else if (n >= 0)
			n = -EIO;
		pool_put(m, e, eq);
	}
	if (n == -EINVAL) {
		model_log(m, "early read of image %" PRId64 ": the QCOW2 file: %s", image_id, why);
		n = -EIO;
	}
	release(set, e);
	return n;
}

int early_progress(model *m, int64_t image_id, uint64_t *arrived, uint64_t *total)
{
	struct model_early *set = m->early;
	struct early_import *e;
	int rc = 0;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if (!(e = find(set, image_id)) || !e->ready)
		rc = -ENOENT;
	else {
		*arrived = e->arrived_bytes;
		*total = e->total;
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return rc;
}

/* ---- boot profiles -------------------------------------------------------------- */

/* <state>/profiles/<FNV-1a 64 of the URL>: the chunk indexes a first
 * boot read, in order, 4 bytes each (host order).  A collision only
 * orders another image's fetches: the bytes are checked as ever. */
static void profile_path(const model *m, const char *url, char *out, size_t cap)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	snprintf(out, cap, "%s/profiles/%016" PRIx64, m->dir, h);
}

/* The profile of url, at most n chunks below n (none: *nplan 0). */
static void profile_load(model *m, const char *url, uint32_t n, uint32_t **plan, uint32_t *nplan)
{
	char path[4200];
	uint32_t *p = NULL, k = 0, v;
	FILE *f;

	*plan = NULL;
	*nplan = 0;
	if (!m->dir || n == 0)
		return;
	profile_path(m, url, path, sizeof(path));
	if (!(f = fopen(path, "rb")))
		return;
	if ((p = calloc(n, sizeof(*p))))
		while (k < n && fread(&v, sizeof(v), 1, f) == 1)
			if (v < n)
				p[k++] = v;
	fclose(f);
	*plan = p;
	*nplan = p ? k : 0;
}

void early_profile_save(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	char path[4200], tmp[4300], dir[4200];
	uint32_t *copy = NULL, n = 0;
	FILE *f;

	if (!m->dir)
		return;
	IMGFS_LOCK(&set->lock, model_early_lock);
	if (e->norder && (copy = malloc(e->norder * sizeof(*copy)))) {
		n = e->norder;
		memcpy(copy, e->order, n * sizeof(*copy));
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (!copy)
		return;
	snprintf(dir, sizeof(dir), "%s/profiles", m->dir);
	mkdir(dir, 0700);
	profile_path(m, e->url, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "wb"))) {
		bool ok = fwrite(copy, sizeof(*copy), n, f) == n;
		if (fclose(f) == 0 && ok)
			rename(tmp, path); /* a hint: its durability is not promised (a crash keeps the old one) */
		else
			unlink(tmp);
	}
	free(copy);
}

/* ---- the import's side ------------------------------------------------------------ */

int early_begin(model *m, int64_t image_id, const char *url, const char *validator, uint64_t total,
                const blob_manifest *held_man, uint64_t held, struct early_import **out)
{
	struct model_early *set = m->early;
	struct early_import *e;
	uint32_t n = (uint32_t)((total + CHUNK - 1) / CHUNK);
	size_t nb = (n + 7) / 8 + 1;
	uint32_t *plan = NULL, nplan = 0;
	int rc = 0;

	profile_load(m, url, n, &plan, &nplan);
	IMGFS_LOCK(&set->lock, model_early_lock);
	if (!(e = find(set, image_id))) {
		rc = -ENOENT;
		goto out;
	}
	/* A run before this one turned it already: the same version keeps what
	 * arrived; another version starts over (the import started over). */
	if (e->ready && (e->total != total || strcmp(e->validator, validator) != 0)) {
		free(e->arrived);
		free(e->inflight);
		blob_manifest_free(e->got);
		e->arrived = e->inflight = NULL;
		e->got = NULL;
		e->ready = false;
		e->arrived_bytes = 0;
		e->fmt = 0;
		e->gen++;
		pool_drop(e);
	}
	if (!e->ready) {
		if (!(e->arrived = calloc(1, nb)) || !(e->inflight = calloc(1, nb)) || !(e->seen = calloc(1, nb)) ||
		    !(e->order = calloc(n + 1, sizeof(*e->order))) || blob_manifest_new(&e->got, total) < 0) {
			free(e->arrived);
			free(e->inflight);
			free(e->seen);
			free(e->order);
			e->arrived = e->inflight = e->seen = NULL;
			e->order = NULL;
			rc = -ENOMEM;
			goto out;
		}
		free(e->plan);
		e->plan = plan;
		e->nplan = nplan;
		e->plan_at = 0;
		plan = NULL;
		snprintf(e->url, sizeof(e->url), "%s", url);
		snprintf(e->validator, sizeof(e->validator), "%s", validator);
		e->total = total;
		e->nchunks = n;
	}
	for (uint32_t i = 0; (uint64_t)i * CHUNK < held && i < n; i++) {
		if (bit(e->arrived, i) || (((uint64_t)i + 1) * CHUNK > held && held != total))
			continue;
		const chunk_id *id = blob_manifest_get(held_man, i);
		if ((rc = blob_manifest_set(e->got, i, id ? id : &(chunk_id){0})) < 0)
			goto out;
		bit_set(e->arrived, i, true);
		e->arrived_bytes += blob_chunk_len(total, i);
	}
	e->ready = true;
	pthread_cond_broadcast(&set->cv);
	*out = e;
out:
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	free(plan);
	return rc;
}

int early_format(model *m, struct early_import *e, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct timespec until = deadline();
	struct early_q *eq = NULL;
	uint8_t magic[4] = {0};
	uint64_t total, vsize;
	ssize_t n;
	int rc, fmt = EARLY_FMT_RAW;

	why[0] = '\0';
	IMGFS_LOCK(&set->lock, model_early_lock);
	e->users++;
	total = e->total;
	vsize = e->vsize;
	rc = e->fmt;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc) { /* a resumed run: known already */
		rc = 0;
		goto out;
	}
	n = total >= sizeof(magic) ? file_read(m, e, magic, sizeof(magic), 0, &until) : 0;
	vsize = total;
	if (n < 0) {
		snprintf(why, cap, "reading the file's first bytes: %s", strerror((int)-n));
		rc = (int)n;
		goto out;
	}
	if (n == sizeof(magic) && qcow2_sniff(magic, sizeof(magic))) {
		/* The header and the L1 table first (checked as the import's
		 * seal checks them); the reader goes to the pool. */
		fmt = EARLY_FMT_QCOW2;
		if ((rc = pool_take(m, e, &eq, &until, why, cap)) < 0) {
			if (!why[0])
				snprintf(why, cap, "reading its tables: %s", strerror(-rc));
			goto out;
		}
		vsize = qcow2_reader_info(eq->q)->size;
		pool_put(m, e, eq);
	}
	IMGFS_LOCK(&set->lock, model_early_lock);
	e->fmt = fmt;
	e->vsize = vsize;
	pthread_cond_broadcast(&set->cv);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	rc = 0;
out:
	if (rc == -EINVAL) { /* the decoder's refusal: an early start is refused with it (early_disk_size) */
		IMGFS_LOCK(&set->lock, model_early_lock);
		e->fmt = EARLY_FMT_REFUSED;
		IMGFS_UNLOCK(&set->lock, model_early_lock);
	}
	release(set, e);
	return rc;
}

int early_disk_size(model *m, int64_t image_id, uint64_t *size, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct timespec until = deadline();
	struct early_import *e;
	int rc = 0;

	if (!(e = hold(set, image_id)))
		return -ENOENT;
	IMGFS_LOCK(&set->lock, model_early_lock);
	while (!(e->fmt && e->vsize) && !e->failed && rc != ETIMEDOUT)
		rc = IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, &until, model_early_lock);
	rc = e->fmt == EARLY_FMT_REFUSED && e->failed ? -EINVAL : e->failed ? -EIO : e->fmt && e->vsize ? 0 : -ETIMEDOUT;
	*size = e->vsize;
	snprintf(why, cap, "%s", e->failed ? e->why : "");
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	release(set, e);
	return rc;
}

void early_fail(model *m, int64_t image_id, const char *why)
{
	struct model_early *set = m->early;
	struct early_import *e;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = find(set, image_id)) && !e->failed) {
		e->failed = -EIO;
		snprintf(e->why, sizeof(e->why), "%s", why);
		pthread_cond_broadcast(&set->cv);
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

int early_window(model *m, struct early_import *e, uint32_t *first, uint32_t *end, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct timespec until = deadline();
	int rc;

	IMGFS_LOCK(&set->lock, model_early_lock);
	for (;;) {
		uint32_t i, left = 0;
		if (e->failed) {
			snprintf(why, cap, "%s", e->why);
			rc = -EIO;
			break;
		}
		/* The profile's chunks first, in its order. */
		while (e->plan_at < e->nplan &&
		       (bit(e->arrived, e->plan[e->plan_at]) || bit(e->inflight, e->plan[e->plan_at])))
			e->plan_at++;
		if (e->plan_at < e->nplan)
			i = e->plan[e->plan_at];
		else
			for (i = 0; i < e->nchunks && (bit(e->arrived, i) || bit(e->inflight, i)); i++)
				left += !bit(e->arrived, i);
		if (i < e->nchunks) {
			*first = i;
			for (; i < e->nchunks && i - *first < EARLY_WINDOW_CHUNKS && !bit(e->arrived, i) &&
			       !bit(e->inflight, i); i++)
				bit_set(e->inflight, i, true);
			*end = i;
			rc = 1;
			break;
		}
		if (left == 0) {
			rc = 0;
			break;
		}
		/* Only readers' chunks are left: wait for them. */
		if (IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, &until, model_early_lock) == ETIMEDOUT) {
			snprintf(why, cap, "the transfer stalled: nothing received for %d s", import_stall_seconds());
			rc = -ETIMEDOUT;
			break;
		}
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return rc;
}

int early_prefix(model *m, struct early_import *e, blob_manifest **out, uint64_t *prefix)
{
	struct model_early *set = m->early;
	blob_manifest *man = NULL;
	uint32_t i;
	int rc;

	IMGFS_LOCK(&set->lock, model_early_lock);
	for (i = 0; i < e->nchunks && bit(e->arrived, i); i++)
		;
	*prefix = i == e->nchunks ? e->total : (uint64_t)i * CHUNK;
	if ((rc = blob_manifest_new(&man, e->total)) == 0)
		for (uint32_t k = blob_manifest_find(e->got, 0); k < e->got->count && e->got->index[k] < i && rc == 0; k++)
			rc = blob_manifest_set(man, e->got->index[k], &e->got->id[k]);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc < 0) {
		blob_manifest_free(man);
		return rc;
	}
	*out = man;
	return 0;
}

uint64_t early_arrived(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	uint64_t n;
	IMGFS_LOCK(&set->lock, model_early_lock);
	n = e->arrived_bytes;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return n;
}

void early_end(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	struct early_import **pp;
	bool last;

	IMGFS_LOCK(&set->lock, model_early_lock);
	for (pp = &set->list; *pp && *pp != e; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = e->next;
	e->next = NULL;
	e->ended = true;
	if (!e->failed)
		e->failed = -ENOENT; /* its readers read the image now */
	pthread_cond_broadcast(&set->cv);
	last = e->users == 0;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (last)
		entry_free(e);
}

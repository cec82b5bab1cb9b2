/*
 * early.c — the read-through of an image whose URL import (or copy from
 * another region) is running, for the instances started from it early
 * (SPEC §6.5 "Early", docs/design.md
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
 * A copy between regions (SPEC §6.3) read early has an entry too, ready at
 * once (copy_entry): got is the source's manifest, a chunk arrives once it
 * is in the target region's store — placed there by a reader (copy_fetch)
 * or by the copy, which claims its groups through the entry (copy.c:
 * early_copy_claim, early_copy_done) and ends it (early_copy_end).
 *
 * On a host that does not run the import (SPEC §13), early_remote.c makes
 * the entry ready from the task row's durable point (e->remote: a reader
 * reads the row again before it asks the source for a chunk).
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
#include <fcntl.h>
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
	bool readers_only; /* failed for readers only: the import's windows go on */
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
	/* A copy between regions (SPEC §6.3): its source device's region and
	 * blob; got holds the source's ids (the same in every region) and
	 * arrived says which are in this region's store; moved: a reader
	 * placed the chunk (it counts as the copy's). */
	bool copy;
	bool remote; /* another host runs the import: made by early_remote_load */
	int64_t src_region, src_blob;
	uint8_t *moved;
	/* What the file is (early_format): 0 not known yet, else a raw disk
	 * or a QCOW2 file read through its tables; the disk's size (the
	 * file's, or the QCOW2's virtual size); the QCOW2 readers not in use
	 * (each holds its L1 table and L2 cache) and how many exist. */
	int fmt;
	uint64_t vsize;
	struct early_q *pool[EARLY_QCOW2_READERS];
	int pooled, readers;
	uint32_t gen; /* a new version of the file: readers of the old one are dropped */
	bool sniffing; /* a reader looks at the file of an entry no import here sniffs (entry_format) */
};

enum { EARLY_FMT_REFUSED = -1, EARLY_FMT_RAW = 1, EARLY_FMT_QCOW2 = 2 };

/* A QCOW2 reader of an entry's file: its reads are the entry's file reads
 * (each chunk fetched once, checked as the import checks it). */
struct early_q {
	qcow2_reader *q;
	model *m;
	struct early_import *e;
	uint32_t gen;
	/* Set by its taker (pool_take): whether its reads are a reader's (the
	 * boot profile) and where a failed one says why. */
	bool seen;
	char *why;
	size_t cap;
};

struct model_early {
	unsigned seq; /* temporary names of the arrived files (got_save) */
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
	free(e->moved);
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

/* The entry of a copy into image_id (SPEC §6.3), ready at once: its
 * source's system disk is sealed, its ids are the copy's.  *out NULL when
 * image_id is no copy being made. */
static int copy_entry(model *m, int64_t image_id, int64_t region_id, struct early_import **out)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_image img;
	struct model_blob sb;
	struct early_import *e;
	blob_manifest *man = NULL;
	uint32_t n;
	size_t nb;
	int rc;

	*out = NULL;
	if (model_image_get(m, image_id, &img) < 0 || strcmp(img.origin_kind, "copy") != 0 ||
	    img.status != MODEL_IMG_PENDING)
		return 0;
	if ((rc = model_device_list(m, img.origin_id, devs)) <= 0 || devs[0].index != 0 ||
	    (rc = model_blob_get(m, devs[0].blob_id, &sb)) < 0 || (rc = model_blob_ids(m, devs[0].blob_id, &man)) < 0)
		return rc < 0 ? rc : -EIO;
	n = (uint32_t)((man->size + CHUNK - 1) / CHUNK);
	nb = (n + 7) / 8 + 1;
	if (!(e = calloc(1, sizeof(*e))) || !(e->arrived = calloc(1, nb)) || !(e->inflight = calloc(1, nb)) ||
	    !(e->moved = calloc(1, nb))) {
		blob_manifest_free(man);
		entry_free(e);
		return -ENOMEM;
	}
	e->image_id = image_id;
	e->region_id = region_id;
	e->copy = true;
	e->src_region = sb.region_id;
	e->src_blob = sb.id;
	e->got = man;
	e->total = man->size;
	e->nchunks = n;
	/* A hole is there already; a data chunk arrives when a reader or
	 * the copy placed it (or found it) in this region's store. */
	for (uint32_t i = 0; i < n; i++)
		bit_set(e->arrived, i, true);
	e->arrived_bytes = e->total;
	for (uint32_t k = 0; k < man->count; k++) {
		bit_set(e->arrived, man->index[k], false);
		e->arrived_bytes -= blob_chunk_len(e->total, man->index[k]);
	}
	e->ready = true;
	/* The source's system disk as stored: a raw disk; a QCOW2 image's
	 * file is looked at by its first reader (entry_format). */
	if (strcmp(img.format, "qcow2") != 0) {
		e->fmt = EARLY_FMT_RAW;
		e->vsize = e->total;
	}
	*out = e;
	return 0;
}

int early_want(model *m, int64_t image_id, int64_t region_id)
{
	struct model_early *set = m->early;
	struct early_import *e, *copy = NULL;
	int rc;

	if ((rc = copy_entry(m, image_id, region_id, &copy)) < 0)
		return rc;
	rc = 0;
	IMGFS_LOCK(&set->lock, model_early_lock);
	if (!find(set, image_id)) {
		if ((e = copy ? copy : calloc(1, sizeof(*e)))) {
			e->image_id = image_id;
			e->region_id = region_id;
			e->next = set->list;
			set->list = e;
			copy = NULL;
		} else {
			rc = -ENOMEM;
		}
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	entry_free(copy); /* another was first */
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

/* ---- what arrived, kept across a crash ------------------------------------------ */

/* <state>/early-got/<image id>: "IMGFSEG1", the size (u64), the
 * validator's length (u32) and bytes, then the manifest of the chunks
 * that arrived (blob_manifest_encode).  Rewritten (temporary name, fsync,
 * rename) after each fetch that brought chunks, removed when the import
 * ends: the run after a crash (kill -9, a power cut) takes the chunks it
 * names that the store holds as arrived, for the same version of the
 * file only, instead of fetching them again (SPEC §6.5 "Faults").  Every
 * chunk it names was stored durably first (blob_store_put_chunk). */
#define GOT_MAGIC "IMGFSEG1"

/* write(2) until all of it is written: 0 or -EIO. */
static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void got_path(const model *m, int64_t image_id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/early-got/%" PRId64, m->dir, image_id);
}

static void got_save(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	char path[4200], tmp[4300], dir[4200];
	uint8_t head[8 + 8 + 4];
	uint32_t v32;
	void *enc = NULL;
	size_t len = 0, vlen = 0;
	unsigned seq;
	int fd, rc;

	if (!m->dir)
		return;
	IMGFS_LOCK(&set->lock, model_early_lock);
	/* Ended: the import sealed or failed, and removed the file (a reader's
	 * fetch that ends in that moment may still leave one: its image's
	 * task is gone, nothing reads it). */
	rc = e->got && !e->ended ? blob_manifest_encode(&enc, &len, e->got) : -ENOENT;
	seq = set->seq++;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc < 0)
		return;
	vlen = strlen(e->validator);
	memcpy(head, GOT_MAGIC, 8);
	memcpy(head + 8, &e->total, 8); /* host order, as the profiles */
	v32 = (uint32_t)vlen;
	memcpy(head + 16, &v32, 4);
	snprintf(dir, sizeof(dir), "%s/early-got", m->dir);
	mkdir(dir, 0700);
	got_path(m, e->image_id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%u.tmp", path, seq);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		goto out;
	rc = write_all(fd, head, sizeof(head)) == 0 && write_all(fd, e->validator, vlen) == 0 &&
	             write_all(fd, enc, len) == 0 && fsync(fd) == 0
	         ? 0
	         : -EIO;
	close(fd);
	/* A hint: a failure costs fetches after a crash, never bytes. */
	if (rc < 0 || rename(tmp, path) < 0)
		unlink(tmp);
out:
	free(enc);
}

bool early_got_kept(model *m, int64_t image_id)
{
	char path[4200];

	if (!m->dir)
		return false;
	got_path(m, image_id, path, sizeof(path));
	return access(path, F_OK) == 0;
}

void early_got_remove(model *m, int64_t image_id)
{
	char path[4200];

	if (!m->dir)
		return;
	got_path(m, image_id, path, sizeof(path));
	unlink(path);
}

/* The chunks the file kept for image_id names that the store holds, for
 * this version (validator, total) only: a manifest, or NULL. */
static blob_manifest *got_load(model *m, int64_t image_id, int64_t region_id, const char *validator, uint64_t total)
{
	char path[4200];
	blob_manifest *man = NULL, *have = NULL;
	uint8_t *buf = NULL;
	blob_store *s;
	struct stat st;
	size_t vlen = strlen(validator);
	uint64_t size = 0;
	uint32_t v32 = 0;
	int fd = -1;

	if (!m->dir)
		return NULL;
	got_path(m, image_id, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0 || st.st_size < 20 ||
	    st.st_size > (off_t)64 << 20 || !(buf = malloc((size_t)st.st_size)) ||
	    pread(fd, buf, (size_t)st.st_size, 0) != (ssize_t)st.st_size)
		goto out;
	memcpy(&size, buf + 8, 8);
	memcpy(&v32, buf + 16, 4);
	if (memcmp(buf, GOT_MAGIC, 8) != 0 || size != total || v32 != vlen ||
	    20 + vlen > (size_t)st.st_size || memcmp(buf + 20, validator, vlen) != 0 ||
	    blob_manifest_decode(&man, buf + 20 + vlen, (size_t)st.st_size - 20 - vlen) < 0 || man->size != total ||
	    model_store(m, region_id, &s) < 0 || blob_manifest_new(&have, total) < 0)
		goto out;
	for (uint32_t k = 0; k < man->count; k++)
		if (blob_store_has_chunk(s, &man->id[k]) == 1 && blob_manifest_set(have, man->index[k], &man->id[k]) < 0)
			break;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	blob_manifest_free(man);
	return have;
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
	if (k.chunk > first)
		got_save(m, e);
	return rc;
}

/* Chunk i of a copy (in flight for the caller) placed in this region's
 * store from the source region's, unless the store holds it (then nothing
 * is read): blob_batch_copy's check of the bytes against the id, committed
 * before it is arrived.  Counted as the copy's moved bytes (/stats). */
static int copy_fetch(model *m, struct early_import *e, uint32_t i, char *why, size_t cap)
{
	struct model_early *set = m->early;
	const chunk_id *p = blob_manifest_get(e->got, i); /* a copy's got never changes */
	blob_store *src = NULL, *dst = NULL;
	blob_batch *b = NULL;
	uint8_t moved = 0;
	int rc;

	if (!p)
		rc = 0; /* a hole: arrived from the start */
	else if ((rc = model_store(m, e->src_region, &src)) == 0 && (rc = model_store(m, e->region_id, &dst)) == 0 &&
	         (rc = blob_batch_new(&b, dst)) == 0 && (rc = blob_batch_copy_many(b, src, p, 1, &moved)) >= 0)
		rc = blob_batch_commit(b);
	blob_batch_free(b);
	IMGFS_LOCK(&set->lock, model_early_lock);
	bit_set(e->inflight, i, false);
	if (rc >= 0 && !bit(e->arrived, i)) {
		bit_set(e->arrived, i, true);
		bit_set(e->moved, i, moved != 0);
		e->arrived_bytes += blob_chunk_len(e->total, i);
	}
	pthread_cond_broadcast(&set->cv);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc < 0) {
		snprintf(why, cap, "copying it from the source region: %s",
		         rc == -EUCLEAN ? "its bytes there are not the chunk" : strerror(-rc));
		return rc;
	}
	if (moved)
		task_count_moved_kind(m, "copy", blob_chunk_len(e->total, i));
	return 0;
}

/* ---- readers -------------------------------------------------------------------- */

/* Chunk i of e arrived (its id into *id, null: a hole), waiting for it or
 * fetching it.  Under the lock on entry and on return.  -EIO with why in
 * out (cap bytes) when it did not. */
static int need_chunk(model *m, struct early_import *e, uint32_t i, chunk_id *id, const struct timespec *until,
                      char *out, size_t cap)
{
	struct model_early *set = m->early;
	char why[FETCH_REASON_MAX];
	int rc;

	IMGFS_ASSERT_HELD(&set->lock);
	for (;;) {
		if (e->failed) {
			snprintf(out, cap, "the image cannot be read through: %s", e->why);
			return e->failed;
		}
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
			if (e->remote) {
				/* What the importing host made durable since: read
				 * from the store, not asked of the source again. */
				int got = early_remote_load(m, e->image_id);
				IMGFS_LOCK(&set->lock, model_early_lock);
				if (got == -ENOENT || (got >= 0 && bit(e->arrived, i))) {
					bit_set(e->inflight, i, false);
					pthread_cond_broadcast(&set->cv);
					continue;
				}
				IMGFS_UNLOCK(&set->lock, model_early_lock);
			}
			rc = e->copy ? copy_fetch(m, e, i, why, sizeof(why))
			             : early_fetch(m, e, i, i + 1, NULL, NULL, why, sizeof(why));
			if (rc < 0)
				model_log(m, "early read of image %" PRId64 " chunk %u: %s", e->image_id, i, why);
			if (rc < 0 && strstr(why, "changed on the server"))
				early_fail(m, e->image_id, why);
			IMGFS_LOCK(&set->lock, model_early_lock);
			if (rc < 0) {
				snprintf(out, cap, "chunk %u could not be fetched from the image's source (%s): the next read "
				         "tries again", i, why);
				return -EIO;
			}
			continue;
		}
		if (IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, until, model_early_lock) == ETIMEDOUT &&
		    !(e->ready && bit(e->arrived, i))) {
			snprintf(out, cap, "chunk %u did not arrive within the import's stall timeout (%d s): the image's "
			         "source stopped answering; the next read tries again", i, import_stall_seconds());
			return -EIO;
		}
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
 * fetched, waited for or read from the store.  seen: a reader's read (its
 * chunks go into the boot profile); the import's own look at the file
 * (early_format's) is not.  len, or -errno with why (cap bytes; -ENOENT:
 * the entry ended meanwhile). */
static ssize_t file_read(model *m, struct early_import *e, void *buf, size_t len, uint64_t off,
                         const struct timespec *until, bool seen, char *why, size_t cap)
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
		if (e->failed)
			snprintf(why, cap, "the image cannot be read through: %s", e->why);
		else if (!e->ready)
			snprintf(why, cap, "the import did not turn to ranges within its stall timeout (%d s): the image's "
			         "source did not answer; the next read tries again", import_stall_seconds());
		total = e->total;
		if (rc == 0 && at >= total)
			rc = 1; /* past the end: zeros */
		else if (rc == 0) {
			if (seen && e->seen && !bit(e->seen, i)) {
				bit_set(e->seen, i, true);
				e->order[e->norder++] = i;
			}
			rc = need_chunk(m, e, i, &id, until, why, cap);
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
	return file_read(eq->m, eq->e, buf, len, off, &until, eq->seen, eq->why, eq->cap);
}

/* A QCOW2 reader of e, from its pool or made (at most
 * EARLY_QCOW2_READERS; a reader beyond waits for one, until the deadline),
 * its reads a reader's (seen) or not, saying why in why.  0, -errno,
 * -EINVAL with why. */
static int pool_take(model *m, struct early_import *e, struct early_q **out, const struct timespec *until, bool seen,
                     char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct early_q *eq;
	int rc = 0;

	*out = NULL;
	IMGFS_LOCK(&set->lock, model_early_lock);
	while (!e->failed && e->pooled == 0 && e->readers >= EARLY_QCOW2_READERS && rc != ETIMEDOUT)
		rc = IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, until, model_early_lock);
	if (e->failed) {
		snprintf(why, cap, "the image cannot be read through: %s", e->why);
		rc = e->failed;
	} else if (e->pooled > 0) {
		*out = e->pool[--e->pooled];
		rc = 0;
	} else if (e->readers < EARLY_QCOW2_READERS) {
		e->readers++;
		rc = 1; /* make one */
	} else {
		snprintf(why, cap, "no reader of the QCOW2 file's tables was free within the import's stall timeout (%d s); "
		         "the next read tries again", import_stall_seconds());
		rc = -EIO;
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (rc == 0) {
		(*out)->seen = seen;
		(*out)->why = why;
		(*out)->cap = cap;
	}
	if (rc <= 0)
		return rc;
	if (!(eq = calloc(1, sizeof(*eq))))
		rc = -ENOMEM;
	else {
		eq->m = m;
		eq->e = e;
		eq->gen = e->gen;
		eq->seen = seen;
		eq->why = why;
		eq->cap = cap;
		/* Its reads' failures say why in why; the decoder's refusal too. */
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
	eq->why = NULL; /* the taker's, gone with it */
	eq->cap = 0;
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

/* What e's disk is (*fmt, *vsize, fmt > 0), waited for until the
 * deadline.  The import here looks at its file when it turns to windows
 * (early_format); an entry no import here feeds — another host's import
 * (§13.13, made ready here by early_remote_load), a copy of a QCOW2 image
 * — is looked at by its first reader, the others wait for it.  0, or
 * -errno with why (-ETIMEDOUT: not known in time). */
static int entry_format(model *m, struct early_import *e, const struct timespec *until, int *fmt, uint64_t *vsize,
                        char *why, size_t cap)
{
	struct model_early *set = m->early;
	char line[FETCH_REASON_MAX + 100];
	bool asked = false;
	int rc = 0;

	IMGFS_LOCK(&set->lock, model_early_lock);
	for (;;) {
		if (e->failed) {
			snprintf(why, cap, "the image cannot be read through: %s", e->why);
			rc = e->failed;
			break;
		}
		if (e->fmt > 0) {
			*fmt = e->fmt;
			*vsize = e->vsize;
			rc = 0;
			break;
		}
		if (!e->ready && !asked) {
			/* Its import may run on another host (§13.13). */
			asked = true;
			IMGFS_UNLOCK(&set->lock, model_early_lock);
			early_remote_load(m, e->image_id);
			IMGFS_LOCK(&set->lock, model_early_lock);
			continue;
		}
		if (e->ready && !e->fmt && (e->remote || e->copy) && !e->sniffing) {
			e->sniffing = true;
			IMGFS_UNLOCK(&set->lock, model_early_lock);
			rc = early_format(m, e, why, cap);
			if (rc == -EINVAL) { /* the decoder's refusal: every read of it here says so */
				struct model_image img;
				snprintf(line, sizeof(line), "image %s cannot be read early: %s",
				         model_image_get(m, e->image_id, &img) == 0 ? img.ext_id : "?", why);
				model_log(m, "%s", line);
				early_fail_readers(m, e->image_id, line);
			}
			IMGFS_LOCK(&set->lock, model_early_lock);
			e->sniffing = false;
			pthread_cond_broadcast(&set->cv);
			if (rc < 0 && rc != -EINVAL)
				break; /* why says; the next read looks again */
			continue;
		}
		if (IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, until, model_early_lock) == ETIMEDOUT && !e->failed &&
		    e->fmt <= 0) {
			snprintf(why, cap, "the import did not turn to ranges within its stall timeout (%d s): the image's "
			         "source did not answer; the next read tries again", import_stall_seconds());
			rc = -ETIMEDOUT;
			break;
		}
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return rc;
}

ssize_t early_read(model *m, int64_t image_id, void *buf, size_t len, uint64_t off, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct timespec until = deadline();
	struct early_import *e;
	struct early_q *eq = NULL;
	char none[1];
	uint64_t vsize = 0;
	ssize_t n;
	int rc, fmt = 0;

	if (!why || !cap) {
		why = none;
		cap = sizeof(none);
	}
	why[0] = '\0';
	if (!(e = hold(set, image_id)))
		return -ENOENT;
	/* What the file is: known once the import turned (early_format). */
	if ((rc = entry_format(m, e, &until, &fmt, &vsize, why, cap)) < 0)
		n = rc == -ETIMEDOUT ? -EIO : rc;
	else if (fmt == EARLY_FMT_RAW)
		n = file_read(m, e, buf, len, off, &until, true, why, cap);
	else if (off >= vsize) {
		memset(buf, 0, len);
		n = (ssize_t)len;
	} else if ((rc = pool_take(m, e, &eq, &until, true, why, cap)) < 0) {
		n = rc;
	} else {
		/* The disk's bytes: its header and tables as the reader needs them,
		 * then the clusters the range maps, each a read of the file. */
		size_t in = len < vsize - off ? len : (size_t)(vsize - off);
		n = qcow2_pread(eq->q, buf, in, off, NULL);
		if (n == -EINVAL)
			snprintf(why, cap, "the QCOW2 file: %s", qcow2_reader_why(eq->q));
		if (n >= 0 && (size_t)n == in) {
			memset((uint8_t *)buf + in, 0, len - in);
			n = (ssize_t)len;
		} else if (n >= 0)
			n = -EIO;
		pool_put(m, e, eq);
	}
	if (n == -EINVAL) {
		model_log(m, "early read of image %" PRId64 ": %s", image_id, why);
		n = -EIO;
	}
	release(set, e);
	if (n == -ENOENT)
		why[0] = '\0'; /* ended meanwhile: the image has it */
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

bool early_profiled(model *m, const char *url)
{
	char path[4200];

	if (!m->dir)
		return false;
	profile_path(m, url, path, sizeof(path));
	return access(path, F_OK) == 0;
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
	blob_manifest *kept = NULL;
	int64_t region_id = 0;
	int rc = 0;

	profile_load(m, url, n, &plan, &nplan);
	/* What a run before a crash fetched and stored (got_save). */
	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = find(set, image_id)))
		region_id = e->region_id;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (e && early_got_kept(m, image_id))
		kept = got_load(m, image_id, region_id, validator, total);
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
	for (uint32_t k = 0; kept && k < kept->count; k++) {
		uint32_t i = kept->index[k];
		if (i >= n || bit(e->arrived, i) || bit(e->inflight, i))
			continue;
		if ((rc = blob_manifest_set(e->got, i, &kept->id[k])) < 0)
			goto out;
		bit_set(e->arrived, i, true);
		e->arrived_bytes += blob_chunk_len(total, i);
	}
	e->ready = true;
	e->remote = false; /* the import runs here now (early_remote_set says otherwise) */
	pthread_cond_broadcast(&set->cv);
	*out = e;
out:
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	free(plan);
	blob_manifest_free(kept);
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
	if (rc > 0) { /* a resumed run, or a reader here looked first: known already */
		rc = 0;
		goto out;
	}
	/* The import's own look (as its tables' below): not a reader's, out
	 * of the boot profile. */
	n = total >= sizeof(magic) ? file_read(m, e, magic, sizeof(magic), 0, &until, false, why, cap) : 0;
	vsize = total;
	if (n < 0) {
		char line[FETCH_REASON_MAX];
		snprintf(line, sizeof(line), "%s", why);
		snprintf(why, cap, "reading the file's first bytes: %s", line[0] ? line : strerror((int)-n));
		rc = n == -EINVAL ? -EIO : (int)n; /* EINVAL is the decoder's */
		goto out;
	}
	if (n == sizeof(magic) && qcow2_sniff(magic, sizeof(magic))) {
		/* The header and the L1 table first (checked as the import's
		 * seal checks them); the reader goes to the pool. */
		fmt = EARLY_FMT_QCOW2;
		if ((rc = pool_take(m, e, &eq, &until, false, why, cap)) < 0) {
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
		pthread_cond_broadcast(&set->cv);
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
	int rc, fmt = 0;

	*size = 0;
	if (!(e = hold(set, image_id)))
		return -ENOENT;
	rc = entry_format(m, e, &until, &fmt, size, why, cap);
	IMGFS_LOCK(&set->lock, model_early_lock);
	if (rc < 0 && e->fmt == EARLY_FMT_REFUSED && e->failed) {
		snprintf(why, cap, "%s", e->why); /* "image X cannot be read early: qcow2: …" */
		rc = -EINVAL;
	} else if (rc < 0 && rc != -ETIMEDOUT)
		rc = -EIO;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	release(set, e);
	return rc;
}

static void fail_entry(model *m, int64_t image_id, const char *why, bool readers_only)
{
	struct model_early *set = m->early;
	struct early_import *e;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = find(set, image_id)) && !e->failed) {
		e->failed = -EIO;
		e->readers_only = readers_only;
		snprintf(e->why, sizeof(e->why), "%s", why);
		pthread_cond_broadcast(&set->cv);
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

void early_fail(model *m, int64_t image_id, const char *why)
{
	fail_entry(m, image_id, why, false);
}

void early_fail_readers(model *m, int64_t image_id, const char *why)
{
	fail_entry(m, image_id, why, true);
}

int early_window(model *m, struct early_import *e, uint32_t *first, uint32_t *end, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct timespec until = deadline();
	int rc;

	IMGFS_LOCK(&set->lock, model_early_lock);
	for (;;) {
		uint32_t i, left = 0;
		if (e->failed && !e->readers_only) {
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
	early_got_remove(m, e->image_id); /* sealed or failed: nothing to resume */
	if (last)
		entry_free(e);
}

/* ---- the copy's side (copy.c) ------------------------------------------------------ */

struct early_import *early_copy_hold(model *m, int64_t image_id, int64_t src_blob)
{
	struct model_early *set = m->early;
	struct early_import *e;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = find(set, image_id)) && e->copy && e->src_blob == src_blob && !e->failed)
		e->users++;
	else
		e = NULL;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return e;
}

void early_copy_release(model *m, struct early_import *e)
{
	struct model_early *set = m->early;
	bool last;

	if (!e)
		return;
	IMGFS_LOCK(&set->lock, model_early_lock);
	last = --e->users == 0 && e->ended;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (last)
		entry_free(e);
}

int early_copy_claim(model *m, struct early_import *e, const uint32_t *at, size_t n, uint8_t *claim,
                     uint8_t *by_reader)
{
	struct model_early *set = m->early;
	struct timespec until = deadline();
	int rc = 0;

	memset(claim, 0, n);
	memset(by_reader, 0, n);
	IMGFS_LOCK(&set->lock, model_early_lock);
	for (size_t k = 0; k < n && rc == 0; k++) {
		uint32_t i = at[k];
		if (i >= e->nchunks) {
			rc = -EIO; /* not the manifest the entry was made from */
			break;
		}
		/* A chunk a reader is placing is waited for: one placement a chunk. */
		while (!bit(e->arrived, i) && bit(e->inflight, i))
			if (IMGFS_COND_TIMEDWAIT(&set->cv, &set->lock, &until, model_early_lock) == ETIMEDOUT &&
			    !bit(e->arrived, i) && bit(e->inflight, i)) {
				rc = -EIO;
				break;
			}
		if (rc < 0)
			break;
		if (bit(e->arrived, i)) {
			by_reader[k] = bit(e->moved, i);
		} else {
			bit_set(e->inflight, i, true);
			claim[k] = 1;
		}
	}
	if (rc < 0)
		for (size_t k = 0; k < n; k++)
			if (claim[k])
				bit_set(e->inflight, at[k], false);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return rc;
}

void early_copy_done(model *m, struct early_import *e, const uint32_t *at, size_t n, const uint8_t *claim, bool ok)
{
	struct model_early *set = m->early;

	IMGFS_LOCK(&set->lock, model_early_lock);
	for (size_t k = 0; k < n; k++) {
		if (!claim[k])
			continue;
		bit_set(e->inflight, at[k], false);
		if (ok && !bit(e->arrived, at[k])) {
			bit_set(e->arrived, at[k], true);
			e->arrived_bytes += blob_chunk_len(e->total, at[k]);
		}
	}
	pthread_cond_broadcast(&set->cv);
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

static void end_image(model *m, int64_t image_id, bool copy)
{
	struct model_early *set = m->early;
	struct early_import *e;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = find(set, image_id)) && (!copy || e->copy))
		e->users++;
	else
		e = NULL;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	if (!e)
		return;
	early_end(m, e);
	early_copy_release(m, e);
}

void early_copy_end(model *m, int64_t image_id)
{
	end_image(m, image_id, true);
}

void early_end_image(model *m, int64_t image_id)
{
	end_image(m, image_id, false);
}

void early_remote_set(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	struct early_import *e;

	IMGFS_LOCK(&set->lock, model_early_lock);
	if ((e = find(set, image_id))) {
		e->remote = true;
		pthread_cond_broadcast(&set->cv); /* its first reader looks at its file (entry_format) */
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
}

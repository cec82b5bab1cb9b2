/*
 * early.c — the read-through of an image whose URL import (or copy from
 * another region) is running, for the instances started from it early
 * (SPEC §6.5 "Early", docs/design.md
 * "Early instances").
 *
 * Who calls it: early_disk.c (a guest's read of an early disk: early_read;
 * the `arrived` file: early_progress), instance.c (an early start:
 * early_want), import.c (the import's windows: early_begin, early_window,
 * early_fetch, early_prefix, early_end).  Any thread.  Its parts below
 * it (early_int.h, the entry they share): early_fetch.c (a range fetched
 * into the entry; a copy's chunk placed), early_got.c (what arrived, as rows
 * every host reads), early_profile.c (boot profiles); beside it,
 * early_copy.c (the copy's side) and early_remote.c (another host's import).
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
 * a chunk a reader fetched, and a reader never one the import holds.  A
 * reader's range of a chunk not arrived is fetched as its pieces
 * (early_part.c: 16 KiB each, the chunk stored once its last piece is
 * there; the import's window asks only for the pieces nobody fetched).
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
 * Bounds (SPEC §12): per entry four bits a chunk and the manifest of the
 * data chunks that arrived — the image's own size; a record a chunk with
 * pieces (early_part.c); one chunk buffer per fetching thread.
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

#include "early_int.h"

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

void early_entry_free(struct early_import *e)
{
	if (!e)
		return;
	pool_drop(e);
	early_part_free(e);
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
		early_entry_free(e);
	}
	early_yield_free(set);
	pthread_cond_destroy(&set->cv);
	pthread_mutex_destroy(&set->lock);
	free(set);
}

/* Under the lock. */
struct early_import *early_find(struct model_early *set, int64_t image_id)
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
		early_entry_free(e);
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

/* The entry of image_id, made; with start, the instance's start expected
 * (early_yield.c) in the same hold of the lock, so no window of the import
 * sees the entry before the hold. */
static int want(model *m, int64_t image_id, int64_t region_id, bool start)
{
	struct model_early *set = m->early;
	struct early_import *e, *copy = NULL;
	int rc;

	if ((rc = copy_entry(m, image_id, region_id, &copy)) < 0)
		return rc;
	rc = 0;
	IMGFS_LOCK(&set->lock, model_early_lock);
	if (start)
		early_yield_expect_locked(set, image_id);
	if (!early_find(set, image_id)) {
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
	early_entry_free(copy); /* another was first */
	return rc;
}

int early_want(model *m, int64_t image_id, int64_t region_id)
{
	return want(m, image_id, region_id, false);
}

int early_want_start(model *m, int64_t image_id, int64_t region_id)
{
	return want(m, image_id, region_id, true);
}

bool early_wanted(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	struct early_import *e;
	bool want;

	IMGFS_LOCK(&set->lock, model_early_lock);
	want = (e = early_find(set, image_id)) && !e->ready && !e->failed;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return want;
}

bool early_known(model *m, int64_t image_id)
{
	struct model_early *set = m->early;
	struct early_import *e;
	bool known;

	IMGFS_LOCK(&set->lock, model_early_lock);
	known = (e = early_find(set, image_id)) && !e->failed;
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return known;
}

/* The deadline of a wait: now + the import's stall timeout. */
struct timespec early_deadline(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += import_stall_seconds();
	return t;
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
				/* And past it, what the importing host recorded
				 * (early_got.c): this chunk, in flight for us. */
				if (got >= 0)
					(void)early_got_take(m, e, i);
				IMGFS_LOCK(&set->lock, model_early_lock);
				if (got == -ENOENT || (got >= 0 && bit(e->arrived, i))) {
					bit_set(e->inflight, i, false);
					pthread_cond_broadcast(&set->cv);
					continue;
				}
				IMGFS_UNLOCK(&set->lock, model_early_lock);
			}
			rc = e->copy ? early_copy_fetch(m, e, i, why, sizeof(why))
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
	if ((e = early_find(set, image_id)))
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
		early_entry_free(e);
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
		char fault[FETCH_REASON_MAX] = "";
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
			/* A range of a chunk not arrived: its pieces alone (early_part.c);
			 * a chunk whose last piece is there is stored first. */
			while ((rc = early_part_need(m, e, i, (size_t)(at % CHUNK), n, (uint8_t *)buf + done, until, why,
			                             cap, fault, sizeof(fault))) == EARLY_PART_WHOLE) {
				IMGFS_UNLOCK(&set->lock, model_early_lock);
				rc = early_fetch(m, e, i, i + 1, NULL, NULL, fault, sizeof(fault));
				IMGFS_LOCK(&set->lock, model_early_lock);
				if (rc < 0) {
					snprintf(why, cap, "chunk %u could not be stored (%s): the next read tries again", i,
					         fault);
					rc = -EIO;
					break;
				}
			}
			if (rc == 1)
				rc = 2;
			else if (rc == 0)
				rc = need_chunk(m, e, i, &id, until, why, cap);
		}
		IMGFS_UNLOCK(&set->lock, model_early_lock);
		if (rc < 0 && strstr(fault, "changed on the server"))
			early_fail(m, e->image_id, fault);
		if (rc < 0)
			return rc == -ENOENT && done ? -EIO : rc;
		if (rc == 2) {
			/* Read from the pieces. */
		} else if (rc == 1 || chunk_id_is_null(&id)) {
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
	struct timespec until = early_deadline();
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
	struct timespec until = early_deadline();
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
	if (!(e = early_find(set, image_id)) || !e->ready)
		rc = -ENOENT;
	else {
		*arrived = e->arrived_bytes;
		*total = e->total;
	}
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	return rc;
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
	int rc = 0, pfd = early_part_file(m);

	early_profile_load(m, url, n, &plan, &nplan);
	IMGFS_LOCK(&set->lock, model_early_lock);
	if (!(e = early_find(set, image_id))) {
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
		e->got_seq = 0;
		pool_drop(e);
		early_part_reset(e);
		free(e->piecing);
		e->piecing = NULL;
	}
	if (!e->ready) {
		if (!(e->arrived = calloc(1, nb)) || !(e->inflight = calloc(1, nb)) || !(e->seen = calloc(1, nb)) ||
		    !(e->piecing = calloc(1, nb)) || !(e->order = calloc(n + 1, sizeof(*e->order))) ||
		    blob_manifest_new(&e->got, total) < 0) {
			free(e->arrived);
			free(e->inflight);
			free(e->seen);
			free(e->piecing);
			free(e->order);
			e->arrived = e->inflight = e->seen = e->piecing = NULL;
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
	if (!e->part_open && pfd >= 0) {
		e->part_fd = pfd;
		e->part_open = true;
		pfd = -1;
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
	e->remote = false; /* the import runs here now (early_remote_set says otherwise) */
	e->users++;
	pthread_cond_broadcast(&set->cv);
	*out = e;
out:
	IMGFS_UNLOCK(&set->lock, model_early_lock);
	free(plan);
	if (pfd >= 0)
		close(pfd); /* it has one, or it is gone */
	if (rc == 0) {
		/* What arrived past the held bytes and is in the store: a run
		 * before a crash's, another host's (early_got.c). */
		(void)early_got_pick(m, e);
		release(set, e);
	}
	return rc;
}

int early_format(model *m, struct early_import *e, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct timespec until = early_deadline();
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
	struct timespec until = early_deadline();
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
	if ((e = early_find(set, image_id)) && !e->failed) {
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

/* Under the lock: a reader fetches pieces of chunk i (early_part.c): the
 * window leaves it until they are in, then fetches the rest. */
static bool busy(const struct early_import *e, uint32_t i)
{
	return e->piecing && bit(e->piecing, i);
}

int early_window(model *m, struct early_import *e, uint32_t *first, uint32_t *end, bool (*cancelled)(void *arg),
                 void *arg, char *why, size_t cap)
{
	struct model_early *set = m->early;
	struct timespec until = early_deadline();
	int rc;

	IMGFS_LOCK(&set->lock, model_early_lock);
	for (;;) {
		uint32_t i, left = 0, most = EARLY_WINDOW_CHUNKS;
		if (e->failed && !e->readers_only) {
			snprintf(why, cap, "%s", e->why);
			rc = -EIO;
			break;
		}
		/* The profile's chunks first, in its order. */
		while (e->plan_at < e->nplan && (bit(e->arrived, e->plan[e->plan_at]) ||
		                                  bit(e->inflight, e->plan[e->plan_at]) || busy(e, e->plan[e->plan_at])))
			e->plan_at++;
		if (e->plan_at < e->nplan) {
			i = e->plan[e->plan_at];
			if (early_yield_holding(m, e))
				most = 1; /* the boot's chunk, not the run after it */
		} else
			for (i = 0; i < e->nchunks && (bit(e->arrived, i) || bit(e->inflight, i) || busy(e, i)); i++)
				left += !bit(e->arrived, i);
		/* Not the profile's: held while readers read (early_yield.c). */
		if (i < e->nchunks && e->plan_at >= e->nplan && (most = (uint32_t)early_yield_gate(m, e)) == 0) {
			until = early_deadline(); /* a hold is no stall */
			IMGFS_UNLOCK(&set->lock, model_early_lock);
			rc = cancelled && cancelled(arg) ? -ECANCELED : 0; /* the daemon stops: no wait */
			IMGFS_LOCK(&set->lock, model_early_lock);
			if (rc < 0)
				break;
			continue;
		}
		if (i < e->nchunks) {
			*first = i;
			for (; i < e->nchunks && i - *first < most && !bit(e->arrived, i) && !bit(e->inflight, i) &&
			       !busy(e, i); i++)
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
		early_entry_free(e);
}

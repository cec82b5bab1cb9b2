/*
 * data.c — an image's bytes through the image API (SPEC §19).
 *
 * PUT .../file and PUT .../stage go through the upload path of a `cp`
 * into disks/vda (§5.3, model/task/upload.c): the upload begun on the
 * queued image, its first MiB sniffed before it is stored (a file of no
 * format the image takes is refused at once: 400, the image queued again
 * with the reason), whole 1 MiB chunks streamed into the store as they
 * come (written once), the SHA-256 and XXH3-128 computed on the way by a
 * thread of the upload's own, the file made durable at the end.  Then:
 *
 *   file   the upload is closed and a runner (workers.c) checks and seals
 *          it; the request waits for that — its connection suspended, no
 *          thread held — and answers 204 once the image is active, or the
 *          check's refusal (400, the image in error with the reason);
 *   stage  the upload is left staged (model_upload_stage): 204, the image
 *          "uploading" until POST .../import (tasks.c).
 *
 * GET .../file reads the system disk's blob through the blob store, every
 * chunk checked against its id, one chunk a call (a chunk that fails ends
 * the body early, as a download link's: the client sees a short body,
 * never a wrong byte), with a Range (206, 416) as download links take.
 * What a receiver of a share or a marketplace image's viewer may not read
 * in the tree (§6.4, §3) is 403 here too; a deactivated image's data is
 * read by administrators only.
 *
 * Receiving and storing overlap (the writer, below): the request's thread
 * receives the next chunk while a writer thread of the upload's own hashes
 * and writes the one before; a write's refusal is replied at the next
 * chunk or at the body's end, the upload failed only once the writer
 * stopped (nothing written behind a refusal).
 *
 * Bounded (SPEC §12): a request holds two 1 MiB buffers, the hasher's
 * queue (BLOB_SHA256_QUEUE chunks), its thread and the writer's thread
 * while it uploads; at
 * most GLANCE_UPLOADS uploads run at once (503 beyond), shared fairly
 * (slots.c's ledger, issue 70): an account — a main account with its
 * sub-accounts — starts one while it holds fewer than half the slots the
 * other accounts leave (one at least), and one address of it while it
 * holds fewer than half its account's share; so one tenant trickling
 * bodies from a few addresses holds 8 of the 16 at most, and another
 * account's upload finds a slot while any is free;
 * the waits for a seal are a list the waiter thread looks at every
 * WAIT_POLL_MS, one image row each.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "blob_digest.h"
#include "blob_wblob.h"
#include "reply.h"
#include "serve.h"
#include "serve_conns.h"

#define CHUNK BLOB_CHUNK_SIZE
#define REPORT_BYTES (64ULL << 20)
#define WAIT_POLL_MS 50

struct glance_data {
	/* an upload */
	bool begun, stage, closed, waiting;
	struct model_upload u;
	blob_wblob *w;
	blob_sha256_async *sha;
	uint8_t *buf;        /* the buffer being received into: one of bufs */
	uint8_t *bufs[2];
	size_t fill;
	uint64_t off, reported;
	struct glance_writer *wr;
	int64_t image_id;
	int holder;          /* its place in the upload slots (begun), -1: none */
	struct glance_data *wprev, *wnext; /* the waits list */
	struct glance_req *req;
	/* a download */
	blob_store *s;
	blob_manifest *man;
	uint64_t start, len;
};

struct glance_waits {
	pthread_mutex_t lock; /* guards the list and stop; the waiter reads image rows under it (the model's, 54) */
	pthread_cond_t cond;
	struct glance_data *head;
	bool stop;
	/* The upload slots: who holds each, for the shares (slots.c). */
	struct glance_slots slots;
	model *m;
	pthread_t thread;
};
IMGFS_LOCK_LEVEL(glance_waits_lock, 9); /* over the model's (waits_run reads rows under it) */

/* ---- the waits for a seal ------------------------------------------------------------ */

static void *waits_run(void *arg)
{
	struct glance_waits *ws = arg;
	struct model_image img;
	IMGFS_LOCK(&ws->lock, glance_waits_lock);
	while (!ws->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WAIT_POLL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		IMGFS_COND_TIMEDWAIT(&ws->cond, &ws->lock, &until, glance_waits_lock);
		for (struct glance_data *d = ws->head, *next; d && !ws->stop; d = next) {
			next = d->wnext;
			/* one row read: the list is the server's, the lock a leaf but for this */
			int rc = model_image_get(ws->m, d->image_id, &img);
			if (rc == 0 && img.status == MODEL_IMG_UPLOADING)
				continue;
			if (d->wprev)
				d->wprev->wnext = d->wnext;
			else
				ws->head = d->wnext;
			if (d->wnext)
				d->wnext->wprev = d->wprev;
			d->wprev = d->wnext = NULL;
			d->waiting = false;
			MHD_resume_connection(d->req->c);
		}
	}
	/* stopping: every wait is let go (its request answers 503) */
	for (struct glance_data *d = ws->head; d; d = d->wnext) {
		d->waiting = false;
		MHD_resume_connection(d->req->c);
	}
	ws->head = NULL;
	IMGFS_UNLOCK(&ws->lock, glance_waits_lock);
	return NULL;
}

int glance_waits_start(glance_waits **out, model *m)
{
	struct glance_waits *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->m = m;
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->cond, NULL);
	if (pthread_create(&ws->thread, NULL, waits_run, ws) != 0) {
		free(ws);
		return -EAGAIN;
	}
	*out = ws;
	return 0;
}

void glance_waits_stop(glance_waits *ws)
{
	if (!ws)
		return;
	IMGFS_LOCK(&ws->lock, glance_waits_lock);
	bool was = ws->stop;
	ws->stop = true;
	pthread_cond_signal(&ws->cond);
	IMGFS_UNLOCK(&ws->lock, glance_waits_lock);
	if (!was)
		pthread_join(ws->thread, NULL);
}

void glance_waits_free(glance_waits *ws)
{
	if (!ws)
		return;
	glance_waits_stop(ws);
	pthread_mutex_destroy(&ws->lock);
	pthread_cond_destroy(&ws->cond);
	free(ws);
}

/* The request's connection is suspended; the waiter resumes it when its
 * image leaves uploading.  Suspended first, listed after: a resume never
 * comes before the suspend. */
static void wait_for_seal(struct glance_req *r, struct glance_data *d)
{
	struct glance_waits *ws = glance_waits_of(r->g);
	MHD_suspend_connection(r->c);
	IMGFS_LOCK(&ws->lock, glance_waits_lock);
	d->req = r;
	if (ws->stop) { /* stopping: nobody would resume it */
		IMGFS_UNLOCK(&ws->lock, glance_waits_lock);
		MHD_resume_connection(r->c);
		return;
	}
	d->waiting = true;
	d->wnext = ws->head;
	if (ws->head)
		ws->head->wprev = d;
	ws->head = d;
	pthread_cond_signal(&ws->cond);
	IMGFS_UNLOCK(&ws->lock, glance_waits_lock);
}

/* ---- the upload's writer ---------------------------------------------------------------- */

/* Receiving and storing overlap: the request's thread receives chunk N+1
 * into one buffer while the writer thread hashes and writes chunk N from
 * the other.  One chunk is in flight at most: a hand-off waits for the
 * writer to finish the one before (so every byte before the handed
 * chunk's offset is written when it is handed), and a write's error is
 * sticky, seen at the next hand-off or at the drain of the body's end. */
struct glance_writer {
	pthread_mutex_t lock; /* guards the job and its outcome; a leaf */
	pthread_cond_t cond;
	const uint8_t *buf;   /* the chunk in flight (NULL: none) */
	size_t len;
	uint64_t off;
	int err;              /* the first write's errno (0: none) */
	bool stop;
	blob_wblob *w;
	blob_sha256_async *sha;
	pthread_t thread;
};
IMGFS_LOCK_LEVEL(glance_writer_lock, 59); /* a leaf */

static void *writer_run(void *arg)
{
	struct glance_writer *wr = arg;
	IMGFS_LOCK(&wr->lock, glance_writer_lock);
	for (;;) {
		while (!wr->buf && !wr->stop)
			IMGFS_COND_WAIT(&wr->cond, &wr->lock, glance_writer_lock);
		if (!wr->buf)
			break;
		const uint8_t *buf = wr->buf;
		size_t len = wr->len;
		uint64_t off = wr->off;
		IMGFS_UNLOCK(&wr->lock, glance_writer_lock);
		blob_sha256_async_lend(wr->sha, buf, len);
		ssize_t n = blob_wblob_pwrite(wr->w, buf, len, off);
		blob_sha256_async_settle(wr->sha); /* the buffer is the request's again */
		IMGFS_LOCK(&wr->lock, glance_writer_lock);
		if (n != (ssize_t)len && !wr->err)
			wr->err = n < 0 ? (int)-n : EIO;
		wr->buf = NULL;
		pthread_cond_broadcast(&wr->cond);
	}
	IMGFS_UNLOCK(&wr->lock, glance_writer_lock);
	return NULL;
}

static int writer_start(struct glance_writer **out, blob_wblob *w, blob_sha256_async *sha)
{
	struct glance_writer *wr = calloc(1, sizeof(*wr));
	if (!wr)
		return -ENOMEM;
	wr->w = w;
	wr->sha = sha;
	pthread_mutex_init(&wr->lock, NULL);
	pthread_cond_init(&wr->cond, NULL);
	if (pthread_create(&wr->thread, NULL, writer_run, wr) != 0) {
		pthread_cond_destroy(&wr->cond);
		pthread_mutex_destroy(&wr->lock);
		free(wr);
		return -EAGAIN;
	}
	*out = wr;
	return 0;
}

/* Hands buf's len bytes at off to the writer once the chunk before is
 * written: 0, or the errno of a write that failed (nothing handed). */
static int writer_hand(struct glance_writer *wr, const uint8_t *buf, size_t len, uint64_t off)
{
	IMGFS_LOCK(&wr->lock, glance_writer_lock);
	while (wr->buf)
		IMGFS_COND_WAIT(&wr->cond, &wr->lock, glance_writer_lock);
	int err = wr->err;
	if (!err) {
		wr->buf = buf;
		wr->len = len;
		wr->off = off;
		pthread_cond_broadcast(&wr->cond);
	}
	IMGFS_UNLOCK(&wr->lock, glance_writer_lock);
	return err;
}

/* The writer ends once its chunk in flight is written (the body's end:
 * then fsync; a client gone mid-body: the upload is failed only after,
 * nothing written behind it): 0, or the errno of the first write that
 * failed. */
static int writer_stop(struct glance_writer *wr)
{
	if (!wr)
		return 0;
	IMGFS_LOCK(&wr->lock, glance_writer_lock);
	wr->stop = true;
	pthread_cond_broadcast(&wr->cond);
	IMGFS_UNLOCK(&wr->lock, glance_writer_lock);
	pthread_join(wr->thread, NULL);
	int err = wr->err;
	pthread_cond_destroy(&wr->cond);
	pthread_mutex_destroy(&wr->lock);
	free(wr);
	return err;
}

/* ---- uploads ---------------------------------------------------------------------------- */

/* ---- the upload slots (slots.c's ledger, under the waits lock) ---------------------- */

/* The request's upload takes a slot: 0, -EBUSY (its account has its
 * share), -EMFILE (its address has its share of the account's), -ENFILE
 * (all held). */
static int slot_take(struct glance_waits *ws, struct glance_req *r, struct glance_data *d)
{
	IMGFS_LOCK(&ws->lock, glance_waits_lock);
	int rc = glance_slots_take(&ws->slots, glance_slot_tenant(&r->caller), r->conn ? r->conn->key : NULL);
	if (rc >= 0) {
		d->holder = rc;
		rc = 0;
	}
	IMGFS_UNLOCK(&ws->lock, glance_waits_lock);
	return rc;
}

static void slot_put(struct glance_waits *ws, struct glance_data *d)
{
	IMGFS_LOCK(&ws->lock, glance_waits_lock);
	glance_slots_put(&ws->slots, d->holder);
	d->holder = -1;
	IMGFS_UNLOCK(&ws->lock, glance_waits_lock);
}

static void upload_release(struct glance_req *r, struct glance_data *d)
{
	struct glance_waits *ws = glance_waits_of(r->g);
	if (!d->begun)
		return;
	writer_stop(d->wr);
	blob_sha256_async_free(d->sha);
	blob_wblob_close(d->w);
	free(d->bufs[0]);
	free(d->bufs[1]);
	d->wr = NULL;
	d->sha = NULL;
	d->w = NULL;
	d->buf = d->bufs[0] = d->bufs[1] = NULL;
	d->begun = false;
	slot_put(ws, d);
}

/* A refusal during the body: the upload abandoned (a sniff's refusal:
 * the image queued again) or failed (in error), the reason replied. */
static int upload_refuse(struct glance_req *r, struct glance_data *d, int status, bool abandon, const char *why)
{
	model *m = glance_model(r->g);
	writer_stop(d->wr); /* nothing written after the refusal */
	d->wr = NULL;
	if (abandon)
		model_upload_abandon(m, &d->u, why);
	else
		model_upload_fail(m, &d->u, why);
	upload_release(r, d);
	return glance_reply_error(r, status, "%s", why);
}

/* The upload of the request's image begins (its first byte came). */
static int upload_begin(struct glance_req *r, struct glance_data *d)
{
	struct glance_waits *ws = glance_waits_of(r->g);
	struct model_err err = {0};
	struct model_blob b;
	int rc;
	/* The dispatcher asked MODEL_RIGHT_CHANGE: the caller's image. */
	d->image_id = r->image->img.id;
	int idx = r->image->img.folder == MODEL_FOLDER_ISO ? 26 : 0;
	if ((rc = slot_take(ws, r, d)) < 0)
		return glance_reply_error(r, 503, "%s",
		                          rc == -EBUSY ? "your account has its share of the uploads that run at once here "
		                                         "(half the slots other accounts leave free): try again in a moment"
		                          : rc == -EMFILE ? "your address has its share of your account's uploads that run "
		                                            "at once here: try again in a moment"
		                                          : "16 uploads run at once here: try again in a moment");
	d->begun = true;
	if ((rc = model_upload_begin(glance_model(r->g), d->image_id, idx, &d->u, &err)) < 0) {
		d->begun = false;
		slot_put(ws, d);
		/* Glance's answer to data for an image that is not queued */
		return glance_reply_error(r, rc == -EPERM ? 409 : glance_http_status(rc), "%s", err.msg);
	}
	if (!(d->bufs[0] = malloc(CHUNK)) || !(d->bufs[1] = malloc(CHUNK)) ||
	    blob_sha256_async_new_also(&d->sha, BLOB_ALSO_MD5 | (r->g->sha512 ? BLOB_ALSO_SHA512 : 0)) < 0 ||
	    (rc = model_blob_get(glance_model(r->g), d->u.blob_id, &b)) < 0 ||
	    (rc = model_wblob_open(glance_model(r->g), &b, &d->w, &err)) < 0 ||
	    (rc = writer_start(&d->wr, d->w, d->sha)) < 0)
		return upload_refuse(r, d, 503, false, err.msg[0] ? err.msg : "upload failed: the upload could not begin");
	d->buf = d->bufs[0];
	blob_wblob_stream(d->w);
	return MHD_YES;
}

/* A write that failed: the upload failed, the reason replied. */
static int upload_write_failed(struct glance_req *r, struct glance_data *d, int e)
{
	char why[300];
	snprintf(why, sizeof(why), "upload failed: storing the file: %s", strerror(e));
	return upload_refuse(r, d, e == ENOSPC ? 413 : 503, false, why);
}

/* The buffer's fill bytes at d->off: sniffed first when at 0 (last: no
 * more bytes come), then handed to the writer (hashed and written while
 * the next chunk is received into the other buffer). */
static int upload_write(struct glance_req *r, struct glance_data *d, bool last)
{
	model *m = glance_model(r->g);
	struct model_err err = {0};
	if (d->off == 0) {
		const char *format = NULL;
		int rc = model_upload_sniff_for(&d->u, d->buf, d->fill, !last, &format, &err);
		if (rc < 0 || (rc == 0 && last))
			return upload_refuse(r, d, 400, true, rc < 0 ? err.msg : "the file is of no known format");
		if (rc == 1)
			model_upload_sniffed(m, &d->u, format);
	}
	int e = writer_hand(d->wr, d->buf, d->fill, d->off);
	if (e)
		return upload_write_failed(r, d, e);
	/* every byte before d->off is written now */
	if (d->off - d->reported >= REPORT_BYTES) {
		model_upload_progress(m, &d->u, d->off, 0, 0);
		d->reported = d->off;
	}
	d->off += d->fill;
	d->fill = 0;
	d->buf = d->buf == d->bufs[0] ? d->bufs[1] : d->bufs[0];
	return MHD_YES;
}

static struct glance_data *data_of(struct glance_req *r)
{
	if (!r->data && (r->data = calloc(1, sizeof(*r->data))))
		r->data->holder = -1;
	return r->data;
}

/* Glance takes an image's bytes as application/octet-stream only (its
 * deserializer's get_content_type): another type, or none, is 415. */
static bool bytes_type_ok(struct glance_req *r)
{
	return glance_media_type_is(MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
	                            "application/octet-stream");
}

static int bytes_type_refuse(struct glance_req *r)
{
	const char *ct = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	return glance_reply_error(r, 415, "The request media type %.64s is not supported by this server: an image's "
	                                  "data is application/octet-stream", ct ? ct : "None");
}

int data_feed(struct glance_req *r, const char *buf, size_t len)
{
	struct glance_data *d = data_of(r);
	int ret = MHD_YES;
	if (!d)
		return glance_reply_error(r, 500, "out of memory");
	if (!d->begun && !bytes_type_ok(r))
		return bytes_type_refuse(r); /* sent once the body is in */
	if (!d->begun && ((ret = upload_begin(r, d)) != MHD_YES || r->status))
		return ret;
	while (len && !r->status) {
		size_t take = CHUNK - d->fill < len ? CHUNK - d->fill : len;
		memcpy(d->buf + d->fill, buf, take);
		d->fill += take;
		buf += take;
		len -= take;
		if (d->fill == CHUNK && (ret = upload_write(r, d, false)) != MHD_YES)
			return ret;
	}
	return ret;
}

/* The end of the body: the rest written, the file durable, then closed
 * (file) or staged (stage). */
static int upload_end(struct glance_req *r, struct glance_data *d)
{
	model *m = glance_model(r->g);
	char sha[65] = "", xxh[33] = "";
	int rc;
	if (d->fill && upload_write(r, d, true) != MHD_YES)
		return MHD_YES;
	if (r->status)
		return MHD_YES;
	if (d->off == 0)
		return upload_refuse(r, d, 400, true, "the file is empty");
	rc = writer_stop(d->wr); /* every chunk written */
	d->wr = NULL;
	if (rc)
		return upload_write_failed(r, d, rc);
	if ((rc = blob_wblob_fsync(d->w)) < 0) {
		char why[300];
		snprintf(why, sizeof(why), "upload failed: the file could not be made durable: %s", strerror(-rc));
		return upload_refuse(r, d, 503, false, why);
	}
	if (blob_sha256_async_finish(d->sha, sha, xxh) < 0)
		sha[0] = xxh[0] = '\0'; /* the checksum pass hashes it (§2.1) */
	blob_sha256_async_also(d->sha, d->u.md5, d->u.sha512); /* "" with it */
	uint64_t size = blob_wblob_size(d->w), stored = blob_wblob_stored(d->w);
	d->stage = strstr(r->path, "/stage") != NULL;
	rc = d->stage ? model_upload_stage(m, &d->u, size, stored, sha, xxh)
	              : model_upload_close(m, &d->u, size, stored, sha, xxh);
	upload_release(r, d);
	if (rc < 0)
		return glance_reply_error(r, rc == -ENOENT ? 409 : 503,
		                          rc == -ENOENT ? "the upload was cancelled" : "the upload could not be closed");
	d->closed = true;
	if (d->stage)
		return glance_reply_empty(r, 204);
	glance_kick(r->g);
	wait_for_seal(r, d);
	return MHD_YES;
}

int data_put(struct glance_req *r)
{
	struct glance_data *d = data_of(r);
	struct model_image img;
	if (!d)
		return glance_reply_error(r, 500, "out of memory");
	if (!d->closed) {
		if (!d->begun && !bytes_type_ok(r))
			return bytes_type_refuse(r);
		if (!d->begun && upload_begin(r, d) != MHD_YES)
			return MHD_NO;
		if (r->status)
			return MHD_YES;
		return upload_end(r, d);
	}
	if (d->waiting) /* resumed by a stop */
		return MHD_YES;
	/* resumed: the seal ended */
	if (model_image_get(glance_model(r->g), d->image_id, &img) < 0)
		return glance_reply_error(r, 503, "the upload's end could not be read: look at the image");
	if (img.status == MODEL_IMG_AVAILABLE)
		return glance_reply_empty(r, 204);
	if (img.status == MODEL_IMG_UPLOADING)
		return glance_reply_error(r, 503, "the server is stopping: the upload is checked by the next runner");
	return glance_reply_error(r, 400, "%s", img.error[0] ? img.error : "the upload was refused");
}

/* ---- downloads --------------------------------------------------------------------------- */

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct glance_req *r = cls;
	struct glance_data *d = r->data;
	if (pos >= d->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	uint64_t off = d->start + pos;
	size_t n = d->len - pos < max ? (size_t)(d->len - pos) : max;
	size_t to_end = CHUNK - (size_t)(off & (CHUNK - 1));
	if (n > to_end)
		n = to_end; /* one chunk a call: all before a bad chunk goes out */
	ssize_t got = blob_store_read(d->s, d->man, buf, n, off);
	if (got <= 0) {
		snprintf(r->why, sizeof(r->why), "ended early at byte %llu: %s", (unsigned long long)off,
		         got == -EIO ? "a chunk failed verification" : "short blob");
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	r->sent += (uint64_t)got;
	return got;
}

int data_get(struct glance_req *r)
{
	struct glance_data *d = data_of(r);
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_blob b;
	struct model_err err = {0};
	model *m = glance_model(r->g);
	int ret, n, rc;
	char crange[96];
	if (!d)
		return glance_reply_error(r, 500, "out of memory");
	/* The dispatcher asked MODEL_RIGHT_READ: the tree's rule (§3, §6.4),
	 * and a deactivated image's data the administrators' only. */
	const struct model_image *img = &r->image->img;
	int idx = img->folder == MODEL_FOLDER_ISO ? 26 : 0;
	if (img->status != MODEL_IMG_AVAILABLE)
		ret = glance_reply_empty(r, 204); /* no data (yet) */
	else if ((n = model_device_list(m, img->id, devs)) < 0)
		ret = glance_reply_error(r, 503, "the database did not answer: try again");
	else {
		int i;
		for (i = 0; i < n && devs[i].index != idx; i++)
			;
		if (i == n || (rc = model_blob_get(m, devs[i].blob_id, &b)) < 0 || !b.sealed ||
		    (rc = model_store(m, b.region_id, &d->s)) < 0) {
			ret = glance_reply_empty(r, 204);
			goto out;
		}
		if ((rc = model_blob_manifest_err(m, b.id, &d->man, &err)) < 0) {
			ret = glance_reply_error(r, rc == -EACCES ? 503 : 500, "%s", err.msg[0] ? err.msg : strerror(-rc));
			goto out;
		}
		uint64_t size = d->man->size;
		const char *range = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
		int ranged = range ? serve_range_parse(range, size, &d->start, &d->len) : 0;
		if (ranged < 0) {
			struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
			serve_content_range(crange, sizeof(crange), 0, 0, size);
			if (resp)
				MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
			ret = glance_queue(r, 416, resp);
			goto out;
		}
		if (!ranged) {
			d->start = 0;
			d->len = size;
		}
		struct MHD_Response *resp = MHD_create_response_from_callback(d->len, 256u << 10, body_read, r, NULL);
		if (!resp) {
			ret = MHD_NO;
			goto out;
		}
		char etag[40];
		blob_manifest_digest(d->man, etag + 1);
		etag[0] = '"';
		strcat(etag, "\"");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
		if (ranged) {
			serve_content_range(crange, sizeof(crange), d->start, d->len, size);
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
		}
		ret = glance_queue(r, ranged ? 206 : 200, resp);
	}
out:
	return ret;
}

void data_free(struct glance_req *r)
{
	struct glance_data *d = r->data;
	if (!d)
		return;
	struct glance_waits *ws = glance_waits_of(r->g);
	IMGFS_LOCK(&ws->lock, glance_waits_lock);
	if (d->waiting) { /* never: a waiting request is resumed before its end */
		if (d->wprev)
			d->wprev->wnext = d->wnext;
		else
			ws->head = d->wnext;
		if (d->wnext)
			d->wnext->wprev = d->wprev;
	}
	IMGFS_UNLOCK(&ws->lock, glance_waits_lock);
	if (d->begun) { /* the client went away mid-body: the upload fails, its chunk in flight written first */
		writer_stop(d->wr);
		d->wr = NULL;
		model_upload_fail(glance_model(r->g), &d->u, "upload failed: the client closed the connection");
	}
	upload_release(r, d);
	blob_manifest_free(d->man);
	free(d);
	r->data = NULL;
}

/* ---- glance-download: another image's data, by reference ---------------------------------- */

int glance_clone_data(glance *g, int64_t dst_id, int64_t src_id, struct model_err *err)
{
	model *m = glance_model(g);
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_image dst;
	struct model_upload u;
	struct model_blob b, sb;
	blob_manifest *man = NULL;
	blob_store *s = NULL;
	blob_wblob *w = NULL;
	int n, i, rc;
	if ((rc = model_image_get(m, dst_id, &dst)) < 0)
		return model_fail(err, rc, "no such image");
	int idx = dst.folder == MODEL_FOLDER_ISO ? 26 : 0;
	if ((n = model_device_list(m, src_id, devs)) < 0)
		return model_fail(err, n, "the source's disks could not be read");
	for (i = 0; i < n && devs[i].index != 0 && devs[i].index != 26; i++)
		;
	if (i == n || (rc = model_blob_get(m, devs[i].blob_id, &sb)) < 0 || !sb.sealed)
		return model_fail(err, -ENOENT, "the source image has no data");
	if ((rc = model_blob_manifest_err(m, sb.id, &man, err)) < 0 || (rc = model_store(m, sb.region_id, &s)) < 0) {
		blob_manifest_free(man);
		return rc;
	}
	if ((rc = model_upload_begin(m, dst_id, idx, &u, err)) < 0) {
		blob_manifest_free(man);
		return rc;
	}
	/* the chunks taken by their ids, none read or written (a cp --reflink's way) */
	if ((rc = model_blob_get(m, u.blob_id, &b)) < 0 || (rc = model_wblob_open(m, &b, &w, err)) < 0 ||
	    (rc = blob_wblob_share_check(w, s, man)) < 0 || (rc = model_blob_hold(m, u.blob_id, sb.id, err)) < 0 ||
	    (rc = (int)blob_wblob_share(w, s, man, 0, 0, man->size, NULL)) < 0 || (rc = blob_wblob_fsync(w)) < 0) {
		if (!err->msg[0])
			model_fail(err, rc, rc == -EXDEV ? "the source is of another lineage (SPEC §17): its chunks are not "
			                                   "this image's to share"
			                                 : "the source's data could not be taken: %s", strerror(-rc));
		blob_wblob_close(w);
		blob_manifest_free(man);
		model_upload_abandon(m, &u, err->msg);
		return rc;
	}
	rc = model_upload_close(m, &u, blob_wblob_size(w), blob_wblob_stored(w), "", "");
	blob_wblob_close(w);
	blob_manifest_free(man);
	if (rc < 0)
		return model_fail(err, rc, "the upload was cancelled");
	glance_kick(g);
	return 0;
}

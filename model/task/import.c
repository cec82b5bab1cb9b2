/*
 * import.c — URL import (SPEC §5.2): writing "url <URL>" to `source` of a
 * queued private or ISO image downloads the URL into the image.
 *
 * Who calls it: fs/fuse/attr.c (the `source` write: model_image_import_url), the
 * task engine (task.c runs the 'import' task: import_run), the unit tests.
 * Workload: one download per image, gigabytes each, a handful at once.  The
 * transfer itself is fetch.c's; the end (validate, seal, available or
 * error) is the upload's (upload.c's upload_seal), and so is cancel
 * (model_upload_cancel ends either kind).
 *
 * The life of an import, each step one transaction:
 *
 *   begin   (the write)  the URL checked first (fetch_url_check: EINVAL with
 *                        the reason, nothing changes); then queued ->
 *                        uploading, `source` "url <URL>" with the password
 *                        redacted, a blobs row naming a writable blob
 *                        "u<blob id>" (created before the commit), the
 *                        device row (disks/vda or disks/cdrom appears), a
 *                        tasks row kind 'import', state 'queued', args
 *                        "<blob id> <idx>\n<URL>\n" — the URL in full, with
 *                        its password: the task needs it to resume — and,
 *                        once a durable point holds bytes that came with
 *                        one, a third line "<validator>\n" (fetch.h: the
 *                        ETag, date or ftp size and time of their version).
 *                        The tasks table is in the state database, which
 *                        only the service reads (docs/reference.md §5.2).
 *   run     (the task)   fetch_run into the wblob at the offsets it gives;
 *                        progress into the task (bytes-done, bytes-total =
 *                        the size the server announced) and the image's
 *                        `progress`; every IMPORT_SYNC_BYTES a durable
 *                        point (below).  The whole file there: upload_seal.
 *                        A failed transfer: the image in error with fetch's
 *                        reason, its rows gone, the wblob removed.
 *   stop    (unmount)    the transfer stops, a durable point is recorded,
 *                        the engine requeues the task; the next run resumes.
 *   yield   (time slice) the same, when task_yield_due says another
 *                        account's task waits for this worker (fair share,
 *                        task.c), and only when stopping costs no download
 *                        (import_resumable: the server serves ranges of a
 *                        named version); a log line says so.
 *   overrun (time slice) an import that cannot stop without losing its
 *                        bytes (the server's choice: no ranges, no ETag)
 *                        gets one slice more once another account's task
 *                        waits for its worker; still running then, it ends
 *                        in error with the reason.  So no server, however
 *                        it dribbles above the rate floor, holds an import
 *                        slot another account waits for longer than two
 *                        slices (SPEC §8).
 *   cancel  (`cancel`)   model_upload_cancel: the rows go, the image is in
 *                        error "cancelled"; the runner finds its task gone
 *                        at its next progress write and stops.
 *
 * Durable points and resume (§11).  The blob row's size is the resume
 * point: bytes [0, size) of the wblob were fsynced before it was recorded,
 * and in the same transaction the task's args name their version (the
 * validator of the response they came in; none, no line).  A run starts
 * by cutting the wblob back to that point (what lies beyond may not have
 * reached the disk before a crash) and asks the server for the rest of
 * that version only (fetch.c: If-Range, or ftp's size and time compared);
 * a server that cannot resume, or whose file changed, sends the file again
 * from 0, and then the point drops to 0 first.  Without a validator the
 * file comes again from 0.  So a kill -9 or a power cut at any moment
 * costs at most IMPORT_SYNC_BYTES of download, never wrong bytes — not
 * even when the file changed on the server meanwhile.
 *
 * Another host (§13).  When hosts share the metadata, a durable point also
 * seals the wblob (nothing moves but the partial last chunk: the whole
 * ones were streamed) and commits that manifest in tasks.resume.  The task
 * is bound to its host (tasks.host) while that host's lease is current;
 * then any host claims it (task.c: the kind is movable) and
 * import_take_over makes a wblob of its own from the manifest, so the
 * download goes on from the same byte as on the first host.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "early.h"
#include "fetch.h"
#include "task_int.h"

#define CDROM_IDX 26
/* How many downloaded bytes between two durable points. */
#define IMPORT_SYNC_BYTES (64ULL << 20)
/* Tests make durable points closer (a host killed after a few seconds of
 * a trickling server must have left one): bytes between two, from
 * IMPORT_SYNC_MIN to IMPORT_SYNC_BYTES; anything else, the default. */
#define IMPORT_SYNC_ENV "IMGFS_IMPORT_SYNC_BYTES"
#define IMPORT_SYNC_MIN (64ULL << 10)
/* The task's args: the plan line, the URL, the validator. */
#define IMPORT_ARGS_MAX (FETCH_URL_MAX + FETCH_VALIDATOR_MAX + 64)
_Static_assert(IMPORT_ARGS_MAX <= MODEL_TEXT_MAX, "an import's args fit a tasks row as read back");

bool model_image_is_url_import(const struct model_image *img)
{
	return strncmp(img->source, "url ", 4) == 0;
}

/* The task's args: "<blob id> <idx>\n<URL>\n", then "<validator>\n" when
 * the bytes held have one (checked by fetch: one line, printable). */
static void import_args(char out[IMPORT_ARGS_MAX], int64_t blob_id, int idx, const char *url, const char *validator)
{
	int n = snprintf(out, IMPORT_ARGS_MAX, "%" PRId64 " %d\n%s\n", blob_id, idx, url);

	if (validator[0] && n > 0 && n < IMPORT_ARGS_MAX)
		snprintf(out + n, IMPORT_ARGS_MAX - (size_t)n, "%s\n", validator);
}

/* ---- begin ------------------------------------------------------------------------ */

/* The rows that make the image an import in progress, in the caller's
 * transaction (u: the blob just made). */
static int import_new_rows(struct model_conn *c, const struct model_upload *u, const char *url)
{
	char args[IMPORT_ARGS_MAX], shown[FETCH_URL_MAX + 8];
	db_stmt *st;
	int64_t now = model_now_ns();
	int rc;

	if (!(st = model_stmt(c, SQL("INSERT INTO devices(image_id, idx, blob_id, snapshot_id) VALUES (?, ?, ?, 0)"))))
		return -EIO;
	db_bind_int64(st, 1, u->image_id);
	db_bind_int(st, 2, u->idx);
	db_bind_int64(st, 3, u->blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	import_args(args, u->blob_id, u->idx, url, "");
	/* Its file grows in this host's state directory: it runs here (while
	 * this host lives: import_take_over). */
	if (!(st = model_stmt(c, SQL("INSERT INTO tasks(kind, image_id, args, state, host) "
	                             "VALUES ('import', ?, ?, 'queued', ?)"))))
		return -EIO;
	db_bind_int64(st, 1, u->image_id);
	db_bind_text(st, 2, args);
	db_bind_text(st, 3, model_host(c->m));
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	memcpy(shown, "url ", 4);
	fetch_url_redact(url, shown + 4, sizeof(shown) - 4); /* fits: the URL was checked */
	/* A new operation: the last one's reason goes. */
	if (!(st = model_stmt(c, SQL("UPDATE images SET status = ?, progress = 0, source = ?, "
	                         "error_ns = CASE error WHEN '' THEN error_ns ELSE ?3 END, error = '', "
	                         "mtime_ns = ?3, ctime_ns = ?3, dir_mtime_ns = ?3 WHERE id = ? AND status = ?"))))
		return -EIO;
	db_bind_int(st, 1, MODEL_IMG_UPLOADING);
	db_bind_text(st, 2, shown);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, u->image_id);
	db_bind_int(st, 5, MODEL_IMG_QUEUED);
	if ((rc = model_exec_stmt(st)) < 0)
		return rc;
	return model_changes(c) == 1 ? 0 : -EBUSY;
}

int model_image_import_url(model *m, int64_t image_id, const char *url, struct model_err *err)
{
	struct model_upload u = {0};
	struct model_image img;
	struct model_conn *c;
	char why[FETCH_REASON_MAX];
	blob_store *s = NULL;
	int64_t key_id;
	int rc;

	if (fetch_url_check(url, why, sizeof(why)) < 0)
		return model_fail(err, -EINVAL, "%s", why);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	u = (struct model_upload){.image_id = image_id, .region_id = img.region_id, .folder = img.folder,
	                          .idx = img.folder == MODEL_FOLDER_ISO ? CDROM_IDX : 0};
	if ((rc = upload_check_image(&img, u.idx, err)) < 0)
		goto out;
	if ((rc = model_store(m, img.region_id, &s)) < 0) {
		model_fail(err, rc, "cannot open the blob store: %s", strerror(-rc));
		goto out;
	}
	if ((rc = model_image_key_ensure(c, &img, &key_id, err)) < 0)
		goto out;
	if ((rc = upload_new_blob(c, s, &u, key_id)) < 0 || (rc = import_new_rows(c, &u, url)) < 0 ||
	    (rc = model_log_change(c, MODEL_CHANGE_IMAGE, image_id, img.region_id, img.folder, NULL)) < 0) {
		if (u.wblob[0]) /* still under the write lock: nobody else can have taken the name */
			blob_wblob_remove(s, u.wblob);
		u.wblob[0] = '\0';
		model_fail(err, rc, rc == -EBUSY ? "the image changed status meanwhile" : "cannot start the import: %s",
		           strerror(-rc));
		goto out;
	}
out:
	if ((rc = model_write_end(c, rc, err)) < 0 && u.wblob[0])
		blob_wblob_remove(s, u.wblob); /* the commit failed: nothing names it */
	return rc;
}

/* ---- the task ----------------------------------------------------------------- */

struct import_run {
	struct task_run *r;
	int64_t blob_id;
	int idx;
	const char *url;
	blob_wblob *w;
	uint64_t next;    /* offset the sink expects next */
	uint64_t mark;    /* the durable point recorded in the blob row */
	uint64_t total;   /* the size the server announced, 0 unknown */
	/* The version of bytes [0, next): as recorded in the args, then the
	 * validator of the response the sink's bytes came in. */
	char validator[FETCH_VALIDATOR_MAX];
	const struct fetch_result *res; /* the transfer's, while it runs */
	/* The SHA-256 of bytes [0, next) (§2.1), while they came in order from
	 * 0 in this run; NULL otherwise (a resumed run: the seal reads the
	 * file once to hash it). */
	blob_sha256 *sha;
	/* An import that cannot yield: when another account's task was first
	 * seen waiting for its worker (0: not yet), and, once its extra slice
	 * ran out with a task still waiting, why it ends. */
	int64_t waited_ns;
	char overrun[200];
	uint64_t early_total; /* a resumed early import: its size (the task's bytes-total) */
	/* Hosts share the metadata (§13): each durable point is also the
	 * manifest of its bytes in the region's store (tasks.resume), from
	 * which another host takes the import over (import_take_over). */
	bool shared;
	uint64_t sync_bytes; /* between two durable points */
	/* An early start asked for the image (early.c): the stream stopped to
	 * turn to windows (to_early), then the entry the windows fill. */
	bool to_early;
	struct early_import *early;
	bool total_told; /* the announced size was reported (import_report) once */
};

/* The durable point: bytes [0, at) of the wblob fsynced, then the blob
 * row's size and the args' validator say so, in one transaction.
 * -ECANCELED when the task was lost (cancelled). */
static int import_mark(struct import_run *ir, uint64_t at)
{
	char args[IMPORT_ARGS_MAX];
	struct model_conn *c;
	db_stmt *st;
	int rc;

	blob_manifest *man = NULL;
	void *enc = NULL;
	size_t enc_len = 0;

	if (at > 0 && (rc = blob_wblob_fsync(ir->w)) < 0)
		return rc;
	/* Every host's durable point: the bytes [0, at) as chunks in the
	 * region's store, their ids in the task's row.  The seal stores only
	 * the last chunk when it is partial (the others are stored already,
	 * streamed) and leaves the wblob as it was. */
	if (ir->shared && at > 0 &&
	    ((rc = blob_wblob_seal(ir->w, &man)) < 0 || (rc = blob_manifest_encode(&enc, &enc_len, man)) < 0)) {
		blob_manifest_free(man);
		return rc;
	}
	blob_manifest_free(man);
	if ((rc = model_write_begin(ir->r->m, &c, NULL)) < 0) {
		free(enc);
		return rc;
	}
	if ((rc = task_touch(c, ir->r)) <= 0) {
		rc = rc < 0 ? rc : -ECANCELED;
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET size = ?, stored = ?, mtime_ns = ? WHERE id = ? AND manifest IS NULL")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, (int64_t)at);
	db_bind_int64(st, 2, (int64_t)blob_wblob_stored(ir->w));
	db_bind_int64(st, 3, model_now_ns());
	db_bind_int64(st, 4, ir->blob_id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET args = ?, resume = ? WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	import_args(args, ir->blob_id, ir->idx, ir->url, ir->validator);
	db_bind_text(st, 1, args);
	if (enc)
		db_bind_blob(st, 2, enc, enc_len);
	else
		db_bind_null(st, 2);
	db_bind_int64(st, 3, ir->r->t.id);
	rc = model_exec_stmt(st);
out:
	free(enc);
	if ((rc = model_write_end(c, rc, NULL)) == 0)
		ir->mark = at;
	return rc;
}

/* fetch's sink: the bytes into the wblob in order.  An offset before the
 * expected one is the server sending the file again from 0 (it could not
 * resume, or the file changed): what the wblob holds from there on is
 * stale, and so is the durable point. */
static int import_sink(void *arg, const void *buf, size_t len, uint64_t offset)
{
	struct import_run *ir = arg;
	const uint8_t *p = buf;
	int rc;

	/* The bytes are of the version this response names (fetch.h). */
	snprintf(ir->validator, sizeof(ir->validator), "%s", ir->res->validator);
	if (offset != ir->next) {
		if ((rc = blob_wblob_truncate(ir->w, offset)) < 0 || (offset < ir->mark && (rc = import_mark(ir, 0)) < 0))
			return rc;
		ir->next = offset;
		/* From 0 again: a new hash; from anywhere else: none. */
		blob_sha256_free(ir->sha);
		ir->sha = NULL;
		if (offset == 0 && blob_sha256_new(&ir->sha) < 0)
			ir->sha = NULL;
	}
	if (ir->sha)
		blob_sha256_update(ir->sha, buf, len);
	while (len > 0) {
		ssize_t n = blob_wblob_pwrite(ir->w, p, len, ir->next);
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		p += n;
		len -= (size_t)n;
		ir->next += (uint64_t)n;
	}
	if (ir->next - ir->mark >= ir->sync_bytes)
		return import_mark(ir, ir->next);
	return 0;
}

static void import_progress(void *arg, uint64_t done, uint64_t total)
{
	struct import_run *ir = arg;
	ir->r->bytes_done = done;
	ir->total = total;
}

/* One short transaction: bytes done, the announced size as bytes-total,
 * the image's progress.  Sets r->lost when the task is gone (cancelled). */
static void import_report(struct import_run *ir)
{
	struct task_run *r = ir->r;
	struct model_conn *c;
	db_stmt *st;
	bool total = false;
	int rc;

	/* Lost (r->lost set), or a database error: the next report. */
	if (model_write_begin(r->m, &c, NULL) < 0)
		return;
	if ((rc = task_touch(c, r)) <= 0)
		goto out;
	if (ir->total != r->t.bytes_total) {
		if (!(st = model_stmt(c, SQL("UPDATE tasks SET bytes_total = ? WHERE id = ?")))) {
			rc = -EIO;
			goto out;
		}
		db_bind_int64(st, 1, (int64_t)ir->total);
		db_bind_int64(st, 2, r->t.id);
		if ((rc = model_exec_stmt(st)) < 0)
			goto out;
		total = true;
	}
	rc = task_image_progress(c, r);
out:
	if (model_write_end(c, rc, NULL) == 0 && total)
		r->t.bytes_total = ir->total;
}

/* Whether stopping now costs no download: nothing came since the durable
 * point, or the bytes held name their version and the server serves
 * ranges (the next run asks for the rest of that version). */
static bool import_resumable(const struct import_run *ir)
{
	return ir->next == ir->mark || (ir->validator[0] && ir->res->ranges);
}

/* An import that cannot yield and whose time slice is over while
 * another account's task waits for its worker (task_yield_due, whose
 * answer asks this run to stop): it keeps the worker for one slice more,
 * counted from the first time a task was seen waiting, then ends —
 * whatever its server does, another account waits at most that long for
 * the import slot (SPEC §8).  True when it must end (ir->overrun says
 * why). */
static bool import_overrun(struct import_run *ir)
{
	struct task_run *r = ir->r;
	int64_t now = model_now_ns(), slice = model_import_slice(r->m) * 1000000000LL;

	if (!task_yield_due(r))
		return false;
	r->yielded = r->stopped = false; /* it cannot stop and resume: it goes on, or fails */
	if (!ir->waited_ns) {
		struct model_image img;
		ir->waited_ns = now;
		if (model_image_get(r->m, r->t.image_id, &img) == 0)
			model_log(r->m, "import of image %s (%s) cannot give its worker to another account's task (its "
			          "server does not serve ranges of a named version): it ends in error if not done in "
			          "%lld s", img.ext_id, img.name, (long long)(slice / 1000000000LL));
		return false;
	}
	if (now - ir->waited_ns < slice)
		return false;
	snprintf(ir->overrun, sizeof(ir->overrun),
	         "another account's task waited %lld s for its worker, and the server cannot resume "
	         "(no ranges of a named version): try again later, or from a server that serves ranges",
	         (long long)((now - ir->waited_ns) / 1000000000LL));
	return true;
}

/* Polled by fetch at least once a second: an unmount (stop), a cancel
 * (the task row gone) or the end of its time slice (fair share, task.c:
 * another account's task waits for the worker) ends the transfer. */
static bool import_cancelled(void *arg)
{
	struct import_run *ir = arg;
	struct task_run *r = ir->r;

	if (r->stop && *r->stop) {
		r->stopped = true;
		return true;
	}
	/* The announced size at once (an early start waits for it: every
	 * 250 ms of the stream before it is 3 MB at 100 Mbit/s that the
	 * boot did not ask for), else at the progress interval. */
	if (task_progress_due(r) || (ir->total > 0 && !ir->total_told)) {
		ir->total_told = ir->total > 0;
		import_report(ir);
	}
	if (r->lost)
		return true;
	/* An early start waits for the stream to turn to windows: at once
	 * when the bytes held name their version and the server serves
	 * ranges; never when it cannot (its readers are told why). */
	if (!ir->early && !ir->to_early && early_wanted(r->m, r->t.image_id)) {
		if (ir->res->validator[0] && ir->res->ranges && ir->res->announced > 0) {
			ir->to_early = true;
			return true;
		}
		if (ir->next > ir->mark || ir->res->announced >= 0)
			early_fail(r->m, r->t.image_id, "the server serves no ranges of a named version of the file: "
			                                "an early start needs them");
	}
	if (import_resumable(ir))
		return task_yield_due(r);
	return import_overrun(ir);
}

/* Seconds without a byte before a transfer fails: the environment's
 * IMGFS_IMPORT_STALL_TIMEOUT, else (0) fetch's default (early.c reads it,
 * for its readers' waits too). */
static int import_stall_timeout(void)
{
	return import_stall_env();
}

/* Bytes between two durable points: the environment's
 * IMGFS_IMPORT_SYNC_BYTES when in [IMPORT_SYNC_MIN, IMPORT_SYNC_BYTES],
 * else IMPORT_SYNC_BYTES. */
static uint64_t import_sync_bytes(void)
{
	const char *v = getenv(IMPORT_SYNC_ENV);
	char *end;
	unsigned long long n;
	if (!v || !*v || *v == '-')
		return IMPORT_SYNC_BYTES;
	errno = 0;
	n = strtoull(v, &end, 10);
	return *end == '\0' && errno == 0 && n >= IMPORT_SYNC_MIN && n <= IMPORT_SYNC_BYTES ? n : IMPORT_SYNC_BYTES;
}

/* The log line of a time slice given back (fair share, task.c). */
static void import_log_yield(const struct import_run *ir)
{
	struct task_run *r = ir->r;
	struct model_image img;
	long long secs = (long long)((model_now_ns() - r->claimed_ns) / 1000000000LL);
	if (model_image_get(r->m, r->t.image_id, &img) == 0)
		model_log(r->m, "import of image %s (%s) gives its worker to another account's task after %lld s; "
		          "it resumes from byte %llu", img.ext_id, img.name, secs, (unsigned long long)ir->mark);
}

/* The arrived chunks from 0 into the wblob by reference (no byte read or
 * written), up to the longest arrived run, and that point made durable
 * when it moved by sync_bytes (or always). */
static int import_early_mark(struct import_run *ir, bool always)
{
	blob_manifest *man = NULL;
	uint64_t prefix, have = blob_wblob_size(ir->w);
	blob_store *s;
	int rc;

	if ((rc = early_prefix(ir->r->m, ir->early, &man, &prefix)) < 0)
		return rc;
	if (prefix > have) {
		ssize_t n;
		if ((rc = model_store(ir->r->m, ir->r->region_id, &s)) < 0)
			goto out;
		n = blob_wblob_share(ir->w, s, man, have, have, prefix - have, NULL);
		if (n != (ssize_t)(prefix - have)) {
			rc = n < 0 ? (int)n : -EIO;
			goto out;
		}
	}
	ir->next = prefix > have ? prefix : have;
	if (always || ir->next - ir->mark >= ir->sync_bytes)
		rc = import_mark(ir, ir->next);
out:
	blob_manifest_free(man);
	return rc;
}

/* The next window of an early import (early_window), once the chunks other
 * hosts' readers stored are taken (early_got.c: their rows), so that none
 * is fetched twice across hosts (SPEC §6.5 "Several hosts"). */
static int import_early_window(struct import_run *ir, uint32_t *first, uint32_t *end, char *why, size_t cap)
{
	(void)early_got_pick(ir->r->m, ir->early); /* a hint: what it missed is fetched */
	return early_window(ir->r->m, ir->early, first, end, import_cancelled, ir, why, cap);
}

/* The import turns to windows (an early start asked, SPEC §6.5): the
 * chunk the stream was in completed with one range, the stream's chunks
 * handed to early.c, then the lowest run of chunks nobody has, a range at
 * a time, until every chunk arrived; then the seal, as a plain import's. */
static int import_early(struct import_run *ir, const char *wblob, uint64_t total)
{
	struct task_run *r = ir->r;
	blob_manifest *held = NULL;
	struct fetch_result er = {.ranges = true}; /* what the polls see from here on */
	char why[FETCH_REASON_MAX] = "";
	uint32_t first, end;
	int rc;

	blob_sha256_free(ir->sha); /* out of order from here: the seal hashes */
	ir->sha = NULL;
	ir->total = total;
	if (ir->next % BLOB_CHUNK_SIZE && ir->next < total) {
		struct fetch_result res;
		struct fetch_rule *rules = NULL;
		uint64_t to = (ir->next / BLOB_CHUNK_SIZE + 1) * BLOB_CHUNK_SIZE;
		struct fetch_req rq = {
			.url = ir->url,
			.ca_file = getenv("SSL_CERT_FILE"),
			.max_size = MODEL_IMPORT_MAX_SIZE,
			.resume_from = ir->next,
			.range_end = to < total ? to : total,
			.validator = ir->validator,
			.stall_timeout = import_stall_timeout(),
			.sink = import_sink,
			.arg = ir,
		};
		if ((rc = model_import_addresses_load(r->m, &rules, &rq.nrules)) < 0)
			return rc;
		rq.rules = rules;
		ir->res = &res;
		rc = fetch_run(&rq, &res);
		free(rules);
		if (rc < 0) {
			early_fail(r->m, r->t.image_id, res.reason);
			return upload_fail(r, ir->blob_id, "import failed: %s", res.reason);
		}
	}
	snprintf(er.validator, sizeof(er.validator), "%s", ir->validator);
	ir->res = &er;
	if ((rc = blob_wblob_seal(ir->w, &held)) < 0)
		return upload_fail(r, ir->blob_id, "import failed: storing the file: %s", strerror(-rc));
	rc = early_begin(r->m, r->t.image_id, ir->url, ir->validator, total, held, ir->next, &ir->early);
	blob_manifest_free(held);
	if (rc < 0)
		return upload_fail(r, ir->blob_id, "import failed: an early start: %s", strerror(-rc));
	/* A raw disk, or a QCOW2 file: its header and L1 table first, before
	 * any window (its readers read the disk through its tables).  A file
	 * the decoder refuses fails the import with its reason (an early start
	 * from it is refused, EINVAL); a file that could not be looked at (its
	 * source did not answer) fails its readers only: the import goes on,
	 * as a plain one's. */
	if ((rc = early_format(r->m, ir->early, why, sizeof(why))) < 0) {
		struct model_image img;
		char line[FETCH_REASON_MAX + 100];
		snprintf(line, sizeof(line), "image %s cannot be read early: %s",
		         model_image_get(r->m, r->t.image_id, &img) == 0 ? img.ext_id : "?", why);
		model_log(r->m, "%s", line);
		if (rc == -EINVAL)
			early_fail(r->m, r->t.image_id, line);
		else
			early_fail_readers(r->m, r->t.image_id, line);
		why[0] = '\0';
	}
	if ((rc = import_early_mark(ir, true)) < 0)
		goto fail_store;
	while ((rc = import_early_window(ir, &first, &end, why, sizeof(why))) == 1) {
		rc = early_fetch(r->m, ir->early, first, end, import_cancelled, ir, why, sizeof(why));
		r->bytes_done = early_arrived(r->m, ir->early);
		if (r->lost)
			goto out;
		if (r->stopped) {
			/* Back to the queue: from the arrived prefix (the chunks past
			 * it come again, or from the readers meanwhile). */
			rc = import_early_mark(ir, true);
			goto out;
		}
		if (rc < 0)
			break;
		if ((rc = import_early_mark(ir, false)) < 0)
			goto fail_store;
	}
	if (rc == -ECANCELED && (r->stopped || r->lost)) {
		/* Stopped while it gave way to readers (early_yield.c): back to
		 * the queue from the arrived prefix, as a stop in a window. */
		rc = r->lost ? rc : import_early_mark(ir, true);
		goto out;
	}
	if (rc < 0) {
		if (strstr(why, "changed on the server"))
			early_fail(r->m, r->t.image_id, why);
		early_end(r->m, ir->early);
		ir->early = NULL;
		return upload_fail(r, ir->blob_id, "import failed: %s", why);
	}
	if ((rc = import_early_mark(ir, true)) < 0)
		goto fail_store;
	if (blob_wblob_size(ir->w) != total && (rc = blob_wblob_truncate(ir->w, total)) < 0)
		goto fail_store;
	r->bytes_done = total;
	rc = upload_seal(r, ir->blob_id, ir->w, wblob);
	if (rc == 0)
		early_profile_save(r->m, ir->early);
	early_end(r->m, ir->early);
	ir->early = NULL;
	return rc;
fail_store:
	early_fail(r->m, r->t.image_id, "import failed: storing the file");
	early_end(r->m, ir->early);
	ir->early = NULL;
	return upload_fail(r, ir->blob_id, "import failed: storing the file: %s", strerror(-rc));
out:
	return rc == -ECANCELED ? 0 : rc;
}

/* Downloads the rest of the file from the durable point, then seals. */
static int import_transfer(struct import_run *ir, const char *wblob)
{
	struct task_run *r = ir->r;
	struct fetch_result res;
	char held[FETCH_VALIDATOR_MAX]; /* the sink moves ir->validator on */
	struct fetch_req rq = {
		.url = ir->url,
		/* OpenSSL's way to name another CA file; unset: the system store. */
		.ca_file = getenv("SSL_CERT_FILE"),
		.max_size = MODEL_IMPORT_MAX_SIZE,
		.resume_from = ir->mark,
		.validator = held,
		.stall_timeout = import_stall_timeout(),
		.sink = import_sink,
		.progress = import_progress,
		.cancelled = import_cancelled,
		.arg = ir,
	};
	struct fetch_rule *rules = NULL;
	int rc;

	/* Read at each start: a rule the admin adds applies to the next
	 * attempt of every import, on every host. */
	if ((rc = model_import_addresses_load(r->m, &rules, &rq.nrules)) < 0)
		return rc;
	rq.rules = rules;
	model_import_floor(r->m, &rq.floor_bps, &rq.floor_window);
	snprintf(held, sizeof(held), "%s", ir->validator);
	ir->res = &res;
	ir->next = ir->mark;
	r->bytes_done = ir->mark;
	if (ir->early_total) {
		/* An early start, resumed: straight to windows. */
		memset(&res, 0, sizeof(res));
		res.ranges = true;
		snprintf(res.validator, sizeof(res.validator), "%s", ir->validator);
		rc = 0;
	} else {
		rc = fetch_run(&rq, &res);
	}
	free(rules);
	if (r->lost)
		return 0; /* cancelled: the rows are gone already */
	if (ir->to_early || ir->early_total) {
		r->stopped = r->yielded = false;
		if (ir->to_early)
			snprintf(ir->validator, sizeof(ir->validator), "%s", res.validator);
		return import_early(ir, wblob, ir->early_total ? ir->early_total : (uint64_t)res.announced);
	}
	if (r->stopped) {
		/* Resumes from here; a failure to record it only costs bytes. */
		rc = import_mark(ir, ir->next);
		if (r->yielded && rc == 0)
			import_log_yield(ir);
		return rc == -ECANCELED ? 0 : rc;
	}
	if (ir->overrun[0])
		return upload_fail(r, ir->blob_id, "import failed: %s", ir->overrun);
	if (rc < 0) {
		if (!res.reason[0])
			snprintf(res.reason, sizeof(res.reason), "%s", strerror(-rc));
		return upload_fail(r, ir->blob_id, "import failed: %s", res.reason);
	}
	if (blob_wblob_size(ir->w) != res.end && (rc = blob_wblob_truncate(ir->w, res.end)) < 0)
		return upload_fail(r, ir->blob_id, "import failed: storing the file: %s", strerror(-rc));
	r->bytes_done = res.end;
	/* Hashed on the way in: the seal takes it from the blob row. */
	char sha[65];
	if (ir->sha && ir->next == res.end && blob_sha256_final(ir->sha, sha) == 0)
		model_blob_set_sha256(r->m, ir->blob_id, sha);
	return upload_seal(r, ir->blob_id, ir->w, wblob);
}

/* ---- take-over (§13) ---------------------------------------------------------- */

/* The durable point another host recorded (tasks.resume, import_mark):
 * its manifest when it names exactly bytes [0, size) of the blob row, else
 * NULL (none recorded, or from before they were: the file comes from 0). */
static int import_resume_point(struct task_run *r, uint64_t size, blob_manifest **out)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;

	*out = NULL;
	if ((rc = model_conn_get(r->m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT resume FROM tasks WHERE id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, r->t.id);
	rc = db_step(st);
	if (rc == DB_ROW && !db_col_null(st, 0) && size > 0)
		rc = blob_manifest_decode(out, db_col_blob(st, 0), db_col_bytes(st, 0));
	else
		rc = rc == DB_ROW || rc == DB_DONE ? 0 : rc < 0 ? rc : -EIO;
	db_reset(st);
	if (rc < 0)
		return rc;
	if (*out && (*out)->size != size) {
		blob_manifest_free(*out);
		*out = NULL;
	}
	return 0;
}

/* A host takes over an import whose host died (its lease lapsed, or it
 * was removed: task.c claims it here then; SPEC §13).  That host's wblob
 * is out of reach (a RADOS region keeps it in that host's state
 * directory), so a new one — named for this run, so that a host coming
 * back never writes into it — is made here from the durable point's
 * manifest: the whole chunks taken by id (nothing read or written), the
 * partial last one read back.  Then in one guarded transaction the blob
 * row names it with the durable point's size and the task is bound to
 * this host.  On success ir->w is the new wblob, ir->mark its size and
 * *row the blob row as it now is; *lost tells a task taken meanwhile
 * (nothing to do). */
static int import_take_over(struct import_run *ir, struct model_blob *row, bool *lost)
{
	struct task_run *r = ir->r;
	struct model_blob b = *row;
	const struct model_blob *old = row;
	blob_manifest *man = NULL;
	blob_wblob *w = NULL;
	struct model_conn *c;
	blob_store *s;
	db_stmt *st;
	bool gone = false;
	int rc;

	*lost = false;
	if ((rc = model_store(r->m, b.region_id, &s)) < 0)
		return rc;
	if ((rc = import_resume_point(r, b.size, &man)) < 0)
		return rc;
	snprintf(b.wblob, sizeof(b.wblob), "u%" PRId64 "-%" PRIx64, b.id, (uint64_t)r->claimed_ns);
	b.size = man ? man->size : 0;
	if ((rc = blob_wblob_create(s, b.wblob, NULL, 0)) == -EEXIST) {
		blob_wblob_remove(s, b.wblob);
		rc = blob_wblob_create(s, b.wblob, NULL, 0);
	}
	if (rc < 0 || (rc = model_wblob_open(r->m, &b, &w, NULL)) < 0)
		goto fail;
	blob_wblob_stream(w);
	if (man) {
		blob_manifest_set_key(man, blob_wblob_key(w));
		ssize_t n = blob_wblob_share(w, s, man, 0, 0, man->size, NULL);
		if (n < 0 || (uint64_t)n != man->size) {
			rc = n < 0 ? (int)n : -EIO;
			goto fail;
		}
		if ((rc = blob_wblob_fsync(w)) < 0)
			goto fail;
	}
	if ((rc = model_write_begin(r->m, &c, NULL)) < 0)
		goto fail;
	if ((rc = task_touch(c, r)) <= 0) { /* 0: lost, nothing written */
		gone = rc == 0;
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE blobs SET wblob = ?, size = ?, stored = ?, mtime_ns = ? "
	                             "WHERE id = ? AND manifest IS NULL")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, b.wblob);
	db_bind_int64(st, 2, (int64_t)b.size);
	db_bind_int64(st, 3, (int64_t)blob_wblob_stored(w));
	db_bind_int64(st, 4, model_now_ns());
	db_bind_int64(st, 5, b.id);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	if (!(st = model_stmt(c, SQL("UPDATE tasks SET host = ? WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, model_host(r->m));
	db_bind_int64(st, 2, r->t.id);
	rc = model_exec_stmt(st);
out:
	if ((rc = model_write_end(c, rc, NULL)) < 0 || gone) {
		*lost = gone;
		goto fail;
	}
	snprintf(r->t.host, sizeof(r->t.host), "%s", model_host(r->m));
	/* The old host's files, where this host reaches them (a shared dir:
	 * store); on RADOS they are that host's own (fsck's there). */
	if (strcmp(old->wblob, b.wblob) != 0)
		blob_wblob_remove(s, old->wblob);
	struct model_image img;
	if (model_image_get(r->m, r->t.image_id, &img) == 0)
		model_log(r->m, "import of image %s (%s) taken over from its durable point, byte %llu of %s",
		          img.ext_id, img.name, (unsigned long long)b.size, old->wblob);
	blob_manifest_free(man);
	*row = b;
	ir->w = w;
	ir->mark = b.size;
	return 0;
fail:
	blob_manifest_free(man);
	blob_wblob_close(w);
	blob_wblob_remove(s, b.wblob);
	return rc;
}

int import_run(struct task_run *r)
{
	struct import_run ir = {.r = r};
	char url[FETCH_URL_MAX + 1];
	const char *rest;
	struct model_blob b;
	int rc;

	if (upload_parse(r->t.args, &ir.blob_id, &ir.idx, &rest) < 0 || import_parse(rest, url, ir.validator) < 0)
		return upload_fail(r, 0, "import failed: its task record is unreadable");
	ir.url = url;
	if (r->t.error[0]) /* its host was removed (host.c) */
		return upload_fail(r, ir.blob_id, "import failed: %s", r->t.error);
	if ((rc = model_blob_get(r->m, ir.blob_id, &b)) < 0 || !b.wblob[0])
		return upload_fail(r, rc < 0 ? 0 : ir.blob_id, "import failed: its data is gone");
	ir.shared = r->m->cluster;
	ir.sync_bytes = import_sync_bytes();
	if (ir.shared && strcmp(r->t.host, model_host(r->m)) != 0) {
		/* Its host died: from the durable point it left in the store. */
		bool lost;
		if ((rc = import_take_over(&ir, &b, &lost)) < 0 || lost) {
			if (lost || r->lost)
				return 0;
			/* Could not tell (the store or the database did not answer):
			 * back to the queue, its point kept, rather than an error. */
			model_log(r->m, "import task %lld could not be taken over yet: %s", (long long)r->t.id,
			          strerror(-rc));
			return rc;
		}
	} else {
		if ((rc = model_wblob_open(r->m, &b, &ir.w, NULL)) < 0)
			return upload_fail(r, ir.blob_id, "import failed: its data cannot be opened: %s", strerror(-rc));
		/* Whole chunks straight into the store: the bytes are written once. */
		blob_wblob_stream(ir.w);
		/* Beyond the durable point the bytes may not have reached the disk. */
		ir.mark = b.size <= blob_wblob_size(ir.w) ? b.size : 0;
	}
	/* A URL with a boot profile (SPEC §6.5 "Boot profile"): a plain
	 * import takes the profile's chunks first too, turning to windows as
	 * an early start's does (once the server names the version and
	 * serves ranges; else it streams on, as ever).  A hint: out of
	 * memory, the import runs in order. */
	if (!early_known(r->m, r->t.image_id) && early_profiled(r->m, url))
		(void)early_want(r->m, r->t.image_id, r->region_id);
	/* An early import whose process died (kill -9, a power cut), or whose
	 * host was lost (taken over): early again from its durable point, so
	 * that the chunks its fetches stored past it (rows, early_got.c) are
	 * not fetched again. */
	if (!early_known(r->m, r->t.image_id) && ir.mark > 0 && early_got_kept(r->m, r->t.image_id))
		(void)early_want(r->m, r->t.image_id, r->region_id);
	/* An early start of this image is known here and the bytes held name
	 * their version: the windows go on from the durable point. */
	if (early_known(r->m, r->t.image_id) && ir.validator[0] && ir.mark > 0 && r->t.bytes_total > 0)
		ir.early_total = (uint64_t)r->t.bytes_total;
	if (ir.mark == 0 && blob_sha256_new(&ir.sha) < 0)
		ir.sha = NULL; /* the seal hashes it */
	if (blob_wblob_size(ir.w) != ir.mark && (rc = blob_wblob_truncate(ir.w, ir.mark)) < 0)
		rc = upload_fail(r, ir.blob_id, "import failed: its data cannot be written: %s", strerror(-rc));
	else
		rc = import_transfer(&ir, b.wblob);
	blob_wblob_close(ir.w);
	blob_sha256_free(ir.sha);
	return rc;
}

/* Imports wait on other machines (a slow server holds its worker for as
 * long as it dribbles): at most MODEL_IMPORTS_RUNNING of one account run at
 * once, and on a mount with several workers they leave one free for the
 * other kinds, so that a capture, a conversion or an upload's seal never
 * waits behind downloads (SPEC §5.2, §8). */
int import_claimable(struct model_conn *c, int64_t task_id)
{
	model *m = c->m;
	if (m->workers > 1 && atomic_load(&m->imports_here) >= (int)m->workers - 1)
		return 0;
	int rc = task_account_running(c, task_id, "import");
	return rc < 0 ? rc : rc < MODEL_IMPORTS_RUNNING;
}

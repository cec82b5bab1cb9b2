/*
 * upload.c — the FUSE side of uploads (SPEC §5.3): `cp file
 * private/<img>/disks/vda` (disks/cdrom in iso/) while the image is queued.
 *
 * Who calls it: ops.c (create, open, flush, truncate of an uploading
 * image's disk), disk.c through the hooks registered at create (each
 * write, under the disk's writer lock, and the last writer's close),
 * attr.c (the `cancel` file), node.c (stat of the disk while it is
 * written).  The
 * model's side, and the life of an upload, are in model/task/upload.c.
 *
 * The first bytes are sniffed before they are written: a write at offset 0
 * of no known format fails with EINVAL, and the upload is abandoned (the
 * image is queued again, its `error` says why), so a wrong file is refused
 * before gigabytes move.  A first write too short to tell (less than the 32
 * KiB an ISO's descriptor needs) is written, and the sniff is repeated as
 * the bytes from offset 0 grow.  Writes at other offsets are accepted
 * meanwhile (cp --sparse skips holes); the check on close has the last
 * word anyway.
 *
 * Once the format is known, a write is answered before its bytes are
 * stored (the admit hook says so; disk.c answers, then calls the write
 * hook with the writer lock held): `cp` reads its next MiB while this one
 * is hashed and handed to the store, instead of one after the other.  A
 * failure to store bytes already answered fails the upload (UPLOAD_FAILED):
 * every later write and the close(2) return its errno, and the image ends
 * in error — SPEC §11 promises an upload's bytes at close(2), not before.
 *
 * Only the mount that began an upload writes it (its sniff and its close
 * must see every write).  A cancel elsewhere deletes the task row: the
 * writer sees it within UPLOAD_RECHECK_NS and fails every later write with
 * ECANCELED; a cancel through this mount fails them at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "disk.h"
#include "format.h"
#include "fs.h"
#include "log.h"
#include "watch.h"

#define UPLOAD_RECHECK_NS 1000000000LL /* how often a writer looks for a cancel made elsewhere */
#define CDROM_IDX 26
/* A writable blob's bound (blobstore: 2^32 chunks): a write beyond it is EFBIG. */
#define UPLOAD_MAX_END ((uint64_t)UINT32_MAX * BLOB_CHUNK_SIZE)

/* Where an upload this mount began stands: every state but WRITING fails
 * the writes that follow, and the close, with up->err. */
enum upload_state {
	UPLOAD_WRITING,   /* writes are taken */
	UPLOAD_REFUSED,   /* a write's bytes are of no format taken here: EINVAL, abandoned */
	UPLOAD_CANCELLED, /* `cancel`, through this mount or another: ECANCELED */
	UPLOAD_FAILED,    /* storing bytes already answered failed: its errno, error at close */
};

/* Where the file's hashes stand (§2.1, §2.3). */
enum upload_hash {
	UPLOAD_HASH_NONE,      /* nothing written yet */
	UPLOAD_HASH_FOLLOWING, /* [0, sha_at) fed, in order */
	UPLOAD_HASH_LOST,      /* no longer the bytes': the background checksum pass hashes it */
};

/* What the mount that began an upload knows of it: allocated for an
 * upload only (upload_new), held by its disk entry (disk.c), guarded by
 * the disk's writer lock — held around every hook. */
struct fs_upload {
	struct model_upload u;  /* its rows: image, blob, task, wblob */
	char path[320];         /* disks/<dev>'s path, for refusals */
	const char *format;     /* sniffed ("raw", "qcow2", "iso"), NULL until known */
	uint64_t head_end;      /* bytes written contiguously from offset 0 */
	enum upload_state state;
	int err;                /* state's errno (0 while WRITING) */
	int64_t checked_ns;     /* when the task row was last looked at (a cancel elsewhere) */
	char refusal[256];      /* why a write refused it (for the refused hook) */
	/* The file's SHA-256 (§2.1) and XXH3-128 (§2.3) as its writes arrive:
	 * bytes [0, sha_at) fed, sha_zeros of them a gap before a write fed as
	 * zeros — never more than the bytes written (UPLOAD_HASH_SLACK aside),
	 * so the hasher's work, and the close that waits for it, follow what
	 * was written, not the file's size; sha is NULL unless FOLLOWING
	 * (lost: a write before sha_at, a shrink below it, a copy by
	 * reference, more holes than bytes). */
	enum upload_hash hash;
	blob_sha256_async *sha;
	uint64_t sha_at;
	uint64_t sha_zeros;
	/* Progress while the bytes arrive (SPEC §4, upload_report): the bytes
	 * written, the size a truncate gave the file ahead of them (0:
	 * unknown), a QCOW2's virtual size (what progress is reckoned against
	 * when the size is unknown), what the task row was last told, when. */
	uint64_t written, total, estimate, reported;
	int64_t reported_ns;
};

/* How often an upload tells its task row how far it got: every
 * UPLOAD_REPORT_BYTES written or UPLOAD_REPORT_NS, whichever comes first
 * (one short transaction each: a 4 GiB cp costs a few dozen). */
#define UPLOAD_REPORT_BYTES (64ULL << 20)
#define UPLOAD_REPORT_NS 1000000000LL

/* After the upload's disk went away (abandoned, cancelled): the kernel
 * drops the image's attributes and the name disks/<dev>, so the next cp
 * creates it again rather than opening the old inode.  Safe inside a write
 * request: the kernel holds the file's lock there, not disks/'s. */
static void upload_gone(struct fs_ctx *ctx, const struct model_upload *u)
{
	struct model_change c = {.kind = MODEL_CHANGE_IMAGE, .obj = u->image_id, .region_id = u->region_id, .folder = u->folder};
	const char *dev = u->idx == CDROM_IDX ? "cdrom" : "vda";
	fs_invalidate(ctx, &c, false);
	if (ctx->se)
		fuse_lowlevel_notify_inval_entry(ctx->se, fs_ino(FS_K_IMAGE, u->image_id, FS_SUB_DISKS), dev, strlen(dev));
}

static fuse_ino_t upload_ino(const struct model_upload *u)
{
	return fs_ino(FS_K_IMAGE, u->image_id, FS_SUB_DISKS + 1 + (unsigned)u->idx);
}

static void upload_changed(struct fs_ctx *ctx, const struct model_upload *u)
{
	struct model_change c = {.kind = MODEL_CHANGE_IMAGE, .obj = u->image_id, .region_id = u->region_id, .folder = u->folder};
	fs_invalidate(ctx, &c, false);
}

static int upload_admit(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, const void *buf, size_t len,
                        uint64_t off, bool *refused);
static ssize_t upload_write(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, const void *buf, size_t len,
                            uint64_t off, bool answered, bool *refused);
static ssize_t upload_share(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, blob_store *s,
                            const blob_manifest *src, uint64_t src_off, uint64_t dst_off, uint64_t len,
                            struct blob_share_counts *counts, bool *refused);
static void upload_write_refused(struct fs_ctx *ctx, struct fs_upload *up);
static void upload_closed(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up);
static bool upload_empty(struct fs_disk *d, const struct fs_upload *up);

/* What disk.c calls back for an upload this mount began. */
static void upload_truncated(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, uint64_t size);
static int upload_failed(const struct fs_upload *up);
static void upload_fail(struct fs_upload *up, int err);
static void upload_free(struct fs_upload *up);

static const struct fs_disk_hooks upload_hooks = {
	.admit = upload_admit,
	.write = upload_write,
	.share = upload_share,
	.truncated = upload_truncated,
	.refused = upload_write_refused,
	.closed = upload_closed,
	.empty = upload_empty,
	.failed = upload_failed,
	.fail = upload_fail,
	.free = upload_free,
};

static struct fs_upload *upload_new(const struct model_upload *u)
{
	struct fs_upload *up = calloc(1, sizeof(*up));
	if (up)
		up->u = *u;
	return up;
}

static void upload_free(struct fs_upload *up)
{
	if (up)
		blob_sha256_async_free(up->sha); /* a hash not handed over: not wanted */
	free(up);
}

static int upload_failed(const struct fs_upload *up)
{
	return up->state == UPLOAD_WRITING ? 0 : up->err;
}

/* The first failure sticks: a cancel after a refusal stays a refusal. */
static void upload_fail(struct fs_upload *up, int err)
{
	if (up->state != UPLOAD_WRITING)
		return;
	up->state = err == -ECANCELED ? UPLOAD_CANCELLED : err == -EINVAL ? UPLOAD_REFUSED : UPLOAD_FAILED;
	up->err = err;
}

int fs_upload_create(struct fs_ctx *ctx, const struct fs_node *p, const char *name, struct fs_node *n,
                     struct fs_disk **out, struct model_err *err)
{
	struct model_upload u;
	struct fs_upload *up;
	int idx = model_device_index(name);
	int rc;

	if (p->view != FS_VIEW_PRIVATE && p->view != FS_VIEW_ISO)
		return model_fail(err, -EPERM, "files here are made by the service");
	if (idx < 0)
		return model_fail(err, -EINVAL, "an image is uploaded to disks/vda (an ISO image to disks/cdrom)");
	if ((rc = model_upload_begin(ctx->m, p->img.id, idx, &u, err)) < 0)
		return rc;
	up = upload_new(&u);
	if (!up || (rc = fs_node_resolve(ctx, &p->caller, upload_ino(&u), n)) < 0 ||
	    (rc = fs_disk_open_upload(ctx, &u, true, up, &upload_hooks, out, err)) < 0) {
		if (!up)
			rc = -ENOMEM;
		upload_free(up);
		model_upload_abandon(ctx->m, &u, "the upload could not be opened");
		return err && err->code ? rc : model_fail(err, rc, "the upload could not be opened: %s", strerror(-rc));
	}
	fs_node_path(ctx, n, up->path, sizeof(up->path));
	return 0;
}

int fs_upload_open(struct fs_ctx *ctx, const struct fs_node *n, bool write, struct fs_disk **out, struct model_err *err)
{
	struct model_blob b;
	int rc;
	if ((rc = model_blob_get(ctx->m, n->blob_id, &b)) < 0)
		return rc == -ENOENT && write ? -ESTALE : rc; /* abandoned: the kernel looks the name up again */
	if (!b.wblob[0])
		return -EBUSY; /* sealed this moment: open it again */
	struct model_upload u = {.image_id = n->img.id, .blob_id = n->blob_id, .region_id = n->img.region_id,
	                         .folder = n->img.folder, .idx = n->dev.index};
	memcpy(u.wblob, b.wblob, sizeof(u.wblob));
	return fs_disk_open_upload(ctx, &u, write, NULL, NULL, out, err);
}

/* -errno that every write of a failed or cancelled upload returns; also
 * looks, now and then, whether another mount cancelled it. */
static int upload_usable(struct fs_ctx *ctx, struct fs_upload *up)
{
	int64_t now;
	if (up->state != UPLOAD_WRITING)
		return up->err;
	if ((now = model_now_ns()) - up->checked_ns >= UPLOAD_RECHECK_NS) {
		up->checked_ns = now;
		if (!model_upload_alive(ctx->m, &up->u))
			upload_fail(up, -ECANCELED);
	}
	return upload_failed(up);
}

/* Sniffs head (the file's first len bytes); 0 (decided or not yet) or
 * -EINVAL with the reason. */
static int upload_sniff(struct fs_ctx *ctx, struct fs_upload *up, const void *head, size_t len,
                        struct model_err *err)
{
	const char *format = NULL;
	int rc = model_upload_sniff_for(&up->u, head, len, true, &format, err);
	if (rc <= 0)
		return rc;
	up->format = format;
	/* A QCOW2's virtual size (big-endian at byte 24): not the bytes to
	 * come — a file holds what its clusters hold — but what progress is
	 * reckoned against while the file's size is unknown. */
	if (strcmp(format, "qcow2") == 0 && len >= 32) {
		const uint8_t *h = head;
		for (int i = 24; i < 32; i++)
			up->estimate = up->estimate << 8 | h[i];
	}
	model_upload_sniffed(ctx->m, &up->u, format); /* the format file: informative */
	upload_changed(ctx, &up->u);
	return 0;
}

/* The bytes from offset 0 grew: sniff them again from the blob. */
static int upload_sniff_head(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, struct model_err *err)
{
	size_t len = up->head_end < BLOB_FORMAT_SNIFF_LEN ? (size_t)up->head_end : BLOB_FORMAT_SNIFF_LEN;
	uint8_t *head = malloc(len);
	ssize_t got;
	int rc;
	if (!head)
		return 0; /* the check on close decides */
	got = blob_wblob_pread(fs_disk_wblob(d), head, len, 0);
	rc = got > 0 ? upload_sniff(ctx, up, head, (size_t)got, err) : 0;
	free(head);
	return rc;
}

/* A refused first write: the upload is abandoned (the model records the
 * reason in `error`), the refusal logged. */
static void upload_refused(struct fs_ctx *ctx, struct fs_upload *up, const char *reason)
{
	model_upload_abandon(ctx->m, &up->u, reason);
	fs_refuse(ctx, "write", up->path, -EINVAL, reason, 0);
	upload_gone(ctx, &up->u);
}

/* n bytes landed at off: while the format is not known, the bytes from
 * offset 0 may have grown enough to tell. */
static int upload_landed(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, uint64_t off, ssize_t n,
                         struct model_err *err)
{
	if (n <= 0 || up->format || off > up->head_end || off + (uint64_t)n <= up->head_end)
		return 0;
	up->head_end = off + (uint64_t)n;
	return off > 0 ? upload_sniff_head(ctx, d, up, err) : 0;
}

/* Holes the hashes are fed beyond the bytes written: a file with a short
 * hole (an ISO's padding, a partition table's gap) still gets them at
 * close; a sparse one (cp of a 40 GiB disk holding 100 MiB, an ftruncate
 * to 1 TiB) gets them from the background pass, bounded there (§2.1). */
#define UPLOAD_HASH_SLACK (64ULL << 20)

/* Whether n more zeros may be fed: the zeros stay within the bytes. */
static bool upload_hash_zeros_ok(const struct fs_upload *up, uint64_t n)
{
	uint64_t bytes = up->sha_at - up->sha_zeros;
	return n <= UPLOAD_HASH_SLACK + bytes && up->sha_zeros + n <= UPLOAD_HASH_SLACK + bytes;
}

/* The file's hash no longer follows its bytes (§2.1): the image gets it
 * from the background checksum pass once available (checksum.c). */
static void upload_hash_lost(struct fs_upload *up)
{
	blob_sha256_async_free(up->sha);
	up->sha = NULL;
	up->hash = UPLOAD_HASH_LOST;
}

/* n bytes of buf at off: hashed in order, a gap before them as zeros (cp
 * skipping a hole), anything before what was hashed loses it.  buf is lent
 * to the hasher: upload_hash_settle before it is given back. */
static void upload_hash(struct fs_upload *up, const void *buf, uint64_t off, ssize_t n)
{
	if (n <= 0 || up->hash == UPLOAD_HASH_LOST)
		return;
	if (up->hash == UPLOAD_HASH_NONE) {
		/* MD5 beside: the image API's checksum (SPEC §19.5) */
		if (blob_sha256_async_new_also(&up->sha, BLOB_ALSO_MD5) < 0) {
			upload_hash_lost(up);
			return;
		}
		up->hash = UPLOAD_HASH_FOLLOWING;
	}
	if (off < up->sha_at || !upload_hash_zeros_ok(up, off - up->sha_at)) {
		upload_hash_lost(up);
		return;
	}
	blob_sha256_async_zeros(up->sha, off - up->sha_at);
	up->sha_zeros += off - up->sha_at;
	blob_sha256_async_lend(up->sha, buf, (size_t)n);
	up->sha_at = off + (uint64_t)n;
}

/* The bytes lent to the hasher are taken: the caller may reuse them. */
static void upload_hash_settle(struct fs_upload *up)
{
	if (up->sha)
		blob_sha256_async_settle(up->sha);
}

/* n more bytes arrived: counted, and told to the task row when due — what
 * `progress` and the task's bytes-done show while the file is written. */
static void upload_report(struct fs_ctx *ctx, struct fs_upload *up, ssize_t n)
{
	int64_t now;
	if (n <= 0)
		return;
	up->written += (uint64_t)n;
	fs_stats_uploaded(ctx, (uint64_t)n);
	now = model_now_ns();
	if (up->written - up->reported < UPLOAD_REPORT_BYTES && now - up->reported_ns < UPLOAD_REPORT_NS)
		return;
	up->reported = up->written;
	up->reported_ns = now;
	if (model_upload_progress(ctx->m, &up->u, up->written, up->total, up->estimate) == 0)
		upload_changed(ctx, &up->u);
}

/* The truncated hook: a shrink below what was hashed loses it; a size
 * given ahead of the bytes (truncate -s, then the writes) is the total. */
static void upload_truncated(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, uint64_t size)
{
	(void)ctx;
	(void)d;
	if (size < up->sha_at)
		upload_hash_lost(up);
	up->total = size > up->written ? size : 0;
}

/* At close: the hex SHA-256 and XXH3-128 of the file of size bytes, or
 * "" for both.  This runs in RELEASE: a trailing hole is fed only within
 * the bytes written, so waiting for the hasher costs what was written. */
static void upload_hash_end(struct fs_upload *up, uint64_t size, char out[65], char xxh[33])
{
	out[0] = xxh[0] = '\0';
	if (up->hash != UPLOAD_HASH_FOLLOWING || size < up->sha_at || !upload_hash_zeros_ok(up, size - up->sha_at)) {
		upload_hash_lost(up); /* its queue dropped unhashed */
		return;
	}
	blob_sha256_async_zeros(up->sha, size - up->sha_at); /* a trailing hole */
	if (blob_sha256_async_finish(up->sha, out, xxh) < 0)
		out[0] = xxh[0] = '\0';
	blob_sha256_async_also(up->sha, up->u.md5, up->u.sha512); /* "" with it */
	upload_hash_lost(up); /* spent */
}

/* A write or share hook's refusal: every later write fails too. */
static ssize_t upload_refuse(struct fs_upload *up, const struct model_err *err, bool *refused)
{
	upload_fail(up, -EINVAL);
	snprintf(up->refusal, sizeof(up->refusal), "%s", err->msg);
	*refused = true;
	return -EINVAL;
}

/* The admit hook (disk.c holds the writer lock): a failed upload's errno,
 * a first write of no known format refused; answered at once (0) when the
 * format is known, the bytes within a blob's bounds (EFBIG comes back
 * from the write itself), else once they are stored (1). */
static int upload_admit(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, const void *buf, size_t len,
                        uint64_t off, bool *refused)
{
	struct model_err err = {0};
	int rc;

	(void)d;
	if ((rc = upload_usable(ctx, up)) < 0)
		return rc;
	/* Before the bytes land: a wrong file leaves nothing behind. */
	if (!up->format && off == 0 && upload_sniff(ctx, up, buf, len, &err) < 0)
		return (int)upload_refuse(up, &err, refused);
	return up->format && off <= UPLOAD_MAX_END && len <= UPLOAD_MAX_END - off ? 0 : 1;
}

/* Bytes answered could not be stored: the upload fails (its close ends it
 * in error), and says so once. */
static void upload_store_failed(struct fs_ctx *ctx, struct fs_upload *up, int rc)
{
	if (up->state != UPLOAD_WRITING)
		return;
	upload_fail(up, rc == -EINVAL || rc == -ECANCELED ? -EIO : rc);
	fs_log(ctx, "write %s: %s storing the file: %s (the upload ends in error at close)", up->path,
	       fs_errno_name(up->err), strerror(-rc));
}

/* The write hook (disk.c holds the writer lock, admit took it): writes,
 * hashes, and sniffs again while the format is not known.  An answered
 * write's bytes (libfuse's request buffer, ours until this returns) are
 * lent to the hasher before they are stored, so that its copy of them
 * runs beside the store's rather than after it under the writer lock,
 * which the next write waits for; settled before the buffer goes back. */
static ssize_t upload_write(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, const void *buf, size_t len,
                            uint64_t off, bool answered, bool *refused)
{
	struct model_err err = {0};
	ssize_t n;

	if (answered) /* stored in full, or the upload fails: hashed ahead */
		upload_hash(up, buf, off, (ssize_t)len);
	n = fs_disk_pwrite_locked(d, buf, len, off);
	if (answered && n >= 0 && (size_t)n < len) {
		/* Short: a write of the rest says why (a store's failure
		 * stays), as the caller's next write(2) would have been told,
		 * so the upload ends with the store's errno (ENOSPC from a full
		 * pool), not EIO. */
		ssize_t m = fs_disk_pwrite_locked(d, (const uint8_t *)buf + n, len - (size_t)n, off + (uint64_t)n);
		n = m < 0 ? m : n + m;
	}
	if (!answered)
		upload_hash(up, buf, off, n);
	upload_hash_settle(up);
	upload_report(ctx, up, n);
	if (answered) { /* the format is known: nothing left to sniff */
		if (n != (ssize_t)len) {
			upload_hash_lost(up); /* never handed over: the upload fails */
			upload_store_failed(ctx, up, n < 0 ? (int)n : -EIO);
		}
		return n;
	}
	if (upload_landed(ctx, d, up, off, n, &err) < 0)
		return upload_refuse(up, &err, refused);
	return n;
}

/* The share hook (copy_file_range from a sealed blob of the region, SPEC
 * §16): the same as a write of the source's bytes — sniffed first when
 * they start the file — taken by reference. */
static ssize_t upload_share(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, blob_store *s,
                            const blob_manifest *src, uint64_t src_off, uint64_t dst_off, uint64_t len,
                            struct blob_share_counts *counts, bool *refused)
{
	struct model_err err = {0};
	ssize_t n;
	int rc;

	if ((rc = upload_usable(ctx, up)) < 0)
		return rc;
	if (!up->format && dst_off == 0 && src_off < src->size && len > 0) {
		uint64_t room = src->size - src_off;
		size_t want = (size_t)(len < room ? len : room);
		uint8_t *head;
		if (want > BLOB_FORMAT_SNIFF_LEN)
			want = BLOB_FORMAT_SNIFF_LEN;
		if ((head = malloc(want)) == NULL)
			return -ENOMEM;
		n = blob_store_read(s, src, head, want, src_off);
		rc = n > 0 ? upload_sniff(ctx, up, head, (size_t)n, &err) : (int)n;
		free(head);
		if (rc < 0 && n > 0)
			return upload_refuse(up, &err, refused);
		if (rc < 0)
			return rc; /* the source could not be read: nothing changed */
	}
	n = fs_disk_share_locked(d, s, src, src_off, dst_off, len, counts);
	if (n > 0) /* no byte was read: the seal finds the source's hash, or reads */
		upload_hash_lost(up);
	if (upload_landed(ctx, d, up, dst_off, n, &err) < 0)
		return upload_refuse(up, &err, refused);
	return n;
}

/* The refused hook, once the writer lock is released. */
static void upload_write_refused(struct fs_ctx *ctx, struct fs_upload *up)
{
	upload_refused(ctx, up, up->refusal);
}

int fs_upload_truncate(struct fs_ctx *ctx, const struct fs_node *n, uint64_t size)
{
	struct fs_disk *d;
	int rc = fs_upload_open(ctx, n, true, &d, NULL);
	if (rc < 0)
		return rc;
	rc = fs_disk_truncate(d, size);
	fs_disk_close(ctx, d, true);
	return rc;
}

int fs_upload_flush(struct fs_disk *d)
{
	if (!fs_disk_upload(d))
		return 0;
	/* What close(2) returned success for is on the device (§11); bytes
	 * answered but not stored fail it (abandoned, cancelled: said before). */
	int rc = fs_disk_upload_failed(d);
	if (rc == 0)
		return blob_wblob_fsync(fs_disk_wblob(d));
	return fs_disk_upload(d)->state == UPLOAD_FAILED ? rc : 0;
}

/* The empty hook: not one byte came, only perhaps a size (`truncate -s
 * SIZE disks/vda` or a `touch` ahead of the cp, SPEC §5.3). */
static bool upload_empty(struct fs_disk *d, const struct fs_upload *up)
{
	return up->written == 0 && up->head_end == 0 && up->state != UPLOAD_FAILED && !fs_disk_upload_failed(d) &&
	       blob_wblob_stored(fs_disk_wblob(d)) == 0;
}

/* The closed hook: the last writer of this mount's upload closed. */
static void upload_closed(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up)
{
	blob_wblob *w = fs_disk_wblob(d);
	char why[128], sha[65], xxh[33];
	int rc;

	if (fs_disk_upload_failed(d) && up->state != UPLOAD_FAILED)
		return; /* abandoned or cancelled: nothing to hand over */
	if (up->state == UPLOAD_FAILED) { /* answered bytes were lost: never trusted */
		snprintf(why, sizeof(why), "upload failed: storing the file: %s", strerror(-up->err));
		model_upload_fail(ctx->m, &up->u, why);
		fs_log(ctx, "close %s: %s %s", up->path, fs_errno_name(up->err), why);
		upload_changed(ctx, &up->u);
		fs_workers_kick(ctx);
		return;
	}
	/* Not one byte came, only perhaps a size (`truncate -s SIZE disks/vda`
	 * or a `touch` ahead of the cp, SPEC §5.3): nothing to check, so not
	 * the upload's end.  It is abandoned as if it never began — the image
	 * queued again, no reason recorded — and the next cp or write makes
	 * it anew.  (It was sealed, and the empty file ended in error.) */
	if (upload_empty(d, up)) {
		model_upload_abandon(ctx->m, &up->u, "");
		upload_gone(ctx, &up->u);
		fs_workers_kick(ctx);
		return;
	}
	/* No writer is left (the disk is closed): the hash is this thread's now. */
	upload_hash_end(up, blob_wblob_size(w), sha, xxh);
	/* Durable before the task may seal it: a queued task trusts the wblob. */
	if ((rc = blob_wblob_fsync(w)) < 0) {
		snprintf(why, sizeof(why), "upload failed: storing the file: %s", strerror(-rc));
		model_upload_fail(ctx->m, &up->u, why);
		fs_log(ctx, "close %s: %s %s", up->path, fs_errno_name(rc), why);
	} else if ((rc = model_upload_close(ctx->m, &up->u, blob_wblob_size(w), blob_wblob_stored(w), sha, xxh)) < 0 &&
	           rc != -ENOENT) {
		snprintf(why, sizeof(why), "upload failed: %s", strerror(-rc));
		model_upload_fail(ctx->m, &up->u, why);
		fs_log(ctx, "close %s: %s %s", up->path, fs_errno_name(rc), why);
	}
	/* The writer bypassed the page cache (direct_io): what a reader cached
	 * meanwhile may be stale, and the sealed file keeps its cache.  We are
	 * inside RELEASE, which the kernel does not wait for: no deadlock
	 * against this inode's pages (docs/fuse-notes.md). */
	if (ctx->se)
		fuse_lowlevel_notify_inval_inode(ctx->se, upload_ino(&up->u), 0, 0);
	upload_changed(ctx, &up->u);
	fs_workers_kick(ctx);
}

int fs_upload_stat(struct fs_ctx *ctx, const struct fs_node *n, uint64_t *size, uint64_t *stored, int64_t *mtime_ns)
{
	struct model_blob b;
	int64_t written;
	int rc;
	if ((rc = model_blob_get(ctx->m, n->blob_id, &b)) < 0)
		return rc;
	*mtime_ns = b.mtime_ns;
	if (!b.wblob[0]) { /* sealed meanwhile */
		*size = b.size;
		*stored = b.stored;
		return 0;
	}
	if ((rc = fs_disk_stat_blob(ctx, b.region_id, b.id, b.wblob, size, stored, &written)) < 0)
		return rc;
	if (written > *mtime_ns)
		*mtime_ns = written;
	return 0;
}

int fs_upload_cancel(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	int rc = model_upload_cancel(ctx->m, n->img.id, err);
	if (rc < 0)
		return rc;
	fs_disk_upload_fail(ctx, n->img.id, -ECANCELED);
	struct model_upload u = {.image_id = n->img.id, .region_id = n->img.region_id, .folder = n->img.folder,
	                         .idx = n->img.folder == MODEL_FOLDER_ISO ? CDROM_IDX : 0};
	upload_gone(ctx, &u);
	return 0;
}

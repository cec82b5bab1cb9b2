/*
 * disk.c — writable blobs open through this mount: instance disks (§2.4)
 * and uploads in progress (§5.3, upload.c).
 *
 * Both are writable blobs (blob_wblob: a base manifest plus a copy-on-write
 * overlay, blobstore/wblob/wblob.c), opened under their blob's data key when
 * they are encrypted (SPEC §17: model_wblob_open; a mount without the key
 * gets EACCES and the reason).  Every handle on one blob shares one open
 * wblob, so the overlay's state map is read once and two writers never race
 * inside it: wblob asks its caller to serialise writers (pwrite, truncate),
 * which the per-blob mutex does; reads run in parallel.
 *
 * Instance disks: the blobs row keeps the disk's size, stored bytes and
 * mtime for stat and listings; the last writer's close records them
 * (model_instance_disk_touch).  Until then stat asks the open wblob, and
 * mtime is the last write seen here.  A disk of an instance that runs on
 * another host (§13) is stat'ed from that row alone: its file is that
 * host's (in a RADOS region not even reachable from here), and writes
 * still open there show at their close.
 *
 * Uploads: the entry of an upload this mount began also points to what
 * upload.c knows of it (struct fs_upload, its own, allocated by upload.c
 * for an upload only and guarded by the same mutex as the writes) and to
 * the hooks upload.c registered (struct fs_disk_hooks): the one question
 * disk.c asks is whether an entry has an upload (d->up); everything an
 * upload does runs in its hooks, under the mutex — a write runs the
 * upload's admit hook, then its write hook — and the last writer's close
 * calls its closed hook, which hands the file to the upload's task.
 * disk.c never calls into upload.c by name, and upload.c never takes the
 * mutex.  Only the mount that began an upload writes it.
 *
 * An upload's write is answered once its admit hook took it (not
 * cancelled, the format known), before its bytes are stored: the writer's
 * next write(2) — and `cp`'s read of the next MiB from its source —
 * overlaps the storing of this one, which holds the mutex until it is
 * done.  A storing that fails then fails every later write and the
 * close(2) (SPEC §11: an upload's bytes are promised at close only), and
 * the upload ends in error.  Whatever looks at the upload — a read, stat,
 * a truncate, the flush of close(2), the last close — takes the mutex
 * first, so it sees every write that was answered.  Instance disks answer
 * after their bytes are in the overlay, as before.
 *
 * Lock order: the open disks' lock (ctx->disks), then a disk's wlock (fs_disk_upload_fail and
 * fs_disk_stat_blob take both); a hook runs with wlock held and takes
 * neither again — it may take the database's write lock (an upload's
 * progress, its sniff), which nothing holding it waits for a disk under.
 *
 * Instance disks: acknowledged writes are in the overlay file (a pwrite
 * into the host's page cache) when the reply leaves: a kill -9 of the
 * daemon loses none of them; fsync(2) on the disk reaches the device
 * (blob_wblob_fsync).  Uploads stream (blob_wblob_stream): a write of a
 * whole 1 MiB chunk goes to the store's chunk files, durable at the next
 * fsync, which close(2) does (fs_upload_flush) — an upload is never
 * trusted before its close anyway (a mount killed meanwhile ends it in
 * error).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "fs.h"
#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "log.h"

struct fs_disk {
	struct fs_disk *next;
	int64_t blob_id, vm_id;  /* vm_id 0: an upload */
	int64_t image_id;        /* the image of an upload (0: an instance disk) */
	blob_wblob *w;
	int refs, writers;
	pthread_mutex_t wlock;   /* serialises pwrite and truncate, and guards up */
	int64_t last_write_ns;   /* 0: not written through this mount */
	bool closed;             /* up: its last writer closed, the task has the file */
	bool abandoned;          /* up: closed with no byte written (hooks->empty): abandoned, not handed over */
	bool abandoning;         /* ... and the abandon not done yet (openers wait on fs_disks.settled) */
	struct fs_upload *up;    /* an upload this mount began (upload.c's), else NULL */
	/* An instance disk started early (SPEC §6.5 "Early"): what the guest
	 * did not write reads through its image (task/early_disk.c); a write
	 * makes its chunks the disk's own first, under wlock.  NULL once
	 * settled (at open, when the image is available). */
	struct model_early_disk *early;
	const struct fs_disk_hooks *hooks; /* up's */
	struct fs_ctx *ctx;      /* the mount, for the hooks */
	fuse_ino_t ino;          /* an instance's disk: its inode, and its node's */
	struct stat st;          /* attributes at its first open (fs_disk_keep_attr; st_nlink 0: none) */
	int64_t mtime_ns;        /* ... and the time they show */
};
IMGFS_LOCK_LEVEL(fs_disk_wlock, 12); /* under ctx->disks' lock; the wblob, the model and the log under it (fs.h "locks") */

/* The mount's open disks: a room of its state (ctx->disks, rooms.c), so
 * that two mounts in one process never share a disk's entry: each opens
 * the wblob under its own model and hands an upload to its own hooks. */
struct fs_disks {
	pthread_mutex_t lock; /* disks_lock: the list, each disk's refs and writers */
	pthread_cond_t settled; /* an abandon of an empty upload ended (fs_disk.abandoning) */
	struct fs_disk *list;
};
IMGFS_LOCK_LEVEL(disks_lock, 10);

int fs_disks_new(struct fs_disks **out)
{
	struct fs_disks *ds = calloc(1, sizeof(*ds));
	if (!ds)
		return -ENOMEM;
	pthread_mutex_init(&ds->lock, NULL);
	pthread_cond_init(&ds->settled, NULL);
	*out = ds;
	return 0;
}

void fs_disks_free(struct fs_disks *ds)
{
	if (!ds)
		return;
	IMGFS_ASSERT(!ds->list); /* every handle was released (fs_files_release_all) */
	pthread_cond_destroy(&ds->settled);
	pthread_mutex_destroy(&ds->lock);
	free(ds);
}

/* Under ds->lock. */
static struct fs_disk *find(struct fs_disks *ds, int64_t blob_id)
{
	IMGFS_ASSERT_HELD(&ds->lock);
	for (struct fs_disk *d = ds->list; d; d = d->next)
		if (d->blob_id == blob_id)
			return d;
	return NULL;
}

/* Under ctx->disks' lock: a new entry for the wblob of blob row blob_id, opened
 * under its data key (SPEC §17: -EACCES with the reason in err when this
 * mount cannot open it). */
static int disk_new(struct fs_ctx *ctx, int64_t blob_id, int64_t vm_id, struct fs_disk **out, struct model_err *err)
{
	IMGFS_ASSERT_HELD(&ctx->disks->lock);
	struct model_blob b;
	struct fs_disk *d;
	int rc;
	if (!(d = calloc(1, sizeof(*d))))
		return -ENOMEM;
	if ((rc = model_blob_get(ctx->m, blob_id, &b)) < 0 || (rc = model_wblob_open(ctx->m, &b, &d->w, err)) < 0) {
		free(d);
		return rc;
	}
	d->blob_id = blob_id;
	/* An early disk whose image arrived is settled here: an ordinary disk
	 * from now on (a failure leaves it early, and reads still right). */
	if ((rc = model_early_disk_open(ctx->m, blob_id, vm_id, &d->early)) < 0)
		fs_log(ctx, "disk %lld: its early map cannot be read: %s", (long long)blob_id, strerror(-rc));
	if (d->early && model_early_disk_settle(d->early, d->w) == 1) {
		model_early_disk_close(d->early);
		d->early = NULL;
	}
	pthread_mutex_init(&d->wlock, NULL);
	d->next = ctx->disks->list;
	ctx->disks->list = d;
	*out = d;
	return 0;
}

int fs_disk_open(struct fs_ctx *ctx, const struct fs_node *n, bool write, struct fs_disk **out, struct model_err *err)
{
	struct fs_disk *d;
	int rc = 0;
	/* Its disks are its host's files (§13); one that stayed on a removed
	 * host says so. */
	if ((rc = model_instance_here(ctx->m, &n->vm, err)) < 0)
		return rc;
	if (n->vm.host[0] && strcmp(n->vm.host, model_host(ctx->m)) != 0) {
		struct model_blob b;
		if ((rc = model_blob_get(ctx->m, n->blob_id, &b)) < 0 ||
		    (rc = model_instance_disk_here(ctx->m, &n->vm, b.wblob, err)) < 0)
			return rc;
	}
	IMGFS_LOCK(&ctx->disks->lock, disks_lock);
	if (!(d = find(ctx->disks, n->blob_id))) {
		if ((rc = disk_new(ctx, n->blob_id, n->vm.id, &d, err)) < 0)
			goto out;
		d->vm_id = n->vm.id;
	}
	d->refs++;
	d->writers += write;
	*out = d;
out:
	IMGFS_UNLOCK(&ctx->disks->lock, disks_lock);
	return rc;
}

/* Under ds->lock: drops a reference to d; true when it was the last (d is
 * out of the list: the caller frees it once the lock is released). */
static bool disk_unref_locked(struct fs_disks *ds, struct fs_disk *d)
{
	IMGFS_ASSERT_HELD(&ds->lock);
	if (--d->refs > 0)
		return false;
	struct fs_disk **p = &ds->list;
	while (*p != d)
		p = &(*p)->next;
	*p = d->next;
	return true;
}

/* The last reference went (disk_unref_locked), no lock held. */
static void disk_free(struct fs_disk *d)
{
	if (d->up)
		d->hooks->free(d->up); /* with its hash, if not handed over: not wanted */
	model_early_disk_close(d->early);
	blob_wblob_close(d->w);
	pthread_mutex_destroy(&d->wlock);
	free(d);
}

int fs_disk_open_upload(struct fs_ctx *ctx, const struct model_upload *u, bool write, struct fs_upload *up,
                        const struct fs_disk_hooks *hooks, struct fs_disk **out, struct model_err *err)
{
	bool begin = up != NULL;
	struct fs_disk *d, *dead = NULL;
	int rc = 0;
	IMGFS_LOCK(&ctx->disks->lock, disks_lock);
	if (!(d = find(ctx->disks, u->blob_id))) {
		/* Only the mount that began an upload writes it: another mount's
		 * writes would race its sniff and its close. */
		if (write && !begin) {
			rc = -EBUSY;
			goto out;
		}
		if ((rc = disk_new(ctx, u->blob_id, 0, &d, err)) < 0)
			goto out;
		d->image_id = u->image_id;
		d->up = up;
		d->hooks = begin ? hooks : NULL;
		d->ctx = ctx;
		if (begin) /* whole chunks go straight to the store: written once */
			blob_wblob_stream(d->w);
	} else if (write && d->abandoned) {
		/* Closed with no byte (a `truncate -s` ahead of the cp): once its
		 * abandon is done the name is gone, and ESTALE has the kernel look
		 * it up again and create it anew (SPEC §5.3).  A reference of
		 * its own while it waits: the closer drops its reference (and
		 * would free d) as soon as it has said so. */
		d->refs++;
		while (d->abandoning)
			IMGFS_COND_WAIT(&ctx->disks->settled, &ctx->disks->lock, disks_lock);
		if (disk_unref_locked(ctx->disks, d))
			dead = d;
		rc = -ESTALE;
		goto out;
	} else if (write && (!d->up || d->closed)) {
		rc = -EBUSY; /* closed: its task validates it now */
		goto out;
	}
	d->refs++;
	d->writers += write;
	*out = d;
out:
	IMGFS_UNLOCK(&ctx->disks->lock, disks_lock);
	if (dead)
		disk_free(dead);
	return rc;
}

void fs_disk_close(struct fs_ctx *ctx, struct fs_disk *d, bool write)
{
	bool record = false, hand_over = false;
	uint64_t size = 0, stored = 0;
	int64_t blob_id = d->blob_id;
	/* A write answered before its bytes were stored may still be storing
	 * them: the close (and the free below) comes after it. */
	if (d->up)
		fs_disk_settle(d);
	else if (blob_wblob_in_cluster(d->w))
		(void)blob_wblob_settle(d->w, NULL); /* its failure was flush's to say */
	IMGFS_LOCK(&ctx->disks->lock, disks_lock);
	IMGFS_ASSERT(d->refs > 0 && d->writers >= (int)write); /* this handle's reference is counted */
	d->writers -= write;
	if (write && d->writers == 0 && d->up && !d->closed) {
		d->closed = true; /* no writer joins from now on */
		hand_over = true;
		d->abandoned = d->abandoning = d->hooks->empty && d->hooks->empty(d, d->up);
	} else if (write && d->writers == 0 && d->last_write_ns && !d->up) {
		record = true;
		size = blob_wblob_size(d->w);
		stored = blob_wblob_stored(d->w);
	}
	IMGFS_UNLOCK(&ctx->disks->lock, disks_lock);
	/* This handle's reference is dropped only afterwards: a reader's
	 * RELEASE on another thread must not close the wblob under the hand-over. */
	if (hand_over)
		d->hooks->closed(ctx, d, d->up);
	if (record)
		model_instance_disk_touch(ctx->m, blob_id, size, stored);
	IMGFS_LOCK(&ctx->disks->lock, disks_lock);
	if (hand_over && d->abandoning) {
		d->abandoning = false;
		pthread_cond_broadcast(&ctx->disks->settled);
	}
	bool last = disk_unref_locked(ctx->disks, d);
	IMGFS_UNLOCK(&ctx->disks->lock, disks_lock);
	if (last)
		disk_free(d);
}

struct fs_upload *fs_disk_upload(struct fs_disk *d)
{
	return d->up;
}

void fs_disk_settle(struct fs_disk *d)
{
	IMGFS_LOCK(&d->wlock, fs_disk_wlock);
	IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
}

blob_wblob *fs_disk_wblob(struct fs_disk *d)
{
	return d->w;
}

int fs_disk_upload_failed(struct fs_disk *d)
{
	IMGFS_LOCK(&d->wlock, fs_disk_wlock);
	int failed = d->up ? d->hooks->failed(d->up) : 0;
	IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
	return failed;
}

void fs_disk_upload_fail(struct fs_ctx *ctx, int64_t image_id, int err)
{
	IMGFS_LOCK(&ctx->disks->lock, disks_lock);
	for (struct fs_disk *d = ctx->disks->list; d; d = d->next) {
		if (!d->up || d->image_id != image_id)
			continue;
		IMGFS_LOCK(&d->wlock, fs_disk_wlock);
		d->hooks->fail(d->up, err);
		IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
	}
	IMGFS_UNLOCK(&ctx->disks->lock, disks_lock);
}

ssize_t fs_disk_pread(struct fs_disk *d, void *buf, size_t len, uint64_t off, char *why, size_t cap)
{
	if (why && cap)
		why[0] = '\0';
	if (d->up)
		fs_disk_settle(d); /* the writes answered before they were stored */
	if (d->early)
		return model_early_disk_pread(d->early, d->w, buf, len, off, why, cap);
	return blob_wblob_pread(d->w, buf, len, off);
}

int fs_disk_pread_start(struct fs_disk *d, void *buf, size_t len, uint64_t off, void (*done)(void *arg, ssize_t n),
                        void *arg)
{
	/* An upload's writes answered before they were stored: settled by
	 * the waiting read only. */
	return d->up || d->early ? 0 : blob_wblob_pread_start(d->w, buf, len, off, done, arg);
}

int fs_disk_pwrite_start(struct fs_disk *d, const void *buf, size_t len, uint64_t off,
                         void (*done)(void *arg, ssize_t n), void *arg)
{
	/* An upload's writes go through its hooks. */
	return d->up || d->early ? 0 : blob_wblob_pwrite_start(d->w, buf, len, off, done, arg);
}

void fs_disk_written(struct fs_disk *d)
{
	IMGFS_LOCK(&d->wlock, fs_disk_wlock);
	d->last_write_ns = model_now_ns();
	IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
}

ssize_t fs_disk_pwrite(struct fs_disk *d, const void *buf, size_t len, uint64_t off, bool durable,
                       void (*answer)(void *arg, size_t n), void *arg)
{
	bool refused = false;
	ssize_t n;
	int rc;
	/* A cloud disk in the cluster takes writes side by side (each a round
	 * trip): the wblob orders what must be (blob_wblob_pwrite).  A whole
	 * chunk of a writer that did not ask for durable writes is answered
	 * once in flight (SPEC §11): its time is set first, since once
	 * answered nothing here may touch d (a close may free it). */
	if (!d->up && blob_wblob_in_cluster(d->w)) {
		bool ahead = !durable && answer;
		n = ahead ? (ssize_t)len : blob_wblob_pwrite(d->w, buf, len, off);
		if (n > 0)
			fs_disk_written(d);
		return ahead ? blob_wblob_pwrite_ahead(d->w, buf, len, off, answer, arg) : n;
	}
	IMGFS_LOCK(&d->wlock, fs_disk_wlock);
	if (!d->up) {
		n = d->early && (rc = model_early_disk_cow(d->early, d->w, off, len)) < 0
		        ? rc
		        : fs_disk_pwrite_locked(d, buf, len, off);
		IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
		return n;
	}
	if ((rc = d->hooks->admit(d->ctx, d, d->up, buf, len, off, &refused)) == 0 && answer) {
		/* Answered now, stored below (see the top of the file): from
		 * here on nothing but the mutex's holder may use d — the writer
		 * may close meanwhile, and its close waits for the mutex. */
		answer(arg, len);
		d->hooks->write(d->ctx, d, d->up, buf, len, off, true, &refused);
		IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
		return (ssize_t)len;
	}
	n = rc < 0 ? rc : d->hooks->write(d->ctx, d, d->up, buf, len, off, false, &refused);
	IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
	if (refused)
		d->hooks->refused(d->ctx, d->up);
	return n;
}

ssize_t fs_disk_pwrite_locked(struct fs_disk *d, const void *buf, size_t len, uint64_t off)
{
	IMGFS_ASSERT_HELD(&d->wlock); /* a write hook's: disk.c took it */
	ssize_t n = blob_wblob_pwrite(d->w, buf, len, off);
	if (n > 0)
		d->last_write_ns = model_now_ns();
	return n;
}

int fs_disk_truncate(struct fs_disk *d, uint64_t size)
{
	IMGFS_LOCK(&d->wlock, fs_disk_wlock);
	int failed = d->up ? d->hooks->failed(d->up) : d->early ? -EBUSY : 0; /* early: its size is its image's */
	int rc = failed ? failed : blob_wblob_truncate(d->w, size);
	if (rc == 0)
		d->last_write_ns = model_now_ns();
	if (rc == 0 && d->hooks && d->hooks->truncated)
		d->hooks->truncated(d->ctx, d, d->up, size);
	IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
	return rc;
}

int fs_disk_punch(struct fs_disk *d, uint64_t off, uint64_t len, bool keep_size)
{
	uint64_t end = off + len;
	int rc = 0;
	if (len == 0 || end < off)
		return len == 0 ? 0 : -EFBIG;
	IMGFS_LOCK(&d->wlock, fs_disk_wlock);
	if (d->up)
		rc = -EOPNOTSUPP; /* an upload is a file being copied, not a disk */
	else if (!keep_size && end > blob_wblob_size(d->w))
		rc = d->early ? -EBUSY : blob_wblob_truncate(d->w, end); /* what it grows by reads zeros */
	if (rc == 0 && d->early)
		rc = model_early_disk_cow(d->early, d->w, off, len);
	if (rc == 0)
		rc = blob_wblob_punch(d->w, off, len);
	if (rc == 0)
		d->last_write_ns = model_now_ns();
	IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
	return rc;
}

ssize_t fs_disk_share(struct fs_disk *d, blob_store *s, const blob_manifest *src, uint64_t src_off,
                      uint64_t dst_off, uint64_t len, struct blob_share_counts *counts)
{
	bool refused = false;
	ssize_t n;
	if (d->vm_id == 0 && !d->hooks)
		return -EOPNOTSUPP; /* an upload another mount began: never written here */
	IMGFS_LOCK(&d->wlock, fs_disk_wlock);
	if (d->early && (n = model_early_disk_cow(d->early, d->w, dst_off, len)) < 0) {
		IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
		return n;
	}
	n = d->hooks ? d->hooks->share(d->ctx, d, d->up, s, src, src_off, dst_off, len, counts, &refused)
	             : fs_disk_share_locked(d, s, src, src_off, dst_off, len, counts);
	IMGFS_UNLOCK(&d->wlock, fs_disk_wlock);
	if (refused)
		d->hooks->refused(d->ctx, d->up);
	return n;
}

ssize_t fs_disk_share_locked(struct fs_disk *d, blob_store *s, const blob_manifest *src, uint64_t src_off,
                             uint64_t dst_off, uint64_t len, struct blob_share_counts *counts)
{
	IMGFS_ASSERT_HELD(&d->wlock); /* a share hook's: disk.c took it */
	ssize_t n = blob_wblob_share(d->w, s, src, src_off, dst_off, len, counts);
	if (n > 0)
		d->last_write_ns = model_now_ns();
	return n;
}

int64_t fs_disk_blob_id(const struct fs_disk *d)
{
	return d->blob_id;
}

int64_t fs_disk_seek(struct fs_disk *d, uint64_t off, int whence)
{
	/* Early: all data as far as this mount can tell without fetching. */
	if (d->early)
		return off >= blob_wblob_size(d->w) ? -ENXIO : whence == SEEK_DATA ? (int64_t)off
		                                                                    : (int64_t)blob_wblob_size(d->w);
	return blob_wblob_seek(d->w, off, whence);
}

bool fs_disk_is_early(const struct fs_disk *d)
{
	return d->early != NULL; /* set at the entry's making, kept while it is open */
}

uint64_t fs_disk_ahead_mark(struct fs_disk *d)
{
	return blob_wblob_in_cluster(d->w) ? blob_wblob_ahead_mark(d->w) : 0;
}

int fs_disk_settle_writes(struct fs_disk *d, uint64_t *seen)
{
	return blob_wblob_in_cluster(d->w) ? blob_wblob_settle(d->w, seen) : 0;
}

int fs_disk_fsync(struct fs_disk *d, uint64_t *seen)
{
	int rc = fs_disk_settle_writes(d, seen);
	return rc < 0 ? rc : blob_wblob_fsync(d->w);
}

void fs_disk_keep_attr(struct fs_ctx *ctx, struct fs_disk *d, fuse_ino_t ino, const struct stat *st, int64_t mtime_ns)
{
	IMGFS_LOCK(&ctx->disks->lock, disks_lock);
	if (d->st.st_nlink == 0) {
		d->ino = ino;
		d->st = *st;
		d->mtime_ns = mtime_ns;
	}
	IMGFS_UNLOCK(&ctx->disks->lock, disks_lock);
}

int fs_disk_attr_open(struct fs_ctx *ctx, fuse_ino_t ino, uid_t uid, struct stat *st)
{
	struct fs_disks *ds = ctx->disks;
	struct fs_disk *d;
	uint64_t size, stored;
	int64_t written;
	if (!ds)
		return -EIO;
	IMGFS_LOCK(&ds->lock, disks_lock);
	for (d = ds->list; d; d = d->next)
		if (d->st.st_nlink && d->ino == ino && (!ctx->multiuser || uid == 0 || uid == d->st.st_uid))
			break;
	if (d) {
		fs_disk_now(d, &size, &stored, &written);
		*st = d->st;
		st->st_size = (off_t)size;
		st->st_blocks = (blkcnt_t)((stored + 511) / 512);
		if (written > d->mtime_ns) /* fs_disk_stat's time: the later of the two */
			st->st_ctim = st->st_atim = st->st_mtim = (struct timespec){written / 1000000000, written % 1000000000};
	}
	IMGFS_UNLOCK(&ds->lock, disks_lock);
	return d ? 0 : -EIO;
}

void fs_disk_now(struct fs_disk *d, uint64_t *size, uint64_t *stored, int64_t *written_ns)
{
	if (d->up) /* the writes answered before they were stored */
		fs_disk_settle(d);
	*size = blob_wblob_size(d->w);
	*stored = blob_wblob_stored(d->w);
	*written_ns = d->last_write_ns; /* a plain read, as ever: a stale time is a getattr's, never a byte's */
}

int fs_disk_stat_blob(struct fs_ctx *ctx, int64_t region_id, int64_t blob_id, const char *wblob, uint64_t *size,
                      uint64_t *stored, int64_t *written_ns)
{
	blob_wblob *w = NULL;
	blob_store *s;
	int rc = 0;
	*written_ns = 0;
	/* A context without the room (a unit test's) has no disk open. */
	struct fs_disks *ds = ctx->disks;
	struct fs_disk *d = NULL;
	if (ds) {
		IMGFS_LOCK(&ds->lock, disks_lock);
		if ((d = find(ds, blob_id)))
			fs_disk_now(d, size, stored, written_ns);
		IMGFS_UNLOCK(&ds->lock, disks_lock);
	}
	if (!d) {
		/* Its size and stored bytes only: no key needed (§17).  An
		 * overlay lost or cut outside imgfs (EIO, its reason logged by
		 * the store) leaves the disk listed with what its row recorded:
		 * its open and reads are EIO with that reason (issue 36). */
		struct model_blob b;
		rc = model_store(ctx->m, region_id, &s);
		if (rc == 0 &&
		    (rc = blob_wblob_open_reader(&w, s, model_wblob_where(wblob), wblob, NULL, NULL, 0)) == -EIO &&
		    model_blob_get(ctx->m, blob_id, &b) == 0) {
			*size = b.size;
			*stored = b.stored;
			return 0;
		}
		if (rc < 0)
			return rc;
		*size = blob_wblob_size(w);
		*stored = blob_wblob_stored(w);
		blob_wblob_close(w);
	}
	return 0;
}

int fs_disk_stat(struct fs_ctx *ctx, const struct fs_node *n, uint64_t *size, uint64_t *stored, int64_t *mtime_ns)
{
	int64_t written;
	int rc;
	/* Another host's disk (§13), or a removed host's: its file is there,
	 * not here (in a RADOS region nothing of it is reachable from this
	 * host), so what the database recorded at its host's last close is
	 * shown: the size, the stored bytes and the time
	 * (model_instance_disk_touch). */
	if (model_instance_here(ctx->m, &n->vm, NULL) < 0 ||
	    (n->vm.host[0] && strcmp(n->vm.host, model_host(ctx->m)) != 0)) {
		struct model_blob b;
		if ((rc = model_blob_get(ctx->m, n->blob_id, &b)) < 0)
			return rc;
		*size = b.size;
		*stored = b.stored;
		*mtime_ns = b.mtime_ns > n->vmdisk.mtime_ns ? b.mtime_ns : n->vmdisk.mtime_ns;
		return 0;
	}
	rc = fs_disk_stat_blob(ctx, n->vm.region_id, n->blob_id, n->vmdisk.wblob, size, stored, &written);
	if (rc < 0)
		return rc;
	*mtime_ns = written > n->vmdisk.mtime_ns ? written : n->vmdisk.mtime_ns;
	return 0;
}

/* Whether a disk of the instance is open here with at least min_writers
 * writers. */
static bool vm_disk_open(struct fs_ctx *ctx, int64_t vm_id, int min_writers)
{
	bool open = false;
	struct fs_disks *ds = ctx->disks; /* NULL: a unit test's context, nothing open */
	if (!ds)
		return false;
	IMGFS_LOCK(&ds->lock, disks_lock);
	for (struct fs_disk *d = ds->list; d && !open; d = d->next)
		open = d->vm_id == vm_id && d->writers >= min_writers;
	IMGFS_UNLOCK(&ds->lock, disks_lock);
	return open;
}

bool fs_disk_vm_writing(struct fs_ctx *ctx, int64_t vm_id)
{
	return vm_disk_open(ctx, vm_id, 1);
}

bool fs_disk_vm_open(struct fs_ctx *ctx, int64_t vm_id)
{
	return vm_disk_open(ctx, vm_id, 0);
}

/*
 * disk.c — instance disks open through this mount.
 *
 * An instance's disk is a writable blob (blob_wblob: a base manifest plus a
 * copy-on-write overlay, blobstore/wblob.c).  Every handle on one disk
 * shares one open wblob, so the overlay's state map is read once and two
 * writers never race inside it: wblob asks its caller to serialise writers
 * (pwrite, truncate), which the per-disk mutex does; reads run in parallel.
 *
 * The blobs row keeps the disk's size, stored bytes and mtime for stat and
 * listings; the last writer's close records them (model_instance_disk_touch).
 * Until then stat asks the open wblob, and mtime is the last write seen here.
 *
 * Acknowledged writes are in the overlay file (a pwrite into the host's page
 * cache) when the reply leaves: a kill -9 of the daemon loses none of them;
 * fsync(2) on the disk reaches the device (blob_wblob_fsync).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

struct fs_disk {
	struct fs_disk *next;
	int64_t blob_id, vm_id;
	blob_wblob *w;
	int refs, writers;
	pthread_mutex_t wlock;   /* serialises pwrite and truncate */
	int64_t last_write_ns;   /* 0: not written through this mount */
};

/* One mount per process: the table is the process's. */
static pthread_mutex_t disks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_disk *disks;

static struct fs_disk *find(int64_t blob_id)
{
	for (struct fs_disk *d = disks; d; d = d->next)
		if (d->blob_id == blob_id)
			return d;
	return NULL;
}

static int wblob_of(struct fs_ctx *ctx, const struct fs_node *n, blob_wblob **out)
{
	blob_store *s;
	int rc = model_store(ctx->m, n->vm.region_id, &s);
	return rc < 0 ? rc : blob_wblob_open(out, s, n->vmdisk.wblob);
}

int fs_disk_open(struct fs_ctx *ctx, const struct fs_node *n, bool write, struct fs_disk **out)
{
	struct fs_disk *d;
	int rc = 0;
	pthread_mutex_lock(&disks_lock);
	if (!(d = find(n->blob_id))) {
		if (!(d = calloc(1, sizeof(*d)))) {
			rc = -ENOMEM;
			goto out;
		}
		if ((rc = wblob_of(ctx, n, &d->w)) < 0) {
			free(d);
			goto out;
		}
		d->blob_id = n->blob_id;
		d->vm_id = n->vm.id;
		pthread_mutex_init(&d->wlock, NULL);
		d->next = disks;
		disks = d;
	}
	d->refs++;
	d->writers += write;
	*out = d;
out:
	pthread_mutex_unlock(&disks_lock);
	return rc;
}

void fs_disk_close(struct fs_ctx *ctx, struct fs_disk *d, bool write)
{
	bool record = false;
	uint64_t size = 0, stored = 0;
	int64_t blob_id = d->blob_id;
	pthread_mutex_lock(&disks_lock);
	d->writers -= write;
	if (write && d->writers == 0 && d->last_write_ns) {
		record = true;
		size = blob_wblob_size(d->w);
		stored = blob_wblob_stored(d->w);
	}
	if (--d->refs == 0) {
		struct fs_disk **p = &disks;
		while (*p != d)
			p = &(*p)->next;
		*p = d->next;
	} else {
		d = NULL;
	}
	pthread_mutex_unlock(&disks_lock);
	if (record)
		model_instance_disk_touch(ctx->m, blob_id, size, stored);
	if (d) {
		blob_wblob_close(d->w);
		pthread_mutex_destroy(&d->wlock);
		free(d);
	}
}

ssize_t fs_disk_pread(struct fs_disk *d, void *buf, size_t len, uint64_t off)
{
	return blob_wblob_pread(d->w, buf, len, off);
}

ssize_t fs_disk_pwrite(struct fs_disk *d, const void *buf, size_t len, uint64_t off)
{
	pthread_mutex_lock(&d->wlock);
	ssize_t n = blob_wblob_pwrite(d->w, buf, len, off);
	if (n > 0)
		d->last_write_ns = model_now_ns();
	pthread_mutex_unlock(&d->wlock);
	return n;
}

int fs_disk_truncate(struct fs_disk *d, uint64_t size)
{
	pthread_mutex_lock(&d->wlock);
	int rc = blob_wblob_truncate(d->w, size);
	if (rc == 0)
		d->last_write_ns = model_now_ns();
	pthread_mutex_unlock(&d->wlock);
	return rc;
}

int64_t fs_disk_seek(struct fs_disk *d, uint64_t off, int whence)
{
	return blob_wblob_seek(d->w, off, whence);
}

int fs_disk_fsync(struct fs_disk *d)
{
	return blob_wblob_fsync(d->w);
}

int fs_disk_stat(struct fs_ctx *ctx, const struct fs_node *n, uint64_t *size, uint64_t *stored, int64_t *mtime_ns)
{
	blob_wblob *w = NULL;
	int64_t written = 0;
	int rc = 0;
	pthread_mutex_lock(&disks_lock);
	struct fs_disk *d = find(n->blob_id);
	if (d) {
		*size = blob_wblob_size(d->w);
		*stored = blob_wblob_stored(d->w);
		written = d->last_write_ns;
	}
	pthread_mutex_unlock(&disks_lock);
	if (!d) {
		if ((rc = wblob_of(ctx, n, &w)) < 0)
			return rc;
		*size = blob_wblob_size(w);
		*stored = blob_wblob_stored(w);
		blob_wblob_close(w);
	}
	*mtime_ns = written > n->vmdisk.mtime_ns ? written : n->vmdisk.mtime_ns;
	return 0;
}

bool fs_disk_vm_writing(struct fs_ctx *ctx, int64_t vm_id)
{
	bool writing = false;
	pthread_mutex_lock(&disks_lock);
	for (struct fs_disk *d = disks; d && !writing; d = d->next)
		writing = d->vm_id == vm_id && d->writers > 0;
	pthread_mutex_unlock(&disks_lock);
	return writing;
}

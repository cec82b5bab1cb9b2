/*
 * files.c — the FUSE handlers of open files (split from ops.c; the request
 * helpers are req.c's, through ops_int.h): open, read, write, flush,
 * fsync, release, lseek, fallocate, and the create verbs that open what
 * they make (an upload, an instance's disk).
 *
 * Generated files are rendered once at open() (a reader never sees a value
 * torn between two states) into a rendering that every descriptor whose
 * content came out the same bytes shares (render.c), and opened direct_io
 * (the kernel never serves them from a stale page cache).  Blobs pin their
 * manifest at open() and keep the page cache when they cannot change.
 * Writes into generated files are taken whole (SPEC §2.1, §12) and applied
 * at flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "buf.h"
#include "value.h"
#include "common.h"
#include "dirs.h"
#include "disk.h"
#include "fs.h"
#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "log.h"
#include "ops_int.h"
#include "pollers.h"
#include "render.h"
#include "stats.h"


/* Whether n may be opened for writing through tenants/ (§16): a remark. */
static bool tenant_writes(const struct fs_node *n)
{
	return n->what == FS_W_ATTR && n->attr && (n->attr->flags & FS_ATTR_REMARK);
}

/* Why a file of n cannot be written now. */
static const char *readonly_why(const struct fs_node *n)
{
	if (n->actor_id && !tenant_writes(n))
		return FS_TENANT_WHY;
	if (n->attr && n->attr->store && n->attr->readonly_why)
		return n->attr->readonly_why;
	if (fs_node_is_vm_media(n))
		return FS_VM_MEDIA_READONLY;
	return "this file cannot be written";
}

#define SECRET_WHY "the file is write-only: what was written to it cannot be read back"

/* Generated files are rendered into a rendering of the mount's renderings
 * (render.c, ctx->renderings): shared by the descriptors of one account
 * whose content came out the same bytes, and bounded (SPEC §12).  The
 * files that grow with the data are rendered in their account's lane. */
static bool render_in_lane(const struct fs_node *n)
{
	return n->what == FS_W_CSV || n->what == FS_W_JSON || n->what == FS_W_STATS;
}

static uint64_t render_owner_of(const struct fs_caller *c)
{
	return fs_render_owner(c->account_id, c->uid);
}

/* ---- files --------------------------------------------------------------- */

enum fh_kind { FH_TEXT = 1, FH_BLOB, FH_DISK, FH_INSIDE };
struct fh {
	enum fh_kind kind;
	struct fs_rendering *text; /* FH_TEXT: content taken at open, shared */
	struct fs_buf value;  /* FH_TEXT: what this handle has written since offset 0 */
	bool pending;         /* FH_TEXT: value holds what no store has applied yet */
	blob_manifest *man;   /* FH_BLOB: pinned at open */
	blob_store *store;
	int64_t blob_id;      /* FH_BLOB: its row (a copy by reference holds it) */
	struct fs_disk *disk; /* FH_DISK: an instance's disk */
	struct fs_ctx *ctx;
	struct fs_node *inside; /* FH_INSIDE: a guest's regular file (§18, inside.c) */
	bool write;           /* FH_DISK: opened for writing */
	bool durable;         /* FH_DISK: opened O_DIRECT, O_SYNC or O_DSYNC: each
	                       * write answered once it landed (SPEC §11) */
	uint64_t ahead_seen;  /* FH_DISK: failures of writes answered ahead this
	                       * handle was told of, or that came before its open */
	bool recheck;         /* seen through tenants/ or shared/: resolved anew
	                       * at every verb (fh_get) */
	uid_t uid;            /* the opener's uid: another uid's verb is
	                       * resolved anew (fh_get) */
	struct fh *prev, *next; /* every handle, for fs_files_release_all */
};

/* Every handle of the mount not released yet: a RELEASE the kernel queued
 * as the mount went away never arrives, and what its handle holds would
 * outlive the session (LeakSanitizer saw /stats handles of tests that
 * unmount right after a read).  A room of the mount's state (ctx->handles,
 * rooms.c): fs_files_release_all releases one mount's, never another's. */
struct fs_handles {
	pthread_mutex_t lock; /* handles_lock: the list */
	struct fh *list;
};
IMGFS_LOCK_LEVEL(handles_lock, 58); /* a leaf (fs.h "locks") */

int fs_handles_new(struct fs_handles **out)
{
	struct fs_handles *hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	pthread_mutex_init(&hs->lock, NULL);
	*out = hs;
	return 0;
}

void fs_handles_free(struct fs_handles *hs)
{
	if (!hs)
		return;
	IMGFS_ASSERT(!hs->list); /* fs_files_release_all came first */
	pthread_mutex_destroy(&hs->lock);
	free(hs);
}

static struct fh *fh_new(fuse_req_t req)
{
	struct fh *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->ctx = ops_ctx(req);
	h->uid = fuse_req_ctx(req)->uid;
	struct fs_handles *hs = h->ctx->handles;
	IMGFS_LOCK(&hs->lock, handles_lock);
	h->next = hs->list;
	if (hs->list)
		hs->list->prev = h;
	hs->list = h;
	IMGFS_UNLOCK(&hs->lock, handles_lock);
	return h;
}

static void fh_free(struct fh *h)
{
	if (!h)
		return;
	struct fs_handles *hs = h->ctx->handles;
	IMGFS_LOCK(&hs->lock, handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		hs->list = h->next;
	if (h->next)
		h->next->prev = h->prev;
	IMGFS_UNLOCK(&hs->lock, handles_lock);
	fs_poll_forget(h->ctx->pollers, h);
	if (h->disk)
		fs_disk_close(h->ctx, h->disk, h->write);
	blob_manifest_free(h->man);
	fs_render_put(h->ctx->renderings, h->text);
	fs_buf_release(&h->value);
	free(h->inside);
	free(h);
}

/* Creating disks/<dev> of a queued private or ISO image begins an upload
 * (§5.3) and opens it for writing. */
void ops_create_upload(fuse_req_t req, const struct fs_node *p, const char *name, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = ops_ctx(req);
	struct model_err err = {0};
	struct fuse_entry_param e;
	struct fs_node n;
	struct fh *h;
	int rc;
	if (!(h = fh_new(req))) {
		ops_reply_err(req, ENOMEM);
		return;
	}
	if ((rc = fs_upload_create(ctx, p, name, &n, &h->disk, &err)) < 0) {
		fh_free(h);
		ops_refuse(req, "create", p, name, rc, err.msg);
		return;
	}
	h->kind = FH_DISK;
	h->write = true;
	ops_node_changed(ctx, p);
	ops_succeeded(ctx, p);
	if ((rc = ops_fill_entry(ctx, &n, &e)) < 0) {
		fh_free(h); /* its close hands an empty file to the task, which refuses it */
		ops_reply_err(req, -rc);
		return;
	}
	fi->keep_cache = 0;
	fi->direct_io = 1; /* see do_open's upload case */
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		fh_free(h);
}

/* Opens node n for the request; a refusal's reason (another host's disk,
 * an encrypted blob this mount has no key for) in err when it has one. */
static int do_open(fuse_req_t req, const struct fs_node *n, struct fuse_file_info *fi, struct fh **out,
                   struct model_err *err)
{
	struct fs_ctx *ctx = ops_ctx(req);
	bool wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct fh *h;
	int rc;
	if (ops_is_dir(n))
		return -EISDIR;
	if (n->what == FS_W_STATS && !fs_stats_readable(ctx, &n->caller))
		return -EACCES;
	if (wr && n->actor_id && !tenant_writes(n))
		return -EPERM; /* through tenants/: no uploads, no commands (§16) */
	/* A password is written, never read, whoever asks (root too: the
	 * mode alone would not stop it). */
	if (n->what == FS_W_ATTR && (n->attr->flags & FS_ATTR_SECRET) && (fi->flags & O_ACCMODE) != O_WRONLY)
		return -EACCES;
	if (!(h = fh_new(req)))
		return -ENOMEM;
	if (fs_node_is_vm_disk(n)) {
		/* An instance's disk: readable and writable, never cached across
		 * opens (another mount or a rebuild may have changed it). */
		h->kind = FH_DISK;
		if (wr && model_instance_busy(ctx->m, n->vm.id)) {
			rc = -EBUSY;
			goto fail;
		}
		if ((rc = fs_disk_open(ctx, n, wr, &h->disk, err)) < 0)
			goto fail;
		h->write = wr;
		h->durable = (fi->flags & (O_DIRECT | O_DSYNC)) != 0; /* O_SYNC has O_DSYNC's bit */
		h->ahead_seen = fs_disk_ahead_mark(h->disk);
		struct stat st;
		fs_node_disk_attr(n, 0, 0, n->vmdisk.mtime_ns, &st);
		fs_disk_keep_attr(ctx, h->disk, fs_node_nodeid(n), &st, n->vmdisk.mtime_ns);
		if (wr && (fi->flags & O_TRUNC) && (rc = fs_disk_truncate(h->disk, 0)) < 0)
			goto fail;
		fi->keep_cache = 0;
		/* Opened O_DIRECT (qemu's cache=none, fio --direct=1): the
		 * kernel's direct path, which asks nothing before each request;
		 * through the page cache's path every read was preceded by a
		 * getattr (auto_inval_data, attributes never cached) and every
		 * write by a getxattr (security.capability: FUSE clears
		 * SB_NOSEC), three round trips per I/O instead of one.  A shared
		 * mapping of such an open is ENODEV (the kernel's rule for
		 * direct_io files); other opens of the disk keep the page cache,
		 * which the kernel invalidates on each direct write.  A
		 * write-only open (dd of= without seek=, cp) too: it cannot map
		 * the file, and its writes skip a copy into new page-cache pages
		 * (SPEC §11 "Decision (issue 38)": answered once in the overlay,
		 * as before).  An early disk too (§6.5 "Reads": readahead fetched a MiB a read). */
		fi->direct_io = (fi->flags & O_DIRECT) != 0 || (fi->flags & O_ACCMODE) == O_WRONLY || fs_disk_is_early(h->disk);
	} else if (fs_node_is_import(n)) {
		/* Being imported from a URL (§5.2): the task's alone until it
		 * ends — a reader's view of the blob would not follow its writes. */
		rc = -EBUSY;
		goto fail;
	} else if (fs_node_is_upload(n)) {
		/* An image's disk being uploaded (§5.3): the writable blob. */
		h->kind = FH_DISK;
		if ((rc = fs_upload_open(ctx, n, wr, &h->disk, err)) < 0)
			goto fail;
		h->write = wr;
		h->durable = (fi->flags & (O_DIRECT | O_DSYNC)) != 0; /* O_SYNC has O_DSYNC's bit */
		h->ahead_seen = fs_disk_ahead_mark(h->disk);
		if (wr && (fi->flags & O_TRUNC) && (rc = fs_disk_truncate(h->disk, 0)) < 0)
			goto fail;
		fi->keep_cache = 0;
		/* The writer's bytes go from its buffer to us, not through the
		 * page cache: one copy less per byte, half of cp's time (no other
		 * reader wants those pages; the close drops any cached ones). */
		fi->direct_io = wr;
	} else if (n->what == FS_W_INSIDE) {
		/* A regular file inside an image (§18): read through its
		 * volume's helper; nothing inside is ever written. */
		h->kind = FH_INSIDE;
		if (wr) {
			rc = -EROFS;
			goto fail;
		}
		if (!(h->inside = malloc(sizeof(*h->inside)))) {
			rc = -ENOMEM;
			goto fail;
		}
		*h->inside = *n;
		fi->keep_cache = 1; /* a sealed blob's files never change */
	} else if (n->what == FS_W_DISK) {
		struct model_blob b;
		h->kind = FH_BLOB;
		if (wr) {
			rc = -EPERM;
			goto fail;
		}
		/* An instance's cdrom or cidata: its host's, like its other disks (§13). */
		if (fs_node_is_vm_media(n) && (rc = model_instance_here(ctx->m, &n->vm, NULL)) < 0)
			goto fail;
		/* An encrypted image's blob opens with its key (SPEC §17), or
		 * EACCES with the reason. */
		if ((rc = fs_node_blob_access(ctx, n, err)) < 0 || (rc = model_blob_get(ctx->m, n->blob_id, &b)) < 0 ||
		    (rc = model_store(ctx->m, b.region_id, &h->store)) < 0 ||
		    (rc = model_blob_manifest_err(ctx->m, n->blob_id, &h->man, err)) < 0)
			goto fail;
		h->blob_id = n->blob_id;
		/* Sealed blobs never change: keep the kernel's page cache.  But
		 * an instance's cdrom and cidata keep their inode numbers when
		 * another ISO goes in or the password makes a new seed: read
		 * anew at each open, as its other disks are. */
		fi->keep_cache = !fs_node_is_vm_media(n);
	} else {
		h->kind = FH_TEXT;
		h->value.secret = n->attr && (n->attr->flags & FS_ATTR_SECRET);
		if (wr && !fs_attr_is_writable(n)) {
			rc = -EPERM;
			goto fail;
		}
		struct fs_buf b = {.budget = fs_render_budget(ctx->renderings)};
		uint64_t owner = render_owner_of(&n->caller);
		bool lane = render_in_lane(n);
		if (lane)
			fs_render_lane_enter(ctx->renderings, owner);
		if ((rc = fs_render(ctx, n, &b, NULL)) < 0) {
			if (lane)
				fs_render_lane_leave(ctx->renderings, owner);
			if (!fs_render_over_why(&b, err) && rc == -EIO)
				snprintf(err->msg, sizeof(err->msg), "the database did not answer: the reason is in the log");
			fs_buf_release(&b);
			goto fail;
		}
		rc = fs_render_take(ctx->renderings, &b, owner, &h->text, err);
		if (lane)
			fs_render_lane_leave(ctx->renderings, owner); /* the copy is shared or held now: counted as held */
		if (rc < 0)
			goto fail;
		fi->direct_io = 1;
		fi->nonseekable = 0;
	}
	/* Who may see it changes with another account's roles or shares
	 * (§8, §16): every verb on the handle asks again (fh_get). */
	h->recheck = n->actor_id || n->view == FS_VIEW_SHARED;
	*out = h;
	return 0;
fail:
	fh_free(h);
	return rc;
}

/* One rule for a held descriptor (SPEC §8 "open files are resolved anew at
 * every request"): every verb on an open file — read, write, flush,
 * fsync, lseek, fallocate, poll, either end of copy_file_range — takes its
 * handle here, and gets what pread would: a handle works only while the
 * request's caller may still see its file.  Two kinds of handle ask again:
 * one opened through tenants/ or shared/ (a role change, an unshare take it
 * away), and, in a multi-user mount, any handle used by another uid than
 * its opener's (a descriptor inherited across setuid or passed over a
 * socket: its verbs act as the uid that makes them, as a path lookup
 * would, so another account's instance disk is ENOENT to it).  The
 * others keep their fast path (no lookup): the opener's own images,
 * disks and uploads, which no role change takes away.  The kernel's own
 * requests (pid 0, no credentials: the writeback of a shared mapping)
 * carry nobody's uid and pass.  getattr, getxattr and setattr (fstat,
 * fgetxattr, ftruncate) resolve their node anyway, and so does the
 * kernel's getattr before a cached read.  0 with *out, or -errno. */
static int fh_get(fuse_req_t req, fuse_ino_t ino, const struct fuse_file_info *fi, struct fh **out)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct fs_node n;
	int rc;
	*out = NULL;
	if (!h)
		return -EBADF;
	bool kernel = fc->pid == 0 && fc->uid == 0 && fc->gid == 0;
	bool foreign = h->ctx->multiuser && !kernel && fc->uid != h->uid;
	if ((h->recheck || foreign) && (rc = ops_resolve(req, ino, &n)) < 0)
		return rc;
	*out = h;
	return 0;
}

void ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_OPEN, ino, NULL);
	struct model_err err = {0};
	struct fs_node n;
	struct fh *h = NULL;
	int rc = ops_resolve(req, ino, &n);
	if (rc < 0) {
		/* An image's disk gone for a writer: an upload closed with no
		 * byte was abandoned (SPEC §5.3) while the kernel held its name.
		 * ESTALE has the kernel look the name up again (and a cp's
		 * O_CREAT make it anew) rather than fail the open. */
		if (rc == -ENOENT && (fi->flags & O_ACCMODE) != O_RDONLY && fs_ino_kind(ino) == FS_K_IMAGE &&
		    fs_ino_sub(ino) > FS_SUB_DISKS && fs_ino_sub(ino) < FS_SUB_COPIES)
			rc = -ESTALE;
		ops_reply_err(req, -rc);
		return;
	}
	if ((rc = do_open(req, &n, fi, &h, &err)) < 0) {
		char stats_why[192];
		snprintf(stats_why, sizeof(stats_why),
		         "/stats shows every account's activity: root, the mounting user and administrator accounts read "
		         "it, uid %u may not (-o stats=all shows it to every caller)", (unsigned)n.caller.uid);
		struct model_err remote = {0};
		if (rc == -EREMOTE && !err.msg[0])
			model_instance_here(ops_ctx(req)->m, &n.vm, &remote);
		const char *why = err.msg[0] ? err.msg /* the model's own: no key (§17), another host (§13) */
		                  : rc == -EACCES && n.what == FS_W_STATS ? stats_why
		                  : rc == -EACCES && n.what == FS_W_ATTR ? SECRET_WHY
		                  : rc == -EACCES ? "this image's disks are only for creating instances"
		                  : rc == -EREMOTE ? remote.msg
		                  : rc == -EBUSY && fs_node_is_import(&n)
		                          ? "the disk is being imported from a URL; it opens once the image is available"
		                  : rc == -EBUSY && fs_node_is_upload(&n)
		                          ? "the upload is written through another mount, or closed and being checked"
		                  : rc == -EBUSY ? "a capture is reading the instance's disks"
		                                 : readonly_why(&n);
		if (rc == -EACCES || rc == -EPERM || rc == -EBUSY || rc == -EREMOTE ||
		    ((rc == -EIO || rc == -ENOMEM) && err.msg[0]))
			ops_refuse(req, "open", &n, NULL, rc, why);
		else
			ops_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		fh_free(h); /* the opener was interrupted: nobody will release this */
	}
}

/* A read that failed: its line in the log (inside an image, §18, the
 * helper's failure was logged with its reason; why: an early disk's), and its errno. */
static void read_failed(fuse_req_t req, fuse_ino_t ino, bool inside, off_t off, ssize_t n, const char *why)
{
	struct fs_node node;
	if (!inside && ops_resolve(req, ino, &node) == 0) {
		char path[1024];
		fs_node_path(ops_ctx(req), &node, path, sizeof(path));
		fs_log(ops_ctx(req), "read %s at %lld: %s %s", path, (long long)off, fs_errno_name((int)n),
		       why && *why ? why : n == -EIO ? "a chunk could not be read or does not match its hash" : strerror((int)-n));
	}
	ops_reply_err(req, (int)-n);
}

/* A small read of a cloud disk in the cluster, answered by the cluster
 * client's thread (SPEC §12): no FUSE thread waits for its round trip.
 * Nothing of the handle is used here: the read holds the file open in
 * the kernel until answered, and the mount's end waits for every one
 * (fs_started_drain). */
struct fs_aread {
	fuse_req_t req;
	fuse_ino_t ino;
	off_t off;
	struct fs_ctx *ctx;
	char buf[];
};

static void aread_done(void *arg, ssize_t n)
{
	struct fs_aread *r = arg;
	struct fs_ctx *ctx = r->ctx;
	ops_answering(FS_OP_READ);
	if (n < 0) {
		read_failed(r->req, r->ino, false, r->off, n, NULL);
	} else {
		fs_stats_read(ctx, (size_t)n);
		fs_stats_cluster_read(ctx);
		fuse_reply_buf(r->req, r->buf, (size_t)n);
	}
	free(r);
	atomic_fetch_sub(&ctx->started, 1); /* last: the mount's end waits for it */
}

static bool aread_start(fuse_req_t req, fuse_ino_t ino, struct fh *h, size_t size, off_t off)
{
	struct fs_ctx *ctx = ops_ctx(req);
	struct fs_aread *r;
	if (size == 0 || size > BLOB_WBLOB_START_MAX || (r = malloc(sizeof *r + size)) == NULL)
		return false;
	*r = (struct fs_aread){.req = req, .ino = ino, .off = off, .ctx = ctx};
	atomic_fetch_add(&ctx->started, 1);
	if (fs_disk_pread_start(h->disk, r->buf, size, (uint64_t)off, aread_done, r))
		return true;
	atomic_fetch_sub(&ctx->started, 1);
	free(r);
	return false;
}

void fs_started_drain(struct fs_ctx *ctx)
{
	while (atomic_load(&ctx->started) > 0)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
}

void ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_READ, ino, NULL);
	struct fh *h;
	int rc = fh_get(req, ino, fi, &h);
	if (rc < 0) {
		ops_reply_err(req, -rc);
		return;
	}
	if (h->kind == FH_TEXT) {
		struct fs_rendering *r = h->text;
		size_t len = r->buf.len;
		size_t from = (uint64_t)off < len ? (size_t)off : len;
		size_t n = len - from < size ? len - from : size;
		/* Reply from the rendering, a reference held across it: once the
		 * kernel has the reply, the reader may close and another thread
		 * release this handle before fuse_reply_buf returns (ASan's writev
		 * check reads it then) — so nothing of h is read after the reply. */
		struct fs_renderings *rs = h->ctx->renderings;
		fs_render_hold(rs, r);
		fuse_reply_buf(req, n ? r->buf.p + from : NULL, n);
		fs_render_put(rs, r);
		return;
	}
	if (h->kind == FH_BLOB && (uint64_t)off >= h->man->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (h->kind == FH_DISK && aread_start(req, ino, h, size, off))
		return;
	char *buf = NULL, why[400] = ""; /* why: an early disk's EIO (§6.5) */
	ssize_t n = 0;
	if (h->kind == FH_BLOB) {
		/* Inside one data chunk (a sequential reader's 1 MiB requests):
		 * the reply is sent from the store's cache, no copy.  The handle
		 * may be released once the kernel has the reply: the store is the
		 * region's, kept apart. */
		blob_store *s = h->store;
		blob_pin *pin;
		const void *p;
		if ((n = blob_store_read_pinned(s, h->man, (uint64_t)off, size, &p, &pin)) > 0) {
			struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)n);
			bv.buf[0].mem = (void *)p;
			fs_stats_read(ops_ctx(req), (size_t)n);
			fuse_reply_data(req, &bv, 0);
			blob_store_unpin(s, pin);
			return;
		}
	}
	if (n == 0 && !(buf = malloc(size ? size : 1))) {
		ops_reply_err(req, ENOMEM);
		return;
	}
	if (n == 0)
		n = h->kind == FH_DISK     ? fs_disk_pread(h->disk, buf, size, (uint64_t)off, why, sizeof(why))
		    : h->kind == FH_INSIDE ? fs_inside_pread(ops_ctx(req), h->inside, buf, size, (uint64_t)off)
		                           : blob_store_read(h->store, h->man, buf, size, (uint64_t)off);
	if (n < 0) {
		read_failed(req, ino, h->kind == FH_INSIDE, off, n, why);
	} else {
		fs_stats_read(ops_ctx(req), (size_t)n);
		fuse_reply_buf(req, buf, (size_t)n);
	}
	free(buf);
}

/* ---- writes into generated files (SPEC §2.1, §12) ------------------------ */

/* A value is written from offset 0, whole or in pieces, each piece exactly
 * where the last one ended (`n`, then `5\n`); the handle collects it.  It
 * is applied once its line is complete — by the write that brings the
 * newline, whose errno is the command's — or, when no newline comes, at
 * close (FLUSH: close(2) returns the command's errno).  Never piece by
 * piece.  Multi-line files (description, tags) are applied at every write
 * that ends in a newline, the whole value so far (shells write line by
 * line), and at close when the last line has no newline.  Each piece is
 * checked as it comes (value.c: at most 4 KiB in all, no NUL or \r, a
 * command one line); a refused piece drops the whole value: the next write
 * must start again at offset 0. */

/* Applies the handle's value to n: stripped of one trailing newline, then
 * the table's store.  Returns 0 or -errno with the reason in err (or why). */
static int apply_value(struct fs_ctx *ctx, struct fh *h, const struct fs_node *n, struct model_err *err)
{
	size_t len = h->value.len;
	char *value;
	int rc;
	h->pending = false;
	if (len && h->value.p[len - 1] == '\n')
		len--;
	if (!(value = strndup(h->value.p ? h->value.p : "", len)))
		return -ENOMEM;
	rc = n->attr->store(n, ctx, value, err);
	explicit_bzero(value, len); /* a password's only other copy is in h->value (a secret buffer) */
	free(value);
	/* Refused, the next write starts a new value; a password, taken or
	 * not, is hashed and has no more use here (a write after its newline
	 * is then refused as not starting at offset 0). */
	if (rc < 0 || h->value.secret)
		fs_value_drop(&h->value);
	return rc;
}

/* A write into a generated file: collected, applied once its line is
 * complete (above). */
static void text_write(fuse_req_t req, fuse_ino_t ino, struct fh *h, const char *buf, size_t size, off_t off)
{
	struct fs_ctx *ctx = ops_ctx(req);
	struct model_err err = {0};
	struct fs_node n;
	const char *why = NULL;
	int rc;
	if ((rc = ops_resolve(req, ino, &n)) < 0) {
		ops_reply_err(req, -rc);
		return;
	}
	if (h->kind != FH_TEXT || !fs_attr_is_writable(&n)) {
		ops_refuse(req, "write", &n, NULL, -EPERM, readonly_why(&n));
		return;
	}
	if ((rc = fs_value_take(&h->value, buf, size, off, n.attr->flags & FS_ATTR_MULTILINE, &why)) < 0) {
		fs_value_drop(&h->value);
		h->pending = false;
		ops_refuse(req, "write", &n, NULL, rc, why);
		return;
	}
	h->pending = true;
	if (!fs_value_ends_line(&h->value)) {
		fuse_reply_write(req, size); /* the rest of the line, or close, applies it */
		return;
	}
	if ((rc = apply_value(ctx, h, &n, &err)) < 0) {
		ops_refuse(req, "write", &n, NULL, rc, err.msg);
		return;
	}
	ops_node_changed(ctx, &n);
	ops_succeeded(ctx, &n);
	fs_tenant_log_change(ctx, "write", &n, NULL); /* through tenants/ (§16) */
	fuse_reply_write(req, size);
}

/* After a password was taken or refused (SPEC §16 "What is kept"): the
 * stack below the handler's frame, where its callees ran — the store, the
 * model, libcrypt's hashing, libc's copies and whatever the compiler
 * spilled — is wiped, so that no frame of theirs keeps a password's bytes
 * in this worker's stack until a deeper request overwrites them (issue
 * 47: two copies were found in a thread's stack of a Release build).  The
 * buffers that held it are wiped where they are freed (h->value,
 * apply_value's copy, the request's, crypt_data); this is for the copies
 * nobody names.  32 KiB (the frame limit is 64): the deepest of those
 * frames is a few KiB. */
static __attribute__((noinline)) void scrub_stack(void)
{
	unsigned char pad[32 << 10];
	explicit_bzero(pad, sizeof(pad));
	__asm__ volatile("" : : "r"(pad) : "memory");
}

struct write_answer {
	fuse_req_t req;
	struct fs_ctx *ctx;
	bool sent;
};

/* A small write of a cloud disk in the cluster, answered by the cluster
 * client's thread (SPEC §12), as aread above: its file stays open in the
 * kernel until answered (so d does), and the mount's end waits for it. */
struct fs_awrite {
	fuse_req_t req;
	struct fs_ctx *ctx;
	struct fs_disk *d;
};

static void awrite_done(void *arg, ssize_t n)
{
	struct fs_awrite *r = arg;
	struct fs_ctx *ctx = r->ctx;
	ops_answering(FS_OP_WRITE);
	if (n < 0) {
		ops_reply_err(r->req, (int)-n);
	} else {
		fs_disk_written(r->d); /* landed: its time, before the writer may close */
		fs_stats_written(ctx, (size_t)n);
		fs_stats_cluster_write(ctx);
		fuse_reply_write(r->req, (size_t)n);
	}
	free(r);
	atomic_fetch_sub(&ctx->started, 1); /* last: the mount's end waits for it */
}

static bool awrite_start(fuse_req_t req, struct fh *h, const char *buf, size_t size, off_t off)
{
	struct fs_ctx *ctx = ops_ctx(req);
	struct fs_awrite *r;
	if (!h->write || size > BLOB_WBLOB_START_MAX || (r = malloc(sizeof *r)) == NULL)
		return false;
	*r = (struct fs_awrite){.req = req, .ctx = ctx, .d = h->disk};
	atomic_fetch_add(&ctx->started, 1);
	if (fs_disk_pwrite_start(h->disk, buf, size, (uint64_t)off, awrite_done, r))
		return true;
	atomic_fetch_sub(&ctx->started, 1);
	free(r);
	return false;
}

/* An upload's write answered before its bytes are stored, or a cloud
 * disk's whole chunk before it landed (disk.c). */
static void write_answer(void *arg, size_t n)
{
	struct write_answer *a = arg;
	a->sent = true;
	fs_stats_written(a->ctx, n);
	fuse_reply_write(a->req, n);
}

void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_WRITE, ino, NULL);
	struct fh *h;
	int rc = fh_get(req, ino, fi, &h);
	if (rc < 0) {
		/* Nothing of the request is kept, a password's bytes least of
		 * all (below): wiped whatever the handle. */
		explicit_bzero((char *)buf, size);
		ops_reply_err(req, -rc);
		return;
	}
	if (h->kind == FH_DISK) {
		/* An instance's disk or an upload: straight into its overlay, no
		 * lookup (an upload sniffs its first bytes, upload.c; once its
		 * format is known it is answered before its bytes are stored:
		 * write_answer, then neither req nor h is ours). */
		if (awrite_start(req, h, buf, size, off))
			return;
		struct write_answer a = {req, ops_ctx(req), false};
		ssize_t done = !h->write ? -EBADF : fs_disk_pwrite(h->disk, buf, size, (uint64_t)off, h->durable, write_answer, &a);
		if (a.sent)
			return;
		if (done < 0) {
			ops_reply_err(req, (int)-done);
		} else {
			fs_stats_written(a.ctx, (size_t)done);
			fuse_reply_write(req, (size_t)done);
		}
		return;
	}
	/* Read before the reply: once the writer has it, it may close and
	 * another thread free h. */
	bool secret = h->kind == FH_TEXT && h->value.secret;
	text_write(req, ino, h, buf, size, off);
	/* A password (SPEC §16): its bytes are hashed, and wiped from every
	 * copy the daemon made (h->value, apply_value's), but the request
	 * itself still holds them: buf points into this thread's receive
	 * buffer (libfuse's fuse_buf.mem, allocated by its loop for this
	 * worker and reused only by its next request, which may be smaller),
	 * where every accepted and refused password stayed until a larger
	 * request of that thread overwrote it.  Writing through the const is
	 * sound: the memory is libfuse's own writable heap (no write_buf, no
	 * splice: do_write hands us a pointer into it), the const only says
	 * that the handler need not change it, and nothing reads the request
	 * once its handler returned.  Accepted or refused alike, whatever the
	 * reply was. */
	if (secret) {
		explicit_bzero((char *)buf, size);
		scrub_stack();
	}
}

void ops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_FLUSH, ino, NULL);
	struct fs_ctx *ctx = ops_ctx(req);
	struct fh *h;
	struct model_err err = {0};
	struct fs_node n;
	int rc = fh_get(req, ino, fi, &h);
	if (rc < 0) {
		ops_reply_err(req, -rc); /* another uid's close applies nothing of the opener's */
		return;
	}
	if (h->kind == FH_TEXT && h->pending) {
		/* A line written without its newline: close(2) applies it and
		 * returns its errno (SPEC §12). */
		bool secret = h->value.secret;
		if ((rc = ops_resolve(req, ino, &n)) < 0 || !fs_attr_is_writable(&n)) {
			h->pending = false;
			if (h->value.secret)
				fs_value_drop(&h->value); /* never applied: a password goes now */
		}
		if (rc < 0) {
			ops_reply_err(req, -rc);
		} else if (!fs_attr_is_writable(&n)) {
			ops_refuse(req, "write", &n, NULL, -EPERM, readonly_why(&n));
		} else if ((rc = apply_value(ctx, h, &n, &err)) < 0) {
			ops_refuse(req, "write", &n, NULL, rc, err.msg);
		} else {
			ops_node_changed(ctx, &n);
			ops_succeeded(ctx, &n);
			fs_tenant_log_change(ctx, "write", &n, NULL);
			ops_reply_err(req, 0);
		}
		if (secret)
			scrub_stack();
		return;
	}
	/* close(2) of an upload's writer returns once its bytes are durable,
	 * a cloud disk's once the writes answered ahead landed (or with why
	 * one did not). */
	rc = h->kind == FH_DISK && h->write ? fs_upload_flush(h->disk) : 0;
	if (rc == 0 && h->kind == FH_DISK && h->write)
		rc = fs_disk_settle_writes(h->disk, &h->ahead_seen);
	ops_reply_err(req, -rc);
}

void ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_FSYNC, ino, NULL);
	struct fh *h;
	int rc = fh_get(req, ino, fi, &h);
	/* Every accepted write of a generated file is already committed. */
	if (rc == 0 && h->kind == FH_DISK)
		rc = fs_disk_fsync(h->disk, &h->ahead_seen);
	ops_reply_err(req, -rc);
}

void fs_files_release_all(struct fs_ctx *ctx)
{
	struct fs_handles *hs = ctx->handles;
	struct fh *h;
	for (;;) {
		IMGFS_LOCK(&hs->lock, handles_lock);
		h = hs->list;
		IMGFS_UNLOCK(&hs->lock, handles_lock);
		if (!h)
			break;
		fh_free(h); /* a disk's last writer records its size, an upload hands over */
	}
}

void ops_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_RELEASE, ino, NULL);
	fh_free((struct fh *)(uintptr_t)fi->fh);
	ops_reply_err(req, 0);
}

/* Whether generated file ino renders now other than what h took at open:
 * 1, 0, or -errno (gone, unreadable: a change too, for a poller). */
static int text_changed(fuse_req_t req, fuse_ino_t ino, const struct fh *h)
{
	struct fs_buf b = {.budget = fs_render_budget(h->ctx->renderings)};
	struct fs_node n;
	int rc = ops_resolve(req, ino, &n);
	if (rc < 0)
		return rc;
	uint64_t owner = render_owner_of(&n.caller);
	bool lane = render_in_lane(&n);
	if (lane)
		fs_render_lane_enter(h->ctx->renderings, owner);
	if ((rc = fs_render(h->ctx, &n, &b, NULL)) == 0)
		rc = b.len != h->text->buf.len || (b.len && memcmp(b.p, h->text->buf.p, b.len) != 0);
	if (lane)
		fs_render_lane_leave(h->ctx->renderings, owner);
	fs_buf_release(&b);
	return rc;
}

/* poll(2) (SPEC §12 "Generated files"): every file is readable and
 * writable at once, as a regular file is; a generated file is also
 * POLLPRI (with POLLERR when it is gone) once what it renders differs from
 * what this descriptor took at open — reopen to read it.  Asked to be told
 * (ph), the handle waits for its inode's next invalidation (pollers.c), which
 * every change of its object brings; registered before the look, so a
 * change between the two still wakes it. */
void ops_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	ops_count(req, FS_OP_POLL, ino, NULL);
	struct fh *h;
	unsigned ready = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
	int rc = fh_get(req, ino, fi, &h);
	if (rc < 0) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		ops_reply_err(req, -rc); /* the kernel's poll: POLLERR */
		return;
	}
	if (h->kind != FH_TEXT) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, ready);
		return;
	}
	rc = ph ? fs_poll_wait(h->ctx->pollers, h, ino, ph) : 0;
	if (rc == 0)
		rc = text_changed(req, ino, h);
	if (rc != 0) {
		fs_poll_forget(h->ctx->pollers, h);
		ready |= POLLPRI | (rc < 0 ? POLLERR : 0);
	}
	fuse_reply_poll(req, ready);
}

void ops_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_LSEEK, ino, NULL);
	struct fh *h = NULL;
	int64_t r;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		ops_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		ops_reply_err(req, ENXIO);
		return;
	}
	if ((r = fh_get(req, ino, fi, &h)) < 0) {
		/* A data map is the file's too. */
	} else if (h->kind == FH_BLOB) {
		r = blob_manifest_seek(h->man, (uint64_t)off, whence);
	} else if (h->kind == FH_DISK) {
		r = fs_disk_seek(h->disk, (uint64_t)off, whence);
	} else if (h->kind == FH_INSIDE) {
		/* Holes inside are not told apart in this version: all data. */
		uint64_t size = h->inside->inside.st.size;
		r = (uint64_t)off >= size ? -ENXIO : whence == SEEK_DATA ? off : (int64_t)size;
	} else {
		/* A generated file is all data. */
		r = (size_t)off >= h->text->buf.len ? -ENXIO : whence == SEEK_DATA ? off : (int64_t)h->text->buf.len;
	}
	if (r < 0)
		ops_reply_err(req, (int)-r);
	else
		fuse_reply_lseek(req, (off_t)r);
}

/* fallocate(2) (SPEC §12): instance disks take punch-hole and zero-range
 * (a guest's TRIM, fstrim, qemu-img's discards and zeroes): the range reads
 * zeros and whole chunks give their space back.  Every other mode, and
 * every other file, is EOPNOTSUPP (never ENOSYS: the kernel would stop
 * asking for the whole mount). */
void ops_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_FALLOCATE, ino, NULL);
	struct fh *h;
	int op = mode & ~FALLOC_FL_KEEP_SIZE;
	int rc = fh_get(req, ino, fi, &h);
	if (rc < 0)
		; /* what pread would answer (§8): nothing punched */
	else if (off < 0 || len <= 0)
		rc = -EINVAL;
	else if (h->kind != FH_DISK || fs_disk_upload(h->disk) || (op != FALLOC_FL_PUNCH_HOLE && op != FALLOC_FL_ZERO_RANGE))
		rc = -EOPNOTSUPP;
	else if (!h->write)
		rc = -EBADF;
	else
		rc = fs_disk_punch(h->disk, (uint64_t)off, (uint64_t)len, mode & FALLOC_FL_KEEP_SIZE);
	ops_reply_err(req, -rc);
}

/* copy_file_range(2) (SPEC §16): from a sealed blob (a snapshot's data, an
 * image's disk: a pinned manifest) into an instance's disk or an upload
 * this mount began, of the same region, by reference (blob_wblob_share:
 * whole chunks by id, the rest by bytes).  Before any chunk is taken, the
 * model records that the disk holds the source's blob (model_blob_hold:
 * gc on any host keeps the shared chunks, whatever becomes of the
 * snapshot).  Permissions are the write's: checked when the disk was
 * opened for writing; an upload's first bytes are sniffed as a write's
 * are.  Anything else is EOPNOTSUPP, another region's store EXDEV, and
 * so is a source of another lineage than the disk's (SPEC §17: an
 * encrypted image's chunks into a plain disk or another key's, or the
 * other way): the kernel and cp copy by read and write then, and the
 * bytes are sealed under the disk's key on their way in.  Never ENOSYS (the kernel
 * would stop asking for the whole mount).  The kernel caps one request at
 * about 4 GiB, so a long copy comes in requests whose ends fall inside
 * chunks: the head and tail go by bytes. */
void ops_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
                         fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len, int flags)
{
	ops_count(req, FS_OP_COPY_FILE_RANGE, ino_out, NULL);
	struct fs_ctx *ctx = ops_ctx(req);
	struct fh *in = NULL, *out = NULL;
	struct blob_share_counts c = {0, 0};
	struct model_err err = {0};
	ssize_t n;
	if (flags != 0 || off_in < 0 || off_out < 0)
		n = -EINVAL;
	else if ((n = fh_get(req, ino_in, fi_in, &in)) < 0 || (n = fh_get(req, ino_out, fi_out, &out)) < 0) {
		/* What pread of either would refuse (§8): nothing copied. */
	} else if (!in || !out || in->kind != FH_BLOB || out->kind != FH_DISK)
		n = -EOPNOTSUPP;
	else if (!out->write)
		n = -EBADF;
	else if (blob_wblob_share_check(fs_disk_wblob(out->disk), in->store, in->man) < 0)
		n = -EXDEV; /* another region's store, or another lineage's key (§17) */
	else if ((uint64_t)off_in >= in->man->size || len == 0)
		n = 0;
	else if ((n = model_blob_hold(ctx->m, fs_disk_blob_id(out->disk), in->blob_id, &err)) == 0)
		n = fs_disk_share(out->disk, in->store, in->man, (uint64_t)off_in, (uint64_t)off_out, len, &c);
	else
		fs_log(ctx, "copy_file_range: %s %s", fs_errno_name((int)n), err.msg);
	if (n < 0) {
		ops_reply_err(req, (int)-n);
		return;
	}
	fs_stats_written(ctx, (size_t)c.by_bytes);
	fs_stats_shared(ctx, c.by_id);
	fuse_reply_write(req, (size_t)n);
}

/* Creating disks/<dev> of an instance attaches a blank data disk (§2.4). */
void ops_create_vm_disk(fuse_req_t req, const struct fs_node *p, const char *name, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = ops_ctx(req);
	struct model_err err = {0};
	struct fuse_entry_param e;
	struct fs_node n;
	struct fh *h = NULL;
	int rc;
	int idx = model_vm_disk_index(name); /* cdrom, cidata: the model says how they come */
	if (idx < 0) {
		ops_refuse(req, "create", p, name, -EINVAL, "an instance's disks are named vda .. vdz");
		return;
	}
	if ((rc = model_instance_disk_attach(ctx->m, p->vm.id, idx, &err)) < 0) {
		ops_refuse(req, "create", p, name, rc, err.msg);
		return;
	}
	ops_node_changed(ctx, p);
	if ((rc = fs_node_lookup(ctx, p, name, &n)) < 0 || (rc = ops_fill_entry(ctx, &n, &e)) < 0 ||
	    (rc = do_open(req, &n, fi, &h, &err)) < 0) {
		if (err.msg[0])
			ops_refuse(req, "create", p, name, rc, err.msg);
		else
			ops_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		fh_free(h);
}


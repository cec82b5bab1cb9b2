/*
 * ops.c — the low-level FUSE handlers.  Each is two functions where it
 * does work (passthrough_ll's lo_do_lookup / lo_lookup): a worker that
 * returns -errno and fills its result, and the handler that replies exactly
 * once.  Every refusal other than "no such entry" is logged with its
 * reason (fs_refuse).
 *
 * Generated files are rendered once at open() into the file handle (a
 * reader never sees a value torn between two states) and opened direct_io
 * (the kernel never serves them from a stale page cache).  Blobs pin their
 * manifest at open() and keep the page cache when they cannot change.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"

#define XATTR_HASH "user.imgfs.xxh128"
#define WRITE_MAX 4096 /* SPEC §12 */

static struct fs_ctx *req_ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The operation this thread is answering (a FUSE thread answers one
 * request at a time), so that reply_err can count an errno answer by
 * operation (stats.c). */
static _Thread_local enum fs_op current_op;

/* -o debug's line: the operation on which inode (and name) for whom. */
static void debug_request(fuse_req_t req, enum fs_op op, fuse_ino_t ino, const char *name)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	fs_log_debug(req_ctx(req), "request %s ino %llu%s%s uid %u pid %d", fs_op_name(op), (unsigned long long)ino,
	             name ? " name " : "", name ? name : "", (unsigned)fc->uid, (int)fc->pid);
}

static void count_request(fuse_req_t req, enum fs_op op, fuse_ino_t ino, const char *name)
{
	current_op = op;
	fs_log_set_caller(fuse_req_ctx(req)->uid);
	fs_stats_request(req_ctx(req), op);
	if (req_ctx(req)->debug)
		debug_request(req, op, ino, name);
}

/* Every errno answer goes through here (reply_err(req, 0) is the
 * success answer of operations with nothing to return), but for
 * op_opendir's ENOSYS, which means success. */
static void reply_err(fuse_req_t req, int err)
{
	err = fs_reply_errno(err);
	if (err)
		fs_stats_error(req_ctx(req), current_op, err);
	fuse_reply_err(req, err);
}

/* Resolves ino for the request's caller. */
static int resolve(fuse_req_t req, fuse_ino_t ino, struct fs_node *n)
{
	struct fs_ctx *ctx = req_ctx(req);
	struct fs_caller c;
	int rc = fs_caller_get(ctx, req, &c);
	return rc < 0 ? rc : fs_node_resolve(ctx, &c, ino, n);
}

/* Resolves parent and its entry name for the request's caller. */
static int resolve_child(fuse_req_t req, fuse_ino_t parent, const char *name, struct fs_node *p, struct fs_node *n)
{
	int rc = resolve(req, parent, p);
	return rc < 0 ? rc : fs_node_lookup(req_ctx(req), p, name, n);
}

static bool is_dir(const struct fs_node *n)
{
	switch (n->what) {
	case FS_W_ROOT: case FS_W_REGIONS: case FS_W_REGION: case FS_W_CLASS:
	case FS_W_IMAGE: case FS_W_SUBDIR: case FS_W_SNAP: case FS_W_VM: case FS_W_SHARE:
	case FS_W_COPY:
		return true;
	default:
		return false;
	}
}

/* The image a refusal is recorded on: one the caller owns. */
static int64_t owned_image(const struct fs_node *n)
{
	if (fs_ino_kind(n->ino) != FS_K_IMAGE)
		return 0;
	return n->view == FS_VIEW_PRIVATE || n->view == FS_VIEW_ISO || n->view == FS_VIEW_RECYCLE ? n->img.id : 0;
}

static void refuse(fuse_req_t req, const char *op, const struct fs_node *n, const char *name, int err,
                   const char *reason)
{
	struct fs_ctx *ctx = req_ctx(req);
	char path[1024];
	fs_node_path(ctx, n, path, sizeof(path));
	if (name) {
		size_t len = strlen(path);
		snprintf(path + len, sizeof(path) - len, "/%s", name);
	}
	fs_refuse(ctx, op, path, err, reason, owned_image(n));
	reply_err(req, -err);
}

/* After an operation on an image went through (SPEC §9): the reason of an
 * earlier refusal no longer describes it. */
static void succeeded(struct fs_ctx *ctx, const struct fs_node *n)
{
	if (owned_image(n) && n->img.error[0] && model_image_clear_error(ctx->m, n->img.id) > 0)
		fs_image_changed(ctx, &n->img, false);
}

/* After a change made by this request to the object node n belongs to,
 * before replying: drop the kernel's cached attributes of everything it
 * touched (names are the kernel's own business for operations on this
 * mount; an image: fs_image_changed). */
static void node_changed(struct fs_ctx *ctx, const struct fs_node *n)
{
	struct model_change c = {0};
	switch (fs_ino_kind(n->ino)) {
	case FS_K_IMAGE:
		fs_image_changed(ctx, &n->img, false);
		return;
	case FS_K_SNAP:
		c = (struct model_change){.kind = MODEL_CHANGE_SNAPSHOT, .obj = n->snap.id,
		                          .region_id = n->snap.region_id};
		break;
	case FS_K_VM:
		c = (struct model_change){.kind = MODEL_CHANGE_INSTANCE, .obj = n->vm.id, .region_id = n->vm.region_id};
		break;
	default:
		return;
	}
	fs_invalidate(ctx, &c, false);
}

/* Why a file of n cannot be written now. */
static const char *readonly_why(const struct fs_node *n)
{
	if (n->attr && (n->attr->flags & FS_ATTR_LATER))
		return "this operation is not supported by this version of imgfs";
	if (n->attr && n->attr->store && n->attr->readonly_why)
		return n->attr->readonly_why;
	return "this file cannot be written";
}

/* ---- entries and attributes ---------------------------------------------- */

static int fill_entry(struct fs_ctx *ctx, const struct fs_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = fs_node_nodeid(n); /* st_ino stays n->ino (fs_node_stat) */
	e->generation = 1;
	e->attr_timeout = fs_node_timeout(ctx, n);
	/* Names differ by caller under multiuser, and the kernel's dentries
	 * are shared: every lookup must ask again (0 means "never valid"). */
	e->entry_timeout = ctx->multiuser ? 0 : ctx->timeout;
	return fs_node_stat(ctx, n, &e->attr);
}

static int do_lookup(fuse_req_t req, fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	struct fs_node p, n;
	int rc;
	if ((rc = resolve(req, parent, &p)) < 0)
		return rc;
	if (!is_dir(&p))
		return -ENOTDIR;
	if ((rc = fs_node_lookup(req_ctx(req), &p, name, &n)) < 0)
		return rc;
	return fill_entry(req_ctx(req), &n, e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	count_request(req, FS_OP_LOOKUP, parent, name);
	struct fuse_entry_param e;
	model_read_begin(req_ctx(req)->m);
	int rc = do_lookup(req, parent, name, &e);
	model_read_end(req_ctx(req)->m);
	if (rc < 0)
		reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	count_request(req, FS_OP_FORGET, ino, NULL);
	fuse_reply_none(req); /* inodes are computed: nothing to release */
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	count_request(req, FS_OP_FORGET, 0, NULL);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_GETATTR, ino, NULL);
	struct fs_node n;
	struct stat st;
	model_read_begin(req_ctx(req)->m);
	int rc = resolve(req, ino, &n);
	if (rc == 0)
		rc = fs_node_stat(req_ctx(req), &n, &st);
	model_read_end(req_ctx(req)->m);
	if (rc < 0)
		reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs_node_timeout(req_ctx(req), &n));
}

static int resize_disk(fuse_req_t req, const struct fs_node *n, uint64_t size);

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_SETATTR, ino, NULL);
	struct fs_ctx *ctx = req_ctx(req);
	struct fs_node n;
	struct stat st;
	int rc = resolve(req, ino, &n);
	if (rc < 0) {
		reply_err(req, -rc);
		return;
	}
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		refuse(req, to_set & FUSE_SET_ATTR_MODE ? "chmod" : "chown", &n, NULL, -EPERM,
		       "modes and owners are the service's own");
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && fs_node_is_vm_disk(&n)) {
		if ((rc = resize_disk(req, &n, (uint64_t)attr->st_size)) < 0)
			return; /* refused */
	} else if ((to_set & FUSE_SET_ATTR_SIZE) && fs_node_is_upload(&n)) {
		/* cp --sparse ends an upload with a hole by ftruncate (§5.3) */
		if ((rc = fs_upload_truncate(ctx, &n, (uint64_t)attr->st_size)) < 0) {
			refuse(req, "truncate", &n, NULL, rc, "the upload is not open for writing through this mount");
			return;
		}
	} else if (to_set & FUSE_SET_ATTR_SIZE) {
		/* O_TRUNC and truncate(0) before a write replace nothing yet:
		 * the write that follows replaces the whole value. */
		if (n.what != FS_W_ATTR || !fs_attr_is_writable(&n)) {
			refuse(req, "truncate", &n, NULL, -EPERM, "this file cannot be written");
			return;
		}
		if (attr->st_size != 0) {
			refuse(req, "truncate", &n, NULL, -EINVAL, "a value is replaced by writing it, not by truncate");
			return;
		}
	}
	/* utimens is accepted and ignored: the times stay the service's own. */
	if ((rc = fs_node_stat(ctx, &n, &st)) < 0)
		reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs_node_timeout(ctx, &n));
}

/* truncate(2) of an instance's disk resizes it: through the open handle
 * (ftruncate) or a short-lived one.  Replies itself on failure. */
static int resize_disk(fuse_req_t req, const struct fs_node *n, uint64_t size)
{
	struct fs_ctx *ctx = req_ctx(req);
	struct fs_disk *d = NULL;
	int rc;
	if (model_instance_busy(ctx->m, n->vm.id)) {
		refuse(req, "truncate", n, NULL, -EBUSY, "a capture is reading the instance's disks");
		return -EBUSY;
	}
	if ((rc = fs_disk_open(ctx, n, true, &d)) == 0) {
		rc = fs_disk_truncate(d, size);
		fs_disk_close(ctx, d, true);
	}
	if (rc < 0)
		reply_err(req, -rc);
	return rc;
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	count_request(req, FS_OP_ACCESS, ino, NULL);
	struct fs_node n;
	int rc = resolve(req, ino, &n);
	reply_err(req, rc < 0 ? -rc : 0);
}

/* ---- directories --------------------------------------------------------- */

/* Directories keep no open state.  Where the kernel supports zero-message
 * opendir, the reply that says so is ENOSYS — "success, handle opendir and
 * releasedir in the kernel" (fuse_common.h, FUSE_CAP_NO_OPENDIR_SUPPORT),
 * not "operation not supported": it halves the requests of a tree walk and
 * lets the kernel cache listings, dropped when the directory's mtime changes
 * (auto_inval_data).  Older kernels get the same caching through the flags. */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_OPENDIR, ino, NULL);
	struct fs_node n;
	int rc = resolve(req, ino, &n);
	if (rc == 0 && !is_dir(&n))
		rc = -ENOTDIR;
	if (rc < 0) {
		reply_err(req, -rc);
	} else if (req_ctx(req)->multiuser) {
		/* The kernel's listing cache is per directory, not per caller:
		 * one user's private/ listing must never be served to another. */
		fuse_reply_open(req, fi);
	} else if (req_ctx(req)->zero_opendir) {
		fuse_reply_err(req, ENOSYS); /* a success: not counted as an error in /stats */
	} else {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
		fuse_reply_open(req, fi);
	}
}

/* A listing's entries carry the offset of the next one; the last one's is
 * DIR_END, so the request that follows it (the kernel always asks until it
 * gets nothing) is answered without the database.  Hence one entry is held
 * back until the next one, or the end of the listing, says what follows. */
#define DIR_END INT64_MAX

struct dir_buf {
	fuse_req_t req;
	struct fs_ctx *ctx;
	char *p;
	size_t size, used;
	bool plus, full;
	bool held; /* an entry waits in name/e/next */
	char name[2 * MODEL_NAME_MAX + 2]; /* <image>@<owner> in shared/ */
	struct fuse_entry_param e;
	off_t next;
};

/* Adds the held entry with next_off; 1 when the buffer is full. */
static int put_held(struct dir_buf *d, off_t next_off)
{
	size_t need;
	d->held = false;
	if (d->plus)
		need = fuse_add_direntry_plus(d->req, d->p + d->used, d->size - d->used, d->name, &d->e, next_off);
	else
		need = fuse_add_direntry(d->req, d->p + d->used, d->size - d->used, d->name, &d->e.attr, next_off);
	if (need > d->size - d->used) {
		d->full = true;
		return 1; /* the kernel asks again from the offset of the last one added */
	}
	d->used += need;
	return 0;
}

static int emit_entry(void *arg, const char *name, const struct fs_node *child, off_t next_off)
{
	struct dir_buf *d = arg;
	struct fuse_entry_param e;
	if (d->plus) {
		bool dots = name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
		if (fill_entry(d->ctx, child, &e) < 0)
			return 0; /* vanished meanwhile: skip it */
		if (dots) {
			/* Not looked up by the kernel: only the type matters. */
			struct fuse_entry_param dot = {.attr = {.st_ino = e.attr.st_ino, .st_mode = S_IFDIR}};
			e = dot;
		}
	} else {
		e = (struct fuse_entry_param){.attr = {.st_ino = child->ino, .st_mode = is_dir(child) ? S_IFDIR : S_IFREG}};
	}
	if (d->held && put_held(d, d->next) != 0)
		return 1;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->e = e;
	d->next = next_off;
	d->held = true;
	return 0;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct dir_buf d = {.req = req, .ctx = req_ctx(req), .size = size, .plus = plus};
	struct fs_node n;
	if (off == DIR_END) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* One read transaction for the page: each entry's attributes take a
	 * few statements, and SQLite locks and checks the file per statement
	 * otherwise (7 fcntl and 3 fstat per request on a cold walk). */
	model_read_begin(d.ctx->m);
	int rc = resolve(req, ino, &n);
	if (rc == 0 && !is_dir(&n))
		rc = -ENOTDIR;
	if (rc == 0 && !(d.p = malloc(size)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = fs_node_list(d.ctx, &n, off, emit_entry, &d);
	model_read_end(d.ctx->m);
	if (rc == 0 && d.held && !d.full)
		put_held(&d, DIR_END); /* the listing ended: nothing follows it */
	if (rc < 0 && d.used == 0)
		reply_err(req, -rc);
	else
		fuse_reply_buf(req, d.p, d.used);
	free(d.p);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_READDIR, ino, NULL);
	readdir_common(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_READDIRPLUS, ino, NULL);
	readdir_common(req, ino, size, off, true);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	count_request(req, FS_OP_MKDIR, parent, name);
	struct fs_ctx *ctx = req_ctx(req);
	struct model_err err = {0};
	struct fs_node p, n;
	struct fuse_entry_param e;
	struct model_image img;
	int64_t id = 0;
	int rc;
	if ((rc = resolve(req, parent, &p)) < 0) {
		reply_err(req, -rc);
		return;
	}
	if (!p.caller.account_id) {
		refuse(req, "mkdir", &p, name, -EACCES, "the caller has no account");
		return;
	}
	/* Sharing (§6.4): mkdir private/<image>/shares/<account>; copying
	 * (§6.3): mkdir private/<image>/copies/<region>. */
	bool copy = p.what == FS_W_SUBDIR && fs_ino_kind(p.ino) == FS_K_IMAGE && p.attr->sub == FS_SUB_COPIES;
	if ((p.what == FS_W_SUBDIR && p.attr->sub == FS_SUB_SHARES) || copy) {
		if ((rc = copy ? fs_copies_mkdir(ctx, &p, name, &n, &err) : fs_share_mkdir(ctx, &p, name, &n, &err)) < 0) {
			refuse(req, "mkdir", &p, name, rc, err.msg);
		} else if ((rc = fill_entry(ctx, &n, &e)) < 0) {
			reply_err(req, -rc);
		} else {
			node_changed(ctx, &n);
			succeeded(ctx, &p);
			fuse_reply_entry(req, &e);
		}
		return;
	}
	bool vm = p.what == FS_W_CLASS && p.cls == FS_CLASS_INSTANCES;
	if (p.what != FS_W_CLASS || (p.cls != FS_CLASS_PRIVATE && p.cls != FS_CLASS_ISO && !vm)) {
		refuse(req, "mkdir", &p, name, -EPERM, "nothing can be created here");
		return;
	}
	if (vm)
		rc = model_instance_create(ctx->m, p.region.id, p.caller.account_id, name, &id, &err);
	else
		rc = model_image_create(ctx->m, p.region.id, p.caller.account_id,
		                        p.cls == FS_CLASS_ISO ? MODEL_FOLDER_ISO : MODEL_FOLDER_PRIVATE, name, &img, &err);
	if (rc < 0) {
		refuse(req, "mkdir", &p, name, rc, err.msg);
		return;
	}
	/* The new image's row came back from its insert: its node and the
	 * reply cost no statement. */
	if ((rc = vm ? fs_node_resolve(ctx, &p.caller, fs_ino(FS_K_VM, id, 0), &n)
	             : fs_node_image(ctx, &p.caller, &img, &n)) < 0 ||
	    (rc = fill_entry(ctx, &n, &e)) < 0) {
		reply_err(req, -rc);
		return;
	}
	if (vm)
		node_changed(ctx, &n);
	else
		fs_image_changed(ctx, &img, true);
	fuse_reply_entry(req, &e);
}

/* What rmdir of n does.  A delete must work on a full disk (SPEC §12): one
 * that fails with ENOSPC (the database could not grow its log) is tried
 * again with a slice of the room the mount kept aside (model_space_reserve),
 * which is taken back once the delete has freed its files. */
static int do_rmdir(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	if (n->what == FS_W_VM)
		return model_instance_remove(ctx->m, n->vm.id, err);
	if (n->what == FS_W_SNAP)
		return model_snapshot_remove(ctx->m, n->snap.id, err);
	if (n->what == FS_W_IMAGE && n->view == FS_VIEW_RECYCLE)
		return model_image_destroy(ctx->m, n->img.id, err);
	if (n->what == FS_W_IMAGE && (n->view == FS_VIEW_PRIVATE || n->view == FS_VIEW_ISO))
		return model_image_remove(ctx->m, n->img.id, err);
	if (n->what == FS_W_SHARE) /* unshare (§6.4) */
		return fs_share_rmdir(ctx, n, err);
	if (n->what == FS_W_COPY) /* §6.3: copies are removed in their region */
		return fs_copies_rmdir(ctx, n, err);
	return model_fail(err, -EPERM, "this directory cannot be removed");
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	count_request(req, FS_OP_RMDIR, parent, name);
	struct fs_ctx *ctx = req_ctx(req);
	struct model_err err = {0};
	struct fs_node p, n;
	int rc;
	if ((rc = resolve_child(req, parent, name, &p, &n)) < 0) {
		reply_err(req, -rc);
		return;
	}
	/* A destroy frees the snapshots only this image referenced: their
	 * cached attributes go too before the reply (the watcher would drop
	 * them only a moment later). */
	struct model_device devs[MODEL_MAX_DEVICES];
	int ndevs = n.what == FS_W_IMAGE && n.view == FS_VIEW_RECYCLE ? model_device_list(ctx->m, n.img.id, devs) : 0;
	bool released = false;
	while ((rc = do_rmdir(ctx, &n, &err)) == -ENOSPC && model_space_release(ctx->m)) {
		err = (struct model_err){0}; /* the try changed nothing */
		released = true;
	}
	if (released)
		model_space_reserve(ctx->m);
	if (rc < 0) {
		refuse(req, "rmdir", &n, NULL, rc, err.msg);
		return;
	}
	node_changed(ctx, &n);
	if (n.what != FS_W_IMAGE || n.view != FS_VIEW_RECYCLE)
		succeeded(ctx, &n); /* a delete to the bin, an unshare */
	for (int i = 0; i < ndevs; i++) {
		struct model_change c = {.kind = MODEL_CHANGE_SNAPSHOT, .obj = devs[i].snapshot_id,
		                         .region_id = n.img.region_id};
		if (devs[i].snapshot_id)
			fs_invalidate(ctx, &c, false);
	}
	reply_err(req, 0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	count_request(req, FS_OP_RENAME, parent, name);
	struct fs_ctx *ctx = req_ctx(req);
	struct model_err err = {0};
	struct fs_node p, np, n;
	int rc;
	if ((rc = resolve_child(req, parent, name, &p, &n)) < 0 ||
	    (rc = resolve(req, newparent, &np)) < 0) {
		reply_err(req, -rc);
		return;
	}
	/* RENAME_NOREPLACE is what every rename here does (EEXIST); anything
	 * else (RENAME_EXCHANGE, RENAME_WHITEOUT, flags a later kernel adds)
	 * would be done as a plain rename otherwise. */
	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		refuse(req, "rename", &n, NULL, -EINVAL,
		       flags & RENAME_EXCHANGE ? "images cannot be exchanged"
		                               : "rename takes no flag but RENAME_NOREPLACE here");
		return;
	}
	/* A rename inside one private/ or iso/ directory, and a restore from
	 * recycle-bin/ to private/ of the same region, exist (§6.1); every
	 * other is EPERM, never EXDEV (which would make mv copy). */
	bool restore = n.what == FS_W_IMAGE && n.view == FS_VIEW_RECYCLE && np.what == FS_W_CLASS &&
	               np.cls == FS_CLASS_PRIVATE && np.region.id == n.region.id;
	if (!restore && (n.what != FS_W_IMAGE || parent != newparent ||
	                 (n.view != FS_VIEW_PRIVATE && n.view != FS_VIEW_ISO))) {
		refuse(req, "rename", &n, NULL, -EPERM,
		       "only images in private/ and iso/ can be renamed, in place, and restored from "
		       "recycle-bin/ to private/");
		return;
	}
	if (restore)
		rc = model_image_restore(ctx->m, n.img.id, newname, &err);
	else
		rc = model_image_rename(ctx->m, n.img.id, newname, &err);
	if (rc < 0) {
		refuse(req, "rename", &n, NULL, rc, err.msg);
		return;
	}
	fs_image_changed(ctx, &n.img, false);
	succeeded(ctx, &n);
	reply_err(req, 0);
}

/* ---- operations that do not exist (SPEC §12: EPERM, never ENOSYS) -------- */

static void eperm_at(fuse_req_t req, fuse_ino_t parent, const char *name, const char *op)
{
	struct fs_node p;
	int rc = resolve(req, parent, &p);
	if (rc < 0)
		reply_err(req, -rc);
	else
		refuse(req, op, &p, name, -EPERM, "not supported in this tree");
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	count_request(req, FS_OP_UNLINK, parent, name);
	struct fs_ctx *ctx = req_ctx(req);
	struct model_err err = {0};
	struct fs_node p, n;
	int rc;
	if ((rc = resolve_child(req, parent, name, &p, &n)) < 0) {
		reply_err(req, -rc);
		return;
	}
	if (!fs_node_is_vm_disk(&n)) {
		refuse(req, "unlink", &n, NULL, -EPERM, "files here are removed with their directory");
		return;
	}
	/* Detaching frees the disk's room: it works on a full disk (do_rmdir). */
	bool released = false;
	while ((rc = model_instance_disk_detach(ctx->m, n.vm.id, n.vmdisk.index, &err)) == -ENOSPC &&
	       model_space_release(ctx->m)) {
		err = (struct model_err){0};
		released = true;
	}
	if (released)
		model_space_reserve(ctx->m);
	if (rc < 0) {
		refuse(req, "unlink", &n, NULL, rc, err.msg);
		return;
	}
	node_changed(ctx, &n);
	reply_err(req, 0);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	count_request(req, FS_OP_MKNOD, parent, name);
	eperm_at(req, parent, name, "mknod");
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	count_request(req, FS_OP_SYMLINK, parent, name);
	eperm_at(req, parent, name, "symlink");
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	count_request(req, FS_OP_LINK, ino, newname);
	eperm_at(req, newparent, newname, "link");
}

struct fh;
static int do_open(fuse_req_t req, const struct fs_node *n, struct fuse_file_info *fi, struct fh **out);
static void fh_free(struct fh *h);
static void create_upload(fuse_req_t req, const struct fs_node *p, const char *name, struct fuse_file_info *fi);

/* Creating disks/<dev> of an instance attaches a blank data disk (§2.4). */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_CREATE, parent, name);
	struct fs_ctx *ctx = req_ctx(req);
	struct model_err err = {0};
	struct fuse_entry_param e;
	struct fs_node p, n;
	struct fh *h = NULL;
	int rc;
	if ((rc = resolve(req, parent, &p)) < 0) {
		reply_err(req, -rc);
		return;
	}
	if (p.what == FS_W_SUBDIR && fs_ino_kind(p.ino) == FS_K_IMAGE && p.attr->sub == FS_SUB_DISKS) {
		create_upload(req, &p, name, fi); /* an upload (§5.3) */
		return;
	}
	if (p.what != FS_W_SUBDIR || fs_ino_kind(p.ino) != FS_K_VM) {
		refuse(req, "create", &p, name, -EPERM, "files here are made by the service");
		return;
	}
	int idx = model_device_index(name);
	if (idx < 0 || idx >= MODEL_VM_MAX_DISKS) {
		refuse(req, "create", &p, name, -EINVAL, "an instance's disks are named vda .. vdz");
		return;
	}
	if ((rc = model_instance_disk_attach(ctx->m, p.vm.id, idx, &err)) < 0) {
		refuse(req, "create", &p, name, rc, err.msg);
		return;
	}
	node_changed(ctx, &p);
	if ((rc = fs_node_lookup(ctx, &p, name, &n)) < 0 || (rc = fill_entry(ctx, &n, &e)) < 0 ||
	    (rc = do_open(req, &n, fi, &h)) < 0) {
		reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		fh_free(h);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	count_request(req, FS_OP_READLINK, ino, NULL);
	reply_err(req, EINVAL);
}

/* ---- files --------------------------------------------------------------- */

enum fh_kind { FH_TEXT = 1, FH_BLOB, FH_DISK };
struct fh {
	enum fh_kind kind;
	struct fs_buf text;   /* FH_TEXT: content taken at open */
	struct fs_buf value;  /* FH_TEXT: what this handle has written since offset 0 */
	bool pending;         /* FH_TEXT: value holds what no store has applied yet */
	blob_manifest *man;   /* FH_BLOB: pinned at open */
	blob_store *store;
	struct fs_disk *disk; /* FH_DISK: an instance's disk */
	struct fs_ctx *ctx;
	bool write;           /* FH_DISK: opened for writing */
};

static void fh_free(struct fh *h)
{
	if (!h)
		return;
	if (h->disk)
		fs_disk_close(h->ctx, h->disk, h->write);
	blob_manifest_free(h->man);
	fs_buf_release(&h->text);
	fs_buf_release(&h->value);
	free(h);
}

/* Creating disks/<dev> of a queued private or ISO image begins an upload
 * (§5.3) and opens it for writing. */
static void create_upload(fuse_req_t req, const struct fs_node *p, const char *name, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = req_ctx(req);
	struct model_err err = {0};
	struct fuse_entry_param e;
	struct fs_node n;
	struct fh *h;
	int rc;
	if (!(h = calloc(1, sizeof(*h)))) {
		reply_err(req, ENOMEM);
		return;
	}
	if ((rc = fs_upload_create(ctx, p, name, &n, &h->disk, &err)) < 0) {
		free(h);
		refuse(req, "create", p, name, rc, err.msg);
		return;
	}
	h->kind = FH_DISK;
	h->ctx = ctx;
	h->write = true;
	node_changed(ctx, p);
	succeeded(ctx, p);
	if ((rc = fill_entry(ctx, &n, &e)) < 0) {
		fh_free(h); /* its close hands an empty file to the task, which refuses it */
		reply_err(req, -rc);
		return;
	}
	fi->keep_cache = 0;
	fi->direct_io = 1; /* see do_open's upload case */
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		fh_free(h);
}

static void render(struct fs_ctx *ctx, const struct fs_node *n, struct fs_buf *b)
{
	if (n->what == FS_W_QUOTA)
		fs_show_quota(n, ctx, b);
	else if (n->what == FS_W_CSV)
		fs_show_csv(n, ctx, b, NULL);
	else if (n->what == FS_W_JSON)
		fs_show_json(n, ctx, b, NULL);
	else if (n->what == FS_W_STATS)
		fs_show_stats(ctx, b);
	else
		n->attr->show(n, ctx, b);
}

static int do_open(fuse_req_t req, const struct fs_node *n, struct fuse_file_info *fi, struct fh **out)
{
	struct fs_ctx *ctx = req_ctx(req);
	bool wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct fh *h;
	int rc;
	if (is_dir(n))
		return -EISDIR;
	if (!(h = calloc(1, sizeof(*h))))
		return -ENOMEM;
	h->ctx = ctx;
	if (fs_node_is_vm_disk(n)) {
		/* An instance's disk: readable and writable, never cached across
		 * opens (another mount or a rebuild may have changed it). */
		h->kind = FH_DISK;
		if (wr && model_instance_busy(ctx->m, n->vm.id)) {
			rc = -EBUSY;
			goto fail;
		}
		if ((rc = fs_disk_open(ctx, n, wr, &h->disk)) < 0)
			goto fail;
		h->write = wr;
		if (wr && (fi->flags & O_TRUNC) && (rc = fs_disk_truncate(h->disk, 0)) < 0)
			goto fail;
		fi->keep_cache = 0;
	} else if (fs_node_is_import(n)) {
		/* Being imported from a URL (§5.2): the task's alone until it
		 * ends — a reader's view of the blob would not follow its writes. */
		rc = -EBUSY;
		goto fail;
	} else if (fs_node_is_upload(n)) {
		/* An image's disk being uploaded (§5.3): the writable blob. */
		h->kind = FH_DISK;
		if ((rc = fs_upload_open(ctx, n, wr, &h->disk)) < 0)
			goto fail;
		h->write = wr;
		if (wr && (fi->flags & O_TRUNC) && (rc = fs_disk_truncate(h->disk, 0)) < 0)
			goto fail;
		fi->keep_cache = 0;
		/* The writer's bytes go from its buffer to us, not through the
		 * page cache: one copy less per byte, half of cp's time (no other
		 * reader wants those pages; the close drops any cached ones). */
		fi->direct_io = wr;
	} else if (n->what == FS_W_DISK) {
		struct model_blob b;
		h->kind = FH_BLOB;
		if (wr) {
			rc = -EPERM;
			goto fail;
		}
		if ((rc = fs_node_blob_access(n)) < 0 || (rc = model_blob_get(ctx->m, n->blob_id, &b)) < 0 ||
		    (rc = model_store(ctx->m, b.region_id, &h->store)) < 0 ||
		    (rc = model_blob_manifest(ctx->m, n->blob_id, &h->man)) < 0)
			goto fail;
		/* Sealed blobs never change: keep the kernel's page cache. */
		fi->keep_cache = 1;
	} else {
		h->kind = FH_TEXT;
		if (wr && !fs_attr_is_writable(n)) {
			rc = -EPERM;
			goto fail;
		}
		render(ctx, n, &h->text);
		if (h->text.failed) {
			rc = -ENOMEM;
			goto fail;
		}
		fi->direct_io = 1;
		fi->nonseekable = 0;
	}
	*out = h;
	return 0;
fail:
	fh_free(h);
	return rc;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_OPEN, ino, NULL);
	struct fs_node n;
	struct fh *h = NULL;
	int rc = resolve(req, ino, &n);
	if (rc < 0) {
		reply_err(req, -rc);
		return;
	}
	if ((rc = do_open(req, &n, fi, &h)) < 0) {
		const char *why = rc == -EACCES  ? "this image's disks are only for creating instances"
		                  : rc == -EBUSY && fs_node_is_import(&n)
		                          ? "the disk is being imported from a URL; it opens once the image is available"
		                  : rc == -EBUSY && fs_node_is_upload(&n)
		                          ? "the upload is written through another mount, or closed and being checked"
		                  : rc == -EBUSY ? "a capture is reading the instance's disks"
		                                 : readonly_why(&n);
		if (rc == -EACCES || rc == -EPERM || rc == -EBUSY)
			refuse(req, "open", &n, NULL, rc, why);
		else
			reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		fh_free(h); /* the opener was interrupted: nobody will release this */
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_READ, ino, NULL);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	if (h->kind == FH_TEXT) {
		size_t len = h->text.len;
		size_t from = (uint64_t)off < len ? (size_t)off : len;
		size_t n = len - from < size ? len - from : size;
		/* Reply from a copy: once the kernel has the reply, the reader may
		 * close and another thread release this handle before
		 * fuse_reply_buf returns (ASan's writev check reads it then). */
		char *copy = n ? malloc(n) : NULL;
		if (n && !copy) {
			reply_err(req, ENOMEM);
			return;
		}
		if (n)
			memcpy(copy, h->text.p + from, n);
		fuse_reply_buf(req, copy, n);
		free(copy);
		return;
	}
	if (h->kind == FH_BLOB && (uint64_t)off >= h->man->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	char *buf = NULL;
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
			fs_stats_read(req_ctx(req), (size_t)n);
			fuse_reply_data(req, &bv, 0);
			blob_store_unpin(s, pin);
			return;
		}
	}
	if (n == 0 && !(buf = malloc(size ? size : 1))) {
		reply_err(req, ENOMEM);
		return;
	}
	if (n == 0)
		n = h->kind == FH_DISK ? fs_disk_pread(h->disk, buf, size, (uint64_t)off)
		                       : blob_store_read(h->store, h->man, buf, size, (uint64_t)off);
	if (n < 0) {
		struct fs_node node;
		if (resolve(req, ino, &node) == 0) {
			char path[1024];
			fs_node_path(req_ctx(req), &node, path, sizeof(path));
			fs_log(req_ctx(req), "read %s at %lld: %s %s", path, (long long)off, fs_errno_name((int)n),
			       n == -EIO ? "a chunk could not be read or does not match its hash" : strerror((int)-n));
		}
		reply_err(req, (int)-n);
	} else {
		fs_stats_read(req_ctx(req), (size_t)n);
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
 * line), and at close when the last line has no newline.  Checked as the
 * pieces come: at most 4 KiB in all, no NUL or \r, and a command is one
 * line (nothing after its newline).  A refused piece drops the whole value:
 * the next write must start again at offset 0. */

/* Adds one write to the handle's value; -EINVAL with the reason. */
static int take_write(struct fh *h, const char *buf, size_t size, off_t off, bool multiline, const char **why)
{
	if (off == 0) {
		h->value.len = 0;
	} else if (h->value.len == 0 || (size_t)off != h->value.len) {
		*why = "a value is written from offset 0, each piece where the last one ended";
		return -EINVAL;
	}
	if (h->value.len + size > WRITE_MAX) {
		*why = "a value is at most 4 KiB";
		return -EINVAL;
	}
	bool line_done = !multiline && h->value.len && h->value.p[h->value.len - 1] == '\n';
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\0' || buf[i] == '\r') {
			*why = "a value cannot hold NUL or carriage-return bytes";
			return -EINVAL;
		}
		if (line_done) {
			*why = "a command is one line: nothing may follow its newline";
			return -EINVAL;
		}
		line_done = !multiline && buf[i] == '\n';
	}
	fs_buf_put(&h->value, buf, size);
	return h->value.failed ? -ENOMEM : 0;
}

/* Whether the handle's value ends a line (and so is applied now). */
static bool value_ends_line(const struct fh *h)
{
	return h->value.len && h->value.p[h->value.len - 1] == '\n';
}

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
	free(value);
	if (rc < 0)
		h->value.len = 0; /* the next write starts a new value */
	return rc;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	count_request(req, FS_OP_WRITE, ino, NULL);
	struct fs_ctx *ctx = req_ctx(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	struct model_err err = {0};
	struct fs_node n;
	const char *why = NULL;
	int rc;
	if (h->kind == FH_DISK) {
		/* An instance's disk or an upload: straight into its overlay, no
		 * lookup (an upload sniffs its first bytes, upload.c). */
		ssize_t done = !h->write               ? -EBADF
		               : fs_disk_upload(h->disk) ? fs_upload_write(ctx, h->disk, buf, size, (uint64_t)off)
		                                         : fs_disk_pwrite(h->disk, buf, size, (uint64_t)off);
		if (done < 0) {
			reply_err(req, (int)-done);
		} else {
			fs_stats_written(ctx, (size_t)done);
			fuse_reply_write(req, (size_t)done);
		}
		return;
	}
	if ((rc = resolve(req, ino, &n)) < 0) {
		reply_err(req, -rc);
		return;
	}
	if (h->kind != FH_TEXT || !fs_attr_is_writable(&n)) {
		refuse(req, "write", &n, NULL, -EPERM, readonly_why(&n));
		return;
	}
	if ((rc = take_write(h, buf, size, off, n.attr->flags & FS_ATTR_MULTILINE, &why)) < 0) {
		h->value.len = 0;
		h->pending = false;
		refuse(req, "write", &n, NULL, rc, why);
		return;
	}
	h->pending = true;
	if (!value_ends_line(h)) {
		fuse_reply_write(req, size); /* the rest of the line, or close, applies it */
		return;
	}
	if ((rc = apply_value(ctx, h, &n, &err)) < 0) {
		refuse(req, "write", &n, NULL, rc, err.msg);
		return;
	}
	node_changed(ctx, &n);
	succeeded(ctx, &n);
	fuse_reply_write(req, size);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_FLUSH, ino, NULL);
	struct fs_ctx *ctx = req_ctx(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	struct model_err err = {0};
	struct fs_node n;
	int rc = 0;
	if (h && h->kind == FH_TEXT && h->pending) {
		/* A line written without its newline: close(2) applies it and
		 * returns its errno (SPEC §12). */
		if ((rc = resolve(req, ino, &n)) < 0) {
			h->pending = false;
			reply_err(req, -rc);
		} else if (!fs_attr_is_writable(&n)) {
			h->pending = false;
			refuse(req, "write", &n, NULL, -EPERM, readonly_why(&n));
		} else if ((rc = apply_value(ctx, h, &n, &err)) < 0) {
			refuse(req, "write", &n, NULL, rc, err.msg);
		} else {
			node_changed(ctx, &n);
			succeeded(ctx, &n);
			reply_err(req, 0);
		}
		return;
	}
	/* close(2) of an upload's writer returns once its bytes are durable. */
	rc = h && h->kind == FH_DISK && h->write ? fs_upload_flush(h->disk) : 0;
	reply_err(req, -rc);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_FSYNC, ino, NULL);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	/* Every accepted write of a generated file is already committed. */
	int rc = h->kind == FH_DISK ? fs_disk_fsync(h->disk) : 0;
	reply_err(req, -rc);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_RELEASE, ino, NULL);
	fh_free((struct fh *)(uintptr_t)fi->fh);
	reply_err(req, 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_LSEEK, ino, NULL);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int64_t r;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		reply_err(req, ENXIO);
		return;
	}
	if (h->kind == FH_BLOB) {
		r = blob_manifest_seek(h->man, (uint64_t)off, whence);
	} else if (h->kind == FH_DISK) {
		r = fs_disk_seek(h->disk, (uint64_t)off, whence);
	} else {
		/* A generated file is all data. */
		r = (size_t)off >= h->text.len ? -ENXIO : whence == SEEK_DATA ? off : (int64_t)h->text.len;
	}
	if (r < 0)
		reply_err(req, (int)-r);
	else
		fuse_reply_lseek(req, (off_t)r);
}

/* fallocate(2) (SPEC §12): instance disks take punch-hole and zero-range
 * (a guest's TRIM, fstrim, qemu-img's discards and zeroes): the range reads
 * zeros and whole chunks give their space back.  Every other mode, and
 * every other file, is EOPNOTSUPP (never ENOSYS: the kernel would stop
 * asking for the whole mount). */
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	count_request(req, FS_OP_FALLOCATE, ino, NULL);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int op = mode & ~FALLOC_FL_KEEP_SIZE;
	int rc;
	if (off < 0 || len <= 0)
		rc = -EINVAL;
	else if (h->kind != FH_DISK || fs_disk_upload(h->disk) || (op != FALLOC_FL_PUNCH_HOLE && op != FALLOC_FL_ZERO_RANGE))
		rc = -EOPNOTSUPP;
	else if (!h->write)
		rc = -EBADF;
	else
		rc = fs_disk_punch(h->disk, (uint64_t)off, (uint64_t)len, mode & FALLOC_FL_KEEP_SIZE);
	reply_err(req, -rc);
}

/* ---- extended attributes -------------------------------------------------- */

/* The blob hash of a disk node, when it has one (-ENODATA otherwise). */
static int disk_hash(fuse_req_t req, const struct fs_node *n, char out[33])
{
	bool settled = fs_ino_kind(n->ino) == FS_K_SNAP ? n->snap.status == MODEL_SNAP_AVAILABLE
	                                                : n->img.status == MODEL_IMG_AVAILABLE;
	if (n->what != FS_W_DISK || !settled)
		return -ENODATA;
	int rc = fs_node_blob_access(n);
	return rc < 0 ? rc : model_blob_hash(req_ctx(req)->m, n->blob_id, out);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	count_request(req, FS_OP_GETXATTR, ino, NULL);
	struct fs_node n;
	char hash[33];
	int rc = resolve(req, ino, &n);
	if (rc == 0)
		rc = strcmp(name, XATTR_HASH) == 0 ? disk_hash(req, &n, hash) : -ENODATA;
	if (rc < 0)
		reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, 32);
	else if (size < 32)
		reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, hash, 32);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	count_request(req, FS_OP_LISTXATTR, ino, NULL);
	static const char names[] = XATTR_HASH; /* with its NUL */
	struct fs_node n;
	char hash[33];
	int rc = resolve(req, ino, &n);
	size_t len = rc == 0 && n.what == FS_W_DISK && disk_hash(req, &n, hash) == 0 ? sizeof(names) : 0;
	if (rc < 0)
		reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, names, len);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
	count_request(req, FS_OP_SETXATTR, ino, NULL);
	struct fs_node n;
	int rc = resolve(req, ino, &n);
	if (rc < 0)
		reply_err(req, -rc);
	else
		refuse(req, "setxattr", &n, NULL, -EPERM, "extended attributes are the service's own");
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	count_request(req, FS_OP_REMOVEXATTR, ino, NULL);
	struct fs_node n;
	int rc = resolve(req, ino, &n);
	if (rc < 0)
		reply_err(req, -rc);
	else
		refuse(req, "removexattr", &n, NULL, -EPERM, "extended attributes are the service's own");
}

/* ---- the file system ----------------------------------------------------- */

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	count_request(req, FS_OP_STATFS, ino, NULL);
	struct statvfs st;
	if (statvfs(model_state_dir(req_ctx(req)->m), &st) < 0) {
		reply_err(req, errno);
		return;
	}
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs_ctx *ctx = userdata;
	/* Large requests and many of them in flight (FUSE-NOTES: FAST'17). */
	conn->max_write = BLOB_CHUNK_SIZE;
	conn->max_readahead = BLOB_CHUNK_SIZE;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Always readdirplus: find -ls and ls -l then need no getattr calls. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Control files must return their errno from write() itself. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Listings are cached by the kernel (op_opendir) and dropped when a
	 * directory's mtime changes, which auto_inval_data checks at the start
	 * of every readdir: every directory's mtime changes whenever its entries
	 * do (node.c). */
	ctx->zero_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
	/* Room for deleting on a full disk (do_rmdir); none yet is no error. */
	model_space_reserve(ctx->m);
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.access = op_access,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.readdir = op_readdir,
	.opendir = op_opendir,
	.readdirplus = op_readdirplus,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
	.lseek = op_lseek,
	.fallocate = op_fallocate,
};

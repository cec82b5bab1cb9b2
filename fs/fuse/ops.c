/*
 * ops.c — the low-level FUSE handlers.  Each is two functions where it
 * does work (passthrough_ll's lo_do_lookup / lo_lookup): a worker that
 * returns -errno and fills its result, and the handler that replies exactly
 * once.  Every refusal other than "no such entry" is logged with its
 * reason (fs_refuse).
 *
 * Open files (open, read, write, flush, release, lseek, poll, fallocate, and
 * the create verbs that open what they make) are in files.c, extended
 * attributes in xattr.c; the request helpers every handler uses (ops_ctx,
 * ops_count, ops_reply_err, ops_resolve, ops_refuse, ops_fill_entry) are
 * req.c's, below them all (ops_int.h).
 *
 * What mkdir, create, rmdir, unlink and rename do is a table of verbs per
 * kind of directory (dir_verbs, "directory verbs" below).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "attr.h"
#include "dirs.h"
#include "disk.h"
#include "fs.h"
#include "imgfs_lock.h"
#include "log.h"
#include "ops_int.h"
#include "stats.h"
#include "watch.h"

/* ---- entries and attributes ---------------------------------------------- */

static int do_lookup(fuse_req_t req, fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	struct fs_node p, n;
	int rc;
	if ((rc = ops_resolve(req, parent, &p)) < 0)
		return rc;
	if (!ops_is_dir(&p))
		return -ENOTDIR;
	if ((rc = fs_node_lookup(ops_ctx(req), &p, name, &n)) < 0)
		return rc;
	return ops_fill_entry(ops_ctx(req), &n, e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ops_count(req, FS_OP_LOOKUP, parent, name);
	struct fuse_entry_param e;
	model_read_begin(ops_ctx(req)->m);
	int rc = do_lookup(req, parent, name, &e);
	model_read_end(ops_ctx(req)->m);
	if (rc < 0)
		ops_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ops_count(req, FS_OP_FORGET, ino, NULL);
	fuse_reply_none(req); /* inodes are computed: nothing to release */
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	ops_count(req, FS_OP_FORGET, 0, NULL);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_GETATTR, ino, NULL);
	struct fs_node n;
	struct stat st;
	/* An instance disk open here, which the kernel asks about before a
	 * read through its page cache and at fstat: its attributes are what
	 * its open kept and the open disk's, asked of no database, so that a
	 * running guest goes on while the database does not answer (SPEC §13
	 * "A cloud disk while the database is away"; issue 70: asked of the
	 * database first, a host cut off waited out its reconnect, 20 s, at
	 * every getattr). */
	if (fs_disk_attr_open(ops_ctx(req), ino, fuse_req_ctx(req)->uid, &st) == 0) {
		fuse_reply_attr(req, &st, 0);
		return;
	}
	model_read_begin(ops_ctx(req)->m);
	int rc = ops_resolve(req, ino, &n);
	if (rc == 0)
		rc = fs_node_stat(ops_ctx(req), &n, &st);
	model_read_end(ops_ctx(req)->m);
	if (rc < 0)
		ops_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs_node_timeout(ops_ctx(req), &n));
}

static int resize_disk(fuse_req_t req, const struct fs_node *n, uint64_t size);

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_SETATTR, ino, NULL);
	struct fs_ctx *ctx = ops_ctx(req);
	struct fs_node n;
	struct stat st;
	int rc = ops_resolve(req, ino, &n);
	if (rc < 0) {
		ops_reply_err(req, -rc);
		return;
	}
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		ops_refuse(req, to_set & FUSE_SET_ATTR_MODE ? "chmod" : "chown", &n, NULL, -EPERM,
		       "modes and owners are the service's own");
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && fs_node_is_vm_disk(&n)) {
		if ((rc = resize_disk(req, &n, (uint64_t)attr->st_size)) < 0)
			return; /* refused */
	} else if ((to_set & FUSE_SET_ATTR_SIZE) && n.actor_id && n.what != FS_W_ATTR) {
		ops_refuse(req, "truncate", &n, NULL, -EPERM, FS_TENANT_WHY); /* §16: no uploads there */
		return;
	} else if ((to_set & FUSE_SET_ATTR_SIZE) && fs_node_is_upload(&n)) {
		/* cp --sparse ends an upload with a hole by ftruncate (§5.3) */
		if ((rc = fs_upload_truncate(ctx, &n, (uint64_t)attr->st_size)) < 0) {
			ops_refuse(req, "truncate", &n, NULL, rc, "the upload is not open for writing through this mount");
			return;
		}
	} else if (to_set & FUSE_SET_ATTR_SIZE) {
		/* O_TRUNC and truncate(0) before a write replace nothing yet:
		 * the write that follows replaces the whole value. */
		if (n.what != FS_W_ATTR || !fs_attr_is_writable(&n)) {
			ops_refuse(req, "truncate", &n, NULL, -EPERM,
			           fs_node_is_vm_media(&n) ? FS_VM_MEDIA_READONLY : "this file cannot be written");
			return;
		}
		if (attr->st_size != 0) {
			ops_refuse(req, "truncate", &n, NULL, -EINVAL, "a value is replaced by writing it, not by truncate");
			return;
		}
	}
	/* utimens is accepted and ignored: the times stay the service's own. */
	if ((rc = fs_node_stat(ctx, &n, &st)) < 0)
		ops_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs_node_timeout(ctx, &n));
}

/* truncate(2) of an instance's disk resizes it: through the open handle
 * (ftruncate) or a short-lived one.  Replies itself on failure. */
static int resize_disk(fuse_req_t req, const struct fs_node *n, uint64_t size)
{
	struct fs_ctx *ctx = ops_ctx(req);
	struct model_err err = {0};
	struct fs_disk *d = NULL;
	int rc;
	if (model_instance_busy(ctx->m, n->vm.id)) {
		ops_refuse(req, "truncate", n, NULL, -EBUSY, "a capture is reading the instance's disks");
		return -EBUSY;
	}
	if ((rc = fs_disk_open(ctx, n, true, &d, &err)) == 0) {
		rc = fs_disk_truncate(d, size);
		fs_disk_close(ctx, d, true);
	}
	if (rc == -EBUSY && !err.msg[0]) /* an early disk (§6.5 "Early") */
		snprintf(err.msg, sizeof(err.msg), "the disk is early: its size is its image's");
	if (rc < 0 && err.msg[0]) /* another host's disk (§13), no key (§17) */
		ops_refuse(req, "truncate", n, NULL, rc, err.msg);
	else if (rc < 0)
		ops_reply_err(req, -rc);
	return rc;
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	ops_count(req, FS_OP_ACCESS, ino, NULL);
	struct fs_node n;
	int rc = ops_resolve(req, ino, &n);
	/* What open would refuse (`test -r /stats`, `test -r password`). */
	if (rc == 0 && n.what == FS_W_STATS && (mask & R_OK) && !fs_stats_readable(ops_ctx(req), &n.caller))
		rc = -EACCES;
	if (rc == 0 && n.what == FS_W_ATTR && (n.attr->flags & FS_ATTR_SECRET) && (mask & R_OK))
		rc = -EACCES;
	ops_reply_err(req, rc < 0 ? -rc : 0);
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
	ops_count(req, FS_OP_OPENDIR, ino, NULL);
	struct fs_node n;
	int rc = ops_resolve(req, ino, &n);
	if (rc == 0 && !ops_is_dir(&n))
		rc = -ENOTDIR;
	if (rc < 0) {
		ops_reply_err(req, -rc);
	} else if (ops_ctx(req)->multiuser) {
		/* The kernel's listing cache is per directory, not per caller:
		 * one user's private/ listing must never be served to another. */
		fuse_reply_open(req, fi);
	} else if (ops_ctx(req)->zero_opendir) {
		fuse_reply_err(req, ENOSYS); /* a success: not counted as an error in /stats */
	} else {
		/* The kernel keeps a cached listing while the directory's
		 * mtime is unchanged: hence the model's nanosecond times
		 * (region.created_ns, model_region_mtime, img.dir_mtime_ns). */
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
/* The kernel's struct fuse_dirent with a one-byte name, aligned to 8, and
 * its struct fuse_entry_out (fuse_kernel.h; libfuse does not install it). */
#define DIRENT_MIN 32
#define ENTRY_OUT_SIZE 128

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
	if (!name) {
		/* No entry: the listing goes on from next_off (files/ passed
		 * blocks without one, §18): the held entry says so. */
		if (d->held)
			d->next = next_off;
		return 0;
	}
	if (d->plus) {
		bool dots = name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
		if (ops_fill_entry(d->ctx, child, &e) < 0)
			return 0; /* vanished meanwhile: skip it */
		if (dots) {
			/* Not looked up by the kernel: only the type matters. */
			struct fuse_entry_param dot = {.attr = {.st_ino = e.attr.st_ino, .st_mode = S_IFDIR}};
			e = dot;
		}
	} else {
		e = (struct fuse_entry_param){
			.attr = {.st_ino = fs_node_st_ino(child),
			         .st_mode = child->what == FS_W_INSIDE ? child->inside.st.mode & S_IFMT /* §18 */
			                    : ops_is_dir(child)        ? S_IFDIR
			                                               : S_IFREG}};
	}
	if (d->held && put_held(d, d->next) != 0)
		return 1;
	/* (a copy, not snprintf: a listing of a million names costs a
	 * million of these; issue 67) */
	size_t nl = strnlen(name, sizeof(d->name) - 1);
	memcpy(d->name, name, nl);
	d->name[nl] = '\0';
	d->e = e;
	d->next = next_off;
	d->held = true;
	return 0;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct dir_buf d = {.req = req, .ctx = ops_ctx(req), .size = size, .plus = plus};
	struct fs_node n;
	if (off == DIR_END) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* One read transaction for the page: each entry's attributes take a
	 * few statements, and SQLite locks and checks the file per statement
	 * otherwise (7 fcntl and 3 fstat per request on a cold walk). */
	model_read_begin(d.ctx->m);
	int rc = ops_resolve(req, ino, &n);
	if (rc == 0 && !ops_is_dir(&n))
		rc = -ENOTDIR;
	if (rc == 0 && !(d.p = malloc(size)))
		rc = -ENOMEM;
	/* The fewest bytes an entry takes (a one-byte name, aligned to 8):
	 * files/ reads no more entries than that many fit (§18). */
	if (rc == 0 && n.what == FS_W_INSIDE) {
		n.inside.list_max = (unsigned)(size / ((plus ? ENTRY_OUT_SIZE : 0) + DIRENT_MIN) + 1);
		n.inside.list_plus = plus;
	}
	if (rc == 0)
		rc = fs_node_list(d.ctx, &n, off, emit_entry, &d);
	model_read_end(d.ctx->m);
	if (rc == 0 && d.held && !d.full)
		put_held(&d, DIR_END); /* the listing ended: nothing follows it */
	else if (rc > 0 && d.held && !d.full)
		put_held(&d, d.next); /* stopped short of the end (files/, §18): the kernel asks again */
	if (rc < 0 && d.used == 0)
		ops_reply_err(req, -rc);
	else
		fuse_reply_buf(req, d.p, d.used);
	free(d.p);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_READDIR, ino, NULL);
	readdir_common(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_READDIRPLUS, ino, NULL);
	readdir_common(req, ino, size, off, true);
}

/* ---- directory verbs --------------------------------------------------------
 *
 * What mkdir, create, rmdir, unlink and rename do depends on the kind of
 * directory they act on (docs/style.md: behaviour as tables, like attr.c's
 * attribute tables).  dir_kind names the kind of a node; dir_verbs gives
 * each kind the verbs it answers:
 *
 *   mkdir, create  make an entry in the directory (they reply themselves)
 *   rmdir          removes the directory itself (the model's step)
 *   unlink         removes a file in it (the model's step)
 *   rename         renames (or restores) the directory itself
 *
 * A verb a kind does not have is refused by the generic handler, with one
 * errno and reason per verb (SPEC §9, §12), or the kind's own reason (why).
 * Adding a kind of directory: one enum value, one case in dir_kind, one
 * line in dir_verbs.
 *
 * Through tenants/ (§16, tenants.c) the kinds are the DK_TENANT ones: an
 * image there is deleted, destroyed, renamed and restored as its owner's
 * is, a snapshot removed, and nothing else is done (FS_TENANT_WHY); every
 * change is logged naming both accounts.
 */
enum dir_kind {
	DK_NONE,        /* answers none of them */
	DK_IMAGES,      /* private/, iso/: mkdir makes an image */
	DK_INSTANCES,   /* instances/: mkdir makes an instance (§2.4) */
	DK_SHARES,      /* shares/ of an image: mkdir shares it (§6.4) */
	DK_COPIES,      /* copies/ of an image: mkdir copies it (§6.3) */
	DK_IMAGE_DISKS, /* disks/ of an image: create uploads (§5.3) */
	DK_VM_DISKS,    /* disks/ of an instance: create attaches a disk, unlink detaches it */
	DK_IMAGE,       /* an image in private/ or iso/: rmdir deletes (§6.1), rename renames */
	DK_BIN_IMAGE,   /* an image in recycle-bin/: rmdir destroys, rename renames or restores */
	DK_SNAP,        /* snapshots/<snap>: rmdir removes it */
	DK_VM,          /* instances/<vm>: rmdir removes it */
	DK_SHARE,       /* shares/<account>: rmdir unshares */
	DK_COPY,        /* copies/<region>: rmdir says why not (copies.c) */
	DK_TENANT,      /* tenants/ and any directory below it but these three: nothing */
	DK_TENANT_IMAGE,     /* a tenant's image in private/ or iso/: as DK_IMAGE */
	DK_TENANT_BIN_IMAGE, /* a tenant's image in recycle-bin/: as DK_BIN_IMAGE */
	DK_TENANT_SNAP,      /* a tenant's snapshot: as DK_SNAP */
	DK_INSIDE,      /* files/ and everything below it (§18): nothing */
	DK_COUNT
};

/* The kind of a directory seen through tenants/ (§16). */
static enum dir_kind tenant_dir_kind(const struct fs_node *n)
{
	if (n->what == FS_W_IMAGE && n->view == FS_VIEW_RECYCLE)
		return DK_TENANT_BIN_IMAGE;
	if (n->what == FS_W_IMAGE && (n->view == FS_VIEW_PRIVATE || n->view == FS_VIEW_ISO))
		return DK_TENANT_IMAGE;
	return n->what == FS_W_SNAP ? DK_TENANT_SNAP : DK_TENANT;
}

static enum dir_kind dir_kind(const struct fs_node *n)
{
	if (fs_node_in_tenants(n))
		return tenant_dir_kind(n);
	switch (n->what) {
	case FS_W_CLASS:
		return n->cls == FS_CLASS_PRIVATE || n->cls == FS_CLASS_ISO ? DK_IMAGES
		       : n->cls == FS_CLASS_INSTANCES                          ? DK_INSTANCES
		                                                                : DK_NONE;
	case FS_W_SUBDIR:
		if (fs_ino_kind(n->ino) == FS_K_VM)
			return DK_VM_DISKS; /* an instance's one subdirectory */
		if (n->attr->sub == FS_SUB_SHARES)
			return DK_SHARES;
		if (n->attr->sub == FS_SUB_FILES)
			return DK_INSIDE;
		if (fs_ino_kind(n->ino) != FS_K_IMAGE)
			return DK_NONE;
		return n->attr->sub == FS_SUB_COPIES ? DK_COPIES : n->attr->sub == FS_SUB_DISKS ? DK_IMAGE_DISKS : DK_NONE;
	case FS_W_IMAGE:
		return n->view == FS_VIEW_RECYCLE                             ? DK_BIN_IMAGE
		       : n->view == FS_VIEW_PRIVATE || n->view == FS_VIEW_ISO ? DK_IMAGE
		                                                              : DK_NONE;
	case FS_W_SNAP:
		return DK_SNAP;
	case FS_W_VM:
		return DK_VM;
	case FS_W_SHARE:
		return DK_SHARE;
	case FS_W_COPY:
		return DK_COPY;
	case FS_W_INSIDE:
		return DK_INSIDE;
	default:
		return DK_NONE;
	}
}

/* mkdir private/<name>, iso/<name>: a new image; instances/<name>: a new
 * instance. */
static void mkdir_object(fuse_req_t req, const struct fs_node *p, const char *name)
{
	struct fs_ctx *ctx = ops_ctx(req);
	struct model_err err = {0};
	struct fs_node n;
	struct fuse_entry_param e;
	struct model_image img;
	int64_t id = 0;
	int rc;
	bool vm = p->cls == FS_CLASS_INSTANCES;
	if (vm)
		rc = model_instance_create(ctx->m, p->region.id, p->caller.account_id, name, &id, &err);
	else
		rc = model_image_create(ctx->m, p->region.id, p->caller.account_id,
		                        p->cls == FS_CLASS_ISO ? MODEL_FOLDER_ISO : MODEL_FOLDER_PRIVATE, name, &img, &err);
	if (rc < 0) {
		ops_refuse(req, "mkdir", p, name, rc, err.msg);
		return;
	}
	/* The new image's row came back from its insert: its node and the
	 * reply cost no statement. */
	if ((rc = vm ? fs_node_resolve(ctx, &p->caller, fs_ino(FS_K_VM, id, 0), &n)
	             : fs_node_image(ctx, &p->caller, &img, &n)) < 0 ||
	    (rc = ops_fill_entry(ctx, &n, &e)) < 0) {
		ops_reply_err(req, -rc);
		return;
	}
	if (vm)
		ops_node_changed(ctx, &n);
	else
		fs_image_changed(ctx, &img, true);
	fuse_reply_entry(req, &e);
}

/* mkdir private/<image>/shares/<account> (§6.4), .../copies/<region> (§6.3). */
static void mkdir_image_sub(fuse_req_t req, const struct fs_node *p, const char *name)
{
	struct fs_ctx *ctx = ops_ctx(req);
	struct model_err err = {0};
	struct fs_node n;
	struct fuse_entry_param e;
	int rc = p->attr->sub == FS_SUB_COPIES ? fs_copies_mkdir(ctx, p, name, &n, &err)
	                                       : fs_share_mkdir(ctx, p, name, &n, &err);
	if (rc < 0) {
		ops_refuse(req, "mkdir", p, name, rc, err.msg);
	} else if ((rc = ops_fill_entry(ctx, &n, &e)) < 0) {
		ops_reply_err(req, -rc);
	} else {
		ops_node_changed(ctx, &n);
		ops_succeeded(ctx, p);
		fuse_reply_entry(req, &e);
	}
}


/* rmdir's steps, each the model's removal of one kind of directory. */
static int rmdir_vm(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	return model_instance_remove(ctx->m, n->vm.id, err);
}

static int rmdir_snap(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	return model_snapshot_remove(ctx->m, n->snap.id, err);
}

static int rmdir_bin_image(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	return model_image_destroy(ctx->m, n->img.id, err);
}

static int rmdir_image(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	return model_image_remove(ctx->m, n->img.id, err);
}

/* unlink instances/<vm>/disks/<dev>: detaches the disk (ejects a cdrom,
 * removes the cidata seed). */
static int unlink_vm_disk(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	int rc = model_instance_disk_detach(ctx->m, n->vm.id, n->vmdisk.index, err);
	if (rc == 0 && n->vmdisk.index == MODEL_VM_CDROM)
		fs_vm_image_changed(ctx, &n->vm); /* the ISO's instances file */
	return rc;
}

#define RENAME_WHY                                                                                         \
	"only images in private/, iso/ and recycle-bin/ can be renamed, in place, and restored from recycle-bin/ " \
	"to private/ or iso/"

/* rename of an image in private/ or iso/: in place only (never EXDEV,
 * which would make mv copy). */
static int rename_image(struct fs_ctx *ctx, const struct fs_node *n, const struct fs_node *np, bool same_dir,
                        const char *newname, struct model_err *err)
{
	if (!same_dir)
		return model_fail(err, -EPERM, RENAME_WHY);
	return model_image_rename(ctx->m, n->img.id, newname, err);
}

/* rename of an image in recycle-bin/: in place, a rename (§16: names stay
 * editable there); to private/ or iso/ of its region, a restore (the model
 * refuses the one it did not come from). */
static int rename_bin_image(struct fs_ctx *ctx, const struct fs_node *n, const struct fs_node *np, bool same_dir,
                            const char *newname, struct model_err *err)
{
	if (same_dir)
		return model_image_rename(ctx->m, n->img.id, newname, err);
	if (np->what != FS_W_CLASS || (np->cls != FS_CLASS_PRIVATE && np->cls != FS_CLASS_ISO) ||
	    np->region.id != n->region.id)
		return model_fail(err, -EPERM, RENAME_WHY);
	return model_image_restore(ctx->m, n->img.id, np->cls == FS_CLASS_ISO ? MODEL_FOLDER_ISO : MODEL_FOLDER_PRIVATE,
	                           newname, err);
}

static const struct dir_verbs {
	const char *why; /* the reason of every verb it lacks; NULL: each verb's own */
	void (*mkdir)(fuse_req_t req, const struct fs_node *p, const char *name);
	void (*create)(fuse_req_t req, const struct fs_node *p, const char *name, struct fuse_file_info *fi);
	int (*rmdir)(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err);
	int (*unlink)(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err);
	int (*rename)(struct fs_ctx *ctx, const struct fs_node *n, const struct fs_node *np, bool same_dir,
	              const char *newname, struct model_err *err);
} dir_verbs[DK_COUNT] = {
	[DK_IMAGES] = {.mkdir = mkdir_object},
	[DK_INSTANCES] = {.mkdir = mkdir_object},
	[DK_SHARES] = {.mkdir = mkdir_image_sub},
	[DK_COPIES] = {.mkdir = mkdir_image_sub},
	[DK_IMAGE_DISKS] = {.create = ops_create_upload},
	[DK_VM_DISKS] = {.create = ops_create_vm_disk, .unlink = unlink_vm_disk},
	[DK_IMAGE] = {.rmdir = rmdir_image, .rename = rename_image},
	[DK_BIN_IMAGE] = {.rmdir = rmdir_bin_image, .rename = rename_bin_image},
	[DK_SNAP] = {.rmdir = rmdir_snap},
	[DK_VM] = {.rmdir = rmdir_vm},
	[DK_SHARE] = {.rmdir = fs_share_rmdir},   /* unshare (§6.4) */
	[DK_COPY] = {.rmdir = fs_copies_rmdir},   /* §6.3: copies are removed in their region */
	[DK_TENANT] = {.why = FS_TENANT_WHY},
	[DK_TENANT_IMAGE] = {.why = FS_TENANT_WHY, .rmdir = rmdir_image, .rename = rename_image},
	[DK_TENANT_BIN_IMAGE] = {.why = FS_TENANT_WHY, .rmdir = rmdir_bin_image, .rename = rename_bin_image},
	[DK_TENANT_SNAP] = {.why = FS_TENANT_WHY, .rmdir = rmdir_snap},
	[DK_INSIDE] = {.why = FS_INSIDE_WHY},
};

/* The reason a verb the kind of n lacks is refused with. */
static const char *verb_why(const struct fs_node *n, const char *generic)
{
	const char *why = dir_verbs[dir_kind(n)].why;
	return why ? why : generic;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	ops_count(req, FS_OP_MKDIR, parent, name);
	struct fs_node p;
	int rc;
	if ((rc = ops_resolve(req, parent, &p)) < 0) {
		ops_reply_err(req, -rc);
		return;
	}
	if (!p.caller.account_id) {
		ops_refuse(req, "mkdir", &p, name, -EACCES, "the caller has no account");
		return;
	}
	const struct dir_verbs *v = &dir_verbs[dir_kind(&p)];
	if (!v->mkdir) {
		ops_refuse(req, "mkdir", &p, name, -EPERM, verb_why(&p, "nothing can be created here"));
		return;
	}
	v->mkdir(req, &p, name);
}

/* What rmdir of n does.  A delete must work on a full disk (SPEC §12): one
 * that fails with ENOSPC (the database could not grow its log) is tried
 * again with a slice of the room the mount kept aside (model_space_reserve),
 * which is taken back once the delete has freed its files. */
static int do_rmdir(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	const struct dir_verbs *v = &dir_verbs[dir_kind(n)];
	if (!v->rmdir)
		return model_fail(err, -EPERM, "%s", verb_why(n, "this directory cannot be removed"));
	return v->rmdir(ctx, n, err);
}

/* Whether rmdir of n leaves an image directory that lives on: a delete
 * moves it to the recycle bin (SPEC §6.1), a destroy leaves it there,
 * `deleting`, until its chunks are freed (§16). */
static bool rmdir_keeps_dir(const struct fs_node *n)
{
	if (n->what != FS_W_IMAGE)
		return false;
	if (n->view == FS_VIEW_RECYCLE)
		return n->img.status == MODEL_IMG_DELETED;
	return (n->view == FS_VIEW_PRIVATE || n->view == FS_VIEW_ISO) &&
	       (n->img.status == MODEL_IMG_AVAILABLE || n->img.status == MODEL_IMG_ERROR);
}

#define RMDIR_RETRY_NS (10 * 1000000000LL) /* the kernel asks again at once */

/* Whether this rmdir of image n's directory goes ahead now (fs/fuse/fs.h, "A
 * delete").  The first one only gives the directory a new node id and is
 * answered ESTALE: the kernel (do_rmdir) then looks the name up again with
 * LOOKUP_REVAL, gets the new node id, drops its dentry of the old inode —
 * which whoever holds it keeps, alive — and sends the rmdir again, for
 * the new inode; that one goes ahead, and only the new inode is marked
 * dead (S_DEAD).  The table remembers the first answers for a moment
 * (image, the dir_gen it gave, when); a full table forgets the oldest,
 * whose rmdir, if it was still to come back, renews once more and fails
 * with ESTALE (the caller's retry goes through).  A dir_gen above the one
 * remembered matches too: another mount's rmdir of the same image renewed
 * it meanwhile, and the kernel's new lookup got a node id newer still
 * (without that, two mounts deleting one image at once each renewed the
 * other's and both failed with ESTALE). */
static bool rmdir_renewed(struct fs_ctx *ctx, const struct fs_node *n)
{
	const size_t slots = sizeof(ctx->rmdir_retry) / sizeof(ctx->rmdir_retry[0]);
	int64_t now = model_now_ns(), gen;
	struct fs_rmdir_retry *oldest;
	bool go = false;
	IMGFS_LOCK(&ctx->rmdir_lock, fs_ctx_rmdir_lock);
	for (size_t i = 0; i < slots && !go; i++) {
		struct fs_rmdir_retry *r = &ctx->rmdir_retry[i];
		if (r->image_id == n->img.id && r->dir_gen <= n->img.dir_gen && now - r->at_ns < RMDIR_RETRY_NS) {
			*r = (struct fs_rmdir_retry){0};
			go = true;
		}
	}
	IMGFS_UNLOCK(&ctx->rmdir_lock, fs_ctx_rmdir_lock);
	/* Failing the renewal, the rmdir happens at once (and a holder loses
	 * the directory, as before this existed). */
	if (go || model_image_renew_dir(ctx->m, n->img.id, &gen) < 0)
		return true;
	IMGFS_LOCK(&ctx->rmdir_lock, fs_ctx_rmdir_lock);
	oldest = &ctx->rmdir_retry[0];
	for (size_t i = 1; i < slots; i++)
		if (ctx->rmdir_retry[i].at_ns < oldest->at_ns)
			oldest = &ctx->rmdir_retry[i];
	*oldest = (struct fs_rmdir_retry){n->img.id, gen, now};
	IMGFS_UNLOCK(&ctx->rmdir_lock, fs_ctx_rmdir_lock);
	return false;
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ops_count(req, FS_OP_RMDIR, parent, name);
	struct fs_ctx *ctx = ops_ctx(req);
	struct model_err err = {0};
	struct fs_node p, n;
	int rc;
	if ((rc = ops_resolve_child(req, parent, name, &p, &n)) < 0) {
		ops_reply_err(req, -rc);
		return;
	}
	/* The kernel is asked to look again first (rmdir_renewed); that
	 * answer is no error of the operation's: not counted in /stats. */
	if (rmdir_keeps_dir(&n) && !rmdir_renewed(ctx, &n)) {
		fuse_reply_err(req, ESTALE);
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
		ops_refuse(req, "rmdir", &n, NULL, rc, err.msg);
		return;
	}
	ops_node_changed(ctx, &n);
	fs_tenant_log_change(ctx, "rmdir", &n, NULL); /* through tenants/ (§16) */
	if (n.what != FS_W_IMAGE || n.view != FS_VIEW_RECYCLE)
		ops_succeeded(ctx, &n); /* a delete to the bin, an unshare */
	else
		fs_workers_kick(ctx); /* a destroy: its task frees the chunks */
	for (int i = 0; i < ndevs; i++) {
		struct model_change c = {.kind = MODEL_CHANGE_SNAPSHOT, .obj = devs[i].snapshot_id,
		                         .region_id = n.img.region_id};
		if (devs[i].snapshot_id)
			fs_invalidate(ctx, &c, false);
	}
	ops_reply_err(req, 0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	ops_count(req, FS_OP_RENAME, parent, name);
	struct fs_ctx *ctx = ops_ctx(req);
	struct model_err err = {0};
	struct fs_node p, np, n;
	int rc;
	if ((rc = ops_resolve_child(req, parent, name, &p, &n)) < 0 ||
	    (rc = ops_resolve(req, newparent, &np)) < 0) {
		ops_reply_err(req, -rc);
		return;
	}
	/* RENAME_NOREPLACE is what every rename here does (EEXIST); anything
	 * else (RENAME_EXCHANGE, RENAME_WHITEOUT, flags a later kernel adds)
	 * would be done as a plain rename otherwise. */
	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		ops_refuse(req, "rename", &n, NULL, -EINVAL,
		       flags & RENAME_EXCHANGE ? "images cannot be exchanged"
		                               : "rename takes no flag but RENAME_NOREPLACE here");
		return;
	}
	/* A rename inside one private/, iso/ or recycle-bin/ directory, and a
	 * restore from recycle-bin/ to private/ or iso/ of the same region,
	 * exist (§6.1, §16); every other is EPERM, never EXDEV (which would
	 * make mv copy).  An image stays in the tree it is seen in: its
	 * owner's own, or tenants/<owner>/ (§16). */
	const struct dir_verbs *v = &dir_verbs[dir_kind(&n)];
	if (n.actor_id != np.actor_id || n.caller.account_id != np.caller.account_id)
		rc = model_fail(&err, -EPERM, "an image stays in its account's folders: through tenants/<account>/, it "
		                "is renamed in place and restored to private/ or iso/ beside its recycle-bin/");
	else
		rc = v->rename ? v->rename(ctx, &n, &np, parent == newparent, newname, &err)
		               : model_fail(&err, -EPERM, "%s", verb_why(&n, RENAME_WHY));
	if (rc < 0) {
		ops_refuse(req, "rename", &n, NULL, rc, err.msg);
		return;
	}
	fs_image_changed(ctx, &n.img, false);
	if (n.actor_id) {
		char to[1024];
		size_t len;
		fs_node_path(ctx, &np, to, sizeof(to));
		len = strlen(to);
		snprintf(to + len, sizeof(to) - len, "/%s", newname);
		fs_tenant_log_change(ctx, "rename", &n, to);
	}
	ops_succeeded(ctx, &n);
	ops_reply_err(req, 0);
}

/* ---- operations that do not exist (SPEC §12: EPERM, never ENOSYS) -------- */

static void eperm_at(fuse_req_t req, fuse_ino_t parent, const char *name, const char *op)
{
	struct fs_node p;
	int rc = ops_resolve(req, parent, &p);
	if (rc < 0)
		ops_reply_err(req, -rc);
	else
		ops_refuse(req, op, &p, name, -EPERM, verb_why(&p, "not supported in this tree"));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ops_count(req, FS_OP_UNLINK, parent, name);
	struct fs_ctx *ctx = ops_ctx(req);
	struct model_err err = {0};
	struct fs_node p, n;
	int rc;
	if ((rc = ops_resolve_child(req, parent, name, &p, &n)) < 0) {
		ops_reply_err(req, -rc);
		return;
	}
	const struct dir_verbs *v = &dir_verbs[dir_kind(&p)];
	if (!v->unlink) {
		ops_refuse(req, "unlink", &n, NULL, -EPERM, verb_why(&p, "files here are removed with their directory"));
		return;
	}
	/* Detaching frees the disk's room: it works on a full disk (do_rmdir). */
	bool released = false;
	while ((rc = v->unlink(ctx, &n, &err)) == -ENOSPC &&
	       model_space_release(ctx->m)) {
		err = (struct model_err){0};
		released = true;
	}
	if (released)
		model_space_reserve(ctx->m);
	if (rc < 0) {
		ops_refuse(req, "unlink", &n, NULL, rc, err.msg);
		return;
	}
	ops_node_changed(ctx, &n);
	ops_reply_err(req, 0);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	ops_count(req, FS_OP_MKNOD, parent, name);
	eperm_at(req, parent, name, "mknod");
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	ops_count(req, FS_OP_SYMLINK, parent, name);
	eperm_at(req, parent, name, "symlink");
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	ops_count(req, FS_OP_LINK, ino, newname);
	eperm_at(req, newparent, newname, "link");
}


static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	ops_count(req, FS_OP_CREATE, parent, name);
	struct fs_node p;
	int rc;
	if ((rc = ops_resolve(req, parent, &p)) < 0) {
		ops_reply_err(req, -rc);
		return;
	}
	const struct dir_verbs *v = &dir_verbs[dir_kind(&p)];
	if (!v->create) {
		ops_refuse(req, "create", &p, name, -EPERM, verb_why(&p, "files here are made by the service"));
		return;
	}
	v->create(req, &p, name, fi);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	ops_count(req, FS_OP_READLINK, ino, NULL);
	/* Symlinks exist inside images only (§18): their targets as stored. */
	struct fs_node n;
	char target[4096];
	int rc = ops_resolve(req, ino, &n);
	if (rc == 0 && (n.what != FS_W_INSIDE || !S_ISLNK(n.inside.st.mode)))
		rc = -EINVAL;
	if (rc == 0)
		rc = fs_inside_readlink(ops_ctx(req), &n, target, sizeof(target));
	if (rc < 0)
		ops_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
}

/* ---- the file system ----------------------------------------------------- */

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	ops_count(req, FS_OP_STATFS, ino, NULL);
	struct statvfs st;
	if (statvfs(model_state_dir(ops_ctx(req)->m), &st) < 0) {
		ops_reply_err(req, errno);
		return;
	}
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs_ctx *ctx = userdata;
	/* Large requests and many of them in flight (docs/fuse-notes.md: FAST '17). */
	conn->max_write = BLOB_CHUNK_SIZE;
	conn->max_readahead = BLOB_CHUNK_SIZE;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	/* Readdirplus when the kernel expects the attributes, plain readdir
	 * when not (FUSE_CAP_READDIRPLUS_AUTO: a directory's first readdir,
	 * and the next after a lookup in it, are READDIRPLUS): `ls -f` and a
	 * walk by names then cost no attributes — under files/ an inode read
	 * each (§18.7, issue 67: a whole `ls -f` of 100,000 guest entries
	 * read every inode, 240 times fuse2fs's CPU). */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
		conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
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
	.open = ops_open,
	.read = ops_read,
	.write = ops_write,
	.flush = ops_flush,
	.release = ops_release,
	.fsync = ops_fsync,
	.readdir = op_readdir,
	.opendir = op_opendir,
	.readdirplus = op_readdirplus,
	.statfs = op_statfs,
	.setxattr = ops_setxattr,
	.getxattr = ops_getxattr,
	.listxattr = ops_listxattr,
	.removexattr = ops_removexattr,
	.create = op_create,
	.lseek = ops_lseek,
	.poll = ops_poll,
	.fallocate = ops_fallocate,
	.copy_file_range = ops_copy_file_range,
};

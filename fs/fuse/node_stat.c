/*
 * node_stat.c — a resolved node's attributes: its struct stat (type, mode,
 * links, size, blocks, owner, times) and how long the kernel may keep them
 * (fs_node_timeout).  node.c turns inode numbers and names into nodes;
 * this file is what a node shows once it is one.
 *
 * Who calls it: the handlers above the resolver (req.c's getattr and
 * entry replies, ops.c after a change) and the unit tests; no file of the
 * resolver-provider knot (node.c's header) calls it, so it stands above
 * the knot and is no member of it: it asks a provider's node of the
 * provider (dirs.h's table, through fs_node_provider), a generated file's
 * size of its rendering (counted, not kept: attr.c's fs_render into a
 * counting buffer), a disk's of the blob store, the upload path or the
 * open disks.
 *
 * Its load: one stat per getattr, lookup and listing entry the kernel
 * does not have cached.  A generated file's size is a rendering's, counted
 * without keeping it (a stat of a 5 MiB images.json holds no 5 MiB); the
 * rest is the node's rows, already read by the resolver, and at most one
 * statement (a blob's row, a region's mtime).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "attr.h"
#include "buf.h"
#include "dirs.h"
#include "disk.h"
#include "fs.h"
#include "log.h"
#include "stats.h"

#define NS 1000000000LL

static void set_time(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = ns / NS;
	ts->tv_nsec = ns % NS;
}

static int max_region_created(void *arg, const struct model_region *r)
{
	int64_t *t = arg;
	if (r->created_ns > *t)
		*t = r->created_ns;
	return 0;
}

/* Length of a generated file's content as it would be rendered now:
 * counted, not kept (a stat of a 5 MiB images.json holds no 5 MiB). */
static int generated_size(struct fs_ctx *ctx, const struct fs_node *n, off_t *size, int64_t *mtime_ns)
{
	struct fs_buf b = {.count = true};
	int rc = fs_render(ctx, n, &b, mtime_ns);
	*size = (off_t)b.len;
	fs_buf_release(&b);
	return rc;
}

void fs_node_disk_attr(const struct fs_node *n, uint64_t size, uint64_t stored, int64_t mtime_ns, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = fs_node_st_ino(n);
	st->st_uid = n->caller.uid;
	st->st_gid = n->caller.gid;
	st->st_blksize = BLOB_CHUNK_SIZE;
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((stored + 511) / 512);
	set_time(&st->st_mtim, mtime_ns);
	st->st_ctim = st->st_atim = st->st_mtim;
}

int fs_node_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st)
{
	int64_t mtime = 0, ctime = 0;
	bool root;
	const struct fs_dir_ops *p = fs_node_provider(n, &root);
	int rc;
	memset(st, 0, sizeof(*st));
	st->st_ino = fs_node_st_ino(n);
	st->st_uid = n->caller.uid;
	st->st_gid = n->caller.gid;
	st->st_blksize = BLOB_CHUNK_SIZE;
	if (p && !root) {
		if ((rc = p->stat(ctx, n, st, &mtime, &ctime)) != 0)
			return rc < 0 ? rc : 0; /* 1: st whole, its times the provider's */
		goto times;
	}
	switch (n->what) {
	case FS_W_ROOT:
	case FS_W_REGIONS:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = n->what == FS_W_ROOT ? 3 : 1;
		model_region_list(ctx->m, 0, max_region_created, &mtime);
		break;
	case FS_W_REGION: {
		struct fs_caller c = n->caller; /* its role may be read */
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2 + FS_CLASS_COUNT - 1 + (fs_tenants_visible(ctx, &c) ? 1 : 0);
		mtime = n->region.created_ns;
		break;
	}
	case FS_W_CLASS:
		/* mkdir creates entries in private/, iso/ and instances/ (not
		 * through tenants/, §16). */
		st->st_mode = S_IFDIR | (!n->actor_id && (n->cls == FS_CLASS_PRIVATE || n->cls == FS_CLASS_ISO ||
		                                          n->cls == FS_CLASS_INSTANCES)
		                                 ? 0755 : 0555);
		st->st_nlink = 1; /* unknown: tools must not assume a leaf */
		mtime = model_region_mtime(ctx->m, n->region.id);
		break;
	case FS_W_QUOTA:
	case FS_W_CSV:
	case FS_W_JSON:
	case FS_W_GUIDE:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		mtime = model_region_mtime(ctx->m, n->region.id);
		if ((rc = generated_size(ctx, n, &st->st_size, &mtime)) < 0)
			return rc;
		break;
	case FS_W_STATS:
		/* Counters change with every request: the size is that of a
		 * rendering now, the times are now (like /proc).  Who may not
		 * read it sees its owner, its mode and no size (stats.c). */
		st->st_mode = S_IFREG | fs_stats_mode(ctx);
		st->st_nlink = 1;
		mtime = model_now_ns();
		if (fs_stats_mode(ctx) != 0444) {
			st->st_uid = ctx->uid;
			st->st_gid = ctx->gid;
		}
		if (fs_stats_readable(ctx, &n->caller) && (rc = generated_size(ctx, n, &st->st_size, &mtime)) < 0)
			return rc;
		break;
	case FS_W_ERRORS: {
		/* Each caller's own lines (log.c): its size is theirs, its
		 * mtime their newest refusal's; with none, the root's (the
		 * newest region's making): a file with nothing in it has not
		 * changed, and backups and remounts see the same time. */
		struct fs_buf b = {0};
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		mtime = fs_show_errors(ctx, &n->caller, &b);
		if (!mtime)
			model_region_list(ctx->m, 0, max_region_created, &mtime);
		st->st_size = (off_t)b.len;
		rc = b.failed ? -ENOMEM : 0;
		fs_buf_release(&b);
		if (rc < 0)
			return rc;
		break;
	}
	case FS_W_IMAGE:
	case FS_W_SUBDIR:
	case FS_W_SNAP:
	case FS_W_VM: {
		bool own = !n->actor_id && (n->view == FS_VIEW_PRIVATE || n->view == FS_VIEW_ISO);
		/* disks/ of a queued image takes an upload (§5.3) */
		bool up = fs_ino_kind(n->ino) == FS_K_IMAGE && n->what == FS_W_SUBDIR && n->attr->sub == FS_SUB_DISKS &&
		          n->img.status == MODEL_IMG_QUEUED;
		bool mk = n->what == FS_W_SUBDIR && ((own && (n->attr->sub != FS_SUB_DISKS || up)) ||
		                                     fs_ino_kind(n->ino) == FS_K_VM);
		st->st_mode = S_IFDIR | (mk ? 0755 : 0555);
		/* An image's subdirectories: disks/ and files/ (§18), copies/ and shares/ */
		st->st_nlink = n->what == FS_W_IMAGE ? 2 + (n->view == FS_VIEW_PRIVATE ? 4 : 2)
		               : n->what == FS_W_VM || n->what == FS_W_SNAP ? 3 /* disks/, files/ */
		                                                            : 2;
		if (mk)
			st->st_nlink = 1;
		if (fs_ino_kind(n->ino) == FS_K_IMAGE) {
			mtime = n->img.dir_mtime_ns;
			ctime = n->img.ctime_ns;
			if (n->what == FS_W_SUBDIR && n->attr->sub == FS_SUB_COPIES)
				mtime = fs_copies_dir_mtime(ctx, n); /* its copies come and go (§6.3) */
		} else if (fs_ino_kind(n->ino) == FS_K_SNAP) {
			mtime = n->snap.created * NS;
			ctime = n->snap.ctime_ns;
		} else {
			/* disks/ changes with attach, detach and rebuild */
			mtime = n->what == FS_W_SUBDIR && n->vm.dir_mtime_ns ? n->vm.dir_mtime_ns : n->vm.created * NS;
			ctime = n->vm.ctime_ns;
		}
		break;
	}
	case FS_W_ATTR:
		st->st_mode = S_IFREG | (n->attr->flags & FS_ATTR_SECRET ? 0200 : fs_attr_is_writable(n) ? 0644 : 0444);
		st->st_nlink = 1;
		if ((rc = generated_size(ctx, n, &st->st_size, &mtime)) < 0)
			return rc;
		switch (fs_ino_kind(n->ino)) {
		case FS_K_IMAGE:
			mtime = n->img.mtime_ns;
			if (n->attr->mtime && !(n->view == FS_VIEW_SHARED && (n->attr->flags & FS_ATTR_OWNER_TIME))) {
				int64_t own;
				memcpy(&own, (const char *)&n->img + n->attr->mtime, sizeof(own));
				if (own)
					mtime = own;
			}
			ctime = mtime; /* the file's own: a change elsewhere in the image is not one of this file */
			break;
		case FS_K_SNAP: mtime = n->snap.mtime_ns; ctime = n->snap.ctime_ns; break;
		default: mtime = n->vm.mtime_ns; ctime = n->vm.ctime_ns; break;
		}
		break;
	case FS_W_DISK: {
		struct model_blob b;
		if (fs_node_is_vm_disk(n) || fs_node_is_upload(n) || fs_node_is_import(n)) {
			uint64_t size, stored;
			if ((rc = !fs_node_is_vm_disk(n) ? fs_upload_stat(ctx, n, &size, &stored, &mtime)
			                               : fs_disk_stat(ctx, n, &size, &stored, &mtime)) < 0)
				return rc;
			fs_node_disk_attr(n, size, stored, mtime, st);
			return 0;
		}
		if ((rc = model_blob_get(ctx->m, n->blob_id, &b)) < 0)
			return rc;
		st->st_mode = S_IFREG | (fs_node_blob_access(ctx, n, NULL) < 0 ? 0000 : 0444);
		st->st_nlink = 1;
		st->st_size = (off_t)b.size;
		/* Never 0 when data exists: tar --sparse would store all holes. */
		st->st_blocks = (blkcnt_t)((b.stored + 511) / 512);
		mtime = b.mtime_ns;
		break;
	}
	default:
		return -ENOENT;
	}
times:
	set_time(&st->st_mtim, mtime);
	set_time(&st->st_ctim, ctime > mtime ? ctime : mtime);
	st->st_atim = st->st_mtim;
	return 0;
}

double fs_node_timeout(const struct fs_ctx *ctx, const struct fs_node *n)
{
	/* Attributes (owner, mode, sizes of per-caller files) differ by caller
	 * under multiuser, and the kernel caches them per inode; who may see
	 * tenants/ changes with roles (§16). */
	if (ctx->multiuser || fs_node_in_tenants(n))
		return 0;
	switch (n->what) {
	case FS_W_REGIONS:
	case FS_W_CLASS:
	case FS_W_QUOTA:
	case FS_W_CSV:
	case FS_W_JSON:
	case FS_W_GUIDE:
	case FS_W_STATS:
	case FS_W_ERRORS:
		return 0;
	case FS_W_COPY:
	case FS_W_COPY_FILE:
		return 0; /* a task in another region changes them (copies.c) */
	case FS_W_SUBDIR:
		/* copies/ too: its mtime follows the copies, and a copy's change
		 * reaches it through the change log (fs_copies_forget). */
		return ctx->timeout;
	case FS_W_DISK:
		/* An instance's disk changes under writers of other mounts, which
		 * log a change only when they close it. */
		return fs_node_is_vm_disk(n) || fs_node_is_upload(n) ? 0 : ctx->timeout;
	default:
		return ctx->timeout;
	}
}

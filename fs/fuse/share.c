/*
 * share.c — the shares/ directory of a private image (SPEC §6.4): what it
 * lists, how its entries resolve, mkdir (share) and rmdir (unshare), and
 * what the watcher drops from other mounts' caches when a receiver's
 * shared/<name>@<owner> entry goes away.
 *
 * Who calls it: node.c (lookup, resolve, list, stat of shares/ and its
 * entries), ops.c (mkdir, rmdir), watch.c.  The rules (who may receive,
 * quotas) are the model's (model/meta/share.c); the receiver's view of the
 * image (attributes readable, blobs EACCES, nothing writable) is node.c's
 * and attr.c's FS_VIEW_SHARED.
 *
 * shares/ appears only in the owner's view (private/).  Each
 * shares/<account> is an empty directory: the share has nothing to show
 * but that it exists and since when (its mtime).  Its inode is the image's
 * with sub FS_SUB_SHARE + the receiver's account id (fs.h), which is why
 * model_share_add refuses receivers beyond MODEL_SHARE_ACCOUNT_MAX.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "dirs.h"
#include "fs.h"

_Static_assert(FS_SUB_SHARE + MODEL_SHARE_ACCOUNT_MAX <= 0xffff, "shares/<account> inodes fit the 16-bit sub");

#define NS 1000000000LL

/* Makes n (a node of the image) the node of share s. */
static void share_node(struct fs_node *n, const struct model_share *s)
{
	n->share = *s;
	n->what = FS_W_SHARE;
	n->attr = NULL;
	n->ino = fs_ino(FS_K_IMAGE, n->img.id, FS_SUB_SHARE + (unsigned)s->account_id);
}

int fs_share_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name)
{
	struct model_share s;
	int rc;
	if (n->view != FS_VIEW_PRIVATE)
		return -ENOENT;
	if ((rc = model_share_lookup(ctx->m, n->img.id, name, &s)) < 0)
		return rc;
	share_node(n, &s);
	return 0;
}

int fs_share_resolve(struct fs_ctx *ctx, struct fs_node *n, unsigned sub)
{
	struct model_share s;
	int rc;
	if (n->view != FS_VIEW_PRIVATE || sub <= FS_SUB_SHARE)
		return -ENOENT;
	if ((rc = model_share_get(ctx->m, n->img.id, (int64_t)(sub - FS_SUB_SHARE), &s)) < 0)
		return rc;
	share_node(n, &s);
	return 0;
}

struct share_list {
	struct fs_node *work;
	fs_emit_fn emit;
	void *arg;
};

static int list_one(void *arg, const struct model_share *s)
{
	struct share_list *l = arg;
	share_node(l->work, s);
	return l->emit(l->arg, s->account, l->work, (off_t)s->account_id + 2);
}

int fs_share_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	struct fs_node work = *dir;
	struct share_list l = {&work, emit, arg};
	if (dir->view != FS_VIEW_PRIVATE || !(dir->img.refs & MODEL_REF_SHARES))
		return 0;
	return model_share_list(ctx->m, dir->img.id, off > 2 ? off - 2 : 0, list_one, &l);
}

void fs_share_stat(const struct fs_node *n, struct stat *st, int64_t *mtime_ns)
{
	/* Nothing is made inside; rmdir needs only shares/ writable. */
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	*mtime_ns = n->share.created * NS;
}

int fs_share_mkdir(struct fs_ctx *ctx, const struct fs_node *p, const char *name, struct fs_node *out,
                   struct model_err *err)
{
	int rc;
	if (p->view != FS_VIEW_PRIVATE)
		return model_fail(err, -EPERM, "only the owner of a private image shares it");
	if ((rc = model_share_add(ctx->m, p->img.id, name, err)) < 0)
		return rc;
	*out = *p;
	/* The row changed (dir_mtime_ns): the new entry's node carries it. */
	if ((rc = model_image_get(ctx->m, p->img.id, &out->img)) < 0)
		return rc;
	return fs_share_lookup(ctx, out, name);
}

int fs_share_rmdir(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	if (n->view != FS_VIEW_PRIVATE)
		return model_fail(err, -EPERM, "only the owner of a private image unshares it");
	return model_share_remove(ctx->m, n->img.id, n->share.account, err);
}

void fs_share_forget_entry(struct fs_ctx *ctx, const struct model_change *c)
{
	struct model_image img;
	char name[2 * MODEL_NAME_MAX + 2];
	if (c->kind != MODEL_CHANGE_IMAGE || c->folder != MODEL_FOLDER_PRIVATE || !c->name[0])
		return;
	/* The owner's name is not in the change; the row outlives every
	 * change that takes a shared entry away (rename, delete to the
	 * recycle bin, unshare).  Kernels that hold no such name ignore this. */
	if (model_image_get(ctx->m, c->obj, &img) < 0 || img.account_id == 0)
		return;
	int len = snprintf(name, sizeof(name), "%s@%s", c->name, img.owner);
	if (len > 0 && (size_t)len < sizeof(name))
		fuse_lowlevel_notify_inval_entry(ctx->se, fs_ino(FS_K_REGION, c->region_id, FS_CLASS_SHARED), name,
		                                 (size_t)len);
}

/*
 * copies.c — private/<image>/copies/ (SPEC §6.3): `mkdir copies/<region>`
 * copies the image to that region; copies/ lists, by region name, the
 * copies of the image still in their region's private/ (one per region:
 * while one is there, another copy to that region is EEXIST — remove it
 * there first); copies/<region>/ holds status, progress and image (the
 * copy's id).  A copy that leaves its private/ (deleted there) leaves
 * copies/ with it.  rmdir copies/<region> is EPERM: a copy is undone by
 * removing the image in its region.
 *
 * Who calls it: node.c (resolve, lookup, list, stat, path of these nodes),
 * ops.c (mkdir, rmdir), watch.c (a copy's change reaches its source's
 * copies/ entries).
 *
 * Inode numbers: copies/<region> is sub FS_SUB_COPY + 4 * region id, its
 * files + 1 .. 3 (fs.h).  The node keeps the source image (n->img, whose
 * owner's view it is) and the copy's row id (n->copy_id).  The files'
 * content comes from the copy image, which a task changes in another
 * region: their attributes are never cached (timeout 0), and the copies/
 * directory's mtime is the newest change of any copy (so the kernel drops
 * a listing it cached when a copy comes or goes).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "attr.h"
#include "buf.h"
#include "dirs.h"
#include "fs.h"
#include "pollers.h"
#include "watch.h"

#define NS 1000000000LL
#define COPY_FILES 3 /* status, progress, image */

static int copy_image(struct fs_ctx *ctx, const struct fs_node *n, struct model_image *out)
{
	return model_image_get(ctx->m, n->copy_id, out);
}

static void show_copy_status(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct model_image c;
	if (copy_image(ctx, n, &c) == 0)
		fs_buf_value(out, model_image_status_name(c.status));
}

static void show_copy_progress(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct model_image c;
	if (copy_image(ctx, n, &c) == 0)
		fs_buf_printf(out, "%d\n", c.status == MODEL_IMG_AVAILABLE ? 100 : c.progress);
}

static void show_copy_image(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct model_image c;
	if (copy_image(ctx, n, &c) == 0)
		fs_buf_value(out, c.ext_id);
}

static const struct fs_attr copy_files[COPY_FILES] = {
	{.name = "status", .show = show_copy_status},
	{.name = "progress", .show = show_copy_progress},
	{.name = "image", .show = show_copy_image},
};

/* n (an image directory node, or any node of one) becomes entry f (0: the
 * directory, 1.. its files) of copies/<region>, copy being the copy there. */
static int copy_node_of(struct fs_node *n, const struct model_image *copy, unsigned f)
{
	int64_t region_id = copy->region_id;
	if (n->view != FS_VIEW_PRIVATE || region_id <= 0 || region_id >= (FS_SUB_SHARE - FS_SUB_COPY) / 4 ||
	    f > COPY_FILES)
		return -ENOENT;
	n->copy_id = copy->id;
	n->what = f ? FS_W_COPY_FILE : FS_W_COPY;
	n->attr = f ? &copy_files[f - 1] : NULL;
	n->ino = fs_ino(FS_K_IMAGE, n->img.id, FS_SUB_COPY + 4 * (unsigned)region_id + f);
	return 0;
}

/* The same, looking the copy in region_id up (never from inside a walk of
 * model_image_copies: it runs that statement again). */
static int copy_node(struct fs_ctx *ctx, struct fs_node *n, int64_t region_id, unsigned f)
{
	struct model_image c;
	int rc;
	if (n->view != FS_VIEW_PRIVATE || region_id <= 0)
		return -ENOENT;
	if ((rc = model_image_copy_in(ctx->m, n->img.id, region_id, &c)) < 0)
		return rc;
	return copy_node_of(n, &c, f);
}

static int64_t copy_region(const struct fs_node *n)
{
	return (int64_t)((fs_ino_sub(n->ino) - FS_SUB_COPY) / 4);
}

int fs_copies_resolve(struct fs_ctx *ctx, struct fs_node *n, unsigned sub)
{
	return copy_node(ctx, n, (int64_t)((sub - FS_SUB_COPY) / 4), (sub - FS_SUB_COPY) % 4);
}

int fs_copies_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name)
{
	struct model_region r;
	if (n->what == FS_W_COPY) {
		for (unsigned i = 0; i < COPY_FILES; i++)
			if (strcmp(copy_files[i].name, name) == 0)
				return copy_node(ctx, n, copy_region(n), i + 1);
		return -ENOENT;
	}
	if (model_region_by_name(ctx->m, name, &r) < 0)
		return -ENOENT;
	return copy_node(ctx, n, r.id, 0);
}

struct copies_list {
	struct fs_ctx *ctx;
	const struct fs_node *dir;
	off_t off;
	fs_emit_fn emit;
	void *arg;
};

static int list_copy(void *arg, const struct model_image *copy)
{
	struct copies_list *l = arg;
	struct model_region r;
	struct fs_node work = *l->dir;
	if ((off_t)copy->region_id + 2 <= l->off || model_region_get(l->ctx->m, copy->region_id, &r) < 0 ||
	    copy_node_of(&work, copy, 0) < 0)
		return 0;
	return l->emit(l->arg, r.name, &work, (off_t)copy->region_id + 2);
}

int fs_copies_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	struct copies_list l = {ctx, dir, off, emit, arg};
	if (dir->what == FS_W_COPY) {
		for (unsigned i = 0; i < COPY_FILES; i++) {
			struct fs_node work = *dir;
			int rc;
			if ((off_t)i + 3 <= off || copy_node(ctx, &work, copy_region(dir), i + 1) < 0)
				continue;
			if ((rc = emit(arg, copy_files[i].name, &work, (off_t)i + 3)) != 0)
				return rc;
		}
		return 0;
	}
	if (dir->view != FS_VIEW_PRIVATE || !(dir->img.refs & MODEL_REF_COPIES))
		return 0;
	return model_image_copies(ctx->m, dir->img.id, list_copy, &l);
}

int fs_copies_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st, int64_t *mtime_ns, int64_t *ctime_ns)
{
	struct model_image c;
	struct fs_buf b = {0};
	int rc;
	if ((rc = copy_image(ctx, n, &c)) < 0)
		return rc;
	if (n->what == FS_W_COPY) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		*mtime_ns = c.created * NS; /* its entries never change */
		*ctime_ns = c.ctime_ns;
		return 0;
	}
	n->attr->show(n, ctx, &b);
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)b.len;
	rc = b.failed ? -ENOMEM : 0;
	fs_buf_release(&b);
	*mtime_ns = *ctime_ns = c.mtime_ns;
	return rc;
}

int fs_copies_mkdir(struct fs_ctx *ctx, const struct fs_node *p, const char *name, struct fs_node *out,
                    struct model_err *err)
{
	struct model_region r;
	int rc;
	if (p->view != FS_VIEW_PRIVATE)
		return model_fail(err, -EPERM, "only private images are copied");
	if (model_region_by_name(ctx->m, name, &r) < 0)
		return model_fail(err, -ENOENT, "no region named %s", name);
	if ((rc = model_image_copy(ctx->m, p->img.id, r.id, NULL, err)) < 0)
		return rc;
	fs_workers_kick(ctx);
	*out = *p;
	/* The source's row changed (its copies/ time): read it again. */
	if ((rc = model_image_get(ctx->m, p->img.id, &out->img)) < 0)
		return rc;
	return copy_node(ctx, out, r.id, 0);
}

int64_t fs_copies_dir_mtime(struct fs_ctx *ctx, const struct fs_node *n)
{
	int64_t t = n->img.copies_ctime_ns;
	if (t < 0) /* not read with the image (model_image.refs) */
		t = model_image_copies_mtime(ctx->m, n->img.id);
	return t > n->img.dir_mtime_ns ? t : n->img.dir_mtime_ns;
}

int fs_copies_rmdir(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	return model_fail(err, -EPERM, "a copy cannot be undone here; remove the image in its region");
}

void fs_copies_forget(struct fs_ctx *ctx, const struct model_change *c, bool names)
{
	struct model_region r;
	int64_t src = c->img.origin_id;
	if (!ctx->se || c->kind != MODEL_CHANGE_IMAGE || strcmp(c->img.origin_kind, "copy") != 0 || !src)
		return;
	/* The source's copies/ listing and the copy's entry there. */
	fuse_lowlevel_notify_inval_inode(ctx->se, fs_ino(FS_K_IMAGE, src, FS_SUB_COPIES), -1, 0);
	for (unsigned f = 0; f <= COPY_FILES; f++) {
		fuse_ino_t ino = fs_ino(FS_K_IMAGE, src, FS_SUB_COPY + 4 * (unsigned)c->region_id + f);
		fuse_lowlevel_notify_inval_inode(ctx->se, ino, -1, 0);
		fs_poll_wake(ctx->pollers, ino); /* imgfs wait on copies/<region>/ */
	}
	if (names && model_region_get(ctx->m, c->region_id, &r) == 0)
		fuse_lowlevel_notify_inval_entry(ctx->se, fs_ino(FS_K_IMAGE, src, FS_SUB_COPIES), r.name, strlen(r.name));
}

void fs_copies_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap)
{
	struct model_region r;
	char region[MODEL_NAME_MAX + 1] = "?", where[2 * MODEL_NAME_MAX + 16];
	if (model_region_get(ctx->m, copy_region(n), &r) == 0)
		snprintf(region, sizeof(region), "%s", r.name);
	fs_node_where(n, where, sizeof(where));
	snprintf(out, cap, "/regions/%s/private/%s/copies/%s%s%s", where, n->img.name, region,
	         n->attr ? "/" : "", n->attr ? n->attr->name : "");
}

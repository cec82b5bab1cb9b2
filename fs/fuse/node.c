/*
 * node.c — from inode numbers and names to nodes: a caller, a node
 * resolved by number (fs_node_resolve) or looked up by name
 * (fs_node_lookup), a directory's listing (which makes a node of each
 * entry), and a node's path for the log.  What a node shows once it is
 * one — its struct stat and its timeout — is node_stat.c's.  Resolution
 * keeps no state of its own: every request resolves its inode afresh, its
 * object's row from the model (images through the model's row cache,
 * which the change log keeps true) and its region from the model's memory
 * (a region's row never changes but for its mtime), so a second mount or
 * an admin command sees the same tree.
 *
 * Visibility is decided here, once: an object the caller may not see
 * resolves to -ENOENT by name and by inode number alike (SPEC §8).  What is
 * seen through tenants/ (§16) is decided in tenants.c, which this file
 * asks for tenants/ and everything below it.
 *
 * The directory providers — shares/ (share.c), copies/ (copies.c),
 * tenants/ (tenants.c), files/ (inside.c) — are asked through one table,
 * dir_providers below (dirs.h: struct fs_dir_ops), not a case in each of
 * resolve, lookup, stat, list and path: dir_verbs (ops.c) applied to
 * reads.  The providers call back into this file (fs_node_path,
 * fs_node_resolve, fs_caller_is_admin): resolver and providers are one
 * knot by nature (the kernel's kernfs and its cftype files are too), and
 * the table is where it is tied, once.
 *
 * The knot (the one accepted circle of fs/fuse: scripts/house-check.allow's
 * "circle fuse-knot", checked by scripts/house-check --build; the arrows
 * as `scripts/circles build fs/fuse -v` prints them):
 *   node.c -> attr.c, copies.c, tenants.c, inside.c: a node's table of
 *     files and its providers' resolve, lookup, list, stat and path;
 *   attr.c, copies.c, tenants.c, inside.c, inspect.c, upload.c, stats.c
 *     -> node.c: a provider names a node for the log (fs_node_path,
 *     fs_node_where), resolves one it points to (fs_node_resolve), or asks
 *     who the caller is (fs_caller_is_admin);
 *   attr.c -> stats.c, upload.c, inspect.c: /stats' rendering, an upload's
 *     cancel file, the inspection files are attribute files of the table;
 *   attr.c, upload.c -> watch.c -> attr.c, copies.c: a stored value
 *     changes the image and the kernel's caches go; the watcher walks the
 *     image files' tables to name what changed;
 *   stats.c, inspect.c -> inside.c: /stats shows the helpers' counters,
 *     an inspection reads an image's volumes through them (inspect.c,
 *     which attr.c shows: issue 50).
 * (inside_helper.c and inside_lvm.c left it when the helpers' table became
 * the mount's room, ctx->inside: issue 48 step 2.)
 * It is inherent because a path is resolved through its provider and a
 * provider needs the resolver to name and resolve what it shows; the
 * handlers (ops.c, xattr.c, files.c), their request helpers (req.c) and a
 * node's attributes (node_stat.c) are above it and none of the knot calls
 * them (issue 48 step 4).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "attr.h"
#include "dirs.h"
#include "fs.h"
#include "log.h"

int fs_caller_get(struct fs_ctx *ctx, fuse_req_t req, struct fs_caller *out)
{
	if (!ctx->multiuser) {
		/* The role is read when a node needs it (fs_caller_role). */
		*out = (struct fs_caller){.account_id = ctx->account_id, .uid = ctx->uid, .gid = ctx->gid};
		fs_log_set_account(out->account_id, out->uid); /* whose /errors a refusal goes to */
		return 0;
	}
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct model_account a;
	out->uid = fc->uid;
	out->gid = fc->gid;
	out->role_known = true; /* read with the account (§16) */
	out->admin = out->has_subs = false;
	out->account_id = 0;
	if (model_account_by_uid(ctx->m, fc->uid, &a) == 0) {
		out->account_id = a.id;
		out->admin = a.admin;
		out->has_subs = a.has_subs;
	}
	fs_log_set_account(out->account_id, out->uid);
	return 0;
}

/* Root and the user who mounted: what they may see of the service is
 * theirs to see anyway (the state directory is theirs); and administrator
 * accounts (§16; their role is read with the account in a multi-user
 * mount, the only one where this matters). */
bool fs_caller_is_admin(const struct fs_ctx *ctx, const struct fs_caller *c)
{
	return c->uid == 0 || c->uid == ctx->uid || (c->account_id && c->role_known && c->admin);
}

/* ---- building nodes ------------------------------------------------------ */

static void node_init(struct fs_node *n, const struct fs_caller *caller)
{
	n->what = FS_W_INVALID;
	n->cls = FS_CLASS_NONE;
	n->view = FS_VIEW_NONE;
	n->attr = NULL;
	n->caller = *caller;
	n->blob_id = 0;
	n->actor_id = 0;
	n->tenant.id = 0;
	n->tenant.name[0] = '\0';
}

/* How the caller sees img; FS_VIEW_NONE when it may not. */
static enum fs_view image_view(struct fs_ctx *ctx, const struct fs_caller *c, const struct model_image *img)
{
	if (img->account_id == 0)
		return img->folder == MODEL_FOLDER_PUBLIC      ? FS_VIEW_PUBLIC
		       : img->folder == MODEL_FOLDER_MARKETPLACE ? FS_VIEW_MARKETPLACE
		                                                 : FS_VIEW_NONE;
	if (c->account_id && img->account_id == c->account_id)
		return img->folder == MODEL_FOLDER_PRIVATE ? FS_VIEW_PRIVATE
		       : img->folder == MODEL_FOLDER_ISO   ? FS_VIEW_ISO
		       : img->folder == MODEL_FOLDER_RECYCLE ? FS_VIEW_RECYCLE
		                                             : FS_VIEW_NONE;
	if (c->account_id && img->folder == MODEL_FOLDER_PRIVATE && model_image_shared_with(ctx->m, img->id, c->account_id))
		return FS_VIEW_SHARED;
	return FS_VIEW_NONE;
}

/* Makes n the directory node of an image already loaded into n->img. */
static int image_dir(struct fs_ctx *ctx, struct fs_node *n)
{
	n->view = image_view(ctx, &n->caller, &n->img);
	/* Through tenants/ (§16): the tenant's own images only, not what is
	 * shared with it. */
	if (n->view == FS_VIEW_NONE || (n->actor_id && n->view == FS_VIEW_SHARED))
		return -ENOENT;
	n->what = FS_W_IMAGE;
	n->ino = fs_ino(FS_K_IMAGE, n->img.id, 0);
	return 0;
}

/* The entry of table t whose inode sub number is sub (its id, or a
 * directory's FS_SUB_*), NULL if none: numbers are ids, not positions. */
static const struct fs_attr *attr_by_sub(const struct fs_attr *t, size_t count, unsigned sub)
{
	for (size_t i = 0; i < count; i++)
		if (fs_attr_ino_sub(&t[i]) == sub)
			return &t[i];
	return NULL;
}

/* Turns an object directory node into its entry a (file, subdir or blob). */
static int object_entry(struct fs_ctx *ctx, struct fs_node *n, enum fs_kind kind, int64_t obj,
                        const struct fs_attr *a)
{
	n->attr = a;
	if (a->sub) {
		n->what = FS_W_SUBDIR;
		n->ino = fs_ino(kind, obj, a->sub);
	} else {
		n->what = a->flags & FS_ATTR_BLOB ? FS_W_DISK : FS_W_ATTR;
		n->ino = fs_ino(kind, obj, a->id);
		if (a->flags & FS_ATTR_BLOB)
			n->blob_id = n->snap.blob_id;
	}
	return 0;
}

/* Makes n (an image directory node) the node of its device d. */
static void image_disk_of(struct fs_node *n, const struct model_device *d)
{
	n->dev = *d;
	n->blob_id = d->blob_id;
	n->what = FS_W_DISK;
	n->attr = NULL;
	n->ino = fs_ino(FS_K_IMAGE, n->img.id, FS_SUB_DISKS + 1 + (unsigned)d->index);
}

/* The same for its device idx, looked up. */
static int image_disk(struct fs_ctx *ctx, struct fs_node *n, int idx)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int count = n->img.refs & MODEL_REF_DEVICES ? model_device_list(ctx->m, n->img.id, devs) : 0;
	for (int i = 0; i < count; i++) {
		if (devs[i].index == idx) {
			image_disk_of(n, &devs[i]);
			return 0;
		}
	}
	return count < 0 ? count : -ENOENT;
}

/* Makes n (an instance directory node) the node of its disk idx. */
static int vm_disk(struct fs_ctx *ctx, struct fs_node *n, int idx)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int count = model_instance_disks(ctx->m, n->vm.id, disks);
	for (int i = 0; i < count; i++) {
		if (disks[i].index != idx)
			continue;
		n->vmdisk = disks[i];
		n->blob_id = disks[i].blob_id;
		n->what = FS_W_DISK;
		n->attr = NULL;
		n->ino = fs_ino(FS_K_VM, n->vm.id, FS_SUB_DISKS + 1 + (unsigned)idx);
		return 0;
	}
	return count < 0 ? count : -ENOENT;
}

/* What of model_image.refs a node of an image needs (sub: its inode's; a:
 * its file or subdirectory, NULL for others): the directory lists every
 * file, a disk is a device, copies/ and shares/ entries their rows. */
static unsigned image_refs(unsigned sub, const struct fs_attr *a)
{
	if (sub == 0)
		return MODEL_REF_UNKNOWN;
	if (a)
		return a->refs;
	if (sub > FS_SUB_SHARE)
		return MODEL_REF_SHARES;
	if (sub >= FS_SUB_COPY)
		return MODEL_REF_COPIES;
	return MODEL_REF_DEVICES; /* disks/<device> */
}

int fs_node_image(struct fs_ctx *ctx, const struct fs_caller *caller, const struct model_image *img,
                  struct fs_node *out)
{
	int rc;
	node_init(out, caller);
	out->img = *img;
	if ((rc = model_region_get(ctx->m, img->region_id, &out->region)) < 0)
		return rc;
	return image_dir(ctx, out);
}

/* ---- the directory providers (dirs.h) -------------------------------------- */

/* Each provider's functions, fitted to the table's signatures: what a
 * provider's node is not (a file where a directory is asked for, an empty
 * directory) is answered here, as the five switches did. */

static int shares_resolve(struct fs_ctx *ctx, struct fs_node *n, fuse_ino_t ino)
{
	return fs_share_resolve(ctx, n, fs_ino_sub(ino));
}

static int shares_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name)
{
	if (n->what == FS_W_SHARE)
		return -ENOENT; /* shares/<account> is empty */
	return fs_share_lookup(ctx, n, name);
}

static int shares_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	if (dir->what == FS_W_SHARE)
		return 0; /* empty */
	return fs_share_list(ctx, dir, off, emit, arg);
}

static int shares_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st, int64_t *mtime_ns,
                       int64_t *ctime_ns)
{
	fs_share_stat(n, st, mtime_ns);
	return 0;
}

static void shares_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap)
{
	char region[2 * MODEL_NAME_MAX + 16];
	fs_node_where(n, region, sizeof(region));
	snprintf(out, cap, "/regions/%s/private/%s/shares/%s", region, n->img.name, n->share.account);
}

static int copies_resolve(struct fs_ctx *ctx, struct fs_node *n, fuse_ino_t ino)
{
	return fs_copies_resolve(ctx, n, fs_ino_sub(ino));
}

static int copies_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name)
{
	if (n->what == FS_W_COPY_FILE)
		return -ENOTDIR;
	return fs_copies_lookup(ctx, n, name); /* copies/ and a copy's files (§6.3) */
}

static int copies_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	if (dir->what == FS_W_COPY_FILE)
		return -ENOTDIR;
	return fs_copies_list(ctx, dir, off, emit, arg);
}

static int tenants_resolve(struct fs_ctx *ctx, struct fs_node *n, fuse_ino_t ino)
{
	return fs_tenant_resolve(ctx, n, fs_ino_obj(ino), fs_ino_sub(ino));
}

static int tenants_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st, int64_t *mtime_ns,
                        int64_t *ctime_ns)
{
	fs_tenant_stat(ctx, n, st, mtime_ns);
	return 0;
}

static int files_resolve(struct fs_ctx *ctx, struct fs_node *n, fuse_ino_t ino)
{
	struct fs_caller caller = n->caller; /* n is rebuilt from it */
	return fs_inside_resolve(ctx, &caller, ino, n);
}

static int files_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	if (dir->what == FS_W_INSIDE && !S_ISDIR(dir->inside.st.mode))
		return -ENOTDIR;
	return fs_inside_list(ctx, dir, off, emit, arg); /* §18 */
}

static int files_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st, int64_t *mtime_ns,
                      int64_t *ctime_ns)
{
	fs_inside_stat(n, st);
	return 1; /* the guest's own times (§18) */
}

static const struct fs_dir_ops dir_providers[FS_DIR_COUNT] = {
	[FS_DIR_SHARES] = {.resolve = shares_resolve, .lookup = shares_lookup, .list = shares_list,
	                   .stat = shares_stat, .path = shares_path},
	[FS_DIR_COPIES] = {.resolve = copies_resolve, .lookup = copies_lookup, .list = copies_list,
	                   .stat = fs_copies_stat, .path = fs_copies_path},
	/* tenants/ and tenants/<account>/ are named as region entries (fs_node_path) */
	[FS_DIR_TENANTS] = {.resolve = tenants_resolve, .lookup = fs_tenant_lookup, .list = fs_tenant_list,
	                    .stat = tenants_stat, .path = NULL},
	[FS_DIR_FILES] = {.resolve = files_resolve, .lookup = fs_inside_lookup, .list = files_list,
	                  .stat = files_stat, .path = fs_inside_path},
};

/* The provider n belongs to (dirs.h): node.c's resolve, lookup, list and
 * path, and node_stat.c's stat, ask it first. */
const struct fs_dir_ops *fs_node_provider(const struct fs_node *n, bool *root)
{
	enum fs_dir_provider d = FS_DIR_NONE;
	enum fs_kind k = fs_ino_kind(n->ino);
	if (root)
		*root = n->what == FS_W_SUBDIR;
	switch (n->what) {
	case FS_W_SUBDIR:
		if (k == FS_K_IMAGE && n->attr->sub == FS_SUB_SHARES)
			d = FS_DIR_SHARES;
		else if (k == FS_K_IMAGE && n->attr->sub == FS_SUB_COPIES)
			d = FS_DIR_COPIES;
		else if ((k == FS_K_IMAGE || k == FS_K_SNAP) && n->attr->sub == FS_SUB_FILES)
			d = FS_DIR_FILES;
		break;
	case FS_W_SHARE: d = FS_DIR_SHARES; break;
	case FS_W_COPY:
	case FS_W_COPY_FILE: d = FS_DIR_COPIES; break;
	case FS_W_TENANTS:
	case FS_W_TENANT: d = FS_DIR_TENANTS; break;
	case FS_W_INSIDE: d = FS_DIR_FILES; break;
	default: break;
	}
	return d ? &dir_providers[d] : NULL;
}

int fs_node_resolve(struct fs_ctx *ctx, const struct fs_caller *caller, fuse_ino_t ino, struct fs_node *out)
{
	int rc;
	/* A file inside an image (§18): numbered apart (fs.h). */
	if (ino & FS_INSIDE_BIT) {
		out->caller = *caller;
		return dir_providers[FS_DIR_FILES].resolve(ctx, out, ino);
	}
	/* Any node id of an image directory, whatever its dir_gen (fs.h). */
	if (fs_ino_kind(ino) == FS_K_IMAGE_DIR)
		ino = fs_ino(FS_K_IMAGE, fs_ino_obj(ino), 0);
	if (fs_ino_kind(ino) == FS_K_TENANT_IMAGE_DIR)
		ino = fs_ino(FS_K_TENANT_IMAGE, fs_ino_obj(ino), 0);
	/* Seen through tenants/ (§16): the owner's node, entered below once
	 * its owner is known (tenants.c). */
	bool tenant = fs_ino_kind(ino) == FS_K_TENANT_IMAGE || fs_ino_kind(ino) == FS_K_TENANT_SNAP;
	if (tenant)
		ino = fs_ino(fs_ino_kind(ino) == FS_K_TENANT_SNAP ? FS_K_SNAP : FS_K_IMAGE, fs_ino_obj(ino), fs_ino_sub(ino));
	enum fs_kind kind = fs_ino_kind(ino);
	int64_t obj = fs_ino_obj(ino);
	unsigned sub = fs_ino_sub(ino);

	node_init(out, caller);
	out->ino = ino;
	if (ino == FS_INO_ROOT || ino == FS_INO_REGIONS || ino == FS_INO_STATS || ino == FS_INO_ERRORS) {
		out->what = ino == FS_INO_ROOT      ? FS_W_ROOT
		            : ino == FS_INO_REGIONS ? FS_W_REGIONS
		            : ino == FS_INO_STATS   ? FS_W_STATS
		                                    : FS_W_ERRORS;
		return 0;
	}
	switch (kind) {
	case FS_K_REGION:
		if ((rc = model_region_get(ctx->m, obj, &out->region)) < 0)
			return rc;
		if (sub == 0)
			out->what = FS_W_REGION;
		else if (sub < FS_CLASS_COUNT) {
			out->what = FS_W_CLASS;
			out->cls = (enum fs_class)sub;
		} else if (sub == FS_SUB_QUOTA)
			out->what = FS_W_QUOTA;
		else if (sub == FS_SUB_CSV)
			out->what = FS_W_CSV;
		else if (sub == FS_SUB_JSON)
			out->what = FS_W_JSON;
		else if (sub == FS_SUB_GUIDE)
			out->what = FS_W_GUIDE;
		else if (sub == FS_SUB_TENANTS && fs_tenants_visible(ctx, &out->caller))
			out->what = FS_W_TENANTS;
		else
			return -ENOENT;
		return 0;
	case FS_K_TENANT:
		return dir_providers[FS_DIR_TENANTS].resolve(ctx, out, ino);
	case FS_K_IMAGE: {
		const struct fs_attr *a =
			!sub || sub >= FS_SUB_COPY ? NULL : attr_by_sub(fs_image_attrs, fs_image_attr_count, sub);
		if ((rc = model_image_get_in_region(ctx->m, obj, image_refs(sub, a), &out->img, &out->region)) < 0 ||
		    (tenant && (rc = fs_tenant_enter(ctx, out, out->img.account_id)) < 0) || (rc = image_dir(ctx, out)) < 0)
			return rc;
		if (sub == 0)
			return 0;
		if (sub > FS_SUB_DISKS && sub <= FS_SUB_DISKS + MODEL_MAX_DEVICES)
			return image_disk(ctx, out, (int)(sub - FS_SUB_DISKS - 1));
		if (sub > FS_SUB_SHARE) /* shares/<account> (§6.4) */
			return dir_providers[FS_DIR_SHARES].resolve(ctx, out, ino);
		if (sub >= FS_SUB_COPY && sub < FS_SUB_SHARE) /* copies/<region>[/file] (§6.3) */
			return dir_providers[FS_DIR_COPIES].resolve(ctx, out, ino);
		if (sub == FS_SUB_FILES_README)
			return fs_inside_readme_node(ctx, out); /* files/README (§18) */
		if (!a || !fs_attr_visible(a, out))
			return -ENOENT;
		return object_entry(ctx, out, FS_K_IMAGE, obj, a);
	}
	case FS_K_SNAP:
		if ((rc = model_snapshot_get(ctx->m, obj, &out->snap)) < 0 ||
		    (tenant && (rc = fs_tenant_enter(ctx, out, out->snap.account_id)) < 0))
			return rc;
		if (!out->caller.account_id || out->snap.account_id != out->caller.account_id)
			return -ENOENT;
		if ((rc = model_region_get(ctx->m, out->snap.region_id, &out->region)) < 0)
			return rc;
		out->what = FS_W_SNAP;
		if (sub == 0)
			return 0;
		const struct fs_attr *sa = attr_by_sub(fs_snap_attrs, fs_snap_attr_count, sub);
		if (sub == FS_SUB_FILES_README)
			return fs_inside_readme_node(ctx, out); /* files/README (§18) */
		if (!sa)
			return -ENOENT;
		return object_entry(ctx, out, FS_K_SNAP, obj, sa);
	case FS_K_VM:
		if ((rc = model_instance_get(ctx->m, obj, &out->vm)) < 0)
			return rc;
		if (!caller->account_id || out->vm.account_id != caller->account_id)
			return -ENOENT;
		if ((rc = model_region_get(ctx->m, out->vm.region_id, &out->region)) < 0)
			return rc;
		out->what = FS_W_VM;
		if (sub == 0)
			return 0;
		if (sub > FS_SUB_DISKS && sub <= FS_SUB_DISKS + MODEL_VM_SLOTS)
			return vm_disk(ctx, out, (int)(sub - FS_SUB_DISKS - 1));
		const struct fs_attr *va = attr_by_sub(fs_vm_attrs, fs_vm_attr_count, sub);
		if (!va)
			return -ENOENT;
		return object_entry(ctx, out, FS_K_VM, obj, va);
	default:
		return -ENOENT;
	}
}

/* ---- lookup -------------------------------------------------------------- */

static const struct {
	const char *name;
	unsigned sub;
} region_entries[] = {
	{"public", FS_CLASS_PUBLIC},   {"marketplace", FS_CLASS_MARKETPLACE}, {"private", FS_CLASS_PRIVATE},
	{"shared", FS_CLASS_SHARED},   {"iso", FS_CLASS_ISO},                 {"recycle-bin", FS_CLASS_RECYCLE},
	{"snapshots", FS_CLASS_SNAPSHOTS}, {"instances", FS_CLASS_INSTANCES}, {"quota", FS_SUB_QUOTA},
	{"images.csv", FS_SUB_CSV},    {"images.json", FS_SUB_JSON},  {"tenants", FS_SUB_TENANTS},
	{"GUIDE", FS_SUB_GUIDE},
};
#define REGION_ENTRIES (sizeof(region_entries) / sizeof(region_entries[0]))

/* What a region's entry sub is: a class directory or one of its files. */
static enum fs_what region_sub_what(unsigned sub)
{
	switch (sub) {
	case FS_SUB_QUOTA: return FS_W_QUOTA;
	case FS_SUB_CSV: return FS_W_CSV;
	case FS_SUB_JSON: return FS_W_JSON;
	case FS_SUB_TENANTS: return FS_W_TENANTS;
	case FS_SUB_GUIDE: return FS_W_GUIDE;
	default: return FS_W_CLASS;
	}
}

static enum model_folder class_folder(enum fs_class c)
{
	switch (c) {
	case FS_CLASS_PUBLIC: return MODEL_FOLDER_PUBLIC;
	case FS_CLASS_MARKETPLACE: return MODEL_FOLDER_MARKETPLACE;
	case FS_CLASS_PRIVATE: return MODEL_FOLDER_PRIVATE;
	case FS_CLASS_ISO: return MODEL_FOLDER_ISO;
	case FS_CLASS_RECYCLE: return MODEL_FOLDER_RECYCLE;
	default: return MODEL_FOLDER_INVALID;
	}
}

static bool class_is_own(enum fs_class c)
{
	return c != FS_CLASS_PUBLIC && c != FS_CLASS_MARKETPLACE;
}

static int lookup_class(struct fs_ctx *ctx, struct fs_node *n, const char *name)
{
	enum fs_class cls = n->cls;
	int64_t acct = n->caller.account_id;
	int rc;
	if (class_is_own(cls) && !acct)
		return -ENOENT;
	switch (cls) {
	case FS_CLASS_SHARED: {
		const char *at = strrchr(name, '@');
		char base[MODEL_NAME_MAX + 1];
		if (!at || at == name || (size_t)(at - name) > MODEL_NAME_MAX)
			return -ENOENT;
		memcpy(base, name, (size_t)(at - name));
		base[at - name] = '\0';
		if ((rc = model_image_lookup_shared(ctx->m, n->region.id, acct, base, at + 1, &n->img)) < 0)
			return rc;
		return image_dir(ctx, n);
	}
	case FS_CLASS_SNAPSHOTS:
		if ((rc = model_snapshot_lookup(ctx->m, n->region.id, acct, name, &n->snap)) < 0)
			return rc;
		n->what = FS_W_SNAP;
		n->ino = fs_ino(FS_K_SNAP, n->snap.id, 0);
		return 0;
	case FS_CLASS_INSTANCES:
		if ((rc = model_instance_lookup(ctx->m, n->region.id, acct, name, &n->vm)) < 0)
			return rc;
		n->what = FS_W_VM;
		n->ino = fs_ino(FS_K_VM, n->vm.id, 0);
		return 0;
	default:
		if ((rc = model_image_lookup(ctx->m, n->region.id, class_is_own(cls) ? acct : 0, class_folder(cls), name,
		                             &n->img)) < 0)
			return rc;
		return image_dir(ctx, n);
	}
}

static int lookup_in_table(struct fs_ctx *ctx, struct fs_node *n, enum fs_kind kind, int64_t obj,
                           const struct fs_attr *t, size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(t[i].name, name) != 0)
			continue;
		if (kind == FS_K_IMAGE && !fs_attr_visible(&t[i], n))
			return -ENOENT;
		return object_entry(ctx, n, kind, obj, &t[i]);
	}
	return -ENOENT;
}

int fs_node_lookup(struct fs_ctx *ctx, const struct fs_node *parent, const char *name, struct fs_node *out)
{
	const struct fs_dir_ops *p = fs_node_provider(parent, NULL);
	*out = *parent;
	if (p)
		return p->lookup(ctx, out, name);
	switch (parent->what) {
	case FS_W_ROOT:
		if (strcmp(name, "regions") == 0) {
			out->what = FS_W_REGIONS;
			out->ino = FS_INO_REGIONS;
		} else if (strcmp(name, "stats") == 0) {
			out->what = FS_W_STATS;
			out->ino = FS_INO_STATS;
		} else if (strcmp(name, "errors") == 0) {
			out->what = FS_W_ERRORS;
			out->ino = FS_INO_ERRORS;
		} else {
			return -ENOENT;
		}
		return 0;
	case FS_W_REGIONS: {
		int rc = model_region_by_name(ctx->m, name, &out->region);
		if (rc < 0)
			return rc;
		out->what = FS_W_REGION;
		out->ino = fs_ino(FS_K_REGION, out->region.id, 0);
		return 0;
	}
	case FS_W_REGION:
		for (size_t i = 0; i < REGION_ENTRIES; i++) {
			if (strcmp(region_entries[i].name, name) != 0)
				continue;
			unsigned sub = region_entries[i].sub;
			if (sub == FS_SUB_TENANTS && !fs_tenants_visible(ctx, &out->caller))
				return -ENOENT; /* nobody else has one (§16) */
			out->what = region_sub_what(sub);
			out->cls = out->what == FS_W_CLASS ? (enum fs_class)sub : FS_CLASS_NONE;
			out->ino = fs_ino(FS_K_REGION, out->region.id, sub);
			return 0;
		}
		return -ENOENT;
	case FS_W_CLASS:
		return lookup_class(ctx, out, name);
	case FS_W_IMAGE:
		return lookup_in_table(ctx, out, FS_K_IMAGE, out->img.id, fs_image_attrs, fs_image_attr_count, name);
	case FS_W_SNAP:
		return lookup_in_table(ctx, out, FS_K_SNAP, out->snap.id, fs_snap_attrs, fs_snap_attr_count, name);
	case FS_W_VM:
		return lookup_in_table(ctx, out, FS_K_VM, out->vm.id, fs_vm_attrs, fs_vm_attr_count, name);
	case FS_W_SUBDIR:
		if (fs_ino_kind(parent->ino) == FS_K_IMAGE && parent->attr->sub == FS_SUB_DISKS) {
			int idx = model_device_index(name);
			return idx < 0 ? -ENOENT : image_disk(ctx, out, idx);
		}
		if (fs_ino_kind(parent->ino) == FS_K_VM && parent->attr->sub == FS_SUB_DISKS) {
			int idx = model_vm_disk_index(name); /* vda..vdz, cdrom, cidata */
			return idx < 0 ? -ENOENT : vm_disk(ctx, out, idx);
		}
		return -ENOENT;
	default:
		return -ENOTDIR;
	}
}

/* ---- a blob's reader ---------------------------------------------------- */

/* A view is a folder seen by one relation (no query: the view says which). */
static void view_relation(enum fs_view v, enum model_folder *folder, enum model_rel *rel)
{
	*rel = MODEL_REL_OWNER;
	switch (v) {
	case FS_VIEW_PUBLIC: *folder = MODEL_FOLDER_PUBLIC, *rel = MODEL_REL_ANYONE; break;
	case FS_VIEW_MARKETPLACE: *folder = MODEL_FOLDER_MARKETPLACE, *rel = MODEL_REL_ANYONE; break;
	case FS_VIEW_SHARED: *folder = MODEL_FOLDER_PRIVATE, *rel = MODEL_REL_ACCEPTED; break;
	case FS_VIEW_ISO: *folder = MODEL_FOLDER_ISO; break;
	case FS_VIEW_RECYCLE: *folder = MODEL_FOLDER_RECYCLE; break;
	default: *folder = MODEL_FOLDER_PRIVATE; break; /* private/, instances, snapshots: the caller's */
	}
}

int fs_node_blob_access(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err)
{
	/* Marketplace and shared blobs are only for creating instances (§3),
	 * a deactivated image's data is the administrators' (§19.5): the
	 * model's table and rule, asked here and by the image API alike.  The
	 * caller's role is read only when it can change the answer. */
	enum model_folder folder;
	enum model_rel rel;
	struct fs_caller c = n->caller;
	/* n->img is an image node's only (a snapshot's or an instance's
	 * disk has no view and no image flags). */
	static const struct model_image none;
	const struct model_image *img = n->view != FS_VIEW_NONE ? &n->img : &none;
	view_relation(n->view, &folder, &rel);
	if ((img->gflags & MODEL_GFLAG_DEACTIVATED) && fs_caller_role(ctx, &c) < 0)
		return -EIO;
	if (model_rights_as(img, folder, rel, c.admin) & MODEL_RIGHT_READ)
		return 0;
	return model_fail(err, -EACCES,
	                  model_rights_of(folder, rel) & MODEL_RIGHT_READ
	                          ? "the image is deactivated: its disks are read by administrators only"
	                          : "this image's disks are only for creating instances");
}

/* ---- listing ------------------------------------------------------------- */

/* Offsets: "." is 1, ".." 2, table entry i is i + 3, row id r is r + 2. */
struct list_ctx {
	struct fs_ctx *ctx;
	struct fs_node *work; /* mutated per entry: no copies of the big node */
	fs_emit_fn emit;
	void *arg;
	enum fs_class cls;
	char name[2 * MODEL_NAME_MAX + 2];
};

static int list_image(void *arg, const struct model_image *img)
{
	struct list_ctx *l = arg;
	l->work->img = *img;
	if (image_dir(l->ctx, l->work) < 0)
		return 0;
	const char *name = img->name;
	if (l->cls == FS_CLASS_SHARED) {
		snprintf(l->name, sizeof(l->name), "%s@%s", img->name, img->owner);
		name = l->name;
	}
	return l->emit(l->arg, name, l->work, (off_t)img->id + 2);
}

static int list_snap(void *arg, const struct model_snapshot *s)
{
	struct list_ctx *l = arg;
	l->work->snap = *s;
	l->work->what = FS_W_SNAP;
	l->work->ino = fs_ino(FS_K_SNAP, s->id, 0);
	return l->emit(l->arg, s->ext_id, l->work, (off_t)s->id + 2);
}

static int list_vm(void *arg, const struct model_instance *vm)
{
	struct list_ctx *l = arg;
	l->work->vm = *vm;
	l->work->what = FS_W_VM;
	l->work->ino = fs_ino(FS_K_VM, vm->id, 0);
	return l->emit(l->arg, vm->name, l->work, (off_t)vm->id + 2);
}

static int list_region(void *arg, const struct model_region *r)
{
	struct list_ctx *l = arg;
	l->work->region = *r;
	l->work->what = FS_W_REGION;
	l->work->ino = fs_ino(FS_K_REGION, r->id, 0);
	return l->emit(l->arg, r->name, l->work, (off_t)r->id + 2);
}

static int list_table(struct list_ctx *l, const struct fs_node *dir, enum fs_kind kind, int64_t obj,
                      const struct fs_attr *t, size_t count, off_t off)
{
	for (size_t i = 0; i < count; i++) {
		if ((off_t)i + 3 <= off)
			continue;
		if (kind == FS_K_IMAGE && !fs_attr_visible(&t[i], dir))
			continue;
		object_entry(l->ctx, l->work, kind, obj, &t[i]); /* sets every field an entry differs in */
		int rc = l->emit(l->arg, t[i].name, l->work, (off_t)i + 3);
		if (rc)
			return rc;
	}
	return 0;
}

int fs_node_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	struct fs_node work = *dir;
	struct list_ctx l = {ctx, &work, emit, arg, dir->cls, ""};
	int64_t acct = dir->caller.account_id;
	int rc = 0;

	if (off < 1 && (rc = emit(arg, ".", dir, 1)) != 0)
		return rc > 0 ? 0 : rc;
	if (off < 2) {
		/* The parent's attributes are not needed: readdirplus skips "..". */
		if ((rc = emit(arg, "..", dir, 2)) != 0)
			return rc > 0 ? 0 : rc;
	}
	const struct fs_dir_ops *p = fs_node_provider(dir, NULL);
	if (p) /* 1: stopped short of the end (the reply full, or files/'s bound: fs.h) */
		return p->list(ctx, dir, off, emit, arg);
	switch (dir->what) {
	case FS_W_ROOT:
		if (off < 3) {
			work.what = FS_W_REGIONS;
			work.ino = FS_INO_REGIONS;
			if ((rc = emit(arg, "regions", &work, 3)) != 0)
				break;
		}
		if (off < 4) {
			work.what = FS_W_STATS;
			work.ino = FS_INO_STATS;
			if ((rc = emit(arg, "stats", &work, 4)) != 0)
				break;
		}
		if (off < 5) {
			work.what = FS_W_ERRORS;
			work.ino = FS_INO_ERRORS;
			rc = emit(arg, "errors", &work, 5);
		}
		break;
	case FS_W_REGIONS:
		rc = model_region_list(ctx->m, off > 2 ? off - 2 : 0, list_region, &l);
		break;
	case FS_W_REGION:
		for (size_t i = 0; i < REGION_ENTRIES; i++) {
			if ((off_t)i + 3 <= off)
				continue;
			unsigned sub = region_entries[i].sub;
			if (sub == FS_SUB_TENANTS && !fs_tenants_visible(ctx, &work.caller))
				continue; /* absent from everybody else's listing (§16) */
			work.what = region_sub_what(sub);
			work.cls = work.what == FS_W_CLASS ? (enum fs_class)sub : FS_CLASS_NONE;
			work.ino = fs_ino(FS_K_REGION, dir->region.id, sub);
			if ((rc = emit(arg, region_entries[i].name, &work, (off_t)i + 3)) != 0)
				break;
		}
		break;
	case FS_W_CLASS: {
		int64_t after = off > 2 ? off - 2 : 0;
		if (class_is_own(dir->cls) && !acct)
			break; /* a caller without an account sees empty regions */
		if (dir->cls == FS_CLASS_SHARED)
			rc = model_image_list_shared(ctx->m, dir->region.id, acct, after, list_image, &l);
		else if (dir->cls == FS_CLASS_SNAPSHOTS)
			rc = model_snapshot_list(ctx->m, dir->region.id, acct, after, list_snap, &l);
		else if (dir->cls == FS_CLASS_INSTANCES)
			rc = model_instance_list(ctx->m, dir->region.id, acct, after, list_vm, &l);
		else
			rc = model_image_list(ctx->m, dir->region.id, class_is_own(dir->cls) ? acct : 0,
			                      class_folder(dir->cls), after, list_image, &l);
		break;
	}
	case FS_W_IMAGE:
		rc = list_table(&l, dir, FS_K_IMAGE, dir->img.id, fs_image_attrs, fs_image_attr_count, off);
		break;
	case FS_W_SNAP:
		rc = list_table(&l, dir, FS_K_SNAP, dir->snap.id, fs_snap_attrs, fs_snap_attr_count, off);
		break;
	case FS_W_VM:
		rc = list_table(&l, dir, FS_K_VM, dir->vm.id, fs_vm_attrs, fs_vm_attr_count, off);
		break;
	case FS_W_SUBDIR:
		rc = 0;
		if (fs_ino_kind(dir->ino) == FS_K_IMAGE && dir->attr->sub == FS_SUB_DISKS) {
			struct model_device devs[MODEL_MAX_DEVICES];
			int count = dir->img.refs & MODEL_REF_DEVICES ? model_device_list(ctx->m, dir->img.id, devs) : 0;
			for (int i = 0; i < count; i++) {
				if ((off_t)devs[i].index + 3 <= off)
					continue;
				image_disk_of(&work, &devs[i]);
				if ((rc = emit(arg, devs[i].name, &work, (off_t)devs[i].index + 3)) != 0)
					break;
			}
		} else if (fs_ino_kind(dir->ino) == FS_K_VM && dir->attr->sub == FS_SUB_DISKS) {
			struct model_vm_disk disks[MODEL_VM_SLOTS];
			int count = model_instance_disks(ctx->m, dir->vm.id, disks);
			for (int i = 0; i < count; i++) {
				if ((off_t)disks[i].index + 3 <= off)
					continue;
				if (vm_disk(ctx, &work, disks[i].index) < 0)
					continue;
				if ((rc = emit(arg, disks[i].name, &work, (off_t)disks[i].index + 3)) != 0)
					break;
			}
		}
		break;
	default:
		return -ENOTDIR;
	}
	return rc > 0 ? 0 : rc;
}

void fs_node_where(const struct fs_node *n, char *out, size_t cap)
{
	if (n->actor_id)
		snprintf(out, cap, "%s/tenants/%s", n->region.name, n->tenant.name);
	else
		snprintf(out, cap, "%s", n->region.name);
}

void fs_node_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap)
{
	char region[2 * MODEL_NAME_MAX + 16]; /* <region>, or <region>/tenants/<account> (§16) */
	const char *file = n->attr && !(n->attr->flags & FS_ATTR_BLOB) ? n->attr->name : NULL;
	bool root;
	const struct fs_dir_ops *p = fs_node_provider(n, &root);
	if (p && !root && p->path) {
		p->path(ctx, n, out, cap);
		return;
	}
	const char *view_dir[] = {[FS_VIEW_PUBLIC] = "public", [FS_VIEW_MARKETPLACE] = "marketplace",
	                          [FS_VIEW_PRIVATE] = "private", [FS_VIEW_SHARED] = "shared",
	                          [FS_VIEW_ISO] = "iso", [FS_VIEW_RECYCLE] = "recycle-bin"};
	fs_node_where(n, region, sizeof(region));
	switch (fs_ino_kind(n->ino)) {
	case FS_K_REGION:
	case FS_K_TENANT:
		if (n->what == FS_W_CLASS)
			snprintf(out, cap, "/regions/%s/%s", region, fs_class_names[n->cls]);
		else if (n->what == FS_W_QUOTA || n->what == FS_W_CSV || n->what == FS_W_JSON || n->what == FS_W_GUIDE)
			snprintf(out, cap, "/regions/%s/%s", region,
			         n->what == FS_W_QUOTA ? "quota" : n->what == FS_W_CSV ? "images.csv"
			                                 : n->what == FS_W_JSON ? "images.json" : "GUIDE");
		else if (n->what == FS_W_TENANTS)
			snprintf(out, cap, "/regions/%s/tenants", region);
		else
			snprintf(out, cap, "/regions/%s", region);
		return;
	case FS_K_IMAGE: {
		char dev[16] = "";
		if (n->what == FS_W_DISK)
			snprintf(dev, sizeof(dev), "disks/%s", n->dev.name);
		if (n->view == FS_VIEW_SHARED)
			snprintf(out, cap, "/regions/%s/shared/%s@%s%s%s", region, n->img.name, n->img.owner,
			         file || dev[0] ? "/" : "", file ? file : dev);
		else
			snprintf(out, cap, "/regions/%s/%s/%s%s%s", region, n->view ? view_dir[n->view] : "?", n->img.name,
			         file || dev[0] ? "/" : "", file ? file : dev);
		return;
	}
	case FS_K_SNAP:
		snprintf(out, cap, "/regions/%s/snapshots/%s%s%s", region, n->snap.ext_id, n->attr ? "/" : "",
		         n->attr ? n->attr->name : "");
		return;
	case FS_K_VM:
		if (n->what == FS_W_DISK)
			snprintf(out, cap, "/regions/%s/instances/%s/disks/%s", region, n->vm.name, n->vmdisk.name);
		else
			snprintf(out, cap, "/regions/%s/instances/%s%s%s", region, n->vm.name, file ? "/" : "",
			         file ? file : "");
		return;
	default:
		snprintf(out, cap, "%s", n->ino == FS_INO_ROOT ? "/" : n->ino == FS_INO_STATS ? "/stats"
		                         : n->ino == FS_INO_ERRORS ? "/errors" : "/regions");
	}
}

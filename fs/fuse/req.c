/*
 * req.c — the request helpers every FUSE handler shares (ops_int.h): the
 * mount of a request, counting it, replying with an errno or a refusal's
 * reason, resolving its inode for its caller, and what follows a change
 * (the kernel's caches, the image's error file).
 *
 * Below both handler files: ops.c (entries, listings, directory verbs,
 * extended attributes) and files.c (open files) call it, it calls neither
 * (docs/style.md: files do not call each other in circles).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dirs.h"
#include "fs.h"
#include "log.h"
#include "ops_int.h"
#include "stats.h"
#include "watch.h"

struct fs_ctx *ops_ctx(fuse_req_t req)
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
	fs_log_debug(ops_ctx(req), "request %s ino %llu%s%s uid %u pid %d", fs_op_name(op), (unsigned long long)ino,
	             name ? " name " : "", name ? name : "", (unsigned)fc->uid, (int)fc->pid);
}

void ops_count(fuse_req_t req, enum fs_op op, fuse_ino_t ino, const char *name)
{
	current_op = op;
	fs_log_set_caller(fuse_req_ctx(req)->uid);
	fs_stats_request(ops_ctx(req), op);
	if (ops_ctx(req)->debug)
		debug_request(req, op, ino, name);
}

void ops_answering(enum fs_op op)
{
	current_op = op;
}

/* Every errno answer goes through here (ops_reply_err(req, 0) is the
 * success answer of operations with nothing to return), but for
 * op_opendir's ENOSYS, which means success. */
void ops_reply_err(fuse_req_t req, int err)
{
	struct fs_ctx *ctx = ops_ctx(req);
	err = fs_reply_errno(err);
	if (err)
		fs_stats_error(ctx, current_op, err);
	if (err == EIO && __atomic_load_n(&ctx->lease_lapsed_mono, __ATOMIC_RELAXED)) {
		/* This host lost its lease (watch.c): the caller's EIO says why,
		 * in /errors and the log (rate-limited there). */
		char why[192];
		int64_t since = (model_now_ns() - __atomic_load_n(&ctx->lease_renewed_ns, __ATOMIC_RELAXED)) / 1000000000LL;
		snprintf(why, sizeof(why), "host %s is cut off from the database: its lease lapsed (last renewed %lld s "
		         "ago)", model_host(ctx->m), (long long)since);
		fs_refuse(ctx, fs_op_name(current_op), "(this host)", EIO, why, 0);
	}
	fuse_reply_err(req, err);
}

/* Resolves ino for the request's caller. */
int ops_resolve(fuse_req_t req, fuse_ino_t ino, struct fs_node *n)
{
	struct fs_ctx *ctx = ops_ctx(req);
	struct fs_caller c;
	int rc = fs_caller_get(ctx, req, &c);
	return rc < 0 ? rc : fs_node_resolve(ctx, &c, ino, n);
}

/* Resolves parent and its entry name for the request's caller. */
int ops_resolve_child(fuse_req_t req, fuse_ino_t parent, const char *name, struct fs_node *p, struct fs_node *n)
{
	int rc = ops_resolve(req, parent, p);
	return rc < 0 ? rc : fs_node_lookup(ops_ctx(req), p, name, n);
}

bool ops_is_dir(const struct fs_node *n)
{
	switch (n->what) {
	case FS_W_ROOT: case FS_W_REGIONS: case FS_W_REGION: case FS_W_CLASS:
	case FS_W_IMAGE: case FS_W_SUBDIR: case FS_W_SNAP: case FS_W_VM: case FS_W_SHARE:
	case FS_W_COPY: case FS_W_TENANTS: case FS_W_TENANT:
		return true;
	case FS_W_INSIDE:
		return S_ISDIR(n->inside.st.mode); /* §18 */
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

void ops_refuse(fuse_req_t req, const char *op, const struct fs_node *n, const char *name, int err,
                   const char *reason)
{
	struct fs_ctx *ctx = ops_ctx(req);
	char path[1024], who[2 * MODEL_NAME_MAX + 32];
	fs_node_path(ctx, n, path, sizeof(path));
	if (name) {
		size_t len = strlen(path);
		snprintf(path + len, sizeof(path) - len, "/%s", name);
	}
	/* Whose /errors the line goes to: the caller the node was resolved
	 * for (SPEC §9); through tenants/ the actor, whose request it was,
	 * not the tenant the node is seen as (issue 70: an administrator's
	 * refusal went to a ring nobody reads). */
	fs_log_set_account(n->actor_id ? n->actor_id : n->caller.account_id, n->caller.uid);
	/* Through tenants/ (§16) the log names both accounts. */
	if (n->actor_id)
		fs_tenant_who(ctx, n, who, sizeof(who));
	fs_refuse_by(ctx, op, path, err, reason, owned_image(n), n->actor_id ? who : NULL);
	ops_reply_err(req, -err);
}

/* After an operation on an image went through (SPEC §9): the reason of an
 * earlier refusal no longer describes it. */
void ops_succeeded(struct fs_ctx *ctx, const struct fs_node *n)
{
	if (owned_image(n) && n->img.error[0] && model_image_clear_error(ctx->m, n->img.id) > 0)
		fs_image_changed(ctx, &n->img, false);
}

/* After a change made by this request to the object node n belongs to,
 * before replying: drop the kernel's cached attributes of everything it
 * touched (names are the kernel's own business for operations on this
 * mount; an image: fs_image_changed). */
void ops_node_changed(struct fs_ctx *ctx, const struct fs_node *n)
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

int ops_fill_entry(struct fs_ctx *ctx, const struct fs_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = fs_node_nodeid(n); /* st_ino stays n->ino (fs_node_stat) */
	e->generation = 1;
	e->attr_timeout = fs_node_timeout(ctx, n);
	/* Names differ by caller under multiuser, and the kernel's dentries
	 * are shared: every lookup must ask again (0 means "never valid");
	 * so do names below tenants/, whose viewers change with roles (§16). */
	e->entry_timeout = ctx->multiuser || fs_node_in_tenants(n) ? 0 : ctx->timeout;
	return fs_node_stat(ctx, n, &e->attr);
}

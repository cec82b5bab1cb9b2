/*
 * tenants.c — /regions/<region>/tenants/ (SPEC §16, seed 004 §4): an
 * administrator sees there every tenant (every account that is not an
 * administrator), a main account its sub-accounts, each as
 *
 *   tenants/<account>/private/   iso/   recycle-bin/   snapshots/
 *
 * holding what that account sees in its own folders.  Nobody else has a
 * tenants/ directory: ENOENT by path and by inode, absent from listings
 * (model_account_administers and model_account_has_tenants decide, once,
 * here).
 *
 * How a node is seen there (fs.h, struct fs_node): from tenants/<account>/
 * down, the node's caller is the tenant — caller.account_id is the
 * tenant's, so every rule of node.c, attr.c, share.c and copies.c shows
 * the tenant's own view — and actor_id the account really asking; the
 * caller's uid and gid stay (files show the caller as owner).  What the
 * actor may do there is narrower than what the tenant may: ops.c's
 * directory verbs of the DK_TENANT kinds (rmdir: delete to the recycle
 * bin, destroy, remove a snapshot; rename in place and restore) and the
 * remark files (FS_ATTR_REMARK: description, tags, project, a snapshot's
 * description); everything else is EPERM with FS_TENANT_WHY.  Every change
 * made there is logged naming both accounts (fs_tenant_log_change), and so
 * is every refusal (req.c, ops_refuse).
 *
 * Inode numbers (fs.h's map): tenants/ is the region's sub 12;
 * tenants/<account>/ and its four class directories are TENANT nodes
 * (account, 16 * region + entry); the images and snapshots below are their
 * owner's inodes with the TENANT_ kinds, so that they are nodes of their
 * own to the kernel (never the owner's directory dentries), stable across
 * remounts, and follow an image wherever it moves (dir_gen, as the owner's
 * view does).
 *
 * Caching: nothing here is cached by the kernel (timeouts 0: who may see
 * it changes with roles, and the watcher invalidates the owner's inodes
 * only); listings are revalidated by mtime (tenants/: when accounts last
 * changed, model_accounts_mtime; its class directories: the region's).
 *
 * Who calls it: node.c (lookup, resolution, listing, attributes), ops.c
 * and files.c (the log).  Any FUSE thread; no state of its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attr.h"
#include "dirs.h"
#include "fs.h"
#include "log.h"

#define NS 1000000000LL

/* The entries of tenants/<account>/, in listing order (entry 1..4 of the
 * TENANT inode's sub). */
static const enum fs_class tenant_classes[] = {FS_CLASS_PRIVATE, FS_CLASS_ISO, FS_CLASS_RECYCLE,
                                               FS_CLASS_SNAPSHOTS};
#define TENANT_CLASSES (sizeof(tenant_classes) / sizeof(tenant_classes[0]))

int fs_caller_role(struct fs_ctx *ctx, struct fs_caller *c)
{
	struct model_account a;
	int rc = -ENOENT;
	if (c->role_known)
		return 0;
	c->admin = c->has_subs = false;
	if (c->account_id && (rc = model_account_get(ctx->m, c->account_id, &a)) < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0) {
		c->admin = a.admin;
		c->has_subs = a.has_subs;
	}
	c->role_known = true;
	return 0;
}

/* The caller as model_account_administers takes it (its role read). */
static struct model_account actor_of(const struct fs_caller *c)
{
	struct model_account a = {.id = c->account_id, .uid = c->uid, .admin = c->admin, .has_subs = c->has_subs};
	return a;
}

bool fs_tenants_visible(struct fs_ctx *ctx, struct fs_caller *c)
{
	if (!c->account_id || fs_caller_role(ctx, c) < 0)
		return false;
	struct model_account a = actor_of(c);
	return model_account_has_tenants(&a);
}

/* n becomes seen through tenants/<t>/ (the checks made). */
static void tenant_view(struct fs_node *n, const struct model_account *t)
{
	n->actor_id = n->caller.account_id;
	n->caller.account_id = t->id;
	n->caller.admin = t->admin;
	n->caller.has_subs = t->has_subs;
	n->tenant = *t;
}

/* The same after the checks: -ENOENT unless n's caller administers t. */
static int tenant_enter_row(struct fs_ctx *ctx, struct fs_node *n, const struct model_account *t)
{
	int rc;
	if (n->actor_id)
		return n->caller.account_id == t->id ? 0 : -ENOENT;
	if ((rc = fs_caller_role(ctx, &n->caller)) < 0)
		return rc;
	struct model_account actor = actor_of(&n->caller);
	if (!model_account_administers(&actor, t))
		return -ENOENT;
	tenant_view(n, t);
	return 0;
}

int fs_tenant_enter(struct fs_ctx *ctx, struct fs_node *n, int64_t tenant_id)
{
	struct model_account t;
	int rc;
	if (n->actor_id)
		return n->caller.account_id == tenant_id ? 0 : -ENOENT;
	if ((rc = model_account_get(ctx->m, tenant_id, &t)) < 0)
		return rc == -ENOENT ? -ENOENT : rc;
	return tenant_enter_row(ctx, n, &t);
}

/* Makes n (seen through tenants/) tenants/<account>/ (entry 0) or one of
 * its class directories (1..4). */
static void tenant_entry(struct fs_node *n, unsigned e)
{
	n->what = e ? FS_W_CLASS : FS_W_TENANT;
	n->cls = e ? tenant_classes[e - 1] : FS_CLASS_NONE;
	n->ino = fs_ino(FS_K_TENANT, n->caller.account_id, (unsigned)n->region.id << 4 | e);
}

int fs_tenant_resolve(struct fs_ctx *ctx, struct fs_node *n, int64_t tenant_id, unsigned sub)
{
	unsigned e = sub & 15;
	int rc;
	if (e > TENANT_CLASSES || (rc = model_region_get(ctx->m, sub >> 4, &n->region)) < 0)
		return -ENOENT;
	if ((rc = fs_tenant_enter(ctx, n, tenant_id)) < 0)
		return rc;
	tenant_entry(n, e);
	return 0;
}

int fs_tenant_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name)
{
	struct model_account t;
	int rc;
	if (n->what == FS_W_TENANTS) {
		if ((rc = model_account_by_name(ctx->m, name, &t)) < 0)
			return rc;
		if ((rc = tenant_enter_row(ctx, n, &t)) < 0)
			return rc;
		tenant_entry(n, 0);
		return 0;
	}
	for (unsigned i = 0; i < TENANT_CLASSES; i++) {
		if (strcmp(fs_class_names[tenant_classes[i]], name) == 0) {
			tenant_entry(n, i + 1);
			return 0;
		}
	}
	return -ENOENT;
}

struct tenant_list {
	struct fs_node *work;
	fs_emit_fn emit;
	void *arg;
};

static int list_tenant(void *arg, const struct model_account *t)
{
	struct tenant_list *l = arg;
	struct fs_node *w = l->work;
	w->caller.account_id = w->actor_id ? w->actor_id : w->caller.account_id;
	w->actor_id = 0;
	tenant_view(w, t); /* model_account_tenants gave only what the caller administers */
	tenant_entry(w, 0);
	return l->emit(l->arg, t->name, w, (off_t)t->id + 2);
}

int fs_tenant_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	struct fs_node *work = malloc(sizeof(*work)); /* a node is large: not on a FUSE thread's stack twice */
	int rc = 0;
	if (!work)
		return -ENOMEM;
	*work = *dir;
	if (dir->what == FS_W_TENANTS) {
		struct tenant_list l = {work, emit, arg};
		struct model_account actor;
		if ((rc = fs_caller_role(ctx, &work->caller)) == 0) {
			actor = actor_of(&work->caller);
			rc = model_account_tenants(ctx->m, &actor, off > 2 ? off - 2 : 0, list_tenant, &l);
		}
	} else {
		for (unsigned i = 0; i < TENANT_CLASSES; i++) {
			if ((off_t)i + 3 <= off)
				continue;
			tenant_entry(work, i + 1);
			if ((rc = emit(arg, fs_class_names[tenant_classes[i]], work, (off_t)i + 3)) != 0)
				break;
		}
	}
	free(work);
	return rc;
}

void fs_tenant_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st, int64_t *mtime_ns)
{
	st->st_mode = S_IFDIR | 0555; /* nothing is created or removed here */
	if (n->what == FS_W_TENANTS) {
		/* Its entries change when accounts come, go or change roles. */
		int64_t t = model_accounts_mtime(ctx->m);
		st->st_nlink = 1; /* unknown: a tenant per entry */
		*mtime_ns = t > n->region.created_ns ? t : n->region.created_ns;
	} else {
		st->st_nlink = 2 + TENANT_CLASSES;
		*mtime_ns = n->tenant.created * NS;
	}
}

void fs_tenant_who(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap)
{
	struct model_account actor;
	if (model_account_get(ctx->m, n->actor_id, &actor) < 0)
		snprintf(actor.name, sizeof(actor.name), "account %lld", (long long)n->actor_id);
	snprintf(out, cap, "(actor %s, tenant %s)", actor.name, n->tenant.name);
}

void fs_tenant_log_change(struct fs_ctx *ctx, const char *op, const struct fs_node *n, const char *to)
{
	char path[1024], who[2 * MODEL_NAME_MAX + 32];
	if (!n->actor_id)
		return;
	fs_node_path(ctx, n, path, sizeof(path));
	fs_tenant_who(ctx, n, who, sizeof(who));
	fs_log(ctx, "%s %s%s%s: done %s", op, path, to ? " to " : "", to ? to : "", who);
}

/*
 * dirs.h — the directory providers: the kinds of directory node.c
 * resolves, looks up, stats, lists and names by handing over to the file
 * that knows them — shares/ (share.c), copies/ (copies.c), tenants/
 * (tenants.c) and files/, a guest's file system (inside.c).  Who includes
 * it: node.c, which resolves through them, and node_stat.c, which stats
 * their nodes through them; the providers themselves
 * (share.c, copies.c, tenants.c, inside*.c); and the files that answer
 * requests on their nodes (req.c, ops.c, files.c, xattr.c, stats.c,
 * watch.c).
 */
#ifndef IMGFS_DIRS_H
#define IMGFS_DIRS_H

#include "fs.h"

/* ---- the provider table (node.c) ------------------------------------------
 *
 * node.c resolves, looks up, stats, lists and names every node; where a
 * node belongs to a provider, it asks that provider through one row of
 * this table instead of a case in each of five switches (dir_verbs in
 * ops.c applied to reads).  A provider has a root, a directory that is an
 * entry of an image's table (shares/, copies/, files/) or of a region
 * (tenants/), and its own nodes below it.  lookup and list are asked for
 * both; resolve, stat and path for its own nodes only (its root is an
 * attribute subdirectory, which node.c stats and names as any other).
 *
 * Adding a provider: an enum value, a row in node.c's dir_providers (its
 * functions adapted to these signatures there), the root in
 * fs_node_provider and the inode numbers of its nodes in fs.h's map. */
enum fs_dir_provider { FS_DIR_NONE = 0, FS_DIR_SHARES, FS_DIR_COPIES, FS_DIR_TENANTS, FS_DIR_FILES, FS_DIR_COUNT };
struct fs_dir_ops {
	/* n (its caller set; for shares/ and copies/, the image's directory
	 * node) becomes the node of number ino. */
	int (*resolve)(struct fs_ctx *ctx, struct fs_node *n, fuse_ino_t ino);
	/* n: a copy of the directory node; becomes its entry name. */
	int (*lookup)(struct fs_ctx *ctx, struct fs_node *n, const char *name);
	/* Lists dir from offset off (after ".", ".."), as fs_node_list. */
	int (*list)(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg);
	/* Fills st's type, mode, links, size and ids; the times through
	 * *mtime_ns and *ctime_ns as fs_node_stat sets them, or returns 1:
	 * st is whole, its own times set (files/: the guest's). */
	int (*stat)(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st, int64_t *mtime_ns, int64_t *ctime_ns);
	/* The path of n, for the log (NULL: node.c's, from the region on). */
	void (*path)(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap);
};
/* The provider n belongs to, NULL for none; *root (may be NULL): n is the
 * provider's root as an entry of an image (shares/, copies/, files/),
 * which node.c names and node_stat.c stats as any attribute directory. */
const struct fs_dir_ops *fs_node_provider(const struct fs_node *n, bool *root);

/* ---- sharing (§6.4, share.c) ---------------------------------------------- */

/* shares/ of an image the caller owns lists the accounts it is shared
 * with; each shares/<account> is an empty directory (inode sub
 * FS_SUB_SHARE + account id).  mkdir shares, rmdir unshares. */
/* n: a copy of the shares/ node; becomes shares/<name>. */
int fs_share_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name);
/* n: the image directory node; becomes shares/<account> of inode sub sub. */
int fs_share_resolve(struct fs_ctx *ctx, struct fs_node *n, unsigned sub);
/* Lists shares/ (dir) from offset off (after ".", "..": account id + 2). */
int fs_share_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg);
/* Attributes of a shares/<account> node. */
void fs_share_stat(const struct fs_node *n, struct stat *st, int64_t *mtime_ns);
/* mkdir shares/<name> below p (the shares/ node): *out becomes the new
 * entry's node.  rmdir of a shares/<account> node n. */
int fs_share_mkdir(struct fs_ctx *ctx, const struct fs_node *p, const char *name, struct fs_node *out,
                   struct model_err *err);
int fs_share_rmdir(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err);
/* For the watcher: an image change whose old name went away from private/
 * (rename, delete, unshare) also drops <name>@<owner> from shared/. */
void fs_share_forget_entry(struct fs_ctx *ctx, const struct model_change *c);

/* ---- cross-region copies (§6.3, copies.c) -------------------------------- */

/* copies/ of an image the caller owns lists, by region name, the copies of
 * it still in their region's private/; copies/<region> holds status,
 * progress and image (inode sub FS_SUB_COPY + 4 * region id + 0..3).  The
 * node keeps the source image (n->img) and names the copy (copy_id). */
/* n: a copy of the copies/ or copies/<region> node; becomes its entry name. */
int fs_copies_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name);
/* n: the image directory node; becomes the copies node of inode sub sub. */
int fs_copies_resolve(struct fs_ctx *ctx, struct fs_node *n, unsigned sub);
/* Lists copies/ or copies/<region> from offset off. */
int fs_copies_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg);
/* Attributes of a copies/<region> node or file. */
int fs_copies_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st, int64_t *mtime_ns, int64_t *ctime_ns);
/* mkdir copies/<name> below p (the copies/ node): copies the image there;
 * *out becomes the new entry.  rmdir of copies/<region>: EPERM. */
int fs_copies_mkdir(struct fs_ctx *ctx, const struct fs_node *p, const char *name, struct fs_node *out,
                    struct model_err *err);
int fs_copies_rmdir(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err);
/* The mtime of the copies/ directory n (model_image_copies_mtime). */
int64_t fs_copies_dir_mtime(struct fs_ctx *ctx, const struct fs_node *n);
/* For the watcher: a change of a copy image (status, progress, leaving its
 * private/) also changes its source's copies/ entries. */
void fs_copies_forget(struct fs_ctx *ctx, const struct model_change *c, bool names);
void fs_copies_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap);

/* ---- tenants/ (§16, tenants.c) --------------------------------------------- */

/* Why an operation through tenants/ is refused (EPERM). */
#define FS_TENANT_WHY                                                                                      \
	"through tenants/, a tenant's images are read, renamed in place, described (description, tags, "    \
	"project), deleted, restored and destroyed, its snapshots read, described and removed: nothing else"
/* Reads c's role from its account once (c->role_known): 0 or -errno. */
int fs_caller_role(struct fs_ctx *ctx, struct fs_caller *c);
/* Whether c has a tenants/ directory: an administrator, or a main account
 * with sub-accounts (reads the role when not known yet). */
bool fs_tenants_visible(struct fs_ctx *ctx, struct fs_caller *c);
/* n, a node of its caller's, becomes seen through tenants/<tenant_id>/:
 * -ENOENT unless the caller administers that account (§16); already seen
 * there, only that same account is. */
int fs_tenant_enter(struct fs_ctx *ctx, struct fs_node *n, int64_t tenant_id);
/* n (caller set) becomes the TENANT node of (tenant_id, sub). */
int fs_tenant_resolve(struct fs_ctx *ctx, struct fs_node *n, int64_t tenant_id, unsigned sub);
/* n: a copy of tenants/ or tenants/<account>/; becomes its entry name. */
int fs_tenant_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name);
/* Lists tenants/ (offsets: account id + 2) or tenants/<account>/. */
int fs_tenant_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg);
/* Attributes of tenants/ and tenants/<account>/. */
void fs_tenant_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st, int64_t *mtime_ns);
/* "(actor A, tenant T)": who did what to whom, for a log line about n. */
void fs_tenant_who(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap);
/* A change made through tenants/ (n: what it changed; to: a rename's new
 * path, or NULL): "<op> <path>[ to <to>]: done (actor A, tenant T)" in the
 * log, every one (a change is a committed transaction: never
 * rate-limited).  Nothing for a node not seen there. */
void fs_tenant_log_change(struct fs_ctx *ctx, const char *op, const struct fs_node *n, const char *to);

/* ---- inside an image (§18, inside.c) ------------------------------------- */

/* Why anything below files/ is refused (EPERM). */
#define FS_INSIDE_WHY "files/ is read-only: nothing is ever written into a guest's file system"
/* n (caller set) becomes the node of ino, an FS_INSIDE_BIT number. */
int fs_inside_resolve(struct fs_ctx *ctx, const struct fs_caller *caller, fuse_ino_t ino, struct fs_node *out);
/* n, an image directory node, becomes its files/README. */
int fs_inside_readme_node(struct fs_ctx *ctx, struct fs_node *n);
/* n: a copy of files/ or of a directory below it; becomes its entry name. */
int fs_inside_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name);
/* Lists files/ or a directory below it from offset off. */
int fs_inside_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg);
/* Attributes of an FS_W_INSIDE node. */
void fs_inside_stat(const struct fs_node *n, struct stat *st);
/* Reads len bytes at off of a regular file inside (node n): bytes or -errno. */
ssize_t fs_inside_pread(struct fs_ctx *ctx, const struct fs_node *n, void *buf, size_t len, uint64_t off);
/* A symlink's target as stored (NUL-terminated): 0 or -errno. */
int fs_inside_readlink(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap);
/* The extended attributes of a file inside (inside_xattr.c; §18): name's
 * value into buf (cap 0: its length), or the names, NUL-terminated, that
 * the asking process (uid) may list; a length or -errno (ENODATA, ERANGE,
 * E2BIG). */
ssize_t fs_inside_getxattr(struct fs_ctx *ctx, const struct fs_node *n, uid_t uid, const char *name, void *buf,
                           size_t cap);
ssize_t fs_inside_listxattr(struct fs_ctx *ctx, const struct fs_node *n, uid_t uid, char *buf, size_t cap);
/* The path of an inside node, for the log. */
void fs_inside_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap);
/* Starts ctx's spare helper if there is none and the bound leaves room
 * (at mount; after a request took it, the room's own thread does). */
void fs_inside_spare_fill(struct fs_ctx *ctx);
/* The imgfs_inside_* families of /stats (stats.c): ctx's room's. */
void fs_inside_stats(struct fs_ctx *ctx, struct fs_buf *out);
/* files/'s room of the mount (ctx->inside, rooms.c): its disks, helpers
 * and counters.  _new: 0 or -ENOMEM.  _free accepts NULL; it stops and
 * joins the spare's thread and ends every helper (the spare included),
 * reaped: a mount freed in a process that lives on leaves no thread and no
 * child behind. */
struct fs_inside;
int fs_inside_new(struct fs_inside **out);
void fs_inside_free(struct fs_inside *in);
/* The mount stops: every conversation with a helper ends within
 * INS_STOP_LOOK_MS (its helper ended, the request EIO) instead of waiting
 * out the helper's deadline (SPEC §15). */
void fs_inside_stopping(struct fs_ctx *ctx);

#endif

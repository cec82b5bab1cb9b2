/*
 * fs.h — the FUSE layer's base (fs/fuse/): the mount context, who is
 * asking, inode numbers and resolved nodes (node.c).  What the files of
 * one role share is in that role's header, which includes this one where
 * it needs a node:
 *
 *   attr.h   generated files: the attribute tables, rendering (attr.c, files.c)
 *   buf.h    the text buffers they are rendered into (buf.c)
 *   disk.h   disks and uploads: writable blobs, the upload hooks (disk.c, upload.c)
 *   dirs.h   the directory providers node.c dispatches to: shares/, copies/,
 *            tenants/, files/ (share.c, copies.c, tenants.c, inside.c)
 *   stats.h  /stats (stats.c)
 *   log.h    the log, refusals, /errors (log.c)
 *   rooms.h  the mount's state, a struct per room off the context (rooms.c)
 *   watch.h  cache invalidation and the background workers (watch.c, worker.c)
 *
 * Who includes it: the files of fs/fuse/, and fs/cli/'s main.c and
 * service.c, which mount (nothing else of fs/cli/ sees <fuse_lowlevel.h>).
 * Threads: the FUSE session's, the watcher's and the workers'; the locks
 * and the order they are taken in are under "locks" below.
 *
 * Inode numbers are computed, never stored: kind (8 bits), row id (40
 * bits), entry (16 bits); an image directory's node id also carries its
 * dir_gen.  The map and why are in docs/design.md ("The FUSE layer",
 * "Inode numbers, in full"); fs_ino, fs_node_st_ino and fs_node_nodeid
 * below compute them.
 */
#ifndef IMGFS_FS_H
#define IMGFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "ins_proto.h"
#include "model.h"
#include "stats.h"

/* The monotonic clock in ns: rate limits, deadlines, progress (the
 * model's one clock, model_mono_ns; model_now_ns is the wall clock, for
 * what is stored). */
static inline int64_t fs_mono_ns(void)
{
	return model_mono_ns();
}

/* ---- the mount: its locks ----------------------------------------------------------------
 *
 * Every mutex of fs/fuse, what it guards, and what may be taken while it
 * is held.  A lock is taken only after the ones above it on its line of
 * descent, never the other way (arrows point from the holder); the level
 * beside each is its IMGFS_LOCK_LEVEL (include/imgfs_lock.h: Debug and
 * Asan builds abort on a lock taken at or below a level held):
 *
 *   ctx->disks' lock 10 (disk.c: the open disks, their refs and writers)
 *     -> fs_disk.wlock 12 (disk.c: one disk's writes, truncates and its
 *        upload's state; the upload hooks of upload.c run under it)
 *          -> blob_wblob.lock 30 and below (blobstore/blobstore_int.h)
 *          -> the model's locks 54 (model/model_int.h): every model call
 *          -> ctx->log_lock 60 -> (nothing)   fs_log, fs_refuse
 *          -> ctx->refusals' err_lock 61 (log.c: the /errors rings)
 *   ctx->inside's load_lock 16 -> a volume's lock 18 -> ctx->inside's
 *   table_lock 20 (inside.c, inside_int.h: the helpers' table, a volume's
 *   conversation), then the
 *   blob store's and the model's.
 *
 *   Leaves, under which nothing else is taken (58 but the log's):
 *     ctx->log_lock 60  the log file, its rotation, the rate-limit slots
 *     ctx->refusals' err_lock 61  each caller's refusals (/errors)
 *     ctx->work_lock    work_kicks, with work_cond (worker.c)
 *     ctx->rmdir_lock   rmdir_retry (ops.c)
 *     ctx->renderings' lock and lanes_lock   render.c's renderings and turns
 *     ctx->handles' lock  files.c's open handles
 *     ctx->pollers' lock  poll waiters (pollers.c)
 *     a volume's sc_lock  its attributes (inside_int.h)
 *   fs/cli/main.c's stop lock (2) is taken by main and its stop thread
 *   only.
 *
 * A function whose comment says "under X" or that is named _locked checks
 * X with IMGFS_ASSERT_HELD (imgfs_assert.h: Debug and Asan builds).  The
 * watcher and the workers take no fs lock across a model call but the
 * model's own. */

struct fs_ctx {
	model *m;
	struct fuse_session *se;
	const char *mountpoint;
	bool multiuser;
	bool stats_all;            /* -o stats=all: every caller reads /stats (stats.c) */
	int64_t account_id;        /* single-user mode: everybody acts as this */
	uid_t uid;                 /* owner shown in single-user mode */
	gid_t gid;
	double timeout;            /* entry and attribute timeout, seconds */
	FILE *log;                 /* the log file (NULL: none, or syslog) */
	int log_fd;                /* its descriptor, one number for the mount */
	char log_path[4200];       /* its path, for rotation and reopen ("": none) */
	int64_t log_max;           /* rotated past this many bytes; 0: never (log.c) */
	bool log_syslog;           /* -o log=syslog */
	bool log_stderr;           /* also to stderr (foreground) */
	bool debug;                /* -o debug: a line per request */
	bool ro;                   /* -o ro: nothing changes the state (§15) */
	pthread_mutex_t log_lock;
	bool zero_opendir;         /* the kernel handles opendir itself (init) */
	pthread_t watcher;         /* watch.c */
	bool watching;
	int64_t lease_lapsed_mono, lease_renewed_ns; /* watch.c; ops.c's EIO says why */
	atomic_bool stopping;      /* unmounting: the watcher and the workers end */
	atomic_uint started;       /* reads and writes answered by the cluster's thread, in flight (files.c) */
	struct fs_worker *workers; /* worker.c: nworkers background task threads */
	unsigned nworkers;         /* 0: this mount runs no tasks */
	pthread_mutex_t work_lock; /* guards work_kicks; with work_cond */
	pthread_cond_t work_cond;  /* kicked: a task was queued */
	uint64_t work_kicks;       /* counts kicks, so none is lost */
	struct fs_stats stats;     /* stats.c */
	struct fs_renderings *renderings; /* render.c: what generated files hold */
	struct fs_pollers *pollers;       /* pollers.c: poll(2) waiters */
	struct fs_disks *disks;           /* disk.c: the open disks */
	struct fs_handles *handles;       /* files.c: every open handle */
	struct fs_refusals *refusals;     /* log.c: rate-limit slots, /errors rings */
	struct fs_inside *inside;         /* inside.c, inside_helper.c: files/'s disks and helpers */
	/* ops.c: rmdirs of image directories answered ESTALE, so that the
	 * kernel asks again through a fresh lookup (op_rmdir). */
	pthread_mutex_t rmdir_lock;
	struct fs_rmdir_retry {
		int64_t image_id, dir_gen, at_ns;
	} rmdir_retry[32];
};
IMGFS_LOCK_LEVEL(fs_ctx_log_lock, 60); /* the log: a leaf */
IMGFS_LOCK_LEVEL(fs_ctx_work_lock, 58); /* a leaf */
IMGFS_LOCK_LEVEL(fs_ctx_rmdir_lock, 58); /* a leaf */

/* Who is asking: the account the request acts as. */
struct fs_caller {
	int64_t account_id; /* 0: none (multiuser caller without an account) */
	uid_t uid;
	gid_t gid;
	/* The account's role (SPEC §16), read with it in a multi-user mount,
	 * when a node needs it otherwise (fs_caller_role). */
	bool role_known;
	bool admin;         /* an administrator account */
	bool has_subs;      /* a main account with sub-accounts */
};

/* ---- inode numbers ------------------------------------------------------- */

enum fs_kind {
	FS_K_ROOT = 0, FS_K_REGION = 1, FS_K_IMAGE = 2, FS_K_SNAP = 3, FS_K_VM = 4, FS_K_IMAGE_DIR = 5,
	/* tenants/ (§16, tenants.c): see the map at the top */
	FS_K_TENANT = 6, FS_K_TENANT_IMAGE = 7, FS_K_TENANT_IMAGE_DIR = 8, FS_K_TENANT_SNAP = 9,
};

/* Entry and attribute timeout of what cannot change unseen (seconds). */
#define FS_TIMEOUT 86400.0

#define FS_INO_ROOT 1
#define FS_INO_REGIONS 2
#define FS_INO_STATS 3
#define FS_INO_ERRORS 4 /* /errors (SPEC §9, log.c) */
#define FS_SUB_DISKS 0x100
#define FS_SUB_COPIES 0x200
#define FS_SUB_SHARES 0x300
#define FS_SUB_COPY 0x1000
#define FS_SUB_SHARE 0x8000
#define FS_SUB_FILES 0x400        /* files/ (SPEC §18, inside.c) */
#define FS_SUB_FILES_README 0x401 /* files/README */

static inline fuse_ino_t fs_ino(enum fs_kind kind, int64_t obj, unsigned sub)
{
	/* A row id fits its 40 bits and an entry its 16: nothing spills into
	 * the next field (see the top of this file). */
	IMGFS_ASSERT(obj >= 0 && obj < (1ll << 40) && sub <= 0xffff);
	return (fuse_ino_t)kind << 56 | (fuse_ino_t)obj << 16 | sub;
}
static inline enum fs_kind fs_ino_kind(fuse_ino_t ino) { return (enum fs_kind)(ino >> 56); }
static inline int64_t fs_ino_obj(fuse_ino_t ino) { return (int64_t)((ino >> 16) & ((1ull << 40) - 1)); }
static inline unsigned fs_ino_sub(fuse_ino_t ino) { return (unsigned)(ino & 0xffff); }
/* The FUSE node id of image image_id's directory, given its dir_gen and
 * whether it is seen through shared/ (see the top of this file). */
static inline fuse_ino_t fs_image_dir_nodeid(int64_t image_id, int64_t dir_gen, bool shared)
{
	unsigned g = dir_gen <= 0 ? 0 : (unsigned)((dir_gen - 1) % 0x7fff) + 1;
	if (!g && !shared)
		return fs_ino(FS_K_IMAGE, image_id, 0);
	return fs_ino(FS_K_IMAGE_DIR, image_id, (shared ? 0x8000u : 0) | g);
}
/* The same for the image directory seen through tenants/. */
static inline fuse_ino_t fs_tenant_image_dir_nodeid(int64_t image_id, int64_t dir_gen)
{
	unsigned g = dir_gen <= 0 ? 0 : (unsigned)((dir_gen - 1) % 0x7fff) + 1;
	return fs_ino(g ? FS_K_TENANT_IMAGE_DIR : FS_K_TENANT_IMAGE, image_id, g);
}

/* Inside an image (SPEC §18, inside.c): a file of a guest file system is
 * numbered outside every kind above (bit 63 set), from its image, its
 * volume and its inode number in the guest, so that it is the same after
 * a remount and the guest's own number is its low 32 bits:
 *
 *   1 << 63 | owner << 42 (21 bits) | vol << 32 (10 bits) | guest inode
 *
 * owner is the image id, or 1 << 20 | the snapshot id for a snapshot's
 * data (snapshots/<id>/files/; bit 62 of the number then); ids up to
 * 2^20 - 1.  vol is the device index (0..26; a snapshot's data 0) << 5 |
 * the partition number (1..31; 0: a file system on the whole disk).
 * files/ itself and files/README are IMAGE image (or SNAP snap)
 * FS_SUB_FILES and FS_SUB_FILES_README. */
#define FS_INSIDE_BIT (1ull << 63)
#define FS_INSIDE_MAX_IMAGE ((1ll << 20) - 1)   /* image and snapshot ids shown */
#define FS_INSIDE_SNAP_OWNER (1ll << 20)        /* in the owner field: a snapshot's data */
#define FS_INSIDE_SNAP (1ull << 62)             /* the same, in the inode number */
static inline fuse_ino_t fs_inside_ino(int64_t owner, unsigned vol, uint32_t gino)
{
	return FS_INSIDE_BIT | (fuse_ino_t)owner << 42 | (fuse_ino_t)(vol & 0x3ff) << 32 | gino;
}

/* ---- nodes --------------------------------------------------------------- */

/* Class directories of a region, in listing order (sub 1..8). */
enum fs_class {
	FS_CLASS_NONE = 0,
	FS_CLASS_PUBLIC,
	FS_CLASS_MARKETPLACE,
	FS_CLASS_PRIVATE,
	FS_CLASS_SHARED,
	FS_CLASS_ISO,
	FS_CLASS_RECYCLE,
	FS_CLASS_SNAPSHOTS,
	FS_CLASS_INSTANCES,
	FS_CLASS_COUNT
};
#define FS_SUB_QUOTA 9
#define FS_SUB_CSV 10
#define FS_SUB_JSON 11
#define FS_SUB_TENANTS 12
#define FS_SUB_GUIDE 13

/* What an inode is, once resolved. */
enum fs_what {
	FS_W_INVALID = 0,
	FS_W_ROOT,
	FS_W_REGIONS,
	FS_W_REGION,
	FS_W_CLASS,      /* /regions/<r>/<class> */
	FS_W_QUOTA,
	FS_W_CSV,
	FS_W_JSON,       /* images.json: images.csv's rows as JSON (§15) */
	FS_W_GUIDE,      /* GUIDE: making and converting one's own images (§16) */
	FS_W_IMAGE,      /* an image directory */
	FS_W_ATTR,       /* a generated file of an image, snapshot or instance */
	FS_W_SUBDIR,     /* disks/, copies/, shares/ */
	FS_W_DISK,       /* a blob: disks/<dev> or snapshots/<id>/data */
	FS_W_SNAP,
	FS_W_VM,
	FS_W_SHARE,      /* private/<image>/shares/<account> (share.c) */
	FS_W_COPY,       /* private/<image>/copies/<region> (copies.c) */
	FS_W_COPY_FILE,  /* a file of copies/<region>: status, progress, image */
	FS_W_STATS,      /* /stats (stats.c) */
	FS_W_ERRORS,     /* /errors: the caller's own recent refusals (log.c) */
	FS_W_TENANTS,    /* /regions/<r>/tenants (§16, tenants.c) */
	FS_W_TENANT,     /* tenants/<account> (its class directories are FS_W_CLASS) */
	FS_W_INSIDE,     /* a file of a guest file system under files/ (§18, inside.c) */
};

/* How the caller sees an image (decides its files and their modes). */
enum fs_view { FS_VIEW_NONE = 0, FS_VIEW_PUBLIC, FS_VIEW_MARKETPLACE, FS_VIEW_PRIVATE, FS_VIEW_SHARED,
	       FS_VIEW_ISO, FS_VIEW_RECYCLE };
#define FS_VIEW_BIT(v) (1u << (v))

struct fs_attr;
struct fs_node {
	fuse_ino_t ino;
	enum fs_what what;
	enum fs_class cls;          /* FS_W_CLASS */
	enum fs_view view;          /* images */
	const struct fs_attr *attr; /* FS_W_ATTR, FS_W_SUBDIR, FS_W_DISK of a snapshot */
	struct fs_caller caller;
	struct model_region region;
	struct model_image img;     /* FS_K_IMAGE nodes */
	struct model_snapshot snap; /* FS_K_SNAP nodes */
	struct model_instance vm;   /* FS_K_VM nodes */
	struct model_device dev;    /* FS_W_DISK of an image */
	struct model_vm_disk vmdisk;/* FS_W_DISK of an instance (writable) */
	struct model_share share;   /* FS_W_SHARE */
	int64_t copy_id;            /* FS_W_COPY, FS_W_COPY_FILE: the copy image */
	int64_t blob_id;            /* FS_W_DISK */
	/* Seen through tenants/<account>/ (SPEC §16, tenants.c): the view is
	 * the tenant's own, so caller.account_id is the tenant's, and actor_id
	 * is the account of whoever asks (an administrator, or the tenant's
	 * main account); 0 everywhere else.  tenant: that account's row. */
	int64_t actor_id;
	struct model_account tenant;
	/* FS_W_INSIDE (§18, inside.c): the volume (device index << 5 |
	 * partition number, 0 for a whole-disk file system) and the guest
	 * inode's attributes as its file system stores them; n->dev is the
	 * device, n->blob_id its blob. */
	struct {
		unsigned vol;
		struct ins_stat st;
		/* A listing of this directory (readdir): the most entries the kernel's
		 * buffer can take (0: no bound), so a page reads no more than fit. */
		unsigned list_max;
		bool list_plus; /* a READDIRPLUS (attributes); else names and types only (§18.7) */
	} inside;
};

/* The inode number the kernel is given for n (st_ino): n->ino but for what
 * is seen through tenants/ (its TENANT_ kind).  The node id the kernel
 * knows n by differs from that only for an image directory that moved or
 * is seen as shared or through tenants/ (see the top of this file). */
static inline fuse_ino_t fs_node_st_ino(const struct fs_node *n)
{
	if (!n->actor_id)
		return n->ino;
	switch (fs_ino_kind(n->ino)) {
	case FS_K_IMAGE: return fs_ino(FS_K_TENANT_IMAGE, fs_ino_obj(n->ino), fs_ino_sub(n->ino));
	case FS_K_SNAP: return fs_ino(FS_K_TENANT_SNAP, fs_ino_obj(n->ino), fs_ino_sub(n->ino));
	default: return n->ino; /* tenants/<account>/ and its classes: their own */
	}
}
static inline fuse_ino_t fs_node_nodeid(const struct fs_node *n)
{
	if (n->what != FS_W_IMAGE)
		return fs_node_st_ino(n);
	if (n->actor_id)
		return fs_tenant_image_dir_nodeid(n->img.id, n->img.dir_gen);
	return fs_image_dir_nodeid(n->img.id, n->img.dir_gen, n->view == FS_VIEW_SHARED);
}
/* Whether n is tenants/ or below it (§16): nothing of it is cached by the
 * kernel (who may see it changes with roles, and the watcher invalidates
 * the owner's inodes only). */
static inline bool fs_node_in_tenants(const struct fs_node *n)
{
	return n->actor_id || n->what == FS_W_TENANTS;
}

/* Resolution (node.c).  All return 0 or -errno (-ENOENT for anything the
 * caller may not see). */
int fs_caller_get(struct fs_ctx *ctx, fuse_req_t req, struct fs_caller *out);
/* Whether the caller administers this mount (reads what shows every
 * tenant's activity: /stats).  The one place that decides it. */
bool fs_caller_is_admin(const struct fs_ctx *ctx, const struct fs_caller *c);
int fs_node_resolve(struct fs_ctx *ctx, const struct fs_caller *caller, fuse_ino_t ino, struct fs_node *out);
/* The directory node of image img, whose row the caller holds (no
 * statement but, for an image not the caller's own, whether it is shared
 * with the caller). */
int fs_node_image(struct fs_ctx *ctx, const struct fs_caller *caller, const struct model_image *img,
                  struct fs_node *out);
int fs_node_lookup(struct fs_ctx *ctx, const struct fs_node *parent, const char *name, struct fs_node *out);
/* Attributes of a resolved node (node_stat.c; its timeout:
 * fs_node_timeout). */
int fs_node_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st);
/* The attributes of disk node n (an instance's or an upload's) of the
 * size, stored bytes and time given: fs_node_stat's for it. */
void fs_node_disk_attr(const struct fs_node *n, uint64_t size, uint64_t stored, int64_t mtime_ns, struct stat *st);
/* The attribute timeout of a node: 0 for what other processes change
 * without the kernel knowing which inode (class directories and /regions,
 * whose listings the kernel revalidates by mtime; quota, images.csv/.json), and
 * for everything under multiuser (attributes differ by caller);
 * ctx->timeout for everything else (the watcher invalidates it). */
double fs_node_timeout(const struct fs_ctx *ctx, const struct fs_node *n);
/* Lists the children of a directory node from offset off; emit returns
 * non-zero to stop (buffer full).  Offsets are stable (row ids). */
/* One entry of a listing, and the offset a listing resumed after it
 * starts at; 1 when the reply is full.  With name NULL (and child NULL):
 * no entry, but the listing goes on from next_off (the last entry's offset
 * moves there).  A lister returns 0 at the listing's end, 1 when it
 * stopped short of it (full, or files/'s bound on one request), -errno. */
typedef int (*fs_emit_fn)(void *arg, const char *name, const struct fs_node *child, off_t next_off);
int fs_node_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg);
/* The path of a node, for the log. */
void fs_node_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap);
/* May the caller read n's blob (rights.h)? 0, -EACCES (why in err, or NULL), -EIO (role not read). */
int fs_node_blob_access(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err);
/* Where n is in its region, for a path: "<region>", or
 * "<region>/tenants/<account>" for what is seen through tenants/. */
void fs_node_where(const struct fs_node *n, char *out, size_t cap);

/* ---- the mount's entry points (ops.c, files.c) ---------------------------- */

/* The low-level operations (ops.c). */
extern const struct fuse_lowlevel_ops fs_ops;

/* After the session ended (files.c): the handles whose RELEASE never came
 * (queued by the kernel as the mount went away) are released as a
 * RELEASE would. */
void fs_files_release_all(struct fs_ctx *ctx);
/* Waits until every read answered by a cluster client's thread was
 * answered (each within that client's op timeouts): before the session
 * they reply on goes. */
void fs_started_drain(struct fs_ctx *ctx);
/* The mount's open handles: a room of its state (ctx->handles, rooms.c). */
struct fs_handles;
int fs_handles_new(struct fs_handles **out);
void fs_handles_free(struct fs_handles *hs); /* accepts NULL; none left open */

#endif

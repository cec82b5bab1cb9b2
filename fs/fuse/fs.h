/*
 * fs.h — what the FUSE layer's files (fs/fuse/) share: the mount context, inode
 * numbers, resolved nodes, attribute tables and the small text buffer the
 * generated files are rendered into.
 *
 * Inode numbers are computed, never stored: a 64-bit number holds the kind
 * of object (8 bits), its database row id (40 bits) and which entry of the
 * object it is (16 bits).  Row ids are never reused (AUTOINCREMENT), so an
 * inode number names one thing forever and is the same after a remount
 * (SPEC §2).  Nothing is kept per inode: lookup counts are not tracked and
 * forget is a no-op.
 *
 *   ino 1                       /            ino 2  /regions   ino 3  /stats
 *   REGION  region  0           /regions/<r>
 *   REGION  region  1..8        its class directories (fs_class)
 *   REGION  region  9, 10, 11   quota, images.csv, images.json
 *   REGION  region  12          tenants/ (§16, tenants.c)
 *   IMAGE   image   0           the image directory
 *   IMAGE   image   1..0xff     attribute files (their id in attr.c's table)
 *   IMAGE   image   0x100       disks/          0x101 + idx  disks/<dev>
 *   IMAGE   image   0x200       copies/         0x1000 + 4*region + f: copies/<region>[/f]
 *   IMAGE   image   0x300       shares/         0x8000 + account: shares/<account> (id <= 0x7fff)
 *   SNAP    snap    0, 1..0xff  snapshot directory, its files (ids, attr.c)
 *   VM      vm      0, 1..0xff  instance directory, its files (ids, attr.c)
 *   VM      vm      0x100, 0x101 + idx   disks/, disks/<dev>: vda..vdz
 *                               (idx 0..25, writable), cdrom (idx 26,
 *                               0x11b) and cidata (idx 27, 0x11c), the
 *                               read-only disks of SPEC §16 (sealed blobs;
 *                               model/include/instances.h)
 *   TENANT  account 16*region + e        tenants/<account>/ (e 0) and its
 *                               private/, iso/, recycle-bin/, snapshots/
 *                               (e 1..4) in region (< 4096: region add's
 *                               limit)
 *   TENANT_IMAGE  image  as IMAGE        an image and everything in it seen
 *                               through tenants/<account>/ (§16)
 *   TENANT_SNAP   snap   as SNAP         a snapshot seen through tenants/
 *
 * Those are the st_ino numbers, and the FUSE node ids too, but one: an
 * image directory that moved.  A delete (rmdir private/<img>) makes the
 * kernel mark the directory's inode dead (S_DEAD: an empty listing, ENOENT
 * below it), and it stays in the kernel's inode cache for as long as a
 * process holds it (a shell's cwd, an open dirfd, a find or tar walking
 * it).  Found again under recycle-bin/ — or, after a restore, under
 * private/ — by the same node id and generation, the kernel would reuse
 * that dead inode (the new path lists nothing), and a rename(2) that looks
 * it up while it is still held under its old parent fails with ESTALE
 * (d_splice_alias cannot move the alias without the locks rename holds).
 * A new generation for the same node id is no better: the kernel then
 * marks the held inode bad, and its holders get EIO even in other mounts.
 * So the image directory's node id carries a count of the times it became
 * a new node (images.dir_gen, kept in the database: the same after a
 * remount); st_ino does not change:
 *
 *   IMAGE_DIR image g           the image directory once dir_gen >= 1
 *                               (g = dir_gen, 1..0x7fff, wrapping)
 *   IMAGE_DIR image 0x8000 + g  shared/<image>@<owner>, g = dir_gen as above
 *                               or 0 (never moved)
 *   TENANT_IMAGE_DIR image g    tenants/<account>/<class>/<image> once
 *                               dir_gen >= 1 (TENANT_IMAGE image 0 before)
 *
 * The last line is the same story in a multi-user mount: an owner's
 * private/<image> and a receiver's shared/<image>@<owner> are one directory
 * inode to the kernel if they share a node id, and a directory inode has one
 * dentry, which every lookup of the other name moves (a rename(2) of the
 * owner's then fails with ESTALE while the receiver holds it).  So the
 * shared view of an image directory is a node of its own.  So is the
 * view through tenants/ (an administrator's, or a main account's of its
 * sub-account's image, beside the owner's own in one multi-user mount):
 * every inode of an image or snapshot seen there is of the TENANT_ kinds,
 * whose numbers differ from the owner's in their kind only.  Inside the
 * FUSE layer such a node keeps the owner's kinds (n->ino is IMAGE or SNAP,
 * so every rule of attr.c, share.c, copies.c applies as to the owner's)
 * and says where it is seen with n->actor_id; the TENANT_ kinds are what
 * the kernel is given (fs_node_st_ino, fs_node_nodeid) and what
 * fs_node_resolve takes back.
 *
 * A delete.  The S_DEAD mark is the VFS's (vfs_rmdir, after the file
 * system's rmdir returned 0), on the inode of the dentry the rmdir's own
 * lookup found: the holders' inode, as long as the kernel's entry for the
 * name is valid.  So the first rmdir of an image directory that goes to
 * the recycle bin only renews dir_gen (model_image_renew_dir) and answers
 * ESTALE; do_rmdir then walks the path again with LOOKUP_REVAL, whose
 * revalidation of the name asks us (fuse_dentry_revalidate: a LOOKUP
 * whatever the entry's timeout), gets the new node id, unhashes the old
 * dentry (d_invalidate: its holders keep it and its inode, alive), looks
 * the name up afresh (a new inode) and sends the rmdir again — which
 * moves the image to the bin (dir_gen once more: the bin's node is not
 * the one just marked dead).  The holders' old node resolves to the image
 * wherever it is (below): readdir lists it, openat(fd, "status") reads
 * it, in the bin and after a restore (ops.c, rmdir_renewed; SPEC §12,
 * tests/integration/test_moves.sh).  A kernel that did not repeat an
 * ESTALE rmdir with LOOKUP_REVAL (Linux has since 2012; overlayfs calling
 * vfs_rmdir directly does not) would pass the ESTALE on: a second rmdir
 * then goes through.
 *
 * Every node id of an image directory resolves to the image, whatever its
 * g, so another mount's holder of an older node keeps reading the image
 * through it.  Renames (in place, restores) keep dir_gen: the kernel moves
 * its own dentry and inode there.  Only directories need this (a dead
 * inode is a directory that was removed): the image's files and its
 * subdirectories keep their node ids, and the kernel moves a held
 * subdirectory's dentry under the image's new inode.
 */
#ifndef IMGFS_FS_H
#define IMGFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "ins_proto.h"
#include "model.h"

/* The monotonic clock in ns: rate limits, deadlines, progress (the
 * model's one clock, model_mono_ns; model_now_ns is the wall clock, for
 * what is stored). */
static inline int64_t fs_mono_ns(void)
{
	return model_mono_ns();
}

/* ---- the mount ----------------------------------------------------------- */

/* The requests a mount answers, as counted for /stats (stats.c). */
enum fs_op {
	FS_OP_LOOKUP, FS_OP_FORGET, FS_OP_GETATTR, FS_OP_SETATTR, FS_OP_ACCESS, FS_OP_READLINK, FS_OP_MKNOD,
	FS_OP_MKDIR, FS_OP_UNLINK, FS_OP_RMDIR, FS_OP_SYMLINK, FS_OP_RENAME, FS_OP_LINK, FS_OP_OPEN, FS_OP_READ,
	FS_OP_WRITE, FS_OP_FLUSH, FS_OP_RELEASE, FS_OP_FSYNC, FS_OP_OPENDIR, FS_OP_READDIR, FS_OP_READDIRPLUS,
	FS_OP_STATFS, FS_OP_SETXATTR, FS_OP_GETXATTR, FS_OP_LISTXATTR, FS_OP_REMOVEXATTR, FS_OP_CREATE,
	FS_OP_LSEEK, FS_OP_FALLOCATE, FS_OP_COPY_FILE_RANGE, FS_OP_COUNT
};
/* Errno answers are counted by errno below this (Linux's are 1..133); a
 * larger one is counted in slot 0. */
#define FS_STATS_ERRNOS 134
struct fs_stats {
	atomic_uint_fast64_t requests[FS_OP_COUNT]; /* answered, by operation */
	atomic_uint_fast64_t errors[FS_OP_COUNT];   /* answered with an errno */
	atomic_uint_fast64_t errnos[FS_OP_COUNT][FS_STATS_ERRNOS]; /* the same, by errno */
	atomic_uint_fast64_t read_bytes;            /* replied to READs of blobs and disks */
	atomic_uint_fast64_t written_bytes;         /* taken by WRITEs to disks and uploads */
	atomic_uint_fast64_t shared_bytes;          /* taken by COPY_FILE_RANGE by reference */
};

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
	volatile int stopping;
	/* worker.c */
	struct fs_worker *workers; /* nworkers background task threads */
	unsigned nworkers;         /* 0: this mount runs no tasks */
	pthread_mutex_t work_lock; /* guards work_kicks; with work_cond */
	pthread_cond_t work_cond;  /* kicked: a task was queued */
	uint64_t work_kicks;       /* counts kicks, so none is lost */
	struct fs_stats stats;     /* stats.c */
	/* ops.c: rmdirs of image directories answered ESTALE, so that the
	 * kernel asks again through a fresh lookup (op_rmdir). */
	pthread_mutex_t rmdir_lock;
	struct fs_rmdir_retry {
		int64_t image_id, dir_gen, at_ns;
	} rmdir_retry[32];
};

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

/* ---- text buffers -------------------------------------------------------- */

/* What the renderings of generated files may hold at once (SPEC §12):
 * every buffer given a budget is charged for its capacity beyond
 * FS_BUF_FREE bytes (a small file costs its handle, not the budget) while
 * it grows, and until it is released, and stops growing past it. */
struct fs_budget {
	_Atomic size_t used;
	size_t max;     /* all charged buffers together */
	size_t one_max; /* one buffer */
};
#define FS_BUF_FREE 4096
/* The largest generated file (files.c's RENDER_ONE_MAX): an open past it
 * is ENOMEM, so a listing's rendering stops there (attr.c, show_images). */
#define FS_RENDER_ONE_MAX (16u << 20)

struct fs_buf {
	char *p;
	size_t len, cap;
	bool failed; /* an allocation failed: the content is incomplete */
	bool secret; /* holds a secret (a password written): every byte it
	                held is wiped when it grows or is released */
	bool count;  /* counts the length, keeps no byte (a stat's size) */
	bool mapped; /* p is an mmap of cap bytes (large: given back at release) */
	enum { FS_BUF_FITS, FS_BUF_OVER_ALL, FS_BUF_OVER_ONE } over; /* why failed, with a budget */
	struct fs_budget *budget; /* NULL: not charged */
	int err;     /* a model call behind the content failed (-errno): the
	                content is not to be shown (SPEC §12 "nothing silent") */
};
/* Records the first failure (rc < 0) of a model call a show made. */
static inline void fs_buf_error(struct fs_buf *b, int rc)
{
	if (rc < 0 && !b->err)
		b->err = rc;
}
void fs_buf_put(struct fs_buf *b, const void *data, size_t len);
void fs_buf_puts(struct fs_buf *b, const char *s);
void fs_buf_printf(struct fs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A value followed by a newline, or nothing when the value is empty. */
void fs_buf_value(struct fs_buf *b, const char *v);
/* s as a JSON string, quotes included (RFC 8259): '"' and '\\' escaped,
 * control characters (U+0000..U+001F and DEL) as \u00XX, valid UTF-8
 * copied as is.  A byte that does not start a valid UTF-8 sequence
 * (overlong forms, surrogates and code points past U+10FFFF included) is
 * written as \ufffd, so the output is always valid JSON in UTF-8. */
void fs_buf_json_string(struct fs_buf *b, const char *s);
void fs_buf_release(struct fs_buf *b);
/* Gives back the capacity past the content (a rendering about to be held). */
void fs_buf_trim(struct fs_buf *b);
/* What b is charged to its budget now. */
size_t fs_buf_charge(const struct fs_buf *b);

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

struct fs_node;
/* One generated file or subdirectory of a directory kind (STYLE: tables). */
struct fs_attr {
	unsigned id;        /* a file's inode sub number, fixed in the table (attr.c); 0 for directories */
	const char *name;
	unsigned views;     /* FS_VIEW_BIT mask of image views it appears in (images only) */
	unsigned sub;       /* fixed sub number for directories (FS_SUB_*), 0 for files */
	/* Renders the content; NULL for directories. */
	void (*show)(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out);
	/* Applies a written value (already stripped of one trailing newline);
	 * NULL: read-only.  Returns 0 or -errno with the reason in err. */
	int (*store)(const struct fs_node *n, struct fs_ctx *ctx, const char *value, struct model_err *err);
	/* When store exists: whether it is writable for this node now (NULL: always). */
	bool (*writable)(const struct fs_node *n);
	const char *readonly_why; /* the refusal's reason when writable says no */
	unsigned flags;
	size_t field; /* offsetof the text in struct model_image, for show_text */
	size_t mtime; /* offsetof the file's own int64 time in struct model_image
	                 (ns, 0 = not set yet); 0: the image's mtime_ns */
	unsigned refs; /* the model_image.refs its content or listing needs read */
};
enum {
	FS_ATTR_MULTILINE = 1, /* a value may hold newlines (description, tags) */
	FS_ATTR_BLOB = 2,      /* a blob, not a generated file (snapshot data) */
	FS_ATTR_OWNER_TIME = 8,/* its own time tells of the owner's activity: a
	                          shared view shows the image's mtime instead (§8) */
	FS_ATTR_REMARK = 16,   /* a remark (description, tags, project): what is
	                          written through tenants/ too (§16) */
	FS_ATTR_SECRET = 32,   /* write-only (mode 0200): opening it for reading
	                          is EACCES for everyone, root too; what is
	                          written is wiped from memory once applied
	                          (an instance's password, §16) */
};

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

/* Whether n is an instance's writable disk (vda..vdz: a writable blob). */
static inline bool fs_node_is_vm_disk(const struct fs_node *n)
{
	return n->what == FS_W_DISK && fs_ino_kind(n->ino) == FS_K_VM && !n->vmdisk.sealed;
}
/* Whether n is an instance's read-only disk (cdrom, cidata: a sealed blob,
 * read as an image's disk is, but on the instance's host only, §13). */
static inline bool fs_node_is_vm_media(const struct fs_node *n)
{
	return n->what == FS_W_DISK && fs_ino_kind(n->ino) == FS_K_VM && n->vmdisk.sealed;
}
/* The reason a write to one of them is refused (EPERM). */
#define FS_VM_MEDIA_READONLY "disks/cdrom and disks/cidata are read-only"

/* Tables (attr.c). */
extern const struct fs_attr fs_image_attrs[];
extern const size_t fs_image_attr_count;
extern const struct fs_attr fs_snap_attrs[];
extern const size_t fs_snap_attr_count;
extern const struct fs_attr fs_vm_attrs[];
extern const size_t fs_vm_attr_count;
/* The id the next attribute of each table takes (attr.c: never reused). */
extern const unsigned fs_image_attr_next_id, fs_snap_attr_next_id, fs_vm_attr_next_id;
/* The inode sub number of entry a of a table: its id, or a directory's sub. */
static inline unsigned fs_attr_ino_sub(const struct fs_attr *a) { return a->sub ? a->sub : a->id; }
extern const char *const fs_class_names[FS_CLASS_COUNT];

/* Whether attribute a of an image appears for node n's view. */
bool fs_attr_visible(const struct fs_attr *a, const struct fs_node *n);
/* Renders images.csv / images.json / quota of a region for the caller.
 * images.json is an array of objects, one per row of images.csv, keys its
 * header's column names, size a number, every other value a string. */
void fs_show_csv(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out, int64_t *mtime_ns);
void fs_show_json(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out, int64_t *mtime_ns);
void fs_show_quota(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out);
/* A generated file's content now, into b (files.c): 0, -ENOMEM when b
 * could not hold it, or the error of a model call behind it (-EIO: the
 * database did not answer), with a log line naming the file.  mtime_ns
 * (may be NULL): images.csv's and images.json's newest row's time. */
int fs_render(struct fs_ctx *ctx, const struct fs_node *n, struct fs_buf *b, int64_t *mtime_ns);
/* Writes into a generated file: whether n accepts writes now. */
bool fs_attr_is_writable(const struct fs_node *n);

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
/* Attributes of a resolved node; *timeout_out gets the attribute timeout. */
int fs_node_stat(struct fs_ctx *ctx, const struct fs_node *n, struct stat *st);
/* The attribute timeout of a node: 0 for what other processes change
 * without the kernel knowing which inode (class directories and /regions,
 * whose listings the kernel revalidates by mtime; quota, images.csv/.json), and
 * for everything under multiuser (attributes differ by caller);
 * ctx->timeout for everything else (the watcher invalidates it). */
double fs_node_timeout(const struct fs_ctx *ctx, const struct fs_node *n);
/* Lists the children of a directory node from offset off; emit returns
 * non-zero to stop (buffer full).  Offsets are stable (row ids). */
typedef int (*fs_emit_fn)(void *arg, const char *name, const struct fs_node *child, off_t next_off);
int fs_node_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg);
/* The path of a node, for the log. */
void fs_node_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap);
/* Whether the node's blob is readable by the caller (-EACCES otherwise). */
int fs_node_blob_access(const struct fs_node *n);
/* Where n is in its region, for a path: "<region>", or
 * "<region>/tenants/<account>" for what is seen through tenants/. */
void fs_node_where(const struct fs_node *n, char *out, size_t cap);

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
/* The path of an inside node, for the log. */
void fs_inside_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap);
/* Starts the spare helper if there is none and the bound leaves room (at
 * mount, and after a request took it). */
void fs_inside_spare_fill(void);
/* The imgfs_inside_* families of /stats (stats.c). */
void fs_inside_stats(struct fs_buf *out);
/* (The helpers end with the daemon: their socket closes, they exit.) */

/* After the session ended (files.c): the handles whose RELEASE never came
 * (queued by the kernel as the mount went away) are released as a
 * RELEASE would. */
void fs_files_release_all(void);

/* Instance disks open through this mount (disk.c): one writable blob per
 * disk, shared by every handle, writers serialised. */
struct fs_disk;
/* Opens (or shares) the disk of node n; write: for writing.  -EREMOTE
 * (another host's, §13), -EACCES (an encrypted disk this mount has no key
 * for, §17): the reason in err. */
int fs_disk_open(struct fs_ctx *ctx, const struct fs_node *n, bool write, struct fs_disk **out, struct model_err *err);
/* Drops a handle; the last writer records the new size and mtime. */
void fs_disk_close(struct fs_ctx *ctx, struct fs_disk *d, bool write);
ssize_t fs_disk_pread(struct fs_disk *d, void *buf, size_t len, uint64_t off);
/* A write: an upload's goes through its write hook (a first write of no
 * known format: -EINVAL, the upload abandoned; -ECANCELED once cancelled). */
ssize_t fs_disk_pwrite(struct fs_disk *d, const void *buf, size_t len, uint64_t off);
int fs_disk_truncate(struct fs_disk *d, uint64_t size);
/* fallocate(2) punch-hole (keep_size) and zero-range: [off, off + len)
 * reads zeros, whole chunks give their space back; a zero-range without
 * keep_size grows the disk to off + len first. */
int fs_disk_punch(struct fs_disk *d, uint64_t off, uint64_t len, bool keep_size);
int64_t fs_disk_seek(struct fs_disk *d, uint64_t off, int whence);
/* copy_file_range from a sealed blob into an instance's disk or this
 * mount's upload (SPEC §16): blob_wblob_share under the disk's writer
 * lock, an upload's through its share hook.  -EXDEV from another region's
 * store. */
ssize_t fs_disk_share(struct fs_disk *d, blob_store *s, const blob_manifest *src, uint64_t src_off,
                      uint64_t dst_off, uint64_t len, struct blob_share_counts *counts);
/* The disk's blob row (what a copy by reference records as the holder). */
int64_t fs_disk_blob_id(const struct fs_disk *d);
int fs_disk_fsync(struct fs_disk *d);
/* Size, stored bytes and last write of a disk node (open or not). */
int fs_disk_stat(struct fs_ctx *ctx, const struct fs_node *n, uint64_t *size, uint64_t *stored, int64_t *mtime_ns);
/* Whether any disk of the instance is open for writing here. */
bool fs_disk_vm_writing(struct fs_ctx *ctx, int64_t vm_id);
/* Whether any disk of the instance is open here at all. */
bool fs_disk_vm_open(struct fs_ctx *ctx, int64_t vm_id);

/* ---- uploads (§5.3, upload.c; their writable blobs in disk.c) ------------- */

/* What the mount that began an upload knows of it, kept in its fs_disk and
 * guarded by the disk's writer lock (held around the write hook). */
struct fs_upload {
	struct model_upload u;  /* its rows: image, blob, task, wblob */
	char path[320];         /* disks/<dev>'s path, for refusals */
	const char *format;     /* sniffed ("raw", "qcow2", "iso"), NULL until known */
	uint64_t head_end;      /* bytes written contiguously from offset 0 */
	int failed;             /* -EINVAL (refused) or -ECANCELED: every later write returns it */
	bool closed;            /* the last writer closed: the task has the file */
	int64_t checked_ns;     /* when the task row was last looked at (a cancel elsewhere) */
	char refusal[256];      /* why a write refused it (for the refused hook) */
	/* The file's SHA-256 (§2.1) and XXH3-128 (§2.3) as its writes arrive:
	 * bytes [0, sha_at) fed, sha_zeros of them a gap before a write fed as
	 * zeros — never more than the bytes written (UPLOAD_HASH_SLACK aside),
	 * so the hasher's work, and the close that waits for it, follow what
	 * was written, not the file's size; NULL before the first write and
	 * once sha_lost (a write before sha_at, a shrink below it, a copy by
	 * reference, more holes than bytes: the image gets its hashes from
	 * the background checksum pass).  Freed by disk.c with the entry. */
	blob_sha256_async *sha;
	uint64_t sha_at;
	uint64_t sha_zeros;
	bool sha_lost;
};
/* Whether n is the disk of an image being uploaded (by cp: a blob that
 * the mount that began the upload writes). */
static inline bool fs_node_is_upload(const struct fs_node *n)
{
	return n->what == FS_W_DISK && fs_ino_kind(n->ino) == FS_K_IMAGE && n->img.status == MODEL_IMG_UPLOADING &&
	       !model_image_is_url_import(&n->img);
}
/* URL import (§5.2): whether n is the disk of an image being imported from
 * a URL — written by the import task only; opening it is EBUSY (ops.c),
 * stat shows the bytes so far (fs_upload_stat). */
static inline bool fs_node_is_import(const struct fs_node *n)
{
	return n->what == FS_W_DISK && fs_ino_kind(n->ino) == FS_K_IMAGE && n->img.status == MODEL_IMG_UPLOADING &&
	       model_image_is_url_import(&n->img);
}
/* What disk.c calls back for an upload this mount began (upload.c
 * registers it at fs_disk_open_upload): the disk owns the writer lock and
 * the upload's state (up), the upload's logic runs in these callbacks, so
 * no call goes from disk.c into upload.c and no lock from one into the
 * other. */
struct fs_disk_hooks {
	/* A write, under the disk's writer lock: the bytes go in through
	 * fs_disk_pwrite_locked.  *refused: the upload was refused by it
	 * (refused is called once the lock is released). */
	ssize_t (*write)(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, const void *buf, size_t len,
	                 uint64_t off, bool *refused);
	/* A copy by reference into it, under the writer lock: the chunks go
	 * in through fs_disk_share_locked; *refused as for write. */
	ssize_t (*share)(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, blob_store *s,
	                 const blob_manifest *src, uint64_t src_off, uint64_t dst_off, uint64_t len,
	                 struct blob_share_counts *counts, bool *refused);
	void (*refused)(struct fs_ctx *ctx, struct fs_upload *up);
	/* A truncate to size, under the writer lock, once it succeeded. */
	void (*truncated)(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, uint64_t size);
	/* The last writer closed (up->closed set, no lock held): hand over. */
	void (*closed)(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up);
};
/* disk.c: an upload's entry (begin: this mount starts it, with hooks;
 * writers other than the beginning mount's are -EBUSY), its state, its
 * blob. */
int fs_disk_open_upload(struct fs_ctx *ctx, const struct model_upload *u, bool write, bool begin,
                        const struct fs_disk_hooks *hooks, struct fs_disk **out, struct model_err *err);
struct fs_upload *fs_disk_upload(struct fs_disk *d); /* NULL unless this mount's upload */
blob_wblob *fs_disk_wblob(struct fs_disk *d);
/* The upload's failed (0, -EINVAL or -ECANCELED), read under the writer lock. */
int fs_disk_upload_failed(struct fs_disk *d);
/* Only from a write or share hook (disk.c holds the writer lock). */
ssize_t fs_disk_pwrite_locked(struct fs_disk *d, const void *buf, size_t len, uint64_t off);
ssize_t fs_disk_share_locked(struct fs_disk *d, blob_store *s, const blob_manifest *src, uint64_t src_off,
                             uint64_t dst_off, uint64_t len, struct blob_share_counts *counts);
/* Every later write to the image's upload open here fails with err. */
void fs_disk_upload_fail(int64_t image_id, int err);
/* Size and stored bytes of a wblob (the open one when this mount has it). */
int fs_disk_stat_blob(struct fs_ctx *ctx, int64_t region_id, int64_t blob_id, const char *wblob, uint64_t *size,
                      uint64_t *stored, int64_t *written_ns);
/* upload.c.  Creating disks/<name> in p (disks/ of a queued private or ISO
 * image): begins the upload and opens it for writing into *out; *n becomes
 * the new file's node. */
int fs_upload_create(struct fs_ctx *ctx, const struct fs_node *p, const char *name, struct fs_node *n,
                     struct fs_disk **out, struct model_err *err);
/* Opening disks/<dev> of an uploading image: readers share the blob,
 * writers only in the mount that began it, before its last close. */
int fs_upload_open(struct fs_ctx *ctx, const struct fs_node *n, bool write, struct fs_disk **out,
                   struct model_err *err);
/* truncate(2) of an upload's disk (cp --sparse ends with one). */
int fs_upload_truncate(struct fs_ctx *ctx, const struct fs_node *n, uint64_t size);
/* close(2) of a writer (FLUSH): what it wrote is made durable. */
int fs_upload_flush(struct fs_disk *d);
int fs_upload_stat(struct fs_ctx *ctx, const struct fs_node *n, uint64_t *size, uint64_t *stored, int64_t *mtime_ns);
/* Writing `cancel` (§2.1). */
int fs_upload_cancel(struct fs_ctx *ctx, const struct fs_node *n, struct model_err *err);

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

/* ---- /stats (stats.c) ------------------------------------------------------- */

/* The name of an operation ("lookup"), as /stats and the log show it. */
const char *fs_op_name(enum fs_op op);
/* Counts a request of kind op (every handler, first thing). */
void fs_stats_request(struct fs_ctx *ctx, enum fs_op op);
/* Counts an errno answer (err > 0) to a request of kind op. */
void fs_stats_error(struct fs_ctx *ctx, enum fs_op op, int err);
/* Counts bytes of a blob or disk read (READ's reply) or written (WRITE). */
void fs_stats_read(struct fs_ctx *ctx, size_t n);
void fs_stats_written(struct fs_ctx *ctx, size_t n);
void fs_stats_shared(struct fs_ctx *ctx, uint64_t n);
/* Renders /stats: the Prometheus text exposition format (SPEC §15). */
void fs_show_stats(struct fs_ctx *ctx, struct fs_buf *out);
/* Whether the caller may read /stats: anyone in single-user mode and with
 * -o stats=all; in a multi-user mount the administrators only. */
bool fs_stats_readable(const struct fs_ctx *ctx, const struct fs_caller *c);
/* /stats's mode for that mount: 0444, or 0400 (owned by the mounting user). */
unsigned fs_stats_mode(const struct fs_ctx *ctx);
/* Appends v as a label value of that format: backslash, double quote and
 * newline escaped as \\, \" and \n, everything else as it is. */
void fs_stats_label(struct fs_buf *out, const char *v);

/* Logging (log.c): one line per refusal, SPEC §9.  where: a file's path
 * (opened for appending, created 0640) or "syslog"; 0 or -errno. */
int fs_log_open(struct fs_ctx *ctx, const char *where);
void fs_log_close(struct fs_ctx *ctx);
/* Opens the log file's path anew (after logrotate or mv moved it):
 * async-signal-safe, so a SIGHUP handler may call it; nothing with
 * syslog or before fs_log_open. */
void log_reopen(void);
void fs_log(struct fs_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A -o debug line (syslog priority debug); callers check ctx->debug. */
void fs_log_debug(struct fs_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs "<op> <path>: <ERRNO> <reason>" and records the reason in the
 * image's error file when the node belongs to an image the caller owns.
 * The log line is rate-limited per caller and operation (log.c). */
void fs_refuse(struct fs_ctx *ctx, const char *op, const char *path, int err, const char *reason, int64_t image_id);
/* The same with who (NULL: nothing) after the reason on the log line only:
 * a refusal through tenants/ names both accounts (fs_tenant_who). */
void fs_refuse_by(struct fs_ctx *ctx, const char *op, const char *path, int err, const char *reason, int64_t image_id,
                  const char *who);
const char *fs_errno_name(int err);
/* The errno a reply carries for err (either sign; positive out): ENOSYS
 * from below (librados, a database driver) becomes EPERM, since the kernel
 * takes ENOSYS as "no such operation" and stops sending it for the whole
 * mount (SPEC §12).  op_opendir's deliberate ENOSYS does not pass here. */
int fs_reply_errno(int err);
/* The uid of the caller this thread answers (ops.c sets it at each
 * request), for the log's rate limit; -1 outside requests. */
void fs_log_set_caller(int64_t uid);
/* The account and uid the request acts as (fs_caller_get), whose
 * refusals /errors shows it. */
void fs_log_set_account(int64_t account_id, int64_t uid);
/* /errors: the newest refusals of caller c (SPEC §9), one line each,
 * "<UTC time> <op> <path>: <ERRNO> <reason>"; returns the time of the
 * newest in nanoseconds, 0 when there is none. */
int64_t fs_show_errors(const struct fs_ctx *ctx, const struct fs_caller *c, struct fs_buf *out);
/* Default size at which the log file is rotated (-o log_max=; 0: never). */
#define FS_LOG_MAX_DEFAULT (16LL << 20)
#define FS_LOG_KEEP 3 /* imgfs.log.1 ... .3 */
/* in as printable UTF-8 for a log line or a file another account reads
 * (§9): a backslash becomes \\, every byte outside printable UTF-8
 * (controls, invalid sequences, C1 and bidirectional controls) \xNN.
 * NUL-terminated, cut at a whole character to fit size; its length. */
size_t fs_escape(char *out, size_t size, const char *in);

/* Cache invalidation (watch.c).  names: also drop the old name of an entry
 * that went away (never from inside a request: the kernel holds the
 * directory's lock there). */
void fs_invalidate(struct fs_ctx *ctx, const struct model_change *c, bool names);
/* After a change of image img made by the request being answered, before
 * it replies: fs_invalidate of it, names kept.  now: img is the row as the
 * change left it (an insert returned it), so the invalidation needs no
 * read of it; otherwise it is the row from before. */
void fs_image_changed(struct fs_ctx *ctx, const struct model_image *img, bool now);
/* After a change of instance vm (the row from before it) that changed the
 * image it was built from: fs_image_changed of that image (its
 * `instances` file), when it has one. */
void fs_vm_image_changed(struct fs_ctx *ctx, const struct model_instance *vm);
int fs_watch_start(struct fs_ctx *ctx);
void fs_watch_stop(struct fs_ctx *ctx);

/* The low-level operations (ops.c). */
extern const struct fuse_lowlevel_ops fs_ops;

/* ---- background tasks (worker.c) ---------------------------------- */

struct fs_worker;
/* Starts n worker threads running the model's tasks (model_task_work) and
 * its housekeeping; n == 0 runs none.  Called once the daemon has forked
 * and the session is mounted.  0 or -errno (threads already started stay
 * running: stop them with fs_workers_stop). */
int fs_workers_start(struct fs_ctx *ctx, unsigned n);
/* Sets ctx->stopping, wakes and joins the workers: a task running is put
 * back in the queue between two chunks, for the next mount to resume.
 * Call before the model is closed. */
void fs_workers_stop(struct fs_ctx *ctx);
/* A request queued a task: wake an idle worker now rather than at its next
 * poll.  Does nothing when this mount runs no workers. */
void fs_workers_kick(struct fs_ctx *ctx);

#endif

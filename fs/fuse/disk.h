/*
 * disk.h — disks and uploads: the writable blobs open through this mount
 * (disk.c: an instance's disks, an upload's blob) and the upload that
 * writes through them (upload.c, SPEC §5.3), tied by the hooks disk.c
 * calls under its writer lock.  Who includes it: disk.c, upload.c,
 * files.c, node.c, attr.c, ops.c.  Locks: see fs.h, "locks".
 */
#ifndef IMGFS_DISK_H
#define IMGFS_DISK_H

#include "fs.h"

/* The mount's open disks: a room of its state (ctx->disks, rooms.c). */
struct fs_disks;
int fs_disks_new(struct fs_disks **out);
/* Accepts NULL; every disk was closed before (fs_files_release_all). */
void fs_disks_free(struct fs_disks *ds);

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

/* Instance disks open through this mount (disk.c): one writable blob per
 * disk, shared by every handle, writers serialised. */
struct fs_disk;
/* Opens (or shares) the disk of node n; write: for writing.  -EREMOTE
 * (another host's, §13), -EACCES (an encrypted disk this mount has no key
 * for, §17): the reason in err. */
int fs_disk_open(struct fs_ctx *ctx, const struct fs_node *n, bool write, struct fs_disk **out, struct model_err *err);
/* Drops a handle; the last writer records the new size and mtime. */
void fs_disk_close(struct fs_ctx *ctx, struct fs_disk *d, bool write);
/* why (cap bytes, may be NULL): an early disk's reason for an EIO (SPEC
 * §6.5 "Faults"), "" otherwise. */
ssize_t fs_disk_pread(struct fs_disk *d, void *buf, size_t len, uint64_t off, char *why, size_t cap);
/* A small read of a cloud disk in the cluster, started: 1 when done(arg,
 * n) will be called once, on the cluster client's thread, with what
 * fs_disk_pread would return; 0 when not (read the waiting way). */
int fs_disk_pread_start(struct fs_disk *d, void *buf, size_t len, uint64_t off, void (*done)(void *arg, ssize_t n),
                        void *arg);
/* A small write of a cloud disk in the cluster, started: 1 when done(arg,
 * n) will be called once, on the cluster client's thread, with what
 * fs_disk_pwrite would return (its time set first when it is > 0); 0 when
 * not (write the waiting way).  d stays open until done: the writer's
 * request holds its file. */
int fs_disk_pwrite_start(struct fs_disk *d, const void *buf, size_t len, uint64_t off,
                         void (*done)(void *arg, ssize_t n), void *arg);
/* What done above does first with a write that landed: d's time set. */
void fs_disk_written(struct fs_disk *d);
/* A write: an upload's goes through its hooks (a first write of no known
 * format: -EINVAL, the upload abandoned; -ECANCELED once cancelled).  An
 * upload's write that its admit hook takes is answered through
 * answer(arg, len) before its bytes are stored (disk.c): then the return
 * is len, and nothing after answer may use what the request owned but buf
 * (answer NULL: answered by the caller, once stored).  So is a cloud
 * disk's write of a whole chunk when durable is false (the writer did
 * not ask for O_DIRECT, O_SYNC or O_DSYNC): once in flight. */
ssize_t fs_disk_pwrite(struct fs_disk *d, const void *buf, size_t len, uint64_t off, bool durable,
                       void (*answer)(void *arg, size_t n), void *arg);
/* A cloud disk's writes answered before they landed (durable false
 * above, SPEC §11): waited for; 0, or the -errno of the last that did not
 * land since *seen (a handle's count of failures told, from
 * fs_disk_ahead_mark at its open: each handle is told once). */
int fs_disk_settle_writes(struct fs_disk *d, uint64_t *seen);
uint64_t fs_disk_ahead_mark(struct fs_disk *d);
/* Whether d reads through an image still arriving (SPEC §6.5 "Early"). */
bool fs_disk_is_early(const struct fs_disk *d);
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
/* fs_disk_settle_writes, then the disk's fsync. */
int fs_disk_fsync(struct fs_disk *d, uint64_t *seen);
/* Size, stored bytes and last write of a disk node (open or not). */
int fs_disk_stat(struct fs_ctx *ctx, const struct fs_node *n, uint64_t *size, uint64_t *stored, int64_t *mtime_ns);
/* Size, stored bytes and last write (0: none since its open) of an open
 * disk, from memory: no statement (under the disks' lock). */
void fs_disk_now(struct fs_disk *d, uint64_t *size, uint64_t *stored, int64_t *written_ns);
/* An instance's disk open as inode ino: its node's attributes st, whose
 * time is mtime_ns, kept for fs_disk_attr_open (the first open's). */
void fs_disk_keep_attr(struct fs_ctx *ctx, struct fs_disk *d, fuse_ino_t ino, const struct stat *st, int64_t mtime_ns);
/* The attributes of inode ino if it is an instance's disk open here, from
 * what its open kept and the open disk alone, no statement: what a
 * getattr answers while the database does not (SPEC §13 "A cloud disk
 * while the database is away").  Under multiuser, for its opener's uid
 * (and root) only.  0, or -EIO when no such disk is open. */
int fs_disk_attr_open(struct fs_ctx *ctx, fuse_ino_t ino, uid_t uid, struct stat *st);
/* Whether any disk of the instance is open for writing here. */
bool fs_disk_vm_writing(struct fs_ctx *ctx, int64_t vm_id);
/* Whether any disk of the instance is open here at all. */
bool fs_disk_vm_open(struct fs_ctx *ctx, int64_t vm_id);

/* ---- uploads (§5.3, upload.c; their writable blobs in disk.c) ------------- */

/* What the mount that began an upload knows of it: upload.c's own
 * struct, allocated for an upload only, held by its fs_disk entry and
 * guarded by the disk's writer lock (held around its hooks). */
struct fs_upload;
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
	/* Before a write, under the disk's writer lock: 0 when the write may
	 * be answered before its bytes are stored (the write hook follows
	 * with answered), 1 when it is answered once stored (the format not
	 * known yet: the sniff may refuse it), -errno refused (*refused: the
	 * upload was refused by it; refused is called once the lock is
	 * released). */
	int (*admit)(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, const void *buf, size_t len,
	             uint64_t off, bool *refused);
	/* The write, under the writer lock: the bytes go in through
	 * fs_disk_pwrite_locked.  answered: its writer has the answer
	 * already, and a failure fails the upload (later writes, the close).
	 * *refused as for admit. */
	ssize_t (*write)(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, const void *buf, size_t len,
	                 uint64_t off, bool answered, bool *refused);
	/* A copy by reference into it, under the writer lock: the chunks go
	 * in through fs_disk_share_locked; *refused as for write. */
	ssize_t (*share)(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, blob_store *s,
	                 const blob_manifest *src, uint64_t src_off, uint64_t dst_off, uint64_t len,
	                 struct blob_share_counts *counts, bool *refused);
	void (*refused)(struct fs_ctx *ctx, struct fs_upload *up);
	/* A truncate to size, under the writer lock, once it succeeded. */
	void (*truncated)(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up, uint64_t size);
	/* The last writer closed (no lock held, every write stored): hand over. */
	void (*closed)(struct fs_ctx *ctx, struct fs_disk *d, struct fs_upload *up);
	/* At that close, under the disks' lock (no writer left): true when not
	 * one byte came (only a size: `truncate -s`, SPEC §5.3), which closed
	 * abandons; an opener for writing meanwhile waits for that, then gets
	 * ESTALE, and the kernel looks the name up again and creates it anew. */
	bool (*empty)(struct fs_disk *d, const struct fs_upload *up);
	/* Under the writer lock: the errno every later write returns (0:
	 * none); fail sets it (a cancel) unless it is set. */
	int (*failed)(const struct fs_upload *up);
	void (*fail)(struct fs_upload *up, int err);
	/* The entry's last reference went: up is freed. */
	void (*free)(struct fs_upload *up);
};
/* disk.c: an upload's entry (up, from upload.c: this mount begins it,
 * with hooks, and the entry owns up from a success on; NULL: another
 * handle on it, writers other than the beginning mount's are -EBUSY), its
 * state, its blob. */
int fs_disk_open_upload(struct fs_ctx *ctx, const struct model_upload *u, bool write, struct fs_upload *up,
                        const struct fs_disk_hooks *hooks, struct fs_disk **out, struct model_err *err);
struct fs_upload *fs_disk_upload(struct fs_disk *d); /* NULL unless this mount's upload */
blob_wblob *fs_disk_wblob(struct fs_disk *d);
/* The upload's failed errno (0: none), read under the writer lock. */
int fs_disk_upload_failed(struct fs_disk *d);
/* Waits for the write the writer lock's holder is storing, if any. */
void fs_disk_settle(struct fs_disk *d);
/* Only from a write or share hook (disk.c holds the writer lock). */
ssize_t fs_disk_pwrite_locked(struct fs_disk *d, const void *buf, size_t len, uint64_t off);
ssize_t fs_disk_share_locked(struct fs_disk *d, blob_store *s, const blob_manifest *src, uint64_t src_off,
                             uint64_t dst_off, uint64_t len, struct blob_share_counts *counts);
/* Every later write to the image's upload open here fails with err. */
void fs_disk_upload_fail(struct fs_ctx *ctx, int64_t image_id, int err);
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

#endif

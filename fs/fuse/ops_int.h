/*
 * ops_int.h — what the FUSE handlers' files share: the request helpers
 * (req.c, below the handlers: it calls none of them), and the handlers
 * ops.c's operations table names from files.c (open files) and xattr.c
 * (extended attributes).  ops.c holds entries, attributes, listings and
 * the directory verbs.  Seen only by those four.
 *
 * Every handler starts with ops_count and replies exactly once; a refusal
 * goes through ops_refuse (the log line, the image's error file, the
 * reply), an error that is no refusal (ENOENT, a failed lookup) through
 * ops_reply_err.
 */
#ifndef IMGFS_OPS_INT_H
#define IMGFS_OPS_INT_H

#include "fs.h"
#include "stats.h"

/* req.c: the request helpers. */

/* The mount of a request. */
struct fs_ctx *ops_ctx(fuse_req_t req);
/* Counts the request for /stats, notes its operation for ops_reply_err,
 * sets the log's caller and writes the -o debug line. */
void ops_count(fuse_req_t req, enum fs_op op, fuse_ino_t ino, const char *name);
/* Replies err (0: success without data), counting an errno answer. */
void ops_reply_err(fuse_req_t req, int err);
/* The operation a thread that is no FUSE thread answers (a cluster
 * client's, replying to a started read or write: files.c), for
 * ops_reply_err's count by operation. */
void ops_answering(enum fs_op op);
/* Resolves ino (and a child by name) for the request's caller. */
int ops_resolve(fuse_req_t req, fuse_ino_t ino, struct fs_node *n);
int ops_resolve_child(fuse_req_t req, fuse_ino_t parent, const char *name, struct fs_node *p, struct fs_node *n);
bool ops_is_dir(const struct fs_node *n);
/* Logs the refusal of op on n (/name) with its reason, records it in the
 * image's error file and replies err. */
void ops_refuse(fuse_req_t req, const char *op, const struct fs_node *n, const char *name, int err,
                const char *reason);
/* After an operation on an image went through: its error file clears. */
void ops_succeeded(struct fs_ctx *ctx, const struct fs_node *n);
/* After a change to n's object by this request: the kernel's caches go. */
void ops_node_changed(struct fs_ctx *ctx, const struct fs_node *n);
int ops_fill_entry(struct fs_ctx *ctx, const struct fs_node *n, struct fuse_entry_param *e);

/* files.c: the create verbs of disks/ (an upload, an instance's disk) and
 * the handlers of open files. */
void ops_create_upload(fuse_req_t req, const struct fs_node *p, const char *name, struct fuse_file_info *fi);
void ops_create_vm_disk(fuse_req_t req, const struct fs_node *p, const char *name, struct fuse_file_info *fi);
void ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi);
void ops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void ops_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
void ops_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph);
void ops_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi);
void ops_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
                         fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len, int flags);

/* xattr.c: the extended attribute handlers. */
void ops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void ops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void ops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags);
void ops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif

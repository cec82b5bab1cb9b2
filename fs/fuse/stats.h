/*
 * stats.h — /stats (stats.c, SPEC §15): what a mount counts and how it is
 * shown.  The counters live in the mount context (struct fs_ctx, fs.h);
 * every handler counts its request first thing (ops_count) and every
 * errno answer (ops_reply_err).  Lock-free: the counters are atomics.
 */
#ifndef IMGFS_STATS_H
#define IMGFS_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs_buf;
struct fs_caller;
struct fs_ctx;

/* The requests a mount answers, as counted for /stats (stats.c). */
enum fs_op {
	FS_OP_LOOKUP, FS_OP_FORGET, FS_OP_GETATTR, FS_OP_SETATTR, FS_OP_ACCESS, FS_OP_READLINK, FS_OP_MKNOD,
	FS_OP_MKDIR, FS_OP_UNLINK, FS_OP_RMDIR, FS_OP_SYMLINK, FS_OP_RENAME, FS_OP_LINK, FS_OP_OPEN, FS_OP_READ,
	FS_OP_WRITE, FS_OP_FLUSH, FS_OP_RELEASE, FS_OP_FSYNC, FS_OP_OPENDIR, FS_OP_READDIR, FS_OP_READDIRPLUS,
	FS_OP_STATFS, FS_OP_SETXATTR, FS_OP_GETXATTR, FS_OP_LISTXATTR, FS_OP_REMOVEXATTR, FS_OP_CREATE,
	FS_OP_LSEEK, FS_OP_FALLOCATE, FS_OP_COPY_FILE_RANGE, FS_OP_POLL, FS_OP_COUNT
};
/* Errno answers are counted by errno below this (Linux's are 1..133); a
 * larger one is counted in slot 0. */
#define FS_STATS_ERRNOS 134
struct fs_stats {
	atomic_uint_fast64_t requests[FS_OP_COUNT]; /* answered, by operation */
	atomic_uint_fast64_t errors[FS_OP_COUNT];   /* answered with an errno */
	atomic_uint_fast64_t errnos[FS_OP_COUNT][FS_STATS_ERRNOS]; /* the same, by errno */
	atomic_uint_fast64_t read_bytes;            /* replied to READs of blobs and disks */
	atomic_uint_fast64_t cluster_reads;         /* READs of cloud disks answered by a cluster client's thread */
	atomic_uint_fast64_t cluster_writes;        /* WRITEs of cloud disks answered by a cluster client's thread */
	atomic_uint_fast64_t written_bytes;         /* taken by WRITEs to disks and uploads */
	atomic_uint_fast64_t upload_bytes;          /* of them, into uploads (as they arrive) */
	atomic_uint_fast64_t shared_bytes;          /* taken by COPY_FILE_RANGE by reference */
	atomic_uint_fast64_t inside_list_pages;     /* files/: listing pages asked of helpers (inside.c) */
	atomic_uint_fast64_t inside_list_entries;   /* files/: entries those pages gave the kernel */
	atomic_uint_fast64_t inside_list_read;      /* files/: entries those pages held (their inodes read) */
	atomic_uint_fast64_t inside_list_names;     /* files/: entries of READDIR pages (names only, no inode read) */
};


/* The name of an operation ("lookup"), as /stats and the log show it. */
const char *fs_op_name(enum fs_op op);
/* Counts a request of kind op (every handler, first thing). */
void fs_stats_request(struct fs_ctx *ctx, enum fs_op op);
/* Counts an errno answer (err > 0) to a request of kind op. */
void fs_stats_error(struct fs_ctx *ctx, enum fs_op op, int err);
/* Counts bytes of a blob or disk read (READ's reply) or written (WRITE). */
void fs_stats_read(struct fs_ctx *ctx, size_t n);
void fs_stats_cluster_read(struct fs_ctx *ctx);
void fs_stats_cluster_write(struct fs_ctx *ctx);
void fs_stats_written(struct fs_ctx *ctx, size_t n);
void fs_stats_uploaded(struct fs_ctx *ctx, uint64_t n);
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

#endif

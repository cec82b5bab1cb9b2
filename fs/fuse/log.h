/*
 * log.h — the log (log.c, SPEC §9): one line per refusal, the rate limit,
 * rotation, the image's error file and /errors.  No FUSE: it takes the
 * mount context by pointer only.  Threads: any; log.c serialises its
 * writes under fs_ctx.log_lock (fs.h, "locks").
 */
#ifndef IMGFS_LOG_H
#define IMGFS_LOG_H

#include <stddef.h>
#include <stdint.h>

struct fs_buf;
struct fs_caller;
struct fs_ctx;

/* Logging (log.c): one line per refusal, SPEC §9.  where: a file's path
 * (opened for appending, created 0640) or "syslog"; 0 or -errno. */
int fs_log_open(struct fs_ctx *ctx, const char *where);
void fs_log_close(struct fs_ctx *ctx);
/* Opens the log file's path anew (after logrotate or mv moved it):
 * async-signal-safe, so a SIGHUP handler may call it; nothing with
 * syslog or before fs_log_open. */
void fs_log_reopen(void);
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
/* The log's rate-limit slots and each caller's /errors ring: a room of the
 * mount's state (ctx->refusals, made by rooms.c).  A context without it
 * logs every refusal and keeps none for /errors. */
struct fs_refusals;
/* /errors keeps the lines of at most this many callers a mount (SPEC §9);
 * the one whose newest line is oldest gives its place to a new one. */
#define FS_ERR_CALLERS 256
int fs_refusals_new(struct fs_refusals **out);
void fs_refusals_free(struct fs_refusals *rf); /* accepts NULL */
/* Default size at which the log file is rotated (-o log_max=; 0: never). */
#define FS_LOG_MAX_DEFAULT (16LL << 20)
#define FS_LOG_KEEP 3 /* imgfs.log.1 ... .3 */
/* in as printable UTF-8 for a log line or a file another account reads
 * (§9): a backslash becomes \\, every byte outside printable UTF-8
 * (controls, invalid sequences, C1 and bidirectional controls) \xNN.
 * NUL-terminated, cut at a whole character to fit size; its length. */
size_t fs_escape(char *out, size_t size, const char *in);

#endif

/*
 * stats.c — /stats at the root of the mount: what the mount has done, in
 * the Prometheus text exposition format (version 0.0.4; SPEC §15), so that
 * `cat` and any scraper read it.
 *
 * Who calls it: ops.c counts every request it answers (fs_stats_request at
 * the top of each handler, fs_stats_error when the answer is an errno);
 * node.c renders the file when it is stat()ed or opened, like any
 * generated file (content taken once at open).  Counters are per mount and
 * start at zero when it mounts; they are relaxed atomics, bumped from every
 * FUSE thread without a lock.
 *
 * What tests read here: that a second walk of an unchanged tree sends no
 * LOOKUP or READDIRPLUS (the kernel's caches serve it), and that no
 * request read a whole table (imgfs_db_unexpected_scan_rows_total, the
 * model's count of rows that statements not allowed to scan read in full
 * scans: model/db/db.h).
 */
#include <inttypes.h>

#include "fs.h"

static const char *const op_names[FS_OP_COUNT] = {
	[FS_OP_LOOKUP] = "lookup", [FS_OP_FORGET] = "forget", [FS_OP_GETATTR] = "getattr",
	[FS_OP_SETATTR] = "setattr", [FS_OP_ACCESS] = "access", [FS_OP_READLINK] = "readlink",
	[FS_OP_MKNOD] = "mknod", [FS_OP_MKDIR] = "mkdir", [FS_OP_UNLINK] = "unlink", [FS_OP_RMDIR] = "rmdir",
	[FS_OP_SYMLINK] = "symlink", [FS_OP_RENAME] = "rename", [FS_OP_LINK] = "link", [FS_OP_OPEN] = "open",
	[FS_OP_READ] = "read", [FS_OP_WRITE] = "write", [FS_OP_FLUSH] = "flush", [FS_OP_RELEASE] = "release",
	[FS_OP_FSYNC] = "fsync", [FS_OP_OPENDIR] = "opendir", [FS_OP_READDIR] = "readdir",
	[FS_OP_READDIRPLUS] = "readdirplus", [FS_OP_STATFS] = "statfs", [FS_OP_SETXATTR] = "setxattr",
	[FS_OP_GETXATTR] = "getxattr", [FS_OP_LISTXATTR] = "listxattr", [FS_OP_REMOVEXATTR] = "removexattr",
	[FS_OP_CREATE] = "create", [FS_OP_LSEEK] = "lseek", [FS_OP_FALLOCATE] = "fallocate",
};

const char *fs_op_name(enum fs_op op)
{
	return op >= 0 && op < FS_OP_COUNT ? op_names[op] : "?";
}

void fs_stats_request(struct fs_ctx *ctx, enum fs_op op)
{
	atomic_fetch_add_explicit(&ctx->stats.requests[op], 1, memory_order_relaxed);
}

void fs_stats_error(struct fs_ctx *ctx, enum fs_op op)
{
	atomic_fetch_add_explicit(&ctx->stats.errors[op], 1, memory_order_relaxed);
}

/* One counter family with an `op` label: every operation, zeros included,
 * so a scraper sees every series from the first scrape on. */
static void per_op(struct fs_buf *out, const char *name, const char *help, const atomic_uint_fast64_t *v)
{
	fs_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (int op = 0; op < FS_OP_COUNT; op++)
		fs_buf_printf(out, "%s{op=\"%s\"} %" PRIuFAST64 "\n", name, op_names[op],
		              atomic_load_explicit(&v[op], memory_order_relaxed));
}

void fs_show_stats(struct fs_ctx *ctx, struct fs_buf *out)
{
	per_op(out, "imgfs_requests_total", "FUSE requests answered, by operation.", ctx->stats.requests);
	per_op(out, "imgfs_request_errors_total", "FUSE requests answered with an errno, by operation.",
	       ctx->stats.errors);
	fs_buf_printf(out,
	              "# HELP imgfs_db_statements_total Database statements run.\n"
	              "# TYPE imgfs_db_statements_total counter\n"
	              "imgfs_db_statements_total %" PRId64 "\n"
	              "# HELP imgfs_db_rows_total Rows the database produced for them.\n"
	              "# TYPE imgfs_db_rows_total counter\n"
	              "imgfs_db_rows_total %" PRId64 "\n"
	              "# HELP imgfs_db_write_transactions_total Write transactions begun (each holds the "
	              "database's write lock).\n"
	              "# TYPE imgfs_db_write_transactions_total counter\n"
	              "imgfs_db_write_transactions_total %" PRId64 "\n",
	              ctx->m ? model_statements(ctx->m) : 0, ctx->m ? model_rows(ctx->m) : 0,
	              ctx->m ? model_writes(ctx->m) : 0);
	fs_buf_printf(out,
	              "# HELP imgfs_db_unexpected_scan_rows_total Rows that statements not allowed to scan read "
	              "in full table scans (0 unless an index is missing).\n"
	              "# TYPE imgfs_db_unexpected_scan_rows_total counter\n"
	              "imgfs_db_unexpected_scan_rows_total %" PRId64 "\n",
	              ctx->m ? model_scan_steps(ctx->m) : 0);
}

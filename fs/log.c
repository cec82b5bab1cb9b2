/*
 * log.c — the daemon's log (<state>/imgfs.log, and stderr in the
 * foreground) and SPEC §9 refusals: one line naming the operation, the
 * path, the errno and the reason; the same reason goes to the image's
 * `error` file.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "fs.h"

const char *fs_errno_name(int err)
{
	switch (err < 0 ? -err : err) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case EACCES: return "EACCES";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EDQUOT: return "EDQUOT";
	case ENOMEM: return "ENOMEM";
	case ENODATA: return "ENODATA";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case EREMOTE: return "EREMOTE";
	default: return "EUNKNOWN";
	}
}

void fs_log(struct fs_ctx *ctx, const char *fmt, ...)
{
	char line[1024], stamp[21];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	model_fmt_time(stamp, time(NULL));
	pthread_mutex_lock(&ctx->log_lock);
	if (ctx->log) {
		fprintf(ctx->log, "%s imgfs: %s\n", stamp, line);
		fflush(ctx->log);
	}
	if (ctx->log_stderr)
		fprintf(stderr, "imgfs: %s\n", line);
	pthread_mutex_unlock(&ctx->log_lock);
}

void fs_refuse(struct fs_ctx *ctx, const char *op, const char *path, int err, const char *reason, int64_t image_id)
{
	const char *why = reason && reason[0] ? reason : strerror(err < 0 ? -err : err);
	fs_log(ctx, "%s %s: %s %s", op, path, fs_errno_name(err), why);
	if (image_id)
		model_image_set_error(ctx->m, image_id, why);
}

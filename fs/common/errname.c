/*
 * errname.c — errno names for what people read: the log's refusal lines
 * (fs/fuse/log.c), /stats's errno labels (fs/fuse/stats.c) and `imgfs
 * admin`'s messages (fs/cli/admin.c).  Pure: no state but a thread's
 * buffer for a number the list lacks.
 */
#include <errno.h>
#include <stdio.h>

#include "common.h"

/* The symbolic name of an errno for the log ("EMFILE"); one the list
 * lacks is written as its number ("E123"), never as a guess. */
const char *fs_errno_name(int err)
{
	static _Thread_local char other[16];
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
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case EAGAIN: return "EAGAIN";
	case EROFS: return "EROFS";
	case EFBIG: return "EFBIG";
	case ESTALE: return "ESTALE";
	case ENOTSUP: return "ENOTSUP";
	case ENOSYS: return "ENOSYS";
	case ERANGE: return "ERANGE";
	case EBADF: return "EBADF";
	case EINTR: return "EINTR";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case EOVERFLOW: return "EOVERFLOW";
	case ELOOP: return "ELOOP";
	case EMLINK: return "EMLINK";
	case ENOTCONN: return "ENOTCONN";
	case ECANCELED: return "ECANCELED";
	default:
		snprintf(other, sizeof(other), "E%d", err < 0 ? -err : err);
		return other;
	}
}

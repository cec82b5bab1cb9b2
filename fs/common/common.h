/*
 * common.h — what the command line (fs/cli/), the FUSE layer (fs/fuse/)
 * and the HTTP server (fs/serve/) share that is none of theirs: no FUSE,
 * no HTTP, no model.  Small on purpose: a helper lands here only when two
 * rooms had each written it.  Threads: any; nothing here keeps state.
 */
#ifndef IMGFS_COMMON_H
#define IMGFS_COMMON_H

/* The symbolic name of an errno (either sign), "EMFILE"; one the list
 * lacks is "E123", never a guess (errname.c).  The string is static or
 * the calling thread's, valid until its next call. */
const char *fs_errno_name(int err);

/* sd_notify(3) without libsystemd (notify.c): msg ("READY=1",
 * "STOPPING=1") to $NOTIFY_SOCKET; nothing when that is unset. */
void fs_sd_notify(const char *msg);

#endif

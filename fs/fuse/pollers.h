/*
 * pollers.h — poll(2) waiters on generated files (pollers.c).  Who includes it:
 * files.c (FUSE_POLL, release), watch.c and copies.c (invalidations wake
 * them).
 */
#ifndef IMGFS_POLLERS_H
#define IMGFS_POLLERS_H

#include "fs.h"

/* key (a file handle) waits for inode ino to change: ph is notified at the
 * next fs_poll_wake(ino), then dropped; a registration key had is replaced.
 * 0, or -ENOMEM (ph dropped: the caller answers as if it had changed). */
int fs_poll_wait(const void *key, fuse_ino_t ino, struct fuse_pollhandle *ph);
/* key waits no more (released, or answered ready). */
void fs_poll_forget(const void *key);
/* Inode ino changed: every waiter on it is notified, once. */
void fs_poll_wake(fuse_ino_t ino);

#endif

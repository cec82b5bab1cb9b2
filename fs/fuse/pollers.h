/*
 * pollers.h — poll(2) waiters on generated files (pollers.c).  Who includes it:
 * files.c (FUSE_POLL, release), watch.c and copies.c (invalidations wake
 * them), rooms.c (the room's life: ctx->pollers).
 */
#ifndef IMGFS_POLLERS_H
#define IMGFS_POLLERS_H

#include "fs.h"

/* The mount's poll waiters: a room of its state (ctx->pollers). */
struct fs_pollers;
int fs_pollers_new(struct fs_pollers **out);
/* Accepts NULL; what still waits is dropped (the session is gone). */
void fs_pollers_free(struct fs_pollers *ps);

/* key (a file handle) waits for inode ino to change: ph is notified at the
 * next fs_poll_wake(ino), then dropped; a registration key had is replaced.
 * 0, or -ENOMEM (ph dropped: the caller answers as if it had changed). */
int fs_poll_wait(struct fs_pollers *ps, const void *key, fuse_ino_t ino, struct fuse_pollhandle *ph);
/* key waits no more (released, or answered ready). */
void fs_poll_forget(struct fs_pollers *ps, const void *key);
/* Inode ino changed: every waiter on it is notified, once. */
void fs_poll_wake(struct fs_pollers *ps, fuse_ino_t ino);

#endif

/*
 * rooms.h — the mount's state, room by room (rooms.c; docs/style.md "No
 * mutable file-scope variable"): each room is a struct of its own file,
 * reached from the context and made and freed with the mount, so that two
 * mounts in one process (a unit test's, a remount's) share nothing.
 *
 *   ctx->renderings  render.c   what generated files hold, their turns
 *   ctx->pollers     pollers.c  poll(2) waiters on generated files
 *   ctx->refusals    log.c      the log's rate-limit slots, /errors rings
 *   ctx->disks       disk.c     the open disks of instances and uploads
 *   ctx->handles     files.c    every open file handle, for release_all
 *   ctx->inside      inside.c   files/'s disks, helpers (inside_helper.c:
 *                               the spare and its thread) and counters
 *
 * Who includes it: fs/cli/main.c (the mount's life) and the unit tests
 * that build a context.
 */
#ifndef IMGFS_FS_ROOMS_H
#define IMGFS_FS_ROOMS_H

struct fs_ctx;

/* Makes every room of ctx: 0, or -ENOMEM with none left made. */
int fs_rooms_new(struct fs_ctx *ctx);
/* Frees what fs_rooms_new made (each may be NULL), after the last handle
 * (fs_files_release_all) and the log's close; the pointers become NULL.
 * No thread or child process of a room outlives it (files/'s spare
 * helper's thread is joined, every helper reaped). */
void fs_rooms_free(struct fs_ctx *ctx);

#endif

/*
 * render.h — the mount's renderings of generated files (render.c, SPEC §12):
 * one room of the mount's state, reached from the context (ctx->renderings),
 * made at mount and freed after the last handle (fs/cli/main.c).
 *
 * Who includes it: files.c (open, read, poll of generated files), main.c
 * (its life) and tests/unit/fs/fuse/test_render.c.  It knows no node and
 * no request: a caller renders the bytes into a buffer charged to
 * fs_render_budget(), and hands them over with the owner they are charged to.
 */
#ifndef IMGFS_FS_RENDER_H
#define IMGFS_FS_RENDER_H

#include <stdint.h>

#include "buf.h"
#include "include/core.h" /* struct model_err */

/* SPEC §12: what the renderings of one mount hold at once, one rendering,
 * and what one account's renderings hold. */
#define FS_RENDER_MAX (64u << 20)
#define FS_RENDER_ACCOUNT_MAX (16u << 20)
/* Accounts rendering a listing at once: more than FUSE has threads. */
#define FS_RENDER_LANES 64

struct fs_renderings;

/* One rendering: the bytes, shared by the descriptors of one owner whose
 * content came out the same.  Read buf; the rest is render.c's. */
struct fs_rendering {
	struct fs_buf buf;    /* charged to the room's budget until released */
	uint64_t owner, hash; /* whose, and of what bytes */
	unsigned refs;        /* descriptors, and replies being sent from it */
	struct fs_rendering *next;
};

int fs_render_new(struct fs_renderings **out);
/* Accepts NULL.  Every rendering was put back before (fs_files_release_all). */
void fs_render_free(struct fs_renderings *rs);

/* The budget a rendering's buffer is charged to while it grows. */
struct fs_budget *fs_render_budget(struct fs_renderings *rs);
/* The reason for a buffer that stopped growing at the budget (b->over),
 * into err; false when b did not stop there. */
bool fs_render_over_why(const struct fs_buf *b, struct model_err *err);

/* Renderings are an account's; a caller without one, its uid's. */
static inline uint64_t fs_render_owner(int64_t account_id, uint32_t uid)
{
	return account_id > 0 ? (uint64_t)account_id : (1ull << 63) | uid;
}

/* The shared rendering of b's bytes for owner: an existing one (b is
 * released) or b itself, kept (b is emptied).  -ENOMEM with the reason in
 * err when the owner would hold more than FS_RENDER_ACCOUNT_MAX. */
int fs_render_take(struct fs_renderings *rs, struct fs_buf *b, uint64_t owner, struct fs_rendering **out,
                   struct model_err *err);
void fs_render_hold(struct fs_renderings *rs, struct fs_rendering *r);
/* Drops one reference (r may be NULL); the last gives the bytes back. */
void fs_render_put(struct fs_renderings *rs, struct fs_rendering *r);
/* What owner's renderings are charged now (bytes). */
size_t fs_render_held(struct fs_renderings *rs, uint64_t owner);

/* The files that grow with the data are rendered one at a time per owner:
 * waits until owner renders nothing else and at most FS_RENDER_LANES-1
 * others do, and takes its turn; leave gives it back. */
void fs_render_lane_enter(struct fs_renderings *rs, uint64_t owner);
void fs_render_lane_leave(struct fs_renderings *rs, uint64_t owner);
/* Owners rendering now, and threads waiting for a turn (tests, /stats). */
void fs_render_lanes(struct fs_renderings *rs, unsigned *busy, unsigned *waiting);

#endif

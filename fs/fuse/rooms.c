/*
 * rooms.c — makes and frees the rooms of the mount's state (rooms.h).
 * Each room's own file says what it holds and under which lock; this file
 * only gives them the mount's life, in one place, so that a room added is
 * made and freed wherever a context is (fs/cli/main.c, unit tests).
 */
#include <errno.h>

#include "dirs.h"
#include "disk.h"
#include "fs.h"
#include "log.h"
#include "pollers.h"
#include "render.h"
#include "rooms.h"

int fs_rooms_new(struct fs_ctx *ctx)
{
	int rc;
	if ((rc = fs_render_new(&ctx->renderings)) < 0 || (rc = fs_pollers_new(&ctx->pollers)) < 0 ||
	    (rc = fs_refusals_new(&ctx->refusals)) < 0 || (rc = fs_disks_new(&ctx->disks)) < 0 ||
	    (rc = fs_handles_new(&ctx->handles)) < 0 || (rc = fs_inside_new(&ctx->inside)) < 0) {
		fs_rooms_free(ctx);
		return rc;
	}
	return 0;
}

void fs_rooms_free(struct fs_ctx *ctx)
{
	fs_inside_free(ctx->inside); /* first: its helpers' last stderr goes to the log */
	ctx->inside = NULL;
	fs_handles_free(ctx->handles);
	ctx->handles = NULL;
	fs_disks_free(ctx->disks);
	ctx->disks = NULL;
	fs_refusals_free(ctx->refusals);
	ctx->refusals = NULL;
	fs_pollers_free(ctx->pollers);
	ctx->pollers = NULL;
	fs_render_free(ctx->renderings);
	ctx->renderings = NULL;
}

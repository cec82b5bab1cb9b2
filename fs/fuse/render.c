/*
 * render.c — the renderings of generated files (SPEC §12), one room of the
 * mount's state (struct fs_renderings, ctx->renderings): what files.c's
 * opens of generated files hold, shared and bounded.  Called by files.c
 * (open, read, poll); knows no node and no request, so it calls nothing of
 * the FUSE layer but buf.c, and its bounds are tested on their own
 * (tests/unit/fs/fuse/test_render.c).  Load: a lookup per open of a
 * generated file, under one lock, in a table of RENDER_BUCKETS lists.
 *
 * A generated file's content is taken at open().  Descriptors of one
 * account whose content came out the same bytes share one rendering,
 * refcounted: 1,000 descriptors of one images.json hold it once (issue 36:
 * it was 5.2 MiB a descriptor).  Each open still renders — its content is
 * the state at its own open, whatever an older rendering says — and then
 * looks for the same bytes: found, it takes a reference and gives its own
 * copy back at once (a large one is a mapping: to the system, buf.c).
 * Keyed by the bytes, not by a version, so nothing can serve one caller's
 * content to another account or an old state to a new open.
 *
 * Bounded: every rendering, held or being rendered, is charged to one
 * budget (FS_RENDER_MAX in all, FS_RENDER_ONE_MAX for one), and what one
 * account holds to FS_RENDER_ACCOUNT_MAX, so that one account cannot take
 * it all; past any of them the open is ENOMEM with the reason.  The first
 * FS_BUF_FREE bytes of each rendering are not charged: a small file costs
 * its handle, and a full budget never refuses a `cat status`.  The files
 * that grow with the data (images.csv, images.json, /stats) are rendered
 * one at a time per account (the lanes): 32 concurrent opens of one 5 MiB
 * images.json would otherwise make 32 copies at once that end up as one,
 * and the budget would refuse some for it.  Per account, not for the
 * whole mount, so that an account that opens its listing in a loop waits
 * for itself and nobody else; a rendering waits for nothing but the
 * database, so its turn always ends.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "render.h"

#define RENDER_BUCKETS 256

/* What one account's renderings are charged (present while it is not 0). */
struct render_owner {
	uint64_t owner;
	size_t held;
	struct render_owner *next;
};

struct fs_renderings {
	struct fs_budget budget;
	pthread_mutex_t lock; /* the table and the owners */
	struct fs_rendering *table[RENDER_BUCKETS];
	struct render_owner *owners;
	pthread_mutex_t lanes_lock; /* the lanes; with lanes_free */
	pthread_cond_t lanes_free;
	uint64_t lanes[FS_RENDER_LANES]; /* the owners rendering now */
	unsigned lanes_busy, lanes_waiting;
};
IMGFS_LOCK_LEVEL(render_lock, 58);       /* a leaf (fs.h "locks") */
IMGFS_LOCK_LEVEL(render_lanes_lock, 58); /* a leaf */

int fs_render_new(struct fs_renderings **out)
{
	struct fs_renderings *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->budget.max = FS_RENDER_MAX;
	rs->budget.one_max = FS_RENDER_ONE_MAX;
	pthread_mutex_init(&rs->lock, NULL);
	pthread_mutex_init(&rs->lanes_lock, NULL);
	pthread_cond_init(&rs->lanes_free, NULL);
	*out = rs;
	return 0;
}

void fs_render_free(struct fs_renderings *rs)
{
	if (!rs)
		return;
	for (unsigned i = 0; i < RENDER_BUCKETS; i++)
		IMGFS_ASSERT(!rs->table[i]);
	IMGFS_ASSERT(!rs->owners && !rs->lanes_busy);
	pthread_cond_destroy(&rs->lanes_free);
	pthread_mutex_destroy(&rs->lanes_lock);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

struct fs_budget *fs_render_budget(struct fs_renderings *rs)
{
	return &rs->budget;
}

bool fs_render_over_why(const struct fs_buf *b, struct model_err *err)
{
	if (b->over == FS_BUF_OVER_ONE)
		snprintf(err->msg, sizeof(err->msg), "a generated file is at most %u MiB: this one is larger",
		         FS_RENDER_ONE_MAX >> 20);
	else if (b->over == FS_BUF_OVER_ALL)
		snprintf(err->msg, sizeof(err->msg),
		         "the generated files open in this mount take %u MiB, the most it holds: try again once "
		         "some are closed", FS_RENDER_MAX >> 20);
	else
		return false;
	return true;
}

/* ---- the lanes ------------------------------------------------------------ */

static bool lane_taken(const struct fs_renderings *rs, uint64_t owner)
{
	for (unsigned i = 0; i < rs->lanes_busy; i++)
		if (rs->lanes[i] == owner)
			return true;
	return false;
}

void fs_render_lane_enter(struct fs_renderings *rs, uint64_t owner)
{
	IMGFS_LOCK(&rs->lanes_lock, render_lanes_lock);
	rs->lanes_waiting++;
	while (rs->lanes_busy >= FS_RENDER_LANES || lane_taken(rs, owner))
		IMGFS_COND_WAIT(&rs->lanes_free, &rs->lanes_lock, render_lanes_lock);
	rs->lanes_waiting--;
	rs->lanes[rs->lanes_busy++] = owner;
	IMGFS_UNLOCK(&rs->lanes_lock, render_lanes_lock);
}

void fs_render_lane_leave(struct fs_renderings *rs, uint64_t owner)
{
	IMGFS_LOCK(&rs->lanes_lock, render_lanes_lock);
	for (unsigned i = 0; i < rs->lanes_busy; i++) {
		if (rs->lanes[i] == owner) {
			rs->lanes[i] = rs->lanes[--rs->lanes_busy];
			break;
		}
	}
	pthread_cond_broadcast(&rs->lanes_free); /* the waiters wait for different owners */
	IMGFS_UNLOCK(&rs->lanes_lock, render_lanes_lock);
}

void fs_render_lanes(struct fs_renderings *rs, unsigned *busy, unsigned *waiting)
{
	IMGFS_LOCK(&rs->lanes_lock, render_lanes_lock);
	*busy = rs->lanes_busy;
	*waiting = rs->lanes_waiting;
	IMGFS_UNLOCK(&rs->lanes_lock, render_lanes_lock);
}

/* ---- the shared renderings ------------------------------------------------ */

/* A hash of the bytes, a word at a time: equal hashes are compared byte
 * for byte, so it only has to spread. */
static uint64_t content_hash(const char *p, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len, w;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	return h;
}

static struct render_owner **owner_slot(struct fs_renderings *rs, uint64_t owner)
{
	struct render_owner **o = &rs->owners;
	while (*o && (*o)->owner != owner)
		o = &(*o)->next;
	return o;
}

size_t fs_render_held(struct fs_renderings *rs, uint64_t owner)
{
	IMGFS_LOCK(&rs->lock, render_lock);
	struct render_owner *o = *owner_slot(rs, owner);
	size_t held = o ? o->held : 0;
	IMGFS_UNLOCK(&rs->lock, render_lock);
	return held;
}

int fs_render_take(struct fs_renderings *rs, struct fs_buf *b, uint64_t owner, struct fs_rendering **out,
                   struct model_err *err)
{
	uint64_t hash = content_hash(b->p, b->len);
	struct fs_rendering **slot = &rs->table[hash % RENDER_BUCKETS], *r;
	struct render_owner **o = NULL;
	fs_buf_trim(b); /* what doubling left past the end */
	size_t charge = fs_buf_charge(b);
	IMGFS_LOCK(&rs->lock, render_lock);
	for (r = *slot; r; r = r->next)
		if (r->owner == owner && r->hash == hash && r->buf.len == b->len &&
		    (!b->len || memcmp(r->buf.p, b->p, b->len) == 0))
			break;
	if (r) {
		r->refs++;
		IMGFS_UNLOCK(&rs->lock, render_lock);
		fs_buf_release(b);
		*out = r;
		return 0;
	}
	if (charge) {
		o = owner_slot(rs, owner);
		if (*o && (*o)->held + charge > FS_RENDER_ACCOUNT_MAX) {
			size_t held = (*o)->held;
			IMGFS_UNLOCK(&rs->lock, render_lock);
			fs_buf_release(b);
			snprintf(err->msg, sizeof(err->msg),
			         "the generated files this account holds open take %zu KiB, and this one %zu KiB more: one "
			         "account holds at most %u MiB of them (close some)",
			         held >> 10, charge >> 10, FS_RENDER_ACCOUNT_MAX >> 20);
			return -ENOMEM;
		}
		if (!*o && !(*o = calloc(1, sizeof(**o)))) {
			IMGFS_UNLOCK(&rs->lock, render_lock);
			fs_buf_release(b);
			return -ENOMEM;
		}
		(*o)->owner = owner;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		if (o && !(*o)->held) {
			struct render_owner *gone = *o;
			*o = gone->next;
			free(gone);
		}
		IMGFS_UNLOCK(&rs->lock, render_lock);
		fs_buf_release(b);
		return -ENOMEM;
	}
	r->buf = *b;
	memset(b, 0, sizeof(*b));
	r->owner = owner;
	r->hash = hash;
	r->refs = 1;
	r->next = *slot;
	*slot = r;
	if (o)
		(*o)->held += charge;
	IMGFS_UNLOCK(&rs->lock, render_lock);
	*out = r;
	return 0;
}

void fs_render_hold(struct fs_renderings *rs, struct fs_rendering *r)
{
	IMGFS_LOCK(&rs->lock, render_lock);
	r->refs++;
	IMGFS_UNLOCK(&rs->lock, render_lock);
}

void fs_render_put(struct fs_renderings *rs, struct fs_rendering *r)
{
	if (!r)
		return;
	IMGFS_LOCK(&rs->lock, render_lock);
	IMGFS_ASSERT(r->refs > 0);
	if (--r->refs) {
		IMGFS_UNLOCK(&rs->lock, render_lock);
		return;
	}
	struct fs_rendering **p = &rs->table[r->hash % RENDER_BUCKETS];
	while (*p != r)
		p = &(*p)->next;
	*p = r->next;
	size_t charge = fs_buf_charge(&r->buf);
	struct render_owner **o = charge ? owner_slot(rs, r->owner) : NULL;
	if (o && *o && ((*o)->held -= charge) == 0) {
		struct render_owner *gone = *o;
		*o = gone->next;
		free(gone);
	}
	IMGFS_UNLOCK(&rs->lock, render_lock);
	fs_buf_release(&r->buf);
	free(r);
}

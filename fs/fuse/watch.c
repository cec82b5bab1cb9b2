/*
 * watch.c — keeping the kernel's caches true.  The mount answers with long
 * entry and attribute timeouts (a tree walk is served from the kernel's
 * caches: docs/fuse-notes.md, find -ls), so every change must reach the
 * kernel as an invalidation:
 *
 *   - changes made through this mount are invalidated by the request that
 *     made them, before it replies (attributes only: safe inside a request),
 *     so a stat right after a write sees the new size;
 *   - changes made by anybody — a background task, another mount or host,
 *     `imgfs admin` — are read from the model's change log by a watcher
 *     thread (not a FUSE worker, so it may also drop names) as soon as the
 *     database says another connection committed (model_changes_wait:
 *     SQLite is polled every 200 ms, PostgreSQL notifies).
 *
 * The kernel ignores invalidations of inodes and names it does not hold.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "attr.h"
#include "dirs.h"
#include "fs.h"
#include "log.h"
#include "pollers.h"
#include "watch.h"

/* How long one wait for a commit lasts: the longest an unmount waits for
 * the watcher to notice it should stop.  (SQLite is polled every 200 ms
 * within it: db/sqlite.c.) */
#define WATCH_WAIT_MS 250
/* How long this mount's own quiet commits (model_write_quiet: a mkdir,
 * which invalidated what it changed itself) may go unread: the change log
 * keeps its rows for ten minutes (changes.c). */
#define WATCH_QUIET_NS (30 * 1000000000LL)

static enum fs_class folder_class(enum model_folder f)
{
	switch (f) {
	case MODEL_FOLDER_PUBLIC: return FS_CLASS_PUBLIC;
	case MODEL_FOLDER_MARKETPLACE: return FS_CLASS_MARKETPLACE;
	case MODEL_FOLDER_PRIVATE: return FS_CLASS_PRIVATE;
	case MODEL_FOLDER_ISO: return FS_CLASS_ISO;
	case MODEL_FOLDER_RECYCLE: return FS_CLASS_RECYCLE;
	default: return FS_CLASS_NONE;
	}
}

/* The kernel's cached pages and attributes of ino go, and whoever waits
 * in poll(2) on it looks again (pollers.c). */
static void inval(struct fs_ctx *ctx, fuse_ino_t ino)
{
	fuse_lowlevel_notify_inval_inode(ctx->se, ino, -1, 0);
	fs_poll_wake(ctx->pollers, ino);
}

/* Every inode an object can have (its directory, files — ids below
 * next_id, the table's next free one — subdirectories and disks: an
 * image's devices, an instance's vda..vdz, cdrom and cidata); absent
 * ones cost one ENOENT from the kernel each. */
static void inval_object(struct fs_ctx *ctx, enum fs_kind kind, int64_t obj, unsigned next_id)
{
	unsigned disks = kind == FS_K_VM ? MODEL_VM_SLOTS : MODEL_MAX_DEVICES;
	inval(ctx, fs_ino(kind, obj, 0));
	for (unsigned i = 1; i < next_id; i++)
		inval(ctx, fs_ino(kind, obj, i));
	for (unsigned sub = FS_SUB_DISKS; sub <= FS_SUB_DISKS + disks; sub++)
		inval(ctx, fs_ino(kind, obj, sub));
	if (kind == FS_K_IMAGE) {
		inval(ctx, fs_ino(kind, obj, FS_SUB_COPIES));
		inval(ctx, fs_ino(kind, obj, FS_SUB_SHARES));
	}
}

/* An image directory's other node ids (fs.h): its shared view's, and,
 * once it moved, the current ones and those of the last delete (two: the
 * one the delete renewed, which a process sitting in the image still
 * holds, in this mount or another, and the one it removed), so that their
 * attributes and listings follow the image too. */
static void inval_image_dir(struct fs_ctx *ctx, int64_t image_id, int64_t dir_gen)
{
	for (int shared = 0; shared <= 1; shared++) {
		for (int64_t g = dir_gen; g >= 0 && g >= dir_gen - 2; g--)
			if (g > 0 || shared)
				inval(ctx, fs_image_dir_nodeid(image_id, g, shared));
	}
}

/* The names of an instance's disks that are not attached (any more):
 * the change does not say which disk went, and dropping the name of one
 * still attached would make every open file of it look deleted (a
 * "(deleted)" path in /proc/PID/fd) and detach a bind mount on it.  The
 * attached ones keep their names: a disk's node id is its device's, so a
 * kernel's entry for it stays right whatever changed in it (its attributes
 * are invalidated by inode).  An instance that is gone drops them all. */
static void forget_detached(struct fs_ctx *ctx, int64_t vm_id)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	bool attached[MODEL_VM_SLOTS] = {false};
	fuse_ino_t dir = fs_ino(FS_K_VM, vm_id, FS_SUB_DISKS);
	int n = model_instance_disks(ctx->m, vm_id, disks);
	for (int i = 0; i < n; i++)
		if (disks[i].index >= 0 && disks[i].index < MODEL_VM_SLOTS)
			attached[disks[i].index] = true;
	for (int idx = 1; idx < MODEL_VM_SLOTS; idx++) {
		char dev[8];
		model_vm_disk_name(dev, idx);
		if (!attached[idx])
			fuse_lowlevel_notify_inval_entry(ctx->se, dir, dev, strlen(dev));
	}
}

/* A change of an image (c->img known). */
static void inval_image(struct fs_ctx *ctx, const struct model_change *c, bool names)
{
	int64_t r = c->region_id;
	inval_object(ctx, FS_K_IMAGE, c->obj, fs_image_attr_next_id);
	if (c->img.here)
		inval_image_dir(ctx, c->obj, c->img.dir_gen); /* gone: its names are dropped below */
	enum fs_class cls = folder_class(c->folder);
		if (cls != FS_CLASS_NONE) {
			fuse_ino_t dir = fs_ino(FS_K_REGION, r, cls);
			inval(ctx, dir);
			if (names && c->name[0])
				fuse_lowlevel_notify_inval_entry(ctx->se, dir, c->name, strlen(c->name));
		}
	if (names)
		fs_share_forget_entry(ctx, c); /* the receivers' shared/<name>@<owner> (share.c) */
	if (c->img.here)
		fs_copies_forget(ctx, c, names); /* a copy's entry in its source's copies/ (copies.c) */
	/* Its other listings: the recycle bin it may have entered, the shared/
	 * views of other accounts (their names: just above), and the region's
	 * generated files. */
	inval(ctx, fs_ino(FS_K_REGION, r, FS_CLASS_PRIVATE));
	inval(ctx, fs_ino(FS_K_REGION, r, FS_CLASS_RECYCLE));
	inval(ctx, fs_ino(FS_K_REGION, r, FS_CLASS_SHARED));
	inval(ctx, fs_ino(FS_K_REGION, r, FS_SUB_QUOTA));
	inval(ctx, fs_ino(FS_K_REGION, r, FS_SUB_CSV));
	inval(ctx, fs_ino(FS_K_REGION, r, FS_SUB_JSON));
}

/* Who has a tenants/ directory changed (an account's role, §16): each
 * region's cached listing (its data, not only its attributes: a region's
 * mtime never changes) and its tenants entry go.  In a multi-user mount
 * the kernel holds none of them. */
struct inval_region {
	struct fs_ctx *ctx;
	bool names;
};

static int inval_region_tenants(void *arg, const struct model_region *r)
{
	struct inval_region *ir = arg;
	fuse_ino_t ino = fs_ino(FS_K_REGION, r->id, 0);
	fuse_lowlevel_notify_inval_inode(ir->ctx->se, ino, 0, 0);
	if (ir->names)
		fuse_lowlevel_notify_inval_entry(ir->ctx->se, ino, "tenants", 7);
	inval(ir->ctx, fs_ino(FS_K_REGION, r->id, FS_SUB_TENANTS));
	return 0;
}

void fs_invalidate(struct fs_ctx *ctx, const struct model_change *c, bool names)
{
	int64_t r = c->region_id;
	if (!ctx->se)
		return;
	switch (c->kind) {
	case MODEL_CHANGE_IMAGE: {
		/* The image as it is now (which directory node ids it has, and
		 * whether it is a copy): read with the change by the watcher,
		 * here for a change a request made. */
		struct model_change ci = *c;
		struct model_image img;
		if (!ci.img.known && model_image_get(ctx->m, c->obj, &img) == 0)
			model_change_image_of(&ci.img, &img);
		inval_image(ctx, &ci, names);
		break;
	}
	case MODEL_CHANGE_SNAPSHOT:
		inval_object(ctx, FS_K_SNAP, c->obj, fs_snap_attr_next_id);
		inval(ctx, fs_ino(FS_K_REGION, r, FS_CLASS_SNAPSHOTS));
		inval(ctx, fs_ino(FS_K_REGION, r, FS_SUB_QUOTA));
		if (names && c->name[0])
			fuse_lowlevel_notify_inval_entry(ctx->se, fs_ino(FS_K_REGION, r, FS_CLASS_SNAPSHOTS), c->name,
			                                 strlen(c->name));
		break;
	case MODEL_CHANGE_INSTANCE:
		inval_object(ctx, FS_K_VM, c->obj, fs_vm_attr_next_id);
		inval(ctx, fs_ino(FS_K_REGION, r, FS_CLASS_INSTANCES));
		if (names && c->name[0])
			fuse_lowlevel_notify_inval_entry(ctx->se, fs_ino(FS_K_REGION, r, FS_CLASS_INSTANCES), c->name,
			                                 strlen(c->name));
		if (names)
			forget_detached(ctx, c->obj);
		break;
	case MODEL_CHANGE_QUOTA:
		inval(ctx, fs_ino(FS_K_REGION, r, FS_SUB_QUOTA));
		break;
	case MODEL_CHANGE_REGION:
		inval(ctx, FS_INO_ROOT);
		inval(ctx, FS_INO_REGIONS);
		break;
	case MODEL_CHANGE_ACCOUNT: {
		struct inval_region ir = {ctx, names};
		if (!ctx->multiuser)
			model_region_list(ctx->m, 0, inval_region_tenants, &ir);
		break;
	}
	default:
		break;
	}
}

void fs_image_changed(struct fs_ctx *ctx, const struct model_image *img, bool now)
{
	struct model_change c = {.kind = MODEL_CHANGE_IMAGE, .obj = img->id,
	                         .region_id = img->region_id, .folder = img->folder};
	if (now)
		model_change_image_of(&c.img, img);
	fs_invalidate(ctx, &c, false);
}

static int watch_one(void *arg, const struct model_change *c)
{
	fs_invalidate(arg, c, true);
	return 0;
}

/* This host's lease (§13), renewed six times per lease period: a host
 * that stops renewing loses the tasks other hosts may run to them.  A
 * renewal that fails is said once; a lapse is said, and remembered for
 * what the mount's users get (ops.c); a renewal after a lapse says what
 * may have been taken meanwhile (issue 47: a host cut off from the
 * database is not a dead host, and must know it was taken for one). */
struct lease_watch {
	int64_t renewed, lease_ns, renew_ns;
	bool failing, lapsed;
};

static void lease_renew(struct fs_ctx *ctx, struct lease_watch *w)
{
	int64_t now = model_now_ns();
	if (now - w->renewed <= w->renew_ns)
		return;
	int rc = model_host_renew(ctx->m);
	now = model_now_ns();
	if (rc == 0) {
		if (w->lapsed)
			fs_log(ctx, "lease: host %s renewed its lease after %lld s without, past the lease (%lld s): "
			       "tasks other hosts may run were theirs to take over meanwhile, and those taken stop here "
			       "(its uploads and instance disks stayed its own)", model_host(ctx->m),
			       (long long)((now - w->renewed) / 1000000000LL), (long long)(w->lease_ns / 1000000000LL));
		else if (w->failing)
			fs_log(ctx, "lease: host %s renewed its lease again", model_host(ctx->m));
		w->renewed = now;
		w->failing = w->lapsed = false;
		/* ctx->lease_lapsed_mono: when the lease lapsed without a renewal
		 * (monotonic ns; 0: current); lease_renewed_ns: the last renewal
		 * (unix ns).  A request's EIO meanwhile says so (ops.c, issue 47). */
		__atomic_store_n(&ctx->lease_renewed_ns, now, __ATOMIC_RELAXED);
		__atomic_store_n(&ctx->lease_lapsed_mono, 0, __ATOMIC_RELAXED);
		model_db_tune(ctx->m); /* the planner's statistics (PostgreSQL) */
		return;
	}
	if (!w->failing)
		fs_log(ctx, "lease: host %s cannot renew its lease (%s): requests that need the database fail with EIO "
		       "until it answers", model_host(ctx->m), strerror(-rc));
	w->failing = true;
	if (!w->lapsed && now - w->renewed > w->lease_ns) {
		fs_log(ctx, "lease: host %s lost its lease: not renewed for %lld s (the lease is %lld s); other hosts "
		       "may take over the tasks any host may run, its uploads and instance disks stay its own",
		       model_host(ctx->m), (long long)((now - w->renewed) / 1000000000LL),
		       (long long)(w->lease_ns / 1000000000LL));
		w->lapsed = true;
		__atomic_store_n(&ctx->lease_lapsed_mono, fs_mono_ns() | 1, __ATOMIC_RELAXED);
	}
}

static void *watch_main(void *arg)
{
	struct fs_ctx *ctx = arg;
	int64_t seq = model_changes_head(ctx->m);
	struct lease_watch lw = {.renewed = model_now_ns(), .lease_ns = model_lease(ctx->m) * 1000000000LL};
	lw.renew_ns = lw.lease_ns / 6;
	__atomic_store_n(&ctx->lease_renewed_ns, lw.renewed, __ATOMIC_RELAXED);
	bool away = false; /* the database did not answer last time */
	int64_t quiet_since = 0; /* since when quiet commits went unread (fs_mono_ns), 0: none */
	while (!atomic_load_explicit(&ctx->stopping, memory_order_acquire)) {
		/* A read-only mount registered none and writes nothing (§15). */
		if (!ctx->ro)
			lease_renew(ctx, &lw);
		int rc = model_changes_wait(ctx->m, WATCH_WAIT_MS);
		if (rc < 0 && !away)
			fs_log(ctx, "watch: the database does not answer: %s", strerror(-rc));
		away = rc < 0;
		/* Woken only by this mount's own quiet commits: their rows wait
		 * for the next read (anybody else's commit), at most
		 * WATCH_QUIET_NS.  A round trip a mkdir saved (issue 49). */
		int64_t now = fs_mono_ns();
		if (rc == MODEL_CHANGES_QUIET && !quiet_since)
			quiet_since = now;
		if (rc == MODEL_CHANGES_QUIET || (rc == 0 && quiet_since)) {
			if (now - quiet_since < WATCH_QUIET_NS)
				continue;
			rc = 1;
		}
		if (rc <= 0)
			continue; /* nobody committed anything (or we cannot know yet) */
		quiet_since = 0;
		rc = model_changes_since(ctx->m, &seq, watch_one, ctx);
		if (rc == -ESTALE) {
			/* Changes were trimmed before this mount read them (it was
			 * stopped for minutes): drop what the kernel holds of every
			 * object, and the region listings. */
			fs_log(ctx, "watch: the change log moved on without this mount; invalidating everything");
			rc = model_changes_everything(ctx->m, watch_one, ctx);
			struct model_change reg = {.kind = MODEL_CHANGE_REGION};
			fs_invalidate(ctx, &reg, false);
		}
		if (rc < 0)
			fs_log(ctx, "watch: cannot read the change log: %s", strerror(-rc));
	}
	return NULL;
}

void fs_vm_image_changed(struct fs_ctx *ctx, const struct model_instance *vm)
{
	struct model_image img;
	if (vm->image_id && model_image_get(ctx->m, vm->image_id, &img) == 0)
		fs_image_changed(ctx, &img, false);
}

int fs_watch_start(struct fs_ctx *ctx)
{
	int rc = pthread_create(&ctx->watcher, NULL, watch_main, ctx);
	if (rc == 0)
		ctx->watching = true;
	return -rc;
}

void fs_watch_stop(struct fs_ctx *ctx)
{
	atomic_store_explicit(&ctx->stopping, true, memory_order_release);
	if (ctx->watching)
		pthread_join(ctx->watcher, NULL);
	ctx->watching = false;
}

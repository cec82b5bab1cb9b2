/*
 * inside.c — files/: the guest's own files of every image, read-only
 * (SPEC §18).
 *
 * The daemon parses only the partition table (fs/inside/ptable.c, a
 * bounded parser of its own, fuzzed) and looks for a file system's magic
 * number.  Everything of a guest file system is parsed by a helper process
 * per volume (`imgfs inside-helper`, fs/inside/helper.c; started and
 * spoken to by inside_helper.c): nobody, no files,
 * a seccomp filter, CPU and memory limits.  The request thread that needs
 * an answer sends the helper its question and serves the block reads the
 * helper asks for from the blob (the same verified chunk reads as a read of
 * disks/<dev>) until the answer comes, all under a deadline: a helper that
 * does not answer in time, dies, or says something malformed is killed and
 * the request gets EIO, with the reason in the log; other requests, other
 * volumes and the next request of this one (a new helper) go on.
 *
 * Sealed blobs never change, so what is known of a disk (its manifest,
 * its partitions, its helpers) is kept per blob in a small table, the
 * least recently used entry dropped for a new one.  Only what was read is
 * kept (issue 47): a load that could not read the disk's bytes or rows (a
 * timeout, an OSD down, the database away) leaves no entry — its request
 * gets EIO with the reason in the log, and the next request loads it
 * again; a verdict about bytes that were read (no partition table, a file
 * system the helper cannot open) is kept, as the blob never changes.  At
 * most
 * INS_MAX_HELPERS helpers run at once, the least recently used idle one
 * ending for a new one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attr.h"
#include "buf.h"
#include "dirs.h"
#include "imgfs_lock.h"
#include "inside_int.h"
#include "log.h"

#define INS_LIST_PAGE 512    /* entries asked for at a time, with their attributes */
#define INS_NAMES_PAGE 16384 /* names only (a READDIR, §18.7) */
#define INS_LIST_PAGES 16    /* pages one readdir reads at most (INS_LIST_BLOCKS blocks each) */
#define ROOT_INO 0 /* asks a helper for its root directory, whatever its number */

/* ---- disks --------------------------------------------------------------- */

/* Reads of a disk being loaded: the first failure is kept (d->load_err),
 * so that nothing concluded from what could not be read is kept. */
static int pt_read(void *arg, void *buf, size_t len, uint64_t off)
{
	struct ins_disk *d = arg;
	int rc = ins_disk_read(d, d->load_qr, buf, len, off);
	if (rc < 0 && !d->load_err)
		d->load_err = rc;
	return rc;
}

static ssize_t load_blob_rd(void *arg, void *buf, size_t len, uint64_t off)
{
	struct ins_disk *d = arg;
	ssize_t n = ins_blob_rd(d, buf, len, off);
	if (n < 0 && !d->load_err)
		d->load_err = (int)n;
	return n;
}

/* What a volume holds, by its magic numbers: one a helper has a reader of
 * (ins_fs.h) is read; the others are named in README. */
static void probe(struct ins_disk *d, struct ins_vol *v)
{
	uint8_t b[4096];
	size_t len = v->size < sizeof(b) ? (size_t)v->size : sizeof(b);
	memset(b, 0, sizeof(b));
	int rc = ins_vol_read(d, d->load_qr, v, b, len, 0);
	if (rc < 0) {
		if (!d->load_err)
			d->load_err = rc;
		return; /* d->load_err: the load is not kept */
	}
	v->fs = VOL_OTHER;
	ins_ident(b, len, &v->ident); /* (fixed offsets: fstab's names, §20) */
	if (b[1080] == 0x53 && b[1081] == 0xef)
		v->kind = INS_FS_EXT;
	else if (memcmp(b, "XFSB", 4) == 0)
		v->kind = INS_FS_XFS;
	else if (memcmp(b + 3, "NTFS    ", 8) == 0)
		v->kind = INS_FS_NTFS;
	else if (memcmp(b + 82, "FAT32   ", 8) == 0 || memcmp(b + 54, "FAT1", 4) == 0 ||
	         memcmp(b + 54, "FAT     ", 8) == 0)
		v->kind = INS_FS_FAT; /* (the boot sector's own checks are the helper's) */
	else if (strcmp(v->ident.type, "LVM2_member") == 0)
		v->kind = INS_FS_LVM; /* its logical volumes: inside_lvm.c */
	else if (memcmp(b, "LUKS\xba\xbe", 6) == 0)
		snprintf(v->note, sizeof(v->note), "a LUKS volume, which imgfs never opens");
	else if (memcmp(b + 4086, "SWAPSPACE2", 10) == 0)
		snprintf(v->note, sizeof(v->note), "swap space");
	else
		snprintf(v->note, sizeof(v->note), "no file system imgfs knows");
	if (v->kind && v->kind != INS_FS_LVM && ins_fs_find(v->kind))
		v->fs = VOL_READ;
}

void ins_vol_name(const char *dev, const struct ins_vol *v, char *out, size_t cap)
{
	if (v->lvname[0] && v->pv_number)
		snprintf(out, cap, "%.7s%u-%s", dev, v->pv_number, v->lvname);
	else if (v->lvname[0])
		snprintf(out, cap, "%.7s-%s", dev, v->lvname);
	else if (v->number)
		snprintf(out, cap, "%.7s%u", dev, v->number);
	else
		snprintf(out, cap, "%.7s", dev);
}

static void vol_init(struct ins_vol *v, struct fs_ctx *ctx, unsigned number, uint64_t start, uint64_t size)
{
	memset(v, 0, sizeof(*v));
	v->ctx = ctx;
	v->err_fd = -1;
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->sc_lock, NULL);
	v->number = number;
	v->start = start;
	v->size = size;
	v->fd = -1;
}

static void disk_clear(struct ins_disk *d)
{
	for (unsigned i = 0; i < d->nvols; i++) {
		IMGFS_LOCK(&d->vols[i].lock, ins_vol_lock);
		ins_helper_end(&d->vols[i], NULL, 0);
		qcow2_reader_free(d->vols[i].qr);
		IMGFS_UNLOCK(&d->vols[i].lock, ins_vol_lock);
		pthread_mutex_destroy(&d->vols[i].lock);
		pthread_mutex_destroy(&d->vols[i].sc_lock);
	}
	blob_manifest_free(d->man);
	memset(d, 0, sizeof(*d));
}

static void disk_volumes(struct fs_ctx *ctx, struct ins_disk *d);

/* Fills d (already owned by the caller: blob_id set, refs 1) from blob_id:
 * 0, with d->note saying why it shows nothing if so (a verdict about what
 * was read: kept); or -errno, d->note saying what could not be read or
 * answered (not kept: disk_get). */
static int disk_load(struct fs_ctx *ctx, struct ins_disk *d, int64_t blob_id)
{
	struct model_blob b;
	struct model_err err = {0};
	int rc;
	if ((rc = model_blob_get(ctx->m, blob_id, &b)) < 0 || !b.sealed) {
		snprintf(d->note, sizeof(d->note), rc < 0 ? "the disk's row cannot be read (%s)" : "the disk is not "
		         "sealed yet", strerror(-rc));
		return rc < 0 ? rc : -EAGAIN;
	}
	if ((rc = model_store(ctx->m, b.region_id, &d->store)) < 0 ||
	    (rc = model_blob_manifest_err(ctx->m, blob_id, &d->man, &err)) < 0) {
		snprintf(d->note, sizeof(d->note), "%.190s", err.msg[0] ? err.msg : "the disk's manifest cannot be read");
		d->man = NULL;
		/* A refusal that holds for this mount (an encrypted image and no
		 * key, or another key: §17) is kept with its reason; anything
		 * else (the database, the cluster) is asked again. */
		return rc == -EACCES || rc == -EPERM || rc == -EINVAL ? 0 : rc;
	}
	d->size = b.size;
	/* A QCOW2 file (an upload kept as it came, §5.3): the volumes are in
	 * its virtual disk, read through the decoder the conversions use. */
	uint8_t head[4];
	char qwhy[160] = "";
	ssize_t got = b.size >= sizeof(head) ? ins_blob_rd(d, head, sizeof(head), 0) : 0;
	if (got < 0) {
		d->load_err = (int)got;
	} else if (got == sizeof(head) && qcow2_sniff(head, sizeof(head))) {
		if (qcow2_reader_new(&d->load_qr, load_blob_rd, d, b.size, qwhy, sizeof(qwhy)) < 0) {
			snprintf(d->note, sizeof(d->note), "its QCOW2 tables cannot be read: %.150s", qwhy);
			d->load_qr = NULL;
			return d->load_err ? d->load_err : 0;
		}
		d->qcow2 = true;
		d->size = qcow2_reader_info(d->load_qr)->size;
	}
	if (!d->load_err)
		disk_volumes(ctx, d);
	qcow2_reader_free(d->load_qr);
	d->load_qr = NULL;
	if (d->load_err == -EUCLEAN) /* a verdict, but not kept: files/ answers EIO (§11.3), asked again */
		ins_damaged_why(d, d->note, sizeof(d->note));
	else if (d->load_err)
		snprintf(d->note, sizeof(d->note), "the disk's bytes cannot be read now (%s): tried again at the next "
		         "request", strerror(-d->load_err));
	return d->load_err;
}

/* The volumes of a loaded disk d: a whole-disk file system or partitions. */
static void disk_volumes(struct fs_ctx *ctx, struct ins_disk *d)
{
	/* A file system on the whole disk, one a helper reads. */
	if (d->size >= 2048) {
		vol_init(&d->vols[0], ctx, 0, 0, d->size);
		probe(d, &d->vols[0]);
		if (d->vols[0].fs == VOL_READ || d->load_err) {
			d->nvols = 1; /* (disk_clear destroys it when the load is not kept) */
			return;
		}
		if (d->vols[0].kind == INS_FS_LVM) {
			d->nvols = 1; /* a physical volume on the whole disk */
			ins_lvm_expand(d, &d->vols[0], probe);
			return;
		}
		pthread_mutex_destroy(&d->vols[0].lock);
		memset(&d->vols[0], 0, sizeof(d->vols[0]));
	}
	int rc = pt_parse(pt_read, d, d->size, &d->pt);
	if (d->load_err)
		return; /* not a verdict: the load is not kept */
	if (rc < 0) {
		snprintf(d->note, sizeof(d->note), "its partition table cannot be read (%s)", strerror(-rc));
		return;
	}
	if (d->pt.scheme == PT_NONE) {
		snprintf(d->note, sizeof(d->note), "no partition table and no file system imgfs reads%s%.100s",
		         d->pt.note[0] ? ": " : "", d->pt.note);
		return;
	}
	for (unsigned i = 0; i < d->pt.count; i++) {
		struct ins_vol *v = &d->vols[d->nvols++];
		vol_init(v, ctx, d->pt.parts[i].number, d->pt.parts[i].start, d->pt.parts[i].size);
		probe(d, v);
		if (d->load_err)
			return;
	}
	/* LVM2 physical volumes: their logical volumes follow the partitions. */
	for (unsigned i = 0, parts = d->nvols; i < parts; i++)
		if (d->vols[i].kind == INS_FS_LVM)
			ins_lvm_expand(d, &d->vols[i], probe);
}

/* The disk entry of blob_id, loaded if needed, with a reference the
 * caller drops (disk_put).  An entry is in the table (blob_id > 0) only
 * once loaded; one is loaded at a time (the room's load_lock), in its
 * slot, which says -1 meanwhile.  NULL, with why: every slot stayed in use
 * by other requests for a deadline, or the load could not read what it
 * needed (the slot is free again: the next request tries again). */
static struct ins_disk *disk_find(struct fs_inside *in, int64_t blob_id)
{
	struct ins_disk *d = NULL;
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	for (int i = 0; i < INS_DISKS; i++)
		if (in->disks[i].blob_id == blob_id) {
			d = &in->disks[i];
			d->refs++;
			d->used = ++in->clock_ticks;
			break;
		}
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	return d;
}

static struct ins_disk *disk_get(struct fs_ctx *ctx, int64_t blob_id, char *why, size_t cap, int *load_rc)
{
	struct fs_inside *in = ctx->inside;
	struct ins_disk *d = disk_find(in, blob_id);
	if (d)
		return d;
	struct timespec until = ins_wait_until(in);
	for (;;) {
		IMGFS_LOCK(&in->load_lock, ins_load_lock);
		if ((d = disk_find(in, blob_id)) != NULL) {
			IMGFS_UNLOCK(&in->load_lock, ins_load_lock);
			return d;
		}
		IMGFS_LOCK(&in->table_lock, ins_table_lock);
		for (int i = 0; i < INS_DISKS; i++)
			if (!in->disks[i].refs && in->disks[i].blob_id >= 0 &&
			    (!d || !in->disks[i].blob_id || (d->blob_id && in->disks[i].used < d->used)))
				d = &in->disks[i];
		if (d)
			break; /* table_lock and load_lock held */
		/* Every slot is in use by a request (each within its deadline):
		 * wait for one to end, a deadline at most. */
		IMGFS_UNLOCK(&in->load_lock, ins_load_lock);
		int w = IMGFS_COND_TIMEDWAIT(&in->room_cond, &in->table_lock, &until, ins_table_lock);
		IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
		if (w == ETIMEDOUT) {
			snprintf(why, cap, "more than %d disks are being read inside at once", INS_DISKS);
			return NULL;
		}
	}
	int64_t old = d->blob_id;
	d->blob_id = -1; /* being loaded: nobody else's */
	d->refs = 1;
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	if (old)
		disk_clear(d); /* its helpers end */
	memset(d, 0, sizeof(*d));
	d->blob_id = -1;
	d->refs = 1;
	int rc = disk_load(ctx, d, blob_id);
	if (load_rc)
		*load_rc = rc;
	if (rc < 0) {
		snprintf(why, cap, "%s", d->note);
		disk_clear(d); /* a free slot (blob_id 0): nothing of it is kept */
		IMGFS_LOCK(&in->table_lock, ins_table_lock);
		pthread_cond_broadcast(&in->room_cond);
		IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
		IMGFS_UNLOCK(&in->load_lock, ins_load_lock);
		return NULL;
	}
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	d->blob_id = blob_id;
	d->used = ++in->clock_ticks;
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	IMGFS_UNLOCK(&in->load_lock, ins_load_lock);
	return d;
}

static void disk_put(struct fs_inside *in, struct ins_disk *d)
{
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	if (--d->refs == 0)
		pthread_cond_broadcast(&in->room_cond);
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
}

static struct ins_vol *vol_by_number(struct ins_disk *d, unsigned number)
{
	for (unsigned i = 0; i < d->nvols; i++)
		if (d->vols[i].number == number)
			return &d->vols[i];
	return NULL;
}

/* Asks v's helper (started and its file system opened if need be). */
static int ask(struct fs_ctx *ctx, const struct fs_node *n, struct ins_disk *d, struct ins_vol *v, uint32_t type,
               const void *req, size_t rlen, void **ans, size_t *alen)
{
	struct fs_inside *in = ctx->inside;
	char why[512] = "";
	int rc;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += in->deadline_ms / 1000 + 1;
	if (v->fs != VOL_READ)
		return -EIO;
	/* Another request's exchange is bounded by the deadline too. */
	if (IMGFS_TIMEDLOCK(&v->lock, &until, ins_vol_lock) != 0) {
		snprintf(why, sizeof(why), "the volume's helper stayed busy past the deadline");
		rc = -EIO;
		goto log;
	}
	v->used = __atomic_add_fetch(&in->clock_ticks, 1, __ATOMIC_RELAXED);
	if (v->open_failed) {
		snprintf(why, sizeof(why), "%s", v->failure);
		IMGFS_UNLOCK(&v->lock, ins_vol_lock);
		return -EIO; /* logged once, when it failed */
	}
	bool started = ins_helper_needed(v, why, sizeof(why)); /* (none, or one that ended idle: why says) */
	if (why[0]) {
		char path[1024];
		fs_inside_path(ctx, n, path, sizeof(path));
		fs_log(ctx, "inside %s: %s: a new one is started", path, why);
		why[0] = '\0';
	}
	if (started) {
		struct ins_req_open open = {v->size, v->kind, 0};
		void *a;
		size_t al;
		if ((rc = ins_helper_start(v, why, sizeof(why))) < 0) {
			IMGFS_UNLOCK(&v->lock, ins_vol_lock);
			goto log;
		}
		if ((rc = ins_converse(d, v, INS_T_OPEN, &open, sizeof(open), &a, &al, why, sizeof(why))) < 0) {
			if (v->pid && rc != -ENOMEM) {
				/* The helper answered: the file system is not one it can
				 * open, and a sealed blob never changes (out of memory
				 * is no verdict: not kept). */
				v->open_failed = true;
				snprintf(v->failure, sizeof(v->failure), "%.190s", why);
				ins_helper_end(v, NULL, 0);
			}
			IMGFS_UNLOCK(&v->lock, ins_vol_lock);
			rc = -EIO;
			goto log;
		}
		struct ins_stat root;
		if (al == sizeof(root)) {
			memcpy(&root, a, sizeof(root));
			if (ins_stat_valid(&root) && S_ISDIR(root.mode)) {
				ins_sc_put(v, &root); /* the OPEN's answer: one round trip fewer */
				__atomic_store_n(&v->root, root.ino, __ATOMIC_RELAXED);
			}
		}
		free(a);
	}
	struct ins_stat known;
	uint32_t ino = 0;
	if (type == INS_T_STAT && rlen == sizeof(ino))
		memcpy(&ino, req, sizeof(ino));
	if (type == INS_T_STAT && ino == ROOT_INO)
		ino = __atomic_load_n(&v->root, __ATOMIC_RELAXED);
	if (ino && ins_sc_get(v, ino, &known) && (*ans = malloc(sizeof(known))) != NULL) {
		/* The root, told with the OPEN that just started the helper. */
		memcpy(*ans, &known, sizeof(known));
		*alen = sizeof(known);
		rc = 0;
	} else {
		rc = ins_converse(d, v, type, req, rlen, ans, alen, why, sizeof(why));
	}
	/* A burst ran helpers past the bound (helper_room does not wait):
	 * this one ends now that its answer is in. */
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	bool over = in->helpers_running > INS_MAX_HELPERS;
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	if (over)
		ins_helper_end(v, NULL, 0);
	IMGFS_UNLOCK(&v->lock, ins_vol_lock);
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	pthread_cond_broadcast(&in->room_cond); /* an idle helper (helper_room) */
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	if (started)
		ins_spare_request(in); /* the one this request may have taken */
	if (rc != -EIO)
		return rc;
log: {
		char path[1024];
		fs_inside_path(ctx, n, path, sizeof(path));
		fs_refuse(ctx, "inside", path, EIO, why, 0);
	}
	return rc;
}

/* disk_get for a request on node n: NULL (every slot in use by other
 * requests, or a load that could not read) is logged with its reason; the
 * request answers EIO. */
static struct ins_disk *disk_for(struct fs_ctx *ctx, const struct fs_node *n, int64_t blob_id)
{
	char why[256] = "";
	return ins_disk_take(ctx, n, blob_id, why, sizeof(why), NULL);
}

/* ---- the owner: an image, or a snapshot (its data) ----------------------- */

/* Whether n (files/, README or a node below) belongs to a snapshot. */
static bool of_snap(const struct fs_node *n)
{
	if (n->what == FS_W_INSIDE)
		return (n->ino & FS_INSIDE_SNAP) != 0;
	return fs_ino_kind(n->ino) == FS_K_SNAP;
}

static int64_t owner_id(const struct fs_node *n)
{
	return of_snap(n) ? n->snap.id : n->img.id;
}

/* The owner field of n's inside inode numbers (fs.h). */
static int64_t owner_code(const struct fs_node *n)
{
	return of_snap(n) ? FS_INSIDE_SNAP_OWNER | n->snap.id : n->img.id;
}

static bool owner_ready(const struct fs_node *n)
{
	return of_snap(n) ? n->snap.status == MODEL_SNAP_AVAILABLE : n->img.status == MODEL_IMG_AVAILABLE;
}

/* The owner's disks: an image's devices; a snapshot's one blob, "data". */
static int owner_devices(struct fs_ctx *ctx, const struct fs_node *n, struct model_device out[MODEL_MAX_DEVICES])
{
	if (!of_snap(n))
		return model_device_list(ctx->m, n->img.id, out);
	memset(&out[0], 0, sizeof(out[0]));
	snprintf(out[0].name, sizeof(out[0].name), "data");
	out[0].kind = MODEL_DEV_SNAPSHOT;
	out[0].blob_id = n->snap.blob_id;
	out[0].snapshot_id = n->snap.id;
	out[0].size = n->snap.size;
	return 1;
}

/* ---- nodes --------------------------------------------------------------- */

/* n (an image node: img, region, view, caller) becomes the inode gino of
 * its device dev's volume number (ROOT_INO: its root directory). */
static int inside_node(struct fs_ctx *ctx, struct fs_node *n, const struct model_device *dev, unsigned number,
                       uint32_t gino)
{
	int64_t owner = owner_code(n); /* while n is still the owner's node */
	void *a;
	size_t al;
	int rc;
	n->dev = *dev;
	n->blob_id = dev->blob_id;
	n->inside.vol = (unsigned)dev->index << 5 | number;
	n->inside.st.ino = gino; /* for the log, until the answer */
	struct ins_disk *d = disk_for(ctx, n, dev->blob_id);
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, number);
	if (!v || v->fs != VOL_READ) {
		disk_put(ctx->inside, d);
		return -ENOENT;
	}
	n->what = FS_W_INSIDE;
	n->attr = NULL;
	n->ino = fs_inside_ino(owner, n->inside.vol, gino);
	uint32_t known = gino == ROOT_INO ? __atomic_load_n(&v->root, __ATOMIC_RELAXED) : gino;
	if (known && ins_sc_get(v, known, &n->inside.st)) {
		n->ino = fs_inside_ino(owner, n->inside.vol, known);
		disk_put(ctx->inside, d);
		return 0;
	}
	rc = ask(ctx, n, d, v, INS_T_STAT, &gino, sizeof(gino), &a, &al);
	if (rc < 0) {
		disk_put(ctx->inside, d);
		return rc == -EINVAL || rc == -ENOTDIR ? -ENOENT : rc;
	}
	if (al != sizeof(n->inside.st)) {
		disk_put(ctx->inside, d);
		free(a);
		return -EIO;
	}
	memcpy(&n->inside.st, a, al);
	free(a);
	/* The root (ROOT_INO) is a directory of whatever number its file
	 * system gives it. */
	if (!ins_stat_valid(&n->inside.st) ||
	    (gino == ROOT_INO ? !S_ISDIR(n->inside.st.mode) : n->inside.st.ino != gino)) {
		disk_put(ctx->inside, d);
		return -EIO;
	}
	if (gino == ROOT_INO)
		__atomic_store_n(&v->root, n->inside.st.ino, __ATOMIC_RELAXED);
	n->ino = fs_inside_ino(owner, n->inside.vol, n->inside.st.ino);
	ins_sc_put(v, &n->inside.st);
	disk_put(ctx->inside, d);
	return 0;
}

/* Whether n's caller may read the image's files: as its disks (§3).
 * files/README is there for everyone who sees the image (README: 0). */
static int inside_access(struct fs_ctx *ctx, const struct fs_node *n, bool readme)
{
	if (n->actor_id)
		return -ENOENT; /* not through tenants/ in this version */
	if (owner_id(n) > FS_INSIDE_MAX_IMAGE)
		return readme ? 0 : -ENOENT;
	return readme ? 0 : fs_node_blob_access(ctx, n, NULL);
}

static int device_by_index(struct fs_ctx *ctx, const struct fs_node *n, unsigned index, struct model_device *out)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int count = owner_devices(ctx, n, devs);
	for (int i = 0; i < count; i++)
		if ((unsigned)devs[i].index == index) {
			*out = devs[i];
			return 0;
		}
	return count < 0 ? count : -ENOENT;
}

int fs_inside_resolve(struct fs_ctx *ctx, const struct fs_caller *caller, fuse_ino_t ino, struct fs_node *out)
{
	int64_t owner = (int64_t)((ino >> 42) & ((1ll << 21) - 1));
	unsigned vol = (unsigned)(ino >> 32) & 0x3ff;
	uint32_t gino = (uint32_t)ino;
	struct model_device dev;
	int rc;
	if (owner & FS_INSIDE_SNAP_OWNER) {
		/* A snapshot's: its directory node, resolved as any (visibility). */
		if ((rc = fs_node_resolve(ctx, caller, fs_ino(FS_K_SNAP, owner & FS_INSIDE_MAX_IMAGE, 0), out)) < 0)
			return rc;
	} else {
		struct model_image img;
		struct model_region region;
		if ((rc = model_image_get_in_region(ctx->m, owner, MODEL_REF_DEVICES, &img, &region)) < 0 ||
		    (rc = fs_node_image(ctx, caller, &img, out)) < 0)
			return rc;
	}
	if ((rc = inside_access(ctx, out, false)) < 0 || !owner_ready(out) ||
	    (rc = device_by_index(ctx, out, vol >> 5, &dev)) < 0)
		return rc < 0 ? rc : -ENOENT;
	return inside_node(ctx, out, &dev, vol & 31, gino);
}

static void show_readme(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out);

/* files/README (an FS_W_ATTR of the image: rendered as its other files). */
static const struct fs_attr readme_attr = {
	.id = FS_SUB_FILES_README, .name = "files/README", .show = show_readme, .refs = MODEL_REF_DEVICES,
};

int fs_inside_readme_node(struct fs_ctx *ctx, struct fs_node *n)
{
	int rc = inside_access(ctx, n, true);
	if (rc < 0)
		return rc;
	n->what = FS_W_ATTR;
	n->attr = &readme_attr;
	n->ino = fs_ino(of_snap(n) ? FS_K_SNAP : FS_K_IMAGE, owner_id(n), FS_SUB_FILES_README);
	return 0;
}

static void show_readme(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_err err = {0};
	if (fs_node_blob_access(ctx, n, &err) < 0) {
		fs_buf_printf(out, "Not shown: %s, and so are its files.\n", err.msg[0] ? err.msg : "not read");
		return;
	}
	if (owner_id(n) > FS_INSIDE_MAX_IMAGE) {
		fs_buf_printf(out, "Not shown: ids past %lld have no files/ in this version.\n",
		              (long long)FS_INSIDE_MAX_IMAGE);
		return;
	}
	if (!owner_ready(n)) {
		fs_buf_printf(out, "The %s is not available yet: its files are shown once it is.\n",
		              of_snap(n) ? "snapshot" : "image");
		return;
	}
	int count = owner_devices(ctx, n, devs);
	fs_buf_error(out, count);
	for (int i = 0; i < count; i++) {
		char why[256] = "";
		struct ins_disk *d = disk_get(ctx, devs[i].blob_id, why, sizeof(why), NULL);
		if (!d) {
			/* What could not be read now is no content (issue 47): EIO,
			 * the reason in the log. */
			char path[1024];
			fs_node_path(ctx, n, path, sizeof(path));
			fs_refuse(ctx, "inside", path, EIO, why, 0);
			fs_buf_error(out, -EIO);
			return;
		}
		if (d->note[0])
			fs_buf_printf(out, "%s: %s\n", devs[i].name, d->note);
		for (unsigned j = 0; j < d->nvols; j++) {
			struct ins_vol *v = &d->vols[j];
			char name[160];
			ins_vol_name(devs[i].name, v, name, sizeof(name));
			if (v->fs == VOL_OTHER)
				fs_buf_printf(out, "%s: not shown: %s\n", name, v->note);
			else if (v->open_failed)
				fs_buf_printf(out, "%s: not readable: %s\n", name, v->failure);
			else
				fs_buf_printf(out, "%s: %s\n", name, ins_fs_find(v->kind)->readme);
		}
		if (d->pt.skipped)
			fs_buf_printf(out, "%s: %u partition(s) not shown (numbered past %d, or outside the disk)\n",
			              devs[i].name, d->pt.skipped, PT_MAX_NUMBER);
		disk_put(ctx->inside, d);
	}
}

/* Volume name -> device and partition number ("vda" -> vda, 0; "vda2" -> vda, 2). */
static int parse_vol(struct fs_ctx *ctx, const struct fs_node *n, const char *name, struct model_device *dev,
                     unsigned *number)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int count = owner_devices(ctx, n, devs);
	for (int i = 0; i < count; i++) {
		size_t l = strlen(devs[i].name);
		if (strncmp(name, devs[i].name, l) != 0)
			continue;
		const char *p = name + l;
		unsigned num = 0;
		if (*p == '0')
			continue;
		for (; *p >= '0' && *p <= '9' && num <= PT_MAX_NUMBER; p++)
			num = num * 10 + (unsigned)(*p - '0');
		if (*p || num > PT_MAX_NUMBER)
			continue;
		*dev = devs[i];
		*number = num;
		return 0;
	}
	return count < 0 ? count : -ENOENT;
}

/* A logical volume's name ("vda2-vg0-root") -> its device and number. */
static int lv_by_name(struct fs_ctx *ctx, const struct fs_node *n, const char *name, struct model_device *dev,
                      unsigned *number)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int count = owner_devices(ctx, n, devs), rc = -ENOENT;
	if (!strchr(name, '-'))
		return -ENOENT;
	for (int i = 0; i < count && rc < 0; i++) {
		if (strncmp(name, devs[i].name, strlen(devs[i].name)) != 0)
			continue;
		struct ins_disk *d = disk_for(ctx, n, devs[i].blob_id);
		for (unsigned j = 0; d && j < d->nvols && rc < 0; j++) {
			char vname[160];
			ins_vol_name(devs[i].name, &d->vols[j], vname, sizeof(vname));
			if (d->vols[j].lvname[0] && strcmp(vname, name) == 0) {
				*dev = devs[i];
				*number = d->vols[j].number;
				rc = 0;
			}
		}
		if (d)
			disk_put(ctx->inside, d);
	}
	return rc;
}

int fs_inside_lookup(struct fs_ctx *ctx, struct fs_node *n, const char *name)
{
	int rc;
	if (n->what == FS_W_SUBDIR && strcmp(name, "README") == 0)
		return fs_inside_readme_node(ctx, n);
	if (n->what == FS_W_SUBDIR) {
		struct model_device dev;
		unsigned number = 0;
		if (!owner_ready(n) || (parse_vol(ctx, n, name, &dev, &number) < 0 && lv_by_name(ctx, n, name, &dev, &number) < 0))
			return -ENOENT;
		if ((rc = inside_access(ctx, n, false)) < 0)
			return rc; /* a volume of a disk the caller may not read */
		return inside_node(ctx, n, &dev, number, ROOT_INO);
	}
	if ((rc = inside_access(ctx, n, false)) < 0)
		return rc;
	if (!S_ISDIR(n->inside.st.mode))
		return -ENOTDIR;
	size_t len = strlen(name);
	if (len > INS_NAME_MAX)
		return -ENAMETOOLONG;
	char req[4 + INS_NAME_MAX];
	memcpy(req, &n->inside.st.ino, 4);
	memcpy(req + 4, name, len);
	struct ins_disk *d = disk_for(ctx, n, n->blob_id);
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, n->inside.vol & 31);
	void *a;
	size_t al;
	rc = v ? ask(ctx, n, d, v, INS_T_LOOKUP, req, 4 + len, &a, &al) : -ENOENT;
	if (rc < 0 || al != sizeof(n->inside.st)) {
		disk_put(ctx->inside, d);
		if (rc == 0)
			free(a);
		return rc == -ENOTDIR || rc == -EINVAL ? -ENOENT : rc < 0 ? rc : -EIO;
	}
	memcpy(&n->inside.st, a, al);
	free(a);
	if (!ins_stat_valid(&n->inside.st)) {
		disk_put(ctx->inside, d);
		return -EIO;
	}
	ins_sc_put(v, &n->inside.st);
	disk_put(ctx->inside, d);
	n->ino = fs_inside_ino(owner_code(n), n->inside.vol, n->inside.st.ino);
	return 0;
}

/* Offsets in files/: README 3, a volume 4 + device index * 32 + number. */
static int list_files(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct fs_node work = *dir;
	int rc;
	if (off < 3) {
		if (fs_inside_readme_node(ctx, &work) == 0 && (rc = emit(arg, "README", &work, 3)) != 0)
			return rc;
	}
	if (!owner_ready(dir) || inside_access(ctx, dir, false) < 0)
		return 0; /* README says why */
	int count = owner_devices(ctx, dir, devs);
	for (int i = 0; i < count; i++) {
		char why[256] = "";
		struct ins_disk *d = disk_get(ctx, devs[i].blob_id, why, sizeof(why), NULL);
		if (!d) { /* a listing without its volumes would be false */
			char path[1024];
			fs_node_path(ctx, dir, path, sizeof(path));
			fs_refuse(ctx, "inside", path, EIO, why, 0);
			return -EIO;
		}
		for (unsigned j = 0; j < d->nvols; j++) {
			struct ins_vol *v = &d->vols[j];
			off_t at = 4 + (off_t)devs[i].index * 32 + v->number;
			if (at <= off || v->fs != VOL_READ || v->open_failed)
				continue;
			char name[160];
			ins_vol_name(devs[i].name, v, name, sizeof(name));
			work = *dir;
			if ((rc = inside_node(ctx, &work, &devs[i], v->number, ROOT_INO)) < 0) {
				if (v->open_failed)
					continue; /* a verdict: README says why */
				disk_put(ctx->inside, d);
				return rc;
			}
			if ((rc = emit(arg, name, &work, at)) != 0) {
				disk_put(ctx->inside, d);
				return rc;
			}
		}
		disk_put(ctx->inside, d);
	}
	return count < 0 ? count : 0;
}

int fs_inside_list(struct fs_ctx *ctx, const struct fs_node *dir, off_t off, fs_emit_fn emit, void *arg)
{
	int rc;
	if (dir->what == FS_W_SUBDIR)
		return list_files(ctx, dir, off, emit, arg);
	if ((rc = inside_access(ctx, dir, false)) < 0)
		return rc;
	struct ins_disk *d = disk_for(ctx, dir, dir->blob_id);
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, dir->inside.vol & 31);
	struct fs_node work = *dir;
	/* Issue 47: a listing is read a page at a time from the helper's
	 * position (ins_proto.h), which the entries' offsets carry (position
	 * + 3: after "." and ".."), so the next readdir resumes where the
	 * last one stopped and a page costs what it returns. */
	uint64_t from = off > 2 ? (uint64_t)off - 3 : 0;
	unsigned emitted = 0, pages = 0;
	uint32_t taken = 0; /* entries the pages held (listed or passed) */
	/* A readdir's pages hold at most a page of entries, and no more than
	 * the reply has room for: each entry costs its inode's attributes (a
	 * chunk of the disk loaded, where a large directory's inodes lie
	 * apart), and one beyond the reply's room would be read again by the
	 * next readdir. */
	bool plus = dir->inside.list_plus;
	uint32_t page = plus ? INS_LIST_PAGE : INS_NAMES_PAGE;
	uint32_t want = dir->inside.list_max && dir->inside.list_max < page ? dir->inside.list_max : page;
	rc = v ? 0 : -ENOENT;
	if (rc == 0 && from > INS_POS_MAX)
		rc = -EINVAL; /* a seekdir past any position */
	while (rc == 0) {
		struct ins_req_list r = {dir->inside.st.ino, want - taken, from};
		void *a;
		size_t al, pos = sizeof(uint64_t);
		uint64_t next, after = from;
		uint32_t taken0 = taken;
		if ((rc = ask(ctx, dir, d, v, plus ? INS_T_LIST : INS_T_NAMES, &r, sizeof(r), &a, &al)) < 0)
			break;
		if (al < sizeof(next)) {
			free(a);
			rc = -EIO;
			break;
		}
		memcpy(&next, a, sizeof(next));
		bool spread = plus && (next & INS_NEXT_SPREAD); /* its inodes' spread ended it */
		next &= spread ? ~INS_NEXT_SPREAD : ~0ull;
		atomic_fetch_add(&ctx->stats.inside_list_pages, 1);
		while (rc == 0) {
			struct ins_stat st;
			char name[INS_NAME_MAX + 1];
			bool ok;
			int e = plus ? ins_list_entry(a, al, &pos, &st, name, &after, &ok)
			             : ins_names_entry(a, al, &pos, &st, name, &after, &ok);
			if (e <= 0) {
				rc = e;
				break;
			}
			if (++taken > want) {
				fs_log(ctx, "files/: a directory listing's page held more than the %u entries asked for: EIO",
				       (unsigned)want);
				rc = -EIO;
				break;
			}
			if (!ok)
				continue; /* passed (the position moves on), not listed */
			if (plus)
				ins_sc_put(v, &st); /* (a READDIR's st holds the number and type only) */
			work.inside.st = st;
			work.ino = fs_inside_ino(owner_code(dir), dir->inside.vol, st.ino);
			if ((rc = emit(arg, name, &work, (off_t)(after + 3))) != 0)
				break;
			atomic_fetch_add(&ctx->stats.inside_list_entries, 1);
			emitted++;
		}
		/* Counted: the entries the page held, each an inode the helper
		 * read, those past a full reply too (a READDIR's page: none). */
		uint32_t held = taken - taken0;
		for (uint64_t at = after; rc > 0;) {
			struct ins_stat st;
			char name[INS_NAME_MAX + 1];
			bool ok;
			if ((plus ? ins_list_entry(a, al, &pos, &st, name, &at, &ok)
			          : ins_names_entry(a, al, &pos, &st, name, &at, &ok)) <= 0)
				break;
			held++;
		}
		atomic_fetch_add(plus ? &ctx->stats.inside_list_read : &ctx->stats.inside_list_names, held);
		free(a);
		if (rc || next == 0)
			break;
		/* A page must end past where it began and past its entries: a
		 * helper made to say otherwise could loop (EIO, logged). */
		if (next <= from || next < after || next > INS_POS_MAX) {
			fs_log(ctx, "files/: a directory listing's page did not move forward (%llu to %llu): EIO",
			       (unsigned long long)from, (unsigned long long)next);
			rc = -EIO;
			break;
		}
		from = next;
		if (taken >= want || (spread && emitted)) {
			/* One page a readdir, or one its inodes' spread ended (issue 67). */
			emit(arg, NULL, NULL, (off_t)(from + 3));
			rc = 1; /* not the end: the kernel asks again from there */
			break;
		}
		if (++pages >= INS_LIST_PAGES) {
			/* Blocks without entries (a directory emptied, or made to hurt):
			 * the pages one readdir reads are bounded.  With entries sent,
			 * the last one's offset moves on to here; with none, EIO. */
			if (!emitted) {
				fs_log(ctx, "files/: %u pages of a directory without an entry: EIO", pages);
				rc = -EIO;
			} else {
				emit(arg, NULL, NULL, (off_t)(from + 3));
				rc = 1; /* not the end: the kernel asks again from there */
			}
			break;
		}
	}
	disk_put(ctx->inside, d);
	return rc;
}

/* A time in ns since 1970 as a timespec: the seconds rounded down and the
 * nanoseconds in 0..999999999, before 1970 too (-14182939.5 s is
 * {-14182940, 500000000}, as the kernel's drivers give it). */
static struct timespec inside_time(struct ins_time t)
{
	return (struct timespec){(time_t)t.sec, (long)t.nsec};
}

void fs_inside_stat(const struct fs_node *n, struct stat *st)
{
	const struct ins_stat *s = &n->inside.st;
	st->st_ino = n->ino;
	st->st_mode = s->mode;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	st->st_nlink = s->nlink ? s->nlink : 1;
	st->st_size = (off_t)s->size;
	st->st_blocks = (blkcnt_t)s->blocks;
	st->st_rdev = s->rdev;
	st->st_atim = inside_time(s->atime);
	st->st_mtim = inside_time(s->mtime);
	st->st_ctim = inside_time(s->ctime);
}

ssize_t fs_inside_pread(struct fs_ctx *ctx, const struct fs_node *n, void *buf, size_t len, uint64_t off)
{
	struct ins_disk *d = disk_for(ctx, n, n->blob_id);
	size_t done = 0;
	int rc = 0;
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, n->inside.vol & 31);
	while (v && done < len) {
		struct ins_req_read r = {n->inside.st.ino,
		                         (uint32_t)(len - done > INS_MAX_READ ? INS_MAX_READ : len - done), off + done};
		void *a;
		size_t al;
		if ((rc = ask(ctx, n, d, v, INS_T_READ, &r, sizeof(r), &a, &al)) < 0)
			break;
		if (al > r.len) {
			free(a);
			rc = -EIO;
			break;
		}
		memcpy((char *)buf + done, a, al);
		free(a);
		done += al;
		if (al < r.len)
			break; /* the end of the file */
	}
	disk_put(ctx->inside, d);
	return rc < 0 && done == 0 ? rc : (ssize_t)done;
}

int fs_inside_readlink(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap)
{
	struct ins_disk *d = disk_for(ctx, n, n->blob_id);
	void *a;
	size_t al;
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, n->inside.vol & 31);
	int rc = v ? ask(ctx, n, d, v, INS_T_READLINK, &n->inside.st.ino, 4, &a, &al) : -ENOENT;
	disk_put(ctx->inside, d);
	if (rc < 0)
		return rc;
	if (al == 0 || al >= cap || memchr(a, '\0', al)) {
		free(a);
		return -EIO;
	}
	memcpy(out, a, al);
	out[al] = '\0';
	free(a);
	return 0;
}

struct ins_disk *ins_disk_take(struct fs_ctx *ctx, const struct fs_node *n, int64_t blob_id, char *why, size_t cap,
                               int *load_rc)
{
	struct ins_disk *d = disk_get(ctx, blob_id, why, cap, load_rc);
	if (!d) {
		char path[1024];
		fs_inside_path(ctx, n, path, sizeof(path));
		fs_refuse(ctx, "inside", path, EIO, why, 0);
	}
	return d;
}

void ins_disk_give(struct fs_ctx *ctx, struct ins_disk *d)
{
	disk_put(ctx->inside, d);
}

int ins_node_ask(struct fs_ctx *ctx, const struct fs_node *n, uint32_t type, const void *req, size_t rlen, void **ans,
                 size_t *alen)
{
	struct ins_disk *d = disk_for(ctx, n, n->blob_id);
	if (!d)
		return -EIO;
	struct ins_vol *v = vol_by_number(d, n->inside.vol & 31);
	int rc = v ? ask(ctx, n, d, v, type, req, rlen, ans, alen) : -ENOENT;
	disk_put(ctx->inside, d);
	return rc;
}

void fs_inside_path(struct fs_ctx *ctx, const struct fs_node *n, char *out, size_t cap)
{
	struct fs_node img = *n;
	char base[900];
	img.what = of_snap(n) ? FS_W_SNAP : FS_W_IMAGE;
	img.attr = NULL;
	img.ino = fs_ino(of_snap(n) ? FS_K_SNAP : FS_K_IMAGE, owner_id(n), 0);
	fs_node_path(ctx, &img, base, sizeof(base));
	char name[160] = "";
	/* (a logical volume's name is its disk's: the disk is in the table) */
	struct ins_disk *d = disk_find(ctx->inside, n->blob_id);
	struct ins_vol *v = d ? vol_by_number(d, n->inside.vol & 31) : NULL;
	if (v)
		ins_vol_name(n->dev.name, v, name, sizeof(name));
	if (d)
		disk_put(ctx->inside, d);
	if (name[0])
		snprintf(out, cap, "%s/files/%s (inode %u)", base, name, n->inside.st.ino);
	else if (n->inside.vol & 31)
		snprintf(out, cap, "%s/files/%s%u (inode %u)", base, n->dev.name, n->inside.vol & 31, n->inside.st.ino);
	else
		snprintf(out, cap, "%s/files/%s (inode %u)", base, n->dev.name, n->inside.st.ino);
}

void fs_inside_stats(struct fs_ctx *ctx, struct fs_buf *out)
{
	struct fs_inside *in = ctx->inside;
	IMGFS_LOCK(&in->table_lock, ins_table_lock);
	unsigned now = in->helpers_running, peak = in->helpers_peak, known = 0;
	for (int i = 0; i < INS_DISKS; i++)
		known += in->disks[i].blob_id > 0;
	IMGFS_UNLOCK(&in->table_lock, ins_table_lock);
	fs_buf_printf(out,
	              "# HELP imgfs_inside_helpers files/ helpers running now, the spare included (SPEC §18: at "
	              "most %d).\n"
	              "# TYPE imgfs_inside_helpers gauge\n"
	              "imgfs_inside_helpers %u\n"
	              "# HELP imgfs_inside_helpers_peak The most files/ helpers that ran at once.\n"
	              "# TYPE imgfs_inside_helpers_peak gauge\n"
	              "imgfs_inside_helpers_peak %u\n"
	              "# HELP imgfs_inside_disks Disks whose partitions files/ knows now (at most %d).\n"
	              "# TYPE imgfs_inside_disks gauge\n"
	              "imgfs_inside_disks %u\n"
	              "# HELP imgfs_inside_helper_starts_total files/ helpers started (spares included).\n"
	              "# TYPE imgfs_inside_helper_starts_total counter\n"
	              "imgfs_inside_helper_starts_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_spares_taken_total Helpers a volume's first request found started.\n"
	              "# TYPE imgfs_inside_spares_taken_total counter\n"
	              "imgfs_inside_spares_taken_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_stat_hits_total Attributes of files/ answered from what helpers "
	              "told before, without asking.\n"
	              "# TYPE imgfs_inside_stat_hits_total counter\n"
	              "imgfs_inside_stat_hits_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_exchanges_total Requests sent to files/ helpers (a round trip each, "
	              "plus its block reads).\n"
	              "# TYPE imgfs_inside_exchanges_total counter\n"
	              "imgfs_inside_exchanges_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_block_reads_total Reads of a volume's bytes that helpers asked the "
	              "daemon for.\n"
	              "# TYPE imgfs_inside_block_reads_total counter\n"
	              "imgfs_inside_block_reads_total %" PRIu64 "\n"
	              "# HELP imgfs_inside_block_bytes_total Bytes of those reads.\n"
	              "# TYPE imgfs_inside_block_bytes_total counter\n"
	              "imgfs_inside_block_bytes_total %" PRIu64 "\n",
	              INS_MAX_HELPERS, now, peak, INS_DISKS, known, __atomic_load_n(&in->n_starts, __ATOMIC_RELAXED),
	              __atomic_load_n(&in->n_spare_taken, __ATOMIC_RELAXED),
	              __atomic_load_n(&in->n_stat_hits, __ATOMIC_RELAXED),
	              __atomic_load_n(&in->n_exchanges, __ATOMIC_RELAXED),
	              __atomic_load_n(&in->n_block_reads, __ATOMIC_RELAXED),
	              __atomic_load_n(&in->n_block_bytes, __ATOMIC_RELAXED));
}

/* ---- the room ------------------------------------------------------------ */

int fs_inside_new(struct fs_inside **out)
{
	struct fs_inside *in = calloc(1, sizeof(*in));
	*out = NULL;
	if (!in)
		return -ENOMEM;
	pthread_mutex_init(&in->load_lock, NULL);
	pthread_mutex_init(&in->table_lock, NULL);
	pthread_cond_init(&in->room_cond, NULL);
	pthread_cond_init(&in->spare_cond, NULL);
	ins_helpers_init(in);
	*out = in;
	return 0;
}

void fs_inside_free(struct fs_inside *in)
{
	if (!in)
		return;
	ins_helpers_stop(in); /* first: no spare started while the disks go */
	for (int i = 0; i < INS_DISKS; i++)
		if (in->disks[i].nvols || in->disks[i].man)
			disk_clear(&in->disks[i]); /* its helpers ended and reaped */
	IMGFS_ASSERT(in->helpers_running == 0);
	pthread_cond_destroy(&in->spare_cond);
	pthread_cond_destroy(&in->room_cond);
	pthread_mutex_destroy(&in->table_lock);
	pthread_mutex_destroy(&in->load_lock);
	free(in);
}

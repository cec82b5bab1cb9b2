/*
 * inspect.c — what is inside an image (SPEC §20), the mount's half: the
 * inspector the model's 'inspect' task calls (model/task/inspect.c), and
 * the files an image directory shows of it (inspection, inspection.json,
 * packages) and the control file that asks for a new one (inspect).
 *
 * Who calls it: the task, on a background worker (never a request
 * thread: an inspection reads package databases and registry hives); the
 * attribute table (attr.c) for the files.  fs_workers_start registers the
 * inspector.
 *
 * Gathering: every volume of every disk of the image is looked at as
 * files/ looks at it (inside.c: the disk's partitions, each volume's magic
 * numbers, and the type, UUID and label its probe read); each volume a
 * helper reads is asked INS_T_INSPECT, which its helper answers from the
 * guest's own files under its sandbox (fs/inside/inspect.c).  So what an
 * inspection costs the daemon is what files/ costs: the helpers' block
 * reads through the verified chunk reads, each answer bounded and checked
 * (inspect_judge.c reads the facts as a tenant's words).  A volume whose
 * helper fails (a deadline, a crash: logged as for files/) is named with
 * the reason in the inspection; the rest is inspected.  A read the store
 * did not answer makes the whole run "could not tell" (-EAGAIN: tried
 * again); a chunk read and condemned (ins_disk.damaged: the disk's load,
 * or a helper's read) is a verdict, the chunk named in a note (§20.2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attr.h"
#include "inside_int.h"
#include "inspect_int.h"
#include "log.h"
#include "watch.h"

/* The owner's node of image img, for the paths the log names. */
static int owner_node(struct fs_ctx *ctx, const struct model_image *img, struct fs_node *n)
{
	struct fs_caller owner = {.account_id = img->account_id};
	return fs_node_image(ctx, &owner, img, n);
}

/* What volume v of device dev (disk d) holds: its helper's facts, or why
 * not. */
static void look(struct fs_ctx *ctx, const struct fs_node *img, const struct model_device *dev, struct ins_disk *d,
                 struct ins_vol *v, struct inspect_vol *iv, size_t budget)
{
	ins_vol_name(dev->name, v, iv->name, sizeof(iv->name));
	iv->dev_index = (unsigned)dev->index;
	iv->number = v->number;
	iv->ident = v->ident;
	snprintf(iv->lvname, sizeof(iv->lvname), "%s", v->lvname);
	if (v->fs != VOL_READ)
		return; /* its type is all there is (swap, LUKS, ...) */
	struct fs_node n = *img;
	void *ans = NULL;
	size_t alen = 0;
	n.what = FS_W_INSIDE;
	if (fs_ino_kind(img->ino) == FS_K_SNAP)
		n.ino = FS_INSIDE_SNAP; /* (a snapshot's: the paths the log names) */
	n.attr = NULL;
	n.dev = *dev;
	n.blob_id = dev->blob_id;
	n.inside.vol = (unsigned)dev->index << 5 | v->number;
	memset(&n.inside.st, 0, sizeof(n.inside.st));
	/* The answer, part after part (INS_T_INSPECT), at most
	 * INSPECT_ANSWER_MAX bytes and what is left of the inspection's
	 * INSPECT_FACTS_MAX: a helper that sends more is cut there (its
	 * answer then lacks its "end" line: the judge notes it). */
	size_t most = budget < INSPECT_ANSWER_MAX ? budget : INSPECT_ANSWER_MAX;
	char *facts = NULL;
	size_t len = 0;
	int rc = 0;
	unsigned damaged = __atomic_load_n(&d->damaged, __ATOMIC_RELAXED);
	for (uint32_t part = 0; rc == 0; part++) {
		rc = ins_node_ask(ctx, &n, INS_T_INSPECT, part ? &part : NULL, part ? sizeof(part) : 0, &ans, &alen);
		if (rc < 0)
			break;
		size_t keep = alen > most - len ? most - len : alen;
		char *more = realloc(facts, len + keep + 1);
		if (!more) {
			free(ans);
			free(facts);
			snprintf(iv->note, sizeof(iv->note), "not read: out of memory");
			return;
		}
		facts = more;
		memcpy(facts + len, ans, keep);
		len += keep;
		facts[len] = '\0';
		free(ans);
		ans = NULL;
		if (alen < INSPECT_PART || len >= most)
			break;
	}
	if (rc < 0) {
		free(facts);
		char why[160] = "";
		/* Its bytes met a damaged chunk: a verdict, said (§20.2). */
		if (__atomic_load_n(&d->damaged, __ATOMIC_RELAXED) != damaged)
			ins_damaged_why(d, why, sizeof(why));
		snprintf(iv->note, sizeof(iv->note), "not read: %.*s", (int)sizeof(iv->note) - 11,
		         why[0] ? why : v->open_failed ? v->failure : "its helper failed (the log says why)");
		return;
	}
	iv->facts = facts;
	iv->facts_len = len;
	iv->read = true;
}

/* Reads the disks devs[0..count) of owner node n into out. */
static int gather(struct fs_ctx *ctx, const struct fs_node *n, const struct model_image *img,
                  const struct model_device *devs, int count, bool snapshot, struct model_inspection *out,
                  struct model_err *err)
{
	struct inspect_in *in = NULL;
	bool have_root = false;
	size_t held = 0; /* the facts kept: at most INSPECT_FACTS_MAX */
	int rc;
	if (!(in = calloc(1, sizeof(*in))))
		return model_fail(err, -ENOMEM, "out of memory");
	in->img = img;
	in->snapshot = snapshot;
	in->now = (int64_t)time(NULL);
	char unanswered[300] = ""; /* the first disk the store did not answer for, and why */
	for (int i = 0; i < count && !ctx->stopping && !unanswered[0]; i++) {
		char why[256] = "";
		struct fs_node dn = *n; /* (the disk's node: the path a failed load logs) */
		dn.dev = devs[i];
		dn.blob_id = devs[i].blob_id;
		memset(&dn.inside, 0, sizeof(dn.inside));
		int load_rc = 0;
		struct ins_disk *d = ins_disk_take(ctx, &dn, devs[i].blob_id, why, sizeof(why), &load_rc);
		size_t nl = strlen(in->disk_notes);
		if (!d && load_rc == -EUCLEAN) {
			/* Its partitions or volumes met a damaged chunk: a verdict
			 * (§20.2), the disk's note, none of its volumes read. */
			snprintf(in->disk_notes + nl, sizeof(in->disk_notes) - nl, "%s: %.250s: its volumes are not read\n",
			         devs[i].name, why);
			in->damaged = true;
			continue;
		}
		if (!d) {
			/* Nothing of a load that failed is kept (a refusal that
			 * holds is a disk with a note): the store or the table did
			 * not answer, which says nothing of the disk. */
			snprintf(unanswered, sizeof(unanswered), "%s: %.250s", devs[i].name, why);
			break;
		}
		if (d->note[0])
			snprintf(in->disk_notes + nl, sizeof(in->disk_notes) - nl, "%s: %s\n", devs[i].name, d->note);
		unsigned before = __atomic_load_n(&d->unanswered, __ATOMIC_RELAXED);
		unsigned damaged = __atomic_load_n(&d->damaged, __ATOMIC_RELAXED);
		for (unsigned j = 0; j < d->nvols && in->nvols < INSPECT_VOLS && !ctx->stopping; j++) {
			struct inspect_vol *iv = &in->vols[in->nvols++];
			look(ctx, n, &devs[i], d, &d->vols[j], iv, INSPECT_FACTS_MAX - held);
			/* Only the root's packages are shown: any other volume's
			 * are dropped now, so an inspection holds one package
			 * list (INSPECT_ANSWER_MAX), not one a volume. */
			bool root = iv->read && !have_root && inspect_is_root(iv);
			have_root |= root;
			if (iv->read && !root)
				inspect_drop_packages(iv);
			held += iv->facts_len;
		}
		if (__atomic_load_n(&d->unanswered, __ATOMIC_RELAXED) != before)
			snprintf(unanswered, sizeof(unanswered), "%s: the store did not answer a read of its bytes "
			         "(the log says which)", devs[i].name);
		if (__atomic_load_n(&d->damaged, __ATOMIC_RELAXED) != damaged) {
			/* A verdict: the image is damaged, the chunk named (the
			 * volumes it held say "not read"). */
			ins_damaged_why(d, why, sizeof(why));
			nl = strlen(in->disk_notes);
			snprintf(in->disk_notes + nl, sizeof(in->disk_notes) - nl, "%s: %.250s\n", devs[i].name, why);
			in->damaged = true;
		}
		ins_disk_give(ctx, d);
	}
	if (ctx->stopping)
		rc = -EINTR;
	else if (unanswered[0])
		rc = model_fail(err, -EAGAIN, "could not tell: %s", unanswered);
	else if ((rc = inspect_judge(in, out)) < 0)
		rc = model_fail(err, rc, "the inspection could not be rendered");
	for (unsigned j = 0; j < in->nvols; j++)
		free(in->vols[j].facts);
	free(in);
	return rc < 0 ? rc : 0;
}

static int inspector(void *arg, int64_t image_id, struct model_inspection *out, struct model_err *err)
{
	struct fs_ctx *ctx = arg;
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_region region;
	struct model_image img;
	struct fs_node n;
	int rc, count;
	if ((rc = model_image_get_in_region(ctx->m, image_id, MODEL_REF_DEVICES, &img, &region)) < 0)
		return model_fail(err, rc, "the image cannot be read");
	if ((rc = owner_node(ctx, &img, &n)) < 0)
		return model_fail(err, rc, "the image cannot be read");
	if ((count = model_device_list(ctx->m, image_id, devs)) < 0)
		return model_fail(err, count, "the image's disks cannot be listed");
	return gather(ctx, &n, &img, devs, count, false, out, err);
}

/* A snapshot's (§20): its one disk, data, as files/ reads it (inside.c);
 * no attributes, so nothing contradicted or filled. */
static int snap_inspector(void *arg, int64_t snap_id, struct model_inspection *out, struct model_err *err)
{
	struct fs_ctx *ctx = arg;
	struct model_device dev;
	struct model_image none;
	struct fs_node n;
	int rc;
	memset(&n, 0, sizeof(n));
	if ((rc = model_snapshot_get(ctx->m, snap_id, &n.snap)) < 0 ||
	    (rc = model_region_get(ctx->m, n.snap.region_id, &n.region)) < 0)
		return model_fail(err, rc, "the snapshot cannot be read");
	n.caller.account_id = n.snap.account_id;
	n.what = FS_W_SNAP;
	n.cls = FS_CLASS_SNAPSHOTS;
	n.ino = fs_ino(FS_K_SNAP, n.snap.id, 0);
	n.blob_id = n.snap.blob_id;
	memset(&dev, 0, sizeof(dev));
	snprintf(dev.name, sizeof(dev.name), "data");
	dev.kind = MODEL_DEV_SNAPSHOT;
	dev.blob_id = n.snap.blob_id;
	dev.snapshot_id = n.snap.id;
	dev.size = n.snap.size;
	memset(&none, 0, sizeof(none));
	snprintf(none.ext_id, sizeof(none.ext_id), "%s", n.snap.ext_id);
	return gather(ctx, &n, &none, &dev, 1, true, out, err);
}

void fs_inspect_register(struct fs_ctx *ctx)
{
	model_set_inspector(ctx->m, inspector, snap_inspector, ctx);
	if (!ctx->ro && model_inspection_sweep(ctx->m) < 0)
		fs_log(ctx, "inspections: the images without one could not be queued (the next mount tries again)");
}

/* ---- the files ------------------------------------------------------------- */

/* Whether n (an attribute file) is a snapshot's, through snapshots/ or
 * tenants/. */
static bool of_snapshot(const struct fs_node *n)
{
	return fs_ino_kind(n->ino) == FS_K_SNAP || fs_ino_kind(n->ino) == FS_K_TENANT_SNAP;
}

static void show(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out, enum model_inspection_file which)
{
	char *t = NULL;
	bool pending;
	/* The packages are what the disks hold: shown where files/ is (§18). */
	if (which == MODEL_INSPECTION_PACKAGES && fs_node_blob_access(ctx, n, NULL) < 0)
		return;
	int rc;
	if (of_snapshot(n)) {
		rc = model_snap_inspection_get(ctx->m, n->snap.id, which, &t, &pending);
	} else {
		/* The row said whether there is one (a walk reads no statement
		 * for an image never inspected); else the statement says. */
		rc = n->img.inspected & 1 ? model_inspection_get(ctx->m, n->img.id, which, &t, &pending) : -ENOENT;
		if (!(n->img.inspected & 1))
			pending = (n->img.inspected & 2) != 0;
	}
	if (rc == -ENOENT) {
		const char *state = pending ? "pending" : "none";
		if (which == MODEL_INSPECTION_TEXT)
			fs_buf_printf(out, "status: %s\n", state);
		else if (which == MODEL_INSPECTION_JSON)
			fs_buf_printf(out, "{\"status\": \"%s\"}\n", state);
		return;
	}
	if (rc < 0) {
		fs_buf_error(out, rc);
		return;
	}
	fs_buf_puts(out, t);
	free(t);
}

void fs_show_inspection(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	show(n, ctx, out, MODEL_INSPECTION_TEXT);
}

void fs_show_inspection_json(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	show(n, ctx, out, MODEL_INSPECTION_JSON);
}

void fs_show_packages(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	show(n, ctx, out, MODEL_INSPECTION_PACKAGES);
}

int fs_store_inspect(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	(void)v; /* any write asks */
	int rc = of_snapshot(n) ? model_snap_inspection_queue(ctx->m, n->snap.id, err)
	                        : model_inspection_queue(ctx->m, n->img.id, err);
	if (rc == 0)
		fs_workers_kick(ctx);
	return rc;
}

void fs_inspect_password_note(struct fs_ctx *ctx, const struct fs_node *n)
{
	char *t = NULL, path[1024];
	bool pending;
	if (!n->vm.image_id || model_inspection_get(ctx->m, n->vm.image_id, MODEL_INSPECTION_TEXT, &t, &pending) < 0)
		return;
	if (strstr(t, "\nwarning: no cloud-init ")) {
		fs_node_path(ctx, n, path, sizeof(path));
		fs_log(ctx, "write %s: written to disks/cidata, but the image it was built from has no cloud-init: "
		            "the guest does not apply it (its inspection, SPEC §20)", path);
	}
	free(t);
}

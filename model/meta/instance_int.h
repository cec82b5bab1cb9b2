/*
 * instance_int.h — what the instance files share and nobody else sees:
 * instance.c (an instance's life, attaching disks, rebuilding it from an
 * image), instance_disk.c (its disks' rows and files, below the others),
 * instance_boot.c (ISO images as its cdrom, boot, system-disk-size),
 * instance_move.c (where it runs) and seed.c (its password and
 * disks/cidata).
 *
 * Each helper runs inside the caller's write transaction (c) and leaves
 * committing or rolling back to it.  Disk files follow instance.c's order
 * (its header): a new disk's wblob goes into `made`, removed again if the
 * transaction fails; a dropped disk's goes into `gone`, removed after the
 * commit.
 */
#ifndef IMGFS_INSTANCE_INT_H
#define IMGFS_INSTANCE_INT_H

#include "model_int.h"

#define VM_BUSY_RUNNING "the instance is running; write stop to its status first"
#define VM_BUSY_TASK "a capture is reading its disks"

/* Wblob files an operation made (removed again if it fails) or
 * dereferenced (removed after its commit).  A rebuild replaces at most
 * every disk. */
struct wblob_set {
	int n;
	char names[MODEL_VM_SLOTS][64];
};
/* instance_disk.c: the wblob sets, a disk's rows and file, the store. */
void instance_wblob_add(struct wblob_set *set, const char *name);
/* Removes the files of set.  A failure leaves an unreferenced file, which
 * is fsck's to find: the metadata is already right. */
void instance_wblob_remove(blob_store *s, struct wblob_set *set);

/* instance.c.  The instance, for a change: -ENOENT with a reason when it is gone,
 * -EREMOTE on another host than its own (§13). */
int instance_get_here(model *m, int64_t id, struct model_instance *vm, struct model_err *err);
/* 0 when the instance's set of disks may change now: -EBUSY while it
 * runs (VM_BUSY_RUNNING) or a capture reads it (VM_BUSY_TASK). */
int instance_idle(model *m, const struct model_instance *vm, struct model_err *err);
/* instance_move.c.  A start of instance id written on another host than
 * its own: 0 when it is this host's (the caller starts it), 1 when it was
 * moved here and started, -errno with the reason. */
int instance_start_here(model *m, int64_t id, struct model_err *err);
/* vda made again where a system disk of type `type` lives (in the cluster
 * or on this host), with what it holds, when that is not where it is: in
 * c, its old wblob into gone, the new one into made. */
int instance_vda_place(model *m, struct model_conn *c, blob_store *s, const struct model_instance *vm, unsigned type,
                       struct wblob_set *made, struct wblob_set *gone);
/* instance_disk.c.  The instance's region's store, with a reason on
 * failure. */
int instance_store(model *m, int64_t region_id, blob_store **out, struct model_err *err);
/* The disk at idx among the n listed, NULL when none is attached there. */
const struct model_vm_disk *instance_disk_at(const struct model_vm_disk *disks, int n, int idx);
/* A new writable disk at idx: its blob row (sealed under data key key_id,
 * 0 plain: SPEC §17), its instance_disks row and its wblob over base
 * (NULL: blank) of the given size.  A cloud disk (a cloud system disk, a
 * data disk) of a service of several hosts whose region's store has a
 * cluster is kept there ("c<id>", §13), but an encrypted one; every other
 * disk on this host ("d<id>"). */
int instance_disk_new(struct model_conn *c, blob_store *s, int64_t region_id, int64_t vm_id, int idx, bool cloud,
                      const blob_manifest *base, uint64_t size, int64_t key_id, struct wblob_set *made);
/* A read-only disk at idx: the sealed blob blob_id, by reference (its
 * row is not copied; a cdrom's is its ISO image's). */
int instance_disk_link(struct model_conn *c, int64_t vm_id, int idx, int64_t blob_id);
/* Deletes disk d (its row; its blob row when nothing else references it,
 * and then its wblob, into gone). */
int instance_disk_drop(struct model_conn *c, int64_t vm_id, const struct model_vm_disk *d, struct wblob_set *gone);
/* instance_disk.c.  disks/ of the instance changed entries: its directory's mtime moves,
 * mounts hear of it. */
int instance_dir_changed(struct model_conn *c, const struct model_instance *vm);
/* instance.c.  The image's `instances` file changed (an instance built from it came or
 * went): its mtime moves and every mount hears of it. */
int instance_image_changed(model *m, struct model_conn *c, int64_t image_id);
/* Records the image the instance is built from now (0: none): its row's
 * image_id, key_id (the image's data key; unchanged for 0) and times,
 * both images' `instances` files. */
int instance_set_image(model *m, struct model_conn *c, const struct model_instance *vm, int64_t image_id);

/* instance_boot.c.  The instance's cdrom taken out in c: its row goes, and
 * with it the ISO image the instance was built from (image_id 0: the ISO
 * lists it no more and can be deleted).  Nothing when no cdrom is in. */
int instance_cdrom_eject(model *m, struct model_conn *c, const struct model_instance *vm,
                         const struct model_vm_disk *disks, int n);
/* Writing an ISO image iso (checked usable by the caller) to the
 * instance's image, in c: the refusals of §16, then the cdrom by
 * reference, a blank vda of system-disk-size, the ISO recorded. */
int instance_boot_iso(model *m, struct model_conn *c, blob_store *s, const struct model_instance *vm,
                      const struct model_image *iso, struct wblob_set *made, struct wblob_set *gone,
                      struct model_err *err);

#endif

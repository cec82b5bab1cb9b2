/*
 * instances.h — instances (SPEC §2.4, §6.5, meta/instance.c): the
 * stopped or running virtual machines of an account, their disks (each a
 * writable blob of this host), and rebuilding one from an image.
 *
 * Who calls it: fs/ (instances/ and each instance's files and disks), the
 * capture task (which reads an instance's disks).  Any thread; an
 * instance's disks are files of the host it runs on (model_instance_here).
 *
 * Errors: -errno with the reason (-EBUSY while running or while a task
 * reads it, -EREMOTE for an instance of another host, -EPERM for what its
 * state no longer allows, -EEXIST for a name taken or a disk attached).
 */
#ifndef IMGFS_MODEL_INSTANCES_H
#define IMGFS_MODEL_INSTANCES_H

#include "core.h"

/* ---- instances (§2.4, instance.c) ------------------------------------------ */

struct model_instance {
	int64_t id;
	char ext_id[16];
	int64_t region_id, account_id;
	char name[MODEL_NAME_MAX + 1];
	enum model_vm_status status;
	unsigned system_disk; /* MODEL_TYPE_LOCAL or MODEL_TYPE_CLOUD */
	int64_t image_id;     /* 0: none */
	bool has_run;         /* started at least once */
	int64_t created, mtime_ns, ctime_ns;
	int64_t dir_mtime_ns; /* last change of disks/ entries (attach, detach, rebuild) */
	char host[MODEL_HOST_MAX + 1]; /* the host it runs on (§13); "" made before hosts */
};
/* 0 when this process's host may touch the instance's disks (open them,
 * attach, detach, rebuild, remove): the instance runs here, or on no
 * host that is still registered.  -EREMOTE otherwise ("instance vm1 runs
 * on host-a"): its disks are that host's files. */
int model_instance_here(model *m, const struct model_instance *vm, struct model_err *err);
int model_instance_list(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                        int (*cb)(void *arg, const struct model_instance *vm), void *arg);
int model_instance_lookup(model *m, int64_t region_id, int64_t account_id, const char *name,
                          struct model_instance *out);
int model_instance_get(model *m, int64_t id, struct model_instance *out);
/* Names of the account's instances created from the image, one a line. */
int model_image_instances(model *m, int64_t image_id, int64_t account_id, char *buf, size_t cap);

#define MODEL_VM_DISK_SIZE (40ull << 30) /* a new instance's blank system disk */
#define MODEL_VM_MAX_DISKS 26           /* vda..vdz */

/* mkdir instances/<vm>: a stopped instance (system disk local) with a
 * blank, sparse 40 GiB vda.  Name rules of §10; -EEXIST when taken. */
int model_instance_create(model *m, int64_t region_id, int64_t account_id, const char *name, int64_t *id_out,
                          struct model_err *err);
/* rmdir instances/<vm>: deletes the instance and its disks (their wblobs
 * too).  -EBUSY while running or while a task reads it (a capture). */
int model_instance_remove(model *m, int64_t id, struct model_err *err);
/* Writes to `status`: start (-EBUSY while a task reads it; marks has_run)
 * or stop.  Writing the current status is accepted (no change). */
int model_instance_set_status(model *m, int64_t id, enum model_vm_status to, struct model_err *err);
/* Writes to `system-disk` (MODEL_TYPE_LOCAL or MODEL_TYPE_CLOUD): -EPERM once
 * the instance has an image or has run. */
int model_instance_set_system_disk(model *m, int64_t id, unsigned type, struct model_err *err);
/* Whether a task (a capture) is reading the instance: its disks cannot be
 * written, attached, detached or resized, and it cannot be started. */
bool model_instance_busy(model *m, int64_t id);

/* An instance's disk: a writable blob (blob_wblob) in the region's store. */
struct model_vm_disk {
	char name[8];    /* vda..vdz */
	int index;       /* 0..25 */
	int64_t blob_id; /* blobs row; wblob names the writable blob */
	char wblob[64];
	int64_t mtime_ns; /* last change of size or content recorded */
};
/* The instance's disks in index order; returns the count (<= 26). */
int model_instance_disks(model *m, int64_t vm_id, struct model_vm_disk out[MODEL_VM_MAX_DISKS]);
/* Creating disks/<dev> (vdb..vdz): a blank data disk of size 0, also while
 * running (hot plug); -EEXIST when attached (vda always is), -EINVAL for a
 * bad index, -EBUSY while a capture reads the instance. */
int model_instance_disk_attach(model *m, int64_t vm_id, int index, struct model_err *err);
/* rm disks/<dev>: detaches and deletes a data disk (stopped instances
 * only, -EBUSY otherwise; vda -EPERM). */
int model_instance_disk_detach(model *m, int64_t vm_id, int index, struct model_err *err);
/* Records that a disk's content or size changed (its mtime, the stored
 * size in blobs for listings); called by fs/ when a writer closes or
 * truncates. */
int model_instance_disk_touch(model *m, int64_t blob_id, uint64_t size, uint64_t stored);

/* Writing an image to an instance's `image` (§6.5).  The caller resolved
 * image_id in its own view (fs/); the model checks that account_id may use
 * it (own, shared with it, public, marketplace), that it is available
 * (-EINVAL), that its type matches the system disk (-EINVAL: a local image
 * needs a conversion first), that the instance is stopped (-EBUSY), and then
 * replaces vda by a copy-on-write copy of the image's system disk and each
 * mapped data-disk snapshot by a data disk at its index (other data disks
 * stay).  The image cannot be deleted while the instance exists. */
int model_instance_rebuild(model *m, int64_t vm_id, int64_t image_id, int64_t account_id, struct model_err *err);

#endif

/*
 * instances.h — instances (SPEC §2.4, §6.5, meta/instance.c): the
 * stopped or running virtual machines of an account, their disks (each a
 * writable blob of this host, but the read-only cdrom and cidata), and
 * rebuilding one from an image; booting from an ISO image, the
 * system-disk-size and the administrator password (§16,
 * meta/instance_boot.c, meta/seed.c).
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
	uint64_t system_disk_size; /* the size of a blank vda it is given (§16) */
	int64_t key_id;       /* the data key of the image it was built from (§17): its
	                         new disks are sealed under it; 0: plain */
};
/* 0 when this process's host may touch the instance's disks (open them,
 * attach, detach, rebuild, remove): the instance runs here, or on no
 * host that is still registered.  -EREMOTE otherwise ("instance vm1 runs
 * on host-a"): its disks are that host's files. */
int model_instance_here(model *m, const struct model_instance *vm, struct model_err *err);
/* An instance that cannot run any more (SPEC §13): its host was removed
 * and a disk of it stays on that host (its local system disk; a disk kept
 * on the host in a region whose store has a cluster).  1 with the reason
 * in why ("its local system disk was on host c, which was removed"), 0,
 * -errno when that cannot be told. */
int model_instance_lost(model *m, const struct model_instance *vm, char *why, size_t cap);
/* 0 when disk wblob of vm can be opened here, given model_instance_here
 * said yes; -EIO with the reason for one that was on a removed host's
 * files out of this host's reach (instance_move.c). */
int model_instance_disk_here(model *m, const struct model_instance *vm, const char *wblob, struct model_err *err);
int model_instance_list(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                        int (*cb)(void *arg, const struct model_instance *vm), void *arg);
int model_instance_lookup(model *m, int64_t region_id, int64_t account_id, const char *name,
                          struct model_instance *out);
int model_instance_get(model *m, int64_t id, struct model_instance *out);
/* Names of the account's instances created from the image, one a line. */
int model_image_instances(model *m, int64_t image_id, int64_t account_id, char *buf, size_t cap);

#define MODEL_VM_DISK_SIZE (40ull << 30) /* a new instance's blank system disk */
#define MODEL_VM_MAX_DISKS 26           /* vda..vdz, the writable disks */
/* The read-only disks (§16), at fixed indexes after the writable ones:
 * disks/cdrom (an ISO image's blob, by reference) and disks/cidata (the
 * cloud-init seed its password made).  An instance has at most
 * MODEL_VM_SLOTS disks in all. */
#define MODEL_VM_CDROM 26
#define MODEL_VM_CIDATA 27
#define MODEL_VM_SLOTS 28

/* mkdir instances/<vm>: a stopped instance (system disk local) with a
 * blank, sparse 40 GiB vda.  Name rules of §10; -EEXIST when taken. */
int model_instance_create(model *m, int64_t region_id, int64_t account_id, const char *name, int64_t *id_out,
                          struct model_err *err);
/* rmdir instances/<vm>: deletes the instance and its disks (their wblobs
 * too).  -EBUSY while running or while a task reads it (a capture). */
int model_instance_remove(model *m, int64_t id, struct model_err *err);
/* Writes to `status`: start (-EBUSY while a task reads it; marks has_run)
 * or stop.  Writing the current status is accepted (no change).  Start
 * on another host than the instance's moves it here when it is stopped or
 * its host was removed and all its disks reach this host (§13: their last
 * writers fenced first); -EREMOTE while it runs on a registered host or a
 * disk of it stays there, -EIO when that host was removed. */
int model_instance_set_status(model *m, int64_t id, enum model_vm_status to, struct model_err *err);
/* Writes to `system-disk` (MODEL_TYPE_LOCAL or MODEL_TYPE_CLOUD): -EPERM once
 * the instance has an image or has run. */
int model_instance_set_system_disk(model *m, int64_t id, unsigned type, struct model_err *err);
/* Whether a task (a capture) is reading the instance: its disks cannot be
 * written, attached, detached or resized, and it cannot be started. */
bool model_instance_busy(model *m, int64_t id);

/* An instance's disk: a writable blob (blob_wblob) in the region's store,
 * or (cdrom, cidata) a sealed one, read-only. */
struct model_vm_disk {
	char name[8];    /* vda..vdz, cdrom, cidata */
	int index;       /* 0..25, MODEL_VM_CDROM, MODEL_VM_CIDATA */
	int64_t blob_id; /* blobs row; wblob names the writable blob */
	char wblob[64];  /* "" for a sealed (read-only) disk */
	bool sealed;     /* read-only: the blob has a manifest */
	int64_t mtime_ns; /* last change of size or content recorded */
	int64_t key_id;  /* the blob's data key (§17); 0: plain */
};
/* The instance's disks in index order; returns the count (<= MODEL_VM_SLOTS). */
int model_instance_disks(model *m, int64_t vm_id, struct model_vm_disk out[MODEL_VM_SLOTS]);
/* The index of an instance's disk name (vda..vdz 0..25, cdrom, cidata),
 * -EINVAL for any other name. */
int model_vm_disk_index(const char *name);
/* Its inverse: the name of the disk at idx (0 .. MODEL_VM_SLOTS - 1). */
void model_vm_disk_name(char out[8], int idx);
/* Creating disks/<dev> (vdb..vdz): a blank data disk of size 0, also while
 * running (hot plug); -EEXIST when attached (vda always is), -EINVAL for a
 * bad index, -EBUSY while a capture reads the instance. */
int model_instance_disk_attach(model *m, int64_t vm_id, int index, struct model_err *err);
/* rm disks/<dev>: detaches and deletes a data disk (stopped instances
 * only, -EBUSY otherwise; vda -EPERM); disks/cdrom is ejected
 * (model_instance_set_boot's "disk"), disks/cidata removed (the seed
 * goes; the password is set again by writing it). */
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
 * stay), and ejects a cdrom.  The image cannot be deleted while the
 * instance exists.
 * An ISO image (§16, instance_boot.c) instead becomes the instance's
 * disks/cdrom by reference (its blob, nothing copied), vda a blank disk
 * of system-disk-size, boot `cdrom`; the ISO cannot be deleted while it
 * is in (-EBUSY), and ejecting it ends that. */
int model_instance_rebuild(model *m, int64_t vm_id, int64_t image_id, int64_t account_id, struct model_err *err);
/* The same from an image whose URL import runs (SPEC §6.5 "Early"): vda a
 * blank local disk of the size the import announced, reading through the
 * image (task/early_disk.c) until it arrived; an available image is an
 * ordinary rebuild.  -EINVAL for an image that is not being imported from
 * a URL, an encrypted or ISO image, a cloud system disk; -EBUSY while the
 * import has not announced the size; the rebuild's other refusals. */
int model_instance_rebuild_early(model *m, int64_t vm_id, int64_t image_id, int64_t account_id,
                                 struct model_err *err);

/* ---- early disks (§6.5 "Early", task/early_disk.c) ---------------------------- */

struct model_early_disk;
/* The written map of a new early disk (the blob's size), made durable;
 * removed with it. */
int model_early_disk_create(model *m, int64_t blob_id, uint64_t size);
void model_early_disk_remove(model *m, int64_t blob_id);
/* The disk blob_id of instance vm_id as early: *out NULL when it is not
 * (or no more). */
int model_early_disk_open(model *m, int64_t blob_id, int64_t vm_id, struct model_early_disk **out);
void model_early_disk_close(struct model_early_disk *ed); /* accepts NULL */
/* Reads w as the disk shows it: the guest's chunks from w, the rest
 * through the image (EIO within the stall timeout for a chunk that does
 * not arrive: why, cap bytes, may be NULL, says why in words a user acts
 * on, SPEC §6.5 "Faults"; "" for a failure of w's own). */
ssize_t model_early_disk_pread(struct model_early_disk *ed, blob_wblob *w, void *buf, size_t len, uint64_t off,
                               char *why, size_t cap);
/* Before a write, punch or share of [off, off + len) of w (the caller
 * serialises writers): each chunk it touches that is not the disk's own
 * yet becomes so, durably. */
int model_early_disk_cow(struct model_early_disk *ed, blob_wblob *w, uint64_t off, uint64_t len);
/* Once the image is available: the chunks not the disk's own shared from
 * it, the map removed; 1 then (ed no longer needed), 0 before. */
int model_early_disk_settle(struct model_early_disk *ed, blob_wblob *w);
/* How much of the image of an early instance arrived (bytes, and its
 * size); -ENOENT for an instance that is not early. */
int model_instance_arrived(model *m, const struct model_instance *vm, uint64_t *arrived, uint64_t *total);

/* ---- booting from ISO images, the password (§16) ----------------------------- */

/* Whether the instance boots from its cdrom: 1 (a cdrom is in), 0 (it
 * boots from vda), -errno.  `boot` shows it. */
int model_instance_boot(model *m, int64_t vm_id);
/* Writing `boot`: cdrom (-EINVAL "... no cdrom" when none is in; else no
 * change) or disk (ejects the cdrom: stopped only, -EBUSY otherwise; no
 * change when none is in). */
int model_instance_set_boot(model *m, int64_t vm_id, bool cdrom, struct model_err *err);
/* The largest system-disk-size: the blob store's largest blob (4 PiB -
 * 1 MiB, what truncate(2) of a disk takes). */
#define MODEL_VM_DISK_MAX ((uint64_t)UINT32_MAX << BLOB_CHUNK_SHIFT)
/* A size as `system-disk-size` takes it: decimal digits, then at most one
 * of the suffixes K, M, G, T, P (powers of 1024, as truncate(1) reads
 * them), each also written KiB, MiB, GiB, TiB, PiB.  No sign, no blank,
 * no fraction, nothing else: -EINVAL.  A value past 2^64 - 1 is
 * UINT64_MAX (then out of range for any use). */
int model_size_parse(const char *s, uint64_t *out);
/* Writing `system-disk-size` (bytes, 1 .. MODEL_VM_DISK_MAX, else
 * -EINVAL): -EPERM once the instance has an image or has run; resizes vda
 * to it. */
int model_instance_set_disk_size(model *m, int64_t vm_id, uint64_t size, struct model_err *err);

/* The password rules (SPEC §16): 8 to 30 characters of printable ASCII
 * but space (0x21..0x7e), at least three of the four classes upper case,
 * lower case, digit, symbol.  One reason for every refusal, which never
 * quotes the password. */
#define MODEL_PASSWORD_MIN 8
#define MODEL_PASSWORD_MAX 30
#define MODEL_PASSWORD_RULE                                                                                  \
	"a password is 8 to 30 printable ASCII characters without spaces, with at least three of: upper-case " \
	"letters, lower-case letters, digits, symbols"
/* 0, or -EINVAL with MODEL_PASSWORD_RULE. */
int model_password_check(const char *password, struct model_err *err);
/* The SHA-512 crypt hash of password ("$6$<16 salt characters>$<86>"),
 * salted from getrandom(2): 0, -EINVAL, -EIO.  out holds at least
 * MODEL_PASSWORD_HASH_MAX bytes. */
#define MODEL_PASSWORD_HASH_MAX 128
int model_password_hash(const char *password, char out[MODEL_PASSWORD_HASH_MAX]);
/* The bytes of the cloud-init NoCloud seed of vm with hash (seed.c has
 * the files): an ISO 9660 image (volume id cidata) dated `when`; *out
 * malloc'd. */
int model_seed_build(const struct model_instance *vm, const char *hash, int64_t when, void **out, size_t *len);
/* Writing `password`: checked (-EINVAL with the rule), hashed, and
 * disks/cidata (re)made from the hash in one transaction; only the hash
 * is kept (inside the seed).  Stopped instances only (-EBUSY). */
int model_instance_set_password(model *m, int64_t vm_id, const char *password, struct model_err *err);

#endif

/*
 * model.h — the service's metadata: accounts, regions, images, snapshots,
 * instances, devices, shares, quotas and tasks, kept in SQLite (WAL) in
 * <state>/imgfs.db, and the per-region blob stores under <state>/regions/.
 *
 * Who calls it: fs/ (every request), the admin command line, the unit
 * tests.  It is the only code that includes <sqlite3.h>; it knows nothing of
 * FUSE or inodes.  The schema, one comment per table and column, is in
 * schema.c; the image status machine (SPEC §4) in status.c.
 *
 * Threads: a model may be used from any number of threads; each thread gets
 * its own SQLite connection (WAL: readers never wait for the writer).  Two
 * processes may open one state directory at once (SPEC §1).
 *
 * Errors: 0 (or a count) on success, -errno on failure, the errno of SPEC §9
 * for refusals; functions that can refuse take a struct model_err that
 * receives a one-line reason.
 */
#ifndef IMGFS_MODEL_H
#define IMGFS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blobstore.h"

#define MODEL_NAME_MAX 255       /* bytes of a stored name */
#define MODEL_NAME_CHARS 32      /* characters of an image/instance/account name (§10) */
#define MODEL_DESC_MAX 256       /* bytes of a description (§2.1) */
#define MODEL_TEXT_MAX 4096      /* bytes of any other stored value (§12) */
#define MODEL_EXT_ID_LEN 12      /* "img-" + 8 hex; "snap-" is 13, "i-" 10 */

/* One-line reason beside an errno (SPEC §9). */
struct model_err {
	int code;      /* -errno, 0 when none */
	char msg[256]; /* the reason, no newline */
};
/* Sets err (if not NULL) and returns code. */
int model_fail(struct model_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- enums (zero is invalid so a forgotten field is caught) -------------- */

enum model_folder {
	MODEL_FOLDER_INVALID = 0,
	MODEL_FOLDER_PUBLIC,
	MODEL_FOLDER_MARKETPLACE,
	MODEL_FOLDER_PRIVATE,
	MODEL_FOLDER_ISO,
	MODEL_FOLDER_RECYCLE, /* recycle-bin: deleted private images */
};
const char *model_folder_name(enum model_folder f); /* "public", ... "recycle-bin" */

enum model_image_status {
	MODEL_IMG_INVALID = 0,
	MODEL_IMG_QUEUED,
	MODEL_IMG_UPLOADING,
	MODEL_IMG_PENDING,
	MODEL_IMG_REPLICATING,
	MODEL_IMG_AVAILABLE,
	MODEL_IMG_ERROR,
	MODEL_IMG_DELETED,
	MODEL_IMG_STATUS_COUNT
};
const char *model_image_status_name(enum model_image_status s);
/* True when SPEC §4 allows the edge from -> to (see status.c). */
bool model_image_transition_allowed(enum model_image_status from, enum model_image_status to);
/* True for statuses in which the image's content can still change. */
bool model_image_status_transitional(enum model_image_status s);

enum model_snap_status { MODEL_SNAP_INVALID = 0, MODEL_SNAP_CREATING, MODEL_SNAP_AVAILABLE, MODEL_SNAP_ERROR };
const char *model_snap_status_name(enum model_snap_status s);

enum model_vm_status { MODEL_VM_INVALID = 0, MODEL_VM_STOPPED, MODEL_VM_RUNNING };
const char *model_vm_status_name(enum model_vm_status s);

/* Image type bits: public and marketplace images are both. */
enum { MODEL_TYPE_LOCAL = 1, MODEL_TYPE_CLOUD = 2 };

/* ---- the handle ---------------------------------------------------------- */

typedef struct model model;

enum { MODEL_OPEN_CREATE = 1 }; /* create the state directory if missing */

/* Opens (and with MODEL_OPEN_CREATE, creates with the default regions and
 * the platform catalogue) the state directory. */
int model_open(model **out, const char *state_dir, int flags, struct model_err *err);
void model_close(model *m); /* accepts NULL */
const char *model_state_dir(const model *m);

/* The blob store of a region (opened once, owned by the model). */
int model_store(model *m, int64_t region_id, blob_store **out);

/* Default state directory per SPEC §1 into out (PATH_MAX bytes). */
int model_default_state_dir(char *out, size_t cap);

/* Changes whenever another connection — another thread of this process or
 * another process — commits (PRAGMA data_version of the calling thread's
 * connection); -1 on error. */
int64_t model_generation(model *m);

/* ---- names (§10) and ids ------------------------------------------------- */

/* 0, -EINVAL or -ENAMETOOLONG with the reason. */
int model_name_check(const char *name, struct model_err *err);
/* Whether s is valid UTF-8 (strict: no overlong forms, no surrogates). */
bool model_utf8_valid(const char *s);

/* ---- accounts ------------------------------------------------------------ */

struct model_account {
	int64_t id;
	char name[MODEL_NAME_MAX + 1];
	int64_t uid; /* -1: none */
};
int model_account_add(model *m, const char *name, int64_t uid, struct model_err *err);
int model_account_by_name(model *m, const char *name, struct model_account *out);
int model_account_by_uid(model *m, int64_t uid, struct model_account *out);
int model_account_get(model *m, int64_t id, struct model_account *out);
/* Finds or creates the account (single-user mode). */
int model_account_ensure(model *m, const char *name, struct model_account *out, struct model_err *err);
int model_account_list(model *m, int (*cb)(void *arg, const struct model_account *a), void *arg);

/* ---- regions ------------------------------------------------------------- */

struct model_region {
	int64_t id;
	char name[MODEL_NAME_MAX + 1];
	int64_t created_ns; /* directory mtimes are nanosecond-exact: the kernel
	                       keeps a cached listing while its mtime is unchanged */
	int64_t mtime_ns;   /* last change of any listing in the region */
};
/* Adds a region with the platform catalogue. */
int model_region_add(model *m, const char *name, struct model_err *err);
int model_region_get(model *m, int64_t id, struct model_region *out);
int model_region_by_name(model *m, const char *name, struct model_region *out);
/* Regions with id > after_id in id order; cb returns non-zero to stop (that
 * value is returned). */
int model_region_list(model *m, int64_t after_id, int (*cb)(void *arg, const struct model_region *r), void *arg);

/* ---- images -------------------------------------------------------------- */

struct model_image {
	int64_t id;                    /* row id; never reused */
	char ext_id[16];               /* img-xxxxxxxx */
	int64_t region_id;
	int64_t account_id;            /* 0: the platform (public, marketplace) */
	char owner[MODEL_NAME_MAX + 1];/* owner's account name, "platform" */
	enum model_folder folder;
	char name[MODEL_NAME_MAX + 1];
	enum model_image_status status;
	int progress;                  /* 0..100 */
	unsigned type;                 /* MODEL_TYPE_* bits */
	char format[8];                /* raw, qcow2, iso or "" */
	char os_type[16];
	char platform[32];
	char version[32];
	char arch[16];
	char boot_mode[8];
	char features[64];
	char description[MODEL_DESC_MAX + 1];
	char tags[MODEL_TEXT_MAX + 1];
	char source[MODEL_TEXT_MAX + 1];
	char error[256];
	bool encrypted;
	uint64_t size;                 /* virtual size of the system disk */
	int64_t created;               /* unix seconds */
	int64_t mtime_ns;              /* last change of an attribute's content, but */
	int64_t description_ns;        /* these, which change on their own (backup */
	int64_t tags_ns;               /* tools re-read only what changed); 0 until */
	int64_t error_ns;              /* first set: the creation time counts */
	int64_t ctime_ns;              /* last change of anything about the image */
	int64_t dir_mtime_ns;          /* last change of its directories' entries
	                                  (view, devices, copies, shares): listings
	                                  cached by the kernel are dropped on change */
	int64_t deleted_at;            /* unix seconds, 0 unless in the recycle bin */
};

/* Images of (region, account, folder) with id > after_id, in id order.
 * account_id 0 for public/marketplace. */
int model_image_list(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, int64_t after_id,
                     int (*cb)(void *arg, const struct model_image *img), void *arg);
int model_image_lookup(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, const char *name,
                       struct model_image *out);
int model_image_get(model *m, int64_t id, struct model_image *out);
/* Images other accounts share with account_id in the region (SPEC §6.4). */
int model_image_list_shared(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                            int (*cb)(void *arg, const struct model_image *img), void *arg);
int model_image_lookup_shared(model *m, int64_t region_id, int64_t account_id, const char *name, const char *owner,
                              struct model_image *out);
/* True when the image is shared with account_id. */
bool model_image_shared_with(model *m, int64_t image_id, int64_t account_id);

/* mkdir private/<name> or iso/<name>: a queued image (quota, name checks). */
int model_image_create(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, const char *name,
                       int64_t *id_out, struct model_err *err);
/* rmdir: a queued image is removed outright; available/error go to the
 * recycle bin (issue 3); everything else -EBUSY. */
int model_image_remove(model *m, int64_t id, struct model_err *err);
/* mv private/<a> private/<b> (never replacing: -EEXIST). */
int model_image_rename(model *m, int64_t id, const char *new_name, struct model_err *err);

/* The writable text attributes of an image. */
enum model_image_field {
	MODEL_FIELD_INVALID = 0,
	MODEL_FIELD_DESCRIPTION,
	MODEL_FIELD_TAGS,
};
int model_image_set(model *m, int64_t id, enum model_image_field field, const char *value, struct model_err *err);
/* Moves an image along one edge of the status machine (status.c): one
 * UPDATE ... WHERE status = from.  -EINVAL for an edge SPEC §4 does not
 * have, -EBUSY when the image is no longer in `from` (somebody moved
 * first), -ENOENT for no such image.  Entering `error` records reason;
 * leaving it clears the error file; progress follows the status. */
int model_image_transition(model *m, int64_t id, enum model_image_status from, enum model_image_status to,
                           const char *reason, struct model_err *err);
/* Records a refusal's reason in the image's `error` file. */
int model_image_set_error(model *m, int64_t id, const char *reason);

/* Publishes a platform image (admin publish, the catalogue). */
struct model_publish {
	enum model_folder folder; /* PUBLIC or MARKETPLACE */
	const char *name, *os_type, *platform, *version, *arch, *boot_mode, *features, *description;
};
int model_image_publish(model *m, int64_t region_id, const struct model_publish *p, const blob_manifest *disk,
                        const char *xxh128, int64_t *id_out, struct model_err *err);

/* ---- devices and blobs --------------------------------------------------- */

enum model_device_kind { MODEL_DEV_INVALID = 0, MODEL_DEV_IMAGE, MODEL_DEV_SNAPSHOT };

struct model_device {
	char name[8];               /* vda..vdz, cdrom */
	int index;                  /* 0..25 for vda..vdz, 26 for cdrom */
	enum model_device_kind kind;
	int64_t blob_id;            /* the device's bytes (image file or snapshot data) */
	int64_t snapshot_id;        /* 0 unless kind == SNAPSHOT */
	char snapshot_ext_id[16];
	uint64_t size;
};
#define MODEL_MAX_DEVICES 27
/* Returns the number of devices (<= MODEL_MAX_DEVICES) in index order. */
int model_device_list(model *m, int64_t image_id, struct model_device out[MODEL_MAX_DEVICES]);
/* Device index of a name (vda..vdz → 0..25, cdrom → 26), -EINVAL otherwise. */
int model_device_index(const char *name);

struct model_blob {
	int64_t id;
	int64_t region_id;
	uint64_t size;
	uint64_t stored;     /* bytes of data chunks */
	bool sealed;         /* immutable: has a manifest */
	char xxh128[33];     /* whole-blob hash, "" until sealed */
	char wblob[64];      /* writable blob name, "" when sealed */
	int64_t mtime_ns;
};
int model_blob_get(model *m, int64_t blob_id, struct model_blob *out);
/* The sealed blob's manifest (caller frees). */
int model_blob_manifest(model *m, int64_t blob_id, blob_manifest **out);
/* The sealed blob's whole XXH3-128 (hex), computed and recorded on first
 * use (the catalogue leaves it to be computed lazily). */
int model_blob_hash(model *m, int64_t blob_id, char out[33]);

/* ---- snapshots and instances (browsable; operations arrive with issue 3) -- */

struct model_snapshot {
	int64_t id;
	char ext_id[16];
	int64_t region_id, account_id;
	char name[MODEL_NAME_MAX + 1];
	char description[MODEL_DESC_MAX + 1];
	enum model_snap_status status;
	uint64_t size;
	int64_t blob_id;
	int64_t created, mtime_ns, ctime_ns;
};
int model_snapshot_list(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                        int (*cb)(void *arg, const struct model_snapshot *s), void *arg);
int model_snapshot_lookup(model *m, int64_t region_id, int64_t account_id, const char *ext_id,
                          struct model_snapshot *out);
int model_snapshot_get(model *m, int64_t id, struct model_snapshot *out);
/* Ext ids of the images referencing the snapshot, one a line, into buf. */
int model_snapshot_images(model *m, int64_t id, char *buf, size_t cap);

struct model_instance {
	int64_t id;
	char ext_id[16];
	int64_t region_id, account_id;
	char name[MODEL_NAME_MAX + 1];
	enum model_vm_status status;
	unsigned system_disk; /* MODEL_TYPE_LOCAL or MODEL_TYPE_CLOUD */
	int64_t image_id;     /* 0: none */
	int64_t created, mtime_ns, ctime_ns;
};
int model_instance_list(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                        int (*cb)(void *arg, const struct model_instance *vm), void *arg);
int model_instance_lookup(model *m, int64_t region_id, int64_t account_id, const char *name,
                          struct model_instance *out);
int model_instance_get(model *m, int64_t id, struct model_instance *out);
/* Names of the account's instances created from the image, one a line. */
int model_image_instances(model *m, int64_t image_id, int64_t account_id, char *buf, size_t cap);

/* ---- quotas (§8) --------------------------------------------------------- */

enum model_quota_key {
	MODEL_QUOTA_INVALID = 0,
	MODEL_QUOTA_PRIVATE_IMAGES,
	MODEL_QUOTA_SNAPSHOTS,
	MODEL_QUOTA_SHARED_IMAGES,
	MODEL_QUOTA_SHARES_PER_IMAGE,
	MODEL_QUOTA_COUNT
};
const char *model_quota_name(enum model_quota_key k);
enum model_quota_key model_quota_parse(const char *name);
struct model_quota {
	enum model_quota_key key;
	int64_t used, limit;
};
/* All quotas of (account, region) in key order; returns the count. */
int model_quota_list(model *m, int64_t account_id, int64_t region_id, struct model_quota out[MODEL_QUOTA_COUNT]);
int model_quota_set(model *m, const char *account, const char *region, const char *key, int64_t value,
                    struct model_err *err);

/* ---- the change log (schema.c: changes) ----------------------------------- */

enum model_change_kind {
	MODEL_CHANGE_INVALID = 0,
	MODEL_CHANGE_IMAGE,    /* an image's attributes, status, entries or listing */
	MODEL_CHANGE_REGION,   /* a region was added (the /regions listing) */
	MODEL_CHANGE_QUOTA,    /* quota limits of the region */
	MODEL_CHANGE_SNAPSHOT,
	MODEL_CHANGE_INSTANCE,
};
struct model_change {
	int64_t seq;
	enum model_change_kind kind;
	int64_t obj, region_id;
	enum model_folder folder; /* where the object was listed before the change */
	char name[MODEL_NAME_MAX + 1]; /* the old name when an entry went away, else "" */
};
/* The newest sequence number (start point for a new mount). */
int64_t model_changes_head(model *m);
/* Calls cb for every change after *seq and advances *seq.  Rows are kept
 * for ten minutes. */
int model_changes_since(model *m, int64_t *seq, int (*cb)(void *arg, const struct model_change *c), void *arg);

/* ---- maintenance (admin) ------------------------------------------------- */

/* Verifies metadata and every chunk; report(arg, line) per problem.
 * Returns the number of problems. */
int model_fsck(model *m, bool repair, void (*report)(void *arg, const char *line), void *arg);
/* Drops unreferenced chunks in every region that are older than grace
 * seconds (younger ones may belong to a blob being written); *removed_out
 * gets the total. */
int model_gc(model *m, int64_t grace, uint64_t *removed_out);

/* Time helpers shared by model and fs. */
int64_t model_now_ns(void);
/* ISO 8601 UTC "YYYY-MM-DDTHH:MM:SSZ" of unix seconds into out[21]. */
void model_fmt_time(char out[21], int64_t unix_seconds);

#endif

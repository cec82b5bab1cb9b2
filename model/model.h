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
/* Deleting must work when the disk is full (SPEC §12): a mount keeps a few
 * MiB aside in <state>/space.reserve.<k> (model_space_reserve: 0, or -errno
 * when there is no room for all of it yet); a delete that failed with
 * -ENOSPC gives up one slice (model_space_release: whether there was one)
 * and tries again, and the slices are reserved anew once it freed room. */
int model_space_reserve(model *m);
bool model_space_release(model *m);

/* Opens (and with MODEL_OPEN_CREATE, creates with the default regions and
 * the platform catalogue) the state directory. */
int model_open(model **out, const char *state_dir, int flags, struct model_err *err);
/* The same with the metadata in a PostgreSQL database (db_url: any libpq
 * connection string; NULL: SQLite in the state directory).  The state
 * directory then keeps this host's own files only (SPEC §13). */
int model_open_db(model **out, const char *state_dir, const char *db_url, int flags, struct model_err *err);
void model_close(model *m); /* accepts NULL */
const char *model_state_dir(const model *m);

/* The blob store of a region (opened once, owned by the model). */
int model_store(model *m, int64_t region_id, blob_store **out);
/* Opens every region's store once, and closes it: a mount refuses, with
 * the reason in err ("region R: pool P does not exist ..."), a store it
 * could not use (SPEC §13: a RADOS cluster that does not answer). */
int model_stores_check(model *m, struct model_err *err);

/* Default state directory per SPEC §1 into out (PATH_MAX bytes). */
int model_default_state_dir(char *out, size_t cap);

/* Changes whenever another connection — another thread of this process or
 * another process — commits (PRAGMA data_version of the calling thread's
 * connection); -1 on error. */
int64_t model_generation(model *m);
/* A group of reads (fs: one lookup, getattr or readdir) that see one state
 * of the database and take its lock once, not once per statement.  Nests;
 * a write inside it ends the group's transaction first.  The calling
 * thread's; model_read_end ends it. */
int model_read_begin(model *m);
void model_read_end(model *m);
/* Rows that statements not allowed to scan read in full table scans, since
 * the model was opened (db/db.h: 0 unless an index is missing). */
int64_t model_scan_steps(model *m);
/* Statements the model has run since it was opened. */
int64_t model_statements(model *m);
/* Rows the database produced for them (a cost that must not follow the
 * size of a table: tests compare it at two sizes). */
int64_t model_rows(model *m);
/* Write transactions begun: each takes the database's one write lock. */
int64_t model_writes(model *m);
/* Network exchanges with the database server (PostgreSQL; 0 for SQLite):
 * what a request waits for, one after another. */
int64_t model_round_trips(model *m);
/* Database upkeep a mount runs every few seconds (db_driver.tune:
 * PostgreSQL's statistics of a table that grew); 0 or -errno. */
int model_db_tune(model *m);

/* ---- what /stats counts (meta/stats.c, task/task.c) ------------------------ */

/* Images by region and status (every folder, the recycle bin included). */
int model_stats_images(model *m, int (*cb)(void *arg, int64_t region_id, enum model_image_status s, int64_t n),
                       void *arg);
/* Blobs' data by region: chunk references and their bytes, summed over
 * blobs, so a chunk two blobs share (dedup) counts twice. */
int model_stats_blobs(model *m, int (*cb)(void *arg, int64_t region_id, int64_t chunks, int64_t bytes), void *arg);
/* Unfinished tasks (rows of the queue) by kind and state. */
int model_stats_tasks(model *m, int (*cb)(void *arg, const char *kind, const char *state, int64_t n), void *arg);
/* The chunk caches of the stores this process has open, by region. */
int model_stats_caches(model *m, int (*cb)(void *arg, int64_t region_id, uint64_t hits, uint64_t misses),
                       void *arg);
/* What this process's tasks did, by kind (every kind, zeros included):
 * bytes of progress (their bytes_done: an image's virtual bytes gone
 * through, holes included) and bytes moved (fetched by an import; chunk
 * bytes a copy placed in the target store, not those it already held). */
int model_task_bytes(model *m, int (*cb)(void *arg, const char *kind, uint64_t progress, uint64_t moved), void *arg);

/* ---- hosts (§13, host.c) ------------------------------------------------- */

#define MODEL_HOST_MAX 64
/* The host this process acts for: name (NULL: this machine's short name).
 * -EINVAL for a name that is not 1-64 of [A-Za-z0-9._-]. */
int model_host_set(model *m, const char *name, struct model_err *err);
const char *model_host(const model *m);
bool model_host_name_valid(const char *name);
/* A mount registers its host (and its start) and renews the host's lease
 * every few seconds while it runs. */
int model_host_register(model *m);
int model_host_renew(model *m);
/* The lease period in seconds (settings 'lease', default 30): a host that
 * did not renew for that long is gone and its tasks are taken over. */
int64_t model_lease(model *m);
/* imgfs admin lease SECONDS (2 .. 86400; hosts read it when they mount). */
int model_lease_set(model *m, int64_t seconds, struct model_err *err);
struct model_host {
	char name[MODEL_HOST_MAX + 1];
	int64_t started_ns, renewed_ns;
	bool alive; /* renewed within the lease period */
};
int model_host_list(model *m, int (*cb)(void *arg, const struct model_host *h), void *arg);
/* imgfs admin host remove H: a host whose lease has expired is forgotten;
 * the tasks that had to run on it end in error ("host H was removed") at
 * their next claim, on any host.  -EBUSY while its lease is current,
 * -ENOENT for no such host. */
int model_host_remove(model *m, const char *name, struct model_err *err);

/* ---- names (§10) and ids ------------------------------------------------- */

/* 0, -EINVAL or -ENAMETOOLONG with the reason. */
int model_name_check(const char *name, struct model_err *err);
/* Whether s is valid UTF-8 (strict: no overlong forms, no surrogates). */
bool model_utf8_valid(const char *s);

/* The row an external id names (extid.c): -ENOENT when none.  Visibility
 * is the caller's business. */
enum model_ext_kind { MODEL_EXT_IMAGE = 1, MODEL_EXT_SNAPSHOT, MODEL_EXT_INSTANCE };
int model_find_ext_id(model *m, const char *ext_id, enum model_ext_kind *kind_out, int64_t *id_out);

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
	char store[MODEL_TEXT_MAX + 1]; /* where its chunks are: "" the state
	                       directory's regions/<name>; "dir:PATH" or
	                       "rados:POOL[,conf=FILE][,id=CLIENT][,ns=NS]" (§13) */
};
/* Adds a region with the platform catalogue: its chunks in the state
 * directory (with metadata in PostgreSQL: that directory's path recorded
 * as the region's store, so every host reaches the same chunks there). */
int model_region_add(model *m, const char *name, struct model_err *err);
/* The same with the region's store named: "dir:PATH" (an absolute path
 * every host reaches), "rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]"
 * (a Ceph pool; blobstore/backend_rados.c), NULL as above.  -EINVAL for a
 * store it does not know, -ENOENT/-ENOTDIR/-EACCES when the directory
 * cannot be used, -ENOENT for a pool that does not exist, -EIO
 * for a cluster that does not answer, -EBUSY for a pool holding another
 * region's chunks. */
int model_region_add_store(model *m, const char *name, const char *store, struct model_err *err);
/* A region by id or name.  Nothing in a region's row but its mtime ever
 * changes, and no region is removed: once read, it is answered from memory
 * (no statement; a request resolves its region on every call). */
int model_region_get(model *m, int64_t id, struct model_region *out);
int model_region_by_name(model *m, const char *name, struct model_region *out);
/* The last change of any listing in the region (0 when unknown). */
int64_t model_region_mtime(model *m, int64_t id);
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
	int64_t dir_gen;               /* times it went to the recycle bin: its directory's
	                                  FUSE node id changes with it (fs/fs.h) */
	int64_t origin_id;             /* the image a copy or conversion was made from (0: none) */
	char origin_kind[16];          /* "copy", "convert" or "" */
	/* What else refers to the image, as far as the statement that read it
	 * asked (model_image_get_in_region, which every request on an image
	 * runs): its files and listings that would show nothing skip their
	 * statements.  Any other read leaves them unknown. */
	unsigned refs;                 /* MODEL_REF_* bits: such rows may exist */
	int64_t copies_ctime_ns;       /* newest change of a copy of it; 0: none; -1: unknown */
};
enum {
	MODEL_REF_TASK = 1,            /* a task's target or source (model_task_of_image) */
	MODEL_REF_INSTANCES = 2,       /* an instance was built from it (model_image_instances) */
	MODEL_REF_LINKS = 4,           /* download links, live or expired (model_link_list) */
	MODEL_REF_DEVICES = 8,         /* device rows (model_device_list) */
	MODEL_REF_COPIES = 16,         /* copies in other regions (model_image_copies) */
	MODEL_REF_SHARES = 32,         /* shares with other accounts (model_share_list) */
	MODEL_REF_UNKNOWN = 63,
};

/* Images of (region, account, folder) with id > after_id, in id order.
 * account_id 0 for public/marketplace. */
int model_image_list(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, int64_t after_id,
                     int (*cb)(void *arg, const struct model_image *img), void *arg);
int model_image_lookup(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, const char *name,
                       struct model_image *out);
int model_image_get(model *m, int64_t id, struct model_image *out);
/* The image in one statement (every FUSE request resolves its inode: one
 * round trip for PostgreSQL), with what refers to it as far as want asks
 * (MODEL_REF_* bits; those not asked read "may exist"), and its region
 * (from memory). */
int model_image_get_in_region(model *m, int64_t id, unsigned want, struct model_image *img,
                              struct model_region *region);
/* Keeps the rows model_image_get_in_region read, at most max_age_ms (0:
 * keeps none), while nothing may have changed them (image.c).  On by
 * default with MODEL_ROW_CACHE_MS for a database a round trip away. */
#define MODEL_ROW_CACHE_MS 1000
int model_set_row_cache(model *m, int max_age_ms);
/* Images other accounts share with account_id in the region (SPEC §6.4). */
int model_image_list_shared(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                            int (*cb)(void *arg, const struct model_image *img), void *arg);
int model_image_lookup_shared(model *m, int64_t region_id, int64_t account_id, const char *name, const char *owner,
                              struct model_image *out);
/* True when the image is shared with account_id. */
bool model_image_shared_with(model *m, int64_t image_id, int64_t account_id);

/* mkdir private/<name> or iso/<name>: a queued image (quota, name checks);
 * *out (may be NULL) gets its row, read back by the insert itself. */
int model_image_create(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, const char *name,
                       struct model_image *out, struct model_err *err);
/* rmdir private/<name> (§6.1): a queued image (and an ISO image of any
 * settled status) is removed outright; an available or error private image
 * goes to the recycle bin (status deleted, deleted_at now; -EEXIST when the
 * bin already holds that name); -EBUSY while an instance was created from it
 * or a task reads or writes it, or while it is pending/replicating/uploading.
 * rmdir recycle-bin/<name> destroys it (model_image_destroy). */
int model_image_remove(model *m, int64_t id, struct model_err *err);
/* mv recycle-bin/<name> private/<new_name>: back to the status it had
 * (available or error); private-images quota checked again (-EDQUOT),
 * -EEXIST when the name is taken. */
int model_image_restore(model *m, int64_t id, const char *new_name, struct model_err *err);
/* Destroys an image in the recycle bin: its row, devices and image-file
 * blobs, and every snapshot it references that no other image references.
 * Chunks are reclaimed by gc. */
int model_image_destroy(model *m, int64_t id, struct model_err *err);
/* Destroys every image whose time in the recycle bin exceeds the retention
 * period; returns how many (>= 0). */
int model_recycle_expire(model *m, int64_t now);
/* The retention period in seconds (settings 'retention', default 7 days)
 * and when an image deleted at deleted_at expires. */
int64_t model_retention(model *m);
/* Where imports may connect (SPEC §5.2, model/rules/import_addresses.c):
 * the admin's rules by CIDR.  set adds or replaces the rule of a CIDR
 * (EINVAL: not an address or prefix), remove drops it (ENOENT), list gives
 * them in CIDR order as canonical text ("10.0.0.0/8"). */
int model_import_address_set(model *m, const char *cidr, bool allow, struct model_err *err);
int model_import_address_remove(model *m, const char *cidr, struct model_err *err);
int model_import_address_list(model *m, int (*cb)(void *arg, const char *cidr, bool allow), void *arg);
/* The rate floor of imports (SPEC §5.2; settings 'import_floor'): an
 * import that receives less than bps bytes a second over a window of
 * window seconds ends in error.  Default 64 KiB/s over 300 s; bps 0: none. */
/* Imports of one account that run at once; more wait in the queue. */
#define MODEL_IMPORTS_RUNNING 2
/* The number of task workers of this process: imports leave one free. */
void model_set_workers(model *m, unsigned n);
#define MODEL_IMPORT_FLOOR_BPS 65536
#define MODEL_IMPORT_FLOOR_WINDOW 300
void model_import_floor(model *m, uint64_t *bps, int *window);
int model_import_floor_set(model *m, uint64_t bps, int window, struct model_err *err);
int model_retention_set(model *m, int64_t seconds, struct model_err *err);
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
/* Records a refusal's reason in the image's `error` file (not over the
 * reason of an image in status error). */
int model_image_set_error(model *m, int64_t id, const char *reason);
/* An operation on the image succeeded: its `error` no longer holds an
 * earlier refusal's reason (SPEC §9), unless the image is in status error
 * (or in the recycle bin from it).  1 cleared, 0 nothing to clear. */
int model_image_clear_error(model *m, int64_t id);

/* Publishes a platform image (admin publish, the catalogue). */
struct model_publish {
	enum model_folder folder; /* PUBLIC or MARKETPLACE */
	const char *name, *os_type, *platform, *version, *arch, *boot_mode, *features, *description;
};
int model_image_publish(model *m, int64_t region_id, const struct model_publish *p, const blob_manifest *disk,
                        const char *xxh128, int64_t *id_out, struct model_err *err);
/* What `imgfs admin publish` stores for a file (stored as file, in s): the
 * file is detected and checked as an upload to private/ is (§5.3, §5.4
 * with p's attributes), and a QCOW2 is decoded, so that the platform image
 * is the raw disk it describes: *disk is its new manifest, NULL when the
 * file is the disk (raw).  -EINVAL with the reason. */
int model_publish_disk(blob_store *s, const struct model_publish *p, const blob_manifest *file, blob_manifest **disk,
                       struct model_err *err);

/* ---- sharing (§6.4, share.c) ---------------------------------------------- */

/* One share: image_id shared with account_id (the receiver). */
struct model_share {
	int64_t image_id;
	int64_t account_id;
	char account[MODEL_NAME_MAX + 1]; /* the receiver's name */
	int64_t created;                  /* unix seconds */
};
/* Receivers are numbered by account id in fs/'s inode numbers (16 bits,
 * half of them taken): only accounts with an id up to this can receive
 * shares (model_share_add: -EINVAL beyond). */
#define MODEL_SHARE_ACCOUNT_MAX 0x7fff
/* mkdir private/<name>/shares/<account>: shares an available private image
 * with another account.  Refusals: a bad name -EINVAL; unknown account
 * -ENOENT; the owner itself -EINVAL; not a private image, or not
 * available -EPERM; already shared -EEXIST; the owner's shares-per-image
 * or the receiver's shared-images quota -EDQUOT.  The receiver's shared/
 * listing changes (region mtime), the image's shares/ listing too. */
int model_share_add(model *m, int64_t image_id, const char *account, struct model_err *err);
/* rmdir .../shares/<account>: -ENOENT when not shared with it.  Instances
 * the receiver built from the image stay. */
int model_share_remove(model *m, int64_t image_id, const char *account, struct model_err *err);
/* The image's shares with account_id > after_id, in account id order. */
int model_share_list(model *m, int64_t image_id, int64_t after_id,
                     int (*cb)(void *arg, const struct model_share *s), void *arg);
/* The share of image_id with the account named, or with account_id: -ENOENT when none. */
int model_share_lookup(model *m, int64_t image_id, const char *account, struct model_share *out);
int model_share_get(model *m, int64_t image_id, int64_t account_id, struct model_share *out);

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

/* ---- snapshots and instances (§2.4) -------------------------------------- */

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
/* rmdir snapshots/<id>: -EBUSY while any image (recycle bin included)
 * references it or a task is creating it. */
int model_snapshot_remove(model *m, int64_t id, struct model_err *err);
int model_snapshot_set_description(model *m, int64_t id, const char *value, struct model_err *err);

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

/* ---- background tasks (task.c) -------------------------------------------- */

/* Capture (§5.1): writing `instance <vm> [<dev>...]` to a queued private
 * image's source.  vm_id resolved in the caller's view; devs are the data
 * devices (indexes 1..25) to capture as snapshots.  In one transaction:
 * checks (instance stopped: -EBUSY; devices attached: -ENOENT; snapshot
 * quota: -EDQUOT), the image goes queued -> pending with its type from the
 * system disk and `source` recorded, snapshot rows are created `creating`
 * (counted by the quota from now on), and a capture task is queued. */
int model_image_capture(model *m, int64_t image_id, int64_t vm_id, const int *devs, int ndevs,
                        struct model_err *err);

/* A task row as `task` shows it (SPEC §2.1). */
struct model_task {
	int64_t id;
	char kind[16];          /* capture (convert, copy, import: later issues) */
	int64_t image_id;       /* the image it makes */
	char source_kind[16];   /* "instance" or "image" */
	int64_t source_id;
	char state[16];         /* queued, running (done and error rows are deleted) */
	int position;           /* place in the queue (1 = next), 0 when running */
	uint64_t bytes_done, bytes_total;
	int64_t started, updated; /* unix seconds; 0 until started */
	double rate;            /* bytes/s since started */
};
/* The task working on the image, as target or as source: 0, -ENOENT. */
int model_task_of_image(model *m, int64_t image_id, struct model_task *out);

/* Runs queued tasks and resumes interrupted ones.  A runner is a process
 * (one per mount); its worker threads call model_task_work() in a loop.
 * Claiming is one guarded UPDATE in a write transaction, so no task runs
 * twice, even with two processes on one state directory; a task whose
 * runner died (its pid is gone or belongs to another process now) is
 * claimed again and resumed. */
/* Claims and runs one task; 1 when it ran one, 0 when none was runnable,
 * -errno on a database error.  *stop is polled between chunks: a task
 * stopped that way is left to be resumed by the next runner. */
int model_task_work(model *m, const volatile int *stop);
/* Housekeeping a runner does now and then: recycle-bin expiry. */
int model_task_housekeeping(model *m, int64_t now);

/* ---- conversion (§6.2, convert.c) and cross-region copy (§6.3, copy.c) ---- */

/* Writing `convert` of a private local available image: a new private
 * cloud image named name ("" : "<source name>-cloud") is created pending,
 * with a new snapshot `creating` for its vda (named like it) and the
 * source's data-disk snapshots referenced (not copied), and a conversion
 * task is queued: a raw image file is taken by reference (its chunks are
 * the raw disk), a QCOW2 one decoded.  Refusals, before anything changes:
 * not private -EPERM; a cloud image -EINVAL; not available -EINVAL (as for
 * rebuild); a conversion of it running -EBUSY; name rules (§10); the name
 * taken -EEXIST; private-images or snapshots quota -EDQUOT.  The source
 * cannot be deleted until the task ends. */
int model_image_convert(model *m, int64_t image_id, const char *name, int64_t *id_out, struct model_err *err);

/* mkdir private/<name>/copies/<region>: a copy of a private cloud available
 * image in region_id, created pending (same name, attributes, description
 * plus lineage, snapshots `creating` in the target region, quotas reserved
 * there), and a copy task queued.  Refusals, before anything changes: not
 * private -EPERM; local, or not available -EINVAL; the same region
 * -EINVAL; a copy of it to that region running -EBUSY, or still there
 * (in private/, by any name) -EEXIST; the name taken there -EEXIST; the
 * target's private-images or snapshots quota -EDQUOT.  At most
 * MODEL_COPIES_RUNNING copies of one account run at once; the others wait
 * queued. */
#define MODEL_COPIES_RUNNING 5
int model_image_copy(model *m, int64_t image_id, int64_t region_id, int64_t *id_out, struct model_err *err);
/* The copies made of an image that are still in their region's private/,
 * in region id order (copies/ lists them by region name). */
int model_image_copies(model *m, int64_t image_id, int (*cb)(void *arg, const struct model_image *copy), void *arg);
/* The copy of image_id in region_id: 0, -ENOENT. */
int model_image_copy_in(model *m, int64_t image_id, int64_t region_id, struct model_image *out);
/* When copies/ of the image last changed: the newest of its own directory
 * time and the ctime of every copy made of it (in any folder, so a copy
 * leaving private/ counts); 0 on error. */
int64_t model_image_copies_mtime(model *m, int64_t image_id);

/* Where the model's own log lines go (a finished copy's counts): fn(arg,
 * line) from any thread; NULL (the default) drops them. */
void model_set_log(model *m, void (*fn)(void *arg, const char *line), void *arg);

/* ---- uploads (§5.3, upload.c) and import rules (§5.4, import_rules.c) ---- */

/* The attributes §5.4 governs, writable while an image is queued. */
enum model_import_attr {
	MODEL_IMPORT_INVALID = 0,
	MODEL_IMPORT_OS_TYPE,
	MODEL_IMPORT_PLATFORM,
	MODEL_IMPORT_VERSION,
	MODEL_IMPORT_ARCH,
	MODEL_IMPORT_BOOT_MODE,
	MODEL_IMPORT_FEATURES,
	MODEL_IMPORT_ATTR_COUNT
};
/* A set of them; NULL or "" is unset (an image of unknown OS). */
struct model_import_attrs {
	const char *os_type, *platform, *version, *arch, *boot_mode, *features;
};
/* 0 when the set breaks no rule of §5.4 (and every set value is a known
 * word), else -EINVAL with the rule broken. */
int model_import_check(const struct model_import_attrs *a, struct model_err *err);
/* The image's attributes as a set (pointing into img). */
void model_import_attrs_of(const struct model_image *img, struct model_import_attrs *out);
/* A write to one of them: -EPERM unless the image is a queued private or
 * ISO image ("cannot change after upload"), -EINVAL when the value, with
 * the others as they are, breaks a rule.  features are stored with one
 * blank between words. */
int model_image_set_import_attr(model *m, int64_t id, enum model_import_attr which, const char *value,
                                struct model_err *err);

/* An upload in progress, as model_upload_begin made it. */
struct model_upload {
	int64_t image_id, blob_id, task_id, region_id;
	enum model_folder folder;
	int idx;          /* 0 (vda) in private/, 26 (cdrom) in iso/ */
	char wblob[64];   /* the writable blob receiving the bytes */
};
/* Creating disks/<dev> of a queued private or ISO image starts an upload,
 * in one transaction: queued -> uploading, a writable blob (created before
 * the commit), its device row (disks/<dev> appears) and an 'upload' task
 * in state 'open' held by this process (no runner claims it; if this
 * process dies with it open, model_upload_reap ends it in error).
 * -EPERM when the image is not queued (or not private/ISO), -EINVAL for a
 * device other than vda (private/) or cdrom (iso/). */
int model_upload_begin(model *m, int64_t image_id, int idx, struct model_upload *out, struct model_err *err);
/* What the upload's first bytes are (1 decided: *format_out; 0 not yet;
 * -EINVAL with the reason: no known format, or one the folder does not
 * take — ISO only in iso/, QCOW2 or raw only in private/).  more: the file
 * may hold bytes beyond len. */
int model_upload_sniff(enum model_folder folder, const void *head, size_t len, bool more, const char **format_out,
                       struct model_err *err);
/* Records the sniffed format (the `format` file shows it from now on). */
int model_upload_sniffed(model *m, const struct model_upload *u, const char *format);
/* A refused first write: the upload is abandoned as if it never began
 * (uploading -> queued, device, blob and task rows gone, the wblob removed
 * after the commit), the reason in `error`. */
int model_upload_abandon(model *m, const struct model_upload *u, const char *reason);
/* The last writer closed the file (the caller has fsynced the wblob):
 * the task is queued for a runner, which validates and seals it.
 * -ENOENT when the upload was cancelled meanwhile. */
int model_upload_close(model *m, const struct model_upload *u, uint64_t size, uint64_t stored);
/* Whether the upload's task still exists (a cancel from another mount
 * deletes it). */
bool model_upload_alive(model *m, const struct model_upload *u);
/* Writing `cancel`: an upload in progress (file open, or closed and
 * waiting for or being validated by its task) ends in error, reason
 * "cancelled"; its rows go and its wblob is removed.  -EPERM when nothing
 * is in progress. */
int model_upload_cancel(model *m, int64_t image_id, struct model_err *err);
/* The same with another reason, for the upload u only (its file could not
 * be made durable on close, say). */
int model_upload_fail(model *m, const struct model_upload *u, const char *reason);
/* Housekeeping: uploads left 'open' by a process that died (a mount killed
 * while the file was open) end in error, "the upload was interrupted".
 * Returns how many (>= 0). */
int model_upload_reap(model *m);
/* The full check of an uploaded file (what the task does before sealing):
 * its format from its first len bytes (head) and its size, the folder's
 * rule, the format's own check (blobstore/format.h) and the attributes'
 * (§5.4).  0 with *format_out and *vsize_out, or -EINVAL with why. */
int model_upload_validate(enum model_folder folder, const void *head, size_t len, uint64_t file_size,
                          const struct model_import_attrs *attrs, const char **format_out, uint64_t *vsize_out,
                          struct model_err *err);

/* ---- URL import (§5.2, import.c) ---- */

/* The largest file a URL import takes (1 TiB): a server announcing more is
 * refused before a byte is stored, one sending more is stopped there. */
#define MODEL_IMPORT_MAX_SIZE (1ULL << 40)
/* Writing "url <URL>" to `source` of a queued private or ISO image: the URL
 * is checked (-EINVAL with the reason: not http, https or ftp, malformed),
 * then in one transaction queued -> uploading, `source` "url <URL>" with
 * the password shown as ***, a writable blob, the device row and an
 * 'import' task (queued) that downloads it and finishes it like an upload.
 * -EPERM when the image is not a queued private or ISO image.  Cancelled
 * with model_upload_cancel. */
int model_image_import_url(model *m, int64_t image_id, const char *url, struct model_err *err);
/* Whether an image's `source` says it is (or was) imported from a URL. */
bool model_image_is_url_import(const struct model_image *img);

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
/* What the invalidation of an image's change needs of the image as it is
 * now: its directory's node ids (dir_gen) and whether it is a copy. */
struct model_change_image {
	bool known;           /* read (with the change, or by whoever made it) */
	bool here;            /* the image still exists */
	int64_t dir_gen, origin_id;
	char origin_kind[16];
};
struct model_change {
	int64_t seq;
	enum model_change_kind kind;
	int64_t obj, region_id;
	enum model_folder folder; /* where the object was listed before the change */
	char name[MODEL_NAME_MAX + 1]; /* the old name when an entry went away, else "" */
	struct model_change_image img; /* MODEL_CHANGE_IMAGE from model_changes_since */
};
/* The image's part of a change of it (img: its row as it is now). */
void model_change_image_of(struct model_change_image *out, const struct model_image *img);
/* The newest sequence number (start point for a new mount). */
int64_t model_changes_head(model *m);
/* Waits at most timeout_ms until another connection (thread, process or
 * host) may have committed: 1 maybe, 0 no, -errno (the time was waited).
 * SQLite polls; PostgreSQL is told (LISTEN/NOTIFY).  The calling
 * thread's connection; a watcher thread calls it in a loop. */
int model_changes_wait(model *m, int timeout_ms);
/* Calls cb for every change after *seq and advances *seq.  Rows are kept
 * for ten minutes: a reader that fell further behind gets -ESTALE (with
 * *seq moved to the head), and must assume that anything changed. */
int model_changes_since(model *m, int64_t *seq, int (*cb)(void *arg, const struct model_change *c), void *arg);

/* Every image, snapshot and instance as a change (kind, obj, region,
 * folder; no name): what a reader of the change log that fell behind
 * must invalidate. */
int model_changes_everything(model *m, int (*cb)(void *arg, const struct model_change *c), void *arg);

/* ---- download links (§14, meta/download.c) -------------------------------- */

#define MODEL_LINK_DEFAULT_SECONDS 86400      /* 24 h (seed 004 §4.4) */
#define MODEL_LINK_MAX_SECONDS (7 * 86400)
#define MODEL_LINK_MAX_LIVE 32                /* live links of one image */
#define MODEL_LINK_TOKEN_LEN 64               /* hex: 16 random bytes, 16 of MAC */
#define MODEL_LINK_KEY_SIZE 32
#define MODEL_DOWNLOAD_URL_DEFAULT "http://localhost:8080"

struct model_link {
	char token[MODEL_LINK_TOKEN_LEN + 1];
	int64_t image_id;
	char format[8];  /* raw, qcow2 or iso */
	int64_t expires; /* unix seconds */
};
/* "30s", "90m", "24h", "7d" (1 s .. 7 days) into seconds; -EINVAL otherwise. */
int model_link_parse_duration(const char *s, int64_t *out);
/* The MAC key of the links, derived from the service secret. */
void model_link_key(uint8_t out[MODEL_LINK_KEY_SIZE], const uint8_t *secret, size_t len);
/* The token of a link: nonce (32 hex) and the MAC of the bound fields. */
void model_link_token(char out[MODEL_LINK_TOKEN_LEN + 1], const uint8_t key[MODEL_LINK_KEY_SIZE],
                      const char nonce[33], int64_t image_id, const char *format, int64_t expires);
/* Exactly MODEL_LINK_TOKEN_LEN lowercase hex digits. */
bool model_link_token_valid(const char *token);
/* The image's download file written (§14): "link [DURATION] [raw|qcow2]"
 * or "revoke".  -EINVAL (bad duration or format), -EPERM (not an
 * available private or ISO image), -EDQUOT (too many live links). */
int model_link_command(model *m, int64_t image_id, const char *cmd, struct model_err *err);
/* A link for seconds; format NULL: the image's default (raw; iso for ISO
 * images; qcow2 for an image whose disk is a QCOW2 file). */
int model_link_create(model *m, int64_t image_id, int64_t seconds, const char *format, struct model_link *out,
                      struct model_err *err);
/* Ends every link of the image; returns how many there were. */
int model_link_revoke(model *m, int64_t image_id, struct model_err *err);
/* The live links of the image (expires > now), soonest first. */
int model_link_list(model *m, int64_t image_id, int64_t now, int (*cb)(void *arg, const struct model_link *l),
                    void *arg);
/* A request's token: 0 and *out for a live link, -EKEYEXPIRED (and *out)
 * for an expired one, -ENOENT for an unknown or tampered token. */
int model_link_resolve(model *m, const char *token, int64_t now, struct model_link *out);
/* The device a link serves: the image's first (vda; cdrom of an ISO). */
int model_link_device(model *m, const struct model_image *img, struct model_device *out);
/* The base of the URLs (`imgfs admin download-url`; default
 * MODEL_DOWNLOAD_URL_DEFAULT), and setting it (-EINVAL unless http(s)://). */
int model_download_url(model *m, char *out, size_t cap);
int model_download_url_set(model *m, const char *url, struct model_err *err);
/* <base>/d/<token>/<name, %-escaped>.<format> */
void model_link_url(char *out, size_t cap, const char *base, const struct model_link *l, const char *name);

/* ---- moving up (§13, migrate.c) ------------------------------------------ */

/* A region given its own store by migrate: "dir:PATH". */
struct model_migrate_store {
	const char *region, *store;
};
/* imgfs admin migrate: the embedded state in state_dir (unmounted) into
 * the PostgreSQL database db_url, its instances and the tasks that read
 * its files bound to host; the regions named in stores get those stores
 * (their chunks copied), the others keep their directory in state_dir.
 * say(arg, line) reports progress.  Run again, it completes what an
 * interruption left. */
int model_migrate(const char *state_dir, const char *db_url, const char *host,
                  const struct model_migrate_store *stores, int nstores,
                  void (*say)(void *arg, const char *line), void *arg, struct model_err *err);

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

/*
 * images.h — images (SPEC §2.1, §4, §6.1): their rows, listing and
 * lookup, creation, attributes, the status machine's edges, deletion to
 * the recycle bin and back, publishing platform images; and an image's
 * devices and the blobs that hold their bytes; and the attributes
 * §5.4 governs (import_rules.c).
 *
 * Who calls it: fs/ (every request on an image: resolve it, show its
 * files, act on mkdir, rmdir, rename and writes), the admin command line
 * (publish, the catalogue), and the task kinds (task/), which move images
 * along the status machine.  Any thread; each write is one transaction.
 *
 * Errors: -errno with the reason in struct model_err, the errno of SPEC
 * §9 (-EEXIST name taken, -EBUSY in use, -EDQUOT quota, -EPERM not in a
 * state that allows it, -EINVAL a value or edge that is not allowed).
 */
#ifndef IMGFS_MODEL_IMAGES_H
#define IMGFS_MODEL_IMAGES_H

#include "core.h"

struct model_region; /* admin.h */

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
	char project[MODEL_PROJECT_MAX + 1]; /* project group (§16), one line; "" none */
	char tags[MODEL_TEXT_MAX + 1];
	char source[MODEL_TEXT_MAX + 1];
	char error[256];
	bool encrypted;                /* §17: its chunks are sealed under key_id's key */
	int64_t key_id;                /* its lineage's data key; 0 until it holds data (or plain) */
	uint64_t size;                 /* virtual size of the system disk */
	int64_t created;               /* unix seconds */
	int64_t mtime_ns;              /* last change of an attribute's content, but */
	int64_t description_ns;        /* these, which keep times of their own (a */
	int64_t tags_ns;               /* reader can tell which one changed); 0 until */
	int64_t project_ns;            /* first set: the creation time counts */
	int64_t error_ns;
	int64_t ctime_ns;              /* last change of anything about the image */
	int64_t dir_mtime_ns;          /* last change of the entries of its listings
	                                  (view, devices, copies, shares) */
	int64_t deleted_at;            /* unix seconds, 0 unless in the recycle bin */
	int64_t dir_gen;               /* generation of the image's directory: one
	                                  more each time it must be taken for a new
	                                  one (twice per delete, and
	                                  model_image_renew_dir) */
	int64_t origin_id;             /* the image a copy or conversion was made from (0: none) */
	char origin_kind[16];          /* "copy", "convert" or "" */
	/* What the image API (Glance, SPEC §19) keeps beside: */
	char uuid[37];                 /* its id there: a lowercase version 4 UUID */
	char title[MODEL_NAME_MAX + 1];/* its name there when not `name` ("" : name) */
	char disk_format[16];          /* as told ("" until told) */
	char container_format[16];
	int64_t min_disk, min_ram;     /* GiB, MiB */
	unsigned gflags;               /* MODEL_GFLAG_* */
	unsigned inspected;            /* 1: an inspection is kept, 2: one is on its
	                                  way (SPEC §20); 0 spares a walk the
	                                  statements of its inspection files */
	int nprops;                    /* its properties (SPEC §19): 0 spares a
	                                  walk the statement that lists them */
	/* What else refers to the image, as far as the statement that read it
	 * asked (model_image_get_in_region, which every request on an image
	 * runs): its files and listings that would show nothing skip their
	 * statements.  Any other read leaves them unknown. */
	unsigned refs;                 /* MODEL_REF_* bits: such rows may exist */
	int64_t copies_ctime_ns;       /* newest change of a copy of it; 0: none; -1: unknown */
};
enum {
	MODEL_GFLAG_PROTECTED = 1,     /* no delete, from either face, until unprotected */
	MODEL_GFLAG_HIDDEN = 2,        /* os_hidden: out of the API's default listing */
	MODEL_GFLAG_SHARED = 4,        /* visibility "shared" (else "private") */
	MODEL_GFLAG_DEACTIVATED = 8,   /* its data is read by administrators only */
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
/* The image in one statement (what every request on an image reads first:
 * one round trip for PostgreSQL), with what refers to it as far as want asks
 * (MODEL_REF_* bits; those not asked read "may exist"), and its region
 * (from memory). */
int model_image_get_in_region(model *m, int64_t id, unsigned want, struct model_image *img,
                              struct model_region *region);
/* Keeps the rows model_image_get_in_region read, at most max_age_ms (0:
 * keeps none), while nothing may have changed them (image.c).  On by
 * default with MODEL_ROW_CACHE_MS for a database a round trip away. */
#define MODEL_ROW_CACHE_MS 1000
int model_set_row_cache(model *m, int max_age_ms);

/* mkdir private/<name> or iso/<name>: a queued image (quota, name checks);
 * *out (may be NULL) gets its row, read back by the insert itself. */
int model_image_create(model *m, int64_t region_id, int64_t account_id, enum model_folder folder, const char *name,
                       struct model_image *out, struct model_err *err);
/* rmdir private/<name>, iso/<name> (§6.1): a queued image is removed
 * outright; an available or error private or ISO image (§16) goes to the
 * recycle bin (status deleted, deleted_at now; -EEXIST when the
 * bin already holds that name); -EBUSY while an instance was created from it
 * or a task reads or writes it, or while it is pending/replicating/uploading.
 * -ENOENT, changing nothing, when it is in the recycle bin already (a racing
 * delete got there first): rmdir recycle-bin/<name> destroys it, and only
 * that (model_image_destroy). */
int model_image_remove(model *m, int64_t id, struct model_err *err);
/* mv recycle-bin/<name> private/<new_name> (iso/<new_name>): back to the
 * status it had (available or error) in folder, which must be the one it
 * came from (-EPERM with where it goes otherwise); the private-images quota
 * checked again (-EDQUOT), -EEXIST when the name is taken. */
int model_image_restore(model *m, int64_t id, enum model_folder folder, const char *new_name,
                        struct model_err *err);
/* Destroys an image in the recycle bin (SPEC §16 "deleting"): it becomes
 * `deleting` at once, and a destroy task (any runner) removes its devices,
 * image-file blobs and every snapshot it references that no other image
 * references, frees the chunks nothing else names, then its row.  -EBUSY
 * while it is deleting already. */
int model_image_destroy(model *m, int64_t id, struct model_err *err);
/* -EBUSY with the reason when img is being destroyed (nothing of it
 * changes then: rename, remarks, restore, destroy), else 0. */
int model_image_deleting_refuse(const struct model_image *img, struct model_err *err);
/* Destroys every image whose time in the recycle bin exceeds the retention
 * period; returns how many (>= 0). */
int model_recycle_expire(model *m, int64_t now);

/* mv private/<a> private/<b>, and the same in iso/ and recycle-bin/ (§16:
 * names stay editable in the bin); never replacing: -EEXIST. */
int model_image_rename(model *m, int64_t id, const char *new_name, struct model_err *err);

/* The writable text attributes of an image: description (at most
 * MODEL_DESC_MAX bytes, tabs and newlines allowed), tags (key=value lines),
 * project (§16: one line of at most MODEL_PROJECT_MAX bytes); each keeps a
 * time of its own (description_ns, tags_ns, project_ns).  Private and ISO
 * images, and those in the recycle bin (§16), only (-EPERM), at any
 * status; a value model_text_check refuses is -EINVAL with the reason. */
enum model_image_field {
	MODEL_FIELD_INVALID = 0,
	MODEL_FIELD_DESCRIPTION,
	MODEL_FIELD_TAGS,
	MODEL_FIELD_PROJECT,
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
/* Bumps the image's dir_gen (its directory is to be taken for a new one)
 * and nothing else; its new dir_gen into *dir_gen.  0 or -errno. */
int model_image_renew_dir(model *m, int64_t id, int64_t *dir_gen);

/* Publishes a platform image (admin publish, the catalogue). */
struct model_publish {
	enum model_folder folder; /* PUBLIC or MARKETPLACE */
	const char *name, *os_type, *platform, *version, *arch, *boot_mode, *features, *description;
	const char *sha256; /* the disk's SHA-256 (§2.1) when known; NULL: read once here to hash it */
};
int model_image_publish(model *m, int64_t region_id, const struct model_publish *p, const blob_manifest *disk,
                        const char *xxh128, int64_t *id_out, struct model_err *err);
/* admin unpublish: removes a platform image (public or marketplace) at
 * once: -ENOENT; -EBUSY (with the reason) while an instance of any account
 * was created from it or a task reads or writes it.  Its chunks go to gc. */
int model_image_unpublish(model *m, int64_t region_id, enum model_folder folder, const char *name,
                          struct model_err *err);
/* What `imgfs admin publish` stores for a file (stored as file, in s): the
 * file is detected and checked as an upload to private/ is (§5.3, §5.4
 * with p's attributes), and a QCOW2 is decoded, so that the platform image
 * is the raw disk it describes: *disk is its new manifest, NULL when the
 * file is the disk (raw).  -EINVAL with the reason. */
int model_publish_disk(blob_store *s, const struct model_publish *p, const blob_manifest *file, blob_manifest **disk,
                       struct model_err *err);

/* A write to `encrypted` (SPEC §17): yes or no, on a queued private or
 * ISO image (-EPERM otherwise, "cannot change after upload").  Its data
 * key is made when data arrives (an upload, an import, a capture of an
 * instance of no lineage); an image made from an encrypted one is
 * encrypted whatever this said, in its source's lineage. */
int model_image_set_encrypted(model *m, int64_t id, bool on, struct model_err *err);

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

/* Room for a blob's SHA-256 as the database holds it: 64 hex digits, or
 * for an encrypted blob (SPEC §17) "k" and the hex of the digest sealed
 * under its data key (nonce, ciphertext, tag: 121 characters). */
#define MODEL_SHA_STORED 128

/* The most holes (virtual size minus stored data) a disk may have for the
 * background checksum pass to hash it (SPEC §16; model/task/checksum.c):
 * past it an image's `sha256` never comes, by design, and fsck says so in
 * a note rather than a problem (model/meta/fsck.c). */
#define MODEL_CHECKSUM_HOLES (64ULL << 30)

struct model_blob {
	int64_t id;
	int64_t region_id;
	uint64_t size;
	uint64_t stored;     /* bytes of data chunks */
	bool sealed;         /* immutable: has a manifest */
	char xxh128[MODEL_SHA_STORED]; /* whole-blob XXH3-128 (§2.3) as stored: "" until kept,
	                                * sealed when key_id (model_blob_hash opens it) */
	char wblob[64];      /* writable blob name, "" when sealed */
	int64_t mtime_ns;
	char sha256[MODEL_SHA_STORED]; /* SHA-256 of its bytes (§2.1) as stored: "" while
	                                * unknown, sealed when key_id (model_sha256_open) */
	int64_t key_id;      /* the data key its chunks are sealed under (§17); 0: plain */
};
int model_blob_get(model *m, int64_t blob_id, struct model_blob *out);
/* The sealed blob's manifest (caller frees), to read: with the context of
 * its data key when it is encrypted (SPEC §17), or -EACCES (the reason in
 * err, which may be NULL) when this process cannot open that key. */
int model_blob_manifest(model *m, int64_t blob_id, blob_manifest **out);
int model_blob_manifest_err(model *m, int64_t blob_id, blob_manifest **out, struct model_err *err);
/* The same without its key: its chunk ids, for what does not read the
 * bytes (the chunks a destroyed image frees). */
int model_blob_ids(model *m, int64_t blob_id, blob_manifest **out);
/* The writable blob of b (an instance disk, an upload), opened in its
 * region's store under its data key: -EACCES with the reason as above. */
int model_wblob_open(model *m, const struct model_blob *b, blob_wblob **out, struct model_err *err);
/* The same to read and seal only (a capture): a cluster disk's writer
 * is not fenced; a cluster disk's header or record read and damaged is
 * -EUCLEAN, a store that did not answer -EIO (blob_wblob_open_judged). */
int model_wblob_open_reader(model *m, const struct model_blob *b, blob_wblob **out, struct model_err *err);
/* Where a wblob lives, by its name (SPEC §13): "c<blob id>" a cloud disk
 * kept in its region's cluster, every other name (an instance's "d<id>",
 * an upload's "u<id>") in a store's directory of the host that made it. */
enum blob_wb_where model_wblob_where(const char *wblob);
/* The image's `sha256` (SPEC §2.1): the SHA-256 of its system disk (vda;
 * an ISO image's cdrom), lowercase hex, or "" while it is not known (not
 * available yet, or an image made before the checksum pass reached it). */
int model_image_sha256(model *m, int64_t image_id, char out[65]);
/* A copy by reference (SPEC §16) from the sealed blob `held` into the
 * writable blob `holder` (an instance disk, an upload) of the same region:
 * records, durably and before any chunk is taken, that holder keeps held —
 * its row, so its manifest keeps the shared chunks from gc on every host
 * (§13), whatever becomes of its snapshot or image.  A read when the hold
 * exists.  -ENOENT when either row is gone or held is not sealed. */
int model_blob_hold(model *m, int64_t holder, int64_t held, struct model_err *err);
/* The sealed blob's whole XXH3-128 (hex) as kept (§2.3): computed where
 * its bytes were read anyway (an upload's writes, the background checksum
 * pass, the catalogue's table, `admin publish`), never here — this is a
 * request thread's call.  -ENODATA while there is none. */
int model_blob_hash(model *m, int64_t blob_id, char out[33]);

/* ---- the attributes of §5.4 (import_rules.c) ------------------------------ */

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

#endif

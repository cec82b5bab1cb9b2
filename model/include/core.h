/*
 * core.h — what every part of the model's interface shares: the handle
 * (opening a state, its blob stores, groups of reads), the one-line
 * reason beside an errno, the status enums, names and ids, the model's
 * log and its clocks.
 *
 * Who calls it: every other topic header includes it; fs/, fs/serve,
 * the admin command line and the unit tests reach it through model.h.
 *
 * Threads: a model may be used from any number of threads; each thread
 * gets its own database connection (SQLite in WAL mode: readers never
 * wait for the writer; or PostgreSQL).  Two processes may open one state
 * directory at once (SPEC §1).
 *
 * Errors: 0 (or a count) on success, -errno on failure, the errno of
 * SPEC §9 for refusals; a function that can refuse takes a struct
 * model_err that receives a one-line reason.
 */
#ifndef IMGFS_MODEL_CORE_H
#define IMGFS_MODEL_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "blob_digest.h"
#include "blob_wblob.h"
#include "blobstore.h"

#define MODEL_NAME_MAX 255       /* bytes of a stored name */
#define MODEL_NAME_CHARS 32      /* characters of an image/instance/account name (§10) */
#define MODEL_DESC_MAX 256       /* bytes of a description (§2.1) */
#define MODEL_PROJECT_MAX 64     /* bytes of an image's project group (§2.1, §16) */
#define MODEL_TEXT_MAX 4096      /* bytes of any other stored value (§12) */

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
	MODEL_IMG_DELETING, /* destroyed: its chunks are being freed (§16) */
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

enum {
	MODEL_OPEN_CREATE = 1,   /* create the state directory if missing */
	/* With a database URL: no file of this host is touched (no state
	 * directory is needed): for what only reads and writes rows (imgfs
	 * admin's account, quota, host ... commands).  model_store then
	 * fails with -EPERM. */
	MODEL_OPEN_NO_FILES = 2,
};
/* Deleting must work when the disk is full (SPEC §12): a mount keeps a few
 * MiB aside in <state>/space.reserve.<k> (model_space_reserve: 0, or -errno
 * when there is no room for all of it yet); a delete that failed with
 * -ENOSPC gives up one slice (model_space_release: whether there was one)
 * and tries again, and the slices are reserved anew once it freed room. */
int model_space_reserve(model *m);
bool model_space_release(model *m);

/* Opens (and with MODEL_OPEN_CREATE, creates with the default regions and
 * the platform catalogue) the state directory.  An existing empty
 * <dir>/imgfs.db is refused, created or not (model_state_probe). */
int model_open(model **out, const char *state_dir, int flags, struct model_err *err);
/* Whether an embedded state (<dir>/imgfs.db) is at dir, touching nothing:
 * 0 yes; -ENOENT none ("no imgfs state at DIR (create one with imgfs
 * admin init DIR or by mounting)"); -EACCES the caller may not open it
 * ("DIR: permission denied ..."); -EINVAL an empty imgfs.db, which SQLite
 * would take for a new database ("DIR/imgfs.db is empty: not an imgfs
 * state ..."); another -errno.  The reason in err. */
int model_state_probe(const char *dir, struct model_err *err);
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
/* Whether dir looks like a state directory: it holds imgfs.db (the SQLite
 * metadata) or imgfs.log (every mount's log, also with PostgreSQL).  What
 * a mount refuses as its mount point (SPEC §12). */
bool model_state_dir_like(const char *dir);

/* A group of reads (one request's) that see one state
 * of the database and take its lock once, not once per statement.  Nests;
 * a write inside it ends the group's transaction first.  The calling
 * thread's; model_read_end ends it. */
int model_read_begin(model *m);
void model_read_end(model *m);

/* Database upkeep a mount runs every few seconds (db_driver.tune:
 * PostgreSQL's statistics of a table that grew); 0 or -errno. */
int model_db_tune(model *m);

/* ---- names (§10) and ids ------------------------------------------------- */

#define MODEL_HOST_MAX 64        /* bytes of a host's name (admin.h) */

/* 0, -EINVAL or -ENAMETOOLONG with the reason. */
int model_name_check(const char *name, struct model_err *err);
/* The one UTF-8 decoder (names.c; fs/'s log escaping and JSON use it
 * too): the length (1..4) of the sequence at s and its code point in
 * *cp, or 0 when s does not start a valid one (strict: no overlong forms,
 * no surrogates, nothing past U+10FFFF).  A NUL is a sequence of 1. */
size_t model_utf8_decode(const char *s, uint32_t *cp);
/* Whether s is valid UTF-8 (strict: no overlong forms, no surrogates). */
bool model_utf8_valid(const char *s);
/* A free-text value other tenants may read (a description, tags: shared
 * images, images.csv): valid UTF-8 without C0 controls other than those
 * in allow ("\t\n"), DEL, C1 controls (U+0080..U+009F), or the
 * bidirectional embeddings, overrides and isolates (U+202A..U+202E,
 * U+2066..U+2069) that reorder what a reader sees.  0, or -EINVAL naming
 * the character and its position: "a description cannot hold U+202E
 * (RIGHT-TO-LEFT OVERRIDE), at character 4". */
int model_text_check(const char *what, const char *value, const char *allow, struct model_err *err);
/* A description's rules (§2.1: at most MODEL_DESC_MAX bytes; tabs and
 * newlines, nothing model_text_check refuses), for an image, a snapshot
 * or a published image: 0 or -EINVAL with the reason. */
int model_description_check(const char *value, struct model_err *err);

/* The row an external id names (extid.c): -ENOENT when none.  Visibility
 * is the caller's business. */
enum model_ext_kind { MODEL_EXT_IMAGE = 1, MODEL_EXT_SNAPSHOT, MODEL_EXT_INSTANCE };
int model_find_ext_id(model *m, const char *ext_id, enum model_ext_kind *kind_out, int64_t *id_out);

/* ---- the model's log and time --------------------------------------------- */

/* Where the model's own log lines go (a finished copy's counts): fn(arg,
 * line) from any thread; NULL (the default) drops them. */
void model_set_log(model *m, void (*fn)(void *arg, const char *line), void *arg);

/* Time helpers shared by model and fs (state.c).  The wall clock in
 * nanoseconds since 1970: what rows record. */
int64_t model_now_ns(void);
/* The monotonic clock in nanoseconds (any origin): what deadlines and
 * ages in memory are measured with, so that a change of the wall clock
 * neither shortens nor stretches them. */
int64_t model_mono_ns(void);
/* A time of that clock as the timespec pthread_cond_timedwait takes (a
 * condition variable set to CLOCK_MONOTONIC). */
struct timespec model_mono_timespec(int64_t mono_ns);
/* ISO 8601 UTC "YYYY-MM-DDTHH:MM:SSZ" of unix seconds into out[21]. */
void model_fmt_time(char out[21], int64_t unix_seconds);

#endif

/*
 * early.h — the read-through of an image whose URL import is running, for
 * the instances started from it early (SPEC §6.5 "Early", docs/design.md
 * "Early instances").  Internal to model/: early.c keeps, per image, the
 * chunks that arrived (ids in the region's store) and fetches the ones a
 * reader needs first; import.c turns its import to windows of chunks once
 * an early start asked for it; early_disk.c reads an early disk through it.
 */
#ifndef IMGFS_EARLY_H
#define IMGFS_EARLY_H

#include "model_int.h"

/* The longest run of chunks the import asks for in one range once it is
 * early: a reader of a chunk inside it waits at most this many chunks. */
#define EARLY_WINDOW_CHUNKS 8
/* The QCOW2 readers of one early import's file at most (SPEC §12.8: each
 * holds the L1 table, an L2 cache and three clusters); a reader beyond
 * them waits for one. */
#define EARLY_QCOW2_READERS 4

struct model_early; /* the model's set of early imports (m->early) */
struct early_import;

int early_set_new(struct model_early **out);
void early_set_free(struct model_early *set); /* accepts NULL */

/* Registers that an instance reads image_id early (the import turns to
 * windows at its next poll).  Idempotent. */
int early_want(model *m, int64_t image_id, int64_t region_id);
/* Whether an early start asked for image_id and the import has not turned
 * yet (import.c's poll). */
bool early_wanted(model *m, int64_t image_id);
/* Whether an early start of image_id is known here (and did not fail). */
bool early_known(model *m, int64_t image_id);
/* The import's stall timeout: IMGFS_IMPORT_STALL_TIMEOUT's seconds (0:
 * unset or not 1 to 3600), and the seconds in force (fetch's default when
 * unset): how long a transfer, and an early read, waits for a byte. */
int import_stall_env(void);
int import_stall_seconds(void);

/* Bytes [off, off + len) of image_id's disk (a QCOW2 file's: the virtual
 * disk, its tables and clusters read as the import will have them): each
 * chunk fetched at once unless it arrived or is on its way (then waited
 * for, at most the stall timeout).  Returns len, or -EIO (a source that
 * stopped answering or changed, the reason logged), -ENOENT when no early
 * import of image_id runs here (the caller reads the image instead). */
ssize_t early_read(model *m, int64_t image_id, void *buf, size_t len, uint64_t off);
/* The size of the disk image_id's instances read: its file's, or the
 * virtual size of a QCOW2 file, once the import turned to windows and
 * looked (waited for, at most the stall timeout: -ETIMEDOUT); -EINVAL
 * with why for a QCOW2 file the decoder refuses, -EIO (why) when the
 * early import failed otherwise, -ENOENT when none of image_id is known. */
int early_disk_size(model *m, int64_t image_id, uint64_t *size, char *why, size_t cap);
/* Bytes arrived and the whole size of an early import (-ENOENT: none). */
int early_progress(model *m, int64_t image_id, uint64_t *arrived, uint64_t *total);

/* ---- import.c's side ---------------------------------------------------- */

/* The import of image_id turns to windows: bytes [0, held) are in got's
 * chunks (whole chunks, the last one only when held is the end), the URL,
 * the version and the size given.  *out: the entry, held by the import. */
int early_begin(model *m, int64_t image_id, const char *url, const char *validator, uint64_t total,
                const blob_manifest *got, uint64_t held, struct early_import **out);
/* What the file is, from its first bytes (fetched as a reader's): a raw
 * disk, or a QCOW2 file whose header and L1 table are then fetched and
 * checked (early_read then reads the disk it describes, through its
 * tables).  0, or -errno / -EINVAL with why: the caller fails the entry. */
int early_format(model *m, struct early_import *e, char *why, size_t cap);
/* Fails every read of the entry from now on, with why (one line). */
void early_fail(model *m, int64_t image_id, const char *why);
/* The next window: chunks [*first, *end) none arrived nor in flight, now in
 * flight for the caller; 1, or 0 when every chunk arrived, -ETIMEDOUT
 * when only readers' chunks are left and none arrived for the stall
 * timeout, -EIO when the entry failed (why). */
int early_window(model *m, struct early_import *e, uint32_t *first, uint32_t *end, char *why, size_t cap);
/* Fetches chunks [first, end) (in flight for the caller) into the store,
 * each arriving as its last byte does.  0 or -errno with why. */
int early_fetch(model *m, struct early_import *e, uint32_t first, uint32_t end, bool (*cancelled)(void *arg),
                void *arg, char *why, size_t cap);
/* The arrived chunks [0, *prefix) as a manifest copy (*prefix in bytes:
 * the longest run of arrived chunks from 0, the size at the end). */
int early_prefix(model *m, struct early_import *e, blob_manifest **out, uint64_t *prefix);
/* Bytes arrived (progress). */
uint64_t early_arrived(model *m, struct early_import *e);
/* The order in which readers first read its chunks, kept for the next
 * import of the same URL (a boot profile: its chunks are fetched first). */
void early_profile_save(model *m, struct early_import *e);
/* The import is done with it (sealed, failed, stopped): the entry goes;
 * readers then read the image. */
void early_end(model *m, struct early_import *e);

#endif

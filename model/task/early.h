/*
 * early.h — the read-through of an image whose URL import is running, for
 * the instances started from it early, and of a copy between regions being
 * made (SPEC §6.5 "Early", docs/design.md "Early instances").  Internal to model/: early.c keeps, per image, the
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
/* What a reader's range of a chunk not arrived is fetched in (early_part.c,
 * SPEC §6.5 "Early"): 16 KiB, 64 a chunk. */
#define EARLY_PIECE (BLOB_CHUNK_SIZE / 64)
/* The QCOW2 readers of one early import's file at most (SPEC §12.8: each
 * holds the L1 table, an L2 cache and three clusters); a reader beyond
 * them waits for one. */
#define EARLY_QCOW2_READERS 4
/* The chunks a boot profile keeps at most (SPEC §12.8): the first reads
 * of its instances, 16 GiB of them, 64 KiB a row. */
#define EARLY_PROFILE_MAX 16384
/* The import gives way to its readers (early_yield.c, SPEC §12.8): the
 * defaults of IMGFS_EARLY_QUIET_MS, _OPEN_HOLD_MS, _HOLD_MAX_MS, _SHARE. */
#define EARLY_QUIET_MS_DEFAULT 30000
#define EARLY_OPEN_HOLD_MS_DEFAULT 30000
#define EARLY_HOLD_MAX_MS_DEFAULT 30000
#define EARLY_SHARE_DEFAULT 8

struct model_early; /* the model's set of early imports (m->early) */
struct early_import;

int early_set_new(struct model_early **out);
void early_set_free(struct model_early *set); /* accepts NULL */

/* Registers that an instance reads image_id early (the import turns to
 * windows at its next poll).  Idempotent. */
int early_want(model *m, int64_t image_id, int64_t region_id);
/* early_want for an instance's early start: its disk is opened soon, so
 * the import gives way from now (early_yield_expect), registered with the
 * entry in one hold of the set's lock — the import's first window cannot
 * come between them. */
int early_want_start(model *m, int64_t image_id, int64_t region_id);
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
 * stopped answering or changed, the reason logged and in why: cap bytes,
 * may be NULL), -ENOENT when no early import of image_id runs here (the
 * caller reads the image instead). */
ssize_t early_read(model *m, int64_t image_id, void *buf, size_t len, uint64_t off, char *why, size_t cap);
/* The size of the disk image_id's instances read: its file's, or the
 * virtual size of a QCOW2 file, once the import turned to windows and
 * looked (waited for, at most the stall timeout: -ETIMEDOUT); -EINVAL
 * with why for a QCOW2 file the decoder refuses, -EIO (why) when the
 * early import failed otherwise, -ENOENT when none of image_id is known. */
int early_disk_size(model *m, int64_t image_id, uint64_t *size, char *why, size_t cap);
/* Bytes arrived and the whole size of an early import (-ENOENT: none). */
int early_progress(model *m, int64_t image_id, uint64_t *arrived, uint64_t *total);
/* The import's background windows give way to image_id's readers
 * (early_yield.c): an early start made (its disk opened soon), an early
 * disk opened, read, closed. */
void early_yield_expect(model *m, int64_t image_id);
void early_yield_open(model *m, int64_t image_id);
void early_yield_read(model *m, int64_t image_id);
void early_yield_close(model *m, int64_t image_id);

/* ---- import.c's side ---------------------------------------------------- */

/* The import of image_id turns to windows: bytes [0, held) are in got's
 * chunks (whole chunks, the last one only when held is the end), the URL,
 * the version and the size given.  *out: the entry, held by the import. */
int early_begin(model *m, int64_t image_id, const char *url, const char *validator, uint64_t total,
                const blob_manifest *got, uint64_t held, struct early_import **out);
/* What the file is, from its first bytes (fetched as a reader's, out of
 * the boot profile): a raw disk, or a QCOW2 file whose header and L1
 * table are then fetched and checked (early_read then reads the disk it
 * describes, through its tables).  0, or -errno / -EINVAL with why (the
 * decoder's refusal): the caller fails the entry (-EINVAL) or its readers. */
int early_format(model *m, struct early_import *e, char *why, size_t cap);
/* Fails every read of the entry from now on, with why (one line). */
void early_fail(model *m, int64_t image_id, const char *why);
/* The same for the readers only: the import's windows go on (a file
 * whose format could not be looked at imports as any other). */
void early_fail_readers(model *m, int64_t image_id, const char *why);
/* The next window: chunks [*first, *end) none arrived nor in flight, now in
 * flight for the caller; 1, or 0 when every chunk arrived, -ETIMEDOUT
 * when only readers' chunks are left and none arrived for the stall
 * timeout, -EIO when the entry failed (why), -ECANCELED when cancelled(arg)
 * said so while the window waited for readers (early_yield.c). */
int early_window(model *m, struct early_import *e, uint32_t *first, uint32_t *end, bool (*cancelled)(void *arg),
                 void *arg, char *why, size_t cap);
/* Fetches chunks [first, end) (in flight for the caller) into the store,
 * each arriving as its last byte does.  0 or -errno with why. */
int early_fetch(model *m, struct early_import *e, uint32_t first, uint32_t end, bool (*cancelled)(void *arg),
                void *arg, char *why, size_t cap);
/* The arrived chunks [0, *prefix) as a manifest copy (*prefix in bytes:
 * the longest run of arrived chunks from 0, the size at the end). */
int early_prefix(model *m, struct early_import *e, blob_manifest **out, uint64_t *prefix);
/* Bytes arrived (progress). */
uint64_t early_arrived(model *m, struct early_import *e);
/* Whether url has a boot profile (an earlier early start's, on any
 * host): its import, early or not, fetches the profile's chunks first. */
bool early_profiled(model *m, const char *url);
/* Whether an early import of image_id kept what arrived (rows of chunks
 * its fetches stored, early_got.c) when its process died or its host was
 * lost: its next run, early again, takes them instead of fetching them
 * again. */
bool early_got_kept(model *m, int64_t image_id);
/* The order in which readers first read its chunks, kept for the next
 * import of the same URL (a boot profile: its chunks are fetched first). */
void early_profile_save(model *m, struct early_import *e);
/* The profile of url made order[0..n) (its first EARLY_PROFILE_MAX): 0 or
 * -errno (early_profile_save's, and the unit tests'). */
int early_profile_put(model *m, const char *url, const uint32_t *order, uint32_t n);
/* The rows of chunks other hosts' readers (or this import's run before a
 * crash) stored, taken as arrived before the next window: the number
 * taken, or -errno (a hint: the window fetches what it has not). */
int early_got_pick(model *m, struct early_import *e);
/* The import is done with it (sealed, failed, stopped): the entry goes;
 * readers then read the image. */
void early_end(model *m, struct early_import *e);

/* ---- another host's import (early_remote.c) ------------------------------ */

/* The URL and the validator of an import's task args (the lines after the
 * plan; no validator line: ""), early_remote.c (import.c reads them too):
 * url FETCH_URL_MAX + 1 bytes, validator FETCH_VALIDATOR_MAX. */
int import_parse(const char *rest, char *url, char *validator);
/* When image_id's import runs on another host (SPEC §13.13), this host's
 * entry learns from the task row what that host made durable (the chunks
 * of tasks.resume, read from the region's store) and the URL and version
 * to fetch the rest by range: 1 when it did (the entry ready), 0 when the
 * import does not run elsewhere (or cannot be read through: no version,
 * no size yet), -ENOENT when the task is gone (the entry ended: readers
 * read the image), -errno. */
int early_remote_load(model *m, int64_t image_id);
/* The entry was made ready by early_remote_load (its source fetches ask the
 * task row first). */
void early_remote_set(model *m, int64_t image_id);
/* The entry of image_id goes (readers read the image). */
void early_end_image(model *m, int64_t image_id);

/* ---- copy.c's side: a copy between regions read early (SPEC §6.3) -------- */

/* The entry of the copy into image_id whose source system disk is src_blob
 * (made by early_want), held for the caller; NULL when none is here. */
struct early_import *early_copy_hold(model *m, int64_t image_id, int64_t src_blob);
void early_copy_release(model *m, struct early_import *e); /* accepts NULL */
/* The copy is about to place the data chunks at[0, n): claim[k] 1 when it
 * must (now in flight for it), 0 when the chunk arrived already, and then
 * by_reader[k] 1 when a reader placed it (it crossed for the copy).  A
 * chunk a reader is placing is waited for (at most the stall timeout:
 * -EIO).  Nothing claimed on an error. */
int early_copy_claim(model *m, struct early_import *e, const uint32_t *at, size_t n, uint8_t *claim,
                     uint8_t *by_reader);
/* The claimed chunks are placed and committed (ok), or nobody's again. */
void early_copy_done(model *m, struct early_import *e, const uint32_t *at, size_t n, const uint8_t *claim, bool ok);
/* The copy into image_id ended (available, error, gone): its entry goes,
 * its readers read the image. */
void early_copy_end(model *m, int64_t image_id);

#endif

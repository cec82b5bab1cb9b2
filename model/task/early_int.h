/*
 * early_int.h — the early imports' entry, shared by the files that make
 * it up (SPEC §6.5 "Early"; early.c's header says what an entry is and
 * how its lock is used): early.c (the set, readers, the import's side),
 * early_fetch.c (a range fetched, a copy's chunk placed), early_got.c (what
 * arrived, as rows every host reads), early_profile.c (boot profiles),
 * early_copy.c (the copy's side).  Not for any other file: early.h is the
 * interface.
 */
#ifndef IMGFS_EARLY_INT_H
#define IMGFS_EARLY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "early.h"
#include "fetch.h"
#include "imgfs_lock.h"
#include "qcow2.h"
#include "task_int.h"

#define CHUNK BLOB_CHUNK_SIZE

struct early_import {
	struct early_import *next;
	int64_t image_id, region_id;
	int users;    /* readers holding it (early_read) */
	bool ended;   /* out of the list (early_end): freed by its last user */
	bool ready;   /* the import turned to windows: url, validator, total, got set */
	int failed;   /* -errno: every read fails (why) */
	bool readers_only; /* failed for readers only: the import's windows go on */
	char why[FETCH_REASON_MAX];
	char url[FETCH_URL_MAX + 1];
	char validator[FETCH_VALIDATOR_MAX];
	uint64_t total, arrived_bytes;
	uint32_t nchunks;
	uint8_t *arrived, *inflight; /* a bit a chunk */
	blob_manifest *got;
	/* The boot profile (docs/design.md): the chunks readers read, in the
	 * order of their first read (seen: a bit a chunk), saved when the
	 * import ends; and the one an earlier import of the URL saved, whose
	 * chunks the windows take first (plan_at: how far they went). */
	uint8_t *seen;
	uint32_t *order, norder;
	uint32_t *plan, nplan, plan_at;
	/* The rows of early_got (early_got.c) read so far: the last seq. */
	int64_t got_seq;
	/* A copy between regions (SPEC §6.3): its source device's region and
	 * blob; got holds the source's ids (the same in every region) and
	 * arrived says which are in this region's store; moved: a reader
	 * placed the chunk (it counts as the copy's). */
	bool copy;
	bool remote; /* another host runs the import: made by early_remote_load */
	int64_t src_region, src_blob;
	uint8_t *moved;
	/* What the file is (early_format): 0 not known yet, else a raw disk
	 * or a QCOW2 file read through its tables; the disk's size (the
	 * file's, or the QCOW2's virtual size); the QCOW2 readers not in use
	 * (each holds its L1 table and L2 cache) and how many exist. */
	int fmt;
	uint64_t vsize;
	struct early_q *pool[EARLY_QCOW2_READERS];
	int pooled, readers;
	uint32_t gen; /* a new version of the file: readers of the old one are dropped */
	/* Pieces (early_part.c): the chunks readers fetched part of (sorted
	 * by chunk), a bit a chunk a reader fetches pieces of, the file of
	 * their bytes (part_open: made). */
	struct early_part *parts;
	uint32_t nparts, cparts;
	uint8_t *piecing;
	int part_fd;
	bool part_open;
	/* Bytes fetched from the source by this entry: windows, readers'
	 * chunks and pieces (the link's use: early_yield.c's share). */
	uint64_t link_bytes;
	bool sniffing; /* a reader looks at the file of an entry no import here sniffs (entry_format) */
};

enum { EARLY_FMT_REFUSED = -1, EARLY_FMT_RAW = 1, EARLY_FMT_QCOW2 = 2 };

/* A QCOW2 reader of an entry's file: its reads are the entry's file reads
 * (each chunk fetched once, checked as the import checks it). */
struct early_q {
	qcow2_reader *q;
	model *m;
	struct early_import *e;
	uint32_t gen;
	/* Set by its taker (pool_take): whether its reads are a reader's (the
	 * boot profile) and where a failed one says why. */
	bool seen;
	char *why;
	size_t cap;
};

struct model_early {
	pthread_mutex_t lock;
	pthread_cond_t cv; /* a chunk arrived or was given up, an entry turned ready or failed */
	struct early_import *list;
	struct early_yield *yield; /* early_yield.c: images whose readers the import gives way to */
	/* early_yield.c's clock: NULL, model_mono_ns; else a unit test's
	 * (early_yield_set_clock), so each bound is judged at the nanosecond. */
	int64_t (*clock)(void *arg);
	void *clock_arg;
	/* early_part.c's source of pieces: NULL, early_range_mem; else a unit
	 * test's (early_part_set_source), which sees each range asked. */
	int (*source)(void *arg, struct early_import *e, uint64_t from, uint64_t to, uint8_t *dst, char *why,
	              size_t cap);
	void *source_arg;
};
IMGFS_LOCK_LEVEL(model_early_lock, 53); /* a leaf: nothing is taken under it */

static inline bool bit(const uint8_t *b, uint32_t i)
{
	return b[i >> 3] & (1u << (i & 7));
}

static inline void bit_set(uint8_t *b, uint32_t i, bool on)
{
	if (on)
		b[i >> 3] |= (uint8_t)(1u << (i & 7));
	else
		b[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

/* early.c: the entry of image_id in the set (under its lock; NULL: none);
 * an entry freed by its last user; the deadline of a wait (now + the
 * import's stall timeout, CLOCK_REALTIME as the set's condition). */
struct early_import *early_find(struct model_early *set, int64_t image_id);
void early_entry_free(struct early_import *e);
struct timespec early_deadline(void);
/* early_fetch.c: chunk i of a copy (in flight for the caller) placed in
 * this region's store from the source region's; 0 or -errno with why. */
int early_copy_fetch(model *m, struct early_import *e, uint32_t i, char *why, size_t cap);
/* early_range.c: bytes [from, to) of e's file asked as one range of the
 * version held, through sink (cancelled(arg) polled), with the import's
 * address rules; 0 or -errno with why.  early_range_mem: into dst (dst[0]
 * is byte from; rules NULL: loaded). */
int early_range_run(struct early_import *e, uint64_t from, uint64_t to,
                    int (*sink)(void *arg, const void *buf, size_t len, uint64_t offset),
                    bool (*cancelled)(void *arg), void *arg, const struct fetch_rule *rules, size_t nrules,
                    char *why, size_t cap);
int early_range_mem(model *m, struct early_import *e, uint64_t from, uint64_t to, uint8_t *dst,
                    const struct fetch_rule *rules, size_t nrules, char *why, size_t cap);
/* early_part.c (pieces of a chunk, a reader's range smaller than it):
 * under the lock, bytes [in, in + n) of chunk i into dst from the pieces
 * readers fetched, fetching those missing: 1; 0 when the chunk is
 * need_chunk's (arrived, in flight, failed, a copy's, another host's
 * import, no piece file); EARLY_PART_WHOLE when its last piece is there
 * and the chunk is now in flight for the caller, who stores it
 * (early_fetch) and asks again; or -errno with why in out and, when a
 * fetch failed, its reason in fault (fcap bytes). */
#define EARLY_PART_WHOLE 2
int early_part_need(model *m, struct early_import *e, uint32_t i, size_t in, size_t n, void *dst,
                    const struct timespec *until, char *out, size_t cap, char *fault, size_t fcap);
bool early_part_have(struct early_import *e, uint32_t i);
void early_part_drop(struct early_import *e, uint32_t i);
void early_part_reset(struct early_import *e);
void early_part_free(struct early_import *e);
/* Chunk i (in flight for the caller): its pieces from the piece file into
 * buf at their offsets; the mask of the pieces still missing (why: a piece
 * the file could not give, fetched again). */
uint64_t early_part_fill(model *m, struct early_import *e, uint32_t i, uint8_t *buf, char *why, size_t cap);
/* A unit test's source of pieces (NULL: the image's, early_range_mem). */
void early_part_set_source(struct model_early *set,
                          int (*source)(void *arg, struct early_import *e, uint64_t from, uint64_t to,
                                        uint8_t *dst, char *why, size_t cap),
                          void *arg);
/* The next run of set bits of a piece mask at or after piece *at, in a
 * chunk of len bytes: its bytes [*from, *to) and its bits; *at past it.
 * false: none left. */
bool early_part_run(uint64_t mask, size_t len, uint32_t *at, size_t *from, size_t *to, uint64_t *bits);
/* A new piece file (O_TMPFILE in <state>/early), or -1: whole chunks. */
int early_part_file(model *m);
/* early_got.c: chunk i of e stored durably (id; null: a hole), as a row
 * every host reads (0 or -errno: a hint, a failure costs a fetch); the
 * rows written since e's last pick, of e's version, whose chunk the store
 * holds and e has not (nor in flight): arrived (early_got_pick, early.h). */
int early_got_add(model *m, struct early_import *e, uint32_t i, const chunk_id *id);
/* early_got.c: chunk i of e, in flight for the caller, arrived if a row
 * of e's version names it and the store holds it (another host fetched
 * it): 1, 0 (not recorded, not there), -errno. */
int early_got_take(model *m, struct early_import *e, uint32_t i);
/* early_profile.c: the profile of url, at most n chunks below n and
 * EARLY_PROFILE_MAX (none: *nplan 0). */
void early_profile_load(model *m, const char *url, uint32_t n, uint32_t **plan, uint32_t *nplan);
/* early_yield.c: under the lock, the longest window the import may ask
 * for now (EARLY_WINDOW_CHUNKS: nobody to give way to; 1: a bound lets a
 * chunk through), or 0 after a wait or a log line (the caller looks
 * again); the records freed with the set. */
int early_yield_gate(model *m, struct early_import *e);
/* ... and whether readers are at it now (the profile's windows are its
 * chunks alone then, not the runs after them). */
bool early_yield_holding(model *m, struct early_import *e);
void early_yield_free(struct model_early *set);
/* The clock early_yield.c reads instead of model_mono_ns (NULL: that one
 * again), set before any thread uses the set: a unit test's seam
 * (tests/unit/model/task/test_early_yield.c). */
void early_yield_set_clock(struct model_early *set, int64_t (*clock)(void *arg), void *arg);
/* early_yield_expect, under the set's lock (early_want_start). */
void early_yield_expect_locked(struct model_early *set, int64_t image_id);
/* The records the set holds now (SPEC §12: one an image read early): the
 * unit tests' count. */
size_t early_yield_records(struct model_early *set);

#endif

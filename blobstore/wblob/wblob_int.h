/*
 * wblob_int.h — what the writable blob's files share: the handle, the
 * on-disk constants and each layer's functions.  Nothing outside
 * blobstore/wblob*.c includes it.
 *
 * The design — the on-disk format, the crash-safety order of every step,
 * streaming, punching, sealing — is described once, in wblob.c's header
 * comment.  The files are layers, in a folder of their own beside the
 * chunk store they write into (issue 71); each calls only the ones below
 * it (scripts/circles build blobstore/wblob/ shows no circle among them):
 *
 *   wblob.c        the core: writes (copy-on-write), zeros and punches,
 *                  size changes, pread, pwrite, seek, fsync
 *   wblob_copy.c   copies out and in: seal (a manifest of the content),
 *                  share (a sealed blob's chunks taken by reference)
 *   wblob_open.c   a wblob's life: create, open (the map and the .ids
 *                  loaded), close, remove, list, the ids gc must keep
 *   ---- plug-ins: each behind one pointer of the handle, NULL when unused
 *   wblob_stream.c the upload streamer (w->stream): whole chunks straight
 *                  into the store through a batch, partial ones gathered
 *                  in the stage, an encrypted chunk sealed beside the
 *                  writes that follow; the pending list
 *   wblob_arr.c    arrived chunks (w->arr): an instance disk's whole-chunk
 *                  writes as files of their own, which a capture links
 *   ---- layers under the core and the plug-ins
 *   wblob_chunk.c  one chunk's bytes wherever its state puts them: the
 *                  overlay (through the key when there is one), an arrived
 *                  file, a stored chunk
 *   wblob_crypt.c  the overlay of an encrypted wblob by XTS sector
 *   wblob_state.c  the state byte and its questions (data, hole, the next
 *                  data chunk), the map's writes, the chunks held in
 *                  memory by a plug-in, the leftovers freed at fsync
 *   wblob_file.c   a host wblob's files: names, the overlay files, pieces
 *                  written and zeroed, the .ids file
 *   wblob_patch.c  a cluster wblob's patched chunks: a stored chunk and
 *                  the 4 KiB blocks written since, in its object
 *   wblob_cluster.c  a cluster wblob's objects instead (the backend's
 *                  disks: every host reaches them)
 * wblob_cluster.c's and wblob_patch.c's declarations are in wblob_cl.h,
 * which this header includes.
 */
#ifndef IMGFS_WBLOB_INT_H
#define IMGFS_WBLOB_INT_H

#include "blobstore_int.h"
#include "imgfs_lock.h"

/* The format (states, files, records): blob_format.h. */
#define WB_NAME_MAX 64
#define WB_FILE_MAX (WB_NAME_MAX + 16) /* "<name>.data.<k>" */

/* Leaves of the radixes: a 4 KiB page of state bytes, 256 ids. */
#define WB_STATE_LEAF_BITS 12
#define WB_SID_LEAF_BITS 8

_Static_assert(((uint64_t)WB_SEG_CHUNKS << BLOB_CHUNK_SHIFT) <= (16ull << 40) - 4096,
               "an overlay file stays under ext4's largest file");

/* An overlay file, its length (wb_zero_overlay trusts it) and the disk
 * offset of its byte 0 (an encrypted overlay's sectors are numbered in the
 * disk: .data.<k> starts at k << (WB_SEG_SHIFT + BLOB_CHUNK_SHIFT)). */
struct wb_file {
	int fd;
	uint64_t len;
	uint64_t base;
	/* A run of sequential writes not yet handed to writeback
	 * (wb_overlay_write, wblob_chunk.c). */
	uint64_t run_at, run_end;
};

/* Chunks a plug-in shows from memory, not from where their state says
 * (the streamer's stage and the chunk it is sealing): data, whatever the
 * state; their bytes come from the plug-in (wb_stream_read). */
#define WB_HELD_STAGE 0
#define WB_HELD_SEAL 1
#define WB_NHELD 2

/* A cluster wblob's chunks held busy (wblob_cluster.c "Busy chunks"): at
 * most WB_BUSY_MAX ranges at once (first writes in flight side by side,
 * each one chunk; an exclusive operation all of them). */
#define WB_BUSY_MAX 64
#define WB_BUSY_ALL ((uint64_t)UINT32_MAX + 1)
/* Whole chunks' records not yet confirmed, at most (each record set
 * carries them all, with its own: BLOB_RECS_MAX). */
#define WB_CONF_MAX 128
struct wb_conf {
	uint32_t i;
	chunk_id id;
};
struct wb_unsure; /* wblob_cluster.c */
struct wb_rq;     /* wblob_recs.c */
struct wb_busy {
	uint32_t lo;
	uint64_t hi; /* exclusive */
};
struct wb_held {
	bool on;
	uint32_t i;
};

/* A chunk whose old bytes (old: an overlay state, or WB_ARRIVED) are no
 * longer shown, freed once the map that says so is durable (after the
 * next fsync's sync of the map), unless the chunk is back in that state
 * by then.  A power cut must not find the old state and no bytes. */
struct wb_left {
	uint32_t i;
	uint8_t old;
};

struct wb_stream; /* wblob_stream.c */
struct wb_arr;    /* wblob_arr.c */

struct blob_wblob {
	blob_store *s;
	blob_key *key;         /* SPEC §17: chunks sealed, overlay encrypted (NULL: plain) */
	struct blob_xts xts;   /* with a key: the overlay's sector keys */
	int map_fd;
	pthread_rwlock_t lock;
	blob_manifest *base; /* never NULL: an empty manifest for "no base" */
	uint64_t size;
	uint32_t base_limit;
	uint64_t state_off; /* WB_HEADER + baselen */
	struct blob_radix state; /* one byte per chunk, 0 where absent */
	struct blob_radix sid;   /* the chunk a WB_STORED, WB_STREAMED or WB_PATCHED chunk shows */
	/* A WB_PATCHED chunk's blocks written (WB_BLOCKS bits; set by atomic
	 * ORs under the shared lock, read by atomic loads: wblob_patch.c). */
	struct blob_radix wbits;
	uint32_t ndata;    /* data chunks among the first nchunks(size) */
	uint64_t map_len;  /* current length of the map */
	struct wb_file data;     /* <name>.data */
	struct wb_file *ext;     /* WB_NSEG (fd -1: not open), once one is needed */
	/* Guards what readers may open or change under the shared lock: the
	 * .data.<k> and .ids descriptors, the arrived chunks' directory and
	 * flags, the leftovers. */
	pthread_mutex_t ext_lock;
	int ids_fd;            /* <name>.ids, -1 until needed */
	bool ids_new;          /* created by this handle: its name not yet synced */
	struct wb_held held[WB_NHELD];
	struct wb_left *left;  /* under ext_lock */
	uint32_t left_len, left_cap;
	/* A cluster wblob (wblob_cluster.c): its open disk and its backend's
	 * table; NULL for a host wblob, whose files the fields above are. */
	struct blob_backend_disk *cl;
	const struct blob_backend_disks *cx;
	/* Its chunks held busy, under ext_lock; busy_cv signals a range
	 * given back. */
	struct wb_busy busy[WB_BUSY_MAX];
	unsigned nbusy, busy_want_all;
	pthread_cond_t busy_cv;
	/* Whole chunks whose record still names the record before it too
	 * (wblob_cluster.c "A record beside its chunk"), under ext_lock. */
	struct wb_conf conf[WB_CONF_MAX];
	unsigned nconf;
	struct wb_rq *rq; /* its record sets, together (wblob_recs.c), under ext_lock */
	/* Whole chunks answered before they landed (wblob_ahead.c), under
	 * ext_lock; nahead also read without it (a read's fast path).  Of
	 * those that failed: how many, and the last one's -errno. */
	struct wb_ahead *ahead;
	unsigned nahead;
	uint64_t ahead_seq, ahead_fails;
	int ahead_err;
	/* Open only: the records read naming two, resolved before it returns. */
	struct wb_unsure *unsure;
	uint32_t nunsure, unsure_cap;
	bool reader;              /* blob_wblob_open_reader's: no writes */
	bool damaged;             /* open only: its header or a record read and not decoded */
	struct wb_stream *stream; /* an upload's (blob_wblob_stream), else NULL */
	struct wb_arr *arr;       /* a plain wblob that does not stream, else NULL */
	char name[WB_NAME_MAX + 1];
};
IMGFS_LOCK_LEVEL(blob_wblob_lock, 30); /* the rwlock; then the stream's batch_lock, the leaves (blobstore_int.h) */
IMGFS_LOCK_LEVEL(blob_wblob_ext_lock, 50); /* a leaf */

/* ---- wblob_file.c: the files ----------------------------------------------- */

bool wb_name_ok(const char *name);
/* File names in wblobs/: "<name>.<ext>", "<name>.data.<k>". */
void wb_file(char out[WB_FILE_MAX], const char *name, const char *ext);
void wb_ext_file(char out[WB_FILE_MAX], const char *name, uint32_t k);
/* .data.<k>, opened (created, fsynced and named durably when create) on
 * first need: *out, or NULL when it does not exist and create is false. */
int wb_ext_open(blob_wblob *w, uint32_t k, bool create, struct wb_file **out);
/* Where chunk i's bytes are in overlay state st: *f (NULL when that file
 * does not exist and create is false: all zeros) and the chunk's offset
 * in it. */
int wb_overlay_at(blob_wblob *w, uint32_t i, enum wb_state st, bool create, struct wb_file **f, uint64_t *off);
/* Bytes as they are into fd at off, in the pieces the page cache wants
 * (wblob_file.c); 0 or -errno. */
int wb_pwrite_pieces(int fd, const void *buf, size_t n, uint64_t off);
/* The same into f, its len kept. */
int wb_file_pwrite(struct wb_file *f, const void *buf, size_t n, uint64_t off);
/* A run of sequential writes handed to writeback now and then. */
void wb_file_ran(struct wb_file *f, size_t n, uint64_t off);
/* The plain zeroing of [off, off + len) of f: a hole punched. */
int wb_zero_plain(struct wb_file *f, uint64_t off, uint64_t len);
int wb_file_truncate(struct wb_file *f, uint64_t len);
/* Where an overlay file may be cut to keep what lies below len: len, or,
 * encrypted, the end of its sector. */
uint64_t wb_cut_at(const blob_wblob *w, uint64_t len);
/* The overlays beyond new_size lose what lies there: .data cut, a
 * .data.<k> cut where the end falls in it, removed when wholly beyond
 * (best effort: all of it is invisible). */
void wb_overlays_shrink(blob_wblob *w, uint64_t old_size, uint64_t new_size);
/* Every overlay file's bytes durable. */
int wb_overlays_sync(blob_wblob *w);
/* <name>.ids, opened (created when `create`) on first need. */
int wb_open_ids(blob_wblob *w, bool create);
/* The same for a reader (under ext_lock): 0, -ENOENT, -errno. */
int wb_open_ids_shared(blob_wblob *w);
/* The .ids records written so far durable, and its name once. */
int wb_ids_sync(blob_wblob *w);

/* ---- wblob_cluster.c and wblob_patch.c: a cluster wblob (wblob_cl.h) ---------- */

#include "wblob_cl.h"

/* ---- wblob_state.c: states, the map, held chunks, leftovers ----------------- */

uint64_t wb_chunk_start(uint32_t i);
enum wb_state wb_state_of(const blob_wblob *w, uint32_t i);
bool wb_is_overlay(enum wb_state st);
/* The chunk's object (file region) holds bytes it shows: an overlay
 * state, or WB_PATCHED. */
bool wb_has_own_bytes(enum wb_state st);
enum wb_state wb_overlay_state(uint32_t i);
const chunk_id *wb_stored_id(const blob_wblob *w, uint32_t i);
size_t wb_stored_len(const blob_wblob *w, uint32_t i);
/* Chunk i is in memory only (a plug-in holds it). */
bool wb_is_held(const blob_wblob *w, uint32_t i);
bool wb_is_data(const blob_wblob *w, uint32_t i);
/* w->ndata follows chunk i's change: was_data is wb_is_data before it. */
void wb_count_data(blob_wblob *w, uint32_t i, bool was_data);
uint32_t wb_next_data(const blob_wblob *w, uint32_t i, uint32_t n);
uint32_t wb_next(const void *ctx, uint32_t i, uint32_t n, bool want_data);
/* Chunk i's state byte, in memory and in the map (on a failure of the
 * map, back as it was); a chunk leaving WB_ARRIVED leaves its file. */
int wb_set_state(blob_wblob *w, uint32_t i, enum wb_state v);
/* The map's size and base_limit (one 12-byte write). */
int wb_write_header(blob_wblob *w, uint64_t size, uint32_t base_limit);
/* States and ids of chunks >= first forgotten, in memory, then in the
 * map (its failure returned: memory is cleared either way). */
int wb_states_cut(blob_wblob *w, uint32_t first);
/* Chunk i's bytes of state old are a leftover (best effort: out of
 * memory, they stay, unseen, until the chunk's next write or the wblob's
 * removal). */
void wb_left_add(blob_wblob *w, uint32_t i, enum wb_state old);
/* The leftovers so far, handed to the caller (free() them); *n of them. */
struct wb_left *wb_left_take(blob_wblob *w, uint32_t *n);

/* ---- wblob_crypt.c: an encrypted overlay ------------------------------------ */

int wb_crypt_read(blob_wblob *w, struct wb_file *f, void *dst, size_t n, uint64_t off);
int wb_crypt_write(blob_wblob *w, struct wb_file *f, const void *src, size_t n, uint64_t off);
int wb_crypt_zero(blob_wblob *w, struct wb_file *f, uint64_t off, uint64_t len);

/* ---- wblob_arr.c: arrived chunks (the plug-in w->arr) ----------------------- */

/* w->arr for a plain wblob (at open); freed, and arrivals off, by
 * wb_arr_off (streaming, overlay_only). */
int wb_arr_new(blob_wblob *w);
void wb_arr_off(blob_wblob *w);
/* Whole chunk i (len bytes, its length) from src, as an arrived chunk
 * (state 6); the write lock held, w->arr set.  The chunk's old overlay
 * bytes are a leftover. */
int wb_arr_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t len);
/* Bytes [a, a + n) of chunk i, in state 6 (zeros past its file's end);
 * with or without w->arr. */
int wb_arr_read(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n);
/* Chunk i's file's name goes now (best effort). */
void wb_arr_drop(blob_wblob *w, uint32_t i);
/* Every chunk arrived since the last call durable, with its name. */
int wb_arr_sync(blob_wblob *w);
/* Chunk i (state 6, len bytes) for a seal's batch b without reading it:
 * 1 and *id when its record vouches for its file (placed by a link, or
 * found stored), 0 when the caller reads and adds its bytes, -errno. */
int wb_arr_seal(blob_wblob *w, uint32_t i, size_t len, blob_batch *b, chunk_id *id);
/* <name>.arr and every file in it (blob_wblob_remove). */
int wb_arr_remove(blob_store *s, const char *name);
void wb_arr_free(struct wb_arr *a);

/* ---- wblob_chunk.c: one chunk's bytes ---------------------------------------- */

/* Overlay bytes at file offset off of f, through the wblob's key when it
 * has one.  read: bytes past the file's end are zeros. */
int wb_overlay_write(blob_wblob *w, struct wb_file *f, const void *buf, size_t n, uint64_t off);
int wb_overlay_read(blob_wblob *w, struct wb_file *f, void *buf, size_t n, uint64_t off);
int wb_zero_overlay(blob_wblob *w, struct wb_file *f, uint64_t off, uint64_t len);
/* Zeroes [a, a + n) of chunk i's overlay bytes in overlay state st. */
int wb_zero_chunk(blob_wblob *w, uint32_t i, enum wb_state st, size_t a, size_t n);
/* Bytes [a, a + n) of chunk i as its state places them: its overlay, its
 * arrived file, its stored chunk (the base's, or a stored one; a
 * WB_STREAMED chunk's only once its batch committed) or zeros.  Not a
 * held chunk's (the core asks the plug-in first). */
int wb_read_placed(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n);
/* Makes chunk i's overlay bytes, where overlay state st puts them, hold
 * the first `keep` bytes its stored chunk shows and zeros after.  Does not
 * change the state byte. */
int wb_copy_stored(blob_wblob *w, uint32_t i, enum wb_state st, size_t keep);
/* A cluster wblob's wb_copy_stored and the write of n bytes at a in one
 * operation (a first write into a stored chunk: one round trip less). */
int wb_cl_copy_stored_patched(blob_wblob *w, uint32_t i, size_t keep, const void *src, size_t a, size_t n);
/* [a, a + n) of chunk i's overlay bytes in overlay state st from src. */
int wb_chunk_write(blob_wblob *w, uint32_t i, enum wb_state st, size_t a, const void *src, size_t n);
/* What a copy into the overlay needs before the state byte that shows it:
 * those bytes durable (a host wblob's fdatasync; a cluster's are). */
int wb_chunk_barrier(blob_wblob *w, uint32_t i, enum wb_state st);
/* Chunk i's old bytes in state old (an overlay state) freed: they are no
 * longer shown (best effort). */
void wb_chunk_free(blob_wblob *w, uint32_t i, enum wb_state old);
/* Chunk i, whole (len bytes, its length), into its overlay and its state
 * an overlay one (counted as data): nothing to copy first. */
int wb_write_whole(blob_wblob *w, uint32_t i, const uint8_t *src, size_t len);

/* ---- wblob_stream.c: the upload streamer (the plug-in w->stream) ----------- */

int wb_stream_new(blob_wblob *w);
void wb_stream_free(blob_wblob *w);
/* A write into chunk i of a streaming wblob: a whole chunk to the store,
 * anything less into the stage. */
int wb_stream_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n);
/* The one question the core asks before it changes a chunk's state or
 * the size: nothing held any more (the stage stored, the chunk being
 * sealed in the batch), every chunk in a state the core knows. */
int wb_stream_settle(blob_wblob *w);
/* Makes every streamed chunk WB_STORED, durably (see "Streaming"). */
int wb_stream_sync(blob_wblob *w);
/* Makes every streamed chunk readable by its name in the store. */
int wb_stream_commit(blob_wblob *w);
/* A held chunk's bytes [a, a + n): 1 when chunk i is held, else 0. */
int wb_stream_read(const blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n);
/* The pending list's chunks no longer streamed dropped (states cleared). */
void wb_stream_compact(blob_wblob *w);
uint32_t wb_stream_pend_cap(const blob_wblob *w);
uint64_t wb_stream_sealed_beside(const blob_wblob *w);

/* ---- wblob_open.c ------------------------------------------------------------- */

/* The ids host wblobs (the store's directory) keep. */
int blob_wblob_add_host_ids(blob_store *s, blob_idset *set);

/* ---- wblob.c: the core, for the copies ------------------------------------- */

/* Bytes [a, a + n) of chunk i as the blob shows it. */
int wb_read_chunk(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n);
/* [a, a + n) of chunk i from src, the size covering it, as pwrite does
 * on a wblob that does not stream. */
int wb_write_chunk(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n);
/* blob_wblob_punch under the write lock, on a wblob that does not stream. */
int wb_punch_locked(blob_wblob *w, uint64_t off, uint64_t len);
int wb_grow(blob_wblob *w, uint64_t new_size);
int wb_truncate_locked(blob_wblob *w, uint64_t size);

#endif

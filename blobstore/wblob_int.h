/*
 * wblob_int.h — what the writable blob's files share: the handle, the
 * on-disk constants and the helpers over chunk states and overlay files.
 * Nothing outside blobstore/wblob*.c includes it.
 *
 * The design — the on-disk format, the crash-safety order of every step,
 * streaming, punching, sealing — is described once, in wblob.c's header
 * comment; the files are:
 *   wblob.c       the format; chunk states (the state radix, the
 *                 streamed ids, the pending list), the overlay files,
 *                 size changes (grow, shrink)
 *   wblob_open.c  a wblob's life: create, open (loading the map and the
 *                 .ids), close, remove, list, the ids gc must keep
 *   wblob_io.c    reads, writes (copy-on-write, streaming, the stage),
 *                 punches, truncate, seek, fsync and seal
 *   wblob_crypt.c the overlay of an encrypted wblob (SPEC §17): reads,
 *                 writes and zeroing by whole XTS sectors
 */
#ifndef IMGFS_WBLOB_INT_H
#define IMGFS_WBLOB_INT_H

#include "blobstore_int.h"

#define WB_MAGIC "IMGFSWB1"
#define WB_HEADER 24
#define WB_NAME_MAX 64
#define WB_FILE_MAX (WB_NAME_MAX + 16) /* "<name>.data.<k>" */
#define WB_IDS_REC (2 * sizeof(chunk_id)) /* a .ids record: synced id, pending id */

/* Chunk states, as the map stores them (one byte a chunk, these values:
 * an on-disk format): what each means and which moves are crash-safe is
 * at the top of wblob.c.  Held in memory as enum wb_state, stored as
 * uint8_t (the map, the state radix, struct wb_punch). */
enum wb_state {
	WB_BASE = 0,
	WB_OVERLAY = 1,
	WB_STORED = 2,
	WB_STREAMED = 3,
	WB_HOLE = 4,
	WB_OVERLAY_EXT = 5,
	WB_ARRIVED = 6,
};

/* Overlay files: .data for the chunks below WB_SEG_CHUNKS, .data.<k> for
 * each further WB_SEG_CHUNKS (8 TiB: ext4's 16 TiB file cap, minus its
 * last block, holds no 2^24 whole chunks). */
#define WB_SEG_SHIFT 23
#define WB_SEG_CHUNKS (1u << WB_SEG_SHIFT)
#define WB_NSEG ((UINT32_MAX >> WB_SEG_SHIFT) + 1)
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
	 * (wb_overlay_write, wblob.c). */
	uint64_t run_at, run_end;
};

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
	uint32_t ndata;    /* data chunks among the first nchunks(size) */
	uint64_t map_len;  /* current length of the map */
	struct wb_file data;     /* <name>.data */
	struct wb_file *ext;     /* WB_NSEG (fd -1: not open), once one is needed */
	pthread_mutex_t ext_lock; /* readers open .data.<k> files too */
	/* Streaming (blob_wblob_stream; see "Streaming" above). */
	bool streaming;
	struct blob_radix sid; /* the chunk a WB_STORED or WB_STREAMED chunk shows */
	uint32_t *pend;        /* every WB_STREAMED chunk (and maybe some that left it) */
	uint32_t pend_len, pend_cap;
	int ids_fd;            /* <name>.ids, -1 until the first streamed chunk */
	bool ids_new;          /* created by this handle: its name not yet synced */
	blob_batch *batch;     /* the streamed chunks' batch, NULL until needed */
	pthread_mutex_t batch_lock; /* a reader's commit against another's */
	bool uncommitted;      /* chunks added since the batch's last commit */
	struct wb_punch { uint32_t i; uint8_t st; } *punch; /* overlay chunks streamed over, to free */
	uint32_t npunch, punch_cap;
	uint8_t *stage;        /* BLOB_CHUNK_SIZE: the chunk being written */
	bool staged;           /* stage holds chunk stage_i, whole */
	uint32_t stage_i;
	size_t stage_end;      /* stage bytes from here on are zeros not yet written */
	/* An encrypted upload's last whole chunk, sealed by `sealer` beside
	 * the writes that follow (see "Streaming"). */
	blob_sealer *sealer;   /* NULL until the first */
	uint8_t *seal_buf;     /* BLOB_CHUNK_SIZE: chunk seal_i, plaintext, whole */
	uint8_t *seal_obj;     /* the sealed chunk, once the sealer is done */
	bool sealing;          /* seal_buf holds chunk seal_i, not yet in the batch */
	uint32_t seal_i;
	uint64_t sealed_beside; /* chunks handed to the sealer, counted */
	/* Arrived chunks (wblob_arr.c): <name>.arr, opened on first need
	 * (under ext_lock, as are the two flags). */
	int arr_fd;
	bool arr_dirty;        /* a chunk arrived since the last fsync */
	bool arr_new;          /* <name>.arr made by this handle: its name not yet synced */
	bool overlay_only;     /* blob_wblob_overlay_only: no chunk arrives */
	uint32_t *arr_gone;    /* chunks that left state 6: files to unlink at the next fsync */
	uint32_t arr_gone_len, arr_gone_cap;
	char name[WB_NAME_MAX + 1];
};

/* ---- wblob.c -------------------------------------------------------------- */

bool wb_name_ok(const char *name);
/* File names in wblobs/: "<name>.<ext>", "<name>.data.<k>". */
void wb_file(char out[WB_FILE_MAX], const char *name, const char *ext);
void wb_ext_file(char out[WB_FILE_MAX], const char *name, uint32_t k);
uint64_t wb_chunk_start(uint32_t i);
enum wb_state wb_state_of(const blob_wblob *w, uint32_t i);
bool wb_is_overlay(enum wb_state st);
enum wb_state wb_overlay_state(uint32_t i);
const chunk_id *wb_stored_id(const blob_wblob *w, uint32_t i);
size_t wb_stored_len(const blob_wblob *w, uint32_t i);
bool wb_is_staged(const blob_wblob *w, uint32_t i);
/* Chunk i is in memory only: staged, or being sealed. */
bool wb_is_held(const blob_wblob *w, uint32_t i);
bool wb_is_data(const blob_wblob *w, uint32_t i);
uint32_t wb_next_data(const blob_wblob *w, uint32_t i, uint32_t n);
uint32_t wb_next(const void *ctx, uint32_t i, uint32_t n, bool want_data);
void wb_pend_compact(blob_wblob *w);
int wb_pend_add(blob_wblob *w, uint32_t i);
int wb_set_state(blob_wblob *w, uint32_t i, enum wb_state v);
int wb_overlay_at(blob_wblob *w, uint32_t i, enum wb_state st, bool create, struct wb_file **f, uint64_t *off);
/* Bytes as they are into f at off, in the pieces the page cache wants
 * (wblob.c, "Overlay bytes"); 0 or -errno. */
int wb_overlay_pwrite(struct wb_file *f, const void *buf, size_t n, uint64_t off);
/* The same into any file fd. */
int wb_pwrite_pieces(int fd, const void *buf, size_t n, uint64_t off);
/* Overlay bytes at file offset off of f, through the wblob's key when it
 * has one (wblob_crypt.c).  read: bytes past the file's end are zeros. */
int wb_zero_overlay(blob_wblob *w, struct wb_file *f, uint64_t off, uint64_t len);
int wb_zero_chunk(blob_wblob *w, uint32_t i, enum wb_state st, size_t a, size_t n);
int wb_overlay_write(blob_wblob *w, struct wb_file *f, const void *buf, size_t n, uint64_t off);
int wb_overlay_read(blob_wblob *w, struct wb_file *f, void *buf, size_t n, uint64_t off);
/* Where an overlay file may be cut to keep what lies below len: len, or,
 * encrypted, the end of its sector. */
uint64_t wb_cut_at(const blob_wblob *w, uint64_t len);
int wb_stream_commit(blob_wblob *w);
int wb_read_chunk(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n);
int wb_copy_stored(blob_wblob *w, uint32_t i, enum wb_state st, size_t keep, struct wb_file **out);
int wb_open_ids(blob_wblob *w, bool create);
int wb_grow(blob_wblob *w, uint64_t new_size);
int wb_truncate_locked(blob_wblob *w, uint64_t size);

/* The plain zeroing of [off, off + len) of f (wblob.c): a hole punched. */
int wb_zero_plain(struct wb_file *f, uint64_t off, uint64_t len);

/* ---- wblob_crypt.c ---------------------------------------------------------- */

int wb_crypt_read(blob_wblob *w, struct wb_file *f, void *dst, size_t n, uint64_t off);
int wb_crypt_write(blob_wblob *w, struct wb_file *f, const void *src, size_t n, uint64_t off);
int wb_crypt_zero(blob_wblob *w, struct wb_file *f, uint64_t off, uint64_t len);

/* ---- wblob_arr.c ---------------------------------------------------------- */

/* Whether whole-chunk writes arrive as files (a plain wblob that does
 * not stream: an instance disk). */
bool wb_arr_on(const blob_wblob *w);
/* Whole chunk i (len bytes, its length) from src, as an arrived chunk
 * (state 6); the write lock held. */
int wb_arr_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t len);
/* Bytes [a, a + n) of chunk i, in state 6 (zeros past its file's end). */
int wb_arr_read(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n);
/* Chunk i's file's name goes now (best effort: beyond a shrink's end). */
void wb_arr_drop(blob_wblob *w, uint32_t i);
/* Chunk i left state 6: its file's name goes once the map that says so
 * is durable (the next fsync), never before. */
void wb_arr_forget(blob_wblob *w, uint32_t i);
/* After the map's fsync: the names wb_arr_forget listed go. */
void wb_arr_sweep(blob_wblob *w);
/* Every chunk arrived since the last call durable, with its name. */
int wb_arr_sync(blob_wblob *w);
/* Chunk i (state 6, len bytes) for a seal's batch b without reading it:
 * 1 and *id when its record vouches for its file (placed by a link, or
 * found stored), 0 when the caller reads and adds its bytes, -errno. */
int wb_arr_seal(blob_wblob *w, uint32_t i, size_t len, blob_batch *b, chunk_id *id);
/* <name>.arr and every file in it (blob_wblob_remove). */
int wb_arr_remove(blob_store *s, const char *name);

/* ---- wblob_io.c ----------------------------------------------------------- */

/* Makes every streamed chunk WB_STORED, durably (see "Streaming"). */
int wb_stream_sync(blob_wblob *w);

#endif

/*
 * blob_format.h — the blob store's on-disk format: what a region's store
 * holds, where, and in which encoding.  For whoever reads a store
 * directory (fsck, an operator, a migration) and for the code that
 * writes it; the API is blobstore.h, the backends' table blob_backend.h.
 * Changing anything here changes what existing state directories mean.
 *
 * Where a region's store lives (blob_store_open_spec; SPEC §13)
 *   ""              chunks and wblobs in the region's directory <state>/regions/<name>
 *   "dir:PATH"      chunks and wblobs in PATH (a local or shared directory)
 *   "rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]"
 *                   chunks in a Ceph RADOS pool, one object per chunk named by
 *                   its id (backend/rados.c); wblobs and tmp/ stay in the
 *                   region's directory on this host (instances run on one host)
 *
 * On-disk layout of one region store (the local-directory backend)
 *   <dir>/chunks/<xx>/<32 hex>   chunk files, read-only (0444) once placed;
 *                                <xx> = first two hex digits of the id
 *   <dir>/tmp/                   chunk files being written (never read)
 *   <dir>/wblobs/<name>.map      wblob header + one state byte per chunk (sparse)
 *   <dir>/wblobs/<name>.data     wblob overlay, sparse, virtual size long up to 8 TiB
 *   <dir>/wblobs/<name>.data.<k> the overlay of the k-th further 8 TiB, made on
 *                                first write there (wblob.c)
 *   <dir>/wblobs/<name>.ids      ids of streamed chunks (uploads)
 *   Chunk placement: write to tmp/, fsync, link() into chunks/<xx>/ (link
 *   never replaces), unlink the temp name, fsync the directory; batches do
 *   each step for many chunks at once (backend/local.c: a name never
 *   appears before its bytes are durable).
 *
 * Manifest encoding (stored by model/ in SQLite as an opaque BLOB)
 *   "IMGFSMF1"  8 bytes magic
 *   size        u64 little-endian, virtual size in bytes
 *   count       u32 LE, number of data (non-hole) entries
 *   entries     count x { index u32 LE, id 16 bytes }, strictly ascending index
 *
 * Writable blobs (wblob.c has the format in full, with the order of
 * every step):
 *   <name>.map    "IMGFSWB1", u64 size, u32 base_limit, u32 baselen, the
 *                 base manifest, then one state byte per chunk (sparse;
 *                 the values are enum wb_state, below)
 *   <name>.data, <name>.data.<k>  the overlays (8 TiB each, sparse)
 *   <name>.ids    WB_IDS_REC bytes per chunk: the id a stored chunk shows,
 *                 then the id of one streamed since the last fsync (or,
 *                 for an arrived chunk, its boot and inode)
 *   <name>.arr/<i hex>  an arrived chunk's bytes (wblob_arr.c)
 */
#ifndef IMGFS_BLOB_FORMAT_H
#define IMGFS_BLOB_FORMAT_H

#include <stdint.h>

#define BLOB_CHUNK_SHIFT 20
#define BLOB_CHUNK_SIZE (1u << BLOB_CHUNK_SHIFT) /* 1 MiB: see docs/design.md */
#define BLOB_SECRET_SIZE 192                     /* >= XXH3_SECRET_SIZE_MIN */

/* A manifest's magic (manifest.c has the encoding's checks). */
#define BLOB_MANIFEST_MAGIC "IMGFSMF1"

/* ---- writable blobs -------------------------------------------------------- */

#define WB_MAGIC "IMGFSWB1"
#define WB_HEADER 24
#define WB_IDS_REC 32 /* a .ids record: two 16-byte slots */

/* Chunk states, as the map stores them (one byte a chunk, these values:
 * an on-disk format): what each means and which moves are crash-safe is
 * at the top of wblob.c.  Held in memory as enum wb_state, stored as
 * uint8_t (the map, the state radix, the leftovers). */
enum wb_state {
	WB_BASE = 0,
	WB_OVERLAY = 1,
	WB_STORED = 2,
	WB_STREAMED = 3,
	WB_HOLE = 4,
	WB_OVERLAY_EXT = 5,
	WB_ARRIVED = 6,
	/* A cluster wblob's only (a host wblob never has it): the chunk reads
	 * from a stored chunk (its record's id, as WB_STORED's) except the
	 * WB_BLOCK_SIZE blocks written since, which are in its object, each
	 * marked by a key of that object's omap (wblob_patch.c). */
	WB_PATCHED = 7,
};

/* A patched chunk's blocks: 256 of 4 KiB (a guest's and fio's write). */
#define WB_BLOCK_SHIFT 12
#define WB_BLOCK_SIZE (1u << WB_BLOCK_SHIFT)
#define WB_BLOCKS (BLOB_CHUNK_SIZE >> WB_BLOCK_SHIFT)

/* Overlay files: .data for the chunks below WB_SEG_CHUNKS, .data.<k> for
 * each further WB_SEG_CHUNKS (8 TiB: ext4's 16 TiB file cap, minus its
 * last block, holds no 2^24 whole chunks). */
#define WB_SEG_SHIFT 23
#define WB_SEG_CHUNKS (1u << WB_SEG_SHIFT)
#define WB_NSEG ((UINT32_MAX >> WB_SEG_SHIFT) + 1)

#endif

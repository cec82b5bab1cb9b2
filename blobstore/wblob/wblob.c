/*
 * wblob.c — writable blobs: a base manifest plus a copy-on-write overlay.
 * This file has the design and the format (below) and the core: reads,
 * writes, zeros and punches, size changes, seek and fsync.  The core
 * stands on layers (a chunk's bytes, its state, the files) and has two
 * plug-ins, the upload streamer and the arrived chunks, each behind one
 * pointer of the handle; wblob_int.h lists the files and what they share.
 *
 * Who calls it: model/ creates, seals and removes them (instance disks,
 * uploads in progress, captures); fs/ reads, writes, truncates, seeks and
 * fsyncs them on behalf of the guest or the uploader.  Writers (pwrite,
 * truncate) are serialised by the caller — except a cluster wblob's,
 * which come side by side (a guest's queue) — and preads may run
 * concurrently with each other.  An internal rwlock (writers exclusive;
 * preads, seeks, seal, fsync and the getters shared) makes a read that
 * races a writer safe too; a cluster wblob's writes that only touch a
 * chunk's object, or change one chunk's state, run under the shared lock
 * (cluster_write_shared, cluster_write_busy; wblob_cluster.c "Busy
 * chunks").
 *
 * On disk, in <dir>/wblobs/ (all integers little-endian):
 *   <name>.map
 *     0   "IMGFSWB1"     magic
 *     8   u64 size       current virtual size
 *     16  u32 base_limit base chunks with index < base_limit are visible;
 *                        the rest read as holes (see "Shrinking")
 *     20  u32 baselen    length of the encoded base manifest
 *     24  base manifest  blob_manifest_encode() bytes, written once
 *     24+baselen         one state byte per chunk index; bytes past the end
 *                        of the file are 0 (the file is sparse: a byte is
 *                        written only when its chunk's state changes)
 *       state 0: the chunk reads from the base (base chunk bytes, then zeros
 *                up to the chunk's length; a hole if the base has none)
 *       state 1: .data holds the whole chunk at offset index << 20
 *       state 2: the chunk is a stored chunk of BLOB_CHUNK_SIZE bytes (the
 *                null id: zeros) whose id is record i's first slot in .ids
 *       state 4: a hole (punched: blob_wblob_punch): reads as zeros, is
 *                stored nowhere, whatever the base or the overlay hold
 *       state 5: (index >= WB_SEG_CHUNKS only) .data.<k>, k = index >>
 *                WB_SEG_SHIFT, holds the whole chunk at offset (index mod
 *                WB_SEG_CHUNKS) << 20
 *       state 6: an arrived chunk: <name>.arr/<i> holds it, written whole
 *                (wblob_arr.c: instance disks, so that a capture links it
 *                into the store instead of copying it); record i of .ids
 *                holds its id, with the boot and inode it is good for
 *       state 7: (a cluster wblob's only: never in a map) a patched chunk:
 *                its stored chunk (the record's id) but for the 4 KiB
 *                blocks written since, in its object, each marked by a key
 *                of that object set in the same operation (wblob_patch.c
 *                has the format and the order of its steps)
 *   <name>.data   the overlay of chunks below WB_SEG_CHUNKS (8 TiB): sparse,
 *                 as long as the virtual size up to that; bytes past its
 *                 end read as zeros
 *   <name>.data.<k>  (1 <= k < WB_NSEG) the overlay of chunks [k, k + 1) x
 *                 WB_SEG_CHUNKS, made on their first write, sparse, bytes
 *                 past its end zeros.  ext4 caps a file at 16 TiB (4 KiB
 *                 blocks), so one overlay as long as a 4 PiB disk cannot
 *                 exist; 8 TiB per file keeps every chunk whole under that
 *                 cap (the cap is 16 TiB - 4 KiB, so 2^24 chunks would not).
 *                 Which file holds a chunk is in its state byte, not
 *                 derived from its index alone: a state-1 chunk beyond 8
 *                 TiB (written into .data by imgfs before the .data.<k>
 *                 files, on a file system that allowed it) stays readable
 *                 where it is.  New chunks there are written as state 5.
 *   <name>.ids    only once a chunk was streamed (below): 32 bytes per
 *                 chunk index, the id a state-2 chunk shows, then the id of
 *                 a chunk streamed since the last fsync (read by gc only);
 *                 sparse like the map
 *   size and base_limit sit side by side and change together in one 12-byte
 *   pwrite.  The .map is created complete (temp file in <dir>/tmp, fsync,
 *   link() into place, so an existing name is -EEXIST); the .data follows
 *   (open creates it when a crash lost it before any chunk was written
 *   there: an absent overlay is all zeros and all states are 0 at
 *   creation; absent or shorter than a state-1 chunk's start, it was lost
 *   outside imgfs: -EIO, never zeros, wblob_open.c open_data); a .data.<k>
 *   is created, fsynced and its name synced by the first write of a chunk
 *   in its range, before any state byte says 5 (a chunk copied there from
 *   the base must not vanish with its file at a power cut).  remove
 *   unlinks .map first.  Old state directories need nothing: a map without
 *   state 5 is read as it always was.
 *
 * In memory (SPEC §12 "Bounded by design"): the state bytes and the
 * streamed ids are blob_radix sparse arrays (radix.c), allocated by the
 * leaf where a chunk's state is not 0, so an open wblob costs what was
 * written to it (about 1 byte per written MiB plus 4 KiB per 4 GiB range
 * touched), never its virtual size.  open reads only the map's allocated
 * blocks (SEEK_DATA / SEEK_HOLE) and only the .ids records of state-2
 * chunks.  Everything that visits chunks (open, seek, truncate, punch,
 * seal, fsync) walks the data chunks: the base manifest's entries, the
 * radix's non-zero states, the pending list; a run of holes is one step.

 * Writes.  A write covering a whole chunk of a plain wblob that does not
 * stream (an instance disk without a key) makes it arrive (state 6,
 * wblob_arr.c has the order of its steps).  Otherwise, for every chunk a
 * write touches: an overlay state (1 or 5; "the
 * overlay" below is the file its state names, and a chunk that gets one
 * gets 1 below WB_SEG_CHUNKS and 5 from there on) -> write into the
 * overlay.  State 0 (or 2, or 6: their file or stored chunk is what is
 * copied) -> unless the write covers the whole chunk, first zero
 * the overlay's chunk region (punching a hole: a write killed before its
 * state byte may have left bytes there) and copy the base's bytes into it
 * (verified reads through the store's cache); then write the new bytes;
 * then, when base bytes were copied, fdatasync the overlay (a power cut must
 * not persist the state byte ahead of the copied bytes the guest never
 * wrote); then set the state byte.  A process killed at any point leaves the
 * chunk's old content visible, or the new, never a mix of the chunk's two
 * sources.
 *
 * Zeros (not streaming: instance disks).  A write's all-zero piece of a
 * chunk costs nothing where it can (write_zeros, below): into a chunk
 * that reads as zeros it changes nothing, over a whole chunk it is a
 * punch (state 4), inside an overlay chunk its range is punched out of
 * the overlay file, over part of any other data chunk it is punched in
 * the chunk's copy into the overlay (the copy on write every write there
 * makes): a punch, as fallocate's.  So a dense cp of a sparse file
 * (cp --sparse=never, dd) stores only its data (SPEC §2.4).
 *
 * Shrinking and growing.  A shrink writes the header (new size, base_limit
 * lowered to the new chunk count) and then, beyond the new end, clears the
 * state bytes (ftruncate of .map) and the overlays (ftruncate of .data and
 * of a .data.<k> the end falls in, unlink of those wholly beyond), all
 * invisible.  Growth from size S makes [S, new size) read zeros before the
 * header publishes it: .data is truncated to S and, when the chunk holding
 * S is in an overlay, its overlay bytes past S are zeroed (whatever a crash
 * left there), or, if S is inside the chunk and the base shows bytes past
 * S there, it is copied into the overlay (base bytes up to S, zeros after)
 * and set to its overlay state; and state bytes past S are cleared (every
 * chunk past S then reads zeros, whatever its overlay file holds);
 * base_limit drops to the chunk count of S.  Each step is invisible or keeps
 * the content below S, so a kill anywhere is harmless and the next growth
 * redoes it.  A write past the end grows first, then writes.
 *
 * Reads: per chunk the overlay (WB_OVERLAY, WB_OVERLAY_EXT), the base through the store's
 * verified cache (WB_BASE) or zeros.  Seeking: a chunk is data when its
 * state is an overlay one or it shows a stored chunk; stored counts the
 * bytes of those chunks.  Sealing puts every overlay chunk into the store (all-zero
 * ones become holes), links every arrived chunk whose record vouches for
 * its file (wblob_arr.c; else its bytes are read and stored like an
 * overlay chunk's) and reuses the base id of every WB_BASE chunk whose
 * length did not change, so capturing a disk copies nothing it did not
 * write, nor what it wrote in whole chunks; the wblob stays as it was
 * and sealing again gives the same manifest.
 * The chunks go through one blob_batch (batch.c): written by its threads
 * while the next chunk is read and hashed, made durable a batch at a time,
 * and the seal commits the batch — every chunk and its name durable —
 * before it returns the manifest, which the caller then commits.
 * Streaming (uploads: blob_wblob_stream).  A write covering a whole chunk
 * then goes straight into the store through the handle's own blob_batch
 * instead of the overlay, so an upload's bytes are written once and its
 * seal copies nothing.  In memory the chunk is in WB_STREAMED (its id in the
 * sid radix, its index in the pending list and, for gc, in the second slot of its .ids record); on disk its state
 * byte is still the old one.  fsync makes them WB_STORED: it commits the
 * batch (the chunks and their names durable), writes the ids into the
 * first slots and syncs .ids (and, once, the directory naming it), then
 * writes the state bytes and syncs the map; a crash at any point leaves
 * each chunk showing its old content or its new.  So a streaming wblob's
 * whole-chunk writes are durable at the next fsync, not when they return
 * (an upload is only ever trusted after its close fsynced it).  Reading a
 * WB_STREAMED chunk, or writing part of one, commits the batch first (its
 * chunk must be in the store by name).  All-zero chunks become holes.
 * A failed batch stays failed: later writes and fsyncs return its error.
 * Writes of parts of a chunk (cp's rarely fall on chunk boundaries: the
 * first hole of a QCOW2 shifts them all) are gathered in the stage, one
 * chunk buffer, which goes to the store once the chunk is whole (or the
 * next chunk is written): handed to the batch in exchange for another
 * buffer (blob_batch_add_buf), not copied.  An encrypted wblob's whole
 * chunk is sealed beside the writes that follow: held in seal_buf while
 * the sealer (crypt.c) works, shown by reads as the stage is (it keeps its
 * place in the pending list, its state still the old one), and put in the
 * batch, sealed, by the next whole chunk, or by whatever needs the batch
 * or the states first (fsync, truncate); close drops it as it drops the
 * batch's uncommitted chunks.
 *
 * Punching (fallocate punch-hole and zero-range on instance disks).  A
 * range that covers a whole chunk makes it a hole: its state byte becomes 4
 * (one write, atomic), then its overlay bytes are freed (a hole punched in
 * its overlay file; a crash before that leaves them there, invisible: a later partial
 * write zeroes the overlay's chunk region before it copies anything, as
 * for WB_BASE).  Part of a chunk is zeroed where it is: punched out of the
 * overlay in an overlay state; in a chunk that reads from a stored chunk,
 * the stored bytes are copied into the overlay and the range punched
 * there, then fdatasync, then the overlay state — the write's order, so a
 * kill shows the old chunk or the zeroed one.  A chunk that is a hole
 * already is left as it is, and the whole chunks of a range are visited
 * only where they hold data: zero-ranging a PiB of holes is one step.  Not
 * on streaming wblobs (uploads: -EOPNOTSUPP).
 *
 * Copies by reference (blob_wblob_share, SPEC §16: cp of a snapshot onto
 * an instance disk).  A whole chunk of a sealed blob of the same store
 * that lands on a whole chunk here takes its id, as a streamed chunk once
 * synced: its .ids record (the id in both slots) is written and
 * fdatasynced, then its state byte becomes 2 — a crash shows the old
 * chunk or the taken one, and gc keeps the id from then on (it keeps
 * every id a .ids names).  Overlay bytes the chunk had are freed by the
 * next fsync (a leftover: wb_left_add).  The rest of a range (head, tail, a short
 * last chunk, offsets aligned differently within a chunk) is read from
 * the source and written as pwrite writes; holes of the source are
 * punched.  Into a streaming wblob (an upload) the same, once what it
 * streamed so far is settled (wb_stream_sync: the stage stored, pending
 * chunks WB_STORED), so that every chunk is in a state the overlay path
 * knows; later streaming writes take up from a chunk's current content.
 * The model records a hold of the source's blob row before (SPEC §13:
 * the .ids file is this host's alone; the hold is every host's).
 *
 * A seal visits the data chunks only, reports its progress after each (the
 * bytes up to its end: holes count, in one step) and at the end when the
 * last chunk is a hole, and can be stopped there (a capture being
 * unmounted); a stopped seal leaves the wblob as it was, drops what its
 * batch had not committed (never visible) and leaves what it had committed
 * unreferenced (gc drops it after its grace, unless the next seal finds it
 * in the store first).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "wblob_int.h"

/* ---- reads ------------------------------------------------------------------ */

int wb_read_chunk(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	int rc;

	if (w->stream) {
		if ((rc = wb_stream_read(w, i, dst, a, n)) != 0)
			return rc < 0 ? rc : 0;
		/* A streamed chunk is read by its name in the store. */
		if (wb_state_of(w, i) == WB_STREAMED && (rc = wb_stream_commit(w)) < 0)
			return rc;
	}
	return wb_read_placed(w, i, dst, a, n);
}

/* What a copy of chunk i's stored bytes into the overlay reads first: a
 * streamed chunk's batch committed. */
static int placed_ready(blob_wblob *w, uint32_t i)
{
	return w->stream && wb_state_of(w, i) == WB_STREAMED ? wb_stream_commit(w) : 0;
}

/* ---- writes ----------------------------------------------------------------- */

/* Chunk i, whole (BLOB_CHUNK_SIZE bytes), into the store by its id, and
 * WB_STORED with that id (a cluster wblob's write of more than one chunk; one chunk: cluster_write_busy): durable,
 * and stored once, when the call returns; a chunk the store holds is not
 * stored again. */
static int store_whole(blob_wblob *w, uint32_t i, const uint8_t *src)
{
	enum wb_state st = wb_state_of(w, i);
	bool was_data = wb_is_data(w, i);
	const chunk_id *had = blob_radix_get(&w->sid, i);
	chunk_id id, old = {{0}};
	int rc;

	if (had)
		old = *had;
	if ((rc = blob_radix_reserve(&w->sid, i)) < 0 || (rc = blob_store_put_chunk(w->s, &id, src, BLOB_CHUNK_SIZE)) < 0)
		return rc;
	blob_radix_set(&w->sid, i, &id); /* reserved: cannot fail */
	if ((rc = wb_set_state(w, i, WB_STORED)) < 0) {
		blob_radix_set(&w->sid, i, &old);
		return rc;
	}
	if (wb_has_own_bytes(st)) /* invisible now: freed at the next fsync */
		wb_left_add(w, i, st);
	wb_count_data(w, i, was_data);
	return 0;
}

int wb_write_chunk(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	size_t len = blob_chunk_len(w->size, i);
	enum wb_state st = wb_state_of(w, i), to = wb_overlay_state(i);
	size_t keep = 0;
	bool was_data;
	int rc;

	/* A patched chunk's object changes only by patches (a whole short last
	 * chunk too: all its blocks, one operation) while its record says so. */
	if (st == WB_PATCHED && n < BLOB_CHUNK_SIZE)
		return (rc = wb_pt_write_locked(w, i, src, a, n)) < 0 ? rc : 0;
	if (a == 0 && n == len) {
		/* A whole chunk of an instance disk: a file of its own, which a
		 * capture names instead of copying (wblob_arr.c), or, in the
		 * cluster, a stored chunk. */
		if (w->arr)
			return wb_arr_write(w, i, src, len);
		if (w->cl && len == BLOB_CHUNK_SIZE)
			return store_whole(w, i, src);
		return wb_write_whole(w, i, src, len);
	}
	if (wb_is_overlay(st))
		return wb_chunk_write(w, i, st, a, src, n);
	/* A cluster chunk showing a whole stored chunk: patched (wblob_patch.c). */
	if (w->cl && (rc = wb_pt_write_locked(w, i, src, a, n)) != 0)
		return rc < 0 ? rc : 0;
	was_data = wb_is_data(w, i);
	keep = wb_stored_len(w, i) < len ? wb_stored_len(w, i) : len;
	if (w->cl) {
		if ((rc = placed_ready(w, i)) < 0 || (rc = wb_cl_copy_stored_patched(w, i, keep, src, a, n)) < 0)
			return rc;
	} else if ((rc = placed_ready(w, i)) < 0 || (rc = wb_copy_stored(w, i, to, keep)) < 0 ||
	           (rc = wb_chunk_write(w, i, to, a, src, n)) < 0)
		return rc;
	if (keep > 0 && (rc = wb_chunk_barrier(w, i, to)) < 0)
		return rc;
	if ((rc = wb_set_state(w, i, to)) < 0)
		return rc;
	if (!was_data)
		w->ndata++;
	return 0;
}

/* Zeroes [a, a + n) of chunk i, part of it (see "Punching"). */
static int punch_part(blob_wblob *w, uint32_t i, size_t a, size_t n)
{
	size_t len = blob_chunk_len(w->size, i);
	enum wb_state st = wb_state_of(w, i), to = wb_overlay_state(i);
	size_t keep;
	int rc;

	if (!wb_is_data(w, i))
		return 0; /* reads as zeros already */
	if (st == WB_PATCHED) { /* rare: made an overlay chunk first */
		if ((rc = wb_pt_materialise(w, i)) < 0)
			return rc;
		st = wb_state_of(w, i);
	}
	if (wb_is_overlay(st))
		return wb_zero_chunk(w, i, st, a, n);
	keep = wb_stored_len(w, i) < len ? wb_stored_len(w, i) : len;
	if ((rc = placed_ready(w, i)) < 0 || (rc = wb_copy_stored(w, i, to, keep)) < 0 ||
	    (rc = wb_zero_chunk(w, i, to, a, n)) < 0)
		return rc;
	if (keep > 0 && (rc = wb_chunk_barrier(w, i, to)) < 0)
		return rc;
	return wb_set_state(w, i, to);
}

/* Makes chunk i a hole (see "Punching"). */
static int punch_whole(blob_wblob *w, uint32_t i)
{
	enum wb_state old = wb_state_of(w, i);
	int rc;

	if (!wb_is_data(w, i))
		return 0;
	if ((rc = wb_set_state(w, i, WB_HOLE)) < 0)
		return rc;
	w->ndata--;
	/* Best effort: the bytes are invisible from now on, only take room. */
	if (wb_is_overlay(old))
		wb_zero_chunk(w, i, old, 0, BLOB_CHUNK_SIZE);
	else if (old == WB_PATCHED)
		wb_cl_drop(w, i); /* its blocks and their marks */
	return 0;
}

/* Zeros written into [a, a + n) of chunk i of a wblob that does not
 * stream (an instance disk: a dense cp of a sparse source, a guest's
 * zeroing) cost nothing where they can: they are a punch.  A chunk that
 * reads as zeros already is left as it is; a whole chunk of zeros becomes
 * a hole (its state byte, as a write sets one); zeros inside an overlay
 * chunk are punched out of its file, inside any other data chunk punched
 * in its copy into the overlay (the copy any write there makes). */
static int write_zeros(blob_wblob *w, uint32_t i, size_t a, size_t n)
{
	if (a == 0 && n >= blob_chunk_len(w->size, i))
		return punch_whole(w, i);
	return punch_part(w, i, a, n);
}

int wb_punch_locked(blob_wblob *w, uint64_t off, uint64_t len)
{
	uint64_t end;
	uint32_t i, last;
	size_t a, clen;
	int rc = 0;

	IMGFS_ASSERT_WRLOCKED(&w->lock);
	if (off >= w->size || len == 0)
		return 0;
	end = len > w->size - off ? w->size : off + len;
	/* The first chunk, when the range covers part of it only. */
	i = (uint32_t)(off >> BLOB_CHUNK_SHIFT);
	a = (size_t)(off & BLOB_CHUNK_MASK);
	clen = blob_chunk_len(w->size, i);
	if (a != 0 || end - off < clen) {
		size_t n = end - off < clen - a ? (size_t)(end - off) : clen - a;
		if ((rc = punch_part(w, i, a, n)) < 0)
			goto out;
		off += n;
	}
	if (off >= end)
		goto out;
	/* The whole chunks [first, last): only their data chunks change, one
	 * step for every run of holes. */
	i = (uint32_t)(off >> BLOB_CHUNK_SHIFT);
	last = end == w->size ? blob_nchunks(w->size) : (uint32_t)(end >> BLOB_CHUNK_SHIFT);
	for (uint32_t j = wb_next_data(w, i, last); j < last; j = wb_next_data(w, j + 1, last))
		if ((rc = punch_whole(w, j)) < 0)
			goto out;
	/* The last chunk, when the range ends inside it. */
	if (last < blob_nchunks(w->size) && end > wb_chunk_start(last))
		rc = punch_part(w, last, 0, (size_t)(end - wb_chunk_start(last)));
out:
	return rc;
}

/* ---- size changes --------------------------------------------------------- */

/* States beyond the end forgotten, and the streamer's pending list with them. */
static int states_cut(blob_wblob *w, uint32_t first)
{
	int rc = wb_states_cut(w, first);

	if (w->stream)
		wb_stream_compact(w);
	return rc;
}

int wb_grow(blob_wblob *w, uint64_t new_size)
{
	uint64_t old = w->size;
	uint32_t first = blob_nchunks(old);
	uint32_t k = (uint32_t)(old >> BLOB_CHUNK_SHIFT);
	size_t r = (size_t)(old & BLOB_CHUNK_MASK);
	uint32_t limit = w->base_limit < first ? w->base_limit : first;
	uint64_t data_max = (uint64_t)WB_SEG_CHUNKS << BLOB_CHUNK_SHIFT;
	enum wb_state st = r != 0 ? wb_state_of(w, k) : WB_BASE;
	int rc;

	if (st == WB_PATCHED) { /* rare: made an overlay chunk first, whose tail is then zeroed */
		if ((rc = wb_pt_materialise(w, k)) < 0)
			return rc;
		st = wb_state_of(w, k);
	}

	/* Nothing beyond old may show once it is inside the blob (an encrypted
	 * overlay is cut at the end of old's sector: the rest of it is zeroed
	 * below, as a chunk's bytes past old are).  A cluster wblob's chunks
	 * beyond old are objects no state names: written fresh when one does. */
	if (!w->cl && w->data.len > wb_cut_at(w, old) && (rc = wb_file_truncate(&w->data, wb_cut_at(w, old))) < 0)
		return rc;
	if (r != 0 && wb_is_overlay(st)) {
		if ((rc = wb_zero_chunk(w, k, st, r, BLOB_CHUNK_SIZE - r)) < 0)
			return rc;
	} else if (r != 0 && wb_stored_len(w, k) > r) {
		if ((rc = placed_ready(w, k)) < 0 || (rc = wb_copy_stored(w, k, wb_overlay_state(k), r)) < 0 ||
		    (rc = wb_chunk_barrier(w, k, wb_overlay_state(k))) < 0)
			return rc;
		if ((rc = wb_set_state(w, k, wb_overlay_state(k))) < 0)
			return rc;
	}
	/* Beyond the old end the states are 0 in memory already (open loads
	 * none there, shrink clears them) but maybe not in the file. */
	if ((rc = states_cut(w, first)) < 0)
		return rc;
	/* Publish. */
	if ((rc = wb_write_header(w, new_size, limit)) < 0)
		return rc;
	w->size = new_size;
	w->base_limit = limit;
	/* Keeps .data as long as the blob up to its share; not needed for
	 * correctness (past its end it reads as zeros), so a failure does not
	 * fail the grow. */
	if (!w->cl && w->data.len < (new_size < data_max ? new_size : data_max))
		wb_file_truncate(&w->data, new_size < data_max ? new_size : data_max);
	return 0;
}

/* Shrink: publish the new end, then clear what lies beyond it (best
 * effort: all of it is invisible, and the next growth redoes it). */
static int wb_shrink(blob_wblob *w, uint64_t new_size)
{
	uint32_t first = blob_nchunks(new_size), n = blob_nchunks(w->size);
	uint32_t limit = w->base_limit < first ? w->base_limit : first;
	uint64_t old = w->size;
	uint32_t gone = 0;
	int rc;

	for (uint32_t i = wb_next_data(w, first, n); i < n; i = wb_next_data(w, i + 1, n))
		gone++;
	if ((rc = wb_write_header(w, new_size, limit)) < 0)
		return rc;
	/* Arrived files and cluster chunks beyond the end: invisible now,
	 * only take room. */
	for (uint32_t i = wb_next_data(w, first, n); i < n; i = wb_next_data(w, i + 1, n))
		if (wb_state_of(w, i) == WB_ARRIVED)
			wb_arr_drop(w, i);
		else if (w->cl && wb_has_own_bytes(wb_state_of(w, i)))
			wb_cl_drop(w, i);
	w->ndata -= gone;
	w->size = new_size;
	w->base_limit = limit;
	states_cut(w, first);
	if (!w->cl)
		wb_overlays_shrink(w, old, new_size);
	return 0;
}

int wb_truncate_locked(blob_wblob *w, uint64_t size)
{
	IMGFS_ASSERT_WRLOCKED(&w->lock);
	if (size > BLOB_MAX_SIZE)
		return -EFBIG;
	if (size > w->size)
		return wb_grow(w, size);
	if (size < w->size)
		return wb_shrink(w, size);
	return 0;
}

/* ---- the public operations -------------------------------------------------- */

/* The getters take the lock too (getattr may race a write): the handle is
 * never a const object, only seen through a const pointer. */
static pthread_rwlock_t *wb_lock(const blob_wblob *w)
{
	return (pthread_rwlock_t *)&w->lock;
}

uint64_t blob_wblob_size(const blob_wblob *w)
{
	uint64_t size;

	IMGFS_RDLOCK(wb_lock(w), blob_wblob_lock);
	size = w->size;
	IMGFS_RWUNLOCK(wb_lock(w), blob_wblob_lock);
	return size;
}

blob_store *blob_wblob_store(const blob_wblob *w)
{
	return w->s; /* set at open, never changed */
}

const blob_key *blob_wblob_key(const blob_wblob *w)
{
	return w->key; /* set at open, never changed */
}

uint64_t blob_wblob_sealed_beside(const blob_wblob *w)
{
	uint64_t n;

	IMGFS_RDLOCK(wb_lock(w), blob_wblob_lock);
	n = wb_stream_sealed_beside(w);
	IMGFS_RWUNLOCK(wb_lock(w), blob_wblob_lock);
	return n;
}

uint64_t blob_wblob_stored(const blob_wblob *w)
{
	uint32_t n;
	uint64_t stored;

	IMGFS_RDLOCK(wb_lock(w), blob_wblob_lock);
	n = blob_nchunks(w->size);
	stored = (uint64_t)w->ndata << BLOB_CHUNK_SHIFT;
	if (n > 0 && wb_is_data(w, n - 1))
		stored -= BLOB_CHUNK_SIZE - blob_chunk_len(w->size, n - 1);
	IMGFS_RWUNLOCK(wb_lock(w), blob_wblob_lock);
	return stored;
}

ssize_t blob_wblob_pread(blob_wblob *w, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int rc = 0;

	IMGFS_RDLOCK(&w->lock, blob_wblob_lock);
	if (off >= w->size)
		goto out;
	if (len > w->size - off)
		len = (size_t)(w->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		uint64_t pos = off + done;
		uint32_t i = (uint32_t)(pos >> BLOB_CHUNK_SHIFT);
		size_t a = (size_t)(pos & BLOB_CHUNK_MASK);
		size_t n = BLOB_CHUNK_SIZE - a;

		if (n > len - done)
			n = len - done;
		if (w->cl && wb_ah_read(w, i, (uint8_t *)buf + done, a, n))
			rc = 0; /* answered, in flight (wblob_ahead.c) */
		else if ((rc = wb_read_chunk(w, i, (uint8_t *)buf + done, a, n)) < 0)
			goto out;
		done += n;
	}
out:
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	return rc < 0 ? rc : (ssize_t)done;
}

/* A cluster wblob's writes inside chunks already in the overlay change no
 * state: they run under the shared lock, side by side (a guest's queue of
 * writes, each a round trip to the cluster).  1 when done here, 0 when
 * the write needs the exclusive path (a state to change, zeros to punch,
 * a growth), -errno. */
static int cluster_write_shared(blob_wblob *w, const uint8_t *buf, size_t len, uint64_t off)
{
	int rc = 0;

	IMGFS_RDLOCK(&w->lock, blob_wblob_lock);
	if (off + len > w->size)
		goto no;
	for (uint64_t pos = off; pos < off + len;) {
		uint32_t i = (uint32_t)(pos >> BLOB_CHUNK_SHIFT);
		size_t a = (size_t)(pos & BLOB_CHUNK_MASK), n = BLOB_CHUNK_SIZE - a;
		if (n > off + len - pos)
			n = (size_t)(off + len - pos);
		if (!wb_is_overlay(wb_state_of(w, i)) || n == blob_chunk_len(w->size, i) ||
		    blob_is_zero(buf + (pos - off), n))
			goto no;
		pos += n;
	}
	for (uint64_t pos = off; pos < off + len && rc == 0;) {
		uint32_t i = (uint32_t)(pos >> BLOB_CHUNK_SHIFT);
		size_t a = (size_t)(pos & BLOB_CHUNK_MASK), n = BLOB_CHUNK_SIZE - a;
		if (n > off + len - pos)
			n = (size_t)(off + len - pos);
		rc = wb_cl_write(w, i, a, buf + (pos - off), n, false);
		pos += n;
	}
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	return rc < 0 ? rc : 1;
no:
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	return 0;
}

/* What a first write of chunk i (from state st, now to) changes in
 * memory, its record set: under the exclusive lock, chunk i busy (so
 * still in st).  id: a whole chunk's, stored by it. */
static int cluster_publish(blob_wblob *w, uint32_t i, enum wb_state st, enum wb_state to, const chunk_id *id)
{
	bool was_data = wb_is_data(w, i);
	uint8_t b = (uint8_t)to;
	int rc;

	IMGFS_ASSERT_WRLOCKED(&w->lock);
	IMGFS_ASSERT(wb_state_of(w, i) == st);
	if ((rc = blob_radix_reserve(&w->state, i)) < 0 || (id && (rc = blob_radix_reserve(&w->sid, i)) < 0)) {
		wb_cl_set_state(w, i, st); /* best effort: the record back to what memory shows */
		return rc;
	}
	if (id)
		blob_radix_set(&w->sid, i, id); /* reserved: cannot fail */
	blob_radix_set(&w->state, i, &b);
	if (id && wb_has_own_bytes(st)) /* invisible now: freed at the next fsync */
		wb_left_add(w, i, st);
	if (st == WB_PATCHED) /* its written blocks: forgotten */
		blob_radix_set(&w->wbits, i, (uint8_t[WB_MARKS_LEN]){0});
	wb_count_data(w, i, was_data);
	return 0;
}

/* Whole chunk i (buf, not all zeros) stored by its id *id and its record
 * set, side by side (wblob_cluster.c "A record beside its chunk"): one
 * round trip where the put then the record were two.  Chunk i busy,
 * w->lock shared.  2 when both landed (its confirmation pending), or
 * -errno: then the record is set back to the previous one (or left
 * naming both, which the next open resolves: the put did not land, or
 * it did and the chunk shows the new bytes, a write that failed may). */
static int store_beside(blob_wblob *w, uint32_t i, chunk_id *id, const uint8_t *buf)
{
	struct wb_cl_recs *r = malloc(sizeof *r);
	int rc, put;

	if (r == NULL)
		return -ENOMEM;
	blob_store_chunk_id(w->s, id, buf, BLOB_CHUNK_SIZE);
	if ((rc = wb_cl_beside_start(w, i, wb_state_of(w, i), id, r)) < 0) {
		free(r);
		return rc;
	}
	put = blob_store_put_known(w->s, id, buf, BLOB_CHUNK_SIZE);
	rc = wb_cl_beside_wait(w, r);
	free(r);
	if (put < 0) {
		if (rc == 0)
			(void)wb_cl_set_state(w, i, wb_state_of(w, i)); /* what memory still shows */
		return put;
	}
	if (rc < 0)
		return rc;
	wb_cl_confirm_later(w, i, id);
	return 2;
}

/* A cluster wblob's write into one chunk that changes its state — the
 * first write into a chunk not in the overlay (its stored bytes copied
 * with the write's) or a whole chunk (stored by its id) — side by side
 * with other chunks' (wblob_cluster.c "Busy chunks"): the chunk held
 * busy, its bytes then its record under the shared lock, its state in
 * memory under the exclusive lock.  1 when done here, 0 when the write
 * needs the exclusive path (zeros, a growth, more than one chunk, a short
 * last chunk whole), -errno. */
static int cluster_write_busy(blob_wblob *w, const uint8_t *buf, size_t len, uint64_t off, struct wb_ahead *ah)
{
	uint32_t i = (uint32_t)(off >> BLOB_CHUNK_SHIFT);
	size_t a = (size_t)(off & BLOB_CHUNK_MASK), clen = 0, keep;
	enum wb_state st, to = wb_overlay_state(i);
	uint8_t bits[WB_BLOCKS / 8];
	bool zero;
	chunk_id id;
	int rc;

	if (len > BLOB_CHUNK_SIZE - a)
		return 0;
	zero = blob_is_zero(buf, len);
	wb_cl_busy_take(w, i, (uint64_t)i + 1);
	IMGFS_RDLOCK(&w->lock, blob_wblob_lock);
	st = wb_state_of(w, i);
	if (off + len <= w->size)
		clen = blob_chunk_len(w->size, i);
	if (clen == 0 || (len == clen && clen != BLOB_CHUNK_SIZE) || (zero && (st != WB_PATCHED || len == clen))) {
		rc = 0; /* zeros are a punch, but into a patched chunk's part a patch */
	} else if (st == WB_PATCHED && len < BLOB_CHUNK_SIZE) {
		/* Held busy: no other write makes this write's edge blocks whole. */
		if ((rc = wb_pt_write(w, i, buf, a, len, false, bits)) == 0) {
			wb_pt_mark(w, i, bits); /* after the operation returned */
			rc = 1;
		}
	} else if (len == BLOB_CHUNK_SIZE) {
		to = WB_STORED;
		if (ah != NULL)
			wb_ah_start(w, ah, i, buf); /* answered now if it may be */
		rc = store_beside(w, i, &id, buf);
	} else if (wb_is_overlay(st)) { /* its first write came before, while this one waited */
		rc = wb_cl_write(w, i, a, buf, len, false);
		rc = rc < 0 ? rc : 1;
	} else if (wb_pt_can(w, i, st)) {
		/* The object's blocks (started afresh) before the record. */
		to = WB_PATCHED;
		if ((rc = wb_pt_write(w, i, buf, a, len, true, bits)) == 0 && (rc = wb_pt_record(w, i)) == 0)
			rc = 2;
	} else {
		keep = wb_stored_len(w, i) < clen ? wb_stored_len(w, i) : clen;
		/* Bytes before the record that shows them. */
		if ((rc = wb_cl_copy_stored_patched(w, i, keep, buf, a, len)) == 0 && (rc = wb_cl_set_state(w, i, to)) == 0)
			rc = 2;
	}
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	if (rc == 2) {
		IMGFS_WRLOCK(&w->lock, blob_wblob_lock);
		if (to == WB_PATCHED)
			rc = wb_pt_publish(w, i, bits);
		else
			rc = cluster_publish(w, i, st, to, to == WB_STORED ? &id : NULL);
		IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
		rc = rc < 0 ? rc : 1;
	}
	wb_cl_busy_give(w, i, (uint64_t)i + 1);
	if (ah != NULL)
		wb_ah_end(w, ah, rc); /* answered: w may be closed from here on */
	return rc;
}

/* A write; ah (or NULL): how it may be answered ahead (wblob_ahead.c). */
static ssize_t pwrite_at(blob_wblob *w, const void *buf, size_t len, uint64_t off, struct wb_ahead *ah)
{
	size_t done = 0;
	int rc = 0;

	if (w->reader)
		return -EROFS;
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (off > BLOB_MAX_SIZE || len > BLOB_MAX_SIZE - off)
		return -EFBIG;
	if (w->cl && ((rc = cluster_write_shared(w, buf, len, off)) != 0 ||
	              (rc = cluster_write_busy(w, buf, len, off, ah)) != 0))
		return rc < 0 ? rc : (ssize_t)len;

	wb_cl_busy_take(w, 0, WB_BUSY_ALL);
	IMGFS_WRLOCK(&w->lock, blob_wblob_lock);
	if (off + len > w->size && (rc = wb_grow(w, off + len)) < 0)
		goto out;
	while (done < len) {
		uint64_t pos = off + done;
		uint32_t i = (uint32_t)(pos >> BLOB_CHUNK_SHIFT);
		size_t a = (size_t)(pos & BLOB_CHUNK_MASK);
		size_t n = BLOB_CHUNK_SIZE - a;
		const uint8_t *src = (const uint8_t *)buf + done;

		if (n > len - done)
			n = len - done;
		if (w->stream)
			rc = wb_stream_write(w, i, src, a, n);
		else if (blob_is_zero(src, n) && !(wb_state_of(w, i) == WB_PATCHED && n < blob_chunk_len(w->size, i)))
			rc = write_zeros(w, i, a, n);
		else
			rc = wb_write_chunk(w, i, src, a, n);
		if (rc < 0)
			goto out;
		done += n;
	}
out:
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	wb_cl_busy_give(w, 0, WB_BUSY_ALL);
	/* A failure after some chunks were written reports those. */
	return done > 0 ? (ssize_t)done : rc;
}

ssize_t blob_wblob_pwrite(blob_wblob *w, const void *buf, size_t len, uint64_t off)
{
	return pwrite_at(w, buf, len, off, NULL);
}

ssize_t blob_wblob_pwrite_ahead(blob_wblob *w, const void *buf, size_t len, uint64_t off,
                                void (*answer)(void *arg, size_t n), void *arg)
{
	struct wb_ahead ah = {.answer = answer, .arg = arg};

	return pwrite_at(w, buf, len, off, w->cl ? &ah : NULL);
}

int blob_wblob_punch(blob_wblob *w, uint64_t off, uint64_t len)
{
	int rc;

	if (w->reader)
		return -EROFS;
	wb_cl_busy_take(w, 0, WB_BUSY_ALL);
	IMGFS_WRLOCK(&w->lock, blob_wblob_lock);
	rc = w->stream ? -EOPNOTSUPP : wb_punch_locked(w, off, len);
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	wb_cl_busy_give(w, 0, WB_BUSY_ALL);
	return rc;
}

int blob_wblob_truncate(blob_wblob *w, uint64_t size)
{
	int rc = 0;

	if (w->reader)
		return -EROFS;
	wb_cl_busy_take(w, 0, WB_BUSY_ALL);
	IMGFS_WRLOCK(&w->lock, blob_wblob_lock);
	/* A shrink must not cut what the streamer holds. */
	if (w->stream == NULL || (rc = wb_stream_settle(w)) == 0)
		rc = wb_truncate_locked(w, size);
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	wb_cl_busy_give(w, 0, WB_BUSY_ALL);
	return rc;
}

int64_t blob_wblob_seek(blob_wblob *w, uint64_t off, int whence)
{
	int64_t rc;

	if (w->cl)
		(void)blob_wblob_settle(w, NULL); /* a hole written whole and answered is data */
	IMGFS_RDLOCK(&w->lock, blob_wblob_lock);
	rc = blob_seek_chunks(w->size, off, whence, wb_next, w);
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	return rc;
}

void blob_wblob_stream(blob_wblob *w)
{
	IMGFS_WRLOCK(&w->lock, blob_wblob_lock);
	/* Out of memory, it does not stream: its writes go to the overlay,
	 * as correct, only slower. */
	if (w->stream == NULL && w->cl == NULL && wb_stream_new(w) == 0)
		wb_arr_off(w);
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
}

/* After the map's sync: the old bytes of chunks whose new state is now
 * durable go (best effort: they are invisible, and only take room).
 * Under the lock (shared): no chunk changes state meanwhile. */
static void sweep_leftovers(blob_wblob *w)
{
	uint32_t n;

	IMGFS_ASSERT_LOCKED(&w->lock);
	struct wb_left *l = wb_left_take(w, &n);

	for (uint32_t k = 0; k < n; k++) {
		enum wb_state now = wb_state_of(w, l[k].i);

		/* A cluster chunk whose object holds what it shows now (written
		 * anew since: an overlay, or patched) keeps it. */
		if (now == l[k].old || now == WB_STREAMED || (w->cl && wb_has_own_bytes(now)))
			continue;
		if (l[k].old == WB_ARRIVED) {
			wb_arr_drop(w, l[k].i);
		} else if (!w->cl) {
			wb_chunk_free(w, l[k].i, l[k].old);
		} else if (wb_cl_busy_try(w, l[k].i)) {
			/* Not while a first write makes the object anew. */
			wb_chunk_free(w, l[k].i, l[k].old);
			wb_cl_busy_give(w, l[k].i, (uint64_t)l[k].i + 1);
		} else {
			wb_left_add(w, l[k].i, (enum wb_state)l[k].old); /* the next fsync's */
		}
	}
	free(l);
}

int blob_wblob_fsync(blob_wblob *w)
{
	int rc = 0;

	/* Every write answered before now landed (or failed: the caller's
	 * handle says so, blob_wblob_settle). */
	if (w->cl)
		(void)blob_wblob_settle(w, NULL);
	/* Exclusive only when streamed chunks change state. */
	if (w->stream)
		IMGFS_WRLOCK(&w->lock, blob_wblob_lock);
	else
		IMGFS_RDLOCK(&w->lock, blob_wblob_lock);
	if (w->stream && (rc = wb_stream_sync(w)) < 0)
		goto out;
	/* A cluster wblob's acknowledged writes are durable already. */
	if (!w->cl && ((rc = wb_arr_sync(w)) < 0 || (rc = wb_overlays_sync(w)) < 0))
		goto out;
	if (!w->cl && fsync(w->map_fd) < 0) {
		rc = -errno;
		goto out;
	}
	/* Before the sweep: a record naming two names the old object too. */
	if (w->cl && (rc = wb_cl_confirm_all(w)) < 0)
		goto out;
	sweep_leftovers(w);
out:
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	return rc;
}

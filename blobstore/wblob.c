/*
 * wblob.c — writable blobs: a base manifest plus a copy-on-write overlay.
 * This file has the design and the format (below), the chunk states and
 * the overlay files; wblob_open.c a wblob's life (create, open, close,
 * remove, list), wblob_io.c reads, writes, punches, fsync and seal
 * (wblob_int.h lists what they share).
 *
 * Who calls it: model/ creates, seals and removes them (instance disks,
 * uploads in progress, captures); fs/ reads, writes, truncates, seeks and
 * fsyncs them on behalf of the guest or the uploader.  Writers (pwrite,
 * truncate) are serialised by the caller; preads may run concurrently with
 * each other.  An internal rwlock (writers exclusive; preads, seeks, seal,
 * fsync and the getters shared) makes a read that races a writer safe too.
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
 * chunk costs nothing where it can (wblob_io.c write_zeros): into a chunk
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
 * next fsync (the punch list).  The rest of a range (head, tail, a short
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
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>


#include "imgfs_assert.h"
#include "wblob_int.h"

bool wb_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > WB_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

void wb_file(char out[WB_FILE_MAX], const char *name, const char *ext)
{
	snprintf(out, WB_FILE_MAX, "%s.%s", name, ext);
}

void wb_ext_file(char out[WB_FILE_MAX], const char *name, uint32_t k)
{
	snprintf(out, WB_FILE_MAX, "%s.data.%u", name, k);
}

/* ---- chunk state ---------------------------------------------------------- */

uint64_t wb_chunk_start(uint32_t i)
{
	return (uint64_t)i << BLOB_CHUNK_SHIFT;
}

enum wb_state wb_state_of(const blob_wblob *w, uint32_t i)
{
	const uint8_t *p = blob_radix_get(&w->state, i);

	return p ? *p : WB_BASE;
}

bool wb_is_overlay(enum wb_state st)
{
	return st == WB_OVERLAY || st == WB_OVERLAY_EXT;
}

/* The overlay state chunk i gets when it is written into an overlay. */
enum wb_state wb_overlay_state(uint32_t i)
{
	return i < WB_SEG_CHUNKS ? WB_OVERLAY : WB_OVERLAY_EXT;
}

/* The stored chunk chunk i shows: the base's (WB_BASE) or a streamed one
 * (WB_STORED, WB_STREAMED); NULL for none (an overlay, or a hole). */
const chunk_id *wb_stored_id(const blob_wblob *w, uint32_t i)
{
	const chunk_id *id;

	switch (wb_state_of(w, i)) {
	case WB_BASE:
		return i < w->base_limit ? blob_manifest_get(w->base, i) : NULL;
	case WB_STORED:
	case WB_STREAMED:
		id = blob_radix_get(&w->sid, i);
		return id && !chunk_id_is_null(id) ? id : NULL;
	default:
		return NULL;
	}
}

/* Bytes chunk i shows from its stored chunk (before clipping to the
 * chunk's length). */
size_t wb_stored_len(const blob_wblob *w, uint32_t i)
{
	if (wb_state_of(w, i) == WB_ARRIVED) /* its file: zeros past its end */
		return BLOB_CHUNK_SIZE;
	if (wb_stored_id(w, i) == NULL)
		return 0;
	return wb_state_of(w, i) == WB_BASE ? blob_chunk_len(w->base->size, i) : BLOB_CHUNK_SIZE;
}

bool wb_is_staged(const blob_wblob *w, uint32_t i)
{
	return w->staged && w->stage_i == i;
}

bool wb_is_held(const blob_wblob *w, uint32_t i)
{
	return wb_is_staged(w, i) || (w->sealing && w->seal_i == i);
}

bool wb_is_data(const blob_wblob *w, uint32_t i)
{
	enum wb_state st = wb_state_of(w, i);

	return wb_is_held(w, i) || wb_is_overlay(st) || st == WB_ARRIVED || wb_stored_id(w, i) != NULL;
}

/* The first data chunk >= i and < n, n when none.  Candidates are the
 * visible base entries, the chunks whose state is not 0 and the held
 * ones (staged, being sealed): a base entry before the first non-zero state is data (WB_BASE
 * there); a non-zero state may be a hole (4, a streamed zero chunk), then
 * the search goes on after it.  The cost follows those candidates, never
 * n. */
uint32_t wb_next_data(const blob_wblob *w, uint32_t i, uint32_t n)
{
	uint32_t limit = w->base_limit < n ? w->base_limit : n;

	while (i < n) {
		uint32_t k = blob_manifest_find(w->base, i);
		uint32_t b = k < w->base->count && w->base->index[k] < limit ? w->base->index[k] : n;
		uint32_t s;
		uint32_t c;

		if (!blob_radix_next(&w->state, i, &s) || s > n)
			s = n;
		c = b < s ? b : s;
		if (w->staged && w->stage_i >= i && w->stage_i < c)
			c = w->stage_i;
		if (w->sealing && w->seal_i >= i && w->seal_i < c)
			c = w->seal_i;
		if (c >= n || c != s || wb_is_data(w, c))
			return c < n ? c : n;
		i = c + 1;
	}
	return n;
}

/* The first chunk >= i and < n that is not data, n when none: a walk
 * over the data chunks from i. */
static uint32_t wb_next_hole(const blob_wblob *w, uint32_t i, uint32_t n)
{
	while (i < n && wb_is_data(w, i))
		i++;
	return i;
}

uint32_t wb_next(const void *ctx, uint32_t i, uint32_t n, bool want_data)
{
	return want_data ? wb_next_data(ctx, i, n) : wb_next_hole(ctx, i, n);
}

/* Drops from the pending list the chunks no longer in WB_STREAMED and not
 * about to be (the chunk being sealed). */
void wb_pend_compact(blob_wblob *w)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < w->pend_len; k++)
		if (wb_state_of(w, w->pend[k]) == WB_STREAMED || (w->sealing && w->pend[k] == w->seal_i))
			w->pend[n++] = w->pend[k];
	w->pend_len = n;
}

/* The pending list gets chunk i, about to be put in WB_STREAMED (see
 * "Streaming").  It may hold a chunk twice (one that left WB_STREAMED and
 * came back): wb_stream_sync does each once. */
int wb_pend_add(blob_wblob *w, uint32_t i)
{
	if (w->pend_len == w->pend_cap)
		wb_pend_compact(w);
	if (w->pend_len == w->pend_cap) {
		uint32_t cap = w->pend_cap ? 2 * w->pend_cap : 64;
		uint32_t *p = realloc(w->pend, (size_t)cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		w->pend = p;
		w->pend_cap = cap;
	}
	w->pend[w->pend_len++] = i;
	return 0;
}

/* Writes chunk i's state byte: in memory first (the only step that can
 * run out of memory), then in the map; on a failure of the map, back as
 * it was. */
int wb_set_state(blob_wblob *w, uint32_t i, enum wb_state v)
{
	uint64_t off = w->state_off + i;
	uint8_t old = (uint8_t)wb_state_of(w, i), b = (uint8_t)v; /* one byte, as the map holds it */
	int rc;

	IMGFS_ASSERT(v <= WB_ARRIVED);
	if ((rc = blob_radix_set(&w->state, i, &b)) < 0)
		return rc;
	if ((rc = blob_pwrite_full(w->map_fd, &b, 1, off)) < 0) {
		blob_radix_set(&w->state, i, &old); /* its leaf exists: cannot fail */
		return rc;
	}
	if (off + 1 > w->map_len)
		w->map_len = off + 1;
	if (old == WB_ARRIVED && v != WB_ARRIVED)
		wb_arr_forget(w, i);
	return 0;
}

/* Forgets, in memory, the states of chunks >= first (beyond the end). */
static void clear_states(blob_wblob *w, uint32_t first)
{
	blob_radix_clear_from(&w->state, first);
	blob_radix_clear_from(&w->sid, first);
	wb_pend_compact(w);
}

static int write_header(blob_wblob *w, uint64_t size, uint32_t base_limit)
{
	uint8_t h[12];

	blob_put_le64(h, size);
	blob_put_le32(h + 8, base_limit);
	return blob_pwrite_full(w->map_fd, h, sizeof h, 8);
}

/* ---- overlay files -------------------------------------------------------- */

/* .data.<k>, opened (created, when create) on first need: *out, or NULL
 * when it does not exist and create is false. */
static int ext_open(blob_wblob *w, uint32_t k, bool create, struct wb_file **out)
{
	char file[WB_FILE_MAX];
	struct stat st;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&w->ext_lock);
	if (w->ext == NULL) {
		if ((w->ext = malloc(WB_NSEG * sizeof *w->ext)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		for (uint32_t j = 0; j < WB_NSEG; j++)
			w->ext[j] = (struct wb_file){.fd = -1};
	}
	if (w->ext[k].fd < 0) {
		int fd;
		wb_ext_file(file, w->name, k);
		fd = openat(w->s->wblobs_fd, file, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
		if (fd < 0 && create && errno == EEXIST) { /* made by an earlier handle */
			fd = openat(w->s->wblobs_fd, file, O_RDWR | O_CLOEXEC);
		} else if (fd >= 0 && create &&
		           (fsync(fd) < 0 || (rc = blob_fsync_dir_at(w->s->wblobs_fd, NULL)) < 0)) {
			/* Durable before any state byte names it: a chunk copied
			 * there from the base must not vanish with its file. */
			rc = rc < 0 ? rc : -errno;
			close(fd);
			goto out;
		}
		if (fd < 0) {
			rc = errno == ENOENT && !create ? 0 : -errno;
			goto out;
		}
		if (fstat(fd, &st) < 0) {
			rc = -errno;
			close(fd);
			goto out;
		}
		w->ext[k] = (struct wb_file){.fd = fd, .len = (uint64_t)st.st_size, .base = (uint64_t)k << (WB_SEG_SHIFT + BLOB_CHUNK_SHIFT)};
	}
	*out = &w->ext[k];
out:
	pthread_mutex_unlock(&w->ext_lock);
	return rc;
}

/* Where chunk i's bytes are in overlay state st: *f (NULL when that file
 * does not exist and create is false: all zeros) and the chunk's offset
 * in it. */
int wb_overlay_at(blob_wblob *w, uint32_t i, enum wb_state st, bool create, struct wb_file **f, uint64_t *off)
{
	if (st == WB_OVERLAY) {
		*f = &w->data;
		*off = wb_chunk_start(i);
		return 0;
	}
	*off = (uint64_t)(i & (WB_SEG_CHUNKS - 1)) << BLOB_CHUNK_SHIFT;
	return ext_open(w, i >> WB_SEG_SHIFT, create, f);
}

int wb_zero_overlay(blob_wblob *w, struct wb_file *f, uint64_t off, uint64_t len)
{
	return w->key ? wb_crypt_zero(w, f, off, len) : wb_zero_plain(f, off, len);
}

/* Zeroes [off, off + len) of overlay file f, preferably by punching a hole. */
int wb_zero_plain(struct wb_file *f, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[65536];

	if (len == 0 || off >= f->len)
		return 0;
	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	if (off + len > f->len)
		len = f->len - off;
	for (uint64_t done = 0; done < len; done += sizeof zeros) {
		size_t n = len - done < sizeof zeros ? (size_t)(len - done) : sizeof zeros;
		int rc = blob_pwrite_full(f->fd, zeros, n, off + done);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Zeroes [a, a + n) of chunk i's overlay bytes in overlay state st. */
int wb_zero_chunk(blob_wblob *w, uint32_t i, enum wb_state st, size_t a, size_t n)
{
	struct wb_file *f;
	uint64_t off;
	int rc;

	if ((rc = wb_overlay_at(w, i, st, false, &f, &off)) < 0 || f == NULL)
		return rc;
	return wb_zero_overlay(w, f, off + a, n);
}

static int file_truncate(struct wb_file *f, uint64_t len)
{
	if (ftruncate(f->fd, (off_t)len) < 0)
		return -errno;
	f->len = len;
	return 0;
}

uint64_t wb_cut_at(const blob_wblob *w, uint64_t len)
{
	return w->key ? (len + BLOB_XTS_SECTOR - 1) & ~(uint64_t)(BLOB_XTS_SECTOR - 1) : len;
}

/* Overlay bytes are written through the page cache and made durable at
 * fsync (SPEC §11).  Two things about that cache, both measured with dd
 * conv=fsync of 2 GiB into a disk and then fio 4k random I/O on it
 * (scripts/bench-disk):
 *  - Left to the kernel, writeback starts when a tenth of memory is
 *    dirty, so the guest's flush waited for all 2 GiB: 0.58 s of fsync,
 *    2.4-2.75 s in all.  A run of sequential writes (a guest's dd, a
 *    restore, qemu-img convert -n) is handed to writeback every WB_KICK
 *    bytes (sync_file_range WRITE: started, not waited for): 2.5 ms of
 *    fsync, 1.7-2.0 s in all.  Random writes make no run and are left
 *    to the kernel.
 *  - The page cache sizes a folio by the write that makes it, and ext4
 *    walks every block of a folio for each 4 KiB written into it later
 *    (ext4_block_write_begin: a fifth of the daemon's time).  After 1 MiB
 *    writes, random 4 KiB I/O ran at 10-15k IOPS each way against 57k on
 *    a disk written randomly from the start; written in pieces of at most
 *    WB_PIECE, 46-48k. */
#define WB_KICK (8u << 20)
#define WB_PIECE (64u << 10)

int wb_pwrite_pieces(int fd, const void *buf, size_t n, uint64_t off)
{
	int rc = 0;

	for (size_t at = 0; rc == 0 && at < n; at += WB_PIECE) {
		size_t k = n - at < WB_PIECE ? n - at : WB_PIECE;
		rc = blob_pwrite_full(fd, (const uint8_t *)buf + at, k, off + at);
	}
	return rc;
}

int wb_overlay_pwrite(struct wb_file *f, const void *buf, size_t n, uint64_t off)
{
	return wb_pwrite_pieces(f->fd, buf, n, off);
}

static void overlay_ran(struct wb_file *f, size_t n, uint64_t off)
{
	if (off != f->run_end) /* a new run */
		f->run_at = f->run_end = off;
	f->run_end += n;
	if (f->run_end - f->run_at < WB_KICK)
		return;
	/* Hints: a failure changes nothing but the speed. */
	sync_file_range(f->fd, (off_t)f->run_at, (off_t)(f->run_end - f->run_at), SYNC_FILE_RANGE_WRITE);
	f->run_at = f->run_end;
}

/* pwrite into an overlay file (through the key when the wblob has one),
 * keeping its len up to date when it grows. */
int wb_overlay_write(blob_wblob *w, struct wb_file *f, const void *buf, size_t n, uint64_t off)
{
	int rc;

	if (w->key) {
		rc = wb_crypt_write(w, f, buf, n, off);
	} else {
		rc = wb_overlay_pwrite(f, buf, n, off);
		if (rc == 0 && off + n > f->len)
			f->len = off + n;
	}
	if (rc == 0)
		overlay_ran(f, n, off);
	return rc;
}

int wb_overlay_read(blob_wblob *w, struct wb_file *f, void *buf, size_t n, uint64_t off)
{
	ssize_t got;

	if (w->key)
		return wb_crypt_read(w, f, buf, n, off);
	if ((got = blob_pread_full(f->fd, buf, n, off)) < 0)
		return (int)got;
	/* Past the end this handle knows of, zeros; short before it, the file
	 * was cut under the open wblob (outside imgfs): not zeros, EIO. */
	if ((uint64_t)got < n && off + (uint64_t)got < f->len) {
		blob_log_line(&w->s->log, "writable blob %s: an overlay was cut to %llu bytes under it (it had %llu): EIO",
		              w->name, (unsigned long long)(off + (uint64_t)got), (unsigned long long)f->len);
		return -EIO;
	}
	memset((uint8_t *)buf + got, 0, n - (size_t)got);
	return 0;
}

/* Makes every streamed chunk readable by its name in the store.  Readers
 * (under the read lock) may race each other here; writers hold the write
 * lock, so no chunk is added meanwhile. */
int wb_stream_commit(blob_wblob *w)
{
	int rc = 0;

	pthread_mutex_lock(&w->batch_lock);
	if (w->uncommitted && (rc = blob_batch_commit(w->batch)) >= 0) {
		w->uncommitted = false;
		rc = 0;
	}
	pthread_mutex_unlock(&w->batch_lock);
	return rc;
}

/* Bytes [a, a + n) of chunk i as its stored chunk shows them (states 0,
 * 2, 3), or its arrived file (6). */
static int read_stored(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	size_t sl = wb_stored_len(w, i);
	size_t m = 0;
	int rc;

	if (wb_state_of(w, i) == WB_ARRIVED)
		return wb_arr_read(w, i, dst, a, n);
	if (a < sl) {
		m = sl - a < n ? sl - a : n;
		if (wb_state_of(w, i) == WB_STREAMED && (rc = wb_stream_commit(w)) < 0)
			return rc;
		/* The base's chunks and the streamed ones: all under w's key. */
		if ((rc = blob_store_read_chunk(w->s, w->key, wb_stored_id(w, i), sl, dst, a, m)) < 0)
			return rc;
	}
	memset(dst + m, 0, n - m);
	return 0;
}

/* Bytes [a, a + n) of chunk i as the blob shows it. */
int wb_read_chunk(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	enum wb_state st = wb_state_of(w, i);
	struct wb_file *f;
	uint64_t off;
	int rc;

	if (wb_is_staged(w, i)) {
		size_t have = a < w->stage_end ? w->stage_end - a : 0;

		have = have < n ? have : n;
		memcpy(dst, w->stage + a, have);
		memset(dst + have, 0, n - have);
		return 0;
	}
	if (w->sealing && w->seal_i == i) { /* whole: no zeros to add */
		memcpy(dst, w->seal_buf + a, n);
		return 0;
	}
	if (!wb_is_overlay(st))
		return read_stored(w, i, dst, a, n);
	if ((rc = wb_overlay_at(w, i, st, false, &f, &off)) < 0)
		return rc;
	if (f == NULL) {
		/* State 5 names a .data.<k> made, and synced, before the state
		 * byte: gone, it was lost outside imgfs.  Never zeros. */
		blob_log_line(&w->s->log, "writable blob %s: the overlay of chunk %u is missing: EIO", w->name, i);
		return -EIO;
	}
	return wb_overlay_read(w, f, dst, n, off + a);
}

/* Makes chunk i's overlay bytes, where overlay state st puts them, hold
 * the first `keep` bytes its stored chunk shows and zeros after.  Does not
 * change the state byte.  *out: that overlay file. */
int wb_copy_stored(blob_wblob *w, uint32_t i, enum wb_state st, size_t keep, struct wb_file **out)
{
	uint8_t *buf = NULL;
	uint64_t off;
	int rc;

	if ((rc = wb_overlay_at(w, i, st, true, out, &off)) < 0 ||
	    (rc = wb_zero_overlay(w, *out, off, BLOB_CHUNK_SIZE)) < 0 || keep == 0)
		return rc;
	buf = malloc(keep);
	if (buf == NULL)
		return -ENOMEM;
	if ((rc = read_stored(w, i, buf, 0, keep)) < 0)
		goto out;
	rc = wb_overlay_write(w, *out, buf, keep, off);
out:
	free(buf);
	return rc;
}

/* <name>.ids, opened (created when `create`) on first need. */
int wb_open_ids(blob_wblob *w, bool create)
{
	char file[WB_FILE_MAX];

	if (w->ids_fd >= 0)
		return 0;
	wb_file(file, w->name, "ids");
	w->ids_fd = openat(w->s->wblobs_fd, file, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (w->ids_fd < 0)
		return -errno;
	w->ids_new = create; /* its name is synced by the next fsync */
	return 0;
}

/* ---- size changes --------------------------------------------------------- */

int wb_grow(blob_wblob *w, uint64_t new_size)
{
	uint64_t old = w->size;
	uint32_t first = blob_nchunks(old);
	uint32_t k = (uint32_t)(old >> BLOB_CHUNK_SHIFT);
	size_t r = (size_t)(old & BLOB_CHUNK_MASK);
	uint32_t limit = w->base_limit < first ? w->base_limit : first;
	uint64_t data_max = (uint64_t)WB_SEG_CHUNKS << BLOB_CHUNK_SHIFT;
	enum wb_state st = r != 0 ? wb_state_of(w, k) : WB_BASE;
	struct wb_file *f;
	int rc;

	/* Nothing beyond old may show once it is inside the blob (an encrypted
	 * overlay is cut at the end of old's sector: the rest of it is zeroed
	 * below, as a chunk's bytes past old are). */
	if (w->data.len > wb_cut_at(w, old) && (rc = file_truncate(&w->data, wb_cut_at(w, old))) < 0)
		return rc;
	if (r != 0 && wb_is_overlay(st)) {
		if ((rc = wb_zero_chunk(w, k, st, r, BLOB_CHUNK_SIZE - r)) < 0)
			return rc;
	} else if (r != 0 && wb_stored_len(w, k) > r) {
		if ((rc = wb_copy_stored(w, k, wb_overlay_state(k), r, &f)) < 0)
			return rc;
		if (fdatasync(f->fd) < 0)
			return -errno;
		if ((rc = wb_set_state(w, k, wb_overlay_state(k))) < 0)
			return rc;
	}
	/* Beyond the old end the states are 0 in memory already (open loads
	 * none there, shrink clears them) but maybe not in the file. */
	clear_states(w, first);
	if (w->map_len > w->state_off + first) {
		if (ftruncate(w->map_fd, (off_t)(w->state_off + first)) < 0)
			return -errno;
		w->map_len = w->state_off + first;
	}
	/* Publish. */
	if ((rc = write_header(w, new_size, limit)) < 0)
		return rc;
	w->size = new_size;
	w->base_limit = limit;
	/* Keeps .data as long as the blob up to its share; not needed for
	 * correctness (past its end it reads as zeros), so a failure does not
	 * fail the grow. */
	if (w->data.len < (new_size < data_max ? new_size : data_max))
		file_truncate(&w->data, new_size < data_max ? new_size : data_max);
	return 0;
}

/* The overlay files beyond new_size lose what lies there: .data.<k> cut
 * where the end falls in it, removed when wholly beyond (best effort, as
 * for .data: all of it is invisible). */
static void shrink_ext(blob_wblob *w, uint64_t old_size, uint64_t new_size)
{
	uint32_t last = old_size ? (uint32_t)((old_size - 1) >> (WB_SEG_SHIFT + BLOB_CHUNK_SHIFT)) : 0;
	char file[WB_FILE_MAX];

	for (uint32_t k = 1; k <= last; k++) {
		uint64_t start = (uint64_t)k << (WB_SEG_SHIFT + BLOB_CHUNK_SHIFT);
		struct wb_file *f;

		if (start + ((uint64_t)WB_SEG_CHUNKS << BLOB_CHUNK_SHIFT) <= new_size)
			continue;
		if (start >= new_size) {
			/* Gone: a later write makes a new one. */
			if (w->ext && w->ext[k].fd >= 0) {
				close(w->ext[k].fd);
				w->ext[k].fd = -1;
			}
			wb_ext_file(file, w->name, k);
			unlinkat(w->s->wblobs_fd, file, 0);
		} else if (ext_open(w, k, false, &f) == 0 && f != NULL && f->len > wb_cut_at(w, new_size - start)) {
			file_truncate(f, wb_cut_at(w, new_size - start));
		}
	}
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
	if ((rc = write_header(w, new_size, limit)) < 0)
		return rc;
	/* Arrived files beyond the end: invisible now, only take room. */
	for (uint32_t i = wb_next_data(w, first, n); i < n; i = wb_next_data(w, i + 1, n))
		if (wb_state_of(w, i) == WB_ARRIVED)
			wb_arr_drop(w, i);
	w->ndata -= gone;
	w->size = new_size;
	w->base_limit = limit;
	clear_states(w, first);
	if (w->map_len > w->state_off + first && ftruncate(w->map_fd, (off_t)(w->state_off + first)) == 0)
		w->map_len = w->state_off + first;
	if (w->data.len > wb_cut_at(w, new_size))
		file_truncate(&w->data, wb_cut_at(w, new_size));
	shrink_ext(w, old, new_size);
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

/*
 * wblob.c — writable blobs: a base manifest plus a copy-on-write overlay.
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
 *                        of the file are 0
 *       state 0: the chunk reads from the base (base chunk bytes, then zeros
 *                up to the chunk's length; a hole if the base has none)
 *       state 1: the overlay holds the whole chunk at the same offset
 *       state 2: the chunk is a stored chunk of BLOB_CHUNK_SIZE bytes (the
 *                null id: zeros) whose id is record i's first slot in .ids
 *       state 4: a hole (punched: blob_wblob_punch): reads as zeros, is
 *                stored nowhere, whatever the base or the overlay hold
 *   <name>.data   the overlay: sparse, as long as the virtual size; bytes
 *                 past its end read as zeros
 *   <name>.ids    only once a chunk was streamed (below): 32 bytes per
 *                 chunk index, the id a state-2 chunk shows, then the id of
 *                 a chunk streamed since the last fsync (read by gc only)
 *   size and base_limit sit side by side and change together in one 12-byte
 *   pwrite.  The .map is created complete (temp file in <dir>/tmp, fsync,
 *   link() into place, so an existing name is -EEXIST); the .data follows
 *   (open creates it when a crash lost it: an absent overlay is all zeros and
 *   all states are 0 at creation).  remove unlinks .map first.
 *
 * Writes.  For every chunk a write touches: state 1 -> write into the
 * overlay.  State 0 -> unless the write covers the whole chunk, first zero
 * the overlay's chunk region (punching a hole: a write killed before its
 * state byte may have left bytes there) and copy the base's bytes into it
 * (verified reads through the store's cache); then write the new bytes;
 * then, when base bytes were copied, fdatasync the overlay (a power cut must
 * not persist the state byte ahead of the copied bytes the guest never
 * wrote); then set the state byte.  A process killed at any point leaves the
 * chunk's old content visible, or the new, never a mix of the chunk's two
 * sources.
 *
 * Shrinking and growing.  A shrink writes the header (new size, base_limit
 * lowered to the new chunk count) and then, beyond the new end, clears the
 * state bytes (ftruncate of .map) and the overlay (ftruncate of .data), all
 * invisible.  Growth from size S makes [S, new size) read zeros before the
 * header publishes it: the overlay is truncated to S (zeroing whatever a
 * crash left beyond), the chunk holding S, if S is inside it and the base
 * shows bytes past S there, is copied into the overlay (base bytes up to S,
 * zeros after) and set to state 1, and state bytes past S are cleared;
 * base_limit drops to the chunk count of S.  Each step is invisible or keeps
 * the content below S, so a kill anywhere is harmless and the next growth
 * redoes it.  A write past the end grows first, then writes.
 *
 * Reads: per chunk the overlay (state 1), the base through the store's
 * verified cache (state 0) or zeros.  Seeking: a chunk is data when its
 * state is 1 or the base shows a chunk there; stored counts the bytes of
 * those chunks.  Sealing puts every state-1 chunk into the store (all-zero
 * ones become holes) and reuses the base id of every state-0 chunk whose
 * length did not change, so capturing a disk copies nothing it did not
 * write; the wblob stays as it was and sealing again gives the same manifest.
 * The chunks go through one blob_batch (batch.c): written by its threads
 * while the next chunk is read and hashed, made durable a batch at a time,
 * and the seal commits the batch — every chunk and its name durable —
 * before it returns the manifest, which the caller then commits.
 * Streaming (uploads: blob_wblob_stream).  A write covering a whole chunk
 * then goes straight into the store through the handle's own blob_batch
 * instead of the overlay, so an upload's bytes are written once and its
 * seal copies nothing.  In memory the chunk is in state 3 (its id in sid[]
 * and, for gc, in the second slot of its .ids record); on disk its state
 * byte is still the old one.  fsync makes them state 2: it commits the
 * batch (the chunks and their names durable), writes the ids into the
 * first slots and syncs .ids (and, once, the directory naming it), then
 * writes the state bytes and syncs the map; a crash at any point leaves
 * each chunk showing its old content or its new.  So a streaming wblob's
 * whole-chunk writes are durable at the next fsync, not when they return
 * (an upload is only ever trusted after its close fsynced it).  Reading a
 * state-3 chunk, or writing part of one, commits the batch first (its
 * chunk must be in the store by name).  All-zero chunks become holes.
 * A failed batch stays failed: later writes and fsyncs return its error.
 * Writes of parts of a chunk (cp's rarely fall on chunk boundaries: the
 * first hole of a QCOW2 shifts them all) are gathered in the stage, one
 * chunk buffer, which goes to the store once the chunk is whole (or the
 * next chunk is written): handed to the batch in exchange for another
 * buffer (blob_batch_add_buf), not copied.
 *
 * Punching (fallocate punch-hole and zero-range on instance disks).  A
 * range that covers a whole chunk makes it a hole: its state byte becomes 4
 * (one write, atomic), then its overlay bytes are freed (a hole punched in
 * .data; a crash before that leaves them there, invisible: a later partial
 * write zeroes the overlay's chunk region before it copies anything, as
 * for state 0).  Part of a chunk is zeroed where it is: punched out of the
 * overlay in state 1; in a chunk that reads from a stored chunk, the
 * stored bytes are copied into the overlay and the range punched there,
 * then fdatasync, then state 1 — the write's order, so a kill shows the
 * old chunk or the zeroed one.  A chunk that is a hole already is left as
 * it is.  Not on streaming wblobs (uploads: -EOPNOTSUPP).
 *
 * A seal reports its progress after each chunk and can be stopped there (a
 * capture being unmounted); a stopped seal leaves the wblob as it was,
 * drops what its batch had not committed (never visible) and leaves what it
 * had committed unreferenced (gc drops it after its grace, unless the next
 * seal finds it in the store first).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore_int.h"

#define WB_MAGIC "IMGFSWB1"
#define WB_HEADER 24
#define WB_NAME_MAX 64
#define WB_FILE_MAX (WB_NAME_MAX + 8)
#define WB_IDS_REC (2 * sizeof(chunk_id)) /* a .ids record: synced id, pending id */

struct blob_wblob {
	blob_store *s;
	int map_fd;
	int data_fd;
	pthread_rwlock_t lock;
	blob_manifest *base; /* never NULL: an empty manifest for "no base" */
	uint64_t size;
	uint32_t base_limit;
	uint64_t state_off; /* WB_HEADER + baselen */
	uint8_t *state;     /* cap entries, cap >= nchunks(size) */
	uint32_t cap;
	uint32_t ndata;    /* data chunks among the first nchunks(size) */
	uint64_t map_len;  /* current lengths of the two files */
	uint64_t data_len;
	/* Streaming (blob_wblob_stream; see "Streaming" above). */
	bool streaming;
	chunk_id *sid;         /* cap entries: the chunk a state 2 or 3 shows */
	uint32_t npend;        /* chunks in state 3 */
	int ids_fd;            /* <name>.ids, -1 until the first streamed chunk */
	bool ids_new;          /* created by this handle: its name not yet synced */
	blob_batch *batch;     /* the streamed chunks' batch, NULL until needed */
	pthread_mutex_t batch_lock; /* a reader's commit against another's */
	bool uncommitted;      /* chunks added since the batch's last commit */
	uint32_t *punch;       /* chunks streamed over overlay bytes, to free */
	uint32_t npunch, punch_cap;
	uint8_t *stage;        /* BLOB_CHUNK_SIZE: the chunk being written */
	bool staged;           /* stage holds chunk stage_i, whole */
	uint32_t stage_i;
	size_t stage_end;      /* stage bytes from here on are zeros not yet written */
	char name[WB_NAME_MAX + 1];
};

static bool wb_name_ok(const char *name)
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

static void wb_file(char out[WB_FILE_MAX], const char *name, const char *ext)
{
	snprintf(out, WB_FILE_MAX, "%s.%s", name, ext);
}

/* ---- chunk state ---------------------------------------------------------- */

static uint64_t chunk_start(uint32_t i)
{
	return (uint64_t)i << BLOB_CHUNK_SHIFT;
}

static uint8_t state_of(const blob_wblob *w, uint32_t i)
{
	return i < w->cap ? w->state[i] : 0;
}

/* The stored chunk chunk i shows: the base's (state 0) or a streamed one
 * (states 2, 3); NULL for none (state 1, or a hole). */
static const chunk_id *stored_id(const blob_wblob *w, uint32_t i)
{
	const chunk_id *id;

	switch (state_of(w, i)) {
	case 0:
		if (i >= w->base_limit || i >= w->base->nchunks)
			return NULL;
		id = &w->base->chunks[i];
		break;
	case 1:
	case 4:
		return NULL;
	default:
		id = &w->sid[i];
	}
	return chunk_id_is_null(id) ? NULL : id;
}

/* Bytes chunk i shows from its stored chunk (before clipping to the
 * chunk's length). */
static size_t stored_len(const blob_wblob *w, uint32_t i)
{
	if (stored_id(w, i) == NULL)
		return 0;
	return state_of(w, i) == 0 ? blob_chunk_len(w->base->size, i) : BLOB_CHUNK_SIZE;
}

static bool is_staged(const blob_wblob *w, uint32_t i)
{
	return w->staged && w->stage_i == i;
}

static bool wb_is_data(const void *ctx, uint32_t i)
{
	const blob_wblob *w = ctx;

	return is_staged(w, i) || state_of(w, i) == 1 || stored_id(w, i) != NULL;
}

static int ensure_cap(blob_wblob *w, uint32_t need)
{
	uint8_t *p;
	chunk_id *ids;
	uint32_t cap;

	if (need <= w->cap)
		return 0;
	cap = w->cap > need / 2 ? (w->cap <= UINT32_MAX / 2 ? w->cap * 2 : UINT32_MAX) : need;
	if (cap < need)
		cap = need;
	if ((ids = realloc(w->sid, (size_t)cap * sizeof *ids)) == NULL)
		return -ENOMEM;
	memset(ids + w->cap, 0, (size_t)(cap - w->cap) * sizeof *ids);
	w->sid = ids;
	p = realloc(w->state, cap);
	if (p == NULL)
		return -ENOMEM;
	memset(p + w->cap, 0, cap - w->cap);
	w->state = p;
	w->cap = cap;
	return 0;
}

static int set_state(blob_wblob *w, uint32_t i, uint8_t v)
{
	uint64_t off = w->state_off + i;
	int rc;

	if ((rc = blob_pwrite_full(w->map_fd, &v, 1, off)) < 0)
		return rc;
	if (off + 1 > w->map_len)
		w->map_len = off + 1;
	if (w->state[i] == 3)
		w->npend--;
	w->state[i] = v;
	return 0;
}

/* Forgets, in memory, the states of chunks >= first (beyond the end). */
static void clear_states(blob_wblob *w, uint32_t first)
{
	for (uint32_t i = first; i < w->cap && w->npend > 0; i++)
		if (w->state[i] == 3)
			w->npend--;
	if (first < w->cap) {
		memset(w->state + first, 0, w->cap - first);
		memset(w->sid + first, 0, (size_t)(w->cap - first) * sizeof *w->sid);
	}
}

static int write_header(blob_wblob *w, uint64_t size, uint32_t base_limit)
{
	uint8_t h[12];

	blob_put_le64(h, size);
	blob_put_le32(h + 8, base_limit);
	return blob_pwrite_full(w->map_fd, h, sizeof h, 8);
}

/* Zeroes [off, off + len) of the overlay, preferably by punching a hole. */
static int zero_overlay(blob_wblob *w, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[65536];

	if (len == 0 || off >= w->data_len)
		return 0;
	if (fallocate(w->data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	if (off + len > w->data_len)
		len = w->data_len - off;
	for (uint64_t done = 0; done < len; done += sizeof zeros) {
		size_t n = len - done < sizeof zeros ? (size_t)(len - done) : sizeof zeros;
		int rc = blob_pwrite_full(w->data_fd, zeros, n, off + done);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int truncate_data(blob_wblob *w, uint64_t len)
{
	if (ftruncate(w->data_fd, (off_t)len) < 0)
		return -errno;
	w->data_len = len;
	return 0;
}

/* pwrite into the overlay, keeping data_len (which zero_overlay trusts)
 * up to date when the file grows. */
static int overlay_write(blob_wblob *w, const void *buf, size_t n, uint64_t off)
{
	int rc = blob_pwrite_full(w->data_fd, buf, n, off);

	if (rc == 0 && off + n > w->data_len)
		w->data_len = off + n;
	return rc;
}

/* Makes every streamed chunk readable by its name in the store.  Readers
 * (under the read lock) may race each other here; writers hold the write
 * lock, so no chunk is added meanwhile. */
static int stream_commit(blob_wblob *w)
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
 * 2, 3). */
static int read_stored(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	size_t sl = stored_len(w, i);
	size_t m = 0;
	int rc;

	if (a < sl) {
		m = sl - a < n ? sl - a : n;
		if (state_of(w, i) == 3 && (rc = stream_commit(w)) < 0)
			return rc;
		if ((rc = blob_store_read_chunk(w->s, stored_id(w, i), sl, dst, a, m)) < 0)
			return rc;
	}
	memset(dst + m, 0, n - m);
	return 0;
}

/* Bytes [a, a + n) of chunk i as the blob shows it. */
static int read_chunk(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	ssize_t got;

	if (is_staged(w, i)) {
		size_t have = a < w->stage_end ? w->stage_end - a : 0;

		have = have < n ? have : n;
		memcpy(dst, w->stage + a, have);
		memset(dst + have, 0, n - have);
		return 0;
	}
	if (state_of(w, i) != 1)
		return read_stored(w, i, dst, a, n);
	got = blob_pread_full(w->data_fd, dst, n, chunk_start(i) + a);
	if (got < 0)
		return (int)got;
	memset(dst + got, 0, n - (size_t)got);
	return 0;
}

/* Makes the overlay's chunk i hold the first `keep` bytes its stored chunk
 * shows and zeros after.  Does not change the state byte. */
static int copy_stored(blob_wblob *w, uint32_t i, size_t keep)
{
	uint8_t *buf = NULL;
	int rc;

	if ((rc = zero_overlay(w, chunk_start(i), BLOB_CHUNK_SIZE)) < 0 || keep == 0)
		return rc;
	buf = malloc(keep);
	if (buf == NULL)
		return -ENOMEM;
	if ((rc = read_stored(w, i, buf, 0, keep)) < 0)
		goto out;
	rc = overlay_write(w, buf, keep, chunk_start(i));
out:
	free(buf);
	return rc;
}

/* <name>.ids, opened (created when `create`) on first need. */
static int open_ids(blob_wblob *w, bool create)
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

static int wb_grow(blob_wblob *w, uint64_t new_size)
{
	uint64_t old = w->size;
	uint32_t first = blob_nchunks(old);
	uint32_t k = (uint32_t)(old >> BLOB_CHUNK_SHIFT);
	size_t r = (size_t)(old & BLOB_CHUNK_MASK);
	uint32_t limit = w->base_limit < first ? w->base_limit : first;
	int rc;

	if ((rc = ensure_cap(w, blob_nchunks(new_size))) < 0)
		return rc;
	/* Nothing beyond old may show once it is inside the blob. */
	if (w->data_len > old && (rc = truncate_data(w, old)) < 0)
		return rc;
	if (r != 0 && w->state[k] != 1 && stored_len(w, k) > r) {
		if ((rc = copy_stored(w, k, r)) < 0)
			return rc;
		if (fdatasync(w->data_fd) < 0)
			return -errno;
		if ((rc = set_state(w, k, 1)) < 0)
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
	/* Keeps .data as long as the blob; not needed for correctness (past
	 * its end it reads as zeros), so a failure does not fail the grow. */
	truncate_data(w, new_size);
	return 0;
}

/* Shrink: publish the new end, then clear what lies beyond it (best
 * effort: all of it is invisible, and the next growth redoes it). */
static int wb_shrink(blob_wblob *w, uint64_t new_size)
{
	uint32_t first = blob_nchunks(new_size);
	uint32_t limit = w->base_limit < first ? w->base_limit : first;
	uint32_t gone = 0;
	int rc;

	for (uint32_t i = first; i < blob_nchunks(w->size); i++)
		if (wb_is_data(w, i))
			gone++;
	if ((rc = write_header(w, new_size, limit)) < 0)
		return rc;
	w->ndata -= gone;
	w->size = new_size;
	w->base_limit = limit;
	clear_states(w, first);
	if (w->map_len > w->state_off + first && ftruncate(w->map_fd, (off_t)(w->state_off + first)) == 0)
		w->map_len = w->state_off + first;
	truncate_data(w, new_size);
	return 0;
}

static int wb_truncate_locked(blob_wblob *w, uint64_t size)
{
	if (size > BLOB_MAX_SIZE)
		return -EFBIG;
	if (size > w->size)
		return wb_grow(w, size);
	if (size < w->size)
		return wb_shrink(w, size);
	return 0;
}

/* ---- the public operations ------------------------------------------------ */

int blob_wblob_create(blob_store *s, const char *name, const blob_manifest *base, uint64_t size)
{
	char tmp[64], map[WB_FILE_MAX], data[WB_FILE_MAX];
	blob_manifest *empty = NULL;
	void *enc = NULL;
	size_t enclen;
	uint8_t *hdr = NULL;
	bool have_tmp = false, have_map = false;
	uint32_t limit;
	int fd = -1;
	int rc;

	if (!wb_name_ok(name))
		return -EINVAL;
	if (size > BLOB_MAX_SIZE)
		return -EFBIG;
	if (base == NULL) {
		if ((rc = blob_manifest_new(&empty, 0)) < 0)
			return rc;
		base = empty;
	}
	if ((rc = blob_manifest_encode(&enc, &enclen, base)) < 0)
		goto out;
	if (enclen > UINT32_MAX) {
		rc = -EFBIG;
		goto out;
	}
	hdr = malloc(WB_HEADER + enclen);
	if (hdr == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	limit = blob_nchunks(size) < base->nchunks ? blob_nchunks(size) : base->nchunks;
	memcpy(hdr, WB_MAGIC, 8);
	blob_put_le64(hdr + 8, size);
	blob_put_le32(hdr + 16, limit);
	blob_put_le32(hdr + 20, (uint32_t)enclen);
	memcpy(hdr + WB_HEADER, enc, enclen);

	/* The map, complete, under a temporary name; then linked into place. */
	if ((fd = blob_store_tmp_create(s, tmp, sizeof tmp, 0600)) < 0) {
		rc = fd;
		goto out;
	}
	have_tmp = true;
	if ((rc = blob_write_full(fd, hdr, WB_HEADER + enclen)) < 0)
		goto out;
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	close(fd);
	fd = -1;
	wb_file(map, name, "map");
	if (linkat(s->tmp_fd, tmp, s->wblobs_fd, map, 0) < 0) {
		rc = -errno;
		goto out;
	}
	have_map = true;

	/* Leftovers of an earlier wblob of this name go: its streamed ids
	 * (nothing in the new map points at them; unlinked now, before a chunk
	 * of this one is streamed) and its overlay. */
	wb_file(data, name, "ids");
	if (unlinkat(s->wblobs_fd, data, 0) < 0 && errno != ENOENT) {
		rc = -errno;
		goto out;
	}
	wb_file(data, name, "data");
	fd = openat(s->wblobs_fd, data, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = blob_fsync_dir_at(s->wblobs_fd, NULL)) < 0)
		goto out;
	have_map = false;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (have_map) {
		unlinkat(s->wblobs_fd, map, 0);
		unlinkat(s->wblobs_fd, data, 0);
	}
	if (have_tmp)
		unlinkat(s->tmp_fd, tmp, 0);
	free(hdr);
	free(enc);
	blob_manifest_free(empty);
	return rc;
}

/* Checks the first n state bytes and loads the ids of the state-2 chunks
 * among them from .ids. */
static int load_ids(blob_wblob *w, uint32_t n)
{
	uint8_t *rec = NULL;
	uint32_t last = 0;
	bool any = false;
	ssize_t got;
	int rc;

	for (uint32_t i = 0; i < n; i++) {
		if (w->state[i] > 2 && w->state[i] != 4)
			return -EIO;
		if (w->state[i] == 2) {
			any = true;
			last = i;
		}
	}
	if (!any)
		return 0;
	if ((rc = open_ids(w, false)) < 0)
		return rc == -ENOENT ? -EIO : rc;
	if ((rec = malloc((size_t)(last + 1) * WB_IDS_REC)) == NULL)
		return -ENOMEM;
	got = blob_pread_full(w->ids_fd, rec, (size_t)(last + 1) * WB_IDS_REC, 0);
	rc = got < 0 ? (int)got : (size_t)got < (size_t)(last + 1) * WB_IDS_REC ? -EIO : 0;
	for (uint32_t i = 0; i <= last && rc == 0; i++)
		if (w->state[i] == 2)
			memcpy(w->sid[i].b, rec + (size_t)i * WB_IDS_REC, sizeof w->sid[i]);
	free(rec);
	return rc;
}

/* Reads and checks the fixed header and the base manifest of an open map. */
static int read_map_header(int fd, uint64_t *size, uint32_t *limit, uint64_t *state_off, blob_manifest **base)
{
	uint8_t h[WB_HEADER];
	uint8_t *enc = NULL;
	uint32_t enclen;
	ssize_t n;
	int rc;

	n = blob_pread_full(fd, h, sizeof h, 0);
	if (n < 0)
		return (int)n;
	if (n != WB_HEADER || memcmp(h, WB_MAGIC, 8) != 0)
		return -EIO;
	*size = blob_get_le64(h + 8);
	*limit = blob_get_le32(h + 16);
	enclen = blob_get_le32(h + 20);
	enc = malloc(enclen ? enclen : 1);
	if (enc == NULL)
		return -ENOMEM;
	n = blob_pread_full(fd, enc, enclen, WB_HEADER);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	if ((size_t)n != enclen || blob_manifest_decode(base, enc, enclen) < 0) {
		rc = -EIO;
		goto out;
	}
	if (*size > BLOB_MAX_SIZE || *limit > (*base)->nchunks) {
		blob_manifest_free(*base);
		*base = NULL;
		rc = -EIO;
		goto out;
	}
	*state_off = WB_HEADER + (uint64_t)enclen;
	rc = 0;
out:
	free(enc);
	return rc;
}

int blob_wblob_open(blob_wblob **out, blob_store *s, const char *name)
{
	char map[WB_FILE_MAX], data[WB_FILE_MAX];
	blob_wblob *w;
	struct stat st;
	uint64_t nstate;
	uint32_t n;
	ssize_t got;
	int rc;

	if (!wb_name_ok(name))
		return -EINVAL;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return -ENOMEM;
	w->s = s;
	w->map_fd = w->data_fd = w->ids_fd = -1;
	snprintf(w->name, sizeof w->name, "%s", name);
	if ((rc = pthread_rwlock_init(&w->lock, NULL)) != 0) {
		free(w);
		return -rc;
	}
	pthread_mutex_init(&w->batch_lock, NULL);
	wb_file(map, name, "map");
	wb_file(data, name, "data");
	w->map_fd = openat(s->wblobs_fd, map, O_RDWR | O_CLOEXEC);
	if (w->map_fd < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = read_map_header(w->map_fd, &w->size, &w->base_limit, &w->state_off, &w->base)) < 0)
		goto out;
	if (fstat(w->map_fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	w->map_len = (uint64_t)st.st_size;
	if (w->map_len < w->state_off) {
		rc = -EIO;
		goto out;
	}
	n = blob_nchunks(w->size);
	if ((rc = ensure_cap(w, n > 0 ? n : 1)) < 0)
		goto out;
	nstate = w->map_len - w->state_off;
	got = blob_pread_full(w->map_fd, w->state, nstate < n ? (size_t)nstate : n, w->state_off);
	if (got < 0) {
		rc = (int)got;
		goto out;
	}
	if ((rc = load_ids(w, n)) < 0)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		if (wb_is_data(w, i))
			w->ndata++;

	w->data_fd = openat(s->wblobs_fd, data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->data_fd < 0 || fstat(w->data_fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	w->data_len = (uint64_t)st.st_size;
	*out = w;
	w = NULL;
	rc = 0;
out:
	blob_wblob_close(w);
	return rc;
}

void blob_wblob_close(blob_wblob *w)
{
	if (w == NULL)
		return;
	if (w->map_fd >= 0)
		close(w->map_fd);
	if (w->data_fd >= 0)
		close(w->data_fd);
	if (w->ids_fd >= 0)
		close(w->ids_fd);
	/* Streamed chunks no fsync recorded: what the batch had not committed
	 * is dropped, what it had stays for gc (after the wblob's removal:
	 * their pending ids in .ids keep them until then). */
	blob_batch_free(w->batch);
	free(w->stage);
	free(w->punch);
	pthread_mutex_destroy(&w->batch_lock);
	pthread_rwlock_destroy(&w->lock);
	blob_manifest_free(w->base);
	free(w->state);
	free(w->sid);
	free(w);
}

/* A wblob's files, in the order remove unlinks them and list names them. */
static const char *const wb_exts[] = {"map", "ids", "data"};
#define WB_NEXTS (sizeof wb_exts / sizeof wb_exts[0])

int blob_wblob_remove(blob_store *s, const char *name)
{
	char file[WB_FILE_MAX];
	bool had = false;

	if (!wb_name_ok(name))
		return -EINVAL;
	/* The map first: without it the name no longer opens.  A crash between
	 * the unlinks leaves the other files alone, which a later remove (fsck)
	 * takes away. */
	for (size_t k = 0; k < WB_NEXTS; k++) {
		wb_file(file, name, wb_exts[k]);
		if (unlinkat(s->wblobs_fd, file, 0) == 0)
			had = true;
		else if (errno != ENOENT)
			return -errno;
	}
	return had ? blob_fsync_dir_at(s->wblobs_fd, NULL) : -ENOENT;
}

/* The wblob name of a file in wblobs/ ("<name>.<one of wb_exts>") into
 * out, and which of them it is; false for any other file. */
static bool wb_split(const char *file, char out[WB_NAME_MAX + 1], size_t *ext)
{
	size_t n = strlen(file), stem;

	for (*ext = 0; *ext < WB_NEXTS; ++*ext) {
		size_t el = strlen(wb_exts[*ext]);
		if (n > el + 1 && file[n - el - 1] == '.' && strcmp(file + n - el, wb_exts[*ext]) == 0)
			break;
	}
	if (*ext == WB_NEXTS)
		return false;
	stem = n - strlen(wb_exts[*ext]) - 1;
	if (stem > WB_NAME_MAX)
		return false;
	memcpy(out, file, stem);
	out[stem] = '\0';
	return wb_name_ok(out);
}

/* The modification time of wblobs/<name>.<ext>, -1 when absent. */
static int64_t wb_mtime(const blob_store *s, const char *name, const char *ext)
{
	char file[WB_FILE_MAX];
	struct stat st;

	wb_file(file, name, ext);
	return fstatat(s->wblobs_fd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (int64_t)st.st_mtime : -1;
}

int blob_wblob_list(blob_store *s, int (*cb)(void *arg, const char *name, int64_t mtime), void *arg)
{
	char name[WB_NAME_MAX + 1];
	struct dirent *e;
	DIR *d;
	size_t ext;
	int fd, rc = 0;

	fd = openat(s->wblobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	for (;;) {
		errno = 0;
		if ((e = readdir(d)) == NULL) {
			rc = errno ? -errno : 0;
			break;
		}
		if (!wb_split(e->d_name, name, &ext))
			continue;
		/* A wblob is named once, by the first of its files that exists
		 * (its map, unless a crash in a remove left the others).  A file
		 * the callback removed meanwhile is skipped (readdir may still
		 * return it). */
		int64_t newest = -1;
		size_t first = WB_NEXTS;
		for (size_t k = 0; k < WB_NEXTS; k++) {
			int64_t mt = wb_mtime(s, name, wb_exts[k]);
			if (mt >= 0 && first == WB_NEXTS)
				first = k;
			if (mt > newest)
				newest = mt;
		}
		if (first != ext)
			continue;
		if ((rc = cb(arg, name, newest)) != 0)
			break;
	}
	closedir(d);
	return rc;
}

/* The getters take the lock too (getattr may race a write): the handle is
 * never a const object, only seen through a const pointer. */
static pthread_rwlock_t *wb_lock(const blob_wblob *w)
{
	return (pthread_rwlock_t *)&w->lock;
}

uint64_t blob_wblob_size(const blob_wblob *w)
{
	uint64_t size;

	pthread_rwlock_rdlock(wb_lock(w));
	size = w->size;
	pthread_rwlock_unlock(wb_lock(w));
	return size;
}

uint64_t blob_wblob_stored(const blob_wblob *w)
{
	uint32_t n;
	uint64_t stored;

	pthread_rwlock_rdlock(wb_lock(w));
	n = blob_nchunks(w->size);
	stored = (uint64_t)w->ndata << BLOB_CHUNK_SHIFT;
	if (n > 0 && wb_is_data(w, n - 1))
		stored -= BLOB_CHUNK_SIZE - blob_chunk_len(w->size, n - 1);
	pthread_rwlock_unlock(wb_lock(w));
	return stored;
}

ssize_t blob_wblob_pread(blob_wblob *w, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int rc = 0;

	pthread_rwlock_rdlock(&w->lock);
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
		if ((rc = read_chunk(w, i, (uint8_t *)buf + done, a, n)) < 0)
			goto out;
		done += n;
	}
out:
	pthread_rwlock_unlock(&w->lock);
	return rc < 0 ? rc : (ssize_t)done;
}

/* Writes [a, a + n) of chunk i from src (the size already covers it). */
static int write_chunk(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	size_t len = blob_chunk_len(w->size, i);
	size_t keep = 0;
	bool was_data;
	int rc;

	if (w->state[i] == 1)
		return overlay_write(w, src, n, chunk_start(i) + a);

	was_data = wb_is_data(w, i);
	if (a != 0 || n < len) {
		keep = stored_len(w, i) < len ? stored_len(w, i) : len;
		if ((rc = copy_stored(w, i, keep)) < 0)
			return rc;
	}
	if ((rc = overlay_write(w, src, n, chunk_start(i) + a)) < 0)
		return rc;
	if (keep > 0 && fdatasync(w->data_fd) < 0)
		return -errno;
	if ((rc = set_state(w, i, 1)) < 0)
		return rc;
	if (!was_data)
		w->ndata++;
	return 0;
}

/* Chunk i, whole (BLOB_CHUNK_SIZE bytes from src), straight into the
 * store: state 3 (see "Streaming").  src == w->stage: the batch may take
 * the stage's buffer and give another back instead of copying it; once
 * the batch has the chunk, its state shows it whatever fails after. */
static int stream_chunk(blob_wblob *w, uint32_t i, const uint8_t *src)
{
	bool was_data = wb_is_data(w, i);
	chunk_id id;
	int rc;

	if (w->batch == NULL && (rc = blob_batch_new(&w->batch, w->s)) < 0)
		return rc;
	if ((rc = open_ids(w, true)) < 0)
		return rc;
	/* The overlay's bytes of a state-1 chunk are freed once its new state
	 * is durable (a mid-upload fsync left a short last chunk there): room
	 * for its index first. */
	if (w->state[i] == 1 && w->npunch == w->punch_cap) {
		uint32_t cap = w->punch_cap ? 2 * w->punch_cap : 16;
		uint32_t *p = realloc(w->punch, cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		w->punch = p;
		w->punch_cap = cap;
	}
	rc = src == w->stage ? blob_batch_add_buf(w->batch, &id, &w->stage, BLOB_CHUNK_SIZE)
	                     : blob_batch_add(w->batch, &id, src, BLOB_CHUNK_SIZE);
	if (rc < 0)
		return rc;
	if (w->state[i] == 1)
		w->punch[w->npunch++] = i;
	pthread_mutex_lock(&w->batch_lock);
	w->uncommitted = true;
	pthread_mutex_unlock(&w->batch_lock);
	if (w->state[i] != 3)
		w->npend++;
	w->state[i] = 3;
	w->sid[i] = id;
	if (was_data && !wb_is_data(w, i))
		w->ndata--;
	else if (!was_data && wb_is_data(w, i))
		w->ndata++;
	/* For gc, which keeps every id a .ids file names. */
	return blob_pwrite_full(w->ids_fd, id.b, sizeof id, (uint64_t)i * WB_IDS_REC + sizeof id);
}

/* The staged chunk stops being staged: back to what its state shows.
 * Returns whether that is data (ndata counted the stage as data). */
static bool unstage(blob_wblob *w)
{
	w->staged = false;
	if (wb_is_data(w, w->stage_i))
		return true;
	w->ndata--;
	return false;
}

/* Stores the staged chunk: streamed when it is a whole chunk, else (the
 * blob's last chunk, shorter) written into the overlay. */
static int stage_flush(blob_wblob *w)
{
	uint32_t i = w->stage_i;
	size_t len;
	bool data;
	int rc;

	if (!w->staged)
		return 0;
	memset(w->stage + w->stage_end, 0, BLOB_CHUNK_SIZE - w->stage_end);
	w->stage_end = BLOB_CHUNK_SIZE;
	len = blob_chunk_len(w->size, i);
	data = unstage(w);
	uint8_t *stage = w->stage;
	rc = len == BLOB_CHUNK_SIZE ? stream_chunk(w, i, w->stage) : write_chunk(w, i, w->stage, 0, len);
	if (rc < 0 && w->stage == stage) { /* still staged: reads go on seeing it */
		w->staged = true;
		if (!data)
			w->ndata++;
	}
	return rc;
}

/* Writes [a, a + n) of chunk i into the stage, after the chunk's current
 * content when it was not staged (any other staged chunk flushed first). */
static int stage_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	size_t len = blob_chunk_len(w->size, i);
	int rc;

	if (!is_staged(w, i)) {
		bool was_data = wb_is_data(w, i);

		if ((rc = stage_flush(w)) < 0)
			return rc;
		if (w->stage == NULL && (w->stage = blob_chunk_buf_new()) == NULL)
			return -ENOMEM;
		/* A chunk with no data yet is zeros, put in as the writes come: a
		 * sequential writer fills it without any zeroing. */
		w->stage_end = 0;
		if (was_data) {
			if ((rc = read_chunk(w, i, w->stage, 0, len)) < 0)
				return rc;
			memset(w->stage + len, 0, BLOB_CHUNK_SIZE - len);
			w->stage_end = BLOB_CHUNK_SIZE;
		}
		w->staged = true;
		w->stage_i = i;
		if (!was_data)
			w->ndata++;
	}
	if (a > w->stage_end)
		memset(w->stage + w->stage_end, 0, a - w->stage_end);
	memcpy(w->stage + a, src, n);
	if (a + n > w->stage_end)
		w->stage_end = a + n;
	return 0;
}

/* A write of streaming wblob into chunk i: a whole chunk goes to the
 * store at once, anything less into the stage. */
static int stream_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t a, size_t n)
{
	if (n < BLOB_CHUNK_SIZE)
		return stage_write(w, i, src, a, n);
	if (is_staged(w, i))
		unstage(w); /* all of it replaced */
	return stream_chunk(w, i, src);
}

/* Makes every state-3 chunk state 2, durably (see "Streaming"). */
static int stream_sync(blob_wblob *w)
{
	uint32_t n = blob_nchunks(w->size);
	int rc;

	if ((rc = stage_flush(w)) < 0 || (rc = stream_commit(w)) < 0 || w->npend == 0)
		return rc;
	for (uint32_t i = 0; i < n; i++)
		if (w->state[i] == 3 &&
		    (rc = blob_pwrite_full(w->ids_fd, w->sid[i].b, sizeof w->sid[i], (uint64_t)i * WB_IDS_REC)) < 0)
			return rc;
	if (fdatasync(w->ids_fd) < 0)
		return -errno;
	if (w->ids_new) {
		if ((rc = blob_fsync_dir_at(w->s->wblobs_fd, NULL)) < 0)
			return rc;
		w->ids_new = false;
	}
	for (uint32_t i = 0; i < n && w->npend > 0; i++)
		if (w->state[i] == 3 && (rc = set_state(w, i, 2)) < 0)
			return rc;
	return 0;
}

ssize_t blob_wblob_pwrite(blob_wblob *w, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int rc = 0;

	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (off > BLOB_MAX_SIZE || len > BLOB_MAX_SIZE - off)
		return -EFBIG;

	pthread_rwlock_wrlock(&w->lock);
	if (off + len > w->size && (rc = wb_grow(w, off + len)) < 0)
		goto out;
	while (done < len) {
		uint64_t pos = off + done;
		uint32_t i = (uint32_t)(pos >> BLOB_CHUNK_SHIFT);
		size_t a = (size_t)(pos & BLOB_CHUNK_MASK);
		size_t n = BLOB_CHUNK_SIZE - a;

		if (n > len - done)
			n = len - done;
		if (w->streaming)
			rc = stream_write(w, i, (const uint8_t *)buf + done, a, n);
		else
			rc = write_chunk(w, i, (const uint8_t *)buf + done, a, n);
		if (rc < 0)
			goto out;
		done += n;
	}
out:
	pthread_rwlock_unlock(&w->lock);
	/* A failure after some chunks were written reports those. */
	return done > 0 ? (ssize_t)done : rc;
}

/* Zeroes [a, a + n) of chunk i, part of it (see "Punching"). */
static int punch_part(blob_wblob *w, uint32_t i, size_t a, size_t n)
{
	size_t len = blob_chunk_len(w->size, i);
	size_t keep;
	int rc;

	if (!wb_is_data(w, i))
		return 0; /* reads as zeros already */
	if (w->state[i] == 1)
		return zero_overlay(w, chunk_start(i) + a, n);
	keep = stored_len(w, i) < len ? stored_len(w, i) : len;
	if ((rc = copy_stored(w, i, keep)) < 0 || (rc = zero_overlay(w, chunk_start(i) + a, n)) < 0)
		return rc;
	if (keep > 0 && fdatasync(w->data_fd) < 0)
		return -errno;
	return set_state(w, i, 1);
}

/* Makes chunk i a hole (see "Punching"). */
static int punch_whole(blob_wblob *w, uint32_t i)
{
	uint8_t old = w->state[i];
	int rc;

	if (!wb_is_data(w, i))
		return 0;
	if ((rc = set_state(w, i, 4)) < 0)
		return rc;
	w->ndata--;
	/* Best effort: the bytes are invisible from now on, only take room. */
	if (old == 1)
		zero_overlay(w, chunk_start(i), BLOB_CHUNK_SIZE);
	return 0;
}

int blob_wblob_punch(blob_wblob *w, uint64_t off, uint64_t len)
{
	uint64_t end;
	int rc = 0;

	pthread_rwlock_wrlock(&w->lock);
	if (w->streaming) {
		rc = -EOPNOTSUPP;
		goto out;
	}
	if (off >= w->size || len == 0)
		goto out;
	end = len > w->size - off ? w->size : off + len;
	while (off < end) {
		uint32_t i = (uint32_t)(off >> BLOB_CHUNK_SHIFT);
		size_t a = (size_t)(off & BLOB_CHUNK_MASK);
		size_t clen = blob_chunk_len(w->size, i);
		size_t n = end - off < clen - a ? (size_t)(end - off) : clen - a;

		rc = a == 0 && n == clen ? punch_whole(w, i) : punch_part(w, i, a, n);
		if (rc < 0)
			goto out;
		off += n;
	}
out:
	pthread_rwlock_unlock(&w->lock);
	return rc;
}

int blob_wblob_truncate(blob_wblob *w, uint64_t size)
{
	int rc;

	pthread_rwlock_wrlock(&w->lock);
	if ((rc = stage_flush(w)) == 0) /* a shrink must not cut the stage */
		rc = wb_truncate_locked(w, size);
	pthread_rwlock_unlock(&w->lock);
	return rc;
}

int64_t blob_wblob_seek(blob_wblob *w, uint64_t off, int whence)
{
	int64_t rc;

	pthread_rwlock_rdlock(&w->lock);
	rc = blob_seek_chunks(w->size, off, whence, wb_is_data, w);
	pthread_rwlock_unlock(&w->lock);
	return rc;
}

void blob_wblob_stream(blob_wblob *w)
{
	pthread_rwlock_wrlock(&w->lock);
	w->streaming = true;
	pthread_rwlock_unlock(&w->lock);
}

int blob_wblob_fsync(blob_wblob *w)
{
	int rc = 0;

	/* Exclusive only when streamed chunks change state. */
	if (w->streaming)
		pthread_rwlock_wrlock(&w->lock);
	else
		pthread_rwlock_rdlock(&w->lock);
	if (w->streaming && (rc = stream_sync(w)) < 0)
		goto out;
	if (fsync(w->data_fd) < 0 || fsync(w->map_fd) < 0) {
		rc = -errno;
		goto out;
	}
	/* Durable state 2 now: the overlay's old bytes are never shown again
	 * (best effort: they only take room). */
	for (uint32_t k = 0; k < w->npunch; k++)
		if (state_of(w, w->punch[k]) == 2)
			zero_overlay(w, chunk_start(w->punch[k]), BLOB_CHUNK_SIZE);
	w->npunch = 0;
out:
	pthread_rwlock_unlock(&w->lock);
	return rc;
}

int blob_wblob_seal(blob_wblob *w, blob_manifest **out)
{
	return blob_wblob_seal_progress(w, out, NULL, NULL);
}

/* The callback runs under the read lock, between chunks: it may take its
 * time (a capture writes its progress to the database there) but must not
 * write to this wblob.  "done" counts chunks handed to the batch, not yet
 * durable ones: nothing is durable before the final commit anyway. */
int blob_wblob_seal_progress(blob_wblob *w, blob_manifest **out,
                             int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
{
	blob_manifest *m = NULL;
	blob_batch *b = NULL;
	uint8_t *buf = NULL;
	int rc;

	pthread_rwlock_rdlock(&w->lock);
	if ((rc = blob_manifest_new(&m, w->size)) < 0 || (rc = blob_batch_new(&b, w->s)) < 0)
		goto out;
	buf = blob_chunk_buf_new(); /* handed to the batch in exchange for another */
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* Streamed chunks the manifest names as they are: in the store by name. */
	if (w->npend > 0 && (rc = stream_commit(w)) < 0)
		goto out;
	for (uint32_t i = 0; i < m->nchunks; i++) {
		size_t len = blob_chunk_len(w->size, i);
		size_t sl = stored_len(w, i);

		bool written = is_staged(w, i) || state_of(w, i) == 1;

		if (!written && sl == len) {
			m->chunks[i] = *stored_id(w, i); /* unchanged or streamed: no copy */
		} else if (written || sl != 0) { /* else a hole */
			if ((rc = read_chunk(w, i, buf, 0, len)) < 0)
				goto out;
			if ((rc = blob_batch_add_buf(b, &m->chunks[i], &buf, len)) < 0)
				goto out;
		}
		if (progress && progress(arg, chunk_start(i) + len, w->size) != 0) {
			rc = -ECANCELED; /* the batch's uncommitted chunks go */
			goto out;
		}
	}
	/* The caller commits the manifest once this returns: every chunk it
	 * names must be durable by then. */
	if ((rc = blob_batch_commit(b)) < 0)
		goto out;
	blob_manifest_update_stored(m);
	*out = m;
	m = NULL;
	rc = 0;
out:
	pthread_rwlock_unlock(&w->lock);
	blob_batch_free(b);
	free(buf);
	blob_manifest_free(m);
	return rc;
}

/* Every id a .ids file names, synced or pending (the file may be being
 * written: a short last id is ignored). */
static int add_ids_file(int dirfd, const char *file, blob_idset *set)
{
	uint8_t buf[4096];
	uint64_t off = 0;
	ssize_t got = 0;
	int fd, rc = 0;

	if ((fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno; /* removed meanwhile */
	while (rc == 0 && (got = blob_pread_full(fd, buf, sizeof buf, off)) > 0) {
		for (size_t k = 0; k + sizeof(chunk_id) <= (size_t)got && rc == 0; k += sizeof(chunk_id)) {
			chunk_id id;
			memcpy(id.b, buf + k, sizeof id);
			if (!chunk_id_is_null(&id))
				rc = blob_idset_add(set, &id);
		}
		off += (uint64_t)got;
		if ((size_t)got < sizeof buf)
			break;
	}
	if (rc == 0 && got < 0)
		rc = (int)got;
	close(fd);
	return rc;
}

int blob_wblob_add_base_ids(blob_store *s, blob_idset *set)
{
	struct dirent *e;
	DIR *d = NULL;
	int fd;
	int rc;

	fd = openat(s->wblobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	for (;;) {
		blob_manifest *base = NULL;
		uint64_t size, state_off;
		uint32_t limit;
		size_t n;
		int mfd;

		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			rc = errno ? -errno : 0;
			break;
		}
		n = strlen(e->d_name);
		if (n > 4 && strcmp(e->d_name + n - 4, ".ids") == 0) {
			if ((rc = add_ids_file(dirfd(d), e->d_name, set)) < 0)
				break;
			continue;
		}
		if (n < 5 || strcmp(e->d_name + n - 4, ".map") != 0)
			continue;
		mfd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
		if (mfd < 0) {
			if (errno == ENOENT) /* removed meanwhile */
				continue;
			rc = -errno;
			break;
		}
		rc = read_map_header(mfd, &size, &limit, &state_off, &base);
		close(mfd);
		/* A map gc cannot read might still need its chunks: stop. */
		if (rc < 0)
			break;
		for (uint32_t i = 0; i < base->nchunks && rc == 0; i++)
			rc = blob_idset_add(set, &base->chunks[i]);
		blob_manifest_free(base);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

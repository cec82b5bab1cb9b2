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
 *   <name>.data   the overlay: sparse, as long as the virtual size; bytes
 *                 past its end read as zeros
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

/* Bytes chunk i shows from the base (before clipping to the chunk length). */
static size_t base_len(const blob_wblob *w, uint32_t i)
{
	if (i >= w->base_limit || i >= w->base->nchunks || chunk_id_is_null(&w->base->chunks[i]))
		return 0;
	return blob_chunk_len(w->base->size, i);
}

static uint8_t state_of(const blob_wblob *w, uint32_t i)
{
	return i < w->cap ? w->state[i] : 0;
}

static bool wb_is_data(const void *ctx, uint32_t i)
{
	const blob_wblob *w = ctx;

	return state_of(w, i) == 1 || base_len(w, i) > 0;
}

static int ensure_cap(blob_wblob *w, uint32_t need)
{
	uint8_t *p;
	uint32_t cap;

	if (need <= w->cap)
		return 0;
	cap = w->cap > need / 2 ? (w->cap <= UINT32_MAX / 2 ? w->cap * 2 : UINT32_MAX) : need;
	if (cap < need)
		cap = need;
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
	w->state[i] = v;
	return 0;
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

/* Bytes [a, a + n) of chunk i as the base shows it (state 0). */
static int read_base(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	size_t bl = base_len(w, i);
	size_t m = 0;
	int rc;

	if (a < bl) {
		m = bl - a < n ? bl - a : n;
		if ((rc = blob_store_read_chunk(w->s, &w->base->chunks[i], bl, dst, a, m)) < 0)
			return rc;
	}
	memset(dst + m, 0, n - m);
	return 0;
}

/* Bytes [a, a + n) of chunk i as the blob shows it. */
static int read_chunk(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	ssize_t got;

	if (state_of(w, i) == 0)
		return read_base(w, i, dst, a, n);
	got = blob_pread_full(w->data_fd, dst, n, chunk_start(i) + a);
	if (got < 0)
		return (int)got;
	memset(dst + got, 0, n - (size_t)got);
	return 0;
}

/* Makes the overlay's chunk i hold the base's first `keep` bytes of it and
 * zeros after.  Does not change the state byte. */
static int copy_base(blob_wblob *w, uint32_t i, size_t keep)
{
	uint8_t *buf = NULL;
	int rc;

	if ((rc = zero_overlay(w, chunk_start(i), BLOB_CHUNK_SIZE)) < 0 || keep == 0)
		return rc;
	buf = malloc(keep);
	if (buf == NULL)
		return -ENOMEM;
	if ((rc = read_base(w, i, buf, 0, keep)) < 0)
		goto out;
	rc = overlay_write(w, buf, keep, chunk_start(i));
out:
	free(buf);
	return rc;
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
	if (r != 0 && w->state[k] == 0 && base_len(w, k) > r) {
		if ((rc = copy_base(w, k, r)) < 0)
			return rc;
		if (fdatasync(w->data_fd) < 0)
			return -errno;
		if ((rc = set_state(w, k, 1)) < 0)
			return rc;
	}
	/* Beyond the old end the states are 0 in memory already (open loads
	 * none there, shrink clears them) but maybe not in the file. */
	memset(w->state + first, 0, w->cap - first);
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
	memset(w->state + first, 0, w->cap - first);
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
	if ((fd = blob_local_tmp_create(s->be, tmp, sizeof tmp, 0600)) < 0) {
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

	/* The overlay: any leftover of an earlier wblob of this name goes. */
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
	w->map_fd = w->data_fd = -1;
	if ((rc = pthread_rwlock_init(&w->lock, NULL)) != 0) {
		free(w);
		return -rc;
	}
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
	for (uint32_t i = 0; i < n; i++) {
		if (w->state[i] > 1) {
			rc = -EIO;
			goto out;
		}
		if (wb_is_data(w, i))
			w->ndata++;
	}

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
	pthread_rwlock_destroy(&w->lock);
	blob_manifest_free(w->base);
	free(w->state);
	free(w);
}

int blob_wblob_remove(blob_store *s, const char *name)
{
	char map[WB_FILE_MAX], data[WB_FILE_MAX];

	if (!wb_name_ok(name))
		return -EINVAL;
	wb_file(map, name, "map");
	wb_file(data, name, "data");
	/* The map first: without it the name no longer opens.  A crash between
	 * the two unlinks leaves an overlay alone, which a later remove (fsck)
	 * takes away. */
	bool had_map = unlinkat(s->wblobs_fd, map, 0) == 0;
	if (!had_map && errno != ENOENT)
		return -errno;
	if (unlinkat(s->wblobs_fd, data, 0) < 0) {
		if (errno != ENOENT)
			return -errno;
		if (!had_map)
			return -ENOENT;
	}
	return blob_fsync_dir_at(s->wblobs_fd, NULL);
}

/* The wblob name of a file in wblobs/ ("<name>.map" or "<name>.data") into
 * out; false for any other file. */
static bool wb_split(const char *file, char out[WB_NAME_MAX + 1], bool *is_map)
{
	size_t n = strlen(file), stem;

	if (n > 4 && strcmp(file + n - 4, ".map") == 0) {
		stem = n - 4;
		*is_map = true;
	} else if (n > 5 && strcmp(file + n - 5, ".data") == 0) {
		stem = n - 5;
		*is_map = false;
	} else {
		return false;
	}
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
	bool is_map;
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
		if (!wb_split(e->d_name, name, &is_map))
			continue;
		int64_t map_mtime = wb_mtime(s, name, "map"), data_mtime = wb_mtime(s, name, "data");
		/* A wblob is named once, by its map; an overlay only when its map
		 * is gone.  A file the callback removed meanwhile is skipped
		 * (readdir may still return it). */
		if (!is_map && map_mtime >= 0)
			continue;
		if ((is_map ? map_mtime : data_mtime) < 0)
			continue;
		if ((rc = cb(arg, name, map_mtime > data_mtime ? map_mtime : data_mtime)) != 0)
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
		keep = base_len(w, i) < len ? base_len(w, i) : len;
		if ((rc = copy_base(w, i, keep)) < 0)
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
		if ((rc = write_chunk(w, i, (const uint8_t *)buf + done, a, n)) < 0)
			goto out;
		done += n;
	}
out:
	pthread_rwlock_unlock(&w->lock);
	/* A failure after some chunks were written reports those. */
	return done > 0 ? (ssize_t)done : rc;
}

int blob_wblob_truncate(blob_wblob *w, uint64_t size)
{
	int rc;

	pthread_rwlock_wrlock(&w->lock);
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

int blob_wblob_fsync(blob_wblob *w)
{
	int rc = 0;

	pthread_rwlock_rdlock(&w->lock);
	if (fsync(w->data_fd) < 0 || fsync(w->map_fd) < 0)
		rc = -errno;
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
	buf = malloc(BLOB_CHUNK_SIZE);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < m->nchunks; i++) {
		size_t len = blob_chunk_len(w->size, i);
		size_t bl = base_len(w, i);

		if (state_of(w, i) == 0 && bl == len) {
			m->chunks[i] = w->base->chunks[i]; /* unchanged: no copy */
		} else if (state_of(w, i) != 0 || bl != 0) { /* else a hole */
			if ((rc = read_chunk(w, i, buf, 0, len)) < 0)
				goto out;
			if ((rc = blob_batch_add(b, &m->chunks[i], buf, len)) < 0)
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

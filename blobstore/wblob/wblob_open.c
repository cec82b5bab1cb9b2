/*
 * wblob_open.c — a writable blob's life: create (the map written whole
 * under a temporary name and linked into place), open (only the map's
 * allocated blocks and the .ids records of WB_STORED chunks are read),
 * close, remove (.map first), list, and the ids gc must keep.  The
 * format and its crash-safety reasoning: wblob.c's header comment.
 *
 * Who calls it: model/ (creating, opening, removing, listing wblobs; gc).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wblob_int.h"

/* ---- the public operations ------------------------------------------------ */

/* Unlinks every .data.<k> of name (what an earlier wblob of the name, or
 * a crash in a remove, left): true when one existed.  -errno other than
 * ENOENT stops it. */
static int unlink_exts(blob_store *s, const char *name, bool *had)
{
	char file[WB_FILE_MAX];

	for (uint32_t k = 1; k < WB_NSEG; k++) {
		wb_ext_file(file, name, k);
		if (unlinkat(s->wblobs_fd, file, 0) == 0)
			*had = true;
		else if (errno != ENOENT)
			return -errno;
	}
	return 0;
}

int blob_wblob_create(blob_store *s, const char *name, const blob_manifest *base, uint64_t size)
{
	return blob_wblob_create_in(s, BLOB_WB_HOST, name, base, size);
}

int blob_wblob_create_in(blob_store *s, enum blob_wb_where where, const char *name, const blob_manifest *base,
                         uint64_t size)
{
	char tmp[64], map[WB_FILE_MAX], data[WB_FILE_MAX];
	uint64_t data_max = (uint64_t)WB_SEG_CHUNKS << BLOB_CHUNK_SHIFT;
	blob_manifest *empty = NULL;
	void *enc = NULL;
	size_t enclen;
	uint8_t *hdr = NULL;
	bool have_tmp = false, have_map = false, had = false;
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

	/* In the cluster: the header object, made whole in one operation. */
	if (wb_cl_where(s, where)) {
		rc = wb_cl_create(s, name, hdr, WB_HEADER + enclen);
		goto out;
	}
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
	 * of this one is streamed), its further overlays and arrived chunks (no
	 * WB_OVERLAY_EXT or WB_ARRIVED in the new map points at them either)
	 * and its overlay. */
	wb_file(data, name, "ids");
	if (unlinkat(s->wblobs_fd, data, 0) < 0 && errno != ENOENT) {
		rc = -errno;
		goto out;
	}
	if ((rc = unlink_exts(s, name, &had)) < 0 || (rc = wb_arr_remove(s, name)) < 0)
		goto out;
	wb_file(data, name, "data");
	fd = openat(s->wblobs_fd, data, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (ftruncate(fd, (off_t)(size < data_max ? size : data_max)) < 0 || fsync(fd) < 0) {
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

/* Loads from .ids the ids of the WB_STORED chunks, a run of consecutive
 * ones per read (at most LOAD_IDS_RUN records): the cost follows the
 * streamed chunks, not the size. */
#define LOAD_IDS_RUN 1024
static int load_ids(blob_wblob *w)
{
	uint8_t *rec = NULL;
	uint32_t i = 0;
	int rc = 0;

	while (rc == 0 && blob_radix_next(&w->state, i, &i)) {
		uint32_t j = i;
		ssize_t got;

		if (wb_state_of(w, i) != WB_STORED) {
			if (i == UINT32_MAX)
				break;
			i++;
			continue;
		}
		if (rec == NULL) {
			if ((rc = wb_open_ids(w, false)) < 0) {
				rc = rc == -ENOENT ? -EIO : rc;
				break;
			}
			if ((rec = malloc(LOAD_IDS_RUN * WB_IDS_REC)) == NULL) {
				rc = -ENOMEM;
				break;
			}
		}
		while (j - i + 1 < LOAD_IDS_RUN && j < UINT32_MAX && wb_state_of(w, j + 1) == WB_STORED)
			j++;
		got = blob_pread_full(w->ids_fd, rec, (size_t)(j - i + 1) * WB_IDS_REC, (uint64_t)i * WB_IDS_REC);
		if (got < 0 || (size_t)got < (size_t)(j - i + 1) * WB_IDS_REC) {
			rc = got < 0 ? (int)got : -EIO;
			break;
		}
		for (uint32_t x = i; x <= j && rc == 0; x++)
			rc = blob_radix_set(&w->sid, x, rec + (size_t)(x - i) * WB_IDS_REC);
		if (j == UINT32_MAX)
			break;
		i = j + 1;
	}
	free(rec);
	return rc;
}

/* Loads the state bytes of the first n chunks from the map, reading only
 * its allocated blocks (SEEK_DATA / SEEK_HOLE; a file system that does not
 * tell has the whole file read).  -EIO for a state byte no writer makes.
 * *in_data: one past the last chunk in WB_OVERLAY (its bytes in .data), 0
 * when none is. */
static int load_states(blob_wblob *w, uint32_t n, uint64_t *in_data)
{
	uint8_t buf[16384]; /* -Wstack-usage=65536: with room to spare */
	uint64_t end = w->state_off + n < w->map_len ? w->state_off + n : w->map_len;
	uint64_t pos = w->state_off;
	int rc;

	while (pos < end) {
		off_t d = lseek(w->map_fd, (off_t)pos, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			break;
		if (d < 0) {
			if (errno != EINVAL && errno != EOPNOTSUPP)
				return -errno;
			d = (off_t)pos; /* no answer: all of it is data */
			h = (off_t)end;
		} else if ((h = lseek(w->map_fd, d, SEEK_HOLE)) < 0) {
			h = (off_t)end;
		}
		if ((uint64_t)d >= end)
			break;
		if ((uint64_t)h > end)
			h = (off_t)end;
		for (uint64_t p = (uint64_t)d; p < (uint64_t)h;) {
			size_t want = (uint64_t)h - p < sizeof buf ? (size_t)((uint64_t)h - p) : sizeof buf;
			ssize_t got = blob_pread_full(w->map_fd, buf, want, p);

			if (got < 0)
				return (int)got;
			if (got == 0)
				break;
			for (size_t k = 0; k < (size_t)got; k++) {
				uint32_t i = (uint32_t)(p + k - w->state_off);
				uint8_t v = buf[k];

				if (v == WB_BASE)
					continue;
				if (v == WB_STREAMED || v > WB_ARRIVED ||
				    (v == WB_OVERLAY_EXT && i < WB_SEG_CHUNKS))
					return -EIO;
				if ((rc = blob_radix_set(&w->state, i, &v)) < 0)
					return rc;
				if (v == WB_OVERLAY)
					*in_data = (uint64_t)i + 1;
			}
			p += (uint64_t)got;
		}
		pos = (uint64_t)h;
	}
	return 0;
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

/* The same from a header held in memory (a cluster wblob's). */
static int decode_map_header(const uint8_t *h, size_t len, uint64_t *size, uint32_t *limit, uint64_t *state_off,
                             blob_manifest **base)
{
	uint32_t enclen;

	if (len < WB_HEADER || memcmp(h, WB_MAGIC, 8) != 0)
		return -EIO;
	*size = blob_get_le64(h + 8);
	*limit = blob_get_le32(h + 16);
	enclen = blob_get_le32(h + 20);
	if (len - WB_HEADER != enclen || blob_manifest_decode(base, h + WB_HEADER, enclen) < 0)
		return -EIO;
	if (*size > BLOB_MAX_SIZE || *limit > (*base)->nchunks) {
		blob_manifest_free(*base);
		*base = NULL;
		return -EIO;
	}
	*state_off = WB_HEADER + (uint64_t)enclen;
	return 0;
}

int blob_wblob_open(blob_wblob **out, blob_store *s, const char *name)
{
	return blob_wblob_open_key(out, s, name, NULL);
}

/* Opens <name>.data (w->data) and checks that it holds every chunk a
 * state byte says is there: one past the last, in_data (load_states).
 * Each such chunk's first byte was written before its state byte (see
 * "Writes"), and no truncate takes a chunk below the size, so .data
 * ends past that chunk's start.  Missing with no chunk in it, it is what
 * a crash between the map's link and its creation left: made now, all
 * zeros as it was.  Missing or short otherwise, it was lost or cut
 * outside imgfs (a disk gone bad, an operator's slip): -EIO and a line in
 * the store's log — never zeros where the guest wrote data (issue 36). */
static int open_data(blob_wblob *w, const char *data, uint64_t in_data, char *why, size_t cap)
{
	char reason[256];
	struct stat st;
	w->data.fd = openat(w->s->wblobs_fd, data, O_RDWR | O_CLOEXEC);
	if (w->data.fd < 0 && errno == ENOENT && in_data == 0)
		w->data.fd = openat(w->s->wblobs_fd, data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->data.fd < 0 && errno == ENOENT && in_data > 0) {
		snprintf(reason, sizeof reason, "its overlay %s is missing (chunk %llu was written there)", data,
		         (unsigned long long)(in_data - 1));
		goto lost;
	}
	if (w->data.fd < 0 || fstat(w->data.fd, &st) < 0)
		return -errno;
	w->data.len = (uint64_t)st.st_size;
	if (in_data > 0 && w->data.len <= wb_chunk_start((uint32_t)(in_data - 1))) {
		snprintf(reason, sizeof reason, "its overlay %s is cut short at %llu bytes (chunk %llu was written there)",
		         data, (unsigned long long)w->data.len, (unsigned long long)(in_data - 1));
		goto lost;
	}
	return 0;
lost:
	blob_log_line(&w->s->log, "writable blob %s: %s: EIO", w->name, reason);
	if (why)
		snprintf(why, cap, "%s", reason);
	return -EIO;
}

int blob_wblob_open_key(blob_wblob **out, blob_store *s, const char *name, const blob_key *key)
{
	return blob_wblob_open_why(out, s, name, key, NULL, 0);
}

int blob_wblob_open_why(blob_wblob **out, blob_store *s, const char *name, const blob_key *key, char *why,
                        size_t cap)
{
	return blob_wblob_open_in(out, s, BLOB_WB_HOST, name, key, why, cap);
}

static int load_rec(void *arg, uint32_t i, const uint8_t *val, size_t n)
{
	return wb_cl_load_rec(arg, i, val, n);
}

/* The rest of a cluster wblob's open (w made, its locks and radixes
 * ready): the disk opened — its last writer fenced — and read. */
static int open_cluster(blob_wblob *w, char *why, size_t cap)
{
	uint8_t *hdr = NULL;
	size_t len = 0;
	uint32_t n, any;
	int rc;

	w->cx = w->s->be->disks;
	if ((rc = w->cx->open(w->s->be, w->name, !w->reader, &w->cl, &hdr, &len, load_rec, w, why, cap)) < 0) {
		if (why && cap && !why[0] && rc != -ENOENT)
			snprintf(why, cap, "cluster disk %s: %s", w->name, strerror(-rc));
		return rc;
	}
	rc = decode_map_header(hdr, len, &w->size, &w->base_limit, &w->state_off, &w->base);
	free(hdr);
	if (rc < 0) {
		if (why && cap)
			snprintf(why, cap, "cluster disk %s: its header is damaged", w->name);
		w->damaged = true;
		return rc;
	}
	/* Records beyond the end (a shrink killed before it removed them):
	 * removed now (a reader forgets them), so that memory holds every
	 * record there is. */
	n = blob_nchunks(w->size);
	if (blob_radix_next(&w->state, n, &any)) {
		if (w->reader) {
			blob_radix_clear_from(&w->state, n);
			blob_radix_clear_from(&w->sid, n);
		} else if ((rc = wb_states_cut(w, n)) < 0) {
			return rc;
		}
	}
	if ((rc = wb_cl_resolve(w, why, cap)) < 0)
		return rc;
	/* Patched chunks (after the cut: only those inside the disk): their
	 * marks, each read when first needed. */
	if ((rc = wb_pt_load(w)) < 0)
		return rc;
	for (uint32_t i = wb_next_data(w, 0, n); i < n; i = wb_next_data(w, i + 1, n))
		w->ndata++;
	return 0;
}

static int open_in(blob_wblob **out, blob_store *s, enum blob_wb_where where, const char *name, const blob_key *key,
                   bool reader, bool judged, char *why, size_t cap);

int blob_wblob_open_in(blob_wblob **out, blob_store *s, enum blob_wb_where where, const char *name,
                       const blob_key *key, char *why, size_t cap)
{
	return open_in(out, s, where, name, key, false, false, why, cap);
}

int blob_wblob_open_reader(blob_wblob **out, blob_store *s, enum blob_wb_where where, const char *name,
                           const blob_key *key, char *why, size_t cap)
{
	return open_in(out, s, where, name, key, true, false, why, cap);
}

int blob_wblob_open_judged(blob_wblob **out, blob_store *s, enum blob_wb_where where, const char *name,
                           const blob_key *key, char *why, size_t cap)
{
	return open_in(out, s, where, name, key, true, true, why, cap);
}

static int open_in(blob_wblob **out, blob_store *s, enum blob_wb_where where, const char *name, const blob_key *key,
                   bool reader, bool judged, char *why, size_t cap)
{
	char map[WB_FILE_MAX], data[WB_FILE_MAX];
	blob_wblob *w;
	struct stat st;
	uint64_t in_data = 0;
	uint32_t n;
	int rc;

	if (why && cap)
		why[0] = '\0';

	if (!wb_name_ok(name))
		return -EINVAL;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return -ENOMEM;
	w->s = s;
	w->reader = reader;
	w->key = blob_key_ref(key);
	w->map_fd = w->data.fd = w->ids_fd = -1;
	snprintf(w->name, sizeof w->name, "%s", name);
	/* A cluster wblob's first writes hold the shared lock over their round
	 * trips and take the exclusive one to show their chunk: with glibc's
	 * default (readers first) that waited until no write at all was in
	 * flight, 60-150 ms with 16 in flight, and their records seldom met in
	 * one operation (wblob_recs.c).  Writers first: no thread takes it
	 * twice (the lock order, imgfs_lock.h, forbids it). */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	if (wb_cl_where(s, where))
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&w->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0) {
		free(w);
		return -rc;
	}
	pthread_mutex_init(&w->ext_lock, NULL);
	pthread_cond_init(&w->busy_cv, NULL);
	blob_radix_init(&w->state, 1, WB_STATE_LEAF_BITS);
	blob_radix_init(&w->sid, sizeof(chunk_id), WB_SID_LEAF_BITS);
	blob_radix_init(&w->wbits, WB_MARKS_LEN, WB_SID_LEAF_BITS);
	if (wb_cl_where(s, where)) {
		/* Plain only: the cluster holds no encrypted overlay (yet). */
		if (key != NULL) {
			rc = -EOPNOTSUPP;
			if (why && cap)
				snprintf(why, cap, "an encrypted disk is not kept in the cluster");
			goto out;
		}
		if ((rc = open_cluster(w, why, cap)) < 0)
			goto out;
		*out = w;
		w = NULL;
		goto out;
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
	/* The base is of the wblob's lineage: its chunks under the same key. */
	blob_manifest_set_key(w->base, key);
	if (key != NULL && (rc = blob_key_xts(key, name, &w->xts)) < 0)
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
	if ((rc = load_states(w, n, &in_data)) < 0 || (rc = load_ids(w)) < 0)
		goto out;
	for (uint32_t i = wb_next_data(w, 0, n); i < n; i = wb_next_data(w, i + 1, n))
		w->ndata++;

	if ((rc = open_data(w, data, in_data, why, cap)) < 0)
		goto out;
	/* A plain wblob's whole-chunk writes arrive as files (until it streams
	 * or is told overlay_only); an encrypted one's never do. */
	if (key == NULL && (rc = wb_arr_new(w)) < 0)
		goto out;
	*out = w;
	w = NULL;
	rc = 0;
out:
	if (rc == -EIO && judged && w != NULL && w->damaged)
		rc = -EUCLEAN;
	blob_wblob_close(w);
	return rc;
}

void blob_wblob_close(blob_wblob *w)
{
	if (w == NULL)
		return;
	if (w->cl) {
		(void)blob_wblob_settle(w, NULL); /* writers answered ahead still use w */
		(void)wb_cl_confirm_all(w); /* best effort: the next open resolves what is left */
		w->cx->close(w->cl); /* waits for the reads and writes started on it */
		/* One started and answered before its starter let go of the
		 * shared lock (a fast cluster) has let go once this is taken. */
		IMGFS_WRLOCK(&w->lock, blob_wblob_lock);
		IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	}
	wb_rq_free(w);
	free(w->unsure);
	if (w->map_fd >= 0)
		close(w->map_fd);
	if (w->data.fd >= 0)
		close(w->data.fd);
	if (w->ids_fd >= 0)
		close(w->ids_fd);
	for (uint32_t k = 0; w->ext && k < WB_NSEG; k++)
		if (w->ext[k].fd >= 0)
			close(w->ext[k].fd);
	wb_stream_free(w);
	wb_arr_free(w->arr);
	free(w->left);
	free(w->ext);
	pthread_cond_destroy(&w->busy_cv);
	pthread_mutex_destroy(&w->ext_lock);
	pthread_rwlock_destroy(&w->lock);
	blob_manifest_free(w->base);
	blob_radix_release(&w->state);
	blob_radix_release(&w->sid);
	blob_radix_release(&w->wbits);
	blob_key_unref(w->key);
	explicit_bzero(&w->xts, sizeof w->xts);
	free(w);
}

void blob_wblob_mem(const blob_wblob *w, struct blob_wblob_mem *out)
{
	out->state_leaves = w->state.leaves;
	out->sid_leaves = w->sid.leaves;
	out->dirs = w->state.dirs + w->sid.dirs;
	out->base_entries = w->base->count;
	out->pend_cap = wb_stream_pend_cap(w);
	out->ext = w->ext != NULL;
}

/* A wblob's files, in the order remove unlinks them and list names them;
 * the .data.<k> come after. */
static const char *const wb_exts[] = {"map", "ids", "data"};
#define WB_NEXTS (sizeof wb_exts / sizeof wb_exts[0])

int blob_wblob_remove(blob_store *s, const char *name)
{
	return blob_wblob_remove_in(s, BLOB_WB_HOST, name);
}

int blob_wblob_remove_in(blob_store *s, enum blob_wb_where where, const char *name)
{
	char file[WB_FILE_MAX];
	bool had = false;
	int rc;

	if (!wb_name_ok(name))
		return -EINVAL;
	if (wb_cl_where(s, where))
		return wb_cl_remove(s, name);
	/* The map first: without it the name no longer opens.  A crash between
	 * the unlinks leaves the other files alone, which a later remove (fsck)
	 * takes away. */
	for (size_t k = 0; k < WB_NEXTS; k++) {
		wb_file(file, name, wb_exts[k]);
		if (unlinkat(s->wblobs_fd, file, 0) == 0)
			had = true;
		else if (errno != ENOENT)
			return -errno;
		/* The arrived chunks after the map, before the files that
		 * still name the wblob to a later remove. */
		if (k == 0 && (rc = wb_arr_remove(s, name)) < 0)
			return rc;
	}
	if ((rc = unlink_exts(s, name, &had)) < 0)
		return rc;
	return had ? blob_fsync_dir_at(s->wblobs_fd, NULL) : -ENOENT;
}

/* The wblob name of a file in wblobs/ ("<name>.<one of wb_exts>", or
 * "<name>.data.<k>") into out, and which of them it is (WB_NEXTS - 1 + k
 * for .data.<k>); false for any other file. */
static bool wb_split(const char *file, char out[WB_NAME_MAX + 1], size_t *ext)
{
	size_t n = strlen(file), stem;
	const char *dot = strrchr(file, '.');

	for (*ext = 0; *ext < WB_NEXTS; ++*ext) {
		size_t el = strlen(wb_exts[*ext]);
		if (n > el + 1 && file[n - el - 1] == '.' && strcmp(file + n - el, wb_exts[*ext]) == 0)
			break;
	}
	if (*ext < WB_NEXTS) {
		stem = n - strlen(wb_exts[*ext]) - 1;
	} else {
		/* "<name>.data.<k>", k a decimal 1 .. WB_NSEG - 1 without a leading 0 */
		unsigned long k = 0;
		if (dot == NULL || dot[1] < '1' || dot[1] > '9' || dot - file < 6 || memcmp(dot - 5, ".data", 5) != 0)
			return false;
		for (const char *p = dot + 1; *p; p++) {
			if (*p < '0' || *p > '9' || k >= WB_NSEG)
				return false;
			k = k * 10 + (unsigned long)(*p - '0');
		}
		if (k >= WB_NSEG)
			return false;
		*ext = WB_NEXTS - 1 + k;
		stem = (size_t)(dot - 5 - file);
	}
	if (stem > WB_NAME_MAX)
		return false;
	memcpy(out, file, stem);
	out[stem] = '\0';
	return wb_name_ok(out);
}

/* The modification time of wblobs/<file>, -1 when absent. */
static int64_t wb_mtime(const blob_store *s, const char *file)
{
	struct stat st;

	return fstatat(s->wblobs_fd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (int64_t)st.st_mtime : -1;
}

int blob_wblob_list(blob_store *s, int (*cb)(void *arg, const char *name, int64_t mtime), void *arg)
{
	char name[WB_NAME_MAX + 1], file[WB_FILE_MAX];
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
		 * (its map, unless a crash in a remove left the others), with the
		 * newest mtime of its map, ids and data (its .data.<k> are written
		 * only after those exist; one left alone by a crash in a remove
		 * counts on its own).  A file the callback removed meanwhile is
		 * skipped (readdir may still return it). */
		int64_t newest = -1;
		size_t first = SIZE_MAX;
		for (size_t k = 0; k < WB_NEXTS || (first == SIZE_MAX && k <= ext); k++) {
			int64_t mt;
			if (k < WB_NEXTS)
				wb_file(file, name, wb_exts[k]);
			else
				wb_ext_file(file, name, (uint32_t)(k - WB_NEXTS + 1));
			mt = wb_mtime(s, file);
			if (mt >= 0 && first == SIZE_MAX)
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

/* Every id a .ids file names, synced or pending (the file may be being
 * written: a short last id is ignored).  Only its allocated blocks are
 * read (SEEK_DATA / SEEK_HOLE): the file is as sparse as the chunks
 * streamed are far apart. */
static int add_ids_file(int dirfd, const char *file, blob_idset *set)
{
	uint8_t buf[4096];
	uint64_t off = 0;
	ssize_t got = 0;
	int fd, rc = 0;

	if ((fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno; /* removed meanwhile */
	for (;;) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA);
		if (d < 0) {
			if (errno != ENXIO)
				rc = -errno;
			break;
		}
		/* From the record holding the data on: ids are 16-byte aligned. */
		off = (uint64_t)d & ~(uint64_t)(sizeof(chunk_id) - 1);
		if ((got = blob_pread_full(fd, buf, sizeof buf, off)) <= 0)
			break;
		for (size_t k = 0; k + sizeof(chunk_id) <= (size_t)got && rc == 0; k += sizeof(chunk_id)) {
			chunk_id id;
			memcpy(id.b, buf + k, sizeof id);
			if (!chunk_id_is_null(&id))
				rc = blob_idset_add(set, &id);
		}
		if (rc < 0)
			break;
		off += (uint64_t)got;
		if ((size_t)got < sizeof buf)
			break;
	}
	if (rc == 0 && got < 0)
		rc = (int)got;
	close(fd);
	return rc;
}

/* A cluster wblob's ids: its base's and its stored chunks' (gc keeps
 * them as a host wblob's map and .ids). */
struct cl_ids {
	blob_store *s;
	blob_idset *set;
};

static int cl_rec_id(void *arg, uint32_t i, const uint8_t *val, size_t n)
{
	struct cl_ids *c = arg;
	chunk_id id;

	(void)i;
	/* WB_STORED (or WB_PATCHED: its stored chunk, wblob_patch.c) and its
	 * id, maybe then the previous record (wblob_cluster.c "A record beside
	 * its chunk"), which may be either and its id: both kept. */
	for (size_t at = 0; n - at >= 1 + sizeof id.b && (val[at] == WB_STORED || val[at] == WB_PATCHED);
	     at += 1 + sizeof id.b) {
		int rc;
		memcpy(id.b, val + at + 1, sizeof id.b);
		if (!chunk_id_is_null(&id) && (rc = blob_idset_add(c->set, &id)) < 0)
			return rc;
	}
	return 0;
}

static int cl_disk_ids(void *arg, const char *name, int64_t made)
{
	struct cl_ids *c = arg;
	blob_manifest *base = NULL;
	uint64_t size, state_off;
	uint32_t limit;
	uint8_t *hdr = NULL;
	size_t len = 0;
	int rc;

	(void)made;
	rc = c->s->be->disks->peek(c->s->be, name, &hdr, &len, cl_rec_id, c);
	if (rc == -ENOENT) /* listed, not made yet (or removed meanwhile) */
		return 0;
	/* A disk gc cannot read might still need its chunks: stop. */
	if (rc == 0 && (rc = decode_map_header(hdr, len, &size, &limit, &state_off, &base)) == 0)
		for (uint32_t k = 0; k < base->count && rc == 0; k++)
			rc = blob_idset_add(c->set, &base->id[k]);
	blob_manifest_free(base);
	free(hdr);
	return rc;
}

int blob_wblob_add_base_ids(blob_store *s, blob_idset *set)
{
	struct cl_ids c = {s, set};
	int rc;

	if ((rc = blob_wblob_add_host_ids(s, set)) < 0 || !blob_store_has_cluster(s))
		return rc;
	return blob_wblob_list_cluster(s, cl_disk_ids, &c);
}

int blob_wblob_add_host_ids(blob_store *s, blob_idset *set)
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
		for (uint32_t k = 0; k < base->count && rc == 0; k++)
			rc = blob_idset_add(set, &base->id[k]);
		blob_manifest_free(base);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

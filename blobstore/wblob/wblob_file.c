/*
 * wblob_file.c — a writable blob's files in wblobs/: their names, the
 * overlay files (.data and the .data.<k> beyond 8 TiB), bytes written in
 * pieces and zeroed by punching, cuts, syncs, and the .ids file.  What the
 * files hold and in which order they change: wblob.c's header comment.
 *
 * Who calls it: every other wblob*.c file; it calls none of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgfs_lock.h"
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

/* ---- overlay files -------------------------------------------------------- */

int wb_ext_open(blob_wblob *w, uint32_t k, bool create, struct wb_file **out)
{
	char file[WB_FILE_MAX];
	struct stat st;
	int rc = 0;

	*out = NULL;
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
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
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return rc;
}

int wb_overlay_at(blob_wblob *w, uint32_t i, enum wb_state st, bool create, struct wb_file **f, uint64_t *off)
{
	if (st == WB_OVERLAY) {
		*f = &w->data;
		*off = (uint64_t)i << BLOB_CHUNK_SHIFT;
		return 0;
	}
	*off = (uint64_t)(i & (WB_SEG_CHUNKS - 1)) << BLOB_CHUNK_SHIFT;
	return wb_ext_open(w, i >> WB_SEG_SHIFT, create, f);
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

int wb_file_truncate(struct wb_file *f, uint64_t len)
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

int wb_file_pwrite(struct wb_file *f, const void *buf, size_t n, uint64_t off)
{
	int rc = wb_pwrite_pieces(f->fd, buf, n, off);

	if (rc == 0 && off + n > f->len)
		f->len = off + n;
	return rc;
}

void wb_file_ran(struct wb_file *f, size_t n, uint64_t off)
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

void wb_overlays_shrink(blob_wblob *w, uint64_t old_size, uint64_t new_size)
{
	uint32_t last = old_size ? (uint32_t)((old_size - 1) >> (WB_SEG_SHIFT + BLOB_CHUNK_SHIFT)) : 0;
	char file[WB_FILE_MAX];

	if (w->data.len > wb_cut_at(w, new_size))
		wb_file_truncate(&w->data, wb_cut_at(w, new_size));
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
		} else if (wb_ext_open(w, k, false, &f) == 0 && f != NULL && f->len > wb_cut_at(w, new_size - start)) {
			wb_file_truncate(f, wb_cut_at(w, new_size - start));
		}
	}
}

int wb_overlays_sync(blob_wblob *w)
{
	int rc = 0;

	if (fsync(w->data.fd) < 0)
		return -errno;
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	for (uint32_t k = 1; w->ext && k < WB_NSEG && rc == 0; k++)
		if (w->ext[k].fd >= 0 && fsync(w->ext[k].fd) < 0)
			rc = -errno;
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return rc;
}

/* ---- the .ids file ---------------------------------------------------------- */

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

int wb_open_ids_shared(blob_wblob *w)
{
	int rc;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	rc = wb_open_ids(w, false);
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return rc;
}

int wb_ids_sync(blob_wblob *w)
{
	int rc;

	if (fdatasync(w->ids_fd) < 0)
		return -errno;
	if (w->ids_new) {
		if ((rc = blob_fsync_dir_at(w->s->wblobs_fd, NULL)) < 0)
			return rc;
		w->ids_new = false;
	}
	return 0;
}

/*
 * wblob_arr.c — arrived chunks: an instance disk's whole-chunk writes kept
 * as files of their own, so that a capture names them instead of copying
 * them (SPEC §11, issue 38).
 *
 * A plug-in: w->arr, made at open for a plain wblob and dropped when it
 * streams or is told overlay_only — so only an instance disk without a
 * key takes this path: an upload's whole chunks go to the store already
 * (streaming), and an encrypted disk's store holds sealed chunks, not the
 * bytes written.  Who calls it: the core (writes, fsync, shrink, remove),
 * wblob_copy.c (seal) and wblob_chunk.c (reads: a state-6 chunk is read
 * with or without w->arr); it calls the file and state layers only.
 *
 * On disk: <name>.arr/ in wblobs/, one file per chunk in state 6
 * (WB_ARRIVED): "<i>" (i in hex) holds exactly the chunk's bytes as
 * written (its length the chunk's then), mode 0644 while it is the
 * chunk's alone.  A seal may hard-link it into the store's chunks/ and
 * share the inode (as two local stores share chunk files); it sets mode
 * 0444 and links before it trusts the record a last time, and a writer
 * that finds the file linked or 0444 leaves it alone: a new whole write
 * of the chunk then makes a new file (a temp name "t", then rename(2)),
 * where it otherwise rewrites the file in place (as the overlay is: new
 * pages and blocks for every rewrite made dd over a filled disk 3x
 * slower).  A write of part of the chunk first copies it into the
 * overlay (state 1: in the file, every small write paid an open, a stat
 * and a close).  Files are written in the overlay's 64 KiB pieces (page
 * cache folios of 1 MiB cost dd twice the CPU on memory a capture and a
 * copy had been through).
 * Record i of <name>.ids (wblob.c) holds, for a chunk in state 6, its id
 * (keyed XXH3-128 of the bytes, as the store names chunks) in the first
 * slot and, in the second, the boot it was written in (8 bytes of the
 * kernel's boot_id) and the file's inode number.
 *
 * A whole write of chunk i, in this order:
 *   1. the second slot of record i set to this boot and inode 0 (the
 *      record vouches for no file, but says the chunk was written in this
 *      boot);
 *   2. the bytes into "<i>" in place when it is the chunk's alone, else
 *      into "t" renamed to "<i>"; writeback started;
 *   3. the state byte 6, when it was not (an overlay chunk's old bytes
 *      are a leftover: invisible from here on, punched out of its overlay
 *      once the next fsync made state 6 durable);
 *   4. record i: the id, this boot, the inode of "<i>".
 *   Every step is a completed system call on return, so after kill -9 the
 *   chunk shows its old content (before 3: the old state's source, which
 *   1 and 2 left alone) or the new (from 3) — a rewrite in place killed
 *   half-way shows some pages new, as an overlay write does; the reply
 *   leaves after 4.  fsync(2) makes every arrived file durable
 *   (syncfs(2) of their file system, as the store's batches do; or each
 *   file and the directory on a file system whose syncfs may not reach the
 *   storage) before the map is synced.
 *
 * Trust.  A seal takes the id from record i instead of reading the file
 * only when, with the file open: its length is the chunk's, the record's
 * boot is this boot and its inode the open file's — before it links the
 * file and again after.  The open descriptor keeps the inode number from
 * being reused, and a record stops vouching (1) before a new file for
 * the chunk exists or the old one is written, so such a record was
 * written (4) for this very inode with the bytes it holds; once linked
 * (or 0444) the file is never written again, and a writer that began
 * before the link had already changed the record, which the second look
 * sees (the link is then dropped and the bytes read).  Across a power cut (another boot) a file's bytes may
 * not be what was hashed — an unsynced write may be torn or lost — so
 * records of an earlier boot are never trusted: a seal reads and hashes
 * those chunks as it does overlay chunks, until the chunk is written
 * again.  The store's rule (a name only over durable bytes) holds because
 * the batch makes the file durable before linking it (backend/local.c
 * add_file).  A seal of a store that cannot link the file (another file
 * system, RADOS) stores its bytes, read from the file.
 *
 * A chunk that leaves state 6 (a part of it written: copied into the
 * overlay; punched; taken by reference) keeps its file until the next
 * fsync has made the map's new state byte durable: a power cut must not
 * find state 6 and no file, where a synced chunk's bytes were.
 *
 * A state-6 chunk whose file is missing reads as zeros when its record
 * is of an earlier boot (a power cut before the fsync that would have
 * made its name durable: the unsynced write was lost, as on a disk), and
 * is EIO when the record says this boot (nothing but a hand outside imgfs
 * removes it then: never zeros, as for a lost overlay, SPEC §11); a line
 * in the log either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgfs_assert.h"
#include "imgfs_lock.h"
#include "wblob_int.h"

#define ARR_TMP "t"
#define ARR_NAME_MAX 9 /* 8 hex digits */

/* The plug-in's own (under w->ext_lock, which readers take too). */
struct wb_arr {
	int fd;     /* <name>.arr, opened on first need */
	bool dirty; /* a chunk arrived since the last fsync */
	bool made;  /* <name>.arr made by this handle: its name not yet synced */
};

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static uint8_t boot_tag[8]; /* all zero: unknown, nothing is trusted */

/* The boot's UUID ("8-4-4-4-12" hex digits): 32 hex digits once its
 * dashes are gone, parsed as a chunk id is; its first 8 bytes kept. */
static void boot_load(void)
{
	char s[64], hex[33];
	size_t k = 0;
	chunk_id uuid;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (f == NULL)
		return;
	if (fgets(s, sizeof s, f) != NULL) {
		for (const char *p = s; *p && *p != '\n' && k < sizeof hex - 1; p++)
			if (*p != '-')
				hex[k++] = *p;
		hex[k] = '\0';
		if (chunk_id_parse(&uuid, hex) == 0)
			memcpy(boot_tag, uuid.b, sizeof boot_tag);
	}
	fclose(f);
}

static const uint8_t *boot(void)
{
	static const uint8_t none[8];

	pthread_once(&boot_once, boot_load);
	return memcmp(boot_tag, none, sizeof none) ? boot_tag : NULL;
}

static void arr_name(char out[ARR_NAME_MAX], uint32_t i)
{
	snprintf(out, ARR_NAME_MAX, "%x", i);
}

int wb_arr_new(blob_wblob *w)
{
	if ((w->arr = calloc(1, sizeof *w->arr)) == NULL)
		return -ENOMEM;
	w->arr->fd = -1;
	return 0;
}

void wb_arr_free(struct wb_arr *a)
{
	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	free(a);
}

void wb_arr_off(blob_wblob *w)
{
	/* What arrived through this handle is made durable first (its fsync
	 * would not see it any more); failing that, arrivals stay on. */
	if (w->arr == NULL || (w->arr->dirty && wb_arr_sync(w) < 0))
		return;
	wb_arr_free(w->arr);
	w->arr = NULL;
}

/* w->arr->fd open (<name>.arr made first when create): 0, -ENOENT when it
 * does not exist and create is false, -errno.  Readers call it too. */
static int arr_dir(blob_wblob *w, bool create)
{
	struct wb_arr *arr = w->arr;
	char dir[WB_FILE_MAX];
	int rc = 0;

	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	if (arr->fd < 0) {
		wb_file(dir, w->name, "arr");
		if (create && mkdirat(w->s->wblobs_fd, dir, 0700) == 0)
			arr->made = true; /* its name is synced by the next fsync */
		else if (create && errno != EEXIST)
			rc = -errno;
		if (rc == 0 && (arr->fd = openat(w->s->wblobs_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			rc = -errno;
	}
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	return rc;
}

/* Chunk i's file opened with flags, through w->arr's directory or, without
 * the plug-in (a handle that streams or writes the overlay only), by its
 * path: the descriptor or -errno (-ENOENT when there is none). */
static int arr_open_file(blob_wblob *w, uint32_t i, int flags)
{
	char name[ARR_NAME_MAX], path[WB_FILE_MAX + ARR_NAME_MAX + 1];
	int fd, rc;

	arr_name(name, i);
	if (w->arr != NULL) {
		if ((rc = arr_dir(w, false)) < 0)
			return rc;
		fd = openat(w->arr->fd, name, flags | O_CLOEXEC);
	} else {
		wb_file(path, w->name, "arr");
		snprintf(path + strlen(path), sizeof path - strlen(path), "/%s", name);
		fd = openat(w->s->wblobs_fd, path, flags | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

/* The written chunk's bytes into "t", then "<i>"; *ino its inode. */
static int arr_file(blob_wblob *w, uint32_t i, const uint8_t *src, size_t len, uint64_t *ino)
{
	char name[ARR_NAME_MAX];
	struct stat st;
	int fd, rc;

	/* A "t" left by a kill is nobody's (only "<i>" names are linked). */
	unlinkat(w->arr->fd, ARR_TMP, 0);
	if ((fd = openat(w->arr->fd, ARR_TMP, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return -errno;
	rc = wb_pwrite_pieces(fd, src, len, 0);
	if (rc == 0) {
		/* Started now, as the overlay's runs are: fsync finds it done. */
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		if (fstat(fd, &st) < 0)
			rc = -errno;
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	arr_name(name, i);
	if (rc == 0 && renameat(w->arr->fd, ARR_TMP, w->arr->fd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(w->arr->fd, ARR_TMP, 0);
		return rc;
	}
	*ino = (uint64_t)st.st_ino;
	return 0;
}

/* Chunk i's file open for writing in place, when nothing else names it
 * (no seal linked it into a store, which also makes it 0444): its
 * descriptor and *st, or -1 when it must be replaced or copied. */
static int arr_open_own(blob_wblob *w, uint32_t i, struct stat *st)
{
	char name[ARR_NAME_MAX];
	int fd;

	arr_name(name, i);
	if ((fd = openat(w->arr->fd, name, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, st) < 0 || st->st_nlink != 1 || !(st->st_mode & S_IWUSR)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether the file open as fd holds exactly src's len bytes (a stored
 * chunk is read raw through an arrived file: it is compared once, so a
 * damaged one is never taken for the bytes written). */
static bool holds(int fd, const uint8_t *src, size_t len)
{
	uint8_t *buf = malloc(len + 1);
	bool same = buf && blob_pread_full(fd, buf, len + 1, 0) == (ssize_t)len && memcmp(buf, src, len) == 0;

	free(buf);
	return same;
}

/* The store's file of chunk id as chunk i's ("t", renamed to "<i>"):
 * nothing written, the chunk stored once (SPEC §2.4: whole chunks a copy
 * writes that the region holds are taken by reference), once its bytes
 * are checked against src.  The file is the store's, 0444 and linked: a
 * later write of the chunk leaves it alone, as after a seal.  0 and *ino,
 * or -errno (the caller writes the bytes). */
static int arr_link_stored(blob_wblob *w, uint32_t i, const uint8_t *src, size_t len, const chunk_id *id,
                           uint64_t *ino)
{
	char name[ARR_NAME_MAX];
	struct stat st;
	int fd, rc;

	unlinkat(w->arr->fd, ARR_TMP, 0);
	if ((rc = blob_store_link_chunk(w->s, id, w->arr->fd, ARR_TMP)) < 0)
		return rc;
	arr_name(name, i);
	if ((fd = openat(w->arr->fd, ARR_TMP, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (!holds(fd, src, len)) {
		char hex[33];
		chunk_id_fmt(hex, id);
		blob_log_line(&w->s->log, "writable blob %s: the store's chunk %s does not hold its bytes: not taken, "
		              "the chunk written instead", w->name, hex);
		rc = -EIO;
	} else if (renameat(w->arr->fd, ARR_TMP, w->arr->fd, name) < 0) {
		rc = -errno;
	}
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		unlinkat(w->arr->fd, ARR_TMP, 0);
		return rc;
	}
	*ino = (uint64_t)st.st_ino;
	return 0;
}

/* Record i's second slot: vouching for nothing, but saying this boot
 * (step 1 of a write; ino 0 is no file's). */
static int arr_unvouch(blob_wblob *w, uint32_t i)
{
	const uint8_t *tag = boot();
	uint8_t slot[WB_IDS_REC / 2] = {0};

	if (tag != NULL)
		memcpy(slot, tag, 8);
	return blob_pwrite_full(w->ids_fd, slot, sizeof slot, (uint64_t)i * WB_IDS_REC + sizeof slot);
}

static void arr_dirty(blob_wblob *w)
{
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	w->arr->dirty = true;
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
}

void blob_wblob_overlay_only(blob_wblob *w)
{
	IMGFS_WRLOCK(&w->lock, blob_wblob_lock);
	wb_arr_off(w);
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
}

int wb_arr_write(blob_wblob *w, uint32_t i, const uint8_t *src, size_t len)
{
	enum wb_state st = wb_state_of(w, i);
	bool was_data = wb_is_data(w, i);
	uint8_t rec[WB_IDS_REC] = {0};
	const uint8_t *tag = boot();
	chunk_id id;
	uint64_t ino = 0;
	int rc;

	IMGFS_ASSERT_WRLOCKED(&w->lock);
	if ((rc = arr_dir(w, true)) < 0 || (rc = wb_open_ids(w, true)) < 0)
		return rc;
	/* The id first: a chunk the store holds is taken by reference. */
	blob_store_chunk_id(w->s, &id, src, len);
	/* 1 */
	if ((rc = arr_unvouch(w, i)) < 0)
		return rc;
	/* 2: the store's own file when it has the chunk, else in place when
	 * the file is the chunk's alone, else a new one */
	struct stat fst;
	int fd = -1;
	if (arr_link_stored(w, i, src, len, &id, &ino) == 0)
		goto arrived;
	fd = st == WB_ARRIVED ? arr_open_own(w, i, &fst) : -1;
	if (fd >= 0) {
		rc = wb_pwrite_pieces(fd, src, len, 0);
		if (rc == 0 && (uint64_t)fst.st_size > len && ftruncate(fd, (off_t)len) < 0)
			rc = -errno;
		if (rc == 0)
			sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		ino = (uint64_t)fst.st_ino;
		if (close(fd) < 0 && rc == 0)
			rc = -errno;
	} else {
		rc = arr_file(w, i, src, len, &ino);
	}
	if (rc < 0)
		return rc;
arrived:
	/* 3 */
	if (st != WB_ARRIVED) {
		if ((rc = wb_set_state(w, i, WB_ARRIVED)) < 0)
			return rc; /* the file is nobody's: the next write replaces it */
		if (!was_data)
			w->ndata++;
		if (wb_is_overlay(st)) /* invisible: freed once state 6 is durable */
			wb_left_add(w, i, st);
	}
	arr_dirty(w);
	/* 4: best effort too (the write is done; without the record a seal
	 * reads the chunk instead of naming it). */
	if (tag != NULL) {
		memcpy(rec, id.b, sizeof id.b);
		memcpy(rec + WB_IDS_REC / 2, tag, 8);
		blob_put_le64(rec + WB_IDS_REC / 2 + 8, ino);
		blob_pwrite_full(w->ids_fd, rec, sizeof rec, (uint64_t)i * WB_IDS_REC);
	}
	return 0;
}

/* Whether record i says its chunk arrived in this boot. */
static bool written_this_boot(blob_wblob *w, uint32_t i)
{
	const uint8_t *tag = boot();
	uint8_t slot[WB_IDS_REC / 2];

	return tag != NULL && wb_open_ids_shared(w) == 0 &&
	       blob_pread_full(w->ids_fd, slot, sizeof slot, (uint64_t)i * WB_IDS_REC + sizeof slot) ==
	           (ssize_t)sizeof slot &&
	       memcmp(slot, tag, 8) == 0;
}

int wb_arr_read(blob_wblob *w, uint32_t i, uint8_t *dst, size_t a, size_t n)
{
	char name[ARR_NAME_MAX];
	ssize_t got = 0;
	int fd;

	arr_name(name, i);
	if ((fd = arr_open_file(w, i, O_RDONLY)) < 0 && fd != -ENOENT)
		return fd;
	if (fd < 0) {
		/* Written in this boot, so no power cut took it: removed outside
		 * imgfs, never zeros (as a lost overlay). */
		if (written_this_boot(w, i)) {
			blob_log_line(&w->s->log, "writable blob %s: the file of chunk %u (%s.arr/%s) is missing: EIO",
			              w->name, i, w->name, name);
			return -EIO;
		}
		/* Else lost with a power cut before the fsync that would have
		 * made its name durable: the unsynced write never was. */
		blob_log_line(&w->s->log, "writable blob %s: chunk %u, written before the last boot and not synced, "
		              "was lost: it reads as zeros", w->name, i);
	} else {
		got = blob_pread_full(fd, dst, n, a);
		close(fd);
		if (got < 0)
			return (int)got;
	}
	memset(dst + got, 0, n - (size_t)got);
	return 0;
}

int blob_wblob_check_files(blob_wblob *w, char *why, size_t cap)
{
	uint32_t n = blob_nchunks(w->size);
	char name[ARR_NAME_MAX];
	int rc = 0;

	if (why && cap)
		why[0] = '\0';
	IMGFS_RDLOCK(&w->lock, blob_wblob_lock);
	for (uint32_t i = wb_next_data(w, 0, n); i < n; i = wb_next_data(w, i + 1, n)) {
		if (wb_state_of(w, i) != WB_ARRIVED)
			continue;
		int fd = arr_open_file(w, i, O_RDONLY); /* (-ENOENT also when <name>.arr went whole) */
		if (fd >= 0) {
			close(fd);
			continue;
		}
		if (fd != -ENOENT) {
			rc = fd;
			break;
		}
		if (written_this_boot(w, i)) { /* its reads are EIO (wb_arr_read) */
			arr_name(name, i);
			if (why && cap)
				snprintf(why, cap, "the file of chunk %u (%s.arr/%s) is missing", i, w->name, name);
			rc = -EIO;
			break;
		}
	}
	IMGFS_RWUNLOCK(&w->lock, blob_wblob_lock);
	return rc;
}

void wb_arr_drop(blob_wblob *w, uint32_t i)
{
	char name[ARR_NAME_MAX], path[WB_FILE_MAX + ARR_NAME_MAX + 1];

	arr_name(name, i);
	if (w->arr != NULL) {
		if (arr_dir(w, false) == 0)
			unlinkat(w->arr->fd, name, 0);
		return;
	}
	wb_file(path, w->name, "arr");
	snprintf(path + strlen(path), sizeof path - strlen(path), "/%s", name);
	unlinkat(w->s->wblobs_fd, path, 0);
}

int wb_arr_sync(blob_wblob *w)
{
	struct wb_arr *arr = w->arr;
	bool dirty, made;
	int rc = 0;

	if (arr == NULL)
		return 0;
	IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
	dirty = arr->dirty;
	made = arr->made;
	arr->dirty = arr->made = false;
	IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	if (!dirty)
		return 0;
	if (blob_syncfs_suits(w->arr->fd)) {
		/* Reports writeback errors since arr_fd was opened, before the
		 * first arrival through this handle. */
		if (syncfs(w->arr->fd) < 0)
			rc = -errno;
	} else {
		uint32_t n = blob_nchunks(w->size);
		for (uint32_t i = wb_next_data(w, 0, n); i < n && rc == 0; i = wb_next_data(w, i + 1, n)) {
			char name[ARR_NAME_MAX];
			int fd;

			if (wb_state_of(w, i) != WB_ARRIVED)
				continue;
			arr_name(name, i);
			if ((fd = openat(w->arr->fd, name, O_RDONLY | O_CLOEXEC)) < 0) {
				rc = errno == ENOENT ? 0 : -errno;
				continue;
			}
			if (fsync(fd) < 0)
				rc = -errno;
			close(fd);
		}
		if (rc == 0 && fsync(w->arr->fd) < 0)
			rc = -errno;
	}
	if (rc == 0 && made)
		rc = blob_fsync_dir_at(w->s->wblobs_fd, NULL);
	if (rc < 0) { /* the next fsync tries again */
		IMGFS_LOCK(&w->ext_lock, blob_wblob_ext_lock);
		arr->dirty = true;
		arr->made |= made;
		IMGFS_UNLOCK(&w->ext_lock, blob_wblob_ext_lock);
	}
	return rc;
}

/* What a seal checks of chunk i's file, open as fd. */
struct vouch {
	blob_wblob *w;
	uint32_t i;
	uint64_t ino;
	chunk_id id;
};

/* Whether record i vouches for the file: its id, this boot, its inode. */
static bool vouched(void *arg)
{
	struct vouch *v = arg;
	const uint8_t *tag = boot();
	uint8_t rec[WB_IDS_REC];

	if (tag == NULL || v->ino == 0 ||
	    blob_pread_full(v->w->ids_fd, rec, sizeof rec, (uint64_t)v->i * WB_IDS_REC) != (ssize_t)sizeof rec ||
	    memcmp(rec + WB_IDS_REC / 2, tag, 8) != 0 || blob_get_le64(rec + WB_IDS_REC / 2 + 8) != v->ino)
		return false;
	memcpy(v->id.b, rec, sizeof v->id.b);
	return !chunk_id_is_null(&v->id);
}

static bool still_vouched(void *arg)
{
	struct vouch *v = arg, again = *v;

	return vouched(&again) && chunk_id_equal(&again.id, &v->id);
}

int wb_arr_seal(blob_wblob *w, uint32_t i, size_t len, blob_batch *b, chunk_id *id)
{
	struct vouch v = {.w = w, .i = i};
	char name[ARR_NAME_MAX];
	struct stat st;
	int fd, rc = 0;

	if (boot() == NULL || w->arr == NULL || arr_dir(w, false) < 0 || wb_open_ids_shared(w) < 0)
		return 0;
	arr_name(name, i);
	if ((fd = openat(w->arr->fd, name, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	/* With the file open, so that its inode number is its own; asked
	 * again once linked (blob_batch_add_file). */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == len) {
		v.ino = (uint64_t)st.st_ino;
		if (vouched(&v) && (rc = blob_batch_add_file(b, &v.id, fd, still_vouched, &v)) > 0)
			*id = v.id;
	}
	close(fd);
	return rc;
}

int wb_arr_remove(blob_store *s, const char *name)
{
	char dir[WB_FILE_MAX];
	int fd, rc;

	wb_file(dir, name, "arr");
	if ((fd = openat(s->wblobs_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* Every file in it, whatever its age; a file left makes the rmdir
	 * fail (ENOTEMPTY), which is the answer. */
	rc = blob_clean_tmp_dir(fd, INT64_MAX, NULL);
	close(fd);
	if (rc == 0 && unlinkat(s->wblobs_fd, dir, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

/*
 * backend/local.c — the local-directory chunk backend.
 *
 * Who calls it: store.c (every region store sits on one), batch.c (batched
 * puts), gc.c through the table, and the unit tests.  It stores bytes under
 * ids it is given; it never hashes (store.c does).  It is used from many
 * threads at once: after construction its state is a set of directory
 * descriptors, an atomic counter and two flags; a batch object is used by
 * one thread at a time.
 *
 * On disk, under the root <dir>:
 *   chunks/<xx>/<32 hex>   one file per chunk, exactly the chunk's bytes,
 *                          mode 0444; <xx> is the first two hex digits of
 *                          the id.  <xx> directories are made on first use.
 *   tmp/<pid>.<tid>.<n>.tmp  files being written.  Never read: a reader only
 *                          ever opens chunks/<xx>/<hex>, so a write that was
 *                          interrupted (crash, ENOSPC, kill -9) is invisible;
 *                          leftovers are removed by blob_local_clean_tmp
 *                          (called by gc).
 *
 * The rule everything below keeps: a name appears in chunks/ only for a
 * file whose bytes (and size and block map) are already durable.  Dedupe
 * trusts a name forever — it never re-reads a chunk it finds — so a power
 * cut must never leave a valid-looking name over wrong or missing bytes.
 * And a put reports success only once the name itself is durable too: the
 * caller then commits metadata naming the chunk.
 *
 * Placing a chunk (put):
 *   1. if chunks/<xx>/<hex> exists: refresh its mtime (so a running gc,
 *      which spares recent chunks, keeps it) and report "already there";
 *   2. write the bytes to a new tmp/ file, fchmod 0444, fsync;
 *   3. mkdir chunks/<xx> if needed (fsync chunks/ when it was made);
 *   4. link() the temp file to chunks/<xx>/<hex>: link never replaces, so
 *      EEXIST means another writer placed the same bytes first (step 1's
 *      answer, late);
 *   5. unlink the temp name, fsync chunks/<xx>.
 *   Any failure unlinks the temp file, so ENOSPC leaves nothing behind.
 *   Two waits for the disk per chunk: fine for one, slow for a disk image.
 *
 * Placing many chunks (the batching's add ... commit, for batch.c; it asks
 * has_many before each add, ask_first):
 *   add     step 1 (a chunk there already: its chunks/<xx> is marked for
 *           D below), then step 2 without the fsync: the bytes go to a new
 *           tmp/ file — with O_DIRECT when buffer and length are 4 KiB
 *           aligned (straight to the disk: no page cache filled with chunks
 *           nobody reads soon, no copy), else buffered, writeback started
 *           at once.  has_many: step 1 alone for each, marking likewise.
 *   copy_from  step 4 from the other local store's chunks/<xx>/<hex>
 *           instead of a temp file (its bytes are durable there already),
 *           step 3 when needed, chunks/<xx> marked for D; -EXDEV across
 *           file systems, or from a backend of another kind.
 *   add_file  a file elsewhere on this file system that holds the chunk
 *           (a writable blob's arrived chunk): linked into tmp/ at once
 *           (step 2 without writing a byte), then committed as an added
 *           chunk is — A makes its bytes durable before B names them.
 *   commit  A. the bytes, size and block map of every staged file durable;
 *           B. each staged file linked as in steps 3 and 4 (chunks/<xx>
 *              made durable before anything is linked into it), its
 *              chunks/<xx> marked;
 *           D. every marked chunks/<xx> durable (the new names, and names
 *              found by add or has, which a concurrent batch may have
 *              linked and not synced yet);
 *           C. the temp names unlinked.
 *   commit returns after D.  Any failure stops the sequence where it is;
 *   batch_free (or the end of commit) unlinks the temp names of whatever
 *   is not linked.
 *   How A and D wait: on ext2/3/4, xfs, btrfs, f2fs and tmpfs one syncfs(2)
 *   each — it writes and waits for every dirty page and inode of the file
 *   system and flushes the disk's cache, so a whole batch costs two sweeps
 *   and two cache flushes instead of, per chunk, a handful of small
 *   synchronous metadata writes (on ext4 without a journal: inode, bitmaps,
 *   tmp/'s directory block) and two flushes.  On a 2 GiB capture here that
 *   made the difference between about 1.0x and 1.5x the time of cp + sync.
 *   The price: syncfs also writes whatever else is dirty on that file
 *   system (other wblobs, other programs' files).  Its error report (Linux
 *   >= 5.8: any writeback error on the file system since the descriptor
 *   last reported) belongs to the open file description, so every batch
 *   syncs through a descriptor of its own, opened before it writes: a
 *   concurrent batch cannot swallow the report of an error in our bytes
 *   (an unrelated error fails us too: conservative).  O_DIRECT write errors
 *   come back from write() itself.  On other file systems (network, FUSE:
 *   their syncfs may not reach the storage) A is an fsync of each file (its
 *   descriptor kept open since the write — up to BLOB_BATCH_MAX per batch —
 *   so its error report is ours) and D an fsync of each marked directory.
 *
 * Why the order is safe.
 *   kill -9 (every completed system call stays done; nothing is lost):
 *     before B, only tmp/ files exist, which nobody reads; during B, a name
 *     is linked only to a file whose write() had completed, so it shows the
 *     whole chunk; after it, tmp/ names of linked files remain (the same
 *     inode: removing them later frees nothing).  No metadata names the
 *     new chunks yet — the caller commits only after commit returned — so
 *     they are unreferenced, and gc drops them after its grace (it spares
 *     chunks by mtime: the write set it; "already there" refreshed it) and
 *     the tmp/ leftovers after an hour.
 *   Power cut (only what was made durable survives, in any order):
 *     a name in chunks/ exists only if B created it, and B runs after A
 *     returned for that file, so the bytes, size and block map behind any
 *     surviving name were durable before the name existed: never a name
 *     over wrong bytes.  A name lost because D had not finished is
 *     harmless: commit had not returned, so the caller had not committed
 *     metadata naming it; its file keeps its tmp/ name (C comes after D)
 *     rather than becoming an orphan inode.  A chunks/<xx> made by mkdir
 *     is durable before any link into it, so a writer finding it made may
 *     trust it.  Names another writer linked and found here by add or has
 *     are synced by our D too, so our caller never commits a name that is
 *     not durable.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <time.h>

#include "blobstore_int.h"

struct local_backend {
	struct blob_backend be; /* first: the table */
	int root_fd;
	int chunks_fd;
	int tmp_fd;
	atomic_uint_fast64_t counter;
	atomic_bool no_direct; /* O_DIRECT refused once: never tried again */
	bool whole_fs;         /* batches sync with syncfs, see the header */
};

static struct local_backend *local(struct blob_backend *be)
{
	return (struct local_backend *)be;
}

/* "xx/<32 hex>" relative to chunks/, and "xx" alone. */
static void local_paths(const chunk_id *id, char path[36], char sub[3])
{
	char hex[33];

	chunk_id_fmt(hex, id);
	snprintf(path, 36, "%.2s/%s", hex, hex);
	sub[0] = hex[0];
	sub[1] = hex[1];
	sub[2] = '\0';
}

void blob_local_tmp_name(struct blob_backend *be, char *buf, size_t cap)
{
	uint64_t n = atomic_fetch_add(&local(be)->counter, 1);

	snprintf(buf, cap, "%ld.%ld.%llu.tmp", (long)getpid(), (long)gettid(), (unsigned long long)n);
}

/* blob_local_tmp_create with extra open flags. */
static int local_tmp_open(struct blob_backend *be, char *name, size_t cap, mode_t mode, int flags)
{
	/* A name can only be taken by a dead process whose pid and tid came
	 * back: try the next counter value. */
	for (int tries = 0; tries < 100; tries++) {
		int fd;

		blob_local_tmp_name(be, name, cap);
		fd = openat(local(be)->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | flags, mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int blob_local_tmp_create(struct blob_backend *be, char *name, size_t cap, mode_t mode)
{
	return local_tmp_open(be, name, cap, mode, 0);
}

static int local_get(struct blob_backend *be, const chunk_id *id, void *buf, size_t cap, size_t *len_out)
{
	char path[36], sub[3];
	struct stat st;
	ssize_t n;
	int fd = -1;
	int rc;

	local_paths(id, path, sub);
	fd = openat(local(be)->chunks_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size > BLOB_OBJ_MAX) { /* no chunk is that long: damaged (a verdict) */
		rc = -EUCLEAN;
		goto out;
	}
	if ((size_t)st.st_size > cap) {
		rc = -ERANGE;
		goto out;
	}
	n = blob_pread_full(fd, buf, cap, 0);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	*len_out = (size_t)n;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* A chunk found in the store is kept from gc by a recent mtime (gc spares
 * chunks younger than its grace, one hour by default).  One touched in
 * the last BLOB_STAMP_FRESH seconds (blobstore.h) is left alone: a second
 * copy of the same data, which finds every chunk, then costs a stat per
 * chunk rather than an inode write (and the syncfs that follows has
 * nothing of ours to write).  So gc is safe with a grace of at least
 * BLOB_STAMP_FRESH plus the longest a task runs; the default hour is
 * (and model/'s writers rows keep a running task's chunks whatever the
 * grace).  -ENOENT when absent. */
#define BLOB_TOUCH_FRESH BLOB_STAMP_FRESH

static int local_touch_path(struct local_backend *lb, const char *path)
{
	struct stat st;
	if (fstatat(lb->chunks_fd, path, &st, 0) < 0)
		return -errno;
	if (st.st_mtime >= time(NULL) - BLOB_TOUCH_FRESH)
		return 0;
	if (utimensat(lb->chunks_fd, path, NULL, 0) < 0)
		return -errno;
	return 0;
}

static int local_touch(struct blob_backend *be, const chunk_id *id)
{
	char path[36], sub[3];

	local_paths(id, path, sub);
	return local_touch_path(local(be), path);
}

static int local_mkdir_sub(struct local_backend *lb, const char *sub)
{
	if (mkdirat(lb->chunks_fd, sub, 0755) == 0)
		return blob_fsync_dir_at(lb->chunks_fd, NULL);
	return errno == EEXIST ? 0 : -errno;
}

/* One chunk on its way in: its bytes in tmp/<tmp>, to be linked to
 * chunks/<path>; fd is open until the bytes are durable, or -1. */
struct local_staged {
	int fd;
	char tmp[64];
	char path[36];
	char sub[3];
};

/* The bytes into a new temp file (e->fd, e->tmp), with O_DIRECT when oflags
 * asks for it and the file system takes it, else through the page cache.
 * pad: with O_DIRECT, that many more bytes of buf (zeros) are written to
 * make the length aligned, and cut off again (a sealed chunk, 28 bytes
 * longer than a megabyte, goes to the disk as directly as a plain one).
 * On failure e->fd is -1 and no temp file is left. */
static int local_write_tmp(struct local_backend *lb, struct local_staged *e, const void *buf, size_t len,
                           size_t pad, int oflags)
{
	int rc;

	if ((oflags & O_DIRECT) && !atomic_load(&lb->no_direct)) {
		e->fd = local_tmp_open(&lb->be, e->tmp, sizeof e->tmp, 0444, O_DIRECT);
		if (e->fd >= 0 && (rc = blob_write_full(e->fd, buf, len + pad)) != -EINVAL) {
			if (rc == 0 && pad && ftruncate(e->fd, (off_t)len) < 0)
				rc = -errno;
			goto written;
		}
		if (e->fd >= 0) {
			close(e->fd);
			unlinkat(lb->tmp_fd, e->tmp, 0);
		} else if (e->fd != -EINVAL) {
			return e->fd;
		}
		/* The file system (or its alignment) refuses O_DIRECT: buffered
		 * from now on. */
		atomic_store(&lb->no_direct, true);
	}
	if ((e->fd = blob_local_tmp_create(&lb->be, e->tmp, sizeof e->tmp, 0444)) < 0)
		return e->fd;
	rc = blob_write_full(e->fd, buf, len);
written:
	if (rc == 0 && fchmod(e->fd, 0444) < 0)
		rc = -errno;
	if (rc < 0) {
		close(e->fd);
		e->fd = -1;
		unlinkat(lb->tmp_fd, e->tmp, 0);
	}
	return rc;
}

/* Steps 1 and 2 without the fsync: 0 when the chunk is there already
 * (mtime refreshed), 1 when its bytes are in e's temp file (e->fd open),
 * else -errno with nothing left behind. */
static int local_stage(struct local_backend *lb, struct local_staged *e, const chunk_id *id, const void *buf,
                       size_t len, size_t pad, int oflags)
{
	int rc;

	if (len > BLOB_OBJ_MAX)
		return -EINVAL;
	local_paths(id, e->path, e->sub);
	/* ENOENT from the touch means it vanished (gc) since the check:
	 * write it anew. */
	if (faccessat(lb->chunks_fd, e->path, F_OK, AT_EACCESS) == 0) {
		rc = local_touch_path(lb, e->path);
		if (rc != -ENOENT)
			return rc;
	}
	if ((rc = local_write_tmp(lb, e, buf, len, pad, oflags)) < 0)
		return rc;
	return 1;
}

/* Steps 3 and 4 for a staged chunk whose bytes are durable: 1 when linked,
 * 0 when another writer placed the same id first (its mtime refreshed),
 * else -errno.  The temp name stays. */
static int local_place(struct local_backend *lb, const struct local_staged *e)
{
	int rc;

	/* Link first, mkdir only when chunks/<xx> is missing (once per
	 * store): the directory is made durable before anything is linked
	 * into it, so a writer that finds it made may rely on it. */
	rc = linkat(lb->tmp_fd, e->tmp, lb->chunks_fd, e->path, 0) == 0 ? 0 : -errno;
	if (rc == -ENOENT) {
		if ((rc = local_mkdir_sub(lb, e->sub)) < 0)
			return rc;
		rc = linkat(lb->tmp_fd, e->tmp, lb->chunks_fd, e->path, 0) == 0 ? 0 : -errno;
	}
	if (rc == 0)
		return 1;
	return rc == -EEXIST ? local_touch_path(lb, e->path) : rc;
}

static int local_put(struct blob_backend *be, const chunk_id *id, const void *buf, size_t len, const uint8_t *dig)
{
	struct local_backend *lb = local(be);
	struct local_staged e;
	int rc, placed;

	(void)dig; /* no get_part: reads are whole */
	/* 1, 2. */
	if ((rc = local_stage(lb, &e, id, buf, len, 0, 0)) <= 0)
		return rc;
	rc = fsync(e.fd) < 0 ? -errno : 0;
	if (close(e.fd) < 0 && rc == 0)
		rc = -errno;
	/* 3, 4: into place only once the bytes are durable. */
	if (rc < 0 || (rc = placed = local_place(lb, &e)) < 0)
		goto out;
	/* 5. */
	unlinkat(lb->tmp_fd, e.tmp, 0);
	if ((rc = blob_fsync_dir_at(lb->chunks_fd, e.sub)) < 0)
		return rc;
	return placed;
out:
	unlinkat(lb->tmp_fd, e.tmp, 0);
	return rc;
}

/* ---- batches (see "Placing many chunks" above) ------------------------- */

struct blob_backend_batch {
	struct local_backend *lb;
	bool whole_fs; /* lb->whole_fs when the batch was made */
	int sync_fd;   /* whole_fs: our own descriptor of the root, for syncfs */
	size_t n;      /* staged chunks */
	struct local_staged e[BLOB_BATCH_MAX];
	uint8_t dirs[256 / 8]; /* the chunks/<xx> whose entries D must sync */
};

static void dirs_mark(struct blob_backend_batch *b, const char *sub)
{
	unsigned x = (unsigned)strtoul(sub, NULL, 16);

	b->dirs[x / 8] |= (uint8_t)(1u << (x % 8));
}

static bool dirs_has(const struct blob_backend_batch *b, unsigned x)
{
	return b->dirs[x / 8] & (1u << (x % 8));
}

static int local_batch_new(struct blob_backend *be, struct blob_backend_batch **out)
{
	struct blob_backend_batch *b = calloc(1, sizeof *b);

	if (b == NULL)
		return -ENOMEM;
	b->lb = local(be);
	b->whole_fs = b->lb->whole_fs;
	b->sync_fd = -1;
	/* Opened before anything is written: its syncfs reports every
	 * writeback error on the file system from now on, and only to us. */
	if (b->whole_fs && (b->sync_fd = openat(b->lb->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int rc = -errno;
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* The bytes are copied (into a file): *buf stays the caller's. */
static int local_batch_add(struct blob_backend_batch *b, const chunk_id *id, uint8_t **bufp, size_t len,
                           const uint8_t *dig)
{
	uint8_t *buf = *bufp;
	struct local_staged *e = &b->e[b->n];
	size_t pad = (BLOB_DIO_ALIGN - len % BLOB_DIO_ALIGN) % BLOB_DIO_ALIGN;
	int oflags = 0;
	int rc;

	(void)dig;
	if (b->n == BLOB_BATCH_MAX)
		return -E2BIG;
	/* O_DIRECT when buffer and length suit it: the bytes go to the disk
	 * from the caller's memory and do not fill the page cache with chunks
	 * nobody reads soon (and memory the machine had not touched yet costs
	 * more to fill than the disk write).  A sealed chunk (BLOB_OBJ_MAX
	 * long) is padded to the alignment with zeros in its chunk buffer,
	 * whose room (BLOB_CHUNK_BUF) has it, and cut back (local_write_tmp). */
	if ((uintptr_t)buf % BLOB_DIO_ALIGN == 0 && (len % BLOB_DIO_ALIGN == 0 || len > BLOB_CHUNK_SIZE)) {
		oflags = O_DIRECT;
		memset(buf + len, 0, pad);
	} else {
		pad = 0;
	}
	if ((rc = local_stage(b->lb, e, id, buf, len, pad, oflags)) <= 0) {
		if (rc == 0) /* there already: its name must be durable too */
			dirs_mark(b, e->sub);
		return rc;
	}
	/* Buffered bytes start for the disk now rather than at commit. */
	if (!(oflags & O_DIRECT) || atomic_load(&b->lb->no_direct))
		sync_file_range(e->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (b->whole_fs) { /* syncfs needs no descriptor of the file */
		rc = close(e->fd) < 0 ? -errno : 0;
		e->fd = -1;
		if (rc < 0) {
			unlinkat(b->lb->tmp_fd, e->tmp, 0);
			return rc;
		}
	}
	b->n++;
	return 1;
}

static int local_batch_has(struct blob_backend_batch *b, const chunk_id *id)
{
	char path[36], sub[3];
	int rc;

	local_paths(id, path, sub);
	/* One stat says both whether it is there and whether it is fresh. */
	if ((rc = local_touch_path(b->lb, path)) < 0)
		return rc == -ENOENT || rc == -ENOTDIR ? 0 : rc;
	/* Maybe linked by a concurrent batch that has not synced it yet. */
	dirs_mark(b, sub);
	return 1;
}

/* Closes what is open and removes the temp names (a linked chunk keeps
 * its name in chunks/). */
static void local_batch_drop(struct blob_backend_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->e[i].fd >= 0)
			close(b->e[i].fd);
		b->e[i].fd = -1;
		unlinkat(b->lb->tmp_fd, b->e[i].tmp, 0);
	}
	b->n = 0;
}

static int sync_fs(struct blob_backend_batch *b)
{
	return syncfs(b->sync_fd) < 0 ? -errno : 0;
}

/* A: every staged file's bytes, size and block map durable. */
static int commit_data(struct blob_backend_batch *b)
{
	int rc = 0;

	if (b->whole_fs)
		return b->n > 0 ? sync_fs(b) : 0;
	for (size_t i = 0; i < b->n && rc == 0; i++)
		if (fsync(b->e[i].fd) < 0)
			rc = -errno;
	for (size_t i = 0; i < b->n; i++) {
		if (close(b->e[i].fd) < 0 && rc == 0)
			rc = -errno;
		b->e[i].fd = -1;
	}
	return rc;
}

/* D: the entries in every marked chunks/<xx> durable. */
static int commit_dirs(struct blob_backend_batch *b)
{
	int rc = 0;

	if (b->whole_fs) {
		for (unsigned x = 0; x < 256; x++)
			if (dirs_has(b, x))
				return sync_fs(b);
		return 0;
	}
	for (unsigned x = 0; x < 256 && rc == 0; x++) {
		char sub[3];

		if (!dirs_has(b, x))
			continue;
		snprintf(sub, sizeof sub, "%02x", x);
		rc = blob_fsync_dir_at(b->lb->chunks_fd, sub);
	}
	return rc;
}

static int local_batch_commit(struct blob_backend_batch *b)
{
	int placed = 0, rc;

	/* A, then B: a name appears only for durable bytes.  A failure
	 * stops there: what was linked so far is whole and durable. */
	rc = commit_data(b);
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		if ((rc = local_place(b->lb, &b->e[i])) >= 0) {
			placed += rc;
			dirs_mark(b, b->e[i].sub);
			rc = 0;
		}
	}
	/* D, then C: a chunk file keeps a name (in tmp/ until its entry in
	 * chunks/ is durable) through a power cut. */
	if (rc == 0)
		rc = commit_dirs(b);
	local_batch_drop(b);
	memset(b->dirs, 0, sizeof b->dirs);
	return rc < 0 ? rc : placed;
}

static void local_batch_free(struct blob_backend_batch *b)
{
	if (b == NULL)
		return;
	local_batch_drop(b);
	if (b->sync_fd >= 0)
		close(b->sync_fd);
	free(b);
}

/* Linking a chunk in from another local store (blob_batch_copy: a copy
 * to another region).  Chunk files are immutable and named by their
 * content, so two stores may share one inode, as git's local clones share
 * objects: no byte is read or written.  Safe by the rule above: the source
 * file's bytes were durable before its own name appeared, so a name for
 * the same inode may appear at once; its chunks/<xx> is marked, so the
 * commit's D makes the name durable before the caller commits a manifest
 * naming it.  link() keeps the inode's mtime (when the source was
 * written, maybe long ago): it is refreshed, so a gc of this store running
 * meanwhile, which spares recent chunks, keeps it.  1 linked, 0 there
 * already (refreshed), -EXDEV (another file system) or -EPERM / -EMLINK
 * (no hard links here: the caller copies instead), -ENOENT when the source
 * lacks it, else -errno. */
static int local_batch_has_many(struct blob_backend_batch *b, const chunk_id *ids, size_t n, uint8_t *found)
{
	int rc;

	for (size_t k = 0; k < n; k++) {
		if ((rc = local_batch_has(b, &ids[k])) < 0)
			return rc;
		found[k] = rc > 0;
	}
	return 0;
}

static int local_get(struct blob_backend *be, const chunk_id *id, void *buf, size_t cap, size_t *len_out);

/* add_file: the file's inode linked into tmp/ at once (a name nobody
 * reads), then placed by the commit like a chunk written there: A makes
 * its bytes durable, B links it into chunks/, C drops the tmp/ name.  The
 * link goes through /proc/self/fd (any user), else AT_EMPTY_PATH (with
 * CAP_DAC_READ_SEARCH); with neither, or across file systems, the caller
 * copies the bytes.  The file must never be written again: the chunk and
 * the caller's file are one inode from B on (a writable blob's arrived
 * chunk, wblob_arr.c, is replaced by a rename, never rewritten). */
static int local_batch_add_file(struct blob_backend_batch *b, const chunk_id *id, int fd)
{
	struct local_staged *e = &b->e[b->n];
	char proc[32];
	int rc;

	if (b->n == BLOB_BATCH_MAX)
		return -E2BIG;
	local_paths(id, e->path, e->sub);
	if (faccessat(b->lb->chunks_fd, e->path, F_OK, AT_EACCESS) == 0) {
		if ((rc = local_touch_path(b->lb, e->path)) != -ENOENT) {
			if (rc == 0)
				dirs_mark(b, e->sub);
			return rc;
		}
	}
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	for (int tries = 0;; tries++) {
		blob_local_tmp_name(&b->lb->be, e->tmp, sizeof e->tmp);
		rc = linkat(AT_FDCWD, proc, b->lb->tmp_fd, e->tmp, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
		if (rc == -ENOENT) /* no /proc: the descriptor itself */
			rc = linkat(fd, "", b->lb->tmp_fd, e->tmp, AT_EMPTY_PATH) == 0 ? 0 : -errno;
		if (rc != -EEXIST || tries == 100)
			break;
	}
	if (rc == -ENOENT) /* neither way works here */
		rc = -EOPNOTSUPP;
	if (rc < 0)
		return rc;
	/* A chunk file's mode; its writer, seeing it, writes it no more. */
	if (fchmod(fd, 0444) < 0) {
		rc = -errno;
		unlinkat(b->lb->tmp_fd, e->tmp, 0);
		return rc;
	}
	e->fd = -1;
	/* Without syncfs, A fsyncs each file: through a descriptor of its own. */
	if (!b->whole_fs && (e->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		rc = -errno;
		unlinkat(b->lb->tmp_fd, e->tmp, 0);
		return rc;
	}
	b->n++;
	return 1;
}

static void local_batch_drop_file(struct blob_backend_batch *b)
{
	struct local_staged *e = &b->e[--b->n];

	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	unlinkat(b->lb->tmp_fd, e->tmp, 0);
}

/* copy_from: a hard link from another local store's chunks/ (on one file
 * system), its name made durable by the batch's commit like an added
 * chunk's. */
static int local_copy_from(struct blob_backend_batch *b, struct blob_backend *src, const chunk_id *id)
{
	struct local_backend *lb = b->lb;
	char path[36], sub[3];
	int rc;

	if (src->get != local_get) /* another kind of backend: no file to link */
		return -EXDEV;
	local_paths(id, path, sub);
	rc = linkat(local(src)->chunks_fd, path, lb->chunks_fd, path, 0) == 0 ? 0 : -errno;
	if (rc == -ENOENT) { /* chunks/<xx> missing here, or the source lacks it */
		if ((rc = local_mkdir_sub(lb, sub)) < 0)
			return rc;
		rc = linkat(local(src)->chunks_fd, path, lb->chunks_fd, path, 0) == 0 ? 0 : -errno;
	}
	if (rc < 0 && rc != -EEXIST)
		return rc;
	bool linked = rc == 0; /* EEXIST: another writer placed it first */
	dirs_mark(b, sub);
	if ((rc = local_touch_path(lb, path)) < 0)
		return rc;
	return linked ? 1 : 0;
}

static int local_link_out(struct blob_backend *be, const chunk_id *id, int dirfd, const char *name)
{
	char path[36], sub[3];

	local_paths(id, path, sub);
	return linkat(local(be)->chunks_fd, path, dirfd, name, 0) == 0 ? 0 : -errno;
}

static int local_exists(struct blob_backend *be, const chunk_id *id)
{
	char path[36], sub[3];

	local_paths(id, path, sub);
	if (faccessat(local(be)->chunks_fd, path, F_OK, AT_EACCESS) == 0)
		return 1;
	/* ENOTDIR: chunks/<xx> is not a directory, so no chunk is there. */
	return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
}

static int local_del(struct blob_backend *be, const chunk_id *id)
{
	char path[36], sub[3];

	local_paths(id, path, sub);
	if (unlinkat(local(be)->chunks_fd, path, 0) < 0)
		return -errno;
	return 0;
}

static int local_stat(struct blob_backend *be, const chunk_id *id, uint64_t *size, int64_t *mtime)
{
	char path[36], sub[3];
	struct stat st;

	local_paths(id, path, sub);
	if (fstatat(local(be)->chunks_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	*size = (uint64_t)st.st_size;
	*mtime = (int64_t)st.st_mtim.tv_sec;
	return 0;
}

static bool is_hex_name(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[len] == '\0';
}

/* Opens dirfd/name as a DIR stream (a fresh descriptor: the caller's stays
 * usable). */
static int open_dir(DIR **out, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	*out = fdopendir(fd);
	if (*out == NULL) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return 0;
}

static int local_list_sub(struct local_backend *lb, const char *sub,
                          int (*cb)(void *arg, const chunk_id *id, int64_t mtime), void *arg)
{
	DIR *d = NULL;
	struct dirent *e;
	int rc;

	if ((rc = open_dir(&d, lb->chunks_fd, sub)) < 0)
		return rc == -ENOENT || rc == -ENOTDIR ? 0 : rc;
	for (;;) {
		struct stat st;
		chunk_id id;

		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			rc = errno ? -errno : 0;
			goto out;
		}
		if (!is_hex_name(e->d_name, 32) || memcmp(e->d_name, sub, 2) != 0)
			continue; /* not a chunk file: never ours to report */
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) /* deleted meanwhile */
				continue;
			rc = -errno;
			goto out;
		}
		if (!S_ISREG(st.st_mode) || chunk_id_parse(&id, e->d_name) < 0)
			continue;
		if ((rc = cb(arg, &id, (int64_t)st.st_mtim.tv_sec)) != 0)
			goto out;
	}
out:
	closedir(d);
	return rc;
}

static int local_list(struct blob_backend *be, int (*cb)(void *arg, const chunk_id *id, int64_t mtime), void *arg)
{
	struct local_backend *lb = local(be);
	char sub[3];
	int rc;

	/* The 256 possible subdirectories in order, rather than readdir of
	 * chunks/: a stable order, and no surprise from foreign entries. */
	for (int i = 0; i < 256; i++) {
		snprintf(sub, sizeof sub, "%02x", i);
		if ((rc = local_list_sub(lb, sub, cb, arg)) != 0)
			return rc;
	}
	return 0;
}

static void local_free(struct blob_backend *be)
{
	struct local_backend *lb = local(be);

	if (lb == NULL)
		return;
	if (lb->tmp_fd >= 0)
		close(lb->tmp_fd);
	if (lb->chunks_fd >= 0)
		close(lb->chunks_fd);
	if (lb->root_fd >= 0)
		close(lb->root_fd);
	free(lb);
}

int blob_local_clean_tmp(struct blob_backend *be, int64_t before, uint64_t *removed_out)
{
	return blob_clean_tmp_dir(local(be)->tmp_fd, before, removed_out);
}

/* Every chunks/<xx> made ahead, with one fsync of chunks/ for them all:
 * made one at a time as chunks arrive, each cost a fsync of chunks/ in
 * the middle of a store's first upload (some 200 of them for a 2 GiB
 * disk: 4.6 s of a 5.9 s upload here).  Best effort: a put still makes
 * the one it misses (step 3), so a failure here (a read-only state
 * directory) or a crash before the fsync changes nothing. */
static void local_make_subs(struct local_backend *lb)
{
	char sub[3];
	bool made = false;
	if (faccessat(lb->chunks_fd, "ff", F_OK, 0) == 0)
		return; /* made the last: the others are there (a put makes any it misses) */
	for (unsigned i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "%02x", i);
		if (mkdirat(lb->chunks_fd, sub, 0755) == 0)
			made = true;
		else if (errno != EEXIST)
			return;
	}
	if (made)
		blob_fsync_dir_at(lb->chunks_fd, NULL);
}

/* mkdir name under dirfd (EEXIST is fine), fsyncing dirfd when made. */
static int mkdir_at(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0755) == 0)
		return blob_fsync_dir_at(dirfd, NULL);
	return errno == EEXIST ? 0 : -errno;
}

/* True on the local file systems whose syncfs is known to write and wait
 * for everything and flush the disk's cache; elsewhere (network, FUSE,
 * unknown) batches fsync each file and directory. */
void blob_local_set_whole_fs(struct blob_backend *be, bool on)
{
	local(be)->whole_fs = on;
}

/* Ask before adding: adding a chunk that is there writes a temp file. */
static const struct blob_backend_batching local_batching = {
	.new_batch = local_batch_new,
	.add = local_batch_add,
	.has_many = local_batch_has_many,
	.commit = local_batch_commit,
	.free = local_batch_free,
	.add_file = local_batch_add_file,
	.drop_file = local_batch_drop_file,
	.ask_first = true,
	/* 8 O_DIRECT writes in flight (stop 40): a 4 GiB QCOW2 upload took
	 * 4.46-4.71 s against 5.23-5.39 s with 4, the two builds in turn;
	 * the source's reads share the disk, and a lane idle more often is
	 * one the writer waits for less.  2 did not keep one disk busy. */
	.lanes = 8,
};

int blob_backend_local_new(struct blob_backend **out, const char *dir)
{
	struct local_backend *lb;
	int rc;

	lb = calloc(1, sizeof *lb);
	if (lb == NULL)
		return -ENOMEM;
	lb->root_fd = lb->chunks_fd = lb->tmp_fd = -1;
	lb->be = (struct blob_backend){
		.get = local_get,
		.put = local_put,
		.exists = local_exists,
		.del = local_del,
		.stat = local_stat,
		.list = local_list,
		.free = local_free,
		.batching = &local_batching,
		.touch = local_touch,
		.copy_from = local_copy_from,
		.link_out = local_link_out,
	};
	atomic_init(&lb->counter, 0);

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	lb->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lb->root_fd < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = mkdir_at(lb->root_fd, "chunks")) < 0 || (rc = mkdir_at(lb->root_fd, "tmp")) < 0)
		goto out;
	lb->whole_fs = blob_syncfs_suits(lb->root_fd);
	lb->chunks_fd = openat(lb->root_fd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	lb->tmp_fd = openat(lb->root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lb->chunks_fd < 0 || lb->tmp_fd < 0) {
		rc = -errno;
		goto out;
	}
	local_make_subs(lb);
	*out = &lb->be;
	lb = NULL;
	rc = 0;
out:
	if (lb != NULL)
		local_free(&lb->be);
	return rc;
}

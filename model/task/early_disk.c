/*
 * early_disk.c — an instance's disk started from an image whose URL
 * import runs (SPEC §6.5 "Early", docs/design.md "Early instances").
 *
 * Who calls it: fs/fuse/disk.c (an open early disk's reads, its writes'
 * copy-on-write first, its settling), instance.c (the map made at an early
 * start, removed with the disk), fs/fuse/attr.c (`arrived`).  Reads on any
 * thread; model_early_disk_cow and _settle under the caller's writer lock
 * (disk.c's wlock: one writer a disk at a time).
 *
 * The disk is a blank wblob of the image's size.  Its *written map*, one
 * bit a chunk in <state>/early/<blob id>, says which chunks are its own
 * (in the wblob's overlay); every other chunk reads through the image:
 * early.c while the import runs, the image's sealed manifest once it is
 * available.  A guest's first write into a chunk copies the chunk's bytes
 * in first (the part it does not overwrite), then the wblob is fsynced,
 * then the bit written and fdatasynced, and only then the write goes on:
 * a kill -9 or a power cut at any point finds either no bit (the chunk
 * read through again, the same bytes: nothing of the guest's was in it)
 * or the bit with its bytes.  The file goes when the disk is settled: the
 * first open after the image became available shares every chunk without
 * its bit from the image's manifest (by reference, no byte read or
 * written), fsyncs, and removes the file; from then on the disk is an
 * ordinary instance disk.
 *
 * Bounds (SPEC §12): the map is a bit a chunk of the disk (128 KiB a TiB),
 * in memory while the disk is open and on disk while it is early.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "early.h"
#include "qcow2.h"
#include "qcow2_in.h"
#include "task_int.h"

#define CHUNK BLOB_CHUNK_SIZE

struct model_early_disk {
	model *m;
	int64_t blob_id, image_id, region_id;
	uint64_t size;
	uint32_t nchunks;
	int fd;                 /* the map file */
	uint8_t *bits;          /* written chunks; set by the writer, read atomically */
	blob_manifest *sealed;  /* the image's, once available (NULL: not yet read) */
	bool qcow2;             /* sealed is a QCOW2 file (set before sealed is published) */
	struct ed_q *q;         /* a reader of it not in use (NULL: none) */
};

/* A QCOW2 reader over the image's sealed file (the store's reads). */
struct ed_q {
	qcow2_reader *q;
	struct model_early_disk *ed;
	blob_store *s;
};

static ssize_t ed_q_read(void *arg, void *buf, size_t len, uint64_t off)
{
	struct ed_q *eq = arg;
	const blob_manifest *man = eq->ed->sealed;
	if (off >= man->size)
		return 0;
	return blob_store_read(eq->s, man, buf, len < man->size - off ? len : (size_t)(man->size - off), off);
}

static void ed_q_free(struct ed_q *eq)
{
	if (eq) {
		qcow2_reader_free(eq->q);
		free(eq);
	}
}

static void map_path(const model *m, int64_t blob_id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/early/%" PRId64, m->dir, blob_id);
}

static bool wbit(const struct model_early_disk *ed, uint32_t i)
{
	return __atomic_load_n(&ed->bits[i >> 3], __ATOMIC_ACQUIRE) & (1u << (i & 7));
}

int model_early_disk_create(model *m, int64_t blob_id, uint64_t size)
{
	char path[PATH_MAX], dir[PATH_MAX];
	uint64_t nb = ((size + CHUNK - 1) / CHUNK + 7) / 8;
	int fd, dfd, rc = 0;

	if (!m->dir)
		return -EROFS;
	snprintf(dir, sizeof(dir), "%s/early", m->dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	map_path(m, blob_id, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	if (ftruncate(fd, (off_t)nb) < 0 || fsync(fd) < 0)
		rc = -errno;
	close(fd);
	/* Its name durable: a disk that is early says so after a power cut. */
	if (rc == 0 && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) < 0)
			rc = -errno;
		close(dfd);
	}
	if (rc < 0)
		unlink(path);
	return rc;
}

void model_early_disk_remove(model *m, int64_t blob_id)
{
	char path[PATH_MAX];
	if (!m->dir)
		return;
	map_path(m, blob_id, path, sizeof(path));
	unlink(path);
}

int model_early_disk_open(model *m, int64_t blob_id, int64_t vm_id, struct model_early_disk **out)
{
	struct model_early_disk *ed = NULL;
	struct model_instance vm;
	struct model_blob b;
	char path[PATH_MAX];
	struct stat st;
	int fd, rc;

	*out = NULL;
	if (!m->dir || vm_id == 0)
		return 0;
	map_path(m, blob_id, path, sizeof(path));
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	if ((rc = model_blob_get(m, blob_id, &b)) < 0 || (rc = model_instance_get(m, vm_id, &vm)) < 0)
		goto fail;
	if (!(ed = calloc(1, sizeof(*ed)))) {
		rc = -ENOMEM;
		goto fail;
	}
	ed->m = m;
	ed->fd = fd;
	ed->blob_id = blob_id;
	ed->image_id = vm.image_id;
	ed->region_id = vm.region_id;
	ed->size = b.size;
	ed->nchunks = (uint32_t)((b.size + CHUNK - 1) / CHUNK);
	size_t nb = ((size_t)ed->nchunks + 7) / 8;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != nb) {
		rc = -EIO; /* not a map this disk's size gave: refuse rather than guess */
		goto fail;
	}
	if (!(ed->bits = calloc(1, nb + 1))) {
		rc = -ENOMEM;
		goto fail;
	}
	if (nb && pread(fd, ed->bits, nb, 0) != (ssize_t)nb) {
		rc = -EIO;
		goto fail;
	}
	early_yield_open(m, ed->image_id);
	*out = ed;
	return 0;
fail:
	if (ed)
		free(ed->bits);
	free(ed);
	close(fd);
	return rc;
}

void model_early_disk_close(struct model_early_disk *ed)
{
	if (!ed)
		return;
	early_yield_close(ed->m, ed->image_id);
	close(ed->fd);
	free(ed->bits);
	ed_q_free(ed->q);
	blob_manifest_free(ed->sealed);
	free(ed);
}

/* The image's sealed system disk, once it is available: 1 with
 * ed->sealed set, 0 while its import runs, -EIO when it never will
 * (error, gone; the reason logged, and in why when not NULL: cap bytes). */
static int ed_sealed(struct model_early_disk *ed, char *why, size_t cap)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	struct model_image img;
	blob_manifest *man = NULL;
	int n, rc;

	if (__atomic_load_n(&ed->sealed, __ATOMIC_ACQUIRE))
		return 1;
	if ((rc = model_image_get(ed->m, ed->image_id, &img)) < 0 || img.status == MODEL_IMG_ERROR) {
		model_log(ed->m, "early disk %" PRId64 ": its image %" PRId64 " %s", ed->blob_id, ed->image_id,
		          rc < 0 ? "is gone" : "ended in error: rebuild the instance");
		if (why && rc < 0)
			snprintf(why, cap, "the image it started from is gone: rebuild the instance from another image");
		else if (why)
			snprintf(why, cap, "the import of its image %s ended in error (%s): rebuild the instance", img.ext_id,
			         img.error[0] ? img.error : "no reason recorded");
		return -EIO;
	}
	if (img.status == MODEL_IMG_UPLOADING || img.status == MODEL_IMG_PENDING)
		return 0; /* its import, or its copy (§6.3), runs */
	if (img.status != MODEL_IMG_AVAILABLE)
		return -EIO;
	/* A QCOW2 image's disk is what its file describes (read through its
	 * tables until the disk settles, decoded when it does). */
	__atomic_store_n(&ed->qcow2, strcmp(img.format, "qcow2") == 0, __ATOMIC_RELEASE);
	if ((n = model_device_list(ed->m, ed->image_id, devs)) <= 0 || devs[0].index != 0 ||
	    (rc = model_blob_ids(ed->m, devs[0].blob_id, &man)) < 0)
		return -EIO;
	blob_manifest *none = NULL;
	if (!__atomic_compare_exchange_n(&ed->sealed, &none, man, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		blob_manifest_free(man); /* another reader was first */
	return 1;
}

/* Bytes [off, off + len) of the disk a sealed QCOW2 image describes
 * (zeros past it): one reader kept (its tables cached), others made for
 * the reads beside it. */
static ssize_t ed_qcow2_read(struct model_early_disk *ed, blob_store *s, void *buf, size_t len, uint64_t off,
                             char *why_out, size_t cap)
{
	struct ed_q *eq = __atomic_exchange_n(&ed->q, NULL, __ATOMIC_ACQ_REL), *none = NULL;
	char why[256];
	ssize_t n;
	int rc;

	if (!eq) {
		if (!(eq = calloc(1, sizeof(*eq))))
			return -ENOMEM;
		eq->ed = ed;
		eq->s = s;
		if ((rc = qcow2_reader_new(&eq->q, ed_q_read, eq, ed->sealed->size, why, sizeof(why))) < 0) {
			free(eq);
			if (rc == -EINVAL)
				model_log(ed->m, "early disk %" PRId64 ": its QCOW2 image: %s", ed->blob_id, why);
			if (rc == -EINVAL && why_out && cap)
				snprintf(why_out, cap, "the image's QCOW2 file cannot be read: %s", why);
			return rc == -EINVAL ? -EIO : rc;
		}
	}
	uint64_t vsize = qcow2_reader_info(eq->q)->size;
	size_t in = off >= vsize ? 0 : len < vsize - off ? len : (size_t)(vsize - off);
	n = in ? qcow2_pread(eq->q, buf, in, off, NULL) : 0;
	if (n == -EINVAL) {
		model_log(ed->m, "early disk %" PRId64 ": its QCOW2 image: %s", ed->blob_id, qcow2_reader_why(eq->q));
		if (why_out && cap)
			snprintf(why_out, cap, "the image's QCOW2 file cannot be read: %s", qcow2_reader_why(eq->q));
	}
	if (!__atomic_compare_exchange_n(&ed->q, &none, eq, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		ed_q_free(eq); /* another reader's kept */
	if (n < 0)
		return n == -EINVAL ? -EIO : n;
	return (size_t)n == in ? (ssize_t)len : -EIO;
}

/* Bytes [off, off + len) of the image as the disk shows them where the
 * guest did not write; why (cap bytes, may be NULL) says why not. */
static ssize_t ed_base(struct model_early_disk *ed, void *buf, size_t len, uint64_t off, char *why, size_t cap)
{
	blob_store *s;
	ssize_t n;
	int rc;

	for (int tries = 0; tries < 2; tries++) {
		if ((n = early_read(ed->m, ed->image_id, buf, len, off, why, cap)) != -ENOENT)
			return n;
		if ((rc = ed_sealed(ed, why, cap)) < 0)
			return rc;
		if (rc == 1) {
			if ((rc = model_store(ed->m, ed->region_id, &s)) < 0)
				return rc;
			memset(buf, 0, len);
			if (__atomic_load_n(&ed->qcow2, __ATOMIC_ACQUIRE))
				return ed_qcow2_read(ed, s, buf, len, off, why, cap);
			n = off < ed->sealed->size ? blob_store_read(s, ed->sealed, buf,
			                                             len < ed->sealed->size - off ? len : ed->sealed->size - off, off)
			                           : 0;
			return n < 0 ? n : (ssize_t)len;
		}
		/* Its import runs but nobody here asked yet (after a restart):
		 * ask, and read through. */
		if ((rc = early_want(ed->m, ed->image_id, ed->region_id)) < 0)
			return rc;
	}
	return -EIO;
}

/* A failed read's reason as a user acts on it (SPEC §6.5 "Faults", §9):
 * early.c's and ed_sealed's say what to do but for a source that changed,
 * whose reason is fetch's ("the file changed on the server since byte N
 * was received"): rewritten in place. */
static void ed_why(char *why, size_t cap)
{
	char was[400];
	const char *p, *q;

	if (!why || !cap || !(p = strstr(why, "the file changed on the server")) || !(q = strstr(p, "received")))
		return;
	snprintf(was, sizeof(was), "%.*s", (int)(q + strlen("received") - p), p);
	snprintf(why, cap, "%s: this disk read the version before; rebuild the instance from a new import of the image",
	         was);
}

ssize_t model_early_disk_pread(struct model_early_disk *ed, blob_wblob *w, void *buf, size_t len, uint64_t off,
                               char *why, size_t cap)
{
	uint64_t size = blob_wblob_size(w);
	size_t done = 0;

	if (why && cap)
		why[0] = '\0';
	if (!ed->sealed)
		early_yield_read(ed->m, ed->image_id); /* the import gives way */
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	while (done < len) {
		uint64_t at = off + done;
		uint32_t i = (uint32_t)(at / CHUNK);
		size_t n = CHUNK - (size_t)(at % CHUNK);
		ssize_t got;
		if (n > len - done)
			n = len - done;
		got = wbit(ed, i) ? blob_wblob_pread(w, (uint8_t *)buf + done, n, at)
		                  : ed_base(ed, (uint8_t *)buf + done, n, at, why, cap);
		if (got < 0 && !done)
			ed_why(why, cap);
		if (got < 0)
			return done ? (ssize_t)done : got;
		if ((size_t)got != n)
			return -EIO;
		done += n;
	}
	return (ssize_t)done;
}

int model_early_disk_cow(struct model_early_disk *ed, blob_wblob *w, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, size = blob_wblob_size(w);
	uint32_t first, last, lo = UINT32_MAX, hi = 0;
	uint8_t *buf = NULL;
	int rc = 0;

	if (len == 0 || off >= size)
		return 0;
	if (end > size)
		end = size;
	first = (uint32_t)(off / CHUNK);
	last = (uint32_t)((end - 1) / CHUNK);
	for (uint32_t i = first; i <= last; i++) {
		uint64_t c0 = (uint64_t)i * CHUNK, clen = blob_chunk_len(size, i);
		if (wbit(ed, i))
			continue;
		lo = i < lo ? i : lo;
		hi = i;
		if (off <= c0 && end >= c0 + clen)
			continue; /* overwritten whole: nothing of the image's stays */
		if (!buf && !(buf = malloc(CHUNK))) {
			rc = -ENOMEM;
			goto out;
		}
		ssize_t n = ed_base(ed, buf, clen, c0, NULL, 0);
		if (n != (ssize_t)clen) {
			rc = n < 0 ? (int)n : -EIO;
			goto out;
		}
		bool zero = true;
		for (size_t k = 0; k < clen && zero; k++)
			zero = buf[k] == 0;
		if (!zero && (n = blob_wblob_pwrite(w, buf, clen, c0)) != (ssize_t)clen) {
			rc = n < 0 ? (int)n : -EIO;
			goto out;
		}
	}
	if (lo == UINT32_MAX)
		goto out;
	/* The bytes before the bits, the bits before the write (see the top). */
	if ((rc = blob_wblob_fsync(w)) < 0)
		goto out;
	for (uint32_t i = lo; i <= hi; i++)
		__atomic_or_fetch(&ed->bits[i >> 3], (uint8_t)(1u << (i & 7)), __ATOMIC_RELEASE);
	size_t b0 = lo / 8, b1 = hi / 8 + 1;
	if (pwrite(ed->fd, ed->bits + b0, b1 - b0, (off_t)b0) != (ssize_t)(b1 - b0) || fdatasync(ed->fd) < 0)
		rc = -EIO;
out:
	free(buf);
	return rc;
}

int model_early_disk_settle(struct model_early_disk *ed, blob_wblob *w)
{
	uint64_t size = blob_wblob_size(w);
	blob_store *s;
	char path[PATH_MAX];
	int rc;

	if ((rc = ed_sealed(ed, NULL, 0)) <= 0)
		return rc == 0 ? 0 : 0; /* not yet, or never: it stays early (reads say why) */
	blob_manifest *raw = NULL, *from = ed->sealed;
	if ((rc = model_store(ed->m, ed->region_id, &s)) < 0)
		return rc;
	/* A QCOW2 image: its disk decoded (as a rebuild decodes it), and
	 * shared from at once: named before gc's grace. */
	if (__atomic_load_n(&ed->qcow2, __ATOMIC_ACQUIRE)) {
		char why[256] = "";
		if ((rc = qcow2_in_decode(s, ed->sealed, &raw, NULL, NULL, why, sizeof(why))) < 0) {
			model_log(ed->m, "early disk %" PRId64 ": its QCOW2 image cannot be decoded: %s", ed->blob_id,
			          why[0] ? why : strerror(-rc));
			return rc == -EINVAL ? -EIO : rc;
		}
		from = raw;
	}
	for (uint32_t i = 0; i < ed->nchunks && rc >= 0;) {
		uint32_t j = i;
		if (wbit(ed, i)) {
			i++;
			continue;
		}
		while (j < ed->nchunks && !wbit(ed, j))
			j++;
		uint64_t a = (uint64_t)i * CHUNK, b = (uint64_t)j * CHUNK < size ? (uint64_t)j * CHUNK : size;
		if (a < from->size) {
			uint64_t e = b < from->size ? b : from->size;
			ssize_t n = blob_wblob_share(w, s, from, a, a, e - a, NULL);
			if (n != (ssize_t)(e - a))
				rc = n < 0 ? (int)n : -EIO;
		}
		i = j;
	}
	blob_manifest_free(raw);
	if (rc < 0 || (rc = blob_wblob_fsync(w)) < 0)
		return rc;
	map_path(ed->m, ed->blob_id, path, sizeof(path));
	if (unlink(path) < 0)
		return -errno;
	model_log(ed->m, "early disk %" PRId64 " settled: its image %" PRId64 " arrived", ed->blob_id, ed->image_id);
	return 1;
}

int model_instance_arrived(model *m, const struct model_instance *vm, uint64_t *arrived, uint64_t *total)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	const struct model_vm_disk *vda = NULL;
	char path[PATH_MAX];
	int n;

	if (!m->dir || vm->image_id == 0 || (n = model_instance_disks(m, vm->id, disks)) < 0)
		return -ENOENT;
	for (int i = 0; i < n; i++)
		if (disks[i].index == 0)
			vda = &disks[i];
	if (!vda)
		return -ENOENT;
	map_path(m, vda->blob_id, path, sizeof(path));
	if (access(path, F_OK) < 0)
		return -ENOENT; /* not early, or settled */
	if (early_progress(m, vm->image_id, arrived, total) == 0)
		return 0;
	struct model_image img;
	struct model_blob b;
	if (model_image_get(m, vm->image_id, &img) < 0 || model_blob_get(m, vda->blob_id, &b) < 0)
		return -ENOENT;
	*total = b.size;
	*arrived = img.status == MODEL_IMG_AVAILABLE ? b.size : 0;
	return 0;
}

/*
 * test_early_disk.c — unit tests for model/task/early_disk.c (SPEC §6.5
 * "Early"): an instance's disk started from an image whose import runs.
 * Its reads go through the image's arrived chunks where the guest did not
 * write; a guest's write into part of a chunk copies the chunk's other
 * bytes in first; the wblob is fsynced before the written map records the
 * chunk, and the map's bits are on disk; the settle fsyncs the shares
 * before it removes the map; a map that cannot be opened keeps no
 * descriptor.  The order is recorded by this test's own fsync, fdatasync,
 * pwrite and unlink (linked before libc's).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "early_int.h"
#include "test_util.h"

#define MiB (1u << 20)
#define SIZE (6 * MiB)
#define URL "http://127.0.0.1:1/golden.raw"
#define V1 "\"etag-1\""

/* ---- fsync(2), fdatasync(2), pwrite(2), unlink(2), recorded --------------------- */

#define EV_MAX 512
static struct {
	char op;             /* 'f' fsync or fdatasync, 'w' pwrite, 'u' unlink */
	char path[PATH_MAX]; /* the file (its /proc link) */
} ev[EV_MAX];
static int nev;
static bool recording;

static void record(char op, int fd, const char *path)
{
	if (!recording || nev >= EV_MAX)
		return;
	if (path) {
		snprintf(ev[nev].path, sizeof ev[nev].path, "%s", path);
	} else {
		char link[64];
		ssize_t n;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		n = readlink(link, ev[nev].path, sizeof ev[nev].path - 1);
		ev[nev].path[n < 0 ? 0 : n] = '\0';
	}
	ev[nev++].op = op;
}

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	record('f', fd, NULL);
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	record('f', fd, NULL);
	return real(fd);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	record('w', fd, NULL);
	return real(fd, buf, n, off);
}

int unlink(const char *path)
{
	static int (*real)(const char *);
	if (!real)
		real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
	record('u', -1, path);
	return real(path);
}

/* The first event op on a path holding part, from event from; -1: none. */
static int first(int from, char op, const char *part)
{
	for (int i = from; i < nev; i++)
		if (ev[i].op == op && strstr(ev[i].path, part))
			return i;
	return -1;
}

/* The last such event before event before; -1: none. */
static int last_before(int before, char op, const char *part)
{
	int at = -1;
	for (int i = 0; i < before && i < nev; i++)
		if (ev[i].op == op && strstr(ev[i].path, part))
			at = i;
	return at;
}

/* Every write to a file holding part before event before was fsynced
 * after it and before that event (and at least one was). */
static bool synced_before(int before, const char *part)
{
	int writes = 0;
	for (int i = 0; i < before && i < nev; i++) {
		bool synced = false;
		if (ev[i].op != 'w' || !strstr(ev[i].path, part))
			continue;
		writes++;
		for (int j = i + 1; j < before && !synced; j++)
			synced = ev[j].op == 'f' && strcmp(ev[j].path, ev[i].path) == 0;
		if (!synced) {
			print_error("%s written (event %d) and not fsynced before event %d\n", ev[i].path, i, before);
			return false;
		}
	}
	return writes > 0;
}

/* ---- the fixture -------------------------------------------------------------------- */

struct disk {
	int64_t image_id, vm_id, blob_id;
	char name[64], wmap[72], map[PATH_MAX], map_part[64]; /* wmap: "/<name>.map", the wblob's own map */
	blob_store *s;
	blob_wblob *w;
	struct early_import *e;
	struct model_early_disk *ed;
};

/* The bytes of the image's chunks 0, 1 and 2. */
static const uint8_t arrived_byte[] = {0xa5, 0x5a, 0x3c};

/* Instance web-1 of alice's, started early from an image whose import
 * announced SIZE bytes and turned to windows; chunks 0 to 2 of it arrived
 * (another fetch's rows), each of its arrived_byte. */
static void early_instance(struct ut_fx *fx, struct disk *d)
{
	struct model_err err = {0};
	struct model_image img;
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	int64_t acc = ut_account(fx, "alice");
	blob_manifest *none = NULL;
	static uint8_t buf[MiB];
	chunk_id id;

	memset(d, 0, sizeof(*d));
	assert_int_equal(model_image_create(fx->m, fx->r1, acc, MODEL_FOLDER_PRIVATE, "golden", &img, &err), 0);
	assert_int_equal(model_image_import_url(fx->m, img.id, URL, &err), 0);
	ut_sql(fx, "UPDATE tasks SET bytes_total = %u WHERE image_id = %lld", SIZE, (long long)img.id);
	d->image_id = img.id;
	/* Turned to windows, the file sniffed as a raw disk (the import's
	 * early_format). */
	assert_int_equal(early_want(fx->m, img.id, fx->r1), 0);
	assert_int_equal(blob_manifest_new(&none, SIZE), 0);
	assert_int_equal(early_begin(fx->m, img.id, URL, V1, SIZE, none, 0, &d->e), 0);
	blob_manifest_free(none);
	d->e->fmt = EARLY_FMT_RAW;
	d->e->vsize = SIZE;
	assert_int_equal(model_instance_create(fx->m, fx->r1, acc, "web-1", &d->vm_id, &err), 0);
	if (model_instance_rebuild_early(fx->m, d->vm_id, img.id, acc, &err) < 0)
		fail_msg("rebuild_early: %s", err.msg);
	assert_int_equal(model_instance_disks(fx->m, d->vm_id, disks), 1);
	d->blob_id = disks[0].blob_id;
	snprintf(d->name, sizeof(d->name), "%s", disks[0].wblob);
	snprintf(d->wmap, sizeof(d->wmap), "/%s.map", disks[0].wblob);
	snprintf(d->map, sizeof(d->map), "%s/early/%lld", fx->m->dir, (long long)d->blob_id);
	snprintf(d->map_part, sizeof(d->map_part), "/early/%lld", (long long)d->blob_id);
	assert_int_equal(access(d->map, F_OK), 0);

	assert_int_equal(model_store(fx->m, fx->r1, &d->s), 0);
	for (uint32_t i = 0; i < 3; i++) {
		memset(buf, arrived_byte[i], sizeof(buf));
		assert_true(blob_store_put_chunk(d->s, &id, buf, sizeof(buf)) >= 0);
		assert_int_equal(early_got_add(fx->m, d->e, i, &id), 0);
	}
	assert_int_equal(early_got_pick(fx->m, d->e), 3);

	assert_int_equal(blob_wblob_open(&d->w, d->s, d->name), 0);
	assert_int_equal(blob_wblob_size(d->w), SIZE);
	assert_int_equal(model_early_disk_open(fx->m, d->blob_id, d->vm_id, &d->ed), 0);
	assert_non_null(d->ed);
}

static void done(struct ut_fx *fx, struct disk *d)
{
	model_early_disk_close(d->ed);
	blob_wblob_close(d->w);
	early_end(fx->m, d->e);
}

/* Bytes [off, off + len) of the disk are all c. */
static void all(struct disk *d, uint64_t off, size_t len, uint8_t c)
{
	uint8_t *buf = malloc(len);
	char why[256];
	assert_non_null(buf);
	assert_int_equal(model_early_disk_pread(d->ed, d->w, buf, len, off, why, sizeof(why)), (ssize_t)len);
	for (size_t k = 0; k < len; k++)
		if (buf[k] != c)
			fail_msg("byte %llu is 0x%02x, not 0x%02x", (unsigned long long)(off + k), buf[k], c);
	free(buf);
}

/* A guest's write into part of an arrived chunk (its middle, its start,
 * its end) or into a whole chunk not arrived reads back over the image's
 * other bytes; the wblob is fsynced before the map records the chunks,
 * and the map's bits are on disk. */
static void test_write(void **state)
{
	struct ut_fx *fx = *state;
	static const struct {
		uint64_t off, len;
	} wr[] = {
		{MiB + 8192, 4096},     /* the middle of chunk 1 */
		{0, 4096},              /* the start of chunk 0 */
		{3 * MiB - 4096, 4096}, /* the end of chunk 2 */
		{3 * MiB, MiB},         /* the whole of chunk 3 (not arrived) */
	};
	struct disk d;
	static uint8_t g[MiB];
	uint8_t map[1] = {0};
	int fd, w;

	early_instance(fx, &d);
	for (uint32_t i = 0; i < 3; i++)
		all(&d, (uint64_t)i * MiB, MiB, arrived_byte[i]);
	memset(g, 'g', sizeof(g));
	for (size_t k = 0; k < sizeof(wr) / sizeof(wr[0]); k++) {
		nev = 0;
		recording = true;
		assert_int_equal(model_early_disk_cow(d.ed, d.w, wr[k].off, wr[k].len), 0);
		recording = false;
		/* The wblob's bytes before the bit, the bit durable. */
		w = first(0, 'w', d.map_part);
		assert_true(w >= 0);
		assert_true(last_before(w, 'f', d.wmap) >= 0);
		if (first(0, 'w', d.wmap) >= 0)
			assert_true(synced_before(w, d.wmap));
		assert_true(first(w, 'f', d.map_part) > w);
		assert_int_equal(blob_wblob_pwrite(d.w, g, wr[k].len, wr[k].off), (ssize_t)wr[k].len);
	}
	all(&d, 0, 4096, 'g');
	all(&d, 4096, MiB - 4096, 0xa5);
	all(&d, MiB, 8192, 0x5a);
	all(&d, MiB + 8192, 4096, 'g');
	all(&d, MiB + 8192 + 4096, MiB - 8192 - 4096, 0x5a);
	all(&d, 2 * MiB, MiB - 4096, 0x3c);
	all(&d, 3 * MiB - 4096, 4096 + MiB, 'g');
	/* Chunks 0 to 3 the disk's own, on disk. */
	assert_true((fd = open(d.map, O_RDONLY)) >= 0);
	assert_int_equal(read(fd, map, sizeof(map)), 1);
	close(fd);
	assert_int_equal(map[0], 0x0f);
	done(fx, &d);
}

/* Once the image is available the disk settles: the chunks the guest did
 * not write shared from the image, fsynced, and only then the map goes. */
static void test_settle(void **state)
{
	struct ut_fx *fx = *state;
	struct model_image pub = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, "centos-7.2");
	struct disk d;
	static uint8_t g[MiB];
	int u;

	early_instance(fx, &d);
	memset(g, 'g', sizeof(g));
	assert_int_equal(model_early_disk_cow(d.ed, d.w, 0, MiB), 0);
	assert_int_equal(blob_wblob_pwrite(d.w, g, MiB, 0), MiB);
	assert_int_equal(model_early_disk_settle(d.ed, d.w), 0); /* not yet: its import runs */
	/* An available image in its place (its import's end, by hand). */
	model_early_disk_close(d.ed);
	ut_sql(fx, "UPDATE instances SET image_id = %lld WHERE id = %lld", (long long)pub.id, (long long)d.vm_id);
	assert_int_equal(model_early_disk_open(fx->m, d.blob_id, d.vm_id, &d.ed), 0);
	assert_non_null(d.ed);
	nev = 0;
	recording = true;
	assert_int_equal(model_early_disk_settle(d.ed, d.w), 1);
	recording = false;
	u = first(0, 'u', d.map_part);
	assert_true(u >= 0);
	assert_true(synced_before(u, d.wmap)); /* the shares durable before the map goes */
	assert_int_equal(access(d.map, F_OK), -1);
	done(fx, &d);
}

/* A map whose disk cannot be read (no such blob, a size not the disk's):
 * refused, its descriptor closed. */
static void test_open_refused(void **state)
{
	struct ut_fx *fx = *state;
	struct model_early_disk *ed = (void *)1;
	struct disk d;
	char path[PATH_MAX];
	int fd, before;

	early_instance(fx, &d);
	snprintf(path, sizeof(path), "%s/early/999999", fx->m->dir);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	before = ut_fds_open();
	assert_true(model_early_disk_open(fx->m, 999999, d.vm_id, &ed) < 0);
	assert_null(ed);
	assert_int_equal(ut_fds_open(), before);
	/* The disk's own map, a byte longer than its size gives. */
	model_early_disk_close(d.ed);
	d.ed = NULL;
	assert_int_equal(truncate(d.map, 2), 0);
	before = ut_fds_open();
	assert_int_equal(model_early_disk_open(fx->m, d.blob_id, d.vm_id, &ed), -EIO);
	assert_null(ed);
	assert_int_equal(ut_fds_open(), before);
	done(fx, &d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_settle, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_open_refused, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
